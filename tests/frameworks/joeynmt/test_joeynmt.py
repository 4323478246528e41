#!/usr/bin/python3
"""Joey NMT importer against Joey NMT's own outputs (TAP for `make check`).

    OMP_NUM_THREADS=1 /usr/bin/python3 tests/frameworks/joeynmt/test_joeynmt.py

Fixtures: $S2S_FRAMEWORK_FIXTURES/joeynmt if set (check-frameworks
regenerates them there from a live Joey NMT), else the committed
tests/frameworks/joeynmt/<variant>/ made by gen_joeynmt.py. Per variant:
* `python3 -m s2s_ref.importers joeynmt ...` (the expected.json command line)
  writes a checkpoint; its tokenizers cut each source into Joey's tokens and
  detokenize Joey's output into Joey's text;
* the imported model's greedy tokens equal Joey's recurrent_greedy, attention
  and per-step log-probabilities within 1e-5 (or twice the distance of Joey's
  own float32 results from its float64 ones, recorded by the generator, where
  a model amplifies rounding beyond that); beam search (§7) equals Joey's
  beam_search on the cases where Joey's beam rules give the §7 result;
* a Joey NMT 1.x config of the same model imports to the same tensors.
Refusals (exit status 2, one line per reason, nothing written): transformer
configs, other activations, unknown init_hidden, truncated and tampered
checkpoints, a pickle that would run code (it is not run), a missing
vocabulary, a vocabulary that does not match the embedding, BPE codes whose
pieces the vocabulary lacks, a SentencePiece model with pieces the vocabulary
lacks (Joey's SetVocabulary would change the segmentation).
"""

import argparse
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import traceback
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
PYDIR = os.path.abspath(os.path.join(HERE, "..", "..", "..", "clients", "python"))
sys.path.insert(0, PYDIR)
sys.path.insert(0, os.path.join(HERE, ".."))

try:
    import torch
    import yaml
except ImportError as e:  # pragma: no cover - depends on the machine
    print("1..0 # SKIP torch/yaml not importable (%s): apt-get install -y python3-torch python3-yaml" % e)
    sys.exit(0)

import fwtest  # noqa: E402
from s2s_ref.importers import joeynmt  # noqa: E402
from s2s_ref.importers.common import ImportRefused, remap_vocab  # noqa: E402
from s2s_ref.model import Seq2Seq, Seq2SeqConfig  # noqa: E402

FIXTURES = os.path.join(os.environ["S2S_FRAMEWORK_FIXTURES"], "joeynmt") \
    if os.environ.get("S2S_FRAMEWORK_FIXTURES") else HERE
TOL = 1e-5
RESULTS = []


def ok(cond, name, diag=None, todo=None):
    RESULTS.append((bool(cond), name, diag, todo))


def cli(argv, cwd):
    env = dict(os.environ, PYTHONPATH=PYDIR, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "s2s_ref.importers"] + argv, cwd=cwd, env=env,
                          capture_output=True, text=True)


def variants():
    return sorted(d for d in os.listdir(FIXTURES)
                  if os.path.isfile(os.path.join(FIXTURES, d, "expected.json")))


def convert_in_process(vdir, argv):
    ap = argparse.ArgumentParser()
    joeynmt.add_arguments(ap)
    args = ap.parse_args(argv[1:])
    cwd = os.getcwd()
    os.chdir(vdir)
    try:
        return joeynmt.convert(args)
    finally:
        os.chdir(cwd)


def model_of(imp):
    model = Seq2Seq(Seq2SeqConfig.from_json(dict(imp.cfg)))
    model.load_state_dict({k: v.detach().float().contiguous() for k, v in imp.tensors.items()}, strict=True)
    model.eval()
    return model


def check_model(name, exp, imp):
    """Greedy, attention, log-probs and beam of the imported model (ids from Joey's tokens)."""
    model = model_of(imp)
    index = {t: i for i, t in enumerate(imp.src_vocab)}
    jv = exp["joey_vocab"]["trg"]
    sp = {t: i for i, t in enumerate(jv[:4])}
    _, order = remap_vocab(jv, pad=sp["<pad>"], unk=sp["<unk>"], bos=sp["<s>"], eos=sp["</s>"])
    ours = [i for i, o in enumerate(order) if o >= 0]
    theirs = [order[i] for i in ours]
    # 1e-5, or twice the distance of Joey's own float32 results from its
    # float64 ones where the model amplifies rounding more than that.
    noise = exp.get("float32_noise") or {}
    tol_lp = max(TOL, 2 * noise.get("logprobs", 0.0))
    tol_att = max(TOL, 2 * noise.get("attention", 0.0))
    d = exp["decode"]
    bad_tok, att_diff, lp_diff, beam_bad, beam_diff, n_beam = [], 0.0, 0.0, [], 0.0, 0
    for c in exp["cases"]:
        ids = [index.get(t, 1) for t in c["src_tokens"][:-1]] + [3]
        h = model.greedy([ids], max_len_a=d["max_len_a"], max_len_b=d["max_len_b"],
                         max_len=d["max_length"], record_logits=True)[0]
        toks = [imp.tgt_vocab[i] for i in h["ids"]]
        want = ["</s>" if t == jv[sp["</s>"]] else t for t in c["greedy"]["tokens"]]
        if toks != want:
            bad_tok.append((c["src"], toks, want))
            continue
        att_diff = max(att_diff, float((torch.tensor(h["attention"]) - torch.tensor(c["greedy"]["attention"])).abs().max()))
        if "logprobs" in c:
            lp = torch.log_softmax(torch.tensor(h["logits"]), -1)
            lp_diff = max(lp_diff, float((lp[:, ours] - torch.tensor(c["logprobs"])[:, theirs]).abs().max()))
        if exp.get("beam") and "beam" in c:
            b = exp["beam"]
            n_beam += 1
            r = model.beam_search(ids, beam_size=b["beam_size"], length_penalty=b["length_penalty"],
                                  max_len_a=b["max_len_a"], max_len_b=b["max_len_b"], max_len=b["max_length"])[0]
            bt = [imp.tgt_vocab[i] for i in r["ids"]]
            bw = ["</s>" if t == jv[sp["</s>"]] else t for t in c["beam"]["tokens"]]
            if bt != bw:
                beam_bad.append((c["src"], bt, bw))
            else:
                beam_diff = max(beam_diff, abs(r["norm_score"] - c["beam"]["score"]) / len(bt))
    ok(not bad_tok, "%s: greedy tokens equal Joey's on %d cases" % (name, len(exp["cases"])), bad_tok[:3])
    ok(att_diff <= tol_att, "%s: attention within %.2g (max %.2g)" % (name, tol_att, att_diff))
    ok(lp_diff <= tol_lp, "%s: log-probabilities within %.2g (max %.2g)" % (name, tol_lp, lp_diff))
    if exp.get("beam"):
        ok(not beam_bad and beam_diff <= tol_lp and n_beam > 0,
           "%s: beam tokens equal Joey's on %d cases, score within %.2g per token (max %.2g)"
           % (name, n_beam, tol_lp, beam_diff), beam_bad[:3])
    return att_diff, lp_diff


def check_cli(name, vdir, exp, tmp):
    out = os.path.join(tmp, name + ".safetensors")
    r = cli(exp["import"] + ["-o", out], vdir)
    if r.returncode != 0 and "tokenizer:" in r.stderr:
        # The whitespace / subword_nmt tokenizer types (spec10 §2) come from
        # the tokenizer work stream; until s2s_ref has them the import stops
        # at the tokenizer check.
        ok(False, "%s: seq2seq-import writes the checkpoint" % name, r.stderr.strip(),
           todo="tokenizer type not in s2s_ref yet")
        return
    ok(r.returncode == 0 and os.path.isfile(out), "%s: seq2seq-import writes the checkpoint" % name,
       r.stderr.strip())
    if r.returncode != 0:
        return
    from s2s_ref.export import load_model
    from s2s_ref.tokenizer import Tokenizer
    _, meta = load_model(out)
    src_tok = Tokenizer.from_json(json.loads(meta["seq2seqd.src_tokenizer"]))
    tgt_tok = Tokenizer.from_json(json.loads(meta["seq2seqd.tgt_tokenizer"]))
    eos = exp["cases"][0]["src_tokens"][-1]
    bad_src, bad_txt = [], []
    for c in exp["cases"]:
        pieces = list(src_tok.encode_pieces(c["src"]))
        if not pieces or pieces[-1] != "</s>":
            pieces.append("</s>")
        want = c["src_tokens"][:-1] + ["</s>"] if c["src_tokens"][-1] == eos else c["src_tokens"]
        if pieces != want:
            bad_src.append((c["src"], pieces, want))
        toks = [t for t in c["greedy"]["tokens"] if t != eos]
        text = tgt_tok.detokenize(toks)
        if text != c["greedy"]["text"]:
            bad_txt.append((toks, text, c["greedy"]["text"]))
    ok(not bad_src, "%s: source tokens equal Joey's" % name, bad_src[:3])
    ok(not bad_txt, "%s: detokenized text equals Joey's" % name, bad_txt[:3])
    dec = json.loads(meta.get("seq2seqd.decoding", "{}"))
    ok(dec.get("max_len_a") == exp["decode"]["max_len_a"] and dec.get("max_len_b") == exp["decode"]["max_len_b"],
       "%s: decoding defaults carry Joey's max_output_length rule" % name, dec)


# --------------------------------------------------------------------------
# Refusals.

def copy_variant(src, tmp, name):
    d = os.path.join(tmp, name)
    shutil.copytree(src, d)
    return d


def edit_config(d, fn):
    p = os.path.join(d, "config.yaml")
    with open(p, encoding="utf-8") as f:
        cfg = yaml.safe_load(f)
    fn(cfg)
    with open(p, "w", encoding="utf-8") as f:
        yaml.safe_dump(cfg, f)


def refused(d, argv, needle, name, extra_check=None):
    out = os.path.join(d, "out.safetensors")
    before = set(os.listdir(d))
    r = cli(["joeynmt"] + argv + ["-o", out], d)
    after = set(os.listdir(d))
    good = (r.returncode == 2 and needle in r.stderr and not os.path.exists(out) and before == after
            and all(line.startswith("seq2seq-import: error: ") for line in r.stderr.strip().splitlines()))
    if extra_check is not None:
        good = good and extra_check()
    ok(good, "refused: %s" % name, "rc=%d stderr=%s new files=%s" % (r.returncode, r.stderr.strip(), after - before))


def check_refusals(base, bpe_base, spm_base, tmp):
    std = ["model.ckpt", "--config", "config.yaml"]

    d = copy_variant(base, tmp, "transformer_dec")
    edit_config(d, lambda c: c["model"]["decoder"].update(type="transformer"))
    refused(d, std, "decoder type 'transformer'", "a transformer decoder")
    d = copy_variant(base, tmp, "transformer_enc")
    edit_config(d, lambda c: c["model"]["encoder"].update(type="transformer"))
    refused(d, std, "encoder type 'transformer'", "a transformer encoder")
    d = copy_variant(base, tmp, "no_dec_type")
    edit_config(d, lambda c: c["model"]["decoder"].pop("type"))
    refused(d, std, "builds a transformer decoder", "2.x config without decoder.type (Joey builds a transformer)")
    d = copy_variant(base, tmp, "relu")
    edit_config(d, lambda c: c["model"]["decoder"].update(activation="relu", init_hidden="middle"))
    r = cli(["joeynmt"] + std + ["-o", os.path.join(d, "o.safetensors")], d)
    lines = r.stderr.strip().splitlines()
    ok(r.returncode == 2 and len(lines) == 2 and "activation 'relu'" in r.stderr and "init_hidden 'middle'" in r.stderr,
       "refused: relu activation and unknown init_hidden, one line each", r.stderr)
    d = copy_variant(base, tmp, "moses")
    edit_config(d, lambda c: c["data"]["src"].update(tokenizer_cfg={"pretokenizer": "moses"}, normalize=True))
    refused(d, std, "pretokenizer 'moses'", "Moses pre-tokenization")

    d = copy_variant(base, tmp, "truncated")
    p = os.path.join(d, "model.ckpt")
    data = open(p, "rb").read()
    open(p, "wb").write(data[: len(data) // 2])
    refused(d, std, "not a PyTorch zip file", "a truncated checkpoint")

    d = copy_variant(base, tmp, "tampered")
    p = os.path.join(d, "model.ckpt")
    with zipfile.ZipFile(p) as z:
        items = [(i, z.read(i.filename)) for i in z.infolist()]
    storages = [i for i, _ in items if "/data/" in i.filename]
    victim = max(storages, key=lambda i: i.file_size).filename
    with zipfile.ZipFile(p, "w") as z:
        for info, blob in items:
            z.writestr(info, blob[:-8] if info.filename == victim else blob)
    refused(d, std, "is damaged", "a checkpoint whose tensor storage was cut short")

    d = copy_variant(base, tmp, "malicious")
    marker = os.path.join(d, "PWNED")
    torch.save({"model_state": {}, "evil": fwtest.Evil(marker)}, os.path.join(d, "model.ckpt"))
    refused(d, std, "posix.system", "a pickle that calls os.system (it is not run)",
            extra_check=lambda: not os.path.exists(marker))

    d = copy_variant(base, tmp, "no_vocab")
    os.unlink(os.path.join(d, "src_vocab.txt"))
    refused(d, std, "src vocabulary", "a missing vocabulary file")
    d = copy_variant(base, tmp, "no_vocab_opt")
    refused(d, std + ["--tgt-vocab", "nowhere.txt"], "nowhere.txt: no such file", "a missing --tgt-vocab")

    d = copy_variant(base, tmp, "big_vocab")
    with open(os.path.join(d, "src_vocab.txt"), "a", encoding="utf-8") as f:
        f.write("extra_token\n")
    refused(d, std, "does not belong to this model", "a vocabulary larger than the embedding")

    if bpe_base:
        d = copy_variant(bpe_base, tmp, "bpe_gap")
        codes = [l for l in open(os.path.join(d, "codes.bpe"), encoding="utf-8").read().split("\n")[1:] if l]
        l, r = codes[0].split(" ")
        piece = (l + r)[:-4] if (l + r).endswith("</w>") else l + r + "@@"
        for v in ("src_vocab.txt", "trg_vocab.txt"):
            p = os.path.join(d, v)
            toks = [t for t in open(p, encoding="utf-8").read().split("\n") if t and t != piece]
            open(p, "w", encoding="utf-8").write("\n".join(toks) + "\n")
        refused(d, std, "lacks 1 piece", "BPE codes producing a piece the vocabulary lacks")
    ok(spm_base is not None, "a SentencePiece fixture is present for the vocabulary-gap refusal")
    if spm_base:
        # Drop one normal piece from the source vocabulary (and the matching
        # embedding row would not matter: the gap is found first). Joey's
        # SetVocabulary would then stop using that piece and segment
        # differently; seq2seqd's SentencePiece tokenizer has no such filter.
        d = copy_variant(spm_base, tmp, "spm_gap")
        p = os.path.join(d, "src_vocab.txt")
        toks = open(p, encoding="utf-8").read().split("\n")
        piece = next(t for t in toks[4:] if t.startswith("\u2581") and len(t) > 2)
        open(p, "w", encoding="utf-8").write("\n".join(t for t in toks if t != piece))
        refused(d, std, "src vocabulary lacks 1 piece(s) of the SentencePiece model (e.g. %r)" % piece,
                "a SentencePiece model with a piece the source vocabulary lacks")
        d = copy_variant(spm_base, tmp, "spm_missing_model")
        os.unlink(os.path.join(d, "spm.model"))
        refused(d, std, "SentencePiece model: no such file", "a missing SentencePiece .model file")


def check_v1(base, tmp):
    """The same model described by a Joey NMT 1.x config imports to the same tensors."""
    d = copy_variant(base, tmp, "v1")
    with open(os.path.join(d, "config.yaml"), encoding="utf-8") as f:
        cfg = yaml.safe_load(f)
    c1 = copy.deepcopy(cfg)
    c1["data"] = {"src": "src", "trg": "trg", "level": "word", "lowercase": False, "max_sent_length": 30,
                  "src_vocab": "src_vocab.txt", "trg_vocab": "trg_vocab.txt"}
    c1["model"]["decoder"].pop("type")  # 1.x: recurrent unless said otherwise
    c1["testing"] = {"beam_size": cfg["testing"].get("beam_size", 1), "alpha": cfg["testing"].get("beam_alpha", -1)}
    for side in ("src", "trg"):  # 1.x vocab files hold no specials unless written by Joey
        p = os.path.join(d, "%s_vocab.txt" % side)
        toks = open(p, encoding="utf-8").read().split("\n")
        open(p, "w", encoding="utf-8").write("\n".join(toks[4:]))
    with open(os.path.join(d, "config.yaml"), "w", encoding="utf-8") as f:
        yaml.safe_dump(c1, f)
    a = convert_in_process(base, ["joeynmt", "model.ckpt", "--config", "config.yaml"])
    b = convert_in_process(d, ["joeynmt", "model.ckpt", "--config", "config.yaml"])
    same = (a.cfg == b.cfg and a.src_vocab == b.src_vocab and a.tgt_vocab == b.tgt_vocab
            and set(a.tensors) == set(b.tensors) and all(torch.equal(a.tensors[k], b.tensors[k]) for k in a.tensors)
            and a.src_tok == b.src_tok and a.decoding == b.decoding)
    ok(same, "a Joey NMT 1.x config of the same model imports identically", (a.decoding, b.decoding))
    d2 = copy_variant(d, tmp, "v1bpe")
    edit_config(d2, lambda c: c["data"].update(level="bpe"))
    refused(d2, ["model.ckpt", "--config", "config.yaml"], "--bpe-codes", "a 1.x bpe model without --bpe-codes")


def main():
    tmp = tempfile.mkdtemp(prefix="test-joeynmt-")
    try:
        names = variants()
        ok(len(names) >= 5, "at least five Joey NMT fixtures in %s" % FIXTURES, names)
        base = bpe_base = spm_base = None
        for name in names:
            vdir = os.path.join(FIXTURES, name)
            with open(os.path.join(vdir, "expected.json"), encoding="utf-8") as f:
                exp = json.load(f)
            ok(len(exp["cases"]) >= 100, "%s: at least 100 cases" % name)
            try:
                imp = convert_in_process(vdir, exp["import"])
                check_model(name, exp, imp)
            except (ImportRefused, ValueError, RuntimeError) as e:
                ok(False, "%s: imports and decodes" % name, traceback.format_exc(limit=3) or str(e))
            check_cli(name, vdir, exp, tmp)
            if os.path.isfile(os.path.join(vdir, "codes.bpe")):
                bpe_base = bpe_base or vdir
            elif os.path.isfile(os.path.join(vdir, "spm.model")):
                spm_base = spm_base or vdir
            elif base is None and "bridge" in name:
                base = vdir
        base = base or (os.path.join(FIXTURES, names[0]) if names else None)
        if base:
            check_refusals(base, bpe_base, spm_base, tmp)
            check_v1(base, tmp)
    except Exception:  # a crash is one failing test, not a silent pass
        ok(False, "the test ran to the end", traceback.format_exc())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("1..%d" % len(RESULTS))
    failed = 0
    for i, (good, name, diag, todo) in enumerate(RESULTS, 1):
        print("%s %d - %s%s" % ("ok" if good else "not ok", i, name, " # TODO %s" % todo if todo else ""))
        if not good and diag:
            for line in str(diag).splitlines()[:20]:
                print("# " + line)
        failed += (not good) and not todo
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
