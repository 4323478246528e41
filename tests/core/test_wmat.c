/*
 * test_wmat.c - packed weight matrices (core/wmat.h): packing reads back
 * exactly, and every product equals, bit for bit, the one sequential chain
 * of multiply-adds per output that wmat.h promises (fused on the AVX2
 * path, multiply-then-add on the baseline one), whatever the shape, the
 * batch it shares, the element type and the thread count.
 * tests/core/test_wmat_generic.sh runs this again with S2S_KERNELS=generic.
 */
#include <cblas.h>
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "wmat.h"

#if defined(__x86_64__)
#include <cpuid.h>

static int has_f16c(void)
{
	unsigned a, b, c, d;
	return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}
#endif

static float frand(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return (float)((*s >> 8) & 0xffff) / 65535.0f * 2.0f - 1.0f;
}

/* float -> F16 bits, round to nearest even (normal range; test values are small). */
static uint16_t to_f16(float f)
{
	uint32_t b;
	memcpy(&b, &f, 4);
	uint32_t sign = (b >> 16) & 0x8000, exp = (b >> 23) & 0xff, man = b & 0x7fffff;
	if (exp < 113) /* below F16's normal range: flush (test values never get here) */
		return (uint16_t)sign;
	uint32_t h = ((exp - 112) << 10) | (man >> 13), rest = man & 0x1fff;
	if (rest > 0x1000 || (rest == 0x1000 && (h & 1)))
		h++;
	return (uint16_t)(sign | h);
}

static float from_f16(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
	uint32_t b = exp ? sign | ((exp + 112) << 23) | (man << 13) : sign;
	float f;
	memcpy(&f, &b, 4);
	return f;
}

/* float -> BF16 bits by truncation (any BF16 value is a valid test value). */
static uint16_t to_bf16(float f)
{
	uint32_t b;
	memcpy(&b, &f, 4);
	return (uint16_t)(b >> 16);
}

static float from_bf16(uint16_t h)
{
	uint32_t b = (uint32_t)h << 16;
	float f;
	memcpy(&f, &b, 4);
	return f;
}

/* A random (n, k) matrix in `type`'s source form, and its exact float values. */
typedef struct {
	s2s__wmat w;
	void *panels;
	float *values; /* (n, k) row-major, the exact values the kernels see */
} packed;

static void make(packed *p, s2s__wtype type, int n, int k, unsigned seed)
{
	p->values = malloc(sizeof(float) * (size_t)n * k);
	uint16_t *h = malloc(2 * (size_t)n * k);
	for (size_t i = 0; i < (size_t)n * k; i++) {
		float v = frand(&seed);
		if (type == S2S__W_F16) {
			h[i] = to_f16(v);
			v = from_f16(h[i]);
		} else if (type == S2S__W_BF16) {
			h[i] = to_bf16(v);
			v = from_bf16(h[i]);
		}
		p->values[i] = v;
	}
	size_t bytes = s2s__wmat_bytes(type, n, k);
	cr_assert_eq(bytes % 64, 0);
	p->panels = aligned_alloc(64, bytes);
	memset(p->panels, 0, bytes);
	s2s_dtype d = type == S2S__W_F32   ? S2S_DTYPE_F32
	              : type == S2S__W_F16 ? S2S_DTYPE_F16
	                                   : S2S_DTYPE_BF16;
	const void *src = type == S2S__W_F32 ? (const void *)p->values : (const void *)h;
	int64_t bad = -7;
	cr_assert_eq(s2s__wmat_pack(&p->w, p->panels, type, src, d, n, k, &bad), 0);
	cr_assert_eq(bad, -7, "bad_index touched on success");
	cr_assert_eq(p->w.n, n);
	cr_assert_eq(p->w.k, k);
	cr_assert_eq(p->w.type, type);
	free(h);
}

static void drop(packed *p)
{
	free(p->panels);
	free(p->values);
}

static int fused(void)
{
	return strcmp(s2s__wmat_isa(), "avx2") == 0;
}

/* The promised result for one output: a chain over kk from zero, then beta * c + sum. */
static float chain(const float *w, const float *a, int k, float c0, float beta)
{
	float acc = 0.0f;
	for (int q = 0; q < k; q++)
		acc = fused() ? fmaf(w[q], a[q], acc) : acc + w[q] * a[q];
	return beta != 0.0f ? c0 + acc : acc;
}

static void check_product(s2s__wtype type, int m, int n, int k, float beta)
{
	unsigned s = 7u + (unsigned)(m * 131 + n * 7 + k) + (unsigned)type * 1000u;
	packed p;
	make(&p, type, n, k, s);
	float *a = malloc(sizeof(float) * (size_t)m * k), *c = malloc(sizeof(float) * (size_t)m * n);
	float *c0 = malloc(sizeof(float) * (size_t)m * n);
	for (int i = 0; i < m * k; i++)
		a[i] = frand(&s);
	for (int i = 0; i < m * n; i++)
		c[i] = c0[i] = frand(&s);
	s2s__matmul_w(c, a, &p.w, m, beta);
	for (int i = 0; i < m; i++)
		for (int j = 0; j < n; j++) {
			float want = chain(p.values + (size_t)j * k, a + (size_t)i * k, k,
			                   c0[(size_t)i * n + j], beta);
			float got = c[(size_t)i * n + j];
			if (memcmp(&got, &want, 4) != 0)
				cr_assert_fail("type %d m=%d n=%d k=%d beta=%g (%d,%d): %a, want %a",
				               (int)type, m, n, k, beta, i, j, got, want);
		}
	free(a);
	free(c);
	free(c0);
	drop(&p);
}

Test(wmat, pack_reads_back_exactly_with_zero_padding)
{
	const s2s__wtype types[] = {S2S__W_F32, S2S__W_F16, S2S__W_BF16};
	for (int t = 0; t < 3; t++) {
		packed p;
		make(&p, types[t], 37, 19, 5u);
		float row[19];
		for (int r = 0; r < 37; r++) {
			s2s__wmat_row(&p.w, r, row);
			cr_assert_eq(memcmp(row, p.values + (size_t)r * 19, sizeof row), 0,
			             "type %d row %d", t, r);
		}
		/* rows 37 .. 47 of the last panel are zero bits */
		size_t esz = types[t] == S2S__W_F32 ? 4 : 2;
		const unsigned char *last = (const unsigned char *)p.panels + 2 * 16 * 19 * esz;
		for (int kk = 0; kk < 19; kk++)
			for (int r = 37 % 16; r < 16; r++)
				for (size_t b = 0; b < esz; b++)
					cr_assert_eq(last[((size_t)kk * 16 + r) * esz + b], 0);
		drop(&p);
	}
}

Test(wmat, f16_widens_exactly_into_f32_panels)
{
	uint16_t h[3] = {0x3c00, 0x0001, 0xc000}; /* 1, the smallest subnormal, -2 */
	float want[3] = {1.0f, 0x1p-24f, -2.0f}, row[3];
	void *dst = aligned_alloc(64, s2s__wmat_bytes(S2S__W_F32, 1, 3));
	memset(dst, 0, s2s__wmat_bytes(S2S__W_F32, 1, 3));
	s2s__wmat w;
	int64_t bad;
	cr_assert_eq(s2s__wmat_pack(&w, dst, S2S__W_F32, h, S2S_DTYPE_F16, 1, 3, &bad), 0);
	s2s__wmat_row(&w, 0, row);
	cr_assert_eq(memcmp(row, want, sizeof want), 0);
	/* a 16-bit type cannot be made from another dtype: refused, not converted */
	cr_assert_eq(s2s__wmat_pack(&w, dst, S2S__W_F16, want, S2S_DTYPE_F32, 1, 3, &bad), -1);
	free(dst);
}

Test(wmat, non_finite_weights_are_refused_with_their_index)
{
	float f[6] = {1, 2, 3, 4, INFINITY, 6};
	uint16_t h[6] = {0x3c00, 0x3c00, 0x7e00 /* NaN */, 0x3c00, 0x3c00, 0x7c00};
	uint16_t b[6] = {0x3f80, 0xff80 /* -Inf */, 0x3f80, 0x3f80, 0x3f80, 0x3f80};
	void *dst = aligned_alloc(64, s2s__wmat_bytes(S2S__W_F32, 2, 3));
	s2s__wmat w;
	int64_t bad = -1;
	cr_assert_eq(s2s__wmat_pack(&w, dst, S2S__W_F32, f, S2S_DTYPE_F32, 2, 3, &bad), -1);
	cr_assert_eq(bad, 4);
	cr_assert_eq(s2s__wmat_pack(&w, dst, S2S__W_F16, h, S2S_DTYPE_F16, 2, 3, &bad), -1);
	cr_assert_eq(bad, 2);
	cr_assert_eq(s2s__wmat_pack(&w, dst, S2S__W_BF16, b, S2S_DTYPE_BF16, 2, 3, &bad), -1);
	cr_assert_eq(bad, 1);
	free(dst);
}

Test(wmat, products_are_the_promised_chain_bit_for_bit, .timeout = 300)
{
	const s2s__wtype types[] = {S2S__W_F32, S2S__W_F16, S2S__W_BF16};
	const int ns[] = {1, 7, 16, 17, 33, 100};
	const int ks[] = {1, 3, 17, 64, 513};
	const int ms[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 64, 70};
	for (int t = 0; t < 3; t++)
		for (size_t a = 0; a < sizeof ns / sizeof *ns; a++)
			for (size_t b = 0; b < sizeof ks / sizeof *ks; b++)
				for (size_t c = 0; c < sizeof ms / sizeof *ms; c++)
					check_product(types[t], ms[c], ns[a], ks[b],
					              (float)((a + b + c) % 2));
}

/* Row i of a 64-row product is the same bits as row i computed alone or in any other batch. */
Test(wmat, a_row_does_not_depend_on_its_batch)
{
	int n = 300, k = 96, m = 64;
	packed p;
	make(&p, S2S__W_F16, n, k, 11u);
	unsigned s = 3u;
	float *a = malloc(sizeof(float) * (size_t)m * k), *c = malloc(sizeof(float) * (size_t)m * n);
	float *one = malloc(sizeof(float) * (size_t)n * 7);
	for (int i = 0; i < m * k; i++)
		a[i] = frand(&s);
	s2s__matmul_w(c, a, &p.w, m, 0.0f);
	for (int i = 0; i < m; i++) {
		int rows = 1 + i % 7; /* the row first, in a batch of 1 .. 7 */
		if (i + rows > m)
			rows = m - i;
		s2s__matmul_w(one, a + (size_t)i * k, &p.w, rows, 0.0f);
		cr_assert_eq(memcmp(one, c + (size_t)i * n, sizeof(float) * n), 0, "row %d", i);
	}
	free(a);
	free(c);
	free(one);
	drop(&p);
}

/* Two threads split the panels: the same bits as one (the cut is by panel, never inside a sum). */
Test(wmat, threads_do_not_change_the_bits)
{
	int n = 2000, k = 160;
	const int ms[] = {1, 3, 8, 64};
	packed p;
	make(&p, S2S__W_F32, n, k, 13u);
	unsigned s = 9u;
	float *a = malloc(sizeof(float) * 64 * k), *c1 = malloc(sizeof(float) * 64 * n);
	float *c2 = malloc(sizeof(float) * 64 * n);
	for (int i = 0; i < 64 * k; i++)
		a[i] = frand(&s);
	for (size_t t = 0; t < sizeof ms / sizeof *ms; t++) {
		openblas_set_num_threads(1);
		cr_assert_eq(s2s__kernel_threads(), 1);
		s2s__matmul_w(c1, a, &p.w, ms[t], 0.0f);
		openblas_set_num_threads(2);
		cr_assert_eq(s2s__kernel_threads(), 2);
		for (int rep = 0; rep < 20; rep++) { /* repeated: helpers spinning, then asleep */
			memset(c2, 0xff, sizeof(float) * (size_t)ms[t] * n);
			s2s__matmul_w(c2, a, &p.w, ms[t], 0.0f);
			cr_assert_eq(memcmp(c1, c2, sizeof(float) * (size_t)ms[t] * n), 0,
			             "m=%d rep %d", ms[t], rep);
		}
	}
	openblas_set_num_threads(1);
	free(a);
	free(c1);
	free(c2);
	drop(&p);
}

/* The kernels in use are the ones the CPU and S2S_KERNELS call for. */
Test(wmat, the_isa_is_the_one_asked_for)
{
	const char *force = getenv("S2S_KERNELS");
	if (force && strcmp(force, "generic") == 0)
		cr_assert_str_eq(s2s__wmat_isa(), "generic");
#if defined(__x86_64__)
	else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && has_f16c())
		cr_assert_str_eq(s2s__wmat_isa(), "avx2");
#endif
	else
		cr_assert_str_eq(s2s__wmat_isa(), "generic");
}

/* Two callers at once (the daemon's workers): one gets the helpers, the other runs alone; both right. */
typedef struct {
	const packed *p;
	const float *a, *want;
	int m, bad;
} caller_args;

static void *caller_main(void *arg)
{
	caller_args *c = arg;
	size_t bytes = sizeof(float) * (size_t)c->m * c->p->w.n;
	float *out = malloc(bytes);
	for (int rep = 0; rep < 50; rep++) {
		s2s__matmul_w(out, c->a, &c->p->w, c->m, 0.0f);
		c->bad += memcmp(out, c->want, bytes) != 0;
	}
	free(out);
	return NULL;
}

Test(wmat, concurrent_callers_share_the_helpers_safely)
{
	int n = 1500, k = 128, m = 9;
	packed p;
	make(&p, S2S__W_F16, n, k, 17u);
	unsigned s = 5u;
	float *a = malloc(sizeof(float) * (size_t)m * k), *want = malloc(sizeof(float) * (size_t)m * n);
	for (int i = 0; i < m * k; i++)
		a[i] = frand(&s);
	openblas_set_num_threads(1);
	s2s__matmul_w(want, a, &p.w, m, 0.0f);
	openblas_set_num_threads(2);
	caller_args c[3];
	pthread_t t[3];
	for (int i = 0; i < 3; i++) {
		c[i] = (caller_args){.p = &p, .a = a, .want = want, .m = m};
		cr_assert_eq(pthread_create(&t[i], NULL, caller_main, &c[i]), 0);
	}
	for (int i = 0; i < 3; i++) {
		pthread_join(t[i], NULL);
		cr_assert_eq(c[i].bad, 0, "caller %d got a wrong product %d times", i, c[i].bad);
	}
	openblas_set_num_threads(1);
	free(a);
	free(want);
	drop(&p);
}
