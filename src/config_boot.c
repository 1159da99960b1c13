/* config_boot.c - setters of [boot], [host NAME] and [profile NAME]
 * (see config_internal.h; the table itself is in config.c). */
#include "config_internal.h"

#include "boot/render.h"

/* --- [boot] and [host NAME] boot keys --- */

int set_boot_target(struct config *c, void *obj, const struct config_key *k,
		    const char *v, char *err, size_t n)
{
	struct boot_targets *b = obj ? &((struct host_config *)obj)->boot : &c->boot;

	char bad[32];

	for (const char *p = v; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return set_error(err, n, "must not contain spaces or control characters");
	if (render_check_template(v, bad, sizeof(bad)) < 0)
		return set_error(err, n, "unknown variable ${%s} (known: mac, ip, hostname, server, http, done_url)", bad);
	return set_string(&b->target[k->arg], v, CONFIG_BOOT_TARGET_MAX, err, n);
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

int set_host_mac(struct config *c, void *obj, const struct config_key *k,
		 const char *v, char *err, size_t n)
{
	struct host_config *h = obj;

	if (config_parse_mac(v, h->mac) < 0)
		return set_error(err, n, "\"%s\" is not a MAC address like 52:54:00:12:34:56", v);
	/* The I/G bit marks a group address (ff:ff:ff:ff:ff:ff among them):
	 * no network card sends from one, and all-zero is no card at all. */
	if (h->mac[0] & 1)
		return set_error(err, n, "\"%s\" is a broadcast or multicast MAC, not a machine's", v);
	if (!(h->mac[0] | h->mac[1] | h->mac[2] | h->mac[3] | h->mac[4] | h->mac[5]))
		return set_error(err, n, "\"%s\" is the all-zero MAC, not a machine's", v);
	h->has_mac = true;
	return 0;
}

int set_host_uuid(struct config *c, void *obj, const struct config_key *k,
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

int set_host_profile(struct config *c, void *obj, const struct config_key *k,
		     const char *v, char *err, size_t n)
{
	((struct host_config *)obj)->profile_line = c->parsing_line;
	return set_string(&((struct host_config *)obj)->profile_name, v, 63, err, n);
}

int set_boot_profile(struct config *c, void *obj, const struct config_key *k,
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

int set_profile_kernel(struct config *c, void *obj, const struct config_key *k,
		       const char *v, char *err, size_t n)
{
	int r = check_boot_path(v, err, n);

	return r < 0 ? r : set_string(&((struct profile_config *)obj)->kernel, v, 255, err, n);
}

int set_profile_initrd(struct config *c, void *obj, const struct config_key *k,
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

int set_profile_cmdline(struct config *c, void *obj, const struct config_key *k,
			const char *v, char *err, size_t n)
{
	char bad[32];

	for (const char *p = v; *p; p++)
		if ((unsigned char)*p < ' ' || *p == 0x7f)
			return set_error(err, n, "must not contain control characters");
	if (render_check_template(v, bad, sizeof(bad)) < 0)
		return set_error(err, n, "unknown variable ${%s} (known: mac, ip, hostname, server, http, done_url)", bad);
	return set_string(&((struct profile_config *)obj)->cmdline, v, 1024, err, n);
}

int set_host_ip(struct config *c, void *obj, const struct config_key *k,
		const char *v, char *err, size_t n)
{
	uint32_t ip = 0;

	if (set_ipv4(&ip, v, err, n) < 0)
		return -EINVAL;
	/* Addresses no client can hold (RFC 1122 3.2.1.3, RFC 5771, RFC
	 * 1112 4): 0/8 "this network", 127/8 loopback, 224/4 multicast,
	 * 240/4 reserved with 255.255.255.255 broadcast among them. */
	if ((ip >> 24) == 0 || (ip >> 24) == 127 || (ip >> 28) >= 0xe)
		return set_error(err, n, "\"%s\" cannot be a machine's address "
				 "(this-network, loopback, multicast or broadcast)", v);
	((struct host_config *)obj)->ip = ip;
	return 0;
}

int set_host_hostname(struct config *c, void *obj, const struct config_key *k,
		      const char *v, char *err, size_t n)
{
	if (!valid_domain(v))
		return set_error(err, n, "\"%s\" is not a host name", v);
	return set_string(&((struct host_config *)obj)->hostname, v, 63, err, n);
}
