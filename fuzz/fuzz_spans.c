/*
 * fuzz_spans - protected spans (core/spans.c) on hostile text, end to end:
 * parse under any format set with a glossary, mask with a real BPE model's
 * tokenizer (alignment path) and with a sentinel table (sentinel path),
 * render an arbitrary hypothesis with arbitrary attention.
 *
 * Input: byte 0 = format bits, byte 1 = seed of the made-up hypothesis,
 * the rest = the source text. Contract checked beyond "no crash, no leak,
 * no sanitizer report": a parse that succeeds yields sorted, disjoint,
 * in-bounds spans with consistent partners, and every rendered output holds
 * every span's text.
 */
#include "fuzz_util.h"

#include "s2s_model.h"
#include "s2s_spans.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static s2s_model *model;
static s2s_glossary glossary;
/* A made-up sentinel table over the model's target vocabulary (ids 4..). */
static int32_t ph[4] = {4, 5, 6, 7}, open_[2] = {8, 9}, close_[2] = {10, 11};
static s2s_sentinels table = {.n_ph = 4, .n_pairs = 2, .src_ph = ph, .tgt_ph = ph,
			      .src_open = open_, .src_close = close_, .tgt_open = open_,
			      .tgt_close = close_};

static void release(void)
{
	s2s_glossary_deinit(&glossary);
	s2s_model_unref(model);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	s2s_error e = {0};
	FUZZ_CHECK(s2s_model_open(S2S_SRCDIR "/tests/fixtures/gru_dot_bahdanau_reverse_bpe.safetensors",
				  &model, &e) == 0,
		   "fixture model: %s", e.message);
	static const char *const terms[][2] = {{"file", "fichier"}, {"file manager", NULL},
					       {"a b", "x"}, {"%", "pct"}};
	for (size_t i = 0; i < sizeof terms / sizeof terms[0]; i++)
		FUZZ_CHECK(s2s_glossary_add(&glossary, terms[i][0], terms[i][1], &e) == 0, "term: %s",
			   e.message);
	atexit(release);
	return 0;
}

static void check_spans(const s2s_spans *sp, size_t len)
{
	size_t end = 0;
	for (int k = 0; k < sp->n; k++) {
		const s2s_span *x = &sp->spans[k];
		FUZZ_CHECK(x->start >= end && x->len > 0 && x->start + x->len <= len,
			   "span %d [%zu, +%zu) overlaps or leaves the text", k, x->start, x->len);
		end = x->start + x->len;
		if (x->kind != S2S_SPAN_PLACEHOLDER)
			FUZZ_CHECK(x->partner >= 0 && x->partner < sp->n &&
					   sp->spans[x->partner].partner == k,
				   "span %d: partner %d", k, x->partner);
	}
}

/* xorshift: the hypothesis and attention come from the input's seed. */
static uint32_t next(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void render_one(const s2s_spans *sp, const s2s_masked *ms, const s2s_sentinels *sent,
		       uint32_t seed)
{
	int n = (int)(next(&seed) % 12), n_src = ms->tok.n, V = s2s_vocab_size(s2s_model_tgt_vocab(model));
	int32_t ids[12];
	const char *pieces[12];
	float *attn = n_src > 0 ? malloc(sizeof(float) * 12 * (size_t)n_src) : NULL;
	for (int t = 0; t < n; t++) {
		ids[t] = (int32_t)(next(&seed) % 3 == 0 ? 4 + next(&seed) % 8 : next(&seed) % (uint32_t)V);
		pieces[t] = s2s_vocab_token(s2s_model_tgt_vocab(model), ids[t]);
		for (int j = 0; attn && j < n_src; j++)
			attn[(size_t)t * n_src + j] = (float)(next(&seed) % 1000) / 1000.0f;
	}
	s2s_rendered r;
	s2s_error e = {0};
	int rc = s2s_spans_render(sp, ms, s2s_model_tgt_tokenizer(model), sent, pieces, ids, n,
				  next(&seed) % 4 ? attn : NULL, n_src, &r, &e);
	FUZZ_CHECK(rc == 0, "render: %s", e.message);
	for (int k = 0; k < sp->n; k++) {
		const s2s_span *x = &sp->spans[k];
		char *want = x->output ? strdup(x->output) : strndup(sp->text + x->start, x->len);
		FUZZ_CHECK(want && strstr(r.text, want), "span %d %s missing from %s", k, want, r.text);
		free(want);
	}
	s2s_rendered_deinit(&r);
	free(attn);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	unsigned formats = data[0] & 63;
	uint32_t seed = data[1] | 0x100u;
	size_t len = size - 2;
	char *text = malloc(len ? len : 1); /* exact size: ASan sees a read past the end */
	memcpy(text, data + 2, len);
	s2s_spans sp;
	s2s_error e = {0};
	if (s2s_spans_parse(text, len, formats, data[1] & 1 ? &glossary : NULL, &sp, &e) == 0) {
		check_spans(&sp, len);
		for (int path = 0; path < 2; path++) {
			const s2s_sentinels *sent = path ? &table : NULL;
			s2s_masked ms;
			if (s2s_spans_mask(&sp, s2s_model_src_tokenizer(model), s2s_model_src_vocab(model),
					   sent, &ms, &e) == 0)
				render_one(&sp, &ms, sent, seed);
			s2s_masked_deinit(&ms);
		}
	}
	s2s_spans_deinit(&sp);
	free(text);
	return 0;
}
