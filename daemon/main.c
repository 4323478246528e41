/*
 * main.c - seq2seqd: configuration, then the libuv loop that owns signals,
 * timers, the HTTP server and completions; drain and exit.
 */
#include <config.h>

#include <cblas.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "notify.h"
#include "server.h"

typedef struct {
	s2sd_server srv;
	uv_signal_t sig_term, sig_int, sig_hup;
	uv_timer_t tick, watchdog, drain;
	uint64_t drain_deadline_ns;
	uint64_t last_tick_ns;
	int exit_code;
} daemon_state;

static void close_all(daemon_state *d)
{
	s2sd_http_stop(&d->srv);
	s2sd_sched_free(d->srv.sched);
	d->srv.sched = NULL;
	uv_close((uv_handle_t *)&d->sig_term, NULL);
	uv_close((uv_handle_t *)&d->sig_int, NULL);
	uv_close((uv_handle_t *)&d->sig_hup, NULL);
	uv_close((uv_handle_t *)&d->tick, NULL);
	uv_close((uv_handle_t *)&d->watchdog, NULL);
	uv_close((uv_handle_t *)&d->drain, NULL);
}

/* Every 50 ms while draining: exit once nothing is in flight or time is up. */
static void on_drain_check(uv_timer_t *t)
{
	daemon_state *d = t->data;
	int open = d->srv.open_requests;
	bool late = s2sd_now_ns() >= d->drain_deadline_ns;
	if (open > 0 && !late)
		return;
	if (open > 0)
		s2sd_log(S2SD_LOG_WARNING, "drain timeout: %d request(s) still in flight, exiting", open);
	else
		s2sd_log(S2SD_LOG_NOTICE, "drained, exiting");
	uv_timer_stop(t);
	close_all(d);
}

static void on_stop_signal(uv_signal_t *h, int signum)
{
	daemon_state *d = h->data;
	if (d->srv.draining)
		return;
	d->srv.draining = true;
	s2sd_log(S2SD_LOG_NOTICE, "%s: draining (%d request(s) in flight, %d s at most)",
		 signum == SIGTERM ? "SIGTERM" : "SIGINT", d->srv.open_requests,
		 d->srv.cfg->drain_timeout_s);
	s2sd_notify("STOPPING=1\nSTATUS=draining");
	s2sd_http_quiesce(&d->srv);
	d->drain_deadline_ns = s2sd_now_ns() + (uint64_t)d->srv.cfg->drain_timeout_s * 1000000000ull;
	uv_timer_start(&d->drain, on_drain_check, 0, 50);
}

static void on_hup(uv_signal_t *h, int signum)
{
	daemon_state *d = h->data;
	if (!d->srv.draining)
		s2sd_reload_all(&d->srv);
}

/* Every 100 ms: expired queue entries; once a second: tokens/s. */
static void on_tick(uv_timer_t *t)
{
	daemon_state *d = t->data;
	uint64_t now = s2sd_now_ns();
	if (now - d->last_tick_ns >= 1000000000ull) {
		s2sd_metrics_tick((double)(now - d->last_tick_ns) / 1e9);
		d->last_tick_ns = now;
	}
	s2sd_sched_expire(d->srv.sched, now);
}

/* Pinged from the loop itself, so a stuck loop stops the pings and systemd notices. */
static void on_watchdog(uv_timer_t *t)
{
	s2sd_notify("WATCHDOG=1");
}

static void start_handles(daemon_state *d)
{
	uv_loop_t *loop = d->srv.loop;
	uv_signal_t *sigs[] = {&d->sig_term, &d->sig_int, &d->sig_hup};
	int nums[] = {SIGTERM, SIGINT, SIGHUP};
	for (int i = 0; i < 3; i++) {
		uv_signal_init(loop, sigs[i]);
		sigs[i]->data = d;
		uv_signal_start(sigs[i], i == 2 ? on_hup : on_stop_signal, nums[i]);
	}
	uv_timer_t *timers[] = {&d->tick, &d->watchdog, &d->drain};
	for (int i = 0; i < 3; i++) {
		uv_timer_init(loop, timers[i]);
		timers[i]->data = d;
	}
	d->last_tick_ns = s2sd_now_ns();
	uv_timer_start(&d->tick, on_tick, 100, 100);
	uint64_t wd = s2sd_watchdog_usec();
	if (wd) {
		uv_timer_start(&d->watchdog, on_watchdog, 0, wd / 2000 ? wd / 2000 : 1);
		s2sd_log(S2SD_LOG_INFO, "watchdog: pinging every %llu ms", (unsigned long long)(wd / 2000));
	}
}

/* Settings that are valid one by one but not together. */
static int check_combined(const s2sd_config *c)
{
	if (c->max_beam > c->max_rows) {
		fprintf(stderr, "seq2seqd: max_beam = %d exceeds max_rows = %d: a beam must fit in one batch\n",
			c->max_beam, c->max_rows);
		return -1;
	}
	if (c->max_deadline_ms && c->default_deadline_ms > c->max_deadline_ms) {
		fprintf(stderr, "seq2seqd: default_deadline_ms = %d exceeds max_deadline_ms = %d\n",
			c->default_deadline_ms, c->max_deadline_ms);
		return -1;
	}
	if (c->max_deadline_ms && !c->default_deadline_ms && !c->allow_no_deadline) {
		fprintf(stderr, "seq2seqd: default_deadline_ms = 0 (none) needs allow_no_deadline = true or max_deadline_ms = 0\n");
		return -1;
	}
	return 0;
}

/*
 * Reads openapi.json for GET /openapi.json: DATA_DIR/openapi.json where
 * `make install` puts it, else DATA_DIR/proto/openapi.json (a source tree
 * used as data_dir). Absent, the route answers 404; that is not fatal.
 */
static int open_api_spec(s2sd_server *srv, const s2sd_config *cfg)
{
	char err[512] = "", dir[4096];
	if (s2sd_static_load_one(&srv->api_spec, cfg->data_dir, "openapi.json", err, sizeof err) < 0)
		goto fail;
	if (srv->api_spec.n > 0)
		return 0;
	s2sd_static_free(&srv->api_spec);
	snprintf(dir, sizeof dir, "%s/proto", cfg->data_dir);
	if (s2sd_static_load_one(&srv->api_spec, dir, "openapi.json", err, sizeof err) < 0)
		goto fail;
	if (srv->api_spec.n == 0)
		s2sd_log(S2SD_LOG_WARNING, "no openapi.json in %s: GET /openapi.json answers 404",
			 cfg->data_dir);
	return 0;
fail:
	s2sd_log(S2SD_LOG_ERR, "openapi.json: %s", err);
	return -1;
}

/* Reads the dashboard's files and sizes the recent-translations buffer. */
static int open_dashboard(s2sd_server *srv, const s2sd_config *cfg)
{
	char err[512] = "", dir[4096];
	if (s2sd_recent_init(&srv->recent, cfg->recent_translations) < 0) {
		s2sd_log(S2SD_LOG_ERR, "recent_translations: out of memory");
		return -1;
	}
	if (!cfg->dashboard)
		return 0;
	snprintf(dir, sizeof dir, "%s/dashboard", cfg->data_dir);
	if (s2sd_static_load(&srv->dashboard, dir, err, sizeof err) < 0) {
		s2sd_log(S2SD_LOG_ERR, "dashboard: %s", err);
		return -1;
	}
	if (!s2sd_static_find(&srv->dashboard, "index.html"))
		s2sd_log(S2SD_LOG_WARNING, "dashboard: no index.html in %s; serving the API only", dir);
	else
		s2sd_log(S2SD_LOG_INFO, "dashboard: %d file(s) from %s", srv->dashboard.n, dir);
	if (cfg->recent_translations > 0)
		s2sd_log(S2SD_LOG_NOTICE, "keeping the last %d translations in memory for /v1/recent",
			 cfg->recent_translations);
	return 0;
}

static int serve(daemon_state *d, s2sd_config *cfg)
{
	s2sd_server *srv = &d->srv;
	s2sd_sched_options so = {cfg->workers, cfg->batching_step == 1, cfg->max_rows,
				 cfg->admission_window_ms, cfg->queue_length, cfg->debug_step_delay_ms,
				 cfg->request_row_share};
	srv->cfg = cfg;
	srv->loop = uv_default_loop();
	srv->listen_fd = s2sd_listen_fd();
	if (s2sd_models_open(&srv->models, cfg, srv->loop) < 0)
		return -1;
	if (cfg->check_only) {
		s2sd_config_print(cfg, stdout);
		return 0;
	}
	if (open_dashboard(srv, cfg) < 0 || open_api_spec(srv, cfg) < 0)
		return -1;
	if (s2sd_sched_new(srv->loop, &so, s2sd_handle_job_done, srv, &srv->sched) < 0 ||
	    s2sd_http_start(srv) < 0)
		return -1;
	start_handles(d);
	if (srv->listen_fd >= 0)
		s2sd_log(S2SD_LOG_NOTICE, "listening on socket-activated fd %d", srv->listen_fd);
	else
		s2sd_log(S2SD_LOG_NOTICE, "listening on %s:%d", cfg->bind, cfg->port);
	s2sd_log(S2SD_LOG_NOTICE, "serving %d model(s), default %s; %d worker(s), %s-level batching, %d rows",
		 srv->models.n, srv->models.v[0].name, cfg->workers,
		 cfg->batching_step ? "step" : "request", cfg->max_rows);
	s2sd_notifyf("READY=1\nSTATUS=serving %d model(s)", srv->models.n);
	uv_run(srv->loop, UV_RUN_DEFAULT);
	return 0;
}

int main(int argc, char **argv)
{
	s2sd_config cfg;
	daemon_state d;
	memset(&d, 0, sizeof d);
	int rc = s2sd_config_load(&cfg, argc, argv, stdout);
	if (rc == S2SD_CONFIG_RUN)
		rc = check_combined(&cfg) < 0 || s2sd_config_default_models(&cfg) < 0 ||
				     s2sd_config_resolve_ids(&cfg) < 0
			     ? -1
			     : rc;
	if (rc != S2SD_CONFIG_RUN) {
		s2sd_config_deinit(&cfg);
		return rc == S2SD_CONFIG_EXIT_OK ? 0 : 2;
	}
	s2sd_log_init(cfg.log_level);
	/*
	 * Workers already run decoder batches in parallel; OpenBLAS's own pool on
	 * top of that oversubscribes the cores (measured: 8x slower at 64 clients
	 * on 2 cores), so by default each call runs on its caller's thread.
	 */
	if (cfg.blas_threads > 0)
		openblas_set_num_threads(cfg.blas_threads);
	signal(SIGPIPE, SIG_IGN);
	rc = serve(&d, &cfg);
	if (rc < 0)
		s2sd_notify("STATUS=startup failed");
	s2sd_models_close(&d.srv.models);
	s2sd_static_free(&d.srv.dashboard);
	s2sd_static_free(&d.srv.api_spec);
	s2sd_recent_deinit(&d.srv.recent);
	uv_loop_close(uv_default_loop());
	s2sd_config_deinit(&cfg);
	return rc < 0 ? 1 : 0;
}
