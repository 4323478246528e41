#!/usr/bin/env python3
"""seq2seqd with `quantize = int8` (issue 11): every model loads with int8
weights, says so in GET /v1/models ("weights"), keeps it across a reload,
and serves translations that are whole (finite scores) and the same for a
sentence alone as inside a batch. Without the option the checkpoint's own
type is reported. A bad value stops startup naming the key. Emits TAP.
"""
import math
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_daemon import (BINARY, FIXTURE_DECODE, MODEL_A, MODEL_B, Daemon, check,  # noqa: E402
                         fixture_path, load_fixture, report, test, _results)

F16_MODEL = "lstm_additive_luong_feed_f16"  # a fixture stored as F16
MODELS = {"a": fixture_path(MODEL_A, ".safetensors"), "b": fixture_path(MODEL_B, ".safetensors"),
          "h": fixture_path(F16_MODEL, ".safetensors")}


def weights(d):
    st, _, j = d.json("GET", "/v1/models")
    check(st == 200, j)
    return {m["name"]: m["weights"] for m in j["models"]}


@test("quantize unset: /v1/models reports the checkpoint's own weight type")
def t_default():
    d = Daemon(models=MODELS)
    try:
        w = weights(d)
        check(w == {"a": "f32", "b": "f32", "h": "f16"}, w)
    finally:
        d.stop()


@test("a bad quantize value stops startup naming the key and the choices")
def t_bad_value():
    out = subprocess.run([BINARY, "--config", "/dev/null", "--check-config", "--quantize=int4"],
                         capture_output=True, text=True)
    check(out.returncode == 2 and "quantize" in out.stderr and "int8" in out.stderr
          and "none" in out.stderr, out.stderr)


def sentences(fx_name):
    return [c["src_text"] for c in load_fixture(fx_name)["cases"]]


def translate(d, model, texts, **opts):
    o = dict(FIXTURE_DECODE)
    o.update(opts)
    st, _, j = d.json("POST", "/v1/translate", {"model": model, "sentences": texts, "options": o})
    check(st == 200, "status %s: %s" % (st, j))
    return [r["hypotheses"] for r in j["results"]]  # timings differ per request


@test("quantize = int8: every model reports int8, translates, and a sentence alone equals it in a batch")
def t_int8(d):
    check(weights(d) == {"a": "int8", "b": "int8", "h": "int8"}, weights(d))
    for name, fx in (("a", MODEL_A), ("b", MODEL_B), ("h", F16_MODEL)):
        texts = sentences(fx)[:6]
        for beam in (1, 3):
            batch = translate(d, name, texts, beam_size=beam)
            check(len(batch) == len(texts), "%s: %d results for %d sentences" % (name, len(batch), len(texts)))
            for i, t in enumerate(texts):
                alone = translate(d, name, [t], beam_size=beam)[0]
                check(alone == batch[i], "%s beam %d: %r alone %s, in a batch %s" % (name, beam, t, alone, batch[i]))
                for h in alone:
                    check(math.isfinite(h["score"]) and all(math.isfinite(x) for x in h["logprobs"]),
                          "%s: non-finite score for %r" % (name, t))


@test("quantize = int8 survives a reload")
def t_reload(d):
    st, _, j = d.json("POST", "/v1/models/a/reload", headers={"Authorization": "Bearer sekrit"})
    check(st == 200 and j["reloaded"] is True, j)
    st, _, m = d.json("GET", "/v1/models/a")
    check(st == 200 and m["weights"] == "int8" and m["reloads"] >= 1, m)


@test("SEQ2SEQD_QUANTIZE=int8 in the environment works as the option does")
def t_env():
    d = Daemon(models={"a": MODELS["a"]}, env={"SEQ2SEQD_QUANTIZE": "int8"})
    try:
        check(weights(d) == {"a": "int8"}, weights(d))
    finally:
        d.stop()


def main():
    if not os.access(BINARY, os.X_OK):
        print("1..0 # SKIP %s not built" % BINARY)
        return 0
    t_default()
    t_bad_value()
    d = Daemon("--quantize=int8", "--admin_key=sekrit", models=MODELS)
    try:
        t_int8(d)
        t_reload(d)
    finally:
        rc = d.stop()
    _results.append((rc == 0, "daemon exits 0 on SIGTERM", "exit %s" % rc))
    t_env()
    return report()


if __name__ == "__main__":
    sys.exit(main())
