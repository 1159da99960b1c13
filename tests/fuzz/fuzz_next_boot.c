/* fuzz_next_boot.c - the body of PUT /api/v1/machines/{mac}/next-boot
 * (api_json_next_boot_parse, jansson underneath) and the next-boot map it
 * feeds, on arbitrary bytes.
 *
 * Checked: the parser answers only 0 or -EINVAL, with a NUL-terminated
 * field and message; on 0 the record is one of the accepted forms (a
 * profile of the config, once only with a profile); such a record, with a
 * token when once, goes into the map and reads back the same, the map's
 * bound holds, and the done check accepts exactly the record's token. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_json.h"
#include "boot/next_boot.h"
#include "fuzz_check.h"

#define TOK "0123456789abcdef0123456789abcdef"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct profile_config rescue = { .name = "rescue", .kernel = "k" };
	static struct profile_config inst = { .name = "inst", .kernel = "k", .next = &rescue };
	static const struct config cfg = { .profiles = &inst };
	struct next_boot_record r = { .mac = { 0x52, 0x54, 0, 0, 0, 1 } }, out;
	char field[API_JSON_KEY_MAX + 1], msg[160];
	struct next_boot *nb;
	const char *reason;
	int e;

	memset(field, 'x', sizeof(field));
	memset(msg, 'x', sizeof(msg));
	e = api_json_next_boot_parse((const char *)data, size, &cfg, &r, field, sizeof(field), msg,
				     sizeof(msg));
	CHECK(e == 0 || e == -EINVAL);
	CHECK(memchr(field, '\0', sizeof(field)) != NULL);
	if (e < 0) {
		CHECK(memchr(msg, '\0', sizeof(msg)) != NULL && msg[0]);
		return 0;
	}
	CHECK(r.mode == NEXT_BOOT_DEFAULT || r.mode == NEXT_BOOT_PROFILE || r.mode == NEXT_BOOT_LOCAL);
	CHECK(!r.once || r.mode == NEXT_BOOT_PROFILE);
	if (r.mode == NEXT_BOOT_PROFILE)
		CHECK(strcmp(r.profile, "inst") == 0 || strcmp(r.profile, "rescue") == 0);
	if (r.once)
		memcpy(r.token, TOK, sizeof(TOK));

	CHECK(next_boot_new(1, &nb) == 0);
	CHECK(next_boot_put(nb, &r) == 0);
	if (r.mode == NEXT_BOOT_DEFAULT) {
		CHECK(next_boot_get(nb, r.mac) == NULL && next_boot_count(nb) == 0);
	} else {
		CHECK(memcmp(next_boot_get(nb, r.mac), &r, sizeof(r)) == 0);
		struct next_boot_record other = r;
		other.mac[5] = 2;
		CHECK(next_boot_put(nb, &other) == -ENOSPC);  /* bound of 1 */
	}
	CHECK(next_boot_install_pending(next_boot_get(nb, r.mac)) == (r.once != 0));
	if (r.once) {
		char wrong[] = TOK;
		wrong[size % 32] ^= 1;
		CHECK(next_boot_check_done(&r, wrong, false, &out, &reason) == -EACCES);
		CHECK(next_boot_check_done(&r, TOK, false, &out, &reason) == 0);
		CHECK(out.mode == NEXT_BOOT_LOCAL && !next_boot_install_pending(&out));
	}
	next_boot_free(nb);
	return 0;
}
