/* test_loop.c - loop.h: timers fire in deadline order, a handle removed
 * during dispatch gets no more callbacks, deferred calls run after
 * dispatch, and the adaptive busy poll spins only while events keep coming
 * soon after a wait and stops after a wait that ended on a timer. */
#include "unit.h"

#include <fcntl.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <stdlib.h>
#include <unistd.h>

#include "loop.h"

/* --- timers --- */

struct timer_order {
	struct loop *loop;
	int fired[3];
	int n;
};

struct tagged_timer {
	struct loop_timer t;
	struct timer_order *order;
	int tag;
};

static void on_tagged_timer(struct loop_timer *t)
{
	struct tagged_timer *tt = t->data;

	tt->order->fired[tt->order->n++] = tt->tag;
	if (tt->order->n == 3)
		loop_quit(tt->order->loop);
}

static void test_timers_fire_in_deadline_order(void **state)
{
	struct timer_order order = { 0 };
	struct tagged_timer timers[3];
	const uint64_t delay_usec[3] = { 3000, 1000, 2000 };

	(void)state;
	assert_rc(loop_new(&order.loop), 0);
	for (int i = 0; i < 3; i++) {
		timers[i] = (struct tagged_timer){ .order = &order, .tag = i };
		loop_timer_init(&timers[i].t, on_tagged_timer, &timers[i]);
		assert_rc(loop_timer_arm(order.loop, &timers[i].t, delay_usec[i]), 0);
	}
	/* Disarming is idempotent and a disarmed timer never fires. */
	loop_timer_disarm(order.loop, &timers[0].t);
	loop_timer_disarm(order.loop, &timers[0].t);
	assert_false(loop_timer_armed(&timers[0].t));
	assert_rc(loop_timer_arm(order.loop, &timers[0].t, 4000), 0);
	assert_rc(loop_run(order.loop), 0);
	assert_int_equal(order.fired[0], 1);
	assert_int_equal(order.fired[1], 2);
	assert_int_equal(order.fired[2], 0);
	loop_free(order.loop);
}

/* --- I/O: removal during dispatch, deferred calls --- */

struct two_pipes {
	struct loop *loop;
	int fds[2][2];
	struct loop_io io[2];
	int calls[2];
	bool deferred_ran_before_next_dispatch;
	int deferred_calls;
};

static void on_deferred(void *data)
{
	struct two_pipes *p = data;

	p->deferred_calls++;
	loop_quit(p->loop);
}

static void on_pipe(struct loop_io *io, uint32_t revents)
{
	struct two_pipes *p = io->data;
	int me = io == &p->io[0] ? 0 : 1;
	char c;

	(void)revents;
	p->calls[me]++;
	assert_int_equal(read(io->fd, &c, 1), 1);
	/* Whichever runs first removes the other, whose event was already
	 * collected in this same iteration. */
	loop_io_del(p->loop, &p->io[1 - me]);
	assert_rc(loop_defer(p->loop, on_deferred, p), 0);
}

static void test_removed_handle_gets_no_callback(void **state)
{
	struct two_pipes p = { 0 };

	(void)state;
	assert_rc(loop_new(&p.loop), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(pipe2(p.fds[i], O_NONBLOCK | O_CLOEXEC), 0);
		p.io[i] = (struct loop_io){ .fd = p.fds[i][0], .events = EPOLLIN,
					    .cb = on_pipe, .data = &p };
		assert_rc(loop_io_add(p.loop, &p.io[i]), 0);
		assert_int_equal(write(p.fds[i][1], "x", 1), 1);
	}
	assert_rc(loop_run(p.loop), 0);
	assert_int_equal(p.calls[0] + p.calls[1], 1);
	assert_int_equal(p.deferred_calls, 1);
	for (int i = 0; i < 2; i++) {
		close(p.fds[i][0]);
		close(p.fds[i][1]);
	}
	loop_free(p.loop);
}

/* --- adaptive busy polling --- */

#define SELF_FED_EVENTS 20

struct poll_probe {
	struct loop *loop;
	int fds[2];
	struct loop_io io;
	struct loop_timer timer;
	int events;
	struct loop_poll_stats before_timer;
};

static void on_probe_timer(struct loop_timer *t)
{
	struct poll_probe *p = t->data;

	assert_int_equal(write(p->fds[1], "t", 1), 1);
}

/* Each event makes the next one ready at once (a peer that answers
 * immediately), SELF_FED_EVENTS times; then the loop waits on a timer
 * only, whose callback makes one last event ready. */
static void on_probe_readable(struct loop_io *io, uint32_t revents)
{
	struct poll_probe *p = io->data;
	char c;

	(void)revents;
	assert_int_equal(read(io->fd, &c, 1), 1);
	p->events++;
	if (p->events < SELF_FED_EVENTS) {
		assert_int_equal(write(p->fds[1], "x", 1), 1);
	} else if (p->events == SELF_FED_EVENTS) {
		loop_poll_stats(p->loop, &p->before_timer);
		assert_rc(loop_timer_arm(p->loop, &p->timer, 2000), 0);
	} else {
		loop_quit(p->loop);
	}
}

static void run_poll_probe(struct poll_probe *p, uint32_t max_usec)
{
	*p = (struct poll_probe){ 0 };
	assert_rc(loop_new(&p->loop), 0);
	loop_set_busy_poll(p->loop, max_usec);
	assert_int_equal(pipe2(p->fds, O_NONBLOCK | O_CLOEXEC), 0);
	p->io = (struct loop_io){ .fd = p->fds[0], .events = EPOLLIN,
				  .cb = on_probe_readable, .data = p };
	assert_rc(loop_io_add(p->loop, &p->io), 0);
	loop_timer_init(&p->timer, on_probe_timer, p);
	assert_int_equal(write(p->fds[1], "x", 1), 1);
	assert_rc(loop_run(p->loop), 0);
	assert_int_equal(p->events, SELF_FED_EVENTS + 1);
}

static void free_poll_probe(struct poll_probe *p)
{
	close(p->fds[0]);
	close(p->fds[1]);
	loop_free(p->loop);
}

static void test_busy_poll_follows_the_pace_of_events(void **state)
{
	struct poll_probe p;
	struct loop_poll_stats end;

	(void)state;
	/* A ceiling of a whole second: "soon after the wait" holds for an
	 * event that is ready at once even on a loaded, sanitized build. */
	run_poll_probe(&p, 1000000);
	loop_poll_stats(p.loop, &end);
	/* The first wait sleeps (the window starts at 0) and the event it
	 * found opens the window; every later self-fed event is found by
	 * the spin. */
	assert_int_equal(p.before_timer.spins, SELF_FED_EVENTS - 1);
	assert_int_equal(p.before_timer.hits, SELF_FED_EVENTS - 1);
	/* The wait for the timer spins once in vain and then sleeps; a wait
	 * that ended on a timer closes the window, so the last event is
	 * waited for without a spin. */
	assert_int_equal(end.spins, p.before_timer.spins + 1);
	assert_int_equal(end.hits, p.before_timer.hits);
	free_poll_probe(&p);
}

static void test_busy_poll_off_never_spins(void **state)
{
	struct poll_probe p;
	struct loop_poll_stats end;

	(void)state;
	run_poll_probe(&p, 0);
	loop_poll_stats(p.loop, &end);
	assert_int_equal(end.spins, 0);
	assert_int_equal(end.hits, 0);
	free_poll_probe(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timers_fire_in_deadline_order),
		cmocka_unit_test(test_removed_handle_gets_no_callback),
		cmocka_unit_test(test_busy_poll_follows_the_pace_of_events),
		cmocka_unit_test(test_busy_poll_off_never_spins),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
