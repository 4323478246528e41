"""Exports a model of the family to the seq2seqd checkpoint format.

    /usr/bin/python3 -m s2s_ref.export run/best.pt out.safetensors --dtype F16 --name en-fr

The training checkpoint (.pt) is a dict with "config", "state_dict",
"src_vocab", "tgt_vocab", "src_tokenizer", "tgt_tokenizer" and optionally
"name", "description", "examples".
"""

import argparse
import json
import sys

import torch

from . import safetensors_io
from .model import Seq2Seq, Seq2SeqConfig
from .tokenizer import Tokenizer

FORMAT_VERSION = "1"


def _json(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def metadata(cfg, src_vocab, tgt_vocab, src_tok, tgt_tok, name=None, description=None, examples=None):
    meta = {
        "seq2seqd.format_version": FORMAT_VERSION,
        "seq2seqd.config": _json(cfg.to_json()),
        "seq2seqd.src_vocab": _json(list(src_vocab)),
        "seq2seqd.tgt_vocab": _json(list(tgt_vocab)),
        "seq2seqd.src_tokenizer": _json(src_tok.to_json()),
        "seq2seqd.tgt_tokenizer": _json(tgt_tok.to_json()),
    }
    if name:
        meta["seq2seqd.name"] = name
    if description:
        meta["seq2seqd.description"] = description
    if examples:
        meta["seq2seqd.examples"] = _json(list(examples))
    return meta


def export(model, cfg, src_vocab, tgt_vocab, src_tok, tgt_tok, path, dtype="F32", name=None,
           description=None, examples=None):
    """Writes `model` (a Seq2Seq) to `path`; tied weights are stored once."""
    if len(src_vocab) != cfg.src_vocab_size or len(tgt_vocab) != cfg.tgt_vocab_size:
        raise ValueError("vocabulary sizes do not match the config")
    tensors = {k: v for k, v in model.state_dict().items()}
    meta = metadata(cfg, src_vocab, tgt_vocab, src_tok, tgt_tok, name, description, examples)
    safetensors_io.save(path, tensors, meta, dtype)


def load_model(path):
    """Loads a checkpoint file back into (Seq2Seq, meta) — the inverse of export."""
    tensors, meta, _ = safetensors_io.load(path)
    cfg = Seq2SeqConfig.from_json(meta["seq2seqd.config"])
    model = Seq2Seq(cfg)
    model.load_state_dict(tensors)
    model.eval()
    return model, meta


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint", help="training checkpoint (.pt)")
    ap.add_argument("output", help="output .safetensors")
    ap.add_argument("--dtype", choices=["F32", "F16", "BF16"], default="F32")
    ap.add_argument("--name")
    ap.add_argument("--description")
    args = ap.parse_args(argv)
    ck = torch.load(args.checkpoint, map_location="cpu")
    cfg = Seq2SeqConfig.from_json(ck["config"])
    model = Seq2Seq(cfg)
    model.load_state_dict(ck["state_dict"])
    export(model, cfg, ck["src_vocab"], ck["tgt_vocab"], Tokenizer.from_json(ck["src_tokenizer"]),
           Tokenizer.from_json(ck["tgt_tokenizer"]), args.output, args.dtype,
           args.name or ck.get("name"), args.description or ck.get("description"), ck.get("examples"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
