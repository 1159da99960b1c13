/* api_hosts.h - the body of PUT /api/v1/hosts/NAME and the checks of a
 * host written through the API against the config and the other API
 * hosts. Pure: jansson, the config's own [host] setters (config.h,
 * config_host_set/config_host_check: the file and the API accept exactly
 * the same values) and the host table; no I/O. The fuzz target's entry. */
#ifndef KIDOU_API_HOSTS_H
#define KIDOU_API_HOSTS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "host_table.h"

/* A key longer than this is named cut short in the error. */
#define API_HOST_FIELD_MAX 63

/* The body (a JSON object whose keys are a [host]'s: mac, uuid, ip,
 * hostname, profile, option, bios, uefi-x64, ...; values are strings as
 * in the file, option also a list of strings) into a new host named
 * name. With check, the host is also checked against c as config_build
 * checks a [host] (mac or uuid, profile exists, no ip in proxy mode), and
 * its ip must lie outside the dynamic ranges. On 0, *ret is the host and
 * *canonical (when not NULL) the body as stored: compact, keys sorted.
 * -EINVAL with the key at fault in field ("" for the body as a whole) and
 * "key: reason" in msg; -ENOMEM. */
int api_host_parse(const char *body, size_t len, const struct config *c, const char *name,
		   bool check, struct host_config **ret, char **canonical, char *field,
		   size_t fieldsize, char *msg, size_t msgsize);

/* Would h (named as it is, replacing the API host of that name) clash
 * with a host of the file (409: config wins) or another API host (400)?
 * 0 when not; else the HTTP status, with the field and the reason. */
unsigned api_host_conflict(const struct config *c, const struct host_table *t,
			   const struct host_config *h, const char **field, char *msg,
			   size_t msgsize);

#endif
