#!/usr/bin/env python3
"""Black-box tests of seq2seqd: start the real binary on a loopback port with
golden fixture checkpoints and talk HTTP to it. Emits TAP. Python 3 stdlib only.

Expected translations come from the fixtures' JSON (produced by PyTorch,
tests/fixtures/gen_fixtures.py), never from the daemon itself.
"""
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

SRCDIR = os.environ.get("S2S_SRCDIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
BUILDDIR = os.environ.get("S2S_BUILDDIR") or os.getcwd()
BINARY = os.path.join(BUILDDIR, "seq2seqd")
FIXTURES = os.path.join(SRCDIR, "tests", "fixtures")
MODEL_A = "lstm_additive_luong_feed_bi"   # char tokenizer, attention, never emits </s> early
MODEL_B = "gru_dot_bahdanau_reverse_bpe"  # BPE tokenizer
MODEL_C = "rnn_tanh_additive_luong_last_2layer_bi"  # some sentences end with </s>
FIXTURE_DECODE = {"max_len_a": 1.5, "max_len_b": 4}
TMP = tempfile.mkdtemp(prefix="s2sd-test-")

_results = []


def fixture_work():
    """(daemon model name, fixture name, case) for every case of the three
    fixtures the default Daemon serves as a, b and c."""
    return [(name, fx_name, case)
            for name, fx_name in (("a", MODEL_A), ("b", MODEL_B), ("c", MODEL_C))
            for case in load_fixture(fx_name)["cases"]]


def fixture_path(name, ext):
    return os.path.join(FIXTURES, name + ext)


def load_fixture(name):
    with open(fixture_path(name, ".json")) as f:
        return json.load(f)


def safetensors_header(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n))


def tgt_vocab(name):
    meta = safetensors_header(fixture_path(name, ".safetensors"))["__metadata__"]
    return json.loads(meta["seq2seqd.tgt_vocab"])


def src_vocab(name):
    meta = safetensors_header(fixture_path(name, ".safetensors"))["__metadata__"]
    return json.loads(meta["seq2seqd.src_vocab"])


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "SUMMARY: UndefinedBehaviorSanitizer")


def sanitizer_report(log, pid):
    """The first lines of any ASan/LSan/UBSan report that process `pid` wrote,
    to its log or (where ASAN_OPTIONS/UBSAN_OPTIONS set log_path, as
    tests/san-wrap.sh does) to log_path.PID; "" when there is none."""
    texts = [log]
    for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        for opt in os.environ.get(var, "").split(":"):
            if opt.startswith("log_path="):
                try:
                    with open("%s.%d" % (opt[len("log_path="):], pid), errors="replace") as f:
                        texts.append(f.read())
                except OSError:
                    pass
    for text in texts:
        for marker in SANITIZER_MARKERS:
            i = text.find(marker)
            if i >= 0:
                return "\n".join(text[max(0, i - 200):].splitlines()[:40])
    return ""


class Daemon:
    """One seq2seqd process on a free loopback port."""

    def __init__(self, *args, models=None, env=None, wait=True, port=None):
        self.port = port or free_port()
        if models is None:
            models = {"a": fixture_path(MODEL_A, ".safetensors"),
                      "b": fixture_path(MODEL_B, ".safetensors"),
                      "c": fixture_path(MODEL_C, ".safetensors")}
        cmd = [BINARY, "--port", str(self.port), "--config", "/dev/null"]
        for k, v in models.items():
            cmd += ["--model", "%s=%s" % (k, v)]
        cmd += list(args)
        e = dict(os.environ)
        for k in list(e):
            if k.startswith("SEQ2SEQD_") or k in ("NOTIFY_SOCKET", "JOURNAL_STREAM", "LISTEN_FDS", "LISTEN_PID", "WATCHDOG_USEC"):
                del e[k]
        e.update(env or {})
        self.log = open(os.path.join(TMP, "daemon-%d.log" % self.port), "w+")
        self.proc = subprocess.Popen(cmd, env=e, stdout=self.log, stderr=self.log)
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout=15):
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("seq2seqd exited with %s: %s" % (self.proc.returncode, self.logtext()))
            try:
                st, _, _ = self.get("/healthz")
                if st == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("seq2seqd did not come up: " + self.logtext())

    def logtext(self):
        self.log.flush()
        with open(self.log.name, errors="replace") as f:  # bad input may reach the log as non-UTF-8
            return f.read()

    def request(self, method, path, body=None, headers=None, timeout=30):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            h = dict(headers or {})
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
                h.setdefault("Content-Type", "application/json")
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data
        finally:
            c.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)

    def json(self, method, path, body=None, **kw):
        st, h, data = self.request(method, path, body, **kw)
        return st, h, json.loads(data) if data else None

    def metric(self, name):
        """Sum of a metric's samples whose name+labels start with `name`."""
        _, _, data = self.get("/metrics")
        total = 0.0
        for line in data.decode().splitlines():
            if line.startswith(name):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Stops the daemon; returns its exit status (None if it had to be
        killed). Raises AssertionError if it wrote a sanitizer report."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = None
        report = sanitizer_report(self.logtext(), self.proc.pid)
        if report:
            raise AssertionError("sanitizer report from seq2seqd (pid %d, exit %s):\n%s"
                                 % (self.proc.pid, rc, report))
        return rc


def test(desc):
    def wrap(fn):
        def run(*a):
            try:
                fn(*a)
                _results.append((True, desc, None))
            except Exception:  # noqa: BLE001 - every failure becomes a TAP "not ok"
                _results.append((False, desc, traceback.format_exc()))
        run.desc = desc
        return run
    return wrap


def skip(desc, why):
    _results.append((None, desc, why))


def check(cond, msg="check failed"):
    if not cond:
        raise AssertionError(msg)


def close(a, b, tol=2e-4):
    return abs(a - b) <= tol * max(1.0, abs(b))


def expect_error(d, method, path, body, status, code, headers=None, field=None):
    st, h, j = d.json(method, path, body, headers=headers)
    check(st == status, "%s %s: status %s, expected %s: %s" % (method, path, st, status, j))
    check(j["error"]["code"] == code, "code %s, expected %s" % (j["error"]["code"], code))
    check(isinstance(j["error"]["message"], str) and j["error"]["message"], "empty message")
    if field:
        check(field in j["error"]["message"], "message %r does not name %r" % (j["error"]["message"], field))
    check("x-request-id" in h, "no X-Request-Id")
    return h, j


def expected_tokens(model, ids):
    v = tgt_vocab(model)
    return [v[i] for i in ids]


def check_hyp(model, got, want, what):
    toks = expected_tokens(model, want["ids"])
    check(got["tokens"] == toks, "%s: tokens %s, PyTorch gives %s" % (what, got["tokens"], toks))
    check(len(got["logprobs"]) == len(want["logprobs"]), what + ": logprobs length")
    for g, w in zip(got["logprobs"], want["logprobs"]):
        check(close(g, w), "%s: logprob %g vs PyTorch %g" % (what, g, w))
    check(close(got["score"], want["score"]), what + ": score")
    check(close(got["norm_score"], want["norm_score"]), what + ": norm_score")
    check(got["finished"] == want["finished"], what + ": finished")


def translate_case(d, model, fixture, case, **opts):
    o = dict(FIXTURE_DECODE)
    o.update(opts)
    st, h, j = d.json("POST", "/v1/translate", {"model": model, "sentences": [case["src_text"]], "options": o})
    check(st == 200, "status %s: %s" % (st, j))
    return j


# ---------------------------------------------------------------- process

@test("--version and --help exit 0 and print what users expect")
def t_version_help():
    out = subprocess.run([BINARY, "--version"], capture_output=True, text=True)
    check(out.returncode == 0 and out.stdout.startswith("seq2seqd "), out.stdout)
    out = subprocess.run([BINARY, "--help"], capture_output=True, text=True)
    check(out.returncode == 0 and "--workers" in out.stdout and "--batching" in out.stdout, out.stdout)


@test("a bad config value stops startup naming the key, the value and what is allowed")
def t_bad_config():
    conf = os.path.join(TMP, "bad.conf")
    with open(conf, "w") as f:
        f.write("# comment\nworkers = 0\n")
    out = subprocess.run([BINARY, "--config", conf, "--check-config"], capture_output=True, text=True)
    check(out.returncode == 2, "exit %s on a bad value, seq2seqd(8) says 2" % out.returncode)
    check("workers" in out.stderr and '"0"' in out.stderr and "1..256" in out.stderr, out.stderr)
    out = subprocess.run([BINARY, "--config", "/dev/null", "--batching=fast"], capture_output=True, text=True)
    check(out.returncode != 0 and "batching" in out.stderr and "request" in out.stderr and "step" in out.stderr, out.stderr)
    env = dict(os.environ, SEQ2SEQD_PORT="70000")
    out = subprocess.run([BINARY, "--config", "/dev/null"], capture_output=True, text=True, env=env)
    check(out.returncode != 0 and "SEQ2SEQD_PORT" in out.stderr and "70000" in out.stderr, out.stderr)
    # A line past 4095 bytes was cut and its tail parsed as a line of its own
    # (found by fuzz/fuzz_settings.c): a long comment must not set an option.
    with open(conf, "w") as f:
        f.write("# " + "x" * 4092 + " workers = 0\n")
    out = subprocess.run([BINARY, "--config", conf, "--check-config"], capture_output=True, text=True)
    check("workers" not in out.stderr and "bad.conf:2" not in out.stderr, out.stderr)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SEQ2SEQD_")}
    # Dashes as the project's other commands spell them; an unknown name gets "did you mean".
    model = "x=" + os.path.join(SRCDIR, "models", "dates.safetensors")
    out = subprocess.run([BINARY, "--config", "/dev/null", "--max-rows=16", "--model", model, "--check-config"],
                         capture_output=True, text=True, env=clean)
    check(out.returncode == 0 and "max_rows = 16" in out.stdout, (out.returncode, out.stderr[-300:]))
    out = subprocess.run([BINARY, "--config", "/dev/null", "--max-rowz=16"], capture_output=True, text=True, env=clean)
    check(out.returncode == 2 and "did you mean --max_rows?" in out.stderr, (out.returncode, out.stderr))
    with open(conf, "w") as f:
        f.write("wokers = 2\n")
    out = subprocess.run([BINARY, "--config", conf, "--check-config"], capture_output=True, text=True, env=clean)
    check(out.returncode == 2 and 'did you mean "workers"?' in out.stderr, (out.returncode, out.stderr))
    # An SEQ2SEQD_ variable that names nothing was ignored without a word.
    for var, hint in (("SEQ2SEQD_WORKRES", "did you mean SEQ2SEQD_WORKERS?"), ("SEQ2SEQD_NONSENSE", "")):
        out = subprocess.run([BINARY, "--config", "/dev/null", "--model", model, "--check-config"],
                             capture_output=True, text=True, env=dict(clean, **{var: "2"}))
        check(out.returncode == 2 and var in out.stderr and hint in out.stderr, (var, out.returncode, out.stderr))


@test("--check-config validates the models and prints file < flag < environment")
def t_check_config():
    conf = os.path.join(TMP, "ok.conf")
    with open(conf, "w") as f:
        f.write("workers = 3\nmax_rows = 32\nmodel.x = %s\n" % fixture_path(MODEL_A, ".safetensors"))
    env = dict(os.environ, SEQ2SEQD_MAX_ROWS="48")
    out = subprocess.run([BINARY, "--config", conf, "--check-config", "--workers=4", "--max_rows=40"],
                         capture_output=True, text=True, env=env)
    check(out.returncode == 0, out.stderr)
    check("workers = 4" in out.stdout and "max_rows = 48" in out.stdout and "model.x = " in out.stdout, out.stdout)
    out = subprocess.run([BINARY, "--config", "/dev/null", "--check-config", "--model", "y=/nonexistent.safetensors"],
                         capture_output=True, text=True)
    check(out.returncode != 0 and "/nonexistent.safetensors" in out.stderr, out.stderr)


# ---------------------------------------------------------------- endpoints

@test("GET /healthz and /readyz; X-Request-Id generated or honoured")
def t_health(d):
    st, h, j = d.json("GET", "/healthz")
    check(st == 200 and j == {"status": "ok"}, j)
    check(len(h["x-request-id"]) == 16, h)
    st, h, j = d.json("GET", "/readyz", headers={"X-Request-Id": "client-id.42"})
    check(st == 200 and j["status"] == "ready" and j["models"] == 3, j)
    check(h["x-request-id"] == "client-id.42", h)
    st, h, _ = d.json("GET", "/healthz", headers={"X-Request-Id": "bad id with spaces"})
    check(h["x-request-id"] != "bad id with spaces", "an invalid id was echoed")
    check(("id=client-id.42 ") in d.logtext(), "access log lacks the request id")
    # the probes where llama.cpp, KServe v2 and OpenNMT-py users look for them
    for path, want in (("/health", "ready"), ("/v2/health/ready", "ready"), ("/v2/health/live", "ok"),
                       ("/translator/health", "ok")):
        st, _, j = d.json("GET", path)
        check(st == 200 and j["status"] == want, (path, st, j))
    # an unknown model's name is in the access line too (it was "-")
    expect_error(d, "POST", "/v1/translate", {"model": "en-de-typo", "text": "a"}, 404, "model_not_found",
                 headers={"X-Request-Id": "unknown-model.1"})
    end = time.time() + 5  # the access line is written once the answer is sent
    line = []
    while not line and time.time() < end:
        line = [x for x in d.logtext().splitlines() if "id=unknown-model.1 " in x]
        time.sleep(0.02)
    check(line and "model=en-de-typo " in line[0], line)


@test("GET /v1/models and /v1/models/{name}: architecture, sizes, parameters, checksum")
def t_models(d):
    st, _, j = d.json("GET", "/v1/models")
    check(st == 200 and [m["name"] for m in j["models"]] == ["a", "b", "c"], j)
    m = j["models"][0]
    fx = load_fixture(MODEL_A)
    path = fixture_path(MODEL_A, ".safetensors")
    with open(path, "rb") as f:
        check(m["sha256"] == hashlib.sha256(f.read()).hexdigest(), "sha256")
    hdr = safetensors_header(path)
    params = 0
    for k, v in hdr.items():
        if k != "__metadata__":
            n = 1
            for s in v["shape"]:
                n *= s
            params += n
    check(m["parameters"] == params, "parameters %s, file has %s" % (m["parameters"], params))
    for k, v in fx["config"].items():
        if k in ("src_vocab_size", "tgt_vocab_size"):
            check(m[k] == v, k)
        else:
            check(m["architecture"][k] == v, "architecture.%s" % k)
    check(m["default"] is True and j["models"][1]["default"] is False, "default flag")
    check(m["loaded_at"].endswith("Z") and len(m["loaded_at"]) == 20, m["loaded_at"])
    st, _, one = d.json("GET", "/v1/models/b")
    check(st == 200 and one["name"] == "b" and one["sha256"] == j["models"][1]["sha256"], one)
    expect_error(d, "GET", "/v1/models/nope", None, 404, "model_not_found", field="nope")


@test("POST /v1/translate greedy: tokens, logprobs, scores and attention equal PyTorch's (3 models)")
def t_translate_greedy(d):
    for name, fx_name in (("a", MODEL_A), ("b", MODEL_B), ("c", MODEL_C)):
        fx = load_fixture(fx_name)
        for case in fx["cases"]:
            j = translate_case(d, name, fx_name, case, attention=True)
            r = j["results"][0]
            sv = src_vocab(fx_name)
            ids = [sv.index(p) if p in sv else 1 for p in r["source_tokens"]]
            check(ids == case["src_ids"], "source ids %s vs %s" % (ids, case["src_ids"]))
            check(len(r["hypotheses"]) == 1, "n_best 1")
            hyp = r["hypotheses"][0]
            check_hyp(fx_name, hyp, case["greedy"], "%s %r" % (name, case["src_text"]))
            att = case["greedy"]["attention"]
            check(len(hyp["attention"]) == len(att), "attention rows")
            for gr, wr in zip(hyp["attention"], att):
                check(all(close(g, w) for g, w in zip(gr, wr)) and len(gr) == len(wr), "attention values")
            check(set(r["timings"]) == {"queued_ms", "encode_ms", "decode_ms"}, r["timings"])


@test("POST /v1/translate beam search with n-best and length penalty equals PyTorch's")
def t_translate_beam(d):
    for name, fx_name in (("a", MODEL_A), ("c", MODEL_C)):
        for case in load_fixture(fx_name)["cases"]:
            b = case["beam"]
            j = translate_case(d, name, fx_name, case, beam_size=b["beam_size"], n_best=len(b["hyps"]),
                               length_penalty=b["length_penalty"])
            hyps = j["results"][0]["hypotheses"]
            check(len(hyps) == len(b["hyps"]), "n_best")
            for k, (g, w) in enumerate(zip(hyps, b["hyps"])):
                check_hyp(fx_name, g, w, "%s %r beam hyp %d" % (name, case["src_text"], k))


@test("word-level attention sums source subwords and averages target subwords; coverage")
def t_word_attention(d):
    case = load_fixture(MODEL_B)["cases"][2]  # "zoom in": two words
    sub = translate_case(d, "b", MODEL_B, case, attention=True)["results"][0]
    word = translate_case(d, "b", MODEL_B, case, attention=True, attention_level="word",
                          coverage_threshold=1000)["results"][0]
    A = case["greedy"]["attention"]
    toks = sub["source_tokens"]
    src_word, w = [], -1
    for t in toks:
        if t.startswith("\u2581"):
            w += 1
        src_word.append(w)
    nsw = w + 1
    check(word["source_words"] == ["zoom", "in"] and nsw == 2, word["source_words"])
    tt = sub["hypotheses"][0]["tokens"]
    tgt_word, w = [], -1
    for k, t in enumerate(tt):
        if w < 0 or t.startswith("\u2581") or t == "</s>" or (k and tt[k - 1] == "</s>"):
            w += 1
        tgt_word.append(w)
    ntw = w + 1
    want = [[0.0] * nsw for _ in range(ntw)]
    cnt = [0] * ntw
    for k, row in enumerate(A):
        cnt[tgt_word[k]] += 1
        for jx, a in enumerate(row):
            want[tgt_word[k]][src_word[jx]] += a
    want = [[x / cnt[i] for x in row] for i, row in enumerate(want)]
    got = word["hypotheses"][0]["attention"]
    check(len(got) == ntw and len(word["hypotheses"][0]["target_words"]) == ntw, "target words")
    for gr, wr in zip(got, want):
        check(all(close(g, x) for g, x in zip(gr, wr)), "word attention %s vs %s" % (gr, wr))
    cov = [0.0] * nsw
    for row in A:
        for jx, a in enumerate(row):
            cov[src_word[jx]] += a
    check(all(close(g, x) for g, x in zip(word["coverage"], cov)), "coverage %s vs %s" % (word["coverage"], cov))
    check(word["low_coverage_words"] == ["zoom", "in"], "threshold 1000 lists every word")
    check(sub["low_coverage_words"] == [w for w, c in zip(["zoom", "in"], cov) if c < 0.5], "default threshold 0.5")


@test("replace_unk and the text field: <unk> replaced by the most-attended source piece")
def t_replace_unk(d):
    # Checked against the fixture's own attention: for every <unk> output the
    # source piece with the highest attention in that row (first on ties).
    found = 0
    for name, fx_name in (("a", MODEL_A), ("b", MODEL_B), ("c", MODEL_C)):
        for case in load_fixture(fx_name)["cases"]:
            j = translate_case(d, name, fx_name, case, replace_unk=True)
            r = j["results"][0]
            g = case["greedy"]
            want = expected_tokens(fx_name, g["ids"])
            for k, i in enumerate(g["ids"]):
                if i == 1:
                    row = g["attention"][k]
                    want[k] = r["source_tokens"][row.index(max(row))]
                    found += 1
            check(r["hypotheses"][0]["tokens"] == want, "%s %r: %s vs %s" % (name, case["src_text"], r["hypotheses"][0]["tokens"], want))
            text = "".join(t for t in want if t not in ("</s>", "<s>", "<pad>")).replace("\u2581", " ")
            if text.startswith(" "):
                text = text[1:]
            check(r["hypotheses"][0]["text"] == text, "text %r vs %r" % (r["hypotheses"][0]["text"], text))
    # The fixtures never emit <unk>, so force it: a copy of model a whose output
    # bias for <unk> (id 1) is +50 emits nothing else. Each output token must
    # then be the source piece with the highest attention in its row (first on
    # ties), read from the same response's attention matrix.
    path = os.path.join(TMP, "unk.safetensors")
    shutil.copy(fixture_path(MODEL_A, ".safetensors"), path)
    hdr = safetensors_header(path)
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
    bias = hdr["decoder.out.bias"]
    check(bias["dtype"] == "F32", "fixture dtype")
    with open(path, "r+b") as f:
        f.seek(8 + n + bias["data_offsets"][0] + 4 * 1)
        f.write(struct.pack("<f", 50.0))
    u = Daemon(models={"u": path})
    try:
        for case in load_fixture(MODEL_A)["cases"]:
            o = dict(FIXTURE_DECODE, attention=True)
            _, _, plain = u.json("POST", "/v1/translate", {"text": case["src_text"], "options": o})
            o["replace_unk"] = True
            _, _, rep = u.json("POST", "/v1/translate", {"text": case["src_text"], "options": o})
            hp, hr = plain["results"][0]["hypotheses"][0], rep["results"][0]["hypotheses"][0]
            src = rep["results"][0]["source_tokens"]
            check(hp["tokens"] and all(t == "<unk>" for t in hp["tokens"]), "bias did not force <unk>: %s" % hp["tokens"])
            want = [src[row.index(max(row))] for row in hp["attention"]]
            check(hr["tokens"] == want, "%r: %s vs %s" % (case["src_text"], hr["tokens"], want))
            text = "".join(want).replace("\u2581", " ")
            check(hr["text"] == (text[1:] if text.startswith(" ") else text), "text %r" % hr["text"])
    finally:
        u.stop()


@test("every error status: 400 (field named), 404, 405 + Allow, 413, 415, 422")
def t_errors(d):
    expect_error(d, "POST", "/v1/translate", "{not json", 400, "invalid_json",
                 headers={"Content-Type": "application/json"})
    expect_error(d, "POST", "/v1/translate", {"sentences": "x"}, 400, "invalid_field", field="sentences")
    expect_error(d, "POST", "/v1/translate", {"sentences": ["ok", 3]}, 400, "invalid_field", field="sentences[1]")
    expect_error(d, "POST", "/v1/translate", {"text": "a", "options": {"beam_size": 99}}, 400, "invalid_field", field="options.beam_size")
    expect_error(d, "POST", "/v1/translate", {"text": "a", "options": {"attention": "yes"}}, 400, "invalid_field", field="options.attention")
    expect_error(d, "POST", "/v1/translate", {"text": "a", "model": 5}, 400, "invalid_field", field="model")
    expect_error(d, "POST", "/v1/translate", {}, 400, "invalid_field", field="sentences")
    expect_error(d, "POST", "/v1/translate", {"text": "a", "model": "zz"}, 404, "model_not_found", field="zz")
    expect_error(d, "GET", "/v2/nothing", None, 404, "not_found")
    h, _ = expect_error(d, "GET", "/v1/translate", None, 405, "method_not_allowed")
    check(h.get("allow") == "POST", h)
    h, _ = expect_error(d, "DELETE", "/v1/models", None, 405, "method_not_allowed")
    check("GET" in h.get("allow", ""), h)
    expect_error(d, "POST", "/v1/translate", json.dumps({"text": "a" * 5000}), 413, "payload_too_large",
                 headers={"Content-Type": "application/json"}, field="max_body_bytes")
    expect_error(d, "POST", "/v1/translate", json.dumps({"text": "a"}), 415, "unsupported_media_type",
                 headers={"Content-Type": "text/plain"})
    expect_error(d, "POST", "/v1/translate", {"sentences": ["fine", "   "]}, 422, "empty_input", field="sentences[1]")
    expect_error(d, "POST", "/v1/translate", {"sentences": ["fine", "ab " * 40]}, 422, "input_too_long", field="sentences[1]")
    expect_error(d, "POST", "/v1/translate", {"sentences": ["a"] * 9}, 422, "too_many_sentences",
                 field="max_sentences")
    expect_error(d, "POST", "/v1/translate", {"sentences": []}, 400, "invalid_field", field="sentences")
    # a misspelt option decoded greedily without a word: now 422 naming it and the known ones
    _, j = expect_error(d, "POST", "/v1/translate", {"text": "a", "options": {"beam": 5}}, 422, "unknown_option",
                        field='"options.beam"')
    check("beam_size" in j["error"]["message"] and "glossary" in j["error"]["message"], j)
    st, _, j = d.json("POST", "/translator/translate", [{"src": "a", "id": 0, "beam": 5}])
    check(st == 200, ("the OpenNMT-compatible route stays lenient", st, j))
    st, h, _ = d.json("POST", "/v1/translate", {"text": "a"}, headers={"Content-Type": "application/json; charset=utf-8"})
    check(st == 200, "charset parameter refused")


@test("OpenNMT-py compatible POST /translator/translate")
def t_opennmt(d):
    cases = load_fixture(MODEL_A)["cases"]
    st, _, j = d.json("POST", "/translator/translate", [{"src": c["src_text"], "id": 0} for c in cases[:3]])
    check(st == 200 and isinstance(j, list) and len(j) == 1 and len(j[0]) == 3, j)
    # default options (a=2, b=10) differ from the fixture's, so compare with /v1/translate's greedy score
    for item, c in zip(j[0], cases):
        check(item["src"] == c["src_text"] and item["n_best"] == 1 and isinstance(item["tgt"], str), item)
        _, _, v1 = d.json("POST", "/v1/translate", {"text": c["src_text"]})
        check(close(item["pred_score"], v1["results"][0]["hypotheses"][0]["norm_score"]), "pred_score")
        check(item["tgt"] == v1["results"][0]["hypotheses"][0]["text"], "tgt")
    expect_error(d, "POST", "/translator/translate", [{"src": "a", "id": 7}], 404, "model_not_found")
    expect_error(d, "POST", "/translator/translate", [{"src": 1, "id": 0}], 400, "invalid_field", field="[0].src")
    expect_error(d, "POST", "/translator/translate", {"src": "a"}, 400, "invalid_field")


@test("GET /metrics: Prometheus text with every documented family")
def t_metrics(d):
    st, h, data = d.get("/metrics")
    check(st == 200 and h["content-type"].startswith("text/plain"), h)
    text = data.decode()
    for fam in ("seq2seqd_http_requests_total", "seq2seqd_http_request_duration_seconds_bucket",
                "seq2seqd_http_inflight_requests", "seq2seqd_queue_depth", "seq2seqd_batch_rows_bucket",
                "seq2seqd_decoder_steps_total", "seq2seqd_generated_tokens_total", "seq2seqd_tokens_per_second",
                "seq2seqd_cancellations_total", "seq2seqd_models_loaded", "seq2seqd_draining",
                "seq2seqd_sentences_total", "seq2seqd_queue_capacity"):
        check(fam in text, "missing " + fam)
    check('seq2seqd_http_requests_total{route="/v1/translate",status="200"}' in text, "translate 200 counter")
    check('route="/v1/translate",status="422"' in text, "422 counted")
    check(d.metric("seq2seqd_decoder_steps_total") > 0, "no steps counted")


@test("concurrency: 24 clients x 10 requests, every response equals PyTorch's output for that sentence")
def t_concurrency(d):
    work = fixture_work()
    errors = []

    def client(k):
        try:
            for i in range(10):
                name, fx_name, case = work[(k * 7 + i) % len(work)]
                j = translate_case(d, name, fx_name, case)
                check_hyp(fx_name, j["results"][0]["hypotheses"][0], case["greedy"], "client %d" % k)
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))
    threads = [threading.Thread(target=client, args=(k,)) for k in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(not errors, "%d failures, first: %s" % (len(errors), errors[:1]))
    # several sentences shared decoder steps
    _, _, data = d.get("/metrics")
    rows = {}
    for line in data.decode().splitlines():
        if line.startswith("seq2seqd_batch_rows_bucket"):
            rows[line.split('le="')[1].split('"')[0]] = float(line.rsplit(" ", 1)[1])
    check(rows["+Inf"] > rows["1"], "no step ever ran more than one row: %s" % rows)


@test("admin reload: 401 without/with a wrong key, 404 unknown model, 200 with the new checksum")
def t_reload_auth(d):
    expect_error(d, "POST", "/v1/models/a/reload", None, 401, "unauthorized")
    h, _ = expect_error(d, "POST", "/v1/models/a/reload", None, 401, "unauthorized", headers={"Authorization": "Bearer wrong"})
    check(h.get("www-authenticate") == "Bearer", h)
    expect_error(d, "POST", "/v1/models/zz/reload", None, 404, "model_not_found", headers={"X-API-Key": "sekrit"})
    st, _, j = d.json("POST", "/v1/models/a/reload", headers={"Authorization": "Bearer sekrit"})
    check(st == 200 and j["reloaded"] is True and j["sha256"] == j["previous_sha256"], j)
    st, _, m = d.json("GET", "/v1/models/a")
    check(m["reloads"] >= 1, m)
    check(d.metric('seq2seqd_reloads_total{model="a",result="ok"}') >= 1, "reload not counted")


LONG = {"max_len_a": 100, "max_len_b": 200, "max_length": 200}  # model a never emits </s>: 200 steps


@test("504 when the deadline passes; partial result marked truncated when asked")
def t_deadline(slow):
    o = dict(LONG, deadline_ms=150)
    h, j = expect_error(slow, "POST", "/v1/translate", {"model": "a", "text": "the cat sat", "options": o}, 504, "deadline_exceeded")
    # Model a never emits </s> on these inputs: with T = floor(1.5 n) + 4, "a" (2 tokens)
    # takes 7 steps and "the cat sat" (12 tokens) 22; at 10 ms per step only the
    # first fits in 150 ms.
    o = dict(FIXTURE_DECODE, deadline_ms=150, partial=True)
    st, _, j = slow.json("POST", "/v1/translate", {"model": "a", "sentences": ["a", "the cat sat"], "options": o})
    check(st == 200 and j["truncated"] is True, j)
    check(j["results"][0]["truncated"] is False and len(j["results"][0]["hypotheses"]) == 1, j["results"][0])
    check(j["results"][1]["truncated"] is True and j["results"][1]["hypotheses"] == [], j["results"][1])
    check(slow.metric('seq2seqd_cancellations_total{reason="deadline"}') >= 2, "deadline cancellations not counted")


@test("503 + Retry-After when the admission queue is full")
def t_queue_full(slow):
    h, _ = expect_error(slow, "POST", "/v1/translate", {"sentences": ["a", "b", "c", "d", "e"]}, 503, "queue_full")
    check(h.get("retry-after") == "1", h)


def hang_up(d, reset):
    """Sends a slow two-sentence translate, then resets (RST) or half-closes (FIN) the connection."""
    body = json.dumps({"model": "a", "sentences": ["the cat sat", "zoom in"], "options": dict(LONG, deadline_ms=0)})
    s = socket.create_connection(("127.0.0.1", d.port))
    s.sendall(("POST /v1/translate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               "Content-Length: %d\r\n\r\n%s" % (len(body.encode()), body)).encode())
    time.sleep(0.3)
    if reset:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def check_cancelled(d, reset):
    """hang_up(d, reset) must cancel both sentences, and the daemon go on serving."""
    before = d.metric('seq2seqd_cancellations_total{reason="disconnect"}')
    hang_up(d, reset)
    end = time.time() + 5
    while time.time() < end and d.metric('seq2seqd_cancellations_total{reason="disconnect"}') < before + 2:
        time.sleep(0.05)
    after = d.metric('seq2seqd_cancellations_total{reason="disconnect"}')
    check(after >= before + 2, "cancellations %s -> %s" % (before, after))
    st, _, j = d.json("POST", "/v1/translate", {"model": "c", "text": "help me"})
    check(st == 200, j)
    check("cancelled=1" in d.logtext(), "access log does not mark the cancelled request")


@test("cancellation: a client that resets its connection leaves the batch; the daemon keeps serving")
def t_cancel(slow):
    # A FIN alone is a half-close and the request completes (test_http_hardening.py);
    # an abortive close (SO_LINGER 0: RST) is a client gone.
    check_cancelled(slow, reset=True)


@test("cancel_on_eof = true: a client's FIN cancels its request as a reset does")
def t_cancel_on_eof():
    d = Daemon("--debug_step_delay_ms=10", "--workers=1", "--max_rows=16", "--cancel_on_eof=true")
    try:
        check_cancelled(d, reset=False)
    finally:
        check(d.stop() == 0, "exit status")


@test("admin endpoints disabled without admin_key: 403")
def t_forbidden(slow):
    expect_error(slow, "POST", "/v1/models/a/reload", None, 403, "forbidden", headers={"X-API-Key": "x"})


@test("reload under load: 5 reloads while 8 clients translate, zero failed requests")
def t_reload_under_load(d):
    stop = threading.Event()
    errors, done = [], [0]
    case = load_fixture(MODEL_A)["cases"][3]

    def client():
        while not stop.is_set():
            try:
                j = translate_case(d, "a", MODEL_A, case)
                check_hyp(MODEL_A, j["results"][0]["hypotheses"][0], case["greedy"], "under reload")
                done[0] += 1
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))
    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    try:
        for _ in range(5):
            st, _, j = d.json("POST", "/v1/models/a/reload", headers={"X-API-Key": "sekrit"})
            check(st == 200, "reload: %s %s" % (st, j))
            time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join()
    check(not errors, "%d failed requests, first %s" % (len(errors), errors[:1]))
    check(done[0] > 8, "too few requests ran: %d" % done[0])


@test("failed reload keeps the old model, answers 500 reload_failed, logs and counts it; SIGHUP reloads")
def t_reload_failure():
    path = os.path.join(TMP, "copy.safetensors")
    shutil.copy(fixture_path(MODEL_A, ".safetensors"), path)
    d = Daemon("--admin_key=k", models={"m": path})
    try:
        case = load_fixture(MODEL_A)["cases"][1]
        with open(path, "r+b") as f:
            f.write(b"\xff" * 16)
        h, j = expect_error(d, "POST", "/v1/models/m/reload", None, 500, "reload_failed", headers={"X-API-Key": "k"})
        j2 = translate_case(d, "m", MODEL_A, case)
        check_hyp(MODEL_A, j2["results"][0]["hypotheses"][0], case["greedy"], "old model after failed reload")
        check(d.metric('seq2seqd_reloads_total{model="m",result="failed"}') == 1, "failure not counted")
        check("reload of" in d.logtext() and "failed" in d.logtext(), "failure not logged")
        shutil.copy(fixture_path(MODEL_C, ".safetensors"), path)
        d.proc.send_signal(signal.SIGHUP)
        end = time.time() + 5
        while time.time() < end and d.metric('seq2seqd_reloads_total{model="m",result="ok"}') < 1:
            time.sleep(0.05)
        _, _, m = d.json("GET", "/v1/models/m")
        with open(path, "rb") as f:
            check(m["sha256"] == hashlib.sha256(f.read()).hexdigest(), "SIGHUP did not load the new file")
    finally:
        check(d.stop() == 0, "exit status")


@test("SIGTERM drain: in-flight requests all finish, new connections refused, exit 0")
def t_drain():
    d = Daemon("--debug_step_delay_ms=3", "--workers=2", "--max_rows=8")
    results = []

    def client():
        try:
            st, _, j = d.json("POST", "/v1/translate", {"model": "a", "text": "undo", "options": dict(LONG, max_length=60, deadline_ms=0)})
            results.append(st)
        except Exception as e:  # noqa: BLE001
            results.append(repr(e))
    threads = [threading.Thread(target=client) for _ in range(12)]
    for t in threads:
        t.start()
    time.sleep(0.15)
    d.proc.send_signal(signal.SIGTERM)
    time.sleep(0.05)
    refused = False
    try:
        d.get("/healthz", timeout=2)
    except OSError:
        refused = True
    for t in threads:
        t.join()
    rc = d.proc.wait(15)
    check(results == [200] * 12, "in-flight results: %s" % results)
    check(refused, "a new connection was accepted while draining")
    check(rc == 0, "exit status %s" % rc)
    check("drained" in d.logtext(), d.logtext()[-500:])


def recv_notify(sock, want, timeout=5):
    """Datagrams until one contains `want`; returns all seen."""
    seen = []
    end = time.time() + timeout
    while time.time() < end:
        sock.settimeout(max(0.01, end - time.time()))
        try:
            msg = sock.recv(4096).decode()
        except socket.timeout:
            break
        seen.append(msg)
        if want in msg.split("\n"):
            return seen
    raise AssertionError("no %r in notifications %s" % (want, seen))


@test("sd_notify: READY=1 + STATUS, WATCHDOG=1 pings, RELOADING=1 on SIGHUP, STOPPING=1 on SIGTERM")
def t_notify():
    path = os.path.join(TMP, "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    d = Daemon(models={"a": fixture_path(MODEL_A, ".safetensors")},
               env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"})
    try:
        seen = recv_notify(sock, "READY=1")
        check(any(l.startswith("STATUS=") for m in seen for l in m.split("\n")), seen)
        t0 = time.time()
        recv_notify(sock, "WATCHDOG=1")
        recv_notify(sock, "WATCHDOG=1")
        check(time.time() - t0 < 1.0, "watchdog pings too slow for WATCHDOG_USEC=200 ms")
        d.proc.send_signal(signal.SIGHUP)
        recv_notify(sock, "RELOADING=1")
        recv_notify(sock, "READY=1")
        d.proc.send_signal(signal.SIGTERM)
        recv_notify(sock, "STOPPING=1")
        check(d.proc.wait(10) == 0, "exit status")
    finally:
        d.stop()
        sock.close()


@test("socket activation with systemd-socket-activate")
def t_socket_activation():
    port = free_port()
    cmd = [SOCKET_ACTIVATE, "-l", "127.0.0.1:%d" % port, BINARY, "--config", "/dev/null",
           "--port", "1", "--model", "a=" + fixture_path(MODEL_A, ".safetensors")]
    log = open(os.path.join(TMP, "activate.log"), "w+")
    p = subprocess.Popen(cmd, stdout=log, stderr=log)
    try:
        time.sleep(0.3)
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
        c.request("GET", "/readyz")
        r = c.getresponse()
        check(r.status == 200, "status %s" % r.status)
        c.close()
        log.flush()
        with open(log.name) as f:
            text = f.read()
        check("socket-activated" in text, text)
    finally:
        p.send_signal(signal.SIGTERM)
        rc = p.wait(10)
        check(rc == 0, "exit status %s" % rc)


@test("batching = request gives the same translations as PyTorch under concurrency")
def t_request_level():
    d = Daemon("--batching=request")
    try:
        cases = load_fixture(MODEL_A)["cases"]
        errors = []

        def client(k):
            try:
                for i in range(5):
                    case = cases[(k + i) % len(cases)]
                    j = translate_case(d, "a", MODEL_A, case)
                    check_hyp(MODEL_A, j["results"][0]["hypotheses"][0], case["greedy"], "request-level")
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))
        threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        check(not errors, errors[:1])
    finally:
        check(d.stop() == 0, "exit status")


@test("options.max_length caps the output, not the input: a long sentence with max_length 2 is 200")
def t_max_length_output_only(d):
    case = max(load_fixture(MODEL_A)["cases"], key=lambda c: len(c["src_text"]))
    st, _, j = d.json("POST", "/v1/translate", {"model": "a", "text": case["src_text"],
                                                "options": {"max_length": 2, "beam_size": 2}})
    check(st == 200, "status %s: %s" % (st, j))
    check(len(j["results"][0]["source_tokens"]) > 2, "the fixture sentence is too short to test this")
    for h in j["results"][0]["hypotheses"]:
        check(len(h["tokens"]) <= 2, "max_length 2 gave %d tokens" % len(h["tokens"]))


def dashboard_data_dir():
    """A data_dir whose dashboard/ holds the real files plus ones that must never be served."""
    root = tempfile.mkdtemp(prefix="dash-", dir=TMP)
    dash = os.path.join(root, "dashboard")
    shutil.copytree(os.path.join(SRCDIR, "dashboard"), dash)
    with open(os.path.join(dash, ".hidden.js"), "w") as f:
        f.write("hidden")
    with open(os.path.join(dash, "notes.exe"), "w") as f:
        f.write("unknown type")
    os.symlink("/etc/passwd", os.path.join(dash, "passwd.txt"))
    os.mkdir(os.path.join(dash, "sub.js"))
    return root


@test("dashboard: / and /dashboard/* serve the installed files with ETag, 304 and a strict CSP")
def t_dashboard_files():
    root = dashboard_data_dir()
    d = Daemon("--data_dir=" + root)
    try:
        with open(os.path.join(root, "dashboard", "index.html"), "rb") as f:
            index = f.read()
        st, h, body = d.get("/")
        check(st == 200 and body == index, "GET / is not index.html: %s" % st)
        check(h["content-type"].startswith("text/html"), h["content-type"])
        check("default-src 'none'" in h["content-security-policy"], h.get("content-security-policy"))
        check(h["x-content-type-options"] == "nosniff", "no nosniff")
        for name, ctype in (("app.js", "text/javascript"), ("style.css", "text/css"),
                            ("favicon.svg", "image/svg+xml")):
            with open(os.path.join(root, "dashboard", name), "rb") as f:
                want = f.read()
            st, h, body = d.get("/dashboard/" + name)
            check(st == 200 and body == want, "%s: %s" % (name, st))
            check(h["content-type"].startswith(ctype), "%s: %s" % (name, h["content-type"]))
            st2, h2, body2 = d.get("/dashboard/" + name, headers={"If-None-Match": h["etag"]})
            check(st2 == 304 and body2 == b"", "%s with its ETag: %s" % (name, st2))
            st3, _, _ = d.get("/dashboard/" + name, headers={"If-None-Match": '"0"'})
            check(st3 == 200, "a stale ETag must get the file")
        st, h, body = d.request("HEAD", "/")
        check(st == 200 and body == b"" and int(h["content-length"]) == len(index), "HEAD /")
        for bad in ("/dashboard/.hidden.js", "/dashboard/notes.exe", "/dashboard/passwd.txt",
                    "/dashboard/sub.js", "/dashboard/../models/x", "/dashboard/%2e%2e/index.html",
                    "/dashboard/", "/dashboard/nothing.js"):
            st, _, j = d.json("GET", bad)
            check(st == 404 and j["error"]["code"] == "not_found", "%s: %s %s" % (bad, st, j))
        expect_error(d, "POST", "/", {}, 405, "method_not_allowed")
        check(d.metric('seq2seqd_http_requests_total{route="/dashboard",status="304"}') == 3,
              "304s not counted under the /dashboard route")
    finally:
        check(d.stop() == 0, "exit status")


@test("dashboard: dashboard = false and a missing install answer 404 naming the cause")
def t_dashboard_off():
    root = dashboard_data_dir()
    d = Daemon("--data_dir=" + root, "--dashboard=false")
    empty = Daemon("--data_dir=" + tempfile.mkdtemp(prefix="empty-", dir=TMP))
    try:
        _, j = expect_error(d, "GET", "/", None, 404, "not_found")
        check("disabled" in j["error"]["message"], j)
        _, j = expect_error(empty, "GET", "/dashboard/app.js", None, 404, "not_found")
        check("not installed" in j["error"]["message"], j)
        st, _, _ = empty.get("/healthz")
        check(st == 200, "the API must still serve without a dashboard")
    finally:
        check(d.stop() == 0 and empty.stop() == 0, "exit status")


@test("GET /v1/recent: off by default; when enabled a bounded ring, newest first, of what was answered")
def t_recent():
    off = Daemon()
    on = Daemon("--recent_translations=2")
    try:
        st, _, j = off.json("GET", "/v1/recent")
        check(st == 200 and j == {"enabled": False, "capacity": 0, "total": 0, "items": []}, j)
        cases = load_fixture(MODEL_A)["cases"]
        srcs = [c["src_text"] for c in cases[:3]]
        texts = []
        for src in srcs:
            j = translate_case(on, "a", MODEL_A, {"src_text": src})
            texts.append(j["results"][0]["hypotheses"][0]["text"])
        expect_error(on, "POST", "/v1/translate", {"model": "a", "text": " "}, 422, "empty_input")
        st, _, j = on.json("GET", "/v1/recent")
        check(st == 200 and j["enabled"] is True and j["capacity"] == 2 and j["total"] == 3, j)
        got = [(it["source"], it["translation"], it["model"]) for it in j["items"]]
        want = [(srcs[2], texts[2], "a"), (srcs[1], texts[1], "a")]
        check(got == want, "recent %s, expected %s" % (got, want))
        check(all(it["latency_ms"] > 0 and it["beam_size"] == 1 and it["time_ms"] > 1.7e12
                  for it in j["items"]), j["items"])
        expect_error(on, "POST", "/v1/recent", {}, 405, "method_not_allowed")
    finally:
        check(off.stop() == 0 and on.stop() == 0, "exit status")


@test("journald: <N> priority prefixes when JOURNAL_STREAM is set")
def t_journal():
    d = Daemon(models={"a": fixture_path(MODEL_A, ".safetensors")}, env={"JOURNAL_STREAM": "8:12345"})
    try:
        d.get("/healthz")
    finally:
        d.stop()
    lines = [l for l in d.logtext().splitlines() if l]
    check(lines and all(l[0] == "<" and l[2] == ">" for l in lines), lines[:3])
    check(any(l.startswith("<6>access ") for l in lines), "no access line at info level")


SOCKET_ACTIVATE = shutil.which("systemd-socket-activate")


def print_tap(results):
    """Prints the plan and one TAP line per (ok, desc, info) result (ok None:
    skipped, info the reason); returns how many failed."""
    print("1..%d" % len(results))
    failed = 0
    for i, (ok, desc, info) in enumerate(results, 1):
        if ok is None:
            print("ok %d - %s # SKIP %s" % (i, desc, info))
            continue
        print("%s %d - %s" % ("ok" if ok else "not ok", i, desc))
        if not ok:
            failed += 1
            for line in str(info).splitlines():
                print("# " + line)
    return failed


def report():
    """The end of every black-box test file: TAP for everything recorded in
    _results, daemon logs removed unless something failed (or
    S2SD_TEST_KEEP is set). The exit status stays 0: TAP carries failures."""
    failed = print_tap(_results)
    if failed == 0 and not os.environ.get("S2SD_TEST_KEEP"):
        shutil.rmtree(TMP, ignore_errors=True)
    else:
        print("# daemon logs kept in " + TMP)
    return 0


def main():
    if not os.access(BINARY, os.X_OK):
        print("1..0 # SKIP %s not built" % BINARY)
        return 0
    t_version_help()
    t_bad_config()
    t_check_config()
    d = Daemon("--admin_key=sekrit", "--max_body_bytes=4096", "--max_sentences=8", "--max_tokens=64")
    slow = Daemon("--debug_step_delay_ms=10", "--queue_length=4", "--workers=1", "--max_rows=16")
    try:
        for t in (t_health, t_models, t_translate_greedy, t_translate_beam, t_word_attention,
                  t_replace_unk, t_errors, t_max_length_output_only, t_opennmt, t_concurrency, t_reload_auth,
                  t_reload_under_load, t_metrics):
            t(d)
        for t in (t_deadline, t_queue_full, t_cancel, t_forbidden):
            t(slow)
    finally:
        rc_d, rc_slow = d.stop(), slow.stop()
    _results.append((rc_d == 0 and rc_slow == 0, "daemons exit 0 on SIGTERM", "exit %s %s" % (rc_d, rc_slow)))
    t_cancel_on_eof()
    t_reload_failure()
    t_drain()
    t_notify()
    if SOCKET_ACTIVATE:
        t_socket_activation()
    else:
        skip("socket activation with systemd-socket-activate", "systemd-socket-activate not installed")
    t_request_level()
    t_dashboard_files()
    t_dashboard_off()
    t_recent()
    t_journal()
    return report()


if __name__ == "__main__":
    sys.exit(main())
