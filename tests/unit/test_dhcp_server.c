/* test_dhcp_server.c - the DHCP policy, driven without sockets.
 *
 * Requests are packed BOOTP headers plus an option list (the builders
 * below), encoded to bytes, decoded by dhcp_decode() as the daemon does,
 * and handed to dhcp_server_handle(). Each test starts from a DISCOVER or
 * REQUEST and changes one field per step; replies are decoded again and
 * checked field by field. Configs come from flags or from an INI file
 * written into a mkdtemp() directory. */
#include "unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "config.h"
#include "dhcp/dhcp_server.h"
#include "dhcp/dhcp_wire.h"

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))
#define IFACE IP(172, 24, 32, 254)
#define MASK IP(255, 255, 255, 0)
#define FIRST IP(172, 24, 32, 1)
#define LAST IP(172, 24, 32, 5)
#define OTHER_SERVER IP(172, 24, 32, 99)
#define NOW ((int64_t)1700000000)
#define LEASE 600

/* --- request builders --- */

/* The fixed part of a BOOTP message as it is on the wire (RFC 2131
 * figure 1), network byte order: only tests build packets this way. */
struct __attribute__((packed)) bootp_hdr {
	uint8_t op, htype, hlen, hops;
	uint32_t xid;
	uint16_t secs, flags;
	uint32_t ciaddr, yiaddr, siaddr, giaddr;
	uint8_t chaddr[DHCP_CHADDR_LEN];
	uint8_t sname[DHCP_SNAME_LEN];
	uint8_t file[DHCP_FILE_LEN];
	uint32_t magic;
};
_Static_assert(sizeof(struct bootp_hdr) == DHCP_FIXED_LEN + 4, "wire layout");

struct pkt {
	struct bootp_hdr h;
	uint8_t opts[1200];  /* without END; option 53 is always first */
	size_t optlen;
};

static void add_opt(struct pkt *p, uint8_t code, const void *data, size_t len)
{
	assert_true(len <= 255 && p->optlen + 2 + len < sizeof(p->opts));
	p->opts[p->optlen++] = code;
	p->opts[p->optlen++] = (uint8_t)len;
	memcpy(p->opts + p->optlen, data, len);
	p->optlen += len;
}

static void add_addr(struct pkt *p, uint8_t code, uint32_t host_order)
{
	uint32_t a = htonl(host_order);

	add_opt(p, code, &a, 4);
}

static void set_type(struct pkt *p, uint8_t type)
{
	p->opts[2] = type;
}

/* Client n: MAC 52:54:00:00:00:n, xid derived from n. */
static struct pkt discover(uint8_t client)
{
	struct pkt p = { .h = {
		.op = DHCP_OP_REQUEST, .htype = 1, .hlen = 6,
		.xid = htonl(0x4b440000u | client),
		.chaddr = { 0x52, 0x54, 0x00, 0x00, 0x00, client },
		.magic = htonl(DHCP_MAGIC),
	} };

	add_opt(&p, DHCP_OPT_MESSAGE_TYPE, "\x01", 1);
	return p;
}

static struct pkt request_selecting(uint8_t client, uint32_t ip, uint32_t server_id)
{
	struct pkt p = discover(client);

	set_type(&p, DHCP_REQUEST);
	add_addr(&p, DHCP_OPT_SERVER_ID, server_id);
	add_addr(&p, DHCP_OPT_REQUESTED_IP, ip);
	return p;
}

static struct pkt request_init_reboot(uint8_t client, uint32_t ip)
{
	struct pkt p = discover(client);

	set_type(&p, DHCP_REQUEST);
	add_addr(&p, DHCP_OPT_REQUESTED_IP, ip);
	return p;
}

static struct pkt request_renewing(uint8_t client, uint32_t ip)
{
	struct pkt p = discover(client);

	set_type(&p, DHCP_REQUEST);
	p.h.ciaddr = htonl(ip);
	return p;
}

static const uint8_t pxe_prl[] = { 1, 3, 6, 15, 43, 60, 66, 67, 97, 128, 129 };

/* A BIOS PXE ROM's DISCOVER (iPXE/Intel UNDI shape); the parameter
 * request list comes last. */
static struct pkt pxe_discover(uint8_t client)
{
	static const uint8_t uuid[17] = { 0, 0x4b, 0x49, 0x44, 0x4f, 0x55, 1, 2, 3,
					  4, 5, 6, 7, 8, 9, 10, 11 };
	struct pkt p = discover(client);

	add_opt(&p, DHCP_OPT_MAX_MESSAGE, "\x04\xec", 2);  /* 1260 */
	add_opt(&p, DHCP_OPT_CLIENT_ARCH, "\x00\x00", 2);
	add_opt(&p, DHCP_OPT_CLIENT_NDI, "\x01\x02\x01", 3);
	add_opt(&p, DHCP_OPT_CLIENT_UUID, uuid, sizeof(uuid));
	add_opt(&p, DHCP_OPT_VENDOR_CLASS, "PXEClient:Arch:00000:UNDI:002001", 32);
	add_opt(&p, DHCP_OPT_PARAM_REQUEST, pxe_prl, sizeof(pxe_prl));
	return p;
}

static size_t pack(const struct pkt *p, uint8_t *buf, size_t size)
{
	size_t n = sizeof(p->h) + p->optlen + 1;

	assert_true(n <= size);
	memcpy(buf, &p->h, sizeof(p->h));
	memcpy(buf + sizeof(p->h), p->opts, p->optlen);
	buf[n - 1] = DHCP_OPT_END;
	return n;
}

/* The identity the server keys a client by without option 61. */
static void hw_client_id(uint8_t client, uint8_t out[7])
{
	const uint8_t id[7] = { 1, 0x52, 0x54, 0x00, 0x00, 0x00, client };

	memcpy(out, id, 7);
}

/* --- fixture: temp dir, config, server, context, last outcome --- */

struct fixture {
	char dir[256];
	char path[300];
	char err[512];
	struct config *cfg;
	struct dhcp_server *s;
	struct dhcp_request_ctx ctx;
	struct dhcp_outcome out;
	struct dhcp_message req;    /* the last request, decoded */
	struct dhcp_message reply;  /* the last reply, decoded */
};

static const struct config_override base_flags[] = {
	{ "dhcp-interface", "v0" },
	{ "dhcp-range", "172.24.32.1 172.24.32.5" },
	{ "dhcp-lease-time", "600" },
};

/* Relayed subnet, static hosts and boot targets. */
static const char ini_full[] =
	"[dhcp]\n"
	"interface = v0\n"
	"range = 172.24.32.1 172.24.32.5\n"
	"router = 172.24.32.254\n"
	"lease-time = 600\n"
	"\n"
	"[boot]\n"
	"uefi-x64 = efi/default.efi\n"
	"\n"
	"[subnet far]\n"
	"network = 10.9.0.0/16\n"
	"range = 10.9.1.10 10.9.1.20\n"
	"router = 10.9.0.1\n"
	"dns = 10.9.0.53\n"
	"lease-time = 7200\n"
	"\n"
	"[host fixed]\n"
	"mac = 52:54:00:aa:00:01\n"
	"ip = 172.24.32.3\n"
	"hostname = fixed1\n"
	"\n"
	"[host special]\n"
	"mac = 52:54:00:aa:00:02\n"
	"uefi-x64 = efi/special.efi\n";

static const uint8_t mac_fixed[6] = { 0x52, 0x54, 0x00, 0xaa, 0x00, 0x01 };
static const uint8_t mac_special[6] = { 0x52, 0x54, 0x00, 0xaa, 0x00, 0x02 };

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *tmpdir = getenv("TMPDIR");

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "%s/kidou-dhcp-XXXXXX",
		 tmpdir && *tmpdir ? tmpdir : "/tmp");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/kidou.ini", f->dir);
	f->ctx = (struct dhcp_request_ctx){ .iface_addr = IFACE, .iface_mask = MASK,
					    .now = NOW };
	*state = f;
	return 0;
}

static void stop(struct fixture *f)
{
	dhcp_server_free(f->s);
	config_free(f->cfg);
	f->s = NULL;
	f->cfg = NULL;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	stop(f);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Build config and server: from ini (then extra flags), or from
 * base_flags then extra flags (later flags win). */
static void start(struct fixture *f, const char *ini, const struct config_override *extra,
		  size_t n_extra)
{
	struct config_override o[32];
	size_t n = 0;
	int r;

	stop(f);
	if (!ini)
		for (size_t i = 0; i < sizeof(base_flags) / sizeof(base_flags[0]); i++)
			o[n++] = base_flags[i];
	assert_true(n + n_extra <= sizeof(o) / sizeof(o[0]));
	for (size_t i = 0; i < n_extra; i++)
		o[n++] = extra[i];
	if (ini) {
		FILE *fp = fopen(f->path, "we");
		assert_non_null(fp);
		assert_true(fputs(ini, fp) >= 0);
		assert_int_equal(fclose(fp), 0);
	}
	f->err[0] = '\0';
	r = config_build(ini ? f->path : NULL, o, n, &f->cfg, f->err, sizeof(f->err));
	if (r < 0)
		print_error("config_build: %s\n", f->err);
	assert_rc(r, 0);
	assert_rc(dhcp_server_new(f->cfg, &f->s), 0);
}

/* Encode, decode as the daemon does, and decide. f->out is poisoned first
 * so that a field the handler forgets to set shows up. */
static int handle(struct fixture *f, const struct pkt *p)
{
	uint8_t buf[sizeof(struct pkt) + 1];
	size_t n = pack(p, buf, sizeof(buf));
	int r;

	assert_rc(dhcp_decode(buf, n, &f->req), 0);
	memset(&f->out, 0xa5, sizeof(f->out));
	r = dhcp_server_handle(f->s, &f->req, &f->ctx, &f->out);
	assert_true(f->out.reply_len <= DHCP_REPLY_MAX);
	assert_non_null(f->out.event);
	if (r < 0) {
		assert_int_equal(f->out.reply_len, 0);
		assert_int_equal(f->out.dest, DHCP_DEST_NONE);
		assert_int_equal(f->out.store, DHCP_STORE_NONE);
		assert_non_null(f->out.reason);
	}
	if (f->out.reply_len == 0)
		assert_int_equal(f->out.dest, DHCP_DEST_NONE);
	return r;
}

/* The last reply decoded; checks what every reply carries. */
static const struct dhcp_message *reply(struct fixture *f, uint8_t type)
{
	const struct dhcp_message *m = &f->reply;

	assert_true(f->out.reply_len >= 300);
	assert_rc(dhcp_decode(f->out.reply, f->out.reply_len, &f->reply), 0);
	assert_int_equal(m->op, DHCP_OP_REPLY);
	assert_int_equal(m->xid, f->req.xid);
	assert_int_equal(m->htype, f->req.htype);
	assert_int_equal(m->hlen, f->req.hlen);
	assert_memory_equal(m->chaddr, f->req.chaddr, DHCP_CHADDR_LEN);
	assert_int_equal(m->giaddr, f->req.giaddr);
	assert_int_equal(dhcp_message_type(m), type);
	return m;
}

static bool has_opt(const struct dhcp_message *m, uint8_t code)
{
	return dhcp_option(m, code, 0, NULL) != NULL;
}

/* A 4-byte option in host order; fails the test when absent. */
static uint32_t opt_be32(const struct dhcp_message *m, uint8_t code)
{
	uint32_t v;

	if (dhcp_option_addr(m, code, &v) < 0) {
		print_error("option %u missing or not 4 bytes\n", code);
		fail();
	}
	return ntohl(v);
}

static void assert_opt_equal(const struct dhcp_message *m, uint8_t code,
			     const void *want, size_t want_len)
{
	size_t len;
	const uint8_t *p = dhcp_option(m, code, 0, &len);

	if (!p) {
		print_error("option %u missing\n", code);
		fail();
	}
	assert_int_equal(len, want_len);
	assert_memory_equal(p, want, want_len);
}

static void check_in_range(uint32_t ip, uint32_t first, uint32_t last)
{
	if (ip < first || ip > last) {
		print_error("%08x outside %08x..%08x\n", ip, first, last);
		fail();
	}
}

/* Offset of the last option before END in raw reply bytes. */
static size_t last_option_offset(const uint8_t *buf, size_t len)
{
	size_t i = DHCP_FIXED_LEN + 4, last = 0;

	while (i < len && buf[i] != DHCP_OPT_END) {
		if (buf[i] == DHCP_OPT_PAD) {
			i++;
			continue;
		}
		assert_true(i + 1 < len);
		last = i;
		i += 2 + (size_t)buf[i + 1];
	}
	assert_true(i < len);
	return last;
}

/* DISCOVER from client n: expects an OFFER, returns the address. */
static uint32_t offer(struct fixture *f, uint8_t client)
{
	struct pkt p = discover(client);

	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "offer");
	return ntohl(reply(f, DHCP_OFFER)->yiaddr);
}

/* DISCOVER + REQUEST: client n ends up BOUND; returns the address. */
static uint32_t bind_client(struct fixture *f, uint8_t client)
{
	uint32_t ip = offer(f, client);
	struct pkt p = request_selecting(client, ip, IFACE);

	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "ack");
	assert_int_equal(f->out.ip, ip);
	return ip;
}

static void assert_no_reply(struct fixture *f, const char *event)
{
	assert_int_equal(f->out.reply_len, 0);
	assert_int_equal(f->out.dest, DHCP_DEST_NONE);
	assert_string_equal(f->out.event, event);
}

/* --- DISCOVER --- */

static void test_discover_offer(void **state)
{
	static const struct config_override flags[] = {
		{ "dhcp-router", "172.24.32.254" },
		{ "dhcp-dns", "172.24.32.53, 9.9.9.9" },
	};
	static const uint8_t dns[8] = { 172, 24, 32, 53, 9, 9, 9, 9 };
	struct fixture *f = *state;
	struct pkt p = discover(1);
	const struct dhcp_message *m;

	start(f, NULL, flags, 2);
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "offer");
	assert_int_equal(f->out.request_type, DHCP_DISCOVER);
	assert_null(f->out.host);
	assert_int_equal(f->out.store, DHCP_STORE_NONE);  /* offers are not stored */
	assert_int_equal(f->out.dest, DHCP_DEST_BROADCAST);
	assert_int_equal(f->out.dest_addr, INADDR_BROADCAST);
	assert_int_equal(f->out.dest_port, 68);
	assert_true(f->out.reply_len <= DHCP_MIN_MAX_MESSAGE - DHCP_UDP_IP_OVERHEAD);
	m = reply(f, DHCP_OFFER);
	check_in_range(ntohl(m->yiaddr), FIRST, LAST);
	assert_int_equal(f->out.ip, ntohl(m->yiaddr));
	assert_int_equal(m->ciaddr, 0);
	assert_int_equal(m->siaddr, 0);
	assert_int_equal(m->flags, 0);
	assert_int_equal(m->file[0], 0);
	assert_int_equal(opt_be32(m, DHCP_OPT_SERVER_ID), IFACE);
	assert_int_equal(opt_be32(m, DHCP_OPT_LEASE_TIME), LEASE);
	assert_int_equal(opt_be32(m, DHCP_OPT_RENEWAL_T1), LEASE / 2);
	assert_int_equal(opt_be32(m, DHCP_OPT_REBINDING_T2), LEASE * 7 / 8);
	assert_int_equal(opt_be32(m, DHCP_OPT_SUBNET_MASK), MASK);
	assert_int_equal(opt_be32(m, DHCP_OPT_ROUTER), IFACE);
	assert_opt_equal(m, DHCP_OPT_DNS, dns, sizeof(dns));
	/* Not a boot client: nothing about booting. */
	assert_false(has_opt(m, DHCP_OPT_VENDOR_CLASS));
	assert_false(has_opt(m, DHCP_OPT_VENDOR));
	assert_false(has_opt(m, DHCP_OPT_TFTP_SERVER));
	assert_false(has_opt(m, DHCP_OPT_BOOTFILE));
	assert_false(has_opt(m, DHCP_OPT_HOSTNAME));
	assert_false(has_opt(m, DHCP_OPT_RELAY_AGENT));
	assert_string_equal(f->out.boot.reason, "not-a-boot-client");

	/* Step: the mask comes from the receiving interface. */
	f->ctx.iface_mask = IP(255, 255, 0, 0);
	p = discover(2);
	assert_rc(handle(f, &p), 0);
	assert_int_equal(opt_be32(reply(f, DHCP_OFFER), DHCP_OPT_SUBNET_MASK),
			 IP(255, 255, 0, 0));

	/* Step: the broadcast flag is echoed and the reply broadcast. */
	p = discover(3);
	p.h.flags = htons(DHCP_FLAG_BROADCAST);
	assert_rc(handle(f, &p), 0);
	assert_int_equal(f->out.dest, DHCP_DEST_BROADCAST);
	assert_int_equal(reply(f, DHCP_OFFER)->flags, DHCP_FLAG_BROADCAST);

	/* Step: an interface without an address cannot answer. */
	f->ctx.iface_addr = 0;
	p = discover(4);
	assert_rc(handle(f, &p), 0);
	assert_no_reply(f, "ignore");
	assert_string_equal(f->out.reason, "interface-without-address");
}

static void test_router_dns_only_when_configured_and_wanted(void **state)
{
	static const struct config_override flags[] = {
		{ "dhcp-router", "172.24.32.254" },
		{ "dhcp-dns", "172.24.32.53" },
		{ "dhcp-domain", "lab.example" },
	};
	struct fixture *f = *state;
	struct pkt p = discover(1);
	const struct dhcp_message *m;

	/* Not configured: absent even though asked for. */
	start(f, NULL, NULL, 0);
	add_opt(&p, DHCP_OPT_PARAM_REQUEST, "\x01\x03\x06\x0f", 4);
	assert_rc(handle(f, &p), 0);
	m = reply(f, DHCP_OFFER);
	assert_false(has_opt(m, DHCP_OPT_ROUTER));
	assert_false(has_opt(m, DHCP_OPT_DNS));
	assert_false(has_opt(m, DHCP_OPT_DOMAIN_NAME));
	assert_true(has_opt(m, DHCP_OPT_SUBNET_MASK));

	/* Configured and asked for. */
	start(f, NULL, flags, 3);
	assert_rc(handle(f, &p), 0);
	m = reply(f, DHCP_OFFER);
	assert_int_equal(opt_be32(m, DHCP_OPT_ROUTER), IFACE);
	assert_int_equal(opt_be32(m, DHCP_OPT_DNS), IP(172, 24, 32, 53));
	assert_opt_equal(m, DHCP_OPT_DOMAIN_NAME, "lab.example", 11);

	/* Step: a parameter request list without 3, 6 and 15. */
	p = discover(1);
	add_opt(&p, DHCP_OPT_PARAM_REQUEST, "\x01\x1c\x2a", 3);
	assert_rc(handle(f, &p), 0);
	m = reply(f, DHCP_OFFER);
	assert_false(has_opt(m, DHCP_OPT_ROUTER));
	assert_false(has_opt(m, DHCP_OPT_DNS));
	assert_false(has_opt(m, DHCP_OPT_DOMAIN_NAME));
	/* What the protocol needs is sent regardless. */
	assert_true(has_opt(m, DHCP_OPT_SUBNET_MASK));
	assert_true(has_opt(m, DHCP_OPT_LEASE_TIME));
	assert_true(has_opt(m, DHCP_OPT_SERVER_ID));
}

/* `option = CODE TYPE VALUE`: sent when asked for; a [host]'s wins over its
 * [subnet]'s, which wins over [dhcp]'s; never in a NAK. */
static void test_config_options(void **state)
{
	static const char ini[] =
		"[dhcp]\n"
		"interface = v0\n"
		"range = 172.24.32.1 172.24.32.5\n"
		"option = 42 ip 172.24.32.123\n"
		"option = 224 string site-wide\n"
		"option = 26 u16 1400\n"
		"\n"
		"[subnet far]\n"
		"network = 10.9.0.0/16\n"
		"range = 10.9.1.10 10.9.1.14\n"
		"option = 42 ip 10.9.0.123\n"
		"\n"
		"[host special]\n"
		"mac = 52:54:00:aa:00:02\n"
		"option = 224 string for-special\n";
	struct fixture *f = *state;
	struct pkt p = discover(1);
	const struct dhcp_message *m;

	start(f, ini, NULL, 0);
	add_opt(&p, DHCP_OPT_PARAM_REQUEST, "\x01\x2a\xe0", 3);  /* 1, 42, 224 */
	assert_rc(handle(f, &p), 0);
	m = reply(f, DHCP_OFFER);
	assert_int_equal(opt_be32(m, 42), IP(172, 24, 32, 123));
	assert_opt_equal(m, 224, "site-wide", 9);
	assert_false(has_opt(m, 26));  /* not asked for */

	/* Step: no parameter request list: everything configured. */
	p = discover(1);
	assert_rc(handle(f, &p), 0);
	m = reply(f, DHCP_OFFER);
	assert_opt_equal(m, 26, "\x05\x78", 2);
	assert_true(has_opt(m, 42) && has_opt(m, 224));

	/* Step: the host's own 224 wins; 42 still comes from [dhcp]. */
	p = discover(2);
	memcpy(p.h.chaddr, mac_special, 6);
	add_opt(&p, DHCP_OPT_PARAM_REQUEST, "\x01\x2a\xe0", 3);
	assert_rc(handle(f, &p), 0);
	m = reply(f, DHCP_OFFER);
	assert_opt_equal(m, 224, "for-special", 11);
	assert_int_equal(opt_be32(m, 42), IP(172, 24, 32, 123));

	/* Step: behind a relay on [subnet far], its 42 wins; 224 from [dhcp]. */
	p = discover(3);
	p.h.giaddr = htonl(IP(10, 9, 0, 1));
	add_opt(&p, DHCP_OPT_PARAM_REQUEST, "\x01\x2a\xe0", 3);
	assert_rc(handle(f, &p), 0);
	m = reply(f, DHCP_OFFER);
	assert_int_equal(opt_be32(m, 42), IP(10, 9, 0, 123));
	assert_opt_equal(m, 224, "site-wide", 9);

	/* Step: a NAK carries none of them (client 1 is known: it was
	 * offered an address above). */
	p = request_init_reboot(1, IP(172, 24, 99, 1));
	add_opt(&p, DHCP_OPT_PARAM_REQUEST, "\x01\x2a\xe0", 3);
	assert_rc(handle(f, &p), 0);
	m = reply(f, DHCP_NAK);
	assert_false(has_opt(m, 42) || has_opt(m, 224));
}

static void test_offer_hold(void **state)
{
	struct fixture *f = *state;
	uint32_t a, again, b;

	start(f, NULL, NULL, 0);
	a = offer(f, 1);
	again = offer(f, 1);
	assert_int_equal(again, a);
	b = offer(f, 2);
	assert_int_not_equal(b, a);
	check_in_range(b, FIRST, LAST);
	/* A client asking for another's held address gets a different one. */
	struct pkt p = discover(3);
	add_addr(&p, DHCP_OPT_REQUESTED_IP, a);
	assert_rc(handle(f, &p), 0);
	assert_int_not_equal(ntohl(reply(f, DHCP_OFFER)->yiaddr), a);
	/* A free address asked for is given. */
	p = discover(4);
	add_addr(&p, DHCP_OPT_REQUESTED_IP, LAST);
	assert_rc(handle(f, &p), 0);
	assert_int_equal(ntohl(reply(f, DHCP_OFFER)->yiaddr), LAST);
	assert_int_equal(dhcp_server_leases_in_use(f->s, NOW), 4);
}

/* An address is offered only where the server would acknowledge it: a
 * DISCOVER arriving on an interface whose network does not hold the
 * [dhcp] range (a second "interface =" on another network, or a
 * misconfigured range) must not start an OFFER/REQUEST/NAK loop. */
static void test_offer_only_on_the_ranges_network(void **state)
{
	static const struct config_override two[] = {
		{ "dhcp-interface", "v0, v1" },
	};
	struct fixture *f = *state;
	struct pkt p = discover(1);
	uint32_t ip;

	start(f, NULL, two, 1);
	f->ctx.iface_addr = IP(10, 5, 0, 1);  /* v1: 10.5.0.1/24 */
	assert_rc(handle(f, &p), 0);
	if (f->out.reply_len == 0)
		return;  /* not offered: fine */
	ip = ntohl(reply(f, DHCP_OFFER)->yiaddr);
	check_in_range(ip, IP(10, 5, 0, 1), IP(10, 5, 0, 254));
	p = request_selecting(1, ip, f->ctx.iface_addr);
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "ack");
}

static void test_pool_exhaustion(void **state)
{
	struct fixture *f = *state;
	uint32_t seen = 0;
	struct pkt p = discover(6);

	start(f, NULL, NULL, 0);
	for (uint8_t c = 1; c <= 5; c++) {
		uint32_t ip = offer(f, c);
		check_in_range(ip, FIRST, LAST);
		assert_false(seen & (1u << (ip - FIRST)));
		seen |= 1u << (ip - FIRST);
	}
	assert_rc(handle(f, &p), 0);
	assert_no_reply(f, "pool-full");
	assert_string_equal(f->out.reason, "no-free-address");
	assert_int_equal(f->out.store, DHCP_STORE_NONE);
	/* Once the offer hold (30 s by default) runs out, there is room. */
	f->ctx.now = NOW + 31;
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "offer");
}

/* --- REQUEST --- */

static void test_request_selecting_ack(void **state)
{
	struct fixture *f = *state;
	uint8_t id[7];
	uint32_t ip;
	struct pkt p;
	const struct dhcp_message *m;

	start(f, NULL, NULL, 0);
	ip = offer(f, 1);
	p = request_selecting(1, ip, IFACE);
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "ack");
	assert_int_equal(f->out.request_type, DHCP_REQUEST);
	assert_int_equal(f->out.ip, ip);
	assert_int_equal(f->out.dest, DHCP_DEST_BROADCAST);
	assert_int_equal(f->out.dest_port, 68);
	m = reply(f, DHCP_ACK);
	assert_int_equal(ntohl(m->yiaddr), ip);
	assert_int_equal(opt_be32(m, DHCP_OPT_SERVER_ID), IFACE);
	assert_int_equal(opt_be32(m, DHCP_OPT_LEASE_TIME), LEASE);
	assert_int_equal(opt_be32(m, DHCP_OPT_SUBNET_MASK), MASK);
	/* The lease to write before the ACK leaves. */
	assert_int_equal(f->out.store, DHCP_STORE_PUT);
	assert_int_equal(f->out.lease.ip, htonl(ip));
	hw_client_id(1, id);
	assert_int_equal(f->out.lease.client_id_len, 7);
	assert_memory_equal(f->out.lease.client_id, id, 7);
	assert_int_equal(f->out.lease.hwaddr_len, 6);
	assert_memory_equal(f->out.lease.hwaddr, id + 1, 6);
	assert_int_equal(f->out.lease.expires, NOW + LEASE);
	assert_int_equal(f->out.lease.state, LEASE_BOUND);
	assert_string_equal(f->out.lease.hostname, "");

	/* Step: the client sends option 61; that is its identity. */
	static const uint8_t cid[] = { 0xff, 0, 0, 0, 1, 0, 1, 0x2c, 0xaa, 0xbb };
	p = discover(2);
	add_opt(&p, DHCP_OPT_CLIENT_ID, cid, sizeof(cid));
	assert_rc(handle(f, &p), 0);
	ip = ntohl(reply(f, DHCP_OFFER)->yiaddr);
	p = request_selecting(2, ip, IFACE);
	add_opt(&p, DHCP_OPT_CLIENT_ID, cid, sizeof(cid));
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "ack");
	assert_int_equal(f->out.store, DHCP_STORE_PUT);
	assert_int_equal(f->out.lease.client_id_len, sizeof(cid));
	assert_memory_equal(f->out.lease.client_id, cid, sizeof(cid));
	assert_int_equal(f->out.lease.expires, NOW + LEASE);

	/* Step: the same option 61 from another MAC is the same client. */
	p = discover(9);
	add_opt(&p, DHCP_OPT_CLIENT_ID, cid, sizeof(cid));
	assert_rc(handle(f, &p), 0);
	assert_int_equal(ntohl(reply(f, DHCP_OFFER)->yiaddr), ip);

	/* Step: SELECTING without option 50 is refused. */
	p = discover(3);
	set_type(&p, DHCP_REQUEST);
	add_addr(&p, DHCP_OPT_SERVER_ID, IFACE);
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "nak");
	assert_string_equal(f->out.reason, "selecting-without-requested-address");
}

static void test_request_for_other_server(void **state)
{
	static const struct config_override one[] = {
		{ "dhcp-range", "172.24.32.1 172.24.32.1" },
	};
	struct fixture *f = *state;
	struct pkt p = discover(2);
	uint32_t ip;

	start(f, NULL, one, 1);
	ip = offer(f, 1);
	assert_int_equal(ip, FIRST);
	assert_rc(handle(f, &p), 0);
	assert_no_reply(f, "pool-full");
	/* Client 1 chose another server's offer. */
	p = request_selecting(1, ip, OTHER_SERVER);
	assert_rc(handle(f, &p), 0);
	assert_no_reply(f, "ignore");
	assert_string_equal(f->out.reason, "client-chose-other-server");
	assert_int_equal(f->out.store, DHCP_STORE_NONE);
	/* The address it was offered is free for someone else at once. */
	assert_int_equal(offer(f, 2), FIRST);
}

/* Two instances on one database both offered the same address, to
 * different clients. Client 1 chose the other instance's offer; its
 * REQUEST (relayed or broadcast to both) names that server. This
 * instance's own offer to client 2 gives way, so it knows client 1 and
 * renews it (through the database) if the other instance dies. */
static void test_shared_request_for_other_server_over_own_offer(void **state)
{
	static const struct config_override two[] = {
		{ "dhcp-range", "172.24.32.1 172.24.32.2" },
	};
	struct fixture *f = *state;
	struct pkt p;
	uint32_t ip;

	start(f, NULL, two, 1);
	dhcp_server_set_shared(f->s, true, 1);
	ip = offer(f, 2);
	p = request_selecting(1, ip, OTHER_SERVER);
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.reason, "client-chose-other-server");
	/* Client 1 rebinds (the other instance is gone): it is known. */
	f->ctx.now = NOW + LEASE * 7 / 8;
	p = request_renewing(1, ip);
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "ack");
	assert_int_equal(f->out.store, DHCP_STORE_PUT);
	assert_int_equal(ntohl(reply(f, DHCP_ACK)->yiaddr), ip);
	/* Client 2, had it asked for its offer, is refused that address. */
	p = request_selecting(2, ip, IFACE);
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "nak");

	/* A lease held here is not given up on another server's word. */
	start(f, NULL, two, 1);
	dhcp_server_set_shared(f->s, true, 1);
	ip = bind_client(f, 2);
	p = request_selecting(1, ip, OTHER_SERVER);
	assert_rc(handle(f, &p), 0);
	p = request_renewing(1, ip);
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.reason, "unknown-client");
}

/* A commit that failed leaves no phantom binding: the ACK was never sent,
 * so the address goes back to what it was, and another client may take
 * it instead of being NAKed "address-taken". */
static void test_failed_commit_undoes_binding(void **state)
{
	static const struct config_override one[] = {
		{ "dhcp-range", "172.24.32.1 172.24.32.1" },
	};
	struct fixture *f = *state;
	struct dhcp_outcome first, offered;
	struct pkt p;
	uint8_t mac[6];

	start(f, NULL, one, 1);
	/* Client 1 asks for the free address straight away; its lease
	 * cannot be written. */
	p = request_selecting(1, FIRST, IFACE);
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "ack");
	assert_int_equal(f->out.store, DHCP_STORE_PUT);
	first = f->out;
	assert_true(dhcp_server_undo(f->s, &first));
	assert_int_equal(dhcp_server_leases_in_use(f->s, NOW), 0);
	/* Client 2 gets it. */
	p = request_selecting(2, FIRST, IFACE);
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "ack");
	/* An undo that comes late never takes it from client 2. */
	assert_false(dhcp_server_undo(f->s, &first));
	assert_rc(dhcp_server_mac_for_ip(f->s, FIRST, NOW, mac), 0);
	assert_int_equal(mac[5], 2);

	/* After DISCOVER: the undo puts the offer back, not a lease, and the
	 * client's choice of another server frees the address for others. */
	start(f, NULL, one, 1);
	assert_int_equal(offer(f, 1), FIRST);
	p = request_selecting(1, FIRST, IFACE);
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "ack");
	offered = f->out;
	assert_true(dhcp_server_undo(f->s, &offered));
	p = request_selecting(1, FIRST, OTHER_SERVER);
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.reason, "client-chose-other-server");
	assert_int_equal(offer(f, 2), FIRST);
	/* An outcome that stored nothing undoes nothing. */
	assert_false(dhcp_server_undo(f->s, &f->out));
}

/* A shared store refused client 1's claim: another instance's client 9
 * holds the address. The ACK becomes a NAK (broadcast, same xid and
 * server id, no address), and the address is client 9's in memory until
 * its lease ends, so the next offer skips it. */
static void test_claim_lost_naks_and_mirrors_holder(void **state)
{
	static const struct config_override two[] = {
		{ "dhcp-range", "172.24.32.1 172.24.32.2" },
	};
	struct fixture *f = *state;
	struct lease_record holder = { 0 };
	const struct dhcp_message *m;
	struct pkt p;
	uint8_t mac[6];
	uint32_t sid;

	start(f, NULL, two, 1);
	p = request_selecting(1, FIRST, IFACE);
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "ack");
	holder.ip = htonl(FIRST);
	holder.client_id_len = 7;
	memcpy(holder.client_id, "\x01\x52\x54\x00\x00\x00\x09", 7);
	holder.expires = NOW + 300;
	holder.state = LEASE_BOUND;
	assert_true(dhcp_server_undo(f->s, &f->out));
	dhcp_server_claim_lost(f->s, &f->out, &holder);
	assert_string_equal(f->out.event, "nak");
	assert_string_equal(f->out.reason, "address-claimed-elsewhere");
	assert_int_equal(f->out.dest, DHCP_DEST_BROADCAST);
	m = reply(f, DHCP_NAK);
	assert_int_equal(m->xid, f->req.xid);
	assert_int_equal(m->yiaddr, 0);
	assert_rc(dhcp_option_addr(m, DHCP_OPT_SERVER_ID, &sid), 0);
	assert_int_equal(ntohl(sid), IFACE);
	assert_rc(dhcp_server_mac_for_ip(f->s, FIRST, NOW, mac), 0);
	assert_int_equal(mac[5], 9);
	assert_int_equal(offer(f, 2), FIRST + 1);
	/* Once the holder's lease ends, the address is free again. */
	assert_int_equal(dhcp_server_mac_for_ip(f->s, FIRST, NOW + 301, mac), -ENOENT);
}

/* A renewal's failed commit keeps the lease the client had. */
static void test_failed_renewal_keeps_lease(void **state)
{
	struct fixture *f = *state;
	uint32_t ip;
	struct pkt p;

	start(f, NULL, NULL, 0);
	ip = bind_client(f, 1);
	f->ctx.now = NOW + 100;
	p = request_renewing(1, ip);
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "ack");
	assert_true(dhcp_server_undo(f->s, &f->out));
	/* Bound until the first lease's end, not beyond, not free. */
	assert_int_equal(dhcp_server_leases_in_use(f->s, NOW + LEASE - 1), 1);
	assert_int_equal(dhcp_server_leases_in_use(f->s, NOW + LEASE), 0);
}

/* A reload carries every lease over from memory (the store is not read
 * again), except where the new config fixes the address for a host. */
static void test_carry_leases(void **state)
{
	struct fixture *f = *state;
	struct dhcp_server *old;
	uint32_t ip1, ip2;
	uint8_t mac[6];

	start(f, NULL, NULL, 0);
	ip1 = bind_client(f, 1);
	ip2 = offer(f, 2);
	old = f->s;
	assert_rc(dhcp_server_new(f->cfg, &f->s), 0);
	dhcp_server_carry_leases(f->s, old);
	dhcp_server_free(old);
	assert_rc(dhcp_server_mac_for_ip(f->s, ip1, NOW, mac), 0);
	assert_int_equal(mac[5], 1);
	assert_rc(dhcp_server_mac_for_ip(f->s, ip2, NOW, mac), 0);
	assert_int_equal(mac[5], 2);
	assert_int_equal(dhcp_server_leases_in_use(f->s, NOW), 2);
}

static void test_init_reboot(void **state)
{
	struct fixture *f = *state;
	uint32_t mine, theirs;
	struct pkt p;
	const struct dhcp_message *m;

	start(f, NULL, NULL, 0);
	mine = bind_client(f, 1);
	theirs = bind_client(f, 2);

	/* Own address: confirmed. */
	p = request_init_reboot(1, mine);
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "ack");
	assert_int_equal(f->out.store, DHCP_STORE_PUT);
	assert_int_equal(ntohl(reply(f, DHCP_ACK)->yiaddr), mine);

	/* Step: an address on another network (the laptop moved). */
	p = request_init_reboot(1, IP(10, 1, 2, 3));
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "nak");
	assert_string_equal(f->out.reason, "wrong-network");
	assert_int_equal(f->out.ip, 0);
	assert_int_equal(f->out.store, DHCP_STORE_NONE);
	assert_int_equal(f->out.dest, DHCP_DEST_BROADCAST);
	assert_int_equal(f->out.dest_addr, INADDR_BROADCAST);
	assert_int_equal(f->out.dest_port, 68);
	m = reply(f, DHCP_NAK);
	assert_int_equal(m->yiaddr, 0);
	assert_int_equal(m->siaddr, 0);
	assert_int_equal(opt_be32(m, DHCP_OPT_SERVER_ID), IFACE);
	assert_false(has_opt(m, DHCP_OPT_LEASE_TIME));
	assert_false(has_opt(m, DHCP_OPT_SUBNET_MASK));

	/* Step: an address in our range that another client holds. */
	p = request_init_reboot(1, theirs);
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "nak");
	assert_string_equal(f->out.reason, "address-taken");
	assert_int_equal(reply(f, DHCP_NAK)->yiaddr, 0);

	/* Step: in the network but outside our range: another server's. */
	p = request_init_reboot(1, IP(172, 24, 32, 100));
	assert_rc(handle(f, &p), 0);
	assert_no_reply(f, "ignore");
	assert_string_equal(f->out.reason, "address-not-ours");
	assert_int_equal(f->out.store, DHCP_STORE_NONE);

	/* Step: the network and broadcast addresses are never ours. */
	p = request_init_reboot(1, IP(172, 24, 32, 255));
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "nak");
	assert_string_equal(f->out.reason, "wrong-network");

	/* The client still holds its address after all that. */
	assert_int_equal(offer(f, 1), mine);
}

static void test_renewing_and_rebinding(void **state)
{
	struct fixture *f = *state;
	uint32_t ip;
	struct pkt p;
	const struct dhcp_message *m;

	start(f, NULL, NULL, 0);
	ip = bind_client(f, 1);
	/* RENEWING: unicast from ciaddr, answered by unicast. */
	f->ctx.now = NOW + LEASE / 2;
	p = request_renewing(1, ip);
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "ack");
	assert_int_equal(f->out.dest, DHCP_DEST_CLIENT);
	assert_int_equal(f->out.dest_addr, ip);
	assert_int_equal(f->out.dest_port, 68);
	assert_int_equal(f->out.store, DHCP_STORE_PUT);
	assert_int_equal(f->out.lease.expires, NOW + LEASE / 2 + LEASE);
	m = reply(f, DHCP_ACK);
	assert_int_equal(ntohl(m->ciaddr), ip);
	assert_int_equal(ntohl(m->yiaddr), ip);

	/* Step: the broadcast flag forces a broadcast reply. */
	p.h.flags = htons(DHCP_FLAG_BROADCAST);
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "ack");
	assert_int_equal(f->out.dest, DHCP_DEST_BROADCAST);
	assert_int_equal(f->out.dest_addr, INADDR_BROADCAST);
	assert_int_equal(reply(f, DHCP_ACK)->flags, DHCP_FLAG_BROADCAST);

	/* Step: renewing an address held by someone else is refused, and
	 * the NAK is broadcast (RFC 2131 4.1). */
	offer(f, 2);  /* a client kidou knows; strangers get silence */
	p = request_renewing(2, ip);
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "nak");
	assert_int_equal(f->out.dest, DHCP_DEST_BROADCAST);

	/* Step: no ciaddr, no option 50, no server id: nothing to go on. */
	p = request_renewing(1, 0);
	assert_rc(handle(f, &p), 0);
	assert_no_reply(f, "drop");
	assert_string_equal(f->out.reason, "request-without-address");
}

/* --- DECLINE, RELEASE, INFORM --- */

static void test_decline(void **state)
{
	struct fixture *f = *state;
	uint32_t ip, next;
	struct pkt p;

	start(f, NULL, NULL, 0);
	ip = bind_client(f, 1);
	/* Not addressed to us: ignored. */
	p = request_selecting(1, ip, OTHER_SERVER);
	set_type(&p, DHCP_DECLINE);
	assert_rc(handle(f, &p), 0);
	assert_no_reply(f, "ignore");
	assert_int_equal(f->out.store, DHCP_STORE_NONE);
	/* Step: from someone who does not hold it: ignored. */
	p = request_selecting(2, ip, IFACE);
	set_type(&p, DHCP_DECLINE);
	assert_rc(handle(f, &p), 0);
	assert_no_reply(f, "ignore");
	assert_string_equal(f->out.reason, "decline-of-unknown-lease");
	/* Step: the holder declines (ARP found another machine on it). */
	p = request_selecting(1, ip, IFACE);
	set_type(&p, DHCP_DECLINE);
	assert_rc(handle(f, &p), 0);
	assert_no_reply(f, "decline");
	assert_int_equal(f->out.request_type, DHCP_DECLINE);
	assert_int_equal(f->out.ip, ip);
	assert_int_equal(f->out.store, DHCP_STORE_PUT);
	assert_int_equal(f->out.lease.ip, htonl(ip));
	assert_int_equal(f->out.lease.state, LEASE_DECLINED);
	assert_int_equal(f->out.lease.expires, NOW + 600);  /* decline-hold default */
	assert_int_equal(f->out.lease.client_id_len, 0);
	/* The address is skipped: not for its old client, nor for one that
	 * asks for it. */
	next = offer(f, 1);
	assert_int_not_equal(next, ip);
	p = discover(3);
	add_addr(&p, DHCP_OPT_REQUESTED_IP, ip);
	assert_rc(handle(f, &p), 0);
	assert_int_not_equal(ntohl(reply(f, DHCP_OFFER)->yiaddr), ip);
	p = request_init_reboot(1, ip);
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "nak");
	/* After the hold it can be offered again. */
	f->ctx.now = NOW + 601;
	p = discover(5);
	add_addr(&p, DHCP_OPT_REQUESTED_IP, ip);
	assert_rc(handle(f, &p), 0);
	assert_int_equal(ntohl(reply(f, DHCP_OFFER)->yiaddr), ip);
}

static void test_release(void **state)
{
	struct fixture *f = *state;
	uint8_t id[7];
	uint32_t ip;
	struct pkt p;

	start(f, NULL, NULL, 0);
	ip = bind_client(f, 1);
	/* Someone else's RELEASE of it changes nothing. */
	p = request_renewing(2, ip);
	set_type(&p, DHCP_RELEASE);
	add_addr(&p, DHCP_OPT_SERVER_ID, IFACE);
	assert_rc(handle(f, &p), 0);
	assert_no_reply(f, "ignore");
	assert_string_equal(f->out.reason, "release-of-unknown-lease");
	assert_int_equal(f->out.store, DHCP_STORE_NONE);
	/* Step: the holder releases. */
	p = request_renewing(1, ip);
	set_type(&p, DHCP_RELEASE);
	add_addr(&p, DHCP_OPT_SERVER_ID, IFACE);
	assert_rc(handle(f, &p), 0);
	assert_no_reply(f, "release");
	assert_int_equal(f->out.ip, ip);
	assert_int_equal(f->out.store, DHCP_STORE_PUT);
	assert_int_equal(f->out.lease.ip, htonl(ip));
	assert_int_equal(f->out.lease.state, LEASE_RELEASED);
	assert_int_equal(f->out.lease.expires, NOW);
	hw_client_id(1, id);
	assert_int_equal(f->out.lease.client_id_len, 7);
	assert_memory_equal(f->out.lease.client_id, id, 7);
	assert_int_equal(dhcp_server_leases_in_use(f->s, NOW), 0);
	/* Others get unused addresses first; the client gets its own back. */
	assert_int_not_equal(offer(f, 2), ip);
	assert_int_equal(offer(f, 1), ip);
}

static void test_inform(void **state)
{
	static const struct config_override flags[] = {
		{ "dhcp-router", "172.24.32.254" },
	};
	struct fixture *f = *state;
	struct pkt p = request_renewing(1, IP(172, 24, 32, 77));
	const struct dhcp_message *m;

	start(f, NULL, flags, 1);
	set_type(&p, DHCP_INFORM);
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "inform-ack");
	assert_int_equal(f->out.request_type, DHCP_INFORM);
	assert_int_equal(f->out.store, DHCP_STORE_NONE);
	assert_int_equal(f->out.dest, DHCP_DEST_CLIENT);
	assert_int_equal(f->out.dest_addr, IP(172, 24, 32, 77));
	assert_int_equal(f->out.dest_port, 68);
	m = reply(f, DHCP_ACK);
	assert_int_equal(m->yiaddr, 0);
	assert_int_equal(ntohl(m->ciaddr), IP(172, 24, 32, 77));
	assert_false(has_opt(m, DHCP_OPT_LEASE_TIME));
	assert_false(has_opt(m, DHCP_OPT_RENEWAL_T1));
	assert_false(has_opt(m, DHCP_OPT_REBINDING_T2));
	assert_int_equal(opt_be32(m, DHCP_OPT_SERVER_ID), IFACE);
	assert_int_equal(opt_be32(m, DHCP_OPT_SUBNET_MASK), MASK);
	assert_int_equal(opt_be32(m, DHCP_OPT_ROUTER), IFACE);
	assert_int_equal(dhcp_server_leases_in_use(f->s, NOW), 0);
}

/* --- requests dropped as malformed --- */

static void test_malformed_requests(void **state)
{
	struct fixture *f = *state;
	uint8_t long_id[256];
	struct pkt p;

	start(f, NULL, NULL, 0);
	/* A BOOTREPLY sent to the server port. */
	p = discover(1);
	p.h.op = DHCP_OP_REPLY;
	assert_rc(handle(f, &p), -EBADMSG);
	assert_string_equal(f->out.reason, "reply-from-a-client");

	/* Step: no option 53 (plain BOOTP). */
	p = discover(1);
	p.optlen = 0;
	add_opt(&p, DHCP_OPT_HOSTNAME, "pc", 2);
	assert_rc(handle(f, &p), -EBADMSG);
	assert_string_equal(f->out.reason, "no-message-type");
	assert_int_equal(f->out.request_type, 0);

	/* Step: option 53 with a bad length. */
	p = discover(1);
	p.opts[1] = 2;
	p.opts[3] = 0;
	p.optlen = 4;
	assert_rc(handle(f, &p), -EBADMSG);
	assert_string_equal(f->out.reason, "no-message-type");

	/* Step: server-to-client types, and types past INFORM. */
	static const uint8_t bad_types[] = { DHCP_OFFER, DHCP_ACK, DHCP_NAK, 9, 18, 255 };
	for (size_t i = 0; i < sizeof(bad_types); i++) {
		p = discover(1);
		set_type(&p, bad_types[i]);
		assert_rc(handle(f, &p), -EBADMSG);
		assert_string_equal(f->out.reason, "unexpected-message-type");
		assert_int_equal(f->out.request_type, bad_types[i]);
	}

	/* Step: hlen 0 and no option 61: no identity. */
	p = discover(1);
	p.h.hlen = 0;
	assert_rc(handle(f, &p), -EBADMSG);
	assert_string_equal(f->out.reason, "no-client-identity");
	/* ...but with option 61 the client is known by it. */
	add_opt(&p, DHCP_OPT_CLIENT_ID, "\x00" "abc", 4);
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "offer");

	/* Step: option 61 split in two (RFC 3396) past 255 bytes. */
	memset(long_id, 'x', sizeof(long_id));
	p = discover(2);
	add_opt(&p, DHCP_OPT_CLIENT_ID, long_id, 200);
	add_opt(&p, DHCP_OPT_CLIENT_ID, long_id, 56);
	assert_rc(handle(f, &p), -EBADMSG);
	assert_string_equal(f->out.reason, "no-client-identity");
	/* 255 bytes is the most (RFC 2132 9.14), and fine. */
	p = discover(2);
	add_opt(&p, DHCP_OPT_CLIENT_ID, long_id, LEASE_CLIENT_ID_MAX);
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "offer");

	/* Nothing above took an address except the two offers. */
	assert_int_equal(dhcp_server_leases_in_use(f->s, NOW), 2);
}

/* --- relays --- */

static void test_relayed(void **state)
{
	/* Circuit id "port1", remote id "rid" (RFC 3046 sub-options). */
	static const uint8_t agent[] = { 1, 5, 'p', 'o', 'r', 't', '1', 2, 3, 'r', 'i', 'd' };
	struct fixture *f = *state;
	struct pkt p = discover(1);
	const struct dhcp_message *m;
	size_t last;
	uint32_t ip;

	start(f, ini_full, NULL, 0);
	p.h.giaddr = htonl(IP(10, 9, 0, 1));
	p.h.hops = 1;
	add_opt(&p, DHCP_OPT_PARAM_REQUEST, "\x01\x03\x06", 3);
	add_opt(&p, DHCP_OPT_RELAY_AGENT, agent, sizeof(agent));
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "offer");
	assert_int_equal(f->out.dest, DHCP_DEST_RELAY);
	assert_int_equal(f->out.dest_addr, IP(10, 9, 0, 1));
	assert_int_equal(f->out.dest_port, 67);
	m = reply(f, DHCP_OFFER);
	ip = ntohl(m->yiaddr);
	check_in_range(ip, IP(10, 9, 1, 10), IP(10, 9, 1, 20));
	assert_int_equal(ntohl(m->giaddr), IP(10, 9, 0, 1));
	/* The subnet's settings, not the interface's. */
	assert_int_equal(opt_be32(m, DHCP_OPT_SUBNET_MASK), IP(255, 255, 0, 0));
	assert_int_equal(opt_be32(m, DHCP_OPT_ROUTER), IP(10, 9, 0, 1));
	assert_int_equal(opt_be32(m, DHCP_OPT_DNS), IP(10, 9, 0, 53));
	assert_int_equal(opt_be32(m, DHCP_OPT_LEASE_TIME), 7200);
	assert_int_equal(opt_be32(m, DHCP_OPT_SERVER_ID), IFACE);
	/* Option 82 comes back unchanged and last (RFC 3046 2.2). */
	assert_opt_equal(m, DHCP_OPT_RELAY_AGENT, agent, sizeof(agent));
	last = last_option_offset(f->out.reply, f->out.reply_len);
	assert_int_equal(f->out.reply[last], DHCP_OPT_RELAY_AGENT);
	assert_int_equal(f->out.reply[last + 1], sizeof(agent));
	assert_memory_equal(f->out.reply + last + 2, agent, sizeof(agent));

	/* Step: the REQUEST through the same relay is acknowledged to it. */
	p = request_selecting(1, ip, IFACE);
	p.h.giaddr = htonl(IP(10, 9, 0, 1));
	add_opt(&p, DHCP_OPT_RELAY_AGENT, agent, sizeof(agent));
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "ack");
	assert_int_equal(f->out.dest, DHCP_DEST_RELAY);
	assert_int_equal(f->out.lease.expires, NOW + 7200);
	assert_int_equal(f->out.reply[last_option_offset(f->out.reply, f->out.reply_len)],
			 DHCP_OPT_RELAY_AGENT);

	/* Step: a NAK goes to the relay with the broadcast bit set. */
	p = request_init_reboot(1, IP(172, 24, 32, 2));
	p.h.giaddr = htonl(IP(10, 9, 0, 1));
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "nak");
	assert_string_equal(f->out.reason, "wrong-network");
	assert_int_equal(f->out.dest, DHCP_DEST_RELAY);
	assert_int_equal(f->out.dest_addr, IP(10, 9, 0, 1));
	assert_int_equal(f->out.dest_port, 67);
	assert_true(reply(f, DHCP_NAK)->flags & DHCP_FLAG_BROADCAST);

	/* Step: a relay on a subnet we do not serve. */
	p = discover(1);
	p.h.giaddr = htonl(IP(192, 168, 77, 1));
	assert_rc(handle(f, &p), 0);
	assert_no_reply(f, "ignore");
	assert_string_equal(f->out.reason, "relay-from-unknown-subnet");

	/* Step: option 82 from a directly attached client is not echoed. */
	p = discover(3);
	add_opt(&p, DHCP_OPT_RELAY_AGENT, agent, sizeof(agent));
	assert_rc(handle(f, &p), 0);
	m = reply(f, DHCP_OFFER);
	check_in_range(ntohl(m->yiaddr), FIRST, LAST);
	assert_false(has_opt(m, DHCP_OPT_RELAY_AGENT));
	assert_int_equal(f->out.dest, DHCP_DEST_BROADCAST);
}

/* RFC 3046 2.2: the server MUST copy option 82 into the reply. When the
 * reply is short of room, other options give way: a relay that inserted
 * a circuit id may need it to forward the reply at all. */
static void test_relay_agent_info_survives_a_full_reply(void **state)
{
	static const uint8_t agent[] = { 1, 5, 'p', 'o', 'r', 't', '1', 2, 3, 'r', 'i', 'd' };
	char target[201];
	const struct config_override flags[] = { { "boot-bios", target } };
	struct fixture *f = *state;
	struct pkt p = pxe_discover(1);
	const struct dhcp_message *m;
	size_t last;

	memset(target, 't', sizeof(target) - 1);
	target[sizeof(target) - 1] = '\0';
	start(f, ini_full, flags, 1);
	/* A relayed PXE ROM that accepts only 576 bytes. */
	p.h.giaddr = htonl(IP(10, 9, 0, 1));
	assert_int_equal(p.opts[3], DHCP_OPT_MAX_MESSAGE);
	memcpy(p.opts + 5, "\x02\x40", 2);
	add_opt(&p, DHCP_OPT_RELAY_AGENT, agent, sizeof(agent));
	assert_rc(handle(f, &p), 0);
	assert_int_equal(f->out.dest, DHCP_DEST_RELAY);
	assert_true(f->out.reply_len <= DHCP_MIN_MAX_MESSAGE - DHCP_UDP_IP_OVERHEAD);
	m = reply(f, DHCP_OFFER);
	assert_opt_equal(m, DHCP_OPT_RELAY_AGENT, agent, sizeof(agent));
	last = last_option_offset(f->out.reply, f->out.reply_len);
	assert_int_equal(f->out.reply[last], DHCP_OPT_RELAY_AGENT);
}

/* --- reply size --- */

static void test_max_message_size(void **state)
{
	char domain[241], target[201];
	const struct config_override flags[] = {
		{ "dhcp-domain", domain },
		{ "boot-bios", target },
	};
	struct fixture *f = *state;
	struct pkt p;
	const struct dhcp_message *m;

	memset(domain, 'd', sizeof(domain) - 1);
	domain[sizeof(domain) - 1] = '\0';
	memset(target, 't', sizeof(target) - 1);
	target[sizeof(target) - 1] = '\0';
	start(f, NULL, flags, 2);

	/* The PXE ROM accepts 1260 bytes: everything fits. */
	p = pxe_discover(1);
	assert_rc(handle(f, &p), 0);
	assert_true(f->out.reply_len > DHCP_MIN_MAX_MESSAGE - DHCP_UDP_IP_OVERHEAD);
	assert_true(f->out.reply_len <= 1260 - DHCP_UDP_IP_OVERHEAD);
	m = reply(f, DHCP_OFFER);
	assert_opt_equal(m, DHCP_OPT_DOMAIN_NAME, domain, 240);
	assert_opt_equal(m, DHCP_OPT_BOOTFILE, target, 200);

	/* Step: option 57 = 576, the RFC 2131 minimum: 548 bytes of DHCP,
	 * and the option that does not fit is left out whole. Boot options
	 * come first, so the domain is what gives way. */
	p = pxe_discover(1);
	memcpy(p.opts + 5, "\x02\x40", 2);  /* option 57 follows option 53 */
	assert_int_equal(p.opts[3], DHCP_OPT_MAX_MESSAGE);
	assert_rc(handle(f, &p), 0);
	assert_true(f->out.reply_len <= DHCP_MIN_MAX_MESSAGE - DHCP_UDP_IP_OVERHEAD);
	m = reply(f, DHCP_OFFER);
	assert_opt_equal(m, DHCP_OPT_BOOTFILE, target, 200);
	assert_false(has_opt(m, DHCP_OPT_DOMAIN_NAME));
	assert_int_equal(opt_be32(m, DHCP_OPT_SERVER_ID), IFACE);

	/* Step: values below 576 are invalid (RFC 2132 9.10): as 576. */
	memcpy(p.opts + 5, "\x01\x00", 2);
	assert_rc(handle(f, &p), 0);
	assert_true(f->out.reply_len <= DHCP_MIN_MAX_MESSAGE - DHCP_UDP_IP_OVERHEAD);
	assert_false(has_opt(reply(f, DHCP_OFFER), DHCP_OPT_DOMAIN_NAME));

	/* Step: more than an Ethernet frame holds is capped. */
	memcpy(p.opts + 5, "\xff\xff", 2);
	assert_rc(handle(f, &p), 0);
	assert_true(f->out.reply_len <= DHCP_REPLY_MAX);
	assert_opt_equal(reply(f, DHCP_OFFER), DHCP_OPT_BOOTFILE, target, 200);
}

/* --- static hosts --- */

static void test_static_host(void **state)
{
	struct fixture *f = *state;
	struct pkt p = discover(0);
	const struct dhcp_message *m;
	uint32_t fixed = IP(172, 24, 32, 3), seen = 0;

	start(f, ini_full, NULL, 0);
	memcpy(p.h.chaddr, mac_fixed, 6);
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "offer");
	assert_string_equal(f->out.host, "fixed");
	m = reply(f, DHCP_OFFER);
	assert_int_equal(ntohl(m->yiaddr), fixed);
	assert_opt_equal(m, DHCP_OPT_HOSTNAME, "fixed1", 6);
	assert_int_equal(opt_be32(m, DHCP_OPT_LEASE_TIME), LEASE);

	/* Step: its REQUEST is acknowledged. */
	p = request_selecting(0, fixed, IFACE);
	memcpy(p.h.chaddr, mac_fixed, 6);
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "ack");
	assert_int_equal(ntohl(reply(f, DHCP_ACK)->yiaddr), fixed);
	assert_opt_equal(&f->reply, DHCP_OPT_HOSTNAME, "fixed1", 6);

	/* Step: asking for another address is refused. */
	p = request_init_reboot(0, IP(172, 24, 32, 4));
	memcpy(p.h.chaddr, mac_fixed, 6);
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "nak");
	assert_string_equal(f->out.reason, "not-the-fixed-address");

	/* Pool clients: asking for it does not get it... */
	p = discover(1);
	add_addr(&p, DHCP_OPT_REQUESTED_IP, fixed);
	assert_rc(handle(f, &p), 0);
	assert_int_not_equal(ntohl(reply(f, DHCP_OFFER)->yiaddr), fixed);
	p = request_init_reboot(1, fixed);
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "nak");
	assert_string_equal(f->out.reason, "address-taken");
	/* ...and the range runs out without ever handing it out. */
	for (uint8_t c = 1; c <= 4; c++) {
		uint32_t ip = offer(f, c);
		assert_int_not_equal(ip, fixed);
		seen |= 1u << (ip - FIRST);
	}
	assert_int_equal(seen, 0x1b);
	p = discover(5);
	assert_rc(handle(f, &p), 0);
	assert_no_reply(f, "pool-full");
	/* Not even after every hold has long run out. */
	f->ctx.now = NOW + 10 * 365 * 86400LL;
	p = request_init_reboot(1, fixed);
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "nak");
}

/* The reservation must not be claimable by anything a client sends,
 * option 61 included. */
static void test_static_host_reservation_not_claimable(void **state)
{
	static const char spoof[] = "\x01host:fixed";
	struct fixture *f = *state;
	uint32_t fixed = IP(172, 24, 32, 3);
	struct pkt p = discover(7);

	start(f, ini_full, NULL, 0);
	add_opt(&p, DHCP_OPT_CLIENT_ID, spoof, sizeof(spoof) - 1);
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "offer");
	assert_int_not_equal(ntohl(reply(f, DHCP_OFFER)->yiaddr), fixed);
	p = request_init_reboot(7, fixed);
	add_opt(&p, DHCP_OPT_CLIENT_ID, spoof, sizeof(spoof) - 1);
	assert_rc(handle(f, &p), 0);
	assert_string_not_equal(f->out.event, "ack");
	assert_int_equal(f->out.store, DHCP_STORE_NONE);
}

static void test_host_boot_override(void **state)
{
	struct fixture *f = *state;
	struct pkt p = pxe_discover(0);
	const struct dhcp_message *m;

	start(f, ini_full, NULL, 0);
	/* arch 7 (UEFI x64); option 93 follows 53 and 57 */
	assert_int_equal(p.opts[7], DHCP_OPT_CLIENT_ARCH);
	memcpy(p.opts + 9, "\x00\x07", 2);
	assert_rc(handle(f, &p), 0);
	assert_string_equal(reply(f, DHCP_OFFER)->file, "efi/default.efi");
	assert_null(f->out.host);
	/* Step: the same DISCOVER from [host special]. */
	memcpy(p.h.chaddr, mac_special, 6);
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.host, "special");
	m = reply(f, DHCP_OFFER);
	assert_string_equal(m->file, "efi/special.efi");
	assert_opt_equal(m, DHCP_OPT_BOOTFILE, "efi/special.efi", 15);
	assert_int_equal(f->out.boot.slot, BOOT_TARGET_UEFI_X64);
	/* Step: arch 0 falls back to the [boot] default. */
	memcpy(p.opts + 9, "\x00\x00", 2);
	assert_rc(handle(f, &p), 0);
	assert_string_equal(reply(f, DHCP_OFFER)->file, "pxelinux/pxelinux.0");
}

/* --- PXE --- */

static void test_pxe_client(void **state)
{
	static const struct config_override next[] = {
		{ "dhcp-next-server", "172.24.32.9" },
	};
	struct fixture *f = *state;
	struct pkt p = pxe_discover(1);
	const struct dhcp_message *m;
	size_t uuid_len;
	const uint8_t *uuid;

	start(f, NULL, NULL, 0);
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "offer");
	assert_true(f->out.boot_client.pxe);
	assert_true(f->out.boot_client.has_arch);
	assert_int_equal(f->out.boot_client.arch, 0);
	assert_string_equal(f->out.boot.target, "pxelinux/pxelinux.0");
	m = reply(f, DHCP_OFFER);
	check_in_range(ntohl(m->yiaddr), FIRST, LAST);
	assert_int_equal(ntohl(m->siaddr), IFACE);
	assert_string_equal(m->file, "pxelinux/pxelinux.0");
	assert_opt_equal(m, DHCP_OPT_VENDOR, "\x06\x01\x08\xff", 4);
	uuid = dhcp_option(&f->req, DHCP_OPT_CLIENT_UUID, 17, &uuid_len);
	assert_non_null(uuid);
	assert_opt_equal(m, DHCP_OPT_CLIENT_UUID, uuid, uuid_len);
	assert_opt_equal(m, DHCP_OPT_VENDOR_CLASS, "PXEClient", 9);
	assert_opt_equal(m, DHCP_OPT_TFTP_SERVER, "172.24.32.254", 13);
	assert_opt_equal(m, DHCP_OPT_BOOTFILE, "pxelinux/pxelinux.0", 19);

	/* Step: the same on the REQUEST's ACK. */
	p = pxe_discover(1);
	set_type(&p, DHCP_REQUEST);
	add_addr(&p, DHCP_OPT_SERVER_ID, IFACE);
	add_addr(&p, DHCP_OPT_REQUESTED_IP, ntohl(m->yiaddr));
	assert_rc(handle(f, &p), 0);
	m = reply(f, DHCP_ACK);
	assert_string_equal(m->file, "pxelinux/pxelinux.0");
	assert_opt_equal(m, DHCP_OPT_VENDOR, "\x06\x01\x08\xff", 4);
	assert_opt_equal(m, DHCP_OPT_VENDOR_CLASS, "PXEClient", 9);

	/* Step: --dhcp-next-server names the TFTP server; the server id
	 * stays ours. */
	start(f, NULL, next, 1);
	p = pxe_discover(1);
	assert_rc(handle(f, &p), 0);
	m = reply(f, DHCP_OFFER);
	assert_int_equal(ntohl(m->siaddr), IP(172, 24, 32, 9));
	assert_opt_equal(m, DHCP_OPT_TFTP_SERVER, "172.24.32.9", 11);
	assert_int_equal(opt_be32(m, DHCP_OPT_SERVER_ID), IFACE);

	/* Step: no parameter request list: the file field only. */
	p = pxe_discover(1);
	p.optlen -= 2 + sizeof(pxe_prl);  /* the PRL is the last option */
	assert_int_equal(p.opts[p.optlen], DHCP_OPT_PARAM_REQUEST);
	assert_rc(handle(f, &p), 0);
	m = reply(f, DHCP_OFFER);
	assert_string_equal(m->file, "pxelinux/pxelinux.0");
	assert_false(has_opt(m, DHCP_OPT_TFTP_SERVER));
	assert_false(has_opt(m, DHCP_OPT_BOOTFILE));
	assert_opt_equal(m, DHCP_OPT_VENDOR_CLASS, "PXEClient", 9);
}

static void test_ipxe_chainload(void **state)
{
	static const struct config_override flags[] = {
		{ "boot-ipxe", "http://172.24.32.254/boot.ipxe" },
	};
	struct fixture *f = *state;
	struct pkt p = pxe_discover(1);
	const struct dhcp_message *m;

	/* Without an ipxe target, iPXE is served as the firmware it runs
	 * on (QEMU's PXE ROM). */
	start(f, NULL, NULL, 0);
	add_opt(&p, DHCP_OPT_USER_CLASS, "iPXE", 4);
	assert_rc(handle(f, &p), 0);
	assert_true(f->out.boot_client.ipxe);
	assert_string_equal(reply(f, DHCP_OFFER)->file, "pxelinux/pxelinux.0");
	/* Step: with one, iPXE gets it, so chainloading does not loop. */
	start(f, NULL, flags, 1);
	assert_rc(handle(f, &p), 0);
	assert_int_equal(f->out.boot.slot, BOOT_TARGET_IPXE);
	m = reply(f, DHCP_OFFER);
	assert_string_equal(m->file, "http://172.24.32.254/boot.ipxe");
	assert_opt_equal(m, DHCP_OPT_BOOTFILE, "http://172.24.32.254/boot.ipxe", 30);
	/* Step: RFC 3004 user class list form. */
	p = pxe_discover(1);
	add_opt(&p, DHCP_OPT_USER_CLASS, "\x03" "foo" "\x04" "iPXE", 9);
	assert_rc(handle(f, &p), 0);
	assert_int_equal(f->out.boot.slot, BOOT_TARGET_IPXE);
	/* Step: option 175 (iPXE encapsulated options) alone. */
	p = pxe_discover(1);
	add_opt(&p, DHCP_OPT_IPXE_ENCAP, "\x13\x01\x01", 3);
	assert_rc(handle(f, &p), 0);
	assert_int_equal(f->out.boot.slot, BOOT_TARGET_IPXE);
	/* Step: a user class that only starts like iPXE is not iPXE. */
	p = pxe_discover(1);
	add_opt(&p, DHCP_OPT_USER_CLASS, "iPXE2", 5);
	assert_rc(handle(f, &p), 0);
	assert_int_equal(f->out.boot.slot, BOOT_TARGET_BIOS);
}

static void test_http_boot_client(void **state)
{
	static const struct config_override flags[] = {
		{ "boot-http-x64", "http://172.24.32.254/x64/boot.efi" },
	};
	struct fixture *f = *state;
	struct pkt p = discover(1);
	const struct dhcp_message *m;

	start(f, NULL, flags, 1);
	add_opt(&p, DHCP_OPT_CLIENT_ARCH, "\x00\x10", 2);
	add_opt(&p, DHCP_OPT_VENDOR_CLASS, "HTTPClient:Arch:00016:UNDI:003001", 33);
	add_opt(&p, DHCP_OPT_PARAM_REQUEST, "\x01\x03\x06\x3c\x43", 5);
	assert_rc(handle(f, &p), 0);
	assert_true(f->out.boot_client.http);
	m = reply(f, DHCP_OFFER);
	/* UEFI HTTP boot needs option 60 echoed, and no PXE option 43. */
	assert_opt_equal(m, DHCP_OPT_VENDOR_CLASS, "HTTPClient", 10);
	assert_opt_equal(m, DHCP_OPT_BOOTFILE, "http://172.24.32.254/x64/boot.efi", 33);
	assert_false(has_opt(m, DHCP_OPT_VENDOR));
	/* Step: arch 19 (ARM64 HTTP boot), for which nothing is configured. */
	p = discover(2);
	add_opt(&p, DHCP_OPT_CLIENT_ARCH, "\x00\x13", 2);
	add_opt(&p, DHCP_OPT_VENDOR_CLASS, "HTTPClient", 10);
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "offer");
	assert_string_equal(f->out.boot.reason, "no-target-for-arch");
	m = reply(f, DHCP_OFFER);
	assert_false(has_opt(m, DHCP_OPT_VENDOR_CLASS));
	assert_false(has_opt(m, DHCP_OPT_BOOTFILE));
	assert_int_equal(m->siaddr, 0);
}

static void test_long_boot_target(void **state)
{
	char target[201];
	const struct config_override flags[] = { { "boot-bios", target } };
	struct fixture *f = *state;
	struct pkt p;
	const struct dhcp_message *m;
	static const uint8_t zero[DHCP_FILE_LEN];

	/* 200 characters: too long for the 128-byte file field. */
	memset(target, 'b', sizeof(target) - 1);
	target[sizeof(target) - 1] = '\0';
	start(f, NULL, flags, 1);
	p = pxe_discover(1);
	assert_rc(handle(f, &p), 0);
	m = reply(f, DHCP_OFFER);
	assert_memory_equal(m->file, zero, DHCP_FILE_LEN);
	assert_opt_equal(m, DHCP_OPT_BOOTFILE, target, 200);
	/* Step: even when the client did not ask for option 67. */
	p.optlen -= 2 + sizeof(pxe_prl);  /* the PRL is the last option */
	assert_int_equal(p.opts[p.optlen], DHCP_OPT_PARAM_REQUEST);
	add_opt(&p, DHCP_OPT_PARAM_REQUEST, "\x01\x03\x42", 3);
	assert_rc(handle(f, &p), 0);
	m = reply(f, DHCP_OFFER);
	assert_memory_equal(m->file, zero, DHCP_FILE_LEN);
	assert_opt_equal(m, DHCP_OPT_BOOTFILE, target, 200);

	/* Boundary: 127 characters and the NUL fill the file field... */
	target[127] = '\0';
	start(f, NULL, flags, 1);
	assert_rc(handle(f, &p), 0);
	m = reply(f, DHCP_OFFER);
	assert_memory_equal(m->file, target, 127);
	assert_int_equal(m->file[127], 0);
	assert_false(has_opt(m, DHCP_OPT_BOOTFILE));
	/* ...128 do not. */
	target[127] = 'b';
	target[128] = '\0';
	start(f, NULL, flags, 1);
	assert_rc(handle(f, &p), 0);
	m = reply(f, DHCP_OFFER);
	assert_memory_equal(m->file, zero, DHCP_FILE_LEN);
	assert_opt_equal(m, DHCP_OPT_BOOTFILE, target, 128);
}

/* --- restoring stored leases --- */

static struct lease_record stored(uint8_t client, uint32_t ip, uint8_t st, int64_t expires)
{
	struct lease_record r = { .ip = htonl(ip), .client_id_len = 7,
				  .hwaddr_len = 6, .expires = expires, .state = st };

	hw_client_id(client, r.client_id);
	memcpy(r.hwaddr, r.client_id + 1, 6);
	return r;
}

static void test_restore(void **state)
{
	struct fixture *f = *state;
	uint32_t bound = IP(172, 24, 32, 2), released = IP(172, 24, 32, 4);
	struct lease_record r;
	struct pkt p;

	start(f, NULL, NULL, 0);
	r = stored(1, bound, LEASE_BOUND, NOW + 1000);
	assert_rc(dhcp_server_restore(f->s, &r), 0);
	r = stored(2, released, LEASE_RELEASED, NOW - 50);
	assert_rc(dhcp_server_restore(f->s, &r), 0);
	/* Outside every range: ignored. */
	r = stored(3, IP(10, 0, 0, 1), LEASE_BOUND, NOW + 1000);
	assert_rc(dhcp_server_restore(f->s, &r), 0);
	assert_int_equal(dhcp_server_leases_in_use(f->s, NOW), 1);

	/* Others cannot have the bound address, even asking for it. */
	p = discover(5);
	add_addr(&p, DHCP_OPT_REQUESTED_IP, bound);
	assert_rc(handle(f, &p), 0);
	assert_int_not_equal(ntohl(reply(f, DHCP_OFFER)->yiaddr), bound);
	p = request_init_reboot(5, bound);
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "nak");
	assert_string_equal(f->out.reason, "address-taken");
	/* A stranger asking for it gets silence. */
	p = request_init_reboot(6, bound);
	assert_rc(handle(f, &p), 0);
	assert_no_reply(f, "ignore");
	assert_string_equal(f->out.reason, "unknown-client");
	/* Its owner gets it back: by DISCOVER and by INIT-REBOOT. */
	assert_int_equal(offer(f, 1), bound);
	p = request_init_reboot(1, bound);
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "ack");
	assert_int_equal(f->out.store, DHCP_STORE_PUT);
	/* A released lease is still its last client's first choice. */
	assert_int_equal(offer(f, 2), released);
}

/* --- issue 12: one attacker must not take the pool --- */

/* RFC 2131 4.3.2: INIT-REBOOT (and RENEWING/REBINDING) from a client the
 * server has no record of gets silence. Before, each such REQUEST was
 * ACKed and bound: 5 packets took this 5-address pool. */
static void test_init_reboot_from_strangers(void **state)
{
	struct fixture *f = *state;
	struct pkt p;

	start(f, NULL, NULL, 0);
	for (uint8_t c = 1; c <= 5; c++) {
		p = request_init_reboot(c, FIRST + c - 1);
		assert_rc(handle(f, &p), 0);
		assert_no_reply(f, "ignore");
		assert_string_equal(f->out.reason, "unknown-client");
		assert_int_equal(f->out.store, DHCP_STORE_NONE);
	}
	/* Step: RENEWING/REBINDING from a stranger: the same. */
	p = request_renewing(6, FIRST);
	assert_rc(handle(f, &p), 0);
	assert_no_reply(f, "ignore");
	assert_string_equal(f->out.reason, "unknown-client");
	/* Step: even on a wrong network: another server's client. */
	p = request_init_reboot(7, IP(10, 1, 2, 3));
	assert_rc(handle(f, &p), 0);
	assert_no_reply(f, "ignore");
	assert_int_equal(dhcp_server_leases_in_use(f->s, NOW), 0);
	/* The pool is whole: five clients get five addresses. */
	for (uint8_t c = 11; c <= 15; c++)
		bind_client(f, c);

	/* A client whose lease expired long ago is still known. */
	f->ctx.now = NOW + 100000;
	p = request_init_reboot(11, FIRST);
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "ack");
}

/* A client known in another pool (it moved from a relayed network) is
 * NAKed at once, not left to time out. */
static void test_init_reboot_known_elsewhere(void **state)
{
	struct fixture *f = *state;
	struct pkt p = discover(1);
	uint32_t far;

	start(f, ini_full, NULL, 0);
	p.h.giaddr = htonl(IP(10, 9, 0, 1));
	assert_rc(handle(f, &p), 0);
	far = ntohl(reply(f, DHCP_OFFER)->yiaddr);
	p = request_init_reboot(1, far);  /* now on the local segment */
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "nak");
	assert_string_equal(f->out.reason, "wrong-network");
	/* A fixed [host] address is a record too. */
	p = request_init_reboot(9, IP(172, 24, 32, 3));
	memcpy(p.h.chaddr, mac_fixed, 6);
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "ack");
	assert_int_equal(f->out.ip, IP(172, 24, 32, 3));
}

/* [dhcp] authoritative = yes: kidou is the only server and its database
 * was lost; strangers get their free address back, or a NAK. */
static void test_authoritative(void **state)
{
	static const struct config_override auth[] = {
		{ "dhcp-authoritative", "yes" },
	};
	struct fixture *f = *state;
	struct pkt p;
	uint32_t taken;

	start(f, NULL, auth, 1);
	assert_true(f->cfg->dhcp.authoritative);
	p = request_init_reboot(1, FIRST + 1);
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "ack");
	assert_int_equal(f->out.store, DHCP_STORE_PUT);
	assert_int_equal(f->out.lease.state, LEASE_BOUND);
	assert_int_equal(ntohl(reply(f, DHCP_ACK)->yiaddr), FIRST + 1);
	taken = FIRST + 1;
	/* Step: taken by someone else: NAK. */
	p = request_init_reboot(2, taken);
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "nak");
	assert_string_equal(f->out.reason, "address-taken");
	/* Step: another network: NAK. */
	p = request_init_reboot(3, IP(10, 1, 2, 3));
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "nak");
	assert_string_equal(f->out.reason, "wrong-network");
	/* Step: this network, outside the range: ours to refuse. */
	p = request_init_reboot(4, IP(172, 24, 32, 100));
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "nak");
	assert_string_equal(f->out.reason, "address-not-in-range");
	/* Step: RENEWING from a stranger with a free address. */
	p = request_renewing(5, FIRST + 3);
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "ack");
	assert_int_equal(f->out.dest, DHCP_DEST_CLIENT);
	assert_int_equal(dhcp_server_leases_in_use(f->s, NOW), 2);
}

static void set_decline(struct pkt *p)
{
	set_type(p, DHCP_DECLINE);
}

/* DISCOVER, then DECLINE of the merely offered address, with a new MAC
 * each time, used to set every address aside for decline-hold. */
static void test_decline_of_an_offer_is_ignored(void **state)
{
	struct fixture *f = *state;
	struct pkt p;
	uint32_t ip;

	start(f, NULL, NULL, 0);
	for (uint8_t c = 1; c <= 30; c++) {
		ip = offer(f, c);
		p = request_selecting(c, ip, IFACE);
		set_decline(&p);
		assert_rc(handle(f, &p), 0);
		assert_no_reply(f, "ignore");
		assert_string_equal(f->out.reason, "decline-of-unknown-lease");
		assert_int_equal(f->out.store, DHCP_STORE_NONE);
		f->ctx.now += 31;  /* the offer hold runs out */
	}
	/* Nothing was set aside: five new clients get five addresses. */
	for (uint8_t c = 101; c <= 105; c++)
		bind_client(f, c);
}

static void usage_cb(void *ctx, const char *subnet, const struct dhcp_pool_usage *u)
{
	if (!*subnet)
		*(struct dhcp_pool_usage *)ctx = *u;
}

/* A real decline is counted apart, and the outcome carries what the
 * adapter needs to warn when declines take over a tenth of the pool. */
static void test_declines_are_counted(void **state)
{
	struct fixture *f = *state;
	struct dhcp_pool_usage u;
	struct pkt p;
	uint32_t ip;

	start(f, NULL, NULL, 0);
	ip = bind_client(f, 1);
	bind_client(f, 2);
	p = request_selecting(1, ip, IFACE);
	set_decline(&p);
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "decline");
	assert_string_equal(f->out.pool_subnet, "");
	assert_int_equal(f->out.pool_size, 5);
	assert_int_equal(f->out.pool_declined, 1);
	dhcp_server_pool_usage(f->s, NOW, usage_cb, &u);
	assert_int_equal(u.size, 5);
	assert_int_equal(u.in_use, 1);
	assert_int_equal(u.declined, 1);
	assert_int_equal(u.free, 3);
	/* Other outcomes carry no pool figures. */
	offer(f, 3);
	assert_null(f->out.pool_subnet);
}

/* A relay on the interface's own network, no [subnet] for it (a switch
 * relaying its ports' DHCP): served from the [dhcp] range, to the relay,
 * with option 82 back. */
static void test_relay_on_own_network(void **state)
{
	static const uint8_t agent[] = { 1, 3, 'p', '1', '7' };
	struct fixture *f = *state;
	struct pkt p = discover(1);
	const struct dhcp_message *m;
	uint32_t ip;

	start(f, NULL, NULL, 0);
	p.h.giaddr = htonl(IP(172, 24, 32, 200));
	p.h.hops = 1;
	add_opt(&p, DHCP_OPT_RELAY_AGENT, agent, sizeof(agent));
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "offer");
	assert_int_equal(f->out.dest, DHCP_DEST_RELAY);
	assert_int_equal(f->out.dest_addr, IP(172, 24, 32, 200));
	assert_int_equal(f->out.dest_port, 67);
	m = reply(f, DHCP_OFFER);
	ip = ntohl(m->yiaddr);
	check_in_range(ip, FIRST, LAST);
	assert_int_equal(opt_be32(m, DHCP_OPT_SUBNET_MASK), MASK);
	assert_opt_equal(m, DHCP_OPT_RELAY_AGENT, agent, sizeof(agent));
	assert_int_equal(f->out.reply[last_option_offset(f->out.reply, f->out.reply_len)],
			 DHCP_OPT_RELAY_AGENT);
	p = request_selecting(1, ip, IFACE);
	p.h.giaddr = htonl(IP(172, 24, 32, 200));
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "ack");
	assert_int_equal(f->out.dest, DHCP_DEST_RELAY);
	/* Step: giaddr the network, broadcast or our own address: no. */
	static const uint32_t bad[] = { IP(172, 24, 32, 0), IP(172, 24, 32, 255), IFACE };
	for (size_t i = 0; i < 3; i++) {
		p = discover(2);
		p.h.giaddr = htonl(bad[i]);
		assert_rc(handle(f, &p), 0);
		assert_no_reply(f, "ignore");
		assert_string_equal(f->out.reason, "relay-from-unknown-subnet");
	}
}

/* RFC 2132 9.14: option 61 may be 255 bytes. It used to be dropped past
 * 64 (debug log only). */
static void test_long_client_id(void **state)
{
	struct fixture *f = *state;
	uint8_t id[255];
	struct pkt p;
	uint32_t ip, other;

	start(f, NULL, NULL, 0);
	memset(id, 0xab, sizeof(id));
	p = discover(1);
	add_opt(&p, DHCP_OPT_CLIENT_ID, id, sizeof(id));
	assert_rc(handle(f, &p), 0);
	ip = ntohl(reply(f, DHCP_OFFER)->yiaddr);
	p = request_selecting(1, ip, IFACE);
	add_opt(&p, DHCP_OPT_CLIENT_ID, id, sizeof(id));
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "ack");
	assert_int_equal(f->out.lease.client_id_len, 255);
	assert_memory_equal(f->out.lease.client_id, id, 255);
	/* Another machine whose id differs in the last byte only. */
	id[254] = 0xcd;
	p = discover(2);
	add_opt(&p, DHCP_OPT_CLIENT_ID, id, sizeof(id));
	assert_rc(handle(f, &p), 0);
	other = ntohl(reply(f, DHCP_OFFER)->yiaddr);
	assert_int_not_equal(other, ip);
	/* The first comes back for its own, from the restored record too. */
	id[254] = 0xab;
	stop(f);
	start(f, NULL, NULL, 0);
	{
		struct lease_record r = { .ip = htonl(ip), .client_id_len = 255,
					  .expires = NOW + 600, .state = LEASE_BOUND };
		memcpy(r.client_id, id, 255);
		assert_rc(dhcp_server_restore(f->s, &r), 0);
	}
	p = request_init_reboot(3, ip);
	add_opt(&p, DHCP_OPT_CLIENT_ID, id, sizeof(id));
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "ack");
}

/* The range against the interface: network, broadcast and the server's
 * addresses are never handed out. Before, .254 (ours) and .255 were. */
static void test_range_skips_unusable_addresses(void **state)
{
	static const struct config_override top[] = {
		{ "dhcp-range", "172.24.32.250 172.24.32.255" },
	};
	static const struct config_override bottom[] = {
		{ "dhcp-range", "172.24.32.0 172.24.32.1" },
	};
	static const uint32_t own[] = { IP(127, 0, 0, 1), IP(172, 24, 32, 251) };
	struct fixture *f = *state;
	uint32_t seen = 0;
	struct pkt p;

	start(f, NULL, top, 1);
	f->ctx.own_addrs = own;
	f->ctx.n_own_addrs = 2;
	for (uint8_t c = 1; c <= 3; c++) {
		uint32_t ip = offer(f, c);
		check_in_range(ip, IP(172, 24, 32, 250), IP(172, 24, 32, 253));
		assert_int_not_equal(ip, IP(172, 24, 32, 251));  /* a secondary of ours */
		seen |= 1u << (ip & 7);
	}
	assert_int_equal(seen, 1u << 2 | 1u << 4 | 1u << 5);  /* .250 .252 .253 */
	p = discover(4);
	assert_rc(handle(f, &p), 0);
	assert_no_reply(f, "pool-full");
	/* A known client asking for our address is NAKed. */
	p = request_init_reboot(1, IFACE);
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "nak");
	assert_string_equal(f->out.reason, "server-address");

	/* A range starting at the network address serves the rest of it
	 * (it used to leave the whole range dead: "no-range"). */
	start(f, NULL, bottom, 1);
	assert_int_equal(offer(f, 1), IP(172, 24, 32, 1));
	p = discover(2);
	assert_rc(handle(f, &p), 0);
	assert_no_reply(f, "pool-full");
}

static void check_range(struct fixture *f, const char *range, uint32_t iface,
			uint32_t mask, unsigned problems, uint32_t usable)
{
	const struct config_override o[] = { { "dhcp-range", range } };
	static const uint32_t own[] = { IP(172, 24, 32, 20), IP(172, 24, 32, 20) };
	struct dhcp_range_check rc;

	start(f, NULL, o, 1);
	dhcp_server_check_range(f->s, iface, mask, own, 2, &rc);
	assert_true(rc.has_range);
	if (rc.problems != problems || rc.usable != usable) {
		print_error("%s on %08x/%08x: problems %#x usable %u\n", range, iface, mask,
			    rc.problems, rc.usable);
		fail();
	}
}

static void test_check_range(void **state)
{
	struct fixture *f = *state;
	const uint32_t m24 = MASK;

	check_range(f, "172.24.32.1 172.24.32.5", IFACE, m24, 0, 5);
	check_range(f, "172.24.32.250 172.24.32.254", IFACE, m24, DHCP_RANGE_SERVER_ADDR, 4);
	check_range(f, "172.24.32.250 172.24.32.255", IFACE, m24,
		    DHCP_RANGE_SERVER_ADDR | DHCP_RANGE_BROADCAST_ADDR, 4);
	check_range(f, "172.24.32.0 172.24.32.9", IFACE, m24, DHCP_RANGE_NETWORK_ADDR, 9);
	/* another of our addresses (listed twice, counted once) */
	check_range(f, "172.24.32.10 172.24.32.29", IFACE, m24, DHCP_RANGE_SERVER_ADDR, 19);
	check_range(f, "10.1.0.10 10.1.0.20", IFACE, m24, DHCP_RANGE_OTHER_SUBNET, 0);
	check_range(f, "172.24.32.250 172.24.33.10", IFACE, m24,
		    DHCP_RANGE_BEYOND_SUBNET | DHCP_RANGE_SERVER_ADDR | DHCP_RANGE_BROADCAST_ADDR, 4);
	/* nothing left: the error case */
	check_range(f, "172.24.32.254 172.24.32.255", IFACE, m24,
		    DHCP_RANGE_SERVER_ADDR | DHCP_RANGE_BROADCAST_ADDR, 0);
	check_range(f, "172.24.32.0 172.24.32.0", IFACE, m24, DHCP_RANGE_NETWORK_ADDR, 0);
}

/* --- proxy mode --- */

static const char ini_proxy[] =
	"[dhcp]\n"
	"interface = v0\n"
	"mode = proxy\n"
	"\n"
	"[subnet far]\n"
	"network = 10.9.0.0/16\n"
	"\n"
	"[host special]\n"
	"mac = 52:54:00:aa:00:02\n"
	"bios = special/pxelinux.0\n";

/* What every proxy reply carries, and what it never does. */
static const struct dhcp_message *proxy_reply(struct fixture *f, uint8_t type,
					      const char *file)
{
	const struct dhcp_message *m = reply(f, type);

	assert_int_equal(f->out.store, DHCP_STORE_NONE);
	assert_int_equal(m->yiaddr, 0);
	assert_int_equal(ntohl(m->siaddr), IFACE);
	assert_string_equal(m->file, file);
	assert_int_equal(opt_be32(m, DHCP_OPT_SERVER_ID), IFACE);
	assert_opt_equal(m, DHCP_OPT_VENDOR_CLASS, "PXEClient", 9);
	assert_opt_equal(m, DHCP_OPT_VENDOR, "\x06\x01\x08\xff", 4);
	assert_opt_equal(m, DHCP_OPT_BOOTFILE, file, strlen(file));
	/* Addresses and network settings are the DHCP server's. */
	assert_false(has_opt(m, DHCP_OPT_LEASE_TIME));
	assert_false(has_opt(m, DHCP_OPT_RENEWAL_T1));
	assert_false(has_opt(m, DHCP_OPT_SUBNET_MASK));
	assert_false(has_opt(m, DHCP_OPT_ROUTER));
	assert_false(has_opt(m, DHCP_OPT_DNS));
	return m;
}

static void test_proxy_offer(void **state)
{
	struct fixture *f = *state;
	struct pkt p = pxe_discover(1);
	const struct dhcp_message *m;
	size_t uuid_len;
	const uint8_t *uuid;

	start(f, ini_proxy, NULL, 0);
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "proxy-offer");
	assert_int_equal(f->out.ip, 0);
	assert_int_equal(f->out.dest, DHCP_DEST_BROADCAST);
	assert_int_equal(f->out.dest_port, 68);
	m = proxy_reply(f, DHCP_OFFER, "pxelinux/pxelinux.0");
	uuid = dhcp_option(&f->req, DHCP_OPT_CLIENT_UUID, 17, &uuid_len);
	assert_non_null(uuid);
	assert_opt_equal(m, DHCP_OPT_CLIENT_UUID, uuid, uuid_len);

	/* Step: a [host] gets its own boot file through the proxy too. */
	p = pxe_discover(2);
	memcpy(p.h.chaddr, mac_special, 6);
	assert_rc(handle(f, &p), 0);
	assert_non_null(f->out.host);
	assert_string_equal(f->out.host, "special");
	proxy_reply(f, DHCP_OFFER, "special/pxelinux.0");

	/* Step: relayed, the offer goes back to the relay... */
	p = pxe_discover(1);
	p.h.giaddr = htonl(IP(10, 9, 0, 1));
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "proxy-offer");
	assert_int_equal(f->out.dest, DHCP_DEST_RELAY);
	assert_int_equal(f->out.dest_addr, IP(10, 9, 0, 1));
	assert_int_equal(f->out.dest_port, 67);
	/* ...when the relay is on a [subnet] network: a giaddr is where the
	 * answer goes, and anyone can write one. */
	p.h.giaddr = htonl(IP(192, 0, 2, 1));
	assert_rc(handle(f, &p), 0);
	assert_no_reply(f, "ignore");
	assert_string_equal(f->out.reason, "relay-from-unknown-subnet");
}

static void test_proxy_passes_what_is_not_its_business(void **state)
{
	struct fixture *f = *state;
	struct pkt p;

	start(f, ini_proxy, NULL, 0);
	/* A machine that is not booting from the network. */
	p = discover(1);
	assert_rc(handle(f, &p), 0);
	assert_no_reply(f, "pass");
	assert_string_equal(f->out.reason, "not-a-pxe-client");
	/* Firmware asking the DHCP server for the address it offered. */
	p = pxe_discover(1);
	set_type(&p, DHCP_REQUEST);
	add_addr(&p, DHCP_OPT_SERVER_ID, OTHER_SERVER);
	add_addr(&p, DHCP_OPT_REQUESTED_IP, FIRST);
	assert_rc(handle(f, &p), 0);
	assert_no_reply(f, "pass");
	assert_string_equal(f->out.reason, "address-for-the-dhcp-server");
	assert_int_equal(f->out.ip, FIRST);  /* ties its file requests to it */
	/* ...even one that names us: a proxy never binds an address. */
	p = pxe_discover(1);
	set_type(&p, DHCP_REQUEST);
	add_addr(&p, DHCP_OPT_SERVER_ID, IFACE);
	add_addr(&p, DHCP_OPT_REQUESTED_IP, FIRST);
	assert_rc(handle(f, &p), 0);
	assert_no_reply(f, "pass");
	assert_int_equal(f->out.store, DHCP_STORE_NONE);
	/* Releases and declines are the DHCP server's too. */
	p = request_renewing(1, FIRST);
	set_type(&p, DHCP_RELEASE);
	assert_rc(handle(f, &p), 0);
	assert_no_reply(f, "pass");
	/* A firmware kind with no boot file configured gets nothing. */
	p = discover(1);
	add_opt(&p, DHCP_OPT_CLIENT_ARCH, "\x00\x0b", 2);  /* ARM64 UEFI */
	add_opt(&p, DHCP_OPT_VENDOR_CLASS, "PXEClient:Arch:00011:UNDI:003000", 32);
	assert_rc(handle(f, &p), 0);
	assert_int_equal(f->out.boot_client.arch, 11);
	assert_no_reply(f, "pass");
}

static void test_proxy_pxe_port(void **state)
{
	struct fixture *f = *state;
	struct pkt p;

	start(f, ini_proxy, NULL, 0);
	f->ctx.on_pxe_port = true;
	f->ctx.src_addr = FIRST;
	f->ctx.src_port = 68;
	/* iPXE and EDK2 ask again on port 4011 once they have an address. */
	p = pxe_discover(1);
	set_type(&p, DHCP_REQUEST);
	p.h.ciaddr = htonl(FIRST);
	assert_rc(handle(f, &p), 0);
	assert_string_equal(f->out.event, "proxy-ack");
	assert_int_equal(f->out.ip, FIRST);
	assert_int_equal(f->out.dest, DHCP_DEST_SOURCE);
	assert_int_equal(f->out.dest_addr, FIRST);
	assert_int_equal(f->out.dest_port, 68);
	assert_int_equal(ntohl(proxy_reply(f, DHCP_ACK, "pxelinux/pxelinux.0")->ciaddr), FIRST);

	/* Step: the answer goes to whatever port the request came from. */
	f->ctx.src_port = 4011;
	assert_rc(handle(f, &p), 0);
	assert_int_equal(f->out.dest, DHCP_DEST_SOURCE);
	assert_int_equal(f->out.dest_port, 4011);

	/* Step: from port 0 there is nowhere to answer but the usual place. */
	f->ctx.src_port = 0;
	assert_rc(handle(f, &p), 0);
	assert_int_equal(f->out.dest, DHCP_DEST_CLIENT);
	assert_int_equal(f->out.dest_addr, FIRST);
	assert_int_equal(f->out.dest_port, 68);
	f->ctx.src_port = 68;

	/* Step: a DISCOVER is no question for port 4011. */
	p = pxe_discover(1);
	assert_rc(handle(f, &p), 0);
	assert_no_reply(f, "pass");
	assert_string_equal(f->out.reason, "not-a-request");
}

static void test_proxy_config_refuses_address_settings(void **state)
{
	static const char *const bad[] = {
		"[dhcp]\ninterface = v0\nmode = proxy\nrange = 172.24.32.1 172.24.32.5\n",
		"[dhcp]\ninterface = v0\nmode = proxy\nrouter = 172.24.32.254\n",
		"[dhcp]\ninterface = v0\nmode = proxy\n[subnet f]\nnetwork = 10.9.0.0/16\nrange = 10.9.1.10 10.9.1.20\n",
		"[dhcp]\ninterface = v0\nmode = proxy\n[host h]\nmac = 52:54:00:aa:00:01\nip = 172.24.32.3\n",
		"[dhcp]\ninterface = v0\nmode = relay\n",
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		FILE *fp = fopen(f->path, "we");
		assert_non_null(fp);
		assert_true(fputs(bad[i], fp) >= 0);
		assert_int_equal(fclose(fp), 0);
		assert_rc(config_build(f->path, NULL, 0, &f->cfg, f->err, sizeof(f->err)), -EINVAL);
		assert_non_null(strstr(f->err, i < 4 ? "proxy" : "server, proxy"));
	}
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_discover_offer),
		T(test_router_dns_only_when_configured_and_wanted),
		T(test_config_options),
		T(test_offer_hold),
		T(test_offer_only_on_the_ranges_network),
		T(test_pool_exhaustion),
		T(test_request_selecting_ack),
		T(test_request_for_other_server),
		T(test_shared_request_for_other_server_over_own_offer),
		T(test_failed_commit_undoes_binding),
		T(test_claim_lost_naks_and_mirrors_holder),
		T(test_failed_renewal_keeps_lease),
		T(test_carry_leases),
		T(test_init_reboot),
		T(test_renewing_and_rebinding),
		T(test_decline),
		T(test_release),
		T(test_inform),
		T(test_malformed_requests),
		T(test_relayed),
		T(test_relay_agent_info_survives_a_full_reply),
		T(test_max_message_size),
		T(test_static_host),
		T(test_static_host_reservation_not_claimable),
		T(test_host_boot_override),
		T(test_pxe_client),
		T(test_ipxe_chainload),
		T(test_http_boot_client),
		T(test_long_boot_target),
		T(test_restore),
		T(test_init_reboot_from_strangers),
		T(test_init_reboot_known_elsewhere),
		T(test_authoritative),
		T(test_decline_of_an_offer_is_ignored),
		T(test_declines_are_counted),
		T(test_relay_on_own_network),
		T(test_long_client_id),
		T(test_range_skips_unusable_addresses),
		T(test_check_range),
		T(test_proxy_offer),
		T(test_proxy_passes_what_is_not_its_business),
		T(test_proxy_pxe_port),
		T(test_proxy_config_refuses_address_settings),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
