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
 *   char *json = s2s_api_translate_response(&view, sentences, n);
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
/* Records an error (first one wins); returns -1 for `return s2s_api_fail(...)`. */
int s2s_api_fail(s2s_api_error *e, s2s_api_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* {"error": {"code", "message"}} as a malloc'd string the caller frees (NULL on ENOMEM). */
char *s2s_api_error_body(const s2s_api_error *e);

/* Server limits a request is checked against. */
typedef struct {
	int max_sentences;
	int max_beam;
	int default_deadline_ms;
} s2s_api_limits;

typedef struct {
	s2s_decode_options decode; /* core options; .attention set when anything needs it */
	bool attention;            /* return matrices */
	bool word_level;           /* attention_level = word */
	bool coverage;
	double coverage_threshold;
	bool replace_unk;
	int deadline_ms; /* 0 = none */
	bool partial;
} s2s_api_options;

/* A parsed translate request (either route). Owned by the caller; deinit frees. */
typedef struct {
	char *model;       /* NULL: default model */
	int opennmt_id;    /* OpenNMT route: model index; -1 otherwise */
	int n;             /* sentences */
	char **sentences;  /* (n) NUL-terminated UTF-8 */
	s2s_api_options opt;
} s2s_api_request;

/* POST /v1/translate body. 0, or -1 with *e set (400/422). */
int s2s_api_parse_translate(const char *body, size_t len, const s2s_api_limits *lim,
			    s2s_api_request *out, s2s_api_error *e);
/* POST /translator/translate body (OpenNMT-py). 0, or -1 with *e set. */
int s2s_api_parse_opennmt(const char *body, size_t len, const s2s_api_limits *lim,
			  s2s_api_request *out, s2s_api_error *e);
void s2s_api_request_deinit(s2s_api_request *r);

/* One sentence's outcome, borrowed by the response builders. */
typedef struct {
	const char *source;
	const s2s_tokens *tok;   /* its tokenization */
	const s2s_result *res;   /* NULL: did not finish before the deadline */
	double queued_ms;
} s2s_api_sentence;

/* Everything about the request a response needs besides the sentences. */
typedef struct {
	const s2s_model *model;
	const char *model_name;
	const char *request_id;
	const s2s_api_options *opt;
	double total_ms;
} s2s_api_view;

/* Response bodies as malloc'd strings the caller frees (NULL on ENOMEM). */
char *s2s_api_translate_response(const s2s_api_view *v, const s2s_api_sentence *s, int n);
char *s2s_api_opennmt_response(const s2s_api_view *v, const s2s_api_sentence *s, int n);

/*
 * The text of the best hypothesis of `res` exactly as the translate response
 * shows it (same detokenization and <unk> replacement), as a malloc'd string
 * the caller frees; NULL when `res` is NULL, has no hypothesis, or on ENOMEM.
 */
char *s2s_api_best_text(const s2s_model *m, const s2s_tokens *tok, const s2s_result *res,
			bool replace_unk);

/* The `models` entry of docs/api.md; new reference. */
json_t *s2s_api_model_info(const s2s_model *m, const char *name, bool is_default,
			   long long loaded_at, int reloads);

/* json_dumps flags used for every body (compact, 7 significant digits). */
#define S2S_API_DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(7))

#endif
