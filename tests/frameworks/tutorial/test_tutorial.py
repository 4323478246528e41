#!/usr/bin/python3
"""The `tutorial` importer against the PyTorch tutorial's model classes and
evaluate() (fixtures from gen_tutorial.py), and its refusals; TAP.

Each variant is imported with the CLI, decoded greedily with s2s_ref for the
tutorial's 10 steps, and compared with evaluate(): tokens identical,
log-probabilities and attention within 1e-5. (The tutorial has no beam
search.)
"""

import os
import pickle
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

try:
    import torch
except ImportError as e:  # pragma: no cover
    print("1..0 # SKIP torch not importable (%s)" % e)
    sys.exit(0)

import fwtest  # noqa: E402
from fwtest import MARKER, Evil  # noqa: E402
from tap import Tap  # noqa: E402

class Lang:
    """The tutorial's class, so that its pickles load here (as __main__.Lang)."""


def main():
    tap = Tap()
    tmp = tempfile.mkdtemp(prefix="s2s-tutorial-test.")
    vdirs = fwtest.variants("tutorial")
    attn = next(v for v in vdirs if os.path.basename(v) == "attn")
    out = os.path.join(tmp, "out.safetensors")

    fwtest.run_variants(tap, vdirs, tmp)

    def p(name):
        return os.path.join(attn, name)

    enc_sd, dec_sd = torch.load(p("encoder.pt")), torch.load(p("decoder.pt"))
    langs = [pickle.load(open(p(n), "rb")) for n in ("input_lang.pkl", "output_lang.pkl")]
    two = ["tutorial", "--encoder", p("encoder.pt"), "--decoder", p("decoder.pt")]
    both_langs = ["--input-lang", p("input_lang.pkl"), "--output-lang", p("output_lang.pkl")]

    def save(obj, name):
        path = os.path.join(tmp, name)
        torch.save(obj, path)
        return path

    def single_file():
        path = save({"encoder": enc_sd, "decoder": dec_sd, "input_lang": langs[0], "output_lang": langs[1]},
                    "all.pt")
        from s2s_ref import safetensors_io
        a, b = os.path.join(tmp, "a.safetensors"), os.path.join(tmp, "b.safetensors")
        for argv, o in ((["tutorial", "--checkpoint", path], a), (two + both_langs, b)):
            rc, err = fwtest.run_import(argv + ["-o", o, "--name", "t"])
            assert rc == 0, err
        ta, ma, _ = safetensors_io.load(a)
        tb, mb, _ = safetensors_io.load(b)
        assert ma == mb, "metadata differ"
        assert all(torch.equal(ta[k], tb[k]) for k in tb) and set(ta) == set(tb)
    tap.run("one file holding encoder, decoder and both Langs = the separate files", single_file)

    def max_length():
        import json
        from s2s_ref import safetensors_io
        rc, err = fwtest.run_import(two + both_langs + ["--max-length", "12", "-o", out])
        assert rc == 0, err
        meta = safetensors_io.load(out)[1]
        assert json.loads(meta["seq2seqd.decoding"]) == {"max_len_a": 0, "max_len_b": 12, "max_length": 12}, meta
        os.unlink(out)
    tap.run("--max-length sets the decoding default", max_length)

    def old_decoder():
        H = 32
        sd = dict(dec_sd)
        for k in [k for k in sd if k.startswith("attention.")]:
            del sd[k]
        sd["attn.weight"], sd["attn.bias"] = torch.zeros(10, 2 * H), torch.zeros(10)
        sd["attn_combine.weight"], sd["attn_combine.bias"] = torch.zeros(H, 2 * H), torch.zeros(H)
        sd["gru.weight_ih_l0"] = torch.zeros(3 * H, H)
        fwtest.refused(["tutorial", "--encoder", p("encoder.pt"), "--decoder", save(sd, "old.pt")] + both_langs,
                       tmp, out, "older AttnDecoderRNN", "max_length 10", "absolute source position")
    tap.run("the older AttnDecoderRNN (fixed max_length attention) is refused", old_decoder)

    tap.run("missing Lang file", lambda: fwtest.refused(
        two + ["--input-lang", os.path.join(tmp, "none.pkl"), "--output-lang", p("output_lang.pkl")],
        tmp, out, "none.pkl: no such file"))
    tap.run("no output vocabulary at all", lambda: fwtest.refused(
        two + ["--input-lang", p("input_lang.pkl")], tmp, out, "no output vocabulary"))
    tap.run("Langs swapped: vocabulary size differs from the embedding", lambda: fwtest.refused(
        two + ["--input-lang", p("output_lang.pkl"), "--output-lang", p("input_lang.pkl")], tmp, out,
        "does not belong to this model"))

    def malicious_lang():
        path = os.path.join(tmp, "evil.pkl")
        with open(path, "wb") as f:
            pickle.dump(Evil(), f)
        fwtest.refused(two + ["--input-lang", path, "--output-lang", p("output_lang.pkl")], tmp, out,
                       "system", "never run")
        assert not os.path.exists(os.path.join(tmp, MARKER)), "the pickle's command ran"
    tap.run("malicious Lang pickle refused, its command not run", malicious_lang)

    def malicious_pt():
        sd = dict(enc_sd)
        sd["embedding.weight"] = Evil()
        fwtest.refused(["tutorial", "--encoder", save(sd, "evil.pt"), "--decoder", p("decoder.pt")] + both_langs,
                       tmp, out, "system", "never run")
        assert not os.path.exists(os.path.join(tmp, MARKER)), "the pickle's command ran"
    tap.run("malicious encoder .pt refused, its command not run", malicious_pt)

    def truncated():
        data = open(p("decoder.pt"), "rb").read()
        path = os.path.join(tmp, "trunc.pt")
        open(path, "wb").write(data[:-100])
        fwtest.refused(["tutorial", "--encoder", p("encoder.pt"), "--decoder", path] + both_langs, tmp, out,
                       "trunc.pt")
    tap.run("truncated decoder .pt", truncated)

    def words_must_start_with_sos():
        path = os.path.join(tmp, "words.txt")
        with open(path, "w") as f:
            f.write("".join(langs[0].index2word[i] + "\n" for i in range(2, langs[0].n_words)))
        fwtest.refused(two + ["--src-words", path, "--output-lang", p("output_lang.pkl")], tmp, out,
                       "starts with SOS, EOS")
    tap.run("a word list without SOS, EOS first is refused", words_must_start_with_sos)

    print("1..%d" % tap.n)
    shutil.rmtree(tmp, ignore_errors=True)
    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main())
