/* tftp_session.h - the state machine of one read transfer, without I/O.
 *
 * The adapter (tftp_server) feeds it events (start, an ACK's block number,
 * a timeout) and performs the action each returns: send the OACK, send a
 * run of DATA blocks, or end the transfer. Block numbers are tracked as
 * 64-bit counts, so the 16-bit wire number can roll over past 65535 and a
 * 100 MiB file moves at blksize 512.
 *
 * Rules:
 *  - Only an ACK that acknowledges something new moves the transfer on; a
 *    duplicate ACK is ignored (no Sorcerer's Apprentice traffic).
 *  - An ACK for part of a window (RFC 7440: the client saw a gap) restarts
 *    the window from the first unacknowledged block.
 *  - A timeout resends the OACK, or the window from the first
 *    unacknowledged block, up to `retries` times; then the transfer fails.
 */
#ifndef KIDOU_TFTP_SESSION_H
#define KIDOU_TFTP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum tftp_session_state {
	TFTP_SESSION_OACK_SENT,  /* waiting for ACK 0 */
	TFTP_SESSION_SENDING,    /* DATA in flight */
	TFTP_SESSION_DONE,       /* last block acknowledged */
	TFTP_SESSION_FAILED,     /* out of retries */
};

enum tftp_action_kind {
	TFTP_ACTION_NONE,       /* nothing to send; keep the current timer */
	TFTP_ACTION_SEND_OACK,
	TFTP_ACTION_SEND_DATA,  /* blocks [first, first + count) */
	TFTP_ACTION_DONE,
	TFTP_ACTION_FAIL,
};

struct tftp_action {
	enum tftp_action_kind kind;
	uint64_t first;   /* absolute block number, from 1 */
	unsigned count;
	bool retransmit;  /* caused by a timeout */
};

struct tftp_session {
	enum tftp_session_state state;
	uint64_t size;        /* bytes sent in all (an upper bound until
			       * tftp_session_set_size() for a stream) */
	unsigned blksize;
	unsigned windowsize;
	unsigned retries;     /* allowed retransmissions in a row */
	uint64_t n_blocks;    /* size / blksize + 1: the last is short, maybe 0 */
	uint64_t acked;       /* highest block acknowledged (0: none) */
	uint64_t sent;        /* highest block sent */
	unsigned tries;       /* consecutive timeouts */
	uint64_t retransmits; /* total, for the log */
};

void tftp_session_init(struct tftp_session *s, uint64_t size, unsigned blksize,
		       unsigned windowsize, unsigned retries);

/* The size is exact from now on: a stream (netascii) whose converted size
 * was unknown at init, where size was an upper bound, reached its end.
 * A larger size than the bound is ignored; blocks past the new last one
 * are no longer in flight. Call only while SENDING. */
void tftp_session_set_size(struct tftp_session *s, uint64_t size);

/* with_oack: options were accepted, so the transfer opens with an OACK. */
struct tftp_action tftp_session_start(struct tftp_session *s, bool with_oack);
struct tftp_action tftp_session_on_ack(struct tftp_session *s, uint16_t block);
struct tftp_action tftp_session_on_timeout(struct tftp_session *s);

/* Byte offset and length of absolute block b (1 <= b <= n_blocks). */
static inline uint64_t tftp_session_block_offset(const struct tftp_session *s,
						 uint64_t b)
{
	return (b - 1) * s->blksize;
}
static inline size_t tftp_session_block_len(const struct tftp_session *s,
					    uint64_t b)
{
	uint64_t off = tftp_session_block_offset(s, b);
	uint64_t left = s->size - off;
	return (size_t)(left < s->blksize ? left : s->blksize);
}

#endif
