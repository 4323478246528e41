/*
 * decoder.h - one decoder step (docs §6.4) for every decoding row of a
 * batch at once: embed -> cell -> attend -> project.
 *
 * Rows are all beams of all sentences, packed densely (row r of every state
 * buffer is the same hypothesis), so each weight matrix is applied with one
 * product over all rows (wmat.h); the per-row work is split over the
 * kernels' threads like the products.
 *
 * Thread safety: an s2s__decoder is scratch owned by one thread; the model
 * is shared read-only.
 */
#ifndef S2S_DECODER_H
#define S2S_DECODER_H

#include <stdint.h>

#include "attention.h"
#include "model_internal.h"

/* Recurrent state of `max_rows` rows: layer l of row r at (l * max_rows + r) * D. */
typedef struct {
	float *h, *c; /* (dec_layers, max_rows, D); c only for LSTM */
	float *feed;  /* (max_rows, D) previous attentional vector (input feeding) */
} s2s__dec_state;

/* Scratch for one step, sized for max_rows at creation: no allocation per step. */
typedef struct {
	int max_rows;
	float *x;       /* (max_rows, in_0) layer-0 input */
	float *gx, *gh; /* (max_rows, G*D) */
	float *ctx;     /* (max_rows, K) */
	float *cat;     /* (max_rows, K + D) luong [c; h] */
	float *wq;      /* (max_rows, A) additive */
	float *logits;  /* (max_rows, V) */
	float *tmp;     /* (S2S__ROW_PARTS, max(A, K)) attention scratch per part */
	double *acc;    /* (S2S__ROW_PARTS, K) context sums in double per part */
} s2s__decoder;

int s2s__decoder_init(s2s__decoder *d, const s2s_model *m, int max_rows);
void s2s__decoder_deinit(s2s__decoder *d);
int s2s__dec_state_init(s2s__dec_state *s, const s2s_model *m, int max_rows);
void s2s__dec_state_deinit(s2s__dec_state *s);

/*
 * Runs one step for rows 0..rows-1: reads prev token ids (rows), updates
 * st's h, c and feed in place, writes each row's attention weights through
 * rw (ignored for attention none) and the logits to d->logits (rows, V).
 */
void s2s__decoder_step(const s2s_model *m, s2s__decoder *d, s2s__dec_state *st, int rows,
                       const int32_t *prev, const s2s__attn_row *rw);

/* Layer-0 input size of the decoder RNN (§4). */
int s2s__dec_in0(const s2s_model *m);

#endif
