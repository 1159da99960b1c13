/* api_route.c - see api_route.h. */
#include "api/api_route.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "config.h"

struct endpoint_def {
	enum api_endpoint endpoint;
	const char *pattern;   /* segments after /api/v1; ":mac", ":name" capture */
	const char *allow;
	unsigned methods;      /* 1 << enum api_method */
};

#define M(x) (1u << (x))
static const struct endpoint_def endpoints[] = {
	{ API_MACHINES, "/machines", "GET, HEAD", M(API_GET) },
	{ API_MACHINE, "/machines/:mac", "GET, HEAD", M(API_GET) },
	{ API_MACHINE_NEXT_BOOT, "/machines/:mac/next-boot", "PUT", M(API_PUT) },
	{ API_MACHINE_DONE, "/machines/:mac/done", "POST", M(API_POST) },
	{ API_LEASES, "/leases", "GET, HEAD", M(API_GET) },
	{ API_HOSTS, "/hosts", "GET, HEAD", M(API_GET) },
	{ API_HOST, "/hosts/:name", "PUT, DELETE", M(API_PUT) | M(API_DELETE) },
	{ API_PROFILES, "/profiles", "GET, HEAD", M(API_GET) },
	{ API_EVENTS, "/events", "GET, HEAD", M(API_GET) },
	{ API_STATUS, "/status", "GET, HEAD", M(API_GET) },
};

/* The next segment of *p (after its '/'): start and length; false at the end. */
static bool next_segment(const char **p, const char **seg, size_t *len)
{
	if (**p != '/')
		return false;
	*seg = *p + 1;
	*len = strcspn(*seg, "/");
	*p = *seg + *len;
	return true;
}

static bool match(const struct endpoint_def *d, const char *path, struct api_route *out)
{
	const char *pp = d->pattern, *p = path, *pseg, *seg;
	size_t plen, len;

	while (next_segment(&pp, &pseg, &plen)) {
		if (!next_segment(&p, &seg, &len) || len == 0)
			return false;
		if (plen == 4 && strncmp(pseg, ":mac", 4) == 0) {
			char mac[32];
			/* The longest accepted form is 17 characters. */
			out->mac_ok = len < sizeof(mac);
			if (out->mac_ok) {
				memcpy(mac, seg, len);
				mac[len] = '\0';
				out->mac_ok = config_parse_mac(mac, out->mac) == 0;
			}
		} else if (plen == 5 && strncmp(pseg, ":name", 5) == 0) {
			if (len > API_NAME_MAX)
				return false;
			memcpy(out->name, seg, len);
			out->name[len] = '\0';
		} else if (plen != len || strncmp(pseg, seg, len) != 0) {
			return false;
		}
	}
	return *p == '\0';
}

int api_route_parse(const char *path, struct api_route *out)
{
	size_t n = strlen(API_PREFIX);

	if (strlen(path) > API_PATH_MAX)
		return -ENAMETOOLONG;
	if (strncmp(path, API_PREFIX, n) != 0 || path[n] != '/')
		return -ENOENT;
	for (size_t i = 0; i < sizeof(endpoints) / sizeof(endpoints[0]); i++) {
		struct api_route r = { .endpoint = endpoints[i].endpoint,
				       .allow = endpoints[i].allow };
		if (match(&endpoints[i], path + n, &r)) {
			*out = r;
			return 0;
		}
	}
	return -ENOENT;
}

enum api_method api_method_parse(const char *method)
{
	static const char *const names[] = { [API_GET] = "GET", [API_HEAD] = "HEAD",
		[API_PUT] = "PUT", [API_POST] = "POST", [API_DELETE] = "DELETE" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(method, names[i]) == 0)
			return (enum api_method)i;
	return API_OTHER;
}

bool api_route_allows(const struct api_route *r, enum api_method m)
{
	for (size_t i = 0; i < sizeof(endpoints) / sizeof(endpoints[0]); i++)
		if (endpoints[i].endpoint == r->endpoint)
			return m != API_OTHER &&
			       (endpoints[i].methods & M(m == API_HEAD ? API_GET : m));
	return false;
}

bool api_token_check(const char *token, const char *authorization)
{
	const char *given;
	size_t tlen, glen;
	unsigned char diff;

	if (!token || !authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
		return false;
	given = authorization + 7;
	while (*given == ' ')
		given++;
	tlen = strlen(token);
	glen = strlen(given);
	/* Every byte of the expected token is looked at whatever the given
	 * one holds: the time depends on the token's length only. */
	diff = tlen != glen;
	for (size_t i = 0; i < tlen; i++)
		diff |= (unsigned char)token[i] ^ (unsigned char)(i < glen ? given[i] : 0);
	return diff == 0;
}
