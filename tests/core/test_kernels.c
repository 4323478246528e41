/*
 * test_kernels.c - the numeric kernels against straightforward double
 * precision computations written out here.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "s2s_kernels.h"

static float frand(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return (float)((*s >> 8) & 0xffff) / 65535.0f * 2.0f - 1.0f;
}

Test(kernels, fast_tanh_is_within_float_noise)
{
	double worst = 0.0;
	for (int i = -200000; i <= 200000; i++) {
		float x = (float)i * 1e-4f;
		double e = fabs((double)s2s__tanh1(x) - tanh((double)x));
		if (e > worst)
			worst = e;
	}
	cr_assert_lt(worst, 5e-7, "max |tanh error| %g", worst);
	cr_assert_float_eq(s2s__tanh1(100.0f), 1.0f, 1e-7);
	cr_assert_float_eq(s2s__tanh1(-100.0f), -1.0f, 1e-7);
	float v[3] = {0.5f, -2.0f, 1e-5f};
	s2s__tanh_inplace(v, 3);
	cr_assert_float_eq(v[1], tanh(-2.0), 3e-7);
	cr_assert_float_eq(v[2], 1e-5f, 1e-12);
}

/* Non-finite inputs: overflowing logits reach expf; NaN stays NaN, the
 * infinities saturate, and (under UBSan) no undefined integer conversion. */
Test(kernels, fast_expf_non_finite_and_extremes)
{
	cr_assert(isnan(s2s__expf1(NAN)));
	cr_assert(isnan(s2s__expf1(-NAN)));
	cr_assert_eq(s2s__expf1(-INFINITY), s2s__expf1(-87.3f));
	cr_assert(isfinite(s2s__expf1(INFINITY)) && s2s__expf1(INFINITY) > 1e38f);
	cr_assert_float_eq(s2s__expf1(1.0f), (float)exp(1.0), 3e-7);
	cr_assert_float_eq(s2s__expf1(-20.0f), (float)exp(-20.0), 1e-15);
}

static double sig(double x)
{
	return 1.0 / (1.0 + exp(-x));
}

/* torch.nn.LSTMCell written out: gates i, f, g, o. */
Test(kernels, lstm_cell_matches_the_equations)
{
	enum { H = 3 };
	unsigned s = 7u;
	float gx[2][4 * H], gh[2][4 * H], bi[4 * H], bh[4 * H], h[2][H], c[2][H];
	for (int j = 0; j < 4 * H; j++) {
		bi[j] = frand(&s);
		bh[j] = frand(&s);
		for (int r = 0; r < 2; r++) {
			gx[r][j] = 2 * frand(&s);
			gh[r][j] = 2 * frand(&s);
		}
	}
	for (int r = 0; r < 2; r++)
		for (int j = 0; j < H; j++) {
			h[r][j] = frand(&s);
			c[r][j] = frand(&s);
		}
	double eh[2][H], ec[2][H];
	for (int r = 0; r < 2; r++)
		for (int j = 0; j < H; j++) {
			double g[4];
			for (int q = 0; q < 4; q++)
				g[q] = (double)gx[r][q * H + j] + bi[q * H + j] + gh[r][q * H + j] +
				       bh[q * H + j];
			ec[r][j] = sig(g[1]) * c[r][j] + sig(g[0]) * tanh(g[2]);
			eh[r][j] = sig(g[3]) * tanh(ec[r][j]);
		}
	s2s__cell(S2S_CELL_LSTM, 2, H, &gx[0][0], 4 * H, &gh[0][0], bi, bh, &h[0][0], &c[0][0]);
	for (int r = 0; r < 2; r++)
		for (int j = 0; j < H; j++) {
			cr_assert_float_eq(h[r][j], eh[r][j], 1e-6);
			cr_assert_float_eq(c[r][j], ec[r][j], 1e-6);
		}
}

/* torch.nn.GRUCell: the reset gate scales (W_hn h + b_hn). */
Test(kernels, gru_and_rnn_cells_match_the_equations)
{
	enum { H = 4 };
	unsigned s = 11u;
	float gx[3 * H], gh[3 * H], bi[3 * H], bh[3 * H], h[H];
	for (int j = 0; j < 3 * H; j++) {
		gx[j] = 2 * frand(&s);
		gh[j] = 2 * frand(&s);
		bi[j] = frand(&s);
		bh[j] = frand(&s);
	}
	double e[H];
	for (int j = 0; j < H; j++) {
		h[j] = frand(&s);
		double r = sig((double)gx[j] + bi[j] + gh[j] + bh[j]);
		double z = sig((double)gx[H + j] + bi[H + j] + gh[H + j] + bh[H + j]);
		double n = tanh((double)gx[2 * H + j] + bi[2 * H + j] +
		                r * ((double)gh[2 * H + j] + bh[2 * H + j]));
		e[j] = (1 - z) * n + z * h[j];
	}
	s2s__cell(S2S_CELL_GRU, 1, H, gx, 3 * H, gh, bi, bh, h, NULL);
	for (int j = 0; j < H; j++)
		cr_assert_float_eq(h[j], e[j], 1e-6);
	float x[2] = {0.5f, -0.5f}, g0[2] = {0.25f, -0.75f}, b0[2] = {0.0f, 0.0f}, hr[2];
	float xx[2] = {0.5f, -0.5f}, gg[2] = {0.25f, -0.75f};
	s2s__cell(S2S_CELL_RNN_RELU, 1, 2, x, 2, g0, b0, b0, hr, NULL);
	cr_assert_float_eq(hr[0], 0.75f, 1e-7);
	cr_assert_float_eq(hr[1], 0.0f, 1e-7);
	s2s__cell(S2S_CELL_RNN_TANH, 1, 2, xx, 2, gg, b0, b0, hr, NULL);
	cr_assert_float_eq(hr[1], tanh(-1.25), 1e-6);
}

Test(kernels, log_softmax_stats_and_ties)
{
	float z[6] = {1.0f, 3.0f, -2.0f, 3.0f, 0.5f, 2.0f};
	float mx, lse;
	int arg = s2s__logsoftmax_stats(z, 6, &mx, &lse);
	cr_assert_eq(arg, 1, "lowest id wins a tie");
	double sum = 0;
	for (int i = 0; i < 6; i++)
		sum += exp((double)z[i]);
	for (int i = 0; i < 6; i++)
		cr_assert_float_eq((z[i] - mx) - lse, z[i] - log(sum), 1e-6);
	float p[4] = {1.0f, 2.0f, 3.0f, 1000.0f};
	s2s__softmax_inplace(p, 3);
	double d = exp(1.0) + exp(2.0) + exp(3.0);
	cr_assert_float_eq(p[0], exp(1.0) / d, 1e-7);
	cr_assert_float_eq(p[2], exp(3.0) / d, 1e-7);
	cr_assert_float_eq(p[3], 1000.0f, 0.0f, "only n entries are touched");
}
