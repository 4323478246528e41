/* translate.c - decode options, results and the one-call translation (s2s_decode.h). */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "s2s_decode.h"

#define S2S__UNK       1
#define S2S__MAX_BEAM  64
#define S2S__MAX_STEPS 4096

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
	return 0;
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
	for (int i = 0; i < count && rc >= 0; i++)
		rc = s2s_batch_add(b, src[i], lens[i], o, (void *)(intptr_t)i, err);
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
