/*
 * bench_options - what the issue-14 decoding controls cost
 * (docs/checkpoint-format.md §7.1-7.6): beam 5 with a coverage penalty
 * against plain beam 5, and sampling (top-k 10; top-p 0.9) and the logit
 * processors against plain greedy, all measured in this run, interleaved
 * round by round so that a load change hits every mode alike.
 *
 *   bench/bench_options SRCDIR [ROUNDS [MODE]]   (SRCDIR/models/en-fr.safetensors
 *       and SRCDIR/bench/ui-sentences.txt; 15 rounds; MODE k: only the k-th line,
 *       for a profiler)
 *
 * Each round translates all sentences in one batch on one thread. Printed per
 * mode: median ms per round, ms per decoder step (sampling changes the output
 * lengths, so time per step is the fair ratio), and both as ratios to the
 * baseline line.
 */
#include "config.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "s2s_decode.h"
#include "s2s_model.h"
#include "s2s_tokenizer.h"
#include "bench_util.h"

#define MAX_SENT   256
#define MAX_ROUNDS 100

typedef struct {
	const char *name;
	int base; /* index of the mode it is compared with */
	s2s_decode_options o;
	double ms[MAX_ROUNDS];
	long steps; /* decoder steps of one round (sum over sentences) */
} mode;

/* Tokenized lines of path into src/len; returns how many (< 0: error printed). */
static int read_sentences(s2s_model *m, const char *path, int32_t **src, int *len)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	int n = 0;
	if (!f) {
		perror(path);
		return -1;
	}
	while (n < MAX_SENT && fgets(line, sizeof line, f)) {
		size_t l = strcspn(line, "\r\n");
		s2s_tokens tok;
		s2s_error err = {0};
		if (l == 0)
			continue;
		if (s2s_tokenize(s2s_model_src_tokenizer(m), s2s_model_src_vocab(m), line, l, &tok,
		                 &err) < 0) {
			fprintf(stderr, "bench_options: %s: %s\n", path, err.message);
			fclose(f);
			return -1;
		}
		src[n] = malloc((size_t)tok.n * sizeof(int32_t));
		memcpy(src[n], tok.ids, (size_t)tok.n * sizeof(int32_t));
		len[n++] = tok.n;
		s2s_tokens_deinit(&tok);
	}
	fclose(f);
	return n;
}

/* One round of mode md; returns its wall time in ms (< 0: error printed). */
static double round_of(s2s_model *m, mode *md, int32_t **src, int *len, int n)
{
	s2s_result *res[MAX_SENT];
	s2s_error err = {0};
	double t = 1e3 * now_s();
	if (s2s_translate_ids(m, (const int32_t *const *)src, len, n, &md->o, res, &err) < 0) {
		fprintf(stderr, "bench_options: %s: %s\n", md->name, err.message);
		return -1;
	}
	t = 1e3 * now_s() - t;
	md->steps = 0;
	for (int i = 0; i < n; i++) {
		md->steps += res[i]->steps;
		s2s_result_free(res[i]);
	}
	return t;
}

static void init_modes(mode *md)
{
	for (int k = 0; k < 6; k++)
		s2s_decode_options_init(&md[k].o);
	md[0].name = "greedy";
	md[1].name = "sampling top-k 10";
	md[1].o.sampling_topk = 10;
	md[2].name = "sampling top-p 0.9 (k 0)";
	md[2].o.sampling_topk = 0;
	md[2].o.sampling_topp = 0.9f;
	md[3].name = "greedy + processors";
	md[3].o.no_repeat_ngram_size = 3;
	md[3].o.repetition_penalty = 1.2f;
	md[3].o.disable_unk = true;
	md[4].name = "beam 5";
	md[4].base = 4;
	md[4].o.beam_size = 5;
	md[5].name = "beam 5 + coverage 0.2";
	md[5].base = 4;
	md[5].o.beam_size = 5;
	md[5].o.coverage_penalty = 0.2f;
	for (int k = 0; k < 6; k++)
		md[k].o.attention = false; /* as the daemon's default request: no matrices */
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: bench_options SRCDIR [ROUNDS]\n");
		return 2;
	}
	int rounds = argc > 2 ? atoi(argv[2]) : 15;
	rounds = rounds < 3 ? 3 : rounds > MAX_ROUNDS ? MAX_ROUNDS : rounds;
	char path[4096];
	snprintf(path, sizeof path, "%s/models/en-fr.safetensors", argv[1]);
	s2s_model *m;
	s2s_error err = {0};
	if (s2s_model_open(path, &m, &err) < 0) {
		fprintf(stderr, "bench_options: %s: %s\n", path, err.message);
		return 1;
	}
	openblas_set_num_threads(1);
	static int32_t *src[MAX_SENT];
	static int len[MAX_SENT];
	snprintf(path, sizeof path, "%s/bench/ui-sentences.txt", argv[1]);
	int n = read_sentences(m, path, src, len);
	int rc = n > 0 ? 0 : 1;
	mode md[6] = {0};
	init_modes(md);
	int only = argc > 3 ? atoi(argv[3]) : -1;
	if (only >= 0 && only < 6) {
		for (int r = 0; r < rounds && rc == 0; r++)
			rc = round_of(m, &md[only], src, len, n) < 0;
		printf("%s: %d rounds, %ld steps each\n", md[only].name, rounds, md[only].steps);
		rounds = 0;
	}
	for (int r = -1; r < rounds && rc == 0 && only < 0; r++) /* round -1: warm-up */
		for (int k = 0; k < 6 && rc == 0; k++) {
			double t = round_of(m, &md[k], src, len, n);
			if (t < 0)
				rc = 1;
			else if (r >= 0)
				md[k].ms[r] = t;
		}
	if (rc == 0 && rounds > 0) {
		printf(
		    "decoding controls, en-fr, %d UI sentences per round, 1 thread, median of %d "
		    "rounds\n",
		    n, rounds);
		printf("%-26s %9s %10s %12s %10s\n", "mode", "ms/round", "us/step", "ratio(round)",
		       "ratio(step)");
		double med[6];
		for (int k = 0; k < 6; k++)
			med[k] = median(md[k].ms, rounds);
		for (int k = 0; k < 6; k++) {
			const mode *b = &md[md[k].base];
			double us = 1e3 * med[k] / (double)md[k].steps;
			double bus = 1e3 * med[md[k].base] / (double)b->steps;
			printf("%-26s %9.2f %10.2f %11.3fx %9.3fx  (vs %s)\n", md[k].name, med[k],
			       us, med[k] / med[md[k].base], us / bus, b->name);
		}
	}
	for (int i = 0; i < n; i++)
		free(src[i]);
	s2s_model_unref(m);
	return rc;
}
