/* attention.c - see attention.h. */
#include "config.h"

#include <string.h>

#include "attention.h"
#include "s2s_kernels.h"

int s2s__attn_key_dim(const s2s_model *m)
{
	if (m->cfg.attention == S2S_ATTN_GENERAL)
		return m->cfg.dec_hidden;
	if (m->cfg.attention == S2S_ATTN_ADDITIVE)
		return m->cfg.attn_dim;
	return 0;
}

void s2s__attn_keys(const s2s_model *m, int n, const float *mem, float *keys)
{
	if (m->cfg.attention == S2S_ATTN_GENERAL) {
		s2s__matmul_w(keys, mem, &m->w.attn_general_w, n, 0.0f);
	} else if (m->cfg.attention == S2S_ATTN_ADDITIVE) {
		int A = m->cfg.attn_dim;
		for (int j = 0; j < n; j++)
			memcpy(keys + (size_t)j * A, m->w.attn_key_b, (size_t)A * sizeof(float));
		s2s__matmul_w(keys, mem, &m->w.attn_key_w, n, 1.0f);
	}
}

static void s2s__scores(const s2s_model *m, const float *q, const float *wq, const s2s__attn_row *r,
                        float *tmp)
{
	int K = s2s_config_enc_out(&m->cfg), D = m->cfg.dec_hidden, A = m->cfg.attn_dim;
	for (int j = 0; j < r->n; j++) {
		switch (m->cfg.attention) {
		case S2S_ATTN_DOT:
			r->alpha[j] = s2s__dot(q, r->mem + (size_t)j * K, K);
			break;
		case S2S_ATTN_GENERAL:
			r->alpha[j] = s2s__dot(q, r->keys + (size_t)j * D, D);
			break;
		default:
			r->alpha[j] =
			    s2s__additive_score(m->w.attn_v, wq, r->keys + (size_t)j * A, A, tmp);
			break;
		}
	}
}

void s2s__attend(const s2s_model *m, int rows, const float *q, const s2s__attn_row *rw, float *ctx,
                 float *wq, float *tmp, double *acc)
{
	int K = s2s_config_enc_out(&m->cfg), D = m->cfg.dec_hidden, A = m->cfg.attn_dim;
	if (m->cfg.attention == S2S_ATTN_ADDITIVE)
		s2s__matmul_w(wq, q, &m->w.attn_query_w, rows, 0.0f);
	for (int r = 0; r < rows; r++) {
		const s2s__attn_row *row = &rw[r];
		s2s__scores(m, q + (size_t)r * D, wq ? wq + (size_t)r * A : NULL, row, tmp);
		s2s__softmax_inplace(row->alpha, row->n);
		s2s__context(ctx + (size_t)r * K, row->alpha, row->mem, row->n, K, tmp, acc);
	}
}
