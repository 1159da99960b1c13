/* config.h - kidou's configuration: defaults, then the INI file, then
 * command-line flags (flags win). Every plain setting has one key in the
 * file ([section] key) and one flag (--section-key); [host NAME] and
 * [subnet NAME] sections exist only in the file.
 *
 * A config is validated whole when built and is immutable afterwards; a
 * reload (SIGHUP) builds a new one from the same file and flags and the
 * daemon swaps it in. Addresses are kept in host byte order. */
#ifndef KIDOU_CONFIG_H
#define KIDOU_CONFIG_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "log.h"

#define CONFIG_MAX_DNS 4
#define CONFIG_MAX_INTERFACES 16
#define CONFIG_BOOT_TARGET_MAX 255  /* option 67 carries at most 255 bytes */

struct tftp_config {
	char *root;                /* directory served (default ./tftpboot) */
	struct sockaddr_in listen; /* default 0.0.0.0:69 */
	unsigned max_transfers;    /* concurrent transfers before "busy" */
	unsigned retransmit_ms;    /* retransmit timeout unless the client negotiates one */
	unsigned retries;          /* retransmits before a transfer is abandoned */
	unsigned max_blksize;      /* larger blksize requests are clamped here */
	unsigned max_windowsize;   /* larger windowsize requests are clamped here */
};

struct http_config {
	bool enabled;               /* true once listen is set: HTTP is off by default */
	struct sockaddr_in listen;
	char *root;                 /* default: the TFTP root */
	unsigned max_connections;   /* default 1000 */
	unsigned idle_timeout_sec;  /* a connection silent this long is closed; default 30 */
	unsigned header_timeout_sec; /* a request's headers must be complete this long after
				      * the connection opened or its last request ended; default 10 */
	unsigned max_connections_per_address; /* per client IPv4 address; default 16 */
};

/* [api]: the JSON API under /api/v1/ (api/api.h). Served on the HTTP
 * server when [http] listen is set, or on its own address. */
#define API_TOKEN_MIN 16
#define API_TOKEN_MAX 512
struct api_config {
	bool own_listen;            /* [api] listen set: a server of its own */
	struct sockaddr_in listen;
	char *token_file;           /* NULL: writes are disabled */
	char *token;                /* read from token_file when the config is built */
	bool read_token;            /* reads need the token too (default no) */
	unsigned max_event_streams; /* /api/v1/events subscribers; default 256 */
};

/* What a client boots, by the firmware it runs (DHCP option 93) or by
 * iPXE. NULL means "not configured". */
enum boot_target {
	BOOT_TARGET_BIOS,        /* arch 0: x86 BIOS PXE */
	BOOT_TARGET_UEFI_IA32,   /* arch 6 */
	BOOT_TARGET_UEFI_X64,    /* arch 7 and 9 */
	BOOT_TARGET_UEFI_ARM32,  /* arch 10 */
	BOOT_TARGET_UEFI_ARM64,  /* arch 11 */
	BOOT_TARGET_HTTP_X64,    /* arch 16: UEFI HTTP boot, a URL */
	BOOT_TARGET_HTTP_ARM64,  /* arch 19: UEFI HTTP boot, a URL */
	BOOT_TARGET_IPXE,        /* clients already running iPXE */
	BOOT_TARGET_COUNT,
};

struct boot_targets {
	char *target[BOOT_TARGET_COUNT];
};

/* A DHCP option from the config (`option = CODE TYPE VALUE` in [dhcp],
 * [subnet] or [host]), already encoded. */
struct dhcp_option_config {
	uint8_t code;
	uint8_t len;
	uint8_t data[255];
	struct dhcp_option_config *next;
};

/* One IPv4 subnet DHCP serves. The [dhcp] section describes the subnet of
 * the interfaces kidou listens on (network and mask come from the
 * interface); [subnet NAME] sections describe subnets behind relays. */
struct dhcp_subnet_config {
	char *name;                /* "" for the [dhcp] subnet */
	unsigned line;             /* where the section starts, for errors */
	uint32_t network, netmask; /* 0/0 for the [dhcp] subnet */
	uint32_t range_first, range_last; /* 0/0: no dynamic range */
	unsigned network_line, range_line; /* where they were set (0: a flag) */
	uint32_t router;           /* 0: none */
	uint32_t dns[CONFIG_MAX_DNS];
	unsigned n_dns;
	char *domain;
	unsigned lease_time;       /* seconds */
	struct dhcp_option_config *options; /* [dhcp]'s apply to every subnet */
	struct dhcp_subnet_config *next;
};

#define PROFILE_MAX_INITRDS 8

/* What a machine boots into: rendered on the fly as the PXELINUX, GRUB or
 * iPXE config its bootloader asks for. Paths are relative to the served
 * root, or full http(s) URLs. cmdline may use ${mac}, ${ip}, ${hostname},
 * ${server} and ${http} (see boot/render.h). */
struct profile_config {
	char *name;
	unsigned line;
	char *kernel;
	char *initrd[PROFILE_MAX_INITRDS];
	unsigned n_initrd;
	char *cmdline;             /* "" when unset */
	struct profile_config *next;
};

struct host_config {
	char *name;
	unsigned line;
	uint8_t mac[6];
	bool has_mac;
	uint8_t uuid[16];          /* SMBIOS UUID (DHCP option 97) */
	bool has_uuid;
	uint32_t ip;               /* fixed address, 0: from the pool */
	char *hostname;
	char *profile_name;
	unsigned profile_line;     /* where profile_name was set, for errors */
	const struct profile_config *profile;  /* resolved from profile_name */
	struct boot_targets boot;  /* overrides of [boot] for this machine */
	struct dhcp_option_config *options; /* win over its subnet's and [dhcp]'s */
	struct host_config *next;
	/* A host written through the API (host_table.h) rather than the file. */
	bool from_api;
	uint64_t api_gen;          /* which write made it (undo after a failed commit) */
	char *inactive;            /* API host the current config overrides: why; NULL: used */
	char *api_body;            /* API host: its body as stored (canonical JSON), or NULL */
};

/* [dhcp] ipv6-ra: router advertisements that end iPXE's IPv6 wait. */
enum ipv6_ra_mode {
	IPV6_RA_AUTO,    /* answer, unless another router advertises there */
	IPV6_RA_OFF,
	IPV6_RA_ALWAYS,  /* answer even beside another router */
};

/* [dhcp] mode */
enum dhcp_mode {
	DHCP_MODE_SERVER,  /* hand out addresses, with boot information */
	DHCP_MODE_PROXY,   /* beside another DHCP server: boot information only
			    * (PXE proxyDHCP: port 67 offers, port 4011 answers) */
};

struct dhcp_config {
	bool enabled;              /* true once an interface is configured */
	enum dhcp_mode mode;       /* default server */
	char *interfaces[CONFIG_MAX_INTERFACES];
	unsigned n_interfaces;
	struct sockaddr_in listen; /* default 0.0.0.0:67 */
	char *database;            /* default ./kidou-leases.db */
	unsigned offer_hold_sec;   /* an offered address is held this long */
	unsigned database_busy_timeout_sec; /* a commit waits this long on a lock */
	unsigned decline_hold_sec; /* a declined address rests this long */
	uint32_t next_server;      /* siaddr/option 66; 0: receiving interface */
	bool authoritative;        /* answer clients with no record (default no) */
	enum ipv6_ra_mode ipv6_ra; /* default auto */
	struct dhcp_subnet_config local;    /* from [dhcp] */
	struct dhcp_subnet_config *subnets; /* [subnet NAME], in file order */
};

struct host_table;

struct config {
	char *path;                /* config file, NULL when none */
	unsigned parsing_line;     /* while reading the file: the current line */
	enum log_level log_level;
	char *user;                /* drop privileges to this user; NULL: don't */
	unsigned timeline_idle_sec; /* quiet time that ends a boot timeline */
	unsigned busy_poll_usec;   /* event loop's busy-poll ceiling, 0: off */
	bool seccomp_off;          /* [daemon] seccomp = no */
	struct tftp_config tftp;
	struct http_config http;
	struct api_config api;
	struct dhcp_config dhcp;
	struct boot_targets boot;  /* [boot] */
	char *default_profile_name;               /* [boot] profile */
	const struct profile_config *default_profile; /* for machines without their own */
	struct profile_config *profiles;          /* [profile NAME], in file order */
	struct host_config *hosts; /* [host NAME], in file order */
	/* Sorted indexes built with the config, so that lookups (per DHCP
	 * packet, per HTTP request) and the duplicate checks stay O(log n)
	 * with 100,000 hosts. */
	const struct host_config **hosts_by_mac, **hosts_by_uuid, **hosts_by_ip;
	size_t n_by_mac, n_by_uuid, n_by_ip;
	const struct profile_config **profiles_by_name;
	size_t n_profiles;
	const struct host_config **hosts_by_name;  /* the file's, sorted by name */
	size_t n_by_name;
	/* The hosts written through the API (not owned: the daemon's, kept
	 * across reloads; see config_attach_api_hosts). NULL: none. */
	struct host_table *api_hosts;
};

/* The host whose MAC is mac, or NULL: a [host] of the file, else an
 * active host of the API (the file's win, see config_attach_api_hosts). */
const struct host_config *config_host_by_mac(const struct config *c, const uint8_t mac[6]);
/* The host with the fixed address ip (host byte order), or NULL. */
const struct host_config *config_host_by_ip(const struct config *c, uint32_t ip);
/* The host whose SMBIOS UUID is uuid, or NULL. */
const struct host_config *config_host_by_uuid(const struct config *c, const uint8_t uuid[16]);
/* The same lookups among the file's [host] sections only. */
const struct host_config *config_file_host_by_mac(const struct config *c, const uint8_t mac[6]);
const struct host_config *config_file_host_by_ip(const struct config *c, uint32_t ip);
const struct host_config *config_file_host_by_uuid(const struct config *c, const uint8_t uuid[16]);
const struct host_config *config_file_host_by_name(const struct config *c, const char *name);

/* --- one host, key by key: the file's [host NAME] sections and the API's
 * PUT /api/v1/hosts/NAME go through the same code, so both accept and
 * refuse exactly the same things. --- */

/* Is name a [host NAME] name: 1..63 letters, digits, '-' and '.'? */
bool config_host_name_valid(const char *name);
/* A new empty host called name (NULL: out of memory). */
struct host_config *config_host_new(const char *name);
/* NULL is a no-op. */
void config_host_free(struct host_config *h);
/* Set one [host] key (mac, ip, hostname, uuid, profile, option, bios,
 * uefi-x64, ...) from its text. 0; -ENOENT for a key [host] does not
 * have; -EINVAL with the reason in err; -ENOMEM. option may be given
 * more than once; any other key once (the caller checks). */
int config_host_set(const struct config *c, struct host_config *h, const char *key,
		    const char *value, char *err, size_t errsize);
/* The checks of a whole host against c, as config_build makes them: mac
 * or uuid given, no fixed ip in proxy mode, the profile exists (resolved
 * into h->profile). 0, or -EINVAL with the key at fault in *field and the
 * reason in err. */
int config_host_check(const struct config *c, struct host_config *h, const char **field,
		      char *err, size_t errsize);
/* Is ip (host order) inside a dynamic range of c? */
bool config_ip_in_range(const struct config *c, uint32_t ip);
/* Use t's hosts with c (at start, and on reload before anything reads
 * the new config): each one's profile is resolved in c, and a host c
 * overrides is marked inactive (kept, not used): one with the name, MAC,
 * UUID or ip of a [host] of the file, a profile c lacks, an ip inside a
 * range, or an ip in proxy mode. Logs each inactive host. Returns how
 * many are inactive. */
size_t config_attach_api_hosts(struct config *c, struct host_table *t);
/* The same for one host of t (after it was put back). */
void config_refresh_api_host(const struct config *c, struct host_config *h, bool log);
/* Parse "52:54:00:12:34:56", "52-54-00-12-34-56" or "525400123456" (any
 * case). Returns 0 or -EINVAL. */
int config_parse_mac(const char *s, uint8_t mac[6]);

/* One command-line setting, kept so that a reload can apply it again. */
struct config_override {
	const char *flag;  /* e.g. "tftp-root" (without dashes) */
	const char *value;
};

/* Describes every setting for --help: one line per key. */
void config_print_keys(FILE *out);

/* Look up a flag name ("tftp-root"); returns 0 if it names a setting. */
int config_flag_known(const char *flag);

/* Build a config: defaults, then `path` (may be NULL), then overrides.
 * On failure returns -errno and writes a message naming the file, line and
 * key (or the flag) into err. *ret is set only on success. */
int config_build(const char *path, const struct config_override *overrides,
		 size_t n_overrides, struct config **ret, char *err, size_t errsize);

/* Where a setting came from (kidou check-config): a line of the file, or
 * a flag. The strings are valid during the callback only. */
struct config_origin {
	const char *section;  /* "tftp", "host", ... */
	const char *name;     /* the NAME of [host NAME] etc., "" for plain sections */
	const char *key;
	const char *value;
	const char *file;     /* NULL for a flag */
	unsigned line;
	const char *flag;     /* the flag (without dashes), NULL for a file line */
};
typedef int (*config_trace_fn)(void *ctx, const struct config_origin *o);

/* config_build(), telling trace (if not NULL) every setting applied, in
 * order; a negative return from trace stops the build with it. */
int config_build_traced(const char *path, const struct config_override *overrides,
			size_t n_overrides, struct config **ret, char *err, size_t errsize,
			config_trace_fn trace, void *trace_ctx);

void config_free(struct config *c);

const char *boot_target_key(enum boot_target t);

#endif
