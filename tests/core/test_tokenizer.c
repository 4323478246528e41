/*
 * test_tokenizer.c - the C tokenizer and vocabulary against the Python twin
 * (tests/fixtures/tokenizer_golden.json) and against bad input.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	if (s2s_tokenizer_new(tj, "tok", &t, &err) < 0 || s2s_vocab_new(vj, "vocab", &v, &err) < 0 ||
	    s2s_tokenize(t, v, text, strlen(text), &tok, &err) < 0) {
		snprintf(why, cap, "%s", err.message);
	} else if (compare_tokens(c, &tok, why, cap) == 0) {
		char *detok = s2s_detokenize(t, (const char *const *)tok.pieces, tok.n);
		const char *want = json_string_value(json_object_get(c, "detok"));
		rc = detok && strcmp(detok, want) == 0 ? 0 : -1;
		if (rc)
			snprintf(why, cap, "detokenized '%s', expected '%s'", detok ? detok : "(null)", want);
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
			cr_assert_fail("[%s] '%s': %s", json_string_value(json_object_get(c, "tokenizer")),
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
	cr_assert_eq(s2s_vocab_new("[\"<pad>\",\"<unk>\",\"<s>\",\"</s>\",\"a\"]", "v", &v, NULL), 0);
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
		cr_assert_eq(s2s_tokenize(t, v, bad[i], strlen(bad[i]), &tok, &err), S2S_EUTF8, "case %zu", i);
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
	cr_assert_eq(s2s_tokenizer_new(json, "src_tokenizer", &t, &err), S2S_ETOKENIZER, "%s", json);
	cr_assert_null(t);
	cr_assert(strstr(err.message, needle), "'%s' lacks '%s'", err.message, needle);
}

Test(tokenizer, bad_definitions_are_named)
{
	expect_tok_error("[1]", "not a JSON object");
	expect_tok_error("{\"type\":\"word\"}", "'type' must be");
	expect_tok_error("{\"type\":\"char\",\"lowercase\":1}", "'lowercase' must be true or false");
	expect_tok_error("{\"type\":\"char\",\"merges\":[[\"a\",\"b\"]]}", "has no merges");
	expect_tok_error("{\"type\":\"bpe\"}", "needs a 'merges' array");
	expect_tok_error("{\"type\":\"bpe\",\"merges\":[[\"a\",\"b\"],[\"a\"]]}", "merges[1] is not a [left, right] pair");
	expect_tok_error("{\"type\":\"bpe\",\"merges\":[[\"\",\"b\"]]}", "merges[0]");
	expect_tok_error("{\"type\":\"char\",\"colour\":true}", "unknown key 'colour'");
}

static void expect_vocab_error(const char *json, const char *needle)
{
	s2s_vocab *v = NULL;
	s2s_error err = {0};
	cr_assert_eq(s2s_vocab_new(json, "src_vocab", &v, &err), S2S_EVOCAB, "%s", json);
	cr_assert_null(v);
	cr_assert(strstr(err.message, needle), "'%s' lacks '%s'", err.message, needle);
}

Test(vocab, each_rule_is_enforced_with_a_specific_message)
{
	expect_vocab_error("{}", "not a JSON array");
	expect_vocab_error("[\"<pad>\",\"<unk>\",\"<s>\",\"</s>\"]", "has 4 tokens");
	expect_vocab_error("[\"<pad>\",\"<unk>\",\"<s>\",\"</s>\",\"a\",\"a\"]",
			   "src_vocab[5] duplicates token 'a' (first at 4)");
	expect_vocab_error("[\"<pad>\",\"<s>\",\"<unk>\",\"</s>\",\"a\"]", "src_vocab[1] must be <unk>");
	expect_vocab_error("[\"<pad>\",\"<unk>\",\"<s>\",\"</s>\",\"\"]", "src_vocab[4] is not a non-empty string");
	expect_vocab_error("[\"<pad>\",\"<unk>\",\"<s>\",\"</s>\",7]", "src_vocab[4]");
}

Test(vocab, lookup_and_reverse)
{
	s2s_vocab *v = small_vocab();
	cr_assert_eq(s2s_vocab_size(v), 5);
	cr_assert_eq(s2s_vocab_lookup(v, "a", 1), 4);
	cr_assert_eq(s2s_vocab_lookup(v, "zz", 2), S2S_UNK);
	cr_assert_str_eq(s2s_vocab_token(v, 3), "</s>");
	cr_assert_null(s2s_vocab_token(v, 5));
	cr_assert_null(s2s_vocab_token(v, -1));
	s2s_vocab_free(v);
}
