/*
 * bench_core - throughput of the libs2s core on one checkpoint, next to
 * this machine's own OpenBLAS limits and (optionally) the PyTorch figures
 * written by bench/bench_torch.py.
 *
 *   bench_core MODEL [--f16 MODEL16] [--int8] [--torch FILE] [--threads 2,1]
 *              [--batches 1,8,32,64] [--seconds S] [--src-len N] [--steps T]
 *
 * MODEL16 is the same model stored as F16 (run in place), --int8 loads MODEL
 * once more quantised (s2s_load_options): each is a column beside F32.
 * For each thread count (openblas_set_num_threads, which the core's own
 * kernels also follow, so one process measures all of them) it measures
 * OpenBLAS's sgemm peak (2048^3), the sgemv bandwidth, and greedy
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
#include "bench_util.h"

#define MAX_LIST 16

typedef struct {
	const char *model_path;
	const char *f16_path;
	bool int8;
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

/* PyTorch figures: [0] as typically run (per batch), [1] the best per thread count and batch. */
typedef struct {
	torch_figure fig[2][4 * MAX_LIST];
	int n[2];
	char config[4 * MAX_LIST][32]; /* the best's configuration */
} torch_figures;

/* The models one run compares: F32, and optionally F16 in place and int8. */
typedef struct {
	s2s_model *f32, *f16, *i8;
} bench_models;

/* What the issue asks for, per batch size (issue 11): core / PyTorch's best at equal threads. */
static double target_vs_torch(int batch)
{
	return batch == 1 ? 3.0 : batch == 8 ? 2.0 : 1.5;
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

/* Reads "default BATCH SENT_S THREADS" and "best THREADS BATCH SENT_S CONFIG" lines. */
static bool read_torch(const char *path, torch_figures *tf)
{
	FILE *f = fopen(path, "r");
	char line[256], mode[32], config[32];
	memset(tf, 0, sizeof *tf);
	if (!f) {
		perror(path);
		return false;
	}
	while (fgets(line, sizeof line, f)) {
		torch_figure fig = {.have = true};
		if (line[0] == '#' || sscanf(line, "%31s", mode) != 1)
			continue;
		if (strcmp(mode, "default") == 0 && tf->n[0] < 4 * MAX_LIST &&
		    sscanf(line, "%*s %d %lf %d", &fig.batch, &fig.sent_s, &fig.threads) == 3)
			tf->fig[0][tf->n[0]++] = fig;
		else if (strcmp(mode, "best") == 0 && tf->n[1] < 4 * MAX_LIST &&
		         sscanf(line, "%*s %d %d %lf %31s", &fig.threads, &fig.batch, &fig.sent_s,
		                config) == 4) {
			snprintf(tf->config[tf->n[1]], sizeof tf->config[0], "%s", config);
			tf->fig[1][tf->n[1]++] = fig;
		}
	}
	fclose(f);
	return true;
}

/* PyTorch's best at this thread count and batch, or NULL; *config names it. */
static const torch_figure *torch_best(const torch_figures *tf, int threads, int batch,
                                      const char **config)
{
	for (int i = 0; tf && i < tf->n[1]; i++)
		if (tf->fig[1][i].batch == batch && tf->fig[1][i].threads == threads) {
			*config = tf->config[i];
			return &tf->fig[1][i];
		}
	return NULL;
}

static void print_cell(double v, const char *fmt)
{
	if (v > 0)
		printf(fmt, v);
	else
		printf(" %10s |", "n/a");
}

/* Sentences/s of one model at one batch size, or 0 when the model is absent. */
static double rate_of(s2s_model *m, const bench_options *opt, int batch, bool *steps_ok,
                      bool *failed)
{
	if (!m)
		return 0;
	double r = core_throughput(m, opt, batch, steps_ok);
	if (r < 0)
		*failed = true;
	return r;
}

static const char *verdict(double got, double want)
{
	return got >= want ? "met" : "NOT met";
}

/*
 * The targets for one thread count, from the figures just measured.
 * Against PyTorch the faster of F32 and F16 counts: both give PyTorch's own
 * outputs on their weights, and PyTorch runs the F16 weights widened, at
 * F32's cost.
 */
static void print_targets(int threads, int nb, const int *batches, const double *f32,
                          const double *f16, const double *i8, const double *torch,
                          double peak, double flops)
{
	printf("targets, %d thread(s):\n", threads);
	for (int i = 0; i < nb; i++) {
		int b = batches[i];
		if (torch[i] > 0) {
			double want = target_vs_torch(b), best = f16[i] > f32[i] ? f16[i] : f32[i];
			printf("  batch %2d: core/PyTorch best = %.2fx F32", b, f32[i] / torch[i]);
			if (f16[i] > 0)
				printf(", %.2fx F16", f16[i] / torch[i]);
			printf(" (target >= %.1fx: %s)\n", want, verdict(best / torch[i], want));
		}
		if (b == 64) {
			double pct = 100 * f32[i] * flops / 1e9 / peak;
			double want = threads >= 2 ? 80 : 75;
			printf("  batch 64: F32 at %.1f %% of the same-run sgemm peak (target >= %.0f %%: "
			       "%s)\n",
			       pct, want, verdict(pct, want));
		}
		if (b == 1 && f16[i] > 0)
			printf("  batch  1: F16 in place / F32 = %.2fx (target >= 1.7x: %s)\n",
			       f16[i] / f32[i], verdict(f16[i] / f32[i], 1.7));
		if (b == 1 && i8[i] > 0)
			printf("  batch  1: int8 / F32 = %.2fx (target >= 3x: %s)\n", i8[i] / f32[i],
			       verdict(i8[i] / f32[i], 3.0));
	}
}

/* One table for one thread count; returns false on a core error. */
static bool bench_threads(const bench_models *bm, const bench_options *opt, int threads,
			  const torch_figures *tf, double flops)
{
	s2s_model *m = bm->f32;
	openblas_set_num_threads(threads);
	double peak = sgemm_peak(2048);
	double bw_dram = sgemv_bandwidth(8192, 8192, 3);
	double bw_out = sgemv_bandwidth(s2s_model_config(m)->tgt_vocab_size,
					s2s_model_config(m)->dec_hidden, 20);
	printf("\nthreads %d: OpenBLAS sgemm peak (2048^3) %.1f GFLOP/s; sgemv %.1f GB/s (8192x8192, "
	       "256 MiB), %.1f GB/s (output projection shape)\n",
	       threads, peak, bw_dram, bw_out);
	printf("| batch | F32 sent/s | GFLOP/s | %% of peak | F16 sent/s | int8 sent/s | "
	       "PyTorch best sent/s (config) | F32/PyTorch | F16/PyTorch |\n");
	printf("|------:|-----------:|--------:|----------:|-----------:|------------:|"
	       "-----------------------------:|------------:|------------:|\n");
	double f32[MAX_LIST], f16[MAX_LIST], i8[MAX_LIST], torch[MAX_LIST];
	for (int i = 0; i < opt->n_batches; i++) {
		int b = opt->batches[i];
		bool steps_ok = true, failed = false;
		f32[i] = rate_of(m, opt, b, &steps_ok, &failed);
		f16[i] = rate_of(bm->f16, opt, b, &steps_ok, &failed);
		i8[i] = rate_of(bm->i8, opt, b, &steps_ok, &failed);
		if (failed)
			return false;
		const char *config = "";
		const torch_figure *tb = torch_best(tf, threads, b, &config);
		torch[i] = tb ? tb->sent_s : 0;
		double gf = f32[i] * flops / 1e9;
		printf("| %5d | %10.1f | %7.1f | %8.1f%% |", b, f32[i], gf, 100 * gf / peak);
		print_cell(f16[i], " %10.1f |");
		print_cell(i8[i], " %11.1f |");
		if (tb)
			printf(" %15.1f (%-11s) |", tb->sent_s, config);
		else
			printf(" %29s |", "n/a");
		print_cell(tb ? f32[i] / tb->sent_s : 0, " %10.2fx |");
		print_cell(tb && f16[i] > 0 ? f16[i] / tb->sent_s : 0, " %10.2fx |");
		printf("%s\n", steps_ok ? "" : "  (WARNING: not every sentence ran --steps steps)");
		fflush(stdout);
	}
	print_targets(threads, opt->n_batches, opt->batches, f32, f16, i8, torch, peak, flops);
	return true;
}

static void usage(void)
{
	fputs("usage: bench_core MODEL [--f16 MODEL16] [--int8] [--torch FILE] [--threads 2,1]\n"
	      "                  [--batches 1,8,32,64] [--seconds S] [--src-len N] [--steps T]\n",
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
		if (!strcmp(a, "--int8")) {
			o->int8 = true;
			continue;
		}
		if (ok && !strcmp(a, "--torch"))
			o->torch_path = v;
		else if (ok && !strcmp(a, "--f16"))
			o->f16_path = v;
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
	bench_models bm = {0};
	s2s_error err = {0};
	if (s2s_model_open(opt.model_path, &bm.f32, &err) < 0) {
		fprintf(stderr, "bench_core: %s: %s\n", opt.model_path, err.message);
		return 1;
	}
	if (opt.f16_path && s2s_model_open(opt.f16_path, &bm.f16, &err) < 0) {
		fprintf(stderr, "bench_core: %s: %s\n", opt.f16_path, err.message);
		return 1;
	}
	s2s_load_options q = {.quantize = S2S_QUANTIZE_INT8};
	if (opt.int8 && s2s_model_open_with(opt.model_path, &q, &bm.i8, &err) < 0) {
		fprintf(stderr, "bench_core: %s as int8: %s\n", opt.model_path, err.message);
		return 1;
	}
	s2s_model *m = bm.f32;
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
	printf("weights: %s%s%s; core kernels: %s\n", s2s_model_weight_type(m),
	       bm.f16 ? ", f16 copy" : "", bm.i8 ? ", int8 copy" : "", s2s_kernels_isa());
	int rc = 0;
	for (int i = 0; i < opt.n_threads && rc == 0; i++)
		if (!bench_threads(&bm, &opt, opt.threads[i], opt.torch_path ? &tf : NULL, flops))
			rc = 1;
	s2s_model_unref(bm.i8);
	s2s_model_unref(bm.f16);
	s2s_model_unref(bm.f32);
	return rc;
}
