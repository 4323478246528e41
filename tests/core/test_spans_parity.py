#!/usr/bin/env python3
"""The C span parser (core/spans.c, through tests/core/spans_dump) and the
Python one (clients/python/s2s_ref/spans.py) agree on every line: the same
spans, numbering, groups, flags, glossary outputs and accelerator, and the
same lines refused (docs/localisation.md §2-§4, §9). Lines: hand-written
cases plus seeded random strings over an alphabet dense in the grammar's
characters, under every format set. Emits TAP.
"""
import json
import os
import random
import subprocess
import sys
import tempfile

SRCDIR = os.environ.get("S2S_SRCDIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
BUILDDIR = os.environ.get("S2S_BUILDDIR") or os.getcwd()
DUMP = os.path.join(BUILDDIR, "tests", "core", "spans_dump")
PYDIR = os.path.join(SRCDIR, "clients", "python")

HAND = [
    "Could not open file %s", "Welcome, {name}!", "Click <b>Save</b> to continue", "100% sure",
    "%1$s is newer than %2$s", "%(name)s has %(count)d files", "%%d is literal", "%5.2f%% done",
    "%lld bytes", "{0} of {1}", "{}{}", "{{literal}}", "{count, plural, one {# file} other {# files}}",
    "{ not a placeholder", "<a href=\"x>y\">link</a>", "<br/> and <br> and <img src='a'/>", "&amp; &#233; &#x1F600;",
    "<!-- note --> text", "<b><i>nested</i></b>", "<b>unclosed", "closed</b>", "<b><i>crossed</b></i>",
    "_File", "&File", "E_xit", "__init__", "Save &As", "Save &amp; Exit", "snake_case_name here",
    "Open _Recent files in the window now", "&&literal", "x" * 50, "", " leading and trailing ",
    "Éditer le fichier %s", "Файл %s", "mañana %s", "open the file manager", "the file manager_x",
    "Open %s files", "files%s", "%sfiles", "%s%d%c", "%", "%%", "%1$", "{", "}", "<", ">", "&", "_",
]
FORMATS = ["printf", "brace", "xml", "html", "accelerator", "auto", "printf,xml", "brace,html,accelerator",
           "printf,brace,xml,html,accelerator,auto"]
GLOSSARY = {"file manager": "gestionnaire de fichiers", "file": "fichier", "Firefox": None,
            "s files": "X", "mañana": "demain", "Файл": None}
ALPHABET = list("%%%{{}}<<>>/&&__  ab1$.(:),!#;'\"=-xsdé") + ["<b>", "</b>", "<i>", "</i>", "%s", "{0}",
                                                              "&amp;", "file", "manager", "Ф", "\t"]


def random_lines(n, seed):
    rng = random.Random(seed)
    return ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 24))) for _ in range(n)]


def run_c(fmt, lines, glossary):
    cmd = [DUMP, fmt] + ([glossary] if glossary else [])
    out = subprocess.run(cmd, input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError("spans_dump %s: exit %d: %s" % (fmt, out.returncode, out.stderr[-500:]))
    return out.stdout.splitlines()


def run_py(fmt, lines, glossary):
    cmd = [sys.executable, "-m", "s2s_ref.spans", "--dump", fmt] + ([glossary] if glossary else [])
    env = dict(os.environ, PYTHONPATH=PYDIR)
    out = subprocess.run(cmd, input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=300,
                         env=env)
    if out.returncode != 0:
        raise RuntimeError("s2s_ref.spans %s: exit %d: %s" % (fmt, out.returncode, out.stderr[-500:]))
    return out.stdout.splitlines()


def normalise(line):
    """Parsed dump line; an error is compared as 'refused' (the wording is each side's)."""
    d = json.loads(line)
    if d.get("error"):
        return {"error": True}
    return d


def compare(fmt, lines, glossary):
    c, p = run_c(fmt, lines, glossary), run_py(fmt, lines, glossary)
    if len(c) != len(lines) or len(p) != len(lines):
        return ["%d lines in, C printed %d, Python %d" % (len(lines), len(c), len(p))]
    bad = []
    for src, a, b in zip(lines, c, p):
        if normalise(a) != normalise(b):
            bad.append("format %s, line %r:\n  C  %s\n  Py %s" % (fmt, src, a, b))
    return bad


def main():
    tests = []
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(GLOSSARY, f)
        gpath = f.name
    try:
        lines = HAND + random_lines(1500, 12)
        for fmt in FORMATS:
            for g in (None, gpath):
                what = "C and Python parse %d lines alike under %s%s" % (
                    len(lines), fmt, " with a glossary" if g else "")
                try:
                    bad = compare(fmt, lines, g)
                except (RuntimeError, OSError, ValueError) as e:
                    bad = [str(e)]
                tests.append((not bad, what, bad[:5]))
        # The check can fail: a line the two sides must see differently is caught.
        c = run_c("printf", ["%s"], None)
        p = run_py("brace", ["%s"], None)
        tests.append((normalise(c[0]) != normalise(p[0]), "the comparison sees a difference when there is one",
                      [c[0], p[0]]))
    finally:
        os.unlink(gpath)
    print("1..%d" % len(tests))
    for i, (ok, what, diag) in enumerate(tests, 1):
        print("%s %d - %s" % ("ok" if ok else "not ok", i, what))
        if not ok:
            for d in diag:
                print("# " + str(d).replace("\n", "\n# "))
    return 0 if all(t[0] for t in tests) else 1


if __name__ == "__main__":
    sys.exit(main())
