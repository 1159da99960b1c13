/* lease_store_sqlite.c - the SQLite lease_store (see lease_store.h).
 *
 * WAL journal with synchronous=FULL: a commit is fsync'd before it
 * returns, and readers (a later API) never block the server. */
#include "dhcp/lease_store.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sqlite_store {
	struct lease_store base;
	sqlite3 *db;
	sqlite3_stmt *put, *del, *load, *begin, *commit, *rollback;
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
	");";

static int step_reset(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

static int store_put(struct lease_store *base, const struct lease_record *r)
{
	struct sqlite_store *s = (struct sqlite_store *)base;

	sqlite3_bind_int64(s->put, 1, (sqlite3_int64)__builtin_bswap32(r->ip));
	sqlite3_bind_blob(s->put, 2, r->client_id, r->client_id_len, SQLITE_TRANSIENT);
	sqlite3_bind_blob(s->put, 3, r->hwaddr, r->hwaddr_len, SQLITE_TRANSIENT);
	sqlite3_bind_text(s->put, 4, r->hostname, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s->put, 5, r->expires);
	sqlite3_bind_int(s->put, 6, r->state);
	return step_reset(s->put);
}

static int store_del(struct lease_store *base, uint32_t ip)
{
	struct sqlite_store *s = (struct sqlite_store *)base;

	sqlite3_bind_int64(s->del, 1, (sqlite3_int64)__builtin_bswap32(ip));
	return step_reset(s->del);
}

static int store_begin(struct lease_store *base)
{
	return step_reset(((struct sqlite_store *)base)->begin);
}

static int store_commit(struct lease_store *base)
{
	return step_reset(((struct sqlite_store *)base)->commit);
}

static int store_rollback(struct lease_store *base)
{
	return step_reset(((struct sqlite_store *)base)->rollback);
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

static void store_close(struct lease_store *base)
{
	struct sqlite_store *s = (struct sqlite_store *)base;

	sqlite3_finalize(s->put);
	sqlite3_finalize(s->del);
	sqlite3_finalize(s->load);
	sqlite3_finalize(s->begin);
	sqlite3_finalize(s->commit);
	sqlite3_finalize(s->rollback);
	sqlite3_close(s->db);
	free(s);
}

static const struct lease_store_ops sqlite_ops = {
	.load = store_load,
	.begin = store_begin,
	.put = store_put,
	.del = store_del,
	.commit = store_commit,
	.rollback = store_rollback,
	.close = store_close,
};

int lease_store_sqlite_open(const char *path, struct lease_store **ret,
			    char *err, size_t errsize)
{
	struct sqlite_store *s = calloc(1, sizeof(*s));
	char *msg = NULL;

	if (!s)
		return -ENOMEM;
	s->base.ops = &sqlite_ops;
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_busy_timeout(s->db, 2000);
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
	    sqlite3_prepare_v2(s->db, "ROLLBACK", -1, &s->rollback, NULL) != SQLITE_OK)
		goto fail;
	*ret = &s->base;
	return 0;
fail:
	snprintf(err, errsize, "%s: %s", path, msg ? msg : sqlite3_errmsg(s->db));
	sqlite3_free(msg);
	store_close(&s->base);
	return -EIO;
}
