/* test_next_boot.c - boot/next_boot: the per-MAC next-boot map (set,
 * replace, default forgets, sorted, bounded) and the done check (right,
 * wrong, spent token; the operator's bearer instead of a token). */
#include "unit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "boot/next_boot.h"

#define TOK "0123456789abcdef0123456789abcdef"

static struct next_boot_record rec(uint8_t last, enum next_boot_mode mode, bool once)
{
	struct next_boot_record r = { .mac = { 0x52, 0x54, 0, 0, 0, last }, .mode = (uint8_t)mode };

	if (mode == NEXT_BOOT_PROFILE)
		snprintf(r.profile, sizeof(r.profile), "inst");
	if (once) {
		r.once = 1;
		snprintf(r.token, sizeof(r.token), TOK);
	}
	return r;
}

static void test_set_get_replace_default(void **state)
{
	struct next_boot *nb;
	struct next_boot_record a = rec(1, NEXT_BOOT_PROFILE, true), b = rec(1, NEXT_BOOT_LOCAL, false);
	struct next_boot_record d = rec(1, NEXT_BOOT_DEFAULT, false);

	assert_rc(next_boot_new(16, &nb), 0);
	assert_null(next_boot_get(nb, a.mac));
	assert_rc(next_boot_put(nb, &a), 0);
	assert_true(next_boot_install_pending(next_boot_get(nb, a.mac)));
	assert_string_equal(next_boot_get(nb, a.mac)->token, TOK);
	assert_rc(next_boot_put(nb, &b), 0);  /* replaces, no second entry */
	assert_int_equal(next_boot_count(nb), 1);
	assert_int_equal(next_boot_get(nb, a.mac)->mode, NEXT_BOOT_LOCAL);
	assert_false(next_boot_install_pending(next_boot_get(nb, a.mac)));
	assert_rc(next_boot_put(nb, &d), 0);  /* default: forgotten */
	assert_null(next_boot_get(nb, a.mac));
	assert_int_equal(next_boot_count(nb), 0);
	next_boot_free(nb);
	next_boot_free(NULL);
}

static void test_sorted_and_deleted(void **state)
{
	static const uint8_t order[] = { 9, 3, 7, 1, 5, 8, 2 };
	struct next_boot *nb;

	assert_rc(next_boot_new(100, &nb), 0);
	for (size_t i = 0; i < sizeof(order); i++) {
		struct next_boot_record r = rec(order[i], NEXT_BOOT_LOCAL, false);
		assert_rc(next_boot_put(nb, &r), 0);
	}
	assert_int_equal(next_boot_count(nb), sizeof(order));
	for (size_t i = 1; i < next_boot_count(nb); i++)
		assert_true(memcmp(next_boot_at(nb, i - 1)->mac, next_boot_at(nb, i)->mac, 6) < 0);
	for (size_t i = 0; i < sizeof(order); i++) {
		struct next_boot_record r = rec(order[i], NEXT_BOOT_LOCAL, false);
		assert_non_null(next_boot_get(nb, r.mac));
	}
	struct next_boot_record gone = rec(7, NEXT_BOOT_LOCAL, false), never = rec(4, NEXT_BOOT_LOCAL, false);
	next_boot_del(nb, gone.mac);
	next_boot_del(nb, never.mac);  /* not there: nothing happens */
	assert_null(next_boot_get(nb, gone.mac));
	assert_int_equal(next_boot_count(nb), sizeof(order) - 1);
	next_boot_free(nb);
}

static void test_bound(void **state)
{
	struct next_boot *nb;
	struct next_boot_record r;

	assert_rc(next_boot_new(3, &nb), 0);
	for (uint8_t i = 0; i < 3; i++) {
		r = rec(i, NEXT_BOOT_LOCAL, false);
		assert_rc(next_boot_put(nb, &r), 0);
	}
	r = rec(3, NEXT_BOOT_LOCAL, false);
	assert_rc(next_boot_put(nb, &r), -ENOSPC);
	assert_null(next_boot_get(nb, r.mac));
	r = rec(1, NEXT_BOOT_PROFILE, true);  /* full, but a known MAC may change */
	assert_rc(next_boot_put(nb, &r), 0);
	assert_int_equal(next_boot_count(nb), 3);
	next_boot_free(nb);
}

static void test_invalid_records(void **state)
{
	struct next_boot *nb;
	struct next_boot_record r;

	assert_rc(next_boot_new(8, &nb), 0);
	r = rec(1, NEXT_BOOT_PROFILE, false);
	r.profile[0] = '\0';
	assert_rc(next_boot_put(nb, &r), -EINVAL);  /* profile mode, no profile */
	r = rec(1, NEXT_BOOT_PROFILE, true);
	r.token[0] = '\0';
	assert_rc(next_boot_put(nb, &r), -EINVAL);  /* once without a token */
	r = rec(1, NEXT_BOOT_LOCAL, false);
	r.once = 1;
	assert_rc(next_boot_put(nb, &r), -EINVAL);  /* once outside profile mode */
	r = rec(1, NEXT_BOOT_LOCAL, false);
	r.mode = 9;
	assert_rc(next_boot_put(nb, &r), -EINVAL);
	assert_int_equal(next_boot_count(nb), 0);
	next_boot_free(nb);
}

static void test_done_right_wrong_spent(void **state)
{
	struct next_boot_record r = rec(1, NEXT_BOOT_PROFILE, true), out, every = rec(1, NEXT_BOOT_PROFILE, false);
	const char *reason;
	char near[] = TOK;

	near[31] = 'e';
	assert_rc(next_boot_check_done(&r, "nope", false, &out, &reason), -EACCES);
	assert_string_equal(reason, "wrong-token");
	assert_rc(next_boot_check_done(&r, near, false, &out, &reason), -EACCES);
	assert_string_equal(reason, "wrong-token");
	assert_rc(next_boot_check_done(&r, TOK "0", false, &out, &reason), -EACCES);  /* longer */
	assert_rc(next_boot_check_done(&r, "", false, &out, &reason), -EACCES);
	assert_rc(next_boot_check_done(&r, NULL, false, &out, &reason), -EACCES);
	assert_rc(next_boot_check_done(&r, TOK, false, &out, &reason), 0);
	assert_null(reason);
	assert_int_equal(out.mode, NEXT_BOOT_LOCAL);
	assert_int_equal(out.once, 0);
	assert_string_equal(out.token, "");
	assert_memory_equal(out.mac, r.mac, 6);
	/* spent: the record after done has no install pending */
	assert_rc(next_boot_check_done(&out, TOK, false, &out, &reason), -EACCES);
	assert_string_equal(reason, "no-pending-install");
	assert_rc(next_boot_check_done(NULL, TOK, false, &out, &reason), -EACCES);
	assert_string_equal(reason, "no-pending-install");
	assert_rc(next_boot_check_done(&every, TOK, true, &out, &reason), -EACCES);
	assert_string_equal(reason, "no-pending-install");
	/* the operator needs no token, but still a pending install */
	assert_rc(next_boot_check_done(&r, NULL, true, &out, &reason), 0);
	assert_int_equal(out.mode, NEXT_BOOT_LOCAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_get_replace_default),
		cmocka_unit_test(test_sorted_and_deleted),
		cmocka_unit_test(test_bound),
		cmocka_unit_test(test_invalid_records),
		cmocka_unit_test(test_done_right_wrong_spent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
