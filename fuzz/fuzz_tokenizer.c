/*
 * fuzz_tokenizer.c - libFuzzer harness for the tokenizers and the
 * detokenizer (core/s2s_tokenizer.h) and the vocabulary (core/s2s_vocab.h).
 *
 * Input layout (readable seeds):
 *   - it starts with '{': the first line is a tokenizer config (JSON, as in
 *     `seq2seqd.src_tokenizer`); if the next line starts with '[' it is a
 *     vocabulary (JSON array); the rest is the text to tokenize;
 *   - otherwise the whole input is text, tokenized by four fixed tokenizers
 *     (char and BPE, each plain and with lowercase + split_punct) over a
 *     fixed vocabulary (those of the BPE fixtures in tests/fixtures).
 * Checked for every tokenization that succeeds, besides the sanitizers:
 *   - ids are in the vocabulary and equal the lookup of their piece;
 *   - pieces are non-empty valid UTF-8 and word indices ascend from 0;
 *   - concatenated, the pieces are exactly "▁" + word for each whitespace-
 *     delimited word of the (lowercased) text: BPE loses and invents nothing;
 *   - detokenizing the pieces gives the words joined by single spaces
 *     (when the text has no "▁" of its own and no piece is a dropped special).
 * Invalid UTF-8 and NUL must fail with S2S_EUTF8; detokenizing the ids'
 * vocabulary strings must give valid UTF-8. For the other types (whitespace,
 * subword_nmt, sentencepiece, or any append_eos), whose pieces are not the
 * text's bytes, only the generic checks apply: ids, non-empty valid UTF-8
 * pieces, ascending word indices and a valid-UTF-8 detokenization (seeds
 * for them: fuzz/corpus/tokenizer/types-*).
 */
#include "fuzz_util.h"

#include <jansson.h>

#include "s2s_tokenizer.h"
#include "s2s_vocab.h"

#define MARK "\xe2\x96\x81" /* U+2581, the word-start mark */

static const char *const fixed_configs[] = {
	"{\"type\":\"char\",\"lowercase\":false,\"split_punct\":false}",
	"{\"type\":\"char\",\"lowercase\":true,\"split_punct\":true}",
	"{\"type\":\"bpe\",\"lowercase\":false,\"split_punct\":false,\"merges\":"
	"[[\"i\",\"n\"],[\"" MARK "\",\"t\"],[\"h\",\"e\"],[\"d\",\"o\"],[\"" MARK "\",\"a\"],"
	"[\"" MARK "\",\"c\"],[\"" MARK "t\",\"he\"],[\"e\",\"n\"],[\"p\",\"r\"],[\"s\",\"e\"],"
	"[\"" MARK "\",\"pr\"],[\"a\",\"t\"],[\"e\",\"w\"],[\"en\",\"t\"],[\"l\",\"a\"],"
	"[\"l\",\"e\"],[\"r\",\"e\"],[\"" MARK "\",\"f\"],[\"" MARK "\",\"in\"],"
	"[\"" MARK "\",\"re\"],[\"" MARK "\",\"s\"],[\"a\",\"a\"],[\"aa\",\"aa\"]]}",
	"{\"type\":\"bpe\",\"lowercase\":true,\"split_punct\":true,\"merges\":"
	"[[\"e\",\"r\"],[\"r\",\"e\"],[\"" MARK "\",\"a\"],[\"c\",\"h\"],[\"e\",\"n\"],"
	"[\"l\",\"e\"],[\"o\",\"u\"],[\"" MARK "\",\"f\"],[\"a\",\"b\"],[\"a\",\"n\"],"
	"[\"a\",\"u\"],[\"an\",\"t\"],[\"ch\",\"er\"],[\"i\",\"r\"],[\"l\",\"a\"],[\"m\",\"p\"],"
	"[\"ou\",\"v\"],[\"r\",\"er\"],[\"re\",\"s\"],[\"t\",\"ab\"],[\"v\",\"ant\"],"
	"[\"" MARK "\",\"i\"],[\"" MARK "\",\"le\"],[\"" MARK "\",\"" MARK "\"],"
	"[\"\xc3\xa9\",\"" MARK "\"]]}",
};
#define N_FIXED (sizeof fixed_configs / sizeof fixed_configs[0])

static const char fixed_vocab_json[] =
	"[\"<pad>\",\"<unk>\",\"<s>\",\"</s>\",\"" MARK "\",\"t\",\"o\",\"n\",\"s\",\"a\",\"do\","
	"\"e\",\"i\",\"in\",\"u\",\"" MARK "a\",\"" MARK "c\",\"" MARK "the\",\"g\",\"m\",\"p\","
	"\"se\",\"" MARK "pr\",\"at\",\"b\",\"c\",\"d\",\"ent\",\"ew\",\"h\",\"l\",\"la\",\"le\","
	"\"r\",\"v\",\"w\",\"" MARK "f\",\"" MARK "in\",\"" MARK "re\",\"" MARK "s\",\",\",\".\","
	"\"\xc3\xa9\",\"aaaa\",\"" MARK MARK "\"]";

static s2s_tokenizer *fixed_tok[N_FIXED];
static bool fixed_lower[N_FIXED] = {false, true, false, true};
static s2s_vocab *fixed_vocab;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void release_fixed(void)
{
	for (size_t i = 0; i < N_FIXED; i++)
		s2s_tokenizer_free(fixed_tok[i]);
	s2s_vocab_free(fixed_vocab);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	s2s_error e = {0};
	for (size_t i = 0; i < N_FIXED; i++)
		FUZZ_CHECK(s2s_tokenizer_new(fixed_configs[i], "fixed", &fixed_tok[i], &e) == 0,
			   "fixed tokenizer %zu: %s", i, e.message);
	FUZZ_CHECK(s2s_vocab_new(fixed_vocab_json, "fixed", &fixed_vocab, &e) == 0,
		   "fixed vocabulary: %s", e.message);
	atexit(release_fixed); /* so LeakSanitizer sees no leak at exit */
	return 0;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* "▁w1▁w2..." (pieces) and "w1 w2 ..." (detokenized) for the text's words. */
static void expected(const char *text, size_t len, bool lower, char *pieces, char *words)
{
	size_t i = 0;
	char *p = pieces, *w = words;
	while (i < len) {
		while (i < len && is_space(text[i]))
			i++;
		if (i == len)
			break;
		memcpy(p, MARK, 3);
		p += 3;
		if (w != words)
			*w++ = ' ';
		for (; i < len && !is_space(text[i]); i++) {
			char c = lower && text[i] >= 'A' && text[i] <= 'Z' ? (char)(text[i] + 32) : text[i];
			*p++ = c;
			*w++ = c;
		}
	}
	*p = *w = '\0';
}

static bool dropped_special(const char *s)
{
	return !strcmp(s, "<pad>") || !strcmp(s, "<s>") || !strcmp(s, "</s>");
}

static void check_tokens(const s2s_tokenizer *tok, const s2s_tokens *t, const s2s_vocab *v,
			 const char *text, size_t len, bool lower, bool exact)
{
	int vsize = s2s_vocab_size(v);
	/* Pieces may be longer than the text: subword_nmt's separator is added
	 * to every non-final piece and append_eos adds "</s>". */
	size_t total = 0;
	for (int i = 0; i < t->n; i++)
		total += strlen(t->pieces[i]);
	char *want_pieces = malloc(len * 4 + 4), *want_words = malloc(len + 1);
	char *got = malloc(total + 1);
	FUZZ_CHECK(want_pieces && want_words && got, "out of memory");
	expected(text, len, lower, want_pieces, want_words);
	size_t k = 0;
	bool specials = false;
	for (int i = 0; i < t->n; i++) {
		const char *p = t->pieces[i];
		size_t n = strlen(p);
		FUZZ_CHECK(t->ids[i] >= 0 && t->ids[i] < vsize, "id %d of %d", t->ids[i], vsize);
		int32_t id = s2s_vocab_lookup(v, p, n);
		FUZZ_CHECK(t->ids[i] == (id < 0 ? S2S_UNK : id), "piece %d \"%s\" has id %d, lookup %d",
			   i, p, t->ids[i], id);
		FUZZ_CHECK(n > 0 && fuzz_utf8_valid(p, n), "piece %d is empty or not UTF-8", i);
		FUZZ_CHECK(t->word[i] >= 0 && t->word[i] < t->n_words &&
			           (i == 0 ? t->word[i] == 0 : t->word[i] - t->word[i - 1] <= 1 &&
			                                           t->word[i] >= t->word[i - 1]),
			   "piece %d has word %d (previous %d, %d words)", i, t->word[i],
			   i ? t->word[i - 1] : -1, t->n_words);
		memcpy(got + k, p, n);
		k += n;
		specials |= dropped_special(p);
	}
	got[k] = '\0';
	FUZZ_CHECK(!exact || !strcmp(got, want_pieces), "pieces \"%s\", expected \"%s\"", got,
		   want_pieces);

	char *detok = s2s_detokenize(exact ? NULL : tok, (const char *const *)t->pieces, t->n);
	FUZZ_CHECK(detok, "detokenize returned NULL");
	FUZZ_CHECK(fuzz_utf8_valid(detok, strlen(detok)), "detokenized text is not UTF-8");
	if (exact && !specials && !memmem(text, len, MARK, 3))
		FUZZ_CHECK(!strcmp(detok, want_words), "detokenized \"%s\", expected \"%s\"", detok,
			   want_words);
	free(detok);

	/* What the daemon detokenizes: vocabulary strings of ids. */
	const char **toks = malloc((size_t)(t->n ? t->n : 1) * sizeof *toks);
	FUZZ_CHECK(toks, "out of memory");
	for (int i = 0; i < t->n; i++)
		toks[i] = s2s_vocab_token(v, t->ids[i]);
	detok = s2s_detokenize(tok, toks, t->n);
	FUZZ_CHECK(detok && fuzz_utf8_valid(detok, strlen(detok)), "detokenized ids not UTF-8");
	free(detok);
	free(toks);
	free(want_pieces);
	free(want_words);
	free(got);
}

static void tokenize_one(const s2s_tokenizer *tok, const s2s_vocab *v, bool lower, bool exact,
			 const char *text, size_t len)
{
	s2s_tokens t;
	s2s_error e = {0};
	int rc = s2s_tokenize(tok, v, text, len, &t, &e);
	bool valid = fuzz_utf8_valid(text, len) && !memchr(text, '\0', len);
	if (rc == 0) {
		FUZZ_CHECK(valid, "invalid UTF-8 or NUL accepted");
		check_tokens(tok, &t, v, text, len, lower, exact);
	} else {
		FUZZ_CHECK(!valid && rc == S2S_EUTF8, "valid text refused: %s (%d)", e.message, rc);
	}
	s2s_tokens_deinit(&t);
}

/* Tokenizer (and maybe vocabulary) from the first lines of the input. */
static void custom(const char *in, size_t size)
{
	const char *nl = memchr(in, '\n', size);
	size_t cfg_len = nl ? (size_t)(nl - in) : size;
	const char *rest = nl ? nl + 1 : in + size;
	size_t rest_len = size - (size_t)(rest - in);
	char *cfg = fuzz_strndup((const uint8_t *)in, cfg_len), *vjson = NULL;
	s2s_tokenizer *tok = NULL;
	s2s_vocab *vocab = NULL;
	s2s_error e = {0};
	if (!cfg)
		return;
	if (rest_len && rest[0] == '[') {
		const char *vnl = memchr(rest, '\n', rest_len);
		size_t vlen = vnl ? (size_t)(vnl - rest) : rest_len;
		vjson = fuzz_strndup((const uint8_t *)rest, vlen);
		rest += vnl ? vlen + 1 : vlen;
		rest_len = size - (size_t)(rest - in);
		if (!vjson || s2s_vocab_new(vjson, "src_vocab", &vocab, &e) < 0)
			goto out;
		FUZZ_CHECK(s2s_vocab_size(vocab) >= 5, "vocabulary of %d", s2s_vocab_size(vocab));
	}
	if (s2s_tokenizer_new(cfg, "src_tokenizer", &tok, &e) < 0)
		goto out;
	json_t *root = json_loads(cfg, 0, NULL);
	bool lower = json_is_true(json_object_get(root, "lowercase"));
	const char *type = json_string_value(json_object_get(root, "type"));
	bool exact = type && (!strcmp(type, "char") || !strcmp(type, "bpe")) &&
		     !s2s_tokenizer_appends_eos(tok);
	tokenize_one(tok, vocab ? vocab : fixed_vocab, lower, exact, rest, rest_len);
	json_decref(root);
out:
	s2s_tokenizer_free(tok);
	s2s_vocab_free(vocab);
	free(vjson);
	free(cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy, so ASan sees a read one byte past the text. */
	char *in = malloc(size ? size : 1);
	if (!in)
		return 0;
	memcpy(in, data, size);
	if (size && in[0] == '{')
		custom(in, size);
	else
		for (size_t i = 0; i < N_FIXED; i++)
			tokenize_one(fixed_tok[i], fixed_vocab, fixed_lower[i], true, in, size);
	free(in);
	return 0;
}
