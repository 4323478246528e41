/*
 * s2s_model.h - a loaded, immutable, reference-counted translation model.
 *
 *   s2s_model *m;
 *   s2s_error err = {0};
 *   if (s2s_model_open("en-fr.safetensors", &m, &err) < 0)
 *           fprintf(stderr, "%s\n", err.message);
 *   ... share m between threads, s2s_model_ref() per holder ...
 *   s2s_model_unref(m);
 *
 * A model is the parsed config, both vocabularies and tokenizers, and its
 * weights packed once at load from a private in-memory copy of the file
 * (matrices in their own F32/F16/BF16 type, or int8 on request; the copy
 * is freed after). Nothing is backed by the file, so it may be rewritten
 * or truncated while the model serves.
 * Nothing in it changes after open, so any number of threads may translate
 * with it at once; each holder keeps a reference, and the last unref frees
 * it. This is what lets a reload swap models while in-flight work finishes
 * on the old one.
 */
#ifndef S2S_MODEL_H
#define S2S_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "s2s_config.h"
#include "s2s_error.h"
#include "s2s_tokenizer.h"
#include "s2s_vocab.h"

typedef struct s2s_model s2s_model;

/*
 * Opens and fully validates the checkpoint at `path` (container, config,
 * every tensor name and shape, vocabularies, tokenizers, every weight
 * finite). On success *out
 * holds one reference owned by the caller.
 */
int s2s_model_open(const char *path, s2s_model **out, s2s_error *err);

/* How the weights are held in memory (docs/inference.md, "Weights"). */
typedef enum {
	S2S_QUANTIZE_NONE = 0, /* the checkpoint's own type (F32, F16, BF16), used in place */
	S2S_QUANTIZE_INT8,     /* int8 with one scale per row: opt-in, changes the output */
} s2s_quantize;

typedef struct {
	s2s_quantize quantize;
} s2s_load_options;

/* s2s_model_open with options; o == NULL is all defaults (zero-initialised). */
int s2s_model_open_with(const char *path, const s2s_load_options *o, s2s_model **out,
                        s2s_error *err);
/* Parses "none" / "int8" (the config and CLI spelling); -1 if unknown. */
int s2s_quantize_parse(const char *s, s2s_quantize *out);
/*
 * How the weight matrices are held: "f32", "f16", "bf16" (the checkpoint's
 * own type; "mixed" if its tensors differ) or "int8". Static string.
 */
const char *s2s_model_weight_type(const s2s_model *m);
/*
 * The products' kernels this process runs: "avx2" (AVX2 + FMA + F16C) or
 * "generic" (other CPUs, or S2S_KERNELS=generic). Static string.
 */
const char *s2s_kernels_isa(void);

/* Takes another reference; returns m. Thread-safe (atomic). */
s2s_model *s2s_model_ref(s2s_model *m);
/* Drops a reference; the last one frees the model. NULL is a no-op. Thread-safe. */
void s2s_model_unref(s2s_model *m);

/* Borrowed views, valid while the caller holds a reference. */
const s2s_config *s2s_model_config(const s2s_model *m);
const s2s_vocab *s2s_model_src_vocab(const s2s_model *m);
const s2s_vocab *s2s_model_tgt_vocab(const s2s_model *m);
const s2s_tokenizer *s2s_model_src_tokenizer(const s2s_model *m);
const s2s_tokenizer *s2s_model_tgt_tokenizer(const s2s_model *m);
/* Metadata string (e.g. "seq2seqd.name", "seq2seqd.examples") or NULL. */
const char *s2s_model_meta(const s2s_model *m, const char *key);
/* Number of scalar parameters (tied weights counted once). */
int64_t s2s_model_param_count(const s2s_model *m);
/* Lower-case hex SHA-256 of the checkpoint file (64 chars + NUL). */
const char *s2s_model_sha256(const s2s_model *m);
/* Path the model was opened from. */
const char *s2s_model_path(const s2s_model *m);

#endif
