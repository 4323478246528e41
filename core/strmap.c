/* strmap.c - FNV-1a hashed, linearly probed string -> int map. */
#include "strmap.h"

#include <stdlib.h>
#include <string.h>

#include "s2s_error.h"

static uint64_t hash(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
	return h;
}

int s2s__strmap_init(s2s__strmap *m, size_t n)
{
	size_t cap = 16;
	while (cap < 2 * n + 1)
		cap <<= 1; /* load factor <= 1/2 keeps probes short */
	m->slots = calloc(cap, sizeof *m->slots);
	m->cap = m->slots ? cap : 0;
	return m->slots ? 0 : S2S_ENOMEM;
}

void s2s__strmap_deinit(s2s__strmap *m)
{
	free(m->slots);
	m->slots = NULL;
	m->cap = 0;
}

static s2s__strmap_slot *probe(const s2s__strmap *m, const char *key, size_t len)
{
	size_t i = (size_t)hash(key, len) & (m->cap - 1);
	for (;; i = (i + 1) & (m->cap - 1)) {
		s2s__strmap_slot *s = &m->slots[i];
		if (!s->key || (s->len == len && memcmp(s->key, key, len) == 0))
			return s;
	}
}

int32_t s2s__strmap_put(s2s__strmap *m, const char *key, size_t len, int32_t value)
{
	s2s__strmap_slot *s = probe(m, key, len);
	if (s->key)
		return s->value;
	s->key = key;
	s->len = len;
	s->value = value;
	return -1;
}

int32_t s2s__strmap_get(const s2s__strmap *m, const char *key, size_t len)
{
	if (!m->cap)
		return -1;
	s2s__strmap_slot *s = probe(m, key, len);
	return s->key ? s->value : -1;
}
