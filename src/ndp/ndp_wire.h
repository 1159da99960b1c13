/* ndp_wire.h - the two IPv6 Neighbor Discovery messages kidou speaks:
 * router solicitation (ICMPv6 type 133) and router advertisement (134),
 * RFC 4861 section 4.1 and 4.2. Pure codec: no sockets, clock or logs.
 *
 * Why a boot server speaks them at all: iPXE, after DHCPv4, waits for an
 * IPv6 router advertisement (about 13 s of solicitations with backoff)
 * before it loads its boot file. One advertisement that configures nothing
 * (router lifetime 0, no prefixes, M and O clear) ends that wait at once. */
#ifndef KIDOU_NDP_WIRE_H
#define KIDOU_NDP_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NDP_ROUTER_SOLICIT 133
#define NDP_ROUTER_ADVERT 134

#define NDP_OPT_SOURCE_LLADDR 1  /* RFC 4861 4.6.1 */
#define NDP_OPT_PREFIX_INFO 3

#define NDP_RA_FLAG_MANAGED 0x80 /* M: addresses from DHCPv6 */
#define NDP_RA_FLAG_OTHER 0x40   /* O: other configuration from DHCPv6 */

/* RFC 4861 6.1: NDP messages must arrive with hop limit 255, proving they
 * were not forwarded by a router. */
#define NDP_HOP_LIMIT 255

/* Size of the advertisement ndp_encode_quiet_ra() writes: the 16-byte RA
 * header and one 8-byte source link-layer address option. */
#define NDP_QUIET_RA_LEN 24
/* Size of the solicitation ndp_encode_rs() writes: 8-byte header, lladdr. */
#define NDP_RS_LEN 16

struct ndp_message {
	uint8_t type;              /* NDP_ROUTER_SOLICIT or NDP_ROUTER_ADVERT */
	bool has_source_lladdr;    /* an Ethernet (6-byte) source link-layer option */
	uint8_t source_lladdr[6];
	/* router advertisements only */
	uint8_t cur_hop_limit;
	uint8_t flags;             /* NDP_RA_FLAG_* and the rest of the byte */
	uint16_t router_lifetime;  /* seconds; 0: not a default router */
	unsigned n_prefixes;       /* prefix information options */
};

/* Decode one ICMPv6 message (starting at its type byte, as a raw ICMPv6
 * socket delivers it) that must be a router solicitation or advertisement,
 * validated as RFC 4861 6.1.1 and 6.1.2 ask of the message itself: code 0,
 * long enough, every option of non-zero length lying wholly inside the
 * message. The hop limit and source address checks need the IPv6 header and
 * are the caller's. Returns 0, or -EBADMSG (with *out undefined). */
int ndp_decode(const uint8_t *buf, size_t len, struct ndp_message *out);

/* Write the advertisement that says "there is no IPv6 router here": router
 * lifetime 0, M=0, O=0, hop limit, reachable time and retransmit timer
 * unspecified (0), no prefixes, and the sender's Ethernet address as the
 * source link-layer option. The checksum is left 0 for the kernel to fill
 * (raw ICMPv6 sockets always do, RFC 3542 3.1). Returns NDP_QUIET_RA_LEN,
 * or -ENOBUFS when size is smaller. */
int ndp_encode_quiet_ra(const uint8_t lladdr[6], uint8_t *buf, size_t size);

/* Write a router solicitation with the sender's Ethernet address, as kidou
 * sends one before it first advertises on an interface: a router there
 * answers it (RFC 4861 6.2.6), and kidou then stays silent. Checksum as
 * above. Returns NDP_RS_LEN or -ENOBUFS. */
int ndp_encode_rs(const uint8_t lladdr[6], uint8_t *buf, size_t size);

#endif
