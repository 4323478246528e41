"""Training pairs with protected spans (issue 12): matching the spans of a
source and its translation, and the sentinel-masked token ids a model with
sentinels is trained on.

The corpus builder (scripts/corpus/build_corpus.py) keeps a pair whose spans
`match_pair` can match; training masks both sides with `mask_pair`: the source
exactly as s2s_ref.spans.mask does at translation time (§5 of the spec), the
target the same way with the target tokenizer, each target span replaced by
the sentinel of the source span it was matched to. Ownership is plain Python:
every function returns new objects.
"""

import collections

from s2s_ref import spans as S

# Formats tried in order; the first under which both sides parse and match
# wins. `auto` is what a caller who does not know the string's origin sends;
# `auto,printf` adds the full printf flavour (`% d`, `%'d`) that gettext's
# c-format entries use.
PAIR_FORMATS = ("auto", "auto,printf")


def span_texts(sp):
	return [sp.text[s.start:s.end] for s in sp.spans]


def match_spans(src, tgt):
	"""For two parsed Spans, the source span index of every target span, or
	None when they cannot be matched: the same multiset of placeholder texts
	(k-th occurrence to k-th), tags paired by exact text (k-th opening tag of a
	text to the k-th), a matched pair's closing tags equal too."""
	if len(src.spans) != len(tgt.spans) or src.n_pairs != tgt.n_pairs:
		return None
	by_text = collections.defaultdict(list)
	for k, s in enumerate(src.spans):
		if s.kind != S.CLOSE:
			by_text[(s.kind, src.text[s.start:s.end])].append(k)
	used = collections.Counter()
	out = [-1] * len(tgt.spans)
	for j, t in enumerate(tgt.spans):
		if t.kind == S.CLOSE:
			continue
		key = (t.kind, tgt.text[t.start:t.end])
		cands = by_text.get(key, [])
		if used[key] >= len(cands):
			return None
		out[j] = cands[used[key]]
		used[key] += 1
	for j, t in enumerate(tgt.spans):
		if t.kind != S.OPEN:
			continue
		o = src.spans[out[j]]
		c_src, c_tgt = src.spans[o.partner], tgt.spans[t.partner]
		if src.text[c_src.start:c_src.end] != tgt.text[c_tgt.start:c_tgt.end]:
			return None
		out[t.partner] = o.partner
	return out


def match_pair(en, fr, formats=PAIR_FORMATS):
	"""(format, source Spans, target Spans, mapping) for the first format
	under which both sides parse, hold at least one span and match; None
	when none does."""
	for fmt in formats:
		try:
			src = S.parse(en, fmt)
			tgt = S.parse(fr, fmt)
		except S.SpanError:
			continue
		if not src.spans:
			continue
		mapping = match_spans(src, tgt)
		if mapping is not None:
			return fmt, src, tgt, mapping
	return None


def _tgt_segment_ids(tok, index, text):
	pieces, _ = tok.encode_with_words(text.decode("utf-8"))
	return [index.get(p, 1) for p in pieces]


def mask_pair(en, fr, src_tok, src_index, tgt_tok, tgt_index, sentinels):
	"""(source ids, target ids) of a span-bearing pair, masked with the
	sentinels; None when the pair does not match or does not fit the model's
	P and T (it would take the alignment path at translation time)."""
	m = match_pair(en, fr)
	if m is None:
		return None
	_, src, tgt, mapping = m
	if not sentinels.fits(src):
		return None
	ms = S.mask(src, src_tok, src_index, sentinels)
	ids = []
	for text, j in S.segments(tgt):
		if text is not None:
			ids += _tgt_segment_ids(tgt_tok, tgt_index, text)
			continue
		s = src.spans[mapping[j]]
		if s.kind == S.PLACEHOLDER:
			ids.append(sentinels.tgt_ph[s.sentinel])
		elif s.kind == S.OPEN:
			ids.append(sentinels.tgt_open[s.sentinel])
		else:
			ids.append(sentinels.tgt_close[s.sentinel])
	return ms.ids, ids
