/*
 * test_vocab.c - vocabularies (docs/checkpoint-format.md §2): every
 * validation rule with its specific message, and id <-> token lookup.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s2s_vocab.h"

#define SPECIALS "\"<pad>\",\"<unk>\",\"<s>\",\"</s>\""

static void expect_vocab_error(const char *json, const char *needle)
{
	s2s_vocab *v = (s2s_vocab *)1; /* must be reset to NULL on failure */
	s2s_error err = {0};
	cr_assert_eq(s2s_vocab_new(json, "src_vocab", &v, &err), S2S_EVOCAB, "%s", json);
	cr_assert_null(v);
	cr_assert_eq(err.code, S2S_EVOCAB);
	cr_assert(strstr(err.message, needle), "'%s' lacks '%s'", err.message, needle);
}

Test(vocab, not_an_array_of_strings)
{
	expect_vocab_error("{}", "src_vocab is not a JSON array");
	expect_vocab_error("[" SPECIALS ",\"a\"", "src_vocab is not a JSON array"); /* bad JSON */
	expect_vocab_error("", "src_vocab is not a JSON array");
	expect_vocab_error(NULL, "src_vocab is not a JSON array");
	expect_vocab_error("[" SPECIALS ",7]", "src_vocab[4] is not a non-empty string");
	expect_vocab_error("[" SPECIALS ",null,\"b\"]", "src_vocab[4] is not a non-empty string");
	expect_vocab_error("[" SPECIALS ",\"a\",[\"b\"]]",
	                   "src_vocab[5] is not a non-empty string");
}

Test(vocab, empty_token)
{
	expect_vocab_error("[" SPECIALS ",\"\"]", "src_vocab[4] is not a non-empty string");
}

Test(vocab, too_few_tokens)
{
	expect_vocab_error("[" SPECIALS "]", "src_vocab has 4 tokens; allowed 5..2^24");
	expect_vocab_error("[]", "src_vocab has 0 tokens");
}

Test(vocab, duplicates_name_both_positions)
{
	expect_vocab_error("[" SPECIALS ",\"a\",\"a\"]",
	                   "src_vocab[5] duplicates token 'a' (first at 4)");
	expect_vocab_error("[" SPECIALS ",\"x\",\"y\",\"z\",\"y\"]",
	                   "src_vocab[7] duplicates token 'y' (first at 5)");
	expect_vocab_error("[" SPECIALS ",\"a\",\"<s>\"]",
	                   "src_vocab[5] duplicates token '<s>' (first at 2)");
}

Test(vocab, specials_in_order)
{
	expect_vocab_error("[\"<unk>\",\"<pad>\",\"<s>\",\"</s>\",\"a\"]",
	                   "src_vocab[0] must be <pad>, not '<unk>'");
	expect_vocab_error("[\"<pad>\",\"<s>\",\"<unk>\",\"</s>\",\"a\"]",
	                   "src_vocab[1] must be <unk>");
	expect_vocab_error("[\"<pad>\",\"<unk>\",\"<S>\",\"</s>\",\"a\"]",
	                   "src_vocab[2] must be <s>");
	expect_vocab_error("[\"<pad>\",\"<unk>\",\"<s>\",\"<eos>\",\"a\"]",
	                   "src_vocab[3] must be </s>");
}

Test(vocab, key_name_comes_from_the_caller)
{
	s2s_vocab *v = NULL;
	s2s_error err = {0};
	cr_assert_eq(s2s_vocab_new("[" SPECIALS ",\"a\",\"a\"]", "tgt_vocab", &v, &err),
	             S2S_EVOCAB);
	cr_assert(strstr(err.message, "tgt_vocab[5]"), "%s", err.message);
	cr_assert_eq(s2s_vocab_new("[1]", "tgt_vocab", &v, NULL), S2S_EVOCAB); /* err is optional */
}

Test(vocab, lookup_both_ways)
{
	s2s_vocab *v;
	const char *json = "[" SPECIALS ",\"a\",\"\xe2\x96\x81the\",\"caf\xc3\xa9\",\"ab\"]";
	cr_assert_eq(s2s_vocab_new(json, "v", &v, NULL), 0);
	cr_assert_eq(s2s_vocab_size(v), 8);
	static const char *want[] = {"<pad>", "<unk>",           "<s>",         "</s>",
	                             "a",     "\xe2\x96\x81the", "caf\xc3\xa9", "ab"};
	for (int32_t i = 0; i < 8; i++) {
		cr_assert_str_eq(s2s_vocab_token(v, i), want[i]);
		cr_assert_eq(s2s_vocab_lookup(v, want[i], strlen(want[i])), i, "%s", want[i]);
	}
	cr_assert_null(s2s_vocab_token(v, 8));
	cr_assert_null(s2s_vocab_token(v, -1));
	cr_assert_eq(s2s_vocab_lookup(v, "zz", 2), S2S_UNK);
	cr_assert_eq(s2s_vocab_lookup(v, "", 0), S2S_UNK);
	/* Lookups go by length, not NUL: a prefix of a longer buffer. */
	cr_assert_eq(s2s_vocab_lookup(v, "abc", 1), 4);
	cr_assert_eq(s2s_vocab_lookup(v, "abc", 2), 7);
	cr_assert_eq(s2s_vocab_lookup(v, "abc", 3), S2S_UNK);
	s2s_vocab_free(v);
	s2s_vocab_free(NULL);
}

/* A vocabulary of realistic size: every token finds its own id. */
Test(vocab, many_tokens)
{
	enum { N = 20000 };
	char *json = malloc((size_t)N * 16 + 64), *p = json;
	p += sprintf(p, "[" SPECIALS);
	for (int i = 4; i < N; i++)
		p += sprintf(p, ",\"t%d\"", i);
	strcpy(p, "]");
	s2s_vocab *v;
	cr_assert_eq(s2s_vocab_new(json, "v", &v, NULL), 0);
	cr_assert_eq(s2s_vocab_size(v), N);
	for (int i = 4; i < N; i++) {
		char tok[16];
		int n = snprintf(tok, sizeof tok, "t%d", i);
		if (s2s_vocab_lookup(v, tok, (size_t)n) != i)
			cr_assert_fail("t%d -> %d", i, s2s_vocab_lookup(v, tok, (size_t)n));
	}
	s2s_vocab_free(v);
	free(json);
}
