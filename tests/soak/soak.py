#!/usr/bin/env python3
"""Soak test of seq2seqd (`make soak`): the real daemon under mixed load for
SOAK_SECONDS (default 300), Python 3 standard library only.

Load, all at once, from threads:
  * translate requests of mixed size on both routes (/v1/translate with one
    or up to 16 sentences, greedy and beam; /translator/translate);
  * requests whose deadline expires (deadline_ms 1-3 on long inputs: 504, or
    200 when they finish first);
  * clients that disconnect mid-request (after sending the whole request, or
    half of its body);
  * a hot reload every second, alternating POST /v1/models/NAME/reload with
    the admin key and SIGHUP;
  * GET /metrics and /healthz.

After the warm-up (the first SOAK_WARMUP percent of the time, default 20) the
load pauses for a moment and the idle daemon's RSS (VmRSS) and open fds are
the baseline; RSS and fds are also sampled every second under load. At the
end the load stops and the idle daemon is measured again. It FAILS when
  * idle RSS at the end exceeds the baseline by more than
    max(SOAK_RSS_PCT percent (default 10), SOAK_RSS_MB MiB (default 8)),
  * idle fds at the end exceed the baseline by more than SOAK_FDS (default 3),
  * any answer was a 5xx other than 503 (queue full) and 504 (deadline), any
    answer had a status its request cannot legitimately get, or a client that
    meant to finish got no answer (connection error or timeout),
  * the daemon died, or did not exit 0 on SIGTERM at the end, or wrote a
    sanitizer report.

`soak.py --reloads N` instead starts the daemon, reloads every model N times
(default 100, one model at a time, POST with the admin key) and prints RSS
after every 10; it fails only if a reload fails or the daemon dies. By
default it serves the built-in models (models/*.safetensors), whose size
makes the effect visible; --fixtures serves the small fixture models, and
--load keeps two clients translating (both routes, mixed sizes) meanwhile.

Environment: S2S_BUILDDIR (seq2seqd is there; default: current directory),
S2S_SRCDIR (default: two levels up from here), SOAK_SECONDS, SOAK_WARMUP,
SOAK_RSS_PCT, SOAK_RSS_MB, SOAK_FDS, SOAK_CLIENTS (translate threads,
default 6). Prints TAP when --tap is given (the short variant in make check).
"""
import collections
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("S2S_SRCDIR") or os.path.abspath(os.path.join(HERE, "../.."))
BUILDDIR = os.environ.get("S2S_BUILDDIR") or os.getcwd()
sys.path.insert(0, os.path.join(SRCDIR, "tests", "daemon"))
from test_daemon import sanitizer_report  # noqa: E402  (same checks as the daemon tests)

BINARY = os.path.join(BUILDDIR, "seq2seqd")
FIXTURES = os.path.join(SRCDIR, "tests", "fixtures")
ADMIN_KEY = "soak-admin-key-0123456789"
FIXTURE_MODELS = {"a": "lstm_additive_luong_feed_bi", "b": "gru_dot_bahdanau_reverse_bpe"}
IDLE_TIMEOUT_S = 5        # the daemon's --idle_timeout_s here (default 30)
WORDS = ("the cat sat on a mat and every dog ran far away from home while we "
         "were reading long books about old trains").split()


def env_num(name, default):
    v = os.environ.get(name)
    return type(default)(v) if v else default


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def proc_stats(pid):
    """(RSS in KiB, open fds) of a live process."""
    rss = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return rss, len(os.listdir("/proc/%d/fd" % pid))


class Soak:
    def __init__(self, models, extra_args=()):
        self.port = free_port()
        self.tmp = tempfile.mkdtemp(prefix="s2s-soak-")
        self.models = models
        cmd = [BINARY, "--port", str(self.port), "--bind", "127.0.0.1", "--config", "/dev/null",
               "--admin_key", ADMIN_KEY]
        for name, path in models.items():
            cmd += ["--model", "%s=%s" % (name, path)]
        cmd += list(extra_args)
        env = dict(os.environ)
        for k in list(env):
            if k.startswith("SEQ2SEQD_") or k in ("NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "WATCHDOG_USEC"):
                del env[k]
        self.logpath = os.path.join(self.tmp, "seq2seqd.log")
        self.log = open(self.logpath, "w")
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=self.log)
        end = time.time() + 30
        while time.time() < end:
            if self.proc.poll() is not None:
                raise SystemExit("seq2seqd exited with %s:\n%s" % (self.proc.returncode, self.logtext()))
            try:
                if self.request("GET", "/readyz", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        else:
            raise SystemExit("seq2seqd did not become ready:\n" + self.logtext())
        with open("/proc/%d/maps" % self.proc.pid) as f:
            self.sanitized = "libasan" in f.read()
        self.lock = threading.Lock()
        self.counts = collections.Counter()      # (kind, status) -> n
        self.problems = []                       # unexpected outcomes, capped
        self.nproblems = 0
        self.stop_load = threading.Event()
        self.paused = threading.Event()          # set = load paused
        self.inflight = 0

    def logtext(self):
        self.log.flush()
        with open(self.logpath, errors="replace") as f:
            return f.read()

    def request(self, method, path, body=None, headers=None, timeout=60):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            h = dict(headers or {})
            if body is not None and not isinstance(body, (bytes, str)):
                body = json.dumps(body)
                h.setdefault("Content-Type", "application/json")
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def record(self, kind, status, allowed, detail=""):
        with self.lock:
            self.counts[(kind, status)] += 1
            if status not in allowed:
                self.nproblems += 1
                if len(self.problems) < 20:
                    self.problems.append("%s: %s %s" % (kind, status, str(detail)[:300]))

    def call(self, kind, allowed, method, path, body=None, headers=None):
        with self.lock:
            self.inflight += 1
        try:
            st, data = self.request(method, path, body, headers)
            self.record(kind, st, allowed, data if st not in allowed else "")
        except (OSError, http.client.HTTPException) as e:
            self.record(kind, "error", allowed, repr(e))
        finally:
            with self.lock:
                self.inflight -= 1

    def wait_unpaused(self):
        while self.paused.is_set() and not self.stop_load.is_set():
            time.sleep(0.02)

    # --- load generators -------------------------------------------------
    def sentence(self, rng, lo=1, hi=12):
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))

    def translate_loop(self, seed):
        rng = random.Random(seed)
        names = list(self.models)
        while not self.stop_load.is_set():
            self.wait_unpaused()
            r = rng.random()
            model = rng.choice(names)
            if r < 0.45:
                body = {"model": model, "text": self.sentence(rng),
                        "options": {"beam_size": rng.choice((1, 1, 2, 4)), "attention": rng.random() < 0.5}}
                self.call("translate-one", (200, 503), "POST", "/v1/translate", body)
            elif r < 0.65:
                body = {"model": model, "sentences": [self.sentence(rng, 1, 30) for _ in range(rng.randint(2, 16))],
                        "options": {"beam_size": rng.choice((1, 3)), "n_best": 1}}
                self.call("translate-many", (200, 503), "POST", "/v1/translate", body)
            elif r < 0.80:
                idx = names.index(model)
                body = [{"src": self.sentence(rng), "id": idx} for _ in range(rng.randint(1, 4))]
                self.call("opennmt", (200, 503), "POST", "/translator/translate", body)
            else:
                body = {"model": model, "sentences": [self.sentence(rng, 20, 40) for _ in range(8)],
                        "options": {"beam_size": 4, "deadline_ms": rng.randint(1, 3),
                                    "partial": rng.random() < 0.3}}
                self.call("deadline", (200, 503, 504), "POST", "/v1/translate", body)

    def disconnect_loop(self, seed):
        rng = random.Random(seed)
        names = list(self.models)
        while not self.stop_load.is_set():
            self.wait_unpaused()
            body = json.dumps({"model": rng.choice(names),
                               "sentences": [self.sentence(rng, 10, 40) for _ in range(8)],
                               "options": {"beam_size": 4}}).encode()
            head = ("POST /v1/translate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    "Content-Length: %d\r\n\r\n" % len(body)).encode()
            half = rng.random() < 0.3
            try:
                s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
                s.sendall(head + (body[:len(body) // 2] if half else body))
                time.sleep(rng.uniform(0.0, 0.05))
                s.close()
                with self.lock:
                    self.counts[("disconnect-half" if half else "disconnect", "closed")] += 1
            except OSError as e:
                self.record("disconnect", "error", (), repr(e))
            time.sleep(rng.uniform(0.01, 0.1))

    def reload_loop(self):
        names = list(self.models)
        i = 0
        while not self.stop_load.is_set():
            t0 = time.time()
            if not self.paused.is_set():
                if i % 2 == 0:
                    self.call("reload", (200, 409), "POST", "/v1/models/%s/reload" % names[(i // 2) % len(names)],
                              b"", {"Authorization": "Bearer " + ADMIN_KEY})
                else:
                    self.proc.send_signal(signal.SIGHUP)
                    with self.lock:
                        self.counts[("sighup", "sent")] += 1
                i += 1
            self.stop_load.wait(max(0.0, 1.0 - (time.time() - t0)))

    def monitor_loop(self):
        while not self.stop_load.is_set():
            self.wait_unpaused()
            self.call("metrics", (200,), "GET", "/metrics")
            self.call("healthz", (200,), "GET", "/healthz")
            self.stop_load.wait(0.25)

    def quiesce(self, timeout=60):
        """Waits until no request of ours is in flight, then for the idle
        timeout (IDLE_TIMEOUT_S) plus 2 s: a client that sent half a request
        and closed leaves a connection the daemon may keep until that
        timeout. Returns the idle daemon's (RSS KiB, fds)."""
        end = time.time() + timeout
        while time.time() < end and self.inflight:
            time.sleep(0.05)
        time.sleep(IDLE_TIMEOUT_S + 2)
        return proc_stats(self.proc.pid)


def run_soak(tap):
    seconds = env_num("SOAK_SECONDS", 300.0)
    warm = seconds * env_num("SOAK_WARMUP", 20.0) / 100.0
    rss_pct = env_num("SOAK_RSS_PCT", 10.0)
    rss_mb = env_num("SOAK_RSS_MB", 8.0)
    fd_slack = env_num("SOAK_FDS", 3)
    clients = env_num("SOAK_CLIENTS", 6)
    models = {k: os.path.join(FIXTURES, v + ".safetensors") for k, v in FIXTURE_MODELS.items()}
    s = Soak(models, ["--workers", "2", "--queue_length", "64", "--drain_timeout_s", "10",
                      "--idle_timeout_s", str(IDLE_TIMEOUT_S)])
    pid = s.proc.pid
    rss0, fd0 = proc_stats(pid)
    print("# soak: %.0f s (warm-up %.0f s), %d translate clients, seq2seqd pid %d on port %d, log %s"
          % (seconds, warm, clients, pid, s.port, s.logpath), flush=True)
    threads = [threading.Thread(target=s.translate_loop, args=(i,), daemon=True) for i in range(clients)]
    threads += [threading.Thread(target=s.disconnect_loop, args=(100 + i,), daemon=True) for i in range(2)]
    threads += [threading.Thread(target=s.reload_loop, daemon=True), threading.Thread(target=s.monitor_loop, daemon=True)]
    for t in threads:
        t.start()
    t_start = time.time()
    samples = []      # (t, rss KiB, fds) under load, after warm-up
    base = None
    died = None
    while True:
        now = time.time() - t_start
        if s.proc.poll() is not None:
            died = s.proc.returncode
            break
        if base is None and now >= warm:
            s.paused.set()
            base = s.quiesce()
            s.paused.clear()
            print("# after warm-up (%.0f s, idle): RSS %.1f MiB, %d fds" % (now, base[0] / 1024, base[1]), flush=True)
        if now >= seconds:
            break
        if base is not None:
            try:
                rss, fds = proc_stats(pid)
                samples.append((now, rss, fds))
            except OSError:
                pass
        time.sleep(1.0)
    s.stop_load.set()
    for t in threads:
        t.join(70)
    end = None
    if died is None and s.proc.poll() is None:
        end = s.quiesce()
    rc = None
    if s.proc.poll() is None:
        s.proc.send_signal(signal.SIGTERM)
        try:
            rc = s.proc.wait(60)
        except subprocess.TimeoutExpired:
            s.proc.kill()
            s.proc.wait()
    else:
        rc = s.proc.returncode
    report = sanitizer_report(s.logtext(), pid)

    # --- summary and verdict ---------------------------------------------
    print("# requests by kind and status:")
    kinds = sorted(set(k for k, _ in s.counts))
    total = 0
    for k in kinds:
        row = ", ".join("%s: %d" % (st, n) for (kk, st), n in sorted(s.counts.items(), key=lambda x: str(x[0][1])) if kk == k)
        total += sum(n for (kk, _), n in s.counts.items() if kk == k)
        print("#   %-16s %s" % (k, row))
    print("# %d requests/events in %.0f s" % (total, seconds))
    print("# RSS/fds: start (idle) %.1f MiB / %d" % (rss0 / 1024, fd0))
    if base:
        print("# RSS/fds: after warm-up (idle) %.1f MiB / %d" % (base[0] / 1024, base[1]))
    if samples:
        print("# RSS under load after warm-up: min %.1f, max %.1f MiB; fds min %d, max %d"
              % (min(x[1] for x in samples) / 1024, max(x[1] for x in samples) / 1024,
                 min(x[2] for x in samples), max(x[2] for x in samples)))
    if end:
        print("# RSS/fds: end (idle) %.1f MiB / %d" % (end[0] / 1024, end[1]))

    checks = []
    checks.append((died is None, "seq2seqd stayed up for %.0f s" % seconds,
                   "died with status %s:\n%s" % (died, s.logtext()[-3000:])))
    if base and end:
        bound = max(base[0] * rss_pct / 100.0, rss_mb * 1024)
        desc = "RSS grew at most max(%g %%, %g MiB) after warm-up" % (rss_pct, rss_mb)
        if s.sanitized:
            checks.append((None, desc, "ASan build: its quarantine and shadow memory make RSS meaningless"))
        else:
            checks.append((end[0] - base[0] <= bound, desc,
                           "%.1f -> %.1f MiB (+%.1f, bound %.1f)" % (base[0] / 1024, end[0] / 1024,
                                                                    (end[0] - base[0]) / 1024, bound / 1024)))
        checks.append((end[1] - base[1] <= fd_slack, "open fds grew at most %d after warm-up" % fd_slack,
                       "%d -> %d" % (base[1], end[1])))
    elif died is None:
        checks.append((False, "warm-up baseline and end measured", "run too short"))
    checks.append((s.nproblems == 0, "every answer had an expected status (no 5xx but 503/504, no lost request)",
                   "%d unexpected:\n%s" % (s.nproblems, "\n".join(s.problems))))
    checks.append((rc == 0, "seq2seqd exited 0 on SIGTERM", "exit status %s" % rc))
    checks.append((not report, "no sanitizer report", report))
    failed = 0
    if tap:
        print("1..%d" % len(checks))
    for i, (ok, desc, info) in enumerate(checks, 1):
        if ok is None:
            print("ok %d - %s # SKIP %s" % (i, desc, info))
            continue
        print("%s %d - %s" % ("ok" if ok else "not ok", i, desc))
        if not ok:
            failed += 1
            for line in str(info).splitlines():
                print("# " + line)
    if failed:
        print("# daemon log kept in " + s.logpath)
    else:
        shutil.rmtree(s.tmp, ignore_errors=True)
    print("soak: %s" % ("FAILED" if failed else "passed"), file=sys.stderr if tap else sys.stdout)
    return 1 if failed else 0


def run_reloads(n, fixtures, load):
    if fixtures:
        models = {k: os.path.join(FIXTURES, v + ".safetensors") for k, v in FIXTURE_MODELS.items()}
    else:
        models = {m[:-len(".safetensors")]: os.path.join(SRCDIR, "models", m)
                  for m in sorted(os.listdir(os.path.join(SRCDIR, "models"))) if m.endswith(".safetensors")}
    s = Soak(models, ["--workers", "2"])
    pid = s.proc.pid
    print("models: " + ", ".join("%s (%.1f MB file)" % (k, os.path.getsize(v) / 1e6) for k, v in models.items()))
    rss, fds = proc_stats(pid)
    print("reloads   0: RSS %6.1f MiB, %d fds%s" % (rss / 1024, fds, " (then under load)" if load else ""), flush=True)
    threads = []
    if load:
        threads = [threading.Thread(target=s.translate_loop, args=(i,), daemon=True) for i in range(2)]
        for t in threads:
            t.start()
    bad = 0
    for i in range(1, n + 1):
        for name in models:
            st, data = s.request("POST", "/v1/models/%s/reload" % name, b"",
                                 {"Authorization": "Bearer " + ADMIN_KEY}, timeout=120)
            if st != 200:
                bad += 1
                print("reload %d of %s: %d %s" % (i, name, st, data[:200]))
        if i % 10 == 0:
            rss, fds = proc_stats(pid)
            print("reloads %3d: RSS %6.1f MiB, %d fds" % (i, rss / 1024, fds), flush=True)
    s.stop_load.set()
    for t in threads:
        t.join(70)
    if load:
        rss, fds = proc_stats(pid)
        print("load stopped: RSS %6.1f MiB, %d fds; %d translate requests, %d unexpected"
              % (rss / 1024, fds, sum(s.counts.values()), s.nproblems))
        bad += s.nproblems
    s.proc.send_signal(signal.SIGTERM)
    rc = s.proc.wait(60)
    report = sanitizer_report(s.logtext(), pid)
    if report:
        print(report)
    print("each reload reloads every model; %d failed; exit status %s" % (bad, rc))
    return 0 if bad == 0 and rc == 0 and not report else 1


def main(argv):
    if "--reloads" in argv:
        i = argv.index("--reloads")
        n = int(argv[i + 1]) if i + 1 < len(argv) and argv[i + 1].isdigit() else 100
        return run_reloads(n, "--fixtures" in argv, "--load" in argv)
    return run_soak("--tap" in argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
