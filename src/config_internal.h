/* config_internal.h - what config.c (the settings table, the INI reader,
 * config_build) shares with the files holding the setters by section
 * (config_dhcp.c, config_boot.c) and the whole-config checks
 * (config_check.c). Not a contract for the rest of kidou: see config.h. */
#ifndef KIDOU_CONFIG_INTERNAL_H
#define KIDOU_CONFIG_INTERNAL_H

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "util.h"

enum section_kind {
	SEC_DAEMON,
	SEC_TFTP,
	SEC_DHCP,
	SEC_HTTP,
	SEC_BOOT,
	SEC_SUBNET,  /* [subnet NAME] */
	SEC_HOST,    /* [host NAME] */
	SEC_PROFILE, /* [profile NAME] */
	SEC_API,
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
	const char *example; /* a value for the sample config (docs/kidou.ini); NULL: none */
};

/* The settings table, for the documents generated from it (config_doc.c). */
const struct config_key *config_key_table(size_t *count);
const char *config_section_name(enum section_kind s);
/* What a section is for, one paragraph. */
const char *config_section_help(enum section_kind s);
/* Whether the section is [KIND NAME], given once per NAME. */
bool config_section_named(enum section_kind s);

/* Value helpers every setter uses: inline, so each file keeps them
 * private. Messages go into err; failures return -EINVAL. */

static inline int set_error(char *err, size_t errsize, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static inline int set_error(char *err, size_t errsize, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errsize, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static inline int set_string(char **slot, const char *value, size_t max, char *err, size_t errsize)
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

/* A switch: exactly "yes" or "no". */
static inline int set_yes_no(bool *slot, const char *value, char *err, size_t errsize)
{
	if (strcmp(value, "yes") != 0 && strcmp(value, "no") != 0)
		return set_error(err, errsize, "\"%s\" is not yes or no", value);
	*slot = strcmp(value, "yes") == 0;
	return 0;
}

static inline int set_uint(unsigned *slot, const char *value, unsigned min,
		    unsigned max, char *err, size_t errsize)
{
	uint64_t v;

	if (parse_uint(value, min, max, &v) < 0)
		return set_error(err, errsize, "\"%s\" is not a whole number in %u..%u",
				 value, min, max);
	*slot = (unsigned)v;
	return 0;
}

static inline int parse_ipv4(const char *s, uint32_t *out)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*out = ntohl(a.s_addr);
	return 0;
}

static inline int set_ipv4(uint32_t *slot, const char *value, char *err, size_t n)
{
	if (parse_ipv4(value, slot) < 0)
		return set_error(err, n, "\"%s\" is not an IPv4 address", value);
	return 0;
}

/* Split a comma-separated list in place into trimmed, non-empty items. */
static inline size_t split_list(char *s, char **items, size_t max)
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

static inline bool valid_domain(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '.'))
			return false;
	return true;
}

static inline int hex_digit(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* The setters the table names, by section file. */
#define CONFIG_SETTER(name) \
	int name(struct config *c, void *obj, const struct config_key *k, const char *v, \
		 char *err, size_t n)

/* config_dhcp.c: [dhcp], [subnet NAME] and `option` in any section */
CONFIG_SETTER(set_dhcp_interface);
CONFIG_SETTER(set_dhcp_listen);
CONFIG_SETTER(set_dhcp_database);
CONFIG_SETTER(set_dhcp_ipv6_ra);
CONFIG_SETTER(set_dhcp_mode);
CONFIG_SETTER(set_dhcp_offer_hold);
CONFIG_SETTER(set_dhcp_decline_hold);
CONFIG_SETTER(set_dhcp_busy_timeout);
CONFIG_SETTER(set_dhcp_authoritative);
CONFIG_SETTER(set_dhcp_next_server);
CONFIG_SETTER(set_subnet_range);
CONFIG_SETTER(set_subnet_network);
CONFIG_SETTER(set_subnet_router);
CONFIG_SETTER(set_subnet_dns);
CONFIG_SETTER(set_subnet_domain);
CONFIG_SETTER(set_subnet_lease_time);
CONFIG_SETTER(set_option);

/* config_boot.c: [boot], [host NAME], [profile NAME] */
CONFIG_SETTER(set_boot_target);
CONFIG_SETTER(set_host_mac);
CONFIG_SETTER(set_host_uuid);
CONFIG_SETTER(set_host_profile);
CONFIG_SETTER(set_boot_profile);
CONFIG_SETTER(set_profile_kernel);
CONFIG_SETTER(set_profile_initrd);
CONFIG_SETTER(set_profile_cmdline);
CONFIG_SETTER(set_host_ip);
CONFIG_SETTER(set_host_hostname);

/* config_check.c: the checks of a whole config (file and flags applied),
 * and the indexes lookups use. Returns 0 or -errno with a message naming
 * the file, line and key in err. */
int config_validate(struct config *c, char *err, size_t errsize);

#endif
