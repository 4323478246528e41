/*
 * tok_tutorial.c - the PyTorch tutorial's normalizeString in C:
 *   s.lower().strip(), NFD, drop category Mn, re.sub(r"([.!?])", r" \1"),
 *   re.sub(r"[^a-zA-Z!?]+", " "), strip().
 * The Unicode part is one lookup per code point in tutorial_table.c (why that
 * equals doing it on the whole string: scripts/gen_tutorial_table.py). The
 * table gives, per code point, the characters of [a-zA-Z.!?] it leaves, with
 * everything else written as a space; the two regular expressions and the
 * strips then only see ASCII.
 */
#include "tok_tutorial.h"

#include <stdlib.h>

/* The table's string for code point cp: " " unless a range lists it. */
static const char *lookup(uint32_t cp)
{
	int lo = 0, hi = s2s__tutorial_nranges - 1;
	while (lo <= hi) {
		int mid = (lo + hi) / 2;
		const s2s__tutorial_range *r = &s2s__tutorial_ranges[mid];
		if (cp < r->lo)
			hi = mid - 1;
		else if (cp > r->hi)
			lo = mid + 1;
		else
			return s2s__tutorial_values[r->v];
	}
	return " ";
}

static uint32_t decode(const unsigned char *s, size_t *n)
{
	unsigned c = s[0];
	*n = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
	uint32_t cp = *n == 1 ? c : *n == 2 ? c & 0x1f : *n == 3 ? c & 0x0f : c & 0x07;
	for (size_t i = 1; i < *n; i++)
		cp = (cp << 6) | (s[i] & 0x3f);
	return cp;
}

static bool is_letter(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

char *s2s__tutorial_normalize(const char *s, size_t len, bool keep_period)
{
	/* Each input byte yields at most one table character (the longest value
	 * is one byte per source byte or less: checked by the generator's test)
	 * plus one inserted space before punctuation. */
	char *out = malloc(2 * len + 2), *w = out;
	if (!out)
		return NULL;
	bool gap = false; /* a run of non-kept characters is pending */
	for (size_t i = 0; i < len;) {
		size_t n;
		uint32_t cp = decode((const unsigned char *)s + i, &n);
		i += n;
		for (const char *v = lookup(cp); *v; v++) {
			char c = *v;
			bool kept = is_letter(c) || c == '!' || c == '?' || (keep_period && c == '.');
			if (c == '.' || c == '!' || c == '?')
				gap = true; /* re.sub(r"([.!?])", r" \1"): a space before it */
			if (!kept) {
				gap = true;
				continue;
			}
			if (gap && w > out) /* strip(): no space at the start */
				*w++ = ' ';
			gap = false;
			*w++ = c;
		}
	}
	*w = '\0'; /* a pending gap at the end is the final strip() */
	return out;
}
