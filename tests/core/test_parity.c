/*
 * test_parity.c - the C core against PyTorch, through the golden fixtures
 * that tests/fixtures/gen_fixtures.py writes with the reference module.
 *
 * For every <variant>.json in $S2S_FIXTURES (default
 * $S2S_SRCDIR/tests/fixtures) the matching .safetensors is loaded and every
 * case is decoded greedily (per-step logits and attention compared, max
 * |delta| <= 1e-5, for logits relative to |z| where |z| > 1) and with beam search (tokens
 * identical, scores within 1e-4); then all cases run as one batch, greedy and beam mixed, some
 * joining at later steps, and must give the same. Each failure names the variant and case; the
 * largest deltas seen are printed.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch_internal.h"
#include "s2s_decode.h"
#include "s2s_model.h"

#define TOL_LOGIT 1e-5
#define TOL_ATTN  1e-5
#define TOL_SCORE 1e-4
#define MAX_CASES 32

typedef struct {
	const char *variant;
	int failures;
	double d_logit, d_logit_scaled, d_attn, d_score;
} parity;

static parity P;

#define FAIL(...)                                                                                  \
	do {                                                                                       \
		P.failures++;                                                                      \
		cr_log_error(__VA_ARGS__);                                                         \
	} while (0)

static double num(json_t *j)
{
	return json_number_value(j);
}

static void track(double *worst, double d)
{
	if (d > *worst || isnan(d))
		*worst = isnan(d) ? INFINITY : d;
}

/* Compares one hypothesis with its JSON; `what` names variant, case and run. */
static void compare_hyp(const s2s_hypothesis *h, int n_src, json_t *e, const char *what)
{
	json_t *ids = json_object_get(e, "ids"), *lps = json_object_get(e, "logprobs");
	json_t *att = json_object_get(e, "attention");
	int n = (int)json_array_size(ids);
	if (h->n != n) {
		FAIL("%s: %d tokens, PyTorch %d", what, h->n, n);
		return;
	}
	for (int t = 0; t < n; t++) {
		if (h->ids[t] != json_integer_value(json_array_get(ids, t))) {
			FAIL("%s: token %d is %d, PyTorch %d", what, t, (int)h->ids[t],
			     (int)json_integer_value(json_array_get(ids, t)));
			return;
		}
		track(&P.d_score, fabs(h->logprobs[t] - num(json_array_get(lps, t))));
	}
	double ds = fabs(h->score - num(json_object_get(e, "score")));
	double dn = fabs(h->norm_score - num(json_object_get(e, "norm_score")));
	track(&P.d_score, ds > dn ? ds : dn);
	if (!(ds <= TOL_SCORE && dn <= TOL_SCORE))
		FAIL("%s: score %g / %g, PyTorch %g / %g", what, h->score, h->norm_score,
		     num(json_object_get(e, "score")), num(json_object_get(e, "norm_score")));
	if (h->finished != json_is_true(json_object_get(e, "finished")))
		FAIL("%s: finished %d differs", what, h->finished);
	if (json_is_array(att) != (h->attention != NULL)) {
		FAIL("%s: attention present in only one of C and PyTorch", what);
		return;
	}
	for (int t = 0; json_is_array(att) && t < n; t++)
		for (int j = 0; j < n_src; j++) {
			double d = fabs(h->attention[t * n_src + j] -
			                num(json_array_get(json_array_get(att, t), j)));
			track(&P.d_attn, d);
			if (!(d <= TOL_ATTN)) {
				FAIL("%s: attention[%d][%d] off by %g", what, t, j, d);
				return;
			}
		}
}

static void compare_result(const s2s_result *r, json_t *hyps, const char *what)
{
	if (r->n_hyps != (int)json_array_size(hyps)) {
		FAIL("%s: %d hypotheses, PyTorch %d", what, r->n_hyps, (int)json_array_size(hyps));
		return;
	}
	for (int h = 0; h < r->n_hyps; h++) {
		char w[256];
		snprintf(w, sizeof(w), "%s hyp %d", what, h);
		compare_hyp(&r->hyps[h], r->n_src, json_array_get(hyps, h), w);
	}
}

/* The logits hook: every greedy step's logits against the fixture's. */
typedef struct {
	json_t *logits; /* [[V floats] per step] */
	const char *what;
	int bad;
} logit_check;

static void on_logits(void *ctx, void *user, int step, int live, const float *z, int V)
{
	logit_check *lc = ctx;
	json_t *row = json_array_get(lc->logits, step);
	if ((int)json_array_size(row) != V) {
		if (!lc->bad++)
			FAIL("%s: step %d logits missing or of the wrong size", lc->what, step);
		return;
	}
	for (int w = 0; w < V; w++) {
		double e = num(json_array_get(row, w)), d = fabs(z[w] - e);
		/* 1e-5 absolute, relative beyond |z| = 1: a float logit of 128 has an
		 * ulp of 1.5e-5, so an absolute bound alone would demand more than
		 * float32 holds (an exploding rnn_relu fixture reaches |z| = 330). */
		double scaled = d / (fabs(e) > 1.0 ? fabs(e) : 1.0);
		track(&P.d_logit, d);
		track(&P.d_logit_scaled, scaled);
		if (!(scaled <= TOL_LOGIT) && !lc->bad++)
			FAIL("%s: step %d logit %d off by %g (PyTorch %g)", lc->what, step, w, d,
			     e);
	}
}

typedef struct {
	int n;
	int32_t *src[MAX_CASES];
	int len[MAX_CASES];
	json_t *greedy[MAX_CASES], *beam[MAX_CASES];
	s2s_decode_options dec, bopt[MAX_CASES];
} cases;

static void load_cases(json_t *root, cases *cs)
{
	json_t *d = json_object_get(root, "decode"), *arr = json_object_get(root, "cases");
	s2s_decode_options_init(&cs->dec);
	cs->dec.max_len_a = (float)num(json_object_get(d, "max_len_a"));
	cs->dec.max_len_b = (int)json_integer_value(json_object_get(d, "max_len_b"));
	cs->dec.max_len = (int)json_integer_value(json_object_get(d, "max_len"));
	cs->n = (int)json_array_size(arr);
	cr_assert(cs->n > 0 && cs->n <= MAX_CASES, "%s: %d cases", P.variant, cs->n);
	for (int i = 0; i < cs->n; i++) {
		json_t *c = json_array_get(arr, i), *ids = json_object_get(c, "src_ids");
		cs->len[i] = (int)json_array_size(ids);
		cs->src[i] = malloc(sizeof(int32_t) * (cs->len[i] ? cs->len[i] : 1));
		for (int k = 0; k < cs->len[i]; k++)
			cs->src[i][k] = (int32_t)json_integer_value(json_array_get(ids, k));
		cs->greedy[i] = json_object_get(c, "greedy");
		cs->beam[i] = json_object_get(c, "beam");
		s2s_decode_options *o = &cs->bopt[i];
		*o = cs->dec;
		o->beam_size = (int)json_integer_value(json_object_get(cs->beam[i], "beam_size"));
		o->n_best = (int)json_integer_value(json_object_get(cs->beam[i], "n_best"));
		o->length_penalty = (float)num(json_object_get(cs->beam[i], "length_penalty"));
	}
}

/* Greedy alone with per-step logits, and beam alone. */
static void run_alone(s2s_model *m, cases *cs)
{
	for (int i = 0; i < cs->n; i++) {
		char what[200];
		snprintf(what, sizeof(what), "%s case %d greedy", P.variant, i);
		logit_check lc = {json_object_get(cs->greedy[i], "logits"), what, 0};
		s2s_batch *b;
		s2s_error err = {0};
		cr_assert_eq(s2s_batch_new(m, 1, &b, &err), 0, "%s", err.message);
		s2s__batch_set_logits_hook(b, on_logits, &lc);
		cr_assert_geq(s2s_batch_add(b, cs->src[i], cs->len[i], &cs->dec, NULL, &err), 0,
		              "%s: %s", what, err.message);
		while (s2s_batch_active(b) > 0)
			cr_assert_geq(s2s_batch_step(b, &err), 0);
		s2s_result *r = s2s_batch_take_finished(b);
		compare_hyp(&r->hyps[0], r->n_src, cs->greedy[i], what);
		s2s_result_free(r);
		s2s_batch_free(b);

		snprintf(what, sizeof(what), "%s case %d beam", P.variant, i);
		cr_assert_eq(s2s_translate_ids(m, (const int32_t *const *)&cs->src[i], &cs->len[i],
		                               1, &cs->bopt[i], &r, &err),
		             0, "%s: %s", what, err.message);
		compare_result(r, json_object_get(cs->beam[i], "hyps"), what);
		s2s_result_free(r);
	}
}

/*
 * All cases in one batch. mode 0: all greedy, added at once; 1: greedy and
 * beam alternating; 2: mixed, one case joining per step.
 */
static void run_together(s2s_model *m, cases *cs, int mode)
{
	static const char *names[] = {"batch greedy", "batch mixed", "batch joining"};
	s2s_batch *b;
	s2s_error err = {0};
	cr_assert_eq(s2s_batch_new(m, 64 * cs->n, &b, &err), 0);
	s2s_result *got[MAX_CASES] = {0};
	int added = 0;
	while (added < cs->n || s2s_batch_active(b) > 0) {
		for (; added < cs->n; added++) {
			bool beam = mode > 0 && added % 2 == 1;
			cr_assert_geq(s2s_batch_add(b, cs->src[added], cs->len[added],
			                            beam ? &cs->bopt[added] : &cs->dec,
			                            (void *)(intptr_t)added, &err),
			              0, "%s", err.message);
			if (mode == 2) {
				added++;
				break;
			}
		}
		cr_assert_geq(s2s_batch_step(b, &err), 0);
		s2s_result *r;
		while ((r = s2s_batch_take_finished(b)) != NULL)
			got[(intptr_t)r->user] = r;
	}
	for (int i = 0; i < cs->n; i++) {
		char what[200];
		snprintf(what, sizeof(what), "%s case %d %s", P.variant, i, names[mode]);
		bool beam = mode > 0 && i % 2 == 1;
		if (beam)
			compare_result(got[i], json_object_get(cs->beam[i], "hyps"), what);
		else
			compare_hyp(&got[i]->hyps[0], got[i]->n_src, cs->greedy[i], what);
		s2s_result_free(got[i]);
	}
	s2s_batch_free(b);
}

static void run_variant(const char *dir, const char *json_name)
{
	char path[4096];
	int w = snprintf(path, sizeof(path), "%s/%s", dir, json_name);
	cr_assert(w > 0 && w + 12 < (int)sizeof(path), "fixture path too long: %s", json_name);
	json_error_t je;
	json_t *root = json_load_file(path, 0, &je);
	cr_assert_not_null(root, "%s: %s", path, je.text);
	const char *variant = json_string_value(json_object_get(root, "variant"));
	P.variant = variant ? variant : json_name;
	size_t l = strlen(path);
	snprintf(path + l - 5, sizeof(path) - l + 5, ".safetensors");
	s2s_model *m;
	s2s_error err = {0};
	cr_assert_eq(s2s_model_open(path, &m, &err), 0, "%s: %s", P.variant, err.message);
	cases cs;
	load_cases(root, &cs);
	int before = P.failures;
	run_alone(m, &cs);
	for (int mode = 0; mode < 3; mode++)
		run_together(m, &cs, mode);
	fprintf(stderr, "# parity: %-36s %d cases %s\n", P.variant, cs.n,
	        P.failures > before ? "FAILED" : "ok");
	for (int i = 0; i < cs.n; i++)
		free(cs.src[i]);
	s2s_model_unref(m);
	json_decref(root);
}

static const char *fixture_dir(char *buf, size_t n)
{
	const char *d = getenv("S2S_FIXTURES");
	if (d && *d)
		return d;
	const char *src = getenv("S2S_SRCDIR");
	snprintf(buf, n, "%s/tests/fixtures", src && *src ? src : S2S_SRCDIR);
	return buf;
}

static void report_deltas(FILE *f, int n)
{
	fprintf(f,
	        "# parity: %d variants, max |d logits| %.3g (relative beyond |z| = 1: %.3g), "
	        "|d attention| %.3g, |d scores| %.3g\n",
	        n, P.d_logit, P.d_logit_scaled, P.d_attn, P.d_score);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

Test(parity, every_fixture_variant_matches_pytorch, .timeout = 300)
{
	char buf[4096];
	const char *dir = fixture_dir(buf, sizeof(buf));
	DIR *d = opendir(dir);
	cr_assert_not_null(d, "cannot open fixture directory %s", dir);
	char *names[256];
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL && n < 256) {
		/* A variant is a .json with a .safetensors beside it (other goldens live here too).
		 */
		size_t l = strlen(de->d_name);
		char st[4096];
		if (l <= 5 || strcmp(de->d_name + l - 5, ".json") != 0)
			continue;
		int w =
		    snprintf(st, sizeof(st), "%s/%.*s.safetensors", dir, (int)(l - 5), de->d_name);
		if (w > 0 && w < (int)sizeof(st) && access(st, R_OK) == 0)
			names[n++] = strdup(de->d_name);
	}
	closedir(d);
	if (n == 0)
		cr_skip_test("no fixtures in %s yet", dir);
	qsort(names, (size_t)n, sizeof(*names), by_name);
	for (int i = 0; i < n; i++) {
		run_variant(dir, names[i]);
		free(names[i]);
	}
	report_deltas(stderr, n);
	/* In TAP mode Criterion drops the test's own output, so `make check`
	 * keeps the figures in a file beside the log. */
	const char *bd = getenv("S2S_BUILDDIR");
	char rp[4096];
	if (bd && *bd &&
	    snprintf(rp, sizeof(rp), "%s/tests/core/test_parity.deltas", bd) < (int)sizeof(rp)) {
		FILE *f = fopen(rp, "w");
		if (f) {
			report_deltas(f, n);
			fclose(f);
		}
	}
	cr_assert_eq(P.failures, 0, "%d parity failures (see above)", P.failures);
}
