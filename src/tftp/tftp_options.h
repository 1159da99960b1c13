/* tftp_options.h - option negotiation policy (RFC 2347, 2348, 2349, 7440).
 *
 * Pure: maps the options a client asked for, and the server's limits, to
 * what the transfer will use and what the OACK will say.
 *
 *   blksize     8..65464; larger is clamped to the limit, smaller ignored
 *   timeout     1..255 seconds; out of range ignored
 *   tsize       RRQ carries 0; the OACK carries the file size
 *   windowsize  1..65535; larger is clamped to the limit, 0 ignored
 *
 * Option names are case-insensitive; unknown options are ignored. A known
 * option whose value is not a decimal number is refused (error 8), since
 * the client meant something kidou cannot honour. A known option given
 * twice uses the first occurrence. */
#ifndef KIDOU_TFTP_OPTIONS_H
#define KIDOU_TFTP_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "tftp/tftp_wire.h"

#define TFTP_DEFAULT_BLKSIZE 512
#define TFTP_BLKSIZE_MIN 8
#define TFTP_BLKSIZE_MAX 65464

struct tftp_limits {
	unsigned max_blksize;    /* TFTP_BLKSIZE_MIN..TFTP_BLKSIZE_MAX */
	unsigned max_windowsize; /* >= 1 */
};

struct tftp_negotiated {
	unsigned blksize;     /* block size in use (512 unless negotiated) */
	unsigned windowsize;  /* blocks per window (1 unless negotiated) */
	unsigned timeout_sec; /* 0 unless negotiated */
	bool has_blksize, has_windowsize, has_timeout, has_tsize; /* go in OACK */
	/* name of the first refused option, when the result is -EINVAL */
	const char *refused;
};

/* Returns 0, or -EINVAL with out->refused naming the option to refuse. */
int tftp_options_negotiate(const struct tftp_option *options, size_t n_options,
			   const struct tftp_limits *limits,
			   struct tftp_negotiated *out);

static inline bool tftp_negotiated_any(const struct tftp_negotiated *n)
{
	return n->has_blksize || n->has_windowsize || n->has_timeout || n->has_tsize;
}

#endif
