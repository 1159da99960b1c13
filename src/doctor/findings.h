/* findings.h - `kidou doctor`: what was observed on an interface, and the
 * plain-language findings drawn from it.
 *
 * Pure: doctor.c (the I/O) fills a struct doctor_obs; doctor_findings()
 * turns it into sentences an operator can act on, with no sockets, clock or
 * files, so that every finding is unit-tested from a hand-made observation.
 * Every string in an observation that came off the wire is already escaped
 * (doctor_escape()) when it is stored. */
#ifndef KIDOU_DOCTOR_FINDINGS_H
#define KIDOU_DOCTOR_FINDINGS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* Bounds on what one run keeps: a segment with more answers than this is
 * already diagnosed (and the extra ones are counted, not stored). */
#define DOCTOR_MAX_OFFERS 24
#define DOCTOR_MAX_RAS 8
#define DOCTOR_MAX_FETCHES 8
#define DOCTOR_MAX_FINDINGS 32
#define DOCTOR_TEXT 192          /* an escaped string from the wire */
#define DOCTOR_FINDING_TEXT 512
/* IPv4 (20) + UDP (8) + TFTP DATA header (4): blksize = MTU - 32 fits one
 * packet. */
#define DOCTOR_TFTP_OVERHEAD 32

/* The three DISCOVERs the doctor sends, as three kinds of client. */
enum doctor_round {
	DOCTOR_ROUND_BIOS,   /* PXE firmware, arch 0 (RFC 4578) */
	DOCTOR_ROUND_UEFI,   /* UEFI x64 PXE, arch 7 */
	DOCTOR_ROUND_IPXE,   /* iPXE (option 77 "iPXE", option 175), arch 7 */
	DOCTOR_ROUNDS,
};

/* One OFFER as received: one per server and round. */
struct doctor_offer {
	enum doctor_round round;
	uint32_t server;            /* option 54, else the IP source; network order */
	uint32_t source;            /* IP source address, network order */
	uint32_t yiaddr, siaddr;    /* network order */
	bool proxy;                 /* yiaddr 0 and option 60 "PXEClient": proxyDHCP */
	char file[DOCTOR_TEXT];     /* the file field, escaped; "" when empty */
	bool has_vendor_class;      /* option 60 */
	char vendor_class[DOCTOR_TEXT];
	int vendor_len;             /* option 43's length, -1 when absent */
	bool has_tftp_server;       /* option 66 */
	char tftp_server[DOCTOR_TEXT];
	bool has_bootfile;          /* option 67 */
	char bootfile[DOCTOR_TEXT];
};

/* One router advertisement (ICMPv6 134) heard on the interface. */
struct doctor_ra {
	struct in6_addr source;     /* link-local, RFC 4861 6.1.2 */
	uint16_t router_lifetime;   /* seconds; 0: not a default router */
	uint8_t flags;              /* M and O bits (NDP_RA_FLAG_*) */
	unsigned n_prefixes;
};

/* Who holds one of the UDP ports a boot server needs, on this machine. */
enum doctor_port_state {
	DOCTOR_PORT_FREE,
	DOCTOR_PORT_KIDOU,          /* a process named kidou */
	DOCTOR_PORT_OTHER,          /* some other named process */
	DOCTOR_PORT_UNKNOWN,        /* bound, but no process here could be named */
};

struct doctor_port {
	uint16_t port;
	enum doctor_port_state state;
	int pid;                    /* > 0 when named */
	char holder[32];            /* /proc/PID/comm, escaped */
};

/* The outcome of asking a TFTP server for an offered file's size. */
enum doctor_fetch_result {
	DOCTOR_FETCH_EXISTS,        /* OACK (or DATA): the server will send it */
	DOCTOR_FETCH_NOT_FOUND,     /* TFTP error 1 */
	DOCTOR_FETCH_ERROR,         /* another TFTP error */
	DOCTOR_FETCH_NO_ANSWER,     /* nothing within the wait */
	DOCTOR_FETCH_BAD_ANSWER,    /* an answer that is not TFTP */
	DOCTOR_FETCH_NO_ADDRESS,    /* not tried: the interface has no IPv4 address */
	DOCTOR_FETCH_NOT_TFTP,      /* not tried: a URL (HTTP boot, iPXE script) */
	DOCTOR_FETCH_NO_SERVER,     /* not tried: option 66 is a name, no siaddr */
};

struct doctor_fetch {
	uint32_t server;            /* network order; 0 when unknown */
	char file[DOCTOR_TEXT];     /* escaped */
	enum doctor_fetch_result result;
	bool has_tsize;
	uint64_t tsize;
	uint16_t error_code;
	char error_message[DOCTOR_TEXT];
};

struct doctor_obs {
	char iface[32];
	uint8_t chaddr[6];          /* the MAC the DISCOVERs carried */
	unsigned mtu;               /* 0 when unknown */
	uint32_t iface_addr;        /* network order; 0: none */
	unsigned max_blksize;       /* [tftp] max-blksize in effect */
	bool max_blksize_from_config;
	enum ipv6_ra_mode ipv6_ra;  /* [dhcp] ipv6-ra in effect */
	unsigned wait_sec;          /* per round */
	unsigned rounds_sent;       /* DISCOVERs sent (one per round) */
	struct doctor_offer offers[DOCTOR_MAX_OFFERS];
	size_t n_offers;
	size_t n_offers_dropped;    /* beyond DOCTOR_MAX_OFFERS */
	bool ra_listened;           /* the ICMPv6 socket could be opened */
	bool rs_sent;               /* a router solicitation went out (not
				     * beside a kidou on this machine) */
	struct doctor_ra ras[DOCTOR_MAX_RAS];
	size_t n_ras;
	struct doctor_port ports[3]; /* 67, 69, 4011 */
	size_t n_ports;
	struct doctor_fetch fetches[DOCTOR_MAX_FETCHES];
	size_t n_fetches;
};

enum doctor_severity {
	DOCTOR_PROBLEM,             /* machines will fail to boot, or boot wrongly */
	DOCTOR_WARNING,             /* may go wrong on some networks or clients */
	DOCTOR_NOTE,                /* worth knowing; nothing to fix */
};

struct doctor_finding {
	enum doctor_severity severity;
	const char *code;           /* stable identifier, e.g. "several-dhcp-servers" */
	char text[DOCTOR_FINDING_TEXT];
};

/* Draw the findings from o into out (at most max); returns how many. */
size_t doctor_findings(const struct doctor_obs *o, struct doctor_finding *out, size_t max);

const char *doctor_severity_name(enum doctor_severity s);
/* "BIOS (arch 0)", "UEFI x64 (arch 7)", "iPXE". */
const char *doctor_round_name(enum doctor_round r);

/* The boot file an offer names (option 67, else the file field), or "". */
const char *doctor_offer_bootfile(const struct doctor_offer *of);
/* The TFTP server an offer points at, network order: option 66 when it is
 * a dotted IPv4 address, else siaddr, else (with no option 66) the server
 * itself. 0 when option 66 names a host by name and siaddr is 0. */
uint32_t doctor_offer_tftp_server(const struct doctor_offer *of);

/* Copy len bytes of s (stopping at NUL) into out, printable ASCII kept,
 * '"' and '\\' and every other byte as \xHH, truncated to fit outsize. */
void doctor_escape(char *out, size_t outsize, const void *s, size_t len);

#endif
