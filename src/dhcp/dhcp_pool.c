/* dhcp_pool.c - see dhcp_pool.h. */
#include "dhcp/dhcp_pool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct dhcp_slot {
	uint8_t state;                /* enum dhcp_slot_state */
	int64_t until;                /* expiry of OFFERED/BOUND/DECLINED */
	int64_t freed_at;             /* when it last became free: LRU order */
	struct dhcp_client_id owner;  /* current or last holder */
};

struct dhcp_pool {
	uint32_t first, size;
	struct dhcp_slot *slots;
};

int dhcp_pool_new(uint32_t first, uint32_t last, struct dhcp_pool **ret)
{
	struct dhcp_pool *p;

	if (last < first || last - first >= DHCP_POOL_MAX_SIZE)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->first = first;
	p->size = last - first + 1;
	p->slots = calloc(p->size, sizeof(*p->slots));
	if (!p->slots) {
		free(p);
		return -ENOMEM;
	}
	*ret = p;
	return 0;
}

void dhcp_pool_free(struct dhcp_pool *p)
{
	if (!p)
		return;
	free(p->slots);
	free(p);
}

bool dhcp_pool_contains(const struct dhcp_pool *p, uint32_t ip)
{
	return ip >= p->first && ip - p->first < p->size;
}

uint32_t dhcp_pool_size(const struct dhcp_pool *p)
{
	return p->size;
}

static bool same_id(const struct dhcp_client_id *a, const struct dhcp_client_id *b)
{
	return a->len == b->len && memcmp(a->bytes, b->bytes, a->len) == 0;
}

/* The state as time has left it: holds that ran out read as free. */
static enum dhcp_slot_state effective(const struct dhcp_slot *s, int64_t now)
{
	switch (s->state) {
	case DHCP_SLOT_OFFERED:
	case DHCP_SLOT_BOUND:
		return s->until > now ? (enum dhcp_slot_state)s->state : DHCP_SLOT_RELEASED;
	case DHCP_SLOT_DECLINED:
		return s->until > now ? DHCP_SLOT_DECLINED : DHCP_SLOT_FREE;
	default:
		return (enum dhcp_slot_state)s->state;
	}
}

enum dhcp_slot_state dhcp_pool_state(const struct dhcp_pool *p, uint32_t ip, int64_t now)
{
	return effective(&p->slots[ip - p->first], now);
}

uint32_t dhcp_pool_in_use(const struct dhcp_pool *p, int64_t now)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < p->size; i++) {
		enum dhcp_slot_state st = effective(&p->slots[i], now);
		n += st == DHCP_SLOT_BOUND || st == DHCP_SLOT_OFFERED;
	}
	return n;
}

bool dhcp_pool_available(const struct dhcp_pool *p, uint32_t ip,
			 const struct dhcp_client_id *id, int64_t now)
{
	const struct dhcp_slot *s;

	if (!dhcp_pool_contains(p, ip))
		return false;
	s = &p->slots[ip - p->first];
	switch (effective(s, now)) {
	case DHCP_SLOT_FREE:
		return true;
	case DHCP_SLOT_RELEASED:
		/* Free for anyone; its last owner simply comes first. */
		return true;
	case DHCP_SLOT_OFFERED:
	case DHCP_SLOT_BOUND:
		return same_id(&s->owner, id);
	default:
		return false;
	}
}

uint32_t dhcp_pool_lookup(const struct dhcp_pool *p, const struct dhcp_client_id *id,
			  int64_t now)
{
	for (uint32_t i = 0; i < p->size; i++) {
		const struct dhcp_slot *s = &p->slots[i];
		enum dhcp_slot_state st = effective(s, now);
		if ((st == DHCP_SLOT_BOUND || st == DHCP_SLOT_OFFERED) && same_id(&s->owner, id))
			return p->first + i;
	}
	return 0;
}

int dhcp_pool_choose(const struct dhcp_pool *p, const struct dhcp_client_id *id,
		     uint32_t requested, int64_t now, uint32_t *ip)
{
	uint32_t remembered = 0, best = 0;
	int64_t best_freed = INT64_MAX;
	bool have_remembered = false, have_best = false;

	/* One pass: the client's current or last address, and the free slot
	 * free the longest (a fresh slot has freed_at 0 and comes first). */
	for (uint32_t i = 0; i < p->size; i++) {
		const struct dhcp_slot *s = &p->slots[i];
		enum dhcp_slot_state st = effective(s, now);

		if (st == DHCP_SLOT_BOUND || st == DHCP_SLOT_OFFERED) {
			if (same_id(&s->owner, id)) {
				*ip = p->first + i;
				return 0;
			}
			continue;
		}
		if (st == DHCP_SLOT_DECLINED)
			continue;
		if (st == DHCP_SLOT_RELEASED && same_id(&s->owner, id) && !have_remembered) {
			remembered = p->first + i;
			have_remembered = true;
		}
		/* Prefer never-used slots, then the longest-released, so
		 * that a returning client's old address is still there. */
		int64_t key;
		if (st == DHCP_SLOT_FREE && s->owner.len == 0)
			key = -1;
		else if (s->state == DHCP_SLOT_BOUND || s->state == DHCP_SLOT_OFFERED)
			key = s->until;  /* expired: free since its lease ran out */
		else
			key = s->freed_at;
		if (key < best_freed) {
			best_freed = key;
			best = p->first + i;
			have_best = true;
		}
	}
	if (have_remembered) {
		*ip = remembered;
		return 0;
	}
	if (requested && dhcp_pool_available(p, requested, id, now)) {
		*ip = requested;
		return 0;
	}
	if (!have_best)
		return -ENOSPC;
	*ip = best;
	return 0;
}

void dhcp_pool_offer(struct dhcp_pool *p, uint32_t ip, const struct dhcp_client_id *id,
		     int64_t until)
{
	struct dhcp_slot *s = &p->slots[ip - p->first];

	/* Offering never shortens a lease the client already has. */
	if (s->state == DHCP_SLOT_BOUND && same_id(&s->owner, id) && s->until > until)
		return;
	s->state = DHCP_SLOT_OFFERED;
	s->until = until;
	s->owner = *id;
}

void dhcp_pool_bind(struct dhcp_pool *p, uint32_t ip, const struct dhcp_client_id *id,
		    int64_t until)
{
	struct dhcp_slot *s = &p->slots[ip - p->first];

	s->state = DHCP_SLOT_BOUND;
	s->until = until;
	s->owner = *id;
}

bool dhcp_pool_release(struct dhcp_pool *p, uint32_t ip, const struct dhcp_client_id *id,
		       int64_t now)
{
	struct dhcp_slot *s;

	if (!dhcp_pool_contains(p, ip))
		return false;
	s = &p->slots[ip - p->first];
	if ((s->state != DHCP_SLOT_BOUND && s->state != DHCP_SLOT_OFFERED) ||
	    !same_id(&s->owner, id))
		return false;
	s->state = DHCP_SLOT_RELEASED;
	s->freed_at = now;
	s->until = 0;
	return true;
}

void dhcp_pool_decline(struct dhcp_pool *p, uint32_t ip, int64_t until)
{
	struct dhcp_slot *s = &p->slots[ip - p->first];

	s->state = DHCP_SLOT_DECLINED;
	s->until = until;
	s->owner.len = 0;
	s->freed_at = until;
}
