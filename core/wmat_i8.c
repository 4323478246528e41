/*
 * wmat_i8.c - int8 weight matrices: packing, rows, products (wmat_i8.h).
 *
 * Quantisation (symmetric, no zero points, as CTranslate2's int8):
 *   weights, once at pack, per row r:  s_r = max_j |w_rj| / 127,
 *                                      q_rj = nearest(w_rj / s_r) in [-127, 127];
 *   activations, per call, per row i:  t_i = max_j |a_ij| / 127,
 *                                      x_ij = nearest(a_ij / t_i) in [-127, 127];
 *   c_ir = (float)(sum_j q_rj x_ij) * (t_i * s_r)  (+ c_ir when beta is 1).
 * nearest() rounds half to even; -128 is never produced, so negating a
 * value is always exact. A zero row gets scale 0 and all-zero q. A row of a
 * that is not finite gets t = NaN (so its outputs are NaN) and x = 0.
 *
 * Why each output depends on its row alone, whatever path runs it: the dot
 * products are exact int32 sums (|q x| <= 127 * 127 and k <= S2S__I8_MAX_K,
 * so no sum can overflow, and integer addition does not care about order),
 * the activation scale comes from the row alone, and the final multiply is
 * one shared scalar function (finish) that every kernel calls. The kernels
 * only have to get the integers right, and a test checks each against the
 * scalar one.
 *
 * Kernels. x86 has no signed x signed byte multiply; vpmaddubsw multiplies
 * unsigned by signed bytes and adds adjacent pairs into int16 with
 * saturation. Feeding it |x| (unsigned) and sign(x) * q (signed) gives
 * x * q exactly, and a pair of products is at most 2 * 127 * 127 = 32258,
 * so it never saturates; vpmaddwd with ones then adds the pairs into int32.
 * (The classic alternative, x + 128 as unsigned with a row-sum correction,
 * saturates on AVX2.) The other assignment, |q| unsigned and sign(q) * x
 * signed, gives the same integers but needs an abs per weight vector where
 * this one needs one per activation broadcast, shared by the 16 rows of a
 * panel: one instruction more per group at batch 1. The VNNI kernel
 * is the same loop with vpdpbusd (u8 x s8, four products summed into int32,
 * no saturation) in place of the vpmaddubsw/vpmaddwd/vpaddd triple, on
 * ymm registers: AVX512_VNNI with AVX512VL, or AVX-VNNI. The scalar kernel
 * is plain C for every other machine. One is chosen per process on first
 * use (S2S_I8_ISA can force one the CPU has, for tests).
 *
 * Layout of the storage (s2s__i8_bytes): kp = k rounded up to 4, groups =
 * kp / 4, panels = ceil(n / 16). Panel p, group g is one 64-byte line at
 * ((p * groups) + g) * 64 holding q[16p + rr][4g + t] at byte rr * 4 + t:
 * one 32-byte load gives eight rows' four consecutive elements, which is
 * what vpmaddubsw + vpmaddwd (or vpdpbusd) turn into eight int32 lanes
 * against one broadcast of four activation bytes. Panels are read front to
 * back, so a product with one row (the decoder's batch 1) streams the
 * matrix exactly once. Padding rows and columns are zero. The n per-row
 * scales (float) follow the panels, padded with zeros to 16 per panel.
 *
 * Products. Rows of a are quantised in chunks into a fixed stack buffer
 * (64 KiB: one row of the widest allowed k, or up to 256 rows of a
 * narrower one), so a call allocates nothing; each chunk is then split by
 * panels over the threads. A panel (16 kp bytes) stays in L1 while the
 * chunk's rows pass over it four at a time.
 */
#include "config.h"

#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define S2S__I8_X86 1
#endif

#include "pool.h"
#include "wmat_i8.h"

/*
 * The final multiply and add must be one rounding each, as written, on every
 * path and with every compiler flag: no fused multiply-add. The per-element
 * loops around the kernels (activation quantisation, the final scaling) are
 * a tenth of a batch-1 product when scalar, so, as in kernels.c, the full
 * vectoriser is asked for; vector and scalar IEEE operations round alike.
 */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off", "tree-vectorize", "vect-cost-model=dynamic", \
                     "no-trapping-math")
#endif

#define I8_NR 16            /* rows per panel */
#define I8_KG 4             /* consecutive k per group */
#define I8_LINE 64          /* bytes per (panel, group) */
#define I8_MR 4             /* rows of a per kernel call */
#define I8_ABUF 65536       /* bytes of quantised activations per chunk */
#define I8_CHUNK_ROWS 256   /* rows of a per chunk at most */
#define I8_MACS_THREAD (1 << 17) /* multiply-adds below which a helper thread does not pay */

_Static_assert(I8_ABUF >= S2S__I8_MAX_K, "one activation row must fit the buffer");

static int kpad(int k)
{
	return (k + I8_KG - 1) / I8_KG * I8_KG;
}

static int panel_count(int n)
{
	return (n + I8_NR - 1) / I8_NR;
}

/* Bytes of the q part; the scales follow at this offset. */
static size_t panels_bytes(int n, int k)
{
	return (size_t)panel_count(n) * (size_t)(kpad(k) / I8_KG) * I8_LINE;
}

size_t s2s__i8_bytes(int n, int k)
{
	assert(n >= 1 && k >= 1 && k <= S2S__I8_MAX_K);
	/* 16 floats of scales per panel: 64 bytes, so the total stays a multiple of 64. */
	return panels_bytes(n, k) + (size_t)panel_count(n) * I8_NR * sizeof(float);
}

/* Round half to even for |t| <= 127 (adding 1.5 * 2^23 leaves no fraction bits). */
static inline float clamp_round(float t)
{
	t = t < -127.0f ? -127.0f : (t > 127.0f ? 127.0f : t);
	return (t + 12582912.0f) - 12582912.0f;
}

/*
 * Quantises x (k floats) with the scale s = maxabs / 127 given by the
 * caller into q; s == 0 (a zero row) gives zeros.
 */
static void quantise(const float *x, int k, float s, int8_t *q)
{
	if (!(s > 0.0f)) {
		memset(q, 0, (size_t)k);
		return;
	}
	for (int j = 0; j < k; j++)
		q[j] = (int8_t)clamp_round(x[j] / s);
}

/* max |x| over k floats, or -1 with *bad = the first index that is not finite. */
static float max_abs(const float *x, int k, int *bad)
{
	float m = 0.0f;
	int finite = 1;
	for (int j = 0; j < k; j++) { /* one branch-free pass (it vectorises) */
		float v = fabsf(x[j]);
		finite &= v <= 3.40282347e38f; /* NaN fails every comparison */
		m = v > m ? v : m;
	}
	if (finite)
		return m;
	for (int j = 0; j < k; j++)
		if (!(fabsf(x[j]) <= 3.40282347e38f)) {
			*bad = j;
			break;
		}
	return -1.0f;
}

/* ---- packing ---- */

static float half_to_float(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
	uint32_t bits;
	if (exp == 0x1f) {
		bits = sign | 0x7f800000 | (man << 13);
	} else if (exp != 0) {
		bits = sign | ((exp + 112) << 23) | (man << 13);
	} else {
		/* zero or subnormal: man * 2^-24, exact in float */
		float f = (float)man * 5.9604644775390625e-8f;
		return sign ? -f : f;
	}
	float f;
	memcpy(&f, &bits, sizeof f);
	return f;
}

/* Elements [j0, j0 + len) of row r of src as floats. */
static void load_floats(const void *src, s2s_dtype dt, int k, int r, int j0, int len, float *out)
{
	size_t base = (size_t)r * (size_t)k + (size_t)j0;
	if (dt == S2S_DTYPE_F32) {
		memcpy(out, (const float *)src + base, (size_t)len * sizeof(float));
		return;
	}
	const unsigned char *p = (const unsigned char *)src + 2 * base;
	for (int j = 0; j < len; j++) {
		uint16_t v = (uint16_t)(p[2 * j] | p[2 * j + 1] << 8);
		if (dt == S2S_DTYPE_F16) {
			out[j] = half_to_float(v);
		} else {
			uint32_t bits = (uint32_t)v << 16;
			memcpy(&out[j], &bits, sizeof bits);
		}
	}
}

#define I8_PACK_CHUNK 1024 /* floats converted at a time while packing */

/* Scale of row r (max |w| / 127), or -1 with *bad_col set. */
static float row_scale(const void *src, s2s_dtype dt, int k, int r, int *bad_col)
{
	float buf[I8_PACK_CHUNK], m = 0.0f;
	for (int j0 = 0; j0 < k; j0 += I8_PACK_CHUNK) {
		int len = k - j0 < I8_PACK_CHUNK ? k - j0 : I8_PACK_CHUNK;
		load_floats(src, dt, k, r, j0, len, buf);
		float cm = max_abs(buf, len, bad_col);
		if (cm < 0.0f) {
			*bad_col += j0;
			return -1.0f;
		}
		m = cm > m ? cm : m;
	}
	return m / 127.0f;
}

/* Quantises row r with scale s into its place in the panels. */
static void pack_row(int8_t *panels, const void *src, s2s_dtype dt, int k, int r, float s)
{
	float buf[I8_PACK_CHUNK];
	int8_t q[I8_PACK_CHUNK];
	int groups = kpad(k) / I8_KG;
	int8_t *pr = panels + (size_t)(r / I8_NR) * (size_t)groups * I8_LINE + (r % I8_NR) * I8_KG;
	for (int j0 = 0; j0 < k; j0 += I8_PACK_CHUNK) {
		int len = k - j0 < I8_PACK_CHUNK ? k - j0 : I8_PACK_CHUNK;
		load_floats(src, dt, k, r, j0, len, buf);
		quantise(buf, len, s, q);
		for (int j = 0; j < len; j++) {
			int kk = j0 + j;
			pr[(size_t)(kk / I8_KG) * I8_LINE + kk % I8_KG] = q[j];
		}
	}
}

int s2s__i8_pack(s2s__wmat *w, void *dst, const void *src, s2s_dtype src_dtype, int n, int k,
                 int64_t *bad_index)
{
	int8_t *panels = dst;
	float *scales = (float *)((char *)dst + panels_bytes(n, k));
	memset(dst, 0, s2s__i8_bytes(n, k));
	for (int r = 0; r < n; r++) {
		int bad_col = 0;
		float s = row_scale(src, src_dtype, k, r, &bad_col);
		if (s < 0.0f) {
			*bad_index = (int64_t)r * k + bad_col;
			return -1;
		}
		scales[r] = s;
		pack_row(panels, src, src_dtype, k, r, s);
	}
	*w = (s2s__wmat){.n = n, .k = k, .type = S2S__W_I8, .panels = panels, .scales = scales};
	return 0;
}

void s2s__i8_row(const s2s__wmat *w, int r, float *out)
{
	int groups = kpad(w->k) / I8_KG;
	const int8_t *pr = (const int8_t *)w->panels + (size_t)(r / I8_NR) * (size_t)groups * I8_LINE +
	                   (r % I8_NR) * I8_KG;
	float s = w->scales[r];
	for (int kk = 0; kk < w->k; kk++)
		out[kk] = (float)pr[(size_t)(kk / I8_KG) * I8_LINE + kk % I8_KG] * s;
}

/* ---- kernels: the int32 dots of up to I8_MR activation rows with one panel ---- */

/*
 * dots[i][rr] = sum over kk < 4 * groups of panel q[rr][kk] * xq[i * kp + kk],
 * for i < mr (1 .. I8_MR). (Unaligned loads: the storage is 64-byte
 * aligned by contract, but a misaligned one must not fault.)
 */
typedef void (*i8_kernel_fn)(const int8_t *panel, const int8_t *xq, int kp, int groups, int mr,
                             int32_t dots[I8_MR][I8_NR]);

static void kernel_scalar(const int8_t *panel, const int8_t *xq, int kp, int groups, int mr,
                          int32_t dots[I8_MR][I8_NR])
{
	for (int i = 0; i < mr; i++) {
		const int8_t *x = xq + (size_t)i * kp;
		for (int rr = 0; rr < I8_NR; rr++) {
			int32_t d = 0;
			for (int g = 0; g < groups; g++) {
				const int8_t *q = panel + (size_t)g * I8_LINE + rr * I8_KG;
				for (int t = 0; t < I8_KG; t++)
					d += (int32_t)q[t] * x[g * I8_KG + t];
			}
			dots[i][rr] = d;
		}
	}
}

#ifdef S2S__I8_X86
/*
 * The vector kernels are one body instantiated per instruction set, with
 * DOT(acc, ux, sq) = acc + the four-byte dot products of the unsigned ux and
 * the signed sq per int32 lane; a macro rather than a shared inline function
 * because GCC will not inline target-specific intrinsics into a function
 * compiled for another target. The tile is always inlined with a constant
 * mr, so the accumulators (2 * mr ymm) live in registers.
 */
#if defined(__clang__)
#define I8_UNROLL _Pragma("unroll")
#else
#define I8_UNROLL _Pragma("GCC unroll 4")
#endif
#define I8_VECTOR_KERNEL(NAME, TARGET, DOT)                                                        \
	static inline __attribute__((always_inline, target(TARGET))) void NAME##_tile(             \
	    const int8_t *panel, const int8_t *xq, int kp, int groups, const int mr,               \
	    int32_t dots[I8_MR][I8_NR])                                                            \
	{                                                                                          \
		__m256i acc[I8_MR][2];                                                             \
		I8_UNROLL                                                          \
		for (int i = 0; i < mr; i++)                                                       \
			acc[i][0] = acc[i][1] = _mm256_setzero_si256();                            \
		for (int g = 0; g < groups; g++) {                                                 \
			__m256i w0 = _mm256_loadu_si256((const __m256i *)(panel + g * I8_LINE));   \
			__m256i w1 =                                                               \
			    _mm256_loadu_si256((const __m256i *)(panel + g * I8_LINE + 32));       \
			I8_UNROLL                                                  \
			for (int i = 0; i < mr; i++) {                                             \
				int32_t x4;                                                        \
				memcpy(&x4, xq + (size_t)i * kp + g * I8_KG, sizeof x4);           \
				__m256i xb = _mm256_set1_epi32(x4);                                \
				__m256i ux = _mm256_abs_epi8(xb);                                  \
				acc[i][0] = DOT(acc[i][0], ux, _mm256_sign_epi8(w0, xb));          \
				acc[i][1] = DOT(acc[i][1], ux, _mm256_sign_epi8(w1, xb));          \
			}                                                                          \
		}                                                                                  \
		I8_UNROLL                                                          \
		for (int i = 0; i < mr; i++) {                                                     \
			_mm256_storeu_si256((__m256i *)&dots[i][0], acc[i][0]);                    \
			_mm256_storeu_si256((__m256i *)&dots[i][8], acc[i][1]);                    \
		}                                                                                  \
	}                                                                                          \
	static __attribute__((target(TARGET))) void NAME(const int8_t *panel, const int8_t *xq,    \
	                                                 int kp, int groups, int mr,               \
	                                                 int32_t dots[I8_MR][I8_NR])               \
	{                                                                                          \
		switch (mr) {                                                                      \
		case 1: NAME##_tile(panel, xq, kp, groups, 1, dots); break;                        \
		case 2: NAME##_tile(panel, xq, kp, groups, 2, dots); break;                        \
		case 3: NAME##_tile(panel, xq, kp, groups, 3, dots); break;                        \
		default: NAME##_tile(panel, xq, kp, groups, 4, dots); break;                       \
		}                                                                                  \
	}

/* AVX2: pairs into saturating int16 (never reached, see the top), then int32. */
#define I8_DOT_AVX2(acc, ux, sq)                                                                   \
	_mm256_add_epi32((acc), _mm256_madd_epi16(_mm256_maddubs_epi16((ux), (sq)),                \
	                                          _mm256_set1_epi16(1)))
#define I8_DOT_VNNI512(acc, ux, sq) _mm256_dpbusd_epi32((acc), (ux), (sq))
#define I8_DOT_AVXVNNI(acc, ux, sq) _mm256_dpbusd_avx_epi32((acc), (ux), (sq))

I8_VECTOR_KERNEL(kernel_avx2, "avx2", I8_DOT_AVX2)
I8_VECTOR_KERNEL(kernel_vnni512, "avx2,avx512vl,avx512vnni", I8_DOT_VNNI512)
I8_VECTOR_KERNEL(kernel_avxvnni, "avx2,avxvnni", I8_DOT_AVXVNNI)
#endif

/* ---- choosing the kernel ---- */

static i8_kernel_fn i8_kernel;
static const char *i8_isa_name;
static pthread_once_t i8_once = PTHREAD_ONCE_INIT;

#ifdef S2S__I8_X86
/* AVX-VNNI is CPUID.(7, 1).EAX bit 4; asked directly because older compilers'
 * __builtin_cpu_supports does not know it (the OS saves ymm: AVX2 checked). */
static int has_avxvnni(void)
{
	unsigned a, b, c, d;
	return __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a >> 4 & 1);
}
#endif

static void choose_kernel(void)
{
	const char *want = getenv("S2S_I8_ISA");
	i8_kernel = kernel_scalar;
	i8_isa_name = "scalar";
	if (want && strcmp(want, "scalar") == 0)
		return;
#ifdef S2S__I8_X86
	__builtin_cpu_init();
	int avx2 = __builtin_cpu_supports("avx2");
	int vnni512 = avx2 && __builtin_cpu_supports("avx512vl") &&
	              __builtin_cpu_supports("avx512vnni");
	int avxvnni = avx2 && has_avxvnni();
	int force_avx2 = want && strcmp(want, "avx2") == 0;
	if (avx2) {
		i8_kernel = kernel_avx2;
		i8_isa_name = "avx2";
	}
	if (!force_avx2 && (vnni512 || avxvnni)) {
		i8_kernel = vnni512 ? kernel_vnni512 : kernel_avxvnni;
		i8_isa_name = "vnni";
	}
#endif
}

static i8_kernel_fn kernel(void)
{
	pthread_once(&i8_once, choose_kernel);
	return i8_kernel;
}

const char *s2s__i8_isa(void)
{
	pthread_once(&i8_once, choose_kernel);
	return i8_isa_name;
}

/* ---- the product ---- */

/*
 * c[i][rr] (rr < nv, row stride ldc) = dots * (t_i * s_rr), plus the old c
 * when beta is 1. Shared by every kernel and never inlined into one, so the
 * rounding is the same whatever instruction set computed the dots.
 */
static __attribute__((noinline)) void finish(float *c, int ldc, int mr,
                                             int32_t dots[I8_MR][I8_NR], const float *t,
                                             const float *s, int nv, float beta)
{
	for (int i = 0; i < mr; i++) {
		float *ci = c + (size_t)i * ldc;
		if (beta == 0.0f)
			for (int rr = 0; rr < nv; rr++)
				ci[rr] = (float)dots[i][rr] * (t[i] * s[rr]);
		else
			for (int rr = 0; rr < nv; rr++)
				ci[rr] = ci[rr] + (float)dots[i][rr] * (t[i] * s[rr]);
	}
}

/* One chunk of rows of a, quantised, shared read-only by the threads. */
typedef struct {
	float *c;
	const s2s__wmat *w;
	const int8_t *xq; /* (rows, kp) */
	const float *t;   /* (rows) activation scales */
	int rows, kp, groups;
	float beta;
	i8_kernel_fn kern;
} i8_job;

static void run_panels(void *ctx, int p0, int p1)
{
	const i8_job *j = ctx;
	const int8_t *panels = j->w->panels;
	int n = j->w->n;
	int32_t dots[I8_MR][I8_NR];
	for (int p = p0; p < p1; p++) {
		const int8_t *panel = panels + (size_t)p * (size_t)j->groups * I8_LINE;
		int nv = n - p * I8_NR < I8_NR ? n - p * I8_NR : I8_NR;
		for (int i = 0; i < j->rows; i += I8_MR) {
			int mr = j->rows - i < I8_MR ? j->rows - i : I8_MR;
			j->kern(panel, j->xq + (size_t)i * j->kp, j->kp, j->groups, mr, dots);
			finish(j->c + (size_t)i * n + p * I8_NR, n, mr, dots, j->t + i,
			       j->w->scales + p * I8_NR, nv, j->beta);
		}
	}
}

/* Quantises rows [0, rows) of a into xq (rows, kp) with their scales t. */
static void quantise_rows(const float *a, int rows, int k, int kp, int8_t *xq, float *t)
{
	for (int i = 0; i < rows; i++) {
		const float *x = a + (size_t)i * k;
		int8_t *q = xq + (size_t)i * kp;
		int bad;
		float m = max_abs(x, k, &bad);
		if (m < 0.0f) {
			t[i] = NAN;
			memset(q, 0, (size_t)kp);
			continue;
		}
		t[i] = m / 127.0f;
		quantise(x, k, t[i], q);
		memset(q + k, 0, (size_t)(kp - k));
	}
}

/* Threads for a chunk: each should get enough multiply-adds to pay for waking it. */
static int chunk_threads(int rows, int n, int k, int panels)
{
	double macs = (double)rows * n * k;
	int threads = s2s__kernel_threads();
	int useful = (int)(macs / I8_MACS_THREAD);
	if (threads > useful)
		threads = useful;
	if (threads > panels)
		threads = panels;
	return threads < 1 ? 1 : threads;
}

void s2s__i8_matmul(float *c, const float *a, const s2s__wmat *w, int m, float beta)
{
	_Alignas(64) int8_t xq[I8_ABUF];
	float t[I8_CHUNK_ROWS];
	assert(w->type == S2S__W_I8 && (beta == 0.0f || beta == 1.0f));
	int k = w->k, kp = kpad(k), panels = panel_count(w->n);
	int chunk = I8_ABUF / kp < I8_CHUNK_ROWS ? I8_ABUF / kp : I8_CHUNK_ROWS;
	i8_job job = {.w = w, .xq = xq, .t = t, .kp = kp, .groups = kp / I8_KG, .beta = beta,
	              .kern = kernel()};
	for (int i0 = 0; i0 < m; i0 += chunk) {
		int rows = m - i0 < chunk ? m - i0 : chunk;
		quantise_rows(a + (size_t)i0 * k, rows, k, kp, xq, t);
		job.c = c + (size_t)i0 * w->n;
		job.rows = rows;
		s2s__parallel_for(panels, chunk_threads(rows, w->n, k, panels), run_panels, &job);
	}
}
