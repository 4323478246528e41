/*
 * ckpt_builder.h - writes checkpoint bytes for the loader's tests.
 *
 * Two levels:
 *   - ckb_raw: a hand-written header plus a zero data section, for tests of
 *     the container (checkpoint.c) where the header itself is the subject;
 *   - ckb: the full tensor table of docs/checkpoint-format.md §4 for a
 *     config, plus every required metadata key, which a test edits (drop a
 *     tensor, change a shape or dtype, replace a key) and then serialises.
 *
 * The §4 table here is transcribed from the spec independently of
 * core/model.c, so a mismatch between the two shows up as a failed happy path.
 * Test-only code: allocation failures abort.
 */
#ifndef S2S_CKPT_BUILDER_H
#define S2S_CKPT_BUILDER_H

#include <stddef.h>
#include <stdint.h>

#include "s2s_config.h"

#define CKB_MAX_TENSORS 160
#define CKB_MAX_META    16

typedef struct {
	char name[64];
	const char *dtype; /* "F32", "F16", "BF16" or anything a test wants to try */
	int rank;
	int64_t shape[4];
} ckb_tensor;

typedef struct {
	ckb_tensor t[CKB_MAX_TENSORS];
	int n;
	char *meta_key[CKB_MAX_META]; /* owned */
	char *meta_val[CKB_MAX_META]; /* owned */
	int nmeta;
} ckb;

/* A small valid config: lstm, bidirectional, linear bridge, additive luong + input feed. */
s2s_config ckb_tiny_config(void);

/* Fills b with the §4 tensors of c (all F32) and all required metadata. */
void ckb_init(ckb *b, const s2s_config *c);
void ckb_deinit(ckb *b);

ckb_tensor *ckb_find(ckb *b, const char *name); /* NULL when absent */
void ckb_remove(ckb *b, const char *name);      /* aborts when absent */
/* Appends a tensor; d1 == 0 makes it rank 1. */
ckb_tensor *ckb_add(ckb *b, const char *name, const char *dtype, int64_t d0, int64_t d1);
void ckb_set_dtype_all(ckb *b, const char *dtype);
/* Sets, replaces or (value NULL) removes a metadata key. */
void ckb_set_meta(ckb *b, const char *key, const char *value);

/* The value element i of the j-th tensor holds; exact in F32, F16 and BF16. */
float ckb_value(int j, int64_t i);
/* Sum of the element counts of all tensors in b. */
int64_t ckb_numel(const ckb *b);

/* Serialises b; caller frees. Tensors are laid out in table order, aligned. */
unsigned char *ckb_bytes(const ckb *b, size_t *len);
/* 8-byte length + header padded with spaces to a multiple of 8 + data_len zero bytes. */
unsigned char *ckb_raw(const char *header, size_t data_len, size_t *len);

/* JSON texts for metadata; caller frees. */
char *ckb_config_json(const s2s_config *c);
char *ckb_vocab_json(int n);

/* Writes bytes to a fresh temporary file; path (>= 64 bytes) receives its name. */
void ckb_write_tmp(const void *bytes, size_t len, char *path);

#endif
