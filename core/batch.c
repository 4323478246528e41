/*
 * batch.c - the continuous batch (s2s_decode.h).
 *
 * Every decoding sentence owns a contiguous run of rows [row0, row0 + live)
 * in the decoder state, in the order of b->sents; newcomers are appended
 * after one encoder pass. After each step the surviving hypotheses are
 * gathered into the other state buffer, densely, so the next step's GEMMs
 * see only live rows.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attention.h"
#include "batch_internal.h"
#include "beam.h"
#include "decoder.h"
#include "encoder.h"
#include "pool.h"
#include "s2s_vocab.h"
#include "s2s_kernels.h"
#include "wmat.h"
#include "s2s_decode.h"

typedef struct {
	int handle;
	void *user;
	s2s_decode_options o;
	int n;
	int32_t *src; /* (n) owned copy */
	float *mem;   /* (n, K) encoder memory */
	float *keys;  /* (n, key_dim) or NULL */
	bool encoded;
	int row0;
	s2s__search s;
	double encode_ms;
	struct timespec t0;
} s2s__sent;

struct s2s_batch {
	s2s_model *m;
	int max_rows, rows_reserved, next_handle;
	s2s__sent **sents; /* (max_rows): every sentence holds at least one row */
	int nsent;
	s2s_result **done;
	int ndone, cap_done;
	s2s__encoder enc;
	s2s__decoder dec;
	s2s__dec_state st[2];
	int cur;
	int32_t *prev;           /* (max_rows) */
	s2s__row_stats *stats;   /* (max_rows) log-softmax statistics of the step's logits */
	s2s__attn_row *rw;       /* (max_rows) */
	int *gather;             /* (max_rows) */
	float *fin_h, *fin_c;    /* (max_rows, enc_layers, K) */
	float *bridge_tmp;       /* s2s__bridge_tmp_floats(max_rows) */
	const int32_t **enc_src; /* (max_rows) */
	int *enc_len;            /* (max_rows) */
	float **enc_mem;         /* (max_rows) */
	s2s__search **row_search; /* (max_rows) the search whose processors row r needs, or NULL */
	int *row_live;           /* (max_rows) row r's live index in that search */
	bool any_proc;           /* this step, some row has processors (§7.1) */
	s2s__logits_hook hook;
	void *hook_ctx;
};

static double s2s__ms_since(const struct timespec *a)
{
	struct timespec b;
	clock_gettime(CLOCK_MONOTONIC, &b);
	return (b.tv_sec - a->tv_sec) * 1e3 + (b.tv_nsec - a->tv_nsec) / 1e6;
}

static void s2s__sent_free(s2s__sent *s)
{
	if (!s)
		return;
	free(s->src);
	free(s->mem);
	free(s->keys);
	s2s__search_deinit(&s->s);
	free(s);
}

void s2s__batch_set_logits_hook(s2s_batch *b, s2s__logits_hook fn, void *ctx)
{
	b->hook = fn;
	b->hook_ctx = ctx;
}

static int s2s__batch_alloc(s2s_batch *b)
{
	const s2s_config *c = &b->m->cfg;
	size_t R = (size_t)b->max_rows, K = (size_t)s2s_config_enc_out(c);
	b->sents = calloc(R, sizeof(*b->sents));
	b->prev = calloc(R, sizeof(*b->prev));
	b->stats = calloc(R, sizeof(*b->stats));
	b->rw = calloc(R, sizeof(*b->rw));
	b->gather = calloc(R, sizeof(*b->gather));
	b->fin_h = calloc(R * c->enc_layers * K, sizeof(float));
	b->fin_c = calloc(R * c->enc_layers * K, sizeof(float));
	b->bridge_tmp = calloc(s2s__bridge_tmp_floats(b->m, b->max_rows), sizeof(float));
	b->enc_src = calloc(R, sizeof(*b->enc_src));
	b->enc_len = calloc(R, sizeof(*b->enc_len));
	b->enc_mem = calloc(R, sizeof(*b->enc_mem));
	b->row_search = calloc(R, sizeof(*b->row_search));
	b->row_live = calloc(R, sizeof(*b->row_live));
	if (!b->row_search || !b->row_live ||
	    !b->sents || !b->prev || !b->stats || !b->rw || !b->gather || !b->fin_h || !b->fin_c ||
	    !b->bridge_tmp || !b->enc_src || !b->enc_len || !b->enc_mem)
		return S2S_ENOMEM;
	if (s2s__decoder_init(&b->dec, b->m, b->max_rows) ||
	    s2s__dec_state_init(&b->st[0], b->m, b->max_rows) ||
	    s2s__dec_state_init(&b->st[1], b->m, b->max_rows))
		return S2S_ENOMEM;
	return 0;
}

int s2s_batch_new(s2s_model *model, int max_rows, s2s_batch **out, s2s_error *err)
{
	*out = NULL;
	if (!model || max_rows < 1 || max_rows > (1 << 20))
		return s2s__error_set(err, S2S_EINVAL, "max_rows %d is outside 1..1048576",
		                      max_rows);
	s2s_batch *b = calloc(1, sizeof(*b));
	if (!b)
		return s2s__error_set(err, S2S_ENOMEM, "cannot allocate a batch");
	b->m = s2s_model_ref(model);
	b->max_rows = max_rows;
	s2s__encoder_init(&b->enc);
	if (s2s__batch_alloc(b) < 0) {
		s2s_batch_free(b);
		return s2s__error_set(err, S2S_ENOMEM, "cannot allocate a batch of %d rows",
		                      max_rows);
	}
	*out = b;
	return 0;
}

void s2s_batch_free(s2s_batch *b)
{
	if (!b)
		return;
	for (int i = 0; i < b->nsent; i++)
		s2s__sent_free(b->sents[i]);
	for (int i = 0; i < b->ndone; i++)
		s2s_result_free(b->done[i]);
	free(b->done);
	free(b->sents);
	free(b->prev);
	free(b->stats);
	free(b->rw);
	free(b->gather);
	free(b->fin_h);
	free(b->fin_c);
	free(b->bridge_tmp);
	free(b->enc_src);
	free(b->enc_len);
	free(b->enc_mem);
	free(b->row_search);
	free(b->row_live);
	s2s__encoder_deinit(&b->enc);
	s2s__decoder_deinit(&b->dec);
	s2s__dec_state_deinit(&b->st[0]);
	s2s__dec_state_deinit(&b->st[1]);
	s2s_model_unref(b->m);
	free(b);
}

int s2s_batch_rows_free(const s2s_batch *b)
{
	return b->max_rows - b->rows_reserved;
}

int s2s_batch_active(const s2s_batch *b)
{
	return b->nsent;
}

/*
 * T = min(max_len, floor(a n) + b), at least one step; scoring (force_eos)
 * takes exactly the prefix and </s> (§7.6).
 */
static int s2s__max_steps(const s2s_decode_options *o, int n)
{
	if (o->force_eos)
		return o->n_prefix + 1;
	double t = floor((double)o->max_len_a * n) + o->max_len_b;
	if (t > o->max_len)
		t = o->max_len;
	return t < 1 ? 1 : (int)t;
}

/* The §7 controls against the model: target ids, top-k, attention, T (§7.6, Bounds). */
static int s2s__check_controls(const s2s_model *m, const s2s_decode_options *o, int T,
                               s2s_error *err)
{
	int V = m->cfg.tgt_vocab_size;
	for (int k = 0; k < o->n_suppress; k++) {
		int32_t w = o->suppress[k];
		if (w < 0 || w >= V)
			return s2s__error_set(err, S2S_EINVAL,
			                      "suppress id %d outside the target vocabulary (0..%d)",
			                      (int)w, V - 1);
		if (w == S2S_PAD || w == S2S_BOS || w == S2S_EOS)
			return s2s__error_set(err, S2S_EINVAL,
			                      "suppress id %d is <pad>, <s> or </s>, which cannot be "
			                      "suppressed", (int)w);
	}
	for (int k = 0; k < o->n_prefix; k++) {
		int32_t w = o->prefix[k];
		if (w < 0 || w >= V || w == S2S_PAD || w == S2S_BOS || w == S2S_EOS)
			return s2s__error_set(err, S2S_EINVAL,
			                      "prefix id %d at position %d is outside 0..%d or is "
			                      "<pad>, <s> or </s>", (int)w, k, V - 1);
	}
	if (o->sampling_topk > V)
		return s2s__error_set(err, S2S_EINVAL,
		                      "sampling_topk %d is more than the target vocabulary (%d)",
		                      o->sampling_topk, V);
	if (o->coverage_penalty > 0.0f && m->cfg.attention == S2S_ATTN_NONE)
		return s2s__error_set(err, S2S_EINVAL,
		                      "coverage_penalty needs a model with attention; this one has none");
	if (o->n_prefix > T - 1)
		return s2s__error_set(err, S2S_EINVAL,
		                      "prefix of %d tokens leaves no step within max_length %d",
		                      o->n_prefix, T);
	return 0;
}

static int s2s__check_src(const s2s_model *m, const int32_t *src, int n,
                          const s2s_decode_options *o, s2s_error *err)
{
	if (n <= 0)
		return s2s__error_set(err, S2S_EEMPTY, "the source sentence has no tokens");
	if (n > S2S_MAX_SOURCE)
		return s2s__error_set(err, S2S_ETOOLONG, "the source has %d tokens, more than %d", n,
		                      S2S_MAX_SOURCE);
	for (int i = 0; i < n; i++)
		if (src[i] < 0 || src[i] >= m->cfg.src_vocab_size)
			return s2s__error_set(err, S2S_EINVAL,
			                      "source id %d at position %d is outside 0..%d",
			                      (int)src[i], i, m->cfg.src_vocab_size - 1);
	if (o->sentinel_ph < 0 || o->sentinel_ph > m->sentinels.n_ph || o->sentinel_pairs < 0 ||
	    o->sentinel_pairs > m->sentinels.n_pairs)
		return s2s__error_set(err, S2S_EINVAL,
		                      "sentinel_ph %d / sentinel_pairs %d exceed the model's %d / %d",
		                      o->sentinel_ph, o->sentinel_pairs, m->sentinels.n_ph,
		                      m->sentinels.n_pairs);
	return s2s__check_controls(m, o, s2s__max_steps(o, n), err);
}

/*
 * A model with sentinel tokens decodes every sentence constrained: one
 * without spans must not emit a sentinel either (its text would be lost).
 */
static bool s2s__has_sentinels(const s2s_model *m)
{
	return m->sentinels.n_ph > 0 || m->sentinels.n_pairs > 0;
}

static s2s__sent *s2s__sent_new(const s2s_model *m, const int32_t *src, int n,
                                const s2s_decode_options *o, void *user)
{
	s2s__sent *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	int K = s2s_config_enc_out(&m->cfg), kd = s2s__attn_key_dim(m);
	s->user = user;
	s->o = *o;
	s->n = n;
	s->src = malloc((size_t)n * sizeof(int32_t));
	s->mem = malloc((size_t)n * K * sizeof(float));
	s->keys = kd ? malloc((size_t)n * kd * sizeof(float)) : NULL;
	bool attn = m->cfg.attention != S2S_ATTN_NONE;
	if (!s->src || !s->mem || (kd && !s->keys) ||
	    s2s__search_init(&s->s, o, s2s__max_steps(o, n), n, m->cfg.tgt_vocab_size, attn) < 0 ||
	    (s2s__has_sentinels(m) &&
	     s2s__search_constrain(&s->s, &m->sentinels, o->sentinel_ph, o->sentinel_pairs) < 0)) {
		s2s__sent_free(s);
		return NULL;
	}
	memcpy(s->src, src, (size_t)n * sizeof(int32_t));
	return s;
}

int s2s_batch_add(s2s_batch *b, const int32_t *src, int n, const s2s_decode_options *o, void *user,
                  s2s_error *err)
{
	int rc = s2s_decode_options_check(o, err);
	if (rc < 0)
		return rc;
	if ((rc = s2s__check_src(b->m, src, n, o, err)) < 0)
		return rc;
	if (s2s_batch_rows_free(b) < o->beam_size)
		return s2s__error_set(err, S2S_EFULL, "the batch has %d free rows, beam_size is %d",
		                      s2s_batch_rows_free(b), o->beam_size);
	s2s__sent *s = s2s__sent_new(b->m, src, n, o, user);
	if (!s)
		return s2s__error_set(err, S2S_ENOMEM, "cannot allocate a sentence of %d tokens",
		                      n);
	s->handle = b->next_handle;
	b->next_handle = b->next_handle == 0x7fffffff ? 0 : b->next_handle + 1;
	b->sents[b->nsent++] = s;
	b->rows_reserved += o->beam_size;
	return s->handle;
}

/* Encodes every queued sentence in one pass and appends its start row. */
static int s2s__encode_newcomers(s2s_batch *b, int *rows)
{
	const s2s_model *m = b->m;
	int first = b->nsent, count = 0;
	while (first > 0 && !b->sents[first - 1]->encoded)
		first--;
	for (int i = first; i < b->nsent; i++, count++) {
		b->enc_src[count] = b->sents[i]->src;
		b->enc_len[count] = b->sents[i]->n;
		b->enc_mem[count] = b->sents[i]->mem;
	}
	if (count == 0)
		return 0;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (s2s__encode(m, &b->enc, count, b->enc_src, b->enc_len, b->enc_mem, b->fin_h, b->fin_c) <
	    0)
		return S2S_ENOMEM;
	s2s__dec_state *st = &b->st[b->cur];
	long D = m->cfg.dec_hidden, stride = (long)b->max_rows * D;
	s2s__bridge(m, count, b->fin_h, b->fin_c, st->h + *rows * D, st->c + *rows * D, stride,
	            b->bridge_tmp);
	memset(st->feed + *rows * D, 0, (size_t)count * D * sizeof(float));
	double ms = s2s__ms_since(&t0);
	for (int i = first; i < b->nsent; i++) {
		s2s__sent *s = b->sents[i];
		if (s->keys)
			s2s__attn_keys(m, s->n, s->mem, s->keys);
		s->encoded = true;
		s->row0 = (*rows)++;
		s->encode_ms = ms;
		s->t0 = t0;
	}
	return 0;
}

/*
 * Fills each row's previous token and attention target; grows history;
 * notes the rows whose logits need §7.1's processors, with their histories.
 */
static int s2s__prepare_rows(s2s_batch *b)
{
	b->any_proc = false;
	for (int j = 0; j < b->nsent; j++) {
		s2s__sent *s = b->sents[j];
		if (s2s__search_reserve(&s->s) < 0)
			return S2S_ENOMEM;
		if (s->s.t == 0)
			clock_gettime(CLOCK_MONOTONIC, &s->t0);
		if (s->s.proc) {
			s2s__search_histories(&s->s);
			b->any_proc = true;
		}
		for (int i = 0; i < s->s.live; i++) {
			int r = s->row0 + i;
			b->row_search[r] = s->s.proc ? &s->s : NULL;
			b->row_live[r] = i;
			b->prev[r] = s->s.live_tok[i];
			b->rw[r].mem = s->mem;
			b->rw[r].keys = s->keys;
			b->rw[r].n = s->n;
			b->rw[r].alpha = s2s__search_attn_row(&s->s, i);
		}
	}
	return 0;
}

/* Copies rows gather[0..rows) of the current state into the other buffer. */
static void s2s__gather_state(s2s_batch *b, int rows)
{
	bool same = true;
	for (int r = 0; r < rows && same; r++)
		same = b->gather[r] == r;
	if (same)
		return; /* the common greedy case: nothing moved */
	const s2s_config *c = &b->m->cfg;
	size_t D = (size_t)c->dec_hidden, stride = (size_t)b->max_rows * D;
	s2s__dec_state *from = &b->st[b->cur], *to = &b->st[b->cur ^ 1];
	bool lstm = c->cell == S2S_CELL_LSTM;
	for (int r = 0; r < rows; r++) {
		size_t dst = r * D, src = (size_t)b->gather[r] * D;
		for (int l = 0; l < c->dec_layers; l++) {
			memcpy(to->h + l * stride + dst, from->h + l * stride + src,
			       D * sizeof(float));
			if (lstm)
				memcpy(to->c + l * stride + dst, from->c + l * stride + src,
				       D * sizeof(float));
		}
		memcpy(to->feed + dst, from->feed + src, D * sizeof(float));
	}
	b->cur ^= 1;
}

static int s2s__push_done(s2s_batch *b, s2s_result *r)
{
	if (b->ndone == b->cap_done) {
		int cap = b->cap_done ? 2 * b->cap_done : 16;
		s2s_result **d = realloc(b->done, (size_t)cap * sizeof(*d));
		if (!d)
			return S2S_ENOMEM;
		b->done = d;
		b->cap_done = cap;
	}
	b->done[b->ndone++] = r;
	return 0;
}

/* Turns a finished sentence into a result on the done queue. */
static int s2s__retire(s2s_batch *b, s2s__sent *s)
{
	s2s_result *r = calloc(1, sizeof(*r));
	if (!r)
		return S2S_ENOMEM;
	r->user = s->user;
	r->n_src = s->n;
	r->steps = s->s.t;
	r->encode_ms = s->encode_ms;
	r->decode_ms = s2s__ms_since(&s->t0);
	if (s2s__search_result(&s->s, s->o.n_best, s->o.attention, r) < 0 ||
	    s2s__push_done(b, r) < 0) {
		s2s_result_free(r);
		return S2S_ENOMEM;
	}
	return 0;
}

typedef struct {
	float *logits;
	s2s__row_stats *stats;
	int V;
	s2s__search *const *row_search; /* NULL: no row has processors this step */
	const int *row_live;
} s2s__stats_job;

static void s2s__stats_rows(void *ctx, int begin, int end)
{
	const s2s__stats_job *j = ctx;
	for (int r = begin; r < end; r++) {
		s2s__row_stats *st = &j->stats[r];
		/* §7.1 before the statistics, per row: the split still changes nothing. */
		if (j->row_search && j->row_search[r])
			s2s__search_process(j->row_search[r], j->row_live[r],
			                    j->logits + (size_t)r * j->V);
		st->arg = s2s__logsoftmax_stats(j->logits + (size_t)r * j->V, j->V, &st->max, &st->lse);
	}
}

/*
 * Every row's log-softmax statistics, rows split over the kernels' threads
 * (each row alone decides its own, so the split changes nothing).
 */
static void s2s__row_statistics(s2s_batch *b, int rows)
{
	s2s__stats_job j = {.logits = b->dec.logits,
	                    .stats = b->stats,
	                    .V = b->m->cfg.tgt_vocab_size,
	                    .row_search = b->any_proc ? b->row_search : NULL,
	                    .row_live = b->row_live};
	s2s__parallel_for(rows, rows >= 8 ? s2s__kernel_threads() : 1, s2s__stats_rows, &j);
}

/* Selection for every sentence, then the dense re-layout of the rows. */
static int s2s__advance(s2s_batch *b)
{
	int V = b->m->cfg.tgt_vocab_size, nr = 0, keep = 0, rc = 0;
	for (int j = 0; j < b->nsent; j++) {
		s2s__sent *s = b->sents[j];
		const float *z = b->dec.logits + (size_t)s->row0 * V;
		if (b->hook)
			for (int i = 0; i < s->s.live; i++)
				b->hook(b->hook_ctx, s->user, s->s.t, i, z + (size_t)i * V, V);
		if (s2s__search_step(&s->s, z, b->stats + s->row0)) {
			if (rc == 0)
				rc = s2s__retire(b, s);
			b->rows_reserved -= s->o.beam_size;
			s2s__sent_free(s);
			continue;
		}
		for (int i = 0; i < s->s.live; i++)
			b->gather[nr + i] = s->row0 + s->s.live_parent[i];
		s->row0 = nr;
		nr += s->s.live;
		b->sents[keep++] = s;
	}
	b->nsent = keep;
	s2s__gather_state(b, nr);
	return rc;
}

int s2s_batch_step(s2s_batch *b, s2s_error *err)
{
	int rows = 0;
	for (int j = 0; j < b->nsent; j++)
		if (b->sents[j]->encoded)
			rows += b->sents[j]->s.live;
	if (s2s__encode_newcomers(b, &rows) < 0 || s2s__prepare_rows(b) < 0)
		return s2s__error_set(err, S2S_ENOMEM, "out of memory in a decoder step");
	if (rows == 0)
		return b->nsent;
	s2s__decoder_step(b->m, &b->dec, &b->st[b->cur], rows, b->prev, b->rw);
	s2s__row_statistics(b, rows);
	if (s2s__advance(b) < 0)
		return s2s__error_set(err, S2S_ENOMEM, "out of memory building a result");
	return b->nsent;
}

s2s_result *s2s_batch_take_finished(s2s_batch *b)
{
	if (b->ndone == 0)
		return NULL;
	s2s_result *r = b->done[0];
	memmove(b->done, b->done + 1, (size_t)(b->ndone - 1) * sizeof(*b->done));
	b->ndone--;
	return r;
}

int s2s_batch_cancel(s2s_batch *b, int handle)
{
	int j = 0;
	while (j < b->nsent && b->sents[j]->handle != handle)
		j++;
	if (j == b->nsent)
		return S2S_ENOTFOUND;
	s2s__sent *gone = b->sents[j];
	int nr = 0, keep = 0;
	for (int k = 0; k < b->nsent; k++) {
		s2s__sent *s = b->sents[k];
		if (s == gone || !s->encoded) {
			if (s != gone)
				b->sents[keep++] = s;
			continue;
		}
		for (int i = 0; i < s->s.live; i++)
			b->gather[nr + i] = s->row0 + i;
		s->row0 = nr;
		nr += s->s.live;
		b->sents[keep++] = s;
	}
	b->nsent = keep;
	b->rows_reserved -= gone->o.beam_size;
	s2s__sent_free(gone);
	s2s__gather_state(b, nr);
	return 0;
}
