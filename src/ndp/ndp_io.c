/* ndp_io.c - see ndp_io.h. */
#include "ndp/ndp_io.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "log.h"
#include "ndp/ndp_wire.h"
#include "util.h"

#define MOD "ndp"
/* RFC 4861 10: MIN_DELAY_BETWEEN_RAS, for advertisements to all nodes. */
#define MULTICAST_GAP_USEC (3 * 1000000ull)
/* How often interfaces are looked at again: quickly while one still waits
 * for its link-local address (DAD takes a second or two after link-up),
 * slowly once all are announced. */
#define REFRESH_FAST_USEC (500 * 1000ull)
#define REFRESH_SLOW_USEC (10 * 1000000ull)
#define MAX_LINK_LOCALS 4
/* Listen before speaking: in mode auto kidou solicits a router on an
 * interface and waits this long (RFC 4861 10: a router answers within
 * MAX_RA_DELAY_TIME, 0.5 s) before its first advertisement there. */
#define PROBE_USEC (1000 * 1000ull)

struct ndp_iface {
	char name[IF_NAMESIZE];
	unsigned index;                 /* 0: not present */
	bool has_mac;
	uint8_t mac[6];
	struct in6_addr link_local[MAX_LINK_LOCALS];
	unsigned n_link_local;
	bool joined;                    /* ff02::2 joined on index */
	uint64_t probe_until;           /* our solicitation's answer is due; 0: not sent */
	bool probed;                    /* the probe is over (or mode always) */
	bool announced;                 /* startup advertisement sent */
	bool foreign_router;            /* another router advertises here */
	uint64_t last_multicast;        /* usec; 0: never */
	bool multicast_pending;         /* one is due at last_multicast + gap */
};

struct ndp_io {
	struct loop *loop;
	enum ipv6_ra_mode mode;
	struct boot_events *events;
	int fd;
	struct loop_io io;
	struct loop_timer timer;
	struct ndp_iface ifaces[CONFIG_MAX_INTERFACES];
	unsigned n_ifaces;
	uint64_t refreshed_at;          /* usec */
	struct ndp_stats stats;
};

static const struct in6_addr all_nodes = { { { 0xff, 0x02, [15] = 0x01 } } };
static const struct in6_addr all_routers = { { { 0xff, 0x02, [15] = 0x02 } } };

static const char *addr6(const struct in6_addr *a, char buf[INET6_ADDRSTRLEN])
{
	return inet_ntop(AF_INET6, a, buf, INET6_ADDRSTRLEN);
}

/* --- interfaces --- */

static struct ndp_iface *iface_by_index(struct ndp_io *n, unsigned index)
{
	for (unsigned i = 0; i < n->n_ifaces; i++)
		if (index && n->ifaces[i].index == index)
			return &n->ifaces[i];
	return NULL;
}

static struct ndp_iface *iface_by_name(struct ndp_io *n, const char *name)
{
	for (unsigned i = 0; i < n->n_ifaces; i++)
		if (strcmp(n->ifaces[i].name, name) == 0)
			return &n->ifaces[i];
	return NULL;
}

static bool is_link_local(const struct in6_addr *a)
{
	return a->s6_addr[0] == 0xfe && (a->s6_addr[1] & 0xc0) == 0x80;
}

static void join_all_routers(struct ndp_io *n, struct ndp_iface *ifc)
{
	struct ipv6_mreq mr = { .ipv6mr_multiaddr = all_routers,
				.ipv6mr_interface = ifc->index };

	/* Solicitations go to all-routers (RFC 4861 6.3.7): join it, or
	 * the interface's multicast filter may never let them in. */
	if (setsockopt(n->fd, IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0 &&
	    errno != EADDRINUSE) {
		log_debug(MOD, "join", "iface=%s error=\"%s\"", ifc->name, strerror(errno));
		return;
	}
	ifc->joined = true;
}

/* Index, MAC and link-local addresses of every configured interface, read
 * afresh: taps and bridges come and go under a boot server. */
static void ifaces_refresh(struct ndp_io *n)
{
	struct ifaddrs *list, *a;

	n->refreshed_at = now_usec();
	for (unsigned i = 0; i < n->n_ifaces; i++) {
		struct ndp_iface *ifc = &n->ifaces[i];
		unsigned index = if_nametoindex(ifc->name);
		if (index != ifc->index) {
			ifc->index = index;
			ifc->joined = ifc->announced = ifc->probed = false;
			ifc->probe_until = 0;
		}
		ifc->has_mac = false;
		ifc->n_link_local = 0;
	}
	if (getifaddrs(&list) < 0)
		return;
	for (a = list; a; a = a->ifa_next) {
		struct ndp_iface *ifc = a->ifa_addr ? iface_by_name(n, a->ifa_name) : NULL;

		if (!ifc || !ifc->index)
			continue;
		if (a->ifa_addr->sa_family == AF_PACKET) {
			const struct sockaddr_ll *ll = (const struct sockaddr_ll *)a->ifa_addr;
			if (ll->sll_halen == 6) {
				memcpy(ifc->mac, ll->sll_addr, 6);
				ifc->has_mac = true;
			}
		} else if (a->ifa_addr->sa_family == AF_INET6) {
			const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)a->ifa_addr;
			if (is_link_local(&s6->sin6_addr) && ifc->n_link_local < MAX_LINK_LOCALS)
				ifc->link_local[ifc->n_link_local++] = s6->sin6_addr;
		}
	}
	freeifaddrs(list);
	for (unsigned i = 0; i < n->n_ifaces; i++)
		if (n->ifaces[i].index && !n->ifaces[i].joined)
			join_all_routers(n, &n->ifaces[i]);
}

static bool may_advertise(const struct ndp_io *n, const struct ndp_iface *ifc)
{
	return ifc->index && ifc->has_mac && ifc->n_link_local &&
	       (n->mode == IPV6_RA_ALWAYS || (!ifc->foreign_router && ifc->probed));
}

/* --- sending --- */

/* Send an NDP message out of ifc, from its link-local address (RFC 4861
 * 6.1.2 and 4.1: routers and solicitors use it) with hop limit 255. */
static int send_msg(struct ndp_io *n, struct ndp_iface *ifc, const struct in6_addr *to,
		    const uint8_t *pkt, size_t len)
{
	struct sockaddr_in6 dst = { .sin6_family = AF_INET6, .sin6_addr = *to,
				    .sin6_scope_id = ifc->index };
	char cbuf[CMSG_SPACE(sizeof(struct in6_pktinfo))] = { 0 };
	struct iovec iov = { (void *)pkt, len };
	struct msghdr mh = { .msg_name = &dst, .msg_namelen = sizeof(dst),
			     .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	struct in6_pktinfo pi = { .ipi6_addr = ifc->link_local[0],
				  .ipi6_ifindex = ifc->index };
	char a[INET6_ADDRSTRLEN];

	cm->cmsg_level = IPPROTO_IPV6;
	cm->cmsg_type = IPV6_PKTINFO;
	cm->cmsg_len = CMSG_LEN(sizeof(pi));
	memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
	if (sendmsg(n->fd, &mh, 0) < 0) {
		int r = -errno;
		/* Typically a link-local address still in DAD: the refresh
		 * timer tries again. */
		log_debug(MOD, "send-error", "iface=%s to=%s type=%u error=\"%s\"", ifc->name,
			  addr6(to, a), pkt[0], strerror(errno));
		return r;
	}
	return 0;
}

static int send_ra(struct ndp_io *n, struct ndp_iface *ifc, const struct in6_addr *to,
		   const char *why)
{
	uint8_t pkt[NDP_QUIET_RA_LEN];
	char a[INET6_ADDRSTRLEN];
	int r;

	ndp_encode_quiet_ra(ifc->mac, pkt, sizeof(pkt));
	r = send_msg(n, ifc, to, pkt, sizeof(pkt));
	if (r < 0)
		return r;
	n->stats.advertisements++;
	log_debug(MOD, "ra", "iface=%s to=%s reason=%s", ifc->name, addr6(to, a), why);
	return 0;
}

/* Ask for a router before the first advertisement (mode auto). */
static void send_probe(struct ndp_io *n, struct ndp_iface *ifc, uint64_t now)
{
	uint8_t pkt[NDP_RS_LEN];

	ndp_encode_rs(ifc->mac, pkt, sizeof(pkt));
	if (send_msg(n, ifc, &all_routers, pkt, sizeof(pkt)) < 0)
		return;
	ifc->probe_until = now + PROBE_USEC;
	log_debug(MOD, "probe", "iface=%s wait_ms=%llu", ifc->name,
		  (unsigned long long)(PROBE_USEC / 1000));
}

static void send_multicast(struct ndp_io *n, struct ndp_iface *ifc, uint64_t now,
			   const char *why)
{
	if (send_ra(n, ifc, &all_nodes, why) == 0)
		ifc->last_multicast = now;
	ifc->multicast_pending = false;
}

static void timer_arm(struct ndp_io *n);

/* An advertisement to all nodes now if the rate limit allows, else the
 * next one allowed (one covers every solicitation that waited for it). */
static void want_multicast(struct ndp_io *n, struct ndp_iface *ifc, const char *why)
{
	uint64_t now = now_usec();

	if (!ifc->last_multicast || now - ifc->last_multicast >= MULTICAST_GAP_USEC) {
		send_multicast(n, ifc, now, why);
	} else {
		ifc->multicast_pending = true;
		timer_arm(n);
	}
}

/* --- receiving --- */

/* MAC of a modified EUI-64 link-local address (RFC 4291 appendix A), as
 * iPXE and most firmware form theirs, for solicitations that omit the
 * source link-layer option. */
static bool mac_from_eui64(const struct in6_addr *a, uint8_t mac[6])
{
	const uint8_t *b = a->s6_addr;

	if (!is_link_local(a) || b[11] != 0xff || b[12] != 0xfe)
		return false;
	mac[0] = b[8] ^ 0x02;
	mac[1] = b[9];
	mac[2] = b[10];
	mac[3] = b[13];
	mac[4] = b[14];
	mac[5] = b[15];
	return true;
}

static void on_advert(struct ndp_io *n, struct ndp_iface *ifc, const struct in6_addr *from,
		      const struct ndp_message *m)
{
	char a[INET6_ADDRSTRLEN];

	/* An advertisement that configures nothing (router lifetime 0, no
	 * prefix, M and O clear) is what kidou itself sends: no router is
	 * there, and staying silent for it would leave iPXE waiting. It is
	 * also our own answer coming back, when a program on this host
	 * (kidou doctor) solicits from our link-local address. */
	if (m->router_lifetime == 0 && m->n_prefixes == 0 &&
	    !(m->flags & (NDP_RA_FLAG_MANAGED | NDP_RA_FLAG_OTHER))) {
		log_debug(MOD, "quiet-advert", "iface=%s from=%s action=ignore", ifc->name,
			  addr6(from, a));
		return;
	}
	/* Never our own otherwise: IPV6_MULTICAST_LOOP is off and our
	 * unicast answers go to others. One from our own address is another
	 * program on this host (radvd): a router all the same. */
	n->stats.foreign_adverts++;
	if (ifc->foreign_router)
		return;
	ifc->foreign_router = true;
	ifc->multicast_pending = false;
	if (n->mode == IPV6_RA_ALWAYS)
		log_info(MOD, "foreign-router", "iface=%s from=%s action=answer-anyway mode=always",
			 ifc->name, addr6(from, a));
	else
		log_warn(MOD, "foreign-router", "iface=%s from=%s action=silent "
			 "note=\"another router advertises here; kidou sends no more advertisements on this interface\"",
			 ifc->name, addr6(from, a));
}

static void on_solicit(struct ndp_io *n, struct ndp_iface *ifc, const struct in6_addr *from,
		       const struct ndp_message *m)
{
	struct boot_event ev = { .kind = BOOT_EV_ROUTER_SOLICIT, .at_usec = now_usec() };
	char a[INET6_ADDRSTRLEN], mac[MAC_STRLEN] = "-";
	bool unspecified = IN6_IS_ADDR_UNSPECIFIED(from);
	const char *action;

	n->stats.solicitations++;
	if (m->has_source_lladdr) {
		memcpy(ev.mac, m->source_lladdr, 6);
		ev.has_mac = true;
	} else {
		ev.has_mac = mac_from_eui64(from, ev.mac);
	}
	if (ev.has_mac)
		format_mac(ev.mac, mac);
	if (!may_advertise(n, ifc)) {
		action = ifc->foreign_router ? "silent" : "not-ready";
	} else if (unspecified || !is_link_local(from)) {
		want_multicast(n, ifc, "solicited");
		action = "answered-all-nodes";
		ev.ok = true;
	} else {
		ev.ok = send_ra(n, ifc, from, "solicited") == 0;
		action = ev.ok ? "answered" : "send-error";
	}
	log_event(ev.ok ? LOG_LEVEL_INFO : LOG_LEVEL_DEBUG, MOD, "rs",
		  "iface=%s from=%s mac=%s action=%s", ifc->name, addr6(from, a), mac, action);
	boot_events_emit(n->events, &ev);
}

static void handle(struct ndp_io *n, const uint8_t *buf, size_t len, unsigned ifindex,
		   int hop_limit, const struct in6_addr *from)
{
	struct ndp_iface *ifc = iface_by_index(n, ifindex);
	struct ndp_message m;
	char a[INET6_ADDRSTRLEN];

	if (!ifc) {
		/* Perhaps an interface that appeared since; but a busy IPv6
		 * network on other interfaces must not make us re-read the
		 * interface list for every packet. */
		if (now_usec() - n->refreshed_at < REFRESH_FAST_USEC)
			return;
		ifaces_refresh(n);
		ifc = iface_by_index(n, ifindex);
		if (!ifc)
			return;  /* not one we serve: not even a log */
	}
	if (ndp_decode(buf, len, &m) < 0) {
		n->stats.dropped++;
		log_debug(MOD, "drop", "reason=malformed iface=%s from=%s len=%zu", ifc->name,
			  addr6(from, a), len);
		return;
	}
	/* RFC 4861 6.1: hop limit 255 proves the sender is on this link. */
	if (hop_limit != NDP_HOP_LIMIT) {
		n->stats.dropped++;
		log_debug(MOD, "drop", "reason=hop-limit hop_limit=%d iface=%s from=%s", hop_limit,
			  ifc->name, addr6(from, a));
		return;
	}
	if (m.type == NDP_ROUTER_ADVERT) {
		if (!is_link_local(from)) {  /* 6.1.2 */
			n->stats.dropped++;
			log_debug(MOD, "drop", "reason=ra-not-link-local iface=%s from=%s",
				  ifc->name, addr6(from, a));
			return;
		}
		on_advert(n, ifc, from, &m);
		return;
	}
	if (IN6_IS_ADDR_UNSPECIFIED(from) && m.has_source_lladdr) {  /* 6.1.1 */
		n->stats.dropped++;
		log_debug(MOD, "drop", "reason=unspecified-with-lladdr iface=%s", ifc->name);
		return;
	}
	on_solicit(n, ifc, from, &m);
}

static void ndp_on_io(struct loop_io *io, uint32_t revents)
{
	struct ndp_io *n = io->data;

	/* A bounded batch per wakeup: solicitations are rare, a flood of
	 * them must not starve DHCP and TFTP on the same loop. */
	for (unsigned batch = 0; batch < 64; batch++) {
		uint8_t buf[1500];
		char cbuf[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(int))];
		struct sockaddr_in6 from;
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr mh = { .msg_name = &from, .msg_namelen = sizeof(from),
				     .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
		unsigned ifindex = 0;
		int hop_limit = -1;
		ssize_t len = recvmsg(n->fd, &mh, 0);

		if (len < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level != IPPROTO_IPV6)
				continue;
			if (cm->cmsg_type == IPV6_PKTINFO &&
			    cm->cmsg_len >= CMSG_LEN(sizeof(struct in6_pktinfo))) {
				struct in6_pktinfo pi;
				memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
				ifindex = (unsigned)pi.ipi6_ifindex;
			} else if (cm->cmsg_type == IPV6_HOPLIMIT &&
				   cm->cmsg_len >= CMSG_LEN(sizeof(int))) {
				memcpy(&hop_limit, CMSG_DATA(cm), sizeof(int));
			}
		}
		if ((mh.msg_flags & MSG_TRUNC) || mh.msg_namelen < sizeof(from)) {
			n->stats.dropped++;
			continue;
		}
		handle(n, buf, (size_t)len, ifindex, hop_limit, &from.sin6_addr);
	}
}

/* --- the timer: announcements, pending multicasts, interface refresh --- */

static void timer_arm(struct ndp_io *n)
{
	uint64_t wait = REFRESH_SLOW_USEC, now = now_usec();

	for (unsigned i = 0; i < n->n_ifaces; i++) {
		const struct ndp_iface *ifc = &n->ifaces[i];
		if (!ifc->announced && !ifc->foreign_router)
			wait = MIN(wait, REFRESH_FAST_USEC);
		if (ifc->probe_until && !ifc->probed)
			wait = MIN(wait, ifc->probe_until > now ? ifc->probe_until - now : 0);
		if (ifc->multicast_pending) {
			uint64_t due = ifc->last_multicast + MULTICAST_GAP_USEC;
			wait = MIN(wait, due > now ? due - now : 0);
		}
	}
	loop_timer_arm(n->loop, &n->timer, wait);
}

static void ndp_on_timer(struct loop_timer *t)
{
	struct ndp_io *n = t->data;
	uint64_t now = now_usec();

	ifaces_refresh(n);
	for (unsigned i = 0; i < n->n_ifaces; i++) {
		struct ndp_iface *ifc = &n->ifaces[i];
		bool ready = ifc->index && ifc->has_mac && ifc->n_link_local;

		if (ready && !ifc->probed && !ifc->foreign_router) {
			if (n->mode == IPV6_RA_ALWAYS)
				ifc->probed = true;
			else if (!ifc->probe_until)
				send_probe(n, ifc, now);
			else if (now >= ifc->probe_until)
				ifc->probed = true;
		}
		if (!may_advertise(n, ifc))
			continue;
		if (!ifc->announced) {
			/* Firmware that solicited before we started hears
			 * this one; nobody waits for our first answer. */
			if (!ifc->last_multicast || now - ifc->last_multicast >= MULTICAST_GAP_USEC) {
				send_multicast(n, ifc, now, "startup");
				ifc->announced = ifc->last_multicast == now;
				if (ifc->announced)
					log_info(MOD, "announced", "iface=%s mode=%s", ifc->name,
						 n->mode == IPV6_RA_ALWAYS ? "always" : "auto");
			}
		} else if (ifc->multicast_pending &&
			   now - ifc->last_multicast >= MULTICAST_GAP_USEC) {
			send_multicast(n, ifc, now, "solicited");
		}
	}
	timer_arm(n);
}

/* --- lifecycle --- */

static void ifaces_set(struct ndp_io *n, const struct config *cfg)
{
	struct ndp_iface old[CONFIG_MAX_INTERFACES];
	unsigned n_old = n->n_ifaces;

	memcpy(old, n->ifaces, sizeof(old));
	memset(n->ifaces, 0, sizeof(n->ifaces));
	n->n_ifaces = cfg->dhcp.n_interfaces;
	for (unsigned i = 0; i < n->n_ifaces; i++) {
		snprintf(n->ifaces[i].name, sizeof(n->ifaces[i].name), "%s",
			 cfg->dhcp.interfaces[i]);
		/* Keep membership and the rate limit of interfaces we keep. */
		for (unsigned j = 0; j < n_old; j++) {
			if (strcmp(old[j].name, n->ifaces[i].name) != 0)
				continue;
			n->ifaces[i].index = old[j].index;
			n->ifaces[i].joined = old[j].joined;
			n->ifaces[i].announced = old[j].announced;
			/* probed and foreign_router start over: listen afresh */
			n->ifaces[i].last_multicast = old[j].last_multicast;
		}
	}
	ifaces_refresh(n);
}

static int open_socket(void)
{
	int fd = socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMPV6);
	struct icmp6_filter filter;
	int one = 1, zero = 0, hops = NDP_HOP_LIMIT;

	if (fd < 0)
		return -errno;
	/* Only the two messages we handle ever wake us. */
	ICMP6_FILTER_SETBLOCKALL(&filter);
	ICMP6_FILTER_SETPASS(NDP_ROUTER_SOLICIT, &filter);
	ICMP6_FILTER_SETPASS(NDP_ROUTER_ADVERT, &filter);
	if (setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof(filter)) < 0 ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof(hops)) < 0 ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &hops, sizeof(hops)) < 0 ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &zero, sizeof(zero)) < 0) {
		int r = -errno;
		safe_close(fd);
		return r;
	}
	return fd;
}

int ndp_io_new(struct loop *loop, const struct config *cfg, struct boot_events *events,
	       struct ndp_io **ret)
{
	struct ndp_io *n;
	int fd, r;

	*ret = NULL;
	if (!cfg->dhcp.enabled || cfg->dhcp.ipv6_ra == IPV6_RA_OFF)
		return 0;
	fd = open_socket();
	if (fd < 0) {
		if (cfg->dhcp.ipv6_ra == IPV6_RA_ALWAYS) {
			log_error(MOD, "socket", "error=\"%s\" mode=always", strerror(-fd));
			return fd;
		}
		log_warn(MOD, "socket", "error=\"%s\" action=\"no router advertisements; "
			 "iPXE clients will wait for IPv6 before booting\"", strerror(-fd));
		return 0;
	}
	n = calloc(1, sizeof(*n));
	if (!n) {
		safe_close(fd);
		return -ENOMEM;
	}
	n->loop = loop;
	n->fd = fd;
	n->mode = cfg->dhcp.ipv6_ra;
	n->events = events;
	n->io = (struct loop_io){ .fd = fd, .events = EPOLLIN, .cb = ndp_on_io, .data = n };
	r = loop_io_add(loop, &n->io);
	if (r < 0) {
		safe_close(fd);
		free(n);
		return r;
	}
	loop_timer_init(&n->timer, ndp_on_timer, n);
	ifaces_set(n, cfg);
	/* The startup announcement, right away where an interface is ready. */
	loop_timer_arm(loop, &n->timer, 0);
	log_info(MOD, "listening", "mode=%s interfaces=%u",
		 n->mode == IPV6_RA_ALWAYS ? "always" : "auto", n->n_ifaces);
	*ret = n;
	return 0;
}

void ndp_io_reconfigure(struct ndp_io *n, const struct config *cfg)
{
	if (!n)
		return;
	n->mode = cfg->dhcp.ipv6_ra == IPV6_RA_OFF ? n->mode : cfg->dhcp.ipv6_ra;
	if (cfg->dhcp.ipv6_ra == IPV6_RA_OFF) {
		/* Keep the socket (a later reload may turn it on) but
		 * forget every interface: nothing is sent. */
		n->n_ifaces = 0;
		loop_timer_disarm(n->loop, &n->timer);
		return;
	}
	ifaces_set(n, cfg);
	loop_timer_arm(n->loop, &n->timer, 0);
}

const struct ndp_stats *ndp_io_stats(const struct ndp_io *n)
{
	return &n->stats;
}

void ndp_io_free(struct ndp_io *n)
{
	if (!n)
		return;
	loop_timer_disarm(n->loop, &n->timer);
	loop_io_del(n->loop, &n->io);
	safe_close(n->fd);
	free(n);
}
