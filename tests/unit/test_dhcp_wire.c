/* Unit tests for dhcp_wire: byte tables of good and hostile messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "dhcp/dhcp_wire.h"

/* A DISCOVER skeleton: fixed header, cookie, then caller's options. */
static size_t build(uint8_t *buf, size_t size, const uint8_t *opts, size_t optlen)
{
	memset(buf, 0, size);
	buf[0] = DHCP_OP_REQUEST;
	buf[1] = 1;
	buf[2] = 6;
	buf[4] = 0x12, buf[5] = 0x34, buf[6] = 0x56, buf[7] = 0x78;
	memcpy(buf + 28, "\x52\x54\x00\x12\x34\x56", 6);
	buf[236] = 0x63, buf[237] = 0x82, buf[238] = 0x53, buf[239] = 0x63;
	memcpy(buf + 240, opts, optlen);
	return 240 + optlen;
}

static void test_discover_decodes(void **state)
{
	static const uint8_t opts[] = { 53, 1, DHCP_DISCOVER, 55, 3, 1, 3, 6,
					60, 9, 'P', 'X', 'E', 'C', 'l', 'i', 'e', 'n', 't',
					93, 2, 0, 7, 255 };
	uint8_t buf[600];
	struct dhcp_message m;
	size_t len, n = build(buf, sizeof(buf), opts, sizeof(opts));
	const uint8_t *p;

	assert_int_equal(dhcp_decode(buf, n, &m), 0);
	assert_int_equal(m.op, DHCP_OP_REQUEST);
	assert_int_equal(m.hlen, 6);
	assert_int_equal(m.xid, 0x12345678u);
	assert_memory_equal(m.chaddr, "\x52\x54\x00\x12\x34\x56", 6);
	assert_int_equal(dhcp_message_type(&m), DHCP_DISCOVER);
	p = dhcp_option(&m, DHCP_OPT_VENDOR_CLASS, 1, &len);
	assert_non_null(p);
	assert_int_equal(len, 9);
	assert_memory_equal(p, "PXEClient", 9);
	p = dhcp_option(&m, DHCP_OPT_CLIENT_ARCH, 2, &len);
	assert_non_null(p);
	assert_int_equal(p[1], 7);
	/* A present option shorter than the caller needs reads as absent. */
	assert_null(dhcp_option(&m, DHCP_OPT_CLIENT_ARCH, 3, NULL));
	assert_null(dhcp_option(&m, DHCP_OPT_HOSTNAME, 0, NULL));
}

static void test_hostile_messages_rejected(void **state)
{
	uint8_t buf[600];
	struct dhcp_message m;
	static const uint8_t ok[] = { 53, 1, 1, 255 };
	static const uint8_t no_end[] = { 53, 1, 1 };
	static const uint8_t overrun[] = { 53, 1, 1, 12, 200, 'a', 'b', 255 };
	static const uint8_t len_missing[] = { 53 };
	size_t n;

	/* Truncated anywhere in the fixed part. */
	n = build(buf, sizeof(buf), ok, sizeof(ok));
	for (size_t cut = 0; cut < 240; cut += 7)
		assert_int_equal(dhcp_decode(buf, cut, &m), -EBADMSG);
	/* Missing magic cookie. */
	buf[236] = 0;
	assert_int_equal(dhcp_decode(buf, n, &m), -EBADMSG);
	/* hlen over 16. */
	n = build(buf, sizeof(buf), ok, sizeof(ok));
	buf[2] = 17;
	assert_int_equal(dhcp_decode(buf, n, &m), -EBADMSG);
	/* No END option. */
	n = build(buf, sizeof(buf), no_end, sizeof(no_end));
	assert_int_equal(dhcp_decode(buf, n, &m), -EBADMSG);
	/* An option that overruns the packet. */
	n = build(buf, sizeof(buf), overrun, sizeof(overrun));
	assert_int_equal(dhcp_decode(buf, n, &m), -EBADMSG);
	/* An option code with no length byte. */
	n = build(buf, sizeof(buf), len_missing, sizeof(len_missing));
	assert_int_equal(dhcp_decode(buf, n, &m), -EBADMSG);
}

static void test_thousands_of_zero_length_options(void **state)
{
	static uint8_t buf[9000];
	uint8_t opts[8000];
	struct dhcp_message m;
	size_t n;

	for (size_t i = 0; i + 1 < sizeof(opts) - 4; i += 2) {
		opts[i] = 200;  /* unknown option, zero length */
		opts[i + 1] = 0;
	}
	memcpy(opts + sizeof(opts) - 4, "\x35\x01\x01\xff", 4);
	n = build(buf, sizeof(buf), opts, sizeof(opts));
	assert_int_equal(dhcp_decode(buf, n, &m), 0);
	assert_true(m.opt[200].present);
	assert_int_equal(m.opt[200].len, 0);
	assert_int_equal(dhcp_message_type(&m), DHCP_DISCOVER);
}

static void test_long_option_concatenated(void **state)
{
	/* RFC 3396: two instances of option 77 join in order. */
	static const uint8_t opts[] = { 77, 3, 'a', 'b', 'c', 53, 1, 3, 77, 2, 'd', 'e', 255 };
	uint8_t buf[600];
	struct dhcp_message m;
	size_t len, n = build(buf, sizeof(buf), opts, sizeof(opts));
	const uint8_t *p;

	assert_int_equal(dhcp_decode(buf, n, &m), 0);
	p = dhcp_option(&m, DHCP_OPT_USER_CLASS, 0, &len);
	assert_non_null(p);
	assert_int_equal(len, 5);
	assert_memory_equal(p, "abcde", 5);
}

static void test_overload_file_and_sname(void **state)
{
	static const uint8_t opts[] = { 52, 1, 3, 53, 1, 1, 12, 2, 'h', '1', 255 };
	uint8_t buf[600];
	struct dhcp_message m;
	size_t len, n = build(buf, sizeof(buf), opts, sizeof(opts));
	const uint8_t *p;

	/* file (offset 108) carries more of option 12 and option 67;
	 * sname (offset 44) carries the rest of option 12 and an option 52
	 * that must not be followed again. */
	memcpy(buf + 108, "\x0c\x01x\x43\x04" "boot\xff", 10);
	memcpy(buf + 44, "\x0c\x01y\x34\x01\x03\xff", 7);
	assert_int_equal(dhcp_decode(buf, n, &m), 0);
	assert_int_equal(m.overload, 3);
	p = dhcp_option(&m, DHCP_OPT_HOSTNAME, 0, &len);
	assert_non_null(p);
	assert_int_equal(len, 4);
	assert_memory_equal(p, "h1xy", 4);
	p = dhcp_option(&m, DHCP_OPT_BOOTFILE, 0, &len);
	assert_non_null(p);
	assert_memory_equal(p, "boot", 4);
	/* An overloaded field whose option overruns it is malformed. */
	memcpy(buf + 108 + 120, "\x0c\x20", 2);
	memset(buf + 108, 0, 120);
	assert_int_equal(dhcp_decode(buf, n, &m), -EBADMSG);
}

static void test_writer_round_trip_and_split(void **state)
{
	struct dhcp_message req = { .op = DHCP_OP_REPLY, .htype = 1, .hlen = 6,
				    .xid = 0xdeadbeef, .flags = DHCP_FLAG_BROADCAST };
	struct dhcp_writer w;
	struct dhcp_message back;
	uint8_t buf[1500];
	uint8_t big[600];
	size_t len, n;
	const uint8_t *p;

	req.yiaddr = htonl(0xac180005);
	memset(big, 'z', sizeof(big));
	assert_int_equal(dhcp_writer_init(&w, buf, sizeof(buf), &req), 0);
	assert_int_equal(dhcp_writer_u8(&w, DHCP_OPT_MESSAGE_TYPE, DHCP_OFFER), 0);
	assert_int_equal(dhcp_writer_be32(&w, DHCP_OPT_LEASE_TIME, 3600), 0);
	assert_int_equal(dhcp_writer_option(&w, 224, big, sizeof(big)), 0);
	n = dhcp_writer_finish(&w);
	assert_true(n >= 300);
	assert_int_equal(dhcp_decode(buf, n, &back), 0);
	assert_int_equal(back.xid, 0xdeadbeef);
	assert_int_equal(back.flags, DHCP_FLAG_BROADCAST);
	assert_int_equal(back.yiaddr, htonl(0xac180005));
	assert_int_equal(dhcp_message_type(&back), DHCP_OFFER);
	p = dhcp_option(&back, DHCP_OPT_LEASE_TIME, 4, &len);
	assert_non_null(p);
	assert_memory_equal(p, "\x00\x00\x0e\x10", 4);
	p = dhcp_option(&back, 224, 0, &len);
	assert_non_null(p);
	assert_int_equal(len, sizeof(big));
	assert_memory_equal(p, big, sizeof(big));
}

static void test_writer_respects_size(void **state)
{
	struct dhcp_message req = { .op = DHCP_OP_REPLY };
	struct dhcp_writer w;
	uint8_t buf[576];
	uint8_t big[400];

	memset(big, 1, sizeof(big));
	assert_int_equal(dhcp_writer_init(&w, buf, 299, &req), -ENOBUFS);
	assert_int_equal(dhcp_writer_init(&w, buf, 576 - 28, &req), 0);
	assert_int_equal(dhcp_writer_u8(&w, DHCP_OPT_MESSAGE_TYPE, DHCP_ACK), 0);
	/* 240 + 3 + 402 > 548: refused whole, END still fits. */
	assert_int_equal(dhcp_writer_option(&w, 224, big, sizeof(big)), -ENOBUFS);
	assert_true(w.overflow);
	assert_int_equal(w.len, 243);
	assert_int_equal(dhcp_writer_finish(&w), 300);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_discover_decodes),
		cmocka_unit_test(test_hostile_messages_rejected),
		cmocka_unit_test(test_thousands_of_zero_length_options),
		cmocka_unit_test(test_long_option_concatenated),
		cmocka_unit_test(test_overload_file_and_sname),
		cmocka_unit_test(test_writer_round_trip_and_split),
		cmocka_unit_test(test_writer_respects_size),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
