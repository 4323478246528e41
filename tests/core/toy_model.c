/* toy_model.c - see toy_model.h. */
#include <stdlib.h>
#include <string.h>

#include "toy_model.h"

/*
 * All weights are drawn into one float block (vectors are used from it);
 * matrices are then packed as F32 (wmat.h) into a second block, as the
 * loader would pack an F32 checkpoint. Two blocks, two frees.
 */
typedef struct {
	float *block;
	size_t used, cap;
	char *packed;
	size_t packed_used;
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

/* An (n, k) matrix drawn like toy_take, packed as F32. */
static void toy_take_mat(toy_alloc *a, s2s__wmat *w, int n, int k)
{
	const float *src = toy_take(a, (size_t)n * k);
	size_t bytes = s2s__wmat_bytes(S2S__W_F32, n, k);
	if (a->packed) {
		int64_t bad;
		if (s2s__wmat_pack(w, a->packed + a->packed_used, S2S__W_F32, src, S2S_DTYPE_F32, n,
		                   k, &bad) < 0)
			abort(); /* toy weights are finite by construction */
	}
	a->packed_used += bytes;
}

static void toy_rnn(toy_alloc *a, s2s__rnn_weights *w, int g, int in, int hid)
{
	toy_take_mat(a, &w->w_ih, g * hid, in);
	toy_take_mat(a, &w->w_hh, g * hid, hid);
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
	a.packed = aligned_alloc(64, a.packed_used ? a.packed_used : 64);
	if (!a.block || !a.packed)
		abort();
	memset(a.packed, 0, a.packed_used);
	a.used = a.packed_used = 0;
	toy_fill(m, cfg, &a);
	return m;
}

static void toy_fill(s2s_model *m, const s2s_config *cfg, toy_alloc *aa)
{
	toy_alloc a = *aa;
	m->cfg = *cfg;
	m->vectors = a.block;
	m->packed = a.packed;
	m->weight_type = "f32";
	atomic_init(&m->refs, 1);
	const s2s_config *c = cfg;
	int G = toy_gates(c), K = c->enc_hidden * (c->bidirectional ? 2 : 1), D = c->dec_hidden;
	s2s__weights *w = &m->w;
	toy_take_mat(&a, &w->src_emb, c->src_vocab_size, c->emb_dim);
	for (int l = 0; l < c->enc_layers; l++)
		for (int d = 0; d < (c->bidirectional ? 2 : 1); d++)
			toy_rnn(&a, &w->enc[l][d], G, l == 0 ? c->emb_dim : K, c->enc_hidden);
	int P = c->bridge_input == S2S_BRIDGE_IN_ALL ? c->enc_layers * K : K;
	if (c->bridge == S2S_BRIDGE_LINEAR) {
		toy_take_mat(&a, &w->bridge_w, c->dec_layers * D, P);
		w->bridge_b = toy_take(&a, (size_t)c->dec_layers * D);
	}
	toy_take_mat(&a, &w->tgt_emb, c->tgt_vocab_size, c->emb_dim);
	int in0 = c->emb_dim;
	if (c->attention != S2S_ATTN_NONE && c->placement == S2S_PLACE_BAHDANAU)
		in0 += K;
	if (c->input_feed)
		in0 += D;
	for (int l = 0; l < c->dec_layers; l++)
		toy_rnn(&a, &w->dec[l], G, l == 0 ? in0 : D, D);
	if (c->attention == S2S_ATTN_GENERAL)
		toy_take_mat(&a, &w->attn_general_w, D, K);
	if (c->attention == S2S_ATTN_ADDITIVE) {
		toy_take_mat(&a, &w->attn_query_w, c->attn_dim, D);
		toy_take_mat(&a, &w->attn_key_w, c->attn_dim, K);
		w->attn_key_b = toy_take(&a, (size_t)c->attn_dim);
		w->attn_v = toy_take(&a, (size_t)c->attn_dim);
	}
	if (c->attention != S2S_ATTN_NONE && c->placement == S2S_PLACE_LUONG)
		toy_take_mat(&a, &w->attn_out_w, D, K + D);
	if (c->tie_embeddings)
		w->out_w = w->tgt_emb;
	else
		toy_take_mat(&a, &w->out_w, c->tgt_vocab_size, D);
	w->out_b = toy_take(&a, (size_t)c->tgt_vocab_size);
	/* The optional keys' tensors last, so older configs draw the same weights. */
	if (c->bridge == S2S_BRIDGE_LINEAR && c->bridge_cell == S2S_BRIDGE_CELL_LINEAR) {
		toy_take_mat(&a, &w->bridge_c_w, c->dec_layers * D, P);
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
	free(m->vectors);
	free(m->packed);
	free(m);
}
