/*
 * s2s_api_response.c - response bodies of docs/api.md built from core
 * results: tokens, detokenized text, scores, attention (subword or word
 * level), coverage, timings; model descriptions.
 */
#include "s2s_api.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WORD_START "\xe2\x96\x81" /* U+2581, the tokenizer's word-start mark */

static json_t *str_array(const char *const *s, int n)
{
	json_t *a = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(a, json_string(s[i]));
	return a;
}

static json_t *float_array(const float *v, int n)
{
	json_t *a = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(a, json_real(v[i]));
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

static json_t *target_word_strings(const s2s_hypothesis *h, const char **t, const int32_t *word_of,
				   int nw)
{
	json_t *a = json_array();
	for (int w = 0, k = 0; w < nw; w++) {
		char buf[1024];
		size_t len = 0;
		for (; k < h->n && word_of[k] == w; k++) {
			const char *p = t[k];
			if (!strncmp(p, WORD_START, 3))
				p += 3;
			len += (size_t)snprintf(buf + len, sizeof buf - len, "%s", p);
			if (len >= sizeof buf)
				len = sizeof buf - 1;
		}
		buf[len] = '\0';
		json_array_append_new(a, json_string(buf));
	}
	return a;
}

/* Subword matrix as JSON rows. */
static json_t *attention_subword(const s2s_hypothesis *h, int n_src)
{
	json_t *rows = json_array();
	for (int k = 0; k < h->n; k++)
		json_array_append_new(rows, float_array(h->attention + (size_t)k * n_src, n_src));
	return rows;
}

/*
 * Word matrix: columns of a source word's tokens summed, rows of a target
 * word's tokens averaged, so every row still sums to one.
 */
static json_t *attention_word(const s2s_hypothesis *h, const s2s_tokens *tok,
			      const int32_t *tword, int ntw)
{
	int nsw = tok->n_words;
	float *m = calloc((size_t)ntw * nsw + 1, sizeof *m);
	int *cnt = calloc((size_t)ntw + 1, sizeof *cnt);
	json_t *rows = json_array();
	if (!m || !cnt)
		goto out;
	for (int k = 0; k < h->n; k++) {
		cnt[tword[k]]++;
		for (int j = 0; j < tok->n; j++)
			m[(size_t)tword[k] * nsw + tok->word[j]] += h->attention[(size_t)k * tok->n + j];
	}
	for (int w = 0; w < ntw; w++) {
		for (int j = 0; j < nsw; j++)
			m[(size_t)w * nsw + j] /= (float)cnt[w];
		json_array_append_new(rows, float_array(m + (size_t)w * nsw, nsw));
	}
out:
	free(m);
	free(cnt);
	return rows;
}

static void add_attention(json_t *o, const s2s_hypothesis *h, const s2s_tokens *tok,
			  const char **t, bool word_level)
{
	json_object_set_new(o, "attention_level", json_string(word_level ? "word" : "subword"));
	if (!h->attention) {
		json_object_set_new(o, "attention", json_null());
		return;
	}
	if (!word_level) {
		json_object_set_new(o, "attention", attention_subword(h, tok->n));
		return;
	}
	int32_t *tword = calloc((size_t)h->n + 1, sizeof *tword);
	if (!tword)
		return;
	int ntw = target_words(h, t, tword);
	json_object_set_new(o, "target_words", target_word_strings(h, t, tword, ntw));
	json_object_set_new(o, "attention", attention_word(h, tok, tword, ntw));
	free(tword);
}

static json_t *hypothesis_json(const s2s_api_view *v, const s2s_tokens *tok,
			       const s2s_hypothesis *h)
{
	const char **t = hyp_tokens(v->model, tok, h, v->opt->replace_unk);
	char *text = t ? hyp_text(v->model, h, t) : NULL;
	json_t *o = json_pack("{s:s?,s:o,s:f,s:f,s:o,s:b}", "text", text, "tokens",
			      t ? str_array(t, h->n) : json_array(), "score", (double)h->score,
			      "norm_score", (double)h->norm_score, "logprobs",
			      float_array(h->logprobs, h->n), "finished", h->finished);
	if (o && v->opt->attention)
		add_attention(o, h, tok, t, v->opt->word_level);
	free(text);
	free(t);
	return o;
}

/* Coverage per source word over the best hypothesis, and the words below the threshold. */
static void add_coverage(json_t *o, const s2s_api_view *v, const s2s_api_sentence *s,
			 char **words, int nwords)
{
	const s2s_hypothesis *h = s->res && s->res->n_hyps > 0 ? &s->res->hyps[0] : NULL;
	if (!h || !h->attention) {
		json_object_set_new(o, "coverage", json_null());
		json_object_set_new(o, "low_coverage_words", json_array());
		return;
	}
	int nsw = s->tok->n_words;
	float *cov = calloc((size_t)nsw + 1, sizeof *cov);
	if (!cov)
		return;
	for (int k = 0; k < h->n; k++)
		for (int j = 0; j < s->tok->n; j++)
			cov[s->tok->word[j]] += h->attention[(size_t)k * s->tok->n + j];
	json_t *low = json_array();
	for (int w = 0; w < nsw; w++)
		if (cov[w] < v->opt->coverage_threshold)
			json_array_append_new(low, json_string(w < nwords ? words[w] : ""));
	json_object_set_new(o, "coverage", float_array(cov, nsw));
	json_object_set_new(o, "low_coverage_words", low);
	free(cov);
}

static json_t *sentence_json(const s2s_api_view *v, const s2s_api_sentence *s)
{
	char **words;
	int nwords = split_words(s->source, &words);
	json_t *hyps = json_array();
	for (int i = 0; s->res && i < s->res->n_hyps; i++)
		json_array_append_new(hyps, hypothesis_json(v, s->tok, &s->res->hyps[i]));
	json_t *o = json_pack("{s:s,s:o,s:o,s:b,s:o}", "source", s->source, "source_tokens",
			      str_array((const char *const *)s->tok->pieces, s->tok->n),
			      "source_words", str_array((const char *const *)words, nwords),
			      "truncated", s->res == NULL, "hypotheses", hyps);
	if (o && v->opt->coverage)
		add_coverage(o, v, s, words, nwords);
	if (o)
		json_object_set_new(o, "timings",
				    json_pack("{s:f,s:f,s:f}", "queued_ms", s->queued_ms, "encode_ms",
					      s->res ? s->res->encode_ms : 0.0, "decode_ms",
					      s->res ? s->res->decode_ms : 0.0));
	free_words(words, nwords);
	return o;
}

static char *dump(json_t *j)
{
	char *s = j ? json_dumps(j, S2S_API_DUMP_FLAGS) : NULL;
	json_decref(j);
	return s;
}

char *s2s_api_translate_response(const s2s_api_view *v, const s2s_api_sentence *s, int n)
{
	json_t *results = json_array();
	bool truncated = false;
	for (int i = 0; i < n; i++) {
		truncated |= s[i].res == NULL;
		json_array_append_new(results, sentence_json(v, &s[i]));
	}
	return dump(json_pack("{s:s,s:s,s:b,s:o,s:{s:f}}", "model", v->model_name, "request_id",
			      v->request_id, "truncated", truncated, "results", results, "timings",
			      "total_ms", v->total_ms));
}

char *s2s_api_opennmt_response(const s2s_api_view *v, const s2s_api_sentence *s, int n)
{
	json_t *list = json_array();
	for (int i = 0; i < n; i++) {
		for (int k = 0; s[i].res && k < s[i].res->n_hyps; k++) {
			const s2s_hypothesis *h = &s[i].res->hyps[k];
			const char **t = hyp_tokens(v->model, s[i].tok, h, false);
			char *text = t ? hyp_text(v->model, h, t) : NULL;
			json_array_append_new(list, json_pack("{s:s,s:s?,s:i,s:f}", "src", s[i].source,
							      "tgt", text, "n_best", k + 1,
							      "pred_score", (double)h->norm_score));
			free(text);
			free(t);
		}
	}
	return dump(json_pack("[o]", list));
}

static json_t *architecture(const s2s_config *c)
{
	return json_pack("{s:s,s:i,s:i,s:i,s:b,s:b,s:i,s:i,s:s,s:s,s:s,s:i,s:b,s:b}", "cell",
			 s2s_cell_name(c->cell), "emb_dim", c->emb_dim, "enc_hidden", c->enc_hidden,
			 "enc_layers", c->enc_layers, "bidirectional", c->bidirectional,
			 "reverse_source", c->reverse_source, "dec_hidden", c->dec_hidden,
			 "dec_layers", c->dec_layers, "bridge", s2s_bridge_name(c->bridge),
			 "attention", s2s_attn_name(c->attention), "attn_placement",
			 s2s_placement_name(c->placement), "attn_dim", c->attn_dim, "input_feed",
			 c->input_feed, "tie_embeddings", c->tie_embeddings);
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

json_t *s2s_api_model_info(const s2s_model *m, const char *name, bool is_default,
			   long long loaded_at, int reloads)
{
	const s2s_config *c = s2s_model_config(m);
	char stamp[32];
	time_t t = (time_t)loaded_at;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_pack("{s:s,s:b,s:s,s:s?,s:o,s:i,s:i,s:I,s:s,s:s,s:i,s:o}", "name", name,
			 "default", is_default, "path", s2s_model_path(m), "description",
			 s2s_model_meta(m, "seq2seqd.description"), "architecture", architecture(c),
			 "src_vocab_size", c->src_vocab_size, "tgt_vocab_size", c->tgt_vocab_size,
			 "parameters", (json_int_t)s2s_model_param_count(m), "sha256",
			 s2s_model_sha256(m), "loaded_at", stamp, "reloads", reloads, "examples",
			 examples(m));
}
