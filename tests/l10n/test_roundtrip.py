#!/usr/bin/python3
"""Round trip of a real Debian catalog through `seq2seq po` and seq2seqd.

Fetches dpkg's source package from the Debian archive at test time
(scripts/l10n/fetch_source.py; cached under $S2S_L10N_CACHE, default
/var/tmp/s2s-l10n; nothing of it is committed) and takes po/dpkg.pot
(about 1,200 entries, plural entries, msgctxt entries, c-format, multi-line
help texts) and the French po/fr.po. A real seq2seqd from the build tree
serves the built-in en-fr model. Checks:

  * the .pot: every entry translated or reported; msgfmt --check-format -c
    accepts the result (also with --use-fuzzy, i.e. checking every machine
    translation); msgid/msgctxt/msgid_plural/comments/references kept, flags
    kept plus fuzzy; plural entries have nplurals (2) non-empty forms;
    untouched entries byte-identical; a second run changes no byte;
  * the real fr.po with every 7th translated entry emptied and every 11th
    marked fuzzy (written by polib, so wrapped unlike gettext): with --fuzzy
    exactly those entries change, every other entry is byte-identical.

FAILS (does not skip) when the file cannot be fetched. Prints TAP.
"""

import os
import signal
import subprocess
import sys
import tempfile

SRC = os.path.abspath(os.environ.get("S2S_SRCDIR", "."))
BUILD = os.path.abspath(os.environ.get("S2S_BUILDDIR", "."))
CACHE = os.environ.get("S2S_L10N_CACHE", "/var/tmp/s2s-l10n")
sys.path.insert(0, os.path.join(SRC, "clients", "python"))
sys.path.insert(0, os.path.join(SRC, "scripts", "l10n"))
sys.path.insert(0, os.path.join(SRC, "tests"))
from tap import Tap, collector  # noqa: E402
import seq2seqd_proc  # noqa: E402

CLI = os.path.join(SRC, "clients", "seq2seq", "seq2seq")
TAP = Tap()


def eq(got, want, what=""):
	if got != want:
		raise AssertionError("%s: got %r, want %r" % (what, got, want))


def read(path):
	with open(path, encoding="utf-8") as f:
		return f.read()


def po_cli(url, *args):
	p = subprocess.run([sys.executable, CLI, "po", "--url", url] + list(args),
			   capture_output=True, text=True, timeout=600)
	return p.returncode, p.stdout, p.stderr


def msgfmt(path, fuzzy):
	p = subprocess.run(["msgfmt", "--check-format", "-c", "-o", "/dev/null"]
			   + (["--use-fuzzy"] if fuzzy else []) + [path],
			   capture_output=True, text=True)
	if p.returncode != 0:
		errs = [ln for ln in p.stderr.splitlines() if "warning:" not in ln]
		raise AssertionError("msgfmt -c%s: %s" % (" --use-fuzzy" if fuzzy else "",
							   "\n".join(errs[:10])))


def tests(url, pot, frpo, tmp):
	import polib
	import seq2seq_po as sp
	T, t = collector()

	out = os.path.join(tmp, "dpkg.fr.po")
	st = {}

	@t("dpkg.pot is a real catalog: >= 300 entries, plurals, contexts")
	def _():
		po = polib.pofile(pot)
		st["n"] = len(po)
		if len(po) < 300:
			raise AssertionError("only %d entries" % len(po))
		if not [e for e in po if e.msgid_plural] or not [e for e in po if e.msgctxt]:
			raise AssertionError("no plural or no msgctxt entry")

	@t("seq2seq po dpkg.pot: exit 0, every entry translated or reported")
	def _():
		rc, _, se = po_cli(url, pot, "-o", out, "--beam", "5")
		eq(rc, 0, "exit status; stderr: " + se[-2000:])
		summary = se.strip().splitlines()[-1]
		want = "%d entries to translate:" % st["n"]
		if want not in summary:
			raise AssertionError("summary %r lacks %r" % (summary, want))
		left = se.count("left untranslated:")
		done = int(summary.split(": ", 1)[1].split(" translated")[0].split()[-1])
		eq(done + left, st["n"], "translated + reported")
		st["done"] = done
		print("# %s" % summary)

	@t("msgfmt --check-format -c accepts the result (with and without --use-fuzzy)")
	def _():
		msgfmt(out, False)
		msgfmt(out, True)

	@t("entries: msgid/msgctxt/plural/comments/references kept, flags + fuzzy")
	def _():
		a, b = polib.pofile(pot), polib.pofile(out)
		eq(len(a), len(b), "entries")
		n_tr = 0
		for x, y in zip(a, b):
			what = repr(x.msgid[:40])
			eq((y.msgctxt, y.msgid, y.msgid_plural, y.comment, y.occurrences),
			   (x.msgctxt, x.msgid, x.msgid_plural, x.comment, x.occurrences), what)
			if y.translated() or y.fuzzy and (y.msgstr or y.msgstr_plural.get(0)):
				n_tr += 1
				eq(y.flags, ["fuzzy"] + [f for f in x.flags if f != "fuzzy"], what + " flags")
				if "Machine translation: seq2seqd model en-fr (sha256 " not in y.tcomment:
					raise AssertionError(what + ": no machine-translation comment")
			else:
				eq(y.flags, x.flags, what + " flags of an untouched entry")
		eq(n_tr, st["done"], "translated entries")

	@t("plural entries: nplurals=2 non-empty forms; context entries translated")
	def _():
		b = polib.pofile(out)
		eq(b.metadata["Plural-Forms"], "nplurals=2; plural=(n > 1);", "Plural-Forms")
		plurals = [e for e in b if e.msgid_plural and e.msgstr_plural.get(0)]
		if not plurals:
			raise AssertionError("no plural entry translated")
		for e in plurals:
			eq(sorted(e.msgstr_plural), [0, 1], repr(e.msgid))
			if not all(e.msgstr_plural.values()):
				raise AssertionError("empty form in %r" % e.msgid)
		ctx = [e for e in b if e.msgctxt and e.msgstr]
		if not ctx:
			raise AssertionError("no msgctxt entry translated")
		print("# %d plural and %d msgctxt entries translated" % (len(plurals), len(ctx)))

	@t("untouched entries of dpkg.pot byte-identical; a second run changes nothing")
	def _():
		a = [x for k, x in sp.split_blocks(read(pot)) if k == "entry"][1:]
		b = [x for k, x in sp.split_blocks(read(out)) if k == "entry"][1:]
		eq(len(a), len(b), "blocks")
		po = polib.pofile(out)
		for e, x, y in zip(po, a, b):
			if not e.fuzzy:
				eq(y, x, "untouched block")
		again = os.path.join(tmp, "again.po")
		rc, _, se = po_cli(url, out, "-o", again)
		eq(rc, 0, "rc " + se)
		eq(read(again), read(out), "second run")

	@t("real fr.po, 1/7 emptied and 1/11 fuzzy: --fuzzy changes only those")
	def _():
		po = polib.pofile(frpo, wrapwidth=78)
		live = [e for e in po if not e.obsolete and not e.msgid_plural and e.translated()]
		chosen = set()
		for i, e in enumerate(live):
			if i % 7 == 3:
				e.msgstr = ""
				chosen.add(e.msgid)
			elif i % 11 == 5:
				e.flags.insert(0, "fuzzy")
				chosen.add(e.msgid)
		src = os.path.join(tmp, "fr.in.po")
		po.save(src)
		dst = os.path.join(tmp, "fr.out.po")
		rc, _, se = po_cli(url, src, "-o", dst, "--fuzzy")
		eq(rc, 0, "rc " + se[-1000:])
		msgfmt(dst, True)
		cat = sp.Catalog(src)
		if not cat.splice:
			raise AssertionError("polib's own layout not spliceable")
		a = [x for k, x in sp.split_blocks(read(src)) if k == "entry"]
		b = [x for k, x in sp.split_blocks(read(dst)) if k == "entry"]
		eq(len(a), len(b), "blocks")
		changed = 0
		for e, x, y in zip([None] + list(cat.po), a, b):
			if e is not None and e.msgid in chosen and not e.obsolete:
				changed += x != y
			else:
				eq(y, x, "untouched block %r" % (e.msgid[:40] if e else "header"))
		if changed < len(chosen) * 0.9:
			raise AssertionError("only %d of %d chosen entries changed" % (changed, len(chosen)))
		print("# %d of %d chosen entries translated, %d others byte-identical"
		      % (changed, len(chosen), len(a) - len(chosen)))

	return T


def main():
	try:
		import fetch_source
		files = fetch_source.fetch("dpkg", ["*/po/dpkg.pot", "*/po/fr.po"], CACHE)
		pot = [f for f in files if f.endswith("/po/dpkg.pot") and "/scripts/" not in f][0]
		frpo = [f for f in files if f.endswith("/po/fr.po") and
			os.path.dirname(f) == os.path.dirname(pot)][0]
	except Exception as e:  # noqa: BLE001 - any failure to fetch fails the test
		print("1..1\nnot ok 1 - fetch dpkg's po/dpkg.pot and po/fr.po from the Debian "
		      "archive (needs apt and the network; cache %s)\n# %s" % (CACHE, e))
		return 1
	with tempfile.TemporaryFile(mode="w+") as log, \
			tempfile.TemporaryDirectory(prefix="s2s-l10n-") as tmp:
		try:
			proc, url = seq2seqd_proc.start(BUILD, SRC, log, "--access_log=false")
		except Exception as e:  # noqa: BLE001
			print("1..1\nnot ok 1 - start seq2seqd\n# %s" % e)
			return 1
		try:
			T = tests(url, pot, frpo, tmp)
			print("1..%d" % len(T))
			for name, fn in T:
				TAP.run(name, fn)
		finally:
			proc.send_signal(signal.SIGTERM)
			try:
				proc.wait(timeout=15)
			except subprocess.TimeoutExpired:
				proc.kill()
	return 1 if TAP.failed else 0


if __name__ == "__main__":
	sys.exit(main())
