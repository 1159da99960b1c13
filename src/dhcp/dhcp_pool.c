/* dhcp_pool.c - see dhcp_pool.h. */
#include "dhcp/dhcp_pool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NO_SLOT UINT32_MAX

struct dhcp_slot {
	uint8_t state;                /* enum dhcp_slot_state */
	bool indexed;                 /* linked into the bucket of `owner` */
	int64_t until;                /* expiry of OFFERED/BOUND/DECLINED */
	int64_t freed_at;             /* when it last became free: LRU order */
	uint32_t next;                /* next slot in the same hash bucket */
	struct dhcp_client_id owner;  /* current or last holder */
};

struct dhcp_pool {
	uint32_t first, size;
	struct dhcp_slot *slots;
	uint32_t *buckets;            /* head slot per bucket, NO_SLOT if none */
	uint32_t bucket_mask;
	uint32_t fresh;               /* slots below this have all been used */
};

static uint32_t id_hash(const struct dhcp_client_id *id)
{
	uint32_t h = 2166136261u;  /* FNV-1a */

	for (unsigned i = 0; i < id->len; i++)
		h = (h ^ id->bytes[i]) * 16777619u;
	return h;
}

int dhcp_pool_new(uint32_t first, uint32_t last, struct dhcp_pool **ret)
{
	struct dhcp_pool *p;
	uint32_t nb = 16;

	if (last < first || last - first >= DHCP_POOL_MAX_SIZE)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->first = first;
	p->size = last - first + 1;
	while (nb < p->size)
		nb <<= 1;
	p->bucket_mask = nb - 1;
	p->slots = calloc(p->size, sizeof(*p->slots));
	p->buckets = malloc(nb * sizeof(*p->buckets));
	if (!p->slots || !p->buckets) {
		dhcp_pool_free(p);
		return -ENOMEM;
	}
	memset(p->buckets, 0xff, nb * sizeof(*p->buckets));
	*ret = p;
	return 0;
}

void dhcp_pool_free(struct dhcp_pool *p)
{
	if (!p)
		return;
	free(p->slots);
	free(p->buckets);
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

/* --- the identity index: every slot with an owner is in its bucket --- */

static void index_unlink(struct dhcp_pool *p, uint32_t i)
{
	struct dhcp_slot *s = &p->slots[i];
	uint32_t *link;

	if (!s->indexed)
		return;
	link = &p->buckets[id_hash(&s->owner) & p->bucket_mask];
	while (*link != i)
		link = &p->slots[*link].next;
	*link = s->next;
	s->indexed = false;
}

static void set_owner(struct dhcp_pool *p, uint32_t i, const struct dhcp_client_id *id)
{
	struct dhcp_slot *s = &p->slots[i];
	uint32_t b;

	if (s->indexed && same_id(&s->owner, id))
		return;
	index_unlink(p, i);
	s->owner = *id;
	if (!id->len)
		return;
	b = id_hash(id) & p->bucket_mask;
	s->next = p->buckets[b];
	p->buckets[b] = i;
	s->indexed = true;
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

static bool active(enum dhcp_slot_state st)
{
	return st == DHCP_SLOT_BOUND || st == DHCP_SLOT_OFFERED;
}

/* The slot id holds (active), else one it held last (released), else
 * NO_SLOT. */
static uint32_t find_owned(const struct dhcp_pool *p, const struct dhcp_client_id *id,
			   int64_t now, bool *is_active)
{
	uint32_t remembered = NO_SLOT;

	for (uint32_t i = p->buckets[id_hash(id) & p->bucket_mask]; i != NO_SLOT;
	     i = p->slots[i].next) {
		const struct dhcp_slot *s = &p->slots[i];
		enum dhcp_slot_state st;

		if (!same_id(&s->owner, id))
			continue;
		st = effective(s, now);
		if (active(st)) {
			*is_active = true;
			return i;
		}
		if (st == DHCP_SLOT_RELEASED && remembered == NO_SLOT)
			remembered = i;
	}
	*is_active = false;
	return remembered;
}

enum dhcp_slot_state dhcp_pool_state(const struct dhcp_pool *p, uint32_t ip, int64_t now)
{
	return effective(&p->slots[ip - p->first], now);
}

uint32_t dhcp_pool_in_use(const struct dhcp_pool *p, int64_t now)
{
	uint32_t n = 0;

	/* Fixed-host reservations (no owner) are not leases. */
	for (uint32_t i = 0; i < p->size; i++)
		n += active(effective(&p->slots[i], now)) && p->slots[i].owner.len;
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
	bool is_active;
	uint32_t i = find_owned(p, id, now, &is_active);

	return i != NO_SLOT && is_active ? p->first + i : 0;
}

/* Free for a new client: nobody's, or released/expired and so reusable. */
static bool reusable(const struct dhcp_slot *s, int64_t now)
{
	enum dhcp_slot_state st = effective(s, now);

	return st == DHCP_SLOT_FREE || st == DHCP_SLOT_RELEASED;
}

int dhcp_pool_choose(struct dhcp_pool *p, const struct dhcp_client_id *id,
		     uint32_t requested, int64_t now, uint32_t *ip)
{
	bool is_active;
	uint32_t i = find_owned(p, id, now, &is_active);
	uint32_t best = NO_SLOT;
	int64_t best_key = INT64_MAX;

	if (i != NO_SLOT) {
		/* Its current address, or the one it held last if free. */
		*ip = p->first + i;
		return 0;
	}
	if (requested && dhcp_pool_available(p, requested, id, now)) {
		*ip = requested;
		return 0;
	}
	/* Never-used addresses first, so that a returning client's old
	 * address is still there for it. */
	while (p->fresh < p->size) {
		const struct dhcp_slot *s = &p->slots[p->fresh];
		if (s->state == DHCP_SLOT_FREE && s->owner.len == 0) {
			*ip = p->first + p->fresh;
			return 0;
		}
		p->fresh++;
	}
	/* Then the address free the longest. */
	for (uint32_t k = 0; k < p->size; k++) {
		const struct dhcp_slot *s = &p->slots[k];
		int64_t key;

		if (!reusable(s, now))
			continue;
		if (s->state == DHCP_SLOT_BOUND || s->state == DHCP_SLOT_OFFERED)
			key = s->until;  /* expired: free since its lease ran out */
		else
			key = s->freed_at;
		if (key < best_key) {
			best_key = key;
			best = k;
		}
	}
	if (best == NO_SLOT)
		return -ENOSPC;
	*ip = p->first + best;
	return 0;
}

int dhcp_pool_owner(const struct dhcp_pool *p, uint32_t ip, int64_t now,
		    struct dhcp_client_id *id)
{
	const struct dhcp_slot *s;

	if (!dhcp_pool_contains(p, ip))
		return -ENOENT;
	s = &p->slots[ip - p->first];
	if (!active(effective(s, now)) || !s->owner.len)
		return -ENOENT;
	*id = s->owner;
	return 0;
}

void dhcp_pool_offer(struct dhcp_pool *p, uint32_t ip, const struct dhcp_client_id *id,
		     int64_t until)
{
	uint32_t i = ip - p->first;
	struct dhcp_slot *s = &p->slots[i];

	/* Offering never shortens a lease the client already has. */
	if (s->state == DHCP_SLOT_BOUND && same_id(&s->owner, id) && s->until > until)
		return;
	s->state = DHCP_SLOT_OFFERED;
	s->until = until;
	set_owner(p, i, id);
}

void dhcp_pool_bind(struct dhcp_pool *p, uint32_t ip, const struct dhcp_client_id *id,
		    int64_t until)
{
	uint32_t i = ip - p->first;
	struct dhcp_slot *s = &p->slots[i];

	s->state = DHCP_SLOT_BOUND;
	s->until = until;
	set_owner(p, i, id);
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
	uint32_t i = ip - p->first;
	struct dhcp_slot *s = &p->slots[i];
	static const struct dhcp_client_id nobody = { 0 };

	s->state = DHCP_SLOT_DECLINED;
	s->until = until;
	s->freed_at = until;
	set_owner(p, i, &nobody);
}

uint32_t dhcp_pool_first(const struct dhcp_pool *p)
{
	return p->first;
}

void dhcp_pool_slot_get(const struct dhcp_pool *p, uint32_t ip, struct dhcp_slot_image *out)
{
	const struct dhcp_slot *s = &p->slots[ip - p->first];

	*out = (struct dhcp_slot_image){ .state = s->state, .until = s->until,
					 .freed_at = s->freed_at, .owner = s->owner };
}

void dhcp_pool_slot_set(struct dhcp_pool *p, uint32_t ip, const struct dhcp_slot_image *img)
{
	uint32_t i = ip - p->first;
	struct dhcp_slot *s = &p->slots[i];

	s->state = img->state;
	s->until = img->until;
	s->freed_at = img->freed_at;
	set_owner(p, i, &img->owner);
}

bool dhcp_pool_slot_undo(struct dhcp_pool *p, uint32_t ip, const struct dhcp_slot_image *before,
			 const struct dhcp_slot_image *after)
{
	struct dhcp_slot_image now;

	if (!dhcp_pool_contains(p, ip))
		return false;
	dhcp_pool_slot_get(p, ip, &now);
	if (now.state != after->state || now.until != after->until ||
	    now.freed_at != after->freed_at || !same_id(&now.owner, &after->owner))
		return false;
	dhcp_pool_slot_set(p, ip, before);
	return true;
}
