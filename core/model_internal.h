/*
 * model_internal.h - the inside of s2s_model, shared by the loader
 * (model.c) and the inference code (encoder.c, attention.c, decoder.c).
 * Not installed, not for the daemon.
 *
 * Matrices are packed once at load (wmat.h) into one read-only anonymous
 * buffer, in the checkpoint's own element type (or int8 when asked);
 * vectors (biases, v) are F32 copies in a second one. Both are immutable,
 * finite, never backed by the file, and live as long as the model. Shapes
 * are written as (rows, cols).
 */
#ifndef S2S_MODEL_INTERNAL_H
#define S2S_MODEL_INTERNAL_H

#include <stdatomic.h>

#include "s2s_checkpoint.h"
#include "s2s_decode.h"
#include "s2s_model.h"
#include "s2s_spans.h"
#include "wmat.h"

/* One direction of one layer of a PyTorch RNN/GRU/LSTM. */
typedef struct {
	s2s__wmat w_ih;     /* (G*hid, in) */
	s2s__wmat w_hh;     /* (G*hid, hid) */
	const float *b_ih; /* (G*hid) */
	const float *b_hh; /* (G*hid) */
	int in;
	int hid;
} s2s__rnn_weights;

typedef struct {
	s2s__wmat src_emb;                           /* (V_src, E) */
	s2s__rnn_weights enc[S2S_MAX_LAYERS][2];       /* [layer][0 fwd, 1 bwd] */
	s2s__wmat bridge_w;                          /* (dec_layers*D, bridge_in), when used */
	const float *bridge_b;                         /* (dec_layers*D) or NULL */
	s2s__wmat bridge_c_w;                        /* (dec_layers*D, bridge_in), when used */
	const float *bridge_c_b;                       /* (dec_layers*D) or NULL */
	s2s__wmat tgt_emb;                           /* (V_tgt, E) */
	s2s__rnn_weights dec[S2S_MAX_LAYERS];
	s2s__wmat attn_general_w;                    /* (D, K) general */
	s2s__wmat attn_query_w;                      /* (A, D) additive */
	s2s__wmat attn_key_w;                        /* (A, K) additive */
	const float *attn_key_b;                       /* (A) additive */
	const float *attn_v;                           /* (A) additive */
	s2s__wmat attn_out_w;                        /* (D, K + D) luong */
	const float *attn_out_b;                       /* (D) luong with attn_out_bias, or NULL */
	s2s__wmat out_w;                             /* (V_tgt, D); == tgt_emb when tied */
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
	void *packed; /* the matrices' storage (anon.h), or NULL */
	size_t packed_bytes;
	float *vectors; /* F32 copies of the vectors (anon.h), or NULL */
	size_t vectors_bytes;
	s2s_quantize quantize;
	const char *weight_type; /* s2s_model_weight_type */
	int64_t params;
	char sha256[65];
	s2s_decode_options decoding; /* seq2seqd.decoding, or the §7 defaults */
	unsigned decoding_set;       /* S2S_DEC_* bits the checkpoint set */
	s2s_sentinels sentinels;     /* <phk>, <tk>, </tk> in both vocabularies (s2s_spans.h) */
};

#endif
