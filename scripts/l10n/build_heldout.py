#!/usr/bin/python3
"""Build the held-out set of real localisation strings: English UI strings
with printf/brace/Qt placeholders, markup or accelerators, and their human
French translations, from the French gettext catalogs (.mo) of the Debian 12
packages of heldout-packages.txt - packages the en-fr training corpus does
not use. Nothing built here is committed (data from elsewhere is fetched at
evaluation time); the package list and a manifest of counts are.

Per catalog entry (not fuzzy, translated, singular; the .mo has neither
comments nor flags): the format flag is inferred from the package's language
the way xgettext marks strings (a valid directive in a C string -> c-format;
Python: printf -> python-format, else a brace field -> python-brace-format;
KDE: %N -> kde-format). An entry is kept when

  * its msgid has a placeholder, a balanced tag or entity, or an accelerator
    (seq2seq_po.protected_items / entry_accelerator with the catalog's
    X-Accelerator-Marker) - the raw strings, nothing cleaned away;
  * its human msgstr keeps them too (seq2seq_po.check_translation): a
    reference that itself drops a placeholder cannot score a tool;
  * it is one line of at most 160 characters and 30 words (the corpus's
    limits, clients/python/s2s_train and scripts/corpus/build_corpus.py);
  * its normalised source (build_corpus.split_key, with and without the
    accelerator) is not the normalised source of ANY entry of ANY training
    package's catalogs (raw, before the corpus's cleaning), nor of a line of
    the --train TSV files when given;
  * no earlier kept entry has the same normalised source.

Output: OUT/heldout.jsonl (one entry per line: package, version, catalog,
lang, marker, msgctxt, msgid, msgstr, flags, kinds) and OUT/manifest.json
(counts per package and kind, drop reasons, the sha256 of heldout.jsonl);
scripts/l10n/heldout-manifest.json is a committed copy of the manifest.

  /usr/bin/python3 scripts/l10n/build_heldout.py [--cache /var/tmp/s2s-l10n] \\
      [--corpus-cache /var/tmp/s2s-corpus] [--train data/en-fr/train.tsv ...]
"""

import argparse
import collections
import glob
import hashlib
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "scripts", "corpus"))
sys.path.insert(0, os.path.join(TOP, "clients", "python"))
import build_corpus  # noqa: E402
import polib  # noqa: E402
import seq2seq_po as sp  # noqa: E402

MAX_CHARS = build_corpus.MAX_CHARS
MAX_WORDS = build_corpus.MAX_WORDS


def read_list(path):
	"""[(package, lang)] of heldout-packages.txt."""
	out = []
	with open(path, encoding="utf-8") as f:
		for line in f:
			parts = line.split("#", 1)[0].split()
			if parts:
				if len(parts) != 2 or parts[1] not in ("c", "python", "kde"):
					raise SystemExit("%s: bad line %r" % (path, line.rstrip()))
				out.append((parts[0], parts[1]))
	return out


def source_package(binpkg):
	r = subprocess.run(["apt-cache", "show", "--no-all-versions", binpkg],
			   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
			   universal_newlines=True)
	m = re.search(r"^Source: (\S+)", r.stdout, re.M)
	return m.group(1) if m else binpkg


def version_of(root):
	"""The package version from its unpacked control data, if known."""
	docs = glob.glob(os.path.join(root, "usr/share/doc/*/changelog.Debian.gz"))
	return os.path.basename(os.path.dirname(docs[0])) if docs else None


# -- flags, as xgettext would put them --------------------------------------

_PRINTF = sp._PRINTF_FULL
_BRACE = re.compile(r"\{[A-Za-z0-9_]*(?:[!:][^{}]*)?\}")
_QT = re.compile(r"%L?[0-9]")


def infer_flags(msgid, lang):
	has_printf = any(m.group(0) != "%%" for m in _PRINTF.finditer(msgid))
	if lang == "c":
		return ["c-format"] if has_printf else []
	if lang == "python":
		if has_printf:
			return ["python-format"]
		return ["python-brace-format"] if _BRACE.search(msgid) else []
	return ["kde-format"] if _QT.search(msgid) else []


def kinds_of(msgid, flags, marker):
	"""Which kinds of protected element msgid has: printf, brace, qt,
	markup, accelerator."""
	it = sp.protected_items(msgid, flags, marker)
	kinds = set()
	for t in it["items"]:
		if t == "stray %":
			continue
		if t.startswith("<") or t.startswith("&"):
			kinds.add("markup")
		elif t.startswith("{") or t.startswith("}"):
			kinds.add("brace")
		elif _PRINTF.fullmatch(t):
			kinds.add("printf")
		else:
			kinds.add("qt")
	if it["accel"]:
		kinds.add("accelerator")
	return sorted(kinds)


# -- the training side ------------------------------------------------------


def keys_of(en):
	k = {build_corpus.split_key(en)}
	s = build_corpus.strip_accel(en)
	if s is not None:
		k.add(build_corpus.split_key(s))
	return k


def training_keys(corpus_pkgs, corpus_cache, tsvs, log):
	keys = set()
	n = 0
	for pkg in corpus_pkgs:
		root = build_corpus.fetch(pkg, corpus_cache)
		if root is None:
			continue
		for cat in build_corpus.fr_catalogs(root):
			try:
				for en, _ in build_corpus.read_catalog(cat):
					if en:
						keys |= keys_of(en)
						n += 1
			except ValueError:
				continue
	for path in tsvs:
		with open(path, encoding="utf-8") as f:
			for line in f:
				keys |= keys_of(line.split("\t", 1)[0])
				n += 1
	print("training side: %d sources, %d normalised keys" % (n, len(keys)), file=log)
	return keys


# -- building ---------------------------------------------------------------


def entries_of(path):
	"""(header marker, [(msgctxt, msgid, msgstr)]) of a .mo: translated,
	singular entries only (a .mo holds no fuzzy entries)."""
	mo = polib.mofile(path)
	marker = (mo.metadata.get("X-Accelerator-Marker") or "").strip() or None
	out = []
	for e in mo:
		if e.msgid and not e.msgid_plural and e.msgstr:
			out.append((e.msgctxt, e.msgid, e.msgstr))
	return marker, out


def build(pkgs, cache, train_keys, log):
	rows, stats = [], collections.OrderedDict()
	seen = set()
	for pkg, lang in pkgs:
		root = build_corpus.fetch(pkg, cache)
		if root is None:
			stats[pkg] = {"status": "unavailable"}
			print("  %-22s unavailable" % pkg, file=log)
			continue
		drop = collections.Counter()
		kept = collections.Counter()
		cats = build_corpus.fr_catalogs(root)
		total = 0
		for cat in cats:
			marker, ents = entries_of(cat)
			for ctx, en, fr in ents:
				total += 1
				flags = infer_flags(en, lang)
				kinds = kinds_of(en, flags, marker)
				if not kinds:
					drop["nothing to protect"] += 1
					continue
				if "\n" in en.rstrip("\n") or "\t" in en or len(en) > MAX_CHARS \
						or len(en.split()) > MAX_WORDS:
					drop["length"] += 1
					continue
				if sp.check_translation(en, fr, flags, marker):
					drop["human translation lacks a placeholder"] += 1
					continue
				k = keys_of(en)
				if k & train_keys:
					drop["in the training catalogs"] += 1
					continue
				if k & seen:
					drop["duplicate"] += 1
					continue
				seen |= k
				for kd in kinds:
					kept[kd] += 1
				rows.append({"package": pkg, "version": version_of(root),
					     "catalog": os.path.basename(cat), "lang": lang,
					     "marker": marker, "msgctxt": ctx, "msgid": en,
					     "msgstr": fr, "flags": flags, "kinds": kinds})
		n = sum(1 for r in rows if r["package"] == pkg)
		stats[pkg] = {"catalogs": len(cats), "entries": total, "kept": n,
			      "kinds": dict(sorted(kept.items())), "dropped": dict(sorted(drop.items()))}
		print("  %-22s %5d entries %4d kept  %s" % (pkg, total, n, dict(kept)), file=log)
	return rows, stats


def main(argv=None):
	ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
	ap.add_argument("--packages", default=os.path.join(HERE, "heldout-packages.txt"))
	ap.add_argument("--corpus-packages", default=os.path.join(TOP, "scripts", "corpus", "packages.txt"))
	ap.add_argument("--cache", default="/var/tmp/s2s-l10n", help="where the held-out "
			".debs are downloaded and unpacked (CACHE/debs, CACHE/x)")
	ap.add_argument("--corpus-cache", default="/var/tmp/s2s-corpus",
			help="the training corpus's .deb cache (scripts/corpus)")
	ap.add_argument("--train", action="append", default=[], metavar="TSV",
			help="also exclude the sources of this training TSV (repeatable)")
	ap.add_argument("--out", default=None, help="output directory (default CACHE/heldout)")
	ap.add_argument("--manifest", default=None, help="also write the manifest here")
	a = ap.parse_args(argv)
	out = a.out or os.path.join(a.cache, "heldout")
	log = sys.stderr
	pkgs = read_list(a.packages)
	corpus = build_corpus.read_packages(a.corpus_packages)
	train_src = {source_package(p) for p in corpus} | set(corpus)
	for p, _ in pkgs:
		if p in corpus or source_package(p) in train_src:
			raise SystemExit("%s (source %s) is used for training: remove it from %s"
					 % (p, source_package(p), a.packages))
	keys = training_keys(corpus, a.corpus_cache, a.train, log)
	rows, stats = build(pkgs, a.cache, keys, log)
	os.makedirs(out, exist_ok=True)
	path = os.path.join(out, "heldout.jsonl")
	with open(path, "w", encoding="utf-8") as f:
		for r in rows:
			f.write(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n")
	with open(path, "rb") as f:
		digest = hashlib.sha256(f.read()).hexdigest()
	kinds = collections.Counter(k for r in rows for k in r["kinds"])
	flags = collections.Counter(",".join(r["flags"]) or "(none)" for r in rows)
	manifest = {"entries": len(rows), "kinds": dict(sorted(kinds.items())),
		    "flags": dict(sorted(flags.items())), "packages": stats,
		    "train_tsvs": [os.path.basename(t) for t in a.train],
		    "heldout_sha256": digest}
	for m in [os.path.join(out, "manifest.json")] + ([a.manifest] if a.manifest else []):
		with open(m, "w", encoding="utf-8") as f:
			json.dump(manifest, f, indent=1, sort_keys=False)
			f.write("\n")
	print("held-out: %d entries (%s) -> %s" % (len(rows), ", ".join(
		"%s %d" % kv for kv in sorted(kinds.items())), path), file=log)
	return 0 if rows else 1


if __name__ == "__main__":
	sys.exit(main())
