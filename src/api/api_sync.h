/* api_sync.h - what other kidou instances wrote to a shared lease store
 * (PostgreSQL): next-boot records and API hosts, applied to this
 * instance's memory so that every instance answers a machine the same
 * way, whichever of them the machine asks.
 *
 * The store reads the changes on its writer and hands them over in loop
 * context (lease_store.h, watch); this applies them as a restart would
 * load them: a host body parsed by the API's own parser and refreshed
 * against the config in force (the file still wins), a record checked by
 * next_boot_put. A record this instance is writing itself right now is
 * left alone and counted (the store reads it again later: the outcome of
 * that write, or a later one, decides). What is already so changes
 * nothing: an instance sees its own writes come back too. */
#ifndef KIDOU_API_SYNC_H
#define KIDOU_API_SYNC_H

#include <stddef.h>

#include "boot/next_boot.h"
#include "config.h"
#include "host_table.h"
#include "store/lease_store.h"

struct api;

struct api_sync_target {
	struct api *api;              /* its writes in flight; NULL: none */
	struct config *config;        /* in force */
	struct next_boot *next_boot;
	struct host_table *hosts;     /* the API hosts, attached to config */
};

/* Records applied per call, at most (a full read of 100,000 hosts takes
 * about 7 us each: ~7 ms per slice). */
#define API_SYNC_SLICE 1000

/* Apply the next slice of set (lease_store.h, lease_store_remote_fn); the
 * records left alone are counted in set->skipped (see above). */
void api_sync_apply(const struct api_sync_target *t, struct lease_remote_set *set);

#endif
