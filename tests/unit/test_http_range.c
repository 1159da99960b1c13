/* test_http_range.c - http_range.h: the Range request header, one byte
 * range (RFC 9110 section 14). */
#include "unit.h"

#include <errno.h>
#include <stdio.h>

#include "http/http_range.h"
#include "util.h"

#define SENTINEL 0xdeadbeefcafef00dull

struct range_case {
	const char *header;
	uint64_t size;
	int rc;
	uint64_t start, len;  /* when rc == 0 */
};

static void check_cases(const struct range_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct range_case *c = &cases[i];
		uint64_t start = SENTINEL, len = SENTINEL;
		int r = http_range_parse(c->header, c->size, &start, &len);

		if (r != c->rc || (r == 0 && (start != c->start || len != c->len)))
			print_error("case %zu: \"%s\" size=%llu -> rc=%d start=%llu len=%llu\n", i,
				    c->header, (unsigned long long)c->size, r,
				    (unsigned long long)start, (unsigned long long)len);
		assert_rc(r, c->rc);
		if (c->rc != 0)
			continue;
		assert_int_equal(start, c->start);
		assert_int_equal(len, c->len);
		/* whatever was asked, the answer lies inside the file */
		assert_true(len >= 1);
		assert_true(start < c->size);
		assert_true(len <= c->size - start);
	}
}

/* --- the three forms --- */

static void test_first_bytes(void **state)
{
	static const struct range_case cases[] = {
		{ "bytes=0-499", 1000, 0, 0, 500 },
		{ "bytes=0-0", 1000, 0, 0, 1 },
		{ "bytes=0-999", 1000, 0, 0, 1000 },
		{ "bytes=100-199", 1000, 0, 100, 100 },
		{ "bytes=500-999", 1000, 0, 500, 500 },
		{ "bytes=007-009", 1000, 0, 7, 3 },  /* leading zeros are digits */
	};
	check_cases(cases, ARRAY_SIZE(cases));
}

static void test_open_ended(void **state)
{
	static const struct range_case cases[] = {
		{ "bytes=500-", 1000, 0, 500, 500 },
		{ "bytes=0-", 1000, 0, 0, 1000 },
		{ "bytes=999-", 1000, 0, 999, 1 },
		{ "bytes=0-", 1, 0, 0, 1 },
	};
	check_cases(cases, ARRAY_SIZE(cases));
}

static void test_suffix(void **state)
{
	static const struct range_case cases[] = {
		{ "bytes=-500", 1000, 0, 500, 500 },
		{ "bytes=-1", 1000, 0, 999, 1 },
		{ "bytes=-999", 1000, 0, 1, 999 },
		{ "bytes=-1000", 1000, 0, 0, 1000 },
		{ "bytes=-1", 1, 0, 0, 1 },
	};
	check_cases(cases, ARRAY_SIZE(cases));
}

/* --- cut to the file (RFC 9110 14.1.2) --- */

static void test_end_past_size_is_cut(void **state)
{
	static const struct range_case cases[] = {
		{ "bytes=0-1000", 1000, 0, 0, 1000 },
		{ "bytes=0-9999", 1000, 0, 0, 1000 },
		{ "bytes=500-100000", 1000, 0, 500, 500 },
		{ "bytes=999-1000", 1000, 0, 999, 1 },
		{ "bytes=0-5", 1, 0, 0, 1 },
	};
	check_cases(cases, ARRAY_SIZE(cases));
}

static void test_suffix_larger_than_size(void **state)
{
	static const struct range_case cases[] = {
		{ "bytes=-1001", 1000, 0, 0, 1000 },
		{ "bytes=-100000", 1000, 0, 0, 1000 },
		{ "bytes=-2", 1, 0, 0, 1 },
	};
	check_cases(cases, ARRAY_SIZE(cases));
}

/* --- unsatisfiable: 416 --- */

static void test_start_at_or_past_size(void **state)
{
	static const struct range_case cases[] = {
		{ "bytes=1000-", 1000, -ERANGE, 0, 0 },
		{ "bytes=1000-1000", 1000, -ERANGE, 0, 0 },
		{ "bytes=1000-2000", 1000, -ERANGE, 0, 0 },
		{ "bytes=1001-", 1000, -ERANGE, 0, 0 },
		{ "bytes=5000-6000", 1000, -ERANGE, 0, 0 },
		{ "bytes=1-", 1, -ERANGE, 0, 0 },
		{ "bytes=1-1", 1, -ERANGE, 0, 0 },
	};
	check_cases(cases, ARRAY_SIZE(cases));
}

static void test_suffix_zero(void **state)
{
	static const struct range_case cases[] = {
		{ "bytes=-0", 1000, -ERANGE, 0, 0 },
		{ "bytes=-000", 1000, -ERANGE, 0, 0 },
		{ "bytes=-0", 1, -ERANGE, 0, 0 },
	};
	check_cases(cases, ARRAY_SIZE(cases));
}

static void test_empty_file(void **state)
{
	/* no byte of an empty file can be selected */
	static const struct range_case cases[] = {
		{ "bytes=0-", 0, -ERANGE, 0, 0 },
		{ "bytes=0-0", 0, -ERANGE, 0, 0 },
		{ "bytes=0-499", 0, -ERANGE, 0, 0 },
		{ "bytes=-1", 0, -ERANGE, 0, 0 },
		{ "bytes=-500", 0, -ERANGE, 0, 0 },
		{ "bytes=-0", 0, -ERANGE, 0, 0 },
		{ "bytes=1-", 0, -ERANGE, 0, 0 },
		/* syntax is still checked first */
		{ "bytes=", 0, -EINVAL, 0, 0 },
		{ "bytes=5-2", 0, -EINVAL, 0, 0 },
		{ "items=0-1", 0, -EINVAL, 0, 0 },
	};
	check_cases(cases, ARRAY_SIZE(cases));
}

/* --- several ranges: refused (416) --- */

static void test_several_ranges(void **state)
{
	static const struct range_case cases[] = {
		{ "bytes=0-1,2-3", 1000, -EOPNOTSUPP, 0, 0 },
		{ "bytes=0-1, 2-3", 1000, -EOPNOTSUPP, 0, 0 },
		{ "bytes=0-499,500-999", 1000, -EOPNOTSUPP, 0, 0 },
		{ "bytes=0-0,-1", 1000, -EOPNOTSUPP, 0, 0 },
		{ "bytes=-1,-1", 1000, -EOPNOTSUPP, 0, 0 },
		{ "bytes=0-,0-,0-,0-,0-,0-", 1000, -EOPNOTSUPP, 0, 0 },  /* amplification */
		{ "bytes=0-1,2-3", 0, -EOPNOTSUPP, 0, 0 },
	};
	check_cases(cases, ARRAY_SIZE(cases));
}

/* --- not a byte range we understand: serve the whole file (200) --- */

static void test_malformed(void **state)
{
	static const struct range_case cases[] = {
		{ "", 1000, -EINVAL, 0, 0 },
		{ "bytes", 1000, -EINVAL, 0, 0 },
		{ "bytes=", 1000, -EINVAL, 0, 0 },
		{ "bytes=-", 1000, -EINVAL, 0, 0 },
		{ "bytes=--1", 1000, -EINVAL, 0, 0 },
		{ "bytes=--", 1000, -EINVAL, 0, 0 },
		{ "bytes=a-b", 1000, -EINVAL, 0, 0 },
		{ "bytes=0-b", 1000, -EINVAL, 0, 0 },
		{ "bytes=a-9", 1000, -EINVAL, 0, 0 },
		{ "bytes=-a", 1000, -EINVAL, 0, 0 },
		{ "bytes=0", 1000, -EINVAL, 0, 0 },
		{ "bytes=12", 1000, -EINVAL, 0, 0 },
		{ "bytes=0-1-2", 1000, -EINVAL, 0, 0 },
		{ "bytes=0-1x", 1000, -EINVAL, 0, 0 },
		{ "bytes=-5x", 1000, -EINVAL, 0, 0 },
		{ "bytes=+0-1", 1000, -EINVAL, 0, 0 },
		{ "bytes=0-+1", 1000, -EINVAL, 0, 0 },
		{ "bytes=-+1", 1000, -EINVAL, 0, 0 },
		{ "bytes=0x10-0x20", 1000, -EINVAL, 0, 0 },
		{ "bytes=1.5-2", 1000, -EINVAL, 0, 0 },
		{ "bytes=1e2-", 1000, -EINVAL, 0, 0 },
		{ "bytes=\xd9\xa3-", 1000, -EINVAL, 0, 0 },  /* U+0663 ARABIC-INDIC THREE */
		{ "bytes:0-1", 1000, -EINVAL, 0, 0 },
		{ "bytes0-1", 1000, -EINVAL, 0, 0 },
		{ "items=0-1", 1000, -EINVAL, 0, 0 },
		{ "byte=0-1", 1000, -EINVAL, 0, 0 },
		{ "bytesx=0-1", 1000, -EINVAL, 0, 0 },
		{ "=0-1", 1000, -EINVAL, 0, 0 },
		{ "0-1", 1000, -EINVAL, 0, 0 },
		/* last before first is invalid, not unsatisfiable (RFC 9110 14.1.1) */
		{ "bytes=5-2", 1000, -EINVAL, 0, 0 },
		{ "bytes=1-0", 1000, -EINVAL, 0, 0 },
		{ "bytes=5000-2", 1000, -EINVAL, 0, 0 },
	};
	check_cases(cases, ARRAY_SIZE(cases));
}

static void test_spaces(void **state)
{
	static const struct range_case cases[] = {
		{ " bytes=0-1", 1000, -EINVAL, 0, 0 },
		{ "bytes =0-1", 1000, -EINVAL, 0, 0 },
		{ "bytes=0 -1", 1000, -EINVAL, 0, 0 },
		{ "bytes=0- 1", 1000, -EINVAL, 0, 0 },
		{ "bytes=0 - 1", 1000, -EINVAL, 0, 0 },
		{ "bytes=0-1 ", 1000, -EINVAL, 0, 0 },
		{ "bytes=- 1", 1000, -EINVAL, 0, 0 },
		{ "bytes=-1 ", 1000, -EINVAL, 0, 0 },
		{ "bytes=0-1\t", 1000, -EINVAL, 0, 0 },
		{ "bytes=\t0-1", 1000, -EINVAL, 0, 0 },
		{ "bytes=   ", 1000, -EINVAL, 0, 0 },
		/* spaces between '=' and the range are tolerated */
		{ "bytes= 0-1", 1000, 0, 0, 2 },
		{ "bytes=  -1", 1000, 0, 999, 1 },
	};
	check_cases(cases, ARRAY_SIZE(cases));
}

static void test_long_numbers(void **state)
{
	static const struct range_case cases[] = {
		/* 30 digits: more than 64 bits can hold */
		{ "bytes=123456789012345678901234567890-", 1000, -EINVAL, 0, 0 },
		{ "bytes=0-123456789012345678901234567890", 1000, -EINVAL, 0, 0 },
		{ "bytes=-123456789012345678901234567890", 1000, -EINVAL, 0, 0 },
		{ "bytes=000000000000000000000000000001-", 1000, -EINVAL, 0, 0 },
		/* 2^64: one past UINT64_MAX */
		{ "bytes=18446744073709551616-", 1000, -EINVAL, 0, 0 },
		{ "bytes=0-18446744073709551616", 1000, -EINVAL, 0, 0 },
		{ "bytes=-18446744073709551616", 1000, -EINVAL, 0, 0 },
		{ "bytes=99999999999999999999-", 1000, -EINVAL, 0, 0 },
		/* 21 digits with a leading zero still are too many */
		{ "bytes=018446744073709551615-", 1000, -EINVAL, 0, 0 },
	};
	check_cases(cases, ARRAY_SIZE(cases));
}

/* --- boundaries --- */

static void test_last_byte(void **state)
{
	static const struct range_case cases[] = {
		{ "bytes=999-999", 1000, 0, 999, 1 },
		{ "bytes=999-", 1000, 0, 999, 1 },
		{ "bytes=-1", 1000, 0, 999, 1 },
		{ "bytes=998-999", 1000, 0, 998, 2 },
		{ "bytes=0-0", 1, 0, 0, 1 },
		{ "bytes=1000-1000", 1000, -ERANGE, 0, 0 },
		{ "bytes=511-511", 512, 0, 511, 1 },
		{ "bytes=512-", 512, -ERANGE, 0, 0 },
		{ "bytes=512-", 513, 0, 512, 1 },
	};
	check_cases(cases, ARRAY_SIZE(cases));
}

static void test_uint64_limits(void **state)
{
	static const struct range_case cases[] = {
		/* UINT64_MAX itself is a valid number */
		{ "bytes=0-18446744073709551615", 1000, 0, 0, 1000 },
		{ "bytes=-18446744073709551615", 1000, 0, 0, 1000 },
		{ "bytes=18446744073709551615-", 1000, -ERANGE, 0, 0 },
		{ "bytes=18446744073709551615-18446744073709551615", 1000, -ERANGE, 0, 0 },
		{ "bytes=18446744073709551614-18446744073709551615", 1000, -ERANGE, 0, 0 },
		/* a file of UINT64_MAX bytes: no length or end overflows */
		{ "bytes=0-", UINT64_MAX, 0, 0, UINT64_MAX },
		{ "bytes=0-18446744073709551615", UINT64_MAX, 0, 0, UINT64_MAX },
		{ "bytes=1-", UINT64_MAX, 0, 1, UINT64_MAX - 1 },
		{ "bytes=18446744073709551614-", UINT64_MAX, 0, UINT64_MAX - 1, 1 },
		{ "bytes=18446744073709551614-18446744073709551615", UINT64_MAX, 0,
		  UINT64_MAX - 1, 1 },
		{ "bytes=18446744073709551615-", UINT64_MAX, -ERANGE, 0, 0 },
		{ "bytes=-18446744073709551615", UINT64_MAX, 0, 0, UINT64_MAX },
		{ "bytes=-1", UINT64_MAX, 0, UINT64_MAX - 1, 1 },
		{ "bytes=-18446744073709551614", UINT64_MAX, 0, 1, UINT64_MAX - 1 },
		{ "bytes=9223372036854775808-", UINT64_MAX, 0, 9223372036854775808ull,
		  9223372036854775807ull },
		/* files past 4 GiB */
		{ "bytes=4294967296-", 4294967297ull, 0, 4294967296ull, 1 },
		{ "bytes=-4294967296", 4294967297ull, 0, 1, 4294967296ull },
	};
	check_cases(cases, ARRAY_SIZE(cases));
}

/* Every start/end pair around a small file: a successful parse is always
 * inside the file and agrees with the arithmetic of RFC 9110 14.1.2. */
static void test_exhaustive_small(void **state)
{
	char h[64];

	for (uint64_t size = 0; size <= 6; size++) {
		for (uint64_t a = 0; a <= 8; a++) {
			uint64_t start = SENTINEL, len = SENTINEL;
			int r;

			snprintf(h, sizeof(h), "bytes=%llu-", (unsigned long long)a);
			r = http_range_parse(h, size, &start, &len);
			if (a >= size) {
				assert_rc(r, -ERANGE);
			} else {
				assert_rc(r, 0);
				assert_int_equal(start, a);
				assert_int_equal(len, size - a);
			}

			snprintf(h, sizeof(h), "bytes=-%llu", (unsigned long long)a);
			r = http_range_parse(h, size, &start, &len);
			if (a == 0 || size == 0) {
				assert_rc(r, -ERANGE);
			} else {
				assert_rc(r, 0);
				assert_int_equal(len, MIN(a, size));
				assert_int_equal(start, size - MIN(a, size));
			}

			for (uint64_t b = 0; b <= 8; b++) {
				snprintf(h, sizeof(h), "bytes=%llu-%llu", (unsigned long long)a,
					 (unsigned long long)b);
				r = http_range_parse(h, size, &start, &len);
				if (b < a) {
					assert_rc(r, -EINVAL);
				} else if (a >= size) {
					assert_rc(r, -ERANGE);
				} else {
					assert_rc(r, 0);
					assert_int_equal(start, a);
					assert_int_equal(len, MIN(b, size - 1) - a + 1);
				}
			}
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_bytes),
		cmocka_unit_test(test_open_ended),
		cmocka_unit_test(test_suffix),
		cmocka_unit_test(test_end_past_size_is_cut),
		cmocka_unit_test(test_suffix_larger_than_size),
		cmocka_unit_test(test_start_at_or_past_size),
		cmocka_unit_test(test_suffix_zero),
		cmocka_unit_test(test_empty_file),
		cmocka_unit_test(test_several_ranges),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_spaces),
		cmocka_unit_test(test_long_numbers),
		cmocka_unit_test(test_last_byte),
		cmocka_unit_test(test_uint64_limits),
		cmocka_unit_test(test_exhaustive_small),
	};

	return cmocka_run_group_tests_name("http_range", tests, NULL, NULL);
}
