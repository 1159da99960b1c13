/* lease_store_uri.c - what a [dhcp] database value names (lease_store.h):
 * pure, apart from the stores, so that the config (and the fuzz targets
 * that parse one) can tell a PostgreSQL URI without linking a backend. */
#include "store/lease_store.h"

#include <string.h>

bool lease_store_is_pg(const char *database)
{
	return database && (strncmp(database, "postgresql://", 13) == 0 ||
			    strncmp(database, "postgres://", 11) == 0);
}

/* libpq URIs (libpq docs, 34.1.1.2): postgresql://[user[:password]@][host]
 * [/dbname][?param=value&...]. A password is refused in either place. */
bool lease_store_uri_has_password(const char *uri)
{
	const char *p = strstr(uri, "://");
	size_t auth_len;
	const char *q, *at = NULL;

	if (!p)
		return false;
	p += 3;
	auth_len = strcspn(p, "/?");
	for (size_t i = 0; i < auth_len; i++)
		if (p[i] == '@')
			at = p + i;  /* the last '@' ends the user info */
	if (at && memchr(p, ':', (size_t)(at - p)))
		return true;
	q = strchr(p, '?');
	while (q) {
		q++;
		if (strncmp(q, "password=", 9) == 0)
			return true;
		q = strchr(q, '&');
	}
	return false;
}
