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
 * A model is a private in-memory copy of the checkpoint file, the parsed
 * config, both vocabularies and tokenizers, and weight pointers into that
 * copy (F16/BF16 widened once). Nothing is backed by the file, so it may be
 * rewritten or truncated while the model serves.
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
