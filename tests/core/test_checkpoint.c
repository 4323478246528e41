/*
 * test_checkpoint.c - the safetensors container against hostile bytes.
 *
 * Each case builds one malformed file (docs/checkpoint-format.md §1) and
 * asserts the specific error code and a distinctive part of the sentence, so
 * a check that fires for the wrong reason fails. Buffers are malloc'd to
 * their exact length, so valgrind sees any read past the end.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "assert_err.h"
#include "ckpt_builder.h"
#include "s2s_checkpoint.h"

static int open_bytes(const unsigned char *b, size_t len, s2s_error *e)
{
	s2s_checkpoint *ck = (s2s_checkpoint *)&ck; /* must be reset to NULL on failure */
	s2s_error_clear(e);
	int rc = s2s_checkpoint_open_buffer(b, len, &ck, e);
	if (rc < 0)
		cr_assert_null(ck, "failed open must leave *out NULL");
	s2s_checkpoint_close(ck);
	return rc;
}

static int open_raw(const char *header, size_t data_len, s2s_error *e)
{
	size_t len;
	unsigned char *b = ckb_raw(header, data_len, &len);
	int rc = open_bytes(b, len, e);
	free(b);
	return rc;
}

#define RAW_ERR(hdr, data_len, want, sub)                                                          \
	do {                                                                                       \
		s2s_error e_;                                                                      \
		int rc_ = open_raw((hdr), (data_len), &e_);                                        \
		assert_err(rc_, e_, (want), (sub));                                                \
	} while (0)

/* --- the first 8 bytes ------------------------------------------------------------ */

Test(checkpoint, empty_file_is_rejected)
{
	char path[64];
	ckb_write_tmp("", 0, path);
	s2s_checkpoint *ck;
	s2s_error e = {0};
	int rc = s2s_checkpoint_open(path, &ck, &e);
	unlink(path);
	assert_err(rc, e, S2S_EFORMAT, "file is 0 bytes");
	cr_assert_null(ck);
}

Test(checkpoint, truncated_length_prefix)
{
	unsigned char *b = malloc(5);
	memcpy(b, "\x10\0\0\0\0", 5);
	s2s_error e;
	int rc = open_bytes(b, 5, &e);
	free(b);
	assert_err(rc, e, S2S_EFORMAT, "file is 5 bytes");
}

static unsigned char *with_length(uint64_t n, size_t total)
{
	unsigned char *b = calloc(1, total);
	for (int k = 0; k < 8; k++)
		b[k] = (unsigned char)(n >> (8 * k));
	memset(b + 8, ' ', total - 8);
	return b;
}

/* A file that is not a checkpoint is named as such, not read as an exabyte header length. */
Test(checkpoint, not_a_safetensors_file)
{
	static const char zip[] = "PK\3\4\24\0\0\0\b\0\0\0!\0archive/data.pkl";
	static const char pickle[] = "\x80\2}q\0(X\6\0\0\0weightsq\1";
	static const char text[] = "# seq2seqd\n\nseq2seqd serves Seq2Seq models";
	static const struct {
		const char *bytes;
		size_t len;
		const char *sub;
	} cases[] = {
	    {zip, sizeof zip - 1, "not a safetensors file (a ZIP archive"},
	    {pickle, sizeof pickle - 1, "not a safetensors file (a Python pickle"},
	    {text, sizeof text - 1, "not a safetensors file: one starts with"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		s2s_error e;
		int rc = open_bytes((const unsigned char *)cases[i].bytes, cases[i].len, &e);
		assert_err(rc, e, S2S_EFORMAT, cases[i].sub);
		cr_assert(strstr(e.message, "exceeds") == NULL, "%s", e.message);
	}
}

Test(checkpoint, header_length_past_end)
{
	unsigned char *b = with_length(64, 24);
	s2s_error e;
	int rc = open_bytes(b, 24, &e);
	free(b);
	assert_err(rc, e, S2S_EFORMAT, "header length 64 exceeds file size 24");
}

Test(checkpoint, absurd_header_length_2_pow_63)
{
	unsigned char *b = with_length(UINT64_C(1) << 63, 24);
	s2s_error e;
	int rc = open_bytes(b, 24, &e);
	free(b);
	assert_err(rc, e, S2S_EFORMAT, "header length 9223372036854775808 exceeds");
}

Test(checkpoint, header_length_all_ones)
{
	unsigned char *b = with_length(UINT64_MAX, 24);
	s2s_error e;
	int rc = open_bytes(b, 24, &e);
	free(b);
	assert_err(rc, e, S2S_EFORMAT, "header length 18446744073709551615 exceeds");
}

Test(checkpoint, header_over_100_mib_limit)
{
	/* A length that fits the file is still refused above the spec's 100 MiB cap. */
	size_t total = 8 + (100u << 20) + 8;
	unsigned char *b = with_length((100u << 20) + 8, total);
	s2s_error e;
	int rc = open_bytes(b, total, &e);
	free(b);
	assert_err(rc, e, S2S_EFORMAT,
	           "header length 104857608 exceeds the limit of 104857600 bytes");
}

Test(checkpoint, data_section_must_start_8_aligned)
{
	unsigned char *b = with_length(5, 16);
	memcpy(b + 8, "{}", 2);
	s2s_error e;
	int rc = open_bytes(b, 16, &e);
	free(b);
	assert_err(rc, e, S2S_EFORMAT, "multiple of 8");
}

/* --- the header JSON ---------------------------------------------------------------- */

Test(checkpoint, zero_length_header_is_not_json)
{
	RAW_ERR("", 0, S2S_EFORMAT, "header is not valid JSON");
}

Test(checkpoint, header_not_json)
{
	RAW_ERR("{\"a\": {\"dtype\": ", 0, S2S_EFORMAT, "header is not valid JSON");
}

Test(checkpoint, header_trailing_garbage)
{
	RAW_ERR("{} x", 0, S2S_EFORMAT, "header is not valid JSON");
}

Test(checkpoint, header_json_not_object)
{
	RAW_ERR("[1, 2, 3]", 0, S2S_EFORMAT, "header is not a JSON object");
}

Test(checkpoint, header_duplicate_key)
{
	RAW_ERR("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
	        "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
	        8, S2S_EFORMAT, "duplicate");
}

Test(checkpoint, header_with_nul_byte)
{
	const char h[] = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
	size_t len;
	unsigned char *b = ckb_raw(h, 4, &len);
	b[8 + 2] = 0; /* the key "a" becomes "\0" */
	s2s_error e;
	int rc = open_bytes(b, len, &e);
	free(b);
	assert_err(rc, e, S2S_EFORMAT, "header is not valid JSON");
}

Test(checkpoint, tensor_entry_not_object)
{
	RAW_ERR("{\"enc\": [1, 2]}", 0, S2S_EFORMAT, "tensor 'enc': entry is not an object");
}

Test(checkpoint, metadata_not_object)
{
	RAW_ERR("{\"__metadata__\": \"x\"}", 0, S2S_EFORMAT, "__metadata__ is not an object");
}

Test(checkpoint, metadata_value_not_string)
{
	RAW_ERR("{\"__metadata__\": {\"seq2seqd.config\": {\"cell\": \"lstm\"}}}", 0, S2S_EFORMAT,
	        "metadata key 'seq2seqd.config' is not a string");
}

/* --- dtype -------------------------------------------------------------------------- */

Test(checkpoint, unknown_dtype_i64)
{
	RAW_ERR("{\"x\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}}", 16, S2S_EDTYPE,
	        "tensor 'x' has dtype I64; supported: F32, F16, BF16");
}

Test(checkpoint, dtype_is_case_sensitive)
{
	RAW_ERR("{\"x\":{\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, S2S_EDTYPE,
	        "tensor 'x' has dtype f32");
}

Test(checkpoint, dtype_missing_or_not_string)
{
	RAW_ERR("{\"x\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, S2S_EFORMAT,
	        "tensor 'x': dtype missing");
	RAW_ERR("{\"x\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, S2S_EFORMAT,
	        "tensor 'x': dtype missing");
}

/* --- shape -------------------------------------------------------------------------- */

#define SHAPE_ERR(shape, sub)                                                                      \
	RAW_ERR("{\"w\":{\"dtype\":\"F32\",\"shape\":" shape ",\"data_offsets\":[0,8]}}", 8,       \
	        S2S_EFORMAT, sub)

Test(checkpoint, shape_zero_dim)
{
	SHAPE_ERR("[2, 0]", "tensor 'w': dimension 1 must be an integer in 1..2^31-1");
}

Test(checkpoint, shape_negative_dim)
{
	SHAPE_ERR("[-2]", "tensor 'w': dimension 0 must be an integer");
}

Test(checkpoint, shape_non_integer_dim)
{
	SHAPE_ERR("[2.0]", "tensor 'w': dimension 0 must be an integer");
	SHAPE_ERR("[\"2\"]", "tensor 'w': dimension 0 must be an integer");
	SHAPE_ERR("[null]", "tensor 'w': dimension 0 must be an integer");
}

Test(checkpoint, shape_dim_over_int32)
{
	SHAPE_ERR("[1, 2147483648]", "tensor 'w': dimension 1 must be an integer in 1..2^31-1");
}

Test(checkpoint, shape_product_overflows)
{
	/* 65536^2 = 2^32 and 2^31-1 to the 4th power would both wrap a 32-bit count. */
	SHAPE_ERR("[65536, 65536]", "tensor 'w': element count exceeds 2^31-1");
	SHAPE_ERR("[2147483647, 2147483647, 2147483647, 2147483647]",
	          "tensor 'w': element count exceeds 2^31-1");
}

Test(checkpoint, shape_rank)
{
	SHAPE_ERR("[]", "tensor 'w': shape must be an array of 1 to 4 dimensions");
	SHAPE_ERR("[1, 1, 1, 1, 2]", "tensor 'w': shape must be an array of 1 to 4 dimensions");
	SHAPE_ERR("2", "tensor 'w': shape must be an array");
	RAW_ERR("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, S2S_EFORMAT,
	        "tensor 'w': shape must be an array");
}

/* --- data_offsets ------------------------------------------------------------------- */

Test(checkpoint, offsets_reversed)
{
	RAW_ERR("{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 16, S2S_EBOUNDS,
	        "tensor 'b': data_offsets [8, 4] must satisfy 0 <= begin <= end");
}

Test(checkpoint, offsets_negative)
{
	RAW_ERR("{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 16,
	        S2S_EBOUNDS, "tensor 'b': data_offsets [-4, 0]");
}

Test(checkpoint, offsets_out_of_range)
{
	RAW_ERR("{\"decoder.out.bias\":{\"dtype\":\"F32\",\"shape\":[10],"
	        "\"data_offsets\":[40,80]}}",
	        64, S2S_EBOUNDS,
	        "tensor 'decoder.out.bias': data_offsets [40, 80] exceed data size 64");
}

Test(checkpoint, offsets_huge)
{
	/* end near 2^63: a naive `data + end` would wrap around the address space. */
	RAW_ERR("{\"b\":{\"dtype\":\"F32\",\"shape\":[1],"
	        "\"data_offsets\":[9223372036854775800,9223372036854775804]}}",
	        16, S2S_EBOUNDS, "exceed data size 16");
	RAW_ERR(
	    "{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,18446744073709551616]}}",
	    16, S2S_EFORMAT, "header is not valid JSON"); /* > int64: jansson refuses it */
}

Test(checkpoint, offsets_malformed)
{
	RAW_ERR("{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 8, S2S_EFORMAT,
	        "tensor 'b': data_offsets must be [begin, end] integers");
	RAW_ERR("{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8,
	        S2S_EFORMAT, "tensor 'b': data_offsets must be [begin, end] integers");
	RAW_ERR("{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4.0]}}", 8,
	        S2S_EFORMAT, "tensor 'b': data_offsets must be [begin, end] integers");
	RAW_ERR("{\"b\":{\"dtype\":\"F32\",\"shape\":[1]}}", 8, S2S_EFORMAT,
	        "tensor 'b': data_offsets must be [begin, end] integers");
}

Test(checkpoint, size_not_matching_shape)
{
	RAW_ERR("{\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 16, S2S_EFORMAT,
	        "tensor 'b': 8 bytes in data_offsets, shape needs 12");
	RAW_ERR("{\"h\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,12]}}", 16,
	        S2S_EFORMAT, "tensor 'h': 12 bytes in data_offsets, shape needs 6");
}

Test(checkpoint, misaligned_offsets)
{
	RAW_ERR("{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[2,6]}}", 16, S2S_EFORMAT,
	        "tensor 'b': offset 2 is not aligned to 4 bytes");
	RAW_ERR("{\"h\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[3,5]}}", 16,
	        S2S_EFORMAT, "tensor 'h': offset 3 is not aligned to 2 bytes");
}

Test(checkpoint, overlapping_tensors)
{
	RAW_ERR("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
	        "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[12,28]}}",
	        32, S2S_EFORMAT, "tensor 'b' overlaps tensor 'a'");
}

Test(checkpoint, overlap_found_whatever_the_header_order)
{
	/* b lies inside a; c comes first in the header but last in the data. */
	RAW_ERR("{\"c\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[60,64]},"
	        "\"a\":{\"dtype\":\"F32\",\"shape\":[10],\"data_offsets\":[0,40]},"
	        "\"b\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[20,24]}}",
	        64, S2S_EFORMAT, "tensor 'b' overlaps tensor 'a'");
	RAW_ERR("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
	        "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
	        8, S2S_EFORMAT, "overlaps tensor");
}

/* --- valid files ---------------------------------------------------------------------- */

static const char two_tensors[] =
    "{\"__metadata__\":{\"k\":\"v\",\"seq2seqd.name\":\"t\"},"
    "\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[8,32]},"
    "\"h\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8]}}";

static void check_two_tensors(const s2s_checkpoint *ck, const unsigned char *base, size_t len)
{
	size_t blen;
	cr_assert_eq(s2s_checkpoint_bytes(ck, &blen), (const void *)base);
	cr_assert_eq(blen, len);
	const unsigned char *data = base + len - 32; /* data section is the last 32 bytes */
	cr_assert_eq(s2s_checkpoint_tensor_count(ck), 2);
	/* header order survives the overlap check's sorting */
	cr_assert_str_eq(s2s_checkpoint_tensor_at(ck, 0)->name, "w");
	cr_assert_str_eq(s2s_checkpoint_tensor_at(ck, 1)->name, "h");
	cr_assert_null(s2s_checkpoint_tensor_at(ck, 2));
	cr_assert_null(s2s_checkpoint_tensor_at(ck, -1));
	const s2s_tensor_info *w = s2s_checkpoint_tensor(ck, "w"),
	                      *h = s2s_checkpoint_tensor(ck, "h");
	cr_assert(w && h);
	cr_assert_eq(w->dtype, S2S_DTYPE_F32);
	cr_assert_eq(w->rank, 2);
	cr_assert_eq(w->shape[0], 2);
	cr_assert_eq(w->shape[1], 3);
	cr_assert_eq(w->numel, 6);
	cr_assert_eq(w->nbytes, 24);
	cr_assert_eq(w->data, (const void *)(data + 8));
	cr_assert_eq(h->dtype, S2S_DTYPE_F16);
	cr_assert_eq(h->data, (const void *)data);
	cr_assert_eq(h->nbytes, 8);
	cr_assert_null(s2s_checkpoint_tensor(ck, "x"));
	cr_assert_str_eq(s2s_checkpoint_meta(ck, "k"), "v");
	cr_assert_str_eq(s2s_checkpoint_meta(ck, "seq2seqd.name"), "t");
	cr_assert_null(s2s_checkpoint_meta(ck, "missing"));
}

Test(checkpoint, valid_buffer_exposes_tensors_in_place)
{
	size_t len;
	unsigned char *b = ckb_raw(two_tensors, 32, &len);
	s2s_checkpoint *ck;
	s2s_error e = {0};
	cr_assert_eq(s2s_checkpoint_open_buffer(b, len, &ck, &e), 0, "%s", e.message);
	check_two_tensors(ck, b, len);
	s2s_checkpoint_close(ck);
	free(b);
}

/*
 * The file is read into private memory, not mapped: after open, the file
 * may be overwritten in place, truncated to nothing and unlinked, and the
 * checkpoint still holds the bytes it validated (on today's mapping the
 * truncation made the next read SIGBUS, and an in-place rewrite changed the
 * weights under the model).
 */
Test(checkpoint, valid_file_is_read_whole_and_survives_rewrite_and_truncation)
{
	size_t len;
	unsigned char *b = ckb_raw(two_tensors, 32, &len);
	b[len - 32 + 8] = 0x7f; /* a byte of w */
	char path[64];
	ckb_write_tmp(b, len, path);
	s2s_checkpoint *ck;
	s2s_error e = {0};
	int rc = s2s_checkpoint_open(path, &ck, &e);
	cr_assert_eq(rc, 0, "%s", e.message);
	size_t mlen;
	const unsigned char *m = s2s_checkpoint_bytes(ck, &mlen);
	cr_assert_neq(m, b);
	cr_assert_eq(mlen, len);
	/* rewrite in place (same inode, like cp over it), then truncate */
	FILE *f = fopen(path, "r+b");
	cr_assert_not_null(f);
	unsigned char junk[4096];
	memset(junk, 0xee, sizeof junk);
	cr_assert_eq(fwrite(junk, 1, len, f), len);
	cr_assert_eq(fflush(f), 0);
	cr_assert_eq(ftruncate(fileno(f), 0), 0);
	fclose(f);
	unlink(path);
	cr_assert_eq(memcmp(m, b, len), 0, "the checkpoint's bytes followed the file");
	check_two_tensors(ck, m, mlen);
	cr_assert_eq(((const unsigned char *)s2s_checkpoint_tensor(ck, "w")->data)[0], 0x7f);
	s2s_checkpoint_close(ck);
	free(b);
}

/* §1: the tensors tile the data section exactly, as in the safetensors reference. */
Test(checkpoint, data_section_holes_and_trailing_bytes_are_refused)
{
	/* a hole before the first tensor */
	RAW_ERR("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, S2S_EFORMAT,
	        "data section has a hole of 4 bytes at offset 0, before tensor 'a'");
	/* a hole between two tensors, whatever the header order */
	RAW_ERR("{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]},"
	        "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
	        12, S2S_EFORMAT, "hole of 4 bytes at offset 4, before tensor 'b'");
	/* trailing bytes after the last tensor */
	RAW_ERR("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, S2S_EFORMAT,
	        "data section has 4 trailing bytes after the last tensor 'a'");
	/* bytes but no tensor at all */
	RAW_ERR("{\"__metadata__\":{}}", 8, S2S_EFORMAT,
	        "data section holds 8 bytes but no tensor");
	/* exact tiling in any header order opens */
	s2s_error e;
	cr_assert_eq(open_raw("{\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[4,8]},"
	                      "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
	                      8, &e),
	             0, "%s", e.message);
}

Test(checkpoint, empty_header_object_is_a_valid_container)
{
	s2s_error e;
	cr_assert_eq(open_raw("{}", 0, &e), 0, "%s", e.message);
}

Test(checkpoint, unreadable_paths)
{
	s2s_checkpoint *ck;
	s2s_error e = {0};
	int rc = s2s_checkpoint_open("/nonexistent/model.safetensors", &ck, &e);
	assert_err(rc, e, S2S_EIO, "cannot open /nonexistent/model.safetensors");
	cr_assert_null(ck);
	s2s_error_clear(&e);
	rc = s2s_checkpoint_open("/tmp", &ck, &e);
	assert_err(rc, e, S2S_EIO, "/tmp is not a regular file");
	s2s_checkpoint_close(NULL);
}

/* --- fuzz-ish: damaged copies of a valid model file ---------------------------------- */

/* Opens a damaged copy; success is allowed but must only hand out in-bounds tensors. */
static void open_damaged(const unsigned char *src, size_t len)
{
	unsigned char *b = malloc(len ? len : 1);
	memcpy(b, src, len);
	s2s_checkpoint *ck;
	s2s_error e = {0};
	int rc = s2s_checkpoint_open_buffer(b, len, &ck, &e);
	cr_assert_leq(rc, 0);
	if (rc < 0) {
		cr_assert_neq(e.message[0], '\0', "error %d without a message", rc);
	} else {
		for (int i = 0; i < s2s_checkpoint_tensor_count(ck); i++) {
			const s2s_tensor_info *t = s2s_checkpoint_tensor_at(ck, i);
			const unsigned char *p = t->data;
			cr_assert(p >= b && t->nbytes <= len && p + t->nbytes <= b + len);
		}
	}
	s2s_checkpoint_close(ck);
	free(b);
}

Test(checkpoint, damaged_files_never_crash, .timeout = 300)
{
	s2s_config c = ckb_tiny_config();
	ckb kb;
	ckb_init(&kb, &c);
	size_t len;
	unsigned char *good = ckb_bytes(&kb, &len);
	ckb_deinit(&kb);
	unsigned char *b = malloc(len);
	size_t hend = 8;
	for (int k = 0; k < 8; k++)
		hend += (size_t)good[k] << (8 * k);
	/* Every header byte with two different corruptions, then data bytes sparsely. */
	static const unsigned char masks[] = {0x01, 0xff};
	int opened = 0;
	for (size_t pos = 0; pos < len; pos += pos < hend ? 1 : 97) {
		for (size_t m = 0; m < sizeof masks; m++) {
			memcpy(b, good, len);
			b[pos] ^= masks[m];
			open_damaged(b, len);
			opened++;
		}
	}
	/* Digits swapped for 9s make shapes and offsets disagree in many ways. */
	for (size_t pos = 8; pos < hend; pos++) {
		if (good[pos] < '0' || good[pos] > '9')
			continue;
		memcpy(b, good, len);
		b[pos] = '9';
		open_damaged(b, len);
	}
	for (size_t cut = 0; cut < len; cut += cut < hend + 64 ? 1 : 61)
		open_damaged(good, cut);
	cr_assert_gt(opened, 1000);
	free(b);
	free(good);
}
