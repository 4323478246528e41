/*
 * http.c - libmicrohttpd driven by the libuv loop, and the request life cycle.
 *
 * MHD runs with MHD_USE_EPOLL and no thread of its own: libuv polls MHD's
 * epoll descriptor and calls MHD_run when it is readable or when MHD's own
 * timeout expires, so every MHD callback runs on the loop thread
 * (docs/architecture.md says why). Resuming a connection signals MHD's
 * inter-thread channel, which lives in that epoll set, so the loop wakes up
 * by itself. MHD has no listening socket: listen.c accepts and hands each
 * connection over.
 *
 * A request's state is created when MHD has parsed its request line (the
 * URI log callback), so requests that MHD itself refuses afterwards (431,
 * 505, ...) still reach on_completed and are counted.
 */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

static void on_mhd_timer(uv_timer_t *t)
{
	s2sd_http_run(t->data);
}

static void on_mhd_poll(uv_poll_t *p, int status, int events)
{
	s2sd_http_run(p->data);
}

/* Lets MHD do its work, then sleeps until its next timeout at the latest. */
void s2sd_http_run(s2sd_server *srv)
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

/*
 * A request whose first line MHD has just parsed; `raw` is its URL as sent
 * (not unescaped; query included). Kept bounded: past S2SD_MAX_URL only the
 * length is remembered, for the 414.
 */
static s2sd_req *req_new(s2sd_server *srv, struct MHD_Connection *conn, const char *raw)
{
	s2sd_req *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->srv = srv;
	r->conn = conn;
	r->arrival_ns = s2sd_now_ns();
	r->route = S2SD_ROUTE_OTHER;
	r->raw_url_len = strlen(raw);
	r->url = strndup(raw, r->raw_url_len > S2SD_MAX_URL ? S2SD_MAX_URL : r->raw_url_len);
	if (!r->url) {
		free(r);
		return NULL;
	}
	/* MHD unescapes the path in place, so an encoded NUL would cut it short. */
	size_t path_len = strcspn(r->url, "?");
	for (size_t i = 0; i + 2 < path_len; i++)
		if (r->url[i] == '%' && r->url[i + 1] == '0' && r->url[i + 2] == '0')
			r->nul_in_path = true;
	new_request_id(r->request_id);
	r->cn = s2sd_conn_of(conn);
	s2sd_conn_request_line(r->cn, r);
	srv->open_requests++;
	return r;
}

static void unwatched_remove(s2sd_req *r);

static void req_free(s2sd_req *r)
{
	unwatched_remove(r);
	s2sd_req_free_translate(r);
	free(r->url);
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
	if (r->srv->draining || r->close_after)
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
	if (r->reject)
		return; /* refused at the headers: read only to keep the connection in sync */
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
	unwatched_remove(r);
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
 * MHD does not watch suspended sockets, so we do. A reset (recv fails, or
 * libuv reports an error) means the client is gone: cancel. End-of-file
 * (recv returns 0) is a half-close: a client may shutdown(SHUT_WR) after
 * its request and still read the answer (RFC 9112 §9.6), so the request goes
 * on and the watch ends (the socket stays readable; watching it would spin),
 * unless cancel_on_eof asks for the old behaviour. Pipelined data is left
 * for MHD and ends the watch.
 */
static void on_watch(uv_poll_t *p, int status, int events)
{
	s2sd_req *r = p->data;
	char c;
	uv_os_fd_t fd;
	errno = 0;
	ssize_t n = uv_fileno((uv_handle_t *)p, &fd) == 0 ? recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) : -1;
	if (n < 0 && (errno == EAGAIN || errno == EINTR) && status == 0)
		return;
	if (n > 0 || (n == 0 && status == 0 && !r->srv->cfg->cancel_on_eof)) {
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

/* Starts the disconnect watch of suspended r. */
static void watch_start(s2sd_req *r)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
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

static void unwatched_remove(s2sd_req *r)
{
	s2sd_server *srv = r->srv;
	if (!r->unwatched)
		return;
	if (r->uw_prev)
		r->uw_prev->uw_next = r->uw_next;
	else
		srv->unwatched_head = r->uw_next;
	if (r->uw_next)
		r->uw_next->uw_prev = r->uw_prev;
	else
		srv->unwatched_tail = r->uw_prev;
	r->uw_prev = r->uw_next = NULL;
	r->unwatched = false;
}

/* Starts the watches of the requests suspended S2SD_WATCH_DELAY_MS ago or more; re-arms. */
static void on_watch_timer(uv_timer_t *t)
{
	s2sd_server *srv = t->data;
	const uint64_t delay = (uint64_t)S2SD_WATCH_DELAY_MS * 1000000ull;
	uint64_t now = s2sd_now_ns();
	s2sd_req *r;
	while ((r = srv->unwatched_head) && now - r->suspended_ns >= delay) {
		unwatched_remove(r);
		watch_start(r);
	}
	if (r)
		uv_timer_start(&srv->watch_timer, on_watch_timer,
			       (r->suspended_ns + delay - now) / 1000000ull + 1, 0);
}

/*
 * Parks r's connection. Its disconnect watch starts only if it is still
 * parked S2SD_WATCH_DELAY_MS later: the list is in suspension order, so one
 * timer, armed for the oldest, serves them all.
 */
void s2sd_req_suspend(s2sd_req *r)
{
	s2sd_server *srv = r->srv;
	MHD_suspend_connection(r->conn);
	r->suspended = true;
	r->suspended_ns = s2sd_now_ns();
	r->unwatched = true;
	r->uw_next = NULL;
	r->uw_prev = srv->unwatched_tail;
	if (srv->unwatched_tail)
		srv->unwatched_tail->uw_next = r;
	else
		srv->unwatched_head = r;
	srv->unwatched_tail = r;
	if (!uv_is_active((uv_handle_t *)&srv->watch_timer))
		uv_timer_start(&srv->watch_timer, on_watch_timer, S2SD_WATCH_DELAY_MS + 1, 0);
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

/* ---- header checks (first on_access call) ---- */

typedef struct {
	int content_length, transfer_encoding, host;
	size_t bytes;
	const char *te;
} header_scan;

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key,
				   const char *value)
{
	header_scan *h = cls;
	h->bytes += strlen(key) + (value ? strlen(value) : 0) + 4; /* ": " and CRLF */
	if (!strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH))
		h->content_length++;
	else if (!strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING))
		h->transfer_encoding++, h->te = value;
	else if (!strcasecmp(key, MHD_HTTP_HEADER_HOST))
		h->host++;
	return MHD_YES;
}

/* Records the first reason to refuse r at its headers. */
static void reject(s2sd_req *r, s2s_api_code code, bool close, const char *msg)
{
	if (r->reject)
		return;
	r->reject = code;
	r->close_after = close;
	snprintf(r->reject_msg, sizeof r->reject_msg, "%s", msg);
}

/*
 * What the headers alone decide, in the order a server must look at them:
 * the URL's length, the headers' size, framing (RFC 9112 §6.3: two
 * Content-Lengths, or one with Transfer-Encoding, make the body's end
 * ambiguous, so the connection is closed after the 400), Host, Expect and
 * an encoded NUL in the path. Returns whether a body was announced.
 */
static bool check_headers(s2sd_req *r, const char *version)
{
	header_scan h = {0};
	MHD_get_connection_values(r->conn, MHD_HEADER_KIND, scan_header, &h);
	const char *expect = s2sd_req_header(r, MHD_HTTP_HEADER_EXPECT);
	const char *cl = s2sd_req_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
	bool body = h.transfer_encoding || (cl && strtoull(cl, NULL, 10) > 0);
	if (r->raw_url_len > S2SD_MAX_URL)
		reject(r, S2S_API_URI_TOO_LONG, body, "the URL is longer than 8192 bytes");
	if (h.bytes > S2SD_MAX_HEADER_BYTES)
		reject(r, S2S_API_HEADERS_TOO_LARGE, body, "the request headers exceed 16384 bytes");
	if (h.content_length > 1)
		reject(r, S2S_API_BAD_REQUEST, true, "more than one Content-Length header");
	if (h.content_length && h.transfer_encoding)
		reject(r, S2S_API_BAD_REQUEST, true, "both Content-Length and Transfer-Encoding");
	if (h.transfer_encoding > 1 || (h.te && strcasecmp(h.te, "chunked")))
		reject(r, S2S_API_BAD_REQUEST, true, "the only Transfer-Encoding accepted is chunked");
	if (!strcmp(version, MHD_HTTP_VERSION_1_1) && h.host != 1)
		reject(r, S2S_API_BAD_REQUEST, body,
		       h.host ? "more than one Host header" : "an HTTP/1.1 request needs a Host header");
	if (expect && strcasecmp(expect, "100-continue"))
		reject(r, S2S_API_EXPECTATION_FAILED, body, "the only Expect value supported is 100-continue");
	r->expect_continue = expect && !strcasecmp(expect, "100-continue");
	if (r->nul_in_path)
		reject(r, S2S_API_NOT_FOUND, body, "no route for a path with an encoded NUL (%00)");
	return body;
}

/* First call: the headers are complete. Returns false when the answer goes out now. */
static bool req_headers(s2sd_req *r, const char *url, const char *method, const char *version)
{
	char *u = strndup(url, S2SD_MAX_URL);
	if (u) {
		free(r->url);
		r->url = u;
	}
	snprintf(r->method, sizeof r->method, "%s", method);
	const char *id = s2sd_req_header(r, "X-Request-Id");
	if (id && valid_request_id(id))
		snprintf(r->request_id, sizeof r->request_id, "%s", id);
	s2sd_conn_headers_done(r->cn);
	s2sd_handle_route(r);
	bool body = check_headers(r, version);
	/*
	 * A client that sent Expect: 100-continue waits for our word before
	 * sending its body: whatever the headers already decide goes out now,
	 * instead of 100 Continue, and the connection closes (the body never
	 * comes). Without Expect the body is read (and dropped) first, so the
	 * answer arrives on a connection still in step.
	 */
	if (!r->expect_continue)
		return true;
	if (!r->reject && s2sd_handle_early(r))
		return true;
	if (r->reject)
		s2sd_req_error(r, r->reject, "%s", r->reject_msg);
	r->close_after = r->close_after || body;
	return false;
}

/* ---- MHD callbacks ---- */

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	return req_new(cls, conn, uri);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
				 const char *method, const char *version, const char *upload,
				 size_t *upload_size, void **req_cls)
{
	s2sd_server *srv = cls;
	s2sd_req *r = *req_cls;
	if (!r && !(r = *req_cls = req_new(srv, conn, url)))
		return MHD_NO;
	if (!r->started) {
		r->started = true;
		if (!req_headers(r, url, method, version)) {
			s2sd_conn_body_done(r->cn);
			return req_answer(r);
		}
		return MHD_YES;
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
	s2sd_conn_body_done(r->cn);
	if (r->reject)
		s2sd_req_error(r, r->reject, "%s", r->reject_msg);
	else
		s2sd_handle(r);
	return r->busy ? MHD_YES : req_answer(r);
}

/*
 * Copies `s` for the access log with every byte that could forge or break a
 * line (controls, space, quote, backslash, non-ASCII) written as \xNN.
 */
static const char *log_escape(const char *s, char *out, size_t n)
{
	size_t k = 0;
	for (; *s && k + 5 < n; s++) {
		unsigned char c = (unsigned char)*s;
		if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\')
			k += (size_t)snprintf(out + k, n - k, "\\x%02x", c);
		else
			out[k++] = (char)c;
	}
	if (*s && k + 3 < n)
		k += (size_t)snprintf(out + k, n - k, "...");
	out[k] = '\0';
	return out;
}

/*
 * One line and the metrics of a finished request. `mhd_status` is the
 * status of an answer libmicrohttpd generated itself (its logger already
 * counted it under route "none"); a request that never reached on_access
 * is counted under "none" too.
 */
static void access_log(s2sd_req *r, int mhd_status)
{
	double ms = r->answered ? (double)(r->answered_ns - r->arrival_ns) / 1e6
				: (double)(s2sd_now_ns() - r->arrival_ns) / 1e6;
	int status = r->timed_out ? 408 : r->answered ? r->status : mhd_status ? mhd_status : 499;
	s2sd_route route = r->started ? r->route : S2SD_ROUTE_NONE;
	if (r->timed_out || r->answered || !mhd_status) {
		s2sd_metrics_request(route, status, ms / 1e3);
		if (r->entry && (route == S2SD_ROUTE_TRANSLATE || route == S2SD_ROUTE_OPENNMT))
			s2sd_metrics_model_request(s2sd_metrics_model(r->entry->name), status, ms / 1e3);
	}
	if (!r->srv->cfg->access_log)
		return;
	char method[80], path[1024], model[300];
	s2sd_log(S2SD_LOG_INFO,
		 "access id=%s method=%s path=%s route=%s model=%s sentences=%d tokens=%d status=%d latency_ms=%.3f%s%s",
		 r->request_id, log_escape(r->started ? r->method : "-", method, sizeof method),
		 log_escape(r->url, path, sizeof path), s2sd_route_name(route),
		 r->model_name[0] ? log_escape(r->model_name, model, sizeof model) : "-", r->api.n,
		 r->n_tokens, status, ms, r->cancelled ? " cancelled=1" : "",
		 mhd_status && !r->answered ? " by=libmicrohttpd" : "");
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	s2sd_req *r = *req_cls;
	if (!r)
		return;
	*req_cls = NULL;
	int mhd_status = 0;
	if (!r->answered) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_HTTP_STATUS);
		mhd_status = ci ? (int)ci->http_status : 0;
	}
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && !r->answered)
		r->cancelled = r->started;
	if (r->busy && r->cancelled && s2sd_sched_cancel(r->srv->sched, &r->job))
		r->busy = false;
	unwatched_remove(r);
	watch_stop(r);
	if (r->cn)
		s2sd_conn_request_done(r->cn);
	r->cn = NULL;
	access_log(r, mhd_status);
	r->mhd_done = true;
	req_maybe_free(r);
}

/*
 * libmicrohttpd's messages go to the debug log. The one that announces an
 * error answer it generates itself (malformed request line, headers too
 * large, bad chunked encoding, unsupported version, ...) is also counted,
 * as seq2seqd_http_requests_total{route="none"}: those answers never reach
 * a handler. The format string is libmicrohttpd 0.9.75's (connection.c,
 * transmit_error_response_len); tests/daemon/test_http_hardening.py fails
 * if a new version words it differently.
 */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	va_list cp;
	va_copy(cp, ap);
	if (!strncmp(fmt, "Error processing request (HTTP response code is %u", 50))
		s2sd_metrics_request(S2SD_ROUTE_NONE, (int)va_arg(cp, unsigned), 0);
	va_end(cp);
	vsnprintf(msg, sizeof msg, fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	s2sd_log(S2SD_LOG_DEBUG, "http: %s", msg);
}

int s2sd_http_start(s2sd_server *srv)
{
	const s2sd_config *c = srv->cfg;
	unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
			 MHD_USE_NO_LISTEN_SOCKET;
	if (s2sd_listen_open(srv) < 0)
		return -1;
	/*
	 * MHD's limit sits above ours (plus the connections being reclaimed),
	 * so it never refuses a socket we accepted. Its memory pool is large
	 * enough for our own 414/431 checks to see a request before MHD has to
	 * refuse it with its built-in (non-JSON) page. Its inactivity timeout
	 * (which restarts on every byte) is a second behind listen.c's total
	 * deadlines, so ours close and count first; it still bounds the phases
	 * we do not time, such as a client slow to read its answer.
	 */
	srv->mhd = MHD_start_daemon(
		flags, 0, NULL, NULL, on_access, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_NOTIFY_CONNECTION,
		s2sd_listen_notify, srv, MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)srv->lst.max_conns + 128,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)c->idle_timeout_s + 1, MHD_OPTION_END);
	if (!srv->mhd) {
		s2sd_log(S2SD_LOG_ERR, "http: cannot start libmicrohttpd: %s", strerror(errno));
		s2sd_listen_close(srv);
		return -1;
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	uv_timer_init(srv->loop, &srv->mhd_timer);
	srv->mhd_timer.data = srv;
	uv_timer_init(srv->loop, &srv->watch_timer);
	srv->watch_timer.data = srv;
	uv_poll_init(srv->loop, &srv->mhd_poll, di->epoll_fd);
	srv->mhd_poll.data = srv;
	uv_poll_start(&srv->mhd_poll, UV_READABLE, on_mhd_poll);
	s2sd_listen_start(srv, s2sd_http_run);
	s2sd_http_run(srv);
	return 0;
}

void s2sd_http_quiesce(s2sd_server *srv)
{
	if (!srv->mhd)
		return;
	s2sd_listen_quiesce(srv);
	s2sd_http_run(srv);
}

void s2sd_http_stop(s2sd_server *srv)
{
	if (!srv->mhd)
		return;
	uv_poll_stop(&srv->mhd_poll);
	uv_timer_stop(&srv->mhd_timer);
	uv_timer_stop(&srv->watch_timer);
	MHD_stop_daemon(srv->mhd);
	srv->mhd = NULL;
	s2sd_listen_close(srv);
	uv_close((uv_handle_t *)&srv->mhd_poll, NULL);
	uv_close((uv_handle_t *)&srv->mhd_timer, NULL);
	uv_close((uv_handle_t *)&srv->watch_timer, NULL);
}
