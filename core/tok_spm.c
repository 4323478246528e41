/*
 * tok_spm.c - SentencePiece unigram and BPE encoding (tok_spm.h), the twin of
 * clients/python/s2s_ref/spm.py; its module comment lists the rules.
 *
 * The pieces live in a byte trie whose edges sit in one hash table keyed by
 * (node, byte), so matching every piece that starts at a position costs one
 * probe per byte of the longest match: Viterbi is O(n * longest piece), BPE
 * O(n log n) with a heap. The charsmap is SentencePiece's own Darts-clone
 * double array, read in place with every index checked.
 */
#include "tok_spm.h"

#include <float.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SPACE     "\xe2\x96\x81" /* U+2581 */
#define SPACE_LEN 3
#define MAX_TRIE_RESULTS 32 /* SentencePiece's normalizer reads the first 32 matches */

enum { K_NORMAL, K_UNKNOWN, K_CONTROL, K_USER, K_UNUSED };
static const char *const kind_names[] = {"normal", "unknown", "control", "user_defined", "unused"};

typedef struct {
	uint64_t key; /* (node << 8 | byte) + 1; 0 = empty slot */
	int32_t child;
} edge;

struct s2s__spm {
	bool bpe, dummy_prefix, remove_ws, escape_ws;
	int npieces, unk_id;
	char **piece;    /* (npieces) NUL-terminated, owned */
	float *score;    /* (npieces) */
	uint8_t *kind;   /* (npieces) K_* */
	int32_t *node_id; /* (nnodes) piece id ending at the node, or -1 */
	int nnodes, cap_nodes;
	edge *edges;     /* (edge_cap) open addressing */
	size_t edge_cap;
	float min_score, max_score, unk_score;
	bool has_user;
	uint32_t *units; /* (nunits) the charsmap's double array, host order; NULL = none */
	size_t nunits;
	char *strings;   /* (nstrings) replacement strings, each NUL-terminated */
	size_t nstrings;
};

void s2s__spm_free(s2s__spm *m)
{
	if (!m)
		return;
	for (int i = 0; i < m->npieces; i++)
		free(m->piece[i]);
	free(m->piece);
	free(m->score);
	free(m->kind);
	free(m->node_id);
	free(m->edges);
	free(m->units);
	free(m->strings);
	free(m);
}

/* ---- the piece trie ---------------------------------------------------- */

static size_t edge_slot(const s2s__spm *m, uint64_t key)
{
	uint64_t h = key * 0x9E3779B97F4A7C15ull;
	size_t i = (size_t)(h >> 17) & (m->edge_cap - 1);
	while (m->edges[i].key && m->edges[i].key != key)
		i = (i + 1) & (m->edge_cap - 1);
	return i;
}

static int32_t trie_child(const s2s__spm *m, int32_t node, unsigned char c)
{
	size_t i = edge_slot(m, (((uint64_t)node << 8) | c) + 1);
	return m->edges[i].key ? m->edges[i].child : -1;
}

static int trie_insert(s2s__spm *m, const char *s, int32_t id)
{
	int32_t node = 0;
	for (; *s; s++) {
		uint64_t key = (((uint64_t)node << 8) | (unsigned char)*s) + 1;
		size_t i = edge_slot(m, key);
		if (!m->edges[i].key) {
			/* edge_cap was sized for every byte of every piece: never full */
			m->edges[i].key = key;
			m->edges[i].child = m->nnodes;
			m->node_id[m->nnodes++] = -1;
		}
		node = m->edges[i].child;
	}
	if (m->node_id[node] >= 0)
		return -1;
	m->node_id[node] = id;
	return 0;
}

/* Id of the piece spelled by bytes [s, s + len) in the trie, or -1. */
static int32_t trie_find(const s2s__spm *m, const char *s, size_t len)
{
	int32_t node = 0;
	for (size_t i = 0; i < len && node >= 0; i++)
		node = trie_child(m, node, (unsigned char)s[i]);
	return node >= 0 ? m->node_id[node] : -1;
}

/* Length of the longest user-defined piece that s[0, left) starts with, or 0. */
static size_t user_prefix(const s2s__spm *m, const char *s, size_t left)
{
	size_t best = 0;
	int32_t node = 0;
	for (size_t i = 0; i < left && m->has_user; i++) {
		if ((node = trie_child(m, node, (unsigned char)s[i])) < 0)
			break;
		int32_t id = m->node_id[node];
		if (id >= 0 && m->kind[id] == K_USER)
			best = i + 1;
	}
	return best;
}

/* ---- loading ----------------------------------------------------------- */

static int fail(s2s_error *err, const char *fmt, const char *what, const char *a)
{
	return s2s__error_set(err, S2S_ETOKENIZER, fmt, what, a);
}

static int b64val(unsigned char c)
{
	return c >= 'A' && c <= 'Z'   ? c - 'A'
	       : c >= 'a' && c <= 'z' ? c - 'a' + 26
	       : c >= '0' && c <= '9' ? c - '0' + 52
	       : c == '+'             ? 62
	       : c == '/'             ? 63
	                              : -1;
}

/* Strict base64 (padding required). Returns the byte count or -1; out holds len/4*3. */
static long b64decode(const char *s, size_t len, unsigned char *out)
{
	if (len % 4)
		return -1;
	size_t o = 0;
	for (size_t i = 0; i < len; i += 4) {
		int v[4], pad = 0;
		for (int k = 0; k < 4; k++) {
			if (s[i + k] == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pad++;
			} else if (pad || (v[k] = b64val((unsigned char)s[i + k])) < 0) {
				return -1;
			}
		}
		uint32_t x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
		out[o++] = (unsigned char)(x >> 16);
		if (pad < 2)
			out[o++] = (unsigned char)(x >> 8);
		if (pad < 1)
			out[o++] = (unsigned char)x;
	}
	return (long)o;
}

static int charsmap_error(s2s_error *err, const char *what, const char *why)
{
	return fail(err, "%s normalizer 'precompiled_charsmap' cannot be parsed: %s", what, why);
}

/* <uint32 LE trie bytes><trie><strings ending in NUL>; "" means no charsmap. */
static int parse_charsmap(s2s__spm *m, const char *b64, const char *what, s2s_error *err)
{
	size_t len = strlen(b64);
	if (len == 0)
		return 0;
	unsigned char *blob = malloc(len / 4 * 3 + 1);
	if (!blob)
		return s2s__error_set(err, S2S_ENOMEM, "out of memory");
	long n = b64decode(b64, len, blob);
	int rc = 0;
	uint32_t size = n > 4 ? (uint32_t)blob[0] | (uint32_t)blob[1] << 8 |
	                            (uint32_t)blob[2] << 16 | (uint32_t)blob[3] << 24
	                      : 0;
	char sizemsg[96];
	if (n < 0) {
		rc = charsmap_error(err, what, "not base64");
	} else if (n <= 4) {
		rc = charsmap_error(err, what, "the blob is shorter than its header");
	} else if (size >= (size_t)n || size % 4 || size == 0) {
		snprintf(sizemsg, sizeof sizemsg, "the trie size %u does not fit the %ld-byte blob",
		         size, n);
		rc = charsmap_error(err, what, sizemsg);
	} else if (blob[n - 1] != '\0') {
		rc = charsmap_error(err, what, "the replacement strings do not end with a NUL byte");
	} else {
		m->nunits = size / 4;
		m->nstrings = (size_t)n - 4 - size;
		m->units = malloc(size);
		m->strings = malloc(m->nstrings);
		if (!m->units || !m->strings) {
			rc = s2s__error_set(err, S2S_ENOMEM, "out of memory");
		} else {
			for (size_t i = 0; i < m->nunits; i++) {
				const unsigned char *u = blob + 4 + 4 * i;
				m->units[i] = (uint32_t)u[0] | (uint32_t)u[1] << 8 |
				              (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
			}
			memcpy(m->strings, blob + 4 + size, m->nstrings);
		}
	}
	free(blob);
	return rc;
}

static int parse_normalizer(s2s__spm *m, json_t *norm, const char *what, s2s_error *err)
{
	if (!json_is_object(norm))
		return fail(err, "%s 'normalizer' must be an object%s", what, "");
	const char *k;
	json_t *v;
	json_object_foreach(norm, k, v)
	{
		if (strcmp(k, "name") && strcmp(k, "precompiled_charsmap") &&
		    strcmp(k, "add_dummy_prefix") && strcmp(k, "remove_extra_whitespaces") &&
		    strcmp(k, "escape_whitespaces"))
			return fail(err, "%s normalizer has unknown key '%s'", what, k);
	}
	json_t *name = json_object_get(norm, "name");
	if (name && !json_is_string(name))
		return fail(err, "%s normalizer 'name' must be a string%s", what, "");
	if (!json_is_string(json_object_get(norm, "precompiled_charsmap")))
		return fail(err, "%s normalizer 'precompiled_charsmap' must be a base64 string%s", what,
		            "");
	static const char *const flags[] = {"add_dummy_prefix", "remove_extra_whitespaces",
	                                    "escape_whitespaces"};
	bool *dst[] = {&m->dummy_prefix, &m->remove_ws, &m->escape_ws};
	for (int i = 0; i < 3; i++) {
		json_t *f = json_object_get(norm, flags[i]);
		if (!json_is_boolean(f))
			return fail(err, "%s normalizer '%s' must be true or false", what, flags[i]);
		*dst[i] = json_is_true(f);
	}
	return parse_charsmap(m, json_string_value(json_object_get(norm, "precompiled_charsmap")),
	                      what, err);
}

static int kind_of(const char *s)
{
	for (int k = 0; k < 5; k++)
		if (!strcmp(s, kind_names[k]))
			return k;
	return -1;
}

/* Checks pieces[i] and stores it; duplicates are found by trie_insert / the caller. */
static int parse_piece(s2s__spm *m, json_t *p, int i, const char *what, s2s_error *err)
{
	char msg[96];
	json_t *s = json_array_get(p, 0), *sc = json_array_get(p, 1), *k = json_array_get(p, 2);
	snprintf(msg, sizeof msg, "pieces[%d]", i);
	if (!json_is_array(p) || json_array_size(p) != 3 || !json_is_string(s) ||
	    !json_string_length(s) || !json_is_number(sc) || !json_is_string(k))
		return fail(err, "%s %s is not a [piece, score, kind] triple", what, msg);
	if (strlen(json_string_value(s)) != json_string_length(s))
		return fail(err, "%s %s holds a NUL character", what, msg);
	int kind = kind_of(json_string_value(k));
	if (kind < 0)
		return s2s__error_set(err, S2S_ETOKENIZER, "%s %s has unsupported kind '%s'", what,
		                      msg, json_string_value(k));
	if (kind == K_UNUSED && m->bpe)
		return fail(err, "%s %s: unused pieces are not supported in bpe models", what, msg);
	double d = json_number_value(sc);
	if (!(d >= -3.4e38 && d <= 3.4e38))
		return fail(err, "%s %s has a score that is not a finite float", what, msg);
	m->piece[i] = strdup(json_string_value(s));
	if (!m->piece[i])
		return s2s__error_set(err, S2S_ENOMEM, "out of memory");
	m->npieces = i + 1;
	m->score[i] = (float)d;
	m->kind[i] = (uint8_t)kind;
	return 0;
}

static int alloc_pieces(s2s__spm *m, json_t *pieces, s2s_error *err)
{
	size_t n = json_array_size(pieces), bytes = 1;
	for (size_t i = 0; i < n; i++)
		bytes += json_string_length(json_array_get(json_array_get(pieces, i), 0));
	m->edge_cap = 16;
	while (m->edge_cap < 2 * bytes)
		m->edge_cap *= 2;
	m->piece = calloc(n, sizeof *m->piece);
	m->score = calloc(n, sizeof *m->score);
	m->kind = calloc(n, sizeof *m->kind);
	m->node_id = malloc((bytes + 1) * sizeof *m->node_id);
	m->edges = calloc(m->edge_cap, sizeof *m->edges);
	if (!m->piece || !m->score || !m->kind || !m->node_id || !m->edges)
		return s2s__error_set(err, S2S_ENOMEM, "out of memory");
	m->node_id[0] = -1;
	m->nnodes = 1;
	return 0;
}

/* Pieces must be unique across kinds too (SentencePiece's two maps; stricter, simpler). */
static int parse_pieces(s2s__spm *m, json_t *pieces, const char *what, s2s_error *err)
{
	if (!json_is_array(pieces) || json_array_size(pieces) == 0)
		return fail(err, "%s: sentencepiece needs a non-empty 'pieces' array%s", what, "");
	if (json_array_size(pieces) > INT32_MAX / 2)
		return fail(err, "%s: too many pieces%s", what, "");
	int rc = alloc_pieces(m, pieces, err), nunk = 0;
	m->min_score = FLT_MAX;
	m->max_score = FLT_MIN;
	m->unk_id = -1;
	for (int i = 0; rc == 0 && i < (int)json_array_size(pieces); i++) {
		if ((rc = parse_piece(m, json_array_get(pieces, (size_t)i), i, what, err)) < 0)
			break;
		if (trie_insert(m, m->piece[i], i) < 0)
			return s2s__error_set(err, S2S_ETOKENIZER, "%s pieces[%d] '%s' is defined twice",
			                      what, i, m->piece[i]);
		int k = m->kind[i];
		nunk += k == K_UNKNOWN;
		m->unk_id = k == K_UNKNOWN ? i : m->unk_id;
		m->has_user |= k == K_USER;
		if (k == K_NORMAL) {
			m->min_score = m->score[i] < m->min_score ? m->score[i] : m->min_score;
			m->max_score = m->score[i] > m->max_score ? m->score[i] : m->max_score;
		}
	}
	if (rc == 0 && nunk != 1)
		return s2s__error_set(err, S2S_ETOKENIZER,
		                      "%s: 'pieces' must hold exactly one \"unknown\" piece, not %d",
		                      what, nunk);
	m->unk_score = m->min_score - 10.0f;
	return rc;
}

int s2s__spm_new(json_t *root, const char *what, s2s__spm **out, s2s_error *err)
{
	*out = NULL;
	const char *mt = json_string_value(json_object_get(root, "model_type"));
	if (!mt || (strcmp(mt, "unigram") && strcmp(mt, "bpe")))
		return fail(err, "%s 'model_type' must be \"unigram\" or \"bpe\"%s", what, "");
	s2s__spm *m = calloc(1, sizeof *m);
	if (!m)
		return s2s__error_set(err, S2S_ENOMEM, "out of memory");
	m->bpe = strcmp(mt, "bpe") == 0;
	int rc = parse_pieces(m, json_object_get(root, "pieces"), what, err);
	if (rc == 0)
		rc = parse_normalizer(m, json_object_get(root, "normalizer"), what, err);
	if (rc < 0) {
		s2s__spm_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

/* ---- normalizer -------------------------------------------------------- */

static uint32_t unit_offset(uint32_t u)
{
	return (u >> 10) << ((u & (1u << 9)) >> 6);
}

/*
 * Longest charsmap rule at s[0, left) among the first MAX_TRIE_RESULTS
 * matches (Darts-clone commonPrefixSearch). Returns its length and sets
 * *rep, or 0.
 */
static size_t charsmap_match(const s2s__spm *m, const char *s, size_t left, const char **rep)
{
	if (!m->units)
		return 0;
	size_t best = 0, nres = 0;
	uint32_t pos = unit_offset(m->units[0]);
	for (size_t i = 0; i < left; i++) {
		unsigned char c = (unsigned char)s[i];
		pos ^= c;
		if (pos >= m->nunits)
			break;
		uint32_t u = m->units[pos];
		if ((u & ((1u << 31) | 0xFF)) != c)
			break;
		pos ^= unit_offset(u);
		if ((u >> 8) & 1) {
			if (pos >= m->nunits)
				break;
			uint32_t value = m->units[pos] & ((1u << 31) - 1);
			if (value < m->nstrings && nres++ < MAX_TRIE_RESULTS) {
				best = i + 1;
				*rep = m->strings + value;
			}
		}
	}
	return best;
}

static size_t char_len(unsigned char c)
{
	return c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
}

/* NormalizePrefix: the replacement (rep, rlen) of the bytes at s it consumes (returned). */
static size_t norm_prefix(const s2s__spm *m, const char *s, size_t left, const char **rep,
                          size_t *rlen)
{
	size_t n = user_prefix(m, s, left);
	if (n) {
		*rep = s;
		*rlen = n;
		return n;
	}
	if ((n = charsmap_match(m, s, left, rep)) > 0) {
		*rlen = strlen(*rep);
		return n;
	}
	n = char_len((unsigned char)*s);
	*rep = s;
	*rlen = n < left ? n : left;
	return *rlen;
}

typedef struct {
	char *b;
	size_t n, cap;
} buf;

static int buf_add(buf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		size_t cap = 2 * (b->n + n + 1);
		char *nb = realloc(b->b, cap);
		if (!nb)
			return S2S_ENOMEM;
		b->b = nb;
		b->cap = cap;
	}
	memcpy(b->b + b->n, s, n);
	b->n += n;
	return 0;
}

/* Normalizer::Normalize into *out (bytes; may stay empty). */
static int normalize(const s2s__spm *m, const char *s, size_t len, buf *out)
{
	const char *space = m->escape_ws ? SPACE : " ", *rep;
	size_t slen = m->escape_ws ? SPACE_LEN : 1, rlen, i = 0;
	while (m->remove_ws && i < len) {
		size_t n = norm_prefix(m, s + i, len - i, &rep, &rlen);
		if (rlen != 1 || rep[0] != ' ')
			break;
		i += n;
	}
	if (i == len)
		return 0;
	int rc = m->dummy_prefix ? buf_add(out, space, slen) : 0;
	bool prev_space = m->remove_ws;
	while (rc == 0 && i < len) {
		i += norm_prefix(m, s + i, len - i, &rep, &rlen);
		while (prev_space && rlen && rep[0] == ' ') {
			rep++;
			rlen--;
		}
		for (size_t k = 0; rc == 0 && k < rlen; k++)
			rc = rep[k] == ' ' ? buf_add(out, space, slen) : buf_add(out, rep + k, 1);
		if (rlen)
			prev_space = rep[rlen - 1] == ' ';
		if (!m->remove_ws)
			prev_space = false;
	}
	while (rc == 0 && m->remove_ws && out->n >= slen && !memcmp(out->b + out->n - slen, space, slen))
		out->n -= slen;
	return rc;
}

/* ---- models ------------------------------------------------------------ */

/* One output piece: bytes [start, start + len) of the normalized text. */
typedef struct {
	int32_t start, len, id;
} span;

/* Viterbi (SentencePiece's EncodeOptimized); spans filled right to left, returns count. */
static int unigram(const s2s__spm *m, const char *s, int32_t size, span *res, float *best,
                   int32_t *from, int32_t *ids)
{
	for (int32_t i = 0; i <= size; i++) {
		best[i] = 0;
		from[i] = -1;
	}
	for (int32_t st = 0; st < size;) {
		float here = best[st];
		int32_t mblen = (int32_t)char_len((unsigned char)s[st]);
		mblen = mblen < size - st ? mblen : size - st;
		bool single = false;
		int32_t node = 0;
		for (int32_t end = st + 1; end <= size; end++) {
			if ((node = trie_child(m, node, (unsigned char)s[end - 1])) < 0)
				break;
			int32_t id = m->node_id[node];
			if (id < 0 || m->kind[id] == K_UNUSED || m->kind[id] == K_UNKNOWN ||
			    m->kind[id] == K_CONTROL)
				continue;
			int32_t length = end - st;
			double score = m->kind[id] == K_USER
			                   ? (double)((float)length * m->max_score) - 0.1
			                   : (double)m->score[id];
			double cand = score + (double)here;
			if (from[end] == -1 || cand > (double)best[end]) {
				best[end] = (float)cand;
				from[end] = st;
				ids[end] = id;
			}
			single |= length == mblen;
		}
		if (!single) {
			float cand = m->unk_score + here;
			if (from[st + mblen] == -1 || cand > best[st + mblen]) {
				best[st + mblen] = cand;
				from[st + mblen] = st;
				ids[st + mblen] = m->unk_id;
			}
		}
		st += mblen;
	}
	int n = 0;
	for (int32_t end = size; end > 0; end = from[end])
		res[n++] = (span){from[end], end - from[end], ids[end]};
	for (int i = 0; i < n / 2; i++) {
		span t = res[i];
		res[i] = res[n - 1 - i];
		res[n - 1 - i] = t;
	}
	return n;
}

typedef struct {
	float score;
	int32_t left, right, size;
} pair;

static bool pair_before(const pair *a, const pair *b)
{
	return a->score > b->score || (a->score == b->score && a->left < b->left);
}

typedef struct {
	int32_t start, len, prev, next;
	bool freeze;
} bsym;

static void pair_push(pair *h, int *n, pair p)
{
	int i = (*n)++;
	while (i > 0 && pair_before(&p, &h[(i - 1) / 2])) {
		h[i] = h[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h[i] = p;
}

static pair pair_pop(pair *h, int *n)
{
	pair top = h[0], last = h[--*n];
	int i = 0;
	for (;;) {
		int c = 2 * i + 1;
		if (c >= *n)
			break;
		if (c + 1 < *n && pair_before(&h[c + 1], &h[c]))
			c++;
		if (!pair_before(&h[c], &last))
			break;
		h[i] = h[c];
		i = c;
	}
	if (*n > 0)
		h[i] = last;
	return top;
}

static void bpe_maybe_add(const s2s__spm *m, const char *s, bsym *sy, pair *h, int *nh, int32_t l,
                          int32_t r)
{
	if (l < 0 || r < 0 || sy[l].freeze || sy[r].freeze)
		return;
	int32_t size = sy[l].len + sy[r].len;
	int32_t id = trie_find(m, s + sy[l].start, (size_t)size);
	if (id < 0 || m->kind[id] == K_UNKNOWN || m->kind[id] == K_CONTROL)
		return;
	pair_push(h, nh, (pair){m->score[id], l, r, size});
}

/* SentencePiece's BPE encode; the symbols of s[0, size) merged best score first. */
static int bpe(const s2s__spm *m, const char *s, int32_t size, span *res, bsym *sy, pair *h)
{
	int32_t n = 0;
	for (int32_t i = 0; i < size; n++) {
		int32_t len = (int32_t)user_prefix(m, s + i, (size_t)(size - i));
		bool freeze = len > 0;
		if (!len) {
			len = (int32_t)char_len((unsigned char)s[i]);
			len = len < size - i ? len : size - i;
		}
		sy[n] = (bsym){i, len, n - 1, i + len < size ? n + 1 : -1, freeze};
		i += len;
	}
	int nh = 0;
	for (int32_t i = 1; i < n; i++)
		bpe_maybe_add(m, s, sy, h, &nh, i - 1, i);
	while (nh > 0) {
		pair top = pair_pop(h, &nh);
		bsym *a = &sy[top.left], *b = &sy[top.right];
		if (!a->len || !b->len || a->len + b->len != top.size)
			continue;
		a->len += b->len;
		a->next = b->next;
		if (b->next >= 0)
			sy[b->next].prev = top.left;
		b->len = 0;
		bpe_maybe_add(m, s, sy, h, &nh, a->prev, top.left);
		bpe_maybe_add(m, s, sy, h, &nh, top.left, a->next);
	}
	int k = 0;
	for (int32_t i = n ? 0 : -1; i >= 0; i = sy[i].next) {
		int32_t id = trie_find(m, s + sy[i].start, (size_t)sy[i].len);
		res[k++] = (span){sy[i].start, sy[i].len, id < 0 ? m->unk_id : id};
	}
	return k;
}

/* Runs the model over s[0, size) into res (size entries at least); returns the count. */
static int run_model(const s2s__spm *m, const char *s, int32_t size, span *res)
{
	size_t n1 = (size_t)size + 1;
	void *a = malloc(n1 * (m->bpe ? sizeof(bsym) : sizeof(float)));
	void *b = malloc(n1 * (m->bpe ? 3 * sizeof(pair) : sizeof(int32_t)));
	int32_t *c = m->bpe ? NULL : malloc(n1 * sizeof *c);
	int n = -1;
	if (a && b && (m->bpe || c))
		n = m->bpe ? bpe(m, s, size, res, a, b) : unigram(m, s, size, res, a, b, c);
	free(a);
	free(b);
	free(c);
	return n;
}

int s2s__spm_encode(const s2s__spm *m, const char *text, size_t len, s2s__spm_piece_fn fn, void *ctx)
{
	buf norm = {0};
	int rc = normalize(m, text, len, &norm);
	if (rc < 0 || norm.n == 0 || norm.n > INT32_MAX / 4) {
		free(norm.b);
		return rc < 0 || norm.n == 0 ? rc : S2S_ENOMEM;
	}
	span *res = malloc(norm.n * sizeof *res);
	int n = res ? run_model(m, norm.b, (int32_t)norm.n, res) : -1;
	if (n < 0)
		rc = S2S_ENOMEM;
	/* Consecutive unknown pieces become one (SentencePiece's PopulateSentencePieceText). */
	for (int i = 0; rc == 0 && i < n;) {
		int j = i + 1;
		int32_t plen = res[i].len;
		while (res[i].id == m->unk_id && j < n && res[j].id == m->unk_id)
			plen += res[j++].len;
		rc = fn(ctx, norm.b + res[i].start, (size_t)plen);
		i = j;
	}
	free(res);
	free(norm.b);
	return rc;
}

/* ---- detokenizing ------------------------------------------------------ */

static bool dropped(const s2s__spm *m, const char *t)
{
	if (!strcmp(t, "<pad>") || !strcmp(t, "<s>") || !strcmp(t, "</s>"))
		return true;
	int32_t id = trie_find(m, t, strlen(t));
	return id >= 0 && m->kind[id] == K_CONTROL;
}

char *s2s__spm_detokenize(const s2s__spm *m, const char *const *tokens, int n)
{
	size_t len = 0;
	for (int i = 0; i < n; i++)
		len += strlen(tokens[i]);
	char *out = malloc(len + 1), *w = out;
	if (!out)
		return NULL;
	bool bos = true, seen = false, strip = m->dummy_prefix || m->remove_ws;
	for (int i = 0; i < n; i++) {
		const char *p = tokens[i];
		if (dropped(m, p))
			continue;
		if (seen || w > out)
			bos = false;
		seen = false;
		if (bos && strip && !strncmp(p, SPACE, SPACE_LEN)) {
			p += SPACE_LEN;
			seen = !m->remove_ws;
		}
		while (*p) {
			bool mark = !strncmp(p, SPACE, SPACE_LEN);
			*w++ = mark ? ' ' : *p;
			p += mark ? SPACE_LEN : 1;
		}
	}
	*w = '\0';
	return out;
}
