/* boot_files.c - see boot_files.h. */
#include "boot/boot_files.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/render.h"
#include "util.h"

#define RENDER_MAX 8192

enum boot_format {
	FORMAT_PXELINUX,
	FORMAT_GRUB,
	FORMAT_IPXE,
};

/* Who is asking, and what to render for them. */
struct machine {
	bool has_mac;
	uint8_t mac[6];
	const struct host_config *host;
	const struct profile_config *profile;
	bool local;             /* next boot local: the local-boot form */
	uint32_t peer;          /* host order */
	char mac_str[MAC_STRLEN];
	char ip_str[INET_ADDRSTRLEN];
	char server_str[INET_ADDRSTRLEN];
	char http[48];
	char done_url[128];
};

static const struct profile_config *profile_named(const struct config *cfg, const char *name)
{
	for (const struct profile_config *p = cfg->profiles; p; p = p->next)
		if (strcmp(p->name, name) == 0)
			return p;
	return NULL;
}

/* The base URL of the API as the machine can reach it, for ${done_url}:
 * the API's own listener when [api] listen is set (the [http] server then
 * answers no /api/ path), else the HTTP server, ${http}. False when there
 * is none. */
static bool api_base(const struct boot_lookup *lk, const struct machine *m, char *out,
		     size_t size)
{
	const struct sockaddr_in *a = lk->api_listen;
	char host[INET_ADDRSTRLEN];

	if (!a || !a->sin_port) {
		snprintf(out, size, "%s", m->http);
		return m->http[0] != '\0';
	}
	if (a->sin_addr.s_addr == htonl(INADDR_ANY))
		snprintf(host, sizeof(host), "%s", m->server_str);
	else
		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
	snprintf(out, size, "http://%s:%u", host, (unsigned)ntohs(a->sin_port));
	return true;
}

/* The machine's next-boot record, if any, overrides what the config
 * says. A record naming a profile a reload removed is ignored (the
 * config's choice stands) rather than leaving the machine with nothing. */
static void apply_next_boot(const struct config *cfg, const struct boot_lookup *lk,
			    struct machine *m)
{
	const struct next_boot_record *r = m->has_mac ? next_boot_get(lk->next_boot, m->mac) : NULL;
	const struct profile_config *p;
	char base[48];

	if (!r)
		return;
	if (r->mode == NEXT_BOOT_LOCAL) {
		m->local = true;
		return;
	}
	p = profile_named(cfg, r->profile);
	if (!p)
		return;
	m->profile = p;
	if (next_boot_install_pending(r) && api_base(lk, m, base, sizeof(base)))
		snprintf(m->done_url, sizeof(m->done_url), "%s/api/v1/machines/%s/done?token=%s",
			 base, m->mac_str, r->token);
}

static void format_addr(uint32_t host_order, char *out, size_t size)
{
	struct in_addr a = { htonl(host_order) };

	inet_ntop(AF_INET, &a, out, (socklen_t)size);
}

/* Fill in the machine from what the request said: named is true when the
 * request itself names the MAC (01-<mac>), in which case only that
 * machine's own profile answers. */
static void machine_resolve(const struct config *cfg, const struct boot_lookup *lk,
			    struct machine *m, bool named, uint32_t peer, uint32_t server)
{
	if (!m->has_mac && lk->mac_for_ip && peer &&
	    lk->mac_for_ip(lk->data, peer, m->mac) == 0)
		m->has_mac = true;
	if (!m->has_mac && peer) {
		/* A [host] with a fixed address is known by it, whether DHCP
		 * matched it by MAC or by UUID. */
		m->host = config_host_by_ip(cfg, peer);
		if (m->host && m->host->has_mac) {
			memcpy(m->mac, m->host->mac, 6);
			m->has_mac = true;
		}
	}
	if (m->has_mac && !m->host)
		m->host = config_host_by_mac(cfg, m->mac);
	if (m->has_mac)
		format_mac(m->mac, m->mac_str);
	m->profile = m->host && m->host->profile ? m->host->profile : NULL;
	if (!m->profile && !named)
		m->profile = cfg->default_profile;
	format_addr(peer, m->ip_str, sizeof(m->ip_str));
	format_addr(server, m->server_str, sizeof(m->server_str));
	if (lk->http_port && *lk->http_port)
		snprintf(m->http, sizeof(m->http), "http://%s:%d", m->server_str, *lk->http_port);
	m->peer = peer;
	apply_next_boot(cfg, lk, m);
}

static int render(const struct boot_lookup *lk, const struct machine *m, enum boot_format f,
		  char **body, size_t *len)
{
	struct render_vars v = {
		.mac = m->has_mac ? m->mac_str : NULL,
		.ip = m->ip_str,
		.hostname = m->host ? (m->host->hostname ? m->host->hostname : m->host->name) : NULL,
		.server = m->server_str,
		.http = m->http,
		.done_url = m->done_url,
	};
	char *buf = malloc(RENDER_MAX);
	int n;

	if (!buf)
		return -ENOMEM;
	if (m->local) {
		switch (f) {
		case FORMAT_PXELINUX: n = render_pxelinux_local(&v, buf, RENDER_MAX); break;
		case FORMAT_GRUB: n = render_grub_local(&v, buf, RENDER_MAX); break;
		default: n = render_ipxe_local(&v, buf, RENDER_MAX); break;
		}
	} else switch (f) {
	case FORMAT_PXELINUX: n = render_pxelinux(m->profile, &v, buf, RENDER_MAX); break;
	case FORMAT_GRUB: n = render_grub(m->profile, &v, buf, RENDER_MAX); break;
	default: n = render_ipxe(m->profile, &v, buf, RENDER_MAX); break;
	}
	if (n < 0) {
		free(buf);
		return n;
	}
	if (m->local)
		boot_events_mark_local(lk->events, m->has_mac ? m->mac : NULL, m->peer);
	*body = buf;
	*len = (size_t)n;
	return 0;
}

/* PXELINUX names a machine "01-aa-bb-cc-dd-ee-ff" (ARP type 1, then the
 * MAC with dashes, lower case). */
static bool parse_pxelinux_mac(const char *name, uint8_t mac[6])
{
	return strncmp(name, "01-", 3) == 0 && strlen(name + 3) == 17 &&
	       config_parse_mac(name + 3, mac) == 0;
}

/* --- TFTP --- */

struct boot_source {
	struct file_source base;
	const struct config *cfg;
	const struct boot_lookup *lookup;
};

static int boot_source_open(struct file_source *base, const char *path,
			    const struct file_request *req, struct boot_file **ret)
{
	struct boot_source *s = (struct boot_source *)base;
	const char *slash = strrchr(path, '/');
	const char *name = slash ? slash + 1 : path;
	size_t dirlen = slash ? (size_t)(slash - path) : 0;
	struct machine m = { 0 };
	enum boot_format f;
	bool named;
	char *body;
	size_t len;
	int r;

	if (dirlen >= 12 && memcmp(path + dirlen - 12, "pxelinux.cfg", 12) == 0 &&
	    (dirlen == 12 || path[dirlen - 13] == '/')) {
		f = FORMAT_PXELINUX;
		named = parse_pxelinux_mac(name, m.mac);
		if (!named && strcmp(name, "default") != 0)
			return -ENOENT;  /* hex-IP probes and the like */
	} else if (strncmp(name, "grub.cfg-", 9) == 0) {
		f = FORMAT_GRUB;
		named = parse_pxelinux_mac(name + 9, m.mac);
		if (!named)
			return -ENOENT;
	} else if (strcmp(name, "grub.cfg") == 0) {
		f = FORMAT_GRUB;
		named = false;
	} else {
		return -ENOENT;
	}
	m.has_mac = named;
	machine_resolve(s->cfg, s->lookup, &m, named,
			req && req->client ? ntohl(req->client->sin_addr.s_addr) : 0,
			req ? ntohl(req->local.s_addr) : 0);
	if (!m.profile && !m.local)
		return -ENOENT;
	r = render(s->lookup, &m, f, &body, &len);
	if (r < 0)
		return r == -ENOMEM ? r : -EIO;
	return boot_file_new_owned(body, len, ret);
}

static void boot_source_destroy(struct file_source *base)
{
	free(base);
}

static const struct file_source_ops boot_source_ops = {
	.open = boot_source_open,
	.destroy = boot_source_destroy,
};

int boot_files_source_new(const struct config *cfg, const struct boot_lookup *lk,
			  struct file_source **ret)
{
	struct boot_source *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->base = (struct file_source){ .ops = &boot_source_ops, .refs = 1 };
	s->cfg = cfg;
	s->lookup = lk;
	*ret = &s->base;
	return 0;
}

/* --- HTTP --- */

int boot_files_ipxe(const struct config *cfg, const struct boot_lookup *lk,
		    const char *path, const char *mac_arg, uint32_t peer, uint32_t server,
		    char **body, size_t *len)
{
	struct machine m = { 0 };
	bool named = false;
	size_t plen = strlen(path);

	if (strcmp(path, "boot.ipxe") == 0) {
		if (mac_arg) {
			if (config_parse_mac(mac_arg, m.mac) < 0)
				return -EINVAL;
			named = true;
		}
	} else if (strncmp(path, "boot/", 5) == 0 && plen > 10 &&
		   strcmp(path + plen - 5, ".ipxe") == 0) {
		char mac[32];
		size_t mlen = plen - 10;

		if (mlen >= sizeof(mac))
			return -EINVAL;
		memcpy(mac, path + 5, mlen);
		mac[mlen] = '\0';
		if (config_parse_mac(mac, m.mac) < 0)
			return -EINVAL;
		named = true;
	} else {
		return -ENOENT;
	}
	m.has_mac = named;
	/* A named but unknown machine still gets the default profile: iPXE
	 * asks with its MAC every time, and that is the only way it asks. */
	machine_resolve(cfg, lk, &m, false, peer, server);
	if (!m.profile && !m.local)
		return -ENOENT;
	return render(lk, &m, FORMAT_IPXE, body, len);
}
