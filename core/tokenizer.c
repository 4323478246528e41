/*
 * tokenizer.c - the tokenizer types of docs/checkpoint-format.md §5, byte-
 * identical to clients/python/s2s_ref/tokenizer.py (char, bpe, whitespace),
 * subword_nmt.py and spm.py: char, BPE, whitespace (with the PyTorch
 * tutorial's normalizeString, tok_tutorial.c), subword-nmt's apply_bpe, and
 * SentencePiece (tok_spm.c); append_eos for all of them.
 *
 * Only ASCII is lowercased and only ASCII whitespace splits words: both
 * sides then agree without sharing Unicode tables (the tutorial's rule has a
 * generated table, checked against Python's unicodedata). BPE and
 * subword-nmt on a piece of n symbols cost O(n log n) (see bpe_run), so even
 * a pathological 10 kB "word" takes well under a millisecond.
 */
#include "s2s_tokenizer.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "strmap.h"
#include "tok_spm.h"
#include "tok_tutorial.h"

#define WORD_MARK     "\xe2\x96\x81" /* U+2581 */
#define WORD_MARK_LEN 3
#define EOW           "</w>" /* subword-nmt's end-of-word mark */
#define EOW_LEN       4

typedef enum { TOK_CHAR, TOK_BPE, TOK_WHITESPACE, TOK_SUBWORD_NMT, TOK_SPM } tok_kind;

typedef enum { PRE_NONE, PRE_TUTORIAL, PRE_TUTORIAL_V1 } tok_preprocess;

struct s2s_tokenizer {
	tok_kind kind;
	bool lowercase;
	bool split_punct;
	bool append_eos;
	tok_preprocess preprocess; /* whitespace */
	int snmt_version;          /* subword_nmt: 1 (0.1) or 2 (0.2) */
	char *separator;           /* subword_nmt, owned */
	s2s__spm *spm;             /* sentencepiece, owned */
	int nmerges;
	char **merge_keys; /* (nmerges) "left\0right", owned: bpe merges, subword_nmt codes */
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
	free(t->separator);
	s2s__spm_free(t->spm);
	free(t);
}

static int parse_merge(s2s_tokenizer *t, json_t *m, int i, const char *what, s2s_error *err)
{
	json_t *l = json_array_get(m, 0), *r = json_array_get(m, 1);
	const char *key_name = t->kind == TOK_SUBWORD_NMT ? "codes" : "merges";
	if (!json_is_array(m) || json_array_size(m) != 2 || !json_is_string(l) ||
	    !json_is_string(r) || !json_string_length(l) || !json_string_length(r))
		return s2s__error_set(err, S2S_ETOKENIZER, "%s %s[%d] is not a [left, right] pair",
		                      what, key_name, i);
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
			return s2s__error_set(err, S2S_ETOKENIZER,
			                      "%s: a char tokenizer has no merges", what);
		return 0;
	}
	if (t->kind == TOK_SUBWORD_NMT && (!json_is_array(merges) || !json_array_size(merges)))
		return s2s__error_set(err, S2S_ETOKENIZER,
		                      "%s: subword_nmt needs a non-empty 'codes' array", what);
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
		return s2s__error_set(err, S2S_ETOKENIZER, "%s '%s' must be true or false", what,
		                      key);
	*out = v && json_is_true(v);
	return 0;
}

static const char *const type_names[] = {"char", "bpe", "whitespace", "subword_nmt",
                                         "sentencepiece"};

/* The keys each type accepts besides "type" and "append_eos". */
static const char *const type_keys[][5] = {
    [TOK_CHAR] = {"lowercase", "split_punct", "merges"},
    [TOK_BPE] = {"lowercase", "split_punct", "merges"},
    [TOK_WHITESPACE] = {"lowercase", "preprocess"},
    [TOK_SUBWORD_NMT] = {"codes", "version", "separator", "lowercase"},
    [TOK_SPM] = {"model_type", "pieces", "normalizer"},
};

static bool key_known(tok_kind kind, const char *k)
{
	if (!strcmp(k, "type") || !strcmp(k, "append_eos"))
		return true;
	for (int i = 0; i < 5 && type_keys[kind][i]; i++)
		if (!strcmp(k, type_keys[kind][i]))
			return true;
	return false;
}

static int parse_type(s2s_tokenizer *t, json_t *root, const char *what, s2s_error *err)
{
	const char *type = json_string_value(json_object_get(root, "type"));
	int kind = -1;
	for (int i = 0; type && i < 5; i++)
		if (!strcmp(type, type_names[i]))
			kind = i;
	if (kind < 0)
		return s2s__error_set(err, S2S_ETOKENIZER,
		                      "%s 'type' must be one of \"char\", \"bpe\", \"whitespace\", "
		                      "\"subword_nmt\", \"sentencepiece\"",
		                      what);
	t->kind = (tok_kind)kind;
	const char *k;
	json_t *v;
	json_object_foreach(root, k, v)
	{
		if (!key_known(t->kind, k))
			return s2s__error_set(err, S2S_ETOKENIZER, "%s has unknown key '%s'", what,
			                      k);
	}
	return 0;
}

static int parse_whitespace(s2s_tokenizer *t, json_t *root, const char *what, s2s_error *err)
{
	json_t *p = json_object_get(root, "preprocess");
	const char *pre = p ? json_string_value(p) : "none";
	if (pre && !strcmp(pre, "none"))
		t->preprocess = PRE_NONE;
	else if (pre && !strcmp(pre, "pytorch_tutorial"))
		t->preprocess = PRE_TUTORIAL;
	else if (pre && !strcmp(pre, "pytorch_tutorial_v1"))
		t->preprocess = PRE_TUTORIAL_V1;
	else
		return s2s__error_set(err, S2S_ETOKENIZER,
		                      "%s 'preprocess' must be one of \"none\", \"pytorch_tutorial\", "
		                      "\"pytorch_tutorial_v1\"",
		                      what);
	return 0;
}

static int parse_subword_nmt(s2s_tokenizer *t, json_t *root, const char *what, s2s_error *err)
{
	json_t *v = json_object_get(root, "version"), *sep = json_object_get(root, "separator");
	t->snmt_version = 2;
	if (v) {
		json_t *a = json_array_get(v, 0), *b = json_array_get(v, 1);
		if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_integer(a) ||
		    !json_is_integer(b) || json_integer_value(a) != 0 ||
		    (json_integer_value(b) != 1 && json_integer_value(b) != 2))
			return s2s__error_set(err, S2S_ETOKENIZER,
			                      "%s 'version' must be [0, 1] or [0, 2]", what);
		t->snmt_version = (int)json_integer_value(b);
	}
	if (sep && (!json_is_string(sep) || !json_string_length(sep) ||
	            strlen(json_string_value(sep)) != json_string_length(sep)))
		return s2s__error_set(err, S2S_ETOKENIZER,
		                      "%s 'separator' must be a non-empty string", what);
	t->separator = strdup(sep ? json_string_value(sep) : "@@");
	if (!t->separator)
		return s2s__error_set(err, S2S_ENOMEM, "out of memory");
	return parse_merges(t, json_object_get(root, "codes"), what, err);
}

static int parse_tokenizer(s2s_tokenizer *t, json_t *root, const char *what, s2s_error *err)
{
	int rc = parse_type(t, root, what, err);
	if (rc == 0 && t->kind != TOK_SPM)
		rc = parse_flag(root, "lowercase", &t->lowercase, what, err);
	if (rc == 0 && t->kind <= TOK_BPE)
		rc = parse_flag(root, "split_punct", &t->split_punct, what, err);
	if (rc == 0)
		rc = parse_flag(root, "append_eos", &t->append_eos, what, err);
	if (rc < 0)
		return rc;
	switch (t->kind) {
	case TOK_CHAR:
	case TOK_BPE:
		return parse_merges(t, json_object_get(root, "merges"), what, err);
	case TOK_WHITESPACE:
		return parse_whitespace(t, root, what, err);
	case TOK_SUBWORD_NMT:
		return parse_subword_nmt(t, root, what, err);
	case TOK_SPM:
		return s2s__spm_new(root, what, &t->spm, err);
	}
	return 0;
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
	int rc = t ? parse_tokenizer(t, root, what, err)
	           : s2s__error_set(err, S2S_ENOMEM, "out of memory");
	json_decref(root);
	if (rc < 0) {
		s2s_tokenizer_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

/* s2s_utf8_char_len on bytes (s2s_tokenizer.h has the contract). */
static size_t utf8_len(const unsigned char *s, size_t left)
{
	unsigned c = s[0];
	size_t n = c < 0x80             ? 1
	           : (c & 0xe0) == 0xc0 ? 2
	           : (c & 0xf0) == 0xe0 ? 3
	           : (c & 0xf8) == 0xf0 ? 4
	                                : 0;
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

size_t s2s_utf8_char_len(const char *s, size_t left)
{
	return utf8_len((const unsigned char *)s, left);
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

/*
 * BPE on one piece. The spec (§5) merges, pass after pass, every occurrence
 * of the best-ranked adjacent pair; done literally that is O(n^2) in the
 * piece length (160 ms on a 10 kB piece with 4000 merges). Instead the
 * symbols form a linked list and every adjacent pair that has a rank sits in
 * a min-heap on (rank, position). All heap entries of the lowest rank are
 * taken out together and applied left to right, which is exactly one pass of
 * the spec; the pairs the merges create go back into the heap afterwards (a
 * new pair can never have the rank being applied: it contains the merged,
 * longer symbol). Entries left stale by a merge are recognised by symbol
 * lengths, which only grow, and skipped. Total cost O(n log n).
 */

/* One symbol: bytes [start, start + len) of the piece buffer; len 0 once merged into its left. */
typedef struct {
	int32_t start, len, prev, next;
} bpe_sym;

/* "Merge symbol pos with its right neighbour", valid while both keep these lengths. */
typedef struct {
	int32_t rank, pos, llen, rlen;
} bpe_cand;

/* Scratch reused by every piece of one s2s_tokenize call. */
typedef struct {
	char *bytes;     /* (cap) the piece: word mark if any, then its text */
	bpe_sym *sym;    /* (cap) symbols; a piece of b bytes has at most b of them */
	bpe_cand *heap;  /* (3 * cap) min-heap: n - 1 initial pairs + 2 per merge */
	bpe_cand *batch; /* (3 * cap) the entries of the rank being applied */
	char *key;       /* (max_key + 1) "left\0right" for rank lookups */
	size_t cap;
	int nheap;
} bpe_work;

static void bpe_work_deinit(bpe_work *w)
{
	free(w->bytes);
	free(w->sym);
	free(w->heap);
	free(w->batch);
	free(w->key);
}

static int grow(void **p, size_t n, size_t size)
{
	void *q = realloc(*p, n * size);
	if (!q)
		return S2S_ENOMEM;
	*p = q;
	return 0;
}

/* Makes room for a piece of `nbytes` bytes (word mark included). */
static int bpe_work_reserve(const s2s_tokenizer *t, bpe_work *w, size_t nbytes)
{
	if (!w->key && !(w->key = malloc(t->max_key + 1)))
		return S2S_ENOMEM;
	if (nbytes <= w->cap)
		return 0;
	size_t cap = nbytes > 2 * w->cap ? nbytes : 2 * w->cap;
	if (grow((void **)&w->bytes, cap, 1) || grow((void **)&w->sym, cap, sizeof *w->sym) ||
	    grow((void **)&w->heap, 3 * cap, sizeof *w->heap) ||
	    grow((void **)&w->batch, 3 * cap, sizeof *w->batch))
		return S2S_ENOMEM;
	w->cap = cap;
	return 0;
}

static bool cand_less(const bpe_cand *a, const bpe_cand *b)
{
	return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(bpe_work *w, bpe_cand c)
{
	int i = w->nheap++;
	while (i > 0 && cand_less(&c, &w->heap[(i - 1) / 2])) {
		w->heap[i] = w->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	w->heap[i] = c;
}

static bpe_cand heap_pop(bpe_work *w)
{
	bpe_cand top = w->heap[0], last = w->heap[--w->nheap];
	int i = 0, n = w->nheap;
	for (;;) {
		int c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && cand_less(&w->heap[c + 1], &w->heap[c]))
			c++;
		if (!cand_less(&w->heap[c], &last))
			break;
		w->heap[i] = w->heap[c];
		i = c;
	}
	if (n > 0)
		w->heap[i] = last;
	return top;
}

/* Queues the pair (pos, its right neighbour) if the merge table ranks it. */
static void push_pair(const s2s_tokenizer *t, bpe_work *w, int32_t pos)
{
	if (pos < 0 || w->sym[pos].next < 0)
		return;
	const bpe_sym *a = &w->sym[pos], *b = &w->sym[a->next];
	size_t klen = (size_t)a->len + 1 + (size_t)b->len;
	if (klen > t->max_key)
		return; /* longer than any merge we hold */
	memcpy(w->key, w->bytes + a->start, (size_t)a->len);
	w->key[a->len] = '\0';
	memcpy(w->key + a->len + 1, w->bytes + b->start, (size_t)b->len);
	int32_t rank = s2s__strmap_get(&t->ranks, w->key, klen);
	if (rank >= 0)
		heap_push(w, (bpe_cand){rank, pos, a->len, b->len});
}

static bool cand_valid(const bpe_work *w, const bpe_cand *c)
{
	const bpe_sym *a = &w->sym[c->pos];
	return a->len == c->llen && a->next >= 0 && w->sym[a->next].len == c->rlen;
}

static void merge_at(const s2s_tokenizer *t, bpe_work *w, int32_t pos)
{
	bpe_sym *a = &w->sym[pos], *b = &w->sym[a->next];
	a->len += b->len;
	b->len = 0;
	a->next = b->next;
	if (a->next >= 0)
		w->sym[a->next].prev = pos;
	push_pair(t, w, a->prev);
	push_pair(t, w, pos);
}

/* Merges the w->sym[0..n) list until no ranked pair is left. */
static void bpe_run(const s2s_tokenizer *t, bpe_work *w, int32_t n)
{
	w->nheap = 0;
	for (int32_t i = 0; i + 1 < n; i++)
		push_pair(t, w, i);
	while (w->nheap > 0) {
		int nb = 0;
		int32_t rank = w->heap[0].rank;
		while (w->nheap > 0 && w->heap[0].rank == rank)
			w->batch[nb++] = heap_pop(w); /* in position order */
		for (int i = 0; i < nb; i++)
			if (cand_valid(w, &w->batch[i]))
				merge_at(t, w, w->batch[i].pos);
	}
}

/* BPE-encodes the piece [s, e) (after a word mark if starts_word) into l. */
static int bpe_piece(const s2s_tokenizer *t, bpe_work *w, sym_list *l, const char *s, const char *e,
                     bool starts_word, int32_t word)
{
	size_t nbytes = (size_t)(e - s) + (starts_word ? WORD_MARK_LEN : 0);
	if (bpe_work_reserve(t, w, nbytes) < 0)
		return S2S_ENOMEM;
	if (starts_word)
		memcpy(w->bytes, WORD_MARK, WORD_MARK_LEN);
	memcpy(w->bytes + (starts_word ? WORD_MARK_LEN : 0), s, (size_t)(e - s));
	int32_t n = 0;
	for (size_t at = 0; at < nbytes; n++) {
		int32_t len = (int32_t)utf8_len((const unsigned char *)w->bytes + at, nbytes - at);
		w->sym[n] = (bpe_sym){(int32_t)at, len, n - 1, -1};
		if (n > 0)
			w->sym[n - 1].next = n;
		at += (size_t)len;
	}
	bpe_run(t, w, n);
	int rc = 0;
	for (int32_t i = 0; rc == 0 && i >= 0; i = w->sym[i].next)
		rc = sym_push(l, w->bytes + w->sym[i].start, (size_t)w->sym[i].len, word);
	return rc;
}

/* Appends the tokens of one piece (bytes [s, e)). */
static int add_piece(const s2s_tokenizer *t, bpe_work *w, sym_list *l, const char *s, const char *e,
                     bool starts_word, int32_t word)
{
	if (t->kind == TOK_BPE)
		return bpe_piece(t, w, l, s, e, starts_word, word);
	int rc = starts_word ? sym_push(l, WORD_MARK, WORD_MARK_LEN, word) : 0;
	while (rc == 0 && s < e) {
		size_t n = utf8_len((const unsigned char *)s, (size_t)(e - s));
		rc = sym_push(l, s, n, word);
		s += n;
	}
	return rc;
}

/*
 * subword-nmt's apply_bpe on one word [s, e): a one-character word is left
 * alone; otherwise the symbols are its characters with "</w>" glued to the
 * last one (codes 0.2) or as a symbol of its own (0.1), merged like BPE, the
 * end mark removed again, and every piece but the last suffixed with the
 * separator.
 */
static int snmt_word(const s2s_tokenizer *t, bpe_work *w, sym_list *l, const char *s,
                     const char *e, int32_t word)
{
	size_t len = (size_t)(e - s), first = utf8_len((const unsigned char *)s, len);
	if (first == len)
		return sym_push(l, s, len, word);
	if (bpe_work_reserve(t, w, len + EOW_LEN) < 0)
		return S2S_ENOMEM;
	memcpy(w->bytes, s, len);
	memcpy(w->bytes + len, EOW, EOW_LEN);
	int32_t n = 0;
	for (size_t at = 0; at < len; n++) {
		int32_t cl = (int32_t)utf8_len((const unsigned char *)w->bytes + at, len - at);
		w->sym[n] = (bpe_sym){(int32_t)at, cl, n - 1, -1};
		if (n > 0)
			w->sym[n - 1].next = n;
		at += (size_t)cl;
	}
	if (t->snmt_version == 2) {
		w->sym[n - 1].len += EOW_LEN;
	} else {
		w->sym[n] = (bpe_sym){(int32_t)len, EOW_LEN, n - 1, -1};
		w->sym[n - 1].next = n;
		n++;
	}
	bpe_run(t, w, n);
	int32_t last = 0;
	for (int32_t i = 0; i >= 0; i = w->sym[i].next)
		last = i;
	w->sym[last].len -= EOW_LEN; /* the mark always ends the last symbol */
	size_t seplen = strlen(t->separator);
	char *tmp = malloc(len + seplen + 1);
	int rc = tmp ? 0 : S2S_ENOMEM;
	for (int32_t i = 0; rc == 0 && i >= 0; i = w->sym[i].next) {
		bpe_sym *y = &w->sym[i];
		if (y->len == 0) /* the 0.1 mark on its own */
			continue;
		memcpy(tmp, w->bytes + y->start, (size_t)y->len);
		bool final = i == last || (w->sym[y->next].len == 0 && y->next == last);
		if (!final)
			memcpy(tmp + y->len, t->separator, seplen);
		rc = sym_push(l, tmp, (size_t)y->len + (final ? 0 : seplen), word);
	}
	free(tmp);
	return rc;
}

static int add_word(const s2s_tokenizer *t, bpe_work *w, sym_list *l, const char *s, const char *e,
                    int32_t word)
{
	if (t->kind == TOK_WHITESPACE)
		return sym_push(l, s, (size_t)(e - s), word);
	if (t->kind == TOK_SUBWORD_NMT)
		return snmt_word(t, w, l, s, e, word);
	bool first = true;
	while (s < e) {
		const char *p = s;
		if (t->split_punct && is_punct((unsigned char)*p))
			p++;
		else
			while (p < e && !(t->split_punct && is_punct((unsigned char)*p)))
				p++;
		int rc = add_piece(t, w, l, s, p, first, word);
		if (rc < 0)
			return rc;
		first = false;
		s = p;
	}
	return 0;
}

/*
 * Pieces are NUL-terminated C strings, so a NUL byte (valid UTF-8, but
 * never produced by a JSON API) is refused rather than silently truncating
 * a token; the Python twin refuses it too.
 */
int s2s_utf8_validate(const char *text, size_t len, s2s_error *err)
{
	for (size_t i = 0; i < len;) {
		size_t n = utf8_len((const unsigned char *)text + i, len - i);
		if (n == 0)
			return s2s__error_set(err, S2S_EUTF8, "invalid UTF-8 at byte %zu", i);
		if (text[i] == '\0')
			return s2s__error_set(err, S2S_EUTF8, "NUL character at byte %zu", i);
		i += n;
	}
	return 0;
}

static int split_words(const s2s_tokenizer *t, const char *s, size_t len, sym_list *l, int *nwords)
{
	const char *end = s + len;
	bpe_work w = {0};
	int rc = 0;
	*nwords = 0;
	while (rc == 0 && s < end) {
		while (s < end && is_space((unsigned char)*s))
			s++;
		const char *start = s;
		while (s < end && !is_space((unsigned char)*s))
			s++;
		if (s > start)
			rc = add_word(t, &w, l, start, s, (*nwords)++);
	}
	bpe_work_deinit(&w);
	return rc;
}

/* Collects SentencePiece's pieces; a piece opening with U+2581 or a space starts a word. */
typedef struct {
	sym_list *l;
	int32_t word;
} spm_ctx;

static int spm_piece(void *ctx, const char *piece, size_t len)
{
	spm_ctx *c = ctx;
	if (c->l->n > 0 && ((len >= WORD_MARK_LEN && !memcmp(piece, WORD_MARK, WORD_MARK_LEN)) ||
	                    piece[0] == ' '))
		c->word++;
	return sym_push(c->l, piece, len, c->word);
}

/* The pieces of `len` bytes of validated text into l; *nwords counts their words. */
static int tokenize_text(const s2s_tokenizer *t, const char *text, size_t len, sym_list *l,
                         int *nwords)
{
	if (t->kind == TOK_SPM) {
		spm_ctx c = {l, 0};
		int rc = s2s__spm_encode(t->spm, text, len, spm_piece, &c);
		*nwords = l->n ? c.word + 1 : 0;
		return rc;
	}
	char *buf = malloc(len + 1);
	if (!buf)
		return S2S_ENOMEM;
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)(t->lowercase && text[i] >= 'A' && text[i] <= 'Z' ? text[i] + 32
		                                                                 : text[i]);
	buf[len] = '\0';
	if (t->preprocess != PRE_NONE) {
		char *norm = s2s__tutorial_normalize(buf, len, t->preprocess == PRE_TUTORIAL_V1);
		free(buf);
		if (!(buf = norm))
			return S2S_ENOMEM;
		len = strlen(buf);
	}
	int rc = split_words(t, buf, len, l, nwords);
	free(buf);
	return rc;
}

int s2s_tokenize(const s2s_tokenizer *t, const s2s_vocab *v, const char *text, size_t len,
                 s2s_tokens *out, s2s_error *err)
{
	memset(out, 0, sizeof *out);
	int rc = s2s_utf8_validate(text, len, err);
	if (rc < 0)
		return rc;
	sym_list l = {0};
	rc = tokenize_text(t, text, len, &l, &out->n_words);
	if (rc == 0 && t->append_eos) /* </s> is a word of its own: its own attention column */
		rc = sym_push(&l, "</s>", 4, out->n_words++);
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

size_t s2s_tokenizer_max_token_bytes(const s2s_tokenizer *t)
{
	if (t->kind == TOK_WHITESPACE || t->kind == TOK_SPM)
		return S2S_TOKEN_BYTES_UNBOUNDED; /* a word, a run of unknown characters */
	/* a merge key is "left\0right": the merged token has max_key - 1 bytes */
	size_t merged = t->kind != TOK_CHAR && t->max_key > 1 ? t->max_key - 1 : 0;
	return merged > 4 ? merged : 4;
}

bool s2s_tokenizer_appends_eos(const s2s_tokenizer *t)
{
	return t->append_eos;
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

static bool is_dropped_special(const char *s)
{
	return strcmp(s, "<pad>") == 0 || strcmp(s, "<s>") == 0 || strcmp(s, "</s>") == 0;
}

/* subword_nmt: joined by spaces, then "SEP " removed and one final SEP (Python's str.replace). */
static char *detok_join(const s2s_tokenizer *t, const char *const *tokens, int n)
{
	size_t len = 1;
	for (int i = 0; i < n; i++)
		len += strlen(tokens[i]) + 1;
	char *out = malloc(len), *w = out;
	if (!out)
		return NULL;
	for (int i = 0; i < n; i++) {
		if (is_dropped_special(tokens[i]))
			continue;
		if (w > out)
			*w++ = ' ';
		size_t k = strlen(tokens[i]);
		memcpy(w, tokens[i], k);
		w += k;
	}
	*w = '\0';
	if (t->kind != TOK_SUBWORD_NMT)
		return out;
	size_t sl = strlen(t->separator);
	char *r = out, *o = out;
	while (*r) {
		if (!strncmp(r, t->separator, sl) && r[sl] == ' ') {
			r += sl + 1;
			continue;
		}
		*o++ = *r++;
	}
	*o = '\0';
	if ((size_t)(o - out) >= sl && !strcmp(o - sl, t->separator))
		o[-(ptrdiff_t)sl] = '\0';
	return out;
}

char *s2s_detokenize(const s2s_tokenizer *t, const char *const *tokens, int n)
{
	if (t && (t->kind == TOK_WHITESPACE || t->kind == TOK_SUBWORD_NMT))
		return detok_join(t, tokens, n);
	if (t && t->kind == TOK_SPM)
		return s2s__spm_detokenize(t->spm, tokens, n);

	size_t len = 0;
	for (int i = 0; i < n; i++)
		len += strlen(tokens[i]);
	char *out = malloc(len + 1), *w = out;
	if (!out)
		return NULL;
	for (int i = 0; i < n; i++) {
		if (is_dropped_special(tokens[i]))
			continue;
		for (const char *s = tokens[i]; *s;) {
			bool mark = strncmp(s, WORD_MARK, WORD_MARK_LEN) == 0;
			*w++ = mark ? ' ' : *s;
			s += mark ? WORD_MARK_LEN : 1;
		}
	}
	*w = '\0';
	if (out[0] == ' ') /* one leading space, whether from a mark or written as such */
		memmove(out, out + 1, (size_t)(w - out));
	return out;
}
