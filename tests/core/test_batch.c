/*
 * test_batch.c - the continuous batch: sentences decoded together (of
 * different lengths, greedy and beam mixed, joining at later steps,
 * cancelled midway) give exactly what each gives alone; admission errors.
 * Uses hand-built random models, so it needs neither the loader nor PyTorch
 * (numerical parity with PyTorch is test_parity's job).
 */
#include <cblas.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s2s_decode.h"
#include "toy_model.h"

#define NS 7
static const int32_t S0[] = {4, 5, 6, 7, 8, 9, 10, 11, 12};
static const int32_t S1[] = {13};
static const int32_t S2[] = {20, 4, 22, 7};
static const int32_t S3[] = {5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5};
static const int32_t S4[] = {3, 2};
static const int32_t S5[] = {17, 18, 19, 21, 9, 1};
static const int32_t S6[] = {0, 14, 15};
static const int32_t *const SRC[NS] = {S0, S1, S2, S3, S4, S5, S6};
static const int LEN[NS] = {9, 1, 4, 12, 2, 6, 3};

/* |a - b| within tol, relative beyond magnitude 1 (sums of many log-probabilities). */
static void near(double a, double b, double tol, const char *what, int i, const char *field)
{
	double scale = fabs(b) > 1.0 ? fabs(b) : 1.0;
	cr_assert(fabs(a - b) <= tol * scale, "%s sentence %d: %s %.9g vs %.9g", what, i, field, a,
	          b);
}

/* Fails unless two results agree: same tokens, attention within 1e-5,
 * log-probabilities and scores within S2S_BATCH_TOL. A sentence decoded in a
 * batch goes through sgemm with other rows, alone through a one-row product,
 * so the summation order differs; the toy model's large weights amplify that
 * over the recurrent steps: the largest difference measured was 7.7e-6 at -O2
 * and 1.18e-5 in the --enable-sanitizers build (different code generation),
 * so 1e-5 failed there. 3e-5 keeps a margin; a wrong row or token is off by
 * orders of magnitude more. */
#define S2S_BATCH_TOL 3e-5
static void same_result(const s2s_result *a, const s2s_result *b, const char *what, int i)
{
	cr_assert_eq(a->n_hyps, b->n_hyps, "%s sentence %d: n_hyps %d vs %d", what, i, a->n_hyps,
	             b->n_hyps);
	for (int h = 0; h < a->n_hyps; h++) {
		const s2s_hypothesis *x = &a->hyps[h], *y = &b->hyps[h];
		cr_assert_eq(x->n, y->n, "%s sentence %d hyp %d: length %d vs %d", what, i, h, x->n,
		             y->n);
		cr_assert_eq(x->finished, y->finished);
		for (int t = 0; t < x->n; t++) {
			cr_assert_eq(x->ids[t], y->ids[t], "%s sentence %d hyp %d step %d", what, i,
			             h, t);
			near(x->logprobs[t], y->logprobs[t], S2S_BATCH_TOL, what, i, "logprob");
		}
		near(x->score, y->score, S2S_BATCH_TOL, what, i, "score");
		near(x->norm_score, y->norm_score, S2S_BATCH_TOL, what, i, "norm_score");
		cr_assert_eq(x->attention == NULL, y->attention == NULL);
		for (int k = 0; x->attention && k < x->n * a->n_src; k++)
			cr_assert_float_eq(x->attention[k], y->attention[k], 1e-5);
	}
}

static s2s_result *alone(s2s_model *m, int i, const s2s_decode_options *o)
{
	s2s_result *r = NULL;
	s2s_error err = {0};
	int rc = s2s_translate_ids(m, &SRC[i], &LEN[i], 1, o, &r, &err);
	cr_assert_eq(rc, 0, "translate sentence %d: %s", i, err.message);
	return r;
}

static s2s_decode_options opts(int beam, float alpha)
{
	s2s_decode_options o;
	s2s_decode_options_init(&o);
	o.beam_size = beam;
	o.n_best = beam > 1 ? 2 : 1;
	o.length_penalty = alpha;
	o.max_len_a = 1.5f;
	o.max_len_b = 3;
	return o;
}

/* All sentences in one s2s_translate_ids call equal each alone. */
static void check_batch_equals_single(const s2s_config *c, int beam)
{
	s2s_model *m = toy_model_new(c, 1234u, 1.5f);
	s2s_decode_options o = opts(beam, 0.6f);
	s2s_result *all[NS];
	s2s_error err = {0};
	cr_assert_eq(s2s_translate_ids(m, SRC, LEN, NS, &o, all, &err), 0, "%s", err.message);
	int lengths = 0;
	for (int i = 0; i < NS; i++) {
		s2s_result *one = alone(m, i, &o);
		same_result(all[i], one, "batch", i);
		lengths |= 1 << (all[i]->hyps[0].n % 16);
		s2s_result_free(one);
		s2s_result_free(all[i]);
	}
	cr_assert(lengths & (lengths - 1), "all outputs have one length: the test proves little");
	toy_model_free(m);
}

Test(batch, lstm_additive_luong_feed_bidir_greedy)
{
	s2s_config c = toy_config();
	check_batch_equals_single(&c, 1);
}

Test(batch, lstm_additive_luong_feed_bidir_beam)
{
	s2s_config c = toy_config();
	check_batch_equals_single(&c, 4);
}

Test(batch, gru_general_bahdanau_reversed_last_bridge)
{
	s2s_config c = toy_config();
	c.cell = S2S_CELL_GRU;
	c.attention = S2S_ATTN_GENERAL;
	c.placement = S2S_PLACE_BAHDANAU;
	c.input_feed = false;
	c.reverse_source = true;
	c.bridge = S2S_BRIDGE_LAST;
	c.dec_hidden = 12; /* == K */
	check_batch_equals_single(&c, 3);
}

Test(batch, rnn_dot_and_none)
{
	s2s_config c = toy_config();
	c.cell = S2S_CELL_RNN_TANH;
	c.bidirectional = false;
	c.enc_layers = 1;
	c.dec_layers = 1;
	c.attention = S2S_ATTN_DOT;
	c.dec_hidden = 6;
	c.input_feed = false;
	c.bridge = S2S_BRIDGE_ZEROS;
	check_batch_equals_single(&c, 3);
	c.cell = S2S_CELL_RNN_RELU;
	c.attention = S2S_ATTN_NONE;
	c.tie_embeddings = true;
	c.emb_dim = 6;
	check_batch_equals_single(&c, 2);
}

/* Greedy and beam sentences share one batch; some join at later steps. */
Test(batch, mixed_and_joining_midway)
{
	s2s_config c = toy_config();
	s2s_model *m = toy_model_new(&c, 99u, 1.5f);
	s2s_batch *b;
	s2s_error err = {0};
	cr_assert_eq(s2s_batch_new(m, 64, &b, &err), 0);
	s2s_decode_options o[NS];
	s2s_result *got[NS] = {0};
	for (int i = 0; i < NS; i++)
		o[i] = opts(i % 3 == 0 ? 1 : 2 + i % 4, i % 2 ? 0.6f : 0.0f);
	int added = 0, steps = 0;
	while (added < NS || s2s_batch_active(b) > 0) {
		/* Two sentences join now, then one more every other step. */
		for (int k = 0; k < (steps == 0 ? 2 : steps % 2) && added < NS; k++, added++)
			cr_assert_geq(s2s_batch_add(b, SRC[added], LEN[added], &o[added],
			                            (void *)(intptr_t)added, &err),
			              0, "%s", err.message);
		cr_assert_geq(s2s_batch_step(b, &err), 0);
		steps++;
		s2s_result *r;
		while ((r = s2s_batch_take_finished(b)) != NULL)
			got[(intptr_t)r->user] = r;
	}
	for (int i = 0; i < NS; i++) {
		cr_assert_not_null(got[i]);
		s2s_result *one = alone(m, i, &o[i]);
		same_result(got[i], one, "mixed", i);
		s2s_result_free(one);
		s2s_result_free(got[i]);
	}
	s2s_batch_free(b);
	toy_model_free(m);
}

Test(batch, cancel_midway_leaves_others_unchanged)
{
	s2s_config c = toy_config();
	s2s_model *m = toy_model_new(&c, 7u, 1.5f);
	s2s_batch *b;
	s2s_error err = {0};
	s2s_decode_options o = opts(3, 0.0f);
	cr_assert_eq(s2s_batch_new(m, 3 * NS, &b, &err), 0);
	int handle[NS];
	for (int i = 0; i < NS; i++)
		handle[i] = s2s_batch_add(b, SRC[i], LEN[i], &o, (void *)(intptr_t)i, &err);
	cr_assert_eq(s2s_batch_rows_free(b), 0);
	cr_assert_eq(s2s_batch_add(b, SRC[0], 1, &o, NULL, &err), S2S_EFULL);
	s2s_result *got[NS] = {0};
	cr_assert_geq(s2s_batch_step(b, &err), 0);
	cr_assert_geq(s2s_batch_step(b, &err), 0);
	cr_assert_eq(s2s_batch_cancel(b, handle[3]), 0);
	cr_assert_eq(s2s_batch_cancel(b, handle[3]), S2S_ENOTFOUND);
	cr_assert_geq(s2s_batch_rows_free(b), 3);
	while (s2s_batch_active(b) > 0) {
		cr_assert_geq(s2s_batch_step(b, &err), 0);
		s2s_result *r;
		while ((r = s2s_batch_take_finished(b)) != NULL)
			got[(intptr_t)r->user] = r;
	}
	cr_assert_null(got[3]);
	for (int i = 0; i < NS; i++) {
		if (i == 3)
			continue;
		s2s_result *one = alone(m, i, &o);
		same_result(got[i], one, "cancel", i);
		s2s_result_free(one);
		s2s_result_free(got[i]);
	}
	s2s_batch_free(b);
	toy_model_free(m);
}

Test(batch, admission_errors_name_the_problem)
{
	s2s_config c = toy_config();
	s2s_model *m = toy_model_new(&c, 5u, 1.5f);
	s2s_batch *b;
	s2s_error err = {0};
	s2s_decode_options o = opts(2, 0.0f);
	cr_assert_eq(s2s_batch_new(m, 2, &b, &err), 0);
	cr_assert_eq(s2s_batch_add(b, S0, 0, &o, NULL, &err), S2S_EEMPTY);
	s2s_error_clear(&err);
	int32_t bad[] = {4, 23};
	cr_assert_eq(s2s_batch_add(b, bad, 2, &o, NULL, &err), S2S_EINVAL);
	cr_assert(strstr(err.message, "position 1") != NULL, "%s", err.message);
	s2s_error_clear(&err);
	static int32_t long_src[S2S_MAX_SOURCE + 1];
	for (int i = 0; i <= S2S_MAX_SOURCE; i++)
		long_src[i] = 4;
	cr_assert_eq(s2s_batch_add(b, long_src, S2S_MAX_SOURCE + 1, &o, NULL, &err), S2S_ETOOLONG);
	s2s_error_clear(&err);
	o.n_best = 3;
	cr_assert_eq(s2s_batch_add(b, S0, 1, &o, NULL, &err), S2S_EINVAL);
	cr_assert(strstr(err.message, "n_best") != NULL, "%s", err.message);
	o = opts(3, 0.0f);
	cr_assert_eq(s2s_batch_add(b, S0, 1, &o, NULL, &err), S2S_EFULL);
	o = opts(2, 0.0f);
	cr_assert_eq(s2s_batch_add(b, S0, 1, &o, NULL, &err), 0);
	cr_assert_eq(s2s_batch_active(b), 1);
	s2s_batch_free(b); /* drops the unfinished sentence */
	toy_model_free(m);
}

/* Lengths, scores and the T rule of §7 on the results themselves. */
Test(batch, results_follow_the_decoding_rules)
{
	s2s_config c = toy_config();
	s2s_model *m = toy_model_new(&c, 1234u, 1.5f);
	s2s_decode_options o = opts(4, 0.6f);
	o.n_best = 4;
	for (int i = 0; i < NS; i++) {
		s2s_result *r = alone(m, i, &o);
		int T = (int)floorf(1.5f * LEN[i]) + 3;
		cr_assert_leq(r->steps, T);
		for (int h = 0; h < r->n_hyps; h++) {
			const s2s_hypothesis *y = &r->hyps[h];
			float sum = 0.0f;
			for (int t = 0; t < y->n; t++) {
				sum += y->logprobs[t];
				cr_assert_eq(y->ids[t] == 3, y->finished && t == y->n - 1);
				float rowsum = 0.0f;
				for (int j = 0; j < LEN[i]; j++)
					rowsum += y->attention[t * LEN[i] + j];
				cr_assert_float_eq(rowsum, 1.0f, 1e-5);
			}
			cr_assert(y->finished || y->n == T);
			cr_assert_float_eq(y->score, sum, 1e-4);
			cr_assert_float_eq(y->norm_score,
			                   y->score / powf((5.0f + y->n) / 6.0f, 0.6f), 1e-5);
			if (h > 0)
				cr_assert_geq(r->hyps[h - 1].norm_score, y->norm_score);
		}
		s2s_result_free(r);
	}
	toy_model_free(m);
}

Test(batch, attention_off_gives_the_same_tokens_and_no_matrices)
{
	s2s_config c = toy_config();
	s2s_model *m = toy_model_new(&c, 1234u, 1.5f);
	s2s_decode_options on = opts(3, 0.6f), off = on;
	off.attention = false;
	for (int i = 0; i < NS; i++) {
		s2s_result *a = alone(m, i, &on), *b = alone(m, i, &off);
		cr_assert_not_null(a->hyps[0].attention);
		cr_assert_null(b->hyps[0].attention);
		for (int h = 0; h < a->n_hyps; h++) {
			free(a->hyps[h].attention);
			a->hyps[h].attention = NULL;
		}
		same_result(a, b, "attention off", i);
		s2s_result_free(a);
		s2s_result_free(b);
	}
	toy_model_free(m);
}

Test(batch, unk_sources_pick_the_most_attended_source_token)
{
	int32_t ids[3] = {1, 7, 1};
	float att[3 * 4] = {0.1f, 0.4f, 0.4f, 0.1f, /* tie: first wins */
	                    0.9f, 0.0f, 0.0f, 0.1f, 0.0f, 0.2f, 0.3f, 0.5f};
	s2s_hypothesis h = {.n = 3, .ids = ids, .attention = att};
	int32_t out[3];
	s2s_hypothesis_unk_sources(&h, 4, out);
	cr_assert_eq(out[0], 1);
	cr_assert_eq(out[1], -1, "not an <unk>");
	cr_assert_eq(out[2], 3);
	h.attention = NULL;
	s2s_hypothesis_unk_sources(&h, 4, out);
	cr_assert_eq(out[0], -1, "no attention, no source");
}

/* A queued sentence can be cancelled before it is encoded; rows come back. */
Test(batch, cancel_before_encoding_and_rows_reused)
{
	s2s_config c = toy_config();
	s2s_model *m = toy_model_new(&c, 3u, 1.5f);
	s2s_batch *b;
	s2s_error err = {0};
	s2s_decode_options o = opts(2, 0.0f);
	cr_assert_eq(s2s_batch_new(m, 4, &b, &err), 0);
	cr_assert_eq(s2s_batch_step(b, &err), 0, "an empty batch steps to nothing");
	int h0 = s2s_batch_add(b, SRC[0], LEN[0], &o, (void *)0, &err);
	int h1 = s2s_batch_add(b, SRC[1], LEN[1], &o, (void *)1, &err);
	cr_assert_eq(s2s_batch_rows_free(b), 0);
	cr_assert_eq(s2s_batch_cancel(b, h1), 0);
	cr_assert_eq(s2s_batch_rows_free(b), 2);
	cr_assert_geq(s2s_batch_add(b, SRC[2], LEN[2], &o, (void *)2, &err), 0);
	s2s_result *got[3] = {0};
	while (s2s_batch_active(b) > 0) {
		cr_assert_geq(s2s_batch_step(b, &err), 0);
		s2s_result *r;
		while ((r = s2s_batch_take_finished(b)) != NULL)
			got[(intptr_t)r->user] = r;
		if (got[2] && !got[1] && s2s_batch_rows_free(b) >= 2)
			cr_assert_geq(s2s_batch_add(b, SRC[1], LEN[1], &o, (void *)1, &err), 0);
	}
	cr_assert_eq(s2s_batch_cancel(b, h0), S2S_ENOTFOUND, "finished sentences are gone");
	for (int i = 0; i < 3; i++) {
		cr_assert_not_null(got[i], "sentence %d", i);
		s2s_result *one = alone(m, i, &o);
		same_result(got[i], one, "reuse", i);
		s2s_result_free(one);
		s2s_result_free(got[i]);
	}
	s2s_batch_free(b);
	toy_model_free(m);
}

/* Fails unless two results are the same bits: tokens, log-probabilities, scores, attention. */
static void identical_result(const s2s_result *a, const s2s_result *b, const char *what, int i)
{
	cr_assert_eq(a->n_hyps, b->n_hyps, "%s sentence %d", what, i);
	for (int h = 0; h < a->n_hyps; h++) {
		const s2s_hypothesis *x = &a->hyps[h], *y = &b->hyps[h];
		cr_assert_eq(x->n, y->n, "%s sentence %d hyp %d", what, i, h);
		cr_assert_eq(memcmp(x->ids, y->ids, sizeof *x->ids * (size_t)x->n), 0,
		             "%s sentence %d hyp %d: tokens", what, i, h);
		cr_assert_eq(memcmp(x->logprobs, y->logprobs, sizeof *x->logprobs * (size_t)x->n), 0,
		             "%s sentence %d hyp %d: log-probabilities", what, i, h);
		cr_assert_eq(memcmp(&x->score, &y->score, sizeof x->score), 0, "%s %d: score", what, i);
		cr_assert_eq(x->attention == NULL, y->attention == NULL);
		if (x->attention)
			cr_assert_eq(memcmp(x->attention, y->attention,
			                    sizeof *x->attention * (size_t)x->n * (size_t)a->n_src),
			             0, "%s sentence %d hyp %d: attention", what, i, h);
	}
}

/*
 * The packed products give every row one fixed chain of multiply-adds, and
 * all other work is per row, so a sentence's result is the same bits alone
 * on one thread as in a batch split over two (products by panel, rows of
 * attention, cells and statistics by row).
 */
static void check_bit_identical(const s2s_config *c, int beam)
{
	s2s_model *m = toy_model_new(c, 99u, 1.5f);
	s2s_decode_options o = opts(beam, 0.6f);
	s2s_result *all[NS];
	s2s_error err = {0};
	openblas_set_num_threads(2);
	cr_assert_eq(s2s_translate_ids(m, SRC, LEN, NS, &o, all, &err), 0, "%s", err.message);
	openblas_set_num_threads(1);
	for (int i = 0; i < NS; i++) {
		s2s_result *one = alone(m, i, &o);
		identical_result(all[i], one, "2-thread batch vs 1-thread alone", i);
		s2s_result_free(one);
		s2s_result_free(all[i]);
	}
	toy_model_free(m);
}

Test(batch, batch_on_two_threads_is_bit_identical_to_alone_on_one)
{
	s2s_config c = toy_config();
	check_bit_identical(&c, 1);
	check_bit_identical(&c, 4);
	c.cell = S2S_CELL_GRU;
	c.attention = S2S_ATTN_GENERAL;
	c.placement = S2S_PLACE_BAHDANAU;
	c.input_feed = false;
	c.bridge = S2S_BRIDGE_LAST;
	c.dec_hidden = 12;
	check_bit_identical(&c, 3);
}

/* A toy model whose target ids 24..26 are <ph0..2> and 27/28 <t0>/</t0>. */
static int32_t toy_ph[] = {24, 25, 26}, toy_open[] = {27}, toy_close[] = {28};
static s2s_model *sentinel_model(unsigned seed)
{
	s2s_config c = toy_config();
	s2s_model *m = toy_model_new(&c, seed, 1.5f);
	m->sentinels = (s2s_sentinels){.n_ph = 3, .n_pairs = 1, .tgt_ph = toy_ph,
	                               .tgt_open = toy_open, .tgt_close = toy_close};
	/* Make sentinels and </s> likely, so that the constraint has work to do. */
	float *bias = (float *)m->w.out_b;
	for (int w = 24; w <= 28; w++)
		bias[w] += 12.0f;
	bias[3] += 10.0f;
	return m;
}
static void sentinel_model_free(s2s_model *m)
{
	memset(&m->sentinels, 0, sizeof m->sentinels); /* static arrays, not the model's */
	toy_model_free(m);
}

static int count_of(const s2s_hypothesis *h, int32_t id, int *at)
{
	int c = 0;
	for (int t = 0; t < h->n; t++)
		if (h->ids[t] == id) {
			c++;
			*at = t;
		}
	return c;
}

/*
 * §6 of docs/localisation.md on every hypothesis of r: returns 1 if one
 * finished. Sentinels beyond the sentence's counts are never emitted (also
 * with counts 0: a model with sentinels does not invent them).
 */
static int check_constrained(const s2s_result *r, int n_ph, int n_pairs, int i)
{
	int finished = 0;
	for (int h = 0; h < r->n_hyps; h++) {
		const s2s_hypothesis *x = &r->hyps[h];
		int need = 0, at_open = -1, at_close = -1, at;
		for (int k = 0; k < 3; k++) {
			int c = count_of(x, toy_ph[k], &at);
			cr_assert(c <= (k < n_ph ? 1 : 0), "sentence %d hyp %d: <ph%d> %d times", i, h,
			          k, c);
			need += k < n_ph && c != 1;
		}
		int co = count_of(x, toy_open[0], &at_open), cc = count_of(x, toy_close[0], &at_close);
		cr_assert(co <= n_pairs && cc <= co, "sentence %d hyp %d: <t0> %d, </t0> %d", i, h, co,
		          cc);
		cr_assert(cc == 0 || at_close > at_open, "sentence %d hyp %d: </t0> before <t0>", i, h);
		need += n_pairs && (co != 1 || cc != 1);
		if (x->finished) {
			cr_assert_eq(need, 0, "sentence %d hyp %d finished without a sentinel", i, h);
			finished = 1;
		}
	}
	return finished;
}

Test(batch, sentinel_constraint_emits_each_sentinel_once_and_nested)
{
	s2s_model *m = sentinel_model(7u);
	int finished = 0, changed = 0;
	for (int beam = 1; beam <= 4; beam += 3) {
		s2s_decode_options o = opts(beam, 0.0f), free_o = o;
		o.max_len_b = free_o.max_len_b = 12;
		o.sentinel_ph = 2;
		o.sentinel_pairs = 1;
		for (int i = 0; i < NS; i++) {
			s2s_result *r = alone(m, i, &o), *u = alone(m, i, &free_o);
			finished += check_constrained(r, 2, 1, i);
			changed += r->hyps[0].n != u->hyps[0].n ||
			           memcmp(r->hyps[0].ids, u->hyps[0].ids,
			                  sizeof(int32_t) * (size_t)r->hyps[0].n) != 0;
			s2s_result_free(r);
			s2s_result_free(u);
		}
	}
	cr_assert(finished > 0, "no constrained hypothesis finished: the test proves little");
	cr_assert(changed > 0, "the constraint changed nothing");
	sentinel_model_free(m);
}

Test(batch, sentinel_constraints_mixed_in_one_batch_equal_alone)
{
	s2s_model *m = sentinel_model(11u);
	for (int beam = 1; beam <= 3; beam += 2) {
		s2s_decode_options o[NS];
		s2s_batch *b;
		s2s_error err = {0};
		cr_assert_eq(s2s_batch_new(m, NS * beam, &b, &err), 0, "%s", err.message);
		for (int i = 0; i < NS; i++) {
			o[i] = opts(beam, 0.0f);
			o[i].max_len_b = 12;
			o[i].sentinel_ph = i % 4;
			o[i].sentinel_pairs = i % 2;
			cr_assert(s2s_batch_add(b, SRC[i], LEN[i], &o[i], (void *)(intptr_t)i, &err) >= 0,
			          "%s", err.message);
		}
		s2s_result *got[NS] = {0};
		while (s2s_batch_active(b) > 0) {
			cr_assert(s2s_batch_step(b, &err) >= 0, "%s", err.message);
			s2s_result *r;
			while ((r = s2s_batch_take_finished(b)) != NULL)
				got[(intptr_t)r->user] = r;
		}
		for (int i = 0; i < NS; i++) {
			s2s_result *one = alone(m, i, &o[i]);
			identical_result(got[i], one, "constrained batch vs alone", i);
			check_constrained(got[i], o[i].sentinel_ph, o[i].sentinel_pairs, i);
			s2s_result_free(one);
			s2s_result_free(got[i]);
		}
		s2s_batch_free(b);
	}
	sentinel_model_free(m);
}

Test(batch, sentinel_counts_beyond_the_model_are_refused)
{
	s2s_model *m = sentinel_model(3u);
	s2s_decode_options o = opts(1, 0.0f);
	o.sentinel_ph = 4;
	s2s_result *r = NULL;
	s2s_error err = {0};
	cr_assert_eq(s2s_translate_ids(m, &SRC[0], &LEN[0], 1, &o, &r, &err), S2S_EINVAL);
	cr_assert(strstr(err.message, "sentinel_ph 4") != NULL, "%s", err.message);
	o.sentinel_ph = 0;
	o.sentinel_pairs = 2;
	cr_assert_eq(s2s_translate_ids(m, &SRC[0], &LEN[0], 1, &o, &r, &err), S2S_EINVAL);
	sentinel_model_free(m);
}
