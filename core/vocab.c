/*
 * vocab.c - token vocabularies from checkpoint metadata (docs/checkpoint-format.md §2).
 */
#include "s2s_vocab.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "strmap.h"

struct s2s_vocab {
	int n;
	char **tokens; /* (n) owned */
	s2s__strmap index;
};

static const char *const specials[] = {"<pad>", "<unk>", "<s>", "</s>"};

void s2s_vocab_free(s2s_vocab *v)
{
	if (!v)
		return;
	for (int i = 0; i < v->n; i++)
		free(v->tokens[i]);
	free(v->tokens);
	s2s__strmap_deinit(&v->index);
	free(v);
}

static int add_tokens(s2s_vocab *v, json_t *arr, const char *what, s2s_error *err)
{
	for (size_t i = 0; i < json_array_size(arr); i++) {
		json_t *t = json_array_get(arr, i);
		if (!json_is_string(t) || json_string_length(t) == 0)
			return s2s__error_set(err, S2S_EVOCAB, "%s[%zu] is not a non-empty string",
			                      what, i);
		if (i < 4 && strcmp(json_string_value(t), specials[i]) != 0)
			return s2s__error_set(err, S2S_EVOCAB, "%s[%zu] must be %s, not '%s'", what,
			                      i, specials[i], json_string_value(t));
		if (!(v->tokens[i] = strdup(json_string_value(t))))
			return s2s__error_set(err, S2S_ENOMEM, "out of memory");
		v->n = (int)i + 1;
		int32_t prev =
		    s2s__strmap_put(&v->index, v->tokens[i], strlen(v->tokens[i]), (int32_t)i);
		if (prev >= 0)
			return s2s__error_set(err, S2S_EVOCAB,
			                      "%s[%zu] duplicates token '%s' (first at %d)", what,
			                      i, v->tokens[i], prev);
	}
	return 0;
}

int s2s_vocab_new(const char *json_text, const char *what, s2s_vocab **out, s2s_error *err)
{
	*out = NULL;
	json_error_t jerr;
	json_t *arr = json_loads(json_text ? json_text : "", 0, &jerr);
	if (!arr || !json_is_array(arr)) {
		json_decref(arr);
		return s2s__error_set(err, S2S_EVOCAB, "%s is not a JSON array of strings", what);
	}
	size_t n = json_array_size(arr);
	s2s_vocab *v = calloc(1, sizeof *v);
	int rc = S2S_ENOMEM;
	if (n < 5 || n > (1u << 24))
		rc = s2s__error_set(err, S2S_EVOCAB, "%s has %zu tokens; allowed 5..2^24", what, n);
	else if (!v || !(v->tokens = calloc(n, sizeof *v->tokens)) ||
	         s2s__strmap_init(&v->index, n) < 0)
		rc = s2s__error_set(err, S2S_ENOMEM, "out of memory for %s", what);
	else
		rc = add_tokens(v, arr, what, err);
	json_decref(arr);
	if (rc < 0) {
		s2s_vocab_free(v);
		return rc;
	}
	*out = v;
	return 0;
}

int s2s_vocab_size(const s2s_vocab *v)
{
	return v->n;
}

const char *s2s_vocab_token(const s2s_vocab *v, int32_t id)
{
	return id >= 0 && id < v->n ? v->tokens[id] : NULL;
}

int32_t s2s_vocab_lookup(const s2s_vocab *v, const char *s, size_t len)
{
	int32_t id = s2s__strmap_get(&v->index, s, len);
	return id >= 0 ? id : S2S_UNK;
}
