/* wmat.c - see wmat.h: packing, and the float-panel products. */
#include "config.h"

#include <cblas.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define S2S__X86 1
#endif

#include "pool.h"
#include "s2s_model.h"
#include "wmat.h"
#include "wmat_i8.h"
#include "s2s_config.h"

/* No matrix of a valid configuration is wider than a few S2S_MAX_DIM (the
 * widest concatenates an embedding and contexts), so int8 can hold them all. */
_Static_assert(S2S__I8_MAX_K >= 4 * S2S_MAX_DIM, "int8 must hold every matrix width");

#define NR S2S__WMAT_NR
/* Rows of a per micro-kernel call and the most accumulator vectors it holds. */
#define MR 6
/*
 * Rows of `a` per block: a block is re-read once per panel, so it should
 * stay in L2 (kept under ~384 KiB: half of a Zen 4 core's L2, three
 * quarters of Zen 2/3's) while each panel's weights stream through once.
 */
#define A_BLOCK_BYTES (384 * 1024)

static size_t elem_size(s2s__wtype t)
{
	return t == S2S__W_F32 ? 4 : 2;
}

static size_t panels_of(int n)
{
	return ((size_t)n + NR - 1) / NR;
}

size_t s2s__wmat_bytes(s2s__wtype type, int n, int k)
{
	if (type == S2S__W_I8)
		return s2s__i8_bytes(n, k);
	size_t bytes = panels_of(n) * NR * (size_t)k * elem_size(type);
	return (bytes + 63) & ~(size_t)63;
}

/* ---- conversions (exact; F32 -> F16 is never needed: we only widen) ---- */

static float f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
	if (exp == 0x1f) {
		bits = sign | 0x7f800000 | (man << 13);
	} else if (exp != 0) {
		bits = sign | ((exp + 112) << 23) | (man << 13);
	} else if (man == 0) {
		bits = sign;
	} else { /* subnormal: normalise */
		int e = -1;
		do {
			man <<= 1;
			e++;
		} while (!(man & 0x400));
		bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ff) << 13);
	}
	float f;
	memcpy(&f, &bits, sizeof f);
	return f;
}

static float bf16_to_f32(uint16_t b)
{
	uint32_t bits = (uint32_t)b << 16;
	float f;
	memcpy(&f, &bits, sizeof f);
	return f;
}

/* Element i of a little-endian source of dtype t, as raw bits (16 or 32). */
static uint32_t src_bits(const void *src, s2s_dtype t, size_t i)
{
	const unsigned char *p = src;
	if (t == S2S_DTYPE_F32)
		return (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 |
		       (uint32_t)p[4 * i + 2] << 16 | (uint32_t)p[4 * i + 3] << 24;
	return (uint32_t)p[2 * i] | (uint32_t)p[2 * i + 1] << 8;
}

static bool bits_finite(uint32_t b, s2s_dtype t)
{
	if (t == S2S_DTYPE_F16)
		return (b & 0x7c00u) != 0x7c00u;
	if (t == S2S_DTYPE_BF16)
		return (b & 0x7f80u) != 0x7f80u;
	return (b & 0x7f800000u) != 0x7f800000u;
}

static float bits_to_f32(uint32_t b, s2s_dtype t)
{
	if (t == S2S_DTYPE_F16)
		return f16_to_f32((uint16_t)b);
	if (t == S2S_DTYPE_BF16)
		return bf16_to_f32((uint16_t)b);
	float f;
	memcpy(&f, &b, sizeof f);
	return f;
}

static bool same_type(s2s__wtype w, s2s_dtype d)
{
	return (w == S2S__W_F32 && d == S2S_DTYPE_F32) || (w == S2S__W_F16 && d == S2S_DTYPE_F16) ||
	       (w == S2S__W_BF16 && d == S2S_DTYPE_BF16);
}

int s2s__wmat_pack(s2s__wmat *w, void *dst, s2s__wtype type, const void *src,
                   s2s_dtype src_dtype, int n, int k, int64_t *bad_index)
{
	if (type == S2S__W_I8)
		return s2s__i8_pack(w, dst, src, src_dtype, n, k, bad_index);
	/* Only the checkpoint's own type, or F32 (exact widening), is packed here. */
	if (type != S2S__W_F32 && !same_type(type, src_dtype))
		return -1;
	for (int r = 0; r < n; r++) {
		size_t base = (size_t)(r / NR) * NR * (size_t)k + (size_t)(r % NR);
		for (int kk = 0; kk < k; kk++) {
			size_t i = (size_t)r * (size_t)k + (size_t)kk, o = base + (size_t)kk * NR;
			uint32_t b = src_bits(src, src_dtype, i);
			if (!bits_finite(b, src_dtype)) {
				*bad_index = (int64_t)i;
				return -1;
			}
			if (type == S2S__W_F32)
				((float *)dst)[o] = bits_to_f32(b, src_dtype);
			else
				((uint16_t *)dst)[o] = (uint16_t)b;
		}
	}
	*w = (s2s__wmat){.n = n, .k = k, .type = type, .panels = dst, .scales = NULL};
	return 0;
}

static float elem_at(const s2s__wmat *w, size_t o)
{
	if (w->type == S2S__W_F32)
		return ((const float *)w->panels)[o];
	uint16_t h = ((const uint16_t *)w->panels)[o];
	return w->type == S2S__W_F16 ? f16_to_f32(h) : bf16_to_f32(h);
}

void s2s__wmat_row(const s2s__wmat *w, int r, float *out)
{
	if (w->type == S2S__W_I8) {
		s2s__i8_row(w, r, out);
		return;
	}
	size_t base = (size_t)(r / NR) * NR * (size_t)w->k + (size_t)(r % NR);
	for (int kk = 0; kk < w->k; kk++)
		out[kk] = elem_at(w, base + (size_t)kk * NR);
}

int s2s__kernel_threads(void)
{
	int t = openblas_get_num_threads();
	return t < 1 ? 1 : t;
}

/* ---- the products ---- */

/* One call's shared arguments; each thread takes a range of panels. */
typedef struct {
	float *c;
	const float *a;
	const s2s__wmat *w;
	int m;
	bool beta;
} s2s__job;

/* Writes a (rows x 16) tile acc to c at column col, only columns < n. */
static void store_tile(float *c, int ldc, int col, int n, int rows, const float *acc, bool beta)
{
	int cols = n - col < NR ? n - col : NR;
	for (int r = 0; r < rows; r++) {
		float *cr = c + (size_t)r * (size_t)ldc + col;
		for (int j = 0; j < cols; j++)
			cr[j] = beta ? cr[j] + acc[r * NR + j] : acc[r * NR + j];
	}
}

/*
 * Baseline kernel, for CPUs without AVX2/FMA/F16C: rows [i0, i1) against
 * panel p, every output a sequential multiply-then-add chain over k.
 */
static void tile_generic(const s2s__job *j, int p, int i0, int i1)
{
	const s2s__wmat *w = j->w;
	int k = w->k;
	size_t base = (size_t)p * NR * (size_t)k;
	float acc[MR * NR];
	for (int i = i0; i < i1; i += MR) {
		int rows = i1 - i < MR ? i1 - i : MR;
		memset(acc, 0, sizeof acc);
		for (int kk = 0; kk < k; kk++) {
			float wv[NR];
			for (int q = 0; q < NR; q++)
				wv[q] = elem_at(w, base + (size_t)kk * NR + (size_t)q);
			for (int r = 0; r < rows; r++) {
				float x = j->a[(size_t)(i + r) * (size_t)k + (size_t)kk];
				for (int q = 0; q < NR; q++)
					acc[r * NR + q] = acc[r * NR + q] + wv[q] * x;
			}
		}
		store_tile(j->c + (size_t)i * (size_t)w->n, w->n, p * NR, w->n, rows, acc, j->beta);
	}
}

static void range_generic(void *ctx, int p0, int p1)
{
	const s2s__job *j = ctx;
	for (int p = p0; p < p1; p++)
		tile_generic(j, p, 0, j->m);
}

#ifdef S2S__X86
#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define INL static inline __attribute__((always_inline))

/* Weights kk*16 .. +15 of a panel as two vectors of 8 floats. */
INL AVX2 void load16(s2s__wtype t, const void *panel, size_t off, __m256 *lo, __m256 *hi)
{
	if (t == S2S__W_F32) {
		const float *p = (const float *)panel + off;
		*lo = _mm256_loadu_ps(p);
		*hi = _mm256_loadu_ps(p + 8);
	} else if (t == S2S__W_F16) {
		const __m128i *p = (const __m128i *)((const uint16_t *)panel + off);
		*lo = _mm256_cvtph_ps(_mm_loadu_si128(p));
		*hi = _mm256_cvtph_ps(_mm_loadu_si128(p + 1));
	} else { /* BF16: the high half of an F32 */
		const __m128i *p = (const __m128i *)((const uint16_t *)panel + off);
		__m256i l = _mm256_cvtepu16_epi32(_mm_loadu_si128(p));
		__m256i h = _mm256_cvtepu16_epi32(_mm_loadu_si128(p + 1));
		*lo = _mm256_castsi256_ps(_mm256_slli_epi32(l, 16));
		*hi = _mm256_castsi256_ps(_mm256_slli_epi32(h, 16));
	}
}

/*
 * The micro-kernel: `rows` rows of a (at a, row stride k) against `np`
 * consecutive panels starting at `panel`, rows * np * 2 <= 12 accumulators.
 * The loop over kk is the only loop that carries a sum, in kk order, one
 * fused multiply-add per step: what every other shape also computes.
 */
INL AVX2 void kernel(s2s__wtype t, int rows, int np, const float *a, int k, const void *panel,
                     float *c, int ldc, int col, int n, bool beta)
{
	__m256 acc[MR][4][2];
	size_t pstride = (size_t)NR * (size_t)k;
#pragma GCC unroll 6
	for (int r = 0; r < rows; r++)
#pragma GCC unroll 4
		for (int q = 0; q < np; q++)
			acc[r][q][0] = acc[r][q][1] = _mm256_setzero_ps();
	for (int kk = 0; kk < k; kk++) {
#pragma GCC unroll 4
		for (int q = 0; q < np; q++) {
			__m256 lo, hi;
			load16(t, panel, (size_t)q * pstride + (size_t)kk * NR, &lo, &hi);
#pragma GCC unroll 6
			for (int r = 0; r < rows; r++) {
				__m256 x = _mm256_broadcast_ss(a + (size_t)r * (size_t)k + (size_t)kk);
				acc[r][q][0] = _mm256_fmadd_ps(lo, x, acc[r][q][0]);
				acc[r][q][1] = _mm256_fmadd_ps(hi, x, acc[r][q][1]);
			}
		}
	}
#pragma GCC unroll 4
	for (int q = 0; q < np; q++) {
		int cq = col + q * NR;
		if (cq + NR <= n) {
#pragma GCC unroll 6
			for (int r = 0; r < rows; r++) {
				float *cr = c + (size_t)r * (size_t)ldc + cq;
				__m256 lo = acc[r][q][0], hi = acc[r][q][1];
				if (beta) {
					lo = _mm256_add_ps(_mm256_loadu_ps(cr), lo);
					hi = _mm256_add_ps(_mm256_loadu_ps(cr + 8), hi);
				}
				_mm256_storeu_ps(cr, lo);
				_mm256_storeu_ps(cr + 8, hi);
			}
		} else if (cq < n) { /* the last, partial panel */
			float tile[MR * NR];
#pragma GCC unroll 6
			for (int r = 0; r < rows; r++) {
				_mm256_storeu_ps(tile + r * NR, acc[r][q][0]);
				_mm256_storeu_ps(tile + r * NR + 8, acc[r][q][1]);
			}
			store_tile(c, ldc, cq, n, rows, tile, beta);
		}
	}
}

/*
 * Panels [p0, p1) for rows [i0, i1). Few rows: several panels per call so
 * there are enough independent sums to hide the FMA latency (one row
 * against four panels = 8 chains). Otherwise six rows per call, one panel.
 */
/*
 * Up to 3 rows against panels [p0, p1), several panels per call so there
 * are enough independent sums to hide the FMA latency (one row against
 * four panels = 8 chains).
 */
INL AVX2 void few_rows(s2s__wtype t, const s2s__job *j, int p0, int p1, int rows, const float *a,
                       float *c)
{
	const s2s__wmat *w = j->w;
	int k = w->k, n = w->n;
	size_t step = (size_t)NR * (size_t)k * (t == S2S__W_F32 ? 4 : 2);
	const char *panels = w->panels;
	int np = rows == 1 ? 4 : 2, p = p0;
	for (; p + np <= p1; p += np) {
		const char *pp = panels + (size_t)p * step;
		if (rows == 1)
			kernel(t, 1, 4, a, k, pp, c, n, p * NR, n, j->beta);
		else if (rows == 2)
			kernel(t, 2, 2, a, k, pp, c, n, p * NR, n, j->beta);
		else
			kernel(t, 3, 2, a, k, pp, c, n, p * NR, n, j->beta);
	}
	for (; p < p1; p++) {
		const char *pp = panels + (size_t)p * step;
		if (rows == 1)
			kernel(t, 1, 1, a, k, pp, c, n, p * NR, n, j->beta);
		else if (rows == 2)
			kernel(t, 2, 1, a, k, pp, c, n, p * NR, n, j->beta);
		else
			kernel(t, 3, 1, a, k, pp, c, n, p * NR, n, j->beta);
	}
}

/*
 * Panels [p0, p1) for rows [i0, i1): six rows per call against one panel
 * (12 chains), 4 or 5 left over likewise; 1 to 3 left over go through
 * few_rows for the same group of panels right after, while the group is
 * still in L2, so the weights still stream from memory once.
 */
INL AVX2 void block_typed(s2s__wtype t, const s2s__job *j, int p0, int p1, int i0, int i1)
{
	const s2s__wmat *w = j->w;
	int k = w->k, n = w->n, rows = i1 - i0;
	size_t step = (size_t)NR * (size_t)k * (t == S2S__W_F32 ? 4 : 2);
	const char *panels = w->panels;
	float *c = j->c + (size_t)i0 * (size_t)n;
	const float *a = j->a + (size_t)i0 * (size_t)k;
	if (rows <= 3) {
		few_rows(t, j, p0, p1, rows, a, c);
		return;
	}
	int full = rows - rows % MR, tail = rows % MR;
	int group = tail >= 1 && tail <= 3 ? (tail == 1 ? 4 : 2) : 1;
	const float *at = a + (size_t)full * k;
	float *ct = c + (size_t)full * n;
	for (int g = p0; g < p1; g += group) {
		int g1 = g + group < p1 ? g + group : p1;
		for (int p = g; p < g1; p++) {
			const char *pp = panels + (size_t)p * step;
			for (int i = 0; i < full; i += MR)
				kernel(t, MR, 1, a + (size_t)i * k, k, pp, c + (size_t)i * n, n, p * NR,
				       n, j->beta);
			if (tail == 5)
				kernel(t, 5, 1, at, k, pp, ct, n, p * NR, n, j->beta);
			else if (tail == 4)
				kernel(t, 4, 1, at, k, pp, ct, n, p * NR, n, j->beta);
		}
		if (tail >= 1 && tail <= 3)
			few_rows(t, j, g, g1, tail, at, ct);
	}
}

static AVX2 void block_f32(const s2s__job *j, int p0, int p1, int i0, int i1)
{
	block_typed(S2S__W_F32, j, p0, p1, i0, i1);
}

static AVX2 void block_f16(const s2s__job *j, int p0, int p1, int i0, int i1)
{
	block_typed(S2S__W_F16, j, p0, p1, i0, i1);
}

static AVX2 void block_bf16(const s2s__job *j, int p0, int p1, int i0, int i1)
{
	block_typed(S2S__W_BF16, j, p0, p1, i0, i1);
}

/* Rows of a per block (a multiple of MR), so a block of a stays in L2. */
static int rows_per_block(int k)
{
	int r = (int)(A_BLOCK_BYTES / ((size_t)k * sizeof(float)));
	r -= r % MR;
	return r < MR ? MR : r;
}

static void range_avx2(void *ctx, int p0, int p1)
{
	const s2s__job *j = ctx;
	int mb = rows_per_block(j->w->k);
	for (int i0 = 0; i0 < j->m; i0 += mb) {
		int i1 = i0 + mb < j->m ? i0 + mb : j->m;
		if (j->w->type == S2S__W_F32)
			block_f32(j, p0, p1, i0, i1);
		else if (j->w->type == S2S__W_F16)
			block_f16(j, p0, p1, i0, i1);
		else
			block_bf16(j, p0, p1, i0, i1);
	}
}
#endif /* S2S__X86 */

/* ---- dispatch ---- */

static s2s__range_fn range_impl = range_generic;
static pthread_once_t impl_once = PTHREAD_ONCE_INIT;

#ifdef S2S__X86
/* F16C from CPUID leaf 1 (clang's __builtin_cpu_supports has no "f16c"). */
static bool has_f16c(void)
{
	unsigned a, b, c, d;
	return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}
#endif

/*
 * AVX2 + FMA + F16C, or the baseline. S2S_KERNELS=generic forces the
 * baseline (tests compare the two; a user can rule out the vector path).
 */
static void pick_impl(void)
{
#ifdef S2S__X86
	const char *force = getenv("S2S_KERNELS");
	bool generic = force && strcmp(force, "generic") == 0;
	__builtin_cpu_init();
	if (!generic && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
	    has_f16c())
		range_impl = range_avx2;
#endif
}

const char *s2s__wmat_isa(void)
{
	pthread_once(&impl_once, pick_impl);
#ifdef S2S__X86
	if (range_impl == range_avx2)
		return "avx2";
#endif
	return "generic";
}

const char *s2s_kernels_isa(void)
{
	return s2s__wmat_isa();
}

/* Panels per thread below which a second thread costs more than it saves. */
#define MIN_PANELS_PER_THREAD 8

void s2s__matmul_w(float *c, const float *a, const s2s__wmat *w, int m, float beta)
{
	if (m <= 0)
		return;
	if (w->type == S2S__W_I8) {
		s2s__i8_matmul(c, a, w, m, beta);
		return;
	}
	pthread_once(&impl_once, pick_impl);
	s2s__job j = {.c = c, .a = a, .w = w, .m = m, .beta = beta != 0.0f};
	int panels = (int)panels_of(w->n);
	int threads = s2s__kernel_threads();
	/* Enough work per thread, or none: a tiny product is not worth a wake-up. */
	long work = (long)panels * m;
	if (work < (long)MIN_PANELS_PER_THREAD * 4 * threads)
		threads = 1;
	s2s__parallel_for(panels, threads, range_impl, &j);
}
