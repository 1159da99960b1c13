/* api_events.c - see api_events.h. */
#include "api/api_events.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "net.h"
#include "util.h"

#define MOD "api"

struct api_stream {
	struct api_events *owner;      /* NULL once detached */
	struct MHD_Connection *conn;
	struct api_stream *prev, *next;
	char *buf;                     /* ring of API_STREAM_BUFFER bytes; NULL once dropped */
	size_t head, len;
	bool suspended;
	void (*wake)(void *);          /* its server runs the resumed connection */
	void *wake_data;
	bool ended;                    /* dropped or closed: the reader ends it */
	uint64_t sent;
	char peer[NET_ENDPOINT_STRLEN];
};

struct api_events {
	struct api_stream *streams;
	unsigned n, max;
	uint64_t dropped;
};

int api_events_new(unsigned max_streams, struct api_events **ret)
{
	struct api_events *e = calloc(1, sizeof(*e));

	if (!e)
		return -ENOMEM;
	e->max = max_streams;
	*ret = e;
	return 0;
}

void api_events_set_max(struct api_events *e, unsigned max_streams)
{
	e->max = max_streams;  /* streams past a lowered limit stay until they end */
}

static void stream_wake(struct api_stream *s)
{
	if (s->suspended) {
		s->suspended = false;
		MHD_resume_connection(s->conn);
		s->wake(s->wake_data);
	}
}

/* End s: its reader returns the end at its next call. A connection
 * blocked on a full socket would not call it again, so it is shut down
 * under libmicrohttpd, whose next run sees the error and closes it. */
static void stream_end(struct api_stream *s, bool shut)
{
	const union MHD_ConnectionInfo *ci;

	s->ended = true;
	free(s->buf);
	s->buf = NULL;
	s->len = 0;
	if (shut && !s->suspended) {
		ci = MHD_get_connection_info(s->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci)
			shutdown(ci->connect_fd, SHUT_RDWR);
	}
	stream_wake(s);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct api_stream *s = cls;
	size_t n, first;

	if (s->ended)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (s->len == 0) {
		/* Nothing to send: wait for the next event (publish resumes). */
		s->suspended = true;
		MHD_suspend_connection(s->conn);
		return 0;
	}
	n = MIN(max, s->len);
	first = MIN(n, API_STREAM_BUFFER - s->head);
	memcpy(out, s->buf + s->head, first);
	memcpy(out + first, s->buf, n - first);
	s->head = (s->head + n) % API_STREAM_BUFFER;
	s->len -= n;
	s->sent += n;
	return (ssize_t)n;
}

static void stream_free(void *cls)
{
	struct api_stream *s = cls;
	struct api_events *e = s->owner;

	if (e) {
		if (s->prev)
			s->prev->next = s->next;
		else
			e->streams = s->next;
		if (s->next)
			s->next->prev = s->prev;
		e->n--;
	}
	log_info(MOD, "events-closed", "peer=%s bytes=%llu", s->peer, (unsigned long long)s->sent);
	free(s->buf);
	free(s);
}

static bool stream_append(struct api_stream *s, const char *msg, size_t len)
{
	size_t tail, first;

	if (API_STREAM_BUFFER - s->len < len)
		return false;
	tail = (s->head + s->len) % API_STREAM_BUFFER;
	first = MIN(len, API_STREAM_BUFFER - tail);
	memcpy(s->buf + tail, msg, first);
	memcpy(s->buf, msg + first, len - first);
	s->len += len;
	return true;
}

int api_events_open(struct api_events *e, struct MHD_Connection *conn, const char *peer,
		    void (*wake)(void *), void *wake_data, struct MHD_Response **resp)
{
	/* A comment first, so a client sees its stream open at once. */
	static const char hello[] = ": kidou boot events\n\n";
	struct api_stream *s;

	if (e->n >= e->max)
		return -EBUSY;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->buf = malloc(API_STREAM_BUFFER);
	if (!s->buf) {
		free(s);
		return -ENOMEM;
	}
	s->conn = conn;
	s->wake = wake;
	s->wake_data = wake_data;
	snprintf(s->peer, sizeof(s->peer), "%s", peer);
	stream_append(s, hello, sizeof(hello) - 1);
	*resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, s,
						  stream_free);
	if (!*resp) {
		free(s->buf);
		free(s);
		return -ENOMEM;
	}
	s->owner = e;
	s->next = e->streams;
	if (e->streams)
		e->streams->prev = s;
	e->streams = s;
	e->n++;
	log_info(MOD, "events-open", "peer=%s streams=%u", s->peer, e->n);
	return 0;
}

void api_events_publish(struct api_events *e, const char *msg, size_t len)
{
	for (struct api_stream *s = e->streams; s; s = s->next) {
		if (s->ended)
			continue;
		if (!stream_append(s, msg, len)) {
			e->dropped++;
			log_warn(MOD, "events-dropped", "peer=%s reason=slow-reader pending=%zu limit=%d",
				 s->peer, s->len, API_STREAM_BUFFER);
			stream_end(s, true);
			continue;
		}
		stream_wake(s);
	}
}

unsigned api_events_count(const struct api_events *e)
{
	return e->n;
}

uint64_t api_events_dropped(const struct api_events *e)
{
	return e->dropped;
}

void api_events_close_all(struct api_events *e)
{
	if (!e)
		return;
	for (struct api_stream *s = e->streams; s; s = s->next)
		if (!s->ended)
			stream_end(s, false);
}

void api_events_free(struct api_events *e)
{
	if (!e)
		return;
	for (struct api_stream *s = e->streams; s; s = s->next)
		s->owner = NULL;
	free(e);
}
