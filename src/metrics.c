/* metrics.c - see metrics.h. */
#include "metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "dhcp/dhcp_io.h"
#include "dhcp/dhcp_pool.h"
#include "dhcp/dhcp_wire.h"
#include "store/lease_store.h"
#include "boot/boot_events.h"
#include "loop.h"
#include "http/http_server.h"
#include "ndp/ndp_io.h"
#include "tftp/tftp_server.h"

static void counter(FILE *f, const char *name, const char *help, unsigned long long v)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name, v);
}

/* Subnet names are validated config words: no quoting needed. Each
 * metric's samples must stay together, so each gauge is its own pass. */
static void pool_size_line(void *ctx, const char *subnet, const struct dhcp_pool_usage *u)
{
	fprintf(ctx, "kidou_dhcp_pool_size{subnet=\"%s\"} %u\n", *subnet ? subnet : "dhcp", u->size);
}

static void pool_use_line(void *ctx, const char *subnet, const struct dhcp_pool_usage *u)
{
	fprintf(ctx, "kidou_dhcp_leases_in_use{subnet=\"%s\"} %u\n", *subnet ? subnet : "dhcp", u->in_use);
}

static void pool_declined_line(void *ctx, const char *subnet, const struct dhcp_pool_usage *u)
{
	fprintf(ctx, "kidou_dhcp_pool_declined{subnet=\"%s\"} %u\n", *subnet ? subnet : "dhcp",
		u->declined);
}

static void pool_free_line(void *ctx, const char *subnet, const struct dhcp_pool_usage *u)
{
	fprintf(ctx, "kidou_dhcp_pool_free{subnet=\"%s\"} %u\n", *subnet ? subnet : "dhcp", u->free);
}

/* A database on the network (PostgreSQL) can be away: say so. */
static void store_metrics(FILE *f, struct lease_store *st)
{
	struct lease_store_health h = { 0 };

	if (!st || !st->ops->health)
		return;
	st->ops->health(st, &h);
	fprintf(f, "# HELP kidou_lease_store_up Whether the lease database is reachable\n"
		   "# TYPE kidou_lease_store_up gauge\nkidou_lease_store_up %d\n", h.down ? 0 : 1);
	counter(f, "kidou_lease_store_outages_total",
		"Times the lease database became unreachable (no ACKs meanwhile)", h.outages);
}

static void dhcp_metrics(FILE *f, const struct dhcp_io *d)
{
	const struct dhcp_stats *st = dhcp_io_stats(d);

	fprintf(f, "# HELP kidou_dhcp_received_total DHCP messages received, by type\n"
		   "# TYPE kidou_dhcp_received_total counter\n");
	for (unsigned t = 0; t < 9; t++)
		fprintf(f, "kidou_dhcp_received_total{type=\"%s\"} %llu\n",
			t ? dhcp_message_type_name((uint8_t)t) : "malformed",
			(unsigned long long)st->received[t]);
	fprintf(f, "# HELP kidou_dhcp_sent_total DHCP replies sent, by type\n"
		   "# TYPE kidou_dhcp_sent_total counter\n");
	for (unsigned t = 1; t < 9; t++)
		fprintf(f, "kidou_dhcp_sent_total{type=\"%s\"} %llu\n",
			dhcp_message_type_name((uint8_t)t), (unsigned long long)st->sent[t]);
	fprintf(f, "# HELP kidou_dhcp_errors_total DHCP errors, by kind\n"
		   "# TYPE kidou_dhcp_errors_total counter\n"
		   "kidou_dhcp_errors_total{kind=\"dropped\"} %llu\n"
		   "kidou_dhcp_errors_total{kind=\"store\"} %llu\n"
		   "kidou_dhcp_errors_total{kind=\"store-busy\"} %llu\n",
		(unsigned long long)st->dropped, (unsigned long long)st->store_errors,
		(unsigned long long)st->store_busy);
	counter(f, "kidou_dhcp_claims_refused_total",
		"Leases another instance held when this one tried to claim them (NAKed)",
		(unsigned long long)st->claims_refused);
	counter(f, "kidou_dhcp_claims_learned_total",
		"Other instances' leases read back beside a refused claim (not offered)",
		(unsigned long long)st->claims_learned);
	store_metrics(f, dhcp_io_store(d));
	fprintf(f, "# HELP kidou_dhcp_pool_size Addresses in each pool\n"
		   "# TYPE kidou_dhcp_pool_size gauge\n");
	dhcp_io_pool_usage(d, pool_size_line, f);
	fprintf(f, "# HELP kidou_dhcp_leases_in_use Leases bound or offered, per pool\n"
		   "# TYPE kidou_dhcp_leases_in_use gauge\n");
	dhcp_io_pool_usage(d, pool_use_line, f);
	fprintf(f, "# HELP kidou_dhcp_pool_declined Addresses set aside after a DHCPDECLINE, per pool\n"
		   "# TYPE kidou_dhcp_pool_declined gauge\n");
	dhcp_io_pool_usage(d, pool_declined_line, f);
	fprintf(f, "# HELP kidou_dhcp_pool_free Addresses neither leased, offered, declined nor "
		   "reserved for a fixed host, per pool\n"
		   "# TYPE kidou_dhcp_pool_free gauge\n");
	dhcp_io_pool_usage(d, pool_free_line, f);
}

int metrics_render(const struct metrics_sources *m, char **out, size_t *len)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	if (!f)
		return -ENOMEM;
	if (m->tftp) {
		const struct tftp_stats *t = tftp_server_stats(m->tftp);
		counter(f, "kidou_tftp_requests_total", "TFTP read requests", t->requests);
		counter(f, "kidou_tftp_transfers_completed_total", "TFTP transfers completed", t->completed);
		counter(f, "kidou_tftp_transfers_failed_total", "TFTP transfers that failed", t->failed);
		counter(f, "kidou_tftp_size_probes_total", "TFTP requests the client ended after learning the size (tsize)", t->size_probes);
		counter(f, "kidou_tftp_requests_rejected_total", "TFTP requests answered with an error", t->rejected);
		counter(f, "kidou_tftp_bytes_sent_total", "TFTP payload bytes sent, retransmissions included", t->bytes_sent);
		counter(f, "kidou_tftp_dropped_total", "malformed or unexpected TFTP datagrams", t->dropped);
		fprintf(f, "# HELP kidou_tftp_transfers_active TFTP transfers in flight\n"
			   "# TYPE kidou_tftp_transfers_active gauge\nkidou_tftp_transfers_active %u\n",
			tftp_server_active(m->tftp));
	}
	if (m->http) {
		const struct http_stats *h = http_server_stats(m->http);
		counter(f, "kidou_http_requests_total", "HTTP requests", h->requests);
		counter(f, "kidou_http_bytes_total", "HTTP body bytes sent (acknowledged by the client, for a transfer it cut short)", h->bytes);
		fprintf(f, "# HELP kidou_http_responses_total HTTP responses, by status class\n"
			   "# TYPE kidou_http_responses_total counter\n");
		for (unsigned c = 2; c <= 5; c++)
			fprintf(f, "kidou_http_responses_total{class=\"%uxx\"} %llu\n", c,
				(unsigned long long)h->status[c]);
		counter(f, "kidou_http_header_timeouts_total",
			"HTTP connections closed because a request's headers took longer than header-timeout",
			h->header_timeouts);
		fprintf(f, "# HELP kidou_http_connections_refused_total HTTP connections refused, by reason\n"
			   "# TYPE kidou_http_connections_refused_total counter\n"
			   "kidou_http_connections_refused_total{reason=\"max-connections\"} %llu\n"
			   "kidou_http_connections_refused_total{reason=\"max-connections-per-address\"} %llu\n"
			   "kidou_http_connections_refused_total{reason=\"no-room\"} %llu\n",
			(unsigned long long)h->refused[HTTP_REFUSED_MAX_CONNECTIONS],
			(unsigned long long)h->refused[HTTP_REFUSED_PER_ADDRESS],
			(unsigned long long)h->refused[HTTP_REFUSED_NO_ROOM]);
	}
	if (m->dhcp)
		dhcp_metrics(f, m->dhcp);
	if (m->ndp) {
		const struct ndp_stats *n = ndp_io_stats(m->ndp);
		counter(f, "kidou_ipv6_router_solicitations_total",
			"IPv6 router solicitations received on DHCP interfaces", n->solicitations);
		counter(f, "kidou_ipv6_router_advertisements_total",
			"\"no router here\" advertisements sent", n->advertisements);
		counter(f, "kidou_ipv6_foreign_advertisements_total",
			"router advertisements heard from other routers", n->foreign_adverts);
		counter(f, "kidou_ipv6_dropped_total",
			"malformed or invalid neighbour discovery messages", n->dropped);
	}
	if (m->boot) {
		const struct boot_events_stats *b = boot_events_stats(m->boot);
		fprintf(f, "# HELP kidou_boots_total machine boots summarised, by outcome\n"
			   "# TYPE kidou_boots_total counter\n"
			   "kidou_boots_total{outcome=\"booted\"} %llu\n"
			   "kidou_boots_total{outcome=\"served\"} %llu\n"
			   "kidou_boots_total{outcome=\"stalled\"} %llu\n"
			   "kidou_boots_total{outcome=\"local\"} %llu\n",
			(unsigned long long)b->booted, (unsigned long long)b->served,
			(unsigned long long)b->stalled, (unsigned long long)b->local);
		fprintf(f, "# HELP kidou_boots_in_progress machines with an open boot timeline\n"
			   "# TYPE kidou_boots_in_progress gauge\nkidou_boots_in_progress %u\n",
			boot_events_open(m->boot));
	}
	if (m->loop) {
		struct loop_poll_stats p;

		loop_poll_stats(m->loop, &p);
		counter(f, "kidou_busy_poll_spins_total",
			"waits for packets that began spinning (--busy-poll)", p.spins);
		counter(f, "kidou_busy_poll_hits_total",
			"of those, waits whose spin found a packet", p.hits);
	}
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*out = buf;
	*len = size;
	return 0;
}
