#!/usr/bin/env python3
"""test_haproxy.py - the shipped deploy/haproxy/haproxy.cfg in front of three
seq2seqd instances on loopback, under steady load, through the events of a
deployment: a rolling restart (SIGTERM, start again), a rolling model reload,
an admin drain on the runtime API and a kill -9 of one instance.

Client-visible failures must be 0 for the restart, the reload and the drain;
for kill -9 at most the requests the killed instance held. Latency figures
are printed as TAP comments and never asserted (the machine is shared).
Needs haproxy (Debian package `haproxy`): skipped where it is missing, a
failure where CI=true.
"""

import os
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import cluster  # noqa: E402
from tap import collector  # noqa: E402

SRC = os.environ.get("S2S_SRCDIR", os.path.join(HERE, "..", ".."))
BUILD = os.environ.get("S2S_BUILDDIR", os.path.join(SRC, "build"))
MODEL = "dates"
# Each decoder step sleeps 2 ms (a test-only setting), so a request of this
# char-level model lasts ~25-40 ms and each instance holds one or two of
# them at any moment: the events below meet requests in flight.
DAEMON_ARGS = ["--debug_step_delay_ms=2", "--access_log=false"]
THREADS = 6

tests, t = collector()
state = {}


def log_offset():
    return os.path.getsize(state["c"].haproxy_log)


def retry_note(offset):
    n, retried, redisp = cluster.retried_in_log(state["c"].haproxy_log, offset)
    return ", HAProxy retried %d of %d logged (%d redispatched)" % (retried, n, redisp)


def event(name, fn, max_failed=0):
    """Runs fn() under the load; prints and checks the figures of the
    requests started between its start and 0.3 s after its end."""
    load = state["load"]
    off = log_offset()
    t0 = time.monotonic()
    held = fn()
    time.sleep(0.3)
    s = load.summary(t0, time.monotonic())
    cluster.figure(name, s, retry_note(off))
    if s["n"] < 10:
        raise AssertionError("only %d requests during %s: the load did not run" % (s["n"], name))
    limit = max_failed if held is None else held
    if s["failed"] > limit:
        raise AssertionError("%d client-visible failures during %s (at most %d allowed): %s"
                             % (s["failed"], name, limit, s["errors"]))
    return s


@t("three daemons and HAProxy on the shipped haproxy.cfg come up, every server UP")
def _():
    c = cluster.Cluster(BUILD, SRC, n=3, models=(MODEL,), daemon_args=DAEMON_ARGS)
    state["c"] = c
    c.start_haproxy()
    st = c.stats()
    for s in c.instances:
        assert st[s.name]["status"] == "UP", st[s.name]["status"]
        assert st[s.name]["slim"] == 16, "maxconn %r, the shipped file says 16" % st[s.name]["slim"]


@t("through HAProxy: translate answers, reload and /metrics are refused, admin key dropped")
def _():
    c = state["c"]
    state["expect"] = cluster.expected_translations(c, MODEL)
    for path in ("/v1/models/%s/reload" % MODEL, "//v1/models/%s/%%72eload" % MODEL):
        status, body = cluster.http("POST", c.url + path, headers={"X-API-Key": c.ADMIN_KEY})
        assert status == 403, "%s through HAProxy: %s %s" % (path, status, body)
    status, _ = cluster.http("GET", c.url + "/metrics")
    assert status == 403, "/metrics through HAProxy: %s" % status
    # the same reload sent to an instance directly works
    status, body = c.reload(0, MODEL)
    assert status == 200 and body.get("reloaded") is True, (status, body)


@t("steady load through HAProxy: no failures")
def _():
    cluster.steady_load(state, MODEL, THREADS, "steady load")


@t("rolling restart (SIGTERM, wait for exit, start, wait UP; one at a time): 0 client failures")
def _():
    c = state["c"]

    def roll():
        for i, inst in enumerate(c.instances):
            old = inst.proc.pid
            rc = c.stop(i, signal.SIGTERM)
            assert rc == 0, "%s exited with %s after SIGTERM" % (inst.name, rc)
            c.start(i)
            assert inst.proc.pid != old
            c.wait_status(inst.name, "UP", 30)
    event("rolling restart", roll)


@t("rolling model reload (new checkpoint file, POST reload to each instance): 0 client failures")
def _():
    c = state["c"]
    src = os.path.join(SRC, "models", MODEL + ".safetensors")

    def roll():
        for i, inst in enumerate(c.instances):
            cluster.restamp_checkpoint(src, os.path.join(inst.model_dir, MODEL + ".safetensors"), "rollout-2")
            status, body = c.reload(i, MODEL)
            assert status == 200 and body.get("reloaded") is True, (inst.name, status, body)
            assert body["sha256"] != body["previous_sha256"], "%s: the new file has the old sha256" % inst.name
            time.sleep(0.5)  # let traffic reach the reloaded model before the next
    event("rolling reload", roll)


@t("admin drain on the runtime API (set server state drain, then ready): no new requests, 0 failures")
def _():
    c = state["c"]
    name = c.instances[0].name

    def drain():
        out = c.admin("set server seq2seqd/%s state drain" % name)
        assert out.strip() == "", "runtime API: %r" % out
        c.wait_status(name, "DRAIN", 5)
        end = time.monotonic() + 10
        while c.stats()[name]["scur"] and time.monotonic() < end:
            time.sleep(0.05)
        before = c.stats()[name]["stot"]
        time.sleep(1.0)
        after = c.stats()[name]["stot"]
        assert after == before, "%s got %d new requests while draining" % (name, after - before)
        c.admin("set server seq2seqd/%s state ready" % name)
        c.wait_status(name, "UP", 5)
    event("admin drain", drain)


@t("kill -9 of one instance under load: failures at most the requests it held")
def _():
    c = state["c"]
    i = 1
    name = c.instances[i].name
    held = {}

    def kill():
        held["n"] = c.stats()[name]["scur"]
        c.stop(i, signal.SIGKILL)
        c.wait_status(name, "DOWN", 15)
        c.start(i)
        c.wait_status(name, "UP", 30)
        return held["n"]
    s = event("kill -9", kill)
    print("# kill -9: the instance held %d request(s) when killed; %d reached a client as a failure"
          % (held["n"], s["failed"]))


@t("every instance served traffic; HAProxy and the daemons still run")
def _():
    c = state["c"]
    st = c.stats()
    for s in c.instances:
        assert st[s.name]["lbtot"] > 0, "%s was never chosen" % s.name
        assert s.proc.poll() is None, "%s exited" % s.name
    assert c.haproxy.poll() is None, "haproxy exited"
    b = st["BACKEND"]
    print("# backend totals: %d requests, %d retries, %d redispatches, %d connection errors, "
          "%d response errors" % (b["stot"], b["wretr"], b["wredis"], b["econ"], b["eresp"]))


def main():
    return cluster.run_tests("haproxy", "apt-get install haproxy", tests, state)


if __name__ == "__main__":
    sys.exit(main())
