/*
 * tok_tutorial.h - internal: the PyTorch tutorial's normalizeString
 * (preprocess "pytorch_tutorial" / "pytorch_tutorial_v1" of a whitespace
 * tokenizer, docs/checkpoint-format.md §5), byte-identical to
 * s2s_ref.tokenizer.tutorial_normalize. Pure functions; any thread.
 */
#ifndef S2S_TOK_TUTORIAL_H
#define S2S_TOK_TUTORIAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Code points [lo, hi] keep s2s__tutorial_values[v] (generated table). */
typedef struct {
	uint32_t lo, hi;
	uint16_t v;
} s2s__tutorial_range;

extern const char *const s2s__tutorial_values[];
extern const s2s__tutorial_range s2s__tutorial_ranges[];
extern const int s2s__tutorial_nranges;
extern const char s2s__tutorial_unidata[]; /* the Unicode version of the table */

/*
 * Normalizes `len` bytes of valid UTF-8 `s` (the caller validated it) into a
 * malloc'd NUL-terminated ASCII string the caller frees; NULL when out of
 * memory. keep_period selects the older rule ([^a-zA-Z.!?]+ instead of
 * [^a-zA-Z!?]+). The output is at most 2 * len + 1 bytes.
 */
char *s2s__tutorial_normalize(const char *s, size_t len, bool keep_period);

#endif
