/*
 * metrics.h - the daemon's Prometheus metrics (docs/api.md "GET /metrics").
 *
 * Counters and histograms are atomics: workers and the loop update them
 * without locks. Rendering reads them with relaxed loads, so a scrape may
 * see a histogram mid-update by one observation, which Prometheus tolerates.
 */
#ifndef S2SD_METRICS_H
#define S2SD_METRICS_H

#include <stdint.h>

typedef enum {
	S2SD_ROUTE_TRANSLATE,
	S2SD_ROUTE_OPENNMT,
	S2SD_ROUTE_MODELS,
	S2SD_ROUTE_MODEL,
	S2SD_ROUTE_RELOAD,
	S2SD_ROUTE_HEALTHZ,
	S2SD_ROUTE_READYZ,
	S2SD_ROUTE_METRICS,
	S2SD_ROUTE_RECENT,
	S2SD_ROUTE_DASHBOARD,
	S2SD_ROUTE_MODEL_READY,
	S2SD_ROUTE_OPENNMT_MODELS,
	S2SD_ROUTE_OPENAPI,
	S2SD_ROUTE_SCORE,
	S2SD_ROUTE_OTHER,
	S2SD_ROUTE_NONE, /* answered by libmicrohttpd itself, or closed before reaching a route */
	S2SD_ROUTE_COUNT
} s2sd_route;

const char *s2sd_route_name(s2sd_route r);

void s2sd_metrics_request(s2sd_route r, int status, double seconds);
/* Connection gauge (+1 opened, -1 closed) and connections we closed, by reason. */
void s2sd_metrics_conn_open(int delta);
/* reason: per_ip_limit, reclaimed, header_timeout, body_timeout, idle_timeout, accept_error */
void s2sd_metrics_conn_dropped(const char *reason);
void s2sd_metrics_step(int rows);
/*
 * The slot of a model's per-model series, registered on first use (so
 * the daemon registers each model when it loads it, and every model has
 * its series at 0 from the start). Loop thread only. Names past the 32nd
 * share the slot labelled "_other". The slot stays valid for the process.
 */
int s2sd_metrics_model(const char *name);
/* Any thread; `model` from s2sd_metrics_model. */
void s2sd_metrics_sentence_done(int model, int generated_tokens);
/* A finished translate request (either route) for a served model. */
void s2sd_metrics_model_request(int model, int status, double seconds);
void s2sd_metrics_cancel(int deadline, int sentences); /* deadline: 1, disconnect: 0 */
void s2sd_metrics_reload(const char *model, int ok);
/* Sentences with protected spans by how they were protected (docs/localisation.md §3). */
typedef enum { S2SD_PROTECT_SENTINELS, S2SD_PROTECT_ALIGNMENT, S2SD_PROTECT_PASSTHROUGH,
	       S2SD_PROTECT_NONE, S2SD_PROTECT_COUNT } s2sd_protection;
void s2sd_metrics_protected(s2sd_protection how);
/* Called once a second by the loop: updates tokens/s. */
void s2sd_metrics_tick(double seconds);
uint64_t s2sd_metrics_cancellations(void);

/* Gauges owned elsewhere, sampled at render time. */
typedef struct {
	int queue_depth;
	int queue_capacity;
	int models_loaded;
	int draining;
	int inflight; /* requests open */
} s2sd_metrics_gauges;

/* Prometheus text; malloc'd, caller frees. NULL on ENOMEM. */
char *s2sd_metrics_render(const s2sd_metrics_gauges *g);

#endif
