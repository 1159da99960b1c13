/* test_ndp_wire.c - router solicitation and advertisement codec as byte
 * tables (RFC 4861 4.1, 4.2, 4.6.1 and the validity rules of 6.1).
 *
 * Every message is copied into a heap buffer of exactly its length before
 * decoding, so an ASan build reports any read past the end. */
#include "unit.h"

#include <errno.h>
#include <stdlib.h>

#include "ndp/ndp_wire.h"

#define RAW(s) (const uint8_t *)(s), sizeof(s) - 1

/* Type, code, checksum, reserved. */
#define RS "\x85\0\0\0" "\0\0\0\0"
/* Type, code, checksum, hop limit 64, flags M|O, lifetime 1800, reachable, retrans. */
#define RA "\x86\0\0\0" "\x40\xc0\x07\x08" "\0\0\0\0" "\0\0\0\0"
#define SLLA "\x01\x01" "\x52\x54\x00\x4b\x44\x0a"
#define PREFIX "\x03\x04" "\x40\xc0" "\0\0\x0e\x10" "\0\0\x0e\x10" "\0\0\0\0" \
	"\x20\x01\x0d\xb8\0\0\0\0" "\0\0\0\0\0\0\0\0"

struct decode_case {
	const char *what;
	const uint8_t *bytes;
	size_t len;
	int rc;
	uint8_t type;
	bool lladdr;
	unsigned prefixes;
};

static const struct decode_case cases[] = {
	{ "empty", RAW(""), -EBADMSG, 0, false, 0 },
	{ "type only", RAW("\x85"), -EBADMSG, 0, false, 0 },
	{ "RS header cut", RAW("\x85\0\0\0" "\0\0\0"), -EBADMSG, 0, false, 0 },
	{ "RS bare", RAW(RS), 0, NDP_ROUTER_SOLICIT, false, 0 },
	{ "RS code 1", RAW("\x85\x01\0\0" "\0\0\0\0"), -EBADMSG, 0, false, 0 },
	{ "RS with lladdr", RAW(RS SLLA), 0, NDP_ROUTER_SOLICIT, true, 0 },
	{ "RS option length 0", RAW(RS "\x01\x00" "\x52\x54\x00\x4b\x44\x0a"), -EBADMSG, 0, false, 0 },
	{ "RS option cut", RAW(RS "\x01\x01" "\x52\x54\x00"), -EBADMSG, 0, false, 0 },
	{ "RS option header cut", RAW(RS "\x01"), -EBADMSG, 0, false, 0 },
	{ "RS option longer than message", RAW(RS "\x01\x02" "\x52\x54\x00\x4b\x44\x0a"), -EBADMSG, 0, false, 0 },
	{ "RS long lladdr skipped (not Ethernet)",
	  RAW(RS "\x01\x02" "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e"),
	  0, NDP_ROUTER_SOLICIT, false, 0 },
	{ "RS unknown option skipped then lladdr",
	  RAW(RS "\x63\x01" "\0\0\0\0\0\0" SLLA), 0, NDP_ROUTER_SOLICIT, true, 0 },
	{ "RS trailing byte", RAW(RS SLLA "\x00"), -EBADMSG, 0, false, 0 },
	{ "RA header cut", RAW("\x86\0\0\0" "\x40\xc0\x07\x08" "\0\0\0\0" "\0\0\0"), -EBADMSG, 0, false, 0 },
	{ "RA bare", RAW(RA), 0, NDP_ROUTER_ADVERT, false, 0 },
	{ "RA with lladdr and prefix", RAW(RA SLLA PREFIX), 0, NDP_ROUTER_ADVERT, true, 1 },
	{ "RA code 3", RAW("\x86\x03\0\0" "\x40\xc0\x07\x08" "\0\0\0\0" "\0\0\0\0"), -EBADMSG, 0, false, 0 },
	{ "RA prefix cut", RAW(RA "\x03\x04" "\x40\xc0"), -EBADMSG, 0, false, 0 },
	{ "neighbor solicitation", RAW("\x87\0\0\0" "\0\0\0\0" "\xfe\x80\0\0\0\0\0\0\0\0\0\0\0\0\0\x01"), -EBADMSG, 0, false, 0 },
	{ "echo request", RAW("\x80\0\0\0" "\0\x01\0\x01"), -EBADMSG, 0, false, 0 },
};

static void test_decode_table(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct decode_case *c = &cases[i];
		uint8_t *buf = malloc(c->len ? c->len : 1);
		struct ndp_message m;
		int r;

		memcpy(buf, c->bytes, c->len);
		r = ndp_decode(buf, c->len, &m);
		if (r != c->rc)
			print_error("case \"%s\"\n", c->what);
		assert_rc(r, c->rc);
		if (r == 0) {
			assert_int_equal(m.type, c->type);
			assert_int_equal(m.has_source_lladdr, c->lladdr);
			assert_int_equal(m.n_prefixes, c->prefixes);
		}
		free(buf);
	}
}

static void test_ra_fields(void **state)
{
	static const uint8_t bytes[] = RA SLLA;
	struct ndp_message m;
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x4b, 0x44, 0x0a };

	assert_rc(ndp_decode(bytes, sizeof(bytes) - 1, &m), 0);
	assert_int_equal(m.cur_hop_limit, 64);
	assert_int_equal(m.flags, NDP_RA_FLAG_MANAGED | NDP_RA_FLAG_OTHER);
	assert_int_equal(m.router_lifetime, 1800);
	assert_memory_equal(m.source_lladdr, mac, 6);
}

static void test_quiet_ra(void **state)
{
	static const uint8_t mac[6] = { 0x02, 0x00, 0x5e, 0x10, 0x20, 0x30 };
	static const uint8_t want[NDP_QUIET_RA_LEN] = {
		134, 0, 0, 0,          /* type, code, checksum (kernel) */
		0, 0, 0, 0,            /* hop limit unspecified, M=0 O=0, lifetime 0 */
		0, 0, 0, 0, 0, 0, 0, 0,/* reachable, retrans: unspecified */
		1, 1, 0x02, 0x00, 0x5e, 0x10, 0x20, 0x30,
	};
	uint8_t buf[64];
	struct ndp_message m;

	assert_rc(ndp_encode_quiet_ra(mac, buf, NDP_QUIET_RA_LEN - 1), -ENOBUFS);
	assert_rc(ndp_encode_quiet_ra(mac, buf, sizeof(buf)), NDP_QUIET_RA_LEN);
	assert_memory_equal(buf, want, sizeof(want));
	/* and it reads back as "no router, nothing to configure" */
	assert_rc(ndp_decode(buf, NDP_QUIET_RA_LEN, &m), 0);
	assert_int_equal(m.type, NDP_ROUTER_ADVERT);
	assert_int_equal(m.router_lifetime, 0);
	assert_int_equal(m.flags & (NDP_RA_FLAG_MANAGED | NDP_RA_FLAG_OTHER), 0);
	assert_int_equal(m.n_prefixes, 0);
	assert_true(m.has_source_lladdr);
	assert_memory_equal(m.source_lladdr, mac, 6);
}

static void test_rs(void **state)
{
	static const uint8_t mac[6] = { 0x02, 0x00, 0x5e, 0x10, 0x20, 0x30 };
	static const uint8_t want[NDP_RS_LEN] = {
		133, 0, 0, 0, 0, 0, 0, 0,
		1, 1, 0x02, 0x00, 0x5e, 0x10, 0x20, 0x30,
	};
	uint8_t buf[32];
	struct ndp_message m;

	assert_rc(ndp_encode_rs(mac, buf, NDP_RS_LEN - 1), -ENOBUFS);
	assert_rc(ndp_encode_rs(mac, buf, sizeof(buf)), NDP_RS_LEN);
	assert_memory_equal(buf, want, sizeof(want));
	assert_rc(ndp_decode(buf, NDP_RS_LEN, &m), 0);
	assert_int_equal(m.type, NDP_ROUTER_SOLICIT);
	assert_true(m.has_source_lladdr);
	assert_memory_equal(m.source_lladdr, mac, 6);
}

/* Every prefix of a valid message but the whole is refused or, where the
 * cut falls between options, decodes without reading past it. */
static void test_every_truncation(void **state)
{
	static const uint8_t whole[] = RA SLLA PREFIX;
	size_t n = sizeof(whole) - 1;

	for (size_t len = 0; len < n; len++) {
		uint8_t *buf = malloc(len ? len : 1);
		struct ndp_message m;
		int r;

		memcpy(buf, whole, len);
		r = ndp_decode(buf, len, &m);
		/* 16: header only; 24: header and lladdr */
		assert_rc(r, len == 16 || len == 24 ? 0 : -EBADMSG);
		free(buf);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode_table),
		cmocka_unit_test(test_ra_fields),
		cmocka_unit_test(test_quiet_ra),
		cmocka_unit_test(test_rs),
		cmocka_unit_test(test_every_truncation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
