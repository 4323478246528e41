/*
 * attention.h - attention scores, weights and context (docs §6.3).
 *
 * Keys depend only on the sentence, so they are computed once per sentence
 * (one sgemm); each decoder step then scores every row against its own
 * sentence's memory. Padding never exists here: each row sees exactly its
 * sentence's n_src memory rows.
 *
 * Thread safety: pure functions on caller-owned buffers.
 */
#ifndef S2S_ATTENTION_H
#define S2S_ATTENTION_H

#include "model_internal.h"

/* Floats per memory row of the keys for this model (D general, A additive), 0 if none. */
int s2s__attn_key_dim(const s2s_model *m);

/* keys (n, key_dim) from memory (n, K): general W m_j; additive W_k m_j + b_k. */
void s2s__attn_keys(const s2s_model *m, int n, const float *mem, float *keys);

/* Where each decoder row's sentence lives. */
typedef struct {
	const float *mem;  /* (n, K) */
	const float *keys; /* (n, key_dim) or NULL */
	int n;
	float *alpha; /* (n) output: attention weights of this row */
} s2s__attn_row;

/*
 * Parts the per-row attention work may be split into (pool.h): the
 * caller's scratch holds this many copies.
 */
#define S2S__ROW_PARTS 8

/*
 * For `rows` queries q (rows, D): writes alpha into each row's buffer and
 * the context (rows, K) into ctx. `wq` is scratch of rows * A floats
 * (additive only: W_q q for all rows in one product); tmp holds
 * S2S__ROW_PARTS * max(A, K) floats and acc S2S__ROW_PARTS * K doubles
 * (scratch of the scores and the context sum, one copy per part). Rows
 * are independent, so they are split over the kernels' threads; a row's
 * result does not depend on the split.
 */
void s2s__attend(const s2s_model *m, int rows, const float *q, const s2s__attn_row *rw, float *ctx,
                 float *wq, float *tmp, double *acc);

#endif
