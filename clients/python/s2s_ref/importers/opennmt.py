"""OpenNMT-py RNN checkpoints (.pt of OpenNMT-py 2.x and 3.x).

Reads the checkpoint onmt_train saves ({"model", "generator", "vocab", "opt"})
without running code from it: OpenNMT-py and torchtext objects become inert
records, and nothing of OpenNMT-py is imported. Supported: encoder_type
rnn/brnn, rnn_type LSTM/GRU, global_attention dot/general/mlp/none,
input_feed (InputFeedRNNDecoder) or not (StdRNNDecoder), bridge,
share_embeddings, share_decoder_embeddings, the source/target vocabularies
(<blank> becomes <pad>, special tokens are moved to ids 0-3), and
tokenization: whitespace, or the sentencepiece / bpe (subword-nmt)
transforms with the model/codes file. docs/importing.md lists every option.
"""

import os

import torch

from .common import NEVER_BIAS, ImportRefused, Imported, check_rows, refuse_if, remap_vocab, safe_torch_load, take_rows

STAND_INS = ("onmt.", "torchtext.")


def add_arguments(p):
    p.add_argument("checkpoint", help="the OpenNMT-py checkpoint (model_step_N.pt)")
    p.add_argument("--src-subword-model", metavar="FILE",
                   help="the source side's SentencePiece .model or subword-nmt codes file (default: "
                        "the path in the checkpoint's options, if that file exists)")
    p.add_argument("--tgt-subword-model", metavar="FILE", help="likewise for the target side")
    p.add_argument("--beam-size", type=int, default=None,
                   help="default beam size stored in the model (default: 5 for 2.x checkpoints, whose "
                        "onmt_translate defaults seq2seqd reproduces; 1 for 3.x, whose default "
                        "length_penalty avg seq2seqd does not have)")


def _opt(opt, name, default=None):
    if isinstance(opt, dict):
        return opt.get(name, default)
    return getattr(opt, name, default)


def _refusals(opt, sd):
    """Every reason this checkpoint cannot be served, one line each."""
    o = lambda k, d=None: _opt(opt, k, d)
    r = []
    enc = o("encoder_type", "rnn")
    dec = o("decoder_type", "rnn")
    if enc not in ("rnn", "brnn"):
        r.append("encoder_type %s is not supported (only rnn and brnn: seq2seqd serves RNN models)" % enc)
    if dec != "rnn":
        r.append("decoder_type %s is not supported (only rnn)" % dec)
    rnn = o("rnn_type", "LSTM")
    if rnn not in ("LSTM", "GRU"):
        r.append("rnn_type %s is not supported (LSTM or GRU)" % rnn)
    att = o("global_attention", "general")
    if att not in ("dot", "general", "mlp", "none", None):
        r.append("global_attention %s is not supported" % att)
    if o("global_attention_function", "softmax") != "softmax":
        r.append("global_attention_function %s (sparsemax attention) is not supported"
                 % o("global_attention_function"))
    if o("generator_function", "softmax") != "softmax":
        r.append("generator_function %s (sparsemax output) is not supported" % o("generator_function"))
    if o("coverage_attn", False):
        r.append("coverage_attn (coverage attention) is not supported")
    if o("context_gate", None):
        r.append("context_gate %s is not supported" % o("context_gate"))
    if o("copy_attn", False):
        r.append("copy_attn (copy attention / pointer-generator) is not supported")
    if o("lambda_coverage", 0.0):
        r.append("lambda_coverage (coverage loss) is not supported")
    if o("lambda_align", 0.0):
        r.append("lambda_align (guided alignment heads) is not supported")
    if o("position_encoding", False):
        r.append("position_encoding is not supported")
    if o("n_src_feats", 0) or o("src_feats", None) or any(".emb_luts.1." in k for k in sd):
        r.append("source features (src_feats / n_src_feats) are not supported")
    if o("feat_merge", "concat") != "concat" and any(".emb_luts.1." in k for k in sd):
        r.append("feat_merge %s is not supported" % o("feat_merge"))
    if o("model_task", "seq2seq") not in ("seq2seq", None):
        r.append("model_task %s is not supported (seq2seq only)" % o("model_task"))
    if o("lora_layers", []) or o("lora_embedding", False):
        r.append("LoRA layers are not supported")
    if att in ("none", None) and o("input_feed", 1):
        r.append("global_attention none with input_feed is not supported (the decoder would feed its "
                 "RNN output back; seq2seqd feeds only attentional vectors)")
    if any(k.startswith("encoder.embeddings.make_embedding.mlp") or
           k.startswith("decoder.embeddings.make_embedding.mlp") for k in sd):
        r.append("feat_merge mlp embeddings are not supported")
    if any(".pe." in k or k.endswith(".pe") for k in sd):
        r.append("position_encoding is not supported")
    return r


def _itos(v, side, path):
    """A v3 token list, or a v2 torchtext field / (name, field) list -> token list."""
    if isinstance(v, list) and all(isinstance(t, str) for t in v):
        return v
    f = v
    if isinstance(f, list):  # OpenNMT-py 1.x-style [(name, field), ...]
        f = f[0][1] if f and isinstance(f[0], tuple) else None
    for _ in range(3):  # TextMultiField -> its base torchtext Field
        fields = getattr(f, "fields", None) if f is not None else None
        if not fields:
            break
        f = fields[0][1] if isinstance(fields[0], tuple) else fields[0]
    vocab = getattr(f, "vocab", None) if f is not None else None
    itos = getattr(vocab, "itos", None) if vocab is not None else None
    if not isinstance(itos, list) or not all(isinstance(t, str) for t in itos):
        raise ImportRefused("checkpoint %s: its %s vocabulary is neither a token list (OpenNMT-py 3) "
                            "nor a torchtext field with itos (OpenNMT-py 2)" % (path, side))
    return itos


def _vocabs(ck, path):
    voc = ck.get("vocab")
    if isinstance(voc, list):  # [(name, field)]
        voc = {k: v for k, v in voc if isinstance(k, str)}
    if not isinstance(voc, dict) or "src" not in voc or "tgt" not in voc:
        raise ImportRefused("checkpoint %s has no src/tgt vocabulary" % path)
    reasons = []
    if voc.get("src_feats"):
        reasons.append("source features (src_feats) are not supported")
    if voc.get("data_task", "seq2seq") != "seq2seq":
        reasons.append("data_task %s is not supported (seq2seq only)" % voc.get("data_task"))
    start = voc.get("decoder_start_token", "<s>")
    if start not in ("<s>",):
        reasons.append("decoder_start_token %r is not supported (only <s>)" % start)
    refuse_if(reasons)
    return _itos(voc["src"], "source", path), _itos(voc["tgt"], "target", path)


def _remap(tokens, what):
    idx = {}
    for i, t in enumerate(tokens):
        idx.setdefault(t, i)
    pad = idx.get("<blank>", idx.get("<pad>"))
    vocab, order = remap_vocab(tokens, pad=pad, unk=idx.get("<unk>"), bos=idx.get("<s>"),
                               eos=idx.get("</s>"), what=what)
    return vocab, order


def _tokenizer(side, args, opt, ckdir):
    """The tokenizer JSON for one side: whitespace, sentencepiece or subword-nmt."""
    transforms = list(_opt(opt, "transforms", []) or [])
    given = getattr(args, side + "_subword_model", None)
    kinds = [t for t in transforms if t in ("sentencepiece", "bpe", "onmt_tokenize")]
    unsupported = [t for t in transforms if t not in ("sentencepiece", "bpe", "filtertoolong", "prefix",
                                                      "suffix")]
    other = [t for t in unsupported if t != "onmt_tokenize"]
    refuse_if(["transform %s is not supported (supported: sentencepiece, bpe; filtertoolong is "
               "ignored: it only filters training data)" % t for t in ([] if side == "tgt" else other)])
    if "onmt_tokenize" in transforms:
        raise ImportRefused("transform onmt_tokenize (pyonmttok) is not supported; use sentencepiece or bpe")
    if len(kinds) > 1:
        raise ImportRefused("transforms %s together are not supported" % ", ".join(kinds))
    kind = kinds[0] if kinds else None
    if kind is None:
        if given:
            kind = "sentencepiece" if _is_spm(given) else "bpe"
        else:
            return {"type": "whitespace", "lowercase": False, "preprocess": "none"}
    path = given or _opt(opt, side + "_subword_model")
    if not given and path and not os.path.isabs(path):
        path = os.path.join(ckdir, path) if os.path.exists(os.path.join(ckdir, path)) else path
    flag = "--%s-subword-model" % side
    if not path:
        raise ImportRefused("the checkpoint uses the %s transform but names no %s subword model: pass %s"
                            % (kind, side, flag))
    if not os.path.isfile(path):
        raise ImportRefused("%s subword model %s (%s transform): no such file; pass %s"
                            % (side, path, kind, flag))
    try:
        if kind == "sentencepiece":
            from ..spm import load_sentencepiece_model
            return load_sentencepiece_model(path)
        from ..subword_nmt import load_subword_nmt_codes
        return load_subword_nmt_codes(path)
    except ImportError:
        raise ImportRefused("this s2s_ref has no %s tokenizer" % kind) from None
    except ValueError as e:
        raise ImportRefused(str(e) or "%s: unreadable" % path) from None


def _is_spm(path):
    """A SentencePiece .model (binary protobuf) rather than subword-nmt codes (text)."""
    if path.endswith(".model"):
        return True
    try:
        with open(path, "rb") as f:
            f.read(4096).decode("utf-8")
    except UnicodeDecodeError:
        return True
    except OSError:
        return False
    return False


def _get(sd, name, path):
    t = sd.get(name)
    if not isinstance(t, torch.Tensor):
        raise ImportRefused("checkpoint %s: tensor %s is missing" % (path, name))
    return t.detach().to(torch.float32)


def convert(args):
    path = args.checkpoint
    ck = safe_torch_load(path, STAND_INS, what="checkpoint")
    if not isinstance(ck, dict) or "model" not in ck or "opt" not in ck:
        raise ImportRefused("checkpoint %s is not an OpenNMT-py checkpoint (no model/opt entries)" % path)
    opt, sd = ck["opt"], ck["model"]
    gen = ck.get("generator") or {}
    if not isinstance(sd, dict) or not isinstance(gen, dict):
        raise ImportRefused("checkpoint %s: model/generator are not state dicts" % path)
    refuse_if(_refusals(opt, sd))
    src_tokens, tgt_tokens = _vocabs(ck, path)
    version = 3 if isinstance(ck["vocab"], dict) and isinstance(ck["vocab"].get("src"), list) else 2
    o = lambda k, d=None: _opt(opt, k, d)
    cell = {"LSTM": "lstm", "GRU": "gru"}[o("rnn_type", "LSTM")]
    brnn = o("encoder_type", "rnn") == "brnn" or bool(o("brnn", False))
    att = o("global_attention", "general") or "none"
    feed = bool(o("input_feed", 1))
    enc_layers, dec_layers = int(o("enc_layers", 1)), int(o("dec_layers", 1))
    bridge = bool(o("bridge", False))

    src_vocab, src_order = _remap(src_tokens, "source vocabulary")
    tgt_vocab, tgt_order = _remap(tgt_tokens, "target vocabulary")
    enc_emb = _get(sd, "encoder.embeddings.make_embedding.emb_luts.0.weight", path)
    dec_emb = _get(sd, "decoder.embeddings.make_embedding.emb_luts.0.weight", path)
    check_rows(enc_emb, len(src_tokens), "encoder embedding", "source vocabulary")
    check_rows(dec_emb, len(tgt_tokens), "decoder embedding", "target vocabulary")
    E = enc_emb.shape[1]
    if dec_emb.shape[1] != E:
        raise ImportRefused("source and target embeddings differ in size (%d, %d); seq2seqd has one emb_dim"
                            % (E, dec_emb.shape[1]))
    H = _get(sd, "encoder.rnn.weight_hh_l0", path).shape[1]
    dec_name = "decoder.rnn.layers.%d.weight_hh" if feed else "decoder.rnn.weight_hh_l%d"
    D = _get(sd, dec_name % 0, path).shape[1]
    K = H * (2 if brnn else 1)
    # OpenNMT-py starts the decoder from the encoder's final state, layer by
    # layer ([fwd; bwd] per layer): it needs matching layers and sizes.
    refuse_if([] if enc_layers == dec_layers and D == K else
              ["encoder (%d layers x %d) and decoder (%d layers x %d) do not match; OpenNMT-py "
               "itself cannot run such a model" % (enc_layers, K, dec_layers, D)])

    t = {"encoder.embedding.weight": take_rows(enc_emb, src_order),
         "decoder.embedding.weight": take_rows(dec_emb, tgt_order)}
    for k in range(enc_layers):
        for suf in ("",) + (("_reverse",) if brnn else ()):
            for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                n = "encoder.rnn.%s_l%d%s" % (w, k, suf)
                t[n] = _get(sd, n, path)
    for k in range(dec_layers):
        for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            src_name = ("decoder.rnn.layers.%d.%s" % (k, w)) if feed else ("decoder.rnn.%s_l%d" % (w, k))
            t["decoder.rnn.%s_l%d" % (w, k)] = _get(sd, src_name, path)
    cfg = {"cell": cell, "emb_dim": E, "enc_hidden": H, "enc_layers": enc_layers,
           "bidirectional": brnn, "reverse_source": False, "dec_hidden": D, "dec_layers": dec_layers,
           "bridge": "last", "attention": "none", "attn_placement": "luong", "attn_dim": D,
           "input_feed": feed and att != "none", "tie_embeddings": False,
           "src_vocab_size": len(src_vocab), "tgt_vocab_size": len(tgt_vocab)}
    if bridge:
        _bridge(sd, path, cell, brnn, enc_layers, H, cfg, t)
    if att != "none":
        _attention(sd, path, att, cfg, t)
    _generator(gen, sd, path, tgt_order, tgt_tokens, D, E, cfg, t)

    ckdir = os.path.dirname(os.path.abspath(path))
    src_tok = _tokenizer("src", args, opt, ckdir)
    tgt_tok = _tokenizer("tgt", args, opt, ckdir)
    # onmt_translate's defaults (docs/importing.md): 3.x max_length 250 and
    # max_length_ratio 1.25 (min(250, int(1.25 n + 5))), 2.x max_length 100.
    if version == 3:
        decoding = {"beam_size": 1, "max_len_a": 1.25, "max_len_b": 5, "max_length": 250,
                    "length_penalty": 0}
    else:
        decoding = {"beam_size": 5, "max_len_a": 0, "max_len_b": 100, "max_length": 100,
                    "length_penalty": 0}
    if args.beam_size is not None:
        if args.beam_size < 1:
            raise ImportRefused("--beam-size must be at least 1")
        decoding["beam_size"] = args.beam_size
    return Imported(cfg=cfg, tensors=t, src_vocab=src_vocab, tgt_vocab=tgt_vocab, src_tok=src_tok,
                    tgt_tok=tgt_tok, name=os.path.splitext(os.path.basename(path))[0],
                    description="imported from OpenNMT-py %d.x checkpoint %s" % (version, os.path.basename(path)),
                    decoding=decoding)


def _bridge(sd, path, cell, brnn, L, H, cfg, t):
    """OpenNMT-py's bridge: Linear(L*H, L*H) + ReLU on chunks of L*H of the
    flattened final state (h_n order), i.e. a block-diagonal weight with one
    copy of W per direction (docs/importing.md)."""
    dirs = 2 if brnn else 1
    parts = [("bridge", 0)] + ([("bridge_c", 1)] if cell == "lstm" else [])
    for ours, i in parts:
        w = _get(sd, "encoder.bridge.%d.weight" % i, path)
        b = _get(sd, "encoder.bridge.%d.bias" % i, path)
        if tuple(w.shape) != (L * H, L * H):
            raise ImportRefused("encoder.bridge.%d.weight has shape %s, expected [%d, %d]"
                                % (i, list(w.shape), L * H, L * H))
        t[ours + ".weight"] = torch.block_diag(*([w] * dirs))
        t[ours + ".bias"] = torch.cat([b] * dirs)
    cfg.update(bridge="linear", bridge_input="all", bridge_activation="relu")
    if cell == "lstm":
        cfg["bridge_cell"] = "linear"


def _attention(sd, path, att, cfg, t):
    p = "decoder.attn."
    cfg["attention"] = {"dot": "dot", "general": "general", "mlp": "additive"}[att]
    if att == "general":
        t["decoder.attention.linear_in.weight"] = _get(sd, p + "linear_in.weight", path).t().contiguous()
    elif att == "mlp":
        # v · tanh(W_q q + b_q + W_k m): our key bias takes linear_query's bias.
        t["decoder.attention.query.weight"] = _get(sd, p + "linear_query.weight", path)
        t["decoder.attention.key.weight"] = _get(sd, p + "linear_context.weight", path)
        t["decoder.attention.key.bias"] = _get(sd, p + "linear_query.bias", path)
        t["decoder.attention.v.weight"] = _get(sd, p + "v.weight", path)
        t["decoder.attention_out.bias"] = _get(sd, p + "linear_out.bias", path)
        cfg.update(attn_out_bias=True, attn_out_activation="none")
    t["decoder.attention_out.weight"] = _get(sd, p + "linear_out.weight", path)


def _generator(gen, sd, path, order, tokens, D, E, cfg, t):
    """Linear (+ LogSoftmax in 2.x): weight/bias or 0.weight/0.bias."""
    w = gen.get("weight", gen.get("0.weight"))
    b = gen.get("bias", gen.get("0.bias"))
    if not isinstance(w, torch.Tensor) or not isinstance(b, torch.Tensor):
        raise ImportRefused("checkpoint %s: the generator is not a Linear layer (weight and bias); "
                            "a copy generator or a custom one is not supported" % path)
    extra = sorted(k for k in gen if k not in ("weight", "bias", "0.weight", "0.bias"))
    refuse_if(["checkpoint %s: unexpected generator tensor %s" % (path, k) for k in extra[:5]])
    check_rows(w, len(tokens), "generator weight", "target vocabulary")
    check_rows(b, len(tokens), "generator bias", "target vocabulary")
    dec_emb = sd["decoder.embeddings.make_embedding.emb_luts.0.weight"].to(torch.float32)
    tied = E == D and w.shape == dec_emb.shape and torch.equal(w.to(torch.float32), dec_emb)
    if tied:
        cfg["tie_embeddings"] = True
    else:
        t["decoder.out.weight"] = take_rows(w, order)
    t["decoder.out.bias"] = take_rows(b.view(-1, 1), order, NEVER_BIAS).view(-1)
