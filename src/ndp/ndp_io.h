/* ndp_io.h - router advertisements for boot segments.
 *
 * iPXE, after DHCPv4, solicits an IPv6 router and waits about 13 s for an
 * answer before it loads its boot file, on every IPv4-only network. On the
 * interfaces kidou serves DHCP on, this adapter answers each router
 * solicitation with an advertisement that configures nothing (router
 * lifetime 0, no prefixes, M=0, O=0; see ndp_wire.h), sent from the
 * interface's link-local address with hop limit 255, and sends one such
 * advertisement when it starts (and when an interface appears).
 *
 * It never disturbs a real IPv6 network: in mode auto it first solicits a
 * router itself and listens for a second before it says anything on an
 * interface, and once it hears an advertisement from anyone else there, it
 * stays silent (and logs that once). Mode always answers regardless; mode
 * off opens no socket at all.
 *
 * A solicitation from a link-local address is answered by unicast to that
 * address (RFC 4861 6.2.6 allows it), which needs no rate limit, so a rack
 * of machines soliciting at once each get their answer at once. One from
 * the unspecified address is answered to all nodes, at most once every
 * MIN_DELAY_BETWEEN_RAS (3 s, RFC 4861 10), later ones coalesced into the
 * next allowed one.
 *
 * Every solicitation from a machine is reported to boot_events. */
#ifndef KIDOU_NDP_IO_H
#define KIDOU_NDP_IO_H

#include <stdint.h>

#include "boot/boot_events.h"
#include "config.h"
#include "loop.h"

struct ndp_io;

struct ndp_stats {
	uint64_t solicitations;     /* valid RS received on a served interface */
	uint64_t advertisements;    /* RAs sent */
	uint64_t foreign_adverts;   /* RAs heard from other routers */
	uint64_t dropped;           /* malformed, wrong hop limit, wrong source */
};

/* Open the raw ICMPv6 socket for cfg's DHCP interfaces. Returns 0 with
 * *ret NULL when cfg->dhcp.ipv6_ra is off or DHCP is off. events may be
 * NULL. Raw sockets need CAP_NET_RAW: in mode auto a refusal is logged and
 * kidou runs without advertisements (*ret NULL, 0); in mode always it is
 * an error. */
int ndp_io_new(struct loop *loop, const struct config *cfg, struct boot_events *events,
	       struct ndp_io **ret);

/* New interfaces or mode (SIGHUP). Interfaces where another router was
 * heard are forgotten: a reload listens afresh. */
void ndp_io_reconfigure(struct ndp_io *n, const struct config *cfg);

const struct ndp_stats *ndp_io_stats(const struct ndp_io *n);

/* NULL is a no-op. */
void ndp_io_free(struct ndp_io *n);

#endif
