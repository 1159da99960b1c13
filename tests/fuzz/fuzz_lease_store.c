/* fuzz_lease_store.c - the asynchronous lease store's batch hand-off.
 *
 * The input is a program of two-byte steps (op, argument) run against a
 * real SQLite store (a temporary file, on tmpfs when there is one) with its
 * writer thread and the loop, and a dhcp_pool whose slots change when a
 * lease is decided and are undone when its batch is refused or fails,
 * newest first and handed on to a later batch in flight, as dhcp_io does:
 *   bind / release   decide a change into the batch being built
 *   submit           hand the batch to the store (-EBUSY iff the queue is
 *                    full: then undo it at once)
 *   drain            submit what was decided, run the loop until every
 *                    batch is done
 *   lock / unlock    another connection takes or drops the write lock
 *                    (between drains, so each batch's fate is known)
 * Checked: batches are done in the order submitted; a batch fails exactly
 * when the lock was held, with SQLite's reason; after a drain, the
 * database holds exactly the committed changes, and every pool slot is
 * what the last committed change made it (or untouched): no binding whose
 * commit failed survives. An odd last byte closes the store with batches
 * in flight (no callback, no leak). */
#include <arpa/inet.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dhcp/dhcp_pool.h"
#include "fuzz_check.h"
#include "loop.h"
#include "store/lease_store.h"

#define BASE 0x0a000001u
#define N_IPS 16
#define N_BUF (LEASE_STORE_QUEUE_MAX + 1)

struct entry {
	uint32_t ip;                  /* host order */
	struct dhcp_slot_image before, after;
};

struct buf {
	struct lease_batch lb;
	struct entry e[LEASE_BATCH_MAX];
	bool in_flight;
	unsigned seq;
	bool locked_at_submit;
};

struct model_row {
	bool present;
	struct lease_record rec;
};

struct run {
	struct loop *loop;
	struct lease_store *store;
	sqlite3 *other;
	struct dhcp_pool *pool;
	struct buf bufs[N_BUF];
	struct buf *building;
	unsigned in_flight, next_seq, next_done;
	bool locked;
	int64_t clock;
	struct model_row db[N_IPS];
	struct dhcp_slot_image committed[N_IPS];
};

static char db_path[256];

static bool same_image(const struct dhcp_slot_image *a, const struct dhcp_slot_image *b)
{
	return a->state == b->state && a->until == b->until && a->freed_at == b->freed_at &&
	       a->owner.len == b->owner.len && memcmp(a->owner.bytes, b->owner.bytes, a->owner.len) == 0;
}

static struct buf *free_buf(struct run *r)
{
	for (unsigned i = 0; i < N_BUF; i++)
		if (!r->bufs[i].in_flight)
			return &r->bufs[i];
	CHECK(0);
	return NULL;
}

/* e could not be undone: a later batch in flight changed its address;
 * that batch now undoes to what e found. */
static void hand_on(struct run *r, const struct buf *b, const struct entry *e)
{
	struct entry *next = NULL;
	unsigned best = UINT32_MAX;

	for (unsigned k = 0; k < N_BUF; k++) {
		struct buf *o = &r->bufs[k];
		if (!o->in_flight || o == b || o->seq <= b->seq || o->seq >= best)
			continue;
		for (unsigned i = 0; i < o->lb.n; i++) {
			if (o->e[i].ip == e->ip && same_image(&o->e[i].before, &e->after)) {
				next = &o->e[i];
				best = o->seq;
				break;
			}
		}
	}
	if (next)
		next->before = e->before;
}

static void undo(struct run *r, struct buf *b)
{
	for (unsigned i = b->lb.n; i-- > 0;) {
		struct entry *e = &b->e[i];
		if (!dhcp_pool_slot_undo(r->pool, e->ip, &e->before, &e->after) && b->in_flight)
			hand_on(r, b, e);
	}
}

static void on_done(struct lease_batch *lb, void *data)
{
	struct run *r = data;
	struct buf *b = NULL;

	for (unsigned i = 0; i < N_BUF; i++)
		if (r->bufs[i].in_flight && &r->bufs[i].lb == lb)
			b = &r->bufs[i];
	CHECK(b);
	CHECK(b->seq == r->next_done);  /* in order */
	r->next_done++;
	if (b->locked_at_submit) {
		CHECK(lb->result == -EBUSY);
		CHECK(strstr(lb->error, "locked"));
		undo(r, b);
	} else {
		CHECK(lb->result == 0);
		for (unsigned i = 0; i < lb->n; i++) {
			const struct lease_change *c = &lb->changes[i];
			uint32_t k = ntohl(c->rec.ip) - BASE;
			r->db[k].present = c->op == LEASE_OP_PUT;
			r->db[k].rec = c->rec;
			r->committed[k] = b->e[i].after;
		}
	}
	b->in_flight = false;
	if (--r->in_flight == 0)
		loop_quit(r->loop);
}

static void decide(struct run *r, uint8_t op, uint8_t arg)
{
	struct buf *b = r->building;
	uint32_t ip = BASE + (arg & (N_IPS - 1));
	struct dhcp_client_id id = { .len = 2, .bytes = { 1, (uint8_t)(1 + (arg >> 4) % 4) } };
	struct entry *e;
	struct lease_change *c;

	if (b->lb.n == LEASE_BATCH_MAX)
		return;
	e = &b->e[b->lb.n];
	e->ip = ip;
	dhcp_pool_slot_get(r->pool, ip, &e->before);
	r->clock++;
	if (op == 0)
		dhcp_pool_bind(r->pool, ip, &id, r->clock + 1000);
	else if (!dhcp_pool_release(r->pool, ip, &id, r->clock))
		return;  /* not its lease: nothing changes, nothing to store */
	dhcp_pool_slot_get(r->pool, ip, &e->after);
	c = &b->lb.changes[b->lb.n++];
	memset(c, 0, sizeof(*c));
	c->op = LEASE_OP_PUT;
	c->rec.ip = htonl(ip);
	c->rec.client_id_len = id.len;
	memcpy(c->rec.client_id, id.bytes, id.len);
	c->rec.expires = op == 0 ? r->clock + 1000 : r->clock;
	c->rec.state = op == 0 ? LEASE_BOUND : LEASE_RELEASED;
}

static void submit(struct run *r)
{
	struct buf *b = r->building;
	int rc;

	if (!b->lb.n)
		return;
	rc = r->store->ops->submit(r->store, &b->lb, on_done, r);
	if (r->in_flight == LEASE_STORE_QUEUE_MAX) {
		CHECK(rc == -EBUSY);  /* bounded: the caller drops and undoes */
		undo(r, b);
	} else {
		CHECK(rc == 0);
		b->in_flight = true;
		b->seq = r->next_seq++;
		b->locked_at_submit = r->locked;
		r->in_flight++;
		r->building = free_buf(r);
	}
	r->building->lb.n = 0;
}

/* What was decided is always submitted (or dropped) before the loop runs
 * again, as dhcp_io does at the end of a wakeup. */
static void drain(struct run *r)
{
	submit(r);
	if (r->in_flight)
		CHECK(loop_run(r->loop) == 0);
	CHECK(r->in_flight == 0);
}

static int check_row(void *ctx, int n, char **v, char **names)
{
	struct run *r = ctx;
	long long ip = strtoll(v[0], NULL, 10);
	uint32_t k = (uint32_t)ip - BASE;

	CHECK(k < N_IPS && r->db[k].present);
	CHECK(strtoll(v[1], NULL, 10) == r->db[k].rec.expires);
	CHECK(strtol(v[2], NULL, 10) == r->db[k].rec.state);
	r->db[k].present = false;  /* seen; restored by verify() */
	return 0;
}

static void verify(struct run *r)
{
	bool present[N_IPS];

	for (unsigned k = 0; k < N_IPS; k++) {
		struct dhcp_slot_image now;
		present[k] = r->db[k].present;
		dhcp_pool_slot_get(r->pool, BASE + k, &now);
		CHECK(same_image(&now, &r->committed[k]));
	}
	CHECK(sqlite3_exec(r->other, "SELECT ip, expires, state FROM leases WHERE ip != 1",
			   check_row, r, NULL) == SQLITE_OK);
	for (unsigned k = 0; k < N_IPS; k++) {
		CHECK(!r->db[k].present);  /* every committed row was there */
		r->db[k].present = present[k];
	}
}

static void remove_db(void)
{
	char p[300];

	unlink(db_path);
	snprintf(p, sizeof(p), "%s-wal", db_path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", db_path);
	unlink(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run r;
	char err[256];
	bool abandon = size && (data[size - 1] & 1);

	memset(&r, 0, sizeof(r));
	remove_db();
	CHECK(loop_new(&r.loop) == 0);
	CHECK(lease_store_sqlite_open(db_path, r.loop, 0, &r.store, err, sizeof(err)) == 0);
	CHECK(sqlite3_open(db_path, &r.other) == SQLITE_OK);
	CHECK(dhcp_pool_new(BASE, BASE + N_IPS - 1, &r.pool) == 0);
	for (unsigned k = 0; k < N_IPS; k++)
		dhcp_pool_slot_get(r.pool, BASE + k, &r.committed[k]);
	r.building = &r.bufs[0];

	for (size_t i = 0; i + 1 < size && i < 2 * 256; i += 2) {
		uint8_t op = data[i] % 6, arg = data[i + 1];

		switch (op) {
		case 0:
		case 1:
			decide(&r, op, arg);
			break;
		case 2:
			submit(&r);
			break;
		case 3:
			drain(&r);
			verify(&r);
			break;
		case 4:
		case 5:
			drain(&r);
			if (op == 4 && !r.locked)
				CHECK(sqlite3_exec(r.other, "BEGIN IMMEDIATE", NULL, NULL, NULL) ==
				      SQLITE_OK);
			else if (op == 5 && r.locked)
				CHECK(sqlite3_exec(r.other, "ROLLBACK", NULL, NULL, NULL) == SQLITE_OK);
			r.locked = op == 4;
			break;
		}
	}
	if (!abandon) {
		drain(&r);
		verify(&r);
	}
	lease_store_close(r.store);  /* abandons what is in flight */
	sqlite3_close(r.other);
	dhcp_pool_free(r.pool);
	loop_free(r.loop);
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

	snprintf(db_path, sizeof(db_path), "%s/kidou-fuzz-store-%d.db", dir, (int)getpid());
	atexit(remove_db);
	return 0;
}
