/* host_table.c - see host_table.h. */
#include "host_table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* One sorted index of host pointers. */
struct index {
	struct host_config **v;
	size_t n, cap;
};

enum { BY_NAME, BY_MAC, BY_UUID, BY_IP, N_INDEX };

struct host_table {
	size_t max;
	struct index idx[N_INDEX];  /* by_name holds every host (and owns them) */
};

/* Key comparison of h against a probe of the index's kind. */
static int cmp_key(int kind, const struct host_config *h, const void *key)
{
	switch (kind) {
	case BY_NAME: return strcmp(h->name, key);
	case BY_MAC: return memcmp(h->mac, key, 6);
	case BY_UUID: return memcmp(h->uuid, key, 16);
	default: {
		uint32_t a = h->ip, b = *(const uint32_t *)key;
		return a < b ? -1 : a > b;
	}
	}
}

static const void *key_of(int kind, const struct host_config *h)
{
	switch (kind) {
	case BY_NAME: return h->name;
	case BY_MAC: return h->mac;
	case BY_UUID: return h->uuid;
	default: return &h->ip;
	}
}

/* Is h in the index of kind at all (a host without a MAC is not in
 * by_mac, one without a fixed ip not in by_ip)? */
static bool indexed(int kind, const struct host_config *h)
{
	return kind == BY_NAME || (kind == BY_MAC && h->has_mac) ||
	       (kind == BY_UUID && h->has_uuid) || (kind == BY_IP && h->ip);
}

/* The first position whose key is not below key. */
static size_t lower_bound(const struct index *x, int kind, const void *key)
{
	size_t lo = 0, hi = x->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cmp_key(kind, x->v[mid], key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct host_config *find(const struct host_table *t, int kind, const void *key)
{
	const struct index *x;
	size_t i;

	if (!t)
		return NULL;
	x = &t->idx[kind];
	i = lower_bound(x, kind, key);
	return i < x->n && cmp_key(kind, x->v[i], key) == 0 ? x->v[i] : NULL;
}

static int reserve(struct index *x)
{
	struct host_config **v;
	size_t cap;

	if (x->n < x->cap)
		return 0;
	cap = x->cap ? x->cap * 2 : 16;
	v = realloc(x->v, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	x->v = v;
	x->cap = cap;
	return 0;
}

static void insert(struct index *x, int kind, struct host_config *h)
{
	size_t i = lower_bound(x, kind, key_of(kind, h));

	memmove(x->v + i + 1, x->v + i, (x->n - i) * sizeof(*x->v));
	x->v[i] = h;
	x->n++;
}

static void remove_ptr(struct index *x, int kind, const struct host_config *h)
{
	for (size_t i = lower_bound(x, kind, key_of(kind, h)); i < x->n; i++) {
		if (x->v[i] == h) {
			memmove(x->v + i, x->v + i + 1, (x->n - i - 1) * sizeof(*x->v));
			x->n--;
			return;
		}
		if (cmp_key(kind, x->v[i], key_of(kind, h)) != 0)
			return;
	}
}

static void unlink_host(struct host_table *t, struct host_config *h)
{
	for (int k = 0; k < N_INDEX; k++)
		if (indexed(k, h))
			remove_ptr(&t->idx[k], k, h);
}

int host_table_new(size_t max, struct host_table **ret)
{
	struct host_table *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->max = max;
	*ret = t;
	return 0;
}

void host_table_free(struct host_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->idx[BY_NAME].n; i++)
		config_host_free(t->idx[BY_NAME].v[i]);
	for (int k = 0; k < N_INDEX; k++)
		free(t->idx[k].v);
	free(t);
}

size_t host_table_count(const struct host_table *t)
{
	return t ? t->idx[BY_NAME].n : 0;
}

struct host_config *host_table_at(const struct host_table *t, size_t i)
{
	return t->idx[BY_NAME].v[i];
}

struct host_config *host_table_by_name(const struct host_table *t, const char *name)
{
	return find(t, BY_NAME, name);
}

struct host_config *host_table_by_mac(const struct host_table *t, const uint8_t mac[6])
{
	return find(t, BY_MAC, mac);
}

struct host_config *host_table_by_uuid(const struct host_table *t, const uint8_t uuid[16])
{
	return find(t, BY_UUID, uuid);
}

struct host_config *host_table_by_ip(const struct host_table *t, uint32_t ip)
{
	return ip ? find(t, BY_IP, &ip) : NULL;
}

int host_table_put(struct host_table *t, struct host_config *h, struct host_config **old)
{
	struct host_config *prev = find(t, BY_NAME, h->name);

	if (!prev && t->idx[BY_NAME].n >= t->max)
		return -ENOSPC;
	/* Room first, so that nothing fails once the old host is out. */
	for (int k = 0; k < N_INDEX; k++)
		if (reserve(&t->idx[k]) < 0)
			return -ENOMEM;
	if (prev)
		unlink_host(t, prev);
	for (int k = 0; k < N_INDEX; k++)
		if (indexed(k, h))
			insert(&t->idx[k], k, h);
	*old = prev;
	return 0;
}

struct host_config *host_table_take(struct host_table *t, const char *name)
{
	struct host_config *h = find(t, BY_NAME, name);

	if (h)
		unlink_host(t, h);
	return h;
}
