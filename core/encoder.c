/* encoder.c - see encoder.h. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "encoder.h"
#include "s2s_error.h"
#include "s2s_kernels.h"

void s2s__encoder_init(s2s__encoder *e)
{
	memset(e, 0, sizeof(*e));
}

void s2s__encoder_deinit(s2s__encoder *e)
{
	free(e->x);
	free(e->y);
	free(e->gx);
	free(e->gh);
	free(e->h);
	free(e->c);
	free(e->perm);
	free(e->bsz);
	free(e->off);
	memset(e, 0, sizeof(*e));
}

/* Grows *p to hold n floats; the contents are not kept. */
static int s2s__grow(float **p, size_t *cap, size_t n)
{
	if (n <= *cap)
		return 0;
	float *q = malloc(n * sizeof(float));
	if (!q)
		return S2S_ENOMEM;
	free(*p);
	*p = q;
	*cap = n;
	return 0;
}

static int s2s__grow_ints(s2s__encoder *e, int count, int tmax)
{
	if (count > e->cap_sent) {
		int *p = realloc(e->perm, (size_t)count * sizeof(int));
		if (!p)
			return S2S_ENOMEM;
		e->perm = p;
		e->cap_sent = count;
	}
	if (tmax > e->cap_time) {
		int *b = realloc(e->bsz, (size_t)tmax * sizeof(int));
		if (!b)
			return S2S_ENOMEM;
		e->bsz = b;
		int *o = realloc(e->off, (size_t)tmax * sizeof(int));
		if (!o)
			return S2S_ENOMEM;
		e->off = o;
		e->cap_time = tmax;
	}
	return 0;
}

/*
 * Orders sentences by length, longest first (stable), and lays out the packed
 * rows: time t holds bsz[t] rows starting at off[t], row p being perm[p].
 */
static int s2s__pack(s2s__encoder *e, int count, const int *lens, int *tmax_out)
{
	for (int i = 0; i < count; i++) {
		int j = i;
		while (j > 0 && lens[e->perm[j - 1]] < lens[i]) {
			e->perm[j] = e->perm[j - 1];
			j--;
		}
		e->perm[j] = i;
	}
	int tmax = lens[e->perm[0]], total = 0;
	for (int t = 0; t < tmax; t++) {
		int b = 0;
		while (b < count && lens[e->perm[b]] > t)
			b++;
		e->bsz[t] = b;
		e->off[t] = total;
		total += b;
	}
	*tmax_out = tmax;
	return total;
}

/* Runs one direction of one layer over the packed input projections e->gx. */
static void s2s__run_direction(const s2s_model *m, s2s__encoder *e, const s2s__rnn_weights *w,
                               int count, int tmax, bool backward, int col, int K)
{
	int H = m->cfg.enc_hidden, GH = s2s_config_gates(&m->cfg) * H;
	memset(e->h, 0, (size_t)count * H * sizeof(float));
	memset(e->c, 0, (size_t)count * H * sizeof(float));
	for (int s = 0; s < tmax; s++) {
		/* Backward, rows join as t reaches their own last token, from the zero
		 * state they still hold: the prefix structure stays contiguous. */
		int t = backward ? tmax - 1 - s : s;
		int b = e->bsz[t];
		s2s__matmul_w(e->gh, e->h, &w->w_hh, b, 0.0f);
		s2s__cell_rows(s2s__kernel_threads(), m->cfg.cell, b, H, e->gx + (size_t)e->off[t] * GH,
		               GH, e->gh, w->b_ih, w->b_hh, e->h, e->c);
		for (int p = 0; p < b; p++)
			memcpy(e->y + ((size_t)e->off[t] + p) * K + col, e->h + (size_t)p * H,
			       (size_t)H * sizeof(float));
	}
}

/* Embeds the tokens into the packed layer-0 input, reversed when asked. */
static void s2s__embed_packed(const s2s_model *m, s2s__encoder *e, int tmax,
                              const int32_t *const *src, const int *lens)
{
	int E = m->cfg.emb_dim;
	for (int t = 0; t < tmax; t++)
		for (int p = 0; p < e->bsz[t]; p++) {
			int i = e->perm[p];
			int pos = m->cfg.reverse_source ? lens[i] - 1 - t : t;
			s2s__wmat_row(&m->w.src_emb, src[i][pos], e->x + ((size_t)e->off[t] + p) * E);
		}
}

static void s2s__save_finals(const s2s_model *m, s2s__encoder *e, int count, int l, int col,
                             float *fin_h, float *fin_c)
{
	int H = m->cfg.enc_hidden, K = s2s_config_enc_out(&m->cfg), L = m->cfg.enc_layers;
	for (int p = 0; p < count; p++) {
		size_t o = ((size_t)e->perm[p] * L + l) * K + col;
		memcpy(fin_h + o, e->h + (size_t)p * H, (size_t)H * sizeof(float));
		if (m->cfg.cell == S2S_CELL_LSTM)
			memcpy(fin_c + o, e->c + (size_t)p * H, (size_t)H * sizeof(float));
	}
}

static int s2s__reserve(const s2s_model *m, s2s__encoder *e, int count, int total)
{
	int H = m->cfg.enc_hidden, K = s2s_config_enc_out(&m->cfg);
	int E = m->cfg.emb_dim, GH = s2s_config_gates(&m->cfg) * H;
	size_t in = (size_t)(E > K ? E : K);
	if (s2s__grow(&e->x, &e->cap_x, (size_t)total * in) ||
	    s2s__grow(&e->y, &e->cap_y, (size_t)total * in) ||
	    s2s__grow(&e->gx, &e->cap_gx, (size_t)total * GH) ||
	    s2s__grow(&e->gh, &e->cap_gh, (size_t)count * GH) ||
	    s2s__grow(&e->h, &e->cap_h, (size_t)count * H) ||
	    s2s__grow(&e->c, &e->cap_c, (size_t)count * H))
		return S2S_ENOMEM;
	return 0;
}

int s2s__encode(const s2s_model *m, s2s__encoder *e, int count, const int32_t *const *src,
                const int *lens, float *const *mem, float *fin_h, float *fin_c)
{
	int tmax_all = 0;
	for (int i = 0; i < count; i++)
		if (lens[i] > tmax_all)
			tmax_all = lens[i];
	if (s2s__grow_ints(e, count, tmax_all))
		return S2S_ENOMEM;
	int tmax, total = s2s__pack(e, count, lens, &tmax);
	if (s2s__reserve(m, e, count, total))
		return S2S_ENOMEM;
	const s2s_config *c = &m->cfg;
	int H = c->enc_hidden, K = s2s_config_enc_out(c);
	s2s__embed_packed(m, e, tmax, src, lens);
	for (int l = 0; l < c->enc_layers; l++) {
		for (int d = 0; d < (c->bidirectional ? 2 : 1); d++) {
			const s2s__rnn_weights *w = &m->w.enc[l][d];
			/* One product: the input projection of every time step of every sentence. */
			s2s__matmul_w(e->gx, e->x, &w->w_ih, total, 0.0f);
			s2s__run_direction(m, e, w, count, tmax, d == 1, d * H, K);
			s2s__save_finals(m, e, count, l, d * H, fin_h, fin_c);
		}
		float *t = e->x;
		e->x = e->y;
		e->y = t;
		size_t ct = e->cap_x;
		e->cap_x = e->cap_y;
		e->cap_y = ct;
	}
	/* Top layer output (now in e->x) back to each sentence in source order. */
	for (int t = 0; t < tmax; t++)
		for (int p = 0; p < e->bsz[t]; p++) {
			int i = e->perm[p];
			int pos = c->reverse_source ? lens[i] - 1 - t : t;
			memcpy(mem[i] + (size_t)pos * K, e->x + ((size_t)e->off[t] + p) * K,
			       (size_t)K * sizeof(float));
		}
	return 0;
}

/* The bridge's activation, in place; tanhf as before the choice existed. */
static void s2s__bridge_act(s2s_activation act, float *x, size_t n)
{
	if (act == S2S_ACT_TANH)
		for (size_t j = 0; j < n; j++)
			x[j] = tanhf(x[j]);
	else if (act == S2S_ACT_RELU)
		for (size_t j = 0; j < n; j++)
			x[j] = x[j] > 0.0f ? x[j] : 0.0f;
}

/*
 * out (count, L*D) = act(s W^T + b) for every sentence in one sgemm. With
 * bridge_input all, sentence i's input is its finals exactly as they lie
 * (layers in h_n order, each [fwd; bwd]), so `fin` is the input matrix
 * itself; with top, the top layer's rows are first gathered into `gather`
 * (count, K), unless there is only one layer.
 */
static void s2s__linear_bridge(const s2s_model *m, int count, const float *fin, const s2s__wmat *w,
                               const float *b, float *out, float *gather)
{
	const s2s_config *cfg = &m->cfg;
	int K = s2s_config_enc_out(cfg), EL = cfg->enc_layers;
	int LD = cfg->dec_layers * cfg->dec_hidden;
	const float *s = fin;
	if (cfg->bridge_input == S2S_BRIDGE_IN_TOP && EL > 1) {
		for (int i = 0; i < count; i++)
			memcpy(gather + (size_t)i * K, fin + ((size_t)i * EL + EL - 1) * K,
			       (size_t)K * sizeof(float));
		s = gather;
	}
	for (int i = 0; i < count; i++)
		memcpy(out + (size_t)i * LD, b, (size_t)LD * sizeof(float));
	s2s__matmul_w(out, s, w, count, 1.0f);
	s2s__bridge_act(cfg->bridge_activation, out, (size_t)count * LD);
}

/* Sentence-major (count, L, D) rows into the layer-major state at dst. */
static void s2s__scatter_layers(const s2s_model *m, int count, const float *src, float *dst,
                                long h_stride)
{
	int D = m->cfg.dec_hidden, L = m->cfg.dec_layers;
	for (int i = 0; i < count; i++)
		for (int l = 0; l < L; l++)
			memcpy(dst + l * h_stride + (long)i * D, src + ((size_t)i * L + l) * D,
			       (size_t)D * sizeof(float));
}

/* zeros and last: copies or clears, no arithmetic. */
static void s2s__bridge_copy(const s2s_model *m, int count, const float *fin_h, const float *fin_c,
                             float *h, float *c, long h_stride)
{
	const s2s_config *cfg = &m->cfg;
	int D = cfg->dec_hidden, K = s2s_config_enc_out(cfg), EL = cfg->enc_layers;
	bool lstm = cfg->cell == S2S_CELL_LSTM;
	for (int l = 0; l < cfg->dec_layers; l++)
		for (int i = 0; i < count; i++) {
			float *hd = h + l * h_stride + (long)i * D;
			float *cd = lstm ? c + l * h_stride + (long)i * D : NULL;
			if (cfg->bridge == S2S_BRIDGE_LAST) {
				/* Config rules guarantee dec_layers == enc_layers and D == K. */
				memcpy(hd, fin_h + ((size_t)i * EL + l) * K,
				       (size_t)D * sizeof(float));
				if (lstm)
					memcpy(cd, fin_c + ((size_t)i * EL + l) * K,
					       (size_t)D * sizeof(float));
			} else {
				memset(hd, 0, (size_t)D * sizeof(float));
				if (lstm)
					memset(cd, 0, (size_t)D * sizeof(float));
			}
		}
}

void s2s__bridge(const s2s_model *m, int count, const float *fin_h, const float *fin_c, float *h,
                 float *c, long h_stride, float *tmp)
{
	const s2s_config *cfg = &m->cfg;
	if (cfg->bridge != S2S_BRIDGE_LINEAR) {
		s2s__bridge_copy(m, count, fin_h, fin_c, h, c, h_stride);
		return;
	}
	int LD = cfg->dec_layers * cfg->dec_hidden;
	float *out = tmp, *gather = tmp + (size_t)count * LD;
	s2s__linear_bridge(m, count, fin_h, &m->w.bridge_w, m->w.bridge_b, out, gather);
	s2s__scatter_layers(m, count, out, h, h_stride);
	if (cfg->cell != S2S_CELL_LSTM)
		return;
	if (cfg->bridge_cell == S2S_BRIDGE_CELL_LINEAR)
		s2s__linear_bridge(m, count, fin_c, &m->w.bridge_c_w, m->w.bridge_c_b, out, gather);
	else if (cfg->bridge_cell == S2S_BRIDGE_CELL_ZEROS)
		memset(out, 0, (size_t)count * LD * sizeof(float));
	/* S2S_BRIDGE_CELL_HIDDEN: c = h, which `out` still holds. */
	s2s__scatter_layers(m, count, out, c, h_stride);
}

size_t s2s__bridge_tmp_floats(const s2s_model *m, int count)
{
	const s2s_config *cfg = &m->cfg;
	/* (count, L*D) output, then (count, K) gathered top-layer inputs. */
	return (size_t)count *
	       ((size_t)cfg->dec_layers * cfg->dec_hidden + (size_t)s2s_config_enc_out(cfg));
}
