/* beam.c - see beam.h. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "beam.h"
#include "s2s_kernels.h"

#define S2S__EOS 3
#define S2S__BOS 2

int s2s__search_init(s2s__search *s, int B, int T, int n_src, int V, float alpha, bool attn,
                     bool keep_attn)
{
	memset(s, 0, sizeof(*s));
	s->B = B;
	s->T = T;
	s->n_src = n_src;
	s->V = V;
	s->alpha = alpha;
	s->live = 1;
	s->live_score = calloc((size_t)B, sizeof(float));
	s->live_tok = calloc((size_t)B, sizeof(int32_t));
	s->live_parent = calloc((size_t)B, sizeof(int));
	s->live_slot = calloc((size_t)B, sizeof(int));
	s->fin = calloc((size_t)2 * B, sizeof(s2s__final));
	s->cand_score = calloc((size_t)B, sizeof(float));
	s->cand_flat = calloc((size_t)B, sizeof(int));
	s->cand_logp = calloc((size_t)B, sizeof(float));
	if (!s->live_score || !s->live_tok || !s->live_parent || !s->live_slot || !s->fin ||
	    !s->cand_score || !s->cand_flat || !s->cand_logp) {
		s2s__search_deinit(s);
		return S2S_ENOMEM;
	}
	s->live_tok[0] = S2S__BOS;
	s->live_slot[0] = -1;
	s->keep_attn = attn && keep_attn;
	if (attn && !keep_attn && !(s->alpha_tmp = calloc((size_t)B * n_src, sizeof(float)))) {
		s2s__search_deinit(s);
		return S2S_ENOMEM;
	}
	return 0;
}

void s2s__search_deinit(s2s__search *s)
{
	free(s->live_score);
	free(s->live_tok);
	free(s->live_parent);
	free(s->live_slot);
	free(s->tok);
	free(s->logp);
	free(s->par);
	free(s->lslot);
	free(s->attn);
	free(s->alpha_tmp);
	free(s->fin);
	free(s->cand_score);
	free(s->cand_flat);
	free(s->cand_logp);
	memset(s, 0, sizeof(*s));
}

static int s2s__regrow(void **p, size_t n, size_t size)
{
	void *q = realloc(*p, n * size);
	if (!q)
		return S2S_ENOMEM;
	*p = q;
	return 0;
}

int s2s__search_reserve(s2s__search *s)
{
	if (s->t < s->cap)
		return 0;
	int cap = s->cap ? 2 * s->cap : 16;
	if (cap > s->T)
		cap = s->T; /* steps never exceed T */
	size_t nb = (size_t)cap * s->B;
	if (s2s__regrow((void **)&s->tok, nb, sizeof(int32_t)) ||
	    s2s__regrow((void **)&s->logp, nb, sizeof(float)) ||
	    s2s__regrow((void **)&s->par, nb, sizeof(int)) ||
	    s2s__regrow((void **)&s->lslot, nb, sizeof(int)))
		return S2S_ENOMEM;
	if (s->keep_attn && s2s__regrow((void **)&s->attn, nb * s->n_src, sizeof(float)))
		return S2S_ENOMEM;
	s->cap = cap;
	return 0;
}

float *s2s__search_attn_row(s2s__search *s, int live_index)
{
	if (!s->keep_attn)
		return s->alpha_tmp ? s->alpha_tmp + (size_t)live_index * s->n_src : NULL;
	return s->attn + ((size_t)s->t * s->B + live_index) * s->n_src;
}

/*
 * GNMT length penalty lp(L) = ((5 + L) / 6)^alpha. The power is taken in
 * double and rounded once, as the Python reference does: both then agree
 * to the bit whatever float32 pow each side's libraries would pick.
 */
static float s2s__lp(float alpha, int len)
{
	if (alpha == 0.0f)
		return 1.0f;
	return (float)pow((double)((5.0f + (float)len) / 6.0f), (double)alpha);
}

/*
 * Inserts a candidate into the sorted top list (score descending). A later
 * candidate never passes an equal earlier one: flat indices arrive in
 * ascending order, so this is §7's tie order without sorting all of them.
 */
static void s2s__topk_push(s2s__search *s, int *n, float score, int flat, float logp)
{
	int pos = *n < s->B ? (*n)++ : s->B - 1;
	while (pos > 0 && s->cand_score[pos - 1] < score) {
		s->cand_score[pos] = s->cand_score[pos - 1];
		s->cand_flat[pos] = s->cand_flat[pos - 1];
		s->cand_logp[pos] = s->cand_logp[pos - 1];
		pos--;
	}
	s->cand_score[pos] = score;
	s->cand_flat[pos] = flat;
	s->cand_logp[pos] = logp;
}

/* Top-B candidates of all live rows into cand_*; returns how many. */
static int s2s__select(s2s__search *s, const float *logits, const s2s__row_stats *stats)
{
	int n = 0, V = s->V;
	for (int i = 0; i < s->live; i++) {
		const float *z = logits + (size_t)i * V;
		float mx = stats[i].max, lse = stats[i].lse, base = s->live_score[i];
		int arg = stats[i].arg;
		if (s->B == 1) {
			/* Greedy: the arg-max is the only candidate (z[arg] - mx is 0). */
			float lp = (z[arg] - mx) - lse;
			s2s__topk_push(s, &n, base + lp, i * V + arg, lp);
			continue;
		}
		for (int w = 0; w < V; w++) {
			float lp = (z[w] - mx) - lse;
			float sc = base + lp;
			if (n == s->B && !(sc > s->cand_score[n - 1]))
				continue;
			s2s__topk_push(s, &n, sc, i * V + w, lp);
		}
	}
	return n;
}

static void s2s__finish(s2s__search *s, int t, int k, float score, bool finished)
{
	s2s__final *f = &s->fin[s->nfin++];
	f->t = t;
	f->k = k;
	f->score = score;
	f->norm = score / s2s__lp(s->alpha, t + 1);
	f->finished = finished;
}

bool s2s__search_step(s2s__search *s, const float *logits, const s2s__row_stats *stats)
{
	int t = s->t, B = s->B;
	for (int i = 0; i < s->live; i++)
		s->lslot[(size_t)t * B + i] = s->live_slot[i];
	int n = s2s__select(s, logits, stats), nl = 0;
	for (int k = 0; k < n; k++) {
		int i = s->cand_flat[k] / s->V, w = s->cand_flat[k] % s->V;
		size_t o = (size_t)t * B + k;
		s->tok[o] = w;
		s->logp[o] = s->cand_logp[k];
		s->par[o] = i;
		if (w == S2S__EOS) {
			s2s__finish(s, t, k, s->cand_score[k], true);
			continue;
		}
		s->live_score[nl] = s->cand_score[k];
		s->live_tok[nl] = w;
		s->live_parent[nl] = i;
		s->live_slot[nl] = k;
		nl++;
	}
	s->live = nl;
	s->t = t + 1;
	if (s->t >= s->T) {
		for (int i = 0; i < s->live; i++)
			s2s__finish(s, t, s->live_slot[i], s->live_score[i], false);
		s->live = 0;
	}
	return s->nfin >= B || s->live == 0;
}

static int s2s__build_hyp(const s2s__search *s, const s2s__final *f, bool with_attn,
                          s2s_hypothesis *h)
{
	int n = f->t + 1, ns = s->n_src;
	h->n = n;
	h->score = f->score;
	h->norm_score = f->norm;
	h->finished = f->finished;
	h->ids = malloc((size_t)n * sizeof(int32_t));
	h->logprobs = malloc((size_t)n * sizeof(float));
	h->attention = with_attn && s->keep_attn ? malloc((size_t)n * ns * sizeof(float)) : NULL;
	if (!h->ids || !h->logprobs || (with_attn && s->keep_attn && !h->attention))
		return S2S_ENOMEM;
	for (int u = f->t, k = f->k; u >= 0; u--) {
		size_t o = (size_t)u * s->B + k;
		int i = s->par[o];
		h->ids[u] = s->tok[o];
		h->logprobs[u] = s->logp[o];
		if (h->attention)
			memcpy(h->attention + (size_t)u * ns, s->attn + ((size_t)u * s->B + i) * ns,
			       (size_t)ns * sizeof(float));
		k = s->lslot[(size_t)u * s->B + i];
	}
	return 0;
}

int s2s__search_result(const s2s__search *s, int n_best, bool with_attn, s2s_result *r)
{
	int order[128], nf = s->nfin;
	/* Stable insertion sort by normalised score, descending (§7 step 4). */
	for (int a = 0; a < nf; a++) {
		int j = a;
		while (j > 0 && s->fin[order[j - 1]].norm < s->fin[a].norm) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = a;
	}
	r->n_hyps = n_best < nf ? n_best : nf;
	r->hyps = calloc((size_t)r->n_hyps, sizeof(s2s_hypothesis));
	if (!r->hyps)
		return S2S_ENOMEM;
	for (int h = 0; h < r->n_hyps; h++)
		if (s2s__build_hyp(s, &s->fin[order[h]], with_attn, &r->hyps[h]) < 0)
			return S2S_ENOMEM;
	return 0;
}
