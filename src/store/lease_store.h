/* lease_store.h - where acknowledged leases are kept durably.
 *
 * The DHCP server keeps its working set in memory and writes every change
 * through a lease_store. The store is asynchronous, in the shape of
 * libuv's uv_queue_work(): the loop hands over a batch of changes with
 * submit(), keeps serving, and learns the batch's outcome later, when
 * done(batch, data) runs in loop context (from the loop's I/O phase). The
 * DHCP adapter sends the ACKs of a batch only from done() and only when
 * batch->result is 0, so no acknowledged lease is lost to a crash or
 * kill -9, while TFTP, HTTP and router advertisements never wait on the
 * disk (or on a lock another process holds on it).
 *
 * The contract, for every backend:
 * - load() runs once at startup, before the loop runs, and may block.
 *   A reload never calls it: the server's memory already holds every
 *   lease (see dhcp_server_carry_leases()).
 * - submit() never blocks. It returns -EBUSY when LEASE_STORE_QUEUE_MAX
 *   batches are already submitted and not yet done: the caller decides
 *   what to drop (a store that is stuck must not grow memory).
 * - Batches are committed, each as one transaction, and done() in the
 *   order submitted. Between submit() and done() the backend owns the
 *   batch; it reads the changes and writes only result and error.
 * - close() waits for the batch being committed (cutting short a wait on
 *   another process's lock, so that it fails), abandons the rest, and
 *   frees the store without calling done() again: no reply was sent for a
 *   pending batch, so nothing promised is lost; the caller then frees its
 *   batches. Call it outside the loop's callbacks (at shutdown).
 *
 * SQLite (lease_store_sqlite.c) does this with a writer thread that owns
 * the sqlite3 handle and reports through an eventfd registered with the
 * loop. PostgreSQL (lease_store_pg.c) uses the same shape, with blocking
 * libpq calls on its writer thread (see there why not libpq's async API).
 *
 * Shared stores (PostgreSQL, several kidou instances on one pool): a
 * lease PUT is a claim (and a refused one brings batch->learned). The store writes it only when the address is
 * free, expired, released, or already this client's, and otherwise sets
 * the change's `refused` and overwrites its rec with the holder's row as
 * stored; the rest of the batch still commits (result 0). SQLite has one
 * writer and never refuses. */
#ifndef KIDOU_LEASE_STORE_H
#define KIDOU_LEASE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loop.h"

#define LEASE_CLIENT_ID_MAX 255  /* option 61 has a one-byte length (RFC 2132 9.14) */
#define LEASE_HOSTNAME_MAX 64

/* Changes in one batch (one transaction, one fsync). */
#define LEASE_BATCH_MAX 64
/* Batches submitted and not yet done, the one being committed included:
 * DHCP's share and the API's (next-boot writes), each counted by its
 * user, so that the API never takes a slot DHCP counts on. */
#define LEASE_STORE_QUEUE_DHCP 4
#define LEASE_STORE_QUEUE_API 2
#define LEASE_STORE_QUEUE_MAX (LEASE_STORE_QUEUE_DHCP + LEASE_STORE_QUEUE_API)
/* How long a commit waits on a lock another process holds before it
 * fails (it blocks only the writer now, not the loop). */
#define LEASE_STORE_BUSY_TIMEOUT_MS 5000

enum lease_state {
	LEASE_BOUND = 1,     /* acknowledged to the client */
	LEASE_RELEASED = 2,  /* given back; the client still prefers it */
	LEASE_DECLINED = 3,  /* in use by someone else: do not offer until expiry */
};

struct lease_record {
	uint32_t ip;                               /* network byte order; the key */
	uint8_t client_id[LEASE_CLIENT_ID_MAX];    /* option 61, else htype+chaddr */
	uint8_t client_id_len;
	uint8_t hwaddr[16];
	uint8_t hwaddr_len;
	char hostname[LEASE_HOSTNAME_MAX];         /* NUL-terminated, sanitised */
	int64_t expires;                           /* Unix time, seconds */
	uint8_t state;                             /* enum lease_state */
};

/* A machine's next boot (the API's PUT .../next-boot), kept with the
 * leases so that an acknowledged setting survives a restart like an
 * acknowledged lease. See boot/next_boot.h for what the modes mean. */
#define NEXT_BOOT_PROFILE_MAX 64
#define NEXT_BOOT_TOKEN_HEX 32   /* 128 random bits, hex */

enum next_boot_mode {
	NEXT_BOOT_DEFAULT = 0,   /* no record: the host's or [boot] profile */
	NEXT_BOOT_PROFILE = 1,   /* profile, every boot or until done (once) */
	NEXT_BOOT_LOCAL = 2,     /* hand the machine back to its disk */
};

struct next_boot_record {
	uint8_t mac[6];                            /* the key */
	uint8_t mode;                              /* enum next_boot_mode */
	uint8_t once;                              /* profile until done, then local */
	char profile[NEXT_BOOT_PROFILE_MAX];       /* NUL-terminated (mode profile) */
	char token[NEXT_BOOT_TOKEN_HEX + 1];       /* the done token (once), else "" */
};

enum lease_op {
	LEASE_OP_PUT = 1,            /* insert or replace the lease for rec.ip */
	LEASE_OP_DEL = 2,            /* forget rec.ip */
	LEASE_OP_NEXT_BOOT_PUT = 3,  /* insert or replace nb (by nb.mac) */
	LEASE_OP_NEXT_BOOT_DEL = 4,  /* forget nb.mac's record */
	LEASE_OP_HOST_PUT = 5,       /* insert or replace host (by host.name) */
	LEASE_OP_HOST_DEL = 6,       /* forget host.name */
};

/* A host written through the API (PUT /api/v1/hosts/NAME), kept as the
 * JSON body it was accepted as (api/api_hosts.h parses it back). */
#define HOST_NAME_MAX_LEN 63
struct host_change {
	char name[HOST_NAME_MAX_LEN + 1];         /* the key, NUL-terminated */
	const char *json;                          /* PUT: the caller's, until done() */
};

/* The union keeps a change (and so a batch) the size it was: a
 * next-boot record is smaller than a lease. */
struct lease_change {
	uint8_t op;          /* enum lease_op */
	/* Written by a shared store with the result: this LEASE_OP_PUT was
	 * refused because another client (another instance's) holds the
	 * address; rec is then the holder's lease, read back. */
	uint8_t refused;
	union {
		struct lease_record rec;      /* LEASE_OP_PUT, LEASE_OP_DEL */
		struct next_boot_record nb;   /* LEASE_OP_NEXT_BOOT_* */
		struct host_change host;      /* LEASE_OP_HOST_* */
	};
};

struct lease_batch {
	unsigned n;                                /* changes used */
	struct lease_change changes[LEASE_BATCH_MAX];
	/* The outcome, written by the store before done() runs. */
	int result;          /* 0: durable; else -errno (-EIO, -EBUSY, -ENOSPC) */
	char error[160];     /* the backend's reason when result < 0 */
	/* Shared stores, when a claim was refused: the leases other clients
	 * hold at the LEASE_LEARN_SPAN addresses just above it, read in the
	 * same transaction, so that the instance's next offers skip them
	 * without a refused claim (and a NAK) each. malloc()ed by the store
	 * (which sets both fields at submit), owned by done(), which frees it;
	 * NULL when none. */
	struct lease_record *learned;
	unsigned n_learned;
};

#define LEASE_LEARN_SPAN 64

/* What another instance changed, as the shared store holds it now (see
 * watch below). present false: the record is gone. */
enum lease_remote_kind {
	LEASE_REMOTE_NEXT_BOOT = 1,  /* key nb.mac */
	LEASE_REMOTE_HOST = 2,       /* key host_name */
};

struct lease_remote {
	uint8_t kind;                             /* enum lease_remote_kind */
	bool present;
	struct next_boot_record nb;               /* NEXT_BOOT (present: the record) */
	char host_name[HOST_NAME_MAX_LEN + 1];    /* HOST */
	char *host_json;                          /* HOST, present: the stored body */
};

struct lease_remote_set {
	/* Every record the store holds (this instance fell too far behind
	 * to be told the changes one by one): what is not listed is gone. */
	bool full;
	size_t n;
	struct lease_remote *items;
	/* The applier's, zero when handed over: where it is, whether it has
	 * finished, and its counts (skipped: records it left alone because
	 * this instance's own write to them is still being committed; the
	 * store reads those again later, and that write's outcome, or a
	 * later one, decides). */
	size_t next;
	bool done;
	size_t changed, removed, refused, skipped;
	uint64_t apply_usec;
};

/* Apply some of set from set->next on and advance it; set done once all
 * of it is applied. A big set (a full read) is applied a slice per call:
 * the store calls again on a later loop turn, and delivers nothing else
 * in between, so the loop keeps serving meanwhile. */
typedef void lease_store_remote_fn(struct lease_remote_set *set, void *data);

struct lease_store;

struct lease_store_health {
	bool down;             /* the last try to reach the database failed */
	uint64_t outages;      /* times it became unreachable */
	uint64_t refused;      /* claims refused: another instance's address */
};

typedef void lease_store_done_fn(struct lease_batch *b, void *data);

struct lease_store_ops {
	/* Call cb for every stored lease. At startup only: may block. */
	int (*load)(struct lease_store *s,
		    int (*cb)(const struct lease_record *r, void *ctx), void *ctx);
	/* Queue b (1..LEASE_BATCH_MAX changes); done(b, data) runs later in
	 * loop context. 0, -EBUSY (queue full) or -EINVAL. Never blocks. */
	int (*submit)(struct lease_store *s, struct lease_batch *b,
		      lease_store_done_fn *done, void *data);
	void (*close)(struct lease_store *s);
	/* Call cb for every stored next-boot record. At startup only, like
	 * load(). */
	int (*load_next_boot)(struct lease_store *s,
			      int (*cb)(const struct next_boot_record *r, void *ctx), void *ctx);
	/* Call cb with every stored API host (name, JSON text). At startup
	 * only, like load(). */
	int (*load_hosts)(struct lease_store *s,
			  int (*cb)(const char *name, const char *json, void *ctx), void *ctx);
	/* Where the database stands, for /metrics (loop context; NULL for a
	 * local file, which is always reachable). */
	void (*health)(struct lease_store *s, struct lease_store_health *h);
	/* Shared stores: from now on, fn(set, data) runs in loop context
	 * with the next-boot records and API hosts that other instances
	 * write (in their commit order; a set arrives after the done() of
	 * every batch committed before it was read). Call after the loads.
	 * NULL for a store only this instance writes. */
	void (*watch)(struct lease_store *s, lease_store_remote_fn *fn, void *data);
	/* Can the loads run now (1)? Or was the store opened while its
	 * database was unreachable (lease_store_open's may_start_down): then
	 * 0, and fn(0, "", data) runs in loop context once the writer has
	 * reached the database and read what the loads will hand over (the
	 * loads then run, from fn, without touching the network), or
	 * fn(-errno, reason, data) when it reached it and cannot use it (a
	 * newer schema). Until then every batch fails with -ENOTCONN. NULL:
	 * always ready. */
	int (*when_ready)(struct lease_store *s,
			  void (*fn)(int result, const char *error, void *data), void *data);
};

struct lease_store {
	const struct lease_store_ops *ops;
};

/* Open (creating if needed) an SQLite database at path and start its
 * writer, whose completions arrive through loop. busy_timeout_ms: how long
 * a commit waits for another process's lock. On failure returns -errno and
 * a message in err. */
int lease_store_sqlite_open(const char *path, struct loop *loop, unsigned busy_timeout_ms,
			    struct lease_store **ret, char *err, size_t errsize);

/* Open a PostgreSQL database from a libpq URI (postgresql://USER@HOST/DB;
 * the password only from a passfile or PGPASSFILE), creating or checking
 * kidou's schema, and start its writer. Blocks while connecting. */
int lease_store_pg_open(const char *uri, struct loop *loop, struct lease_store **ret,
			char *err, size_t errsize);

/* Whether [dhcp] database names a PostgreSQL URI rather than a file. */
bool lease_store_is_pg(const char *database);
/* A PostgreSQL URI with a password in it (user:pw@ or ?password=), which
 * kidou refuses: the password belongs in a passfile, not in the config. */
bool lease_store_uri_has_password(const char *uri);
/* As lease_store_pg_open, but a database that cannot be reached now is
 * not an error: the store starts down and not ready (when_ready), err
 * says why, and the writer keeps trying with its backoff. */
int lease_store_pg_open_lazy(const char *uri, struct loop *loop, struct lease_store **ret,
			     char *err, size_t errsize);
/* The backend database names: a URI for PostgreSQL, else an SQLite path.
 * may_start_down: see lease_store_pg_open_lazy (the daemon; a command
 * such as leases migrate wants the database now). */
int lease_store_open(const char *database, struct loop *loop, unsigned busy_timeout_ms,
		     bool may_start_down, struct lease_store **ret, char *err, size_t errsize);

static inline void lease_store_close(struct lease_store *s)
{
	if (s)
		s->ops->close(s);
}

#endif
