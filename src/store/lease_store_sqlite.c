/* lease_store_sqlite.c - the SQLite lease_store (see lease_store.h).
 *
 * WAL journal with synchronous=FULL: a commit is fsync'd before its batch
 * is reported done, and readers (a later API) never block the server.
 *
 * A writer thread owns the sqlite3 handle once the loop runs and commits
 * the batches in order; fsync and any wait on another process's lock (an
 * operator's sqlite3 shell, a backup, VACUUM) block only it. The loop and
 * the writer share only the job ring below, under one mutex: the writer
 * reads the batch it took and writes its result, and the loop runs done()
 * after the eventfd says a job finished (libuv's uv_queue_work and
 * uv_async_send, with one worker so that commits keep their order). */
#include "store/lease_store.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

/* The busy handler sleeps in steps this long between tries. */
#define BUSY_STEP_MS 10

struct job {
	struct lease_batch *batch;
	lease_store_done_fn *done;
	void *data;
	bool finished;           /* the writer has set batch->result */
};

struct sqlite_store {
	struct lease_store base;
	sqlite3 *db;             /* the writer's once it has started */
	sqlite3_stmt *put, *del, *load, *begin, *commit, *rollback;
	sqlite3_stmt *nb_put, *nb_del, *nb_load;
	sqlite3_stmt *host_put, *host_del, *host_load;
	unsigned busy_timeout_ms;
	atomic_bool stopping;    /* close(): give up waiting on locks */

	struct loop *loop;
	int efd;                 /* writer -> loop: some job finished */
	struct loop_io io;
	pthread_t writer;
	bool writer_started;

	pthread_mutex_t mu;      /* guards everything below */
	pthread_cond_t cond;     /* loop -> writer: a job or stop */
	struct job ring[LEASE_STORE_QUEUE_MAX];
	unsigned head;           /* oldest job not yet reported done */
	unsigned count;          /* jobs submitted and not yet reported */
	unsigned taken;          /* of those, taken by the writer (from head) */
	bool stop;
};

static const char schema[] =
	"PRAGMA journal_mode=WAL;"
	"PRAGMA synchronous=FULL;"
	"CREATE TABLE IF NOT EXISTS leases ("
	"  ip INTEGER PRIMARY KEY,"          /* host-order IPv4 as integer */
	"  client_id BLOB NOT NULL,"
	"  hwaddr BLOB NOT NULL,"
	"  hostname TEXT NOT NULL DEFAULT '',"
	"  expires INTEGER NOT NULL,"
	"  state INTEGER NOT NULL"
	");"
	/* Schema 2 (PRAGMA user_version): next-boot records. A schema-1
	 * database (leases only) gains the table; nothing else changed. */
	"CREATE TABLE IF NOT EXISTS next_boot ("
	"  mac BLOB PRIMARY KEY,"            /* 6 bytes */
	"  mode INTEGER NOT NULL,"
	"  once INTEGER NOT NULL DEFAULT 0,"
	"  profile TEXT NOT NULL DEFAULT '',"
	"  token TEXT NOT NULL DEFAULT ''"
	");"
	/* Schema 3: hosts written through the API, each the JSON body it
	 * was accepted as. A schema-2 database gains the table; nothing
	 * else changed. */
	"CREATE TABLE IF NOT EXISTS hosts ("
	"  name TEXT PRIMARY KEY,"
	"  body TEXT NOT NULL"
	");"
	"PRAGMA user_version=3;";

/* A database written by a newer kidou may mean something else by its
 * tables: refuse it rather than guess. */
#define SCHEMA_VERSION 3

static int step_reset(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : rc;
}

static int exec_put(struct sqlite_store *s, const struct lease_record *r)
{
	sqlite3_bind_int64(s->put, 1, (sqlite3_int64)__builtin_bswap32(r->ip));
	sqlite3_bind_blob(s->put, 2, r->client_id, MIN(r->client_id_len, (uint8_t)LEASE_CLIENT_ID_MAX),
			  SQLITE_TRANSIENT);
	sqlite3_bind_blob(s->put, 3, r->hwaddr, MIN(r->hwaddr_len, (uint8_t)sizeof(r->hwaddr)),
			  SQLITE_TRANSIENT);
	sqlite3_bind_text(s->put, 4, r->hostname, (int)strnlen(r->hostname, sizeof(r->hostname)),
			  SQLITE_TRANSIENT);
	sqlite3_bind_int64(s->put, 5, r->expires);
	sqlite3_bind_int(s->put, 6, r->state);
	return step_reset(s->put);
}

static int exec_del(struct sqlite_store *s, uint32_t ip)
{
	sqlite3_bind_int64(s->del, 1, (sqlite3_int64)__builtin_bswap32(ip));
	return step_reset(s->del);
}

static int exec_nb_put(struct sqlite_store *s, const struct next_boot_record *r)
{
	sqlite3_bind_blob(s->nb_put, 1, r->mac, 6, SQLITE_TRANSIENT);
	sqlite3_bind_int(s->nb_put, 2, r->mode);
	sqlite3_bind_int(s->nb_put, 3, r->once ? 1 : 0);
	sqlite3_bind_text(s->nb_put, 4, r->profile, (int)strnlen(r->profile, sizeof(r->profile)),
			  SQLITE_TRANSIENT);
	sqlite3_bind_text(s->nb_put, 5, r->token, (int)strnlen(r->token, sizeof(r->token)),
			  SQLITE_TRANSIENT);
	return step_reset(s->nb_put);
}

static int exec_nb_del(struct sqlite_store *s, const uint8_t mac[6])
{
	sqlite3_bind_blob(s->nb_del, 1, mac, 6, SQLITE_TRANSIENT);
	return step_reset(s->nb_del);
}

static int exec_host_put(struct sqlite_store *s, const struct host_change *h)
{
	sqlite3_bind_text(s->host_put, 1, h->name, (int)strnlen(h->name, sizeof(h->name)),
			  SQLITE_TRANSIENT);
	sqlite3_bind_text(s->host_put, 2, h->json ? h->json : "{}", -1, SQLITE_TRANSIENT);
	return step_reset(s->host_put);
}

static int exec_host_del(struct sqlite_store *s, const struct host_change *h)
{
	sqlite3_bind_text(s->host_del, 1, h->name, (int)strnlen(h->name, sizeof(h->name)),
			  SQLITE_TRANSIENT);
	return step_reset(s->host_del);
}

static int exec_change(struct sqlite_store *s, const struct lease_change *c)
{
	switch (c->op) {
	case LEASE_OP_HOST_PUT: return exec_host_put(s, &c->host);
	case LEASE_OP_HOST_DEL: return exec_host_del(s, &c->host);
	case LEASE_OP_DEL: return exec_del(s, c->rec.ip);
	case LEASE_OP_NEXT_BOOT_PUT: return exec_nb_put(s, &c->nb);
	case LEASE_OP_NEXT_BOOT_DEL: return exec_nb_del(s, c->nb.mac);
	default: return exec_put(s, &c->rec);
	}
}

static int errno_of(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_READONLY:
	case SQLITE_PERM:
		return -EACCES;
	case SQLITE_NOMEM:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

/* On the writer: one transaction for the whole batch. Reads b's changes,
 * writes b->result and b->error, and nothing else. */
static void commit_batch(struct sqlite_store *s, struct lease_batch *b)
{
	int rc = step_reset(s->begin);

	for (unsigned i = 0; rc == 0 && i < b->n; i++)
		rc = exec_change(s, &b->changes[i]);
	if (rc == 0)
		rc = step_reset(s->commit);
	if (rc == 0) {
		b->result = 0;
		b->error[0] = '\0';
		return;
	}
	/* SQLite's own words (database is locked, database or disk is full,
	 * disk I/O error) before the rollback replaces them. */
	b->result = errno_of(sqlite3_extended_errcode(s->db));
	snprintf(b->error, sizeof(b->error), "%s", sqlite3_errmsg(s->db));
	if (!sqlite3_get_autocommit(s->db))
		step_reset(s->rollback);
}

static void *writer_main(void *arg)
{
	struct sqlite_store *s = arg;
	uint64_t one = 1;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		struct job *j;

		while (!s->stop && s->taken == s->count)
			pthread_cond_wait(&s->cond, &s->mu);
		if (s->stop)
			break;
		j = &s->ring[(s->head + s->taken) % LEASE_STORE_QUEUE_MAX];
		s->taken++;
		pthread_mutex_unlock(&s->mu);
		commit_batch(s, j->batch);
		pthread_mutex_lock(&s->mu);
		j->finished = true;
		/* A full counter (never, at 2^64 - 1) only merges wakeups. */
		if (write(s->efd, &one, sizeof(one)) < 0) {
		}
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* In loop context: report every finished job at the head, in order. The
 * lock is not held while done() runs, so done() may submit again. */
static void on_finished(struct loop_io *io, uint32_t revents)
{
	struct sqlite_store *s = io->data;
	uint64_t n;

	if (read(s->efd, &n, sizeof(n)) < 0) {
		/* EAGAIN: a wakeup already consumed; look anyway */
	}
	for (;;) {
		struct job j;

		pthread_mutex_lock(&s->mu);
		if (!s->count || !s->ring[s->head].finished) {
			pthread_mutex_unlock(&s->mu);
			return;
		}
		j = s->ring[s->head];
		s->ring[s->head] = (struct job){ 0 };
		s->head = (s->head + 1) % LEASE_STORE_QUEUE_MAX;
		s->count--;
		s->taken--;
		pthread_mutex_unlock(&s->mu);
		j.done(j.batch, j.data);
	}
}

static int store_submit(struct lease_store *base, struct lease_batch *b,
			lease_store_done_fn *done, void *data)
{
	struct sqlite_store *s = (struct sqlite_store *)base;

	if (!b || !done || b->n == 0 || b->n > LEASE_BATCH_MAX)
		return -EINVAL;
	pthread_mutex_lock(&s->mu);
	if (s->count == LEASE_STORE_QUEUE_MAX || s->stop) {
		pthread_mutex_unlock(&s->mu);
		return -EBUSY;
	}
	b->result = -EINPROGRESS;
	b->learned = NULL;  /* one writer: no claim is refused */
	b->n_learned = 0;
	b->error[0] = '\0';
	s->ring[(s->head + s->count) % LEASE_STORE_QUEUE_MAX] =
		(struct job){ .batch = b, .done = done, .data = data };
	s->count++;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

/* Instead of sqlite3_busy_timeout(): the same wait, but close() can cut
 * it short. Returning 0 makes the statement fail with SQLITE_BUSY. */
static int busy_handler(void *arg, int tries)
{
	struct sqlite_store *s = arg;
	struct timespec step = { 0, BUSY_STEP_MS * 1000000L };

	if (atomic_load(&s->stopping) || (uint64_t)tries * BUSY_STEP_MS >= s->busy_timeout_ms)
		return 0;
	nanosleep(&step, NULL);
	return 1;
}

static size_t copy_blob(sqlite3_stmt *st, int col, uint8_t *out, size_t max)
{
	const void *p = sqlite3_column_blob(st, col);
	size_t n = (size_t)sqlite3_column_bytes(st, col);

	if (n > max)
		n = max;  /* a database edited by hand must not overflow us */
	if (p && n)
		memcpy(out, p, n);
	return n;
}

static int store_load(struct lease_store *base,
		      int (*cb)(const struct lease_record *r, void *ctx), void *ctx)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	int rc, r = 0;

	while ((rc = sqlite3_step(s->load)) == SQLITE_ROW) {
		struct lease_record rec = { 0 };
		const unsigned char *host;
		sqlite3_int64 ip = sqlite3_column_int64(s->load, 0);

		if (ip < 0 || ip > UINT32_MAX)
			continue;
		rec.ip = __builtin_bswap32((uint32_t)ip);
		rec.client_id_len = (uint8_t)copy_blob(s->load, 1, rec.client_id,
						       sizeof(rec.client_id));
		rec.hwaddr_len = (uint8_t)copy_blob(s->load, 2, rec.hwaddr, sizeof(rec.hwaddr));
		host = sqlite3_column_text(s->load, 3);
		if (host)
			snprintf(rec.hostname, sizeof(rec.hostname), "%s", (const char *)host);
		rec.expires = sqlite3_column_int64(s->load, 4);
		rec.state = (uint8_t)sqlite3_column_int(s->load, 5);
		r = cb(&rec, ctx);
		if (r < 0)
			break;
	}
	sqlite3_reset(s->load);
	if (r < 0)
		return r;
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -EIO;
}

static int store_load_next_boot(struct lease_store *base,
				int (*cb)(const struct next_boot_record *r, void *ctx), void *ctx)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	int rc, r = 0;

	while ((rc = sqlite3_step(s->nb_load)) == SQLITE_ROW) {
		struct next_boot_record rec = { 0 };
		const unsigned char *text;
		int mode = sqlite3_column_int(s->nb_load, 1);

		/* A row edited by hand into something kidou never writes is
		 * skipped, not half-trusted. */
		if (copy_blob(s->nb_load, 0, rec.mac, 6) != 6 || sqlite3_column_bytes(s->nb_load, 0) != 6 ||
		    (mode != NEXT_BOOT_PROFILE && mode != NEXT_BOOT_LOCAL))
			continue;
		rec.mode = (uint8_t)mode;
		rec.once = sqlite3_column_int(s->nb_load, 2) ? 1 : 0;
		text = sqlite3_column_text(s->nb_load, 3);
		if (text)
			snprintf(rec.profile, sizeof(rec.profile), "%s", (const char *)text);
		text = sqlite3_column_text(s->nb_load, 4);
		if (text)
			snprintf(rec.token, sizeof(rec.token), "%s", (const char *)text);
		r = cb(&rec, ctx);
		if (r < 0)
			break;
	}
	sqlite3_reset(s->nb_load);
	if (r < 0)
		return r;
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -EIO;
}

static int store_load_hosts(struct lease_store *base,
			    int (*cb)(const char *name, const char *json, void *ctx), void *ctx)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	int rc, r = 0;

	while ((rc = sqlite3_step(s->host_load)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(s->host_load, 0);
		const char *json = (const char *)sqlite3_column_text(s->host_load, 1);

		if (!name || !json)
			continue;
		r = cb(name, json, ctx);
		if (r < 0)
			break;
	}
	sqlite3_reset(s->host_load);
	if (r < 0)
		return r;
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -EIO;
}

static void store_close(struct lease_store *base)
{
	struct sqlite_store *s = (struct sqlite_store *)base;

	if (s->writer_started) {
		atomic_store(&s->stopping, true);
		pthread_mutex_lock(&s->mu);
		s->stop = true;
		pthread_cond_signal(&s->cond);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->writer, NULL);
	}
	if (s->efd >= 0) {
		loop_io_del(s->loop, &s->io);
		safe_close(s->efd);
	}
	sqlite3_finalize(s->put);
	sqlite3_finalize(s->del);
	sqlite3_finalize(s->load);
	sqlite3_finalize(s->begin);
	sqlite3_finalize(s->commit);
	sqlite3_finalize(s->rollback);
	sqlite3_finalize(s->nb_put);
	sqlite3_finalize(s->nb_del);
	sqlite3_finalize(s->nb_load);
	sqlite3_finalize(s->host_put);
	sqlite3_finalize(s->host_del);
	sqlite3_finalize(s->host_load);
	sqlite3_close(s->db);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->mu);
	/* close() may run in a loop callback (SIGTERM): the eventfd's event
	 * may already be collected this iteration, so s->io must outlive it. */
	if (!s->loop || loop_defer(s->loop, free, s) < 0)
		free(s);
}

static const struct lease_store_ops sqlite_ops = {
	.load = store_load,
	.submit = store_submit,
	.close = store_close,
	.load_next_boot = store_load_next_boot,
	.load_hosts = store_load_hosts,
};

static int schema_version(sqlite3 *db)
{
	sqlite3_stmt *st;
	int v = -1;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

static int start_writer(struct sqlite_store *s, struct loop *loop)
{
	sigset_t all, old;
	int r;

	s->loop = loop;
	s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->efd < 0)
		return -errno;
	s->io = (struct loop_io){ .fd = s->efd, .events = EPOLLIN, .cb = on_finished, .data = s };
	r = loop_io_add(loop, &s->io);
	if (r < 0) {
		safe_close(s->efd);
		s->efd = -1;
		return r;
	}
	/* Signals are the loop's (signalfd): the writer never takes one. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = -pthread_create(&s->writer, NULL, writer_main, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0)
		return r;
	s->writer_started = true;
	return 0;
}

int lease_store_sqlite_open(const char *path, struct loop *loop, unsigned busy_timeout_ms,
			    struct lease_store **ret, char *err, size_t errsize)
{
	struct sqlite_store *s = calloc(1, sizeof(*s));
	char *msg = NULL;
	int r = -EIO;

	if (!s)
		return -ENOMEM;
	s->base.ops = &sqlite_ops;
	s->efd = -1;
	s->busy_timeout_ms = busy_timeout_ms;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cond, NULL);
	/* NOMUTEX: one thread at a time uses the handle (this one until the
	 * loop runs, then the writer), handed over under s->mu. */
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_busy_handler(s->db, busy_handler, s);
	if (schema_version(s->db) > SCHEMA_VERSION) {
		snprintf(err, errsize, "%s: schema version %d is newer than this kidou's (%d)", path,
			 schema_version(s->db), SCHEMA_VERSION);
		store_close(&s->base);
		return -EPROTO;
	}
	if (sqlite3_exec(s->db, schema, NULL, NULL, &msg) != SQLITE_OK)
		goto fail;
	if (sqlite3_prepare_v2(s->db,
			       "INSERT OR REPLACE INTO leases(ip, client_id, hwaddr, hostname, expires, state)"
			       " VALUES(?1, ?2, ?3, ?4, ?5, ?6)", -1, &s->put, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, "DELETE FROM leases WHERE ip = ?1", -1, &s->del, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, "SELECT ip, client_id, hwaddr, hostname, expires, state FROM leases",
			       -1, &s->load, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, "BEGIN IMMEDIATE", -1, &s->begin, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, "COMMIT", -1, &s->commit, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, "ROLLBACK", -1, &s->rollback, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO next_boot(mac, mode, once, profile, token)"
			       " VALUES(?1, ?2, ?3, ?4, ?5)", -1, &s->nb_put, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, "DELETE FROM next_boot WHERE mac = ?1", -1, &s->nb_del,
			       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, "SELECT mac, mode, once, profile, token FROM next_boot", -1,
			       &s->nb_load, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO hosts(name, body) VALUES(?1, ?2)", -1,
			       &s->host_put, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, "DELETE FROM hosts WHERE name = ?1", -1, &s->host_del,
			       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, "SELECT name, body FROM hosts ORDER BY name", -1,
			       &s->host_load, NULL) != SQLITE_OK)
		goto fail;
	r = start_writer(s, loop);
	if (r < 0) {
		snprintf(err, errsize, "%s: cannot start the writer: %s", path, strerror(-r));
		store_close(&s->base);
		return r;
	}
	*ret = &s->base;
	return 0;
fail:
	snprintf(err, errsize, "%s: %s", path, msg ? msg : sqlite3_errmsg(s->db));
	sqlite3_free(msg);
	store_close(&s->base);
	return r;
}
