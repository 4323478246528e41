/*
 * spans_dump.c - the parity dump of docs/localisation.md §12: the spans the
 * C core finds, one compact JSON line (keys sorted) per stdin line, for the
 * differential test against `python3 -m s2s_ref.spans --dump`.
 *
 *   build/tests/core/spans_dump FORMATS [GLOSSARY.json] < lines
 *
 * FORMATS is a comma list of format names; GLOSSARY.json the API's object
 * form ({"source term": "target" | null}). Exit status 2 on bad arguments.
 */
#include "config.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s2s_spans.h"

static const char *const kind_names[] = {"placeholder", "open", "close"};

static int load_glossary(const char *path, s2s_glossary *g)
{
	json_error_t jerr;
	json_t *root = json_load_file(path, 0, &jerr);
	if (!json_is_object(root)) {
		fprintf(stderr, "spans_dump: %s: %s\n", path, root ? "not an object" : jerr.text);
		json_decref(root);
		return -1;
	}
	const char *k;
	json_t *v;
	s2s_error err = {0};
	json_object_foreach(root, k, v)
	{
		if (!json_is_string(v) && !json_is_null(v)) {
			fprintf(stderr, "spans_dump: %s: \"%s\" needs a string or null\n", path, k);
			json_decref(root);
			return -1;
		}
		if (s2s_glossary_add(g, k, json_string_value(v), &err) < 0) {
			fprintf(stderr, "spans_dump: %s: %s\n", path, err.message);
			json_decref(root);
			return -1;
		}
	}
	json_decref(root);
	return 0;
}

static json_t *span_json(const s2s_spans *sp, const s2s_span *x)
{
	json_t *o = json_object();
	const char *out = x->glossary ? x->output : sp->text + x->start;
	size_t out_len = x->glossary ? strlen(x->output) : x->len;
	json_object_set_new(o, "end", json_integer((json_int_t)(x->start + x->len)));
	json_object_set_new(o, "glossary", json_boolean(x->glossary));
	json_object_set_new(o, "group", json_integer(x->group));
	json_object_set_new(o, "kind", json_string(kind_names[x->kind]));
	json_object_set_new(o, "output", json_stringn(out, out_len));
	json_object_set_new(o, "partner", json_integer(x->partner));
	json_object_set_new(o, "sentinel", json_integer(x->sentinel));
	json_object_set_new(o, "space_after", json_boolean(x->space_after));
	json_object_set_new(o, "space_before", json_boolean(x->space_before));
	json_object_set_new(o, "start", json_integer((json_int_t)x->start));
	return o;
}

static json_t *accel_json(const s2s_spans *sp)
{
	if (!sp->has_accel)
		return json_null();
	const char *c = sp->text + sp->accel_pos + 1;
	size_t cl = s2s_utf8_char_len(c, sp->len - sp->accel_pos - 1);
	char marker[2] = {sp->accel_marker, '\0'};
	json_t *o = json_object();
	json_object_set_new(o, "char", json_stringn(c, cl ? cl : 1));
	json_object_set_new(o, "marker", json_string(marker));
	json_object_set_new(o, "pos", json_integer((json_int_t)sp->accel_pos));
	return o;
}

static void dump_line(const char *line, size_t len, unsigned fmt, const s2s_glossary *g)
{
	s2s_spans sp;
	s2s_error err = {0};
	json_t *o = json_object(), *spans = json_array();
	if (s2s_spans_parse(line, len, fmt, g, &sp, &err) < 0) {
		json_object_set_new(o, "accel", json_null());
		json_object_set_new(o, "error", json_string(err.message));
	} else {
		json_object_set_new(o, "accel", accel_json(&sp));
		json_object_set_new(o, "error", json_null());
		for (int i = 0; i < sp.n; i++)
			json_array_append_new(spans, span_json(&sp, &sp.spans[i]));
	}
	json_object_set_new(o, "spans", spans);
	char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	if (s)
		puts(s);
	free(s);
	json_decref(o);
	s2s_spans_deinit(&sp);
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: spans_dump FORMATS [GLOSSARY.json] < lines\n");
		return 2;
	}
	unsigned fmt = 0;
	s2s_error err = {0};
	s2s_glossary g = {0};
	if (s2s_format_parse(argv[1], &fmt, &err) < 0) {
		fprintf(stderr, "spans_dump: %s\n", err.message);
		return 2;
	}
	if (argc == 3 && load_glossary(argv[2], &g) < 0) {
		s2s_glossary_deinit(&g);
		return 2;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, stdin)) >= 0) {
		if (n > 0 && line[n - 1] == '\n')
			n--;
		dump_line(line, (size_t)n, fmt, &g);
	}
	free(line);
	s2s_glossary_deinit(&g);
	return 0;
}
