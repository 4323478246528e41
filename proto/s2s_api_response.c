/*
 * s2s_api_response.c - response bodies of docs/api.md built from core
 * results: tokens, detokenized text, scores, attention (subword or word
 * level), coverage, timings; model descriptions.
 */
#define __STDC_WANT_IEC_60559_BFP_EXT__ 1 /* strfromd (ISO/IEC TS 18661-1, glibc >= 2.25) */
#include "s2s_api.h"

#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WORD_START "\xe2\x96\x81" /* U+2581, the tokenizer's word-start mark */


/*
 * Response bodies are written straight into one growing buffer, in the
 * byte format json_dumps(S2S_API_DUMP_FLAGS) gives (keys in insertion
 * order, strings as jansson escapes them, reals as "%.7g" with jansson's
 * fix-ups), without building a jansson tree first: on the daemon's loop
 * thread the tree, its dump and its free took about a quarter of the time
 * of a one-sentence request (issue 11; docs/benchmarks-http.md).
 * tests/proto/test_api.c checks that re-dumping a body through jansson
 * gives the same bytes.
 *
 * Building state: the first failure wins and the whole response is then
 * refused, so no part of a result (a hypothesis, a log-probability) can go
 * missing without the caller hearing about it. `where` is the JSON path of
 * the object being built, for messages.
 */
typedef struct {
	s2s_api_error *e; /* optional */
	bool failed;
	char where[96];
	char *buf; /* the body so far (owned until returned) */
	size_t len, cap;
	char point; /* the locale's decimal point, which "%g" writes */
} build;

static void build_init(build *b, s2s_api_error *e)
{
	memset(b, 0, sizeof *b);
	b->e = e;
	b->point = localeconv()->decimal_point[0];
}

static void build_oom(build *b)
{
	if (!b->failed)
		s2s_api_fail(b->e, S2S_API_INTERNAL, "out of memory while building the response");
	b->failed = true;
}

static void put(build *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->buf, cap);
		if (!p) {
			build_oom(b);
			return;
		}
		b->buf = p;
		b->cap = cap;
	}
	memcpy(b->buf + b->len, s, n);
	b->len += n;
	b->buf[b->len] = '\0';
}

#define PUT(b, lit) put((b), (lit), sizeof(lit) - 1)

/* `"name":`, after `{` for an object's first key, else after a comma. */
static void key(build *b, bool first, const char *name)
{
	put(b, first ? "{\"" : ",\"", 2);
	put(b, name, strlen(name));
	PUT(b, "\":");
}

/* Length of the valid UTF-8 sequence at s (json_string's rules), 0 if invalid. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned c = s[0];
	size_t n = c < 0x80 ? 1 : c < 0xc2 ? 0 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : c < 0xf5 ? 4 : 0;
	uint32_t cp = n == 2 ? c & 0x1f : n == 3 ? c & 0x0f : c & 0x07;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

/* A JSON string of (valid UTF-8) s; invalid UTF-8 fails the build with a reason. */
static void str(build *b, const char *s)
{
	if (!s) {
		build_oom(b);
		return;
	}
	PUT(b, "\"");
	const unsigned char *p = (const unsigned char *)s, *run = p;
	while (*p && !b->failed) {
		size_t n = utf8_len(p);
		if (n == 0) {
			s2s_api_fail(b->e, S2S_API_INTERNAL, "%s: a string is not valid UTF-8", b->where);
			b->failed = true;
			return;
		}
		if (n > 1 || (*p >= 0x20 && *p != '"' && *p != '\\')) {
			p += n;
			continue;
		}
		put(b, (const char *)run, (size_t)(p - run));
		char esc[8];
		const char *named = *p == '"' ? "\\\"" : *p == '\\' ? "\\\\" : *p == '\b' ? "\\b" :
				    *p == '\f' ? "\\f" : *p == '\n' ? "\\n" : *p == '\r' ? "\\r" :
				    *p == '\t' ? "\\t" : NULL;
		if (!named)
			snprintf(esc, sizeof esc, "\\u%04X", *p);
		put(b, named ? named : esc, strlen(named ? named : esc));
		run = ++p;
	}
	put(b, (const char *)run, (size_t)(p - run));
	PUT(b, "\"");
}

static void str_array(build *b, const char *const *s, int n)
{
	PUT(b, "[");
	for (int i = 0; i < n; i++) {
		if (i)
			PUT(b, ",");
		str(b, s[i]);
	}
	PUT(b, "]");
}

/* A JSON number, or a failure naming `what`[idx] when x is NaN or infinite. */
static void num(build *b, double x, const char *what, int idx)
{
	if (!isfinite(x)) {
		char name[64];
		if (idx >= 0)
			snprintf(name, sizeof name, "%s[%d]", what, idx);
		else
			snprintf(name, sizeof name, "%s", what);
		if (!b->failed)
			s2s_api_fail(b->e, S2S_API_INTERNAL,
				     "%s.%s is %s, which JSON cannot carry: the model produced a non-finite value (is the checkpoint corrupt?)",
				     b->where, name, isnan(x) ? "NaN" : x > 0 ? "+Infinity" : "-Infinity");
		b->failed = true;
		return;
	}
	/* strfromd: the digits of snprintf's "%.7g" without parsing a format per number */
	char buf[48];
	int n = strfromd(buf, sizeof buf - 3, "%.7g", x);
	if (n < 0 || n >= (int)sizeof buf - 3) {
		build_oom(b);
		return;
	}
	char *dot = b->point != '.' ? strchr(buf, b->point) : NULL;
	if (dot)
		*dot = '.';
	if (!strchr(buf, '.') && !strchr(buf, 'e')) {
		memcpy(buf + n, ".0", 3); /* a real stays a real when read back */
		n += 2;
	}
	char *e = strchr(buf, 'e');
	if (e) { /* no '+' and no leading zeros in the exponent, as jansson writes it */
		char *start = e + 1, *end = start + 1;
		if (*start == '-')
			start++;
		while (*end == '0')
			end++;
		if (end != start) {
			memmove(start, end, strlen(end) + 1);
			n = (int)strlen(buf);
		}
	}
	put(b, buf, (size_t)n);
}

/*
 * A forced token (a prefix, a scored target) may be one the model gives
 * probability 0 (docs/checkpoint-format.md §7.6): its log-probability, and
 * the score, are -inf, written as null. NaN and +inf still fail.
 */
static void num_or_null(build *b, double x, const char *what, int idx)
{
	if (isinf(x) && x < 0)
		PUT(b, "null");
	else
		num(b, x, what, idx);
}

/* A JSON array of v[0..n); with `forced` (a forced token's logprobs), -inf
 * is written as null. */
static void float_array(build *b, const float *v, int n, const char *what, bool forced)
{
	PUT(b, "[");
	for (int i = 0; i < n; i++) {
		if (i)
			PUT(b, ",");
		if (forced)
			num_or_null(b, v[i], what, i);
		else
			num(b, v[i], what, i);
	}
	PUT(b, "]");
}

static void integer(build *b, long long x)
{
	char buf[32];
	int n = snprintf(buf, sizeof buf, "%lld", x);
	put(b, buf, (size_t)n);
}

static void boolean(build *b, bool v)
{
	if (v)
		PUT(b, "true");
	else
		PUT(b, "false");
}

/* The body, or NULL with the reason in b->e when anything failed on the way. */
static char *finish(build *b)
{
	if (b->failed || !b->buf) {
		if (!b->buf)
			build_oom(b);
		free(b->buf);
		return NULL;
	}
	return b->buf;
}

/* The request's "timings" member and the closing braces, then finish(). */
static char *finish_with_timings(build *b, const s2s_api_view *v)
{
	snprintf(b->where, sizeof b->where, "timings");
	key(b, false, "timings");
	key(b, true, "total_ms");
	num(b, v->total_ms, "total_ms", -1);
	PUT(b, "}}");
	return finish(b);
}


/* Whitespace-separated words of `s` (malloc'd copies), as the tokenizer splits them. */
static int split_words(const char *s, char ***out)
{
	int n = 0;
	char **w = NULL;
	while (*s) {
		s += strspn(s, " \t\n\v\f\r");
		size_t len = strcspn(s, " \t\n\v\f\r");
		if (!len)
			break;
		char **g = realloc(w, (size_t)(n + 1) * sizeof *g);
		if (!g)
			break;
		w = g;
		w[n++] = strndup(s, len);
		s += len;
	}
	*out = w;
	return n;
}

static void free_words(char **w, int n)
{
	for (int i = 0; i < n; i++)
		free(w[i]);
	free(w);
}

/*
 * Target token strings of hypothesis h: vocabulary strings, "</s>" included,
 * and with replace_unk each <unk> swapped for the source piece it attended
 * to most. Borrowed strings in a malloc'd array.
 */
static const char **hyp_tokens(const s2s_model *m, const s2s_api_sentence *s,
			       const s2s_hypothesis *h, bool replace_unk)
{
	const s2s_tokens *tok = s->tok;
	/* a sentinel's piece ("<ph0>") is not text: an <unk> aligned to one stays */
	const bool *is_text = s->masked && !s->masked->passthrough ? s->masked->is_text : NULL;
	const char **t = calloc((size_t)h->n + 1, sizeof *t);
	int32_t *src = replace_unk ? calloc((size_t)h->n + 1, sizeof *src) : NULL;
	if (!t)
		goto out;
	if (src && h->attention)
		s2s_hypothesis_unk_sources(h, tok->n, src);
	for (int k = 0; k < h->n; k++) {
		t[k] = s2s_vocab_token(s2s_model_tgt_vocab(m), h->ids[k]);
		if (src && h->attention && h->ids[k] == S2S_UNK && src[k] >= 0 && src[k] < tok->n &&
		    (!is_text || is_text[src[k]]))
			t[k] = tok->pieces[src[k]];
	}
out:
	free(src);
	return t;
}

static char *hyp_text(const s2s_model *m, const s2s_hypothesis *h, const char **t)
{
	const char **keep = calloc((size_t)h->n + 1, sizeof *keep);
	int n = 0;
	if (!keep)
		return NULL;
	for (int k = 0; k < h->n; k++)
		if (h->ids[k] != S2S_PAD && h->ids[k] != S2S_BOS && h->ids[k] != S2S_EOS)
			keep[n++] = t[k];
	char *s = s2s_detokenize(s2s_model_tgt_tokenizer(m), keep, n);
	free(keep);
	return s;
}

/* Tokens of h that the text is made of: the final </s> is not. */
static int text_tokens(const s2s_hypothesis *h)
{
	return h->n > 0 && h->ids[h->n - 1] == S2S_EOS ? h->n - 1 : h->n;
}

/*
 * The text of h for a sentence with protected spans: every span put back
 * (s2s_spans_render). 0, or -1 (out of memory) with *out cleared.
 */
static int render(const s2s_model *m, const s2s_api_sentence *s, const s2s_hypothesis *h,
		  const char **t, s2s_rendered *out)
{
	s2s_error err = {0};
	memset(out, 0, sizeof *out);
	return s2s_spans_render(s->spans, s->masked, s2s_model_tgt_tokenizer(m),
				s2s_model_sentinels(m), t, h->ids, text_tokens(h), h->attention,
				s->tok->n, out, &err) < 0
		       ? -1
		       : 0;
}

/* The hypothesis text: detokenized, or rendered with the spans; NULL on ENOMEM. */
static char *text_of(const s2s_model *m, const s2s_api_sentence *s, const s2s_hypothesis *h,
		     const char **t)
{
	if (!s->spans)
		return hyp_text(m, h, t);
	s2s_rendered r;
	if (render(m, s, h, t, &r) < 0)
		return NULL;
	char *text = r.text;
	r.text = NULL;
	s2s_rendered_deinit(&r);
	return text;
}

char *s2s_api_best_text(const s2s_model *m, const s2s_api_sentence *s, bool replace_unk)
{
	if (!s->res || s->res->n_hyps < 1)
		return NULL;
	const char **t = hyp_tokens(m, s, &s->res->hyps[0], replace_unk);
	char *text = t ? text_of(m, s, &s->res->hyps[0], t) : NULL;
	free(t);
	return text;
}

/* A sentinel's piece: <phN>, <tN> or </tN> (docs/localisation.md §3). */
static bool sentinel_piece(const char *p)
{
	size_t n = strlen(p), i = 1;
	if (n < 4 || p[0] != '<' || p[n - 1] != '>')
		return false;
	if (p[i] == '/')
		i++;
	if (!strncmp(p + i, "ph", 2) && p[1] != '/')
		i += 2;
	else if (p[i] == 't')
		i++;
	else
		return false;
	if (i >= n - 1)
		return false;
	for (; i < n - 1; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	return true;
}

/*
 * Target word of each token: a token starting with U+2581 starts a word,
 * and </s> and sentinels are words of their own. Returns the number of words.
 */
static int target_words(const s2s_hypothesis *h, const char **t, int32_t *word_of)
{
	int w = -1;
	for (int k = 0; k < h->n; k++) {
		bool eos = h->ids[k] == S2S_EOS, prev_eos = k > 0 && h->ids[k - 1] == S2S_EOS;
		/* a sentinel is a word of its own, like </s> */
		bool sent = sentinel_piece(t[k]) || (k > 0 && sentinel_piece(t[k - 1]));
		if (w < 0 || eos || prev_eos || sent || !strncmp(t[k], WORD_START, 3))
			w++;
		word_of[k] = w;
	}
	return w + 1;
}

/* The words' strings: their tokens joined, the word-start mark dropped (no length limit). */
static void target_word_strings(build *b, const s2s_hypothesis *h, const char **t,
				const int32_t *word_of, int nw)
{
	PUT(b, "[");
	for (int w = 0, k = 0; w < nw && !b->failed; w++) {
		size_t len = 0;
		for (int j = k; j < h->n && word_of[j] == w; j++)
			len += strlen(t[j]);
		char *buf = malloc(len + 1);
		if (!buf) {
			build_oom(b);
			break;
		}
		len = 0;
		for (; k < h->n && word_of[k] == w; k++) {
			const char *p = t[k];
			if (!strncmp(p, WORD_START, 3))
				p += 3;
			memcpy(buf + len, p, strlen(p));
			len += strlen(p);
		}
		buf[len] = '\0';
		if (w)
			PUT(b, ",");
		str(b, buf);
		free(buf);
	}
	PUT(b, "]");
}

/* Subword matrix as JSON rows. */
static void attention_subword(build *b, const s2s_hypothesis *h, int n_src)
{
	PUT(b, "[");
	for (int k = 0; k < h->n; k++) {
		if (k)
			PUT(b, ",");
		float_array(b, h->attention + (size_t)k * n_src, n_src, "attention", false);
	}
	PUT(b, "]");
}

/*
 * Word matrix: columns of a source word's tokens summed, rows of a target
 * word's tokens averaged, so every row still sums to one.
 */
static void attention_word(build *b, const s2s_hypothesis *h, const s2s_tokens *tok,
			   const int32_t *tword, int ntw)
{
	int nsw = tok->n_words;
	float *m = calloc((size_t)ntw * nsw + 1, sizeof *m);
	int *cnt = calloc((size_t)ntw + 1, sizeof *cnt);
	if (!m || !cnt) {
		build_oom(b);
		goto out;
	}
	for (int k = 0; k < h->n; k++) {
		cnt[tword[k]]++;
		for (int j = 0; j < tok->n; j++)
			m[(size_t)tword[k] * nsw + tok->word[j]] += h->attention[(size_t)k * tok->n + j];
	}
	PUT(b, "[");
	for (int w = 0; w < ntw; w++) {
		for (int j = 0; j < nsw; j++)
			m[(size_t)w * nsw + j] /= (float)cnt[w];
		if (w)
			PUT(b, ",");
		float_array(b, m + (size_t)w * nsw, nsw, "attention", false);
	}
	PUT(b, "]");
out:
	free(m);
	free(cnt);
}

static void add_attention(build *b, const s2s_hypothesis *h, const s2s_tokens *tok,
			  const char **t, bool word_level)
{
	key(b, false, "attention_level");
	str(b, word_level ? "word" : "subword");
	if (!h->attention) {
		key(b, false, "attention");
		PUT(b, "null");
		return;
	}
	if (!word_level) {
		key(b, false, "attention");
		attention_subword(b, h, tok->n);
		return;
	}
	int32_t *tword = calloc((size_t)h->n + 1, sizeof *tword);
	if (!tword) {
		build_oom(b);
		return;
	}
	int ntw = target_words(h, t, tword);
	key(b, false, "target_words");
	target_word_strings(b, h, t, tword, ntw);
	key(b, false, "attention");
	attention_word(b, h, tok, tword, ntw);
	free(tword);
}

/* "span_tokens": where each span's sentinel is in the hypothesis (null: put back by alignment). */
static void span_tokens(build *b, const s2s_api_sentence *s, const s2s_rendered *r)
{
	key(b, false, "span_tokens");
	PUT(b, "[");
	for (int k = 0; k < s->spans->n; k++) {
		char n[16];
		snprintf(n, sizeof n, "%d", (int)r->span_token[k]);
		if (k)
			PUT(b, ",");
		put(b, r->span_token[k] >= 0 ? n : "null", strlen(r->span_token[k] >= 0 ? n : "null"));
	}
	PUT(b, "]");
}

/* The hypothesis a passthrough shows: the source itself, no tokens (docs/localisation.md §5). */
static const s2s_hypothesis passthrough_hyp = {.n = 0, .finished = true};

static void hypothesis_json(build *b, const s2s_api_view *v, const s2s_api_sentence *s,
			    const s2s_hypothesis *h)
{
	if (s->masked && s->masked->passthrough)
		h = &passthrough_hyp;
	const char **t = hyp_tokens(v->model, s, h, v->opt->replace_unk);
	s2s_rendered r = {0};
	char *text = !t ? NULL : !s->spans ? hyp_text(v->model, h, t)
			       : render(v->model, s, h, t, &r) < 0 ? NULL : r.text;
	if (!t || !text)
		build_oom(b);
	key(b, true, "text");
	str(b, text);
	key(b, false, "tokens");
	if (t)
		str_array(b, t, h->n);
	/* with a prefix, a forced token may have probability 0: -inf is null */
	void (*number)(build *, double, const char *, int) = v->opt->prefix ? num_or_null : num;
	key(b, false, "score");
	number(b, h->score, "score", -1);
	key(b, false, "norm_score");
	number(b, h->norm_score, "norm_score", -1);
	key(b, false, "logprobs");
	float_array(b, h->logprobs, h->n, "logprobs", v->opt->prefix != NULL);
	key(b, false, "finished");
	boolean(b, h->finished);
	if (s->spans && text)
		span_tokens(b, s, &r);
	if (t && v->opt->attention)
		add_attention(b, h, s->tok, t, v->opt->word_level);
	PUT(b, "}");
	if (s->spans)
		s2s_rendered_deinit(&r);
	else
		free(text);
	free(t);
}

/* Coverage per source word over the best hypothesis, and the words below the threshold. */
static void add_coverage(build *b, const s2s_api_view *v, const s2s_api_sentence *s,
			 char **words, int nwords)
{
	const s2s_hypothesis *h = s->res && s->res->n_hyps > 0 ? &s->res->hyps[0] : NULL;
	if (!h || !h->attention || (s->masked && s->masked->passthrough)) {
		key(b, false, "coverage");
		PUT(b, "null");
		key(b, false, "low_coverage_words");
		PUT(b, "[]");
		return;
	}
	int nsw = s->tok->n_words;
	float *cov = calloc((size_t)nsw + 1, sizeof *cov);
	if (!cov) {
		build_oom(b);
		return;
	}
	for (int k = 0; k < h->n; k++)
		for (int j = 0; j < s->tok->n; j++)
			cov[s->tok->word[j]] += h->attention[(size_t)k * s->tok->n + j];
	char where[sizeof b->where];
	memcpy(where, b->where, sizeof where);
	snprintf(b->where, sizeof b->where, "%.60s.coverage", where);
	key(b, false, "coverage");
	float_array(b, cov, nsw, "words", false);
	memcpy(b->where, where, sizeof where);
	key(b, false, "low_coverage_words");
	PUT(b, "[");
	for (int w = 0, first = 1; w < nsw; w++)
		if (cov[w] < v->opt->coverage_threshold) {
			if (!first)
				PUT(b, ",");
			first = 0;
			str(b, w < nwords ? words[w] : "");
		}
	PUT(b, "]");
	free(cov);
}

static void timings(build *b, const s2s_api_sentence *s)
{
	key(b, true, "queued_ms");
	num(b, s->queued_ms, "timings.queued_ms", -1);
	key(b, false, "encode_ms");
	num(b, s->res ? s->res->encode_ms : 0.0, "timings.encode_ms", -1);
	key(b, false, "decode_ms");
	num(b, s->res ? s->res->decode_ms : 0.0, "timings.decode_ms", -1);
	PUT(b, "}");
}

/* Code points in the first `bytes` bytes of s (valid UTF-8). */
static long code_points(const char *s, size_t bytes)
{
	long n = 0;
	for (size_t i = 0; i < bytes; i++)
		n += ((unsigned char)s[i] & 0xC0) != 0x80;
	return n;
}

/* The source words of a masked source: each word's pieces detokenized, a sentinel as its span. */
static int masked_words(const s2s_model *m, const s2s_api_sentence *s, char ***out)
{
	const s2s_tokens *tok = s->tok;
	char **w = calloc((size_t)tok->n_words + 1, sizeof *w);
	const char **pieces = calloc((size_t)tok->n + 1, sizeof *pieces);
	int nw = 0;
	for (int j = 0; w && pieces && j < tok->n; nw++) {
		int k = j, np = 0;
		for (; k < tok->n && tok->word[k] == tok->word[j]; k++)
			pieces[np++] = tok->pieces[k];
		int span = -1;
		for (int q = 0; q < s->spans->n && !s->masked->is_text[j]; q++)
			if (s->masked->span_token[q] == j)
				span = q;
		const s2s_span *sp = span >= 0 ? &s->spans->spans[span] : NULL;
		w[nw] = sp ? strndup(s->spans->text + sp->start, sp->len)
			   : s2s_detokenize(s2s_model_src_tokenizer(m), pieces, np);
		if (!w[nw]) {
			free(pieces);
			*out = w;
			return -nw - 1; /* out of memory: the caller frees the nw words made */
		}
		j = k;
	}
	bool oom = !w || !pieces;
	free(pieces);
	*out = w;
	return oom ? -nw - 1 : nw;
}

static const char *span_kind(const s2s_span *sp)
{
	if (sp->glossary)
		return "glossary";
	return sp->kind == S2S_SPAN_OPEN ? "tag_open" : sp->kind == S2S_SPAN_CLOSE ? "tag_close" : "placeholder";
}

static const char *protection(const s2s_api_sentence *s)
{
	if (s->masked->passthrough)
		return "passthrough";
	if (s->spans->n == 0)
		return "none";
	return s->masked->sentinel_path ? "sentinels" : "alignment";
}

/* "protection", "spans" and "accelerator" of a sentence with protected spans. */
static void spans_json(build *b, const s2s_api_sentence *s)
{
	const s2s_spans *sp = s->spans;
	char num_buf[96];
	key(b, false, "protection");
	str(b, protection(s));
	key(b, false, "spans");
	PUT(b, "[");
	for (int k = 0; k < sp->n; k++) {
		const s2s_span *x = &sp->spans[k];
		char *text = strndup(sp->text + x->start, x->len);
		if (k)
			PUT(b, ",");
		key(b, true, "kind");
		str(b, span_kind(x));
		key(b, false, "text");
		str(b, text ? text : "");
		free(text);
		snprintf(num_buf, sizeof num_buf, ",\"start\":%ld,\"end\":%ld,\"source_token\":",
			 code_points(sp->text, x->start), code_points(sp->text, x->start + x->len));
		put(b, num_buf, strlen(num_buf));
		snprintf(num_buf, sizeof num_buf, "%d", (int)s->masked->span_token[k]);
		put(b, s->masked->span_token[k] >= 0 && !s->masked->passthrough ? num_buf : "null",
		    strlen(s->masked->span_token[k] >= 0 && !s->masked->passthrough ? num_buf : "null"));
		if (x->output) {
			key(b, false, "output");
			str(b, x->output);
		}
		PUT(b, "}");
	}
	PUT(b, "]");
	if (!sp->has_accel)
		return;
	char marker[2] = {sp->accel_marker, 0};
	size_t at = sp->accel_pos + 1, len = s2s_utf8_char_len(sp->text + at, sp->len - at);
	char *c = strndup(sp->text + at, len);
	key(b, false, "accelerator");
	key(b, true, "marker");
	str(b, marker);
	key(b, false, "char");
	str(b, c ? c : "");
	PUT(b, "}");
	free(c);
}

/*
 * The issue-14 additions of result i: "seed" (sampling: the request's seed
 * + i), "prefix_tokens" (a prefix was given) and "alternatives" (asked for).
 * A request without these options gets none of them.
 */
static void controls_json(build *b, const s2s_api_view *v, const s2s_api_sentence *s, int i)
{
	const s2s_api_options *o = v->opt;
	if (o->sampling) {
		key(b, false, "seed");
		integer(b, (long long)(o->decode.seed + (uint64_t)i));
	}
	if (o->prefix) {
		key(b, false, "prefix_tokens");
		integer(b, o->prefix_len && i < o->n_prefix_text ? o->prefix_len[i] : 0);
	}
	if (o->decode.return_alternatives <= 0)
		return;
	key(b, false, "alternatives");
	PUT(b, "[");
	for (int k = 0; s->res && k < s->res->n_alternatives; k++) {
		const s2s_alternative *a = &s->res->alternatives[k];
		if (k)
			PUT(b, ",");
		key(b, true, "token");
		str(b, s2s_vocab_token(s2s_model_tgt_vocab(v->model), a->id));
		key(b, false, "id");
		integer(b, a->id);
		key(b, false, "logprob");
		num(b, a->logprob, "alternatives.logprob", k);
		PUT(b, "}");
	}
	PUT(b, "]");
}

static void sentence_json(build *b, const s2s_api_view *v, const s2s_api_sentence *s, int i)
{
	char **words;
	bool masked = s->spans && !s->masked->passthrough;
	int nwords = masked ? masked_words(v->model, s, &words) : split_words(s->source, &words);
	if (nwords < 0) {
		build_oom(b);
		nwords = -nwords - 1;
	}
	key(b, true, "source");
	str(b, s->source);
	key(b, false, "source_tokens");
	str_array(b, (const char *const *)s->tok->pieces, s->tok->n);
	key(b, false, "source_words");
	str_array(b, (const char *const *)words, nwords);
	if (s->spans)
		spans_json(b, s);
	key(b, false, "truncated");
	boolean(b, s->res == NULL);
	key(b, false, "hypotheses");
	PUT(b, "[");
	for (int k = 0; s->res && k < s->res->n_hyps; k++) {
		snprintf(b->where, sizeof b->where, "results[%d].hypotheses[%d]", i, k);
		if (k)
			PUT(b, ",");
		hypothesis_json(b, v, s, &s->res->hyps[k]);
		if (s->masked && s->masked->passthrough)
			break; /* one hypothesis: the source */
	}
	PUT(b, "]");
	snprintf(b->where, sizeof b->where, "results[%d]", i);
	controls_json(b, v, s, i);
	if (v->opt->coverage)
		add_coverage(b, v, s, words, nwords);
	key(b, false, "timings");
	timings(b, s);
	PUT(b, "}");
	free_words(words, nwords);
}

char *s2s_api_translate_response(const s2s_api_view *v, const s2s_api_sentence *s, int n,
				 s2s_api_error *e)
{
	build b;
	build_init(&b, e);
	bool truncated = false;
	for (int i = 0; i < n; i++)
		truncated |= s[i].res == NULL;
	key(&b, true, "model");
	str(&b, v->model_name);
	key(&b, false, "request_id");
	str(&b, v->request_id);
	key(&b, false, "truncated");
	boolean(&b, truncated);
	key(&b, false, "results");
	PUT(&b, "[");
	for (int i = 0; i < n && !b.failed; i++) {
		if (i)
			PUT(&b, ",");
		sentence_json(&b, v, &s[i], i);
	}
	PUT(&b, "]");
	return finish_with_timings(&b, v);
}

/* One scored pair (POST /v1/score). */
static void score_json(build *b, const s2s_api_view *v, const s2s_api_sentence *s,
		       const char *target)
{
	const s2s_hypothesis *h = s->res && s->res->n_hyps > 0 ? &s->res->hyps[0] : NULL;
	key(b, true, "source");
	str(b, s->source);
	key(b, false, "source_tokens");
	str_array(b, (const char *const *)s->tok->pieces, s->tok->n);
	key(b, false, "target");
	str(b, target);
	if (!h) { /* only with a deadline: the response says "truncated" */
		PUT(b, ",\"truncated\":true");
	} else {
		const char **t = hyp_tokens(v->model, s, h, false);
		if (!t)
			build_oom(b);
		key(b, false, "tokens");
		if (t)
			str_array(b, t, h->n);
		key(b, false, "logprobs");
		float_array(b, h->logprobs, h->n, "logprobs", true);
		key(b, false, "score");
		num_or_null(b, h->score, "score", -1);
		key(b, false, "norm_score");
		num_or_null(b, h->norm_score, "norm_score", -1);
		if (t && v->opt->attention)
			add_attention(b, h, s->tok, t, v->opt->word_level);
		free(t);
	}
	key(b, false, "timings");
	timings(b, s);
	PUT(b, "}");
}

char *s2s_api_score_response(const s2s_api_view *v, const s2s_api_sentence *s,
			     char *const *targets, int n, s2s_api_error *e)
{
	build b;
	build_init(&b, e);
	key(&b, true, "model");
	str(&b, v->model_name);
	key(&b, false, "request_id");
	str(&b, v->request_id);
	key(&b, false, "results");
	PUT(&b, "[");
	for (int i = 0; i < n && !b.failed; i++) {
		snprintf(b.where, sizeof b.where, "results[%d]", i);
		if (i)
			PUT(&b, ",");
		score_json(&b, v, &s[i], targets[i]);
	}
	PUT(&b, "]");
	return finish_with_timings(&b, v);
}

char *s2s_api_opennmt_response(const s2s_api_view *v, const s2s_api_sentence *s, int n,
			       s2s_api_error *e)
{
	build b;
	build_init(&b, e);
	int count = 0;
	PUT(&b, "[[");
	for (int i = 0; i < n && !b.failed; i++) {
		for (int k = 0; s[i].res && k < s[i].res->n_hyps; k++) {
			const s2s_hypothesis *h = &s[i].res->hyps[k];
			const char **t = hyp_tokens(v->model, &s[i], h, false);
			char *text = t ? hyp_text(v->model, h, t) : NULL;
			char nb[16];
			snprintf(b.where, sizeof b.where, "[0][%d] (input %d, hypothesis %d)", count, i, k);
			if (!text)
				build_oom(&b);
			if (count++)
				PUT(&b, ",");
			key(&b, true, "src");
			str(&b, s[i].source);
			key(&b, false, "tgt");
			str(&b, text);
			key(&b, false, "n_best");
			snprintf(nb, sizeof nb, "%d", k + 1);
			put(&b, nb, strlen(nb));
			key(&b, false, "pred_score");
			num(&b, h->norm_score, "pred_score", -1);
			PUT(&b, "}");
			free(text);
			free(t);
		}
	}
	PUT(&b, "]]");
	return finish(&b);
}


/*
 * The optional keys of checkpoint-format.md §3, only where they differ
 * from their defaults: as in the checkpoint, a model that does not use
 * them is described exactly as before they existed.
 */
static json_t *optional_architecture(json_t *o, const s2s_config *c)
{
	if (o && c->attn_out_bias)
		json_object_set_new(o, "attn_out_bias", json_true());
	if (o && c->attn_out_activation != S2S_ACT_TANH)
		json_object_set_new(o, "attn_out_activation",
				    json_string(s2s_activation_name(c->attn_out_activation)));
	if (o && c->bridge_input != S2S_BRIDGE_IN_TOP)
		json_object_set_new(o, "bridge_input",
				    json_string(s2s_bridge_input_name(c->bridge_input)));
	if (o && c->bridge_activation != S2S_ACT_TANH)
		json_object_set_new(o, "bridge_activation",
				    json_string(s2s_activation_name(c->bridge_activation)));
	if (o && c->bridge_cell != S2S_BRIDGE_CELL_ZEROS)
		json_object_set_new(o, "bridge_cell",
				    json_string(s2s_bridge_cell_name(c->bridge_cell)));
	return o;
}

static json_t *architecture(const s2s_config *c)
{
	json_t *o = json_pack("{s:s,s:i,s:i,s:i,s:b,s:b,s:i,s:i,s:s,s:s,s:s,s:i,s:b,s:b}", "cell",
			 s2s_cell_name(c->cell), "emb_dim", c->emb_dim, "enc_hidden", c->enc_hidden,
			 "enc_layers", c->enc_layers, "bidirectional", c->bidirectional,
			 "reverse_source", c->reverse_source, "dec_hidden", c->dec_hidden,
			 "dec_layers", c->dec_layers, "bridge", s2s_bridge_name(c->bridge),
			 "attention", s2s_attn_name(c->attention), "attn_placement",
			 s2s_placement_name(c->placement), "attn_dim", c->attn_dim, "input_feed",
			 c->input_feed, "tie_embeddings", c->tie_embeddings);
	return optional_architecture(o, c);
}

/* The checkpoint's `seq2seqd.examples`, or an empty array. */
static json_t *examples(const s2s_model *m)
{
	const char *ex = s2s_model_meta(m, "seq2seqd.examples");
	json_t *a = ex ? json_loads(ex, 0, NULL) : NULL;
	if (json_is_array(a))
		return a;
	json_decref(a);
	return json_array();
}

/* The decoding defaults a request gets from this model (seq2seqd.decoding or §7's). */
static json_t *decoding(const s2s_model *m)
{
	s2s_decode_options d;
	unsigned set = s2s_model_decode_defaults(m, &d);
	return json_pack("{s:i,s:i,s:i,s:f,s:i,s:f,s:b}", "beam_size", d.beam_size, "n_best",
			 d.n_best, "max_length", d.max_len, "max_len_a", (double)d.max_len_a,
			 "max_len_b", d.max_len_b, "length_penalty", (double)d.length_penalty,
			 "from_checkpoint", set != 0);
}

json_t *s2s_api_model_info(const s2s_model *m, const char *name, bool is_default,
			   long long loaded_at, int reloads)
{
	const s2s_config *c = s2s_model_config(m);
	char stamp[32];
	time_t t = (time_t)loaded_at;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_pack("{s:s,s:b,s:s,s:s?,s:o,s:i,s:i,s:I,s:s,s:s,s:s,s:i,s:o,s:o}", "name", name,
			 "default", is_default, "path", s2s_model_path(m), "description",
			 s2s_model_meta(m, "seq2seqd.description"), "architecture", architecture(c),
			 "src_vocab_size", c->src_vocab_size, "tgt_vocab_size", c->tgt_vocab_size,
			 "parameters", (json_int_t)s2s_model_param_count(m), "weights",
			 s2s_model_weight_type(m), "sha256",
			 s2s_model_sha256(m), "loaded_at", stamp, "reloads", reloads, "examples",
			 examples(m), "decoding", decoding(m));
}
