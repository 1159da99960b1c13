/* loop.h - the daemon's single event loop: epoll for I/O, a min-heap of
 * monotonic timers, signalfd for signals, and deferred work.
 *
 * Modules register handles they own (struct loop_io, struct loop_timer) and
 * never touch epoll themselves. Each iteration runs in fixed phases:
 *   1. wait for I/O or the earliest timer;
 *   2. dispatch I/O callbacks (a handle removed during this phase gets no
 *      further callbacks, even if events for it were already collected);
 *   3. run expired timers;
 *   4. run deferred calls (this is where objects are freed, so that nothing
 *      is freed under a callback that is still running).
 */
#ifndef KIDOU_LOOP_H
#define KIDOU_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;

struct loop_io {
	int fd;              /* registered descriptor; -1 once removed */
	uint32_t events;     /* EPOLLIN / EPOLLOUT ... */
	void (*cb)(struct loop_io *io, uint32_t revents);
	void *data;          /* owner's context */
};

struct loop_timer {
	uint64_t deadline;   /* monotonic usec; meaningful while armed */
	size_t heap_index;   /* position in the heap, SIZE_MAX when disarmed */
	void (*cb)(struct loop_timer *t);
	void *data;
};

int loop_new(struct loop **ret);
/* Frees the loop; runs pending deferred calls first. NULL is a no-op. */
void loop_free(struct loop *l);

/* Register io->fd for io->events. The caller keeps io alive until it has
 * called loop_io_del() and the current iteration has finished (free it from
 * a deferred call). */
int loop_io_add(struct loop *l, struct loop_io *io);
int loop_io_set_events(struct loop *l, struct loop_io *io, uint32_t events);
/* Unregister; idempotent. Does not close the fd. */
void loop_io_del(struct loop *l, struct loop_io *io);

static inline void loop_timer_init(struct loop_timer *t,
				   void (*cb)(struct loop_timer *), void *data)
{
	t->deadline = 0;
	t->heap_index = SIZE_MAX;
	t->cb = cb;
	t->data = data;
}
/* (Re)arm t to fire once, usec from now. */
int loop_timer_arm(struct loop *l, struct loop_timer *t, uint64_t usec);
/* Disarm; idempotent. */
void loop_timer_disarm(struct loop *l, struct loop_timer *t);
static inline bool loop_timer_armed(const struct loop_timer *t)
{
	return t->heap_index != SIZE_MAX;
}

/* Route signo to cb (via signalfd; the signal is blocked for the process).
 * At most one callback per signal. */
int loop_signal_add(struct loop *l, int signo,
		    void (*cb)(struct loop *l, int signo, void *data), void *data);

/* Run fn(data) in phase 4 of this iteration. */
int loop_defer(struct loop *l, void (*fn)(void *data), void *data);

/* Busy polling: before sleeping in epoll, spin for up to a window that
 * adapts to how soon events have been coming (it grows from
 * LOOP_POLL_START_USEC while events arrive within max_usec of a wait and
 * drops to 0 after a longer one), so an idle or slow-paced loop sleeps at
 * once and a loop in a fast request/answer exchange (TFTP windowsize 1
 * with a nearby client) is not put to sleep between packets. Costs CPU
 * only while events keep coming that fast. 0 (the default) turns it off;
 * may be changed at any time. */
#define LOOP_POLL_START_USEC 10
void loop_set_busy_poll(struct loop *l, uint32_t max_usec);

struct loop_poll_stats {
	uint64_t spins;  /* waits that began with a spin */
	uint64_t hits;   /* ... and whose spin found an event */
};
void loop_poll_stats(const struct loop *l, struct loop_poll_stats *out);

/* Run until loop_quit() (which it then clears). Returns 0, or -errno on an
 * unrecoverable error. */
int loop_run(struct loop *l);
void loop_quit(struct loop *l);

#endif
