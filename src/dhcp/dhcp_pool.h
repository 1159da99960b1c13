/* dhcp_pool.h - one subnet's dynamic range, in memory.
 *
 * Every address of the range has a slot that says who holds it and until
 * when. A client is known by its identity (option 61 when sent, else
 * htype + chaddr). Pure policy: time is passed in, nothing is stored; the
 * server writes bound leases through lease_store.
 *
 * Allocation prefers, in order: the address this client already holds or
 * held last (so it keeps its address across requests and restarts), the
 * address it asks for if free, then the free address least recently used.
 * An OFFERED slot is held for a short time so that two clients are never
 * offered the same address. A DECLINED slot is not offered again until its
 * hold expires.
 *
 * Clients are found through a hash index on their identity, and fresh
 * addresses through a cursor, so DISCOVER and REQUEST cost O(1) while the
 * range has never-used addresses; once every address has been used, the
 * least recently freed one is found by a scan of the range.
 *
 * Identities are up to LEASE_CLIENT_ID_MAX (255) bytes (RFC 2132 9.14).
 * A slot keeps one of up to DHCP_POOL_ID_INLINE bytes in place and a
 * longer one in a heap copy of its own, so a 1M-address pool costs what
 * it did with 64-byte identities; only clients that send long ones cost
 * more, at most 255 bytes per address of the range. */
#ifndef KIDOU_DHCP_POOL_H
#define KIDOU_DHCP_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/lease_store.h"

/* Largest range accepted (a /12): bounded memory for a hostile config. */
#define DHCP_POOL_MAX_SIZE (1u << 20)
/* Identities up to this long live in the slot itself. */
#define DHCP_POOL_ID_INLINE 64

enum dhcp_slot_state {
	DHCP_SLOT_FREE = 0,      /* never used, or expired with no owner */
	DHCP_SLOT_OFFERED,       /* held for client until `until` */
	DHCP_SLOT_BOUND,         /* leased to client until `until` */
	DHCP_SLOT_RELEASED,      /* free, but remembered for its last client */
	DHCP_SLOT_DECLINED,      /* someone else uses it; skip until `until` */
};

struct dhcp_client_id {
	uint8_t len;
	uint8_t bytes[LEASE_CLIENT_ID_MAX];
};

struct dhcp_pool;

/* first..last inclusive, host byte order. -EINVAL if empty, reversed or
 * larger than DHCP_POOL_MAX_SIZE. */
int dhcp_pool_new(uint32_t first, uint32_t last, struct dhcp_pool **ret);
void dhcp_pool_free(struct dhcp_pool *p);

bool dhcp_pool_contains(const struct dhcp_pool *p, uint32_t ip);
uint32_t dhcp_pool_size(const struct dhcp_pool *p);
/* Slots BOUND (or OFFERED) and not expired at now. */
uint32_t dhcp_pool_in_use(const struct dhcp_pool *p, int64_t now);

/* Where a pool's addresses are at now; the four add up to size. */
struct dhcp_pool_usage {
	uint32_t size;
	uint32_t in_use;    /* leased or offered to a client */
	uint32_t declined;  /* declined, and their hold still runs */
	uint32_t reserved;  /* fixed [host] addresses (held by the empty identity) */
	uint32_t free;      /* none of the above */
};
void dhcp_pool_usage(const struct dhcp_pool *p, int64_t now, struct dhcp_pool_usage *u);

/* Declined slots whose hold still runs at now: a scan of the range,
 * skipped while no slot is in state DECLINED. */
uint32_t dhcp_pool_declined(const struct dhcp_pool *p, int64_t now);
/* An upper bound of that, without a scan (expired declines included). */
uint32_t dhcp_pool_declined_bound(const struct dhcp_pool *p);

/* Whether an address of the range may be handed out at all (not the
 * network or broadcast address, not one of the server's): the caller
 * knows the interface, the pool does not. NULL: every address may. */
typedef bool dhcp_pool_usable_fn(const void *ctx, uint32_t ip);

/* Pick an address for id (see above) among those usable() allows.
 * requested is 0 or a host-order address. Returns 0 and *ip, or -ENOSPC
 * when the pool is exhausted. The pool does not change; call
 * dhcp_pool_offer or dhcp_pool_bind next. */
int dhcp_pool_choose(struct dhcp_pool *p, const struct dhcp_client_id *id,
		     uint32_t requested, int64_t now, dhcp_pool_usable_fn *usable,
		     const void *usable_ctx, uint32_t *ip);

/* Where the walk over never-used addresses starts: seed modulo the
 * range's size (0 unless set: the range's first address). Instances that
 * share one lease database (PostgreSQL) start at different places, so
 * their first choices do not collide; the walk wraps around. */
void dhcp_pool_set_fresh_start(struct dhcp_pool *p, uint32_t seed);

/* Does the pool remember id at all: an address it holds, was offered or
 * held last (released or expired)? RFC 2131 4.3.2 "has a record of". */
bool dhcp_pool_knows(const struct dhcp_pool *p, const struct dhcp_client_id *id,
		     int64_t now);

/* Is ip available to id at now (free, expired, or already id's)? */
bool dhcp_pool_available(const struct dhcp_pool *p, uint32_t ip,
			 const struct dhcp_client_id *id, int64_t now);

/* The address id holds (OFFERED or BOUND, unexpired), or 0. */
uint32_t dhcp_pool_lookup(const struct dhcp_pool *p, const struct dhcp_client_id *id,
			  int64_t now);

/* The identity holding ip (OFFERED or BOUND, unexpired): 0 and *id, or
 * -ENOENT. */
int dhcp_pool_owner(const struct dhcp_pool *p, uint32_t ip, int64_t now,
		    struct dhcp_client_id *id);

/* State changes; ip must be in the pool. Offer and bind return -ENOMEM
 * (and change nothing) when a long identity cannot be copied. */
int dhcp_pool_offer(struct dhcp_pool *p, uint32_t ip, const struct dhcp_client_id *id,
		    int64_t until);
int dhcp_pool_bind(struct dhcp_pool *p, uint32_t ip, const struct dhcp_client_id *id,
		   int64_t until);
/* Only if id holds it; returns whether anything changed. */
bool dhcp_pool_release(struct dhcp_pool *p, uint32_t ip, const struct dhcp_client_id *id,
		       int64_t now);
void dhcp_pool_decline(struct dhcp_pool *p, uint32_t ip, int64_t until);

enum dhcp_slot_state dhcp_pool_state(const struct dhcp_pool *p, uint32_t ip,
				     int64_t now);

/* A slot as it stands. A change is made in memory when it is decided and
 * written to the lease store later; if the store fails, the change is
 * undone so that no address stays held by a lease nobody was granted. */
struct dhcp_slot_image {
	uint8_t state;                /* enum dhcp_slot_state, as stored */
	int64_t until, freed_at;
	struct dhcp_client_id owner;
};

uint32_t dhcp_pool_first(const struct dhcp_pool *p);
/* ip must be in the pool. */
void dhcp_pool_slot_get(const struct dhcp_pool *p, uint32_t ip, struct dhcp_slot_image *out);
/* Overwrite ip's slot (carrying state into a rebuilt pool on reload):
 * 0, or -ENOMEM with the slot unchanged. */
int dhcp_pool_slot_set(struct dhcp_pool *p, uint32_t ip, const struct dhcp_slot_image *img);
/* Put ip back as `before` only if it still is `after`: a later decision
 * (another client took the address once it read free, the same client
 * renewed) is never overwritten. Returns whether it did. */
bool dhcp_pool_slot_undo(struct dhcp_pool *p, uint32_t ip, const struct dhcp_slot_image *before,
			 const struct dhcp_slot_image *after);

#endif
