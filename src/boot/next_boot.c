/* next_boot.c - see next_boot.h. */
#include "boot/next_boot.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct next_boot {
	struct next_boot_record *v;  /* sorted by mac */
	size_t n, cap, max;
};

int next_boot_new(size_t max, struct next_boot **ret)
{
	struct next_boot *nb = calloc(1, sizeof(*nb));

	if (!nb)
		return -ENOMEM;
	nb->max = max;
	*ret = nb;
	return 0;
}

void next_boot_free(struct next_boot *nb)
{
	if (!nb)
		return;
	free(nb->v);
	free(nb);
}

/* The index of mac, or where it would go (*found false). */
static size_t find(const struct next_boot *nb, const uint8_t mac[6], bool *found)
{
	size_t lo = 0, hi = nb->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(nb->v[mid].mac, mac, 6);

		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

const struct next_boot_record *next_boot_get(const struct next_boot *nb, const uint8_t mac[6])
{
	bool found;
	size_t i;

	if (!nb)
		return NULL;
	i = find(nb, mac, &found);
	return found ? &nb->v[i] : NULL;
}

static bool valid(const struct next_boot_record *r)
{
	bool has_profile = memchr(r->profile, '\0', sizeof(r->profile)) && r->profile[0];
	bool has_token = memchr(r->token, '\0', sizeof(r->token)) && r->token[0];

	switch (r->mode) {
	case NEXT_BOOT_PROFILE:
		return has_profile && (r->once ? has_token : !has_token);
	case NEXT_BOOT_LOCAL:
		return !r->once && !has_token;
	default:
		return false;
	}
}

int next_boot_put(struct next_boot *nb, const struct next_boot_record *r)
{
	bool found;
	size_t i;

	if (r->mode == NEXT_BOOT_DEFAULT) {
		next_boot_del(nb, r->mac);
		return 0;
	}
	if (!valid(r))
		return -EINVAL;
	i = find(nb, r->mac, &found);
	if (found) {
		nb->v[i] = *r;
		return 0;
	}
	if (nb->n >= nb->max)
		return -ENOSPC;
	if (nb->n == nb->cap) {
		size_t cap = nb->cap ? nb->cap * 2 : 64;
		struct next_boot_record *v;

		if (cap > nb->max)
			cap = nb->max;
		v = realloc(nb->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		nb->v = v;
		nb->cap = cap;
	}
	memmove(&nb->v[i + 1], &nb->v[i], (nb->n - i) * sizeof(*nb->v));
	nb->v[i] = *r;
	nb->n++;
	return 0;
}

void next_boot_del(struct next_boot *nb, const uint8_t mac[6])
{
	bool found;
	size_t i = find(nb, mac, &found);

	if (!found)
		return;
	memmove(&nb->v[i], &nb->v[i + 1], (nb->n - i - 1) * sizeof(*nb->v));
	nb->n--;
}

size_t next_boot_count(const struct next_boot *nb)
{
	return nb ? nb->n : 0;
}

/* Both are NEXT_BOOT_TOKEN_HEX characters when it matters; every byte is
 * looked at whatever differs, so timing tells nothing of the token. */
static bool token_equal(const char *want, const char *got)
{
	size_t glen = strnlen(got, NEXT_BOOT_TOKEN_HEX + 1);
	unsigned diff = glen != NEXT_BOOT_TOKEN_HEX;

	for (size_t i = 0; i < NEXT_BOOT_TOKEN_HEX; i++)
		diff |= (unsigned)(uint8_t)want[i] ^ (unsigned)(uint8_t)(i < glen ? got[i] : 0);
	return diff == 0;
}

int next_boot_check_done(const struct next_boot_record *r, const char *token, bool operator,
			 struct next_boot_record *out, const char **reason)
{
	if (!next_boot_install_pending(r) || strlen(r->token) != NEXT_BOOT_TOKEN_HEX) {
		*reason = "no-pending-install";
		return -EACCES;
	}
	if (!operator && (!token || !token_equal(r->token, token))) {
		*reason = "wrong-token";
		return -EACCES;
	}
	*out = (struct next_boot_record){ .mode = NEXT_BOOT_LOCAL };
	memcpy(out->mac, r->mac, 6);
	*reason = NULL;
	return 0;
}

const struct next_boot_record *next_boot_at(const struct next_boot *nb, size_t i)
{
	return &nb->v[i];
}
