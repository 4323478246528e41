"""Score a model on a test TSV: exact match, BLEU and chrF (our metrics.py).

Backends (--backend):
  cli    the C core: runs `seq2seq-translate` (path via --cli) on the
         exported .safetensors, one source per line on stdin, one
         translation per line on stdout; this is the figure model cards quote.
  ref    the PyTorch reference (s2s_ref.model greedy/beam_search) on a
         training checkpoint (.pt from s2s_train.train).
  batch  fast batched greedy on a .pt (training-time monitor; greedy only).

  /usr/bin/python3 -m s2s_train.evaluate --backend batch --model runs/dates/best.pt \
      --test data/dates/test.tsv

Prints one summary line and, with --out, writes the hypotheses (one per line).

Protected spans (issue 12): --format LIST and --glossary FILE (JSON object
{"source": "target" or null}) translate every source through the whole
pipeline (parse, mask, constrained search, render): the ref backend with
s2s_ref.spans.translate, the cli backend by passing both options on to
seq2seq-translate. The summary then adds how many of the sources' spans the
outputs hold unchanged. The ref backend decodes a model with sentinels under
the §6 constraint also with the default format text, as the C core does.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from s2s_train import data as D  # noqa: E402
from s2s_train import metrics  # noqa: E402


def load_pt(path):
	"""(model, src_tok, tgt_tok, src_vocab, tgt_vocab) from a training .pt or,
	for .safetensors, from the exported file itself (F16/BF16 widened to F32,
	as the C core does), so the shipped weights are what gets scored."""
	import json

	import torch
	from s2s_ref.model import Seq2Seq, Seq2SeqConfig
	from s2s_ref.tokenizer import Tokenizer

	if path.endswith(".safetensors"):
		from s2s_ref.export import load_model

		model, meta = load_model(path)
		return (model, Tokenizer.from_json(json.loads(meta["seq2seqd.src_tokenizer"])),
			Tokenizer.from_json(json.loads(meta["seq2seqd.tgt_tokenizer"])),
			json.loads(meta["seq2seqd.src_vocab"]), json.loads(meta["seq2seqd.tgt_vocab"]))

	from s2s_train.train import compat

	blob = compat(torch.load(path, map_location="cpu"))
	model = Seq2Seq(Seq2SeqConfig.from_json(blob["config"]))
	model.load_state_dict(blob["state_dict"])
	model.eval()
	return (model, Tokenizer.from_json(blob["src_tokenizer"]), Tokenizer.from_json(blob["tgt_tokenizer"]),
		blob["src_vocab"], blob["tgt_vocab"])


def translate_batch(path, srcs, a):
	"""Batched greedy with the training-time decoder (see train.batch_greedy)."""
	import torch
	from s2s_train.train import batch_greedy

	model, stok, ttok, svoc, tvoc = load_pt(path)
	sidx = {t: i for i, t in enumerate(svoc)}
	ex = [(D.to_ids(stok, sidx, s) or [D.UNK], []) for s in srcs]
	out = []
	for c in range(0, len(ex), 128):
		chunk = ex[c:c + 128]
		src, lens, _, _ = D.collate(chunk, list(range(len(chunk))), torch, torch.device("cpu"))
		steps = min(a.max_len, int(a.max_len_a * int(lens.max())) + a.max_len_b)
		for ids in batch_greedy(model, src, lens, steps):
			out.append(ttok.detokenize([tvoc[i] for i in ids]))
	return out


def translate_ref(path, srcs, a):
	"""One sentence at a time through the reference greedy / beam search;
	through the protected-spans pipeline when --format/--glossary is given
	or the model has sentinels."""
	import torch
	from s2s_ref import spans as S

	model, stok, ttok, svoc, tvoc = load_pt(path)
	sidx = {t: i for i, t in enumerate(svoc)}
	sent = S.Sentinels(svoc, tvoc)
	if a.format or a.glossary or sent.n_ph or sent.n_pairs:
		out = []
		with torch.no_grad():
			for s in srcs:
				try:
					r = S.translate(model, stok, ttok, sidx, tvoc, s, a.format or "text",
							a.glossary_terms, beam=a.beam, length_penalty=a.length_penalty,
							max_len_a=a.max_len_a, max_len_b=a.max_len_b, max_len=a.max_len,
							sentinels=sent)
					out.append(r.text)
				except S.SpanError as e:
					print("refused: %s: %s" % (s, e), file=sys.stderr)
					out.append("")
		return out
	out = []
	with torch.no_grad():
		for s in srcs:
			ids = D.to_ids(stok, sidx, s) or [D.UNK]
			kw = dict(max_len_a=a.max_len_a, max_len_b=a.max_len_b, max_len=a.max_len)
			if a.beam > 1:
				hyp = model.beam_search(ids, beam_size=a.beam, n_best=1,
							length_penalty=a.length_penalty, **kw)[0]
			else:
				hyp = model.greedy([ids], **kw)[0]
			toks = hyp["ids"]
			out.append(ttok.detokenize([tvoc[i] for i in toks if i > D.EOS]))
	return out


def translate_cli(path, srcs, a):
	cmd = [a.cli, "-m", path, "--beam", str(a.beam), "--max-len-a", str(a.max_len_a),
	       "--max-len-b", str(a.max_len_b)]
	if a.length_penalty:
		cmd += ["--alpha", str(a.length_penalty)]
	if a.quantize != "none":
		cmd += ["--quantize", a.quantize]
	if a.format:
		cmd += ["--format", a.format]
	if a.glossary:
		cmd += ["--glossary", a.glossary]
	r = subprocess.run(cmd, input="".join(s + "\n" for s in srcs), capture_output=True,
			   text=True, check=False)
	if r.returncode != 0:
		sys.exit("%s failed (%d): %s" % (" ".join(cmd), r.returncode, r.stderr.strip()[:500]))
	lines = r.stdout.split("\n")[:len(srcs)]
	if len(lines) != len(srcs):
		sys.exit("%s printed %d lines for %d sources" % (a.cli, len(lines), len(srcs)))
	return lines


def main(argv=None):
	ap = argparse.ArgumentParser(description="Score a model on a test TSV.")
	ap.add_argument("--backend", choices=["cli", "ref", "batch"], default="cli")
	ap.add_argument("--model", required=True,
			help=".safetensors (any backend) or a training .pt (ref, batch)")
	ap.add_argument("--test", required=True)
	ap.add_argument("--cli", default="seq2seq-translate")
	ap.add_argument("--beam", type=int, default=1)
	ap.add_argument("--length-penalty", type=float, default=0.0)
	ap.add_argument("--max-len-a", type=float, default=2.0)
	ap.add_argument("--max-len-b", type=int, default=10)
	ap.add_argument("--max-len", type=int, default=256)
	ap.add_argument("--limit", type=int, default=0)
	ap.add_argument("--threads", type=int, default=2)
	ap.add_argument("--quantize", choices=["none", "int8"], default="none",
			help="weights as loaded by the C core (cli backend only)")
	ap.add_argument("--out", help="write hypotheses here")
	ap.add_argument("--format", help="protect spans: comma list of text, printf, brace, xml, html, "
			"accelerator, auto (backends ref and cli)")
	ap.add_argument("--glossary", help="glossary JSON file: {\"source term\": \"target\" or null}")
	a = ap.parse_args(argv)
	a.glossary_terms = []
	if a.glossary:
		import json
		from s2s_ref import spans as S
		with open(a.glossary, encoding="utf-8") as f:
			a.glossary_terms = S.make_glossary(json.load(f))
	if (a.format or a.glossary) and a.backend == "batch":
		ap.error("--format/--glossary need the ref or cli backend")
	if a.quantize != "none" and a.backend != "cli":
		ap.error("--quantize applies to the cli backend only")
	if a.backend != "cli":
		import torch
		torch.set_num_threads(a.threads)
	pairs = D.read_tsv(a.test, a.limit or None)
	srcs = [s for s, _ in pairs]
	refs = [t for _, t in pairs]
	t0 = time.time()
	fn = {"cli": translate_cli, "ref": translate_ref, "batch": translate_batch}[a.backend]
	hyps = fn(a.model, srcs, a)
	secs = time.time() - t0
	if a.out:
		with open(a.out, "w", encoding="utf-8") as f:
			f.write("".join(h + "\n" for h in hyps))
	print("%s: %d sentences, backend %s%s, beam %d: exact %.2f%%  BLEU %.2f  chrF %.2f  (%.1f s)" % (
		a.test, len(hyps), a.backend, "" if a.quantize == "none" else " " + a.quantize, a.beam, metrics.exact_match(hyps, refs),
		metrics.corpus_bleu(hyps, refs), metrics.corpus_chrf(hyps, refs), secs))
	if a.format or a.glossary:
		print(spans_summary(srcs, hyps, a))
	return 0


def spans_summary(srcs, hyps, a):
	"""How many source spans the outputs hold unchanged (s2s_ref.spans.spans_kept)."""
	from s2s_ref import spans as S

	kept = total = whole = with_spans = refused = 0
	for s, h in zip(srcs, hyps):
		try:
			k, n = S.spans_kept(s, h, a.format or "text", a.glossary_terms)
		except S.SpanError:
			refused += 1
			continue
		kept += k
		total += n
		if n:
			with_spans += 1
			whole += k == n
	return "spans kept %d of %d (%.2f%%); sentences with every span kept %d of %d (%.2f%%)%s" % (
		kept, total, 100.0 * kept / max(total, 1), whole, with_spans, 100.0 * whole / max(with_spans, 1),
		"; %d sources refused" % refused if refused else "")


if __name__ == "__main__":
	sys.exit(main())
