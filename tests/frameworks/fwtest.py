"""What the framework importer tests share (tests/frameworks/<source>/test_<source>.py).

* `variants(source)`: the fixture directories holding an expected.json, from
  $S2S_FRAMEWORK_FIXTURES/<source> when set (check-frameworks), else the
  committed tests/frameworks/<source>/.
* `run_import(argv, cwd)`: the importer CLI, `python3 -m s2s_ref.importers`,
  as a user runs it; returns (exit status, stderr).
* `Evil(marker)`: an object whose unpickling runs `touch marker`; every
  importer must refuse it before anything runs.
* `check_variant(vdir, out)`: imports the variant as its expected.json says,
  decodes every case with s2s_ref and compares with what the framework's own
  code produced: tokens exactly, attention and log-probabilities within
  1e-5. Returns the largest differences seen.
"""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PYDIR = os.path.join(HERE, "..", "..", "clients", "python")
sys.path.insert(0, PYDIR)
sys.path.insert(0, os.path.join(HERE, ".."))

TOL = 1e-5
MARKER = "pwned-by-pickle"


class Evil:
    """Unpickling this runs a shell command: the importer must refuse it first."""

    def __init__(self, marker=MARKER):
        self.marker = marker

    def __reduce__(self):
        return (os.system, ("touch '%s'" % self.marker,))


def variants(source):
    base = os.environ.get("S2S_FRAMEWORK_FIXTURES")
    base = os.path.join(base, source) if base else os.path.join(HERE, source)
    return sorted(os.path.join(base, d) for d in os.listdir(base)
                  if os.path.isfile(os.path.join(base, d, "expected.json")))


def run_import(argv, cwd=None):
    env = dict(os.environ, PYTHONPATH=os.path.abspath(PYDIR), OMP_NUM_THREADS="1",
               PYTHONDONTWRITEBYTECODE="1")
    p = subprocess.run([sys.executable, "-m", "s2s_ref.importers"] + list(argv), cwd=cwd, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    return p.returncode, p.stderr


def import_variant(vdir, out):
    exp = json.load(open(os.path.join(vdir, "expected.json")))
    rc, err = run_import(exp["import"] + ["-o", out], cwd=vdir)
    assert rc == 0, "import failed (%d): %s" % (rc, err.strip())
    return exp


def maxdiff(a, b, what):
    import torch
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    assert a.shape == b.shape, "%s: shape %s vs %s" % (what, list(a.shape), list(b.shape))
    return float((a - b).abs().max()) if a.numel() else 0.0


def source_pieces(tok_json, src):
    """The pieces s2s_ref's tokenizer gives (with the appended </s>), or None
    where this s2s_ref does not know the tokenizer type yet."""
    from s2s_ref.tokenizer import Tokenizer
    try:
        tok = Tokenizer.from_json(tok_json, "src_tokenizer")
    except ValueError:
        return None
    pieces = list(tok.encode_pieces(src))
    if tok_json.get("append_eos") and pieces[-1:] != ["</s>"]:
        pieces.append("</s>")
    return pieces


def check_variant(vdir, out):
    """-> {"cases": n, "logprobs": max |d|, "attention": max |d|}; raises AssertionError."""
    import torch
    from s2s_ref.export import load_model
    exp = import_variant(vdir, out)
    model, meta = load_model(out)
    src_vocab = json.loads(meta["seq2seqd.src_vocab"])
    tgt_vocab = json.loads(meta["seq2seqd.tgt_vocab"])
    src_tok = json.loads(meta["seq2seqd.src_tokenizer"])
    sidx = {t: i for i, t in enumerate(src_vocab)}
    tidx = {t: i for i, t in enumerate(tgt_vocab)}
    d = exp["decode"]
    if "seq2seqd.decoding" in meta:
        defaults = json.loads(meta["seq2seqd.decoding"])
        for k, v in defaults.items():
            assert d.get(k) == v, "decoding default %s=%r, the framework decodes with %r" % (k, v, d.get(k))
    fw_order = [tidx[t] for t in exp.get("logprobs_vocab", [])]
    worst = {"logprobs": 0.0, "attention": 0.0, "cases": 0}
    for n, case in enumerate(exp["cases"]):
        pieces = source_pieces(src_tok, case["src"])
        if pieces is not None:
            assert pieces == case["src_tokens"], "case %d %r: tokenizer gives %s, framework %s" % (
                n, case["src"], pieces, case["src_tokens"])
        ids = [sidx.get(t, 1) for t in case["src_tokens"]]
        hyp = model.greedy([ids], d["max_len_a"], d["max_len_b"], d["max_length"], record_logits=True)[0]
        toks = [tgt_vocab[i] for i in hyp["ids"]]
        g = case["greedy"]
        assert toks == g["tokens"], "case %d %r: s2s_ref %s, framework %s" % (n, case["src"], toks, g["tokens"])
        if g.get("attention") is not None:
            worst["attention"] = max(worst["attention"], maxdiff(hyp["attention"], g["attention"], "attention"))
        else:
            assert model.cfg.attention == "none"
        if case.get("logprobs"):
            lp = torch.log_softmax(torch.tensor(hyp["logits"]), 1)[:, fw_order]
            worst["logprobs"] = max(worst["logprobs"], maxdiff(lp, case["logprobs"], "logprobs"))
        if case.get("beam") and exp.get("beam"):
            b = exp["beam"]
            bh = model.beam_search(ids, b["beam_size"], 1, b.get("length_penalty", 0), b["max_len_a"],
                                   b["max_len_b"], b["max_length"])[0]
            btoks = [tgt_vocab[i] for i in bh["ids"]]
            assert btoks == case["beam"]["tokens"], "case %d beam: %s vs %s" % (n, btoks, case["beam"]["tokens"])
        worst["cases"] += 1
    assert worst["cases"] >= 100, "only %d cases" % worst["cases"]
    for k in ("logprobs", "attention"):
        assert worst[k] <= TOL, "%s differ by %.3g > %g" % (k, worst[k], TOL)
    return worst


def refused(argv, cwd, out, *needles):
    """Runs an import that must fail with exit status 2, name each needle, and write nothing."""
    rc, err = run_import(list(argv) + ["-o", out], cwd=cwd)
    assert rc == 2, "exit status %d, wanted 2; stderr: %s" % (rc, err.strip())
    for needle in needles:
        assert needle in err, "stderr lacks %r: %s" % (needle, err.strip())
    assert not os.path.exists(out), "%s was written although the import failed" % out
    leftovers = [f for f in os.listdir(os.path.dirname(out) or ".") if f.startswith("." + os.path.basename(out))]
    assert not leftovers, "temporary files left behind: %s" % leftovers
    return err


def run_variants(tap, vdirs, tmp):
    """One TAP test per fixture directory: check_variant, its largest differences printed."""
    for vdir in vdirs:
        def check(vdir=vdir):
            w = check_variant(vdir, os.path.join(tmp, os.path.basename(vdir) + ".safetensors"))
            print("# %s: %d cases, max |d| logprobs %.3g attention %.3g"
                  % (os.path.basename(vdir), w["cases"], w["logprobs"], w["attention"]))
        tap.run("%s: tokens identical, logprobs and attention within 1e-5" % os.path.basename(vdir), check)
