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

typedef struct s2sd_conn s2sd_conn;
typedef struct s2sd_req s2sd_req;
struct s2sd_server;

/*
 * The listening socket and the connection table (listen.c): the daemon
 * accepts itself and hands each socket to MHD, so accepting never depends
 * on MHD's own listen logic (docs/architecture.md, "Accepting").
 */
typedef struct s2sd_listener {
	int fd;                  /* ours, or systemd's; -1 once quiesced */
	bool activated;          /* fd came from systemd (LISTEN_FDS) */
	bool polling;            /* listen_poll started */
	bool paused_fd;          /* EMFILE/ENFILE: retry_timer runs */
	bool closed;             /* quiesced: never poll again */
	bool started;            /* handles initialised (s2sd_listen_start) */
	uv_poll_t listen_poll;
	uv_timer_t retry_timer;  /* resumes accepting after fd exhaustion */
	uv_timer_t scan_timer;   /* header/body/idle deadlines */
	int max_conns;           /* max_connections, capped by RLIMIT_NOFILE */
	int n_conns;             /* handed to MHD and not yet closed */
	int n_closing;           /* of those, shut down by us */
	s2sd_conn *all_head, *all_tail;   /* every connection, oldest first */
	s2sd_conn *idle_head, *idle_tail; /* no request handed to a handler, oldest first */
	struct s2sd_ip_count **ip_buckets; /* per-IP counts (n_ip_buckets) */
	size_t n_ip_buckets;
	s2sd_conn *adding;   /* the connection inside MHD_add_connection */
	bool adding_started; /* ... and MHD reported it STARTED (then CLOSED owns it) */
	/* Runs MHD after new or shut-down connections (set by http.c; listen.c does not call up). */
	void (*run_mhd)(struct s2sd_server *srv);
} s2sd_listener;

typedef struct s2sd_server {
	const s2sd_config *cfg;
	uv_loop_t *loop;
	s2sd_models models;
	s2sd_sched *sched;
	struct MHD_Daemon *mhd;
	uv_poll_t mhd_poll;
	uv_timer_t mhd_timer;
	int listen_fd; /* socket-activated fd, or -1 */
	s2sd_listener lst;
	bool draining;
	int open_requests; /* requests allocated and not freed */
	s2sd_static dashboard; /* empty when disabled or not installed */
	s2sd_static api_spec;  /* openapi.json for GET /openapi.json; empty when not installed */
	s2sd_recent recent;    /* capacity 0 when disabled */
	/* suspended requests whose disconnect watch is not started yet, oldest first (http.c) */
	s2sd_req *unwatched_head, *unwatched_tail;
	uv_timer_t watch_timer; /* starts their watches once they are S2SD_WATCH_DELAY_MS old */
} s2sd_server;

/*
 * One HTTP request, from its headers to MHD's completion notification
 * (the connection's req_cls). Freed when MHD is done with it and no job or
 * reload still refers to it, whichever comes last.
 */
struct s2sd_req {
	s2sd_server *srv;
	struct MHD_Connection *conn;
	s2sd_conn *cn; /* its connection's state; NULL once MHD is done with the request */
	s2sd_route route;
	bool route_has_name;
	bool started;  /* on_access has been called (else MHD answered or the client left) */
	char method[16];
	char *url;     /* owned; the raw URL until on_access, then the unescaped path */
	size_t raw_url_len;
	bool nul_in_path; /* %00 in the raw path */
	char request_id[129];
	/* checks of the headers, answered at the final call (or the first with Expect: 100-continue) */
	s2s_api_code reject;
	char reject_msg[160];
	bool close_after; /* Connection: close on the answer */
	bool expect_continue;
	bool timed_out;   /* closed by a header/body deadline; counted as 408 */
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
	bool unwatched;   /* suspended, in the server's unwatched list (watch not started yet) */
	uint64_t suspended_ns;
	s2sd_req *uw_prev, *uw_next;
	/* translate state */
	s2s_api_request api;
	s2sd_model_entry *entry;
	char model_name[65];
	s2s_model *model; /* reference held until free */
	s2s_tokens *toks; /* (api.n) plain tokens: sentences without protected spans, passthroughs */
	s2s_spans *spans;   /* (api.n) with a format or glossary (s2s_api_protects), else NULL */
	s2s_masked *masked; /* (api.n) the masked sources of those */
	s2sd_job job;
	int n_tokens;
};

/*
 * How long a suspended request goes without a disconnect watch. Most answers
 * come sooner, so they never pay for one (a uv_poll on the socket: an ioctl,
 * two epoll_ctl calls and a close callback, ~6 % of the loop thread's time at
 * 64 connections); a client that leaves costs at most this much decoding more.
 */
#define S2SD_WATCH_DELAY_MS 100

/* Longest raw URL accepted (414 beyond) and total header bytes (431 beyond). */
#define S2SD_MAX_URL 8192
#define S2SD_MAX_HEADER_BYTES 16384

/* listen.c: the listening socket, accepting, limits and deadlines (loop thread). */
/* Opens the listening socket (or adopts systemd's), raises RLIMIT_NOFILE. 0 or -1 (logged). */
int s2sd_listen_open(s2sd_server *srv);
/* Starts accepting (MHD must be running) and the deadline scan; `run_mhd` runs MHD. */
void s2sd_listen_start(s2sd_server *srv, void (*run_mhd)(struct s2sd_server *srv));
/* Stops accepting for good and closes the listening socket (drain). */
void s2sd_listen_quiesce(s2sd_server *srv);
void s2sd_listen_close(s2sd_server *srv);
/* MHD_OPTION_NOTIFY_CONNECTION */
void s2sd_listen_notify(void *cls, struct MHD_Connection *c, void **socket_context,
			enum MHD_ConnectionNotificationCode toe);
/* Phase changes of a connection's current request (cn may be NULL). */
void s2sd_conn_request_line(s2sd_conn *cn, s2sd_req *r);
void s2sd_conn_headers_done(s2sd_conn *cn);
void s2sd_conn_body_done(s2sd_conn *cn);
void s2sd_conn_request_done(s2sd_conn *cn);
s2sd_conn *s2sd_conn_of(struct MHD_Connection *c);

/* http.c */
int s2sd_http_start(s2sd_server *srv);
/* Runs MHD now and re-arms its timer. */
void s2sd_http_run(s2sd_server *srv);
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
/* Sets r->route from its URL alone (for metrics of requests refused at their headers). */
void s2sd_handle_route(s2sd_req *r);
/*
 * Header-time checks of a request that asked for 100-continue: false (and
 * the error set) when its route, method, declared size or Content-Type
 * already decide the answer, so it goes out instead of 100 Continue.
 */
bool s2sd_handle_early(s2sd_req *r);
/* Scheduler completion callback (ud = server). */
void s2sd_handle_job_done(s2sd_job *job, void *ud);
void s2sd_req_free_translate(s2sd_req *r);
/* SIGHUP: reload every model. */
void s2sd_reload_all(s2sd_server *srv);

#endif
