"""any PyTorch module of the family, described by a JSON mapping file

    seq2seq-import mapping MAP.json --checkpoint model.pt \\
        --src-vocab src.txt --tgt-vocab tgt.txt -o model.safetensors

A mapping file says, for your own nn.Module, which state_dict entry is which
tensor of docs/checkpoint-format.md §4, gives the configuration (§3), the
vocabularies and the tokenizers (§5). It describes a CLASS: the trained
files can be named on the command line, so one mapping serves every model
trained with that class. The `seed` and `tutorial` sources build such a
mapping themselves (tests/frameworks/mapping/ holds both as files).

The mapping schema (a JSON object; every key not listed is an error):

  "config"        required. The §3 config object. src_vocab_size and
                  tgt_vocab_size may be left out: they are the vocabulary
                  sizes after the special tokens are moved (see below).
  "tensors"       required. §4 tensor name -> EXPRESSION. Every tensor the
                  config needs must be given, and no other.
  "checkpoint"    "file.pt", or {"PREFIX": "file.pt", ...} for a model kept
                  in several files: each file's entries are named PREFIX +
                  key. --checkpoint [PREFIX=]FILE overrides it. Relative paths
                  are relative to the mapping file.
  "state_dict"    where the state_dict lives inside a loaded file: a key (or
                  "a.b" path) of the saved dict. Default: the file itself when
                  it is a dict of tensors, else its "state_dict",
                  "model_state_dict" or "model" entry.
  "stand_ins"     ["module.Class", "module.", ...]: classes in the files that
                  are read as inert records instead of refused (their code is
                  never imported or run).
  "ignore"        [entry or "prefix*", ...]: state_dict entries the model does
                  not use. Every other entry not used by "tensors" is an
                  error, so a layer the family does not have (a coverage
                  vector, a fixed-position attention) is never dropped
                  silently.
  "src_vocab", "tgt_vocab"
                  {"file": "vocab.txt", "format": "lines" | "tsv",
                   "specials": {"pad": TOKEN|null, "unk": ..., "bos": ..., "eos": ...}}
                  "lines": one token per line, id = line number (from 0);
                  "tsv": the first tab-separated column of each line (counts
                  after a tab, as OpenNMT-py writes them). "specials" names
                  the model's own spelling of each special token; null = the
                  model has none (seq2seqd adds a row: zero embedding, output
                  bias -1e9 so it is never produced); a key left out means
                  the standard spelling (<pad>, <unk>, <s>, </s>), which must
                  then be in the file. The specials are moved to ids 0-3 and
                  every tensor indexed by a vocabulary (the embeddings,
                  decoder.out.weight and decoder.out.bias) is permuted to
                  match. "tgt_vocab": "src" shares the source vocabulary.
                  --src-vocab / --tgt-vocab override "file".
  "src_tokenizer", "tgt_tokenizer"
                  required; the §5 tokenizer objects, stored as given.
  "decoding"      optional decoding defaults (beam_size, n_best, max_length,
                  max_len_a, max_len_b, length_penalty).
  "name", "description"   optional strings for the checkpoint's metadata.

EXPRESSION, evaluated to a float32 tensor whose shape must be what the config
needs for that name:
  "entry"                              a state_dict entry
  {"entry": "name"}                    the same
  {"zeros": true}                      zeros of the needed shape (top level)
  {"zeros": [d0, d1]}                  zeros of that shape
  {"sum": [E, E, ...]}                 elementwise sum (two biases into one)
  {"concat": [E, ...], "dim": 0|1}     concatenation (default dim 0)
  {"rows": E, "ranges": [[a, b], ...]} rows a..b-1 of each range, concatenated
  {"cols": E, "ranges": [[a, b], ...]} the same for columns: slicing, and
                                       column permutation (e.g. [[5,10],[0,5]]
                                       turns an input [h; c] into [c; h])
  {"transpose": E}                     a 2-D transpose
  {"relu": E}                          max(E, 0) (the tutorial's DecoderRNN
                                       applies ReLU to its embeddings)
One entry may feed several tensors (shared embeddings are duplicated).

Refused, one line per reason: unknown keys at any level, a missing or
unexpected tensor, an entry that does not exist, an entry left unused and
not ignored, a shape that differs from what the config needs, a vocabulary
whose size differs from its embedding or output rows.
"""

import json
import os

import torch

from .common import (NEVER_BIAS, SPECIALS, ImportRefused, Imported, check_rows, refuse_if,
                     remap_vocab, safe_torch_load, take_rows)
from ..model import Seq2Seq, Seq2SeqConfig

TOP_KEYS = {"config", "tensors", "checkpoint", "state_dict", "stand_ins", "ignore", "src_vocab",
            "tgt_vocab", "src_tokenizer", "tgt_tokenizer", "decoding", "name", "description"}
VOCAB_KEYS = {"file", "format", "specials"}
SPECIAL_KEYS = ("pad", "unk", "bos", "eos")
STATE_DICT_KEYS = ("state_dict", "model_state_dict", "model")

# §4 tensors whose rows are indexed by a vocabulary: side, fill for added rows.
VOCAB_ROWS = {"encoder.embedding.weight": ("src", 0.0), "decoder.embedding.weight": ("tgt", 0.0),
              "decoder.out.weight": ("tgt", 0.0), "decoder.out.bias": ("tgt", NEVER_BIAS)}


def add_arguments(p):
    p.add_argument("mapping", help="the mapping file (JSON; schema in --help)")
    add_file_arguments(p)


def add_file_arguments(p):
    p.add_argument("--checkpoint", action="append", metavar="[PREFIX=]FILE",
                   help="state_dict file (repeat with PREFIX= for a model kept in several files); "
                        "overrides the mapping's \"checkpoint\"")
    p.add_argument("--src-vocab", metavar="FILE", help="overrides src_vocab.file")
    p.add_argument("--tgt-vocab", metavar="FILE", help="overrides tgt_vocab.file")


def convert(args):
    try:
        with open(args.mapping, encoding="utf-8") as f:
            m = json.load(f)
    except FileNotFoundError:
        raise ImportRefused("mapping %s: no such file" % args.mapping) from None
    except (ValueError, UnicodeDecodeError) as e:
        raise ImportRefused("mapping %s is not valid JSON: %s" % (args.mapping, e)) from None
    base = os.path.dirname(os.path.abspath(args.mapping))
    return run_mapping(m, base, checkpoints=args.checkpoint, src_vocab=args.src_vocab,
                       tgt_vocab=args.tgt_vocab, what="mapping %s" % args.mapping)


def save_mapping(m, path):
    """Writes mapping `m` as JSON (a preset's --save-mapping, after the checkpoint is written)."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(m, f, indent=1, ensure_ascii=False)
        f.write("\n")


# --------------------------------------------------------------------------
# Loading the files a mapping names.

def parse_checkpoints(items):
    """["[PREFIX=]FILE", ...] -> {prefix: path}."""
    out = {}
    for item in items:
        prefix, sep, path = item.partition("=")
        if not sep:
            prefix, path = "", item
        out[prefix] = path
    return out


def find_state_dict(obj, key, path):
    """The dict of tensors inside a loaded file (see "state_dict" in the schema)."""
    def is_sd(o):
        return isinstance(o, dict) and o and all(isinstance(v, torch.Tensor) for v in o.values())

    if key:
        cur = obj
        for part in key.split("."):
            if not isinstance(cur, dict) or part not in cur:
                raise ImportRefused("%s has no entry %r (the mapping's \"state_dict\")" % (path, key))
            cur = cur[part]
        if not is_sd(cur):
            raise ImportRefused("%s: entry %r is not a dict of tensors" % (path, key))
        return cur
    if is_sd(obj):
        return obj
    if isinstance(obj, dict):
        for k in STATE_DICT_KEYS:
            if is_sd(obj.get(k)):
                return obj[k]
        raise ImportRefused("%s holds a dict with keys %s but no state_dict (a dict of tensors) "
                            "under %s; name it with \"state_dict\"" %
                            (path, sorted(map(str, obj))[:10], "/".join(STATE_DICT_KEYS)))
    raise ImportRefused("%s holds a %s, not a state_dict (save model.state_dict(), not the "
                        "module itself)" % (path, type(obj).__name__))


def load_entries(files, key=None, stand_ins=()):
    """{prefix: path} -> one {PREFIX+name: tensor} dict."""
    entries = {}
    for prefix, path in files.items():
        sd = find_state_dict(safe_torch_load(path, stand_ins), key, path)
        for k, v in sd.items():
            entries[prefix + str(k)] = v.detach().to(torch.float32)
    return entries


def read_vocab_file(path, fmt="lines", what="vocabulary"):
    """One token per line (id = line number); "tsv": the first column."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise ImportRefused("%s %s: no such file" % (what, path)) from None
    except OSError as e:
        raise ImportRefused("%s %s cannot be read: %s" % (what, path, e.strerror)) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ImportRefused("%s %s is not UTF-8 (byte %d)" % (what, path, e.start)) from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lines = [ln[:-1] if ln.endswith("\r") else ln for ln in lines]
    if fmt == "tsv":
        lines = [ln.split("\t", 1)[0] for ln in lines]
    if not lines:
        raise ImportRefused("%s %s is empty" % (what, path))
    return lines


def special_ids(tokens, specials, what):
    """{"pad": TOKEN|None, ...} -> the ids remap_vocab wants (standard names when left out)."""
    index = {}
    for i, t in enumerate(tokens):
        index.setdefault(t, i)
    ids, reasons = [], []
    for key, std in zip(SPECIAL_KEYS, SPECIALS):
        tok = specials.get(key, std)
        if tok is None:
            ids.append(None)
        elif tok not in index:
            reasons.append("%s has no token %r for %s (name the model's own spelling, or null "
                           "if it has none)" % (what, tok, key))
            ids.append(None)
        else:
            ids.append(index[tok])
    refuse_if(reasons)
    return ids


def vocab_from_spec(spec, base, override, what):
    """A "src_vocab"/"tgt_vocab" object -> (framework tokens, seq2seqd vocab, order)."""
    if not isinstance(spec, dict):
        raise ImportRefused("%s must be an object with \"file\" and \"specials\"" % what)
    refuse_if(["%s has unknown key %r" % (what, k) for k in sorted(set(spec) - VOCAB_KEYS)])
    specials = spec.get("specials", {})
    if not isinstance(specials, dict):
        raise ImportRefused("%s.specials must be an object" % what)
    refuse_if(["%s.specials has unknown key %r (pad, unk, bos, eos)" % (what, k)
               for k in sorted(set(specials) - set(SPECIAL_KEYS))] +
              ["%s.specials.%s must be a string or null" % (what, k)
               for k, v in sorted(specials.items()) if v is not None and not isinstance(v, str)])
    fmt = spec.get("format", "lines")
    if fmt not in ("lines", "tsv"):
        raise ImportRefused("%s.format must be \"lines\" or \"tsv\"" % what)
    path = override or spec.get("file")
    if not path:
        raise ImportRefused("%s: no vocabulary file (give \"file\" or the command-line option)" % what)
    if not override:
        path = os.path.join(base, path)
    tokens = read_vocab_file(path, fmt, "%s file" % what)
    return tokens_to_vocab(tokens, specials, "%s %s" % (what, path))


def tokens_to_vocab(tokens, specials, what):
    pad, unk, bos, eos = special_ids(tokens, specials, what)
    vocab, order = remap_vocab(tokens, pad, unk, bos, eos, what=what)
    return tokens, vocab, order


# --------------------------------------------------------------------------
# Expressions.

_EXPR_KEYS = {"entry": set(), "zeros": set(), "sum": set(), "concat": {"dim"}, "rows": {"ranges"},
              "cols": {"ranges"}, "transpose": set(), "relu": set()}


class _Eval:
    def __init__(self, entries):
        self.entries = entries
        self.used = set()

    def __call__(self, e, need, where):
        """Evaluates expression `e`; `need` is the shape wanted at the top level (or None)."""
        if isinstance(e, str):
            e = {"entry": e}
        if not isinstance(e, dict):
            raise ImportRefused("%s: an expression is a string or an object, not %r" % (where, e))
        ops = [k for k in e if k in _EXPR_KEYS]
        if len(ops) != 1:
            raise ImportRefused("%s: an expression needs exactly one of %s, got keys %s"
                                % (where, ", ".join(sorted(_EXPR_KEYS)), sorted(e)))
        op = ops[0]
        extra = set(e) - {op} - _EXPR_KEYS[op]
        if extra:
            raise ImportRefused("%s: unknown key %r in a %r expression" % (where, sorted(extra)[0], op))
        arg = e[op]
        if op == "entry":
            if not isinstance(arg, str):
                raise ImportRefused("%s: \"entry\" must be a string" % where)
            if arg not in self.entries:
                raise ImportRefused("%s: the state_dict has no entry %r" % (where, arg))
            self.used.add(arg)
            return self.entries[arg]
        if op == "zeros":
            if arg is True and need is not None:
                return torch.zeros(need)
            if isinstance(arg, list) and arg and all(isinstance(d, int) and d > 0 for d in arg):
                return torch.zeros(arg)
            raise ImportRefused("%s: \"zeros\" is true (at the top) or a shape [d0, ...]" % where)
        if op in ("transpose", "relu"):
            t = self(arg, None, where)
            if op == "relu":
                return torch.relu(t)
            if t.dim() != 2:
                raise ImportRefused("%s: transpose of a %d-D tensor" % (where, t.dim()))
            return t.t().contiguous()
        if op in ("sum", "concat"):
            if not isinstance(arg, list) or not arg:
                raise ImportRefused("%s: %r needs a non-empty list" % (where, op))
            ts = [self(x, None, where) for x in arg]
            if op == "sum":
                if any(t.shape != ts[0].shape for t in ts):
                    raise ImportRefused("%s: sum of tensors of shapes %s" % (where, [list(t.shape) for t in ts]))
                out = ts[0].clone()
                for t in ts[1:]:
                    out = out + t
                return out
            dim = e.get("dim", 0)
            try:
                return torch.cat(ts, dim)
            except (RuntimeError, IndexError):
                raise ImportRefused("%s: cannot concatenate shapes %s along dim %r"
                                    % (where, [list(t.shape) for t in ts], dim)) from None
        # rows / cols
        t = self(arg, None, where)
        dim = 0 if op == "rows" else 1
        ranges = e.get("ranges")
        if t.dim() <= dim:
            raise ImportRefused("%s: %r of a %d-D tensor" % (where, op, t.dim()))
        if not (isinstance(ranges, list) and ranges and
                all(isinstance(r, list) and len(r) == 2 and all(isinstance(x, int) for x in r) for r in ranges)):
            raise ImportRefused("%s: %r needs \"ranges\": [[start, stop], ...]" % (where, op))
        n = t.shape[dim]
        bad = [r for r in ranges if not 0 <= r[0] < r[1] <= n]
        if bad:
            raise ImportRefused("%s: range %s is outside the %d %s" % (where, bad[0], n, op))
        return torch.cat([t.narrow(dim, a, b - a) for a, b in ranges], dim)


def _ignored(name, patterns):
    return any(name == p or (p.endswith("*") and name.startswith(p[:-1])) for p in patterns)


# --------------------------------------------------------------------------
# The engine (the seed and tutorial presets call it too).

def run_mapping(m, base=".", checkpoints=None, src_vocab=None, tgt_vocab=None, entries=None,
                src_tokens=None, tgt_tokens=None, what="mapping"):
    """Evaluates mapping `m` -> Imported.

    `entries` (a ready {name: tensor} dict) and `src_tokens`/`tgt_tokens`
    (framework token lists) let a preset pass what it has already read.
    """
    if not isinstance(m, dict):
        raise ImportRefused("%s: the top level must be a JSON object" % what)
    reasons = ["%s: unknown key %r" % (what, k) for k in sorted(set(m) - TOP_KEYS)]
    reasons += ["%s: missing key %r" % (what, k)
                for k in ("config", "tensors", "src_vocab", "tgt_vocab", "src_tokenizer", "tgt_tokenizer")
                if k not in m and not (k.endswith("vocab") and (src_tokens if k[0] == "s" else tgt_tokens) is not None)]
    refuse_if(reasons)
    for k in ("config", "tensors"):
        if not isinstance(m[k], dict):
            raise ImportRefused("%s: %r must be an object" % (what, k))

    # Vocabularies first: a missing file is the likeliest mistake.
    if src_tokens is not None:
        src = tokens_to_vocab(src_tokens, m.get("src_vocab", {}).get("specials", {}), "source vocabulary")
    else:
        src = vocab_from_spec(m["src_vocab"], base, src_vocab, "src_vocab")
    if tgt_tokens is not None:
        tgt = tokens_to_vocab(tgt_tokens, m.get("tgt_vocab", {}).get("specials", {}), "target vocabulary")
    elif m.get("tgt_vocab") == "src":
        tgt = src
    else:
        tgt = vocab_from_spec(m["tgt_vocab"], base, tgt_vocab, "tgt_vocab")

    cfg = dict(m["config"])
    for key, side in (("src_vocab_size", src), ("tgt_vocab_size", tgt)):
        if key in cfg and cfg[key] != len(side[1]):
            raise ImportRefused("%s: config %s is %r but the vocabulary has %d tokens (after "
                                "adding missing special tokens)" % (what, key, cfg[key], len(side[1])))
        cfg[key] = len(side[1])
    try:
        want = {k: tuple(v.shape) for k, v in Seq2Seq(Seq2SeqConfig.from_json(cfg)).state_dict().items()}
    except (ValueError, TypeError) as e:
        raise ImportRefused("%s: the config is not valid: %s" % (what, e)) from None

    if entries is None:
        files = parse_checkpoints(checkpoints) if checkpoints else m.get("checkpoint")
        if isinstance(files, str):
            files = {"": files}
        if not isinstance(files, dict) or not files:
            raise ImportRefused("%s: no checkpoint (give \"checkpoint\" or --checkpoint FILE)" % what)
        files = {p: (f if checkpoints else os.path.join(base, f)) for p, f in files.items()}
        stand_ins = m.get("stand_ins", [])
        if not (isinstance(stand_ins, list) and all(isinstance(s, str) for s in stand_ins)):
            raise ImportRefused("%s: \"stand_ins\" must be a list of strings" % what)
        stand_ins = [s if s.endswith(".") else tuple(s.rsplit(".", 1)) for s in stand_ins]
        entries = load_entries(files, m.get("state_dict"), stand_ins)

    spec = m["tensors"]
    reasons = ["%s: missing tensor %s %s" % (what, k, list(want[k])) for k in sorted(set(want) - set(spec))]
    reasons += ["%s: tensor %s is not part of this config" % (what, k) for k in sorted(set(spec) - set(want))]
    refuse_if(reasons)
    ev = _Eval(entries)
    tensors, reasons = {}, []
    sides = {"src": src, "tgt": tgt}
    for name in sorted(want):
        t = ev(spec[name], want[name], "tensor %s" % name)
        if name in VOCAB_ROWS:
            side, fill = VOCAB_ROWS[name]
            tokens, vocab, order = sides[side]
            check_rows(t, len(tokens), "tensor %s" % name, "%s vocabulary" % ("source" if side == "src" else "target"))
            t = take_rows(t, order, fill)
        if tuple(t.shape) != want[name]:
            reasons.append("tensor %s: the mapping gives shape %s, the config needs %s"
                           % (name, list(t.shape), list(want[name])))
        tensors[name] = t
    ignore = m.get("ignore", [])
    if not (isinstance(ignore, list) and all(isinstance(s, str) for s in ignore)):
        raise ImportRefused("%s: \"ignore\" must be a list of strings" % what)
    reasons += ["state_dict entry %s %s is not used by the mapping: the model has a layer "
                "seq2seqd does not (list it under \"ignore\" only if the model never uses it)"
                % (k, list(entries[k].shape)) for k in sorted(set(entries) - ev.used) if not _ignored(k, ignore)]
    refuse_if(reasons)
    for key in ("src_tokenizer", "tgt_tokenizer"):
        if not isinstance(m[key], dict):
            raise ImportRefused("%s: %r must be an object (docs/checkpoint-format.md §5)" % (what, key))
    decoding = m.get("decoding")
    if decoding is not None and not isinstance(decoding, dict):
        raise ImportRefused("%s: \"decoding\" must be an object" % what)
    return Imported(cfg=cfg, tensors=tensors, src_vocab=src[1], tgt_vocab=tgt[1],
                    src_tok=dict(m["src_tokenizer"]), tgt_tok=dict(m["tgt_tokenizer"]),
                    name=m.get("name"), description=m.get("description"),
                    decoding=dict(decoding) if decoding else None)
