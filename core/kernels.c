/* kernels.c - see s2s_kernels.h. */
#include "config.h"

#include <cblas.h>
#include <math.h>

#include "s2s_kernels.h"

void s2s__matmul_nt(float *c, const float *a, const float *w, int m, int n, int k, float beta)
{
	if (m <= 0)
		return;
	if (m == 1)
		cblas_sgemv(CblasRowMajor, CblasNoTrans, n, k, 1.0f, w, k, a, 1, beta, c, 1);
	else
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, k, w, k,
			    beta, c, n);
}

void s2s__add(float *y, const float *x, int n)
{
	for (int i = 0; i < n; i++)
		y[i] += x[i];
}

float s2s__tanh1(float x)
{
	/* Eigen's generic_fast_tanh_float: a 13/6 rational fit on [-7.9, 7.9],
	 * where tanh is 1 to float precision beyond. */
	const float lim = 7.90531110763549805f;
	float xc = x < -lim ? -lim : (x > lim ? lim : x);
	if (fabsf(x) < 0.0004f)
		return x;
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

void s2s__tanh_inplace(float *x, int n)
{
	for (int i = 0; i < n; i++)
		x[i] = s2s__tanh1(x[i]);
}

float s2s__sigmoid1(float x)
{
	return 1.0f / (1.0f + expf(-x));
}

static void s2s__lstm_row(int hid, float *g, const float *gh, const float *bi, const float *bh,
			  float *h, float *c)
{
	/* Gate blocks i, f, g, o as torch.nn.LSTM stacks them. */
	for (int j = 0; j < 4 * hid; j++)
		g[j] = g[j] + bi[j] + (gh[j] + bh[j]);
	for (int j = 0; j < hid; j++) {
		float ig = s2s__sigmoid1(g[j]);
		float fg = s2s__sigmoid1(g[hid + j]);
		float gg = tanhf(g[2 * hid + j]);
		float og = s2s__sigmoid1(g[3 * hid + j]);
		float cn = fg * c[j] + ig * gg;
		c[j] = cn;
		h[j] = og * tanhf(cn);
	}
}

static void s2s__gru_row(int hid, const float *gx, const float *gh, const float *bi,
			 const float *bh, float *h)
{
	/* r, z, n; the reset gate multiplies (W_hn h + b_hn) as in torch.nn.GRU. */
	for (int j = 0; j < hid; j++) {
		float r = s2s__sigmoid1(gx[j] + bi[j] + (gh[j] + bh[j]));
		float z = s2s__sigmoid1(gx[hid + j] + bi[hid + j] + (gh[hid + j] + bh[hid + j]));
		float nn = tanhf(gx[2 * hid + j] + bi[2 * hid + j] +
				 r * (gh[2 * hid + j] + bh[2 * hid + j]));
		h[j] = (1.0f - z) * nn + z * h[j];
	}
}

static void s2s__rnn_row(s2s_cell_kind kind, int hid, const float *gx, const float *gh,
			 const float *bi, const float *bh, float *h)
{
	for (int j = 0; j < hid; j++) {
		float a = gx[j] + bi[j] + (gh[j] + bh[j]);
		h[j] = kind == S2S_CELL_RNN_TANH ? tanhf(a) : (a > 0.0f ? a : 0.0f);
	}
}

void s2s__cell(s2s_cell_kind kind, int rows, int hid, float *gx, int gx_stride, float *gh,
	       const float *b_ih, const float *b_hh, float *h, float *c)
{
	int g = kind == S2S_CELL_LSTM ? 4 : (kind == S2S_CELL_GRU ? 3 : 1);
	for (int r = 0; r < rows; r++) {
		float *x = gx + (long)r * gx_stride;
		const float *hh = gh + (long)r * g * hid;
		float *hr = h + (long)r * hid;
		if (kind == S2S_CELL_LSTM)
			s2s__lstm_row(hid, x, hh, b_ih, b_hh, hr, c + (long)r * hid);
		else if (kind == S2S_CELL_GRU)
			s2s__gru_row(hid, x, hh, b_ih, b_hh, hr);
		else
			s2s__rnn_row(kind, hid, x, hh, b_ih, b_hh, hr);
	}
}

void s2s__softmax_inplace(float *x, int n)
{
	float mx = x[0];
	for (int i = 1; i < n; i++)
		if (x[i] > mx)
			mx = x[i];
	float sum = 0.0f;
	for (int i = 0; i < n; i++) {
		x[i] = expf(x[i] - mx);
		sum += x[i];
	}
	float inv = 1.0f / sum;
	for (int i = 0; i < n; i++)
		x[i] *= inv;
}

int s2s__logsoftmax_stats(const float *z, int n, float *max, float *lse)
{
	int arg = 0;
	float mx = z[0];
	for (int i = 1; i < n; i++)
		if (z[i] > mx) {
			mx = z[i];
			arg = i;
		}
	float sum = 0.0f;
	for (int i = 0; i < n; i++)
		sum += expf(z[i] - mx);
	*max = mx;
	*lse = logf(sum);
	return arg;
}
