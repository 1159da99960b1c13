/* dhcp_io.c - see dhcp_io.h. */
#include "dhcp/dhcp_io.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dhcp/dhcp_server.h"
#include "dhcp/dhcp_wire.h"
#include "store/lease_store.h"
#include "log.h"
#include "net.h"
#include "util.h"

#define MOD "dhcp"
/* Requests decided together and committed with one fsync. */
#define DHCP_BATCH LEASE_BATCH_MAX
/* Batches: as many as the store takes at once, and the open one. */
#define DHCP_COMMITS (LEASE_STORE_QUEUE_DHCP + 1)
/* proxyDHCP's second port (PXE 2.1): requests after the address is known. */
#define PXE_PORT 4011
/* Interface addresses are re-read at most this often (and on a miss). */
#define IFACE_REFRESH_SEC 10
/* This machine's IPv4 addresses remembered, never handed out. */
#define OWN_ADDRS_MAX 64

struct iface {
	char name[IF_NAMESIZE];
	unsigned index;          /* 0: not present (yet) */
	uint32_t addr, mask;     /* host order; 0 when it has no IPv4 address */
};

struct pending {
	struct dhcp_outcome out;
	unsigned ifindex;
	uint32_t iface_addr;
	char iface[IF_NAMESIZE];
	char mac[3 * 16];
	bool has_mac6;           /* an Ethernet chaddr, reported to boot_events */
	uint8_t mac6[6];
	uint32_t xid;
	char user_class[48];
	bool on_pxe_port;        /* answer from the port 4011 socket */
	/* Copies of the outcome's names, for one that waits for its commit:
	 * a reload may free the config they point into before it is done. */
	char host[64];
	char subnet[64];
};

/* Requests whose lease must be written before their reply leaves. While
 * the store commits one batch, the requests decided meanwhile gather in
 * the open batch, which is submitted when the store is done (group commit:
 * one fsync for all that arrived during the last one). */
enum commit_state { COMMIT_FREE, COMMIT_OPEN, COMMIT_BUSY };

struct commit {
	struct dhcp_io *d;
	enum commit_state state; /* BUSY: lb submitted, done() not yet run */
	uint64_t seq;            /* decision order, between batches */
	unsigned n;
	struct pending p[DHCP_BATCH];
	struct lease_batch lb;
};

struct dhcp_io {
	struct loop *loop;
	const struct config *cfg;
	uint32_t fresh_seed;        /* this instance's start in the never-used addresses
				     * (moved when another instance's claims are met) */
	struct dhcp_server *server;
	struct lease_store *store;  /* NULL in proxy mode: no leases */
	bool loaded;                /* the store's leases are in server (else silent) */
	void (*ready_hook)(int result, void *data);
	void *ready_data;
	int fd;
	struct loop_io io;
	int pxe_fd;              /* proxy mode: port 4011; else -1 */
	struct loop_io pxe_io;
	struct iface ifaces[CONFIG_MAX_INTERFACES];
	unsigned n_ifaces;
	int64_t ifaces_read_at;
	uint32_t own_addrs[OWN_ADDRS_MAX];  /* host order, every interface's */
	size_t n_own_addrs;
	struct dhcp_stats stats;
	int http_port;           /* 0: take the configured one */
	struct boot_events *events;  /* may be NULL */
	struct commit *commits;  /* DHCP_COMMITS */
	struct commit *open;     /* gathering; NULL until a request needs one */
	unsigned busy;           /* commits submitted, not yet done */
	uint64_t next_seq;
	struct pending scratch;  /* a decision with no room in a batch */
	uint8_t buf[NET_MAX_DATAGRAM];
	struct dhcp_message msg;
};

static int64_t wall_now(void)
{
	return (int64_t)time(NULL);
}

/* --- interfaces --- */

static const char *range_problem_name(unsigned bit)
{
	switch (bit) {
	case DHCP_RANGE_OTHER_SUBNET: return "range-on-another-subnet";
	case DHCP_RANGE_BEYOND_SUBNET: return "range-extends-beyond-subnet";
	case DHCP_RANGE_NETWORK_ADDR: return "range-includes-network-address";
	case DHCP_RANGE_BROADCAST_ADDR: return "range-includes-broadcast-address";
	case DHCP_RANGE_SERVER_ADDR: return "range-includes-server-address";
	default: return "?";
	}
}

/* The [dhcp] range against an interface whose address is now known (at
 * start, on reload, or when it appears later): name each problem, and
 * say so when nothing in the range can be handed out there. The skipping
 * itself happens on every allocation (dhcp_server). */
static void iface_check_range(const struct dhcp_io *d, const struct iface *ifc)
{
	struct dhcp_range_check rc;
	char first[INET_ADDRSTRLEN], last[INET_ADDRSTRLEN], addr[INET_ADDRSTRLEN];
	struct in_addr a;

	if (d->cfg->dhcp.mode != DHCP_MODE_SERVER)
		return;
	dhcp_server_check_range(d->server, ifc->addr, ifc->mask, d->own_addrs, d->n_own_addrs,
				&rc);
	if (!rc.has_range || !rc.problems)
		return;
	a.s_addr = htonl(rc.first);
	inet_ntop(AF_INET, &a, first, sizeof(first));
	a.s_addr = htonl(rc.last);
	inet_ntop(AF_INET, &a, last, sizeof(last));
	a.s_addr = htonl(ifc->addr);
	inet_ntop(AF_INET, &a, addr, sizeof(addr));
	if (rc.problems & DHCP_RANGE_OTHER_SUBNET) {
		/* Normal for a second interface that serves fixed hosts only;
		 * a mistake when it is the only one. */
		log_warn(MOD, "range", "iface=%s addr=%s/%d range=%s-%s problem=%s "
			 "action=fixed-hosts-only", ifc->name, addr, __builtin_popcount(ifc->mask),
			 first, last, range_problem_name(DHCP_RANGE_OTHER_SUBNET));
		return;
	}
	for (unsigned bit = DHCP_RANGE_BEYOND_SUBNET; bit <= DHCP_RANGE_SERVER_ADDR; bit <<= 1) {
		char server[INET_ADDRSTRLEN] = "";
		if (!(rc.problems & bit))
			continue;
		if (bit == DHCP_RANGE_SERVER_ADDR) {
			a.s_addr = htonl(rc.server_addr);
			inet_ntop(AF_INET, &a, server, sizeof(server));
		}
		log_warn(MOD, "range", "iface=%s addr=%s/%d range=%s-%s problem=%s%s%s action=skip",
			 ifc->name, addr, __builtin_popcount(ifc->mask), first, last,
			 range_problem_name(bit), *server ? " server_addr=" : "", server);
	}
	if (!rc.usable)
		log_error(MOD, "range", "iface=%s addr=%s/%d range=%s-%s "
			  "error=\"no usable address left in the range\" action=not-serving",
			  ifc->name, addr, __builtin_popcount(ifc->mask), first, last);
}

static void ifaces_refresh(struct dhcp_io *d)
{
	struct ifaddrs *list, *a;
	uint32_t old[CONFIG_MAX_INTERFACES];

	for (unsigned i = 0; i < d->n_ifaces; i++) {
		old[i] = d->ifaces[i].addr;
		d->ifaces[i].index = if_nametoindex(d->ifaces[i].name);
		d->ifaces[i].addr = d->ifaces[i].mask = 0;
	}
	d->ifaces_read_at = wall_now();
	if (getifaddrs(&list) < 0)
		return;
	d->n_own_addrs = 0;
	for (a = list; a; a = a->ifa_next) {
		if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET || !a->ifa_netmask)
			continue;
		if (d->n_own_addrs < OWN_ADDRS_MAX)
			d->own_addrs[d->n_own_addrs++] =
				ntohl(((struct sockaddr_in *)a->ifa_addr)->sin_addr.s_addr);
		for (unsigned i = 0; i < d->n_ifaces; i++) {
			if (strcmp(a->ifa_name, d->ifaces[i].name) != 0 || d->ifaces[i].addr)
				continue;  /* first address is the interface's primary */
			d->ifaces[i].addr = ntohl(((struct sockaddr_in *)a->ifa_addr)->sin_addr.s_addr);
			d->ifaces[i].mask = ntohl(((struct sockaddr_in *)a->ifa_netmask)->sin_addr.s_addr);
		}
	}
	freeifaddrs(list);
	for (unsigned i = 0; i < d->n_ifaces; i++)
		if (d->ifaces[i].addr && d->ifaces[i].addr != old[i])
			iface_check_range(d, &d->ifaces[i]);
}

static struct iface *find_iface(struct dhcp_io *d, unsigned index)
{
	for (unsigned i = 0; i < d->n_ifaces; i++)
		if (d->ifaces[i].index == index && d->ifaces[i].index)
			return &d->ifaces[i];
	return NULL;
}

/* The interface a datagram came in on, if we serve it. Interfaces and
 * their addresses come and go (a tap created after we started, an address
 * added late at boot): look again when one is unknown or has no address,
 * at most once a second, and every IFACE_REFRESH_SEC regardless. */
static struct iface *iface_by_index(struct dhcp_io *d, unsigned index)
{
	struct iface *ifc = find_iface(d, index);
	int64_t age = wall_now() - d->ifaces_read_at;

	if ((!ifc || !ifc->addr) ? age >= 1 : age >= IFACE_REFRESH_SEC) {
		ifaces_refresh(d);
		ifc = find_iface(d, index);
	}
	return ifc;
}

static void ifaces_set(struct dhcp_io *d, const struct config *cfg)
{
	d->n_ifaces = cfg->dhcp.n_interfaces;
	for (unsigned i = 0; i < d->n_ifaces; i++) {
		snprintf(d->ifaces[i].name, sizeof(d->ifaces[i].name), "%s",
			 cfg->dhcp.interfaces[i]);
		d->ifaces[i].addr = 0;  /* a new range: check it again */
	}
	ifaces_refresh(d);
	for (unsigned i = 0; i < d->n_ifaces; i++) {
		char a[INET_ADDRSTRLEN];
		struct in_addr ia = { htonl(d->ifaces[i].addr) };
		inet_ntop(AF_INET, &ia, a, sizeof(a));
		if (!d->ifaces[i].index)
			log_warn(MOD, "interface", "name=%s state=missing", d->ifaces[i].name);
		else
			log_info(MOD, "interface", "name=%s index=%u addr=%s prefix=%d",
				 d->ifaces[i].name, d->ifaces[i].index, a,
				 __builtin_popcount(d->ifaces[i].mask));
	}
}

/* --- the batch --- */

/* chaddr as hlen hex bytes (not always Ethernet) */
static void format_chaddr(const struct dhcp_message *m, char *out, size_t size)
{
	size_t o = 0;

	out[0] = '\0';
	for (unsigned i = 0; i < m->hlen && o + 3 < size; i++)
		o += (size_t)snprintf(out + o, size - o, i ? ":%02x" : "%02x", m->chaddr[i]);
}

static void log_outcome(const struct pending *p)
{
	const struct dhcp_outcome *o = &p->out;
	char ip[INET_ADDRSTRLEN], boot[300];
	struct in_addr a = { htonl(o->ip) };
	enum log_level level = LOG_LEVEL_INFO;

	inet_ntop(AF_INET, &a, ip, sizeof(ip));
	if (o->boot.target)
		log_quote(boot, sizeof(boot), o->boot.target, SIZE_MAX);
	else
		snprintf(boot, sizeof(boot), "none");
	/* A proxy sees every machine's DHCP; only boot firmware is its
	 * business. */
	if (strcmp(o->event, "drop") == 0 || strcmp(o->event, "pass") == 0)
		level = LOG_LEVEL_DEBUG;
	else if (strcmp(o->event, "pool-full") == 0)
		level = LOG_LEVEL_WARN;
	/* Declines are the clients' word that an address is taken by
	 * something else; many of them mean a rogue host or a misplaced
	 * range, and a shrinking pool. */
	if (o->pool_subnet && (uint64_t)o->pool_declined * 10 > o->pool_size)
		log_warn(MOD, "pool-declines", "subnet=%s declined=%u size=%u",
			 *o->pool_subnet ? o->pool_subnet : "dhcp", o->pool_declined,
			 o->pool_size);
	if (!log_enabled(level))
		return;
	log_event(level, MOD, o->event,
		  "type=%s mac=%s xid=0x%08x iface=%s ip=%s arch=%s user_class=%s host=%s boot=%s%s%s",
		  dhcp_message_type_name(o->request_type), p->mac, p->xid, p->iface,
		  o->ip ? ip : "-", boot_arch_name(&o->boot_client), p->user_class,
		  o->host ? o->host : "-", boot,
		  o->reason ? " reason=" : "", o->reason ? o->reason : "");
}

static void send_reply(struct dhcp_io *d, const struct pending *p)
{
	const struct dhcp_outcome *o = &p->out;
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(o->dest_port),
				  .sin_addr.s_addr = htonl(o->dest_addr) };
	char cbuf[CMSG_SPACE(sizeof(struct in_pktinfo))] = { 0 };
	struct iovec iov = { (void *)o->reply, o->reply_len };
	struct msghdr mh = { .msg_name = &to, .msg_namelen = sizeof(to),
			     .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	/* Out of the interface the request came in on, from our address
	 * there (RFC 2131 4.1), also for the limited broadcast. */
	struct in_pktinfo pi = { .ipi_ifindex = (int)p->ifindex,
				 .ipi_spec_dst.s_addr = htonl(p->iface_addr) };

	cm->cmsg_level = IPPROTO_IP;
	cm->cmsg_type = IP_PKTINFO;
	cm->cmsg_len = CMSG_LEN(sizeof(pi));
	memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
	if (o->dest != DHCP_DEST_BROADCAST)
		pi.ipi_ifindex = 0;  /* unicast: let routing pick (relay may be remote) */
	memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
	if (sendmsg(p->on_pxe_port ? d->pxe_fd : d->fd, &mh, 0) < 0) {
		log_warn(MOD, "send-error", "mac=%s dest=%s error=\"%s\"", p->mac,
			 inet_ntoa(to.sin_addr), strerror(errno));
		return;
	}
	d->stats.sent[o->reply[242] < 9 ? o->reply[242] : 0]++;
}

static void emit_event(struct dhcp_io *d, const struct pending *p)
{
	const struct boot_client *c = &p->out.boot_client;
	struct boot_event ev = {
		.kind = BOOT_EV_DHCP, .at_usec = now_usec(), .has_mac = p->has_mac6,
		.ip = p->out.ip, .dhcp_event = p->out.event,
		.dhcp_firmware = c->has_arch || c->pxe || c->http || c->ipxe,
	};

	if (!d->events || !p->has_mac6)
		return;
	memcpy(ev.mac, p->mac6, 6);
	boot_events_emit(d->events, &ev);
}

static void finish_one(struct dhcp_io *d, struct pending *p)
{
	if (p->out.dest != DHCP_DEST_NONE && p->out.reply_len)
		send_reply(d, p);
	log_outcome(p);
	emit_event(d, p);
}

static bool slot_image_eq(const struct dhcp_slot_image *a, const struct dhcp_slot_image *b)
{
	return a->state == b->state && a->until == b->until && a->freed_at == b->freed_at &&
	       a->owner.len == b->owner.len && memcmp(a->owner.bytes, b->owner.bytes, a->owner.len) == 0;
}

/* p's change could not be undone because a later batch (in flight, or
 * the open one) changed the address again: that batch now undoes to the
 * state before p, since p's state never became durable either. */
static void undo_hand_on(struct dhcp_io *d, const struct commit *c, const struct pending *p)
{
	struct pending *next = NULL;
	uint64_t next_seq = UINT64_MAX;

	for (unsigned k = 0; k < DHCP_COMMITS; k++) {
		struct commit *o = &d->commits[k];
		if (o->state == COMMIT_FREE || o->seq <= c->seq || o->seq >= next_seq)
			continue;
		for (unsigned i = 0; i < o->n; i++) {
			struct pending *q = &o->p[i];
			if (q->out.lease.ip == p->out.lease.ip &&
			    slot_image_eq(&q->out.undo_before, &p->out.undo_after)) {
				next = q;
				next_seq = o->seq;
				break;
			}
		}
	}
	if (next)
		next->out.undo_before = p->out.undo_before;
}

/* p's lease will not be written: put its address back, keep its reply.
 * The client retries; an ACK we could not make durable is never sent. */
static void pending_undo(struct dhcp_io *d, struct commit *c, struct pending *p,
			 const char *event, const char *reason)
{
	if (!dhcp_server_undo(d->server, &p->out) && c)
		undo_hand_on(d, c, p);
	p->out.event = event;
	p->out.reason = reason;
	p->out.dest = DHCP_DEST_NONE;
}

static void commit_submit(struct dhcp_io *d, struct commit *c);

/* Another instance holds p's address (a shared store refused the claim):
 * undo the binding, remember the holder, and NAK rather than ACK. A NAK,
 * not a new decision with the next candidate: the client asked for this
 * address (SELECTING or INIT-REBOOT), an ACK must carry it (RFC 2131
 * 4.3.2), so the only honest answers are this one or silence, and the
 * NAK sends the client back to DISCOVER at once instead of after its
 * retransmission timeouts. Its next offer skips the address: memory now
 * knows the holder until its lease ends. */
static void claim_lost(struct dhcp_io *d, struct commit *c, struct pending *p,
		       const struct lease_record *holder)
{
	d->stats.claims_refused++;
	pending_undo(d, c, p, "nak", "address-claimed-elsewhere");
	dhcp_server_claim_lost(d->server, &p->out, holder);
}

/* In loop context, when the store is done with c's leases. */
static void commit_done(struct lease_batch *b, void *data)
{
	struct commit *c = data;
	struct dhcp_io *d = c->d;

	if (b->result < 0) {
		char q[sizeof(b->error) * 4 + 3];
		d->stats.store_errors++;
		/* An unreachable database is logged once per outage by the
		 * store (database-down), not once per batch. */
		log_event(b->result == -ENOTCONN ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERROR, MOD,
			  "store-error", "leases=%u error=%s action=withhold-acks", b->n,
			  log_quote(q, sizeof(q), b->error[0] ? b->error : strerror(-b->result),
				    SIZE_MAX));
		/* newest decision first */
		for (unsigned i = c->n; i-- > 0;)
			pending_undo(d, c, &c->p[i], "withheld", "store-error");
	} else {
		bool lost = false;
		for (unsigned i = c->n; i-- > 0;)
			if (b->changes[i].refused) {
				claim_lost(d, c, &c->p[i], &b->changes[i].rec);
				lost = true;
			}
		/* Another instance hands out the addresses here: go on from
		 * somewhere else rather than follow it address by address
		 * (each a refused claim and a NAK). */
		if (lost) {
			uint32_t x = d->fresh_seed ? d->fresh_seed : 0x6b69646fu;
			x ^= x << 13;  /* xorshift32: another place, any place */
			x ^= x >> 17;
			x ^= x << 5;
			d->fresh_seed = x;
			dhcp_server_set_shared(d->server, true, d->fresh_seed);
		}
		/* What other instances hold next to a refused claim: the next
		 * offers skip it (a slot bound here stays as it is). */
		for (unsigned i = 0; i < b->n_learned; i++)
			dhcp_server_restore(d->server, &b->learned[i]);
		if (b->n_learned) {
			d->stats.claims_learned += b->n_learned;
			log_debug(MOD, "learned", "leases=%u source=database", b->n_learned);
		}
	}
	free(b->learned);
	b->learned = NULL;
	b->n_learned = 0;
	for (unsigned i = 0; i < c->n; i++)
		finish_one(d, &c->p[i]);
	c->state = COMMIT_FREE;
	c->n = 0;
	d->busy--;
	/* What gathered meanwhile goes now, in one transaction. */
	if (!d->busy && d->open && d->open->n)
		commit_submit(d, d->open);
}

static void commit_submit(struct dhcp_io *d, struct commit *c)
{
	struct lease_batch *b = &c->lb;

	b->n = c->n;
	for (unsigned i = 0; i < c->n; i++) {
		b->changes[i].op = LEASE_OP_PUT;
		b->changes[i].rec = c->p[i].out.lease;
	}
	if (d->open == c)
		d->open = NULL;
	if (d->store->ops->submit(d->store, b, commit_done, c) < 0) {
		/* Not reached: dhcp_io never has more than the store takes. */
		d->stats.store_busy += c->n;
		for (unsigned i = c->n; i-- > 0;) {
			pending_undo(d, NULL, &c->p[i], "drop", "store-busy");
			finish_one(d, &c->p[i]);
		}
		c->state = COMMIT_FREE;
		c->n = 0;
		return;
	}
	c->state = COMMIT_BUSY;
	d->busy++;
	log_debug(MOD, "store-submit", "leases=%u in_flight=%u", b->n, d->busy);
}

/* The open batch, with room for one more request; NULL when every batch
 * is full or in flight: the store is stuck (a lock held, a slow disk). */
static struct commit *open_commit(struct dhcp_io *d)
{
	if (d->open && d->open->n == DHCP_BATCH) {
		if (d->busy == LEASE_STORE_QUEUE_DHCP)
			return NULL;
		commit_submit(d, d->open);  /* full: it need not wait its turn */
	}
	if (d->open)
		return d->open;
	for (unsigned k = 0; k < DHCP_COMMITS; k++) {
		struct commit *c = &d->commits[k];
		if (c->state == COMMIT_FREE) {
			c->state = COMMIT_OPEN;
			c->n = 0;
			c->seq = d->next_seq++;
			d->open = c;
			return c;
		}
	}
	return NULL;
}

/* Copy p to where it waits for its commit, with its own copies of the
 * strings its log line needs that point into the config (freed by a
 * reload) or into p itself (reused for the next datagram). */
static void pending_keep(struct pending *dst, const struct pending *src)
{
	struct dhcp_outcome *o = &dst->out;

	*dst = *src;
	if (o->boot.target) {
		if (src->out.boot.target != src->out.boot_target)
			snprintf(o->boot_target, sizeof(o->boot_target), "%s", src->out.boot.target);
		o->boot.target = o->boot_target;
	}
	if (o->host) {
		snprintf(dst->host, sizeof(dst->host), "%s", o->host);
		o->host = dst->host;
	}
	if (o->pool_subnet) {
		snprintf(dst->subnet, sizeof(dst->subnet), "%s", o->pool_subnet);
		o->pool_subnet = dst->subnet;
	}
}

/* One request decided into *p. A reply that needs no write leaves now;
 * one that does joins the open batch, or, with none to join, is dropped
 * and undone (not queued without bound; its client retries). */
static void after_decision(struct dhcp_io *d, struct pending *p)
{
	struct commit *c;

	if (p->out.store != DHCP_STORE_PUT) {
		finish_one(d, p);
		return;
	}
	c = d->store ? open_commit(d) : NULL;
	if (!c) {
		d->stats.store_busy++;
		pending_undo(d, NULL, p, "drop", "store-busy");
		finish_one(d, p);
		return;
	}
	pending_keep(&c->p[c->n++], p);
}

/* Decode and decide one datagram into *p; false if dropped silently. */
static bool handle_datagram(struct dhcp_io *d, size_t len, unsigned ifindex,
			    const struct sockaddr_in *from, bool on_pxe_port, struct pending *p)
{
	struct iface *ifc = iface_by_index(d, ifindex);
	struct dhcp_request_ctx ctx;
	size_t uclen;
	const uint8_t *uc;

	if (!ifc) {
		d->stats.dropped++;
		return false;  /* not an interface we serve: not even a log */
	}
	if (!d->loaded) {
		/* Started without the database: who holds what is unknown. */
		d->stats.dropped++;
		log_debug(MOD, "drop", "reason=database-not-loaded iface=%s len=%zu", ifc->name, len);
		return false;
	}
	if (dhcp_decode(d->buf, len, &d->msg) < 0) {
		d->stats.received[0]++;
		d->stats.dropped++;
		log_debug(MOD, "drop", "reason=malformed iface=%s len=%zu", ifc->name, len);
		return false;
	}
	d->stats.received[dhcp_message_type(&d->msg) < 9 ? dhcp_message_type(&d->msg) : 0]++;
	ctx = (struct dhcp_request_ctx){ .iface_addr = ifc->addr, .iface_mask = ifc->mask,
					 .own_addrs = d->own_addrs, .n_own_addrs = d->n_own_addrs,
					 .now = wall_now(), .on_pxe_port = on_pxe_port,
					 .src_addr = ntohl(from->sin_addr.s_addr),
					 .src_port = ntohs(from->sin_port) };
	if (dhcp_server_handle(d->server, &d->msg, &ctx, &p->out) < 0)
		d->stats.dropped++;
	p->ifindex = ifindex;
	p->iface_addr = ifc->addr;
	p->on_pxe_port = on_pxe_port;
	snprintf(p->iface, sizeof(p->iface), "%s", ifc->name);
	format_chaddr(&d->msg, p->mac, sizeof(p->mac));
	p->has_mac6 = d->msg.hlen == 6;
	if (p->has_mac6)
		memcpy(p->mac6, d->msg.chaddr, 6);
	p->xid = d->msg.xid;
	uc = dhcp_option(&d->msg, DHCP_OPT_USER_CLASS, 1, &uclen);
	if (uc)
		log_quote(p->user_class, sizeof(p->user_class), (const char *)uc, uclen);
	else
		snprintf(p->user_class, sizeof(p->user_class), "-");
	return true;
}

static void dhcp_on_io(struct loop_io *io, uint32_t revents)
{
	struct dhcp_io *d = io->data;
	bool on_pxe_port = io == &d->pxe_io;
	int fd = on_pxe_port ? d->pxe_fd : d->fd;
	unsigned n = 0;

	/* At most DHCP_BATCH datagrams per wakeup: TFTP and HTTP get their
	 * turn in a storm. */
	while (n < DHCP_BATCH) {
		char cbuf[CMSG_SPACE(sizeof(struct in_pktinfo))];
		struct sockaddr_in from;
		struct iovec iov = { d->buf, sizeof(d->buf) };
		struct msghdr mh = { .msg_name = &from, .msg_namelen = sizeof(from),
				     .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
		unsigned ifindex = 0;
		ssize_t len = recvmsg(fd, &mh, 0);

		if (len < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
				struct in_pktinfo pi;
				memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
				ifindex = (unsigned)pi.ipi_ifindex;
			}
		}
		if (mh.msg_flags & MSG_TRUNC) {
			d->stats.dropped++;
			continue;
		}
		if (mh.msg_namelen < sizeof(from)) {
			d->stats.dropped++;
			continue;
		}
		n++;
		if (handle_datagram(d, (size_t)len, ifindex, &from, on_pxe_port, &d->scratch))
			after_decision(d, &d->scratch);
	}
	/* The store is idle: what this wakeup decided goes at once. */
	if (!d->busy && d->open && d->open->n)
		commit_submit(d, d->open);
}

/* --- lifecycle --- */

static int restore_one(const struct lease_record *r, void *ctx)
{
	return dhcp_server_restore(ctx, r);
}

/* In loop context: the store was reached after a start without it. */
static void on_store_ready(int result, const char *error, void *data)
{
	struct dhcp_io *d = data;
	char q[600];

	if (result == 0)
		result = d->store->ops->load(d->store, restore_one, d->server);
	if (result == 0) {
		d->loaded = true;
		log_info(MOD, "leases-loaded", "database=\"%s\" leases_in_use=%u note=\"answering "
			 "from now on\"", d->cfg->dhcp.database,
			 dhcp_server_leases_in_use(d->server, wall_now()));
	} else {
		log_error(MOD, "database", "error=%s action=exit",
			  log_quote(q, sizeof(q), error && *error ? error : strerror(-result),
				    SIZE_MAX));
	}
	if (d->ready_hook)
		d->ready_hook(result, d->ready_data);
}

void dhcp_io_set_ready_hook(struct dhcp_io *d, void (*hook)(int result, void *data), void *data)
{
	d->ready_hook = hook;
	d->ready_data = data;
}

bool dhcp_io_loaded(const struct dhcp_io *d)
{
	return d && d->loaded;
}

static int build_server(const struct dhcp_io *d, const struct config *cfg,
			struct dhcp_server **ret)
{
	struct dhcp_server *s;
	int r = dhcp_server_new(cfg, &s);

	if (r < 0)
		return r;
	if (d->http_port)
		dhcp_server_set_http_port(s, d->http_port);
	dhcp_server_set_shared(s, lease_store_is_pg(cfg->dhcp.database), d->fresh_seed);
	*ret = s;
	return 0;
}

static int open_socket(const struct sockaddr_in *addr)
{
	int one = 1;
	int fd = net_udp_bind(addr, true);

	if (fd < 0)
		return fd;
	if (setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one)) < 0) {
		int r = -errno;
		safe_close(fd);
		return r;
	}
	return fd;
}

static int open_pxe_socket(struct dhcp_io *d, const struct config *cfg)
{
	struct sockaddr_in addr = cfg->dhcp.listen;
	char ep[NET_ENDPOINT_STRLEN];
	int r;

	addr.sin_port = htons(PXE_PORT);
	d->pxe_fd = open_socket(&addr);
	if (d->pxe_fd < 0) {
		r = d->pxe_fd;
		log_error(MOD, "listen", "addr=%s error=\"%s\"", net_format_endpoint(&addr, ep),
			  strerror(-r));
		return r;
	}
	d->pxe_io = (struct loop_io){ .fd = d->pxe_fd, .events = EPOLLIN, .cb = dhcp_on_io,
				      .data = d };
	return loop_io_add(d->loop, &d->pxe_io);
}

int dhcp_io_new(struct loop *loop, const struct config *cfg, struct dhcp_io **ret)
{
	struct dhcp_io *d = calloc(1, sizeof(*d));
	char err[512] = "", ep[NET_ENDPOINT_STRLEN];
	int r;

	if (!d)
		return -ENOMEM;
	d->loop = loop;
	d->cfg = cfg;
	d->fd = -1;
	d->pxe_fd = -1;
	d->commits = calloc(DHCP_COMMITS, sizeof(*d->commits));
	if (!d->commits) {
		free(d);
		return -ENOMEM;
	}
	for (unsigned k = 0; k < DHCP_COMMITS; k++)
		d->commits[k].d = d;
	/* Instances sharing one database each begin their never-used
	 * addresses somewhere else in the range (kept across reloads), so
	 * their first offers do not claim the same addresses. Any value
	 * will do; the kernel's pool is only the likeliest to differ. */
	if (getrandom(&d->fresh_seed, sizeof(d->fresh_seed), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(d->fresh_seed))
		d->fresh_seed = (uint32_t)getpid() * 2654435761u ^ (uint32_t)time(NULL);
	r = cfg->dhcp.mode == DHCP_MODE_PROXY ? 0 :
		lease_store_open(cfg->dhcp.database, loop,
				 cfg->dhcp.database_busy_timeout_sec * 1000u, true,
				 &d->store, err, sizeof(err));
	if (r < 0) {
		char q[600];
		log_error(MOD, "database", "error=%s", log_quote(q, sizeof(q), err, SIZE_MAX));
		goto fail;
	}
	r = build_server(d, cfg, &d->server);
	/* The only read of the store: at startup, before the loop runs; or,
	 * for a shared store not reached yet, once it is (on_store_ready). */
	d->loaded = true;
	if (r >= 0 && d->store && d->store->ops->when_ready &&
	    d->store->ops->when_ready(d->store, on_store_ready, d) == 0) {
		char q[600];
		d->loaded = false;
		log_warn(MOD, "database", "error=%s action=\"serve TFTP and HTTP; DHCP silent until "
			 "the database is reached\"", log_quote(q, sizeof(q), err, SIZE_MAX));
	} else if (r >= 0 && d->store) {
		r = d->store->ops->load(d->store, restore_one, d->server);
	}
	if (r < 0) {
		log_error(MOD, "database", "path=\"%s\" error=\"cannot load leases\"",
			  cfg->dhcp.database);
		goto fail;
	}
	d->fd = open_socket(&cfg->dhcp.listen);
	if (d->fd < 0) {
		r = d->fd;
		log_error(MOD, "listen", "addr=%s error=\"%s\"",
			  net_format_endpoint(&cfg->dhcp.listen, ep), strerror(-r));
		goto fail;
	}
	d->io = (struct loop_io){ .fd = d->fd, .events = EPOLLIN, .cb = dhcp_on_io, .data = d };
	r = loop_io_add(loop, &d->io);
	if (r < 0)
		goto fail;
	if (cfg->dhcp.mode == DHCP_MODE_PROXY) {
		r = open_pxe_socket(d, cfg);
		if (r < 0)
			goto fail;
	}
	ifaces_set(d, cfg);
	if (cfg->dhcp.mode == DHCP_MODE_PROXY)
		log_info(MOD, "listening", "addr=%s mode=proxy pxe_port=%d",
			 net_format_endpoint(&cfg->dhcp.listen, ep), PXE_PORT);
	else
		log_info(MOD, "listening", "addr=%s mode=server database=\"%s\" leases_in_use=%u",
			 net_format_endpoint(&cfg->dhcp.listen, ep), cfg->dhcp.database,
			 dhcp_server_leases_in_use(d->server, wall_now()));
	*ret = d;
	return 0;
fail:
	dhcp_io_free(d);
	return r;
}

int dhcp_io_reload_prepare(const struct dhcp_io *d, const struct config *cfg,
			   struct dhcp_server **ret)
{
	int r;

	if (cfg->dhcp.mode != d->cfg->dhcp.mode) {
		log_error(MOD, "reload", "error=\"[dhcp] mode changes need a restart\" "
			  "action=keep-old");
		return -EINVAL;
	}
	if (strcmp(cfg->dhcp.database, d->cfg->dhcp.database) != 0 ||
	    cfg->dhcp.listen.sin_port != d->cfg->dhcp.listen.sin_port ||
	    cfg->dhcp.listen.sin_addr.s_addr != d->cfg->dhcp.listen.sin_addr.s_addr)
		log_warn(MOD, "reload", "note=\"database and listen changes need a restart\"");
	r = build_server(d, cfg, ret);
	if (r < 0)
		log_error(MOD, "reload", "error=\"%s\" action=keep-old", strerror(-r));
	return r;
}

void dhcp_io_reload_abort(struct dhcp_server *s)
{
	dhcp_server_free(s);
}

void dhcp_io_reload_commit(struct dhcp_io *d, const struct config *cfg, struct dhcp_server *s)
{
	/* From memory, not the database: a reload never waits on the disk,
	 * and the leases whose commit is in flight come along too. */
	dhcp_server_carry_leases(s, d->server);
	dhcp_server_free(d->server);
	d->server = s;
	d->cfg = cfg;
	ifaces_set(d, cfg);
}

void dhcp_io_set_events(struct dhcp_io *d, struct boot_events *events)
{
	d->events = events;
}

void dhcp_io_set_http_port(struct dhcp_io *d, int port)
{
	d->http_port = port;
	dhcp_server_set_http_port(d->server, port);
}

const struct dhcp_stats *dhcp_io_stats(const struct dhcp_io *d)
{
	return &d->stats;
}

void dhcp_io_pool_usage(const struct dhcp_io *d,
			void (*cb)(void *ctx, const char *subnet, const struct dhcp_pool_usage *u),
			void *ctx)
{
	dhcp_server_pool_usage(d->server, wall_now(), cb, ctx);
}

int dhcp_io_mac_for_ip(const struct dhcp_io *d, uint32_t ip, uint8_t mac[6])
{
	return dhcp_server_mac_for_ip(d->server, ip, wall_now(), mac);
}

void dhcp_io_foreach_lease(const struct dhcp_io *d,
			   void (*cb)(void *ctx, const struct dhcp_lease_info *l), void *ctx)
{
	dhcp_server_foreach_lease(d->server, wall_now(), cb, ctx);
}

void dhcp_io_free(struct dhcp_io *d)
{
	if (!d)
		return;
	if (d->fd >= 0) {
		loop_io_del(d->loop, &d->io);
		safe_close(d->fd);
	}
	if (d->pxe_fd >= 0) {
		loop_io_del(d->loop, &d->pxe_io);
		safe_close(d->pxe_fd);
	}
	/* Joins the writer; batches still pending are abandoned, their ACKs
	 * never sent. */
	lease_store_close(d->store);
	for (unsigned k = 0; d->commits && k < DHCP_COMMITS; k++)
		if (d->commits[k].n)
			log_warn(MOD, "store-abandon", "leases=%u", d->commits[k].n);
	dhcp_server_free(d->server);
	free(d->commits);
	free(d);
}

struct lease_store *dhcp_io_store(const struct dhcp_io *d)
{
	return d ? d->store : NULL;
}
