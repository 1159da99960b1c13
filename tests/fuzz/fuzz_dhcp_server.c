/* fuzz_dhcp_server.c - the DHCP policy on arbitrary decoded requests.
 *
 * Where systemd's fuzz-dhcp-server has to stub sendto(), kidou's handler
 * returns its reply, so the fuzzer checks it directly. Bytes that
 * dhcp_decode() accepts go to dhcp_server_handle() on one server built
 * once, from a config with a small range (so it fills up and the
 * pool-full paths run), a [subnet] behind a relay, static hosts, boot
 * targets (one too long for the file field) and `option` lines. The context is fixed.
 * Server state carries over from input to input, as in the daemon. Each
 * input also goes to a second server in proxy mode ([dhcp] mode = proxy),
 * as if it came to port 67 and to port 4011, and to a third that is
 * authoritative (strangers' INIT-REBOOTs are answered) with a range that
 * holds the network, broadcast and server addresses, which it must never
 * lease.
 *
 * Checked: the return code and outcome agree (a drop has no reply, no
 * destination, nothing to store); a reply is 300..DHCP_REPLY_MAX bytes and
 * never larger than the client accepts (option 57), decodes, answers this
 * request (xid, chaddr, giaddr), is an OFFER, ACK or NAK carrying our
 * server identifier, and goes where the request says; a lease to store is
 * well formed. A proxy never offers an address or stores a lease, offers
 * only on port 67 and acknowledges only on port 4011, back to the sender. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_check.h"
#include "config.h"
#include "dhcp/dhcp_server.h"
#include "dhcp/dhcp_wire.h"

#define IFACE 0xac1820feu  /* 172.24.32.254/24 */

static const char ini[] =
	"[dhcp]\n"
	"interface = v0\n"
	"range = 172.24.32.1 172.24.32.6\n"
	"router = 172.24.32.254\n"
	"dns = 172.24.32.53, 9.9.9.9\n"
	"domain = lab.example\n"
	"lease-time = 600\n"
	"offer-hold = 5\n"
	"option = 42 ip 172.24.32.123, 172.24.32.124\n"
	"option = 26 u16 1400\n"
	"option = 224 string a site option long enough to crowd a small reply: "
	"0123456789012345678901234567890123456789012345678901234567890123456789\n"
	"\n"
	"[boot]\n"
	"uefi-x64 = efi/grubx64.efi\n"
	"http-x64 = http://172.24.32.254/x64/boot.efi\n"
	"ipxe = http://172.24.32.254/boot.ipxe\n"
	"\n"
	"[subnet far]\n"
	"network = 10.9.0.0/16\n"
	"range = 10.9.1.10 10.9.1.14\n"
	"router = 10.9.0.1\n"
	"lease-time = 7200\n"
	"\n"
	"[host fixed]\n"
	"mac = 52:54:00:aa:00:01\n"
	"ip = 172.24.32.3\n"
	"hostname = fixed1\n"
	"bios = hosts/fixed/pxelinux.0\n"
	"option = 224 hex 0a:1b:2c\n"
	"\n"
	"[host far]\n"
	"mac = 52:54:00:aa:00:02\n"
	"ip = 10.9.1.12\n"
	"uefi-arm64 = hosts/far/a-rather-long-directory-name-for-the-arm64-machine"
	"/and-another-level-below-it/grub/arm64-efi/grubaa64-signed-by-the-site-key.efi\n";

static const char ini_proxy[] =
	"[dhcp]\n"
	"interface = v0\n"
	"mode = proxy\n"
	"\n"
	"[subnet far]\n"
	"network = 10.9.0.0/16\n"
	"\n"
	"[boot]\n"
	"uefi-x64 = efi/grubx64.efi\n"
	"http-x64 = http://172.24.32.254/x64/boot.efi\n"
	"\n"
	"[host fixed]\n"
	"mac = 52:54:00:aa:00:01\n"
	"bios = hosts/fixed/pxelinux.0\n";

static const char ini_auth[] =
	"[dhcp]\n"
	"interface = v0\n"
	"authoritative = yes\n"
	"range = 172.24.32.250 172.24.33.3\n"
	"lease-time = 600\n"
	"offer-hold = 5\n"
	"\n"
	"[host fixed]\n"
	"mac = 52:54:00:aa:00:01\n"
	"ip = 172.24.32.252\n";

#define CLIENT 0xac182007u  /* 172.24.32.7, as another server gave it */
#define OWN_SECONDARY 0xac1820fbu  /* 172.24.32.251, another of ours */

static const uint32_t own_addrs[] = { 0x7f000001u, IFACE, OWN_SECONDARY };

static const struct dhcp_request_ctx ctx = {
	.iface_addr = IFACE, .iface_mask = 0xffffff00u, .now = 1700000000,
	.own_addrs = own_addrs, .n_own_addrs = 3,
};
static const struct dhcp_request_ctx ctx_pxe_port = {
	.iface_addr = IFACE, .iface_mask = 0xffffff00u, .now = 1700000000,
	.on_pxe_port = true, .src_addr = CLIENT, .src_port = 68,
};

static struct dhcp_server *server_from(const char *text)
{
	struct config *cfg;
	struct dhcp_server *s;
	const char *tmp = getenv("TMPDIR");
	char dir[256], path[300], err[512];
	FILE *f;

	snprintf(dir, sizeof(dir), "%s/kidou-fuzz-dhcp-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/kidou.ini", dir);
	f = fopen(path, "we");
	CHECK(f != NULL);
	CHECK(fputs(text, f) >= 0);
	CHECK(fclose(f) == 0);
	if (config_build(path, NULL, 0, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_dhcp_server: %s\n", err);
		abort();
	}
	unlink(path);
	rmdir(dir);
	CHECK(dhcp_server_new(cfg, &s) == 0);
	return s;  /* and cfg, for the life of the process */
}

/* What the client accepts, as RFC 2132 9.10 and dhcp_server.h say. */
static size_t reply_limit(const struct dhcp_message *m)
{
	size_t len, limit = DHCP_MIN_MAX_MESSAGE - DHCP_UDP_IP_OVERHEAD;
	const uint8_t *p = dhcp_option(m, DHCP_OPT_MAX_MESSAGE, 2, &len);

	if (p && len == 2 && (p[0] << 8 | p[1]) >= DHCP_MIN_MAX_MESSAGE)
		limit = (size_t)(p[0] << 8 | p[1]) - DHCP_UDP_IP_OVERHEAD;
	return limit < DHCP_REPLY_MAX ? limit : DHCP_REPLY_MAX;
}

static void check_reply(const struct dhcp_message *m, const struct dhcp_outcome *out,
			const struct dhcp_request_ctx *c, bool proxy)
{
	static struct dhcp_message back;
	uint32_t sid;
	uint8_t type;

	CHECK(out->reply_len >= 300);
	CHECK(out->reply_len <= reply_limit(m));
	CHECK(dhcp_decode(out->reply, out->reply_len, &back) == 0);
	CHECK(back.op == DHCP_OP_REPLY);
	CHECK(back.xid == m->xid && back.htype == m->htype && back.hlen == m->hlen);
	CHECK(memcmp(back.chaddr, m->chaddr, DHCP_CHADDR_LEN) == 0);
	CHECK(back.giaddr == m->giaddr);
	type = dhcp_message_type(&back);
	CHECK(type == DHCP_OFFER || type == DHCP_ACK || type == DHCP_NAK);
	CHECK(dhcp_option_addr(&back, DHCP_OPT_SERVER_ID, &sid) == 0 && ntohl(sid) == IFACE);
	if (type == DHCP_NAK) {
		CHECK(back.yiaddr == 0 && out->ip == 0);
		CHECK(strcmp(out->event, "nak") == 0);
	} else if (proxy) {
		CHECK(back.yiaddr == 0 && back.siaddr == htonl(IFACE));
		CHECK(type == (c->on_pxe_port ? DHCP_ACK : DHCP_OFFER));
		CHECK(dhcp_option(&back, DHCP_OPT_LEASE_TIME, 0, NULL) == NULL);
		CHECK(dhcp_option(&back, DHCP_OPT_SUBNET_MASK, 0, NULL) == NULL);
	} else if (type == DHCP_OFFER) {
		CHECK(back.yiaddr != 0 && ntohl(back.yiaddr) == out->ip);
	}
	switch (out->dest) {
	case DHCP_DEST_RELAY:
		CHECK(m->giaddr != 0);
		CHECK(out->dest_addr == ntohl(m->giaddr) && out->dest_port == 67);
		break;
	case DHCP_DEST_CLIENT:
		CHECK(m->giaddr == 0 && m->ciaddr != 0 && type != DHCP_NAK);
		CHECK(out->dest_addr == ntohl(m->ciaddr) && out->dest_port == 68);
		break;
	case DHCP_DEST_BROADCAST:
		CHECK(m->giaddr == 0);
		CHECK(out->dest_addr == INADDR_BROADCAST && out->dest_port == 68);
		break;
	case DHCP_DEST_SOURCE:
		CHECK(proxy && c->on_pxe_port && m->giaddr == 0);
		CHECK(out->dest_addr == c->src_addr && out->dest_port == c->src_port);
		break;
	default:
		CHECK(!"a reply without a destination");
	}
}

static void check_lease(const struct dhcp_outcome *out)
{
	const struct lease_record *l = &out->lease;

	CHECK(l->ip != 0 && ntohl(l->ip) == out->ip);
	CHECK(l->state >= LEASE_BOUND && l->state <= LEASE_DECLINED);
	CHECK(l->client_id_len <= LEASE_CLIENT_ID_MAX);
	CHECK(l->hwaddr_len <= sizeof(l->hwaddr));
	CHECK(memchr(l->hostname, '\0', sizeof(l->hostname)) != NULL);
	if (l->state == LEASE_BOUND)
		CHECK(l->expires > ctx.now);
}

/* One decision, and everything that must hold of it. */
static void decide(struct dhcp_server *s, const struct dhcp_message *m,
		   const struct dhcp_request_ctx *c, bool proxy)
{
	static struct dhcp_outcome out;
	int r;

	memset(&out, 0xa5, sizeof(out));
	r = dhcp_server_handle(s, m, c, &out);
	CHECK(r == 0 || r == -EBADMSG);
	CHECK(out.event != NULL);
	CHECK(out.reply_len <= DHCP_REPLY_MAX);
	CHECK(out.store == DHCP_STORE_NONE || out.store == DHCP_STORE_PUT);
	if (r < 0) {
		CHECK(out.reason != NULL);
		CHECK(out.reply_len == 0 && out.store == DHCP_STORE_NONE);
	}
	if (out.reply_len)
		check_reply(m, &out, c, proxy);
	else
		CHECK(out.dest == DHCP_DEST_NONE);
	if (proxy)
		CHECK(out.store == DHCP_STORE_NONE);
	if (out.store == DHCP_STORE_PUT)
		check_lease(&out);
	/* Never the network, broadcast or one of our addresses. */
	if (!proxy && out.ip && (out.store == DHCP_STORE_PUT || strcmp(out.event, "offer") == 0) &&
	    (out.ip & 0xffffff00u) == (IFACE & 0xffffff00u))
		CHECK(out.ip != IFACE && out.ip != OWN_SECONDARY && (out.ip & 0xff) != 0 &&
		      (out.ip & 0xff) != 0xff);
	CHECK(!out.pool_subnet || strcmp(out.event, "decline") == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dhcp_message m;
	static struct dhcp_server *server, *proxy, *auth;
	uint8_t *buf = malloc(size ? size : 1);

	if (!server) {
		server = server_from(ini);
		proxy = server_from(ini_proxy);
		auth = server_from(ini_auth);
	}
	if (!buf)
		return 0;
	if (size)
		memcpy(buf, data, size);
	if (dhcp_decode(buf, size, &m) < 0)
		goto done;
	decide(server, &m, &ctx, false);
	CHECK(dhcp_server_leases_in_use(server, ctx.now) <= 6 + 5);
	decide(proxy, &m, &ctx, true);
	decide(proxy, &m, &ctx_pxe_port, true);
	CHECK(dhcp_server_leases_in_use(proxy, ctx.now) == 0);
	decide(auth, &m, &ctx, false);
	CHECK(dhcp_server_leases_in_use(auth, ctx.now) <= 2);  /* .250 .253 */
done:
	free(buf);
	return 0;
}
