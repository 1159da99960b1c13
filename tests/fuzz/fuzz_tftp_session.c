/* fuzz_tftp_session.c - the read-transfer state machine under arbitrary
 * event sequences.
 *
 * Input: a 10-byte header, then events.
 *   header  size (4 bytes BE, bytes in the file, scaled by `shift`),
 *           shift (1 byte, & 15), blksize (2 bytes BE, folded into
 *           8..65464), windowsize (2 bytes BE; 0 allowed, means 1),
 *           retries (1 byte, % 8). The top bit of `shift` selects whether
 *           the transfer opens with an OACK.
 *   events  one opcode byte each:
 *           0  ACK with the 16-bit block in the next two bytes
 *           1  timeout
 *           2  ACK of everything sent (what a perfect client sends)
 *           3  ACK of acked + k, k from the next byte (partial window)
 *           4  n perfect ACKs in a row, n from the next byte (reaches the
 *              16-bit wrap quickly)
 *           5  the size learned at the end (a netascii stream): the size
 *              times the next byte / 256, while sending
 *
 * After every event the invariants of tftp_session.h are checked: acked <=
 * sent <= n_blocks, a DATA action covers 1..n_blocks and starts right after
 * the last acknowledged block, an ACK moves `acked` only forwards and only
 * onto a block whose 16-bit number it carries, DONE exactly when the last
 * block is acknowledged, and a finished session answers nothing. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_check.h"
#include "tftp/tftp_session.h"

/* Events (including each ACK of a burst) per input, so runs stay fast. */
#define MAX_STEPS (1u << 17)

static void check_state(const struct tftp_session *s)
{
	CHECK(s->acked <= s->sent);
	CHECK(s->sent <= s->n_blocks);
	CHECK(s->n_blocks == s->size / s->blksize + 1);
	CHECK(s->tries <= s->retries);
	CHECK((s->state == TFTP_SESSION_DONE) == (s->acked == s->n_blocks));
	if (s->state == TFTP_SESSION_OACK_SENT)
		CHECK(s->acked == 0 && s->sent == 0);
}

static void check_action(const struct tftp_session *before,
			 const struct tftp_session *s, struct tftp_action a)
{
	switch (a.kind) {
	case TFTP_ACTION_NONE:
		CHECK(s->acked == before->acked);
		CHECK(s->sent == before->sent);
		CHECK(s->state == before->state);
		break;
	case TFTP_ACTION_SEND_OACK:
		CHECK(s->state == TFTP_SESSION_OACK_SENT);
		break;
	case TFTP_ACTION_SEND_DATA: {
		uint64_t last = a.first + a.count - 1;

		CHECK(s->state == TFTP_SESSION_SENDING);
		CHECK(a.count >= 1);
		CHECK(a.count <= s->windowsize);
		CHECK(a.first >= 1);
		CHECK(a.first == s->acked + 1);
		CHECK(last <= s->n_blocks);
		CHECK(last <= s->sent);
		/* a short window only at the end of the file */
		CHECK(a.count == s->windowsize || last == s->n_blocks);
		/* every block in the range has a valid extent */
		CHECK(tftp_session_block_offset(s, a.first) <= s->size);
		CHECK(tftp_session_block_offset(s, last) + tftp_session_block_len(s, last) <= s->size);
		CHECK(tftp_session_block_len(s, last) <= s->blksize);
		if (last < s->n_blocks)
			CHECK(tftp_session_block_len(s, last) == s->blksize);
		else
			CHECK(tftp_session_block_len(s, last) < s->blksize);
		break;
	}
	case TFTP_ACTION_DONE:
		CHECK(s->state == TFTP_SESSION_DONE);
		CHECK(s->acked == s->n_blocks);
		break;
	case TFTP_ACTION_FAIL:
		CHECK(s->state == TFTP_SESSION_FAILED);
		CHECK(before->tries == before->retries);
		break;
	default:
		CHECK(!"unknown action");
	}
	if (before->state == TFTP_SESSION_DONE || before->state == TFTP_SESSION_FAILED)
		CHECK(a.kind == TFTP_ACTION_NONE && s->state == before->state);
}

static void ack(struct tftp_session *s, uint16_t block)
{
	struct tftp_session before = *s;
	struct tftp_action a = tftp_session_on_ack(s, block);

	check_action(&before, s, a);
	check_state(s);
	/* progress only forwards, only to a block this ACK names */
	CHECK(s->acked >= before.acked);
	if (s->acked != before.acked) {
		CHECK((uint16_t)s->acked == block);
		CHECK(s->acked <= before.sent);
		CHECK(s->tries == 0);
	}
	if (before.state == TFTP_SESSION_OACK_SENT && block == 0)
		CHECK(a.kind == TFTP_ACTION_SEND_DATA);
	/* a valid new ACK is never ignored */
	if (before.state == TFTP_SESSION_SENDING) {
		uint64_t d = (uint16_t)(block - (uint16_t)before.acked);
		if (d >= 1 && d <= before.sent - before.acked)
			CHECK(s->acked == before.acked + d);
	}
	/* the same ACK again is a duplicate */
	if (a.kind != TFTP_ACTION_NONE) {
		struct tftp_session mid = *s;
		struct tftp_action dup = tftp_session_on_ack(s, block);

		CHECK(dup.kind == TFTP_ACTION_NONE);
		CHECK(s->acked == mid.acked && s->sent == mid.sent);
	}
}

static void set_size(struct tftp_session *s, uint8_t frac)
{
	struct tftp_session before = *s;

	if (s->state != TFTP_SESSION_SENDING)
		return;  /* the adapter learns the size only while sending */
	tftp_session_set_size(s, before.size / 256 * frac);
	check_state(s);
	CHECK(s->size <= before.size);
	CHECK(s->state == before.state);
	CHECK(s->acked <= before.acked);
	CHECK(s->sent <= before.sent);
	CHECK(s->acked < s->n_blocks);
}

static void timeout(struct tftp_session *s)
{
	struct tftp_session before = *s;
	struct tftp_action a = tftp_session_on_timeout(s);

	check_action(&before, s, a);
	check_state(s);
	CHECK(s->acked == before.acked);
	if (a.kind == TFTP_ACTION_SEND_DATA || a.kind == TFTP_ACTION_SEND_OACK) {
		CHECK(a.retransmit);
		CHECK(s->tries == before.tries + 1);
		CHECK(s->retransmits == before.retransmits + 1);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tftp_session s, before;
	struct tftp_action a;
	uint64_t file_size;
	unsigned blksize, windowsize, retries, shift, steps = 0;
	bool with_oack;
	size_t i = 10;

	if (size < 10)
		return 0;
	file_size = ((uint64_t)data[0] << 24) | ((uint64_t)data[1] << 16) |
		    ((uint64_t)data[2] << 8) | data[3];
	shift = data[4] & 15;
	with_oack = data[4] & 0x80;
	file_size <<= shift;  /* up to 2^47: far past any file served */
	blksize = ((unsigned)data[5] << 8 | data[6]) % (65464 - 8 + 1) + 8;
	windowsize = (unsigned)data[7] << 8 | data[8];
	retries = data[9] % 8;

	tftp_session_init(&s, file_size, blksize, windowsize, retries);
	CHECK(s.windowsize == (windowsize ? windowsize : 1));
	CHECK(s.n_blocks == file_size / blksize + 1);
	before = s;
	a = tftp_session_start(&s, with_oack);
	check_action(&before, &s, a);
	check_state(&s);
	CHECK(a.kind == (with_oack ? TFTP_ACTION_SEND_OACK : TFTP_ACTION_SEND_DATA));

	while (i < size && steps < MAX_STEPS) {
		uint8_t op = data[i++] % 6;

		steps++;
		switch (op) {
		case 0:
			if (i + 2 > size)
				return 0;
			ack(&s, (uint16_t)(data[i] << 8 | data[i + 1]));
			i += 2;
			break;
		case 1:
			timeout(&s);
			break;
		case 2:
			ack(&s, (uint16_t)s.sent);
			break;
		case 3:
			if (i >= size)
				return 0;
			ack(&s, (uint16_t)(s.acked + data[i++]));
			break;
		case 5:
			if (i >= size)
				return 0;
			set_size(&s, data[i++]);
			break;
		case 4: {
			unsigned n;

			if (i >= size)
				return 0;
			n = data[i++];
			for (unsigned k = 0; k < n && steps < MAX_STEPS; k++, steps++)
				ack(&s, (uint16_t)(s.state == TFTP_SESSION_OACK_SENT ? 0 : s.sent));
			break;
		}
		}
	}
	return 0;
}
