/* http_peers.h - connections per client address, for the HTTP server's
 * per-address cap (one machine, or one attacker, must not take every
 * connection slot).
 *
 * A fixed-size open-addressing table of IPv4 address -> count, sized at
 * creation for the most connections that can exist at once; it never
 * grows and never allocates after http_peers_new(). Pure: no sockets, no
 * clock, no logs. */
#ifndef KIDOU_HTTP_PEERS_H
#define KIDOU_HTTP_PEERS_H

#include <stddef.h>
#include <stdint.h>

struct http_peers;

/* A table for at most max_entries distinct addresses at once. */
int http_peers_new(size_t max_entries, struct http_peers **ret);
/* NULL is a no-op. */
void http_peers_free(struct http_peers *p);
/* Connections counted for ip (host order); 0 when none. */
unsigned http_peers_count(const struct http_peers *p, uint32_t ip);
/* One more connection from ip: the new count, or -ENOSPC when the table
 * already holds max_entries addresses (ip 0 is never counted: 0). */
int http_peers_add(struct http_peers *p, uint32_t ip);
/* One connection fewer; an address at 0 leaves the table. */
void http_peers_del(struct http_peers *p, uint32_t ip);

#endif
