/*
 * config.c - parses and validates `seq2seqd.config` (docs/checkpoint-format.md §3).
 *
 * Table-driven: one row per key with its type and bounds, so a new key is one
 * line and every error message names the key the same way.
 */
#include "s2s_config.h"

#include <jansson.h>
#include <stddef.h>
#include <string.h>

typedef enum { KEY_INT, KEY_BOOL, KEY_ENUM } key_type;

typedef struct {
	const char *name;
	key_type type;
	size_t offset;              /* into s2s_config */
	long long min, max;         /* KEY_INT bounds */
	const char *const *choices; /* KEY_ENUM names, index = enum value */
	int required;
} key_spec;

static const char *const cell_names[] = {"rnn_tanh", "rnn_relu", "gru", "lstm", NULL};
static const char *const bridge_names[] = {"zeros", "last", "linear", NULL};
static const char *const attn_names[] = {"none", "dot", "general", "additive", NULL};
static const char *const place_names[] = {"bahdanau", "luong", NULL};
/* Index = s2s_activation value; attention_out has no relu, so relu comes last. */
static const char *const act_names[] = {"tanh", "none", "relu", NULL};
static const char *const attn_out_act_names[] = {"tanh", "none", NULL};
static const char *const bridge_in_names[] = {"top", "all", NULL};
static const char *const bridge_cell_names[] = {"zeros", "hidden", "linear", NULL};

#define OFF(f) offsetof(s2s_config, f)
/* One row per key reads best as a table, so the formatter leaves it alone. */
/* clang-format off */
static const key_spec keys[] = {
	{"cell", KEY_ENUM, OFF(cell), 0, 0, cell_names, 1},
	{"emb_dim", KEY_INT, OFF(emb_dim), 1, S2S_MAX_DIM, NULL, 1},
	{"enc_hidden", KEY_INT, OFF(enc_hidden), 1, S2S_MAX_DIM, NULL, 1},
	{"enc_layers", KEY_INT, OFF(enc_layers), 1, S2S_MAX_LAYERS, NULL, 1},
	{"bidirectional", KEY_BOOL, OFF(bidirectional), 0, 0, NULL, 1},
	{"reverse_source", KEY_BOOL, OFF(reverse_source), 0, 0, NULL, 1},
	{"dec_hidden", KEY_INT, OFF(dec_hidden), 1, S2S_MAX_DIM, NULL, 1},
	{"dec_layers", KEY_INT, OFF(dec_layers), 1, S2S_MAX_LAYERS, NULL, 1},
	{"bridge", KEY_ENUM, OFF(bridge), 0, 0, bridge_names, 1},
	{"attention", KEY_ENUM, OFF(attention), 0, 0, attn_names, 1},
	{"attn_placement", KEY_ENUM, OFF(placement), 0, 0, place_names, 1},
	{"attn_dim", KEY_INT, OFF(attn_dim), 0, S2S_MAX_DIM, NULL, 0},
	{"input_feed", KEY_BOOL, OFF(input_feed), 0, 0, NULL, 1},
	{"tie_embeddings", KEY_BOOL, OFF(tie_embeddings), 0, 0, NULL, 1},
	{"src_vocab_size", KEY_INT, OFF(src_vocab_size), 5, 1 << 24, NULL, 1},
	{"tgt_vocab_size", KEY_INT, OFF(tgt_vocab_size), 5, 1 << 24, NULL, 1},
	{"attn_out_bias", KEY_BOOL, OFF(attn_out_bias), 0, 0, NULL, 0},
	{"attn_out_activation", KEY_ENUM, OFF(attn_out_activation), 0, 0, attn_out_act_names, 0},
	{"bridge_input", KEY_ENUM, OFF(bridge_input), 0, 0, bridge_in_names, 0},
	{"bridge_activation", KEY_ENUM, OFF(bridge_activation), 0, 0, act_names, 0},
	{"bridge_cell", KEY_ENUM, OFF(bridge_cell), 0, 0, bridge_cell_names, 0},
};
/* clang-format on */
#undef OFF
#define NKEYS (sizeof keys / sizeof keys[0])

static const key_spec *find_key(const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static int set_enum(const key_spec *k, json_t *v, s2s_config *out, s2s_error *err)
{
	if (!json_is_string(v))
		return s2s__error_set(err, S2S_ECONFIG, "config key '%s' must be a string",
		                      k->name);
	for (int i = 0; k->choices[i]; i++) {
		if (strcmp(k->choices[i], json_string_value(v)) == 0) {
			*(int *)((char *)out + k->offset) = i;
			return 0;
		}
	}
	char allowed[128] = "";
	for (int i = 0; k->choices[i]; i++) {
		strncat(allowed, i ? ", " : "", sizeof allowed - strlen(allowed) - 1);
		strncat(allowed, k->choices[i], sizeof allowed - strlen(allowed) - 1);
	}
	return s2s__error_set(err, S2S_ECONFIG, "config key '%s' has value '%s'; allowed: %s",
	                      k->name, json_string_value(v), allowed);
}

static int set_value(const key_spec *k, json_t *v, s2s_config *out, s2s_error *err)
{
	switch (k->type) {
	case KEY_BOOL:
		if (!json_is_boolean(v))
			return s2s__error_set(err, S2S_ECONFIG,
			                      "config key '%s' must be true or false", k->name);
		*(bool *)((char *)out + k->offset) = json_is_true(v);
		return 0;
	case KEY_INT: {
		if (!json_is_integer(v))
			return s2s__error_set(err, S2S_ECONFIG,
			                      "config key '%s' must be an integer", k->name);
		json_int_t x = json_integer_value(v);
		if (x < k->min || x > k->max)
			return s2s__error_set(err, S2S_ECONFIG,
			                      "config key '%s' is %lld; allowed %lld..%lld",
			                      k->name, (long long)x, k->min, k->max);
		*(int *)((char *)out + k->offset) = (int)x;
		return 0;
	}
	case KEY_ENUM:
		return set_enum(k, v, out, err);
	}
	return S2S_EINVAL;
}

/*
 * The optional keys only mean something for some models. A non-default
 * value where it would have no effect is refused rather than ignored: it
 * means the converter that wrote the file misread its source model.
 */
static int check_extensions(const s2s_config *c, s2s_error *err)
{
	bool luong = c->attention != S2S_ATTN_NONE && c->placement == S2S_PLACE_LUONG;
	const char *key = NULL;
	if (!luong && c->attn_out_bias)
		key = "attn_out_bias";
	else if (!luong && c->attn_out_activation != S2S_ACT_TANH)
		key = "attn_out_activation";
	if (key)
		return s2s__error_set(err, S2S_ECONFIG,
		                      "config key '%s' needs attention and luong placement", key);
	if (c->bridge != S2S_BRIDGE_LINEAR) {
		if (c->bridge_input != S2S_BRIDGE_IN_TOP)
			key = "bridge_input";
		else if (c->bridge_activation != S2S_ACT_TANH)
			key = "bridge_activation";
		else if (c->bridge_cell != S2S_BRIDGE_CELL_ZEROS)
			key = "bridge_cell";
		if (key)
			return s2s__error_set(err, S2S_ECONFIG,
			                      "config key '%s' needs bridge 'linear', not '%s'",
			                      key, s2s_bridge_name(c->bridge));
	}
	if (c->bridge_cell != S2S_BRIDGE_CELL_ZEROS && c->cell != S2S_CELL_LSTM)
		return s2s__error_set(err, S2S_ECONFIG,
		                      "config key 'bridge_cell' needs cell 'lstm', not '%s'",
		                      s2s_cell_name(c->cell));
	return 0;
}

/* The cross-key rules of §3: each names the key that cannot hold. */
static int check_consistency(const s2s_config *c, s2s_error *err)
{
	int K = s2s_config_enc_out(c);
	if (c->attention == S2S_ATTN_ADDITIVE && c->attn_dim < 1)
		return s2s__error_set(err, S2S_ECONFIG,
		                      "config key 'attn_dim' must be 1..%d for additive attention",
		                      S2S_MAX_DIM);
	if (c->bridge == S2S_BRIDGE_LAST && (c->dec_layers != c->enc_layers || c->dec_hidden != K))
		return s2s__error_set(
		    err, S2S_ECONFIG,
		    "config key 'bridge': 'last' needs dec_layers (%d) == enc_layers (%d) "
		    "and dec_hidden (%d) == encoder output size (%d)",
		    c->dec_layers, c->enc_layers, c->dec_hidden, K);
	if (c->attention == S2S_ATTN_DOT && c->dec_hidden != K)
		return s2s__error_set(
		    err, S2S_ECONFIG,
		    "config key 'attention': 'dot' needs dec_hidden (%d) == encoder "
		    "output size (%d)",
		    c->dec_hidden, K);
	if (c->input_feed && (c->attention == S2S_ATTN_NONE || c->placement != S2S_PLACE_LUONG))
		return s2s__error_set(
		    err, S2S_ECONFIG,
		    "config key 'input_feed' needs attention and luong placement");
	if (c->tie_embeddings && c->emb_dim != c->dec_hidden)
		return s2s__error_set(
		    err, S2S_ECONFIG,
		    "config key 'tie_embeddings' needs emb_dim (%d) == dec_hidden (%d)", c->emb_dim,
		    c->dec_hidden);
	return check_extensions(c, err);
}

static int parse_object(json_t *root, s2s_config *out, s2s_error *err)
{
	const char *name;
	json_t *v;
	json_object_foreach(root, name, v)
	{
		const key_spec *k = find_key(name);
		if (!k)
			return s2s__error_set(err, S2S_ECONFIG, "config has unknown key '%s'",
			                      name);
		int rc = set_value(k, v, out, err);
		if (rc < 0)
			return rc;
	}
	for (size_t i = 0; i < NKEYS; i++)
		if (keys[i].required && !json_object_get(root, keys[i].name))
			return s2s__error_set(err, S2S_ECONFIG, "config is missing key '%s'",
			                      keys[i].name);
	if (out->attention != S2S_ATTN_ADDITIVE)
		out->attn_dim = 0;
	return check_consistency(out, err);
}

int s2s_config_parse(const char *json_text, s2s_config *out, s2s_error *err)
{
	if (!json_text || !out)
		return s2s__error_set(err, S2S_EINVAL, "config text is missing");
	memset(out, 0, sizeof *out);
	json_error_t jerr;
	json_t *root = json_loads(json_text, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return s2s__error_set(err, S2S_ECONFIG, "config is not valid JSON: %s (line %d)",
		                      jerr.text, jerr.line);
	int rc = json_is_object(root)
	             ? parse_object(root, out, err)
	             : s2s__error_set(err, S2S_ECONFIG, "config is not a JSON object");
	json_decref(root);
	return rc;
}

int s2s_config_gates(const s2s_config *c)
{
	return c->cell == S2S_CELL_LSTM ? 4 : c->cell == S2S_CELL_GRU ? 3 : 1;
}

int s2s_config_enc_out(const s2s_config *c)
{
	return c->enc_hidden * (c->bidirectional ? 2 : 1);
}

int s2s_config_dec_input(const s2s_config *c)
{
	int n = c->emb_dim;
	if (c->attention != S2S_ATTN_NONE && c->placement == S2S_PLACE_BAHDANAU)
		n += s2s_config_enc_out(c);
	if (c->input_feed)
		n += c->dec_hidden;
	return n;
}

int s2s_config_bridge_in(const s2s_config *c)
{
	int K = s2s_config_enc_out(c);
	return c->bridge_input == S2S_BRIDGE_IN_ALL ? c->enc_layers * K : K;
}

const char *s2s_cell_name(s2s_cell_kind k)
{
	return (unsigned)k < 4 ? cell_names[k] : "?";
}

const char *s2s_bridge_name(s2s_bridge_kind k)
{
	return (unsigned)k < 3 ? bridge_names[k] : "?";
}

const char *s2s_attn_name(s2s_attn_kind k)
{
	return (unsigned)k < 4 ? attn_names[k] : "?";
}

const char *s2s_placement_name(s2s_attn_placement k)
{
	return (unsigned)k < 2 ? place_names[k] : "?";
}

const char *s2s_activation_name(s2s_activation k)
{
	return (unsigned)k < 3 ? act_names[k] : "?";
}

const char *s2s_bridge_input_name(s2s_bridge_input k)
{
	return (unsigned)k < 2 ? bridge_in_names[k] : "?";
}

const char *s2s_bridge_cell_name(s2s_bridge_cell k)
{
	return (unsigned)k < 3 ? bridge_cell_names[k] : "?";
}
