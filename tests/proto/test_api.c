/*
 * test_api.c - proto/: error bodies that always build (valid UTF-8 whatever
 * the message holds), field errors (empty lists, numbers out of range), the
 * server's deadline clamp, the request cost, and response builders that
 * never drop part of a result (a non-finite value fails with a reason).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s2s_api.h"

#define FIXTURE S2S_SRCDIR "/tests/fixtures/lstm_additive_luong_feed_bi.safetensors"

static const s2s_api_limits LIMITS = {8, 8, 30000, 60000, false};

/* True when s is valid UTF-8 (jansson's own check: it refuses anything else). */
static bool valid_utf8(const char *s)
{
	json_t *j = json_string(s);
	json_decref(j);
	return j != NULL;
}

/* Parses an error body and returns its message (malloc'd); asserts the shape. */
static char *body_message(const char *body, const char *code)
{
	cr_assert_not_null(body, "the error body did not build");
	json_error_t je;
	json_t *j = json_loads(body, 0, &je);
	cr_assert_not_null(j, "error body is not JSON: %s", je.text);
	const char *c = json_string_value(json_object_get(json_object_get(j, "error"), "code"));
	const char *m = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
	cr_assert_str_eq(c, code);
	cr_assert_not_null(m);
	char *copy = strdup(m);
	json_decref(j);
	return copy;
}

static char *error_body_of(s2s_api_code code, const char *message)
{
	s2s_api_error e = {code, ""};
	snprintf(e.message, sizeof e.message, "%s", message);
	return s2s_api_error_body(&e);
}

Test(error_body, invalid_bytes_become_replacement_characters)
{
	char *body = error_body_of(S2S_API_NOT_FOUND, "no route /\xff\xfe");
	char *m = body_message(body, "not_found");
	cr_assert_str_eq(m, "no route /\xef\xbf\xbd\xef\xbf\xbd");
	free(m);
	free(body);
}

Test(error_body, a_message_cut_mid_character_builds)
{
	/* what s2sd_req_error's vsnprintf does with 300 x "é": cut at 511 bytes */
	char name[601] = "";
	for (int i = 0; i < 300; i++)
		strcat(name, "\xc3\xa9");
	s2s_api_error e = {S2S_API_MODEL_NOT_FOUND, ""};
	snprintf(e.message, sizeof e.message, "no model named \"%s\"", name);
	cr_assert(!valid_utf8(e.message), "the test needs a message cut mid-character");
	char *body = s2s_api_error_body(&e);
	char *m = body_message(body, "model_not_found");
	cr_assert(valid_utf8(m));
	cr_assert_eq(strlen(m), 510, "only the cut half character is dropped, got %zu", strlen(m));
	free(m);
	free(body);
}

Test(error_body, fail_cuts_long_messages_on_a_character_boundary)
{
	char name[601] = "";
	for (int i = 0; i < 300; i++)
		strcat(name, "\xc3\xa9");
	s2s_api_error e = {0};
	cr_assert_eq(s2s_api_fail(&e, S2S_API_MODEL_NOT_FOUND, "no model named \"%s\"", name), -1);
	cr_assert(valid_utf8(e.message), "s2s_api_fail left a cut character");
	size_t n = strlen(e.message);
	cr_assert(n <= sizeof e.message - 1 && n > 400);
	cr_assert_str_eq(e.message + n - 3, "...");
}

Test(error_body, any_bytes_build_a_json_body)
{
	srand(9);
	for (int round = 0; round < 2000; round++) {
		s2s_api_error e = {S2S_API_INVALID_JSON, ""};
		size_t n = (size_t)rand() % (sizeof e.message - 1);
		for (size_t i = 0; i < n; i++)
			e.message[i] = (char)(1 + rand() % 255);
		e.message[n] = '\0';
		char *body = s2s_api_error_body(&e);
		free(body_message(body, "invalid_json"));
		free(body);
	}
}

Test(error_body, sanitize_cases)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{"plain", "plain"},
		{"\xf0\x9f\x98\x80 ok", "\xf0\x9f\x98\x80 ok"},                       /* 4-byte kept */
		{"a\xc0\xafz", "a\xef\xbf\xbd\xef\xbf\xbdz"},                         /* overlong */
		{"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},             /* surrogate */
		{"\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* > U+10FFFF */
		{"ab\xe2\x82", "ab"},   /* cut at the end: dropped */
		{"ab\xe0\xa0", "ab"},   /* cut, needs 0xa0.. after 0xe0 */
		{"ab\xe0\x80", "ab\xef\xbf\xbd\xef\xbf\xbd"}, /* not a prefix of anything valid */
		{"a\xe2\x82z", "a\xef\xbf\xbd\xef\xbf\xbdz"}, /* cut in the middle: replaced */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *s = s2s_api_utf8_sanitize(cases[i].in, strlen(cases[i].in));
		cr_assert_str_eq(s, cases[i].out, "case %zu", i);
		free(s);
	}
	char *s = s2s_api_utf8_sanitize("a\0b", 3);
	cr_assert_str_eq(s, "a\xef\xbf\xbd" "b");
	free(s);
}

/* ---- request parsing ---- */

static s2s_api_code parse(const char *body, s2s_api_request *r, s2s_api_error *e, bool opennmt)
{
	memset(e, 0, sizeof *e);
	int rc = opennmt ? s2s_api_parse_opennmt(body, strlen(body), &LIMITS, r, e)
			 : s2s_api_parse_translate(body, strlen(body), &LIMITS, r, e);
	cr_assert_eq(rc, e->code == S2S_API_OK ? 0 : -1);
	return e->code;
}

static void expect_field_error(const char *body, const char *field, bool opennmt)
{
	s2s_api_request r;
	s2s_api_error e;
	cr_assert_eq(parse(body, &r, &e, opennmt), S2S_API_INVALID_FIELD, "%s: code %s (%s)", body,
		     s2s_api_code_name(e.code), e.message);
	cr_assert_not_null(strstr(e.message, field), "%s: message \"%s\" does not name %s", body,
			   e.message, field);
	s2s_api_request_deinit(&r);
}

Test(parse, an_empty_sentence_list_is_an_invalid_field)
{
	expect_field_error("{\"sentences\": []}", "\"sentences\"", false);
	expect_field_error("[]", "non-empty", true);
}

Test(parse, numbers_out_of_range_name_their_field)
{
	expect_field_error("{\"text\": \"a\", \"options\": {\"beam_size\": 1e400}}", "options.beam_size", false);
	expect_field_error("{\"text\": \"a\", \"options\": {\"beam_size\": 99999999999999999999}}",
			   "options.beam_size", false);
	expect_field_error("{\"text\": \"a\", \"options\": {\"deadline_ms\": -99999999999999999999}}",
			   "options.deadline_ms", false);
	expect_field_error("{\"text\": \"a\", \"options\": {\"max_len_a\": -1e999}}", "options.max_len_a", false);
	expect_field_error("{\"sentences\": [\"a\", 1e400]}", "sentences[1]", false);
	expect_field_error("{\"text\": 1e400}", "text", false);
	expect_field_error("{\"text\": \"a\", \"model\": 1e400}", "model", false);
	expect_field_error("{\"text\": \"a\", \"options\": 1e400}", "options", false);
	expect_field_error("[{\"src\": \"a\", \"id\": 99999999999999999999}]", "[0].id", true);
	/* two of them: the first field checked is named */
	expect_field_error("{\"text\": \"a\", \"options\": {\"max_length\": 1e999, \"beam_size\": 1e400}}",
			   "options.beam_size", false);
}

/*
 * n_best above an explicit beam is refused while parsing; n_best alone waits
 * for the model's beam default (s2s_api_apply_model_defaults), and without
 * one (NULL: no checkpoint defaults) the beam of 1 refuses it there.
 */
Test(parse, n_best_is_checked_against_the_beam_the_request_ends_up_with)
{
	expect_field_error("{\"text\": \"a\", \"options\": {\"beam_size\": 2, \"n_best\": 3}}",
			   "options.n_best", false);
	s2s_api_request r;
	s2s_api_error e;
	cr_assert_eq(parse("{\"text\": \"a\", \"options\": {\"n_best\": 3}}", &r, &e, false), S2S_API_OK);
	cr_assert_eq(r.opt.given, S2S_DEC_N_BEST);
	cr_assert_eq(s2s_api_apply_model_defaults(&r.opt, NULL, &LIMITS, &e), -1);
	cr_assert_eq(e.code, S2S_API_INVALID_FIELD);
	cr_assert_not_null(strstr(e.message, "options.n_best"), "%s", e.message);
	s2s_api_request_deinit(&r);
	cr_assert_eq(parse("{\"text\": \"a\", \"options\": {\"beam_size\": 4, \"n_best\": 3}}", &r, &e,
			   false), S2S_API_OK);
	cr_assert_eq(s2s_api_apply_model_defaults(&r.opt, NULL, &LIMITS, &e), 0, "%s", e.message);
	cr_assert_eq(r.opt.decode.beam_size, 4);
	cr_assert_eq(r.opt.decode.n_best, 3);
	s2s_api_request_deinit(&r);
}

Test(parse, a_nul_in_any_kept_string_is_an_invalid_field_naming_it)
{
	/* jansson would refuse "\u0000" as bad JSON; it is a bad field, named */
	expect_field_error("{\"text\": \"ab\\u0000c\"}", "U+0000", false);
	expect_field_error("{\"sentences\": [\"a\", \"b\\u0000\"]}", "sentences[1]", false);
	expect_field_error("[{\"src\": \"\\u0000\", \"id\": 1}]", "[0].src", true);
	expect_field_error("{\"text\": \"a\", \"model\": \"en\\u0000fr\"}", "model", false);
	expect_field_error("{\"text\": \"a\", \"options\": {\"attention_level\": \"word\\u0000x\"}}",
			   "options.attention_level", false);
}

Test(parse, out_of_range_numbers_in_unknown_fields_are_ignored_like_the_fields)
{
	s2s_api_request r;
	s2s_api_error e;
	cr_assert_eq(parse("{\"text\": \"a\", \"extra\": 1e400}", &r, &e, false), S2S_API_OK, "%s", e.message);
	s2s_api_request_deinit(&r);
}

Test(parse, broken_json_is_still_invalid_json)
{
	s2s_api_request r;
	s2s_api_error e;
	cr_assert_eq(parse("{\"text\": \"a\", \"options\": {\"beam_size\": 1e400", &r, &e, false),
		     S2S_API_INVALID_JSON);
	s2s_api_request_deinit(&r);
	/* the body of issue 9: jansson's error text carries a raw "é" cut in half or not */
	cr_assert_eq(parse("{\"text\":\"\\u\xc3\xa9\"}", &r, &e, false), S2S_API_INVALID_JSON);
	char *body = s2s_api_error_body(&e);
	free(body_message(body, "invalid_json"));
	free(body);
	s2s_api_request_deinit(&r);
}

static int parsed_deadline(const char *options, const s2s_api_limits *lim, bool *clamped)
{
	char body[256];
	snprintf(body, sizeof body, "{\"text\": \"a\", \"options\": %s}", options);
	s2s_api_request r;
	s2s_api_error e = {0};
	cr_assert_eq(s2s_api_parse_translate(body, strlen(body), lim, &r, &e), 0, "%s", e.message);
	int d = r.opt.deadline_ms;
	*clamped = r.opt.deadline_clamped;
	s2s_api_request_deinit(&r);
	return d;
}

Test(parse, deadlines_are_clamped_to_the_server_maximum)
{
	bool c;
	s2s_api_limits lim = LIMITS;
	cr_assert_eq(parsed_deadline("{\"deadline_ms\": 0}", &lim, &c), 60000);
	cr_assert(c);
	cr_assert_eq(parsed_deadline("{\"deadline_ms\": 600000}", &lim, &c), 60000);
	cr_assert(c);
	cr_assert_eq(parsed_deadline("{\"deadline_ms\": 5000}", &lim, &c), 5000);
	cr_assert(!c);
	cr_assert_eq(parsed_deadline("{}", &lim, &c), 30000);
	cr_assert(!c);
	lim.allow_no_deadline = true;
	cr_assert_eq(parsed_deadline("{\"deadline_ms\": 0}", &lim, &c), 0);
	cr_assert_eq(parsed_deadline("{\"deadline_ms\": 600000}", &lim, &c), 60000);
	lim = (s2s_api_limits){8, 8, 30000, 0, false}; /* no maximum */
	cr_assert_eq(parsed_deadline("{\"deadline_ms\": 0}", &lim, &c), 0);
	cr_assert_eq(parsed_deadline("{\"deadline_ms\": 600000}", &lim, &c), 600000);
	lim = (s2s_api_limits){8, 8, 0, 1000, false}; /* default none, but a maximum */
	cr_assert_eq(parsed_deadline("{}", &lim, &c), 1000);
}

Test(cost, sums_beam_times_reachable_length)
{
	s2s_decode_options o;
	s2s_decode_options_init(&o);
	int n[64];
	for (int i = 0; i < 64; i++)
		n[i] = 25;
	o.beam_size = 8;
	o.max_len = 4096;
	o.max_len_a = 100;
	o.max_len_b = 10;
	cr_assert_eq(s2s_api_request_cost(&o, n, 64), 64LL * 8 * 2510);
	o.max_len = 100;
	cr_assert_eq(s2s_api_request_cost(&o, n, 64), 64LL * 8 * 100);
	o.max_len_a = 0;
	o.max_len_b = 0; /* T is at least one step */
	cr_assert_eq(s2s_api_request_cost(&o, n, 3), 3LL * 8);
	int mixed[2] = {1, 10};
	s2s_decode_options_init(&o); /* a 2, b 10, max 256, greedy */
	cr_assert_eq(s2s_api_request_cost(&o, mixed, 2), 12 + 30);
}

/* ---- response building ---- */

typedef struct {
	s2s_model *model;
	s2s_tokens tok;
	s2s_result *res;
	s2s_api_options opt;
} fixture;

/* A result of `n_hyps` hypotheses of `len` tokens ("a" ... </s>) over the source "a b". */
static void make(fixture *f, int n_hyps, int len)
{
	s2s_error err = {0};
	cr_assert_eq(s2s_model_open(FIXTURE, &f->model, &err), 0, "%s", err.message);
	cr_assert_eq(s2s_tokenize(s2s_model_src_tokenizer(f->model), s2s_model_src_vocab(f->model),
				  "a b", 3, &f->tok, &err),
		     0);
	int32_t a = s2s_vocab_lookup(s2s_model_tgt_vocab(f->model), "a", 1);
	f->res = calloc(1, sizeof *f->res);
	f->res->n_src = f->tok.n;
	f->res->n_hyps = n_hyps;
	f->res->hyps = calloc((size_t)n_hyps, sizeof *f->res->hyps);
	for (int k = 0; k < n_hyps; k++) {
		s2s_hypothesis *h = &f->res->hyps[k];
		h->n = len;
		h->ids = calloc((size_t)len, sizeof *h->ids);
		h->logprobs = calloc((size_t)len, sizeof *h->logprobs);
		h->attention = calloc((size_t)len * f->tok.n, sizeof *h->attention);
		for (int t = 0; t < len; t++) {
			h->ids[t] = t == len - 1 ? S2S_EOS : a;
			h->logprobs[t] = -0.5f;
			h->attention[(size_t)t * f->tok.n] = 1.0f;
		}
		h->score = -0.5f * (float)len;
		h->norm_score = h->score;
		h->finished = true;
	}
	memset(&f->opt, 0, sizeof f->opt);
	s2s_decode_options_init(&f->opt.decode);
	f->opt.attention = true;
	f->opt.coverage = true;
	f->opt.coverage_threshold = 0.5;
}

static void unmake(fixture *f)
{
	s2s_result_free(f->res);
	s2s_tokens_deinit(&f->tok);
	s2s_model_unref(f->model);
}

static char *respond(fixture *f, bool opennmt, s2s_api_error *e)
{
	s2s_api_sentence s = {"a b", &f->tok, f->res, 0.5, NULL, NULL};
	s2s_api_view v = {f->model, "a", "req1", &f->opt, 1.0};
	memset(e, 0, sizeof *e);
	return opennmt ? s2s_api_opennmt_response(&v, &s, 1, e) : s2s_api_translate_response(&v, &s, 1, e);
}

Test(response, every_hypothesis_is_returned)
{
	fixture f;
	make(&f, 3, 4);
	s2s_api_error e;
	char *body = respond(&f, false, &e);
	cr_assert_not_null(body, "%s", e.message);
	json_t *j = json_loads(body, 0, NULL);
	json_t *hyps = json_object_get(json_array_get(json_object_get(j, "results"), 0), "hypotheses");
	cr_assert_eq(json_array_size(hyps), 3);
	cr_assert_eq(json_array_size(json_object_get(json_array_get(hyps, 2), "logprobs")), 4);
	json_decref(j);
	free(body);
	unmake(&f);
}

/* A NaN anywhere in a hypothesis: no body, and a reason naming where it is. */
static void expect_refused(fixture *f, bool opennmt, const char *where)
{
	s2s_api_error e;
	char *body = respond(f, opennmt, &e);
	cr_assert_null(body, "a body was built without the hypothesis: %s", body ? body : "");
	cr_assert_eq(e.code, S2S_API_INTERNAL);
	cr_assert_not_null(strstr(e.message, where), "message \"%s\" does not say %s", e.message, where);
	char *eb = s2s_api_error_body(&e);
	free(body_message(eb, "internal"));
	free(eb);
}

Test(response, a_nan_logprob_fails_the_response_with_the_reason)
{
	fixture f;
	make(&f, 2, 4);
	f.res->hyps[1].logprobs[2] = NAN;
	expect_refused(&f, false, "results[0].hypotheses[1].logprobs[2] is NaN");
	unmake(&f);
}

Test(response, a_non_finite_score_fails_the_response_with_the_reason)
{
	fixture f;
	make(&f, 2, 4);
	f.res->hyps[0].score = -INFINITY;
	expect_refused(&f, false, "results[0].hypotheses[0].score is -Infinity");
	f.res->hyps[0].score = -1;
	f.res->hyps[1].norm_score = NAN;
	expect_refused(&f, false, "hypotheses[1].norm_score is NaN");
	expect_refused(&f, true, "pred_score is NaN");
	unmake(&f);
}

Test(response, a_nan_attention_weight_fails_the_response)
{
	fixture f;
	make(&f, 1, 3);
	f.res->hyps[0].attention[1] = NAN;
	expect_refused(&f, false, "NaN");
	f.opt.word_level = true;
	expect_refused(&f, false, "NaN");
	unmake(&f);
}

Test(response, long_target_words_are_not_cut)
{
	fixture f;
	make(&f, 1, 1500); /* one word of 1499 "a" tokens, then </s> */
	f.opt.word_level = true;
	s2s_api_error e;
	char *body = respond(&f, false, &e);
	cr_assert_not_null(body, "%s", e.message);
	json_t *j = json_loads(body, 0, NULL);
	json_t *h = json_array_get(
		json_object_get(json_array_get(json_object_get(j, "results"), 0), "hypotheses"), 0);
	const char *w = json_string_value(json_array_get(json_object_get(h, "target_words"), 0));
	cr_assert_not_null(w);
	cr_assert_eq(strlen(w), 1499);
	json_decref(j);
	free(body);
	unmake(&f);
}

/* --- model info ------------------------------------------------------------------ */

#define ONMT_FIXTURE                                                                               \
	S2S_SRCDIR "/tests/fixtures/lstm_additive_luong_feed_onmt_bridge_2layer_bi.safetensors"

static json_t *architecture_of(const char *path)
{
	s2s_model *m;
	s2s_error err = {0};
	cr_assert_eq(s2s_model_open(path, &m, &err), 0, "%s", err.message);
	json_t *info = s2s_api_model_info(m, "x", true, 0, 0);
	cr_assert_not_null(info);
	json_t *a = json_incref(json_object_get(info, "architecture"));
	json_decref(info);
	s2s_model_unref(m);
	return a;
}

Test(model_info, optional_keys_appear_only_when_used)
{
	json_t *a = architecture_of(FIXTURE);
	cr_assert_eq(json_object_size(a), 14, "a model without them lists today's 14 keys");
	cr_assert_null(json_object_get(a, "bridge_cell"));
	json_decref(a);
	a = architecture_of(ONMT_FIXTURE);
	cr_assert_eq(json_object_size(a), 19);
	cr_assert(json_is_true(json_object_get(a, "attn_out_bias")));
	cr_assert_str_eq(json_string_value(json_object_get(a, "attn_out_activation")), "none");
	cr_assert_str_eq(json_string_value(json_object_get(a, "bridge_input")), "all");
	cr_assert_str_eq(json_string_value(json_object_get(a, "bridge_activation")), "relu");
	cr_assert_str_eq(json_string_value(json_object_get(a, "bridge_cell")), "linear");
	json_decref(a);
}

/*
 * The bodies are written without jansson (issue 11), in json_dumps's byte
 * format: reading one back and dumping it with S2S_API_DUMP_FLAGS must give
 * the same bytes (key order, string escapes, "%.7g" reals with ".0" and
 * jansson's exponent form), for every option that adds keys.
 */
static void expect_jansson_bytes(const char *body)
{
	json_error_t err;
	json_t *j = json_loads(body, 0, &err);
	cr_assert_not_null(j, "not JSON (%s): %s", err.text, body);
	char *again = json_dumps(j, S2S_API_DUMP_FLAGS);
	cr_assert_str_eq(body, again);
	free(again);
	json_decref(j);
}

Test(response, bodies_are_byte_identical_to_jansson_dumps)
{
	static const float values[] = {-0.5f,     -2.0f,     0.0f,       -1e-7f,      -123456.7f, 1e-5f,
				       -3.25e12f, 1.0f / 3, -0.0001234f, 65504.0f, -1e20f,    7.0f};
	static const char *sources[] = {"a b", "quote \" back \\ tab\t nl\n cr\r bs\b ff\f ctl\x01\x1f del\x7f",
					"caf\xc3\xa9 \xe2\x96\x81 \xf0\x9f\x98\x80 /slash/"};
	fixture f;
	make(&f, 2, 12);
	for (int k = 0; k < 2; k++)
		for (int t = 0; t < 12; t++) {
			f.res->hyps[k].logprobs[t] = values[(t + k) % 12];
			f.res->hyps[k].attention[(size_t)t * f.tok.n + 1] = values[t] / 7;
		}
	f.res->hyps[1].score = -1e-9;
	f.res->hyps[1].norm_score = 12345678.0;
	for (size_t si = 0; si < sizeof sources / sizeof *sources; si++)
		for (int mode = 0; mode < 4; mode++) {
			f.opt.attention = mode > 0;
			f.opt.word_level = mode == 2;
			f.opt.coverage = mode == 3;
			s2s_api_sentence s = {sources[si], &f.tok, f.res, 0.125 * (double)si, NULL, NULL};
			s2s_api_view v = {f.model, "m\"odel", "req\\1", &f.opt, 1e6 + 0.5};
			s2s_api_error e = {0};
			for (int opennmt = 0; opennmt < 2; opennmt++) {
				char *body = opennmt ? s2s_api_opennmt_response(&v, &s, 1, &e)
						     : s2s_api_translate_response(&v, &s, 1, &e);
				cr_assert_not_null(body, "%s", e.message);
				expect_jansson_bytes(body);
				free(body);
			}
		}
	/* a truncated sentence (no result) beside a finished one */
	s2s_api_sentence two[2] = {{"a b", &f.tok, NULL, 1.0, NULL, NULL}, {"a b", &f.tok, f.res, 2.0, NULL, NULL}};
	s2s_api_view v = {f.model, "a", "r", &f.opt, 3.0};
	s2s_api_error e = {0};
	char *body = s2s_api_translate_response(&v, two, 2, &e);
	cr_assert_not_null(body, "%s", e.message);
	expect_jansson_bytes(body);
	cr_assert_not_null(strstr(body, "\"truncated\":true,\"results\""), "%s", body);
	free(body);
	unmake(&f);
}

Test(response, a_source_that_is_not_utf8_fails_the_response)
{
	static const char *bad[] = {"\xff", "a\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe0\x80\xaf"};
	fixture f;
	make(&f, 1, 3);
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		s2s_api_sentence s = {bad[i], &f.tok, f.res, 0.0, NULL, NULL};
		s2s_api_view v = {f.model, "a", "r", &f.opt, 1.0};
		s2s_api_error e = {0};
		char *body = s2s_api_translate_response(&v, &s, 1, &e);
		cr_assert_null(body, "case %zu built: %s", i, body ? body : "");
		cr_assert_not_null(strstr(e.message, "not valid UTF-8"), "%s", e.message);
		cr_assert_null(json_string(bad[i]), "jansson accepts case %zu too", i);
	}
	unmake(&f);
}

/* ---- issue 14: decoding controls and POST /v1/score ---- */

static void expect_option_error(const char *body, const char *field)
{
	s2s_api_request r;
	s2s_api_error e;
	cr_assert_eq(parse(body, &r, &e, false), S2S_API_INVALID_OPTION, "%s: code %s (%s)", body,
		     s2s_api_code_name(e.code), e.message);
	cr_assert_eq(s2s_api_status(e.code), 422);
	cr_assert_not_null(strstr(e.message, field), "%s: \"%s\" does not name %s", body, e.message,
			   field);
	s2s_api_request_deinit(&r);
}

Test(controls, bad_values_are_422_invalid_option_naming_the_field)
{
	expect_option_error("{\"text\":\"a\",\"options\":{\"sampling_topk\":0,\"sampling_topp\":0}}",
			    "options.sampling_topp");
	expect_option_error("{\"text\":\"a\",\"options\":{\"sampling_topk\":0,\"sampling_topp\":1.01}}",
			    "options.sampling_topp");
	expect_option_error("{\"text\":\"a\",\"options\":{\"sampling_topp\":0.5}}", "options.sampling_topk");
	expect_option_error("{\"text\":\"a\",\"options\":{\"sampling_temperature\":2}}",
			    "options.sampling_temperature");
	expect_option_error("{\"text\":\"a\",\"options\":{\"repetition_penalty\":0}}",
			    "options.repetition_penalty");
	expect_option_error("{\"text\":\"a\",\"options\":{\"length_penalty_type\":\"x\"}}",
			    "options.length_penalty_type");
	expect_option_error("{\"text\":\"a\",\"options\":{\"seed\":9007199254740993}}", "options.seed");
	expect_option_error("{\"text\":\"a\",\"options\":{\"suppress\":[1]}}", "options.suppress[0]");
	expect_option_error("{\"sentences\":[\"a\",\"b\"],\"options\":{\"prefix\":[\"x\"]}}",
			    "options.prefix");
	expect_option_error("{\"text\":\"a\",\"options\":{\"return_alternatives\":65}}",
			    "options.return_alternatives");
}

Test(controls, options_are_parsed_and_a_plain_request_names_none)
{
	s2s_api_request r;
	s2s_api_error e;
	cr_assert_eq(parse("{\"sentences\":[\"a\",\"b\"],\"options\":{\"prefix\":[\"le\",null],"
			   "\"min_length\":3,\"repetition_penalty\":1.5,\"no_repeat_ngram_size\":2,"
			   "\"suppress\":[\"x\"],\"disable_unk\":true,\"coverage_penalty\":0.2,"
			   "\"length_penalty_type\":\"avg\",\"sampling_topk\":0,\"sampling_topp\":0.9,"
			   "\"sampling_temperature\":0.7,\"seed\":42,\"return_alternatives\":3}}",
			   &r, &e, false),
		     S2S_API_OK, "%s", e.message);
	const s2s_decode_options *d = &r.opt.decode;
	cr_assert(r.opt.controls && r.opt.sampling && r.opt.seed_given);
	cr_assert_eq(d->min_length, 3);
	cr_assert_float_eq(d->repetition_penalty, 1.5f, 0);
	cr_assert_eq(d->no_repeat_ngram_size, 2);
	cr_assert(d->disable_unk);
	cr_assert_float_eq(d->coverage_penalty, 0.2f, 0);
	cr_assert_eq(d->length_penalty_type, S2S_LP_AVG);
	cr_assert_eq(d->sampling_topk, 0);
	cr_assert_eq(d->seed, 42u);
	cr_assert_eq(d->return_alternatives, 3);
	cr_assert_eq(r.opt.n_prefix_text, 2);
	cr_assert_str_eq(r.opt.prefix[0], "le");
	cr_assert_null(r.opt.prefix[1]);
	cr_assert_eq(r.opt.n_suppress_text, 1);
	s2s_api_request_deinit(&r);
	cr_assert_eq(parse("{\"text\":\"a\",\"options\":{\"beam_size\":2}}", &r, &e, false), S2S_API_OK);
	cr_assert(!r.opt.controls && !r.opt.sampling && !r.opt.prefix);
	s2s_api_request_deinit(&r);
}

Test(controls, resolve_looks_up_suppress_and_tokenizes_prefixes)
{
	fixture f;
	make(&f, 1, 3);
	s2s_api_request r;
	s2s_api_error e;
	int n_src[1] = {3};
	cr_assert_eq(parse("{\"text\":\"a b\",\"options\":{\"prefix\":\"a\",\"suppress\":[\"a\"]}}", &r,
			   &e, false),
		     S2S_API_OK);
	cr_assert_eq(s2s_api_resolve_controls(&r, f.model, n_src, &e), 0, "%s", e.message);
	int32_t a = s2s_vocab_lookup(s2s_model_tgt_vocab(f.model), "a", 1);
	cr_assert_eq(r.opt.decode.n_suppress, 1);
	cr_assert_eq(r.opt.decode.suppress[0], a);
	/* the target tokenizer's pieces: a word-start mark may come first */
	int n = r.opt.prefix_len[0];
	cr_assert(n >= 1 && n <= 2, "%d", n);
	cr_assert_eq(r.opt.prefix_ids[0][n - 1], a);
	s2s_api_request_deinit(&r);
	/* an unknown token, and </s>, are refused naming the entry */
	cr_assert_eq(parse("{\"text\":\"a b\",\"options\":{\"suppress\":[\"a\",\"zz-none\"]}}", &r, &e,
			   false),
		     S2S_API_OK);
	cr_assert_eq(s2s_api_resolve_controls(&r, f.model, n_src, &e), -1);
	cr_assert_eq(e.code, S2S_API_INVALID_OPTION);
	cr_assert_not_null(strstr(e.message, "options.suppress[1]"), "%s", e.message);
	s2s_api_request_deinit(&r);
	/* a prefix leaving no step: T = floor(2 * 3) + 10 = 16, max_length 2 -> 1 token at most */
	cr_assert_eq(parse("{\"text\":\"a b\",\"options\":{\"prefix\":\"a a\",\"max_length\":2}}", &r,
			   &e, false),
		     S2S_API_OK);
	cr_assert_eq(s2s_api_resolve_controls(&r, f.model, n_src, &e), -1);
	cr_assert_not_null(strstr(e.message, "options.prefix"), "%s", e.message);
	s2s_api_request_deinit(&r);
	/* sampling without a seed draws one (within 2^53) */
	cr_assert_eq(parse("{\"text\":\"a b\",\"options\":{\"sampling_topk\":0}}", &r, &e, false),
		     S2S_API_OK);
	cr_assert_eq(s2s_api_resolve_controls(&r, f.model, n_src, &e), 0, "%s", e.message);
	cr_assert(r.opt.decode.seed <= ((uint64_t)1 << 53));
	s2s_api_request_deinit(&r);
	unmake(&f);
}

Test(score, parse_and_refusals_name_the_target)
{
	s2s_api_request r;
	s2s_api_error e = {0};
	const char *ok = "{\"sentences\":[\"a\",\"b\"],\"targets\":[\"x\",\"y\"],"
			 "\"options\":{\"length_penalty\":0.6,\"coverage_penalty\":0.1}}";
	cr_assert_eq(s2s_api_parse_score(ok, strlen(ok), &LIMITS, &r, &e), 0, "%s", e.message);
	cr_assert_eq(r.n, 2);
	cr_assert_str_eq(r.targets[1], "y");
	cr_assert(r.opt.attention);
	cr_assert(r.opt.given & S2S_DEC_LENGTH_PENALTY);
	s2s_api_request_deinit(&r);
	static const struct {
		const char *body;
		s2s_api_code code;
		const char *field;
	} bad[] = {
		{"{\"text\":\"a\",\"target\":\" \"}", S2S_API_EMPTY_INPUT, "target"},
		{"{\"sentences\":[\"a\",\"b\"],\"targets\":[\"x\",\"\"]}", S2S_API_EMPTY_INPUT, "targets[1]"},
		{"{\"sentences\":[\"a\"],\"targets\":[\"x\",\"y\"]}", S2S_API_INVALID_FIELD, "targets"},
		{"{\"text\":\"a\"}", S2S_API_INVALID_FIELD, "target"},
		{"{\"text\":\"a\",\"target\":\"x\",\"options\":{\"beam_size\":2}}", S2S_API_UNKNOWN_OPTION,
		 "options.beam_size"},
		{"{\"text\":\"a\",\"target\":\"x\",\"options\":{\"length_penalty_type\":1}}",
		 S2S_API_INVALID_OPTION, "options.length_penalty_type"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		memset(&e, 0, sizeof e);
		cr_assert_eq(s2s_api_parse_score(bad[i].body, strlen(bad[i].body), &LIMITS, &r, &e), -1,
			     "%s", bad[i].body);
		cr_assert_eq(e.code, bad[i].code, "%s: %s", bad[i].body, e.message);
		cr_assert_not_null(strstr(e.message, bad[i].field), "%s: %s", bad[i].body, e.message);
		s2s_api_request_deinit(&r);
	}
}

Test(score, response_is_jansson_bytes_and_minus_infinity_is_null)
{
	fixture f;
	make(&f, 1, 3);
	f.res->hyps[0].logprobs[1] = -INFINITY;
	f.res->hyps[0].score = -INFINITY;
	f.res->hyps[0].norm_score = -INFINITY;
	char *targets[1] = {"a a"};
	s2s_api_sentence s = {"a b", &f.tok, f.res, 0.25, NULL, NULL};
	s2s_api_view v = {f.model, "m", "r", &f.opt, 1.0};
	s2s_api_error e = {0};
	for (int level = 0; level < 2; level++) {
		f.opt.word_level = level;
		char *body = s2s_api_score_response(&v, &s, targets, 1, &e);
		cr_assert_not_null(body, "%s", e.message);
		expect_jansson_bytes(body);
		cr_assert_not_null(strstr(body, "\"logprobs\":[-0.5,null,-0.5],\"score\":null"), "%s", body);
		cr_assert_not_null(strstr(body, "\"target\":\"a a\",\"tokens\":"), "%s", body);
		free(body);
	}
	/* NaN still fails, naming it */
	f.res->hyps[0].logprobs[1] = NAN;
	cr_assert_null(s2s_api_score_response(&v, &s, targets, 1, &e));
	unmake(&f);
}

Test(controls, response_keys_only_when_asked)
{
	fixture f;
	make(&f, 1, 3);
	s2s_alternative alts[2] = {{3, -0.25f}, {4, -1.5f}};
	f.res->alternatives = malloc(sizeof alts);
	memcpy(f.res->alternatives, alts, sizeof alts);
	f.res->n_alternatives = 2;
	s2s_api_sentence s = {"a b", &f.tok, f.res, 0.5, NULL, NULL};
	s2s_api_view v = {f.model, "m", "r", &f.opt, 1.0};
	s2s_api_error e = {0};
	char *body = s2s_api_translate_response(&v, &s, 1, &e);
	cr_assert_not_null(body);
	cr_assert_null(strstr(body, "\"seed\""));
	cr_assert_null(strstr(body, "\"alternatives\""));
	cr_assert_null(strstr(body, "\"prefix_tokens\""));
	free(body);
	char *prefix[1] = {"a"};
	int32_t pid[1] = {5}, *pids[1] = {pid};
	int plen[1] = {1};
	f.opt.sampling = true;
	f.opt.decode.seed = 7;
	f.opt.decode.return_alternatives = 2;
	f.opt.prefix = prefix;
	f.opt.prefix_ids = pids;
	f.opt.prefix_len = plen;
	f.opt.n_prefix_text = 1;
	body = s2s_api_translate_response(&v, &s, 1, &e);
	cr_assert_not_null(body, "%s", e.message);
	expect_jansson_bytes(body);
	cr_assert_not_null(strstr(body, "\"seed\":7,\"prefix_tokens\":1,\"alternatives\":[{\"token\":\"</s>\",\"id\":3,\"logprob\":-0.25},"),
			   "%s", body);
	free(body);
	f.opt.prefix = NULL; /* borrowed arrays: not freed by unmake */
	unmake(&f);
}
