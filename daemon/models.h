/*
 * models.h - the served models: name -> current s2s_model, and hot reload.
 *
 * The registry is loop-thread only. A job takes its own reference on the
 * model it was admitted with, so a reload that swaps `model` never disturbs
 * work in flight: that work finishes on the old model, which is freed by
 * the last unref.
 */
#ifndef S2SD_MODELS_H
#define S2SD_MODELS_H

#include <stdbool.h>

#include <uv.h>

#include "settings.h"
#include "s2s.h"

typedef struct {
	char *name;       /* owned */
	char *path;       /* owned */
	int id;           /* OpenNMT-py id (model_id.NAME, else the index) */
	s2s_model *model; /* one reference owned by the registry */
	long long loaded_at; /* Unix seconds */
	int reloads;
	bool reloading;
} s2sd_model_entry;

typedef struct {
	s2sd_model_entry *v; /* (n), owned; v[0] is the default model */
	int n;
	uv_loop_t *loop;
	s2s_load_options load; /* the same for every model and reload */
} s2sd_models;

/* Loads every declared model and validates it; -1 after logging the first failure. */
int s2sd_models_open(s2sd_models *r, const s2sd_config *c, uv_loop_t *loop);
void s2sd_models_close(s2sd_models *r);

/* The entry named `name`, the default one for NULL, or NULL. */
s2sd_model_entry *s2sd_models_find(s2sd_models *r, const char *name);

/* The entry whose OpenNMT-py id is `id`, or NULL. */
s2sd_model_entry *s2sd_models_find_id(s2sd_models *r, int id);

/* Writes "ID (NAME), ..." for every model into buf[n] (cut to fit, NUL-terminated). */
void s2sd_model_ids(const s2sd_models *r, char *buf, size_t n);

/*
 * Called on the loop thread when a reload ends. ok: the new model serves;
 * otherwise `message` says why and the old one still serves.
 */
typedef void (*s2sd_reload_cb)(s2sd_model_entry *e, bool ok, const char *message,
			       const char *old_sha256, void *ud);

/*
 * Loads e->path beside the current model on the libuv thread pool, checks
 * it with a validation translation and swaps it in. Returns -1 (and never
 * calls cb) when a reload of e is already running.
 */
int s2sd_models_reload(s2sd_models *r, s2sd_model_entry *e, s2sd_reload_cb cb, void *ud);

#endif
