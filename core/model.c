/*
 * model.c - opens a checkpoint as an immutable, reference-counted model.
 *
 * Order of checks: container (checkpoint.c) -> format version -> config ->
 * vocabularies and tokenizers -> the tensor table the config implies
 * (docs/checkpoint-format.md §4), both ways: every expected tensor present
 * with its shape, nothing unexpected present. Only then are weight pointers
 * set: F32 in place in the checkpoint's anonymous copy of the file,
 * F16/BF16 widened once into one owned anonymous buffer; every value is
 * then checked to be finite.
 */
#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anon.h"
#include "model_internal.h"
#include "sha256.h"

/* Encoder 8 per layer (4 per direction), decoder 4 per layer, at most 14 others. */
#define MAX_EXPECT (S2S_MAX_LAYERS * 12 + 16)

typedef struct {
	char name[64];
	const float **dst;
	int rank;
	int64_t shape[2];
} expect;

typedef struct {
	expect e[MAX_EXPECT];
	int n;
} expect_table;

static void want(expect_table *t, const float **dst, int64_t rows, int64_t cols, const char *fmt,
                 ...) __attribute__((format(printf, 5, 6)));

static void want(expect_table *t, const float **dst, int64_t rows, int64_t cols, const char *fmt,
                 ...)
{
	assert(t->n < MAX_EXPECT); /* the bound above is wrong if this fires */
	expect *e = &t->e[t->n++];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->name, sizeof e->name, fmt, ap);
	va_end(ap);
	e->dst = dst;
	e->rank = cols ? 2 : 1;
	e->shape[0] = rows;
	e->shape[1] = cols;
}

static void want_rnn(expect_table *t, s2s__rnn_weights *w, const char *prefix, int layer,
                     const char *suffix, int G, int in, int hid)
{
	w->in = in;
	w->hid = hid;
	want(t, &w->w_ih, (int64_t)G * hid, in, "%s.weight_ih_l%d%s", prefix, layer, suffix);
	want(t, &w->w_hh, (int64_t)G * hid, hid, "%s.weight_hh_l%d%s", prefix, layer, suffix);
	want(t, &w->b_ih, (int64_t)G * hid, 0, "%s.bias_ih_l%d%s", prefix, layer, suffix);
	want(t, &w->b_hh, (int64_t)G * hid, 0, "%s.bias_hh_l%d%s", prefix, layer, suffix);
}

static void want_attention(expect_table *t, const s2s_config *c, s2s__weights *w)
{
	int K = s2s_config_enc_out(c), D = c->dec_hidden, A = c->attn_dim;
	if (c->attention == S2S_ATTN_GENERAL)
		want(t, &w->attn_general_w, D, K, "decoder.attention.linear_in.weight");
	if (c->attention == S2S_ATTN_ADDITIVE) {
		want(t, &w->attn_query_w, A, D, "decoder.attention.query.weight");
		want(t, &w->attn_key_w, A, K, "decoder.attention.key.weight");
		want(t, &w->attn_key_b, A, 0, "decoder.attention.key.bias");
		want(t, &w->attn_v, 1, A, "decoder.attention.v.weight");
	}
	if (c->attention != S2S_ATTN_NONE && c->placement == S2S_PLACE_LUONG)
		want(t, &w->attn_out_w, D, K + D, "decoder.attention_out.weight");
	if (c->attn_out_bias)
		want(t, &w->attn_out_b, D, 0, "decoder.attention_out.bias");
}

static void want_bridge(expect_table *t, const s2s_config *c, s2s__weights *w)
{
	if (c->bridge != S2S_BRIDGE_LINEAR)
		return;
	int64_t out = (int64_t)c->dec_layers * c->dec_hidden, in = s2s_config_bridge_in(c);
	want(t, &w->bridge_w, out, in, "bridge.weight");
	want(t, &w->bridge_b, out, 0, "bridge.bias");
	if (c->bridge_cell == S2S_BRIDGE_CELL_LINEAR) {
		want(t, &w->bridge_c_w, out, in, "bridge_c.weight");
		want(t, &w->bridge_c_b, out, 0, "bridge_c.bias");
	}
}

/* The tensor table of §4 for config c, with where each pointer goes in w. */
static void build_expectations(const s2s_config *c, s2s__weights *w, expect_table *t)
{
	int G = s2s_config_gates(c), K = s2s_config_enc_out(c), D = c->dec_hidden;
	t->n = 0;
	want(t, &w->src_emb, c->src_vocab_size, c->emb_dim, "encoder.embedding.weight");
	for (int l = 0; l < c->enc_layers; l++) {
		int in = l == 0 ? c->emb_dim : K;
		want_rnn(t, &w->enc[l][0], "encoder.rnn", l, "", G, in, c->enc_hidden);
		if (c->bidirectional)
			want_rnn(t, &w->enc[l][1], "encoder.rnn", l, "_reverse", G, in,
			         c->enc_hidden);
	}
	want_bridge(t, c, w);
	want(t, &w->tgt_emb, c->tgt_vocab_size, c->emb_dim, "decoder.embedding.weight");
	for (int l = 0; l < c->dec_layers; l++)
		want_rnn(t, &w->dec[l], "decoder.rnn", l, "", G,
		         l == 0 ? s2s_config_dec_input(c) : D, D);
	want_attention(t, c, w);
	if (!c->tie_embeddings)
		want(t, &w->out_w, c->tgt_vocab_size, D, "decoder.out.weight");
	want(t, &w->out_b, c->tgt_vocab_size, 0, "decoder.out.bias");
}

static void shape_str(char *buf, size_t cap, int rank, const int64_t *shape)
{
	int n = snprintf(buf, cap, "[");
	for (int i = 0; i < rank && n > 0 && (size_t)n < cap; i++)
		n += snprintf(buf + n, cap - (size_t)n, i ? ",%lld" : "%lld", (long long)shape[i]);
	if (n > 0 && (size_t)n < cap)
		snprintf(buf + n, cap - (size_t)n, "]");
}

static int check_tensor(const expect *e, const s2s_tensor_info *ti, s2s_error *err)
{
	if (!ti)
		return s2s__error_set(err, S2S_EMISSING, "checkpoint is missing tensor '%s'",
		                      e->name);
	if (ti->rank != e->rank || ti->shape[0] != e->shape[0] ||
	    (e->rank == 2 && ti->shape[1] != e->shape[1])) {
		char got[64], exp[64];
		shape_str(got, sizeof got, ti->rank, ti->shape);
		shape_str(exp, sizeof exp, e->rank, e->shape);
		return s2s__error_set(err, S2S_ESHAPE, "tensor %s has shape %s, expected %s",
		                      e->name, got, exp);
	}
	return 0;
}

static int check_tensors(struct s2s_model *m, const expect_table *t, s2s_error *err)
{
	for (int i = 0; i < t->n; i++) {
		int rc = check_tensor(&t->e[i], s2s_checkpoint_tensor(m->ckpt, t->e[i].name), err);
		if (rc < 0)
			return rc;
	}
	for (int i = 0; i < s2s_checkpoint_tensor_count(m->ckpt); i++) {
		const s2s_tensor_info *ti = s2s_checkpoint_tensor_at(m->ckpt, i);
		int found = 0;
		for (int j = 0; j < t->n && !found; j++)
			found = strcmp(t->e[j].name, ti->name) == 0;
		if (!found)
			return s2s__error_set(err, S2S_EFORMAT,
			                      "checkpoint has unexpected tensor '%s'", ti->name);
		m->params += ti->numel;
	}
	return 0;
}

static float half_to_float(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
	if (exp == 0x1f) {
		bits = sign | 0x7f800000 | (man << 13);
	} else if (exp != 0) {
		bits = sign | ((exp + 112) << 23) | (man << 13);
	} else if (man == 0) {
		bits = sign;
	} else { /* subnormal: normalise */
		int e = -1;
		do {
			man <<= 1;
			e++;
		} while (!(man & 0x400));
		bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ff) << 13);
	}
	float f;
	memcpy(&f, &bits, sizeof f);
	return f;
}

static void widen(const s2s_tensor_info *ti, float *out)
{
	const unsigned char *p = ti->data;
	for (int64_t i = 0; i < ti->numel; i++) {
		uint16_t v = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8);
		if (ti->dtype == S2S_DTYPE_F16) {
			out[i] = half_to_float(v);
		} else {
			uint32_t bits = (uint32_t)v << 16;
			memcpy(&out[i], &bits, sizeof bits);
		}
	}
}

/*
 * A NaN or infinity in any weight makes every log-probability NaN, and
 * beam search then finds no candidate: each answer would be empty, not an
 * error. So a checkpoint holding one is refused at load, naming the tensor
 * and the element. Checked on the F32 values the kernels will read (after
 * widening), so F32, F16 and BF16 are covered alike.
 */
static int check_finite(const char *name, const float *w, int64_t n, s2s_error *err)
{
	int64_t bad = -1;
	for (int64_t i = 0; i < n && bad < 0; i++) {
		uint32_t bits;
		memcpy(&bits, &w[i], sizeof bits);
		if ((bits & 0x7f800000u) == 0x7f800000u) /* exponent all ones: Inf or NaN */
			bad = i;
	}
	if (bad < 0)
		return 0;
	float v = w[bad];
	return s2s__error_set(err, S2S_EFORMAT, "tensor %s holds %s at index %lld", name,
	                      isnan(v) ? "a NaN"
	                      : v > 0  ? "+Inf"
	                               : "-Inf",
	                      (long long)bad);
}

/* Points every weight at its data, widening F16/BF16 into m->widened. */
static int bind_weights(struct s2s_model *m, const expect_table *t, s2s_error *err)
{
	int64_t total = 0;
	for (int i = 0; i < t->n; i++) {
		const s2s_tensor_info *ti = s2s_checkpoint_tensor(m->ckpt, t->e[i].name);
		if (ti->dtype != S2S_DTYPE_F32)
			total += ti->numel;
	}
	m->widened_bytes = (size_t)total * sizeof(float);
	if (total && !(m->widened = s2s__anon_alloc(m->widened_bytes)))
		return s2s__error_set(err, S2S_ENOMEM, "out of memory widening %lld weights",
		                      (long long)total);
	float *next = m->widened;
	for (int i = 0; i < t->n; i++) {
		const s2s_tensor_info *ti = s2s_checkpoint_tensor(m->ckpt, t->e[i].name);
		const float *w = ti->data;
		if (ti->dtype != S2S_DTYPE_F32) {
			widen(ti, next);
			w = next;
			next += ti->numel;
		}
		int rc = check_finite(t->e[i].name, w, ti->numel, err);
		if (rc < 0)
			return rc;
		*t->e[i].dst = w;
	}
	s2s__anon_seal(m->widened, m->widened_bytes);
	if (m->cfg.tie_embeddings)
		m->w.out_w = m->w.tgt_emb;
	return 0;
}

static const char *need_meta(struct s2s_model *m, const char *key, s2s_error *err)
{
	const char *v = s2s_checkpoint_meta(m->ckpt, key);
	if (!v)
		s2s__error_set(err, S2S_EMISSING, "checkpoint metadata is missing key '%s'", key);
	return v;
}

static int load_text_parts(struct s2s_model *m, s2s_error *err)
{
	const char *ver = need_meta(m, "seq2seqd.format_version", err);
	if (!ver)
		return S2S_EMISSING;
	if (strcmp(ver, "1") != 0)
		return s2s__error_set(err, S2S_EFORMAT,
		                      "seq2seqd.format_version is '%s'; supported: 1", ver);
	const char *keys[5] = {"seq2seqd.config", "seq2seqd.src_vocab", "seq2seqd.tgt_vocab",
	                       "seq2seqd.src_tokenizer", "seq2seqd.tgt_tokenizer"};
	const char *v[5];
	for (int i = 0; i < 5; i++)
		if (!(v[i] = need_meta(m, keys[i], err)))
			return S2S_EMISSING;
	int rc = s2s_config_parse(v[0], &m->cfg, err);
	if (rc == 0)
		rc = s2s_vocab_new(v[1], "src_vocab", &m->src_vocab, err);
	if (rc == 0)
		rc = s2s_vocab_new(v[2], "tgt_vocab", &m->tgt_vocab, err);
	if (rc == 0)
		rc = s2s_tokenizer_new(v[3], "src_tokenizer", &m->src_tok, err);
	if (rc == 0)
		rc = s2s_tokenizer_new(v[4], "tgt_tokenizer", &m->tgt_tok, err);
	if (rc == 0 && s2s_tokenizer_appends_eos(m->tgt_tok))
		rc = s2s__error_set(err, S2S_ETOKENIZER,
		                    "tgt_tokenizer: 'append_eos' is for the source tokenizer only");
	const char *dec = s2s_checkpoint_meta(m->ckpt, "seq2seqd.decoding");
	if (rc == 0 && dec)
		rc = s2s_decode_defaults_parse(dec, &m->decoding, &m->decoding_set, err);
	else if (rc == 0)
		s2s_decode_options_init(&m->decoding);
	return rc;
}

static int check_vocab_sizes(struct s2s_model *m, s2s_error *err)
{
	if (s2s_vocab_size(m->src_vocab) != m->cfg.src_vocab_size)
		return s2s__error_set(err, S2S_EVOCAB, "src_vocab has %d tokens but config says %d",
		                      s2s_vocab_size(m->src_vocab), m->cfg.src_vocab_size);
	if (s2s_vocab_size(m->tgt_vocab) != m->cfg.tgt_vocab_size)
		return s2s__error_set(err, S2S_EVOCAB, "tgt_vocab has %d tokens but config says %d",
		                      s2s_vocab_size(m->tgt_vocab), m->cfg.tgt_vocab_size);
	return 0;
}

static void model_destroy(struct s2s_model *m)
{
	if (!m)
		return;
	s2s__anon_free(m->widened, m->widened_bytes);
	s2s_tokenizer_free(m->tgt_tok);
	s2s_tokenizer_free(m->src_tok);
	s2s_vocab_free(m->tgt_vocab);
	s2s_vocab_free(m->src_vocab);
	s2s_checkpoint_close(m->ckpt);
	free(m->path);
	free(m);
}

int s2s_model_open(const char *path, s2s_model **out, s2s_error *err)
{
	*out = NULL;
	struct s2s_model *m = calloc(1, sizeof *m);
	if (!m || !(m->path = strdup(path))) {
		free(m);
		return s2s__error_set(err, S2S_ENOMEM, "out of memory");
	}
	expect_table *tab = malloc(sizeof *tab); /* ~11 kB: keep it off small thread stacks */
	int rc = tab ? s2s_checkpoint_open(path, &m->ckpt, err)
	             : s2s__error_set(err, S2S_ENOMEM, "out of memory");
	if (rc == 0)
		rc = load_text_parts(m, err);
	if (rc == 0)
		rc = check_vocab_sizes(m, err);
	if (rc == 0) {
		build_expectations(&m->cfg, &m->w, tab);
		rc = check_tensors(m, tab, err);
	}
	int64_t in_place = 0; /* F32 weights that point into the checkpoint's bytes */
	if (rc == 0)
		rc = bind_weights(m, tab, err);
	for (int i = 0; rc == 0 && i < tab->n; i++)
		if (s2s_checkpoint_tensor(m->ckpt, tab->e[i].name)->dtype == S2S_DTYPE_F32)
			in_place++;
	free(tab);
	if (rc < 0) {
		model_destroy(m);
		return rc;
	}
	size_t len;
	const void *bytes = s2s_checkpoint_bytes(m->ckpt, &len);
	s2s__sha256_hex(bytes, len, m->sha256);
	/* All weights widened (an F16/BF16 model): the file's bytes are no
	 * longer needed, and keeping them would cost half the widened size. */
	if (in_place == 0)
		s2s_checkpoint_drop_data(m->ckpt);
	atomic_init(&m->refs, 1);
	*out = m;
	return 0;
}

s2s_model *s2s_model_ref(s2s_model *m)
{
	atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
	return m;
}

void s2s_model_unref(s2s_model *m)
{
	/* acq_rel: the last owner must see every other owner's writes before freeing. */
	if (m && atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1)
		model_destroy(m);
}

const s2s_config *s2s_model_config(const s2s_model *m)
{
	return &m->cfg;
}

const s2s_vocab *s2s_model_src_vocab(const s2s_model *m)
{
	return m->src_vocab;
}

const s2s_vocab *s2s_model_tgt_vocab(const s2s_model *m)
{
	return m->tgt_vocab;
}

unsigned s2s_model_decode_defaults(const s2s_model *m, s2s_decode_options *out)
{
	*out = m->decoding;
	return m->decoding_set;
}

const s2s_tokenizer *s2s_model_src_tokenizer(const s2s_model *m)
{
	return m->src_tok;
}

const s2s_tokenizer *s2s_model_tgt_tokenizer(const s2s_model *m)
{
	return m->tgt_tok;
}

const char *s2s_model_meta(const s2s_model *m, const char *key)
{
	return s2s_checkpoint_meta(m->ckpt, key);
}

int64_t s2s_model_param_count(const s2s_model *m)
{
	return m->params;
}

const char *s2s_model_sha256(const s2s_model *m)
{
	return m->sha256;
}

const char *s2s_model_path(const s2s_model *m)
{
	return m->path;
}
