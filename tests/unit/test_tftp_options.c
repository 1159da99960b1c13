/* test_tftp_options.c - option negotiation policy (RFC 2347/2348/2349/
 * 7440) as tables: options asked for, limits, and the exact outcome. */
#include "unit.h"

#include <errno.h>

#include "tftp/tftp_options.h"
#include "util.h"

static const struct tftp_limits limits = { .max_blksize = 1468, .max_windowsize = 8 };

#define OPT(n, v) ((struct tftp_option){ (n), (v) })

/* Negotiate and expect success. */
static struct tftp_negotiated ok(const struct tftp_option *o, size_t n)
{
	struct tftp_negotiated out;

	memset(&out, 0x5a, sizeof(out));
	assert_rc(tftp_options_negotiate(o, n, &limits, &out), 0);
	assert_null(out.refused);
	return out;
}

static void assert_defaults(const struct tftp_negotiated *n, bool tsize)
{
	assert_int_equal(n->blksize, TFTP_DEFAULT_BLKSIZE);
	assert_int_equal(n->windowsize, 1);
	assert_int_equal(n->timeout_sec, 0);
	assert_false(n->has_blksize);
	assert_false(n->has_windowsize);
	assert_false(n->has_timeout);
	assert_int_equal(n->has_tsize, tsize);
}

static void test_no_options(void **state)
{
	struct tftp_negotiated n = ok(NULL, 0);

	assert_defaults(&n, false);
	assert_false(tftp_negotiated_any(&n));
}

static void test_all_accepted(void **state)
{
	const struct tftp_option o[] = {
		OPT("blksize", "1024"), OPT("tsize", "0"), OPT("timeout", "3"),
		OPT("windowsize", "4"),
	};
	struct tftp_negotiated n = ok(o, ARRAY_SIZE(o));

	assert_int_equal(n.blksize, 1024);
	assert_int_equal(n.windowsize, 4);
	assert_int_equal(n.timeout_sec, 3);
	assert_true(n.has_blksize);
	assert_true(n.has_windowsize);
	assert_true(n.has_timeout);
	assert_true(n.has_tsize);
	assert_true(tftp_negotiated_any(&n));
}

static void test_names_case_insensitive(void **state)
{
	const struct tftp_option o[] = {
		OPT("BLKSIZE", "1000"), OPT("TSize", "0"), OPT("TimeOut", "7"),
		OPT("WINDOWsize", "2"),
	};
	struct tftp_negotiated n = ok(o, ARRAY_SIZE(o));

	assert_int_equal(n.blksize, 1000);
	assert_true(n.has_blksize);
	assert_true(n.has_tsize);
	assert_int_equal(n.timeout_sec, 7);
	assert_int_equal(n.windowsize, 2);
}

struct num_case {
	const char *value;
	bool accepted;   /* goes in the OACK */
	unsigned result; /* value in use */
};

static void run_num_cases(const char *name, const struct num_case *cases,
			  size_t n_cases)
{
	for (size_t i = 0; i < n_cases; i++) {
		const struct tftp_option o[] = { OPT(name, cases[i].value) };
		struct tftp_negotiated n = ok(o, 1);
		unsigned got;
		bool has;

		if (strcmp(name, "blksize") == 0)
			got = n.blksize, has = n.has_blksize;
		else if (strcmp(name, "windowsize") == 0)
			got = n.windowsize, has = n.has_windowsize;
		else
			got = n.timeout_sec, has = n.has_timeout;
		if (got != cases[i].result || has != cases[i].accepted)
			print_error("%s=%s: got %u (%s)\n", name, cases[i].value, got,
				    has ? "accepted" : "ignored");
		assert_int_equal(got, cases[i].result);
		assert_int_equal(has, cases[i].accepted);
	}
}

static void test_blksize(void **state)
{
	static const struct num_case cases[] = {
		{ "0", false, 512 },
		{ "7", false, 512 },          /* RFC 2348: below 8 is invalid */
		{ "8", true, 8 },
		{ "512", true, 512 },
		{ "1467", true, 1467 },
		{ "1468", true, 1468 },
		{ "1469", true, 1468 },       /* clamped to the limit */
		{ "65464", true, 1468 },
		{ "65465", true, 1468 },
		{ "4294967296", true, 1468 }, /* past 32 bits: still clamped */
		{ "18446744073709551615", true, 1468 },
	};

	run_num_cases("blksize", cases, ARRAY_SIZE(cases));
}

static void test_blksize_limit_max(void **state)
{
	const struct tftp_limits big = { .max_blksize = TFTP_BLKSIZE_MAX, .max_windowsize = 1 };
	const struct tftp_option o[] = { OPT("blksize", "65535") };
	struct tftp_negotiated n;

	assert_rc(tftp_options_negotiate(o, 1, &big, &n), 0);
	assert_int_equal(n.blksize, TFTP_BLKSIZE_MAX);
	assert_true(n.has_blksize);
}

static void test_timeout(void **state)
{
	static const struct num_case cases[] = {
		{ "0", false, 0 },    /* RFC 2349: 1..255 */
		{ "1", true, 1 },
		{ "255", true, 255 },
		{ "256", false, 0 },
		{ "4294967297", false, 0 },  /* must not wrap into range */
	};

	run_num_cases("timeout", cases, ARRAY_SIZE(cases));
}

static void test_windowsize(void **state)
{
	static const struct num_case cases[] = {
		{ "0", false, 1 },   /* RFC 7440: 1..65535 */
		{ "1", true, 1 },
		{ "8", true, 8 },
		{ "9", true, 8 },    /* clamped to the limit */
		{ "65535", true, 8 },
		{ "65536", true, 8 },
		{ "4294967297", true, 8 },
	};

	run_num_cases("windowsize", cases, ARRAY_SIZE(cases));
}

static void test_tsize(void **state)
{
	const struct tftp_option zero[] = { OPT("tsize", "0") };
	const struct tftp_option some[] = { OPT("tsize", "123456789") };
	struct tftp_negotiated n = ok(zero, 1);

	assert_defaults(&n, true);
	assert_true(tftp_negotiated_any(&n));
	n = ok(some, 1);  /* a WRQ-style size is a number too */
	assert_defaults(&n, true);
}

/* The contract: only a value that is not a decimal number is refused. A
 * decimal number too large for 64 bits is still a number: clamped
 * (blksize, windowsize) or ignored (timeout), like any other large one. */
static void test_huge_decimal_is_a_number(void **state)
{
	static const struct num_case blk[] = { { "99999999999999999999999", true, 1468 } };
	static const struct num_case win[] = { { "99999999999999999999999", true, 8 } };
	static const struct num_case tmo[] = { { "99999999999999999999999", false, 0 } };

	run_num_cases("blksize", blk, 1);
	run_num_cases("windowsize", win, 1);
	run_num_cases("timeout", tmo, 1);
}

static void test_non_numeric_refused(void **state)
{
	static const char *const names[] = { "blksize", "timeout", "tsize", "windowsize",
					     "BlkSize" };
	static const char *const values[] = { "", "abc", "-1", "+512", " 512", "512 ",
					      "0x200", "5.12", "512k" };

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		for (size_t k = 0; k < ARRAY_SIZE(values); k++) {
			/* after an unknown option, so the bad one is not first */
			const struct tftp_option o[] = {
				OPT("multicast", ""), OPT(names[i], values[k]),
			};
			struct tftp_negotiated n = { .refused = NULL };
			int r = tftp_options_negotiate(o, 2, &limits, &n);

			if (r != -EINVAL)
				print_error("%s=\"%s\" not refused\n", names[i], values[k]);
			assert_rc(r, -EINVAL);
			/* refused names the very option string from the packet */
			assert_ptr_equal(n.refused, names[i]);
		}
	}
}

static void test_first_refused_is_named(void **state)
{
	const struct tftp_option o[] = {
		OPT("blksize", "1024"), OPT("timeout", "soon"), OPT("windowsize", "many"),
	};
	struct tftp_negotiated n;

	assert_rc(tftp_options_negotiate(o, ARRAY_SIZE(o), &limits, &n), -EINVAL);
	assert_ptr_equal(n.refused, o[1].name);
	assert_string_equal(n.refused, "timeout");
}

static void test_duplicates_use_first(void **state)
{
	const struct tftp_option blk[] = { OPT("blksize", "1024"), OPT("BLKSIZE", "800") };
	const struct tftp_option win[] = { OPT("windowsize", "2"), OPT("windowsize", "4") };
	const struct tftp_option tmo[] = { OPT("timeout", "5"), OPT("Timeout", "9") };
	/* a later duplicate is not even parsed: garbage there is harmless */
	const struct tftp_option bad2[] = { OPT("blksize", "1024"), OPT("blksize", "junk") };
	/* the first occurrence decides even when it is ignored */
	const struct tftp_option ign[] = { OPT("blksize", "4"), OPT("blksize", "1024") };
	struct tftp_negotiated n;

	n = ok(blk, 2);
	assert_int_equal(n.blksize, 1024);
	n = ok(win, 2);
	assert_int_equal(n.windowsize, 2);
	n = ok(tmo, 2);
	assert_int_equal(n.timeout_sec, 5);
	n = ok(bad2, 2);
	assert_int_equal(n.blksize, 1024);
	n = ok(ign, 2);
	assert_int_equal(n.blksize, 512);
	assert_false(n.has_blksize);
}

static void test_unknown_ignored(void **state)
{
	const struct tftp_option o[] = {
		OPT("multicast", ""), OPT("rollover", "0"), OPT("utimeout", "junk"),
		OPT("blksize2", "x"), OPT("blksiz", "1024"), OPT("x-vendor", "\xff"),
	};
	struct tftp_negotiated n = ok(o, ARRAY_SIZE(o));

	assert_defaults(&n, false);
	assert_false(tftp_negotiated_any(&n));
}

static void test_unknown_mixed_with_known(void **state)
{
	const struct tftp_option o[] = {
		OPT("multicast", ""), OPT("blksize", "1432"), OPT("foo", "bar"),
		OPT("windowsize", "0"),
	};
	struct tftp_negotiated n = ok(o, ARRAY_SIZE(o));

	assert_int_equal(n.blksize, 1432);
	assert_true(n.has_blksize);
	assert_int_equal(n.windowsize, 1);
	assert_false(n.has_windowsize);
}

static void test_windowsize_limit_one(void **state)
{
	const struct tftp_limits one = { .max_blksize = 512, .max_windowsize = 1 };
	const struct tftp_option o[] = { OPT("windowsize", "16"), OPT("blksize", "1024") };
	struct tftp_negotiated n;

	assert_rc(tftp_options_negotiate(o, 2, &one, &n), 0);
	assert_int_equal(n.windowsize, 1);
	assert_true(n.has_windowsize);  /* acknowledged with the clamped value */
	assert_int_equal(n.blksize, 512);
	assert_true(n.has_blksize);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_options),
		cmocka_unit_test(test_all_accepted),
		cmocka_unit_test(test_names_case_insensitive),
		cmocka_unit_test(test_blksize),
		cmocka_unit_test(test_blksize_limit_max),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_windowsize),
		cmocka_unit_test(test_tsize),
		cmocka_unit_test(test_huge_decimal_is_a_number),
		cmocka_unit_test(test_non_numeric_refused),
		cmocka_unit_test(test_first_refused_is_named),
		cmocka_unit_test(test_duplicates_use_first),
		cmocka_unit_test(test_unknown_ignored),
		cmocka_unit_test(test_unknown_mixed_with_known),
		cmocka_unit_test(test_windowsize_limit_one),
	};

	return cmocka_run_group_tests_name("tftp_options", tests, NULL, NULL);
}
