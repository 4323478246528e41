/* decoder.c - see decoder.h. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "decoder.h"
#include "s2s_error.h"
#include "s2s_kernels.h"

int s2s__dec_in0(const s2s_model *m)
{
	const s2s_config *c = &m->cfg;
	int in = c->emb_dim;
	if (c->attention != S2S_ATTN_NONE && c->placement == S2S_PLACE_BAHDANAU)
		in += s2s_config_enc_out(c);
	if (c->input_feed)
		in += c->dec_hidden;
	return in;
}

static float *s2s__zalloc(size_t n)
{
	return calloc(n ? n : 1, sizeof(float));
}

int s2s__decoder_init(s2s__decoder *d, const s2s_model *m, int max_rows)
{
	const s2s_config *c = &m->cfg;
	size_t R = (size_t)max_rows, D = (size_t)c->dec_hidden;
	size_t K = (size_t)s2s_config_enc_out(c), G = (size_t)s2s_config_gates(c);
	memset(d, 0, sizeof(*d));
	d->max_rows = max_rows;
	d->x = s2s__zalloc(R * (size_t)s2s__dec_in0(m));
	d->gx = s2s__zalloc(R * G * D);
	d->gh = s2s__zalloc(R * G * D);
	d->ctx = s2s__zalloc(R * K);
	d->cat = s2s__zalloc(R * (K + D));
	d->wq = s2s__zalloc(R * (size_t)(c->attn_dim > 0 ? c->attn_dim : 1));
	d->logits = s2s__zalloc(R * (size_t)c->tgt_vocab_size);
	d->tmp = s2s__zalloc(S2S__ROW_PARTS * ((size_t)c->attn_dim > K ? (size_t)c->attn_dim : K));
	d->acc = calloc(S2S__ROW_PARTS * K, sizeof(double));
	if (!d->x || !d->gx || !d->gh || !d->ctx || !d->cat || !d->wq || !d->logits || !d->tmp ||
	    !d->acc) {
		s2s__decoder_deinit(d);
		return S2S_ENOMEM;
	}
	return 0;
}

void s2s__decoder_deinit(s2s__decoder *d)
{
	free(d->x);
	free(d->gx);
	free(d->gh);
	free(d->ctx);
	free(d->cat);
	free(d->wq);
	free(d->logits);
	free(d->tmp);
	free(d->acc);
	memset(d, 0, sizeof(*d));
}

int s2s__dec_state_init(s2s__dec_state *s, const s2s_model *m, int max_rows)
{
	size_t n = (size_t)m->cfg.dec_layers * max_rows * m->cfg.dec_hidden;
	s->h = s2s__zalloc(n);
	s->c = s2s__zalloc(n);
	s->feed = s2s__zalloc((size_t)max_rows * m->cfg.dec_hidden);
	if (!s->h || !s->c || !s->feed) {
		s2s__dec_state_deinit(s);
		return S2S_ENOMEM;
	}
	return 0;
}

void s2s__dec_state_deinit(s2s__dec_state *s)
{
	free(s->h);
	free(s->c);
	free(s->feed);
	memset(s, 0, sizeof(*s));
}

/* x = [emb(prev); context or previous attentional vector], one row per hypothesis. */
static void s2s__embed_rows(const s2s_model *m, s2s__decoder *d, const s2s__dec_state *st, int rows,
                            const int32_t *prev)
{
	const s2s_config *c = &m->cfg;
	int E = c->emb_dim, K = s2s_config_enc_out(c), D = c->dec_hidden, in = s2s__dec_in0(m);
	bool bahdanau = c->attention != S2S_ATTN_NONE && c->placement == S2S_PLACE_BAHDANAU;
	for (int r = 0; r < rows; r++) {
		float *x = d->x + (size_t)r * in;
		s2s__wmat_row(&m->w.tgt_emb, prev[r], x);
		if (bahdanau)
			memcpy(x + E, d->ctx + (size_t)r * K, (size_t)K * sizeof(float));
		else if (c->input_feed)
			memcpy(x + E, st->feed + (size_t)r * D, (size_t)D * sizeof(float));
	}
}

/* The stacked RNN: layer l reads layer l-1's new h, updated in place. */
static void s2s__rnn_step(const s2s_model *m, s2s__decoder *d, s2s__dec_state *st, int rows)
{
	const s2s_config *c = &m->cfg;
	int D = c->dec_hidden, GD = s2s_config_gates(c) * D;
	long ls = (long)d->max_rows * D;
	for (int l = 0; l < c->dec_layers; l++) {
		const s2s__rnn_weights *w = &m->w.dec[l];
		const float *in = l == 0 ? d->x : st->h + (l - 1) * ls;
		float *h = st->h + l * ls, *cs = st->c + l * ls;
		s2s__matmul_w(d->gx, in, &w->w_ih, rows, 0.0f);
		s2s__matmul_w(d->gh, h, &w->w_hh, rows, 0.0f);
		s2s__cell_rows(s2s__kernel_threads(), c->cell, rows, D, d->gx, GD, d->gh, w->b_ih,
		               w->b_hh, h, cs);
	}
}

/*
 * Luong: attentional vector act(W_c [c; h] (+ b_c)) for all rows in one
 * sgemm; the bias, when there is one, is laid down first as for the logits.
 */
static void s2s__luong_out(const s2s_model *m, s2s__decoder *d, s2s__dec_state *st, int rows,
                           const float *top)
{
	int K = s2s_config_enc_out(&m->cfg), D = m->cfg.dec_hidden;
	for (int r = 0; r < rows; r++) {
		float *cat = d->cat + (size_t)r * (K + D);
		memcpy(cat, d->ctx + (size_t)r * K, (size_t)K * sizeof(float));
		memcpy(cat + K, top + (size_t)r * D, (size_t)D * sizeof(float));
	}
	const float *b = m->w.attn_out_b;
	for (int r = 0; b && r < rows; r++)
		memcpy(st->feed + (size_t)r * D, b, (size_t)D * sizeof(float));
	s2s__matmul_w(st->feed, d->cat, &m->w.attn_out_w, rows, b ? 1.0f : 0.0f);
	if (m->cfg.attn_out_activation == S2S_ACT_TANH)
		s2s__tanh_inplace(st->feed, rows * D);
}

void s2s__decoder_step(const s2s_model *m, s2s__decoder *d, s2s__dec_state *st, int rows,
                       const int32_t *prev, const s2s__attn_row *rw)
{
	const s2s_config *c = &m->cfg;
	int D = c->dec_hidden, V = c->tgt_vocab_size;
	long ls = (long)d->max_rows * D;
	const float *top = st->h + (c->dec_layers - 1) * ls;
	bool attn = c->attention != S2S_ATTN_NONE;
	if (attn && c->placement == S2S_PLACE_BAHDANAU)
		s2s__attend(m, rows, top, rw, d->ctx, d->wq, d->tmp,
		            d->acc); /* with the previous state */
	s2s__embed_rows(m, d, st, rows, prev);
	s2s__rnn_step(m, d, st, rows);
	const float *o = top;
	if (attn && c->placement == S2S_PLACE_LUONG) {
		s2s__attend(m, rows, top, rw, d->ctx, d->wq, d->tmp,
		            d->acc); /* with the new state */
		s2s__luong_out(m, d, st, rows, top);
		o = st->feed;
	}
	for (int r = 0; r < rows; r++)
		memcpy(d->logits + (size_t)r * V, m->w.out_b, (size_t)V * sizeof(float));
	s2s__matmul_w(d->logits, o, &m->w.out_w, rows, 1.0f);
}
