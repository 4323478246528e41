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
