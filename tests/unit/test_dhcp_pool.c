/* Unit tests for dhcp_pool: allocation order, holds, declines, releases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <stdio.h>

#include "dhcp/dhcp_pool.h"

#define BASE 0xac180a01u  /* 172.24.10.1 */

static struct dhcp_client_id id_of(const char *s)
{
	struct dhcp_client_id id = { .len = (uint8_t)strlen(s) };
	memcpy(id.bytes, s, id.len);
	return id;
}

static void test_bad_ranges(void **state)
{
	struct dhcp_pool *p = NULL;

	assert_int_equal(dhcp_pool_new(BASE + 1, BASE, &p), -EINVAL);
	assert_int_equal(dhcp_pool_new(0, DHCP_POOL_MAX_SIZE, &p), -EINVAL);
	assert_null(p);
	assert_int_equal(dhcp_pool_new(BASE, BASE, &p), 0);
	assert_int_equal(dhcp_pool_size(p), 1);
	dhcp_pool_free(p);
	dhcp_pool_free(NULL);
}

static void test_offer_hold_prevents_double_offer(void **state)
{
	struct dhcp_pool *p;
	struct dhcp_client_id a = id_of("aa"), b = id_of("bb");
	uint32_t ip_a, ip_b;

	assert_int_equal(dhcp_pool_new(BASE, BASE + 1, &p), 0);
	assert_int_equal(dhcp_pool_choose(p, &a, 0, 100, NULL, NULL, &ip_a), 0);
	dhcp_pool_offer(p, ip_a, &a, 110);
	assert_int_equal(dhcp_pool_choose(p, &b, ip_a, 100, NULL, NULL, &ip_b), 0);
	assert_int_not_equal(ip_a, ip_b);  /* b asked for a's held address */
	dhcp_pool_offer(p, ip_b, &b, 110);
	/* Full: a third client gets nothing while the holds last... */
	struct dhcp_client_id c = id_of("cc");
	uint32_t ip_c;
	assert_int_equal(dhcp_pool_choose(p, &c, 0, 105, NULL, NULL, &ip_c), -ENOSPC);
	/* ...and an address once the first hold has run out. */
	assert_int_equal(dhcp_pool_choose(p, &c, 0, 111, NULL, NULL, &ip_c), 0);
	dhcp_pool_free(p);
}

static void test_client_keeps_its_address(void **state)
{
	struct dhcp_pool *p;
	struct dhcp_client_id a = id_of("client-a"), b = id_of("client-b");
	uint32_t ip, again, other;

	assert_int_equal(dhcp_pool_new(BASE, BASE + 9, &p), 0);
	assert_int_equal(dhcp_pool_choose(p, &a, 0, 0, NULL, NULL, &ip), 0);
	dhcp_pool_bind(p, ip, &a, 3600);
	assert_int_equal(dhcp_pool_lookup(p, &a, 10), ip);
	assert_int_equal(dhcp_pool_choose(p, &a, BASE + 5, 10, NULL, NULL, &again), 0);
	assert_int_equal(again, ip);
	/* After release, a returning client still prefers its old address,
	 * and others are given never-used ones first. */
	assert_true(dhcp_pool_release(p, ip, &a, 20));
	assert_int_equal(dhcp_pool_choose(p, &b, 0, 30, NULL, NULL, &other), 0);
	assert_int_not_equal(other, ip);
	assert_int_equal(dhcp_pool_choose(p, &a, 0, 30, NULL, NULL, &again), 0);
	assert_int_equal(again, ip);
	/* Release by someone else changes nothing. */
	dhcp_pool_bind(p, ip, &a, 3600);
	assert_false(dhcp_pool_release(p, ip, &b, 40));
	assert_int_equal(dhcp_pool_state(p, ip, 40), DHCP_SLOT_BOUND);
	dhcp_pool_free(p);
}

static void test_expiry_returns_address(void **state)
{
	struct dhcp_pool *p;
	struct dhcp_client_id a = id_of("a"), b = id_of("b");
	uint32_t ip;

	assert_int_equal(dhcp_pool_new(BASE, BASE, &p), 0);
	dhcp_pool_bind(p, BASE, &a, 100);
	assert_int_equal(dhcp_pool_in_use(p, 99), 1);
	assert_int_equal(dhcp_pool_choose(p, &b, 0, 99, NULL, NULL, &ip), -ENOSPC);
	assert_false(dhcp_pool_available(p, BASE, &b, 99));
	assert_true(dhcp_pool_available(p, BASE, &a, 99));
	assert_int_equal(dhcp_pool_in_use(p, 100), 0);
	assert_int_equal(dhcp_pool_choose(p, &b, 0, 100, NULL, NULL, &ip), 0);
	assert_int_equal(ip, BASE);
	dhcp_pool_free(p);
}

static void test_declined_is_skipped_until_hold_ends(void **state)
{
	struct dhcp_pool *p;
	struct dhcp_client_id a = id_of("a");
	uint32_t ip;

	assert_int_equal(dhcp_pool_new(BASE, BASE + 1, &p), 0);
	dhcp_pool_decline(p, BASE, 500);
	assert_int_equal(dhcp_pool_choose(p, &a, BASE, 10, NULL, NULL, &ip), 0);
	assert_int_equal(ip, BASE + 1);
	assert_false(dhcp_pool_available(p, BASE, &a, 10));
	dhcp_pool_decline(p, BASE + 1, 500);
	assert_int_equal(dhcp_pool_choose(p, &a, 0, 10, NULL, NULL, &ip), -ENOSPC);
	assert_int_equal(dhcp_pool_choose(p, &a, 0, 500, NULL, NULL, &ip), 0);
	dhcp_pool_free(p);
}

static void test_offer_never_shortens_lease(void **state)
{
	struct dhcp_pool *p;
	struct dhcp_client_id a = id_of("a");

	assert_int_equal(dhcp_pool_new(BASE, BASE, &p), 0);
	dhcp_pool_bind(p, BASE, &a, 3600);
	dhcp_pool_offer(p, BASE, &a, 60);
	assert_int_equal(dhcp_pool_state(p, BASE, 100), DHCP_SLOT_BOUND);
	dhcp_pool_free(p);
}

/* Option 61 may be 255 bytes (RFC 2132 9.14): long identities are kept
 * whole (out of line) and told apart by every byte, also the last. */
static void test_long_client_ids(void **state)
{
	struct dhcp_pool *p;
	struct dhcp_client_id a = { .len = 255 }, b, c, got;
	uint32_t ip_a, ip_b, ip_c;

	memset(a.bytes, 'x', sizeof(a.bytes));
	b = a;
	b.bytes[254] = 'y';  /* differs only in the last byte */
	c = a;
	c.len = DHCP_POOL_ID_INLINE;  /* the longest kept inline */
	assert_int_equal(dhcp_pool_new(BASE, BASE + 9, &p), 0);
	assert_int_equal(dhcp_pool_choose(p, &a, 0, 0, NULL, NULL, &ip_a), 0);
	assert_int_equal(dhcp_pool_bind(p, ip_a, &a, 3600), 0);
	assert_int_equal(dhcp_pool_choose(p, &b, 0, 0, NULL, NULL, &ip_b), 0);
	assert_int_not_equal(ip_a, ip_b);
	assert_int_equal(dhcp_pool_offer(p, ip_b, &b, 3600), 0);
	assert_int_equal(dhcp_pool_choose(p, &c, 0, 0, NULL, NULL, &ip_c), 0);
	assert_int_equal(dhcp_pool_bind(p, ip_c, &c, 3600), 0);
	assert_int_equal(dhcp_pool_lookup(p, &a, 10), ip_a);
	assert_int_equal(dhcp_pool_lookup(p, &b, 10), ip_b);
	assert_int_equal(dhcp_pool_lookup(p, &c, 10), ip_c);
	assert_true(dhcp_pool_knows(p, &b, 10));
	assert_int_equal(dhcp_pool_owner(p, ip_a, 10, &got), 0);
	assert_int_equal(got.len, 255);
	assert_memory_equal(got.bytes, a.bytes, 255);
	assert_false(dhcp_pool_available(p, ip_a, &b, 10));
	/* A slot changing hands between long and short identities. */
	assert_true(dhcp_pool_release(p, ip_a, &a, 20));
	assert_int_equal(dhcp_pool_bind(p, ip_a, &c, 3600), 0);
	assert_int_equal(dhcp_pool_bind(p, ip_c, &b, 3600), 0);
	assert_int_equal(dhcp_pool_owner(p, ip_c, 30, &got), 0);
	assert_int_equal(got.len, 255);
	assert_int_equal(got.bytes[254], 'y');
	dhcp_pool_decline(p, ip_b, 500);
	dhcp_pool_free(p);  /* ASan: no long copy leaks */
}

/* The caller's usable() is obeyed on every path: fresh addresses, the
 * LRU scan, the requested address, and a client's own old one. */
static bool not_base_or_base1(const void *ctx, uint32_t ip)
{
	return ip != BASE && ip != BASE + 1;
}

static void test_usable_filter(void **state)
{
	struct dhcp_pool *p;
	struct dhcp_client_id a = id_of("a"), b = id_of("b");
	uint32_t ip;

	assert_int_equal(dhcp_pool_new(BASE, BASE + 2, &p), 0);
	/* a once held BASE (a lease from before the range was checked) */
	assert_int_equal(dhcp_pool_bind(p, BASE, &a, 100), 0);
	assert_int_equal(dhcp_pool_choose(p, &a, BASE + 1, 10, not_base_or_base1, NULL, &ip), 0);
	assert_int_equal(ip, BASE + 2);
	assert_int_equal(dhcp_pool_bind(p, ip, &b, 1000), 0);
	/* Only unusable ones are left, fresh or expired. */
	assert_int_equal(dhcp_pool_choose(p, &a, 0, 200, not_base_or_base1, NULL, &ip), -ENOSPC);
	assert_int_equal(dhcp_pool_choose(p, &a, 0, 200, NULL, NULL, &ip), 0);
	dhcp_pool_free(p);
}

/* Declined addresses are counted apart from leases: a pool emptied by
 * declines must not read as idle. */
static void test_usage_counts_declined(void **state)
{
	struct dhcp_pool *p;
	struct dhcp_client_id a = id_of("a"), none = { 0 };
	struct dhcp_pool_usage u;

	assert_int_equal(dhcp_pool_new(BASE, BASE + 9, &p), 0);
	assert_int_equal(dhcp_pool_declined(p, 0), 0);
	dhcp_pool_decline(p, BASE, 500);
	dhcp_pool_decline(p, BASE + 1, 600);
	assert_int_equal(dhcp_pool_bind(p, BASE + 2, &a, 1000), 0);
	assert_int_equal(dhcp_pool_bind(p, BASE + 3, &none, INT64_MAX), 0);  /* fixed host */
	dhcp_pool_usage(p, 10, &u);
	assert_int_equal(u.size, 10);
	assert_int_equal(u.in_use, 1);
	assert_int_equal(u.declined, 2);
	assert_int_equal(u.reserved, 1);
	assert_int_equal(u.free, 6);
	assert_int_equal(dhcp_pool_declined(p, 10), 2);
	assert_int_equal(dhcp_pool_declined(p, 550), 1);
	assert_int_equal(dhcp_pool_declined_bound(p), 2);  /* expired one included */
	/* A declined slot reused after its hold no longer counts. */
	assert_int_equal(dhcp_pool_bind(p, BASE, &a, 2000), 0);
	assert_int_equal(dhcp_pool_declined(p, 10), 1);
	dhcp_pool_usage(p, 700, &u);
	assert_int_equal(u.declined, 0);
	dhcp_pool_free(p);
}

/* Instances sharing a database start their never-used addresses at a
 * place of their own and wrap around; the default starts at the first. */
static void test_fresh_start_wraps(void **state)
{
	struct dhcp_pool *p;
	uint32_t ip;
	char name[8];

	assert_int_equal(dhcp_pool_new(BASE, BASE + 9, &p), 0);
	assert_int_equal(dhcp_pool_choose(p, &(struct dhcp_client_id){ .len = 1 }, 0, 100,
					  NULL, NULL, &ip), 0);
	assert_int_equal(ip, BASE);
	dhcp_pool_set_fresh_start(p, 10 * 1000 + 7);  /* 7 modulo the size */
	for (unsigned i = 0; i < 10; i++) {
		struct dhcp_client_id id;
		snprintf(name, sizeof(name), "c%u", i);
		id = id_of(name);
		assert_int_equal(dhcp_pool_choose(p, &id, 0, 100, NULL, NULL, &ip), 0);
		assert_int_equal(ip, BASE + (7 + i) % 10);
		assert_int_equal(dhcp_pool_bind(p, ip, &id, 1000), 0);
	}
	struct dhcp_client_id last = id_of("full");
	assert_int_equal(dhcp_pool_choose(p, &last, 0, 100, NULL, NULL, &ip), -ENOSPC);
	dhcp_pool_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_ranges),
		cmocka_unit_test(test_offer_hold_prevents_double_offer),
		cmocka_unit_test(test_client_keeps_its_address),
		cmocka_unit_test(test_expiry_returns_address),
		cmocka_unit_test(test_declined_is_skipped_until_hold_ends),
		cmocka_unit_test(test_offer_never_shortens_lease),
		cmocka_unit_test(test_long_client_ids),
		cmocka_unit_test(test_usable_filter),
		cmocka_unit_test(test_usage_counts_declined),
		cmocka_unit_test(test_fresh_start_wraps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
