"""cluster.py - N seq2seqd instances on loopback, optionally behind HAProxy
run from the shipped deploy/haproxy/haproxy.cfg, for the deployment tests.
Python 3 standard library only.

    from cluster import Cluster
    with Cluster(build, src, n=3) as c:      # daemons only
        c.start_haproxy()                    # optional: HAProxy in front
        c.url                                # HAProxy's base URL
        c.instances[0].url                   # one daemon's base URL
        c.stop(0); c.start(0)                # SIGTERM + wait, start again
        c.wait_status("s1", "UP")            # HAProxy's view (runtime API)

Each instance gets its own directory WORK/sI with models/ holding a copy of
the chosen built-in models (so a test can replace a file and reload that
instance alone), a log file WORK/sI.log, a fixed port kept across restarts
and the admin key `Cluster.ADMIN_KEY`. Everything lives under one temporary
directory, removed by close() unless the environment sets S2S_KEEP_TMP.

HAProxy's configuration is the shipped file with only the lines that name
this machine replaced (derive_haproxy_cfg): a test of it tests what ships.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

# tests/ holds seq2seqd_proc.py, shared with the other Python tests.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from seq2seqd_proc import free_port  # noqa: E402


def find_tool(name):
    """Path of a tool that Debian installs in /usr/sbin (not on a user's
    PATH), or None."""
    found = shutil.which(name)
    if found:
        return found
    for d in ("/usr/sbin", "/sbin", "/usr/local/sbin"):
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    return None


def http(method, url, body=None, headers=None, timeout=10):
    """(status, parsed JSON or text) of one request on a fresh connection;
    HTTP error statuses are returned, not raised."""
    data = json.dumps(body).encode() if body is not None else None
    h = {"Connection": "close"}
    if data is not None:
        h["Content-Type"] = "application/json"
    h.update(headers or {})
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode("utf-8", "replace")


def wait_ready(proc, url, timeout, what, where, late):
    """Waits until url/readyz answers 200; raises when proc exits first
    (naming `where` to look) or after timeout s ("WHAT LATE after N s")."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError("%s exited with %s (%s)" % (what, proc.returncode, where))
        try:
            if http("GET", url + "/readyz", timeout=1)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("%s %s after %d s" % (what, late, timeout))


def restamp_checkpoint(src, dst, stamp):
    """Writes to dst (atomically, by rename) the safetensors file src with
    `seq2seqd.rollout` = stamp added to its metadata: the same weights in a
    file with another sha256, as a rollout of a retrained model would look
    to the daemon. The header is padded with spaces to keep 8 + header
    length a multiple of 8, as the checkpoint reader requires."""
    with open(src, "rb") as f:
        raw = f.read()
    hlen = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + hlen])
    header.setdefault("__metadata__", {})["seq2seqd.rollout"] = stamp
    text = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % 8)
    tmp = dst + ".new"
    with open(tmp, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        f.write(raw[8 + hlen:])
    os.replace(tmp, dst)


def _replace(lines, pred, make, what, at_most=None):
    """Replaces each line for which pred(stripped line) holds with make(line)
    (a list of lines, possibly empty); raises when none matched, so that a
    change of the shipped file's shape fails the test instead of being run
    unchanged."""
    out, n = [], 0
    for line in lines:
        if pred(line.strip()) and (at_most is None or n < at_most):
            out.extend(make(line))
            n += 1
        else:
            out.append(line)
    if n == 0:
        raise ValueError("shipped haproxy.cfg has no %s line" % what)
    return out


def derive_haproxy_cfg(text, bind, servers, sock, log_target="stdout format raw local0"):
    """The shipped configuration `text` made runnable here, unprivileged:
    `bind` (host:port) for the public frontend, `servers` [(name, host:port)]
    replacing the example server lines (their options come from
    default-server, so nothing else changes), the runtime API on the UNIX
    socket `sock`, logs to `log_target`, and no chroot/user/group (they need
    root). Every other line is kept as shipped."""
    lines = text.splitlines()
    lines = _replace(lines, lambda s: s.startswith("chroot "), lambda l: [], "chroot")
    lines = _replace(lines, lambda s: s.startswith("user "), lambda l: [], "user")
    lines = _replace(lines, lambda s: s.startswith("group "), lambda l: [], "group")
    lines = _replace(lines, lambda s: s.startswith("log /dev/log"),
                     lambda l: ["\tlog " + log_target], "log /dev/log")
    lines = _replace(lines, lambda s: s.startswith("stats socket "),
                     lambda l: ["\tstats socket %s mode 600 level admin" % sock], "stats socket")
    lines = _replace(lines, lambda s: s.startswith("bind "),
                     lambda l: ["\tbind " + bind], "bind", at_most=1)
    first = [True]

    def servers_once(line):
        if not first[0]:
            return []
        first[0] = False
        return ["\tserver %s %s" % s for s in servers]
    lines = _replace(lines, lambda s: s.startswith("server "), servers_once, "server")
    return "\n".join(lines) + "\n"



def derive_nginx_conf(text, listen, servers):
    """The shipped deploy/nginx/seq2seqd.conf (an http-block include) with
    `listen` (host:port) and the upstream's example server lines replaced by
    one per address in `servers`, each with the first example's options."""
    lines = text.splitlines()
    lines = _replace(lines, lambda s: s.startswith("listen "),
                     lambda l: ["\tlisten %s;" % listen], "listen", at_most=1)
    first = [True]

    def servers_once(line):
        if not first[0]:
            return []
        first[0] = False
        opts = line.strip().rstrip(";").split()[2:]
        return ["\tserver %s;" % " ".join([a] + opts) for a in servers]
    lines = _replace(lines, lambda s: s.startswith("server ") and not s.endswith("{"),
                     servers_once, "upstream server")
    return "\n".join(lines) + "\n"


class Instance:
    """One daemon: name (HAProxy's server name), port, dir, proc, url."""

    def __init__(self, name, port, dir):
        self.name, self.port, self.dir = name, port, dir
        self.proc = None
        self.url = "http://127.0.0.1:%d" % port
        self.log_path = dir + ".log"
        self.model_dir = os.path.join(dir, "models")


class Cluster:
    ADMIN_KEY = "deploy-test-admin-key"

    def __init__(self, build, src, n=3, models=("dates",), daemon_args=(), start=True):
        """Starts n daemons (unless start is False) from BUILD/seq2seqd with
        copies of SRC/models/<m>.safetensors for m in models and the extra
        command-line `daemon_args`. Raises (after cleaning up) when one does
        not get ready."""
        self.build, self.src = build, src
        self.daemon_args = list(daemon_args)
        self.tmp = tempfile.mkdtemp(prefix="s2s-cluster-")
        self.instances = []
        self.haproxy = None
        self.nginx = None
        self.url = None
        self.sock = os.path.join(self.tmp, "haproxy.sock")
        self.haproxy_log = os.path.join(self.tmp, "haproxy.log")
        try:
            for i in range(n):
                inst = Instance("s%d" % (i + 1), free_port(), os.path.join(self.tmp, "s%d" % (i + 1)))
                os.makedirs(inst.model_dir)
                for m in models:
                    shutil.copy(os.path.join(src, "models", m + ".safetensors"), inst.model_dir)
                self.instances.append(inst)
            if start:
                for i in range(n):
                    self.start(i)
        except BaseException:
            self.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- daemons ----

    def start(self, i, timeout=60):
        """Starts instance i on its port; returns once /readyz answers 200."""
        inst = self.instances[i]
        args = [os.path.join(self.build, "seq2seqd"), "--config=/dev/null",
                "--data_dir=" + inst.dir, "--bind=127.0.0.1", "--port=%d" % inst.port,
                "--admin_key=" + self.ADMIN_KEY, "--max_connections_per_ip=0",
                "--drain_timeout_s=10"] + self.daemon_args
        log = open(inst.log_path, "ab")
        try:
            inst.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        finally:
            log.close()
        wait_ready(inst.proc, inst.url, timeout, inst.name, "log " + inst.log_path, "not ready")

    def stop(self, i, sig=signal.SIGTERM, timeout=30):
        """Sends sig to instance i and waits for it to exit; returns its exit
        status."""
        inst = self.instances[i]
        if inst.proc is None or inst.proc.poll() is not None:
            return inst.proc.returncode if inst.proc else None
        inst.proc.send_signal(sig)
        return inst.proc.wait(timeout=timeout)

    def reload(self, i, model):
        """POST /v1/models/<model>/reload to instance i directly, with the
        admin key; returns (status, body)."""
        return http("POST", "%s/v1/models/%s/reload" % (self.instances[i].url, model),
                    headers={"X-API-Key": self.ADMIN_KEY}, timeout=30)

    # ---- HAProxy ----

    def start_haproxy(self, cfg_path=None, timeout=20):
        """Runs HAProxy in the foreground (-db) on the shipped configuration
        (SRC/deploy/haproxy/haproxy.cfg unless cfg_path) derived for these
        instances; returns once every server is UP."""
        exe = find_tool("haproxy")
        if not exe:
            raise RuntimeError("haproxy not found (apt-get install haproxy)")
        cfg_path = cfg_path or os.path.join(self.src, "deploy", "haproxy", "haproxy.cfg")
        with open(cfg_path) as f:
            shipped = f.read()
        port = free_port()
        cfg = derive_haproxy_cfg(shipped, "127.0.0.1:%d" % port,
                                 [(s.name, "127.0.0.1:%d" % s.port) for s in self.instances], self.sock)
        self.haproxy_cfg = os.path.join(self.tmp, "haproxy.cfg")
        with open(self.haproxy_cfg, "w") as f:
            f.write(cfg)
        check = subprocess.run([exe, "-c", "-q", "-f", self.haproxy_cfg],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if check.returncode != 0:
            raise RuntimeError("haproxy -c: %s" % check.stdout.decode(errors="replace"))
        log = open(self.haproxy_log, "ab")
        try:
            self.haproxy = subprocess.Popen([exe, "-db", "-f", self.haproxy_cfg],
                                            stdout=log, stderr=subprocess.STDOUT)
        finally:
            log.close()
        self.url = "http://127.0.0.1:%d" % port
        for s in self.instances:
            self.wait_status(s.name, "UP", timeout)

    def admin(self, command, timeout=5):
        """One runtime API command on the stats socket; returns its output."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(self.sock)
            s.sendall(command.encode() + b"\n")
            chunks = []
            while True:
                b = s.recv(65536)
                if not b:
                    break
                chunks.append(b)
        finally:
            s.close()
        return b"".join(chunks).decode(errors="replace")

    def stats(self, backend="seq2seqd"):
        """`show stat` for backend as {svname: {column: value}} (the backend's
        own row is "BACKEND"); numbers are ints where they parse."""
        out = self.admin("show stat")
        lines = [l for l in out.splitlines() if l.strip()]
        cols = lines[0].lstrip("# ").split(",")
        rows = {}
        for l in lines[1:]:
            row = dict(zip(cols, l.split(",")))
            if row.get("pxname") != backend:
                continue
            for k, v in row.items():
                if v.isdigit():
                    row[k] = int(v)
            rows[row["svname"]] = row
        return rows

    def status(self, server, backend="seq2seqd"):
        """HAProxy's status of a server: UP, DOWN, DRAIN, MAINT, or
        transitions such as "UP 1/2"."""
        return self.stats(backend)[server]["status"]

    def wait_status(self, server, want, timeout=20):
        """Waits until the server's status is exactly `want`; raises after
        timeout with the last status seen."""
        end = time.monotonic() + timeout
        st = None
        while time.monotonic() < end:
            if self.haproxy.poll() is not None:
                raise RuntimeError("haproxy exited with %s" % self.haproxy.returncode)
            try:
                st = self.status(server)
            except OSError:  # the socket is not there yet just after start
                st = None
            if st == want:
                return
            time.sleep(0.05)
        raise RuntimeError("%s is %r, not %r after %d s" % (server, st, want, timeout))

    # ---- nginx ----

    def start_nginx(self, conf_path=None, timeout=20):
        """Runs nginx in the foreground (daemon off) with everything under
        WORK/nginx, on the shipped deploy/nginx/seq2seqd.conf (unless
        conf_path) derived for these instances; returns once a request
        through it is answered. Sets self.url; the access log
        (self.nginx_log) has status|time|upstream addresses|upstream statuses,
        the last two listing every try (", " between tries)."""
        exe = find_tool("nginx")
        if not exe:
            raise RuntimeError("nginx not found (apt-get install nginx-light)")
        conf_path = conf_path or os.path.join(self.src, "deploy", "nginx", "seq2seqd.conf")
        with open(conf_path) as f:
            shipped = f.read()
        d = os.path.join(self.tmp, "nginx")
        os.makedirs(d)
        # nginx's workers drop root for nobody, who must reach the temp paths.
        os.chmod(self.tmp, 0o755)
        os.chmod(d, 0o755)
        port = free_port()
        with open(os.path.join(d, "seq2seqd.conf"), "w") as f:
            f.write(derive_nginx_conf(shipped, "127.0.0.1:%d" % port,
                                      ["127.0.0.1:%d" % s.port for s in self.instances]))
        self.nginx_log = os.path.join(d, "access.log")
        temps = "".join("\t%s_temp_path %s/%s;\n" % (k, d, k) for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        main = ("daemon off;\nworker_processes 1;\npid %s/nginx.pid;\nerror_log %s/error.log notice;\n"
                "events { worker_connections 1024; }\nhttp {\n"
                "\tlog_format tries '$status|$request_time|$upstream_addr|$upstream_status';\n"
                "\taccess_log %s tries;\n%s\tinclude %s/seq2seqd.conf;\n}\n"
                % (d, d, self.nginx_log, temps, d))
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write(main)
        args = [exe, "-p", d, "-e", os.path.join(d, "error.log"), "-c", conf]
        check = subprocess.run(args + ["-t", "-q"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if check.returncode != 0:
            raise RuntimeError("nginx -t: %s" % check.stdout.decode(errors="replace"))
        log = open(os.path.join(d, "stderr.log"), "ab")
        try:
            self.nginx = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        finally:
            log.close()
        self.url = "http://127.0.0.1:%d" % port
        wait_ready(self.nginx, self.url, timeout, "nginx", d, "not answering")

    # ---- teardown ----

    def close(self):
        """Stops HAProxy, nginx and every daemon (SIGTERM, then SIGKILL after 10 s)
        and removes the temporary directory."""
        procs = [self.haproxy, self.nginx] + [s.proc for s in self.instances]
        for p in procs:
            if p is not None and p.poll() is None:
                p.terminate()
        for p in procs:
            if p is None:
                continue
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if os.environ.get("S2S_KEEP_TMP"):
            print("# kept %s" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


class Load:
    """Steady load: `threads` client threads, each posting translate requests
    one after another on fresh connections (no keep-alive, so each request
    is balanced on its own) until stop(). Every request is recorded as
    (start, end, outcome) in monotonic seconds, outcome "ok" for a 200 whose
    first hypothesis is `expect[sentence]` when given, else a short reason.

        load = Load(c.url, "dates", ["3/7/98"], expect={"3/7/98": "1998-03-07"})
        load.start(); ...; t0 = time.monotonic(); ...; load.stop()
        print(load.summary(t0, time.monotonic()))
    """

    def __init__(self, url, model, sentences, expect=None, threads=6, timeout=30):
        import threading
        self.url, self.model, self.sentences = url, model, list(sentences)
        self.expect = expect or {}
        self.n_threads, self.timeout = threads, timeout
        self.records = []  # list.append is atomic in CPython: no lock needed
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(k,), daemon=True) for k in range(threads)]

    def start(self):
        for t in self._threads:
            t.start()

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(self.timeout + 5)

    def _one(self, sentence):
        import http.client
        host = self.url.split("//", 1)[1]
        conn = http.client.HTTPConnection(host, timeout=self.timeout)
        try:
            body = json.dumps({"model": self.model, "sentences": [sentence]})
            conn.request("POST", "/v1/translate", body,
                         {"Content-Type": "application/json", "Connection": "close"})
            r = conn.getresponse()
            raw = r.read()
            if r.status != 200:
                try:
                    code = json.loads(raw)["error"]["code"]
                except (ValueError, KeyError, TypeError):
                    code = raw[:40].decode(errors="replace").strip()
                return "http %d %s" % (r.status, code)
            text = json.loads(raw)["results"][0]["hypotheses"][0]["text"]
            want = self.expect.get(sentence)
            return "ok" if want is None or text == want else "wrong answer %r" % text
        except (OSError, ValueError, KeyError, IndexError, http.client.HTTPException) as e:
            return "%s: %s" % (type(e).__name__, e)
        finally:
            conn.close()

    def _run(self, k):
        i = k
        while not self._stop.is_set():
            sentence = self.sentences[i % len(self.sentences)]
            i += 1
            t0 = time.monotonic()
            outcome = self._one(sentence)
            self.records.append((t0, time.monotonic(), outcome))

    def summary(self, t0, t1):
        """Requests started in [t0, t1]: dict n, failed, p50_ms, p99_ms,
        errors ({outcome: count} for the failures)."""
        rec = [r for r in list(self.records) if t0 <= r[0] <= t1]
        lat = sorted((r[1] - r[0]) * 1000 for r in rec)
        errors = {}
        for r in rec:
            if r[2] != "ok":
                errors[r[2]] = errors.get(r[2], 0) + 1

        def pct(q):
            return lat[min(len(lat) - 1, int(q * len(lat)))] if lat else float("nan")
        return {"n": len(rec), "failed": sum(errors.values()), "p50_ms": pct(0.50),
                "p99_ms": pct(0.99), "max_ms": lat[-1] if lat else float("nan"), "errors": errors}


def retried_in_log(path, start_offset=0):
    """(requests logged, requests HAProxy retried, of which redispatched)
    from the httplog lines of `path` after byte start_offset: the fifth
    field of `actconn/feconn/beconn/srv_conn/retries` is the retry count,
    written +N when the request was redispatched to another server."""
    n = retried = redispatched = 0
    with open(path, "rb") as f:
        f.seek(start_offset)
        for line in f.read().decode(errors="replace").splitlines():
            # client [date] frontend backend/server timers status bytes
            # cookie cookie termination-state conns queues "request"
            parts = line.split()
            f5 = parts[10].split("/") if len(parts) > 10 else []
            if len(f5) != 5 or not all(x.lstrip("+").isdigit() for x in f5):
                continue
            n += 1
            if f5[4] != "0":
                retried += 1
                redispatched += f5[4].startswith("+")
    return n, retried, redispatched


# ---- what test_haproxy.py and test_nginx.py share ----

def figure(name, s, extra=""):
    """Prints a Load.summary() as TAP comments (never asserted)."""
    print("# %s: %d requests, %d failed, p50 %.0f ms, p99 %.0f ms, max %.0f ms%s"
          % (name, s["n"], s["failed"], s["p50_ms"], s["p99_ms"], s["max_ms"], extra))
    for outcome, count in sorted(s["errors"].items()):
        print("#   %d x %s" % (count, outcome))
    sys.stdout.flush()


def expected_translations(c, model):
    """{example: first hypothesis} for the model's shipped examples, each
    translated through the proxy in front of the cluster (all must be 200)."""
    with open(os.path.join(c.src, "models", model + ".examples")) as f:
        examples = [l.strip() for l in f if l.strip()]
    expect = {}
    for e in examples:
        status, body = http("POST", c.url + "/v1/translate", {"model": model, "sentences": [e]})
        assert status == 200, (status, body)
        expect[e] = body["results"][0]["hypotheses"][0]["text"]
    return expect


def steady_load(state, model, threads, name):
    """Starts Load on the cluster's url with state["expect"] into
    state["load"]; checks 2 s of it: at least 10 requests, none failed."""
    c = state["c"]
    load = Load(c.url, model, list(state["expect"]), expect=state["expect"], threads=threads)
    state["load"] = load
    load.start()
    t0 = time.monotonic()
    time.sleep(2)
    s = load.summary(t0, time.monotonic())
    figure("%s (%d client threads)" % (name, threads), s)
    assert s["n"] >= 10, "only %d requests in 2 s" % s["n"]
    assert s["failed"] == 0, s["errors"]


def run_tests(tool, hint, tests, state):
    """A deploy test's main(): skips (fails where CI=true) without `tool`,
    runs `tests` (a tap.collector list) as TAP, then stops state's load and
    cluster. Returns the exit status."""
    from tap import Tap
    if not find_tool(tool):
        msg = "%s not found (%s)" % (tool, hint)
        if os.environ.get("CI") == "true":
            print("1..1\nnot ok 1 - %s" % msg)
            return 1
        print("1..0 # SKIP " + msg)
        return 0
    tap = Tap()
    print("1..%d" % len(tests))
    t_start = time.monotonic()
    try:
        for name, fn in tests:
            tap.run(name, fn)  # without a cluster (test 1 failed) each fails on state["c"]
    finally:
        if "load" in state:
            state["load"].stop()
        if "c" in state:
            state["c"].close()
    print("# wall time %.1f s" % (time.monotonic() - t_start))
    return 1 if tap.failed else 0
