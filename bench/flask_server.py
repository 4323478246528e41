#!/usr/bin/env python3
"""bench/flask_server.py MODEL.safetensors PORT - the baseline of `make bench-http`:
the same checkpoint served the way OpenNMT-py's REST server serves a model.

Like onmt/bin/server.py: a Flask app whose POST {root}/translate takes a JSON
list of {"src": ..., "id": ...} and answers [[{"src", "tgt", "n_best",
"pred_score"}, ...]], run under waitress (its default 4 threads), with one
lock around the model so one translation runs at a time (OpenNMT-py's
ServerModel takes a one-slot semaphore around every run). Each request is
translated on its own: tokenized, then decoded by the PyTorch reference
module (clients/python/s2s_ref) with seq2seqd's default options (greedy,
max_len_a 2, max_len_b 10, max_length 256), then detokenized. PyTorch keeps
its default thread count, as a user's server would. GET /health answers once
the model is loaded. Written for the benchmark; no code from OpenNMT-py.

Needs python3-flask, python3-waitress, python3-torch (Debian).
"""
import json
import os
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "clients", "python"))

import torch  # noqa: E402
from flask import Flask, jsonify, request  # noqa: E402
from waitress import serve  # noqa: E402

from s2s_ref.export import load_model  # noqa: E402
from s2s_ref.model import EOS, UNK  # noqa: E402
from s2s_ref.tokenizer import Tokenizer  # noqa: E402


DEFAULTS = {"max_len_a": 2.0, "max_len_b": 10, "max_len": 256}


def load(path):
    model, meta = load_model(path)
    src_tok = Tokenizer.from_json(json.loads(meta["seq2seqd.src_tokenizer"]))
    tgt_tok = Tokenizer.from_json(json.loads(meta["seq2seqd.tgt_tokenizer"]))
    src_index = {t: i for i, t in enumerate(json.loads(meta["seq2seqd.src_vocab"]))}
    tgt_vocab = json.loads(meta["seq2seqd.tgt_vocab"])
    return model, src_tok, tgt_tok, src_index, tgt_vocab


def make_app(path, root="/translator"):
    model, src_tok, tgt_tok, src_index, tgt_vocab = load(path)
    lock = threading.Lock()
    app = Flask(__name__)

    def translate_one(src):
        ids = [src_index.get(p, UNK) for p in src_tok.encode_pieces(src)] or [UNK]
        with torch.no_grad():
            hyp = model.greedy([ids], **DEFAULTS)[0]
        text = tgt_tok.detokenize([tgt_vocab[i] for i in hyp["ids"] if i > EOS])
        return text, float(hyp["score"])

    @app.route(root + "/translate", methods=["POST"])
    def translate():
        inputs = request.get_json(force=True)
        out = []
        with lock:
            for item in inputs:
                tgt, score = translate_one(item["src"])
                out.append({"src": item["src"], "tgt": tgt, "n_best": 1, "pred_score": score})
        return jsonify([out])

    @app.route(root + "/health", methods=["GET"])
    def health():
        return jsonify({"status": "ok"})

    return app


def main(argv):
    if len(argv) != 3:
        print(__doc__.split("\n")[0], file=sys.stderr)
        return 2
    app = make_app(argv[1])
    serve(app, host="127.0.0.1", port=int(argv[2]), _quiet=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
