/*
 * server.h - the daemon's state shared by the HTTP layer (http.c), the
 * endpoint handlers (handlers.c) and main.c, and the per-request state.
 *
 * Everything here belongs to the loop thread; workers only see the s2sd_job
 * embedded in a request, through the scheduler.
 */
#ifndef S2SD_SERVER_H
#define S2SD_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include <microhttpd.h>
#include <uv.h>

#include "settings.h"
#include "metrics.h"
#include "models.h"
#include "s2s_api.h"
#include "sched.h"
#include "recent.h"
#include "static.h"

typedef struct s2sd_server {
	const s2sd_config *cfg;
	uv_loop_t *loop;
	s2sd_models models;
	s2sd_sched *sched;
	struct MHD_Daemon *mhd;
	uv_poll_t mhd_poll;
	uv_timer_t mhd_timer;
	int listen_fd; /* socket-activated fd, or -1 */
	bool draining;
	int open_requests; /* requests allocated and not freed */
	s2sd_static dashboard; /* empty when disabled or not installed */
	s2sd_recent recent;    /* capacity 0 when disabled */
} s2sd_server;

/*
 * One HTTP request, from its headers to MHD's completion notification
 * (the connection's req_cls). Freed when MHD is done with it and no job or
 * reload still refers to it, whichever comes last.
 */
typedef struct s2sd_req {
	s2sd_server *srv;
	struct MHD_Connection *conn;
	s2sd_route route;
	bool route_has_name;
	char method[16];
	char url[256];
	char request_id[129];
	uint64_t arrival_ns, answered_ns;
	/* body */
	char *body;
	size_t body_len, body_cap;
	bool too_large;
	/* response, queued on the final handler call or after resume */
	int status;
	char *resp_body; /* owned */
	const char *content_type;
	const s2sd_static_file *file; /* a dashboard file to send instead of resp_body */
	bool not_modified;            /* 304 for `file` (If-None-Match matched) */
	int retry_after; /* seconds; 0 = no header */
	const char *allow;
	bool www_authenticate;
	bool answered;
	/* asynchronous work */
	bool suspended, resume_ready, busy, cancelled, mhd_done;
	uv_poll_t *watch; /* disconnect watch while suspended; freed in its close callback */
	/* translate state */
	s2s_api_request api;
	s2sd_model_entry *entry;
	char model_name[65];
	s2s_model *model; /* reference held until free */
	s2s_tokens *toks; /* (api.n) */
	s2sd_job job;
	int n_tokens;
} s2sd_req;

/* http.c */
int s2sd_http_start(s2sd_server *srv);
/* Stops accepting new connections (listen socket closed); in-flight requests go on. */
void s2sd_http_quiesce(s2sd_server *srv);
void s2sd_http_stop(s2sd_server *srv);
/* Sets the response of r (takes `body`, a malloc'd string). */
void s2sd_req_set(s2sd_req *r, int status, char *body, const char *content_type);
/* Sets an error response from the API error table. */
void s2sd_req_error(s2sd_req *r, s2s_api_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Parks the connection until s2sd_req_resume; the request must be busy. */
void s2sd_req_suspend(s2sd_req *r);
/* The async work of r ended (response set unless r->cancelled): answer and/or free. */
void s2sd_req_work_done(s2sd_req *r);
const char *s2sd_req_header(s2sd_req *r, const char *name);

/* handlers.c */
void s2sd_handle(s2sd_req *r);
/* Scheduler completion callback (ud = server). */
void s2sd_handle_job_done(s2sd_job *job, void *ud);
void s2sd_req_free_translate(s2sd_req *r);
/* SIGHUP: reload every model. */
void s2sd_reload_all(s2sd_server *srv);

#endif
