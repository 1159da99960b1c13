/* dhcp_server.c - see dhcp_server.h. */
#include "dhcp/dhcp_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/render.h"
#include "dhcp/dhcp_pool.h"
#include "util.h"

/* PXE discovery control (PXE 2.1 spec, vendor option 43 sub-option 6):
 * bit 3 set means "download the boot file named in the reply now", so the
 * firmware skips multicast/broadcast boot server discovery. */
static const uint8_t pxe_discovery_control[] = { 6, 1, 8, 255 };

struct subnet {
	const struct dhcp_subnet_config *cfg;
	struct dhcp_pool *pool;   /* NULL without a range */
};

struct dhcp_server {
	const struct config *cfg;
	int http_port;            /* for ${http}; 0: HTTP is off */
	struct subnet *subnets;   /* [0] is the [dhcp] subnet */
	size_t n_subnets;
	bool shared;              /* other instances serve the same pools */
};

/* A fixed host address inside a range is held by the empty identity,
 * which no client can present (client_identity() never yields one), so
 * nobody can claim it through the pool, whatever option 61 says. */
static const struct dhcp_client_id reserved_id = { 0 };

int dhcp_server_new(const struct config *cfg, struct dhcp_server **ret)
{
	struct dhcp_server *s = calloc(1, sizeof(*s));
	size_t n = 1;
	int r;

	if (!s)
		return -ENOMEM;
	for (const struct dhcp_subnet_config *c = cfg->dhcp.subnets; c; c = c->next)
		n++;
	s->cfg = cfg;
	s->http_port = cfg->http.enabled ? ntohs(cfg->http.listen.sin_port) : 0;
	s->subnets = calloc(n, sizeof(*s->subnets));
	if (!s->subnets) {
		free(s);
		return -ENOMEM;
	}
	s->subnets[0].cfg = &cfg->dhcp.local;
	s->n_subnets = 1;
	for (const struct dhcp_subnet_config *c = cfg->dhcp.subnets; c; c = c->next)
		s->subnets[s->n_subnets++].cfg = c;
	for (size_t i = 0; i < s->n_subnets; i++) {
		const struct dhcp_subnet_config *c = s->subnets[i].cfg;
		if (!c->range_first)
			continue;
		r = dhcp_pool_new(c->range_first, c->range_last, &s->subnets[i].pool);
		if (r < 0) {
			dhcp_server_free(s);
			return r;
		}
	}
	/* A fixed address inside a range is never handed to anyone else. */
	for (const struct host_config *h = cfg->hosts; h; h = h->next)
		for (size_t i = 0; h->ip && i < s->n_subnets; i++)
			if (s->subnets[i].pool && dhcp_pool_contains(s->subnets[i].pool, h->ip))
				dhcp_pool_bind(s->subnets[i].pool, h->ip, &reserved_id, INT64_MAX);
	*ret = s;
	return 0;
}

void dhcp_server_set_http_port(struct dhcp_server *s, int port)
{
	s->http_port = port;
}

void dhcp_server_set_shared(struct dhcp_server *s, bool shared, uint32_t seed)
{
	s->shared = shared;
	if (!shared)
		return;
	for (size_t i = 0; i < s->n_subnets; i++)
		if (s->subnets[i].pool)
			dhcp_pool_set_fresh_start(s->subnets[i].pool, seed);
}

void dhcp_server_free(struct dhcp_server *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_subnets; i++)
		dhcp_pool_free(s->subnets[i].pool);
	free(s->subnets);
	free(s);
}

static struct dhcp_pool *pool_for(struct dhcp_server *s, uint32_t ip)
{
	for (size_t i = 0; i < s->n_subnets; i++)
		if (s->subnets[i].pool && dhcp_pool_contains(s->subnets[i].pool, ip))
			return s->subnets[i].pool;
	return NULL;
}

int dhcp_server_restore(struct dhcp_server *s, const struct lease_record *r)
{
	uint32_t ip = ntohl(r->ip);
	struct dhcp_pool *pool = pool_for(s, ip);
	struct dhcp_client_id id = { .len = MIN(r->client_id_len, (uint8_t)LEASE_CLIENT_ID_MAX) };

	if (!pool || dhcp_pool_state(pool, ip, 0) == DHCP_SLOT_BOUND)
		return 0;  /* outside our ranges now, or a fixed host's */
	memcpy(id.bytes, r->client_id, id.len);
	/* -ENOMEM for a long identity: the lease is forgotten, not fatal. */
	switch (r->state) {
	case LEASE_BOUND:
		dhcp_pool_bind(pool, ip, &id, r->expires);
		break;
	case LEASE_RELEASED:
		/* Remember the owner so it gets the same address back. */
		dhcp_pool_bind(pool, ip, &id, r->expires);
		dhcp_pool_release(pool, ip, &id, r->expires);
		break;
	case LEASE_DECLINED:
		dhcp_pool_decline(pool, ip, r->expires);
		break;
	default:
		break;
	}
	return 0;
}

bool dhcp_server_undo(struct dhcp_server *s, const struct dhcp_outcome *out)
{
	uint32_t ip = ntohl(out->lease.ip);
	struct dhcp_pool *pool = out->store == DHCP_STORE_PUT ? pool_for(s, ip) : NULL;

	return pool && dhcp_pool_slot_undo(pool, ip, &out->undo_before, &out->undo_after);
}

/* The ACK in out, rewritten as a NAK: same transaction, chaddr, giaddr,
 * server identifier and relay agent information; no address. */
static void ack_to_nak(struct dhcp_outcome *out)
{
	struct dhcp_message ack, hdr = { 0 };
	struct dhcp_writer w;
	const uint8_t *p;
	size_t len;
	uint8_t buf[DHCP_REPLY_MAX];

	out->dest = DHCP_DEST_NONE;
	if (!out->reply_len || out->reply_len > sizeof(buf))
		return;
	memcpy(buf, out->reply, out->reply_len);
	if (dhcp_decode(buf, out->reply_len, &ack) < 0 || dhcp_message_type(&ack) != DHCP_ACK)
		return;
	hdr.op = DHCP_OP_REPLY;
	hdr.htype = ack.htype;
	hdr.hlen = ack.hlen;
	hdr.xid = ack.xid;
	hdr.flags = ack.flags;
	hdr.giaddr = ack.giaddr;
	memcpy(hdr.chaddr, ack.chaddr, DHCP_CHADDR_LEN);
	if (ack.giaddr)
		hdr.flags |= DHCP_FLAG_BROADCAST;  /* RFC 2131 4.3.2 */
	if (dhcp_writer_init(&w, out->reply, DHCP_REPLY_MAX, &hdr) < 0)
		return;
	dhcp_writer_u8(&w, DHCP_OPT_MESSAGE_TYPE, DHCP_NAK);
	p = dhcp_option(&ack, DHCP_OPT_SERVER_ID, 4, &len);
	if (p)
		dhcp_writer_option(&w, DHCP_OPT_SERVER_ID, p, 4);
	p = dhcp_option(&ack, DHCP_OPT_RELAY_AGENT, 1, &len);
	if (p)
		dhcp_writer_option(&w, DHCP_OPT_RELAY_AGENT, p, len);
	out->reply_len = dhcp_writer_finish(&w);
	if (!out->reply_len)
		return;
	if (ack.giaddr) {
		out->dest = DHCP_DEST_RELAY;
		out->dest_addr = ntohl(ack.giaddr);
		out->dest_port = 67;
	} else {
		out->dest = DHCP_DEST_BROADCAST;
		out->dest_addr = INADDR_BROADCAST;
		out->dest_port = 68;
	}
}

void dhcp_server_claim_lost(struct dhcp_server *s, struct dhcp_outcome *out,
			    const struct lease_record *holder)
{
	uint32_t ip = ntohl(out->lease.ip);
	struct dhcp_pool *pool = pool_for(s, ip);
	struct dhcp_client_id id = { .len = MIN(holder->client_id_len, (uint8_t)LEASE_CLIENT_ID_MAX) };

	memcpy(id.bytes, holder->client_id, id.len);
	if (pool && holder->ip == out->lease.ip) {
		if (holder->state == LEASE_DECLINED || !id.len)
			dhcp_pool_decline(pool, ip, holder->expires);
		else if (holder->state == LEASE_BOUND)
			dhcp_pool_bind(pool, ip, &id, holder->expires);
	}
	out->event = "nak";
	out->reason = "address-claimed-elsewhere";
	ack_to_nak(out);
}

void dhcp_server_carry_leases(struct dhcp_server *to, const struct dhcp_server *from)
{
	for (size_t i = 0; i < from->n_subnets; i++) {
		const struct dhcp_pool *old = from->subnets[i].pool;
		uint32_t first = old ? dhcp_pool_first(old) : 0;

		for (uint32_t k = 0; old && k < dhcp_pool_size(old); k++) {
			struct dhcp_slot_image img, cur;
			struct dhcp_pool *pool = pool_for(to, first + k);

			dhcp_pool_slot_get(old, first + k, &img);
			/* Nothing to carry, or an old fixed host's reservation
			 * (the new config says which addresses are fixed). */
			if (!pool || (img.state == DHCP_SLOT_FREE && !img.owner.len) ||
			    ((img.state == DHCP_SLOT_BOUND || img.state == DHCP_SLOT_OFFERED) &&
			     !img.owner.len))
				continue;
			dhcp_pool_slot_get(pool, first + k, &cur);
			if (cur.state == DHCP_SLOT_BOUND && !cur.owner.len)
				continue;  /* a fixed host's now */
			dhcp_pool_slot_set(pool, first + k, &img);
		}
	}
}

void dhcp_server_pool_usage(const struct dhcp_server *s, int64_t now,
			    void (*cb)(void *ctx, const char *subnet,
				       const struct dhcp_pool_usage *u),
			    void *ctx)
{
	struct dhcp_pool_usage u;

	for (size_t i = 0; i < s->n_subnets; i++) {
		if (!s->subnets[i].pool)
			continue;
		dhcp_pool_usage(s->subnets[i].pool, now, &u);
		cb(ctx, s->subnets[i].cfg->name, &u);
	}
}

static bool is_own_addr(const uint32_t *own, size_t n, uint32_t ip)
{
	for (size_t i = 0; i < n; i++)
		if (own[i] == ip)
			return true;
	return false;
}

void dhcp_server_check_range(const struct dhcp_server *s, uint32_t iface_addr,
			     uint32_t iface_mask, const uint32_t *own_addrs, size_t n_own_addrs,
			     struct dhcp_range_check *out)
{
	const struct dhcp_subnet_config *c = s->subnets[0].cfg;
	uint32_t net = iface_addr & iface_mask, bcast = net | ~iface_mask;
	uint32_t lo, hi;

	*out = (struct dhcp_range_check){ .has_range = s->subnets[0].pool != NULL,
					  .first = c->range_first, .last = c->range_last };
	if (!out->has_range || !iface_addr)
		return;
	if (c->range_last < net || c->range_first > bcast) {
		out->problems = DHCP_RANGE_OTHER_SUBNET;
		return;
	}
	if (c->range_first < net || c->range_last > bcast)
		out->problems |= DHCP_RANGE_BEYOND_SUBNET;
	lo = MAX(c->range_first, net);
	hi = MIN(c->range_last, bcast);
	/* A /31 or /32 has no network or broadcast address (RFC 3021),
	 * but then there is no room for clients either. */
	if (lo == net) {
		out->problems |= DHCP_RANGE_NETWORK_ADDR;
		lo++;
	}
	if (hi == bcast && hi >= lo) {
		out->problems |= DHCP_RANGE_BROADCAST_ADDR;
		hi--;
	}
	out->usable = hi >= lo && lo > net ? hi - lo + 1 : 0;
	/* The interface's address, then the machine's others; each counted
	 * once. */
	for (size_t i = 0; i <= n_own_addrs; i++) {
		uint32_t a = i ? own_addrs[i - 1] : iface_addr;
		if (a < lo || a > hi || (i && (a == iface_addr || is_own_addr(own_addrs, i - 1, a))))
			continue;
		if (!(out->problems & DHCP_RANGE_SERVER_ADDR))
			out->server_addr = a;
		out->problems |= DHCP_RANGE_SERVER_ADDR;
		out->usable--;
	}
}

int dhcp_server_mac_for_ip(const struct dhcp_server *s, uint32_t ip, int64_t now,
			   uint8_t mac[6])
{
	struct dhcp_pool *pool = pool_for((struct dhcp_server *)s, ip);
	struct dhcp_client_id id;

	if (!pool || dhcp_pool_owner(pool, ip, now, &id) < 0 || id.len != 7 || id.bytes[0] != 1)
		return -ENOENT;
	memcpy(mac, id.bytes + 1, 6);
	return 0;
}

void dhcp_server_foreach_lease(const struct dhcp_server *s, int64_t now,
			       void (*cb)(void *ctx, const struct dhcp_lease_info *l), void *ctx)
{
	struct dhcp_slot_image img;

	for (size_t i = 0; i < s->n_subnets; i++) {
		const struct dhcp_pool *pool = s->subnets[i].pool;
		uint32_t first, size;

		if (!pool)
			continue;
		first = dhcp_pool_first(pool);
		size = dhcp_pool_size(pool);
		for (uint32_t k = 0; k < size; k++) {
			struct dhcp_lease_info l = { .ip = first + k, .subnet = s->subnets[i].cfg->name };

			dhcp_pool_slot_get(pool, l.ip, &img);
			if ((img.state != DHCP_SLOT_BOUND && img.state != DHCP_SLOT_OFFERED) ||
			    img.until <= now || img.owner.len == 0)
				continue;  /* free, expired, or a fixed host's reservation */
			l.id = &img.owner;
			l.state = img.state == DHCP_SLOT_BOUND ? "bound" : "offered";
			l.expires = img.until;
			if (img.owner.len == 7 && img.owner.bytes[0] == 1) {
				l.has_mac = true;
				memcpy(l.mac, img.owner.bytes + 1, 6);
			}
			cb(ctx, &l);
		}
	}
}

uint32_t dhcp_server_leases_in_use(const struct dhcp_server *s, int64_t now)
{
	uint32_t n = 0;

	for (size_t i = 0; i < s->n_subnets; i++)
		if (s->subnets[i].pool)
			n += dhcp_pool_in_use(s->subnets[i].pool, now);
	return n;
}

/* --- request analysis --- */

struct request {
	const struct dhcp_message *m;
	struct dhcp_client_id id;
	const struct host_config *host;
	struct subnet *subnet;
	uint32_t network, netmask;  /* the client's network */
	struct dhcp_pool *pool;     /* the subnet's pool if it serves this network */
	bool relayed;
	const struct dhcp_request_ctx *ctx;
};

static bool option_has_prefix(const struct dhcp_message *m, uint8_t code, const char *prefix)
{
	size_t len, plen = strlen(prefix);
	const uint8_t *p = dhcp_option(m, code, plen, &len);

	return p && memcmp(p, prefix, plen) == 0;
}

/* Option 77 is a list of length-prefixed user classes (RFC 3004), but iPXE
 * and many firmwares send the bare string "iPXE"; accept both. */
static bool user_class_is_ipxe(const struct dhcp_message *m)
{
	size_t len;
	const uint8_t *p = dhcp_option(m, DHCP_OPT_USER_CLASS, 1, &len);

	if (!p)
		return false;
	if (len == 4 && memcmp(p, "iPXE", 4) == 0)
		return true;
	for (size_t i = 0; i < len;) {
		size_t n = p[i];
		if (i + 1 + n > len)
			break;
		if (n == 4 && memcmp(p + i + 1, "iPXE", 4) == 0)
			return true;
		i += 1 + n;
	}
	return false;
}

static void analyse_boot_client(const struct dhcp_message *m, struct boot_client *c)
{
	size_t len;
	const uint8_t *arch = dhcp_option(m, DHCP_OPT_CLIENT_ARCH, 2, &len);

	*c = (struct boot_client){
		.pxe = option_has_prefix(m, DHCP_OPT_VENDOR_CLASS, "PXEClient"),
		.http = option_has_prefix(m, DHCP_OPT_VENDOR_CLASS, "HTTPClient"),
		.ipxe = user_class_is_ipxe(m) ||
			dhcp_option(m, DHCP_OPT_IPXE_ENCAP, 0, NULL) != NULL,
	};
	if (arch) {
		c->has_arch = true;
		c->arch = (uint16_t)(arch[0] << 8 | arch[1]);
	}
}

static int client_identity(const struct dhcp_message *m, struct dhcp_client_id *id)
{
	size_t len;
	const uint8_t *p = dhcp_option(m, DHCP_OPT_CLIENT_ID, 2, &len);

	if (p) {
		if (len > LEASE_CLIENT_ID_MAX)
			return -EBADMSG;
		id->len = (uint8_t)len;
		memcpy(id->bytes, p, len);
		return 0;
	}
	if (m->hlen == 0)
		return -EBADMSG;
	id->len = (uint8_t)(1 + m->hlen);
	id->bytes[0] = m->htype;
	memcpy(id->bytes + 1, m->chaddr, m->hlen);
	return 0;
}

/* Option 97 is a type byte (0) and the 16-byte SMBIOS UUID. Firmwares
 * disagree on the byte order of its first three fields (SMBIOS stores them
 * little-endian, dmidecode prints them big-endian), so both are tried. */
static const struct host_config *find_host_by_uuid(const struct config *cfg,
						   const struct dhcp_message *m)
{
	size_t len;
	const uint8_t *p = dhcp_option(m, DHCP_OPT_CLIENT_UUID, 17, &len);
	const struct host_config *h;
	uint8_t swapped[16];

	if (!p || len != 17 || p[0] != 0)
		return NULL;
	h = config_host_by_uuid(cfg, p + 1);
	if (h)
		return h;
	memcpy(swapped, p + 1, 16);
	for (int i = 0; i < 2; i++) {
		uint8_t t = swapped[i];
		swapped[i] = swapped[3 - i];
		swapped[3 - i] = t;
	}
	for (int i = 4; i < 8; i += 2) {
		uint8_t t = swapped[i];
		swapped[i] = swapped[i + 1];
		swapped[i + 1] = t;
	}
	return config_host_by_uuid(cfg, swapped);
}

static const struct host_config *find_host(const struct config *cfg,
					   const struct dhcp_message *m)
{
	const struct host_config *h = NULL;

	if (m->htype == 1 && m->hlen == 6)
		h = config_host_by_mac(cfg, m->chaddr);
	return h ? h : find_host_by_uuid(cfg, m);
}

static bool in_network(const struct request *rq, uint32_t ip)
{
	return (ip & rq->netmask) == rq->network && ip != rq->network &&
	       ip != (rq->network | ~rq->netmask);
}

/* An address of the client's network that may be handed out: not the
 * network or broadcast address (a client given one loops on OFFER/NAK or
 * never works), and not one of this machine's. */
static bool usable_addr(const void *ctx, uint32_t ip)
{
	const struct request *rq = ctx;

	return in_network(rq, ip) && ip != rq->ctx->iface_addr &&
	       !is_own_addr(rq->ctx->own_addrs, rq->ctx->n_own_addrs, ip);
}

static struct subnet *relay_subnet(struct dhcp_server *s, uint32_t addr)
{
	for (size_t i = 1; i < s->n_subnets; i++) {
		const struct dhcp_subnet_config *c = s->subnets[i].cfg;
		if ((addr & c->netmask) == c->network)
			return &s->subnets[i];
	}
	return NULL;
}

static void use_relay_subnet(struct request *rq, struct subnet *sub)
{
	rq->subnet = sub;
	rq->network = sub->cfg->network;
	rq->netmask = sub->cfg->netmask;
	rq->pool = sub->pool;
}

/* A relay on the receiving interface's own network (a switch's DHCP
 * snooping relay, a second relay in front of the same segment), as Kea
 * and dnsmasq accept: its clients are on that network. Never the network
 * or broadcast address, nor ours: the reply goes to giaddr:67. */
static bool relay_on_own_network(const struct dhcp_request_ctx *ctx, uint32_t giaddr)
{
	uint32_t net = ctx->iface_addr & ctx->iface_mask;

	return ctx->iface_addr && (giaddr & ctx->iface_mask) == net && giaddr != net &&
	       giaddr != (net | ~ctx->iface_mask) && giaddr != ctx->iface_addr;
}

/* The [dhcp] range serves the interfaces whose network it overlaps; on
 * another interface only fixed hosts are answered. */
static void use_interface_network(struct dhcp_server *s, const struct dhcp_request_ctx *ctx,
				  struct request *rq)
{
	const struct dhcp_subnet_config *c;

	rq->subnet = &s->subnets[0];
	c = rq->subnet->cfg;
	rq->netmask = ctx->iface_mask;
	rq->network = ctx->iface_addr & ctx->iface_mask;
	rq->pool = rq->subnet->pool;
	if (rq->pool && (c->range_last < rq->network ||
			 c->range_first > (rq->network | ~rq->netmask)))
		rq->pool = NULL;
}

static int select_subnet(struct dhcp_server *s, const struct dhcp_request_ctx *ctx,
			 struct request *rq, const char **reason)
{
	uint32_t giaddr = ntohl(rq->m->giaddr);
	uint32_t ciaddr = ntohl(rq->m->ciaddr);
	struct subnet *remote;

	if (giaddr) {
		/* RFC 2131 4.3.1: the relay's address picks the subnet. */
		remote = relay_subnet(s, giaddr);
		if (remote) {
			use_relay_subnet(rq, remote);
		} else if (relay_on_own_network(ctx, giaddr)) {
			use_interface_network(s, ctx, rq);
		} else {
			*reason = "relay-from-unknown-subnet";
			return -ENOENT;
		}
		rq->relayed = true;
		return 0;
	}
	if (ciaddr && ctx->iface_mask && (ciaddr & ctx->iface_mask) != (ctx->iface_addr & ctx->iface_mask) &&
	    (remote = relay_subnet(s, ciaddr))) {
		/* A client behind a relay renews, releases or informs by
		 * unicast straight to us (RFC 2131 4.3.2, 4.4.5): its ciaddr
		 * names its subnet. */
		use_relay_subnet(rq, remote);
		return 0;
	}
	if (!ctx->iface_addr) {
		*reason = "interface-without-address";
		return -ENOENT;
	}
	use_interface_network(s, ctx, rq);
	return 0;
}

/* --- building replies --- */

static bool prl_wants(const struct dhcp_message *m, uint8_t code)
{
	size_t len;
	const uint8_t *p = dhcp_option(m, DHCP_OPT_PARAM_REQUEST, 1, &len);

	if (!p)
		return true;  /* no list: send what we have */
	return memchr(p, code, len) != NULL;
}

static size_t reply_size_limit(const struct dhcp_message *m)
{
	size_t len;
	const uint8_t *p = dhcp_option(m, DHCP_OPT_MAX_MESSAGE, 2, &len);
	size_t limit = DHCP_MIN_MAX_MESSAGE - DHCP_UDP_IP_OVERHEAD;

	if (p && len == 2) {
		size_t v = (size_t)(p[0] << 8 | p[1]);
		/* RFC 2132 9.10: values below 576 are invalid; ignore them. */
		if (v >= DHCP_MIN_MAX_MESSAGE)
			limit = v - DHCP_UDP_IP_OVERHEAD;
	}
	return MIN(limit, (size_t)DHCP_REPLY_MAX);
}

static void put_addr(struct dhcp_writer *w, uint8_t code, uint32_t host_order)
{
	dhcp_writer_be32(w, code, host_order);
}

static uint32_t next_server(const struct dhcp_server *s, const struct dhcp_request_ctx *ctx)
{
	return s->cfg->dhcp.next_server ? s->cfg->dhcp.next_server : ctx->iface_addr;
}

/* Option 60 echo, PXE discovery control, the UUID echo and options 66/67,
 * for a reply that carries boot information. */
static void put_boot_options(struct dhcp_server *s, const struct dhcp_message *m,
			     const struct dhcp_request_ctx *ctx, struct dhcp_writer *w,
			     struct dhcp_outcome *out)
{
	char addr[INET_ADDRSTRLEN];
	struct in_addr a = { htonl(next_server(s, ctx)) };
	size_t boot_len = strlen(out->boot.target), len;
	const uint8_t *p;

	if (out->boot.vendor_class)
		dhcp_writer_option(w, DHCP_OPT_VENDOR_CLASS, out->boot.vendor_class,
				   strlen(out->boot.vendor_class));
	if (out->boot_client.pxe && !out->boot_client.http &&
	    out->boot.slot != BOOT_TARGET_HTTP_X64 && out->boot.slot != BOOT_TARGET_HTTP_ARM64)
		dhcp_writer_option(w, DHCP_OPT_VENDOR, pxe_discovery_control,
				   sizeof(pxe_discovery_control));
	p = dhcp_option(m, DHCP_OPT_CLIENT_UUID, 1, &len);
	if (p)
		dhcp_writer_option(w, DHCP_OPT_CLIENT_UUID, p, len);
	inet_ntop(AF_INET, &a, addr, sizeof(addr));
	if (dhcp_option(m, DHCP_OPT_PARAM_REQUEST, 1, NULL) && prl_wants(m, DHCP_OPT_TFTP_SERVER))
		dhcp_writer_option(w, DHCP_OPT_TFTP_SERVER, addr, strlen(addr));
	/* Option 67 when asked for, and always when the name does not fit
	 * the 128-byte file field. */
	if (((dhcp_option(m, DHCP_OPT_PARAM_REQUEST, 1, NULL) &&
	      prl_wants(m, DHCP_OPT_BOOTFILE)) || boot_len >= DHCP_FILE_LEN) &&
	    dhcp_writer_option(w, DHCP_OPT_BOOTFILE, out->boot.target, boot_len) < 0 &&
	    boot_len >= DHCP_FILE_LEN)
		out->reason = "boot-file-does-not-fit-reply";  /* client gets no file */
}

/* The config's own options (`option = ...`) the client asks for: a
 * [host]'s first, then its [subnet]'s, then [dhcp]'s, each code once. One
 * that does not fit is left out whole, as every option is. */
static void put_config_options(struct dhcp_server *s, const struct request *rq,
			       struct dhcp_writer *w)
{
	const struct dhcp_option_config *lists[3] = {
		rq->host ? rq->host->options : NULL,
		rq->subnet && rq->subnet->cfg != &s->cfg->dhcp.local ? rq->subnet->cfg->options
								     : NULL,
		s->cfg->dhcp.local.options,
	};
	uint8_t sent[256 / 8] = { 0 };

	for (size_t i = 0; i < ARRAY_SIZE(lists); i++) {
		for (const struct dhcp_option_config *o = lists[i]; o; o = o->next) {
			if (sent[o->code / 8] & (1u << (o->code % 8)) || !prl_wants(rq->m, o->code))
				continue;
			sent[o->code / 8] |= (uint8_t)(1u << (o->code % 8));
			dhcp_writer_option(w, o->code, o->data, o->len);
		}
	}
}

static void build_reply(struct dhcp_server *s, const struct request *rq,
			const struct dhcp_request_ctx *ctx, uint8_t type, uint32_t ip,
			struct dhcp_outcome *out)
{
	const struct dhcp_message *m = rq->m;
	bool proxy = s->cfg->dhcp.mode == DHCP_MODE_PROXY;
	const struct dhcp_subnet_config *sc = proxy ? NULL : rq->subnet->cfg;
	struct dhcp_message hdr = {
		.op = DHCP_OP_REPLY, .htype = m->htype, .hlen = m->hlen,
		.xid = m->xid, .flags = m->flags, .giaddr = m->giaddr,
	};
	struct dhcp_writer w;
	bool with_lease = !proxy && (type == DHCP_OFFER || (type == DHCP_ACK && ip));
	bool boot = out->boot.target != NULL && type != DHCP_NAK;
	size_t boot_len = boot ? strlen(out->boot.target) : 0;
	size_t len, relay_room;
	const uint8_t *p;

	memcpy(hdr.chaddr, m->chaddr, DHCP_CHADDR_LEN);
	if (type == DHCP_ACK)
		hdr.ciaddr = m->ciaddr;
	if (type != DHCP_NAK)
		hdr.yiaddr = htonl(ip);
	if (rq->relayed && type == DHCP_NAK)
		hdr.flags |= DHCP_FLAG_BROADCAST;  /* RFC 2131 4.3.2 */
	if (boot) {
		hdr.siaddr = htonl(next_server(s, ctx));
		if (boot_len < DHCP_FILE_LEN)
			memcpy(hdr.file, out->boot.target, boot_len);
	}
	/* Option 82 must come back whatever else is cut (RFC 3046): keep its
	 * room out of reach of the other options. */
	p = rq->relayed ? dhcp_option(m, DHCP_OPT_RELAY_AGENT, 1, &len) : NULL;
	relay_room = p ? len + 2 * ((len + 254) / 255) : 0;
	if (dhcp_writer_init(&w, out->reply, reply_size_limit(m), &hdr) < 0)
		return;
	/* ...but never at the cost of the message type and server id (9
	 * bytes): an option 82 too big for both is not echoed at all. */
	if (relay_room + 9 > w.size - w.len - 1) {
		relay_room = 0;
		p = NULL;
	}
	w.size -= relay_room;
	dhcp_writer_u8(&w, DHCP_OPT_MESSAGE_TYPE, type);
	put_addr(&w, DHCP_OPT_SERVER_ID, ctx->iface_addr);
	if (type == DHCP_NAK)
		goto finish;
	if (with_lease) {
		put_addr(&w, DHCP_OPT_LEASE_TIME, sc->lease_time);
		put_addr(&w, DHCP_OPT_RENEWAL_T1, sc->lease_time / 2);
		put_addr(&w, DHCP_OPT_REBINDING_T2, (uint32_t)((uint64_t)sc->lease_time * 7 / 8));
	}
	if (!proxy)
		put_addr(&w, DHCP_OPT_SUBNET_MASK, rq->netmask);
	/* Boot options before the merely useful ones: when option 57 leaves
	 * little room, firmware needs these to boot at all. */
	if (boot)
		put_boot_options(s, m, ctx, &w, out);
	if (proxy) {
		/* network settings are the DHCP server's; the config's own
		 * options (PXELINUX's 208-211, say) are the operator's call */
		put_config_options(s, rq, &w);
		goto finish;
	}
	if (sc->router && prl_wants(m, DHCP_OPT_ROUTER))
		put_addr(&w, DHCP_OPT_ROUTER, sc->router);
	if (sc->n_dns && prl_wants(m, DHCP_OPT_DNS)) {
		uint8_t dns[4 * CONFIG_MAX_DNS];
		for (unsigned i = 0; i < sc->n_dns; i++) {
			uint32_t a = htonl(sc->dns[i]);
			memcpy(dns + 4 * i, &a, 4);
		}
		dhcp_writer_option(&w, DHCP_OPT_DNS, dns, 4 * sc->n_dns);
	}
	if (sc->domain && prl_wants(m, DHCP_OPT_DOMAIN_NAME))
		dhcp_writer_option(&w, DHCP_OPT_DOMAIN_NAME, sc->domain, strlen(sc->domain));
	if (rq->host && rq->host->hostname)
		dhcp_writer_option(&w, DHCP_OPT_HOSTNAME, rq->host->hostname,
				   strlen(rq->host->hostname));
	put_config_options(s, rq, &w);
finish:
	/* RFC 3046 2.2: the relay agent information comes back unchanged,
	 * last, so that a relay can strip it. */
	w.size += relay_room;
	p = relay_room ? dhcp_option(m, DHCP_OPT_RELAY_AGENT, 1, &len) : NULL;
	if (p)
		dhcp_writer_option(&w, DHCP_OPT_RELAY_AGENT, p, len);
	out->reply_len = dhcp_writer_finish(&w);
}

static void set_destination(const struct request *rq, uint8_t type, struct dhcp_outcome *out)
{
	const struct dhcp_message *m = rq->m;

	if (rq->relayed) {
		out->dest = DHCP_DEST_RELAY;
		out->dest_addr = ntohl(m->giaddr);
		out->dest_port = 67;
	} else if (type != DHCP_NAK && m->ciaddr && !(m->flags & DHCP_FLAG_BROADCAST)) {
		out->dest = DHCP_DEST_CLIENT;
		out->dest_addr = ntohl(m->ciaddr);
		out->dest_port = 68;
	} else {
		/* The client has no address yet (or asked for broadcast):
		 * broadcast on the interface the request came in on. */
		out->dest = DHCP_DEST_BROADCAST;
		out->dest_addr = INADDR_BROADCAST;
		out->dest_port = 68;
	}
}

static void reply(struct dhcp_server *s, const struct request *rq,
		  const struct dhcp_request_ctx *ctx, uint8_t type, uint32_t ip,
		  const char *event, struct dhcp_outcome *out)
{
	out->event = event;
	out->ip = type == DHCP_NAK ? 0 : ip;
	build_reply(s, rq, ctx, type, ip, out);
	if (out->reply_len)
		set_destination(rq, type, out);
}

static void nak(struct dhcp_server *s, const struct request *rq,
		const struct dhcp_request_ctx *ctx, const char *reason, struct dhcp_outcome *out)
{
	out->reason = reason;
	reply(s, rq, ctx, DHCP_NAK, 0, "nak", out);
}

/* Before a slot changes for a lease to be stored: remember it (see
 * dhcp_server_undo()). */
static void undo_note(const struct request *rq, uint32_t ip, struct dhcp_outcome *out)
{
	dhcp_pool_slot_get(rq->pool, ip, &out->undo_before);
}

/* Right after the slot changed (undo_note() came first). */
static void record_lease(const struct request *rq, uint32_t ip, uint8_t state,
			 int64_t expires, struct dhcp_outcome *out)
{
	struct lease_record *l = &out->lease;

	dhcp_pool_slot_get(rq->pool, ip, &out->undo_after);
	out->store = DHCP_STORE_PUT;
	memset(l, 0, sizeof(*l));
	l->ip = htonl(ip);
	l->client_id_len = rq->id.len;
	memcpy(l->client_id, rq->id.bytes, rq->id.len);
	l->hwaddr_len = MIN(rq->m->hlen, (uint8_t)sizeof(l->hwaddr));
	memcpy(l->hwaddr, rq->m->chaddr, l->hwaddr_len);
	if (rq->host && rq->host->hostname)
		snprintf(l->hostname, sizeof(l->hostname), "%s", rq->host->hostname);
	l->expires = expires;
	l->state = state;
}

/* Boot targets may say ${server} or ${http} (an iPXE script URL on
 * kidou's own HTTP server): fill them in for the interface the request
 * came in on. Unknown variables were refused when the config was read. */
static void expand_boot_target(struct dhcp_server *s, const struct dhcp_request_ctx *ctx,
			       const struct dhcp_message *m, struct dhcp_outcome *out)
{
	char server[INET_ADDRSTRLEN], http[48], mac[MAC_STRLEN] = "";
	struct in_addr a = { htonl(next_server(s, ctx)) };
	struct render_vars v = { .server = server, .http = http, .mac = mac };

	if (!out->boot.target || !strstr(out->boot.target, "${"))
		return;
	inet_ntop(AF_INET, &a, server, sizeof(server));
	http[0] = '\0';
	if (s->http_port)
		snprintf(http, sizeof(http), "http://%s:%d", server, s->http_port);
	if (m->htype == 1 && m->hlen == 6)
		format_mac(m->chaddr, mac);
	if (render_expand(out->boot.target, &v, out->boot_target, sizeof(out->boot_target)) < 0) {
		out->boot.target = NULL;
		out->boot.reason = "boot-target-does-not-expand";
		return;
	}
	out->boot.target = out->boot_target;
}

/* --- message handlers --- */

static bool fixed_address(const struct request *rq, uint32_t *ip)
{
	if (!rq->host || !rq->host->ip || !in_network(rq, rq->host->ip))
		return false;
	*ip = rq->host->ip;
	return true;
}

static void on_discover(struct dhcp_server *s, struct request *rq,
			const struct dhcp_request_ctx *ctx, struct dhcp_outcome *out)
{
	uint32_t requested = 0, ip;
	struct dhcp_pool *pool = rq->pool;

	if (fixed_address(rq, &ip)) {
		reply(s, rq, ctx, DHCP_OFFER, ip, "offer", out);
		return;
	}
	if (!pool) {
		out->event = "ignore";
		out->reason = "no-range";
		return;
	}
	if (dhcp_option_addr(rq->m, DHCP_OPT_REQUESTED_IP, &requested) == 0)
		requested = ntohl(requested);
	if (dhcp_pool_choose(pool, &rq->id, requested, ctx->now, usable_addr, rq, &ip) < 0) {
		out->event = "pool-full";
		out->reason = "no-free-address";
		return;
	}
	if (dhcp_pool_offer(pool, ip, &rq->id, ctx->now + s->cfg->dhcp.offer_hold_sec) < 0) {
		out->event = "drop";
		out->reason = "out-of-memory";
		return;
	}
	reply(s, rq, ctx, DHCP_OFFER, ip, "offer", out);
}

/* ACK ip for the client if it may have it; NAK or stay silent otherwise. */
static void bind_or_refuse(struct dhcp_server *s, struct request *rq,
			   const struct dhcp_request_ctx *ctx, uint32_t ip,
			   bool silent_if_unknown, struct dhcp_outcome *out)
{
	struct dhcp_pool *pool = rq->pool;
	uint32_t fixed;
	int64_t expires = ctx->now + rq->subnet->cfg->lease_time;

	if (!in_network(rq, ip)) {
		nak(s, rq, ctx, "wrong-network", out);
		return;
	}
	if (fixed_address(rq, &fixed)) {
		if (ip == fixed)
			reply(s, rq, ctx, DHCP_ACK, ip, "ack", out);
		else
			nak(s, rq, ctx, "not-the-fixed-address", out);
		return;
	}
	if (!pool || !dhcp_pool_contains(pool, ip)) {
		if (silent_if_unknown && !s->cfg->dhcp.authoritative) {
			out->event = "ignore";
			out->reason = "address-not-ours";
		} else {
			nak(s, rq, ctx, "address-not-in-range", out);
		}
		return;
	}
	if (!usable_addr(rq, ip)) {
		/* One of ours (an old lease from before the range was
		 * checked, say): the client must take another. */
		nak(s, rq, ctx, "server-address", out);
		return;
	}
	if (!dhcp_pool_available(pool, ip, &rq->id, ctx->now)) {
		nak(s, rq, ctx, "address-taken", out);
		return;
	}
	undo_note(rq, ip, out);
	if (dhcp_pool_bind(pool, ip, &rq->id, expires) < 0) {
		out->event = "drop";
		out->reason = "out-of-memory";
		return;
	}
	record_lease(rq, ip, LEASE_BOUND, expires, out);
	reply(s, rq, ctx, DHCP_ACK, ip, "ack", out);
}

/* Has kidou a record of this client: a fixed address, or a lease, an
 * offer or a past lease in any pool (a client that moved networks is
 * known, and NAKed at once rather than left to time out)? */
static bool knows_client(struct dhcp_server *s, const struct request *rq,
			 const struct dhcp_request_ctx *ctx)
{
	if (rq->host && rq->host->ip)
		return true;
	for (size_t i = 0; i < s->n_subnets; i++)
		if (s->subnets[i].pool && dhcp_pool_knows(s->subnets[i].pool, &rq->id, ctx->now))
			return true;
	return false;
}

/* Another instance on the same database is about to bind ip for this
 * client (its REQUEST, broadcast or relayed to every server, names the
 * other server: RFC 2131 4.3.2 SELECTING). Remember it in memory only,
 * as bound for a lease time, so that this instance neither offers ip to
 * anyone else (a claim the database would refuse: a NAK and a round
 * trip) nor ignores the client's renewals as a stranger's. The database
 * stays the judge: a wrong guess costs only a refused claim. */
static void note_other_instance(struct dhcp_server *s, struct request *rq,
				const struct dhcp_request_ctx *ctx, uint32_t ip)
{
	if (!rq->pool || !dhcp_pool_contains(rq->pool, ip) || !usable_addr(rq, ip))
		return;
	/* An address this instance only offered to someone else gives way:
	 * the other instance offered it too and is claiming it for this
	 * client. Otherwise this instance has no record of the client and
	 * ignores its renewals ("unknown-client") once the other instance
	 * dies. A lease held here stays: the database decides. */
	if (!dhcp_pool_available(rq->pool, ip, &rq->id, ctx->now) &&
	    dhcp_pool_state(rq->pool, ip, ctx->now) != DHCP_SLOT_OFFERED)
		return;
	dhcp_pool_bind(rq->pool, ip, &rq->id, ctx->now + rq->subnet->cfg->lease_time);
}

static void on_request(struct dhcp_server *s, struct request *rq,
		       const struct dhcp_request_ctx *ctx, struct dhcp_outcome *out)
{
	uint32_t server_id, requested;
	bool has_sid = dhcp_option_addr(rq->m, DHCP_OPT_SERVER_ID, &server_id) == 0;
	bool has_req = dhcp_option_addr(rq->m, DHCP_OPT_REQUESTED_IP, &requested) == 0;

	if (has_sid) {
		/* SELECTING */
		if (ntohl(server_id) != ctx->iface_addr) {
			uint32_t held = rq->pool ?
				dhcp_pool_lookup(rq->pool, &rq->id, ctx->now) : 0;
			if (held && dhcp_pool_state(rq->pool, held, ctx->now) == DHCP_SLOT_OFFERED)
				dhcp_pool_release(rq->pool, held, &rq->id, ctx->now);
			if (s->shared && has_req)
				note_other_instance(s, rq, ctx, ntohl(requested));
			out->event = "ignore";
			out->reason = "client-chose-other-server";
			return;
		}
		if (!has_req) {
			nak(s, rq, ctx, "selecting-without-requested-address", out);
			return;
		}
		bind_or_refuse(s, rq, ctx, ntohl(requested), false, out);
		return;
	}
	if ((has_req || rq->m->ciaddr) && !knows_client(s, rq, ctx) &&
	    !s->cfg->dhcp.authoritative) {
		/* RFC 2131 4.3.2: "If the DHCP server has no record of this
		 * client, then it MUST remain silent". ACKing whatever a
		 * stranger names would let one machine bind the whole pool
		 * with INIT-REBOOTs, and would answer another server's
		 * clients. */
		out->event = "ignore";
		out->reason = "unknown-client";
		return;
	}
	if (has_req && !rq->m->ciaddr) {
		/* INIT-REBOOT: silent about addresses we know nothing of. */
		bind_or_refuse(s, rq, ctx, ntohl(requested), true, out);
		return;
	}
	if (rq->m->ciaddr) {
		/* RENEWING (unicast) or REBINDING (broadcast). */
		bind_or_refuse(s, rq, ctx, ntohl(rq->m->ciaddr), true, out);
		return;
	}
	out->event = "drop";
	out->reason = "request-without-address";
}

static void on_decline(struct dhcp_server *s, struct request *rq,
		       const struct dhcp_request_ctx *ctx, struct dhcp_outcome *out)
{
	uint32_t server_id, requested, ip;
	struct dhcp_pool *pool = rq->pool;
	int64_t until = ctx->now + s->cfg->dhcp.decline_hold_sec;

	out->event = "ignore";
	if (dhcp_option_addr(rq->m, DHCP_OPT_SERVER_ID, &server_id) < 0 ||
	    ntohl(server_id) != ctx->iface_addr ||
	    dhcp_option_addr(rq->m, DHCP_OPT_REQUESTED_IP, &requested) < 0) {
		out->reason = "decline-not-for-us";
		return;
	}
	ip = ntohl(requested);
	/* Only the holder of an acknowledged lease declines it (RFC 2131
	 * 4.3.3: the client found it in use after the ACK). An offered
	 * address is not the client's yet: honouring that would let one
	 * machine with fresh MACs set the whole pool aside (Kea logs
	 * DHCP4_DECLINE_LEASE_NOT_FOUND and ignores it too). */
	if (!pool || !dhcp_pool_contains(pool, ip) ||
	    dhcp_pool_lookup(pool, &rq->id, ctx->now) != ip ||
	    dhcp_pool_state(pool, ip, ctx->now) != DHCP_SLOT_BOUND) {
		out->reason = "decline-of-unknown-lease";
		return;
	}
	undo_note(rq, ip, out);
	dhcp_pool_decline(pool, ip, until);
	record_lease(rq, ip, LEASE_DECLINED, until, out);
	out->lease.client_id_len = 0;
	out->event = "decline";
	out->ip = ip;
	out->pool_subnet = rq->subnet->cfg->name;
	out->pool_size = dhcp_pool_size(pool);
	/* The exact count scans the range: only when the bound says the
	 * adapter may have to warn (over a tenth of the pool). */
	out->pool_declined = dhcp_pool_declined_bound(pool);
	if ((uint64_t)out->pool_declined * 10 > out->pool_size)
		out->pool_declined = dhcp_pool_declined(pool, ctx->now);
}

static void on_release(struct dhcp_server *s, struct request *rq,
		       const struct dhcp_request_ctx *ctx, struct dhcp_outcome *out)
{
	uint32_t ip = ntohl(rq->m->ciaddr);
	struct dhcp_pool *pool = rq->pool;

	out->event = "ignore";
	if (pool && dhcp_pool_contains(pool, ip))
		undo_note(rq, ip, out);
	if (!pool || !dhcp_pool_release(pool, ip, &rq->id, ctx->now)) {
		out->reason = "release-of-unknown-lease";
		return;
	}
	record_lease(rq, ip, LEASE_RELEASED, ctx->now, out);
	out->event = "release";
	out->ip = ip;
}

static void on_inform(struct dhcp_server *s, struct request *rq,
		      const struct dhcp_request_ctx *ctx, struct dhcp_outcome *out)
{
	/* RFC 2131 3.4: configuration only; no address, no lease time. */
	reply(s, rq, ctx, DHCP_ACK, 0, "inform-ack", out);
	out->ip = ntohl(rq->m->ciaddr);
}

/* --- proxyDHCP --- */

/* PXE 2.1 proxyDHCP, beside a DHCP server that owns the addresses. A
 * DISCOVER from boot firmware on port 67 gets an OFFER without an address
 * that carries the boot information (option 60 "PXEClient" and a server
 * id mark it as a proxy offer; its PXE discovery control tells the client
 * to boot the named file at once, which QEMU's iPXE and OVMF do). A client
 * that wants more asks again once it has its address from the DHCP server,
 * unicast to port 4011 (PXE 2.1's second step, as BINL-style PXE ROMs do),
 * and gets the same as an ACK, sent back where the request came from.
 * Everything else is the DHCP server's business and passes. */
static void handle_proxy(struct dhcp_server *s, struct request *rq,
			 const struct dhcp_request_ctx *ctx, uint8_t type,
			 struct dhcp_outcome *out)
{
	const struct boot_client *c = &out->boot_client;

	out->event = "pass";
	if (!c->pxe && !c->http) {
		out->reason = "not-a-pxe-client";
		return;
	}
	if (!out->boot.target) {
		out->reason = out->boot.reason ? out->boot.reason : "no-boot-target";
		return;
	}
	if (!ctx->on_pxe_port) {
		if (type != DHCP_DISCOVER) {
			uint32_t requested;
			/* The address the firmware takes from the DHCP server:
			 * how its file requests, which carry only an address,
			 * are known to be this machine's. */
			if (type == DHCP_REQUEST &&
			    dhcp_option_addr(rq->m, DHCP_OPT_REQUESTED_IP, &requested) == 0)
				out->ip = ntohl(requested);
			out->reason = "address-for-the-dhcp-server";
			return;
		}
		reply(s, rq, ctx, DHCP_OFFER, 0, "proxy-offer", out);
		return;
	}
	if (type != DHCP_REQUEST && type != DHCP_INFORM) {
		out->reason = "not-a-request";
		return;
	}
	reply(s, rq, ctx, DHCP_ACK, 0, "proxy-ack", out);
	out->ip = ntohl(rq->m->ciaddr);
	if (out->reply_len && !rq->relayed && ctx->src_addr && ctx->src_port) {
		out->dest = DHCP_DEST_SOURCE;
		out->dest_addr = ctx->src_addr;
		out->dest_port = ctx->src_port;
	}
}

int dhcp_server_handle(struct dhcp_server *s, const struct dhcp_message *m,
		       const struct dhcp_request_ctx *ctx, struct dhcp_outcome *out)
{
	struct request rq = { .m = m, .ctx = ctx };
	uint8_t type;

	out->event = "drop";
	out->reason = NULL;
	out->store = DHCP_STORE_NONE;
	out->dest = DHCP_DEST_NONE;
	out->reply_len = 0;
	out->ip = 0;
	out->host = NULL;
	out->pool_subnet = NULL;
	out->pool_size = out->pool_declined = 0;
	out->boot = (struct boot_choice){ 0 };
	out->request_type = type = dhcp_message_type(m);
	analyse_boot_client(m, &out->boot_client);

	if (m->op != DHCP_OP_REQUEST) {
		out->reason = "reply-from-a-client";
		return -EBADMSG;
	}
	if (type < DHCP_DISCOVER || type > DHCP_INFORM || type == DHCP_OFFER ||
	    type == DHCP_ACK || type == DHCP_NAK) {
		out->reason = type ? "unexpected-message-type" : "no-message-type";
		return -EBADMSG;
	}
	if (client_identity(m, &rq.id) < 0) {
		out->reason = "no-client-identity";
		return -EBADMSG;
	}
	if (s->cfg->dhcp.mode == DHCP_MODE_PROXY) {
		/* The replies carry no network settings, so a proxy needs no
		 * subnet, except that a relay must be on a [subnet] network:
		 * a giaddr is where the answer goes, and anyone can write
		 * one (server mode refuses unknown relays the same way). */
		rq.relayed = m->giaddr != 0;
		if (rq.relayed && !relay_subnet(s, ntohl(m->giaddr)) &&
		    !relay_on_own_network(ctx, ntohl(m->giaddr))) {
			out->event = "ignore";
			out->reason = "relay-from-unknown-subnet";
			return 0;
		}
		if (!ctx->iface_addr) {
			out->event = "ignore";
			out->reason = "interface-without-address";
			return 0;
		}
	} else if (select_subnet(s, ctx, &rq, &out->reason) < 0) {
		out->event = "ignore";
		return 0;
	}
	rq.host = find_host(s->cfg, m);
	out->host = rq.host ? rq.host->name : NULL;
	boot_select(&out->boot_client, rq.host ? &rq.host->boot : NULL, &s->cfg->boot,
		    &out->boot);
	expand_boot_target(s, ctx, m, out);
	if (s->cfg->dhcp.mode == DHCP_MODE_PROXY) {
		handle_proxy(s, &rq, ctx, type, out);
		return 0;
	}

	switch (type) {
	case DHCP_DISCOVER:
		on_discover(s, &rq, ctx, out);
		break;
	case DHCP_REQUEST:
		on_request(s, &rq, ctx, out);
		break;
	case DHCP_DECLINE:
		on_decline(s, &rq, ctx, out);
		break;
	case DHCP_RELEASE:
		on_release(s, &rq, ctx, out);
		break;
	case DHCP_INFORM:
		on_inform(s, &rq, ctx, out);
		break;
	}
	return 0;
}
