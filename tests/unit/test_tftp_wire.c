/* test_tftp_wire.c - the TFTP codec as byte tables.
 *
 * Every datagram is copied into a heap buffer of exactly its length before
 * decoding, so an ASan build reports any read past the end. */
#include "unit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "tftp/tftp_wire.h"
#include "util.h"

/* A string literal as raw bytes, without the literal's own final NUL. */
#define RAW(s) (const uint8_t *)(s), sizeof(s) - 1

struct decode_case {
	const char *what;
	const uint8_t *bytes;
	size_t len;
	int rc;
	uint16_t opcode;  /* when rc == 0 */
};

static const struct decode_case decode_cases[] = {
	/* truncated headers */
	{ "empty", RAW(""), -EBADMSG, 0 },
	{ "one byte", RAW("\0"), -EBADMSG, 0 },
	/* unknown opcodes */
	{ "opcode 0", RAW("\0\0"), -EPROTO, 0 },
	{ "opcode 7", RAW("\0\7"), -EPROTO, 0 },
	{ "opcode 0x0100 (byte order)", RAW("\1\0"), -EPROTO, 0 },
	{ "opcode 0xffff", RAW("\xff\xff" "file\0octet\0"), -EPROTO, 0 },
	/* requests */
	{ "RRQ no filename", RAW("\0\1"), -EBADMSG, 0 },
	{ "RRQ filename without NUL", RAW("\0\1" "file"), -EBADMSG, 0 },
	{ "RRQ no mode", RAW("\0\1" "file\0"), -EBADMSG, 0 },
	{ "RRQ mode without NUL", RAW("\0\1" "file\0octet"), -EBADMSG, 0 },
	{ "RRQ minimal", RAW("\0\1" "file\0octet\0"), 0, TFTP_OP_RRQ },
	{ "WRQ minimal", RAW("\0\2" "file\0octet\0"), 0, TFTP_OP_WRQ },
	{ "RRQ empty filename", RAW("\0\1" "\0octet\0"), 0, TFTP_OP_RRQ },
	{ "RRQ empty mode", RAW("\0\1" "f\0\0"), 0, TFTP_OP_RRQ },
	{ "RRQ option name only", RAW("\0\1" "f\0octet\0blksize\0"), -EBADMSG, 0 },
	{ "RRQ option name without NUL", RAW("\0\1" "f\0octet\0blksize"), -EBADMSG, 0 },
	{ "RRQ option value without NUL", RAW("\0\1" "f\0octet\0blksize\0" "1024"), -EBADMSG, 0 },
	{ "RRQ option ok", RAW("\0\1" "f\0octet\0blksize\0" "1024\0"), 0, TFTP_OP_RRQ },
	{ "RRQ option empty value", RAW("\0\1" "f\0octet\0tsize\0\0"), 0, TFTP_OP_RRQ },
	{ "RRQ padding after mode", RAW("\0\1" "f\0octet\0\0\0\0"), 0, TFTP_OP_RRQ },
	{ "RRQ padding after options", RAW("\0\1" "f\0octet\0blksize\0" "1024\0\0\0\0\0"), 0, TFTP_OP_RRQ },
	{ "RRQ one padding byte", RAW("\0\1" "f\0octet\0blksize\0" "1024\0\0"), 0, TFTP_OP_RRQ },
	{ "RRQ garbage after padding", RAW("\0\1" "f\0octet\0\0\0x\0y\0"), -EBADMSG, 0 },
	{ "RRQ empty option name", RAW("\0\1" "f\0octet\0\0" "1024\0"), -EBADMSG, 0 },
	{ "RRQ trailing non-NUL garbage", RAW("\0\1" "f\0octet\0x"), -EBADMSG, 0 },
	/* DATA */
	{ "DATA no block", RAW("\0\3"), -EBADMSG, 0 },
	{ "DATA half block", RAW("\0\3\0"), -EBADMSG, 0 },
	{ "DATA empty", RAW("\0\3\0\1"), 0, TFTP_OP_DATA },
	{ "DATA payload", RAW("\0\3\0\1" "abc"), 0, TFTP_OP_DATA },
	/* ACK */
	{ "ACK no block", RAW("\0\4"), -EBADMSG, 0 },
	{ "ACK half block", RAW("\0\4\0"), -EBADMSG, 0 },
	{ "ACK", RAW("\0\4\0\1"), 0, TFTP_OP_ACK },
	{ "ACK trailing bytes tolerated", RAW("\0\4\0\1\0\0"), 0, TFTP_OP_ACK },
	/* ERROR */
	{ "ERROR no code", RAW("\0\5"), -EBADMSG, 0 },
	{ "ERROR no message", RAW("\0\5\0\1"), -EBADMSG, 0 },
	{ "ERROR message without NUL", RAW("\0\5\0\1" "oops"), -EBADMSG, 0 },
	{ "ERROR", RAW("\0\5\0\1" "oops\0"), 0, TFTP_OP_ERROR },
	{ "ERROR empty message", RAW("\0\5\0\0\0"), 0, TFTP_OP_ERROR },
	/* OACK */
	{ "OACK empty", RAW("\0\6"), 0, TFTP_OP_OACK },
	{ "OACK name only", RAW("\0\6" "blksize\0"), -EBADMSG, 0 },
	{ "OACK ok", RAW("\0\6" "blksize\0" "1024\0"), 0, TFTP_OP_OACK },
	{ "OACK value without NUL", RAW("\0\6" "blksize\0" "1024"), -EBADMSG, 0 },
};

static int decode_exact(const uint8_t *bytes, size_t len, uint8_t **copy,
			struct tftp_packet *p)
{
	*copy = malloc(len ? len : 1);
	assert_non_null(*copy);
	if (len)
		memcpy(*copy, bytes, len);
	return tftp_decode(*copy, len, p);
}

static void test_decode_table(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(decode_cases); i++) {
		const struct decode_case *c = &decode_cases[i];
		struct tftp_packet p;
		uint8_t *copy;
		int r;

		memset(&p, 0xa5, sizeof(p));
		r = decode_exact(c->bytes, c->len, &copy, &p);
		if (r != c->rc)
			print_error("case \"%s\"\n", c->what);
		assert_rc(r, c->rc);
		if (r == 0)
			assert_int_equal(p.opcode, c->opcode);
		else
			assert_int_equal(p.opcode, 0xa5a5);  /* untouched on failure */
		free(copy);
	}
}

static void test_decode_every_truncation(void **state)
{
	/* Offsets: header 2, "pxelinux.0\0" ends at 13, "octet\0" at 19,
	 * "blksize\0" at 27, "1468\0" at 32, "tsize\0" at 38, "0\0" at 40. */
	static const char rrq[] = "\0\1" "pxelinux.0\0octet\0blksize\0" "1468\0tsize\0" "0\0";
	const size_t len = sizeof(rrq) - 1;
	struct tftp_packet p;
	uint8_t *copy;

	assert_int_equal(len, 40);
	for (size_t n = 0; n <= len; n++) {
		int r = decode_exact((const uint8_t *)rrq, n, &copy, &p);
		/* A prefix ending right after the mode or after a complete
		 * name/value pair is itself a whole request; every other
		 * prefix is truncated. */
		bool complete = n == 19 || n == 32 || n == 40;

		if (r != (complete ? 0 : -EBADMSG))
			print_error("prefix of %zu bytes\n", n);
		assert_rc(r, complete ? 0 : -EBADMSG);
		if (complete)
			assert_int_equal(p.request.n_options, n == 19 ? 0 : n == 32 ? 1 : 2);
		free(copy);
	}
}

static void test_decode_rrq_fields(void **state)
{
	static const char rrq[] = "\0\1" "/boot/pxelinux.0\0OcTeT\0BLKSIZE\0" "1468\0tsize\0" "0\0";
	const size_t len = sizeof(rrq) - 1;
	struct tftp_packet p;
	uint8_t *b;

	assert_rc(decode_exact((const uint8_t *)rrq, len, &b, &p), 0);
	assert_int_equal(p.opcode, TFTP_OP_RRQ);
	/* pointers into the caller's buffer, not copies */
	assert_ptr_equal(p.request.filename, (const char *)b + 2);
	assert_string_equal(p.request.filename, "/boot/pxelinux.0");
	assert_int_equal(p.request.filename_len, 16);
	assert_int_equal(p.request.mode, TFTP_MODE_OCTET);  /* case-insensitive */
	assert_int_equal(p.request.n_options, 2);
	assert_int_equal(p.request.n_options_dropped, 0);
	assert_ptr_equal(p.request.options[0].name, (const char *)b + 25);
	assert_string_equal(p.request.options[0].name, "BLKSIZE");
	assert_string_equal(p.request.options[0].value, "1468");
	assert_string_equal(p.request.options[1].name, "tsize");
	assert_string_equal(p.request.options[1].value, "0");
	assert_ptr_equal(p.request.options[1].value, (const char *)b + len - 2);
	free(b);
}

static void test_decode_padding(void **state)
{
	static const char rrq[] = "\0\1" "f\0octet\0blksize\0" "1024\0\0\0\0\0";
	struct tftp_packet p;
	uint8_t *b;

	assert_rc(decode_exact((const uint8_t *)rrq, sizeof(rrq) - 1, &b, &p), 0);
	assert_int_equal(p.request.n_options, 1);
	assert_string_equal(p.request.options[0].name, "blksize");
	assert_string_equal(p.request.options[0].value, "1024");
	free(b);
}

static void test_decode_modes(void **state)
{
	static const struct {
		const char *mode;
		enum tftp_mode expect;
	} cases[] = {
		{ "octet", TFTP_MODE_OCTET },
		{ "OCTET", TFTP_MODE_OCTET },
		{ "netascii", TFTP_MODE_NETASCII },
		{ "NetASCII", TFTP_MODE_NETASCII },
		{ "mail", TFTP_MODE_MAIL },
		{ "MAIL", TFTP_MODE_MAIL },
		{ "binary", TFTP_MODE_UNKNOWN },
		{ "octets", TFTP_MODE_UNKNOWN },
		{ "octe", TFTP_MODE_UNKNOWN },
		{ "", TFTP_MODE_UNKNOWN },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint8_t buf[64];
		struct tftp_packet p;
		int n = tftp_encode_request(buf, sizeof(buf), TFTP_OP_RRQ, "f",
					    cases[i].mode, NULL, 0);

		assert_true(n > 0);
		assert_rc(tftp_decode(buf, (size_t)n, &p), 0);
		assert_int_equal(p.request.mode, cases[i].expect);
	}
	assert_string_equal(tftp_mode_name(TFTP_MODE_OCTET), "octet");
	assert_string_equal(tftp_mode_name(TFTP_MODE_NETASCII), "netascii");
	assert_string_equal(tftp_mode_name(TFTP_MODE_MAIL), "mail");
	assert_string_equal(tftp_mode_name(TFTP_MODE_UNKNOWN), "unknown");
}

static void test_decode_data_ack_error(void **state)
{
	struct tftp_packet p;
	uint8_t *b;

	assert_rc(decode_exact(RAW("\0\3\xff\xfe" "abc"), &b, &p), 0);
	assert_int_equal(p.data.block, 0xfffe);
	assert_int_equal(p.data.len, 3);
	assert_ptr_equal(p.data.data, b + 4);
	free(b);

	assert_rc(decode_exact(RAW("\0\3\0\7"), &b, &p), 0);
	assert_int_equal(p.data.block, 7);
	assert_int_equal(p.data.len, 0);
	free(b);

	assert_rc(decode_exact(RAW("\0\4\x12\x34"), &b, &p), 0);
	assert_int_equal(p.ack.block, 0x1234);
	free(b);

	/* trailing bytes after an ACK do not change the block */
	assert_rc(decode_exact(RAW("\0\4\0\0\xff\xff"), &b, &p), 0);
	assert_int_equal(p.ack.block, 0);
	free(b);

	assert_rc(decode_exact(RAW("\0\5\0\1" "File not found\0"), &b, &p), 0);
	assert_int_equal(p.error.code, TFTP_ERR_NOT_FOUND);
	assert_string_equal(p.error.message, "File not found");
	assert_ptr_equal(p.error.message, (const char *)b + 4);
	free(b);
}

static void test_decode_oack(void **state)
{
	struct tftp_packet p;
	uint8_t *b;

	assert_rc(decode_exact(RAW("\0\6" "blksize\0" "1468\0" "tsize\0" "99\0"), &b, &p), 0);
	assert_int_equal(p.oack.n_options, 2);
	assert_string_equal(p.oack.options[0].name, "blksize");
	assert_string_equal(p.oack.options[0].value, "1468");
	assert_string_equal(p.oack.options[1].name, "tsize");
	assert_string_equal(p.oack.options[1].value, "99");
	free(b);
}

/* A request with n options "o0".."o(n-1)" = "v0".., into buf. */
static size_t build_many_options(uint8_t *buf, size_t size, unsigned n)
{
	struct tftp_option opts[40];
	char names[40][16], values[40][16];
	int len;

	assert_true(n <= 40);
	for (unsigned i = 0; i < n; i++) {
		snprintf(names[i], sizeof(names[i]), "o%u", i);
		snprintf(values[i], sizeof(values[i]), "v%u", i);
		opts[i] = (struct tftp_option){ names[i], values[i] };
	}
	len = tftp_encode_request(buf, size, TFTP_OP_RRQ, "f", "octet", opts, n);
	assert_true(len > 0);
	return (size_t)len;
}

static void test_decode_option_limit(void **state)
{
	static const struct {
		unsigned sent, kept, dropped;
	} cases[] = {
		{ 0, 0, 0 }, { 1, 1, 0 }, { 15, 15, 0 }, { 16, 16, 0 },
		{ 17, 16, 1 }, { 20, 16, 4 }, { 40, 16, 24 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint8_t buf[1024];
		struct tftp_packet p;
		size_t len = build_many_options(buf, sizeof(buf), cases[i].sent);

		assert_rc(tftp_decode(buf, len, &p), 0);
		assert_int_equal(p.request.n_options, cases[i].kept);
		assert_int_equal(p.request.n_options_dropped, cases[i].dropped);
		if (cases[i].kept) {
			/* the first ones are kept, in order */
			char last[16];
			snprintf(last, sizeof(last), "o%u", cases[i].kept - 1);
			assert_string_equal(p.request.options[0].name, "o0");
			assert_string_equal(p.request.options[0].value, "v0");
			assert_string_equal(p.request.options[cases[i].kept - 1].name, last);
		}
	}
}

static void test_decode_oack_option_limit(void **state)
{
	uint8_t buf[1024];
	struct tftp_packet p;
	size_t len = build_many_options(buf, sizeof(buf), 20);

	/* Turn the RRQ "\0\1f\0octet\0..." into an OACK with the same options. */
	buf[1] = TFTP_OP_OACK;
	memmove(buf + 2, buf + 10, len - 10);
	len -= 8;
	assert_rc(tftp_decode(buf, len, &p), 0);
	assert_int_equal(p.oack.n_options, 16);
	assert_string_equal(p.oack.options[15].name, "o15");
}

/* --- encoders --- */

static void test_encode_error(void **state)
{
	static const uint8_t expect[] = "\0\5\0\1" "File not found";  /* + its NUL */
	uint8_t buf[64];
	struct tftp_packet p;
	int n = tftp_encode_error(buf, sizeof(buf), TFTP_ERR_NOT_FOUND, "File not found");

	assert_rc(n, sizeof(expect));
	assert_memory_equal(buf, expect, sizeof(expect));
	assert_rc(tftp_decode(buf, (size_t)n, &p), 0);
	assert_int_equal(p.opcode, TFTP_OP_ERROR);
	assert_int_equal(p.error.code, TFTP_ERR_NOT_FOUND);
	assert_string_equal(p.error.message, "File not found");

	/* NULL message is an empty one */
	n = tftp_encode_error(buf, sizeof(buf), TFTP_ERR_OPTION_REFUSED, NULL);
	assert_rc(n, 5);
	assert_memory_equal(buf, "\0\5\0\10\0", 5);
}

static void test_encode_ack(void **state)
{
	uint8_t buf[8];
	struct tftp_packet p;

	assert_rc(tftp_encode_ack(buf, sizeof(buf), 0xffff), 4);
	assert_memory_equal(buf, "\0\4\xff\xff", 4);
	assert_rc(tftp_encode_ack(buf, 4, 0x0102), 4);
	assert_memory_equal(buf, "\0\4\1\2", 4);
	assert_rc(tftp_decode(buf, 4, &p), 0);
	assert_int_equal(p.ack.block, 0x0102);
}

static void test_encode_oack(void **state)
{
	static const struct tftp_option opts[] = {
		{ "blksize", "1468" }, { "tsize", "123456" }, { "windowsize", "8" },
	};
	static const uint8_t expect[] = "\0\6" "blksize\0" "1468\0" "tsize\0" "123456\0"
					"windowsize\0" "8";
	uint8_t buf[128];
	struct tftp_packet p;
	int n = tftp_encode_oack(buf, sizeof(buf), opts, ARRAY_SIZE(opts));

	assert_rc(n, sizeof(expect));
	assert_memory_equal(buf, expect, sizeof(expect));
	assert_rc(tftp_decode(buf, (size_t)n, &p), 0);
	assert_int_equal(p.opcode, TFTP_OP_OACK);
	assert_int_equal(p.oack.n_options, 3);
	for (size_t i = 0; i < ARRAY_SIZE(opts); i++) {
		assert_string_equal(p.oack.options[i].name, opts[i].name);
		assert_string_equal(p.oack.options[i].value, opts[i].value);
	}
	/* no options: just the opcode */
	assert_rc(tftp_encode_oack(buf, sizeof(buf), NULL, 0), 2);
	assert_memory_equal(buf, "\0\6", 2);
}

static void test_encode_request_round_trip(void **state)
{
	static const struct tftp_option opts[] = {
		{ "blksize", "1468" }, { "tsize", "0" }, { "timeout", "3" },
		{ "windowsize", "16" },
	};
	uint8_t buf[256];
	struct tftp_packet p;
	int n = tftp_encode_request(buf, sizeof(buf), TFTP_OP_RRQ,
				    "boot\\grub\\grub.cfg", "netascii",
				    opts, ARRAY_SIZE(opts));

	assert_rc(n, 2 + 19 + 9 + 8 + 5 + 6 + 2 + 8 + 2 + 11 + 3);
	assert_memory_equal(buf, "\0\1" "boot\\grub\\grub.cfg\0netascii\0blksize\0", 38);
	assert_rc(tftp_decode(buf, (size_t)n, &p), 0);
	assert_int_equal(p.opcode, TFTP_OP_RRQ);
	assert_string_equal(p.request.filename, "boot\\grub\\grub.cfg");
	assert_int_equal(p.request.filename_len, 18);
	assert_int_equal(p.request.mode, TFTP_MODE_NETASCII);
	assert_int_equal(p.request.n_options, ARRAY_SIZE(opts));
	for (size_t i = 0; i < ARRAY_SIZE(opts); i++) {
		assert_string_equal(p.request.options[i].name, opts[i].name);
		assert_string_equal(p.request.options[i].value, opts[i].value);
	}

	n = tftp_encode_request(buf, sizeof(buf), TFTP_OP_WRQ, "up", "octet", NULL, 0);
	assert_rc(n, 11);
	assert_rc(tftp_decode(buf, (size_t)n, &p), 0);
	assert_int_equal(p.opcode, TFTP_OP_WRQ);
	assert_string_equal(p.request.filename, "up");
}

static void test_encode_data_header(void **state)
{
	uint8_t hdr[TFTP_DATA_HEADER_LEN];
	struct tftp_packet p;

	tftp_encode_data_header(hdr, 0xabcd);
	assert_memory_equal(hdr, "\0\3\xab\xcd", 4);
	assert_rc(tftp_decode(hdr, sizeof(hdr), &p), 0);
	assert_int_equal(p.opcode, TFTP_OP_DATA);
	assert_int_equal(p.data.block, 0xabcd);
	assert_int_equal(p.data.len, 0);
}

/* Every encoder: each size below the exact length gives -ENOBUFS and
 * writes nothing past size; the exact length succeeds. */
enum which { ENC_ERROR, ENC_ACK, ENC_OACK, ENC_REQUEST };

static int encode(enum which w, uint8_t *buf, size_t size)
{
	static const struct tftp_option opts[] = { { "blksize", "1468" }, { "tsize", "0" } };

	switch (w) {
	case ENC_ERROR: return tftp_encode_error(buf, size, TFTP_ERR_ACCESS, "access violation");
	case ENC_ACK: return tftp_encode_ack(buf, size, 42);
	case ENC_OACK: return tftp_encode_oack(buf, size, opts, ARRAY_SIZE(opts));
	case ENC_REQUEST: return tftp_encode_request(buf, size, TFTP_OP_RRQ, "pxelinux.0",
						    "octet", opts, ARRAY_SIZE(opts));
	}
	return 0;
}

static void test_encode_nobufs(void **state)
{
	static const struct { enum which w; int len; } cases[] = {
		{ ENC_ERROR, 21 }, { ENC_ACK, 4 }, { ENC_OACK, 23 }, { ENC_REQUEST, 40 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint8_t buf[128];
		int len = cases[i].len;

		for (size_t size = 0; size < (size_t)len; size++) {
			memset(buf, 0xee, sizeof(buf));
			assert_rc(encode(cases[i].w, buf, size), -ENOBUFS);
			for (size_t k = size; k < sizeof(buf); k++)
				assert_int_equal(buf[k], 0xee);
		}
		memset(buf, 0xee, sizeof(buf));
		assert_rc(encode(cases[i].w, buf, (size_t)len), len);
		assert_int_equal(buf[len], 0xee);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode_table),
		cmocka_unit_test(test_decode_every_truncation),
		cmocka_unit_test(test_decode_rrq_fields),
		cmocka_unit_test(test_decode_padding),
		cmocka_unit_test(test_decode_modes),
		cmocka_unit_test(test_decode_data_ack_error),
		cmocka_unit_test(test_decode_oack),
		cmocka_unit_test(test_decode_option_limit),
		cmocka_unit_test(test_decode_oack_option_limit),
		cmocka_unit_test(test_encode_error),
		cmocka_unit_test(test_encode_ack),
		cmocka_unit_test(test_encode_oack),
		cmocka_unit_test(test_encode_request_round_trip),
		cmocka_unit_test(test_encode_data_header),
		cmocka_unit_test(test_encode_nobufs),
	};

	return cmocka_run_group_tests_name("tftp_wire", tests, NULL, NULL);
}
