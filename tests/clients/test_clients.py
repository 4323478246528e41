#!/usr/bin/python3
"""The Python client and the seq2seq CLI against the real seq2seqd on loopback.

Starts $S2S_BUILDDIR/seq2seqd with --data_dir=$S2S_SRCDIR (so it serves the
built-in models of models/), waits for /readyz, checks every client
call and CLI mode, then stops the daemon with SIGTERM and checks it exits 0.
Standard library only (no torch); prints TAP.

Expected dates are written here by hand from the reading rules of
models/dates.md (US order with slashes and the year last, European order with
dots, ISO order with a leading 4-digit year, 2-digit years pivot at 50), not
taken from the model.
"""

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile

SRC = os.path.abspath(os.environ.get("S2S_SRCDIR", "."))
BUILD = os.path.abspath(os.environ.get("S2S_BUILDDIR", "."))
sys.path.insert(0, os.path.join(SRC, "clients", "python"))
from seq2seqd_client import Client, SeqdError  # noqa: E402

sys.path.insert(0, os.path.join(SRC, "tests"))
from tap import Tap, collector  # noqa: E402
import seq2seqd_proc  # noqa: E402

CLI = os.path.join(SRC, "clients", "seq2seq", "seq2seq")
ADMIN_KEY = "test-admin-key"

# Every line of models/dates.examples, answered by hand.
EXAMPLES = {
    "monday, march 1st 2021": "2021-03-01",
    "3/7/98": "1998-03-07",              # US M/D/YY, 98 >= 50 -> 1998
    "23.11.2026": "2026-11-23",          # European D.M.Y
    "the 23rd of november 2026": "2026-11-23",
    "Sat 14 Feb 2026": "2026-02-14",
    "2026/1/5": "2026-01-05",            # year first -> Y/M/D
}
# More dates in the documented formats, also by hand.
MORE = {
    "1.2.1999": "1999-02-01",
    "12/25/49": "2049-12-25",            # 49 < 50 -> 2049
    "December 31, 1999": "1999-12-31",
    "7-Jul-2000": "2000-07-07",
    "29.02.2024": "2024-02-29",
    "TUESDAY, SEPT. 9TH 2025": "2025-09-09",
    "the 2nd of january 1950": "1950-01-02",
}

TAP = Tap()


def check(name, fn):
    """Runs one test as TAP (tests/tap.py)."""
    TAP.run(name, fn)


def cli(url, *args, stdin=None, env=None):
    """Runs the CLI with this interpreter; returns (rc, stdout, stderr)."""
    e = dict(os.environ)
    e.pop("NO_COLOR", None)
    e.update(env or {})
    p = subprocess.run([sys.executable, CLI, "--url", url] + list(args),
                       input=stdin, capture_output=True, text=True,
                       timeout=30, env=e)
    return p.returncode, p.stdout, p.stderr


def eq(got, want, what=""):
    if got != want:
        raise AssertionError("%s: got %r, want %r" % (what, got, want))


def tests(url, c):
    T, t = collector()

    @t("every models/dates.examples line has a hand-written answer")
    def _():
        with open(os.path.join(SRC, "models", "dates.examples")) as f:
            lines = [ln.strip() for ln in f if ln.strip()]
        eq(sorted(lines), sorted(EXAMPLES), "examples")
        eq(sorted(c.model("dates")["examples"]), sorted(EXAMPLES),
           "examples served")

    @t("Client.translate: each example gives its exact ISO date")
    def _():
        src = list(EXAMPLES)
        res = c.translate(src, model="dates")
        eq(len(res), len(src), "results")
        for s, r in zip(src, res):
            eq(r["source"], s, "source")
            eq(r["hypotheses"][0]["text"], EXAMPLES[s], s)

    @t("Client.translate: more hand-computed dates, greedy and beam 4")
    def _():
        for opts in ({}, {"beam_size": 4, "n_best": 2}):
            res = c.translate(list(MORE), **opts)
            for (s, want), r in zip(MORE.items(), res):
                eq(r["hypotheses"][0]["text"], want, "%s %s" % (s, opts))
                eq(len(r["hypotheses"]), opts.get("n_best", 1), "n_best")

    @t("Client.translate(text) and translate_text")
    def _():
        eq(c.translate(text="3/7/98")[0]["hypotheses"][0]["text"],
           "1998-03-07", "text=")
        eq(c.translate_text("23.11.2026"), "2026-11-23", "str")
        eq(c.translate_text(["2026/1/5", "3/7/98"]),
           ["2026-01-05", "1998-03-07"], "list")

    @t("attention: tokens x source_tokens, rows sum to 1")
    def _():
        for r in c.translate(list(EXAMPLES), attention=True, beam_size=2,
                             n_best=2):
            for h in r["hypotheses"]:
                a = h["attention"]
                eq(h["attention_level"], "subword", "level")
                eq(len(a), len(h["tokens"]), "rows " + r["source"])
                for row in a:
                    eq(len(row), len(r["source_tokens"]), "cols")
                    if abs(sum(row) - 1) > 1e-3 or min(row) < 0:
                        raise AssertionError("row %r sums to %r"
                                             % (row, sum(row)))

    @t("attention_level=word: target_words x source_words, rows sum to 1")
    def _():
        r = c.translate("the 23rd of november 2026", attention=True,
                        attention_level="word")[0]
        h = r["hypotheses"][0]
        eq(r["source_words"], ["the", "23rd", "of", "november", "2026"],
           "source_words")
        eq(h["target_words"], ["2026-11-23", "</s>"], "target_words")
        eq([len(row) for row in h["attention"]], [5, 5], "shape")
        for row in h["attention"]:
            if abs(sum(row) - 1) > 1e-3:
                raise AssertionError("row sums to %r" % sum(row))

    @t("unknown model -> SeqdError 404 model_not_found with request id")
    def _():
        try:
            c.translate("3/7/98", model="no-such-model")
        except SeqdError as e:
            eq(e.status, 404, "status")
            eq(e.code, "model_not_found", "code")
            if "no-such-model" not in e.message:
                raise AssertionError("message %r" % e.message)
            if not e.request_id:
                raise AssertionError("no request id")
        else:
            raise AssertionError("no SeqdError")
        try:
            c.model("no-such-model")
        except SeqdError as e:
            eq((e.status, e.code), (404, "model_not_found"), "model()")
        else:
            raise AssertionError("model(): no SeqdError")

    @t("bad option -> SeqdError 400 invalid_field naming options.beam_size")
    def _():
        try:
            c.translate("3/7/98", beam_size=999)
        except SeqdError as e:
            eq((e.status, e.code), (400, "invalid_field"), "error")
            if "options.beam_size" not in e.message:
                raise AssertionError("message %r" % e.message)
        else:
            raise AssertionError("no SeqdError")

    @t("models(), model(), health(), ready(), metrics()")
    def _():
        ms = c.models()
        shipped = sorted(f[:-12] for f in os.listdir(os.path.join(SRC, "models")) if f.endswith(".safetensors"))
        eq([m["name"] for m in ms], shipped, "models (every models/*.safetensors, sorted)")
        eq([m["default"] for m in ms], [m["name"] == "dates" for m in ms], "default (the first by name)")
        for m in ms:
            with open(os.path.join(SRC, "models", m["name"] + ".safetensors"), "rb") as f:
                eq(c.model(m["name"])["sha256"], hashlib.sha256(f.read()).hexdigest(), "model(%s) sha256" % m["name"])
        eq(c.health(), {"status": "ok"}, "health")
        eq(c.ready()["status"], "ready", "ready")
        m = c.metrics()
        if 'seq2seqd_http_requests_total{route="/v1/translate"' not in m:
            raise AssertionError("metrics lack translate requests")

    @t("opennmt_translate")
    def _():
        ans = c.opennmt_translate(["3/7/98", "23.11.2026"])
        eq([[h["src"], h["tgt"], h["n_best"]] for h in ans[0]],
           [["3/7/98", "1998-03-07", 1], ["23.11.2026", "2026-11-23", 1]],
           "opennmt")

    @t("reload: 401 without the key, reloaded with it")
    def _():
        try:
            Client(url).reload("dates")
        except SeqdError as e:
            eq((e.status, e.code), (401, "unauthorized"), "no key")
        else:
            raise AssertionError("no SeqdError")
        r = Client(url, api_key=ADMIN_KEY).reload("dates")
        eq(r["reloaded"], True, "reloaded")
        eq(r["sha256"], r["previous_sha256"], "same file")
        eq(c.translate_text("3/7/98"), "1998-03-07", "after reload")

    @t("no daemon -> ConnectionError")
    def _():
        try:
            Client("http://127.0.0.1:%d" % seq2seqd_proc.free_port(), timeout=2).health()
        except ConnectionError:
            pass
        else:
            raise AssertionError("no ConnectionError")

    @t("CLI is executable; arguments -> one line each")
    def _():
        if not os.access(CLI, os.X_OK):
            raise AssertionError("%s is not executable" % CLI)
        rc, out, err = cli(url, "3/7/98", "the 23rd of november 2026")
        eq(rc, 0, "rc (%s)" % err)
        eq(out.splitlines(), ["1998-03-07", "2026-11-23"], "output")

    @t("CLI stdin mode (blank lines kept), -m, small batches")
    def _():
        src = list(EXAMPLES) + [""] + list(MORE)
        rc, out, err = cli(url, "-m", "dates", "--batch", "4",
                           stdin="\n".join(src) + "\n")
        eq(rc, 0, "rc (%s)" % err)
        want = list(EXAMPLES.values()) + [""] + list(MORE.values())
        eq(out.splitlines(), want, "output")

    @t("CLI --beam/--n-best: rank, score, text")
    def _():
        rc, out, err = cli(url, "--beam", "4", "--n-best", "3", "3/7/98")
        eq(rc, 0, "rc (%s)" % err)
        lines = [ln.split("\t") for ln in out.splitlines()]
        eq([ln[0] for ln in lines], ["1", "2", "3"], "ranks")
        eq(lines[0][2], "1998-03-07", "best")
        scores = [float(ln[1]) for ln in lines]
        eq(scores, sorted(scores, reverse=True), "scores best first")

    @t("CLI --json prints the daemon's answer")
    def _():
        rc, out, err = cli(url, "--json", "2026/1/5")
        eq(rc, 0, "rc (%s)" % err)
        ans = json.loads(out)
        eq(ans["model"], "dates", "model")
        eq(ans["results"][0]["hypotheses"][0]["text"], "2026-01-05", "text")

    @t("CLI --heatmap: labels across, one shaded row per target token")
    def _():
        rc, out, err = cli(url, "--heatmap", "3/7/98")
        eq(rc, 0, "rc (%s)" % err)
        r = c.translate("3/7/98", attention=True)[0]
        h = r["hypotheses"][0]
        lines = out.splitlines()
        if "1998-03-07" not in lines[0]:
            raise AssertionError("title %r" % lines[0])
        # One character per source token here, so one label line.
        shown = [t.replace("\u2581", "\u2423") for t in r["source_tokens"]]
        eq(lines[1].split(), shown, "column labels")
        rows = lines[2:2 + len(h["tokens"])]
        eq([ln.split()[0] for ln in rows],
           [t.replace("\u2581", "\u2423") for t in h["tokens"]], "row labels")
        body = "".join(rows)
        if not any(ch in body for ch in "░▒▓█"):
            raise AssertionError("no shade characters")
        if "\x1b[" in out:
            raise AssertionError("colour codes on a pipe")
        # The strongest cell of each row is drawn with the shade of its
        # weight (2 columns per cell after the label).
        lw = max(len(ln.split()[0]) for ln in rows)
        for ln, att in zip(rows, h["attention"]):
            j = max(range(len(att)), key=att.__getitem__)
            want = " ░▒▓█"[min(4, int(att[j] * 5))]
            eq(ln[lw + 1 + 2 * j], want, "cell of %r" % ln)
        if "legend" not in out:
            raise AssertionError("no legend")

    @t("CLI --heatmap --word-level and --color=always")
    def _():
        rc, out, err = cli(url, "--heatmap", "--word-level",
                           "the 23rd of november 2026")
        eq(rc, 0, "rc (%s)" % err)
        if "source words across" not in out or "2026-11-23 " not in out:
            raise AssertionError("word-level heatmap:\n" + out)
        rc, out, err = cli(url, "--heatmap", "--color=always", "3/7/98")
        eq(rc, 0, "rc (%s)" % err)
        if "\x1b[48;5;" not in out:
            raise AssertionError("no 256-colour cells")

    @t("CLI: unknown model -> exit 1 with the daemon's message")
    def _():
        rc, out, err = cli(url, "-m", "no-such-model", "3/7/98")
        eq(rc, 1, "rc")
        if "model_not_found" not in err or "no-such-model" not in err:
            raise AssertionError("stderr %r" % err)

    @t("CLI: nothing listening -> exit 3")
    def _():
        rc, out, err = cli("http://127.0.0.1:%d" % seq2seqd_proc.free_port(), "3/7/98")
        eq(rc, 3, "rc (%s)" % err)

    @t("CLI: usage errors -> exit 2")
    def _():
        eq(cli(url, "--beam", "x", "3/7/98")[0], 2, "--beam x")
        eq(cli(url, "--no-such-option")[0], 2, "unknown option")
        eq(cli("ftp://127.0.0.1", "3/7/98")[0], 2, "bad URL scheme")

    # Protected spans and glossaries (issue 12, docs/localisation.md): the
    # outputs are checked for what the API guarantees (each span exactly
    # once, glossary targets present), not for the model's French.
    @t("Client.translate(format=auto): every placeholder and tag once, spans")
    def _():
        src = ["Could not open file %s", "Welcome, {name}!",
               "Click <b>Save</b> to continue", "%1$s of %2$s"]
        res = c.translate(src, model="en-fr", format="auto", beam_size=5)
        for s, r in zip(src, res):
            out = r["hypotheses"][0]["text"]
            for sp in r["spans"]:
                eq(out.count(sp["text"]), src[src.index(s)].count(sp["text"]),
                   "%r in %r" % (sp["text"], out))
            if not r["spans"]:
                raise AssertionError("no spans for %r" % s)
        eq([sp["text"] for sp in res[2]["spans"]], ["<b>", "</b>"], "tags")

    @t("CLI --format auto / printf: placeholders kept; bad name -> exit 1")
    def _():
        rc, out, err = cli(url, "-m", "en-fr", "--format", "auto",
                           "Could not open file %s", "Welcome, {name}!")
        eq(rc, 0, "rc (%s)" % err)
        lines = out.splitlines()
        eq(len(lines), 2, "lines")
        eq(lines[0].count("%s"), 1, "%s in " + lines[0])
        eq(lines[1].count("{name}"), 1, "{name} in " + lines[1])
        rc, out, err = cli(url, "-m", "en-fr", "--format", "bogus", "x")
        eq(rc, 1, "rc")
        if "invalid_field" not in err:
            raise AssertionError("stderr %r" % err)

    @t("CLI --glossary TSV and JSON: targets forced, empty target kept as is")
    def _():
        with tempfile.TemporaryDirectory() as d:
            for name, text in (("g.tsv", "Firefox\t\nfile manager\t"
                                "gestionnaire de fichiers\n"),
                               ("g.json", '{"Firefox": null, "file manager":'
                                ' "gestionnaire de fichiers"}')):
                g = os.path.join(d, name)
                with open(g, "w") as f:
                    f.write(text)
                rc, out, err = cli(url, "-m", "en-fr", "--glossary", g,
                                   "Open the file manager in Firefox")
                eq(rc, 0, "rc (%s)" % err)
                for want in ("Firefox", "gestionnaire de fichiers"):
                    if want not in out:
                        raise AssertionError("%s: %r lacks %r" % (name, out, want))
            g = os.path.join(d, "bad.tsv")
            with open(g, "w") as f:
                f.write("a\tb\tc\n")
            eq(cli(url, "-m", "en-fr", "--glossary", g, "x")[0], 2, "bad file")

    @t("CLI --heatmap with --format: the protected spans are listed")
    def _():
        rc, out, err = cli(url, "-m", "en-fr", "--format", "printf",
                           "--heatmap", "--color", "never",
                           "Could not open file %s")
        eq(rc, 0, "rc (%s)" % err)
        if not re_search(r"protected \((alignment|sentinels)\): placeholder %s", out):
            raise AssertionError("no span line in %r" % out[-300:])

    # -- issue 14: decoding controls and POST /v1/score ------------------

    @t("Client.score: the best translation's score equals translate's")
    def _():
        src = list(EXAMPLES)
        for opts in ({}, {"beam_size": 5}):
            res = c.translate(src, model="dates", **opts)
            sc = c.score(src, [r["hypotheses"][0]["text"] for r in res], model="dates")
            for r, s in zip(res, sc):
                eq(s["tokens"], r["hypotheses"][0]["tokens"], "tokens")
                eq(s["score"], r["hypotheses"][0]["score"], "score %s" % opts)
                eq(len(s["attention"]), len(s["tokens"]), "attention rows")
        one = c.score("3/7/98", "1998-03-07", model="dates", attention=False)
        eq("attention" in one[0], False, "attention off")
        try:
            c.score("3/7/98", "1998", beam_size=2)
            raise AssertionError("beam_size accepted by score")
        except TypeError:
            pass

    @t("Client: the decoding controls pass through (seed, prefix, alternatives)")
    def _():
        r = c.translate("3/7/98", model="dates", sampling_topk=0, seed=5)[0]
        eq(r["seed"], 5, "seed")
        r = c.translate("3/7/98", model="dates", prefix="1998",
                        return_alternatives=2)[0]
        eq(r["hypotheses"][0]["text"][:4], "1998", "prefix")
        eq(len(r["alternatives"]), 2, "alternatives")
        try:
            c.translate("3/7/98", model="dates", sampling_topp=0)
            raise AssertionError("sampling_topp 0 accepted")
        except SeqdError as e:
            eq((e.status, e.code), (422, "invalid_option"), "error")

    @t("CLI --score TARGET prints score, norm_score and the target; --heatmap draws it")
    def _():
        rc, out, err = cli(url, "-m", "dates", "--score", "1998-03-07", "3/7/98")
        eq(rc, 0, "rc (%s)" % err)
        want = c.translate("3/7/98", model="dates")[0]["hypotheses"][0]["score"]
        f = out.split("\t")
        eq(len(f), 3, "fields of %r" % out)
        eq(f[2].strip(), "1998-03-07", "target")
        if abs(float(f[0]) - want) > 1e-4:
            raise AssertionError("score %s vs %s" % (f[0], want))
        rc, out, err = cli(url, "-m", "dates", "--score", "1998-03-07", "--heatmap",
                           "--color", "never", "3/7/98")
        eq(rc, 0, "rc (%s)" % err)
        if "3/7/98 -> 1998-03-07" not in out or "legend:" not in out:
            raise AssertionError(out[-300:])
        eq(cli(url, "-m", "dates", "--score", "a", "--score", "b", "3/7/98")[0], 2,
           "one target per sentence")

    @t("CLI decoding flags: prefix, alternatives, sampling with a seed, a 422 is exit 1")
    def _():
        rc, out, err = cli(url, "-m", "dates", "--prefix", "1998", "--return-alternatives",
                           "2", "3/7/98")
        eq(rc, 0, "rc (%s)" % err)
        if not out.startswith("1998") or "alternatives: " not in out:
            raise AssertionError(out)
        a = cli(url, "-m", "en-fr", "--sampling-topk", "0", "--seed", "9", "--json",
                "Search the web")
        b = cli(url, "-m", "en-fr", "--sampling-topk", "0", "--seed", "9", "--json",
                "Search the web")
        eq(a[0], 0, "rc (%s)" % a[2])
        ja, jb = json.loads(a[1]), json.loads(b[1])
        eq(ja["results"][0]["seed"], 9, "seed")
        eq(ja["results"][0]["hypotheses"], jb["results"][0]["hypotheses"], "same seed")
        rc, out, err = cli(url, "-m", "en-fr", "--suppress", "zz-not-a-token", "x")
        eq(rc, 1, "rc")
        if "options.suppress[0]" not in err:
            raise AssertionError(err)

    return T


def re_search(pat, text):
    import re
    return re.search(pat, text)


def main():
    with tempfile.TemporaryFile(mode="w+") as log:
        try:
            proc, url = seq2seqd_proc.start(BUILD, SRC, log, "--admin_key=" + ADMIN_KEY, timeout=15)
        except Exception as e:  # noqa: BLE001
            print("1..1\nnot ok 1 - start seq2seqd\n# %s" % e)
            log.seek(0)
            for line in log.read().splitlines()[-20:]:
                print("# " + line)
            return 1
        try:
            T = tests(url, Client(url, timeout=30))
            print("1..%d" % (len(T) + 1))
            for name, fn in T:
                check(name, fn)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)

        def stopped():
            eq(proc.wait(timeout=10), 0, "exit status after SIGTERM")
        check("SIGTERM -> seq2seqd exits 0", stopped)
        if proc.poll() is None:
            proc.kill()
        if TAP.failed:
            log.seek(0)
            for line in log.read().splitlines()[-20:]:
                print("# daemon: " + line)
    return 1 if TAP.failed else 0


if __name__ == "__main__":
    sys.exit(main())
