"""the PyTorch tutorial "Translation with a Sequence to Sequence Network and Attention"

    seq2seq-import tutorial --encoder encoder.pt --decoder decoder.pt \\
        --input-lang input_lang.pkl --output-lang output_lang.pkl -o model.safetensors

Reads the tutorial's (pytorch/tutorials, intermediate_source/
seq2seq_translation_tutorial.py, 2023+) EncoderRNN and AttnDecoderRNN:

  encoder state_dict:  embedding.weight [V_in, H], gru.{weight,bias}_{ih,hh}_l0
  decoder state_dict:  embedding.weight [V_out, H], attention.Wa.{weight,bias},
                       attention.Ua.{weight,bias}, attention.Va.{weight,bias},
                       gru.{weight,bias}_{ih,hh}_l0 (input 2H), out.{weight,bias}

given as two files (torch.save(encoder.state_dict(), "encoder.pt"), the same
for the decoder), or as one file (--checkpoint) holding a dict with the keys
"encoder" and "decoder" (or "encoder_state_dict" and "decoder_state_dict"),
and optionally "input_lang" and "output_lang" (the Lang objects).

Vocabularies: the tutorial's Lang objects, saved with torch.save or
pickle.dump (read without running any code: only their index2word is used;
the class is __main__.Lang unless --lang-class names another), or plain word
lists (--src-words / --tgt-words: one word per line in index order, starting
with SOS and EOS). SOS and EOS become <s> and </s>; the tutorial has no <unk>
and no <pad>, so seq2seqd adds both (zero embeddings; the output layer never
produces them). A word the tutorial never saw becomes <unk> (the tutorial
itself raises KeyError).

The model, in seq2seqd terms: GRU, bridge last, additive attention in the
Bahdanau placement (the previous hidden state is the query, the context is
fed to the GRU with the embedding), W_q = Wa.weight, W_k = Ua.weight,
b_k = Wa.bias + Ua.bias, v = Va.weight (Va.bias is dropped: softmax does not
change when every score moves by the same amount). Text: the tutorial's
normalizeString (lowercase, accents stripped, .!? split off, everything but
letters and !? removed), words split on spaces, EOS appended to the source.
Decoding: exactly --max-length (10, the tutorial's MAX_LENGTH) greedy steps,
cut at EOS, as evaluate() does (defaults max_len_a 0, max_len_b and
max_length = --max-length).

Also read: the tutorial's plain DecoderRNN (no attention; it applies ReLU to
the embedding, which is folded into the stored embedding table).
Refused: the older AttnDecoderRNN (layers attn and attn_combine with a fixed
max_length): its attention weights come from a Linear over [embedding;
hidden] with one output per absolute source position, which no model of the
family has.
"""

from .common import ImportRefused, StandIn, refuse_if, safe_pickle_load, safe_torch_load
from .mapping import find_state_dict, read_vocab_file, run_mapping, save_mapping

SINGLE_KEYS = (("encoder", "encoder_state_dict"), ("decoder", "decoder_state_dict"))


def add_arguments(p):
    p.add_argument("--encoder", metavar="FILE", help="torch.save(encoder.state_dict())")
    p.add_argument("--decoder", metavar="FILE", help="torch.save(decoder.state_dict())")
    p.add_argument("--checkpoint", metavar="FILE",
                   help="one file holding {'encoder': ..., 'decoder': ...} (and optionally "
                        "'input_lang', 'output_lang') instead of --encoder/--decoder")
    p.add_argument("--input-lang", metavar="FILE", help="the pickled input Lang (torch.save or pickle.dump)")
    p.add_argument("--output-lang", metavar="FILE", help="the pickled output Lang")
    p.add_argument("--src-words", metavar="FILE", help="input words, one per line, index order (SOS, EOS, ...)")
    p.add_argument("--tgt-words", metavar="FILE", help="output words, one per line, index order")
    p.add_argument("--lang-class", default="__main__.Lang", metavar="MODULE.NAME",
                   help="the pickled class of the Lang objects (default __main__.Lang)")
    p.add_argument("--max-length", type=int, default=10,
                   help="decoder steps (the tutorial's MAX_LENGTH, default 10)")
    p.add_argument("--preprocess", choices=["pytorch_tutorial", "none"], default="pytorch_tutorial",
                   help="source text normalization (default: the tutorial's normalizeString)")
    p.add_argument("--save-mapping", metavar="FILE",
                   help="also write the equivalent `mapping` file (no paths in it)")


def lang_words(obj, what):
    """index2word of a Lang stand-in (or a plain dict holding index2word) -> list."""
    i2w = None
    if isinstance(obj, StandIn):
        try:
            i2w = obj.index2word
        except AttributeError:
            pass
    elif isinstance(obj, dict):
        i2w = obj.get("index2word")
    if not isinstance(i2w, dict):
        raise ImportRefused("%s is not the tutorial's Lang (no index2word dict)" % what)
    if sorted(i2w) != list(range(len(i2w))) or not all(isinstance(w, str) for w in i2w.values()):
        raise ImportRefused("%s: index2word is not the words 0..%d" % (what, len(i2w) - 1))
    words = [i2w[i] for i in range(len(i2w))]
    if words[:2] != ["SOS", "EOS"]:
        raise ImportRefused("%s: index2word starts with %s, the tutorial's starts with SOS, EOS"
                            % (what, words[:2]))
    return words


def _words_file(path, what):
    words = read_vocab_file(path, "lines", what)
    if words[:2] != ["SOS", "EOS"]:
        raise ImportRefused("%s %s starts with %s; the tutorial's index2word starts with SOS, EOS"
                            % (what, path, words[:2]))
    return words


def _load(args):
    """-> (encoder state_dict, decoder state_dict, src words, tgt words)."""
    stand = [tuple(args.lang_class.rsplit(".", 1))] if "." in args.lang_class else []
    langs = {}
    if args.checkpoint:
        if args.encoder or args.decoder:
            raise ImportRefused("give either --checkpoint or --encoder and --decoder, not both")
        obj = safe_torch_load(args.checkpoint, stand)
        if not isinstance(obj, dict):
            raise ImportRefused("%s holds a %s, not a dict with 'encoder' and 'decoder'"
                                % (args.checkpoint, type(obj).__name__))
        sds = []
        for keys in SINGLE_KEYS:
            k = next((k for k in keys if k in obj), None)
            if k is None:
                raise ImportRefused("%s has no %r entry (keys: %s)" % (args.checkpoint, keys[0], sorted(map(str, obj))))
            sds.append(find_state_dict(obj[k], None, "%s[%r]" % (args.checkpoint, k)))
        for k in ("input_lang", "output_lang"):
            if k in obj:
                langs[k] = lang_words(obj[k], "%s[%r]" % (args.checkpoint, k))
        enc, dec = sds
    else:
        if not (args.encoder and args.decoder):
            raise ImportRefused("give --encoder FILE and --decoder FILE (or --checkpoint FILE)")
        enc = find_state_dict(safe_torch_load(args.encoder, what="encoder"), None, args.encoder)
        dec = find_state_dict(safe_torch_load(args.decoder, what="decoder"), None, args.decoder)
    words = []
    for side, lang_opt, words_opt, key in (("input", args.input_lang, args.src_words, "input_lang"),
                                           ("output", args.output_lang, args.tgt_words, "output_lang")):
        if lang_opt and words_opt:
            raise ImportRefused("give --%s-lang or the word list, not both" % side)
        if lang_opt:
            words.append(lang_words(safe_pickle_load(lang_opt, stand, "%s Lang" % side), "%s Lang %s" % (side, lang_opt)))
        elif words_opt:
            words.append(_words_file(words_opt, "%s word list" % side))
        elif key in langs:
            words.append(langs[key])
        else:
            raise ImportRefused("no %s vocabulary: give --%s-lang FILE (the pickled Lang) or --%s-words FILE"
                                % (side, side, "src" if side == "input" else "tgt"))
    return enc, dec, words[0], words[1]


def _gru(prefix, entries):
    return {"%s.rnn.%s_l0" % (prefix, k): "%s.gru.%s_l0" % (prefix, k)
            for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}


def build_mapping(enc, dec, max_length=10, preprocess="pytorch_tutorial"):
    """A `mapping` object for the tutorial's state_dicts (entries named encoder.*, decoder.*)."""
    if "attn.weight" in dec or "attn_combine.weight" in dec:
        n = dec["attn.weight"].shape[0] if "attn.weight" in dec else "?"
        raise ImportRefused(
            "the decoder is the tutorial's older AttnDecoderRNN (layers attn, attn_combine, "
            "max_length %s): its attention weights are a Linear over [embedding; hidden] with one "
            "output per absolute source position, not scores of the encoder outputs; seq2seqd's "
            "model family has no such layer (retrain with the current tutorial's BahdanauAttention)" % n)
    reasons = ["the encoder has no %s: not the tutorial's EncoderRNN" % k
               for k in ("embedding.weight", "gru.weight_hh_l0") if k not in enc]
    reasons += ["the decoder has no %s: not the tutorial's AttnDecoderRNN or DecoderRNN" % k
                for k in ("embedding.weight", "gru.weight_hh_l0", "out.weight", "out.bias") if k not in dec]
    reasons += ["%s has %s: the tutorial's GRU has one layer (its attention reads the hidden state "
                "of one layer)" % (what, k) for what, sd in (("the encoder", enc), ("the decoder", dec))
                for k in sd if k.startswith("gru.") and not k.endswith("_l0")]
    refuse_if(reasons)
    H = enc["gru.weight_hh_l0"].shape[1]
    E = enc["embedding.weight"].shape[1]
    attention = "attention.Wa.weight" in dec
    tensors = {"encoder.embedding.weight": "encoder.embedding.weight",
               "decoder.embedding.weight": "decoder.embedding.weight" if attention
               else {"relu": "decoder.embedding.weight"},
               "decoder.out.weight": "decoder.out.weight", "decoder.out.bias": "decoder.out.bias"}
    tensors.update(_gru("encoder", enc))
    tensors.update(_gru("decoder", dec))
    ignore = []
    if attention:
        tensors.update({
            "decoder.attention.query.weight": "decoder.attention.Wa.weight",
            "decoder.attention.key.weight": "decoder.attention.Ua.weight",
            "decoder.attention.key.bias": {"sum": ["decoder.attention.Wa.bias", "decoder.attention.Ua.bias"]},
            "decoder.attention.v.weight": "decoder.attention.Va.weight"})
        ignore = ["decoder.attention.Va.bias"]
    cfg = {"cell": "gru", "emb_dim": E, "enc_hidden": H, "enc_layers": 1, "bidirectional": False,
           "reverse_source": False, "dec_hidden": H, "dec_layers": 1, "bridge": "last",
           "attention": "additive" if attention else "none", "attn_placement": "bahdanau",
           "attn_dim": H, "input_feed": False, "tie_embeddings": False}
    specials = {"pad": None, "unk": None, "bos": "SOS", "eos": "EOS"}
    return {"config": cfg, "tensors": tensors, "ignore": ignore,
            "src_vocab": {"format": "lines", "specials": specials},
            "tgt_vocab": {"format": "lines", "specials": specials},
            "src_tokenizer": {"type": "whitespace", "lowercase": False, "preprocess": preprocess,
                              "append_eos": True},
            "tgt_tokenizer": {"type": "whitespace", "lowercase": False, "preprocess": "none"},
            "decoding": {"max_len_a": 0, "max_len_b": max_length, "max_length": max_length}}


def convert(args):
    if not 1 <= args.max_length <= 4096:
        raise ImportRefused("--max-length must be in 1..4096")
    enc, dec, src_words, tgt_words = _load(args)
    m = build_mapping(enc, dec, args.max_length, args.preprocess)
    entries = {"encoder." + k: v.float() for k, v in enc.items()}
    entries.update({"decoder." + k: v.float() for k, v in dec.items()})
    imp = run_mapping(m, entries=entries, src_tokens=src_words, tgt_tokens=tgt_words, what="tutorial")
    if args.save_mapping:
        imp.after_write = lambda: save_mapping(m, args.save_mapping)
    imp.description = imp.description or "imported from the PyTorch seq2seq translation tutorial"
    return imp
