"""seq2seq po: pre-translate a gettext catalog (.po or .pot) through seq2seqd.

The catalog is read with polib (python3-polib), never by hand. The entries to
translate (untranslated ones; with ``fuzzy`` also fuzzy ones; with
``overwrite`` all) are sent to the daemon in batches, one request per format
set, with the API's ``format`` chosen from each entry's flags
(:func:`entry_format`) and an ``accelerator`` when the entry carries one
(:func:`entry_accelerator`). Every machine translation is checked here, with
this module's own parser (:func:`protected_items`, independent of the
daemon's): an output that lost, doubled or reordered a placeholder, tag or
accelerator of its source is NOT written (the entry stays untranslated and is
reported), so the written file always passes ``msgfmt --check-format -c``.

What is written (docs/po.md has the why):

* a translated entry gets ``#, fuzzy`` and a translator comment
  ``# Machine translation: seq2seqd model NAME (sha256 HEX)``; its other
  comments, references, flags, msgctxt and msgid lines are kept as they were;
  previous-msgid lines (``#|``) of a re-translated fuzzy entry are dropped;
* plural entries: msgstr[0] from msgid, msgstr[1..n-1] from msgid_plural
  (n = nplurals of the header's Plural-Forms; nplurals=1: msgstr[0] from
  msgid_plural);
* the header gets Language, Plural-Forms (from :data:`PLURAL_FORMS`) and
  charset=UTF-8 where they are absent or still the template's, and then loses
  its fuzzy flag, as msginit does;
* every entry that is not translated is written back byte for byte: the file
  is cut into its blank-line separated blocks and only the blocks of changed
  entries are rewritten (:func:`split_blocks`). Where a file does not have one
  entry per block, the whole file is re-serialised by polib instead (a warning
  says so).

A message is translated line by line: each line's leading and trailing
whitespace is kept and only its core is sent (``msgfmt -c`` wants msgid and
msgstr to begin and end alike with a newline).
"""

import collections
import json
import re
import sys

try:
	import polib
except ImportError:  # the glossary reader serves the translate mode without it
	polib = None

__all__ = ["PLURAL_FORMS", "entry_format", "entry_accelerator",
	   "protected_items", "check_translation", "load_glossary",
	   "split_blocks", "Catalog", "PoError", "translate_catalog"]

# Plural-Forms for a catalog whose header has none (a .pot), by language
# (the part of Language before "_" when the full code is not listed). From the
# gettext manual's table of plural forms.
PLURAL_FORMS = {
	"fr": "nplurals=2; plural=(n > 1);",
	"pt_BR": "nplurals=2; plural=(n > 1);",
	"oc": "nplurals=2; plural=(n > 1);",
	"br": "nplurals=2; plural=(n > 1);",
	"en": "nplurals=2; plural=(n != 1);",
	"de": "nplurals=2; plural=(n != 1);",
	"nl": "nplurals=2; plural=(n != 1);",
	"es": "nplurals=2; plural=(n != 1);",
	"it": "nplurals=2; plural=(n != 1);",
	"pt": "nplurals=2; plural=(n != 1);",
	"ca": "nplurals=2; plural=(n != 1);",
	"da": "nplurals=2; plural=(n != 1);",
	"sv": "nplurals=2; plural=(n != 1);",
	"nb": "nplurals=2; plural=(n != 1);",
	"fi": "nplurals=2; plural=(n != 1);",
	"el": "nplurals=2; plural=(n != 1);",
	"hu": "nplurals=2; plural=(n != 1);",
	"eo": "nplurals=2; plural=(n != 1);",
	"ja": "nplurals=1; plural=0;",
	"ko": "nplurals=1; plural=0;",
	"zh": "nplurals=1; plural=0;",
	"vi": "nplurals=1; plural=0;",
	"tr": "nplurals=1; plural=0;",
	"ru": "nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : n%10>=2 && "
	      "n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2);",
	"uk": "nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : n%10>=2 && "
	      "n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2);",
	"pl": "nplurals=3; plural=(n==1 ? 0 : n%10>=2 && n%10<=4 && "
	      "(n%100<10 || n%100>=20) ? 1 : 2);",
	"cs": "nplurals=3; plural=(n==1) ? 0 : (n>=2 && n<=4) ? 1 : 2;",
	"sk": "nplurals=3; plural=(n==1) ? 0 : (n>=2 && n<=4) ? 1 : 2;",
}
DEFAULT_LANGUAGE = "fr"

# -- format per entry -------------------------------------------------------

# gettext format flags -> the API's format names. Every entry also gets
# "auto" (markup, brace groups, unambiguous printf, accelerators), so a flag
# only adds the full flavour of its own kind. Flags whose placeholders the
# daemon's parser has no kind for (Qt/KDE "%1", shell "$VAR", Boost "%1%")
# are protected as do-not-translate glossary terms instead (FLAG_TERMS).
FLAG_FORMATS = {
	"c-format": "printf", "objc-format": "printf", "python-format": "printf",
	"php-format": "printf", "perl-format": "printf", "gcc-internal-format": "printf",
	"gfc-internal-format": "printf", "javascript-format": "printf",
	"java-printf-format": "printf", "lua-format": "printf", "awk-format": "printf",
	"tcl-format": "printf", "object-pascal-format": "printf", "go-format": "printf",
	"python-brace-format": "brace", "perl-brace-format": "brace",
	"csharp-format": "brace", "java-format": "brace", "rust-format": "brace",
	"c++-format": "brace",
}
# Patterns of placeholders the daemon does not parse, by flag.
_QT_TERMS = r"%L?[0-9]{1,2}"
FLAG_TERMS = {
	"qt-format": _QT_TERMS, "kde-format": _QT_TERMS, "kde-kuit-format": _QT_TERMS,
	"ycp-format": r"%[0-9]{1,2}", "smalltalk-format": r"%[0-9]{1,2}",
	"qt-plural-format": r"%[nL]?[0-9]{0,2}(?<=[0-9n])",
	"boost-format": r"%[0-9]{1,2}%",
	"sh-format": r"\$\{[A-Za-z_][A-Za-z0-9_]*\}|\$[A-Za-z_][A-Za-z0-9_]*",
}


def _positive_flags(entry_flags):
	return [f.strip() for f in entry_flags if f.strip() and not f.strip().startswith("no-")]


def entry_format(flags, accelerator=False):
	"""The API ``format`` list for an entry with these flags (sorted, "auto"
	always in it); ``accelerator``: add the accelerator kind."""
	fmts = {"auto"}
	for f in _positive_flags(flags):
		if f in FLAG_FORMATS:
			fmts.add(FLAG_FORMATS[f])
	if accelerator:
		fmts.add("accelerator")
	return sorted(fmts)


# Program identifiers in a message (snake_case words: "key_type",
# "on_main_window_check_resize"): never translated, so sent as
# do-not-translate glossary terms, unless the message has an accelerator.
IDENTIFIER = re.compile(r"(?<![\w%])[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+(?!\w)")


def identifier_terms(text):
	out = []
	for m in IDENTIFIER.finditer(text):
		if m.group(0) not in out:
			out.append(m.group(0))
	return out


def flag_terms(flags, text):
	"""The placeholders of ``text`` that the flags name but the daemon does
	not parse (Qt %1, shell $VAR, ...), in order of appearance."""
	out = []
	for f in _positive_flags(flags):
		pat = FLAG_TERMS.get(f)
		if pat:
			for m in re.finditer(pat, text):
				if m.group(0) not in out:
					out.append(m.group(0))
	return out


# -- accelerators -----------------------------------------------------------

_ENTITY = re.compile(r"&(?:[A-Za-z][A-Za-z0-9]*|#[0-9]+|#[xX][0-9A-Fa-f]+);")


def accel_candidates(text, markers="_&"):
	"""Byte offsets (str indices) of accelerator candidates: a marker followed
	by an ASCII letter/digit or a non-ASCII character, not doubled (``__``,
	``&&`` are escapes) and, for ``&``, not the start of an entity."""
	out = []
	i, n = 0, len(text)
	while i < n:
		c = text[i]
		if c in markers:
			if i + 1 < n and text[i + 1] == c:
				i += 2
				continue
			if c == "&" and _ENTITY.match(text, i):
				i += 1
				continue
			if i + 1 < n and (text[i + 1].isascii() and text[i + 1].isalnum()
					  or not text[i + 1].isascii()):
				out.append(i)
		i += 1
	return out


AUTO_ACCEL_MAX_WORDS = 5


def entry_accelerator(msgid, header_marker=None):
	"""The accelerator marker this msgid carries, or None. Rule (docs/po.md):
	with a header X-Accelerator-Marker, the msgid's first candidate of that
	marker; else exactly one candidate of ``_`` or ``&`` in a msgid of at most
	5 words (the daemon's own auto rule, applied to flagged entries too)."""
	if header_marker:
		c = accel_candidates(msgid, header_marker[0])
		return header_marker[0] if c else None
	c = accel_candidates(msgid)
	if len(c) == 1 and len(msgid.split()) <= AUTO_ACCEL_MAX_WORDS:
		return msgid[c[0]]
	return None


# -- the independent placeholder parser -------------------------------------

# printf conversions: full flavour (flagged entries) and the auto flavour
# (no space or ' flag, so "100% of" and "50% sure" are text).
_PRINTF_FULL = re.compile(
	r"%%|%(?:[0-9]+\$|\([A-Za-z0-9_]+\))?[-+ #0']*(?:[0-9]+|\*(?:[0-9]+\$)?)?"
	r"(?:\.(?:[0-9]+|\*(?:[0-9]+\$)?))?(?:hh|ll|I64|I32|[hlLqjztI])?[diouxXeEfFgGaAcspnCSmr]")
_PRINTF_AUTO = re.compile(
	r"%%|%(?:[0-9]+\$|\([A-Za-z0-9_]+\))?[-+#0]*(?:[0-9]+|\*(?:[0-9]+\$)?)?"
	r"(?:\.(?:[0-9]+|\*(?:[0-9]+\$)?))?(?:hh|ll|I64|I32|[hlLqjztI])?[diouxXeEfFgGaAcspnCSmr]")
_TAG = re.compile(
	r"<!--.*?-->|</[A-Za-z][A-Za-z0-9_.:-]*\s*>"
	r"|<[A-Za-z][A-Za-z0-9_.:-]*(?:\s(?:[^<>\"']|\"[^\"]*\"|'[^']*')*)?/?>"
	r"|&(?:[A-Za-z][A-Za-z0-9]*|#[0-9]+|#[xX][0-9A-Fa-f]+);", re.S)
_POSITIONAL = re.compile(r"^%(?:[0-9]+\$|\()")


_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link",
	 "meta", "param", "source", "track", "wbr"}
_TAG_NAME = re.compile(r"</?([A-Za-z][A-Za-z0-9_.:-]*)")


def _markup(text):
	"""(start, end) of the markup of ``text``: comments and entities always;
	tags only when they pair up (a stack of open tags; self-closing and HTML
	void tags stand alone): "<standard input>" alone is text, not a tag."""
	spans, tags = [], []
	for m in _TAG.finditer(text):
		t = m.group(0)
		if t.startswith("<!--") or t.startswith("&"):
			spans.append((m.start(), m.end()))
		else:
			tags.append(m)
	stack, ok = [], True
	for m in tags:
		t = m.group(0)
		name = _TAG_NAME.match(t).group(1)
		if t.startswith("</"):
			if not stack or stack[-1].lower() != name.lower():
				ok = False
				break
			stack.pop()
		elif not t.endswith("/>") and name.lower() not in _VOID:
			stack.append(name)
	if ok and not stack:
		spans += [(m.start(), m.end()) for m in tags]
	return sorted(spans)


def _brace_groups(text):
	"""Balanced ``{...}`` groups whose content starts with an identifier-ish
	run followed by the end or one of ``!:,.[``; ``{{`` and ``}}``."""
	out = []
	i, n = 0, len(text)
	while i < n:
		if text.startswith("{{", i) or text.startswith("}}", i):
			out.append((i, i + 2))
			i += 2
			continue
		if text[i] == "{":
			depth, j = 0, i
			while j < n:
				depth += {"{": 1, "}": -1}.get(text[j], 0)
				if depth == 0:
					break
				j += 1
			if j < n and re.match(r"[A-Za-z0-9_]*(?:$|[!:,.\[])", text[i + 1:j]):
				out.append((i, j + 1))
				i = j + 1
				continue
		i += 1
	return out


def protected_items(text, flags=(), header_marker=None):
	"""What a translation of ``text`` must keep: a dict with ``items`` (a
	Counter of placeholder and tag texts), ``ordered`` (the non-positional
	printf conversions in order, ``%%`` left out) and ``accel`` (the marker
	character or None). Written from the gettext and markup conventions,
	not from the daemon's parser, so it can check the daemon."""
	pos = _positive_flags(flags)
	full = any(FLAG_FORMATS.get(f) == "printf" for f in pos)
	taken = []  # (start, end, text) of protected spans so far
	items = collections.Counter()

	def free(a, b):
		return all(b <= s or a >= e for s, e, _ in taken)

	for a, b in _markup(text):
		taken.append((a, b, text[a:b]))
	for a, b in _brace_groups(text):
		if free(a, b):
			taken.append((a, b, text[a:b]))
	ordered = []
	for m in (_PRINTF_FULL if full else _PRINTF_AUTO).finditer(text):
		if free(m.start(), m.end()):
			taken.append((m.start(), m.end(), m.group(0)))
	for t in flag_terms(flags, text):
		for m in re.finditer(re.escape(t), text):
			if free(m.start(), m.end()):
				taken.append((m.start(), m.end(), t))
	taken.sort()
	for s, e, t in taken:
		items[t] += 1
		if t.startswith("%") and t != "%%" and not _POSITIONAL.match(t) \
				and _PRINTF_FULL.fullmatch(t):
			ordered.append(t)
	if full:
		# In a printf format every '%' starts a directive: one that is not
		# part of a protected span makes the string invalid for msgfmt.
		stray = sum(1 for k, c in enumerate(text) if c == "%" and free(k, k + 1))
		if stray:
			items["stray %"] = stray
	return {"items": items, "ordered": ordered,
		"accel": entry_accelerator(text, header_marker)}


def check_translation(source, output, flags=(), header_marker=None):
	"""Problems of ``output`` as a translation of ``source`` (a list of
	sentences; empty = fine): every placeholder and tag of the source exactly
	as often, non-positional printf conversions in the same order, and the
	source's accelerator marker present exactly once."""
	want = protected_items(source, flags, header_marker)
	got = protected_items(output, flags, header_marker)
	probs = []
	for t in sorted(set(want["items"]) | set(got["items"])):
		if want["items"][t] != got["items"][t]:
			probs.append("%r %d times in the source, %d in the translation"
				     % (t, want["items"][t], got["items"][t]))
	if not probs and want["ordered"] != got["ordered"]:
		probs.append("printf conversions reordered: %s -> %s"
			     % (" ".join(want["ordered"]), " ".join(got["ordered"])))
	if want["accel"]:
		n = len(accel_candidates(output, want["accel"]))
		if n != 1:
			probs.append("accelerator %r: %d in the translation" % (want["accel"], n))
	return probs


# -- glossary ---------------------------------------------------------------


class PoError(Exception):
	"""A usage-level problem (unreadable catalog, bad glossary)."""


def load_glossary(path):
	"""A glossary file as the API's object form ``{source: target | None}``.
	JSON (an object, or a list of {"source", "target"}) when the file starts
	with ``{`` or ``[``; else TSV lines ``source<TAB>target`` (empty target:
	do not translate), blank lines and lines starting with ``#`` skipped."""
	try:
		with open(path, encoding="utf-8") as f:
			raw = f.read()
	except (OSError, UnicodeDecodeError) as e:
		raise PoError("glossary %s: %s" % (path, e)) from e
	out = {}

	def add(src, tgt, where):
		if not isinstance(src, str) or not src.strip():
			raise PoError("glossary %s: %s: empty source term" % (path, where))
		if tgt is not None and not isinstance(tgt, str):
			raise PoError("glossary %s: %s: target must be a string or null"
				      % (path, where))
		src = src.strip()
		if src in out:
			raise PoError("glossary %s: %s: %r given twice" % (path, where, src))
		out[src] = tgt if tgt else None

	if raw.lstrip()[:1] in ("{", "["):
		try:
			data = json.loads(raw)
		except ValueError as e:
			raise PoError("glossary %s: %s" % (path, e)) from e
		if isinstance(data, dict):
			for k, v in data.items():
				add(k, v, repr(k))
		elif isinstance(data, list):
			for i, it in enumerate(data):
				if not isinstance(it, dict) or "source" not in it:
					raise PoError("glossary %s: [%d]: want {\"source\", \"target\"}"
						      % (path, i))
				add(it["source"], it.get("target"), "[%d]" % i)
		else:
			raise PoError("glossary %s: want a JSON object or list" % path)
		return out
	for n, line in enumerate(raw.splitlines(), 1):
		if not line.strip() or line.startswith("#"):
			continue
		parts = line.split("\t")
		if len(parts) > 2:
			raise PoError("glossary %s:%d: more than one TAB" % (path, n))
		add(parts[0], parts[1].strip() if len(parts) == 2 else None, "line %d" % n)
	return out


# -- the file as blocks -----------------------------------------------------


def _is_entry_block(lines):
	for ln in lines:
		s = ln.lstrip()
		if s.startswith("msgid") or s.startswith("#~ msgid") or s.startswith("#~msgid"):
			return True
	return False


def split_blocks(text):
	"""The file as a list of (kind, text) pieces whose concatenation is
	``text``: kind "sep" (blank lines), "entry" (a block holding a msgid) or
	"other" (a comment-only block)."""
	pieces = []
	cur, cur_blank = [], None
	for ln in text.splitlines(True):
		blank = not ln.strip()
		if cur and blank != cur_blank:
			pieces.append((cur_blank, cur))
			cur = []
		cur.append(ln)
		cur_blank = blank
	if cur:
		pieces.append((cur_blank, cur))
	out = []
	for blank, lines in pieces:
		if blank:
			out.append(("sep", "".join(lines)))
		else:
			out.append(("entry" if _is_entry_block(lines) else "other", "".join(lines)))
	return out


def _key(e):
	return (e.msgctxt, e.msgid, e.msgid_plural or "", bool(e.obsolete))


class Catalog:
	"""A catalog read with polib plus its raw text cut into blocks, so that
	changed entries can be spliced into an otherwise unchanged file.

	``po``: the polib.POFile; ``blocks``: split_blocks of the text;
	``entry_block``: entry index -> block index (None when the file's layout
	does not map one entry per block: then ``splice`` is False)."""

	def __init__(self, path):
		if polib is None:
			raise PoError("reading catalogs needs python3-polib")
		try:
			self.po = polib.pofile(path, wrapwidth=79)
			with open(path, "rb") as f:
				raw = f.read()
		except (OSError, IOError, ValueError, UnicodeDecodeError) as e:
			raise PoError("cannot read %s: %s" % (path, e)) from e
		self.encoding = self.po.encoding or "utf-8"
		try:
			self.text = raw.decode(self.encoding)
		except (UnicodeDecodeError, LookupError) as e:
			raise PoError("cannot decode %s as %s: %s" % (path, self.encoding, e)) from e
		self.blocks = split_blocks(self.text)
		self.header_block = None
		self.entry_block = {}
		self.splice = self._map()
		self.out_encoding = self.encoding

	def _map(self):
		"""Maps entries to blocks, checking each block alone parses to the
		entry of that rank; False when any does not."""
		ents = [i for i, (k, _) in enumerate(self.blocks) if k == "entry"]
		has_header = self.po.metadata or self.po.header or self.po.metadata_is_fuzzy
		if has_header:
			if not ents:
				return False
			first = polib.pofile(self.blocks[ents[0]][1] + "\n")
			if len(first) != 0:
				has_header = False
			else:
				self.header_block = ents.pop(0)
		if len(ents) != len(self.po):
			return False
		for n, (bi, e) in enumerate(zip(ents, self.po)):
			try:
				alone = polib.pofile(self.blocks[bi][1] + "\n")
			except (IOError, ValueError):
				return False
			if len(alone) != 1 or _key(alone[0]) != _key(e):
				return False
			self.entry_block[n] = bi
		return True


# -- rewriting one entry block ----------------------------------------------

MT_COMMENT = "Machine translation:"


def _msgstr_lines(entry, msgstrs, wrapwidth=79):
	"""The msgstr lines polib writes for these translations (a str, or a
	dict index -> str for a plural entry)."""
	e = polib.POEntry(msgid="x")
	if isinstance(msgstrs, dict):
		e.msgid_plural = "x"
		e.msgstr_plural = dict(msgstrs)
	else:
		e.msgstr = msgstrs
	lines = e.__unicode__(wrapwidth).split("\n")
	i = next(k for k, ln in enumerate(lines) if ln.startswith("msgstr"))
	return [ln + "\n" for ln in lines[i:] if ln]


def rewrite_block(block, msgstrs, comment, nl="\n"):
	"""The entry block with fuzzy added to its flags, ``comment`` as its
	machine-translation translator comment (replacing an older one), no
	previous-msgid (#|) lines, and new msgstr lines. Other lines unchanged."""
	lines = block.splitlines(True)
	head = []
	for ln in lines:
		if ln.lstrip().startswith("msgstr"):
			break  # msgstr lines and their continuations: replaced below
		head.append(ln)
	tcom, rest = [], []
	for ln in head:
		is_tc = ln.startswith("#") and (len(ln.rstrip("\r\n")) == 1 or ln[1] in " \t")
		if is_tc and not rest:
			if not ln[1:].strip().startswith(MT_COMMENT):
				tcom.append(ln)
		elif ln.startswith("#|"):
			continue
		else:
			rest.append(ln)
	tcom.append("# %s %s%s" % (MT_COMMENT, comment, nl))
	flags_done = False
	out = []
	for ln in rest:
		if ln.startswith("#,") and not flags_done:
			fl = [f.strip() for f in ln[2:].split(",") if f.strip()]
			if "fuzzy" not in fl:
				fl.insert(0, "fuzzy")
			ln = "#, " + ", ".join(fl) + nl
			flags_done = True
		out.append(ln)
	if not flags_done:
		# Flags go after references and extracted comments, before #| and
		# msgctxt/msgid.
		k = 0
		while k < len(out) and out[k].startswith("#") and not out[k].startswith("#|"):
			k += 1
		out.insert(k, "#, fuzzy" + nl)
	ms = [ln.replace("\n", nl) for ln in _msgstr_lines(None, msgstrs)]
	if lines and not lines[-1].endswith("\n"):
		ms[-1] = ms[-1].rstrip("\r\n")
	return "".join(tcom + out + ms)


# -- the header -------------------------------------------------------------


def _plural_forms(lang):
	if lang in PLURAL_FORMS:
		return PLURAL_FORMS[lang]
	base = re.split(r"[_@.-]", lang)[0]
	return PLURAL_FORMS.get(base)


def nplurals_of(plural_forms):
	m = re.search(r"nplurals\s*=\s*([0-9]+)", plural_forms or "")
	return int(m.group(1)) if m else None


def header_updates(po, language):
	"""The header fields to set: {field: value} for Language, Plural-Forms
	and Content-Type where absent or still the template's."""
	md = po.metadata
	up = {}
	if not md.get("Language", "").strip():
		up["Language"] = language
	lang = md.get("Language", "").strip() or language
	pf = md.get("Plural-Forms", "")
	if not pf.strip() or "INTEGER" in pf or nplurals_of(pf) is None:
		want = _plural_forms(lang)
		if want is None:
			raise PoError("no Plural-Forms known for language %r: add one to "
				      "the header" % lang)
		up["Plural-Forms"] = want
	ct = md.get("Content-Type", "")
	if not ct or "CHARSET" in ct:
		up["Content-Type"] = "text/plain; charset=UTF-8"
	return up


def header_block(cat, updates):
	"""The header block with ``updates`` applied (fields kept in their order,
	new ones appended) and, as msginit does, without the fuzzy flag."""
	old = cat.blocks[cat.header_block][1] if cat.header_block is not None else ""
	com = []
	for ln in old.splitlines(True):
		if ln.startswith("msgid") or ln.startswith("msgctxt"):
			break
		if ln.startswith("#,"):
			fl = [f.strip() for f in ln[2:].split(",") if f.strip() and f.strip() != "fuzzy"]
			if fl:
				com.append("#, " + ", ".join(fl) + "\n")
			continue
		com.append(ln)
	md = dict(cat.po.metadata)
	md.update(updates)
	text = "".join("%s: %s\n" % kv for kv in md.items())
	e = polib.POEntry(msgid="", msgstr=text)
	body = e.__unicode__(79)
	if not body.endswith("\n"):
		body += "\n"
	return "".join(com) + body


# -- translating ------------------------------------------------------------

def segments(text):
	"""(prefix, core, suffix) per line of ``text`` (lines split at \\n, the
	newlines kept in the suffix); the core is what gets translated."""
	out = []
	for part in re.split(r"(?<=\n)", text):
		if part == "":
			continue
		m = re.match(r"^(\s*)(.*?)(\s*)$", part, re.S)
		out.append((m.group(1), m.group(2), m.group(3)))
	return out


class Job:
	"""One entry to translate: its sources (msgid, and msgid_plural), their
	segments, and the translations of the cores as they come back."""

	def __init__(self, index, entry, fmt, accel, terms):
		self.index = index
		self.entry = entry
		self.format = fmt
		self.accel = accel
		self.terms = terms
		self.sources = [entry.msgid] + ([entry.msgid_plural] if entry.msgid_plural else [])
		self.segs = [segments(s) for s in self.sources]
		self.out = [[None] * len(s) for s in self.segs]
		self.failed = None   # reason the entry is left untranslated

	def texts(self):
		return ["".join(p + (o if c else "") + s for (p, c, s), o in zip(segs, outs))
			for segs, outs in zip(self.segs, self.out)]


_SENTENCE_INDEX = re.compile(r"sentences\[([0-9]+)\]")
_MAX_SENTENCES = re.compile(r"takes 1\.\.([0-9]+)")


class Translator:
	"""Sends sentences to the daemon in batches and records the outputs.

	``client``: a seq2seqd_client.Client; ``model``: name or None;
	``options``: extra API options (beam_size); ``glossary``: the user's
	{source: target|None}. ``send(sentences, fmt, terms)`` returns a list of
	(text or None, reason) per sentence."""

	def __init__(self, client, model, options, glossary, batch, log):
		self.client = client
		self.model = model
		self.options = {k: v for k, v in options.items() if v is not None}
		self.glossary = dict(glossary or {})
		self.batch = batch
		self.log = log
		self.requests = 0
		# results per the daemon's "protection" (sentinels, alignment, none;
		# "unknown" from a daemon that does not say)
		self.protection = collections.Counter()
		# (sentence, format, glossary, text) of every answer when a list
		self.record = None

	def _post(self, sentences, fmt, terms):
		opts = dict(self.options)
		opts["format"] = fmt
		gl = dict(self.glossary)
		for t in terms:
			gl.setdefault(t, None)
		if gl:
			opts["glossary"] = gl
		body = {"sentences": sentences, "options": opts}
		if self.model:
			body["model"] = self.model
		self.requests += 1
		_, _, raw = self.client.request("POST", "/v1/translate", body)
		ans = json.loads(raw.decode("utf-8"))
		if self.record is not None:
			for s, r in zip(sentences, ans.get("results", [])):
				h = r.get("hypotheses") or []
				self.record.append((s, list(fmt), gl, h[0]["text"] if h else None))
		return ans

	def send(self, sentences, fmt, terms):
		from seq2seqd_client import SeqdError
		out = [None] * len(sentences)
		todo = list(range(len(sentences)))
		while todo:
			chunk = todo[:self.batch]
			try:
				ans = self._post([sentences[i] for i in chunk], fmt, terms)
			except SeqdError as e:
				if e.status != 422 or e.code in ("invalid_glossary", "invalid_field"):
					raise
				m = _MAX_SENTENCES.search(e.message or "")
				if e.code == "too_many_sentences" and m and int(m.group(1)) < len(chunk):
					self.batch = max(1, int(m.group(1)))
					continue
				if e.code == "cost_limit_exceeded" and len(chunk) > 1:
					self.batch = max(1, len(chunk) // 2)
					continue
				m = _SENTENCE_INDEX.search(e.message or "")
				if m and int(m.group(1)) < len(chunk):
					bad = chunk[int(m.group(1))]
				elif len(chunk) == 1:
					bad = chunk[0]
				else:
					self.batch = max(1, len(chunk) // 2)
					continue
				out[bad] = (None, "%s: %s" % (e.code, e.message))
				todo.remove(bad)
				continue
			for i, r in zip(chunk, ans["results"]):
				h = r.get("hypotheses") or []
				self.protection[r.get("protection", "unknown")] += 1
				out[i] = (h[0]["text"], None) if h else (None, "no hypothesis")
			todo = todo[len(chunk):]
		return out


def plan(cat, fuzzy=False, overwrite=False):
	"""The polib entries to translate, in file order, with their index."""
	out = []
	for i, e in enumerate(cat.po):
		if e.obsolete:
			continue
		if overwrite or (e.fuzzy and fuzzy) or (not e.fuzzy and not e.translated()):
			out.append((i, e))
	return out


def make_jobs(cat, fuzzy=False, overwrite=False):
	marker = (cat.po.metadata.get("X-Accelerator-Marker") or "").strip() or None
	jobs = []
	for i, e in plan(cat, fuzzy, overwrite):
		accel = entry_accelerator(e.msgid, marker)
		terms = []
		for s in [e.msgid] + ([e.msgid_plural] if e.msgid_plural else []):
			for t in flag_terms(e.flags, s) + ([] if accel else identifier_terms(s)):
				if t not in terms:
					terms.append(t)
		jobs.append(Job(i, e, entry_format(e.flags, accel is not None), accel, terms))
	return jobs, marker


def run_jobs(jobs, translator):
	"""Translates every job's segment cores; groups by format so that one
	request carries one format; marks a job failed when a core failed."""
	groups = collections.OrderedDict()
	for j in jobs:
		for si, segs in enumerate(j.segs):
			for k, (_, core, _) in enumerate(segs):
				if core:
					groups.setdefault(",".join(j.format), []).append((j, si, k, core))
	for fmt, items in groups.items():
		# Terms of a whole group go with each of its requests: a term of one
		# entry is a placeholder of the same flag family in any other.
		for start in range(0, len(items), translator.batch):
			part = items[start:start + translator.batch]
			terms = []
			for j, _, _, _ in part:
				terms += [t for t in j.terms if t not in terms]
			res = translator.send([c for _, _, _, c in part], fmt.split(","), terms)
			for (j, si, k, _), (text, why) in zip(part, res):
				if text is None:
					j.failed = j.failed or why
				else:
					j.out[si][k] = text


def finish_job(j, nplurals, marker):
	"""msgstr(s) for a translated job, or None with j.failed set."""
	if j.failed:
		return None
	texts = j.texts()
	for src, out in zip(j.sources, texts):
		probs = check_translation(src, out, j.entry.flags, marker)
		if probs:
			j.failed = "check: " + "; ".join(probs)
			return None
	return plural_msgstrs(j, nplurals)


def plural_msgstrs(j, nplurals):
	"""The msgstr (str) or msgstr[k] (dict) of a job from its outputs."""
	texts = j.texts()
	if not j.entry.msgid_plural:
		return texts[0]
	if nplurals == 1:
		return {0: texts[1]}
	return {k: texts[0] if k == 0 else texts[1] for k in range(nplurals)}


def model_info(client, name):
	"""The daemon's description of model ``name``; without a name, the
	first model named like a language pair (``en-fr``), else the default
	(the daemon's default may well be a model of another kind)."""
	models = client.models()
	if name:
		for m in models:
			if m["name"] == name:
				return m
		raise PoError("the daemon has no model %r (it has: %s)"
			      % (name, ", ".join(m["name"] for m in models)))
	for m in models:
		if target_language(m["name"]):
			return m
	for m in models:
		if m.get("default"):
			return m
	if models:
		return models[0]
	raise PoError("the daemon serves no model")


def target_language(model_name):
	"""The target language of a model named like ``en-fr`` (``fr``)."""
	if model_name and "-" in model_name:
		t = model_name.rsplit("-", 1)[1]
		if re.fullmatch(r"[a-z]{2,3}(?:_[A-Z]{2})?", t):
			return t
	return None


def render(cat, results, updates, comment):
	"""The output text: the input with changed entry blocks and the header
	rewritten. ``results``: entry index -> msgstr(s)."""
	if not cat.splice:
		po = cat.po
		for i, ms in results.items():
			e = po[i]
			if isinstance(ms, dict):
				e.msgstr_plural = ms
			else:
				e.msgstr = ms
			if "fuzzy" not in e.flags:
				e.flags.insert(0, "fuzzy")
			e.previous_msgid = e.previous_msgid_plural = e.previous_msgctxt = None
			keep = [ln for ln in e.tcomment.split("\n") if ln and not ln.startswith(MT_COMMENT)]
			e.tcomment = "\n".join(keep + ["%s %s" % (MT_COMMENT, comment)])
		if updates:
			po.metadata.update(updates)
			po.metadata_is_fuzzy = [f for f in (po.metadata_is_fuzzy or []) if f != "fuzzy"]
		return str(po) + "\n"
	nl = "\r\n" if "\r\n" in cat.text[:2000] else "\n"
	out = [t for _, t in cat.blocks]
	for i, ms in results.items():
		bi = cat.entry_block[i]
		out[bi] = rewrite_block(out[bi], ms, comment, nl)
	if updates:
		hb = header_block(cat, updates).replace("\n", nl)
		if cat.header_block is not None:
			old = out[cat.header_block]
			if not old.endswith("\n"):
				hb = hb.rstrip("\r\n")
			out[cat.header_block] = hb
		else:
			out.insert(0, hb + nl)
	return "".join(out)


def collect(cat, jobs, nplurals, marker, check=True):
	"""({entry index: msgstr(s)}, stats) of finished jobs. ``check``: False
	keeps outputs that fail the placeholder check (for measuring the
	daemon, never for the command)."""
	results = {}
	stats = collections.Counter(selected=len(jobs))
	for j in jobs:
		if (j.failed or "").startswith("check: "):
			j.failed = None  # from an earlier collect(): checked again below
		ms = finish_job(j, nplurals, marker)
		if ms is None and not check and j.failed.startswith("check: "):
			ms = plural_msgstrs(j, nplurals)
			stats["written_despite_check"] += 1
		if ms is None:
			stats["failed_check" if j.failed.startswith("check: ") else "failed_daemon"] += 1
			continue
		try:
			for v in (ms.values() if isinstance(ms, dict) else [ms]):
				v.encode(cat.out_encoding)
		except (UnicodeEncodeError, LookupError):
			j.failed = "translation not encodable in %s" % cat.out_encoding
			stats["failed_encoding"] += 1
			continue
		results[j.index] = ms
		stats["translated"] += 1
	return results, stats


def translate_catalog(cat, translator, model, language, fuzzy=False,
		      overwrite=False, log=sys.stderr, check=True):
	"""Translates the catalog; returns (text, stats, jobs). ``model``: the
	daemon's description of the model (name, sha256); ``check``: see
	:func:`collect`. The text is to be encoded with ``cat.out_encoding``."""
	updates = header_updates(cat.po, language)
	pf = updates.get("Plural-Forms") or cat.po.metadata.get("Plural-Forms")
	nplurals = nplurals_of(pf) or 2
	cat.out_encoding = "utf-8" if "Content-Type" in updates else cat.encoding
	jobs, marker = make_jobs(cat, fuzzy, overwrite)
	run_jobs(jobs, translator)
	results, stats = collect(cat, jobs, nplurals, marker, check)
	text = render(cat, results, updates, model_comment(model))
	return text, stats, jobs


def model_comment(model):
	return "seq2seqd model %s (sha256 %s)" % (model["name"], model.get("sha256", "?"))


# -- the command ------------------------------------------------------------

EXIT_OK, EXIT_DAEMON, EXIT_USAGE, EXIT_CONNECT = 0, 1, 2, 3


def parse_args(argv, prog="seq2seq po"):
	import argparse
	import os
	p = argparse.ArgumentParser(
		prog=prog,
		description="Pre-translate a gettext catalog through a running "
		"seq2seqd: untranslated entries (and with --fuzzy the fuzzy ones) "
		"get a machine translation marked fuzzy; placeholders, tags and "
		"accelerators are kept (docs/po.md).",
		epilog="Exit status: 0 ok (entries that could not be translated are "
		"reported and left as they were), 1 daemon error, 2 usage error "
		"(unreadable catalog or glossary), 3 cannot connect. SEQ2SEQ_URL "
		"sets the default --url.")
	p.add_argument("input", metavar="IN.po|IN.pot", help="the catalog to translate")
	p.add_argument("-o", "--output", metavar="OUT.po", default="-",
		       help="where to write the result (default: stdout)")
	p.add_argument("--url", default=os.environ.get("SEQ2SEQ_URL", "http://127.0.0.1:8080"),
		       help="daemon base URL (default %(default)s)")
	p.add_argument("-m", "--model", help="model name (default: the daemon's default model)")
	p.add_argument("--beam", type=int, metavar="N", help="beam size (default: the model's)")
	p.add_argument("--fuzzy", action="store_true", help="also re-translate fuzzy entries")
	p.add_argument("--overwrite", action="store_true",
		       help="re-translate every entry, translated ones included")
	p.add_argument("--glossary", metavar="FILE", help="TSV (source<TAB>target, "
		       "empty target = do not translate) or a JSON object")
	p.add_argument("--language", metavar="LL", help="target language for a header "
		       "without one (default: from the model name, e.g. en-fr -> fr)")
	p.add_argument("--batch", type=int, default=64, metavar="N",
		       help="sentences per request (default %(default)s, the daemon's "
		       "max_sentences default; lowered automatically when it says less)")
	p.add_argument("--timeout", type=float, default=120.0, metavar="S",
		       help="seconds per socket operation (default %(default)s)")
	p.add_argument("--dry-run", action="store_true", help="list the entries that "
		       "would be translated, with their format, without the daemon")
	p.add_argument("-q", "--quiet", action="store_true", help="no summary on stderr")
	a = p.parse_args(argv)
	if a.batch < 1:
		p.error("--batch must be at least 1")
	if a.beam is not None and a.beam < 1:
		p.error("--beam must be at least 1")
	return a


def _short(s, n=60):
	s = s.replace("\n", "\\n")
	return s if len(s) <= n else s[:n - 1] + "\u2026"


def dry_run(cat, a, out):
	jobs, marker = make_jobs(cat, a.fuzzy, a.overwrite)
	for j in jobs:
		line = j.entry.linenum or 0
		print("%d\t%s\t%s\t%s\t%s" % (line, ",".join(j.format), j.accel or "-",
					      " ".join(j.terms) or "-", _short(j.entry.msgid)), file=out)
	return jobs


def main(argv, prog="seq2seq po"):
	import os
	a = parse_args(argv, prog)
	log = sys.stderr
	try:
		cat = Catalog(a.input)
		glossary = load_glossary(a.glossary) if a.glossary else {}
	except PoError as e:
		print("%s: %s" % (prog, e), file=log)
		return EXIT_USAGE
	if a.dry_run:
		jobs = dry_run(cat, a, sys.stdout)
		if not a.quiet:
			print("%s: %d entries would be translated (dry run, nothing written)"
			      % (prog, len(jobs)), file=log)
		return EXIT_OK
	from seq2seqd_client import Client, SeqdError
	try:
		client = Client(a.url, timeout=a.timeout)
	except ValueError as e:
		print("%s: %s" % (prog, e), file=log)
		return EXIT_USAGE
	try:
		model = model_info(client, a.model)
		lang = a.language or target_language(model["name"]) or DEFAULT_LANGUAGE
		hl = (cat.po.metadata.get("Language") or "").strip()
		if hl and re.split(r"[_@.-]", hl)[0] != re.split(r"[_@.-]", lang)[0] and not a.quiet:
			print("%s: warning: the catalog's language is %s, the model %s "
			      "translates into %s" % (prog, hl, model["name"], lang), file=log)
		tr = Translator(client, model["name"], {"beam_size": a.beam}, glossary,
				a.batch, log)
		text, stats, jobs = translate_catalog(cat, tr, model, lang, a.fuzzy,
						      a.overwrite, log)
	except PoError as e:
		print("%s: %s" % (prog, e), file=log)
		return EXIT_USAGE
	except SeqdError as e:
		print("%s: %s (HTTP %s, %s)" % (prog, e.message, e.status, e.code), file=log)
		return EXIT_DAEMON
	except ConnectionError as e:
		print("%s: %s" % (prog, e), file=log)
		return EXIT_CONNECT
	data = text.encode(cat.out_encoding)
	try:
		if a.output == "-":
			sys.stdout.buffer.write(data)
			sys.stdout.flush()
		else:
			tmp = a.output + ".tmp"
			with open(tmp, "wb") as f:
				f.write(data)
			os.replace(tmp, a.output)
	except OSError as e:
		print("%s: cannot write %s: %s" % (prog, a.output, e), file=log)
		return EXIT_USAGE
	if not a.quiet:
		for j in jobs:
			if j.failed:
				print("%s: %s:%s: left untranslated: %s" % (
					prog, a.input, j.entry.linenum or "?", j.failed), file=log)
		print("%s: %d entries to translate: %d translated (marked fuzzy), %d left "
		      "untranslated (%d failed the placeholder check, %d refused by the "
		      "daemon); %d requests, model %s" % (
			      prog, stats["selected"], stats["translated"],
			      stats["selected"] - stats["translated"], stats["failed_check"],
			      stats["failed_daemon"], tr.requests, model["name"]), file=log)
	return EXIT_OK
