/* api_chunked.c - see api_chunked.h. */
#include "api/api_chunked.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "net.h"
#include "util.h"

#define MOD "api"

struct api_read {
	struct api_chunked *owner;      /* NULL once detached */
	struct api_read *prev, *next;   /* every open read */
	struct api_read *next_wait;     /* the queue of reads waiting for a turn */
	bool waiting;
	struct MHD_Connection *conn;
	void (*wake)(void *);
	void *wake_data;
	struct api_chunked_src src;
	/* The slice being sent: buf[pos, len). */
	char *buf;
	size_t len, cap, pos;
	size_t elements;                /* built so far */
	bool may_build;                 /* its turn came: one slice */
	bool suspended, done, ended;
	const char *result;             /* for the log line at the end */
	unsigned slices;
	uint64_t start_usec, max_slice_usec, max_slice_cpu_usec, sent;
	char peer[NET_ENDPOINT_STRLEN];
};

struct api_chunked {
	struct loop *loop;
	struct api_read *reads;
	struct api_read *wait_head, *wait_tail;
	unsigned n;
	struct loop_timer turn;
};

static int buf_reserve(struct api_read *r, size_t more)
{
	size_t cap = r->cap ? r->cap : 4096;
	char *b;

	if (r->len + more <= r->cap)
		return 0;
	while (cap < r->len + more)
		cap *= 2;
	b = realloc(r->buf, cap);
	if (!b)
		return -ENOMEM;
	r->buf = b;
	r->cap = cap;
	return 0;
}

/* Append el (taken over) after its separator, dumped by jansson into the
 * room there is; only an element larger than that is dumped twice
 * (json_dumpb returns the size it needs). */
static int buf_element(struct api_read *r, json_t *el)
{
	size_t n;

	if (!el || buf_reserve(r, 1024) < 0)
		goto fail;
	r->buf[r->len] = r->elements ? ',' : '[';
	n = json_dumpb(el, r->buf + r->len + 1, r->cap - r->len - 1, JSON_COMPACT);
	if (n == 0)
		goto fail;
	if (n > r->cap - r->len - 1) {
		if (buf_reserve(r, n + 1) < 0)
			goto fail;
		json_dumpb(el, r->buf + r->len + 1, n, JSON_COMPACT);
	}
	r->len += n + 1;
	r->elements++;
	json_decref(el);
	return 0;
fail:
	json_decref(el);
	return -ENOMEM;
}

/* The next slice into buf (what was there is sent): up to
 * API_SLICE_ELEMENTS elements or API_SLICE_BYTES, and the closing ']'
 * after the last. 0 or -errno (the source's, or -ENOMEM). */
/* CPU time of this thread: what a slice costs, without the time the
 * process was preempted (a busy machine inflates the wall time). */
static uint64_t cpu_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int build_slice(struct api_read *r)
{
	uint64_t start = now_usec(), cpu = cpu_usec(), took;
	bool end = false;
	int e = 0;

	r->len = r->pos = 0;
	for (unsigned k = 0; k < API_SLICE_ELEMENTS && r->len < API_SLICE_BYTES; k++) {
		json_t *el = NULL;

		e = r->src.next(r->src.ctx, &el);
		if (e == 0)
			end = true;
		if (e <= 0)
			break;
		e = buf_element(r, el);
		if (e < 0)
			break;
	}
	if (e == 0 && end) {
		/* the source ended: close the array */
		if (buf_reserve(r, 2) < 0)
			return -ENOMEM;
		if (r->elements == 0)
			r->buf[r->len++] = '[';
		r->buf[r->len++] = ']';
		r->done = true;
	}
	took = now_usec() - start;
	if (took > r->max_slice_usec)
		r->max_slice_usec = took;
	took = cpu_usec() - cpu;
	if (took > r->max_slice_cpu_usec)
		r->max_slice_cpu_usec = took;
	r->slices++;
	return e < 0 ? e : 0;
}

/* The next turn: the loop's next iteration, after it has dispatched
 * every ready descriptor (DHCP takes up to 64 datagrams a wakeup, TFTP its
 * sessions, HTTP its connections) and its due timers. A turn of its own
 * (a timer, not a resume from within the slice's run) is what makes the
 * gap: libmicrohttpd would otherwise call the reader again at once while
 * the socket takes more. */
static void turn_arm(struct api_chunked *c)
{
	if (c->wait_head && !loop_timer_armed(&c->turn))
		loop_timer_arm(c->loop, &c->turn, 0);
}

static void wait_remove(struct api_chunked *c, struct api_read *r)
{
	struct api_read *prev = NULL;

	if (!r->waiting)
		return;
	for (struct api_read *w = c->wait_head; w; prev = w, w = w->next_wait) {
		if (w != r)
			continue;
		if (prev)
			prev->next_wait = w->next_wait;
		else
			c->wait_head = w->next_wait;
		if (c->wait_tail == w)
			c->wait_tail = prev;
		break;
	}
	r->waiting = false;
	r->next_wait = NULL;
}

static void read_resume(struct api_read *r)
{
	if (r->suspended) {
		r->suspended = false;
		MHD_resume_connection(r->conn);
		r->wake(r->wake_data);
	}
}

/* The loop's turn: the read at the head builds its next slice (when its
 * server runs it, at the next turn); the others wait theirs. */
static void on_turn(struct loop_timer *t)
{
	struct api_chunked *c = t->data;
	struct api_read *r = c->wait_head;

	if (!r)
		return;
	c->wait_head = r->next_wait;
	if (!c->wait_head)
		c->wait_tail = NULL;
	r->waiting = false;
	r->next_wait = NULL;
	r->may_build = true;
	read_resume(r);
	turn_arm(c);
}

/* Suspend r until its turn (the end of the queue). */
static void wait_turn(struct api_read *r)
{
	struct api_chunked *c = r->owner;

	r->suspended = true;
	MHD_suspend_connection(r->conn);
	r->waiting = true;
	if (c->wait_tail)
		c->wait_tail->next_wait = r;
	else
		c->wait_head = r;
	c->wait_tail = r;
	turn_arm(c);
}

static ssize_t read_cb(void *cls, uint64_t pos, char *out, size_t max)
{
	struct api_read *r = cls;
	size_t n;
	int e;

	if (r->ended || !r->owner)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (r->pos == r->len) {
		if (r->done) {
			r->result = "complete";
			return MHD_CONTENT_READER_END_OF_STREAM;
		}
		if (!r->may_build) {
			wait_turn(r);
			return 0;
		}
		r->may_build = false;
		e = build_slice(r);
		if (e < 0) {
			r->result = e == -ESTALE ? "cut-reload" : "cut-error";
			log_warn(MOD, "read-cut", "what=%s peer=%s elements=%zu error=\"%s\"",
				 r->src.what, r->peer, r->elements, strerror(-e));
			r->ended = true;
			return MHD_CONTENT_READER_END_WITH_ERROR;
		}
	}
	n = MIN(max, r->len - r->pos);
	memcpy(out, r->buf + r->pos, n);
	r->pos += n;
	r->sent += n;
	return (ssize_t)n;
}

static void read_free(void *cls)
{
	struct api_read *r = cls;
	struct api_chunked *c = r->owner;

	if (c) {
		wait_remove(c, r);
		if (r->prev)
			r->prev->next = r->next;
		else
			c->reads = r->next;
		if (r->next)
			r->next->prev = r->prev;
		c->n--;
	}
	log_info(MOD, "read-done", "what=%s peer=%s result=%s elements=%zu bytes=%llu slices=%u "
		 "max_slice_us=%llu max_slice_cpu_us=%llu total_us=%llu", r->src.what, r->peer,
		 r->result, r->elements, (unsigned long long)r->sent, r->slices,
		 (unsigned long long)r->max_slice_usec, (unsigned long long)r->max_slice_cpu_usec,
		 (unsigned long long)(now_usec() - r->start_usec));
	if (r->src.free)
		r->src.free(r->src.ctx);
	free(r->buf);
	free(r);
}

int api_chunked_new(struct loop *loop, struct api_chunked **ret)
{
	struct api_chunked *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->loop = loop;
	loop_timer_init(&c->turn, on_turn, c);
	*ret = c;
	return 0;
}

int api_chunked_answer(struct api_chunked *c, const struct api_chunked_src *src,
		       struct MHD_Connection *conn, void (*wake)(void *), void *wake_data,
		       const char *peer, struct api_chunked_answer *ans)
{
	struct api_read *r;
	int e;

	if (c->n >= API_READS_MAX) {
		if (src->free)
			src->free(src->ctx);
		return -EBUSY;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		if (src->free)
			src->free(src->ctx);
		return -ENOMEM;
	}
	*r = (struct api_read){ .owner = c, .conn = conn, .wake = wake, .wake_data = wake_data,
				.src = *src,
				.start_usec = now_usec(), .result = "closed" };
	snprintf(r->peer, sizeof(r->peer), "%s", peer);
	e = build_slice(r);
	if (e < 0)
		goto fail;
	if (r->done) {
		/* It all fit: a plain answer, with its length. */
		ans->body = r->buf;
		ans->len = r->len;
		if (src->free)
			src->free(src->ctx);
		free(r);
		return 0;
	}
	ans->resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, read_cb, r,
						      read_free);
	if (!ans->resp) {
		e = -ENOMEM;
		goto fail;
	}
	r->next = c->reads;
	if (c->reads)
		c->reads->prev = r;
	c->reads = r;
	c->n++;
	log_info(MOD, "read-streamed", "what=%s peer=%s reads=%u", r->src.what, r->peer, c->n);
	return 0;
fail:
	if (src->free)
		src->free(src->ctx);
	free(r->buf);
	free(r);
	return e;
}

unsigned api_chunked_count(const struct api_chunked *c)
{
	return c ? c->n : 0;
}

void api_chunked_close_all(struct api_chunked *c)
{
	if (!c)
		return;
	for (struct api_read *r = c->reads; r; r = r->next) {
		wait_remove(c, r);
		if (!r->ended) {
			r->ended = true;
			r->result = "stopped";
		}
		read_resume(r);
	}
	loop_timer_disarm(c->loop, &c->turn);
}

void api_chunked_free(struct api_chunked *c)
{
	if (!c)
		return;
	for (struct api_read *r = c->reads; r; r = r->next)
		r->owner = NULL;
	loop_timer_disarm(c->loop, &c->turn);
	free(c);
}
