/* ckpt_builder.c - see ckpt_builder.h. */
#include "ckpt_builder.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		abort();
	return p;
}

s2s_config ckb_tiny_config(void)
{
	s2s_config c;
	memset(&c, 0, sizeof c);
	c.cell = S2S_CELL_LSTM;
	c.emb_dim = 4;
	c.enc_hidden = 3;
	c.enc_layers = 1;
	c.bidirectional = true;
	c.dec_hidden = 5;
	c.dec_layers = 1;
	c.bridge = S2S_BRIDGE_LINEAR;
	c.attention = S2S_ATTN_ADDITIVE;
	c.placement = S2S_PLACE_LUONG;
	c.attn_dim = 2;
	c.input_feed = true;
	c.src_vocab_size = 7;
	c.tgt_vocab_size = 9;
	return c;
}

static ckb_tensor *addf(ckb *b, int64_t d0, int64_t d1, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static ckb_tensor *addf(ckb *b, int64_t d0, int64_t d1, const char *fmt, ...)
{
	char name[64];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(name, sizeof name, fmt, ap);
	va_end(ap);
	return ckb_add(b, name, "F32", d0, d1);
}

ckb_tensor *ckb_add(ckb *b, const char *name, const char *dtype, int64_t d0, int64_t d1)
{
	if (b->n == CKB_MAX_TENSORS)
		abort();
	ckb_tensor *t = &b->t[b->n++];
	memset(t, 0, sizeof *t);
	snprintf(t->name, sizeof t->name, "%s", name);
	t->dtype = dtype;
	t->rank = d1 ? 2 : 1;
	t->shape[0] = d0;
	t->shape[1] = d1;
	return t;
}

/* Four tensors of one direction of one layer of torch.nn.RNN/GRU/LSTM. */
static void add_rnn(ckb *b, const char *pfx, int l, const char *sfx, int64_t gh, int64_t in,
                    int64_t hid)
{
	addf(b, gh, in, "%s.weight_ih_l%d%s", pfx, l, sfx);
	addf(b, gh, hid, "%s.weight_hh_l%d%s", pfx, l, sfx);
	addf(b, gh, 0, "%s.bias_ih_l%d%s", pfx, l, sfx);
	addf(b, gh, 0, "%s.bias_hh_l%d%s", pfx, l, sfx);
}

/* docs/checkpoint-format.md §4, row by row. */
static void add_table(ckb *b, const s2s_config *c)
{
	int G = c->cell == S2S_CELL_LSTM ? 4 : c->cell == S2S_CELL_GRU ? 3 : 1;
	int K = c->enc_hidden * (c->bidirectional ? 2 : 1), D = c->dec_hidden, A = c->attn_dim;
	int luong_attn = c->attention != S2S_ATTN_NONE && c->placement == S2S_PLACE_LUONG;
	int bahdanau_attn = c->attention != S2S_ATTN_NONE && c->placement == S2S_PLACE_BAHDANAU;
	addf(b, c->src_vocab_size, c->emb_dim, "encoder.embedding.weight");
	for (int l = 0; l < c->enc_layers; l++) {
		add_rnn(b, "encoder.rnn", l, "", G * c->enc_hidden, l ? K : c->emb_dim,
		        c->enc_hidden);
		if (c->bidirectional)
			add_rnn(b, "encoder.rnn", l, "_reverse", G * c->enc_hidden,
			        l ? K : c->emb_dim, c->enc_hidden);
	}
	if (c->bridge == S2S_BRIDGE_LINEAR) {
		int in = c->bridge_input == S2S_BRIDGE_IN_ALL ? c->enc_layers * K : K;
		addf(b, c->dec_layers * D, in, "bridge.weight");
		addf(b, c->dec_layers * D, 0, "bridge.bias");
		if (c->bridge_cell == S2S_BRIDGE_CELL_LINEAR) {
			addf(b, c->dec_layers * D, in, "bridge_c.weight");
			addf(b, c->dec_layers * D, 0, "bridge_c.bias");
		}
	}
	addf(b, c->tgt_vocab_size, c->emb_dim, "decoder.embedding.weight");
	int in0 = c->emb_dim + (bahdanau_attn ? K : 0) + (c->input_feed ? D : 0);
	for (int l = 0; l < c->dec_layers; l++)
		add_rnn(b, "decoder.rnn", l, "", G * D, l ? D : in0, D);
	if (c->attention == S2S_ATTN_GENERAL)
		addf(b, D, K, "decoder.attention.linear_in.weight");
	if (c->attention == S2S_ATTN_ADDITIVE) {
		addf(b, A, D, "decoder.attention.query.weight");
		addf(b, A, K, "decoder.attention.key.weight");
		addf(b, A, 0, "decoder.attention.key.bias");
		addf(b, 1, A, "decoder.attention.v.weight");
	}
	if (luong_attn)
		addf(b, D, K + D, "decoder.attention_out.weight");
	if (c->attn_out_bias)
		addf(b, D, 0, "decoder.attention_out.bias");
	if (!c->tie_embeddings)
		addf(b, c->tgt_vocab_size, D, "decoder.out.weight");
	addf(b, c->tgt_vocab_size, 0, "decoder.out.bias");
}

static const char *const cells[] = {"rnn_tanh", "rnn_relu", "gru", "lstm"};
static const char *const bridges[] = {"zeros", "last", "linear"};
static const char *const attns[] = {"none", "dot", "general", "additive"};
static const char *const places[] = {"bahdanau", "luong"};
static const char *const acts[] = {"tanh", "none", "relu"}; /* s2s_activation order */
static const char *const bridge_ins[] = {"top", "all"};
static const char *const bridge_cells[] = {"zeros", "hidden", "linear"};

/* The optional keys, written only when not at their default, as the exporter does. */
static void add_optional_keys(json_t *o, const s2s_config *c)
{
	if (c->attn_out_bias)
		json_object_set_new(o, "attn_out_bias", json_true());
	if (c->attn_out_activation)
		json_object_set_new(o, "attn_out_activation",
		                    json_string(acts[c->attn_out_activation]));
	if (c->bridge_input)
		json_object_set_new(o, "bridge_input", json_string(bridge_ins[c->bridge_input]));
	if (c->bridge_activation)
		json_object_set_new(o, "bridge_activation",
		                    json_string(acts[c->bridge_activation]));
	if (c->bridge_cell)
		json_object_set_new(o, "bridge_cell", json_string(bridge_cells[c->bridge_cell]));
}

char *ckb_config_json(const s2s_config *c)
{
	json_t *o = json_pack(
	    "{ss si si si sb sb si si ss ss ss si sb sb si si}", "cell", cells[c->cell], "emb_dim",
	    c->emb_dim, "enc_hidden", c->enc_hidden, "enc_layers", c->enc_layers, "bidirectional",
	    c->bidirectional, "reverse_source", c->reverse_source, "dec_hidden", c->dec_hidden,
	    "dec_layers", c->dec_layers, "bridge", bridges[c->bridge], "attention",
	    attns[c->attention], "attn_placement", places[c->placement], "attn_dim", c->attn_dim,
	    "input_feed", c->input_feed, "tie_embeddings", c->tie_embeddings, "src_vocab_size",
	    c->src_vocab_size, "tgt_vocab_size", c->tgt_vocab_size);
	if (!o)
		abort();
	add_optional_keys(o, c);
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

char *ckb_vocab_json(int n)
{
	static const char *const specials[] = {"<pad>", "<unk>", "<s>", "</s>"};
	json_t *a = json_array();
	for (int i = 0; i < n; i++) {
		char tok[32];
		snprintf(tok, sizeof tok, "%s", i < 4 ? specials[i] : "");
		if (i >= 4)
			snprintf(tok, sizeof tok, "%c%d", 'a' + i % 26, i);
		json_array_append_new(a, json_string(tok));
	}
	char *s = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return s;
}

void ckb_init(ckb *b, const s2s_config *c)
{
	memset(b, 0, sizeof *b);
	add_table(b, c);
	const char *tok = "{\"type\":\"char\",\"lowercase\":false,\"split_punct\":true}";
	char *cfg = ckb_config_json(c), *sv = ckb_vocab_json(c->src_vocab_size),
	     *tv = ckb_vocab_json(c->tgt_vocab_size);
	ckb_set_meta(b, "seq2seqd.format_version", "1");
	ckb_set_meta(b, "seq2seqd.config", cfg);
	ckb_set_meta(b, "seq2seqd.src_vocab", sv);
	ckb_set_meta(b, "seq2seqd.tgt_vocab", tv);
	ckb_set_meta(b, "seq2seqd.src_tokenizer", tok);
	ckb_set_meta(b, "seq2seqd.tgt_tokenizer", tok);
	ckb_set_meta(b, "seq2seqd.name", "tiny");
	free(cfg);
	free(sv);
	free(tv);
}

void ckb_deinit(ckb *b)
{
	for (int i = 0; i < b->nmeta; i++) {
		free(b->meta_key[i]);
		free(b->meta_val[i]);
	}
	b->nmeta = 0;
}

ckb_tensor *ckb_find(ckb *b, const char *name)
{
	for (int i = 0; i < b->n; i++)
		if (strcmp(b->t[i].name, name) == 0)
			return &b->t[i];
	return NULL;
}

void ckb_remove(ckb *b, const char *name)
{
	ckb_tensor *t = ckb_find(b, name);
	if (!t)
		abort();
	memmove(t, t + 1, (size_t)(b->t + b->n - (t + 1)) * sizeof *t);
	b->n--;
}

void ckb_set_dtype_all(ckb *b, const char *dtype)
{
	for (int i = 0; i < b->n; i++)
		b->t[i].dtype = dtype;
}

void ckb_set_meta(ckb *b, const char *key, const char *value)
{
	int i = 0;
	while (i < b->nmeta && strcmp(b->meta_key[i], key) != 0)
		i++;
	if (i == b->nmeta) {
		if (!value)
			return;
		if (b->nmeta == CKB_MAX_META)
			abort();
		b->meta_key[b->nmeta] = strdup(key);
		b->meta_val[b->nmeta++] = NULL;
	}
	free(b->meta_val[i]);
	if (value) {
		b->meta_val[i] = strdup(value);
		return;
	}
	free(b->meta_key[i]);
	b->nmeta--;
	b->meta_key[i] = b->meta_key[b->nmeta];
	b->meta_val[i] = b->meta_val[b->nmeta];
}

/* Multiples of 1/64 in [-0.75, 0.75]: exact in F16 (11-bit) and BF16 (8-bit) mantissas. */
float ckb_value(int j, int64_t i)
{
	return (float)((j * 131 + i * 7) % 97 - 48) / 64.0f;
}

int64_t ckb_numel(const ckb *b)
{
	int64_t n = 0;
	for (int i = 0; i < b->n; i++) {
		int64_t e = 1;
		for (int d = 0; d < b->t[i].rank; d++)
			e *= b->t[i].shape[d];
		n += e;
	}
	return n;
}

static size_t dtype_bytes(const char *dtype)
{
	return strcmp(dtype, "F32") == 0 ? 4 : 2;
}

/* Encodes a value of ckb_value (normal or zero) in dtype, little-endian. */
static void put_value(unsigned char *p, const char *dtype, float v)
{
	uint32_t bits;
	memcpy(&bits, &v, sizeof bits);
	if (strcmp(dtype, "F32") == 0) {
		for (int k = 0; k < 4; k++)
			p[k] = (unsigned char)(bits >> (8 * k));
		return;
	}
	uint16_t h;
	if (strcmp(dtype, "F16") == 0) {
		uint32_t exp = (bits >> 23) & 0xff;
		h = (uint16_t)((bits >> 16) & 0x8000);
		if (exp) /* rebias 127 -> 15; the mantissa is exact by construction */
			h |= (uint16_t)(((exp - 112) << 10) | ((bits >> 13) & 0x3ff));
	} else {
		h = (uint16_t)(bits >> 16);
	}
	p[0] = (unsigned char)h;
	p[1] = (unsigned char)(h >> 8);
}

/*
 * Where each tensor's bytes go: like the safetensors writer, 4-byte dtypes
 * first, then 2-byte ones, each group in table order, back to back. So the
 * data section is tiled exactly (no hole, as the loader demands) and every
 * tensor is aligned to its dtype size, whatever the mix of dtypes.
 */
static size_t layout(const ckb *b, size_t *off)
{
	size_t pos = 0;
	for (size_t want = 4; want >= 2; want -= 2)
		for (int i = 0; i < b->n; i++) {
			const ckb_tensor *t = &b->t[i];
			size_t es = dtype_bytes(t->dtype), n = 1;
			if (es != want)
				continue;
			for (int d = 0; d < t->rank; d++)
				n *= (size_t)t->shape[d];
			off[i] = pos;
			pos += n * es;
		}
	return pos;
}

static json_t *header_json(const ckb *b, size_t *data_len)
{
	size_t off[CKB_MAX_TENSORS];
	*data_len = layout(b, off);
	json_t *root = json_object(), *meta = json_object();
	for (int i = 0; i < b->nmeta; i++)
		json_object_set_new(meta, b->meta_key[i], json_string(b->meta_val[i]));
	json_object_set_new(root, "__metadata__", meta);
	for (int i = 0; i < b->n; i++) {
		const ckb_tensor *t = &b->t[i];
		size_t es = dtype_bytes(t->dtype), n = 1;
		json_t *shape = json_array();
		for (int d = 0; d < t->rank; d++) {
			json_array_append_new(shape, json_integer(t->shape[d]));
			n *= (size_t)t->shape[d];
		}
		json_object_set_new(root, t->name,
		                    json_pack("{ss so s[II]}", "dtype", t->dtype, "shape", shape,
		                              "data_offsets", (json_int_t)off[i],
		                              (json_int_t)(off[i] + n * es)));
	}
	return root;
}

unsigned char *ckb_bytes(const ckb *b, size_t *len)
{
	size_t data_len;
	json_t *root = header_json(b, &data_len);
	char *h = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(root);
	unsigned char *out = ckb_raw(h, data_len, len);
	free(h);
	unsigned char *data = out + (*len - data_len);
	size_t off[CKB_MAX_TENSORS];
	layout(b, off);
	for (int j = 0; j < b->n; j++) {
		const ckb_tensor *t = &b->t[j];
		size_t es = dtype_bytes(t->dtype), n = 1;
		for (int d = 0; d < t->rank; d++)
			n *= (size_t)t->shape[d];
		for (size_t i = 0; i < n; i++)
			put_value(data + off[j] + i * es, t->dtype, ckb_value(j, (int64_t)i));
	}
	return out;
}

unsigned char *ckb_raw(const char *header, size_t data_len, size_t *len)
{
	size_t hl = strlen(header), padded = (hl + 7) / 8 * 8;
	*len = 8 + padded + data_len;
	unsigned char *out = xmalloc(*len);
	for (int k = 0; k < 8; k++)
		out[k] = (unsigned char)((uint64_t)padded >> (8 * k));
	memcpy(out + 8, header, hl);
	memset(out + 8 + hl, ' ', padded - hl);
	memset(out + 8 + padded, 0, data_len);
	return out;
}

void ckb_write_tmp(const void *bytes, size_t len, char *path)
{
	const char *dir = getenv("TMPDIR");
	snprintf(path, 64, "%s/s2s-ckpt-XXXXXX", dir && strlen(dir) < 40 ? dir : "/tmp");
	int fd = mkstemp(path);
	if (fd < 0 || write(fd, bytes, len) != (ssize_t)len || close(fd) != 0)
		abort();
}
