/*
 * bench_core - throughput of the libs2s core on one checkpoint, next to
 * this machine's own OpenBLAS limits and (optionally) the PyTorch figures
 * written by bench/bench_torch.py.
 *
 *   bench_core MODEL [--torch FILE] [--threads 2,1] [--batches 1,8,32,64]
 *              [--seconds S] [--src-len N] [--steps T]
 *
 * For each OpenBLAS thread count (set at run time with
 * openblas_set_num_threads, so one process measures all of them) it
 * measures the sgemm peak (2048^3), the sgemv bandwidth, and greedy
 * translation of random source sentences of --src-len tokens forced to run
 * exactly --steps decoder steps (max_len_a 0, max_len_b T; the benchmark
 * model never emits </s>). Each batch size runs repeated
 * s2s_translate_ids calls for about --seconds; the figure is the batch size
 * over the median call time, which shrugs off other load on a shared box.
 *
 * FLOPs are counted analytically from the config (2 per multiply-add, see
 * docs/benchmarks.md); GFLOP/s is that count times sentences/s.
 */
#include <cblas.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "s2s_decode.h"
#include "s2s_model.h"

#define MAX_LIST 16

typedef struct {
	const char *model_path;
	const char *torch_path;
	int threads[MAX_LIST], n_threads;
	int batches[MAX_LIST], n_batches;
	double seconds;
	int src_len, steps;
} bench_options;

typedef struct {
	int batch;
	double sent_s;
	int threads;
	bool have;
} torch_figure;

/* PyTorch figures per batch: [0] as typically run, [1] tuned. */
typedef struct {
	torch_figure fig[2][MAX_LIST];
	int n[2];
} torch_figures;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Parses "1,8,32" into out; false on junk or values outside [1, 4096]. */
static bool parse_list(const char *s, int *out, int *n)
{
	*n = 0;
	while (*s && *n < MAX_LIST) {
		char *end;
		long v = strtol(s, &end, 10);
		if (end == s || v < 1 || v > 4096 || (*end && *end != ','))
			return false;
		out[(*n)++] = (int)v;
		s = *end ? end + 1 : end;
	}
	return *n > 0 && !*s;
}

/*
 * Analytic FLOPs of translating one sentence of n source tokens for T decoder
 * steps (2 per multiply-add; elementwise gate math, softmax and log_softmax
 * are left out: they are O(rows) next to the O(rows * cols) products).
 */
static double flops_per_sentence(const s2s_config *c, int n, int T)
{
	double G = s2s_config_gates(c), H = c->enc_hidden, K = s2s_config_enc_out(c);
	double D = c->dec_hidden, A = c->attn_dim, V = c->tgt_vocab_size;
	double dirs = c->bidirectional ? 2 : 1, enc = 0, dec = 0, once = 0;
	for (int l = 0; l < c->enc_layers; l++)
		enc += dirs * 2 * G * H * ((l == 0 ? c->emb_dim : K) + H);
	enc *= n;
	for (int l = 0; l < c->dec_layers; l++)
		dec += 2 * G * D * ((l == 0 ? s2s_config_dec_input(c) : D) + D);
	if (c->bridge == S2S_BRIDGE_LINEAR)
		once += 2 * c->dec_layers * D * K;
	if (c->attention == S2S_ATTN_ADDITIVE) {
		once += n * 2 * A * K;       /* keys W_k m_j + b_k */
		dec += 2 * A * D + n * 3 * A; /* query; add + v-dot per position */
	} else if (c->attention == S2S_ATTN_GENERAL) {
		once += n * 2 * D * K;
		dec += n * 2 * K;
	} else if (c->attention == S2S_ATTN_DOT) {
		dec += n * 2 * K;
	}
	if (c->attention != S2S_ATTN_NONE)
		dec += n * 2 * K; /* context = sum alpha_j m_j */
	if (c->attention != S2S_ATTN_NONE && c->placement == S2S_PLACE_LUONG)
		dec += 2 * D * (K + D); /* attention_out */
	dec += 2 * V * D;               /* output projection */
	return enc + once + T * dec;
}

/* Best-of-7 GFLOP/s of a square sgemm of size n (best, not median: a peak). */
static double sgemm_peak(int n)
{
	float *a = malloc(sizeof(float) * (size_t)n * n), *b = malloc(sizeof(float) * (size_t)n * n);
	float *c = malloc(sizeof(float) * (size_t)n * n);
	double best = 0;
	if (!a || !b || !c)
		goto out;
	for (size_t i = 0; i < (size_t)n * n; i++)
		a[i] = b[i] = (float)(i % 7) * 0.01f;
	for (int r = 0; r < 8; r++) { /* first run warms up threads and pages */
		double t = now_s();
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, a, n, b, n, 0.0f,
			    c, n);
		t = now_s() - t;
		if (r > 0 && 2.0 * n * n * n / t / 1e9 > best)
			best = 2.0 * n * n * n / t / 1e9;
	}
out:
	free(a), free(b), free(c);
	return best;
}

/* Best GB/s of y = W x over a rows x cols matrix (bytes of W over time). */
static double sgemv_bandwidth(int rows, int cols, int reps)
{
	float *w = malloc(sizeof(float) * (size_t)rows * cols);
	float *x = malloc(sizeof(float) * (size_t)cols), *y = malloc(sizeof(float) * (size_t)rows);
	double best = 0;
	if (!w || !x || !y)
		goto out;
	for (size_t i = 0; i < (size_t)rows * cols; i++)
		w[i] = (float)(i % 5) * 0.01f;
	for (int i = 0; i < cols; i++)
		x[i] = 1.0f;
	for (int r = 0; r <= reps; r++) {
		double t = now_s();
		cblas_sgemv(CblasRowMajor, CblasNoTrans, rows, cols, 1.0f, w, cols, x, 1, 0.0f, y, 1);
		t = now_s() - t;
		double gbs = 4.0 * rows * cols / t / 1e9;
		if (r > 0 && gbs > best)
			best = gbs;
	}
out:
	free(w), free(x), free(y);
	return best;
}

/* Random source sentences: ids 4..V-1 (never a special), fixed seed. */
static int32_t *random_sources(int count, int n, int vocab)
{
	int32_t *ids = malloc(sizeof(int32_t) * (size_t)count * n);
	uint64_t s = 0x9E3779B97F4A7C15ull;
	for (int i = 0; ids && i < count * n; i++) {
		s ^= s << 13, s ^= s >> 7, s ^= s << 17;
		ids[i] = 4 + (int32_t)(s % (uint64_t)(vocab - 4));
	}
	return ids;
}

/*
 * Sentences/s of greedy translation in batches of `batch`: batch over the
 * median wall time of one s2s_translate_ids call. Returns < 0 on error
 * (message printed). *steps_ok is cleared when a sentence did not take
 * exactly opt->steps steps (then the FLOP count would be wrong).
 */
static double core_throughput(s2s_model *m, const bench_options *opt, int batch, bool *steps_ok)
{
	const s2s_config *c = s2s_model_config(m);
	int32_t *ids = random_sources(batch, opt->src_len, c->src_vocab_size);
	const int32_t **src = malloc(sizeof *src * (size_t)batch);
	int *lens = malloc(sizeof *lens * (size_t)batch);
	s2s_result **res = calloc((size_t)batch, sizeof *res);
	double times[4096], rate = -1;
	int reps = 0;
	s2s_decode_options o;
	s2s_decode_options_init(&o);
	o.max_len_a = 0, o.max_len_b = opt->steps, o.attention = false;
	if (!ids || !src || !lens || !res)
		goto out;
	for (int i = 0; i < batch; i++)
		src[i] = ids + (size_t)i * opt->src_len, lens[i] = opt->src_len;
	for (double start = now_s(); reps < 4096;) {
		s2s_error err = {0};
		double t = now_s();
		if (s2s_translate_ids(m, src, lens, batch, &o, res, &err) < 0) {
			fprintf(stderr, "bench_core: translate failed: %s\n", err.message);
			goto out;
		}
		t = now_s() - t;
		for (int i = 0; i < batch; i++) {
			if (res[i]->n_hyps < 1 || res[i]->hyps[0].n != opt->steps)
				*steps_ok = false;
			s2s_result_free(res[i]);
		}
		if (t > 0 && now_s() - start > 0.1 * opt->seconds) /* first 10%: warm-up */
			times[reps++] = t;
		if (now_s() - start >= opt->seconds && reps >= 3)
			break;
	}
	rate = batch / median(times, reps);
out:
	free(ids), free(src), free(lens), free(res);
	return rate;
}

/* Reads "default|tuned BATCH SENT_S THREADS" lines; '#' lines are comments. */
static bool read_torch(const char *path, torch_figures *tf)
{
	FILE *f = fopen(path, "r");
	char line[256], mode[32];
	memset(tf, 0, sizeof *tf);
	if (!f) {
		perror(path);
		return false;
	}
	while (fgets(line, sizeof line, f)) {
		torch_figure fig = {.have = true};
		if (line[0] == '#' ||
		    sscanf(line, "%31s %d %lf %d", mode, &fig.batch, &fig.sent_s, &fig.threads) != 4)
			continue;
		int k = strcmp(mode, "default") == 0 ? 0 : strcmp(mode, "tuned") == 0 ? 1 : -1;
		if (k >= 0 && tf->n[k] < MAX_LIST)
			tf->fig[k][tf->n[k]++] = fig;
	}
	fclose(f);
	return true;
}

static const torch_figure *torch_at(const torch_figures *tf, int k, int batch)
{
	for (int i = 0; tf && i < tf->n[k]; i++)
		if (tf->fig[k][i].batch == batch)
			return &tf->fig[k][i];
	return NULL;
}

static void print_cell(double v, const char *fmt)
{
	if (v > 0)
		printf(fmt, v);
	else
		printf(" %10s |", "n/a");
}

/* One table for one OpenBLAS thread count; returns false on a core error. */
static bool bench_threads(s2s_model *m, const bench_options *opt, int threads,
			  const torch_figures *tf, double flops)
{
	openblas_set_num_threads(threads);
	double peak = sgemm_peak(2048);
	double bw_dram = sgemv_bandwidth(8192, 8192, 3);
	double bw_out = sgemv_bandwidth(s2s_model_config(m)->tgt_vocab_size,
					s2s_model_config(m)->dec_hidden, 20);
	printf("\nOpenBLAS threads %d: sgemm peak (2048^3) %.1f GFLOP/s; sgemv %.1f GB/s (8192x8192, "
	       "256 MiB), %.1f GB/s (output projection shape)\n",
	       threads, peak, bw_dram, bw_out);
	printf("| batch | core sent/s |    GFLOP/s | %% of peak | torch default sent/s | torch tuned "
	       "sent/s | core/torch-tuned |\n");
	printf("|------:|------------:|-----------:|----------:|---------------------:|-------------"
	       "-----:|-----------------:|\n");
	for (int i = 0; i < opt->n_batches; i++) {
		int b = opt->batches[i];
		bool steps_ok = true;
		double r = core_throughput(m, opt, b, &steps_ok);
		if (r < 0)
			return false;
		const torch_figure *td = torch_at(tf, 0, b), *tt = torch_at(tf, 1, b);
		double gf = r * flops / 1e9;
		printf("| %5d | %11.1f | %10.1f | %8.1f%% |", b, r, gf, 100 * gf / peak);
		print_cell(td ? td->sent_s : 0, " %20.1f |");
		print_cell(tt ? tt->sent_s : 0, " %18.1f |");
		print_cell(tt ? r / tt->sent_s : 0, " %15.2fx |");
		printf("%s\n", steps_ok ? "" : "  (WARNING: not every sentence ran --steps steps)");
		fflush(stdout);
	}
	return true;
}

static void usage(void)
{
	fputs("usage: bench_core MODEL [--torch FILE] [--threads 2,1] [--batches 1,8,32,64]\n"
	      "                  [--seconds S] [--src-len N] [--steps T]\n",
	      stderr);
}

static bool parse_args(int argc, char **argv, bench_options *o)
{
	*o = (bench_options){.seconds = 2.0, .src_len = 20, .steps = 20};
	parse_list("2,1", o->threads, &o->n_threads);
	parse_list("1,8,32,64", o->batches, &o->n_batches);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		bool ok = v != NULL;
		if (a[0] != '-') {
			o->model_path = a;
			continue;
		}
		if (ok && !strcmp(a, "--torch"))
			o->torch_path = v;
		else if (ok && !strcmp(a, "--threads"))
			ok = parse_list(v, o->threads, &o->n_threads);
		else if (ok && !strcmp(a, "--batches"))
			ok = parse_list(v, o->batches, &o->n_batches);
		else if (ok && !strcmp(a, "--seconds"))
			ok = (o->seconds = atof(v)) > 0;
		else if (ok && !strcmp(a, "--src-len"))
			ok = (o->src_len = atoi(v)) > 0;
		else if (ok && !strcmp(a, "--steps"))
			ok = (o->steps = atoi(v)) > 0;
		else
			ok = false;
		if (!ok) {
			fprintf(stderr, "bench_core: bad option or value: %s\n", a);
			return false;
		}
		i++;
	}
	return o->model_path != NULL;
}

int main(int argc, char **argv)
{
	bench_options opt;
	torch_figures tf;
	if (!parse_args(argc, argv, &opt)) {
		usage();
		return 2;
	}
	if (opt.torch_path && !read_torch(opt.torch_path, &tf))
		return 1;
	s2s_model *m;
	s2s_error err = {0};
	if (s2s_model_open(opt.model_path, &m, &err) < 0) {
		fprintf(stderr, "bench_core: %s: %s\n", opt.model_path, err.message);
		return 1;
	}
	const s2s_config *c = s2s_model_config(m);
	double flops = flops_per_sentence(c, opt.src_len, opt.steps);
	printf("model %s: %s E=%d H=%d x%d%s D=%d x%d attention %s/%s%s V=%d/%d, %lld parameters\n",
	       opt.model_path, s2s_cell_name(c->cell), c->emb_dim, c->enc_hidden, c->enc_layers,
	       c->bidirectional ? " bidi" : "", c->dec_hidden, c->dec_layers,
	       s2s_attn_name(c->attention), s2s_placement_name(c->placement),
	       c->input_feed ? " input-feed" : "", c->src_vocab_size, c->tgt_vocab_size,
	       (long long)s2s_model_param_count(m));
	printf("greedy, source length %d, %d decoder steps: %.1f MFLOP per sentence; %s\n",
	       opt.src_len, opt.steps, flops / 1e6, openblas_get_config());
	int rc = 0;
	for (int i = 0; i < opt.n_threads && rc == 0; i++)
		if (!bench_threads(m, &opt, opt.threads[i], opt.torch_path ? &tf : NULL, flops))
			rc = 1;
	s2s_model_unref(m);
	return rc;
}
