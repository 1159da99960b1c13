/* dhcp_io.h - the DHCP adapter: the socket on port 67, the interfaces it
 * serves, the lease store, and the log line of every decision. In proxy
 * mode ([dhcp] mode = proxy) there is no lease store, and a second socket
 * on port 4011 takes the requests PXE clients send there once they have
 * an address; answers to those leave from port 4011.
 *
 * Each wakeup reads up to a batch of requests and lets dhcp_server decide
 * each. Replies that change no lease leave at once; the others gather in
 * the open batch, which goes to the store as one durable transaction when
 * the store is idle (at the end of the wakeup, or when the commit before
 * it is done: group commit, so many clients booting at once share one
 * fsync). Their ACKs leave when the store reports the batch done, so an
 * ACK never leaves before its lease is on disk, and the loop serves
 * everything else meanwhile. A failed commit undoes the batch's bindings
 * (store-error); when every batch is full or in flight, further lease
 * changes are dropped and undone (store-busy). */
#ifndef KIDOU_DHCP_IO_H
#define KIDOU_DHCP_IO_H

#include <stdint.h>

#include "boot/boot_events.h"
#include "config.h"
#include "loop.h"

struct dhcp_lease_info;

struct dhcp_io;

struct dhcp_stats {
	uint64_t received[9];   /* by message type 1..8; [0]: not DHCP/malformed */
	uint64_t sent[9];       /* by message type */
	uint64_t dropped;
	uint64_t store_errors;  /* batches the store failed */
	uint64_t store_busy;    /* lease changes dropped: the store was full */
	uint64_t claims_refused; /* ACKs turned NAK: another instance holds the address */
	uint64_t claims_learned; /* other instances' leases read back beside a refused claim */
};

/* Open the lease database, restore its leases, bind the socket. cfg must
 * outlive the adapter (until dhcp_io_reload_commit replaces it). */
int dhcp_io_new(struct loop *loop, const struct config *cfg, struct dhcp_io **ret);

/* Apply a new configuration (SIGHUP): subnets, hosts, boot targets and
 * interfaces, in two steps so the daemon changes everything or nothing.
 * prepare builds the new server state without touching the running one
 * (errors are logged); commit carries the leases over from memory (the
 * store is not read), swaps it in and cannot fail, after which cfg must
 * outlive the adapter; abort frees a prepared state that is not
 * committed. */
struct dhcp_server;
int dhcp_io_reload_prepare(const struct dhcp_io *d, const struct config *cfg,
			   struct dhcp_server **ret);
void dhcp_io_reload_commit(struct dhcp_io *d, const struct config *cfg, struct dhcp_server *s);
void dhcp_io_reload_abort(struct dhcp_server *s);

const struct dhcp_stats *dhcp_io_stats(const struct dhcp_io *d);
/* Report every decision about a client with an Ethernet address to events
 * (NULL: nobody listens). */
void dhcp_io_set_events(struct dhcp_io *d, struct boot_events *events);
/* See dhcp_server_set_http_port(); kept across reloads. */
void dhcp_io_set_http_port(struct dhcp_io *d, int port);
/* The lease store, for the API's next-boot writes (its own share of the
 * queue, LEASE_STORE_QUEUE_API); NULL in proxy mode. */
struct lease_store *dhcp_io_store(const struct dhcp_io *d);
/* A shared store that was unreachable at start (lease_store.h,
 * when_ready): DHCP stays silent (packets dropped, counted, logged at
 * debug) until the store is reached and its leases are loaded; then
 * hook(0, data) runs in loop context (the daemon's other loads), or
 * hook(-errno, data) when the database cannot be used. Without such a
 * start the hook is never called. */
void dhcp_io_set_ready_hook(struct dhcp_io *d, void (*hook)(int result, void *data), void *data);
/* Are the leases loaded (DHCP answering)? */
bool dhcp_io_loaded(const struct dhcp_io *d);
/* See dhcp_server_pool_usage(); time is now. */
struct dhcp_pool_usage;
void dhcp_io_pool_usage(const struct dhcp_io *d,
			void (*cb)(void *ctx, const char *subnet, const struct dhcp_pool_usage *u),
			void *ctx);

/* See dhcp_server_mac_for_ip(); ip in host order. */
int dhcp_io_mac_for_ip(const struct dhcp_io *d, uint32_t ip, uint8_t mac[6]);

/* NULL is a no-op. */
/* dhcp_server_foreach_lease on the running server, at the wall clock. */
void dhcp_io_foreach_lease(const struct dhcp_io *d,
			   void (*cb)(void *ctx, const struct dhcp_lease_info *l), void *ctx);
void dhcp_io_free(struct dhcp_io *d);

#endif
