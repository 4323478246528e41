/*
 * handlers.c - routing and the endpoints of docs/api.md.
 *
 * Every handler runs on the loop thread and never blocks: it answers at
 * once, or marks the request busy, hands the work over (scheduler or
 * thread pool) and suspends the connection; the completion callback sets
 * the response and resumes it.
 */
#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"
#include "notify.h"

static bool is_get(const s2sd_req *r)
{
	return !strcmp(r->method, "GET") || !strcmp(r->method, "HEAD");
}

static bool is_post(const s2sd_req *r)
{
	return !strcmp(r->method, "POST");
}

static void answer_json(s2sd_req *r, int status, json_t *j)
{
	char *s = j ? json_dumps(j, S2S_API_DUMP_FLAGS) : NULL;
	json_decref(j);
	if (!s)
		s2sd_req_error(r, S2S_API_INTERNAL, "out of memory");
	else
		s2sd_req_set(r, status, s, "application/json");
}

/*
 * Whether a Content-Type is JSON we can read: the media type
 * application/json, then nothing but parameters (`; name=value`, RFC 9110
 * §8.3.1; a value may be quoted but not contain a quote), and a
 * charset, if any, of utf-8 (RFC 8259 §8.1: JSON is UTF-8). On false, *why
 * says what is wrong.
 */
static bool json_content_type(const char *ct, const char **why)
{
	size_t n = ct ? strcspn(ct, "; \t") : 0;
	*why = "Content-Type must be application/json";
	if (!ct || n != 16 || strncasecmp(ct, "application/json", 16) != 0)
		return false;
	const char *p = ct + 16;
	for (;;) {
		p += strspn(p, " \t");
		if (!*p)
			return true;
		*why = "Content-Type has something other than parameters after application/json";
		if (*p != ';')
			return false;
		p += 1 + strspn(p + 1, " \t");
		if (!*p || *p == ';')
			continue; /* an empty parameter is allowed (RFC 9110 §5.6.6) */
		size_t name = strcspn(p, "=; \t");
		if (name == 0 || p[name] != '=')
			return false;
		bool charset = name == 7 && !strncasecmp(p, "charset", 7);
		p += name + 1;
		size_t vlen;
		if (*p == '"') {
			const char *end = strchr(p + 1, '"');
			if (!end)
				return false;
			vlen = (size_t)(end + 1 - p);
		} else {
			vlen = strcspn(p, "; \t");
		}
		if (vlen == 0)
			return false;
		if (charset) {
			const char *v = *p == '"' ? p + 1 : p;
			size_t l = *p == '"' ? vlen - 2 : vlen;
			*why = "the only charset accepted is utf-8";
			if (!((l == 5 && !strncasecmp(v, "utf-8", 5)) || (l == 4 && !strncasecmp(v, "utf8", 4))))
				return false;
		}
		p += vlen;
	}
}

/*
 * OpenNMT-py's server parses the body as JSON whatever the Content-Type
 * says (Flask's get_json(force=True)), so its clients often send none, or
 * curl -d's form type, or text/plain. Its route accepts those too; anything
 * else still gets the 415 that tells a client it sent the wrong thing.
 */
static bool opennmt_lenient_type(const char *ct)
{
	if (!ct || !*ct)
		return true;
	size_t n = strcspn(ct, "; \t");
	return (n == 33 && !strncasecmp(ct, "application/x-www-form-urlencoded", 33)) ||
	       (n == 10 && !strncasecmp(ct, "text/plain", 10));
}

/* 413 and 415 checks of the POST routes that read a JSON body. */
static bool body_ok(s2sd_req *r)
{
	const char *why;
	if (r->too_large) {
		s2sd_req_error(r, S2S_API_PAYLOAD_TOO_LARGE,
			       "request body exceeds %d bytes (max_body_bytes raises the limit)",
			       r->srv->cfg->max_body_bytes);
		return false;
	}
	const char *ct = s2sd_req_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
	if (r->route == S2SD_ROUTE_OPENNMT && opennmt_lenient_type(ct))
		return true;
	if (!json_content_type(ct, &why)) {
		s2sd_req_error(r, S2S_API_UNSUPPORTED_MEDIA_TYPE, "%s, got \"%.200s\"", why, ct ? ct : "");
		return false;
	}
	return true;
}

static void remember(s2sd_req *r, double total_ms);

/* ---- translation ---- */

void s2sd_req_free_translate(s2sd_req *r)
{
	for (int i = 0; r->toks && i < r->api.n; i++)
		s2s_tokens_deinit(&r->toks[i]);
	free(r->toks);
	r->toks = NULL;
	for (int i = 0; r->spans && i < r->api.n; i++) {
		s2s_spans_deinit(&r->spans[i]);
		s2s_masked_deinit(&r->masked[i]);
	}
	free(r->spans);
	free(r->masked);
	r->spans = NULL;
	r->masked = NULL;
	for (int i = 0; r->job.items && i < r->job.n_items; i++)
		s2s_result_free(r->job.items[i].result);
	free(r->job.items);
	r->job.items = NULL;
	s2s_model_unref(r->model);
	r->model = NULL;
	s2s_api_request_deinit(&r->api);
}

/* Bytes of s that end up in tokens: everything but the tokenizer's whitespace. */
static size_t token_bytes(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += !strchr(" \t\n\v\f\r", *s);
	return n;
}

/* The tokens sentence i is decoded from: its masked source, or its plain tokens. */
static const s2s_tokens *tokens_of(const s2sd_req *r, int i)
{
	if (r->spans && !r->masked[i].passthrough)
		return &r->masked[i].tok;
	return &r->toks[i];
}

/* The API error of a failed s2s_spans_parse / s2s_spans_mask. */
static void span_error(s2sd_req *r, const char *path, const s2s_error *err)
{
	switch (err->code) {
	case S2S_EINVAL: /* the one EINVAL of parsing: unbalanced markup under xml/html */
		s2sd_req_error(r, S2S_API_UNBALANCED_MARKUP, "%s: %s (options.format \"auto\" "
			       "leaves unbalanced tags as text)", path, err->message);
		break;
	case S2S_ETOOLONG:
		s2sd_req_error(r, S2S_API_TOO_MANY_SPANS, "%s: %s", path, err->message);
		break;
	case S2S_ENOMEM:
		s2sd_req_error(r, S2S_API_INTERNAL, "out of memory");
		break;
	default:
		s2sd_req_error(r, S2S_API_INVALID_FIELD, "field \"%s\": %s", path, err->message);
	}
}

/*
 * Finds sentence i's protected spans and masks them (docs/localisation.md);
 * a passthrough source (nothing but spans) is also tokenized plainly, so the
 * model still runs on it like on any other sentence.
 */
static bool protect_one(s2sd_req *r, int i, const char *path)
{
	s2s_error err = {0};
	const char *s = r->api.sentences[i];
	const s2s_tokenizer *tz = s2s_model_src_tokenizer(r->model);
	const s2s_vocab *v = s2s_model_src_vocab(r->model);
	int rc = s2s_spans_parse(s, strlen(s), r->api.opt.formats, &r->api.opt.glossary,
				 &r->spans[i], &err);
	if (rc == 0)
		rc = s2s_spans_mask(&r->spans[i], tz, v, s2s_model_sentinels(r->model),
				    &r->masked[i], &err);
	if (rc == 0 && r->masked[i].passthrough)
		rc = s2s_tokenize(tz, v, s, strlen(s), &r->toks[i], &err);
	if (rc < 0) {
		span_error(r, path, &err);
		return false;
	}
	const s2s_masked *ms = &r->masked[i];
	s2sd_metrics_protected(ms->passthrough	       ? S2SD_PROTECT_PASSTHROUGH
			       : r->spans[i].n == 0     ? S2SD_PROTECT_NONE
			       : ms->sentinel_path      ? S2SD_PROTECT_SENTINELS
							: S2SD_PROTECT_ALIGNMENT);
	return true;
}

/* Sentence i into tokens (masked when the request protects spans). */
static bool tokenize_one(s2sd_req *r, int i, const char *path)
{
	s2s_error err = {0};
	const char *s = r->api.sentences[i];
	if (r->spans)
		return protect_one(r, i, path);
	if (s2s_tokenize(s2s_model_src_tokenizer(r->model), s2s_model_src_vocab(r->model), s,
			 strlen(s), &r->toks[i], &err) < 0) {
		s2sd_req_error(r, S2S_API_INVALID_FIELD, "field \"%s\": %s", path, err.message);
		return false;
	}
	return true;
}

/*
 * Tokenizes every sentence with the entry's model; 422 for empty or over-long
 * ones. A sentence whose non-whitespace bytes cannot fit in max_tokens tokens
 * of the model's tokenizer (s2s_tokenizer_max_token_bytes) is refused before
 * tokenizing it: a 1 MB word costs one pass over its bytes on the loop thread,
 * not a tokenization.
 */
static bool tokenize_all(s2sd_req *r)
{
	/* options.max_length caps the output only; the source is capped by max_tokens. */
	const int max = r->srv->cfg->max_tokens;
	const s2s_tokenizer *tz = s2s_model_src_tokenizer(r->model);
	const size_t per_token = s2s_tokenizer_max_token_bytes(tz);
	char path[64];
	r->toks = calloc((size_t)r->api.n, sizeof *r->toks);
	if (s2s_api_protects(&r->api.opt)) {
		r->spans = calloc((size_t)r->api.n, sizeof *r->spans);
		r->masked = calloc((size_t)r->api.n, sizeof *r->masked);
	}
	if (!r->toks || (s2s_api_protects(&r->api.opt) && (!r->spans || !r->masked))) {
		s2sd_req_error(r, S2S_API_INTERNAL, "out of memory");
		return false;
	}
	for (int i = 0; i < r->api.n; i++) {
		const char *s = r->api.sentences[i];
		snprintf(path, sizeof path, r->api.opennmt_id >= 0 ? "[%d].src" : "sentences[%d]", i);
		size_t bytes = token_bytes(s);
		if (bytes > (size_t)max * per_token) {
			s2sd_req_error(r, S2S_API_INPUT_TOO_LONG,
				       "%s has at least %zu tokens (%zu bytes, at most %zu per token); at most %d are allowed",
				       path, (bytes + per_token - 1) / per_token, bytes, per_token, max);
			return false;
		}
		if (!tokenize_one(r, i, path))
			return false;
		const s2s_tokens *t = tokens_of(r, i);
		r->n_tokens += t->n;
		if (t->n == 0) {
			s2sd_req_error(r, S2S_API_EMPTY_INPUT, "%s is empty", path);
			return false;
		}
		if (t->n > max) {
			s2sd_req_error(r, S2S_API_INPUT_TOO_LONG, "%s has %d tokens; at most %d are allowed",
				       path, t->n, max);
			return false;
		}
	}
	return true;
}

/*
 * The source length in tokens of each sentence of the request, malloc'd (the
 * caller frees it); NULL after answering 500 when out of memory.
 */
static int *source_lengths(s2sd_req *r)
{
	int *n_src = malloc((size_t)r->api.n * sizeof *n_src);
	if (!n_src) {
		s2sd_req_error(r, S2S_API_INTERNAL, "out of memory");
		return NULL;
	}
	for (int i = 0; i < r->api.n; i++)
		n_src[i] = tokens_of(r, i)->n;
	return n_src;
}

/*
 * 422 cost_limit_exceeded when the request could take more decoder row-steps
 * than max_request_cost (s2s_api_request_cost): checked before anything is
 * queued, so one request cannot occupy the workers for minutes.
 */
static bool cost_ok(s2sd_req *r)
{
	int *n_src = source_lengths(r);
	if (!n_src)
		return false;
	int64_t cost = s2s_api_request_cost(&r->api.opt.decode, n_src, r->api.n);
	free(n_src);
	if (r->api.targets) { /* forced decoding: each pair takes its target's tokens and </s> */
		cost = 0;
		for (int i = 0; i < r->api.n; i++)
			cost += r->api.opt.prefix_len[i] + 1;
	}
	long long limit = r->srv->cfg->max_request_cost;
	if (cost <= limit)
		return true;
	s2sd_req_error(r, S2S_API_COST_LIMIT_EXCEEDED,
		       "the request's decoding cost is %lld (sum over its %d sentences of beam_size x "
		       "the most tokens each may generate, from max_length, max_len_a, max_len_b and "
		       "its source length); the limit is %lld (max_request_cost): lower beam_size or "
		       "max_length, or send fewer sentences per request",
		       (long long)cost, r->api.n, limit);
	return false;
}

static void submit(s2sd_req *r)
{
	s2sd_job *j = &r->job;
	j->model = r->model;
	j->opt = r->api.opt.decode;
	/* the core records attention only when something in the response needs it */
	j->opt.attention = r->api.opt.attention || r->api.opt.coverage || r->api.opt.replace_unk ||
			   r->api.opt.decode.coverage_penalty > 0;
	j->arrival_ns = r->arrival_ns;
	j->deadline_ns = r->api.opt.deadline_ms
				 ? r->arrival_ns + (uint64_t)r->api.opt.deadline_ms * 1000000ull
				 : 0;
	j->user = r;
	j->metrics_model = s2sd_metrics_model(r->entry->name);
	j->n_items = r->api.n;
	j->items = calloc((size_t)r->api.n, sizeof *j->items);
	if (!j->items) {
		s2sd_req_error(r, S2S_API_INTERNAL, "out of memory");
		return;
	}
	for (int i = 0; i < r->api.n; i++) {
		j->items[i].ids = tokens_of(r, i)->ids;
		j->items[i].n = tokens_of(r, i)->n;
		if (r->spans && r->masked[i].sentinel_path) {
			j->items[i].sentinel_ph = r->masked[i].n_ph;
			j->items[i].sentinel_pairs = r->masked[i].n_pairs;
		}
		/* per sentence: its prefix (or scored target) and seed + i (docs §7.5) */
		if (r->api.opt.prefix_ids && r->api.opt.prefix_ids[i]) {
			j->items[i].prefix = r->api.opt.prefix_ids[i];
			j->items[i].n_prefix = r->api.opt.prefix_len[i];
		}
		j->items[i].seed = j->opt.seed + (uint64_t)i;
	}
	if (s2sd_sched_submit(r->srv->sched, j) < 0) {
		s2sd_req_error(r, S2S_API_QUEUE_FULL,
			       "the admission queue (%d sentences) has no room for %d more; retry later",
			       r->srv->cfg->queue_length, r->api.n);
		return;
	}
	r->busy = true;
	s2sd_req_suspend(r);
}

static s2sd_model_entry *pick_model(s2sd_req *r)
{
	s2sd_models *ms = &r->srv->models;
	s2sd_model_entry *e = NULL;
	if (r->api.opennmt_id >= 0) {
		e = r->api.opennmt_id == S2S_API_DEFAULT_MODEL_ID
			    ? s2sd_models_find(ms, NULL)
			    : s2sd_models_find_id(ms, r->api.opennmt_id);
		if (!e) {
			char ids[256];
			s2sd_model_ids(ms, ids, sizeof ids);
			s2sd_req_error(r, S2S_API_MODEL_NOT_FOUND, "no model with id %d (served ids: %s)",
				       r->api.opennmt_id, ids);
		}
		return e;
	}
	e = s2sd_models_find(ms, r->api.model);
	if (!e)
		s2sd_req_error(r, S2S_API_MODEL_NOT_FOUND, "no model named \"%s\"",
			       r->api.model ? r->api.model : "");
	return e;
}

/*
 * The controls that need the model (prefix, suppress, seed; a score
 * request's targets): s2s_api_resolve_controls with each sentence's source
 * length.
 */
static bool controls_ok(s2sd_req *r)
{
	s2s_api_error e = {0};
	int *n_src = source_lengths(r);
	if (!n_src)
		return false;
	int rc = s2s_api_resolve_controls(&r->api, r->model, n_src, &e);
	free(n_src);
	if (rc < 0)
		s2sd_req_error(r, e.code, "%s", e.message);
	return rc == 0;
}

typedef enum { KIND_TRANSLATE, KIND_OPENNMT, KIND_SCORE } request_kind;

static int parse_request(s2sd_req *r, request_kind kind, const s2s_api_limits *lim,
			 s2s_api_error *e)
{
	const char *body = r->body ? r->body : "";
	switch (kind) {
	case KIND_OPENNMT:
		return s2s_api_parse_opennmt(body, r->body_len, lim, &r->api, e);
	case KIND_SCORE:
		return s2s_api_parse_score(body, r->body_len, lim, &r->api, e);
	default:
		return s2s_api_parse_translate(body, r->body_len, lim, &r->api, e);
	}
}

static void handle_translate(s2sd_req *r, request_kind kind)
{
	bool opennmt = kind == KIND_OPENNMT;
	const s2sd_config *c = r->srv->cfg;
	s2s_api_limits lim = {c->max_sentences, c->max_beam, c->default_deadline_ms,
			      c->max_deadline_ms, c->allow_no_deadline};
	s2s_api_error e = {0};
	if (!body_ok(r))
		return;
	if (parse_request(r, kind, &lim, &e) < 0) {
		s2sd_req_error(r, e.code, "%s", e.message);
		return;
	}
	if (!opennmt)
		r->api.opennmt_id = -1;
	/* the access log names the model asked for, also when there is none of that name */
	if (r->api.model)
		snprintf(r->model_name, sizeof r->model_name, "%s", r->api.model);
	if (!(r->entry = pick_model(r)))
		return;
	snprintf(r->model_name, sizeof r->model_name, "%s", r->entry->name);
	r->model = s2s_model_ref(r->entry->model);
	if (s2s_api_apply_model_defaults(&r->api.opt, r->model, &lim, &e) < 0) {
		s2sd_req_error(r, e.code, "%s", e.message);
		return;
	}
	if (tokenize_all(r) && controls_ok(r) && cost_ok(r))
		submit(r);
}

/* Builds the translate (or OpenNMT) response from the finished job. */
static void answer_job(s2sd_req *r)
{
	s2sd_job *j = &r->job;
	bool expired = false, failed = false;
	for (int i = 0; i < j->n_items; i++) {
		expired |= j->items[i].expired;
		failed |= !j->items[i].result && !j->items[i].expired;
	}
	if (failed) {
		s2sd_req_error(r, S2S_API_INTERNAL, "the decoder rejected a sentence (see the log)");
		return;
	}
	if (expired && (!r->api.opt.partial || r->api.opennmt_id >= 0)) {
		s2sd_req_error(r, S2S_API_DEADLINE_EXCEEDED,
			       "the deadline of %d ms%s passed before every sentence finished",
			       r->api.opt.deadline_ms,
			       r->api.opt.deadline_clamped ? " (the server's max_deadline_ms)" : "");
		return;
	}
	s2s_api_sentence *s = calloc(j->n_items > 0 ? (size_t)j->n_items : 1, sizeof *s);
	if (!s) {
		s2sd_req_error(r, S2S_API_INTERNAL, "out of memory");
		return;
	}
	for (int i = 0; i < j->n_items; i++)
		s[i] = (s2s_api_sentence){r->api.sentences[i], tokens_of(r, i), j->items[i].result,
					  j->items[i].queued_ms, r->spans ? &r->spans[i] : NULL,
					  r->spans ? &r->masked[i] : NULL};
	s2s_api_view v = {r->model, r->model_name, r->request_id, &r->api.opt,
			  (double)(s2sd_now_ns() - r->arrival_ns) / 1e6};
	s2s_api_error e = {0};
	char *body = r->api.targets	     ? s2s_api_score_response(&v, s, r->api.targets, j->n_items, &e)
		     : r->api.opennmt_id >= 0 ? s2s_api_opennmt_response(&v, s, j->n_items, &e)
					      : s2s_api_translate_response(&v, s, j->n_items, &e);
	free(s);
	if (!body) {
		s2sd_log(S2SD_LOG_ERR, "request %s: no response: %s", r->request_id, e.message);
		s2sd_req_error(r, S2S_API_INTERNAL, "%s", e.message);
		return;
	}
	if (!r->api.targets) /* /v1/recent lists translations, not scored pairs */
		remember(r, v.total_ms);
	if (body)
		s2sd_req_set(r, 200, body, "application/json");
}

void s2sd_handle_job_done(s2sd_job *job, void *ud)
{
	s2sd_req *r = job->user;
	if (!r->cancelled && !r->mhd_done)
		answer_job(r);
	s2sd_req_work_done(r);
}

/* ---- models and reload ---- */

static json_t *model_json(s2sd_server *srv, s2sd_model_entry *e)
{
	json_t *j = s2s_api_model_info(e->model, e->name, e == &srv->models.v[0], e->loaded_at,
				       e->reloads);
	if (j)
		json_object_set_new(j, "id", json_integer(e->id));
	return j;
}

static s2sd_model_entry *named_model(s2sd_req *r, const char *prefix);

/* GET /translator/models: OpenNMT-py's list, one object per model with its "model_id". */
static void handle_opennmt_models(s2sd_req *r)
{
	json_t *list = json_array();
	for (int i = 0; i < r->srv->models.n; i++) {
		s2sd_model_entry *e = &r->srv->models.v[i];
		json_array_append_new(list, json_pack("{s:i,s:s,s:b,s:b}", "model_id", e->id, "name",
						      e->name, "loaded", e->model != NULL, "default",
						      i == 0));
	}
	answer_json(r, 200, list);
}

/* GET /v2/models/{name}/ready (KServe v2): 200 while the model serves, 503 while draining. */
static void handle_model_ready(s2sd_req *r)
{
	s2sd_model_entry *e = named_model(r, "/v2/models/");
	if (!e)
		return;
	if (r->srv->draining)
		s2sd_req_error(r, S2S_API_NOT_READY, "draining: the daemon is shutting down");
	else
		answer_json(r, 200, json_pack("{s:s,s:b}", "name", e->name, "ready", 1));
}

/* GET /openapi.json: the API description installed beside the models. */
static void handle_openapi(s2sd_req *r)
{
	const s2sd_static_file *f = s2sd_static_find(&r->srv->api_spec, "openapi.json");
	if (!f) {
		s2sd_req_error(r, S2S_API_NOT_FOUND, "openapi.json is not installed in %s",
			       r->srv->cfg->data_dir);
		return;
	}
	const char *inm = s2sd_req_header(r, MHD_HTTP_HEADER_IF_NONE_MATCH);
	r->not_modified = inm && !strcmp(inm, f->etag);
	r->status = r->not_modified ? 304 : 200;
	r->file = f;
}

static void handle_models(s2sd_req *r)
{
	json_t *list = json_array();
	for (int i = 0; i < r->srv->models.n; i++)
		json_array_append_new(list, model_json(r->srv, &r->srv->models.v[i]));
	answer_json(r, 200, json_pack("{s:o}", "models", list));
}

/* The {name} of PREFIX{name}[/suffix] (/v1/models/, /v2/models/), copied into r->model_name. */
static s2sd_model_entry *named_model(s2sd_req *r, const char *prefix)
{
	const char *name = r->url + strlen(prefix);
	size_t len = strcspn(name, "/");
	snprintf(r->model_name, sizeof r->model_name, "%.*s", (int)(len < 64 ? len : 64), name);
	s2sd_model_entry *e = len < 65 ? s2sd_models_find(&r->srv->models, r->model_name) : NULL;
	if (!e)
		s2sd_req_error(r, S2S_API_MODEL_NOT_FOUND, "no model named \"%s\"", r->model_name);
	return e;
}

/* Constant-time comparison: the time taken does not depend on where they differ. */
static bool key_equal(const char *given, const char *key)
{
	size_t gl = strlen(given), kl = strlen(key);
	unsigned char diff = (unsigned char)(gl != kl);
	for (size_t i = 0; i < kl; i++)
		diff |= (unsigned char)(key[i] ^ (i < gl ? given[i] : 0));
	return diff == 0;
}

static bool admin_ok(s2sd_req *r)
{
	const char *key = r->srv->cfg->admin_key;
	if (!key || !*key) {
		s2sd_req_error(r, S2S_API_FORBIDDEN, "admin endpoints are disabled (no admin_key configured)");
		return false;
	}
	const char *auth = s2sd_req_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
	const char *given = s2sd_req_header(r, "X-API-Key");
	if (auth && !strncasecmp(auth, "Bearer ", 7))
		given = auth + 7;
	if (!given || !key_equal(given, key)) {
		s2sd_req_error(r, S2S_API_UNAUTHORIZED, "admin key missing or wrong");
		return false;
	}
	return true;
}

static void on_reloaded(s2sd_model_entry *e, bool ok, const char *message, const char *old_sha,
			void *ud)
{
	s2sd_req *r = ud;
	char stamp[32];
	time_t t = (time_t)e->loaded_at;
	struct tm tm;
	if (ok) {
		gmtime_r(&t, &tm);
		strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
		answer_json(r, 200, json_pack("{s:s,s:b,s:s,s:s,s:s}", "model", e->name, "reloaded", 1,
					      "sha256", s2s_model_sha256(e->model), "previous_sha256",
					      old_sha, "loaded_at", stamp));
	} else {
		s2sd_req_error(r, S2S_API_RELOAD_FAILED, "model %s: %s; the previous model still serves",
			       e->name, message);
	}
	s2sd_req_work_done(r);
}

static void handle_reload(s2sd_req *r)
{
	s2sd_model_entry *e;
	if (!admin_ok(r) || !(e = named_model(r, "/v1/models/")))
		return;
	if (s2sd_models_reload(&r->srv->models, e, on_reloaded, r) < 0) {
		s2sd_req_error(r, S2S_API_RELOAD_IN_PROGRESS, "a reload of %s is already running", e->name);
		return;
	}
	r->busy = true;
	s2sd_req_suspend(r);
}

/* ---- health and metrics ---- */

static void handle_readyz(s2sd_req *r)
{
	s2sd_server *srv = r->srv;
	int loaded = 0;
	for (int i = 0; i < srv->models.n; i++)
		loaded += srv->models.v[i].model != NULL;
	if (srv->draining)
		s2sd_req_error(r, S2S_API_NOT_READY, "draining: the daemon is shutting down");
	else if (loaded == 0 || loaded < srv->models.n)
		s2sd_req_error(r, S2S_API_NOT_READY, "%d of %d models loaded", loaded, srv->models.n);
	else
		answer_json(r, 200, json_pack("{s:s,s:i}", "status", "ready", "models", loaded));
}

static void handle_metrics(s2sd_req *r)
{
	s2sd_server *srv = r->srv;
	s2sd_metrics_gauges g = {s2sd_sched_queue_depth(srv->sched), srv->cfg->queue_length,
				 srv->models.n, srv->draining, srv->open_requests - 1};
	char *text = s2sd_metrics_render(&g);
	if (!text)
		s2sd_req_error(r, S2S_API_INTERNAL, "out of memory");
	else
		s2sd_req_set(r, 200, text, "text/plain; version=0.0.4; charset=utf-8");
}

/* ---- dashboard ---- */

static void handle_recent(s2sd_req *r)
{
	answer_json(r, 200, s2sd_recent_json(&r->srv->recent));
}

/* GET / (the page) and GET /dashboard/NAME (its files), from memory. */
static void handle_dashboard(s2sd_req *r)
{
	s2sd_server *srv = r->srv;
	const char *name = strcmp(r->url, "/") ? r->url + strlen("/dashboard/") : "index.html";
	if (!srv->cfg->dashboard) {
		s2sd_req_error(r, S2S_API_NOT_FOUND, "the dashboard is disabled (dashboard = false)");
		return;
	}
	const s2sd_static_file *f = s2sd_static_find(&srv->dashboard, name);
	if (!f) {
		if (srv->dashboard.n == 0)
			s2sd_req_error(r, S2S_API_NOT_FOUND, "the dashboard is not installed (no files in %s)",
				       srv->dashboard.dir ? srv->dashboard.dir : "?");
		else
			s2sd_req_error(r, S2S_API_NOT_FOUND, "no dashboard file %s", name);
		return;
	}
	const char *inm = s2sd_req_header(r, MHD_HTTP_HEADER_IF_NONE_MATCH);
	r->not_modified = inm && !strcmp(inm, f->etag);
	r->status = r->not_modified ? 304 : 200;
	r->file = f;
}

/* Remembers each translated sentence for GET /v1/recent (when enabled). */
static void remember(s2sd_req *r, double total_ms)
{
	s2sd_recent *rc = &r->srv->recent;
	if (rc->capacity == 0)
		return;
	for (int i = 0; i < r->job.n_items; i++) {
		s2s_api_sentence s = {r->api.sentences[i], tokens_of(r, i), r->job.items[i].result, 0,
				      r->spans ? &r->spans[i] : NULL, r->spans ? &r->masked[i] : NULL};
		char *text = s2s_api_best_text(r->model, &s, r->api.opt.replace_unk);
		if (text)
			s2sd_recent_add(rc, r->model_name, r->api.sentences[i], text, total_ms,
					r->api.opt.decode.beam_size);
		free(text);
	}
}

/* ---- routing ---- */

typedef struct {
	const char *path; /* exact path, or prefix when `named` */
	bool named;       /* /v1/models/{name}[suffix] */
	const char *suffix;
	s2sd_route route;
	bool post; /* else GET/HEAD */
} route_row;

static const route_row routes[] = {
	{"/v1/translate", false, NULL, S2SD_ROUTE_TRANSLATE, true},
	{"/translator/translate", false, NULL, S2SD_ROUTE_OPENNMT, true},
	{"/v1/score", false, NULL, S2SD_ROUTE_SCORE, true},
	{"/v1/models", false, NULL, S2SD_ROUTE_MODELS, false},
	{"/v1/models/", true, "/reload", S2SD_ROUTE_RELOAD, true},
	{"/v1/models/", true, "", S2SD_ROUTE_MODEL, false},
	{"/healthz", false, NULL, S2SD_ROUTE_HEALTHZ, false},
	{"/readyz", false, NULL, S2SD_ROUTE_READYZ, false},
	/* the same probes where other servers' users look for them (docs/api.md) */
	{"/health", false, NULL, S2SD_ROUTE_READYZ, false},            /* llama.cpp: 503 until ready */
	{"/v2/health/live", false, NULL, S2SD_ROUTE_HEALTHZ, false},   /* KServe v2 */
	{"/v2/health/ready", false, NULL, S2SD_ROUTE_READYZ, false},   /* KServe v2 */
	{"/translator/health", false, NULL, S2SD_ROUTE_HEALTHZ, false}, /* OpenNMT-py */
	{"/translator/models", false, NULL, S2SD_ROUTE_OPENNMT_MODELS, false}, /* OpenNMT-py */
	{"/v2/models/", true, "/ready", S2SD_ROUTE_MODEL_READY, false},  /* KServe v2 */
	{"/openapi.json", false, NULL, S2SD_ROUTE_OPENAPI, false},
	{"/metrics", false, NULL, S2SD_ROUTE_METRICS, false},
	{"/v1/recent", false, NULL, S2SD_ROUTE_RECENT, false},
	{"/", false, NULL, S2SD_ROUTE_DASHBOARD, false},
	{"/dashboard/", true, "", S2SD_ROUTE_DASHBOARD, false},
};

static bool route_match(const route_row *rt, const char *url)
{
	size_t n = strlen(rt->path);
	if (!rt->named)
		return !strcmp(url, rt->path);
	if (strncmp(url, rt->path, n) != 0)
		return false;
	const char *name = url + n;
	size_t len = strcspn(name, "/");
	return len > 0 && !strcmp(name + len, rt->suffix);
}

static void dispatch(s2sd_req *r, const route_row *rt)
{
	switch (rt->route) {
	case S2SD_ROUTE_TRANSLATE:
	case S2SD_ROUTE_OPENNMT:
	case S2SD_ROUTE_SCORE:
		if (r->srv->draining)
			s2sd_req_error(r, S2S_API_DRAINING, "the daemon is shutting down");
		else
			handle_translate(r, rt->route == S2SD_ROUTE_OPENNMT ? KIND_OPENNMT
					    : rt->route == S2SD_ROUTE_SCORE ? KIND_SCORE
									    : KIND_TRANSLATE);
		break;
	case S2SD_ROUTE_MODELS:
		handle_models(r);
		break;
	case S2SD_ROUTE_MODEL: {
		s2sd_model_entry *e = named_model(r, "/v1/models/");
		if (e)
			answer_json(r, 200, model_json(r->srv, e));
		break;
	}
	case S2SD_ROUTE_RELOAD:
		handle_reload(r);
		break;
	case S2SD_ROUTE_HEALTHZ:
		answer_json(r, 200, json_pack("{s:s}", "status", "ok"));
		break;
	case S2SD_ROUTE_READYZ:
		handle_readyz(r);
		break;
	case S2SD_ROUTE_RECENT:
		handle_recent(r);
		break;
	case S2SD_ROUTE_OPENNMT_MODELS:
		handle_opennmt_models(r);
		break;
	case S2SD_ROUTE_MODEL_READY:
		handle_model_ready(r);
		break;
	case S2SD_ROUTE_OPENAPI:
		handle_openapi(r);
		break;
	case S2SD_ROUTE_DASHBOARD:
		handle_dashboard(r);
		break;
	default:
		handle_metrics(r);
		break;
	}
}

/* The route of r (and r->route), or NULL after setting the 404 or 405. */
static const route_row *route_of(s2sd_req *r)
{
	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
		const route_row *rt = &routes[i];
		if (!route_match(rt, r->url))
			continue;
		r->route = rt->route;
		if (rt->post ? !is_post(r) : !is_get(r)) {
			r->allow = rt->post ? "POST" : "GET, HEAD";
			s2sd_req_error(r, S2S_API_METHOD_NOT_ALLOWED, "%s is not allowed on %s; use %s",
				       r->method, s2sd_route_name(rt->route), r->allow);
			return NULL;
		}
		return rt;
	}
	s2sd_req_error(r, S2S_API_NOT_FOUND, "no route %s", r->url);
	return NULL;
}

void s2sd_handle_route(s2sd_req *r)
{
	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
		if (route_match(&routes[i], r->url)) {
			r->route = routes[i].route;
			return;
		}
}

void s2sd_handle(s2sd_req *r)
{
	const route_row *rt = route_of(r);
	if (rt)
		dispatch(r, rt);
}

bool s2sd_handle_early(s2sd_req *r)
{
	const route_row *rt = route_of(r);
	if (!rt)
		return false;
	if (rt->route != S2SD_ROUTE_TRANSLATE && rt->route != S2SD_ROUTE_OPENNMT &&
	    rt->route != S2SD_ROUTE_SCORE)
		return true;
	const char *cl = s2sd_req_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl && strtoull(cl, NULL, 10) > (unsigned long long)r->srv->cfg->max_body_bytes)
		r->too_large = true;
	return body_ok(r);
}

/* ---- SIGHUP ---- */

static int reloads_running;

static void on_hup_reloaded(s2sd_model_entry *e, bool ok, const char *message,
			    const char *old_sha, void *ud)
{
	if (--reloads_running == 0)
		s2sd_notify("READY=1\nSTATUS=serving");
}

void s2sd_reload_all(s2sd_server *srv)
{
	s2sd_log(S2SD_LOG_NOTICE, "SIGHUP: reloading %d model(s)", srv->models.n);
	s2sd_notify("RELOADING=1\nSTATUS=reloading models");
	for (int i = 0; i < srv->models.n; i++)
		if (s2sd_models_reload(&srv->models, &srv->models.v[i], on_hup_reloaded, NULL) == 0)
			reloads_running++;
	if (reloads_running == 0)
		s2sd_notify("READY=1\nSTATUS=serving");
}
