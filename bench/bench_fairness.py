#!/usr/bin/env python3
"""Light-request latency while a heavy request runs (issue 9, fair scheduling).

Starts seq2seqd (BINARY, default ./seq2seqd) with MODEL, sends HEAVY requests
from one client in a loop and, from LIGHT_CLIENTS other clients, one-sentence
greedy requests for DURATION seconds; prints the light requests' status
counts and p50/p99 latency, and what happened to the heavy ones.

  bench/bench_fairness.py --binary build/seq2seqd --model models/en-fr.safetensors \\
      --heavy issue [--duration 30] [-- extra daemon flags]

--heavy issue: issue 9's request (64 x "( ( ( ...", beam 8, max_length 4096,
max_len_a 100, deadline_ms 0); --heavy allowed: 64 UI sentences with beam 8
and the default length limits (within the default max_request_cost).
Python 3 standard library only.
"""
import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def post(port, body, timeout):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("POST", "/v1/translate", body=json.dumps(body), headers={"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        return r.status
    except OSError:
        return "timeout"
    finally:
        c.close()


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))] if v else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="./seq2seqd")
    ap.add_argument("--model", required=True)
    ap.add_argument("--heavy", choices=("issue", "allowed", "none"), default="issue")
    ap.add_argument("--duration", type=float, default=30)
    ap.add_argument("--light-clients", type=int, default=4)
    ap.add_argument("flags", nargs="*")
    a = ap.parse_args()
    with open(os.path.join(HERE, "ui-sentences.txt")) as f:
        ui = [line.strip() for line in f if line.strip()]
    if a.heavy == "issue":
        heavy = {"sentences": ["( " * 25] * 64,
                 "options": {"beam_size": 8, "max_length": 4096, "max_len_a": 100, "deadline_ms": 0}}
    else:
        heavy = {"sentences": (ui * 3)[:64], "options": {"beam_size": 8}}
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEQ2SEQD_")}
    proc = subprocess.Popen([a.binary, "--config", "/dev/null", "--port", str(port), "--model", "m=" + a.model,
                             "--access_log=false"] + a.flags, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        stop = time.monotonic() + a.duration
        heavy_res, light = [], []

        def heavy_loop():
            while a.heavy != "none" and time.monotonic() < stop:
                t = time.monotonic()
                st = post(port, heavy, timeout=a.duration + 5)
                heavy_res.append((st, time.monotonic() - t))

        def light_loop(k):
            i = k
            while time.monotonic() < stop:
                t = time.monotonic()
                st = post(port, {"text": ui[i % len(ui)]}, timeout=a.duration + 40)
                light.append((st, time.monotonic() - t))
                i += a.light_clients
        threads = [threading.Thread(target=heavy_loop, daemon=True)]
        threads[0].start()
        time.sleep(0.5)
        threads += [threading.Thread(target=light_loop, args=(k,), daemon=True) for k in range(a.light_clients)]
        for t in threads[1:]:
            t.start()
        for t in threads[1:]:
            t.join()
        lat = [d * 1000 for _, d in light]
        codes = {}
        for st, _ in light:
            codes[st] = codes.get(st, 0) + 1
        print("heavy=%s flags=%s light requests=%d statuses=%s p50=%.1f ms p99=%.1f ms max=%.1f ms" %
              (a.heavy, " ".join(a.flags) or "-", len(light), codes, pct(lat, 50), pct(lat, 99),
               max(lat) if lat else float("nan")))
        hcodes = {}
        for st, _ in heavy_res:
            hcodes[st] = hcodes.get(st, 0) + 1
        print("heavy requests answered in the window: %d %s, median %.2f s" %
              (len(heavy_res), hcodes, pct([d for _, d in heavy_res], 50)))
    finally:
        proc.kill()
        proc.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
