"""the seed's Seq2Seq class (shared embedding, RNN encoder and decoder, out)

    seq2seq-import seed model.pt --vocab vocab.txt -o model.safetensors
    seq2seq-import seed model.pt --vocab vocab.txt --attention dot -o model.safetensors

Reads a state_dict (torch.save(model.state_dict(), "model.pt"), or a dict
holding it under "state_dict", "model_state_dict" or "model") of this class,
the one the seed text writes (any layer count; GRU or RNN in place of LSTM):

    class Seq2Seq(nn.Module):
        def __init__(self, vocab, dim=64, layers=1):
            super().__init__()
            self.emb = nn.Embedding(vocab, dim)
            self.encoder = nn.LSTM(dim, dim, layers, batch_first=True)
            self.decoder = nn.LSTM(dim, dim, layers, batch_first=True)
            self.out = nn.Linear(dim, vocab)
        def forward(self, src, tgt):
            _, state = self.encoder(self.emb(src))
            dec, _ = self.decoder(self.emb(tgt), state)
            return self.out(dec)

state_dict entries: emb.weight [V, E]; encoder.weight_ih_l{k},
encoder.weight_hh_l{k}, encoder.bias_ih_l{k}, encoder.bias_hh_l{k} (biases
may be absent: bias=False); the same under decoder.; out.weight [V, H],
out.bias [V]. Any other entry is refused. The embedding size E may differ
from the hidden size H. Encoder and decoder must have the same cell, hidden
size and layer count (torch itself requires it to pass the state), and the
encoder must be unidirectional.

--attention dot: the seed's dot attention wired as its text describes
(Bahdanau et al.): at each step the previous decoder state s_prev (top
layer's h) scores every encoder output by a dot product, softmax gives the
weights, their weighted sum is the context, and the context is fed to the
decoder RNN together with the embedding; the RNN's output goes to `out`:

            ctx, alpha = attention(s_prev, enc_out)      # the seed's function
            dec, state = self.decoder(torch.cat([self.emb(y), ctx], -1), state)
            logits = self.out(dec)

so the decoder RNN's input is E + H (`nn.LSTM(2 * dim, dim)`). In seq2seqd
terms: attention dot, placement bahdanau, bridge last, no attention
parameters.

Decoding starts from the --bos token and stops at --eos (defaults stored in
the checkpoint: max_len_a 2, max_len_b 10, max_length 256, seq2seqd's own); the source gets no
BOS or EOS unless --append-eos says the model was trained with an EOS at the
end of every source. The one shared vocabulary comes from --vocab (one token
per line, id = line number); the four special tokens are named with
--pad/--unk/--bos/--eos (an empty string: the model has none; seq2seqd adds
a row that is never produced) and are moved to ids 0-3.
"""

import re

from .common import ImportRefused, refuse_if, safe_torch_load
from .mapping import find_state_dict, read_vocab_file, run_mapping, save_mapping

_RNN_KEY = re.compile(r"^(encoder|decoder)\.(weight|bias)_(ih|hh)_l(\d+)(_reverse)?$")
GATES = {4: "lstm", 3: "gru", 1: "rnn_tanh"}
DECODING = {"max_len_a": 2.0, "max_len_b": 10, "max_length": 256}


def add_arguments(p):
    p.add_argument("state_dict", help="torch.save of model.state_dict() (or a dict holding it)")
    p.add_argument("--vocab", required=True, metavar="FILE",
                   help="the shared vocabulary: one token per line, id = line number")
    for name, default in (("pad", "<pad>"), ("unk", "<unk>"), ("bos", "<s>"), ("eos", "</s>")):
        p.add_argument("--" + name, default=default, metavar="TOKEN",
                       help="the model's %s token (default %s; '' = the model has none)" % (name, default))
    p.add_argument("--attention", choices=["none", "dot"], default="none",
                   help="none: the seed's Seq2Seq; dot: its dot attention fed into the decoder")
    p.add_argument("--cell", choices=["rnn_tanh", "rnn_relu"],
                   help="for nn.RNN models: the nonlinearity (default rnn_tanh; LSTM and GRU are detected)")
    p.add_argument("--tokenizer", choices=["whitespace", "char"], default="whitespace",
                   help="whitespace: tokens are the space-separated words (default); char: "
                        "seq2seqd's char tokenizer (▁ before each word, then one token per character)")
    p.add_argument("--lowercase", action="store_true", help="lowercase ASCII letters before tokenizing")
    p.add_argument("--append-eos", action="store_true", help="the model saw EOS at the end of every source")
    p.add_argument("--reverse-source", action="store_true",
                   help="the model read every source reversed (Sutskever et al.)")
    p.add_argument("--save-mapping", metavar="FILE",
                   help="also write the equivalent `mapping` file (no paths in it)")


def _rnn_shapes(entries, side):
    """-> (layers, gates, hidden, input size of layer 0, has_bias, bidirectional)."""
    layers = 0
    while "%s.weight_ih_l%d" % (side, layers) in entries:
        layers += 1
    if layers == 0:
        raise ImportRefused("state_dict has no %s.weight_ih_l0: not the seed's Seq2Seq "
                            "(see `seq2seq-import seed --help` for the class it reads)" % side)
    hh = entries["%s.weight_hh_l0" % side] if "%s.weight_hh_l0" % side in entries else None
    ih = entries["%s.weight_ih_l0" % side]
    if hh is None or hh.dim() != 2 or ih.dim() != 2 or hh.shape[0] % hh.shape[1]:
        raise ImportRefused("%s: its weight_hh_l0 is missing or not [gates*H, H]" % side)
    hidden = hh.shape[1]
    gates = hh.shape[0] // hidden
    if gates not in GATES:
        raise ImportRefused("%s: weight_hh_l0 has %d gate blocks, not 4 (LSTM), 3 (GRU) or 1 (RNN)"
                            % (side, gates))
    has_bias = "%s.bias_ih_l0" % side in entries
    bi = any(k.startswith(side + ".") and k.endswith("_reverse") for k in entries)
    return layers, gates, hidden, ih.shape[1], has_bias, bi


def build_mapping(entries, attention="none", cell=None, tokenizer="whitespace", lowercase=False,
                  append_eos=False, reverse_source=False, specials=None):
    """A `mapping` object for this seed state_dict (see the module docstring)."""
    reasons = []
    for need in ("emb.weight", "out.weight", "out.bias"):
        if need not in entries:
            reasons.append("state_dict has no %s: not the seed's Seq2Seq (emb, encoder, decoder, out)" % need)
    refuse_if(reasons)
    enc = _rnn_shapes(entries, "encoder")
    dec = _rnn_shapes(entries, "decoder")
    E = entries["emb.weight"].shape[1]
    layers, gates, H, enc_in, enc_bias, enc_bi = enc
    reasons = []
    if enc_bi or dec[5]:
        reasons.append("a bidirectional encoder (or decoder) is not the seed's Seq2Seq: its final state "
                       "has 2 x layers entries, which the decoder would read as extra layers")
    if dec[1] != gates:
        reasons.append("encoder and decoder are different cells (%s, %s)" % (GATES[gates], GATES[dec[1]]))
    if dec[0] != layers or dec[2] != H:
        reasons.append("encoder has %d layers of %d, decoder %d of %d: the decoder starts from the "
                       "encoder's final state, so they must agree" % (layers, H, dec[0], dec[2]))
    if enc_in != E:
        reasons.append("encoder input is %d, the embedding has %d columns" % (enc_in, E))
    want_in = E + H if attention == "dot" else E
    if dec[3] != want_in:
        if attention == "none" and dec[3] == E + H:
            reasons.append("decoder input is %d = embedding + hidden: the decoder is fed a context; "
                           "if it is the seed's dot attention, pass --attention dot" % dec[3])
        else:
            reasons.append("decoder input is %d, expected %d for --attention %s" % (dec[3], want_in, attention))
    if entries["out.weight"].shape[1] != H:
        reasons.append("out.weight has %d columns, the decoder's hidden size is %d"
                       % (entries["out.weight"].shape[1], H))
    if cell and gates != 1:
        reasons.append("--cell %s is for nn.RNN models; this one is %s" % (cell, GATES[gates]))
    refuse_if(reasons)
    cell_name = cell or GATES[gates]

    tensors = {"encoder.embedding.weight": "emb.weight", "decoder.embedding.weight": "emb.weight",
               "decoder.out.weight": "out.weight", "decoder.out.bias": "out.bias"}
    for side, has_bias in (("encoder", enc_bias), ("decoder", dec[4])):
        for k in range(layers):
            for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                name = "%s.%s_l%d" % (side, kind, k)
                tensors["%s.rnn.%s_l%d" % (side, kind, k)] = \
                    name if (kind.startswith("weight") or has_bias) else {"zeros": True}
    cfg = {"cell": cell_name, "emb_dim": E, "enc_hidden": H, "enc_layers": layers,
           "bidirectional": False, "reverse_source": reverse_source, "dec_hidden": H,
           "dec_layers": layers, "bridge": "last", "attention": attention,
           "attn_placement": "bahdanau", "attn_dim": H, "input_feed": False, "tie_embeddings": False}
    if tokenizer == "whitespace":
        tok = {"type": "whitespace", "lowercase": lowercase, "preprocess": "none"}
    else:
        tok = {"type": "char", "lowercase": lowercase, "split_punct": False}
    src_tok = dict(tok, append_eos=True) if append_eos else dict(tok)
    specials = specials or {}
    return {"config": cfg, "tensors": tensors,
            "src_vocab": {"format": "lines", "specials": specials}, "tgt_vocab": "src",
            "src_tokenizer": src_tok, "tgt_tokenizer": tok,
            # The seed has no decoding loop: pin seq2seqd's own defaults
            # (docs/checkpoint-format.md §7), which the fixtures decode with.
            "decoding": dict(DECODING)}


def convert(args):
    specials = {k: (getattr(args, k) or None) for k in ("pad", "unk", "bos", "eos")}
    # The vocabulary first: it is small, and a missing file is the likeliest mistake.
    tokens = read_vocab_file(args.vocab, "lines", "vocabulary")
    entries = find_state_dict(safe_torch_load(args.state_dict), None, args.state_dict)
    entries = {k: v.float() for k, v in entries.items()}
    m = build_mapping(entries, args.attention, args.cell, args.tokenizer, args.lowercase,
                      args.append_eos, args.reverse_source, specials)
    if entries["emb.weight"].shape[0] != len(tokens):
        raise ImportRefused("emb.weight has %d rows but the vocabulary %s has %d tokens: the "
                            "vocabulary does not belong to this model"
                            % (entries["emb.weight"].shape[0], args.vocab, len(tokens)))
    imp = run_mapping(m, entries=entries, src_tokens=tokens, what="seed")
    if args.save_mapping:
        imp.after_write = lambda: save_mapping(m, args.save_mapping)
    imp.description = imp.description or "imported from the seed's Seq2Seq (%s%s)" % (
        m["config"]["cell"], ", dot attention" if args.attention == "dot" else "")
    return imp
