/*
 * tokenizer.c - char and BPE tokenization (docs/checkpoint-format.md §5),
 * byte-identical to clients/python/s2s_ref/tokenizer.py.
 *
 * Only ASCII is lowercased and only ASCII whitespace splits words: both
 * sides then agree without sharing Unicode tables. BPE on one piece costs
 * O(n^2) hash lookups in the piece's length n; callers bound input length.
 */
#include "s2s_tokenizer.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "strmap.h"

#define WORD_MARK "\xe2\x96\x81" /* U+2581 */
#define WORD_MARK_LEN 3

typedef enum { TOK_CHAR, TOK_BPE } tok_kind;

struct s2s_tokenizer {
	tok_kind kind;
	bool lowercase;
	bool split_punct;
	int nmerges;
	char **merge_keys; /* (nmerges) "left\0right", owned */
	size_t max_key;    /* longest merge key, bytes */
	s2s__strmap ranks; /* merge key -> rank */
};

/* A growable list of owned token strings with their word indices. */
typedef struct {
	char **s;
	int32_t *word;
	int n, cap;
} sym_list;

void s2s_tokenizer_free(s2s_tokenizer *t)
{
	if (!t)
		return;
	for (int i = 0; i < t->nmerges; i++)
		free(t->merge_keys[i]);
	free(t->merge_keys);
	s2s__strmap_deinit(&t->ranks);
	free(t);
}

static int parse_merge(s2s_tokenizer *t, json_t *m, int i, const char *what, s2s_error *err)
{
	json_t *l = json_array_get(m, 0), *r = json_array_get(m, 1);
	if (!json_is_array(m) || json_array_size(m) != 2 || !json_is_string(l) || !json_is_string(r) ||
	    !json_string_length(l) || !json_string_length(r))
		return s2s__error_set(err, S2S_ETOKENIZER, "%s merges[%d] is not a [left, right] pair",
				      what, i);
	size_t ll = json_string_length(l), rl = json_string_length(r);
	char *key = malloc(ll + rl + 2); /* "left\0right\0": both halves are C strings */
	if (!key)
		return s2s__error_set(err, S2S_ENOMEM, "out of memory");
	memcpy(key, json_string_value(l), ll);
	key[ll] = '\0';
	memcpy(key + ll + 1, json_string_value(r), rl);
	key[ll + 1 + rl] = '\0';
	t->merge_keys[t->nmerges++] = key;
	if (ll + 1 + rl > t->max_key)
		t->max_key = ll + 1 + rl;
	s2s__strmap_put(&t->ranks, key, ll + 1 + rl, i); /* a repeated merge keeps its first rank */
	return 0;
}

static int parse_merges(s2s_tokenizer *t, json_t *merges, const char *what, s2s_error *err)
{
	if (t->kind == TOK_CHAR) {
		if (merges && (!json_is_array(merges) || json_array_size(merges) > 0))
			return s2s__error_set(err, S2S_ETOKENIZER, "%s: a char tokenizer has no merges", what);
		return 0;
	}
	if (!json_is_array(merges))
		return s2s__error_set(err, S2S_ETOKENIZER, "%s: bpe needs a 'merges' array", what);
	size_t n = json_array_size(merges);
	t->merge_keys = calloc(n + 1, sizeof *t->merge_keys);
	if (!t->merge_keys || s2s__strmap_init(&t->ranks, n) < 0)
		return s2s__error_set(err, S2S_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		int rc = parse_merge(t, json_array_get(merges, i), (int)i, what, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int parse_flag(json_t *root, const char *key, bool *out, const char *what, s2s_error *err)
{
	json_t *v = json_object_get(root, key);
	if (v && !json_is_boolean(v))
		return s2s__error_set(err, S2S_ETOKENIZER, "%s '%s' must be true or false", what, key);
	*out = v && json_is_true(v);
	return 0;
}

static int parse_tokenizer(s2s_tokenizer *t, json_t *root, const char *what, s2s_error *err)
{
	const char *k;
	json_t *v;
	json_object_foreach(root, k, v)
	{
		if (strcmp(k, "type") && strcmp(k, "lowercase") && strcmp(k, "split_punct") &&
		    strcmp(k, "merges"))
			return s2s__error_set(err, S2S_ETOKENIZER, "%s has unknown key '%s'", what, k);
	}
	const char *type = json_string_value(json_object_get(root, "type"));
	if (!type || (strcmp(type, "char") && strcmp(type, "bpe")))
		return s2s__error_set(err, S2S_ETOKENIZER, "%s 'type' must be \"char\" or \"bpe\"", what);
	t->kind = strcmp(type, "bpe") == 0 ? TOK_BPE : TOK_CHAR;
	int rc = parse_flag(root, "lowercase", &t->lowercase, what, err);
	if (rc == 0)
		rc = parse_flag(root, "split_punct", &t->split_punct, what, err);
	if (rc == 0)
		rc = parse_merges(t, json_object_get(root, "merges"), what, err);
	return rc;
}

int s2s_tokenizer_new(const char *json_text, const char *what, s2s_tokenizer **out, s2s_error *err)
{
	*out = NULL;
	json_error_t jerr;
	json_t *root = json_loads(json_text ? json_text : "", JSON_REJECT_DUPLICATES, &jerr);
	if (!root || !json_is_object(root)) {
		json_decref(root);
		return s2s__error_set(err, S2S_ETOKENIZER, "%s is not a JSON object", what);
	}
	s2s_tokenizer *t = calloc(1, sizeof *t);
	int rc = t ? parse_tokenizer(t, root, what, err) : s2s__error_set(err, S2S_ENOMEM, "out of memory");
	json_decref(root);
	if (rc < 0) {
		s2s_tokenizer_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

/* Length of the valid UTF-8 sequence at s (at most `left` bytes), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t left)
{
	unsigned c = s[0];
	size_t n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
	if (n == 0 || n > left)
		return 0;
	unsigned cp = n == 1 ? c : n == 2 ? c & 0x1f : n == 3 ? c & 0x0f : c & 0x07;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	static const unsigned min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
	if (cp < min_cp[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0; /* overlong, out of range, or a surrogate */
	return n;
}

static bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static bool is_punct(unsigned char c)
{
	return c < 0x80 && strchr("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", c) && c != '\0';
}

static int sym_push(sym_list *l, const char *s, size_t len, int32_t word)
{
	if (l->n == l->cap) {
		int cap = l->cap ? 2 * l->cap : 32;
		char **ns = realloc(l->s, (size_t)cap * sizeof *ns);
		if (ns)
			l->s = ns;
		int32_t *nw = realloc(l->word, (size_t)cap * sizeof *nw);
		if (nw)
			l->word = nw;
		if (!ns || !nw)
			return S2S_ENOMEM;
		l->cap = cap;
	}
	char *c = malloc(len + 1);
	if (!c)
		return S2S_ENOMEM;
	memcpy(c, s, len);
	c[len] = '\0';
	l->s[l->n] = c;
	l->word[l->n++] = word;
	return 0;
}

/* Rank of merging symbols a and b, or -1. */
static int32_t pair_rank(const s2s_tokenizer *t, const char *a, const char *b, char *buf, size_t cap)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la + lb + 1 > cap)
		return -1; /* longer than any merge key we hold */
	memcpy(buf, a, la);
	buf[la] = '\0';
	memcpy(buf + la + 1, b, lb);
	return s2s__strmap_get(&t->ranks, buf, la + 1 + lb);
}

/* Merges every occurrence of the pair at the best rank in l->s[from..], left to right. */
static int bpe_merge_once(const s2s_tokenizer *t, sym_list *l, int from, char *buf, size_t cap)
{
	int32_t best = -1;
	for (int i = from; i + 1 < l->n; i++) {
		int32_t r = pair_rank(t, l->s[i], l->s[i + 1], buf, cap);
		if (r >= 0 && (best < 0 || r < best))
			best = r;
	}
	if (best < 0)
		return 0;
	const char *key = t->merge_keys[best];
	const char *left = key, *right = key + strlen(key) + 1;
	int w = from;
	for (int i = from; i < l->n; i++) {
		if (i + 1 < l->n && strcmp(l->s[i], left) == 0 && strcmp(l->s[i + 1], right) == 0) {
			size_t la = strlen(l->s[i]), lb = strlen(l->s[i + 1]);
			char *m = realloc(l->s[i], la + lb + 1);
			if (!m)
				return S2S_ENOMEM;
			memcpy(m + la, l->s[i + 1], lb + 1);
			free(l->s[i + 1]);
			l->s[w++] = m;
			i++;
		} else {
			l->s[w++] = l->s[i];
		}
	}
	l->n = w;
	return 1;
}

static int bpe_piece(const s2s_tokenizer *t, sym_list *l, int from)
{
	char *buf = malloc(t->max_key + 1);
	if (!buf)
		return S2S_ENOMEM;
	int rc;
	while ((rc = bpe_merge_once(t, l, from, buf, t->max_key + 1)) == 1)
		;
	free(buf);
	return rc;
}

/* Appends the symbols of one piece (bytes [s, e)) and applies BPE to them. */
static int add_piece(const s2s_tokenizer *t, sym_list *l, const char *s, const char *e,
		     bool starts_word, int32_t word)
{
	int from = l->n, rc = 0;
	if (starts_word)
		rc = sym_push(l, WORD_MARK, WORD_MARK_LEN, word);
	while (rc == 0 && s < e) {
		size_t n = utf8_len((const unsigned char *)s, (size_t)(e - s));
		rc = sym_push(l, s, n, word);
		s += n;
	}
	if (rc == 0 && t->kind == TOK_BPE)
		rc = bpe_piece(t, l, from);
	return rc;
}

static int add_word(const s2s_tokenizer *t, sym_list *l, const char *s, const char *e, int32_t word)
{
	bool first = true;
	while (s < e) {
		const char *p = s;
		if (t->split_punct && is_punct((unsigned char)*p))
			p++;
		else
			while (p < e && !(t->split_punct && is_punct((unsigned char)*p)))
				p++;
		int rc = add_piece(t, l, s, p, first, word);
		if (rc < 0)
			return rc;
		first = false;
		s = p;
	}
	return 0;
}

static int validate_utf8(const char *text, size_t len, s2s_error *err)
{
	for (size_t i = 0; i < len;) {
		size_t n = utf8_len((const unsigned char *)text + i, len - i);
		if (n == 0)
			return s2s__error_set(err, S2S_EUTF8, "invalid UTF-8 at byte %zu", i);
		i += n;
	}
	return 0;
}

static int split_words(const s2s_tokenizer *t, const char *s, size_t len, sym_list *l, int *nwords)
{
	const char *end = s + len;
	*nwords = 0;
	while (s < end) {
		while (s < end && is_space((unsigned char)*s))
			s++;
		const char *w = s;
		while (s < end && !is_space((unsigned char)*s))
			s++;
		if (s > w) {
			int rc = add_word(t, l, w, s, *nwords);
			if (rc < 0)
				return rc;
			(*nwords)++;
		}
	}
	return 0;
}

int s2s_tokenize(const s2s_tokenizer *t, const s2s_vocab *v, const char *text, size_t len,
		 s2s_tokens *out, s2s_error *err)
{
	memset(out, 0, sizeof *out);
	int rc = validate_utf8(text, len, err);
	if (rc < 0)
		return rc;
	char *buf = malloc(len + 1);
	if (!buf)
		return s2s__error_set(err, S2S_ENOMEM, "out of memory");
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)(t->lowercase && text[i] >= 'A' && text[i] <= 'Z' ? text[i] + 32 : text[i]);
	sym_list l = {0};
	rc = split_words(t, buf, len, &l, &out->n_words);
	free(buf);
	out->pieces = l.s;
	out->word = l.word;
	out->n = l.n;
	if (rc == 0 && l.n > 0 && !(out->ids = malloc((size_t)l.n * sizeof *out->ids)))
		rc = S2S_ENOMEM;
	for (int i = 0; rc == 0 && i < l.n; i++)
		out->ids[i] = s2s_vocab_lookup(v, l.s[i], strlen(l.s[i]));
	if (rc < 0)
		return s2s__error_set(err, rc, "out of memory while tokenizing");
	return 0;
}

void s2s_tokens_deinit(s2s_tokens *tok)
{
	if (!tok)
		return;
	for (int i = 0; i < tok->n; i++)
		free(tok->pieces[i]);
	free(tok->pieces);
	free(tok->ids);
	free(tok->word);
	memset(tok, 0, sizeof *tok);
}

char *s2s_detokenize(const s2s_tokenizer *t, const char *const *tokens, int n)
{
	(void)t;
	size_t len = 0;
	for (int i = 0; i < n; i++)
		len += strlen(tokens[i]);
	char *out = malloc(len + 1), *w = out;
	if (!out)
		return NULL;
	bool leading = true; /* only the very first output character may be a dropped space */
	for (int i = 0; i < n; i++) {
		for (const char *s = tokens[i]; *s; leading = false) {
			if (strncmp(s, WORD_MARK, WORD_MARK_LEN) == 0) {
				if (!leading)
					*w++ = ' ';
				s += WORD_MARK_LEN;
			} else {
				*w++ = *s++;
			}
		}
	}
	*w = '\0';
	return out;
}
