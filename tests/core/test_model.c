/*
 * test_model.c - s2s_model_open: the whole checkpoint against its config
 * (docs/checkpoint-format.md §2-4), weight binding, widening, checksum,
 * reference counting; hostile models; and every committed fixture.
 *
 * Valid files come from ckpt_builder.c, whose §4 table is transcribed from
 * the spec separately from core/model.c, so a disagreement fails the happy
 * paths. The SHA-256 is checked against the system's sha256sum.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <dirent.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "assert_err.h"
#include "ckpt_builder.h"
#include "s2s_decode.h"
#include "model_internal.h"
#include "sha256.h"

/* Serialises b to a temporary file and opens it; the file is gone afterwards. */
static int open_built(const ckb *b, s2s_model **m, s2s_error *e)
{
	size_t len;
	unsigned char *bytes = ckb_bytes(b, &len);
	char path[64];
	ckb_write_tmp(bytes, len, path);
	free(bytes);
	s2s_error_clear(e);
	*m = (s2s_model *)m; /* must be reset */
	int rc = s2s_model_open(path, m, e);
	unlink(path);
	if (rc < 0)
		cr_assert_null(*m, "failed open must leave *out NULL");
	return rc;
}

/* Opens b, expecting failure with code `want` and `sub` in the message; frees b. */
static void expect_fail(ckb *b, int want, const char *sub)
{
	s2s_model *m;
	s2s_error e;
	int rc = open_built(b, &m, &e);
	ckb_deinit(b);
	assert_err(rc, e, want, sub);
}

static void tiny(ckb *b)
{
	s2s_config c = ckb_tiny_config();
	ckb_init(b, &c);
}

/* --- happy paths ------------------------------------------------------------------- */

/* Element i (row-major) of a packed matrix, read back through the kernels' own row reader. */
static float mat_at(const s2s__wmat *w, int64_t i)
{
	float row[256];
	cr_assert_leq(w->k, 256);
	s2s__wmat_row(w, (int)(i / w->k), row);
	return row[i % w->k];
}

/*
 * Element i of the tensor `name` as the model holds it, for the tensors
 * the tests look at (two matrices and two vectors), or NAN if not one.
 */
static float weight_at(const s2s_model *m, const char *name, int64_t i)
{
	if (strcmp(name, "encoder.embedding.weight") == 0)
		return mat_at(&m->w.src_emb, i);
	if (strcmp(name, "decoder.rnn.weight_hh_l0") == 0)
		return mat_at(&m->w.dec[0].w_hh, i);
	if (strcmp(name, "decoder.attention.v.weight") == 0)
		return m->w.attn_v[i];
	if (strcmp(name, "decoder.out.bias") == 0)
		return m->w.out_b[i];
	return NAN;
}

/* Every looked-at weight equals the builder's values, wherever and however it is held. */
static void check_values(const s2s_model *m, const ckb *b, const char *what)
{
	int checked = 0;
	for (int j = 0; j < b->n; j++) {
		const s2s_tensor_info *ti = s2s_checkpoint_tensor(m->ckpt, b->t[j].name);
		cr_assert_not_null(ti, "%s", b->t[j].name);
		if (isnan(weight_at(m, b->t[j].name, 0)))
			continue;
		checked++;
		for (int64_t i = 0; i < ti->numel; i++) {
			float got = weight_at(m, b->t[j].name, i);
			cr_assert_eq(got, ckb_value(j, i), "%s %s[%lld] = %g, want %g", what,
			             b->t[j].name, (long long)i, got, ckb_value(j, i));
		}
	}
	cr_assert_eq(checked, 4, "%s: the four looked-at tensors must all be in the tiny model", what);
}

static void sha256sum_of(const void *bytes, size_t len, char hex[65])
{
	char path[64], cmd[128];
	ckb_write_tmp(bytes, len, path);
	snprintf(cmd, sizeof cmd, "sha256sum %s", path);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	cr_assert_eq(fscanf(p, "%64s", hex), 1, "sha256sum printed nothing");
	cr_assert_eq(pclose(p), 0, "sha256sum failed");
	unlink(path);
}

Test(model, tiny_f32_model_loads_packed)
{
	ckb b;
	tiny(&b);
	size_t len;
	unsigned char *bytes = ckb_bytes(&b, &len);
	char path[64], want_sha[65];
	ckb_write_tmp(bytes, len, path);
	sha256sum_of(bytes, len, want_sha);
	s2s_model *m;
	s2s_error e = {0};
	int rc = s2s_model_open(path, &m, &e);
	cr_assert_eq(rc, 0, "%s", e.message);
	cr_assert_str_eq(s2s_model_path(m), path);
	unlink(path);

	const s2s_config *c = s2s_model_config(m), want = ckb_tiny_config();
	cr_assert_eq(memcmp(c, &want, sizeof want), 0, "config differs from what was written");
	cr_assert_eq(s2s_vocab_size(s2s_model_src_vocab(m)), 7);
	cr_assert_eq(s2s_vocab_size(s2s_model_tgt_vocab(m)), 9);
	cr_assert_not_null(s2s_model_src_tokenizer(m));
	cr_assert_not_null(s2s_model_tgt_tokenizer(m));
	cr_assert_str_eq(s2s_model_meta(m, "seq2seqd.name"), "tiny");
	cr_assert_null(s2s_model_meta(m, "seq2seqd.examples"));
	cr_assert_eq(s2s_model_param_count(m), ckb_numel(&b));
	cr_assert_str_eq(s2s_model_sha256(m), want_sha);

	/* F32: every matrix packed as F32, every vector copied; the file's bytes released */
	cr_assert_str_eq(s2s_model_weight_type(m), "f32");
	const s2s__wmat *mats[] = {&m->w.src_emb,     &m->w.enc[0][0].w_ih, &m->w.bridge_w,
	                           &m->w.tgt_emb,     &m->w.dec[0].w_ih,    &m->w.dec[0].w_hh,
	                           &m->w.attn_query_w, &m->w.attn_key_w,    &m->w.attn_out_w,
	                           &m->w.out_w};
	for (size_t i = 0; i < sizeof mats / sizeof *mats; i++) {
		cr_assert_not_null(mats[i]->panels, "matrix %zu", i);
		cr_assert_eq(mats[i]->type, S2S__W_F32, "matrix %zu", i);
	}
	const float *vecs[] = {m->w.enc[0][1].b_hh, m->w.bridge_b, m->w.attn_key_b, m->w.attn_v,
	                       m->w.out_b};
	for (size_t i = 0; i < sizeof vecs / sizeof *vecs; i++)
		cr_assert_not_null(vecs[i], "vector %zu", i);
	size_t blen;
	cr_assert_null(s2s_checkpoint_bytes(m->ckpt, &blen), "file bytes kept");
	cr_assert_null(m->w.attn_general_w.panels);
	/* shapes recorded for the kernels: decoder in_0 = E + D with input feeding */
	cr_assert_eq(m->w.dec[0].in, 4 + 5);
	cr_assert_eq(m->w.dec[0].hid, 5);
	cr_assert_eq(m->w.enc[0][1].in, 4);
	check_values(m, &b, "F32");
	ckb_deinit(&b);
	free(bytes);
	s2s_model_unref(m);
}

/* F16/BF16 used in place: matrices packed in their own 16-bit type, read exactly. */
static void check_in_place(const char *dtype, s2s__wtype want)
{
	ckb b;
	tiny(&b);
	ckb_set_dtype_all(&b, dtype);
	s2s_model *m;
	s2s_error e;
	cr_assert_eq(open_built(&b, &m, &e), 0, "%s: %s", dtype, e.message);
	cr_assert_eq(m->w.src_emb.type, want, "%s: not held in its own type", dtype);
	cr_assert_eq(m->w.out_w.type, want, "%s", dtype);
	cr_assert_str_eq(s2s_model_weight_type(m), want == S2S__W_F16 ? "f16" : "bf16");
	/* two bytes per element: no widened copy anywhere */
	size_t f32_bytes = 0, own_bytes = 0;
	const s2s__wmat *mats[] = {&m->w.src_emb, &m->w.dec[0].w_hh, &m->w.out_w};
	for (size_t i = 0; i < 3; i++) {
		f32_bytes += s2s__wmat_bytes(S2S__W_F32, mats[i]->n, mats[i]->k);
		own_bytes += s2s__wmat_bytes(want, mats[i]->n, mats[i]->k);
	}
	cr_assert_lt(own_bytes, f32_bytes);
	/* nothing points into the file's bytes any more: they were released */
	size_t blen;
	cr_assert_null(s2s_checkpoint_bytes(m->ckpt, &blen), "%s: file bytes kept", dtype);
	cr_assert_eq(blen, 0);
	/* every element of the looked-at tensors, exactly (the values are exact in 16 bits) */
	check_values(m, &b, dtype);
	cr_assert_eq(s2s_model_param_count(m), ckb_numel(&b));
	ckb_deinit(&b);
	s2s_model_unref(m);
}

Test(model, f16_weights_are_used_in_place_exactly)
{
	check_in_place("F16", S2S__W_F16);
}

Test(model, bf16_weights_are_used_in_place_exactly)
{
	check_in_place("BF16", S2S__W_BF16);
}

Test(model, f16_subnormals_and_specials_widen_like_ieee)
{
	/* Hand-made F16 bit patterns for decoder.out.bias (9 elements). */
	/* (infinities and NaNs are refused at load: non_finite_weights_are_refused) */
	static const uint16_t h[9] = {0x0001, 0x03ff, 0x0400, 0x3c00, 0xc000,
	                              0x7bff, 0x8000, 0x0200, 0x3555};
	static const float want[9] = {0x1p-24f, 0x3ffp-24f, 0x1p-14f, 1.0f,       -2.0f,
	                              65504.0f, -0.0f,      0x1p-15f, 0x1.554p-2f};
	ckb b;
	tiny(&b);
	ckb_find(&b, "decoder.out.bias")->dtype = "F16";
	size_t len;
	unsigned char *bytes = ckb_bytes(&b, &len);
	ckb_deinit(&b);
	/* decoder.out.bias is last in the data section: its 18 bytes end the file */
	for (int i = 0; i < 9; i++) {
		bytes[len - 18 + 2 * i] = (unsigned char)h[i];
		bytes[len - 18 + 2 * i + 1] = (unsigned char)(h[i] >> 8);
	}
	char path[64];
	ckb_write_tmp(bytes, len, path);
	free(bytes);
	s2s_model *m;
	s2s_error e = {0};
	int rc = s2s_model_open(path, &m, &e);
	unlink(path);
	cr_assert_eq(rc, 0, "%s", e.message);
	for (int i = 0; i < 9; i++)
		cr_assert_eq(memcmp(&m->w.out_b[i], &want[i], 4), 0, "0x%04x -> %a, want %a", h[i],
		             m->w.out_b[i], want[i]);
	cr_assert_eq(m->w.out_w.type, S2S__W_F32, "F32 tensors stay F32 beside F16 ones");
	cr_assert_str_eq(s2s_model_weight_type(m), "mixed");
	s2s_model_unref(m);
}

/* Writes `nbytes` raw little-endian bytes over element `index` of tensor `name`. */
static unsigned char *bytes_with(ckb *b, const char *name, const char *dtype, int64_t index,
                                 const unsigned char *raw, size_t *len)
{
	if (dtype)
		ckb_find(b, name)->dtype = dtype;
	unsigned char *bytes = ckb_bytes(b, len);
	/* find the tensor's offsets in the header the builder wrote */
	uint64_t hl = 0;
	for (int k = 7; k >= 0; k--)
		hl = hl << 8 | bytes[k];
	json_t *root = json_loadb((const char *)bytes + 8, (size_t)hl, 0, NULL);
	cr_assert_not_null(root);
	json_t *t = json_object_get(root, name);
	cr_assert_not_null(t, "%s", name);
	size_t begin =
	    (size_t)json_integer_value(json_array_get(json_object_get(t, "data_offsets"), 0));
	size_t es = strcmp(json_string_value(json_object_get(t, "dtype")), "F32") == 0 ? 4 : 2;
	json_decref(root);
	memcpy(bytes + 8 + hl + begin + (size_t)index * es, raw, es);
	return bytes;
}

/*
 * A NaN or infinity in any weight made every log-probability NaN and every
 * answer an empty list of hypotheses, while the model loaded fine. Each is
 * refused at load with the tensor and the element named, in every dtype.
 */
Test(model, non_finite_weights_are_refused)
{
	static const struct {
		const char *tensor, *dtype;
		int64_t index;
		unsigned char raw[4];
		const char *want;
	} cases[] = {
	    {"decoder.out.bias",
	     NULL,
	     3,
	     {0x00, 0x00, 0xc0, 0x7f},
	     "tensor decoder.out.bias holds a NaN at index 3"},
	    {"decoder.out.bias",
	     NULL,
	     0,
	     {0x00, 0x00, 0x80, 0x7f},
	     "tensor decoder.out.bias holds +Inf at index 0"},
	    {"encoder.embedding.weight",
	     NULL,
	     27,
	     {0x00, 0x00, 0x80, 0xff},
	     "tensor encoder.embedding.weight holds -Inf at index 27"},
	    {"decoder.rnn.weight_hh_l0",
	     "F16",
	     7,
	     {0x00, 0x7e},
	     "tensor decoder.rnn.weight_hh_l0 holds a NaN at index 7"},
	    {"decoder.attention.v.weight",
	     "F16",
	     1,
	     {0x00, 0xfc},
	     "tensor decoder.attention.v.weight holds -Inf at index 1"},
	    {"bridge.bias", "BF16", 2, {0xc0, 0x7f}, "tensor bridge.bias holds a NaN at index 2"},
	    {"decoder.out.weight",
	     "BF16",
	     44,
	     {0x80, 0x7f},
	     "tensor decoder.out.weight holds +Inf at index 44"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		ckb b;
		tiny(&b);
		size_t len;
		unsigned char *bytes = bytes_with(&b, cases[i].tensor, cases[i].dtype,
		                                  cases[i].index, cases[i].raw, &len);
		ckb_deinit(&b);
		char path[64];
		ckb_write_tmp(bytes, len, path);
		free(bytes);
		s2s_model *m = (s2s_model *)1;
		s2s_error e = {0};
		int rc = s2s_model_open(path, &m, &e);
		unlink(path);
		assert_err(rc, e, S2S_EFORMAT, cases[i].want);
		cr_assert_null(m);
	}
}

Test(model, tied_embeddings_share_and_count_once)
{
	s2s_config c = ckb_tiny_config();
	c.emb_dim = c.dec_hidden;
	c.tie_embeddings = true;
	ckb b;
	ckb_init(&b, &c);
	cr_assert_null(ckb_find(&b, "decoder.out.weight"));
	s2s_model *m;
	s2s_error e;
	cr_assert_eq(open_built(&b, &m, &e), 0, "%s", e.message);
	cr_assert_eq(m->w.out_w.panels, m->w.tgt_emb.panels, "tied: one packed copy");
	/* hand count: 7*5 + 2*(4*3*5 + 4*3*3 + 2*4*3) + 5*6 + 5 + 9*5 + (4*5*10 + 4*5*5 + 2*4*5)
	 * + (2*5 + 2*6 + 2 + 2) + 5*11 + 9, tgt embedding counted once */
	int64_t hand = 35 + 2 * (60 + 36 + 24) + 30 + 5 + 45 + (200 + 100 + 40) + 26 + 55 + 9;
	cr_assert_eq(s2s_model_param_count(m), hand);
	cr_assert_eq(s2s_model_param_count(m), ckb_numel(&b));
	ckb_deinit(&b);
	s2s_model_unref(m);
}

/* Opens the model of one config and checks the pointers its §4 rows imply. */
static void load_variant(const s2s_config *c)
{
	ckb b;
	ckb_init(&b, c);
	s2s_model *m;
	s2s_error e;
	int rc = open_built(&b, &m, &e);
	cr_assert_eq(rc, 0, "cell %d attn %d place %d bridge %d bi %d L %d/%d: %s", c->cell,
	             c->attention, c->placement, c->bridge, c->bidirectional, c->enc_layers,
	             c->dec_layers, e.message);
	cr_assert_eq(s2s_model_param_count(m), ckb_numel(&b));
	for (int l = 0; l < c->enc_layers; l++)
		cr_assert(m->w.enc[l][0].w_hh.panels &&
		          (!c->bidirectional || m->w.enc[l][1].w_hh.panels));
	for (int l = 0; l < c->dec_layers; l++)
		cr_assert(m->w.dec[l].b_ih);
	cr_assert_eq(m->w.bridge_w.panels != NULL, c->bridge == S2S_BRIDGE_LINEAR);
	cr_assert_eq(m->w.attn_general_w.panels != NULL, c->attention == S2S_ATTN_GENERAL);
	cr_assert_eq(m->w.attn_v != NULL, c->attention == S2S_ATTN_ADDITIVE);
	cr_assert_eq(m->w.attn_out_w.panels != NULL,
	             c->attention != S2S_ATTN_NONE && c->placement == S2S_PLACE_LUONG);
	cr_assert_eq(m->w.attn_out_b != NULL, c->attn_out_bias);
	cr_assert_eq(m->w.bridge_c_w.panels != NULL, c->bridge_cell == S2S_BRIDGE_CELL_LINEAR);
	ckb_deinit(&b);
	s2s_model_unref(m);
}

Test(model, every_architecture_combination_loads, .timeout = 120)
{
	int n = 0;
	for (int cell = 0; cell < 4; cell++)
		for (int attn = 0; attn < 4; attn++)
			for (int place = 0; place < 2; place++)
				for (int bridge = 0; bridge < 3; bridge++)
					for (int bi = 0; bi < 2; bi++) {
						s2s_config c = ckb_tiny_config();
						c.cell = (s2s_cell_kind)cell;
						c.attention = (s2s_attn_kind)attn;
						c.placement = (s2s_attn_placement)place;
						c.bridge = (s2s_bridge_kind)bridge;
						c.bidirectional = bi;
						c.enc_layers = c.dec_layers = 1 + bi;
						c.dec_hidden = 3 * (1 + bi); /* = K: dot and last */
						c.input_feed = attn && place == S2S_PLACE_LUONG;
						load_variant(&c);
						n++;
					}
	cr_assert_eq(n, 192);
}

Test(model, deepest_model_fits_the_tensor_table)
{
	/* 8 bidirectional encoder layers + 8 decoder layers: 107 tensors. */
	s2s_config c = ckb_tiny_config();
	c.enc_layers = c.dec_layers = S2S_MAX_LAYERS;
	c.bridge = S2S_BRIDGE_LINEAR;
	ckb b;
	ckb_init(&b, &c);
	cr_assert_eq(b.n, 1 + 8 * 8 + 2 + 1 + 8 * 4 + 4 + 1 + 1 + 1); /* 107 */
	ckb_deinit(&b);
	load_variant(&c);
	/* with bridge_c and attention_out.bias: 110, the most any config has */
	c.bridge_cell = S2S_BRIDGE_CELL_LINEAR;
	c.bridge_input = S2S_BRIDGE_IN_ALL;
	c.attn_out_bias = true;
	ckb_init(&b, &c);
	cr_assert_eq(b.n, 110);
	ckb_deinit(&b);
	load_variant(&c);
}

/* --- reference counting ------------------------------------------------------------ */

static void *ref_churn(void *arg)
{
	s2s_model *m = arg;
	for (int i = 0; i < 20000; i++)
		s2s_model_unref(s2s_model_ref(m));
	s2s_model_unref(m); /* the reference the main thread took for us */
	return NULL;
}

Test(model, references_are_atomic)
{
	ckb b;
	tiny(&b);
	s2s_model *m;
	s2s_error e;
	cr_assert_eq(open_built(&b, &m, &e), 0, "%s", e.message);
	ckb_deinit(&b);
	cr_assert_eq(s2s_model_ref(m), m);
	s2s_model_unref(m);
	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, ref_churn, s2s_model_ref(m)), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	cr_assert_eq(atomic_load(&m->refs), 1);
	s2s_model_unref(m); /* last: frees (valgrind checks nothing leaks) */
	s2s_model_unref(NULL);
}

/* --- hostile models --------------------------------------------------------------- */

Test(model, missing_tensor)
{
	ckb b;
	tiny(&b);
	ckb_remove(&b, "decoder.rnn.bias_hh_l0");
	expect_fail(&b, S2S_EMISSING, "checkpoint is missing tensor 'decoder.rnn.bias_hh_l0'");
	tiny(&b);
	ckb_remove(&b, "encoder.rnn.weight_ih_l0_reverse");
	expect_fail(&b, S2S_EMISSING, "missing tensor 'encoder.rnn.weight_ih_l0_reverse'");
}

Test(model, unexpected_tensor)
{
	ckb b;
	tiny(&b);
	ckb_add(&b, "foo", "F32", 3, 0);
	expect_fail(&b, S2S_EFORMAT, "checkpoint has unexpected tensor 'foo'");
	/* tied config, but the file still carries its own output weight */
	s2s_config c = ckb_tiny_config();
	c.emb_dim = c.dec_hidden;
	c.tie_embeddings = true;
	ckb_init(&b, &c);
	ckb_add(&b, "decoder.out.weight", "F32", c.tgt_vocab_size, c.dec_hidden);
	expect_fail(&b, S2S_EFORMAT, "checkpoint has unexpected tensor 'decoder.out.weight'");
	/* a layer beyond enc_layers */
	tiny(&b);
	ckb_add(&b, "encoder.rnn.bias_hh_l1", "F32", 12, 0);
	expect_fail(&b, S2S_EFORMAT, "unexpected tensor 'encoder.rnn.bias_hh_l1'");
}

Test(model, wrong_shape)
{
	ckb b;
	tiny(&b);
	ckb_tensor *t = ckb_find(&b, "decoder.rnn.weight_ih_l0");
	t->shape[0] = 10; /* expected [20,9]: G*D = 4*5, in = E + D */
	expect_fail(&b, S2S_ESHAPE,
	            "tensor decoder.rnn.weight_ih_l0 has shape [10,9], expected [20,9]");
	tiny(&b);
	t = ckb_find(&b, "decoder.out.bias");
	t->rank = 2;
	t->shape[1] = 1;
	expect_fail(&b, S2S_ESHAPE, "tensor decoder.out.bias has shape [9,1], expected [9]");
	tiny(&b);
	t = ckb_find(&b, "decoder.attention.v.weight"); /* [1, A] stored as [A] */
	t->rank = 1;
	t->shape[0] = 2;
	t->shape[1] = 0;
	expect_fail(&b, S2S_ESHAPE,
	            "tensor decoder.attention.v.weight has shape [2], expected [1,2]");
	tiny(&b);
	t = ckb_find(&b, "encoder.embedding.weight"); /* transposed */
	t->shape[0] = 4;
	t->shape[1] = 7;
	expect_fail(&b, S2S_ESHAPE,
	            "tensor encoder.embedding.weight has shape [4,7], expected [7,4]");
}

/* --- the optional keys' tensors (§3-4) ----------------------------------------------- */

/* The tiny config (lstm, bi, linear bridge, additive luong) with every extension on. */
static s2s_config extended_config(void)
{
	s2s_config c = ckb_tiny_config();
	c.enc_layers = 2;
	c.dec_layers = 2;
	c.attn_out_bias = true;
	c.attn_out_activation = S2S_ACT_NONE;
	c.bridge_input = S2S_BRIDGE_IN_ALL;
	c.bridge_activation = S2S_ACT_RELU;
	c.bridge_cell = S2S_BRIDGE_CELL_LINEAR;
	return c;
}

Test(model, every_extension_combination_loads, .timeout = 120)
{
	int n = 0;
	for (int bias = 0; bias < 2; bias++)
		for (int oact = 0; oact < 2; oact++)
			for (int in = 0; in < 2; in++)
				for (int act = 0; act < 3; act++)
					for (int cell = 0; cell < 3; cell++) {
						s2s_config c = extended_config();
						c.attn_out_bias = bias;
						c.attn_out_activation = (s2s_activation)oact;
						c.bridge_input = (s2s_bridge_input)in;
						c.bridge_activation = (s2s_activation)act;
						c.bridge_cell = (s2s_bridge_cell)cell;
						load_variant(&c);
						n++;
					}
	cr_assert_eq(n, 72);
}

Test(model, extension_tensors_are_bound_with_their_shapes)
{
	s2s_config c = extended_config(); /* K = 6, in = 2 * 6, dec_layers * D = 10 */
	ckb b;
	ckb_init(&b, &c);
	cr_assert_eq(ckb_find(&b, "bridge.weight")->shape[1], 12);
	s2s_model *m;
	s2s_error e;
	cr_assert_eq(open_built(&b, &m, &e), 0, "%s", e.message);
	cr_assert_not_null(m->w.bridge_c_w.panels);
	cr_assert_not_null(m->w.bridge_c_b);
	cr_assert_not_null(m->w.attn_out_b);
	cr_assert_eq(s2s_model_param_count(m), ckb_numel(&b));
	ckb_deinit(&b);
	s2s_model_unref(m);
	c.bridge_cell = S2S_BRIDGE_CELL_HIDDEN; /* no bridge_c tensors at all */
	c.attn_out_bias = false;
	ckb_init(&b, &c);
	cr_assert_eq(open_built(&b, &m, &e), 0, "%s", e.message);
	cr_assert_null(m->w.bridge_c_w.panels);
	cr_assert_null(m->w.attn_out_b);
	ckb_deinit(&b);
	s2s_model_unref(m);
}

Test(model, extension_tensor_missing)
{
	static const char *const names[] = {"bridge_c.weight", "bridge_c.bias",
	                                    "decoder.attention_out.bias"};
	char sub[96];
	for (int i = 0; i < 3; i++) {
		s2s_config c = extended_config();
		ckb b;
		ckb_init(&b, &c);
		ckb_remove(&b, names[i]);
		snprintf(sub, sizeof sub, "checkpoint is missing tensor '%s'", names[i]);
		expect_fail(&b, S2S_EMISSING, sub);
	}
}

Test(model, extension_tensor_unexpected)
{
	/* Each tensor present while the config says its key is at the default. */
	s2s_config c = ckb_tiny_config(); /* D = 5, K = 6, one layer */
	ckb b;
	ckb_init(&b, &c);
	ckb_add(&b, "decoder.attention_out.bias", "F32", 5, 0);
	expect_fail(&b, S2S_EFORMAT,
	            "checkpoint has unexpected tensor 'decoder.attention_out.bias'");
	ckb_init(&b, &c);
	ckb_add(&b, "bridge_c.weight", "F32", 5, 6);
	ckb_add(&b, "bridge_c.bias", "F32", 5, 0);
	expect_fail(&b, S2S_EFORMAT, "checkpoint has unexpected tensor 'bridge_c.");
	c.bridge_cell = S2S_BRIDGE_CELL_HIDDEN; /* hidden takes c from h: no weights */
	ckb_init(&b, &c);
	ckb_add(&b, "bridge_c.bias", "F32", 5, 0);
	expect_fail(&b, S2S_EFORMAT, "checkpoint has unexpected tensor 'bridge_c.bias'");
}

/* Opens extended_config() with tensor `name` reshaped to [d0] or [d0,d1]. */
static void expect_extension_shape(const char *name, int64_t d0, int64_t d1, const char *sub)
{
	s2s_config c = extended_config();
	ckb b;
	ckb_init(&b, &c);
	ckb_tensor *t = ckb_find(&b, name);
	t->rank = d1 ? 2 : 1;
	t->shape[0] = d0;
	t->shape[1] = d1;
	expect_fail(&b, S2S_ESHAPE, sub);
}

Test(model, extension_tensor_wrong_shape)
{
	/* bridge_input all: in = enc_layers * K = 12; a [10,6] weight is a top-only bridge */
	expect_extension_shape("bridge.weight", 10, 6,
	                       "tensor bridge.weight has shape [10,6], expected [10,12]");
	expect_extension_shape("bridge_c.weight", 10, 6,
	                       "tensor bridge_c.weight has shape [10,6], expected [10,12]");
	expect_extension_shape("bridge_c.weight", 5, 12,
	                       "tensor bridge_c.weight has shape [5,12], expected [10,12]");
	expect_extension_shape("bridge_c.bias", 5, 0,
	                       "tensor bridge_c.bias has shape [5], expected [10]");
	expect_extension_shape("bridge_c.bias", 10, 1,
	                       "tensor bridge_c.bias has shape [10,1], expected [10]");
	expect_extension_shape("decoder.attention_out.bias", 11, 0,
	                       "tensor decoder.attention_out.bias has shape [11], expected [5]");
	expect_extension_shape("decoder.attention_out.bias", 1, 5,
	                       "tensor decoder.attention_out.bias has shape [1,5], expected [5]");
	/* and the top-only bridge refuses the all-layers width */
	s2s_config c = extended_config();
	c.bridge_input = S2S_BRIDGE_IN_TOP;
	ckb b;
	ckb_init(&b, &c);
	ckb_find(&b, "bridge.weight")->shape[1] = 12;
	expect_fail(&b, S2S_ESHAPE, "tensor bridge.weight has shape [10,12], expected [10,6]");
}

Test(model, extension_tensors_must_be_finite)
{
	static const struct {
		const char *tensor;
		int64_t index;
		const char *want;
	} cases[] = {
	    {"bridge_c.weight", 17, "tensor bridge_c.weight holds a NaN at index 17"},
	    {"bridge_c.bias", 9, "tensor bridge_c.bias holds a NaN at index 9"},
	    {"decoder.attention_out.bias", 4,
	     "tensor decoder.attention_out.bias holds a NaN at index 4"},
	};
	static const unsigned char nan_f32[4] = {0x00, 0x00, 0xc0, 0x7f};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		s2s_config c = extended_config();
		ckb b;
		ckb_init(&b, &c);
		size_t len;
		unsigned char *bytes =
		    bytes_with(&b, cases[i].tensor, NULL, cases[i].index, nan_f32, &len);
		ckb_deinit(&b);
		char path[64];
		ckb_write_tmp(bytes, len, path);
		free(bytes);
		s2s_model *m = (s2s_model *)1;
		s2s_error e = {0};
		int rc = s2s_model_open(path, &m, &e);
		unlink(path);
		assert_err(rc, e, S2S_EFORMAT, cases[i].want);
		cr_assert_null(m);
	}
}

Test(model, unsupported_dtype)
{
	ckb b;
	tiny(&b);
	ckb_find(&b, "bridge.bias")->dtype = "F64";
	expect_fail(&b, S2S_EDTYPE,
	            "tensor 'bridge.bias' has dtype F64; supported: F32, F16, BF16");
}

static const char *const required_meta[] = {
    "seq2seqd.format_version", "seq2seqd.config",        "seq2seqd.src_vocab",
    "seq2seqd.tgt_vocab",      "seq2seqd.src_tokenizer", "seq2seqd.tgt_tokenizer",
};

Test(model, missing_metadata_key)
{
	char sub[96];
	for (size_t i = 0; i < sizeof required_meta / sizeof *required_meta; i++) {
		ckb b;
		tiny(&b);
		ckb_set_meta(&b, required_meta[i], NULL);
		snprintf(sub, sizeof sub, "checkpoint metadata is missing key '%s'",
		         required_meta[i]);
		expect_fail(&b, S2S_EMISSING, sub);
	}
	ckb b; /* the optional ones really are optional */
	tiny(&b);
	ckb_set_meta(&b, "seq2seqd.name", NULL);
	s2s_model *m;
	s2s_error e;
	cr_assert_eq(open_built(&b, &m, &e), 0, "%s", e.message);
	cr_assert_null(s2s_model_meta(m, "seq2seqd.name"));
	ckb_deinit(&b);
	s2s_model_unref(m);
}

Test(model, wrong_format_version)
{
	ckb b;
	tiny(&b);
	ckb_set_meta(&b, "seq2seqd.format_version", "2");
	expect_fail(&b, S2S_EFORMAT, "seq2seqd.format_version is '2'; supported: 1");
	tiny(&b);
	ckb_set_meta(&b, "seq2seqd.format_version", "1.0");
	expect_fail(&b, S2S_EFORMAT, "seq2seqd.format_version is '1.0'");
}

static void with_config(const char *key, json_t *v, int code, const char *sub)
{
	s2s_config c = ckb_tiny_config();
	char *text = ckb_config_json(&c);
	json_t *o = json_loads(text, 0, NULL);
	free(text);
	json_object_set_new(o, key, v);
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	ckb b;
	tiny(&b);
	ckb_set_meta(&b, "seq2seqd.config", text);
	free(text);
	expect_fail(&b, code, sub);
}

Test(model, bad_config_is_reported_through_open)
{
	ckb b;
	tiny(&b);
	ckb_set_meta(&b, "seq2seqd.config", "{\"cell\": lstm}");
	expect_fail(&b, S2S_ECONFIG, "config is not valid JSON");
	with_config("cell", json_integer(3), S2S_ECONFIG, "config key 'cell' must be a string");
	with_config("enc_layers", json_integer(0), S2S_ECONFIG, "config key 'enc_layers' is 0");
	with_config("attention", json_string("none"), S2S_ECONFIG, "config key 'input_feed'");
	with_config("extra", json_true(), S2S_ECONFIG, "config has unknown key 'extra'");
}

Test(model, absurd_dimensions)
{
	/* Out of bounds: refused by the config before any allocation is sized by it. */
	with_config("emb_dim", json_integer(1000000000), S2S_ECONFIG,
	            "config key 'emb_dim' is 1000000000; allowed 1..4096");
	/* In bounds but far larger than the tensors: a shape error, not an allocation. */
	with_config("src_vocab_size", json_integer(1 << 24), S2S_EVOCAB,
	            "src_vocab has 7 tokens but config says 16777216");
	with_config("emb_dim", json_integer(4096), S2S_ESHAPE,
	            "tensor encoder.embedding.weight has shape [7,4], expected [7,4096]");
}

Test(model, vocab_size_mismatch)
{
	ckb b;
	tiny(&b);
	char *v = ckb_vocab_json(8);
	ckb_set_meta(&b, "seq2seqd.src_vocab", v);
	free(v);
	expect_fail(&b, S2S_EVOCAB, "src_vocab has 8 tokens but config says 7");
	tiny(&b);
	v = ckb_vocab_json(5);
	ckb_set_meta(&b, "seq2seqd.tgt_vocab", v);
	free(v);
	expect_fail(&b, S2S_EVOCAB, "tgt_vocab has 5 tokens but config says 9");
}

Test(model, bad_vocabularies)
{
	static const struct {
		const char *key, *value, *sub;
	} cases[] = {
	    {"seq2seqd.src_vocab", "[\"<unk>\",\"<pad>\",\"<s>\",\"</s>\",\"a\",\"b\",\"c\"]",
	     "src_vocab[0] must be <pad>, not '<unk>'"},
	    {"seq2seqd.tgt_vocab",
	     "[\"<pad>\",\"<unk>\",\"<s>\",\"<eos>\",\"a\",\"b\",\"c\",\"d\",\"e\"]",
	     "tgt_vocab[3] must be </s>, not '<eos>'"},
	    {"seq2seqd.src_vocab", "[\"<pad>\",\"<unk>\",\"<s>\",\"</s>\",\"a\",\"b\",\"a\"]",
	     "src_vocab[6] duplicates token 'a'"},
	    {"seq2seqd.src_vocab", "[\"<pad>\",\"<unk>\",\"<s>\",\"</s>\",\"a\",\"\",\"c\"]",
	     "src_vocab[5] is not a non-empty string"},
	    {"seq2seqd.src_vocab", "[\"<pad>\",\"<unk>\",\"<s>\",\"</s>\",\"a\",7,\"c\"]",
	     "src_vocab[5] is not a non-empty string"},
	    {"seq2seqd.src_vocab", "{\"a\": 1}", "src_vocab is not a JSON array of strings"},
	    {"seq2seqd.tgt_vocab", "[\"<pad>\",\"<unk>\",\"<s>\",\"</s>\"]",
	     "tgt_vocab has 4 tokens; allowed 5..2^24"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		ckb b;
		tiny(&b);
		ckb_set_meta(&b, cases[i].key, cases[i].value);
		expect_fail(&b, S2S_EVOCAB, cases[i].sub);
	}
}

Test(model, bad_tokenizers)
{
	ckb b;
	tiny(&b);
	ckb_set_meta(&b, "seq2seqd.src_tokenizer",
	             "{\"type\":\"wordpiece\",\"lowercase\":false,\"split_punct\":true}");
	expect_fail(&b, S2S_ETOKENIZER, "src_tokenizer 'type' must be one of \"char\", \"bpe\"");
	tiny(&b);
	ckb_set_meta(&b, "seq2seqd.tgt_tokenizer", "{\"type\":\"whitespace\",\"append_eos\":true}");
	expect_fail(&b, S2S_ETOKENIZER, "tgt_tokenizer: 'append_eos' is for the source tokenizer only");
	tiny(&b);
	ckb_set_meta(&b, "seq2seqd.tgt_tokenizer",
	             "{\"type\":\"bpe\",\"lowercase\":false,\"split_punct\":true}");
	expect_fail(&b, S2S_ETOKENIZER, "tgt_tokenizer: bpe needs a 'merges' array");
	tiny(&b);
	ckb_set_meta(&b, "seq2seqd.tgt_tokenizer", "[]");
	expect_fail(&b, S2S_ETOKENIZER, "tgt_tokenizer is not a JSON object");
}

Test(model, container_errors_pass_through)
{
	ckb b;
	tiny(&b);
	size_t len;
	unsigned char *bytes = ckb_bytes(&b, &len);
	ckb_deinit(&b);
	char path[64];
	ckb_write_tmp(bytes, len - 1, path); /* last tensor cut short */
	free(bytes);
	s2s_model *m;
	s2s_error e = {0};
	int rc = s2s_model_open(path, &m, &e);
	unlink(path);
	assert_err(rc, e, S2S_EBOUNDS, "tensor 'decoder.out.bias': data_offsets");
	cr_assert_null(m);
	s2s_error_clear(&e);
	rc = s2s_model_open("/nonexistent.safetensors", &m, &e);
	assert_err(rc, e, S2S_EIO, "cannot open /nonexistent.safetensors");
	cr_assert_null(m);
}

Test(model, damaged_models_never_crash, .timeout = 300)
{
	ckb b;
	tiny(&b);
	size_t len;
	unsigned char *good = ckb_bytes(&b, &len);
	ckb_deinit(&b);
	unsigned char *bad = malloc(len);
	size_t hend = 8;
	for (int k = 0; k < 8; k++)
		hend += (size_t)good[k] << (8 * k);
	int ok = 0, failed = 0;
	for (size_t pos = 8; pos < hend; pos += 5) {
		memcpy(bad, good, len);
		bad[pos] ^= (unsigned char)(pos & 1 ? 0x01 : 0x08);
		char path[64];
		ckb_write_tmp(bad, len, path);
		s2s_model *m;
		s2s_error e = {0};
		int rc = s2s_model_open(path, &m, &e);
		unlink(path);
		cr_assert_leq(rc, 0);
		if (rc == 0) {
			ok++;
			s2s_model_unref(m);
		} else {
			failed++;
			cr_assert_neq(e.message[0], '\0');
		}
	}
	cr_assert_gt(failed, 100, "flips in the header should mostly be caught");
	free(bad);
	free(good);
	(void)ok;
}

/* --- SHA-256 ------------------------------------------------------------------------ */

Test(model, sha256_nist_vectors)
{
	char hex[65];
	s2s__sha256_hex("abc", 3, hex);
	cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	s2s__sha256_hex("", 0, hex);
	cr_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	s2s__sha256_hex(two, strlen(two), hex);
	cr_assert_str_eq(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	char *million = malloc(1000000);
	memset(million, 'a', 1000000);
	s2s__sha256_hex(million, 1000000, hex);
	free(million);
	cr_assert_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* Runs one sha256sum over n files (one process: cheap under valgrind's --trace-children). */
static void sha256sum_files(char paths[][64], int n, char hex[][65])
{
	char cmd[64 * 16 + 16] = "sha256sum";
	cr_assert_leq(n, 16);
	for (int i = 0; i < n; i++)
		snprintf(cmd + strlen(cmd), sizeof cmd - strlen(cmd), " %s", paths[i]);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	for (int i = 0; i < n; i++) {
		char name[128];
		cr_assert_eq(fscanf(p, "%64s %127s", hex[i], name), 2, "sha256sum output %d", i);
		cr_assert_str_eq(name, paths[i]);
	}
	cr_assert_eq(pclose(p), 0, "sha256sum failed");
}

Test(model, sha256_matches_sha256sum_at_padding_boundaries)
{
	static const size_t lens[] = {1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000};
	enum { N = sizeof lens / sizeof *lens };
	unsigned char buf[1000];
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (unsigned char)(i * 37 + 11);
	char paths[N][64], want[N][65];
	for (int i = 0; i < N; i++)
		ckb_write_tmp(buf, lens[i], paths[i]);
	sha256sum_files(paths, N, want);
	for (int i = 0; i < N; i++) {
		char got[65];
		s2s__sha256_hex(buf, lens[i], got);
		cr_assert_str_eq(got, want[i], "length %zu", lens[i]);
		unlink(paths[i]);
	}
}

/* --- the committed fixtures (tests/fixtures, written by PyTorch's exporter) ------------ */

static void fixture_dir(char *buf, size_t n)
{
	const char *d = getenv("S2S_FIXTURES");
	const char *src = getenv("S2S_SRCDIR");
	if (d && *d)
		snprintf(buf, n, "%s", d);
	else
		snprintf(buf, n, "%s/tests/fixtures", src && *src ? src : S2S_SRCDIR);
}

static void check_config_matches(const s2s_config *c, json_t *j, const char *name)
{
	static const char *const cells[] = {"rnn_tanh", "rnn_relu", "gru", "lstm"};
	static const char *const bridges[] = {"zeros", "last", "linear"};
	static const char *const attns[] = {"none", "dot", "general", "additive"};
	static const char *const places[] = {"bahdanau", "luong"};
#define INT_EQ(f, k)                                                                               \
	cr_assert_eq(c->f, json_integer_value(json_object_get(j, k)), "%s: %s", name, k)
#define BOOL_EQ(f, k) cr_assert_eq(c->f, json_is_true(json_object_get(j, k)), "%s: %s", name, k)
#define STR_EQ(v, k)                                                                               \
	cr_assert_str_eq(v, json_string_value(json_object_get(j, k)), "%s: %s", name, k)
	STR_EQ(cells[c->cell], "cell");
	INT_EQ(emb_dim, "emb_dim");
	INT_EQ(enc_hidden, "enc_hidden");
	INT_EQ(enc_layers, "enc_layers");
	BOOL_EQ(bidirectional, "bidirectional");
	BOOL_EQ(reverse_source, "reverse_source");
	INT_EQ(dec_hidden, "dec_hidden");
	INT_EQ(dec_layers, "dec_layers");
	STR_EQ(bridges[c->bridge], "bridge");
	STR_EQ(attns[c->attention], "attention");
	STR_EQ(places[c->placement], "attn_placement");
	if (c->attention == S2S_ATTN_ADDITIVE)
		INT_EQ(attn_dim, "attn_dim");
	BOOL_EQ(input_feed, "input_feed");
	BOOL_EQ(tie_embeddings, "tie_embeddings");
	INT_EQ(src_vocab_size, "src_vocab_size");
	INT_EQ(tgt_vocab_size, "tgt_vocab_size");
#undef INT_EQ
#undef BOOL_EQ
#undef STR_EQ
}

static void check_fixture(const char *dir, const char *base, char sha_out[65])
{
	char path[1024], jpath[1024];
	snprintf(path, sizeof path, "%s/%s.safetensors", dir, base);
	snprintf(jpath, sizeof jpath, "%s/%s.json", dir, base);
	json_error_t jerr;
	json_t *golden = json_load_file(jpath, 0, &jerr);
	cr_assert_not_null(golden, "%s: %s", jpath, jerr.text);
	s2s_model *m;
	s2s_error e = {0};
	cr_assert_eq(s2s_model_open(path, &m, &e), 0, "%s: %s", path, e.message);
	check_config_matches(s2s_model_config(m), json_object_get(golden, "config"), base);
	/* param count: every tensor in the file once (tied weights are stored once) */
	int64_t total = 0;
	for (int i = 0; i < s2s_checkpoint_tensor_count(m->ckpt); i++)
		total += s2s_checkpoint_tensor_at(m->ckpt, i)->numel;
	cr_assert_eq(s2s_model_param_count(m), total);
	const char *dtype = json_string_value(json_object_get(golden, "dtype"));
	const char *held = s2s_model_weight_type(m);
	if (dtype && strcmp(dtype, "float32") != 0 && strcmp(dtype, "F32") != 0)
		cr_assert(strcmp(held, "f16") == 0 || strcmp(held, "bf16") == 0,
		          "%s: %s weights must stay 16-bit, held as %s", base, dtype, held);
	else
		cr_assert_str_eq(held, "f32", "%s", base);
	snprintf(sha_out, 65, "%s", s2s_model_sha256(m));
	json_decref(golden);
	s2s_model_unref(m);
}

/*
 * Static buffers: an assert exits the test at once, and heap buffers would
 * then show as leaks under check-valgrind. The long timeout is for valgrind
 * on a loaded 2-core machine (15 loads plus a traced sha256sum).
 */
Test(model, every_fixture_loads_with_its_config, .timeout = 900)
{
	static char dir[400], cmd[64 * 512], got[64][65];
	fixture_dir(dir, sizeof dir);
	DIR *d = opendir(dir);
	cr_assert_not_null(d, "no fixture directory %s", dir);
	int n = 0;
	/* Absolute paths, no cd: a cd would break valgrind's relative --log-file
	 * in the traced shell (check-valgrind). */
	size_t len = (size_t)snprintf(cmd, sizeof cmd, "sha256sum");
	struct dirent *ent;
	while ((ent = readdir(d))) {
		size_t l = strlen(ent->d_name), sfx = strlen(".safetensors");
		if (l <= sfx || strcmp(ent->d_name + l - sfx, ".safetensors") != 0)
			continue;
		cr_assert_lt(n, 64);
		char base[256];
		snprintf(base, sizeof base, "%.*s", (int)(l - sfx), ent->d_name);
		check_fixture(dir, base, got[n++]);
		len += (size_t)snprintf(cmd + len, sizeof cmd - len, " '%s/%s'", dir, ent->d_name);
		cr_assert_lt(len, sizeof cmd, "command line too long");
	}
	closedir(d);
	cr_assert_geq(n, 12, "expected at least 12 fixture variants in %s, found %d", dir, n);
	/* the checksums, in the same order, from one sha256sum run */
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	for (int i = 0; i < n; i++) {
		char want[65], name[1024];
		cr_assert_eq(fscanf(p, "%64s %1023s", want, name), 2);
		cr_assert_str_eq(got[i], want, "%s", name);
	}
	cr_assert_eq(pclose(p), 0);
}

/* --- seq2seqd.decoding: a checkpoint's decoding defaults ---------------------------- */

Test(model, decoding_defaults_are_read_and_merged_under_explicit_options)
{
	ckb b;
	tiny(&b);
	ckb_set_meta(&b, "seq2seqd.decoding",
	             "{\"beam_size\": 5, \"max_len_a\": 0, \"max_len_b\": 10, \"length_penalty\": 0.6}");
	s2s_model *m;
	s2s_error e;
	cr_assert_eq(open_built(&b, &m, &e), 0, "%s", e.message);
	ckb_deinit(&b);
	s2s_decode_options d, o;
	unsigned set = s2s_model_decode_defaults(m, &d);
	cr_assert_eq(set, S2S_DEC_BEAM_SIZE | S2S_DEC_MAX_LEN_A | S2S_DEC_MAX_LEN_B |
	                      S2S_DEC_LENGTH_PENALTY);
	cr_assert_eq(d.beam_size, 5);
	cr_assert_eq(d.max_len_b, 10);
	cr_assert_float_eq(d.length_penalty, 0.6f, 1e-7);
	cr_assert_eq(d.max_len, 256, "a field the checkpoint does not set keeps §7's default");
	/* what the caller named wins; the rest comes from the checkpoint */
	s2s_decode_options_init(&o);
	o.beam_size = 2;
	o.max_len_b = 3;
	s2s_decode_options_merge(&o, S2S_DEC_BEAM_SIZE, &d, set);
	cr_assert_eq(o.beam_size, 2);
	cr_assert_eq(o.max_len_b, 10, "max_len_b was not given, so the checkpoint's applies");
	cr_assert_float_eq(o.max_len_a, 0.0f, 0);
	s2s_model_unref(m);
}

Test(model, no_decoding_metadata_means_section_7_defaults)
{
	ckb b;
	tiny(&b);
	s2s_model *m;
	s2s_error e;
	cr_assert_eq(open_built(&b, &m, &e), 0, "%s", e.message);
	ckb_deinit(&b);
	s2s_decode_options d, init;
	cr_assert_eq(s2s_model_decode_defaults(m, &d), 0u);
	s2s_decode_options_init(&init);
	/* field by field: memcmp would read the struct's padding */
	cr_assert(d.beam_size == init.beam_size && d.n_best == init.n_best &&
	          d.length_penalty == init.length_penalty && d.max_len_a == init.max_len_a &&
	          d.max_len_b == init.max_len_b && d.max_len == init.max_len &&
	          d.attention == init.attention);
	s2s_model_unref(m);
}

static void expect_bad_decoding(const char *json, const char *sub)
{
	ckb b;
	tiny(&b);
	ckb_set_meta(&b, "seq2seqd.decoding", json);
	expect_fail(&b, S2S_ECONFIG, sub);
}

Test(model, bad_decoding_metadata_is_refused_naming_the_key)
{
	expect_bad_decoding("[1]", "not a JSON object");
	expect_bad_decoding("{\"beam\": 5}", "unknown key 'beam'");
	expect_bad_decoding("{\"beam_size\": 0}", "'beam_size' must be an integer in 1..64");
	expect_bad_decoding("{\"beam_size\": 2.5}", "'beam_size' must be an integer");
	expect_bad_decoding("{\"max_len_a\": -1}", "'max_len_a' must be a number in 0..100");
	expect_bad_decoding("{\"length_penalty\": \"x\"}", "'length_penalty' must be a number");
	expect_bad_decoding("{\"max_length\": 5000}", "'max_length' must be an integer in 1..4096");
	expect_bad_decoding("{\"beam_size\": 2, \"n_best\": 3}", "n_best 3 is more than beam_size 2");
	expect_bad_decoding("{\"beam_size\": 2, \"beam_size\": 3}", "duplicate");
}
