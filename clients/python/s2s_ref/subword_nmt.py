"""Type "subword_nmt" (docs/checkpoint-format.md section 5): subword-nmt's
apply_bpe segmentation of whitespace-separated words, and a reader for its
codes files, for the importers. Twin of core/tok_subword_nmt.c.

Written from subword-nmt's documented behaviour (github.com/rsennrich/subword-nmt,
apply_bpe.py); tests/fixtures/subword_nmt_golden.json holds that script's own
output on the test sentences. Supported: codes of version 0.1 and 0.2, any
separator, all merges. Not supported (refused by load_subword_nmt_codes or by
the JSON): byte-level codes ("#version: 0.2 byte"), --vocabulary filtering,
glossaries, BPE dropout (training only).
"""

import re

from .tokenizer import (TokenizerBase, _DROPPED, _apply_merges, ascii_lower, ascii_words,
                        check_keys, get_flag)

EOW = "</w>"
VERSIONS = ((0, 1), (0, 2))


class CodesError(ValueError):
    """A codes file that cannot be used; the message names the file and line."""


def load_subword_nmt_codes(path, separator="@@", lowercase=False):
    """Reads a learn_bpe.py codes file into the tokenizer JSON (a dict).

    Follows apply_bpe.BPE.__init__: an optional "#version: X.Y" first line
    (none means 0.1), then one "left right" pair per line, highest priority
    first; a repeated pair keeps its first rank. Raises CodesError naming the
    line for anything apply_bpe would reject and for byte-level codes.
    """
    with open(path, encoding="utf-8", newline="") as f:
        text = f.read()
    version, offset = (0, 1), 1
    lines = text.rstrip("\n").split("\n")
    if lines and lines[0].startswith("#version:"):
        head = lines[0].split()
        if head[-1] == "byte":
            raise CodesError("%s: byte-level BPE codes (%r) are not supported" % (path, lines[0]))
        try:
            version = tuple(int(x) for x in re.sub(r"(\.0+)*$", "", head[-1]).split("."))
        except ValueError:
            raise CodesError("%s line 1: bad version line %r" % (path, lines[0])) from None
        if version not in VERSIONS:
            raise CodesError("%s line 1: codes version %s is not supported (0.1 or 0.2)"
                             % (path, ".".join(map(str, version))))
        lines, offset = lines[1:], 2
    if lines == [""]:
        lines = []
    codes = []
    for i, line in enumerate(lines):
        item = line.strip("\r\n ").split(" ")
        if len(item) != 2 or not item[0] or not item[1]:
            raise CodesError("%s line %d: %r is not two subword units separated by one space"
                             % (path, i + offset, line))
        codes.append(item)
    if not codes:
        raise CodesError("%s: no merge operations" % path)
    return {"type": "subword_nmt", "codes": codes, "version": list(version),
            "separator": separator, "lowercase": lowercase}


class SubwordNmtTokenizer(TokenizerBase):
    """apply_bpe.py's segmentation: each ASCII-whitespace-separated word is
    merged by lowest rank (every occurrence of the best pair per pass, left to
    right), the end-of-word marker removed, non-final pieces suffixed with the
    separator."""

    def __init__(self, codes, version=(0, 2), separator="@@", lowercase=False, append_eos=False):
        self.kind = "subword_nmt"
        self.codes = [(str(a), str(b)) for a, b in codes]
        self.version = tuple(version)
        self.separator = separator
        self.lowercase = bool(lowercase)
        self.append_eos = bool(append_eos)
        self._ranks = {}
        for i, pair in enumerate(self.codes):
            self._ranks.setdefault(pair, i)

    @classmethod
    def from_json(cls, obj, what="tokenizer"):
        check_keys(obj, ("type", "codes", "version", "separator", "lowercase", "append_eos"), what)
        lower = get_flag(obj, "lowercase", what)
        eos = get_flag(obj, "append_eos", what)
        codes = obj.get("codes")
        if not isinstance(codes, list) or not codes:
            raise ValueError("%s: subword_nmt needs a non-empty 'codes' array" % what)
        for i, m in enumerate(codes):
            if not (isinstance(m, list) and len(m) == 2
                    and all(isinstance(x, str) and x for x in m)):
                raise ValueError("%s codes[%d] is not a [left, right] pair" % (what, i))
        version = obj.get("version", [0, 2])
        if version not in ([0, 1], [0, 2]):
            raise ValueError("%s 'version' must be [0, 1] or [0, 2]" % what)
        sep = obj.get("separator", "@@")
        if not isinstance(sep, str) or not sep:
            raise ValueError("%s 'separator' must be a non-empty string" % what)
        return cls(codes, version, sep, lower, eos)

    def to_json_body(self):
        return {"type": "subword_nmt", "codes": [list(c) for c in self.codes],
                "version": list(self.version), "separator": self.separator,
                "lowercase": self.lowercase}

    def segment_word(self, orig):
        """apply_bpe.encode for one word, without vocabulary or glossaries."""
        if len(orig) == 1:
            return [orig]
        if self.version == (0, 1):
            word = list(orig) + [EOW]
        else:
            word = list(orig[:-1]) + [orig[-1] + EOW]
        word = _apply_merges(word, self._ranks)
        if word[-1] == EOW:
            word = word[:-1]
        elif word[-1].endswith(EOW):
            word[-1] = word[-1][:-len(EOW)]
        return word

    def _encode(self, text):
        if self.lowercase:
            text = ascii_lower(text)
        pieces, words = [], []
        for wi, word in enumerate(ascii_words(text)):
            segs = self.segment_word(word)
            pieces += [s + self.separator for s in segs[:-1]] + [segs[-1]]
            words += [wi] * len(segs)
        return pieces, words

    def detokenize(self, pieces):
        """Joined by spaces, then "@@ " removed and one final "@@" (the separator)."""
        text = " ".join(p for p in pieces if p not in _DROPPED)
        text = text.replace(self.separator + " ", "")
        return text[:-len(self.separator)] if text.endswith(self.separator) else text
