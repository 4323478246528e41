/*
 * s2s_api_response.c - response bodies of docs/api.md built from core
 * results: tokens, detokenized text, scores, attention (subword or word
 * level), coverage, timings; model descriptions.
 */
#include "s2s_api.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WORD_START "\xe2\x96\x81" /* U+2581, the tokenizer's word-start mark */

/*
 * Building state: the first failure wins and the whole response is then
 * refused, so no part of a result (a hypothesis, a log-probability) can go
 * missing without the caller hearing about it. `where` is the JSON path of
 * the object being built, for messages.
 */
typedef struct {
	s2s_api_error *e; /* optional */
	bool failed;
	char where[96];
} build;

static void build_oom(build *b)
{
	if (!b->failed)
		s2s_api_fail(b->e, S2S_API_INTERNAL, "out of memory while building the response");
	b->failed = true;
}

/* A JSON number, or a failure naming `what`[idx] when x is NaN or infinite. */
static json_t *num(build *b, double x, const char *what, int idx)
{
	if (!isfinite(x)) {
		char name[64];
		if (idx >= 0)
			snprintf(name, sizeof name, "%s[%d]", what, idx);
		else
			snprintf(name, sizeof name, "%s", what);
		if (!b->failed)
			s2s_api_fail(b->e, S2S_API_INTERNAL,
				     "%s.%s is %s, which JSON cannot carry: the model produced a non-finite value (is the checkpoint corrupt?)",
				     b->where, name, isnan(x) ? "NaN" : x > 0 ? "+Infinity" : "-Infinity");
		b->failed = true;
		return NULL;
	}
	json_t *v = json_real(x);
	if (!v)
		build_oom(b);
	return v;
}

/* Appends v (stolen, jansson frees it on failure too) to a; NULL v or a fails the build. */
static void append(build *b, json_t *a, json_t *v)
{
	if (!a) {
		json_decref(v);
		build_oom(b);
	} else if (json_array_append_new(a, v) < 0) {
		build_oom(b); /* keeps the reason of a NULL v recorded first */
	}
}

/* Sets key to v (stolen, as above) in o; NULL v or o fails the build. */
static void set(build *b, json_t *o, const char *key, json_t *v)
{
	if (!o) {
		json_decref(v);
		build_oom(b);
	} else if (json_object_set_new(o, key, v) < 0) {
		build_oom(b);
	}
}

/* A JSON string of (valid UTF-8) s; invalid UTF-8 fails the build with a reason. */
static json_t *str(build *b, const char *s)
{
	json_t *v = s ? json_string(s) : NULL;
	if (!v && s && !b->failed) {
		s2s_api_fail(b->e, S2S_API_INTERNAL, "%s: a string is not valid UTF-8", b->where);
		b->failed = true;
	} else if (!v) {
		build_oom(b);
	}
	return v;
}

static json_t *str_array(build *b, const char *const *s, int n)
{
	json_t *a = json_array();
	for (int i = 0; i < n; i++)
		append(b, a, str(b, s[i]));
	if (!a)
		build_oom(b);
	return a;
}

static json_t *float_array(build *b, const float *v, int n, const char *what)
{
	json_t *a = json_array();
	for (int i = 0; i < n; i++)
		append(b, a, num(b, v[i], what, i));
	if (!a)
		build_oom(b);
	return a;
}

/* Whitespace-separated words of `s` (malloc'd copies), as the tokenizer splits them. */
static int split_words(const char *s, char ***out)
{
	int n = 0;
	char **w = NULL;
	while (*s) {
		s += strspn(s, " \t\n\v\f\r");
		size_t len = strcspn(s, " \t\n\v\f\r");
		if (!len)
			break;
		char **g = realloc(w, (size_t)(n + 1) * sizeof *g);
		if (!g)
			break;
		w = g;
		w[n++] = strndup(s, len);
		s += len;
	}
	*out = w;
	return n;
}

static void free_words(char **w, int n)
{
	for (int i = 0; i < n; i++)
		free(w[i]);
	free(w);
}

/*
 * Target token strings of hypothesis h: vocabulary strings, "</s>" included,
 * and with replace_unk each <unk> swapped for the source piece it attended
 * to most. Borrowed strings in a malloc'd array.
 */
static const char **hyp_tokens(const s2s_model *m, const s2s_tokens *tok, const s2s_hypothesis *h,
			       bool replace_unk)
{
	const char **t = calloc((size_t)h->n + 1, sizeof *t);
	int32_t *src = replace_unk ? calloc((size_t)h->n + 1, sizeof *src) : NULL;
	if (!t)
		goto out;
	if (src && h->attention)
		s2s_hypothesis_unk_sources(h, tok->n, src);
	for (int k = 0; k < h->n; k++) {
		t[k] = s2s_vocab_token(s2s_model_tgt_vocab(m), h->ids[k]);
		if (src && h->attention && h->ids[k] == S2S_UNK && src[k] >= 0 && src[k] < tok->n)
			t[k] = tok->pieces[src[k]];
	}
out:
	free(src);
	return t;
}

static char *hyp_text(const s2s_model *m, const s2s_hypothesis *h, const char **t)
{
	const char **keep = calloc((size_t)h->n + 1, sizeof *keep);
	int n = 0;
	if (!keep)
		return NULL;
	for (int k = 0; k < h->n; k++)
		if (h->ids[k] != S2S_PAD && h->ids[k] != S2S_BOS && h->ids[k] != S2S_EOS)
			keep[n++] = t[k];
	char *s = s2s_detokenize(s2s_model_tgt_tokenizer(m), keep, n);
	free(keep);
	return s;
}

char *s2s_api_best_text(const s2s_model *m, const s2s_tokens *tok, const s2s_result *res,
			bool replace_unk)
{
	if (!res || res->n_hyps < 1)
		return NULL;
	const char **t = hyp_tokens(m, tok, &res->hyps[0], replace_unk);
	char *text = t ? hyp_text(m, &res->hyps[0], t) : NULL;
	free(t);
	return text;
}

/*
 * Target word of each token: a token starting with U+2581 starts a word,
 * and </s> is a word of its own. Returns the number of words.
 */
static int target_words(const s2s_hypothesis *h, const char **t, int32_t *word_of)
{
	int w = -1;
	for (int k = 0; k < h->n; k++) {
		bool eos = h->ids[k] == S2S_EOS, prev_eos = k > 0 && h->ids[k - 1] == S2S_EOS;
		if (w < 0 || eos || prev_eos || !strncmp(t[k], WORD_START, 3))
			w++;
		word_of[k] = w;
	}
	return w + 1;
}

/* The words' strings: their tokens joined, the word-start mark dropped (no length limit). */
static json_t *target_word_strings(build *b, const s2s_hypothesis *h, const char **t,
				   const int32_t *word_of, int nw)
{
	json_t *a = json_array();
	for (int w = 0, k = 0; w < nw; w++) {
		size_t len = 0;
		for (int j = k; j < h->n && word_of[j] == w; j++)
			len += strlen(t[j]);
		char *buf = malloc(len + 1);
		if (!buf) {
			build_oom(b);
			break;
		}
		len = 0;
		for (; k < h->n && word_of[k] == w; k++) {
			const char *p = t[k];
			if (!strncmp(p, WORD_START, 3))
				p += 3;
			memcpy(buf + len, p, strlen(p));
			len += strlen(p);
		}
		buf[len] = '\0';
		append(b, a, str(b, buf));
		free(buf);
	}
	if (!a)
		build_oom(b);
	return a;
}

/* Subword matrix as JSON rows. */
static json_t *attention_subword(build *b, const s2s_hypothesis *h, int n_src)
{
	json_t *rows = json_array();
	for (int k = 0; k < h->n; k++)
		append(b, rows, float_array(b, h->attention + (size_t)k * n_src, n_src, "attention"));
	if (!rows)
		build_oom(b);
	return rows;
}

/*
 * Word matrix: columns of a source word's tokens summed, rows of a target
 * word's tokens averaged, so every row still sums to one.
 */
static json_t *attention_word(build *b, const s2s_hypothesis *h, const s2s_tokens *tok,
			      const int32_t *tword, int ntw)
{
	int nsw = tok->n_words;
	float *m = calloc((size_t)ntw * nsw + 1, sizeof *m);
	int *cnt = calloc((size_t)ntw + 1, sizeof *cnt);
	json_t *rows = json_array();
	if (!m || !cnt || !rows) {
		build_oom(b);
		goto out;
	}
	for (int k = 0; k < h->n; k++) {
		cnt[tword[k]]++;
		for (int j = 0; j < tok->n; j++)
			m[(size_t)tword[k] * nsw + tok->word[j]] += h->attention[(size_t)k * tok->n + j];
	}
	for (int w = 0; w < ntw; w++) {
		for (int j = 0; j < nsw; j++)
			m[(size_t)w * nsw + j] /= (float)cnt[w];
		append(b, rows, float_array(b, m + (size_t)w * nsw, nsw, "attention"));
	}
out:
	free(m);
	free(cnt);
	return rows;
}

static void add_attention(build *b, json_t *o, const s2s_hypothesis *h, const s2s_tokens *tok,
			  const char **t, bool word_level)
{
	set(b, o, "attention_level", str(b, word_level ? "word" : "subword"));
	if (!h->attention) {
		set(b, o, "attention", json_null());
		return;
	}
	if (!word_level) {
		set(b, o, "attention", attention_subword(b, h, tok->n));
		return;
	}
	int32_t *tword = calloc((size_t)h->n + 1, sizeof *tword);
	if (!tword) {
		build_oom(b);
		return;
	}
	int ntw = target_words(h, t, tword);
	set(b, o, "target_words", target_word_strings(b, h, t, tword, ntw));
	set(b, o, "attention", attention_word(b, h, tok, tword, ntw));
	free(tword);
}

static json_t *hypothesis_json(build *b, const s2s_api_view *v, const s2s_tokens *tok,
			       const s2s_hypothesis *h)
{
	const char **t = hyp_tokens(v->model, tok, h, v->opt->replace_unk);
	char *text = t ? hyp_text(v->model, h, t) : NULL;
	json_t *o = json_object();
	if (!t || !text)
		build_oom(b);
	set(b, o, "text", str(b, text));
	set(b, o, "tokens", t ? str_array(b, t, h->n) : NULL);
	set(b, o, "score", num(b, h->score, "score", -1));
	set(b, o, "norm_score", num(b, h->norm_score, "norm_score", -1));
	set(b, o, "logprobs", float_array(b, h->logprobs, h->n, "logprobs"));
	set(b, o, "finished", json_boolean(h->finished));
	if (t && v->opt->attention)
		add_attention(b, o, h, tok, t, v->opt->word_level);
	free(text);
	free(t);
	return o;
}

/* Coverage per source word over the best hypothesis, and the words below the threshold. */
static void add_coverage(build *b, json_t *o, const s2s_api_view *v, const s2s_api_sentence *s,
			 char **words, int nwords)
{
	const s2s_hypothesis *h = s->res && s->res->n_hyps > 0 ? &s->res->hyps[0] : NULL;
	if (!h || !h->attention) {
		set(b, o, "coverage", json_null());
		set(b, o, "low_coverage_words", json_array());
		return;
	}
	int nsw = s->tok->n_words;
	float *cov = calloc((size_t)nsw + 1, sizeof *cov);
	if (!cov) {
		build_oom(b);
		return;
	}
	for (int k = 0; k < h->n; k++)
		for (int j = 0; j < s->tok->n; j++)
			cov[s->tok->word[j]] += h->attention[(size_t)k * s->tok->n + j];
	json_t *low = json_array();
	for (int w = 0; w < nsw; w++)
		if (cov[w] < v->opt->coverage_threshold)
			append(b, low, str(b, w < nwords ? words[w] : ""));
	char where[sizeof b->where];
	memcpy(where, b->where, sizeof where);
	snprintf(b->where, sizeof b->where, "%.60s.coverage", where);
	set(b, o, "coverage", float_array(b, cov, nsw, "words"));
	memcpy(b->where, where, sizeof where);
	set(b, o, "low_coverage_words", low);
	free(cov);
}

static json_t *timings(build *b, const s2s_api_sentence *s)
{
	json_t *o = json_object();
	set(b, o, "queued_ms", num(b, s->queued_ms, "timings.queued_ms", -1));
	set(b, o, "encode_ms", num(b, s->res ? s->res->encode_ms : 0.0, "timings.encode_ms", -1));
	set(b, o, "decode_ms", num(b, s->res ? s->res->decode_ms : 0.0, "timings.decode_ms", -1));
	return o;
}

static json_t *sentence_json(build *b, const s2s_api_view *v, const s2s_api_sentence *s, int i)
{
	char **words;
	int nwords = split_words(s->source, &words);
	json_t *o = json_object(), *hyps = json_array();
	set(b, o, "source", str(b, s->source));
	set(b, o, "source_tokens", str_array(b, (const char *const *)s->tok->pieces, s->tok->n));
	set(b, o, "source_words", str_array(b, (const char *const *)words, nwords));
	set(b, o, "truncated", json_boolean(s->res == NULL));
	for (int k = 0; s->res && k < s->res->n_hyps; k++) {
		snprintf(b->where, sizeof b->where, "results[%d].hypotheses[%d]", i, k);
		append(b, hyps, hypothesis_json(b, v, s->tok, &s->res->hyps[k]));
	}
	set(b, o, "hypotheses", hyps);
	snprintf(b->where, sizeof b->where, "results[%d]", i);
	if (v->opt->coverage)
		add_coverage(b, o, v, s, words, nwords);
	set(b, o, "timings", timings(b, s));
	free_words(words, nwords);
	return o;
}

/* The body, or NULL with the reason in b->e when anything failed on the way. */
static char *finish(build *b, json_t *j)
{
	char *s = j && !b->failed ? json_dumps(j, S2S_API_DUMP_FLAGS) : NULL;
	json_decref(j);
	if (!s && !b->failed)
		build_oom(b);
	return s;
}

char *s2s_api_translate_response(const s2s_api_view *v, const s2s_api_sentence *s, int n,
				 s2s_api_error *e)
{
	build b = {e, false, ""};
	json_t *o = json_object(), *results = json_array(), *t = json_object();
	bool truncated = false;
	for (int i = 0; i < n && !b.failed; i++) {
		truncated |= s[i].res == NULL;
		append(&b, results, sentence_json(&b, v, &s[i], i));
	}
	set(&b, o, "model", str(&b, v->model_name));
	set(&b, o, "request_id", str(&b, v->request_id));
	set(&b, o, "truncated", json_boolean(truncated));
	set(&b, o, "results", results);
	snprintf(b.where, sizeof b.where, "timings");
	set(&b, t, "total_ms", num(&b, v->total_ms, "total_ms", -1));
	set(&b, o, "timings", t);
	return finish(&b, o);
}

char *s2s_api_opennmt_response(const s2s_api_view *v, const s2s_api_sentence *s, int n,
			       s2s_api_error *e)
{
	build b = {e, false, ""};
	json_t *list = json_array(), *outer = json_array();
	for (int i = 0; i < n && !b.failed; i++) {
		for (int k = 0; s[i].res && k < s[i].res->n_hyps; k++) {
			const s2s_hypothesis *h = &s[i].res->hyps[k];
			const char **t = hyp_tokens(v->model, s[i].tok, h, false);
			char *text = t ? hyp_text(v->model, h, t) : NULL;
			json_t *o = json_object();
			snprintf(b.where, sizeof b.where, "[0][%d] (input %d, hypothesis %d)",
				 (int)json_array_size(list), i, k);
			if (!text)
				build_oom(&b);
			set(&b, o, "src", str(&b, s[i].source));
			set(&b, o, "tgt", str(&b, text));
			set(&b, o, "n_best", json_integer(k + 1));
			set(&b, o, "pred_score", num(&b, h->norm_score, "pred_score", -1));
			append(&b, list, o);
			free(text);
			free(t);
		}
	}
	append(&b, outer, list);
	return finish(&b, outer);
}

/*
 * The optional keys of checkpoint-format.md §3, only where they differ
 * from their defaults: as in the checkpoint, a model that does not use
 * them is described exactly as before they existed.
 */
static json_t *optional_architecture(json_t *o, const s2s_config *c)
{
	if (o && c->attn_out_bias)
		json_object_set_new(o, "attn_out_bias", json_true());
	if (o && c->attn_out_activation != S2S_ACT_TANH)
		json_object_set_new(o, "attn_out_activation",
				    json_string(s2s_activation_name(c->attn_out_activation)));
	if (o && c->bridge_input != S2S_BRIDGE_IN_TOP)
		json_object_set_new(o, "bridge_input",
				    json_string(s2s_bridge_input_name(c->bridge_input)));
	if (o && c->bridge_activation != S2S_ACT_TANH)
		json_object_set_new(o, "bridge_activation",
				    json_string(s2s_activation_name(c->bridge_activation)));
	if (o && c->bridge_cell != S2S_BRIDGE_CELL_ZEROS)
		json_object_set_new(o, "bridge_cell",
				    json_string(s2s_bridge_cell_name(c->bridge_cell)));
	return o;
}

static json_t *architecture(const s2s_config *c)
{
	json_t *o = json_pack("{s:s,s:i,s:i,s:i,s:b,s:b,s:i,s:i,s:s,s:s,s:s,s:i,s:b,s:b}", "cell",
			 s2s_cell_name(c->cell), "emb_dim", c->emb_dim, "enc_hidden", c->enc_hidden,
			 "enc_layers", c->enc_layers, "bidirectional", c->bidirectional,
			 "reverse_source", c->reverse_source, "dec_hidden", c->dec_hidden,
			 "dec_layers", c->dec_layers, "bridge", s2s_bridge_name(c->bridge),
			 "attention", s2s_attn_name(c->attention), "attn_placement",
			 s2s_placement_name(c->placement), "attn_dim", c->attn_dim, "input_feed",
			 c->input_feed, "tie_embeddings", c->tie_embeddings);
	return optional_architecture(o, c);
}

/* The checkpoint's `seq2seqd.examples`, or an empty array. */
static json_t *examples(const s2s_model *m)
{
	const char *ex = s2s_model_meta(m, "seq2seqd.examples");
	json_t *a = ex ? json_loads(ex, 0, NULL) : NULL;
	if (json_is_array(a))
		return a;
	json_decref(a);
	return json_array();
}

/* The decoding defaults a request gets from this model (seq2seqd.decoding or §7's). */
static json_t *decoding(const s2s_model *m)
{
	s2s_decode_options d;
	unsigned set = s2s_model_decode_defaults(m, &d);
	return json_pack("{s:i,s:i,s:i,s:f,s:i,s:f,s:b}", "beam_size", d.beam_size, "n_best",
			 d.n_best, "max_length", d.max_len, "max_len_a", (double)d.max_len_a,
			 "max_len_b", d.max_len_b, "length_penalty", (double)d.length_penalty,
			 "from_checkpoint", set != 0);
}

json_t *s2s_api_model_info(const s2s_model *m, const char *name, bool is_default,
			   long long loaded_at, int reloads)
{
	const s2s_config *c = s2s_model_config(m);
	char stamp[32];
	time_t t = (time_t)loaded_at;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_pack("{s:s,s:b,s:s,s:s?,s:o,s:i,s:i,s:I,s:s,s:s,s:s,s:i,s:o,s:o}", "name", name,
			 "default", is_default, "path", s2s_model_path(m), "description",
			 s2s_model_meta(m, "seq2seqd.description"), "architecture", architecture(c),
			 "src_vocab_size", c->src_vocab_size, "tgt_vocab_size", c->tgt_vocab_size,
			 "parameters", (json_int_t)s2s_model_param_count(m), "weights",
			 s2s_model_weight_type(m), "sha256",
			 s2s_model_sha256(m), "loaded_at", stamp, "reloads", reloads, "examples",
			 examples(m), "decoding", decoding(m));
}
