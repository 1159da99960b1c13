/* host_table.h - the hosts written through the API (PUT /api/v1/hosts/NAME):
 * the runtime counterpart of the file's [host NAME] sections.
 *
 * Pure: it owns its host_config objects and keeps them in sorted indexes
 * (by name, and by MAC, UUID and fixed ip for the lookups each DHCP
 * packet and each rendered config make), so a lookup stays O(log n) and
 * a write O(n) memmove at worst (100,000 hosts: well under a
 * millisecond). No I/O, no config: config.c looks its lookups up here
 * after the file's own index, and skips inactive hosts. Among the API's
 * hosts, names, MACs, UUIDs and ips are unique (the API refuses a
 * collision before it puts). The daemon owns the table; it outlives
 * every config (a reload attaches the same table to the new one). */
#ifndef KIDOU_HOST_TABLE_H
#define KIDOU_HOST_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* API hosts kept at most (as many as the file's [host] sections are
 * meant to scale to). */
#define HOST_TABLE_MAX 100000

struct host_table;

int host_table_new(size_t max, struct host_table **ret);
/* Frees every host too. NULL is a no-op. */
void host_table_free(struct host_table *t);

size_t host_table_count(const struct host_table *t);
/* The i-th host in name order (i < count). */
struct host_config *host_table_at(const struct host_table *t, size_t i);

/* Active or not; NULL when none. t may be NULL. */
struct host_config *host_table_by_name(const struct host_table *t, const char *name);
struct host_config *host_table_by_mac(const struct host_table *t, const uint8_t mac[6]);
struct host_config *host_table_by_uuid(const struct host_table *t, const uint8_t uuid[16]);
struct host_config *host_table_by_ip(const struct host_table *t, uint32_t ip);

/* Insert h (taken over), replacing the host of the same name, which is
 * handed back in *old (the caller frees it) or NULL. -ENOSPC when the
 * table is full and the name is new; -ENOMEM. On failure h is not taken. */
int host_table_put(struct host_table *t, struct host_config *h, struct host_config **old);
/* Remove the host called name and hand it back (the caller frees it), or
 * NULL. */
struct host_config *host_table_take(struct host_table *t, const char *name);

#endif
