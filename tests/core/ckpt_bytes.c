/*
 * ckpt_bytes.c - see ckpt_bytes.h. Deliberately independent of core/: the
 * split of a file into length, header and data is done here from the spec
 * (docs/checkpoint-format.md §1), not by calling the loader under test.
 */
#include "ckpt_bytes.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "ckpt_bytes: %s: %s\n", what, detail ? detail : "");
	abort();
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		die("out of memory", NULL);
	return p;
}

char *cb_fixture_path(const char *name, char *buf, size_t cap)
{
	const char *src = getenv("S2S_SRCDIR");
	snprintf(buf, cap, "%s/tests/fixtures/%s", src && *src ? src : S2S_SRCDIR, name);
	return buf;
}

unsigned char *cb_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		die("cannot open", path);
	if (fseek(f, 0, SEEK_END) != 0)
		die("cannot seek", path);
	long n = ftell(f);
	if (n < 0 || fseek(f, 0, SEEK_SET) != 0)
		die("cannot size", path);
	unsigned char *b = xmalloc((size_t)n);
	if (fread(b, 1, (size_t)n, f) != (size_t)n)
		die("short read", path);
	fclose(f);
	*len = (size_t)n;
	return b;
}

void cb_load(ckpt_bytes *cb, const char *name)
{
	char path[4096];
	size_t len;
	unsigned char *b = cb_read_file(cb_fixture_path(name, path, sizeof path), &len);
	if (len < 8)
		die("fixture too short", path);
	uint64_t n = 0;
	for (int i = 7; i >= 0; i--)
		n = n << 8 | b[i];
	if (n > len - 8)
		die("fixture header length past end", path);
	json_error_t jerr;
	cb->header = json_loadb((const char *)b + 8, (size_t)n, 0, &jerr);
	if (!json_is_object(cb->header))
		die("fixture header is not a JSON object", jerr.text);
	cb->data_len = len - 8 - (size_t)n;
	cb->data = xmalloc(cb->data_len);
	memcpy(cb->data, b + 8 + n, cb->data_len);
	free(b);
}

void cb_free(ckpt_bytes *cb)
{
	json_decref(cb->header);
	free(cb->data);
	memset(cb, 0, sizeof *cb);
}

json_t *cb_tensor(ckpt_bytes *cb, const char *name)
{
	return json_object_get(cb->header, name);
}

json_t *cb_metadata(ckpt_bytes *cb)
{
	return json_object_get(cb->header, "__metadata__");
}

const char *cb_meta_get(ckpt_bytes *cb, const char *key)
{
	return json_string_value(json_object_get(cb_metadata(cb), key));
}

void cb_meta_set(ckpt_bytes *cb, const char *key, const char *value)
{
	json_t *m = cb_metadata(cb);
	if (!m)
		die("fixture has no __metadata__", key);
	if (value)
		json_object_set_new(m, key, json_string(value));
	else if (json_object_del(m, key) != 0)
		die("no such metadata key", key);
}

void cb_meta_json_set(ckpt_bytes *cb, const char *key, const char *field, json_t *v)
{
	const char *text = cb_meta_get(cb, key);
	if (!text)
		die("no such metadata key", key);
	json_error_t jerr;
	json_t *obj = json_loads(text, 0, &jerr);
	if (!json_is_object(obj))
		die("metadata value is not a JSON object", key);
	if (v)
		json_object_set_new(obj, field, v);
	else if (json_object_del(obj, field) != 0)
		die("no such field", field);
	char *s = json_dumps(obj, JSON_COMPACT);
	cb_meta_set(cb, key, s);
	free(s);
	json_decref(obj);
}

void cb_set_offsets(ckpt_bytes *cb, const char *name, json_int_t begin, json_int_t end)
{
	json_t *t = cb_tensor(cb, name);
	if (!t)
		die("no such tensor", name);
	json_object_set_new(t, "data_offsets", json_pack("[II]", begin, end));
}

void cb_get_offsets(ckpt_bytes *cb, const char *name, json_int_t *begin, json_int_t *end)
{
	json_t *o = json_object_get(cb_tensor(cb, name), "data_offsets");
	if (!json_is_array(o))
		die("no such tensor", name);
	*begin = json_integer_value(json_array_get(o, 0));
	*end = json_integer_value(json_array_get(o, 1));
}

size_t cb_grow_data(ckpt_bytes *cb, size_t n)
{
	size_t old = cb->data_len;
	unsigned char *d = realloc(cb->data, old + n);
	if (!d)
		die("out of memory", NULL);
	memset(d + old, 0, n);
	cb->data = d;
	cb->data_len = old + n;
	return old;
}

unsigned char *cb_assemble_text(const char *header, const unsigned char *data, size_t data_len,
                                size_t *len)
{
	size_t h = strlen(header), padded = h + (8 - (8 + h) % 8) % 8;
	*len = 8 + padded + data_len;
	unsigned char *b = xmalloc(*len);
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)((uint64_t)padded >> (8 * i));
	memcpy(b + 8, header, h);
	memset(b + 8 + h, ' ', padded - h);
	if (data_len)
		memcpy(b + 8 + padded, data, data_len);
	return b;
}

unsigned char *cb_assemble(const ckpt_bytes *cb, size_t *len)
{
	char *h = json_dumps(cb->header, JSON_COMPACT);
	if (!h)
		die("cannot serialise header", NULL);
	unsigned char *b = cb_assemble_text(h, cb->data, cb->data_len, len);
	free(h);
	return b;
}

void cb_write(const char *dir, const char *name, const void *bytes, size_t len, char *path,
              size_t cap)
{
	snprintf(path, cap, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f)
		die("cannot create", path);
	if (len && fwrite(bytes, 1, len, f) != len)
		die("short write", path);
	if (fclose(f) != 0)
		die("cannot close", path);
}
