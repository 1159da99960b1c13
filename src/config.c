/* config.c - see config.h. The INI syntax itself is parsed by libinih;
 * this file maps keys to typed settings and validates them. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "boot/render.h"
#include "net.h"
#include "util.h"

/* RFC 2348: blksize 8..65464. */
#define TFTP_BLKSIZE_MAX 65464

enum section_kind {
	SEC_DAEMON,
	SEC_TFTP,
	SEC_DHCP,
	SEC_HTTP,
	SEC_BOOT,
	SEC_SUBNET,  /* [subnet NAME] */
	SEC_HOST,    /* [host NAME] */
	SEC_PROFILE, /* [profile NAME] */
};

static const char *const section_names[] = {
	[SEC_DAEMON] = "daemon", [SEC_TFTP] = "tftp", [SEC_DHCP] = "dhcp", [SEC_HTTP] = "http",
	[SEC_BOOT] = "boot", [SEC_SUBNET] = "subnet", [SEC_HOST] = "host",
	[SEC_PROFILE] = "profile",
};

struct config_key;
/* obj is the [subnet]/[host] being filled, NULL for plain sections. */
typedef int (*config_setter)(struct config *c, void *obj, const struct config_key *k,
			     const char *value, char *err, size_t errsize);

struct config_key {
	enum section_kind section;
	const char *key;
	const char *flag;   /* NULL: file only */
	const char *help;
	config_setter set;
	int arg;            /* setter-specific (a boot target) */
	bool repeatable;    /* values accumulate; a flag replaces the file's list */
};

static int set_error(char *err, size_t errsize, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int set_error(char *err, size_t errsize, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errsize, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int set_string(char **slot, const char *value, size_t max, char *err, size_t errsize)
{
	char *s;

	if (!*value)
		return set_error(err, errsize, "must not be empty");
	if (strlen(value) > max)
		return set_error(err, errsize, "longer than %zu characters", max);
	s = strdup(value);
	if (!s)
		return -ENOMEM;
	free(*slot);
	*slot = s;
	return 0;
}

static int set_uint(unsigned *slot, const char *value, unsigned min,
		    unsigned max, char *err, size_t errsize)
{
	uint64_t v;

	if (parse_uint(value, min, max, &v) < 0)
		return set_error(err, errsize, "\"%s\" is not a whole number in %u..%u",
				 value, min, max);
	*slot = (unsigned)v;
	return 0;
}

static int parse_ipv4(const char *s, uint32_t *out)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*out = ntohl(a.s_addr);
	return 0;
}

static int set_ipv4(uint32_t *slot, const char *value, char *err, size_t n)
{
	if (parse_ipv4(value, slot) < 0)
		return set_error(err, n, "\"%s\" is not an IPv4 address", value);
	return 0;
}

/* Split a comma-separated list in place into trimmed, non-empty items. */
static size_t split_list(char *s, char **items, size_t max)
{
	size_t n = 0;

	for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
		while (*tok == ' ' || *tok == '\t')
			tok++;
		char *end = tok + strlen(tok);
		while (end > tok && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (!*tok)
			continue;
		if (n == max)
			return max + 1;
		items[n++] = tok;
	}
	return n;
}

/* --- [daemon] --- */

static int set_log_level(struct config *c, void *obj, const struct config_key *k,
			 const char *v, char *err, size_t n)
{
	if (log_level_from_string(v, &c->log_level) < 0)
		return set_error(err, n, "\"%s\" is not one of debug, info, warn, error", v);
	return 0;
}

static int set_busy_poll(struct config *c, void *obj, const struct config_key *k,
			 const char *v, char *err, size_t n)
{
	return set_uint(&c->busy_poll_usec, v, 0, 1000, err, n);
}

static int set_seccomp(struct config *c, void *obj, const struct config_key *k,
		       const char *v, char *err, size_t n)
{
	if (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0)
		return set_error(err, n, "\"%s\" is not yes or no", v);
	c->seccomp_off = strcmp(v, "no") == 0;
	return 0;
}

static int set_timeline_idle(struct config *c, void *obj, const struct config_key *k,
			     const char *v, char *err, size_t n)
{
	return set_uint(&c->timeline_idle_sec, v, 1, 3600, err, n);
}

static int set_user(struct config *c, void *obj, const struct config_key *k,
		    const char *v, char *err, size_t n)
{
	return set_string(&c->user, v, 64, err, n);
}

/* --- [tftp] --- */

static int set_tftp_root(struct config *c, void *obj, const struct config_key *k,
			 const char *v, char *err, size_t n)
{
	return set_string(&c->tftp.root, v, 4096, err, n);
}

static int set_tftp_listen(struct config *c, void *obj, const struct config_key *k,
			   const char *v, char *err, size_t n)
{
	if (net_parse_endpoint(v, &c->tftp.listen) < 0)
		return set_error(err, n, "\"%s\" is not ADDR:PORT (IPv4)", v);
	return 0;
}

static int set_tftp_max_transfers(struct config *c, void *obj, const struct config_key *k,
				  const char *v, char *err, size_t n)
{
	return set_uint(&c->tftp.max_transfers, v, 1, 100000, err, n);
}

static int set_tftp_retransmit_ms(struct config *c, void *obj, const struct config_key *k,
				  const char *v, char *err, size_t n)
{
	/* Up to RFC 2349's largest timeout, 255 s. */
	return set_uint(&c->tftp.retransmit_ms, v, 10, 255000, err, n);
}

static int set_tftp_retries(struct config *c, void *obj, const struct config_key *k,
			    const char *v, char *err, size_t n)
{
	return set_uint(&c->tftp.retries, v, 1, 100, err, n);
}

static int set_tftp_max_blksize(struct config *c, void *obj, const struct config_key *k,
				const char *v, char *err, size_t n)
{
	return set_uint(&c->tftp.max_blksize, v, 512, TFTP_BLKSIZE_MAX, err, n);
}

static int set_tftp_max_windowsize(struct config *c, void *obj, const struct config_key *k,
				   const char *v, char *err, size_t n)
{
	return set_uint(&c->tftp.max_windowsize, v, 1, 1024, err, n);
}

/* --- [http] --- */

static int set_http_listen(struct config *c, void *obj, const struct config_key *k,
			   const char *v, char *err, size_t n)
{
	if (net_parse_endpoint(v, &c->http.listen) < 0)
		return set_error(err, n, "\"%s\" is not ADDR:PORT (IPv4)", v);
	c->http.enabled = true;
	return 0;
}

static int set_http_root(struct config *c, void *obj, const struct config_key *k,
			 const char *v, char *err, size_t n)
{
	return set_string(&c->http.root, v, 4096, err, n);
}

static int set_http_max_connections(struct config *c, void *obj, const struct config_key *k,
				    const char *v, char *err, size_t n)
{
	return set_uint(&c->http.max_connections, v, 1, 100000, err, n);
}

static int set_http_idle_timeout(struct config *c, void *obj, const struct config_key *k,
				 const char *v, char *err, size_t n)
{
	return set_uint(&c->http.idle_timeout_sec, v, 1, 3600, err, n);
}

static int set_http_header_timeout(struct config *c, void *obj, const struct config_key *k,
				   const char *v, char *err, size_t n)
{
	return set_uint(&c->http.header_timeout_sec, v, 1, 3600, err, n);
}

static int set_http_max_per_address(struct config *c, void *obj, const struct config_key *k,
				    const char *v, char *err, size_t n)
{
	return set_uint(&c->http.max_connections_per_address, v, 1, 100000, err, n);
}

/* --- [dhcp] and [subnet NAME] --- */

static struct dhcp_subnet_config *subnet_of(struct config *c, void *obj)
{
	return obj ? obj : &c->dhcp.local;
}

static int set_dhcp_interface(struct config *c, void *obj, const struct config_key *k,
			      const char *v, char *err, size_t n)
{
	char buf[512], *items[CONFIG_MAX_INTERFACES + 1];
	size_t count;

	if (strlen(v) >= sizeof(buf))
		return set_error(err, n, "too long");
	strcpy(buf, v);
	count = split_list(buf, items, CONFIG_MAX_INTERFACES);
	if (count == 0)
		return set_error(err, n, "must name an interface");
	if (c->dhcp.n_interfaces + count > CONFIG_MAX_INTERFACES)
		return set_error(err, n, "more than %d interfaces", CONFIG_MAX_INTERFACES);
	for (size_t i = 0; i < count; i++) {
		if (strlen(items[i]) >= 16)  /* IFNAMSIZ */
			return set_error(err, n, "\"%s\" is not an interface name", items[i]);
		c->dhcp.interfaces[c->dhcp.n_interfaces] = strdup(items[i]);
		if (!c->dhcp.interfaces[c->dhcp.n_interfaces])
			return -ENOMEM;
		c->dhcp.n_interfaces++;
	}
	return 0;
}

static int set_dhcp_listen(struct config *c, void *obj, const struct config_key *k,
			   const char *v, char *err, size_t n)
{
	if (net_parse_endpoint(v, &c->dhcp.listen) < 0)
		return set_error(err, n, "\"%s\" is not ADDR:PORT (IPv4)", v);
	return 0;
}

static int set_dhcp_database(struct config *c, void *obj, const struct config_key *k,
			     const char *v, char *err, size_t n)
{
	return set_string(&c->dhcp.database, v, 4096, err, n);
}

static int set_dhcp_ipv6_ra(struct config *c, void *obj, const struct config_key *k,
			    const char *v, char *err, size_t n)
{
	static const char *const names[] = { [IPV6_RA_AUTO] = "auto", [IPV6_RA_OFF] = "off",
					     [IPV6_RA_ALWAYS] = "always" };

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (strcmp(v, names[i]) == 0) {
			c->dhcp.ipv6_ra = (enum ipv6_ra_mode)i;
			return 0;
		}
	}
	return set_error(err, n, "\"%s\" is not one of auto, off, always", v);
}

static int set_dhcp_mode(struct config *c, void *obj, const struct config_key *k,
			 const char *v, char *err, size_t n)
{
	if (strcmp(v, "server") == 0)
		c->dhcp.mode = DHCP_MODE_SERVER;
	else if (strcmp(v, "proxy") == 0)
		c->dhcp.mode = DHCP_MODE_PROXY;
	else
		return set_error(err, n, "\"%s\" is not one of server, proxy", v);
	return 0;
}

static int set_dhcp_offer_hold(struct config *c, void *obj, const struct config_key *k,
			       const char *v, char *err, size_t n)
{
	return set_uint(&c->dhcp.offer_hold_sec, v, 1, 3600, err, n);
}

static int set_dhcp_busy_timeout(struct config *c, void *obj, const struct config_key *k,
				 const char *v, char *err, size_t n)
{
	return set_uint(&c->dhcp.database_busy_timeout_sec, v, 0, 3600, err, n);
}

static int set_dhcp_decline_hold(struct config *c, void *obj, const struct config_key *k,
				 const char *v, char *err, size_t n)
{
	return set_uint(&c->dhcp.decline_hold_sec, v, 1, 86400, err, n);
}

static int set_dhcp_authoritative(struct config *c, void *obj, const struct config_key *k,
				  const char *v, char *err, size_t n)
{
	if (strcmp(v, "yes") == 0)
		c->dhcp.authoritative = true;
	else if (strcmp(v, "no") == 0)
		c->dhcp.authoritative = false;
	else
		return set_error(err, n, "\"%s\" is not one of yes, no", v);
	return 0;
}

static int set_dhcp_next_server(struct config *c, void *obj, const struct config_key *k,
				const char *v, char *err, size_t n)
{
	return set_ipv4(&c->dhcp.next_server, v, err, n);
}

static int set_subnet_range(struct config *c, void *obj, const struct config_key *k,
			    const char *v, char *err, size_t n)
{
	struct dhcp_subnet_config *s = subnet_of(c, obj);
	char a[32], b[32], extra;
	uint32_t first, last;

	if (sscanf(v, "%31s %31s %c", a, b, &extra) != 2 ||
	    parse_ipv4(a, &first) < 0 || parse_ipv4(b, &last) < 0)
		return set_error(err, n, "\"%s\" is not FIRST LAST (two IPv4 addresses)", v);
	if (last < first)
		return set_error(err, n, "range ends before it starts");
	if (last - first >= (1u << 20))
		return set_error(err, n, "range larger than 1048576 addresses");
	s->range_first = first;
	s->range_last = last;
	return 0;
}

static int set_subnet_network(struct config *c, void *obj, const struct config_key *k,
			      const char *v, char *err, size_t n)
{
	struct dhcp_subnet_config *s = subnet_of(c, obj);
	char addr[32];
	const char *slash = strchr(v, '/');
	uint64_t bits;
	uint32_t net;

	if (!slash || (size_t)(slash - v) >= sizeof(addr))
		return set_error(err, n, "\"%s\" is not ADDRESS/BITS", v);
	memcpy(addr, v, (size_t)(slash - v));
	addr[slash - v] = '\0';
	if (parse_ipv4(addr, &net) < 0 || parse_uint(slash + 1, 1, 30, &bits) < 0)
		return set_error(err, n, "\"%s\" is not ADDRESS/BITS (bits 1..30)", v);
	s->netmask = bits == 0 ? 0 : ~0u << (32 - bits);
	if (net & ~s->netmask)
		return set_error(err, n, "\"%s\" has host bits set", v);
	s->network = net;
	return 0;
}

static int set_subnet_router(struct config *c, void *obj, const struct config_key *k,
			     const char *v, char *err, size_t n)
{
	return set_ipv4(&subnet_of(c, obj)->router, v, err, n);
}

static int set_subnet_dns(struct config *c, void *obj, const struct config_key *k,
			  const char *v, char *err, size_t n)
{
	struct dhcp_subnet_config *s = subnet_of(c, obj);
	char buf[256], *items[CONFIG_MAX_DNS + 1];
	size_t count;

	if (strlen(v) >= sizeof(buf))
		return set_error(err, n, "too long");
	strcpy(buf, v);
	count = split_list(buf, items, CONFIG_MAX_DNS);
	if (count == 0 || s->n_dns + count > CONFIG_MAX_DNS)
		return set_error(err, n, "between 1 and %d DNS servers", CONFIG_MAX_DNS);
	for (size_t i = 0; i < count; i++) {
		if (parse_ipv4(items[i], &s->dns[s->n_dns]) < 0)
			return set_error(err, n, "\"%s\" is not an IPv4 address", items[i]);
		s->n_dns++;
	}
	return 0;
}

static bool valid_domain(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '.'))
			return false;
	return true;
}

static int set_subnet_domain(struct config *c, void *obj, const struct config_key *k,
			     const char *v, char *err, size_t n)
{
	if (!valid_domain(v))
		return set_error(err, n, "\"%s\" is not a domain name", v);
	return set_string(&subnet_of(c, obj)->domain, v, 253, err, n);
}

static int set_subnet_lease_time(struct config *c, void *obj, const struct config_key *k,
				 const char *v, char *err, size_t n)
{
	return set_uint(&subnet_of(c, obj)->lease_time, v, 60, 365u * 86400u, err, n);
}

/* --- [boot] and [host NAME] boot keys --- */

static int set_boot_target(struct config *c, void *obj, const struct config_key *k,
			   const char *v, char *err, size_t n)
{
	struct boot_targets *b = obj ? &((struct host_config *)obj)->boot : &c->boot;

	char bad[32];

	for (const char *p = v; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return set_error(err, n, "must not contain spaces or control characters");
	if (render_check_template(v, bad, sizeof(bad)) < 0)
		return set_error(err, n, "unknown variable ${%s} (known: mac, ip, hostname, server, http)", bad);
	return set_string(&b->target[k->arg], v, CONFIG_BOOT_TARGET_MAX, err, n);
}

static int hex_digit(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

int config_parse_mac(const char *s, uint8_t mac[6])
{
	size_t len = strlen(s);
	bool separated = len == 17;
	size_t step = separated ? 3 : 2;

	/* aa:bb:cc:dd:ee:ff, aa-bb-cc-dd-ee-ff or aabbccddeeff, any case */
	if (!separated && len != 12)
		return -EINVAL;
	if (separated && s[2] != ':' && s[2] != '-')
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		int hi = hex_digit(s[i * step]), lo = hex_digit(s[i * step + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		if (separated && i < 5 && s[i * 3 + 2] != s[2])
			return -EINVAL;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static int set_host_mac(struct config *c, void *obj, const struct config_key *k,
			const char *v, char *err, size_t n)
{
	struct host_config *h = obj;

	if (config_parse_mac(v, h->mac) < 0)
		return set_error(err, n, "\"%s\" is not a MAC address like 52:54:00:12:34:56", v);
	h->has_mac = true;
	return 0;
}

static int set_host_uuid(struct config *c, void *obj, const struct config_key *k,
			 const char *v, char *err, size_t n)
{
	struct host_config *h = obj;
	size_t o = 0;

	/* 8-4-4-4-12 hex digits, dashes optional, any case */
	for (const char *p = v; *p; p++) {
		int hi, lo;
		if (*p == '-')
			continue;
		if (o == 16 || !p[1] || (hi = hex_digit(p[0])) < 0 || (lo = hex_digit(p[1])) < 0)
			return set_error(err, n, "\"%s\" is not a UUID", v);
		h->uuid[o++] = (uint8_t)(hi << 4 | lo);
		p++;
	}
	if (o != 16)
		return set_error(err, n, "\"%s\" is not a UUID", v);
	h->has_uuid = true;
	return 0;
}

static int set_host_profile(struct config *c, void *obj, const struct config_key *k,
			    const char *v, char *err, size_t n)
{
	((struct host_config *)obj)->profile_line = c->parsing_line;
	return set_string(&((struct host_config *)obj)->profile_name, v, 63, err, n);
}

static int set_boot_profile(struct config *c, void *obj, const struct config_key *k,
			    const char *v, char *err, size_t n)
{
	return set_string(&c->default_profile_name, v, 63, err, n);
}

/* --- [profile NAME] --- */

static bool is_url(const char *s)
{
	return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

static int check_boot_path(const char *v, char *err, size_t n)
{
	for (const char *p = v; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '"')
			return set_error(err, n, "must not contain spaces, quotes or control characters");
	if (!is_url(v) && (strstr(v, "..") || *v == '/'))
		return set_error(err, n, "\"%s\": paths are relative to the root, without \"..\"", v);
	return 0;
}

static int set_profile_kernel(struct config *c, void *obj, const struct config_key *k,
			      const char *v, char *err, size_t n)
{
	int r = check_boot_path(v, err, n);

	return r < 0 ? r : set_string(&((struct profile_config *)obj)->kernel, v, 255, err, n);
}

static int set_profile_initrd(struct config *c, void *obj, const struct config_key *k,
			      const char *v, char *err, size_t n)
{
	struct profile_config *p = obj;
	char buf[1024], *items[PROFILE_MAX_INITRDS + 1];
	size_t count;
	int r;

	if (strlen(v) >= sizeof(buf))
		return set_error(err, n, "too long");
	strcpy(buf, v);
	count = split_list(buf, items, PROFILE_MAX_INITRDS);
	if (count == 0 || p->n_initrd + count > PROFILE_MAX_INITRDS)
		return set_error(err, n, "between 1 and %d initrds", PROFILE_MAX_INITRDS);
	for (size_t i = 0; i < count; i++) {
		r = check_boot_path(items[i], err, n);
		if (r < 0)
			return r;
		r = set_string(&p->initrd[p->n_initrd], items[i], 255, err, n);
		if (r < 0)
			return r;
		p->n_initrd++;
	}
	return 0;
}

static int set_profile_cmdline(struct config *c, void *obj, const struct config_key *k,
			       const char *v, char *err, size_t n)
{
	char bad[32];

	for (const char *p = v; *p; p++)
		if ((unsigned char)*p < ' ' || *p == 0x7f)
			return set_error(err, n, "must not contain control characters");
	if (render_check_template(v, bad, sizeof(bad)) < 0)
		return set_error(err, n, "unknown variable ${%s} (known: mac, ip, hostname, server, http)", bad);
	return set_string(&((struct profile_config *)obj)->cmdline, v, 1024, err, n);
}

static int set_host_ip(struct config *c, void *obj, const struct config_key *k,
		       const char *v, char *err, size_t n)
{
	return set_ipv4(&((struct host_config *)obj)->ip, v, err, n);
}

static int set_host_hostname(struct config *c, void *obj, const struct config_key *k,
			     const char *v, char *err, size_t n)
{
	if (!valid_domain(v))
		return set_error(err, n, "\"%s\" is not a host name", v);
	return set_string(&((struct host_config *)obj)->hostname, v, 63, err, n);
}

#define BOOT_KEYS(sec, with_flag)                                                       \
	{ sec, "bios", with_flag ? "boot-bios" : NULL,                                  \
	  "boot file for BIOS PXE clients (option 93 = 0; default pxelinux/pxelinux.0)", \
	  set_boot_target, BOOT_TARGET_BIOS, false },                                   \
	{ sec, "uefi-ia32", with_flag ? "boot-uefi-ia32" : NULL,                        \
	  "boot file for 32-bit UEFI (arch 6)", set_boot_target, BOOT_TARGET_UEFI_IA32, false }, \
	{ sec, "uefi-x64", with_flag ? "boot-uefi-x64" : NULL,                          \
	  "boot file for x64 UEFI (arch 7, 9)", set_boot_target, BOOT_TARGET_UEFI_X64, false }, \
	{ sec, "uefi-arm32", with_flag ? "boot-uefi-arm32" : NULL,                      \
	  "boot file for ARM32 UEFI (arch 10)", set_boot_target, BOOT_TARGET_UEFI_ARM32, false }, \
	{ sec, "uefi-arm64", with_flag ? "boot-uefi-arm64" : NULL,                      \
	  "boot file for ARM64 UEFI (arch 11)", set_boot_target, BOOT_TARGET_UEFI_ARM64, false }, \
	{ sec, "http-x64", with_flag ? "boot-http-x64" : NULL,                          \
	  "URL for x64 UEFI HTTP boot (arch 16)", set_boot_target, BOOT_TARGET_HTTP_X64, false }, \
	{ sec, "http-arm64", with_flag ? "boot-http-arm64" : NULL,                      \
	  "URL for ARM64 UEFI HTTP boot (arch 19)", set_boot_target, BOOT_TARGET_HTTP_ARM64, false }, \
	{ sec, "ipxe", with_flag ? "boot-ipxe" : NULL,                                  \
	  "file or URL for clients already running iPXE (default: served as their firmware)", \
	  set_boot_target, BOOT_TARGET_IPXE, false }

/* --- `option = CODE TYPE VALUE`: DHCP options kidou does not set itself --- */

/* The options kidou writes itself, and what to use instead. */
static const char *own_option(unsigned code)
{
	switch (code) {
	case 1: return "the interface's or [subnet] network's mask";
	case 3: return "router";
	case 6: return "dns";
	case 12: return "[host] hostname";
	case 15: return "domain";
	case 43: return "PXE discovery control";
	case 50 ... 61: return "the DHCP exchange itself";
	case 66: return "next-server";
	case 67: return "the [boot] targets";
	case 82: return "the relay agent's own";
	case 97: return "the client's UUID, echoed";
	default: return NULL;
	}
}

/* The value of an option of TYPE: ip (a comma-separated list), string,
 * u8, u16, u32 (big-endian, as on the wire) or hex (digits, ':' allowed
 * between bytes). */
static int encode_option_value(const char *type, const char *v, struct dhcp_option_config *o,
			       char *err, size_t n)
{
	uint64_t x;
	unsigned width = strcmp(type, "u8") == 0 ? 1 : strcmp(type, "u16") == 0 ? 2 :
			 strcmp(type, "u32") == 0 ? 4 : 0;

	if (width) {
		if (parse_uint(v, 0, width == 4 ? UINT32_MAX : (1ull << (8 * width)) - 1, &x) < 0)
			return set_error(err, n, "\"%s\" is not a %s", v, type);
		o->len = (uint8_t)width;
		for (unsigned i = 0; i < width; i++)
			o->data[i] = (uint8_t)(x >> (8 * (width - 1 - i)));
	} else if (strcmp(type, "string") == 0) {
		size_t len = strlen(v);
		if (len == 0 || len > sizeof(o->data))
			return set_error(err, n, "a string option is 1..255 bytes");
		memcpy(o->data, v, len);
		o->len = (uint8_t)len;
	} else if (strcmp(type, "ip") == 0) {
		char buf[1024], *items[64];
		size_t count;

		if (strlen(v) >= sizeof(buf))
			return set_error(err, n, "too long");
		strcpy(buf, v);
		count = split_list(buf, items, 63);
		if (count == 0 || count > 63)
			return set_error(err, n, "1..63 IPv4 addresses");
		for (size_t i = 0; i < count; i++) {
			uint32_t a;
			if (parse_ipv4(items[i], &a) < 0)
				return set_error(err, n, "\"%s\" is not an IPv4 address", items[i]);
			a = htonl(a);
			memcpy(o->data + 4 * i, &a, 4);
		}
		o->len = (uint8_t)(4 * count);
	} else if (strcmp(type, "hex") == 0) {
		size_t len = 0;

		for (const char *p = v; *p;) {
			int hi = hex_digit(p[0]), lo = hi < 0 ? -1 : hex_digit(p[1]);
			if (lo < 0 || len == sizeof(o->data))
				return set_error(err, n, "\"%s\" is not 1..255 bytes of hex", v);
			o->data[len++] = (uint8_t)(hi << 4 | lo);
			p += 2;
			if (*p == ':' && p[1])
				p++;
		}
		if (len == 0)
			return set_error(err, n, "\"%s\" is not 1..255 bytes of hex", v);
		o->len = (uint8_t)len;
	} else {
		return set_error(err, n, "\"%s\" is not a type (ip, string, u8, u16, u32, hex)",
				 type);
	}
	return 0;
}

static int set_option(struct config *c, void *obj, const struct config_key *k,
		      const char *v, char *err, size_t n)
{
	struct dhcp_option_config o = { 0 }, **list, **at;
	char code_s[16], type[16];
	const char *rest, *why;
	uint64_t code;
	int used = 0;

	if (sscanf(v, "%15s %15s %n", code_s, type, &used) != 2 || !used || !v[used])
		return set_error(err, n, "\"%s\" is not CODE TYPE VALUE", v);
	rest = v + used;
	if (parse_uint(code_s, 1, 254, &code) < 0)
		return set_error(err, n, "\"%s\" is not an option code in 1..254", code_s);
	why = own_option((unsigned)code);
	if (why)
		return set_error(err, n, "option %u is kidou's own (%s)", (unsigned)code, why);
	o.code = (uint8_t)code;
	if (encode_option_value(type, rest, &o, err, n) < 0)
		return -EINVAL;
	list = k->section == SEC_HOST ? &((struct host_config *)obj)->options :
	       &subnet_of(c, obj)->options;
	/* The same code again in one section: the later line wins, as for
	 * every other key. */
	for (at = list; *at && (*at)->code != o.code; at = &(*at)->next)
		;
	if (!*at) {
		*at = calloc(1, sizeof(**at));
		if (!*at)
			return -ENOMEM;
	}
	o.next = (*at)->next;
	**at = o;
	return 0;
}

static const struct config_key config_keys[] = {
	{ SEC_DAEMON, "log-level", "log-level",
	  "debug | info | warn | error (default info)", set_log_level, 0, false },
	{ SEC_DAEMON, "user", "user",
	  "when started as root, drop to this user after opening sockets (default: stay)",
	  set_user, 0, false },
	{ SEC_DAEMON, "timeline-idle", "timeline-idle",
	  "seconds of quiet after which a machine's boot is summarised as done or stalled (default 20)",
	  set_timeline_idle, 0, false },
	{ SEC_DAEMON, "busy-poll", "busy-poll",
	  "microseconds the event loop may spin for the next packet before sleeping, "
	  "while packets come that fast (0: never; default 100)",
	  set_busy_poll, 0, false },
	{ SEC_DAEMON, "seccomp", "seccomp",
	  "yes | no: once started, allow only the system calls kidou serves with; "
	  "any other kills it (default yes)",
	  set_seccomp, 0, false },
	{ SEC_TFTP, "root", "tftp-root",
	  "directory served over TFTP (default ./tftpboot)", set_tftp_root, 0, false },
	{ SEC_TFTP, "listen", "tftp-listen",
	  "ADDR:PORT the TFTP server listens on (default 0.0.0.0:69)", set_tftp_listen, 0, false },
	{ SEC_TFTP, "max-transfers", "tftp-max-transfers",
	  "concurrent transfers; more are refused with an error (default 1000)",
	  set_tftp_max_transfers, 0, false },
	{ SEC_TFTP, "retransmit-ms", "tftp-retransmit-ms",
	  "milliseconds before unacknowledged data is resent, unless the client negotiates a timeout (10..255000, default 1000)",
	  set_tftp_retransmit_ms, 0, false },
	{ SEC_TFTP, "retries", "tftp-retries",
	  "retransmissions before a transfer is abandoned (default 6)", set_tftp_retries, 0, false },
	{ SEC_TFTP, "max-blksize", "tftp-max-blksize",
	  "larger blksize requests are clamped to this (512..65464, default 65464)",
	  set_tftp_max_blksize, 0, false },
	{ SEC_TFTP, "max-windowsize", "tftp-max-windowsize",
	  "larger windowsize requests are clamped to this (1..1024, default 64)",
	  set_tftp_max_windowsize, 0, false },

	{ SEC_HTTP, "listen", "http-listen",
	  "ADDR:PORT the HTTP server listens on (HTTP is off unless set)", set_http_listen, 0, false },
	{ SEC_HTTP, "root", "http-root",
	  "directory served over HTTP (default: the TFTP root)", set_http_root, 0, false },
	{ SEC_HTTP, "max-connections", "http-max-connections",
	  "concurrent HTTP connections (default 1000)", set_http_max_connections, 0, false },
	{ SEC_HTTP, "idle-timeout", "http-idle-timeout",
	  "seconds before a silent connection is closed, complete request or not (default 30)",
	  set_http_idle_timeout, 0, false },
	{ SEC_HTTP, "header-timeout", "http-header-timeout",
	  "seconds a request's headers may take, from the connection's start or the end of its previous request (default 10)",
	  set_http_header_timeout, 0, false },
	{ SEC_HTTP, "max-connections-per-address", "http-max-connections-per-address",
	  "concurrent HTTP connections from one client address; more get 503 (default 16)",
	  set_http_max_per_address, 0, false },

	{ SEC_DHCP, "interface", "dhcp-interface",
	  "serve DHCP on this interface; repeatable or comma-separated (DHCP is off without one)",
	  set_dhcp_interface, 0, true },
	{ SEC_DHCP, "mode", "dhcp-mode",
	  "server | proxy: proxy answers only network boot firmware, with where to boot "
	  "from, beside another DHCP server that hands out the addresses (default server)",
	  set_dhcp_mode, 0, false },
	{ SEC_DHCP, "listen", "dhcp-listen",
	  "ADDR:PORT the DHCP server binds (default 0.0.0.0:67)", set_dhcp_listen, 0, false },
	{ SEC_DHCP, "range", "dhcp-range",
	  "FIRST LAST: addresses handed out on the interfaces' subnet", set_subnet_range, 0, false },
	{ SEC_DHCP, "lease-time", "dhcp-lease-time",
	  "lease length in seconds (60.., default 3600)", set_subnet_lease_time, 0, false },
	{ SEC_DHCP, "router", "dhcp-router", "default gateway (option 3)", set_subnet_router, 0, false },
	{ SEC_DHCP, "dns", "dhcp-dns", "DNS servers (option 6), comma-separated, up to 4",
	  set_subnet_dns, 0, true },
	{ SEC_DHCP, "domain", "dhcp-domain", "domain name (option 15)", set_subnet_domain, 0, false },
	{ SEC_DHCP, "database", "dhcp-database",
	  "SQLite lease database (default ./kidou-leases.db)", set_dhcp_database, 0, false },
	{ SEC_DHCP, "database-busy-timeout", "dhcp-database-busy-timeout",
	  "seconds a lease commit waits for a lock another process holds on the database before it fails (0..3600, default 5); only the lease writer waits",
	  set_dhcp_busy_timeout, 0, false },
	{ SEC_DHCP, "offer-hold", "dhcp-offer-hold",
	  "seconds an offered address is reserved for its client (default 30)",
	  set_dhcp_offer_hold, 0, false },
	{ SEC_DHCP, "decline-hold", "dhcp-decline-hold",
	  "seconds a declined address is not offered (default 600)", set_dhcp_decline_hold, 0, false },
	{ SEC_DHCP, "authoritative", "dhcp-authoritative",
	  "yes | no: kidou is the only DHCP server here, so a REQUEST from a client it has no "
	  "record of (its database was lost) is ACKed when the address is free in the range "
	  "and NAKed when it is not; no stays silent, as RFC 2131 4.3.2 asks (default no)",
	  set_dhcp_authoritative, 0, false },
	{ SEC_DHCP, "next-server", "dhcp-next-server",
	  "TFTP server told to clients (siaddr, option 66; default: the receiving interface's address)",
	  set_dhcp_next_server, 0, false },
	{ SEC_DHCP, "ipv6-ra", "dhcp-ipv6-ra",
	  "auto | off | always: answer IPv6 router solicitations with \"no router here\" so iPXE stops waiting; auto stays silent where another router advertises (default auto)",
	  set_dhcp_ipv6_ra, 0, false },

	{ SEC_DHCP, "option", NULL,
	  "CODE TYPE VALUE: another DHCP option, sent when the client asks for it; TYPE is "
	  "ip, string, u8, u16, u32 or hex; repeatable (also in [subnet] and [host])",
	  set_option, 0, false },

	{ SEC_SUBNET, "network", NULL, "ADDRESS/BITS of a subnet behind a relay (required)",
	  set_subnet_network, 0, false },
	{ SEC_SUBNET, "range", NULL, "FIRST LAST", set_subnet_range, 0, false },
	{ SEC_SUBNET, "router", NULL, "default gateway", set_subnet_router, 0, false },
	{ SEC_SUBNET, "dns", NULL, "DNS servers", set_subnet_dns, 0, true },
	{ SEC_SUBNET, "domain", NULL, "domain name", set_subnet_domain, 0, false },
	{ SEC_SUBNET, "lease-time", NULL, "seconds", set_subnet_lease_time, 0, false },
	{ SEC_SUBNET, "option", NULL, "CODE TYPE VALUE, as in [dhcp]; wins over [dhcp]'s",
	  set_option, 0, false },

	BOOT_KEYS(SEC_BOOT, true),
	{ SEC_BOOT, "profile", "boot-profile",
	  "the [profile] for machines without one of their own (default: none, they get no rendered config)",
	  set_boot_profile, 0, false },

	{ SEC_HOST, "mac", NULL, "the machine's MAC address (required)", set_host_mac, 0, false },
	{ SEC_HOST, "ip", NULL, "fixed address", set_host_ip, 0, false },
	{ SEC_HOST, "hostname", NULL, "host name sent in option 12", set_host_hostname, 0, false },
	{ SEC_HOST, "uuid", NULL, "SMBIOS UUID (option 97), matched when the MAC is not", set_host_uuid, 0, false },
	{ SEC_HOST, "profile", NULL, "the [profile] this machine boots", set_host_profile, 0, false },
	{ SEC_HOST, "option", NULL, "CODE TYPE VALUE, as in [dhcp]; wins over its subnet's",
	  set_option, 0, false },
	{ SEC_PROFILE, "kernel", NULL, "kernel: a path under the root or an http(s) URL (required)",
	  set_profile_kernel, 0, false },
	{ SEC_PROFILE, "initrd", NULL, "initrd(s): paths or URLs, repeatable or comma-separated",
	  set_profile_initrd, 0, true },
	{ SEC_PROFILE, "cmdline", NULL, "kernel command line; ${mac} ${ip} ${hostname} ${server} ${http}",
	  set_profile_cmdline, 0, false },
	BOOT_KEYS(SEC_HOST, false),
};

const char *boot_target_key(enum boot_target t)
{
	static const char *const keys[] = {
		[BOOT_TARGET_BIOS] = "bios", [BOOT_TARGET_UEFI_IA32] = "uefi-ia32",
		[BOOT_TARGET_UEFI_X64] = "uefi-x64", [BOOT_TARGET_UEFI_ARM32] = "uefi-arm32",
		[BOOT_TARGET_UEFI_ARM64] = "uefi-arm64", [BOOT_TARGET_HTTP_X64] = "http-x64",
		[BOOT_TARGET_HTTP_ARM64] = "http-arm64", [BOOT_TARGET_IPXE] = "ipxe",
	};
	return t < BOOT_TARGET_COUNT ? keys[t] : "?";
}

void config_print_keys(FILE *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(config_keys); i++) {
		const struct config_key *k = &config_keys[i];
		if (k->flag)
			fprintf(out, "  --%-22s [%s] %s\n      %s\n", k->flag,
				section_names[k->section], k->key, k->help);
	}
	fprintf(out, "  --interface IFACE         same as --dhcp-interface\n");
	fprintf(out, "\nFile-only keys:\n");
	for (size_t i = 0; i < ARRAY_SIZE(config_keys); i++) {
		const struct config_key *k = &config_keys[i];
		bool named = k->section == SEC_SUBNET || k->section == SEC_HOST ||
			     k->section == SEC_PROFILE;
		if (!k->flag && k->set != set_boot_target)
			fprintf(out, "  [%s%s] %-10s %s\n", section_names[k->section],
				named ? " NAME" : "", k->key, k->help);
	}
	fprintf(out, "  [host NAME] bios, uefi-x64, ..., ipxe: per-machine boot files, as in [boot]\n");
}

static const struct config_key *config_key_by_flag(const char *flag)
{
	if (strcmp(flag, "interface") == 0)
		flag = "dhcp-interface";
	for (size_t i = 0; i < ARRAY_SIZE(config_keys); i++)
		if (config_keys[i].flag && strcmp(config_keys[i].flag, flag) == 0)
			return &config_keys[i];
	return NULL;
}

int config_flag_known(const char *flag)
{
	return config_key_by_flag(flag) ? 0 : -ENOENT;
}

static void config_defaults(struct config *c)
{
	c->log_level = LOG_LEVEL_INFO;
	c->tftp.listen.sin_family = AF_INET;
	c->tftp.listen.sin_addr.s_addr = htonl(INADDR_ANY);
	c->tftp.listen.sin_port = htons(69);
	c->tftp.max_transfers = 1000;
	c->tftp.retransmit_ms = 1000;
	c->tftp.retries = 6;
	c->tftp.max_blksize = TFTP_BLKSIZE_MAX;
	c->tftp.max_windowsize = 64;
	c->dhcp.listen.sin_family = AF_INET;
	c->dhcp.listen.sin_addr.s_addr = htonl(INADDR_ANY);
	c->dhcp.listen.sin_port = htons(67);
	c->http.max_connections = 1000;
	c->http.idle_timeout_sec = 30;
	c->http.header_timeout_sec = 10;
	c->http.max_connections_per_address = 16;
	c->dhcp.offer_hold_sec = 30;
	c->dhcp.database_busy_timeout_sec = 5;  /* LEASE_STORE_BUSY_TIMEOUT_MS */
	c->dhcp.ipv6_ra = IPV6_RA_AUTO;
	c->timeline_idle_sec = 20;
	c->busy_poll_usec = 100;
	c->dhcp.decline_hold_sec = 600;
	c->dhcp.local.lease_time = 3600;
}

/* --- the INI file: a line-counting reader so errors name their line --- */

struct ini_state {
	struct config *config;
	FILE *file;
	const char *path;
	unsigned line;
	unsigned section_line; /* line of the latest [section] header */
	int error;
	unsigned error_line;   /* line of the error in err */
	char *err;
	size_t errsize;
};

static void discard_rest_of_line(FILE *f)
{
	int ch;

	while ((ch = getc(f)) != EOF && ch != '\n')
		;
}

/* fgets() for libinih, counting lines. libinih's line buffer is small
 * (200 bytes); a longer line would be parsed as two, so a long comment is
 * cut short and any other long line is an error at its own line. */
static char *ini_read_line(char *buf, int size, void *stream)
{
	struct ini_state *st = stream;
	char *s = fgets(buf, size, st->file);
	size_t len;
	const char *p;

	if (!s)
		return NULL;
	st->line++;
	for (p = s; *p == ' ' || *p == '\t'; p++)
		;
	if (*p == '[')
		st->section_line = st->line;
	len = strlen(s);
	if (len == 0 || s[len - 1] == '\n' || feof(st->file))
		return s;
	discard_rest_of_line(st->file);
	for (p = s; *p == ' ' || *p == '\t'; p++)
		;
	if (*p == ';' || *p == '#')
		return s;
	if (!st->error) {
		st->error = -EINVAL;
		st->error_line = st->line;
		snprintf(st->err, st->errsize, "%s:%u: line longer than %d characters",
			 st->path, st->line, size - 2);
	}
	return NULL;  /* stop parsing */
}

static void free_options(struct dhcp_option_config *o)
{
	while (o) {
		struct dhcp_option_config *next = o->next;
		free(o);
		o = next;
	}
}

static void free_subnet_fields(struct dhcp_subnet_config *s)
{
	free(s->name);
	free(s->domain);
	free_options(s->options);
}

static void *find_or_add_named(struct ini_state *st, enum section_kind kind,
			       const char *name)
{
	struct config *c = st->config;

	if (kind == SEC_PROFILE) {
		struct profile_config **tail = &c->profiles;
		for (struct profile_config *p = c->profiles; p; p = p->next) {
			if (strcmp(p->name, name) == 0)
				return p;
			tail = &p->next;
		}
		struct profile_config *p = calloc(1, sizeof(*p));
		if (!p || !(p->name = strdup(name))) {
			free(p);
			return NULL;
		}
		p->line = st->section_line;
		*tail = p;
		return p;
	}
	if (kind == SEC_HOST) {
		struct host_config **tail = &c->hosts;
		for (struct host_config *h = c->hosts; h; h = h->next) {
			if (strcmp(h->name, name) == 0)
				return h;
			tail = &h->next;
		}
		struct host_config *h = calloc(1, sizeof(*h));
		if (!h || !(h->name = strdup(name))) {
			free(h);
			return NULL;
		}
		h->line = st->section_line;
		*tail = h;
		return h;
	}
	struct dhcp_subnet_config **tail = &c->dhcp.subnets;
	for (struct dhcp_subnet_config *s = c->dhcp.subnets; s; s = s->next) {
		if (strcmp(s->name, name) == 0)
			return s;
		tail = &s->next;
	}
	struct dhcp_subnet_config *s = calloc(1, sizeof(*s));
	if (!s || !(s->name = strdup(name))) {
		free(s);
		return NULL;
	}
	s->line = st->section_line;
	s->lease_time = 3600;
	*tail = s;
	return s;
}

/* "host web1" -> SEC_HOST, "web1"; "tftp" -> SEC_TFTP, NULL. */
static int parse_section(const char *section, enum section_kind *kind, const char **name)
{
	for (size_t i = 0; i < ARRAY_SIZE(section_names); i++) {
		size_t n = strlen(section_names[i]);
		bool named = i == SEC_HOST || i == SEC_SUBNET || i == SEC_PROFILE;

		if (strncmp(section, section_names[i], n) != 0)
			continue;
		if (!named && section[n] == '\0') {
			*kind = (enum section_kind)i;
			*name = NULL;
			return 0;
		}
		if (named && section[n] == ' ') {
			const char *nm = section + n + 1;
			while (*nm == ' ')
				nm++;
			if (!*nm || strlen(nm) > 63 || !valid_domain(nm))
				return -EINVAL;
			*kind = (enum section_kind)i;
			*name = nm;
			return 0;
		}
	}
	return -ENOENT;
}

static int ini_on_key(void *user, const char *section, const char *name,
		      const char *value)
{
	struct ini_state *st = user;
	enum section_kind kind;
	const char *sname;
	void *obj = NULL;
	char msg[256];
	int r;

	if (st->error)
		return 0;
	st->error = -EINVAL;
	st->error_line = st->line;
	if (!*section) {
		snprintf(st->err, st->errsize, "%s:%u: %s: key outside any [section]",
			 st->path, st->line, name);
		return 0;
	}
	r = parse_section(section, &kind, &sname);
	if (r < 0) {
		snprintf(st->err, st->errsize, "%s:%u: [%s]: %s", st->path, st->line, section,
			 r == -EINVAL ? "needs a name of letters, digits, '-' and '.'"
				      : "unknown section");
		return 0;
	}
	if (sname) {
		obj = find_or_add_named(st, kind, sname);
		if (!obj) {
			st->error = -ENOMEM;
			snprintf(st->err, st->errsize, "%s:%u: out of memory", st->path, st->line);
			return 0;
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(config_keys); i++) {
		const struct config_key *k = &config_keys[i];
		if (k->section != kind || strcmp(k->key, name) != 0)
			continue;
		st->config->parsing_line = st->line;
		r = k->set(st->config, obj, k, value, msg, sizeof(msg));
		if (r < 0) {
			st->error = r;
			snprintf(st->err, st->errsize, "%s:%u: [%s] %s: %s", st->path,
				 st->line, section, name, r == -ENOMEM ? "out of memory" : msg);
			return 0;
		}
		st->error = 0;
		return 1;
	}
	snprintf(st->err, st->errsize, "%s:%u: [%s] %s: unknown key",
		 st->path, st->line, section, name);
	return 0;
}

static int config_read_file(struct config *c, const char *path, char *err,
			    size_t errsize)
{
	struct ini_state st = { .config = c, .path = path, .err = err,
				.errsize = errsize };
	int r;

	struct stat sb;
	bool read_error;

	st.file = fopen(path, "re");
	if (!st.file) {
		r = -errno;
		snprintf(err, errsize, "%s: cannot open config file: %s", path,
			 strerror(errno));
		return r;
	}
	if (fstat(fileno(st.file), &sb) < 0 || !S_ISREG(sb.st_mode)) {
		fclose(st.file);
		snprintf(err, errsize, "%s: cannot open config file: not a regular file", path);
		return -EINVAL;
	}
	r = ini_parse_stream(ini_read_line, &st, ini_on_key, &st);
	read_error = ferror(st.file);
	fclose(st.file);
	/* libinih reports the first bad line; if that is a syntax error
	 * before the key we complained about, the syntax error comes first. */
	if (st.error && !(r > 0 && (unsigned)r < st.error_line))
		return st.error;
	if (read_error) {
		snprintf(err, errsize, "%s: cannot read config file", path);
		return -EIO;
	}
	if (r > 0) {
		snprintf(err, errsize, "%s:%d: syntax error (expected [section] or key = value)",
			 path, r);
		return -EINVAL;
	}
	if (r < 0) {
		snprintf(err, errsize, "%s: cannot read config file", path);
		return -EIO;
	}
	return 0;
}

/* --- whole-config checks, after file and flags --- */

static bool in_subnet(uint32_t ip, uint32_t network, uint32_t mask)
{
	return (ip & mask) == network;
}

static const struct profile_config *config_profile_by_name(const struct config *c,
							  const char *name)
{
	for (const struct profile_config *p = c->profiles; p; p = p->next)
		if (strcmp(p->name, name) == 0)
			return p;
	return NULL;
}

const struct host_config *config_host_by_mac(const struct config *c, const uint8_t mac[6])
{
	for (const struct host_config *h = c->hosts; h; h = h->next)
		if (h->has_mac && memcmp(h->mac, mac, 6) == 0)
			return h;
	return NULL;
}

const struct host_config *config_host_by_uuid(const struct config *c, const uint8_t uuid[16])
{
	for (const struct host_config *h = c->hosts; h; h = h->next)
		if (h->has_uuid && memcmp(h->uuid, uuid, 16) == 0)
			return h;
	return NULL;
}

/* The subnet setting a proxy cannot honour, or NULL. */
static const char *proxy_refuses(const struct dhcp_subnet_config *s)
{
	return s->range_first ? "range" : s->router ? "router" : s->n_dns ? "dns" :
	       s->domain ? "domain" : NULL;
}

static int config_validate(struct config *c, char *err, size_t errsize)
{
	const char *file = c->path ? c->path : "(flags)";
	struct dhcp_subnet_config *local = &c->dhcp.local;

	c->dhcp.enabled = c->dhcp.n_interfaces > 0;
	if (!c->dhcp.enabled && (local->range_first || c->dhcp.subnets)) {
		snprintf(err, errsize, "%s: [dhcp] range and [subnet] need [dhcp] interface "
			 "(kidou serves DHCP only on interfaces it is told)", file);
		return -EINVAL;
	}
	if (c->dhcp.mode == DHCP_MODE_PROXY) {
		const char *bad = proxy_refuses(local);
		if (bad) {
			snprintf(err, errsize, "%s: [dhcp] %s: no meaning in proxy mode (the other "
				 "DHCP server hands out addresses and network settings)", file, bad);
			return -EINVAL;
		}
		/* A [subnet] only names a network whose relays may ask. */
		for (struct dhcp_subnet_config *s = c->dhcp.subnets; s; s = s->next) {
			bad = proxy_refuses(s);
			if (bad) {
				snprintf(err, errsize, "%s:%u: [subnet %s] %s: no meaning in proxy "
					 "mode (only network is)", file, s->line, s->name, bad);
				return -EINVAL;
			}
		}
	}
	for (struct dhcp_subnet_config *s = c->dhcp.subnets; s; s = s->next) {
		if (!s->netmask) {
			snprintf(err, errsize, "%s:%u: [subnet %s]: network is required", file,
				 s->line, s->name);
			return -EINVAL;
		}
		if (s->range_first && (!in_subnet(s->range_first, s->network, s->netmask) ||
				       !in_subnet(s->range_last, s->network, s->netmask))) {
			snprintf(err, errsize, "%s:%u: [subnet %s]: range is outside its network",
				 file, s->line, s->name);
			return -EINVAL;
		}
	}
	for (struct profile_config *p = c->profiles; p; p = p->next) {
		if (!p->kernel) {
			snprintf(err, errsize, "%s:%u: [profile %s]: kernel is required", file,
				 p->line, p->name);
			return -EINVAL;
		}
	}
	if (c->default_profile_name) {
		c->default_profile = config_profile_by_name(c, c->default_profile_name);
		if (!c->default_profile) {
			snprintf(err, errsize, "%s: [boot] profile: no [profile %s]", file,
				 c->default_profile_name);
			return -EINVAL;
		}
	}
	for (struct host_config *h = c->hosts; h; h = h->next) {
		if (!h->has_mac && !h->has_uuid) {
			snprintf(err, errsize, "%s:%u: [host %s]: mac (or uuid) is required", file,
				 h->line, h->name);
			return -EINVAL;
		}
		if (h->ip && c->dhcp.mode == DHCP_MODE_PROXY) {
			snprintf(err, errsize, "%s:%u: [host %s]: ip: a proxy hands out no "
				 "addresses (give the fixed address in the other DHCP server)",
				 file, h->line, h->name);
			return -EINVAL;
		}
		if (h->profile_name) {
			h->profile = config_profile_by_name(c, h->profile_name);
			if (!h->profile) {
				snprintf(err, errsize, "%s:%u: [host %s] profile: no [profile %s]",
					 file, h->profile_line ? h->profile_line : h->line, h->name,
					 h->profile_name);
				return -EINVAL;
			}
		}
		for (struct host_config *o = c->hosts; o != h; o = o->next) {
			if (h->has_mac && o->has_mac && memcmp(o->mac, h->mac, 6) == 0) {
				snprintf(err, errsize, "%s:%u: [host %s]: same mac as [host %s]",
					 file, h->line, h->name, o->name);
				return -EINVAL;
			}
			if (h->has_uuid && o->has_uuid && memcmp(o->uuid, h->uuid, 16) == 0) {
				snprintf(err, errsize, "%s:%u: [host %s]: same uuid as [host %s]",
					 file, h->line, h->name, o->name);
				return -EINVAL;
			}
			if (h->ip && o->ip == h->ip) {
				snprintf(err, errsize, "%s:%u: [host %s]: same ip as [host %s]",
					 file, h->line, h->name, o->name);
				return -EINVAL;
			}
		}
	}
	return 0;
}

static void free_boot_targets(struct boot_targets *b)
{
	for (int i = 0; i < BOOT_TARGET_COUNT; i++)
		free(b->target[i]);
}

void config_free(struct config *c)
{
	if (!c)
		return;
	free(c->path);
	free(c->user);
	free(c->tftp.root);
	free(c->http.root);
	for (unsigned i = 0; i < c->dhcp.n_interfaces; i++)
		free(c->dhcp.interfaces[i]);
	free(c->dhcp.database);
	free_subnet_fields(&c->dhcp.local);
	while (c->dhcp.subnets) {
		struct dhcp_subnet_config *s = c->dhcp.subnets;
		c->dhcp.subnets = s->next;
		free_subnet_fields(s);
		free(s);
	}
	while (c->profiles) {
		struct profile_config *p = c->profiles;
		c->profiles = p->next;
		free(p->name);
		free(p->kernel);
		for (unsigned i = 0; i < p->n_initrd; i++)
			free(p->initrd[i]);
		free(p->cmdline);
		free(p);
	}
	free(c->default_profile_name);
	while (c->hosts) {
		struct host_config *h = c->hosts;
		c->hosts = h->next;
		free(h->name);
		free(h->hostname);
		free(h->profile_name);
		free_boot_targets(&h->boot);
		free_options(h->options);
		free(h);
	}
	free_boot_targets(&c->boot);
	free(c);
}

/* A flag for a repeatable key replaces the file's values. */
static void clear_list(struct config *c, const struct config_key *k)
{
	if (k->set == set_dhcp_interface) {
		for (unsigned i = 0; i < c->dhcp.n_interfaces; i++)
			free(c->dhcp.interfaces[i]);
		c->dhcp.n_interfaces = 0;
	} else if (k->set == set_subnet_dns) {
		c->dhcp.local.n_dns = 0;
	}
}

static int set_default_string(char **slot, const char *value)
{
	if (*slot)
		return 0;
	*slot = strdup(value);
	return *slot ? 0 : -ENOMEM;
}

int config_build(const char *path, const struct config_override *overrides,
		 size_t n_overrides, struct config **ret, char *err, size_t errsize)
{
	struct config *c = calloc(1, sizeof(*c));
	bool cleared[ARRAY_SIZE(config_keys)] = { false };
	char msg[256];
	int r;

	if (!c)
		return -ENOMEM;
	config_defaults(c);
	if (path) {
		c->path = strdup(path);
		if (!c->path) {
			r = -ENOMEM;
			goto fail;
		}
		r = config_read_file(c, path, err, errsize);
		if (r < 0)
			goto fail;
	}
	for (size_t i = 0; i < n_overrides; i++) {
		const struct config_key *k = config_key_by_flag(overrides[i].flag);
		if (!k) {
			snprintf(err, errsize, "--%s: unknown option", overrides[i].flag);
			r = -EINVAL;
			goto fail;
		}
		if (k->repeatable && !cleared[k - config_keys]) {
			clear_list(c, k);
			cleared[k - config_keys] = true;
		}
		r = k->set(c, NULL, k, overrides[i].value, msg, sizeof(msg));
		if (r < 0) {
			snprintf(err, errsize, "--%s: %s", k->flag, msg);
			goto fail;
		}
	}
	if (set_default_string(&c->tftp.root, "./tftpboot") < 0 ||
	    set_default_string(&c->http.root, c->tftp.root) < 0 ||
	    set_default_string(&c->dhcp.database, "./kidou-leases.db") < 0 ||
	    set_default_string(&c->boot.target[BOOT_TARGET_BIOS], "pxelinux/pxelinux.0") < 0 ||
	    set_default_string(&c->dhcp.local.name, "") < 0) {
		r = -ENOMEM;
		goto fail;
	}
	r = config_validate(c, err, errsize);
	if (r < 0)
		goto fail;
	*ret = c;
	return 0;
fail:
	config_free(c);
	return r;
}
