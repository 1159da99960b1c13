/* test_reader.c - the bounds-checked cursor: values, byte order, and the
 * rule that a failed read leaves the reader exactly where it was.
 *
 * Inputs live in heap buffers of exactly their length so that ASan builds
 * catch any read past the end. */
#include "unit.h"

#include <errno.h>
#include <stdlib.h>

#include "reader.h"

static uint8_t *dup_bytes(const void *src, size_t n)
{
	uint8_t *p = malloc(n ? n : 1);

	assert_non_null(p);
	if (n)
		memcpy(p, src, n);
	return p;
}

#define assert_untouched(r, p0, left0)                  \
	do {                                            \
		assert_ptr_equal((r).p, (p0));          \
		assert_int_equal((r).left, (left0));    \
	} while (0)

static void test_init(void **state)
{
	static const uint8_t b[3] = { 1, 2, 3 };
	struct reader r = reader_init(b, sizeof(b));

	assert_ptr_equal(r.p, b);
	assert_int_equal(r.left, 3);
	r = reader_init(NULL, 0);
	assert_null(r.p);
	assert_int_equal(r.left, 0);
}

static void test_u8(void **state)
{
	uint8_t *b = dup_bytes("\xfe\x01", 2);
	struct reader r = reader_init(b, 2);
	uint8_t v = 0;

	assert_rc(rd_u8(&r, &v), 0);
	assert_int_equal(v, 0xfe);
	assert_int_equal(r.left, 1);
	assert_rc(rd_u8(&r, &v), 0);
	assert_int_equal(v, 0x01);
	assert_int_equal(r.left, 0);
	v = 0x55;
	assert_rc(rd_u8(&r, &v), -EBADMSG);
	assert_int_equal(v, 0x55);
	assert_untouched(r, b + 2, 0);
	free(b);
}

static void test_be16(void **state)
{
	uint8_t *b = dup_bytes("\x12\x34\xff", 3);
	struct reader r = reader_init(b, 3);
	uint16_t v = 0;

	assert_rc(rd_be16(&r, &v), 0);
	assert_int_equal(v, 0x1234);
	/* one byte left: too short, nothing consumed or written */
	v = 0x5555;
	assert_rc(rd_be16(&r, &v), -EBADMSG);
	assert_int_equal(v, 0x5555);
	assert_untouched(r, b + 2, 1);
	free(b);

	b = dup_bytes("\xff\xfe", 2);
	r = reader_init(b, 2);
	assert_rc(rd_be16(&r, &v), 0);
	assert_int_equal(v, 0xfffe);
	assert_int_equal(r.left, 0);
	free(b);
}

/* PE/COFF (pe_sig.c) is little-endian. */
static void test_le(void **state)
{
	uint8_t *b = dup_bytes("\xef\xbe\xad\xde\x01\x02\x03", 7);
	struct reader r = reader_init(b, 7);
	uint32_t v = 0;
	uint16_t h = 0;

	(void)state;
	assert_rc(rd_le32(&r, &v), 0);
	assert_int_equal(v, 0xdeadbeefu);
	assert_rc(rd_le16(&r, &h), 0);
	assert_int_equal(h, 0x0201);
	h = 7;
	assert_rc(rd_le16(&r, &h), -EBADMSG);
	assert_int_equal(h, 7);
	v = 7;
	assert_rc(rd_le32(&r, &v), -EBADMSG);
	assert_int_equal(v, 7);
	assert_untouched(r, b + 6, 1);
	free(b);
}

static void test_be32(void **state)
{
	uint8_t *b = dup_bytes("\xde\xad\xbe\xef\x01\x02\x03", 7);
	struct reader r = reader_init(b, 7);
	uint32_t v = 0;

	assert_rc(rd_be32(&r, &v), 0);
	assert_int_equal(v, 0xdeadbeefu);
	v = 7;
	assert_rc(rd_be32(&r, &v), -EBADMSG);
	assert_int_equal(v, 7);
	assert_untouched(r, b + 4, 3);
	free(b);
}

static void test_bytes(void **state)
{
	uint8_t *b = dup_bytes("abcdef", 6);
	struct reader r = reader_init(b, 6);
	char out[8] = { 0 };

	assert_rc(rd_bytes(&r, out, 3), 0);
	assert_memory_equal(out, "abc", 3);
	assert_int_equal(r.left, 3);
	/* NULL skips */
	assert_rc(rd_bytes(&r, NULL, 1), 0);
	assert_int_equal(r.left, 2);
	assert_int_equal(*r.p, 'e');
	/* zero bytes always succeeds and moves nothing */
	assert_rc(rd_bytes(&r, out, 0), 0);
	assert_untouched(r, b + 4, 2);
	/* more than is left fails untouched, out not written */
	memset(out, 'X', sizeof(out));
	assert_rc(rd_bytes(&r, out, 3), -EBADMSG);
	assert_untouched(r, b + 4, 2);
	assert_int_equal(out[0], 'X');
	assert_rc(rd_bytes(&r, out, 2), 0);
	assert_int_equal(r.left, 0);
	assert_rc(rd_bytes(&r, NULL, 0), 0);
	assert_rc(rd_bytes(&r, NULL, 1), -EBADMSG);
	/* a huge n must not wrap around */
	assert_rc(rd_bytes(&r, NULL, SIZE_MAX), -EBADMSG);
	free(b);
}

static void test_cstr(void **state)
{
	static const char in[] = "ab\0\0cd";  /* "ab", "", then "cd" without NUL */
	uint8_t *b = dup_bytes(in, 6);
	struct reader r = reader_init(b, 6);
	const char *s = NULL;
	size_t len = 99;

	assert_rc(rd_cstr(&r, &s, &len), 0);
	assert_ptr_equal(s, (const char *)b);
	assert_int_equal(len, 2);
	assert_string_equal(s, "ab");
	assert_int_equal(r.left, 3);

	assert_rc(rd_cstr(&r, &s, &len), 0);
	assert_ptr_equal(s, (const char *)b + 3);
	assert_int_equal(len, 0);
	assert_int_equal(r.left, 2);

	/* "cd" has no NUL inside the reader: refused, nothing moves */
	s = NULL;
	len = 99;
	assert_rc(rd_cstr(&r, &s, &len), -EBADMSG);
	assert_null(s);
	assert_int_equal(len, 99);
	assert_untouched(r, b + 4, 2);
	free(b);
}

static void test_cstr_empty_reader(void **state)
{
	struct reader r = reader_init(NULL, 0);
	const char *s = NULL;
	size_t len = 0;

	assert_rc(rd_cstr(&r, &s, &len), -EBADMSG);
	assert_null(s);
}

static void test_cstr_nul_past_end(void **state)
{
	/* The NUL exists in memory but lies outside the reader. */
	static const char in[] = "abc";  /* 4 bytes with NUL */
	struct reader r = reader_init(in, 3);
	const char *s = NULL;
	size_t len = 0;

	assert_rc(rd_cstr(&r, &s, &len), -EBADMSG);
	assert_untouched(r, (const uint8_t *)in, 3);
}

static void test_cstr_last_byte(void **state)
{
	uint8_t *b = dup_bytes("xyz", 4);  /* NUL is the final byte */
	struct reader r = reader_init(b, 4);
	const char *s;
	size_t len;

	assert_rc(rd_cstr(&r, &s, &len), 0);
	assert_int_equal(len, 3);
	assert_int_equal(r.left, 0);
	assert_ptr_equal(r.p, b + 4);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init),
		cmocka_unit_test(test_u8),
		cmocka_unit_test(test_be16),
		cmocka_unit_test(test_be32),
		cmocka_unit_test(test_le),
		cmocka_unit_test(test_bytes),
		cmocka_unit_test(test_cstr),
		cmocka_unit_test(test_cstr_empty_reader),
		cmocka_unit_test(test_cstr_nul_past_end),
		cmocka_unit_test(test_cstr_last_byte),
	};

	return cmocka_run_group_tests_name("reader", tests, NULL, NULL);
}
