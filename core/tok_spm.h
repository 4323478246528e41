/*
 * tok_spm.h - internal: type "sentencepiece" (docs/checkpoint-format.md §5),
 * SentencePiece's EncodeAsPieces for unigram and BPE models, byte-identical
 * to clients/python/s2s_ref/spm.py. Immutable after s2s__spm_new: any number
 * of threads may encode with one model.
 */
#ifndef S2S_TOK_SPM_H
#define S2S_TOK_SPM_H

#include <jansson.h>
#include <stddef.h>

#include "s2s_error.h"

typedef struct s2s__spm s2s__spm;

/* Receives each output piece (borrowed bytes, not NUL-terminated); 0 or S2S_ENOMEM. */
typedef int (*s2s__spm_piece_fn)(void *ctx, const char *piece, size_t len);

/* Validates and builds from the tokenizer object `root` (borrowed); errors name `what`'s keys. */
int s2s__spm_new(json_t *root, const char *what, s2s__spm **out, s2s_error *err);
void s2s__spm_free(s2s__spm *m); /* NULL is a no-op */

/* Encodes `len` bytes of valid UTF-8 (no NUL), calling `fn` per piece in order. 0 or S2S_ENOMEM. */
int s2s__spm_encode(const s2s__spm *m, const char *text, size_t len, s2s__spm_piece_fn fn,
		    void *ctx);

/* DecodePieces for text pieces (spm.py SentencePieceTokenizer.detokenize); malloc'd or NULL. */
char *s2s__spm_detokenize(const s2s__spm *m, const char *const *tokens, int n);

#endif
