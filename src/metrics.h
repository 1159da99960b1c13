/* metrics.h - the daemon's counters in Prometheus text format (version
 * 0.0.4), served at GET /metrics. Reads the modules' own statistics; keeps
 * no state of its own. */
#ifndef KIDOU_METRICS_H
#define KIDOU_METRICS_H

#include <stddef.h>

struct tftp_server;
struct dhcp_io;
struct http_server;
struct ndp_io;
struct boot_events;
struct loop;

struct metrics_sources {
	const struct tftp_server *tftp;
	const struct dhcp_io *dhcp;    /* NULL when DHCP is off */
	const struct http_server *http;
	const struct ndp_io *ndp;      /* NULL when router advertisements are off */
	const struct boot_events *boot;
	const struct loop *loop;       /* its busy-poll counters */
};

/* A malloc'd text body in *out. Returns 0 or -ENOMEM. */
int metrics_render(const struct metrics_sources *m, char **out, size_t *len);

#endif
