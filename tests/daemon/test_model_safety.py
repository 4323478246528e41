#!/usr/bin/env python3
"""Black-box tests of what seq2seqd does with model files that change under it
or hold values that cannot be served (issue 9): a checkpoint rewritten or
truncated in place while it serves, NaN/Inf weights at start and on reload,
weights whose translation overflows to NaN, and the offline CLI's message for
such a file. Emits TAP. Python 3 stdlib only; reuses test_daemon.py's harness.
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_daemon import (BUILDDIR, TMP, Daemon, MODEL_A, MODEL_C, check,  # noqa: E402
                         check_hyp, expect_error, fixture_path, load_fixture, test,
                         report, translate_case)

ADMIN = {"Authorization": "Bearer k"}
F16_MODEL = "lstm_additive_luong_feed_f16"
BF16_MODEL = "gru_general_luong_bf16"


def header_of(data):
    (n,) = struct.unpack("<Q", data[:8])
    return 8 + n, json.loads(data[8:8 + n])


def patched(name, tensor, index, raw):
    """The fixture's bytes with element `index` of `tensor` replaced by `raw`."""
    with open(fixture_path(name, ".safetensors"), "rb") as f:
        data = bytearray(f.read())
    start, h = header_of(bytes(data))
    t = h[tensor]
    size = {"F32": 4, "F16": 2, "BF16": 2}[t["dtype"]]
    assert len(raw) == size
    at = start + t["data_offsets"][0] + index * size
    data[at:at + size] = raw
    return bytes(data)


def nan_bytes(name, tensor, index):
    _, h = header_of(open(fixture_path(name, ".safetensors"), "rb").read())
    return {"F32": struct.pack("<f", float("nan")), "F16": b"\x00\x7e", "BF16": b"\xc0\x7f"}[h[tensor]["dtype"]]


def write_in_place(path, data):
    """Overwrites path's contents without replacing the inode (like `cp` over it)."""
    with open(path, "r+b") as f:
        f.write(data)
        f.truncate(len(data))


def start_fails(path, want):
    """seq2seqd refuses to start with the model at path, and logs `want`."""
    d = Daemon(models={"m": path}, wait=False)
    try:
        rc = d.proc.wait(15)
    except subprocess.TimeoutExpired:
        d.stop()
        raise AssertionError("seq2seqd started with a model it should refuse")
    check(rc != 0, "exit status 0 with a refused model")
    log = d.logtext()
    check(want in log, "log does not say %r: %s" % (want, log))


def one_translation(d, model, case):
    try:
        j = translate_case(d, model, MODEL_A, case)
    except OSError as e:
        time.sleep(0.2)
        raise AssertionError("no answer (%s); daemon exit status %s (negative: killed by that signal, -7 SIGBUS)"
                             % (e, d.proc.poll()))
    hyps = j["results"][0]["hypotheses"]
    check(len(hyps) == 1, "expected one hypothesis: %s" % j)
    return hyps[0]


@test("F32 model rewritten and truncated in place while serving: translations unchanged, bad reloads refused")
def t_rewrite_in_place():
    path = os.path.join(TMP, "served.safetensors")
    shutil.copy(fixture_path(MODEL_A, ".safetensors"), path)
    case = load_fixture(MODEL_A)["cases"][1]
    d = Daemon("--admin_key=k", models={"m": path})
    try:
        before = one_translation(d, "m", case)
        check_hyp(MODEL_A, before, case["greedy"], "before rewrite")
        # cp other.safetensors served.safetensors: same inode, other bytes, other size
        with open(fixture_path(MODEL_C, ".safetensors"), "rb") as f:
            write_in_place(path, f.read())
        check(one_translation(d, "m", case) == before, "answer changed after an in-place rewrite")
        # truncated to half, then to nothing: the old mapping would SIGBUS here
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) // 2)
        check(one_translation(d, "m", case) == before, "answer changed after truncation")
        _, j = expect_error(d, "POST", "/v1/models/m/reload", None, 500, "reload_failed", headers=ADMIN)
        with open(path, "r+b") as f:
            f.truncate(0)
        check(one_translation(d, "m", case) == before, "answer changed after truncation to 0")
        expect_error(d, "POST", "/v1/models/m/reload", None, 500, "reload_failed", headers=ADMIN)
        check(one_translation(d, "m", case) == before, "old model does not serve after failed reloads")
        check(d.proc.poll() is None, "daemon died")
        # a complete new file, written in place, reloads
        with open(fixture_path(MODEL_C, ".safetensors"), "rb") as f:
            write_in_place(path, f.read())
        st, _, j = d.json("POST", "/v1/models/m/reload", headers=ADMIN)
        check(st == 200 and j["reloaded"] is True and j["sha256"] != j["previous_sha256"], j)
    finally:
        check(d.stop() == 0, "exit status")


@test("NaN/Inf weights (F32, F16, BF16) refuse to start, naming tensor and index")
def t_non_finite_start():
    for name, tensor, index, raw, want in (
            (MODEL_A, "decoder.out.bias", 3, None, "tensor decoder.out.bias holds a NaN at index 3"),
            (MODEL_A, "encoder.embedding.weight", 5, struct.pack("<f", float("-inf")),
             "tensor encoder.embedding.weight holds -Inf at index 5"),
            (F16_MODEL, "decoder.rnn.weight_hh_l0", 11, None, "tensor decoder.rnn.weight_hh_l0 holds a NaN at index 11"),
            (BF16_MODEL, "decoder.out.bias", 0, b"\x80\x7f", "tensor decoder.out.bias holds +Inf at index 0")):
        path = os.path.join(TMP, "nonfinite-%s.safetensors" % name)
        with open(path, "wb") as f:
            f.write(patched(name, tensor, index, raw or nan_bytes(name, tensor, index)))
        start_fails(path, want)


@test("NaN weights on reload: 500 reload_failed naming the tensor; the old model keeps serving")
def t_non_finite_reload():
    path = os.path.join(TMP, "reload-nan.safetensors")
    shutil.copy(fixture_path(MODEL_A, ".safetensors"), path)
    case = load_fixture(MODEL_A)["cases"][0]
    d = Daemon("--admin_key=k", models={"m": path})
    try:
        before = one_translation(d, "m", case)
        with open(path + ".new", "wb") as f:
            f.write(patched(MODEL_A, "decoder.out.bias", 3, nan_bytes(MODEL_A, "decoder.out.bias", 3)))
        os.rename(path + ".new", path)
        expect_error(d, "POST", "/v1/models/m/reload", None, 500, "reload_failed", headers=ADMIN,
                     field="decoder.out.bias holds a NaN at index 3")
        check(one_translation(d, "m", case) == before, "old model does not serve after a refused reload")
    finally:
        check(d.stop() == 0, "exit status")


def overflowing(name):
    """Finite weights whose logits overflow: every bias is the largest float and
    the rows of the output weights alternate +1e36 / -1e36, so in every step one
    of each pair of logits rounds to +Inf (unless the decoder output sums to
    exactly 0) and log-softmax gives NaN."""
    with open(fixture_path(name, ".safetensors"), "rb") as f:
        data = bytearray(f.read())
    start, h = header_of(bytes(data))
    w, b = h["decoder.out.weight"], h["decoder.out.bias"]
    V, D = w["shape"]
    rows = [(1e36 if v % 2 == 0 else -1e36,) * D for v in range(V)]
    data[start + w["data_offsets"][0]:start + w["data_offsets"][1]] = struct.pack("<%df" % (V * D), *sum(rows, ()))
    data[start + b["data_offsets"][0]:start + b["data_offsets"][1]] = struct.pack("<%df" % V, *([3.4028234663852886e38] * V))
    return bytes(data)


@test("the validation translation refuses a model whose answers are not finite (start and reload)")
def t_validation_checks_output():
    path = os.path.join(TMP, "overflow.safetensors")
    with open(path, "wb") as f:
        f.write(overflowing(MODEL_A))
    start_fails(path, "validation translation of")
    good = os.path.join(TMP, "overflow-reload.safetensors")
    shutil.copy(fixture_path(MODEL_A, ".safetensors"), good)
    d = Daemon("--admin_key=k", models={"m": good})
    try:
        shutil.copy(path, good)
        expect_error(d, "POST", "/v1/models/m/reload", None, 500, "reload_failed", headers=ADMIN,
                     field="validation translation of")
    finally:
        check(d.stop() == 0, "exit status")


@test("seq2seq-translate --json with a NaN weight says why, not 'out of memory'")
def t_cli_nan():
    path = os.path.join(TMP, "cli-nan.safetensors")
    with open(path, "wb") as f:
        f.write(patched(MODEL_A, "decoder.out.bias", 3, nan_bytes(MODEL_A, "decoder.out.bias", 3)))
    p = subprocess.run([os.path.join(BUILDDIR, "seq2seq-translate"), "-m", path, "--json"],
                       input="the cat sat\n", capture_output=True, text=True, timeout=30)
    check(p.returncode != 0, "exit 0 with a NaN model: %s" % p.stdout)
    check("out of memory" not in p.stderr, "stderr: %s" % p.stderr)
    check("decoder.out.bias holds a NaN at index 3" in p.stderr, "stderr: %s" % p.stderr)


@test("<unk> is kept in the text (docs §5), by the daemon and by seq2seq-translate")
def t_unk_kept():
    path = os.path.join(TMP, "unk.safetensors")
    with open(path, "wb") as f:
        f.write(patched(MODEL_A, "decoder.out.bias", 1, struct.pack("<f", 50.0)))
    d = Daemon(models={"u": path})
    try:
        st, _, j = d.json("POST", "/v1/translate", {"text": "the cat", "options": {"max_len_a": 0, "max_len_b": 3}})
        check(st == 200, j)
        h = j["results"][0]["hypotheses"][0]
        check(h["tokens"] == ["<unk>"] * 3, h)
        check(h["text"] == "<unk><unk><unk>", "text %r drops <unk>" % h["text"])
    finally:
        check(d.stop() == 0, "exit status")
    p = subprocess.run([os.path.join(BUILDDIR, "seq2seq-translate"), "-m", path, "--max-len-a", "0", "--max-len-b", "2"],
                       input="the cat\n", capture_output=True, text=True, timeout=30)
    check(p.returncode == 0 and p.stdout == "<unk><unk>\n", "CLI: %r %r" % (p.stdout, p.stderr))


@test("U+0000 in the input is refused with a clear error (docs §5); other lines still translate")
def t_nul_refused():
    p = subprocess.run([os.path.join(BUILDDIR, "seq2seq-translate"), "-m", fixture_path(MODEL_A, ".safetensors")],
                       input=b"ab\x00c\nthe cat\n", capture_output=True, timeout=30)
    err = p.stderr.decode()
    check(p.returncode == 1, "exit %s" % p.returncode)
    check("line 1: NUL character at byte 2" in err, "stderr: %r" % err)
    lines = p.stdout.decode().split("\n")
    check(lines[0] == "" and lines[1] != "", "stdout: %r" % p.stdout)
    d = Daemon(models={"a": fixture_path(MODEL_A, ".safetensors")})
    try:
        st, _, j = d.json("POST", "/v1/translate", {"text": "ab\u0000c"})
        check(st == 400, "status %s: %s" % (st, j))
        msg = j["error"]["message"]
        check("u0000" in msg or "NUL" in msg or "U+0000" in msg, "message does not say why: %r" % msg)
    finally:
        check(d.stop() == 0, "exit status")


def main():
    if not os.access(os.path.join(BUILDDIR, "seq2seqd"), os.X_OK):
        print("1..0 # SKIP seq2seqd not built")
        return 0
    for t in (t_rewrite_in_place, t_non_finite_start, t_non_finite_reload, t_validation_checks_output,
              t_cli_nan, t_unk_kept, t_nul_refused):
        t()
    return report()


if __name__ == "__main__":
    sys.exit(main())
