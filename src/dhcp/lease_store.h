/* lease_store.h - where acknowledged leases are kept durably.
 *
 * The DHCP server keeps its working set in memory and writes every change
 * through a lease_store. Changes are grouped: begin(), any number of put()
 * and del(), then commit(), which returns only once the changes are
 * durable; the server sends the ACKs of a batch after its commit, so no
 * acknowledged lease is lost to a crash or kill -9. SQLite implements it
 * now; the interface is small so that a PostgreSQL store (several kidou
 * instances sharing one pool) can follow. */
#ifndef KIDOU_LEASE_STORE_H
#define KIDOU_LEASE_STORE_H

#include <stddef.h>
#include <stdint.h>

#define LEASE_CLIENT_ID_MAX 255  /* option 61 has a one-byte length (RFC 2132 9.14) */
#define LEASE_HOSTNAME_MAX 64

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

struct lease_store;

struct lease_store_ops {
	/* Call cb for every stored lease (at startup). */
	int (*load)(struct lease_store *s,
		    int (*cb)(const struct lease_record *r, void *ctx), void *ctx);
	int (*begin)(struct lease_store *s);
	/* Insert or replace the lease for r->ip. */
	int (*put)(struct lease_store *s, const struct lease_record *r);
	int (*del)(struct lease_store *s, uint32_t ip);
	/* Durable on return (fsync'd). */
	int (*commit)(struct lease_store *s);
	int (*rollback)(struct lease_store *s);
	void (*close)(struct lease_store *s);
};

struct lease_store {
	const struct lease_store_ops *ops;
};

/* Open (creating if needed) an SQLite database at path. On failure returns
 * -errno and a message in err. */
int lease_store_sqlite_open(const char *path, struct lease_store **ret,
			    char *err, size_t errsize);

static inline void lease_store_close(struct lease_store *s)
{
	if (s)
		s->ops->close(s);
}

#endif
