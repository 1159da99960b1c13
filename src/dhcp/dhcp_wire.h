/* dhcp_wire.h - the DHCPv4 message codec (RFC 2131, RFC 2132, RFC 3396).
 *
 * Pure: no sockets, clock, database or logging. The decoder checks every
 * length before it reads, reassembles options that appear several times
 * (RFC 3396: concatenated in the order options field, file, sname), follows
 * option overload (52) exactly one level, and keeps each option's bytes in
 * the decoded message itself, so the datagram buffer may be reused at once.
 * The encoder always leaves room for the END option and splits values
 * longer than 255 bytes into several instances (RFC 3396). */
#ifndef KIDOU_DHCP_WIRE_H
#define KIDOU_DHCP_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DHCP_FIXED_LEN 236        /* op .. file, before the magic cookie */
#define DHCP_MAGIC 0x63825363u    /* RFC 2131 section 3 */
#define DHCP_CHADDR_LEN 16
#define DHCP_SNAME_LEN 64
#define DHCP_FILE_LEN 128
/* RFC 2131: every client accepts at least 576-byte IP datagrams, i.e. a
 * 548-byte DHCP message. */
#define DHCP_MIN_MAX_MESSAGE 576
#define DHCP_UDP_IP_OVERHEAD 28
/* Reassembled option bytes kept per message; a message carrying more is
 * refused (no boot client sends anything near it). */
#define DHCP_OPTION_SPACE 4096

enum dhcp_op {
	DHCP_OP_REQUEST = 1,  /* BOOTREQUEST: client -> server */
	DHCP_OP_REPLY = 2,    /* BOOTREPLY: server -> client */
};

enum dhcp_message_type {      /* option 53 */
	DHCP_DISCOVER = 1,
	DHCP_OFFER = 2,
	DHCP_REQUEST = 3,
	DHCP_DECLINE = 4,
	DHCP_ACK = 5,
	DHCP_NAK = 6,
	DHCP_RELEASE = 7,
	DHCP_INFORM = 8,
};

enum dhcp_option_code {
	DHCP_OPT_PAD = 0,
	DHCP_OPT_SUBNET_MASK = 1,
	DHCP_OPT_ROUTER = 3,
	DHCP_OPT_DNS = 6,
	DHCP_OPT_HOSTNAME = 12,
	DHCP_OPT_DOMAIN_NAME = 15,
	DHCP_OPT_BROADCAST = 28,
	DHCP_OPT_VENDOR = 43,          /* vendor specific: PXE discovery control */
	DHCP_OPT_REQUESTED_IP = 50,
	DHCP_OPT_LEASE_TIME = 51,
	DHCP_OPT_OVERLOAD = 52,
	DHCP_OPT_MESSAGE_TYPE = 53,
	DHCP_OPT_SERVER_ID = 54,
	DHCP_OPT_PARAM_REQUEST = 55,
	DHCP_OPT_MESSAGE = 56,
	DHCP_OPT_MAX_MESSAGE = 57,
	DHCP_OPT_RENEWAL_T1 = 58,
	DHCP_OPT_REBINDING_T2 = 59,
	DHCP_OPT_VENDOR_CLASS = 60,
	DHCP_OPT_CLIENT_ID = 61,
	DHCP_OPT_TFTP_SERVER = 66,
	DHCP_OPT_BOOTFILE = 67,
	DHCP_OPT_USER_CLASS = 77,
	DHCP_OPT_RELAY_AGENT = 82,     /* RFC 3046 */
	DHCP_OPT_CLIENT_ARCH = 93,     /* RFC 4578 */
	DHCP_OPT_CLIENT_NDI = 94,
	DHCP_OPT_CLIENT_UUID = 97,
	DHCP_OPT_IPXE_ENCAP = 175,
	DHCP_OPT_END = 255,
};

/* Where one reassembled option's bytes live in msg->optdata. */
struct dhcp_option_slot {
	uint16_t offset;
	uint16_t len;
	bool present;
};

struct dhcp_message {
	uint8_t op;                        /* enum dhcp_op */
	uint8_t htype;                     /* hardware type, 1 = Ethernet */
	uint8_t hlen;                      /* hardware address length, <= 16 */
	uint8_t hops;                      /* relay hops */
	uint32_t xid;                      /* transaction id, host order */
	uint16_t secs;                     /* seconds since the client began */
	uint16_t flags;                    /* bit 15: broadcast reply wanted */
	uint32_t ciaddr, yiaddr, siaddr, giaddr; /* network byte order */
	uint8_t chaddr[DHCP_CHADDR_LEN];   /* client hardware address */
	uint8_t sname[DHCP_SNAME_LEN];     /* server name, unless overloaded */
	uint8_t file[DHCP_FILE_LEN];       /* boot file name, unless overloaded */
	uint8_t overload;                  /* option 52 value: 1 file, 2 sname, 3 both */
	struct dhcp_option_slot opt[256];  /* by code; PAD and END never present */
	uint16_t optdata_len;
	uint8_t optdata[DHCP_OPTION_SPACE];
};

#define DHCP_FLAG_BROADCAST 0x8000

/* Decode a BOOTP/DHCP message. Returns 0, or -EBADMSG when it is
 * truncated, lacks the magic cookie, has hlen > 16, an option running past
 * its field, or no END option in the options field. */
int dhcp_decode(const void *buf, size_t len, struct dhcp_message *out);

/* The option's bytes and length, or NULL when absent or shorter than
 * min_len (so every caller states the length it needs). */
const uint8_t *dhcp_option(const struct dhcp_message *m, uint8_t code,
			   size_t min_len, size_t *len);
/* Option 53, or 0 when absent or malformed (length must be exactly 1). */
uint8_t dhcp_message_type(const struct dhcp_message *m);
/* A 4-byte address option (network order) into *out; -ENOENT if absent or
 * not exactly 4 bytes. */
int dhcp_option_addr(const struct dhcp_message *m, uint8_t code, uint32_t *out);

/* --- encoding a reply --- */

struct dhcp_writer {
	uint8_t *buf;
	size_t size;     /* usable bytes, END included */
	size_t len;      /* bytes written so far */
	bool overflow;   /* an option did not fit; it was left out whole */
};

/* Start a message in buf: writes the fixed header from m (op .. file) and
 * the magic cookie. size is the most the peer accepts (at least 300, the
 * BOOTP minimum). Returns 0 or -ENOBUFS. */
int dhcp_writer_init(struct dhcp_writer *w, void *buf, size_t size,
		     const struct dhcp_message *m);
/* Append an option; values over 255 bytes are split (RFC 3396). If it does
 * not fit before END, nothing is written and -ENOBUFS returned. */
int dhcp_writer_option(struct dhcp_writer *w, uint8_t code, const void *data,
		       size_t len);
int dhcp_writer_u8(struct dhcp_writer *w, uint8_t code, uint8_t v);
int dhcp_writer_be32(struct dhcp_writer *w, uint8_t code, uint32_t v_host);
/* Write END and pad to the 300-byte BOOTP minimum; returns the length. */
size_t dhcp_writer_finish(struct dhcp_writer *w);

const char *dhcp_message_type_name(uint8_t type);

#endif
