#!/usr/bin/env python3
"""test_prometheus_live.py - a real Prometheus scrapes three seq2seqd
instances with the shipped configuration and rules (deploy/prometheus),
and the test reads the results back over Prometheus' HTTP API.

The configuration is derived from the shipped prometheus.yml by four
edits, each of which must match exactly: the three intervals shortened to
1 s (so the test takes seconds, not minutes), the example targets replaced
by the three daemons, and the rule_files made absolute (the derived file
lives in a temporary directory). The rule files themselves are the shipped
ones, unchanged. Then, with traffic on both built-in models and one 503:

  - every rule of rules.yml and alerts.yml is loaded and healthy;
  - all three targets are up;
  - every recording rule returns samples with plausible values
    (throughput > 0, tokens >= sentences, p99 >= p50 > 0, ratios in [0, 1],
    the error ratio of the model that got a 503 above 0);
  - after a kill -9 of one instance, the Seq2seqdInstanceDown expression
    (as Prometheus loaded it from alerts.yml) selects exactly that instance
    and the alert is pending for it (its shipped for: is 1 m; pending is
    what the test can wait for).

Needs prometheus (Debian's package, scripts/deps.sh): without it the test
skips, except under CI=true where it fails. Takes about 15 s. Prints TAP.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from common import SRC, BUILD, DEPLOY, eq, stop
import common
from tap import collector
import seq2seqd_proc
PROMETHEUS = shutil.which("prometheus")
WAIT_S = 30  # the most any one condition may take to appear (a few scrapes are enough)


def sub_once(pattern, repl, text, what, count=1):
    """re.sub of `pattern` that must match exactly `count` times: a shipped
    file reformatted so that an edit no longer applies fails the test
    instead of silently testing something else."""
    new, n = re.subn(pattern, repl, text, flags=re.M)
    eq(n, count, "edits of prometheus.yml for " + what)
    return new


def derive_config(shipped, targets):
    cfg = shipped
    for key in ("scrape_interval", "evaluation_interval", "scrape_timeout"):
        cfg = sub_once(r"^(\s*%s:) *\S+ *$" % key, r"\g<1> 1s", cfg, key)
    cfg = sub_once(r"^(\s*- targets:) *\[.*\] *$", r"\g<1> " + json.dumps(targets), cfg, "targets")
    cfg = sub_once(r"^(\s*- )((?:rules|alerts)\.yml) *$",
                   lambda m: m.group(1) + os.path.join(DEPLOY, m.group(2)), cfg, "rule_files", 2)
    return cfg


class Prom:
    def __init__(self, tmp, config_path):
        self.port = seq2seqd_proc.free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.log_path = os.path.join(tmp, "prometheus.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [PROMETHEUS, "--config.file=" + config_path,
             "--storage.tsdb.path=" + os.path.join(tmp, "tsdb"),
             "--web.listen-address=127.0.0.1:%d" % self.port],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=tmp)

    def api(self, path, **params):
        url = self.url + "/api/v1/" + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=10) as r:
            j = json.loads(r.read())
        eq(j.get("status"), "success", "%s: %s" % (path, j))
        return j["data"]

    def query(self, q):
        return self.api("query", query=q)["result"]

    def wait(self, what, fn):
        """Calls fn() until it returns something true; returns that."""
        end = time.monotonic() + WAIT_S
        last = None
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise AssertionError("prometheus exited %s: %s" % (self.proc.returncode, self.tail()))
            try:
                got = fn()
                if got:
                    return got
            except (OSError, ValueError, AssertionError) as e:
                last = e
            time.sleep(0.25)
        raise AssertionError("%s: not within %d s (last: %r)" % (what, WAIT_S, last))

    def tail(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()[-1500:]

    def stop(self):
        stop(self.proc)
        self.log.close()


def post(url, body):
    req = urllib.request.Request(url + "/v1/translate", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError as e:  # refused or reset: no HTTP answer at all
        return repr(e)


class Traffic(threading.Thread):
    """Steady requests to every live daemon, both models, until stopped."""

    def __init__(self, urls):
        super().__init__(daemon=True)
        self.urls = list(urls)
        self.halt = threading.Event()
        self.ok = 0
        self.bad = []

    def run(self):
        bodies = ({"text": "5 May 2021"}, {"text": "Good morning.", "model": "en-fr"})
        i = 0
        while not self.halt.is_set():
            url = self.urls[i % len(self.urls)]
            st = post(url, bodies[i % 2])
            if st == 200:
                self.ok += 1
            elif url in self.urls:  # a killed daemon's refusals are expected
                self.bad.append(st)
            i += 1
            time.sleep(0.02)


def by_model(result):
    return {r["metric"].get("model"): float(r["value"][1]) for r in result}


def tests(tmp, tap):
    T, t = collector()
    st = {}
    logs, daemons = [], []
    prom = traffic = None
    try:
        for i in range(3):
            logs.append(open(os.path.join(tmp, "seq2seqd-%d.log" % i), "w"))
            # instance 0 has a small queue, so a request of 5 sentences gets 503 queue_full
            args = ["--queue_length=4"] if i == 0 else []
            daemons.append(seq2seqd_proc.start(BUILD, SRC, logs[-1], *args))
        urls = [u for _, u in daemons]
        targets = [u[len("http://"):] for u in urls]
        with open(os.path.join(DEPLOY, "prometheus.yml")) as f:
            cfg = derive_config(f.read(), targets)
        cfg_path = os.path.join(tmp, "prometheus.yml")
        with open(cfg_path, "w") as f:
            f.write(cfg)
        prom = Prom(tmp, cfg_path)
        traffic = Traffic(urls)
        traffic.start()

        @t("Prometheus loads the shipped rules.yml and alerts.yml; every rule healthy")
        def _():
            def loaded():
                groups = prom.api("rules")["groups"]
                files = {os.path.basename(g["file"]) for g in groups}
                return groups if files == {"rules.yml", "alerts.yml"} else None
            groups = prom.wait("rule groups loaded", loaded)
            for g in groups:
                eq(os.path.dirname(g["file"]), DEPLOY, "rule file directory (the shipped files)")
            rules = [r for g in groups for r in g["rules"]]
            st["records"] = [r["name"] for r in rules if r["type"] == "recording"]
            st["alerts"] = {r["name"]: r for r in rules if r["type"] == "alerting"}
            if len(st["records"]) < 6 or "Seq2seqdInstanceDown" not in st["alerts"]:
                raise AssertionError("rules: %s" % [r["name"] for r in rules])

            def healthy():
                rs = [r for g in prom.api("rules")["groups"] for r in g["rules"]]
                bad = [(r["name"], r.get("health"), r.get("lastError")) for r in rs
                       if r.get("health") != "ok"]
                if bad:
                    raise AssertionError("unhealthy rules: %s" % bad)
                return True
            prom.wait("every rule evaluated", healthy)

        @t("the 3 daemons are scraped: up == 1 for each target of job seq2seqd")
        def _():
            def three():
                res = prom.query('up{job="seq2seqd"} == 1')
                return res if len(res) == 3 else None
            res = prom.wait("3 targets up", three)
            eq(sorted(r["metric"]["instance"] for r in res), sorted(targets), "instances")
            # after a first scrape, which saw en-fr's 503 counter at 0
            eq(post(urls[0], {"sentences": ["a"] * 5, "model": "en-fr"}), 503, "queue_full request")

        @t("every recording rule returns samples; throughput, latency, queue, error ratio plausible")
        def _():
            def ready():
                got = {}
                for name in st["records"]:
                    res = prom.query(name)
                    if not res:
                        return None
                    got[name] = res
                # the quantiles are NaN until both models have a rate over 2 scrapes
                for name in ("model:seq2seqd_translate_duration_seconds:p50_rate1m",
                             "model:seq2seqd_translate_duration_seconds:p99_rate1m",
                             "model:seq2seqd_sentences:rate1m"):
                    v = by_model(got[name])
                    if sorted(k for k, x in v.items() if x == x and x > 0) != ["dates", "en-fr"]:
                        return None
                if not by_model(got["model:seq2seqd_translate_errors:ratio_rate5m"]).get("en-fr"):
                    return None
                # per instance: each needs two scrapes that saw its counters grow
                for name in ("instance:seq2seqd_queue_utilisation:ratio",
                             "instance:seq2seqd_http_errors:ratio_rate5m"):
                    if len(got[name]) != 3:
                        return None
                return got
            got = prom.wait("every recording rule with values for both models", ready)
            sent = by_model(got["model:seq2seqd_sentences:rate1m"])
            toks = by_model(got["model:seq2seqd_generated_tokens:rate1m"])
            reqs = by_model(got["model:seq2seqd_translate_requests:rate1m"])
            p50 = by_model(got["model:seq2seqd_translate_duration_seconds:p50_rate1m"])
            p99 = by_model(got["model:seq2seqd_translate_duration_seconds:p99_rate1m"])
            for m in ("dates", "en-fr"):
                if not 0 < sent[m] <= toks[m]:
                    raise AssertionError("%s: %s sentences/s, %s tokens/s" % (m, sent[m], toks[m]))
                if not 0 < reqs[m] < 1000:
                    raise AssertionError("%s: %s requests/s" % (m, reqs[m]))
                if not 0 < p50[m] <= p99[m] <= 10:
                    raise AssertionError("%s: p50 %s, p99 %s" % (m, p50[m], p99[m]))
            depth = got["job:seq2seqd_queue_depth:sum"]
            eq([r["metric"].get("job") for r in depth], ["seq2seqd"], "queue depth series")
            if not 0 <= float(depth[0]["value"][1]) <= 3 * 1024:
                raise AssertionError("queue depth %s" % depth)
            util = got["instance:seq2seqd_queue_utilisation:ratio"]
            eq(len(util), 3, "utilisation series (one per instance)")
            for r in util:
                if not 0 <= float(r["value"][1]) <= 1:
                    raise AssertionError("utilisation %s" % r)
            err = by_model(got["model:seq2seqd_translate_errors:ratio_rate5m"])
            if not 0 < err["en-fr"] < 1 or err["dates"] != 0:
                raise AssertionError("error ratios %s (en-fr had one 503, dates none)" % err)
            http = got["instance:seq2seqd_http_errors:ratio_rate5m"]
            eq(len(http), 3, "http error ratio series")
            # rate() over 1 m of series a few seconds old divides by the whole
            # window, so these understate the load; they only have to be > 0
            print("# sentences/s %s, p50 %s s, p99 %s s, error ratio %s" % (sent, p50, p99, err))

        @t("kill -9 of one instance: the shipped InstanceDown expression selects it; the alert is pending")
        def _():
            dead_proc, dead_url = daemons[2]
            dead = dead_url[len("http://"):]
            traffic.urls.remove(dead_url)
            dead_proc.send_signal(signal.SIGKILL)
            dead_proc.wait()
            expr = st["alerts"]["Seq2seqdInstanceDown"]["query"]

            def selects_dead():
                res = prom.query(expr)
                return res if [r["metric"]["instance"] for r in res] == [dead] else None
            prom.wait("%s selects only %s" % (expr, dead), selects_dead)

            def pending():
                alerts = [a for a in prom.api("alerts")["alerts"]
                          if a["labels"].get("alertname") == "Seq2seqdInstanceDown"]
                if alerts and all(a["labels"].get("instance") == dead for a in alerts) and \
                        alerts[0]["state"] in ("pending", "firing"):
                    return alerts
                return None
            alerts = prom.wait("Seq2seqdInstanceDown pending for " + dead, pending)
            eq(alerts[0]["labels"].get("severity"), "warning", "severity label")
            if "down" not in alerts[0]["annotations"].get("summary", ""):
                raise AssertionError("summary %r" % alerts[0]["annotations"])
            # the fleet-wide alert stays quiet while two instances answer
            eq(prom.query(st["alerts"]["Seq2seqdNoInstanceUp"]["query"]), [], "NoInstanceUp")

        @t("the traffic itself: every request to a live instance answered 200")
        def _():
            if traffic.bad or traffic.ok < 10:
                raise AssertionError("%d ok, failures %s" % (traffic.ok, traffic.bad[:10]))
            print("# %d requests answered during the test" % traffic.ok)

        for name, fn in T:
            if not tap.run(name, fn) and prom:
                print("# prometheus log tail: " + prom.tail().replace("\n", "\n# "))
    finally:
        if traffic:
            traffic.halt.set()
            traffic.join(timeout=35)
        if prom:
            prom.stop()
        for p, _ in daemons:
            if p.poll() is None:
                stop(p)
        for f in logs:
            f.close()


def main():
    return common.main(PROMETHEUS, "prometheus", tests, "s2s-prometheus-")


if __name__ == "__main__":
    sys.exit(main())
