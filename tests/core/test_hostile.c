/*
 * test_hostile.c - real fixture checkpoints with one thing broken.
 *
 * Each case starts from a valid file the Python exporter wrote
 * (tests/fixtures, *.safetensors), changes exactly one thing (ckpt_bytes.h),
 * writes it to a private temporary directory and opens it from disk, so the
 * mmap path is exercised. Every case asserts the specific S2S_E* code AND a
 * distinctive part of the message, so a check that fires for the wrong
 * reason fails. The expected wordings come from docs/checkpoint-format.md
 * (what must be rejected) and the loader's messages (how it says so).
 *
 * The last suite is fuzz-ish: every header byte of one fixture flipped, and
 * the file truncated at many lengths; opening must fail cleanly or succeed,
 * never crash or read out of bounds (Criterion reports crashes; valgrind
 * reports bad reads: buffers passed to s2s_checkpoint_open_buffer are
 * malloc'd to their exact size).
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt_bytes.h"
#include "s2s_checkpoint.h"
#include "s2s_model.h"

#define TIED     "lstm_dot_luong_tied.safetensors"         /* tie, bridge last, dot */
#define ADDITIVE "lstm_additive_luong_feed_bi.safetensors" /* additive, feed, bi, linear */
#define F16      "lstm_additive_luong_feed_f16.safetensors"
#define DOTZ     "rnn_relu_dot_luong_feed_zeros.safetensors" /* dot, zeros bridge, feed */
#define BPE      "gru_dot_bahdanau_reverse_bpe.safetensors"
/* lstm, bi, 2+2 layers, D 12, K 16: bridge all/relu/bridge_c, attention_out bias, no tanh */
#define ONMT "lstm_additive_luong_feed_onmt_bridge_2layer_bi.safetensors"
/* lstm, bi, 2+2 layers: tanh bridge from the top layer, c = h, attention_out bias */
#define JOEY "lstm_additive_luong_feed_joey_2layer_bi.safetensors"
/* lstm, bi, 1+1 layers, dot luong: activation-free bridge, c = h, attention_out defaults */
#define IDENT "lstm_dot_luong_linear_identity_hidden_bi.safetensors"

static char tmpdir[64];

static void setup(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/s2s-hostile-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir), "mkdtemp failed");
}

static void teardown(void)
{
	rmdir(tmpdir);
}

TestSuite(hostile, .init = setup, .fini = teardown);
TestSuite(fuzz, .init = setup, .fini = teardown, .timeout = 600);

/* --- opening ------------------------------------------------------------------------ */

/* Writes bytes to a file, opens it as a model; *out must be NULL on failure. */
static int model_open_bytes(const void *b, size_t len, s2s_error *e)
{
	char path[4096];
	cb_write(tmpdir, "m.safetensors", b, len, path, sizeof path);
	s2s_model *m = (s2s_model *)&m; /* must be reset */
	s2s_error_clear(e);
	int rc = s2s_model_open(path, &m, e);
	unlink(path);
	if (rc < 0 && m != NULL)
		cr_assert_fail("failed s2s_model_open left *out non-NULL");
	s2s_model_unref(m);
	return rc;
}

static int ckpt_open_bytes(const void *b, size_t len, s2s_error *e)
{
	char path[4096];
	cb_write(tmpdir, "c.safetensors", b, len, path, sizeof path);
	s2s_checkpoint *ck = (s2s_checkpoint *)&ck;
	s2s_error_clear(e);
	int rc = s2s_checkpoint_open(path, &ck, e);
	unlink(path);
	if (rc < 0 && ck != NULL)
		cr_assert_fail("failed s2s_checkpoint_open left *out non-NULL");
	s2s_checkpoint_close(ck);
	return rc;
}

#define assert_err(rc, e, want, sub)                                                               \
	do {                                                                                       \
		cr_assert_eq((rc), (want), "rc %d (%s), want %s; message: %s", (rc),               \
		             s2s_strerror_name(rc), s2s_strerror_name(want), (e).message);         \
		cr_assert_eq((e).code, (want), "err.code %d, want %d", (e).code, (want));          \
		cr_assert(strstr((e).message, (sub)), "message '%s' lacks '%s'", (e).message,      \
		          (sub));                                                                  \
	} while (0)

/* A broken container: both the checkpoint and the model loader must say so. */
static void expect_container(const void *b, size_t len, int want, const char *sub)
{
	s2s_error e;
	int rc = ckpt_open_bytes(b, len, &e);
	assert_err(rc, e, want, sub);
	rc = model_open_bytes(b, len, &e);
	assert_err(rc, e, want, sub);
}

static void expect_cb(const ckpt_bytes *cb, int want, const char *sub)
{
	size_t len;
	unsigned char *b = cb_assemble(cb, &len);
	s2s_error e;
	int rc = model_open_bytes(b, len, &e);
	free(b);
	assert_err(rc, e, want, sub);
}

static void expect_container_cb(const ckpt_bytes *cb, int want, const char *sub)
{
	size_t len;
	unsigned char *b = cb_assemble(cb, &len);
	expect_container(b, len, want, sub);
	free(b);
}

/* The untouched fixture must open, or every "rejected" below proves nothing. */
Test(hostile, unmodified_reassembly_opens)
{
	const char *names[] = {TIED, ADDITIVE, F16, DOTZ, BPE};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		ckpt_bytes cb;
		cb_load(&cb, names[i]);
		size_t len;
		unsigned char *b = cb_assemble(&cb, &len);
		s2s_error e;
		int rc = model_open_bytes(b, len, &e);
		cr_assert_eq(rc, 0, "%s reassembled: %s", names[i], e.message);
		free(b);
		cb_free(&cb);
	}
}

/* Writer variations the spec allows must still load, or the rejections prove little. */
Test(hostile, allowed_variations_open)
{
	ckpt_bytes cb;
	size_t len;
	s2s_error e;
	cb_load(&cb, DOTZ);
	char *pretty = json_dumps(cb.header, JSON_INDENT(2)); /* newlines and indentation */
	unsigned char *b = cb_assemble_text(pretty, cb.data, cb.data_len, &len);
	int rc = model_open_bytes(b, len, &e);
	cr_assert_eq(rc, 0, "pretty-printed header: %s", e.message);
	free(b);
	free(pretty);
	cb_meta_set(&cb, "seq2seqd.name", "hostile"); /* optional keys */
	cb_meta_set(&cb, "seq2seqd.future_key", "x"); /* unknown metadata is not a tensor */
	cb_meta_json_set(&cb, "seq2seqd.config", "attn_dim", NULL); /* only needed for additive */
	b = cb_assemble(&cb, &len);
	rc = model_open_bytes(b, len, &e);
	cr_assert_eq(rc, 0, "optional/unknown metadata, no attn_dim: %s", e.message);
	free(b);
	cb_free(&cb);
}

/* A very long unexpected tensor name: the message is cut, not overflowed. */
Test(hostile, long_unexpected_tensor_name)
{
	ckpt_bytes cb;
	cb_load(&cb, TIED);
	char name[5000];
	memset(name, 'x', sizeof name - 1);
	name[sizeof name - 1] = '\0';
	size_t at = cb_grow_data(&cb, 4);
	json_object_set_new(cb.header, name,
	                    json_pack("{s:s, s:[i], s:[II]}", "dtype", "F32", "shape", 1,
	                              "data_offsets", (json_int_t)at, (json_int_t)(at + 4)));
	expect_cb(&cb, S2S_EFORMAT, "checkpoint has unexpected tensor 'xxxxxxxx");
	cb_free(&cb);
}

/* --- the first 8 bytes ------------------------------------------------------------------ */

Test(hostile, empty_file)
{
	expect_container("", 0, S2S_EFORMAT, "file is 0 bytes");
}

Test(hostile, shorter_than_length_prefix)
{
	char path[4096];
	size_t len;
	unsigned char *b = cb_read_file(cb_fixture_path(TIED, path, sizeof path), &len);
	for (size_t n = 1; n < 8; n++) {
		char want[64];
		snprintf(want, sizeof want, "file is %zu bytes", n);
		expect_container(b, n, S2S_EFORMAT, want);
	}
	free(b);
}

static void set_length(unsigned char *b, uint64_t n)
{
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(n >> (8 * i));
}

Test(hostile, header_length_past_end_of_file)
{
	char path[4096], want[128];
	size_t len;
	unsigned char *b = cb_read_file(cb_fixture_path(TIED, path, sizeof path), &len);
	set_length(b, len); /* 8 + len > len */
	snprintf(want, sizeof want, "header length %zu exceeds file size %zu", len, len);
	expect_container(b, len, S2S_EFORMAT, want);
	free(b);
	/* The real length, with the file cut 1 byte inside the header. */
	ckpt_bytes cb;
	cb_load(&cb, TIED);
	b = cb_assemble(&cb, &len);
	uint64_t n = 0;
	for (int i = 7; i >= 0; i--)
		n = n << 8 | b[i];
	snprintf(want, sizeof want, "header length %" PRIu64 " exceeds file size %" PRIu64, n,
	         n + 7);
	expect_container(b, (size_t)n + 7, S2S_EFORMAT, want);
	free(b);
	cb_free(&cb);
}

Test(hostile, absurd_header_length)
{
	char path[4096];
	size_t len;
	unsigned char *b = cb_read_file(cb_fixture_path(TIED, path, sizeof path), &len);
	set_length(b, UINT64_C(1) << 63);
	expect_container(b, len, S2S_EFORMAT, "header length 9223372036854775808 exceeds");
	set_length(b, UINT64_MAX - 7); /* 8 + N wraps to 0 in 64 bits */
	expect_container(b, len, S2S_EFORMAT, "header length 18446744073709551608 exceeds");
	free(b);
}

Test(hostile, header_length_not_multiple_of_8)
{
	ckpt_bytes cb;
	cb_load(&cb, TIED);
	size_t len;
	unsigned char *b = cb_assemble(&cb, &len);
	uint64_t n = 0;
	for (int i = 7; i >= 0; i--)
		n = n << 8 | b[i];
	set_length(b, n - 1); /* drops one pad space: the JSON still parses */
	expect_container(b, len, S2S_EFORMAT, "must start at a multiple of 8");
	free(b);
	cb_free(&cb);
}

/* --- what the path names ------------------------------------------------------------- */

static void expect_path(const char *path, int want, const char *sub)
{
	s2s_error e = {0};
	s2s_model *m = (s2s_model *)&m;
	int rc = s2s_model_open(path, &m, &e);
	assert_err(rc, e, want, sub);
	cr_assert_null(m);
	s2s_checkpoint *ck = (s2s_checkpoint *)&ck;
	s2s_error_clear(&e);
	rc = s2s_checkpoint_open(path, &ck, &e);
	assert_err(rc, e, want, sub);
	cr_assert_null(ck);
}

Test(hostile, path_missing_or_directory)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/no-such.safetensors", tmpdir);
	expect_path(path, S2S_EIO, "cannot open");
	expect_path(tmpdir, S2S_EIO, "is not a regular file");
}

/* A FIFO where a model should be (a mistyped reload path) must fail at once,
 * not wait for a writer forever: the timeout turns a hang into a failure. */
Test(hostile, fifo_is_refused_without_blocking, .timeout = 20)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/fifo.safetensors", tmpdir);
	cr_assert_eq(mkfifo(path, 0600), 0, "mkfifo failed");
	s2s_error e = {0};
	s2s_model *m;
	int rc = s2s_model_open(path, &m, &e);
	unlink(path);
	assert_err(rc, e, S2S_EIO, "is not a regular file");
}

/* --- the header JSON --------------------------------------------------------------------- */

static void expect_header_text(const char *header, int want, const char *sub)
{
	ckpt_bytes cb;
	cb_load(&cb, TIED);
	size_t len;
	unsigned char *b = cb_assemble_text(header, cb.data, cb.data_len, &len);
	expect_container(b, len, want, sub);
	free(b);
	cb_free(&cb);
}

Test(hostile, header_not_json)
{
	ckpt_bytes cb;
	cb_load(&cb, TIED);
	char *h = json_dumps(cb.header, JSON_COMPACT);
	h[strlen(h) - 1] = ' '; /* drop the closing brace */
	expect_header_text(h, S2S_EFORMAT, "header is not valid JSON");
	free(h);
	cb_free(&cb);
	expect_header_text("not json at all", S2S_EFORMAT, "header is not valid JSON");
	expect_header_text("{} {}", S2S_EFORMAT, "header is not valid JSON");
}

Test(hostile, header_json_not_object)
{
	expect_header_text("[1, 2, 3]", S2S_EFORMAT, "header is not a JSON object");
	expect_header_text("[]", S2S_EFORMAT, "header is not a JSON object");
	/* jansson refuses scalar roots while parsing; still EFORMAT, worded as a parse error. */
	expect_header_text("\"__metadata__\"", S2S_EFORMAT, "header is not valid JSON");
	expect_header_text("42", S2S_EFORMAT, "header is not valid JSON");
}

Test(hostile, duplicate_tensor_key)
{
	ckpt_bytes cb;
	cb_load(&cb, TIED);
	char *h = json_dumps(cb.header, JSON_COMPACT);
	/* Repeat the last member: whichever copy a parser kept, the file is ambiguous. */
	json_int_t b, e;
	cb_get_offsets(&cb, "decoder.out.bias", &b, &e);
	char extra[256];
	snprintf(extra, sizeof extra,
	         ",\"decoder.out.bias\":{\"dtype\":\"F32\",\"shape\":[31],"
	         "\"data_offsets\":[%" JSON_INTEGER_FORMAT ",%" JSON_INTEGER_FORMAT "]}}",
	         b, e);
	h[strlen(h) - 1] = '\0';
	char *h2 = malloc(strlen(h) + strlen(extra) + 1);
	strcpy(h2, h);
	strcat(h2, extra);
	expect_header_text(h2, S2S_EFORMAT, "header is not valid JSON");
	free(h2);
	free(h);
	cb_free(&cb);
}

/* --- tensor entries ---------------------------------------------------------------------- */

Test(hostile, tensor_entry_not_object)
{
	ckpt_bytes cb;
	cb_load(&cb, TIED);
	json_object_set_new(cb.header, "decoder.out.bias", json_pack("[ii]", 0, 124));
	expect_container_cb(&cb, S2S_EFORMAT, "tensor 'decoder.out.bias': entry is not an object");
	json_object_set_new(cb.header, "decoder.out.bias", json_string("F32"));
	expect_container_cb(&cb, S2S_EFORMAT, "tensor 'decoder.out.bias': entry is not an object");
	cb_free(&cb);
}

Test(hostile, unknown_dtype_i64)
{
	ckpt_bytes cb;
	cb_load(&cb, TIED);
	json_object_set_new(cb_tensor(&cb, "encoder.embedding.weight"), "dtype",
	                    json_string("I64"));
	expect_container_cb(&cb, S2S_EDTYPE, "tensor 'encoder.embedding.weight' has dtype I64");
	json_object_set_new(cb_tensor(&cb, "encoder.embedding.weight"), "dtype",
	                    json_string("f32"));
	expect_container_cb(&cb, S2S_EDTYPE, "has dtype f32");
	json_object_set_new(cb_tensor(&cb, "encoder.embedding.weight"), "dtype", json_integer(0));
	expect_container_cb(&cb, S2S_EFORMAT, "tensor 'encoder.embedding.weight': dtype missing");
	cb_free(&cb);
}

static void expect_shape(json_t *shape, int want, const char *sub)
{
	ckpt_bytes cb;
	cb_load(&cb, TIED);
	if (shape)
		json_object_set_new(cb_tensor(&cb, "decoder.out.bias"), "shape", shape);
	else
		json_object_del(cb_tensor(&cb, "decoder.out.bias"), "shape");
	expect_container_cb(&cb, want, sub);
	cb_free(&cb);
}

Test(hostile, shape_bad_dims)
{
	const char *dim1 = "tensor 'decoder.out.bias': dimension 1 must be an integer in 1..2^31-1";
	const char *dim0 = "tensor 'decoder.out.bias': dimension 0 must be an integer in 1..2^31-1";
	expect_shape(json_pack("[ii]", 31, 0), S2S_EFORMAT, dim1);
	expect_shape(json_pack("[i]", 0), S2S_EFORMAT, dim0);
	expect_shape(json_pack("[ii]", -31, -1), S2S_EFORMAT, dim0);
	expect_shape(json_pack("[f]", 31.0), S2S_EFORMAT, dim0);
	expect_shape(json_pack("[s]", "31"), S2S_EFORMAT, dim0);
	expect_shape(json_pack("[n]"), S2S_EFORMAT, dim0);
	expect_shape(json_pack("[I]", (json_int_t)1 << 31), S2S_EFORMAT, dim0);
	expect_shape(json_pack("[I]", (json_int_t)INT64_MAX), S2S_EFORMAT, dim0);
	expect_shape(json_pack("[]"), S2S_EFORMAT, "shape must be an array of 1 to 4 dimensions");
	expect_shape(json_pack("[iiiii]", 31, 1, 1, 1, 1), S2S_EFORMAT, "1 to 4 dimensions");
	expect_shape(json_integer(31), S2S_EFORMAT, "shape must be an array");
	expect_shape(NULL, S2S_EFORMAT, "shape must be an array");
}

Test(hostile, shape_element_count_overflow)
{
	const char *sub = "tensor 'decoder.out.bias': element count exceeds 2^31-1";
	expect_shape(json_pack("[ii]", 65536, 65536), S2S_EFORMAT, sub);
	expect_shape(json_pack("[iiii]", 2147483647, 2147483647, 2147483647, 2147483647),
	             S2S_EFORMAT, sub);
	/* 2^31 - 1 itself is a legal count: it then fails on its byte size instead. */
	expect_shape(json_pack("[i]", 2147483647), S2S_EFORMAT, "shape needs 8589934588");
}

Test(hostile, shape_integer_too_big_for_json_parser)
{
	/* 2^70 as a literal: not representable, so the header itself is refused. */
	ckpt_bytes cb;
	cb_load(&cb, TIED);
	char *h = json_dumps(cb.header, JSON_COMPACT);
	char *p = strstr(h, "\"shape\":[31]");
	cr_assert_not_null(p, "fixture layout changed: decoder.out.bias shape not found");
	char *h2 = malloc(strlen(h) + 64);
	memcpy(h2, h, (size_t)(p - h));
	sprintf(h2 + (p - h), "\"shape\":[1180591620717411303424]%s", p + strlen("\"shape\":[31]"));
	expect_header_text(h2, S2S_EFORMAT, "header is not valid JSON");
	free(h2);
	free(h);
	cb_free(&cb);
}

/* --- offsets ----------------------------------------------------------------------------- */

Test(hostile, offsets_reversed)
{
	ckpt_bytes cb;
	cb_load(&cb, TIED);
	json_int_t b, e;
	cb_get_offsets(&cb, "decoder.out.bias", &b, &e);
	cb_set_offsets(&cb, "decoder.out.bias", e, b);
	char want[160];
	snprintf(want, sizeof want,
	         "tensor 'decoder.out.bias': data_offsets [%" JSON_INTEGER_FORMAT
	         ", %" JSON_INTEGER_FORMAT "] must satisfy 0 <= begin <= end",
	         e, b);
	expect_container_cb(&cb, S2S_EBOUNDS, want);
	cb_set_offsets(&cb, "decoder.out.bias", -4, 120);
	expect_container_cb(&cb, S2S_EBOUNDS, "must satisfy 0 <= begin <= end");
	cb_free(&cb);
}

Test(hostile, offsets_out_of_range)
{
	ckpt_bytes cb;
	cb_load(&cb, TIED);
	json_int_t n = (json_int_t)cb.data_len;
	char want[160];
	cb_set_offsets(&cb, "decoder.out.bias", n - 120, n + 4);
	snprintf(want, sizeof want, "exceed data size %zu", cb.data_len);
	expect_container_cb(&cb, S2S_EBOUNDS, want);
	/* Far past the end, where begin + size would wrap a 64-bit sum. */
	cb_set_offsets(&cb, "decoder.out.bias", INT64_MAX - 123, INT64_MAX);
	expect_container_cb(&cb, S2S_EBOUNDS, "tensor 'decoder.out.bias': data_offsets");
	cb_set_offsets(&cb, "decoder.out.bias", n, n + 124);
	expect_container_cb(&cb, S2S_EBOUNDS, want);
	cb_free(&cb);
}

Test(hostile, offsets_malformed)
{
	ckpt_bytes cb;
	cb_load(&cb, TIED);
	const char *sub = "tensor 'decoder.out.bias': data_offsets must be [begin, end] integers";
	json_t *t = cb_tensor(&cb, "decoder.out.bias");
	json_object_set_new(t, "data_offsets", json_pack("[i]", 0));
	expect_container_cb(&cb, S2S_EFORMAT, sub);
	json_object_set_new(t, "data_offsets", json_pack("[iii]", 0, 124, 248));
	expect_container_cb(&cb, S2S_EFORMAT, sub);
	json_object_set_new(t, "data_offsets", json_pack("[sf]", "0", 124.0));
	expect_container_cb(&cb, S2S_EFORMAT, sub);
	json_object_set_new(t, "data_offsets", json_pack("{si}", "begin", 0));
	expect_container_cb(&cb, S2S_EFORMAT, sub);
	json_object_del(t, "data_offsets");
	expect_container_cb(&cb, S2S_EFORMAT, sub);
	cb_free(&cb);
}

Test(hostile, size_not_matching_shape)
{
	ckpt_bytes cb;
	cb_load(&cb, TIED);
	json_int_t b, e;
	cb_get_offsets(&cb, "decoder.out.bias", &b, &e);
	cb_set_offsets(&cb, "decoder.out.bias", b, e - 4);
	/* [31] F32 is 124 bytes (shape from the fixture's config: tgt_vocab_size 31). */
	expect_container_cb(
	    &cb, S2S_EFORMAT,
	    "tensor 'decoder.out.bias': 120 bytes in data_offsets, shape needs 124");
	cb_free(&cb);
	/* The same tensor as F16: 62 bytes, so the F32-sized range is wrong by 2x. */
	cb_load(&cb, TIED);
	json_object_set_new(cb_tensor(&cb, "decoder.out.bias"), "dtype", json_string("F16"));
	expect_container_cb(&cb, S2S_EFORMAT, "124 bytes in data_offsets, shape needs 62");
	cb_free(&cb);
}

Test(hostile, misaligned_offsets)
{
	ckpt_bytes cb;
	cb_load(&cb, TIED);
	/* Move the last tensor 2 bytes up into 2 spare bytes at the end: only alignment breaks. */
	json_int_t b, e;
	cb_get_offsets(&cb, "decoder.out.bias", &b, &e);
	cr_assert_eq(e, (json_int_t)cb.data_len, "fixture layout changed: out.bias not last");
	cb_grow_data(&cb, 2);
	cb_set_offsets(&cb, "decoder.out.bias", b + 2, e + 2);
	char want[128];
	snprintf(want, sizeof want,
	         "tensor 'decoder.out.bias': offset %" JSON_INTEGER_FORMAT
	         " is not aligned to 4 bytes",
	         b + 2);
	expect_container_cb(&cb, S2S_EFORMAT, want);
	cb_free(&cb);
}

Test(hostile, misaligned_f16_offsets)
{
	ckpt_bytes cb;
	cb_load(&cb, F16);
	json_int_t b, e;
	cb_get_offsets(&cb, "decoder.out.bias", &b, &e);
	cr_assert_eq(e, (json_int_t)cb.data_len, "fixture layout changed: out.bias not last");
	cb_grow_data(&cb, 1);
	cb_set_offsets(&cb, "decoder.out.bias", b + 1, e + 1);
	expect_container_cb(&cb, S2S_EFORMAT, "is not aligned to 2 bytes");
	cb_free(&cb);
}

Test(hostile, overlapping_tensors)
{
	ckpt_bytes cb;
	cb_load(&cb, TIED);
	/* Two [32] biases: point the second at the first's bytes. */
	json_int_t b, e;
	cb_get_offsets(&cb, "encoder.rnn.bias_ih_l0", &b, &e);
	cb_set_offsets(&cb, "encoder.rnn.bias_hh_l0", b, e);
	expect_container_cb(&cb, S2S_EFORMAT, "overlaps tensor");
	/* Partial overlap by a single element. */
	cb_set_offsets(&cb, "encoder.rnn.bias_hh_l0", e - 4, e - 4 + (e - b));
	expect_container_cb(&cb, S2S_EFORMAT, "overlaps tensor");
	cb_free(&cb);
}

/* --- model: tensor table (§4) ------------------------------------------------------------ */

Test(hostile, missing_tensor)
{
	const char *names[] = {"decoder.attention.v.weight", "encoder.rnn.bias_hh_l0_reverse",
	                       "bridge.bias", "decoder.out.weight", "encoder.embedding.weight"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		ckpt_bytes c2;
		cb_load(&c2, ADDITIVE);
		/* Renamed, not deleted: its bytes stay covered (a hole is refused first). */
		json_t *t = cb_tensor(&c2, names[i]);
		cr_assert_not_null(t, "fixture lacks %s", names[i]);
		json_object_set(c2.header, "zz.renamed", t);
		cr_assert_eq(json_object_del(c2.header, names[i]), 0);
		char want[128];
		snprintf(want, sizeof want, "checkpoint is missing tensor '%s'", names[i]);
		expect_cb(&c2, S2S_EMISSING, want);
		cb_free(&c2);
	}
}

Test(hostile, unexpected_extra_tensor)
{
	/* A tied model must not carry decoder.out.weight: file and config would disagree. */
	ckpt_bytes cb;
	cb_load(&cb, TIED);
	size_t at = cb_grow_data(&cb, 31 * 8 * 4);
	json_object_set_new(cb.header, "decoder.out.weight",
	                    json_pack("{s:s, s:[ii], s:[II]}", "dtype", "F32", "shape", 31, 8,
	                              "data_offsets", (json_int_t)at,
	                              (json_int_t)(at + 31 * 8 * 4)));
	expect_cb(&cb, S2S_EFORMAT, "checkpoint has unexpected tensor 'decoder.out.weight'");
	cb_free(&cb);
	/* An attention tensor of another score function. */
	cb_load(&cb, TIED);
	at = cb_grow_data(&cb, 8);
	json_object_set_new(cb.header, "decoder.attention.key.bias",
	                    json_pack("{s:s, s:[i], s:[II]}", "dtype", "F32", "shape", 2,
	                              "data_offsets", (json_int_t)at, (json_int_t)(at + 8)));
	expect_cb(&cb, S2S_EFORMAT, "unexpected tensor 'decoder.attention.key.bias'");
	cb_free(&cb);
}

Test(hostile, wrong_shape_names_tensor_and_both_shapes)
{
	/* ADDITIVE: tgt_vocab_size V and dec_hidden 12; out.weight is [V, 12]. Transposed
	 * it has the same byte size, so only the shape check can catch it. */
	ckpt_bytes cb;
	cb_load(&cb, ADDITIVE);
	json_t *shape = json_object_get(cb_tensor(&cb, "decoder.out.weight"), "shape");
	json_int_t v = json_integer_value(json_array_get(shape, 0));
	json_int_t d = json_integer_value(json_array_get(shape, 1));
	cr_assert_eq(d, 12);
	json_object_set_new(cb_tensor(&cb, "decoder.out.weight"), "shape", json_pack("[II]", d, v));
	char want[160];
	snprintf(want, sizeof want,
	         "tensor decoder.out.weight has shape [12,%" JSON_INTEGER_FORMAT
	         "], expected [%" JSON_INTEGER_FORMAT ",12]",
	         v, v);
	expect_cb(&cb, S2S_ESHAPE, want);
	cb_free(&cb);
	/* Rank differs: a bias stored as a [1, V] matrix. */
	cb_load(&cb, ADDITIVE);
	json_object_set_new(cb_tensor(&cb, "decoder.out.bias"), "shape", json_pack("[iI]", 1, v));
	snprintf(want, sizeof want,
	         "tensor decoder.out.bias has shape [1,%" JSON_INTEGER_FORMAT
	         "], expected [%" JSON_INTEGER_FORMAT "]",
	         v, v);
	expect_cb(&cb, S2S_ESHAPE, want);
	cb_free(&cb);
}

/* --- model: metadata (§2) ---------------------------------------------------------------- */

Test(hostile, missing_metadata_key)
{
	const char *keys[] = {"seq2seqd.format_version", "seq2seqd.config",
	                      "seq2seqd.src_vocab",      "seq2seqd.tgt_vocab",
	                      "seq2seqd.src_tokenizer",  "seq2seqd.tgt_tokenizer"};
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		ckpt_bytes cb;
		cb_load(&cb, TIED);
		cb_meta_set(&cb, keys[i], NULL);
		char want[128];
		snprintf(want, sizeof want, "checkpoint metadata is missing key '%s'", keys[i]);
		expect_cb(&cb, S2S_EMISSING, want);
		cb_free(&cb);
	}
	/* No __metadata__ at all. */
	ckpt_bytes cb;
	cb_load(&cb, TIED);
	json_object_del(cb.header, "__metadata__");
	expect_cb(&cb, S2S_EMISSING, "missing key 'seq2seqd.format_version'");
	cb_free(&cb);
}

Test(hostile, metadata_not_flat_strings)
{
	ckpt_bytes cb;
	cb_load(&cb, TIED);
	json_object_set_new(cb_metadata(&cb), "seq2seqd.format_version", json_integer(1));
	expect_container_cb(&cb, S2S_EFORMAT,
	                    "metadata key 'seq2seqd.format_version' is not a string");
	json_object_set_new(cb.header, "__metadata__", json_string("x"));
	expect_container_cb(&cb, S2S_EFORMAT, "__metadata__ is not an object");
	cb_free(&cb);
}

Test(hostile, format_version_2)
{
	ckpt_bytes cb;
	cb_load(&cb, TIED);
	cb_meta_set(&cb, "seq2seqd.format_version", "2");
	expect_cb(&cb, S2S_EFORMAT, "seq2seqd.format_version is '2'; supported: 1");
	cb_meta_set(&cb, "seq2seqd.format_version", "1.0");
	expect_cb(&cb, S2S_EFORMAT, "seq2seqd.format_version is '1.0'");
	cb_free(&cb);
}

/* --- model: config (§3) ------------------------------------------------------------------ */

static void expect_config(const char *fixture, const char *key, json_t *v, const char *sub)
{
	ckpt_bytes cb;
	cb_load(&cb, fixture);
	cb_meta_json_set(&cb, "seq2seqd.config", key, v);
	expect_cb(&cb, S2S_ECONFIG, sub);
	cb_free(&cb);
}

Test(hostile, config_bad_json)
{
	ckpt_bytes cb;
	cb_load(&cb, TIED);
	cb_meta_set(&cb, "seq2seqd.config", "{\"cell\": \"lstm\",");
	expect_cb(&cb, S2S_ECONFIG, "config is not valid JSON");
	cb_meta_set(&cb, "seq2seqd.config", "[\"lstm\"]");
	expect_cb(&cb, S2S_ECONFIG, "config is not a JSON object");
	cb_free(&cb);
}

Test(hostile, config_wrong_type)
{
	expect_config(TIED, "emb_dim", json_string("8"), "config key 'emb_dim' must be an integer");
	expect_config(TIED, "emb_dim", json_real(8.0), "config key 'emb_dim' must be an integer");
	expect_config(TIED, "bidirectional", json_integer(0),
	              "config key 'bidirectional' must be true or false");
	expect_config(TIED, "cell", json_integer(3), "config key 'cell' must be a string");
	expect_config(
	    TIED, "cell", json_string("transformer"),
	    "config key 'cell' has value 'transformer'; allowed: rnn_tanh, rnn_relu, gru, lstm");
	expect_config(TIED, "attention", json_string("Dot"),
	              "config key 'attention' has value 'Dot'");
}

Test(hostile, config_out_of_bounds)
{
	expect_config(TIED, "emb_dim", json_integer(1000000000),
	              "config key 'emb_dim' is 1000000000; allowed 1..4096");
	expect_config(TIED, "enc_layers", json_integer(9),
	              "config key 'enc_layers' is 9; allowed 1..8");
	expect_config(TIED, "dec_hidden", json_integer(0),
	              "config key 'dec_hidden' is 0; allowed 1..4096");
	expect_config(TIED, "src_vocab_size", json_integer(4),
	              "config key 'src_vocab_size' is 4; allowed 5..16777216");
	expect_config(TIED, "tgt_vocab_size", json_integer(-1),
	              "config key 'tgt_vocab_size' is -1");
	/* 2^32 + 8 would be 8 if truncated to int before the bounds check. */
	expect_config(TIED, "emb_dim", json_integer(((json_int_t)1 << 32) + 8),
	              "config key 'emb_dim' is 4294967304");
	expect_config(ADDITIVE, "attn_dim", json_integer(4097), "config key 'attn_dim' is 4097");
}

Test(hostile, config_unknown_and_missing_keys)
{
	expect_config(TIED, "emb_dims", json_integer(8), "config has unknown key 'emb_dims'");
	expect_config(TIED, "dropout", json_real(0.1), "config has unknown key 'dropout'");
	expect_config(TIED, "dec_layers", NULL, "config is missing key 'dec_layers'");
	expect_config(ADDITIVE, "attn_dim", NULL,
	              "config key 'attn_dim' must be 1..4096 for additive");
}

Test(hostile, config_inconsistent_rules)
{
	/* TIED: lstm, E = H = D = 8, 1 layer each, bridge last, dot, luong, tied. */
	expect_config(TIED, "dec_layers", json_integer(2),
	              "config key 'bridge': 'last' needs dec_layers (2) == enc_layers (1)");
	expect_config(TIED, "bidirectional", json_true(),
	              "dec_hidden (8) == encoder output size (16)");
	/* DOTZ: zeros bridge, so only the dot rule can fire. */
	expect_config(
	    DOTZ, "dec_hidden", json_integer(12),
	    "config key 'attention': 'dot' needs dec_hidden (12) == encoder output size (8)");
	/* ADDITIVE: input feed with luong; moving attention to bahdanau or off breaks it. */
	expect_config(ADDITIVE, "attn_placement", json_string("bahdanau"),
	              "config key 'input_feed' needs attention and luong placement");
	expect_config(ADDITIVE, "attention", json_string("none"),
	              "config key 'input_feed' needs attention and luong placement");
	/* TIED with E != D (bridge last and dot still hold: they do not involve E). */
	expect_config(TIED, "emb_dim", json_integer(16),
	              "config key 'tie_embeddings' needs emb_dim (16) == dec_hidden (8)");
}

/* --- the optional keys of §3 and their tensors ------------------------------------------- */

/* A config edit whose error comes from the tensor table, not the config. */
static void expect_config_rc(const char *fixture, const char *key, json_t *v, int want,
                             const char *sub)
{
	ckpt_bytes cb;
	cb_load(&cb, fixture);
	cb_meta_json_set(&cb, "seq2seqd.config", key, v);
	expect_cb(&cb, want, sub);
	cb_free(&cb);
}

/* Sets two config keys at once (a rule that involves both). */
static void expect_config2(const char *fixture, const char *k1, json_t *v1, const char *k2,
                           json_t *v2, int want, const char *sub)
{
	ckpt_bytes cb;
	cb_load(&cb, fixture);
	cb_meta_json_set(&cb, "seq2seqd.config", k1, v1);
	cb_meta_json_set(&cb, "seq2seqd.config", k2, v2);
	expect_cb(&cb, want, sub);
	cb_free(&cb);
}

Test(hostile, extension_fixtures_open_untouched)
{
	const char *names[] = {ONMT, JOEY, IDENT};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		ckpt_bytes cb;
		cb_load(&cb, names[i]);
		size_t len;
		unsigned char *b = cb_assemble(&cb, &len);
		s2s_error e;
		cr_assert_eq(model_open_bytes(b, len, &e), 0, "%s: %s", names[i], e.message);
		free(b);
		cb_free(&cb);
	}
}

Test(hostile, extension_config_wrong_type_or_value)
{
	expect_config(ONMT, "attn_out_bias", json_string("yes"),
	              "config key 'attn_out_bias' must be true or false");
	expect_config(ONMT, "attn_out_bias", json_integer(1),
	              "config key 'attn_out_bias' must be true or false");
	expect_config(ONMT, "attn_out_activation", json_string("relu"),
	              "config key 'attn_out_activation' has value 'relu'; allowed: tanh, none");
	expect_config(ONMT, "attn_out_activation", json_false(),
	              "config key 'attn_out_activation' must be a string");
	expect_config(ONMT, "bridge_input", json_integer(2),
	              "config key 'bridge_input' must be a string");
	expect_config(ONMT, "bridge_input", json_string("bottom"),
	              "config key 'bridge_input' has value 'bottom'; allowed: top, all");
	expect_config(ONMT, "bridge_activation", json_string("gelu"),
	              "config key 'bridge_activation' has value 'gelu'; allowed: tanh, none, relu");
	expect_config(ONMT, "bridge_cell", json_string("last"),
	              "config key 'bridge_cell' has value 'last'; allowed: zeros, hidden, linear");
	expect_config(JOEY, "bridge_cell", json_null(),
	              "config key 'bridge_cell' must be a string");
	expect_config(JOEY, "bridge_cel", json_string("hidden"),
	              "config has unknown key 'bridge_cel'");
}

Test(hostile, extension_config_inconsistent_rules)
{
	/* The config is checked before the tensor table, so these name the key. */
	expect_config(ONMT, "cell", json_string("gru"),
	              "config key 'bridge_cell' needs cell 'lstm', not 'gru'");
	expect_config(JOEY, "cell", json_string("rnn_tanh"),
	              "config key 'bridge_cell' needs cell 'lstm', not 'rnn_tanh'");
	expect_config(ONMT, "bridge", json_string("zeros"),
	              "config key 'bridge_input' needs bridge 'linear', not 'zeros'");
	expect_config(JOEY, "bridge", json_string("zeros"),
	              "config key 'bridge_cell' needs bridge 'linear', not 'zeros'");
	expect_config(IDENT, "bridge", json_string("last"),
	              "config key 'bridge_activation' needs bridge 'linear', not 'last'");
	expect_config2(ONMT, "input_feed", json_false(), "attn_placement", json_string("bahdanau"),
	               S2S_ECONFIG,
	               "config key 'attn_out_bias' needs attention and luong placement");
	expect_config2(ONMT, "input_feed", json_false(), "attention", json_string("none"),
	               S2S_ECONFIG,
	               "config key 'attn_out_bias' needs attention and luong placement");
	expect_config2(IDENT, "attn_out_activation", json_string("none"), "attention",
	               json_string("none"), S2S_ECONFIG,
	               "config key 'attn_out_activation' needs attention and luong placement");
}

Test(hostile, extension_tensor_missing)
{
	static const struct {
		const char *fixture, *tensor;
	} cases[] = {{ONMT, "bridge_c.weight"},
	             {ONMT, "bridge_c.bias"},
	             {ONMT, "decoder.attention_out.bias"},
	             {JOEY, "decoder.attention_out.bias"}};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ckpt_bytes cb;
		cb_load(&cb, cases[i].fixture);
		json_t *t = cb_tensor(&cb, cases[i].tensor);
		cr_assert_not_null(t, "fixture lacks %s", cases[i].tensor);
		json_object_set(cb.header, "zz.renamed", t); /* renamed: its bytes stay owned */
		cr_assert_eq(json_object_del(cb.header, cases[i].tensor), 0);
		char want[128];
		snprintf(want, sizeof want, "checkpoint is missing tensor '%s'", cases[i].tensor);
		expect_cb(&cb, S2S_EMISSING, want);
		cb_free(&cb);
	}
	/* A config that asks for tensors the file was written without. */
	expect_config_rc(IDENT, "bridge_cell", json_string("linear"), S2S_EMISSING,
	                 "checkpoint is missing tensor 'bridge_c.weight'");
	expect_config_rc(IDENT, "attn_out_bias", json_true(), S2S_EMISSING,
	                 "checkpoint is missing tensor 'decoder.attention_out.bias'");
}

Test(hostile, extension_tensor_unexpected)
{
	/* The key set back to its default: the file then holds a tensor the model lacks. */
	ckpt_bytes cb;
	cb_load(&cb, ONMT);
	cb_meta_json_set(&cb, "seq2seqd.config", "attn_out_bias", NULL);
	expect_cb(&cb, S2S_EFORMAT,
	          "checkpoint has unexpected tensor 'decoder.attention_out.bias'");
	cb_free(&cb);
	expect_config_rc(ONMT, "bridge_cell", json_string("hidden"), S2S_EFORMAT,
	                 "checkpoint has unexpected tensor 'bridge_c.");
	expect_config_rc(ONMT, "bridge_cell", NULL, S2S_EFORMAT,
	                 "checkpoint has unexpected tensor 'bridge_c.");
	/* And an extra bridge_c.bias appended to a file whose bridge takes c from h. */
	cb_load(&cb, JOEY);
	size_t at = cb_grow_data(&cb, 24 * 4);
	json_object_set_new(cb.header, "bridge_c.bias",
	                    json_pack("{s:s, s:[i], s:[II]}", "dtype", "F32", "shape", 24,
	                              "data_offsets", (json_int_t)at, (json_int_t)(at + 24 * 4)));
	expect_cb(&cb, S2S_EFORMAT, "checkpoint has unexpected tensor 'bridge_c.bias'");
	cb_free(&cb);
}

/* Reshapes one tensor of ONMT keeping its byte size, so only the shape check can see it. */
static void expect_onmt_reshaped(const char *tensor, json_t *shape, const char *sub)
{
	ckpt_bytes cb;
	cb_load(&cb, ONMT);
	json_object_set_new(cb_tensor(&cb, tensor), "shape", shape);
	expect_cb(&cb, S2S_ESHAPE, sub);
	cb_free(&cb);
}

Test(hostile, extension_tensor_wrong_shape)
{
	/* ONMT: dec_layers * D = 24, bridge input = enc_layers * K = 32, D = 12 */
	expect_onmt_reshaped("bridge.weight", json_pack("[ii]", 32, 24),
	                     "tensor bridge.weight has shape [32,24], expected [24,32]");
	expect_onmt_reshaped("bridge_c.weight", json_pack("[ii]", 32, 24),
	                     "tensor bridge_c.weight has shape [32,24], expected [24,32]");
	expect_onmt_reshaped("bridge_c.weight", json_pack("[ii]", 48, 16),
	                     "tensor bridge_c.weight has shape [48,16], expected [24,32]");
	expect_onmt_reshaped("bridge_c.bias", json_pack("[ii]", 1, 24),
	                     "tensor bridge_c.bias has shape [1,24], expected [24]");
	expect_onmt_reshaped("decoder.attention_out.bias", json_pack("[ii]", 2, 6),
	                     "tensor decoder.attention_out.bias has shape [2,6], expected [12]");
	/* bridge_input flipped: the stored weight's width no longer fits */
	expect_config_rc(ONMT, "bridge_input", json_string("top"), S2S_ESHAPE,
	                 "tensor bridge.weight has shape [24,32], expected [24,16]");
	expect_config_rc(JOEY, "bridge_input", json_string("all"), S2S_ESHAPE,
	                 "tensor bridge.weight has shape [24,16], expected [24,32]");
}

/* --- model: vocabularies and tokenizers (§2, §5) ---------------------------------------- */

/* Replaces element i of the vocabulary array at `key` (NULL removes it). */
static void edit_vocab(ckpt_bytes *cb, const char *key, size_t i, json_t *v)
{
	json_t *arr = json_loads(cb_meta_get(cb, key), 0, NULL);
	cr_assert(json_is_array(arr));
	if (v)
		json_array_set_new(arr, i, v);
	else
		json_array_remove(arr, i);
	char *s = json_dumps(arr, JSON_COMPACT);
	cb_meta_set(cb, key, s);
	free(s);
	json_decref(arr);
}

Test(hostile, vocab_size_vs_config)
{
	/* TIED: 27 source tokens, 31 target tokens. */
	ckpt_bytes cb;
	cb_load(&cb, TIED);
	cb_meta_json_set(&cb, "seq2seqd.config", "src_vocab_size", json_integer(28));
	expect_cb(&cb, S2S_EVOCAB, "src_vocab has 27 tokens but config says 28");
	cb_free(&cb);
	cb_load(&cb, TIED);
	edit_vocab(&cb, "seq2seqd.tgt_vocab", 30, NULL);
	expect_cb(&cb, S2S_EVOCAB, "tgt_vocab has 30 tokens but config says 31");
	cb_free(&cb);
}

Test(hostile, vocab_bad_special_tokens)
{
	ckpt_bytes cb;
	cb_load(&cb, TIED);
	edit_vocab(&cb, "seq2seqd.tgt_vocab", 2, json_string("</s>"));
	edit_vocab(&cb, "seq2seqd.tgt_vocab", 3, json_string("<s>"));
	expect_cb(&cb, S2S_EVOCAB, "tgt_vocab[2] must be <s>, not '</s>'");
	cb_free(&cb);
	cb_load(&cb, TIED);
	edit_vocab(&cb, "seq2seqd.src_vocab", 0, json_string("<PAD>"));
	expect_cb(&cb, S2S_EVOCAB, "src_vocab[0] must be <pad>, not '<PAD>'");
	cb_free(&cb);
}

Test(hostile, vocab_bad_entries)
{
	ckpt_bytes cb;
	cb_load(&cb, TIED);
	edit_vocab(&cb, "seq2seqd.src_vocab", 9, json_string("e")); /* "e" is id 5 */
	expect_cb(&cb, S2S_EVOCAB, "src_vocab[9] duplicates token 'e' (first at 5)");
	cb_free(&cb);
	cb_load(&cb, TIED);
	edit_vocab(&cb, "seq2seqd.src_vocab", 9, json_string(""));
	expect_cb(&cb, S2S_EVOCAB, "src_vocab[9] is not a non-empty string");
	cb_free(&cb);
	cb_load(&cb, TIED);
	edit_vocab(&cb, "seq2seqd.tgt_vocab", 9, json_integer(9));
	expect_cb(&cb, S2S_EVOCAB, "tgt_vocab[9] is not a non-empty string");
	cb_free(&cb);
	cb_load(&cb, TIED);
	cb_meta_set(&cb, "seq2seqd.src_vocab", "[\"<pad>\",\"<unk>\",\"<s>\",\"</s>\"]");
	expect_cb(&cb, S2S_EVOCAB, "src_vocab has 4 tokens; allowed 5..2^24");
	cb_meta_set(&cb, "seq2seqd.src_vocab", "{\"<pad>\": 0}");
	expect_cb(&cb, S2S_EVOCAB, "src_vocab is not a JSON array of strings");
	cb_meta_set(&cb, "seq2seqd.src_vocab", "[\"<pad>\",");
	expect_cb(&cb, S2S_EVOCAB, "src_vocab is not a JSON array of strings");
	cb_free(&cb);
}

static void expect_tokenizer(const char *fixture, const char *key, const char *text,
                             const char *sub)
{
	ckpt_bytes cb;
	cb_load(&cb, fixture);
	cb_meta_set(&cb, key, text);
	expect_cb(&cb, S2S_ETOKENIZER, sub);
	cb_free(&cb);
}

Test(hostile, bad_tokenizer_json)
{
	expect_tokenizer(TIED, "seq2seqd.src_tokenizer", "{\"type\": \"char\"",
	                 "src_tokenizer is not a JSON object");
	expect_tokenizer(TIED, "seq2seqd.tgt_tokenizer", "[\"char\"]",
	                 "tgt_tokenizer is not a JSON object");
	expect_tokenizer(TIED, "seq2seqd.src_tokenizer", "{\"type\": \"wordpiece\"}",
	                 "src_tokenizer 'type' must be one of \"char\", \"bpe\"");
	expect_tokenizer(TIED, "seq2seqd.src_tokenizer", "{\"lowercase\": false}",
	                 "src_tokenizer 'type' must be");
	expect_tokenizer(TIED, "seq2seqd.src_tokenizer",
	                 "{\"type\": \"char\", \"lower_case\": true}",
	                 "src_tokenizer has unknown key 'lower_case'");
	expect_tokenizer(TIED, "seq2seqd.src_tokenizer", "{\"type\": \"char\", \"lowercase\": 1}",
	                 "src_tokenizer 'lowercase' must be true or false");
	expect_tokenizer(TIED, "seq2seqd.tgt_tokenizer",
	                 "{\"type\": \"char\", \"merges\": [[\"a\", \"b\"]]}",
	                 "tgt_tokenizer: a char tokenizer has no merges");
	expect_tokenizer(TIED, "seq2seqd.tgt_tokenizer", "{\"type\": \"bpe\"}",
	                 "tgt_tokenizer: bpe needs a 'merges' array");
	expect_tokenizer(BPE, "seq2seqd.src_tokenizer",
	                 "{\"type\": \"bpe\", \"merges\": [[\"a\", \"b\"], [\"c\"]]}",
	                 "src_tokenizer merges[1] is not a [left, right] pair");
	expect_tokenizer(BPE, "seq2seqd.src_tokenizer",
	                 "{\"type\": \"bpe\", \"merges\": [[\"a\", 2]]}",
	                 "src_tokenizer merges[0] is not a [left, right] pair");
}

/* --- fuzz-ish ------------------------------------------------------------------------------ */

/*
 * Checkpoint-level opens on an exact-size malloc'd copy (valgrind catches any
 * read past it) and model-level opens from a file (covers config, vocab and
 * tokenizer parsing of damaged text). Plain if() in the loops: Criterion
 * stalls on thousands of cr_assert calls.
 */
static int fuzz_one(const unsigned char *b, size_t len, int with_model, int *ck_rc, char *why,
                    size_t cap)
{
	unsigned char *copy = malloc(len ? len : 1);
	memcpy(copy, b, len);
	s2s_checkpoint *ck = (s2s_checkpoint *)&ck;
	s2s_error e;
	s2s_error_clear(&e);
	int rc = s2s_checkpoint_open_buffer(copy, len, &ck, &e);
	int bad = rc > 0 || (rc < 0 && (ck != NULL || e.code != rc || !e.message[0]));
	if (rc == 0)
		s2s_checkpoint_close(ck);
	free(copy);
	*ck_rc = rc;
	if (bad) {
		snprintf(why, cap, "checkpoint rc %d code %d ck %p msg '%s'", rc, e.code,
		         (void *)ck, e.message);
		return -1;
	}
	if (!with_model)
		return 0;
	rc = model_open_bytes(b, len, &e);
	if (rc > 0 || (rc < 0 && (e.code != rc || !e.message[0]))) {
		snprintf(why, cap, "model rc %d code %d msg '%s'", rc, e.code, e.message);
		return -1;
	}
	return 0;
}

static uint64_t header_len(const unsigned char *b)
{
	uint64_t n = 0;
	for (int i = 7; i >= 0; i--)
		n = n << 8 | b[i];
	return n;
}

Test(fuzz, flip_every_header_byte)
{
	char path[4096], why[700];
	size_t len;
	unsigned char *b = cb_read_file(cb_fixture_path(TIED, path, sizeof path), &len);
	size_t end = 8 + (size_t)header_len(b);
	static const unsigned char xors[] = {0x01, 0x20, 0x80};
	static const unsigned char sets[] = {'"', '9', '{', '\0'};
	int tries = 0, rejected = 0;
	for (size_t i = 0; i < end; i++) {
		unsigned char orig = b[i];
		for (size_t k = 0; k < sizeof xors + sizeof sets; k++) {
			b[i] = k < sizeof xors ? orig ^ xors[k] : sets[k - sizeof xors];
			if (b[i] == orig)
				continue;
			tries++;
			int ck_rc;
			if (fuzz_one(b, len, 1, &ck_rc, why, sizeof why) < 0)
				cr_assert_fail("byte %zu = 0x%02x: %s", i, b[i], why);
			rejected += ck_rc < 0;
		}
		b[i] = orig;
	}
	/* Sanity: the loop ran, and damage was noticed often (not a no-op open). */
	if (tries < 5 * (int)end || rejected < tries / 4)
		cr_assert_fail("tries %d, rejected %d, header end %zu", tries, rejected, end);
	free(b);
}

Test(fuzz, truncate_at_many_lengths)
{
	char path[4096], why[700];
	size_t len;
	unsigned char *b = cb_read_file(cb_fixture_path(ADDITIVE, path, sizeof path), &len);
	size_t end = 8 + (size_t)header_len(b);
	int n_ok = 0, tries = 0;
	for (size_t cut = 0; cut < len; cut += cut < end + 64 ? 1 : 7) {
		int ck_rc;
		tries++;
		if (fuzz_one(b, cut, cut + 16 >= end, &ck_rc, why, sizeof why) < 0)
			cr_assert_fail("cut at %zu of %zu: %s", cut, len, why);
		n_ok += ck_rc == 0;
	}
	/* The last tensor ends at the end of the file, so no strict prefix is valid. */
	if (n_ok != 0 || tries < (int)end)
		cr_assert_fail("%d of %d truncated files opened", n_ok, tries);
	free(b);
}

/* The BPE fixture: merges are parsed only here, so damage them too (cheaper flips). */
Test(fuzz, flip_every_header_byte_bpe)
{
	char path[4096], why[700];
	size_t len;
	unsigned char *b = cb_read_file(cb_fixture_path(BPE, path, sizeof path), &len);
	size_t end = 8 + (size_t)header_len(b);
	for (size_t i = 0; i < end; i++) {
		unsigned char orig = b[i];
		b[i] = orig ^ 0x02;
		int ck_rc;
		if (fuzz_one(b, len, 1, &ck_rc, why, sizeof why) < 0)
			cr_assert_fail("byte %zu = 0x%02x: %s", i, b[i], why);
		b[i] = orig;
	}
	free(b);
}
