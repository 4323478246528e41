/*
 * encoder.h - the encoder (docs/checkpoint-format.md §6.1) and the bridge
 * (§6.2), run for several sentences at once.
 *
 * Sentences of different lengths run as PyTorch's packed sequences do: they
 * are ordered by length, and at time t only the prefix of sentences longer
 * than t is updated, so each one gets exactly what it would get alone. Each
 * layer's input projection for all time steps of all sentences is one sgemm
 * per direction; each time step's recurrent product is one sgemm.
 *
 * Thread safety: an s2s__encoder is scratch owned by one thread; the model
 * is shared read-only.
 */
#ifndef S2S_ENCODER_H
#define S2S_ENCODER_H

#include <stddef.h>
#include <stdint.h>

#include "model_internal.h"

/* Grow-only scratch buffers, so encoding allocates only when a batch is bigger than any before. */
typedef struct {
	float *x, *y, *gx, *gh, *h, *c;
	size_t cap_x, cap_y, cap_gx, cap_gh, cap_h, cap_c;
	int *perm, *bsz, *off;
	int cap_sent, cap_time;
} s2s__encoder;

void s2s__encoder_init(s2s__encoder *e);
void s2s__encoder_deinit(s2s__encoder *e);

/*
 * Encodes `count` sentences; sentence i has lens[i] >= 1 ids src[i] (ids
 * already validated against the vocabulary). Writes sentence i's memory
 * (lens[i], K) into mem[i] (caller-owned, source order even with
 * reverse_source) and its final states of every layer into fin_h/fin_c at
 * offset i * enc_layers * K (layer l at + l * K, [fwd; bwd]); fin_c is
 * ignored unless the cell is an LSTM. Returns 0 or S2S_ENOMEM.
 */
int s2s__encode(const s2s_model *m, s2s__encoder *e, int count, const int32_t *const *src,
                const int *lens, float *const *mem, float *fin_h, float *fin_c);

/*
 * Decoder start state (§6.2) of sentence i from its encoder finals, written
 * to h[l * h_stride + i * D] (and c likewise for LSTM) for each decoder
 * layer l. `tmp` holds s2s__bridge_tmp_floats(m, count) floats of
 * scratch for the linear bridge (one sgemm for all sentences).
 */
void s2s__bridge(const s2s_model *m, int count, const float *fin_h, const float *fin_c, float *h,
                 float *c, long h_stride, float *tmp);
size_t s2s__bridge_tmp_floats(const s2s_model *m, int count);

#endif
