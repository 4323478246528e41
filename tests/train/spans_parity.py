#!/usr/bin/python3
"""Differential test of the protected-span parsers: the C core's
`tests/core/spans_dump` against `python3 -m s2s_ref.spans --dump` (spec §12).

Both read the same lines (generated adversarial ones, the hand-written CASES,
and any --lines files, e.g. real catalog strings) for every format list and
with and without a glossary, and must print the same JSON per line (compared
parsed, so escaping style does not matter; error texts are compared too,
except for invalid UTF-8 where only "both refused" counts).

  /usr/bin/python3 tests/train/spans_parity.py --dump build/tests/core/spans_dump \
      [--n 3000] [--seed 1] [--lines FILE ...]

Exit status 1 and the first differences on stdout when they disagree.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PY = os.path.join(HERE, "..", "..", "clients", "python")

FORMATS = ["text", "auto", "printf", "brace", "xml", "html", "accelerator", "printf,xml", "auto,printf",
	   "auto,xml", "auto,html", "xml,html", "printf,brace,accelerator", "brace,html", "auto,accelerator",
	   "printf,brace,xml,html,accelerator,auto"]

GLOSSARY = {"file": "fichier", "File Manager": "Gestionnaire de fichiers", "GNOME": None, "Save": "Enregistrer",
	    "Save As": "Enregistrer sous", "é": "e", "%s": "X", "b": None, "Open": "Ouvrir", "Ωmega": None}

CASES = [
	"Could not open file %s", "Welcome, {name}!", "Click <b>Save</b> to continue", "_File", "&Open",
	"100% of 50% sure", "%1$s %2$s", "%(name)s and %(other)d", "%%", "%s%d%%", "{{0}} {} {0}",
	"{count, plural, one {# file} other {# files}}", "<br/> <br /> <br> <img src=\"x\"/>",
	"<a href=\"x>y\">link</a>", "<a title='it''s'>x</a>", "<b>x", "x</b>", "<b><i>x</b></i>",
	"<!-- c --> &amp; &#169; &#x263A; &nope", "<B>x</b>", "__init__ _Édition", "a_b c_d", "&&x &y",
	"Save &As…", "日本 _日 %s", "%", "{", "<", "<!--", "%-+ #0'10.5lld", "%I64d %hhd %zu %Lf %5$*3$.*2$d",
	"\t%s\v{0}\f<b>x</b>\r", "%s" * 40, "<a><b><c>x</c></b></a>", "{a{b}c}", "{x!r:>{width}}", "{ x}",
	"{0[1]} {0.attr} {0:} {0!}", "%(a)s%(b)", "&amp;_File", "_&amp;", "File Manager and GNOME file",
	"Save As %s Save", "Ωmega ωmega", "x<!--a-->y<!--b", "<p class=\"x\" id='y' data-z>t</p>",
	"<a\thref='x'>y</a>", "<x:y>z</x:y>", "<1>no</1>", "</ b>", "<b >x</b >", "%m %r %C %S %n",
	"a %s", "%s a", " %s ", "%s%s", "é<b>é</b>é", "<br>", "<hr/>", "<input>", "<BR>x",
]

FRAGS = ["%s", "%d", "%1$s", "%2$d", "%(name)s", "%%", "% d", "%'d", "%5.2f", "%-10s", "%lu", "%I64d", "%*d",
	 "%.*s", "%", "%z", "{0}", "{}", "{name}", "{{", "}}", "{", "}", "{a, plural, one {x} other {y}}",
	 "{ bad}", "{x:>10}", "<b>", "</b>", "<i>", "</i>", "<br>", "<br/>", "<br />", '<a href="u">', "</a>",
	 "<a href='x>y'>", "<B>", "</B>", "<!-- c -->", "<!--", "-->", "&amp;", "&#38;", "&#x26;", "&lt;", "&bad",
	 "&", "&&", "_", "__", "_F", "&O", "_é", "&日", "~", "file", "File", "Save", "Save As", "GNOME", "Manager",
	 "é", "ü", "日本", "Ω", "😀", "x", "abc", "The", "of", " ", " ", " ", "\t", "  ", "\v", ".", ":", "!", "?",
	 "(", ")", "'", '"', "<", ">", "/", "-", "1", "42", "\u00a0", "\u00d7"]


def gen_lines(n, seed):
	rng = random.Random(seed)
	out = []
	for _ in range(n):
		k = rng.randint(1, 14)
		s = "".join(rng.choice(FRAGS) for _ in range(k))
		out.append(s.replace("\n", " "))
	return out


def run(cmd, lines, cwd=None):
	data = "".join(x + "\n" for x in lines).encode("utf-8")
	r = subprocess.run(cmd, input=data, capture_output=True, check=False, cwd=cwd)
	if r.returncode != 0:
		sys.exit("%s failed (%d): %s" % (" ".join(cmd), r.returncode, r.stderr.decode()[:500]))
	got = [json.loads(x) for x in r.stdout.decode("utf-8").split("\n")[:-1]]
	if len(got) != len(lines):
		sys.exit("%s printed %d lines for %d" % (" ".join(cmd), len(got), len(lines)))
	return got


def main(argv=None):
	ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
	ap.add_argument("--dump", required=True, help="path of the C spans_dump")
	ap.add_argument("--n", type=int, default=3000, help="generated lines per format list")
	ap.add_argument("--seed", type=int, default=1)
	ap.add_argument("--lines", nargs="*", default=[], help="files of extra lines (TSV: every column)")
	ap.add_argument("--show", type=int, default=10, help="differences printed")
	a = ap.parse_args(argv)
	extra = []
	for path in a.lines:
		with open(path, encoding="utf-8") as f:
			for line in f:
				extra += [c for c in line.rstrip("\n").split("\t") if c]
	with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as f:
		json.dump(GLOSSARY, f)
		gpath = f.name
	bad = total = 0
	try:
		for i, fmt in enumerate(FORMATS):
			lines = CASES + gen_lines(a.n, a.seed * 1000 + i) + extra
			for gl in ([], [gpath]):
				c = run([a.dump, fmt] + gl, lines)
				p = run([sys.executable, "-m", "s2s_ref.spans", "--dump", fmt] + gl, lines, cwd=PY)
				for line, x, y in zip(lines, c, p):
					total += 1
					if x == y:
						continue
					bad += 1
					if bad <= a.show:
						print("DIFF format %s%s: %r\n  C:  %s\n  Py: %s" % (
							fmt, " +glossary" if gl else "", line, json.dumps(x, ensure_ascii=False),
							json.dumps(y, ensure_ascii=False)))
	finally:
		os.unlink(gpath)
	print("%d lines compared, %d differ" % (total, bad))
	return 1 if bad else 0


if __name__ == "__main__":
	sys.exit(main())
