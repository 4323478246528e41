#!/usr/bin/python3
"""`seq2seq po` (clients/python/seq2seq_po.py) against a fake seq2seqd.

The fake daemon (a stdlib HTTP server in a thread) answers GET /v1/models
and POST /v1/translate with a known rule: the translation of a sentence is
"FR[" + sentence + "]", so every placeholder, tag and accelerator survives;
a sentence holding "LOSE" comes back without its "%s" (the client's check
must then leave the entry untranslated); "TOOLONG" is refused with 422
input_too_long naming the sentence; more than MAX_SENTENCES sentences are
refused with 422 too_many_sentences. Every request body is recorded, so the
tests see the format, glossary and batch of each request.

Covers: the flag -> format mapping, accelerators, the independent
placeholder check, glossary files, the block splicer (untouched entries
byte-identical), plural forms, contexts, comments, header, msgfmt -c on the
result, --fuzzy/--overwrite/--dry-run, and the exit codes. Needs
/usr/bin/python3 with polib and msgfmt (gettext). Prints TAP.
"""

import http.server
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading

SRC = os.path.abspath(os.environ.get("S2S_SRCDIR", "."))
sys.path.insert(0, os.path.join(SRC, "clients", "python"))
sys.path.insert(0, os.path.join(SRC, "tests"))
from tap import Tap, collector  # noqa: E402

CLI = os.path.join(SRC, "clients", "seq2seq", "seq2seq")
MAX_SENTENCES = 4
SHA = "ab" * 32
TAP = Tap()


# -- the fake daemon ---------------------------------------------------------

class Fake(http.server.BaseHTTPRequestHandler):
	bodies = []
	fail_all = None  # (status, code) to answer every translate with

	def log_message(self, *a):
		pass

	def _send(self, status, obj):
		data = json.dumps(obj).encode("utf-8")
		self.send_response(status)
		self.send_header("Content-Type", "application/json")
		self.send_header("Content-Length", str(len(data)))
		self.end_headers()
		self.wfile.write(data)

	def do_GET(self):
		if self.path == "/v1/models":
			self._send(200, {"models": [
				{"name": "dates", "default": True, "sha256": "00" * 32},
				{"name": "en-fr", "default": False, "sha256": SHA}]})
		else:
			self._send(404, {"error": {"code": "not_found", "message": "no"}})

	def do_POST(self):
		body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
		Fake.bodies.append(body)
		if Fake.fail_all:
			st, code = Fake.fail_all
			return self._send(st, {"error": {"code": code, "message": "broken"}})
		ss = body["sentences"]
		if len(ss) > MAX_SENTENCES:
			return self._send(422, {"error": {"code": "too_many_sentences", "message":
				"%d sentences given; a request takes 1..%d" % (len(ss), MAX_SENTENCES)}})
		for i, s in enumerate(ss):
			if "TOOLONG" in s:
				return self._send(422, {"error": {"code": "input_too_long",
					"message": "sentences[%d] has 999 tokens" % i}})
		res = []
		for s in ss:
			t = s.replace("%s", "") if "LOSE" in s else s
			res.append({"source": s, "hypotheses": [{"text": "FR[" + t + "]"}],
				    "protection": "alignment"})
		self._send(200, {"model": body.get("model"), "results": res})


def start_fake():
	srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Fake)
	threading.Thread(target=srv.serve_forever, daemon=True).start()
	return srv, "http://127.0.0.1:%d" % srv.server_address[1]


def po_cli(url, *args, stdin=None):
	p = subprocess.run([sys.executable, CLI, "po", "--url", url] + list(args),
			   capture_output=True, text=True, timeout=60, input=stdin)
	return p.returncode, p.stdout, p.stderr


def eq(got, want, what=""):
	if got != want:
		raise AssertionError("%s: got %r, want %r" % (what, got, want))


def msgfmt_ok(path):
	for extra in ([], ["--use-fuzzy"]):
		p = subprocess.run(["msgfmt", "--check-format", "-c", "-o", "/dev/null"] + extra + [path],
				   capture_output=True, text=True)
		if p.returncode != 0:
			raise AssertionError("msgfmt -c %s: %s" % (" ".join(extra), p.stderr[-800:]))


# A template with one entry of every kind the tool handles. Wrapped and
# laid out as xgettext writes it.
POT = r'''# SOME DESCRIPTIVE TITLE.
# Copyright (C) YEAR THE PACKAGE'S COPYRIGHT HOLDER
#
#, fuzzy
msgid ""
msgstr ""
"Project-Id-Version: demo 1.0\n"
"POT-Creation-Date: 2026-12-05 10:00+0000\n"
"PO-Revision-Date: YEAR-MO-DA HO:MI+ZONE\n"
"Last-Translator: FULL NAME <EMAIL@ADDRESS>\n"
"Language-Team: LANGUAGE <LL@li.org>\n"
"Language: \n"
"MIME-Version: 1.0\n"
"Content-Type: text/plain; charset=CHARSET\n"
"Content-Transfer-Encoding: 8bit\n"
"Plural-Forms: nplurals=INTEGER; plural=EXPRESSION;\n"

#. TRANSLATORS: the file name
#: src/main.c:10
#, c-format
msgid "Could not open file %s"
msgstr ""

#: src/app.py:3
#, python-brace-format
msgid "Welcome, {name}!"
msgstr ""

#: src/ui.c:5
msgid "Click <b>Save</b> to continue"
msgstr ""

#: src/ui.c:6
msgid "_Open Recent"
msgstr ""

#: src/ui.c:7
msgctxt "menu"
msgid "Open"
msgstr ""

#: src/ui.c:8
msgctxt "verb"
msgid "Open"
msgstr ""

#: src/main.c:20
#, c-format
msgid "%d file"
msgid_plural "%d files"
msgstr[0] ""
msgstr[1] ""

#: src/main.c:30
#, c-format
msgid ""
"\n"
"Usage: %s [OPTION]...\n"
"  -h   show this help\n"
msgstr ""

#: src/kde.cpp:3
#, kde-format
msgid "Copied %1 of %2"
msgstr ""

#: src/main.c:40
#, c-format
msgid "LOSE the name %s"
msgstr ""

#: src/main.c:41
msgid "TOOLONG sentence"
msgstr ""

#: src/main.c:42
#, c-format
msgid "Read %1$s bytes from %2$s"
msgstr ""

#: src/main.c:43
msgid "a very long reference line that polib would wrap differently than gettext does at column 79 ok"
msgstr ""
'''


def write(path, text):
	with open(path, "w", encoding="utf-8") as f:
		f.write(text)


def read(path):
	with open(path, encoding="utf-8") as f:
		return f.read()


def tests(url, tmp):
	import polib
	import seq2seq_po as sp
	T, t = collector()

	pot = os.path.join(tmp, "demo.pot")
	write(pot, POT)

	@t("entry_format: flag -> format, auto always, accelerator added")
	def _():
		eq(sp.entry_format(["c-format"]), ["auto", "printf"], "c-format")
		eq(sp.entry_format(["python-format"]), ["auto", "printf"], "python-format")
		eq(sp.entry_format(["python-brace-format"]), ["auto", "brace"], "brace")
		eq(sp.entry_format(["kde-format"]), ["auto"], "kde")
		eq(sp.entry_format([]), ["auto"], "none")
		eq(sp.entry_format(["no-c-format"]), ["auto"], "no-c-format")
		eq(sp.entry_format(["fuzzy", "c-format"], True), ["accelerator", "auto", "printf"], "accel")
		eq(sp.flag_terms(["kde-format"], "Copied %1 of %2 (%L3)"), ["%1", "%2", "%L3"], "qt terms")
		eq(sp.flag_terms(["sh-format"], "Set $HOME or ${XDG_DIR}"), ["$HOME", "${XDG_DIR}"], "sh")
		eq(sp.flag_terms(["c-format"], "%1"), [], "c has no terms")
		eq(sp.identifier_terms('in "key_type" of config_file, not _File'),
		   ["key_type", "config_file"], "identifiers")

	@t("entry_accelerator: header marker, else one candidate in <= 5 words")
	def _():
		eq(sp.entry_accelerator("_Open Recent"), "_", "gtk")
		eq(sp.entry_accelerator("&Open"), "&", "kde")
		eq(sp.entry_accelerator("Save &amp; quit"), None, "entity")
		eq(sp.entry_accelerator("key_type and other_key"), None, "two candidates")
		eq(sp.entry_accelerator("Use __init__ here"), None, "escapes")
		eq(sp.entry_accelerator("Open the _file in a new window now"), None, "6 words")
		eq(sp.entry_accelerator("Open the &file in a new window now", "&"), "&", "header marker")
		eq(sp.entry_accelerator("Open the _file", "&"), None, "not the header's marker")

	@t("check_translation: the independent parser catches losses")
	def _():
		ok = sp.check_translation
		eq(ok("Open %s", "Ouvrir %s", ["c-format"]), [], "kept")
		if not ok("Open %s", "Ouvrir", ["c-format"]):
			raise AssertionError("lost %s not seen")
		if not ok("%s has %d", "%d a %s", ["c-format"]):
			raise AssertionError("reordered %s %d not seen")
		eq(ok("%1$s has %2$d", "%2$d a %1$s", ["c-format"]), [], "positional reorder is fine")
		if not ok("Error %s", "Erreur % s %s", ["c-format"]):
			raise AssertionError("stray %% not seen")
		eq(ok("100% sure", "sûr à 100 %", []), [], "auto: % is text")
		if not ok("Click <b>Save</b>", "Cliquez <b>Enregistrer", []):
			raise AssertionError("lost </b> not seen")
		eq(ok("Read <standard input>", "Lire <entrée standard>", []), [],
		   "an unpaired <...> is text")
		if not ok("a<br/>b", "a b", []):
			raise AssertionError("lost <br/> not seen")
		if not ok("_Open", "Ouvrir", []):
			raise AssertionError("lost accelerator not seen")
		if not ok("Welcome, {name}!", "Bienvenue, {nom} !", ["python-brace-format"]):
			raise AssertionError("renamed brace field not seen")
		if not ok("Copied %1 of %2", "Copié %1 de %1", ["kde-format"]):
			raise AssertionError("qt %2 lost not seen")

	@t("load_glossary: TSV and JSON; duplicates and extra tabs refused")
	def _():
		g = os.path.join(tmp, "g.tsv")
		write(g, "# comment\nGNOME\t\nfile\tfichier\n\n")
		eq(sp.load_glossary(g), {"GNOME": None, "file": "fichier"}, "tsv")
		write(g, '{"GNOME": null, "file": "fichier"}')
		eq(sp.load_glossary(g), {"GNOME": None, "file": "fichier"}, "json")
		write(g, '[{"source": "x", "target": null}]')
		eq(sp.load_glossary(g), {"x": None}, "json list")
		for bad in ("a\tb\na\tc\n", "a\tb\tc\n", '{"a": 3}'):
			write(g, bad)
			try:
				sp.load_glossary(g)
			except sp.PoError:
				continue
			raise AssertionError("accepted %r" % bad)

	@t("split_blocks: the pieces concatenate to the file; entries map 1:1")
	def _():
		eq("".join(x for _, x in sp.split_blocks(POT)), POT, "concat")
		cat = sp.Catalog(pot)
		eq(cat.splice, True, "splice")
		eq(len(cat.entry_block), len(cat.po), "mapped")

	out = os.path.join(tmp, "demo.fr.po")
	state = {}

	@t("seq2seq po on a .pot: exit 0, summary, msgfmt -c accepts the result")
	def _():
		Fake.bodies.clear()
		rc, so, se = po_cli(url, pot, "-o", out, "--beam", "3")
		eq(rc, 0, "exit status (stderr %s)" % se)
		if "13 entries to translate: 11 translated" not in se:
			raise AssertionError("summary: %s" % se)
		if "input_too_long" not in se or "'%s' 1 times in the source, 0" not in se:
			raise AssertionError("failures not reported: %s" % se)
		msgfmt_ok(out)
		state["bodies"] = list(Fake.bodies)

	@t("requests: one format per request, model en-fr, beam, batches <= max_sentences")
	def _():
		bodies = state["bodies"]
		for b in bodies:
			eq(b["model"], "en-fr", "model")
			eq(b["options"]["beam_size"], 3, "beam")
		fmts = {}
		for b in bodies:
			if len(b["sentences"]) <= MAX_SENTENCES:
				for s in b["sentences"]:
					fmts[s] = b["options"]["format"]
		eq(fmts["Could not open file %s"], ["auto", "printf"], "c-format")
		eq(fmts["Welcome, {name}!"], ["auto", "brace"], "brace")
		eq(fmts["Click <b>Save</b> to continue"], ["auto"], "no flag")
		eq(fmts["_Open Recent"], ["accelerator", "auto"], "accelerator")
		kde = [b for b in bodies if "Copied %1 of %2" in b["sentences"]][-1]
		eq(kde["options"]["glossary"], {"%1": None, "%2": None}, "qt terms as glossary")
		if not any(len(b["sentences"]) > MAX_SENTENCES for b in bodies):
			raise AssertionError("the first batch should have been refused (64 > 4)")

	@t("translated entries: fuzzy, MT comment, comments/refs/flags/msgctxt kept")
	def _():
		po = polib.pofile(out)
		e = po.find("Could not open file %s")
		eq(e.msgstr, "FR[Could not open file %s]", "msgstr")
		eq(e.flags, ["fuzzy", "c-format"], "flags")
		eq(e.comment, "TRANSLATORS: the file name", "extracted comment")
		eq(e.occurrences, [("src/main.c", "10")], "reference")
		eq(e.tcomment, "Machine translation: seq2seqd model en-fr (sha256 %s)" % SHA, "tcomment")
		menu = po.find("Open", msgctxt="menu")
		verb = po.find("Open", msgctxt="verb")
		eq((menu.msgstr, verb.msgstr), ("FR[Open]", "FR[Open]"), "contexts kept, msgid alone sent")
		eq(po.find("_Open Recent").msgstr, "FR[_Open Recent]", "accel")

	@t("plural entry: nplurals=2 forms, [0] from msgid, [1] from msgid_plural")
	def _():
		e = polib.pofile(out).find("%d file")
		eq(e.msgstr_plural, {0: "FR[%d file]", 1: "FR[%d files]"}, "forms")

	@t("multi-line msgid: lines translated one by one, newlines and indent kept")
	def _():
		e = polib.pofile(out).find("\nUsage: %s [OPTION]...\n  -h   show this help\n")
		eq(e.msgstr, "\nFR[Usage: %s [OPTION]...]\n  FR[-h   show this help]\n", "msgstr")

	@t("header: Language fr, French Plural-Forms, UTF-8, fuzzy flag dropped")
	def _():
		po = polib.pofile(out)
		eq(po.metadata["Language"], "fr", "Language")
		eq(po.metadata["Plural-Forms"], "nplurals=2; plural=(n > 1);", "Plural-Forms")
		eq(po.metadata["Content-Type"], "text/plain; charset=UTF-8", "charset")
		eq(bool(po.metadata_is_fuzzy), False, "header fuzzy")
		if not read(out).startswith("# SOME DESCRIPTIVE TITLE.\n# Copyright (C) YEAR"):
			raise AssertionError("header comments lost")

	@t("untouched entries byte-identical (refused, failed check, long line)")
	def _():
		a = [x for k, x in sp.split_blocks(POT) if k == "entry"]
		b = [x for k, x in sp.split_blocks(read(out)) if k == "entry"]
		eq(len(a), len(b), "blocks")
		same = [x for x in a if x in b]
		for s in ("LOSE the name", "TOOLONG sentence"):
			if not any(s in x for x in same):
				raise AssertionError("%s changed" % s)
		eq(len(same), 2, "exactly the two untranslated entries unchanged")

	@t("second run on the result: nothing to do, file byte-identical")
	def _():
		again = os.path.join(tmp, "again.po")
		rc, _, se = po_cli(url, out, "-o", again)
		eq(rc, 0, "rc " + se)
		eq(read(again), read(out), "bytes")

	@t("a .po: translated entries stay, fuzzy ones only with --fuzzy (#| dropped)")
	def _():
		po_text = read(out).replace(
			'#: src/main.c:43\nmsgid',
			'#: src/main.c:43\n#, fuzzy\n#| msgid "old text"\nmsgid').replace(
			'column 79 ok"\nmsgstr ""', 'column 79 ok"\nmsgstr "ancien"')
		src = os.path.join(tmp, "part.po")
		write(src, po_text)
		dst = os.path.join(tmp, "part.out.po")
		rc, _, se = po_cli(url, src, "-o", dst)
		eq(rc, 0, "rc")
		eq(read(dst), po_text, "without --fuzzy nothing changes but the 2 failing entries")
		rc, _, se = po_cli(url, src, "-o", dst, "--fuzzy")
		eq(rc, 0, "rc")
		e = polib.pofile(dst).find(
			"a very long reference line that polib would wrap differently than gettext does at column 79 ok")
		eq(e.msgstr.startswith("FR[a very long"), True, "fuzzy retranslated")
		eq(e.previous_msgid, None, "#| dropped")
		eq(e.fuzzy, True, "still fuzzy")
		a = [x for k, x in sp.split_blocks(po_text) if k == "entry"]
		b = [x for k, x in sp.split_blocks(read(dst)) if k == "entry"]
		eq(sum(1 for x, y in zip(a, b) if x != y), 1, "only that entry changed")
		msgfmt_ok(dst)

	@t("--overwrite: translated entries re-translated, one MT comment each")
	def _():
		dst = os.path.join(tmp, "over.po")
		rc, _, se = po_cli(url, out, "-o", dst, "--overwrite")
		eq(rc, 0, "rc " + se)
		e = polib.pofile(dst).find("Could not open file %s")
		eq(e.msgstr, "FR[Could not open file %s]", "re-translated from the msgid")
		eq(read(dst).count("Machine translation:"), read(out).count("Machine translation:"), "comments")

	@t("--glossary TSV and JSON go into options.glossary")
	def _():
		for name, text in (("g.tsv", "GNOME\t\nSave\tEnregistrer\n"),
				   ("g.json", '{"GNOME": null, "Save": "Enregistrer"}')):
			g = os.path.join(tmp, name)
			write(g, text)
			Fake.bodies.clear()
			rc, _, se = po_cli(url, pot, "-o", os.path.join(tmp, "g.po"), "--glossary", g)
			eq(rc, 0, "rc " + se)
			for b in Fake.bodies:
				for k, v in {"GNOME": None, "Save": "Enregistrer"}.items():
					eq(b["options"]["glossary"].get(k, "missing"), v, name)

	@t("--dry-run: no request, one line per entry with format and accelerator")
	def _():
		Fake.bodies.clear()
		rc, so, se = po_cli(url, pot, "--dry-run")
		eq(rc, 0, "rc")
		eq(Fake.bodies, [], "requests")
		lines = so.splitlines()
		eq(len(lines), 13, "entries")
		if not any(ln.split("\t")[1:3] == ["accelerator,auto", "_"] for ln in lines):
			raise AssertionError("accelerator line missing: %s" % so)

	@t("Plural-Forms of the header decide the forms: nplurals=3 (pl), 1 (ja)")
	def _():
		for lang, n in (("pl", 3), ("ja", 1)):
			p = os.path.join(tmp, lang + ".pot")
			write(p, POT.replace('"Language: \\n"', '"Language: %s\\n"' % lang))
			dst = os.path.join(tmp, lang + ".po")
			rc, _, se = po_cli(url, p, "-o", dst)
			eq(rc, 0, "rc " + se)
			e = polib.pofile(dst).find("%d file")
			eq(sorted(e.msgstr_plural), list(range(n)), lang)
			eq(e.msgstr_plural[n - 1], "FR[%d files]", lang + " last form")
			msgfmt_ok(dst)

	@t("a file without blank lines between entries: re-serialised, still valid")
	def _():
		p = os.path.join(tmp, "dense.pot")
		write(p, re.sub(r"\n\n", "\n", POT))
		dst = os.path.join(tmp, "dense.po")
		rc, _, se = po_cli(url, p, "-o", dst)
		eq(rc, 0, "rc " + se)
		eq(polib.pofile(dst).find("Welcome, {name}!").msgstr, "FR[Welcome, {name}!]", "msgstr")
		msgfmt_ok(dst)

	@t("exit codes: 2 usage (missing file, bad glossary), 1 daemon error, 3 no daemon")
	def _():
		eq(po_cli(url, os.path.join(tmp, "nope.po"))[0], 2, "missing file")
		g = os.path.join(tmp, "bad.tsv")
		write(g, "a\tb\tc\n")
		eq(po_cli(url, pot, "--glossary", g)[0], 2, "bad glossary")
		eq(po_cli(url, pot, "--batch", "0")[0], 2, "bad --batch")
		eq(po_cli(url, pot, "--model", "nope")[0], 2, "unknown model")
		Fake.fail_all = (500, "internal")
		try:
			rc, _, se = po_cli(url, pot, "-o", os.path.join(tmp, "x.po"))
		finally:
			Fake.fail_all = None
		eq(rc, 1, "daemon 500")
		if "broken" not in se:
			raise AssertionError("daemon message not shown: %s" % se)
		s = socket.socket()
		s.bind(("127.0.0.1", 0))
		port = s.getsockname()[1]
		s.close()
		eq(po_cli("http://127.0.0.1:%d" % port, pot)[0], 3, "connection refused")

	return T


def main():
	try:
		import polib  # noqa: F401
	except ImportError as e:
		print("1..1\nnot ok 1 - import polib\n# %s (apt-get install python3-polib)" % e)
		return 1
	srv, url = start_fake()
	with tempfile.TemporaryDirectory(prefix="s2s-po-") as tmp:
		T = tests(url, tmp)
		print("1..%d" % len(T))
		for name, fn in T:
			TAP.run(name, fn)
	srv.shutdown()
	return 1 if TAP.failed else 0


if __name__ == "__main__":
	sys.exit(main())
