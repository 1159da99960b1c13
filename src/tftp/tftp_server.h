/* tftp_server.h - the TFTP adapter: sockets, timers and logging around
 * tftp_session.
 *
 * One listening socket receives requests; every accepted read transfer
 * gets its own socket on an ephemeral port (its TID, RFC 1350), bound to
 * the local address the client talked to, so replies leave from the
 * address the client expects. All transfers run on the daemon's event
 * loop; there are no threads. */
#ifndef KIDOU_TFTP_SERVER_H
#define KIDOU_TFTP_SERVER_H

#include <stdint.h>

#include "boot/boot_events.h"
#include "config.h"
#include "loop.h"
#include "tftp/file_source.h"

struct tftp_server;

struct tftp_stats {
	uint64_t requests;      /* read requests received */
	uint64_t rejected;      /* answered with an error instead of a transfer */
	uint64_t completed;
	uint64_t failed;        /* timed out, aborted, or ended by a client error */
	uint64_t size_probes;   /* ended by the client after an OACK with tsize */
	uint64_t bytes_sent;    /* DATA payload bytes, retransmissions included */
	uint64_t dropped;       /* malformed or unexpected datagrams */
};

/* Open the root and bind the listening socket described by cfg. Files
 * come from the root, then (for names not on disk) from generated, which
 * may be NULL; the server takes its own reference. */
int tftp_server_new(struct loop *loop, const struct tftp_config *cfg,
		    struct file_source *generated, struct tftp_server **ret);

/* A new configuration (SIGHUP), prepared whole before anything changes. */
struct tftp_reload {
	struct file_source *source;  /* the new root, generated files behind it */
	int fd;                      /* a new listening socket, -1: keep the old one */
	struct sockaddr_in listen;   /* where fd is bound */
};

/* Apply a new configuration (SIGHUP) in two steps, so the daemon changes
 * everything or nothing: prepare opens the root and binds a changed listen
 * address without touching the running server (errors are logged); commit
 * swaps them in, with the limits of cfg; abort releases what prepare made.
 * In-flight transfers keep the files and settings they started with. */
int tftp_server_reload_prepare(const struct tftp_server *s, const struct tftp_config *cfg,
			       struct file_source *generated, struct tftp_reload *ret);
void tftp_server_reload_commit(struct tftp_server *s, const struct tftp_config *cfg,
			       struct tftp_reload *r);
void tftp_server_reload_abort(struct tftp_reload *r);

/* Stop accepting requests: close the listening socket. In-flight transfers
 * carry on; on_idle(data) runs once none are left. */
void tftp_server_drain(struct tftp_server *s, void (*on_idle)(void *data),
		       void *data);

/* End every in-flight transfer now, telling each client why. */
void tftp_server_abort_all(struct tftp_server *s, const char *why);

unsigned tftp_server_active(const struct tftp_server *s);
const struct tftp_stats *tftp_server_stats(const struct tftp_server *s);
/* Report every file requested, served, failed or missing to events (may
 * be NULL: nobody listens). */
void tftp_server_set_events(struct tftp_server *s, struct boot_events *events);

/* The bound listening address (useful with port 0). */
int tftp_server_local_port(const struct tftp_server *s);

/* NULL is a no-op. Aborts in-flight transfers. */
void tftp_server_free(struct tftp_server *s);

#endif
