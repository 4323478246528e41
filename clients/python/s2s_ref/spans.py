"""Protected spans (issue 12): the Python twin of core/spans.c.

Placeholders (printf, brace, entities, comments, self-closing tags, glossary
terms), paired markup tags and keyboard accelerators are found in a source
(`parse`), the model sees the text around them with one sentinel token per
span when its vocabularies have them (`mask`, the SENTINEL path) or nothing at
all (the ALIGNMENT path), the search is constrained to emit every sentinel
exactly once (`Constraint`), and a hypothesis is turned back into text with
every span in it exactly once, byte for byte (`render`). The rules are those
of /work/spec12.md (docs/localisation.md once merged), section numbers below
refer to it; the C core must give the same result for every input, which
`python3 -m s2s_ref.spans --dump FORMATS [GLOSSARY.json]` lets a test check.

Positions are byte offsets into the UTF-8 source, as in C. Everything here is
pure: functions return new objects and keep no state between calls.

Choices the spec leaves open (also in /work/spec12-decisions.md):
- tag error messages quote the tag's source bytes verbatim; a tag left open
  at the end is reported for the innermost one (the top of the stack);
- tags dropped in `auto` (unbalanced) become plain text without a rescan:
  printf or brace text inside a dropped tag stays text;
- the accelerator is found after tag pairing, before the glossary; the escape
  scan walks outside spans left to right, `__`/`&&` consuming both bytes;
- void tags are recognised with the html bit or auto (also when xml is set);
  tag names compare case-insensitively only with html or auto and no xml.
"""

import json
import re
import sys

FMT_PRINTF = 1
FMT_BRACE = 2
FMT_XML = 4
FMT_HTML = 8
FMT_ACCEL = 16
FMT_AUTO = 32
FORMAT_NAMES = {"text": 0, "printf": FMT_PRINTF, "brace": FMT_BRACE, "xml": FMT_XML,
		"html": FMT_HTML, "accelerator": FMT_ACCEL, "auto": FMT_AUTO}

PLACEHOLDER, OPEN, CLOSE = 0, 1, 2
KIND_NAMES = ("placeholder", "open", "close")
FREE, ORDERED_PRINTF, ORDERED_BRACE = 0, 1, 2
MAX_SPANS = 1024
GLOSSARY_MAX_TERMS = 256
GLOSSARY_MAX_BYTES = 256
ASCII_WS = b" \t\n\v\f\r"

_WS = rb"[ \t\n\r\f\v]"
RE_CLOSE = re.compile(rb"</([A-Za-z][A-Za-z0-9_.:-]*)" + _WS + rb"*>")
RE_OPEN = re.compile(rb"<([A-Za-z][A-Za-z0-9_.:-]*)((?:" + _WS +
		     rb"""(?:[^<>"']|"[^"]*"|'[^']*')*)?)/?>""")
RE_ENTITY = re.compile(rb"&(?:[A-Za-z][A-Za-z0-9]*|#[0-9]+|#[xX][0-9A-Fa-f]+);")
_PRINTF_TAIL = (rb"([0-9]+|\*(?:[0-9]+\$)?)?(?:\.([0-9]+|\*(?:[0-9]+\$)?))?"
		rb"(hh|ll|I64|I32|[hlLqjztI])?([diouxXeEfFgGaAcspnCSmr])")
RE_PRINTF = re.compile(rb"%(?:([0-9]+)\$|\(([A-Za-z0-9_]+)\))?([-+ #0']*)" + _PRINTF_TAIL)
RE_PRINTF_AUTO = re.compile(rb"%(?:([0-9]+)\$|\(([A-Za-z0-9_]+)\))?([-+#0]*)" + _PRINTF_TAIL)
RE_BRACE_HEAD = re.compile(rb"[A-Za-z0-9_]*")
VOID_TAGS = frozenset(b"area base br col embed hr img input link meta param source track wbr".split())

SENTINEL_RE = re.compile(r"^(?:<ph(0|[1-9][0-9]*)>|<t(0|[1-9][0-9]*)>|</t(0|[1-9][0-9]*)>)$")


class SpanError(ValueError):
	"""A refused input. `code` is the API's error code: unbalanced_markup,
	too_many_spans, invalid_glossary, invalid_field."""

	def __init__(self, code, message):
		super().__init__(message)
		self.code = code


def parse_formats(names):
	"""Format bits from a comma list ("printf,xml") or a list of names; ASCII
	spaces around names are ignored, empty names too. Unknown: SpanError."""
	if isinstance(names, str):
		names = names.split(",")
	bits = 0
	for name in names:
		name = name.strip(" ")
		if not name:
			continue
		if name not in FORMAT_NAMES:
			raise SpanError("invalid_field", 'unknown format "%s"' % name)
		bits |= FORMAT_NAMES[name]
	return bits


# ---------------------------------------------------------------------------
# UTF-8 helpers (positions are bytes)


def _char_len(b, i):
	"""Length of the UTF-8 character starting at byte i (1 for a stray byte)."""
	c = b[i]
	if c < 0x80:
		return 1
	if c >= 0xF0:
		n = 4
	elif c >= 0xE0:
		n = 3
	elif c >= 0xC0:
		n = 2
	else:
		return 1
	return min(n, len(b) - i)


def _char_at(b, i):
	"""Code point starting at byte i."""
	return ord(b[i:i + _char_len(b, i)].decode("utf-8", "replace")[0])


def _char_before(b, i):
	"""Code point ending right before byte i, or None at the start."""
	if i <= 0:
		return None
	j = i - 1
	while j > 0 and 0x80 <= b[j] < 0xC0 and i - j < 4:
		j -= 1
	return ord(b[j:i].decode("utf-8", "replace")[-1])


def is_word_char(cp):
	"""§3 word characters: ASCII alnum, _, Latin-1/Extended (not x and /), Greek..."""
	if cp is None:
		return False
	if cp < 0x80:
		ch = chr(cp)
		return ch == "_" or ("0" <= ch <= "9") or ("A" <= ch <= "Z") or ("a" <= ch <= "z")
	if 0xC0 <= cp <= 0x24F:
		return cp not in (0xD7, 0xF7)
	return 0x370 <= cp <= 0x1FFF


def _code_points(b, end):
	return len(b[:end].decode("utf-8", "replace"))


# ---------------------------------------------------------------------------
# Glossary (§3)


def make_glossary(obj):
	"""[(source, target or None)] from the API's object or array form; checks
	the limits of §3 and raises SpanError("invalid_glossary", ...) naming the
	entry."""
	if obj is None:
		return []
	if isinstance(obj, dict):
		items = list(obj.items())
	elif isinstance(obj, list):
		items = []
		for i, e in enumerate(obj):
			if not isinstance(e, dict) or "source" not in e:
				raise SpanError("invalid_glossary", "glossary entry %d needs a \"source\"" % i)
			items.append((e["source"], e.get("target")))
	else:
		raise SpanError("invalid_glossary", "glossary must be an object or an array")
	if len(items) > GLOSSARY_MAX_TERMS:
		raise SpanError("invalid_glossary", "glossary has more than %d terms" % GLOSSARY_MAX_TERMS)
	out, seen = [], set()
	for src, tgt in items:
		out.append(_glossary_term(src, tgt, seen))
	return out


def _glossary_term(src, tgt, seen):
	if not isinstance(src, str):
		raise SpanError("invalid_glossary", "glossary source term must be a string")
	term = src.strip(" \t\n\v\f\r")
	what = 'glossary term "%s"' % src
	if not 1 <= len(term.encode("utf-8")) <= GLOSSARY_MAX_BYTES:
		raise SpanError("invalid_glossary", "%s: the source term must be 1 to %d bytes" % (what, GLOSSARY_MAX_BYTES))
	if tgt is not None:
		if not isinstance(tgt, str):
			raise SpanError("invalid_glossary", "%s: the target must be a string or null" % what)
		if not 1 <= len(tgt.encode("utf-8")) <= GLOSSARY_MAX_BYTES:
			raise SpanError("invalid_glossary", "%s: the target must be 1 to %d bytes" % (what, GLOSSARY_MAX_BYTES))
	for s in (term, tgt or ""):
		if any(ord(c) < 0x20 for c in s):
			raise SpanError("invalid_glossary", "%s: control characters are not allowed" % what)
	if term in seen:
		raise SpanError("invalid_glossary", "%s: duplicate source term" % what)
	seen.add(term)
	return (term, tgt)


# ---------------------------------------------------------------------------
# Parsing (§2, §3, §4, §9)


class Span:
	"""One protected span. `output` is the glossary's text (bytes) or None."""

	__slots__ = ("kind", "start", "end", "partner", "group", "sentinel", "glossary",
		     "space_before", "space_after", "output", "name", "mate")

	def __init__(self, kind, start, end, group=FREE, glossary=False, output=None, name=None):
		self.kind, self.start, self.end = kind, start, end
		self.partner, self.group, self.sentinel = -1, group, -1
		self.glossary, self.output = glossary, output
		self.name = name  # tag name (bytes) for tags, None for anything else
		self.mate = None  # the partner Span while parsing
		self.space_before = self.space_after = False

	def to_json(self, b):
		out = self.output if self.output is not None else b[self.start:self.end]
		return {"end": self.end, "glossary": self.glossary, "group": self.group,
			"kind": KIND_NAMES[self.kind], "output": out.decode("utf-8", "replace"),
			"partner": self.partner, "sentinel": self.sentinel,
			"space_after": self.space_after, "space_before": self.space_before,
			"start": self.start}


class Spans:
	"""The spans of one source: `text` (bytes), `spans` (sorted by start),
	`n_ph`, `n_pairs`, and the accelerator (`accel_pos` byte or -1,
	`accel_marker`, `accel_char` as str)."""

	def __init__(self, text, spans, formats):
		self.text, self.spans, self.formats = text, spans, formats
		self.n_ph = sum(1 for s in spans if s.kind == PLACEHOLDER)
		self.n_pairs = sum(1 for s in spans if s.kind == OPEN)
		self.accel_pos, self.accel_marker, self.accel_char = -1, None, None

	def to_json(self):
		accel = None
		if self.accel_pos >= 0:
			accel = {"char": self.accel_char, "marker": self.accel_marker, "pos": self.accel_pos}
		return {"accel": accel, "error": None, "spans": [s.to_json(self.text) for s in self.spans]}


def _scan_xml(b, i, fmt):
	"""§2.1 at byte i: a Span or None."""
	if b.startswith(b"<!--", i):
		j = b.find(b"-->", i + 4)
		return Span(PLACEHOLDER, i, j + 3) if j >= 0 else None
	m = RE_CLOSE.match(b, i)
	if m:
		return Span(CLOSE, i, m.end(), name=m.group(1))
	m = RE_OPEN.match(b, i)
	if m:
		name = m.group(1)
		if b[m.end() - 2:m.end()] == b"/>":
			return Span(PLACEHOLDER, i, m.end(), name=name)
		if fmt & (FMT_HTML | FMT_AUTO) and name.lower() in VOID_TAGS:
			return Span(PLACEHOLDER, i, m.end(), name=name)
		return Span(OPEN, i, m.end(), name=name)
	m = RE_ENTITY.match(b, i)
	if m:
		return Span(PLACEHOLDER, i, m.end())
	return None


def _scan_brace(b, i):
	"""§2.2 at byte i: a Span or None."""
	two = b[i:i + 2]
	if two == b"{{" or two == b"}}":
		return Span(PLACEHOLDER, i, i + 2)
	if b[i:i + 1] != b"{":
		return None
	depth, j = 0, i
	while j < len(b):
		c = b[j]
		if c == 0x7B:
			depth += 1
		elif c == 0x7D:
			depth -= 1
			if depth == 0:
				break
		j += 1
	if j >= len(b):
		return None
	content = b[i + 1:j]
	head = RE_BRACE_HEAD.match(content).end()
	if head < len(content) and content[head:head + 1] not in (b"!", b":", b",", b".", b"["):
		return None
	return Span(PLACEHOLDER, i, j + 1, group=ORDERED_BRACE if not content else FREE)


def _scan_printf(b, i, fmt):
	"""§2.3 at byte i: a Span or None."""
	if b[i:i + 2] == b"%%":
		return Span(PLACEHOLDER, i, i + 2)
	if b[i:i + 1] != b"%":
		return None
	auto_flavour = bool(fmt & FMT_AUTO) and not fmt & FMT_PRINTF
	m = (RE_PRINTF_AUTO if auto_flavour else RE_PRINTF).match(b, i)
	if not m:
		return None
	ordered = m.group(1) is None and m.group(2) is None
	return Span(PLACEHOLDER, i, m.end(), group=ORDERED_PRINTF if ordered else FREE)


def _scan(b, fmt):
	xmlish = fmt & (FMT_XML | FMT_HTML | FMT_AUTO)
	brace = fmt & (FMT_BRACE | FMT_AUTO)
	printf = fmt & (FMT_PRINTF | FMT_AUTO)
	spans, i = [], 0
	while i < len(b):
		s = None
		if xmlish:
			s = _scan_xml(b, i, fmt)
		if s is None and brace:
			s = _scan_brace(b, i)
		if s is None and printf:
			s = _scan_printf(b, i, fmt)
		if s is not None:
			spans.append(s)
			if len(spans) > MAX_SPANS:
				raise SpanError("too_many_spans", "more than %d protected spans" % MAX_SPANS)
			i = s.end
		else:
			i += _char_len(b, i)
	return spans


def _tag_text(b, s):
	return b[s.start:s.end].decode("utf-8", "replace")


def _pair_tags(b, spans, fmt):
	"""Pairs OPEN and CLOSE spans with a stack. Returns None when balanced,
	else the error message of §2 for the first problem found."""
	fold = bool(fmt & (FMT_HTML | FMT_AUTO)) and not fmt & FMT_XML
	stack = []
	for idx, s in enumerate(spans):
		if s.kind == OPEN:
			stack.append(idx)
		elif s.kind == CLOSE:
			if not stack:
				return 'tag "%s" at character %d has no opening tag' % (
					_tag_text(b, s), _code_points(b, s.start))
			top = spans[stack[-1]]
			same = top.name.lower() == s.name.lower() if fold else top.name == s.name
			if not same:
				return 'tag "%s" at character %d closes "%s"' % (
					_tag_text(b, s), _code_points(b, s.start), _tag_text(b, top))
			stack.pop()
			top.mate, s.mate = s, top
	if stack:
		top = spans[stack[-1]]
		return 'tag "%s" at character %d is never closed' % (_tag_text(b, top), _code_points(b, top.start))
	return None


def _find_accel(b, spans, fmt):
	"""§9: (marker position, marker, char) or None."""
	if not fmt & (FMT_ACCEL | FMT_AUTO):
		return None
	cands, si, i = [], 0, 0
	while i < len(b):
		while si < len(spans) and spans[si].end <= i:
			si += 1
		if si < len(spans) and spans[si].start <= i:
			i = spans[si].end
			continue
		c = b[i:i + 1]
		if c in (b"_", b"&"):
			if b[i + 1:i + 2] == c:
				i += 2
				continue
			if i + 1 < len(b) and (b[i + 1] >= 0x80 or chr(b[i + 1]).isascii() and chr(b[i + 1]).isalnum()):
				inside = si < len(spans) and spans[si].start <= i + 1 < spans[si].end
				if not inside:
					cands.append(i)
		i += _char_len(b, i)
	if not cands:
		return None
	if not fmt & FMT_ACCEL:
		words = [w for w in re.split(rb"[ \t\n\v\f\r]+", b) if w]
		if len(cands) != 1 or len(words) > 5:
			return None
	pos = cands[0]
	char = b[pos + 1:pos + 1 + _char_len(b, pos + 1)].decode("utf-8", "replace")
	return pos, chr(b[pos]), char


def _apply_glossary(b, spans, glossary, accel_pos):
	"""§3: glossary matches outside spans become PLACEHOLDER spans."""
	if not glossary:
		return spans
	terms = [(t.encode("utf-8"), tgt) for t, tgt in glossary]
	out, si, p = [], 0, 0
	while p < len(b):
		while si < len(spans) and spans[si].end <= p:
			si += 1
		if si < len(spans) and spans[si].start <= p:
			p = spans[si].end
			continue
		limit = spans[si].start if si < len(spans) else len(b)
		best = None
		if not is_word_char(_char_before(b, p)):
			for term, tgt in terms:
				e = p + len(term)
				if e > limit or b[p:e] != term:
					continue
				if p <= accel_pos < e:
					continue
				if e < len(b) and is_word_char(_char_at(b, e)):
					continue
				if best is None or len(term) > len(best[0]):
					best = (term, tgt)
		if best is not None:
			term, tgt = best
			out.append(Span(PLACEHOLDER, p, p + len(term), glossary=True,
					output=(tgt if tgt is not None else term.decode("utf-8")).encode("utf-8")))
			p += len(term)
		else:
			p += _char_len(b, p)
	return sorted(spans + out, key=lambda s: s.start)


def parse(text, formats, glossary=None):
	"""The spans of `text` (str or UTF-8 bytes) for the format bits (int or
	names) and a glossary from make_glossary. Raises SpanError: unbalanced
	markup under xml/html, more than MAX_SPANS spans; UnicodeDecodeError for
	bytes that are not UTF-8."""
	if isinstance(formats, (str, list, tuple)):
		formats = parse_formats(formats)
	b = text.encode("utf-8") if isinstance(text, str) else bytes(text)
	b.decode("utf-8")
	spans = _scan(b, formats)
	err = _pair_tags(b, spans, formats)
	if err is not None:
		if formats & (FMT_XML | FMT_HTML):
			raise SpanError("unbalanced_markup", err)
		spans = [s for s in spans if s.name is None]
	accel = _find_accel(b, spans, formats)
	spans = _apply_glossary(b, spans, glossary, accel[0] if accel else -1)
	if len(spans) > MAX_SPANS:
		raise SpanError("too_many_spans", "more than %d protected spans" % MAX_SPANS)
	_finish(b, spans)
	sp = Spans(b, spans, formats)
	if accel:
		sp.accel_pos, sp.accel_marker, sp.accel_char = accel
	return sp


def _finish(b, spans):
	"""Partners as indices of the sorted list, sentinel numbers and space flags (§4)."""
	index = {id(s): k for k, s in enumerate(spans)}
	n_ph = n_pairs = 0
	for s in spans:
		s.space_before = s.start > 0 and b[s.start - 1] in ASCII_WS
		s.space_after = s.end < len(b) and b[s.end] in ASCII_WS
		if s.mate is not None:
			s.partner = index[id(s.mate)]
		if s.kind == PLACEHOLDER:
			s.sentinel, n_ph = n_ph, n_ph + 1
		elif s.kind == OPEN:
			s.sentinel, n_pairs = n_pairs, n_pairs + 1
	for s in spans:
		if s.kind == CLOSE:
			s.sentinel = s.mate.sentinel


# ---------------------------------------------------------------------------
# Sentinels and the masked source (§5)


def ph_piece(k):
	return "<ph%d>" % k


def open_piece(k):
	return "<t%d>" % k


def close_piece(k):
	return "</t%d>" % k


class Sentinels:
	"""A model's sentinel ids (§5): P = n_ph, T = n_pairs; src_*/tgt_* lists of ids."""

	def __init__(self, src_vocab, tgt_vocab):
		si = src_vocab if isinstance(src_vocab, dict) else {t: i for i, t in enumerate(src_vocab)}
		ti = tgt_vocab if isinstance(tgt_vocab, dict) else {t: i for i, t in enumerate(tgt_vocab)}
		k = 0
		while ph_piece(k) in si and ph_piece(k) in ti:
			k += 1
		self.n_ph = k
		k = 0
		while all(p(k) in si and p(k) in ti for p in (open_piece, close_piece)):
			k += 1
		self.n_pairs = k
		self.src_ph = [si[ph_piece(k)] for k in range(self.n_ph)]
		self.tgt_ph = [ti[ph_piece(k)] for k in range(self.n_ph)]
		self.src_open = [si[open_piece(k)] for k in range(self.n_pairs)]
		self.src_close = [si[close_piece(k)] for k in range(self.n_pairs)]
		self.tgt_open = [ti[open_piece(k)] for k in range(self.n_pairs)]
		self.tgt_close = [ti[close_piece(k)] for k in range(self.n_pairs)]
		# Every target id whose piece looks like a sentinel, usable or not
		# (a <ph7> without <ph6> is still forbidden by §6).
		self.tgt_all = {i for t, i in ti.items() if SENTINEL_RE.match(t)}
		self.tgt_kind = {}
		for k, i in enumerate(self.tgt_ph):
			self.tgt_kind[i] = (PLACEHOLDER, k)
		for k, i in enumerate(self.tgt_open):
			self.tgt_kind[i] = (OPEN, k)
		for k, i in enumerate(self.tgt_close):
			self.tgt_kind[i] = (CLOSE, k)

	def fits(self, sp):
		"""§5: does the sentence take the SENTINEL path?"""
		return (self.n_ph >= 1 or self.n_pairs >= 1) and sp.n_ph <= self.n_ph and sp.n_pairs <= self.n_pairs


class Masked:
	"""The source as the model sees it (§5): ids, pieces, words; the path;
	per span its sentinel's token index (or -1) and the last/first text token
	around it (or -1); is_text per token."""

	def __init__(self):
		self.ids, self.pieces, self.words, self.is_text = [], [], [], []
		self.sentinel_path = self.passthrough = False
		self.n_ph = self.n_pairs = 0
		self.span_token, self.span_left, self.span_right = [], [], []


def segments(sp):
	"""[(text bytes, None) or (None, span index)] in source order; the
	accelerator marker byte is removed from the text segments."""
	b, out, pos = sp.text, [], 0
	for k, s in enumerate(sp.spans):
		out.append((_strip_marker(b, pos, s.start, sp.accel_pos), None))
		out.append((None, k))
		pos = s.end
	out.append((_strip_marker(b, pos, len(b), sp.accel_pos), None))
	return out


def _strip_marker(b, start, end, accel_pos):
	if start <= accel_pos < end:
		return b[start:accel_pos] + b[accel_pos + 1:end]
	return b[start:end]


def _tokenize_segment(tok, text):
	pieces, words = tok.encode_with_words(text.decode("utf-8"))
	if tok.append_eos and pieces:
		pieces, words = pieces[:-1], words[:-1]
	return pieces, words


def mask(sp, src_tok, src_vocab, sentinels=None):
	"""Masks the source of `sp` (§5). src_vocab: list or {piece: id};
	sentinels: a Sentinels or None (alignment path)."""
	index = src_vocab if isinstance(src_vocab, dict) else {t: i for i, t in enumerate(src_vocab)}
	m = Masked()
	# Decision (m): the path follows §5's counts also without spans, so a
	# model with sentinels decodes every sentence under the §6 constraint.
	m.sentinel_path = sentinels is not None and sentinels.fits(sp)
	if m.sentinel_path:
		m.n_ph, m.n_pairs = sp.n_ph, sp.n_pairs
	n_words = 0
	m.span_token = [-1] * len(sp.spans)
	m.span_left = [-1] * len(sp.spans)
	m.span_right = [-1] * len(sp.spans)
	pending = []  # spans still waiting for the first text token after them
	for text, k in segments(sp):
		if text is not None:
			pieces, words = _tokenize_segment(src_tok, text)
			if pieces:
				for j in pending:
					m.span_right[j] = len(m.ids)
				pending = []
			m.pieces += pieces
			m.ids += [index.get(p, 1) for p in pieces]
			m.words += [w + n_words for w in words]
			m.is_text += [True] * len(pieces)
			if words:
				n_words += words[-1] + 1
			continue
		m.span_left[k] = max([i for i, t in enumerate(m.is_text) if t], default=-1)
		pending.append(k)
		if m.sentinel_path:
			s = sp.spans[k]
			if s.kind == PLACEHOLDER:
				piece, i = ph_piece(s.sentinel), sentinels.src_ph[s.sentinel]
			elif s.kind == OPEN:
				piece, i = open_piece(s.sentinel), sentinels.src_open[s.sentinel]
			else:
				piece, i = close_piece(s.sentinel), sentinels.src_close[s.sentinel]
			m.span_token[k] = len(m.ids)
			m.pieces.append(piece)
			m.ids.append(i)
			m.words.append(n_words)
			m.is_text.append(False)
			n_words += 1
	if src_tok.append_eos:
		m.pieces.append("</s>")
		m.ids.append(index.get("</s>", 3))
		m.words.append(n_words)
		m.is_text.append(False)
	# Decision (q): nothing but </s> to decode (sentinels count as tokens).
	m.passthrough = all(p == "</s>" for p in m.pieces) if src_tok.append_eos else not m.pieces
	return m


# ---------------------------------------------------------------------------
# The search constraint (§6)


class Constraint:
	"""§6 for one sentence: which target ids a hypothesis may emit next.

	A state is (generated, stack): the frozenset of sentinel ids emitted so
	far and the tuple of open tag numbers (innermost last). States are
	immutable, so beam hypotheses share them freely."""

	def __init__(self, sentinels, n_ph, n_pairs, eos=3):
		self.sent, self.eos = sentinels, eos
		self.n_ph, self.n_pairs = n_ph, n_pairs
		self.needed = frozenset(sentinels.tgt_ph[:n_ph] + sentinels.tgt_open[:n_pairs] +
					sentinels.tgt_close[:n_pairs])
		# Sentinel ids no sentence of this size may ever emit.
		self.never = sorted(set(sentinels.tgt_kind) - self.needed)

	@classmethod
	def for_masked(cls, ms, sentinels, eos=3):
		"""The constraint of a masked source: every sentence of a model with
		sentinels gets one (n_ph = n_pairs = 0 on the alignment path, which
		bans every sentinel); None for a model without sentinels."""
		if sentinels is None or (sentinels.n_ph < 1 and sentinels.n_pairs < 1):
			return None
		return cls(sentinels, ms.n_ph, ms.n_pairs, eos)

	@staticmethod
	def start():
		return (frozenset(), ())

	def forbidden(self, state):
		"""Sorted ids that may not be emitted in `state`."""
		gen, stack = state
		out = list(self.never)
		s = self.sent
		for k in range(self.n_ph):
			if s.tgt_ph[k] in gen:
				out.append(s.tgt_ph[k])
		for k in range(self.n_pairs):
			if s.tgt_open[k] in gen:
				out.append(s.tgt_open[k])
			close = s.tgt_close[k]
			if close in gen or not stack or stack[-1] != k:
				out.append(close)
		if not self.needed <= gen:
			out.append(self.eos)
		return sorted(out)

	def advance(self, state, token):
		gen, stack = state
		kind = self.sent.tgt_kind.get(token)
		if kind is None:
			return state
		gen = gen | {token}
		if kind[0] == OPEN:
			stack = stack + (kind[1],)
		elif kind[0] == CLOSE and stack and stack[-1] == kind[1]:
			stack = stack[:-1]
		return (gen, stack)

	def apply(self, logp_row, state):
		"""Sets the forbidden entries of a 1-D log-prob tensor to -inf in place."""
		bad = self.forbidden(state)
		if bad:
			logp_row[bad] = float("-inf")
		return logp_row


# ---------------------------------------------------------------------------
# Rendering (§7, §8, §9)


class Rendered:
	"""text (str), span_token (index in the hypothesis per span, or -1), reinserted."""

	def __init__(self, text, span_token, reinserted):
		self.text, self.span_token, self.reinserted = text, span_token, reinserted


def _sentinel_span_of(sp, sentinels):
	"""{target id: span index} for the sentence's sentinels."""
	out = {}
	for k, s in enumerate(sp.spans):
		if s.kind == PLACEHOLDER:
			out[sentinels.tgt_ph[s.sentinel]] = k
		elif s.kind == OPEN:
			out[sentinels.tgt_open[s.sentinel]] = k
		else:
			out[sentinels.tgt_close[s.sentinel]] = k
	return out


def render(sp, ms, tgt_tok, sentinels, pieces, ids, attention=None):
	"""The text of one hypothesis (§7): `pieces`/`ids` without the final
	</s>, `attention` one row of n_src weights per token (or None)."""
	if ms.passthrough:
		return Rendered(_passthrough_text(sp), [-1] * len(sp.spans), False)
	span_token = [-1] * len(sp.spans)
	items = None
	if ms.sentinel_path and sentinels is not None:
		of = _sentinel_span_of(sp, sentinels)
		if _clean_sentinels(sp, of, pieces, ids):
			items = []
			for t, (p, i) in enumerate(zip(pieces, ids)):
				if i in of:
					items.append(("span", of[i]))
					span_token[of[i]] = t
				else:
					items.append(("tok", p))
	reinserted = items is None
	if items is None:
		span_token = [-1] * len(sp.spans)
		keep = [t for t, p in enumerate(pieces) if not SENTINEL_RE.match(p)]
		toks = [pieces[t] for t in keep]
		att = [attention[t] for t in keep] if attention is not None else None
		items = _reinsert(sp, ms, tgt_tok, toks, att)
	return Rendered(_join(sp, tgt_tok, _reassign(sp, items)), span_token, reinserted)


def _passthrough_text(sp):
	"""§5: a source with nothing to translate is its own output, every
	glossary span replaced by its output (the accelerator mark kept)."""
	b, out, pos = sp.text, [], 0
	for s in sp.spans:
		if s.glossary:
			out += [b[pos:s.start], s.output]
			pos = s.end
	out.append(b[pos:])
	return b"".join(out).decode("utf-8")


def _clean_sentinels(sp, of, pieces, ids):
	"""Decision (m): the hypothesis is used as is only when it holds each of
	the sentence's sentinels exactly once, no other sentinel-like piece, and
	every closing sentinel closes the innermost open pair."""
	seen, stack = set(), []
	for p, i in zip(pieces, ids):
		if i in of:
			if i in seen:
				return False
			seen.add(i)
			s = sp.spans[of[i]]
			if s.kind == OPEN:
				stack.append(of[i])
			elif s.kind == CLOSE:
				if not stack or stack[-1] != s.partner:
					return False
				stack.pop()
		elif SENTINEL_RE.match(p):
			return False
	return len(seen) == len(of)


def _reassign(sp, items):
	"""§7.2: per ordered group, item-order spans get source-order texts.
	Items become ("tok", piece) or ("span", index whose text and flags are
	written, text bytes)."""
	text = {}
	for g in (ORDERED_PRINTF, ORDERED_BRACE):
		in_items = [k for kind, k in ((it[0], it[1]) for it in items)
			    if kind == "span" and sp.spans[k].group == g]
		in_source = [k for k, s in enumerate(sp.spans) if s.group == g]
		for a, b in zip(in_items, in_source):
			text[a] = b
	out = []
	for it in items:
		if it[0] == "tok":
			out.append(it)
			continue
		# Decision (r): the space flags travel with the text, as if the
		# model had emitted the group in source order.
		k = text.get(it[1], it[1])
		s = sp.spans[k]
		out.append(("span", k, s.output if s.output is not None else sp.text[s.start:s.end]))
	return out


def _join(sp, tgt_tok, items):
	"""§7.3 and §9: runs detokenized, spans joined to them by the v2 rule
	(_join_space), the accelerator put back."""
	parts = []  # (text, is_span, span index)
	run = []

	def flush():
		if run:
			t = tgt_tok.detokenize(run).strip(" ")
			if t:
				parts.append((t, False, -1))
			del run[:]

	for it in items:
		if it[0] == "tok":
			run.append(it[1])
		else:
			flush()
			parts.append((it[2].decode("utf-8"), True, it[1]))
	flush()
	out, spans_at = [], []  # spans_at: (start, end) in characters of span texts
	n = 0
	prev = None
	for text, is_span, k in parts:
		if prev is not None:
			pt, pspan, pk = prev
			if pspan and is_span:
				sep = sp.spans[pk].space_after and sp.spans[k].space_before
			elif is_span:
				sep = _join_space(sp, k, True, pt[-1])
			elif pspan:
				sep = _join_space(sp, pk, False, text[0])
			else:
				sep = True  # two runs are always separated by a span; unreachable
			if sep:
				out.append(" ")
				n += 1
		if is_span:
			spans_at.append((n, n + len(text)))
		out.append(text)
		n += len(text)
		prev = (text, is_span, k)
	text = "".join(out)
	if sp.accel_pos >= 0:
		text = _place_accel(text, spans_at, sp.accel_marker, sp.accel_char)
	return text


def _join_space(sp, k, before, o):
	"""§7.3 (v2.1): is there a space between span k and the run character
	`o` on its `before` (run->span) or after (span->run) side? A space where
	the source had whitespace on that side; else glued only where the source
	glued the span (through the spans glued to it) to a character of o's
	class (word char or not); never glued at the text's edge."""
	s = sp.spans[k]
	if s.space_before if before else s.space_after:
		return True
	# v2.1: look through the spans glued to s on that side (`z</i></b>`:
	# the c of `</b>` is `z`).
	start, end = s.start, s.end
	j = k - 1
	while before and j >= 0 and sp.spans[j].end == start:
		start, j = sp.spans[j].start, j - 1
	j = k + 1
	while not before and j < len(sp.spans) and sp.spans[j].start == end:
		end, j = sp.spans[j].end, j + 1
	c = _char_before(sp.text, start) if before else (
		_char_at(sp.text, end) if end < len(sp.text) else None)
	if c is None or (c < 0x80 and chr(c).encode() in ASCII_WS):
		return True
	return is_word_char(c) != is_word_char(ord(o))


def _place_accel(text, spans_at, marker, char):
	"""§9: the marker goes before the accelerated char's first word-initial
	occurrence outside span texts, else before the first letter/digit (ASCII
	alnum or non-ASCII), else at the start."""
	inside = [False] * len(text)
	for a, b in spans_at:
		for i in range(a, b):
			inside[i] = True

	def same(c):
		if ord(char) < 0x80:
			return c.isascii() and c.lower() == char.lower()
		return c == char

	free = [i for i in range(len(text)) if not inside[i]]
	pos = None
	for i in free:
		if same(text[i]) and not (i > 0 and is_word_char(ord(text[i - 1]))):
			pos = i
			break
	if pos is None:
		pos = next((i for i in free if (text[i].isascii() and text[i].isalnum()) or ord(text[i]) >= 0x80), None)
	if pos is None:
		pos = 0
	return text[:pos] + marker + text[pos:]


def _word_bounds(tgt_tok, toks):
	"""(start, end) of the word of each token (§8 word boundaries)."""
	m = len(toks)
	boundary = [True] * (m + 1)
	for k in range(1, m):
		a, b = toks[k - 1], toks[k]
		boundary[k] = tgt_tok.detokenize([a, b]) != tgt_tok.detokenize([a]) + tgt_tok.detokenize([b])
	start, end = [0] * m, [0] * m
	s = 0
	for k in range(m):
		if boundary[k]:
			s = k
		start[k] = s
	e = m
	for k in range(m - 1, -1, -1):
		if boundary[k + 1] or k + 1 == m:
			e = k + 1
		end[k] = e
	return start, end


def _argmax_first(values):
	best, bi = None, -1
	for i, v in enumerate(values):
		if best is None or v > best:
			best, bi = v, i
	return bi


class _Node:
	def __init__(self, span, lo, hi):
		self.span, self.lo, self.hi, self.children = span, lo, hi, []


def _reinsert(sp, ms, tgt_tok, toks, att):
	"""§8: items with every span put back among the text tokens `toks`."""
	m = len(toks)
	if att is not None and m > 0:
		wstart, wend = _word_bounds(tgt_tok, toks)
	use = att is not None and m > 0

	def ph_slot(k, flags_of):
		s = sp.spans[flags_of]
		if not use:
			return m
		L, R = ms.span_left[k], ms.span_right[k]
		if not s.space_before and L >= 0:
			anchor, after = L, True
		elif not s.space_after and R >= 0:
			anchor, after = R, False
		elif L >= 0:
			anchor, after = L, True
		elif R >= 0:
			anchor, after = R, False
		else:
			return 0
		t = _argmax_first([row[anchor] for row in att])
		return wend[t] if after else wstart[t]

	nodes = []
	for k, s in enumerate(sp.spans):
		if s.kind == PLACEHOLDER:
			x = ph_slot(k, k)
			nodes.append(_Node(k, x, x))
		elif s.kind == OPEN:
			c = s.partner
			a, b = ms.span_right[k], ms.span_left[c]
			if a < 0 or b < 0 or a > b:
				x = ph_slot(k, k)
				nodes.append(_Node(k, x, x))
				continue
			if not use:
				nodes.append(_Node(k, m, m))
				continue
			S_ = [t for t, row in enumerate(att) if a <= _argmax_first(row) <= b]
			if not S_:
				S_ = [_argmax_first([sum(row[a:b + 1]) for row in att])]
			nodes.append(_Node(k, wstart[min(S_)], wend[max(S_)]))
	root = _Node(-1, 0, m)
	for n in nodes:
		lo, hi = _extent(sp, n.span)
		parent = root
		for o in nodes:
			if o is n or sp.spans[o.span].kind != OPEN:
				continue
			os_ = sp.spans[o.span]
			if os_.end <= lo and hi <= sp.spans[os_.partner].start:
				if parent is root or os_.start > sp.spans[parent.span].start:
					parent = o
		parent.children.append(n)
	_place(root)
	items = []
	_emit(root, toks, items, sp)
	return items


def _extent(sp, k):
	"""Source bytes a placeholder or a whole tag pair covers."""
	s = sp.spans[k]
	return s.start, (sp.spans[s.partner].end if s.kind == OPEN else s.end)


def _place(node):
	node.children.sort(key=lambda c: (c.lo, c.span))
	prev_end = None
	for c in node.children:
		if prev_end is not None:
			c.lo = max(c.lo, prev_end)
		c.hi = max(c.hi, c.lo)
		c.lo = min(max(c.lo, node.lo), node.hi)
		c.hi = min(max(c.hi, node.lo), node.hi)
		prev_end = c.hi
		_place(c)


def _emit(node, toks, items, sp):
	pos = node.lo
	for c in node.children:
		while pos < c.lo:
			items.append(("tok", toks[pos]))
			pos += 1
		s = sp.spans[c.span]
		items.append(("span", c.span))
		if s.kind == OPEN:
			_emit(c, toks, items, sp)
			items.append(("span", s.partner))
		pos = max(pos, c.hi)
	while pos < node.hi:
		items.append(("tok", toks[pos]))
		pos += 1


# ---------------------------------------------------------------------------
# The whole pipeline


def translate(model, src_tok, tgt_tok, src_vocab, tgt_vocab, text, formats, glossary=None,
	      beam=1, length_penalty=0.0, max_len_a=2.0, max_len_b=10, max_len=256, sentinels=None):
	"""text -> Rendered through the reference model (s2s_ref.model.Seq2Seq):
	parse, mask, greedy or beam search under the §6 constraint, render.
	Raises SpanError for refused input (unbalanced markup under xml/html,
	too many spans)."""
	if isinstance(formats, (str, list, tuple)):
		formats = parse_formats(formats)
	sp = parse(text, formats, glossary)
	sent = sentinels if sentinels is not None else Sentinels(src_vocab, tgt_vocab)
	ms = mask(sp, src_tok, src_vocab, sent)
	if ms.passthrough:
		return render(sp, ms, tgt_tok, sent, [], [], None)
	ids = ms.ids or [1]
	con = Constraint.for_masked(ms, sent)
	kw = dict(max_len_a=max_len_a, max_len_b=max_len_b, max_len=max_len)
	if beam > 1:
		hyp = model.beam_search(ids, beam_size=beam, n_best=1, length_penalty=length_penalty,
					constraint=con, **kw)[0]
	else:
		hyp = model.greedy([ids], constraints=[con], **kw)[0]
	out, att = list(hyp["ids"]), hyp["attention"] or None
	if hyp["finished"] and out and out[-1] == 3:
		out = out[:-1]
	if att is not None:
		att = att[:len(out)]
	return render(sp, ms, tgt_tok, sent, [tgt_vocab[i] for i in out], out, att)


def spans_kept(source, output, formats, glossary=None):
	"""(kept, total): how many of the source's spans the output holds with the
	same text (multiset of texts, the output parsed under the same formats;
	glossary terms looked up as their output text)."""
	import collections

	if isinstance(formats, (str, list, tuple)):
		formats = parse_formats(formats)
	src = parse(source, formats, glossary)
	want = collections.Counter(s.output if s.output is not None else src.text[s.start:s.end]
				   for s in src.spans)
	try:
		out = parse(output, formats)
		have = collections.Counter(out.text[s.start:s.end] for s in out.spans)
	except SpanError:
		have = collections.Counter()
	ob = output.encode("utf-8")
	for s in src.spans:
		if s.glossary:
			have[s.output] = ob.count(s.output)
	kept = sum(min(n, have[t]) for t, n in want.items())
	return kept, sum(want.values())


# ---------------------------------------------------------------------------
# The parity dump (§12)


def dump_line(line, formats, glossary):
	try:
		b = line
		b.decode("utf-8")
	except UnicodeDecodeError:
		return {"accel": None, "error": "invalid UTF-8", "spans": []}
	try:
		return parse(b, formats, glossary).to_json()
	except SpanError as e:
		return {"accel": None, "error": str(e), "spans": []}


def main(argv=None):
	import argparse

	ap = argparse.ArgumentParser(description="Protected spans of source lines, as JSON (spec §12).")
	ap.add_argument("--dump", metavar="FORMATS", required=True, help="comma list of format names")
	ap.add_argument("glossary", nargs="?", help="glossary JSON file (the API's object form)")
	a = ap.parse_args(argv)
	fmt = parse_formats(a.dump)
	gl = []
	if a.glossary:
		with open(a.glossary, encoding="utf-8") as f:
			gl = make_glossary(json.load(f))
	out = sys.stdout.buffer
	for raw in sys.stdin.buffer:
		if raw.endswith(b"\n"):
			raw = raw[:-1]
		obj = dump_line(raw, fmt, gl)
		out.write(json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n")
	return 0


if __name__ == "__main__":
	sys.exit(main())
