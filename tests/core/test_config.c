/*
 * test_config.c - `seq2seqd.config` parsing (docs/checkpoint-format.md §3):
 * every key's type and bounds, unknown and missing keys, the consistency
 * rules, and the derived sizes (checked against hand computation).
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "s2s_config.h"

/* A valid config; tests change one thing at a time. */
static json_t *base(void)
{
	json_t *o =
	    json_loads("{\"cell\":\"lstm\",\"emb_dim\":4,\"enc_hidden\":3,\"enc_layers\":2,"
	               "\"bidirectional\":true,\"reverse_source\":false,\"dec_hidden\":6,"
	               "\"dec_layers\":2,\"bridge\":\"last\",\"attention\":\"additive\","
	               "\"attn_placement\":\"luong\",\"attn_dim\":5,\"input_feed\":true,"
	               "\"tie_embeddings\":false,\"src_vocab_size\":7,\"tgt_vocab_size\":9}",
	               0, NULL);
	cr_assert_not_null(o);
	return o;
}

static int parse_obj(json_t *o, s2s_config *c, s2s_error *e)
{
	char *text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	s2s_error_clear(e);
	int rc = s2s_config_parse(text, c, e);
	free(text);
	return rc;
}

#define assert_err(rc, e, want, sub)                                                               \
	do {                                                                                       \
		cr_assert_eq((rc), (want), "rc %d, want %d; message: %s", (rc), (want),            \
		             (e).message);                                                         \
		cr_assert_eq((e).code, (want));                                                    \
		cr_assert(strstr((e).message, (sub)), "message '%s' lacks '%s'", (e).message,      \
		          (sub));                                                                  \
	} while (0)

/* Parses base() with key set to v (NULL deletes it) and expects an ECONFIG naming sub. */
static void expect_bad(const char *key, json_t *v, const char *sub)
{
	json_t *o = base();
	if (v)
		json_object_set_new(o, key, v);
	else
		json_object_del(o, key);
	s2s_config c;
	s2s_error e;
	int rc = parse_obj(o, &c, &e);
	assert_err(rc, e, S2S_ECONFIG, sub);
}

static void expect_ok(const char *key, json_t *v, s2s_config *c)
{
	json_t *o = base();
	json_object_set_new(o, key, v);
	s2s_error e;
	cr_assert_eq(parse_obj(o, c, &e), 0, "%s: %s", key, e.message);
}

Test(config, valid_config_fills_every_field)
{
	s2s_config c;
	s2s_error e;
	cr_assert_eq(parse_obj(base(), &c, &e), 0, "%s", e.message);
	cr_assert_eq(c.cell, S2S_CELL_LSTM);
	cr_assert_eq(c.emb_dim, 4);
	cr_assert_eq(c.enc_hidden, 3);
	cr_assert_eq(c.enc_layers, 2);
	cr_assert(c.bidirectional);
	cr_assert_not(c.reverse_source);
	cr_assert_eq(c.dec_hidden, 6);
	cr_assert_eq(c.dec_layers, 2);
	cr_assert_eq(c.bridge, S2S_BRIDGE_LAST);
	cr_assert_eq(c.attention, S2S_ATTN_ADDITIVE);
	cr_assert_eq(c.placement, S2S_PLACE_LUONG);
	cr_assert_eq(c.attn_dim, 5);
	cr_assert(c.input_feed);
	cr_assert_not(c.tie_embeddings);
	cr_assert_eq(c.src_vocab_size, 7);
	cr_assert_eq(c.tgt_vocab_size, 9);
}

Test(config, not_json_or_not_object)
{
	s2s_config c;
	s2s_error e = {0};
	int rc = s2s_config_parse("{\"cell\": ", &c, &e);
	assert_err(rc, e, S2S_ECONFIG, "config is not valid JSON");
	s2s_error_clear(&e);
	rc = s2s_config_parse("[\"lstm\"]", &c, &e);
	assert_err(rc, e, S2S_ECONFIG, "config is not a JSON object");
	s2s_error_clear(&e);
	rc = s2s_config_parse(NULL, &c, &e);
	assert_err(rc, e, S2S_EINVAL, "config text is missing");
}

Test(config, duplicate_key_is_rejected)
{
	s2s_config c;
	s2s_error e = {0};
	int rc = s2s_config_parse("{\"emb_dim\": 4, \"emb_dim\": 8}", &c, &e);
	assert_err(rc, e, S2S_ECONFIG, "duplicate");
}

Test(config, unknown_key_is_rejected)
{
	expect_bad("emb_dimm", json_integer(4), "config has unknown key 'emb_dimm'");
	expect_bad("dropout", json_real(0.1), "config has unknown key 'dropout'");
}

static const char *const required[] = {
    "cell",           "emb_dim",    "enc_hidden",     "enc_layers",     "bidirectional",
    "reverse_source", "dec_hidden", "dec_layers",     "bridge",         "attention",
    "attn_placement", "input_feed", "tie_embeddings", "src_vocab_size", "tgt_vocab_size",
};

Test(config, every_required_key_is_required)
{
	char sub[64];
	for (size_t i = 0; i < sizeof required / sizeof *required; i++) {
		snprintf(sub, sizeof sub, "config is missing key '%s'", required[i]);
		expect_bad(required[i], NULL, sub);
	}
}

Test(config, attn_dim_required_only_for_additive)
{
	expect_bad("attn_dim", NULL,
	           "config key 'attn_dim' must be 1..4096 for additive attention");
	expect_bad("attn_dim", json_integer(0), "config key 'attn_dim' must be 1..4096");
	json_t *o = base();
	json_object_del(o, "attn_dim");
	json_object_set_new(o, "attention", json_string("general"));
	s2s_config c;
	s2s_error e;
	cr_assert_eq(parse_obj(o, &c, &e), 0, "%s", e.message);
	/* and a stray attn_dim (the exporter writes one) is ignored, not used */
	o = base();
	json_object_set_new(o, "attention", json_string("general"));
	cr_assert_eq(parse_obj(o, &c, &e), 0, "%s", e.message);
	cr_assert_eq(c.attn_dim, 0);
}

static const char *const int_keys[] = {"emb_dim",        "enc_hidden",    "enc_layers",
                                       "dec_hidden",     "dec_layers",    "attn_dim",
                                       "src_vocab_size", "tgt_vocab_size"};
static const char *const bool_keys[] = {"bidirectional", "reverse_source", "input_feed",
                                        "tie_embeddings"};
static const char *const enum_keys[] = {"cell", "bridge", "attention", "attn_placement"};

Test(config, every_key_is_type_checked)
{
	char sub[96];
	for (size_t i = 0; i < sizeof int_keys / sizeof *int_keys; i++) {
		snprintf(sub, sizeof sub, "config key '%s' must be an integer", int_keys[i]);
		expect_bad(int_keys[i], json_string("4"), sub);
		expect_bad(int_keys[i], json_real(4.0), sub);
		expect_bad(int_keys[i], json_true(), sub);
		expect_bad(int_keys[i], json_null(), sub);
	}
	for (size_t i = 0; i < sizeof bool_keys / sizeof *bool_keys; i++) {
		snprintf(sub, sizeof sub, "config key '%s' must be true or false", bool_keys[i]);
		expect_bad(bool_keys[i], json_integer(1), sub);
		expect_bad(bool_keys[i], json_string("true"), sub);
	}
	for (size_t i = 0; i < sizeof enum_keys / sizeof *enum_keys; i++) {
		snprintf(sub, sizeof sub, "config key '%s' must be a string", enum_keys[i]);
		expect_bad(enum_keys[i], json_integer(0), sub);
		expect_bad(enum_keys[i], json_pack("[s]", "lstm"), sub);
	}
}

Test(config, enum_values_are_checked)
{
	expect_bad(
	    "cell", json_string("transformer"),
	    "config key 'cell' has value 'transformer'; allowed: rnn_tanh, rnn_relu, gru, lstm");
	expect_bad("cell", json_string("LSTM"), "config key 'cell' has value 'LSTM'");
	expect_bad("bridge", json_string("mean"), "allowed: zeros, last, linear");
	expect_bad("attention", json_string("multihead"), "allowed: none, dot, general, additive");
	expect_bad("attn_placement", json_string("both"), "allowed: bahdanau, luong");
}

Test(config, bounds_are_checked_with_the_key_name)
{
	expect_bad("emb_dim", json_integer(0), "config key 'emb_dim' is 0; allowed 1..4096");
	expect_bad("emb_dim", json_integer(4097), "config key 'emb_dim' is 4097; allowed 1..4096");
	expect_bad("emb_dim", json_integer(-3), "config key 'emb_dim' is -3");
	expect_bad("enc_hidden", json_integer(1000000000), "config key 'enc_hidden' is 1000000000");
	expect_bad("enc_hidden", json_integer(INT64_C(1) << 40),
	           "config key 'enc_hidden' is 1099511627776");
	expect_bad("enc_layers", json_integer(9), "config key 'enc_layers' is 9; allowed 1..8");
	expect_bad("dec_layers", json_integer(0), "config key 'dec_layers' is 0; allowed 1..8");
	expect_bad("attn_dim", json_integer(5000), "config key 'attn_dim' is 5000");
	expect_bad("src_vocab_size", json_integer(4),
	           "config key 'src_vocab_size' is 4; allowed 5..16777216");
	expect_bad("tgt_vocab_size", json_integer((1 << 24) + 1),
	           "config key 'tgt_vocab_size' is 16777217");
}

Test(config, absurd_dimension_written_as_a_float)
{
	/* 1e9 is a JSON real, not an integer: refused before any bound is consulted. */
	s2s_config c;
	s2s_error e = {0};
	json_t *o = base();
	char *text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	char *p = strstr(text, "\"emb_dim\":4");
	cr_assert_not_null(p);
	char buf[1024];
	snprintf(buf, sizeof buf, "%.*s\"emb_dim\":1e9%s", (int)(p - text), text, p + 11);
	free(text);
	int rc = s2s_config_parse(buf, &c, &e);
	assert_err(rc, e, S2S_ECONFIG, "config key 'emb_dim' must be an integer");
}

Test(config, bounds_are_inclusive)
{
	s2s_config c;
	expect_ok("src_vocab_size", json_integer(5), &c);
	cr_assert_eq(c.src_vocab_size, 5);
	expect_ok("tgt_vocab_size", json_integer(1 << 24), &c);
	cr_assert_eq(c.tgt_vocab_size, 1 << 24);
	expect_ok("attn_dim", json_integer(4096), &c);
	cr_assert_eq(c.attn_dim, 4096);
	json_t *o = base(); /* 8 layers each side keep bridge=last consistent */
	json_object_set_new(o, "enc_layers", json_integer(8));
	json_object_set_new(o, "dec_layers", json_integer(8));
	s2s_error e;
	cr_assert_eq(parse_obj(o, &c, &e), 0, "%s", e.message);
	cr_assert_eq(c.enc_layers, 8);
}

/* --- §3 consistency rules ------------------------------------------------------------- */

static void expect_inconsistent(json_t *o, const char *sub)
{
	s2s_config c;
	s2s_error e;
	int rc = parse_obj(o, &c, &e);
	assert_err(rc, e, S2S_ECONFIG, sub);
}

Test(config, bridge_last_needs_matching_layers_and_size)
{
	json_t *o = base();
	json_object_set_new(o, "dec_layers", json_integer(1));
	expect_inconsistent(o,
	                    "config key 'bridge': 'last' needs dec_layers (1) == enc_layers (2)");
	o = base(); /* K = 2 * 3 = 6; D = 5 */
	json_object_set_new(o, "dec_hidden", json_integer(5));
	expect_inconsistent(o, "dec_hidden (5) == encoder output size (6)");
	o = base(); /* unidirectional: K = 3 */
	json_object_set_new(o, "bidirectional", json_false());
	expect_inconsistent(o, "config key 'bridge'");
	o = base(); /* linear has no such constraint */
	json_object_set_new(o, "bridge", json_string("linear"));
	json_object_set_new(o, "dec_layers", json_integer(1));
	json_object_set_new(o, "dec_hidden", json_integer(5));
	s2s_config c;
	s2s_error e;
	cr_assert_eq(parse_obj(o, &c, &e), 0, "%s", e.message);
}

Test(config, dot_attention_needs_d_equal_k)
{
	json_t *o = base();
	json_object_set_new(o, "bridge", json_string("zeros"));
	json_object_set_new(o, "attention", json_string("dot"));
	json_object_set_new(o, "dec_hidden", json_integer(7));
	expect_inconsistent(
	    o, "config key 'attention': 'dot' needs dec_hidden (7) == encoder output size (6)");
}

Test(config, input_feed_needs_luong_attention)
{
	json_t *o = base();
	json_object_set_new(o, "attention", json_string("none"));
	expect_inconsistent(o, "config key 'input_feed'");
	o = base();
	json_object_set_new(o, "attn_placement", json_string("bahdanau"));
	expect_inconsistent(o, "config key 'input_feed'");
}

Test(config, tied_embeddings_need_e_equal_d)
{
	json_t *o = base();
	json_object_set_new(o, "tie_embeddings", json_true());
	expect_inconsistent(o, "config key 'tie_embeddings' needs emb_dim (4) == dec_hidden (6)");
	o = base();
	json_object_set_new(o, "tie_embeddings", json_true());
	json_object_set_new(o, "emb_dim", json_integer(6));
	s2s_config c;
	s2s_error e;
	cr_assert_eq(parse_obj(o, &c, &e), 0, "%s", e.message);
	cr_assert(c.tie_embeddings);
}

/* --- the optional keys (attention_out and linear-bridge options) ---------------------- */

/* base() with a linear bridge, where every bridge option is meaningful. */
static json_t *linear_base(void)
{
	json_t *o = base();
	json_object_set_new(o, "bridge", json_string("linear"));
	return o;
}

/* Parses o and expects success; returns the config. */
static s2s_config parse_ok(json_t *o)
{
	s2s_config c;
	s2s_error e;
	cr_assert_eq(parse_obj(o, &c, &e), 0, "%s", e.message);
	return c;
}

Test(config, optional_keys_default_to_todays_model)
{
	s2s_config c = parse_ok(base());
	cr_assert_not(c.attn_out_bias);
	cr_assert_eq(c.attn_out_activation, S2S_ACT_TANH);
	cr_assert_eq(c.bridge_input, S2S_BRIDGE_IN_TOP);
	cr_assert_eq(c.bridge_activation, S2S_ACT_TANH);
	cr_assert_eq(c.bridge_cell, S2S_BRIDGE_CELL_ZEROS);
}

Test(config, optional_keys_are_parsed)
{
	json_t *o = linear_base();
	json_object_set_new(o, "attn_out_bias", json_true());
	json_object_set_new(o, "attn_out_activation", json_string("none"));
	json_object_set_new(o, "bridge_input", json_string("all"));
	json_object_set_new(o, "bridge_activation", json_string("relu"));
	json_object_set_new(o, "bridge_cell", json_string("linear"));
	s2s_config c = parse_ok(o);
	cr_assert(c.attn_out_bias);
	cr_assert_eq(c.attn_out_activation, S2S_ACT_NONE);
	cr_assert_eq(c.bridge_input, S2S_BRIDGE_IN_ALL);
	cr_assert_eq(c.bridge_activation, S2S_ACT_RELU);
	cr_assert_eq(c.bridge_cell, S2S_BRIDGE_CELL_LINEAR);
	o = linear_base();
	json_object_set_new(o, "bridge_activation", json_string("none"));
	json_object_set_new(o, "bridge_cell", json_string("hidden"));
	c = parse_ok(o);
	cr_assert_eq(c.bridge_activation, S2S_ACT_NONE);
	cr_assert_eq(c.bridge_cell, S2S_BRIDGE_CELL_HIDDEN);
}

/* Sets key to v on linear_base() and expects an ECONFIG naming sub. */
static void expect_bad_linear(const char *key, json_t *v, const char *sub)
{
	json_t *o = linear_base();
	json_object_set_new(o, key, v);
	expect_inconsistent(o, sub);
}

Test(config, optional_keys_are_type_and_value_checked)
{
	static const char *const enums[] = {"attn_out_activation", "bridge_input",
	                                    "bridge_activation", "bridge_cell"};
	char sub[96];
	expect_bad_linear("attn_out_bias", json_integer(1),
	                  "config key 'attn_out_bias' must be true or false");
	expect_bad_linear("attn_out_bias", json_string("true"),
	                  "config key 'attn_out_bias' must be true or false");
	expect_bad_linear("attn_out_bias", json_null(), "config key 'attn_out_bias' must be true");
	for (size_t i = 0; i < sizeof enums / sizeof *enums; i++) {
		snprintf(sub, sizeof sub, "config key '%s' must be a string", enums[i]);
		expect_bad_linear(enums[i], json_integer(0), sub);
		expect_bad_linear(enums[i], json_true(), sub);
		expect_bad_linear(enums[i], json_null(), sub);
		expect_bad_linear(enums[i], json_pack("[s]", "tanh"), sub);
	}
	/* relu is a bridge activation but not an attention_out one */
	expect_bad_linear("attn_out_activation", json_string("relu"),
	                  "config key 'attn_out_activation' has value 'relu'; allowed: tanh, none");
	expect_bad_linear("attn_out_activation", json_string("Tanh"), "has value 'Tanh'");
	expect_bad_linear("bridge_input", json_string("last"),
	                  "config key 'bridge_input' has value 'last'; allowed: top, all");
	expect_bad_linear(
	    "bridge_activation", json_string("sigmoid"),
	    "config key 'bridge_activation' has value 'sigmoid'; allowed: tanh, none, "
	    "relu");
	expect_bad_linear(
	    "bridge_cell", json_string("copy"),
	    "config key 'bridge_cell' has value 'copy'; allowed: zeros, hidden, linear");
	expect_bad_linear("bridge_cell", json_string(""), "config key 'bridge_cell' has value ''");
}

Test(config, attention_out_options_need_luong_attention)
{
	static const char *const place_attn[][2] = {{"luong", "none"}, {"bahdanau", "additive"}};
	for (int i = 0; i < 2; i++) {
		json_t *o = base();
		json_object_set_new(o, "input_feed", json_false());
		json_object_set_new(o, "attn_placement", json_string(place_attn[i][0]));
		json_object_set_new(o, "attention", json_string(place_attn[i][1]));
		json_t *o2 = json_deep_copy(o), *o3 = json_deep_copy(o);
		json_object_set_new(o, "attn_out_bias", json_true());
		expect_inconsistent(
		    o, "config key 'attn_out_bias' needs attention and luong placement");
		json_object_set_new(o2, "attn_out_activation", json_string("none"));
		expect_inconsistent(
		    o2, "config key 'attn_out_activation' needs attention and luong placement");
		/* the defaults, written out, are fine anywhere */
		json_object_set_new(o3, "attn_out_bias", json_false());
		json_object_set_new(o3, "attn_out_activation", json_string("tanh"));
		parse_ok(o3);
	}
}

Test(config, bridge_options_need_the_linear_bridge)
{
	static const char *const bridges[] = {"last", "zeros"};
	char sub[96];
	for (int i = 0; i < 2; i++) {
		json_t *o = base();
		json_object_set_new(o, "bridge", json_string(bridges[i]));
		json_t *o2 = json_deep_copy(o), *o3 = json_deep_copy(o), *o4 = json_deep_copy(o);
		json_object_set_new(o, "bridge_input", json_string("all"));
		snprintf(sub, sizeof sub,
		         "config key 'bridge_input' needs bridge 'linear', not '%s'", bridges[i]);
		expect_inconsistent(o, sub);
		json_object_set_new(o2, "bridge_activation", json_string("none"));
		snprintf(sub, sizeof sub,
		         "config key 'bridge_activation' needs bridge 'linear', not '%s'",
		         bridges[i]);
		expect_inconsistent(o2, sub);
		json_object_set_new(o3, "bridge_cell", json_string("hidden"));
		snprintf(sub, sizeof sub,
		         "config key 'bridge_cell' needs bridge 'linear', not '%s'", bridges[i]);
		expect_inconsistent(o3, sub);
		json_object_set_new(o4, "bridge_input", json_string("top"));
		json_object_set_new(o4, "bridge_activation", json_string("tanh"));
		json_object_set_new(o4, "bridge_cell", json_string("zeros"));
		parse_ok(o4);
	}
}

Test(config, bridge_cell_needs_an_lstm)
{
	static const char *const cells[] = {"gru", "rnn_tanh", "rnn_relu"};
	static const char *const kinds[] = {"hidden", "linear"};
	char sub[96];
	for (int i = 0; i < 3; i++)
		for (int k = 0; k < 2; k++) {
			json_t *o = linear_base();
			json_object_set_new(o, "cell", json_string(cells[i]));
			json_object_set_new(o, "bridge_cell", json_string(kinds[k]));
			snprintf(sub, sizeof sub,
			         "config key 'bridge_cell' needs cell 'lstm', not '%s'", cells[i]);
			expect_inconsistent(o, sub);
		}
	json_t *o = linear_base();
	json_object_set_new(o, "cell", json_string("gru"));
	json_object_set_new(o, "bridge_cell", json_string("zeros"));
	parse_ok(o);
}

/* --- derived sizes, by hand from §3-4 ----------------------------------------------- */

Test(config, derived_sizes)
{
	s2s_config c;
	s2s_error e;
	cr_assert_eq(parse_obj(base(), &c, &e), 0, "%s", e.message);
	cr_assert_eq(s2s_config_gates(&c), 4);
	cr_assert_eq(s2s_config_enc_out(&c), 6);
	cr_assert_eq(s2s_config_dec_input(&c), 4 + 6); /* luong + feed: E + D */
	c.cell = S2S_CELL_GRU;
	cr_assert_eq(s2s_config_gates(&c), 3);
	c.cell = S2S_CELL_RNN_RELU;
	cr_assert_eq(s2s_config_gates(&c), 1);
	c.cell = S2S_CELL_RNN_TANH;
	cr_assert_eq(s2s_config_gates(&c), 1);
	c.input_feed = false;
	cr_assert_eq(s2s_config_dec_input(&c), 4); /* luong without feed: E */
	c.placement = S2S_PLACE_BAHDANAU;
	cr_assert_eq(s2s_config_dec_input(&c), 4 + 6); /* bahdanau: E + K */
	c.attention = S2S_ATTN_NONE;
	cr_assert_eq(s2s_config_dec_input(&c), 4);
	c.bidirectional = false;
	cr_assert_eq(s2s_config_enc_out(&c), 3);
	cr_assert_eq(s2s_config_bridge_in(&c), 3); /* top: K */
	c.bridge_input = S2S_BRIDGE_IN_ALL;
	cr_assert_eq(s2s_config_bridge_in(&c), 2 * 3); /* all: enc_layers * K */
	c.bidirectional = true;
	cr_assert_eq(s2s_config_bridge_in(&c), 2 * 6);
}

Test(config, names)
{
	cr_assert_str_eq(s2s_cell_name(S2S_CELL_RNN_TANH), "rnn_tanh");
	cr_assert_str_eq(s2s_cell_name(S2S_CELL_LSTM), "lstm");
	cr_assert_str_eq(s2s_bridge_name(S2S_BRIDGE_LINEAR), "linear");
	cr_assert_str_eq(s2s_attn_name(S2S_ATTN_ADDITIVE), "additive");
	cr_assert_str_eq(s2s_placement_name(S2S_PLACE_LUONG), "luong");
	cr_assert_str_eq(s2s_cell_name((s2s_cell_kind)9), "?");
	cr_assert_str_eq(s2s_activation_name(S2S_ACT_TANH), "tanh");
	cr_assert_str_eq(s2s_activation_name(S2S_ACT_RELU), "relu");
	cr_assert_str_eq(s2s_activation_name(S2S_ACT_NONE), "none");
	cr_assert_str_eq(s2s_bridge_input_name(S2S_BRIDGE_IN_ALL), "all");
	cr_assert_str_eq(s2s_bridge_cell_name(S2S_BRIDGE_CELL_HIDDEN), "hidden");
	cr_assert_str_eq(s2s_bridge_cell_name((s2s_bridge_cell)7), "?");
}
