/* api_chunked.h - a large JSON array answered one slice per loop turn.
 *
 * Building GET /api/v1/machines for 10,000 machines at once holds the
 * loop for 60-70 ms, and DHCP and TFTP wait that long. Here the array is
 * built a slice at a time (API_SLICE_ELEMENTS elements, or
 * API_SLICE_BYTES) inside libmicrohttpd's content-reader callback. After
 * each slice the reader suspends its connection and waits its turn:
 * one slice of one reader per loop turn, whatever the number of readers,
 * so the loop's longest stall for the API is one slice, and between two
 * slices the loop serves DHCP, TFTP and the rest.
 *
 * The elements come from a source the caller built from a snapshot of
 * the daemon's state (its cursor in ctx): the source must stay valid
 * across loop turns on its own (copy what may change, or check a
 * generation). A reader holds the snapshot and one slice; at most
 * API_READS_MAX are streaming at a time (-EBUSY past it, a 503). A client
 * that stops reading keeps its slice and snapshot until libmicrohttpd's
 * idle timeout closes it. */
#ifndef KIDOU_API_CHUNKED_H
#define KIDOU_API_CHUNKED_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "loop.h"

#define API_SLICE_ELEMENTS 32
#define API_SLICE_BYTES (32 * 1024)
#define API_READS_MAX 8

struct api_chunked;
struct MHD_Connection;
struct MHD_Response;

struct api_chunked_src {
	/* The next element: 1 with *el (a new reference, taken over), 0 at
	 * the end, or -errno (-ESTALE: the state it reads was replaced; the
	 * answer is cut short and the connection closed). Runs on the loop. */
	int (*next)(void *ctx, json_t **el);
	void (*free)(void *ctx);  /* may be NULL */
	void *ctx;
	const char *what;         /* names the read in the log: "machines" */
};

struct api_chunked_answer {
	/* Either the whole array, when it fit in the first slice (malloc'd,
	 * taken over)... */
	char *body;
	size_t len;
	/* ... or a response streaming the rest (taken over). */
	struct MHD_Response *resp;
};

int api_chunked_new(struct loop *loop, struct api_chunked **ret);
/* Answer src's array: the first slice is built now. src is taken over
 * in every case (freed on failure). -EBUSY: API_READS_MAX are streaming
 * (nothing built), -ENOMEM. wake(wake_data) has conn's server run after a
 * resume from outside it; peer names the client in the log. */
int api_chunked_answer(struct api_chunked *c, const struct api_chunked_src *src,
		       struct MHD_Connection *conn, void (*wake)(void *), void *wake_data,
		       const char *peer, struct api_chunked_answer *ans);
unsigned api_chunked_count(const struct api_chunked *c);
/* End every streaming read now (the server is stopping: no connection may
 * stay suspended). */
void api_chunked_close_all(struct api_chunked *c);
/* Reads still open are detached: they end at their next call. NULL is a
 * no-op. */
void api_chunked_free(struct api_chunked *c);

#endif
