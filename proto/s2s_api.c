/*
 * s2s_api.c - request parsing and the error table (see s2s_api.h). Response
 * building lives in s2s_api_response.c.
 */
#include "s2s_api.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	"deadline_ms", "partial", "format", "glossary", NULL};

static int unknown_options(json_t *opts, s2s_api_error *e)
{
	const char *k;
	json_t *v;
	json_object_foreach(opts, k, v) {
		size_t i = 0;
		while (option_keys[i] && strcmp(option_keys[i], k))
			i++;
		if (option_keys[i])
			continue;
		char known[400];
		size_t n = 0;
		for (i = 0; option_keys[i] && n < sizeof known; i++)
			n += (size_t)snprintf(known + n, sizeof known - n, "%s%s", i ? ", " : "",
					      option_keys[i]);
		return s2s_api_fail(e, S2S_API_UNKNOWN_OPTION,
				    "unknown option \"options.%.100s\"; the options are %s", k, known);
	}
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
	if (unknown_options(opts, e) < 0)
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
	    parse_glossary(opts, o, e) < 0)
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
	if (parse_options(json_object_get(root, "options"), lim, &out->opt, e) < 0)
		return -1;
	clamp_deadline(&out->opt, lim);
	return take_sentences(arr, text, false, lim, out, e);
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

void s2s_api_request_deinit(s2s_api_request *r)
{
	for (int i = 0; i < r->n; i++)
		free(r->sentences[i]);
	free(r->sentences);
	free(r->model);
	s2s_glossary_deinit(&r->opt.glossary);
	memset(r, 0, sizeof *r);
}
