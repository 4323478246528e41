/*
 * s2s_tokenizer.h - the checkpoint-configured tokenizer and detokenizer
 * (docs/checkpoint-format.md §5), byte-identical to
 * clients/python/s2s_ref/tokenizer.py.
 *
 * A tokenizer is immutable after s2s_tokenizer_new; any number of threads may
 * use it concurrently.
 */
#ifndef S2S_TOKENIZER_H
#define S2S_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "s2s_error.h"
#include "s2s_vocab.h"

typedef struct s2s_tokenizer s2s_tokenizer;

/* The result of tokenizing one sentence. Caller-owned; s2s_tokens_deinit frees. */
typedef struct {
	int n;           /* number of tokens */
	int32_t *ids;    /* (n) vocabulary ids, <unk> for unknown pieces */
	char **pieces;   /* (n) NUL-terminated token strings as produced (before vocab lookup) */
	int32_t *word;   /* (n) index of the whitespace-delimited word each token came from */
	int n_words;
} s2s_tokens;

/*
 * Parses the tokenizer JSON text (`seq2seqd.src_tokenizer`). `what` names the
 * key in errors. Caller owns *out; free with s2s_tokenizer_free.
 */
int s2s_tokenizer_new(const char *json_text, const char *what, s2s_tokenizer **out,
		      s2s_error *err);
void s2s_tokenizer_free(s2s_tokenizer *t); /* NULL is a no-op */

/*
 * Tokenizes `len` bytes of UTF-8 `text` and maps them through `v`.
 * Fails with S2S_EUTF8 on invalid UTF-8 (overlong forms, surrogates,
 * > U+10FFFF, truncated or stray bytes) and on a NUL character, which a
 * NUL-terminated piece could not hold. *out is initialised here and owned by
 * the caller afterwards (also on failure it is safe to deinit). BPE costs
 * O(n log n) in a piece's length, so no input length makes it quadratic;
 * SentencePiece O(n * longest piece). With append_eos the last token is
 * "</s>" (a word of its own, counted in n_words).
 */
int s2s_tokenize(const s2s_tokenizer *t, const s2s_vocab *v, const char *text, size_t len,
		 s2s_tokens *out, s2s_error *err);
void s2s_tokens_deinit(s2s_tokens *tok);

/* What s2s_tokenizer_max_token_bytes returns when a token can hold any number of bytes. */
#define S2S_TOKEN_BYTES_UNBOUNDED ((size_t)1 << 40)

/*
 * The most bytes of input one token can hold: 4 (one UTF-8 character) for a
 * char tokenizer, the longest merge result for BPE and subword_nmt, and
 * S2S_TOKEN_BYTES_UNBOUNDED for whitespace (a word) and sentencepiece (a run
 * of unknown characters). Whitespace makes no token and every other input
 * byte lands in at most one token, so a text with B non-whitespace bytes has
 * at least ceil(B / this) tokens: a bound callers use to refuse an over-long
 * input without tokenizing it. (max_tokens * this never overflows a size_t.)
 */
size_t s2s_tokenizer_max_token_bytes(const s2s_tokenizer *t);

/*
 * Whether the tokenizer appends "</s>" to every source (`append_eos`); the
 * model loader refuses it on the target side. Pure; any thread.
 */
bool s2s_tokenizer_appends_eos(const s2s_tokenizer *t);

/*
 * Joins `n` target token strings into text by the rule of t's type (docs
 * §5): tokens equal to <pad>, <s> or </s> are always skipped; char and bpe
 * (and t == NULL) concatenate, U+2581 -> space, one leading space dropped;
 * whitespace joins with single spaces; subword_nmt joins with spaces and
 * removes "SEP " and a final SEP; sentencepiece follows DecodePieces (also
 * dropping the model's control pieces). <unk> is kept as written (callers
 * may have replaced it by a source piece). Same result as the Python
 * tokenizers' detokenize. The tokens are borrowed. Returns a malloc'd string
 * the caller frees, or NULL on allocation failure.
 */
char *s2s_detokenize(const s2s_tokenizer *t, const char *const *tokens, int n);

/*
 * Length in bytes of the valid UTF-8 character at `s`, reading at most
 * `left` (>= 1) bytes; 0 when there is none (a stray or cut-short sequence,
 * an overlong form, a surrogate, beyond U+10FFFF). The one UTF-8 rule of the
 * tokenizer and of the API's error bodies. Pure; any thread.
 */
size_t s2s_utf8_char_len(const char *s, size_t left);

/*
 * 0 when `len` bytes of `text` are valid UTF-8 without a NUL character,
 * else S2S_EUTF8 naming the byte ("invalid UTF-8 at byte 7", "NUL character
 * at byte 3"): what s2s_tokenize accepts. Pure; any thread.
 */
int s2s_utf8_validate(const char *text, size_t len, s2s_error *err);

#endif
