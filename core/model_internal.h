/*
 * model_internal.h - the inside of s2s_model, shared by the loader
 * (model.c) and the inference code (encoder.c, attention.c, decoder.c).
 * Not installed, not for the daemon.
 *
 * Weight pointers point into the checkpoint's read-only anonymous copy of
 * the file (F32) or into one anonymous buffer of widened copies
 * (F16/BF16); either way they are immutable, finite, never backed by the
 * file, and live as long as the model. Shapes are written as (rows, cols), row-major.
 */
#ifndef S2S_MODEL_INTERNAL_H
#define S2S_MODEL_INTERNAL_H

#include <stdatomic.h>

#include "s2s_checkpoint.h"
#include "s2s_decode.h"
#include "s2s_model.h"

/* One direction of one layer of a PyTorch RNN/GRU/LSTM. */
typedef struct {
	const float *w_ih; /* (G*hid, in) */
	const float *w_hh; /* (G*hid, hid) */
	const float *b_ih; /* (G*hid) */
	const float *b_hh; /* (G*hid) */
	int in;
	int hid;
} s2s__rnn_weights;

typedef struct {
	const float *src_emb;                          /* (V_src, E) */
	s2s__rnn_weights enc[S2S_MAX_LAYERS][2];       /* [layer][0 fwd, 1 bwd] */
	const float *bridge_w;                         /* (dec_layers*D, bridge_in) or NULL */
	const float *bridge_b;                         /* (dec_layers*D) or NULL */
	const float *bridge_c_w;                       /* (dec_layers*D, bridge_in) or NULL */
	const float *bridge_c_b;                       /* (dec_layers*D) or NULL */
	const float *tgt_emb;                          /* (V_tgt, E) */
	s2s__rnn_weights dec[S2S_MAX_LAYERS];
	const float *attn_general_w;                   /* (D, K) general */
	const float *attn_query_w;                     /* (A, D) additive */
	const float *attn_key_w;                       /* (A, K) additive */
	const float *attn_key_b;                       /* (A) additive */
	const float *attn_v;                           /* (A) additive */
	const float *attn_out_w;                       /* (D, K + D) luong */
	const float *attn_out_b;                       /* (D) luong with attn_out_bias, or NULL */
	const float *out_w;                            /* (V_tgt, D); == tgt_emb when tied */
	const float *out_b;                            /* (V_tgt) */
} s2s__weights;

struct s2s_model {
	atomic_int refs;
	char *path;
	s2s_checkpoint *ckpt;
	s2s_config cfg;
	s2s_vocab *src_vocab, *tgt_vocab;
	s2s_tokenizer *src_tok, *tgt_tok;
	s2s__weights w;
	float *widened; /* owned copies of F16/BF16 tensors (anon.h), or NULL */
	size_t widened_bytes;
	int64_t params;
	char sha256[65];
	s2s_decode_options decoding; /* seq2seqd.decoding, or the §7 defaults */
	unsigned decoding_set;       /* S2S_DEC_* bits the checkpoint set */
};

#endif
