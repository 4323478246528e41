/*
 * s2s_config.h - the model architecture, as stored in a checkpoint's
 * `seq2seqd.config` metadata (docs/checkpoint-format.md §3).
 *
 * Thread safety: pure functions on caller-owned structs.
 */
#ifndef S2S_CONFIG_H
#define S2S_CONFIG_H

#include <stdbool.h>

#include "s2s_error.h"

#define S2S_MAX_LAYERS 8
#define S2S_MAX_DIM 4096

typedef enum { S2S_CELL_RNN_TANH, S2S_CELL_RNN_RELU, S2S_CELL_GRU, S2S_CELL_LSTM } s2s_cell_kind;
typedef enum { S2S_BRIDGE_ZEROS, S2S_BRIDGE_LAST, S2S_BRIDGE_LINEAR } s2s_bridge_kind;
typedef enum { S2S_ATTN_NONE, S2S_ATTN_DOT, S2S_ATTN_GENERAL, S2S_ATTN_ADDITIVE } s2s_attn_kind;
typedef enum { S2S_PLACE_BAHDANAU, S2S_PLACE_LUONG } s2s_attn_placement;
/* Activations of the optional keys; the first of each is the default (0). */
typedef enum { S2S_ACT_TANH, S2S_ACT_NONE, S2S_ACT_RELU } s2s_activation;
typedef enum { S2S_BRIDGE_IN_TOP, S2S_BRIDGE_IN_ALL } s2s_bridge_input;
typedef enum {
	S2S_BRIDGE_CELL_ZEROS,
	S2S_BRIDGE_CELL_HIDDEN,
	S2S_BRIDGE_CELL_LINEAR
} s2s_bridge_cell;

typedef struct {
	s2s_cell_kind cell;
	int emb_dim;    /* E */
	int enc_hidden; /* H, per direction */
	int enc_layers;
	bool bidirectional;
	bool reverse_source;
	int dec_hidden; /* D */
	int dec_layers;
	s2s_bridge_kind bridge;
	s2s_attn_kind attention;
	s2s_attn_placement placement;
	int attn_dim; /* A, additive only (0 otherwise) */
	bool input_feed;
	bool tie_embeddings;
	int src_vocab_size;
	int tgt_vocab_size;
	/* Optional keys (absent = the zero value, today's behaviour). */
	bool attn_out_bias;                 /* luong: decoder.attention_out.bias */
	s2s_activation attn_out_activation; /* luong: tanh or none (never relu) */
	s2s_bridge_input bridge_input;      /* linear bridge reads the top layer or all */
	s2s_activation bridge_activation;   /* linear bridge */
	s2s_bridge_cell bridge_cell;        /* LSTM start cell of the linear bridge */
} s2s_config;

/*
 * Parses and validates the JSON text of `seq2seqd.config` into *out.
 * Every problem is reported with the key name (S2S_ECONFIG).
 */
int s2s_config_parse(const char *json_text, s2s_config *out, s2s_error *err);

/* Derived sizes. */
int s2s_config_gates(const s2s_config *c);        /* G: 4 lstm, 3 gru, 1 rnn */
int s2s_config_enc_out(const s2s_config *c);      /* K = H * directions */
int s2s_config_dec_input(const s2s_config *c);    /* in_0 of the decoder RNN */
int s2s_config_bridge_in(const s2s_config *c);    /* linear bridge input: K or enc_layers*K */

/* Static names ("lstm", "additive", ...), for APIs and logs. */
const char *s2s_cell_name(s2s_cell_kind k);
const char *s2s_bridge_name(s2s_bridge_kind k);
const char *s2s_attn_name(s2s_attn_kind k);
const char *s2s_placement_name(s2s_attn_placement k);
const char *s2s_activation_name(s2s_activation k);
const char *s2s_bridge_input_name(s2s_bridge_input k);
const char *s2s_bridge_cell_name(s2s_bridge_cell k);

#endif
