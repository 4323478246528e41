/*
 * strmap.h - internal: an immutable-after-build hash map from byte strings
 * to int, for vocabulary lookup and BPE merge ranks. Open addressing with
 * linear probing; keys are borrowed (they must outlive the map).
 */
#ifndef S2S_STRMAP_H
#define S2S_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
	const char *key;
	size_t len;
	int32_t value;
} s2s__strmap_slot;

typedef struct {
	s2s__strmap_slot *slots;
	size_t cap; /* power of two */
} s2s__strmap;

/* Sizes the table for `n` keys. Returns 0 or S2S_ENOMEM. */
int s2s__strmap_init(s2s__strmap *m, size_t n);
void s2s__strmap_deinit(s2s__strmap *m);
/* Inserts key -> value unless present; returns the existing value or -1 if newly inserted. */
int32_t s2s__strmap_put(s2s__strmap *m, const char *key, size_t len, int32_t value);
/* Value for key, or -1. */
int32_t s2s__strmap_get(const s2s__strmap *m, const char *key, size_t len);

#endif
