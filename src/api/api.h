/* api.h - kidou's JSON API under /api/v1/, served by http_server (on the
 * [http] server, or on [api] listen alone).
 *
 * Reads: machines (configured hosts, leases, machines seen booting and
 * next-boot records, merged by MAC), leases, hosts, profiles, and the boot
 * events as Server-Sent Events. Writes need the bearer token (403 without
 * a token file, 401 without the token); the done callback takes its
 * one-time token instead. PUT next-boot and done are answered only once
 * the lease store has committed them (the connection waits suspended), so
 * an acknowledged write is as durable as a DHCP ACK; so are PUT and
 * DELETE /hosts/NAME (api_hosts.h has the rules). Every error is JSON:
 * {"error": ..., "field": ...}.
 *
 * The API reads the daemon's state through the pointers it is given, at
 * request time, on the loop. Large reads (/machines, /leases, /hosts) are
 * built a slice per loop turn (api_chunked.h) from a snapshot taken when
 * the request came: small copies, and config pointers checked against a
 * reload counter before each slice. */
#ifndef KIDOU_API_H
#define KIDOU_API_H

#include "boot/boot_events.h"
#include "boot/next_boot.h"
#include "config.h"
#include "http/http_server.h"
#include "loop.h"

struct dhcp_io;
struct api;

/* What the API reads; the pointed-to pointers may change (a reload swaps
 * the config, DHCP stops before the API). */
struct api_sources {
	struct config *const *config;
	struct dhcp_io *const *dhcp;
	struct boot_events *events;
	/* The machines' next-boot records, written through PUT next-boot
	 * and done (durably, through the DHCP adapter's lease store). */
	struct next_boot *next_boot;
	/* The hosts written through PUT /hosts/NAME (kept in the same
	 * database); the config in use has them attached. */
	struct host_table *hosts;
};

/* Registers itself as events' listener. */
int api_new(struct loop *loop, const struct api_sources *src, struct api **ret);
/* The HTTP server's hook (struct http_dynamic .api), data = the api. */
int api_handle(void *data, const struct http_api_request *rq, struct http_api_answer *a);
/* Is a write of this instance to mac's next-boot record (mac not NULL)
 * or to the API host called host (not NULL) waiting for its commit? a
 * may be NULL (no API: none). */
bool api_write_pending(const struct api *a, const uint8_t *mac, const char *host);
/* The API hosts table changed other than through a write of a: reads in
 * progress look their hosts up again. The generation for the new host
 * (0 when a is NULL). */
uint64_t api_hosts_moved(struct api *a);
/* After a reload swapped the config in: its limits apply from now. */
void api_reconfigure(struct api *a);
/* End every event stream, and answer every write still waiting for its
 * commit 503 (before the HTTP servers stop). */
void api_close_streams(struct api *a);
unsigned api_event_streams(const struct api *a);
/* NULL is a no-op. Free after the HTTP servers and the lease store. */
void api_free(struct api *a);

#endif
