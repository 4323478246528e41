/*
 * fuzz_api.c - libFuzzer harness for the API's request parsers (proto/):
 * s2s_api_parse_translate (POST /v1/translate) and s2s_api_parse_opennmt
 * (POST /translator/translate), each under the daemon's default limits and
 * under tight ones.
 *
 * The input is the request body as is, so the seeds are plain JSON files.
 * Checked for every input, besides what the sanitizers see:
 *   - a success gives 1..max_sentences NUL-terminated, valid UTF-8 sentences
 *     and decode options that the core's own check accepts;
 *   - a failure has a 4xx code, and s2s_api_error_body turns it into valid
 *     JSON {"error": {"code", "message"}} with the same code.
 * The seed corpus/api/bad-escape.json made s2s_api_error_body return NULL
 * before issue 9's fix (an error message quoting bytes that are not UTF-8).
 */
#include "fuzz_util.h"

#include <jansson.h>

#include "s2s_api.h"
#include "s2s_decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_error(const s2s_api_error *e)
{
	int status = s2s_api_status(e->code);
	FUZZ_CHECK(e->code != S2S_API_OK, "a failed parse left no error code");
	FUZZ_CHECK(status == 400 || status == 422, "status %d (%s) for a bad body: %s", status,
		   s2s_api_code_name(e->code), e->message);
	FUZZ_CHECK(memchr(e->message, '\0', sizeof e->message), "message not terminated");
	char *body = s2s_api_error_body(e);
	FUZZ_CHECK(body, "s2s_api_error_body returned NULL for %s (message \"%s\")",
		   s2s_api_code_name(e->code), e->message);
	size_t n = strlen(body);
	FUZZ_CHECK(fuzz_utf8_valid(body, n), "error body is not UTF-8: %s", body);
	json_error_t je;
	json_t *root = json_loadb(body, n, 0, &je);
	FUZZ_CHECK(root, "error body is not JSON (%s): %s", je.text, body);
	json_t *err = json_object_get(root, "error");
	const char *code = json_string_value(json_object_get(err, "code"));
	FUZZ_CHECK(code && !strcmp(code, s2s_api_code_name(e->code)), "error body code: %s", body);
	FUZZ_CHECK(json_is_string(json_object_get(err, "message")), "error body message: %s", body);
	json_decref(root);
	free(body);
}

static void check_request(const s2s_api_request *r, const s2s_api_limits *lim, bool opennmt)
{
	FUZZ_CHECK(r->n >= 1 && r->n <= lim->max_sentences, "%d sentences", r->n);
	FUZZ_CHECK(opennmt ? r->opennmt_id >= 0 && !r->model : r->opennmt_id == -1,
		   "opennmt_id %d", r->opennmt_id);
	for (int i = 0; i < r->n; i++) {
		FUZZ_CHECK(r->sentences[i], "sentence %d is NULL", i);
		FUZZ_CHECK(fuzz_utf8_valid(r->sentences[i], strlen(r->sentences[i])),
			   "sentence %d is not UTF-8", i);
	}
	if (r->model)
		FUZZ_CHECK(fuzz_utf8_valid(r->model, strlen(r->model)), "model is not UTF-8");
	const s2s_api_options *o = &r->opt;
	FUZZ_CHECK(o->decode.beam_size >= 1 && o->decode.beam_size <= lim->max_beam, "beam %d",
		   o->decode.beam_size);
	s2s_error ce = {0};
	FUZZ_CHECK(s2s_decode_options_check(&o->decode, &ce) == 0,
		   "the core refuses options the parser accepted: %s", ce.message);
	FUZZ_CHECK(o->deadline_ms >= 0 && o->deadline_ms <= 600000, "deadline %d", o->deadline_ms);
	FUZZ_CHECK(o->coverage_threshold >= 0 && o->coverage_threshold <= 1000, "threshold %g",
		   o->coverage_threshold);
}

typedef int (*parse_fn)(const char *, size_t, const s2s_api_limits *, s2s_api_request *,
			s2s_api_error *);

static void parse_one(parse_fn parse, bool opennmt, const char *body, size_t len,
		      const s2s_api_limits *lim)
{
	s2s_api_request req;
	s2s_api_error e = {0};
	/* As the daemon does: parse, then (no model here) finish the options. */
	int rc = parse(body, len, lim, &req, &e);
	if (rc == 0)
		rc = s2s_api_apply_model_defaults(&req.opt, NULL, lim, &e);
	if (rc == 0)
		check_request(&req, lim, opennmt);
	else
		check_error(&e);
	s2s_api_request_deinit(&req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The daemon's defaults (etc/seq2seqd.conf) and the tightest settings. */
	static const s2s_api_limits limits[] = {{64, 8, 30000}, {1, 1, 0}};
	/* An exact-size copy, so ASan sees a read one byte past the body. */
	char *body = malloc(size ? size : 1);
	if (!body)
		return 0;
	memcpy(body, data, size);
	for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
		parse_one(s2s_api_parse_translate, false, body, size, &limits[i]);
		parse_one(s2s_api_parse_opennmt, true, body, size, &limits[i]);
	}
	free(body);
	return 0;
}
