/* doctor_wire.h - the packets `kidou doctor` sends and reads, on top of the
 * DHCP and TFTP codecs (dhcp/dhcp_wire.h, tftp/tftp_wire.h).
 *
 * Pure: no sockets, clock or logs. Everything received is hostile input:
 * the IPv4/UDP framing is read with the bounds-checked reader, the DHCP
 * message with dhcp_decode(), and only what matches the doctor's own
 * DISCOVER (op, xid, chaddr) becomes an offer. */
#ifndef KIDOU_DOCTOR_WIRE_H
#define KIDOU_DOCTOR_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "dhcp/dhcp_wire.h"
#include "doctor/findings.h"

#define DOCTOR_DHCP_SERVER_PORT 67
#define DOCTOR_DHCP_CLIENT_PORT 68
#define DOCTOR_TFTP_PORT 69
#define DOCTOR_PXE_PORT 4011

/* Write the DISCOVER of one round into buf: broadcast flag set (the doctor
 * has no address to receive unicast on), chaddr mac, xid, option 60
 * "PXEClient:Arch:0000N:UNDI:00200x", option 93 arch, 94 and 97 as PXE
 * firmware sends them, and for the iPXE round option 77 "iPXE" and
 * option 175. Never a REQUEST. Returns the length or -ENOBUFS. */
int doctor_encode_discover(void *buf, size_t size, enum doctor_round round,
			   uint32_t xid, const uint8_t mac[6]);

/* A UDP datagram inside an IPv4 packet (as an AF_PACKET SOCK_DGRAM socket
 * delivers it, starting at the IP header). */
struct doctor_udp {
	uint32_t src, dst;          /* network order */
	uint16_t sport, dport;
	const uint8_t *payload;     /* inside the frame */
	size_t len;
};

/* Returns 0, or -EBADMSG when it is not a whole, unfragmented IPv4 UDP
 * datagram (truncated, bad header length, a fragment, UDP length past the
 * packet). */
int doctor_parse_ipv4_udp(const void *pkt, size_t len, struct doctor_udp *out);

/* Turn a decoded reply into an offer when it answers one of the doctor's
 * DISCOVERs: op BOOTREPLY, type OFFER, xid in [xid_base, xid_base +
 * DOCTOR_ROUNDS) (the round is xid - xid_base), chaddr mac. source is the
 * IP source (network order). Returns 0, or -ENOMSG when it is someone
 * else's packet. */
int doctor_offer_from(const struct dhcp_message *m, uint32_t source, uint32_t xid_base,
		      const uint8_t mac[6], struct doctor_offer *out);

/* One line of /proc/net/udp or /proc/net/udp6: the local port and the
 * socket's inode. Returns 0, or -EINVAL for the header or a bad line. */
int doctor_parse_proc_udp(const char *line, uint16_t *port, unsigned long *inode);

/* The RRQ asking for file's size only: octet mode, option tsize=0
 * (RFC 2349). Returns the length or -ENOBUFS. */
int doctor_encode_tsize_rrq(void *buf, size_t size, const char *file);

/* Read a TFTP server's answer to that RRQ into f (result, tsize, error).
 * Returns 0 when the answer means the file exists (the caller then aborts
 * the transfer with an ERROR), 1 when it is a TFTP error, -EBADMSG when
 * it is not TFTP. */
int doctor_read_tftp_answer(const void *buf, size_t len, struct doctor_fetch *f);

#endif
