/* tftp_session.c - see tftp_session.h. */
#include "tftp/tftp_session.h"

#include "util.h"

void tftp_session_init(struct tftp_session *s, uint64_t size, unsigned blksize,
		       unsigned windowsize, unsigned retries)
{
	*s = (struct tftp_session){
		.state = TFTP_SESSION_SENDING,
		.size = size,
		.blksize = blksize,
		.windowsize = windowsize ? windowsize : 1,
		.retries = retries,
		.n_blocks = size / blksize + 1,
	};
}

void tftp_session_set_size(struct tftp_session *s, uint64_t size)
{
	if (size > s->size)
		return;  /* only ever shrinks: the bound was the most it could be */
	s->size = size;
	s->n_blocks = size / s->blksize + 1;
	/* A window planned on the bound may reach past the real end. */
	s->sent = MIN(s->sent, s->n_blocks);
	/* A client that acknowledged blocks it never got (queued when the
	 * kernel said EAGAIN, then guessed) still owes the ACK of the real
	 * last block: the transfer ends on it, or on a timeout. */
	if (s->acked >= s->n_blocks)
		s->acked = s->n_blocks - 1;
}

static struct tftp_action send_window(struct tftp_session *s, bool retransmit)
{
	uint64_t first = s->acked + 1;
	unsigned count = (unsigned)MIN((uint64_t)s->windowsize, s->n_blocks - s->acked);

	s->state = TFTP_SESSION_SENDING;
	if (first + count - 1 > s->sent)
		s->sent = first + count - 1;
	return (struct tftp_action){ .kind = TFTP_ACTION_SEND_DATA, .first = first,
				     .count = count, .retransmit = retransmit };
}

struct tftp_action tftp_session_start(struct tftp_session *s, bool with_oack)
{
	if (with_oack) {
		s->state = TFTP_SESSION_OACK_SENT;
		return (struct tftp_action){ .kind = TFTP_ACTION_SEND_OACK };
	}
	return send_window(s, false);
}

struct tftp_action tftp_session_on_ack(struct tftp_session *s, uint16_t block)
{
	static const struct tftp_action none = { .kind = TFTP_ACTION_NONE };
	uint64_t delta, in_flight;

	switch (s->state) {
	case TFTP_SESSION_OACK_SENT:
		if (block != 0)
			return none;
		s->tries = 0;
		return send_window(s, false);
	case TFTP_SESSION_SENDING:
		break;
	default:
		return none;
	}
	/* Map the 16-bit block number onto the blocks in flight: the only
	 * meaningful ACKs acknowledge acked+1 .. sent. */
	delta = (uint16_t)(block - (uint16_t)s->acked);
	in_flight = s->sent - s->acked;
	if (delta == 0 || delta > in_flight)
		return none;  /* duplicate or stale: never answered with data */
	s->acked += delta;
	s->tries = 0;
	if (s->acked == s->n_blocks) {
		s->state = TFTP_SESSION_DONE;
		return (struct tftp_action){ .kind = TFTP_ACTION_DONE };
	}
	return send_window(s, false);
}

struct tftp_action tftp_session_on_timeout(struct tftp_session *s)
{
	if (s->state != TFTP_SESSION_OACK_SENT && s->state != TFTP_SESSION_SENDING)
		return (struct tftp_action){ .kind = TFTP_ACTION_NONE };
	if (s->tries >= s->retries) {
		s->state = TFTP_SESSION_FAILED;
		return (struct tftp_action){ .kind = TFTP_ACTION_FAIL };
	}
	s->tries++;
	s->retransmits++;
	if (s->state == TFTP_SESSION_OACK_SENT)
		return (struct tftp_action){ .kind = TFTP_ACTION_SEND_OACK,
					     .retransmit = true };
	return send_window(s, true);
}
