"""Joey NMT recurrent models: a checkpoint (.ckpt) with its config.yaml and vocabulary files.

    seq2seq-import joeynmt model_dir/best.ckpt --config model_dir/config.yaml -o model.safetensors

Reads Joey NMT 2.x and 1.x checkpoints of RecurrentEncoder + RecurrentDecoder
models (GRU or LSTM, bahdanau or luong attention, init_hidden bridge, last or
zero, input feeding on or off, tied embeddings and softmax, embedding scale)
with word-level, subword-nmt BPE or SentencePiece tokenization. The checkpoint is read
without running code from it. What is refused, and how Joey's decoding
differs from seq2seqd's, is in docs/importing.md ("Joey NMT").
"""

import math
import os

import torch

from .common import ImportRefused, Imported, check_rows, refuse_if, remap_vocab, safe_torch_load

# Joey NMT's own defaults (joeynmt/config.py _check_special_symbols; 1.x
# constants.py): the vocabulary starts with these, in this order.
JOEY_SPECIALS = (("unk", "<unk>", 0), ("pad", "<pad>", 1), ("bos", "<s>", 2), ("eos", "</s>", 3))


def add_arguments(p):
    p.add_argument("checkpoint", help="Joey NMT checkpoint (.ckpt, e.g. model_dir/best.ckpt)")
    p.add_argument("--config", help="the model's config.yaml (default: config.yaml beside the checkpoint)")
    p.add_argument("--src-vocab", help="source vocabulary file (default: the config's, else src_vocab.txt "
                                       "beside the config)")
    p.add_argument("--tgt-vocab", help="target vocabulary file (default: the config's, else trg_vocab.txt "
                                       "beside the config)")
    p.add_argument("--bpe-codes", help="subword-nmt codes file: overrides the config's tokenizer_cfg.codes; "
                                       "needed for Joey NMT 1.x models with level 'bpe'")


# --------------------------------------------------------------------------
# Files.

def _load_yaml(path):
    import yaml
    if not os.path.isfile(path):
        raise ImportRefused("config %s: no such file (give it with --config)" % path)
    try:
        with open(path, encoding="utf-8") as f:
            cfg = yaml.safe_load(f)
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ImportRefused("config %s is not valid YAML: %s" % (path, str(e).splitlines()[0])) from None
    if not isinstance(cfg, dict) or not isinstance(cfg.get("model"), dict) or not isinstance(cfg.get("data"), dict):
        raise ImportRefused("config %s is not a Joey NMT config (no 'model' and 'data' sections)" % path)
    return cfg


def _resolve(given, cfg_dir, fallback, what, option):
    """A path named in the config: as given (relative to the working directory,
    as Joey does), else relative to the config's directory, else the file
    Joey copies into its model directory."""
    tried = []
    if given:
        for p in (given, os.path.join(cfg_dir, given), os.path.join(cfg_dir, os.path.basename(given))):
            tried.append(p)
            if os.path.isfile(p):
                return p
    if fallback:
        p = os.path.join(cfg_dir, fallback)
        tried.append(p)
        if os.path.isfile(p):
            return p
    raise ImportRefused("%s: no such file (tried %s); give it with %s" % (what, ", ".join(dict.fromkeys(tried)), option))


def _read_vocab(path, v1):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError:
        raise ImportRefused("vocabulary %s is not UTF-8" % path) from None
    if v1:  # 1.x: `for line in open(file): line.strip("\n")`
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        return lines
    return [line.rstrip("\n") for line in text.splitlines()]  # 2.x read_list_from_file


def _joey_itos(file_tokens, specials):
    """Joey's Vocabulary: specials first, then the file's tokens, first occurrence wins."""
    itos, seen = [], set()
    for t in list(specials) + file_tokens:
        if t not in seen:
            seen.add(t)
            itos.append(t)
    return itos


# --------------------------------------------------------------------------
# Configuration checks: one line per reason.

def _model_reasons(m):
    enc, dec = m.get("encoder") or {}, m.get("decoder") or {}
    r = []
    if enc.get("type", "recurrent") != "recurrent":
        r.append("encoder type %r: only recurrent encoders are supported (transformers are refused)" % enc.get("type"))
    if dec.get("type", "transformer" if m.get("_v2") else "recurrent") != "recurrent":
        r.append("decoder type %r: only recurrent decoders are supported (transformers are refused; "
                 "Joey NMT 2.x builds a transformer decoder when decoder.type is not given)"
                 % dec.get("type", "transformer"))
    if r:
        return r
    for side, c in (("encoder", enc), ("decoder", dec)):
        if c.get("rnn_type", "gru") not in ("gru", "lstm"):
            r.append("%s rnn_type %r: Joey NMT builds an LSTM for anything but 'gru'; write 'lstm' "
                     "if that is what was trained" % (side, c.get("rnn_type")))
    if enc.get("rnn_type", "gru") != dec.get("rnn_type", "gru"):
        r.append("encoder rnn_type %r differs from decoder rnn_type %r: seq2seqd uses one cell type"
                 % (enc.get("rnn_type", "gru"), dec.get("rnn_type", "gru")))
    if not enc.get("bidirectional", True):
        r.append("encoder bidirectional false: Joey NMT's RecurrentEncoder itself fails on a "
                 "unidirectional RNN (it reads the backward final state)")
    if dec.get("attention", "bahdanau") not in ("bahdanau", "luong"):
        r.append("decoder attention %r: only 'bahdanau' and 'luong' exist in Joey NMT" % dec.get("attention"))
    if dec.get("init_hidden", "bridge") not in ("bridge", "last", "zero", "zeros"):
        r.append("decoder init_hidden %r is unknown: supported are bridge, last and zero" % dec.get("init_hidden"))
    if dec.get("activation", "tanh") != "tanh":
        r.append("decoder activation %r: only tanh is supported (it is used in the attentional "
                 "layer, which seq2seqd computes with tanh or nothing)" % dec.get("activation"))
    return r


def _tok_reasons(d, side):
    r = []
    level = d.get("level")
    if level not in ("word", "bpe"):
        r.append("data.%s.level %r: supported are 'word' and 'bpe' (Joey's char level marks "
                 "spaces differently from seq2seqd's char tokenizer)" % (side, level))
    if d.get("normalize"):
        r.append("data.%s.normalize true: Joey's Unicode normalization and space squeezing "
                 "are not supported" % side)
    tc = d.get("tokenizer_cfg") or {}
    if str(tc.get("pretokenizer", "none")).lower() != "none":
        r.append("data.%s.tokenizer_cfg.pretokenizer %r: Moses pre-tokenization is not "
                 "supported" % (side, tc.get("pretokenizer")))
    if level == "bpe":
        kind = d.get("tokenizer_type", d.get("bpe_type", "sentencepiece"))
        if kind == "sentencepiece" and d.get("lowercase"):
            r.append("data.%s.lowercase true with sentencepiece: seq2seqd's SentencePiece tokenizer "
                     "does not lowercase" % side)
        elif kind not in ("sentencepiece", "subword-nmt"):
            r.append("data.%s.tokenizer_type %r is unknown to Joey NMT" % (side, kind))
    return r


# --------------------------------------------------------------------------
# subword-nmt codes.

def _bpe_vocab_gaps(codes, version, vocab, sep):
    """Pieces the codes can produce that the vocabulary lacks. Joey 2.x gives
    its vocabulary to subword-nmt, which splits such pieces again; seq2seqd's
    tokenizer has no vocabulary filter, so the two agree only without gaps."""
    gaps = []
    for l, r in codes:
        m = l + r
        if m.endswith("</w>"):
            forms = [m[:-4]]
        elif version == (0, 1):
            forms = [m + sep, m]
        else:
            forms = [m + sep]
        gaps += [f for f in forms if f not in vocab]
    return gaps


# --------------------------------------------------------------------------
# The conversion.

def _specials_v2(data):
    ss = dict(data.get("special_symbols") or {})
    out = {}
    for key, tok, i in JOEY_SPECIALS:
        out[key] = (ss.get(key + "_token", tok), ss.get(key + "_id", i))
    reasons = []
    if ss.get("sep_token"):
        reasons.append("data.special_symbols.sep_token %r: prompts are not supported" % ss["sep_token"])
    if ss.get("lang_tags"):
        reasons.append("data.special_symbols.lang_tags: multilingual tags are not supported")
    return out, reasons


def _vocabs(args, cfg, cfg_dir, v1):
    data = cfg["data"]
    if v1:
        specials = {k: (t, i) for k, t, i in JOEY_SPECIALS}
        given = (data.get("src_vocab"), data.get("trg_vocab"))
        reasons = []
    else:
        specials, reasons = _specials_v2(data)
        given = ((data.get("src") or {}).get("voc_file"), (data.get("trg") or {}).get("voc_file"))
    refuse_if(reasons)
    names = [specials[k][0] for k in ("unk", "pad", "bos", "eos")]
    out = []
    for side, opt, g, fb, what in (("src", args.src_vocab, given[0], "src_vocab.txt", "--src-vocab"),
                                   ("trg", args.tgt_vocab, given[1], "trg_vocab.txt", "--tgt-vocab")):
        path = opt if opt else _resolve(g, cfg_dir, fb, "%s vocabulary" % side, what)
        if not os.path.isfile(path):
            raise ImportRefused("%s vocabulary %s: no such file" % (side, path))
        itos = _joey_itos(_read_vocab(path, v1), names)
        # Joey asserts that each configured id is where its token landed.
        bad = [k for k in ("unk", "pad", "bos", "eos") if itos.index(specials[k][0]) != specials[k][1]]
        refuse_if(["%s vocabulary: special token %r has id %d in Joey's vocabulary, the config says %s "
                   "(Joey NMT itself refuses this)" % (side, specials[k][0], itos.index(specials[k][0]),
                                                       specials[k][1]) for k in bad])
        out.append((path, itos))
    ids = {k: specials[k][1] for k in specials}
    return out, ids


def _tokenizer(args, d, side, cfg_dir, v1, lowercase, itos):
    """seq2seqd's tokenizer JSON for one side; `d` is Joey's data.src / data.trg
    (2.x) or the data section (1.x)."""
    if d.get("level", "word") == "word":
        return {"type": "whitespace", "lowercase": lowercase, "preprocess": "none"}
    if v1 and not args.bpe_codes:
        raise ImportRefused("Joey NMT 1.x level 'bpe' reads text that was segmented beforehand: give "
                            "the subword-nmt codes file with --bpe-codes")
    tc = d.get("tokenizer_cfg") or {}
    kind = "subword-nmt" if v1 else d.get("tokenizer_type", d.get("bpe_type", "sentencepiece"))
    if kind == "sentencepiece":
        return _spm_tokenizer(tc, side, cfg_dir, itos)
    path = args.bpe_codes or _resolve(tc.get("codes"), cfg_dir, None, "%s BPE codes" % side, "--bpe-codes")
    if not os.path.isfile(path):
        raise ImportRefused("BPE codes %s: no such file" % path)
    from ..subword_nmt import load_subword_nmt_codes
    sep = tc.get("separator", "@@")
    try:
        tok = load_subword_nmt_codes(path, separator=sep, lowercase=lowercase)
    except ValueError as e:
        raise ImportRefused(str(e)) from None
    if not v1:
        gaps = _bpe_vocab_gaps(tok["codes"], tuple(tok["version"]), set(itos[4:]), sep)
        if gaps:
            raise ImportRefused("%s vocabulary lacks %d piece(s) the BPE codes can produce (e.g. %s): Joey "
                                "NMT re-splits those with subword-nmt's vocabulary filter, which seq2seqd "
                                "does not have" % (side, len(gaps), ", ".join(repr(g) for g in gaps[:3])))
    return tok


def _spm_tokenizer(tc, side, cfg_dir, itos):
    """Joey 2.x SentencePieceTokenizer: spm.encode(text), after SetVocabulary(itos)."""
    path = _resolve(tc.get("model_file"), cfg_dir, None, "%s SentencePiece model" % side,
                    "a tokenizer_cfg.model_file path that exists")
    from ..spm import load_sentencepiece_model
    try:
        tok = load_sentencepiece_model(path)
    except ValueError as e:
        raise ImportRefused(str(e)) from None
    vocab = set(itos)
    # SetVocabulary makes every normal piece missing from Joey's vocabulary
    # unusable, which changes the segmentation; seq2seqd's tokenizer uses
    # every piece, so the two agree only when none is missing.
    gaps = [p for p, _, kind in tok["pieces"] if kind in ("normal", "user_defined") and p not in vocab]
    if gaps:
        raise ImportRefused("%s vocabulary lacks %d piece(s) of the SentencePiece model (e.g. %s): Joey NMT "
                            "restricts SentencePiece to its vocabulary, which seq2seqd does not"
                            % (side, len(gaps), ", ".join(repr(g) for g in gaps[:3])))
    return tok


def _decoding(cfg, v1):
    t = cfg.get("testing") or {}
    tr = cfg.get("training") or {}
    mol = t.get("max_output_length", tr.get("max_output_length") if v1 else None)
    if mol is None or mol < 0:
        dec = {"max_len_a": 1.5, "max_len_b": 0}
    else:
        dec = {"max_len_a": 0, "max_len_b": int(mol)}
    beam = int(t.get("beam_size", 1) or 1)
    alpha = t.get("beam_alpha", t.get("alpha", -1))
    dec["max_length"] = 4096  # Joey has no cap; 4096 is the most a request may ask
    dec["beam_size"] = max(1, beam)
    dec["length_penalty"] = float(alpha) if alpha is not None and alpha > 0 else 0
    n_best = int(t.get("n_best", 1) or 1)
    if n_best > 1:
        dec["n_best"] = n_best
    return dec


def convert(args):
    ckpt_path = args.checkpoint
    cfg_path = args.config or os.path.join(os.path.dirname(os.path.abspath(ckpt_path)), "config.yaml")
    cfg = _load_yaml(cfg_path)
    cfg_dir = os.path.dirname(os.path.abspath(cfg_path))
    data, m = cfg["data"], cfg["model"]
    v1 = not isinstance(data.get("src"), dict)
    m = dict(m, _v2=not v1)
    reasons = _model_reasons(m)
    if v1:
        if data.get("level", "word") == "char":
            reasons.append("data.level 'char' is not supported")
    else:
        for side in ("src", "trg"):
            reasons += _tok_reasons(data.get(side) or {}, side)
    refuse_if(reasons)

    ((_, src_itos), (_, trg_itos)), ids = _vocabs(args, cfg, cfg_dir, v1)
    if v1:
        lc = bool(data.get("lowercase", False))
        src_tok = _tokenizer(args, data, "src", cfg_dir, True, lc, src_itos)
        tgt_tok = _tokenizer(args, data, "trg", cfg_dir, True, lc, trg_itos)
    else:
        src_tok = _tokenizer(args, data["src"], "src", cfg_dir, False, bool(data["src"].get("lowercase")), src_itos)
        tgt_tok = _tokenizer(args, data["trg"], "trg", cfg_dir, False, bool(data["trg"].get("lowercase")), trg_itos)
    src_tok["append_eos"] = True  # Joey appends </s> to every source (2.x sentences_to_ids eos=True; 1.x Field eos_token)

    ckpt = safe_torch_load(ckpt_path, stand_ins=("joeynmt.",), what="checkpoint")
    state = ckpt.get("model_state") if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ImportRefused("checkpoint %s has no 'model_state' dictionary of tensors: not a Joey NMT "
                            "checkpoint" % ckpt_path)
    try:
        return _build(cfg, m, state, src_itos, trg_itos, ids, src_tok, tgt_tok, ckpt_path)
    except (KeyError, TypeError, ValueError) as e:
        raise ImportRefused("config %s: a missing or malformed model entry (%s: %s)"
                            % (cfg_path, type(e).__name__, e)) from None


def _get(state, name, shape=None):
    if name not in state:
        raise ImportRefused("checkpoint lacks tensor %s that the config's model has" % name)
    t = state[name].detach().to(torch.float32)
    if shape is not None and list(t.shape) != list(shape):
        raise ImportRefused("checkpoint tensor %s has shape %s, the config's model needs %s"
                            % (name, list(t.shape), list(shape)))
    return t


def _build(cfg, m, state, src_itos, trg_itos, ids, src_tok, tgt_tok, ckpt_path):
    enc, dec = m["encoder"], m["decoder"]
    cell = "gru" if enc.get("rnn_type", "gru") == "gru" else "lstm"
    G = 3 if cell == "gru" else 4
    H, D = int(enc["hidden_size"]), int(dec["hidden_size"])
    Le, Ld = int(enc.get("num_layers", 1)), int(dec.get("num_layers", 1))
    K = 2 * H
    init = dec.get("init_hidden", "bridge")
    att = dec.get("attention", "bahdanau")
    feed = bool(dec.get("input_feeding", True))
    tied_emb, tied_sm = bool(m.get("tied_embeddings")), bool(m.get("tied_softmax"))
    src_scale = bool((enc.get("embeddings") or {}).get("scale"))
    trg_scale = src_scale if tied_emb else bool((dec.get("embeddings") or {}).get("scale"))

    if tied_emb and src_itos != trg_itos:
        raise ImportRefused("tied_embeddings: the source and target vocabularies differ (Joey NMT "
                            "itself refuses this)")
    if init == "last" and K not in (D, 2 * D):
        raise ImportRefused("init_hidden last: encoder output size %d is neither the decoder's hidden "
                            "size %d nor twice it (Joey NMT itself refuses this)" % (K, D))

    s_emb = _get(state, "src_embed.lut.weight")
    t_emb = _get(state, "trg_embed.lut.weight") if not tied_emb else s_emb
    check_rows(s_emb, len(src_itos), "src_embed.lut.weight", "source vocabulary")
    check_rows(t_emb, len(trg_itos), "trg_embed.lut.weight", "target vocabulary")
    E = s_emb.shape[1]
    if t_emb.shape[1] != E:
        raise ImportRefused("source embedding size %d differs from target embedding size %d" % (E, t_emb.shape[1]))
    src_vocab, s_order = remap_vocab(src_itos, pad=ids["pad"], unk=ids["unk"], bos=ids["bos"], eos=ids["eos"],
                                     what="source vocabulary")
    tgt_vocab, t_order = remap_vocab(trg_itos, pad=ids["pad"], unk=ids["unk"], bos=ids["bos"], eos=ids["eos"],
                                     what="target vocabulary")

    def emb_rows(w, order, scale):
        w = w[order]
        if scale:
            # Joey: lut(x) * math.sqrt(dim) on float32 rows; the same product here gives the same bits.
            w = w * math.sqrt(E)
        return w

    T = {}
    T["encoder.embedding.weight"] = emb_rows(s_emb, s_order, src_scale)
    T["decoder.embedding.weight"] = emb_rows(t_emb, t_order, trg_scale)
    for k in range(Le):
        inp = E if k == 0 else K
        for sfx in ("", "_reverse"):
            T["encoder.rnn.weight_ih_l%d%s" % (k, sfx)] = _get(state, "encoder.rnn.weight_ih_l%d%s" % (k, sfx), [G * H, inp])
            T["encoder.rnn.weight_hh_l%d%s" % (k, sfx)] = _get(state, "encoder.rnn.weight_hh_l%d%s" % (k, sfx), [G * H, H])
            for b in ("bias_ih", "bias_hh"):
                T["encoder.rnn.%s_l%d%s" % (b, k, sfx)] = _get(state, "encoder.rnn.%s_l%d%s" % (b, k, sfx), [G * H])
    for k in range(Ld):
        inp = (E + (D if feed else 0)) if k == 0 else D
        T["decoder.rnn.weight_ih_l%d" % k] = _get(state, "decoder.rnn.weight_ih_l%d" % k, [G * D, inp])
        T["decoder.rnn.weight_hh_l%d" % k] = _get(state, "decoder.rnn.weight_hh_l%d" % k, [G * D, D])
        for b in ("bias_ih", "bias_hh"):
            T["decoder.rnn.%s_l%d" % (b, k)] = _get(state, "decoder.rnn.%s_l%d" % (b, k), [G * D])

    # Attention: Joey attends after the RNN step (luong placement).
    if att == "bahdanau":
        T["decoder.attention.query.weight"] = _get(state, "decoder.attention.query_layer.weight", [D, D])
        T["decoder.attention.key.weight"] = _get(state, "decoder.attention.key_layer.weight", [D, K])
        T["decoder.attention.key.bias"] = torch.zeros(D)
        T["decoder.attention.v.weight"] = _get(state, "decoder.attention.energy_layer.weight", [1, D])
    else:
        T["decoder.attention.linear_in.weight"] = _get(state, "decoder.attention.key_layer.weight", [D, K])
    # att_vector_layer reads [query; context]; seq2seqd's attention_out reads [context; query].
    w = _get(state, "decoder.att_vector_layer.weight", [D, D + K])
    T["decoder.attention_out.weight"] = torch.cat([w[:, D:], w[:, :D]], 1)
    T["decoder.attention_out.bias"] = _get(state, "decoder.att_vector_layer.bias", [D])

    # Output layer: no bias in Joey. With tied_softmax and no scale it is the
    # target embedding itself, stored once; with a scale the embedding rows
    # were pre-scaled, so the projection keeps its own (unscaled) copy.
    out_w = _get(state, "decoder.output_layer.weight", [len(trg_itos), D])
    tie = tied_sm and not trg_scale and torch.equal(out_w, t_emb)
    if not tie:
        T["decoder.out.weight"] = out_w[t_order]
    T["decoder.out.bias"] = torch.zeros(len(tgt_vocab))

    cfg_out = {"cell": cell, "emb_dim": int(E), "enc_hidden": H, "enc_layers": Le, "bidirectional": True,
               "dec_hidden": D, "dec_layers": Ld, "attention": "additive" if att == "bahdanau" else "general",
               "attn_placement": "luong", "attn_dim": D, "input_feed": feed, "tie_embeddings": tie,
               "src_vocab_size": len(src_vocab), "tgt_vocab_size": len(tgt_vocab), "attn_out_bias": True}
    if init in ("zero", "zeros"):
        cfg_out["bridge"] = "zeros"
    else:
        cfg_out["bridge"] = "linear"
        if init == "bridge":
            bw = _get(state, "decoder.bridge_layer.weight", [D, K])
            bb = _get(state, "decoder.bridge_layer.bias", [D])
        else:  # last: the top layer's final state (its forward half when K = 2D), copied
            bw = torch.eye(D, K)
            bb = torch.zeros(D)
            cfg_out["bridge_activation"] = "none"
        T["bridge.weight"] = bw.repeat(Ld, 1)   # every decoder layer starts from the same state
        T["bridge.bias"] = bb.repeat(Ld)
        if cell == "lstm":
            cfg_out["bridge_cell"] = "hidden"  # Joey: (hidden, hidden)

    used = {"src_embed.lut.weight", "trg_embed.lut.weight", "decoder.output_layer.weight",
            "decoder.att_vector_layer.weight", "decoder.att_vector_layer.bias",
            "decoder.bridge_layer.weight", "decoder.bridge_layer.bias"}
    used |= {k for k in state if k.startswith(("encoder.rnn.", "decoder.rnn.", "decoder.attention."))}
    extra = sorted(set(state) - used)
    refuse_if(["checkpoint tensor %s is not part of a model this importer understands" % k for k in extra[:5]])

    name = cfg.get("name")
    return Imported(cfg=cfg_out, tensors=T, src_vocab=src_vocab, tgt_vocab=tgt_vocab, src_tok=src_tok,
                    tgt_tok=tgt_tok, name=name if isinstance(name, str) and name else None,
                    description="imported from Joey NMT %s" % os.path.basename(ckpt_path),
                    decoding=_decoding(cfg, not m["_v2"]))
