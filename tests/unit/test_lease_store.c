/* Unit tests for the asynchronous lease stores: batches are done in order
 * through the loop, a failure comes with the backend's reason, the queue
 * is bounded, and close() neither waits on a lock nor leaks. Another
 * process's lock is played by a second connection in this test.
 *
 * Every case runs against SQLite, and the same cases (pg_*) against
 * PostgreSQL when KIDOU_TEST_PG_URI names a database (a libpq URI; the
 * password from PGPASSFILE); unset, they are skipped with a message.
 * tests/integration/test_lease_store_pg.py runs this binary against a
 * throwaway server, so `make check` runs both. The PostgreSQL cases drop
 * kidou's tables first: point the variable at a scratch database only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loop.h"
#include "store/lease_store.h"

struct fixture {
	char dir[64], path[96];
	struct loop *loop;
	struct lease_store *store;
	sqlite3 *other;           /* "another process" */
	bool pg;                  /* the PostgreSQL variant: uri, not path */
	char uri[512];
	PGconn *pg_other;         /* "another instance" (PostgreSQL) */
	unsigned done_order[16];
	unsigned n_done, want_done;
};

struct tagged {
	struct fixture *f;
	unsigned tag;
	struct lease_batch b;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/kidou-test-store.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/leases.db", f->dir);
	assert_int_equal(loop_new(&f->loop), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char wal[128], shm[128];

	lease_store_close(f->store);
	if (f->other)
		sqlite3_close(f->other);
	PQfinish(f->pg_other);
	loop_free(f->loop);
	snprintf(wal, sizeof(wal), "%s-wal", f->path);
	snprintf(shm, sizeof(shm), "%s-shm", f->path);
	unlink(f->path);
	unlink(wal);
	unlink(shm);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* A statement on the test's own PostgreSQL connection. */
static void pg_exec(struct fixture *f, const char *sql)
{
	PGresult *res;

	if (!f->pg_other) {
		f->pg_other = PQconnectdb(f->uri);
		if (PQstatus(f->pg_other) != CONNECTION_OK)
			fail_msg("%s: %s", f->uri, PQerrorMessage(f->pg_other));
	}
	res = PQexec(f->pg_other, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQresultErrorMessage(res));
	PQclear(res);
}

static int pg_int(struct fixture *f, const char *sql)
{
	PGresult *res;
	int v;

	pg_exec(f, "SELECT 1");  /* connected */
	res = PQexec(f->pg_other, sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		fail_msg("%s: %s", sql, PQresultErrorMessage(res));
	v = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

/* The PostgreSQL variant of a case: skipped, saying why, without a
 * server; else on a database without kidou's tables. */
static int setup_pg(void **state)
{
	struct fixture *f;
	const char *uri = getenv("KIDOU_TEST_PG_URI");

	setup(state);
	f = *state;
	if (!uri || !*uri)
		return 0;
	f->pg = true;
	snprintf(f->uri, sizeof(f->uri), "%s", uri);
	pg_exec(f, "DROP TABLE IF EXISTS leases, next_boot, hosts, schema_version, changes, "
		   "changes_pruned");
	PQfinish(f->pg_other);
	f->pg_other = NULL;
	return 0;
}

static void need_pg(struct fixture *f)
{
	if (!f->pg) {
		print_message("KIDOU_TEST_PG_URI is unset: PostgreSQL case skipped "
			      "(tests/integration/test_lease_store_pg.py runs it)\n");
		skip();
	}
}

/* busy_ms 0: fail at once on another's lock (SQLite's busy timeout;
 * PostgreSQL's lock_timeout, set through the URI's options). */
static void open_store(struct fixture *f, unsigned busy_ms)
{
	char err[256], uri[600];

	if (!f->pg) {
		assert_int_equal(lease_store_sqlite_open(f->path, f->loop, busy_ms, &f->store, err,
							 sizeof(err)), 0);
		return;
	}
	snprintf(uri, sizeof(uri), "%s%s", f->uri, busy_ms ? "" :
		 strchr(f->uri, '?') ? "&options=-c%20lock_timeout%3D1" :
		 "?options=-c%20lock_timeout%3D1");
	if (lease_store_pg_open(uri, f->loop, &f->store, err, sizeof(err)) < 0)
		fail_msg("%s", err);
}

/* Take the database's write lock from another connection, as an
 * operator's `sqlite3` shell with an open write transaction does (for
 * PostgreSQL, another session's lock on the leases table). */
static void hold_lock(struct fixture *f)
{
	if (f->pg) {
		pg_exec(f, "BEGIN; LOCK TABLE leases IN EXCLUSIVE MODE;"
			   "INSERT INTO leases VALUES(1, '\\x01', '\\x01', '', 0, 1)"
			   " ON CONFLICT DO NOTHING");
		return;
	}
	assert_int_equal(sqlite3_open(f->path, &f->other), SQLITE_OK);
	assert_int_equal(sqlite3_exec(f->other, "BEGIN IMMEDIATE;"
				      "INSERT OR REPLACE INTO leases VALUES(1, x'01', x'01', '', 0, 1);",
				      NULL, NULL, NULL), SQLITE_OK);
}

static void release_lock(struct fixture *f)
{
	if (f->pg) {
		pg_exec(f, "ROLLBACK");
		return;
	}
	assert_int_equal(sqlite3_exec(f->other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
}

static void fill(struct tagged *t, struct fixture *f, unsigned tag, unsigned n)
{
	t->f = f;
	t->tag = tag;
	t->b.n = n;
	for (unsigned i = 0; i < n; i++) {
		struct lease_change *c = &t->b.changes[i];
		memset(c, 0, sizeof(*c));
		c->op = LEASE_OP_PUT;
		c->rec.ip = htonl(0x0a000000u + tag * 100 + i + 10);
		c->rec.client_id_len = 7;
		c->rec.client_id[0] = 1;
		c->rec.client_id[6] = (uint8_t)tag;
		c->rec.expires = 1000 + tag;
		c->rec.state = LEASE_BOUND;
	}
}

static void on_done(struct lease_batch *b, void *data)
{
	struct tagged *t = data;
	struct fixture *f = t->f;

	assert_ptr_equal(b, &t->b);
	f->done_order[f->n_done++] = t->tag;
	if (f->n_done == f->want_done)
		loop_quit(f->loop);
}

static void run_until_done(struct fixture *f, unsigned n)
{
	f->want_done = f->n_done + n;
	assert_int_equal(loop_run(f->loop), 0);
	assert_int_equal(f->n_done, f->want_done);
}

static int count_row(const struct lease_record *r, void *ctx)
{
	(*(unsigned *)ctx)++;
	return 0;
}

static void test_batches_done_in_order(void **state)
{
	struct fixture *f = *state;
	static struct tagged t[3];
	unsigned rows = 0;

	open_store(f, 1000);
	for (unsigned i = 0; i < 3; i++) {
		fill(&t[i], f, i, 5 + i);
		assert_int_equal(f->store->ops->submit(f->store, &t[i].b, on_done, &t[i]), 0);
	}
	run_until_done(f, 3);
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(f->done_order[i], i);
		assert_int_equal(t[i].b.result, 0);
	}
	/* Durable: a new store sees all of them. */
	lease_store_close(f->store);
	f->store = NULL;
	open_store(f, 1000);
	assert_int_equal(f->store->ops->load(f->store, count_row, &rows), 0);
	assert_int_equal(rows, 5 + 6 + 7);
}

static void test_failure_has_reason(void **state)
{
	struct fixture *f = *state;
	static struct tagged t, u;
	unsigned rows = 0;

	open_store(f, 0);  /* fail at once on a lock */
	hold_lock(f);
	fill(&t, f, 1, 3);
	assert_int_equal(f->store->ops->submit(f->store, &t.b, on_done, &t), 0);
	run_until_done(f, 1);
	/* SQLite: "database is locked"; PostgreSQL: "canceling statement
	 * due to lock timeout". */
	assert_int_equal(t.b.result, f->pg ? -EIO : -EBUSY);
	assert_non_null(strstr(t.b.error, "lock"));
	release_lock(f);
	/* The store goes on after a failure: the next batch is written, the
	 * failed one was rolled back. */
	fill(&u, f, 2, 2);
	assert_int_equal(f->store->ops->submit(f->store, &u.b, on_done, &u), 0);
	run_until_done(f, 1);
	assert_int_equal(u.b.result, 0);
	assert_string_equal(u.b.error, "");
	assert_int_equal(f->store->ops->load(f->store, count_row, &rows), 0);
	assert_int_equal(rows, 2);
}

static void test_queue_is_bounded(void **state)
{
	struct fixture *f = *state;
	static struct tagged t[LEASE_STORE_QUEUE_MAX + 1];

	open_store(f, 3600 * 1000);  /* the writer waits for the lock */
	hold_lock(f);
	for (unsigned i = 0; i < LEASE_STORE_QUEUE_MAX; i++) {
		fill(&t[i], f, i, 1);
		assert_int_equal(f->store->ops->submit(f->store, &t[i].b, on_done, &t[i]), 0);
	}
	fill(&t[LEASE_STORE_QUEUE_MAX], f, LEASE_STORE_QUEUE_MAX, 1);
	assert_int_equal(f->store->ops->submit(f->store, &t[LEASE_STORE_QUEUE_MAX].b, on_done,
					       &t[LEASE_STORE_QUEUE_MAX]), -EBUSY);
	assert_int_equal(f->n_done, 0);
	release_lock(f);
	run_until_done(f, LEASE_STORE_QUEUE_MAX);
	for (unsigned i = 0; i < LEASE_STORE_QUEUE_MAX; i++) {
		assert_int_equal(f->done_order[i], i);
		assert_int_equal(t[i].b.result, 0);
	}
	/* Room again once they are done. */
	assert_int_equal(f->store->ops->submit(f->store, &t[LEASE_STORE_QUEUE_MAX].b, on_done,
					       &t[LEASE_STORE_QUEUE_MAX]), 0);
	run_until_done(f, 1);
}

static void test_bad_batches_refused(void **state)
{
	struct fixture *f = *state;
	static struct tagged t;

	open_store(f, 0);
	fill(&t, f, 0, 1);
	t.b.n = 0;
	assert_int_equal(f->store->ops->submit(f->store, &t.b, on_done, &t), -EINVAL);
	t.b.n = LEASE_BATCH_MAX + 1;
	assert_int_equal(f->store->ops->submit(f->store, &t.b, on_done, &t), -EINVAL);
}

/* Shutdown while the writer waits on another process's lock: close()
 * cuts the wait short, joins the writer and calls no callback. */
static void test_close_with_pending(void **state)
{
	struct fixture *f = *state;
	static struct tagged t[2];

	open_store(f, 3600 * 1000);
	hold_lock(f);
	for (unsigned i = 0; i < 2; i++) {
		fill(&t[i], f, i, 1);
		assert_int_equal(f->store->ops->submit(f->store, &t[i].b, on_done, &t[i]), 0);
	}
	if (f->pg) {
		/* Close while the writer waits, not before it starts: wait
		 * (bounded, generously) until the server shows it waiting on
		 * our lock. */
		for (unsigned n = 0; n < 6000; n++) {
			if (pg_int(f, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type"
				      " = 'Lock' AND datname = current_database()") == 1)
				break;
			usleep(10000);
		}
		assert_int_equal(pg_int(f, "SELECT count(*) FROM pg_stat_activity WHERE"
					   " wait_event_type = 'Lock' AND datname = current_database()"), 1);
	}
	lease_store_close(f->store);
	f->store = NULL;
	assert_int_equal(f->n_done, 0);
}

static int collect_nb(const struct next_boot_record *r, void *ctx)
{
	struct next_boot_record *v = ctx;

	for (unsigned i = 0; i < 4; i++) {
		if (!v[i].mode) {
			v[i] = *r;
			return 0;
		}
	}
	fail_msg("more next-boot rows than written");
	return -1;
}

static int count_lease(const struct lease_record *r, void *ctx)
{
	(*(unsigned *)ctx)++;
	return 0;
}

/* Next-boot records go through a batch like leases (mixed in one), are
 * replaced and deleted by MAC, and come back from load_next_boot after a
 * reopen; the schema is versioned. */
static void test_next_boot_round_trip(void **state)
{
	struct fixture *f = *state;
	struct tagged t = { 0 };
	struct next_boot_record got[4] = { 0 };
	unsigned leases = 0;
	sqlite3 *db;
	sqlite3_stmt *st;

	open_store(f, 1000);
	fill(&t, f, 1, 1);
	t.b.n = 4;
	t.b.changes[1] = (struct lease_change){ .op = LEASE_OP_NEXT_BOOT_PUT,
		.nb = { .mac = { 0x52, 0x54, 0, 0, 0, 1 }, .mode = NEXT_BOOT_PROFILE, .once = 1,
			.profile = "inst", .token = "0123456789abcdef0123456789abcdef" } };
	t.b.changes[2] = (struct lease_change){ .op = LEASE_OP_NEXT_BOOT_PUT,
		.nb = { .mac = { 0x52, 0x54, 0, 0, 0, 2 }, .mode = NEXT_BOOT_PROFILE,
			.profile = "rescue" } };
	t.b.changes[3] = (struct lease_change){ .op = LEASE_OP_NEXT_BOOT_PUT,
		.nb = { .mac = { 0x52, 0x54, 0, 0, 0, 3 }, .mode = NEXT_BOOT_LOCAL } };
	assert_int_equal(f->store->ops->submit(f->store, &t.b, on_done, &t), 0);
	run_until_done(f, 1);
	assert_int_equal(t.b.result, 0);
	/* 2 becomes local, 3 is forgotten */
	t.b.n = 2;
	t.b.changes[0] = (struct lease_change){ .op = LEASE_OP_NEXT_BOOT_PUT,
		.nb = { .mac = { 0x52, 0x54, 0, 0, 0, 2 }, .mode = NEXT_BOOT_LOCAL } };
	t.b.changes[1] = (struct lease_change){ .op = LEASE_OP_NEXT_BOOT_DEL,
		.nb = { .mac = { 0x52, 0x54, 0, 0, 0, 3 } } };
	f->n_done = 0;
	assert_int_equal(f->store->ops->submit(f->store, &t.b, on_done, &t), 0);
	run_until_done(f, 1);
	assert_int_equal(t.b.result, 0);
	lease_store_close(f->store);
	f->store = NULL;

	open_store(f, 1000);
	assert_int_equal(f->store->ops->load(f->store, count_lease, &leases), 0);
	assert_int_equal(leases, 1);
	assert_int_equal(f->store->ops->load_next_boot(f->store, collect_nb, got), 0);
	assert_int_equal(got[2].mode, 0);  /* two rows */
	struct next_boot_record *one = got[0].mac[5] == 1 ? &got[0] : &got[1];
	struct next_boot_record *two = got[0].mac[5] == 1 ? &got[1] : &got[0];
	assert_int_equal(one->mode, NEXT_BOOT_PROFILE);
	assert_int_equal(one->once, 1);
	assert_string_equal(one->profile, "inst");
	assert_string_equal(one->token, "0123456789abcdef0123456789abcdef");
	assert_int_equal(two->mac[5], 2);
	assert_int_equal(two->mode, NEXT_BOOT_LOCAL);
	assert_string_equal(two->profile, "");

	if (f->pg) {
		assert_int_equal(pg_int(f, "SELECT version FROM schema_version"), 4);
		pg_exec(f, "INSERT INTO next_boot VALUES('\\x0102', 1, 0, 'x', '');"
			   "INSERT INTO next_boot VALUES('\\x010203040506', 7, 0, '', '')");
	} else {
		assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL),
				 SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_int_equal(sqlite3_column_int(st, 0), 3);
		sqlite3_finalize(st);
		/* a row kidou never writes (bad MAC length, unknown mode) is skipped */
		assert_int_equal(sqlite3_exec(db, "INSERT INTO next_boot VALUES(x'0102', 1, 0, 'x', '');"
					      "INSERT INTO next_boot VALUES(x'010203040506', 7, 0, '', '');",
					      NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
	}
	memset(got, 0, sizeof(got));
	assert_int_equal(f->store->ops->load_next_boot(f->store, collect_nb, got), 0);
	assert_int_equal(got[2].mode, 0);
}

/* A database from a newer kidou (a higher schema version) is refused. */
static void test_newer_schema_refused(void **state)
{
	struct fixture *f = *state;
	char err[256];
	sqlite3 *db;

	if (f->pg) {
		pg_exec(f, "CREATE TABLE schema_version (version integer NOT NULL);"
			   "INSERT INTO schema_version VALUES (5)");
		assert_int_equal(lease_store_pg_open(f->uri, f->loop, &f->store, err, sizeof(err)),
				 -EPROTO);
	} else {
		assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_exec(db, "PRAGMA user_version=4", NULL, NULL, NULL),
				 SQLITE_OK);
		sqlite3_close(db);
		assert_int_equal(lease_store_sqlite_open(f->path, f->loop, 100, &f->store, err,
							 sizeof(err)), -EPROTO);
	}
	assert_null(f->store);
	assert_non_null(strstr(err, f->pg ? "schema version 5" : "schema version 4"));
}

struct host_rows {
	unsigned n;
	char name[4][64];
	char json[4][128];
};

static int collect_host(const char *name, const char *json, void *ctx)
{
	struct host_rows *h = ctx;

	if (h->n < 4) {
		snprintf(h->name[h->n], sizeof(h->name[0]), "%s", name);
		snprintf(h->json[h->n], sizeof(h->json[0]), "%s", json);
	}
	h->n++;
	return 0;
}

/* API hosts go through a batch like leases, are replaced and deleted by
 * name, and come back from load_hosts (in name order) after a reopen. */
static void test_hosts_round_trip(void **state)
{
	struct fixture *f = *state;
	struct tagged t = { 0 };
	struct host_rows got = { 0 };

	open_store(f, 1000);
	fill(&t, f, 1, 1);
	t.b.n = 4;
	t.b.changes[1] = (struct lease_change){ .op = LEASE_OP_HOST_PUT,
		.host = { .name = "web2", .json = "{\"mac\":\"52:54:00:00:00:02\"}" } };
	t.b.changes[2] = (struct lease_change){ .op = LEASE_OP_HOST_PUT,
		.host = { .name = "web1", .json = "{\"mac\":\"52:54:00:00:00:01\"}" } };
	t.b.changes[3] = (struct lease_change){ .op = LEASE_OP_HOST_PUT,
		.host = { .name = "gone", .json = "{}" } };
	assert_int_equal(f->store->ops->submit(f->store, &t.b, on_done, &t), 0);
	run_until_done(f, 1);
	assert_int_equal(t.b.result, 0);
	t.b.n = 2;
	t.b.changes[0] = (struct lease_change){ .op = LEASE_OP_HOST_PUT,
		.host = { .name = "web2", .json = "{\"mac\":\"52:54:00:00:00:22\"}" } };
	t.b.changes[1] = (struct lease_change){ .op = LEASE_OP_HOST_DEL, .host = { .name = "gone" } };
	f->n_done = 0;
	assert_int_equal(f->store->ops->submit(f->store, &t.b, on_done, &t), 0);
	run_until_done(f, 1);
	assert_int_equal(t.b.result, 0);
	lease_store_close(f->store);
	f->store = NULL;

	open_store(f, 1000);
	assert_int_equal(f->store->ops->load_hosts(f->store, collect_host, &got), 0);
	assert_int_equal(got.n, 2);
	assert_string_equal(got.name[0], "web1");
	assert_string_equal(got.json[0], "{\"mac\":\"52:54:00:00:00:01\"}");
	assert_string_equal(got.name[1], "web2");
	assert_string_equal(got.json[1], "{\"mac\":\"52:54:00:00:00:22\"}");
}

/* A schema-2 database (leases and next-boot, no hosts) opens: its rows
 * stay, it gains the hosts table and becomes version 3. */
static void test_schema2_migrates(void **state)
{
	struct fixture *f = *state;
	struct host_rows got = { 0 };
	unsigned leases = 0;
	sqlite3 *db;
	sqlite3_stmt *st;

	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
		"CREATE TABLE leases (ip INTEGER PRIMARY KEY, client_id BLOB NOT NULL,"
		" hwaddr BLOB NOT NULL, hostname TEXT NOT NULL DEFAULT '', expires INTEGER NOT NULL,"
		" state INTEGER NOT NULL);"
		"CREATE TABLE next_boot (mac BLOB PRIMARY KEY, mode INTEGER NOT NULL,"
		" once INTEGER NOT NULL DEFAULT 0, profile TEXT NOT NULL DEFAULT '',"
		" token TEXT NOT NULL DEFAULT '');"
		"INSERT INTO leases VALUES(167772170, x'01', x'525400000001', 'a', 99999999999, 1);"
		"PRAGMA user_version=2;", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	open_store(f, 1000);
	assert_int_equal(f->store->ops->load(f->store, count_lease, &leases), 0);
	assert_int_equal(leases, 1);
	assert_int_equal(f->store->ops->load_hosts(f->store, collect_host, &got), 0);
	assert_int_equal(got.n, 0);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 3);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* PostgreSQL only (a shared store): a claim on an address another client
 * holds, unexpired, is refused and comes back as the holder's lease; an
 * expired or released row, or the holder's own renewal, is taken. */
static void test_pg_claims(void **state)
{
	struct fixture *f = *state;
	static struct tagged t;
	struct lease_store_health h = { 0 };
	int64_t far = 4000000000LL;

	need_pg(f);
	open_store(f, 1000);
	fill(&t, f, 1, 3);  /* 10.0.0.110-112, client 1, expired (1001) */
	t.b.changes[0].rec.expires = far;
	t.b.changes[1].rec.expires = far;
	t.b.changes[1].rec.state = LEASE_RELEASED;
	assert_int_equal(f->store->ops->submit(f->store, &t.b, on_done, &t), 0);
	run_until_done(f, 1);
	assert_int_equal(t.b.result, 0);

	fill(&t, f, 2, 3);  /* client 2 claims the same three... */
	for (unsigned i = 0; i < 3; i++) {
		t.b.changes[i].rec.ip = htonl(0x0a000000u + 100 + i + 10);
		t.b.changes[i].rec.expires = far - 1;
	}
	assert_int_equal(f->store->ops->submit(f->store, &t.b, on_done, &t), 0);
	run_until_done(f, 1);
	assert_int_equal(t.b.result, 0);
	/* ...110 is client 1's, bound: refused, and rec is now client 1's. */
	assert_int_equal(t.b.changes[0].refused, 1);
	assert_int_equal(t.b.changes[0].rec.client_id[6], 1);
	assert_int_equal(t.b.changes[0].rec.expires, far);
	/* 111 was released and 112 expired: taken. */
	assert_int_equal(t.b.changes[1].refused, 0);
	assert_int_equal(t.b.changes[2].refused, 0);
	assert_int_equal(pg_int(f, "SELECT count(*) FROM leases WHERE get_byte(client_id, 6) = 2"),
			 2);
	f->store->ops->health(f->store, &h);
	assert_false(h.down);
	assert_int_equal(h.refused, 1);

	/* A claim refused brings the leases held just above it: 111 and 112
	 * (client 2's now), 113 (inserted by "another instance"); not 114
	 * (expired) nor 115 (released). */
	pg_exec(f, "INSERT INTO leases VALUES (167772273, '\\x01', '\\x01', '', 4000000000, 1),"
		   " (167772274, '\\x01', '\\x01', '', 5, 1),"
		   " (167772275, '\\x01', '\\x01', '', 4000000000, 2)");
	fill(&t, f, 3, 1);
	t.b.changes[0].rec.ip = htonl(0x0a000000u + 110);
	t.b.changes[0].rec.expires = far - 2;
	assert_int_equal(f->store->ops->submit(f->store, &t.b, on_done, &t), 0);
	run_until_done(f, 1);
	assert_int_equal(t.b.result, 0);
	assert_int_equal(t.b.changes[0].refused, 1);
	assert_int_equal(t.b.n_learned, 3);
	assert_non_null(t.b.learned);
	assert_int_equal(ntohl(t.b.learned[0].ip), 0x0a000000u + 111);
	assert_int_equal(t.b.learned[0].client_id[6], 2);
	assert_int_equal(ntohl(t.b.learned[1].ip), 0x0a000000u + 112);
	assert_int_equal(ntohl(t.b.learned[2].ip), 0x0a000000u + 113);
	assert_int_equal(t.b.learned[2].expires, far);
	free(t.b.learned);
	t.b.learned = NULL;

	/* The holder's own renewal of 110 goes through. */
	fill(&t, f, 1, 1);
	t.b.changes[0].rec.expires = far + 1;
	assert_int_equal(f->store->ops->submit(f->store, &t.b, on_done, &t), 0);
	run_until_done(f, 1);
	assert_int_equal(t.b.changes[0].refused, 0);
	assert_int_equal(pg_int(f, "SELECT count(*) FROM leases WHERE expires = 4000000001"), 1);
}


/* PostgreSQL only: what one instance's API writes (next-boot records,
 * hosts) reaches another instance's store through watch(), in commit
 * order, as the rows stand; an instance that missed changes the table no
 * longer keeps gets every record (full); a set whose records the loop
 * left alone (its own write in flight) is read again. */
struct watched {
	struct loop *loop;
	struct lease_remote_set last;    /* the last set's shape */
	struct lease_remote items[16];   /* its first items (host_json not kept) */
	char json[16][128];
	unsigned sets, fulls, skip_next, calls;  /* calls: with a full set */
	bool one_at_a_time;              /* apply one item per call (slices) */
	bool (*until)(struct watched *w);
};

static void on_remote(struct lease_remote_set *set, void *data)
{
	struct watched *w = data;

	w->calls += set->full;
	if (w->one_at_a_time && ++set->next < set->n)
		return;  /* the store calls again, on a later turn */
	w->sets++;
	w->fulls += set->full;
	w->last = *set;
	memset(w->items, 0, sizeof(w->items));
	for (size_t i = 0; i < set->n && i < 16; i++) {
		w->items[i] = set->items[i];
		w->items[i].host_json = NULL;
		snprintf(w->json[i], sizeof(w->json[i]), "%s",
			 set->items[i].host_json ? set->items[i].host_json : "");
	}
	set->next = set->n;
	set->done = true;
	set->skipped = w->skip_next;
	w->skip_next = 0;
	if (w->until(w))
		loop_quit(w->loop);
}

static void on_give_up(struct loop_timer *t)
{
	loop_quit(t->data ? ((struct watched *)t->data)->loop : NULL);
}

static void run_until(struct fixture *f, struct watched *w)
{
	struct loop_timer guard;

	w->loop = f->loop;
	loop_timer_init(&guard, on_give_up, w);
	loop_timer_arm(f->loop, &guard, 30 * 1000000ull);  /* a hang fails, not blocks */
	assert_int_equal(loop_run(f->loop), 0);
	loop_timer_disarm(f->loop, &guard);
	assert_true(w->until(w));
}

static bool got_nb_and_host(struct watched *w)
{
	return w->last.n == 2 && w->items[0].kind == LEASE_REMOTE_NEXT_BOOT &&
	       w->items[1].kind == LEASE_REMOTE_HOST;
}

static bool got_deletes(struct watched *w)
{
	return w->last.n == 2 && !w->items[0].present && !w->items[1].present;
}

static bool got_full(struct watched *w)
{
	return w->fulls > 0;
}

static unsigned watch_sets_seen;
static bool got_again(struct watched *w)
{
	return w->sets > watch_sets_seen;
}

static void put_api_changes(struct fixture *f, struct tagged *t, bool del)
{
	memset(&t->b, 0, sizeof(t->b));
	t->f = f;
	t->b.n = 2;
	t->b.changes[0].op = del ? LEASE_OP_NEXT_BOOT_DEL : LEASE_OP_NEXT_BOOT_PUT;
	memcpy(t->b.changes[0].nb.mac, "\x52\x54\x00\x00\x00\x07", 6);
	t->b.changes[0].nb.mode = NEXT_BOOT_PROFILE;
	t->b.changes[0].nb.once = 1;
	snprintf(t->b.changes[0].nb.profile, sizeof(t->b.changes[0].nb.profile), "inst");
	snprintf(t->b.changes[0].nb.token, sizeof(t->b.changes[0].nb.token), "%032d", 7);
	t->b.changes[1].op = del ? LEASE_OP_HOST_DEL : LEASE_OP_HOST_PUT;
	snprintf(t->b.changes[1].host.name, sizeof(t->b.changes[1].host.name), "web1");
	t->b.changes[1].host.json = "{\"mac\":\"52:54:00:00:00:07\"}";
}

static void test_pg_watch(void **state)
{
	struct fixture *f = *state;
	static struct tagged t;
	static struct watched w;
	struct lease_store *other = NULL;
	char err[256];

	need_pg(f);
	open_store(f, 1000);
	if (lease_store_pg_open(f->uri, f->loop, &other, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	memset(&w, 0, sizeof(w));
	assert_non_null(other->ops->watch);
	other->ops->watch(other, on_remote, &w);

	/* Written by one, seen by the other: the rows as committed. */
	put_api_changes(f, &t, false);
	assert_int_equal(f->store->ops->submit(f->store, &t.b, on_done, &t), 0);
	run_until_done(f, 1);
	assert_int_equal(t.b.result, 0);
	w.until = got_nb_and_host;
	run_until(f, &w);
	assert_false(w.last.full);
	assert_true(w.items[0].present);
	assert_memory_equal(w.items[0].nb.mac, "\x52\x54\x00\x00\x00\x07", 6);
	assert_int_equal(w.items[0].nb.mode, NEXT_BOOT_PROFILE);
	assert_int_equal(w.items[0].nb.once, 1);
	assert_string_equal(w.items[0].nb.profile, "inst");
	assert_string_equal(w.items[0].nb.token, "00000000000000000000000000000007");
	assert_true(w.items[1].present);
	assert_string_equal(w.items[1].host_name, "web1");
	assert_string_equal(w.json[1], "{\"mac\":\"52:54:00:00:00:07\"}");
	assert_int_equal(pg_int(f, "SELECT count(*) FROM changes"), 2);

	/* The loop leaves the deletes alone once (its own write in flight):
	 * they come again. */
	put_api_changes(f, &t, true);
	w.skip_next = 1;
	assert_int_equal(f->store->ops->submit(f->store, &t.b, on_done, &t), 0);
	run_until_done(f, 1);
	w.until = got_deletes;
	run_until(f, &w);
	watch_sets_seen = w.sets;
	w.until = got_again;
	run_until(f, &w);
	assert_true(got_deletes(&w));

	/* Fell behind what the table keeps: every record, full. */
	put_api_changes(f, &t, false);
	assert_int_equal(f->store->ops->submit(f->store, &t.b, on_done, &t), 0);
	run_until_done(f, 1);
	pg_exec(f, "DELETE FROM changes; UPDATE changes_pruned SET upto = 1000000;"
		   "NOTIFY kidou_changes");
	w.until = got_full;
	w.one_at_a_time = true;
	w.calls = 0;
	run_until(f, &w);
	assert_int_equal(w.last.n, 2);
	assert_int_equal(w.calls, 2);  /* a slice a turn, the set once done */
	lease_store_close(other);
}

#define PG_CASE(name) \
	static void pg_##name(void **state) { need_pg(*state); name(state); }
PG_CASE(test_batches_done_in_order)
PG_CASE(test_failure_has_reason)
PG_CASE(test_queue_is_bounded)
PG_CASE(test_bad_batches_refused)
PG_CASE(test_close_with_pending)
PG_CASE(test_next_boot_round_trip)
PG_CASE(test_newer_schema_refused)
PG_CASE(test_hosts_round_trip)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_batches_done_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failure_has_reason, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_is_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_batches_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_with_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_next_boot_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hosts_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_schema2_migrates, setup, teardown),
		cmocka_unit_test_setup_teardown(pg_test_batches_done_in_order, setup_pg, teardown),
		cmocka_unit_test_setup_teardown(pg_test_failure_has_reason, setup_pg, teardown),
		cmocka_unit_test_setup_teardown(pg_test_queue_is_bounded, setup_pg, teardown),
		cmocka_unit_test_setup_teardown(pg_test_bad_batches_refused, setup_pg, teardown),
		cmocka_unit_test_setup_teardown(pg_test_close_with_pending, setup_pg, teardown),
		cmocka_unit_test_setup_teardown(pg_test_next_boot_round_trip, setup_pg, teardown),
		cmocka_unit_test_setup_teardown(pg_test_newer_schema_refused, setup_pg, teardown),
		cmocka_unit_test_setup_teardown(pg_test_hosts_round_trip, setup_pg, teardown),
		cmocka_unit_test_setup_teardown(test_pg_claims, setup_pg, teardown),
		cmocka_unit_test_setup_teardown(test_pg_watch, setup_pg, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
