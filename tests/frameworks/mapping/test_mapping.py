#!/usr/bin/python3
"""The `mapping` importer; TAP for `make check`.

* The seed and tutorial presets as mapping files (seed_lstm_dot_2layer.json,
  tutorial_attn.json, written by the presets' --save-mapping): importing the
  committed seed/tutorial fixtures through them gives the same tensors and
  metadata as the presets, and the presets still write exactly these files.
* custom_luong.json maps a hand-written model defined below (a fused LSTM
  gate matrix in another gate order, a transposed attention weight, an
  attentional layer reading [h; c], an output tied to the target embedding,
  two biases summed, vocabularies with their own special-token spellings and
  order): s2s_ref decodes what that model's own loop decodes, log-probs and
  attention within 1e-5.
* The refusals: unknown keys, missing and unexpected tensors, an entry that
  does not exist, an unused entry, a shape mismatch, a bad expression, a
  special token missing from its vocabulary; nothing is written.
"""

import json
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:  # pragma: no cover
    print("1..0 # SKIP torch not importable (%s)" % e)
    sys.exit(0)

import fwtest  # noqa: E402
from tap import Tap  # noqa: E402

E, H, D = 10, 6, 10
K = 2 * H


class Lang:
    """The tutorial's class, so that its pickles load here (as __main__.Lang)."""


class TrainOptions:
    """Saved next to the weights, as training scripts do; read as an inert record."""

    def __init__(self):
        self.lr = 0.1


class CustomLuong(nn.Module):
    def __init__(self, vs, vt):
        super().__init__()
        self.src_emb = nn.Embedding(vs, E)
        self.tgt_emb = nn.Embedding(vt, E)
        self.enc = nn.LSTM(E, H, batch_first=True, bidirectional=True)
        self.init = nn.Linear(K, D)
        self.dec_W = nn.Linear(E + D + D, 4 * D)      # [emb; feed; h] -> gates i, f, o, g
        self.attn_W = nn.Parameter(torch.empty(K, D))  # score_j = m_j . (attn_W h)
        self.combine = nn.Linear(D + K, D, bias=False)  # tanh(combine([h; ctx]))
        self.out_bias = nn.Parameter(torch.empty(vt))
        self.out_bias_delta = nn.Parameter(torch.empty(vt))
        self.register_buffer("step_count", torch.zeros(1))

    @torch.no_grad()
    def greedy(self, src, bos, eos, steps):
        mem, (h_n, _) = self.enc(self.src_emb(torch.tensor([src])))
        h = torch.tanh(self.init(torch.cat([h_n[0], h_n[1]], -1)))
        c = torch.zeros_like(h)
        feed = torch.zeros(1, D)
        y, ids, logps, attn = bos, [], [], []
        for _ in range(steps):
            x = torch.cat([self.tgt_emb(torch.tensor([y])), feed, h], -1)
            i, f, o, g = self.dec_W(x).chunk(4, -1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            a = torch.softmax(mem[0] @ (self.attn_W @ h[0]), 0)
            ctx = a @ mem[0]
            feed = torch.tanh(self.combine(torch.cat([h, ctx[None]], -1)))
            lp = F.log_softmax(F.linear(feed, self.tgt_emb.weight, self.out_bias + self.out_bias_delta)[0], -1)
            y = int(lp.argmax())
            ids.append(y)
            logps.append(lp)
            attn.append(a)
            if y == eos:
                break
        return ids, logps, attn


def write_lines(path, lines):
    with open(path, "w") as f:
        f.write("".join(t + "\n" for t in lines))


def custom_files(tmp):
    torch.manual_seed(7)
    src_words = ["<unk>", "<blank>"] + list("abcdefghij")
    tgt_words = ["<unk>", "<blank>", "<bos>", "<eos>"] + list("klmnopqrst")
    m = CustomLuong(len(src_words), len(tgt_words))
    with torch.no_grad():
        for p in m.parameters():
            p.uniform_(-0.8, 0.8)
    torch.save({"model": m.state_dict(), "opts": TrainOptions()}, os.path.join(tmp, "custom.pt"))
    write_lines(os.path.join(tmp, "src.vocab"), src_words)
    write_lines(os.path.join(tmp, "tgt.vocab"), ["%s\t%d" % (w, 100 - i) for i, w in enumerate(tgt_words)])
    shutil.copy(os.path.join(HERE, "custom_luong.json"), os.path.join(tmp, "custom_luong.json"))
    return m, src_words, tgt_words


def main():
    tap = Tap()
    tmp = tempfile.mkdtemp(prefix="s2s-mapping-test.")
    out = os.path.join(tmp, "out.safetensors")
    fx = os.path.dirname(fwtest.variants("seed")[0])
    tut = os.path.dirname(fwtest.variants("tutorial")[0])
    from s2s_ref import safetensors_io

    def same_checkpoint(a, b):
        ta, ma, _ = safetensors_io.load(a)
        tb, mb, _ = safetensors_io.load(b)
        for k in ("seq2seqd.description", "seq2seqd.name"):
            ma.pop(k, None)
            mb.pop(k, None)
        assert ma == mb, "metadata differ: %s" % sorted(k for k in ma if ma.get(k) != mb.get(k))
        assert set(ta) == set(tb) and all(torch.equal(ta[k], tb[k]) for k in ta), "tensors differ"

    def preset_equals_mapping(preset_argv, mapping_argv, committed):
        a, b, saved = (os.path.join(tmp, n) for n in ("preset.safetensors", "mapping.safetensors", "saved.json"))
        rc, err = fwtest.run_import(preset_argv + ["--save-mapping", saved, "-o", a])
        assert rc == 0, err
        assert json.load(open(saved)) == json.load(open(committed)), \
            "the preset's --save-mapping differs from %s" % committed
        rc, err = fwtest.run_import(["mapping", committed] + mapping_argv + ["-o", b])
        assert rc == 0, err
        same_checkpoint(a, b)

    v = os.path.join(fx, "lstm_dot_2layer")
    tap.run("seed preset = mapping file seed_lstm_dot_2layer.json", lambda: preset_equals_mapping(
        ["seed", os.path.join(v, "model.pt"), "--vocab", os.path.join(v, "vocab.txt"), "--attention", "dot"],
        ["--checkpoint", os.path.join(v, "model.pt"), "--src-vocab", os.path.join(v, "vocab.txt")],
        os.path.join(HERE, "seed_lstm_dot_2layer.json")))
    t = os.path.join(tut, "attn")
    words = os.path.join(tmp, "in.words"), os.path.join(tmp, "out.words")

    def tutorial():
        import pickle
        # The Langs' index2word as word lists (what --src-words takes).
        for name, path in zip(("input_lang.pkl", "output_lang.pkl"), words):
            lang = pickle.load(open(os.path.join(t, name), "rb"))
            write_lines(path, [lang.index2word[i] for i in range(lang.n_words)])
        preset_equals_mapping(
            ["tutorial", "--encoder", os.path.join(t, "encoder.pt"), "--decoder", os.path.join(t, "decoder.pt"),
             "--src-words", words[0], "--tgt-words", words[1]],
            ["--checkpoint", "encoder.=" + os.path.join(t, "encoder.pt"),
             "--checkpoint", "decoder.=" + os.path.join(t, "decoder.pt"),
             "--src-vocab", words[0], "--tgt-vocab", words[1]],
            os.path.join(HERE, "tutorial_attn.json"))
    tap.run("tutorial preset = mapping file tutorial_attn.json", tutorial)

    model, src_words, tgt_words = custom_files(tmp)
    mapping = os.path.join(tmp, "custom_luong.json")

    def custom():
        from s2s_ref.export import load_model
        rc, err = fwtest.run_import(["mapping", mapping, "--checkpoint", os.path.join(tmp, "custom.pt"), "-o", out])
        assert rc == 0, err
        ours, meta = load_model(out)
        vocab_t = json.loads(meta["seq2seqd.tgt_vocab"])
        vocab_s = json.loads(meta["seq2seqd.src_vocab"])
        assert vocab_s[:6] == ["<pad>", "<unk>", "<s>", "</s>", "a", "b"], vocab_s
        fw_order = [vocab_t.index({"<blank>": "<pad>", "<bos>": "<s>", "<eos>": "</s>"}.get(w, w))
                    for w in tgt_words]
        gen = torch.Generator().manual_seed(3)
        worst, n, ties = [0.0, 0.0], 0, 0
        for _ in range(60):
            length = int(torch.randint(1, 9, (1,), generator=gen))
            src = torch.randint(2, len(src_words), (length,), generator=gen).tolist()
            steps = int(1.5 * length) + 4
            ids, logps, attn = model.greedy(src, 2, 3, steps)
            if any(float(lp.topk(2).values[0] - lp.topk(2).values[1]) < 1e-4 for lp in logps):
                ties += 1
                continue
            hyp = ours.greedy([[vocab_s.index(src_words[i]) for i in src]], 1.5, 4, 256, record_logits=True)[0]
            assert [vocab_t[i] for i in hyp["ids"]] == [vocab_t[fw_order[i]] for i in ids]
            lp = torch.log_softmax(torch.tensor(hyp["logits"]), 1)[:, fw_order]
            worst[0] = max(worst[0], fwtest.maxdiff(lp, torch.stack(logps), "logprobs"))
            worst[1] = max(worst[1], fwtest.maxdiff(hyp["attention"], torch.stack(attn), "attention"))
            n += 1
        assert n >= 50 and max(worst) <= fwtest.TOL, (n, worst)
        print("# custom: %d sentences (%d near ties skipped), max |d| logprobs %.3g attention %.3g"
              % (n, ties, worst[0], worst[1]))
        assert json.loads(meta["seq2seqd.decoding"]) == {"max_len_a": 1.5, "max_len_b": 4}
        os.unlink(out)
    tap.run("custom_luong.json: s2s_ref decodes as the model's own loop", custom)

    def bad(edit, *needles):
        def run():
            m = json.load(open(os.path.join(HERE, "custom_luong.json")))
            edit(m)
            path = os.path.join(tmp, "bad.json")
            json.dump(m, open(path, "w"))
            fwtest.refused(["mapping", path, "--checkpoint", os.path.join(tmp, "custom.pt")], tmp, out, *needles)
        return run

    def setk(d, k, v):
        d[k] = v

    tap.run("unknown top-level key", bad(lambda m: setk(m, "tensor", {}), "unknown key 'tensor'"))
    tap.run("unknown key in an expression", bad(
        lambda m: setk(m["tensors"], "bridge.bias", {"entry": "init.bias", "scale": 2}), "unknown key 'scale'"))
    tap.run("unknown config key", bad(lambda m: setk(m["config"], "hidden", 3), "config is not valid"))
    tap.run("missing tensor", bad(lambda m: m["tensors"].pop("bridge.bias"), "missing tensor bridge.bias [10]"))
    tap.run("tensor the config does not have", bad(
        lambda m: setk(m["tensors"], "decoder.attention.v.weight", "init.bias"), "decoder.attention.v.weight is not part"))
    tap.run("entry that does not exist", bad(
        lambda m: setk(m["tensors"], "bridge.bias", "init.biass"), "no entry 'init.biass'"))
    tap.run("unused entry, not ignored", bad(lambda m: setk(m, "ignore", []), "step_count [1] is not used"))
    tap.run("shape mismatch", bad(
        lambda m: setk(m["tensors"], "bridge.weight", {"transpose": "init.weight"}),
        "bridge.weight: the mapping gives shape [12, 10], the config needs [10, 12]"))
    tap.run("range outside the tensor", bad(
        lambda m: setk(m["tensors"], "decoder.out.bias", {"rows": "out_bias", "ranges": [[0, 99]]}), "outside the 14 rows"))
    tap.run("special token not in the vocabulary", bad(
        lambda m: setk(m["tgt_vocab"]["specials"], "bos", "<go>"), "no token '<go>' for bos"))
    tap.run("unknown special-token key", bad(
        lambda m: setk(m["tgt_vocab"]["specials"], "sep", "x"), "unknown key 'sep'"))
    tap.run("missing vocabulary file", bad(
        lambda m: setk(m["src_vocab"], "file", "nope.vocab"), "nope.vocab: no such file"))
    tap.run("several reasons at once, one line each", bad(
        lambda m: (m["tensors"].pop("bridge.bias"), m["tensors"].pop("bridge.weight")),
        "missing tensor bridge.bias", "\nseq2seq-import: error: mapping %s: missing tensor bridge.weight"
        % os.path.join(tmp, "bad.json")))
    tap.run("stand-in class not allowed", bad(lambda m: m.pop("stand_ins"), "__main__.TrainOptions"))

    print("1..%d" % tap.n)
    shutil.rmtree(tmp, ignore_errors=True)
    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main())
