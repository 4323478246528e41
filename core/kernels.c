/* kernels.c - see s2s_kernels.h. */
#include "config.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "pool.h"
#include "s2s_kernels.h"

/*
 * -O2's "very cheap" vectoriser skips every loop that needs a scalar tail,
 * which is all of the element-wise ones here; they are most of the non-BLAS
 * time, so this file asks for the full vectoriser. no-trapping-math lets it
 * turn the clamps into selects. No -ffast-math: the arithmetic stays as
 * written, in the written order.
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("tree-vectorize", "vect-cost-model=dynamic", "no-trapping-math")
#endif

void s2s__add(float *y, const float *x, int n)
{
	for (int i = 0; i < n; i++)
		y[i] += x[i];
}

/*
 * The hot element-wise loops are compiled twice, for AVX2+FMA and for the
 * x86-64 baseline, and picked at load time: a distribution build cannot use
 * -march=native, and these loops are a third of a step without vectors.
 * Vector and scalar paths run the same operations in the same order, so a
 * row's result does not depend on which lane or which batch it ran in.
 */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define S2S__VEC __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define S2S__VEC
#endif

/* Eigen's generic_fast_tanh_float: a 13/6 rational fit on [-7.9, 7.9],
 * where tanh is 1 to float precision beyond; |error| < 5e-7, branch-free. */
static inline float s2s__tanhf(float x)
{
	const float lim = 7.90531110763549805f;
	float xc = x < -lim ? -lim : (x > lim ? lim : x);
	float x2 = xc * xc;
	float p = -2.76076847742355e-16f;
	p = p * x2 + 2.00018790482477e-13f;
	p = p * x2 + -8.60467152213735e-11f;
	p = p * x2 + 5.12229709037114e-08f;
	p = p * x2 + 1.48572235717979e-05f;
	p = p * x2 + 6.37261928875436e-04f;
	p = p * x2 + 4.89352455891786e-03f;
	p = p * xc;
	float q = 1.19825839466702e-06f;
	q = q * x2 + 1.18534705686654e-04f;
	q = q * x2 + 2.26843463243900e-03f;
	q = q * x2 + 4.89352518554385e-03f;
	return p / q;
}

/* Cephes expf: 2^n e^r with |r| <= ln2/2 and a degree-6 polynomial (~1 ulp). */
static inline float s2s__expf(float x)
{
	x = x < -87.3f ? -87.3f : (x > 88.3f ? 88.3f : x);
	/* Round to nearest without floorf, which has no baseline SSE2 vector form. */
	float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
	float r = x - n * 0.693359375f - n * -2.12194440e-4f;
	float p = 1.9875691500E-4f;
	p = p * r + 1.3981999507E-3f;
	p = p * r + 8.3334519073E-3f;
	p = p * r + 4.1665795894E-2f;
	p = p * r + 1.6666665459E-1f;
	p = p * r + 5.0000001201E-1f;
	p = p * r * r + r + 1.0f;
	/*
	 * A NaN x must come out as NaN, which p carries; the exponent bits must
	 * not come from converting NaN to an integer (undefined in C, and UBSan
	 * saw the negative shift it led to when overflowing logits reached here).
	 * The clamp above keeps n in [-126, 127], so the biased exponent fits.
	 */
	int32_t e = n == n ? (int32_t)n : 0;
	union {
		uint32_t u;
		float f;
	} u;
	u.u = (uint32_t)(e + 127) << 23;
	return p * u.f;
}

static inline float s2s__sigmoidf(float x)
{
	return 1.0f / (1.0f + s2s__expf(-x));
}

float s2s__tanh1(float x)
{
	return s2s__tanhf(x);
}

float s2s__expf1(float x)
{
	return s2s__expf(x);
}

S2S__VEC void s2s__tanh_inplace(float *x, int n)
{
	for (int i = 0; i < n; i++)
		x[i] = s2s__tanhf(x[i]);
}

float s2s__sigmoid1(float x)
{
	return s2s__sigmoidf(x);
}

/* g (4 hid) <- gate pre-activations; blocks i, f, g, o as torch.nn.LSTM stacks them. */
static inline __attribute__((always_inline)) void
s2s__lstm_row(int hid, float *restrict g, const float *restrict gh, const float *restrict bi,
              const float *restrict bh, float *restrict h, float *restrict c)
{
	for (int j = 0; j < 4 * hid; j++)
		g[j] = g[j] + bi[j] + (gh[j] + bh[j]);
	for (int j = 0; j < 2 * hid; j++)
		g[j] = s2s__sigmoidf(g[j]);
	for (int j = 2 * hid; j < 3 * hid; j++)
		g[j] = s2s__tanhf(g[j]);
	for (int j = 3 * hid; j < 4 * hid; j++)
		g[j] = s2s__sigmoidf(g[j]);
	for (int j = 0; j < hid; j++)
		c[j] = g[hid + j] * c[j] + g[j] * g[2 * hid + j];
	for (int j = 0; j < hid; j++)
		h[j] = g[3 * hid + j] * s2s__tanhf(c[j]);
}

/* r, z, n; the reset gate multiplies (W_hn h + b_hn) as in torch.nn.GRU. */
static inline __attribute__((always_inline)) void
s2s__gru_row(int hid, float *restrict gx, float *restrict gh, const float *restrict bi,
             const float *restrict bh, float *restrict h)
{
	for (int j = 0; j < 2 * hid; j++)
		gx[j] = s2s__sigmoidf(gx[j] + bi[j] + (gh[j] + bh[j]));
	for (int j = 0; j < hid; j++) {
		float r = gx[j], z = gx[hid + j];
		float nn = s2s__tanhf(gx[2 * hid + j] + bi[2 * hid + j] +
		                      r * (gh[2 * hid + j] + bh[2 * hid + j]));
		h[j] = (1.0f - z) * nn + z * h[j];
	}
}

static inline __attribute__((always_inline)) void
s2s__rnn_row(bool relu, int hid, const float *restrict gx, const float *restrict gh,
             const float *restrict bi, const float *restrict bh, float *restrict h)
{
	if (relu) {
		for (int j = 0; j < hid; j++) {
			float a = gx[j] + bi[j] + (gh[j] + bh[j]);
			h[j] = a > 0.0f ? a : 0.0f;
		}
	} else {
		for (int j = 0; j < hid; j++)
			h[j] = s2s__tanhf(gx[j] + bi[j] + (gh[j] + bh[j]));
	}
}

S2S__VEC void s2s__cell(s2s_cell_kind kind, int rows, int hid, float *gx, int gx_stride, float *gh,
                        const float *b_ih, const float *b_hh, float *h, float *c)
{
	int g = kind == S2S_CELL_LSTM ? 4 : (kind == S2S_CELL_GRU ? 3 : 1);
	for (int r = 0; r < rows; r++) {
		float *x = gx + (long)r * gx_stride;
		float *hh = gh + (long)r * g * hid;
		float *hr = h + (long)r * hid;
		if (kind == S2S_CELL_LSTM)
			s2s__lstm_row(hid, x, hh, b_ih, b_hh, hr, c + (long)r * hid);
		else if (kind == S2S_CELL_GRU)
			s2s__gru_row(hid, x, hh, b_ih, b_hh, hr);
		else
			s2s__rnn_row(kind == S2S_CELL_RNN_RELU, hid, x, hh, b_ih, b_hh, hr);
	}
}

typedef struct {
	s2s_cell_kind kind;
	int hid, gx_stride;
	float *gx, *gh, *h, *c;
	const float *b_ih, *b_hh;
} s2s__cell_job;

static void s2s__cell_range(void *ctx, int begin, int end)
{
	const s2s__cell_job *j = ctx;
	int G = j->kind == S2S_CELL_LSTM ? 4 : (j->kind == S2S_CELL_GRU ? 3 : 1);
	s2s__cell(j->kind, end - begin, j->hid, j->gx + (size_t)begin * j->gx_stride, j->gx_stride,
	          j->gh + (size_t)begin * G * j->hid, j->b_ih, j->b_hh, j->h + (size_t)begin * j->hid,
	          j->c ? j->c + (size_t)begin * j->hid : NULL);
}

void s2s__cell_rows(int threads, s2s_cell_kind kind, int rows, int hid, float *gx, int gx_stride,
                    float *gh, const float *b_ih, const float *b_hh, float *h, float *c)
{
	s2s__cell_job j = {.kind = kind, .hid = hid, .gx_stride = gx_stride, .gx = gx, .gh = gh,
	                   .h = h, .c = kind == S2S_CELL_LSTM ? c : NULL, .b_ih = b_ih, .b_hh = b_hh};
	/* A handful of rows is cheaper than a wake-up. */
	s2s__parallel_for(rows, rows >= 8 ? threads : 1, s2s__cell_range, &j);
}

/* Sum with 8 partial sums: a fixed order, independent of alignment, and
 * not one long dependency chain. */
static inline float s2s__sum(const float *x, int n)
{
	float acc[8] = {0};
	int i = 0;
	for (; i + 8 <= n; i += 8)
		for (int k = 0; k < 8; k++)
			acc[k] += x[i + k];
	float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
	for (; i < n; i++)
		s += x[i];
	return s;
}

/* Max with 8 lanes (vectorisable); the order does not matter for a max. */
static inline float s2s__max(const float *x, int n)
{
	float m[8];
	int i = 0;
	for (int k = 0; k < 8; k++)
		m[k] = x[k < n ? k : 0];
	for (; i + 8 <= n; i += 8)
		for (int k = 0; k < 8; k++)
			m[k] = x[i + k] > m[k] ? x[i + k] : m[k];
	float r = m[0];
	for (int k = 1; k < 8; k++)
		r = m[k] > r ? m[k] : r;
	for (; i < n; i++)
		r = x[i] > r ? x[i] : r;
	return r;
}

/*
 * The softmax and log-sum-exp denominators are summed in double (8 lanes,
 * fixed order). In float, each lane's running sum of n/8 terms lost about
 * n/8 ulps in the worst case: over a 4,096-token source the attention
 * weights drifted enough to move log-probabilities by 1e-5 against float64.
 * The exps stay in float; the sum in double costs a conversion per element,
 * small beside the exp itself.
 */
S2S__VEC void s2s__softmax_inplace(float *x, int n)
{
	float mx = s2s__max(x, n);
	double acc[8] = {0};
	int i = 0;
	for (; i + 8 <= n; i += 8)
		for (int k = 0; k < 8; k++) {
			x[i + k] = s2s__expf(x[i + k] - mx);
			acc[k] += x[i + k];
		}
	double s =
	    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
	for (; i < n; i++) {
		x[i] = s2s__expf(x[i] - mx);
		s += x[i];
	}
	double inv = 1.0 / s;
	for (i = 0; i < n; i++)
		x[i] = (float)(x[i] * inv);
}

S2S__VEC int s2s__logsoftmax_stats(const float *z, int n, float *max, float *lse)
{
	float mx = s2s__max(z, n);
	int arg = 0;
	while (arg < n - 1 && !(z[arg] == mx))
		arg++; /* the first maximum: lowest id on ties */
	/* exp in float, sum in double (see s2s__softmax_inplace), one pass. */
	double acc[8] = {0};
	int i = 0;
	for (; i + 8 <= n; i += 8)
		for (int k = 0; k < 8; k++)
			acc[k] += s2s__expf(z[i + k] - mx);
	double s =
	    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
	for (; i < n; i++)
		s += s2s__expf(z[i] - mx);
	*max = mx;
	*lse = (float)log(s);
	return arg;
}

/*
 * Rows per block of the context sum: each block is summed in float (the
 * vectorised loop), the block sums in double, so the rounding error is that
 * of a 32-term float sum plus one double add per block, whatever n is.
 */
#define S2S__CTX_BLOCK 32

/* out (K) = sum over j0 <= j < j1 of alpha_j * mem_j, in float. */
static inline __attribute__((always_inline)) void s2s__context_block(float *restrict out,
                                                                     const float *restrict alpha,
                                                                     const float *restrict mem,
                                                                     int j0, int j1, int K)
{
	for (int k = 0; k < K; k++)
		out[k] = 0.0f;
	for (int j = j0; j < j1; j++) {
		const float a = alpha[j], *row = mem + (size_t)j * K;
		for (int k = 0; k < K; k++)
			out[k] += a * row[k];
	}
}

S2S__VEC void s2s__context(float *restrict c, const float *restrict alpha,
                           const float *restrict mem, int n, int K, float *restrict blk,
                           double *restrict acc)
{
	if (n <= S2S__CTX_BLOCK) { /* one block: the same sums, straight into c */
		s2s__context_block(c, alpha, mem, 0, n, K);
		return;
	}
	for (int k = 0; k < K; k++)
		acc[k] = 0.0;
	for (int j0 = 0; j0 < n; j0 += S2S__CTX_BLOCK) {
		int j1 = j0 + S2S__CTX_BLOCK < n ? j0 + S2S__CTX_BLOCK : n;
		s2s__context_block(blk, alpha, mem, j0, j1, K);
		for (int k = 0; k < K; k++)
			acc[k] += blk[k];
	}
	for (int k = 0; k < K; k++)
		c[k] = (float)acc[k];
}

S2S__VEC float s2s__dot(const float *a, const float *b, int n)
{
	float acc[8] = {0};
	int i = 0;
	for (; i + 8 <= n; i += 8)
		for (int k = 0; k < 8; k++)
			acc[k] += a[i + k] * b[i + k];
	float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
	for (; i < n; i++)
		s += a[i] * b[i];
	return s;
}

S2S__VEC void s2s__axpy(float *y, float a, const float *x, int n)
{
	for (int i = 0; i < n; i++)
		y[i] += a * x[i];
}

S2S__VEC float s2s__additive_score(const float *v, const float *wq, const float *k, int n,
                                   float *tmp)
{
	for (int i = 0; i < n; i++)
		tmp[i] = s2s__tanhf(wq[i] + k[i]);
	return s2s__dot(v, tmp, n);
}
