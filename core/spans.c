/*
 * spans.c - protected spans (s2s_spans.h; the rules are docs/localisation.md,
 * shared with clients/python/s2s_ref/spans.py, which must give the same
 * result for every input: section numbers below refer to that document).
 *
 * Parsing is one left-to-right scan of hand-written matchers, one per
 * pattern of §2 (no regex library: POSIX regex depends on the locale, and
 * the patterns are simple enough that each matcher shows it cannot
 * backtrack). Every matcher is linear in what it reads, and the three that
 * could read far ahead (a comment's end, a brace group's end, a tag's
 * attributes) are memoised, so no input is quadratic.
 *
 * Choices the document leaves open, shared with the Python twin (also in
 * /work/spec12-decisions.md):
 *  - order of work: scan, tag pairing (auto drop), accelerator, glossary,
 *    numbering and space flags; tags dropped by auto are not rescanned;
 *  - tag errors quote the tag's source bytes; a tag left open at the end is
 *    reported for the innermost one;
 *  - void tags with the html bit or auto (also with xml); tag names compare
 *    ASCII case-insensitively iff (html or auto) and not xml;
 *  - empty names in a format list are skipped;
 *  - more than S2S_SPANS_MAX spans is checked on the raw scan and again
 *    after the glossary ("more than 1024 protected spans");
 *  - an ordered conversion given another one's text (§7.2) also takes that
 *    one's space flags and source neighbours (§7.3);
 *  - render keeps a sentinel hypothesis as is only when it holds every
 *    sentinel of the sentence once, nothing else sentinel-like, properly
 *    nested; a run is stripped of ' ' only; no attention puts every span at
 *    the end; the accelerator's "word-initial" looks at the rendered byte
 *    before the occurrence.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s2s_spans.h"

#define NONE ((size_t)-1)

/* --- bytes and characters --------------------------------------------------------------- */

static bool is_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_alpha(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alnum(unsigned char c)
{
	return is_alpha(c) || is_digit(c);
}

static bool is_hex(unsigned char c)
{
	return is_digit(c) || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}

/* [A-Za-z0-9_]: printf names and the head of a brace group. */
static bool is_ident(unsigned char c)
{
	return is_alnum(c) || c == '_';
}

static unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* Length of the character at s[i] (1 for a stray byte: text may come from a detokenizer). */
static size_t char_len(const char *s, size_t n, size_t i)
{
	size_t k = s2s_utf8_char_len(s + i, n - i);
	return k ? k : 1;
}

/* Code point of the (valid) character at s[i]; a stray byte stands for itself. */
static uint32_t code_point(const char *s, size_t n, size_t i)
{
	const unsigned char *u = (const unsigned char *)s + i;
	size_t k = s2s_utf8_char_len(s + i, n - i);
	if (k <= 1)
		return u[0];
	uint32_t cp = u[0] & (0x7F >> k);
	for (size_t j = 1; j < k; j++)
		cp = (cp << 6) | (u[j] & 0x3F);
	return cp;
}

/* Start of the character that ends right before byte i (i > 0). */
static size_t char_before(const char *s, size_t i)
{
	size_t j = i - 1;
	while (j > 0 && i - j < 4 && ((unsigned char)s[j] & 0xC0) == 0x80)
		j--;
	return j;
}

/* §3 word characters. */
static bool is_word_cp(uint32_t cp)
{
	if (cp < 0x80)
		return is_ident((unsigned char)cp);
	if (cp >= 0xC0 && cp <= 0x24F)
		return cp != 0xD7 && cp != 0xF7;
	return cp >= 0x370 && cp <= 0x1FFF;
}

static bool word_before(const char *s, size_t n, size_t i)
{
	return i > 0 && is_word_cp(code_point(s, n, char_before(s, i)));
}

static bool word_at(const char *s, size_t n, size_t i)
{
	return i < n && is_word_cp(code_point(s, n, i));
}

/* Code points before byte i (messages count characters, not bytes). */
static size_t char_offset(const char *s, size_t i)
{
	size_t c = 0;
	for (size_t j = 0; j < i; j++)
		c += ((unsigned char)s[j] & 0xC0) != 0x80;
	return c;
}

/* --- format names (§1) ------------------------------------------------------------------ */

static const struct {
	const char *name;
	unsigned bit;
} format_names[] = {
	{"text", 0},           {"printf", S2S_FMT_PRINTF}, {"brace", S2S_FMT_BRACE},
	{"xml", S2S_FMT_XML},  {"html", S2S_FMT_HTML},     {"accelerator", S2S_FMT_ACCEL},
	{"auto", S2S_FMT_AUTO},
};

static int format_one(const char *s, size_t n, unsigned *out, s2s_error *err)
{
	while (n > 0 && *s == ' ')
		s++, n--;
	while (n > 0 && s[n - 1] == ' ')
		n--;
	if (n == 0) /* "printf," or "": empty names are skipped */
		return 0;
	for (size_t i = 0; i < sizeof format_names / sizeof format_names[0]; i++)
		if (strlen(format_names[i].name) == n && !memcmp(format_names[i].name, s, n)) {
			*out |= format_names[i].bit;
			return 0;
		}
	return s2s__error_set(err, S2S_EINVAL, "unknown format \"%.*s\"", (int)(n > 64 ? 64 : n),
	                      s);
}

int s2s_format_parse(const char *list, unsigned *out, s2s_error *err)
{
	unsigned bits = *out;
	for (const char *p = list;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		int rc = format_one(p, n, &bits, err);
		if (rc < 0)
			return rc;
		if (!comma)
			break;
		p = comma + 1;
	}
	*out = bits;
	return 0;
}

/* --- glossary (§3) ---------------------------------------------------------------------- */

/* 1..256 bytes, valid UTF-8, no control character. */
static int check_term(const char *s, size_t n, const char *what, const char *src,
                      s2s_error *err)
{
	if (n < 1 || n > S2S_GLOSSARY_MAX_BYTES)
		return s2s__error_set(err, S2S_EINVAL,
		                      "glossary term \"%.64s\": the %s must be 1 to %d bytes", src,
		                      what, S2S_GLOSSARY_MAX_BYTES);
	for (size_t i = 0; i < n;) {
		size_t k = s2s_utf8_char_len(s + i, n - i);
		if (k == 0)
			return s2s__error_set(err, S2S_EINVAL,
			                      "glossary term \"%.64s\": the %s is not valid UTF-8", src,
			                      what);
		if ((unsigned char)s[i] < 0x20)
			return s2s__error_set(err, S2S_EINVAL,
			                      "glossary term \"%.64s\": control characters are not "
			                      "allowed",
			                      src);
		i += k;
	}
	return 0;
}

static char *dup_bytes(const char *s, size_t n)
{
	char *c = malloc(n + 1);
	if (c) {
		memcpy(c, s, n);
		c[n] = '\0';
	}
	return c;
}

int s2s_glossary_add(s2s_glossary *g, const char *source, const char *target, s2s_error *err)
{
	size_t n = strlen(source);
	const char *s = source;
	while (n > 0 && is_ws((unsigned char)*s))
		s++, n--;
	while (n > 0 && is_ws((unsigned char)s[n - 1]))
		n--;
	if (g->n >= S2S_GLOSSARY_MAX_TERMS)
		return s2s__error_set(err, S2S_EINVAL, "glossary has more than %d terms",
		                      S2S_GLOSSARY_MAX_TERMS);
	int rc = check_term(s, n, "source term", source, err);
	if (rc == 0 && target)
		rc = check_term(target, strlen(target), "target", source, err);
	for (int i = 0; rc == 0 && i < g->n; i++)
		if (strlen(g->terms[i].source) == n && !memcmp(g->terms[i].source, s, n))
			rc = s2s__error_set(err, S2S_EINVAL,
			                    "glossary term \"%.64s\": duplicate source term", source);
	if (rc < 0)
		return rc;
	s2s_glossary_term *nt = realloc(g->terms, (size_t)(g->n + 1) * sizeof *nt);
	if (!nt)
		return s2s__error_set(err, S2S_ENOMEM, "out of memory for the glossary");
	g->terms = nt;
	s2s_glossary_term t = {dup_bytes(s, n), target ? strdup(target) : NULL};
	if (!t.source || (target && !t.target)) {
		free(t.source);
		free(t.target);
		return s2s__error_set(err, S2S_ENOMEM, "out of memory for the glossary");
	}
	g->terms[g->n++] = t;
	return 0;
}

void s2s_glossary_deinit(s2s_glossary *g)
{
	if (!g)
		return;
	for (int i = 0; i < g->n; i++) {
		free(g->terms[i].source);
		free(g->terms[i].target);
	}
	free(g->terms);
	memset(g, 0, sizeof *g);
}

/* --- the scan (§2) ---------------------------------------------------------------------- */

/* A span while parsing: bytes [start, end). */
typedef struct {
	s2s_span_kind kind;
	size_t start, end;
	int group;
	bool tag;        /* made by a tag (auto drops it when the markup is unbalanced) */
	size_t name_len; /* tags: the name's bytes, at start + 1 (open) or start + 2 (close) */
	int term;        /* glossary term, or -1 */
} raw_span;

typedef struct {
	raw_span *v;
	int n, cap;
} raw_list;

static int raw_push(raw_list *l, raw_span r)
{
	if (l->n == l->cap) {
		int cap = l->cap ? 2 * l->cap : 16;
		raw_span *v = realloc(l->v, (size_t)cap * sizeof *v);
		if (!v)
			return S2S_ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = r;
	return 0;
}

/* The scanner's state: the text and the memos that keep the scan linear. */
typedef struct {
	const char *s;
	size_t n;
	unsigned fmt;
	size_t cmt_from, cmt_at; /* "-->" searched from cmt_from: found at cmt_at (or NONE) */
	size_t *brace_close;     /* (n) matching '}' of each '{', NONE if none; lazily built */
	size_t *attr_memo;       /* (n) attribute walk result from an outside position: 0 unknown */
} scanner;

static bool fmt_xmlish(unsigned f)
{
	return f & (S2S_FMT_XML | S2S_FMT_HTML | S2S_FMT_AUTO);
}

static bool fmt_htmlish(unsigned f)
{
	return f & (S2S_FMT_HTML | S2S_FMT_AUTO);
}

/*
 * §2.1a. Comments are searched left to right, so the position of the next
 * "-->" found from one "<!--" serves every later one before it: each byte is
 * searched once.
 */
static size_t match_comment(scanner *sc, size_t i)
{
	const char *s = sc->s;
	if (sc->n - i < 4 || memcmp(s + i, "<!--", 4))
		return 0;
	size_t from = i + 4;
	bool cached = sc->cmt_from != NONE && sc->cmt_from <= from &&
	              (sc->cmt_at == NONE || sc->cmt_at >= from);
	if (!cached) {
		sc->cmt_at = NONE;
		for (size_t j = from; j + 3 <= sc->n; j++)
			if (s[j] == '-' && s[j + 1] == '-' && s[j + 2] == '>') {
				sc->cmt_at = j;
				break;
			}
		sc->cmt_from = from;
	}
	return sc->cmt_at == NONE ? 0 : sc->cmt_at + 3 - i;
}

static size_t name_end(const char *s, size_t n, size_t j)
{
	while (j < n && (is_alnum((unsigned char)s[j]) || strchr("_.:-", s[j])))
		j++;
	return j;
}

/* §2.1b `</name\s*>`. */
static size_t match_close(const scanner *sc, size_t i, size_t *name_len)
{
	const char *s = sc->s;
	size_t n = sc->n;
	if (n - i < 3 || s[i] != '<' || s[i + 1] != '/' || !is_alpha((unsigned char)s[i + 2]))
		return 0;
	size_t j = name_end(s, n, i + 3);
	*name_len = j - (i + 2);
	while (j < n && is_ws((unsigned char)s[j]))
		j++;
	return j < n && s[j] == '>' ? j + 1 - i : 0;
}

/*
 * One step of the attribute walk from an outside-quote position p: the next
 * outside position, or NONE when the walk ends (*end = the '>' or NONE).
 * A quoted value is skipped whole (it may hold '<' and '>'); an unclosed
 * quote fails the tag, as the regex does (it cannot backtrack into a match).
 */
static size_t attr_step(const scanner *sc, size_t p, size_t *end)
{
	const char *s = sc->s;
	*end = NONE;
	if (p >= sc->n || s[p] == '<')
		return NONE;
	if (s[p] == '>') {
		*end = p;
		return NONE;
	}
	if (s[p] != '"' && s[p] != '\'')
		return p + 1;
	const char *q = memchr(s + p + 1, s[p], sc->n - p - 1);
	return q ? (size_t)(q - s) + 1 : NONE;
}

/*
 * The '>' that ends the attributes starting at outside position j, or NONE.
 * Two walks that meet at an outside position continue alike, so each
 * position remembers its result (attr_memo: 0 unknown, 1 none, else '>' + 2)
 * and a walk stops at the first remembered one: every byte is walked a
 * bounded number of times whatever the input.
 */
static size_t attrs_end(scanner *sc, size_t j)
{
	if (!sc->attr_memo && !(sc->attr_memo = calloc(sc->n + 1, sizeof *sc->attr_memo)))
		return NONE - 1; /* out of memory, reported by the caller */
	size_t p = j, end = NONE, memo = 0;
	while (p != NONE && p <= sc->n && !(memo = sc->attr_memo[p]))
		p = attr_step(sc, p, &end);
	size_t result = memo ? (memo == 1 ? NONE : memo - 2) : end;
	size_t stop = p;
	for (p = j; p != stop && p != NONE && p <= sc->n; p = attr_step(sc, p, &end))
		sc->attr_memo[p] = result == NONE ? 1 : result + 2;
	return result;
}

/*
 * §2.1c `<name(\s(attribute chars | quoted)*)?/?>`: an open tag's length
 * (0: none); *kind says open or placeholder. With attributes the walk
 * already takes a '/' before '>', so "/?" only matters right after the name.
 */
static size_t match_open(scanner *sc, size_t i, size_t *name_len, s2s_span_kind *kind, int *rc)
{
	const char *s = sc->s;
	size_t n = sc->n;
	if (n - i < 3 || s[i] != '<' || !is_alpha((unsigned char)s[i + 1]))
		return 0;
	size_t j = name_end(s, n, i + 2), gt = NONE;
	*name_len = j - (i + 1);
	if (j < n && s[j] == '>')
		gt = j;
	else if (j + 1 < n && s[j] == '/' && s[j + 1] == '>')
		gt = j + 1;
	else if (j < n && is_ws((unsigned char)s[j]))
		gt = attrs_end(sc, j);
	if (gt == NONE - 1)
		*rc = S2S_ENOMEM;
	if (gt == NONE || gt == NONE - 1)
		return 0;
	*kind = S2S_SPAN_OPEN;
	if (s[gt - 1] == '/')
		*kind = S2S_SPAN_PLACEHOLDER;
	static const char *const voids[] = {"area",  "base", "br",   "col",   "embed",
	                                    "hr",    "img",  "input", "link", "meta",
	                                    "param", "source", "track", "wbr"};
	for (size_t v = 0; fmt_htmlish(sc->fmt) && v < sizeof voids / sizeof voids[0]; v++) {
		size_t k = strlen(voids[v]);
		bool same = k == *name_len;
		for (size_t c = 0; same && c < k; c++)
			same = lower((unsigned char)s[i + 1 + c]) == (unsigned char)voids[v][c];
		if (same)
			*kind = S2S_SPAN_PLACEHOLDER;
	}
	return gt + 1 - i;
}

/* §2.1d `&(?:[A-Za-z][A-Za-z0-9]*|#[0-9]+|#[xX][0-9A-Fa-f]+);`. */
static size_t match_entity(const char *s, size_t n, size_t i)
{
	size_t j = i + 1;
	if (s[i] != '&' || j >= n)
		return 0;
	if (is_alpha((unsigned char)s[j])) {
		while (j < n && is_alnum((unsigned char)s[j]))
			j++;
	} else if (s[j] == '#' && j + 1 < n && is_digit((unsigned char)s[j + 1])) {
		for (j++; j < n && is_digit((unsigned char)s[j]);)
			j++;
	} else if (s[j] == '#' && j + 1 < n && (s[j + 1] == 'x' || s[j + 1] == 'X')) {
		size_t k = j + 2;
		for (j = k; j < n && is_hex((unsigned char)s[j]);)
			j++;
		if (j == k)
			return 0;
	} else {
		return 0;
	}
	return j < n && s[j] == ';' ? j + 1 - i : 0;
}

/* §2.1: comment, close tag, open tag, entity. */
static size_t match_xml(scanner *sc, size_t i, raw_span *r, int *rc)
{
	size_t len;
	r->kind = S2S_SPAN_PLACEHOLDER;
	if ((len = match_comment(sc, i)))
		return len;
	if ((len = match_close(sc, i, &r->name_len))) {
		r->kind = S2S_SPAN_CLOSE;
		r->tag = true;
		return len;
	}
	if ((len = match_open(sc, i, &r->name_len, &r->kind, rc))) {
		r->tag = true;
		return len;
	}
	return match_entity(sc->s, sc->n, i);
}

/*
 * The balanced end of every '{' at once, with a stack: counting from a '{'
 * until the depth is back to 0 meets exactly the '}' that pops it. One pass
 * instead of one forward count per '{' (quadratic on "{a{a{a...").
 */
static int build_brace_close(scanner *sc)
{
	size_t *stack = malloc((sc->n + 1) * sizeof *stack);
	sc->brace_close = malloc((sc->n + 1) * sizeof *sc->brace_close);
	if (!stack || !sc->brace_close) {
		free(stack);
		return S2S_ENOMEM;
	}
	size_t top = 0;
	for (size_t i = 0; i < sc->n; i++) {
		sc->brace_close[i] = NONE;
		if (sc->s[i] == '{')
			stack[top++] = i;
		else if (sc->s[i] == '}' && top > 0)
			sc->brace_close[stack[--top]] = i;
	}
	free(stack);
	return 0;
}

/* §2.2: escaped braces, or a balanced group whose content starts with a name. */
static size_t match_brace(scanner *sc, size_t i, raw_span *r, int *rc)
{
	const char *s = sc->s;
	if (i + 1 < sc->n && ((s[i] == '{' && s[i + 1] == '{') || (s[i] == '}' && s[i + 1] == '}')))
		return 2;
	if (s[i] != '{')
		return 0;
	if (!sc->brace_close && (*rc = build_brace_close(sc)) < 0)
		return 0;
	size_t close = sc->brace_close[i];
	if (close == NONE)
		return 0;
	size_t k = i + 1;
	while (k < close && is_ident((unsigned char)s[k]))
		k++;
	if (k < close && !strchr("!:,.[", s[k]))
		return 0;
	r->group = close == i + 1 ? S2S_SPAN_ORDERED_BRACE : S2S_SPAN_FREE;
	return close + 1 - i;
}

static size_t skip_digits(const char *s, size_t n, size_t j)
{
	while (j < n && is_digit((unsigned char)s[j]))
		j++;
	return j;
}

/* `[0-9]+|\*(?:[0-9]+\$)?` at j: its end, or j when absent. */
static size_t match_count(const char *s, size_t n, size_t j)
{
	if (j < n && is_digit((unsigned char)s[j]))
		return skip_digits(s, n, j);
	if (j >= n || s[j] != '*')
		return j;
	size_t k = skip_digits(s, n, j + 1);
	return k > j + 1 && k < n && s[k] == '$' ? k + 1 : j + 1;
}

/*
 * `(hh|ll|I64|I32|[hlLqjztI])?([diouxXeEfFgGaAcspnCSmr])` at j: the end, or
 * 0. The regex tries each length in order, then none, each followed by a
 * conversion; no length letter is a conversion, so this is its only choice.
 */
static size_t match_conversion(const char *s, size_t n, size_t j)
{
	static const char *const lens[] = {"hh", "ll", "I64", "I32", "h", "l", "L",
	                                   "q",  "j",  "z",   "t",   "I", ""};
	for (size_t x = 0; x < sizeof lens / sizeof lens[0]; x++) {
		size_t k = strlen(lens[x]);
		if (j + k < n && !memcmp(s + j, lens[x], k) && s[j + k] &&
		    strchr("diouxXeEfFgGaAcspnCSmr", s[j + k]))
			return j + k + 1;
	}
	return 0;
}

/*
 * §2.3b. Each optional part is taken whenever it is there: the regex could
 * only backtrack out of one into a position where a conversion letter would
 * have to be a digit, '$', '(' or '.', which none is.
 */
static size_t match_printf(const scanner *sc, size_t i, raw_span *r)
{
	const char *s = sc->s;
	size_t n = sc->n, j = i + 1;
	if (s[i] != '%' || j >= n)
		return 0;
	if (s[j] == '%')
		return 2;
	bool named = false;
	size_t k = skip_digits(s, n, j);
	if (k > j && k < n && s[k] == '$') {
		j = k + 1;
		named = true;
	} else if (s[j] == '(') {
		for (k = j + 1; k < n && is_ident((unsigned char)s[k]);)
			k++;
		if (k > j + 1 && k < n && s[k] == ')') {
			j = k + 1;
			named = true;
		}
	}
	/* AUTO flavour: no ' ' or '\'' flag, so "100% sure" stays text */
	bool auto_flavour = (sc->fmt & S2S_FMT_AUTO) && !(sc->fmt & S2S_FMT_PRINTF);
	const char *flags = auto_flavour ? "-+#0" : "-+ #0'";
	while (j < n && s[j] && strchr(flags, s[j]))
		j++;
	j = match_count(s, n, j);
	if (j < n && s[j] == '.') {
		size_t p = match_count(s, n, j + 1);
		if (p > j + 1)
			j = p;
	}
	size_t end = match_conversion(s, n, j);
	if (!end)
		return 0;
	r->group = named ? S2S_SPAN_FREE : S2S_SPAN_ORDERED_PRINTF;
	return end - i;
}

/* The span at byte i, in §2's order; 0 when none. */
static size_t match_at(scanner *sc, size_t i, raw_span *r, int *rc)
{
	size_t len = 0;
	unsigned f = sc->fmt;
	*r = (raw_span){.kind = S2S_SPAN_PLACEHOLDER, .start = i, .term = -1};
	if (fmt_xmlish(f))
		len = match_xml(sc, i, r, rc);
	if (!len && *rc == 0 && (f & (S2S_FMT_BRACE | S2S_FMT_AUTO)))
		len = match_brace(sc, i, r, rc);
	if (!len && *rc == 0 && (f & (S2S_FMT_PRINTF | S2S_FMT_AUTO))) {
		r->kind = S2S_SPAN_PLACEHOLDER;
		len = match_printf(sc, i, r);
	}
	r->end = i + len;
	return len;
}

static int too_many(s2s_error *err)
{
	return s2s__error_set(err, S2S_ETOOLONG, "more than %d protected spans", S2S_SPANS_MAX);
}

static int scan(scanner *sc, raw_list *l, s2s_error *err)
{
	int rc = 0;
	for (size_t i = 0; i < sc->n;) {
		raw_span r;
		size_t len = match_at(sc, i, &r, &rc);
		if (rc < 0)
			return s2s__error_set(err, rc, "out of memory while parsing");
		if (!len) {
			i += char_len(sc->s, sc->n, i);
			continue;
		}
		if (l->n == S2S_SPANS_MAX)
			return too_many(err);
		if (raw_push(l, r) < 0)
			return s2s__error_set(err, S2S_ENOMEM, "out of memory while parsing");
		i += len;
	}
	return 0;
}

/* --- tag pairing (§2) ------------------------------------------------------------------- */

static bool same_name(const char *s, const raw_span *o, const raw_span *c, bool fold)
{
	if (o->name_len != c->name_len)
		return false;
	const char *a = s + o->start + 1, *b = s + c->start + 2;
	for (size_t k = 0; k < o->name_len; k++)
		if (fold ? lower((unsigned char)a[k]) != lower((unsigned char)b[k]) : a[k] != b[k])
			return false;
	return true;
}

/* `tag "</b>" at character 12 has no opening tag`: the tag's source bytes, its character offset. */
static int tag_error(s2s_error *err, const char *s, const raw_span *t, const char *what)
{
	return s2s__error_set(err, S2S_EINVAL, "tag \"%.*s\" at character %zu %s",
	                      (int)(t->end - t->start), s + t->start, char_offset(s, t->start), what);
}

/* `tag "</i>" at character 9 closes "<b>"`. */
static int tag_mismatch(s2s_error *err, const char *s, const raw_span *t, const raw_span *open)
{
	return s2s__error_set(err, S2S_EINVAL, "tag \"%.*s\" at character %zu closes \"%.*s\"",
	                      (int)(t->end - t->start), s + t->start, char_offset(s, t->start),
	                      (int)(open->end - open->start), s + open->start);
}

/*
 * Pairs OPEN and CLOSE with a stack. Returns 0 when balanced, else the
 * S2S_EINVAL of the first problem (the caller passes a scratch err under
 * auto alone, where an unbalanced text is not an error).
 */
static int pair_tags(const char *s, const raw_list *l, unsigned fmt, s2s_error *err)
{
	bool fold = fmt_htmlish(fmt) && !(fmt & S2S_FMT_XML);
	int *stack = malloc(((size_t)l->n + 1) * sizeof *stack), top = 0, rc = 0;
	if (!stack)
		return s2s__error_set(err, S2S_ENOMEM, "out of memory while parsing");
	for (int i = 0; rc == 0 && i < l->n; i++) {
		const raw_span *r = &l->v[i];
		if (r->kind == S2S_SPAN_OPEN)
			stack[top++] = i;
		else if (r->kind == S2S_SPAN_CLOSE && top == 0)
			rc = tag_error(err, s, r, "has no opening tag");
		else if (r->kind == S2S_SPAN_CLOSE && !same_name(s, &l->v[stack[top - 1]], r, fold))
			rc = tag_mismatch(err, s, r, &l->v[stack[top - 1]]);
		else if (r->kind == S2S_SPAN_CLOSE)
			top--;
	}
	if (rc == 0 && top > 0)
		rc = tag_error(err, s, &l->v[stack[top - 1]], "is never closed");
	free(stack);
	return rc;
}

/* auto alone, unbalanced: every tag span goes back to being text (no rescan). */
static void drop_tags(raw_list *l)
{
	int k = 0;
	for (int i = 0; i < l->n; i++)
		if (!l->v[i].tag)
			l->v[k++] = l->v[i];
	l->n = k;
}

static int pair_or_drop(const char *s, raw_list *l, unsigned fmt, s2s_error *err)
{
	s2s_error quiet = {0};
	bool strict = fmt & (S2S_FMT_XML | S2S_FMT_HTML);
	int rc = pair_tags(s, l, fmt, strict ? err : &quiet);
	if (rc == S2S_EINVAL && !strict) {
		drop_tags(l);
		rc = 0;
	}
	if (rc == S2S_ENOMEM)
		s2s__error_set(err, rc, "out of memory while parsing");
	return rc;
}

/* --- accelerator (§9) ------------------------------------------------------------------- */

/* Whitespace-separated words of the source (auto's "at most 5 words"). */
static int count_words(const char *s, size_t n)
{
	int w = 0;
	for (size_t i = 0; i < n; i++)
		w += !is_ws((unsigned char)s[i]) && (i == 0 || is_ws((unsigned char)s[i - 1]));
	return w;
}

/*
 * Candidates outside spans, left to right: `__` and `&&` are escapes (both
 * bytes skipped), a marker followed by an ASCII alnum or a non-ASCII char
 * that does not start a span is one. accelerator: the first; auto alone:
 * only a lone candidate in a short text (a longer one is prose with "&").
 */
static bool find_accel(const char *s, size_t n, const raw_list *l, unsigned fmt, size_t *pos)
{
	if (!(fmt & (S2S_FMT_ACCEL | S2S_FMT_AUTO)))
		return false;
	int count = 0, si = 0;
	size_t first = NONE;
	for (size_t i = 0; i < n;) {
		while (si < l->n && l->v[si].end <= i)
			si++;
		if (si < l->n && l->v[si].start <= i) {
			i = l->v[si].end;
			continue;
		}
		char c = s[i];
		if ((c == '_' || c == '&') && i + 1 < n && s[i + 1] == c) {
			i += 2;
			continue;
		}
		unsigned char next = i + 1 < n ? (unsigned char)s[i + 1] : 0;
		bool starts_span = si < l->n && l->v[si].start == i + 1;
		if ((c == '_' || c == '&') && (next >= 0x80 || is_alnum(next)) && !starts_span &&
		    count++ == 0)
			first = i;
		i += char_len(s, n, i);
	}
	/* *pos only when found: the glossary avoids the marker, not a mere candidate */
	bool found = (fmt & S2S_FMT_ACCEL) ? count > 0 : count == 1 && count_words(s, n) <= 5;
	if (found)
		*pos = first;
	return found;
}

/* --- glossary matching (§3) ------------------------------------------------------------- */

/* Terms bucketed by first byte, so a position costs only the terms that can start there. */
typedef struct {
	int start[257];
	int *order; /* term indices sorted by first byte */
} term_index;

static int term_index_build(const s2s_glossary *g, term_index *ix)
{
	memset(ix->start, 0, sizeof ix->start);
	if (!(ix->order = malloc(((size_t)g->n + 1) * sizeof *ix->order)))
		return S2S_ENOMEM;
	for (int i = 0; i < g->n; i++)
		ix->start[(unsigned char)g->terms[i].source[0] + 1]++;
	for (int b = 0; b < 256; b++)
		ix->start[b + 1] += ix->start[b];
	int fill[256];
	memcpy(fill, ix->start, sizeof fill);
	for (int i = 0; i < g->n; i++)
		ix->order[fill[(unsigned char)g->terms[i].source[0]]++] = i;
	return 0;
}

/* The longest term at p that fits before `limit`, avoids the marker and ends a word; -1. */
static int best_term(const char *s, size_t n, size_t p, size_t limit, size_t accel,
                     const s2s_glossary *g, const term_index *ix)
{
	int best = -1;
	size_t best_len = 0;
	unsigned char b = (unsigned char)s[p];
	for (int x = ix->start[b]; x < ix->start[b + 1]; x++) {
		const char *t = g->terms[ix->order[x]].source;
		size_t k = strlen(t);
		if (k <= best_len || p + k > limit || memcmp(s + p, t, k))
			continue;
		if ((accel != NONE && accel >= p && accel < p + k) || word_at(s, n, p + k))
			continue;
		best = ix->order[x];
		best_len = k;
	}
	return best;
}

/* Merges the glossary's matches into the (sorted) spans of l. */
static int apply_glossary(const char *s, size_t n, raw_list *l, const s2s_glossary *g,
                          size_t accel, s2s_error *err)
{
	term_index ix;
	raw_list out = {0};
	int rc = term_index_build(g, &ix), si = 0;
	for (size_t p = 0; rc == 0 && p < n;) {
		if (si < l->n && l->v[si].start <= p) {
			rc = raw_push(&out, l->v[si]);
			p = l->v[si++].end;
			continue;
		}
		size_t limit = si < l->n ? l->v[si].start : n;
		int t = word_before(s, n, p) ? -1 : best_term(s, n, p, limit, accel, g, &ix);
		if (t < 0) {
			p += char_len(s, n, p);
			continue;
		}
		size_t k = strlen(g->terms[t].source);
		rc = raw_push(&out, (raw_span){.kind = S2S_SPAN_PLACEHOLDER, .start = p,
		                               .end = p + k, .term = t});
		p += k;
	}
	free(ix.order);
	if (rc < 0) {
		free(out.v);
		return s2s__error_set(err, S2S_ENOMEM, "out of memory while parsing");
	}
	free(l->v);
	*l = out;
	return l->n > S2S_SPANS_MAX ? too_many(err) : 0;
}

/* --- span records (§4) ------------------------------------------------------------------ */

static int make_record(const char *s, size_t n, const raw_span *r, const s2s_glossary *g,
                       s2s_span *o)
{
	*o = (s2s_span){.kind = r->kind, .start = r->start, .len = r->end - r->start,
	                .partner = -1, .group = r->group, .glossary = r->term >= 0};
	o->space_before = r->start > 0 && is_ws((unsigned char)s[r->start - 1]);
	o->space_after = r->end < n && is_ws((unsigned char)s[r->end]);
	if (r->term >= 0) {
		const s2s_glossary_term *t = &g->terms[r->term];
		if (!(o->output = strdup(t->target ? t->target : t->source)))
			return S2S_ENOMEM;
	}
	return 0;
}

/* Partners (a balanced stack pass), sentinel numbers in source / OPEN order. */
static void number_spans(s2s_spans *sp, int *stack)
{
	int top = 0;
	for (int i = 0; i < sp->n; i++) {
		s2s_span *x = &sp->spans[i];
		if (x->kind == S2S_SPAN_PLACEHOLDER) {
			x->sentinel = sp->n_ph++;
		} else if (x->kind == S2S_SPAN_OPEN) {
			x->sentinel = sp->n_pairs++;
			stack[top++] = i;
		} else {
			int o = stack[--top];
			x->partner = o;
			x->sentinel = sp->spans[o].sentinel;
			sp->spans[o].partner = i;
		}
	}
}

static int make_records(s2s_spans *sp, const raw_list *l, const s2s_glossary *g)
{
	sp->spans = calloc((size_t)l->n + 1, sizeof *sp->spans);
	int *stack = malloc(((size_t)l->n + 1) * sizeof *stack);
	int rc = sp->spans && stack ? 0 : S2S_ENOMEM;
	for (int i = 0; rc == 0 && i < l->n; i++, sp->n++)
		rc = make_record(sp->text, sp->len, &l->v[i], g, &sp->spans[i]);
	if (rc == 0)
		number_spans(sp, stack);
	free(stack);
	return rc;
}

static int parse_spans(s2s_spans *out, unsigned formats, const s2s_glossary *g, s2s_error *err)
{
	scanner sc = {.s = out->text, .n = out->len, .fmt = formats, .cmt_from = NONE};
	raw_list l = {0};
	int rc = scan(&sc, &l, err);
	free(sc.brace_close);
	free(sc.attr_memo);
	if (rc == 0)
		rc = pair_or_drop(out->text, &l, formats, err);
	size_t accel = NONE;
	if (rc == 0 && find_accel(out->text, out->len, &l, formats, &accel)) {
		out->has_accel = true;
		out->accel_pos = accel;
		out->accel_marker = out->text[accel];
	}
	if (rc == 0 && g && g->n > 0)
		rc = apply_glossary(out->text, out->len, &l, g, accel, err);
	if (rc == 0 && make_records(out, &l, g) < 0)
		rc = s2s__error_set(err, S2S_ENOMEM, "out of memory while parsing");
	free(l.v);
	return rc;
}

int s2s_spans_parse(const char *text, size_t len, unsigned formats, const s2s_glossary *g,
                    s2s_spans *out, s2s_error *err)
{
	memset(out, 0, sizeof *out);
	/* refuse what s2s_tokenize would refuse, before any span is looked for */
	int rc = s2s_utf8_validate(text, len, err);
	if (rc < 0)
		return rc;
	if (!(out->text = dup_bytes(text, len)))
		return s2s__error_set(err, S2S_ENOMEM, "out of memory while parsing");
	out->len = len;
	rc = parse_spans(out, formats, g, err);
	if (rc < 0) {
		s2s_spans_deinit(out);
		out->text = NULL;
	}
	return rc;
}

void s2s_spans_deinit(s2s_spans *sp)
{
	if (!sp)
		return;
	for (int i = 0; i < sp->n; i++)
		free((char *)sp->spans[i].output);
	free(sp->spans);
	free(sp->text);
	memset(sp, 0, sizeof *sp);
}

/* --- the masked source (§5) ------------------------------------------------------------- */

/* Appends one token (the piece is taken over) to a growing s2s_tokens. */
static int tok_push(s2s_masked *m, int *cap, char *piece, int32_t id, int32_t word, bool text)
{
	s2s_tokens *t = &m->tok;
	if (t->n == *cap) {
		int c = *cap ? 2 * *cap : 32;
		char **p = realloc(t->pieces, (size_t)c * sizeof *p);
		if (p)
			t->pieces = p;
		int32_t *ids = p ? realloc(t->ids, (size_t)c * sizeof *ids) : NULL;
		if (ids)
			t->ids = ids;
		int32_t *w = ids ? realloc(t->word, (size_t)c * sizeof *w) : NULL;
		if (w)
			t->word = w;
		bool *x = w ? realloc(m->is_text, (size_t)c * sizeof *x) : NULL;
		if (x)
			m->is_text = x;
		if (!x) {
			free(piece);
			return S2S_ENOMEM;
		}
		*cap = c;
	}
	t->pieces[t->n] = piece;
	t->ids[t->n] = id;
	t->word[t->n] = word;
	m->is_text[t->n++] = text;
	return 0;
}

/* Builder state of one s2s_spans_mask call. */
typedef struct {
	const s2s_spans *sp;
	const s2s_tokenizer *tok;
	const s2s_vocab *vocab;
	s2s_masked *m;
	int cap;
} masker;

/*
 * One text segment [a, b), tokenized alone without the accelerator marker
 * and without the tokenizer's final </s>: its words continue the count.
 */
static int mask_segment(masker *mk, size_t a, size_t b, s2s_error *err)
{
	const s2s_spans *sp = mk->sp;
	char *buf = malloc(b - a + 1);
	if (!buf)
		return s2s__error_set(err, S2S_ENOMEM, "out of memory while masking");
	size_t k = 0;
	for (size_t i = a; i < b; i++)
		if (!(sp->has_accel && i == sp->accel_pos))
			buf[k++] = sp->text[i];
	s2s_tokens t;
	int rc = s2s_tokenize(mk->tok, mk->vocab, buf, k, &t, err);
	free(buf);
	int keep = t.n, words = t.n_words;
	if (rc == 0 && s2s_tokenizer_appends_eos(mk->tok) && keep > 0)
		keep--, words--;
	int32_t base = mk->m->tok.n_words;
	for (int i = 0; i < t.n; i++) {
		if (rc == 0 && i < keep) {
			rc = tok_push(mk->m, &mk->cap, t.pieces[i], t.ids[i], base + t.word[i], true);
			t.pieces[i] = NULL; /* taken over (freed by tok_push on failure) */
		}
	}
	if (rc == 0)
		mk->m->tok.n_words += words;
	if (rc == S2S_ENOMEM)
		s2s__error_set(err, rc, "out of memory while masking");
	s2s_tokens_deinit(&t);
	return rc;
}

/* A span's sentinel (sentinel path): "<phk>", "<tk>" or "</tk>", a word of its own. */
static int mask_sentinel(masker *mk, const s2s_sentinels *sent, int k, s2s_error *err)
{
	const s2s_span *x = &mk->sp->spans[k];
	char piece[32];
	int32_t id;
	if (x->kind == S2S_SPAN_PLACEHOLDER) {
		snprintf(piece, sizeof piece, "<ph%d>", x->sentinel);
		id = sent->src_ph[x->sentinel];
	} else if (x->kind == S2S_SPAN_OPEN) {
		snprintf(piece, sizeof piece, "<t%d>", x->sentinel);
		id = sent->src_open[x->sentinel];
	} else {
		snprintf(piece, sizeof piece, "</t%d>", x->sentinel);
		id = sent->src_close[x->sentinel];
	}
	char *p = strdup(piece);
	s2s_masked *m = mk->m;
	m->span_token[k] = m->tok.n;
	if (!p || tok_push(m, &mk->cap, p, id, m->tok.n_words++, false) < 0)
		return s2s__error_set(err, S2S_ENOMEM, "out of memory while masking");
	return 0;
}

/* span_left / span_right: the text tokens around each span (none: -1). */
static void mask_neighbours(s2s_masked *m, const int32_t *after, int n_spans)
{
	int32_t next = -1;
	int k = n_spans - 1;
	for (int32_t i = m->tok.n; i >= 0; i--) {
		for (; k >= 0 && after[k] == i; k--)
			m->span_right[k] = next;
		if (i > 0 && m->is_text[i - 1])
			next = i - 1;
	}
}

static int mask_walk(masker *mk, const s2s_sentinels *sent, int32_t *after, s2s_error *err)
{
	const s2s_spans *sp = mk->sp;
	s2s_masked *m = mk->m;
	size_t pos = 0;
	int32_t last_text = -1;
	for (int k = 0; k <= sp->n; k++) {
		size_t end = k < sp->n ? sp->spans[k].start : sp->len;
		int rc = mask_segment(mk, pos, end, err);
		if (rc < 0)
			return rc;
		if (m->tok.n > 0 && m->is_text[m->tok.n - 1])
			last_text = m->tok.n - 1;
		if (k == sp->n)
			break;
		m->span_left[k] = last_text;
		if (m->sentinel_path && (rc = mask_sentinel(mk, sent, k, err)) < 0)
			return rc;
		after[k] = m->tok.n; /* the first token after the span */
		pos = sp->spans[k].start + sp->spans[k].len;
	}
	return 0;
}

static bool use_sentinels(const s2s_spans *sp, const s2s_sentinels *sent)
{
	return sent && (sent->n_ph >= 1 || sent->n_pairs >= 1) && sp->n_ph <= sent->n_ph &&
	       sp->n_pairs <= sent->n_pairs;
}

int s2s_spans_mask(const s2s_spans *sp, const s2s_tokenizer *src_tok, const s2s_vocab *src_vocab,
                   const s2s_sentinels *sent, s2s_masked *out, s2s_error *err)
{
	memset(out, 0, sizeof *out);
	size_t ns = (size_t)sp->n + 1;
	out->span_token = malloc(ns * sizeof *out->span_token);
	out->span_left = malloc(ns * sizeof *out->span_left);
	out->span_right = malloc(ns * sizeof *out->span_right);
	int32_t *after = malloc(ns * sizeof *after);
	if (!out->span_token || !out->span_left || !out->span_right || !after) {
		free(after);
		return s2s__error_set(err, S2S_ENOMEM, "out of memory while masking");
	}
	for (int k = 0; k < sp->n; k++)
		out->span_token[k] = out->span_left[k] = out->span_right[k] = -1;
	out->sentinel_path = use_sentinels(sp, sent);
	if (out->sentinel_path) {
		out->n_ph = sp->n_ph;
		out->n_pairs = sp->n_pairs;
	}
	masker mk = {sp, src_tok, src_vocab, out, 0};
	int rc = mask_walk(&mk, sent, after, err);
	if (rc == 0)
		mask_neighbours(out, after, sp->n);
	free(after);
	/* nothing but </s> left: nothing to translate, the source is the output */
	out->passthrough = rc == 0 && out->tok.n == 0;
	if (rc == 0 && s2s_tokenizer_appends_eos(src_tok)) {
		char *p = strdup("</s>");
		if (!p || tok_push(out, &mk.cap, p, S2S_EOS, out->tok.n_words++, false) < 0)
			rc = s2s__error_set(err, S2S_ENOMEM, "out of memory while masking");
	}
	return rc;
}

void s2s_masked_deinit(s2s_masked *m)
{
	if (!m)
		return;
	s2s_tokens_deinit(&m->tok);
	free(m->span_token);
	free(m->span_left);
	free(m->span_right);
	free(m->is_text);
	memset(m, 0, sizeof *m);
}

/* --- rendering: items (§7.1) ------------------------------------------------------------ */

/* One element of the output: a target token (its hypothesis index) or a span. */
typedef struct {
	bool span;
	int idx;
} item;

/* State of one s2s_spans_render call. */
typedef struct {
	const s2s_spans *sp;
	const s2s_masked *ms;
	const s2s_tokenizer *tok;
	const char *const *pieces;
	int n;
	const float *attn;
	int n_src;
	int *stands_for; /* (n) span a sentinel token stands for; -1 text; -2 other sentinel */
	item *items;     /* (n + spans) the output in order */
	int n_items;
} renderer;

/* "<phK>" 0, "<tK>" 1, "</tK>" 2 (K without leading zeros), -1 for any other piece. */
static int sentinel_piece(const char *p, long *k)
{
	int kind = !strncmp(p, "<ph", 3) ? 0 : !strncmp(p, "<t", 2) ? 1 : !strncmp(p, "</t", 3) ? 2 : -1;
	if (kind < 0)
		return -1;
	const char *d = p + (kind == 1 ? 2 : 3), *e = d;
	*k = 0;
	for (; is_digit((unsigned char)*e); e++) /* saturates: a huge K is just out of range */
		*k = *k < 100000000 ? *k * 10 + (*e - '0') : *k;
	if (e == d || *e != '>' || e[1] || (*d == '0' && e - d > 1))
		return -1;
	return kind;
}

/* Which span each sentinel-like token of the hypothesis stands for. */
static int classify_tokens(renderer *r)
{
	const s2s_spans *sp = r->sp;
	int *by[3];
	for (int c = 0; c < 3; c++)
		by[c] = malloc(((size_t)sp->n + 1) * sizeof *by[c]);
	r->stands_for = malloc(((size_t)r->n + 1) * sizeof *r->stands_for);
	int rc = by[0] && by[1] && by[2] && r->stands_for ? 0 : S2S_ENOMEM;
	for (int i = 0; rc == 0 && i < sp->n; i++)
		by[sp->spans[i].kind][sp->spans[i].sentinel] = i;
	int lim[3] = {sp->n_ph, sp->n_pairs, sp->n_pairs};
	for (int i = 0; rc == 0 && i < r->n; i++) {
		long k;
		int c = sentinel_piece(r->pieces[i], &k);
		r->stands_for[i] = c < 0 ? -1 : k < lim[c] ? by[c][k] : -2;
	}
	for (int c = 0; c < 3; c++)
		free(by[c]);
	return rc;
}

/*
 * A sentinel hypothesis is used as it is only when it holds each span's
 * sentinel once, no other sentinel, and its tags nest (what the search
 * constraint of §6 guarantees for a finished hypothesis).
 */
static bool sentinels_complete(const renderer *r, int *seen, int *stack)
{
	int top = 0, found = 0;
	memset(seen, 0, ((size_t)r->sp->n + 1) * sizeof *seen);
	for (int i = 0; i < r->n; i++) {
		int s = r->stands_for[i];
		if (s == -2 || (s >= 0 && seen[s]++))
			return false;
		if (s < 0)
			continue;
		found++;
		if (r->sp->spans[s].kind == S2S_SPAN_OPEN)
			stack[top++] = s;
		else if (r->sp->spans[s].kind == S2S_SPAN_CLOSE &&
		         (top == 0 || stack[--top] != r->sp->spans[s].partner))
			return false;
	}
	return found == r->sp->n && top == 0;
}

static void items_as_is(renderer *r, int32_t *span_token)
{
	for (int i = 0; i < r->n; i++) {
		int s = r->stands_for[i];
		r->items[r->n_items++] = (item){s >= 0, s >= 0 ? s : i};
		if (s >= 0)
			span_token[s] = i;
	}
}

/* --- rendering: alignment reinsertion (§8) ---------------------------------------------- */

/* What placement needs: the text tokens, their words, their attention. */
typedef struct {
	const renderer *r;
	int m;           /* text tokens of the hypothesis */
	int *tt;         /* (m) their hypothesis indices */
	int *ws, *we;    /* (m) the word of each: [ws, we) */
	int *row_max;    /* (m) argmax over the source of each row */
	bool attn;       /* attention usable: placement by it, else everything at the end */
	int *rs, *re;    /* (spans) placed ranges (placeholders and OPENs) */
	int *kids;       /* (spans) children of each node, grouped by parent */
	int *kid_at;     /* (spans + 2) start of each parent's group in kids; root = spans */
} placer;

static const float *att_row(const placer *pl, int k)
{
	return pl->r->attn + (size_t)pl->r->n_src * (size_t)pl->tt[k];
}

static bool glued(const char *pair, const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	return strlen(pair) == la + lb && !memcmp(pair, a, la) && !memcmp(pair + la, b, lb);
}

/*
 * Words of the target: a boundary before token k iff detokenizing the pair
 * differs from the two tokens detokenized apart (works for every
 * detokenizer: marks, separators, spaces). 2m - 1 detokenize calls.
 */
static int word_bounds(placer *pl)
{
	const char *const *p = pl->r->pieces;
	char *prev = pl->m ? s2s_detokenize(pl->r->tok, &p[pl->tt[0]], 1) : NULL;
	int rc = pl->m && !prev ? S2S_ENOMEM : 0;
	for (int k = 1; rc == 0 && k < pl->m; k++) {
		const char *two[2] = {p[pl->tt[k - 1]], p[pl->tt[k]]};
		char *cur = s2s_detokenize(pl->r->tok, &two[1], 1);
		char *pair = s2s_detokenize(pl->r->tok, two, 2);
		if (!cur || !pair)
			rc = S2S_ENOMEM;
		pl->ws[k] = rc == 0 && glued(pair, prev, cur) ? pl->ws[k - 1] : k;
		free(pair);
		free(prev);
		prev = cur;
	}
	free(prev);
	for (int k = pl->m - 1; k >= 0; k--)
		pl->we[k] = k + 1 < pl->m && pl->ws[k + 1] == pl->ws[k] ? pl->we[k + 1] : k + 1;
	return rc;
}

static int argmax_row(const float *row, int n)
{
	int best = 0;
	for (int j = 1; j < n; j++)
		if (row[j] > row[best])
			best = j;
	return best;
}

/* The target token that attends most to source column `col` (first on ties). */
static int argmax_col(const placer *pl, int col)
{
	int best = 0;
	for (int k = 1; k < pl->m; k++)
		if (att_row(pl, k)[col] > att_row(pl, best)[col])
			best = k;
	return best;
}

/*
 * §8's anchor: the placeholder sticks to the source token it touches (no
 * space between), else to its left neighbour, else to its right one; it
 * lands after (or before) the target word that attends most to that token.
 */
static int anchor_slot(const placer *pl, int s)
{
	const s2s_span *x = &pl->r->sp->spans[s];
	int32_t L = pl->r->ms->span_left[s], R = pl->r->ms->span_right[s];
	if (!pl->attn)
		return pl->m;
	int32_t col;
	bool after;
	if (!x->space_before && L >= 0)
		col = L, after = true;
	else if (!x->space_after && R >= 0)
		col = R, after = false;
	else if (L >= 0)
		col = L, after = true;
	else if (R >= 0)
		col = R, after = false;
	else
		return 0;
	if (col >= pl->r->n_src)
		return pl->m;
	int t = argmax_col(pl, col);
	return after ? pl->we[t] : pl->ws[t];
}

/*
 * A pair wraps the target words whose strongest source token lies between
 * its tags; when none does, the one word that attends most to them in sum.
 */
static void pair_range(placer *pl, int o)
{
	int32_t a = pl->r->ms->span_right[o];
	int32_t b = pl->r->ms->span_left[pl->r->sp->spans[o].partner];
	if (a < 0 || b < 0 || a > b || !pl->attn) {
		pl->rs[o] = pl->re[o] = anchor_slot(pl, o);
		return;
	}
	int lo = -1, hi = -1, best = 0;
	double best_sum = -HUGE_VAL;
	for (int k = 0; k < pl->m; k++) {
		if (pl->row_max[k] >= a && pl->row_max[k] <= b) {
			lo = lo < 0 ? k : lo;
			hi = k;
		}
		double sum = 0;
		for (int32_t j = a; j <= b && j < pl->r->n_src; j++)
			sum += att_row(pl, k)[j];
		if (sum > best_sum)
			best_sum = sum, best = k;
	}
	if (lo < 0)
		lo = hi = best;
	pl->rs[o] = pl->ws[lo];
	pl->re[o] = pl->we[hi];
}

/*
 * The tree of §8: each placeholder or pair is a child of the innermost pair
 * around it in the source (the root, index spans n, holds the rest). kids
 * lists each node's children in source order, grouped by parent.
 */
static void build_tree(placer *pl, int *parent, int *stack)
{
	const s2s_spans *sp = pl->r->sp;
	int top = 0, root = sp->n;
	memset(pl->kid_at, 0, ((size_t)sp->n + 2) * sizeof *pl->kid_at);
	for (int i = 0; i < sp->n; i++) {
		parent[i] = top ? stack[top - 1] : root;
		if (sp->spans[i].kind == S2S_SPAN_OPEN)
			stack[top++] = i;
		else if (sp->spans[i].kind == S2S_SPAN_CLOSE)
			top--;
		else
			pl->kid_at[parent[i] + 1]++;
		if (sp->spans[i].kind == S2S_SPAN_OPEN)
			pl->kid_at[parent[i] + 1]++;
	}
	for (int p = 0; p <= root; p++)
		pl->kid_at[p + 1] += pl->kid_at[p];
	memcpy(stack, pl->kid_at, ((size_t)root + 1) * sizeof *stack);
	for (int i = 0; i < sp->n; i++)
		if (sp->spans[i].kind != S2S_SPAN_CLOSE)
			pl->kids[stack[parent[i]]++] = i;
}

/* Children by (range start, source order): insertion sort, stable, on one parent's list. */
static void sort_kids(const placer *pl, int *kids, int nk)
{
	for (int i = 1; i < nk; i++) {
		int x = kids[i], j = i;
		for (; j > 0 && pl->rs[kids[j - 1]] > pl->rs[x]; j--)
			kids[j] = kids[j - 1];
		kids[j] = x;
	}
}

static int clamp(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* Siblings may not overlap or leave their parent: each starts after the previous one. */
static void fit_kids(placer *pl, int node, int ps, int pe)
{
	int *kids = pl->kids + pl->kid_at[node], nk = pl->kid_at[node + 1] - pl->kid_at[node];
	sort_kids(pl, kids, nk);
	for (int i = 0; i < nk; i++) {
		int c = kids[i];
		int s = i > 0 && pl->re[kids[i - 1]] > pl->rs[c] ? pl->re[kids[i - 1]] : pl->rs[c];
		int e = pl->re[c] > s ? pl->re[c] : s;
		pl->rs[c] = clamp(s, ps, pe);
		pl->re[c] = clamp(e, ps, pe);
	}
}

static void emit(renderer *r, bool span, int idx)
{
	r->items[r->n_items++] = (item){span, idx};
}

/* A node's range: its tokens, with each child (tag, inside, tag) where it was placed. */
static void emit_node(placer *pl, int node, int s, int e)
{
	renderer *r = (renderer *)pl->r;
	int pos = s;
	for (int i = pl->kid_at[node]; i < pl->kid_at[node + 1]; i++) {
		int c = pl->kids[i];
		for (; pos < pl->rs[c]; pos++)
			emit(r, false, pl->tt[pos]);
		emit(r, true, c);
		if (r->sp->spans[c].kind == S2S_SPAN_OPEN) {
			emit_node(pl, c, pl->rs[c], pl->re[c]);
			emit(r, true, r->sp->spans[c].partner);
		}
		pos = pl->re[c];
	}
	for (; pos < e; pos++)
		emit(r, false, pl->tt[pos]);
}

/* Ranges of every node, then the siblings fitted top-down (a parent's OPEN precedes its kids). */
static void place_all(placer *pl)
{
	const s2s_spans *sp = pl->r->sp;
	for (int i = 0; i < sp->n; i++) {
		if (sp->spans[i].kind == S2S_SPAN_PLACEHOLDER)
			pl->rs[i] = pl->re[i] = anchor_slot(pl, i);
		else if (sp->spans[i].kind == S2S_SPAN_OPEN)
			pair_range(pl, i);
	}
	fit_kids(pl, sp->n, 0, pl->m);
	for (int i = 0; i < sp->n; i++)
		if (sp->spans[i].kind == S2S_SPAN_OPEN)
			fit_kids(pl, i, pl->rs[i], pl->re[i]);
}

static int placer_init(placer *pl, const renderer *r)
{
	size_t n = (size_t)r->n + 1, ns = (size_t)r->sp->n + 2;
	*pl = (placer){.r = r};
	pl->tt = malloc(n * sizeof *pl->tt);
	pl->ws = malloc(n * sizeof *pl->ws);
	pl->we = malloc(n * sizeof *pl->we);
	pl->row_max = malloc(n * sizeof *pl->row_max);
	pl->rs = malloc(ns * sizeof *pl->rs);
	pl->re = malloc(ns * sizeof *pl->re);
	pl->kids = malloc(ns * sizeof *pl->kids);
	pl->kid_at = malloc(ns * sizeof *pl->kid_at);
	if (!pl->tt || !pl->ws || !pl->we || !pl->row_max || !pl->rs || !pl->re || !pl->kids ||
	    !pl->kid_at)
		return S2S_ENOMEM;
	for (int i = 0; i < r->n; i++)
		if (r->stands_for[i] == -1)
			pl->tt[pl->m++] = i;
	pl->attn = r->attn && pl->m > 0 && r->n_src > 0;
	for (int k = 0; pl->attn && k < pl->m; k++)
		pl->row_max[k] = argmax_row(att_row(pl, k), r->n_src);
	if (pl->m > 0)
		pl->ws[0] = 0;
	return pl->attn ? word_bounds(pl) : 0; /* words only matter to the attention */
}

static void placer_deinit(placer *pl)
{
	free(pl->tt);
	free(pl->ws);
	free(pl->we);
	free(pl->row_max);
	free(pl->rs);
	free(pl->re);
	free(pl->kids);
	free(pl->kid_at);
}

/* Sentinels out, every span put back where the attention aligns it. */
static int items_aligned(renderer *r)
{
	placer pl;
	int *parent = malloc(((size_t)r->sp->n + 2) * sizeof *parent);
	int *stack = malloc(((size_t)r->sp->n + 2) * sizeof *stack);
	int rc = parent && stack ? placer_init(&pl, r) : S2S_ENOMEM;
	if (rc == 0) {
		build_tree(&pl, parent, stack);
		place_all(&pl);
		emit_node(&pl, r->sp->n, 0, pl.m);
	}
	if (parent && stack)
		placer_deinit(&pl);
	free(parent);
	free(stack);
	return rc;
}

/* --- rendering: ordered groups and text (§7.2, §7.3) ------------------------------------ */

/* Ordered conversions keep their source order: the k-th in the output gets the k-th text. */
static void reassign_groups(const renderer *r, int *text_of)
{
	const s2s_spans *sp = r->sp;
	for (int i = 0; i < sp->n; i++)
		text_of[i] = i;
	for (int g = S2S_SPAN_ORDERED_PRINTF; g <= S2S_SPAN_ORDERED_BRACE; g++) {
		int src = 0;
		for (int i = 0; i < r->n_items; i++) {
			int s = r->items[i].idx;
			if (!r->items[i].span || sp->spans[s].group != g)
				continue;
			while (sp->spans[src].group != g)
				src++;
			text_of[s] = src++;
		}
	}
}

/* The output being written; span[i]: byte i belongs to a span's text. */
typedef struct {
	char *buf;
	bool *span;
	size_t n, cap;
} outbuf;

static int out_put(outbuf *o, const char *s, size_t n, bool span)
{
	if (o->n + n + 2 > o->cap) {
		size_t cap = 2 * (o->n + n + 2);
		char *b = realloc(o->buf, cap);
		if (b)
			o->buf = b;
		bool *m = b ? realloc(o->span, cap * sizeof *m) : NULL;
		if (!m)
			return S2S_ENOMEM;
		o->span = m;
		o->cap = cap;
	}
	memcpy(o->buf + o->n, s, n);
	for (size_t i = 0; i < n; i++)
		o->span[o->n + i] = span;
	o->n += n;
	o->buf[o->n] = '\0';
	return 0;
}

/* Target tokens [i, j) of the items, detokenized, without outer spaces. */
static char *run_text(const renderer *r, int i, int j, size_t *len)
{
	const char **p = malloc(((size_t)(j - i) + 1) * sizeof *p);
	if (!p)
		return NULL;
	for (int k = i; k < j; k++)
		p[k - i] = r->pieces[r->items[k].idx];
	char *t = s2s_detokenize(r->tok, p, j - i);
	free(p);
	if (!t)
		return NULL;
	size_t a = 0, b = strlen(t);
	while (a < b && t[a] == ' ')
		a++;
	while (b > a && t[b - 1] == ' ')
		b--;
	memmove(t, t + a, b - a);
	t[b - a] = '\0';
	*len = b - a;
	return t;
}

static const char *span_text(const s2s_spans *sp, int s, size_t *len)
{
	const s2s_span *x = &sp->spans[s];
	if (x->glossary) {
		*len = strlen(x->output);
		return x->output;
	}
	*len = x->len;
	return sp->text + x->start;
}

/*
 * §7.3 (v2.1): the space between span s and the run on its side `after`,
 * whose character next to s is oc. A source space stays a space; without
 * one, s stays glued only to what it was glued to in the source: a word
 * char to a word char (`file%s`), anything else to anything else (`%s:`).
 * Spans glued to s on that side are looked through (`z</i></b>`: `</b>`
 * was glued to the word `z`, not to `>`). At the text's edge there was
 * nothing to glue to.
 */
static bool span_run_space(const s2s_spans *sp, int s, bool after, uint32_t oc)
{
	const s2s_span *x = &sp->spans[s];
	if (after ? x->space_after : x->space_before)
		return true;
	size_t start = x->start, end = x->start + x->len;
	for (int k = s + 1; after && k < sp->n && sp->spans[k].start == end; k++)
		end = sp->spans[k].start + sp->spans[k].len;
	for (int k = s - 1; !after && k >= 0 && sp->spans[k].start + sp->spans[k].len == start; k--)
		start = sp->spans[k].start;
	if (after ? end >= sp->len : start == 0)
		return true;
	size_t at = after ? end : char_before(sp->text, start);
	if (strchr(" \t\n\v\f\r", sp->text[at]))
		return true;
	return is_word_cp(code_point(sp->text, sp->len, at)) != is_word_cp(oc);
}

/* Between the output so far (its last item prev) and the item cur (text t). */
static bool space_between(const s2s_spans *sp, int prev, int cur, const outbuf *o,
                          const char *t, size_t len)
{
	if (prev == -2 || (prev == -1 && cur == -1))
		return false; /* the start (run after run cannot happen: a span is between) */
	if (prev >= 0 && cur >= 0)
		return sp->spans[prev].space_after && sp->spans[cur].space_before;
	if (cur >= 0) /* run -> span: the run's last character */
		return span_run_space(sp, cur, false,
		                      code_point(o->buf, o->n, char_before(o->buf, o->n)));
	return span_run_space(sp, prev, true, code_point(t, len, 0));
}

/*
 * prev: -2 nothing yet, -1 a run, else the span whose text was written last.
 * The space flags (and source neighbours) are those of the span whose text
 * is written: a reassigned ordered conversion joins as it did in the source.
 */
static int join_items(const renderer *r, const int *text_of, outbuf *o)
{
	int prev = -2, rc = 0;
	for (int i = 0; rc == 0 && i < r->n_items;) {
		int j = i, cur = -1;
		size_t len = 0;
		const char *t;
		char *run = NULL;
		if (r->items[i].span) {
			cur = text_of[r->items[i].idx];
			t = span_text(r->sp, cur, &len);
			j = i + 1;
		} else {
			while (j < r->n_items && !r->items[j].span)
				j++;
			if (!(t = run = run_text(r, i, j, &len)))
				return S2S_ENOMEM;
		}
		if (len > 0 || cur >= 0) {
			if (space_between(r->sp, prev, cur, o, t, len))
				rc = out_put(o, " ", 1, false);
			if (rc == 0)
				rc = out_put(o, t, len, cur >= 0);
			prev = cur;
		}
		free(run);
		i = j;
	}
	return rc;
}

/* --- rendering: accelerator (§9) -------------------------------------------------------- */

/* The accelerated character at q of the output (ASCII: either case). */
static bool accel_char_at(const outbuf *o, size_t q, const char *c, size_t cl)
{
	if (q + cl > o->n || o->span[q])
		return false;
	if (cl == 1)
		return lower((unsigned char)o->buf[q]) == lower((unsigned char)c[0]);
	return !memcmp(o->buf + q, c, cl);
}

/*
 * Where the marker goes: before the accelerated character starting a word,
 * else before the first letter-like character (`_Save` -> `_Enregistrer`,
 * as catalogs do, not `Enregi_strer`), else at the start. Span texts are
 * never touched.
 */
static size_t accel_slot(const s2s_spans *sp, const outbuf *o)
{
	const char *c = sp->text + sp->accel_pos + 1;
	size_t cl = char_len(sp->text, sp->len, sp->accel_pos + 1);
	for (size_t q = 0; q < o->n; q++)
		if (accel_char_at(o, q, c, cl) && !word_before(o->buf, o->n, q))
			return q;
	for (size_t q = 0; q < o->n; q++) {
		unsigned char b = (unsigned char)o->buf[q];
		if (!o->span[q] && (is_alnum(b) || b >= 0x80))
			return q;
	}
	return 0;
}

static int place_accel(const s2s_spans *sp, outbuf *o)
{
	size_t q = accel_slot(sp, o);
	if (out_put(o, "", 1, false) < 0) /* room for one more byte */
		return S2S_ENOMEM;
	memmove(o->buf + q + 1, o->buf + q, o->n - 1 - q);
	o->buf[q] = sp->accel_marker;
	o->buf[o->n] = '\0';
	return 0;
}

/* --- rendering: the entry point --------------------------------------------------------- */

/* Nothing to translate: the source as it is, each glossary term written as its output. */
static int render_passthrough(const s2s_spans *sp, s2s_rendered *out, s2s_error *err)
{
	outbuf o = {0};
	size_t pos = 0;
	int rc = 0;
	for (int i = 0; rc == 0 && i <= sp->n; i++) {
		size_t end = i < sp->n ? sp->spans[i].start : sp->len;
		rc = out_put(&o, sp->text + pos, end - pos, false);
		if (rc == 0 && i < sp->n) {
			size_t len;
			const char *t = span_text(sp, i, &len);
			rc = out_put(&o, t, len, true);
			pos = end + sp->spans[i].len;
		}
	}
	if (rc == 0)
		rc = out_put(&o, "", 0, false);
	free(o.span);
	out->text = o.buf;
	if (rc < 0)
		return s2s__error_set(err, rc, "out of memory while rendering");
	return 0;
}

static int render_items(renderer *r, int32_t *span_token, bool *reinserted)
{
	int *seen = malloc(((size_t)r->sp->n + 1) * sizeof *seen);
	int *stack = malloc(((size_t)r->sp->n + 1) * sizeof *stack);
	r->items = malloc(((size_t)r->n + (size_t)r->sp->n + 1) * sizeof *r->items);
	int rc = seen && stack && r->items ? classify_tokens(r) : S2S_ENOMEM;
	if (rc == 0 && r->ms->sentinel_path && sentinels_complete(r, seen, stack)) {
		items_as_is(r, span_token);
	} else if (rc == 0) {
		*reinserted = r->sp->n > 0;
		rc = items_aligned(r);
	}
	free(seen);
	free(stack);
	return rc;
}

static int render_text(renderer *r, s2s_rendered *out)
{
	outbuf o = {0};
	int *text_of = malloc(((size_t)r->sp->n + 1) * sizeof *text_of);
	int rc = text_of ? 0 : S2S_ENOMEM;
	if (rc == 0) {
		reassign_groups(r, text_of);
		rc = join_items(r, text_of, &o);
	}
	if (rc == 0)
		rc = out_put(&o, "", 0, false); /* an empty output is still a string */
	if (rc == 0 && r->sp->has_accel)
		rc = place_accel(r->sp, &o);
	free(text_of);
	free(o.span);
	out->text = o.buf;
	return rc;
}

int s2s_spans_render(const s2s_spans *sp, const s2s_masked *ms, const s2s_tokenizer *tgt_tok,
                     const s2s_sentinels *sent, const char *const *pieces, const int32_t *ids,
                     int n, const float *attention, int n_src, s2s_rendered *out,
                     s2s_error *err)
{
	/* sentinels are recognised by their pieces (the ids are the vocabulary's strings) */
	(void)sent;
	(void)ids;
	memset(out, 0, sizeof *out);
	out->span_token = malloc(((size_t)sp->n + 1) * sizeof *out->span_token);
	if (!out->span_token)
		return s2s__error_set(err, S2S_ENOMEM, "out of memory while rendering");
	for (int k = 0; k < sp->n; k++)
		out->span_token[k] = -1;
	if (ms->passthrough)
		return render_passthrough(sp, out, err);
	renderer r = {.sp = sp, .ms = ms, .tok = tgt_tok, .pieces = pieces, .n = n,
	              .attn = attention, .n_src = n_src};
	int rc = render_items(&r, out->span_token, &out->reinserted);
	if (rc == 0)
		rc = render_text(&r, out);
	free(r.stands_for);
	free(r.items);
	if (rc < 0)
		return s2s__error_set(err, rc, "out of memory while rendering");
	return 0;
}

void s2s_rendered_deinit(s2s_rendered *r)
{
	if (!r)
		return;
	free(r->text);
	free(r->span_token);
	memset(r, 0, sizeof *r);
}
