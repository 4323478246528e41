/* models.c - see models.h. */
#include "models.h"

#include <malloc.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "log.h"
#include "metrics.h"

/* The sentence a model must translate before it serves: its first example, else "a". */
static char *validation_sentence(const s2s_model *m)
{
	const char *ex = s2s_model_meta(m, "seq2seqd.examples");
	json_t *a = ex ? json_loads(ex, 0, NULL) : NULL;
	const char *first = json_string_value(json_array_get(a, 0));
	char *s = strdup(first && *first ? first : "a");
	json_decref(a);
	return s;
}

/*
 * The validation translation must produce something a client can use: at
 * least one hypothesis, each with finite scores and log-probabilities. A
 * model whose weights make NaNs (which the loader's finiteness check cannot
 * always foresee: finite weights may still overflow) would otherwise serve
 * empty or NaN answers with status 200.
 */
static int check_validation_result(const s2s_result *res, const char *text, s2s_error *err)
{
	if (!res || res->n_hyps < 1)
		return s2s__error_set(err, S2S_EINVAL,
				      "validation translation of \"%s\" gave no hypothesis", text);
	for (int i = 0; i < res->n_hyps; i++) {
		const s2s_hypothesis *h = &res->hyps[i];
		bool ok = isfinite(h->score) && isfinite(h->norm_score);
		for (int t = 0; ok && t < h->n; t++)
			ok = isfinite(h->logprobs[t]);
		if (!ok)
			return s2s__error_set(err, S2S_EINVAL,
					      "validation translation of \"%s\" gave a non-finite "
					      "score or log-probability (hypothesis %d)",
					      text, i);
	}
	return 0;
}

/* Opens `path` and translates the validation sentence with it. Thread-safe. */
static int open_validated(const char *path, const s2s_load_options *load, s2s_model **out,
			  s2s_error *err)
{
	s2s_model *m;
	s2s_tokens tok = {0};
	s2s_result *res = NULL;
	s2s_decode_options o;

	if (s2s_model_open_with(path, load, &m, err) < 0)
		return -1;
	char *text = validation_sentence(m);
	s2s_decode_options_init(&o);
	o.max_len = 32;
	int rc = text ? s2s_tokenize(s2s_model_src_tokenizer(m), s2s_model_src_vocab(m), text,
				     strlen(text), &tok, err)
		      : -1;
	if (rc >= 0)
		rc = s2s_translate_ids(m, (const int32_t *const[]){tok.ids}, &tok.n, 1, &o, &res, err);
	if (rc >= 0)
		rc = check_validation_result(res, text, err);
	s2s_result_free(res);
	s2s_tokens_deinit(&tok);
	free(text);
	if (rc < 0) {
		s2s_model_unref(m);
		return -1;
	}
	*out = m;
	return 0;
}

int s2sd_models_open(s2sd_models *r, const s2sd_config *c, uv_loop_t *loop)
{
	/*
	 * A fixed mmap threshold: glibc otherwise raises it each time a large
	 * mmapped chunk is freed (up to 32 MiB), after which per-model buffers
	 * that reloads allocate and free (vocabularies, batch scratch) come from
	 * the heap and arenas and are rarely given back. The weights themselves
	 * live in their own mappings (core/anon.h). Measured, 100 reloads of both
	 * built-in models: RSS 45 -> 73 MB before, 34 -> 39 MB with the core's
	 * changes and this one.
	 */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	memset(r, 0, sizeof *r);
	r->loop = loop;
	_Static_assert(S2S_QUANTIZE_NONE == 0 && S2S_QUANTIZE_INT8 == 1,
		       "settings.c's quantize_choices are indexed by s2s_quantize");
	r->load.quantize = (s2s_quantize)c->quantize;
	r->v = calloc((size_t)c->n_models, sizeof *r->v);
	if (!r->v)
		return -1;
	for (int i = 0; i < c->n_models; i++) {
		s2sd_model_entry *e = &r->v[r->n];
		s2s_error err = {0};
		e->name = strdup(c->models[i].name);
		e->path = strdup(c->models[i].path);
		e->id = c->models[i].id >= 0 ? c->models[i].id : i;
		r->n++;
		if (open_validated(e->path, &r->load, &e->model, &err) < 0) {
			s2sd_log(S2SD_LOG_ERR, "model %s: cannot load %s: %s", e->name, e->path,
				 err.message);
			return -1;
		}
		e->loaded_at = (long long)time(NULL);
		s2sd_metrics_model(e->name); /* its series exist, at 0, from the first scrape */
		s2sd_log(S2SD_LOG_INFO, "model %s: loaded %s (sha256 %.12s, %lld parameters, %s weights)",
			 e->name, e->path, s2s_model_sha256(e->model),
			 (long long)s2s_model_param_count(e->model), s2s_model_weight_type(e->model));
	}
	return 0;
}

void s2sd_models_close(s2sd_models *r)
{
	for (int i = 0; i < r->n; i++) {
		s2s_model_unref(r->v[i].model);
		free(r->v[i].name);
		free(r->v[i].path);
	}
	free(r->v);
	memset(r, 0, sizeof *r);
}

s2sd_model_entry *s2sd_models_find(s2sd_models *r, const char *name)
{
	if (!name)
		return r->n > 0 ? &r->v[0] : NULL;
	for (int i = 0; i < r->n; i++)
		if (!strcmp(r->v[i].name, name))
			return &r->v[i];
	return NULL;
}

void s2sd_model_ids(const s2sd_models *r, char *buf, size_t n)
{
	size_t used = 0;
	buf[0] = '\0';
	for (int i = 0; i < r->n && used < n; i++) {
		int w = snprintf(buf + used, n - used, "%s%d (%s)", i ? ", " : "", r->v[i].id,
				 r->v[i].name);
		if (w < 0)
			break;
		used += (size_t)w;
	}
}

s2sd_model_entry *s2sd_models_find_id(s2sd_models *r, int id)
{
	for (int i = 0; i < r->n; i++)
		if (r->v[i].id == id)
			return &r->v[i];
	return NULL;
}

typedef struct {
	uv_work_t work;
	s2sd_model_entry *e;
	char *path;
	s2s_load_options load;
	s2s_model *fresh;
	s2s_error err;
	s2sd_reload_cb cb;
	void *ud;
} reload_req;

static void reload_work(uv_work_t *w)
{
	reload_req *q = w->data;
	if (open_validated(q->path, &q->load, &q->fresh, &q->err) < 0)
		q->fresh = NULL;
}

static void reload_after(uv_work_t *w, int status)
{
	reload_req *q = w->data;
	s2sd_model_entry *e = q->e;
	char old_sha[65];
	snprintf(old_sha, sizeof old_sha, "%s", s2s_model_sha256(e->model));
	e->reloading = false;
	if (q->fresh) {
		s2s_model_unref(e->model); /* jobs in flight hold their own references */
		e->model = q->fresh;
		e->loaded_at = (long long)time(NULL);
		e->reloads++;
		s2sd_log(S2SD_LOG_NOTICE, "model %s: reloaded %s (sha256 %.12s, was %.12s)", e->name,
			 e->path, s2s_model_sha256(e->model), old_sha);
	} else {
		if (status == UV_ECANCELED)
			snprintf(q->err.message, sizeof q->err.message, "reload cancelled");
		s2sd_log(S2SD_LOG_ERR, "model %s: reload of %s failed, old model still serving: %s",
			 e->name, e->path, q->err.message);
	}
	s2sd_metrics_reload(e->name, q->fresh != NULL);
	if (q->cb)
		q->cb(e, q->fresh != NULL, q->err.message, old_sha, q->ud);
	free(q->path);
	free(q);
}

int s2sd_models_reload(s2sd_models *r, s2sd_model_entry *e, s2sd_reload_cb cb, void *ud)
{
	if (e->reloading)
		return -1;
	reload_req *q = calloc(1, sizeof *q);
	if (!q || !(q->path = strdup(e->path))) {
		free(q);
		return -1;
	}
	q->e = e;
	q->load = r->load;
	q->cb = cb;
	q->ud = ud;
	q->work.data = q;
	e->reloading = true;
	if (uv_queue_work(r->loop, &q->work, reload_work, reload_after) < 0) {
		e->reloading = false;
		free(q->path);
		free(q);
		return -1;
	}
	return 0;
}
