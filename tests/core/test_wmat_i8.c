/*
 * test_wmat_i8.c - int8 weight matrices (core/wmat_i8.c) against
 * recomputations written out here: the quantisation rules, the exact
 * integer product with its fixed final formula, a double-precision
 * reference, every instruction set this CPU has, threads, batches.
 */
#include <cblas.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wmat_i8.h"

/* ---- helpers ---- */

static uint64_t rng_next(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return *s >> 11;
}

static float urand(uint64_t *s) /* (-1, 1) */
{
	return (float)((double)rng_next(s) / 9007199254740992.0 * 2.0 - 1.0);
}

static float nrand(uint64_t *s) /* standard normal (Box-Muller) */
{
	double u1 = ((double)rng_next(s) + 1.0) / 9007199254740993.0;
	double u2 = (double)rng_next(s) / 9007199254740992.0;
	return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static float *frand_matrix(int rows, int cols, uint64_t seed)
{
	float *x = malloc(sizeof(float) * (size_t)rows * cols + 1);
	cr_assert(x);
	for (int i = 0; i < rows * cols; i++)
		x[i] = urand(&seed) * (float)(1 + i % 7);
	return x;
}

typedef struct {
	s2s__wmat w;
	void *mem;
} packed;

static packed pack_f32(const float *src, int n, int k)
{
	packed p;
	p.mem = aligned_alloc(64, s2s__i8_bytes(n, k));
	cr_assert(p.mem);
	memset(p.mem, 0xa5, s2s__i8_bytes(n, k)); /* packing must write every byte */
	int64_t bad = -1;
	cr_assert_eq(s2s__i8_pack(&p.w, p.mem, src, S2S_DTYPE_F32, n, k, &bad), 0);
	return p;
}

/* The quantisation rule, written independently: scale = max|x| / 127,
 * q = round-half-even(x / scale) clamped to [-127, 127]. */
static float ref_quantise(const float *x, int k, int8_t *q)
{
	float m = 0.0f;
	for (int j = 0; j < k; j++)
		m = fmaxf(m, fabsf(x[j]));
	float s = m / 127.0f;
	for (int j = 0; j < k; j++) {
		float t = s > 0.0f ? x[j] / s : 0.0f;
		t = fminf(127.0f, fmaxf(-127.0f, t));
		q[j] = (int8_t)nearbyintf(t);
	}
	return s;
}

/* The documented layout: 16-row panels of 64-byte lines of 4 consecutive k. */
static int8_t layout_q(const s2s__wmat *w, int r, int kk)
{
	int groups = (w->k + 3) / 4;
	const int8_t *p = w->panels;
	return p[((size_t)(r / 16) * groups + kk / 4) * 64 + (r % 16) * 4 + kk % 4];
}

/* The expected product, bit for bit: exact integer dot, then the fixed formula. */
static void ref_product(float *c, const float *a, const float *wsrc, int m, int n, int k,
                        float beta)
{
	int8_t *qw = malloc((size_t)n * k + 1), *qa = malloc((size_t)k + 1);
	float *sw = malloc(sizeof(float) * n);
	cr_assert(qw && qa && sw);
	for (int r = 0; r < n; r++)
		sw[r] = ref_quantise(wsrc + (size_t)r * k, k, qw + (size_t)r * k);
	for (int i = 0; i < m; i++) {
		float sa = ref_quantise(a + (size_t)i * k, k, qa);
		for (int r = 0; r < n; r++) {
			int64_t d = 0;
			for (int j = 0; j < k; j++)
				d += (int64_t)qw[(size_t)r * k + j] * qa[j];
			volatile float v = (float)d * (sa * sw[r]); /* no fused multiply-add */
			float *ci = &c[(size_t)i * n + r];
			*ci = beta == 0.0f ? v : *ci + v;
		}
	}
	free(qw);
	free(qa);
	free(sw);
}

static void assert_same_bits(const float *x, const float *y, size_t len, const char *what)
{
	for (size_t i = 0; i < len; i++)
		if (memcmp(&x[i], &y[i], sizeof(float)) != 0)
			cr_assert_fail("%s: element %zu differs: %.9g vs %.9g (isa %s)", what, i, x[i],
			         y[i], s2s__i8_isa());
}

/* ---- packing ---- */

Test(wmat_i8, pack_scales_q_and_padding)
{
	static const int shapes[][2] = {{1, 1}, {3, 17}, {17, 3}, {33, 100}, {100, 33}, {16, 64}};
	for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
		int n = shapes[si][0], k = shapes[si][1];
		float *src = frand_matrix(n, k, 7 + si);
		if (n > 2)
			memset(src + k, 0, sizeof(float) * k); /* a zero row: scale 0, q 0 */
		packed p = pack_f32(src, n, k);
		cr_assert_eq(p.w.type, S2S__W_I8);
		cr_assert_eq(p.w.n, n);
		cr_assert_eq(p.w.k, k);
		cr_assert_eq(s2s__i8_bytes(n, k) % 64, 0);
		int8_t *q = malloc((size_t)k);
		float *row = malloc(sizeof(float) * k);
		for (int r = 0; r < n; r++) {
			float s = ref_quantise(src + (size_t)r * k, k, q);
			cr_assert_eq(p.w.scales[r], s, "n=%d k=%d row %d scale", n, k, r);
			s2s__i8_row(&p.w, r, row);
			for (int kk = 0; kk < k; kk++) {
				cr_assert_eq(layout_q(&p.w, r, kk), q[kk], "(%d,%d) of %dx%d", r, kk,
				             n, k);
				cr_assert_eq(row[kk], (float)q[kk] * s);
			}
		}
		/* Every stored byte in [-127, 127]; padding rows and columns zero. */
		int rows = (n + 15) / 16 * 16, kp = (k + 3) / 4 * 4;
		for (int r = 0; r < rows; r++)
			for (int kk = 0; kk < kp; kk++) {
				int8_t v = layout_q(&p.w, r, kk);
				cr_assert(v >= -127);
				if (r >= n || kk >= k)
					cr_assert_eq(v, 0, "padding (%d,%d) of %dx%d", r, kk, n, k);
			}
		for (int r = n; r < rows; r++)
			cr_assert_eq(p.w.scales[r], 0.0f);
		cr_assert((const char *)p.w.scales + rows * sizeof(float) <=
		          (const char *)p.mem + s2s__i8_bytes(n, k));
		free(q);
		free(row);
		free(src);
		free(p.mem);
	}
}

Test(wmat_i8, pack_rounds_half_to_even_and_never_minus_128)
{
	/* scale = 127 / 127 = 1, so q = round(w): halves go to the even neighbour. */
	float src[8] = {127.0f, 0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -127.0f, 126.5f};
	int8_t want[8] = {127, 0, 2, 2, 0, -2, -127, 126};
	packed p = pack_f32(src, 1, 8);
	cr_assert_eq(p.w.scales[0], 1.0f);
	for (int j = 0; j < 8; j++)
		cr_assert_eq(layout_q(&p.w, 0, j), want[j], "element %d", j);
	free(p.mem);
	/* Subnormal weights: the scale (190 / 127 of the smallest float) rounds down
	 * to the smallest float, so w / scale is -190 and must clamp to -127. */
	float sub[2] = {-190.0f * 1.40129846e-45f, 3.0f * 1.40129846e-45f};
	p = pack_f32(sub, 1, 2);
	cr_assert_eq(p.w.scales[0], 1.40129846e-45f);
	cr_assert_eq(layout_q(&p.w, 0, 0), -127);
	cr_assert_eq(layout_q(&p.w, 0, 1), 3);
	free(p.mem);
}

static void check_bad(float bad_value, int n, int k, int64_t at)
{
	float *src = frand_matrix(n, k, 3);
	src[at] = bad_value;
	src[(size_t)n * k - 1] = INFINITY; /* a later one must not be the one reported */
	void *mem = aligned_alloc(64, s2s__i8_bytes(n, k));
	s2s__wmat w;
	int64_t bad = -1;
	cr_assert_eq(s2s__i8_pack(&w, mem, src, S2S_DTYPE_F32, n, k, &bad), -1);
	cr_assert_eq(bad, at, "value %g", bad_value);
	free(src);
	free(mem);
}

Test(wmat_i8, pack_refuses_non_finite_with_its_index)
{
	check_bad(NAN, 5, 1500, 2 * 1500 + 1100); /* past the first conversion chunk */
	check_bad(-INFINITY, 5, 7, 0);
	check_bad(NAN, 3, 9, 3 * 9 - 1);
}

/* An independent half -> float: value = (-1)^s * 2^(e-15) * (1 + m/1024). */
static float f16_value(uint16_t h)
{
	int e = (h >> 10) & 31, man = h & 1023;
	double v = e ? ldexp(1.0 + man / 1024.0, e - 15) : ldexp(man / 1024.0, -14);
	return (float)((h & 0x8000) ? -v : v);
}

Test(wmat_i8, pack_f16_and_bf16_sources)
{
	int n = 19, k = 37;
	uint16_t *h = malloc(sizeof(uint16_t) * n * k), *b = malloc(sizeof(uint16_t) * n * k);
	float *fh = malloc(sizeof(float) * n * k), *fb = malloc(sizeof(float) * n * k);
	uint64_t s = 99;
	for (int i = 0; i < n * k; i++) {
		/* any finite half (exponent < 31), subnormals included */
		h[i] = (uint16_t)(rng_next(&s) % 0x7c00u) | (uint16_t)(i % 2 ? 0x8000 : 0);
		fh[i] = f16_value(h[i]);
		float f = urand(&s) * 3.0f;
		uint32_t bits;
		memcpy(&bits, &f, 4);
		b[i] = (uint16_t)(bits >> 16);
		bits = (uint32_t)b[i] << 16;
		memcpy(&fb[i], &bits, 4);
	}
	const void *srcs[2] = {h, b};
	const float *want[2] = {fh, fb};
	s2s_dtype dt[2] = {S2S_DTYPE_F16, S2S_DTYPE_BF16};
	for (int v = 0; v < 2; v++) {
		packed ref = pack_f32(want[v], n, k);
		void *mem = aligned_alloc(64, s2s__i8_bytes(n, k));
		s2s__wmat w;
		int64_t bad = -1;
		cr_assert_eq(s2s__i8_pack(&w, mem, srcs[v], dt[v], n, k, &bad), 0);
		cr_assert_eq(memcmp(mem, ref.mem, s2s__i8_bytes(n, k)), 0, "dtype %d", v);
		free(mem);
		free(ref.mem);
	}
	/* A non-finite half is refused with its index. */
	h[5 * k + 4] = 0x7e00; /* NaN */
	void *mem = aligned_alloc(64, s2s__i8_bytes(n, k));
	s2s__wmat w;
	int64_t bad = -1;
	cr_assert_eq(s2s__i8_pack(&w, mem, h, S2S_DTYPE_F16, n, k, &bad), -1);
	cr_assert_eq(bad, 5 * k + 4);
	free(mem);
	free(h);
	free(b);
	free(fh);
	free(fb);
}

/* ---- products ---- */

/*
 * For every shape: the product of rows [off, off + m) for m = 1 .. 70 equals
 * the exact formula bit for bit (so a row never depends on its batch), and
 * the double-precision dequantised product within the float rounding of the
 * final multiply.
 */
static void check_shapes(void)
{
	static const int sizes[] = {1, 3, 17, 33, 100, 513};
	const int M = 74;
	for (int ni = 0; ni < 6; ni++)
		for (int ki = 0; ki < 6; ki++) {
			int n = sizes[ni], k = sizes[ki];
			float *wsrc = frand_matrix(n, k, 11 + ni * 6 + ki);
			float *a = frand_matrix(M, k, 5 + ni * 6 + ki);
			memset(a + 2 * k, 0, sizeof(float) * k); /* a zero activation row */
			float *c0 = frand_matrix(M, n, 1);
			float *want0 = malloc(sizeof(float) * M * n), *want1 = malloc(sizeof(float) * M * n);
			float *got = malloc(sizeof(float) * M * n);
			memcpy(want1, c0, sizeof(float) * M * n);
			ref_product(want0, a, wsrc, M, n, k, 0.0f);
			ref_product(want1, a, wsrc, M, n, k, 1.0f);
			packed p = pack_f32(wsrc, n, k);
			for (int m = 1; m <= 70; m++) {
				int off = m % 5;
				float beta = m % 2 ? 0.0f : 1.0f;
				memcpy(got, c0, sizeof(float) * M * n);
				s2s__i8_matmul(got + off * n, a + off * k, &p.w, m, beta);
				char what[64];
				snprintf(what, sizeof what, "n=%d k=%d m=%d beta=%g", n, k, m, beta);
				assert_same_bits(got + off * n, (beta == 0.0f ? want0 : want1) + off * n,
				                 (size_t)m * n, what);
				/* rows outside the call untouched */
				assert_same_bits(got, c0, (size_t)off * n, "before");
				assert_same_bits(got + (off + m) * n, c0 + (off + m) * n,
				                 (size_t)(M - off - m) * n, "after");
			}
			/* Double-precision dequantised product: the integer dot and the
			 * two scales are exact inputs, so only three float roundings remain. */
			int8_t *qa = malloc((size_t)k);
			float *wr = malloc(sizeof(float) * k);
			for (int i = 0; i < 8; i++) {
				double sa = ref_quantise(a + (size_t)i * k, k, qa);
				for (int r = 0; r < n; r++) {
					s2s__i8_row(&p.w, r, wr);
					double ref = 0.0, mag = 0.0;
					for (int j = 0; j < k; j++) {
						ref += (double)wr[j] * (qa[j] * sa);
						mag += fabs((double)wr[j] * (qa[j] * sa));
					}
					cr_assert(fabs(want0[i * n + r] - ref) <= 4e-7 * mag + 1e-30,
					          "n=%d k=%d (%d,%d): %.9g vs %.9g", n, k, i, r,
					          want0[i * n + r], ref);
				}
			}
			free(qa);
			free(wr);
			free(p.mem);
			free(wsrc);
			free(a);
			free(c0);
			free(want0);
			free(want1);
			free(got);
		}
}

Test(wmat_i8, matmul_odd_shapes_exact_and_batch_invariant)
{
	check_shapes();
}

/* Each instruction set this CPU has, forced, against the exact formula (which
 * the scalar kernel matches too), so a machine with VNNI checks VNNI. */
static void check_isa(const char *isa)
{
	setenv("S2S_I8_ISA", isa, 1);
	if (strcmp(s2s__i8_isa(), isa) != 0)
		cr_skip_test("this CPU has no %s (running %s)", isa, s2s__i8_isa());
	check_shapes();
	/* larger k (several panels, long groups), m across the 4-row tiles */
	int n = 300, k = 2048, m = 13;
	float *wsrc = frand_matrix(n, k, 77), *a = frand_matrix(m, k, 78);
	float *want = malloc(sizeof(float) * m * n), *got = malloc(sizeof(float) * m * n);
	ref_product(want, a, wsrc, m, n, k, 0.0f);
	packed p = pack_f32(wsrc, n, k);
	s2s__i8_matmul(got, a, &p.w, m, 0.0f);
	assert_same_bits(got, want, (size_t)m * n, isa);
	free(p.mem);
	free(wsrc);
	free(a);
	free(want);
	free(got);
}

Test(wmat_i8, isa_scalar)
{
	check_isa("scalar");
}

Test(wmat_i8, isa_avx2)
{
	check_isa("avx2");
}

Test(wmat_i8, isa_vnni)
{
	check_isa("vnni");
}

Test(wmat_i8, isa_unknown_or_missing_falls_back)
{
	setenv("S2S_I8_ISA", "avx1024", 1);
	const char *isa = s2s__i8_isa();
	cr_assert(strcmp(isa, "scalar") == 0 || strcmp(isa, "avx2") == 0 ||
	          strcmp(isa, "vnni") == 0);
	float w[4] = {1, 2, 3, 4}, a[4] = {4, 3, 2, 1}, c = 0;
	packed p = pack_f32(w, 1, 4);
	s2s__i8_matmul(&c, a, &p.w, 1, 0.0f);
	cr_assert_float_eq(c, 20.0f, 0.2f);
	free(p.mem);
}

Test(wmat_i8, batch_row_alone_equals_row_in_batch_of_64)
{
	int n = 257, k = 160, m = 64;
	float *wsrc = frand_matrix(n, k, 21), *a = frand_matrix(m, k, 22);
	float *c = frand_matrix(m, n, 23), *c1 = malloc(sizeof(float) * n);
	float *cinit = malloc(sizeof(float) * m * n);
	memcpy(cinit, c, sizeof(float) * m * n);
	packed p = pack_f32(wsrc, n, k);
	for (int beta = 0; beta < 2; beta++) {
		memcpy(c, cinit, sizeof(float) * m * n);
		s2s__i8_matmul(c, a, &p.w, m, (float)beta);
		for (int i = 0; i < m; i++) {
			memcpy(c1, cinit + (size_t)i * n, sizeof(float) * n);
			s2s__i8_matmul(c1, a + (size_t)i * k, &p.w, 1, (float)beta);
			assert_same_bits(c1, c + (size_t)i * n, n, "row alone vs in batch");
		}
	}
	free(p.mem);
	free(wsrc);
	free(a);
	free(c);
	free(c1);
	free(cinit);
}

Test(wmat_i8, many_rows_cross_chunks)
{
	/* k = 700 makes 93 rows per quantisation chunk; 300 rows cross three. */
	int n = 40, k = 700, m = 300;
	float *wsrc = frand_matrix(n, k, 31), *a = frand_matrix(m, k, 32);
	float *want = malloc(sizeof(float) * m * n), *got = malloc(sizeof(float) * m * n);
	ref_product(want, a, wsrc, m, n, k, 0.0f);
	packed p = pack_f32(wsrc, n, k);
	s2s__i8_matmul(got, a, &p.w, m, 0.0f);
	assert_same_bits(got, want, (size_t)m * n, "m=300");
	s2s__i8_matmul(got, a, &p.w, 0, 0.0f); /* m = 0 touches nothing */
	assert_same_bits(got, want, (size_t)m * n, "m=0");
	free(p.mem);
	free(wsrc);
	free(a);
	free(want);
	free(got);
}

Test(wmat_i8, non_finite_activation_row_gives_nan_row_only)
{
	int n = 20, k = 9, m = 3;
	float *wsrc = frand_matrix(n, k, 41), *a = frand_matrix(m, k, 42);
	float c[60], c1[20];
	a[k + 4] = INFINITY;
	packed p = pack_f32(wsrc, n, k);
	s2s__i8_matmul(c, a, &p.w, m, 0.0f);
	for (int r = 0; r < n; r++) {
		cr_assert(isnan(c[n + r]));
		cr_assert(isfinite(c[r]) && isfinite(c[2 * n + r]));
	}
	s2s__i8_matmul(c1, a + 2 * k, &p.w, 1, 0.0f);
	assert_same_bits(c1, c + 2 * n, n, "row after a NaN row");
	free(p.mem);
	free(wsrc);
	free(a);
}

Test(wmat_i8, same_bits_with_one_and_two_threads)
{
	int n = 513, k = 513, m = 64;
	float *wsrc = frand_matrix(n, k, 51), *a = frand_matrix(m, k, 52);
	float *c1 = malloc(sizeof(float) * m * n), *c2 = malloc(sizeof(float) * m * n);
	packed p = pack_f32(wsrc, n, k);
	openblas_set_num_threads(1);
	cr_assert_eq(s2s__kernel_threads(), 1);
	s2s__i8_matmul(c1, a, &p.w, m, 0.0f);
	openblas_set_num_threads(2);
	cr_assert_eq(s2s__kernel_threads(), 2);
	s2s__i8_matmul(c2, a, &p.w, m, 0.0f);
	assert_same_bits(c1, c2, (size_t)m * n, "1 vs 2 threads");
	s2s__i8_matmul(c2, a, &p.w, 1, 0.0f); /* and batch 1 with two threads */
	assert_same_bits(c1, c2, (size_t)n, "batch 1, 2 threads");
	free(p.mem);
	free(wsrc);
	free(a);
	free(c1);
	free(c2);
}

/* Relative Frobenius error of the int8 product against the float one. */
static double i8_error(int n, int k, int m, int normal_activations)
{
	uint64_t s = 1234;
	float *w = malloc(sizeof(float) * n * k), *a = malloc(sizeof(float) * m * k);
	float *c = malloc(sizeof(float) * m * n);
	for (int i = 0; i < n * k; i++)
		w[i] = nrand(&s) * 0.05f;
	for (int i = 0; i < m * k; i++)
		a[i] = normal_activations ? nrand(&s) : tanhf(2.0f * nrand(&s));
	packed p = pack_f32(w, n, k);
	s2s__i8_matmul(c, a, &p.w, m, 0.0f);
	double num = 0.0, den = 0.0;
	for (int i = 0; i < m; i++)
		for (int r = 0; r < n; r++) {
			double ref = 0.0;
			for (int j = 0; j < k; j++)
				ref += (double)a[i * k + j] * w[r * k + j];
			num += (c[i * n + r] - ref) * (c[i * n + r] - ref);
			den += ref * ref;
		}
	free(p.mem);
	free(w);
	free(a);
	free(c);
	return sqrt(num / den);
}

Test(wmat_i8, error_against_float_product_is_small)
{
	double e_tanh = i8_error(512, 512, 16, 0), e_normal = i8_error(512, 512, 16, 1);
	cr_log_info("relative Frobenius error: %.4f %% (tanh activations), %.4f %% (normal)",
	            100 * e_tanh, 100 * e_normal);
	cr_assert(e_tanh < 0.01, "%g", e_tanh);
	cr_assert(e_normal < 0.015, "%g", e_normal);
}


/* wmat.c hands S2S__W_I8 to this module for every entry point. */
Test(wmat_i8, wmat_entry_points_dispatch_int8)
{
	int n = 37, k = 45, m = 5;
	float *wsrc = frand_matrix(n, k, 61), *a = frand_matrix(m, k, 62);
	float *c1 = malloc(sizeof(float) * m * n), *c2 = malloc(sizeof(float) * m * n);
	float *r1 = malloc(sizeof(float) * k), *r2 = malloc(sizeof(float) * k);
	cr_assert_eq(s2s__wmat_bytes(S2S__W_I8, n, k), s2s__i8_bytes(n, k));
	packed p = pack_f32(wsrc, n, k);
	void *mem = aligned_alloc(64, s2s__i8_bytes(n, k));
	s2s__wmat w;
	int64_t bad = -1;
	cr_assert_eq(s2s__wmat_pack(&w, mem, S2S__W_I8, wsrc, S2S_DTYPE_F32, n, k, &bad), 0);
	cr_assert_eq(w.type, S2S__W_I8);
	cr_assert_eq(memcmp(mem, p.mem, s2s__i8_bytes(n, k)), 0);
	s2s__i8_matmul(c1, a, &p.w, m, 0.0f);
	s2s__matmul_w(c2, a, &w, m, 0.0f);
	assert_same_bits(c1, c2, (size_t)m * n, "s2s__matmul_w");
	for (int r = 0; r < n; r++) {
		s2s__i8_row(&p.w, r, r1);
		s2s__wmat_row(&w, r, r2);
		assert_same_bits(r1, r2, (size_t)k, "s2s__wmat_row");
	}
	wsrc[7] = NAN;
	cr_assert_eq(s2s__wmat_pack(&w, mem, S2S__W_I8, wsrc, S2S_DTYPE_F32, n, k, &bad), -1);
	cr_assert_eq(bad, 7);
	free(mem);
	free(p.mem);
	free(wsrc);
	free(a);
	free(c1);
	free(c2);
	free(r1);
	free(r2);
}
