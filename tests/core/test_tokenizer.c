/*
 * test_tokenizer.c - the C tokenizer against the Python twin
 * (tests/fixtures/tokenizer_golden.json, from gen_tokenizer_golden.py), a few
 * hand-computed BPE cases, bad input and bad definitions. Vocabulary rules
 * are in test_vocab.c.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "s2s_tokenizer.h"
#include "s2s_vocab.h"

static json_t *load_golden(void)
{
	const char *src = getenv("S2S_SRCDIR");
	char path[4096];
	snprintf(path, sizeof path, "%s/tests/fixtures/tokenizer_golden.json", src ? src : ".");
	json_error_t e;
	json_t *doc = json_load_file(path, 0, &e);
	cr_assert_not_null(doc, "cannot read %s: %s", path, e.text);
	return doc;
}

static char *dump(json_t *j)
{
	return json_dumps(j, JSON_COMPACT);
}

/*
 * Compares one golden case; returns 0 or writes what differs into why.
 * Criterion asserts are made only on failure: thousands of passing asserts
 * make Criterion's reporting pipe stall.
 */
static int compare_tokens(json_t *c, const s2s_tokens *tok, char *why, size_t cap)
{
	json_t *pieces = json_object_get(c, "pieces"), *ids = json_object_get(c, "ids"),
	       *words = json_object_get(c, "words");
	if ((size_t)tok->n != json_array_size(pieces)) {
		snprintf(why, cap, "%d pieces, expected %zu", tok->n, json_array_size(pieces));
		return -1;
	}
	/* Every word yields at least its word-mark piece, so the last index + 1 counts them. */
	int n_words =
	    tok->n ? (int)json_integer_value(json_array_get(words, (size_t)tok->n - 1)) + 1 : 0;
	if (tok->n_words != n_words) {
		snprintf(why, cap, "%d words, expected %d", tok->n_words, n_words);
		return -1;
	}
	for (int i = 0; i < tok->n; i++) {
		const char *want = json_string_value(json_array_get(pieces, (size_t)i));
		if (strcmp(tok->pieces[i], want) != 0 ||
		    tok->ids[i] != json_integer_value(json_array_get(ids, (size_t)i)) ||
		    tok->word[i] != json_integer_value(json_array_get(words, (size_t)i))) {
			snprintf(why, cap, "piece %d is '%s' (id %d, word %d), expected '%s'", i,
			         tok->pieces[i], tok->ids[i], tok->word[i], want);
			return -1;
		}
	}
	return 0;
}

static int check_case(json_t *doc, json_t *c, char *why, size_t cap)
{
	const char *name = json_string_value(json_object_get(c, "tokenizer"));
	const char *text = json_string_value(json_object_get(c, "text"));
	char *tj = dump(json_object_get(json_object_get(doc, "tokenizers"), name));
	char *vj = dump(json_object_get(json_object_get(doc, "vocabs"), name));
	s2s_tokenizer *t = NULL;
	s2s_vocab *v = NULL;
	s2s_tokens tok = {0};
	s2s_error err = {0};
	int rc = -1;
	if (s2s_tokenizer_new(tj, "tok", &t, &err) < 0 ||
	    s2s_vocab_new(vj, "vocab", &v, &err) < 0 ||
	    s2s_tokenize(t, v, text, strlen(text), &tok, &err) < 0) {
		snprintf(why, cap, "%s", err.message);
	} else if (compare_tokens(c, &tok, why, cap) == 0) {
		char *detok = s2s_detokenize(t, (const char *const *)tok.pieces, tok.n);
		const char *want = json_string_value(json_object_get(c, "detok"));
		rc = detok && strcmp(detok, want) == 0 ? 0 : -1;
		if (rc)
			snprintf(why, cap, "detokenized '%s', expected '%s'",
			         detok ? detok : "(null)", want);
		free(detok);
	}
	s2s_tokens_deinit(&tok);
	s2s_vocab_free(v);
	s2s_tokenizer_free(t);
	free(tj);
	free(vj);
	return rc;
}

Test(tokenizer, matches_python_on_every_golden_case)
{
	json_t *doc = load_golden();
	json_t *cases = json_object_get(doc, "cases");
	cr_assert_gt(json_array_size(cases), 100);
	for (size_t i = 0; i < json_array_size(cases); i++) {
		json_t *c = json_array_get(cases, i);
		char why[512];
		if (check_case(doc, c, why, sizeof why) < 0)
			cr_assert_fail("[%s] '%s': %s",
			               json_string_value(json_object_get(c, "tokenizer")),
			               json_string_value(json_object_get(c, "text")), why);
	}
	json_decref(doc);
}

static s2s_tokenizer *char_tok(void)
{
	s2s_tokenizer *t;
	cr_assert_eq(s2s_tokenizer_new("{\"type\":\"char\"}", "t", &t, NULL), 0);
	return t;
}

static s2s_vocab *small_vocab(void)
{
	s2s_vocab *v;
	cr_assert_eq(s2s_vocab_new("[\"<pad>\",\"<unk>\",\"<s>\",\"</s>\",\"a\"]", "v", &v, NULL),
	             0);
	return v;
}

Test(tokenizer, rejects_each_kind_of_invalid_utf8)
{
	static const char *bad[] = {
	    "\x80",             /* stray continuation */
	    "\xc3",             /* truncated 2-byte */
	    "\xc0\xaf",         /* overlong '/' */
	    "\xe0\x80\xaf",     /* overlong 3-byte */
	    "\xed\xa0\x80",     /* surrogate U+D800 */
	    "\xf4\x90\x80\x80", /* > U+10FFFF */
	    "\xff",             /* never valid */
	    "ok \xe2\x82",      /* truncated at the end */
	};
	s2s_tokenizer *t = char_tok();
	s2s_vocab *v = small_vocab();
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		s2s_tokens tok;
		s2s_error err = {0};
		cr_assert_eq(s2s_tokenize(t, v, bad[i], strlen(bad[i]), &tok, &err), S2S_EUTF8,
		             "case %zu", i);
		cr_assert(strstr(err.message, "invalid UTF-8"), "%s", err.message);
		s2s_tokens_deinit(&tok);
	}
	s2s_vocab_free(v);
	s2s_tokenizer_free(t);
}

Test(tokenizer, unknown_pieces_map_to_unk)
{
	s2s_tokenizer *t = char_tok();
	s2s_vocab *v = small_vocab();
	s2s_tokens tok;
	cr_assert_eq(s2s_tokenize(t, v, "ab", 2, &tok, NULL), 0);
	cr_assert_eq(tok.n, 3); /* ▁ a b */
	cr_assert_eq(tok.ids[0], S2S_UNK);
	cr_assert_eq(tok.ids[1], 4);
	cr_assert_eq(tok.ids[2], S2S_UNK);
	s2s_tokens_deinit(&tok);
	s2s_vocab_free(v);
	s2s_tokenizer_free(t);
}

static void expect_tok_error(const char *json, const char *needle)
{
	s2s_tokenizer *t = NULL;
	s2s_error err = {0};
	cr_assert_eq(s2s_tokenizer_new(json, "src_tokenizer", &t, &err), S2S_ETOKENIZER, "%s",
	             json);
	cr_assert_null(t);
	cr_assert(strstr(err.message, needle), "'%s' lacks '%s'", err.message, needle);
}

Test(tokenizer, bad_definitions_are_named)
{
	expect_tok_error("[1]", "not a JSON object");
	expect_tok_error("{\"type\":\"word\"}", "'type' must be");
	expect_tok_error("{\"type\":\"char\",\"lowercase\":1}",
	                 "'lowercase' must be true or false");
	expect_tok_error("{\"type\":\"char\",\"merges\":[[\"a\",\"b\"]]}", "has no merges");
	expect_tok_error("{\"type\":\"bpe\"}", "needs a 'merges' array");
	expect_tok_error("{\"type\":\"bpe\",\"merges\":[[\"a\",\"b\"],[\"a\"]]}",
	                 "merges[1] is not a [left, right] pair");
	expect_tok_error("{\"type\":\"bpe\",\"merges\":[[\"\",\"b\"]]}", "merges[0]");
	expect_tok_error("{\"type\":\"char\",\"colour\":true}", "unknown key 'colour'");
}

Test(tokenizer, detokenizes_like_python)
{
	json_t *doc = load_golden();
	json_t *cases = json_object_get(doc, "detok_cases");
	cr_assert_gt(json_array_size(cases), 5);
	s2s_tokenizer *t = char_tok();
	for (size_t i = 0; i < json_array_size(cases); i++) {
		json_t *c = json_array_get(cases, i), *toks = json_object_get(c, "tokens");
		const char *list[64];
		int n = (int)json_array_size(toks);
		cr_assert_lt(n, 64);
		for (int k = 0; k < n; k++)
			list[k] = json_string_value(json_array_get(toks, (size_t)k));
		char *got = s2s_detokenize(t, list, n);
		const char *want = json_string_value(json_object_get(c, "detok"));
		if (!got || strcmp(got, want) != 0) {
			char *j = dump(toks);
			cr_assert_fail("%s -> '%s', expected '%s'", j, got ? got : "(null)", want);
		}
		free(got);
	}
	s2s_tokenizer_free(t);
	json_decref(doc);
}

/* Tokenizes with a BPE table and returns the pieces joined by '|'; caller frees. */
static char *bpe_pieces(const char *merges_json, const char *text)
{
	char def[1024];
	snprintf(def, sizeof def, "{\"type\":\"bpe\",\"merges\":%s}", merges_json);
	s2s_tokenizer *t;
	s2s_vocab *v = small_vocab();
	s2s_error err = {0};
	cr_assert_eq(s2s_tokenizer_new(def, "t", &t, &err), 0, "%s", err.message);
	s2s_tokens tok;
	cr_assert_eq(s2s_tokenize(t, v, text, strlen(text), &tok, &err), 0, "%s", err.message);
	char *out = calloc(1, strlen(text) * 2 + 8 + 4 * (size_t)tok.n);
	for (int i = 0; i < tok.n; i++) {
		strcat(out, i ? "|" : "");
		strcat(out, tok.pieces[i]);
	}
	s2s_tokens_deinit(&tok);
	s2s_vocab_free(v);
	s2s_tokenizer_free(t);
	return out;
}

static void expect_pieces(const char *merges_json, const char *text, const char *want)
{
	char *got = bpe_pieces(merges_json, text);
	cr_assert_str_eq(got, want, "'%s' with %s", text, merges_json);
	free(got);
}

/*
 * Worked by hand from docs §5 step 5. "xabab": (a,b) is the best pair
 * present, so both occurrences merge first: x ab ab; then (x,ab): xab ab.
 * Applying (x,ab) as soon as it appears would give xaba b instead.
 */
Test(tokenizer, bpe_applies_each_rank_everywhere_first)
{
	const char *m = "[[\"x\",\"ab\"],[\"xab\",\"a\"],[\"a\",\"b\"]]";
	expect_pieces(m, "xabab", "\xe2\x96\x81|xab|ab");
	expect_pieces(m, "abab", "\xe2\x96\x81|ab|ab");
	/* Overlapping runs merge left to right: a a a a a -> aa aa a -> aaaa a. */
	expect_pieces("[[\"a\",\"a\"],[\"aa\",\"aa\"]]", "aaaaa", "\xe2\x96\x81|aaaa|a");
	/* c x7 -> cc cc cc c -> (cc,c) only at the end: cc cc ccc. */
	expect_pieces("[[\"c\",\"c\"],[\"cc\",\"c\"]]", "ccccccc", "\xe2\x96\x81|cc|cc|ccc");
	/* A repeated merge keeps its first (better) rank: (b,c) beats (a,b). */
	expect_pieces("[[\"b\",\"c\"],[\"a\",\"b\"],[\"b\",\"c\"]]", "abc", "\xe2\x96\x81|a|bc");
	/* The word mark merges like any symbol; non-initial pieces have none. */
	expect_pieces("[[\"\xe2\x96\x81\",\"a\"]]", "a a",
	              "\xe2\x96\x81"
	              "a|\xe2\x96\x81"
	              "a");
}

Test(tokenizer, refuses_nul_characters)
{
	s2s_tokenizer *t = char_tok();
	s2s_vocab *v = small_vocab();
	s2s_tokens tok;
	s2s_error err = {0};
	cr_assert_eq(s2s_tokenize(t, v, "ab\0c", 4, &tok, &err), S2S_EUTF8);
	cr_assert(strstr(err.message, "NUL character at byte 2"), "%s", err.message);
	s2s_tokens_deinit(&tok);
	s2s_tokens_deinit(NULL);
	s2s_vocab_free(v);
	s2s_tokenizer_free(t);
}

Test(tokenizer, empty_and_blank_text_have_no_tokens)
{
	s2s_tokenizer *t = char_tok();
	s2s_vocab *v = small_vocab();
	s2s_tokens tok;
	cr_assert_eq(s2s_tokenize(t, v, "", 0, &tok, NULL), 0);
	cr_assert_eq(tok.n, 0);
	cr_assert_eq(tok.n_words, 0);
	s2s_tokens_deinit(&tok);
	cr_assert_eq(s2s_tokenize(t, v, " \t\r\n", 4, &tok, NULL), 0);
	cr_assert_eq(tok.n, 0);
	s2s_tokens_deinit(&tok);
	s2s_vocab_free(v);
	s2s_tokenizer_free(t);
}

Test(tokenizer, more_bad_definitions)
{
	expect_tok_error(NULL, "not a JSON object");
	expect_tok_error("{\"type\":\"bpe\"", "not a JSON object");
	expect_tok_error("{\"lowercase\":true}", "'type' must be");
	expect_tok_error("{\"type\":\"char\",\"type\":\"bpe\"}",
	                 "not a JSON object"); /* duplicate key */
	expect_tok_error("{\"type\":\"char\",\"split_punct\":\"yes\"}",
	                 "'split_punct' must be true or false");
	expect_tok_error("{\"type\":\"bpe\",\"merges\":{}}", "needs a 'merges' array");
	expect_tok_error("{\"type\":\"bpe\",\"merges\":[[\"a\",\"b\",\"c\"]]}",
	                 "merges[0] is not a [left, right] pair");
	expect_tok_error("{\"type\":\"bpe\",\"merges\":[[\"a\",1]]}",
	                 "merges[0] is not a [left, right] pair");
	expect_tok_error("{\"type\":\"bpe\",\"merges\":[\"ab\"]}",
	                 "merges[0] is not a [left, right] pair");
	expect_tok_error("{\"type\":\"bpe\",\"merges\":[[\"a\",\"b\"],[\"b\",\"\"]]}",
	                 "src_tokenizer merges[1] is not");
	/* Allowed: a char tokenizer with an empty merge list, a BPE one with none. */
	s2s_tokenizer *t;
	cr_assert_eq(s2s_tokenizer_new("{\"type\":\"char\",\"merges\":[]}", "t", &t, NULL), 0);
	s2s_tokenizer_free(t);
	cr_assert_eq(s2s_tokenizer_new("{\"type\":\"bpe\",\"merges\":[]}", "t", &t, NULL), 0);
	s2s_tokenizer_free(t);
	s2s_tokenizer_free(NULL);
}

/*
 * A pathological piece: n distinct CJK code points and the merges (c0,c1),
 * (c2,c3), ... in reverse order, so a pass-by-pass BPE needs n/2 passes over
 * the whole piece (quadratic). Returns the CPU seconds of the best of 3.
 */
static double time_distinct_pairs(int n)
{
	char *merges = malloc((size_t)n * 12 + 8), *text = malloc((size_t)n * 3 + 1), *p = merges;
	for (int i = 0; i < n; i++) {
		unsigned cp = 0x4e00 + (unsigned)i;
		text[3 * i] = (char)(0xe0 | (cp >> 12));
		text[3 * i + 1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		text[3 * i + 2] = (char)(0x80 | (cp & 0x3f));
	}
	*p++ = '[';
	for (int i = n / 2 - 1; i >= 0; i--)
		p += sprintf(p, "%s[\"%.3s\",\"%.3s\"]", i == n / 2 - 1 ? "" : ",", text + 6 * i,
		             text + 6 * i + 3);
	strcpy(p, "]");
	char *def = malloc(strlen(merges) + 32);
	sprintf(def, "{\"type\":\"bpe\",\"merges\":%s}", merges);
	s2s_tokenizer *t;
	s2s_vocab *v = small_vocab();
	cr_assert_eq(s2s_tokenizer_new(def, "t", &t, NULL), 0);
	double best = 1e9;
	for (int rep = 0; rep < 3; rep++) {
		s2s_tokens tok;
		struct timespec a, b;
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
		cr_assert_eq(s2s_tokenize(t, v, text, (size_t)n * 3, &tok, NULL), 0);
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
		cr_assert_eq(tok.n, 1 + n / 2); /* the word mark, then every pair merged */
		s2s_tokens_deinit(&tok);
		double s = (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec);
		best = s < best ? s : best;
	}
	s2s_vocab_free(v);
	s2s_tokenizer_free(t);
	free(def);
	free(text);
	free(merges);
	return best;
}

/*
 * 10x the length must cost about 10x (n log n), not 100x (n^2). A ratio
 * rather than a time limit, so that a loaded machine or valgrind cannot
 * make it fail.
 */
Test(tokenizer, bpe_scales_near_linearly_on_a_10kB_piece)
{
	double small = time_distinct_pairs(340), big = time_distinct_pairs(3400); /* 10.2 kB */
	cr_assert_lt(big, 40 * small + 2e-3, "3400 symbols: %.3f ms, 340: %.3f ms", 1e3 * big,
	             1e3 * small);
}

/* No token holds more input bytes than s2s_tokenizer_max_token_bytes says (the daemon's cheap bound). */
static void expect_bound(const char *def, size_t want_max, const char *const *texts, int n)
{
	s2s_tokenizer *t;
	s2s_vocab *v = small_vocab();
	s2s_error err = {0};
	cr_assert_eq(s2s_tokenizer_new(def, "t", &t, &err), 0, "%s", err.message);
	size_t max = s2s_tokenizer_max_token_bytes(t);
	cr_assert_eq(max, want_max, "%s: max %zu", def, max);
	for (int i = 0; i < n; i++) {
		s2s_tokens tok;
		size_t bytes = 0;
		for (const char *p = texts[i]; *p; p++)
			bytes += !strchr(" \t\n\v\f\r", *p);
		cr_assert_eq(s2s_tokenize(t, v, texts[i], strlen(texts[i]), &tok, &err), 0, "%s", err.message);
		cr_assert_geq((size_t)tok.n * max, bytes, "%s: %d tokens for %zu bytes", texts[i], tok.n, bytes);
		s2s_tokens_deinit(&tok);
	}
	s2s_vocab_free(v);
	s2s_tokenizer_free(t);
}

Test(tokenizer, max_token_bytes_bounds_the_tokens_of_any_text)
{
	static const char *const texts[] = {"aaaaaaaaaaaaaaaa", "ab ab abab", "\xe2\x82\xac\xe2\x82\xac x",
					    "a,b.c!!", "\xf0\x9f\x98\x80\xf0\x9f\x98\x80"};
	int n = (int)(sizeof texts / sizeof texts[0]);
	expect_bound("{\"type\":\"char\"}", 4, texts, n);
	expect_bound("{\"type\":\"char\",\"split_punct\":true}", 4, texts, n);
	/* "aa"+"aa" -> "aaaa", "aaaa"+"aaaa" -> 8 bytes; "\u2581"+"a" -> 4 bytes */
	expect_bound("{\"type\":\"bpe\",\"merges\":[[\"a\",\"a\"],[\"aa\",\"aa\"],[\"aaaa\",\"aaaa\"],[\"\\u2581\",\"a\"]]}",
		     8, texts, n);
	expect_bound("{\"type\":\"bpe\",\"merges\":[[\"a\",\"b\"]]}", 4, texts, n);
}

/* ---- whitespace, subword_nmt, sentencepiece, append_eos (issue 10) ---- */

static json_t *load_fixture(const char *name)
{
	const char *src = getenv("S2S_SRCDIR");
	char path[4096];
	snprintf(path, sizeof path, "%s/tests/fixtures/%s", src ? src : ".", name);
	json_error_t e;
	json_t *doc = json_load_file(path, 0, &e);
	cr_assert_not_null(doc, "cannot read %s: %s", path, e.text);
	return doc;
}

/* Tokenizes text and compares the pieces with the JSON array want; 0 or why. */
static int expect_json_pieces(const s2s_tokenizer *t, const char *text, json_t *want, char *why,
			      size_t cap)
{
	s2s_vocab *v = small_vocab();
	s2s_tokens tok;
	s2s_error err = {0};
	int rc = s2s_tokenize(t, v, text, strlen(text), &tok, &err);
	if (rc < 0) {
		snprintf(why, cap, "%s", err.message);
	} else if ((size_t)tok.n != json_array_size(want)) {
		rc = -1;
		snprintf(why, cap, "%d pieces, expected %zu", tok.n, json_array_size(want));
	}
	for (int i = 0; rc == 0 && i < tok.n; i++) {
		const char *w = json_string_value(json_array_get(want, (size_t)i));
		if (strcmp(tok.pieces[i], w)) {
			rc = -1;
			snprintf(why, cap, "piece %d is '%s', expected '%s'", i, tok.pieces[i], w);
		}
	}
	s2s_tokens_deinit(&tok);
	s2s_vocab_free(v);
	return rc;
}

static s2s_tokenizer *tok_from_json(json_t *def)
{
	char *j = dump(def);
	s2s_tokenizer *t = NULL;
	s2s_error err = {0};
	cr_assert_eq(s2s_tokenizer_new(j, "t", &t, &err), 0, "%s", err.message);
	free(j);
	return t;
}

/* subword-nmt's own apply_bpe output (gen_subword_nmt_golden.py). */
Test(tokenizer, subword_nmt_matches_apply_bpe)
{
	json_t *doc = load_fixture("subword_nmt_golden.json"), *codes = json_object_get(doc, "codes");
	json_t *cases = json_object_get(doc, "cases");
	cr_assert_gt(json_array_size(cases), 1000);
	const char *name;
	json_t *def;
	json_object_foreach(codes, name, def)
	{
		s2s_tokenizer *t = tok_from_json(def);
		for (size_t i = 0; i < json_array_size(cases); i++) {
			json_t *c = json_array_get(cases, i);
			if (strcmp(json_string_value(json_object_get(c, "codes")), name))
				continue;
			const char *text = json_string_value(json_object_get(c, "text"));
			char why[512];
			if (expect_json_pieces(t, text, json_object_get(c, "pieces"), why, sizeof why))
				cr_assert_fail("[%s] '%s': %s", name, text, why);
		}
		s2s_tokenizer_free(t);
	}
	json_decref(doc);
}

/* The tokenizer JSON of a golden model, its shared charsmap put back. */
static s2s_tokenizer *spm_tok(json_t *doc, const char *name)
{
	json_t *def = json_deep_copy(json_object_get(json_object_get(doc, "tokenizers"), name));
	json_t *norm = json_object_get(def, "normalizer");
	const char *cm = json_string_value(json_object_get(norm, "precompiled_charsmap"));
	if (cm[0] == '@')
		json_object_set(norm, "precompiled_charsmap",
				json_object_get(json_object_get(doc, "charsmaps"), cm + 1));
	s2s_tokenizer *t = tok_from_json(def);
	json_decref(def);
	return t;
}

/* python3-sentencepiece's EncodeAsPieces and DecodePieces (gen_spm_golden.py). */
Test(tokenizer, sentencepiece_matches_spm)
{
	json_t *doc = load_fixture("spm_golden.json"), *cases = json_object_get(doc, "cases");
	cr_assert_gt(json_array_size(cases), 1000);
	const char *name;
	json_t *path;
	json_object_foreach(json_object_get(doc, "models"), name, path)
	{
		s2s_tokenizer *t = spm_tok(doc, name);
		for (size_t i = 0; i < json_array_size(cases); i++) {
			json_t *c = json_array_get(cases, i), *pieces = json_object_get(c, "pieces");
			if (strcmp(json_string_value(json_object_get(c, "model")), name))
				continue;
			const char *text = json_string_value(json_object_get(c, "text"));
			char why[512];
			if (expect_json_pieces(t, text, pieces, why, sizeof why))
				cr_assert_fail("[%s] '%s': %s", name, text, why);
			size_t n = json_array_size(pieces);
			const char **list = malloc((n + 1) * sizeof *list);
			for (size_t k = 0; k < n; k++)
				list[k] = json_string_value(json_array_get(pieces, k));
			char *got = s2s_detokenize(t, list, (int)n);
			free(list);
			const char *want = json_string_value(json_object_get(c, "decoded"));
			if (!got || strcmp(got, want))
				cr_assert_fail("[%s] '%s' decodes to '%s', expected '%s'", name, text,
					       got ? got : "(null)", want);
			free(got);
		}
		s2s_tokenizer_free(t);
	}
	json_decref(doc);
}

/* FNV-1a 64, as gen_tokenizer_golden.py's fnv1a64. */
static uint64_t fnv(uint64_t h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001B3ull;
	return h;
}

static size_t put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80)
		return (size_t)(o[0] = (char)cp, 1);
	if (cp < 0x800)
		return o[0] = (char)(0xc0 | cp >> 6), o[1] = (char)(0x80 | (cp & 0x3f)), 2;
	if (cp < 0x10000)
		return o[0] = (char)(0xe0 | cp >> 12), o[1] = (char)(0x80 | ((cp >> 6) & 0x3f)),
		       o[2] = (char)(0x80 | (cp & 0x3f)), 3;
	return o[0] = (char)(0xf0 | cp >> 18), o[1] = (char)(0x80 | ((cp >> 12) & 0x3f)),
	       o[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), o[3] = (char)(0x80 | (cp & 0x3f)), 4;
}

/*
 * Every code point, in the context "Ab" c "c.?" c c " d" c, through the
 * whitespace tokenizer with the tutorial's normalizeString: the words joined
 * by spaces must hash, per block of 4096 code points, to what Python's
 * unicodedata gives (tutorial_norm_golden.json).
 */
static void check_tutorial(json_t *doc, const char *preprocess)
{
	char def[128];
	snprintf(def, sizeof def, "{\"type\":\"whitespace\",\"preprocess\":\"%s\"}", preprocess);
	s2s_tokenizer *t;
	cr_assert_eq(s2s_tokenizer_new(def, "t", &t, NULL), 0);
	s2s_vocab *v = small_vocab();
	json_t *hashes = json_object_get(doc, preprocess);
	cr_assert_eq(json_array_size(hashes), 0x110000 / 4096);
	for (unsigned base = 0; base < 0x110000; base += 4096) {
		uint64_t h = 0xCBF29CE484222325ull;
		for (unsigned cp = base ? base : 1; cp < base + 4096; cp++) {
			if (cp >= 0xd800 && cp <= 0xdfff)
				continue;
			char text[64], c[4];
			size_t n = put_utf8(c, cp), k = 0;
			const char *ctx[] = {"Ab", "c.?", "", " d"};
			for (int i = 0; i < 4; i++) {
				k += (size_t)sprintf(text + k, "%s", ctx[i]);
				memcpy(text + k, c, n);
				k += n;
			}
			s2s_tokens tok;
			cr_assert_eq(s2s_tokenize(t, v, text, k, &tok, NULL), 0);
			for (int i = 0; i < tok.n; i++) {
				h = i ? fnv(h, " ", 1) : h;
				h = fnv(h, tok.pieces[i], strlen(tok.pieces[i]));
			}
			h = fnv(h, "\n", 1);
			s2s_tokens_deinit(&tok);
		}
		char got[17];
		snprintf(got, sizeof got, "%016llx", (unsigned long long)h);
		const char *want = json_string_value(json_array_get(hashes, base / 4096));
		if (strcmp(got, want))
			cr_assert_fail("%s: code points U+%04X..U+%04X differ from Python's unicodedata",
				       preprocess, base, base + 4095);
	}
	s2s_vocab_free(v);
	s2s_tokenizer_free(t);
}

Test(tokenizer, tutorial_normalize_matches_unicodedata_on_every_code_point, .timeout = 120)
{
	json_t *doc = load_fixture("tutorial_norm_golden.json");
	check_tutorial(doc, "pytorch_tutorial");
	check_tutorial(doc, "pytorch_tutorial_v1");
	json_decref(doc);
}

Test(tokenizer, append_eos_is_a_last_word_of_its_own)
{
	s2s_tokenizer *t;
	s2s_vocab *v = small_vocab();
	cr_assert_eq(s2s_tokenizer_new("{\"type\":\"whitespace\",\"append_eos\":true}", "t", &t, NULL), 0);
	cr_assert(s2s_tokenizer_appends_eos(t));
	s2s_tokens tok;
	cr_assert_eq(s2s_tokenize(t, v, " a b ", 5, &tok, NULL), 0);
	cr_assert_eq(tok.n, 3);
	cr_assert_eq(tok.n_words, 3);
	cr_assert_str_eq(tok.pieces[2], "</s>");
	cr_assert_eq(tok.ids[2], 3);
	cr_assert_eq(tok.word[2], 2);
	s2s_tokens_deinit(&tok);
	cr_assert_eq(s2s_tokenize(t, v, "", 0, &tok, NULL), 0); /* empty text: only </s> */
	cr_assert_eq(tok.n, 1);
	s2s_tokens_deinit(&tok);
	const char *list[] = {"<s>", "a", "<unk>", "</s>", "<pad>"};
	char *d = s2s_detokenize(t, list, 5);
	cr_assert_str_eq(d, "a <unk>");
	free(d);
	cr_assert_eq(s2s_tokenizer_max_token_bytes(t), S2S_TOKEN_BYTES_UNBOUNDED);
	s2s_tokenizer_free(t);
	s2s_vocab_free(v);
}

Test(tokenizer, subword_nmt_detokenizes_like_python)
{
	s2s_tokenizer *t;
	cr_assert_eq(s2s_tokenizer_new("{\"type\":\"subword_nmt\",\"codes\":[[\"a\",\"b\"]]}", "t", &t,
				       NULL), 0);
	const char *a[] = {"<s>", "ab@@", "c@@", "abc", "x@@", "</s>"};
	char *d = s2s_detokenize(t, a, 6);
	cr_assert_str_eq(d, "abcabc x");
	free(d);
	const char *b[] = {"a@@", "@@", "b", "@@@"};
	d = s2s_detokenize(t, b, 4);
	cr_assert_str_eq(d, "ab @"); /* "a@@ @@ b @@@" -> "ab @@@" -> final "@@" dropped */
	free(d);
	s2s_tokenizer_free(t);
}

#define SPM_OK_NORM                                                                          \
	"\"normalizer\":{\"name\":\"identity\",\"precompiled_charsmap\":\"\","               \
	"\"add_dummy_prefix\":true,\"remove_extra_whitespaces\":true,\"escape_whitespaces\":true}"
#define SPM_OK_PIECES "\"pieces\":[[\"<unk>\",0,\"unknown\"],[\"\\u2581a\",-1,\"normal\"]]"

Test(tokenizer, new_types_bad_definitions_are_named)
{
	expect_tok_error("{\"type\":\"word\"}",
			 "'type' must be one of \"char\", \"bpe\", \"whitespace\", \"subword_nmt\", "
			 "\"sentencepiece\"");
	expect_tok_error("{\"type\":\"char\",\"append_eos\":1}", "'append_eos' must be true or false");
	expect_tok_error("{\"type\":\"whitespace\",\"preprocess\":\"nfkc\"}",
			 "'preprocess' must be one of \"none\", \"pytorch_tutorial\"");
	expect_tok_error("{\"type\":\"whitespace\",\"preprocess\":1}", "'preprocess' must be one of");
	expect_tok_error("{\"type\":\"whitespace\",\"merges\":[]}", "unknown key 'merges'");
	expect_tok_error("{\"type\":\"whitespace\",\"split_punct\":true}", "unknown key 'split_punct'");
	expect_tok_error("{\"type\":\"subword_nmt\"}", "subword_nmt needs a non-empty 'codes' array");
	expect_tok_error("{\"type\":\"subword_nmt\",\"codes\":[]}", "non-empty 'codes' array");
	expect_tok_error("{\"type\":\"subword_nmt\",\"codes\":[[\"a\",\"\"]]}",
			 "src_tokenizer codes[0] is not a [left, right] pair");
	expect_tok_error("{\"type\":\"subword_nmt\",\"codes\":[[\"a\",\"b\"]],\"version\":[0,3]}",
			 "'version' must be [0, 1] or [0, 2]");
	expect_tok_error("{\"type\":\"subword_nmt\",\"codes\":[[\"a\",\"b\"]],\"version\":\"0.2\"}",
			 "'version' must be [0, 1] or [0, 2]");
	expect_tok_error("{\"type\":\"subword_nmt\",\"codes\":[[\"a\",\"b\"]],\"separator\":\"\"}",
			 "'separator' must be a non-empty string");
	expect_tok_error("{\"type\":\"subword_nmt\",\"codes\":[[\"a\",\"b\"]],\"glossaries\":[]}",
			 "unknown key 'glossaries'");
	expect_tok_error("{\"type\":\"sentencepiece\",\"model_type\":\"word\"," SPM_OK_PIECES "," SPM_OK_NORM "}",
			 "'model_type' must be \"unigram\" or \"bpe\"");
	expect_tok_error("{\"type\":\"sentencepiece\",\"model_type\":\"unigram\",\"pieces\":[]," SPM_OK_NORM "}",
			 "sentencepiece needs a non-empty 'pieces' array");
	expect_tok_error("{\"type\":\"sentencepiece\",\"model_type\":\"unigram\",\"pieces\":"
			 "[[\"<unk>\",0,\"unknown\"],[\"a\",\"x\",\"normal\"]]," SPM_OK_NORM "}",
			 "pieces[1] is not a [piece, score, kind] triple");
	expect_tok_error("{\"type\":\"sentencepiece\",\"model_type\":\"unigram\",\"pieces\":"
			 "[[\"<unk>\",0,\"unknown\"],[\"<0x41>\",0,\"byte\"]]," SPM_OK_NORM "}",
			 "pieces[1] has unsupported kind 'byte'");
	expect_tok_error("{\"type\":\"sentencepiece\",\"model_type\":\"unigram\",\"pieces\":"
			 "[[\"<unk>\",0,\"unknown\"],[\"a\",0,\"normal\"],[\"a\",0,\"normal\"]]," SPM_OK_NORM "}",
			 "pieces[2] 'a' is defined twice");
	expect_tok_error("{\"type\":\"sentencepiece\",\"model_type\":\"unigram\",\"pieces\":"
			 "[[\"a\",0,\"normal\"]]," SPM_OK_NORM "}",
			 "'pieces' must hold exactly one \"unknown\" piece, not 0");
	expect_tok_error("{\"type\":\"sentencepiece\",\"model_type\":\"unigram\",\"pieces\":"
			 "[[\"<unk>\",0,\"unknown\"],[\"a\\u0000b\",0,\"normal\"]]," SPM_OK_NORM "}",
			 "not a JSON object"); /* jansson refuses \u0000 outright */
	expect_tok_error("{\"type\":\"sentencepiece\",\"model_type\":\"bpe\",\"pieces\":"
			 "[[\"<unk>\",0,\"unknown\"],[\"a\",0,\"unused\"]]," SPM_OK_NORM "}",
			 "pieces[1]: unused pieces are not supported in bpe models");
	expect_tok_error("{\"type\":\"sentencepiece\",\"model_type\":\"unigram\"," SPM_OK_PIECES
			 ",\"normalizer\":[]}", "'normalizer' must be an object");
	expect_tok_error("{\"type\":\"sentencepiece\",\"model_type\":\"unigram\"," SPM_OK_PIECES
			 ",\"normalizer\":{\"precompiled_charsmap\":\"\",\"add_dummy_prefix\":true,"
			 "\"remove_extra_whitespaces\":true,\"escape_whitespaces\":true,\"rules\":1}}",
			 "normalizer has unknown key 'rules'");
	expect_tok_error("{\"type\":\"sentencepiece\",\"model_type\":\"unigram\"," SPM_OK_PIECES
			 ",\"normalizer\":{\"precompiled_charsmap\":\"\",\"add_dummy_prefix\":true,"
			 "\"remove_extra_whitespaces\":true}}",
			 "normalizer 'escape_whitespaces' must be true or false");
	/* "EAAAAGFiYw==" is 10 00 00 00 'abc': a 16-byte trie in a 7-byte blob */
	expect_tok_error("{\"type\":\"sentencepiece\",\"model_type\":\"unigram\"," SPM_OK_PIECES
			 ",\"normalizer\":{\"precompiled_charsmap\":\"EAAAAGFiYw==\",\"add_dummy_prefix\":true,"
			 "\"remove_extra_whitespaces\":true,\"escape_whitespaces\":true}}",
			 "'precompiled_charsmap' cannot be parsed: the trie size 16 does not fit the 7-byte blob");
	expect_tok_error("{\"type\":\"sentencepiece\",\"model_type\":\"unigram\"," SPM_OK_PIECES
			 ",\"normalizer\":{\"precompiled_charsmap\":\"!!\",\"add_dummy_prefix\":true,"
			 "\"remove_extra_whitespaces\":true,\"escape_whitespaces\":true}}",
			 "'precompiled_charsmap' cannot be parsed: not base64");
	/* 04 00 00 00, one unit, "ab" without its closing NUL */
	expect_tok_error("{\"type\":\"sentencepiece\",\"model_type\":\"unigram\"," SPM_OK_PIECES
			 ",\"normalizer\":{\"precompiled_charsmap\":\"BAAAAAAAAABhYg==\",\"add_dummy_prefix\":true,"
			 "\"remove_extra_whitespaces\":true,\"escape_whitespaces\":true}}",
			 "do not end with a NUL byte");
	expect_tok_error("{\"type\":\"sentencepiece\",\"model_type\":\"unigram\"," SPM_OK_PIECES "," SPM_OK_NORM
			 ",\"colour\":1}", "unknown key 'colour'");
	s2s_tokenizer *t;
	cr_assert_eq(s2s_tokenizer_new("{\"type\":\"sentencepiece\",\"model_type\":\"unigram\"," SPM_OK_PIECES
				       "," SPM_OK_NORM "}", "t", &t, NULL), 0);
	s2s_tokenizer_free(t);
}

/*
 * A charsmap whose trie points anywhere: random units must never make the
 * lookup read outside the blob (ASan/valgrind would say), whatever the text.
 */
Test(tokenizer, hostile_charsmap_is_read_within_bounds)
{
	unsigned char blob[4 + 64 + 8];
	char b64[((sizeof blob + 2) / 3) * 4 + 1], def[512];
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	s2s_vocab *v = small_vocab();
	srand(7);
	for (int round = 0; round < 200; round++) {
		blob[0] = 64;
		blob[1] = blob[2] = blob[3] = 0;
		for (size_t i = 4; i < sizeof blob - 1; i++)
			blob[i] = (unsigned char)(round % 2 ? rand() % 4 : rand());
		blob[sizeof blob - 1] = 0;
		size_t k = 0;
		for (size_t i = 0; i < sizeof blob; i += 3) {
			unsigned x = (unsigned)blob[i] << 16 |
				     (i + 1 < sizeof blob ? (unsigned)blob[i + 1] << 8 : 0) |
				     (i + 2 < sizeof blob ? blob[i + 2] : 0);
			b64[k++] = tab[x >> 18];
			b64[k++] = tab[(x >> 12) & 63];
			b64[k++] = i + 1 < sizeof blob ? tab[(x >> 6) & 63] : '=';
			b64[k++] = i + 2 < sizeof blob ? tab[x & 63] : '=';
		}
		b64[k] = '\0';
		snprintf(def, sizeof def,
			 "{\"type\":\"sentencepiece\",\"model_type\":\"%s\"," SPM_OK_PIECES
			 ",\"normalizer\":{\"precompiled_charsmap\":\"%s\",\"add_dummy_prefix\":true,"
			 "\"remove_extra_whitespaces\":true,\"escape_whitespaces\":true}}",
			 round % 3 ? "unigram" : "bpe", b64);
		s2s_tokenizer *t;
		s2s_error err = {0};
		cr_assert_eq(s2s_tokenizer_new(def, "t", &t, &err), 0, "%s", err.message);
		const char *text = "\x01\x02\x03 a\xc3\xa9 \xe2\x96\x81 zz\x7f";
		s2s_tokens tok;
		cr_assert_eq(s2s_tokenize(t, v, text, strlen(text), &tok, NULL), 0);
		s2s_tokens_deinit(&tok);
		s2s_tokenizer_free(t);
	}
	s2s_vocab_free(v);
}

/* Unigram Viterbi and spm BPE scale like the BPE above: 10x the text, about 10x the time. */
static double time_spm(const char *def, int n)
{
	char *text = malloc((size_t)n * 4 + 1);
	for (int i = 0; i < n; i++)
		memcpy(text + 4 * i, i % 7 ? "abc " : "abcd", 4);
	text[4 * n] = '\0';
	s2s_tokenizer *t;
	s2s_vocab *v = small_vocab();
	s2s_error err = {0};
	cr_assert_eq(s2s_tokenizer_new(def, "t", &t, &err), 0, "%s", err.message);
	double best = 1e9;
	for (int rep = 0; rep < 3; rep++) {
		s2s_tokens tok;
		struct timespec a, b;
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
		cr_assert_eq(s2s_tokenize(t, v, text, strlen(text), &tok, NULL), 0);
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
		s2s_tokens_deinit(&tok);
		double s = (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec);
		best = s < best ? s : best;
	}
	s2s_vocab_free(v);
	s2s_tokenizer_free(t);
	free(text);
	return best;
}

Test(tokenizer, sentencepiece_scales_near_linearly)
{
	for (int bpe = 0; bpe < 2; bpe++) {
		char def[1024];
		snprintf(def, sizeof def,
			 "{\"type\":\"sentencepiece\",\"model_type\":\"%s\",\"pieces\":[[\"<unk>\",0,\"unknown\"],"
			 "[\"a\",-3,\"normal\"],[\"b\",-3,\"normal\"],[\"c\",-3,\"normal\"],[\"d\",-3,\"normal\"],"
			 "[\"\\u2581\",-2,\"normal\"],[\"ab\",-1,\"normal\"],[\"abc\",-1,\"normal\"],"
			 "[\"\\u2581abc\",-0.5,\"normal\"],[\"\\u2581a\",-1,\"normal\"]]," SPM_OK_NORM "}",
			 bpe ? "bpe" : "unigram");
		double small = time_spm(def, 2500), big = time_spm(def, 25000); /* 10 kB, 100 kB */
		cr_assert_lt(big, 40 * small + 2e-3, "%s: 100 kB %.3f ms, 10 kB %.3f ms",
			     bpe ? "bpe" : "unigram", 1e3 * big, 1e3 * small);
	}
}
