/* http_server.c - see http_server.h. */
#include "http/http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <linux/tcp.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/page.h"
#include "fs.h"
#include "http/http_peers.h"
#include "http/http_range.h"
#include "log.h"
#include "net.h"
#include "path.h"
#include "util.h"

#define MOD "http"
/* Request line plus headers must fit this: a longer URL gets 414 and
 * longer headers 431, from libmicrohttpd itself. */
#define HTTP_CONNECTION_MEMORY (32 * 1024)
/* Connections accepted past max-connections (or past a client's own cap)
 * only to be answered 503 and closed. Past these too, there is no room to
 * answer and a new connection is closed at once. */
#define HTTP_REFUSAL_SLOTS 64

struct http_conn;

struct http_server {
	struct loop *loop;
	struct MHD_Daemon *mhd;
	int listen_fd;          /* owned by MHD once started */
	int port;
	int rootfd;
	struct loop_io io;      /* MHD's epoll descriptor */
	struct loop_timer timer;
	struct http_dynamic dynamic;
	struct http_stats stats;
	unsigned max_connections;
	unsigned max_per_address;
	unsigned active;             /* connections accepted to be served */
	uint64_t header_timeout_usec;
	struct http_peers *peers;    /* active connections per client address */
	/* Connections whose request headers are due, oldest deadline first:
	 * every deadline is "now + header_timeout", so appending keeps the
	 * order and the timer only ever looks at the head. */
	struct http_conn *waiting_head, *waiting_tail;
	struct loop_timer header_timer;
	/* Statuses of answers libmicrohttpd gave itself, not yet logged. */
	struct http_mhd_answers {
		unsigned status[16];
		size_t first, n;
	} mhd_answers;
	struct boot_events *events;  /* may be NULL */
};

/* One TCP connection, from accept to close: libmicrohttpd's socket
 * context. Requests on it come and go (struct http_request). */
struct http_conn {
	struct http_server *server;
	struct MHD_Connection *mhd;
	struct http_conn *prev, *next;  /* in the waiting list */
	bool waiting;                   /* on the list: headers due by deadline_usec */
	uint64_t deadline_usec;
	uint32_t ip;                    /* host order; 0 when not IPv4 */
	bool refused;                   /* answered 503 at accept, not counted active */
	bool in_request;                /* a request began (URI seen) and is not logged yet */
	unsigned requests;              /* requests completed on it */
	char peer[NET_ENDPOINT_STRLEN];
};

/* One request, from its URI to its completion. */
struct http_request {
	struct http_server *server;
	uint64_t started_usec;
	char peer[NET_ENDPOINT_STRLEN];
	char method[8];
	char uri[160];          /* quoted for the log */
	bool headers_seen;      /* the first access-handler call has happened */
	bool nul_in_path;       /* %00 in the path: it would decode to a NUL */
	unsigned status;
	uint64_t bytes;         /* body bytes queued; what was sent, once complete */
	uint64_t acked_at_start; /* the socket's TCP bytes acknowledged before it */
	size_t raw_uri_len;     /* strlen of the URI as libmicrohttpd first gave it */
	const char *raw_uri;    /* ... and where, in its read buffer */
	char range[48];
	uint32_t peer_ip;       /* host order; 0 when not IPv4 */
	bool boot_file;         /* a GET for boot content, reported to boot_events */
	bool boot_started;      /* FILE_START reported */
	char event_name[64];    /* normalised path */
	/* An API write: its body (HTTP_API_BODY_MAX at most) as it arrives. */
	bool api_write;
	bool body_too_large;
	char *body;
	size_t body_len;
	void *api_deferred;     /* the API answers later; the conn is suspended */
};

static void emit_file_event(struct http_request *rq, enum boot_event_kind kind, bool ok,
			    const char *reason)
{
	struct boot_event ev = { .kind = kind, .at_usec = now_usec(), .ip = rq->peer_ip,
				 .proto = "http", .name = rq->event_name, .bytes = rq->bytes,
				 .ok = ok, .reason = reason };

	boot_events_emit(rq->server->events, &ev);
}

struct http_query {
	struct MHD_Connection *conn;
	struct sockaddr_in peer;
	struct sockaddr_in local;
};

const char *http_query_arg(const struct http_query *q, const char *name)
{
	return MHD_lookup_connection_value(q->conn, MHD_GET_ARGUMENT_KIND, name);
}

const struct sockaddr_in *http_query_peer(const struct http_query *q)
{
	return &q->peer;
}

const struct sockaddr_in *http_query_local(const struct http_query *q)
{
	return &q->local;
}

static void query_init(struct http_query *q, struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	socklen_t len = sizeof(q->local);

	*q = (struct http_query){ .conn = conn };
	if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
		memcpy(&q->peer, ci->client_addr, sizeof(q->peer));
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ci && getsockname(ci->connect_fd, (struct sockaddr *)&q->local, &len) < 0)
		memset(&q->local, 0, sizeof(q->local));
}

/* Run a generator hook and turn its result into a response; -ENOENT
 * (nothing queued) when the hook has nothing for this path. */
static int http_try_generated(struct http_request *rq, struct MHD_Connection *conn,
			      int (*hook)(void *, const char *, const struct http_query *,
					  char **, size_t *, const char **),
			      void *data, const char *path, enum MHD_Result *result);

/* --- driving MHD from our loop --- */

static void http_schedule(struct http_server *s)
{
	MHD_UNSIGNED_LONG_LONG ms;

	if (MHD_get_timeout(s->mhd, &ms) == MHD_YES)
		loop_timer_arm(s->loop, &s->timer, (uint64_t)ms * 1000);
	else
		loop_timer_disarm(s->loop, &s->timer);
}

static void http_on_io(struct loop_io *io, uint32_t revents)
{
	struct http_server *s = io->data;

	MHD_run(s->mhd);
	http_schedule(s);
}

static void http_on_timer(struct loop_timer *t)
{
	struct http_server *s = t->data;

	MHD_run(s->mhd);
	http_schedule(s);
}

/* Close a connection at once, without a word, only when even the refusal
 * slots are taken: up to max-connections it is served, past that (or past
 * its address's cap) it is accepted to be answered 503 (conn_admit). We
 * refuse ourselves rather than let libmicrohttpd reach its own limit: there
 * it drops its listening socket from its epoll set and re-adds it only on a
 * later run, which may never come (nothing wakes the loop once the last
 * connection closes). Its own limit is set one higher than ours. */
static enum MHD_Result http_on_accept(void *cls, const struct sockaddr *addr, socklen_t len)
{
	struct http_server *s = cls;
	const union MHD_DaemonInfo *info =
		MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

	if (info && info->num_connections >= s->max_connections + HTTP_REFUSAL_SLOTS) {
		s->stats.refused[HTTP_REFUSED_NO_ROOM]++;
		return MHD_NO;
	}
	return MHD_YES;
}

static int conn_fd(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

	return ci ? ci->connect_fd : -1;
}

static struct http_conn *conn_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

/* Bytes of this connection the peer's TCP has acknowledged (Linux 4.2+,
 * RFC 4898 ThruOctetsAcked), or UINT64_MAX when unknown. */
static uint64_t conn_bytes_acked(struct MHD_Connection *conn)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	int fd = conn_fd(conn);

	if (fd < 0 || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 ||
	    len < offsetof(struct tcp_info, tcpi_bytes_acked) + sizeof(ti.tcpi_bytes_acked))
		return UINT64_MAX;
	return ti.tcpi_bytes_acked;
}

/* One access-log line for a request, whoever answered it. */
static void log_request(const struct http_request *rq, bool complete)
{
	log_info(MOD, "request", "peer=%s method=%s path=%s status=%u bytes=%llu%s%s duration_ms=%llu complete=%s",
		 rq->peer, rq->method[0] ? rq->method : "-", rq->uri, rq->status,
		 (unsigned long long)rq->bytes, rq->range[0] ? " range=" : "", rq->range,
		 (unsigned long long)((now_usec() - rq->started_usec) / 1000),
		 complete ? "yes" : "no");
}

static void count_status(struct http_server *s, unsigned status)
{
	if (status / 100 < ARRAY_SIZE(s->stats.status))
		s->stats.status[status / 100]++;
}

static unsigned mhd_answer_take(struct http_server *s, unsigned status);

/* A closing connection that never reached a request callback of ours but
 * was sent something: libmicrohttpd answered it (414 for a request line
 * too long for its buffer, 505), already counted. Its access-log line
 * takes the oldest status not yet logged: exact unless two such answers
 * close in the same run, when two peers may swap their statuses. An
 * answer on a keep-alive connection after a request of ours is counted
 * but not logged. */
static void conn_log_mhd_answer(struct http_server *s, struct http_conn *c,
				struct MHD_Connection *conn)
{
	struct http_request rq = { .server = s, .started_usec = now_usec() };
	uint64_t acked;

	if (c->refused || c->in_request || c->requests || !s->mhd_answers.n)
		return;
	acked = conn_bytes_acked(conn);
	if (acked == 0 || acked == UINT64_MAX)
		return;
	memcpy(rq.peer, c->peer, sizeof(rq.peer));
	snprintf(rq.uri, sizeof(rq.uri), "-");
	rq.status = mhd_answer_take(s, 0);
	log_request(&rq, false);
}

/* --- per connection: header deadlines, refusals --- */

static void waiting_remove(struct http_server *s, struct http_conn *c)
{
	if (!c->waiting)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->waiting_head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		s->waiting_tail = c->prev;
	c->prev = c->next = NULL;
	c->waiting = false;
}

/* Headers of c's next request are due header-timeout from now. Every
 * deadline is now + the same timeout, so the list stays sorted and an
 * armed timer never fires later than the new tail needs. */
static void waiting_append(struct http_server *s, struct http_conn *c)
{
	waiting_remove(s, c);
	c->deadline_usec = now_usec() + s->header_timeout_usec;
	c->prev = s->waiting_tail;
	if (s->waiting_tail)
		s->waiting_tail->next = c;
	else
		s->waiting_head = c;
	s->waiting_tail = c;
	c->waiting = true;
	if (!loop_timer_armed(&s->header_timer))
		loop_timer_arm(s->loop, &s->header_timer, s->header_timeout_usec);
}

/* Headers not complete in time: close. libmicrohttpd has no call to close
 * a connection from outside, so shut the socket down under it; its next
 * run reads the end and closes for good. A client that has not finished a
 * request yet is told why first (408, RFC 9110 15.5.9, with Connection:
 * close as it asks); an idle keep-alive connection is closed without a
 * word (RFC 9112 9.5), as a 408 there would read as the answer to the next
 * request its client may be sending at that moment. */
static void conn_expire(struct http_server *s, struct http_conn *c)
{
	static const char msg[] = "HTTP/1.1 408 Request Timeout\r\n"
				  "Connection: close\r\n"
				  "Content-Type: text/plain; charset=utf-8\r\n"
				  "Content-Length: 20\r\n\r\n"
				  "408 request timeout\n";
	int fd = conn_fd(c->mhd);

	if (!c->refused) {
		s->stats.header_timeouts++;
		log_info(MOD, "header-timeout", "peer=%s timeout_s=%llu requests=%u", c->peer,
			 (unsigned long long)(s->header_timeout_usec / 1000000), c->requests);
	}
	if (fd < 0)
		return;
	if (!c->refused && c->requests == 0)
		(void)!send(fd, msg, sizeof(msg) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	shutdown(fd, SHUT_RDWR);
}

static void http_on_header_timer(struct loop_timer *t)
{
	struct http_server *s = t->data;
	uint64_t now = now_usec();
	bool expired = false;

	while (s->waiting_head && s->waiting_head->deadline_usec <= now) {
		struct http_conn *c = s->waiting_head;

		waiting_remove(s, c);
		conn_expire(s, c);
		expired = true;
	}
	if (s->waiting_head)
		loop_timer_arm(s->loop, t, s->waiting_head->deadline_usec - now);
	if (expired) {
		MHD_run(s->mhd);  /* reap them now, not on the next wakeup */
		http_schedule(s);
	}
}

/* Serve the new connection, or refuse it with 503 (RFC 9110 15.6.4) when
 * max-connections are being served or its address has its cap. The answer
 * goes out before the client has asked: nothing it sends can change it,
 * and a 503 read late is better than a reset. Then only our side closes
 * (SHUT_WR), so that the client's request arriving after our close does
 * not turn into a reset that could destroy the 503 in flight; the
 * connection holds a refusal slot until the client closes, or its header
 * deadline at the latest. */
static void conn_admit(struct http_server *s, struct http_conn *c)
{
	static const char msg[] = "HTTP/1.1 503 Service Unavailable\r\n"
				  "Connection: close\r\n"
				  "Retry-After: 1\r\n"
				  "Content-Type: text/plain; charset=utf-8\r\n"
				  "Content-Length: 25\r\n\r\n"
				  "503 too many connections\n";
	enum http_refusal why;
	int fd;

	if (s->active >= s->max_connections)
		why = HTTP_REFUSED_MAX_CONNECTIONS;
	else if (c->ip && http_peers_count(s->peers, c->ip) >= s->max_per_address)
		why = HTTP_REFUSED_PER_ADDRESS;
	else if (http_peers_add(s->peers, c->ip) < 0)
		why = HTTP_REFUSED_MAX_CONNECTIONS;  /* table full: cannot happen below the limit */
	else {
		s->active++;
		waiting_append(s, c);
		return;
	}
	c->refused = true;
	s->stats.refused[why]++;
	log_info(MOD, "refused", "peer=%s reason=%s status=503", c->peer,
		 why == HTTP_REFUSED_PER_ADDRESS ? "max-connections-per-address" : "max-connections");
	fd = conn_fd(c->mhd);
	if (fd >= 0) {
		(void)!send(fd, msg, sizeof(msg) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
		shutdown(fd, SHUT_WR);
	}
	waiting_append(s, c);
}

static void http_on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			       enum MHD_ConnectionNotificationCode code)
{
	struct http_server *s = cls;
	struct http_conn *c = *socket_context;
	const union MHD_ConnectionInfo *ci;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		c = calloc(1, sizeof(*c));
		if (!c) {
			int fd = conn_fd(conn);
			if (fd >= 0)
				shutdown(fd, SHUT_RDWR);
			return;
		}
		c->server = s;
		c->mhd = conn;
		ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET) {
			const struct sockaddr_in *sin = (const struct sockaddr_in *)ci->client_addr;
			net_format_endpoint(sin, c->peer);
			c->ip = ntohl(sin->sin_addr.s_addr);
		} else
			snprintf(c->peer, sizeof(c->peer), "-");
		*socket_context = c;
		conn_admit(s, c);
		return;
	}
	if (!c)
		return;
	conn_log_mhd_answer(s, c, conn);
	waiting_remove(s, c);
	if (!c->refused) {
		s->active--;
		http_peers_del(s->peers, c->ip);
	}
	free(c);
	*socket_context = NULL;
}

/* libmicrohttpd's own messages. One of them is the only place it tells
 * the status of an answer it gives by itself (400, 414, 431, 505): count
 * it here, where every such answer passes exactly once, and keep it for
 * the access-log line (http_on_completed, or conn_log_mhd_answer when it
 * answered before any callback of ours). The rest is debug. */
#define MHD_ERROR_MSG "Error processing request (HTTP response code is %u"

static void http_on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct http_server *s = cls;
	char text[256], quoted[300];

	if (strncmp(fmt, MHD_ERROR_MSG, strlen(MHD_ERROR_MSG)) == 0) {
		unsigned status = va_arg(ap, unsigned);
		struct http_mhd_answers *a = &s->mhd_answers;

		s->stats.requests++;
		count_status(s, status);
		a->status[(a->first + a->n) % ARRAY_SIZE(a->status)] = status;
		if (a->n < ARRAY_SIZE(a->status))
			a->n++;
		else
			a->first = (a->first + 1) % ARRAY_SIZE(a->status);
		return;
	}
	vsnprintf(text, sizeof(text), fmt, ap);
	log_quote(quoted, sizeof(quoted), text, strcspn(text, "\n"));
	log_debug(MOD, "libmicrohttpd", "message=%s", quoted);
}

/* Take status from the statuses libmicrohttpd answered with (0: none):
 * the given one, or the oldest when status is 0. */
static unsigned mhd_answer_take(struct http_server *s, unsigned status)
{
	struct http_mhd_answers *a = &s->mhd_answers;
	size_t cap = ARRAY_SIZE(a->status);

	for (size_t i = 0; i < a->n; i++) {
		size_t at = (a->first + i) % cap;
		unsigned found = a->status[at];

		if (status && found != status)
			continue;
		for (size_t j = i; j + 1 < a->n; j++)
			a->status[(a->first + j) % cap] = a->status[(a->first + j + 1) % cap];
		a->n--;
		return found;
	}
	return 0;
}

/* --- per request --- */

/* The URI for the access log, with the value of a token= argument (the
 * API's done callback: a one-time credential) left out. */
static void log_quote_uri(char *out, size_t size, const char *uri)
{
	const char *q = strchr(uri, '?');
	const char *t = NULL;
	char buf[256];

	for (const char *p = q; p && !t; p = strchr(p + 1, '&'))
		if (strncmp(p + 1, "token=", 6) == 0)
			t = p + 7;
	if (!t) {
		log_quote(out, size, uri, SIZE_MAX);
		return;
	}
	snprintf(buf, sizeof(buf), "%.*s-%s", (int)MIN((size_t)(t - uri), (size_t)200), uri,
		 strchr(t, '&') ? strchr(t, '&') : "");
	log_quote(out, size, buf, SIZE_MAX);
}

static void *http_on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct http_server *s = cls;
	struct http_conn *c = conn_of(conn);
	struct http_request *rq;
	const union MHD_ConnectionInfo *ci;

	/* No request on a connection already refused: it gets no more than
	 * its 503, and no access-log line of its own. */
	if (!c || c->refused)
		return NULL;
	rq = calloc(1, sizeof(*rq));
	if (!rq)
		return NULL;
	c->in_request = true;
	rq->server = s;
	rq->started_usec = now_usec();
	rq->acked_at_start = conn_bytes_acked(conn);
	rq->raw_uri = uri;
	rq->raw_uri_len = strlen(uri);
	log_quote_uri(rq->uri, sizeof(rq->uri), uri);
	/* libmicrohttpd decodes the path into a C string, so "a.txt%00.bin"
	 * would arrive as "a.txt": a different name than the one asked for. */
	for (const char *p = uri; *p && *p != '?'; p++)
		if (p[0] == '%' && p[1] == '0' && p[2] == '0')
			rq->nul_in_path = true;
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ci->client_addr;
		net_format_endpoint(sin, rq->peer);
		rq->peer_ip = ntohl(sin->sin_addr.s_addr);
	} else
		snprintf(rq->peer, sizeof(rq->peer), "-");
	return rq;
}

static void http_on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			      enum MHD_RequestTerminationCode toe)
{
	struct http_server *s = cls;
	struct http_request *rq = *con_cls;
	struct http_conn *c = conn_of(conn);
	const union MHD_ConnectionInfo *ci;

	if (!rq)
		return;
	if (c) {
		c->in_request = false;
		c->requests++;
		/* The next request's headers are due from now (a closing
		 * connection leaves the list again at once). */
		if (!c->refused)
			waiting_append(s, c);
	}
	if (!rq->status) {
		/* Not answered by us: libmicrohttpd answered itself (400 for a
		 * malformed header, 431, 505) or the client went away. */
		ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_HTTP_STATUS);
		if (ci && ci->http_status)
			rq->status = mhd_answer_take(s, ci->http_status);  /* counted there */
	} else if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && rq->bytes) {
		/* The client left early. What libmicrohttpd wrote is unknown,
		 * and what it wrote may still sit in socket buffers: count
		 * what the client's TCP acknowledged since the request began
		 * (headers included, so up to their size too much), never
		 * more than the body. */
		uint64_t acked = conn_bytes_acked(conn);

		if (acked != UINT64_MAX && rq->acked_at_start != UINT64_MAX &&
		    acked >= rq->acked_at_start)
			rq->bytes = MIN(rq->bytes, acked - rq->acked_at_start);
	}
	s->stats.bytes += rq->bytes;
	log_request(rq, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);
	if (rq->boot_started)
		emit_file_event(rq, BOOT_EV_FILE_END, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK,
				toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? NULL : "incomplete");
	else if (rq->boot_file && rq->status == MHD_HTTP_NOT_FOUND)
		emit_file_event(rq, BOOT_EV_FILE_MISS, false, "not-found");
	free(rq->body);
	free(rq);
	*con_cls = NULL;
}

static const char *content_type_for(const char *path)
{
	static const struct { const char *ext, *type; } types[] = {
		{ ".ipxe", "text/plain; charset=utf-8" },
		{ ".cfg", "text/plain; charset=utf-8" },
		{ ".txt", "text/plain; charset=utf-8" },
		{ ".conf", "text/plain; charset=utf-8" },
		{ ".html", "text/html; charset=utf-8" },
		{ ".json", "application/json" },
		{ ".iso", "application/x-iso9660-image" },
	};
	const char *dot = strrchr(path, '.');

	for (size_t i = 0; dot && i < ARRAY_SIZE(types); i++)
		if (strcmp(dot, types[i].ext) == 0)
			return types[i].type;
	return "application/octet-stream";
}

static enum MHD_Result http_queue(struct http_request *rq, struct MHD_Connection *conn,
				  unsigned status, struct MHD_Response *resp, uint64_t bytes)
{
	enum MHD_Result r;

	if (!resp)
		return MHD_NO;
	if (strcmp(rq->method, "HEAD") == 0)
		bytes = 0;  /* headers only */
	rq->status = status;
	rq->bytes = bytes;  /* what was sent is counted on completion */
	count_status(rq->server, status);
	r = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	if (r == MHD_YES && rq->boot_file && status / 100 == 2) {
		rq->boot_started = true;
		emit_file_event(rq, BOOT_EV_FILE_START, true, NULL);
	}
	return r;
}

static enum MHD_Result http_error(struct http_request *rq, struct MHD_Connection *conn,
				  unsigned status, const char *text)
{
	char body[96];
	int n = snprintf(body, sizeof(body), "%u %s\n", status, text);
	struct MHD_Response *resp =
		MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);

	if (resp) {
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
		if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
			MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	}
	return http_queue(rq, conn, status, resp, (uint64_t)n);
}

static enum MHD_Result http_serve_generated(struct http_request *rq,
					    struct MHD_Connection *conn, char *body,
					    size_t len, const char *type)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);

	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	return http_queue(rq, conn, MHD_HTTP_OK, resp, len);
}

/* Serve what fs_open_beneath() gave for path: a descriptor or -errno. */
static enum MHD_Result http_serve_file(struct http_request *rq, struct MHD_Connection *conn,
				       const char *path, int fd)
{
	const char *range = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							MHD_HTTP_HEADER_RANGE);
	struct MHD_Response *resp;
	uint64_t start = 0, len;
	unsigned status = MHD_HTTP_OK;
	struct stat st;
	int r;

	if (fd < 0) {
		if (fd == -ENOENT || fd == -ENOTDIR)
			return http_error(rq, conn, MHD_HTTP_NOT_FOUND, "not found");
		if (fd == -ENAMETOOLONG)
			return http_error(rq, conn, MHD_HTTP_URI_TOO_LONG, "name too long");
		return http_error(rq, conn, MHD_HTTP_FORBIDDEN, "forbidden");
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return http_error(rq, conn, MHD_HTTP_FORBIDDEN, "not a file");
	}
	len = (uint64_t)st.st_size;
	if (range) {
		char q[40];
		log_quote(q, sizeof(q), range, SIZE_MAX);
		snprintf(rq->range, sizeof(rq->range), "%s", q);
		r = http_range_parse(range, (uint64_t)st.st_size, &start, &len);
		if (r == -ERANGE || r == -EOPNOTSUPP) {
			char cr[48];
			close(fd);
			resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
			if (resp) {
				snprintf(cr, sizeof(cr), "bytes */%llu", (unsigned long long)st.st_size);
				MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
			}
			return http_queue(rq, conn, MHD_HTTP_RANGE_NOT_SATISFIABLE, resp, 0);
		}
		if (r == 0)
			status = MHD_HTTP_PARTIAL_CONTENT;
		else
			start = 0, len = (uint64_t)st.st_size;  /* not a byte range: ignore it */
	}
	/* MHD owns fd from here and sends it with sendfile(). */
	resp = MHD_create_response_from_fd_at_offset64(len, fd, start);
	if (!resp) {
		close(fd);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type_for(path));
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
	if (status == MHD_HTTP_PARTIAL_CONTENT) {
		char cr[80];
		snprintf(cr, sizeof(cr), "bytes %llu-%llu/%llu", (unsigned long long)start,
			 (unsigned long long)(start + len - 1), (unsigned long long)st.st_size);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
	}
	return http_queue(rq, conn, status, resp, len);
}

static int http_try_generated(struct http_request *rq, struct MHD_Connection *conn,
			      int (*hook)(void *, const char *, const struct http_query *,
					  char **, size_t *, const char **),
			      void *data, const char *path, enum MHD_Result *result)
{
	struct http_query q;
	char *body = NULL;
	size_t len = 0;
	const char *type = "text/plain; charset=utf-8";
	int r;

	query_init(&q, conn);
	r = hook(data, path, &q, &body, &len, &type);
	if (r == -ENOENT)
		return r;
	if (r == 0)
		*result = http_serve_generated(rq, conn, body, len, type);
	else if (r == -EINVAL)
		*result = http_error(rq, conn, MHD_HTTP_BAD_REQUEST, "bad request");
	else if (r == -EACCES)
		*result = http_error(rq, conn, MHD_HTTP_FORBIDDEN, "forbidden");
	else
		*result = http_error(rq, conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error");
	return 0;
}

/* Run libmicrohttpd at the loop's next turn: a connection was resumed
 * from outside its run (an event for a stream), and nothing on its
 * sockets would wake it. */
static void http_wake(void *data)
{
	struct http_server *s = data;

	loop_timer_arm(s->loop, &s->timer, 0);
}

static bool is_api_path(const struct http_server *s, const char *url)
{
	return s->dynamic.api && strncmp(url, "/api/", 5) == 0;
}

/* The status page (api/page.h) goes where the API goes; "/" is its own
 * only on the API's own server, the one without a file tree. */
static bool is_page_path(const struct http_server *s, const char *url)
{
	return s->dynamic.api && page_owns(url, s->rootfd < 0);
}

/* One of the page's embedded files, or 404. no-cache with an ETag: the
 * browser asks again each time, and an unchanged file costs a 304. */
static enum MHD_Result http_serve_page(struct http_request *rq, struct MHD_Connection *conn,
				       const char *url)
{
	const struct page_file *f = page_find(url, rq->server->rootfd < 0);
	const char *inm;
	struct MHD_Response *resp;
	unsigned status = MHD_HTTP_OK;

	if (!f)
		return http_error(rq, conn, MHD_HTTP_NOT_FOUND, "not found");
	inm = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
	if (inm && strcmp(inm, f->etag) == 0)
		status = MHD_HTTP_NOT_MODIFIED;
	resp = MHD_create_response_from_buffer(status == MHD_HTTP_OK ? f->len : 0,
					       (void *)f->data, MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, f->content_type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, f->etag);
	MHD_add_response_header(resp, "Content-Security-Policy", PAGE_CSP);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	return http_queue(rq, conn, status, resp, status == MHD_HTTP_OK ? f->len : 0);
}

/* Hand a request under /api/ to the API and queue what it answers. */
static enum MHD_Result http_answer_api(struct http_request *rq, struct MHD_Connection *conn,
				       const char *url, const char *method, bool has_body)
{
	struct http_server *s = rq->server;
	struct http_api_request q = {
		.method = method, .path = url, .has_body = has_body, .conn = conn,
		.wake = http_wake, .wake_data = s,
		.authorization = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_AUTHORIZATION),
		.body = rq->body, .body_len = rq->body_len, .resumed = rq->api_deferred,
		.body_too_large = rq->body_too_large,
	};
	struct http_api_answer a = { 0 };
	struct MHD_Response *resp;
	uint64_t len;

	rq->api_deferred = NULL;
	if (s->dynamic.api(s->dynamic.data, &q, &a) < 0)
		return http_error(rq, conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error");
	if (a.deferred) {
		/* Nothing queued: libmicrohttpd calls again once resumed. */
		rq->api_deferred = a.deferred;
		MHD_suspend_connection(conn);
		return MHD_YES;
	}
	if (a.stream) {
		resp = a.stream;
		len = 0;  /* counted as it goes is not known here */
	} else {
		resp = MHD_create_response_from_buffer(a.len, a.body, MHD_RESPMEM_MUST_FREE);
		if (!resp) {
			free(a.body);
			return MHD_NO;
		}
		len = a.len;
	}
	if (a.content_type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, a.content_type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (a.allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, a.allow);
	if (a.www_authenticate)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, a.www_authenticate);
	return http_queue(rq, conn, a.status, resp, len);
}

struct header_scan {
	unsigned host;  /* Host header lines */
	bool body;      /* a Transfer-Encoding, or a Content-Length other than 0 */
	uint64_t length; /* the largest Content-Length given */
};

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key,
				   const char *value)
{
	struct header_scan *h = cls;

	if (ascii_streq_nocase(key, MHD_HTTP_HEADER_HOST))
		h->host++;
	else if (ascii_streq_nocase(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) ||
		 (ascii_streq_nocase(key, MHD_HTTP_HEADER_CONTENT_LENGTH) &&
		  (!value || strcmp(value, "0") != 0))) {
		h->body = true;
		if (value && ascii_streq_nocase(key, MHD_HTTP_HEADER_CONTENT_LENGTH)) {
			unsigned long long n = strtoull(value, NULL, 10);
			if (n > h->length)
				h->length = n;
		}
	}
	return MHD_YES;
}

/* libmicrohttpd hands the URI on as a C string, so "GET /a.txt<NUL>.bin"
 * would be served as "/a.txt". The URI it first showed us (http_on_uri)
 * points into its read buffer, where the request line still lies whole,
 * and version points just past the URI's end there: anything between the
 * string's end and the version but the one separator is a NUL inside the
 * URI. */
static bool nul_in_request_line(const struct http_request *rq, const char *version)
{
	/* Pointers into one buffer only; anything else is not ours to judge. */
	if (!rq->raw_uri || !version || version <= rq->raw_uri ||
	    (size_t)(version - rq->raw_uri) > HTTP_CONNECTION_MEMORY)
		return false;
	return (size_t)(version - rq->raw_uri) != rq->raw_uri_len + 1;
}

static enum MHD_Result http_on_request(void *cls, struct MHD_Connection *conn,
				       const char *url, const char *method,
				       const char *version, const char *upload_data,
				       size_t *upload_data_size, void **con_cls)
{
	struct http_server *s = cls;
	struct http_request *rq = *con_cls;
	char path[PATH_NAME_MAX];
	enum MHD_Result res;
	int r, fd;

	if (!rq)
		return MHD_NO;  /* out of memory in http_on_uri */
	if (rq->status)
		return MHD_YES;  /* already answered; MHD calls again for a body */
	if (!rq->headers_seen) {
		struct header_scan h = { 0 };
		struct http_conn *c = conn_of(conn);

		rq->headers_seen = true;
		if (c)
			waiting_remove(s, c);  /* headers complete in time */
		snprintf(rq->method, sizeof(rq->method), "%s",
			 strlen(method) < sizeof(rq->method) ? method : "OTHER");
		s->stats.requests++;
		MHD_get_connection_values(conn, MHD_HEADER_KIND, scan_header, &h);
		/* Refusals are answered at once; libmicrohttpd then closes
		 * the connection, which is right for a request we will not
		 * read the body of. */
		if (nul_in_request_line(rq, version))
			return http_error(rq, conn, MHD_HTTP_BAD_REQUEST, "NUL in request line");
		/* RFC 9112 3.2: 400 for HTTP/1.1 without Host, and for any
		 * request with more than one. HTTP/1.0 clients need not send
		 * it (iPXE sends it, old PXE-era tools may not). */
		if (h.host > 1 || (h.host == 0 && strcmp(version, MHD_HTTP_VERSION_1_0) != 0))
			return http_error(rq, conn, MHD_HTTP_BAD_REQUEST, "missing or repeated Host");
		/* The API answers every method under /api/ itself, in JSON.
		 * A read without a body is answered in the second call, like
		 * a file; anything else now, its body unread (the connection
		 * then closes, as it must with a body left in it). */
		if (is_api_path(s, url)) {
			bool read = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
				    strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
			if (read && !h.body)
				return MHD_YES;
			if (read)
				return http_answer_api(rq, conn, url, method, h.body);
			/* A write: its body is read (bounded) and the API
			 * answers in the last call. A Content-Length past the
			 * bound is refused before a byte of it is read. */
			rq->api_write = true;
			if (h.length > HTTP_API_BODY_MAX) {
				rq->body_too_large = true;
				return http_answer_api(rq, conn, url, method, true);
			}
			return MHD_YES;
		}
		if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
		    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
			return http_error(rq, conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD");
		/* Every Content-Length is looked at, not just the first: two
		 * that disagree frame the message two ways (RFC 9112 6.3,
		 * request smuggling), and a body we will not read must not
		 * be read as the next request. */
		if (h.body)
			return http_error(rq, conn, MHD_HTTP_BAD_REQUEST, "unexpected body");
		/* Everything else is answered in the second call: answering
		 * in the first makes libmicrohttpd close the connection, and
		 * iPXE fetches kernel and initrd over one. */
		return MHD_YES;
	}
	if (rq->api_write && *upload_data_size) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (rq->body_too_large || rq->body_len + n > HTTP_API_BODY_MAX) {
			rq->body_too_large = true;  /* chunked: read on, keep nothing */
			return MHD_YES;
		}
		if (!rq->body && !(rq->body = malloc(HTTP_API_BODY_MAX + 1)))
			return MHD_NO;
		memcpy(rq->body + rq->body_len, upload_data, n);
		rq->body_len += n;
		rq->body[rq->body_len] = '\0';
		return MHD_YES;
	}
	if (*upload_data_size) {
		*upload_data_size = 0;  /* cannot happen without a length; drop it */
		return MHD_YES;
	}
	if (rq->api_write)
		return http_answer_api(rq, conn, url, method, rq->body_len > 0 || rq->body_too_large);
	if (url[0] != '/' || rq->nul_in_path)
		return http_error(rq, conn, MHD_HTTP_BAD_REQUEST, "bad path");
	if (is_api_path(s, url))
		return http_answer_api(rq, conn, url, method, false);
	if (is_page_path(s, url))
		return http_serve_page(rq, conn, url);
	if (s->rootfd < 0)
		return http_error(rq, conn, MHD_HTTP_NOT_FOUND, "not found");  /* the API's own server */
	/* url is already %-decoded by MHD, so "%2e%2e" arrives as ".." and
	 * is refused here like any other. */
	r = path_normalize(url, strlen(url), path, sizeof(path));
	if (r == -EACCES)
		return http_error(rq, conn, MHD_HTTP_FORBIDDEN, "forbidden");
	if (r == -ENAMETOOLONG)
		return http_error(rq, conn, MHD_HTTP_URI_TOO_LONG, "name too long");
	if (r < 0 && strcmp(url, "/") != 0)
		return http_error(rq, conn, MHD_HTTP_BAD_REQUEST, "bad path");
	if (r < 0)
		snprintf(path, sizeof(path), "%s", "");
	if (s->dynamic.generate &&
	    http_try_generated(rq, conn, s->dynamic.generate, s->dynamic.data, path, &res) == 0)
		return res;
	/* Past the server's own pages: what follows is boot content, a
	 * step in some machine's boot. HEAD fetches nothing. */
	rq->boot_file = strcmp(rq->method, "GET") == 0;
	snprintf(rq->event_name, sizeof(rq->event_name), "%.*s", (int)sizeof(rq->event_name) - 1, path[0] ? path : "/");
	/* A file on disk wins over generated content of the same name. */
	fd = path[0] ? fs_open_beneath(s->rootfd, path) : -ENOENT;
	if (fd == -ENOENT && s->dynamic.fallback &&
	    http_try_generated(rq, conn, s->dynamic.fallback, s->dynamic.data, path, &res) == 0)
		return res;
	return http_serve_file(rq, conn, path, fd);
}

/* --- lifecycle --- */

/* root NULL: a server for the API alone, no file tree. */
static int server_start(struct loop *loop, const struct config *cfg,
			const struct sockaddr_in *listen, const char *root,
			const struct http_dynamic *dynamic, struct http_server **ret)
{
	struct http_server *s = calloc(1, sizeof(*s));
	const union MHD_DaemonInfo *info;
	char ep[NET_ENDPOINT_STRLEN];
	struct sockaddr_in bound;
	socklen_t blen = sizeof(bound);
	int r;

	if (!s)
		return -ENOMEM;
	s->loop = loop;
	s->listen_fd = -1;
	s->rootfd = root ? fs_open_root(root) : -1;
	if (dynamic)
		s->dynamic = *dynamic;
	if (root && s->rootfd < 0) {
		r = s->rootfd;
		log_error(MOD, "root", "root=\"%s\" error=\"%s\"", cfg->http.root, strerror(-r));
		goto fail;
	}
	s->listen_fd = net_tcp_listen(listen, 128);
	if (s->listen_fd < 0) {
		r = s->listen_fd;
		log_error(MOD, "listen", "addr=%s error=\"%s\"",
			  net_format_endpoint(listen, ep), strerror(-r));
		goto fail;
	}
	getsockname(s->listen_fd, (struct sockaddr *)&bound, &blen);
	s->port = ntohs(bound.sin_port);
	s->max_connections = cfg->http.max_connections;
	s->max_per_address = cfg->http.max_connections_per_address;
	s->header_timeout_usec = (uint64_t)cfg->http.header_timeout_sec * 1000000;
	loop_timer_init(&s->header_timer, http_on_header_timer, s);
	r = http_peers_new(s->max_connections, &s->peers);
	if (r < 0)
		goto fail;
	/* Suspend and resume: the API's event streams wait suspended for
	 * their next event. A resume from outside libmicrohttpd's run is
	 * only seen at its next run, which http_wake asks for. */
	s->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME, 0, http_on_accept, s, http_on_request, s,
				  MHD_OPTION_EXTERNAL_LOGGER, http_on_mhd_log, s,
				  MHD_OPTION_LISTEN_SOCKET, s->listen_fd,
				  /* main() ignores SIGPIPE; telling libmicrohttpd so is
				   * what lets it send files with sendfile() when driven
				   * from an outside loop. */
				  MHD_OPTION_SIGPIPE_HANDLED_BY_APP, 1,
				  MHD_OPTION_CONNECTION_LIMIT,
				  cfg->http.max_connections + HTTP_REFUSAL_SLOTS + 1,
				  MHD_OPTION_CONNECTION_TIMEOUT, cfg->http.idle_timeout_sec,
				  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONNECTION_MEMORY,
				  MHD_OPTION_URI_LOG_CALLBACK, http_on_uri, s,
				  MHD_OPTION_NOTIFY_COMPLETED, http_on_completed, s,
				  MHD_OPTION_NOTIFY_CONNECTION, http_on_connection, s,
				  MHD_OPTION_END);
	if (!s->mhd) {
		r = -EIO;
		log_error(MOD, "start", "error=\"libmicrohttpd refused to start\"");
		goto fail;
	}
	info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info) {
		r = -EIO;
		goto fail;
	}
	s->io = (struct loop_io){ .fd = info->epoll_fd, .events = EPOLLIN,
				  .cb = http_on_io, .data = s };
	r = loop_io_add(loop, &s->io);
	if (r < 0)
		goto fail;
	loop_timer_init(&s->timer, http_on_timer, s);
	http_schedule(s);
	bound.sin_port = htons((uint16_t)s->port);
	log_info(MOD, "listening", "addr=%s root=\"%s\"%s", net_format_endpoint(&bound, ep),
		 root ? root : "", root ? "" : " serves=api");
	*ret = s;
	return 0;
fail:
	http_server_free(s);
	return r;
}

int http_server_new(struct loop *loop, const struct config *cfg,
		    const struct http_dynamic *dynamic, struct http_server **ret)
{
	return server_start(loop, cfg, &cfg->http.listen, cfg->http.root, dynamic, ret);
}

int http_server_new_api(struct loop *loop, const struct config *cfg,
			const struct http_dynamic *dynamic, struct http_server **ret)
{
	struct http_dynamic api_only = { .api = dynamic->api, .data = dynamic->data };

	return server_start(loop, cfg, &cfg->api.listen, NULL, &api_only, ret);
}

int http_server_reload_prepare(const struct http_server *s, const struct config *cfg)
{
	int fd = fs_open_root(cfg->http.root);

	if (fd < 0)
		log_error(MOD, "reload", "root=\"%s\" error=\"%s\" action=keep-old",
			  cfg->http.root, strerror(-fd));
	return fd;
}

void http_server_reload_commit(struct http_server *s, int rootfd)
{
	/* Responses already queued hold their own descriptors. */
	safe_close(s->rootfd);
	s->rootfd = rootfd;
}

const struct http_stats *http_server_stats(const struct http_server *s)
{
	return &s->stats;
}

void http_server_set_events(struct http_server *s, struct boot_events *events)
{
	s->events = events;
}

int http_server_local_port(const struct http_server *s)
{
	return s->port;
}

void http_server_free(struct http_server *s)
{
	if (!s)
		return;
	if (s->mhd) {
		loop_io_del(s->loop, &s->io);
		loop_timer_disarm(s->loop, &s->timer);
		MHD_stop_daemon(s->mhd);  /* closes the listening socket too */
		s->listen_fd = -1;
	}
	loop_timer_disarm(s->loop, &s->header_timer);
	http_peers_free(s->peers);
	safe_close(s->listen_fd);
	safe_close(s->rootfd);
	free(s);
}
