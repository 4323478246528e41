/*
 * s2s_vocab.h - a token vocabulary: id <-> string, ids 0..3 are the specials.
 *
 * A vocabulary is immutable after s2s_vocab_new; any number of threads may
 * read it concurrently.
 */
#ifndef S2S_VOCAB_H
#define S2S_VOCAB_H

#include <stddef.h>
#include <stdint.h>

#include "s2s_error.h"

enum { S2S_PAD = 0, S2S_UNK = 1, S2S_BOS = 2, S2S_EOS = 3 };

typedef struct s2s_vocab s2s_vocab;

/*
 * Builds a vocabulary from the JSON array text of `seq2seqd.src_vocab` /
 * `seq2seqd.tgt_vocab`. Checks: array of non-empty unique strings, at least
 * 5 entries, ids 0..3 = <pad> <unk> <s> </s>. `what` ("src_vocab") names the
 * key in error messages. The caller owns *out and frees it with
 * s2s_vocab_free.
 */
int s2s_vocab_new(const char *json_text, const char *what, s2s_vocab **out, s2s_error *err);
void s2s_vocab_free(s2s_vocab *v); /* NULL is a no-op */

int s2s_vocab_size(const s2s_vocab *v);
/* Borrowed string valid as long as v; NULL when id is out of range. */
const char *s2s_vocab_token(const s2s_vocab *v, int32_t id);
/* Id of the token of `len` bytes at `s`, or S2S_UNK when absent. */
int32_t s2s_vocab_lookup(const s2s_vocab *v, const char *s, size_t len);

#endif
