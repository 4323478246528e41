"""Train a seq2seqd model from TSV pairs, keep the best checkpoint, export it.

  /usr/bin/python3 -m s2s_train.train --train data/dates/train.tsv \
      --dev data/dates/dev.tsv --work runs/dates --src-tok char --tgt-tok char \
      --lowercase-src --cell gru --emb 64 --hidden 128 --attention additive \
      --metric exact --export models/dates.safetensors --dtype F16

Work directory (--work) contents, all written by this tool:
  last.pt   the latest state (model, optimizer, step, epoch, batch position,
            best score, tokenizers, vocabularies, config): rerunning the same
            command resumes from it after an interruption;
  best.pt   the state with the best dev score so far (what gets exported);
  train.log one line per evaluation.
Both .pt files hold the keys config (dict), src_vocab, tgt_vocab (lists),
src_tokenizer, tgt_tokenizer (tokenizer dicts) and state_dict: the layout
`python3 -m s2s_ref.export` reads, so either file can be exported by hand.

Threads: on a small CPU, PyTorch's defaults oversubscribe the cores
(intra-op threads plus OpenMP/OpenBLAS spinning). We set torch threads to
--threads (default: all cores, at most 4) and, unless already set,
OMP_WAIT_POLICY=PASSIVE and OPENBLAS_NUM_THREADS to the same core count
before torch is imported. With passive OpenMP waits the BLAS threads no longer
fight torch's, and on 2 cores 2 BLAS threads train 1.3x faster than 1
(7,257 vs 5,582 target tokens/s for a 192-wide GRU, measured 2026-11-24).
Debian's torch calls whatever libblas.so.3 the alternatives system selects:
without libopenblas0 that is the reference BLAS, about 20x slower.
Uses CUDA when available (--device cpu forces the CPU).
"""

import os

# Must happen before torch (and its OpenMP runtime) is loaded.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_NUM_THREADS", str(min(4, os.cpu_count() or 1)))

import argparse  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from s2s_ref.model import Seq2Seq, Seq2SeqConfig  # noqa: E402
from s2s_ref.tokenizer import Tokenizer, build_vocab, learn_bpe  # noqa: E402

from s2s_train import data as D  # noqa: E402
from s2s_train import metrics  # noqa: E402


def parse_args(argv):
	ap = argparse.ArgumentParser(description="Train a seq2seqd model from TSV pairs.")
	g = ap.add_argument_group("data")
	g.add_argument("--train", required=True, help="TSV: source TAB target")
	g.add_argument("--dev", required=True)
	g.add_argument("--work", required=True, help="work directory (checkpoints, log)")
	g.add_argument("--max-len", type=int, default=100, help="drop training pairs longer (tokens)")
	g.add_argument("--dev-limit", type=int, default=1000, help="dev sentences decoded per evaluation")
	g.add_argument("--train-spans", help="TSV of span-bearing pairs, trained sentinel-masked (needs --sentinels)")
	g.add_argument("--dev-spans", help="TSV of span-bearing dev pairs (their first --dev-limit are decoded too)")
	g.add_argument("--spans-repeat", type=int, default=1, help="times each span pair is seen per epoch")
	g = ap.add_argument_group("fine-tuning")
	g.add_argument("--init", help="start from this exported .safetensors: its tokenizers, "
		       "vocabularies, config and weights (the model options are ignored)")
	g.add_argument("--sentinels", help="P,T: add <ph0>..<ph{P-1}> and <t0>,</t0>..<t{T-1}>,</t{T-1}> "
		       "to both vocabularies (new rows small random)")
	g.add_argument("--new-row-std", type=float, default=0.01, help="std of the new embedding rows")
	g = ap.add_argument_group("tokenizers and vocabularies")
	g.add_argument("--src-tok", choices=["char", "bpe"], default="bpe")
	g.add_argument("--tgt-tok", choices=["char", "bpe"], default="bpe")
	g.add_argument("--merges", type=int, default=8000, help="BPE merges per side")
	g.add_argument("--lowercase-src", action="store_true")
	g.add_argument("--lowercase-tgt", action="store_true")
	g.add_argument("--no-split-punct", action="store_true")
	g.add_argument("--vocab-size", type=int, default=16000)
	g.add_argument("--min-freq", type=int, default=1)
	g = ap.add_argument_group("model (docs/checkpoint-format.md §3)")
	g.add_argument("--cell", default="gru", choices=["rnn_tanh", "rnn_relu", "gru", "lstm"])
	g.add_argument("--emb", type=int, default=256)
	g.add_argument("--hidden", type=int, default=256, help="encoder hidden per direction")
	g.add_argument("--dec-hidden", type=int, default=0, help="default: encoder output size")
	g.add_argument("--enc-layers", type=int, default=1)
	g.add_argument("--dec-layers", type=int, default=1)
	g.add_argument("--bidirectional", action="store_true")
	g.add_argument("--reverse-source", action="store_true")
	g.add_argument("--bridge", default="linear", choices=["zeros", "last", "linear"])
	g.add_argument("--attention", default="additive", choices=["none", "dot", "general", "additive"])
	g.add_argument("--placement", default="bahdanau", choices=["bahdanau", "luong"])
	g.add_argument("--attn-dim", type=int, default=0, help="default: decoder hidden")
	g.add_argument("--input-feed", action="store_true")
	g.add_argument("--tie", action="store_true", help="tie output projection to target embedding")
	g = ap.add_argument_group("training")
	g.add_argument("--epochs", type=int, default=20)
	g.add_argument("--max-steps", type=int, default=0)
	g.add_argument("--max-time", type=float, default=0, help="stop after this many minutes")
	g.add_argument("--batch-tokens", type=int, default=4000)
	g.add_argument("--batch-size", type=int, default=128)
	g.add_argument("--lr", type=float, default=2e-3)
	g.add_argument("--min-lr", type=float, default=5e-5)
	g.add_argument("--dropout", type=float, default=0.1)
	g.add_argument("--label-smoothing", type=float, default=0.0)
	g.add_argument("--clip", type=float, default=1.0)
	g.add_argument("--param-init", type=float, default=0.1,
		       help="fresh weights ~ U(-x, x); PyTorch's N(0,1) embeddings make tied logits explode")
	g.add_argument("--eval-every", type=int, default=1000, help="steps between dev evaluations")
	g.add_argument("--metric", default="bleu", choices=["bleu", "chrf", "exact", "loss"])
	g.add_argument("--patience", type=int, default=2, help="evaluations without gain before halving lr")
	g.add_argument("--seed", type=int, default=1)
	g.add_argument("--threads", type=int, default=min(os.cpu_count() or 1, 4))
	g.add_argument("--device", default="auto", help="auto, cpu or cuda")
	g = ap.add_argument_group("export")
	g.add_argument("--export", help="safetensors path to write from best.pt at the end")
	g.add_argument("--dtype", default="F16", choices=["F32", "F16", "BF16"])
	g.add_argument("--name")
	g.add_argument("--description")
	g.add_argument("--examples", help="file with one example source per line")
	return ap.parse_args(argv)


def model_config(a, src_v, tgt_v):
	k = a.hidden * (2 if a.bidirectional else 1)
	d = a.dec_hidden or k
	return Seq2SeqConfig(
		cell=a.cell, emb_dim=a.emb, enc_hidden=a.hidden, enc_layers=a.enc_layers,
		bidirectional=a.bidirectional, reverse_source=a.reverse_source,
		dec_hidden=d, dec_layers=a.dec_layers, bridge=a.bridge, attention=a.attention,
		attn_placement=a.placement, attn_dim=a.attn_dim or d, input_feed=a.input_feed,
		tie_embeddings=a.tie, src_vocab_size=src_v, tgt_vocab_size=tgt_v)


def make_tokenizer(kind, texts, a, lowercase):
	split_punct = not a.no_split_punct
	if kind == "char":
		return Tokenizer.from_json({"type": "char", "lowercase": lowercase,
					    "split_punct": split_punct, "merges": []})
	return learn_bpe(texts, a.merges, lowercase, split_punct)


def prepare_vocab(a, pairs, log):
	"""Learn tokenizers and vocabularies from the training pairs."""
	t0 = time.time()
	src_tok = make_tokenizer(a.src_tok, [s for s, _ in pairs], a, a.lowercase_src)
	tgt_tok = make_tokenizer(a.tgt_tok, [t for _, t in pairs], a, a.lowercase_tgt)
	src_vocab = build_vocab(src_tok, [s for s, _ in pairs], a.vocab_size, a.min_freq)
	tgt_vocab = build_vocab(tgt_tok, [t for _, t in pairs], a.vocab_size, a.min_freq)
	log("tokenizers and vocabularies: src %d, tgt %d tokens (%.0f s)" % (
		len(src_vocab), len(tgt_vocab), time.time() - t0))
	return src_tok, tgt_tok, src_vocab, tgt_vocab


# ---------------------------------------------------------------------------
# Evaluation


@torch.no_grad()
def batch_greedy(model, src, lens, max_steps):
	"""Greedy decoding of a padded batch by re-running teacher-forced forward
	on the growing prefix. O(T^2) but uses only the stable forward() API and
	matches step-wise greedy exactly; fine for dev-set monitoring."""
	b = src.size(0)
	ys = torch.full((b, 1), D.BOS, dtype=torch.long, device=src.device)
	done = torch.zeros(b, dtype=torch.bool, device=src.device)
	for _ in range(max_steps):
		logits = model(src, lens, ys)
		nxt = logits[:, -1, :].argmax(-1)
		nxt = torch.where(done, torch.full_like(nxt, D.PAD), nxt)
		ys = torch.cat([ys, nxt[:, None]], 1)
		done |= nxt == D.EOS
		if bool(done.all()):
			break
	out = []
	for row in ys[:, 1:].tolist():
		ids = []
		for t in row:
			if t in (D.EOS, D.PAD):
				break
			ids.append(t)
		out.append(ids)
	return out


def evaluate(model, st, dev_pairs, dev_ex, device, a):
	"""Dev loss (teacher forced) and decoding scores on the first dev_limit pairs."""
	model.eval()
	loss_sum, tok_sum = 0.0, 0
	crit = torch.nn.CrossEntropyLoss(ignore_index=D.PAD, reduction="sum")
	for idx in D.make_batches(dev_ex, a.batch_tokens, a.batch_size, 0):
		src, lens, tin, tout = D.collate(dev_ex, idx, torch, device)
		with torch.no_grad():
			logits = model(src, lens, tin)
		loss_sum += float(crit(logits.reshape(-1, logits.size(-1)), tout.reshape(-1)))
		tok_sum += int((tout != D.PAD).sum())
	hyps, refs = [], []
	both = list(zip(dev_pairs, dev_ex))
	cut = st.get("dev_spans_from")
	if cut is None:
		sub = both[:a.dev_limit]
	else:  # the first dev_limit plain pairs, then the span pairs
		sub = both[:min(cut, a.dev_limit)] + both[cut:]
		cut = min(cut, a.dev_limit)
	for c in range(0, len(sub), 64):
		chunk = sub[c:c + 64]
		ex = [e for _, e in chunk]
		src, lens, _, _ = D.collate(ex, list(range(len(ex))), torch, device)
		steps = min(256, int(2.0 * int(lens.max())) + 10)
		for (p, _), ids in zip(chunk, batch_greedy(model, src, lens, steps)):
			hyps.append(st["tgt_tok_obj"].detokenize([st["tgt_vocab"][i] for i in ids]))
			refs.append(p[1])
	model.train()
	sc = {"loss": loss_sum / max(tok_sum, 1),
	      "bleu": metrics.corpus_bleu(hyps, refs),
	      "chrf": metrics.corpus_chrf(hyps, refs),
	      "exact": metrics.exact_match(hyps, refs)}
	if cut is not None and cut < len(hyps):
		sc["bleu_plain"] = metrics.corpus_bleu(hyps[:cut], refs[:cut])
		sc["bleu_spans"] = metrics.corpus_bleu(hyps[cut:], refs[cut:])
		sc["chrf_spans"] = metrics.corpus_chrf(hyps[cut:], refs[cut:])
		sc["sentinels_ok"] = 100.0 * sum(1 for h, r in zip(hyps[cut:], refs[cut:])
						 if sorted(sentinels_in(h)) == sorted(sentinels_in(r))) / (len(hyps) - cut)
	return sc, hyps[:3] + hyps[cut:cut + 3] if cut else hyps[:3], refs[:3] + refs[cut:cut + 3] if cut else refs[:3]


def sentinels_in(text):
	import re
	return re.findall(r"</?t[0-9]+>|<ph[0-9]+>", text)


def score_key(metric, sc):
	"""Larger is better. Ties on the metric (e.g. 100% exact match) are broken
	by the lower dev loss, so training past a saturated metric still helps."""
	if metric == "loss":
		return (-sc["loss"],)
	return (sc[metric], -sc["loss"])


def better(new, old):
	return old is None or tuple(new) > tuple(old)


# ---------------------------------------------------------------------------
# Checkpoints


def save(path, model, opt, st, cfg):
	blob = {
		"config": cfg.to_json(), "src_vocab": st["src_vocab"], "tgt_vocab": st["tgt_vocab"],
		"src_tokenizer": st["src_tok"], "tgt_tokenizer": st["tgt_tok"],
		"state_dict": model.state_dict(), "optimizer": opt.state_dict(),
		"progress": {k: st[k] for k in ("step", "epoch", "batch", "best", "bad_evals",
						 "lr", "train_seconds")},
		"rng": {"torch": torch.get_rng_state(), "python": random.getstate()},
	}
	tmp = path + ".tmp"
	torch.save(blob, tmp)
	os.replace(tmp, path)  # atomic: an interrupted save never corrupts last.pt


def compat(blob):
	"""Accept checkpoints written before the keys matched s2s_ref.export."""
	for old, new in (("cfg", "config"), ("src_tok", "src_tokenizer"), ("tgt_tok", "tgt_tokenizer")):
		if old in blob and new not in blob:
			blob[new] = blob.pop(old)
	return blob


def export_best(a, log):
	from s2s_ref.export import export

	blob = compat(torch.load(os.path.join(a.work, "best.pt"), map_location="cpu"))
	cfg = Seq2SeqConfig.from_json(blob["config"])
	model = Seq2Seq(cfg)
	model.load_state_dict(blob["state_dict"])
	model.eval()
	examples = None
	if a.examples:
		with open(a.examples, encoding="utf-8") as f:
			examples = [l.strip() for l in f if l.strip()]
	export(model, cfg, blob["src_vocab"], blob["tgt_vocab"],
	       Tokenizer.from_json(blob["src_tokenizer"]), Tokenizer.from_json(blob["tgt_tokenizer"]),
	       a.export, dtype=a.dtype, name=a.name, description=a.description, examples=examples)
	log("exported %s (%s, %.1f MB)" % (a.export, a.dtype, os.path.getsize(a.export) / 1e6))


# ---------------------------------------------------------------------------


class Progress:
	"""One-line progress bar on a terminal; a line every `every` steps otherwise."""

	def __init__(self, every=100):
		self.tty = sys.stderr.isatty()
		self.every = every

	def show(self, step, epoch, frac, loss, tps, lr):
		bar = "#" * int(20 * frac) + "." * (20 - int(20 * frac))
		line = "epoch %d [%s] step %d loss %.3f %6.0f tok/s lr %.2g" % (epoch, bar, step, loss, tps, lr)
		if self.tty:
			sys.stderr.write("\r" + line)
			sys.stderr.flush()
		elif step % self.every == 0:
			print(line, file=sys.stderr, flush=True)

	def newline(self):
		if self.tty:
			sys.stderr.write("\n")


def setup(a, log):
	"""Tokenizers, vocabularies, model and optimizer: fresh or from last.pt."""
	os.makedirs(a.work, exist_ok=True)
	last = os.path.join(a.work, "last.pt")
	pairs = D.read_tsv(a.train)
	dev_pairs = D.read_tsv(a.dev)
	log("train %d pairs, dev %d pairs" % (len(pairs), len(dev_pairs)))
	if os.path.exists(last):
		blob = compat(torch.load(last, map_location="cpu"))
		st = {"src_tok": blob["src_tokenizer"], "tgt_tok": blob["tgt_tokenizer"],
		      "src_vocab": blob["src_vocab"], "tgt_vocab": blob["tgt_vocab"]}
		st.update(blob["progress"])
		cfg = Seq2SeqConfig.from_json(blob["config"])
		log("resuming from %s at step %d (epoch %d, batch %d)" % (last, st["step"], st["epoch"], st["batch"]))
	elif a.init:
		blob = init_from(a, log)
		st = {"src_tok": blob["src_tokenizer"], "tgt_tok": blob["tgt_tokenizer"],
		      "src_vocab": blob["src_vocab"], "tgt_vocab": blob["tgt_vocab"], "step": 0, "epoch": 0,
		      "batch": 0, "best": None, "bad_evals": 0, "lr": a.lr, "train_seconds": 0.0}
		cfg = Seq2SeqConfig.from_json(blob["config"])
	else:
		blob = None
		s_tok, t_tok, s_voc, t_voc = prepare_vocab(a, pairs, log)
		st = {"src_tok": s_tok.to_json(), "tgt_tok": t_tok.to_json(), "src_vocab": s_voc,
		      "tgt_vocab": t_voc, "step": 0, "epoch": 0, "batch": 0, "best": None,
		      "bad_evals": 0, "lr": a.lr, "train_seconds": 0.0}
		cfg = model_config(a, len(s_voc), len(t_voc))
	st["src_tok_obj"] = Tokenizer.from_json(st["src_tok"])
	st["tgt_tok_obj"] = Tokenizer.from_json(st["tgt_tok"])
	return pairs, dev_pairs, st, cfg, blob


def sentinel_pieces(spec):
	"""The pieces --sentinels P,T adds, in vocabulary order."""
	p, t = (int(x) for x in spec.split(","))
	out = ["<ph%d>" % k for k in range(p)]
	for k in range(t):
		out += ["<t%d>" % k, "</t%d>" % k]
	return out


def init_from(a, log):
	"""A fine-tuning start (state_dict, vocabularies, tokenizers, config) from
	an exported model, its vocabularies extended with the --sentinels pieces.
	New embedding rows ~ N(0, new_row_std); with tied embeddings the output
	projection shares the target rows, and the new output biases start at the
	lowest existing bias so the sentinels are not emitted before they are
	learned."""
	from s2s_ref.export import load_model

	model, meta = load_model(a.init)
	cfg = json.loads(meta["seq2seqd.config"])
	sd = {k: v.detach().clone().float() for k, v in model.state_dict().items()}
	src_vocab = json.loads(meta["seq2seqd.src_vocab"])
	tgt_vocab = json.loads(meta["seq2seqd.tgt_vocab"])
	new = sentinel_pieces(a.sentinels) if a.sentinels else []
	add_s = [p for p in new if p not in src_vocab]
	add_t = [p for p in new if p not in tgt_vocab]
	gen = torch.Generator().manual_seed(a.seed)

	def grow(key, n):
		w = sd[key]
		rows = torch.randn((n,) + tuple(w.shape[1:]), generator=gen) * a.new_row_std
		sd[key] = torch.cat([w, rows], 0)

	grow("encoder.embedding.weight", len(add_s))
	grow("decoder.embedding.weight", len(add_t))
	if "decoder.out.weight" in sd:
		grow("decoder.out.weight", len(add_t))
	b = sd["decoder.out.bias"]
	sd["decoder.out.bias"] = torch.cat([b, torch.full((len(add_t),), float(b.min()))])
	cfg["src_vocab_size"] = len(src_vocab) + len(add_s)
	cfg["tgt_vocab_size"] = len(tgt_vocab) + len(add_t)
	log("init from %s: +%d source, +%d target sentinel tokens" % (a.init, len(add_s), len(add_t)))
	return {"config": cfg, "state_dict": sd, "src_vocab": src_vocab + add_s,
		"tgt_vocab": tgt_vocab + add_t,
		"src_tokenizer": json.loads(meta["seq2seqd.src_tokenizer"]),
		"tgt_tokenizer": json.loads(meta["seq2seqd.tgt_tokenizer"]), "fresh": True}


def encode_span_pairs(pairs, st, src_index, tgt_index, max_len, log, what):
	"""Sentinel-masked (src ids, tgt ids) of span-bearing pairs, with the
	reference text each masked target detokenizes to (sentinels shown)."""
	from s2s_ref import spans as S
	from s2s_train import spandata

	sent = S.Sentinels(st["src_vocab"], st["tgt_vocab"])
	out, refs, dropped = [], [], 0
	for en, fr in pairs:
		r = spandata.mask_pair(en, fr, st["src_tok_obj"], src_index, st["tgt_tok_obj"], tgt_index, sent)
		if r is None or not r[1] or (max_len and (len(r[0]) > max_len or len(r[1]) + 1 > max_len)):
			dropped += 1
			continue
		out.append(r)
		refs.append((en, st["tgt_tok_obj"].detokenize([st["tgt_vocab"][i] for i in r[1]])))
	log("%s: %d span pairs masked with P=%d T=%d, %d dropped (unmatched, too many spans or too long)" % (
		what, len(out), sent.n_ph, sent.n_pairs, dropped))
	return out, refs


def main(argv=None):
	a = parse_args(argv)
	torch.set_num_threads(a.threads)
	device = torch.device("cuda" if (a.device == "auto" and torch.cuda.is_available()) else
			      ("cpu" if a.device == "auto" else a.device))
	os.makedirs(a.work, exist_ok=True)
	logf = open(os.path.join(a.work, "train.log"), "a", encoding="utf-8")

	def log(msg):
		line = time.strftime("%H:%M:%S ") + msg
		print(line, file=sys.stderr, flush=True)
		logf.write(line + "\n")
		logf.flush()

	log("device %s, %d threads, OMP_WAIT_POLICY=%s" % (device, torch.get_num_threads(),
							    os.environ.get("OMP_WAIT_POLICY")))
	torch.manual_seed(a.seed)
	random.seed(a.seed)
	pairs, dev_pairs, st, cfg, blob = setup(a, log)
	src_index = {t: i for i, t in enumerate(st["src_vocab"])}
	tgt_index = {t: i for i, t in enumerate(st["tgt_vocab"])}
	t0 = time.time()
	train_ex = D.encode_pairs(pairs, st["src_tok_obj"], src_index, st["tgt_tok_obj"], tgt_index, a.max_len)
	dev_keep = [(p, e) for p in dev_pairs
		    for e in D.encode_pairs([p], st["src_tok_obj"], src_index, st["tgt_tok_obj"], tgt_index)]
	dev_pairs = [p for p, _ in dev_keep]
	dev_ex = [e for _, e in dev_keep]
	if a.train_spans:
		ex, _ = encode_span_pairs(D.read_tsv(a.train_spans), st, src_index, tgt_index, a.max_len, log, "train")
		train_ex += ex * a.spans_repeat
	if a.dev_spans:
		ex, refs = encode_span_pairs(D.read_tsv(a.dev_spans), st, src_index, tgt_index, 0, log, "dev")
		st["dev_spans_from"] = len(dev_ex)
		dev_ex += ex[:a.dev_limit]
		dev_pairs += refs[:a.dev_limit]
	log("encoded %d train / %d dev examples in %.0f s; config %s" % (
		len(train_ex), len(dev_ex), time.time() - t0, json.dumps(cfg.to_json())))

	model = Seq2Seq(cfg)
	if blob is None and a.param_init > 0:
		for p in model.parameters():
			torch.nn.init.uniform_(p, -a.param_init, a.param_init)
	if blob is not None and blob.get("fresh"):
		model.load_state_dict(blob["state_dict"])
		blob = None
	model.to(device)
	opt = torch.optim.Adam(model.parameters(), lr=st["lr"])
	if blob is not None:
		model.load_state_dict(blob["state_dict"])
		opt.load_state_dict(blob["optimizer"])
		torch.set_rng_state(blob["rng"]["torch"])
		random.setstate(blob["rng"]["python"])
	n_params = sum(p.numel() for p in model.parameters())
	log("model: %d parameters (%.1f MB as F16)" % (n_params, n_params * 2 / 1e6))
	crit = torch.nn.CrossEntropyLoss(ignore_index=D.PAD, label_smoothing=a.label_smoothing)
	train_loop(a, model, opt, crit, st, cfg, train_ex, dev_pairs, dev_ex, device, log)
	if a.export:
		export_best(a, log)
	return 0


def train_loop(a, model, opt, crit, st, cfg, train_ex, dev_pairs, dev_ex, device, log):
	prog = Progress()
	model.train()
	start = time.time() - st["train_seconds"]
	ema, toks, t_mark = None, 0, time.time()
	while st["epoch"] < a.epochs:
		batches = D.make_batches(train_ex, a.batch_tokens, a.batch_size, a.seed * 1000 + st["epoch"])
		while st["batch"] < len(batches):
			idx = batches[st["batch"]]
			src, lens, tin, tout = D.collate(train_ex, idx, torch, device)
			logits = model(src, lens, tin, dropout=a.dropout)
			loss = crit(logits.reshape(-1, logits.size(-1)), tout.reshape(-1))
			opt.zero_grad()
			loss.backward()
			if a.clip > 0:
				torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip)
			opt.step()
			st["batch"] += 1
			st["step"] += 1
			toks += int((tout != D.PAD).sum()) + int(lens.sum())
			ema = float(loss) if ema is None else 0.98 * ema + 0.02 * float(loss)
			now = time.time()
			prog.show(st["step"], st["epoch"] + 1, st["batch"] / len(batches), ema,
				  toks / max(now - t_mark, 1e-6), st["lr"])
			if now - t_mark > 30:
				toks, t_mark = 0, now
			st["train_seconds"] = now - start
			out_of_time = a.max_time and st["train_seconds"] > a.max_time * 60
			out_of_steps = a.max_steps and st["step"] >= a.max_steps
			if st["step"] % a.eval_every == 0 or out_of_time or out_of_steps:
				prog.newline()
				if eval_and_save(a, model, opt, st, cfg, dev_pairs, dev_ex, device, log):
					return
			if out_of_time or out_of_steps:
				log("stopping: %s" % ("time limit" if out_of_time else "step limit"))
				return
		st["epoch"] += 1
		st["batch"] = 0
	prog.newline()
	eval_and_save(a, model, opt, st, cfg, dev_pairs, dev_ex, device, log)


def eval_and_save(a, model, opt, st, cfg, dev_pairs, dev_ex, device, log):
	"""Evaluate, keep best.pt, adapt the learning rate, save last.pt.
	Returns True when training should stop (learning rate exhausted)."""
	t0 = time.time()
	sc, hyps, refs = evaluate(model, st, dev_pairs, dev_ex, device, a)
	val = list(score_key(a.metric, sc))
	log("step %d epoch %d: dev loss %.4f bleu %.2f chrf %.2f exact %.2f%% (%.0f s eval, %.1f min train)" % (
		st["step"], st["epoch"] + 1, sc["loss"], sc["bleu"], sc["chrf"], sc["exact"],
		time.time() - t0, st["train_seconds"] / 60))
	if "bleu_spans" in sc:
		log("   dev plain bleu %.2f; dev spans bleu %.2f chrf %.2f, sentinels exactly kept %.1f%% (unconstrained greedy)" % (
			sc["bleu_plain"], sc["bleu_spans"], sc["chrf_spans"], sc["sentinels_ok"]))
	for h, r in zip(hyps, refs):
		log("   hyp: %s | ref: %s" % (h, r))
	stop = False
	if better(val, st["best"]):
		st["best"] = val
		st["bad_evals"] = 0
		save(os.path.join(a.work, "best.pt"), model, opt, st, cfg)
		log("   new best %s %.4f -> best.pt" % (a.metric, sc[a.metric]))
	else:
		st["bad_evals"] += 1
		if st["bad_evals"] >= a.patience:
			st["lr"] /= 2
			st["bad_evals"] = 0
			for g in opt.param_groups:
				g["lr"] = st["lr"]
			log("   no gain for %d evaluations: lr -> %.2g" % (a.patience, st["lr"]))
			stop = st["lr"] < a.min_lr
	save(os.path.join(a.work, "last.pt"), model, opt, st, cfg)
	return stop


if __name__ == "__main__":
	sys.exit(main())
