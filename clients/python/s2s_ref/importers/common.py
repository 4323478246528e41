"""What every importer shares: safe loading, special-token remapping, writing.

An importer turns a foreign checkpoint into an `Imported` (config, tensors named
as in docs/checkpoint-format.md §4, vocabularies, tokenizers) and hands it to
`write_checkpoint`, which checks it against the reference module before a
single byte is written. Every refusal is an `ImportRefused` whose message has
one line per reason, so a user sees everything wrong with a model at once.
"""

import _compat_pickle
import copyreg
import dataclasses
import io
import os
import _compat_pickle
import pickle
import tempfile
import zipfile

import torch

from .. import safetensors_io
from ..export import _json, metadata
from ..model import Seq2Seq, Seq2SeqConfig
from ..tokenizer import Tokenizer

SPECIALS = ("<pad>", "<unk>", "<s>", "</s>")

# A logit bias for output rows a framework never had (the tutorial has no <pad>
# or <unk>): exp(-1e9 - max) is exactly 0 in float32, so the log-softmax of the
# real rows is unchanged and the row is never produced. Finite, because the
# loader refuses non-finite weights.
NEVER_BIAS = -1e9


class ImportRefused(Exception):
    """The input cannot be imported; str() is one line per reason."""


def refuse_if(reasons):
    """Raises ImportRefused listing every reason, if there is any."""
    reasons = [r for r in reasons if r]
    if reasons:
        raise ImportRefused("\n".join(reasons))


# --------------------------------------------------------------------------
# Safe loading of .pt files.
#
# A .pt file is a zip holding a pickle, and unpickling may call any importable
# function (os.system included). torch.load(weights_only=True) refuses
# everything but tensors and plain containers, too little for OpenNMT-py
# (argparse Namespace, vocabularies) and Joey NMT checkpoints; and torch 1.13's
# torch.load silently ignores a custom `pickle_module` unless weights_only is
# set. So we read the zip ourselves and unpickle with an allow-list: a few
# real, side-effect-free globals, our own tensor rebuilders, and named
# framework classes replaced by inert `StandIn` records (their state is kept
# as data; none of their code is imported or run). Any other global is refused
# before anything is called.

_REAL_GLOBALS = {
    ("collections", "OrderedDict"), ("collections", "Counter"),
    ("collections", "defaultdict"), ("builtins", "set"), ("builtins", "frozenset"),
    ("builtins", "slice"), ("builtins", "object"), ("builtins", "dict"),
    ("builtins", "list"), ("builtins", "tuple"), ("argparse", "Namespace"),
    ("torch", "Size"), ("torch", "device"),
}

_STORAGE_DTYPES = {
    "FloatStorage": torch.float32, "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16, "DoubleStorage": torch.float64,
    "LongStorage": torch.int64, "IntStorage": torch.int32, "ShortStorage": torch.int16,
    "CharStorage": torch.int8, "ByteStorage": torch.uint8, "BoolStorage": torch.bool,
}

_TORCH_DTYPE_NAMES = {"float32", "float16", "bfloat16", "float64", "int64", "int32",
                      "int16", "int8", "uint8", "bool", "float", "half", "double", "long", "int"}


class StandIn:
    """Inert record of a pickled framework object: never runs its code.

    `cls_name` is "module.Name"; `args` are constructor arguments (REDUCE /
    NEWOBJ); `state` is what BUILD gave (usually the object's __dict__).
    Attribute access falls through to a dict state, so `vocab.itos` works.
    """

    cls_name = "?"

    def __init__(self, *args, **kwargs):
        self.__dict__.update(args=args, kwargs=kwargs, state=None)

    def __setstate__(self, state):
        self.__dict__["state"] = state

    def __getattr__(self, name):
        state = self.__dict__.get("state")
        if isinstance(state, tuple) and len(state) == 2:
            state = state[0] if isinstance(state[0], dict) else state[1]
        if isinstance(state, dict) and name in state:
            return state[name]
        raise AttributeError("%s has no attribute %r" % (self.cls_name, name))

    def __repr__(self):
        return "<stand-in %s>" % self.cls_name


def _stand_in_class(module, name):
    return type(name, (StandIn,), {"cls_name": "%s.%s" % (module, name)})


class _StorageType:
    def __init__(self, dtype):
        self.dtype = dtype


class _Storage:
    def __init__(self, flat):
        self.flat = flat  # 1-D tensor over the storage's bytes


def _rebuild_tensor(storage, offset, size, stride, *rest):
    # as_strided checks the view against the storage's size, so a tampered
    # offset, size or stride is an error here, not an out-of-bounds read.
    if not isinstance(storage, _Storage):
        raise pickle.UnpicklingError("a tensor without storage")
    return storage.flat.as_strided(tuple(size), tuple(stride), int(offset)).clone()


def _rebuild_parameter(data, *rest):
    return data


def _safe_reconstructor(cls, base, state):
    # copyreg._reconstructor calls base.__new__(cls) and, with a state,
    # base.__init__(obj, state): only harmless bases are allowed.
    if base not in (object, dict, list):
        raise pickle.UnpicklingError("refusing copyreg._reconstructor with base %r" % (base,))
    return copyreg._reconstructor(cls, base, state)


def _unpickler(stand_ins):
    exact = {s for s in stand_ins if isinstance(s, tuple)}
    prefixes = tuple(s for s in stand_ins if isinstance(s, str))
    ours = {("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
            ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
            ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
            ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
            ("copyreg", "_reconstructor"): _safe_reconstructor}

    class Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            # Protocol-2 pickles (torch.save's default) name Python 2 modules
            # (__builtin__.set); map them as pickle's fix_imports would, then check.
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
            if (module, name) in ours:
                return ours[(module, name)]
            if (module, name) in _REAL_GLOBALS or (module == "torch" and name in _TORCH_DTYPE_NAMES):
                return super().find_class(module, name)
            if module == "torch" and name in _STORAGE_DTYPES:
                return _StorageType(_STORAGE_DTYPES[name])
            # A prefix "pkg." names the package pkg itself and everything in it.
            if (module, name) in exact or (prefixes and (module + ".").startswith(prefixes)):
                return _stand_in_class(module, name)
            raise pickle.UnpicklingError(
                "its pickle asks for %s.%s, which an importer never loads (only tensors, "
                "plain containers and known framework records are read; code in a "
                "checkpoint is never run)" % (module, name))

    return Unpickler


def _load_zip(z, stand_ins):
    pkl = [n for n in z.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(pkl) != 1:
        raise ValueError("no single <name>/data.pkl record in the zip")
    prefix = pkl[0][: -len("data.pkl")]
    if prefix + "byteorder" in z.namelist() and z.read(prefix + "byteorder") != b"little":
        raise ValueError("big-endian tensors are not supported")
    storages = {}

    def persistent_load(pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType) and isinstance(pid[2], str)):
            raise pickle.UnpicklingError("unknown persistent record %r" % (pid[:1],))
        _, stype, key, _, numel = pid
        if key not in storages:
            data = bytearray(z.read(prefix + "data/" + key))
            item = torch.empty((), dtype=stype.dtype).element_size()
            if len(data) != int(numel) * item:
                raise ValueError("storage %s holds %d bytes, its record says %d" % (key, len(data), int(numel) * item))
            flat = torch.frombuffer(data, dtype=stype.dtype) if data else torch.empty(0, dtype=stype.dtype)
            storages[key] = _Storage(flat)
        return storages[key]

    up = _unpickler(stand_ins)(io.BytesIO(z.read(pkl[0])), encoding="utf-8")
    up.persistent_load = persistent_load
    return up.load()


def safe_torch_load(path, stand_ins=(), what="checkpoint"):
    """Reads a torch.save file (zip format, torch >= 1.6) without running code from it.

    `stand_ins`: (module, name) pairs, or module prefixes ending in ".", whose
    objects become StandIn records. Errors are ImportRefused naming the file.
    """
    if not os.path.isfile(path):
        raise ImportRefused("%s %s: no such file" % (what, path))
    if not zipfile.is_zipfile(path):
        raise ImportRefused("%s %s is not a PyTorch zip file (torch.save of torch >= 1.6); a file "
                            "in the legacy format must be re-saved with a newer torch, and a "
                            "truncated file loses its zip directory" % (what, path))
    try:
        with zipfile.ZipFile(path) as z:
            return _load_zip(z, stand_ins)
    except pickle.UnpicklingError as e:
        raise ImportRefused("%s %s: %s" % (what, path, e)) from None
    except (zipfile.BadZipFile, RuntimeError, EOFError, ValueError, OSError, KeyError, TypeError,
            AttributeError, IndexError, UnicodeDecodeError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ImportRefused("%s %s is damaged: %s" % (what, path, msg)) from None


def safe_pickle_load(path, stand_ins=(), what="file"):
    """Reads a torch.save file or a plain pickle.dump file, never running code from it.

    The same allow-list as safe_torch_load; a plain pickle may not hold
    tensors (they need a zip's storage records). For small framework objects
    users pickle on their own, such as the PyTorch tutorial's `Lang`.
    """
    if not os.path.isfile(path):
        raise ImportRefused("%s %s: no such file" % (what, path))
    if zipfile.is_zipfile(path):
        return safe_torch_load(path, stand_ins, what)

    def no_persistent(pid):
        raise pickle.UnpicklingError("a persistent record outside a torch zip file")

    try:
        with open(path, "rb") as f:
            up = _unpickler(stand_ins)(f, encoding="utf-8")
            up.persistent_load = no_persistent
            return up.load()
    except pickle.UnpicklingError as e:
        raise ImportRefused("%s %s: %s" % (what, path, e)) from None
    except (RuntimeError, EOFError, ValueError, OSError, KeyError, TypeError, AttributeError,
            IndexError, UnicodeDecodeError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ImportRefused("%s %s is not a pickle this importer can read: %s" % (what, path, msg)) from None


# --------------------------------------------------------------------------
# Vocabularies.

def remap_vocab(tokens, pad=None, unk=None, bos=None, eos=None, what="vocabulary"):
    """Moves a framework's special tokens to ids 0-3 (docs §2).

    `tokens`: the framework's id -> string list; pad/unk/bos/eos: the
    framework's ids of those tokens, or None when it has none (a row is then
    added). Returns (vocab, order): vocab is the seq2seqd vocabulary, order[i]
    the framework id behind seq2seqd id i, or -1 for an added row.
    """
    tokens = list(tokens)
    ids = (pad, unk, bos, eos)
    reasons = []
    for name, i in zip(SPECIALS, ids):
        if i is not None and not 0 <= i < len(tokens):
            reasons.append("%s: the id of %s (%d) is outside the %d tokens" % (what, name, i, len(tokens)))
    given = [i for i in ids if i is not None]
    if len(set(given)) != len(given):
        reasons.append("%s: two special tokens share one id %s" % (what, given))
    refuse_if(reasons)
    order = [-1 if i is None else i for i in ids]
    specials = set(given)
    order += [i for i in range(len(tokens)) if i not in specials]
    vocab = list(SPECIALS) + [tokens[i] for i in order[4:]]
    seen, dups = set(), []
    for t in vocab:
        if t in seen:
            dups.append(t)
        seen.add(t)
    refuse_if(["%s: token %r appears twice (after renaming the special tokens to %s)"
               % (what, t, ", ".join(SPECIALS)) for t in dups[:5]] +
              ["%s: an empty token at id %d" % (what, i) for i, t in enumerate(tokens) if t == ""][:5])
    if len(vocab) < 5:
        raise ImportRefused("%s: %d tokens; seq2seqd needs at least one besides %s"
                            % (what, len(vocab), ", ".join(SPECIALS)))
    return vocab, order


def take_rows(t, order, fill=0.0):
    """Rows of `t` in `order` (-1 = a new row filled with `fill`)."""
    t = t.detach().to(torch.float32)
    out = torch.full((len(order),) + tuple(t.shape[1:]), float(fill), dtype=torch.float32)
    for new, old in enumerate(order):
        if old >= 0:
            out[new] = t[old]
    return out


def check_rows(t, n, name, vocab_what):
    """Refuses a tensor whose row count does not match its vocabulary."""
    if t.shape[0] != n:
        raise ImportRefused("%s has %d rows but the %s has %d tokens: the vocabulary does "
                            "not belong to this model" % (name, t.shape[0], vocab_what, n))


# --------------------------------------------------------------------------
# The result of an import, and writing it.

@dataclasses.dataclass
class Imported:
    cfg: dict                      # seq2seqd.config (docs §3)
    tensors: dict                  # name -> torch tensor (docs §4)
    src_vocab: list
    tgt_vocab: list
    src_tok: dict                  # seq2seqd.src_tokenizer (docs §5)
    tgt_tok: dict
    name: str = None
    description: str = None
    decoding: dict = None          # seq2seqd.decoding defaults
    examples: list = None


def _check_finite(tensors):
    bad = [n for n, t in sorted(tensors.items()) if not torch.isfinite(t).all()]
    refuse_if(["tensor %s holds NaN or infinite values" % n for n in bad])


def build_model(imp):
    """Validates `imp` against the reference module; returns (model, cfg, src_tok, tgt_tok)."""
    try:
        cfg = Seq2SeqConfig.from_json(dict(imp.cfg))
    except (ValueError, TypeError) as e:
        raise ImportRefused("the imported configuration is not valid: %s" % e) from None
    reasons = []
    if len(imp.src_vocab) != cfg.src_vocab_size:
        reasons.append("source vocabulary has %d tokens, config says %d" % (len(imp.src_vocab), cfg.src_vocab_size))
    if len(imp.tgt_vocab) != cfg.tgt_vocab_size:
        reasons.append("target vocabulary has %d tokens, config says %d" % (len(imp.tgt_vocab), cfg.tgt_vocab_size))
    for what, v in (("source", imp.src_vocab), ("target", imp.tgt_vocab)):
        if tuple(v[:4]) != SPECIALS:
            reasons.append("%s vocabulary must start with %s" % (what, ", ".join(SPECIALS)))
    refuse_if(reasons)
    tensors = {k: v.detach().to(torch.float32).contiguous() for k, v in imp.tensors.items()}
    _check_finite(tensors)
    model = Seq2Seq(cfg)
    want = model.state_dict()
    reasons = ["missing tensor %s %s" % (k, list(want[k].shape)) for k in sorted(set(want) - set(tensors))]
    reasons += ["unexpected tensor %s" % k for k in sorted(set(tensors) - set(want))]
    reasons += ["tensor %s has shape %s, the config needs %s" % (k, list(tensors[k].shape), list(want[k].shape))
                for k in sorted(set(want) & set(tensors)) if tensors[k].shape != want[k].shape]
    refuse_if(reasons)
    model.load_state_dict(tensors, strict=True)
    model.eval()
    try:
        src_tok = Tokenizer.from_json(imp.src_tok, "src_tokenizer")
        tgt_tok = Tokenizer.from_json(imp.tgt_tok, "tgt_tokenizer")
    except (ValueError, TypeError, KeyError) as e:
        raise ImportRefused("tokenizer: %s" % e) from None
    return model, cfg, src_tok, tgt_tok


DECODING_KEYS = {"beam_size": int, "n_best": int, "max_length": int, "max_len_a": (int, float),
                 "max_len_b": int, "length_penalty": (int, float)}


def write_checkpoint(imp, path, dtype="F32"):
    """Checks `imp` and writes it to `path` atomically; nothing is written on failure."""
    model, cfg, src_tok, tgt_tok = build_model(imp)
    meta = metadata(cfg, imp.src_vocab, imp.tgt_vocab, src_tok, tgt_tok, imp.name,
                    imp.description, imp.examples)
    if imp.decoding:
        bad = [k for k, v in imp.decoding.items()
               if k not in DECODING_KEYS or not isinstance(v, DECODING_KEYS[k]) or isinstance(v, bool)]
        refuse_if(["decoding default %r is not supported" % k for k in bad])
        meta["seq2seqd.decoding"] = _json(imp.decoding)
    tensors = {k: v for k, v in model.state_dict().items()}
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=d)
    os.close(fd)
    try:
        safetensors_io.save(tmp, tensors, meta, dtype)
        # mkstemp makes the file 0600; give it the mode a plain open() would
        # (0666 less the umask) so a daemon running as its own user can read it.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return model

