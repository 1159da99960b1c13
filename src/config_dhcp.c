/* config_dhcp.c - setters of [dhcp], [subnet NAME] and the `option` key
 * (see config_internal.h; the table itself is in config.c). */
#include "config_internal.h"

#include "net.h"
#include "store/lease_store.h"

/* --- [dhcp] and [subnet NAME] --- */

static struct dhcp_subnet_config *subnet_of(struct config *c, void *obj)
{
	return obj ? obj : &c->dhcp.local;
}

int set_dhcp_interface(struct config *c, void *obj, const struct config_key *k,
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

int set_dhcp_listen(struct config *c, void *obj, const struct config_key *k,
		    const char *v, char *err, size_t n)
{
	if (net_parse_endpoint(v, &c->dhcp.listen) < 0)
		return set_error(err, n, "\"%s\" is not ADDR:PORT (IPv4)", v);
	return 0;
}

int set_dhcp_database(struct config *c, void *obj, const struct config_key *k,
		      const char *v, char *err, size_t n)
{
	/* A password in the config ends up in backups, logs and ps: libpq
	 * reads it from a passfile (PGPASSFILE) instead. */
	if (lease_store_is_pg(v) && lease_store_uri_has_password(v))
		return set_error(err, n, "a password in the PostgreSQL URI is refused: put it in "
				 "a passfile (PGPASSFILE or ~/.pgpass)");
	return set_string(&c->dhcp.database, v, 4096, err, n);
}

int set_dhcp_ipv6_ra(struct config *c, void *obj, const struct config_key *k,
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

int set_dhcp_mode(struct config *c, void *obj, const struct config_key *k,
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

int set_dhcp_offer_hold(struct config *c, void *obj, const struct config_key *k,
			const char *v, char *err, size_t n)
{
	return set_uint(&c->dhcp.offer_hold_sec, v, 1, 3600, err, n);
}

int set_dhcp_decline_hold(struct config *c, void *obj, const struct config_key *k,
			  const char *v, char *err, size_t n)
{
	return set_uint(&c->dhcp.decline_hold_sec, v, 1, 86400, err, n);
}

int set_dhcp_busy_timeout(struct config *c, void *obj, const struct config_key *k,
			  const char *v, char *err, size_t n)
{
	return set_uint(&c->dhcp.database_busy_timeout_sec, v, 0, 3600, err, n);
}

int set_dhcp_authoritative(struct config *c, void *obj, const struct config_key *k,
			   const char *v, char *err, size_t n)
{
	return set_yes_no(&c->dhcp.authoritative, v, err, n);
}

int set_dhcp_next_server(struct config *c, void *obj, const struct config_key *k,
			 const char *v, char *err, size_t n)
{
	return set_ipv4(&c->dhcp.next_server, v, err, n);
}

int set_subnet_range(struct config *c, void *obj, const struct config_key *k,
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
	s->range_line = c->parsing_line;
	return 0;
}

int set_subnet_network(struct config *c, void *obj, const struct config_key *k,
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
	s->network_line = c->parsing_line;
	return 0;
}

int set_subnet_router(struct config *c, void *obj, const struct config_key *k,
		      const char *v, char *err, size_t n)
{
	return set_ipv4(&subnet_of(c, obj)->router, v, err, n);
}

int set_subnet_dns(struct config *c, void *obj, const struct config_key *k,
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

int set_subnet_domain(struct config *c, void *obj, const struct config_key *k,
		      const char *v, char *err, size_t n)
{
	if (!valid_domain(v))
		return set_error(err, n, "\"%s\" is not a domain name", v);
	return set_string(&subnet_of(c, obj)->domain, v, 253, err, n);
}

int set_subnet_lease_time(struct config *c, void *obj, const struct config_key *k,
			  const char *v, char *err, size_t n)
{
	return set_uint(&subnet_of(c, obj)->lease_time, v, 60, 365u * 86400u, err, n);
}

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

int set_option(struct config *c, void *obj, const struct config_key *k,
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
	/* The same code twice in one section is a mistake, as for every
	 * other key: refused rather than one silently winning. */
	for (at = list; *at; at = &(*at)->next)
		if ((*at)->code == o.code)
			return set_error(err, n, "option %u is already set in this section",
					 (unsigned)code);
	*at = calloc(1, sizeof(**at));
	if (!*at)
		return -ENOMEM;
	**at = o;
	return 0;
}
