#!/usr/bin/env python3
"""test_nginx.py - the shipped deploy/nginx/seq2seqd.conf in front of three
seq2seqd instances on loopback, under steady load, through a rolling restart
(SIGTERM, wait for the exit, start again, wait until nginx sends it traffic
again; one instance at a time). Client-visible failures must be 0; latency
figures are printed, never asserted. Needs nginx (Debian's nginx-light):
skipped where it is missing, a failure where CI=true.
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
DAEMON_ARGS = ["--debug_step_delay_ms=2", "--access_log=false"]  # as in test_haproxy.py
THREADS = 6

tests, t = collector()
state = {}


def tries_in_log(offset):
    """(requests logged, requests nginx sent to more than one instance) after
    byte offset of the access log ($upstream_status lists every try)."""
    n = retried = 0
    with open(state["c"].nginx_log) as f:
        f.seek(offset)
        for line in f:
            n += 1
            parts = line.rstrip("\n").split("|")
            retried += len(parts) == 4 and "," in parts[3]
    return n, retried


def wait_served(addr, offset, timeout=20):
    """Waits until the access log, after offset, shows a 200 from addr."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with open(state["c"].nginx_log) as f:
            f.seek(offset)
            for line in f:
                parts = line.rstrip("\n").split("|")
                if len(parts) == 4 and parts[0] == "200" and parts[2].split(",")[-1].strip() == addr:
                    return
        time.sleep(0.1)
    raise RuntimeError("nginx sent no request to %s within %d s of its restart" % (addr, timeout))


@t("three daemons and nginx on the shipped seq2seqd.conf answer; reload and /metrics refused")
def _():
    c = cluster.Cluster(BUILD, SRC, n=3, models=(MODEL,), daemon_args=DAEMON_ARGS)
    state["c"] = c
    c.start_nginx()
    state["expect"] = cluster.expected_translations(c, MODEL)
    for path in ("/v1/models/%s/reload" % MODEL, "//v1/models/%s/%%72eload" % MODEL, "/metrics"):
        status, body = cluster.http("POST" if "reload" in path else "GET", c.url + path,
                                    headers={"X-API-Key": c.ADMIN_KEY})
        assert status == 403, "%s through nginx: %s %s" % (path, status, body)


@t("steady load through nginx: no failures")
def _():
    cluster.steady_load(state, MODEL, THREADS, "nginx steady load")


@t("rolling restart behind nginx (SIGTERM, exit, start, served again; one at a time): 0 client failures")
def _():
    c, load = state["c"], state["load"]
    off = os.path.getsize(c.nginx_log)
    t0 = time.monotonic()
    for i, inst in enumerate(c.instances):
        rc = c.stop(i, signal.SIGTERM)
        assert rc == 0, "%s exited with %s after SIGTERM" % (inst.name, rc)
        mark = os.path.getsize(c.nginx_log)
        c.start(i)
        # nginx has no health checks: the instance is back once fail_timeout
        # has passed and a request probed it successfully.
        wait_served("127.0.0.1:%d" % inst.port, mark)
    time.sleep(0.3)
    s = load.summary(t0, time.monotonic())
    n, retried = tries_in_log(off)
    cluster.figure("nginx rolling restart", s, ", nginx retried %d of %d logged" % (retried, n))
    assert s["n"] >= 10, "only %d requests during the restart" % s["n"]
    assert s["failed"] == 0, s["errors"]


def main():
    return cluster.run_tests("nginx", "apt-get install nginx-light", tests, state)


if __name__ == "__main__":
    sys.exit(main())
