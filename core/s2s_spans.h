/*
 * s2s_spans.h - protected spans: placeholders, markup, accelerators and
 * glossary terms that a translation must carry through unchanged
 * (docs/localisation.md; the rules are shared with
 * clients/python/s2s_ref/spans.py, which gives the same result for every
 * input).
 *
 *   s2s_spans sp;
 *   s2s_spans_parse(text, len, S2S_FMT_PRINTF | S2S_FMT_XML, glossary, &sp, &err);
 *   s2s_masked ms;                       // the source the model sees
 *   s2s_spans_mask(&sp, src_tokenizer, src_vocab, s2s_model_sentinels(m), &ms, &err);
 *   ... decode ms.tok.ids with o.sentinel_ph = ms.n_ph, o.sentinel_pairs = ms.n_pairs ...
 *   s2s_rendered out;
 *   s2s_spans_render(&sp, &ms, tgt_tokenizer, sentinels, pieces, ids, n, attn, n_src, &out, &err);
 *
 * Two ways to protect a span: models whose vocabularies hold sentinel tokens
 * (<ph0>.., <t0>/</t0>..) see one sentinel per span and a constrained search
 * emits each exactly once (the SENTINEL path); any other model translates the
 * text around the spans and the spans are put back where the attention
 * aligns them (the ALIGNMENT path). Either way every span of the source is
 * in the rendered output exactly once, byte for byte (ordered printf/brace
 * conversions keep their source order), and tag pairs stay paired and nested.
 *
 * Everything here is pure and reentrant: objects are caller-owned, any thread.
 */
#ifndef S2S_SPANS_H
#define S2S_SPANS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "s2s_error.h"
#include "s2s_model.h"
#include "s2s_tokenizer.h"
#include "s2s_vocab.h"

/* Format bits; 0 is "text" (nothing protected). */
enum {
	S2S_FMT_PRINTF = 1,
	S2S_FMT_BRACE = 2,
	S2S_FMT_XML = 4,
	S2S_FMT_HTML = 8,
	S2S_FMT_ACCEL = 16,
	S2S_FMT_AUTO = 32,
};

/*
 * Parses a comma-separated list of format names ("text", "printf", "brace",
 * "xml", "html", "accelerator", "auto"; ASCII spaces around names ignored)
 * and ORs them into *out (which the caller initialises). S2S_EINVAL naming
 * the unknown name.
 */
int s2s_format_parse(const char *list, unsigned *out, s2s_error *err);

/* Most spans one sentence may hold; more is S2S_ETOOLONG. */
#define S2S_SPANS_MAX 1024
/* Glossary limits. */
#define S2S_GLOSSARY_MAX_TERMS 256
#define S2S_GLOSSARY_MAX_BYTES 256

typedef struct {
	char *source; /* trimmed, 1..256 bytes */
	char *target; /* 1..256 bytes, or NULL: do not translate (output = source) */
} s2s_glossary_term;

/* A glossary; zero-initialise, fill with s2s_glossary_add, free with deinit. */
typedef struct {
	int n;
	s2s_glossary_term *terms;
} s2s_glossary;

/*
 * Copies one term in after checking it (limits above, no control characters,
 * valid UTF-8, no duplicate source term): S2S_EINVAL naming what is wrong,
 * S2S_ENOMEM.
 */
int s2s_glossary_add(s2s_glossary *g, const char *source, const char *target, s2s_error *err);
void s2s_glossary_deinit(s2s_glossary *g);

typedef enum {
	S2S_SPAN_PLACEHOLDER = 0, /* printf, brace, entity, comment, self-closing/void tag, glossary */
	S2S_SPAN_OPEN = 1,        /* opening tag of a pair */
	S2S_SPAN_CLOSE = 2,       /* its closing tag */
} s2s_span_kind;

/* Ordered groups: conversions that must keep their source order. */
enum { S2S_SPAN_FREE = 0, S2S_SPAN_ORDERED_PRINTF = 1, S2S_SPAN_ORDERED_BRACE = 2 };

typedef struct {
	s2s_span_kind kind;
	size_t start, len;  /* bytes of the source */
	int partner;        /* OPEN <-> CLOSE index into spans; -1 for placeholders */
	int group;          /* S2S_SPAN_FREE or an ordered group */
	int sentinel;       /* placeholder number k (<phk>) or pair number k (<tk>, </tk>) */
	bool glossary;      /* a glossary term */
	bool space_before;  /* ASCII whitespace right before the span in the source */
	bool space_after;   /* ASCII whitespace right after it */
	const char *output; /* glossary: the text to write (owned by the s2s_spans); else NULL */
} s2s_span;

/* The spans of one source. Caller-owned; s2s_spans_deinit frees. */
typedef struct {
	char *text;        /* copy of the source */
	size_t len;
	int n;
	s2s_span *spans;   /* (n) sorted by start */
	int n_ph;          /* placeholders (glossary terms included) */
	int n_pairs;       /* tag pairs */
	bool has_accel;    /* an accelerator marker was found */
	size_t accel_pos;  /* byte offset of the marker */
	char accel_marker; /* '_' or '&' */
} s2s_spans;

/*
 * Finds the spans of `len` bytes of UTF-8 `text` for the format bits and the
 * glossary (NULL: none). *out is initialised here (safe to deinit also on
 * failure). Errors: S2S_EINVAL for unbalanced markup under the xml or html
 * bit, with the message of docs/localisation.md ("tag \"</b>\" at character
 * 12 has no opening tag"); S2S_ETOOLONG beyond S2S_SPANS_MAX; S2S_EUTF8;
 * S2S_ENOMEM.
 */
int s2s_spans_parse(const char *text, size_t len, unsigned formats, const s2s_glossary *g,
                    s2s_spans *out, s2s_error *err);
void s2s_spans_deinit(s2s_spans *sp);

/* A model's sentinel tokens: the ids of <phk> and <tk>/</tk> in both vocabularies. */
typedef struct {
	int n_ph, n_pairs;               /* P and T of docs/localisation.md */
	int32_t *src_ph, *tgt_ph;        /* (n_ph) */
	int32_t *src_open, *src_close;   /* (n_pairs) */
	int32_t *tgt_open, *tgt_close;   /* (n_pairs) */
} s2s_sentinels;

/* Looks the sentinels up in the two vocabularies (none: n_ph = n_pairs = 0). S2S_ENOMEM. */
int s2s_sentinels_find(const s2s_vocab *src, const s2s_vocab *tgt, s2s_sentinels *out,
                       s2s_error *err);
void s2s_sentinels_deinit(s2s_sentinels *s);
/*
 * The table of a loaded model, found once at load (borrowed, valid while the
 * caller holds a reference; n_ph = n_pairs = 0 for a model trained without
 * sentinels).
 */
const s2s_sentinels *s2s_model_sentinels(const s2s_model *m);

/* The source as the model sees it. Caller-owned; s2s_masked_deinit frees. */
typedef struct {
	s2s_tokens tok;        /* ids, pieces (sentinels as "<ph0>"...), words */
	bool sentinel_path;    /* sentinels in the source, constrained search */
	bool passthrough;      /* nothing to translate: the output is the source itself */
	int n_ph, n_pairs;     /* for the search constraint (0 on the alignment path) */
	int32_t *span_token;   /* (spans n) index in tok of each span's sentinel, or -1 */
	int32_t *span_left;    /* (spans n) last text token before the span, or -1 */
	int32_t *span_right;   /* (spans n) first text token after it, or -1 */
	bool *is_text;         /* (tok.n) a token of the text (not a sentinel, not </s>) */
} s2s_masked;

/*
 * Tokenizes the text around the spans (docs/localisation.md §5). `sent` may
 * be NULL (alignment path). *out is initialised here (safe to deinit also on
 * failure). Errors as s2s_tokenize's.
 */
int s2s_spans_mask(const s2s_spans *sp, const s2s_tokenizer *src_tok, const s2s_vocab *src_vocab,
                   const s2s_sentinels *sent, s2s_masked *out, s2s_error *err);
void s2s_masked_deinit(s2s_masked *m);

/* A rendered hypothesis. Caller-owned; s2s_rendered_deinit frees. */
typedef struct {
	char *text;           /* the output, every span in it exactly once */
	int32_t *span_token;  /* (spans n) index in the hypothesis of the span's sentinel, or -1 */
	bool reinserted;      /* spans were placed by alignment */
} s2s_rendered;

/*
 * Renders a hypothesis of `n` target tokens (pieces and ids, the final </s>
 * excluded) whose attention is `attention` (rows of n_src floats, at least n
 * rows; NULL: none) for the source `ms` of `sp`. `tgt_tok` detokenizes;
 * `sent` is the model's sentinel table (NULL when ms was masked without
 * one). A passthrough source renders as the source itself, each glossary
 * term written as its output. S2S_ENOMEM.
 */
int s2s_spans_render(const s2s_spans *sp, const s2s_masked *ms, const s2s_tokenizer *tgt_tok,
                     const s2s_sentinels *sent, const char *const *pieces, const int32_t *ids,
                     int n, const float *attention, int n_src, s2s_rendered *out,
                     s2s_error *err);
void s2s_rendered_deinit(s2s_rendered *r);

#endif
