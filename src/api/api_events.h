/* api_events.h - the subscribers of GET /api/v1/events (Server-Sent
 * Events, https://html.spec.whatwg.org/multipage/server-sent-events.html).
 *
 * Each subscriber is a libmicrohttpd response read through a callback.
 * It owns a bounded buffer: an event is appended to every buffer, and a
 * connection with nothing to send waits suspended until the next one. A
 * subscriber whose buffer has no room for an event has fallen behind
 * (it stopped reading, or reads slower than boots happen): it is dropped,
 * its connection closed, and logged. So kidou never allocates without
 * limit for a slow reader, and never waits for one. */
#ifndef KIDOU_API_EVENTS_H
#define KIDOU_API_EVENTS_H

#include <stddef.h>
#include <stdint.h>

/* What one subscriber may have pending before it is dropped. */
#define API_STREAM_BUFFER (64 * 1024)

struct api_events;
struct MHD_Connection;
struct MHD_Response;

int api_events_new(unsigned max_streams, struct api_events **ret);
void api_events_set_max(struct api_events *e, unsigned max_streams);
/* A response that streams events to conn: 0 and *resp, -EBUSY past the
 * subscriber limit, -ENOMEM. peer names it in the log. */
int api_events_open(struct api_events *e, struct MHD_Connection *conn, const char *peer,
		    void (*wake)(void *), void *wake_data, struct MHD_Response **resp);
/* Append one SSE message (already framed: "data: ...\n\n") to every
 * subscriber, dropping those without room, and wake their servers. */
void api_events_publish(struct api_events *e, const char *msg, size_t len);
unsigned api_events_count(const struct api_events *e);
uint64_t api_events_dropped(const struct api_events *e);
/* End every stream now (the server is stopping: libmicrohttpd must not
 * be stopped with suspended connections). */
void api_events_close_all(struct api_events *e);
/* Streams still open are detached: their responses free themselves. */
void api_events_free(struct api_events *e);

#endif
