/*
 * test_loader.c - every real fixture loads, and what it loads is right.
 *
 * The expectations come from sources independent of the loader: the
 * fixture's .json (written by the Python exporter) for the config, our own
 * parse of the file's header (ckpt_bytes.c, from the spec §1) for where each
 * tensor lies, our own arithmetic for F16/BF16 widening, and the system's
 * `sha256sum` for the checksum. The tensor-name -> weight-slot map below is
 * transcribed from docs/checkpoint-format.md §4, not from core/model.c.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt_bytes.h"
#include "model_internal.h"

#define MAX_FIXTURES 64

/* Sorted list of fixture checkpoint names; returns the count. */
static int list_fixtures(char names[][128])
{
	char dir[4096];
	cb_fixture_path("", dir, sizeof dir);
	DIR *d = opendir(dir);
	cr_assert_not_null(d, "cannot open %s", dir);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < MAX_FIXTURES) {
		size_t l = strlen(e->d_name);
		if (l > 12 && l < 128 && strcmp(e->d_name + l - 12, ".safetensors") == 0)
			strcpy(names[n++], e->d_name);
	}
	closedir(d);
	qsort(names, (size_t)n, sizeof names[0], (int (*)(const void *, const void *))strcmp);
	return n;
}

static s2s_model *open_fixture(const char *name)
{
	char path[4096];
	s2s_model *m = NULL;
	s2s_error e = {0};
	int rc = s2s_model_open(cb_fixture_path(name, path, sizeof path), &m, &e);
	cr_assert_eq(rc, 0, "%s: %s (%s)", name, s2s_strerror_name(rc), e.message);
	cr_assert_not_null(m);
	return m;
}

/* The fixture's .json, parsed; caller decrefs. */
static json_t *fixture_json(const char *name)
{
	char base[128], path[4096];
	snprintf(base, sizeof base, "%.*s.json", (int)(strlen(name) - strlen(".safetensors")),
	         name);
	json_error_t jerr;
	json_t *j = json_load_file(cb_fixture_path(base, path, sizeof path), 0, &jerr);
	cr_assert_not_null(j, "%s: %s", path, jerr.text);
	return j;
}

Test(loader, every_fixture_loads_and_has_a_json)
{
	char names[MAX_FIXTURES][128];
	int n = list_fixtures(names);
	cr_assert_geq(n, 10, "only %d fixtures found", n);
	for (int i = 0; i < n; i++) {
		s2s_model *m = open_fixture(names[i]);
		json_t *j = fixture_json(names[i]);
		json_decref(j);
		s2s_model_unref(m);
	}
}

/* --- config ------------------------------------------------------------------------------ */

static int enum_index(const char *const *names, const char *s)
{
	for (int i = 0; names[i]; i++)
		if (s && strcmp(names[i], s) == 0)
			return i;
	return -1;
}

/* Spec §3 spellings, in the enum order of s2s_config.h. */
static const char *const cells[] = {"rnn_tanh", "rnn_relu", "gru", "lstm", NULL};
static const char *const bridges[] = {"zeros", "last", "linear", NULL};
static const char *const attns[] = {"none", "dot", "general", "additive", NULL};
static const char *const places[] = {"bahdanau", "luong", NULL};
/* The optional keys (§3): spellings in enum order, and their defaults when absent. */
static const char *const acts[] = {"tanh", "none", "relu", NULL};
static const char *const bridge_ins[] = {"top", "all", NULL};
static const char *const bridge_cells[] = {"zeros", "hidden", "linear", NULL};

/* Optional enum key: absent means index 0; returns 1 when present. */
static int optional_enum(const char *name, int got, json_t *j, const char *key,
                         const char *const *names)
{
	json_t *v = json_object_get(j, key);
	int want = v ? enum_index(names, json_string_value(v)) : 0;
	cr_assert_eq(got, want, "%s: %s is %d, .json says %d", name, key, got, want);
	return v != NULL;
}

/* Returns how many optional keys the .json config holds. */
static int check_optional(const char *name, const s2s_config *c, json_t *j)
{
	json_t *bias = json_object_get(j, "attn_out_bias");
	cr_assert_eq(c->attn_out_bias, json_is_true(bias), "%s: attn_out_bias", name);
	return (bias != NULL) +
	       optional_enum(name, (int)c->attn_out_activation, j, "attn_out_activation", acts) +
	       optional_enum(name, (int)c->bridge_input, j, "bridge_input", bridge_ins) +
	       optional_enum(name, (int)c->bridge_activation, j, "bridge_activation", acts) +
	       optional_enum(name, (int)c->bridge_cell, j, "bridge_cell", bridge_cells);
}

static void check_config(const char *name, const s2s_config *c, json_t *j)
{
#define INT_EQ(field, key)                                                                         \
	cr_assert_eq(c->field, json_integer_value(json_object_get(j, key)), "%s: %s %d vs %lld",   \
	             name, key, c->field, (long long)json_integer_value(json_object_get(j, key)))
#define BOOL_EQ(field, key)                                                                        \
	cr_assert_eq(c->field, json_is_true(json_object_get(j, key)), "%s: %s", name, key)
#define ENUM_EQ(field, key, names)                                                                 \
	cr_assert_eq((int)c->field, enum_index(names, json_string_value(json_object_get(j, key))), \
	             "%s: %s", name, key)
	ENUM_EQ(cell, "cell", cells);
	INT_EQ(emb_dim, "emb_dim");
	INT_EQ(enc_hidden, "enc_hidden");
	INT_EQ(enc_layers, "enc_layers");
	BOOL_EQ(bidirectional, "bidirectional");
	BOOL_EQ(reverse_source, "reverse_source");
	INT_EQ(dec_hidden, "dec_hidden");
	INT_EQ(dec_layers, "dec_layers");
	ENUM_EQ(bridge, "bridge", bridges);
	ENUM_EQ(attention, "attention", attns);
	ENUM_EQ(placement, "attn_placement", places);
	BOOL_EQ(input_feed, "input_feed");
	BOOL_EQ(tie_embeddings, "tie_embeddings");
	INT_EQ(src_vocab_size, "src_vocab_size");
	INT_EQ(tgt_vocab_size, "tgt_vocab_size");
	/* attn_dim is "ignored" unless additive (§3); the loader then stores 0. */
	if (c->attention == S2S_ATTN_ADDITIVE)
		INT_EQ(attn_dim, "attn_dim");
	else
		cr_assert_eq(c->attn_dim, 0, "%s: attn_dim %d for non-additive", name, c->attn_dim);
	int optional = check_optional(name, c, j);
	cr_assert_eq(json_object_size(j), 16 + (size_t)optional,
	             "%s: the .json config has keys we do not compare", name);
#undef INT_EQ
#undef BOOL_EQ
#undef ENUM_EQ
}

Test(loader, config_equals_fixture_json)
{
	char names[MAX_FIXTURES][128];
	int n = list_fixtures(names);
	for (int i = 0; i < n; i++) {
		s2s_model *m = open_fixture(names[i]);
		json_t *j = fixture_json(names[i]);
		check_config(names[i], s2s_model_config(m), json_object_get(j, "config"));
		json_decref(j);
		s2s_model_unref(m);
	}
}

/* --- weights ----------------------------------------------------------------------------- */

/* Where the inference code reads a tensor: a packed matrix or an F32 vector. */
typedef struct {
	const s2s__wmat *mat;
	const float *const *vec;
} slot;

/* §4 name -> the weight slot the inference code reads; an empty slot for unknown names. */
static slot rnn_slot(const s2s__rnn_weights *r, const char *what)
{
	if (strcmp(what, "weight_ih") == 0)
		return (slot){.mat = &r->w_ih};
	if (strcmp(what, "weight_hh") == 0)
		return (slot){.mat = &r->w_hh};
	if (strcmp(what, "bias_ih") == 0)
		return (slot){.vec = &r->b_ih};
	if (strcmp(what, "bias_hh") == 0)
		return (slot){.vec = &r->b_hh};
	return (slot){0};
}

static slot slot_of(const s2s__weights *w, const char *name)
{
	static const struct {
		const char *name;
		size_t off;
		bool mat;
	} fixed[] = {
	    {"encoder.embedding.weight", offsetof(s2s__weights, src_emb), true},
	    {"bridge.weight", offsetof(s2s__weights, bridge_w), true},
	    {"bridge.bias", offsetof(s2s__weights, bridge_b), false},
	    {"bridge_c.weight", offsetof(s2s__weights, bridge_c_w), true},
	    {"bridge_c.bias", offsetof(s2s__weights, bridge_c_b), false},
	    {"decoder.embedding.weight", offsetof(s2s__weights, tgt_emb), true},
	    {"decoder.attention.linear_in.weight", offsetof(s2s__weights, attn_general_w), true},
	    {"decoder.attention.query.weight", offsetof(s2s__weights, attn_query_w), true},
	    {"decoder.attention.key.weight", offsetof(s2s__weights, attn_key_w), true},
	    {"decoder.attention.key.bias", offsetof(s2s__weights, attn_key_b), false},
	    {"decoder.attention.v.weight", offsetof(s2s__weights, attn_v), false},
	    {"decoder.attention_out.weight", offsetof(s2s__weights, attn_out_w), true},
	    {"decoder.attention_out.bias", offsetof(s2s__weights, attn_out_b), false},
	    {"decoder.out.weight", offsetof(s2s__weights, out_w), true},
	    {"decoder.out.bias", offsetof(s2s__weights, out_b), false},
	};
	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
		if (strcmp(name, fixed[i].name) == 0) {
			const char *at = (const char *)w + fixed[i].off;
			return fixed[i].mat ? (slot){.mat = (const s2s__wmat *)at}
			                    : (slot){.vec = (const float *const *)at};
		}
	char what[16], rev[16] = "";
	int layer;
	/* "<prefix>weight_ih_l0_reverse": kind ("weight_ih"), "_l", layer, suffix. */
	int enc = strncmp(name, "encoder.rnn.", 12) == 0,
	    dec = strncmp(name, "decoder.rnn.", 12) == 0;
	if (!enc && !dec)
		return (slot){0};
	const char *p = name + 12, *l = strstr(p, "_l");
	if (!l || (size_t)(l - p) >= sizeof what)
		return (slot){0};
	memcpy(what, p, (size_t)(l - p));
	what[l - p] = '\0';
	if (sscanf(l + 2, "%d%15s", &layer, rev) < 1 || layer < 0 || layer >= S2S_MAX_LAYERS)
		return (slot){0};
	int dir = strcmp(rev, "_reverse") == 0;
	if (rev[0] && !dir)
		return (slot){0};
	if (dec)
		return dir ? (slot){0} : rnn_slot(&w->dec[layer], what);
	return rnn_slot(&w->enc[layer][dir], what);
}

typedef struct {
	const unsigned char *file; /* our own copy of the file */
	size_t len;
	size_t data_off; /* 8 + N */
	json_t *header;
} raw_file;

static void raw_open(raw_file *r, const char *name)
{
	char path[4096];
	r->file = cb_read_file(cb_fixture_path(name, path, sizeof path), &r->len);
	uint64_t n = 0;
	for (int i = 7; i >= 0; i--)
		n = n << 8 | r->file[i];
	r->data_off = 8 + (size_t)n;
	r->header = json_loadb((const char *)r->file + 8, (size_t)n, 0, NULL);
	cr_assert(json_is_object(r->header));
}

static void raw_close(raw_file *r)
{
	free((void *)r->file);
	json_decref(r->header);
}

static int64_t numel_of(json_t *t)
{
	int64_t n = 1;
	json_t *shape = json_object_get(t, "shape");
	for (size_t i = 0; i < json_array_size(shape); i++)
		n *= json_integer_value(json_array_get(shape, i));
	return n;
}

/* IEEE half -> float by arithmetic (not bit surgery, unlike the loader). */
static float f16_ref(unsigned h)
{
	int e = (h >> 10) & 31, man = h & 1023;
	float v = e == 0    ? ldexpf((float)man, -24)
	          : e == 31 ? (man ? NAN : INFINITY)
	                    : ldexpf((float)(man + 1024), e - 25);
	return h & 0x8000 ? -v : v;
}

/* bfloat16 -> float, also by arithmetic: 8-bit exponent, 7-bit mantissa. */
static float bf16_ref(unsigned h)
{
	int e = (h >> 7) & 255, man = h & 127;
	float v = e == 0     ? ldexpf((float)man, -133)
	          : e == 255 ? (man ? NAN : INFINITY)
	                     : ldexpf((float)(man + 128), e - 134);
	return h & 0x8000 ? -v : v;
}

static int same_float(float a, float b)
{
	return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0;
}

/*
 * One tensor: what its slot holds, read back element by element (a matrix
 * through the kernels' row reader, in its own type; a vector as F32), must
 * be the file's value exactly.
 */
static void check_weight(const char *fx, const char *tname, json_t *t, slot sl,
                         const raw_file *r)
{
	const char *dtype = json_string_value(json_object_get(t, "dtype"));
	json_int_t begin =
	    json_integer_value(json_array_get(json_object_get(t, "data_offsets"), 0));
	int64_t n = numel_of(t);
	cr_assert(sl.mat ? sl.mat->panels != NULL : *sl.vec != NULL, "%s: %s not bound", fx,
	          tname);
	int f32 = strcmp(dtype, "F32") == 0, f16 = strcmp(dtype, "F16") == 0;
	cr_assert(f32 || f16 || strcmp(dtype, "BF16") == 0, "%s: %s dtype %s", fx, tname, dtype);
	if (sl.mat) {
		s2s__wtype want = f32 ? S2S__W_F32 : f16 ? S2S__W_F16 : S2S__W_BF16;
		cr_assert_eq(sl.mat->type, want, "%s: %s held as type %d, not its own", fx, tname,
		             (int)sl.mat->type);
		cr_assert_eq((int64_t)sl.mat->n * sl.mat->k, n, "%s: %s shape", fx, tname);
	}
	static float row[1 << 16];
	const unsigned char *src = r->file + r->data_off + begin;
	for (int64_t i = 0; i < n; i++) {
		float want, got;
		if (f32) {
			memcpy(&want, src + 4 * i, 4);
		} else {
			unsigned h = (unsigned)src[2 * i] | (unsigned)src[2 * i + 1] << 8;
			want = f16 ? f16_ref(h) : bf16_ref(h);
		}
		if (sl.mat) {
			if (i % sl.mat->k == 0) {
				cr_assert_leq(sl.mat->k, 1 << 16);
				s2s__wmat_row(sl.mat, (int)(i / sl.mat->k), row);
			}
			got = row[i % sl.mat->k];
		} else {
			got = (*sl.vec)[i];
		}
		if (!same_float(got, want))
			cr_assert_fail("%s: %s[%lld] = %a, want %a", fx, tname, (long long)i,
			               (double)got, (double)want);
	}
}

static void check_weights(const char *fx)
{
	s2s_model *m = open_fixture(fx);
	raw_file r;
	raw_open(&r, fx);
	size_t map_len;
	const unsigned char *map = s2s_checkpoint_bytes(m->ckpt, &map_len);
	/* Every weight lives in the packed copy: the file's bytes are released. */
	cr_assert_null(map, "%s: the model keeps the file's bytes", fx);
	cr_assert_eq(map_len, 0);
	int64_t total = 0;
	int ntensors = 0;
	const char *k;
	json_t *t;
	json_object_foreach(r.header, k, t)
	{
		if (strcmp(k, "__metadata__") == 0)
			continue;
		slot sl = slot_of(&m->w, k);
		cr_assert(sl.mat || sl.vec, "%s: tensor %s has no §4 slot", fx, k);
		check_weight(fx, k, t, sl, &r);
		total += numel_of(t);
		ntensors++;
	}
	cr_assert_eq(s2s_model_param_count(m), total, "%s: param count %lld, tensors hold %lld", fx,
	             (long long)s2s_model_param_count(m), (long long)total);
	if (m->cfg.tie_embeddings)
		cr_assert_eq(m->w.out_w.panels, m->w.tgt_emb.panels,
		             "%s: tied out_w must be tgt_emb", fx);
	cr_assert_eq(s2s_checkpoint_tensor_count(m->ckpt), ntensors);
	raw_close(&r);
	s2s_model_unref(m);
}

Test(loader, weights_held_in_their_own_type_exactly)
{
	char names[MAX_FIXTURES][128];
	int n = list_fixtures(names), seen_f16 = 0, seen_bf16 = 0;
	for (int i = 0; i < n; i++) {
		check_weights(names[i]);
		seen_f16 += strstr(names[i], "_f16") != NULL;
		seen_bf16 += strstr(names[i], "_bf16") != NULL;
	}
	cr_assert(seen_f16 && seen_bf16, "fixtures no longer cover F16 and BF16");
}

/* The rnn in/hid sizes the inference code uses agree with the weight shapes. */
Test(loader, rnn_sizes_match_tensor_shapes)
{
	char names[MAX_FIXTURES][128];
	int n = list_fixtures(names);
	for (int i = 0; i < n; i++) {
		s2s_model *m = open_fixture(names[i]);
		const s2s_config *c = s2s_model_config(m);
		for (int l = 0; l < c->enc_layers; l++) {
			for (int d = 0; d < (c->bidirectional ? 2 : 1); d++) {
				char tn[64];
				snprintf(tn, sizeof tn, "encoder.rnn.weight_ih_l%d%s", l,
				         d ? "_reverse" : "");
				const s2s_tensor_info *ti = s2s_checkpoint_tensor(m->ckpt, tn);
				cr_assert_not_null(ti, "%s: %s", names[i], tn);
				cr_assert_eq(m->w.enc[l][d].in, ti->shape[1], "%s: %s in", names[i],
				             tn);
				cr_assert_eq(m->w.enc[l][d].hid, c->enc_hidden);
			}
		}
		for (int l = 0; l < c->dec_layers; l++) {
			char tn[64];
			snprintf(tn, sizeof tn, "decoder.rnn.weight_ih_l%d", l);
			const s2s_tensor_info *ti = s2s_checkpoint_tensor(m->ckpt, tn);
			cr_assert_not_null(ti, "%s: %s", names[i], tn);
			cr_assert_eq(m->w.dec[l].in, ti->shape[1], "%s: %s in", names[i], tn);
			cr_assert_eq(m->w.dec[l].hid, c->dec_hidden);
		}
		s2s_model_unref(m);
	}
}

/* --- checksum, refcount, accessors ------------------------------------------------------- */

Test(loader, sha256_equals_sha256sum)
{
	char names[MAX_FIXTURES][128];
	int n = list_fixtures(names);
	for (int i = 0; i < n; i++) {
		char path[4096], cmd[4200], want[80] = "";
		cb_fixture_path(names[i], path, sizeof path);
		snprintf(cmd, sizeof cmd, "sha256sum '%s'", path);
		FILE *p = popen(cmd, "r");
		cr_assert_not_null(p);
		cr_assert_eq(fscanf(p, "%64s", want), 1, "sha256sum gave nothing");
		cr_assert_eq(pclose(p), 0, "sha256sum failed on %s", path);
		s2s_model *m = open_fixture(names[i]);
		cr_assert_str_eq(s2s_model_sha256(m), want, "%s", names[i]);
		cr_assert_str_eq(s2s_model_path(m), path);
		s2s_model_unref(m);
	}
}

Test(loader, ref_twice_unref_three_times)
{
	s2s_model *m = open_fixture("lstm_dot_luong_tied.safetensors");
	cr_assert_eq(s2s_model_ref(m), m);
	cr_assert_eq(s2s_model_ref(m), m);
	s2s_model_unref(m);
	s2s_model_unref(m);
	/* One reference left: the model must still be whole (valgrind sees a use-after-free). */
	cr_assert_eq(s2s_model_config(m)->tgt_vocab_size, 31);
	cr_assert_str_eq(s2s_vocab_token(s2s_model_tgt_vocab(m), 3), "</s>");
	s2s_model_unref(m); /* the last: frees; valgrind --leak-check=full checks nothing is left */
	s2s_model_unref(NULL);
}

Test(loader, accessors_match_metadata)
{
	char names[MAX_FIXTURES][128];
	int n = list_fixtures(names);
	for (int i = 0; i < n; i++) {
		s2s_model *m = open_fixture(names[i]);
		raw_file r;
		raw_open(&r, names[i]);
		json_t *meta = json_object_get(r.header, "__metadata__");
		cr_assert_str_eq(s2s_model_meta(m, "seq2seqd.format_version"), "1");
		cr_assert_str_eq(s2s_model_meta(m, "seq2seqd.config"),
		                 json_string_value(json_object_get(meta, "seq2seqd.config")));
		cr_assert_null(s2s_model_meta(m, "seq2seqd.no_such_key"));
		json_t *tv = json_loads(
		    json_string_value(json_object_get(meta, "seq2seqd.tgt_vocab")), 0, NULL);
		const s2s_vocab *v = s2s_model_tgt_vocab(m);
		cr_assert_eq((size_t)s2s_vocab_size(v), json_array_size(tv));
		for (size_t j = 0; j < json_array_size(tv); j++)
			if (strcmp(s2s_vocab_token(v, (int32_t)j),
			           json_string_value(json_array_get(tv, j))))
				cr_assert_fail("%s: tgt token %zu", names[i], j);
		json_decref(tv);
		cr_assert_not_null(s2s_model_src_tokenizer(m));
		cr_assert_not_null(s2s_model_tgt_tokenizer(m));
		raw_close(&r);
		s2s_model_unref(m);
	}
}
