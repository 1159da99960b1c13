/* http_server.c - see http_server.h. */
#include "http/http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"
#include "http/http_range.h"
#include "log.h"
#include "net.h"
#include "path.h"
#include "util.h"

#define MOD "http"
/* Request line plus headers must fit this: a longer URL gets 414 and
 * longer headers 431, from libmicrohttpd itself. */
#define HTTP_CONNECTION_MEMORY (32 * 1024)

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
	struct boot_events *events;  /* may be NULL */
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
	uint64_t bytes;
	char range[48];
	uint32_t peer_ip;       /* host order; 0 when not IPv4 */
	bool boot_file;         /* a GET for boot content, reported to boot_events */
	bool boot_started;      /* FILE_START reported */
	char event_name[64];    /* normalised path */
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

/* Refuse (close at once) a connection past the limit ourselves: at its
 * own limit libmicrohttpd drops its listening socket from its epoll set
 * and re-adds it only on a later run, which may never come (nothing wakes
 * the loop once the last connection closes). Its own limit is set one
 * higher so that it never gets there. */
static enum MHD_Result http_on_accept(void *cls, const struct sockaddr *addr, socklen_t len)
{
	struct http_server *s = cls;
	const union MHD_DaemonInfo *info =
		MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

	return info && info->num_connections >= s->max_connections ? MHD_NO : MHD_YES;
}

/* --- per request --- */

static void *http_on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct http_server *s = cls;
	struct http_request *rq = calloc(1, sizeof(*rq));
	const union MHD_ConnectionInfo *ci;

	if (!rq)
		return NULL;
	rq->server = s;
	rq->started_usec = now_usec();
	log_quote(rq->uri, sizeof(rq->uri), uri, SIZE_MAX);
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
	struct http_request *rq = *con_cls;
	uint64_t usec;

	if (!rq)
		return;
	usec = now_usec() - rq->started_usec;
	log_info(MOD, "request", "peer=%s method=%s path=%s status=%u bytes=%llu%s%s duration_ms=%llu complete=%s",
		 rq->peer, rq->method[0] ? rq->method : "-", rq->uri, rq->status,
		 (unsigned long long)rq->bytes, rq->range[0] ? " range=" : "", rq->range,
		 (unsigned long long)(usec / 1000),
		 toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "yes" : "no");
	if (rq->boot_started)
		emit_file_event(rq, BOOT_EV_FILE_END, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK,
				toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? NULL : "incomplete");
	else if (rq->boot_file && rq->status == MHD_HTTP_NOT_FOUND)
		emit_file_event(rq, BOOT_EV_FILE_MISS, false, "not-found");
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
	rq->bytes = bytes;
	rq->server->stats.bytes += bytes;
	if (status / 100 < ARRAY_SIZE(rq->server->stats.status))
		rq->server->stats.status[status / 100]++;
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
		rq->headers_seen = true;
		snprintf(rq->method, sizeof(rq->method), "%s",
			 strlen(method) < sizeof(rq->method) ? method : "OTHER");
		s->stats.requests++;
		/* Refusals are answered at once; libmicrohttpd then closes
		 * the connection, which is right for a request we will not
		 * read the body of. */
		if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
		    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
			return http_error(rq, conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD");
		if (MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						MHD_HTTP_HEADER_TRANSFER_ENCODING) ||
		    (MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						 MHD_HTTP_HEADER_CONTENT_LENGTH) &&
		     strcmp(MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							MHD_HTTP_HEADER_CONTENT_LENGTH), "0") != 0))
			return http_error(rq, conn, MHD_HTTP_BAD_REQUEST, "unexpected body");
		/* Everything else is answered in the second call: answering
		 * in the first makes libmicrohttpd close the connection, and
		 * iPXE fetches kernel and initrd over one. */
		return MHD_YES;
	}
	if (*upload_data_size) {
		*upload_data_size = 0;  /* cannot happen without a length; drop it */
		return MHD_YES;
	}
	if (url[0] != '/' || rq->nul_in_path)
		return http_error(rq, conn, MHD_HTTP_BAD_REQUEST, "bad path");
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

int http_server_new(struct loop *loop, const struct config *cfg,
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
	s->rootfd = fs_open_root(cfg->http.root);
	if (dynamic)
		s->dynamic = *dynamic;
	if (s->rootfd < 0) {
		r = s->rootfd;
		log_error(MOD, "root", "root=\"%s\" error=\"%s\"", cfg->http.root, strerror(-r));
		goto fail;
	}
	s->listen_fd = net_tcp_listen(&cfg->http.listen, 128);
	if (s->listen_fd < 0) {
		r = s->listen_fd;
		log_error(MOD, "listen", "addr=%s error=\"%s\"",
			  net_format_endpoint(&cfg->http.listen, ep), strerror(-r));
		goto fail;
	}
	getsockname(s->listen_fd, (struct sockaddr *)&bound, &blen);
	s->port = ntohs(bound.sin_port);
	s->max_connections = cfg->http.max_connections;
	s->mhd = MHD_start_daemon(MHD_USE_EPOLL, 0, http_on_accept, s, http_on_request, s,
				  MHD_OPTION_LISTEN_SOCKET, s->listen_fd,
				  /* main() ignores SIGPIPE; telling libmicrohttpd so is
				   * what lets it send files with sendfile() when driven
				   * from an outside loop. */
				  MHD_OPTION_SIGPIPE_HANDLED_BY_APP, 1,
				  MHD_OPTION_CONNECTION_LIMIT, cfg->http.max_connections + 1,
				  MHD_OPTION_CONNECTION_TIMEOUT, cfg->http.idle_timeout_sec,
				  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONNECTION_MEMORY,
				  MHD_OPTION_URI_LOG_CALLBACK, http_on_uri, s,
				  MHD_OPTION_NOTIFY_COMPLETED, http_on_completed, s,
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
	log_info(MOD, "listening", "addr=%s root=\"%s\"", net_format_endpoint(&bound, ep),
		 cfg->http.root);
	*ret = s;
	return 0;
fail:
	http_server_free(s);
	return r;
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
	safe_close(s->listen_fd);
	safe_close(s->rootfd);
	free(s);
}
