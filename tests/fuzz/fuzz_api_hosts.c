/* fuzz_api_hosts.c - the body of PUT /api/v1/hosts/{name}
 * (api_host_parse: jansson, then the config's own [host] setters), the
 * conflict checks and the host table it feeds, on arbitrary bytes.
 *
 * Checked: the parser answers only 0, -EINVAL or -ENOMEM, with a
 * NUL-terminated field and message; on 0 the host has a MAC or a UUID,
 * a resolved profile when it names one, and its stored text parses back
 * to the same host; it goes into a table of one, is found there by name,
 * MAC, UUID and ip, and a second name is refused by the bound. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_hosts.h"
#include "fuzz_check.h"
#include "host_table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct profile_config inst = { .name = "inst", .kernel = "k" };
	static const struct profile_config *by_name[] = { &inst };
	static const struct config cfg = { .profiles = &inst, .profiles_by_name = by_name,
					   .n_profiles = 1 };
	char field[API_HOST_FIELD_MAX + 1], msg[256], *canon = NULL;
	struct host_config *h = NULL, *back = NULL, *old = NULL, *other;
	struct host_table *t;
	const char *f;
	int e;

	memset(field, 'x', sizeof(field));
	memset(msg, 'x', sizeof(msg));
	e = api_host_parse((const char *)data, size, &cfg, "web1", true, &h, &canon, field,
			   sizeof(field), msg, sizeof(msg));
	CHECK(e == 0 || e == -EINVAL || e == -ENOMEM);
	CHECK(memchr(field, '\0', sizeof(field)) != NULL);
	if (e < 0) {
		CHECK(h == NULL);
		CHECK(e == -ENOMEM || (memchr(msg, '\0', sizeof(msg)) != NULL && msg[0]));
		return 0;
	}
	CHECK(h->has_mac || h->has_uuid);
	CHECK(!h->profile_name || h->profile == &inst);
	CHECK(api_host_parse(canon, strlen(canon), &cfg, "web1", true, &back, NULL, field,
			     sizeof(field), msg, sizeof(msg)) == 0);
	CHECK(back->has_mac == h->has_mac && memcmp(back->mac, h->mac, 6) == 0);
	CHECK(back->has_uuid == h->has_uuid && memcmp(back->uuid, h->uuid, 16) == 0);
	CHECK(back->ip == h->ip);
	CHECK(!h->hostname == !back->hostname && (!h->hostname ||
						 strcmp(h->hostname, back->hostname) == 0));
	config_host_free(back);
	free(canon);

	CHECK(host_table_new(1, &t) == 0);
	CHECK(api_host_conflict(&cfg, t, h, &f, msg, sizeof(msg)) == 0);
	CHECK(host_table_put(t, h, &old) == 0 && old == NULL);
	CHECK(host_table_by_name(t, "web1") == h);
	CHECK(!h->has_mac || host_table_by_mac(t, h->mac) == h);
	CHECK(!h->has_uuid || host_table_by_uuid(t, h->uuid) == h);
	CHECK(!h->ip || host_table_by_ip(t, h->ip) == h);
	other = config_host_new("web2");
	CHECK(other != NULL);
	CHECK(host_table_put(t, other, &old) == -ENOSPC);
	config_host_free(other);
	host_table_free(t);
	return 0;
}
