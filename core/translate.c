/* translate.c - decode options, results and the one-call translation (s2s_decode.h). */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "s2s_decode.h"

#define S2S__UNK       1
#define S2S__MAX_BEAM  64
#define S2S__MAX_STEPS 4096
#define S2S__MAX_ALTERNATIVES 64

void s2s_decode_options_init(s2s_decode_options *o)
{
	o->beam_size = 1;
	o->n_best = 1;
	o->length_penalty = 0.0f;
	o->max_len_a = 2.0f;
	o->max_len_b = 10;
	o->max_len = 256;
	o->attention = true;
	o->sentinel_ph = 0;
	o->sentinel_pairs = 0;
	o->length_penalty_type = S2S_LP_WU;
	o->coverage_penalty = 0.0f;
	o->min_length = 0;
	o->repetition_penalty = 1.0f;
	o->no_repeat_ngram_size = 0;
	o->disable_unk = false;
	o->suppress = NULL;
	o->n_suppress = 0;
	o->prefix = NULL;
	o->n_prefix = 0;
	o->force_eos = false;
	o->sampling_topk = 1;
	o->sampling_topp = 1.0f;
	o->sampling_temperature = 1.0f;
	o->seed = 0;
	o->return_alternatives = 0;
}

/* A float in (lo, hi] (lo_open) or [lo, hi], and finite. */
static bool s2s__in(float v, float lo, bool lo_open, float hi)
{
	return isfinite(v) && (lo_open ? v > lo : v >= lo) && v <= hi;
}

/* §7.1-7.2 bounds: processors, length penalty type, coverage. */
static int s2s__check_processors(const s2s_decode_options *o, s2s_error *err)
{
	if (o->length_penalty_type < S2S_LP_WU || o->length_penalty_type > S2S_LP_NONE)
		return s2s__error_set(err, S2S_EINVAL,
		                      "length_penalty_type %d is not 0 (wu), 1 (avg) or 2 (none)",
		                      o->length_penalty_type);
	if (!s2s__in(o->coverage_penalty, 0.0f, false, 100.0f))
		return s2s__error_set(err, S2S_EINVAL,
		                      "coverage_penalty %g is not a finite number in 0..100",
		                      (double)o->coverage_penalty);
	if (o->min_length < 0 || o->min_length > o->max_len)
		return s2s__error_set(err, S2S_EINVAL, "min_length %d is outside 0..max_len (%d)",
		                      o->min_length, o->max_len);
	if (!s2s__in(o->repetition_penalty, 0.0f, true, 100.0f))
		return s2s__error_set(err, S2S_EINVAL,
		                      "repetition_penalty %g is not a finite number in (0, 100]",
		                      (double)o->repetition_penalty);
	if (o->no_repeat_ngram_size < 0 || o->no_repeat_ngram_size > S2S_MAX_NGRAM)
		return s2s__error_set(err, S2S_EINVAL, "no_repeat_ngram_size %d is outside 0..%d",
		                      o->no_repeat_ngram_size, S2S_MAX_NGRAM);
	if (o->n_suppress < 0 || o->n_suppress > S2S_MAX_SUPPRESS ||
	    (o->n_suppress > 0 && !o->suppress))
		return s2s__error_set(err, S2S_EINVAL,
		                      "n_suppress %d is outside 0..%d (or suppress is NULL)",
		                      o->n_suppress, S2S_MAX_SUPPRESS);
	return 0;
}

/* §7.5 bounds and conflicts, as CTranslate2 has them. */
static int s2s__check_sampling(const s2s_decode_options *o, s2s_error *err)
{
	if (o->sampling_topk < 0)
		return s2s__error_set(err, S2S_EINVAL,
		                      "sampling_topk %d is negative (0 = whole vocabulary)",
		                      o->sampling_topk);
	if (!s2s__in(o->sampling_topp, 0.0f, true, 1.0f))
		return s2s__error_set(err, S2S_EINVAL, "sampling_topp %g is outside (0, 1]",
		                      (double)o->sampling_topp);
	if (!s2s__in(o->sampling_temperature, 0.0f, true, 100.0f))
		return s2s__error_set(err, S2S_EINVAL,
		                      "sampling_temperature %g is not a finite number in (0, 100]",
		                      (double)o->sampling_temperature);
	if (o->sampling_topk == 1 && (o->sampling_topp < 1.0f || o->sampling_temperature != 1.0f))
		return s2s__error_set(err, S2S_EINVAL,
		                      "sampling_topp needs sampling_topk != 1 (0 = whole vocabulary), "
		                      "as in CTranslate2 (sampling_temperature too)");
	if (o->sampling_topk != 1 && o->beam_size > 1)
		return s2s__error_set(err, S2S_EINVAL,
		                      "sampling_topk %d needs beam_size 1 (beam_size is %d)",
		                      o->sampling_topk, o->beam_size);
	return 0;
}

/* §7.6: prefix, force_eos (scoring), return_alternatives. */
static int s2s__check_forcing(const s2s_decode_options *o, s2s_error *err)
{
	if (o->n_prefix < 0 || o->n_prefix > S2S__MAX_STEPS || (o->n_prefix > 0 && !o->prefix))
		return s2s__error_set(err, S2S_EINVAL,
		                      "n_prefix %d is outside 0..%d (or prefix is NULL)", o->n_prefix,
		                      S2S__MAX_STEPS);
	if (o->return_alternatives < 0 || o->return_alternatives > S2S__MAX_ALTERNATIVES)
		return s2s__error_set(err, S2S_EINVAL, "return_alternatives %d is outside 0..%d",
		                      o->return_alternatives, S2S__MAX_ALTERNATIVES);
	if (!o->force_eos)
		return 0;
	bool procs = o->min_length != 0 || o->repetition_penalty != 1.0f ||
	             o->no_repeat_ngram_size != 0 || o->n_suppress != 0 || o->disable_unk;
	if (o->beam_size != 1 || o->sampling_topk != 1 || procs || o->return_alternatives != 0)
		return s2s__error_set(err, S2S_EINVAL,
		                      "force_eos (scoring) needs beam_size 1, no sampling, no "
		                      "return_alternatives and no logit processors (min_length, "
		                      "repetition_penalty, no_repeat_ngram_size, suppress, disable_unk)");
	return 0;
}

int s2s_decode_options_check(const s2s_decode_options *o, s2s_error *err)
{
	if (o->beam_size < 1 || o->beam_size > S2S__MAX_BEAM)
		return s2s__error_set(err, S2S_EINVAL, "beam_size %d is outside 1..%d",
		                      o->beam_size, S2S__MAX_BEAM);
	if (o->n_best < 1 || o->n_best > o->beam_size)
		return s2s__error_set(err, S2S_EINVAL, "n_best %d is outside 1..beam_size (%d)",
		                      o->n_best, o->beam_size);
	if (!(o->length_penalty >= 0.0f) || !isfinite(o->length_penalty))
		return s2s__error_set(err, S2S_EINVAL,
		                      "length_penalty %g is not a finite number >= 0",
		                      (double)o->length_penalty);
	if (!(o->max_len_a >= 0.0f) || !isfinite(o->max_len_a))
		return s2s__error_set(err, S2S_EINVAL, "max_len_a %g is not a finite number >= 0",
		                      (double)o->max_len_a);
	if (o->max_len_b < 0 || o->max_len_b > S2S__MAX_STEPS)
		return s2s__error_set(err, S2S_EINVAL, "max_len_b %d is outside 0..%d",
		                      o->max_len_b, S2S__MAX_STEPS);
	if (o->max_len < 1 || o->max_len > S2S__MAX_STEPS)
		return s2s__error_set(err, S2S_EINVAL, "max_len %d is outside 1..%d", o->max_len,
		                      S2S__MAX_STEPS);
	int rc = s2s__check_processors(o, err);
	if (rc == 0)
		rc = s2s__check_sampling(o, err);
	if (rc == 0)
		rc = s2s__check_forcing(o, err);
	return rc;
}

void s2s_result_free(s2s_result *r)
{
	if (!r)
		return;
	for (int i = 0; r->hyps && i < r->n_hyps; i++) {
		free(r->hyps[i].ids);
		free(r->hyps[i].logprobs);
		free(r->hyps[i].attention);
	}
	free(r->hyps);
	free(r->alternatives);
	free(r);
}

/* Steps the batch until every sentence is out, filling results by index. */
static int s2s__run_all(s2s_batch *b, s2s_result **results, s2s_error *err)
{
	while (s2s_batch_active(b) > 0) {
		int rc = s2s_batch_step(b, err);
		if (rc < 0)
			return rc;
		s2s_result *r;
		while ((r = s2s_batch_take_finished(b)) != NULL)
			results[(intptr_t)r->user] = r;
	}
	return 0;
}

int s2s_translate_ids(s2s_model *model, const int32_t *const *src, const int *lens, int count,
                      const s2s_decode_options *o, s2s_result **results, s2s_error *err)
{
	if (count <= 0)
		return count == 0 ? 0 : s2s__error_set(err, S2S_EINVAL, "count %d < 0", count);
	int rc = s2s_decode_options_check(o, err);
	if (rc < 0)
		return rc;
	if (count > (1 << 20) / o->beam_size)
		return s2s__error_set(err, S2S_EINVAL,
		                      "count %d times beam_size %d is too many rows", count,
		                      o->beam_size);
	for (int i = 0; i < count; i++)
		results[i] = NULL;
	s2s_batch *b;
	if ((rc = s2s_batch_new(model, count * o->beam_size, &b, err)) < 0)
		return rc;
	/* Sentence i samples with seed + i (mod 2^64), as the daemon gives them (§7.5). */
	s2s_decode_options oi = *o;
	for (int i = 0; i < count && rc >= 0; i++) {
		oi.seed = o->seed + (uint64_t)i;
		rc = s2s_batch_add(b, src[i], lens[i], &oi, (void *)(intptr_t)i, err);
	}
	if (rc >= 0)
		rc = s2s__run_all(b, results, err);
	s2s_batch_free(b);
	if (rc < 0) {
		for (int i = 0; i < count; i++) {
			s2s_result_free(results[i]);
			results[i] = NULL;
		}
		return rc;
	}
	return 0;
}

void s2s_hypothesis_unk_sources(const s2s_hypothesis *hyp, int n_src, int32_t *out)
{
	for (int t = 0; t < hyp->n; t++) {
		out[t] = -1;
		if (hyp->ids[t] != S2S__UNK || !hyp->attention || n_src < 1)
			continue;
		const float *a = hyp->attention + (size_t)t * n_src;
		int best = 0;
		for (int j = 1; j < n_src; j++)
			if (a[j] > a[best])
				best = j;
		out[t] = best;
	}
}
