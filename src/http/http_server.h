/* http_server.h - kidou's HTTP/1.1 server, for iPXE and UEFI HTTP boot.
 *
 * Built on libmicrohttpd, driven by the daemon's own event loop (MHD's
 * epoll descriptor is one more handle in the loop; no threads). GET and
 * HEAD only; one byte range per request; files are sent with sendfile()
 * from a descriptor opened beneath the root exactly as TFTP opens them.
 * A dynamic hook answers generated paths (metrics, boot scripts) before
 * the file tree is consulted. Every request ends in one access-log line. */
#ifndef KIDOU_HTTP_SERVER_H
#define KIDOU_HTTP_SERVER_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "boot/boot_events.h"
#include "config.h"
#include "loop.h"

struct http_server;
struct http_query;
struct MHD_Connection;
struct MHD_Response;

/* A request under /api/, handed whole to the API (api/api.h): it answers
 * every method there itself. */
struct http_api_request {
	const char *method;         /* as sent */
	const char *path;           /* as decoded by libmicrohttpd, with its '/' */
	const char *authorization;  /* the Authorization header, or NULL */
	bool has_body;              /* Content-Length other than 0, or chunked */
	/* A write's body, read whole (at most HTTP_API_BODY_MAX bytes; a
	 * larger one is answered 413 here), NUL-terminated; NULL for none. */
	const char *body;
	size_t body_len;
	bool body_too_large;        /* past HTTP_API_BODY_MAX: the API answers 413 */
	/* Not NULL: the API deferred this request (answer.deferred) and has
	 * resumed it; this is the call that takes its answer. */
	void *resumed;
	struct MHD_Connection *conn; /* for a stream's suspend and resume */
	/* After resuming conn from outside a request callback: have the
	 * server run soon (wake(wake_data)). */
	void (*wake)(void *data);
	void *wake_data;
};

/* The API's answer: a body (malloc'd, taken over), or a streamed
 * response it built itself (taken over). */
struct http_api_answer {
	unsigned status;
	char *body;
	size_t len;
	const char *content_type;
	const char *allow;            /* the Allow header (405), or NULL */
	const char *www_authenticate; /* the WWW-Authenticate header (401), or NULL */
	struct MHD_Response *stream;
	/* Not NULL: the answer comes later (a write waits for its commit).
	 * The server suspends the connection; once the API has resumed it
	 * (and called wake), the server asks again with .resumed = deferred. */
	void *deferred;
};

/* A write's body: what the API reads at most (413 past it). */
#define HTTP_API_BODY_MAX 4096

/* A query-string argument of the request (decoded), or NULL. */
const char *http_query_arg(const struct http_query *q, const char *name);
const struct sockaddr_in *http_query_peer(const struct http_query *q);
/* Our address on the connection (what the client connected to). */
const struct sockaddr_in *http_query_local(const struct http_query *q);

struct http_dynamic {
	/* Answer path (decoded, normalised, without the leading '/'), or
	 * return -ENOENT to let the file tree answer. On 0, *body is malloc'd
	 * and taken over. Other -errno: -EINVAL gives 400, -EACCES 403. */
	int (*generate)(void *data, const char *path, const struct http_query *q,
			char **body, size_t *len, const char **content_type);
	/* The same, asked only when no file of that name exists: generated
	 * content that a file on disk may replace. May be NULL. */
	int (*fallback)(void *data, const char *path, const struct http_query *q,
			char **body, size_t *len, const char **content_type);
	/* Answer a request under /api/ (any method): 0 with *a filled, or
	 * -errno for a 500. May be NULL: /api/ is then a path like any other. */
	int (*api)(void *data, const struct http_api_request *rq, struct http_api_answer *a);
	void *data;
};

enum http_refusal {
	HTTP_REFUSED_MAX_CONNECTIONS,  /* max-connections served: 503 */
	HTTP_REFUSED_PER_ADDRESS,      /* its address's cap reached: 503 */
	HTTP_REFUSED_NO_ROOM,          /* refusal slots full too: closed unanswered */
	HTTP_REFUSED_KINDS
};

struct http_stats {
	uint64_t requests;
	uint64_t bytes;          /* body bytes sent (see http_on_completed for the bound) */
	uint64_t status[6];      /* by class: [2] 2xx ... [5] 5xx */
	uint64_t header_timeouts; /* connections closed for late headers */
	uint64_t refused[HTTP_REFUSED_KINDS];  /* connections refused, by reason */
};

int http_server_new(struct loop *loop, const struct config *cfg,
		    const struct http_dynamic *dynamic, struct http_server **ret);
/* A reload (SIGHUP) in two steps, so the daemon changes everything or
 * nothing: prepare opens cfg's root without touching the running server
 * and returns its fd (or -errno, logged); commit swaps it in and cannot
 * fail. A prepared fd that is not committed is the caller's to close.
 * The listen address needs a restart. */
/* A server for the API alone, on cfg's [api] listen: every path outside
 * /api/ is 404. Reloads do not concern it. */
int http_server_new_api(struct loop *loop, const struct config *cfg,
			const struct http_dynamic *dynamic, struct http_server **ret);
int http_server_reload_prepare(const struct http_server *s, const struct config *cfg);
void http_server_reload_commit(struct http_server *s, int rootfd);
const struct http_stats *http_server_stats(const struct http_server *s);
/* Report every boot file requested, served or missing to events (NULL:
 * nobody listens). The server's own pages (/metrics) are not reported. */
void http_server_set_events(struct http_server *s, struct boot_events *events);
int http_server_local_port(const struct http_server *s);
/* NULL is a no-op. Closes every connection. */
void http_server_free(struct http_server *s);

#endif
