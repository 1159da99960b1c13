/* lease_migrate.h - copy a lease database into another: kidou leases
 * migrate FROM TO, typically an SQLite file into PostgreSQL when a site
 * goes from one instance to several.
 *
 * Leases, next-boot records and API hosts are read from FROM (which is
 * not changed) and written to TO through the lease_store interface, one
 * transaction per LEASE_BATCH_MAX rows, so that TO's schema is created
 * and checked as the daemon does. A lease TO already holds for another
 * client, unexpired, is kept (the claim is refused) and counted. Run it
 * with no kidou using FROM; instances on TO may be running. */
#ifndef KIDOU_LEASE_MIGRATE_H
#define KIDOU_LEASE_MIGRATE_H

#include <stddef.h>
#include <stdio.h>

/* A summary line on out; 0, or -errno with a message in err. */
int lease_migrate(const char *from, const char *to, FILE *out, char *err, size_t errsize);

#endif
