/*
 * model.c - opens a checkpoint as an immutable, reference-counted model.
 *
 * Order of checks: container (checkpoint.c) -> format version -> config ->
 * vocabularies and tokenizers -> the tensor table the config implies
 * (docs/checkpoint-format.md §4), both ways: every expected tensor present
 * with its shape, nothing unexpected present. Only then are the weights
 * bound: every matrix packed once (wmat.h) in the checkpoint's own element
 * type, F16 and BF16 included (the kernels convert in registers), or in
 * int8 when the caller asks; every vector copied to F32. Every value is
 * checked to be finite on the way. The file's bytes are then dropped: the
 * model holds the packed copy only.
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
	const float **dst; /* a vector (or a 1-row matrix used as one), or NULL */
	s2s__wmat *mat;    /* a matrix the kernels multiply by, or NULL */
	int rank;
	int64_t shape[2];
} expect;

typedef struct {
	expect e[MAX_EXPECT];
	int n;
} expect_table;

/* Appends one expected tensor: a vector (dst) or a matrix (mat). */
static void add_expect(expect_table *t, const float **dst, s2s__wmat *mat, int64_t rows,
                       int64_t cols, const char *fmt, va_list ap)
{
	assert(t->n < MAX_EXPECT); /* the bound above is wrong if this fires */
	expect *e = &t->e[t->n++];
	vsnprintf(e->name, sizeof e->name, fmt, ap);
	e->dst = dst;
	e->mat = mat;
	e->rank = cols ? 2 : 1;
	e->shape[0] = rows;
	e->shape[1] = cols;
}

static void want(expect_table *t, const float **dst, int64_t rows, int64_t cols, const char *fmt,
                 ...) __attribute__((format(printf, 5, 6)));

static void want(expect_table *t, const float **dst, int64_t rows, int64_t cols, const char *fmt,
                 ...)
{
	va_list ap;
	va_start(ap, fmt);
	add_expect(t, dst, NULL, rows, cols, fmt, ap);
	va_end(ap);
}

/* A matrix: packed, not copied. */
static void want_mat(expect_table *t, s2s__wmat *mat, int64_t rows, int64_t cols,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void want_mat(expect_table *t, s2s__wmat *mat, int64_t rows, int64_t cols,
                     const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	add_expect(t, NULL, mat, rows, cols, fmt, ap);
	va_end(ap);
}

static void want_rnn(expect_table *t, s2s__rnn_weights *w, const char *prefix, int layer,
                     const char *suffix, int G, int in, int hid)
{
	w->in = in;
	w->hid = hid;
	want_mat(t, &w->w_ih, (int64_t)G * hid, in, "%s.weight_ih_l%d%s", prefix, layer, suffix);
	want_mat(t, &w->w_hh, (int64_t)G * hid, hid, "%s.weight_hh_l%d%s", prefix, layer, suffix);
	want(t, &w->b_ih, (int64_t)G * hid, 0, "%s.bias_ih_l%d%s", prefix, layer, suffix);
	want(t, &w->b_hh, (int64_t)G * hid, 0, "%s.bias_hh_l%d%s", prefix, layer, suffix);
}

static void want_attention(expect_table *t, const s2s_config *c, s2s__weights *w)
{
	int K = s2s_config_enc_out(c), D = c->dec_hidden, A = c->attn_dim;
	if (c->attention == S2S_ATTN_GENERAL)
		want_mat(t, &w->attn_general_w, D, K, "decoder.attention.linear_in.weight");
	if (c->attention == S2S_ATTN_ADDITIVE) {
		want_mat(t, &w->attn_query_w, A, D, "decoder.attention.query.weight");
		want_mat(t, &w->attn_key_w, A, K, "decoder.attention.key.weight");
		want(t, &w->attn_key_b, A, 0, "decoder.attention.key.bias");
		want(t, &w->attn_v, 1, A, "decoder.attention.v.weight");
	}
	if (c->attention != S2S_ATTN_NONE && c->placement == S2S_PLACE_LUONG)
		want_mat(t, &w->attn_out_w, D, K + D, "decoder.attention_out.weight");
	if (c->attn_out_bias)
		want(t, &w->attn_out_b, D, 0, "decoder.attention_out.bias");
}

static void want_bridge(expect_table *t, const s2s_config *c, s2s__weights *w)
{
	if (c->bridge != S2S_BRIDGE_LINEAR)
		return;
	int64_t out = (int64_t)c->dec_layers * c->dec_hidden, in = s2s_config_bridge_in(c);
	want_mat(t, &w->bridge_w, out, in, "bridge.weight");
	want(t, &w->bridge_b, out, 0, "bridge.bias");
	if (c->bridge_cell == S2S_BRIDGE_CELL_LINEAR) {
		want_mat(t, &w->bridge_c_w, out, in, "bridge_c.weight");
		want(t, &w->bridge_c_b, out, 0, "bridge_c.bias");
	}
}

/* The tensor table of §4 for config c, with where each pointer goes in w. */
static void build_expectations(const s2s_config *c, s2s__weights *w, expect_table *t)
{
	int G = s2s_config_gates(c), K = s2s_config_enc_out(c), D = c->dec_hidden;
	t->n = 0;
	want_mat(t, &w->src_emb, c->src_vocab_size, c->emb_dim, "encoder.embedding.weight");
	for (int l = 0; l < c->enc_layers; l++) {
		int in = l == 0 ? c->emb_dim : K;
		want_rnn(t, &w->enc[l][0], "encoder.rnn", l, "", G, in, c->enc_hidden);
		if (c->bidirectional)
			want_rnn(t, &w->enc[l][1], "encoder.rnn", l, "_reverse", G, in,
			         c->enc_hidden);
	}
	want_bridge(t, c, w);
	want_mat(t, &w->tgt_emb, c->tgt_vocab_size, c->emb_dim, "decoder.embedding.weight");
	for (int l = 0; l < c->dec_layers; l++)
		want_rnn(t, &w->dec[l], "decoder.rnn", l, "", G,
		         l == 0 ? s2s_config_dec_input(c) : D, D);
	want_attention(t, c, w);
	if (!c->tie_embeddings)
		want_mat(t, &w->out_w, c->tgt_vocab_size, D, "decoder.out.weight");
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

/* Element i of a little-endian F32/F16/BF16 tensor, as a float (exact). */
static float tensor_value(const s2s_tensor_info *ti, int64_t i)
{
	const unsigned char *p = ti->data;
	s2s__wmat one; /* a 1x1 matrix: the same conversion as the kernels' */
	float v;
	if (ti->dtype == S2S_DTYPE_F32) {
		memcpy(&v, p + 4 * i, sizeof v);
		return v;
	}
	uint16_t h[S2S__WMAT_NR] = {(uint16_t)(p[2 * i] | p[2 * i + 1] << 8)};
	one = (s2s__wmat){.n = 1, .k = 1, .type = ti->dtype == S2S_DTYPE_F16 ? S2S__W_F16 : S2S__W_BF16,
	                  .panels = h};
	s2s__wmat_row(&one, 0, &v);
	return v;
}

/*
 * A NaN or infinity in any weight makes every log-probability NaN, and
 * beam search then finds no candidate: each answer would be empty, not an
 * error. So a checkpoint holding one is refused at load, naming the tensor
 * and the element. Checked on the stored bits, so F32, F16 and BF16 are
 * covered alike.
 */
static int refuse_nonfinite(const char *name, const s2s_tensor_info *ti, int64_t bad,
                            s2s_error *err)
{
	float v = tensor_value(ti, bad);
	return s2s__error_set(err, S2S_EFORMAT, "tensor %s holds %s at index %lld", name,
	                      isnan(v) ? "a NaN"
	                      : v > 0  ? "+Inf"
	                               : "-Inf",
	                      (long long)bad);
}

static s2s__wtype pack_type(const struct s2s_model *m, s2s_dtype d)
{
	if (m->quantize == S2S_QUANTIZE_INT8)
		return S2S__W_I8;
	return d == S2S_DTYPE_F16 ? S2S__W_F16 : d == S2S_DTYPE_BF16 ? S2S__W_BF16 : S2S__W_F32;
}

/* Copies a vector to F32 at out, refusing a non-finite value. */
static int bind_vector(const expect *e, const s2s_tensor_info *ti, float *out, s2s_error *err)
{
	for (int64_t i = 0; i < ti->numel; i++) {
		out[i] = tensor_value(ti, i);
		uint32_t bits;
		memcpy(&bits, &out[i], sizeof bits);
		if ((bits & 0x7f800000u) == 0x7f800000u) /* exponent all ones: Inf or NaN */
			return refuse_nonfinite(e->name, ti, i, err);
	}
	*e->dst = out;
	return 0;
}

/* What the weights are held as, for s2s_model_weight_type. */
static const char *describe_types(const struct s2s_model *m, const expect_table *t)
{
	if (m->quantize == S2S_QUANTIZE_INT8)
		return "int8";
	s2s_dtype first = s2s_checkpoint_tensor(m->ckpt, t->e[0].name)->dtype;
	for (int i = 1; i < t->n; i++)
		if (s2s_checkpoint_tensor(m->ckpt, t->e[i].name)->dtype != first)
			return "mixed";
	return first == S2S_DTYPE_F16 ? "f16" : first == S2S_DTYPE_BF16 ? "bf16" : "f32";
}

/*
 * Packs every matrix into one buffer and copies every vector into
 * another, both sealed read-only. Sizes first, so each is one mapping.
 */
static int bind_weights(struct s2s_model *m, const expect_table *t, s2s_error *err)
{
	size_t mat_bytes = 0, vec_floats = 0;
	for (int i = 0; i < t->n; i++) {
		const s2s_tensor_info *ti = s2s_checkpoint_tensor(m->ckpt, t->e[i].name);
		if (t->e[i].mat)
			mat_bytes += s2s__wmat_bytes(pack_type(m, ti->dtype), (int)t->e[i].shape[0],
			                             (int)t->e[i].shape[1]);
		else
			vec_floats += (size_t)ti->numel;
	}
	m->packed_bytes = mat_bytes;
	m->vectors_bytes = vec_floats * sizeof(float);
	if ((mat_bytes && !(m->packed = s2s__anon_alloc(mat_bytes))) ||
	    (vec_floats && !(m->vectors = s2s__anon_alloc(m->vectors_bytes))))
		return s2s__error_set(err, S2S_ENOMEM, "out of memory for %zu bytes of weights",
		                      mat_bytes + m->vectors_bytes);
	char *next_mat = m->packed;
	float *next_vec = m->vectors;
	for (int i = 0; i < t->n; i++) {
		const expect *e = &t->e[i];
		const s2s_tensor_info *ti = s2s_checkpoint_tensor(m->ckpt, e->name);
		if (!e->mat) {
			int rc = bind_vector(e, ti, next_vec, err);
			if (rc < 0)
				return rc;
			next_vec += ti->numel;
			continue;
		}
		int n = (int)e->shape[0], k = (int)e->shape[1];
		s2s__wtype type = pack_type(m, ti->dtype);
		int64_t bad = -1;
		if (s2s__wmat_pack(e->mat, next_mat, type, ti->data, ti->dtype, n, k, &bad) < 0)
			return bad >= 0 ? refuse_nonfinite(e->name, ti, bad, err)
			                : s2s__error_set(err, S2S_EFORMAT,
			                                 "tensor %s cannot be held as requested",
			                                 e->name);
		next_mat += s2s__wmat_bytes(type, n, k);
	}
	s2s__anon_seal(m->packed, m->packed_bytes);
	s2s__anon_seal(m->vectors, m->vectors_bytes);
	if (m->cfg.tie_embeddings)
		m->w.out_w = m->w.tgt_emb;
	m->weight_type = describe_types(m, t);
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
	if (rc == 0)
		rc = s2s_sentinels_find(m->src_vocab, m->tgt_vocab, &m->sentinels, err);
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
	s2s__anon_free(m->packed, m->packed_bytes);
	s2s__anon_free(m->vectors, m->vectors_bytes);
	s2s_sentinels_deinit(&m->sentinels);
	s2s_tokenizer_free(m->tgt_tok);
	s2s_tokenizer_free(m->src_tok);
	s2s_vocab_free(m->tgt_vocab);
	s2s_vocab_free(m->src_vocab);
	s2s_checkpoint_close(m->ckpt);
	free(m->path);
	free(m);
}

int s2s_quantize_parse(const char *s, s2s_quantize *out)
{
	if (strcmp(s, "none") == 0)
		*out = S2S_QUANTIZE_NONE;
	else if (strcmp(s, "int8") == 0)
		*out = S2S_QUANTIZE_INT8;
	else
		return -1;
	return 0;
}

int s2s_model_open(const char *path, s2s_model **out, s2s_error *err)
{
	return s2s_model_open_with(path, NULL, out, err);
}

int s2s_model_open_with(const char *path, const s2s_load_options *o, s2s_model **out,
                        s2s_error *err)
{
	*out = NULL;
	struct s2s_model *m = calloc(1, sizeof *m);
	if (!m || !(m->path = strdup(path))) {
		free(m);
		return s2s__error_set(err, S2S_ENOMEM, "out of memory");
	}
	m->quantize = o ? o->quantize : S2S_QUANTIZE_NONE;
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
	if (rc == 0)
		rc = bind_weights(m, tab, err);
	free(tab);
	if (rc < 0) {
		model_destroy(m);
		return rc;
	}
	size_t len;
	const void *bytes = s2s_checkpoint_bytes(m->ckpt, &len);
	s2s__sha256_hex(bytes, len, m->sha256);
	/* Every weight now lives in the packed copy: the file's bytes are no
	 * longer needed (the header and metadata stay). */
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

const s2s_sentinels *s2s_model_sentinels(const s2s_model *m)
{
	return &m->sentinels;
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

const char *s2s_model_weight_type(const s2s_model *m)
{
	return m->weight_type;
}

const char *s2s_model_path(const s2s_model *m)
{
	return m->path;
}
