#!/usr/bin/python3
"""Build the English->French software-UI corpus from Debian gettext catalogs.

For every package in packages.txt: `apt-get download` it into a cache (never
installed), unpack it with `dpkg-deb -x`, read every French .mo catalog with our
own parser, and turn msgid/msgstr into (English, French) pairs. The pairs are
cleaned (see clean_pair), deduplicated, and split deterministically into
train/dev/test so that no test source (after normalisation) appears in train.

Output (DATA_DIR): train.tsv dev.tsv test.tsv (source TAB target per line) and
stats.json (counts per package and per drop reason). No corpus data is committed.

Pairs dropped for "format" or "markup" get a second chance (issue 12):
clean_span_pair keeps those whose protected spans (s2s_ref.spans under
`auto`, else `auto,printf`) match between source and target, and writes them
to train_spans.tsv dev_spans.tsv test_spans.tsv, split by the same hash, so
the three files above stay exactly what they were.

Usage:
  /usr/bin/python3 scripts/corpus/build_corpus.py --cache /var/tmp/s2s-corpus \
      --out data/en-fr
"""

import argparse
import collections
import glob
import hashlib
import json
import os
import re
import struct
import subprocess
import sys
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "clients", "python"))

from s2s_ref import spans as S  # noqa: E402
from s2s_train import spandata  # noqa: E402

# ---------------------------------------------------------------------------
# .mo parsing


def parse_mo(data):
	"""Return a list of (msgid, msgstr) byte-string pairs of one .mo file.

	Plural entries contribute their singular forms (msgid[0], msgstr[0]) and
	their plural forms (msgid_plural, msgstr[1]); contexts (`ctx\\x04id`) are
	dropped because they never show to the user. The header entry (empty msgid)
	is skipped. Raises ValueError on a malformed file.
	"""
	if len(data) < 20:
		raise ValueError("file too short for a .mo header")
	magic = struct.unpack("<I", data[:4])[0]
	if magic == 0x950412DE:
		end = "<"
	elif magic == 0xDE120495:
		end = ">"
	else:
		raise ValueError("bad .mo magic %#x" % magic)
	_, count, orig_off, trans_off = struct.unpack(end + "4I", data[4:20])
	pairs = []
	for i in range(count):
		olen, opos = struct.unpack(end + "2I", data[orig_off + 8 * i: orig_off + 8 * i + 8])
		tlen, tpos = struct.unpack(end + "2I", data[trans_off + 8 * i: trans_off + 8 * i + 8])
		if opos + olen > len(data) or tpos + tlen > len(data):
			raise ValueError("entry %d points past the end of the file" % i)
		msgid = data[opos:opos + olen]
		msgstr = data[tpos:tpos + tlen]
		if not msgid:
			continue
		if b"\x04" in msgid:
			msgid = msgid.split(b"\x04", 1)[1]
		ids = msgid.split(b"\x00")
		strs = msgstr.split(b"\x00")
		pairs.append((ids[0], strs[0]))
		if len(ids) > 1 and len(strs) > 1:
			pairs.append((ids[1], strs[1]))
	return pairs


def mo_charset(data):
	"""The charset named in a catalog's header entry (default UTF-8)."""
	try:
		for msgid, msgstr in _header_only(data):
			m = re.search(rb"charset=([A-Za-z0-9_.-]+)", msgstr)
			if m:
				return m.group(1).decode("ascii")
	except (ValueError, struct.error):
		pass
	return "utf-8"


def _header_only(data):
	end = "<" if struct.unpack("<I", data[:4])[0] == 0x950412DE else ">"
	_, count, orig_off, trans_off = struct.unpack(end + "4I", data[4:20])
	for i in range(min(count, 1)):
		olen, opos = struct.unpack(end + "2I", data[orig_off:orig_off + 8])
		tlen, tpos = struct.unpack(end + "2I", data[trans_off:trans_off + 8])
		yield data[opos:opos + olen], data[tpos:tpos + tlen]


# ---------------------------------------------------------------------------
# Cleaning

# printf (%s %5.2f %ld %1$s %%), Qt/KDE (%1), python (%(name)s), LibreOffice
# placeholders (%PRODUCTNAME, $(ARG1), $1), brace formats ({0} {name}).
RE_FORMAT = re.compile(
	r"%(\d+\$)?[-+ #0']*(\d+|\*)?(\.(\d+|\*))?(hh|h|ll|l|L|q|j|z|t|I64)?[diouxXeEfFgGaAcspnSC%]"
	r"|%\d|%\([A-Za-z_]+\)|%[A-Z][A-Z_0-9]+|\$\(?[A-Za-z0-9_]+\)?|\{[A-Za-z0-9_:.]*\}"
	r"|%[a-z]+%|<[A-Za-z]+>|\bPRODUCTNAME\b")
RE_MARKUP = re.compile(r"</?[A-Za-z][^<>]*>|&[A-Za-z]+;|&#\d+;|\[/?[a-z]+\]")
# Strings that look like code, paths, options, URLs or identifiers.
RE_CODE = re.compile(
	r"\\|//|::|->|=|[{}\[\]|`^@#]|\.\w{2,4}\b(?<!\.\.\.)|^-|\s-{1,2}[A-Za-z]"
	r"|(^|\s)~?/\w|\bhttps?:|\bwww\.|[a-z][A-Z]|\b[A-Z]+_[A-Z_]+\b|\w_\w.*_|^[\W\d_]*$|\(\)")
# Keyboard accelerators: GTK `_File`, Qt/KDE `&Open`, LibreOffice `~Open`, and
# the CJK-style `(_F)` suffix some translations add.
RE_ACCEL_SUFFIX = re.compile(r"\s*\((?:_|&)\w\)")
RE_ACCEL = re.compile(r"[_&~](?=\w)")
RE_WS = re.compile(r"\s+")
MAX_CHARS = 160
MAX_WORDS = 30


def strip_accel(s):
	"""Remove accelerator marks. Returns None when the string has more than one
	mark of a kind (then it is an identifier or code, not a label)."""
	s = RE_ACCEL_SUFFIX.sub("", s)
	for mark in "_&~":
		n = len(re.findall(re.escape(mark) + r"(?=\w)", s))
		if n > 1:
			return None
	return RE_ACCEL.sub("", s)


def normalise_pair(en, fr):
	"""NFC and single spaces on both sides, French typographic spaces as plain
	spaces (the tokenizer only splits on ASCII whitespace, and a model should
	not have to learn U+202F), and one apostrophe (catalogs disagree on ' vs
	U+2019; one form halves the vocabulary of elided words such as l', d', n'
	and makes references consistent)."""
	en = unicodedata.normalize("NFC", RE_WS.sub(" ", en).strip())
	fr = unicodedata.normalize("NFC", RE_WS.sub(" ", fr).strip())
	fr = fr.replace("\u202f", " ").replace("\u00a0", " ")
	return en.replace("\u2019", "'"), fr.replace("\u2019", "'")


def clean_pair(en, fr):
	"""Return (en, fr) cleaned, or (None, reason) when the pair is dropped."""
	if not fr.strip():
		return None, "untranslated"
	for s in (en, fr):
		if "\t" in s or "\x00" in s:
			return None, "control"
		if RE_MARKUP.search(s):
			return None, "markup"
		if RE_FORMAT.search(s):
			return None, "format"
	en2, fr2 = strip_accel(en), strip_accel(fr)
	if en2 is None or fr2 is None:
		return None, "code"
	en2, fr2 = normalise_pair(en2, fr2)
	if not en2 or not fr2:
		return None, "untranslated"
	for s in (en2, fr2):
		if RE_CODE.search(s):
			return None, "code"
		if any(unicodedata.category(c) in ("Cc", "Co", "Cs") for c in s):
			return None, "control"
	if en2 == fr2 or en2.lower() == fr2.lower():
		return None, "untranslated"
	if not re.search(r"[A-Za-z]", en2):
		return None, "code"
	if len(en2) < 2 or len(en2) > MAX_CHARS or len(fr2) > MAX_CHARS * 1.5:
		return None, "length"
	if len(en2.split()) > MAX_WORDS:
		return None, "length"
	ratio = (len(fr2) + 6.0) / (len(en2) + 6.0)
	if ratio > 2.5 or ratio < 0.5:
		return None, "ratio"
	return (en2, fr2), None


# A span stands in the text as one private-use character while the pair is
# cleaned, so accelerator stripping, whitespace collapsing and the code checks
# never look inside a span.
SPAN_BASE = 0xE000
RE_SPAN_CHAR = re.compile("[\ue000-\ue3ff]")


def _mask_spans(sp):
	text = sp.text.decode("utf-8")
	b, out, pos = sp.text, [], 0
	for k, s in enumerate(sp.spans):
		out.append(b[pos:s.start].decode("utf-8"))
		out.append(chr(SPAN_BASE + k))
		pos = s.end
	out.append(b[pos:].decode("utf-8"))
	del text
	return "".join(out)


def _unmask_spans(masked, sp):
	texts = spandata.span_texts(sp)
	return RE_SPAN_CHAR.sub(lambda m: texts[ord(m.group(0)) - SPAN_BASE].decode("utf-8"), masked)


def span_kinds(sp):
	"""Counter of the kinds of spans in a parsed source (for the statistics)."""
	c = collections.Counter()
	for s in sp.spans:
		t = sp.text[s.start:s.end]
		if s.kind == S.OPEN:
			c["tag pair"] += 1
		elif s.kind == S.CLOSE:
			continue
		elif t.startswith(b"<!--"):
			c["comment"] += 1
		elif t.startswith(b"<"):
			c["empty tag"] += 1
		elif t.startswith(b"&"):
			c["entity"] += 1
		elif t.startswith(b"%"):
			c["printf"] += 1
		else:
			c["brace"] += 1
	return c


def clean_span_pair(en, fr):
	"""A pair clean_pair dropped for "format" or "markup", kept when its spans
	match. Returns ((en, fr), kinds Counter) or (None, sub-reason).

	The spans are parsed from the raw strings, replaced by one private-use
	character each, and the text around them goes through the cleaning of
	clean_pair (accelerators, whitespace, NFC, French spaces, apostrophes,
	code, length, ratio); format or markup left outside the spans (Qt `%1`,
	`$(ARG)`, unbalanced tags, ...) drops the pair. Finally the cleaned strings
	are parsed again and must still match with the same span texts.
	"""
	m = spandata.match_pair(en, fr)
	if m is None:
		return None, "unmatched"
	_, src, tgt, _ = m
	men, mfr = _mask_spans(src), _mask_spans(tgt)
	for s in (men, mfr):
		if RE_MARKUP.search(s) or RE_FORMAT.search(s):
			return None, "residue"
	en2, fr2 = strip_accel(men), strip_accel(mfr)
	if en2 is None or fr2 is None:
		return None, "code"
	en2, fr2 = normalise_pair(en2, fr2)
	plain = [RE_SPAN_CHAR.sub(" ", x) for x in (en2, fr2)]
	for s in plain:
		if RE_CODE.search(s):
			return None, "code"
		if any(unicodedata.category(c) in ("Cc", "Co", "Cs") for c in s):
			return None, "control"
	if not re.search(r"[A-Za-z]", plain[0]):
		return None, "no text"
	en3, fr3 = _unmask_spans(en2, src), _unmask_spans(fr2, tgt)
	if en3 == fr3 or en3.lower() == fr3.lower():
		return None, "untranslated"
	if "\t" in en3 + fr3 or "\n" in en3 + fr3:
		return None, "control"
	if len(en3) < 2 or len(en3) > MAX_CHARS or len(fr3) > MAX_CHARS * 1.5:
		return None, "length"
	if len(en3.split()) > MAX_WORDS:
		return None, "length"
	ratio = (len(plain[1]) + 6.0) / (len(plain[0]) + 6.0)
	if ratio > 2.5 or ratio < 0.5:
		return None, "ratio"
	again = spandata.match_pair(en3, fr3)
	if again is None or spandata.span_texts(again[1]) != spandata.span_texts(src):
		return None, "reparse"
	return (en3, fr3), span_kinds(again[1])


def split_key(en):
	"""Normalised source used for deduplication across splits: variants that
	differ only in case, trailing punctuation or ellipsis land in one split."""
	k = en.lower().replace("\u2026", "...")
	k = re.sub(r"[\s.:!?…]+$", "", k)
	return RE_WS.sub(" ", k).strip()


def split_of(key, dev_pct, test_pct):
	h = int(hashlib.sha1(key.encode("utf-8")).hexdigest()[:8], 16) % 10000
	if h < test_pct * 100:
		return "test"
	if h < (test_pct + dev_pct) * 100:
		return "dev"
	return "train"


# ---------------------------------------------------------------------------
# Fetching


def read_packages(path):
	pkgs = []
	with open(path, encoding="utf-8") as f:
		for line in f:
			line = line.split("#", 1)[0].strip()
			if line and line not in pkgs:
				pkgs.append(line)
	return pkgs


def fetch(pkg, cache):
	"""Download and unpack pkg into the cache (once). Returns the unpack dir
	or None when apt-get cannot fetch it."""
	debs = os.path.join(cache, "debs")
	root = os.path.join(cache, "x", pkg)
	if os.path.isdir(root):
		return root
	os.makedirs(debs, exist_ok=True)
	found = glob.glob(os.path.join(debs, pkg + "_*.deb"))
	if not found:
		r = subprocess.run(["apt-get", "download", pkg], cwd=debs,
				   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
		found = glob.glob(os.path.join(debs, pkg + "_*.deb"))
		if r.returncode != 0 or not found:
			return None
	tmp = root + ".tmp"
	subprocess.run(["rm", "-rf", tmp], check=True)
	os.makedirs(tmp)
	subprocess.run(["dpkg-deb", "-x", found[0], tmp], check=True)
	os.rename(tmp, root)
	return root


def fr_catalogs(root):
	out = []
	for dirpath, _, files in os.walk(root):
		parts = dirpath.split(os.sep)
		if len(parts) >= 2 and parts[-1] == "LC_MESSAGES" and parts[-2] in ("fr", "fr_FR"):
			out += [os.path.join(dirpath, f) for f in files if f.endswith(".mo")]
	return sorted(out)


def read_catalog(path):
	with open(path, "rb") as f:
		data = f.read()
	charset = mo_charset(data)
	for bid, bstr in parse_mo(data):
		try:
			yield bid.decode(charset), bstr.decode(charset)
		except (UnicodeDecodeError, LookupError):
			yield None, None


# ---------------------------------------------------------------------------


def build(pkgs, cache, dev_pct, test_pct, log=sys.stderr):
	stats = {"packages": {}, "dropped": collections.Counter(), "raw": 0}
	# source -> Counter of targets (majority vote for conflicting translations)
	targets = collections.defaultdict(collections.Counter)
	span_targets = collections.defaultdict(collections.Counter)
	span_drop = collections.Counter()
	for pkg in pkgs:
		root = fetch(pkg, cache)
		if root is None:
			stats["packages"][pkg] = "unavailable"
			print("  %-32s unavailable" % pkg, file=log)
			continue
		cats = fr_catalogs(root)
		kept = 0
		raw = 0
		for cat in cats:
			try:
				entries = list(read_catalog(cat))
			except ValueError as e:
				print("  %s: %s" % (cat, e), file=log)
				continue
			for en, fr in entries:
				raw += 1
				if en is None:
					stats["dropped"]["encoding"] += 1
					continue
				pair, why = clean_pair(en, fr)
				if pair is None:
					stats["dropped"][why] += 1
					if why in ("format", "markup"):
						spair, swhy = clean_span_pair(en, fr)
						if spair is None:
							span_drop[swhy] += 1
						else:
							span_targets[spair[0]][spair[1]] += 1
					continue
				targets[pair[0]][pair[1]] += 1
				kept += 1
		stats["raw"] += raw
		stats["packages"][pkg] = {"catalogs": len(cats), "entries": raw, "clean": kept}
		print("  %-32s %3d catalogs %7d entries %7d clean" % (pkg, len(cats), raw, kept), file=log)
	splits = {"train": [], "dev": [], "test": [], "train_spans": [], "dev_spans": [], "test_spans": []}
	for en in sorted(targets):
		# Most frequent translation; ties go to the lexicographically first.
		fr = sorted(targets[en].items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
		splits[split_of(split_key(en), dev_pct, test_pct)].append((en, fr))
	stats["dropped"] = dict(stats["dropped"])
	stats["unique_sources"] = len(targets)
	stats["counts"] = {k: len(v) for k, v in splits.items()}
	for en in sorted(span_targets):
		if en in targets:
			span_drop["duplicate"] += 1
			continue
		fr = sorted(span_targets[en].items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
		split = split_of(split_key(en), dev_pct, test_pct)
		splits[split + "_spans"].append((en, fr))
	kinds = {}
	for name in ("train", "dev", "test"):
		c = collections.Counter()
		for en, fr in splits[name + "_spans"]:
			c["pairs"] += 1
			c.update(span_kinds(S.parse(en, spandata.match_pair(en, fr)[0])))
		kinds[name] = dict(c)
	stats["spans"] = {"dropped": dict(span_drop), "unique_sources": len(span_targets),
			  "counts": {k: len(splits[k + "_spans"]) for k in ("train", "dev", "test")},
			  "kinds": kinds}
	return splits, stats


def main(argv=None):
	ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
	ap.add_argument("--packages", default=os.path.join(HERE, "packages.txt"))
	ap.add_argument("--cache", default=os.path.expanduser("~/.cache/seq2seqd-corpus"),
			help="where .deb files are downloaded and unpacked")
	ap.add_argument("--out", default="data/en-fr", help="output directory for the TSV files")
	ap.add_argument("--dev-pct", type=float, default=2.0)
	ap.add_argument("--test-pct", type=float, default=2.0)
	args = ap.parse_args(argv)
	pkgs = read_packages(args.packages)
	print("building from %d packages (cache %s)" % (len(pkgs), args.cache), file=sys.stderr)
	splits, stats = build(pkgs, args.cache, args.dev_pct, args.test_pct)
	os.makedirs(args.out, exist_ok=True)
	for name, rows in splits.items():
		with open(os.path.join(args.out, name + ".tsv"), "w", encoding="utf-8") as f:
			for en, fr in rows:
				f.write(en + "\t" + fr + "\n")
	with open(os.path.join(args.out, "stats.json"), "w", encoding="utf-8") as f:
		json.dump(stats, f, indent=1, sort_keys=True)
	print("raw entries %d, unique clean sources %d" % (stats["raw"], stats["unique_sources"]))
	print("dropped: " + ", ".join("%s %d" % kv for kv in sorted(stats["dropped"].items())))
	print("train %(train)d  dev %(dev)d  test %(test)d" % stats["counts"])
	sp = stats["spans"]
	print("span pairs: train %(train)d  dev %(dev)d  test %(test)d" % sp["counts"])
	print("span pairs dropped: " + ", ".join("%s %d" % kv for kv in sorted(sp["dropped"].items())))
	for name, c in sp["kinds"].items():
		print("  %s spans: %s" % (name, ", ".join("%s %d" % kv for kv in sorted(c.items()))))
	return 0


if __name__ == "__main__":
	sys.exit(main())
