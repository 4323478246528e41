"""Type "sentencepiece" (docs/checkpoint-format.md section 5): SentencePiece's
EncodeAsPieces for unigram and BPE models, and load_sentencepiece_model for
the importers. Twin of core/tok_spm.c.

Written from SentencePiece's documented behaviour and source (0.1.97, Debian's
python3-sentencepiece is the reference the tests compare against,
tests/fixtures/spm_golden.json):

* normalizer: user-defined symbols pass through untouched (longest match);
  otherwise the longest match in the precompiled charsmap (a Darts-clone
  double-array trie over UTF-8 bytes followed by NUL-terminated replacement
  strings) replaces the text, else one character is copied. Then the
  add_dummy_prefix, remove_extra_whitespaces and escape_whitespaces rules.
* unigram: Viterbi over every piece (normal, user-defined) that matches at
  each character, with SentencePiece's float32 scores and its ties (the first
  best path found wins); a character no piece covers is an unknown piece
  scored min_score - 10; user-defined pieces score length * max_score - 0.1.
* bpe: symbols are characters (or whole user-defined symbols, never merged);
  repeatedly merge the adjacent pair whose concatenation is the best-scored
  piece (ties: leftmost).
* consecutive unknown pieces are merged into one, as EncodeAsPieces does.

Refused with a clear error: byte_fallback (byte pieces), unused pieces in BPE
models, treat_whitespace_as_suffix, a denormalizer, model types word/char, a
charsmap that cannot be parsed.
"""

import array
import base64
import struct

from .tokenizer import TokenizerBase, _DROPPED, check_keys, get_flag

SPACE = "\u2581"
SPACE_B = SPACE.encode()
KINDS = ("normal", "unknown", "control", "user_defined", "unused")
UNK_PENALTY = 10.0
MAX_TRIE_RESULTS = 32  # SentencePiece's normalizer looks at the first 32 prefix matches
_PB_TYPES = {1: "normal", 2: "unknown", 3: "control", 4: "user_defined", 5: "unused", 6: "byte"}
_PB_MODELS = {1: "unigram", 2: "bpe", 3: "word", 4: "char"}


def f32(x):
    """x rounded to the nearest float32 (SentencePiece's scores are floats)."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


FLT_MAX = f32(3.4028234663852886e38)
FLT_MIN = 1.1754943508222875e-38


class CharsMap:
    """SentencePiece's precompiled_charsmap: <uint32 LE trie size><trie><strings>.

    The trie is a Darts-clone double array of uint32 units; a match's value is
    the offset of its NUL-terminated replacement in the strings. Every read is
    bounds-checked; a value beyond the strings counts as no match (in C too).
    """

    def __init__(self, blob):
        self.units = None
        self.strings = b""
        if not blob:
            return
        if len(blob) <= 4:
            raise ValueError("the blob is shorter than its header")
        size = struct.unpack("<I", blob[:4])[0]
        if size >= len(blob) or size % 4 or size == 0:
            raise ValueError("the trie size %d does not fit the %d-byte blob" % (size, len(blob)))
        self.units = array.array("I", blob[4:4 + size])
        if array.array("I").itemsize != 4:
            raise ValueError("no 32-bit array type")
        if struct.pack("=I", 1) != struct.pack("<I", 1):
            self.units.byteswap()
        self.strings = blob[4 + size:]
        if not self.strings.endswith(b"\0"):
            raise ValueError("the replacement strings do not end with a NUL byte")

    @staticmethod
    def _offset(u):
        return (u >> 10) << ((u & (1 << 9)) >> 6)

    def prefixes(self, data, start):
        """[(length, value)] of the keys that are prefixes of data[start:], shortest first."""
        units, out = self.units, []
        if units is None:
            return out
        n = len(units)
        pos = self._offset(units[0])
        for i in range(start, len(data)):
            c = data[i]
            pos ^= c
            if pos >= n:
                return out
            u = units[pos]
            if (u & ((1 << 31) | 0xFF)) != c:
                return out
            pos ^= self._offset(u)
            if (u >> 8) & 1:
                if pos >= n:
                    return out
                value = units[pos] & ((1 << 31) - 1)
                if value < len(self.strings):  # else no rule: both twins skip it
                    out.append((i + 1 - start, value))
        return out

    def replacement(self, value):
        return self.strings[value:self.strings.index(b"\0", value)]


class SentencePieceTokenizer(TokenizerBase):
    """A SentencePiece model given as its tokenizer JSON (see module docstring)."""

    def __init__(self, obj, what="tokenizer"):
        self.kind = "sentencepiece"
        self.obj = obj
        self.append_eos = obj.get("append_eos", False)
        self.model_type = obj["model_type"]
        norm = obj["normalizer"]
        self.add_dummy_prefix = norm["add_dummy_prefix"]
        self.remove_extra_whitespaces = norm["remove_extra_whitespaces"]
        self.escape_whitespaces = norm["escape_whitespaces"]
        try:
            try:
                blob = base64.b64decode(norm["precompiled_charsmap"], validate=True)
            except ValueError:
                raise ValueError("not base64") from None
            self.charsmap = CharsMap(blob)
        except ValueError as e:
            raise ValueError("%s normalizer 'precompiled_charsmap' cannot be parsed: %s"
                             % (what, e)) from None
        self.ids = {}       # piece (bytes) -> id, for normal, user-defined and unused pieces
        self.reserved = {}  # control and unknown pieces
        self.kinds, self.scores = [], []
        self.user_defined = set()
        self.unk_id = None
        min_s, max_s = FLT_MAX, FLT_MIN
        for i, (piece, score, kind) in enumerate(obj["pieces"]):
            b = piece.encode()
            target = self.ids if kind in ("normal", "user_defined", "unused") else self.reserved
            target[b] = i
            self.kinds.append(kind)
            self.scores.append(f32(score))
            if kind == "user_defined":
                self.user_defined.add(b)
            elif kind == "unknown":
                self.unk_id = i
            elif kind == "normal":
                min_s, max_s = min(min_s, f32(score)), max(max_s, f32(score))
        self.min_score, self.max_score = min_s, max_s
        self.unk_score = f32(min_s - UNK_PENALTY)
        self.max_len = max((len(b) for b in self.ids), default=0)
        self.max_ud_len = max((len(b) for b in self.user_defined), default=0)

    # -- validation -------------------------------------------------------
    @classmethod
    def from_json(cls, obj, what="tokenizer"):
        check_keys(obj, ("type", "model_type", "pieces", "normalizer", "append_eos"), what)
        get_flag(obj, "append_eos", what)
        if obj.get("model_type") not in ("unigram", "bpe"):
            raise ValueError("%s 'model_type' must be \"unigram\" or \"bpe\"" % what)
        pieces = obj.get("pieces")
        if not isinstance(pieces, list) or not pieces:
            raise ValueError("%s: sentencepiece needs a non-empty 'pieces' array" % what)
        seen, unk = set(), 0
        for i, p in enumerate(pieces):
            if not (isinstance(p, list) and len(p) == 3 and isinstance(p[0], str) and p[0]
                    and isinstance(p[1], (int, float)) and not isinstance(p[1], bool)
                    and isinstance(p[2], str)):
                raise ValueError("%s pieces[%d] is not a [piece, score, kind] triple" % (what, i))
            if "\0" in p[0]:
                raise ValueError("%s pieces[%d] holds a NUL character" % (what, i))
            if p[2] not in KINDS:
                raise ValueError("%s pieces[%d] has unsupported kind '%s'" % (what, i, p[2]))
            if p[2] == "unused" and obj["model_type"] == "bpe":
                raise ValueError("%s pieces[%d]: unused pieces are not supported in bpe models"
                                 % (what, i))
            if not -3.4e38 <= p[1] <= 3.4e38:
                raise ValueError("%s pieces[%d] has a score that is not a finite float" % (what, i))
            if p[0] in seen:
                raise ValueError("%s pieces[%d] '%s' is defined twice" % (what, i, p[0]))
            seen.add(p[0])
            unk += p[2] == "unknown"
        if unk != 1:
            raise ValueError("%s: 'pieces' must hold exactly one \"unknown\" piece, not %d"
                             % (what, unk))
        norm = obj.get("normalizer")
        if not isinstance(norm, dict):
            raise ValueError("%s 'normalizer' must be an object" % what)
        check_keys(norm, ("name", "precompiled_charsmap", "add_dummy_prefix",
                          "remove_extra_whitespaces", "escape_whitespaces"), what + " normalizer")
        if "name" in norm and not isinstance(norm["name"], str):
            raise ValueError("%s normalizer 'name' must be a string" % what)
        if not isinstance(norm.get("precompiled_charsmap"), str):
            raise ValueError("%s normalizer 'precompiled_charsmap' must be a base64 string" % what)
        for key in ("add_dummy_prefix", "remove_extra_whitespaces", "escape_whitespaces"):
            if not isinstance(norm.get(key), bool):
                raise ValueError("%s normalizer '%s' must be true or false" % (what, key))
        return cls(obj, what)

    def to_json_body(self):
        return {k: v for k, v in self.obj.items() if k != "append_eos"}

    # -- normalizer -------------------------------------------------------
    def _prefix(self, data, i):
        """SentencePiece's NormalizePrefix: (replacement bytes, bytes consumed)."""
        if self.max_ud_len:
            best = 0
            for n in range(1, min(self.max_ud_len, len(data) - i) + 1):
                if data[i:i + n] in self.user_defined:
                    best = n
            if best:
                return data[i:i + best], best
        matches = self.charsmap.prefixes(data, i)[:MAX_TRIE_RESULTS]
        if matches:
            length, value = max(matches, key=lambda m: m[0])
            return self.charsmap.replacement(value), length
        n = _utf8_len(data[i])
        return data[i:i + n], n

    def normalize(self, text):
        """The normalized UTF-8 bytes of text (a str)."""
        data, i = text.encode(), 0
        space = SPACE_B if self.escape_whitespaces else b" "
        if self.remove_extra_whitespaces:
            while i < len(data):
                rep, n = self._prefix(data, i)
                if rep != b" ":
                    break
                i += n
        if i == len(data):
            return b""
        out = bytearray()
        if self.add_dummy_prefix:
            out += space
        prev_space = self.remove_extra_whitespaces
        while i < len(data):
            rep, n = self._prefix(data, i)
            if prev_space:
                rep = rep.lstrip(b" ")
            if rep:
                out += rep.replace(b" ", space) if self.escape_whitespaces else rep
                prev_space = rep.endswith(b" ")
            i += n
            if not self.remove_extra_whitespaces:
                prev_space = False
        if self.remove_extra_whitespaces:
            while out.endswith(space):
                del out[-len(space):]
        return bytes(out)

    # -- models -----------------------------------------------------------
    def _unigram(self, s):
        size = len(s)
        best = array.array("f", [0.0]) * (size + 1)  # float32, as SentencePiece keeps them
        start_at = [-1] * (size + 1)
        node_id = [-1] * (size + 1)
        ids, kinds, scores = self.ids, self.kinds, self.scores
        st = 0
        while st < size:
            here = best[st]
            mblen = min(_utf8_len(s[st]), size - st)
            single = False
            for end in range(st + 1, min(size, st + self.max_len) + 1):
                pid = ids.get(s[st:end])
                if pid is None or kinds[pid] == "unused":
                    continue
                length = end - st
                if kinds[pid] == "user_defined":
                    score = f32(length * self.max_score) - 0.1
                else:
                    score = scores[pid]
                cand = score + here
                if start_at[end] == -1 or cand > best[end]:
                    best[end], start_at[end], node_id[end] = cand, st, pid
                if length == mblen:
                    single = True
            if not single:
                end = st + mblen
                cand = f32(self.unk_score + here)
                if start_at[end] == -1 or cand > best[end]:
                    best[end], start_at[end], node_id[end] = cand, st, self.unk_id
            st += mblen
        out, end = [], size
        while end > 0:
            out.append((s[start_at[end]:end], node_id[end]))
            end = start_at[end]
        return out[::-1]

    def _bpe(self, s):
        import heapq
        syms = []  # [piece bytes, prev, next, frozen]
        i = 0
        while i < len(s):
            n, frozen = 0, False
            for k in range(1, min(self.max_ud_len, len(s) - i) + 1):
                if s[i:i + k] in self.user_defined:
                    n, frozen = k, True
            if not n:
                n = min(_utf8_len(s[i]), len(s) - i)
            syms.append([s[i:i + n], len(syms) - 1, -1, frozen])
            i += n
        for k in range(len(syms) - 1):
            syms[k][2] = k + 1
        heap = []

        def add(left, right):
            if left < 0 or right < 0 or syms[left][3] or syms[right][3]:
                return
            piece = syms[left][0] + syms[right][0]
            pid = self.ids.get(piece)
            if pid is None:
                return
            heapq.heappush(heap, (-self.scores[pid], left, right, len(piece)))

        for k in range(1, len(syms)):
            add(k - 1, k)
        while heap:
            _, left, right, size = heapq.heappop(heap)
            a, b = syms[left], syms[right]
            if not a[0] or not b[0] or len(a[0]) + len(b[0]) != size:
                continue
            a[0] += b[0]
            a[2] = b[2]
            if b[2] >= 0:
                syms[b[2]][1] = left
            b[0] = b""
            add(a[1], left)
            add(left, a[2])
        out, k = [], 0 if syms else -1
        while k >= 0:
            p = syms[k][0]
            pid = self.reserved.get(p, self.ids.get(p, self.unk_id))
            out.append((p, pid))
            k = syms[k][2]
        return out

    def encode_normalized(self, s):
        """Pieces (bytes) of normalized bytes s, consecutive unknowns merged."""
        if not s:
            return []
        res = self._unigram(s) if self.model_type == "unigram" else self._bpe(s)
        out, prev_unk = [], False
        for piece, pid in res:
            unk = pid == self.unk_id
            if unk and prev_unk:
                out[-1] += piece
            else:
                out.append(piece)
            prev_unk = unk
        return out

    def _encode(self, text):
        pieces = [p.decode() for p in self.encode_normalized(self.normalize(text))]
        words, w = [], 0
        for i, p in enumerate(pieces):
            if i and (p.startswith(SPACE) or p.startswith(" ")):
                w += 1
            words.append(w)
        return pieces, words

    def detokenize(self, pieces):
        """SentencePiece's DecodePieces for text pieces: <pad> <s> </s> and the
        model's control pieces dropped, U+2581 -> space; a U+2581 opening the
        first piece is dropped when add_dummy_prefix or remove_extra_whitespaces
        is set, and with remove_extra_whitespaces so is one opening each
        following piece until some text has been produced. <unk> stays as
        written (SentencePiece would write " \u2047 ")."""
        text, bos, seen = "", True, False
        strip = self.add_dummy_prefix or self.remove_extra_whitespaces
        for p in pieces:
            if p in _DROPPED or self.kinds[self.reserved.get(p.encode(), self.unk_id)] == "control":
                continue
            if seen or text:
                bos = False
            seen = False
            if bos and strip and p.startswith(SPACE):
                p = p[1:]
                seen = not self.remove_extra_whitespaces
            text += p.replace(SPACE, " ")
        return text


def _utf8_len(b):
    return 1 if b < 0x80 else 2 if b < 0xE0 else 3 if b < 0xF0 else 4


def load_sentencepiece_model(path, append_eos=False):
    """Reads a SentencePiece .model file into the tokenizer JSON (a dict).

    Raises ValueError naming the file and the unsupported feature: model types
    word and char, byte_fallback, treat_whitespace_as_suffix, a denormalizer,
    unused pieces in a bpe model; and anything from_json refuses.
    """
    from sentencepiece import sentencepiece_model_pb2 as pb
    m = pb.ModelProto()
    with open(path, "rb") as f:
        data = f.read()
    try:
        m.ParseFromString(data)
    except Exception as e:  # protobuf's DecodeError and friends
        raise ValueError("%s is not a SentencePiece model: %s" % (path, e)) from None
    ts, ns = m.trainer_spec, m.normalizer_spec
    reasons = []
    model_type = _PB_MODELS.get(ts.model_type, str(ts.model_type))
    if model_type not in ("unigram", "bpe"):
        reasons.append("model_type %s is not supported (unigram or bpe)" % model_type.upper())
    if ts.byte_fallback:
        reasons.append("byte_fallback is not supported")
    if ts.treat_whitespace_as_suffix:
        reasons.append("treat_whitespace_as_suffix is not supported")
    if m.HasField("denormalizer_spec") and m.denormalizer_spec.precompiled_charsmap:
        reasons.append("a denormalizer (%s) is not supported" % (m.denormalizer_spec.name or "rules"))
    pieces = []
    for i, p in enumerate(m.pieces):
        kind = _PB_TYPES.get(p.type, str(p.type))
        if kind not in KINDS:
            reasons.append("piece %d %r has type %s, not supported" % (i, p.piece, kind.upper()))
            break
        pieces.append([p.piece, float(p.score), kind])
    if reasons:
        raise ValueError("\n".join("%s: %s" % (path, r) for r in reasons))
    obj = {"type": "sentencepiece", "model_type": model_type, "pieces": pieces,
           "normalizer": {"name": ns.name,
                          "precompiled_charsmap": base64.b64encode(ns.precompiled_charsmap).decode(),
                          "add_dummy_prefix": ns.add_dummy_prefix,
                          "remove_extra_whitespaces": ns.remove_extra_whitespaces,
                          "escape_whitespaces": ns.escape_whitespaces}}
    if append_eos:
        obj["append_eos"] = True
    try:
        SentencePieceTokenizer.from_json(obj, path)
    except ValueError as e:
        raise ValueError(str(e)) from None
    return obj
