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
 * once when it ends.
 *
 * Other instances' API writes (next-boot records, API hosts): every such
 * change also appends (kind, key) to the `changes` table and NOTIFYs
 * kidou_changes, in its own transaction, under an advisory lock so that
 * the sequence numbers are handed out in commit order. The writer LISTENs
 * on its connection and, when told (or every SYNC_POLL_MS, or after a
 * reconnect, which may have missed a NOTIFY), reads the changes after the
 * last one it saw with each key's current row, and hands them to the loop
 * (watch in lease_store.h), a page at a time. The table keeps the last
 * CHANGES_KEEP entries; an instance that fell further behind (cut off
 * from the database longer than that) reads every record instead. */
#include "store/lease_store.h"

#include <ctype.h>
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
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
 * changes and changes_pruned (4: what other instances wrote), and
 * schema_version itself. */
#define SCHEMA_VERSION 4
#define RETRY_MIN_MS 250
#define RETRY_MAX_MS 10000
/* libpq's connect_timeout: a dead host must not hold the writer long. */
#define CONNECT_TIMEOUT_SEC "5"
/* Serialises schema creation between instances starting together. */
#define SCHEMA_LOCK_KEY 1802069103  /* "kido" in ASCII, 0x6b69646f */
/* Serialises the API writes' changes rows: sequence numbers in commit
 * order, so that a reader past seq N never sees an N-1 commit later. */
#define CHANGES_LOCK_KEY 1802069104
/* Changes rows kept for instances that were cut off; pruned every
 * CHANGES_PRUNE_EVERY appends. */
#define CHANGES_KEEP 100000
#define CHANGES_PRUNE_EVERY 1000
/* Changes read per page (one hand-over to the loop). */
#define SYNC_PAGE 512
/* Read the changes this often even without a NOTIFY (a lost one). */
#define SYNC_POLL_MS 5000
/* After the loop skipped a record its own write was changing: read that
 * page again this much later. */
#define SYNC_RETRY_MS 1000
#define CHANNEL "kidou_changes"

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

	/* The writer's alone: watching other instances' writes. */
	int64_t last_seq;        /* the last changes row handed over */
	int64_t rewind_first;    /* the first row of the last page handed over */
	bool sync_due;
	uint64_t next_poll;      /* monotonic usec */
	/* The loop's: who gets the remote changes, and the failures logged. */
	lease_store_remote_fn *remote_fn;
	void *remote_data;
	struct remote_page *applying;  /* taken, applied a slice per turn */
	bool logged_sync_error;

	int wake_fd;             /* eventfd: the writer's idle wait ends */

	/* Started while the database was unreachable (lazy): the writer
	 * reaches it, checks the schema and reads what the loads hand over;
	 * the loop then runs the loads (ready_fn). */
	atomic_bool ready;       /* loads done or possible: batches may commit */
	bool prepared;           /* the writer's: that work is done (or failed) */
	PGresult *pre_leases, *pre_next_boot, *pre_hosts;  /* the writer's, then the loop's */
	void (*ready_fn)(int result, const char *error, void *data);
	void *ready_data;
	bool ready_delivered;    /* the loop's */

	pthread_mutex_t mu;      /* guards everything below */
	char down_error[160];    /* libpq's words for the outage */
	bool watching;           /* the loop set remote_fn */
	struct lease_remote_set *remote_out;  /* handed over, not yet taken */
	/* The set's place among the batches: it was read after the batch
	 * numbered remote_after committed, before the next one. */
	uint64_t remote_after;
	uint64_t committed;      /* batches committed (finished) so far */
	uint64_t delivered;      /* batches whose done() ran */
	int rewind;              /* the loop asked: 1 page again, 2 everything */
	bool ready_posted;       /* the writer's preparation is over: */
	int ready_result;        /* 0, or -errno with ready_error */
	char ready_error[200];
	char sync_error[160];    /* the last sync's failure, "" when fine */
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
	");"
	/* kind 1: next_boot, key the MAC in hex; kind 2: hosts, key the name */
	"CREATE TABLE IF NOT EXISTS changes ("
	"  seq bigserial PRIMARY KEY,"
	"  kind smallint NOT NULL,"
	"  key text NOT NULL"
	");"
	"CREATE TABLE IF NOT EXISTS changes_pruned (upto bigint NOT NULL);"
	"INSERT INTO changes_pruned SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM changes_pruned);";

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

/* The holder of $1, then the leases held (bound or declined, unexpired at
 * $2) at the addresses just above it: where the instance's allocation goes
 * next. */
static const char holder_sql[] =
	"SELECT ip, client_id, hwaddr, hostname, expires, state FROM leases"
	" WHERE ip >= $1::bigint AND ip <= $1::bigint + " STRINGIFY(LEASE_LEARN_SPAN)
	" AND (ip = $1::bigint OR (expires > $2::bigint AND state <> 2)) ORDER BY ip";

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
/* The rows after the holder's (res, from row 1 on) into b->learned. */
static void learn(struct lease_batch *b, const PGresult *res, int from)
{
	int n = PQntuples(res) - from;
	struct lease_record *more;

	if (n <= 0)
		return;
	more = realloc(b->learned, (b->n_learned + (size_t)n) * sizeof(*more));
	if (!more)
		return;  /* only a hint: the next claims will say */
	b->learned = more;
	for (int i = from; i < PQntuples(res); i++)
		if (row_to_lease(res, i, &b->learned[b->n_learned]))
			b->n_learned++;
}

static int exec_put(PGconn *conn, struct lease_batch *b, struct lease_change *c, int64_t now,
		    char *err, size_t errsize)
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
	 * COMMITTED: the row that refused us is committed), and the held
	 * addresses after it. */
	{
		const char *hv[2] = { ip, nowbuf };
		res = PQexecParams(conn, holder_sql, 2, NULL, hv, NULL, NULL, 0);
	}
	if (!res_ok(res, err, errsize)) {
		PQclear(res);
		return -1;
	}
	c->refused = 1;
	{
		int first = PQntuples(res) > 0 && get_i64(res, 0, 0) == (int64_t)__builtin_bswap32(r->ip);
		learn(b, res, first);
		if (!first) {
			PQclear(res);
			res = NULL;
		}
	}
	if (!res || !row_to_lease(res, 0, &c->rec)) {
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

static int exec_change(PGconn *conn, struct lease_batch *batch, struct lease_change *c,
		       int64_t now, char *err, size_t errsize)
{
	char a[24], b[8], d[8];

	switch (c->op) {
	case LEASE_OP_PUT:
		return exec_put(conn, batch, c, now, err, errsize);
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

/* An API write's row in changes (see the top), in the batch's
 * transaction, under CHANGES_LOCK_KEY (taken once per batch, after the
 * lease rows: API batches hold no lease rows, and a batch that did would
 * take the lock last, so two instances cannot deadlock on it). 1 when
 * recorded (*seq), 0 for a lease change, -1 failed. */
static int record_change(PGconn *conn, const struct lease_change *c, bool *locked,
			 int64_t *seq, char *err, size_t errsize)
{
	char key[HOST_NAME_MAX_LEN + 1];
	const char *v[2] = { NULL, key };
	PGresult *res;

	if (c->op == LEASE_OP_NEXT_BOOT_PUT || c->op == LEASE_OP_NEXT_BOOT_DEL) {
		v[0] = "1";
		for (unsigned i = 0; i < 6; i++)
			snprintf(key + 2 * i, 3, "%02x", c->nb.mac[i]);
	} else if (c->op == LEASE_OP_HOST_PUT || c->op == LEASE_OP_HOST_DEL) {
		v[0] = "2";
		snprintf(key, sizeof(key), "%.*s", (int)strnlen(c->host.name, sizeof(c->host.name)),
			 c->host.name);
	} else {
		return 0;
	}
	if (!*locked) {
		if (!exec_simple(conn, "SELECT pg_advisory_xact_lock(" STRINGIFY(CHANGES_LOCK_KEY) ")",
				 err, errsize))
			return -1;
		*locked = true;
	}
	res = PQexecParams(conn, "INSERT INTO changes(kind, key) VALUES($1, $2) RETURNING seq", 2,
			   NULL, v, NULL, NULL, 0);
	if (!res_ok(res, err, errsize) || PQntuples(res) != 1) {
		if (PQresultStatus(res) == PGRES_TUPLES_OK)
			snprintf(err, errsize, "changes: no sequence number came back");
		PQclear(res);
		return -1;
	}
	*seq = get_i64(res, 0, 0);
	PQclear(res);
	return 1;
}

/* After the batch's changes rows: drop the old ones now and then (and say
 * up to where, for an instance that comes back later), and tell the
 * listeners, whom PostgreSQL tells at COMMIT. */
static bool finish_changes(PGconn *conn, int64_t seq, char *err, size_t errsize)
{
	if (seq > CHANGES_KEEP && seq % CHANGES_PRUNE_EVERY == 0) {
		char upto[24];
		const char *v[1] = { upto };
		snprintf(upto, sizeof(upto), "%lld", (long long)(seq - CHANGES_KEEP));
		if (exec_params(conn, "DELETE FROM changes WHERE seq <= $1", 1, v, NULL, NULL, err,
				errsize) < 0 ||
		    exec_params(conn, "UPDATE changes_pruned SET upto = GREATEST(upto, $1)", 1, v,
				NULL, NULL, err, errsize) < 0)
			return false;
	}
	return exec_simple(conn, "NOTIFY " CHANNEL, err, errsize);
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

/* kidou's defaults come before the URI, so that the URI's own settings
 * win (libpq: the last value of a keyword counts, and the URI's values
 * stand where dbname is). Over TCP, a host that vanishes without a word
 * must not hold the writer for the kernel's retransmission timeout (about
 * 15 minutes): keepalives and tcp_user_timeout end the wait in ~10 s. */
static PGconn *connect_db(const char *uri)
{
	const char *keys[] = { "connect_timeout", "fallback_application_name", "keepalives",
			       "keepalives_idle", "keepalives_interval", "keepalives_count",
			       "tcp_user_timeout", "dbname", NULL };
	const char *vals[] = { CONNECT_TIMEOUT_SEC, "kidou", "1", "10", "5", "2", "10000", uri,
			       NULL };

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
	if (!exec_simple(s->conn, "LISTEN " CHANNEL, NULL, 0)) {
		mark_down(s, PQerrorMessage(s->conn));
		return false;
	}
	pthread_mutex_lock(&s->mu);
	s->conn_fd = PQsocket(s->conn);
	pthread_mutex_unlock(&s->mu);
	s->backoff_ms = 0;
	s->retry_at = 0;
	s->sync_due = true;  /* a NOTIFY sent while we were away is lost */
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
	int64_t now = (int64_t)time(NULL), seq = 0;
	uint64_t refused = 0;
	bool ok, locked = false;

	for (unsigned i = 0; i < b->n; i++)
		b->changes[i].refused = 0;
	if (!atomic_load(&s->ready)) {
		/* Started without the database: nothing is loaded yet, so
		 * nothing may be written over what the loads will read. */
		b->result = -ENOTCONN;
		snprintf(b->error, sizeof(b->error), "database not reached since start");
		return;
	}
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
		int rc = exec_change(s->conn, b, &b->changes[idx[i]], now, b->error,
				     sizeof(b->error));
		ok = rc >= 0;
		refused += rc == 0;
		if (ok)
			ok = record_change(s->conn, &b->changes[idx[i]], &locked, &seq, b->error,
					   sizeof(b->error)) >= 0;
	}
	if (ok && locked)
		ok = finish_changes(s->conn, seq, b->error, sizeof(b->error));
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
	free(b->learned);  /* read in a transaction that did not commit */
	b->learned = NULL;
	b->n_learned = 0;
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

/* --- other instances' writes (the writer) --- */

/* A set as the writer hands it over: where its page began, for a rewind. */
struct remote_page {
	struct lease_remote_set set;
	int64_t first_seq;
};

static void free_page(struct remote_page *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->set.n; i++)
		free(p->set.items[i].host_json);
	free(p->set.items);
	free(p);
}

static struct remote_page *new_page(size_t cap, bool full)
{
	struct remote_page *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->set.full = full;
	p->set.items = calloc(cap ? cap : 1, sizeof(*p->set.items));
	if (!p->set.items) {
		free(p);
		return NULL;
	}
	return p;
}

/* Columns mac (bytea), mode, once, profile, token from col on. false for
 * a row kidou never writes (edited by hand): not half-trusted. */
static bool row_to_next_boot(const PGresult *res, int row, int col, struct next_boot_record *rec)
{
	int64_t mode = get_i64(res, row, col + 1);
	size_t n = 0;
	unsigned char *mac = PQunescapeBytea((const unsigned char *)PQgetvalue(res, row, col), &n);
	bool ok = mac && n == 6 && (mode == NEXT_BOOT_PROFILE || mode == NEXT_BOOT_LOCAL);

	memset(rec, 0, sizeof(*rec));
	if (ok) {
		memcpy(rec->mac, mac, 6);
		rec->mode = (uint8_t)mode;
		rec->once = get_i64(res, row, col + 2) ? 1 : 0;
		snprintf(rec->profile, sizeof(rec->profile), "%s", PQgetvalue(res, row, col + 3));
		snprintf(rec->token, sizeof(rec->token), "%s", PQgetvalue(res, row, col + 4));
	}
	PQfreemem(mac);
	return ok;
}

static bool parse_mac_hex(const char *hex, uint8_t mac[6])
{
	if (strlen(hex) != 12)
		return false;
	for (unsigned i = 0; i < 6; i++) {
		unsigned v;
		char b[3] = { hex[2 * i], hex[2 * i + 1], 0 };
		if (!isxdigit((unsigned char)b[0]) || !isxdigit((unsigned char)b[1]) ||
		    sscanf(b, "%x", &v) != 1)
			return false;
		mac[i] = (uint8_t)v;
	}
	return true;
}

static void sync_failed(struct pg_store *s, const char *what, PGresult *res)
{
	uint64_t one = 1;
	char e[160];

	set_error(e, sizeof(e), res ? PQresultErrorMessage(res) : PQerrorMessage(s->conn));
	pthread_mutex_lock(&s->mu);
	snprintf(s->sync_error, sizeof(s->sync_error), "%s: %.120s", what, e);
	pthread_mutex_unlock(&s->mu);
	PQclear(res);
	if (PQstatus(s->conn) != CONNECTION_OK)
		mark_down(s, PQerrorMessage(s->conn));
	else if (write(s->efd, &one, sizeof(one)) < 0) {  /* the loop logs it */
	}
}

/* Hand p over to the loop: its place is after every batch finished so far. */
static void post_page(struct pg_store *s, struct remote_page *p)
{
	uint64_t one = 1;

	pthread_mutex_lock(&s->mu);
	s->remote_out = &p->set;
	s->remote_after = s->committed;
	s->sync_error[0] = '\0';
	pthread_mutex_unlock(&s->mu);
	if (write(s->efd, &one, sizeof(one)) < 0) {
	}
}

/* Every record, in one snapshot (REPEATABLE READ): for an instance that
 * missed changes the table no longer keeps. */
static void sync_full(struct pg_store *s)
{
	struct remote_page *p = NULL;
	PGresult *mx = NULL, *nb = NULL, *h = NULL;
	size_t k = 0;

	if (!exec_simple(s->conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", NULL, 0)) {
		sync_failed(s, "begin", NULL);
		return;
	}
	/* Past what was pruned too, so that the next read is not a full
	 * one again (a table emptied by hand has no rows above it). */
	mx = PQexec(s->conn, "SELECT greatest((SELECT coalesce(max(seq), 0) FROM changes),"
			     " (SELECT coalesce(max(upto), 0) FROM changes_pruned))");
	if (!res_ok(mx, NULL, 0))
		goto fail_mx;
	nb = PQexec(s->conn, "SELECT mac, mode, once, profile, token FROM next_boot");
	if (!res_ok(nb, NULL, 0))
		goto fail_nb;
	h = PQexec(s->conn, "SELECT name, body FROM hosts ORDER BY name");
	if (!res_ok(h, NULL, 0))
		goto fail_h;
	exec_simple(s->conn, "COMMIT", NULL, 0);
	p = new_page((size_t)PQntuples(nb) + (size_t)PQntuples(h), true);
	if (!p) {
		PQclear(mx);
		PQclear(nb);
		PQclear(h);
		s->sync_due = true;  /* again at the next poll */
		return;
	}
	for (int i = 0; i < PQntuples(nb); i++) {
		struct lease_remote *r = &p->set.items[k];
		r->kind = LEASE_REMOTE_NEXT_BOOT;
		if (row_to_next_boot(nb, i, 0, &r->nb)) {
			r->present = true;
			k++;
		}
	}
	for (int i = 0; i < PQntuples(h); i++) {
		struct lease_remote *r = &p->set.items[k];
		const char *name = PQgetvalue(h, i, 0);
		if (strlen(name) > HOST_NAME_MAX_LEN)
			continue;  /* not a name kidou writes */
		r->kind = LEASE_REMOTE_HOST;
		r->present = true;
		snprintf(r->host_name, sizeof(r->host_name), "%s", name);
		r->host_json = strdup(PQgetvalue(h, i, 1));
		if (!r->host_json) {
			free_page(p);
			p = NULL;
			break;
		}
		k++;
	}
	if (p) {
		p->set.n = k;
		s->last_seq = get_i64(mx, 0, 0);
		p->first_seq = -1;
		post_page(s, p);
	} else {
		s->sync_due = true;
	}
	PQclear(mx);
	PQclear(nb);
	PQclear(h);
	return;
fail_h:
	PQclear(nb);
	nb = h;
fail_nb:
	PQclear(mx);
	mx = nb;
fail_mx:
	exec_simple(s->conn, "ROLLBACK", NULL, 0);
	sync_failed(s, "full read", mx);  /* clears it */
}

/* The changes after last_seq, a page of them, each with its key's row as
 * it is now. */
static const char page_sql[] =
	"SELECT c.seq, c.kind, c.key,"
	"  n.mac, n.mode, n.once, n.profile, n.token, h.name IS NOT NULL, h.body"
	" FROM (SELECT seq, kind, key FROM changes WHERE seq > $1 ORDER BY seq"
	"       LIMIT " STRINGIFY(SYNC_PAGE) ") c"
	" LEFT JOIN next_boot n ON n.mac = CASE WHEN c.kind = 1 AND c.key ~ '^[0-9a-f]{12}$'"
	"  THEN decode(c.key, 'hex') END"
	" LEFT JOIN hosts h ON c.kind = 2 AND h.name = c.key"
	" ORDER BY c.seq";

static void sync_once(struct pg_store *s)
{
	struct remote_page *p;
	PGresult *res;
	char last[24];
	const char *v[1] = { last };
	int64_t pruned, first = -1;
	int rewind;
	size_t k = 0;

	s->sync_due = false;
	s->next_poll = now_usec() + SYNC_POLL_MS * 1000ull;
	pthread_mutex_lock(&s->mu);
	rewind = s->rewind;
	s->rewind = 0;
	pthread_mutex_unlock(&s->mu);
	if (rewind == 1 && s->rewind_first > 0 && s->rewind_first - 1 < s->last_seq)
		s->last_seq = s->rewind_first - 1;
	res = PQexec(s->conn, "SELECT coalesce(max(upto), 0) FROM changes_pruned");
	if (!res_ok(res, NULL, 0) || PQntuples(res) != 1) {
		sync_failed(s, "changes_pruned", res);
		return;
	}
	pruned = get_i64(res, 0, 0);
	PQclear(res);
	if (rewind == 2 || pruned > s->last_seq) {
		sync_full(s);
		return;
	}
	snprintf(last, sizeof(last), "%lld", (long long)s->last_seq);
	res = PQexecParams(s->conn, page_sql, 1, NULL, v, NULL, NULL, 0);
	if (!res_ok(res, NULL, 0)) {
		sync_failed(s, "changes", res);
		return;
	}
	if (PQntuples(res) == 0) {
		PQclear(res);
		pthread_mutex_lock(&s->mu);
		s->sync_error[0] = '\0';
		pthread_mutex_unlock(&s->mu);
		return;
	}
	p = new_page((size_t)PQntuples(res), false);
	if (!p) {
		PQclear(res);
		s->sync_due = true;
		return;
	}
	for (int i = 0; i < PQntuples(res); i++) {
		struct lease_remote *r = &p->set.items[k];
		int64_t seq = get_i64(res, i, 0), kind = get_i64(res, i, 1);
		const char *key = PQgetvalue(res, i, 2);

		if (first < 0)
			first = seq;
		s->last_seq = MAX(s->last_seq, seq);
		if (kind == LEASE_REMOTE_NEXT_BOOT) {
			if (!parse_mac_hex(key, r->nb.mac))
				continue;
			r->kind = LEASE_REMOTE_NEXT_BOOT;
			if (!PQgetisnull(res, i, 3)) {
				uint8_t mac[6];
				memcpy(mac, r->nb.mac, 6);
				/* A row kidou never writes counts as none. */
				r->present = row_to_next_boot(res, i, 3, &r->nb);
				memcpy(r->nb.mac, mac, 6);
			}
		} else if (kind == LEASE_REMOTE_HOST) {
			if (!*key || strlen(key) > HOST_NAME_MAX_LEN)
				continue;
			r->kind = LEASE_REMOTE_HOST;
			snprintf(r->host_name, sizeof(r->host_name), "%s", key);
			if (strcmp(PQgetvalue(res, i, 8), "t") == 0) {
				r->present = true;
				r->host_json = strdup(PQgetvalue(res, i, 9));
				if (!r->host_json) {
					free_page(p);
					PQclear(res);
					s->last_seq = first - 1;
					s->sync_due = true;
					return;
				}
			}
		} else {
			continue;
		}
		k++;
	}
	if (PQntuples(res) == SYNC_PAGE)
		s->sync_due = true;  /* more after this page */
	PQclear(res);
	p->set.n = k;
	p->first_seq = first;
	s->rewind_first = first;
	if (k)
		post_page(s, p);
	else
		free_page(p);
}

/* Idle: wait for a batch (wake_fd), a NOTIFY on the connection, or
 * timeout_ms (-1: none). Called without the mutex. */
static void idle_wait(struct pg_store *s, int timeout_ms, bool listen)
{
	struct pollfd fds[2] = { { .fd = s->wake_fd, .events = POLLIN },
				 { .fd = -1, .events = POLLIN } };
	uint64_t n;
	PGnotify *note;

	if (listen && s->conn && PQstatus(s->conn) == CONNECTION_OK)
		fds[1].fd = PQsocket(s->conn);
	if (poll(fds, 2, timeout_ms) < 0)
		return;
	if (fds[0].revents && read(s->wake_fd, &n, sizeof(n)) < 0) {
	}
	if (fds[1].fd < 0 || !fds[1].revents)
		return;
	if (!PQconsumeInput(s->conn) || PQstatus(s->conn) != CONNECTION_OK) {
		/* The server closed the connection (a restart, a kill): the
		 * outage shows now, not at the next commit. */
		mark_down(s, PQerrorMessage(s->conn));
		return;
	}
	while ((note = PQnotifies(s->conn))) {
		s->sync_due = true;
		PQfreemem(note);
	}
}

/* --- a start without the database (the writer) --- */

#define LEASES_SQL "SELECT ip, client_id, hwaddr, hostname, expires, state FROM leases"
#define NEXT_BOOT_SQL "SELECT mac, mode, once, profile, token FROM next_boot"
#define HOSTS_SQL "SELECT name, body FROM hosts ORDER BY name"

static int ensure_schema(PGconn *c, char *err, size_t errsize);
static int start_watching(struct pg_store *s, char *err, size_t errsize);

static void post_ready(struct pg_store *s, int result, const char *error)
{
	uint64_t one = 1;

	s->prepared = true;
	pthread_mutex_lock(&s->mu);
	s->ready_posted = true;
	s->ready_result = result;
	snprintf(s->ready_error, sizeof(s->ready_error), "%s", error);
	pthread_mutex_unlock(&s->mu);
	if (write(s->efd, &one, sizeof(one)) < 0) {
	}
}

static PGresult *read_all(PGconn *c, const char *sql, char *e, size_t esize)
{
	PGresult *res = PQexec(c, sql);

	if (res_ok(res, e, esize))
		return res;
	PQclear(res);
	return NULL;
}

/* Once connected: what open does (the schema, LISTEN), then the loads'
 * reads in one snapshot, for the loop to run the loads from. A lost
 * connection is tried again; a database kidou cannot use is reported. */
static void prepare_ready(struct pg_store *s)
{
	char e[200] = "";
	int r = ensure_schema(s->conn, e, sizeof(e));

	if (r >= 0)
		r = start_watching(s, e, sizeof(e));
	if (r >= 0 && exec_simple(s->conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", e,
				  sizeof(e)) &&
	    (s->pre_leases = read_all(s->conn, LEASES_SQL, e, sizeof(e))) &&
	    (s->pre_next_boot = read_all(s->conn, NEXT_BOOT_SQL, e, sizeof(e))) &&
	    (s->pre_hosts = read_all(s->conn, HOSTS_SQL, e, sizeof(e))) &&
	    exec_simple(s->conn, "COMMIT", e, sizeof(e))) {
		post_ready(s, 0, "");
		return;
	}
	PQclear(s->pre_leases);
	PQclear(s->pre_next_boot);
	PQclear(s->pre_hosts);
	s->pre_leases = s->pre_next_boot = s->pre_hosts = NULL;
	if (PQstatus(s->conn) != CONNECTION_OK) {
		mark_down(s, PQerrorMessage(s->conn));
		return;
	}
	exec_simple(s->conn, "ROLLBACK", NULL, 0);
	post_ready(s, r == -EPROTO ? -EPROTO : -EIO, e);
}

static int ms_until(uint64_t when)
{
	uint64_t now = now_usec();

	return when <= now ? 0 : (int)MIN((when - now + 999) / 1000, (uint64_t)INT32_MAX);
}

static void *writer_main(void *arg)
{
	struct pg_store *s = arg;
	uint64_t one = 1;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		struct job *j;

		while (!s->stop && s->taken == s->count) {
			bool watching = s->watching, busy = s->remote_out != NULL;
			int timeout = -1;
			uint64_t soon = now_usec() + SYNC_RETRY_MS * 1000ull;

			if (s->rewind && s->next_poll > soon)
				s->next_poll = soon;  /* the loop skipped some: again soon */
			pthread_mutex_unlock(&s->mu);
			if (atomic_load(&s->down)) {
				/* Down and idle: reconnect in the background, so
				 * that recovery does not wait for the next client. */
				if (now_usec() >= s->retry_at) {
					ensure_connected(s);
					pthread_mutex_lock(&s->mu);
					continue;
				}
				timeout = ms_until(s->retry_at);
			} else if (!s->prepared) {
				if (ensure_connected(s))
					prepare_ready(s);
				pthread_mutex_lock(&s->mu);
				continue;
			} else if (watching && !busy) {
				if (s->conn && PQstatus(s->conn) == CONNECTION_OK) {
					PGnotify *note;
					while ((note = PQnotifies(s->conn))) {  /* read with a batch */
						s->sync_due = true;
						PQfreemem(note);
					}
				}
				if (now_usec() >= s->next_poll)
					s->sync_due = true;
				if (s->sync_due) {
					if (ensure_connected(s))
						sync_once(s);
					pthread_mutex_lock(&s->mu);
					continue;
				}
				timeout = ms_until(s->next_poll);
			}
			idle_wait(s, timeout, watching);
			pthread_mutex_lock(&s->mu);
		}
		if (s->stop)
			break;
		j = &s->ring[(s->head + s->taken) % LEASE_STORE_QUEUE_MAX];
		s->taken++;
		pthread_mutex_unlock(&s->mu);
		commit_batch(s, j->batch);
		pthread_mutex_lock(&s->mu);
		j->finished = true;
		s->committed++;
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

static void wake_writer(struct pg_store *s)
{
	uint64_t one = 1;

	if (write(s->wake_fd, &one, sizeof(one)) < 0) {
	}
}

/* In loop context: a sync's failure, logged when it starts and when it
 * ends (the poll repeats it every few seconds). */
static void log_sync_error(struct pg_store *s)
{
	char e[sizeof(s->sync_error)], q[sizeof(e) * 4 + 3];

	pthread_mutex_lock(&s->mu);
	memcpy(e, s->sync_error, sizeof(e));
	pthread_mutex_unlock(&s->mu);
	if (!e[0] == !s->logged_sync_error)
		return;
	s->logged_sync_error = e[0] != '\0';
	if (e[0])
		log_warn(MOD, "sync-failed", "backend=postgresql error=%s note=\"other instances' "
			 "API writes are not seen here until it works\"",
			 log_quote(q, sizeof(q), e, SIZE_MAX));
	else
		log_info(MOD, "sync-recovered", "backend=postgresql");
}

/* In loop context: the remote set, whose place is before the batch
 * numbered remote_after + 1 (see watch in lease_store.h), a slice of it.
 * false while some is left for a later turn. */
static bool deliver_remote(struct pg_store *s, struct remote_page *p)
{
	uint64_t one = 1;

	if (s->remote_fn)
		s->remote_fn(&p->set, s->remote_data);
	else
		p->set.done = true;
	if (!p->set.done) {
		s->applying = p;
		/* Come back on the next turn, after whatever else is ready. */
		if (write(s->efd, &one, sizeof(one)) < 0) {
		}
		return false;
	}
	s->applying = NULL;
	if (p->set.skipped) {
		/* Records this instance's own writes were changing: read again
		 * once those are done (their outcome decides). */
		pthread_mutex_lock(&s->mu);
		s->rewind = p->set.full || s->rewind == 2 ? 2 : 1;
		pthread_mutex_unlock(&s->mu);
	}
	free_page(p);
	wake_writer(s);  /* the next page may go */
	return true;
}

static void on_finished(struct loop_io *io, uint32_t revents)
{
	struct pg_store *s = io->data;
	uint64_t n;

	if (read(s->efd, &n, sizeof(n)) < 0) {
	}
	log_transitions(s);
	log_sync_error(s);
	if (!s->ready_delivered) {
		char e[sizeof(s->ready_error)];
		bool posted;
		int result;

		pthread_mutex_lock(&s->mu);
		posted = s->ready_posted;
		result = s->ready_result;
		memcpy(e, s->ready_error, sizeof(e));
		pthread_mutex_unlock(&s->mu);
		if (posted) {
			s->ready_delivered = true;
			if (result == 0)
				atomic_store(&s->ready, true);
			if (s->ready_fn)
				s->ready_fn(result, e, s->ready_data);
		}
	}
	for (;;) {
		struct job j;

		if (s->applying) {
			if (!deliver_remote(s, s->applying))
				return;  /* its place holds the batches after it */
			continue;
		}
		pthread_mutex_lock(&s->mu);
		if (s->remote_out && s->delivered >= s->remote_after) {
			struct remote_page *p = (struct remote_page *)s->remote_out;
			s->remote_out = NULL;
			pthread_mutex_unlock(&s->mu);
			if (!deliver_remote(s, p))
				return;
			continue;
		}
		if (!s->count || !s->ring[s->head].finished) {
			pthread_mutex_unlock(&s->mu);
			return;
		}
		j = s->ring[s->head];
		s->ring[s->head] = (struct job){ 0 };
		s->head = (s->head + 1) % LEASE_STORE_QUEUE_MAX;
		s->count--;
		s->taken--;
		s->delivered++;
		pthread_mutex_unlock(&s->mu);
		j.done(j.batch, j.data);
	}
}

static int store_when_ready(struct lease_store *base,
			    void (*fn)(int result, const char *error, void *data), void *data)
{
	struct pg_store *s = (struct pg_store *)base;

	if (atomic_load(&s->ready))
		return 1;
	s->ready_fn = fn;
	s->ready_data = data;
	return 0;
}

static void store_watch(struct lease_store *base, lease_store_remote_fn *fn, void *data)
{
	struct pg_store *s = (struct pg_store *)base;

	s->remote_fn = fn;
	s->remote_data = data;
	pthread_mutex_lock(&s->mu);
	s->watching = fn != NULL;
	pthread_mutex_unlock(&s->mu);
	wake_writer(s);
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
	b->learned = NULL;
	b->n_learned = 0;
	s->ring[(s->head + s->count) % LEASE_STORE_QUEUE_MAX] =
		(struct job){ .batch = b, .done = done, .data = data };
	s->count++;
	pthread_mutex_unlock(&s->mu);
	wake_writer(s);
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
	PGresult *res = s->pre_leases ? s->pre_leases : select_all(s, LEASES_SQL);
	int r = 0;

	s->pre_leases = NULL;  /* read once (a lazy start's), then cleared below */

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
	PGresult *res = s->pre_next_boot ? s->pre_next_boot : select_all(s, NEXT_BOOT_SQL);
	int r = 0;

	s->pre_next_boot = NULL;  /* read once (a lazy start's), then cleared below */

	if (!res)
		return -EIO;
	for (int i = 0; r >= 0 && i < PQntuples(res); i++) {
		struct next_boot_record rec;
		if (row_to_next_boot(res, i, 0, &rec))
			r = cb(&rec, ctx);
	}
	PQclear(res);
	return r < 0 ? r : 0;
}

static int store_load_hosts(struct lease_store *base,
			    int (*cb)(const char *name, const char *json, void *ctx), void *ctx)
{
	struct pg_store *s = (struct pg_store *)base;
	PGresult *res = s->pre_hosts ? s->pre_hosts : select_all(s, HOSTS_SQL);
	int r = 0;

	s->pre_hosts = NULL;  /* read once (a lazy start's), then cleared below */

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
		pthread_mutex_unlock(&s->mu);
		wake_writer(s);
		pthread_join(s->writer, NULL);
	}
	free_page((struct remote_page *)s->remote_out);
	free_page(s->applying);
	safe_close(s->wake_fd);
	PQclear(s->pre_leases);
	PQclear(s->pre_next_boot);
	PQclear(s->pre_hosts);
	if (s->efd >= 0) {
		loop_io_del(s->loop, &s->io);
		safe_close(s->efd);
	}
	PQfinish(s->conn);
	free(s->uri);
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
	.watch = store_watch,
	.when_ready = store_when_ready,
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

/* LISTEN before the loads read, and the changes seen so far: what other
 * instances write from here on reaches this one (a change committed
 * between this and the loads is applied twice, which changes nothing). */
static int start_watching(struct pg_store *s, char *err, size_t errsize)
{
	char e[200];
	PGresult *res;

	if (!exec_simple(s->conn, "LISTEN " CHANNEL, e, sizeof(e))) {
		snprintf(err, errsize, "cannot LISTEN: %s", e);
		return -EIO;
	}
	res = PQexec(s->conn, "SELECT coalesce(max(seq), 0) FROM changes");
	if (!res_ok(res, e, sizeof(e)) || PQntuples(res) != 1) {
		PQclear(res);
		snprintf(err, errsize, "cannot read the changes table: %s", e);
		return -EIO;
	}
	s->last_seq = get_i64(res, 0, 0);
	PQclear(res);
	s->next_poll = now_usec() + SYNC_POLL_MS * 1000ull;
	return 0;
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

static int pg_open(const char *uri, struct loop *loop, bool lazy, struct lease_store **ret,
		   char *err, size_t errsize)
{
	uint64_t one = 1;
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
	s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->wake_fd < 0) {
		r = -errno;
		store_close(&s->base);
		return r;
	}
	s->uri = strdup(uri);
	if (!s->uri) {
		store_close(&s->base);
		return -ENOMEM;
	}
	s->conn = connect_db(uri);
	if (PQstatus(s->conn) != CONNECTION_OK) {
		set_error(e, sizeof(e), PQerrorMessage(s->conn));
		snprintf(err, errsize, "cannot connect to PostgreSQL: %s", e);
		if (!lazy || !loop) {
			store_close(&s->base);
			return -ECONNREFUSED;
		}
		/* Down from the start: the writer keeps trying (its backoff),
		 * then does the rest of this on its own (prepare_ready). */
		snprintf(s->down_error, sizeof(s->down_error), "%.150s", e);
		atomic_store(&s->down, true);
		atomic_store(&s->outages, 1);
		s->backoff_ms = RETRY_MIN_MS;
		s->retry_at = now_usec() + RETRY_MIN_MS * 1000ull;
		r = start_writer(s, loop);
		if (r < 0) {
			snprintf(err, errsize, "cannot start the writer: %s", strerror(-r));
			store_close(&s->base);
			return r;
		}
		if (write(s->efd, &one, sizeof(one)) < 0) {  /* the loop logs the outage */
		}
		*ret = &s->base;
		return 0;
	}
	s->prepared = true;
	atomic_store(&s->ready, true);
	s->conn_fd = PQsocket(s->conn);
	r = ensure_schema(s->conn, err, errsize);
	if (r >= 0)
		r = start_watching(s, err, errsize);
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

int lease_store_pg_open(const char *uri, struct loop *loop, struct lease_store **ret,
			char *err, size_t errsize)
{
	return pg_open(uri, loop, false, ret, err, errsize);
}

int lease_store_pg_open_lazy(const char *uri, struct loop *loop, struct lease_store **ret,
			     char *err, size_t errsize)
{
	return pg_open(uri, loop, true, ret, err, errsize);
}
