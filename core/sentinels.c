/* sentinels.c - a model's sentinel tokens (s2s_spans.h, docs/localisation.md §5). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s2s_spans.h"

/* Id of `name` in v, or -1 when v lacks it (the lookup maps unknown names to <unk>). */
static int32_t s2s__exact_id(const s2s_vocab *v, const char *name)
{
	int32_t id = s2s_vocab_lookup(v, name, strlen(name));
	const char *tok = s2s_vocab_token(v, id);
	return tok && strcmp(tok, name) == 0 ? id : -1;
}

/* How many of "<fmt0>", "<fmt1>", ... both vocabularies hold without a gap. */
static int s2s__count(const s2s_vocab *src, const s2s_vocab *tgt, const char *fmt_open,
		      const char *fmt_close)
{
	char name[32];
	int k = 0;
	for (;; k++) {
		snprintf(name, sizeof name, fmt_open, k);
		if (s2s__exact_id(src, name) < 0 || s2s__exact_id(tgt, name) < 0)
			break;
		if (fmt_close) {
			snprintf(name, sizeof name, fmt_close, k);
			if (s2s__exact_id(src, name) < 0 || s2s__exact_id(tgt, name) < 0)
				break;
		}
	}
	return k;
}

/* Fills ids[0..n) with the ids of fmt's names in v (all present: s2s__count checked). */
static void s2s__fill(const s2s_vocab *v, const char *fmt, int32_t *ids, int n)
{
	char name[32];
	for (int k = 0; k < n; k++) {
		snprintf(name, sizeof name, fmt, k);
		ids[k] = s2s__exact_id(v, name);
	}
}

int s2s_sentinels_find(const s2s_vocab *src, const s2s_vocab *tgt, s2s_sentinels *out,
		       s2s_error *err)
{
	memset(out, 0, sizeof *out);
	int P = s2s__count(src, tgt, "<ph%d>", NULL), T = s2s__count(src, tgt, "<t%d>", "</t%d>");
	/* One block for the six arrays; +1 keeps calloc's size non-zero. */
	int32_t *blk = calloc((size_t)2 * P + 4 * (size_t)T + 1, sizeof(int32_t));
	if (!blk)
		return s2s__error_set(err, S2S_ENOMEM, "cannot allocate the sentinel table");
	out->n_ph = P;
	out->n_pairs = T;
	out->src_ph = blk;
	out->tgt_ph = blk + P;
	out->src_open = blk + 2 * P;
	out->src_close = out->src_open + T;
	out->tgt_open = out->src_close + T;
	out->tgt_close = out->tgt_open + T;
	s2s__fill(src, "<ph%d>", out->src_ph, P);
	s2s__fill(tgt, "<ph%d>", out->tgt_ph, P);
	s2s__fill(src, "<t%d>", out->src_open, T);
	s2s__fill(src, "</t%d>", out->src_close, T);
	s2s__fill(tgt, "<t%d>", out->tgt_open, T);
	s2s__fill(tgt, "</t%d>", out->tgt_close, T);
	return 0;
}

void s2s_sentinels_deinit(s2s_sentinels *s)
{
	if (!s)
		return;
	free(s->src_ph); /* the block's start */
	memset(s, 0, sizeof *s);
}
