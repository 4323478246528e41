/* attention.c - see attention.h. */
#include "config.h"

#include <stdbool.h>
#include <string.h>

#include "attention.h"
#include "pool.h"
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

typedef struct {
	const s2s_model *m;
	const float *q, *wq;
	const s2s__attn_row *rw;
	float *ctx, *tmp;
	double *acc;
} s2s__attend_job;

static void s2s__attend_rows(void *ctx, int begin, int end, int part)
{
	const s2s__attend_job *j = ctx;
	const s2s_model *m = j->m;
	int K = s2s_config_enc_out(&m->cfg), D = m->cfg.dec_hidden, A = m->cfg.attn_dim;
	size_t T = (size_t)(A > K ? A : K);
	float *tmp = j->tmp + (size_t)part * T;
	double *acc = j->acc + (size_t)part * K;
	for (int r = begin; r < end; r++) {
		const s2s__attn_row *row = &j->rw[r];
		s2s__scores(m, j->q + (size_t)r * D, j->wq ? j->wq + (size_t)r * A : NULL, row, tmp);
		s2s__softmax_inplace(row->alpha, row->n);
		s2s__context(j->ctx + (size_t)r * K, row->alpha, row->mem, row->n, K, tmp, acc);
	}
}

/* Fewer rows than this are not worth waking a helper for. */
#define S2S__PAR_MIN_ROWS 8

void s2s__attend(const s2s_model *m, int rows, const float *q, const s2s__attn_row *rw, float *ctx,
                 float *wq, float *tmp, double *acc)
{
	bool additive = m->cfg.attention == S2S_ATTN_ADDITIVE;
	if (additive)
		s2s__matmul_w(wq, q, &m->w.attn_query_w, rows, 0.0f);
	s2s__attend_job j = {.m = m, .q = q, .wq = additive ? wq : NULL, .rw = rw, .ctx = ctx,
	                     .tmp = tmp, .acc = acc};
	int threads = rows >= S2S__PAR_MIN_ROWS ? s2s__kernel_threads() : 1;
	s2s__parallel_parts(rows, threads, S2S__ROW_PARTS, s2s__attend_rows, &j);
}
