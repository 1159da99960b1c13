/* config.c - see config.h. The INI syntax itself is parsed by libinih;
 * this file holds the settings table (the one source of keys, flags and
 * --help), the setters of [daemon], [tftp] and [http], the INI reader and
 * config_build(). The other sections' setters are in config_dhcp.c and
 * config_boot.c, the whole-config checks in config_check.c. */
#include "config_internal.h"

#include <fcntl.h>
#include <ini.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net.h"

/* RFC 2348: blksize 8..65464. */
#define TFTP_BLKSIZE_MAX 65464

static const char *const section_names[] = {
	[SEC_DAEMON] = "daemon", [SEC_TFTP] = "tftp", [SEC_DHCP] = "dhcp", [SEC_HTTP] = "http",
	[SEC_BOOT] = "boot", [SEC_SUBNET] = "subnet", [SEC_HOST] = "host",
	[SEC_PROFILE] = "profile", [SEC_API] = "api",
};

/* One paragraph per section for the generated documents (config_doc.c):
 * the man page kidou.ini(5), docs/configuration.md, docs/kidou.ini. */
static const char *const section_help[] = {
	[SEC_DAEMON] = "The process itself: logging, privileges, the event loop.",
	[SEC_TFTP] = "The TFTP server (RFC 1350 with the blksize, tsize, timeout and "
		     "windowsize options of RFC 2347-2349 and 7440). It is always on.",
	[SEC_HTTP] = "The HTTP server for iPXE, UEFI HTTP boot and rendered boot configs; "
		     "off unless listen is set. It also carries the API unless [api] listen "
		     "gives the API an address of its own.",
	[SEC_API] = "The JSON API under /api/v1/ and the status page (docs/api.md): reads, "
		    "next-boot and host writes, the boot event stream.",
	[SEC_DHCP] = "The DHCP server, or proxyDHCP beside another server (mode = proxy), "
		     "on the listed interfaces; off without an interface. The keys range, "
		     "router, dns, domain, lease-time and option describe the interfaces' own "
		     "subnet.",
	[SEC_SUBNET] = "A subnet behind a DHCP relay (giaddr), one section per subnet.",
	[SEC_BOOT] = "What firmware is told to boot, by client architecture (option 93), and "
		     "the profile rendered for machines without one of their own.",
	[SEC_HOST] = "One machine, matched by MAC (or SMBIOS UUID): its fixed address, host "
		     "name, profile and boot files. Hosts can also be added at runtime through "
		     "the API.",
	[SEC_PROFILE] = "A kernel, its initrds and command line, rendered per machine into "
			"PXELINUX, GRUB and iPXE configs. The command line may use ${mac}, "
			"${ip}, ${hostname}, ${server}, ${http} and ${done_url}.",
};

const char *config_section_name(enum section_kind s)
{
	return (size_t)s < ARRAY_SIZE(section_names) ? section_names[s] : "?";
}

const char *config_section_help(enum section_kind s)
{
	return (size_t)s < ARRAY_SIZE(section_help) && section_help[s] ? section_help[s] : "";
}

bool config_section_named(enum section_kind s)
{
	return s == SEC_SUBNET || s == SEC_HOST || s == SEC_PROFILE;
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
	bool on = true;
	int r = set_yes_no(&on, v, err, n);

	if (r == 0)
		c->seccomp_off = !on;
	return r;
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

/* --- [api] --- */

static int set_api_listen(struct config *c, void *obj, const struct config_key *k,
			  const char *v, char *err, size_t n)
{
	if (net_parse_endpoint(v, &c->api.listen) < 0)
		return set_error(err, n, "\"%s\" is not ADDR:PORT (IPv4)", v);
	c->api.own_listen = true;
	return 0;
}

static int set_api_token_file(struct config *c, void *obj, const struct config_key *k,
			      const char *v, char *err, size_t n)
{
	return set_string(&c->api.token_file, v, 4096, err, n);
}

static int set_api_read_token(struct config *c, void *obj, const struct config_key *k,
			      const char *v, char *err, size_t n)
{
	return set_yes_no(&c->api.read_token, v, err, n);
}

static int set_api_max_event_streams(struct config *c, void *obj, const struct config_key *k,
				     const char *v, char *err, size_t n)
{
	return set_uint(&c->api.max_event_streams, v, 1, 10000, err, n);
}

#define BOOT_KEYS(sec, with_flag)                                                       \
	{ sec, "bios", with_flag ? "boot-bios" : NULL,                                  \
	  "boot file for BIOS PXE clients (option 93 = 0; default pxelinux/pxelinux.0)", \
	  set_boot_target, BOOT_TARGET_BIOS, false, "pxelinux/pxelinux.0" },                                   \
	{ sec, "uefi-ia32", with_flag ? "boot-uefi-ia32" : NULL,                        \
	  "boot file for 32-bit UEFI (arch 6)", set_boot_target, BOOT_TARGET_UEFI_IA32, false, "efi32/syslinux.efi" }, \
	{ sec, "uefi-x64", with_flag ? "boot-uefi-x64" : NULL,                          \
	  "boot file for x64 UEFI (arch 7, 9)", set_boot_target, BOOT_TARGET_UEFI_X64, false, "efi64/syslinux.efi" }, \
	{ sec, "uefi-arm32", with_flag ? "boot-uefi-arm32" : NULL,                      \
	  "boot file for ARM32 UEFI (arch 10)", set_boot_target, BOOT_TARGET_UEFI_ARM32, false, "arm32/grubarm.efi" }, \
	{ sec, "uefi-arm64", with_flag ? "boot-uefi-arm64" : NULL,                      \
	  "boot file for ARM64 UEFI (arch 11)", set_boot_target, BOOT_TARGET_UEFI_ARM64, false, "arm64/grubaa64.efi" }, \
	{ sec, "http-x64", with_flag ? "boot-http-x64" : NULL,                          \
	  "URL for x64 UEFI HTTP boot (arch 16)", set_boot_target, BOOT_TARGET_HTTP_X64, false, "http://10.0.0.1:8080/ipxe.efi" }, \
	{ sec, "http-arm64", with_flag ? "boot-http-arm64" : NULL,                      \
	  "URL for ARM64 UEFI HTTP boot (arch 19)", set_boot_target, BOOT_TARGET_HTTP_ARM64, false, "http://10.0.0.1:8080/arm64/grubaa64.efi" }, \
	{ sec, "ipxe", with_flag ? "boot-ipxe" : NULL,                                  \
	  "file or URL for clients already running iPXE (default: served as their firmware)", \
	  set_boot_target, BOOT_TARGET_IPXE, false, "ipxe/boot.ipxe" }

static const struct config_key config_keys[] = {
	{ SEC_DAEMON, "log-level", "log-level",
	  "debug | info | warn | error (default info)", set_log_level, 0, false, "info" },
	{ SEC_DAEMON, "user", "user",
	  "when started as root, drop to this user after opening sockets (default: stay)",
	  set_user, 0, false, "kidou" },
	{ SEC_DAEMON, "timeline-idle", "timeline-idle",
	  "seconds of quiet after which a machine's boot is summarised as done or stalled (default 20)",
	  set_timeline_idle, 0, false, "20" },
	{ SEC_DAEMON, "busy-poll", "busy-poll",
	  "microseconds the event loop may spin for the next packet before sleeping, "
	  "while packets come that fast (0: never; default 100)",
	  set_busy_poll, 0, false, "100" },
	{ SEC_DAEMON, "seccomp", "seccomp",
	  "yes | no: once started, allow only the system calls kidou serves with; "
	  "any other kills it (default yes)",
	  set_seccomp, 0, false, "yes" },
	{ SEC_TFTP, "root", "tftp-root",
	  "directory served over TFTP (default ./tftpboot)", set_tftp_root, 0, false, "/srv/tftp" },
	{ SEC_TFTP, "listen", "tftp-listen",
	  "ADDR:PORT the TFTP server listens on (default 0.0.0.0:69)", set_tftp_listen, 0, false, "0.0.0.0:69" },
	{ SEC_TFTP, "max-transfers", "tftp-max-transfers",
	  "concurrent transfers; more are refused with an error (default 1000)",
	  set_tftp_max_transfers, 0, false, "1000" },
	{ SEC_TFTP, "retransmit-ms", "tftp-retransmit-ms",
	  "milliseconds before unacknowledged data is resent, unless the client negotiates a timeout (10..255000, default 1000)",
	  set_tftp_retransmit_ms, 0, false, "1000" },
	{ SEC_TFTP, "retries", "tftp-retries",
	  "retransmissions before a transfer is abandoned (default 6)", set_tftp_retries, 0, false, "6" },
	{ SEC_TFTP, "max-blksize", "tftp-max-blksize",
	  "larger blksize requests are clamped to this (512..65464, default 65464)",
	  set_tftp_max_blksize, 0, false, "65464" },
	{ SEC_TFTP, "max-windowsize", "tftp-max-windowsize",
	  "larger windowsize requests are clamped to this (1..1024, default 64)",
	  set_tftp_max_windowsize, 0, false, "64" },

	{ SEC_HTTP, "listen", "http-listen",
	  "ADDR:PORT the HTTP server listens on (HTTP is off unless set)", set_http_listen, 0, false, "0.0.0.0:8080" },
	{ SEC_HTTP, "root", "http-root",
	  "directory served over HTTP (default: the TFTP root)", set_http_root, 0, false, "/srv/tftp" },
	{ SEC_HTTP, "max-connections", "http-max-connections",
	  "concurrent HTTP connections (default 1000)", set_http_max_connections, 0, false, "1000" },
	{ SEC_HTTP, "idle-timeout", "http-idle-timeout",
	  "seconds before a silent connection is closed, complete request or not (default 30)",
	  set_http_idle_timeout, 0, false, "30" },
	{ SEC_HTTP, "header-timeout", "http-header-timeout",
	  "seconds a request's headers may take, from the connection's start or the end of its previous request (default 10)",
	  set_http_header_timeout, 0, false, "10" },
	{ SEC_HTTP, "max-connections-per-address", "http-max-connections-per-address",
	  "concurrent HTTP connections from one client address; more get 503 (default 16)",
	  set_http_max_per_address, 0, false, "16" },

	{ SEC_API, "listen", "api-listen",
	  "ADDR:PORT for the API alone (default: on the [http] server)", set_api_listen, 0, false, "10.0.0.1:8081" },
	{ SEC_API, "token-file", "api-token-file",
	  "file holding the bearer token (16+ chars, not world-readable); none: writes disabled",
	  set_api_token_file, 0, false, "/etc/kidou/api-token" },
	{ SEC_API, "read-token", "api-read-token",
	  "yes: reads need the token too (default no)", set_api_read_token, 0, false, "no" },
	{ SEC_API, "max-event-streams", "api-max-event-streams",
	  "concurrent /api/v1/events subscribers (default 256)", set_api_max_event_streams, 0, false, "256" },
	{ SEC_DHCP, "interface", "dhcp-interface",
	  "serve DHCP on this interface; repeatable or comma-separated (DHCP is off without one)",
	  set_dhcp_interface, 0, true, "eth1" },
	{ SEC_DHCP, "mode", "dhcp-mode",
	  "server | proxy: proxy answers only network boot firmware, with where to boot "
	  "from, beside another DHCP server that hands out the addresses (default server)",
	  set_dhcp_mode, 0, false, "server" },
	{ SEC_DHCP, "listen", "dhcp-listen",
	  "ADDR:PORT the DHCP server binds (default 0.0.0.0:67)", set_dhcp_listen, 0, false, "0.0.0.0:67" },
	{ SEC_DHCP, "range", "dhcp-range",
	  "FIRST LAST: addresses handed out on the interfaces' subnet", set_subnet_range, 0, false, "10.0.0.100 10.0.0.199" },
	{ SEC_DHCP, "lease-time", "dhcp-lease-time",
	  "lease length in seconds (60.., default 3600)", set_subnet_lease_time, 0, false, "3600" },
	{ SEC_DHCP, "router", "dhcp-router", "default gateway (option 3)", set_subnet_router, 0, false, "10.0.0.1" },
	{ SEC_DHCP, "dns", "dhcp-dns", "DNS servers (option 6), comma-separated, up to 4",
	  set_subnet_dns, 0, true, "10.0.0.1" },
	{ SEC_DHCP, "domain", "dhcp-domain", "domain name (option 15)", set_subnet_domain, 0, false, "lab.example" },
	{ SEC_DHCP, "database", "dhcp-database",
	  "lease database: an SQLite file (default $STATE_DIRECTORY/leases.db under systemd, else ./kidou-leases.db), or postgresql://USER@HOST/DB shared by several instances (password only from a passfile)", set_dhcp_database, 0, false, "/var/lib/kidou/leases.db" },
	{ SEC_DHCP, "database-busy-timeout", "dhcp-database-busy-timeout",
	  "seconds a lease commit waits for a lock another process holds on the database before it fails (0..3600, default 5); only the lease writer waits",
	  set_dhcp_busy_timeout, 0, false, "5" },
	{ SEC_DHCP, "offer-hold", "dhcp-offer-hold",
	  "seconds an offered address is reserved for its client (default 30)",
	  set_dhcp_offer_hold, 0, false, "30" },
	{ SEC_DHCP, "decline-hold", "dhcp-decline-hold",
	  "seconds a declined address is not offered (default 600)", set_dhcp_decline_hold, 0, false, "600" },
	{ SEC_DHCP, "authoritative", "dhcp-authoritative",
	  "yes | no: kidou is the only DHCP server here, so a REQUEST from a client it has no "
	  "record of (its database was lost) is ACKed when the address is free in the range "
	  "and NAKed when it is not; no stays silent, as RFC 2131 4.3.2 asks (default no)",
	  set_dhcp_authoritative, 0, false, "no" },
	{ SEC_DHCP, "next-server", "dhcp-next-server",
	  "TFTP server told to clients (siaddr, option 66; default: the receiving interface's address)",
	  set_dhcp_next_server, 0, false, "10.0.0.1" },
	{ SEC_DHCP, "ipv6-ra", "dhcp-ipv6-ra",
	  "auto | off | always: answer IPv6 router solicitations with \"no router here\" so iPXE stops waiting; auto stays silent where another router advertises (default auto)",
	  set_dhcp_ipv6_ra, 0, false, "auto" },

	{ SEC_DHCP, "option", NULL,
	  "CODE TYPE VALUE: another DHCP option, sent when the client asks for it; TYPE is "
	  "ip, string, u8, u16, u32 or hex; repeatable (also in [subnet] and [host])",
	  set_option, 0, true, "42 ip 10.0.0.1" },

	{ SEC_SUBNET, "network", NULL, "ADDRESS/BITS of a subnet behind a relay (required)",
	  set_subnet_network, 0, false, "10.1.0.0/24" },
	{ SEC_SUBNET, "range", NULL, "FIRST LAST", set_subnet_range, 0, false, "10.1.0.100 10.1.0.199" },
	{ SEC_SUBNET, "router", NULL, "default gateway", set_subnet_router, 0, false, "10.1.0.1" },
	{ SEC_SUBNET, "dns", NULL, "DNS servers", set_subnet_dns, 0, true, "10.1.0.1" },
	{ SEC_SUBNET, "domain", NULL, "domain name", set_subnet_domain, 0, false, "rack1.lab.example" },
	{ SEC_SUBNET, "lease-time", NULL, "seconds", set_subnet_lease_time, 0, false, "3600" },
	{ SEC_SUBNET, "option", NULL, "CODE TYPE VALUE, as in [dhcp]; wins over [dhcp]'s",
	  set_option, 0, true, "26 u16 9000" },

	BOOT_KEYS(SEC_BOOT, true),
	{ SEC_BOOT, "profile", "boot-profile",
	  "the [profile] for machines without one of their own (default: none, they get no rendered config)",
	  set_boot_profile, 0, false, "install" },

	{ SEC_HOST, "mac", NULL, "the machine's MAC address (required)", set_host_mac, 0, false, "52:54:00:12:34:56" },
	{ SEC_HOST, "ip", NULL, "fixed address", set_host_ip, 0, false, "10.0.0.21" },
	{ SEC_HOST, "hostname", NULL, "host name sent in option 12", set_host_hostname, 0, false, "web1" },
	{ SEC_HOST, "uuid", NULL, "SMBIOS UUID (option 97), matched when the MAC is not", set_host_uuid, 0, false, "4c4c4544-0042-3510-8052-b4c04f4b4e31" },
	{ SEC_HOST, "profile", NULL, "the [profile] this machine boots", set_host_profile, 0, false, "install" },
	{ SEC_HOST, "option", NULL, "CODE TYPE VALUE, as in [dhcp]; wins over its subnet's",
	  set_option, 0, true, "17 string /srv/nfs/web1" },
	{ SEC_PROFILE, "kernel", NULL, "kernel: a path under the root or an http(s) URL (required)",
	  set_profile_kernel, 0, false, "debian/vmlinuz" },
	{ SEC_PROFILE, "initrd", NULL, "initrd(s): paths or URLs, repeatable or comma-separated",
	  set_profile_initrd, 0, true, "debian/initrd.gz" },
	{ SEC_PROFILE, "cmdline", NULL, "kernel command line; ${mac} ${ip} ${hostname} ${server} ${http}",
	  set_profile_cmdline, 0, false, "auto=true url=${http}/preseed.cfg hostname=${hostname}" },
	BOOT_KEYS(SEC_HOST, false),
};

const struct config_key *config_key_table(size_t *count)
{
	*count = ARRAY_SIZE(config_keys);
	return config_keys;
}

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
	c->api.max_event_streams = 256;
	c->dhcp.offer_hold_sec = 30;
	c->dhcp.database_busy_timeout_sec = 5;  /* LEASE_STORE_BUSY_TIMEOUT_MS */
	c->dhcp.ipv6_ra = IPV6_RA_AUTO;
	c->timeline_idle_sec = 20;
	c->busy_poll_usec = 100;
	c->dhcp.decline_hold_sec = 600;
	c->dhcp.local.lease_time = 3600;
}

/* --- the INI file: a line-counting reader so errors name their line --- */

/* A config larger than this is no config (100,000 hosts take ~6 MiB). */
#define CONFIG_MAX_SIZE (64u << 20)

/* One section seen in the file, for refusing a repeated one: kind and
 * name ("" for plain sections) identify it. */
struct seen_section {
	const char *name;  /* NULL: free slot; points into the config's objects */
	unsigned kind;
	unsigned line;
};

/* Open-addressing hash set of sections (a [host] per machine makes a
 * list too slow: 100,000 hosts). */
struct seen_table {
	struct seen_section *slots;
	size_t cap, n;  /* cap is a power of two, at most half full */
};

struct ini_state {
	struct config *config;
	const char *buf;       /* the whole file, checked for NUL bytes */
	size_t len, pos;
	const char *path;
	unsigned line;
	unsigned section_line; /* line of the latest [section] header */
	int error;
	unsigned error_line;   /* line of the error in err */
	char *err;
	size_t errsize;
	/* The section instance keys are going into. */
	unsigned cur_section_line;  /* 0: none yet */
	enum section_kind cur_kind;
	void *cur_obj;              /* its [host]/[subnet]/[profile], NULL for plain */
	unsigned key_line[ARRAY_SIZE(config_keys)]; /* where each key was set in it */
	struct seen_table seen;
	struct host_config **host_tail;
	struct profile_config **profile_tail;
	struct dhcp_subnet_config **subnet_tail;
	config_trace_fn trace;
	void *trace_ctx;
};

static uint64_t hash_section(unsigned kind, const char *name)
{
	uint64_t h = 1469598103934665603ull ^ kind;  /* FNV-1a */

	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 1099511628211ull;
	return h;
}

static struct seen_section *seen_slot(struct seen_section *slots, size_t cap,
				      unsigned kind, const char *name)
{
	size_t i = (size_t)hash_section(kind, name) & (cap - 1);

	while (slots[i].name && (slots[i].kind != kind || strcmp(slots[i].name, name) != 0))
		i = (i + 1) & (cap - 1);
	return &slots[i];
}

/* The section already seen as kind/name, or NULL after recording it at
 * line. Returns -ENOMEM through *r. */
static const struct seen_section *seen_add(struct seen_table *t, unsigned kind,
					   const char *name, unsigned line, int *r)
{
	struct seen_section *slot;

	*r = 0;
	if ((t->n + 1) * 2 > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		struct seen_section *slots = calloc(cap, sizeof(*slots));
		if (!slots) {
			*r = -ENOMEM;
			return NULL;
		}
		for (size_t i = 0; i < t->cap; i++)
			if (t->slots[i].name)
				*seen_slot(slots, cap, t->slots[i].kind, t->slots[i].name) = t->slots[i];
		free(t->slots);
		t->slots = slots;
		t->cap = cap;
	}
	slot = seen_slot(t->slots, t->cap, kind, name);
	if (slot->name)
		return slot;
	*slot = (struct seen_section){ .name = name, .kind = kind, .line = line };
	t->n++;
	return NULL;
}

/* fgets() over the file in memory for libinih, counting lines. libinih's
 * line buffer is small (200 bytes); a longer line would be parsed as two,
 * so a long comment is cut short and any other long line is an error at
 * its own line. */
static char *ini_read_line(char *buf, int size, void *stream)
{
	struct ini_state *st = stream;
	const char *start = st->buf + st->pos, *nl, *p;
	size_t avail = st->len - st->pos, take;

	if (avail == 0 || size < 2)
		return NULL;
	nl = memchr(start, '\n', avail);
	take = nl ? (size_t)(nl - start) + 1 : avail;
	st->line++;
	st->pos += take;
	for (p = start; p < start + take && (*p == ' ' || *p == '\t'); p++)
		;
	if (p < start + take && *p == '[')
		st->section_line = st->line;
	if (take <= (size_t)size - 1) {
		memcpy(buf, start, take);
		buf[take] = '\0';
		return buf;
	}
	memcpy(buf, start, (size_t)size - 1);
	buf[size - 1] = '\0';
	if (p < start + take && (*p == ';' || *p == '#'))
		return buf;
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

bool config_host_name_valid(const char *name)
{
	return *name && strlen(name) <= 63 && valid_domain(name);
}

struct host_config *config_host_new(const char *name)
{
	struct host_config *h = calloc(1, sizeof(*h));

	if (!h || !(h->name = strdup(name))) {
		free(h);
		return NULL;
	}
	return h;
}

static void free_boot_targets(struct boot_targets *b);

void config_host_free(struct host_config *h)
{
	if (!h)
		return;
	free(h->name);
	free(h->hostname);
	free(h->profile_name);
	free_boot_targets(&h->boot);
	free_options(h->options);
	free(h->inactive);
	free(h->api_body);
	free(h);
}

/* The [host] keys of the table, for the API: the very setters the file's
 * sections go through. They only read the config (parsing_line, 0 for
 * the API), hence the cast. */
int config_host_set(const struct config *c, struct host_config *h, const char *key,
		    const char *value, char *err, size_t errsize)
{
	for (size_t i = 0; i < ARRAY_SIZE(config_keys); i++) {
		const struct config_key *k = &config_keys[i];
		if (k->section == SEC_HOST && strcmp(k->key, key) == 0)
			return k->set((struct config *)c, h, k, value, err, errsize);
	}
	snprintf(err, errsize, "unknown key (a [host] has mac, uuid, ip, hostname, profile, "
		 "option and the boot files bios, uefi-ia32, uefi-x64, uefi-arm32, uefi-arm64, "
		 "http-x64, http-arm64, ipxe)");
	return -ENOENT;
}

/* A new [host]/[profile]/[subnet] NAME, appended in file order. */
static void *add_named(struct ini_state *st, enum section_kind kind, const char *name)
{
	if (kind == SEC_PROFILE) {
		struct profile_config *p = calloc(1, sizeof(*p));
		if (!p || !(p->name = strdup(name))) {
			free(p);
			return NULL;
		}
		p->line = st->section_line;
		*st->profile_tail = p;
		st->profile_tail = &p->next;
		return p;
	}
	if (kind == SEC_HOST) {
		struct host_config *h = config_host_new(name);
		if (!h)
			return NULL;
		h->line = st->section_line;
		*st->host_tail = h;
		st->host_tail = &h->next;
		return h;
	}
	struct dhcp_subnet_config *s = calloc(1, sizeof(*s));
	if (!s || !(s->name = strdup(name))) {
		free(s);
		return NULL;
	}
	s->line = st->section_line;
	s->lease_time = 3600;
	*st->subnet_tail = s;
	st->subnet_tail = &s->next;
	return s;
}

static const char *named_name(enum section_kind kind, const void *obj)
{
	return kind == SEC_HOST ? ((const struct host_config *)obj)->name :
	       kind == SEC_PROFILE ? ((const struct profile_config *)obj)->name :
	       ((const struct dhcp_subnet_config *)obj)->name;
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
			if (!config_host_name_valid(nm))
				return -EINVAL;
			*kind = (enum section_kind)i;
			*name = nm;
			return 0;
		}
	}
	return -ENOENT;
}

/* The first key of a section instance: a section given twice would merge
 * silently (or, for [host], make one machine of two), so it is refused
 * at the repeated header, naming the first. */
static int enter_section(struct ini_state *st, const char *section, enum section_kind kind,
			 const char *sname)
{
	const struct seen_section *prev;
	void *obj = NULL;
	int r;

	if (sname) {
		obj = add_named(st, kind, sname);
		if (!obj)
			return -ENOMEM;
		sname = named_name(kind, obj);  /* owned by the config from here */
	}
	prev = seen_add(&st->seen, kind, sname ? sname : "", st->section_line, &r);
	if (r < 0)
		return r;
	if (prev) {
		st->error_line = st->section_line;
		snprintf(st->err, st->errsize, "%s:%u: [%s]: repeated section (first at line %u); "
			 "give each section once", st->path, st->section_line, section, prev->line);
		return -EINVAL;
	}
	st->cur_section_line = st->section_line;
	st->cur_kind = kind;
	st->cur_obj = obj;
	memset(st->key_line, 0, sizeof(st->key_line));
	return 0;
}

static int ini_on_key(void *user, const char *section, const char *name,
		      const char *value)
{
	struct ini_state *st = user;
	enum section_kind kind;
	const char *sname;
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
	if (st->cur_section_line != st->section_line) {
		r = parse_section(section, &kind, &sname);
		if (r < 0) {
			snprintf(st->err, st->errsize, "%s:%u: [%s]: %s", st->path, st->line, section,
				 r == -EINVAL ? "needs a name of letters, digits, '-' and '.'"
					      : "unknown section");
			return 0;
		}
		r = enter_section(st, section, kind, sname);
		if (r < 0) {
			st->error = r;
			if (r == -ENOMEM)
				snprintf(st->err, st->errsize, "%s:%u: out of memory", st->path, st->line);
			return 0;
		}
	}
	kind = st->cur_kind;
	for (size_t i = 0; i < ARRAY_SIZE(config_keys); i++) {
		const struct config_key *k = &config_keys[i];
		if (k->section != kind || strcmp(k->key, name) != 0)
			continue;
		/* A key given twice in one section: refused rather than the
		 * later line silently winning. Lists (interface, dns, initrd,
		 * option) accumulate. */
		if (!k->repeatable && st->key_line[i]) {
			snprintf(st->err, st->errsize, "%s:%u: [%s] %s: repeated key (first at "
				 "line %u); give it once", st->path, st->line, section, name,
				 st->key_line[i]);
			return 0;
		}
		st->key_line[i] = st->line;
		st->config->parsing_line = st->line;
		r = k->set(st->config, st->cur_obj, k, value, msg, sizeof(msg));
		if (r < 0) {
			st->error = r;
			snprintf(st->err, st->errsize, "%s:%u: [%s] %s: %s", st->path,
				 st->line, section, name, r == -ENOMEM ? "out of memory" : msg);
			return 0;
		}
		if (st->trace) {
			const char *sp = strchr(section, ' ');
			struct config_origin o = {
				.section = config_section_name(kind), .name = sp ? sp + 1 : "",
				.key = name, .value = value, .file = st->path, .line = st->line };
			r = st->trace(st->trace_ctx, &o);
			if (r < 0) {
				st->error = r;
				snprintf(st->err, st->errsize, "%s:%u: out of memory", st->path,
					 st->line);
				return 0;
			}
		}
		st->error = 0;
		return 1;
	}
	snprintf(st->err, st->errsize, "%s:%u: [%s] %s: unknown key",
		 st->path, st->line, section, name);
	return 0;
}

static const char *file_kind(mode_t m)
{
	return S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO" : S_ISSOCK(m) ? "a socket" :
	       S_ISCHR(m) ? "a character device" : S_ISBLK(m) ? "a block device" :
	       "not a regular file";
}

/* The whole file into memory. Opened non-blocking: a FIFO at the path
 * would otherwise block open() until a writer comes, hanging the start or
 * the event loop on SIGHUP. Only a regular file, of bounded size, is read. */
static int read_whole_file(const char *path, char **ret, size_t *ret_len, char *err,
			   size_t errsize)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	struct stat sb;
	size_t len = 0, cap;
	char *buf;
	int r;

	if (fd < 0) {
		r = -errno;
		snprintf(err, errsize, "%s: cannot open config file: %s", path, strerror(errno));
		return r;
	}
	if (fstat(fd, &sb) < 0) {
		r = -errno;
		snprintf(err, errsize, "%s: cannot open config file: %s", path, strerror(errno));
		goto fail_fd;
	}
	if (!S_ISREG(sb.st_mode)) {
		snprintf(err, errsize, "%s: cannot open config file: %s, not a regular file",
			 path, file_kind(sb.st_mode));
		r = -EINVAL;
		goto fail_fd;
	}
	if ((uint64_t)sb.st_size > CONFIG_MAX_SIZE)
		goto too_big;
	cap = (size_t)sb.st_size + 1;  /* +1 sees a file that grew meanwhile */
	buf = malloc(cap);
	if (!buf) {
		r = -ENOMEM;
		snprintf(err, errsize, "%s: out of memory", path);
		goto fail_fd;
	}
	for (;;) {
		ssize_t n;

		if (len == cap) {
			char *bigger;
			if (cap > CONFIG_MAX_SIZE) {
				free(buf);
				goto too_big;
			}
			bigger = realloc(buf, cap * 2);
			if (!bigger) {
				free(buf);
				r = -ENOMEM;
				snprintf(err, errsize, "%s: out of memory", path);
				goto fail_fd;
			}
			buf = bigger;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			snprintf(err, errsize, "%s: cannot read config file: %s", path,
				 strerror(errno));
			free(buf);
			goto fail_fd;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	*ret = buf;
	*ret_len = len;
	return 0;
too_big:
	snprintf(err, errsize, "%s: config file larger than %u MiB", path,
		 CONFIG_MAX_SIZE >> 20);
	r = -EFBIG;
fail_fd:
	close(fd);
	return r;
}

static int config_read_file(struct config *c, const char *path, char *err,
			    size_t errsize, config_trace_fn trace, void *trace_ctx)
{
	struct ini_state st = { .config = c, .path = path, .err = err,
				.trace = trace, .trace_ctx = trace_ctx,
				.errsize = errsize, .host_tail = &c->hosts,
				.profile_tail = &c->profiles, .subnet_tail = &c->dhcp.subnets };
	const char *nul;
	char *buf = NULL;
	size_t len = 0;
	int r;

	r = read_whole_file(path, &buf, &len, err, errsize);
	if (r < 0)
		return r;
	/* libinih would stop reading a line at a NUL, call the line too long
	 * and parse the rest of it as the next line: name the NUL instead. */
	nul = memchr(buf, '\0', len);
	if (nul) {
		unsigned line = 1;
		for (const char *p = buf; p < nul; p++)
			line += *p == '\n';
		snprintf(err, errsize, "%s:%u: NUL byte in the file (not a text file?)", path, line);
		free(buf);
		return -EINVAL;
	}
	st.buf = buf;
	st.len = len;
	r = ini_parse_stream(ini_read_line, &st, ini_on_key, &st);
	free(buf);
	free(st.seen.slots);
	/* libinih reports the first bad line; if that is a syntax error
	 * before the key we complained about, the syntax error comes first. */
	if (st.error && !(r > 0 && (unsigned)r < st.error_line))
		return st.error;
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
	free(c->api.token_file);
	if (c->api.token)
		explicit_bzero(c->api.token, strlen(c->api.token));
	free(c->api.token);
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
	free(c->hosts_by_mac);
	free(c->hosts_by_uuid);
	free(c->hosts_by_ip);
	free(c->profiles_by_name);
	free(c->hosts_by_name);
	while (c->hosts) {
		struct host_config *h = c->hosts;
		c->hosts = h->next;
		config_host_free(h);
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

/* The lease database when none is configured: under systemd's
 * StateDirectory= ($STATE_DIRECTORY, the first of a ':'-separated list)
 * when the service runs with one, else beside the working directory. */
static int default_database(char **slot)
{
	const char *dir = getenv("STATE_DIRECTORY");
	size_t n = dir ? strcspn(dir, ":") : 0;

	if (*slot)
		return 0;
	if (n == 0 || dir[0] != '/')
		return set_default_string(slot, "./kidou-leases.db");
	if (asprintf(slot, "%.*s/leases.db", (int)n, dir) < 0) {
		*slot = NULL;
		return -ENOMEM;
	}
	return 0;
}

int config_build(const char *path, const struct config_override *overrides,
		 size_t n_overrides, struct config **ret, char *err, size_t errsize)
{
	return config_build_traced(path, overrides, n_overrides, ret, err, errsize, NULL, NULL);
}

int config_build_traced(const char *path, const struct config_override *overrides,
			size_t n_overrides, struct config **ret, char *err, size_t errsize,
			config_trace_fn trace, void *trace_ctx)
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
		r = config_read_file(c, path, err, errsize, trace, trace_ctx);
		if (r < 0)
			goto fail;
	}
	c->parsing_line = 0;  /* what flags set has no line */
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
		if (trace) {
			struct config_origin o = { .section = config_section_name(k->section),
						   .name = "", .key = k->key,
						   .value = overrides[i].value, .flag = k->flag };
			r = trace(trace_ctx, &o);
			if (r < 0) {
				snprintf(err, errsize, "--%s: out of memory", k->flag);
				goto fail;
			}
		}
	}
	if (set_default_string(&c->tftp.root, "./tftpboot") < 0 ||
	    set_default_string(&c->http.root, c->tftp.root) < 0 ||
	    default_database(&c->dhcp.database) < 0 ||
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
