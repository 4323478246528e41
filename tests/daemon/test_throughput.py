#!/usr/bin/env python3
"""Black-box tests of the scheduling that issue 11 changed for throughput:
with step-level batching an idle worker starts at once (no admission window)
and each worker takes only its share of the rows when another worker can take
the rest, so concurrent requests decode on every core. Emits TAP. Python 3
stdlib only; reuses test_daemon.py's harness.

Timing checks compare against bounds far from what the daemon needs, with
--debug_step_delay_ms and a long --admission_window_ms making the difference
observable on a loaded 2-core machine.
"""
import json
import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_daemon import (BINARY, FIXTURE_DECODE, Daemon, _results, check, report,  # noqa: E402
                         test)

WINDOW_MS = 1000


def one_request(d, text="a"):
    t = time.monotonic()
    st, _, j = d.json("POST", "/v1/translate", {"model": "a", "text": text, "options": FIXTURE_DECODE},
                      timeout=30)
    check(st == 200 and j["results"][0]["hypotheses"], (st, str(j)[:300]))
    return time.monotonic() - t


@test("step batching: a lone request does not wait for the admission window; request batching does")
def t_no_window_when_step():
    step = Daemon("--batching=step", "--admission_window_ms=%d" % WINDOW_MS)
    req = Daemon("--batching=request", "--admission_window_ms=%d" % WINDOW_MS)
    try:
        one_request(step)  # warm up (first-touch of the weights)
        s = min(one_request(step) for _ in range(3))
        r = one_request(req)
        check(s < 0.4 * WINDOW_MS / 1000, "step: %.3f s for one request (window %d ms)" % (s, WINDOW_MS))
        check(r >= 0.9 * WINDOW_MS / 1000, "request: %.3f s, expected the %d ms window" % (r, WINDOW_MS))
    finally:
        rc = (step.stop(), req.stop())
        check(rc == (0, 0), "exit status %s" % (rc,))


def concurrent(d, n, body):
    res = [None] * n

    def run(i):
        res[i] = d.json("POST", "/v1/translate", body, timeout=60)
    ths = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    return res


@test("step batching spreads concurrent requests over the workers: no batch above its share of the rows")
def t_spread_over_workers():
    # 2 workers of 8 rows and 8 one-sentence requests of 20 slow steps: the
    # first worker to reach the queue used to take all 8 (its admission
    # window collected them); now each holds at most (8 busy + queued) / 2.
    d = Daemon("--workers=2", "--max_rows=8", "--debug_step_delay_ms=20",
               "--admission_window_ms=%d" % WINDOW_MS)
    try:
        body = {"model": "a", "text": "the cat", "options": {"max_len_a": 0, "max_len_b": 20}}
        ref = d.json("POST", "/v1/translate", body, timeout=60)
        check(ref[0] == 200, ref)
        le4 = d.metric('seq2seqd_batch_rows_bucket{le="4"}')
        le8 = d.metric('seq2seqd_batch_rows_bucket{le="8"}')
        t = time.monotonic()
        res = concurrent(d, 8, body)
        took = time.monotonic() - t
        for st, _, j in res:
            check(st == 200, (st, str(j)[:300]))
            check(j["results"][0]["hypotheses"][0]["tokens"] == ref[2]["results"][0]["hypotheses"][0]["tokens"],
                  "a result depends on its batch")
        big = (d.metric('seq2seqd_batch_rows_bucket{le="8"}') - le8) - \
              (d.metric('seq2seqd_batch_rows_bucket{le="4"}') - le4)
        check(big == 0, "%d decoder steps ran more than 4 of the 8 rows" % big)
        check(took < WINDOW_MS / 1000, "took %.2f s: an idle worker waited for its window" % took)
    finally:
        check(d.stop() == 0, "exit status")


@test("a client that resets before its disconnect watch starts (100 ms) still cancels its sentences")
def t_early_reset_cancels():
    # The watch on a suspended request starts 100 ms after it was parked; a
    # reset sent earlier is still seen (the poll reports the error state).
    d = Daemon("--debug_step_delay_ms=5", "--workers=1", "--max_rows=8")
    try:
        before = d.metric('seq2seqd_cancellations_total{reason="disconnect"}')
        body = json.dumps({"model": "a", "sentences": ["the cat sat"] * 8,
                           "options": {"max_len_a": 0, "max_len_b": 400, "max_length": 400, "deadline_ms": 0}})
        s = socket.create_connection(("127.0.0.1", d.port))
        s.sendall(("POST /v1/translate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   "Content-Length: %d\r\n\r\n%s" % (len(body.encode()), body)).encode())
        time.sleep(0.02)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        end = time.time() + 1.5  # 400 steps of 5 ms = 2 s: cancellation must come well before
        while time.time() < end and d.metric('seq2seqd_cancellations_total{reason="disconnect"}') < before + 8:
            time.sleep(0.02)
        check(d.metric('seq2seqd_cancellations_total{reason="disconnect"}') >= before + 8,
              "the sentences were not cancelled within 1.5 s")
    finally:
        check(d.stop() == 0, "exit status")


def main():
    if not os.access(BINARY, os.X_OK):
        print("1..0 # SKIP %s not built" % BINARY)
        return 0
    t_no_window_when_step()
    t_spread_over_workers()
    t_early_reset_cancels()
    return report()


if __name__ == "__main__":
    sys.exit(main())
