/* decoding.c - a checkpoint's decoding defaults, `seq2seqd.decoding` (s2s_decode.h). */
#include "config.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

#include "s2s_decode.h"

/* One key of seq2seqd.decoding: its name, bit, bounds and whether it is an integer. */
typedef struct {
	const char *key;
	unsigned bit;
	double min, max;
	bool integer;
} s2s__dec_key;

static const s2s__dec_key S2S__DEC_KEYS[] = {
	{"beam_size", S2S_DEC_BEAM_SIZE, 1, 64, true},
	{"n_best", S2S_DEC_N_BEST, 1, 64, true},
	{"max_length", S2S_DEC_MAX_LEN, 1, 4096, true},
	{"max_len_a", S2S_DEC_MAX_LEN_A, 0, 100, false},
	{"max_len_b", S2S_DEC_MAX_LEN_B, 0, 4096, true},
	{"length_penalty", S2S_DEC_LENGTH_PENALTY, 0, 10, false},
};
#define S2S__N_DEC_KEYS (sizeof S2S__DEC_KEYS / sizeof S2S__DEC_KEYS[0])

static void s2s__dec_store(s2s_decode_options *o, unsigned bit, double v)
{
	switch (bit) {
	case S2S_DEC_BEAM_SIZE: o->beam_size = (int)v; break;
	case S2S_DEC_N_BEST: o->n_best = (int)v; break;
	case S2S_DEC_MAX_LEN: o->max_len = (int)v; break;
	case S2S_DEC_MAX_LEN_A: o->max_len_a = (float)v; break;
	case S2S_DEC_MAX_LEN_B: o->max_len_b = (int)v; break;
	case S2S_DEC_LENGTH_PENALTY: o->length_penalty = (float)v; break;
	}
}

static const s2s__dec_key *s2s__dec_find(const char *key)
{
	for (size_t i = 0; i < S2S__N_DEC_KEYS; i++)
		if (!strcmp(S2S__DEC_KEYS[i].key, key))
			return &S2S__DEC_KEYS[i];
	return NULL;
}

/* Reads one value: a number in range, an integer where the key needs one. */
static int s2s__dec_value(const s2s__dec_key *k, json_t *v, double *out, s2s_error *err)
{
	bool ok = k->integer ? json_is_integer(v) : json_is_number(v);
	double d = ok ? json_number_value(v) : NAN;
	if (!ok || !(d >= k->min && d <= k->max))
		return s2s__error_set(err, S2S_ECONFIG,
		                      "seq2seqd.decoding: '%s' must be %s in %g..%g", k->key,
		                      k->integer ? "an integer" : "a number", k->min, k->max);
	*out = d;
	return 0;
}

int s2s_decode_defaults_parse(const char *json, s2s_decode_options *o, unsigned *set,
                              s2s_error *err)
{
	json_error_t je;
	s2s_decode_options_init(o);
	*set = 0;
	json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return s2s__error_set(err, S2S_ECONFIG, "seq2seqd.decoding is not valid JSON: %s",
		                      je.text);
	if (!json_is_object(root)) {
		json_decref(root);
		return s2s__error_set(err, S2S_ECONFIG, "seq2seqd.decoding is not a JSON object");
	}
	const char *key;
	json_t *v;
	int rc = 0;
	json_object_foreach(root, key, v)
	{
		const s2s__dec_key *k = s2s__dec_find(key);
		double d = 0;
		if (!k) {
			rc = s2s__error_set(err, S2S_ECONFIG, "seq2seqd.decoding has unknown key '%s'", key);
			break;
		}
		if ((rc = s2s__dec_value(k, v, &d, err)) < 0)
			break;
		s2s__dec_store(o, k->bit, d);
		*set |= k->bit;
	}
	json_decref(root);
	if (rc == 0 && o->n_best > o->beam_size)
		rc = s2s__error_set(err, S2S_ECONFIG, "seq2seqd.decoding: n_best %d is more than beam_size %d",
		                    o->n_best, o->beam_size);
	return rc;
}

void s2s_decode_options_merge(s2s_decode_options *dst, unsigned given,
                              const s2s_decode_options *defaults, unsigned set)
{
	unsigned take = set & ~given;
	if (take & S2S_DEC_BEAM_SIZE)
		dst->beam_size = defaults->beam_size;
	if (take & S2S_DEC_N_BEST)
		dst->n_best = defaults->n_best;
	if (take & S2S_DEC_MAX_LEN)
		dst->max_len = defaults->max_len;
	if (take & S2S_DEC_MAX_LEN_A)
		dst->max_len_a = defaults->max_len_a;
	if (take & S2S_DEC_MAX_LEN_B)
		dst->max_len_b = defaults->max_len_b;
	if (take & S2S_DEC_LENGTH_PENALTY)
		dst->length_penalty = defaults->length_penalty;
}
