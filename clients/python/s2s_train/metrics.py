"""Translation metrics written by us: corpus BLEU and chrF (no external packages).

BLEU (Papineni et al. 2002), corpus level, one reference per sentence:
  * tokenization `tokenize_13a` reproduces the rules of mteval-v13a.pl (the
    "13a" tokenizer of sacreBLEU): unescape a few XML entities, split off
    punctuation and symbols, split periods/commas unless between digits,
    split a dash after a digit;
  * clipped n-gram matches for n = 1..4 summed over the corpus, geometric mean
    of the four precisions with equal weights;
  * brevity penalty BP = 1 if c > r else exp(1 - r/c), with c and r the total
    hypothesis and reference lengths in tokens;
  * no smoothing by default: a zero precision gives BLEU 0 (smooth="exp" is
    sacreBLEU's default smoothing: the k-th zero count is replaced by 1/2^k).
  Reported on the 0-100 scale.

chrF (Popovic 2015) with beta = 2 and character n-grams n = 1..6, whitespace
removed: per order, matches are clipped counts summed over the corpus;
chrP and chrR are the arithmetic means of the per-order precisions and recalls
(orders for which hypothesis or reference has no n-gram at all are left out
of the means), chrF = (1 + b^2) chrP chrR / (b^2 chrP + chrR), scale 0-100.

CLI: /usr/bin/python3 -m s2s_train.metrics HYP_FILE REF_FILE
"""

import collections
import math
import re
import sys

_13A_RULES = [
	(re.compile(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])"), r" \1 "),
	(re.compile(r"([^0-9])([\.,])"), r"\1 \2 "),
	(re.compile(r"([\.,])([^0-9])"), r" \1 \2"),
	(re.compile(r"([0-9])(-)"), r"\1 \2 "),
]


def tokenize_13a(line):
	"""Tokenize one line the way mteval-v13a.pl does; returns a list of tokens."""
	line = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
	if "&" in line:
		line = (line.replace("&quot;", '"').replace("&amp;", "&")
			.replace("&lt;", "<").replace("&gt;", ">"))
	line = " " + line + " "
	for rx, repl in _13A_RULES:
		line = rx.sub(repl, line)
	return line.split()


def ngrams(seq, n):
	return collections.Counter(tuple(seq[i:i + n]) for i in range(len(seq) - n + 1))


def bleu_stats(hyps, refs, max_n=4, tokenize=tokenize_13a):
	"""Sufficient statistics: hyp length, ref length, matches[n], totals[n]."""
	if len(hyps) != len(refs):
		raise ValueError("%d hypotheses but %d references" % (len(hyps), len(refs)))
	c = r = 0
	match = [0] * max_n
	total = [0] * max_n
	for h, ref in zip(hyps, refs):
		ht, rt = tokenize(h), tokenize(ref)
		c += len(ht)
		r += len(rt)
		for n in range(1, max_n + 1):
			hc, rc = ngrams(ht, n), ngrams(rt, n)
			match[n - 1] += sum(min(k, rc[g]) for g, k in hc.items())
			total[n - 1] += max(len(ht) - n + 1, 0)
	return c, r, match, total


def bleu_from_stats(c, r, match, total, smooth="none"):
	if c == 0:
		return 0.0
	logs = []
	k = 1
	for m, t in zip(match, total):
		if t == 0:
			return 0.0
		if m == 0:
			if smooth != "exp":
				return 0.0
			k *= 2
			logs.append(math.log(1.0 / (k * t)))
		else:
			logs.append(math.log(m / t))
	bp = 1.0 if c > r else math.exp(1.0 - r / c)
	return 100.0 * bp * math.exp(sum(logs) / len(logs))


def corpus_bleu(hyps, refs, max_n=4, smooth="none", tokenize=tokenize_13a):
	"""Corpus BLEU (0-100) of hypothesis strings against one reference each."""
	return bleu_from_stats(*bleu_stats(hyps, refs, max_n, tokenize), smooth=smooth)


def chrf_stats(hyps, refs, max_n=6):
	"""Per order n: (matches, hyp n-grams, ref n-grams) summed over the corpus."""
	if len(hyps) != len(refs):
		raise ValueError("%d hypotheses but %d references" % (len(hyps), len(refs)))
	stats = [[0, 0, 0] for _ in range(max_n)]
	for h, ref in zip(hyps, refs):
		hs = "".join(h.split())
		rs = "".join(ref.split())
		for n in range(1, max_n + 1):
			hc, rc = ngrams(hs, n), ngrams(rs, n)
			st = stats[n - 1]
			st[0] += sum(min(k, rc[g]) for g, k in hc.items())
			st[1] += sum(hc.values())
			st[2] += sum(rc.values())
	return stats


def chrf_from_stats(stats, beta=2.0):
	precs, recs = [], []
	for m, nh, nr in stats:
		if nh == 0 or nr == 0:
			continue
		precs.append(m / nh)
		recs.append(m / nr)
	if not precs:
		return 0.0
	p = sum(precs) / len(precs)
	r = sum(recs) / len(recs)
	if p == 0 and r == 0:
		return 0.0
	b2 = beta * beta
	return 100.0 * (1 + b2) * p * r / (b2 * p + r)


def corpus_chrf(hyps, refs, max_n=6, beta=2.0):
	"""Corpus chrF (0-100), character n-grams 1..max_n, F-beta."""
	return chrf_from_stats(chrf_stats(hyps, refs, max_n), beta)


def exact_match(hyps, refs):
	"""Percentage of hypotheses equal to their reference (after strip)."""
	if len(hyps) != len(refs):
		raise ValueError("%d hypotheses but %d references" % (len(hyps), len(refs)))
	if not hyps:
		return 0.0
	return 100.0 * sum(h.strip() == r.strip() for h, r in zip(hyps, refs)) / len(hyps)


def main(argv=None):
	argv = sys.argv[1:] if argv is None else argv
	if len(argv) != 2:
		print("usage: python3 -m s2s_train.metrics HYP_FILE REF_FILE", file=sys.stderr)
		return 2
	with open(argv[0], encoding="utf-8") as f:
		hyps = [l.rstrip("\n") for l in f]
	with open(argv[1], encoding="utf-8") as f:
		refs = [l.rstrip("\n") for l in f]
	print("BLEU %.2f  chrF %.2f  exact %.2f%%  (%d lines)" % (
		corpus_bleu(hyps, refs), corpus_chrf(hyps, refs), exact_match(hyps, refs), len(hyps)))
	return 0


if __name__ == "__main__":
	sys.exit(main())
