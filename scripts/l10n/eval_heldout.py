#!/usr/bin/python3
"""Score a model on the held-out localisation strings (build_heldout.py)
through seq2seqd and `seq2seq po`'s own code (clients/python/seq2seq_po.py).

One .po per package is written from the held-out entries (msgid, msgctxt,
the entry's flags, the catalog's X-Accelerator-Marker, msgstr empty) and
translated through the daemon with the format of each entry. Then:

 (a) parser: each entry's output is checked with seq2seq_po.check_translation
     (every placeholder, balanced tag, entity and the accelerator of the
     source exactly as often in the output; non-positional printf in order):
     entries preserved, and elements preserved (per element of the source,
     min(source count, output count));
 (b) msgfmt --check-format -c --use-fuzzy on the .po of the RAW outputs
     (every output written, also those that fail (a)) and on the .po that
     `seq2seq po` writes (outputs failing (a) left untranslated);
 (c) pofilter -t printf -t variables -t xmltags -t accelerators on the raw
     .po (--kde for catalogs whose marker is &, --gnome for _), and on a .po
     of the human translations, as the tests' own baseline;
 (d) chrF (s2s_train.metrics, beta 2) of the raw outputs against the human
     translations, both sides normalised as the corpus is (whitespace runs,
     NBSP and U+202F to a space, U+2019 to ').

  /usr/bin/python3 scripts/l10n/eval_heldout.py --builddir build \\
      [--model models/en-fr.safetensors] [--beam 5] [--heldout FILE] [--out DIR]

Prints a summary and writes OUT/eval.json and OUT/outputs.tsv (package,
msgid, output, human, problems); nothing of it is committed.
"""

import argparse
import collections
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "clients", "python"))
import polib  # noqa: E402
import seq2seq_po as sp  # noqa: E402
from s2s_train import metrics  # noqa: E402
from seq2seqd_client import Client  # noqa: E402

TESTS = ("printf", "variables", "xmltags", "accelerators")


def norm(s):
	s = s.replace("\u202f", " ").replace("\u00a0", " ").replace("\u2019", "'")
	return re.sub(r"\s+", " ", s).strip()


def free_port():
	s = socket.socket()
	s.bind(("127.0.0.1", 0))
	p = s.getsockname()[1]
	s.close()
	return p


def start_daemon(builddir, model, log):
	"""seq2seqd serving ``model`` (a .safetensors file) as en-fr, on a
	free loopback port, from a temporary data_dir."""
	data = tempfile.mkdtemp(prefix="s2s-l10n-")
	os.makedirs(os.path.join(data, "models"))
	os.symlink(os.path.abspath(model), os.path.join(data, "models", "en-fr.safetensors"))
	port = free_port()
	proc = subprocess.Popen([os.path.join(builddir, "seq2seqd"), "--data_dir=" + data,
				 "--port=%d" % port, "--bind=127.0.0.1", "--config=/dev/null",
				 "--access_log=false", "--drain_timeout_s=5"],
				stdout=log, stderr=subprocess.STDOUT)
	url = "http://127.0.0.1:%d" % port
	end = time.monotonic() + 30
	while time.monotonic() < end:
		if proc.poll() is not None:
			raise SystemExit("seq2seqd exited with %s" % proc.returncode)
		try:
			with urllib.request.urlopen(url + "/readyz", timeout=1) as r:
				if r.status == 200:
					return proc, url, data
		except OSError:
			time.sleep(0.1)
	proc.kill()
	raise SystemExit("seq2seqd not ready after 30 s")


def write_po(path, rows, marker, msgstrs=None):
	"""A .po of the rows (msgstr from msgstrs, else empty)."""
	po = polib.POFile(wrapwidth=79)
	po.metadata = {"Project-Id-Version": "heldout", "Language": "fr",
		       "MIME-Version": "1.0", "Content-Type": "text/plain; charset=UTF-8",
		       "Content-Transfer-Encoding": "8bit",
		       "Plural-Forms": sp.PLURAL_FORMS["fr"]}
	if marker:
		po.metadata["X-Accelerator-Marker"] = marker
	for i, r in enumerate(rows):
		po.append(polib.POEntry(msgctxt=r["msgctxt"], msgid=r["msgid"],
					msgstr=msgstrs[i] if msgstrs else "", flags=list(r["flags"]),
					occurrences=[(r["catalog"], "")]))
	po.save(path)


def msgfmt_errors(path):
	r = subprocess.run(["msgfmt", "--check-format", "-c", "--use-fuzzy", "-o", "/dev/null", path],
			   stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
	if r.returncode == 0:
		return 0, ""
	m = re.search(r"found ([0-9]+) fatal error", r.stderr)
	errs = [ln for ln in r.stderr.splitlines() if "warning" not in ln]
	return (int(m.group(1)) if m else 1), "\n".join(errs[:5])


def pofilter(path, marker, out):
	cmd = ["pofilter", "--progress=none", "--language=fr"]
	if marker == "&":
		cmd.append("--kde")
	elif marker == "_":
		cmd.append("--gnome")
	for t in TESTS:
		cmd += ["-t", t]
	if os.path.exists(out):
		os.unlink(out)
	subprocess.run(cmd + ["-i", path, "-o", out], stdout=subprocess.DEVNULL,
		       stderr=subprocess.PIPE, check=True)
	fails = collections.Counter()
	if not os.path.exists(out):
		return fails  # pofilter writes nothing when no unit fails
	with open(out, encoding="utf-8") as f:
		for m in re.finditer(r"^# \(pofilter\) ([a-z]+):", f.read(), re.M):
			fails[m.group(1)] += 1
	return fails


def element_counts(src, out, flags, marker):
	a = sp.protected_items(src, flags, marker)
	b = sp.protected_items(out, flags, marker)
	want = sum(v for k, v in a["items"].items() if k != "stray %")
	got = sum(min(v, b["items"][k]) for k, v in a["items"].items() if k != "stray %")
	if a["accel"]:
		want += 1
		got += 1 if len(sp.accel_candidates(out, a["accel"])) == 1 else 0
	return want, got


def ref_agreement(model_path, records, beam, out, log):
	"""Replays every sentence the daemon translated through the PyTorch
	reference pipeline (s2s_ref.spans.translate, same format and glossary)
	and counts the identical output texts. None when torch or s2s_ref.spans
	is missing."""
	try:
		import torch
		from s2s_ref import spans as S
		from s2s_train.evaluate import load_pt
	except ImportError as e:
		print("reference: skipped (%s)" % e, file=log)
		return None
	torch.set_num_threads(1)
	model, stok, ttok, svoc, tvoc = load_pt(model_path)
	sidx = {t: i for i, t in enumerate(svoc)}
	sent = S.Sentinels(svoc, tvoc)
	same, diffs = 0, []
	with torch.no_grad():
		for s, fmt, gl, text in records:
			try:
				r = S.translate(model, stok, ttok, sidx, tvoc, s, fmt, S.make_glossary(gl or None),
						beam=beam, sentinels=sent).text
			except S.SpanError as e:
				r = "<refused: %s>" % e
			if r == text:
				same += 1
			else:
				diffs.append((s, ",".join(fmt), text or "", r))
	with open(os.path.join(out, "ref_diffs.tsv"), "w", encoding="utf-8") as f:
		for row in diffs:
			f.write("\t".join(c.replace("\t", " ") for c in row) + "\n")
	return same, len(records)


def main(argv=None):
	ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
	ap.add_argument("--heldout", default="/var/tmp/s2s-l10n/heldout/heldout.jsonl")
	ap.add_argument("--model", default=os.path.join(TOP, "models", "en-fr.safetensors"))
	ap.add_argument("--builddir", default=os.path.join(TOP, "build"))
	ap.add_argument("--url", help="use this running daemon (its en-fr) instead of starting one")
	ap.add_argument("--beam", type=int, default=5)
	ap.add_argument("--out", default=None, help="default /var/tmp/s2s-l10n/eval-SHA8")
	ap.add_argument("--ref", choices=("auto", "no"), default="auto",
			help="also replay through the PyTorch reference and report the "
			"agreement (auto: when torch and s2s_ref.spans are importable)")
	a = ap.parse_args(argv)
	with open(a.heldout, encoding="utf-8") as f:
		rows = [json.loads(ln) for ln in f]
	log = open(os.devnull, "w")
	proc = data = None
	if a.url:
		url = a.url
	else:
		proc, url, data = start_daemon(a.builddir, a.model, log)
	try:
		client = Client(url, timeout=300)
		model = sp.model_info(client, "en-fr")
		out = a.out or "/var/tmp/s2s-l10n/eval-%s" % model["sha256"][:8]
		os.makedirs(out, exist_ok=True)
		by_pkg = collections.OrderedDict()
		for r in rows:
			by_pkg.setdefault(r["package"], []).append(r)
		tr = sp.Translator(client, "en-fr", {"beam_size": a.beam}, {}, 64, sys.stderr)
		tr.record = []
		t0 = time.monotonic()
		res = {"model": model["name"], "sha256": model["sha256"], "beam": a.beam,
		       "entries": len(rows), "packages": {}}
		hyps, refs, table = [], [], []
		tot = collections.Counter()
		pf_raw, pf_ref = collections.Counter(), collections.Counter()
		kinds_ok = collections.Counter()
		kinds_n = collections.Counter()
		for pkg, prs in by_pkg.items():
			marker = prs[0]["marker"]
			src = os.path.join(out, pkg + ".in.po")
			write_po(src, prs, marker)
			cat = sp.Catalog(src)
			text, stats, jobs = sp.translate_catalog(cat, tr, model, "fr", check=False)
			raw = os.path.join(out, pkg + ".raw.po")
			with open(raw, "w", encoding="utf-8") as f:
				f.write(text)
			safe_text = sp.render(cat, sp.collect(cat, jobs, 2, marker, True)[0], {},
					      sp.model_comment(model))
			safe = os.path.join(out, pkg + ".po")
			with open(safe, "w", encoding="utf-8") as f:
				f.write(safe_text)
			ref = os.path.join(out, pkg + ".human.po")
			write_po(ref, prs, marker, [r["msgstr"] for r in prs])
			n_raw, e_raw = msgfmt_errors(raw)
			n_safe, e_safe = msgfmt_errors(safe)
			am = marker or collections.Counter(
				sp.entry_accelerator(r["msgid"]) for r in prs
				if sp.entry_accelerator(r["msgid"])).most_common(1)[0][0] \
				if any(sp.entry_accelerator(r["msgid"]) for r in prs) else None
			f_raw = pofilter(raw, am, os.path.join(out, pkg + ".raw.pofilter.po"))
			f_ref = pofilter(ref, am, os.path.join(out, pkg + ".human.pofilter.po"))
			pf_raw.update(f_raw)
			pf_ref.update(f_ref)
			byid = {j.entry.msgid: j for j in jobs}
			ok = 0
			for r in prs:
				j = byid[r["msgid"]]
				o = j.texts()[0] if not (j.failed and not j.failed.startswith("check")) else ""
				probs = sp.check_translation(r["msgid"], o, r["flags"], marker)
				w, g = element_counts(r["msgid"], o, r["flags"], marker)
				tot["elements"] += w
				tot["elements_kept"] += g
				ok += not probs
				for k in r["kinds"]:
					kinds_n[k] += 1
					kinds_ok[k] += not probs
				hyps.append(norm(o))
				refs.append(norm(r["msgstr"]))
				table.append((pkg, r["msgid"], o, r["msgstr"], "; ".join(probs)))
			tot["entries_ok"] += ok
			tot["msgfmt_raw"] += n_raw
			tot["msgfmt_safe"] += n_safe
			tot["failed_daemon"] += stats["failed_daemon"]
			res["packages"][pkg] = {"entries": len(prs), "preserved": ok,
						"msgfmt_raw_errors": n_raw, "msgfmt_written_errors": n_safe,
						"pofilter_raw": dict(f_raw), "pofilter_human": dict(f_ref),
						"msgfmt_raw_first": e_raw}
		secs = time.monotonic() - t0
		res.update({
			"entries_preserved": tot["entries_ok"],
			"entries_preserved_pct": round(100.0 * tot["entries_ok"] / len(rows), 2),
			"elements": tot["elements"], "elements_preserved": tot["elements_kept"],
			"elements_preserved_pct": round(100.0 * tot["elements_kept"] / max(1, tot["elements"]), 2),
			"by_kind": {k: {"entries": kinds_n[k], "preserved": kinds_ok[k]} for k in sorted(kinds_n)},
			"msgfmt_errors_raw": tot["msgfmt_raw"], "msgfmt_errors_written": tot["msgfmt_safe"],
			"pofilter_failures_raw": dict(pf_raw), "pofilter_failures_human": dict(pf_ref),
			"chrf": round(metrics.corpus_chrf(hyps, refs), 2),
			"refused_by_daemon": tot["failed_daemon"],
			"protection": dict(tr.protection), "seconds": round(secs, 1)})
		ref = None
		if a.ref == "auto":
			t1 = time.monotonic()
			ref = ref_agreement(a.model, tr.record, a.beam, out, sys.stderr)
			if ref:
				res["reference_agreement"] = {"same": ref[0], "sentences": ref[1],
							      "seconds": round(time.monotonic() - t1, 1)}
		with open(os.path.join(out, "eval.json"), "w", encoding="utf-8") as f:
			json.dump(res, f, indent=1, ensure_ascii=False)
		with open(os.path.join(out, "outputs.tsv"), "w", encoding="utf-8") as f:
			for row in table:
				f.write("\t".join(c.replace("\t", " ").replace("\n", "\\n") for c in row) + "\n")
	finally:
		if proc is not None:
			proc.send_signal(signal.SIGTERM)
			try:
				proc.wait(timeout=15)
			except subprocess.TimeoutExpired:
				proc.kill()
			shutil.rmtree(data, ignore_errors=True)
	print("model %s (sha256 %s), beam %d, %d held-out entries, %.1f s" % (
		res["model"], res["sha256"][:12], a.beam, len(rows), secs))
	print("(a) parser: %d/%d entries keep every element (%.2f %%); elements %d/%d (%.2f %%)" % (
		res["entries_preserved"], len(rows), res["entries_preserved_pct"],
		res["elements_preserved"], res["elements"], res["elements_preserved_pct"]))
	for k, v in res["by_kind"].items():
		print("    %-12s %4d/%4d entries" % (k, v["preserved"], v["entries"]))
	print("(b) msgfmt -c --use-fuzzy fatal errors: raw outputs %d, as written by seq2seq po %d" % (
		res["msgfmt_errors_raw"], res["msgfmt_errors_written"]))
	print("(c) pofilter failures, raw outputs: %s; human translations: %s" % (
		", ".join("%s %d" % (t, pf_raw[t]) for t in TESTS),
		", ".join("%s %d" % (t, pf_ref[t]) for t in TESTS)))
	print("(d) chrF vs the human translations: %.2f" % res["chrf"])
	if ref:
		print("(e) C (seq2seqd) vs the PyTorch reference: %d/%d sentences identical "
		      "(%.2f %%); differences in ref_diffs.tsv" % (ref[0], ref[1], 100.0 * ref[0] / max(1, ref[1])))
	print("protection: %s; refused by the daemon: %d; details in %s" % (
		dict(tr.protection), res["refused_by_daemon"], out))
	return 0


if __name__ == "__main__":
	sys.exit(main())
