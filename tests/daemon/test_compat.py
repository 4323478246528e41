#!/usr/bin/env python3
"""Endpoints where users of other servers look for them (issue 13): OpenNMT-py's
/translator/models and conf.json model ids, its lenient Content-Type, KServe v2's
/v2/models/{name}/ready, GET /openapi.json. The real seq2seqd on a loopback
port with the built-in models; TAP; Python 3 standard library only.
"""
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

SRCDIR = os.environ.get("S2S_SRCDIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
BUILDDIR = os.environ.get("S2S_BUILDDIR") or os.getcwd()
sys.path.insert(0, os.path.join(SRCDIR, "tests"))
import seq2seqd_proc  # noqa: E402
import tap  # noqa: E402

TMP = tempfile.mkdtemp(prefix="s2sd-compat-")
tests, test = tap.collector()


def check(cond, what):
    if not cond:
        raise AssertionError(what)


class Daemon:
    def __init__(self, *args):
        self.log = open(os.path.join(TMP, "daemon-%d.log" % len(os.listdir(TMP))), "w+")
        self.proc, self.url = seq2seqd_proc.start(BUILDDIR, SRCDIR, self.log, *args)
        self.port = int(self.url.rsplit(":", 1)[1])

    def request(self, method, path, body=None, headers=None, conn=None):
        """(status, headers dict with lower-case names, raw body bytes)."""
        c = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
            c.request(method, path, body=data, headers=headers or {})
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            if conn is None:
                c.close()

    def json(self, method, path, body=None, headers=None, conn=None):
        st, h, raw = self.request(method, path, body, headers, conn)
        return st, h, json.loads(raw) if raw else None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(15)
        self.log.close()


def run_config(*args):
    """seq2seqd --check-config with `args`: (exit status, stdout + stderr)."""
    p = subprocess.run([os.path.join(BUILDDIR, "seq2seqd"), "--data_dir=" + SRCDIR, "--config=/dev/null",
                        "--check-config"] + list(args), capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


D = None


def daemon():
    global D
    if D is None:
        conf = os.path.join(TMP, "ids.conf")
        with open(conf, "w") as f:
            f.write("# OpenNMT-py conf.json ids\nmodel_id.en-fr = 100\n")
        # --config replaces the /dev/null that start() passes: the later flag wins
        D = Daemon("--config=" + conf)
    return D


@test("model_id.NAME = 100 (conf.json's id) serves {\"id\": 100}; no id means the default model")
def t_ids():
    d = daemon()
    st, _, j = d.json("POST", "/translator/translate", [{"src": "Hello world", "id": 100}])
    check(st == 200 and j[0][0]["tgt"] and not j[0][0]["tgt"][:1].isdigit(), (st, j))
    st, _, j = d.json("POST", "/translator/translate", [{"src": "12 March 2001", "id": 0}])
    check(st == 200 and j[0][0]["tgt"] == "2001-03-12", (st, j))  # dates keeps its index
    st, _, j = d.json("POST", "/translator/translate", [{"src": "12 March 2001"}])
    check(st == 200 and j[0][0]["tgt"] == "2001-03-12", ("default model", st, j))
    st, _, j = d.json("POST", "/translator/translate", [{"src": "Hello", "id": 1}])
    check(st == 404 and j["error"]["code"] == "model_not_found", (st, j))
    msg = j["error"]["message"]
    check("100 (en-fr)" in msg and "0 (dates)" in msg, msg)
    st, _, j = d.json("POST", "/translator/translate", [{"src": "Hello", "id": 10 ** 12}])
    check(st == 400 and "[0].id" in j["error"]["message"], (st, j))
    st, _, j = d.json("GET", "/v1/models")
    ids = {m["name"]: m["id"] for m in j["models"]}
    check(ids == {"dates": 0, "en-fr": 100}, ids)


@test("GET /translator/models lists OpenNMT-py's model_id for each model")
def t_translator_models():
    st, h, j = daemon().json("GET", "/translator/models")
    check(st == 200 and h["content-type"].startswith("application/json"), (st, h))
    check([(m["model_id"], m["name"], m["loaded"], m["default"]) for m in j]
          == [(0, "dates", True, True), (100, "en-fr", True, False)], j)
    st, _, j = daemon().json("POST", "/translator/models", {})
    check(st == 405, (st, j))


@test("model ids: --model_id and --model-id flags, duplicates and unknown names refused at startup")
def t_id_config():
    rc, out = run_config("--model-id", "en-fr=7")
    check(rc == 0 and "model_id.en-fr = 7" in out and "model_id.dates = 0" in out, out)
    rc, out = run_config("--model_id=en-fr=0")
    check(rc == 2 and "both have id 0" in out and '"dates"' in out, out)
    rc, out = run_config("--model_id=en-de=3")
    check(rc == 2 and 'no model named "en-de"' in out, out)
    for bad in ("en-fr=-1", "en-fr=x", "en-fr", "en-fr=99999999999"):
        rc, out = run_config("--model_id=" + bad)
        check(rc == 2 and "model" in out, (bad, rc, out))


@test("the OpenNMT route takes a body without Content-Type, or curl -d's form type, as JSON")
def t_opennmt_content_type():
    d = daemon()
    body = json.dumps([{"src": "1 May 1999"}]).encode()
    for ct in (None, "application/x-www-form-urlencoded", "text/plain; charset=utf-8", "application/json"):
        # http.client adds no Content-Type of its own
        st, _, j = d.json("POST", "/translator/translate", body, headers={"Content-Type": ct} if ct else {})
        check(st == 200 and j[0][0]["tgt"] == "1999-05-01", (ct, st, j))
    st, _, j = d.json("POST", "/translator/translate", body, headers={"Content-Type": "image/png"})
    check(st == 415 and j["error"]["code"] == "unsupported_media_type", (st, j))
    # seq2seqd's own route stays strict: a client that forgot the header is told so
    st, _, j = d.json("POST", "/v1/translate", {"text": "1 May 1999"})
    check(st == 415 and "application/json" in j["error"]["message"], (st, j))


@test("GET /openapi.json serves proto/openapi.json byte for byte, with an ETag")
def t_openapi():
    d = daemon()
    st, h, raw = d.request("GET", "/openapi.json")
    with open(os.path.join(SRCDIR, "proto", "openapi.json"), "rb") as f:
        want = f.read()
    check(st == 200 and raw == want, (st, len(raw), len(want)))
    check(h["content-type"].startswith("application/json"), h)
    doc = json.loads(raw)
    for path in ("/translator/models", "/v2/models/{name}/ready", "/openapi.json"):
        check(path in doc["paths"], "openapi.json lacks " + path)
    st, _, raw = d.request("GET", "/openapi.json", headers={"If-None-Match": h["etag"]})
    check(st == 304 and raw == b"", st)


@test("GET /openapi.json answers 404 with a JSON error where it is not installed")
def t_openapi_missing():
    data = os.path.join(TMP, "data")
    os.makedirs(os.path.join(data, "models"), exist_ok=True)
    link = os.path.join(data, "models", "dates.safetensors")
    if not os.path.exists(link):
        os.symlink(os.path.join(SRCDIR, "models", "dates.safetensors"), link)
    d = Daemon("--data_dir=" + data, "--dashboard=false")
    try:
        st, _, j = d.json("GET", "/openapi.json")
        check(st == 404 and "openapi.json" in j["error"]["message"], (st, j))
    finally:
        d.stop()


@test("GET /v2/models/{name}/ready: 200 for a served model, 404 for another, not ready while draining")
def t_model_ready():
    d = Daemon("--debug_step_delay_ms=20", "--workers=1")
    try:
        st, _, j = d.json("GET", "/v2/models/en-fr/ready")
        check(st == 200 and j == {"name": "en-fr", "ready": True}, (st, j))
        st, _, j = d.json("GET", "/v2/models/en-de/ready")
        check(st == 404 and j["error"]["code"] == "model_not_found" and "en-de" in j["error"]["message"], (st, j))
        st, _, j = d.json("POST", "/v2/models/en-fr/ready", {})
        check(st == 405, (st, j))
        done = []
        slow = threading.Thread(target=lambda: done.append(d.json(
            "POST", "/v1/translate", {"model": "dates", "text": "5 June 2010",
                                      "options": {"deadline_ms": 0}},
            headers={"Content-Type": "application/json"})[0]))
        slow.start()
        time.sleep(0.2)
        d.proc.send_signal(signal.SIGTERM)
        time.sleep(0.1)
        # draining: a probe gets 503 not_ready or, as new connections are
        # refused, no answer at all; a load balancer reads both as not ready
        try:
            st, _, j = d.json("GET", "/v2/models/dates/ready")
            check(st == 503 and "draining" in j["error"]["message"], (st, j))
        except OSError:
            pass
        slow.join()
        check(done == [200], done)
        check(d.proc.wait(15) == 0, "exit status")
    finally:
        d.stop()


def main():
    t = tap.Tap()
    try:
        for name, fn in tests:
            t.run(name, fn)
    finally:
        if D is not None:
            D.stop()
    print("1..%d" % t.n)
    sys.exit(1 if t.failed else 0)


if __name__ == "__main__":
    main()
