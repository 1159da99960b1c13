/* doctor.c - `kidou doctor IFACE`: the probing, see doctor.h.
 *
 * Sockets, all bound to IFACE (SO_BINDTODEVICE or the packet socket's
 * ifindex):
 *   - a UDP socket sending the DISCOVERs to 255.255.255.255:67 (from port
 *     68 when it is free). Broadcast is looped back to local sockets too,
 *     so a kidou or dnsmasq on this very machine answers as well;
 *   - an AF_PACKET socket (IPv4) reading the answers: servers broadcast
 *     them (the DISCOVER asks so) to port 68, whoever holds that port here;
 *   - a raw ICMPv6 socket: one router solicitation out, advertisements in;
 *   - per boot file, a UDP socket for one TFTP read (tsize only).
 * The chaddr is a random locally administered MAC unless --mac gives one:
 * a server's offer then holds an address for no real machine, and the
 * interface's own record (lease, [host] match) stays untouched. */
#include "doctor/doctor.h"

#include <errno.h>
#include <ifaddrs.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "config.h"
#include "dhcp/dhcp_wire.h"
#include "doctor/doctor_wire.h"
#include "doctor/findings.h"
#include "ndp/ndp_wire.h"
#include "tftp/tftp_wire.h"
#include "util.h"

#define DOCTOR_WAIT_DEFAULT 2
#define DOCTOR_WAIT_MAX 30
/* Frames read per round at most: a flood on the segment ends the round
 * early rather than keeping the doctor busy. */
#define DOCTOR_FRAMES_PER_ROUND 4096
/* /proc/PID/fd entries looked at, over all processes, when naming the
 * holder of a port. */
#define DOCTOR_FD_SCAN_MAX 200000

struct doctor_opts {
	const char *iface;
	const char *config;
	bool json;
	unsigned wait_sec;
	bool has_mac;
	uint8_t mac[6];
};

struct probe {
	struct doctor_obs *obs;
	int ifindex;
	uint8_t if_mac[6];
	uint32_t xid_base;
	int pkt_fd, tx_fd, ra_fd;
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: kidou doctor IFACE [--config FILE] [--wait SEC] [--mac MAC] [--json]\n"
		"\n"
		"Look at the network on IFACE as a PXE client sees it, and say in plain\n"
		"words what will go wrong when machines boot from it. Run it as root\n"
		"(raw sockets), on the boot server or any machine on the segment.\n"
		"\n"
		"It sends, only on IFACE: three DHCP DISCOVERs (as BIOS PXE firmware,\n"
		"arch 0; as UEFI x64 PXE firmware, arch 7; as iPXE, option 77 and 175),\n"
		"one IPv6 router solicitation, and for each boot file offered one TFTP\n"
		"read asking for its size only, ended at once with an ERROR. It never\n"
		"sends a DHCP REQUEST (takes no lease) and never answers anyone.\n"
		"\n"
		"It reports:\n"
		"  - every DHCP and proxyDHCP server that answers, with what it offers\n"
		"    (address, siaddr, file, options 60, 43, 66 and 67);\n"
		"  - router advertisements heard (they change what ipv6-ra does);\n"
		"  - who holds UDP ports 67, 69 and 4011 on this machine;\n"
		"  - whether the interface's MTU carries TFTP max-blksize blocks;\n"
		"  - whether each offered boot file exists on its TFTP server;\n"
		"  - then the findings: problems (machines will not boot, or boot from\n"
		"    the wrong server), warnings and notes.\n"
		"\n"
		"  IFACE              the interface facing the machines to boot\n"
		"  -c, --config FILE  kidou's config: its [tftp] max-blksize and [dhcp]\n"
		"                     ipv6-ra are compared with what is seen (default:\n"
		"                     kidou's defaults)\n"
		"  --wait SEC         listen this long after each DISCOVER (1..%d,\n"
		"                     default %d); the same for each TFTP read\n"
		"  --mac MAC          the client MAC the DISCOVERs carry (default: a\n"
		"                     random locally administered one, so no real\n"
		"                     machine's lease is touched); give a machine's MAC\n"
		"                     to see what the servers offer that machine\n"
		"  --json             print the observations and findings as JSON\n"
		"  -h, --help         show this help\n"
		"\n"
		"The boot files are checked only when IFACE has an IPv4 address.\n"
		"\n"
		"Exit status: 0 when no problem was found; 1 when a finding is a problem;\n"
		"2 on a usage error or when the doctor cannot probe (no such interface,\n"
		"not root).\n",
		DOCTOR_WAIT_MAX, DOCTOR_WAIT_DEFAULT);
}

static int parse_args(struct doctor_opts *o, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		uint64_t v;

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 1;
		} else if (strcmp(a, "--json") == 0) {
			o->json = true;
		} else if ((strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) && i + 1 < argc) {
			o->config = argv[++i];
		} else if (strcmp(a, "--wait") == 0 && i + 1 < argc) {
			if (parse_uint(argv[++i], 1, DOCTOR_WAIT_MAX, &v) < 0) {
				fprintf(stderr, "kidou doctor: --wait takes 1..%d seconds\n",
					DOCTOR_WAIT_MAX);
				return -1;
			}
			o->wait_sec = (unsigned)v;
		} else if (strcmp(a, "--mac") == 0 && i + 1 < argc) {
			if (config_parse_mac(argv[++i], o->mac) < 0) {
				fprintf(stderr, "kidou doctor: --mac: not a MAC address\n");
				return -1;
			}
			o->has_mac = true;
		} else if (a[0] != '-' && !o->iface) {
			o->iface = a;
		} else {
			fprintf(stderr, "kidou doctor: unexpected argument '%s' (see kidou doctor "
				"--help)\n", a);
			return -1;
		}
	}
	if (!o->iface) {
		fprintf(stderr, "kidou doctor: which interface? (kidou doctor IFACE)\n");
		return -1;
	}
	if (strlen(o->iface) >= IFNAMSIZ) {
		fprintf(stderr, "kidou doctor: interface name too long\n");
		return -1;
	}
	return 0;
}

/* Index, MAC, MTU and IPv4 address of the interface. */
static int iface_info(struct probe *p, const char *iface)
{
	_cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = { 0 };

	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", iface);
	if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0)
		return -errno;
	p->ifindex = ifr.ifr_ifindex;
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) == 0)
		memcpy(p->if_mac, ifr.ifr_hwaddr.sa_data, 6);
	if (ioctl(fd, SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu > 0)
		p->obs->mtu = (unsigned)ifr.ifr_mtu;
	if (ioctl(fd, SIOCGIFADDR, &ifr) == 0 && ifr.ifr_addr.sa_family == AF_INET) {
		struct sockaddr_in sin;
		memcpy(&sin, &ifr.ifr_addr, sizeof(sin));
		p->obs->iface_addr = sin.sin_addr.s_addr;
	}
	return 0;
}

static int bind_device(int fd, const char *iface)
{
	return setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, iface, (socklen_t)strlen(iface)) < 0
		? -errno : 0;
}

static int open_sockets(struct probe *p, const char *iface)
{
	/* ETH_P_ALL, not ETH_P_IP: only an ETH_P_ALL packet socket sees the
	 * frames this machine sends (dev_queue_xmit_nit), i.e. the answers of
	 * a kidou or dnsmasq running here. */
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
				   .sll_ifindex = p->ifindex };
	struct sockaddr_in any = { .sin_family = AF_INET,
				   .sin_port = htons(DOCTOR_DHCP_CLIENT_PORT) };
	int one = 1;

	p->pkt_fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (p->pkt_fd < 0 || bind(p->pkt_fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		return -errno;
	p->tx_fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->tx_fd < 0 || bind_device(p->tx_fd, iface) < 0 ||
	    setsockopt(p->tx_fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one)) < 0)
		return -errno;
	/* Port 68 may be a DHCP client's here (dhclient on this interface):
	 * then the DISCOVERs leave from another port; servers answer to 68
	 * anyway (RFC 2131 4.1), where the packet socket sees it. */
	if (bind(p->tx_fd, (struct sockaddr *)&any, sizeof(any)) < 0) {
		any.sin_port = 0;
		if (bind(p->tx_fd, (struct sockaddr *)&any, sizeof(any)) < 0)
			return -errno;
	}
	return 0;
}

static void open_ra_socket(struct probe *p, const char *iface)
{
	int fd = socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMPV6);
	struct icmp6_filter filter;
	int one = 1, hops = NDP_HOP_LIMIT;
	struct sockaddr_in6 all_routers = { .sin6_family = AF_INET6,
					    .sin6_scope_id = (uint32_t)p->ifindex };
	uint8_t rs[NDP_RS_LEN];

	if (fd < 0)
		return;
	ICMP6_FILTER_SETBLOCKALL(&filter);
	ICMP6_FILTER_SETPASS(NDP_ROUTER_ADVERT, &filter);
	if (setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof(filter)) < 0 ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof(hops)) < 0 ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &p->ifindex, sizeof(p->ifindex)) < 0 ||
	    bind_device(fd, iface) < 0) {
		safe_close(fd);
		return;
	}
	p->ra_fd = fd;
	p->obs->ra_listened = true;
	/* Not beside a kidou on this machine: the solicitation would leave
	 * from kidou's own address, kidou's answer would come back to
	 * kidou, which takes an advertisement from its own address for
	 * another program's (radvd) and falls silent. The doctor listens
	 * only; kidou announces itself on start anyway. */
	for (size_t i = 0; i < p->obs->n_ports; i++)
		if (p->obs->ports[i].state == DOCTOR_PORT_KIDOU)
			return;
	p->obs->rs_sent = true;
	/* One solicitation (RFC 4861 6.3.7): a router answers at once instead
	 * of at its next periodic advertisement (up to 600 s away), and so
	 * does kidou's ipv6-ra. Failing to send (no link-local address yet)
	 * still leaves the listening. */
	inet_pton(AF_INET6, "ff02::2", &all_routers.sin6_addr);
	if (ndp_encode_rs(p->if_mac, rs, sizeof(rs)) < 0 ||
	    sendto(fd, rs, sizeof(rs), 0, (struct sockaddr *)&all_routers,
		   sizeof(all_routers)) < 0)
		p->obs->rs_sent = false;
}

static void read_ra(struct probe *p)
{
	struct doctor_obs *o = p->obs;

	for (unsigned batch = 0; batch < 64; batch++) {
		uint8_t buf[1500];
		char cbuf[CMSG_SPACE(sizeof(int))];
		struct sockaddr_in6 from;
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr mh = { .msg_name = &from, .msg_namelen = sizeof(from),
				     .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
		struct ndp_message m;
		int hop_limit = -1;
		bool seen = false;
		ssize_t len = recvmsg(p->ra_fd, &mh, 0);

		if (len < 0)
			return;
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
			if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_HOPLIMIT &&
			    cm->cmsg_len >= CMSG_LEN(sizeof(int)))
				memcpy(&hop_limit, CMSG_DATA(cm), sizeof(int));
		/* RFC 4861 6.1.2: hop limit 255 and a link-local source. */
		if ((mh.msg_flags & MSG_TRUNC) || hop_limit != NDP_HOP_LIMIT ||
		    mh.msg_namelen < sizeof(from) || !IN6_IS_ADDR_LINKLOCAL(&from.sin6_addr) ||
		    ndp_decode(buf, (size_t)len, &m) < 0 || m.type != NDP_ROUTER_ADVERT)
			continue;
		for (size_t i = 0; i < o->n_ras; i++)
			seen = seen || memcmp(&o->ras[i].source, &from.sin6_addr, 16) == 0;
		if (seen || o->n_ras >= DOCTOR_MAX_RAS)
			continue;
		o->ras[o->n_ras++] = (struct doctor_ra){ .source = from.sin6_addr,
							  .router_lifetime = m.router_lifetime,
							  .flags = m.flags,
							  .n_prefixes = m.n_prefixes };
	}
}

static void keep_offer(struct doctor_obs *o, const struct doctor_offer *of)
{
	/* One per server and round: the packet socket sees a local server's
	 * answer twice (sent, and looped back), a server may repeat itself. */
	for (size_t i = 0; i < o->n_offers; i++)
		if (o->offers[i].server == of->server && o->offers[i].round == of->round)
			return;
	if (o->n_offers >= DOCTOR_MAX_OFFERS) {
		o->n_offers_dropped++;
		return;
	}
	o->offers[o->n_offers++] = *of;
}

/* Read what the packet socket holds; returns how many frames were read. */
static unsigned read_frames(struct probe *p, struct dhcp_message *m, unsigned budget)
{
	unsigned n = 0;

	for (; n < budget; n++) {
		uint8_t buf[2048];
		struct doctor_udp u;
		struct doctor_offer of;
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		ssize_t len = recvfrom(p->pkt_fd, buf, sizeof(buf), MSG_TRUNC,
				       (struct sockaddr *)&from, &fl);

		if (len < 0)
			break;
		if ((size_t)len > sizeof(buf) || fl < sizeof(from) ||
		    from.sll_protocol != htons(ETH_P_IP) ||
		    doctor_parse_ipv4_udp(buf, (size_t)len, &u) < 0 ||
		    u.dport != DOCTOR_DHCP_CLIENT_PORT ||
		    (u.sport != DOCTOR_DHCP_SERVER_PORT && u.sport != DOCTOR_PXE_PORT) ||
		    dhcp_decode(u.payload, u.len, m) < 0 ||
		    doctor_offer_from(m, u.src, p->xid_base, p->obs->chaddr, &of) < 0)
			continue;
		keep_offer(p->obs, &of);
	}
	return n;
}

static void run_rounds(struct probe *p, struct dhcp_message *m)
{
	struct doctor_obs *o = p->obs;
	struct sockaddr_in bcast = { .sin_family = AF_INET,
				     .sin_port = htons(DOCTOR_DHCP_SERVER_PORT),
				     .sin_addr.s_addr = htonl(INADDR_BROADCAST) };

	for (unsigned r = 0; r < DOCTOR_ROUNDS; r++) {
		uint8_t buf[DHCP_MIN_MAX_MESSAGE];
		int len = doctor_encode_discover(buf, sizeof(buf), (enum doctor_round)r,
						 p->xid_base + r, o->chaddr);
		uint64_t deadline = now_usec() + (uint64_t)o->wait_sec * 1000000u;
		unsigned budget = DOCTOR_FRAMES_PER_ROUND;

		if (len < 0 || sendto(p->tx_fd, buf, (size_t)len, 0, (struct sockaddr *)&bcast,
				      sizeof(bcast)) < 0) {
			fprintf(stderr, "kidou doctor: sending the %s DISCOVER on %s: %s\n",
				doctor_round_name((enum doctor_round)r), o->iface,
				strerror(len < 0 ? -len : errno));
			continue;
		}
		o->rounds_sent++;
		for (uint64_t now = now_usec(); now < deadline && budget; now = now_usec()) {
			struct pollfd pfd[2] = { { .fd = p->pkt_fd, .events = POLLIN },
						 { .fd = p->ra_fd, .events = POLLIN } };
			int left_ms = (int)((deadline - now + 999) / 1000);

			if (poll(pfd, p->ra_fd >= 0 ? 2 : 1, left_ms) <= 0)
				continue;
			if (pfd[0].revents)
				budget -= read_frames(p, m, budget);
			if (p->ra_fd >= 0 && pfd[1].revents)
				read_ra(p);
		}
	}
}

/* --- who holds a port --- */

static size_t udp_inodes(uint16_t port, unsigned long *inodes, size_t max)
{
	static const char *files[] = { "/proc/net/udp", "/proc/net/udp6" };
	size_t n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		FILE *f = fopen(files[i], "re");
		char line[512];

		if (!f)
			continue;
		while (fgets(line, sizeof(line), f)) {
			uint16_t lp;
			unsigned long ino;

			if (doctor_parse_proc_udp(line, &lp, &ino) == 0 && lp == port && n < max)
				inodes[n++] = ino;
		}
		fclose(f);
	}
	return n;
}

/* The process with a socket of one of these inodes, as pid and comm. */
static int inode_holder(const unsigned long *inodes, size_t n, char *comm, size_t commsize)
{
	DIR *proc = opendir("/proc");
	struct dirent *de;
	unsigned long scanned = 0;
	int found = 0;

	if (!proc)
		return 0;
	while (!found && (de = readdir(proc)) && scanned < DOCTOR_FD_SCAN_MAX) {
		char path[300];
		uint64_t pid;
		DIR *fds;
		struct dirent *fe;

		if (parse_uint(de->d_name, 1, INT32_MAX, &pid) < 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%s/fd", de->d_name);
		fds = opendir(path);
		if (!fds)
			continue;
		while (!found && (fe = readdir(fds)) && scanned++ < DOCTOR_FD_SCAN_MAX) {
			char link[600], target[64];
			ssize_t len;
			unsigned long ino;

			snprintf(link, sizeof(link), "/proc/%s/fd/%s", de->d_name, fe->d_name);
			len = readlink(link, target, sizeof(target) - 1);
			if (len <= 0)
				continue;
			target[len] = '\0';
			if (sscanf(target, "socket:[%lu]", &ino) != 1)
				continue;
			for (size_t i = 0; i < n; i++)
				if (inodes[i] == ino)
					found = (int)pid;
		}
		closedir(fds);
	}
	closedir(proc);
	if (found) {
		char path[64], raw[64] = "";
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/comm", found);
		f = fopen(path, "re");
		if (f) {
			if (!fgets(raw, sizeof(raw), f))
				raw[0] = '\0';
			fclose(f);
		}
		raw[strcspn(raw, "\n")] = '\0';
		doctor_escape(comm, commsize, raw, strlen(raw));
	}
	return found;
}

static void check_ports(struct doctor_obs *o)
{
	static const uint16_t ports[] = { DOCTOR_DHCP_SERVER_PORT, DOCTOR_TFTP_PORT,
					  DOCTOR_PXE_PORT };

	for (size_t i = 0; i < ARRAY_SIZE(ports); i++) {
		struct doctor_port *p = &o->ports[o->n_ports++];
		unsigned long inodes[16];
		size_t n = udp_inodes(ports[i], inodes, ARRAY_SIZE(inodes));

		*p = (struct doctor_port){ .port = ports[i], .state = DOCTOR_PORT_FREE };
		if (n == 0)
			continue;
		p->pid = inode_holder(inodes, n, p->holder, sizeof(p->holder));
		if (p->pid <= 0)
			p->state = DOCTOR_PORT_UNKNOWN;
		else if (strcmp(p->holder, "kidou") == 0)
			p->state = DOCTOR_PORT_KIDOU;
		else
			p->state = DOCTOR_PORT_OTHER;
	}
}

/* --- the boot files --- */

static void tftp_ask(struct doctor_fetch *f, const struct doctor_obs *o)
{
	struct sockaddr_in local = { .sin_family = AF_INET, .sin_addr.s_addr = o->iface_addr };
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(DOCTOR_TFTP_PORT),
				  .sin_addr.s_addr = f->server };
	_cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	uint8_t buf[1500];
	int len = doctor_encode_tsize_rrq(buf, sizeof(buf), f->file);
	uint64_t deadline = now_usec() + (uint64_t)o->wait_sec * 1000000u;

	f->result = DOCTOR_FETCH_NO_ANSWER;
	if (len < 0 || fd < 0 || bind_device(fd, o->iface) < 0 ||
	    bind(fd, (struct sockaddr *)&local, sizeof(local)) < 0 ||
	    sendto(fd, buf, (size_t)len, 0, (struct sockaddr *)&to, sizeof(to)) < 0)
		return;
	for (unsigned tries = 0; tries < 64; tries++) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		uint64_t now = now_usec();
		ssize_t n;
		int r, elen;

		if (now >= deadline || poll(&pfd, 1, (int)((deadline - now + 999) / 1000)) <= 0)
			return;
		n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
		/* The answer comes from the server's address, from a new port
		 * (its transfer id, RFC 1350 section 4). Anyone else: ignored. */
		if (n < 0 || fl < sizeof(from) || from.sin_addr.s_addr != f->server)
			continue;
		r = doctor_read_tftp_answer(buf, (size_t)n, f);
		if (r < 0) {
			f->result = DOCTOR_FETCH_BAD_ANSWER;
			return;
		}
		if (r == 0) {
			/* End the transfer the server has begun: RFC 2347 lets
			 * a client refuse an OACK with an ERROR. */
			elen = tftp_encode_error(buf, sizeof(buf), TFTP_ERR_UNDEFINED,
						 "kidou doctor: size only");
			if (elen > 0)
				(void)sendto(fd, buf, (size_t)elen, 0, (struct sockaddr *)&from,
					     sizeof(from));
		}
		return;
	}
}

static void check_boot_files(struct doctor_obs *o)
{
	for (size_t i = 0; i < o->n_offers && o->n_fetches < DOCTOR_MAX_FETCHES; i++) {
		const struct doctor_offer *of = &o->offers[i];
		const char *file = doctor_offer_bootfile(of);
		uint32_t server = doctor_offer_tftp_server(of);
		struct doctor_fetch *f;
		bool seen = false;

		if (!file[0])
			continue;
		for (size_t j = 0; j < o->n_fetches; j++)
			seen = seen || (o->fetches[j].server == server &&
					strcmp(o->fetches[j].file, file) == 0);
		if (seen)
			continue;
		f = &o->fetches[o->n_fetches++];
		*f = (struct doctor_fetch){ .server = server };
		snprintf(f->file, sizeof(f->file), "%s", file);
		if (strstr(file, "://"))
			f->result = DOCTOR_FETCH_NOT_TFTP;
		else if (!server)
			f->result = DOCTOR_FETCH_NO_SERVER;
		else if (!o->iface_addr)
			f->result = DOCTOR_FETCH_NO_ADDRESS;
		else
			tftp_ask(f, o);
	}
}

/* --- output --- */

static const char *fetch_result_name(enum doctor_fetch_result r)
{
	switch (r) {
	case DOCTOR_FETCH_EXISTS: return "exists";
	case DOCTOR_FETCH_NOT_FOUND: return "not-found";
	case DOCTOR_FETCH_ERROR: return "error";
	case DOCTOR_FETCH_NO_ANSWER: return "no-answer";
	case DOCTOR_FETCH_BAD_ANSWER: return "bad-answer";
	case DOCTOR_FETCH_NO_ADDRESS: return "not-checked-no-address";
	case DOCTOR_FETCH_NOT_TFTP: return "not-checked-url";
	case DOCTOR_FETCH_NO_SERVER: return "not-checked-server-by-name";
	}
	return "?";
}

static const char *port_state_name(enum doctor_port_state s)
{
	switch (s) {
	case DOCTOR_PORT_FREE: return "free";
	case DOCTOR_PORT_KIDOU: return "kidou";
	case DOCTOR_PORT_OTHER: return "other";
	default: return "unknown";
	}
}

static const char *ip(uint32_t a, char buf[INET_ADDRSTRLEN])
{
	struct in_addr in = { .s_addr = a };

	return inet_ntop(AF_INET, &in, buf, INET_ADDRSTRLEN);
}

static void print_offer(const struct doctor_offer *of)
{
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];

	printf("  %s %s to %s:", of->proxy ? "proxyDHCP" : "DHCP", ip(of->server, a),
	       doctor_round_name(of->round));
	if (!of->proxy)
		printf(" address %s,", ip(of->yiaddr, b));
	printf(" siaddr %s, file \"%s\"", ip(of->siaddr, a), of->file);
	if (of->has_vendor_class)
		printf(", option 60 \"%s\"", of->vendor_class);
	if (of->vendor_len >= 0)
		printf(", option 43 (%d bytes)", of->vendor_len);
	if (of->has_tftp_server)
		printf(", option 66 \"%s\"", of->tftp_server);
	if (of->has_bootfile)
		printf(", option 67 \"%s\"", of->bootfile);
	printf("\n");
}

static void print_text(const struct doctor_obs *o, const struct doctor_finding *f, size_t nf)
{
	char mac[MAC_STRLEN], a[INET6_ADDRSTRLEN];

	printf("kidou doctor on %s: MTU %u, IPv4 %s, DISCOVERs from client MAC %s, "
	       "%u s per round\n\n", o->iface, o->mtu,
	       o->iface_addr ? ip(o->iface_addr, a) : "none", format_mac(o->chaddr, mac),
	       o->wait_sec);
	printf("DHCP and proxyDHCP answers (%zu):\n", o->n_offers);
	for (size_t i = 0; i < o->n_offers; i++)
		print_offer(&o->offers[i]);
	if (o->n_offers == 0)
		printf("  none\n");
	printf("\nRouter advertisements:");
	if (!o->ra_listened)
		printf(" not listened for (no raw ICMPv6 socket)\n");
	else if (o->n_ras == 0)
		printf(" none%s\n", o->rs_sent ? "" : " (listened only, no solicitation sent)");
	else
		printf("\n");
	for (size_t i = 0; i < o->n_ras; i++) {
		inet_ntop(AF_INET6, &o->ras[i].source, a, sizeof(a));
		printf("  from %s: router lifetime %u s, %u prefixes, M=%d O=%d\n", a,
		       o->ras[i].router_lifetime, o->ras[i].n_prefixes,
		       !!(o->ras[i].flags & NDP_RA_FLAG_MANAGED),
		       !!(o->ras[i].flags & NDP_RA_FLAG_OTHER));
	}
	printf("\nUDP ports on this machine:");
	for (size_t i = 0; i < o->n_ports; i++) {
		const struct doctor_port *p = &o->ports[i];
		if (p->pid > 0)
			printf(" %u held by %s (pid %d)%s", p->port, p->holder, p->pid,
			       i + 1 < o->n_ports ? "," : "");
		else
			printf(" %u %s%s", p->port, p->state == DOCTOR_PORT_FREE ? "free" : "in use",
			       i + 1 < o->n_ports ? "," : "");
	}
	printf("\n\nBoot files:");
	printf(o->n_fetches ? "\n" : " none offered\n");
	for (size_t i = 0; i < o->n_fetches; i++) {
		const struct doctor_fetch *ft = &o->fetches[i];
		printf("  %s on %s: %s", ft->file, ip(ft->server, a), fetch_result_name(ft->result));
		if (ft->has_tsize)
			printf(", %llu bytes", (unsigned long long)ft->tsize);
		if (ft->result == DOCTOR_FETCH_NOT_FOUND || ft->result == DOCTOR_FETCH_ERROR)
			printf(" (TFTP error %u \"%s\")", ft->error_code, ft->error_message);
		printf("\n");
	}
	printf("\nTFTP max-blksize %u (%s), MTU %u\n", o->max_blksize,
	       o->max_blksize_from_config ? "from the config" : "default", o->mtu);
	printf("\nFindings:\n");
	for (size_t i = 0; i < nf; i++)
		printf("  %s: %s\n", doctor_severity_name(f[i].severity), f[i].text);
	if (nf == 0)
		printf("  nothing looks wrong\n");
}

static json_t *offer_json(const struct doctor_offer *of)
{
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN], c[INET_ADDRSTRLEN], d[INET_ADDRSTRLEN];
	static const char *round_keys[] = { "bios", "uefi-x64", "ipxe" };

	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s?, s:s?, s:s?}",
			      "round", round_keys[of->round], "kind", of->proxy ? "proxy" : "dhcp",
			      "server", ip(of->server, a), "source", ip(of->source, b),
			      "address", ip(of->yiaddr, c), "siaddr", ip(of->siaddr, d),
			      "file", of->file,
			      "option60", of->has_vendor_class ? of->vendor_class : NULL,
			      "option66", of->has_tftp_server ? of->tftp_server : NULL,
			      "option67", of->has_bootfile ? of->bootfile : NULL);

	/* Option 43's bytes are PXE boot menus and discovery control: its
	 * length says whether a server sends any, the bytes are not shown. */
	if (j && of->vendor_len >= 0)
		json_object_set_new(j, "option43_len", json_integer(of->vendor_len));
	return j;
}

static void print_json(const struct doctor_obs *o, const struct doctor_finding *f, size_t nf)
{
	char mac[MAC_STRLEN], a[INET6_ADDRSTRLEN];
	json_t *root = json_object(), *arr;

	json_object_set_new(root, "interface", json_string(o->iface));
	json_object_set_new(root, "client_mac", json_string(format_mac(o->chaddr, mac)));
	json_object_set_new(root, "mtu", json_integer(o->mtu));
	json_object_set_new(root, "ipv4", o->iface_addr ? json_string(ip(o->iface_addr, a))
							: json_null());
	json_object_set_new(root, "max_blksize", json_integer(o->max_blksize));
	arr = json_array();
	for (size_t i = 0; i < o->n_offers; i++)
		json_array_append_new(arr, offer_json(&o->offers[i]));
	json_object_set_new(root, "offers", arr);
	arr = json_array();
	for (size_t i = 0; i < o->n_ras; i++) {
		inet_ntop(AF_INET6, &o->ras[i].source, a, sizeof(a));
		json_array_append_new(arr, json_pack("{s:s, s:i, s:i, s:b, s:b}", "source", a,
			"router_lifetime", o->ras[i].router_lifetime,
			"prefixes", (int)o->ras[i].n_prefixes,
			"managed", !!(o->ras[i].flags & NDP_RA_FLAG_MANAGED),
			"other", !!(o->ras[i].flags & NDP_RA_FLAG_OTHER)));
	}
	json_object_set_new(root, "router_advertisements", arr);
	arr = json_array();
	for (size_t i = 0; i < o->n_ports; i++) {
		const struct doctor_port *p = &o->ports[i];
		json_t *j = json_pack("{s:i, s:s}", "port", p->port, "state",
				      port_state_name(p->state));
		if (p->pid > 0) {
			json_object_set_new(j, "pid", json_integer(p->pid));
			json_object_set_new(j, "holder", json_string(p->holder));
		}
		json_array_append_new(arr, j);
	}
	json_object_set_new(root, "ports", arr);
	arr = json_array();
	for (size_t i = 0; i < o->n_fetches; i++) {
		const struct doctor_fetch *ft = &o->fetches[i];
		json_t *j = json_pack("{s:s, s:s, s:s}", "server", ip(ft->server, a),
				      "file", ft->file, "result", fetch_result_name(ft->result));
		if (ft->has_tsize)
			json_object_set_new(j, "tsize", json_integer((json_int_t)ft->tsize));
		if (ft->result == DOCTOR_FETCH_NOT_FOUND || ft->result == DOCTOR_FETCH_ERROR) {
			json_object_set_new(j, "error_code", json_integer(ft->error_code));
			json_object_set_new(j, "error_message", json_string(ft->error_message));
		}
		json_array_append_new(arr, j);
	}
	json_object_set_new(root, "boot_files", arr);
	arr = json_array();
	for (size_t i = 0; i < nf; i++)
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s}",
			"severity", doctor_severity_name(f[i].severity), "code", f[i].code,
			"text", f[i].text));
	json_object_set_new(root, "findings", arr);
	json_dumpf(root, stdout, JSON_INDENT(2));
	printf("\n");
	json_decref(root);
}

static int load_config(struct doctor_obs *o, const char *path)
{
	struct config *c = NULL;
	char err[512];

	if (config_build(path, NULL, 0, &c, err, sizeof(err)) < 0) {
		fprintf(stderr, "kidou doctor: %s\n", err);
		return -1;
	}
	o->max_blksize = c->tftp.max_blksize;
	o->max_blksize_from_config = path != NULL;
	o->ipv6_ra = c->dhcp.ipv6_ra;
	config_free(c);
	return 0;
}

int doctor_main(int argc, char **argv)
{
	struct doctor_opts opts = { .wait_sec = DOCTOR_WAIT_DEFAULT };
	struct doctor_finding findings[DOCTOR_MAX_FINDINGS];
	_cleanup_free_ struct doctor_obs *o = NULL;
	_cleanup_free_ struct dhcp_message *m = NULL;
	struct probe p = { .pkt_fd = -1, .tx_fd = -1, .ra_fd = -1 };
	size_t nf;
	int r;

	r = parse_args(&opts, argc, argv);
	if (r != 0)
		return r > 0 ? 0 : 2;
	o = calloc(1, sizeof(*o));
	m = calloc(1, sizeof(*m));
	if (!o || !m)
		return 2;
	p.obs = o;
	snprintf(o->iface, sizeof(o->iface), "%s", opts.iface);
	o->wait_sec = opts.wait_sec;
	if (load_config(o, opts.config) < 0)
		return 2;
	r = iface_info(&p, opts.iface);
	if (r < 0) {
		fprintf(stderr, "kidou doctor: interface %s: %s\n", opts.iface, strerror(-r));
		return 2;
	}
	if (opts.has_mac) {
		memcpy(o->chaddr, opts.mac, 6);
	} else {
		if (getrandom(o->chaddr, 6, 0) != 6)
			memcpy(o->chaddr, p.if_mac, 6);
		o->chaddr[0] = (uint8_t)((o->chaddr[0] & 0xfe) | 0x02); /* local, unicast */
	}
	if (getrandom(&p.xid_base, sizeof(p.xid_base), 0) != sizeof(p.xid_base))
		p.xid_base = (uint32_t)now_usec();
	r = open_sockets(&p, opts.iface);
	if (r < 0) {
		fprintf(stderr, "kidou doctor: opening sockets on %s: %s%s\n", opts.iface,
			strerror(-r), r == -EPERM ? " (run it as root)" : "");
		safe_close(p.pkt_fd);
		safe_close(p.tx_fd);
		return 2;
	}
	check_ports(o);
	open_ra_socket(&p, opts.iface);
	run_rounds(&p, m);
	p.pkt_fd = safe_close(p.pkt_fd);
	p.tx_fd = safe_close(p.tx_fd);
	p.ra_fd = safe_close(p.ra_fd);
	check_boot_files(o);
	nf = doctor_findings(o, findings, ARRAY_SIZE(findings));
	if (opts.json)
		print_json(o, findings, nf);
	else
		print_text(o, findings, nf);
	fflush(stdout);
	for (size_t i = 0; i < nf; i++)
		if (findings[i].severity == DOCTOR_PROBLEM)
			return 1;
	return 0;
}
