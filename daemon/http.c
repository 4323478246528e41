/*
 * http.c - libmicrohttpd driven by the libuv loop, and the request life cycle.
 *
 * MHD runs with MHD_USE_EPOLL and no thread of its own: libuv polls MHD's
 * epoll descriptor and calls MHD_run when it is readable or when MHD's own
 * timeout expires, so every MHD callback runs on the loop thread
 * (docs/architecture.md says why). Resuming a connection signals MHD's
 * inter-thread channel, which lives in that epoll set, so the loop wakes up
 * by itself.
 */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

static void run_mhd(s2sd_server *srv);

static void on_mhd_timer(uv_timer_t *t)
{
	run_mhd(t->data);
}

static void on_mhd_poll(uv_poll_t *p, int status, int events)
{
	run_mhd(p->data);
}

/* Lets MHD do its work, then sleeps until its next timeout at the latest. */
static void run_mhd(s2sd_server *srv)
{
	MHD_UNSIGNED_LONG_LONG to;
	if (!srv->mhd)
		return;
	MHD_run(srv->mhd);
	if (MHD_get_timeout(srv->mhd, &to) == MHD_YES)
		uv_timer_start(&srv->mhd_timer, on_mhd_timer, to, 0);
	else
		uv_timer_stop(&srv->mhd_timer);
}

/* ---- request ids: honour a sane X-Request-Id, else 16 hex digits ---- */

static bool valid_request_id(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > 128)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(s[i] >= '0' && s[i] <= '9') && !(s[i] >= 'a' && s[i] <= 'z') &&
		    !(s[i] >= 'A' && s[i] <= 'Z') && !strchr("._:-", s[i]))
			return false;
	return true;
}

static void new_request_id(char *out)
{
	static uint64_t counter;
	uint64_t z = s2sd_now_ns() ^ ((uint64_t)getpid() << 32) ^ (++counter * 0x9e3779b97f4a7c15ull);
	/* splitmix64 finaliser: ids look random and do not repeat within a process */
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	snprintf(out, 17, "%016llx", (unsigned long long)z);
}

const char *s2sd_req_header(s2sd_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

static s2sd_req *req_new(s2sd_server *srv, struct MHD_Connection *conn, const char *url,
			 const char *method)
{
	s2sd_req *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->srv = srv;
	r->conn = conn;
	r->arrival_ns = s2sd_now_ns();
	r->route = S2SD_ROUTE_OTHER;
	snprintf(r->method, sizeof r->method, "%s", method);
	snprintf(r->url, sizeof r->url, "%s", url);
	const char *id = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
	if (id && valid_request_id(id))
		snprintf(r->request_id, sizeof r->request_id, "%s", id);
	else
		new_request_id(r->request_id);
	srv->open_requests++;
	return r;
}

static void req_free(s2sd_req *r)
{
	s2sd_req_free_translate(r);
	free(r->body);
	free(r->resp_body);
	r->srv->open_requests--;
	free(r);
}

static void req_maybe_free(s2sd_req *r)
{
	if (r->mhd_done && !r->busy && !r->watch)
		req_free(r);
}

void s2sd_req_set(s2sd_req *r, int status, char *body, const char *content_type)
{
	free(r->resp_body);
	r->status = status;
	r->resp_body = body;
	r->content_type = content_type;
}

void s2sd_req_error(s2sd_req *r, s2s_api_code code, const char *fmt, ...)
{
	s2s_api_error e = {0};
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e.message, sizeof e.message, fmt, ap);
	va_end(ap);
	e.code = code;
	s2sd_req_set(r, s2s_api_status(code), s2s_api_error_body(&e), "application/json");
	if (code == S2S_API_QUEUE_FULL || code == S2S_API_NOT_READY)
		r->retry_after = 1;
	else if (code == S2S_API_DRAINING)
		r->retry_after = 5;
	r->www_authenticate = code == S2S_API_UNAUTHORIZED;
}

/*
 * Headers of a dashboard file. The page only ever talks to its own origin,
 * so the policy forbids everything else: a script injected through model
 * output (shown as text, but still) could not load or send anything.
 */
static void file_headers(struct MHD_Response *resp, const s2sd_static_file *f)
{
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, f->etag);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "Content-Security-Policy",
				"default-src 'none'; script-src 'self'; style-src 'self'; "
				"img-src 'self' data: blob:; connect-src 'self'; "
				"base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
}

/* A dashboard file (persistent memory, no copy) or a 304 for it. */
static struct MHD_Response *file_response(s2sd_req *r)
{
	struct MHD_Response *resp =
		r->not_modified ? MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT)
				: MHD_create_response_from_buffer(r->file->len, r->file->data,
								  MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return NULL;
	if (!r->not_modified)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->file->type);
	file_headers(resp, r->file);
	return resp;
}

/* Hands r's response to MHD. */
static enum MHD_Result req_answer(s2sd_req *r)
{
	char num[32];
	if (r->file) {
		struct MHD_Response *resp = file_response(r);
		if (!resp)
			return MHD_NO;
		MHD_add_response_header(resp, "X-Request-Id", r->request_id);
		enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)r->status, resp);
		MHD_destroy_response(resp);
		r->answered = true;
		r->answered_ns = s2sd_now_ns();
		return ret;
	}
	if (!r->resp_body)
		s2sd_req_error(r, S2S_API_INTERNAL, "no response was produced");
	const char *body = r->resp_body ? r->resp_body : "";
	struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(body), (void *)body,
								   MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				r->content_type ? r->content_type : "application/json");
	MHD_add_response_header(resp, "X-Request-Id", r->request_id);
	if (r->retry_after) {
		snprintf(num, sizeof num, "%d", r->retry_after);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, num);
	}
	if (r->allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
	if (r->www_authenticate)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	if (r->srv->draining)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)r->status, resp);
	MHD_destroy_response(resp);
	r->answered = true;
	r->answered_ns = s2sd_now_ns();
	return ret;
}

/* Appends upload data, or only counts it once past the limit (413 comes at the end). */
static void req_body(s2sd_req *r, const char *data, size_t len)
{
	size_t max = (size_t)r->srv->cfg->max_body_bytes;
	if (r->too_large || r->body_len + len > max) {
		r->too_large = true;
		return;
	}
	if (r->body_len + len + 1 > r->body_cap) {
		size_t cap = (r->body_len + len + 1) * 2;
		char *b = realloc(r->body, cap < max + 1 ? cap : max + 1);
		if (!b) {
			r->too_large = true;
			return;
		}
		r->body = b;
		r->body_cap = cap < max + 1 ? cap : max + 1;
	}
	memcpy(r->body + r->body_len, data, len);
	r->body_len += len;
	r->body[r->body_len] = '\0';
}

/* ---- suspension and the disconnect watch ---- */

static void on_watch_closed(uv_handle_t *h)
{
	s2sd_req *r = h->data;
	free(h);
	if (r) {
		r->watch = NULL;
		req_maybe_free(r);
	}
}

static void watch_stop(s2sd_req *r)
{
	if (r->watch && !uv_is_closing((uv_handle_t *)r->watch))
		uv_close((uv_handle_t *)r->watch, on_watch_closed);
}

static void resume(s2sd_req *r)
{
	watch_stop(r);
	if (r->suspended) {
		r->suspended = false;
		r->resume_ready = true;
		MHD_resume_connection(r->conn);
		/* Resumption only takes effect inside MHD_run; do not wait for another event. */
		uv_timer_start(&r->srv->mhd_timer, on_mhd_timer, 0, 0);
	}
}

/*
 * MHD does not watch suspended sockets, so we do: readable with nothing to
 * read (recv returns 0) means the client closed its end. Pipelined data is
 * left for MHD and ends the watch.
 */
static void on_watch(uv_poll_t *p, int status, int events)
{
	s2sd_req *r = p->data;
	char c;
	uv_os_fd_t fd;
	ssize_t n = uv_fileno((uv_handle_t *)p, &fd) == 0 ? recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) : 0;
	if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR) && status == 0)) {
		if (n > 0)
			watch_stop(r);
		return;
	}
	r->cancelled = true;
	if (r->busy && s2sd_sched_cancel(r->srv->sched, &r->job))
		r->busy = false;
	s2sd_log(S2SD_LOG_INFO, "request %s: client disconnected, sentences cancelled",
		 r->request_id);
	resume(r);
}

void s2sd_req_suspend(s2sd_req *r)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	MHD_suspend_connection(r->conn);
	r->suspended = true;
	r->watch = ci ? calloc(1, sizeof *r->watch) : NULL;
	if (!r->watch)
		return;
	if (uv_poll_init_socket(r->srv->loop, r->watch, ci->connect_fd) < 0) {
		free(r->watch);
		r->watch = NULL;
		return;
	}
	r->watch->data = r;
	uv_poll_start(r->watch, UV_READABLE | UV_DISCONNECT, on_watch);
}

void s2sd_req_work_done(s2sd_req *r)
{
	r->busy = false;
	if (r->cancelled || r->mhd_done) {
		req_maybe_free(r);
		return;
	}
	resume(r);
}

/* ---- MHD callbacks ---- */

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
				 const char *method, const char *version, const char *upload,
				 size_t *upload_size, void **req_cls)
{
	s2sd_server *srv = cls;
	s2sd_req *r = *req_cls;
	if (!r) {
		*req_cls = req_new(srv, conn, url, method);
		return *req_cls ? MHD_YES : MHD_NO;
	}
	if (*upload_size) {
		req_body(r, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	if (r->resume_ready) {
		r->resume_ready = false;
		return r->cancelled ? MHD_NO : req_answer(r);
	}
	if (r->busy || r->answered)
		return MHD_YES;
	s2sd_handle(r);
	return r->busy ? MHD_YES : req_answer(r);
}

static void access_log(s2sd_req *r)
{
	double ms = r->answered ? (double)(r->answered_ns - r->arrival_ns) / 1e6 : 0;
	s2sd_metrics_request(r->route, r->answered ? r->status : 499, ms / 1e3);
	if (!r->srv->cfg->access_log)
		return;
	s2sd_log(S2SD_LOG_INFO,
		 "access id=%s method=%s path=%s route=%s model=%s sentences=%d tokens=%d status=%d latency_ms=%.3f%s",
		 r->request_id, r->method, r->url, s2sd_route_name(r->route),
		 r->model_name[0] ? r->model_name : "-", r->api.n, r->n_tokens,
		 r->answered ? r->status : 499, ms, r->cancelled ? " cancelled=1" : "");
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	s2sd_req *r = *req_cls;
	if (!r)
		return;
	*req_cls = NULL;
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && !r->answered)
		r->cancelled = true;
	if (r->busy && r->cancelled && s2sd_sched_cancel(r->srv->sched, &r->job))
		r->busy = false;
	watch_stop(r);
	access_log(r);
	r->mhd_done = true;
	req_maybe_free(r);
}

static int bind_addr(const s2sd_config *c, struct sockaddr_storage *ss)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	memset(ss, 0, sizeof *ss);
	if (inet_pton(AF_INET, c->bind, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)c->port);
		return 0;
	}
	if (inet_pton(AF_INET6, c->bind, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)c->port);
		return 0;
	}
	s2sd_log(S2SD_LOG_ERR, "bind: \"%s\" is not an IPv4 or IPv6 address", c->bind);
	return -1;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	s2sd_log(S2SD_LOG_DEBUG, "http: %s", msg);
}

int s2sd_http_start(s2sd_server *srv)
{
	const s2sd_config *c = srv->cfg;
	struct sockaddr_storage ss;
	unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	if (srv->listen_fd < 0 && bind_addr(c, &ss) < 0)
		return -1;
	if (srv->listen_fd < 0 && ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	srv->mhd = MHD_start_daemon(
		flags, (uint16_t)c->port, NULL, NULL, on_access, srv, MHD_OPTION_EXTERNAL_LOGGER,
		mhd_log, srv, MHD_OPTION_NOTIFY_COMPLETED,
		on_completed, srv, MHD_OPTION_CONNECTION_LIMIT, (unsigned)c->max_connections,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)c->idle_timeout_s,
		srv->listen_fd >= 0 ? MHD_OPTION_LISTEN_SOCKET : MHD_OPTION_SOCK_ADDR,
		srv->listen_fd >= 0 ? (intptr_t)srv->listen_fd : (intptr_t)&ss, MHD_OPTION_END);
	if (!srv->mhd) {
		s2sd_log(S2SD_LOG_ERR, "http: cannot listen on %s:%d: %s", c->bind, c->port,
			 strerror(errno));
		return -1;
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	uv_timer_init(srv->loop, &srv->mhd_timer);
	srv->mhd_timer.data = srv;
	uv_poll_init(srv->loop, &srv->mhd_poll, di->epoll_fd);
	srv->mhd_poll.data = srv;
	uv_poll_start(&srv->mhd_poll, UV_READABLE, on_mhd_poll);
	run_mhd(srv);
	return 0;
}

void s2sd_http_quiesce(s2sd_server *srv)
{
	if (!srv->mhd)
		return;
	MHD_socket fd = MHD_quiesce_daemon(srv->mhd);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	run_mhd(srv);
}

void s2sd_http_stop(s2sd_server *srv)
{
	if (!srv->mhd)
		return;
	uv_poll_stop(&srv->mhd_poll);
	uv_timer_stop(&srv->mhd_timer);
	MHD_stop_daemon(srv->mhd);
	srv->mhd = NULL;
	uv_close((uv_handle_t *)&srv->mhd_poll, NULL);
	uv_close((uv_handle_t *)&srv->mhd_timer, NULL);
}
