/* fuzz_netascii.c - netascii converted in pieces against a whole-buffer
 * reference.
 *
 * Input: a 3-byte header, a script, then the file.
 *   header  blksize (2 bytes BE; values under 64 are used as is from 8,
 *           so that tiny blocks, where every edge splits a pair, are
 *           common; others are folded into 8..65464), script length (1 byte)
 *   script  one byte per step (see below)
 *   file    the rest: the source text
 *
 * 1. The codec: netascii_encode() called with output rooms taken from the
 *    script (1..256 bytes, cycling) must produce exactly the reference
 *    conversion and use up exactly the input.
 * 2. The stream: a transfer's access pattern, with the oldest block still
 *    needed (anchor) only moving forward: each script byte either moves the
 *    anchor on, asks for a block at or after it (a retransmission, the
 *    next block, or one far ahead), or asks for the block after the
 *    buffer. Every fill of a block up to the last must succeed and return
 *    the reference bytes at (b - 1) * blksize; past the last it fails with
 *    -ERANGE; the size, once known, is the reference's. Finally every block
 *    from the anchor to the end is read in order. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "tftp/file_source.h"
#include "tftp/netascii.h"
#include "tftp/netascii_stream.h"

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

static void check_codec(const uint8_t *in, size_t len, const uint8_t *want, size_t want_len,
			const uint8_t *script, size_t script_len)
{
	uint8_t *got = malloc(want_len + 257);
	struct netascii_carry c = { 0 };
	size_t in_off = 0, o = 0;

	CHECK(got);
	CHECK(netascii_encoded_len(in, len) == want_len);
	for (size_t step = 0;; step++) {
		size_t room = script_len ? (size_t)script[step % script_len] + 1 : 512;
		size_t used, n = netascii_encode(&c, in + in_off, len - in_off, &used, got + o, room);

		CHECK(n <= room);
		CHECK(used <= len - in_off);
		in_off += used;
		o += n;
		CHECK(o <= want_len);
		if (n < room) {
			/* short only when nothing is left */
			CHECK(in_off == len && !c.pending);
			break;
		}
	}
	CHECK(o == want_len);
	CHECK(in_off == len);
	CHECK(memcmp(got, want, want_len) == 0);
	free(got);
}

static void check_block(struct netascii_stream *st, uint64_t b, const uint8_t *want,
			size_t want_len)
{
	uint64_t n_blocks = want_len / st->blksize + 1;
	int r = netascii_stream_fill(st, b);
	const uint8_t *p;
	size_t len;

	if (b > n_blocks) {
		CHECK(r == -ERANGE);
		return;
	}
	CHECK(r == 0);
	CHECK(netascii_stream_holds(st, b));
	p = netascii_stream_block(st, b, &len);
	if (b < n_blocks) {
		CHECK(len == st->blksize);
	} else {
		CHECK(st->size_known);
		CHECK(len == want_len - (b - 1) * st->blksize);
	}
	CHECK(memcmp(p, want + (b - 1) * st->blksize, len) == 0);
	if (st->size_known)
		CHECK(st->size == want_len);
}

static void release(struct boot_file *f)
{
	(void)f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *script, *in;
	size_t script_len, len, want_len;
	struct boot_file bf;
	struct netascii_stream st;
	unsigned blksize;
	uint64_t anchor = 1, n_blocks;
	uint8_t *want;

	if (size < 3)
		return 0;
	blksize = (unsigned)data[0] << 8 | data[1];
	blksize = blksize < 64 ? blksize % 56 + 8 : blksize % (65464 - 8 + 1) + 8;
	script_len = data[2];
	if (size - 3 < script_len)
		return 0;
	script = data + 3;
	in = script + script_len;
	len = size - 3 - script_len;

	want = malloc(2 * len + 1);
	CHECK(want);
	want_len = reference(in, len, want);
	check_codec(in, len, want, want_len, script, script_len);

	bf = (struct boot_file){ .refs = 1, .size = len, .data = len ? in : NULL, .fd = -1,
				 .release = release };
	CHECK(netascii_stream_init(&st, &bf, blksize) == 0);
	n_blocks = want_len / blksize + 1;
	for (size_t i = 0; i < script_len; i++) {
		uint8_t op = script[i] & 3, k = script[i] >> 2;

		switch (op) {
		case 0:  /* the client acknowledged up to anchor + k - 1 */
			if (anchor + k <= n_blocks) {
				anchor += k;
				netascii_stream_anchor(&st, anchor);
			}
			break;
		case 1:  /* a block of the window, or a retransmission */
			check_block(&st, anchor + k % 8, want, want_len);
			break;
		case 2:  /* far ahead, maybe past the end */
			check_block(&st, anchor + (uint64_t)k * 37, want, want_len);
			break;
		case 3:  /* read ahead: the block after the buffer */
			if (st.count)
				check_block(&st, st.first + st.count, want, want_len);
			break;
		}
	}
	for (uint64_t b = anchor; b <= n_blocks; b++) {
		netascii_stream_anchor(&st, b);
		check_block(&st, b, want, want_len);
	}
	CHECK(st.size_known && st.size == want_len);
	check_block(&st, n_blocks + 1, want, want_len);
	netascii_stream_free(&st);
	free(want);
	return 0;
}
