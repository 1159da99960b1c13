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
#include <sys/socket.h>
#include <time.h>

#include "dhcp/dhcp_server.h"
#include "dhcp/dhcp_wire.h"
#include "dhcp/lease_store.h"
#include "log.h"
#include "net.h"
#include "util.h"

#define MOD "dhcp"
/* Requests decided together and committed with one fsync. */
#define DHCP_BATCH 64
/* proxyDHCP's second port (PXE 2.1): requests after the address is known. */
#define PXE_PORT 4011
/* Interface addresses are re-read at most this often (and on a miss). */
#define IFACE_REFRESH_SEC 10

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
};

struct dhcp_io {
	struct loop *loop;
	const struct config *cfg;
	struct dhcp_server *server;
	struct lease_store *store;  /* NULL in proxy mode: no leases */
	int fd;
	struct loop_io io;
	int pxe_fd;              /* proxy mode: port 4011; else -1 */
	struct loop_io pxe_io;
	struct iface ifaces[CONFIG_MAX_INTERFACES];
	unsigned n_ifaces;
	int64_t ifaces_read_at;
	struct dhcp_stats stats;
	int http_port;           /* 0: take the configured one */
	struct boot_events *events;  /* may be NULL */
	struct pending *batch;   /* DHCP_BATCH entries */
	uint8_t buf[NET_MAX_DATAGRAM];
	struct dhcp_message msg;
};

static int64_t wall_now(void)
{
	return (int64_t)time(NULL);
}

/* --- interfaces --- */

static void ifaces_refresh(struct dhcp_io *d)
{
	struct ifaddrs *list, *a;

	for (unsigned i = 0; i < d->n_ifaces; i++) {
		d->ifaces[i].index = if_nametoindex(d->ifaces[i].name);
		d->ifaces[i].addr = d->ifaces[i].mask = 0;
	}
	d->ifaces_read_at = wall_now();
	if (getifaddrs(&list) < 0)
		return;
	for (a = list; a; a = a->ifa_next) {
		if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET || !a->ifa_netmask)
			continue;
		for (unsigned i = 0; i < d->n_ifaces; i++) {
			if (strcmp(a->ifa_name, d->ifaces[i].name) != 0 || d->ifaces[i].addr)
				continue;  /* first address is the interface's primary */
			d->ifaces[i].addr = ntohl(((struct sockaddr_in *)a->ifa_addr)->sin_addr.s_addr);
			d->ifaces[i].mask = ntohl(((struct sockaddr_in *)a->ifa_netmask)->sin_addr.s_addr);
		}
	}
	freeifaddrs(list);
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
	for (unsigned i = 0; i < d->n_ifaces; i++)
		snprintf(d->ifaces[i].name, sizeof(d->ifaces[i].name), "%s",
			 cfg->dhcp.interfaces[i]);
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

static void batch_finish(struct dhcp_io *d, unsigned n)
{
	bool need_store = false, stored = true;

	for (unsigned i = 0; i < n; i++)
		need_store |= d->batch[i].out.store == DHCP_STORE_PUT;
	if (need_store && !d->store) {
		stored = false;  /* proxy mode decides no leases; never reached */
	} else if (need_store) {
		int r = d->store->ops->begin(d->store);
		for (unsigned i = 0; r >= 0 && i < n; i++)
			if (d->batch[i].out.store == DHCP_STORE_PUT)
				r = d->store->ops->put(d->store, &d->batch[i].out.lease);
		if (r >= 0)
			r = d->store->ops->commit(d->store);
		if (r < 0) {
			d->store->ops->rollback(d->store);
			d->stats.store_errors++;
			stored = false;
			log_error(MOD, "store-error", "leases=%u action=withhold-acks", n);
		}
	}
	for (unsigned i = 0; i < n; i++) {
		struct pending *p = &d->batch[i];
		if (p->out.store == DHCP_STORE_PUT && !stored) {
			/* The client retries; an ACK we could not make durable
			 * is never sent. */
			p->out.event = "withheld";
			p->out.reason = "store-error";
			p->out.dest = DHCP_DEST_NONE;
		}
		if (p->out.dest != DHCP_DEST_NONE && p->out.reply_len)
			send_reply(d, p);
		log_outcome(p);
		emit_event(d, p);
	}
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
	if (dhcp_decode(d->buf, len, &d->msg) < 0) {
		d->stats.received[0]++;
		d->stats.dropped++;
		log_debug(MOD, "drop", "reason=malformed iface=%s len=%zu", ifc->name, len);
		return false;
	}
	d->stats.received[dhcp_message_type(&d->msg) < 9 ? dhcp_message_type(&d->msg) : 0]++;
	ctx = (struct dhcp_request_ctx){ .iface_addr = ifc->addr, .iface_mask = ifc->mask,
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
		if (handle_datagram(d, (size_t)len, ifindex, &from, on_pxe_port, &d->batch[n]))
			n++;
	}
	if (n)
		batch_finish(d, n);
}

/* --- lifecycle --- */

static int restore_one(const struct lease_record *r, void *ctx)
{
	return dhcp_server_restore(ctx, r);
}

static int build_server(const struct dhcp_io *d, const struct config *cfg,
			struct dhcp_server **ret)
{
	struct dhcp_server *s;
	int r = dhcp_server_new(cfg, &s);

	if (r < 0)
		return r;
	r = d->store ? d->store->ops->load(d->store, restore_one, s) : 0;
	if (r < 0) {
		dhcp_server_free(s);
		return r;
	}
	if (d->http_port)
		dhcp_server_set_http_port(s, d->http_port);
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
	char err[512], ep[NET_ENDPOINT_STRLEN];
	int r;

	if (!d)
		return -ENOMEM;
	d->loop = loop;
	d->cfg = cfg;
	d->fd = -1;
	d->pxe_fd = -1;
	d->batch = calloc(DHCP_BATCH, sizeof(*d->batch));
	if (!d->batch) {
		free(d);
		return -ENOMEM;
	}
	r = cfg->dhcp.mode == DHCP_MODE_PROXY ? 0 :
		lease_store_sqlite_open(cfg->dhcp.database, &d->store, err, sizeof(err));
	if (r < 0) {
		char q[600];
		log_error(MOD, "database", "error=%s", log_quote(q, sizeof(q), err, SIZE_MAX));
		goto fail;
	}
	r = build_server(d, cfg, &d->server);
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
			void (*cb)(void *ctx, const char *subnet, uint32_t size, uint32_t in_use),
			void *ctx)
{
	dhcp_server_pool_usage(d->server, wall_now(), cb, ctx);
}

int dhcp_io_mac_for_ip(const struct dhcp_io *d, uint32_t ip, uint8_t mac[6])
{
	return dhcp_server_mac_for_ip(d->server, ip, wall_now(), mac);
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
	dhcp_server_free(d->server);
	lease_store_close(d->store);
	free(d->batch);
	free(d);
}
