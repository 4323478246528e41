/*
 * test_options_parity.c - the issue-14 decoding controls against the
 * PyTorch reference: every case of every tests/fixtures/options/NAME.json
 * (written by clients/python/s2s_ref; schema in docs/checkpoint-format.md
 * §7.7) decoded by the C core. Ids must match exactly; log-probabilities,
 * scores and alternatives within 1e-4 absolute + 1e-4 relative (a null
 * float is -inf). No fixture at all is a failure, not a skip.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s2s_decode.h"

static const char *srcdir(void)
{
	const char *s = getenv("S2S_SRCDIR");
	return s && *s ? s : S2S_SRCDIR;
}

/* A JSON float, null standing for -inf (the reference writes -inf scores as null). */
static double num(json_t *v)
{
	return json_is_null(v) ? -INFINITY : json_number_value(v);
}

static bool close_enough(double got, double want)
{
	if (isinf(want) || isinf(got))
		return got == want;
	return fabs(got - want) <= 1e-4 + 1e-4 * fabs(want);
}

/* Ids of a JSON array into a new block (n of them); NULL when empty. */
static int32_t *id_array(json_t *a, int *n)
{
	*n = (int)json_array_size(a);
	if (*n == 0)
		return NULL;
	int32_t *ids = malloc((size_t)*n * sizeof(int32_t));
	for (int i = 0; i < *n; i++)
		ids[i] = (int32_t)json_integer_value(json_array_get(a, (size_t)i));
	return ids;
}

static json_t *key(json_t *obj, const char *k, const char *where)
{
	json_t *v = json_object_get(obj, k);
	cr_assert_not_null(v, "%s: no key '%s'", where, k);
	return v;
}

/* The options object of a case (every key present, as the schema says). */
static void options_of(json_t *jo, s2s_decode_options *o, int32_t **sup, int32_t **pre,
                       const char *where)
{
	s2s_decode_options_init(o);
	o->beam_size = (int)json_integer_value(key(jo, "beam_size", where));
	o->n_best = (int)json_integer_value(key(jo, "n_best", where));
	o->length_penalty = (float)json_number_value(key(jo, "length_penalty", where));
	const char *lpt = json_string_value(key(jo, "length_penalty_type", where));
	cr_assert_not_null(lpt, "%s: length_penalty_type", where);
	o->length_penalty_type = !strcmp(lpt, "avg") ? S2S_LP_AVG : !strcmp(lpt, "none") ? S2S_LP_NONE
	                                                                                 : S2S_LP_WU;
	cr_assert(!strcmp(lpt, "wu") || !strcmp(lpt, "avg") || !strcmp(lpt, "none"), "%s: %s", where,
	          lpt);
	o->coverage_penalty = (float)json_number_value(key(jo, "coverage_penalty", where));
	o->min_length = (int)json_integer_value(key(jo, "min_length", where));
	o->repetition_penalty = (float)json_number_value(key(jo, "repetition_penalty", where));
	o->no_repeat_ngram_size = (int)json_integer_value(key(jo, "no_repeat_ngram_size", where));
	*sup = id_array(key(jo, "suppress_ids", where), &o->n_suppress);
	o->suppress = *sup;
	o->disable_unk = json_is_true(key(jo, "disable_unk", where));
	*pre = id_array(key(jo, "prefix_ids", where), &o->n_prefix);
	o->prefix = *pre;
	o->force_eos = json_is_true(key(jo, "force_eos", where));
	o->sampling_topk = (int)json_integer_value(key(jo, "sampling_topk", where));
	o->sampling_topp = (float)json_number_value(key(jo, "sampling_topp", where));
	o->sampling_temperature = (float)json_number_value(key(jo, "sampling_temperature", where));
	o->seed = (uint64_t)json_integer_value(key(jo, "seed", where));
	o->return_alternatives = (int)json_integer_value(key(jo, "return_alternatives", where));
	o->max_len_a = (float)json_number_value(key(jo, "max_len_a", where));
	o->max_len_b = (int)json_integer_value(key(jo, "max_len_b", where));
	o->max_len = (int)json_integer_value(key(jo, "max_len", where));
}

/*
 * Compares one hypothesis; a mismatch is reported (cr_expect) and ends the
 * comparison of this hypothesis, so every case is still checked and the
 * log lists each one that differs.
 */
static void check_hyp(const s2s_hypothesis *h, json_t *jh, const char *where, int k)
{
	json_t *ids = key(jh, "ids", where), *lps = key(jh, "logprobs", where);
	int n = (int)json_array_size(ids);
	for (int t = 0; t < h->n && t < n; t++) {
		int want = (int)json_integer_value(json_array_get(ids, (size_t)t));
		if (h->ids[t] != want) {
			cr_expect_eq(h->ids[t], want, "%s hyp %d step %d: id %d, reference %d", where, k,
			             t, h->ids[t], want);
			return;
		}
	}
	if (h->n != n) {
		cr_expect_eq(h->n, n, "%s hyp %d: %d tokens, reference %d", where, k, h->n, n);
		return;
	}
	for (int t = 0; t < h->n; t++) {
		double lp = num(json_array_get(lps, (size_t)t));
		if (!close_enough(h->logprobs[t], lp)) {
			cr_expect(0, "%s hyp %d step %d: logprob %.7g vs %.7g", where, k, t,
			          h->logprobs[t], lp);
			return;
		}
	}
	double sc = num(key(jh, "score", where)), ns = num(key(jh, "norm_score", where));
	cr_expect(close_enough(h->score, sc), "%s hyp %d: score %.7g vs %.7g", where, k, h->score, sc);
	cr_expect(close_enough(h->norm_score, ns), "%s hyp %d: norm_score %.7g vs %.7g", where, k,
	          h->norm_score, ns);
	cr_expect_eq(h->finished, json_is_true(key(jh, "finished", where)), "%s hyp %d: finished",
	             where, k);
}

static void check_alternatives(const s2s_result *r, json_t *ja, const char *where)
{
	if (r->n_alternatives != (int)json_array_size(ja)) {
		cr_expect(0, "%s: %d alternatives, reference %d", where, r->n_alternatives,
		          (int)json_array_size(ja));
		return;
	}
	for (int k = 0; k < r->n_alternatives; k++) {
		json_t *a = json_array_get(ja, (size_t)k);
		int id = (int)json_integer_value(key(a, "id", where));
		double lp = num(key(a, "logprob", where));
		cr_expect_eq(r->alternatives[k].id, id, "%s alternative %d: id %d vs %d", where, k,
		             r->alternatives[k].id, id);
		cr_expect(close_enough(r->alternatives[k].logprob, lp),
		          "%s alternative %d: logprob %.7g vs %.7g", where, k,
		          r->alternatives[k].logprob, lp);
	}
}

/* One case: decodes src_ids alone with the case's options; returns 1. */
static int check_case(s2s_model *m, json_t *c, const char *file)
{
	char where[512];
	snprintf(where, sizeof where, "%s case %s", file,
	         json_string_value(json_object_get(c, "name")) ?: "?");
	int n;
	int32_t *src = id_array(key(c, "src_ids", where), &n), *sup, *pre;
	s2s_decode_options o;
	options_of(key(c, "options", where), &o, &sup, &pre, where);
	s2s_result *r = NULL;
	s2s_error err = {0};
	cr_assert_eq(s2s_translate_ids(m, (const int32_t *const *)&src, &n, 1, &o, &r, &err), 0,
	             "%s: %s", where, err.message);
	json_t *hyps = key(c, "hyps", where);
	cr_expect_eq(r->n_hyps, (int)json_array_size(hyps), "%s: %d hyps, reference %d", where,
	             r->n_hyps, (int)json_array_size(hyps));
	for (int k = 0; k < r->n_hyps && k < (int)json_array_size(hyps); k++)
		check_hyp(&r->hyps[k], json_array_get(hyps, (size_t)k), where, k);
	json_t *alts = json_object_get(c, "alternatives");
	if (o.return_alternatives > 0)
		check_alternatives(r, alts ? alts : json_array(), where);
	s2s_result_free(r);
	free(src);
	free(sup);
	free(pre);
	return 1;
}

/* Every case of one fixture file; returns how many. */
static int check_file(const char *dir, const char *name)
{
	char path[8192], mpath[8192];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	json_error_t je;
	json_t *root = json_load_file(path, 0, &je);
	cr_assert_not_null(root, "%s: %s", path, je.text);
	const char *model = json_string_value(json_object_get(root, "model"));
	cr_assert_not_null(model, "%s: no model", name);
	snprintf(mpath, sizeof mpath, "%s/%s", srcdir(), model);
	s2s_model *m;
	s2s_error err = {0};
	cr_assert_eq(s2s_model_open(mpath, &m, &err), 0, "%s: %s", mpath, err.message);
	json_t *cases = json_object_get(root, "cases");
	int count = 0;
	for (size_t i = 0; i < json_array_size(cases); i++)
		count += check_case(m, json_array_get(cases, i), name);
	s2s_model_unref(m);
	json_decref(root);
	return count;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int is_json(const struct dirent *d)
{
	size_t n = strlen(d->d_name);
	return n > 5 && !strcmp(d->d_name + n - 5, ".json");
}

Test(options_parity, every_fixture_case_matches_the_reference)
{
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/tests/fixtures/options", srcdir());
	struct dirent **list;
	int nf = scandir(dir, &list, is_json, by_name);
	cr_assert(nf > 0, "no fixtures in %s (the reference writes them: clients/python/s2s_ref)",
	          dir);
	int cases = 0;
	for (int i = 0; i < nf; i++) {
		cases += check_file(dir, list[i]->d_name);
		free(list[i]);
	}
	free(list);
	cr_assert(cases > 0, "%d fixture files but no case", nf);
}
