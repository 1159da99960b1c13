/* http_peers.c - see http_peers.h. */
#include "http/http_peers.h"

#include <errno.h>
#include <stdlib.h>

/* Linear probing at most half full; key 0 marks a free slot (0.0.0.0 is
 * never a TCP peer). Removal shifts later entries back (Knuth 6.4,
 * algorithm R), so there are no tombstones and lookups stay short however
 * long the daemon runs. */
struct peer_slot {
	uint32_t ip;
	uint32_t count;
};

struct http_peers {
	size_t mask;       /* slots - 1; slots is a power of two */
	size_t used;
	size_t max_entries;
	struct peer_slot slot[];
};

static size_t home_of(const struct http_peers *p, uint32_t ip)
{
	/* Fibonacci hashing: neighbouring addresses spread over the table. */
	return ((uint32_t)(ip * 2654435761u) >> 7) & p->mask;
}

int http_peers_new(size_t max_entries, struct http_peers **ret)
{
	size_t slots = 16;
	struct http_peers *p;

	if (max_entries == 0 || max_entries > (SIZE_MAX / sizeof(struct peer_slot)) / 4)
		return -EINVAL;
	while (slots < 2 * max_entries)
		slots *= 2;
	p = calloc(1, sizeof(*p) + slots * sizeof(p->slot[0]));
	if (!p)
		return -ENOMEM;
	p->mask = slots - 1;
	p->max_entries = max_entries;
	*ret = p;
	return 0;
}

void http_peers_free(struct http_peers *p)
{
	free(p);
}

/* The slot holding ip, or the free slot where it would go. */
static size_t find(const struct http_peers *p, uint32_t ip)
{
	size_t i = home_of(p, ip);

	while (p->slot[i].ip && p->slot[i].ip != ip)
		i = (i + 1) & p->mask;
	return i;
}

unsigned http_peers_count(const struct http_peers *p, uint32_t ip)
{
	return ip ? p->slot[find(p, ip)].count : 0;
}

int http_peers_add(struct http_peers *p, uint32_t ip)
{
	size_t i;

	if (!ip)
		return 0;
	i = find(p, ip);
	if (!p->slot[i].ip) {
		if (p->used >= p->max_entries)
			return -ENOSPC;
		p->slot[i].ip = ip;
		p->used++;
	}
	return (int)++p->slot[i].count;
}

void http_peers_del(struct http_peers *p, uint32_t ip)
{
	size_t i, j;

	if (!ip)
		return;
	i = find(p, ip);
	if (!p->slot[i].ip || --p->slot[i].count > 0)
		return;
	p->used--;
	/* Empty slot i, then move back every later entry of the run that
	 * would no longer be found past the hole. */
	for (j = i;;) {
		size_t home;

		p->slot[i] = (struct peer_slot){ 0 };
		for (;;) {
			j = (j + 1) & p->mask;
			if (!p->slot[j].ip)
				return;
			home = home_of(p, p->slot[j].ip);
			/* Entry j stays if its home lies cyclically in (i, j]. */
			if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
				continue;
			break;
		}
		p->slot[i] = p->slot[j];
		i = j;
	}
}
