/*
 * s2s_api.h - the HTTP API's JSON (docs/api.md): the error table, request
 * parsing and response building. Pure functions on caller-owned data: no
 * HTTP, no event loop, no threads of its own; any thread may call them.
 *
 *   s2s_api_request req;
 *   s2s_api_error e;
 *   if (s2s_api_parse_translate(body, len, &limits, &req, &e) < 0)
 *           status = s2s_api_status(e.code), reply s2s_api_error_body(&e);
 *   ... tokenize, decode ...
 *   char *json = s2s_api_translate_response(&view, sentences, n, &e);
 *   s2s_api_request_deinit(&req);
 */
#ifndef S2S_API_H
#define S2S_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "s2s_decode.h"
#include "s2s_model.h"
#include "s2s_spans.h"
#include "s2s_tokenizer.h"

/* X(enum suffix, code string, HTTP status). The one error table of the API. */
#define S2S_API_ERROR_MAP(X)                                                  \
	X(INVALID_JSON, "invalid_json", 400)                                  \
	X(INVALID_FIELD, "invalid_field", 400)                                \
	X(BAD_REQUEST, "bad_request", 400)                                    \
	X(UNAUTHORIZED, "unauthorized", 401)                                  \
	X(FORBIDDEN, "forbidden", 403)                                        \
	X(NOT_FOUND, "not_found", 404)                                        \
	X(MODEL_NOT_FOUND, "model_not_found", 404)                            \
	X(METHOD_NOT_ALLOWED, "method_not_allowed", 405)                      \
	X(REQUEST_TIMEOUT, "request_timeout", 408)                            \
	X(RELOAD_IN_PROGRESS, "reload_in_progress", 409)                      \
	X(PAYLOAD_TOO_LARGE, "payload_too_large", 413)                        \
	X(URI_TOO_LONG, "uri_too_long", 414)                                  \
	X(UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", 415)              \
	X(EXPECTATION_FAILED, "expectation_failed", 417)                      \
	X(EMPTY_INPUT, "empty_input", 422)                                    \
	X(INPUT_TOO_LONG, "input_too_long", 422)                              \
	X(TOO_MANY_SENTENCES, "too_many_sentences", 422)                      \
	X(COST_LIMIT_EXCEEDED, "cost_limit_exceeded", 422)                    \
	X(UNBALANCED_MARKUP, "unbalanced_markup", 422)                        \
	X(TOO_MANY_SPANS, "too_many_spans", 422)                              \
	X(UNKNOWN_OPTION, "unknown_option", 422)                              \
	X(INVALID_OPTION, "invalid_option", 422)                              \
	X(HEADERS_TOO_LARGE, "headers_too_large", 431)                        \
	X(INTERNAL, "internal", 500)                                          \
	X(RELOAD_FAILED, "reload_failed", 500)                                \
	X(QUEUE_FULL, "queue_full", 503)                                      \
	X(DRAINING, "draining", 503)                                          \
	X(NOT_READY, "not_ready", 503)                                        \
	X(DEADLINE_EXCEEDED, "deadline_exceeded", 504)

typedef enum {
	S2S_API_OK = 0,
#define S2S__API_ENUM(name, str, status) S2S_API_##name,
	S2S_API_ERROR_MAP(S2S__API_ENUM)
#undef S2S__API_ENUM
} s2s_api_code;

typedef struct {
	s2s_api_code code;
	char message[512];
} s2s_api_error;

/* HTTP status and code string of an error (500 / "internal" for unknown codes). */
int s2s_api_status(s2s_api_code code);
const char *s2s_api_code_name(s2s_api_code code);
/*
 * Records an error (first one wins); returns -1 for `return s2s_api_fail(...)`.
 * A message longer than the buffer is cut on a UTF-8 character boundary and
 * ends with "...".
 */
int s2s_api_fail(s2s_api_error *e, s2s_api_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/*
 * {"error": {"code", "message"}} as a malloc'd string the caller frees (NULL
 * only on ENOMEM). The message may hold any bytes (client input quoted in
 * it, a message cut mid-character): it is made valid UTF-8 first, an
 * incomplete character at the very end is dropped and every other byte that
 * is not part of a valid UTF-8 character becomes U+FFFD. So no input can
 * make building the error body fail.
 */
char *s2s_api_error_body(const s2s_api_error *e);
/*
 * `len` bytes of `s` as valid UTF-8, as above: a malloc'd NUL-terminated
 * string the caller frees, or NULL on ENOMEM. NUL bytes become U+FFFD too.
 */
char *s2s_api_utf8_sanitize(const char *s, size_t len);

/*
 * Server limits a request is checked against. Fields after the first three
 * may be left 0 (the pre-hardening behaviour: no maximum deadline).
 */
typedef struct {
	int max_sentences;
	int max_beam;
	int default_deadline_ms; /* 0 = none */
	int max_deadline_ms;     /* 0 = no maximum; else deadlines above it, and none, are clamped to it */
	bool allow_no_deadline;  /* with max_deadline_ms: deadline_ms 0 (none) stays none */
} s2s_api_limits;

typedef struct {
	s2s_decode_options decode; /* core options; .attention set when anything needs it */
	bool attention;            /* return matrices */
	bool word_level;           /* attention_level = word */
	bool coverage;
	double coverage_threshold;
	bool replace_unk;
	int deadline_ms; /* effective deadline (after the server's clamp); 0 = none */
	bool deadline_clamped; /* the client's deadline_ms (or none) was lowered to max_deadline_ms */
	bool partial;
	unsigned given; /* S2S_DEC_* bits of the decoding fields the request named */
	unsigned formats;      /* options.format: S2S_FMT_* bits; 0 = "text" */
	s2s_glossary glossary; /* options.glossary (owned; freed by s2s_api_request_deinit) */
	/*
	 * Decoding controls of issue 14 (docs/api.md; semantics in
	 * docs/checkpoint-format.md §7.1-7.6). The plain ones are parsed into
	 * `decode`; these need the model and are resolved by
	 * s2s_api_resolve_controls (all owned; freed by s2s_api_request_deinit).
	 */
	char **prefix;         /* (n_prefix_text) options.prefix per sentence, NULL = none; or NULL */
	int n_prefix_text;     /* 0, or the request's sentence count */
	bool prefix_one;       /* options.prefix was one string for every sentence */
	char **suppress_text;  /* (n_suppress_text) options.suppress token strings */
	int n_suppress_text;
	int32_t *suppress_ids; /* (n_suppress_text) resolved; decode.suppress points here */
	int32_t **prefix_ids;  /* (n_prefix_text) resolved prefix of each sentence, or NULL */
	int *prefix_len;       /* (n_prefix_text) their lengths */
	bool seed_given;       /* options.seed was named; else a sampling request draws one */
	bool sampling;         /* decode.sampling_topk != 1: results carry "seed" */
	bool controls;         /* any issue-14 option was named (else the response is as before) */
} s2s_api_options;

/* Whether a request protects spans (a format other than text, or a glossary). */
bool s2s_api_protects(const s2s_api_options *o);

/* A parsed translate request (either route). Owned by the caller; deinit frees. */
typedef struct {
	char *model;       /* NULL: default model */
	int opennmt_id;    /* OpenNMT route: model id, or S2S_API_DEFAULT_MODEL_ID; -1 otherwise */
	int n;             /* sentences */
	char **sentences;  /* (n) NUL-terminated UTF-8 */
	char **targets;    /* /v1/score: (n) target sentences; else NULL */
	bool single;       /* /v1/score: "text" and "target" (paths name "target") */
	s2s_api_options opt;
} s2s_api_request;

/* POST /v1/translate body. 0, or -1 with *e set (400/422). */
int s2s_api_parse_translate(const char *body, size_t len, const s2s_api_limits *lim,
			    s2s_api_request *out, s2s_api_error *e);
/*
 * POST /v1/score body: {"sentences", "targets"} or {"text", "target"}, and
 * options (length_penalty, length_penalty_type, coverage_penalty, attention,
 * attention_level, deadline_ms). The targets land in out->targets (n of
 * them); decode is set up for forced decoding (force_eos, beam 1). 0, or -1
 * with *e set (400/422; an empty target is 422 empty_input naming it).
 */
int s2s_api_parse_score(const char *body, size_t len, const s2s_api_limits *lim,
			s2s_api_request *out, s2s_api_error *e);
/* POST /translator/translate body (OpenNMT-py). 0, or -1 with *e set. */
int s2s_api_parse_opennmt(const char *body, size_t len, const s2s_api_limits *lim,
			  s2s_api_request *out, s2s_api_error *e);
void s2s_api_request_deinit(s2s_api_request *r);

/*
 * Fills the decoding fields the request did not name from the model's
 * checkpoint defaults (seq2seqd.decoding), keeping a default beam within
 * lim->max_beam, then checks n_best <= beam_size. Call once the model is
 * known, before costing the request; m NULL applies no checkpoint defaults
 * (only the clamps and the check). 0, or -1 with *e set (400).
 */
int s2s_api_apply_model_defaults(s2s_api_options *o, const s2s_model *m,
				 const s2s_api_limits *lim, s2s_api_error *e);

/*
 * The decoding controls that need the model (issue 14): suppress strings
 * looked up in the target vocabulary (422 invalid_option naming an unknown
 * one), each prefix tokenized with the target tokenizer (422 when it leaves
 * no step within max_length: n_src[i] gives sentence i's T), conflicts with
 * the model (coverage_penalty without attention) and with the request
 * (prefix with a format or glossary), then s2s_decode_options_check as 422
 * invalid_option. Call after s2s_api_apply_model_defaults and tokenizing
 * the sources. For a score request (r->targets) the targets become the
 * prefixes (422 input_too_long past max_length - 1 tokens, the model's
 * max_length; empty_input when one has no token). 0, or -1 with *e set.
 */
int s2s_api_resolve_controls(s2s_api_request *r, const s2s_model *m, const int *n_src,
			     s2s_api_error *e);

/*
 * A seed for a sampling request that named none (from getrandom, within
 * 0..2^53 so that JSON numbers carry it exactly).
 */
uint64_t s2s_api_draw_seed(void);

/*
 * Decoding cost of a request: the sum over its sentences of beam_size x T,
 * T = min(max_len, floor(max_len_a * n) + max_len_b) (at least 1), n the
 * sentence's source tokens (n_src[i]). This is the number of decoder row-steps
 * the request can take at most: what max_request_cost caps. Saturates at
 * INT64_MAX.
 */
int64_t s2s_api_request_cost(const s2s_decode_options *o, const int *n_src, int n);

/* One sentence's outcome, borrowed by the response builders. */
typedef struct {
	const char *source;
	const s2s_tokens *tok;   /* its tokenization */
	const s2s_result *res;   /* NULL: did not finish before the deadline */
	double queued_ms;
	const s2s_spans *spans;   /* protected spans (s2s_api_protects), else NULL */
	const s2s_masked *masked; /* with spans: the masked source (tok is then its tok,
	                             or the plain tokens of a passthrough) */
} s2s_api_sentence;

/* Everything about the request a response needs besides the sentences. */
typedef struct {
	const s2s_model *model;
	const char *model_name;
	const char *request_id;
	const s2s_api_options *opt;
	double total_ms;
} s2s_api_view;

/*
 * Response bodies as malloc'd strings the caller frees. They never leave out
 * part of a result: on any failure they return NULL and set *e (optional) to
 * S2S_API_INTERNAL with the reason, e.g. a non-finite score or
 * log-probability (JSON cannot represent it; the model is likely corrupt)
 * naming the sentence and hypothesis, or out of memory.
 */
char *s2s_api_translate_response(const s2s_api_view *v, const s2s_api_sentence *s, int n,
				 s2s_api_error *e);
char *s2s_api_opennmt_response(const s2s_api_view *v, const s2s_api_sentence *s, int n,
			       s2s_api_error *e);
/*
 * POST /v1/score: per pair source, source_tokens, target, tokens (target
 * tokens and "</s>"), logprobs, score, norm_score, attention, timings
 * (docs/api.md). `targets` are the request's target strings. A score or
 * log-probability of -inf (a token the model cannot produce) is null.
 */
char *s2s_api_score_response(const s2s_api_view *v, const s2s_api_sentence *s,
			     char *const *targets, int n, s2s_api_error *e);

/*
 * The text of the best hypothesis of s->res exactly as the translate response
 * shows it (same detokenization, <unk> replacement and protected spans), as a
 * malloc'd string the caller frees; NULL when s->res is NULL, has no
 * hypothesis, or on ENOMEM.
 */
char *s2s_api_best_text(const s2s_model *m, const s2s_api_sentence *s, bool replace_unk);

/* The `models` entry of docs/api.md; new reference. */
json_t *s2s_api_model_info(const s2s_model *m, const char *name, bool is_default,
			   long long loaded_at, int reloads);

/* json_dumps flags used for every body (compact, 7 significant digits). */
/* OpenNMT-py model ids (conf.json "id", seq2seqd's model_id.NAME) are 0..MAX;
 * an item without "id" asks for the default model. */
#define S2S_API_MAX_MODEL_ID 1000000000
#define S2S_API_DEFAULT_MODEL_ID (S2S_API_MAX_MODEL_ID + 1)

#define S2S_API_DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(7))

#endif
