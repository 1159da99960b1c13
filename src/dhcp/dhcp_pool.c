/* dhcp_pool.c - see dhcp_pool.h. */
#include "dhcp/dhcp_pool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NO_SLOT UINT32_MAX

/* A slot's holder: short identities in place, long ones in a heap copy
 * (see dhcp_pool.h) whose pointer is kept in `bytes` (memcpy'd: the
 * struct stays byte-aligned, so a slot is no bigger than with 64-byte
 * identities inline, 96 bytes on LP64). */
struct slot_id {
	uint8_t len;
	uint8_t bytes[DHCP_POOL_ID_INLINE];  /* the id, or (len > INLINE) a pointer */
};
_Static_assert(DHCP_POOL_ID_INLINE >= sizeof(uint8_t *), "room for the pointer");

struct dhcp_slot {
	uint8_t state;                /* enum dhcp_slot_state */
	bool indexed;                 /* linked into the bucket of `owner` */
	int64_t until;                /* expiry of OFFERED/BOUND/DECLINED */
	int64_t freed_at;             /* when it last became free: LRU order */
	uint32_t next;                /* next slot in the same hash bucket */
	struct slot_id owner;         /* current or last holder */
};

_Static_assert(sizeof(struct dhcp_slot) <= 96, "a slot per address: keep it small");

struct dhcp_pool {
	uint32_t first, size;
	struct dhcp_slot *slots;
	uint32_t *buckets;            /* head slot per bucket, NO_SLOT if none */
	uint32_t bucket_mask;
	uint32_t fresh_start;         /* where the walk over never-used slots begins */
	uint32_t fresh;               /* slots walked so far: those have all been used */
	uint32_t declined_slots;      /* in state DECLINED, expired or not */
};

static uint8_t *slot_id_ext(const struct slot_id *o)
{
	uint8_t *ext;

	memcpy(&ext, o->bytes, sizeof(ext));
	return ext;
}

static const uint8_t *slot_id_bytes(const struct slot_id *o)
{
	return o->len > DHCP_POOL_ID_INLINE ? slot_id_ext(o) : o->bytes;
}

static void slot_id_clear(struct slot_id *o)
{
	if (o->len > DHCP_POOL_ID_INLINE)
		free(slot_id_ext(o));
	o->len = 0;
}

static int slot_id_set(struct slot_id *o, const struct dhcp_client_id *id)
{
	uint8_t *ext = NULL;

	if (id->len > DHCP_POOL_ID_INLINE) {
		ext = malloc(id->len);
		if (!ext)
			return -ENOMEM;
		memcpy(ext, id->bytes, id->len);
	}
	slot_id_clear(o);
	o->len = id->len;
	if (ext)
		memcpy(o->bytes, &ext, sizeof(ext));
	else
		memcpy(o->bytes, id->bytes, id->len);
	return 0;
}

static void slot_id_get(const struct slot_id *o, struct dhcp_client_id *id)
{
	id->len = o->len;
	memcpy(id->bytes, slot_id_bytes(o), o->len);
}

static uint32_t hash_bytes(const uint8_t *b, unsigned len)
{
	uint32_t h = 2166136261u;  /* FNV-1a */

	for (unsigned i = 0; i < len; i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}

static uint32_t id_hash(const struct dhcp_client_id *id)
{
	return hash_bytes(id->bytes, id->len);
}

/* Every change of a slot's state goes through here, to keep the count
 * of declined slots. */
static void set_state(struct dhcp_pool *p, struct dhcp_slot *s, enum dhcp_slot_state st)
{
	p->declined_slots -= s->state == DHCP_SLOT_DECLINED;
	p->declined_slots += st == DHCP_SLOT_DECLINED;
	s->state = (uint8_t)st;
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
	for (uint32_t i = 0; p->slots && i < p->size; i++)
		slot_id_clear(&p->slots[i].owner);
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

static bool same_id(const struct slot_id *a, const struct dhcp_client_id *b)
{
	return a->len == b->len && memcmp(slot_id_bytes(a), b->bytes, a->len) == 0;
}

/* --- the identity index: every slot with an owner is in its bucket --- */

static void index_unlink(struct dhcp_pool *p, uint32_t i)
{
	struct dhcp_slot *s = &p->slots[i];
	uint32_t *link;

	if (!s->indexed)
		return;
	link = &p->buckets[hash_bytes(slot_id_bytes(&s->owner), s->owner.len) & p->bucket_mask];
	while (*link != i)
		link = &p->slots[*link].next;
	*link = s->next;
	s->indexed = false;
}

static int set_owner(struct dhcp_pool *p, uint32_t i, const struct dhcp_client_id *id)
{
	struct dhcp_slot *s = &p->slots[i];
	uint32_t b;

	if (s->indexed && same_id(&s->owner, id))
		return 0;
	/* Copy first: on -ENOMEM the slot is left as it was. */
	if (id->len > DHCP_POOL_ID_INLINE) {
		struct slot_id copy = { 0 };
		if (slot_id_set(&copy, id) < 0)
			return -ENOMEM;
		index_unlink(p, i);
		slot_id_clear(&s->owner);
		s->owner = copy;
	} else {
		index_unlink(p, i);
		slot_id_set(&s->owner, id);
	}
	if (!id->len)
		return 0;
	b = id_hash(id) & p->bucket_mask;
	s->next = p->buckets[b];
	p->buckets[b] = i;
	s->indexed = true;
	return 0;
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
	struct dhcp_pool_usage u;

	dhcp_pool_usage(p, now, &u);
	return u.in_use;
}

void dhcp_pool_usage(const struct dhcp_pool *p, int64_t now, struct dhcp_pool_usage *u)
{
	*u = (struct dhcp_pool_usage){ .size = p->size };
	for (uint32_t i = 0; i < p->size; i++) {
		enum dhcp_slot_state st = effective(&p->slots[i], now);
		if (active(st) && p->slots[i].owner.len)
			u->in_use++;
		else if (active(st))
			u->reserved++;  /* fixed-host reservations are not leases */
		else if (st == DHCP_SLOT_DECLINED)
			u->declined++;
	}
	u->free = u->size - u->in_use - u->reserved - u->declined;
}

uint32_t dhcp_pool_declined(const struct dhcp_pool *p, int64_t now)
{
	uint32_t n = 0;

	/* Expired declines stay in state DECLINED until reused, so the
	 * count is an upper bound; scan only when it is not zero. */
	for (uint32_t i = 0; p->declined_slots && i < p->size; i++)
		n += effective(&p->slots[i], now) == DHCP_SLOT_DECLINED;
	return n;
}

uint32_t dhcp_pool_declined_bound(const struct dhcp_pool *p)
{
	return p->declined_slots;
}

bool dhcp_pool_knows(const struct dhcp_pool *p, const struct dhcp_client_id *id,
		     int64_t now)
{
	bool is_active;

	return id->len && find_owned(p, id, now, &is_active) != NO_SLOT;
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
		     uint32_t requested, int64_t now, dhcp_pool_usable_fn *usable,
		     const void *usable_ctx, uint32_t *ip)
{
	bool is_active;
	uint32_t i = find_owned(p, id, now, &is_active);
	uint32_t best = NO_SLOT;
	int64_t best_key = INT64_MAX;

	if (i != NO_SLOT && (!usable || usable(usable_ctx, p->first + i))) {
		/* Its current address, or the one it held last if free. */
		*ip = p->first + i;
		return 0;
	}
	if (requested && dhcp_pool_available(p, requested, id, now) &&
	    (!usable || usable(usable_ctx, requested))) {
		*ip = requested;
		return 0;
	}
	/* Never-used addresses first, so that a returning client's old
	 * address is still there for it. */
	while (p->fresh < p->size) {
		uint32_t k = (uint32_t)(((uint64_t)p->fresh_start + p->fresh) % p->size);
		const struct dhcp_slot *s = &p->slots[k];
		if (s->state == DHCP_SLOT_FREE && s->owner.len == 0 &&
		    (!usable || usable(usable_ctx, p->first + k))) {
			*ip = p->first + k;
			return 0;
		}
		p->fresh++;
	}
	/* Then the address free the longest. */
	for (uint32_t k = 0; k < p->size; k++) {
		const struct dhcp_slot *s = &p->slots[k];
		int64_t key;

		if (!reusable(s, now) || (usable && !usable(usable_ctx, p->first + k)))
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

void dhcp_pool_set_fresh_start(struct dhcp_pool *p, uint32_t seed)
{
	p->fresh_start = p->size ? seed % p->size : 0;
	p->fresh = 0;
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
	slot_id_get(&s->owner, id);
	return 0;
}

int dhcp_pool_offer(struct dhcp_pool *p, uint32_t ip, const struct dhcp_client_id *id,
		    int64_t until)
{
	uint32_t i = ip - p->first;
	struct dhcp_slot *s = &p->slots[i];

	/* Offering never shortens a lease the client already has. */
	if (s->state == DHCP_SLOT_BOUND && same_id(&s->owner, id) && s->until > until)
		return 0;
	if (set_owner(p, i, id) < 0)
		return -ENOMEM;
	set_state(p, s, DHCP_SLOT_OFFERED);
	s->until = until;
	return 0;
}

int dhcp_pool_bind(struct dhcp_pool *p, uint32_t ip, const struct dhcp_client_id *id,
		   int64_t until)
{
	uint32_t i = ip - p->first;
	struct dhcp_slot *s = &p->slots[i];

	if (set_owner(p, i, id) < 0)
		return -ENOMEM;
	set_state(p, s, DHCP_SLOT_BOUND);
	s->until = until;
	return 0;
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
	set_state(p, s, DHCP_SLOT_RELEASED);
	s->freed_at = now;
	s->until = 0;
	return true;
}

void dhcp_pool_decline(struct dhcp_pool *p, uint32_t ip, int64_t until)
{
	uint32_t i = ip - p->first;
	struct dhcp_slot *s = &p->slots[i];
	static const struct dhcp_client_id nobody = { 0 };

	set_state(p, s, DHCP_SLOT_DECLINED);
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
					 .freed_at = s->freed_at };
	slot_id_get(&s->owner, &out->owner);
}

int dhcp_pool_slot_set(struct dhcp_pool *p, uint32_t ip, const struct dhcp_slot_image *img)
{
	uint32_t i = ip - p->first;
	struct dhcp_slot *s = &p->slots[i];

	/* The owner first: on -ENOMEM (a long identity's copy) nothing
	 * changed. */
	if (set_owner(p, i, &img->owner) < 0)
		return -ENOMEM;
	set_state(p, s, img->state);
	s->until = img->until;
	s->freed_at = img->freed_at;
	return 0;
}

bool dhcp_pool_slot_undo(struct dhcp_pool *p, uint32_t ip, const struct dhcp_slot_image *before,
			 const struct dhcp_slot_image *after)
{
	struct dhcp_slot_image now;

	if (!dhcp_pool_contains(p, ip))
		return false;
	dhcp_pool_slot_get(p, ip, &now);
	if (now.state != after->state || now.until != after->until ||
	    now.freed_at != after->freed_at || now.owner.len != after->owner.len ||
	    memcmp(now.owner.bytes, after->owner.bytes, now.owner.len) != 0)
		return false;
	return dhcp_pool_slot_set(p, ip, before) == 0;
}
