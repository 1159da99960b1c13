/* lease_store.c - open the backend a [dhcp] database names (lease_store.h). */
#include "store/lease_store.h"

#include <stdio.h>

int lease_store_open(const char *database, struct loop *loop, unsigned busy_timeout_ms,
		     bool may_start_down, struct lease_store **ret, char *err, size_t errsize)
{
	if (lease_store_is_pg(database))
		return may_start_down ? lease_store_pg_open_lazy(database, loop, ret, err, errsize) :
			lease_store_pg_open(database, loop, ret, err, errsize);
	return lease_store_sqlite_open(database, loop, busy_timeout_ms, ret, err, errsize);
}
