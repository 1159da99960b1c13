/* fuzz_ndp_wire.c - ndp_decode() on arbitrary ICMPv6 messages.
 *
 * Beyond "does not crash": only router solicitations and advertisements
 * with code 0 and their full fixed part decode; an accepted message's
 * options tile it exactly (so a decoder that skipped a byte would be
 * caught by the trailing-byte rule); a source link-layer address reported
 * is the one at the last Ethernet-sized option 1; and the advertisement
 * and the solicitation kidou sends built from that address decode back. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "ndp/ndp_wire.h"

/* An independent walk of the options: the last Ethernet option 1 wins,
 * as in the decoder (later ones overwrite). */
static void check_options(const uint8_t *buf, size_t size, size_t off,
			  const struct ndp_message *m)
{
	bool seen = false;
	uint8_t mac[6];
	unsigned prefixes = 0;

	while (off < size) {
		CHECK(off + 2 <= size);
		CHECK(buf[off + 1] != 0);
		CHECK(off + (size_t)buf[off + 1] * 8 <= size);
		if (buf[off] == 1 && buf[off + 1] == 1) {
			memcpy(mac, buf + off + 2, 6);
			seen = true;
		}
		if (buf[off] == 3)
			prefixes++;
		off += (size_t)buf[off + 1] * 8;
	}
	CHECK(off == size);
	CHECK(m->has_source_lladdr == seen);
	if (seen)
		CHECK(memcmp(m->source_lladdr, mac, 6) == 0);
	CHECK(m->n_prefixes == prefixes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = malloc(size ? size : 1);
	uint8_t ra[NDP_QUIET_RA_LEN], rs[NDP_RS_LEN];
	struct ndp_message m, back;
	int r;

	if (!buf)
		return 0;
	if (size)
		memcpy(buf, data, size);
	r = ndp_decode(buf, size, &m);
	CHECK(r == 0 || r == -EBADMSG);
	if (r < 0)
		goto out;
	CHECK(m.type == NDP_ROUTER_SOLICIT || m.type == NDP_ROUTER_ADVERT);
	CHECK(buf[0] == m.type && buf[1] == 0);
	if (m.type == NDP_ROUTER_SOLICIT) {
		CHECK(size >= 8);
		check_options(buf, size, 8, &m);
	} else {
		CHECK(size >= 16);
		CHECK(m.cur_hop_limit == buf[4] && m.flags == buf[5]);
		CHECK(m.router_lifetime == ((buf[6] << 8) | buf[7]));
		check_options(buf, size, 16, &m);
	}
	if (m.has_source_lladdr) {
		CHECK(ndp_encode_quiet_ra(m.source_lladdr, ra, sizeof(ra)) == NDP_QUIET_RA_LEN);
		CHECK(ndp_decode(ra, sizeof(ra), &back) == 0);
		CHECK(back.type == NDP_ROUTER_ADVERT && back.router_lifetime == 0);
		CHECK(back.flags == 0 && back.n_prefixes == 0 && back.has_source_lladdr);
		CHECK(memcmp(back.source_lladdr, m.source_lladdr, 6) == 0);
		CHECK(ndp_encode_rs(m.source_lladdr, rs, sizeof(rs)) == NDP_RS_LEN);
		CHECK(ndp_decode(rs, sizeof(rs), &back) == 0);
		CHECK(back.type == NDP_ROUTER_SOLICIT && back.has_source_lladdr);
		CHECK(memcmp(back.source_lladdr, m.source_lladdr, 6) == 0);
	}
out:
	free(buf);
	return 0;
}
