/* toy_model.c - see toy_model.h. */
#include <stdlib.h>
#include <string.h>

#include "toy_model.h"

/* All weights live in one block so that freeing is one call. */
typedef struct {
	float *block;
	size_t used, cap;
	unsigned state;
	float scale;
} toy_alloc;

static float toy_rand(toy_alloc *a)
{
	a->state = a->state * 1103515245u + 12345u;
	return ((float)((a->state >> 8) & 0xffff) / 65535.0f * 2.0f - 1.0f) * a->scale;
}

static const float *toy_take(toy_alloc *a, size_t n)
{
	if (!a->block) { /* counting pass */
		a->used += n;
		return NULL;
	}
	float *p = a->block + a->used;
	for (size_t i = 0; i < n; i++)
		p[i] = toy_rand(a);
	a->used += n;
	return p;
}

static void toy_rnn(toy_alloc *a, s2s__rnn_weights *w, int g, int in, int hid)
{
	w->w_ih = toy_take(a, (size_t)g * hid * in);
	w->w_hh = toy_take(a, (size_t)g * hid * hid);
	w->b_ih = toy_take(a, (size_t)g * hid);
	w->b_hh = toy_take(a, (size_t)g * hid);
	w->in = in;
	w->hid = hid;
}

s2s_config toy_config(void)
{
	s2s_config c;
	memset(&c, 0, sizeof(c));
	c.cell = S2S_CELL_LSTM;
	c.emb_dim = 8;
	c.enc_hidden = 6;
	c.enc_layers = 2;
	c.bidirectional = true;
	c.dec_hidden = 10;
	c.dec_layers = 2;
	c.bridge = S2S_BRIDGE_LINEAR;
	c.attention = S2S_ATTN_ADDITIVE;
	c.placement = S2S_PLACE_LUONG;
	c.attn_dim = 7;
	c.input_feed = true;
	c.src_vocab_size = 23;
	c.tgt_vocab_size = 29;
	return c;
}

static int toy_gates(const s2s_config *c)
{
	return c->cell == S2S_CELL_LSTM ? 4 : c->cell == S2S_CELL_GRU ? 3 : 1;
}

static void toy_fill(s2s_model *m, const s2s_config *cfg, toy_alloc *aa);

s2s_model *toy_model_new(const s2s_config *cfg, unsigned seed, float scale)
{
	s2s_model *m = calloc(1, sizeof(*m));
	toy_alloc a = {.state = seed, .scale = scale};
	toy_fill(m, cfg, &a); /* counts */
	a.block = malloc(a.used * sizeof(float));
	a.used = 0;
	toy_fill(m, cfg, &a);
	return m;
}

static void toy_fill(s2s_model *m, const s2s_config *cfg, toy_alloc *aa)
{
	toy_alloc a = *aa;
	m->cfg = *cfg;
	m->widened = a.block;
	atomic_init(&m->refs, 1);
	const s2s_config *c = cfg;
	int G = toy_gates(c), K = c->enc_hidden * (c->bidirectional ? 2 : 1), D = c->dec_hidden;
	s2s__weights *w = &m->w;
	w->src_emb = toy_take(&a, (size_t)c->src_vocab_size * c->emb_dim);
	for (int l = 0; l < c->enc_layers; l++)
		for (int d = 0; d < (c->bidirectional ? 2 : 1); d++)
			toy_rnn(&a, &w->enc[l][d], G, l == 0 ? c->emb_dim : K, c->enc_hidden);
	int P = c->bridge_input == S2S_BRIDGE_IN_ALL ? c->enc_layers * K : K;
	if (c->bridge == S2S_BRIDGE_LINEAR) {
		w->bridge_w = toy_take(&a, (size_t)c->dec_layers * D * P);
		w->bridge_b = toy_take(&a, (size_t)c->dec_layers * D);
	}
	w->tgt_emb = toy_take(&a, (size_t)c->tgt_vocab_size * c->emb_dim);
	int in0 = c->emb_dim;
	if (c->attention != S2S_ATTN_NONE && c->placement == S2S_PLACE_BAHDANAU)
		in0 += K;
	if (c->input_feed)
		in0 += D;
	for (int l = 0; l < c->dec_layers; l++)
		toy_rnn(&a, &w->dec[l], G, l == 0 ? in0 : D, D);
	if (c->attention == S2S_ATTN_GENERAL)
		w->attn_general_w = toy_take(&a, (size_t)D * K);
	if (c->attention == S2S_ATTN_ADDITIVE) {
		w->attn_query_w = toy_take(&a, (size_t)c->attn_dim * D);
		w->attn_key_w = toy_take(&a, (size_t)c->attn_dim * K);
		w->attn_key_b = toy_take(&a, (size_t)c->attn_dim);
		w->attn_v = toy_take(&a, (size_t)c->attn_dim);
	}
	if (c->attention != S2S_ATTN_NONE && c->placement == S2S_PLACE_LUONG)
		w->attn_out_w = toy_take(&a, (size_t)D * (K + D));
	w->out_w = c->tie_embeddings ? w->tgt_emb : toy_take(&a, (size_t)c->tgt_vocab_size * D);
	w->out_b = toy_take(&a, (size_t)c->tgt_vocab_size);
	/* The optional keys' tensors last, so older configs draw the same weights. */
	if (c->bridge == S2S_BRIDGE_LINEAR && c->bridge_cell == S2S_BRIDGE_CELL_LINEAR) {
		w->bridge_c_w = toy_take(&a, (size_t)c->dec_layers * D * P);
		w->bridge_c_b = toy_take(&a, (size_t)c->dec_layers * D);
	}
	if (c->attn_out_bias)
		w->attn_out_b = toy_take(&a, (size_t)D);
	*aa = a;
}

void toy_model_free(s2s_model *m)
{
	if (!m)
		return;
	free(m->widened);
	free(m);
}
