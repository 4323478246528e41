/*
 * s2s_api.c - request parsing and the error table (see s2s_api.h). Response
 * building lives in s2s_api_response.c.
 */
#include "s2s_api.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static const struct {
	const char *name;
	int status;
} api_errors[] = {
	{"ok", 200},
#define S2S__API_ROW(name, str, status) {str, status},
	S2S_API_ERROR_MAP(S2S__API_ROW)
#undef S2S__API_ROW
};
#define N_API_ERRORS ((int)(sizeof api_errors / sizeof api_errors[0]))

int s2s_api_status(s2s_api_code code)
{
	return (int)code >= 0 && (int)code < N_API_ERRORS ? api_errors[code].status : 500;
}

const char *s2s_api_code_name(s2s_api_code code)
{
	return (int)code >= 0 && (int)code < N_API_ERRORS ? api_errors[code].name : "internal";
}

/*
 * True when [s, s+left) is the start of a valid character cut short by the
 * end: completed with continuation bytes (0x80, or 0xa0 where the lead byte
 * needs it, e.g. after 0xe0) it would be valid.
 */
static bool utf8_cut(const unsigned char *s, size_t left)
{
	static const unsigned char pads[] = {0x80, 0xa0};
	if (left >= 4 || s[0] < 0xc2)
		return false;
	for (size_t p = 0; p < sizeof pads; p++) {
		unsigned char buf[4] = {s[0], pads[p], 0x80, 0x80};
		for (size_t i = 1; i < left; i++)
			buf[i] = s[i];
		if (s2s_utf8_char_len((const char *)buf, 4) > left)
			return true;
	}
	return false;
}

char *s2s_api_utf8_sanitize(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	char *out = malloc(len * 3 + 1), *o = out;
	if (!out)
		return NULL;
	for (size_t i = 0; i < len;) {
		size_t n = u[i] ? s2s_utf8_char_len(s + i, len - i) : 0;
		if (n) {
			memcpy(o, u + i, n);
			o += n;
			i += n;
		} else if (utf8_cut(u + i, len - i)) {
			break; /* a message cut mid-character: drop the incomplete tail */
		} else {
			memcpy(o, "\xef\xbf\xbd", 3); /* U+FFFD */
			o += 3;
			i++;
		}
	}
	*o = '\0';
	return out;
}

int s2s_api_fail(s2s_api_error *e, s2s_api_code code, const char *fmt, ...)
{
	if (!e || e->code != S2S_API_OK)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(e->message, sizeof e->message, fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof e->message) {
		/* cut before "...", back to the start of a character */
		size_t at = sizeof e->message - 4;
		while (at > 0 && ((unsigned char)e->message[at] & 0xc0) == 0x80)
			at--;
		memcpy(e->message + at, "...", 4);
	}
	e->code = code;
	return -1;
}

char *s2s_api_error_body(const s2s_api_error *e)
{
	char *msg = s2s_api_utf8_sanitize(e->message, strnlen(e->message, sizeof e->message));
	json_t *j = msg ? json_pack("{s:{s:s,s:s}}", "error", "code", s2s_api_code_name(e->code),
				    "message", msg)
			: NULL;
	char *s = j ? json_dumps(j, S2S_API_DUMP_FLAGS) : NULL;
	json_decref(j);
	free(msg);
	return s;
}

int64_t s2s_api_request_cost(const s2s_decode_options *o, const int *n_src, int n)
{
	int64_t cost = 0;
	for (int i = 0; i < n; i++) {
		double t = floor((double)o->max_len_a * n_src[i]) + o->max_len_b;
		if (t > o->max_len)
			t = o->max_len;
		if (!(t >= 1))
			t = 1;
		int64_t c = (int64_t)o->beam_size * (int64_t)t;
		if (cost > INT64_MAX - c)
			return INT64_MAX;
		cost += c;
	}
	return cost;
}

/* ---- typed field readers: each names the field's JSON path in its error ---- */

static int get_int(json_t *obj, const char *key, long min, long max, int *dst, s2s_api_error *e)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return s2s_api_fail(e, S2S_API_INVALID_FIELD,
				    "field \"options.%s\" must be an integer in %ld..%ld", key, min, max);
	*dst = (int)json_integer_value(v);
	return 0;
}

static int get_num(json_t *obj, const char *key, double min, double max, double *dst,
		   s2s_api_error *e)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_number(v) || json_number_value(v) < min || json_number_value(v) > max)
		return s2s_api_fail(e, S2S_API_INVALID_FIELD,
				    "field \"options.%s\" must be a number in %g..%g", key, min, max);
	*dst = json_number_value(v);
	return 0;
}

static int get_bool(json_t *obj, const char *key, bool *dst, s2s_api_error *e)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return s2s_api_fail(e, S2S_API_INVALID_FIELD, "field \"options.%s\" must be true or false",
				    key);
	*dst = json_is_true(v);
	return 0;
}

static void options_defaults(s2s_api_options *o, const s2s_api_limits *lim)
{
	memset(o, 0, sizeof *o);
	s2s_decode_options_init(&o->decode);
	o->coverage = true;
	o->coverage_threshold = 0.5;
	o->deadline_ms = lim->default_deadline_ms;
}

/*
 * The body is parsed with JSON_ALLOW_NUL so that a "\u0000" is refused
 * naming its field, not as "invalid JSON" in jansson's words; every string
 * we keep goes through this check, because the rest of the server handles
 * them as C strings and would silently cut them at the NUL.
 */
static bool has_nul(json_t *s)
{
	return json_string_length(s) != strlen(json_string_value(s));
}

static int parse_level(json_t *opts, s2s_api_options *o, s2s_api_error *e)
{
	json_t *v = json_object_get(opts, "attention_level");
	if (!v || json_is_null(v))
		return 0;
	const char *s = json_string_value(v);
	if (!s || has_nul(v) || (strcmp(s, "word") && strcmp(s, "subword")))
		return s2s_api_fail(e, S2S_API_INVALID_FIELD,
				    "field \"options.attention_level\" must be \"subword\" or \"word\"");
	o->word_level = !strcmp(s, "word");
	return 0;
}

static unsigned given_fields(json_t *opts);

bool s2s_api_protects(const s2s_api_options *o)
{
	return o->formats != 0 || o->glossary.n > 0;
}

/* One name or comma list of names into o->formats. */
static int add_formats(json_t *v, const char *path, s2s_api_options *o, s2s_api_error *e)
{
	s2s_error err = {0};
	if (!json_is_string(v) || has_nul(v))
		return s2s_api_fail(e, S2S_API_INVALID_FIELD,
				    "field \"%s\" must be a string: text, printf, brace, xml, html, "
				    "accelerator or auto (or a comma-separated list)",
				    path);
	if (s2s_format_parse(json_string_value(v), &o->formats, &err) < 0)
		return s2s_api_fail(e, S2S_API_INVALID_FIELD, "field \"%s\": %s", path, err.message);
	return 0;
}

/* options.format: a string ("printf", "printf,xml") or an array of them. */
static int parse_format(json_t *opts, s2s_api_options *o, s2s_api_error *e)
{
	json_t *v = json_object_get(opts, "format");
	char path[48];
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return add_formats(v, "options.format", o, e);
	for (size_t i = 0; i < json_array_size(v); i++) {
		snprintf(path, sizeof path, "options.format[%zu]", i);
		if (add_formats(json_array_get(v, i), path, o, e) < 0)
			return -1;
	}
	return 0;
}

/* One glossary entry: source string, target string or null (do not translate). */
static int add_term(s2s_glossary *g, const char *src, json_t *tgt, const char *path,
		    s2s_api_error *e)
{
	s2s_error err = {0};
	if (!src || (tgt && !json_is_null(tgt) && (!json_is_string(tgt) || has_nul(tgt))))
		return s2s_api_fail(e, S2S_API_INVALID_FIELD,
				    "field \"%s\": a term maps a source string to a target string "
				    "or null (do not translate)",
				    path);
	const char *t = tgt && json_is_string(tgt) ? json_string_value(tgt) : NULL;
	if (s2s_glossary_add(g, src, t, &err) < 0)
		return s2s_api_fail(e, err.code == S2S_ENOMEM ? S2S_API_INTERNAL : S2S_API_INVALID_FIELD,
				    "field \"%s\": %s", path, err.message);
	return 0;
}

/* The string of an array entry's "source", or NULL when it is not a NUL-free string. */
static const char *source_of(json_t *entry)
{
	json_t *s = json_object_get(entry, "source");
	return json_is_string(s) && !has_nul(s) ? json_string_value(s) : NULL;
}

/*
 * options.glossary: {"source": "target" | null, ...} or
 * [{"source": ..., "target": ... | null}, ...] (docs/localisation.md §3).
 */
static int parse_glossary(json_t *opts, s2s_api_options *o, s2s_api_error *e)
{
	json_t *v = json_object_get(opts, "glossary"), *t;
	const char *k;
	char path[300];
	if (!v || json_is_null(v))
		return 0;
	if (json_is_object(v)) {
		json_object_foreach(v, k, t) {
			snprintf(path, sizeof path, "options.glossary[\"%.200s\"]", k);
			if (add_term(&o->glossary, k, t, path, e) < 0)
				return -1;
		}
		return 0;
	}
	if (!json_is_array(v))
		return s2s_api_fail(e, S2S_API_INVALID_FIELD,
				    "field \"options.glossary\" must be an object or an array");
	for (size_t i = 0; i < json_array_size(v); i++) {
		json_t *it = json_array_get(v, i);
		snprintf(path, sizeof path, "options.glossary[%zu]", i);
		if (!json_is_object(it))
			return s2s_api_fail(e, S2S_API_INVALID_FIELD,
					    "field \"%s\" must be {\"source\": string, \"target\": "
					    "string or null}",
					    path);
		if (add_term(&o->glossary, source_of(it), json_object_get(it, "target"), path, e) < 0)
			return -1;
	}
	return 0;
}

/*
 * The keys of options. A misspelt one ({"beam": 5}) used to decode greedily
 * without a word; now it is refused, naming the key and the known ones.
 */
static const char *const option_keys[] = {
	"beam_size", "n_best", "max_length", "max_len_a", "max_len_b", "length_penalty",
	"attention", "attention_level", "coverage", "coverage_threshold", "replace_unk",
	"deadline_ms", "partial", "format", "glossary",
	/* issue 14: decoding controls (docs/checkpoint-format.md §7.1-7.6) */
	"prefix", "min_length", "repetition_penalty", "no_repeat_ngram_size", "suppress",
	"disable_unk", "coverage_penalty", "length_penalty_type", "sampling_topk",
	"sampling_topp", "sampling_temperature", "seed", "return_alternatives", NULL};

/* The options of POST /v1/score: those that change a given target's score or its display. */
static const char *const score_keys[] = {"length_penalty", "length_penalty_type",
					 "coverage_penalty", "attention", "attention_level",
					 "deadline_ms", NULL};

/* The issue-14 keys (the tail of option_keys): naming any sets o->controls. */
#define FIRST_CONTROL "prefix"

static int unknown_options(json_t *opts, const char *const *keys, s2s_api_error *e)
{
	const char *k;
	json_t *v;
	json_object_foreach(opts, k, v) {
		size_t i = 0;
		while (keys[i] && strcmp(keys[i], k))
			i++;
		if (keys[i])
			continue;
		char known[800];
		size_t n = 0;
		for (i = 0; keys[i] && n < sizeof known; i++)
			n += (size_t)snprintf(known + n, sizeof known - n, "%s%s", i ? ", " : "",
					      keys[i]);
		return s2s_api_fail(e, S2S_API_UNKNOWN_OPTION,
				    "unknown option \"options.%.100s\"; the options are %s", k, known);
	}
	return 0;
}

/* ---- issue-14 controls: a bad value is 422 invalid_option naming the field ---- */

static int opt_int(json_t *obj, const char *key, long min, long max, int *dst, s2s_api_error *e)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return s2s_api_fail(e, S2S_API_INVALID_OPTION,
				    "field \"options.%s\" must be an integer in %ld..%ld", key, min, max);
	*dst = (int)json_integer_value(v);
	return 0;
}

/* A number in [min, max], or (min, max] when open_min; the message says which. */
static int opt_num(json_t *obj, const char *key, double min, bool open_min, double max,
		   float *dst, s2s_api_error *e)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v))
		return 0;
	double x = json_is_number(v) ? json_number_value(v) : NAN;
	if (!(open_min ? x > min : x >= min) || !(x <= max))
		return s2s_api_fail(e, S2S_API_INVALID_OPTION,
				    "field \"options.%s\" must be a number in %s%g, %g]", key,
				    open_min ? "(" : "[", min, max);
	*dst = (float)x;
	return 0;
}

static int opt_bool(json_t *obj, const char *key, bool *dst, s2s_api_error *e)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return s2s_api_fail(e, S2S_API_INVALID_OPTION,
				    "field \"options.%s\" must be true or false", key);
	*dst = json_is_true(v);
	return 0;
}

static int parse_lp_type(json_t *opts, s2s_decode_options *d, s2s_api_error *e)
{
	static const char *const names[] = {"wu", "avg", "none"}; /* s2s_length_penalty_type order */
	json_t *v = json_object_get(opts, "length_penalty_type");
	if (!v || json_is_null(v))
		return 0;
	for (int i = 0; i < 3 && json_is_string(v); i++)
		if (!strcmp(json_string_value(v), names[i]) && !has_nul(v)) {
			d->length_penalty_type = i;
			return 0;
		}
	return s2s_api_fail(e, S2S_API_INVALID_OPTION,
			    "field \"options.length_penalty_type\" must be \"wu\", \"avg\" or \"none\"");
}

/* JSON numbers are doubles: a seed above 2^53 would not come back as it went. */
#define SEED_MAX ((json_int_t)1 << 53)

static int parse_seed(json_t *opts, s2s_api_options *o, s2s_api_error *e)
{
	json_t *v = json_object_get(opts, "seed");
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > SEED_MAX)
		return s2s_api_fail(e, S2S_API_INVALID_OPTION,
				    "field \"options.seed\" must be an integer in 0..%lld",
				    (long long)SEED_MAX);
	o->decode.seed = (uint64_t)json_integer_value(v);
	o->seed_given = true;
	return 0;
}

/* options.suppress: an array of target token strings (looked up once the model is known). */
static int parse_suppress(json_t *opts, s2s_api_options *o, s2s_api_error *e)
{
	json_t *v = json_object_get(opts, "suppress");
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v) || json_array_size(v) > S2S_MAX_SUPPRESS)
		return s2s_api_fail(e, S2S_API_INVALID_OPTION,
				    "field \"options.suppress\" must be an array of at most %d target "
				    "token strings",
				    S2S_MAX_SUPPRESS);
	size_t n = json_array_size(v);
	o->suppress_text = calloc(n + 1, sizeof *o->suppress_text);
	o->suppress_ids = calloc(n + 1, sizeof *o->suppress_ids);
	if (!o->suppress_text || !o->suppress_ids)
		return s2s_api_fail(e, S2S_API_INTERNAL, "out of memory");
	for (size_t i = 0; i < n; i++) {
		json_t *t = json_array_get(v, i);
		if (!json_is_string(t) || has_nul(t))
			return s2s_api_fail(e, S2S_API_INVALID_OPTION,
					    "field \"options.suppress[%zu]\" must be a token string", i);
		if (!(o->suppress_text[o->n_suppress_text++] = strdup(json_string_value(t))))
			return s2s_api_fail(e, S2S_API_INTERNAL, "out of memory");
	}
	return 0;
}

/*
 * options.prefix: one string for every sentence, or an array parallel to the
 * sentences of strings or null (no prefix). Called once n is known.
 */
static int parse_prefix(json_t *opts, s2s_api_request *r, s2s_api_error *e)
{
	json_t *v = opts ? json_object_get(opts, "prefix") : NULL;
	s2s_api_options *o = &r->opt;
	if (!v || json_is_null(v))
		return 0;
	if (json_is_array(v) && json_array_size(v) != (size_t)r->n)
		return s2s_api_fail(e, S2S_API_INVALID_OPTION,
				    "field \"options.prefix\" has %zu entries; it needs one per sentence "
				    "(%d), each a string or null",
				    json_array_size(v), r->n);
	if (!json_is_array(v) && !json_is_string(v))
		return s2s_api_fail(e, S2S_API_INVALID_OPTION,
				    "field \"options.prefix\" must be a string or an array of strings "
				    "or null, one per sentence");
	o->prefix = calloc((size_t)r->n, sizeof *o->prefix);
	if (!o->prefix)
		return s2s_api_fail(e, S2S_API_INTERNAL, "out of memory");
	o->n_prefix_text = r->n;
	o->prefix_one = !json_is_array(v);
	for (int i = 0; i < r->n; i++) {
		json_t *p = json_is_array(v) ? json_array_get(v, (size_t)i) : v;
		if (json_is_null(p))
			continue;
		if (!json_is_string(p) || has_nul(p))
			return s2s_api_fail(e, S2S_API_INVALID_OPTION,
					    "field \"options.prefix[%d]\" must be a string or null", i);
		if (!(o->prefix[i] = strdup(json_string_value(p))))
			return s2s_api_fail(e, S2S_API_INTERNAL, "out of memory");
	}
	return 0;
}

/* Whether opts names any key of option_keys from FIRST_CONTROL on. */
static bool names_controls(json_t *opts)
{
	bool on = false;
	for (size_t i = 0; option_keys[i]; i++) {
		on |= !strcmp(option_keys[i], FIRST_CONTROL);
		json_t *v = on ? json_object_get(opts, option_keys[i]) : NULL;
		if (v && !json_is_null(v))
			return true;
	}
	return false;
}

/* The controls both routes take (score: only the length and coverage penalties). */
static int parse_penalties(json_t *opts, s2s_api_options *o, s2s_api_error *e)
{
	s2s_decode_options *d = &o->decode;
	return parse_lp_type(opts, d, e) < 0 ||
			       opt_num(opts, "coverage_penalty", 0, false, 100, &d->coverage_penalty, e) < 0
		       ? -1
		       : 0;
}

static int parse_controls(json_t *opts, s2s_api_options *o, s2s_api_error *e)
{
	s2s_decode_options *d = &o->decode;
	if (parse_penalties(opts, o, e) < 0 ||
	    opt_int(opts, "min_length", 0, 4096, &d->min_length, e) < 0 ||
	    opt_num(opts, "repetition_penalty", 0, true, 100, &d->repetition_penalty, e) < 0 ||
	    opt_int(opts, "no_repeat_ngram_size", 0, S2S_MAX_NGRAM, &d->no_repeat_ngram_size, e) < 0 ||
	    parse_suppress(opts, o, e) < 0 || opt_bool(opts, "disable_unk", &d->disable_unk, e) < 0 ||
	    opt_int(opts, "sampling_topk", 0, 1 << 24, &d->sampling_topk, e) < 0 ||
	    opt_num(opts, "sampling_topp", 0, true, 1, &d->sampling_topp, e) < 0 ||
	    opt_num(opts, "sampling_temperature", 0, true, 100, &d->sampling_temperature, e) < 0 ||
	    parse_seed(opts, o, e) < 0 ||
	    opt_int(opts, "return_alternatives", 0, 64, &d->return_alternatives, e) < 0)
		return -1;
	o->controls = names_controls(opts);
	o->sampling = d->sampling_topk != 1;
	if (!o->sampling && d->sampling_topp < 1.0f)
		return s2s_api_fail(e, S2S_API_INVALID_OPTION,
				    "field \"options.sampling_topp\" needs \"options.sampling_topk\" "
				    "other than 1 (0 = the whole vocabulary), as in CTranslate2");
	if (!o->sampling && d->sampling_temperature != 1.0f)
		return s2s_api_fail(e, S2S_API_INVALID_OPTION,
				    "field \"options.sampling_temperature\" needs "
				    "\"options.sampling_topk\" other than 1 (0 = the whole vocabulary), "
				    "as in CTranslate2");
	return 0;
}

static int parse_options(json_t *opts, const s2s_api_limits *lim, s2s_api_options *o,
			 s2s_api_error *e)
{
	s2s_decode_options *d = &o->decode;
	double a = d->max_len_a, lp = d->length_penalty;

	if (!opts || json_is_null(opts))
		return 0;
	if (!json_is_object(opts))
		return s2s_api_fail(e, S2S_API_INVALID_FIELD, "field \"options\" must be an object");
	if (unknown_options(opts, option_keys, e) < 0)
		return -1;
	if (get_int(opts, "beam_size", 1, lim->max_beam, &d->beam_size, e) < 0 ||
	    get_int(opts, "n_best", 1, lim->max_beam, &d->n_best, e) < 0 ||
	    get_int(opts, "max_length", 1, 4096, &d->max_len, e) < 0 ||
	    get_num(opts, "max_len_a", 0, 100, &a, e) < 0 ||
	    get_int(opts, "max_len_b", 0, 4096, &d->max_len_b, e) < 0 ||
	    get_num(opts, "length_penalty", 0, 10, &lp, e) < 0 ||
	    get_bool(opts, "attention", &o->attention, e) < 0 || parse_level(opts, o, e) < 0 ||
	    get_bool(opts, "coverage", &o->coverage, e) < 0 ||
	    get_num(opts, "coverage_threshold", 0, 1000, &o->coverage_threshold, e) < 0 ||
	    get_bool(opts, "replace_unk", &o->replace_unk, e) < 0 ||
	    get_int(opts, "deadline_ms", 0, 600000, &o->deadline_ms, e) < 0 ||
	    get_bool(opts, "partial", &o->partial, e) < 0 || parse_format(opts, o, e) < 0 ||
	    parse_glossary(opts, o, e) < 0 || parse_controls(opts, o, e) < 0)
		return -1;
	d->max_len_a = (float)a;
	d->length_penalty = (float)lp;
	o->given = given_fields(opts);
	/* Both named: refuse now, naming the field. With n_best alone the beam
	 * may still come from the model (s2s_api_apply_model_defaults checks). */
	if ((o->given & S2S_DEC_BEAM_SIZE) && d->n_best > d->beam_size)
		return s2s_api_fail(e, S2S_API_INVALID_FIELD,
				    "field \"options.n_best\" must be an integer in 1..%d (the beam size)",
				    d->beam_size);
	return 0;
}

/* The decoding fields a request named (S2S_DEC_* bits): those win over a model's defaults. */
static unsigned given_fields(json_t *opts)
{
	static const struct {
		const char *key;
		unsigned bit;
	} keys[] = {{"beam_size", S2S_DEC_BEAM_SIZE}, {"n_best", S2S_DEC_N_BEST},
		    {"max_length", S2S_DEC_MAX_LEN},  {"max_len_a", S2S_DEC_MAX_LEN_A},
		    {"max_len_b", S2S_DEC_MAX_LEN_B}, {"length_penalty", S2S_DEC_LENGTH_PENALTY}};
	unsigned given = 0;
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		json_t *v = json_object_get(opts, keys[i].key);
		if (v && !json_is_null(v))
			given |= keys[i].bit;
	}
	return given;
}

int s2s_api_apply_model_defaults(s2s_api_options *o, const s2s_model *m,
				 const s2s_api_limits *lim, s2s_api_error *e)
{
	s2s_decode_options def;
	unsigned set = m ? s2s_model_decode_defaults(m, &def) : 0;
	s2s_decode_options *d = &o->decode;
	s2s_decode_options_merge(d, o->given, &def, set);
	/* A checkpoint's beam default is a preference; the server's max_beam is a limit. */
	if (!(o->given & S2S_DEC_BEAM_SIZE) && d->beam_size > lim->max_beam)
		d->beam_size = lim->max_beam;
	if (!(o->given & S2S_DEC_N_BEST) && d->n_best > d->beam_size)
		d->n_best = d->beam_size;
	if (d->n_best > d->beam_size)
		return s2s_api_fail(e, S2S_API_INVALID_FIELD,
				    "field \"options.n_best\" (%d) is more than the beam size (%d)",
				    d->n_best, d->beam_size);
	return 0;
}

static bool blank(const char *s)
{
	for (; *s; s++)
		if (!strchr(" \t\n\v\f\r", *s))
			return false;
	return true;
}

/* JSON path of sentence i: "text", "sentences[i]" or, for OpenNMT, "[i].src". */
static void sentence_path(char *buf, size_t n, bool text, bool opennmt, size_t i)
{
	if (text)
		snprintf(buf, n, "text");
	else if (opennmt)
		snprintf(buf, n, "[%zu].src", i);
	else
		snprintf(buf, n, "sentences[%zu]", i);
}

/* Copies the sentence strings of `arr` (or the one string `text`) into r. */
static int take_sentences(json_t *arr, json_t *text, bool opennmt, const s2s_api_limits *lim,
			  s2s_api_request *r, s2s_api_error *e)
{
	size_t n = text ? 1 : json_array_size(arr);
	char path[64];

	if (n == 0 && opennmt)
		return s2s_api_fail(e, S2S_API_INVALID_FIELD,
				    "the body must be a non-empty array of {\"src\", \"id\"} objects");
	if (n == 0)
		return s2s_api_fail(e, S2S_API_INVALID_FIELD,
				    "field \"sentences\" is empty; it must hold 1..%d strings",
				    lim->max_sentences);
	if (n > (size_t)lim->max_sentences)
		return s2s_api_fail(e, S2S_API_TOO_MANY_SENTENCES,
				    "%zu sentences given; a request takes 1..%d (max_sentences raises the "
				    "limit)",
				    n, lim->max_sentences);
	r->sentences = calloc(n, sizeof *r->sentences);
	if (!r->sentences)
		return s2s_api_fail(e, S2S_API_INTERNAL, "out of memory");
	for (size_t i = 0; i < n; i++) {
		json_t *v = text ? text : json_array_get(arr, i);
		json_t *s = opennmt ? json_object_get(v, "src") : v;
		sentence_path(path, sizeof path, text != NULL, opennmt, i);
		if (!json_is_string(s))
			return s2s_api_fail(e, S2S_API_INVALID_FIELD, "field \"%s\" must be a string",
					    path);
		if (has_nul(s))
			return s2s_api_fail(e, S2S_API_INVALID_FIELD,
					    "field \"%s\" contains U+0000 (NUL) at byte %zu; text must not contain NUL",
					    path, strlen(json_string_value(s)));
		r->sentences[r->n] = strdup(json_string_value(s));
		if (!r->sentences[r->n++])
			return s2s_api_fail(e, S2S_API_INTERNAL, "out of memory");
		if (blank(json_string_value(s)))
			return s2s_api_fail(e, S2S_API_EMPTY_INPUT, "%s is empty", path);
	}
	return 0;
}

/* True for the characters of a JSON number literal. */
static bool number_char(char c)
{
	return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

/*
 * jansson refuses a number it cannot hold (1e400, 99999999999999999999) for
 * the whole document, which would make a bad field look like bad JSON. The
 * literal ending at `end` is replaced, in the copy `buf`, by `[]` padded with
 * spaces: a value every field of the API refuses with invalid_field naming
 * the field (each field is a string, number, boolean or object, and an empty
 * "sentences" array is refused too). False when `end` does not end a number.
 */
static bool blank_number(char *buf, size_t len, size_t end)
{
	if (end > len)
		return false;
	size_t start = end;
	while (start > 0 && number_char(buf[start - 1]))
		start--;
	if (end - start < 2)
		return false;
	memset(buf + start, ' ', end - start);
	memcpy(buf + start, "[]", 2);
	return true;
}

static json_t *load_body(const char *body, size_t len, s2s_api_error *e)
{
	json_error_t je;
	char *copy = NULL;
	json_t *root = json_loadb(body, len, JSON_ALLOW_NUL, &je);
	/* a few numbers out of range at most; past that the body is just bad */
	for (int tries = 0; !root && json_error_code(&je) == json_error_numeric_overflow && tries < 16;
	     tries++) {
		if (!copy && !(copy = malloc(len ? len : 1)))
			break;
		if (tries == 0)
			memcpy(copy, body, len);
		if (je.position < 0 || !blank_number(copy, len, (size_t)je.position))
			break;
		root = json_loadb(copy, len, JSON_ALLOW_NUL, &je);
	}
	free(copy);
	if (!root)
		s2s_api_fail(e, S2S_API_INVALID_JSON, "body is not valid JSON: %s (line %d, column %d)",
			     je.text, je.line, je.column);
	return root;
}

/*
 * The server caps the deadline: a deadline above max_deadline_ms, or none,
 * becomes max_deadline_ms (none stays none when the operator allows it).
 */
static void clamp_deadline(s2s_api_options *o, const s2s_api_limits *lim)
{
	if (lim->max_deadline_ms <= 0)
		return;
	bool over = o->deadline_ms == 0 ? !lim->allow_no_deadline
					: o->deadline_ms > lim->max_deadline_ms;
	if (over) {
		o->deadline_ms = lim->max_deadline_ms;
		o->deadline_clamped = true;
	}
}

static int parse_translate_root(json_t *root, const s2s_api_limits *lim, s2s_api_request *out,
				s2s_api_error *e)
{
	if (!json_is_object(root))
		return s2s_api_fail(e, S2S_API_INVALID_FIELD, "the body must be a JSON object");
	json_t *model = json_object_get(root, "model");
	if (model && !json_is_null(model)) {
		if (!json_is_string(model))
			return s2s_api_fail(e, S2S_API_INVALID_FIELD, "field \"model\" must be a string");
		if (has_nul(model))
			return s2s_api_fail(e, S2S_API_INVALID_FIELD,
					    "field \"model\" contains U+0000 (NUL)");
		out->model = strdup(json_string_value(model));
	}
	json_t *text = json_object_get(root, "text"), *arr = json_object_get(root, "sentences");
	if (!text == !arr)
		return s2s_api_fail(e, S2S_API_INVALID_FIELD,
				    "exactly one of field \"sentences\" and field \"text\" is required");
	if (arr && !json_is_array(arr))
		return s2s_api_fail(e, S2S_API_INVALID_FIELD,
				    "field \"sentences\" must be an array of strings");
	json_t *opts = json_object_get(root, "options");
	if (parse_options(opts, lim, &out->opt, e) < 0)
		return -1;
	clamp_deadline(&out->opt, lim);
	if (take_sentences(arr, text, false, lim, out, e) < 0)
		return -1;
	return json_is_object(opts) ? parse_prefix(opts, out, e) : 0;
}

int s2s_api_parse_translate(const char *body, size_t len, const s2s_api_limits *lim,
			    s2s_api_request *out, s2s_api_error *e)
{
	memset(out, 0, sizeof *out);
	out->opennmt_id = -1;
	options_defaults(&out->opt, lim);
	json_t *root = load_body(body, len, e);
	if (!root)
		return -1;
	int rc = parse_translate_root(root, lim, out, e);
	json_decref(root);
	return rc;
}

static int parse_opennmt_root(json_t *root, const s2s_api_limits *lim, s2s_api_request *out,
			      s2s_api_error *e)
{
	if (!json_is_array(root))
		return s2s_api_fail(e, S2S_API_INVALID_FIELD,
				    "the body must be an array of {\"src\", \"id\"} objects");
	size_t i;
	json_t *item;
	json_array_foreach(root, i, item)
	{
		json_t *id = json_is_object(item) ? json_object_get(item, "id") : NULL;
		if (!json_is_object(item))
			return s2s_api_fail(e, S2S_API_INVALID_FIELD, "field \"[%zu]\" must be an object", i);
		if (id && (!json_is_integer(id) || json_integer_value(id) < 0 ||
			   json_integer_value(id) > S2S_API_MAX_MODEL_ID))
			return s2s_api_fail(e, S2S_API_INVALID_FIELD,
					    "field \"[%zu].id\" must be an integer from 0 to %d", i,
					    S2S_API_MAX_MODEL_ID);
		int v = id ? (int)json_integer_value(id) : S2S_API_DEFAULT_MODEL_ID;
		if (i > 0 && v != out->opennmt_id)
			return s2s_api_fail(e, S2S_API_INVALID_FIELD,
					    "field \"[%zu].id\" differs from \"[0].id\"; one request serves one model", i);
		out->opennmt_id = v;
	}
	return take_sentences(root, NULL, true, lim, out, e);
}

int s2s_api_parse_opennmt(const char *body, size_t len, const s2s_api_limits *lim,
			  s2s_api_request *out, s2s_api_error *e)
{
	memset(out, 0, sizeof *out);
	out->opennmt_id = S2S_API_DEFAULT_MODEL_ID;
	options_defaults(&out->opt, lim);
	out->opt.coverage = false;
	clamp_deadline(&out->opt, lim);
	json_t *root = load_body(body, len, e);
	if (!root)
		return -1;
	int rc = parse_opennmt_root(root, lim, out, e);
	json_decref(root);
	return rc;
}

/* ---- POST /v1/score ---- */

/* The targets, parallel to the sentences: "targets" (array) or "target" (with "text"). */
static int take_targets(json_t *arr, json_t *one, s2s_api_request *r, s2s_api_error *e)
{
	const char *name = one ? "target" : "targets";
	if (!arr && !one)
		return s2s_api_fail(e, S2S_API_INVALID_FIELD,
				    "field \"%s\" is required: the translation to score", name);
	if (arr && (!json_is_array(arr) || json_array_size(arr) != (size_t)r->n))
		return s2s_api_fail(e, S2S_API_INVALID_FIELD,
				    "field \"targets\" must be an array of %d strings, one per sentence",
				    r->n);
	r->single = one != NULL;
	r->targets = calloc((size_t)r->n, sizeof *r->targets);
	if (!r->targets)
		return s2s_api_fail(e, S2S_API_INTERNAL, "out of memory");
	for (int i = 0; i < r->n; i++) {
		json_t *t = one ? one : json_array_get(arr, (size_t)i);
		char path[32];
		snprintf(path, sizeof path, one ? "target" : "targets[%d]", i);
		if (!json_is_string(t) || has_nul(t))
			return s2s_api_fail(e, S2S_API_INVALID_FIELD,
					    "field \"%s\" must be a string without NUL", path);
		if (!(r->targets[i] = strdup(json_string_value(t))))
			return s2s_api_fail(e, S2S_API_INTERNAL, "out of memory");
		if (blank(r->targets[i]))
			return s2s_api_fail(e, S2S_API_EMPTY_INPUT,
					    "%s is empty; scoring needs a target sentence", path);
	}
	return 0;
}

static int parse_score_options(json_t *opts, s2s_api_options *o, s2s_api_error *e)
{
	s2s_decode_options *d = &o->decode;
	double lp = d->length_penalty;
	if (!opts || json_is_null(opts))
		return 0;
	if (!json_is_object(opts))
		return s2s_api_fail(e, S2S_API_INVALID_FIELD, "field \"options\" must be an object");
	if (unknown_options(opts, score_keys, e) < 0 ||
	    get_num(opts, "length_penalty", 0, 10, &lp, e) < 0 || parse_penalties(opts, o, e) < 0 ||
	    get_bool(opts, "attention", &o->attention, e) < 0 || parse_level(opts, o, e) < 0 ||
	    get_int(opts, "deadline_ms", 0, 600000, &o->deadline_ms, e) < 0)
		return -1;
	d->length_penalty = (float)lp;
	o->given = given_fields(opts);
	return 0;
}

static int parse_score_root(json_t *root, const s2s_api_limits *lim, s2s_api_request *out,
			    s2s_api_error *e)
{
	if (!json_is_object(root))
		return s2s_api_fail(e, S2S_API_INVALID_FIELD, "the body must be a JSON object");
	json_t *model = json_object_get(root, "model");
	if (model && !json_is_null(model)) {
		if (!json_is_string(model) || has_nul(model))
			return s2s_api_fail(e, S2S_API_INVALID_FIELD, "field \"model\" must be a string");
		out->model = strdup(json_string_value(model));
	}
	json_t *text = json_object_get(root, "text"), *arr = json_object_get(root, "sentences");
	if (!text == !arr)
		return s2s_api_fail(e, S2S_API_INVALID_FIELD,
				    "exactly one of field \"sentences\" (with \"targets\") and field "
				    "\"text\" (with \"target\") is required");
	if (arr && !json_is_array(arr))
		return s2s_api_fail(e, S2S_API_INVALID_FIELD,
				    "field \"sentences\" must be an array of strings");
	if (parse_score_options(json_object_get(root, "options"), &out->opt, e) < 0)
		return -1;
	clamp_deadline(&out->opt, lim);
	if (take_sentences(arr, text, false, lim, out, e) < 0)
		return -1;
	return take_targets(arr ? json_object_get(root, "targets") : NULL,
			    text ? json_object_get(root, "target") : NULL, out, e);
}

int s2s_api_parse_score(const char *body, size_t len, const s2s_api_limits *lim,
			s2s_api_request *out, s2s_api_error *e)
{
	memset(out, 0, sizeof *out);
	out->opennmt_id = -1;
	options_defaults(&out->opt, lim);
	out->opt.attention = true; /* the point of scoring: the matrix of the given target */
	out->opt.coverage = false;
	json_t *root = load_body(body, len, e);
	if (!root)
		return -1;
	int rc = parse_score_root(root, lim, out, e);
	json_decref(root);
	return rc;
}

/* ---- controls that need the model ---- */

uint64_t s2s_api_draw_seed(void)
{
	uint64_t x = 0;
	/* getrandom does not fail for 8 bytes once the pool is ready; the clock is a fallback */
	if (getrandom(&x, sizeof x, 0) != (ssize_t)sizeof x) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		x = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec;
	}
	return x & (((uint64_t)1 << 53) - 1);
}

static int resolve_suppress(s2s_api_options *o, const s2s_model *m, s2s_api_error *e)
{
	const s2s_vocab *v = s2s_model_tgt_vocab(m);
	for (int k = 0; k < o->n_suppress_text; k++) {
		const char *t = o->suppress_text[k];
		int32_t id = s2s_vocab_lookup(v, t, strlen(t));
		if (id == S2S_UNK && strcmp(t, s2s_vocab_token(v, S2S_UNK)))
			return s2s_api_fail(e, S2S_API_INVALID_OPTION,
					    "field \"options.suppress[%d]\": \"%.100s\" is not a token of "
					    "the target vocabulary",
					    k, o->suppress_text[k]);
		if (id == S2S_PAD || id == S2S_BOS || id == S2S_EOS)
			return s2s_api_fail(e, S2S_API_INVALID_OPTION,
					    "field \"options.suppress[%d]\": \"%.100s\" cannot be "
					    "suppressed (a sentence must be able to end)",
					    k, o->suppress_text[k]);
		o->suppress_ids[k] = id;
	}
	o->decode.suppress = o->n_suppress_text ? o->suppress_ids : NULL;
	o->decode.n_suppress = o->n_suppress_text;
	return 0;
}

/* T of docs/checkpoint-format.md §7 for a source of n tokens (as s2s_api_request_cost). */
static int steps_for(const s2s_decode_options *o, int n)
{
	double t = floor((double)o->max_len_a * n) + o->max_len_b;
	if (t > o->max_len)
		t = o->max_len;
	return t >= 1 ? (int)t : 1;
}

/*
 * Text `s` into target ids in *ids and *len (owned). `path` names it in errors.
 * Translation prefixes must leave a step (at most T - 1 tokens); score
 * targets must fit max_length - 1 and hold a token.
 */
static int target_ids(const s2s_model *m, const char *s, const char *path, int max,
		      const char *why, int32_t **ids, int *len, s2s_api_error *e)
{
	s2s_tokens t = {0};
	s2s_error err = {0};
	if (s2s_tokenize(s2s_model_tgt_tokenizer(m), s2s_model_tgt_vocab(m), s, strlen(s), &t,
			 &err) < 0)
		return s2s_api_fail(e, err.code == S2S_ENOMEM ? S2S_API_INTERNAL : S2S_API_INVALID_FIELD,
				    "field \"%s\": %s", path, err.message);
	int rc = 0;
	if (t.n > max)
		rc = s2s_api_fail(e, why ? S2S_API_INVALID_OPTION : S2S_API_INPUT_TOO_LONG,
				  "field \"%s\" has %d target tokens; at most %d fit %s", path, t.n,
				  max, why ? why : "max_length - 1 (the model's max_length)");
	else if (t.n > 0 && !(*ids = malloc((size_t)t.n * sizeof **ids)))
		rc = s2s_api_fail(e, S2S_API_INTERNAL, "out of memory");
	if (rc == 0 && t.n > 0)
		memcpy(*ids, t.ids, (size_t)t.n * sizeof **ids);
	if (rc == 0)
		*len = t.n;
	s2s_tokens_deinit(&t);
	return rc;
}

static int resolve_prefixes(s2s_api_request *r, const s2s_model *m, const int *n_src,
			    s2s_api_error *e)
{
	s2s_api_options *o = &r->opt;
	bool score = r->targets != NULL;
	int n = score ? r->n : o->n_prefix_text;
	char why[160], path[48];
	if (n == 0)
		return 0;
	o->prefix_ids = calloc((size_t)n, sizeof *o->prefix_ids);
	o->prefix_len = calloc((size_t)n, sizeof *o->prefix_len);
	if (!o->prefix_ids || !o->prefix_len)
		return s2s_api_fail(e, S2S_API_INTERNAL, "out of memory");
	o->n_prefix_text = n;
	for (int i = 0; i < n; i++) {
		const char *s = score ? r->targets[i] : o->prefix[i];
		int T = steps_for(&o->decode, n_src[i]);
		if (!s)
			continue;
		snprintf(path, sizeof path,
			 score ? (r->single ? "target" : "targets[%d]")
			       : (o->prefix_one ? "options.prefix" : "options.prefix[%d]"),
			 i);
		snprintf(why, sizeof why,
			 "the %d steps this sentence may take (max_length, max_len_a, max_len_b), "
			 "leaving one step to continue", T);
		if (target_ids(m, s, path, score ? o->decode.max_len - 1 : T - 1, score ? NULL : why,
			       &o->prefix_ids[i], &o->prefix_len[i], e) < 0)
			return -1;
		if (score && o->prefix_len[i] == 0)
			return s2s_api_fail(e, S2S_API_EMPTY_INPUT, "%s has no token", path);
	}
	return 0;
}

/* Conflicts with the model and between options, each naming the fields (422). */
static int check_conflicts(s2s_api_request *r, const s2s_model *m, s2s_api_error *e)
{
	s2s_api_options *o = &r->opt;
	s2s_decode_options *d = &o->decode;
	if (o->sampling && d->beam_size > 1) {
		if (o->given & S2S_DEC_BEAM_SIZE)
			return s2s_api_fail(e, S2S_API_INVALID_OPTION,
					    "field \"options.sampling_topk\" (sampling) needs "
					    "\"options.beam_size\" 1, not %d (as in CTranslate2)",
					    d->beam_size);
		d->beam_size = d->n_best = 1; /* a checkpoint's default beam yields to sampling */
	}
	if (o->sampling && d->n_best > 1)
		return s2s_api_fail(e, S2S_API_INVALID_OPTION,
				    "field \"options.n_best\" must be 1 with sampling");
	if (o->prefix && s2s_api_protects(o))
		return s2s_api_fail(e, S2S_API_INVALID_OPTION,
				    "field \"options.prefix\" cannot be combined with \"options.format\" "
				    "or \"options.glossary\" (the prefix would bypass the protected spans)");
	if (d->coverage_penalty > 0 && s2s_model_config(m)->attention == S2S_ATTN_NONE)
		return s2s_api_fail(e, S2S_API_INVALID_OPTION,
				    "field \"options.coverage_penalty\" needs a model with attention; "
				    "this one has none");
	if (d->sampling_topk > s2s_model_config(m)->tgt_vocab_size)
		return s2s_api_fail(e, S2S_API_INVALID_OPTION,
				    "field \"options.sampling_topk\" (%d) is more than the target "
				    "vocabulary (%d tokens)",
				    d->sampling_topk, s2s_model_config(m)->tgt_vocab_size);
	if (d->min_length > d->max_len)
		return s2s_api_fail(e, S2S_API_INVALID_OPTION,
				    "field \"options.min_length\" (%d) is more than max_length (%d)",
				    d->min_length, d->max_len);
	return 0;
}

int s2s_api_resolve_controls(s2s_api_request *r, const s2s_model *m, const int *n_src,
			     s2s_api_error *e)
{
	s2s_api_options *o = &r->opt;
	s2s_decode_options *d = &o->decode;
	s2s_error err = {0};
	if (r->targets) { /* forced decoding: one hypothesis, the target and </s> */
		d->beam_size = d->n_best = 1;
		d->force_eos = true;
	}
	if (check_conflicts(r, m, e) < 0 || resolve_suppress(o, m, e) < 0 ||
	    resolve_prefixes(r, m, n_src, e) < 0)
		return -1;
	if (o->sampling && !o->seed_given)
		d->seed = s2s_api_draw_seed();
	/* the rest of the bounds, as the core states them (one prefix at a time: none here) */
	if (s2s_decode_options_check(d, &err) < 0)
		return s2s_api_fail(e, S2S_API_INVALID_OPTION, "options: %s", err.message);
	return 0;
}

void s2s_api_request_deinit(s2s_api_request *r)
{
	for (int i = 0; i < r->n; i++) {
		free(r->sentences[i]);
		if (r->targets)
			free(r->targets[i]);
	}
	free(r->targets);
	s2s_api_options *o = &r->opt;
	for (int i = 0; i < o->n_prefix_text; i++) {
		if (o->prefix)
			free(o->prefix[i]);
		if (o->prefix_ids)
			free(o->prefix_ids[i]);
	}
	free(o->prefix);
	free(o->prefix_ids);
	free(o->prefix_len);
	for (int i = 0; i < o->n_suppress_text; i++)
		free(o->suppress_text[i]);
	free(o->suppress_text);
	free(o->suppress_ids);
	free(r->sentences);
	free(r->model);
	s2s_glossary_deinit(&r->opt.glossary);
	memset(r, 0, sizeof *r);
}
