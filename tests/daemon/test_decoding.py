#!/usr/bin/env python3
"""tests/daemon/test_decoding.py - the decoding controls of issue 14 and
POST /v1/score over real HTTP (docs/api.md, docs/checkpoint-format.md §7).

The real seq2seqd serves the built-in en-fr and dates models and a fixture
model without attention. Checked here: every option through HTTP and its
effect, each bad input as a 422 naming the field, the score == translate
invariant (the JSON numbers compared exactly, greedy and beam 5), seed
reproducibility (sentence i uses seed + i), concurrent requests with
different options giving what they give alone, and the prefix's attention
rows. Python 3 standard library only; prints TAP.
"""
import http.client
import json
import os
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
import seq2seqd_proc  # noqa: E402
from tap import Tap, collector  # noqa: E402

SRCDIR = os.environ.get("S2S_SRCDIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
BUILDDIR = os.environ.get("S2S_BUILDDIR") or os.getcwd()
NOATTN = os.path.join(SRCDIR, "tests", "fixtures", "gru_none_linear_2layer.safetensors")

EN = ["Save changes to the document before closing?", "The file could not be found.",
      "Delete the selected items", "Search the web", "Save the file as"]
DATES = ["monday, march 1st 2021", "3/7/98", "23.11.2026", "the 23rd of november 2026"]

URL = None


def post(path, body, raw=False):
    """(status, parsed JSON or raw text) of a POST with a JSON body."""
    host = URL.split("//")[1]
    c = http.client.HTTPConnection(host, timeout=60)
    c.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read().decode("utf-8")
    c.close()
    return r.status, (data if raw else json.loads(data))


def translate(body):
    st, j = post("/v1/translate", body)
    if st != 200:
        raise AssertionError("translate %s -> %d %s" % (json.dumps(body)[:200], st, j))
    return j


def score(body):
    st, j = post("/v1/score", body)
    if st != 200:
        raise AssertionError("score %s -> %d %s" % (json.dumps(body)[:200], st, j))
    return j


def best(j, i=0):
    return j["results"][i]["hypotheses"][0]


def eq(a, b, what):
    if a != b:
        raise AssertionError("%s: %r != %r" % (what, a, b))


def expect_422(path, body, field, code="invalid_option"):
    st, j = post(path, body)
    eq(st, 422, "status of %s" % json.dumps(body)[:160])
    eq(j["error"]["code"], code, "code")
    if field not in j["error"]["message"]:
        raise AssertionError("message %r does not name %s" % (j["error"]["message"], field))


def raw_numbers(text, key):
    """The literal JSON numbers after every `"key":` in a body: exactness of what was printed."""
    out, at = [], 0
    pat = '"%s":' % key
    while True:
        at = text.find(pat, at)
        if at < 0:
            return out
        at += len(pat)
        end = at
        while end < len(text) and text[end] not in ",}]":
            end += 1
        out.append(text[at:end])


tests, t = collector()


# ---- responses without the new options stay as they were ----

@t("no option: no seed, prefix_tokens or alternatives keys")
def _():
    j = translate({"model": "en-fr", "text": EN[0]})
    r = j["results"][0]
    for k in ("seed", "prefix_tokens", "alternatives"):
        if k in r:
            raise AssertionError("%s in a plain response" % k)


# ---- each option through HTTP and its effect ----

@t("prefix: the hypothesis starts with it, prefix_tokens counts it, its attention rows are returned")
def _():
    plain = best(translate({"model": "en-fr", "text": EN[0]}))
    j = translate({"model": "en-fr", "text": EN[0], "options": {"prefix": "Fermer", "attention": True}})
    h, r = best(j), j["results"][0]
    n = r["prefix_tokens"]
    if n < 1:
        raise AssertionError("prefix_tokens %r" % n)
    if not h["text"].startswith("Fermer"):
        raise AssertionError("text %r does not start with the prefix" % h["text"])
    if h["text"] == plain["text"]:
        raise AssertionError("the prefix changed nothing")
    eq(len(h["attention"]), len(h["tokens"]), "attention rows (prefix rows included)")
    eq(len(h["logprobs"]), len(h["tokens"]), "logprobs")
    for row in h["attention"][:n]:
        if abs(sum(row) - 1) > 1e-3:
            raise AssertionError("a prefix attention row sums to %r" % sum(row))


@t("prefix as an array parallel to the sentences, null for none")
def _():
    j = translate({"model": "en-fr", "sentences": EN[:2], "options": {"prefix": ["Fermer", None]}})
    eq(j["results"][1]["prefix_tokens"], 0, "no prefix")
    alone = translate({"model": "en-fr", "text": EN[1]})
    eq(best(j, 1)["text"], best(alone)["text"], "sentence without prefix")
    if not best(j, 0)["text"].startswith("Fermer"):
        raise AssertionError(best(j, 0)["text"])


@t("return_alternatives: k tokens after the prefix, best first, with ids and log-probabilities")
def _():
    j = translate({"model": "en-fr", "text": EN[0],
                   "options": {"prefix": "Enregistrer", "return_alternatives": 5}})
    r = j["results"][0]
    alts = r["alternatives"]
    eq(len(alts), 5, "alternatives")
    lps = [a["logprob"] for a in alts]
    eq(lps, sorted(lps, reverse=True), "descending")
    n = r["prefix_tokens"]
    eq(alts[0]["token"], best(j)["tokens"][n], "greedy continues with the best alternative")
    for a in alts:
        if not isinstance(a["id"], int) or not isinstance(a["token"], str):
            raise AssertionError(a)


@t("min_length lengthens a short output")
def _():
    plain = best(translate({"model": "en-fr", "text": EN[4]}))
    n = len(plain["tokens"])
    h = best(translate({"model": "en-fr", "text": EN[4], "options": {"min_length": n + 3}}))
    if len(h["tokens"]) < n + 3:
        raise AssertionError("%d tokens with min_length %d" % (len(h["tokens"]), n + 3))


@t("suppress: the suppressed token never appears; disable_unk removes <unk>")
def _():
    plain = best(translate({"model": "en-fr", "text": EN[0]}))
    tok = plain["tokens"][0]
    h = best(translate({"model": "en-fr", "text": EN[0], "options": {"suppress": [tok]}}))
    if tok in h["tokens"]:
        raise AssertionError("%s still generated" % tok)
    h = best(translate({"model": "dates", "text": "Search the web",
                        "options": {"prefix": "2020", "disable_unk": True}}))
    if "<unk>" in h["tokens"][len("2020") + 1:]:
        raise AssertionError(h["tokens"])


@t("repetition_penalty and no_repeat_ngram_size change a repetitive output")
def _():
    # dates repeats digits: a penalty on seen tokens must change it
    # (the dates model is confident: a mild penalty changes nothing, 10 does)
    plain = best(translate({"model": "dates", "text": DATES[1]}))
    rp = best(translate({"model": "dates", "text": DATES[1], "options": {"repetition_penalty": 10.0}}))
    if rp["tokens"] == plain["tokens"]:
        raise AssertionError("repetition_penalty changed nothing: %s" % plain["tokens"])
    nr = best(translate({"model": "dates", "text": DATES[1], "options": {"no_repeat_ngram_size": 2}}))
    toks = nr["tokens"]
    grams = [tuple(toks[i:i + 2]) for i in range(len(toks) - 1)]
    eq(len(grams), len(set(grams)), "no repeated bigram in %s" % toks)
    pg = [tuple(plain["tokens"][i:i + 2]) for i in range(len(plain["tokens"]) - 1)]
    if len(pg) == len(set(pg)):
        raise AssertionError("the plain output has no repeated bigram to remove")


@t("coverage_penalty and length_penalty_type re-rank beam 5 (norm_score changes)")
def _():
    a = best(translate({"model": "en-fr", "text": EN[3], "options": {"beam_size": 5}}))
    b = best(translate({"model": "en-fr", "text": EN[3],
                        "options": {"beam_size": 5, "coverage_penalty": 0.4}}))
    if a["norm_score"] == b["norm_score"] and a["text"] == b["text"]:
        raise AssertionError("coverage_penalty changed nothing")
    c = best(translate({"model": "en-fr", "text": EN[3],
                        "options": {"beam_size": 5, "length_penalty_type": "avg"}}))
    if abs(c["norm_score"] - c["score"] / len(c["tokens"])) > 1e-5:
        raise AssertionError("avg: %r vs %r / %d" % (c["norm_score"], c["score"], len(c["tokens"])))
    d = best(translate({"model": "en-fr", "text": EN[3],
                        "options": {"length_penalty_type": "none", "length_penalty": 1.0}}))
    eq(d["norm_score"], d["score"], "none")


@t("sampling: seed returned when absent; same seed, same output; temperature and top-p accepted")
def _():
    o = {"sampling_topk": 0, "sampling_temperature": 1.5}
    j = translate({"model": "en-fr", "text": EN[0], "options": o})
    seed = j["results"][0]["seed"]
    if not isinstance(seed, int) or not 0 <= seed <= 2 ** 53:
        raise AssertionError("seed %r" % seed)
    again = translate({"model": "en-fr", "text": EN[0], "options": dict(o, seed=seed)})
    eq(best(again)["tokens"], best(j)["tokens"], "same seed")
    eq(again["results"][0]["seed"], seed, "given seed returned")
    outs = set()
    for s in range(8):
        outs.add(tuple(best(translate({"model": "en-fr", "text": EN[0],
                                       "options": dict(o, seed=s)}))["tokens"]))
    if len(outs) < 2:
        raise AssertionError("8 seeds at temperature 1.5 gave one output")
    p = translate({"model": "en-fr", "text": EN[0],
                   "options": {"sampling_topk": 10, "sampling_topp": 0.9, "seed": 3}})
    eq(p["results"][0]["seed"], 3, "seed")


@t("sampling: sentence i uses seed + i (two sentences equal two one-sentence requests)")
def _():
    o = {"sampling_topk": 0, "sampling_temperature": 2.0, "seed": 1234}
    two = translate({"model": "en-fr", "sentences": [EN[0], EN[0]], "options": o})
    one = translate({"model": "en-fr", "text": EN[0], "options": o})
    nxt = translate({"model": "en-fr", "text": EN[0], "options": dict(o, seed=1235)})
    eq(two["results"][1]["seed"], 1235, "seed of sentence 1")
    eq(best(two, 0), best(one), "sentence 0 with seed")
    eq(best(two, 1), best(nxt), "sentence 1 with seed + 1")


# ---- bad input: 422 naming the field ----

@t("422: prefix longer than max_length")
def _():
    expect_422("/v1/translate", {"model": "en-fr", "text": EN[3],
                                 "options": {"prefix": "le " * 40, "max_length": 10}},
               "options.prefix")


@t("422: unknown token in suppress")
def _():
    expect_422("/v1/translate", {"model": "en-fr", "text": EN[3],
                                 "options": {"suppress": ["zzqqxx-not-a-token"]}},
               "options.suppress[0]")


@t("422: sampling_topp outside (0, 1]")
def _():
    for p in (0, -0.5, 1.5):
        expect_422("/v1/translate", {"model": "en-fr", "text": EN[3],
                                     "options": {"sampling_topk": 0, "sampling_topp": p}},
                   "options.sampling_topp")


@t("422: sampling with beam_size > 1; topp or temperature without topk")
def _():
    expect_422("/v1/translate", {"model": "en-fr", "text": EN[3],
                                 "options": {"sampling_topk": 5, "beam_size": 4}},
               "options.beam_size")
    expect_422("/v1/translate", {"model": "en-fr", "text": EN[3], "options": {"sampling_topp": 0.5}},
               "options.sampling_topk")
    expect_422("/v1/translate", {"model": "en-fr", "text": EN[3],
                                 "options": {"sampling_temperature": 0.5}},
               "options.sampling_temperature")


@t("422: other bad values and conflicts name their field")
def _():
    bad = [({"min_length": -1}, "options.min_length"),
           ({"repetition_penalty": 0}, "options.repetition_penalty"),
           ({"no_repeat_ngram_size": 99}, "options.no_repeat_ngram_size"),
           ({"length_penalty_type": "gnmt"}, "options.length_penalty_type"),
           ({"coverage_penalty": -1}, "options.coverage_penalty"),
           ({"seed": -1}, "options.seed"),
           ({"return_alternatives": 65}, "options.return_alternatives"),
           ({"suppress": "x"}, "options.suppress"),
           ({"suppress": ["</s>"]}, "options.suppress[0]"),
           ({"prefix": ["a", "b"]}, "options.prefix"),
           ({"prefix": "Le", "format": "printf"}, "options.prefix"),
           ({"sampling_topk": 100000000}, "options.sampling_topk")]
    for o, field in bad:
        expect_422("/v1/translate", {"model": "en-fr", "text": EN[3], "options": o}, field)
    expect_422("/v1/translate", {"model": "noattn", "text": "a b", "options": {"coverage_penalty": 0.2}},
               "options.coverage_penalty")
    expect_422("/v1/translate", {"model": "en-fr", "text": EN[3], "options": {"samplng_topk": 2}},
               "options.samplng_topk", code="unknown_option")


@t("422: score with an empty target, a too long one, an unknown option")
def _():
    expect_422("/v1/score", {"model": "en-fr", "text": EN[3], "target": " "}, "target",
               code="empty_input")
    expect_422("/v1/score", {"model": "en-fr", "sentences": EN[:2], "targets": ["Bonjour", ""]},
               "targets[1]", code="empty_input")
    expect_422("/v1/score", {"model": "en-fr", "text": EN[3], "target": "le " * 400}, "target",
               code="input_too_long")
    expect_422("/v1/score", {"model": "en-fr", "text": EN[3], "target": "Bonjour",
                             "options": {"beam_size": 2}}, "options.beam_size", code="unknown_option")
    st, j = post("/v1/score", {"model": "en-fr", "sentences": EN[:2], "targets": ["a"]})
    eq(st, 400, "targets of the wrong length")


# ---- /v1/score ----

@t("score: tokens end with </s>, score is the sum of logprobs, attention is one row per token")
def _():
    j = score({"model": "en-fr", "text": EN[3], "target": "Rechercher le Web"})
    r = j["results"][0]
    eq(r["tokens"][-1], "</s>", "last token")
    eq(len(r["logprobs"]), len(r["tokens"]), "logprobs")
    eq(len(r["attention"]), len(r["tokens"]), "attention rows")
    eq(len(r["attention"][0]), len(r["source_tokens"]), "attention columns")
    if abs(sum(r["logprobs"]) - r["score"]) > 1e-3:
        raise AssertionError("sum %r vs score %r" % (sum(r["logprobs"]), r["score"]))
    eq(r["target"], "Rechercher le Web", "target")
    for k in ("queued_ms", "encode_ms", "decode_ms"):
        if k not in r["timings"]:
            raise AssertionError(k)
    w = score({"model": "en-fr", "text": EN[3], "target": "Rechercher le Web",
               "options": {"attention_level": "word", "attention": True}})["results"][0]
    eq(w["attention_level"], "word", "level")
    n = score({"model": "en-fr", "text": EN[3], "target": "Rechercher le Web",
               "options": {"attention": False}})["results"][0]
    if "attention" in n:
        raise AssertionError("attention without asking")


def invariant(model, sentences, options):
    """Scores each sentence's best translation; the printed score and norm_score must be equal."""
    st, text = post("/v1/translate", {"model": model, "sentences": sentences,
                                      "options": dict(options, attention=False, coverage=False)},
                    raw=True)
    eq(st, 200, "translate")
    j = json.loads(text)
    want_s = raw_numbers(text, "score")
    want_n = raw_numbers(text, "norm_score")
    # the best hypothesis is the first of each result (n_best 1)
    targets = [best(j, i)["text"] for i in range(len(sentences))]
    so = {k: v for k, v in options.items() if k in ("length_penalty", "length_penalty_type",
                                                      "coverage_penalty")}
    st, stext = post("/v1/score", {"model": model, "sentences": sentences, "targets": targets,
                                   "options": dict(so, attention=False)}, raw=True)
    eq(st, 200, "score: " + stext[:200])
    sj = json.loads(stext)
    for i in range(len(sentences)):
        eq(sj["results"][i]["tokens"], best(j, i)["tokens"], "tokens of %r" % sentences[i])
    eq(raw_numbers(stext, "score"), want_s, "printed scores")
    eq(raw_numbers(stext, "norm_score"), want_n, "printed norm_scores")


@t("score == translate: en-fr greedy")
def _():
    invariant("en-fr", EN, {})


@t("score == translate: en-fr beam 5 with a length penalty")
def _():
    invariant("en-fr", EN, {"beam_size": 5, "length_penalty": 0.6})


@t("score == translate: en-fr beam 5 with a coverage penalty and avg")
def _():
    invariant("en-fr", EN, {"beam_size": 5, "coverage_penalty": 0.2, "length_penalty_type": "avg"})


@t("score == translate: dates greedy and beam 5")
def _():
    invariant("dates", DATES, {})
    invariant("dates", DATES, {"beam_size": 5})


# ---- concurrency: mixed options share batches, each gives what it gives alone ----

@t("mixed-options concurrency: parallel requests equal sequential ones")
def _():
    reqs = [("/v1/translate", {"model": "en-fr", "text": EN[0], "options": {"beam_size": 5}}),
            ("/v1/translate", {"model": "en-fr", "text": EN[0], "options": {"prefix": "Fermer"}}),
            ("/v1/translate", {"model": "en-fr", "text": EN[1],
                               "options": {"sampling_topk": 0, "seed": 7, "sampling_temperature": 1.3}}),
            ("/v1/translate", {"model": "en-fr", "text": EN[2],
                               "options": {"beam_size": 5, "coverage_penalty": 0.4}}),
            ("/v1/translate", {"model": "en-fr", "text": EN[3],
                               "options": {"repetition_penalty": 1.5, "no_repeat_ngram_size": 2}}),
            ("/v1/translate", {"model": "en-fr", "text": EN[4],
                               "options": {"min_length": 8, "return_alternatives": 3}}),
            ("/v1/score", {"model": "en-fr", "text": EN[4], "target": "Enregistrer le fichier sous"}),
            ("/v1/translate", {"model": "en-fr", "text": EN[4]})]

    def strip(j):
        j = dict(j)
        j.pop("request_id", None)
        j.pop("timings", None)
        for r in j["results"]:
            r.pop("timings", None)
        return j

    alone = [strip(post(p, b)[1]) for p, b in reqs]
    for rnd in range(3):
        got = [None] * (len(reqs) * 2)

        def run(k):
            p, b = reqs[k % len(reqs)]
            got[k] = strip(post(p, b)[1])
        ths = [threading.Thread(target=run, args=(k,)) for k in range(len(got))]
        for th in ths:
            th.start()
        for th in ths:
            th.join()
        for k in range(len(got)):
            eq(got[k], alone[k % len(reqs)], "round %d request %d" % (rnd, k % len(reqs)))


# ---- metrics ----

@t("metrics: /v1/score has its route label")
def _():
    import urllib.request
    with urllib.request.urlopen(URL + "/metrics", timeout=10) as r:
        text = r.read().decode()
    if 'route="/v1/score"' not in text:
        raise AssertionError("no /v1/score route in /metrics")


def main():
    global URL
    tap = Tap()
    log = tempfile.NamedTemporaryFile(prefix="s2sd-decoding-", suffix=".log", delete=False)
    proc = None
    try:
        proc, URL = seq2seqd_proc.start(
            BUILDDIR, SRCDIR, log,
            "--model", "en-fr=" + os.path.join(SRCDIR, "models", "en-fr.safetensors"),
            "--model", "dates=" + os.path.join(SRCDIR, "models", "dates.safetensors"),
            "--model", "noattn=" + NOATTN, "--workers=2")
    except Exception as e:  # noqa: BLE001
        print("1..1\nnot ok 1 - start seq2seqd: %s" % e)
        with open(log.name) as f:
            sys.stdout.write("".join("# " + line for line in f.readlines()[-20:]))
        return 1
    try:
        for name, fn in tests:
            tap.run(name, fn)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print("1..%d" % tap.n)
    if tap.failed:
        with open(log.name) as f:
            sys.stdout.write("".join("# " + line for line in f.readlines()[-20:]))
    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main())
