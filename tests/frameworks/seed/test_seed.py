#!/usr/bin/python3
"""The `seed` importer against the seed's own classes (fixtures from
gen_seed.py), and its refusals; TAP for `make check`.

Each variant is imported with the CLI as a user would (python3 -m
s2s_ref.importers seed ...), decoded greedily with s2s_ref, and compared with
what the seed's classes decoded: tokens identical, log-probabilities and
attention within 1e-5. (The seed has no beam search of its own.)
"""

import os
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

def main():
    tap = Tap()
    tmp = tempfile.mkdtemp(prefix="s2s-seed-test.")
    vdirs = fwtest.variants("seed")
    lstm = next(v for v in vdirs if os.path.basename(v) == "lstm")
    plain_sd = torch.load(os.path.join(lstm, "model.pt"))
    dot = next(v for v in vdirs if os.path.basename(v) == "lstm_dot_2layer")
    out = os.path.join(tmp, "out.safetensors")

    fwtest.run_variants(tap, vdirs, tmp)

    def save(sd, name):
        path = os.path.join(tmp, name)
        torch.save(sd, path)
        return path

    def vocab_lines(n, name="vocab.txt"):
        path = os.path.join(tmp, name)
        toks = open(os.path.join(lstm, "vocab.txt")).read().split("\n")[:-1]
        with open(path, "w") as f:
            f.write("".join(t + "\n" for t in toks[:n]))
        return path

    base = ["--bos", "<sos>", "--eos", "<eos>"]
    model_pt = os.path.join(lstm, "model.pt")
    tap.run("missing vocabulary file", lambda: fwtest.refused(
        ["seed", model_pt, "--vocab", os.path.join(tmp, "nope.txt")] + base, tmp, out, "nope.txt: no such file"))
    tap.run("vocabulary shorter than the embedding", lambda: fwtest.refused(
        ["seed", model_pt, "--vocab", vocab_lines(20)] + base, tmp, out, "does not belong to this model"))
    tap.run("a special token that is not in the vocabulary", lambda: fwtest.refused(
        ["seed", model_pt, "--vocab", os.path.join(lstm, "vocab.txt")], tmp, out, "no token '<s>' for bos"))

    def truncated():
        data = open(model_pt, "rb").read()
        path = os.path.join(tmp, "trunc.pt")
        open(path, "wb").write(data[: len(data) // 2])
        fwtest.refused(["seed", path, "--vocab", os.path.join(lstm, "vocab.txt")] + base, tmp, out,
                       "trunc.pt is not a PyTorch zip file")
    tap.run("truncated .pt", truncated)

    def malicious():
        sd = dict(plain_sd)
        sd["emb.weight"] = Evil()
        path = save(sd, "evil.pt")
        fwtest.refused(["seed", path, "--vocab", os.path.join(lstm, "vocab.txt")] + base, tmp, out,
                       "system", "never run")
        assert not os.path.exists(os.path.join(tmp, MARKER)), "the pickle's command ran"
    tap.run("malicious pickle refused, its command not run", malicious)

    def extra_layer():
        sd = dict(plain_sd)
        sd["coverage.weight"] = torch.zeros(3, 3)
        fwtest.refused(["seed", save(sd, "extra.pt"), "--vocab", os.path.join(lstm, "vocab.txt")] + base,
                       tmp, out, "coverage.weight [3, 3] is not used")
    tap.run("an extra layer is refused, not dropped", extra_layer)

    tap.run("a decoder fed a context needs --attention dot", lambda: fwtest.refused(
        ["seed", os.path.join(dot, "model.pt"), "--vocab", os.path.join(dot, "vocab.txt")], tmp, out,
        "pass --attention dot"))
    tap.run("--attention dot on a model without it", lambda: fwtest.refused(
        ["seed", model_pt, "--vocab", os.path.join(lstm, "vocab.txt"), "--attention", "dot"] + base, tmp, out,
        "decoder input is 32, expected 64"))

    def bidirectional():
        sd = dict(plain_sd)
        for k in list(sd):
            if k.startswith("encoder."):
                sd[k + "_reverse"] = sd[k]
        fwtest.refused(["seed", save(sd, "bi.pt"), "--vocab", os.path.join(lstm, "vocab.txt")] + base,
                       tmp, out, "bidirectional")
    tap.run("bidirectional encoder refused", bidirectional)

    def nested_and_no_bias():
        # A dict holding the state_dict, and LSTMs built with bias=False.
        sd = {k: v for k, v in plain_sd.items() if "bias_" not in k}
        path = save({"epoch": 3, "model_state_dict": sd}, "nested.pt")
        rc, err = fwtest.run_import(["seed", path, "--vocab", os.path.join(lstm, "vocab.txt"), "-o", out] + base)
        assert rc == 0, err
        from s2s_ref.export import load_model
        model, _ = load_model(out)
        assert float(model.state_dict()["encoder.rnn.bias_ih_l0"].abs().max()) == 0.0
        os.unlink(out)
    tap.run("state_dict inside a dict; bias=False RNNs get zero biases", nested_and_no_bias)

    def mode():
        rc, err = fwtest.run_import(["seed", model_pt, "--vocab", os.path.join(lstm, "vocab.txt"), "-o", out] + base)
        assert rc == 0, err
        m = os.stat(out).st_mode & 0o777
        umask = os.umask(0)
        os.umask(umask)
        assert m == 0o666 & ~umask, "mode %o" % m
        os.unlink(out)
    tap.run("the written checkpoint has a normal file mode, not 0600", mode)

    print("1..%d" % tap.n)
    shutil.rmtree(tmp, ignore_errors=True)
    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main())
