#!/usr/bin/env python3
"""Black-box tests of protected spans (issue 12, docs/localisation.md):
options.format and options.glossary over real HTTP, with the built-in en-fr
model and a fixture model trained without sentinels (alignment path). The
preservation checks use the test's own regular expressions, not the
daemon's parser, so a parser bug cannot hide itself. Emits TAP.
"""
import collections
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_daemon import (BUILDDIR, MODEL_B, SRCDIR, Daemon, _results, check,  # noqa: E402
                         expect_error, fixture_path, report, test)

EN_FR = os.path.join(SRCDIR, "models", "en-fr.safetensors")
CLI = os.path.join(BUILDDIR, "seq2seq-translate")

# Independent span finders for the checks (simpler than the product's grammar,
# enough for the strings used here).
RE_PRINTF = re.compile(r"%(?:%|(?:\d+\$|\([a-z_]+\))?[-+#0]*\d*(?:\.\d+)?(?:ll|l|h)?[sdifuxXc])")
RE_BRACE = re.compile(r"\{[A-Za-z0-9_]*\}")
RE_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>|&[a-z]+;|&#\d+;")


def spans_of(text, fmt):
    found = []
    if "printf" in fmt or fmt == "auto":
        found += RE_PRINTF.findall(text)
    if "brace" in fmt or fmt == "auto":
        found += RE_BRACE.findall(text)
    if "xml" in fmt or "html" in fmt or fmt == "auto":
        found += RE_TAG.findall(text)
    return collections.Counter(found)


def balanced(text):
    stack = []
    for m in re.finditer(r"<(/?)([A-Za-z][A-Za-z0-9]*)[^<>]*?(/?)>", text):
        if m.group(3):
            continue
        if not m.group(1):
            stack.append(m.group(2))
        elif not stack or stack.pop() != m.group(2):
            return False
    return not stack


def translate(d, sentences, model="en-fr", **options):
    body = {"model": model, "sentences": sentences, "options": options}
    st, _, j = d.json("POST", "/v1/translate", body, timeout=60)
    check(st == 200, "status %s: %s" % (st, json.dumps(j)[:400]))
    return j["results"]


def has_sentinels(path):
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        meta = json.loads(f.read(n))["__metadata__"]
    return "<ph0>" in json.loads(meta["seq2seqd.tgt_vocab"])


def preserved(r, fmt, source):
    """Every span of the source is in every hypothesis exactly as often; tags balance."""
    want = spans_of(source, fmt)
    for h in r["hypotheses"]:
        got = spans_of(h["text"], fmt)
        check(got == want, "%r -> %r: spans %s, source has %s" % (source, h["text"], dict(got), dict(want)))
        check(balanced(h["text"]) == balanced(source), "tags no longer balance: %r" % h["text"])


@test("the issue's three examples keep their placeholder and tags (en-fr, beam 5)")
def t_issue_examples(d):
    cases = [("Could not open file %s", "printf"), ("Welcome, {name}!", "brace"),
             ("Click <b>Save</b> to continue", "xml")]
    for src, fmt in cases:
        r = translate(d, [src], beam_size=5, format=fmt)[0]
        preserved(r, fmt, src)
        text = r["hypotheses"][0]["text"]
        check(text != src, "not translated: %r" % text)
        if fmt == "xml":
            inner = re.search(r"<b>(.*?)</b>", text)
            check(inner and inner.group(1).strip(), "the tags wrap nothing: %r" % text)
        check(r["protection"] == ("sentinels" if has_sentinels(EN_FR) else "alignment"), r["protection"])


ADVERSARIAL = [
    ("%s: could not open file", "printf"),
    ("Could not open file %s", "printf"),
    ("Copied %d of %d files (%s)", "printf"),
    ("%1$s is newer than %2$s", "printf"),
    ("100%% complete", "printf"),
    ("Size: %s%s", "printf"),
    ("Delete <b><i>all</i> files</b> in %s?", "auto"),
    ("Save &amp; close the <a href=\"x>y\">document</a>", "xml"),
    ("Line break<br>here", "html"),
    ("{0} of {1} items selected", "brace"),
    ("Hello {user}, you have {count, plural, one {# message} other {# messages}}", "brace"),
    ("Search the web for %(query)s", "printf"),
]


@test("adversarial strings: placeholders at the ends, adjacent, %%, positional, nested tags, entities, ICU")
def t_adversarial(d):
    for src, fmt in ADVERSARIAL:
        for beam in (1, 4):
            r = translate(d, [src], beam_size=beam, n_best=min(beam, 2), format=fmt)[0]
            preserved(r, fmt, src)


@test("non-positional conversions keep their source order")
def t_order(d):
    src = "Copied %d of %s files to %c"
    for beam in (1, 5):
        text = translate(d, [src], beam_size=beam, format="printf")[0]["hypotheses"][0]["text"]
        check(RE_PRINTF.findall(text) == ["%d", "%s", "%c"], text)


@test("unbalanced markup: 422 unbalanced_markup under xml naming the tag; plain text under auto")
def t_unbalanced(d):
    for src, tag in [("Click <b>Save to continue", '"<b>"'), ("Save</b> now", '"</b>"'),
                     ("<b><i>Save</b></i>", '"</b>"')]:
        _, j = expect_error(d, "POST", "/v1/translate",
                            {"model": "en-fr", "text": src, "options": {"format": "xml"}}, 422,
                            "unbalanced_markup")
        check(tag in j["error"]["message"] and "character" in j["error"]["message"], j["error"]["message"])
        r = translate(d, [src], format="auto")[0]
        check(all(s["kind"] == "placeholder" for s in r["spans"]), r["spans"])
    st, _, j = d.json("POST", "/v1/translate", {"model": "en-fr", "text": "Open %s", "options": {"format": "xml"}})
    check(st == 200, j)


@test("a source of nothing but placeholders comes back as it is (and 100 placeholders all survive)")
def t_only_and_many(d):
    for src in ["%s", "%s %d", "{0}{1}", "<br/>"]:
        r = translate(d, [src], format="auto")[0]
        check(r["hypotheses"][0]["text"] == src, (src, r["hypotheses"][0]["text"]))
    many = " ".join("%%%d$s" % k for k in range(1, 101))
    r = translate(d, ["Values: " + many], format="printf", max_length=1024)[0]
    preserved(r, "printf", "Values: " + many)
    check(len(r["spans"]) == 100, len(r["spans"]))


@test("too many spans is 422 too_many_spans; unknown format and bad glossaries are 400 invalid_field")
def t_errors(d):
    expect_error(d, "POST", "/v1/translate", {"model": "en-fr", "text": "%s" * 1025,
                                             "options": {"format": "printf"}}, 422, "too_many_spans")
    expect_error(d, "POST", "/v1/translate", {"model": "en-fr", "text": "a", "options": {"format": "markdown"}},
                 400, "invalid_field", field="options.format")
    expect_error(d, "POST", "/v1/translate", {"model": "en-fr", "text": "a", "options": {"format": 3}},
                 400, "invalid_field", field="options.format")
    for g in [{"file": 3}, [{"source": "file"}, {"source": "file"}], [{"target": "x"}], "file", {"": "x"},
              {"a\tb": "x"}]:
        expect_error(d, "POST", "/v1/translate", {"model": "en-fr", "text": "a file", "options": {"glossary": g}},
                     400, "invalid_field", field="options.glossary")
    st, _, j = d.json("POST", "/v1/translate", {"model": "en-fr", "text": "Open the file", "options": {"format": "auto"}})
    check(st == 200, j)


@test("glossary: forced terms, do-not-translate terms, longest of overlapping terms, never inside a placeholder")
def t_glossary(d):
    r = translate(d, ["Open the file manager"], beam_size=5,
                  glossary={"file manager": "gestionnaire de fichiers", "file": "fichier"})[0]
    text = r["hypotheses"][0]["text"]
    check(text.count("gestionnaire de fichiers") == 1, text)
    check([s["text"] for s in r["spans"]] == ["file manager"] and r["spans"][0]["kind"] == "glossary", r["spans"])
    r = translate(d, ["Firefox could not open the page"], glossary=[{"source": "Firefox", "target": None}])[0]
    check(r["hypotheses"][0]["text"].count("Firefox") == 1, r["hypotheses"][0]["text"])
    r = translate(d, ["Open %s files"], format="printf", glossary={"s files": "X", "files": "fichiers"})[0]
    kinds = [(s["kind"], s["text"]) for s in r["spans"]]
    check(kinds == [("placeholder", "%s"), ("glossary", "files")], kinds)
    check(r["hypotheses"][0]["text"].count("fichiers") == 1, r["hypotheses"][0]["text"])


@test("accelerators: _File keeps exactly one mark, on a letter; the response names it")
def t_accelerator(d):
    for src, marker in [("_Save", "_"), ("&Open file", "&"), ("Save _As...", "_")]:
        r = translate(d, [src], format="accelerator")[0]
        text = r["hypotheses"][0]["text"]
        check(text.count(marker) == 1, (src, text))
        check(re.search(re.escape(marker) + r"\w", text), (src, text))
        check(r["accelerator"]["marker"] == marker, r["accelerator"])


@test("format text is today's behaviour: the same body as no format at all, no span fields")
def t_text_unchanged(d):
    a = translate(d, ["Could not open file %s"], beam_size=3, attention=True)[0]
    b = translate(d, ["Could not open file %s"], beam_size=3, attention=True, format="text")[0]
    for r in (a, b):
        r.pop("timings")
    check(a == b, "format text changed the result")
    check("spans" not in a and "span_tokens" not in a["hypotheses"][0], sorted(a))


@test("one request mixing sentences with different spans gives each what it gives alone")
def t_batch_invariance(d):
    srcs = ["Could not open file %s", "Click <b>Save</b> to continue", "Open the file", "%d of %d <i>done</i>",
            "Welcome, {name}!"]
    for beam in (1, 4):
        together = translate(d, srcs, beam_size=beam, format="auto", attention=True)
        for src, t in zip(srcs, together):
            alone = translate(d, [src], beam_size=beam, format="auto", attention=True)[0]
            for r in (t, alone):
                r.pop("timings")
            check(t == alone, "%r differs in a batch" % src)


@test("response fields: spans with code-point offsets and source tokens, span_tokens per hypothesis")
def t_fields(d):
    src = "Éditer <b>le</b> fichier %s"  # non-ASCII before the spans: offsets are code points
    r = translate(d, [src], format="auto", beam_size=2, n_best=2, attention=True)[0]
    check([(s["kind"], s["text"], s["start"], s["end"]) for s in r["spans"]] ==
          [("tag_open", "<b>", 7, 10), ("tag_close", "</b>", 12, 16), ("placeholder", "%s", 25, 27)], r["spans"])
    for h in r["hypotheses"]:
        check(len(h["span_tokens"]) == 3, h)
        for s, t in zip(r["spans"], h["span_tokens"]):
            if r["protection"] == "sentinels":
                check(r["source_tokens"][s["source_token"]].startswith("<"), (s, r["source_tokens"]))
                check(h["tokens"][t] == r["source_tokens"][s["source_token"]], (h["tokens"], t))
                check(len(h["attention"][t]) == len(r["source_tokens"]), "no attention row for the sentinel")
            else:
                check(t is None and s["source_token"] is None, (s, t))


@test("a model trained without sentinels: spans put back by attention (alignment path), all preserved")
def t_alignment_model(d):
    for src, fmt in [("the %s cat", "printf"), ("<b>the</b> cat sat", "xml"), ("%d the {x}", "auto")]:
        r = translate(d, [src], model="b", format=fmt, max_len_a=1.5, max_len_b=4)[0]
        check(r["protection"] == "alignment", r["protection"])
        preserved(r, fmt, src)
        check(all(t is None for t in r["hypotheses"][0]["span_tokens"]), r["hypotheses"][0])


@test("seq2seq-translate --format / --glossary print what the daemon answers")
def t_cli(d):
    srcs = ["Could not open file %s", "Click <b>Save</b> to continue", "Open the file manager", "%s"]
    gl = os.path.join(os.environ.get("TMPDIR", "/tmp"), "s2s-gl-%d.tsv" % os.getpid())
    with open(gl, "w") as f:
        f.write("file manager\tgestionnaire de fichiers\n")
    out = subprocess.run([CLI, "-m", EN_FR, "--format", "auto", "--glossary", gl, "-b", "5"],
                         input="\n".join(srcs) + "\n", capture_output=True, text=True, timeout=120)
    os.unlink(gl)
    check(out.returncode == 0, out.stderr)
    got = out.stdout.splitlines()
    want = [r["hypotheses"][0]["text"] for r in
            translate(d, srcs, beam_size=5, format="auto", glossary={"file manager": "gestionnaire de fichiers"})]
    check(got == want, "CLI %r vs daemon %r" % (got, want))


@test("metrics: seq2seqd_protected_sentences_total counts sentences by protection")
def t_metrics(d):
    before = {k: d.metric('seq2seqd_protected_sentences_total{protection="%s"}' % k)
              for k in ("sentinels", "alignment", "passthrough", "none")}
    translate(d, ["%s", "Open the file", "Save %s"], format="printf")
    translate(d, ["the %s cat"], model="b", format="printf", max_len_a=1.5, max_len_b=4)
    after = {k: d.metric('seq2seqd_protected_sentences_total{protection="%s"}' % k) for k in before}
    path = "sentinels" if has_sentinels(EN_FR) else "alignment"
    want = {"passthrough": 1 if path == "alignment" else 0, "none": 1, "alignment": 1, "sentinels": 0}
    want[path] += 1 if path == "alignment" else 2
    got = {k: after[k] - before[k] for k in before}
    check(got == want, "counted %s, expected %s" % (got, want))


def main():
    d = Daemon(models={"en-fr": EN_FR, "b": fixture_path(MODEL_B, ".safetensors")})
    try:
        for t in (t_issue_examples, t_adversarial, t_order, t_unbalanced, t_only_and_many, t_errors,
                  t_glossary, t_accelerator, t_text_unchanged, t_batch_invariance, t_fields,
                  t_alignment_model, t_cli, t_metrics):
            t(d)
    finally:
        rc = d.stop()
    _results.append((rc == 0, "daemon exits 0 on SIGTERM", "exit %s" % rc))
    return report()


if __name__ == "__main__":
    sys.exit(main())
