/* lease_store_pg.c - the PostgreSQL lease_store (see lease_store.h),
 * shared by any number of kidou instances serving the same pools.
 *
 * Why a writer thread with blocking libpq, not libpq's async API on the
 * loop: connecting (PQconnectdb: DNS, TCP, TLS, authentication) has no
 * complete non-blocking form for every step (getaddrinfo blocks), the
 * read-back after a refused claim depends on the claim's answer, and a
 * reconnect with backoff is a plain loop in a thread. The thread is the
 * SQLite store's (same job ring, same eventfd into the loop, same order
 * of done()), so dhcp_io and the API see one contract; the loop never
 * touches the connection once it runs. The cost is one round trip per
 * change on that thread, which group commit amortises (see README).
 *
 * Claims are atomic in the database, never trusted from memory: a PUT is
 * INSERT ... ON CONFLICT (ip) DO UPDATE ... WHERE the stored row is this
 * client's, expired, or released (a DECLINE by the machine that holds the
 * lease, matched by hardware address since a declined row has no owner).
 * When no row comes back the claim was refused: the holder's row is read
 * back in the same transaction so that the instance learns who holds the
 * address and until when. Changes run in address order, so two instances
 * committing overlapping batches lock rows in the same order (no
 * deadlock between them).
 *
 * The connection: libpq's own URI, with the password only from a passfile
 * or PGPASSFILE (config refuses one in the URI). When the database cannot
 * be reached, batches fail at once with -ENOTCONN (no ACK leaves), the
 * writer retries with a backoff from RETRY_MIN_MS doubling to
 * RETRY_MAX_MS, and the loop logs the outage once, when it starts, and
 * once when it ends. */
#include "store/lease_store.h"

#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define MOD "store"
#define STR_(x) #x
#define STRINGIFY(x) STR_(x)
/* kidou's schema: leases, next_boot, hosts (as SQLite's user_version 3),
 * and schema_version itself. */
#define SCHEMA_VERSION 3
#define RETRY_MIN_MS 250
#define RETRY_MAX_MS 10000
/* libpq's connect_timeout: a dead host must not hold the writer long. */
#define CONNECT_TIMEOUT_SEC "5"
/* Serialises schema creation between instances starting together. */
#define SCHEMA_LOCK_KEY 1802069103  /* "kido" in ASCII, 0x6b69646f */

struct job {
	struct lease_batch *batch;
	lease_store_done_fn *done;
	void *data;
	bool finished;
};

struct pg_store {
	struct lease_store base;
	PGconn *conn;            /* the writer's once it has started */
	char *uri;

	struct loop *loop;
	int efd;
	struct loop_io io;
	pthread_t writer;
	bool writer_started;

	/* The writer's alone. */
	unsigned backoff_ms;
	uint64_t retry_at;       /* monotonic usec: next reconnect try */

	/* Written by the writer, read by the loop. */
	atomic_bool down;
	atomic_uint_fast64_t outages;
	atomic_uint_fast64_t refused;
	/* The loop's: what it has logged. */
	bool logged_down;
	uint64_t down_since;

	pthread_mutex_t mu;      /* guards everything below */
	pthread_cond_t cond;
	char down_error[160];    /* libpq's words for the outage */
	int conn_fd;             /* the writer's connection's socket, or -1 */
	struct job ring[LEASE_STORE_QUEUE_MAX];
	unsigned head, count, taken;
	bool stop;
};

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS leases ("
	"  ip bigint PRIMARY KEY,"           /* host-order IPv4, as SQLite's */
	"  client_id bytea NOT NULL,"
	"  hwaddr bytea NOT NULL,"
	"  hostname text NOT NULL DEFAULT '',"
	"  expires bigint NOT NULL,"         /* Unix time, seconds */
	"  state smallint NOT NULL"          /* enum lease_state */
	");"
	"CREATE TABLE IF NOT EXISTS next_boot ("
	"  mac bytea PRIMARY KEY,"
	"  mode smallint NOT NULL,"
	"  once smallint NOT NULL DEFAULT 0,"
	"  profile text NOT NULL DEFAULT '',"
	"  token text NOT NULL DEFAULT ''"
	");"
	"CREATE TABLE IF NOT EXISTS hosts ("
	"  name text PRIMARY KEY,"
	"  body text NOT NULL"
	");";

/* $7: the committing instance's clock. Released rows are free for anyone
 * (the owner only "prefers" them); declined ones only once expired, or
 * for the declining machine itself. */
static const char claim_sql[] =
	"INSERT INTO leases AS l (ip, client_id, hwaddr, hostname, expires, state)"
	" VALUES ($1, $2, $3, $4, $5, $6)"
	" ON CONFLICT (ip) DO UPDATE SET client_id = EXCLUDED.client_id,"
	"  hwaddr = EXCLUDED.hwaddr, hostname = EXCLUDED.hostname,"
	"  expires = EXCLUDED.expires, state = EXCLUDED.state"
	" WHERE l.client_id = EXCLUDED.client_id OR l.expires <= $7 OR l.state = 2"
	"  OR (EXCLUDED.state = 3 AND l.hwaddr = EXCLUDED.hwaddr)"
	" RETURNING 1";

static const char holder_sql[] =
	"SELECT ip, client_id, hwaddr, hostname, expires, state FROM leases WHERE ip = $1";

static void set_error(char *out, size_t size, const char *msg)
{
	size_t n;

	snprintf(out, size, "%s", msg && *msg ? msg : "unknown error");
	n = strlen(out);
	while (n && (out[n - 1] == '\n' || out[n - 1] == ' '))
		out[--n] = '\0';  /* libpq ends its messages with a newline */
}

/* A statement's result: 1 when it ran (tuples or command), 0 when it
 * failed, with the error left in err. */
static bool res_ok(PGresult *res, char *err, size_t errsize)
{
	ExecStatusType st = PQresultStatus(res);

	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return true;
	if (err)
		set_error(err, errsize, PQresultErrorMessage(res));
	return false;
}

static bool exec_simple(PGconn *c, const char *sql, char *err, size_t errsize)
{
	PGresult *res = PQexec(c, sql);
	bool ok = res_ok(res, err, errsize);

	PQclear(res);
	return ok;
}

/* --- reading rows --- */

static size_t copy_bytea(const PGresult *res, int row, int col, uint8_t *out, size_t max)
{
	size_t n = 0;
	unsigned char *b = PQunescapeBytea((const unsigned char *)PQgetvalue(res, row, col), &n);

	if (!b)
		return 0;
	if (n > max)
		n = max;  /* a row edited by hand must not overflow us */
	memcpy(out, b, n);
	PQfreemem(b);
	return n;
}

static int64_t get_i64(const PGresult *res, int row, int col)
{
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* Columns ip, client_id, hwaddr, hostname, expires, state. */
static bool row_to_lease(const PGresult *res, int row, struct lease_record *rec)
{
	int64_t ip = get_i64(res, row, 0);

	if (ip < 0 || ip > UINT32_MAX)
		return false;
	memset(rec, 0, sizeof(*rec));
	rec->ip = __builtin_bswap32((uint32_t)ip);
	rec->client_id_len = (uint8_t)copy_bytea(res, row, 1, rec->client_id, sizeof(rec->client_id));
	rec->hwaddr_len = (uint8_t)copy_bytea(res, row, 2, rec->hwaddr, sizeof(rec->hwaddr));
	snprintf(rec->hostname, sizeof(rec->hostname), "%s", PQgetvalue(res, row, 3));
	rec->expires = get_i64(res, row, 4);
	rec->state = (uint8_t)get_i64(res, row, 5);
	return true;
}

/* --- the writer's statements --- */

/* Run one change. 1 done, 0 refused (a claim; c's rec now the holder's),
 * -1 failed (err says why). */
static int exec_put(PGconn *conn, struct lease_change *c, int64_t now, char *err, size_t errsize)
{
	const struct lease_record *r = &c->rec;
	char ip[16], expires[24], state[8], nowbuf[24];
	char host[LEASE_HOSTNAME_MAX];
	const char *v[7] = { ip, (const char *)r->client_id, (const char *)r->hwaddr, host,
			     expires, state, nowbuf };
	int len[7] = { 0, MIN(r->client_id_len, (uint8_t)LEASE_CLIENT_ID_MAX),
		       MIN(r->hwaddr_len, (uint8_t)sizeof(r->hwaddr)), 0, 0, 0, 0 };
	int fmt[7] = { 0, 1, 1, 0, 0, 0, 0 };  /* the identities as binary bytea */
	PGresult *res;
	int rc;

	snprintf(ip, sizeof(ip), "%u", __builtin_bswap32(r->ip));
	snprintf(expires, sizeof(expires), "%lld", (long long)r->expires);
	snprintf(state, sizeof(state), "%u", r->state);
	snprintf(nowbuf, sizeof(nowbuf), "%lld", (long long)now);
	snprintf(host, sizeof(host), "%.*s", (int)strnlen(r->hostname, sizeof(r->hostname)),
		 r->hostname);
	res = PQexecParams(conn, claim_sql, 7, NULL, v, len, fmt, 0);
	if (!res_ok(res, err, errsize)) {
		PQclear(res);
		return -1;
	}
	rc = PQntuples(res) == 1;
	PQclear(res);
	if (rc)
		return 1;
	/* Refused: who holds it, as this transaction sees it now (READ
	 * COMMITTED: the row that refused us is committed). */
	res = PQexecParams(conn, holder_sql, 1, NULL, v, NULL, NULL, 0);
	if (!res_ok(res, err, errsize)) {
		PQclear(res);
		return -1;
	}
	c->refused = 1;
	if (PQntuples(res) != 1 || !row_to_lease(res, 0, &c->rec)) {
		/* Deleted meanwhile: nobody to mirror; hold it a moment. */
		c->rec.client_id_len = 0;
		c->rec.state = LEASE_DECLINED;
		c->rec.expires = now + 10;
	}
	PQclear(res);
	return 0;
}

static int exec_params(PGconn *conn, const char *sql, int n, const char *const *v,
		       const int *len, const int *fmt, char *err, size_t errsize)
{
	PGresult *res = PQexecParams(conn, sql, n, NULL, v, len, fmt, 0);
	int rc = res_ok(res, err, errsize) ? 1 : -1;

	PQclear(res);
	return rc;
}

static int exec_change(PGconn *conn, struct lease_change *c, int64_t now, char *err,
		       size_t errsize)
{
	char a[24], b[8], d[8];

	switch (c->op) {
	case LEASE_OP_PUT:
		return exec_put(conn, c, now, err, errsize);
	case LEASE_OP_DEL: {
		const char *v[1] = { a };
		snprintf(a, sizeof(a), "%u", __builtin_bswap32(c->rec.ip));
		return exec_params(conn, "DELETE FROM leases WHERE ip = $1", 1, v, NULL, NULL, err,
				   errsize);
	}
	case LEASE_OP_NEXT_BOOT_PUT: {
		const struct next_boot_record *r = &c->nb;
		char profile[NEXT_BOOT_PROFILE_MAX], token[NEXT_BOOT_TOKEN_HEX + 1];
		const char *v[5] = { (const char *)r->mac, b, d, profile, token };
		int len[5] = { 6, 0, 0, 0, 0 }, fmt[5] = { 1, 0, 0, 0, 0 };
		snprintf(b, sizeof(b), "%u", r->mode);
		snprintf(d, sizeof(d), "%u", r->once ? 1 : 0);
		snprintf(profile, sizeof(profile), "%.*s",
			 (int)strnlen(r->profile, sizeof(r->profile)), r->profile);
		snprintf(token, sizeof(token), "%.*s", (int)strnlen(r->token, sizeof(r->token)),
			 r->token);
		return exec_params(conn, "INSERT INTO next_boot(mac, mode, once, profile, token)"
				   " VALUES($1, $2, $3, $4, $5) ON CONFLICT (mac) DO UPDATE SET"
				   " mode = EXCLUDED.mode, once = EXCLUDED.once,"
				   " profile = EXCLUDED.profile, token = EXCLUDED.token",
				   5, v, len, fmt, err, errsize);
	}
	case LEASE_OP_NEXT_BOOT_DEL: {
		const char *v[1] = { (const char *)c->nb.mac };
		int len[1] = { 6 }, fmt[1] = { 1 };
		return exec_params(conn, "DELETE FROM next_boot WHERE mac = $1", 1, v, len, fmt,
				   err, errsize);
	}
	case LEASE_OP_HOST_PUT: {
		char name[HOST_NAME_MAX_LEN + 1];
		const char *v[2] = { name, c->host.json ? c->host.json : "{}" };
		snprintf(name, sizeof(name), "%.*s",
			 (int)strnlen(c->host.name, sizeof(c->host.name)), c->host.name);
		return exec_params(conn, "INSERT INTO hosts(name, body) VALUES($1, $2)"
				   " ON CONFLICT (name) DO UPDATE SET body = EXCLUDED.body",
				   2, v, NULL, NULL, err, errsize);
	}
	case LEASE_OP_HOST_DEL: {
		char name[HOST_NAME_MAX_LEN + 1];
		const char *v[1] = { name };
		snprintf(name, sizeof(name), "%.*s",
			 (int)strnlen(c->host.name, sizeof(c->host.name)), c->host.name);
		return exec_params(conn, "DELETE FROM hosts WHERE name = $1", 1, v, NULL, NULL, err,
				   errsize);
	}
	default:
		snprintf(err, errsize, "unknown change %u", c->op);
		return -1;
	}
}

/* The lock order: lease changes by address, stable (a batch may change
 * one address twice, in order); the rest after them, in order. */
static uint32_t order_key(const struct lease_change *c)
{
	return c->op == LEASE_OP_PUT || c->op == LEASE_OP_DEL ? __builtin_bswap32(c->rec.ip) :
		UINT32_MAX;
}

static void sort_changes(const struct lease_batch *b, unsigned *idx)
{
	for (unsigned i = 0; i < b->n; i++) {
		unsigned k = i;
		idx[i] = i;
		while (k && order_key(&b->changes[idx[k - 1]]) > order_key(&b->changes[i])) {
			idx[k] = idx[k - 1];
			k--;
		}
		idx[k] = i;
	}
}

/* --- connection and outages (the writer) --- */

static PGconn *connect_db(const char *uri)
{
	const char *keys[] = { "dbname", "connect_timeout", "fallback_application_name", NULL };
	const char *vals[] = { uri, CONNECT_TIMEOUT_SEC, "kidou", NULL };

	return PQconnectdbParams(keys, vals, 1);
}

static void mark_down(struct pg_store *s, const char *why)
{
	uint64_t one = 1;

	pthread_mutex_lock(&s->mu);
	set_error(s->down_error, sizeof(s->down_error), why);
	pthread_mutex_unlock(&s->mu);
	if (!atomic_exchange(&s->down, true))
		atomic_fetch_add(&s->outages, 1);
	s->backoff_ms = s->backoff_ms ? MIN(s->backoff_ms * 2, (unsigned)RETRY_MAX_MS) :
		RETRY_MIN_MS;
	s->retry_at = now_usec() + (uint64_t)s->backoff_ms * 1000;
	if (write(s->efd, &one, sizeof(one)) < 0) {
	}
}

/* Is there a usable connection? Reconnects when the backoff allows. */
static bool ensure_connected(struct pg_store *s)
{
	uint64_t one = 1;

	if (s->conn && PQstatus(s->conn) == CONNECTION_OK)
		return true;
	if (now_usec() < s->retry_at)
		return false;
	pthread_mutex_lock(&s->mu);
	s->conn_fd = -1;  /* close() must not shut down a reused descriptor */
	if (s->stop) {
		pthread_mutex_unlock(&s->mu);
		return false;
	}
	pthread_mutex_unlock(&s->mu);
	PQfinish(s->conn);
	s->conn = connect_db(s->uri);
	if (PQstatus(s->conn) != CONNECTION_OK) {
		mark_down(s, PQerrorMessage(s->conn));
		return false;
	}
	pthread_mutex_lock(&s->mu);
	s->conn_fd = PQsocket(s->conn);
	pthread_mutex_unlock(&s->mu);
	s->backoff_ms = 0;
	s->retry_at = 0;
	if (atomic_exchange(&s->down, false) && write(s->efd, &one, sizeof(one)) < 0) {
	}
	return true;
}

/* On the writer: one transaction for the whole batch. Reads b's changes,
 * writes b->result, b->error and the changes' refused (and a refused
 * claim's rec). */
static void commit_batch(struct pg_store *s, struct lease_batch *b)
{
	unsigned idx[LEASE_BATCH_MAX];
	int64_t now = (int64_t)time(NULL);
	uint64_t refused = 0;
	bool ok;

	for (unsigned i = 0; i < b->n; i++)
		b->changes[i].refused = 0;
	if (!ensure_connected(s)) {
		b->result = -ENOTCONN;
		pthread_mutex_lock(&s->mu);
		snprintf(b->error, sizeof(b->error), "database unreachable: %.130s", s->down_error);
		pthread_mutex_unlock(&s->mu);
		return;
	}
	sort_changes(b, idx);
	ok = exec_simple(s->conn, "BEGIN", b->error, sizeof(b->error));
	if (!ok && PQstatus(s->conn) != CONNECTION_OK) {
		/* The server went away while we were idle (a restart): nothing
		 * was sent that could commit, so connect again and go on. */
		s->retry_at = 0;
		if (!ensure_connected(s)) {
			b->result = -ENOTCONN;
			snprintf(b->error, sizeof(b->error), "database unreachable");
			return;
		}
		ok = exec_simple(s->conn, "BEGIN", b->error, sizeof(b->error));
	}
	for (unsigned i = 0; ok && i < b->n; i++) {
		int rc = exec_change(s->conn, &b->changes[idx[i]], now, b->error, sizeof(b->error));
		ok = rc >= 0;
		refused += rc == 0;
	}
	if (ok)
		ok = exec_simple(s->conn, "COMMIT", b->error, sizeof(b->error));
	if (ok) {
		b->result = 0;
		b->error[0] = '\0';
		atomic_fetch_add(&s->refused, refused);
		return;
	}
	for (unsigned i = 0; i < b->n; i++)
		b->changes[i].refused = 0;
	if (PQstatus(s->conn) != CONNECTION_OK) {
		/* Lost mid-transaction (a COMMIT whose answer never came may
		 * have committed; its ACKs are withheld either way, which loses
		 * nothing promised). */
		b->result = -ENOTCONN;
		mark_down(s, PQerrorMessage(s->conn));
		return;
	}
	b->result = -EIO;
	exec_simple(s->conn, "ROLLBACK", NULL, 0);
}

static void *writer_main(void *arg)
{
	struct pg_store *s = arg;
	uint64_t one = 1;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		struct job *j;

		while (!s->stop && s->taken == s->count) {
			if (!atomic_load(&s->down)) {
				pthread_cond_wait(&s->cond, &s->mu);
				continue;
			}
			/* Down and idle: reconnect in the background, so that
			 * recovery does not wait for the next client. */
			uint64_t now = now_usec();
			if (now >= s->retry_at) {
				pthread_mutex_unlock(&s->mu);
				ensure_connected(s);
				pthread_mutex_lock(&s->mu);
				continue;
			}
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			uint64_t wait = s->retry_at - now;
			ts.tv_sec += (time_t)(wait / 1000000);
			ts.tv_nsec += (long)(wait % 1000000) * 1000;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&s->cond, &s->mu, &ts);
		}
		if (s->stop)
			break;
		j = &s->ring[(s->head + s->taken) % LEASE_STORE_QUEUE_MAX];
		s->taken++;
		pthread_mutex_unlock(&s->mu);
		commit_batch(s, j->batch);
		pthread_mutex_lock(&s->mu);
		j->finished = true;
		if (write(s->efd, &one, sizeof(one)) < 0) {
		}
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* In loop context: the outage's start and end, each logged once. */
static void log_transitions(struct pg_store *s)
{
	bool down = atomic_load(&s->down);
	char q[sizeof(s->down_error) * 4 + 3], e[sizeof(s->down_error)];

	if (down == s->logged_down)
		return;
	s->logged_down = down;
	if (down) {
		pthread_mutex_lock(&s->mu);
		memcpy(e, s->down_error, sizeof(e));
		pthread_mutex_unlock(&s->mu);
		s->down_since = now_usec();
		log_error(MOD, "database-down", "backend=postgresql error=%s action=withhold-acks "
			  "retry=backoff", log_quote(q, sizeof(q), e, SIZE_MAX));
	} else {
		log_info(MOD, "database-up", "backend=postgresql down_ms=%llu",
			 (unsigned long long)((now_usec() - s->down_since) / 1000));
	}
}

static void on_finished(struct loop_io *io, uint32_t revents)
{
	struct pg_store *s = io->data;
	uint64_t n;

	if (read(s->efd, &n, sizeof(n)) < 0) {
	}
	log_transitions(s);
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
	struct pg_store *s = (struct pg_store *)base;

	if (!b || !done || b->n == 0 || b->n > LEASE_BATCH_MAX)
		return -EINVAL;
	pthread_mutex_lock(&s->mu);
	if (s->count == LEASE_STORE_QUEUE_MAX || s->stop) {
		pthread_mutex_unlock(&s->mu);
		return -EBUSY;
	}
	b->result = -EINPROGRESS;
	b->error[0] = '\0';
	s->ring[(s->head + s->count) % LEASE_STORE_QUEUE_MAX] =
		(struct job){ .batch = b, .done = done, .data = data };
	s->count++;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

static void store_health(struct lease_store *base, struct lease_store_health *h)
{
	struct pg_store *s = (struct pg_store *)base;

	h->down = atomic_load(&s->down);
	h->outages = atomic_load(&s->outages);
	h->refused = atomic_load(&s->refused);
}

/* --- loads (startup, before the writer runs) --- */

static PGresult *select_all(struct pg_store *s, const char *sql)
{
	PGresult *res = PQexec(s->conn, sql);

	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		char e[200];
		set_error(e, sizeof(e), PQresultErrorMessage(res));
		log_error(MOD, "load", "backend=postgresql error=\"%s\"", e);
		PQclear(res);
		return NULL;
	}
	return res;
}

static int store_load(struct lease_store *base,
		      int (*cb)(const struct lease_record *r, void *ctx), void *ctx)
{
	struct pg_store *s = (struct pg_store *)base;
	PGresult *res = select_all(s, "SELECT ip, client_id, hwaddr, hostname, expires, state"
				      " FROM leases");
	int r = 0;

	if (!res)
		return -EIO;
	for (int i = 0; r >= 0 && i < PQntuples(res); i++) {
		struct lease_record rec;
		if (row_to_lease(res, i, &rec))
			r = cb(&rec, ctx);
	}
	PQclear(res);
	return r < 0 ? r : 0;
}

static int store_load_next_boot(struct lease_store *base,
				int (*cb)(const struct next_boot_record *r, void *ctx), void *ctx)
{
	struct pg_store *s = (struct pg_store *)base;
	PGresult *res = select_all(s, "SELECT mac, mode, once, profile, token FROM next_boot");
	int r = 0;

	if (!res)
		return -EIO;
	for (int i = 0; r >= 0 && i < PQntuples(res); i++) {
		struct next_boot_record rec = { 0 };
		int64_t mode = get_i64(res, i, 1);
		size_t n = 0;
		unsigned char *mac = PQunescapeBytea((const unsigned char *)PQgetvalue(res, i, 0), &n);

		/* A row edited by hand into something kidou never writes is
		 * skipped, not half-trusted. */
		if (mac && n == 6 && (mode == NEXT_BOOT_PROFILE || mode == NEXT_BOOT_LOCAL)) {
			memcpy(rec.mac, mac, 6);
			rec.mode = (uint8_t)mode;
			rec.once = get_i64(res, i, 2) ? 1 : 0;
			snprintf(rec.profile, sizeof(rec.profile), "%s", PQgetvalue(res, i, 3));
			snprintf(rec.token, sizeof(rec.token), "%s", PQgetvalue(res, i, 4));
			r = cb(&rec, ctx);
		}
		PQfreemem(mac);
	}
	PQclear(res);
	return r < 0 ? r : 0;
}

static int store_load_hosts(struct lease_store *base,
			    int (*cb)(const char *name, const char *json, void *ctx), void *ctx)
{
	struct pg_store *s = (struct pg_store *)base;
	PGresult *res = select_all(s, "SELECT name, body FROM hosts ORDER BY name");
	int r = 0;

	if (!res)
		return -EIO;
	for (int i = 0; r >= 0 && i < PQntuples(res); i++)
		r = cb(PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), ctx);
	PQclear(res);
	return r < 0 ? r : 0;
}

static void store_close(struct lease_store *base)
{
	struct pg_store *s = (struct pg_store *)base;

	if (s->writer_started) {
		pthread_mutex_lock(&s->mu);
		s->stop = true;
		/* The writer may wait on the server (a lock another session
		 * holds, a dead host's TCP): cut the wait short, as SQLite's
		 * store does. Its transaction is rolled back by the server;
		 * none of its ACKs has left. shutdown(), unlike PQcancel, has
		 * no window where it arrives before the statement and is lost. */
		if (s->conn_fd >= 0)
			shutdown(s->conn_fd, SHUT_RDWR);
		pthread_cond_signal(&s->cond);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->writer, NULL);
	}
	if (s->efd >= 0) {
		loop_io_del(s->loop, &s->io);
		safe_close(s->efd);
	}
	PQfinish(s->conn);
	free(s->uri);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->mu);
	if (!s->loop || loop_defer(s->loop, free, s) < 0)
		free(s);
}

static const struct lease_store_ops pg_ops = {
	.load = store_load,
	.submit = store_submit,
	.close = store_close,
	.load_next_boot = store_load_next_boot,
	.load_hosts = store_load_hosts,
	.health = store_health,
};

/* Create or check kidou's tables, under an advisory lock so that two
 * instances starting together do not race. -EPROTO for a newer schema. */
static int ensure_schema(PGconn *c, char *err, size_t errsize)
{
	char e[200];
	PGresult *res;
	int v = 0;

	if (!exec_simple(c, "BEGIN", e, sizeof(e)))
		goto fail;
	res = PQexec(c, "SELECT pg_advisory_xact_lock(" STRINGIFY(SCHEMA_LOCK_KEY) ")");
	if (!res_ok(res, e, sizeof(e))) {
		PQclear(res);
		goto fail;
	}
	PQclear(res);
	if (!exec_simple(c, "CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)",
			 e, sizeof(e)))
		goto fail;
	res = PQexec(c, "SELECT coalesce(max(version), 0) FROM schema_version");
	if (!res_ok(res, e, sizeof(e))) {
		PQclear(res);
		goto fail;
	}
	v = (int)strtol(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	if (v > SCHEMA_VERSION) {
		exec_simple(c, "ROLLBACK", NULL, 0);
		snprintf(err, errsize, "schema version %d is newer than this kidou's (%d): "
			 "upgrade kidou, or use another database", v, SCHEMA_VERSION);
		return -EPROTO;
	}
	if (!exec_simple(c, schema_sql, e, sizeof(e)))
		goto fail;
	if (v < SCHEMA_VERSION &&
	    !exec_simple(c, v ? "UPDATE schema_version SET version = " STRINGIFY(SCHEMA_VERSION) :
			 "INSERT INTO schema_version VALUES (" STRINGIFY(SCHEMA_VERSION) ")",
			 e, sizeof(e)))
		goto fail;
	if (!exec_simple(c, "COMMIT", e, sizeof(e)))
		goto fail;
	return 0;
fail:
	exec_simple(c, "ROLLBACK", NULL, 0);
	snprintf(err, errsize, "cannot create kidou's schema: %s", e);
	return -EIO;
}

static int start_writer(struct pg_store *s, struct loop *loop)
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
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = -pthread_create(&s->writer, NULL, writer_main, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0)
		return r;
	s->writer_started = true;
	return 0;
}

int lease_store_pg_open(const char *uri, struct loop *loop, struct lease_store **ret,
			char *err, size_t errsize)
{
	struct pg_store *s;
	char e[200];
	int r;

	if (lease_store_uri_has_password(uri)) {
		snprintf(err, errsize, "[dhcp] database: a password in the URI is refused; "
			 "put it in a passfile (PGPASSFILE or ~/.pgpass)");
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->base.ops = &pg_ops;
	s->efd = -1;
	s->conn_fd = -1;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cond, NULL);
	s->uri = strdup(uri);
	if (!s->uri) {
		store_close(&s->base);
		return -ENOMEM;
	}
	s->conn = connect_db(uri);
	if (PQstatus(s->conn) != CONNECTION_OK) {
		set_error(e, sizeof(e), PQerrorMessage(s->conn));
		snprintf(err, errsize, "cannot connect to PostgreSQL: %s", e);
		store_close(&s->base);
		return -ECONNREFUSED;
	}
	s->conn_fd = PQsocket(s->conn);
	r = ensure_schema(s->conn, err, errsize);
	if (r >= 0 && loop)
		r = start_writer(s, loop);
	if (r < 0) {
		if (r != -EPROTO && r != -EIO)
			snprintf(err, errsize, "cannot start the writer: %s", strerror(-r));
		store_close(&s->base);
		return r;
	}
	*ret = &s->base;
	return 0;
}
