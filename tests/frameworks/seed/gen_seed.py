#!/usr/bin/python3
"""Builds the `seed` importer's fixtures: the seed text's own Seq2Seq class
(shared/seed/000_d5b0ed404367df06.txt), and its dot attention wired as the
text describes, trained briefly on sentence reversal; then what those
classes decode for 120 sentences.

    OMP_NUM_THREADS=1 /usr/bin/python3 tests/frameworks/seed/gen_seed.py OUTDIR

`Seq2Seq` below is the seed's class as printed (plus a `layers` argument and
a choice of cell). The seed has no decoding loop; `greedy` runs the class's
own modules one step at a time exactly as its forward() runs them (emb ->
decoder with the carried state -> out), arg-max each step, from the BOS
token until EOS or max(1, min(256, 2n + 10)) steps (docs/checkpoint-format.md
§7 defaults, so the request options are the daemon's defaults).
`Seq2SeqDot` adds the seed's `attention(s_prev, enc_h)` function verbatim:
the previous decoder state (top layer) scores every encoder output, the
context goes into the decoder RNN with the embedding (input 2 * dim).

Variants written to OUTDIR/<variant>/ (model.pt = torch.save(state_dict),
vocab.txt = one token per line):
  lstm             LSTM, 1 layer, no attention; the vocabulary starts
                   <pad> <sos> <eos> <unk> (imported with --bos/--eos)
  lstm_dot_2layer  LSTM, 2 layers, dot attention; vocabulary starts
                   <s> </s> <unk> <pad>
  gru_dot          GRU, 1 layer, dot attention, embedding 24 != hidden 32,
                   no <unk> or <pad> in the vocabulary (--unk '' --pad '')
Sentences where the top two outputs of a step are within 1e-4 are dropped
(the count is printed).
"""

import json
import math
import os
import random
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

TIE = 1e-4
WORDS = ("red green blue black white cat dog bird fish horse one two three four five "
         "big small old new fast slow we they see eat").split()


# -- the seed's classes ------------------------------------------------------

class Seq2Seq(nn.Module):
    def __init__(self, vocab, dim=64, layers=1, cell=nn.LSTM, emb_dim=None):
        super().__init__()
        self.emb = nn.Embedding(vocab, emb_dim or dim)
        self.encoder = cell(emb_dim or dim, dim, layers, batch_first=True)
        self.decoder = cell(emb_dim or dim, dim, layers, batch_first=True)
        self.out = nn.Linear(dim, vocab)

    def forward(self, src, tgt):
        _, state = self.encoder(self.emb(src))  # encode: keep only final state as the "summary"
        dec, _ = self.decoder(self.emb(tgt), state)  # init decoder with the summary
        return self.out(dec)  # predict the next word at each step


def attention(s_prev, enc_h):  # s_prev:(B,d) decoder prev step; enc_h:(B,T,d) all source words
    score = (enc_h * s_prev.unsqueeze(1)).sum(-1)  # (1) score (B,T)
    alpha = F.softmax(score, dim=-1)  # (2) normalize to weights summing to 1
    ctx = (alpha.unsqueeze(-1) * enc_h).sum(1)  # (3) weighted sum (B,d)
    return ctx, alpha  # alpha also visualizes "which word the model is looking at"


class Seq2SeqDot(nn.Module):
    def __init__(self, vocab, dim=64, layers=1, cell=nn.LSTM, emb_dim=None):
        super().__init__()
        e = emb_dim or dim
        self.emb = nn.Embedding(vocab, e)
        self.encoder = cell(e, dim, layers, batch_first=True)
        self.decoder = cell(e + dim, dim, layers, batch_first=True)
        self.out = nn.Linear(dim, vocab)

    def step(self, y, state, enc_h):
        s_prev = (state[0] if isinstance(state, tuple) else state)[-1]
        ctx, alpha = attention(s_prev, enc_h)
        dec, state = self.decoder(torch.cat([self.emb(y), ctx.unsqueeze(1)], -1), state)
        return self.out(dec), state, alpha

    def forward(self, src, tgt):
        enc_h, state = self.encoder(self.emb(src))
        outs = []
        for t in range(tgt.shape[1]):
            logits, state, _ = self.step(tgt[:, t:t + 1], state, enc_h)
            outs.append(logits)
        return torch.cat(outs, 1)


@torch.no_grad()
def greedy(model, src_ids, bos, eos, max_steps):
    """-> ids, per-step log-prob vectors, per-step attention rows (or None)."""
    enc_h, state = model.encoder(model.emb(torch.tensor([src_ids])))
    y, ids, logps, attn = bos, [], [], []
    for _ in range(max_steps):
        inp = torch.tensor([[y]])
        if isinstance(model, Seq2SeqDot):
            logits, state, alpha = model.step(inp, state, enc_h)
            attn.append(alpha[0].tolist())
        else:
            dec, state = model.decoder(model.emb(inp), state)
            logits = model.out(dec)
        lp = F.log_softmax(logits[0, 0], -1)
        y = int(torch.argmax(lp))
        ids.append(y)
        logps.append(lp)
        if y == eos:
            break
    return ids, logps, (attn if isinstance(model, Seq2SeqDot) else None)


# -- data and training -------------------------------------------------------

def make_vocab(head):
    return list(head) + WORDS


def train(model, vocab, bos, eos, seconds, seed):
    """Reversal of 3-7 random words; one source length per batch (no padding)."""
    rng = random.Random(seed)
    idx = {w: i for i, w in enumerate(vocab)}
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    t0, steps = time.time(), 0
    model.train()
    while time.time() - t0 < seconds:
        n = rng.randint(3, 7)
        src = [[idx[rng.choice(WORDS)] for _ in range(n)] for _ in range(32)]
        tgt = [s[::-1] + [eos] for s in src]
        src_t = torch.tensor(src)
        tgt_in = torch.tensor([[bos] + t[:-1] for t in tgt])
        logits = model(src_t, tgt_in)
        # label smoothing keeps log-probabilities above ~-15, where a float32
        # ulp is small next to the 1e-5 tolerance of the comparison
        loss = F.cross_entropy(logits.reshape(-1, len(vocab)), torch.tensor(tgt).reshape(-1),
                               label_smoothing=0.1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps += 1
    model.eval()
    return steps, float(loss), time.time() - t0


def sentences(rng, n, unknown):
    out = []
    for i in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(2, 8))]
        if unknown and i % 10 == 0:
            words[rng.randrange(len(words))] = "zebra"  # not in the vocabulary: <unk>
        out.append(" ".join(words))
    return out


def write_variant(outdir, name, model, vocab, specials, import_args, texts):
    d = os.path.join(outdir, name)
    os.makedirs(d, exist_ok=True)
    torch.save(model.state_dict(), os.path.join(d, "model.pt"))
    with open(os.path.join(d, "vocab.txt"), "w") as f:
        f.write("".join(t + "\n" for t in vocab))
    idx = {w: i for i, w in enumerate(vocab)}
    rename = {specials[k]: std for k, std in (("pad", "<pad>"), ("unk", "<unk>"), ("bos", "<s>"),
                                              ("eos", "</s>")) if specials.get(k)}
    unk = idx.get(specials.get("unk"))
    cases, dropped = [], 0
    for text in texts:
        words = text.split()
        if unk is None and any(w not in idx for w in words):
            continue
        src = [idx.get(w, unk) for w in words]
        T = max(1, min(256, int(math.floor(2.0 * len(src))) + 10))
        ids, logps, attn = greedy(model, src, idx[specials["bos"]], idx[specials["eos"]], T)
        if any(float(torch.topk(lp, 2).values[0] - torch.topk(lp, 2).values[1]) < TIE for lp in logps):
            dropped += 1
            continue
        toks = [rename.get(vocab[i], vocab[i]) for i in ids]
        case = {"src": text, "src_tokens": words,
                "greedy": {"tokens": toks, "text": " ".join(t for t in toks if t not in ("<pad>", "<s>", "</s>")),
                           "attention": attn}}
        if len(cases) < 10:
            case["logprobs"] = [lp.tolist() for lp in logps]
        cases.append(case)
    exp = {"framework": "the seed's Seq2Seq class (shared/seed/000_d5b0ed404367df06.txt), torch %s"
                        % torch.__version__,
           "import": ["seed", "model.pt", "--vocab", "vocab.txt"] + import_args,
           "decode": {"beam_size": 1, "max_len_a": 2.0, "max_len_b": 10, "max_length": 256,
                      "length_penalty": 0},
           "beam": None,
           "logprobs_vocab": [rename.get(t, t) for t in vocab],
           "cases": cases}
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump(exp, f, separators=(",", ":"))
        f.write("\n")
    print("%s: %d cases, %d dropped for near ties" % (name, len(cases), dropped))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: gen_seed.py OUTDIR")
    outdir = sys.argv[1]
    seconds = float(os.environ.get("GEN_SEED_SECONDS", "30"))
    rng = random.Random(5)
    texts = sentences(rng, 125, unknown=True)
    plans = [
        ("lstm", Seq2Seq, dict(dim=32, layers=1, cell=nn.LSTM), ["<pad>", "<sos>", "<eos>", "<unk>"],
         {"pad": "<pad>", "unk": "<unk>", "bos": "<sos>", "eos": "<eos>"}, ["--bos", "<sos>", "--eos", "<eos>"]),
        ("lstm_dot_2layer", Seq2SeqDot, dict(dim=32, layers=2, cell=nn.LSTM), ["<s>", "</s>", "<unk>", "<pad>"],
         {"pad": "<pad>", "unk": "<unk>", "bos": "<s>", "eos": "</s>"}, ["--attention", "dot"]),
        ("gru_dot", Seq2SeqDot, dict(dim=32, layers=1, cell=nn.GRU, emb_dim=24), ["<s>", "</s>"],
         {"bos": "<s>", "eos": "</s>"}, ["--attention", "dot", "--unk", "", "--pad", ""]),
    ]
    for i, (name, cls, kw, head, specials, args) in enumerate(plans):
        torch.manual_seed(100 + i)
        vocab = make_vocab(head)
        model = cls(len(vocab), **kw)
        steps, loss, took = train(model, vocab, vocab.index(specials["bos"]), vocab.index(specials["eos"]),
                                  seconds, i)
        print("%s: %d steps, loss %.3f, %.1f s" % (name, steps, loss, took))
        write_variant(outdir, name, model, vocab, specials, args, texts)


if __name__ == "__main__":
    main()
