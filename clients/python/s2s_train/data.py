"""Parallel data for training: TSV reading, tokenization to ids, batching.

Ownership is plain Python: every function returns new lists; nothing is cached
globally. Ids follow docs/checkpoint-format.md §2: 0 <pad>, 1 <unk>, 2 <s>, 3 </s>.
"""

import random

PAD, UNK, BOS, EOS = 0, 1, 2, 3


def read_tsv(path, limit=None):
	"""Return [(src, tgt)] from a file of `source TAB target` lines.

	Lines without exactly one tab or with an empty side are skipped (they
	cannot be training pairs), so a stray header or blank line is harmless.
	"""
	pairs = []
	with open(path, encoding="utf-8") as f:
		for line in f:
			parts = line.rstrip("\n").split("\t")
			if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
				continue
			pairs.append((parts[0], parts[1]))
			if limit and len(pairs) >= limit:
				break
	return pairs


def to_ids(tok, index, text):
	"""Tokenize text and map pieces to ids (unknown pieces -> <unk>)."""
	return [index.get(p, UNK) for p in tok.encode_pieces(text)]


def encode_pairs(pairs, src_tok, src_index, tgt_tok, tgt_index, max_len=None):
	"""[(src_ids, tgt_ids)] for the pairs; pairs with an empty side, or longer
	than max_len tokens on either side, are dropped."""
	out = []
	for s, t in pairs:
		si = to_ids(src_tok, src_index, s)
		ti = to_ids(tgt_tok, tgt_index, t)
		if not si or not ti:
			continue
		if max_len and (len(si) > max_len or len(ti) + 1 > max_len):
			continue
		out.append((si, ti))
	return out


def make_batches(examples, max_tokens, max_sents, seed):
	"""Group example indices into batches of similar source length.

	A batch holds at most max_sents sentences and at most max_tokens padded
	source+target tokens. The order of batches is shuffled with `seed`, so an
	epoch's batch list is reproducible (needed to resume mid-epoch).
	"""
	rng = random.Random(seed)
	order = list(range(len(examples)))
	rng.shuffle(order)
	# Sort within large chunks: batches stay length-homogeneous but the
	# composition still varies from epoch to epoch.
	chunk = max_sents * 50
	batches = []
	for c in range(0, len(order), chunk):
		part = sorted(order[c:c + chunk], key=lambda i: (len(examples[i][0]), len(examples[i][1])))
		cur, longest = [], 0
		for i in part:
			lng = max(longest, len(examples[i][0]) + len(examples[i][1]) + 1)
			if cur and (len(cur) + 1 > max_sents or lng * (len(cur) + 1) > max_tokens):
				batches.append(cur)
				cur, lng = [], len(examples[i][0]) + len(examples[i][1]) + 1
			cur.append(i)
			longest = lng
		if cur:
			batches.append(cur)
	rng.shuffle(batches)
	return batches


def collate(examples, idx, torch, device):
	"""Padded tensors for one batch: src [B,S], src_lens [B], tgt_in [B,T] (<s> y),
	tgt_out [B,T] (y </s>), all on device."""
	b = len(idx)
	s_len = max(len(examples[i][0]) for i in idx)
	t_len = max(len(examples[i][1]) for i in idx) + 1
	src = torch.full((b, s_len), PAD, dtype=torch.long)
	tin = torch.full((b, t_len), PAD, dtype=torch.long)
	tout = torch.full((b, t_len), PAD, dtype=torch.long)
	lens = torch.zeros(b, dtype=torch.long)
	for r, i in enumerate(idx):
		s, t = examples[i]
		src[r, :len(s)] = torch.tensor(s)
		lens[r] = len(s)
		tin[r, :len(t) + 1] = torch.tensor([BOS] + t)
		tout[r, :len(t) + 1] = torch.tensor(t + [EOS])
	return src.to(device), lens, tin.to(device), tout.to(device)
