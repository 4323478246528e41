/*
 * fuzz_checkpoint.c - libFuzzer harness for the checkpoint loader: the
 * safetensors container (core/s2s_checkpoint.h: header length, header JSON,
 * metadata, tensor table, data offsets) and, when the container is valid,
 * the whole model (core/s2s_model.h: config, vocabularies, tokenizers,
 * tensor names and shapes, F16/BF16 widening).
 *
 * The input is the file as is; the seeds are (truncated) checkpoints from
 * tests/fixtures. An input that starts with '{' is instead the header JSON,
 * a NUL byte and the data section: the harness writes the header length
 * (padded to 8 with spaces) itself, so mutations that grow or shrink the
 * JSON reach the metadata and tensor checks instead of failing on the length
 * (the *.json-nul seeds). The container is opened from an exact-size heap copy
 * (s2s_checkpoint_open_buffer), so AddressSanitizer reports any read past
 * the file; the model is opened through a path, as the daemon does, from a
 * memfd holding the same bytes.
 *
 * Checked besides the sanitizers: every tensor of an accepted container lies
 * inside the file, is aligned, has nbytes = numel x dtype size, a unique name
 * and a shape whose product is numel; every byte of its data is read. An
 * accepted model's vocabularies, tokenizers and config agree, and a fixed
 * sentence tokenizes into ids of its source vocabulary.
 */
#include "fuzz_util.h"

#include "s2s_checkpoint.h"
#include "s2s_config.h"
#include "s2s_model.h"
#include "s2s_tokenizer.h"
#include "s2s_vocab.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const meta_keys[] = {
	"seq2seqd.format_version", "seq2seqd.config",        "seq2seqd.src_vocab",
	"seq2seqd.tgt_vocab",      "seq2seqd.src_tokenizer", "seq2seqd.tgt_tokenizer",
	"seq2seqd.name",           "seq2seqd.description",   "seq2seqd.examples",
};

static volatile unsigned sink; /* keeps the data reads */

static void check_container(const s2s_checkpoint *ck, const uint8_t *buf, size_t size)
{
	int n = s2s_checkpoint_tensor_count(ck);
	FUZZ_CHECK(n >= 0, "%d tensors", n);
	for (int i = 0; i < n; i++) {
		const s2s_tensor_info *t = s2s_checkpoint_tensor_at(ck, i);
		FUZZ_CHECK(t && t->name, "tensor %d missing", i);
		size_t es = t->dtype == S2S_DTYPE_F32 ? 4 : 2;
		int64_t numel = 1;
		FUZZ_CHECK(t->rank >= 1 && t->rank <= S2S_MAX_RANK, "%s: rank %d", t->name, t->rank);
		for (int d = 0; d < t->rank; d++) {
			FUZZ_CHECK(t->shape[d] >= 1 && t->shape[d] <= INT32_MAX, "%s: dim %d", t->name, d);
			numel *= t->shape[d];
			FUZZ_CHECK(numel <= INT32_MAX, "%s: element count overflows", t->name);
		}
		FUZZ_CHECK(numel == t->numel, "%s: numel %lld", t->name, (long long)t->numel);
		FUZZ_CHECK(t->nbytes == (size_t)numel * es, "%s: nbytes %zu", t->name, t->nbytes);
		const uint8_t *p = t->data;
		FUZZ_CHECK(p >= buf && p <= buf + size && t->nbytes <= (size_t)(buf + size - p),
			   "%s: data outside the file", t->name);
		FUZZ_CHECK((uintptr_t)p % es == 0, "%s: misaligned", t->name);
		FUZZ_CHECK(s2s_checkpoint_tensor(ck, t->name) == t, "%s: name not unique", t->name);
		unsigned sum = 0;
		for (size_t b = 0; b < t->nbytes; b++)
			sum += p[b];
		sink += sum;
	}
	FUZZ_CHECK(!s2s_checkpoint_tensor_at(ck, n) && !s2s_checkpoint_tensor_at(ck, -1),
		   "out-of-range index answered");
	for (size_t k = 0; k < sizeof meta_keys / sizeof meta_keys[0]; k++) {
		const char *v = s2s_checkpoint_meta(ck, meta_keys[k]);
		if (v)
			FUZZ_CHECK(fuzz_utf8_valid(v, strlen(v)), "metadata %s is not UTF-8", meta_keys[k]);
	}
}

static void check_model(const s2s_model *m)
{
	const s2s_config *c = s2s_model_config(m);
	const s2s_vocab *sv = s2s_model_src_vocab(m), *tv = s2s_model_tgt_vocab(m);
	FUZZ_CHECK(s2s_vocab_size(sv) == c->src_vocab_size && s2s_vocab_size(tv) == c->tgt_vocab_size,
		   "vocabulary sizes disagree with the config");
	FUZZ_CHECK(s2s_model_param_count(m) > 0, "no parameters");
	FUZZ_CHECK(strlen(s2s_model_sha256(m)) == 64, "sha256");
	static const char sentence[] = "The 23rd of November, 2026: delete the selected items!";
	s2s_tokens t;
	s2s_error e = {0};
	FUZZ_CHECK(s2s_tokenize(s2s_model_src_tokenizer(m), sv, sentence, sizeof sentence - 1, &t,
				&e) == 0,
		   "tokenize: %s", e.message);
	for (int i = 0; i < t.n; i++)
		FUZZ_CHECK(t.ids[i] >= 0 && t.ids[i] < c->src_vocab_size, "id %d", t.ids[i]);
	s2s_tokens_deinit(&t);
}

/* An exact-size heap copy of the file the input stands for (see the top). */
static uint8_t *file_of(const uint8_t *data, size_t *size)
{
	const uint8_t *nul = *size && data[0] == '{' ? memchr(data, '\0', *size) : NULL;
	if (!nul) {
		uint8_t *buf = malloc(*size ? *size : 1);
		if (buf)
			memcpy(buf, data, *size);
		return buf;
	}
	size_t hlen = (size_t)(nul - data), padded = (hlen + 7) & ~(size_t)7;
	size_t dlen = *size - hlen - 1, total = 8 + padded + dlen;
	uint8_t *buf = malloc(total);
	if (!buf)
		return NULL;
	for (int i = 0; i < 8; i++)
		buf[i] = (uint8_t)((uint64_t)padded >> (8 * i));
	memcpy(buf + 8, data, hlen);
	memset(buf + 8 + hlen, ' ', padded - hlen);
	memcpy(buf + 8 + padded, nul + 1, dlen);
	*size = total;
	return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy: ASan reports a read one byte past the file. */
	uint8_t *buf = file_of(data, &size);
	if (!buf)
		return 0;
	s2s_checkpoint *ck;
	s2s_error e = {0};
	int rc = s2s_checkpoint_open_buffer(buf, size, &ck, &e);
	if (rc == 0) {
		check_container(ck, buf, size);
		s2s_checkpoint_close(ck);
	} else {
		FUZZ_CHECK(rc < 0 && e.code == rc && e.message[0], "error %d without a message", rc);
	}
	/* The model needs a valid container: only then is the file worth opening. */
	if (rc == 0) {
		char path[64];
		int fd = fuzz_memfd(buf, size, path, sizeof path);
		s2s_model *m;
		s2s_error me = {0};
		if (fd >= 0 && s2s_model_open(path, &m, &me) == 0) {
			check_model(m);
			s2s_model_unref(m);
		}
		if (fd >= 0)
			close(fd);
	}
	free(buf);
	return 0;
}
