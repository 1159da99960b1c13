/* findings.c - from observations to plain-language findings, see
 * findings.h. */
#include "doctor/findings.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>

#include "ndp/ndp_wire.h"
#include "util.h"

struct out {
	struct doctor_finding *f;
	size_t n, max;
};

static void add(struct out *o, enum doctor_severity sev, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void add(struct out *o, enum doctor_severity sev, const char *code, const char *fmt, ...)
{
	va_list ap;

	if (o->n >= o->max)
		return;
	o->f[o->n].severity = sev;
	o->f[o->n].code = code;
	va_start(ap, fmt);
	vsnprintf(o->f[o->n].text, sizeof(o->f[o->n].text), fmt, ap);
	va_end(ap);
	o->n++;
}

const char *doctor_severity_name(enum doctor_severity s)
{
	switch (s) {
	case DOCTOR_PROBLEM: return "problem";
	case DOCTOR_WARNING: return "warning";
	default: return "note";
	}
}

const char *doctor_round_name(enum doctor_round r)
{
	switch (r) {
	case DOCTOR_ROUND_BIOS: return "BIOS PXE (arch 0)";
	case DOCTOR_ROUND_UEFI: return "UEFI x64 PXE (arch 7)";
	case DOCTOR_ROUND_IPXE: return "iPXE";
	default: return "?";
	}
}

void doctor_escape(char *out, size_t outsize, const void *s, size_t len)
{
	const uint8_t *p = s;
	size_t o = 0;

	if (outsize == 0)
		return;
	for (size_t i = 0; i < len && p[i]; i++) {
		char tmp[5];
		size_t n;

		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' && p[i] != '\\') {
			tmp[0] = (char)p[i];
			n = 1;
		} else {
			snprintf(tmp, sizeof(tmp), "\\x%02x", p[i]);
			n = 4;
		}
		if (o + n >= outsize)
			break;
		memcpy(out + o, tmp, n);
		o += n;
	}
	out[o] = '\0';
}

const char *doctor_offer_bootfile(const struct doctor_offer *of)
{
	if (of->has_bootfile && of->bootfile[0])
		return of->bootfile;
	return of->file;
}

uint32_t doctor_offer_tftp_server(const struct doctor_offer *of)
{
	struct in_addr a;

	if (of->has_tftp_server && inet_pton(AF_INET, of->tftp_server, &a) == 1)
		return a.s_addr;
	if (of->siaddr)
		return of->siaddr;
	return of->has_tftp_server ? 0 : of->server;
}

static const char *count_word(size_t n)
{
	static const char *words[] = { "no", "one", "two", "three", "four", "five" };

	return n < ARRAY_SIZE(words) ? words[n] : "several";
}

/* The distinct servers (by server id) among the offers that are (or are
 * not) proxyDHCP, into ids; returns how many. */
static size_t distinct_servers(const struct doctor_obs *o, bool proxy, uint32_t *ids, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < o->n_offers; i++) {
		const struct doctor_offer *of = &o->offers[i];
		bool seen = false;

		if (of->proxy != proxy)
			continue;
		for (size_t j = 0; j < n; j++)
			seen = seen || ids[j] == of->server;
		if (!seen && n < max)
			ids[n++] = of->server;
	}
	return n;
}

static void join_addrs(char *buf, size_t size, const uint32_t *ids, size_t n)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && used < size; i++) {
		char a[INET_ADDRSTRLEN];
		struct in_addr in = { .s_addr = ids[i] };

		inet_ntop(AF_INET, &in, a, sizeof(a));
		used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "", a);
	}
}

static void ip_str(uint32_t a, char out[INET_ADDRSTRLEN])
{
	struct in_addr in = { .s_addr = a };

	inet_ntop(AF_INET, &in, out, INET_ADDRSTRLEN);
}

static void servers_findings(const struct doctor_obs *o, struct out *out)
{
	uint32_t dhcp[DOCTOR_MAX_OFFERS], proxy[DOCTOR_MAX_OFFERS];
	size_t n_dhcp = distinct_servers(o, false, dhcp, ARRAY_SIZE(dhcp));
	size_t n_proxy = distinct_servers(o, true, proxy, ARRAY_SIZE(proxy));
	char list[256];

	if (o->n_offers == 0) {
		add(out, DOCTOR_PROBLEM, "no-dhcp-answer",
		    "no DHCP server answered a PXE DISCOVER on %s (%u tries, %u s each): "
		    "machines will not boot from the network here",
		    o->iface, o->rounds_sent, o->wait_sec);
		return;
	}
	if (n_dhcp == 0)
		add(out, DOCTOR_PROBLEM, "no-address",
		    "only proxyDHCP answers on %s, no DHCP server offers an address: "
		    "PXE clients get boot information but no address, and stop",
		    o->iface);
	if (n_dhcp > 1) {
		join_addrs(list, sizeof(list), dhcp, n_dhcp);
		add(out, DOCTOR_PROBLEM, "several-dhcp-servers",
		    "%s DHCP servers answer PXE clients (%s): machines will boot from "
		    "whichever answers first", count_word(n_dhcp), list);
	}
	if (n_proxy > 1) {
		join_addrs(list, sizeof(list), proxy, n_proxy);
		add(out, DOCTOR_PROBLEM, "several-proxy-servers",
		    "%s proxyDHCP servers answer PXE clients (%s): machines take their "
		    "boot file from whichever answers first", count_word(n_proxy), list);
	}
	/* A DHCP server's own boot file beside a proxy: PXE firmware then has
	 * two answers and most (EDK2, Intel's BIOS ROMs) prefer the one with
	 * an address and a file, never asking the proxy on port 4011. */
	if (n_proxy > 0) {
		for (size_t i = 0; i < o->n_offers; i++) {
			const struct doctor_offer *of = &o->offers[i];
			char a[INET_ADDRSTRLEN], p[INET_ADDRSTRLEN];

			if (of->proxy || !doctor_offer_bootfile(of)[0])
				continue;
			ip_str(of->server, a);
			ip_str(proxy[0], p);
			add(out, DOCTOR_WARNING, "dhcp-boot-file-beside-proxy",
			    "the DHCP server %s offers a boot file (\"%s\") to %s clients beside "
			    "the proxyDHCP %s: most PXE firmware takes the DHCP server's and "
			    "never asks the proxy", a, doctor_offer_bootfile(of),
			    doctor_round_name(of->round), p);
			break;
		}
	}
	for (unsigned r = 0; r < DOCTOR_ROUNDS && r < o->rounds_sent; r++) {
		bool answered = false, file = false;

		for (size_t i = 0; i < o->n_offers; i++) {
			if (o->offers[i].round != r)
				continue;
			answered = true;
			/* A proxy answer without a file sends the firmware on to
			 * the proxy's port 4011 (or, with option 43, a boot
			 * menu) for it: PXE 2.1 spec 2.2.6. */
			file = file || doctor_offer_bootfile(&o->offers[i])[0] ||
			       o->offers[i].proxy;
		}
		if (!answered)
			add(out, DOCTOR_PROBLEM, "no-answer-for-arch",
			    "no server answers %s clients: they will not boot from the network",
			    doctor_round_name((enum doctor_round)r));
		else if (!file)
			add(out, DOCTOR_PROBLEM, "no-boot-file",
			    "no server offers a boot file to %s clients: they get an address "
			    "and then stop", doctor_round_name((enum doctor_round)r));
	}
	for (size_t i = 0; i < n_proxy; i++) {
		char a[INET_ADDRSTRLEN];
		bool fileless = false;

		for (size_t j = 0; j < o->n_offers; j++)
			fileless = fileless || (o->offers[j].proxy &&
						o->offers[j].server == proxy[i] &&
						!doctor_offer_bootfile(&o->offers[j])[0]);
		if (!fileless)
			continue;
		ip_str(proxy[i], a);
		add(out, DOCTOR_NOTE, "proxy-file-on-4011",
		    "the proxyDHCP %s names some boot files only on its port 4011: those "
		    "are not checked (the doctor sends no REQUEST)", a);
	}
	if (o->n_offers_dropped)
		add(out, DOCTOR_NOTE, "offers-dropped",
		    "%zu further answers were not kept (at most %d per run)",
		    o->n_offers_dropped, DOCTOR_MAX_OFFERS);
}

static void fetch_findings(const struct doctor_obs *o, struct out *out)
{
	for (size_t i = 0; i < o->n_fetches; i++) {
		const struct doctor_fetch *f = &o->fetches[i];
		char a[INET_ADDRSTRLEN];

		ip_str(f->server, a);
		switch (f->result) {
		case DOCTOR_FETCH_EXISTS:
			break;
		case DOCTOR_FETCH_NOT_FOUND:
			add(out, DOCTOR_PROBLEM, "boot-file-missing",
			    "the offered boot file %s does not exist on %s", f->file, a);
			break;
		case DOCTOR_FETCH_ERROR:
			add(out, DOCTOR_PROBLEM, "boot-file-refused",
			    "%s refuses the offered boot file %s: TFTP error %u \"%s\"",
			    a, f->file, f->error_code, f->error_message);
			break;
		case DOCTOR_FETCH_NO_ANSWER:
			add(out, DOCTOR_PROBLEM, "tftp-no-answer",
			    "no TFTP server answers on %s: the offered boot file %s cannot be "
			    "fetched", a, f->file);
			break;
		case DOCTOR_FETCH_BAD_ANSWER:
			add(out, DOCTOR_PROBLEM, "tftp-bad-answer",
			    "%s answered a TFTP read of %s with something that is not TFTP",
			    a, f->file);
			break;
		case DOCTOR_FETCH_NO_ADDRESS:
			add(out, DOCTOR_NOTE, "boot-file-not-checked",
			    "the boot file %s on %s was not checked: %s has no IPv4 address "
			    "(give it one on this segment to let the doctor ask over TFTP)",
			    f->file, a, o->iface);
			break;
		case DOCTOR_FETCH_NOT_TFTP:
			add(out, DOCTOR_NOTE, "boot-url-not-checked",
			    "the boot URL %s is not fetched over TFTP: not checked", f->file);
			break;
		case DOCTOR_FETCH_NO_SERVER:
			add(out, DOCTOR_WARNING, "tftp-server-by-name",
			    "the boot file %s is on a TFTP server given by name (option 66) "
			    "with no siaddr: firmware that cannot resolve names (most PXE "
			    "ROMs) will not find it", f->file);
			break;
		}
	}
}

static bool ra_is_quiet(const struct doctor_ra *ra)
{
	/* What kidou's ipv6-ra sends (ndp_encode_quiet_ra()): configures
	 * nothing, only ends iPXE's wait. */
	return ra->router_lifetime == 0 && ra->n_prefixes == 0 &&
	       !(ra->flags & (NDP_RA_FLAG_MANAGED | NDP_RA_FLAG_OTHER));
}

static void ra_findings(const struct doctor_obs *o, struct out *out)
{
	const struct doctor_ra *router = NULL, *quiet = NULL;
	char a[INET6_ADDRSTRLEN];

	if (!o->ra_listened)
		return;
	for (size_t i = 0; i < o->n_ras; i++) {
		if (ra_is_quiet(&o->ras[i]))
			quiet = quiet ? quiet : &o->ras[i];
		else
			router = router ? router : &o->ras[i];
	}
	if (router) {
		inet_ntop(AF_INET6, &router->source, a, sizeof(a));
		switch (o->ipv6_ra) {
		case IPV6_RA_AUTO:
			add(out, DOCTOR_WARNING, "router-advertises",
			    "a router advertises on this segment (%s): ipv6-ra=auto stays "
			    "silent here, and iPXE configures IPv6 from that router", a);
			break;
		case IPV6_RA_ALWAYS:
			add(out, DOCTOR_WARNING, "router-advertises",
			    "a router advertises on this segment (%s): ipv6-ra=always "
			    "advertises beside it", a);
			break;
		case IPV6_RA_OFF:
			add(out, DOCTOR_NOTE, "router-advertises",
			    "a router advertises on this segment (%s): iPXE does not wait "
			    "for IPv6 here even with ipv6-ra off", a);
			break;
		}
	}
	if (quiet && !router) {
		inet_ntop(AF_INET6, &quiet->source, a, sizeof(a));
		add(out, DOCTOR_NOTE, "quiet-advertisement",
		    "an advertisement that configures nothing answers here (%s, like "
		    "kidou's ipv6-ra): iPXE does not wait for IPv6", a);
	}
	if (!router && !quiet && o->rs_sent)
		add(out, DOCTOR_NOTE, "no-router-advertisement",
		    "no router advertises on this segment: iPXE waits about 13 s for IPv6 "
		    "before it loads its boot file, unless kidou answers (ipv6-ra=auto%s)",
		    o->ipv6_ra == IPV6_RA_OFF ? ", which is off in this config" : " does");
	else if (!router && !quiet)
		add(out, DOCTOR_NOTE, "no-router-advertisement",
		    "no router advertisement heard (the doctor only listened: a kidou runs "
		    "on this machine, and a solicitation from its own address would "
		    "silence its ipv6-ra)");
}

static const char *port_service(uint16_t port)
{
	switch (port) {
	case 67: return "DHCP";
	case 69: return "TFTP";
	case 4011: return "proxyDHCP (PXE port 4011)";
	default: return "?";
	}
}

static void port_findings(const struct doctor_obs *o, struct out *out)
{
	for (size_t i = 0; i < o->n_ports; i++) {
		const struct doctor_port *p = &o->ports[i];

		switch (p->state) {
		case DOCTOR_PORT_FREE:
			break;
		case DOCTOR_PORT_KIDOU:
			add(out, DOCTOR_NOTE, "port-held-by-kidou",
			    "UDP port %u is held by kidou (pid %d)", p->port, p->pid);
			break;
		case DOCTOR_PORT_OTHER:
			add(out, DOCTOR_PROBLEM, "port-held",
			    "UDP port %u is held by %s (pid %d): kidou cannot serve %s on this "
			    "machine while it runs", p->port, p->holder, p->pid,
			    port_service(p->port));
			break;
		case DOCTOR_PORT_UNKNOWN:
			add(out, DOCTOR_WARNING, "port-held",
			    "UDP port %u is in use by a process the doctor cannot name: kidou "
			    "cannot serve %s on this machine while it runs", p->port,
			    port_service(p->port));
			break;
		}
	}
}

static void mtu_findings(const struct doctor_obs *o, struct out *out)
{
	unsigned fit;

	if (o->mtu <= DOCTOR_TFTP_OVERHEAD)
		return;
	fit = o->mtu - DOCTOR_TFTP_OVERHEAD;
	if (o->max_blksize > fit)
		add(out, DOCTOR_WARNING, "blksize-above-mtu",
		    "TFTP max-blksize %u%s is larger than one packet on %s carries (MTU %u: "
		    "blksize %u at most): a client asking for more gets IP-fragmented "
		    "blocks, which some switches and firewalls drop; set [tftp] "
		    "max-blksize = %u", o->max_blksize,
		    o->max_blksize_from_config ? "" : " (the default)", o->iface, o->mtu,
		    fit, fit);
}

size_t doctor_findings(const struct doctor_obs *o, struct doctor_finding *f, size_t max)
{
	struct out out = { .f = f, .max = max };

	servers_findings(o, &out);
	fetch_findings(o, &out);
	ra_findings(o, &out);
	port_findings(o, &out);
	mtu_findings(o, &out);
	/* Problems first, then warnings, then notes; in each, the order they
	 * were drawn in (a stable insertion sort: a few dozen at most). */
	for (size_t i = 1; i < out.n; i++) {
		struct doctor_finding tmp = f[i];
		size_t j = i;

		for (; j > 0 && f[j - 1].severity > tmp.severity; j--)
			f[j] = f[j - 1];
		f[j] = tmp;
	}
	return out.n;
}
