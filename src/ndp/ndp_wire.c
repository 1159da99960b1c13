/* ndp_wire.c - see ndp_wire.h. */
#include "ndp/ndp_wire.h"

#include <errno.h>
#include <string.h>

#include "reader.h"

/* RFC 4861 4.1 and 4.2: fixed parts of the messages, type byte included. */
#define RS_HEADER_LEN 8
#define RA_HEADER_LEN 16
_Static_assert(NDP_RS_LEN == RS_HEADER_LEN + 8, "RS: header and source lladdr");
_Static_assert(NDP_QUIET_RA_LEN == RA_HEADER_LEN + 8, "RA: header and source lladdr");
/* Option lengths count units of 8 octets (RFC 4861 4.6). */
#define OPT_UNIT 8

static int decode_options(struct reader *r, struct ndp_message *m)
{
	while (r->left > 0) {
		uint8_t type, units;
		size_t body;

		if (rd_u8(r, &type) < 0 || rd_u8(r, &units) < 0)
			return -EBADMSG;
		/* 6.1.1/6.1.2: a zero length would loop forever; drop. */
		if (units == 0)
			return -EBADMSG;
		body = (size_t)units * OPT_UNIT - 2;
		if (body > r->left)
			return -EBADMSG;
		if (type == NDP_OPT_SOURCE_LLADDR && units == 1) {
			/* Ethernet: exactly one unit, 6 address bytes. Other
			 * link layers' longer addresses are skipped. */
			if (rd_bytes(r, m->source_lladdr, 6) < 0)
				return -EBADMSG;
			m->has_source_lladdr = true;
			continue;
		}
		if (type == NDP_OPT_PREFIX_INFO)
			m->n_prefixes++;
		if (rd_bytes(r, NULL, body) < 0)
			return -EBADMSG;
	}
	return 0;
}

int ndp_decode(const uint8_t *buf, size_t len, struct ndp_message *out)
{
	struct reader r = reader_init(buf, len);
	uint8_t code;
	uint16_t checksum;

	memset(out, 0, sizeof(*out));
	if (rd_u8(&r, &out->type) < 0 || rd_u8(&r, &code) < 0 || rd_be16(&r, &checksum) < 0)
		return -EBADMSG;
	if (code != 0)
		return -EBADMSG;
	switch (out->type) {
	case NDP_ROUTER_SOLICIT:
		if (len < RS_HEADER_LEN || rd_bytes(&r, NULL, 4) < 0)  /* reserved */
			return -EBADMSG;
		break;
	case NDP_ROUTER_ADVERT:
		if (len < RA_HEADER_LEN || rd_u8(&r, &out->cur_hop_limit) < 0 ||
		    rd_u8(&r, &out->flags) < 0 || rd_be16(&r, &out->router_lifetime) < 0 ||
		    rd_bytes(&r, NULL, 8) < 0)  /* reachable time, retransmit timer */
			return -EBADMSG;
		break;
	default:
		return -EBADMSG;
	}
	return decode_options(&r, out);
}

/* A message of header_len bytes, all zero but its type, followed by the
 * source link-layer address option (8 bytes). */
static int encode_with_source_lladdr(uint8_t type, size_t header_len, const uint8_t lladdr[6],
				     uint8_t *buf, size_t size)
{
	size_t len = header_len + 8;

	if (size < len)
		return -ENOBUFS;
	memset(buf, 0, len);
	buf[0] = type;
	buf[header_len] = NDP_OPT_SOURCE_LLADDR;
	buf[header_len + 1] = 1;  /* in units of 8 bytes */
	memcpy(buf + header_len + 2, lladdr, 6);
	return (int)len;
}

int ndp_encode_quiet_ra(const uint8_t lladdr[6], uint8_t *buf, size_t size)
{
	/* [1] code 0, [2..3] checksum (kernel), [4] cur hop limit 0
	 * (unspecified), [5] flags: M=0 O=0, [6..7] router lifetime 0: not a
	 * default router, [8..15] reachable time and retrans timer 0:
	 * unspecified. */
	return encode_with_source_lladdr(NDP_ROUTER_ADVERT, RA_HEADER_LEN, lladdr, buf, size);
}

int ndp_encode_rs(const uint8_t lladdr[6], uint8_t *buf, size_t size)
{
	/* [1] code 0, [2..3] checksum (kernel), [4..7] reserved */
	return encode_with_source_lladdr(NDP_ROUTER_SOLICIT, RS_HEADER_LEN, lladdr, buf, size);
}
