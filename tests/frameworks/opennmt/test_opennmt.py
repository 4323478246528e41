"""OpenNMT-py importer against OpenNMT-py's own outputs (TAP).

Fixtures: $S2S_FRAMEWORK_FIXTURES/opennmt if set (make check-frameworks),
else the committed tests/frameworks/opennmt/<variant>/ (gen_opennmt.py).
Each variant is imported with the CLI (python3 -m s2s_ref.importers) into a
temp dir and decoded with s2s_ref: tokens identical, greedy attention and
log-probabilities within 1e-5, beam tokens identical. Then the refusals:
every unsupported option, damaged and malicious files, mismatched
vocabularies, missing subword models; nothing is written on failure.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("S2S_SRCDIR", os.path.join(HERE, "..", "..", ".."))
PYDIR = os.path.join(SRC, "clients", "python")
sys.path.insert(0, PYDIR)
sys.path.insert(0, os.path.join(SRC, "tests"))
sys.path.insert(0, os.path.join(SRC, "tests", "frameworks"))

import torch  # noqa: E402

from tap import Tap  # noqa: E402
import fwtest  # noqa: E402
from s2s_ref import safetensors_io  # noqa: E402
from s2s_ref.model import Seq2Seq, Seq2SeqConfig  # noqa: E402

FIX = os.path.join(os.environ["S2S_FRAMEWORK_FIXTURES"], "opennmt") if os.environ.get(
    "S2S_FRAMEWORK_FIXTURES") else HERE
TOL = 1e-5
MAX_DIFF = {"logprobs": 0.0, "attention": 0.0}


def variants():
    return sorted(d for d in os.listdir(FIX) if os.path.isfile(os.path.join(FIX, d, "expected.json")))


def cli(argv, cwd):
    env = dict(os.environ, PYTHONPATH=os.environ.get("S2S_PYTHONPATH", PYDIR), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "s2s_ref.importers"] + argv, cwd=cwd, env=env,
                          capture_output=True, text=True)


def load(path):
    tensors, meta, _ = safetensors_io.load(path)
    cfg = Seq2SeqConfig.from_json(meta["seq2seqd.config"])
    m = Seq2Seq(cfg)
    m.load_state_dict({k: torch.as_tensor(v) for k, v in tensors.items()})
    m.eval()
    return m, meta


def rename(tok):
    return "<pad>" if tok == "<blank>" else tok


def check_variant(name, tmp):
    vdir = os.path.join(FIX, name)
    exp = json.load(open(os.path.join(vdir, "expected.json")))
    out = os.path.join(tmp, name + ".safetensors")
    r = cli(exp["import"] + ["-o", out], vdir)
    assert r.returncode == 0, r.stderr
    model, meta = load(out)
    sv, tv = json.loads(meta["seq2seqd.src_vocab"]), json.loads(meta["seq2seqd.tgt_vocab"])
    sid, tid = {t: i for i, t in enumerate(sv)}, {t: i for i, t in enumerate(tv)}
    dec = json.loads(meta["seq2seqd.decoding"])
    assert len(exp["cases"]) >= 100, "only %d cases" % len(exp["cases"])
    d, b = exp["decode"], exp["beam"]
    # The framework's vocabulary order, to compare full log-prob vectors.
    perm = None
    for case in exp["cases"]:
        ids = [sid.get(rename(t), 1) for t in case["src_tokens"]]
        g = model.greedy([ids], d["max_len_a"], d["max_len_b"], d["max_length"], record_logits=True)[0]
        got = [tv[i] for i in g["ids"]]
        want = [rename(t) for t in case["greedy"]["tokens"]]
        assert got == want, "%r: greedy %r, OpenNMT-py %r" % (case["src"], got, want)
        if "attention" not in case["greedy"]:  # global_attention none: no attention to compare
            assert model.cfg.attention == "none" and not g["attention"], "an attention-less model returned attention"
        for row_g, row_w in zip(g["attention"] or [], case["greedy"].get("attention") or []):
            diff = max(abs(x - y) for x, y in zip(row_g, row_w))
            MAX_DIFF["attention"] = max(MAX_DIFF["attention"], diff)
            assert diff <= exp.get("attention_tolerance", TOL), "%r: attention differs by %g" % (case["src"], diff)
        if "logprobs" in case:
            lp = torch.log_softmax(torch.tensor(g["logits"]), 1)
            if perm is None:
                V = len(case["logprobs"][0])
                perm = framework_order(vdir, exp, tid, V)
            for t, row in enumerate(case["logprobs"]):
                want_lp = torch.tensor(row)
                ad = (lp[t][perm] - want_lp).abs()
                diff = float(ad.max())
                MAX_DIFF["logprobs"] = max(MAX_DIFF["logprobs"], diff)
                if exp.get("logprobs_tolerance") == "relative":
                    # A trained model's log-probs reach -30 and its recurrence
                    # amplifies float32 rounding: OpenNMT-py's own float32 values
                    # are ~2e-5 from the exact (float64) ones. 2e-5 per unit of
                    # |log-prob| (absolute 2e-5 where |log-prob| <= 1).
                    worst = float((ad / want_lp.abs().clamp(min=1.0)).max())
                    assert worst <= 2 * TOL, "%r step %d: log-probs differ by %g relative" % (case["src"], t, worst)
                else:
                    assert diff <= TOL, "%r step %d: log-probs differ by %g" % (case["src"], t, diff)
        if b and "beam" in case:
            h = model.beam_search(ids, b["beam_size"], 1, b["length_penalty"], b["max_len_a"],
                                  b["max_len_b"], b["max_length"])[0]
            got = [tv[i] for i in h["ids"]]
            want = [rename(t) for t in case["beam"]["tokens"]]
            assert got == want, "%r: beam %r, OpenNMT-py %r" % (case["src"], got, want)
            assert abs(h["norm_score"] - case["beam"]["score"]) <= 1e-4
    assert dec["max_length"] == d["max_length"], dec


def framework_order(vdir, exp, tid, V):
    """seq2seqd id of each framework id, read from the framework's vocabulary."""
    sys.path.insert(0, PYDIR)
    from s2s_ref.importers.common import safe_torch_load
    from s2s_ref.importers.opennmt import STAND_INS, _vocabs
    ck = safe_torch_load(os.path.join(vdir, exp["import"][1]), STAND_INS)
    _, tgt = _vocabs(ck, "model")
    assert len(tgt) == V
    return torch.tensor([tid[rename(t)] for t in tgt])


# ---------------------------------------------------------------------------
# Refusals. Inputs are built with torch.save of the real checkpoint contents
# (loaded here with the importer's safe reader, OpenNMT-py objects as stand-ins
# replaced by plain Namespaces/dicts); loading goes through the importer only.

def base_ckpt():
    from s2s_ref.importers.common import safe_torch_load
    from s2s_ref.importers.opennmt import STAND_INS
    return safe_torch_load(os.path.join(FIX, "gru_rnn_general_std", "model.pt"), STAND_INS)


def refused(tmp, ck_or_path, expect, extra=()):
    if isinstance(ck_or_path, str):
        path = ck_or_path
    else:
        path = os.path.join(tmp, "bad.pt")
        torch.save(ck_or_path, path)
    out = os.path.join(tmp, "out.safetensors")
    before = set(os.listdir(tmp))
    r = cli(["opennmt", path, "-o", out] + list(extra), tmp)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert expect in r.stderr, "%r not in %r" % (expect, r.stderr)
    assert set(os.listdir(tmp)) == before, "something was written"
    assert len(r.stderr.strip().splitlines()) >= 1 and "Traceback" not in r.stderr


def with_opt(**kw):
    ck = base_ckpt()
    opt = argparse.Namespace(**vars(ck["opt"]))
    for k, v in kw.items():
        setattr(opt, k, v)
    ck["opt"] = opt
    return ck


OPT_REFUSALS = [
    ({"coverage_attn": True}, "coverage_attn"),
    ({"context_gate": "both"}, "context_gate"),
    ({"copy_attn": True}, "copy_attn"),
    ({"global_attention_function": "sparsemax"}, "sparsemax"),
    ({"generator_function": "sparsemax"}, "generator_function sparsemax"),
    ({"n_src_feats": 1}, "source features"),
    ({"encoder_type": "transformer"}, "encoder_type transformer"),
    ({"decoder_type": "transformer"}, "decoder_type transformer"),
    ({"encoder_type": "cnn"}, "encoder_type cnn"),
    ({"encoder_type": "mean"}, "encoder_type mean"),
    ({"position_encoding": True}, "position_encoding"),
    ({"rnn_type": "SRU"}, "rnn_type SRU"),
    ({"lambda_align": 0.05}, "lambda_align"),
    ({"model_task": "lm"}, "model_task lm"),
    ({"global_attention": "none", "input_feed": 1}, "global_attention none with input_feed"),
    ({"transforms": ["onmt_tokenize"]}, "onmt_tokenize"),
]


def main():
    tap = Tap()
    with tempfile.TemporaryDirectory() as tmp:
        tok_py = os.path.join(os.environ.get("S2S_PYTHONPATH", PYDIR), "s2s_ref", "tokenizer.py")
        have_tok = '"whitespace"' in open(tok_py).read()
        for name in variants():
            if not have_tok:
                tap.n += 1
                print("ok %d - import %s # SKIP s2s_ref has no whitespace/sentencepiece tokenizer yet"
                      % (tap.n, name))
                continue
            tap.run("import %s and match OpenNMT-py (greedy, beam, attention, log-probs)" % name,
                    lambda name=name: check_variant(name, tmp))
        print("# max abs diff vs OpenNMT-py: log-probs %.3g, attention %.3g"
              % (MAX_DIFF["logprobs"], MAX_DIFF["attention"]))
        for kw, expect in OPT_REFUSALS:
            tap.run("refuses %s" % kw, lambda kw=kw, expect=expect: refused(tmp, with_opt(**kw), expect))
        tap.run("refuses all reasons at once, one line each", lambda: multi(tmp))
        tap.run("refuses a truncated .pt", lambda: truncated(tmp))
        tap.run("refuses a tampered .pt (storage size)", lambda: tampered(tmp))
        tap.run("refuses a malicious pickle and runs nothing", lambda: malicious(tmp))
        tap.run("refuses a vocabulary that does not match the embedding", lambda: vocab_mismatch(tmp))
        tap.run("refuses a missing sentencepiece model", lambda: missing_subword(tmp))
        tap.run("refuses a SentencePiece model it cannot reproduce, naming why",
                lambda: unsupported_spm(tmp))
        tap.run("refuses a file that is not a checkpoint", lambda: refused(tmp, {"weights": torch.zeros(2)},
                                                                           "not an OpenNMT-py checkpoint"))
    print("1..%d" % tap.n)
    return 1 if tap.failed else 0


def multi(tmp):
    ck = with_opt(coverage_attn=True, copy_attn=True)
    path = os.path.join(tmp, "bad.pt")
    torch.save(ck, path)
    r = cli(["opennmt", path, "-o", os.path.join(tmp, "o.safetensors")], tmp)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 2, r.stderr
    os.unlink(path)


def truncated(tmp):
    src = os.path.join(FIX, "gru_rnn_general_std", "model.pt")
    data = open(src, "rb").read()
    path = os.path.join(tmp, "trunc.pt")
    open(path, "wb").write(data[: len(data) // 2])
    refused(tmp, path, "truncated")
    os.unlink(path)


def tampered(tmp):
    src = os.path.join(FIX, "gru_rnn_general_std", "model.pt")
    path = os.path.join(tmp, "tamper.pt")
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(path, "w") as zout:
        names = zin.namelist()
        victim = sorted(n for n in names if "/data/" in n)[0]
        for n in names:
            data = zin.read(n)
            zout.writestr(n, data[:-4] if n == victim else data)
    refused(tmp, path, "damaged")
    os.unlink(path)


def malicious(tmp):
    flag = os.path.join(tempfile.gettempdir(), "s2s_onmt_pwned")
    if os.path.exists(flag):
        os.unlink(flag)
    ck = base_ckpt()
    ck["opt"] = fwtest.Evil(flag)
    path = os.path.join(tmp, "evil.pt")
    torch.save(ck, path)
    refused(tmp, path, "never loads")
    assert not os.path.exists(flag), "the pickle ran os.system"
    os.unlink(path)


def vocab_mismatch(tmp):
    ck = base_ckpt()
    ck["vocab"] = dict(ck["vocab"], tgt=ck["vocab"]["tgt"][:-3])
    refused(tmp, ck, "the vocabulary does not belong to this model")


def missing_subword(tmp):
    ck = base_ckpt()
    opt = argparse.Namespace(**vars(ck["opt"]))
    opt.transforms = ["sentencepiece"]
    opt.src_subword_model = os.path.join(tmp, "nowhere", "spm.model")
    ck["opt"] = opt
    refused(tmp, ck, "no such file")
    refused(tmp, ck, "no such file", ["--src-subword-model", os.path.join(tmp, "missing.model")])


def unsupported_spm(tmp):
    """The spm variant's .model with byte fallback and a denormalizer switched on."""
    from sentencepiece import sentencepiece_model_pb2 as pb
    m = pb.ModelProto()
    with open(os.path.join(FIX, "lstm_brnn_dot_spm", "spm.model"), "rb") as f:
        m.ParseFromString(f.read())
    m.trainer_spec.byte_fallback = True
    m.denormalizer_spec.name = "custom_rules"
    m.denormalizer_spec.precompiled_charsmap = b"rules the tokenizer cannot apply"
    bad = os.path.join(tmp, "unsupported.model")
    with open(bad, "wb") as f:
        f.write(m.SerializeToString())
    ck = base_ckpt()
    opt = argparse.Namespace(**vars(ck["opt"]))
    opt.transforms = ["sentencepiece"]
    ck["opt"] = opt
    flags = ["--src-subword-model", bad, "--tgt-subword-model", bad]
    refused(tmp, ck, "byte_fallback is not supported", flags)
    refused(tmp, ck, "a denormalizer (custom_rules) is not supported", flags)
    os.unlink(bad)


if __name__ == "__main__":
    sys.exit(main())
