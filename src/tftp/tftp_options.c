/* tftp_options.c - see tftp_options.h. */
#include "tftp/tftp_options.h"

#include <errno.h>

#include "util.h"

/* A decimal number of any size; one too large for 64 bits reads as
 * UINT64_MAX, which the rules below clamp or ignore like any large value. */
static int parse_number(const char *s, uint64_t *v)
{
	int r = parse_uint(s, 0, UINT64_MAX, v);

	if (r == -ERANGE) {
		*v = UINT64_MAX;
		return 0;
	}
	return r;
}

int tftp_options_negotiate(const struct tftp_option *options, size_t n_options,
			   const struct tftp_limits *limits,
			   struct tftp_negotiated *out)
{
	struct tftp_negotiated n = {
		.blksize = TFTP_DEFAULT_BLKSIZE,
		.windowsize = 1,
	};
	bool seen_blksize = false, seen_windowsize = false, seen_timeout = false,
	     seen_tsize = false;

	for (size_t i = 0; i < n_options; i++) {
		const char *name = options[i].name, *value = options[i].value;
		uint64_t v;

		if (ascii_streq_nocase(name, "blksize")) {
			if (seen_blksize)
				continue;
			seen_blksize = true;
			if (parse_number(value, &v) < 0)
				goto refuse;
			if (v < TFTP_BLKSIZE_MIN)
				continue;  /* RFC 2348: invalid, ignore */
			n.blksize = (unsigned)MIN(v, (uint64_t)limits->max_blksize);
			n.has_blksize = true;
		} else if (ascii_streq_nocase(name, "windowsize")) {
			if (seen_windowsize)
				continue;
			seen_windowsize = true;
			if (parse_number(value, &v) < 0)
				goto refuse;
			if (v < 1)
				continue;
			n.windowsize = (unsigned)MIN(v, (uint64_t)limits->max_windowsize);
			n.has_windowsize = true;
		} else if (ascii_streq_nocase(name, "timeout")) {
			if (seen_timeout)
				continue;
			seen_timeout = true;
			if (parse_number(value, &v) < 0)
				goto refuse;
			if (v < 1 || v > 255)
				continue;  /* RFC 2349: out of range, ignore */
			n.timeout_sec = (unsigned)v;
			n.has_timeout = true;
		} else if (ascii_streq_nocase(name, "tsize")) {
			if (seen_tsize)
				continue;
			seen_tsize = true;
			if (parse_number(value, &v) < 0)
				goto refuse;
			n.has_tsize = true;
		}
		continue;
refuse:
		n.refused = name;
		*out = n;
		return -EINVAL;
	}
	*out = n;
	return 0;
}
