/* dhcp_server.h - DHCP policy: one decoded request in, one decision out.
 *
 * No sockets, clock or logging: the adapter (dhcp_io) passes the receiving
 * interface's address and the time, writes the lease change the outcome
 * carries durably, then sends the reply to the destination it names, and
 * logs the outcome. Tests and fuzzers call dhcp_server_handle() directly.
 *
 * Client states (RFC 2131 section 4.3.2): a REQUEST carrying a server
 * identifier is SELECTING (ours: bind; someone else's: let the offer go);
 * without one it is INIT-REBOOT when it names an address in option 50,
 * else RENEWING/REBINDING with ciaddr. A client kidou has no record of
 * (no lease, offer or past lease in any pool, no fixed address) gets no
 * answer to those two: "If the DHCP server has no record of this client,
 * then it MUST remain silent" (4.3.2), else another server's clients, or
 * an attacker's INIT-REBOOTs, would take the pool. With [dhcp]
 * authoritative = yes (kidou is the only server; its database may be
 * lost) a stranger is treated as a known client instead. For a known
 * client: an address outside its network is NAKed; one in our range but
 * held by another client is NAKed; one we know nothing of is ignored
 * (another server may own it), or NAKed when authoritative.
 *
 * In proxy mode ([dhcp] mode = proxy) no address is ever handed out: only
 * network boot firmware is answered, with boot information alone (see
 * handle_proxy() for the exchange); every other message "passes". */
#ifndef KIDOU_DHCP_SERVER_H
#define KIDOU_DHCP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boot/boot_select.h"
#include "config.h"
#include "dhcp/dhcp_pool.h"
#include "dhcp/dhcp_wire.h"
#include "store/lease_store.h"

/* Replies never exceed an Ethernet MTU minus IP and UDP headers. */
#define DHCP_REPLY_MAX 1472

struct dhcp_server;

/* Where the request arrived. Addresses in host byte order. */
struct dhcp_request_ctx {
	uint32_t iface_addr;  /* our address on the receiving interface */
	uint32_t iface_mask;
	const uint32_t *own_addrs;  /* every address of this machine (never */
	size_t n_own_addrs;         /* handed out); may be NULL/0 */
	int64_t now;          /* Unix time, seconds */
	bool on_pxe_port;     /* came to port 4011 (proxy mode's second socket) */
	uint32_t src_addr;    /* the sender, for answers on port 4011 */
	uint16_t src_port;
};

enum dhcp_dest {
	DHCP_DEST_NONE,       /* no reply */
	DHCP_DEST_BROADCAST,  /* 255.255.255.255:68 on the receiving interface */
	DHCP_DEST_RELAY,      /* giaddr:67 */
	DHCP_DEST_CLIENT,     /* ciaddr:68 */
	DHCP_DEST_SOURCE,     /* back to the sender, from port 4011 (proxy mode) */
};

enum dhcp_store_op {
	DHCP_STORE_NONE,
	DHCP_STORE_PUT,       /* write `lease` before the reply leaves */
};

struct dhcp_outcome {
	const char *event;        /* "offer", "ack", "nak", "ignore", "release", ... */
	const char *reason;       /* why, for ignore/nak/drop */
	uint8_t request_type;     /* option 53 of the request */
	uint32_t ip;              /* address offered/acked/released, host order */
	const char *host;         /* matching [host NAME], or NULL */
	struct boot_client boot_client;
	struct boot_choice boot;
	char boot_target[CONFIG_BOOT_TARGET_MAX + 1]; /* boot.target with ${...} expanded */

	enum dhcp_store_op store;
	struct lease_record lease;
	/* With store: the address's slot before and after this decision, for
	 * dhcp_server_undo() when the lease cannot be written. */
	struct dhcp_slot_image undo_before, undo_after;

	/* A DECLINE: the pool it hit, its size and its declined addresses
	 * (for the adapter's warning when declines eat the pool; exact when
	 * over a tenth of the pool, else an upper bound). */
	const char *pool_subnet;  /* "" for [dhcp]; NULL unless a decline */
	uint32_t pool_size, pool_declined;

	enum dhcp_dest dest;
	uint32_t dest_addr;       /* host order */
	uint16_t dest_port;
	size_t reply_len;
	uint8_t reply[DHCP_REPLY_MAX];
};

/* Build the policy from cfg (which must outlive the server): one pool per
 * subnet with a range; fixed host addresses are reserved in their pools. */
int dhcp_server_new(const struct config *cfg, struct dhcp_server **ret);
void dhcp_server_free(struct dhcp_server *s);

/* The port ${http} in boot targets names: the HTTP server's bound port
 * (the configured one is 0 when the kernel picks). */
void dhcp_server_set_http_port(struct dhcp_server *s, int port);

/* Other instances serve the same pools from one shared database: learn
 * from their clients' REQUESTs which addresses they are binding, and
 * start handing out never-used addresses at a place of this instance's
 * own (seed, see dhcp_pool_set_fresh_start()). */
void dhcp_server_set_shared(struct dhcp_server *s, bool shared, uint32_t seed);

/* Restore a stored lease (at startup or after a reload). Leases outside
 * every configured range are ignored; returns 0 either way. */
int dhcp_server_restore(struct dhcp_server *s, const struct lease_record *r);

/* Decide. Returns 0 when the request was understood (out says what to do,
 * maybe nothing), or -EBADMSG when it is to be dropped (out->reason says
 * why). */
int dhcp_server_handle(struct dhcp_server *s, const struct dhcp_message *m,
		       const struct dhcp_request_ctx *ctx, struct dhcp_outcome *out);

/* The store could not write out->lease: put its address's slot back as
 * it was before the decision, unless something changed it since. The ACK
 * is never sent, so the address must not stay held for this client (it
 * would be refused to the next one as "address-taken"). Returns whether
 * the slot was put back. */
bool dhcp_server_undo(struct dhcp_server *s, const struct dhcp_outcome *out);

/* A shared store refused out's claim: another instance's client holds
 * the address (holder: its lease as stored). Call after
 * dhcp_server_undo(). The slot now mirrors the holder, so the address is
 * not chosen again until the holder's lease ends, and an ACK in out
 * becomes a NAK to the same destination rules (RFC 2131 4.3.2: the
 * requested address is not available; the client restarts with a
 * DISCOVER and is offered another). Anything else gets no reply. */
void dhcp_server_claim_lost(struct dhcp_server *s, struct dhcp_outcome *out,
			    const struct lease_record *holder);

/* On reload: copy every address's state (bound, offered, released,
 * declined) from the old server into the new one, for the addresses that
 * its pools still hold and that are not a fixed host's now. The lease
 * store is not read again: memory already holds every lease, including
 * those whose commit is still in flight. */
void dhcp_server_carry_leases(struct dhcp_server *to, const struct dhcp_server *from);

/* Each pool: its subnet name ("" for [dhcp]) and where its addresses are
 * (in use, declined, reserved for fixed hosts, free). */
void dhcp_server_pool_usage(const struct dhcp_server *s, int64_t now,
			    void (*cb)(void *ctx, const char *subnet,
				       const struct dhcp_pool_usage *u),
			    void *ctx);

/* The [dhcp] range against an interface's address (host order): what is
 * wrong with it there, and how many of its addresses can be handed out.
 * The network and broadcast addresses and the server's own addresses
 * are never allocated (dhcp_server_handle skips them); a range that
 * leaves none is not served on that interface at all. */
enum dhcp_range_problem {
	DHCP_RANGE_OTHER_SUBNET = 1 << 0,     /* no address on the interface's network */
	DHCP_RANGE_BEYOND_SUBNET = 1 << 1,    /* some addresses off its network */
	DHCP_RANGE_NETWORK_ADDR = 1 << 2,     /* includes the network address */
	DHCP_RANGE_BROADCAST_ADDR = 1 << 3,   /* includes the broadcast address */
	DHCP_RANGE_SERVER_ADDR = 1 << 4,      /* includes one of our addresses */
};
struct dhcp_range_check {
	bool has_range;           /* false: no [dhcp] range, nothing to check */
	unsigned problems;        /* enum dhcp_range_problem bits */
	uint32_t first, last;     /* the range */
	uint32_t server_addr;     /* the first of our addresses inside it */
	uint32_t usable;          /* addresses that can be handed out here */
};
void dhcp_server_check_range(const struct dhcp_server *s, uint32_t iface_addr,
			     uint32_t iface_mask, const uint32_t *own_addrs, size_t n_own_addrs,
			     struct dhcp_range_check *out);

/* The MAC of the machine leased ip (host order), when its identity is an
 * Ethernet address (htype 1 + MAC, as chaddr or as option 61): 0 or
 * -ENOENT. Lets TFTP and HTTP requests, which carry only an address, be
 * matched to a [host]. */
int dhcp_server_mac_for_ip(const struct dhcp_server *s, uint32_t ip, int64_t now,
			   uint8_t mac[6]);

/* Every address leased or offered at now (unexpired), pool by pool in
 * address order, read-only for the API. A scan of every range. */
struct dhcp_lease_info {
	uint32_t ip;                       /* host order */
	const struct dhcp_client_id *id;   /* the client's identity */
	bool has_mac;                      /* id is htype 1 + a MAC */
	uint8_t mac[6];
	const char *state;                 /* "bound" or "offered" */
	int64_t expires;                   /* wall-clock seconds */
	const char *subnet;                /* "" for [dhcp] */
};
void dhcp_server_foreach_lease(const struct dhcp_server *s, int64_t now,
			       void (*cb)(void *ctx, const struct dhcp_lease_info *l), void *ctx);

/* Addresses in use over all pools (for metrics and logs). */
uint32_t dhcp_server_leases_in_use(const struct dhcp_server *s, int64_t now);

#endif
