#!/usr/bin/python3
"""Builds the benchmark checkpoint (random weights) with the reference module.

    make_bench_model.py --srcdir SRC --out bench-model.safetensors [--dtype F16]

The architecture is the one issue 2 fixes for the benchmark (documented in
docs/benchmarks.md): embedding 256; bidirectional 2-layer LSTM encoder of
256 per direction (K = 512); 1-layer LSTM decoder of 512 with Luong-placed
additive attention (attn_dim 256) and input feeding; linear bridge;
vocabularies of 8000 with char tokenizers over a synthetic alphabet.

decoder.out.bias[</s>] is set to -1e4 so greedy decoding never emits </s>:
every sentence runs exactly max_len_b decoder steps and the FLOP count is
exact. Weights keep PyTorch's default initialisation, seeded.
"""
import argparse
import os
import sys

SPECIALS = ["<pad>", "<unk>", "<s>", "</s>"]
VOCAB = 8000


def synthetic_vocab(n):
    """Specials, the word-start mark, then CJK ideographs: one code point per
    token, so the char tokenizer can spell any of them."""
    return SPECIALS + ["\u2581"] + [chr(0x4E00 + i) for i in range(n - len(SPECIALS) - 1)]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--srcdir", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--dtype", choices=["F32", "F16", "BF16"], default="F32",
                   help="stored element type (the same seeded weights, rounded)")
    args = p.parse_args()
    sys.path.insert(0, os.path.join(args.srcdir, "clients", "python"))
    import torch
    from s2s_ref.export import export
    from s2s_ref.model import Seq2Seq, Seq2SeqConfig
    from s2s_ref.tokenizer import Tokenizer

    cfg = Seq2SeqConfig(
        cell="lstm", emb_dim=256, enc_hidden=256, enc_layers=2, bidirectional=True,
        reverse_source=False, dec_hidden=512, dec_layers=1, bridge="linear",
        attention="additive", attn_placement="luong", attn_dim=256, input_feed=True,
        tie_embeddings=False, src_vocab_size=VOCAB, tgt_vocab_size=VOCAB)
    torch.manual_seed(args.seed)
    model = Seq2Seq(cfg)
    with torch.no_grad():
        model.decoder.out.bias[3] = -1e4  # never </s>: exactly max_len_b steps
    model.eval()
    vocab = synthetic_vocab(VOCAB)
    tok = Tokenizer.from_json({"type": "char", "lowercase": False, "split_punct": False})
    export(model, cfg, vocab, vocab, tok, tok, args.out, dtype=args.dtype, name="bench",
           description="seq2seqd benchmark model: random weights, never emits </s>")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
