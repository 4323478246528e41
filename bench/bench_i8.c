/*
 * bench_i8.c - int8 weight products (core/wmat_i8.c) against OpenBLAS's
 * float ones, side by side in one run.
 *
 *   bench/bench_i8 [threads]      (default 1; `make bench-i8` runs 1 and 2)
 *
 * For two (n, k) weights shaped like the benchmark model's (an 8000-word
 * output projection from 512, and stacked gates 2048 x 1280), at m = 1, 8
 * and 64 rows of activations:
 * the time per product and the weight bytes read per second (the matrix's
 * bytes / time: at m = 1 both are bandwidth-bound, so this is the figure
 * that matters there) for F32 via cblas_sgemv/sgemm and for int8, and the
 * ratio. The two sides alternate in rounds and each keeps its best round,
 * so a noisy shared machine hurts both alike. The activations are quantised
 * inside every int8 call, as in the engine.
 */
#include "config.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wmat_i8.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *rand_floats(size_t len, unsigned seed)
{
	float *x = malloc(sizeof(float) * len);
	if (!x) {
		fprintf(stderr, "bench_i8: out of memory\n");
		exit(1);
	}
	for (size_t i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		x[i] = (float)((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
	}
	return x;
}

typedef struct {
	int n, k, m;
	const float *w, *a;
	const s2s__wmat *q;
	float *c;
} bench_case;

static void run_f32(const bench_case *b)
{
	if (b->m == 1)
		cblas_sgemv(CblasRowMajor, CblasNoTrans, b->n, b->k, 1.0f, b->w, b->k, b->a, 1,
		            0.0f, b->c, 1);
	else
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, b->m, b->n, b->k, 1.0f, b->a,
		            b->k, b->w, b->k, 0.0f, b->c, b->n);
}

static void run_i8(const bench_case *b)
{
	s2s__i8_matmul(b->c, b->a, b->q, b->m, 0.0f);
}

/* Seconds per call of fn over one round of about `budget` seconds. */
static double time_round(void (*fn)(const bench_case *), const bench_case *b, double budget)
{
	int reps = 1;
	for (;;) {
		double t0 = now();
		for (int r = 0; r < reps; r++)
			fn(b);
		double dt = now() - t0;
		if (dt >= budget)
			return dt / reps;
		reps = dt <= 0.0 ? reps * 10 : (int)(reps * budget * 1.2 / dt) + 1;
	}
}

static void bench_shape(int n, int k, int m)
{
	float *w = rand_floats((size_t)n * k, 1u + (unsigned)n), *a = rand_floats((size_t)m * k, 2);
	float *c = rand_floats((size_t)m * n, 3);
	void *mem = aligned_alloc(64, s2s__i8_bytes(n, k));
	s2s__wmat q;
	int64_t bad;
	if (!mem || s2s__i8_pack(&q, mem, w, S2S_DTYPE_F32, n, k, &bad) != 0) {
		fprintf(stderr, "bench_i8: cannot pack\n");
		exit(1);
	}
	bench_case b = {.n = n, .k = k, .m = m, .w = w, .a = a, .q = &q, .c = c};
	double best_f = 1e30, best_q = 1e30;
	run_f32(&b); /* warm both */
	run_i8(&b);
	for (int round = 0; round < 5; round++) {
		double tf = time_round(run_f32, &b, 0.06), tq = time_round(run_i8, &b, 0.06);
		best_f = tf < best_f ? tf : best_f;
		best_q = tq < best_q ? tq : best_q;
	}
	double bf = (double)n * k * sizeof(float), bq = (double)s2s__i8_bytes(n, k);
	printf("%5d x %-5d %4d | %9.1f %7.1f | %9.1f %7.1f | %5.2fx\n", n, k, m, best_f * 1e6,
	       bf / best_f / 1e9, best_q * 1e6, bq / best_q / 1e9, best_f / best_q);
	free(w);
	free(a);
	free(c);
	free(mem);
}

int main(int argc, char **argv)
{
	int threads = argc > 1 ? atoi(argv[1]) : 1;
	if (threads < 1)
		threads = 1;
	openblas_set_num_threads(threads);
	printf("int8 vs F32 products, %d thread(s), int8 kernel %s; best of 5 rounds\n", threads,
	       s2s__i8_isa());
	printf("%-11s %4s | %9s %7s | %9s %7s | %s\n", "n x k", "m", "F32 us", "GB/s", "int8 us",
	       "GB/s", "F32/int8");
	static const int shapes[][2] = {{8000, 512}, {2048, 1280}};
	static const int ms[] = {1, 8, 64};
	for (int s = 0; s < 2; s++)
		for (int i = 0; i < 3; i++)
			bench_shape(shapes[s][0], shapes[s][1], ms[i]);
	return 0;
}

