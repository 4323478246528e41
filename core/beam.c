/* beam.c - see beam.h. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "beam.h"
#include "s2s_kernels.h"

#define S2S__EOS 3
#define S2S__BOS 2

/* Copies n ids into a new block (NULL when n == 0); false on ENOMEM. */
static bool s2s__dup_ids(int32_t **dst, const int32_t *src, int n)
{
	*dst = NULL;
	if (n <= 0)
		return true;
	if (!(*dst = malloc((size_t)n * sizeof(int32_t))))
		return false;
	memcpy(*dst, src, (size_t)n * sizeof(int32_t));
	return true;
}

/* The §7.1-7.6 controls of o into s, with their scratch. */
static int s2s__search_controls(s2s__search *s, const s2s_decode_options *o)
{
	s->lp_type = o->length_penalty_type;
	s->beta = o->coverage_penalty;
	s->n_prefix = o->n_prefix;
	s->force_eos = o->force_eos;
	s->sampling = o->sampling_topk != 1;
	s->topk = o->sampling_topk;
	s->topp = o->sampling_topp;
	s->tau = o->sampling_temperature;
	s->seed = o->seed;
	s->n_alt_want = o->return_alternatives;
	if (!s2s__dup_ids(&s->suppress, o->suppress, o->n_suppress) ||
	    !s2s__dup_ids(&s->prefix, o->prefix, o->n_prefix))
		return S2S_ENOMEM;
	s->proc = s2s__procs_from(&s->procs, o, s->suppress);
	size_t BT = (size_t)s->B * s->T;
	if (s->proc && (!(s->rhist = malloc(BT * sizeof(int32_t))) ||
	                !(s->rscratch = malloc(BT * sizeof(int32_t)))))
		return S2S_ENOMEM;
	if (s->sampling && (!(s->pool = malloc(2 * (size_t)s->V * sizeof(s2s__cand))) ||
	                    !(s->weights = malloc((size_t)s->V * sizeof(double)))))
		return S2S_ENOMEM;
	if (s->n_alt_want && !(s->alt = malloc((size_t)s->n_alt_want * sizeof(s2s__cand))))
		return S2S_ENOMEM;
	if (s->beta > 0.0f && (!(s->cov = malloc((size_t)s->n_src * sizeof(float))) ||
	                       !(s->cov_row = malloc((size_t)s->T * sizeof(size_t)))))
		return S2S_ENOMEM;
	return 0;
}

int s2s__search_init(s2s__search *s, const s2s_decode_options *o, int T, int n_src, int V,
                     bool attn)
{
	int B = o->beam_size;
	memset(s, 0, sizeof(*s));
	s->B = B;
	s->T = T;
	s->n_src = n_src;
	s->V = V;
	s->alpha = o->length_penalty;
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
	    !s->cand_score || !s->cand_flat || !s->cand_logp || s2s__search_controls(s, o) < 0) {
		s2s__search_deinit(s);
		return S2S_ENOMEM;
	}
	s->live_tok[0] = S2S__BOS;
	s->live_slot[0] = -1;
	/* Coverage (§7.2) sums the hypothesis' attention rows at the end. */
	bool keep_attn = o->attention || s->beta > 0.0f;
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
	free(s->ban);
	free(s->hist);
	free(s->banned);
	free(s->stack);
	free(s->seen);
	free(s->cand_score);
	free(s->cand_flat);
	free(s->cand_logp);
	free(s->suppress);
	free(s->prefix);
	free(s->alt);
	free(s->pool);
	free(s->weights);
	free(s->rhist);
	free(s->rscratch);
	free(s->cov);
	free(s->cov_row);
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

int s2s__search_constrain(s2s__search *s, const s2s_sentinels *table, int n_ph, int n_pairs)
{
	int all = table->n_ph + 2 * table->n_pairs + 1;
	s->ban = calloc((size_t)s->V, 1);
	s->hist = malloc((size_t)s->T * sizeof(int32_t));
	s->banned = malloc((size_t)all * sizeof(int32_t));
	s->stack = malloc(((size_t)n_pairs + 1) * sizeof(int));
	s->seen = malloc((size_t)n_ph + 2 * (size_t)n_pairs + 1);
	if (!s->ban || !s->hist || !s->banned || !s->stack || !s->seen)
		return S2S_ENOMEM;
	s->table = table;
	s->n_ph = n_ph;
	s->n_pairs = n_pairs;
	return 0;
}

/* The tokens of live row i so far, oldest first, into out (s->t of them). */
static void s2s__live_history(const s2s__search *s, int i, int32_t *out)
{
	int k = s->live_slot[i];
	for (int u = s->t - 1; u >= 0; u--) {
		size_t o = (size_t)u * s->B + k;
		out[u] = s->tok[o];
		k = s->lslot[(size_t)u * s->B + s->par[o]];
	}
}

void s2s__search_histories(s2s__search *s)
{
	for (int i = 0; i < s->live; i++)
		s2s__live_history(s, i, s->rhist + (size_t)i * s->T);
}

void s2s__search_process(s2s__search *s, int i, float *z)
{
	size_t o = (size_t)i * s->T;
	s2s__procs_apply(&s->procs, z, s->V, s->rhist + o, s->t, s->rscratch + o);
}

/* Index of id in ids[0..n), or -1. */
static int s2s__index_of(const int32_t *ids, int n, int32_t id)
{
	for (int k = 0; k < n; k++)
		if (ids[k] == id)
			return k;
	return -1;
}

/*
 * Replays row i's history: which of the sentence's sentinels it has emitted
 * (s->seen: placeholders, then opens, then closes) and the pairs still open
 * (s->stack). Returns the stack depth.
 */
static int s2s__replay(s2s__search *s, int i)
{
	const s2s_sentinels *tb = s->table;
	int P = s->n_ph, T = s->n_pairs, depth = 0;
	if (P == 0 && T == 0)
		return 0; /* nothing to replay: every sentinel is banned */
	memset(s->seen, 0, (size_t)P + 2 * (size_t)T);
	s2s__live_history(s, i, s->hist);
	for (int u = 0; u < s->t; u++) {
		int32_t w = s->hist[u];
		int k;
		if ((k = s2s__index_of(tb->tgt_ph, P, w)) >= 0) {
			s->seen[k] = 1;
		} else if ((k = s2s__index_of(tb->tgt_open, T, w)) >= 0) {
			s->seen[P + k] = 1;
			s->stack[depth++] = k;
		} else if ((k = s2s__index_of(tb->tgt_close, T, w)) >= 0) {
			s->seen[P + T + k] = 1;
			depth--; /* only the innermost open pair could be closed */
		}
	}
	return depth;
}

/*
 * Marks in s->ban what row i may not emit now (§6) and lists it in
 * s->banned; returns how many. Placeholders and opens once each, a close
 * only for the innermost open pair, every other sentinel of the model
 * never, and </s> only once all the sentence's sentinels are out.
 */
static int s2s__ban_row(s2s__search *s, int i)
{
	const s2s_sentinels *tb = s->table;
	int P = s->n_ph, T = s->n_pairs, nb = 0;
	int depth = s2s__replay(s, i);
	bool done = depth == 0;
	for (int k = 0; k < tb->n_ph; k++)
		if (k >= P || s->seen[k])
			s->banned[nb++] = tb->tgt_ph[k];
		else
			done = false;
	for (int k = 0; k < tb->n_pairs; k++) {
		bool open_ok = k < T && !s->seen[P + k];
		bool close_ok = k < T && s->seen[P + k] && !s->seen[P + T + k] && depth > 0 &&
		                s->stack[depth - 1] == k;
		if (!open_ok)
			s->banned[nb++] = tb->tgt_open[k];
		if (!close_ok)
			s->banned[nb++] = tb->tgt_close[k];
		if (k < T && !s->seen[P + T + k])
			done = false;
	}
	if (!done)
		s->banned[nb++] = S2S__EOS;
	for (int b = 0; b < nb; b++)
		s->ban[s->banned[b]] = 1;
	return nb;
}

/* Greedy under a constraint: the allowed arg-max, lowest id on ties. */
static int s2s__allowed_argmax(const s2s__search *s, const float *z, int arg)
{
	if (!s->ban[arg])
		return arg;
	int best = -1;
	for (int w = 0; w < s->V; w++)
		if (!s->ban[w] && (best < 0 || z[w] > z[best]))
			best = w;
	return best; /* never -1: some sentinel or </s> is always allowed */
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

/* The step's only candidate while decoding is forced (§7.6), else -1. */
static int s2s__forced(const s2s__search *s)
{
	if (s->t < s->n_prefix)
		return s->prefix[s->t];
	if (s->force_eos && s->t == s->n_prefix)
		return S2S__EOS;
	return -1;
}

/* §7.5: a draw among row z's allowed ids; `arg` only if none is allowed. */
static int s2s__sample(s2s__search *s, const float *z, float mx, float lse, bool banned, int arg)
{
	const unsigned char *ban = banned ? s->ban : NULL;
	s2s__cand worst = {0};
	int tail = 0, n;
	if (s->topk == 0)
		n = s2s__sampling_candidates(z, mx, lse, ban, s->V, s->tau, s->pool, s->pool + s->V,
		                             &worst, &tail);
	else
		n = s2s__top_allowed(z, mx, lse, ban, s->V, s->topk, s->pool, NULL);
	if (n == 0)
		return arg; /* unreachable: </s> or a sentinel is always allowed */
	double u = s2s__uniform(s->seed, s->t);
	int k = s2s__sample_pick(s->pool, n, s->tau, s->topp, u, s->weights);
	if (k == n)
		return tail ? worst.id : s->pool[n - 1].id;
	return s->pool[k].id;
}

/* The one candidate of a row when B is 1 or the step is forced. */
static int s2s__single(s2s__search *s, const float *z, const s2s__row_stats *st, int forced,
                       int nb)
{
	if (forced >= 0)
		return forced;
	if (s->sampling)
		return s2s__sample(s, z, st->max, st->lse, nb > 0, st->arg);
	return s->table ? s2s__allowed_argmax(s, z, st->arg) : st->arg;
}

/* Top-B candidates of all live rows into cand_*; returns how many. */
static int s2s__select(s2s__search *s, const float *logits, const s2s__row_stats *stats)
{
	int n = 0, V = s->V, forced = s2s__forced(s);
	for (int i = 0; i < s->live; i++) {
		const float *z = logits + (size_t)i * V;
		float mx = stats[i].max, lse = stats[i].lse, base = s->live_score[i];
		/* A forced token ignores the sentinel constraint as it ignores everything else. */
		int nb = s->table && forced < 0 ? s2s__ban_row(s, i) : 0;
		if (s->n_alt_want && s->t == s->n_prefix) /* one live row here (§7.6) */
			s->n_alt = s2s__top_allowed(z, mx, lse, nb ? s->ban : NULL, V, s->n_alt_want,
			                            s->alt, NULL);
		if (s->B == 1 || forced >= 0) {
			/* Greedy: the arg-max is the only candidate (z[arg] - mx is 0 unconstrained). */
			int w = s2s__single(s, z, &stats[i], forced, nb);
			float lp = (z[w] - mx) - lse;
			s2s__topk_push(s, &n, base + lp, i * V + w, lp);
		} else {
			for (int w = 0; w < V; w++) {
				float lp = (z[w] - mx) - lse;
				float sc = base + lp;
				if (n == s->B && !(sc > s->cand_score[n - 1]))
					continue;
				if (nb && s->ban[w])
					continue;
				s2s__topk_push(s, &n, sc, i * V + w, lp);
			}
		}
		for (int b = 0; b < nb; b++)
			s->ban[s->banned[b]] = 0;
	}
	return n;
}

/* Length normalisation (§7.2): wu, avg or none. */
static float s2s__lp_of(const s2s__search *s, int len)
{
	switch (s->lp_type) {
	case S2S_LP_AVG:
		return (float)len;
	case S2S_LP_NONE:
		return 1.0f;
	default:
		return s2s__lp(s->alpha, len);
	}
}

/*
 * GNMT coverage penalty (§7.2) of the hypothesis ending in slot k at step
 * t: beta * sum_j log(min(max(c_j, 1e-6), 1)), c_j its attention summed
 * over its steps in order (float), the logs in double, cast once.
 */
static float s2s__coverage(s2s__search *s, int t, int k)
{
	int ns = s->n_src;
	for (int u = t; u >= 0; u--) {
		int i = s->par[(size_t)u * s->B + k];
		s->cov_row[u] = ((size_t)u * s->B + i) * ns;
		k = s->lslot[(size_t)u * s->B + i];
	}
	memset(s->cov, 0, (size_t)ns * sizeof(float));
	for (int u = 0; u <= t; u++)
		for (int j = 0; j < ns; j++)
			s->cov[j] += s->attn[s->cov_row[u] + j];
	double sum = 0.0;
	for (int j = 0; j < ns; j++) {
		float c = s->cov[j] < 1e-6f ? 1e-6f : s->cov[j];
		sum += log((double)(c > 1.0f ? 1.0f : c));
	}
	return s->beta * (float)sum;
}

static void s2s__finish(s2s__search *s, int t, int k, float score, bool finished)
{
	s2s__final *f = &s->fin[s->nfin++];
	f->t = t;
	f->k = k;
	f->score = score;
	f->norm = score / s2s__lp_of(s, t + 1);
	if (s->beta > 0.0f && s->keep_attn)
		f->norm = f->norm + s2s__coverage(s, t, k);
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
	if (s->n_alt > 0) {
		r->alternatives = malloc((size_t)s->n_alt * sizeof(s2s_alternative));
		if (!r->alternatives)
			return S2S_ENOMEM;
		r->n_alternatives = s->n_alt;
		for (int k = 0; k < s->n_alt; k++)
			r->alternatives[k] = (s2s_alternative){s->alt[k].id, s->alt[k].lp};
	}
	return 0;
}
