/* loop.c - see loop.h. */
#include "loop.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "util.h"

#define LOOP_MAX_EVENTS 64
#define LOOP_MAX_SIGNALS 65

struct loop_signal_handler {
	void (*cb)(struct loop *l, int signo, void *data);
	void *data;
};

struct loop_deferred {
	void (*fn)(void *data);
	void *data;
};

struct loop {
	int epfd;
	bool quit;

	struct loop_timer **heap; /* min-heap on deadline */
	size_t heap_len, heap_cap;

	int sigfd;
	sigset_t sigmask;
	struct loop_io sig_io;
	struct loop_signal_handler signals[LOOP_MAX_SIGNALS];

	struct loop_deferred *deferred;
	size_t deferred_len, deferred_cap;

	uint32_t poll_max_usec; /* busy-poll ceiling; 0 turns polling off */
	uint32_t poll_usec;     /* current adaptive window, 0..poll_max_usec */
	struct loop_poll_stats poll_stats;
};

int loop_new(struct loop **ret)
{
	struct loop *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	l->sigfd = -1;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		int r = -errno;
		free(l);
		return r;
	}
	sigemptyset(&l->sigmask);
	*ret = l;
	return 0;
}

static void loop_run_deferred(struct loop *l)
{
	/* A deferred call may defer more; keep going until drained. */
	for (size_t i = 0; i < l->deferred_len; i++) {
		struct loop_deferred d = l->deferred[i];
		d.fn(d.data);
	}
	l->deferred_len = 0;
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	loop_run_deferred(l);
	safe_close(l->sigfd);
	safe_close(l->epfd);
	free(l->heap);
	free(l->deferred);
	free(l);
}

int loop_io_add(struct loop *l, struct loop_io *io)
{
	struct epoll_event ev = { .events = io->events, .data.ptr = io };

	if (io->fd < 0)
		return -EBADF;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, io->fd, &ev) < 0)
		return -errno;
	return 0;
}

int loop_io_set_events(struct loop *l, struct loop_io *io, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = io };

	if (io->fd < 0)
		return -EBADF;
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, io->fd, &ev) < 0)
		return -errno;
	io->events = events;
	return 0;
}

void loop_io_del(struct loop *l, struct loop_io *io)
{
	if (io->fd < 0)
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, NULL);
	/* Marks the handle dead for events already collected this iteration. */
	io->fd = -1;
}

/* --- timers: a binary min-heap of pointers, each knowing its index --- */

static void heap_swap(struct loop *l, size_t a, size_t b)
{
	struct loop_timer *t = l->heap[a];

	l->heap[a] = l->heap[b];
	l->heap[b] = t;
	l->heap[a]->heap_index = a;
	l->heap[b]->heap_index = b;
}

static void heap_up(struct loop *l, size_t i)
{
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (l->heap[parent]->deadline <= l->heap[i]->deadline)
			break;
		heap_swap(l, i, parent);
		i = parent;
	}
}

static void heap_down(struct loop *l, size_t i)
{
	for (;;) {
		size_t left = 2 * i + 1, right = left + 1, least = i;
		if (left < l->heap_len && l->heap[left]->deadline < l->heap[least]->deadline)
			least = left;
		if (right < l->heap_len && l->heap[right]->deadline < l->heap[least]->deadline)
			least = right;
		if (least == i)
			break;
		heap_swap(l, i, least);
		i = least;
	}
}

void loop_timer_disarm(struct loop *l, struct loop_timer *t)
{
	size_t i = t->heap_index;

	if (i == SIZE_MAX)
		return;
	l->heap_len--;
	if (i != l->heap_len) {
		l->heap[i] = l->heap[l->heap_len];
		l->heap[i]->heap_index = i;
		heap_down(l, i);
		heap_up(l, i);
	}
	t->heap_index = SIZE_MAX;
}

int loop_timer_arm(struct loop *l, struct loop_timer *t, uint64_t usec)
{
	loop_timer_disarm(l, t);
	if (l->heap_len == l->heap_cap) {
		size_t cap = l->heap_cap ? l->heap_cap * 2 : 64;
		struct loop_timer **h = realloc(l->heap, cap * sizeof(*h));
		if (!h)
			return -ENOMEM;
		l->heap = h;
		l->heap_cap = cap;
	}
	t->deadline = now_usec() + usec;
	t->heap_index = l->heap_len;
	l->heap[l->heap_len++] = t;
	heap_up(l, t->heap_index);
	return 0;
}

static void loop_run_timers(struct loop *l)
{
	uint64_t now = now_usec();

	while (l->heap_len > 0 && l->heap[0]->deadline <= now) {
		struct loop_timer *t = l->heap[0];
		loop_timer_disarm(l, t);
		t->cb(t);
	}
}

static int loop_wait_ms(struct loop *l)
{
	uint64_t now, d;

	if (l->deferred_len)
		return 0;
	if (l->heap_len == 0)
		return -1;
	now = now_usec();
	d = l->heap[0]->deadline;
	if (d <= now)
		return 0;
	/* Round up so we never wake before the deadline and spin. */
	d = (d - now + 999) / 1000;
	return d > 60000 ? 60000 : (int)d;
}

/* --- signals --- */

static void loop_on_signalfd(struct loop_io *io, uint32_t revents)
{
	struct loop *l = io->data;
	struct signalfd_siginfo si;

	while (read(l->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo < LOOP_MAX_SIGNALS && l->signals[si.ssi_signo].cb)
			l->signals[si.ssi_signo].cb(l, (int)si.ssi_signo,
						    l->signals[si.ssi_signo].data);
	}
}

int loop_signal_add(struct loop *l, int signo,
		    void (*cb)(struct loop *l, int signo, void *data), void *data)
{
	int fd;

	if (signo <= 0 || signo >= LOOP_MAX_SIGNALS)
		return -EINVAL;
	sigaddset(&l->sigmask, signo);
	if (sigprocmask(SIG_BLOCK, &l->sigmask, NULL) < 0)
		return -errno;
	fd = signalfd(l->sigfd, &l->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (l->sigfd < 0) {
		l->sigfd = fd;
		l->sig_io = (struct loop_io){ .fd = fd, .events = EPOLLIN,
					      .cb = loop_on_signalfd, .data = l };
		int r = loop_io_add(l, &l->sig_io);
		if (r < 0)
			return r;
	}
	l->signals[signo].cb = cb;
	l->signals[signo].data = data;
	return 0;
}

int loop_defer(struct loop *l, void (*fn)(void *data), void *data)
{
	if (l->deferred_len == l->deferred_cap) {
		size_t cap = l->deferred_cap ? l->deferred_cap * 2 : 32;
		struct loop_deferred *d = realloc(l->deferred, cap * sizeof(*d));
		if (!d)
			return -ENOMEM;
		l->deferred = d;
		l->deferred_cap = cap;
	}
	l->deferred[l->deferred_len++] = (struct loop_deferred){ fn, data };
	return 0;
}

void loop_quit(struct loop *l)
{
	l->quit = true;
}

/* --- adaptive busy polling --- */

void loop_set_busy_poll(struct loop *l, uint32_t max_usec)
{
	l->poll_max_usec = max_usec;
	if (l->poll_usec > max_usec)
		l->poll_usec = max_usec;
}

void loop_poll_stats(const struct loop *l, struct loop_poll_stats *out)
{
	*out = l->poll_stats;
}

/* Spin on a zero-timeout epoll_wait() for up to the current window, never
 * past the earliest timer. Returns what epoll_wait() returned. */
static int loop_spin(struct loop *l, struct epoll_event *events)
{
	uint64_t stop = now_usec() + l->poll_usec;
	int n;

	if (l->heap_len > 0 && l->heap[0]->deadline < stop)
		stop = l->heap[0]->deadline;
	l->poll_stats.spins++;
	do {
		n = epoll_wait(l->epfd, events, LOOP_MAX_EVENTS, 0);
		if (n != 0) {
			if (n > 0)
				l->poll_stats.hits++;
			return n;
		}
		/* The packet we wait for may come from a process that shares
		 * this CPU and is ready to run: let it. */
		sched_yield();
	} while (now_usec() < stop);
	return 0;
}

/* The window follows what the last wait showed, as KVM's halt polling does
 * for an idle vCPU: an event that came within the ceiling after we went to
 * sleep means a longer spin would have caught it (double the window); a
 * longer sleep, or a timer, means spinning there is waste (drop to 0). */
static void loop_adapt_poll(struct loop *l, int n, uint64_t waited_usec)
{
	if (n > 0 && waited_usec <= l->poll_max_usec) {
		uint32_t w = l->poll_usec ? l->poll_usec * 2 : LOOP_POLL_START_USEC;
		l->poll_usec = w < l->poll_max_usec ? w : l->poll_max_usec;
	} else {
		l->poll_usec = 0;
	}
}

/* Wait for events. Going to sleep in epoll_wait() costs a wakeup when the
 * next packet comes, and on a virtual machine, or a CPU in a deep idle
 * state, that wakeup is tens of microseconds: at TFTP windowsize 1 it is
 * most of each block's round trip. So when recent waits were short, spin
 * briefly first, trading some CPU for latency (see loop_set_busy_poll()). */
static int loop_wait(struct loop *l, struct epoll_event *events)
{
	int timeout = loop_wait_ms(l);
	uint64_t start;
	int n;

	if (timeout == 0 || l->poll_max_usec == 0)
		return epoll_wait(l->epfd, events, LOOP_MAX_EVENTS, timeout);
	start = now_usec();
	if (l->poll_usec > 0) {
		n = loop_spin(l, events);
		if (n != 0)
			return n;
		timeout = loop_wait_ms(l);
	}
	n = epoll_wait(l->epfd, events, LOOP_MAX_EVENTS, timeout);
	loop_adapt_poll(l, n, now_usec() - start);
	return n;
}

int loop_run(struct loop *l)
{
	struct epoll_event events[LOOP_MAX_EVENTS];

	while (!l->quit) {
		int n = loop_wait(l, events);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n; i++) {
			struct loop_io *io = events[i].data.ptr;
			if (io->fd >= 0)
				io->cb(io, events[i].events);
		}
		loop_run_timers(l);
		loop_run_deferred(l);
	}
	l->quit = false;  /* a later loop_run() runs again (tests drive it in steps) */
	return 0;
}
