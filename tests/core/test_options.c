/*
 * test_options.c - the issue-14 decoding controls (docs/checkpoint-format.md
 * §7.1-7.6): every bound and conflict is EINVAL naming the field; each
 * option has its effect on the built-in en-fr model (or a toy model whose
 * bias makes the effect certain); scoring (force_eos) gives the bits greedy
 * and beam gave; sentences with different options sharing one batch give
 * the bits each gives alone.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logits.h"
#include "s2s_decode.h"
#include "s2s_tokenizer.h"
#include "toy_model.h"

static s2s_model *enfr;

static void open_enfr(void)
{
	char path[4096];
	const char *src = getenv("S2S_SRCDIR");
	snprintf(path, sizeof path, "%s/models/en-fr.safetensors", src && *src ? src : S2S_SRCDIR);
	s2s_error err = {0};
	cr_assert_eq(s2s_model_open(path, &enfr, &err), 0, "%s: %s", path, err.message);
}
static void close_enfr(void)
{
	s2s_model_unref(enfr);
}

/* Source ids of an English sentence; caller frees. */
static int32_t *ids_of(const char *text, int *n)
{
	s2s_tokens tok;
	s2s_error err = {0};
	cr_assert_eq(s2s_tokenize(s2s_model_src_tokenizer(enfr), s2s_model_src_vocab(enfr), text,
	                          strlen(text), &tok, &err),
	             0, "%s", err.message);
	int32_t *ids = malloc((size_t)tok.n * sizeof(int32_t));
	memcpy(ids, tok.ids, (size_t)tok.n * sizeof(int32_t));
	*n = tok.n;
	s2s_tokens_deinit(&tok);
	return ids;
}

static s2s_result *run_ids(s2s_model *m, const int32_t *ids, int n, const s2s_decode_options *o)
{
	s2s_result *r = NULL;
	s2s_error err = {0};
	cr_assert_eq(s2s_translate_ids(m, &ids, &n, 1, o, &r, &err), 0, "%s", err.message);
	return r;
}

static s2s_result *run(const char *text, const s2s_decode_options *o)
{
	int n;
	int32_t *ids = ids_of(text, &n);
	s2s_result *r = run_ids(enfr, ids, n, o);
	free(ids);
	return r;
}

static bool same_ids(const s2s_hypothesis *a, const s2s_hypothesis *b)
{
	return a->n == b->n && memcmp(a->ids, b->ids, (size_t)a->n * sizeof(int32_t)) == 0;
}

static int count_id(const s2s_hypothesis *h, int32_t id)
{
	int c = 0;
	for (int t = 0; t < h->n; t++)
		c += h->ids[t] == id;
	return c;
}

/* Whether some n-gram occurs twice in h's ids. */
static bool repeats_ngram(const s2s_hypothesis *h, int N)
{
	for (int a = 0; a + N <= h->n; a++)
		for (int b = a + 1; b + N <= h->n; b++)
			if (!memcmp(h->ids + a, h->ids + b, (size_t)N * sizeof(int32_t)))
				return true;
	return false;
}

/* Same bits: ids, log-probabilities, scores, attention. */
static void identical_hyps(const s2s_result *a, const s2s_result *b, const char *what)
{
	cr_assert_eq(a->n_hyps, b->n_hyps, "%s: n_hyps", what);
	for (int h = 0; h < a->n_hyps; h++) {
		const s2s_hypothesis *x = &a->hyps[h], *y = &b->hyps[h];
		cr_assert(same_ids(x, y), "%s hyp %d: tokens", what, h);
		cr_assert_eq(x->finished, y->finished, "%s hyp %d: finished", what, h);
		cr_assert_eq(memcmp(x->logprobs, y->logprobs, sizeof(float) * (size_t)x->n), 0,
		             "%s hyp %d: log-probabilities", what, h);
		cr_assert_eq(memcmp(&x->score, &y->score, sizeof x->score), 0, "%s: score", what);
		cr_assert_eq(memcmp(&x->norm_score, &y->norm_score, sizeof x->norm_score), 0,
		             "%s: norm_score", what);
		cr_assert_eq(x->attention == NULL, y->attention == NULL);
		if (x->attention)
			cr_assert_eq(memcmp(x->attention, y->attention,
			                    sizeof(float) * (size_t)x->n * (size_t)a->n_src),
			             0, "%s hyp %d: attention", what, h);
	}
}

/* identical_hyps, and the same alternatives. */
static void identical(const s2s_result *a, const s2s_result *b, const char *what)
{
	identical_hyps(a, b, what);
	cr_assert_eq(a->n_alternatives, b->n_alternatives, "%s: alternatives", what);
	for (int k = 0; k < a->n_alternatives; k++)
		cr_assert(a->alternatives[k].id == b->alternatives[k].id &&
		                  !memcmp(&a->alternatives[k].logprob, &b->alternatives[k].logprob,
		                          sizeof(float)),
		          "%s: alternative %d", what, k);
}

/* ---- bounds and conflicts ------------------------------------------------ */

/* o fails s2s_decode_options_check with EINVAL and a message naming `field`. */
static void refused(const s2s_decode_options *o, const char *field)
{
	s2s_error err = {0};
	cr_assert_eq(s2s_decode_options_check(o, &err), S2S_EINVAL, "%s accepted", field);
	cr_assert(strstr(err.message, field), "'%s' does not name %s", err.message, field);
}

Test(options, bounds_and_conflicts_name_the_field)
{
	s2s_decode_options d, o;
	s2s_error err = {0};
	s2s_decode_options_init(&d);
	cr_assert_eq(s2s_decode_options_check(&d, &err), 0, "%s", err.message);
	int32_t ids[2] = {5, 6};
#define BAD(field, stmt)                                                                           \
	do {                                                                                       \
		o = d;                                                                             \
		stmt;                                                                              \
		refused(&o, field);                                                                \
	} while (0)
	BAD("length_penalty_type", o.length_penalty_type = 3);
	BAD("length_penalty_type", o.length_penalty_type = -1);
	BAD("coverage_penalty", o.coverage_penalty = -0.1f);
	BAD("coverage_penalty", o.coverage_penalty = NAN);
	BAD("coverage_penalty", o.coverage_penalty = 101.0f);
	BAD("min_length", o.min_length = -1);
	BAD("min_length", o.min_length = o.max_len + 1);
	BAD("repetition_penalty", o.repetition_penalty = 0.0f);
	BAD("repetition_penalty", o.repetition_penalty = INFINITY);
	BAD("repetition_penalty", o.repetition_penalty = 100.5f);
	BAD("no_repeat_ngram_size", o.no_repeat_ngram_size = S2S_MAX_NGRAM + 1);
	BAD("no_repeat_ngram_size", o.no_repeat_ngram_size = -1);
	BAD("n_suppress", o.n_suppress = S2S_MAX_SUPPRESS + 1; o.suppress = ids);
	BAD("n_suppress", o.n_suppress = 1);
	BAD("n_prefix", o.n_prefix = -1);
	BAD("n_prefix", o.n_prefix = 2);
	BAD("sampling_topk", o.sampling_topk = -1);
	BAD("sampling_topp", o.sampling_topp = 0.0f; o.sampling_topk = 0);
	BAD("sampling_topp", o.sampling_topp = 1.5f; o.sampling_topk = 0);
	BAD("sampling_temperature", o.sampling_temperature = 0.0f; o.sampling_topk = 0);
	BAD("sampling_temperature", o.sampling_temperature = NAN; o.sampling_topk = 0);
	BAD("sampling_topp needs sampling_topk != 1", o.sampling_topp = 0.9f);
	BAD("sampling_topk != 1", o.sampling_temperature = 0.5f);
	BAD("beam_size", o.sampling_topk = 10; o.beam_size = 2; o.n_best = 1);
	BAD("return_alternatives", o.return_alternatives = 65);
	BAD("return_alternatives", o.return_alternatives = -1);
	BAD("force_eos", o.force_eos = true; o.beam_size = 2);
	BAD("force_eos", o.force_eos = true; o.sampling_topk = 0);
	BAD("force_eos", o.force_eos = true; o.min_length = 2);
	BAD("force_eos", o.force_eos = true; o.disable_unk = true);
	BAD("force_eos", o.force_eos = true; o.return_alternatives = 2);
#undef BAD
	/* Allowed together: coverage and the lp types with scoring; sampling with top-p. */
	o = d;
	o.force_eos = true;
	o.coverage_penalty = 0.3f;
	o.length_penalty_type = S2S_LP_AVG;
	cr_assert_eq(s2s_decode_options_check(&o, &err), 0, "%s", err.message);
	o = d;
	o.sampling_topk = 0;
	o.sampling_topp = 0.5f;
	o.sampling_temperature = 0.7f;
	cr_assert_eq(s2s_decode_options_check(&o, &err), 0, "%s", err.message);
}

/* s2s_batch_add refuses o for the model with EINVAL naming `what`. */
static void add_refused(s2s_model *m, const s2s_decode_options *o, const char *what)
{
	s2s_batch *b;
	s2s_error err = {0};
	int32_t src[3] = {5, 6, 7};
	cr_assert_eq(s2s_batch_new(m, 8, &b, &err), 0);
	cr_assert_eq(s2s_batch_add(b, src, 3, o, NULL, &err), S2S_EINVAL, "%s accepted", what);
	cr_assert(strstr(err.message, what), "'%s' does not name %s", err.message, what);
	s2s_batch_free(b);
}

Test(options, ids_and_model_checked_at_add, .init = open_enfr, .fini = close_enfr)
{
	int V = s2s_model_config(enfr)->tgt_vocab_size;
	s2s_decode_options d, o;
	s2s_decode_options_init(&d);
	int32_t bad[1];
	o = d;
	bad[0] = V;
	o.suppress = bad;
	o.n_suppress = 1;
	add_refused(enfr, &o, "suppress id");
	for (int32_t special = 0; special <= 3; special += 1) {
		if (special == 1)
			continue; /* <unk> may be suppressed (it is disable_unk) */
		bad[0] = special;
		add_refused(enfr, &o, "suppress id");
	}
	o = d;
	o.prefix = bad;
	o.n_prefix = 1;
	bad[0] = 3;
	add_refused(enfr, &o, "prefix id");
	bad[0] = -1;
	add_refused(enfr, &o, "prefix id");
	o = d;
	o.sampling_topk = V + 1;
	add_refused(enfr, &o, "sampling_topk");
	/* 3 source tokens: T = min(256, 6 + 10) = 16, so 16 prefix tokens leave no step. */
	int32_t pre[16];
	for (int k = 0; k < 16; k++)
		pre[k] = 8;
	o = d;
	o.prefix = pre;
	o.n_prefix = 16;
	add_refused(enfr, &o, "prefix of 16 tokens");
	o.n_prefix = 15; /* allowed: one step left */
	s2s_batch *b;
	s2s_error err = {0};
	cr_assert_eq(s2s_batch_new(enfr, 1, &b, &err), 0);
	cr_assert(s2s_batch_add(b, pre, 3, &o, NULL, &err) >= 0, "%s", err.message);
	s2s_batch_free(b);
	/* Scoring ignores max_len*: any prefix length up to the step cap. */
	o.force_eos = true;
	o.n_prefix = 16;
	o.max_len = 4;
	cr_assert_eq(s2s_batch_new(enfr, 1, &b, &err), 0);
	cr_assert(s2s_batch_add(b, pre, 3, &o, NULL, &err) >= 0, "%s", err.message);
	s2s_batch_free(b);
	/* Coverage needs attention. */
	char path[4096];
	const char *src = getenv("S2S_SRCDIR");
	snprintf(path, sizeof path, "%s/tests/fixtures/lstm_none_last_reverse.safetensors",
	         src && *src ? src : S2S_SRCDIR);
	s2s_model *none;
	cr_assert_eq(s2s_model_open(path, &none, &err), 0, "%s", err.message);
	o = d;
	o.coverage_penalty = 0.2f;
	add_refused(none, &o, "coverage_penalty");
	s2s_model_unref(none);
}

/* ---- each option's effect ------------------------------------------------ */

static s2s_decode_options greedy(void)
{
	s2s_decode_options o;
	s2s_decode_options_init(&o);
	return o;
}

static s2s_decode_options beam5(void)
{
	s2s_decode_options o;
	s2s_decode_options_init(&o);
	o.beam_size = 5;
	o.n_best = 5;
	return o;
}

/* Greedy repeats "fichier fichier ..." here; the model output is in models/en-fr.md's vocabulary. */
#define REPEATS "File File File File File File"

Test(options, no_repeat_ngram_removes_a_repetition, .init = open_enfr, .fini = close_enfr)
{
	for (int beam = 1; beam <= 5; beam += 4) {
		s2s_decode_options o = beam == 1 ? greedy() : beam5();
		s2s_result *plain = run(REPEATS, &o);
		cr_assert(repeats_ngram(&plain->hyps[0], 2), "beam %d: no repetition to remove", beam);
		o.no_repeat_ngram_size = 2;
		s2s_result *r = run(REPEATS, &o);
		for (int h = 0; h < r->n_hyps; h++)
			cr_assert(!repeats_ngram(&r->hyps[h], 2), "beam %d hyp %d repeats a bigram", beam,
			          h);
		o.no_repeat_ngram_size = 1;
		s2s_result *one = run(REPEATS, &o);
		for (int h = 0; h < one->n_hyps; h++)
			cr_assert(!repeats_ngram(&one->hyps[h], 1), "beam %d hyp %d repeats a token",
			          beam, h);
		s2s_result_free(plain);
		s2s_result_free(r);
		s2s_result_free(one);
	}
}

Test(options, repetition_penalty_reduces_repeats, .init = open_enfr, .fini = close_enfr)
{
	s2s_decode_options o = greedy();
	s2s_result *plain = run(REPEATS, &o);
	o.repetition_penalty = 3.0f;
	s2s_result *r = run(REPEATS, &o);
	cr_assert(!same_ids(&plain->hyps[0], &r->hyps[0]), "repetition_penalty changed nothing");
	int32_t fichier = plain->hyps[0].ids[3]; /* the repeated token */
	cr_assert(count_id(&r->hyps[0], fichier) < count_id(&plain->hyps[0], fichier),
	          "token %d not less frequent", fichier);
	/* θ < 1 rewards repeats: at least as many. */
	o.repetition_penalty = 0.5f;
	s2s_result *more = run(REPEATS, &o);
	cr_assert(count_id(&more->hyps[0], fichier) >= count_id(&plain->hyps[0], fichier));
	s2s_result_free(plain);
	s2s_result_free(r);
	s2s_result_free(more);
}

Test(options, min_length_lengthens, .init = open_enfr, .fini = close_enfr)
{
	for (int beam = 1; beam <= 5; beam += 4) {
		s2s_decode_options o = beam == 1 ? greedy() : beam5();
		s2s_result *plain = run("Search the web", &o);
		cr_assert(plain->hyps[0].n < 8);
		o.min_length = 8;
		s2s_result *r = run("Search the web", &o);
		for (int h = 0; h < r->n_hyps; h++) {
			const s2s_hypothesis *x = &r->hyps[h];
			int eos = -1;
			for (int t = 0; t < x->n && eos < 0; t++)
				if (x->ids[t] == 3)
					eos = t;
			cr_assert(eos < 0 || eos >= 8, "beam %d hyp %d: </s> at %d", beam, h, eos);
			cr_assert(x->n >= 8, "beam %d hyp %d: %d tokens", beam, h, x->n);
		}
		s2s_result_free(plain);
		s2s_result_free(r);
	}
}

Test(options, suppress_never_emits_the_tokens, .init = open_enfr, .fini = close_enfr)
{
	s2s_decode_options o = beam5();
	s2s_result *plain = run("Save the file as", &o);
	/* Suppress every token of the best hypothesis but </s>. */
	int32_t sup[16];
	int ns = 0;
	for (int t = 0; t < plain->hyps[0].n; t++)
		if (plain->hyps[0].ids[t] != 3)
			sup[ns++] = plain->hyps[0].ids[t];
	o.suppress = sup;
	o.n_suppress = ns;
	s2s_result *r = run("Save the file as", &o);
	for (int h = 0; h < r->n_hyps; h++)
		for (int k = 0; k < ns; k++)
			cr_assert_eq(count_id(&r->hyps[h], sup[k]), 0, "hyp %d emits suppressed %d", h,
			             sup[k]);
	s2s_result_free(plain);
	s2s_result_free(r);
}

/* A toy model that loves <unk>: greedy emits it; disable_unk never does. */
Test(options, disable_unk_never_emits_unk)
{
	s2s_config c = toy_config();
	s2s_model *m = toy_model_new(&c, 5u, 1.5f);
	((float *)m->w.out_b)[1] += 6.0f;
	int32_t src[] = {4, 5, 6, 7, 8};
	s2s_decode_options o = greedy();
	o.max_len_b = 6;
	int unk = 0;
	for (int beam = 1; beam <= 3; beam += 2) {
		o.beam_size = beam;
		o.n_best = 1;
		o.disable_unk = false;
		s2s_result *plain = run_ids(m, src, 5, &o);
		unk += count_id(&plain->hyps[0], 1);
		o.disable_unk = true;
		s2s_result *r = run_ids(m, src, 5, &o);
		cr_assert_eq(count_id(&r->hyps[0], 1), 0, "beam %d emits <unk>", beam);
		/* The mask also acts in sampling (§7.5 draws among finite log-probabilities). */
		s2s_decode_options so = o;
		so.beam_size = 1;
		so.sampling_topk = 0;
		so.sampling_temperature = 2.0f;
		for (uint64_t seed = 0; seed < 8; seed++) {
			so.seed = seed;
			s2s_result *s = run_ids(m, src, 5, &so);
			cr_assert_eq(count_id(&s->hyps[0], 1), 0, "sampling seed %d emits <unk>",
			             (int)seed);
			s2s_result_free(s);
		}
		s2s_result_free(plain);
		s2s_result_free(r);
	}
	cr_assert(unk > 0, "the toy model never emitted <unk>: the test proves little");
	toy_model_free(m);
}

/*
 * §7.1: when the masks leave no finite logit, </s> is unmasked (a row can
 * always end). Suppressed: all but <pad>, <s>, </s>; no_repeat_ngram_size 1
 * then takes <pad> and <s> once each, and min_length 5 masks </s>: at step
 * 2 nothing is left but the unmasked </s>.
 */
Test(options, a_row_can_always_end)
{
	s2s_config c = toy_config();
	s2s_model *m = toy_model_new(&c, 9u, 1.5f);
	int32_t sup[64], src[] = {4, 5, 6};
	int ns = 0;
	for (int32_t w = 1; w < c.tgt_vocab_size; w++)
		if (w != 2 && w != 3)
			sup[ns++] = w;
	s2s_decode_options o = greedy();
	o.suppress = sup;
	o.n_suppress = ns;
	o.min_length = 5;
	o.no_repeat_ngram_size = 1;
	s2s_result *r = run_ids(m, src, 3, &o);
	const s2s_hypothesis *h = &r->hyps[0];
	cr_assert_eq(h->n, 3, "%d tokens", h->n);
	cr_assert(h->finished && h->ids[2] == 3);
	cr_assert(h->ids[0] + h->ids[1] == 2, "ids %d %d: not <pad> and <s>", h->ids[0], h->ids[1]);
	cr_assert(isfinite(h->score));
	s2s_result_free(r);
	toy_model_free(m);
}

/* ---- prefix, scoring, alternatives ---------------------------------------- */

Test(options, prefix_is_kept_and_decoding_continues, .init = open_enfr, .fini = close_enfr)
{
	for (int beam = 1; beam <= 5; beam += 4) {
		s2s_decode_options o = beam == 1 ? greedy() : beam5();
		s2s_result *plain = run("Save the file as", &o);
		const s2s_hypothesis *p = &plain->hyps[0];
		/* The model's own first two tokens: the same hypothesis, bit for bit (greedy). */
		o.prefix = p->ids;
		o.n_prefix = 2;
		s2s_result *r = run("Save the file as", &o);
		for (int h = 0; h < r->n_hyps; h++)
			cr_assert(!memcmp(r->hyps[h].ids, p->ids, 2 * sizeof(int32_t)),
			          "beam %d hyp %d lost the prefix", beam, h);
		if (beam == 1)
			identical(plain, r, "greedy with its own prefix");
		else
			cr_assert(same_ids(p, &r->hyps[0]), "beam: own prefix changed the best");
		/* Another start ("Sauvegarder" is not the model's choice): kept, then continued. */
		int32_t other[1] = {p->ids[0] == 808 ? 296 : 808};
		o.prefix = other;
		o.n_prefix = 1;
		s2s_result *q = run("Save the file as", &o);
		cr_assert_eq(q->hyps[0].ids[0], other[0]);
		cr_assert(q->hyps[0].n > 1 && q->hyps[0].finished, "beam %d: nothing after it", beam);
		cr_assert(!same_ids(p, &q->hyps[0]));
		cr_assert(q->hyps[0].attention, "prefix steps have attention rows");
		s2s_result_free(plain);
		s2s_result_free(r);
		s2s_result_free(q);
	}
}

/* Scores the ids (without </s>) of h with force_eos; the result's only hypothesis. */
static s2s_result *score_of(const char *text, const s2s_hypothesis *h, s2s_decode_options o)
{
	o.beam_size = 1;
	o.n_best = 1;
	o.force_eos = true;
	o.prefix = h->ids;
	o.n_prefix = h->finished ? h->n - 1 : h->n;
	s2s_result *r = run(text, &o);
	cr_assert_eq(r->n_hyps, 1);
	cr_assert(r->hyps[0].finished);
	cr_assert_eq(r->hyps[0].n, o.n_prefix + 1);
	cr_assert_eq(r->hyps[0].ids[o.n_prefix], 3);
	return r;
}

static const char *const SENTENCES[] = {"Search the web", "Save the file as", REPEATS,
                                        "Close the window, close the window"};

Test(options, force_eos_scores_equal_greedy_and_beam_bits, .init = open_enfr, .fini = close_enfr)
{
	for (int k = 0; k < 4; k++) {
		for (int beam = 1; beam <= 5; beam += 4) {
			s2s_decode_options o = beam == 1 ? greedy() : beam5();
			o.length_penalty = 0.6f;
			o.coverage_penalty = k % 2 ? 0.2f : 0.0f;
			o.length_penalty_type = k == 3 ? S2S_LP_AVG : S2S_LP_WU;
			s2s_result *t = run(SENTENCES[k], &o);
			for (int h = 0; h < t->n_hyps; h++) {
				const s2s_hypothesis *x = &t->hyps[h];
				if (!x->finished)
					continue;
				s2s_result *s = score_of(SENTENCES[k], x, o);
				const s2s_hypothesis *y = &s->hyps[0];
				cr_assert(same_ids(x, y));
				cr_assert(!memcmp(x->logprobs, y->logprobs, sizeof(float) * (size_t)x->n),
				          "%s beam %d hyp %d: log-probabilities", SENTENCES[k], beam, h);
				cr_assert(!memcmp(&x->score, &y->score, sizeof(float)),
				          "%s beam %d hyp %d: score %.9g vs %.9g", SENTENCES[k], beam, h,
				          x->score, y->score);
				cr_assert(!memcmp(&x->norm_score, &y->norm_score, sizeof(float)),
				          "%s beam %d hyp %d: norm %.9g vs %.9g", SENTENCES[k], beam, h,
				          x->norm_score, y->norm_score);
				cr_assert(!memcmp(x->attention, y->attention,
				                  sizeof(float) * (size_t)x->n * (size_t)t->n_src));
				s2s_result_free(s);
			}
			s2s_result_free(t);
		}
	}
}

Test(options, alternatives_sorted_and_consistent, .init = open_enfr, .fini = close_enfr)
{
	s2s_decode_options o = greedy();
	s2s_result *plain = run("Save the file as", &o);
	const s2s_hypothesis *p = &plain->hyps[0];
	for (int np = 0; np <= 2; np++) {
		o.prefix = p->ids;
		o.n_prefix = np;
		o.return_alternatives = 10;
		s2s_result *r = run("Save the file as", &o);
		cr_assert_eq(r->n_alternatives, 10);
		/* The best alternative is what greedy took next, with the same log-probability. */
		cr_assert_eq(r->alternatives[0].id, p->ids[np]);
		cr_assert(!memcmp(&r->alternatives[0].logprob, &p->logprobs[np], sizeof(float)));
		double mass = 0;
		for (int k = 0; k < r->n_alternatives; k++) {
			const s2s_alternative *a = &r->alternatives[k];
			cr_assert(a->logprob <= 0.0f && isfinite(a->logprob));
			if (k > 0)
				cr_assert(a->logprob < r->alternatives[k - 1].logprob ||
				                  (a->logprob == r->alternatives[k - 1].logprob &&
				                   a->id > r->alternatives[k - 1].id),
				          "alternative %d out of order", k);
			mass += exp(a->logprob);
		}
		cr_assert(mass <= 1.0 + 1e-5, "probabilities sum to %g", mass);
		identical_hyps(plain, r, "alternatives change nothing else");
		s2s_result_free(r);
		o.return_alternatives = 0;
	}
	/* Alternatives after the processors: a suppressed token is not offered. */
	o.prefix = NULL;
	o.n_prefix = 0;
	o.return_alternatives = 5;
	o.suppress = p->ids;
	o.n_suppress = 1;
	s2s_result *r = run("Save the file as", &o);
	for (int k = 0; k < r->n_alternatives; k++)
		cr_assert_neq(r->alternatives[k].id, p->ids[0]);
	s2s_result_free(r);
	s2s_result_free(plain);
}

/* ---- final scores: lp types, coverage ------------------------------------- */

/* §7.2's coverage penalty from a hypothesis' returned attention. */
static float coverage_of(const s2s_hypothesis *h, int n_src, float beta)
{
	double sum = 0.0;
	for (int j = 0; j < n_src; j++) {
		float c = 0.0f;
		for (int t = 0; t < h->n; t++)
			c += h->attention[(size_t)t * n_src + j];
		c = c < 1e-6f ? 1e-6f : (c > 1.0f ? 1.0f : c);
		sum += log((double)c);
	}
	return beta * (float)sum;
}

Test(options, length_penalty_types_and_coverage, .init = open_enfr, .fini = close_enfr)
{
	s2s_decode_options o = beam5();
	o.length_penalty = 0.6f;
	int changed = 0;
	for (int type = S2S_LP_WU; type <= S2S_LP_NONE; type++) {
		for (int cov = 0; cov <= 1; cov++) {
			o.length_penalty_type = type;
			o.coverage_penalty = cov ? 0.4f : 0.0f;
			for (int k = 0; k < 4; k++) {
				s2s_result *r = run(SENTENCES[k], &o);
				for (int h = 0; h < r->n_hyps; h++) {
					const s2s_hypothesis *x = &r->hyps[h];
					float lp = type == S2S_LP_AVG    ? (float)x->n
					           : type == S2S_LP_NONE ? 1.0f
					                                 : (float)pow((5.0f + x->n) / 6.0f, 0.6);
					float want = x->score / lp;
					if (cov)
						want = want + coverage_of(x, r->n_src, 0.4f);
					cr_assert(fabsf(want - x->norm_score) <= 1e-6f * fabsf(want) + 1e-6f,
					          "type %d cov %d %s hyp %d: norm %.9g, expected %.9g", type,
					          cov, SENTENCES[k], h, x->norm_score, want);
					if (h > 0)
						cr_assert(x->norm_score <= r->hyps[h - 1].norm_score);
				}
				if (cov) {
					o.coverage_penalty = 0.0f;
					s2s_result *u = run(SENTENCES[k], &o);
					o.coverage_penalty = 0.4f;
					changed += !same_ids(&u->hyps[0], &r->hyps[0]) ||
					           u->hyps[0].norm_score != r->hyps[0].norm_score;
					s2s_result_free(u);
				}
				s2s_result_free(r);
			}
		}
	}
	cr_assert(changed > 0, "coverage never changed a score");
	/* Coverage without returning attention: the same scores. */
	o.length_penalty_type = S2S_LP_WU;
	o.coverage_penalty = 0.4f;
	s2s_result *with = run("Save the file as", &o);
	o.attention = false;
	s2s_result *without = run("Save the file as", &o);
	cr_assert_null(without->hyps[0].attention);
	for (int h = 0; h < with->n_hyps; h++)
		cr_assert(!memcmp(&with->hyps[h].norm_score, &without->hyps[h].norm_score,
		                  sizeof(float)));
	s2s_result_free(with);
	s2s_result_free(without);
}

/* ---- sampling --------------------------------------------------------------- */

Test(options, sampling_is_seeded_and_follows_topk_topp, .init = open_enfr, .fini = close_enfr)
{
	s2s_decode_options g = greedy(), o = greedy();
	s2s_result *plain = run("Close the window, close the window", &g);
	o.sampling_topk = 10;
	o.sampling_temperature = 1.5f;
	int distinct = 0;
	s2s_result *first = NULL;
	for (uint64_t seed = 1; seed <= 8; seed++) {
		o.seed = seed;
		s2s_result *a = run("Close the window, close the window", &o);
		s2s_result *b = run("Close the window, close the window", &o);
		identical(a, b, "same seed");
		/* The reported log-probabilities are the model's (τ 1): greedy's logprob bounds them. */
		cr_assert(a->hyps[0].logprobs[0] <= plain->hyps[0].logprobs[0]);
		if (!first)
			first = a;
		else {
			distinct += !same_ids(&first->hyps[0], &a->hyps[0]);
			s2s_result_free(a);
		}
		s2s_result_free(b);
	}
	cr_assert(distinct > 0, "8 seeds gave one output");
	s2s_result_free(first);
	/* Top-p this small keeps the most likely token alone: greedy, bit for bit. */
	o.sampling_topk = 0;
	o.sampling_topp = 1e-6f;
	o.sampling_temperature = 1.0f;
	s2s_result *p = run("Close the window, close the window", &o);
	identical(plain, p, "top-p 1e-6");
	s2s_result_free(p);
	/* So does a tiny temperature (the best weight dwarfs every other). */
	o.sampling_topp = 1.0f;
	o.sampling_temperature = 1e-3f;
	p = run("Close the window, close the window", &o);
	identical(plain, p, "temperature 1e-3");
	s2s_result_free(p);
	/* Top-k 2: every token is one of the two best at its step (checked with alternatives). */
	o.sampling_topk = 2;
	o.sampling_temperature = 5.0f;
	o.seed = 77;
	s2s_result *s = run("Close the window, close the window", &o);
	for (int t = 0; t < s->hyps[0].n; t++) {
		s2s_decode_options q = greedy();
		q.prefix = s->hyps[0].ids;
		q.n_prefix = t;
		q.return_alternatives = 2;
		s2s_result *alt = run("Close the window, close the window", &q);
		cr_assert(s->hyps[0].ids[t] == alt->alternatives[0].id ||
		                  s->hyps[0].ids[t] == alt->alternatives[1].id,
		          "step %d: %d is not among the top 2", t, s->hyps[0].ids[t]);
		s2s_result_free(alt);
	}
	s2s_result_free(s);
	s2s_result_free(plain);
}

/* ---- batch invariance ------------------------------------------------------ */

#define NMIX 10

/* Sentence i's options in the mixed batch; `pre` holds a greedy output. */
static s2s_decode_options mixed_option(int i, const int32_t *pre, int npre, const int32_t *sup)
{
	s2s_decode_options o = i % 3 == 1 ? beam5() : greedy();
	switch (i) {
	case 1: o.coverage_penalty = 0.2f; o.length_penalty = 0.6f; break;
	case 2: o.no_repeat_ngram_size = 2; o.repetition_penalty = 1.5f; break;
	case 3: o.sampling_topk = 10; o.seed = 3; break;
	case 4: o.beam_size = 3; o.n_best = 2; o.prefix = pre; o.n_prefix = 2; o.return_alternatives = 5; break;
	case 5: o.sampling_topk = 0; o.sampling_topp = 0.9f; o.sampling_temperature = 0.8f; o.seed = 4; break;
	case 6: o.force_eos = true; o.prefix = pre; o.n_prefix = npre; o.coverage_penalty = 0.1f; break;
	case 7: o.suppress = sup; o.n_suppress = 2; o.disable_unk = true; o.min_length = 6; o.n_best = 2; break;
	case 8: o.length_penalty_type = S2S_LP_AVG; o.beam_size = 4; o.n_best = 2; o.no_repeat_ngram_size = 1; break;
	case 9: o.return_alternatives = 3; o.length_penalty_type = S2S_LP_NONE; break;
	default: break;
	}
	return o;
}

Test(options, mixed_options_in_one_batch_equal_each_alone, .init = open_enfr, .fini = close_enfr)
{
	static const char *const text[NMIX] = {
	    "Search the web", "Save the file as", REPEATS, "Close the window, close the window",
	    "Save the file as", "Delete the selected items", "Search the web", REPEATS,
	    "Could not connect to the server.", "Show the toolbar"};
	s2s_decode_options g = greedy();
	s2s_result *own = run("Search the web", &g);
	int32_t sup[2] = {8, 7}; /* "le", "la" */
	int32_t *src[NMIX];
	int len[NMIX];
	s2s_decode_options o[NMIX];
	for (int i = 0; i < NMIX; i++) {
		src[i] = ids_of(text[i], &len[i]);
		o[i] = mixed_option(i, own->hyps[0].ids, own->hyps[0].n - 1, sup);
	}
	s2s_batch *b;
	s2s_error err = {0};
	cr_assert_eq(s2s_batch_new(enfr, 64, &b, &err), 0);
	s2s_result *got[NMIX] = {0};
	/* Half join at once, the rest one per step: sentences meet at different steps. */
	int next = 0;
	for (; next < NMIX / 2; next++)
		cr_assert(s2s_batch_add(b, src[next], len[next], &o[next], (void *)(intptr_t)next,
		                        &err) >= 0, "%d: %s", next, err.message);
	while (s2s_batch_active(b) > 0 || next < NMIX) {
		if (next < NMIX) {
			cr_assert(s2s_batch_add(b, src[next], len[next], &o[next],
			                        (void *)(intptr_t)next, &err) >= 0,
			          "%d: %s", next, err.message);
			next++;
		}
		cr_assert(s2s_batch_step(b, &err) >= 0, "%s", err.message);
		s2s_result *r;
		while ((r = s2s_batch_take_finished(b)) != NULL)
			got[(intptr_t)r->user] = r;
	}
	s2s_batch_free(b);
	for (int i = 0; i < NMIX; i++) {
		char what[64];
		snprintf(what, sizeof what, "mixed sentence %d", i);
		cr_assert_not_null(got[i], "%s: no result", what);
		s2s_result *one = run_ids(enfr, src[i], len[i], &o[i]);
		identical(got[i], one, what);
		s2s_result_free(one);
		s2s_result_free(got[i]);
		free(src[i]);
	}
	s2s_result_free(own);
}

/* The caller's suppress and prefix arrays may be gone once s2s_batch_add returns. */
Test(options, suppress_and_prefix_are_copied_at_add, .init = open_enfr, .fini = close_enfr)
{
	int n;
	int32_t *src = ids_of("Save the file as", &n);
	int32_t keep_sup[2] = {296, 8}, keep_pre[1] = {808};
	s2s_decode_options o = beam5();
	o.suppress = keep_sup;
	o.n_suppress = 2;
	o.prefix = keep_pre;
	o.n_prefix = 1;
	s2s_result *want = run_ids(enfr, src, n, &o);
	int32_t *sup = malloc(sizeof keep_sup), *pre = malloc(sizeof keep_pre);
	memcpy(sup, keep_sup, sizeof keep_sup);
	memcpy(pre, keep_pre, sizeof keep_pre);
	o.suppress = sup;
	o.prefix = pre;
	s2s_batch *b;
	s2s_error err = {0};
	cr_assert_eq(s2s_batch_new(enfr, 5, &b, &err), 0);
	cr_assert(s2s_batch_add(b, src, n, &o, NULL, &err) >= 0, "%s", err.message);
	memset(sup, 0xff, sizeof keep_sup);
	memset(pre, 0xff, sizeof keep_pre);
	free(sup);
	free(pre);
	s2s_result *got = NULL, *r;
	while (s2s_batch_active(b) > 0) {
		cr_assert(s2s_batch_step(b, &err) >= 0, "%s", err.message);
		while ((r = s2s_batch_take_finished(b)) != NULL)
			got = r;
	}
	s2s_batch_free(b);
	identical(want, got, "copied options");
	s2s_result_free(want);
	s2s_result_free(got);
	free(src);
}

/* §7.5's pieces on known values: splitmix64's published first outputs, the draw's rules. */
Test(options, sampling_rng_and_draw_rules)
{
	/* splitmix64 seeded with 0 starts 0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4. */
	cr_assert_eq(s2s__uniform(0, 0), (double)(0xe220a8397b1dcdafull >> 11) * 0x1.0p-53);
	cr_assert_eq(s2s__uniform(0, 1), (double)(0x6e789e6aa1b965f4ull >> 11) * 0x1.0p-53);
	cr_assert_eq(s2s__uniform(0x9E3779B97F4A7C15ull, 0), s2s__uniform(0, 1));
	/* Weights 1, e^-1, e^-2 (sum 1.5032): u picks by running sum. */
	s2s__cand c[3] = {{-0.5f, 7}, {-1.5f, 3}, {-2.5f, 9}};
	double w[3];
	cr_assert_eq(s2s__sample_pick(c, 3, 1.0f, 1.0f, 0.0, w), 0);
	cr_assert_eq(s2s__sample_pick(c, 3, 1.0f, 1.0f, 0.66, w), 0);
	cr_assert_eq(s2s__sample_pick(c, 3, 1.0f, 1.0f, 0.67, w), 1);
	cr_assert_eq(s2s__sample_pick(c, 3, 1.0f, 1.0f, 0.92, w), 2);
	/* Top-p 0.9: 1 + e^-1 = 1.3679 >= 0.9 * 1.5032 = 1.3529, so id 9 is dropped. */
	cr_assert_eq(s2s__sample_pick(c, 3, 1.0f, 0.9f, 0.99, w), 1);
	/* Top-p 0.5: the best alone. */
	cr_assert_eq(s2s__sample_pick(c, 3, 1.0f, 0.5f, 0.99, w), 0);
	/* Temperature 0.5 sharpens: weights 1, e^-2, e^-4; u 0.9 now picks the best. */
	cr_assert_eq(s2s__sample_pick(c, 3, 0.5f, 1.0f, 0.85, w), 0);
	/* Ranking: log-probability descending, ties by lower id, bans and -inf left out. */
	float z[6] = {0.0f, 2.0f, -INFINITY, 2.0f, 1.0f, 3.0f};
	unsigned char ban[6] = {0, 0, 0, 0, 0, 1};
	s2s__cand out[6], tmp[6];
	int n = s2s__top_allowed(z, 0.0f, 0.0f, ban, 6, 0, out, tmp);
	cr_assert_eq(n, 4);
	cr_assert(out[0].id == 1 && out[1].id == 3 && out[2].id == 4 && out[3].id == 0);
	n = s2s__top_allowed(z, 0.0f, 0.0f, ban, 6, 2, out, NULL);
	cr_assert(n == 2 && out[0].id == 1 && out[1].id == 3);
}
