/*
 * listen.c - the listening socket, accepting, connection limits and the
 * header/body deadlines.
 *
 * MHD runs with MHD_USE_NO_LISTEN_SOCKET: this file owns the listening
 * socket (ours, or systemd's under socket activation), accepts in a loop
 * and hands every socket to MHD with MHD_add_connection. libmicrohttpd
 * 0.9.75 in external-epoll mode drops its own listen fd from its epoll set
 * at the connection limit and nothing re-arms it, so a daemon that let MHD
 * accept stopped accepting for good once the limit was reached; here the
 * limit is ours and accepting resumes as soon as a connection closes.
 *
 * Every connection has an s2sd_conn (MHD's socket_context) from
 * MHD_CONNECTION_NOTIFY_STARTED to _CLOSED. A connection is "idle" while no
 * request of it has reached a handler (fresh, between keep-alive requests,
 * or still sending its headers); idle connections are kept oldest first so
 * that at the limit the oldest one can be reclaimed for a waiting client.
 * We close a connection with shutdown(SHUT_RDWR): MHD then sees the end of
 * the stream, cleans it up and reports it CLOSED.
 *
 * Loop thread only.
 */
#define _GNU_SOURCE /* accept4 */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

/* Sockets accepted per wake-up, and how far past max_conns reclaimed ones may keep us. */
#define ACCEPT_BATCH 64
/* Descriptors kept for everything else (models, logs, epoll, pipes, the listener). */
#define FD_RESERVE 64
#define SCAN_MS 250

typedef enum { PHASE_WAIT, PHASE_HEADERS, PHASE_BODY, PHASE_BUSY } conn_phase;

typedef struct s2sd_ip_count {
	struct s2sd_ip_count *next;
	unsigned char addr[16];
	int count;
} s2sd_ip_count;

struct s2sd_conn {
	s2sd_conn *prev, *next;   /* all connections */
	s2sd_conn *iprev, *inext; /* idle list */
	bool idle;                /* on the idle list */
	bool keepalive;           /* a request finished on it before */
	bool closing;             /* shut down by us; MHD has not closed it yet */
	conn_phase phase;
	uint64_t since_ns; /* start of the current phase's deadline */
	int fd;
	s2sd_ip_count *ip; /* NULL when per-IP limits are off */
	s2sd_req *req;     /* the request in progress, if any */
	struct MHD_Connection *mhd;
};

static void listen_resume(s2sd_server *srv);

/* ---- per-IP counts ---- */

/* The address as 16 bytes (IPv4 mapped into IPv6), so both families share one table. */
static void ip_key(const struct sockaddr_storage *ss, unsigned char key[16])
{
	memset(key, 0, 16);
	if (ss->ss_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
	} else if (ss->ss_family == AF_INET) {
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &((const struct sockaddr_in *)ss)->sin_addr, 4);
	}
}

static size_t ip_hash(const unsigned char key[16], size_t n)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (int i = 0; i < 16; i++)
		h = (h ^ key[i]) * 1099511628211ull;
	return (size_t)(h % n);
}

/* Takes one slot for the address; NULL when it is at its limit (or out of memory). */
static s2sd_ip_count *ip_take(s2sd_listener *l, const unsigned char key[16], int limit)
{
	s2sd_ip_count **b = &l->ip_buckets[ip_hash(key, l->n_ip_buckets)];
	s2sd_ip_count *e = *b;
	while (e && memcmp(e->addr, key, 16))
		e = e->next;
	if (!e) {
		e = calloc(1, sizeof *e);
		if (!e)
			return NULL;
		memcpy(e->addr, key, 16);
		e->next = *b;
		*b = e;
	}
	if (e->count >= limit)
		return NULL;
	e->count++;
	return e;
}

static void ip_release(s2sd_listener *l, s2sd_ip_count *e)
{
	if (!e || --e->count > 0)
		return;
	s2sd_ip_count **p = &l->ip_buckets[ip_hash(e->addr, l->n_ip_buckets)];
	while (*p != e)
		p = &(*p)->next;
	*p = e->next;
	free(e);
}

/* ---- the idle list ---- */

static void idle_remove(s2sd_listener *l, s2sd_conn *c)
{
	if (!c->idle)
		return;
	if (c->iprev)
		c->iprev->inext = c->inext;
	else
		l->idle_head = c->inext;
	if (c->inext)
		c->inext->iprev = c->iprev;
	else
		l->idle_tail = c->iprev;
	c->iprev = c->inext = NULL;
	c->idle = false;
}

static void idle_append(s2sd_listener *l, s2sd_conn *c)
{
	idle_remove(l, c);
	c->iprev = l->idle_tail;
	if (l->idle_tail)
		l->idle_tail->inext = c;
	else
		l->idle_head = c;
	l->idle_tail = c;
	c->idle = true;
}

/*
 * Closes c: MHD sees end-of-stream on its next run and reports it CLOSED.
 * `reason` names the metric; a request in its header or body phase first
 * gets a 408 JSON answer written straight to the socket (MHD has not
 * started an answer of its own in those phases).
 */
static void conn_shutdown(s2sd_server *srv, s2sd_conn *c, const char *reason, bool answer_408)
{
	if (c->closing)
		return;
	c->closing = true;
	srv->lst.n_closing++;
	idle_remove(&srv->lst, c);
	if (answer_408 && c->req) {
		s2s_api_error e = {S2S_API_REQUEST_TIMEOUT, ""};
		snprintf(e.message, sizeof e.message, "the request was not received within %s",
			 c->phase == PHASE_BODY ? "body_timeout_s" : "header_timeout_s");
		char *body = s2s_api_error_body(&e), head[256];
		if (body) {
			int n = snprintf(head, sizeof head,
					 "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\n"
					 "Connection: close\r\nX-Request-Id: %.128s\r\nContent-Length: %zu\r\n\r\n",
					 c->req->request_id, strlen(body));
			/* Best effort: a client too slow to send is not waited for when reading. */
			if (send(c->fd, head, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) == n)
				(void)!send(c->fd, body, strlen(body), MSG_DONTWAIT | MSG_NOSIGNAL);
			free(body);
		}
		c->req->timed_out = true;
	}
	shutdown(c->fd, SHUT_RDWR);
	s2sd_metrics_conn_dropped(reason);
	s2sd_log(S2SD_LOG_DEBUG, "connection fd %d closed: %s", c->fd, reason);
}

/* Shuts the oldest idle connection down for a waiting client; false if none is idle. */
static bool reclaim_one(s2sd_server *srv)
{
	s2sd_conn *c = srv->lst.idle_head;
	if (!c)
		return false;
	conn_shutdown(srv, c, "reclaimed", false);
	return true;
}

/* ---- phases, called by http.c ---- */

s2sd_conn *s2sd_conn_of(struct MHD_Connection *mc)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

void s2sd_conn_request_line(s2sd_conn *c, s2sd_req *r)
{
	if (!c)
		return;
	c->req = r;
	if (c->phase == PHASE_WAIT && c->keepalive)
		c->since_ns = s2sd_now_ns(); /* headers of a kept-alive request: from its first line */
	c->phase = PHASE_HEADERS;
}

void s2sd_conn_headers_done(s2sd_conn *c)
{
	if (!c || !c->req)
		return;
	c->since_ns = s2sd_now_ns();
	c->phase = PHASE_BODY;
	idle_remove(&c->req->srv->lst, c);
}

void s2sd_conn_body_done(s2sd_conn *c)
{
	if (c)
		c->phase = PHASE_BUSY;
}

void s2sd_conn_request_done(s2sd_conn *c)
{
	if (!c || !c->req)
		return;
	s2sd_server *srv = c->req->srv;
	c->req = NULL;
	c->phase = PHASE_WAIT;
	c->keepalive = true;
	c->since_ns = s2sd_now_ns();
	if (!c->closing)
		idle_append(&srv->lst, c);
}

/* ---- the deadline scan ---- */

/*
 * Whether the client of an idle connection has closed its end. MHD 0.9.75
 * under edge-triggered epoll can miss a FIN that arrives together with the
 * last bytes of a partial request (it reads the bytes, never the end of
 * the stream), leaving the socket in CLOSE-WAIT until a timeout; a peek
 * finds it.
 */
static bool peer_closed(const s2sd_conn *c)
{
	char b;
	return recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

static void on_scan(uv_timer_t *t)
{
	s2sd_server *srv = t->data;
	const s2sd_config *cfg = srv->cfg;
	uint64_t now = s2sd_now_ns(), s = 1000000000ull;
	bool any = false;
	for (s2sd_conn *c = srv->lst.all_head; c; c = c->next) {
		if (c->closing)
			continue;
		uint64_t age = now - c->since_ns;
		if (c->idle && peer_closed(c))
			conn_shutdown(srv, c, "client_closed", false);
		else if (c->phase == PHASE_WAIT && !c->keepalive && age >= (uint64_t)cfg->header_timeout_s * s)
			conn_shutdown(srv, c, "header_timeout", c->req != NULL);
		else if (c->phase == PHASE_WAIT && c->keepalive && age >= (uint64_t)cfg->idle_timeout_s * s)
			conn_shutdown(srv, c, "idle_timeout", false);
		else if (c->phase == PHASE_HEADERS && age >= (uint64_t)cfg->header_timeout_s * s)
			conn_shutdown(srv, c, "header_timeout", true);
		else if (c->phase == PHASE_BODY && age >= (uint64_t)cfg->body_timeout_s * s)
			conn_shutdown(srv, c, "body_timeout", true);
		else
			continue;
		any = true;
	}
	if (any)
		srv->lst.run_mhd(srv);
}

/* ---- accepting ---- */

static void on_listen(uv_poll_t *p, int status, int events);

static void listen_pause(s2sd_server *srv)
{
	if (srv->lst.polling) {
		uv_poll_stop(&srv->lst.listen_poll);
		srv->lst.polling = false;
	}
}

static void listen_resume(s2sd_server *srv)
{
	s2sd_listener *l = &srv->lst;
	if (l->closed || l->polling || l->paused_fd || !srv->mhd)
		return;
	if (uv_poll_start(&l->listen_poll, UV_READABLE, on_listen) == 0)
		l->polling = true;
}

static void on_retry(uv_timer_t *t)
{
	s2sd_server *srv = t->data;
	srv->lst.paused_fd = false;
	listen_resume(srv);
}

/* Hands an accepted socket to MHD; the connection state is created here and owned by MHD's notifications. */
static void conn_add(s2sd_server *srv, int fd, struct sockaddr_storage *ss, socklen_t len)
{
	s2sd_listener *l = &srv->lst;
	const int per_ip = srv->cfg->max_connections_per_ip;
	s2sd_ip_count *ip = NULL;
	if (per_ip > 0) {
		unsigned char key[16];
		ip_key(ss, key);
		if (!(ip = ip_take(l, key, per_ip))) {
			close(fd); /* nginx limit_conn style: no answer, the client may retry */
			s2sd_metrics_conn_dropped("per_ip_limit");
			return;
		}
	}
	s2sd_conn *c = calloc(1, sizeof *c);
	if (!c) {
		ip_release(l, ip);
		close(fd);
		return;
	}
	c->fd = fd;
	c->ip = ip;
	c->since_ns = s2sd_now_ns();
	l->adding = c;
	l->adding_started = false;
	if (MHD_add_connection(srv->mhd, fd, (struct sockaddr *)ss, len) != MHD_YES &&
	    !l->adding_started) {
		/* MHD closed the socket and never reported the connection. */
		ip_release(l, ip);
		free(c);
	}
	l->adding = NULL;
}

/* Whether one more connection may be accepted now, reclaiming an idle one if that makes room. */
static bool room_for_one(s2sd_server *srv)
{
	s2sd_listener *l = &srv->lst;
	if (l->n_conns >= l->max_conns + ACCEPT_BATCH)
		return false;
	if (l->n_conns - l->n_closing < l->max_conns)
		return true;
	return reclaim_one(srv);
}

static void on_listen(uv_poll_t *p, int status, int events)
{
	s2sd_server *srv = p->data;
	s2sd_listener *l = &srv->lst;
	int added = 0;
	if (status < 0) {
		/* libuv has stopped the handle; try again shortly rather than never */
		s2sd_log(S2SD_LOG_WARNING, "listen socket: %s; retrying in 100 ms", uv_strerror(status));
		l->polling = false;
		l->paused_fd = true;
		uv_timer_start(&l->retry_timer, on_retry, 100, 0);
		return;
	}
	for (int i = 0; i < ACCEPT_BATCH && !l->closed; i++) {
		if (!room_for_one(srv)) {
			listen_pause(srv); /* clients wait in the kernel's backlog; CLOSED resumes us */
			break;
		}
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		int fd = accept4(l->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				/* Out of descriptors: retrying at once would spin; wait for closes. */
				s2sd_log(S2SD_LOG_WARNING, "accept: %s; pausing accepts for 100 ms",
					 strerror(errno));
				s2sd_metrics_conn_dropped("accept_error");
				listen_pause(srv);
				l->paused_fd = true;
				uv_timer_start(&l->retry_timer, on_retry, 100, 0);
			}
			break; /* EAGAIN: the backlog is empty */
		}
		conn_add(srv, fd, &ss, len);
		added++;
	}
	if (added || l->n_closing)
		srv->lst.run_mhd(srv);
}

void s2sd_listen_notify(void *cls, struct MHD_Connection *mc, void **socket_context,
			enum MHD_ConnectionNotificationCode toe)
{
	s2sd_server *srv = cls;
	s2sd_listener *l = &srv->lst;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		s2sd_conn *c = l->adding;
		*socket_context = c;
		if (!c)
			return;
		l->adding_started = true;
		c->mhd = mc;
		c->prev = l->all_tail;
		if (l->all_tail)
			l->all_tail->next = c;
		else
			l->all_head = c;
		l->all_tail = c;
		idle_append(l, c);
		l->n_conns++;
		s2sd_metrics_conn_open(1);
		return;
	}
	s2sd_conn *c = *socket_context;
	*socket_context = NULL;
	if (!c)
		return;
	idle_remove(l, c);
	if (c->prev)
		c->prev->next = c->next;
	else
		l->all_head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		l->all_tail = c->prev;
	if (c->req)
		c->req->cn = NULL;
	if (c->closing)
		l->n_closing--;
	l->n_conns--;
	s2sd_metrics_conn_open(-1);
	ip_release(l, c->ip);
	free(c);
	listen_resume(srv);
}

/* ---- the socket ---- */

static int bind_addr(const s2sd_config *c, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	memset(ss, 0, sizeof *ss);
	if (inet_pton(AF_INET, c->bind, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)c->port);
		*len = sizeof *in4;
		return 0;
	}
	if (inet_pton(AF_INET6, c->bind, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)c->port);
		*len = sizeof *in6;
		return 0;
	}
	s2sd_log(S2SD_LOG_ERR, "bind: \"%s\" is not an IPv4 or IPv6 address", c->bind);
	return -1;
}

static int open_socket(const s2sd_config *cfg)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1;
	if (bind_addr(cfg, &ss, &len) < 0)
		return -1;
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto err;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	/* The kernel caps the backlog at net.core.somaxconn. */
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 4096) < 0)
		goto err;
	return fd;
err:
	s2sd_log(S2SD_LOG_ERR, "http: cannot listen on %s:%d: %s", cfg->bind, cfg->port,
		 strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

/* Raises the soft descriptor limit to the hard one and caps max_connections by it. */
static int fd_budget(const s2sd_config *cfg)
{
	struct rlimit rl;
	int max = cfg->max_connections;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return max;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t want = rl.rlim_max;
		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	/* each connection takes one descriptor, and up to ACCEPT_BATCH more may be closing */
	long avail = (long)rl.rlim_cur - FD_RESERVE - ACCEPT_BATCH;
	if (rl.rlim_cur != RLIM_INFINITY && (long)max > avail) {
		int capped = avail > 1 ? (int)avail : 1;
		s2sd_log(S2SD_LOG_WARNING,
			 "max_connections = %d exceeds what RLIMIT_NOFILE (%llu) allows; using %d",
			 max, (unsigned long long)rl.rlim_cur, capped);
		max = capped;
	}
	return max;
}

int s2sd_listen_open(s2sd_server *srv)
{
	s2sd_listener *l = &srv->lst;
	l->max_conns = fd_budget(srv->cfg);
	l->n_ip_buckets = 1024;
	l->ip_buckets = calloc(l->n_ip_buckets, sizeof *l->ip_buckets);
	if (!l->ip_buckets)
		return -1;
	if (srv->listen_fd >= 0) {
		/* systemd's socket is blocking; accepting must never block the loop */
		int fl = fcntl(srv->listen_fd, F_GETFL);
		if (fl >= 0)
			fcntl(srv->listen_fd, F_SETFL, fl | O_NONBLOCK);
		l->fd = srv->listen_fd;
		l->activated = true;
	} else if ((l->fd = open_socket(srv->cfg)) < 0) {
		return -1;
	}
	return 0;
}

void s2sd_listen_start(s2sd_server *srv, void (*run_mhd)(struct s2sd_server *srv))
{
	s2sd_listener *l = &srv->lst;
	l->run_mhd = run_mhd;
	uv_poll_init_socket(srv->loop, &l->listen_poll, l->fd);
	l->listen_poll.data = srv;
	uv_timer_init(srv->loop, &l->retry_timer);
	l->retry_timer.data = srv;
	uv_timer_init(srv->loop, &l->scan_timer);
	l->scan_timer.data = srv;
	l->started = true;
	uv_timer_start(&l->scan_timer, on_scan, SCAN_MS, SCAN_MS);
	listen_resume(srv);
}

void s2sd_listen_quiesce(s2sd_server *srv)
{
	s2sd_listener *l = &srv->lst;
	if (l->closed)
		return;
	listen_pause(srv);
	l->closed = true;
	if (l->started) {
		uv_timer_stop(&l->retry_timer);
		/* libuv must forget the fd before it is closed */
		uv_close((uv_handle_t *)&l->listen_poll, NULL);
	}
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
}

void s2sd_listen_close(s2sd_server *srv)
{
	s2sd_listener *l = &srv->lst;
	if (!l->ip_buckets)
		return;
	s2sd_listen_quiesce(srv);
	if (l->started) {
		uv_close((uv_handle_t *)&l->retry_timer, NULL);
		uv_close((uv_handle_t *)&l->scan_timer, NULL);
		l->started = false;
	}
	for (size_t i = 0; i < l->n_ip_buckets; i++)
		while (l->ip_buckets[i]) {
			s2sd_ip_count *e = l->ip_buckets[i];
			l->ip_buckets[i] = e->next;
			free(e);
		}
	free(l->ip_buckets);
	l->ip_buckets = NULL;
}
