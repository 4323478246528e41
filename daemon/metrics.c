/* metrics.c - see metrics.h. */
#include "metrics.h"

#include <config.h>

#include <cblas.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "s2s.h"

static const char *const route_names[S2SD_ROUTE_COUNT] = {
	"/v1/translate", "/translator/translate", "/v1/models", "/v1/models/{name}",
	"/v1/models/{name}/reload", "/healthz", "/readyz", "/metrics", "/v1/recent",
	"/dashboard", "/v2/models/{name}/ready", "/translator/models", "/openapi.json", "/v1/score", "other",
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

/*
 * Per-model series. A slot's name is written once, on the loop thread,
 * before its index is handed to anyone (s2sd_metrics_model); workers only
 * touch the atomics. The last slot, "_other", takes the models past the
 * first MAX_MODELS, so a counter never silently loses counts.
 */
#define MAX_MODELS 32
#define OTHER_SLOT MAX_MODELS

typedef struct {
	char name[129];
	atomic_ullong sentences, tokens;
	atomic_ullong requests[N_STATUS];
	atomic_ullong lat_buckets[N_LAT + 1];
	atomic_ullong lat_sum_us;
	unsigned long long reloads[2]; /* loop thread: [failed, ok] */
	int last_reload_failed;        /* loop thread */
} model_stats;

static struct {
	atomic_ullong requests[S2SD_ROUTE_COUNT][N_STATUS];
	atomic_ullong lat_buckets[S2SD_ROUTE_COUNT][N_LAT + 1];
	atomic_ullong lat_sum_us[S2SD_ROUTE_COUNT];
	atomic_ullong row_buckets[N_ROWS + 1];
	atomic_ullong rows_sum, steps, tokens;
	atomic_ullong cancel[2];
	atomic_ullong protected_[S2SD_PROTECT_COUNT];
	atomic_llong conns_open;
	atomic_ullong conns_accepted;
	atomic_ullong dropped[6];
	model_stats models[MAX_MODELS + 1];
	int n_models; /* loop thread */
	unsigned long long tokens_at_tick;
	double tokens_per_s;
} M = {.models[OTHER_SLOT].name = "_other"};

const char *s2sd_route_name(s2sd_route r)
{
	return route_names[r];
}

/* Index of `status` in statuses[], N_STATUS when not counted. */
static size_t status_index(int status)
{
	size_t s = 0;
	while (s < N_STATUS && statuses[s] != status)
		s++;
	return s;
}

static size_t lat_bucket(double seconds)
{
	size_t b = 0;
	while (b < N_LAT && seconds > lat_bounds[b])
		b++;
	return b;
}

void s2sd_metrics_request(s2sd_route r, int status, double seconds)
{
	size_t s = status_index(status);
	if (s < N_STATUS)
		atomic_fetch_add_explicit(&M.requests[r][s], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&M.lat_buckets[r][lat_bucket(seconds)], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&M.lat_sum_us[r], (unsigned long long)(seconds * 1e6),
				  memory_order_relaxed);
}

int s2sd_metrics_model(const char *name)
{
	for (int i = 0; i < M.n_models; i++)
		if (!strcmp(M.models[i].name, name))
			return i;
	if (M.n_models == MAX_MODELS || strlen(name) >= sizeof M.models[0].name)
		return OTHER_SLOT;
	snprintf(M.models[M.n_models].name, sizeof M.models[0].name, "%s", name);
	return M.n_models++;
}

void s2sd_metrics_model_request(int model, int status, double seconds)
{
	model_stats *m = &M.models[model];
	size_t s = status_index(status);
	if (s < N_STATUS)
		atomic_fetch_add_explicit(&m->requests[s], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->lat_buckets[lat_bucket(seconds)], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->lat_sum_us, (unsigned long long)(seconds * 1e6),
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

void s2sd_metrics_sentence_done(int model, int generated_tokens)
{
	model_stats *m = &M.models[model];
	atomic_fetch_add_explicit(&m->sentences, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->tokens, (unsigned long long)generated_tokens,
				  memory_order_relaxed);
	/* all models together, for the tokens/s gauge */
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
	model_stats *m = &M.models[s2sd_metrics_model(model)];
	m->reloads[ok ? 1 : 0]++;
	m->last_reload_failed = !ok;
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
	put(b, "# HELP %s %s\n# TYPE %s gauge\n%s %.15g\n", name, help, name, name, v);
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

/*
 * A label value as the text format wants it: backslash, double quote and
 * newline escaped. Model names come from the configuration, so they are
 * short; a longer one is cut (the slot table refuses those anyway).
 */
static const char *label_value(const char *v, char *out, size_t n)
{
	size_t k = 0;
	for (; *v && k + 3 < n; v++) {
		if (*v == '\\' || *v == '"' || *v == '\n')
			out[k++] = '\\';
		out[k++] = *v == '\n' ? 'n' : *v;
	}
	out[k] = '\0';
	return out;
}

/* The model slots in use: those named, plus "_other" once it has counted something. */
static int model_slots(int *slots)
{
	int n = 0;
	for (int i = 0; i < M.n_models; i++)
		slots[n++] = i;
	const model_stats *o = &M.models[OTHER_SLOT];
	unsigned long long any = atomic_load(&o->sentences) + o->reloads[0] + o->reloads[1];
	for (size_t i = 0; i <= N_LAT; i++)
		any += atomic_load(&o->lat_buckets[i]);
	if (any)
		slots[n++] = OTHER_SLOT;
	return n;
}

static void render_model_counters(sbuf *b, const int *slots, int n)
{
	char v[300];
	put(b, "# HELP seq2seqd_sentences_total Sentences translated to completion, by model.\n"
	       "# TYPE seq2seqd_sentences_total counter\n");
	for (int i = 0; i < n; i++)
		put(b, "seq2seqd_sentences_total{model=\"%s\"} %llu\n",
		    label_value(M.models[slots[i]].name, v, sizeof v),
		    atomic_load(&M.models[slots[i]].sentences));
	put(b, "# HELP seq2seqd_generated_tokens_total Target tokens generated (every hypothesis kept), by model.\n"
	       "# TYPE seq2seqd_generated_tokens_total counter\n");
	for (int i = 0; i < n; i++)
		put(b, "seq2seqd_generated_tokens_total{model=\"%s\"} %llu\n",
		    label_value(M.models[slots[i]].name, v, sizeof v),
		    atomic_load(&M.models[slots[i]].tokens));
	put(b, "# HELP seq2seqd_translate_requests_total Finished translate requests (both routes) that named a served model, by model and status.\n"
	       "# TYPE seq2seqd_translate_requests_total counter\n");
	for (int i = 0; i < n; i++)
		for (size_t s = 0; s < N_STATUS; s++) {
			unsigned long long c = atomic_load(&M.models[slots[i]].requests[s]);
			/*
			 * 200 and the 5xx a served model answers are there from the
			 * start, at 0: rate() only sees an increase from a sample it
			 * has, so a first 503 would otherwise go uncounted.
			 */
			bool always = statuses[s] == 200 || statuses[s] == 500 ||
				      statuses[s] == 503 || statuses[s] == 504;
			if (c || always)
				put(b, "seq2seqd_translate_requests_total{model=\"%s\",status=\"%d\"} %llu\n",
				    label_value(M.models[slots[i]].name, v, sizeof v), statuses[s], c);
		}
}

static void render_model_latency(sbuf *b, const int *slots, int n)
{
	char v[300];
	put(b, "# HELP seq2seqd_translate_duration_seconds Arrival to response of translate requests (both routes), by model.\n"
	       "# TYPE seq2seqd_translate_duration_seconds histogram\n");
	for (int i = 0; i < n; i++) {
		const model_stats *m = &M.models[slots[i]];
		label_value(m->name, v, sizeof v);
		unsigned long long cum = 0;
		for (size_t k = 0; k <= N_LAT; k++) {
			cum += atomic_load(&m->lat_buckets[k]);
			if (k < N_LAT)
				put(b, "seq2seqd_translate_duration_seconds_bucket{model=\"%s\",le=\"%g\"} %llu\n",
				    v, lat_bounds[k], cum);
		}
		put(b, "seq2seqd_translate_duration_seconds_bucket{model=\"%s\",le=\"+Inf\"} %llu\n"
		       "seq2seqd_translate_duration_seconds_sum{model=\"%s\"} %.6f\n"
		       "seq2seqd_translate_duration_seconds_count{model=\"%s\"} %llu\n",
		    v, cum, v, (double)atomic_load(&m->lat_sum_us) / 1e6, v, cum);
	}
}

static void render_reloads(sbuf *b, const int *slots, int n)
{
	char v[300];
	put(b, "# HELP seq2seqd_reloads_total Model reloads by result.\n"
	       "# TYPE seq2seqd_reloads_total counter\n");
	for (int i = 0; i < n; i++) {
		const model_stats *m = &M.models[slots[i]];
		label_value(m->name, v, sizeof v);
		put(b, "seq2seqd_reloads_total{model=\"%s\",result=\"ok\"} %llu\n"
		       "seq2seqd_reloads_total{model=\"%s\",result=\"failed\"} %llu\n",
		    v, m->reloads[1], v, m->reloads[0]);
	}
	put(b, "# HELP seq2seqd_last_reload_successful 0 when the model's last reload failed (it then serves its previous weights), else 1.\n"
	       "# TYPE seq2seqd_last_reload_successful gauge\n");
	for (int i = 0; i < n; i++)
		put(b, "seq2seqd_last_reload_successful{model=\"%s\"} %d\n",
		    label_value(M.models[slots[i]].name, v, sizeof v),
		    !M.models[slots[i]].last_reload_failed);
}

/* "0.3.21" out of openblas_get_config()'s "OpenBLAS 0.3.21 DYNAMIC_ARCH ...". */
static const char *openblas_version(char *out, size_t n)
{
	const char *c = openblas_get_config();
	const char *p = c ? strchr(c, ' ') : NULL;
	size_t len = p ? strcspn(p + 1, " ") : 0;
	snprintf(out, n, "%.*s", (int)(len ? len : 7), len ? p + 1 : "unknown");
	return out;
}

static void render_build_info(sbuf *b)
{
	char blas[64], v[200];
	put(b, "# HELP seq2seqd_build_info Always 1; the labels say which build runs: version, OpenBLAS version and core, the float kernels in use.\n"
	       "# TYPE seq2seqd_build_info gauge\n"
	       "seq2seqd_build_info{version=\"%s\",openblas=\"%s\",openblas_core=\"%s\",isa=\"%s\"} 1\n",
	    PACKAGE_VERSION, openblas_version(blas, sizeof blas),
	    label_value(openblas_get_corename() ? openblas_get_corename() : "unknown", v, sizeof v),
	    s2s_kernels_isa());
}

/*
 * The process_* families as the Prometheus client libraries name them, so
 * stock dashboards and alerts work. Read from /proc at each scrape; a
 * family whose source cannot be read is left out rather than reported as 0.
 */
static int read_statm(unsigned long long *vm_pages, unsigned long long *rss_pages)
{
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f)
		return -1;
	int n = fscanf(f, "%llu %llu", vm_pages, rss_pages);
	fclose(f);
	return n == 2 ? 0 : -1;
}

static int count_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	int n = 0;
	for (struct dirent *e; (e = readdir(d)) != NULL;)
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

/* Boot time (/proc/stat btime) + the process's start in clock ticks after boot (/proc/self/stat field 22). */
static double start_time_seconds(void)
{
	static double cached; /* loop thread only; the start time never changes */
	if (cached > 0)
		return cached;
	char buf[1024], line[256];
	unsigned long long btime = 0, start = 0;
	FILE *f = fopen("/proc/stat", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "btime %llu", &btime) == 1)
			break;
	fclose(f);
	f = fopen("/proc/self/stat", "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* the command name may hold spaces and parentheses: fields count from the last ')' */
	const char *p = strrchr(buf, ')');
	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	long tck = sysconf(_SC_CLK_TCK);
	if (!p || !btime || tck <= 0 || sscanf(p + 1, "%llu", &start) != 1)
		return -1;
	cached = (double)btime + (double)start / (double)tck;
	return cached;
}

static void render_process(sbuf *b)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		put(b, "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
		       "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %.6f\n",
		    (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
			    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
	unsigned long long vm, rss;
	long page = sysconf(_SC_PAGESIZE);
	if (page > 0 && read_statm(&vm, &rss) == 0) {
		gauge(b, "process_resident_memory_bytes", "Resident memory size in bytes.",
		      (double)rss * (double)page);
		gauge(b, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
		      (double)vm * (double)page);
	}
	int fds = count_open_fds();
	if (fds >= 0)
		gauge(b, "process_open_fds", "Number of open file descriptors.", fds);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		gauge(b, "process_max_fds", "Maximum number of open file descriptors.",
		      rl.rlim_cur == RLIM_INFINITY ? -1 : (double)rl.rlim_cur);
	double start = start_time_seconds();
	if (start > 0)
		gauge(b, "process_start_time_seconds",
		      "Start time of the process since unix epoch in seconds.", start);
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
	int slots[MAX_MODELS + 1];
	int n = model_slots(slots);
	render_model_counters(&b, slots, n);
	render_model_latency(&b, slots, n);
	/* kept for the dashboard's live view; Prometheus should rate() the counter instead */
	gauge(&b, "seq2seqd_tokens_per_second",
	      "Generated tokens per second over the last second, all models (prefer rate(seq2seqd_generated_tokens_total)).",
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
	render_reloads(&b, slots, n);
	render_conns(&b);
	gauge(&b, "seq2seqd_models_loaded", "Models serving.", g->models_loaded);
	gauge(&b, "seq2seqd_draining", "1 after SIGTERM/SIGINT.", g->draining);
	render_build_info(&b);
	render_process(&b);
	if (b.failed) {
		free(b.s);
		return NULL;
	}
	return b.s;
}
