/* netascii.h - the netascii encoding, as a pure streaming codec.
 *
 * RFC 1350 (mode "netascii") refers to RFC 764 (Telnet): a line ends with
 * CR LF, and a CR that does not end a line is sent as CR NUL. kidou keeps
 * text files with Unix line ends, so on the way out each LF becomes CR LF
 * and each CR becomes CR NUL; every other byte passes unchanged.
 *
 * The encoder converts any slice of input into any amount of output room,
 * so a transfer can convert one block at a time: when a pair does not fit,
 * its CR is written and the second byte is carried into the next call.
 * No sockets, files, clock or logs here: it is unit-tested and fuzzed as
 * is. */
#ifndef KIDOU_NETASCII_H
#define KIDOU_NETASCII_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What one call leaves owed to the next. */
struct netascii_carry {
	bool pending;  /* the second byte of a pair is still to be written */
	uint8_t byte;  /* that byte: '\n' (from LF) or '\0' (from CR) */
};

/* Convert from in (in_len bytes) into out (out_cap bytes), starting with
 * whatever carry owes. Stops when out is full or the input is used up.
 * Sets *consumed to the input bytes used and returns the bytes written;
 * the output is full (returns out_cap) whenever input or a carried byte
 * was left over. */
size_t netascii_encode(struct netascii_carry *carry, const uint8_t *in, size_t in_len,
		       size_t *consumed, uint8_t *out, size_t out_cap);

/* The encoded length of in: one extra byte per CR and per LF. */
uint64_t netascii_encoded_len(const uint8_t *in, size_t len);

#endif
