/* metrics.c - see metrics.h. */
#include "metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const route_names[S2SD_ROUTE_COUNT] = {
	"/v1/translate", "/translator/translate", "/v1/models", "/v1/models/{name}",
	"/v1/models/{name}/reload", "/healthz", "/readyz", "/metrics", "/v1/recent",
	"/dashboard", "/v2/models/{name}/ready", "/translator/models", "/openapi.json", "other",
	"none"};

/*
 * Statuses the API can answer (docs/api.md error table plus 200, and 304
 * for the dashboard), 499 for a client that left before its answer, and
 * the ones libmicrohttpd sends by itself (414, 431, 505, 501).
 */
static const int statuses[] = {200, 304, 400, 401, 403, 404, 405, 408, 409, 413, 414, 415,
			       417, 422, 431, 499, 500, 501, 503, 504, 505};
#define N_STATUS (sizeof statuses / sizeof statuses[0])

static const double lat_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define N_LAT (sizeof lat_bounds / sizeof lat_bounds[0])
static const int row_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096};
#define N_ROWS (sizeof row_bounds / sizeof row_bounds[0])

#define MAX_RELOAD_MODELS 32

static struct {
	atomic_ullong requests[S2SD_ROUTE_COUNT][N_STATUS];
	atomic_ullong lat_buckets[S2SD_ROUTE_COUNT][N_LAT + 1];
	atomic_ullong lat_sum_us[S2SD_ROUTE_COUNT];
	atomic_ullong row_buckets[N_ROWS + 1];
	atomic_ullong rows_sum, steps, sentences, tokens;
	atomic_ullong cancel[2];
	atomic_ullong protected_[S2SD_PROTECT_COUNT];
	atomic_llong conns_open;
	atomic_ullong conns_accepted;
	atomic_ullong dropped[6];
	char reload_model[MAX_RELOAD_MODELS][65]; /* loop thread only */
	unsigned long long reloads[MAX_RELOAD_MODELS][2];
	unsigned long long tokens_at_tick;
	double tokens_per_s;
} M;

const char *s2sd_route_name(s2sd_route r)
{
	return route_names[r];
}

void s2sd_metrics_request(s2sd_route r, int status, double seconds)
{
	size_t s = 0, b = 0;
	while (s < N_STATUS && statuses[s] != status)
		s++;
	if (s < N_STATUS)
		atomic_fetch_add_explicit(&M.requests[r][s], 1, memory_order_relaxed);
	while (b < N_LAT && seconds > lat_bounds[b])
		b++;
	atomic_fetch_add_explicit(&M.lat_buckets[r][b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&M.lat_sum_us[r], (unsigned long long)(seconds * 1e6),
				  memory_order_relaxed);
}

static const char *const drop_reasons[6] = {"per_ip_limit", "reclaimed", "header_timeout",
					    "body_timeout", "idle_timeout", "accept_error"};

void s2sd_metrics_conn_open(int delta)
{
	atomic_fetch_add_explicit(&M.conns_open, delta, memory_order_relaxed);
	if (delta > 0)
		atomic_fetch_add_explicit(&M.conns_accepted, 1, memory_order_relaxed);
}

void s2sd_metrics_conn_dropped(const char *reason)
{
	for (int i = 0; i < 6; i++)
		if (!strcmp(reason, drop_reasons[i]))
			atomic_fetch_add_explicit(&M.dropped[i], 1, memory_order_relaxed);
}

void s2sd_metrics_step(int rows)
{
	size_t b = 0;
	while (b < N_ROWS && rows > row_bounds[b])
		b++;
	atomic_fetch_add_explicit(&M.row_buckets[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&M.rows_sum, (unsigned long long)rows, memory_order_relaxed);
	atomic_fetch_add_explicit(&M.steps, 1, memory_order_relaxed);
}

void s2sd_metrics_sentence_done(int generated_tokens)
{
	atomic_fetch_add_explicit(&M.sentences, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&M.tokens, (unsigned long long)generated_tokens,
				  memory_order_relaxed);
}

void s2sd_metrics_cancel(int deadline, int sentences)
{
	atomic_fetch_add_explicit(&M.cancel[deadline ? 1 : 0], (unsigned long long)sentences,
				  memory_order_relaxed);
}

void s2sd_metrics_protected(s2sd_protection how)
{
	atomic_fetch_add_explicit(&M.protected_[how], 1, memory_order_relaxed);
}

uint64_t s2sd_metrics_cancellations(void)
{
	return atomic_load(&M.cancel[0]) + atomic_load(&M.cancel[1]);
}

void s2sd_metrics_reload(const char *model, int ok)
{
	int i = 0;
	while (i < MAX_RELOAD_MODELS && M.reload_model[i][0] && strcmp(M.reload_model[i], model))
		i++;
	if (i == MAX_RELOAD_MODELS)
		return;
	snprintf(M.reload_model[i], sizeof M.reload_model[i], "%s", model);
	M.reloads[i][ok ? 1 : 0]++;
}

void s2sd_metrics_tick(double seconds)
{
	unsigned long long t = atomic_load(&M.tokens);
	M.tokens_per_s = seconds > 0 ? (double)(t - M.tokens_at_tick) / seconds : 0;
	M.tokens_at_tick = t;
}

typedef struct {
	char *s;
	size_t len, cap;
	int failed;
} sbuf;

static void put(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(sbuf *b, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		va_start(ap, fmt);
		int n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0 || b->failed)
			return;
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap * 2 + (size_t)n;
		char *s = realloc(b->s, cap);
		if (!s) {
			b->failed = 1;
			return;
		}
		b->s = s;
		b->cap = cap;
	}
}

static void render_requests(sbuf *b)
{
	put(b, "# HELP seq2seqd_http_requests_total Finished HTTP requests.\n"
	       "# TYPE seq2seqd_http_requests_total counter\n");
	for (int r = 0; r < S2SD_ROUTE_COUNT; r++)
		for (size_t s = 0; s < N_STATUS; s++) {
			unsigned long long v = atomic_load(&M.requests[r][s]);
			if (v)
				put(b, "seq2seqd_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
				    route_names[r], statuses[s], v);
		}
	put(b, "# HELP seq2seqd_http_request_duration_seconds Arrival to response.\n"
	       "# TYPE seq2seqd_http_request_duration_seconds histogram\n");
	for (int r = 0; r < S2SD_ROUTE_COUNT; r++) {
		unsigned long long cum = 0;
		for (size_t i = 0; i <= N_LAT; i++) {
			cum += atomic_load(&M.lat_buckets[r][i]);
			if (i < N_LAT)
				put(b, "seq2seqd_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
				    route_names[r], lat_bounds[i], cum);
		}
		put(b, "seq2seqd_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n"
		       "seq2seqd_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
		       "seq2seqd_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
		    route_names[r], cum, route_names[r], (double)atomic_load(&M.lat_sum_us[r]) / 1e6,
		    route_names[r], cum);
	}
}

static void render_rows(sbuf *b)
{
	unsigned long long cum = 0;
	put(b, "# HELP seq2seqd_batch_rows Decoder rows per decoder step.\n"
	       "# TYPE seq2seqd_batch_rows histogram\n");
	for (size_t i = 0; i <= N_ROWS; i++) {
		cum += atomic_load(&M.row_buckets[i]);
		if (i < N_ROWS)
			put(b, "seq2seqd_batch_rows_bucket{le=\"%d\"} %llu\n", row_bounds[i], cum);
	}
	put(b, "seq2seqd_batch_rows_bucket{le=\"+Inf\"} %llu\nseq2seqd_batch_rows_sum %llu\n"
	       "seq2seqd_batch_rows_count %llu\n",
	    cum, atomic_load(&M.rows_sum), cum);
}

static void counter(sbuf *b, const char *name, const char *help, unsigned long long v)
{
	put(b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name, v);
}

static void gauge(sbuf *b, const char *name, const char *help, double v)
{
	put(b, "# HELP %s %s\n# TYPE %s gauge\n%s %g\n", name, help, name, name, v);
}

static void render_conns(sbuf *b)
{
	put(b, "# HELP seq2seqd_http_connections Open client connections.\n"
	       "# TYPE seq2seqd_http_connections gauge\nseq2seqd_http_connections %lld\n",
	    (long long)atomic_load(&M.conns_open));
	counter(b, "seq2seqd_http_connections_accepted_total", "Client connections accepted.",
		atomic_load(&M.conns_accepted));
	put(b, "# HELP seq2seqd_http_connections_dropped_total Connections the daemon closed or refused, by reason.\n"
	       "# TYPE seq2seqd_http_connections_dropped_total counter\n");
	for (int i = 0; i < 6; i++)
		put(b, "seq2seqd_http_connections_dropped_total{reason=\"%s\"} %llu\n", drop_reasons[i],
		    atomic_load(&M.dropped[i]));
}

static void render_reloads(sbuf *b)
{
	put(b, "# HELP seq2seqd_reloads_total Model reloads by result.\n"
	       "# TYPE seq2seqd_reloads_total counter\n");
	for (int i = 0; i < MAX_RELOAD_MODELS && M.reload_model[i][0]; i++)
		put(b, "seq2seqd_reloads_total{model=\"%s\",result=\"ok\"} %llu\n"
		       "seq2seqd_reloads_total{model=\"%s\",result=\"failed\"} %llu\n",
		    M.reload_model[i], M.reloads[i][1], M.reload_model[i], M.reloads[i][0]);
}

char *s2sd_metrics_render(const s2sd_metrics_gauges *g)
{
	sbuf b = {malloc(16384), 0, 16384, 0};
	if (!b.s)
		return NULL;
	render_requests(&b);
	gauge(&b, "seq2seqd_http_inflight_requests", "Requests accepted and not answered.",
	      g->inflight);
	gauge(&b, "seq2seqd_queue_depth", "Sentences waiting for a decoder batch.", g->queue_depth);
	gauge(&b, "seq2seqd_queue_capacity", "Admission queue capacity (sentences).",
	      g->queue_capacity);
	render_rows(&b);
	counter(&b, "seq2seqd_decoder_steps_total", "Decoder steps taken.", atomic_load(&M.steps));
	counter(&b, "seq2seqd_sentences_total", "Sentences translated to completion.",
		atomic_load(&M.sentences));
	counter(&b, "seq2seqd_generated_tokens_total", "Target tokens generated.",
		atomic_load(&M.tokens));
	gauge(&b, "seq2seqd_tokens_per_second", "Generated tokens per second, last second.",
	      M.tokens_per_s);
	put(&b, "# HELP seq2seqd_cancellations_total Sentences dropped before finishing.\n"
		"# TYPE seq2seqd_cancellations_total counter\n"
		"seq2seqd_cancellations_total{reason=\"disconnect\"} %llu\n"
		"seq2seqd_cancellations_total{reason=\"deadline\"} %llu\n",
	    atomic_load(&M.cancel[0]), atomic_load(&M.cancel[1]));
	put(&b, "# HELP seq2seqd_protected_sentences_total Sentences with a format or glossary, by how their spans were protected.\n"
		"# TYPE seq2seqd_protected_sentences_total counter\n");
	static const char *const how[S2SD_PROTECT_COUNT] = {"sentinels", "alignment", "passthrough", "none"};
	for (int i = 0; i < S2SD_PROTECT_COUNT; i++)
		put(&b, "seq2seqd_protected_sentences_total{protection=\"%s\"} %llu\n", how[i],
		    atomic_load(&M.protected_[i]));
	render_reloads(&b);
	render_conns(&b);
	gauge(&b, "seq2seqd_models_loaded", "Models serving.", g->models_loaded);
	gauge(&b, "seq2seqd_draining", "1 after SIGTERM/SIGINT.", g->draining);
	if (b.failed) {
		free(b.s);
		return NULL;
	}
	return b.s;
}
