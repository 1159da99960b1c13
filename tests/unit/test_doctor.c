/* test_doctor.c - kidou doctor's pure parts: the DISCOVERs it sends (read
 * back with the DHCP codec), hostile IPv4/UDP framing, which replies count
 * as its offers, /proc/net/udp lines, TFTP answers to the tsize read, and
 * each finding drawn from a hand-made observation. */
#include "unit.h"

#include <errno.h>
#include <stdlib.h>
#include <arpa/inet.h>

#include "dhcp/dhcp_wire.h"
#include "doctor/doctor_wire.h"
#include "doctor/findings.h"
#include "ndp/ndp_wire.h"
#include "tftp/tftp_wire.h"

static const uint8_t MAC[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };

static uint32_t ip4(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

static struct dhcp_message *decode(const uint8_t *buf, size_t len)
{
	struct dhcp_message *m = calloc(1, sizeof(*m));

	assert_non_null(m);
	assert_rc(dhcp_decode(buf, len, m), 0);
	return m;
}

static void opt_equal(const struct dhcp_message *m, uint8_t code, const void *want, size_t n)
{
	size_t len;
	const uint8_t *v = dhcp_option(m, code, 0, &len);

	assert_non_null(v);
	assert_int_equal(len, n);
	assert_memory_equal(v, want, n);
}

static void test_discover_rounds(void **state)
{
	uint8_t buf[DHCP_MIN_MAX_MESSAGE];
	struct dhcp_message *m;
	size_t len;
	int n;

	n = doctor_encode_discover(buf, sizeof(buf), DOCTOR_ROUND_BIOS, 0x1000, MAC);
	assert_true(n >= 300);
	m = decode(buf, (size_t)n);
	assert_int_equal(m->op, DHCP_OP_REQUEST);
	assert_int_equal(m->xid, 0x1000);
	assert_int_equal(m->flags, DHCP_FLAG_BROADCAST);
	assert_memory_equal(m->chaddr, MAC, 6);
	assert_int_equal(dhcp_message_type(m), DHCP_DISCOVER);
	opt_equal(m, DHCP_OPT_CLIENT_ARCH, "\0\0", 2);
	opt_equal(m, DHCP_OPT_VENDOR_CLASS, "PXEClient:Arch:00000:UNDI:002001", 32);
	assert_null(dhcp_option(m, DHCP_OPT_USER_CLASS, 0, &len));
	assert_null(dhcp_option(m, DHCP_OPT_REQUESTED_IP, 0, &len));
	free(m);

	n = doctor_encode_discover(buf, sizeof(buf), DOCTOR_ROUND_UEFI, 0x1001, MAC);
	m = decode(buf, (size_t)n);
	opt_equal(m, DHCP_OPT_CLIENT_ARCH, "\0\7", 2);
	opt_equal(m, DHCP_OPT_VENDOR_CLASS, "PXEClient:Arch:00007:UNDI:003016", 32);
	assert_null(dhcp_option(m, DHCP_OPT_IPXE_ENCAP, 0, &len));
	free(m);

	n = doctor_encode_discover(buf, sizeof(buf), DOCTOR_ROUND_IPXE, 0x1002, MAC);
	m = decode(buf, (size_t)n);
	opt_equal(m, DHCP_OPT_USER_CLASS, "iPXE", 4);
	assert_non_null(dhcp_option(m, DHCP_OPT_IPXE_ENCAP, 3, &len));
	free(m);

	assert_rc(doctor_encode_discover(buf, 200, DOCTOR_ROUND_BIOS, 1, MAC), -ENOBUFS);
	assert_rc(doctor_encode_discover(buf, sizeof(buf), DOCTOR_ROUNDS, 1, MAC), -EINVAL);
}

/* An IPv4/UDP packet around payload: 20-byte header, no options. */
static size_t frame(uint8_t *out, const void *payload, size_t len, uint16_t sport,
		    uint16_t dport)
{
	size_t total = 28 + len;

	memset(out, 0, 28);
	out[0] = 0x45;
	out[2] = (uint8_t)(total >> 8);
	out[3] = (uint8_t)total;
	out[8] = 64;
	out[9] = 17;
	memcpy(out + 12, (uint8_t[]){ 172, 24, 0, 1 }, 4);
	memcpy(out + 16, (uint8_t[]){ 255, 255, 255, 255 }, 4);
	out[20] = (uint8_t)(sport >> 8);
	out[21] = (uint8_t)sport;
	out[22] = (uint8_t)(dport >> 8);
	out[23] = (uint8_t)dport;
	out[24] = (uint8_t)((len + 8) >> 8);
	out[25] = (uint8_t)(len + 8);
	memcpy(out + 28, payload, len);
	return total;
}

static void test_ipv4_udp_framing(void **state)
{
	uint8_t pkt[128];
	struct doctor_udp u;
	size_t n = frame(pkt, "hello", 5, 67, 68);

	assert_rc(doctor_parse_ipv4_udp(pkt, n, &u), 0);
	assert_int_equal(u.sport, 67);
	assert_int_equal(u.dport, 68);
	assert_int_equal(u.src, ip4("172.24.0.1"));
	assert_int_equal(u.len, 5);
	assert_memory_equal(u.payload, "hello", 5);
	/* Ethernet padding after the IP packet is not payload. */
	assert_rc(doctor_parse_ipv4_udp(pkt, n + 10, &u), 0);
	assert_int_equal(u.len, 5);

	for (size_t cut = 0; cut < n; cut++)
		assert_rc(doctor_parse_ipv4_udp(pkt, cut, &u), -EBADMSG);
	pkt[0] = 0x65;                     /* IPv6 version */
	assert_rc(doctor_parse_ipv4_udp(pkt, n, &u), -EBADMSG);
	pkt[0] = 0x44;                     /* header length 16 */
	assert_rc(doctor_parse_ipv4_udp(pkt, n, &u), -EBADMSG);
	pkt[0] = 0x4f;                     /* header length 60, past the packet end */
	assert_rc(doctor_parse_ipv4_udp(pkt, n, &u), -EBADMSG);
	n = frame(pkt, "hello", 5, 67, 68);
	pkt[6] = 0x20;                     /* more fragments */
	assert_rc(doctor_parse_ipv4_udp(pkt, n, &u), -EBADMSG);
	n = frame(pkt, "hello", 5, 67, 68);
	pkt[9] = 6;                        /* TCP */
	assert_rc(doctor_parse_ipv4_udp(pkt, n, &u), -EBADMSG);
	n = frame(pkt, "hello", 5, 67, 68);
	pkt[25] = 200;                     /* UDP length past the packet */
	assert_rc(doctor_parse_ipv4_udp(pkt, n, &u), -EBADMSG);
	pkt[25] = 7;                       /* UDP length under its header */
	assert_rc(doctor_parse_ipv4_udp(pkt, n, &u), -EBADMSG);
	n = frame(pkt, "hello", 5, 67, 68);
	pkt[3] = 200;                      /* IP total length past what arrived */
	assert_rc(doctor_parse_ipv4_udp(pkt, n, &u), -EBADMSG);
}

/* A server's OFFER to the doctor, as bytes, then decoded. */
static struct dhcp_message *offer(uint32_t xid, const uint8_t mac[6], uint8_t type,
				  uint32_t yiaddr, const char *vendor_class, const char *file,
				  uint8_t overload)
{
	static uint8_t buf[1024];
	struct dhcp_message *m = calloc(1, sizeof(*m));
	struct dhcp_writer w;
	size_t n;

	assert_non_null(m);
	m->op = DHCP_OP_REPLY;
	m->htype = 1;
	m->hlen = 6;
	m->xid = xid;
	m->yiaddr = yiaddr;
	m->siaddr = ip4("172.24.0.9");
	memcpy(m->chaddr, mac, 6);
	if (file)
		memcpy(m->file, file, strlen(file));
	assert_rc(dhcp_writer_init(&w, buf, sizeof(buf), m), 0);
	dhcp_writer_u8(&w, DHCP_OPT_MESSAGE_TYPE, type);
	dhcp_writer_option(&w, DHCP_OPT_SERVER_ID, (uint8_t[]){ 172, 24, 0, 7 }, 4);
	if (vendor_class)
		dhcp_writer_option(&w, DHCP_OPT_VENDOR_CLASS, vendor_class, strlen(vendor_class));
	dhcp_writer_option(&w, DHCP_OPT_VENDOR, (uint8_t[]){ 6, 1, 8, 255 }, 4);
	dhcp_writer_option(&w, DHCP_OPT_BOOTFILE, "boot\"\n.efi", 10);
	if (overload)
		dhcp_writer_u8(&w, DHCP_OPT_OVERLOAD, overload);
	n = dhcp_writer_finish(&w);
	free(m);
	return decode(buf, n);
}

static void test_offer_from(void **state)
{
	const uint8_t other[6] = { 0x02, 0, 0, 0, 0, 1 };
	struct doctor_offer of;
	struct dhcp_message *m;

	m = offer(0x501, MAC, DHCP_OFFER, ip4("172.24.32.5"), NULL, "undionly.kpxe", 0);
	assert_rc(doctor_offer_from(m, ip4("172.24.0.1"), 0x500, MAC, &of), 0);
	assert_int_equal(of.round, DOCTOR_ROUND_UEFI);
	assert_int_equal(of.server, ip4("172.24.0.7"));  /* option 54, not the source */
	assert_int_equal(of.source, ip4("172.24.0.1"));
	assert_int_equal(of.yiaddr, ip4("172.24.32.5"));
	assert_false(of.proxy);
	assert_string_equal(of.file, "undionly.kpxe");
	assert_int_equal(of.vendor_len, 4);
	assert_true(of.has_bootfile);
	/* Quotes and control bytes from the wire come out escaped. */
	assert_string_equal(of.bootfile, "boot\\x22\\x0a.efi");
	assert_string_equal(doctor_offer_bootfile(&of), "boot\\x22\\x0a.efi");
	assert_int_equal(doctor_offer_tftp_server(&of), ip4("172.24.0.9"));
	/* Someone else's: xid out of the three rounds, other chaddr, an ACK. */
	assert_rc(doctor_offer_from(m, 0, 0x502, MAC, &of), -ENOMSG);
	assert_rc(doctor_offer_from(m, 0, 0x4fe, MAC, &of), -ENOMSG);
	assert_rc(doctor_offer_from(m, 0, 0x500, other, &of), -ENOMSG);
	free(m);
	m = offer(0x500, MAC, DHCP_ACK, ip4("172.24.32.5"), NULL, NULL, 0);
	assert_rc(doctor_offer_from(m, 0, 0x500, MAC, &of), -ENOMSG);
	free(m);

	/* proxyDHCP: no address, option 60 PXEClient. */
	m = offer(0x500, MAC, DHCP_OFFER, 0, "PXEClient", NULL, 0);
	assert_rc(doctor_offer_from(m, ip4("172.24.0.3"), 0x500, MAC, &of), 0);
	assert_true(of.proxy);
	assert_string_equal(of.vendor_class, "PXEClient");
	free(m);
	/* No address without PXEClient is not a proxy. */
	m = offer(0x500, MAC, DHCP_OFFER, 0, "something", NULL, 0);
	assert_rc(doctor_offer_from(m, ip4("172.24.0.3"), 0x500, MAC, &of), 0);
	assert_false(of.proxy);
	free(m);
}

static void test_proc_net_udp(void **state)
{
	uint16_t port;
	unsigned long inode;

	assert_rc(doctor_parse_proc_udp("   sl  local_address rem_address   st tx_queue rx_queue "
					"tr tm->when retrnsmt   uid  timeout inode ref pointer drops",
					&port, &inode), -EINVAL);
	assert_rc(doctor_parse_proc_udp("  873: 00000000:0043 00000000:0000 07 00000000:00000000 "
					"00:00000000 00000000     0        0 123456 2 "
					"0000000000000000 0", &port, &inode), 0);
	assert_int_equal(port, 67);
	assert_int_equal(inode, 123456);
	assert_rc(doctor_parse_proc_udp("  100: 00000000000000000000000000000000:0FAB "
					"00000000000000000000000000000000:0000 07 00000000:00000000 "
					"00:00000000 00000000     0        0 99 2 0 0", &port, &inode), 0);
	assert_int_equal(port, 4011);
	assert_rc(doctor_parse_proc_udp("  1: garbage", &port, &inode), -EINVAL);
	assert_rc(doctor_parse_proc_udp("", &port, &inode), -EINVAL);
}

static void test_tftp_answers(void **state)
{
	uint8_t buf[512];
	struct doctor_fetch f = { 0 };
	const struct tftp_option ts = { "TSIZE", "4321" };
	int n;

	n = doctor_encode_tsize_rrq(buf, sizeof(buf), "ipxe.efi");
	assert_memory_equal(buf, "\0\1ipxe.efi\0octet\0tsize\0" "0\0", (size_t)n);

	n = tftp_encode_oack(buf, sizeof(buf), &ts, 1);
	assert_rc(doctor_read_tftp_answer(buf, (size_t)n, &f), 0);
	assert_int_equal(f.result, DOCTOR_FETCH_EXISTS);
	assert_true(f.has_tsize);
	assert_int_equal(f.tsize, 4321);

	memset(&f, 0, sizeof(f));
	n = tftp_encode_error(buf, sizeof(buf), TFTP_ERR_NOT_FOUND, "no \"such\" file");
	assert_rc(doctor_read_tftp_answer(buf, (size_t)n, &f), 1);
	assert_int_equal(f.result, DOCTOR_FETCH_NOT_FOUND);
	assert_string_equal(f.error_message, "no \\x22such\\x22 file");

	n = tftp_encode_error(buf, sizeof(buf), TFTP_ERR_ACCESS, "denied");
	assert_rc(doctor_read_tftp_answer(buf, (size_t)n, &f), 1);
	assert_int_equal(f.result, DOCTOR_FETCH_ERROR);
	assert_int_equal(f.error_code, TFTP_ERR_ACCESS);

	assert_rc(doctor_read_tftp_answer("\0\5\0\1no-nul", 10, &f), -EBADMSG);
	assert_rc(doctor_read_tftp_answer("\0\1x\0octet\0", 10, &f), -EBADMSG);  /* an RRQ */
	assert_rc(doctor_read_tftp_answer("", 0, &f), -EBADMSG);
}

/* --- findings --- */

static struct doctor_obs *obs(void)
{
	struct doctor_obs *o = calloc(1, sizeof(*o));

	assert_non_null(o);
	strcpy(o->iface, "eth0");
	o->mtu = 1500;
	o->max_blksize = 1468;
	o->wait_sec = 2;
	o->rounds_sent = DOCTOR_ROUNDS;
	o->ra_listened = true;
	o->rs_sent = true;
	o->ipv6_ra = IPV6_RA_AUTO;
	return o;
}

static void add_offer(struct doctor_obs *o, enum doctor_round r, const char *server,
		      bool proxy, const char *file)
{
	struct doctor_offer *of = &o->offers[o->n_offers++];

	memset(of, 0, sizeof(*of));
	of->round = r;
	of->server = of->source = ip4(server);
	of->yiaddr = proxy ? 0 : ip4("10.0.0.50");
	of->proxy = proxy;
	of->vendor_len = -1;
	snprintf(of->file, sizeof(of->file), "%s", file);
}

static void all_rounds(struct doctor_obs *o, const char *server, bool proxy, const char *file)
{
	for (unsigned r = 0; r < DOCTOR_ROUNDS; r++)
		add_offer(o, (enum doctor_round)r, server, proxy, file);
}

/* The one finding with code, or fail. */
static const struct doctor_finding *only(const struct doctor_obs *o, const char *code)
{
	static struct doctor_finding f[DOCTOR_MAX_FINDINGS];
	size_t n = doctor_findings(o, f, DOCTOR_MAX_FINDINGS);
	const struct doctor_finding *hit = NULL;

	for (size_t i = 0; i < n; i++) {
		if (strcmp(f[i].code, code) != 0)
			continue;
		if (hit)
			fail_msg("two findings %s", code);
		hit = &f[i];
	}
	return hit;
}

static void test_findings_healthy(void **state)
{
	struct doctor_obs *o = obs();
	struct doctor_finding f[DOCTOR_MAX_FINDINGS];
	size_t n;

	all_rounds(o, "10.0.0.5", false, "ipxe.efi");
	o->fetches[o->n_fetches++] = (struct doctor_fetch){ .server = ip4("10.0.0.5"),
		.file = "ipxe.efi", .result = DOCTOR_FETCH_EXISTS };
	o->ras[o->n_ras++] = (struct doctor_ra){ .router_lifetime = 0 };
	n = doctor_findings(o, f, DOCTOR_MAX_FINDINGS);
	/* One note (kidou's quiet advertisement), nothing else. */
	assert_int_equal(n, 1);
	assert_string_equal(f[0].code, "quiet-advertisement");
	assert_int_equal(f[0].severity, DOCTOR_NOTE);
	free(o);
}

static void test_findings_two_dhcp_servers(void **state)
{
	struct doctor_obs *o = obs();
	const struct doctor_finding *f;

	all_rounds(o, "10.0.0.5", false, "ipxe.efi");
	add_offer(o, DOCTOR_ROUND_BIOS, "10.0.0.1", false, "");
	f = only(o, "several-dhcp-servers");
	assert_non_null(f);
	assert_int_equal(f->severity, DOCTOR_PROBLEM);
	assert_string_equal(f->text, "two DHCP servers answer PXE clients (10.0.0.5, 10.0.0.1): "
			    "machines will boot from whichever answers first");
	add_offer(o, DOCTOR_ROUND_UEFI, "10.0.0.2", false, "");
	assert_non_null(strstr(only(o, "several-dhcp-servers")->text, "three DHCP servers"));
	/* A proxy beside one DHCP server is no conflict. */
	o->n_offers = 0;
	all_rounds(o, "10.0.0.1", false, "");
	all_rounds(o, "10.0.0.5", true, "");
	assert_null(only(o, "several-dhcp-servers"));
	assert_null(only(o, "no-boot-file"));
	assert_non_null(only(o, "proxy-file-on-4011"));
	free(o);
}

static void test_findings_proxy(void **state)
{
	struct doctor_obs *o = obs();
	const struct doctor_finding *f;

	all_rounds(o, "10.0.0.1", false, "pxelinux.0");
	all_rounds(o, "10.0.0.5", true, "ipxe.efi");
	f = only(o, "dhcp-boot-file-beside-proxy");
	assert_non_null(f);
	assert_int_equal(f->severity, DOCTOR_WARNING);
	assert_null(only(o, "proxy-file-on-4011"));
	add_offer(o, DOCTOR_ROUND_BIOS, "10.0.0.6", true, "x");
	assert_non_null(strstr(only(o, "several-proxy-servers")->text,
			       "two proxyDHCP servers answer PXE clients (10.0.0.5, 10.0.0.6)"));
	/* Only proxies: nobody gives an address. */
	o->n_offers = 0;
	all_rounds(o, "10.0.0.5", true, "ipxe.efi");
	assert_non_null(only(o, "no-address"));
	free(o);
}

static void test_findings_no_answers(void **state)
{
	struct doctor_obs *o = obs();

	assert_string_equal(only(o, "no-dhcp-answer")->text,
			    "no DHCP server answered a PXE DISCOVER on eth0 (3 tries, 2 s each): "
			    "machines will not boot from the network here");
	/* BIOS answered without a file; UEFI not at all. */
	add_offer(o, DOCTOR_ROUND_BIOS, "10.0.0.1", false, "");
	add_offer(o, DOCTOR_ROUND_IPXE, "10.0.0.1", false, "http://x/boot.ipxe");
	assert_null(only(o, "no-dhcp-answer"));
	assert_string_equal(only(o, "no-boot-file")->text,
			    "no server offers a boot file to BIOS PXE (arch 0) clients: they get "
			    "an address and then stop");
	assert_string_equal(only(o, "no-answer-for-arch")->text,
			    "no server answers UEFI x64 PXE (arch 7) clients: they will not boot "
			    "from the network");
	free(o);
}

static void test_findings_boot_files(void **state)
{
	struct doctor_obs *o = obs();

	all_rounds(o, "10.0.0.5", false, "ipxe.efi");
	o->fetches[o->n_fetches++] = (struct doctor_fetch){ .server = ip4("10.0.0.5"),
		.file = "ipxe.efi", .result = DOCTOR_FETCH_NOT_FOUND, .error_code = 1 };
	assert_string_equal(only(o, "boot-file-missing")->text,
			    "the offered boot file ipxe.efi does not exist on 10.0.0.5");
	o->fetches[0].result = DOCTOR_FETCH_NO_ANSWER;
	assert_string_equal(only(o, "tftp-no-answer")->text,
			    "no TFTP server answers on 10.0.0.5: the offered boot file ipxe.efi "
			    "cannot be fetched");
	o->fetches[0].result = DOCTOR_FETCH_NO_ADDRESS;
	assert_int_equal(only(o, "boot-file-not-checked")->severity, DOCTOR_NOTE);
	o->fetches[0].result = DOCTOR_FETCH_ERROR;
	o->fetches[0].error_code = 2;
	strcpy(o->fetches[0].error_message, "denied");
	assert_string_equal(only(o, "boot-file-refused")->text,
			    "10.0.0.5 refuses the offered boot file ipxe.efi: TFTP error 2 "
			    "\"denied\"");
	free(o);
}

static void test_findings_router_advertisements(void **state)
{
	struct doctor_obs *o = obs();

	all_rounds(o, "10.0.0.5", false, "ipxe.efi");
	assert_non_null(strstr(only(o, "no-router-advertisement")->text,
			       "no router advertises on this segment"));
	o->ras[o->n_ras++] = (struct doctor_ra){ .router_lifetime = 1800, .n_prefixes = 1 };
	inet_pton(AF_INET6, "fe80::1", &o->ras[0].source);
	assert_string_equal(only(o, "router-advertises")->text,
			    "a router advertises on this segment (fe80::1): ipv6-ra=auto stays "
			    "silent here, and iPXE configures IPv6 from that router");
	assert_null(only(o, "no-router-advertisement"));
	o->ipv6_ra = IPV6_RA_ALWAYS;
	assert_non_null(strstr(only(o, "router-advertises")->text, "ipv6-ra=always"));
	/* Lifetime 0 but a prefix, or M set: a router all the same. */
	o->ras[0] = (struct doctor_ra){ .flags = NDP_RA_FLAG_MANAGED };
	assert_non_null(only(o, "router-advertises"));
	assert_null(only(o, "quiet-advertisement"));
	/* Not listened for at all: nothing said. */
	o->ra_listened = false;
	assert_null(only(o, "router-advertises"));
	assert_null(only(o, "no-router-advertisement"));
	free(o);
}

static void test_findings_ports_and_mtu(void **state)
{
	struct doctor_obs *o = obs();

	all_rounds(o, "10.0.0.5", false, "ipxe.efi");
	o->ports[o->n_ports++] = (struct doctor_port){ .port = 67, .state = DOCTOR_PORT_OTHER,
						       .pid = 42, .holder = "dnsmasq" };
	o->ports[o->n_ports++] = (struct doctor_port){ .port = 69, .state = DOCTOR_PORT_KIDOU,
						       .pid = 7, .holder = "kidou" };
	o->ports[o->n_ports++] = (struct doctor_port){ .port = 4011, .state = DOCTOR_PORT_FREE };
	assert_string_equal(only(o, "port-held")->text,
			    "UDP port 67 is held by dnsmasq (pid 42): kidou cannot serve DHCP on "
			    "this machine while it runs");
	assert_int_equal(only(o, "port-held-by-kidou")->severity, DOCTOR_NOTE);

	assert_null(only(o, "blksize-above-mtu"));   /* 1468 fits 1500 */
	o->max_blksize = 1469;
	assert_non_null(only(o, "blksize-above-mtu"));
	o->max_blksize = 65464;
	o->mtu = 9000;
	assert_non_null(strstr(only(o, "blksize-above-mtu")->text, "max-blksize = 8968"));
	o->mtu = 0;                                  /* unknown */
	assert_null(only(o, "blksize-above-mtu"));
	free(o);
}

static void test_findings_bounded(void **state)
{
	struct doctor_obs *o = obs();
	struct doctor_finding f[2];

	add_offer(o, DOCTOR_ROUND_BIOS, "10.0.0.1", false, "");
	add_offer(o, DOCTOR_ROUND_BIOS, "10.0.0.2", false, "");
	o->mtu = 1000;
	o->max_blksize = 65464;
	assert_int_equal(doctor_findings(o, f, 2), 2);
	/* Sorted by severity: the two problems kept come before anything else. */
	assert_int_equal(f[0].severity, DOCTOR_PROBLEM);
	assert_int_equal(doctor_findings(o, f, 0), 0);
	free(o);
}

static void test_findings_sorted(void **state)
{
	struct doctor_obs *o = obs();
	struct doctor_finding f[DOCTOR_MAX_FINDINGS];
	size_t n;

	/* Drawn as: note (no RA) before problem (port), warning (MTU) last. */
	all_rounds(o, "10.0.0.5", false, "ipxe.efi");
	o->ports[o->n_ports++] = (struct doctor_port){ .port = 67, .state = DOCTOR_PORT_OTHER,
						       .pid = 42, .holder = "dnsmasq" };
	o->max_blksize = 65464;
	n = doctor_findings(o, f, DOCTOR_MAX_FINDINGS);
	assert_int_equal(n, 3);
	assert_string_equal(f[0].code, "port-held");
	assert_string_equal(f[1].code, "blksize-above-mtu");
	assert_string_equal(f[2].code, "no-router-advertisement");
	free(o);
}

static void test_escape(void **state)
{
	char out[8];

	doctor_escape(out, sizeof(out), "ab\0cd", 5);
	assert_string_equal(out, "ab");
	doctor_escape(out, sizeof(out), "\x01\x02", 2);
	assert_string_equal(out, "\\x01");      /* a whole escape or none */
	doctor_escape(out, sizeof(out), "abcdefghij", 10);
	assert_string_equal(out, "abcdefg");
	doctor_escape(out, 1, "abc", 3);
	assert_string_equal(out, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_discover_rounds),
		cmocka_unit_test(test_ipv4_udp_framing),
		cmocka_unit_test(test_offer_from),
		cmocka_unit_test(test_proc_net_udp),
		cmocka_unit_test(test_tftp_answers),
		cmocka_unit_test(test_findings_healthy),
		cmocka_unit_test(test_findings_two_dhcp_servers),
		cmocka_unit_test(test_findings_proxy),
		cmocka_unit_test(test_findings_no_answers),
		cmocka_unit_test(test_findings_boot_files),
		cmocka_unit_test(test_findings_router_advertisements),
		cmocka_unit_test(test_findings_ports_and_mtu),
		cmocka_unit_test(test_findings_bounded),
		cmocka_unit_test(test_findings_sorted),
		cmocka_unit_test(test_escape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
