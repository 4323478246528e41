#!/usr/bin/env python3
"""test_promtool.py - the shipped Prometheus files (deploy/prometheus) and
the daemon's /metrics, checked by Prometheus' own promtool:

  - `promtool check config` on prometheus.yml (which also loads its
    rule_files), `promtool check rules` on rules.yml and alerts.yml, and
    the conventions of alerts.yml (for:, severity, summary, description);
  - `promtool test rules tests/prometheus/alerts_test.yml`: every alert
    fires on synthetic series and stays silent on healthy ones;
  - `promtool check metrics` (its linter included) on the live /metrics of
    a seq2seqd that has served traffic, errors, a protected sentence and a
    failed reload, so every labelled family has samples; then the values
    of the families added for Prometheus (build_info, process_*, the
    model-labelled counters) against what the test did.

Needs promtool (Debian's prometheus package, scripts/deps.sh): without it
the test skips, except under CI=true where it fails. Prints TAP.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request

from common import SRC, BUILD, DEPLOY, eq, stop
import common
from tap import collector
import seq2seqd_proc
HERE = os.path.join(SRC, "tests", "prometheus")
PROMTOOL = shutil.which("promtool")


def promtool(*args, cwd=None):
    p = subprocess.run([PROMTOOL] + list(args), capture_output=True, text=True, cwd=cwd,
                       timeout=60)
    return p.returncode, p.stdout + p.stderr


def must_pass(*args, cwd=None):
    rc, out = promtool(*args, cwd=cwd)
    if rc != 0:
        raise AssertionError("promtool %s: exit %d\n%s" % (" ".join(args), rc, out[-3000:]))
    return out


def alert_blocks(path):
    """{alert name: its lines} of an alerting-rules file, by indentation
    (the shipped files keep one rule per `- alert:` item)."""
    blocks, name = {}, None
    for line in open(path, encoding="utf-8"):
        m = re.match(r"\s*- (alert|record): *(\S+)", line)
        if m:
            name = m.group(2) if m.group(1) == "alert" else None
            if name:
                blocks[name] = []
        elif name:
            blocks[name].append(line)
    return blocks


def parse_metrics(text):
    """{sample name with labels as written: value}, and {family: type}."""
    samples, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, fam, typ = line.split(" ", 3)
            types[fam] = typ
        elif line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            samples[k] = float(v)
    return samples, types


class Daemon:
    def __init__(self, tmp, *args):
        self.log = open(os.path.join(tmp, "seq2seqd.log"), "w")
        self.proc, self.url = seq2seqd_proc.start(BUILD, SRC, self.log, *args)

    def call(self, method, path, body=None, headers=None):
        data = json.dumps(body).encode() if body is not None else None
        h = {"Content-Type": "application/json"} if data is not None else {}
        h.update(headers or {})
        req = urllib.request.Request(self.url + path, data=data, headers=h, method=method)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def metrics(self):
        st, body = self.call("GET", "/metrics")
        eq(st, 200, "GET /metrics")
        return body.decode()

    def stop(self):
        stop(self.proc)
        self.log.close()


def tests(tmp, tap):
    """Runs every test on `tap` (the live daemon lives as long as they run)."""
    T, t = collector()
    st = {}

    @t("promtool check config deploy/prometheus/prometheus.yml (its 2 rule files loaded)")
    def _():
        out = must_pass("check", "config", os.path.join(DEPLOY, "prometheus.yml"))
        if "SUCCESS: 2 rule files found" not in out:
            raise AssertionError("rule_files not resolved:\n" + out)

    @t("promtool check rules rules.yml alerts.yml")
    def _():
        must_pass("check", "rules", os.path.join(DEPLOY, "rules.yml"),
                  os.path.join(DEPLOY, "alerts.yml"))

    @t("alerts.yml: the 4 alerts of the issue; each with for:, severity, summary, description")
    def _():
        blocks = alert_blocks(os.path.join(DEPLOY, "alerts.yml"))
        for want in ("Seq2seqdInstanceDown", "Seq2seqdHighErrorRatio", "Seq2seqdQueueSaturated",
                     "Seq2seqdReloadFailed"):
            if want not in blocks:
                raise AssertionError("no alert %s in %s" % (want, sorted(blocks)))
        for name, lines in blocks.items():
            text = "".join(lines)
            for key in (r"\n\s+for: *\d+[smh]", r"\n\s+severity: *(warning|critical)\n",
                        r"\n\s+summary: *\S", r"\n\s+description: *\S"):
                if not re.search(key, "\n" + text):
                    raise AssertionError("%s lacks %s" % (name, key))
        st["alerts"] = sorted(blocks)

    @t("promtool test rules alerts_test.yml: every alert fires when sick, not when healthy")
    def _():
        out = must_pass("test", "rules", "alerts_test.yml", cwd=HERE)
        if "SUCCESS" not in out:
            raise AssertionError(out)
        tested = set(re.findall(r"alertname: *(\S+)", open(os.path.join(HERE, "alerts_test.yml")).read()))
        missing = set(st.get("alerts", [])) - tested
        if missing:
            raise AssertionError("alerts without a unit test: %s" % sorted(missing))

    @t("promtool test rules fails on a wrong expectation (the unit test can fail)")
    def _():
        # the same test file with the p50 it expects changed must fail:
        # proves promtool really compares, and that the paths resolve
        src = open(os.path.join(HERE, "alerts_test.yml")).read()
        bad = src.replace("value: 0.008", "value: 0.009").replace(
            "../../deploy/prometheus/", DEPLOY + "/")
        if bad.count(DEPLOY) != 2 or "0.009" not in bad:
            raise AssertionError("could not derive the failing variant")
        path = os.path.join(tmp, "bad_test.yml")
        with open(path, "w") as f:
            f.write(bad)
        rc, out = promtool("test", "rules", path)
        if rc == 0 or "p50_rate1m" not in out:
            raise AssertionError("a wrong p50 passed: exit %d\n%s" % (rc, out[-1500:]))

    # The live daemon: the default model (dates), en-fr, and "m", a copy of
    # dates that the test breaks to make a reload fail. queue_length 4 so a
    # request of 5 sentences is refused 503 queue_full.
    m_path = os.path.join(tmp, "m.safetensors")
    shutil.copy(os.path.join(SRC, "models", "dates.safetensors"), m_path)
    models = os.path.join(SRC, "models")
    d = Daemon(tmp, "--queue_length=4", "--admin_key=k",
               "--model", "dates=" + os.path.join(models, "dates.safetensors"),
               "--model", "en-fr=" + os.path.join(models, "en-fr.safetensors"),
               "--model", "m=" + m_path)
    admin = {"X-API-Key": "k"}
    try:
        @t("traffic: translations on 2 models, a protected sentence, 404, 503 queue_full, a failed reload")
        def _():
            for body, want in (({"text": "5 May 2021"}, 200),
                               ({"sentences": ["Hello.", "Good morning."], "model": "en-fr"}, 200),
                               ({"text": "Open <b>the</b> file", "model": "en-fr",
                                 "options": {"format": "html"}}, 200),
                               ({"text": "x", "model": "nope"}, 404),
                               ({"sentences": ["a"] * 5, "model": "en-fr"}, 503)):
                s, b = d.call("POST", "/v1/translate", body)
                eq(s, want, "POST /v1/translate %s: %s" % (json.dumps(body), b[:200]))
            with open(m_path, "r+b") as f:
                f.write(b"\xff" * 16)
            s, b = d.call("POST", "/v1/models/m/reload", headers=admin)
            eq(s, 500, "reload of a broken file: %s" % b[:200])
            st["text"] = d.metrics()

        @t("promtool check metrics on the live /metrics: no error, no lint warning")
        def _():
            p = subprocess.run([PROMTOOL, "check", "metrics"], input=st["text"],
                               capture_output=True, text=True, timeout=60)
            out = (p.stdout + p.stderr).strip()
            if p.returncode != 0 or out:
                raise AssertionError("exit %d:\n%s" % (p.returncode, out[-3000:]))

        @t("every family has HELP, TYPE and at least one sample")
        def _():
            text = st["text"]
            samples, types = parse_metrics(text)
            helps = set(re.findall(r"^# HELP (\S+) \S", text, re.M))
            eq(set(types) - helps, set(), "families with TYPE and no HELP")
            suffix = {"histogram": ("_bucket", "_sum", "_count")}
            for fam, typ in types.items():
                names = [fam + s for s in suffix.get(typ, ("",))]
                if not any(k.split("{")[0] in names for k in samples):
                    raise AssertionError("family %s (%s) has no sample" % (fam, typ))

        @t("seq2seqd_build_info: version of --version, openblas, isa")
        def _():
            samples, types = parse_metrics(st["text"])
            eq(types.get("seq2seqd_build_info"), "gauge", "type")
            info = [k for k in samples if k.startswith("seq2seqd_build_info{")]
            eq(len(info), 1, "build_info samples")
            eq(samples[info[0]], 1.0, "value")
            ver = subprocess.run([os.path.join(BUILD, "seq2seqd"), "--version"], capture_output=True,
                                 text=True).stdout.split()[-1]
            labels = dict(re.findall(r'(\w+)="([^"]*)"', info[0]))
            eq(labels.get("version"), ver, "version label")
            if not re.fullmatch(r"\d+\.\d+\.\d+", labels.get("openblas", "")):
                raise AssertionError("openblas label %r" % labels.get("openblas"))
            if labels.get("isa") not in ("avx2", "generic"):
                raise AssertionError("isa label %r" % labels.get("isa"))

        @t("process_*: the client libraries' names and types, values of this process")
        def _():
            samples, types = parse_metrics(st["text"])
            for fam, typ in (("process_cpu_seconds_total", "counter"),
                             ("process_resident_memory_bytes", "gauge"),
                             ("process_virtual_memory_bytes", "gauge"),
                             ("process_open_fds", "gauge"), ("process_max_fds", "gauge"),
                             ("process_start_time_seconds", "gauge")):
                eq(types.get(fam), typ, fam + " type")
            pid = d.proc.pid
            with open("/proc/%d/status" % pid) as f:
                rss_kb = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
            rss = samples["process_resident_memory_bytes"]
            if not 0.5 * rss_kb * 1024 < rss < 2 * rss_kb * 1024:
                raise AssertionError("RSS %d vs /proc's %d kB" % (rss, rss_kb))
            if samples["process_virtual_memory_bytes"] < rss:
                raise AssertionError("virtual < resident")
            fds = len(os.listdir("/proc/%d/fd" % pid))
            if not 3 <= samples["process_open_fds"] <= fds + 2:
                raise AssertionError("open fds %s vs %d" % (samples["process_open_fds"], fds))
            if samples["process_max_fds"] < samples["process_open_fds"]:
                raise AssertionError("max_fds below open_fds")
            age = time.time() - samples["process_start_time_seconds"]
            if not 0 <= age < 600:
                raise AssertionError("started %.1f s ago?" % age)
            if not 0 < samples["process_cpu_seconds_total"] < 600:
                raise AssertionError("cpu %s" % samples["process_cpu_seconds_total"])

        @t("model label: sentences, tokens, requests by status, latency per model")
        def _():
            samples, types = parse_metrics(st["text"])
            eq(types.get("seq2seqd_generated_tokens_total"), "counter", "tokens type")
            eq(types.get("seq2seqd_translate_duration_seconds"), "histogram", "latency type")
            eq(samples.get('seq2seqd_sentences_total{model="dates"}'), 1.0, "dates sentences")
            eq(samples.get('seq2seqd_sentences_total{model="en-fr"}'), 3.0, "en-fr sentences")
            eq(samples.get('seq2seqd_sentences_total{model="m"}'), 0.0, "m sentences (registered at 0)")
            for mdl in ("dates", "en-fr"):
                if not samples.get('seq2seqd_generated_tokens_total{model="%s"}' % mdl, 0) > 0:
                    raise AssertionError("no tokens counted for " + mdl)
            eq(samples.get('seq2seqd_translate_requests_total{model="en-fr",status="200"}'), 2.0, "en-fr 200")
            eq(samples.get('seq2seqd_translate_requests_total{model="en-fr",status="503"}'), 1.0, "en-fr 503")
            if any('model="nope"' in k for k in samples):
                raise AssertionError("an unknown model name became a label value")
            eq(samples.get('seq2seqd_translate_duration_seconds_count{model="en-fr"}'), 3.0, "en-fr count")
            eq(samples.get('seq2seqd_protected_sentences_total{protection="alignment"}', 0)
               + samples.get('seq2seqd_protected_sentences_total{protection="sentinels"}', 0), 1.0,
               "protected sentence")

        @t("failed reload: seq2seqd_last_reload_successful 0, back to 1 after a good reload")
        def _():
            samples, _ = parse_metrics(st["text"])
            eq(samples.get('seq2seqd_reloads_total{model="m",result="failed"}'), 1.0, "failed reloads")
            eq(samples.get('seq2seqd_last_reload_successful{model="m"}'), 0.0, "m after failure")
            eq(samples.get('seq2seqd_last_reload_successful{model="dates"}'), 1.0, "dates")
            shutil.copy(os.path.join(SRC, "models", "dates.safetensors"), m_path)
            s, b = d.call("POST", "/v1/models/m/reload", headers=admin)
            eq(s, 200, "reload: %s" % b[:200])
            samples, _ = parse_metrics(d.metrics())
            eq(samples.get('seq2seqd_last_reload_successful{model="m"}'), 1.0, "m after success")
            eq(samples.get('seq2seqd_reloads_total{model="m",result="ok"}'), 1.0, "ok reloads")

        @t("tokens: the counter only grows; the old tokens/s gauge is still there")
        def _():
            samples, types = parse_metrics(d.metrics())
            before = samples['seq2seqd_generated_tokens_total{model="dates"}']
            s, _ = d.call("POST", "/v1/translate", {"text": "12 June 1999"})
            eq(s, 200, "translate")
            samples, types = parse_metrics(d.metrics())
            if not samples['seq2seqd_generated_tokens_total{model="dates"}'] > before:
                raise AssertionError("tokens counter did not grow")
            eq(types.get("seq2seqd_tokens_per_second"), "gauge", "the dashboard's gauge")

        for name, fn in T:
            tap.run(name, fn)
    finally:
        d.stop()


def main():
    return common.main(PROMTOOL, "promtool", tests, "s2s-promtool-")


if __name__ == "__main__":
    sys.exit(main())
