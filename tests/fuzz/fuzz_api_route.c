/* fuzz_api_route.c - the API's router and token check on arbitrary input.
 *
 * The input is split at its first NUL: the path, then an Authorization
 * value. Checked: the router never reads past the path and answers only
 * 0, -ENOENT or -ENAMETOOLONG; a routed path starts with the prefix and
 * is at most API_PATH_MAX long; a host name captured is bounded and holds
 * no '/'; the token check accepts exactly "Bearer " + the token. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api_route.h"
#include "fuzz_check.h"

static const char token[] = "0123456789abcdef-fuzz";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *path = malloc(size + 1), *auth;
	struct api_route r;
	size_t plen;
	int e;

	CHECK(path != NULL);
	memcpy(path, data, size);
	path[size] = '\0';
	plen = strlen(path);
	auth = plen < size ? path + plen + 1 : NULL;

	e = api_route_parse(path, &r);
	CHECK(e == 0 || e == -ENOENT || e == -ENAMETOOLONG);
	if (e == -ENAMETOOLONG)
		CHECK(plen > API_PATH_MAX);
	if (e == 0) {
		CHECK(plen <= API_PATH_MAX);
		CHECK(strncmp(path, API_PREFIX "/", strlen(API_PREFIX) + 1) == 0);
		CHECK(r.allow != NULL);
		if (r.endpoint == API_HOST) {
			CHECK(strlen(r.name) <= API_NAME_MAX && strlen(r.name) > 0);
			CHECK(strchr(r.name, '/') == NULL);
		}
		for (int m = API_GET; m <= API_OTHER; m++)
			(void)api_route_allows(&r, (enum api_method)m);
	}
	if (auth) {
		const char *given = auth + 7;
		bool ok = api_token_check(token, auth);

		while (strlen(auth) >= 7 && *given == ' ')
			given++;
		CHECK(ok == (strlen(auth) >= 7 && strncasecmp(auth, "Bearer ", 7) == 0 &&
			     strcmp(given, token) == 0));
	}
	free(path);
	return 0;
}
