/* lease_store.c - open the backend a [dhcp] database names (lease_store.h). */
#include "store/lease_store.h"

#include <stdio.h>

int lease_store_open(const char *database, struct loop *loop, unsigned busy_timeout_ms,
		     struct lease_store **ret, char *err, size_t errsize)
{
	if (lease_store_is_pg(database))
		return lease_store_pg_open(database, loop, ret, err, errsize);
	return lease_store_sqlite_open(database, loop, busy_timeout_ms, ret, err, errsize);
}
