"""The seq2seqd tokenizers (docs/checkpoint-format.md section 5), in Python.

This is the twin of core/tokenizer.c (and core/tok_*.c): both must produce
byte-identical pieces for every input, which tests/fixtures/tokenizer_golden.json
checks. Only ASCII is lowercased and only ASCII whitespace splits words,
precisely so that C and Python cannot disagree about Unicode tables; the one
Unicode-aware rule, the PyTorch tutorial's normalizeString, is checked code
point by code point against a table generated from unicodedata.

Tokenizer.from_json builds any type: "char" and "bpe" (class Tokenizer),
"whitespace" (WhitespaceTokenizer), "subword_nmt" (s2s_ref.subword_nmt) and
"sentencepiece" (s2s_ref.spm).
"""

import collections
import re
import string
import unicodedata

WORD_MARK = "\u2581"  # the word-start symbol, shown as a space on output
SPECIALS = ["<pad>", "<unk>", "<s>", "</s>"]
_DROPPED = frozenset(["<pad>", "<s>", "</s>"])  # specials detokenize drops
_WHITESPACE = " \t\n\v\f\r"
_PUNCT = frozenset(string.punctuation)
_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
EOS = "</s>"
TYPES = ("char", "bpe", "whitespace", "subword_nmt", "sentencepiece")
TYPE_ERROR = "'type' must be one of " + ", ".join('"%s"' % t for t in TYPES)
PREPROCESS = ("none", "pytorch_tutorial", "pytorch_tutorial_v1")


def ascii_lower(text):
    return text.translate(_LOWER)


def check_text(text):
    """Refuses U+0000, as the C side must (its pieces are NUL-terminated)."""
    if "\0" in text:
        raise ValueError("NUL character at index %d" % text.index("\0"))


def check_keys(obj, allowed, what):
    for key in obj:
        if key not in allowed:
            raise ValueError("%s has unknown key '%s'" % (what, key))


def get_flag(obj, key, what):
    if key in obj and not isinstance(obj[key], bool):
        raise ValueError("%s '%s' must be true or false" % (what, key))
    return obj.get(key, False)


def tutorial_normalize(s, keep_period=False):
    """The PyTorch tutorial's normalizeString, literally (spec section 6).

    keep_period=False is the 2023+ text ([^a-zA-Z!?]+), True the older one
    ([^a-zA-Z.!?]+): preprocess "pytorch_tutorial" and "pytorch_tutorial_v1".
    """
    s = s.lower().strip()
    s = "".join(c for c in unicodedata.normalize("NFD", s) if unicodedata.category(c) != "Mn")
    s = re.sub(r"([.!?])", r" \1", s)
    s = re.sub(r"[^a-zA-Z.!?]+" if keep_period else r"[^a-zA-Z!?]+", r" ", s)
    return s.strip()


def ascii_words(text):
    return _words(text)


class TokenizerBase:
    """What every tokenizer type shares: append_eos and the id lookup.

    Subclasses define _encode(text) -> (pieces, word indices), to_json_body()
    and detokenize(pieces).
    """

    append_eos = False

    def encode_with_words(self, text):
        """Returns (pieces, word index of each piece); with append_eos the last
        piece is "</s>", a word of its own."""
        check_text(text)
        pieces, words = self._encode(text)
        if self.append_eos:
            pieces = pieces + [EOS]
            words = words + [(words[-1] + 1) if words else 0]
        return pieces, words

    def encode_pieces(self, text):
        return self.encode_with_words(text)[0]

    def encode_ids(self, text, vocab_index):
        """Maps pieces through a {token: id} dict; unknown pieces become <unk> (1)."""
        return [vocab_index.get(p, 1) for p in self.encode_pieces(text)]

    def to_json(self):
        obj = self.to_json_body()
        if self.append_eos:
            obj["append_eos"] = True
        return obj


class WhitespaceTokenizer(TokenizerBase):
    """Type "whitespace": the ASCII-whitespace-separated words are the tokens."""

    def __init__(self, lowercase=False, preprocess="none", append_eos=False):
        if preprocess not in PREPROCESS:
            raise ValueError("preprocess must be one of %s" % (PREPROCESS,))
        self.kind = "whitespace"
        self.lowercase = bool(lowercase)
        self.preprocess = preprocess
        self.append_eos = bool(append_eos)

    @classmethod
    def from_json(cls, obj, what="tokenizer"):
        check_keys(obj, ("type", "lowercase", "preprocess", "append_eos"), what)
        lower = get_flag(obj, "lowercase", what)
        eos = get_flag(obj, "append_eos", what)
        pre = obj.get("preprocess", "none")
        if pre not in PREPROCESS:
            raise ValueError("%s 'preprocess' must be one of %s" % (
                what, ", ".join('"%s"' % p for p in PREPROCESS)))
        return cls(lower, pre, eos)

    def to_json_body(self):
        obj = {"type": "whitespace", "lowercase": self.lowercase}
        if self.preprocess != "none":
            obj["preprocess"] = self.preprocess
        return obj

    def normalize(self, text):
        if self.lowercase:
            text = ascii_lower(text)
        if self.preprocess != "none":
            text = tutorial_normalize(text, self.preprocess == "pytorch_tutorial_v1")
        return text

    def _encode(self, text):
        words = _words(self.normalize(text))
        return words, list(range(len(words)))

    @staticmethod
    def detokenize(pieces):
        """Target tokens joined by one space; <pad> <s> </s> dropped."""
        return " ".join(p for p in pieces if p not in _DROPPED)


def _words(text):
    """Splits on ASCII whitespace only (str.split() would also split on U+00A0)."""
    out, cur = [], []
    for ch in text:
        if ch in _WHITESPACE:
            if cur:
                out.append("".join(cur))
                cur = []
        else:
            cur.append(ch)
    if cur:
        out.append("".join(cur))
    return out


def _pieces(word, split_punct):
    """Cuts a word into pieces: each punctuation character alone, other runs together."""
    if not split_punct:
        return [word]
    out, cur = [], []
    for ch in word:
        if ch in _PUNCT:
            if cur:
                out.append("".join(cur))
                cur = []
            out.append(ch)
        else:
            cur.append(ch)
    if cur:
        out.append("".join(cur))
    return out


def _apply_merges(symbols, ranks):
    """Merges the best-ranked adjacent pair everywhere, left to right, until none applies."""
    while len(symbols) > 1:
        best, best_rank = None, None
        for pair in zip(symbols, symbols[1:]):
            r = ranks.get(pair)
            if r is not None and (best_rank is None or r < best_rank):
                best, best_rank = pair, r
        if best is None:
            break
        merged, i = [], 0
        while i < len(symbols):
            if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == best:
                merged.append(symbols[i] + symbols[i + 1])
                i += 2
            else:
                merged.append(symbols[i])
                i += 1
        symbols = merged
    return symbols


class Tokenizer(TokenizerBase):
    """A char or BPE tokenizer configured like a checkpoint's tokenizer JSON.

    Tokenizer.from_json also builds the other types (a factory)."""

    def __init__(self, kind="char", lowercase=False, split_punct=False, merges=(),
                 append_eos=False):
        if kind not in ("char", "bpe"):
            raise ValueError("tokenizer type must be 'char' or 'bpe', not %r" % (kind,))
        if kind == "char" and merges:
            raise ValueError("a char tokenizer has no merges")
        self.kind = kind
        self.lowercase = bool(lowercase)
        self.split_punct = bool(split_punct)
        self.merges = [(str(a), str(b)) for a, b in merges]
        self.append_eos = bool(append_eos)
        self._ranks = {}
        for i, pair in enumerate(self.merges):
            self._ranks.setdefault(pair, i)

    @classmethod
    def from_json(cls, obj, what="tokenizer", target=False):
        """Builds a tokenizer of any type from its checkpoint JSON (a dict),
        validating it as core/tokenizer.c does, with the same messages; raises
        ValueError. target=True (the tgt_tokenizer) refuses append_eos."""
        if not isinstance(obj, dict):
            raise ValueError("%s is not a JSON object" % what)
        kind = obj.get("type")
        if kind not in TYPES:
            raise ValueError("%s %s" % (what, TYPE_ERROR))
        if kind == "whitespace":
            tok = WhitespaceTokenizer.from_json(obj, what)
        elif kind == "subword_nmt":
            from .subword_nmt import SubwordNmtTokenizer
            tok = SubwordNmtTokenizer.from_json(obj, what)
        elif kind == "sentencepiece":
            from .spm import SentencePieceTokenizer
            tok = SentencePieceTokenizer.from_json(obj, what)
        else:
            tok = cls._from_json_char_bpe(obj, what)
        if target and tok.append_eos:
            raise ValueError("%s: 'append_eos' is for the source tokenizer only" % what)
        return tok

    @classmethod
    def _from_json_char_bpe(cls, obj, what):
        check_keys(obj, ("type", "lowercase", "split_punct", "merges", "append_eos"), what)
        kind = obj["type"]
        eos = get_flag(obj, "append_eos", what)
        flags = []
        for key in ("lowercase", "split_punct"):
            if key in obj and not isinstance(obj[key], bool):
                raise ValueError("%s '%s' must be true or false" % (what, key))
            flags.append(obj.get(key, False))
        merges = obj.get("merges", []) if kind == "char" else obj.get("merges")
        if kind == "char" and ("merges" in obj and (not isinstance(merges, list) or merges)):
            raise ValueError("%s: a char tokenizer has no merges" % what)
        if not isinstance(merges, list):
            raise ValueError("%s: bpe needs a 'merges' array" % what)
        for i, m in enumerate(merges):
            if not (isinstance(m, list) and len(m) == 2
                    and all(isinstance(x, str) and x for x in m)):
                raise ValueError("%s merges[%d] is not a [left, right] pair" % (what, i))
        return cls(kind, flags[0], flags[1], merges, eos)

    def to_json_body(self):
        obj = {"type": self.kind, "lowercase": self.lowercase, "split_punct": self.split_punct}
        if self.kind == "bpe":
            obj["merges"] = [list(m) for m in self.merges]
        return obj

    def pre_tokenize(self, text):
        """Returns [(symbols, word_index)] per piece, before any merge."""
        check_text(text)
        if self.lowercase:
            text = text.translate(_LOWER)
        out = []
        for wi, word in enumerate(_words(text)):
            for pi, piece in enumerate(_pieces(word, self.split_punct)):
                symbols = ([WORD_MARK] if pi == 0 else []) + list(piece)
                out.append((symbols, wi))
        return out

    def _encode(self, text):
        pieces, words = [], []
        for symbols, wi in self.pre_tokenize(text):
            if self.kind == "bpe":
                symbols = _apply_merges(symbols, self._ranks)
            pieces.extend(symbols)
            words.extend([wi] * len(symbols))
        return pieces, words

    @staticmethod
    def detokenize(pieces):
        """Joins target tokens: <pad> <s> </s> dropped, WORD_MARK -> space, one leading space dropped.

        <unk> is kept (as written, or as the source piece unk replacement put
        there), as the C core and the daemon's "text" field do.
        """
        text = "".join(p for p in pieces if p not in _DROPPED).replace(WORD_MARK, " ")
        return text[1:] if text.startswith(" ") else text


def learn_bpe(texts, num_merges, lowercase=False, split_punct=True, min_freq=2):
    """Learns BPE merges over the pre-tokenized symbols of `texts`.

    Each round merges the most frequent adjacent pair (ties: the
    lexicographically smallest pair), updating pair counts incrementally so a
    100k-sentence corpus takes seconds, not hours.
    """
    base = Tokenizer("char", lowercase, split_punct)
    counts = collections.Counter()
    for text in texts:
        for symbols, _ in base.pre_tokenize(text):
            counts[tuple(symbols)] += 1
    words = [list(w) for w in counts]
    freqs = [counts[w] for w in counts]
    pair_count = collections.Counter()
    where = collections.defaultdict(set)
    for idx, w in enumerate(words):
        for pair in zip(w, w[1:]):
            pair_count[pair] += freqs[idx]
            where[pair].add(idx)
    merges = []
    while len(merges) < num_merges and pair_count:
        best = min(pair_count.items(), key=lambda kv: (-kv[1], kv[0]))
        if best[1] < min_freq:
            break
        pair = best[0]
        merges.append(pair)
        for idx in sorted(where.pop(pair, ())):
            _merge_word(words, freqs, idx, pair, pair_count, where)
        pair_count.pop(pair, None)
    return Tokenizer("bpe", lowercase, split_punct, merges)


def _merge_word(words, freqs, idx, pair, pair_count, where):
    """Replaces `pair` in words[idx] and moves its pair counts accordingly."""
    w, f = words[idx], freqs[idx]
    for p in zip(w, w[1:]):
        pair_count[p] -= f
        if pair_count[p] <= 0:
            del pair_count[p]
    merged, i = [], 0
    while i < len(w):
        if i + 1 < len(w) and (w[i], w[i + 1]) == pair:
            merged.append(w[i] + w[i + 1])
            i += 2
        else:
            merged.append(w[i])
            i += 1
    words[idx] = merged
    for p in zip(merged, merged[1:]):
        pair_count[p] += f
        where[p].add(idx)


def build_vocab(tokenizer, texts, max_size=None, min_freq=1):
    """Vocabulary list: the 4 specials, then tokens by count (desc), then by string."""
    counts = collections.Counter()
    for text in texts:
        counts.update(tokenizer.encode_pieces(text))
    for s in SPECIALS:
        counts.pop(s, None)
    ranked = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
    if max_size is not None:
        ranked = ranked[: max(0, max_size - len(SPECIALS))]
    return SPECIALS + ranked
