/* api_route.h - the API's pure parts that touch no server state: which
 * endpoint a path names and which methods it takes, and the bearer token
 * check. No I/O, no allocation. */
#ifndef KIDOU_API_ROUTE_H
#define KIDOU_API_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define API_PREFIX "/api/v1"
/* Longer paths are refused (414) before any parsing. */
#define API_PATH_MAX 256
#define API_NAME_MAX 63

enum api_endpoint {
	API_MACHINES,          /* /machines */
	API_MACHINE,           /* /machines/{mac} */
	API_MACHINE_NEXT_BOOT, /* /machines/{mac}/next-boot */
	API_MACHINE_DONE,      /* /machines/{mac}/done */
	API_LEASES,            /* /leases */
	API_HOSTS,             /* /hosts */
	API_HOST,              /* /hosts/{name} */
	API_PROFILES,          /* /profiles */
	API_EVENTS,            /* /events */
	API_STATUS,            /* /status */
};

enum api_method { API_GET, API_HEAD, API_PUT, API_POST, API_DELETE, API_OTHER };

struct api_route {
	enum api_endpoint endpoint;
	const char *allow;         /* the methods it takes, for Allow */
	bool mac_ok;               /* {mac} given and well formed */
	uint8_t mac[6];
	char name[API_NAME_MAX + 1]; /* {name} of /hosts/{name} */
};

/* Route path (with its "/api/v1" prefix). 0 and *out; -ENOENT for a path
 * the API does not have; -ENAMETOOLONG past API_PATH_MAX. A malformed
 * {mac} still routes (mac_ok false): the caller answers 400 once the
 * method is known to be allowed. */
int api_route_parse(const char *path, struct api_route *out);

enum api_method api_method_parse(const char *method);
/* Does the endpoint take this method? HEAD goes wherever GET does. */
bool api_route_allows(const struct api_route *r, enum api_method m);
static inline bool api_method_is_write(enum api_method m)
{
	return m == API_PUT || m == API_POST || m == API_DELETE;
}

/* Does the Authorization header value carry "Bearer <token>" (RFC 6750
 * 2.1; the scheme is case-insensitive, RFC 9110 11.1)? The comparison
 * takes the same time whatever the bytes, so the token cannot be guessed
 * a byte at a time from response times. NULL header or token: false. */
bool api_token_check(const char *token, const char *authorization);

#endif
