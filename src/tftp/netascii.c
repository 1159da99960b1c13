/* netascii.c - see netascii.h. */
#include "tftp/netascii.h"

#include <string.h>

static bool needs_pair(uint8_t c)
{
	return c == '\n' || c == '\r';
}

size_t netascii_encode(struct netascii_carry *carry, const uint8_t *in, size_t in_len,
		       size_t *consumed, uint8_t *out, size_t out_cap)
{
	size_t i = 0, o = 0;

	if (carry->pending) {
		if (out_cap == 0) {
			*consumed = 0;
			return 0;
		}
		out[o++] = carry->byte;
		carry->pending = false;
	}
	while (i < in_len && o < out_cap) {
		size_t run = 0, room = out_cap - o;
		uint8_t c;

		/* Copy the plain run up to the next CR or LF in one go. */
		while (run < in_len - i && run < room && !needs_pair(in[i + run]))
			run++;
		if (run) {
			memcpy(out + o, in + i, run);
			i += run;
			o += run;
			continue;
		}
		c = in[i++];
		out[o++] = '\r';
		if (o < out_cap) {
			out[o++] = c == '\n' ? '\n' : '\0';
		} else {
			/* The pair straddles the end of out (a block
			 * boundary): owe its second byte. */
			carry->pending = true;
			carry->byte = c == '\n' ? '\n' : '\0';
		}
	}
	*consumed = i;
	return o;
}

uint64_t netascii_encoded_len(const uint8_t *in, size_t len)
{
	uint64_t n = len;

	for (size_t i = 0; i < len; i++)
		n += needs_pair(in[i]);
	return n;
}
