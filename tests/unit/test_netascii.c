/* test_netascii.c - the netascii codec, and a file's netascii blocks
 * converted as they are due: pairs split at block boundaries, every
 * block size, the end, and blocks converted again for a retransmission. */
#include "unit.h"

#include <errno.h>
#include <stdlib.h>

#include "tftp/netascii.h"
#include "tftp/netascii_stream.h"
#include "tftp/tftp_options.h"
#include "util.h"

/* The whole-buffer conversion the streaming one must match. */
static size_t reference(const uint8_t *in, size_t len, uint8_t *out)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		if (in[i] == '\n') {
			out[o++] = '\r';
			out[o++] = '\n';
		} else if (in[i] == '\r') {
			out[o++] = '\r';
			out[o++] = '\0';
		} else {
			out[o++] = in[i];
		}
	}
	return o;
}

static void check_whole(const char *in, size_t in_len, const char *out, size_t out_len)
{
	struct netascii_carry c = { 0 };
	uint8_t buf[64];
	size_t used = 99;

	assert_int_equal(netascii_encode(&c, (const uint8_t *)in, in_len, &used, buf, sizeof(buf)),
			 out_len);
	assert_int_equal(used, in_len);
	assert_false(c.pending);
	if (out_len)
		assert_memory_equal(buf, out, out_len);
	assert_int_equal(netascii_encoded_len((const uint8_t *)in, in_len), out_len);
}

static void test_encode_table(void **state)
{
	check_whole("a\nb\rc", 5, "a\r\nb\r\0c", 7);
	check_whole("", 0, "", 0);
	check_whole("plain", 5, "plain", 5);
	check_whole("\n", 1, "\r\n", 2);
	check_whole("\r", 1, "\r\0", 2);
	/* a file already in CR LF form is still converted byte by byte */
	check_whole("x\r\n", 3, "x\r\0\r\n", 5);
	check_whole("\n\n\r\r", 4, "\r\n\r\n\r\0\r\0", 8);
	check_whole("\0\xff", 2, "\0\xff", 2);
}

/* A pair that does not fit: its CR goes now, the second byte next call. */
static void test_pair_split(void **state)
{
	struct netascii_carry c = { 0 };
	uint8_t out[8];
	size_t used;

	assert_int_equal(netascii_encode(&c, (const uint8_t *)"abc\n", 4, &used, out, 4), 4);
	assert_int_equal(used, 4);
	assert_memory_equal(out, "abc\r", 4);
	assert_true(c.pending);
	assert_int_equal(c.byte, '\n');
	/* no room: nothing moves, the carry stays */
	assert_int_equal(netascii_encode(&c, (const uint8_t *)"z", 1, &used, out, 0), 0);
	assert_int_equal(used, 0);
	assert_true(c.pending);
	/* the input is used up: the carried byte alone */
	assert_int_equal(netascii_encode(&c, NULL, 0, &used, out, 4), 1);
	assert_int_equal(out[0], '\n');
	assert_false(c.pending);

	/* a bare CR split: CR now, NUL next */
	assert_int_equal(netascii_encode(&c, (const uint8_t *)"\rq", 2, &used, out, 1), 1);
	assert_int_equal(used, 1);
	assert_true(c.pending);
	assert_int_equal(c.byte, '\0');
	assert_int_equal(netascii_encode(&c, (const uint8_t *)"q", 1, &used, out, 1), 1);
	assert_int_equal(out[0], '\0');
	assert_int_equal(used, 0);  /* the room went to the carried byte */
	assert_false(c.pending);
}

/* Every output size from 1 byte on, over a text dense in CR, LF and CR LF:
 * the pieces concatenate to the whole conversion. */
static void test_encode_every_room(void **state)
{
	static const char text[] = "\r\nab\n\n\rc\r\r\n\nxyz\r";
	uint8_t want[2 * sizeof(text)], got[2 * sizeof(text)];
	size_t want_len = reference((const uint8_t *)text, sizeof(text) - 1, want);

	for (size_t room = 1; room <= want_len + 1; room++) {
		struct netascii_carry c = { 0 };
		size_t in_off = 0, o = 0;

		for (;;) {
			size_t used, n = netascii_encode(&c, (const uint8_t *)text + in_off,
							 sizeof(text) - 1 - in_off, &used,
							 got + o, MIN(room, sizeof(got) - o));
			in_off += used;
			o += n;
			if (n < room)
				break;  /* short: the end */
		}
		assert_int_equal(o, want_len);
		assert_int_equal(in_off, sizeof(text) - 1);
		assert_memory_equal(got, want, want_len);
	}
}

/* --- the stream --- */

static struct boot_file *owned(const uint8_t *data, size_t len)
{
	struct boot_file *bf = NULL;
	void *buf = malloc(len ? len : 1);

	assert_non_null(buf);
	if (len)
		memcpy(buf, data, len);
	assert_rc(boot_file_new_owned(buf, len, &bf), 0);
	return bf;
}

/* Text with lines and lone CRs, deterministic. */
static uint8_t *make_text(size_t len, unsigned seed)
{
	uint8_t *p = malloc(len ? len : 1);

	assert_non_null(p);
	for (size_t i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		unsigned v = (seed >> 16) % 16;
		p[i] = v == 0 ? '\n' : v == 1 ? '\r' : (uint8_t)('a' + v);
	}
	return p;
}

/* Fetch blocks 1.. in order, as a lock-step transfer does, and compare
 * with the whole conversion; check the end and the size. */
static void check_stream(const uint8_t *in, size_t len, unsigned blksize)
{
	struct boot_file *bf = owned(in, len);
	uint8_t *want = malloc(2 * len + 1);
	size_t want_len = reference(in, len, want), o = 0;
	uint64_t n_blocks = want_len / blksize + 1;
	struct netascii_stream st;

	assert_rc(netascii_stream_init(&st, bf, blksize), 0);
	for (uint64_t b = 1; b <= n_blocks; b++) {
		const uint8_t *p;
		size_t blen;

		netascii_stream_anchor(&st, b);
		assert_rc(netascii_stream_fill(&st, b), 0);
		assert_true(netascii_stream_holds(&st, b));
		p = netascii_stream_block(&st, b, &blen);
		if (b < n_blocks) {
			assert_int_equal(blen, blksize);
		} else {
			assert_true(st.size_known);
			assert_int_equal(blen, want_len - o);
		}
		if (blen)
			assert_memory_equal(p, want + o, blen);
		o += blen;
	}
	assert_int_equal(o, want_len);
	assert_true(st.size_known);
	assert_int_equal(st.size, want_len);
	assert_rc(netascii_stream_fill(&st, n_blocks + 1), -ERANGE);
	netascii_stream_free(&st);
	netascii_stream_free(&st);  /* twice is harmless */
	free(want);
	boot_file_unref(bf);
}

static void test_stream_blksizes(void **state)
{
	static const unsigned sizes[] = { TFTP_BLKSIZE_MIN, 9, 10, 511, 512, 513, 1428,
					  8192, 32768, TFTP_BLKSIZE_MAX };
	size_t len = 300 * 1024;  /* more than one fill at every size */
	uint8_t *text = make_text(len, 7);

	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++)
		check_stream(text, len, sizes[i]);
	free(text);
}

static void test_stream_empty(void **state)
{
	check_stream(NULL, 0, 512);
	check_stream(NULL, 0, TFTP_BLKSIZE_MIN);
}

/* Only LF: every block boundary splits a CR LF pair (odd blksize) or
 * falls between pairs (even). */
static void test_stream_only_lf(void **state)
{
	uint8_t lf[2000];

	memset(lf, '\n', sizeof(lf));
	check_stream(lf, sizeof(lf), 512);   /* 4000 bytes: 7 full blocks + 416 */
	check_stream(lf, sizeof(lf), 511);
	check_stream(lf, sizeof(lf), TFTP_BLKSIZE_MIN);
	check_stream(lf, 256, 512);          /* exactly one full block, then an empty one */
	check_stream(lf, 1, 1);              /* not a TFTP size, but the edge */
	memset(lf, '\r', sizeof(lf));
	check_stream(lf, sizeof(lf), 9);
}

/* A pair split exactly at the block boundary, and a file whose last byte
 * is a split pair's second half. */
static void check_boundary(const char *text, unsigned blksize)
{
	check_stream((const uint8_t *)text, strlen(text), blksize);
}

static void test_stream_boundaries(void **state)
{
	check_boundary("1234567\n", 8);          /* CR LF fits exactly: 8 + 2 */
	check_boundary("123456\nx", 8);          /* "123456\r\n" is block 1 */
	check_boundary("1234567\nabcdefg", 8);   /* LF of the pair opens block 2 */
	check_boundary("1234567\r", 8);          /* NUL owed past the file's end */
	check_boundary("123456\n", 8);           /* exactly 8: an empty block 2 */
}

/* A retransmission after the buffer moved on converts the block again,
 * byte for byte, from the anchored (oldest unacknowledged) block. */
static void test_stream_regenerates(void **state)
{
	size_t len = 1200 * 1024;  /* about 2600 blocks converted */
	uint8_t *text = make_text(len, 3);
	uint8_t *want = malloc(2 * len);
	size_t want_len = reference(text, len, want), blen;
	struct boot_file *bf = owned(text, len);
	struct netascii_stream st;
	const uint8_t *p;
	uint64_t last_of_first;

	assert_rc(netascii_stream_init(&st, bf, 512), 0);
	assert_rc(netascii_stream_fill(&st, 1), 0);
	last_of_first = st.first + st.count - 1;  /* 512: the first span */
	assert_int_equal(last_of_first, NETASCII_STREAM_MAX_BLOCKS);
	/* lock step: block 512 is in flight and read ahead moves on */
	netascii_stream_anchor(&st, last_of_first);
	assert_rc(netascii_stream_fill(&st, last_of_first + 1), 0);
	assert_false(netascii_stream_holds(&st, last_of_first));
	/* its ACK was lost: 512 again */
	assert_rc(netascii_stream_fill(&st, last_of_first), 0);
	p = netascii_stream_block(&st, last_of_first, &blen);
	assert_int_equal(blen, 512);
	assert_memory_equal(p, want + (last_of_first - 1) * 512, 512);

	/* a window (RFC 7440) restarted from a block that left the buffer
	 * several blocks before the anchor's mark */
	netascii_stream_anchor(&st, last_of_first + 3);
	assert_rc(netascii_stream_fill(&st, 2000), 0);
	assert_false(netascii_stream_holds(&st, last_of_first + 5));
	assert_rc(netascii_stream_fill(&st, last_of_first + 5), 0);
	p = netascii_stream_block(&st, last_of_first + 5, &blen);
	assert_memory_equal(p, want + (last_of_first + 4) * 512, 512);
	/* before the anchor: never asked for again, refused */
	assert_rc(netascii_stream_fill(&st, last_of_first + 2), -ERANGE);
	assert_rc(netascii_stream_fill(&st, 0), -ERANGE);

	/* far ahead, then the rest, still the same bytes */
	for (uint64_t b = last_of_first + 3; b <= want_len / 512 + 1; b++) {
		netascii_stream_anchor(&st, b);
		assert_rc(netascii_stream_fill(&st, b), 0);
		p = netascii_stream_block(&st, b, &blen);
		if (blen)
			assert_memory_equal(p, want + (b - 1) * 512, blen);
	}
	assert_int_equal(st.size, want_len);
	netascii_stream_free(&st);
	boot_file_unref(bf);
	free(want);
	free(text);
}

/* tsize: an in-memory file is counted whatever the cap. */
static void test_stream_count(void **state)
{
	const uint8_t text[] = "a\nb\r";
	struct boot_file *bf = owned(text, 4);
	uint64_t n = 0;

	assert_rc(netascii_count(bf, 0, &n), 0);
	assert_int_equal(n, 6);
	boot_file_unref(bf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_table),
		cmocka_unit_test(test_pair_split),
		cmocka_unit_test(test_encode_every_room),
		cmocka_unit_test(test_stream_blksizes),
		cmocka_unit_test(test_stream_empty),
		cmocka_unit_test(test_stream_only_lf),
		cmocka_unit_test(test_stream_boundaries),
		cmocka_unit_test(test_stream_regenerates),
		cmocka_unit_test(test_stream_count),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
