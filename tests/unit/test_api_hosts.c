/* test_api_hosts.c - the hosts written through the API: the PUT body
 * parser (api_hosts.c) accepts and refuses exactly what a [host] section
 * of the config file does (one table of values run through both), the
 * conflict rules against the file's and the API's hosts, the host table's
 * indexes, and how an attached config overrides API hosts. */
#include "unit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "api/api_hosts.h"
#include "config.h"
#include "host_table.h"

#define BASE_INI \
	"[dhcp]\ninterface = lo\nrange = 10.0.0.100 10.0.0.200\n" \
	"[profile inst]\nkernel = k\n" \
	"[host cfg1]\nmac = 52:54:00:cc:00:01\nip = 10.0.0.7\n"

/* Build a config from text (a temporary file); NULL with err on failure. */
static struct config *build(const char *text, char *err, size_t errsize)
{
	char path[] = "/tmp/kidou-apihosts-XXXXXX";
	int fd = mkstemp(path);
	struct config *c = NULL;
	FILE *fp;

	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	if (config_build(path, NULL, 0, &c, err, errsize) < 0)
		c = NULL;
	unlink(path);
	return c;
}

static int parse(const struct config *c, const char *name, const char *body,
		 struct host_config **h, char *field, char *msg)
{
	return api_host_parse(body, strlen(body), c, name, true, h, NULL, field, 64, msg, 256);
}

/* One [host] key and value, through the file and through the API: both
 * accept it, or both refuse it with the same reason. */
static void test_same_rules_as_the_file(void **state)
{
	static const struct {
		const char *key, *value;
		bool ok;
	} cases[] = {
		{ "ip", "10.0.0.9", true },
		{ "ip", "10.0.0.300", false },
		{ "ip", "127.0.0.5", false },
		{ "ip", "224.0.0.1", false },
		{ "hostname", "web-1.lab", true },
		{ "hostname", "web_1", false },
		{ "hostname", "", false },
		{ "uuid", "4c4c4544-0042-3510-8052-b4c04f335731", true },
		{ "uuid", "4c4c4544-0042", false },
		{ "profile", "inst", true },
		{ "profile", "nosuch", false },
		{ "bios", "pxelinux/lpxelinux.0", true },
		{ "bios", "a b", false },
		{ "uefi-x64", "x/${nope}.efi", false },
		{ "ipxe", "http://srv/${mac}.ipxe", true },
		{ "option", "252 string http://x/wpad", true },
		{ "option", "53 u8 1", false },
		{ "option", "300 u8 1", false },
	};
	char err[512], field[64], msg[256], ini[1024], body[512];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config *base = build(BASE_INI, err, sizeof(err)), *fc;
		struct host_config *h = NULL;
		int r;

		assert_non_null(base);
		snprintf(ini, sizeof(ini), BASE_INI "[host t]\nmac = 52:54:00:00:00:01\n%s = %s\n",
			 cases[i].key, cases[i].value);
		fc = build(ini, err, sizeof(err));
		snprintf(body, sizeof(body), "{\"mac\": \"52:54:00:00:00:01\", \"%s\": \"%s\"}",
			 cases[i].key, cases[i].value);
		r = parse(base, "t", body, &h, field, msg);
		if (cases[i].ok != (fc != NULL) || cases[i].ok != (r == 0))
			print_error("%s = %s: file %s (%s), API %d (%s)\n", cases[i].key,
				    cases[i].value, fc ? "ok" : "refused", fc ? "" : err, r, msg);
		assert_int_equal(fc != NULL, cases[i].ok);
		assert_int_equal(r == 0, cases[i].ok);
		if (!cases[i].ok) {
			/* the reason after "key: " is the file's, word for word */
			const char *why = strstr(msg, ": ");
			assert_string_equal(field, cases[i].key);
			assert_non_null(why);
			if (!strstr(err, why + 2))
				print_error("file: %s\nAPI: %s\n", err, msg);
			assert_non_null(strstr(err, why + 2));
		}
		config_host_free(h);
		config_free(fc);
		config_free(base);
	}
}

static void test_body_refusals(void **state)
{
	static const struct {
		const char *name, *body, *field;
	} cases[] = {
		{ "a", "", "" },
		{ "a", "{", "" },
		{ "a", "[1]", "" },
		{ "a", "{\"mac\": \"52:54:00:00:00:01\", \"mac\": \"52:54:00:00:00:02\"}", "" },
		{ "a", "{\"colour\": \"blue\"}", "colour" },
		{ "a", "{\"mac\": 5}", "mac" },
		{ "a", "{\"mac\": null}", "mac" },
		{ "a", "{\"mac\": \"52:54:00:00:00:01\", \"option\": []}", "option" },
		{ "a", "{\"mac\": \"52:54:00:00:00:01\", \"option\": [\"252 u8 1\", 7]}", "option" },
		{ "a", "{\"mac\": \"52:54:00:00:00:01\", \"option\": [\"252 u8 1\", \"252 u8 2\"]}",
		  "option" },
		{ "a", "{\"hostname\": \"x\"}", "mac" },
		{ "a", "{\"mac\": \"52:54:00:00:00:01\", \"ip\": \"10.0.0.150\"}", "ip" },
		{ "a_b", "{\"mac\": \"52:54:00:00:00:01\"}", "name" },
		{ "", "{\"mac\": \"52:54:00:00:00:01\"}", "name" },
	};
	char err[512], field[64], msg[256];
	struct config *c = build(BASE_INI, err, sizeof(err));

	(void)state;
	assert_non_null(c);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct host_config *h = NULL;
		assert_rc(parse(c, cases[i].name, cases[i].body, &h, field, msg), -EINVAL);
		assert_null(h);
		assert_string_equal(field, cases[i].field);
		assert_true(msg[0] != '\0');
	}
	config_free(c);
}

static void test_parse_fills_host(void **state)
{
	char err[512], field[64], msg[256], *canon = NULL;
	struct config *c = build(BASE_INI, err, sizeof(err));
	struct host_config *h = NULL;
	const char *body = "{\"profile\": \"inst\", \"mac\": \"52-54-00-00-00-01\", "
			   "\"ip\": \"10.0.0.9\", \"hostname\": \"w\", \"uefi-x64\": \"a.efi\", "
			   "\"option\": [\"252 string x\", \"224 u8 3\"]}";

	(void)state;
	assert_non_null(c);
	assert_rc(api_host_parse(body, strlen(body), c, "w1", true, &h, &canon, field, 64, msg,
				 256), 0);
	assert_string_equal(h->name, "w1");
	assert_true(h->from_api && h->has_mac && !h->has_uuid);
	assert_int_equal(h->mac[5], 1);
	assert_int_equal(h->ip, 0x0a000009);
	assert_string_equal(h->hostname, "w");
	assert_ptr_equal(h->profile, c->profiles);
	assert_string_equal(h->boot.target[BOOT_TARGET_UEFI_X64], "a.efi");
	assert_non_null(h->options);
	assert_non_null(h->options->next);
	/* stored compact with sorted keys, and parsed back the same */
	assert_non_null(strstr(canon, "{\"hostname\":\"w\",\"ip\":\"10.0.0.9\""));
	config_host_free(h);
	h = NULL;
	assert_rc(api_host_parse(canon, strlen(canon), c, "w1", false, &h, NULL, field, 64, msg,
				 256), 0);
	assert_int_equal(h->ip, 0x0a000009);
	config_host_free(h);
	free(canon);
	config_free(c);
}

static struct host_config *mk(const char *name, uint8_t last, uint32_t ip)
{
	struct host_config *h = config_host_new(name);

	assert_non_null(h);
	h->from_api = true;
	h->has_mac = true;
	memcpy(h->mac, (uint8_t[6]){ 0x52, 0x54, 0, 0, 0, last }, 6);
	h->ip = ip;
	return h;
}

static void test_conflicts(void **state)
{
	char err[512], msg[256];
	struct config *c = build(BASE_INI, err, sizeof(err));
	struct host_table *t;
	struct host_config *a = mk("a", 0x0a, 0x0a00000a), *old = NULL, *probe;
	const char *field = NULL;

	(void)state;
	assert_non_null(c);
	assert_rc(host_table_new(10, &t), 0);
	assert_rc(host_table_put(t, a, &old), 0);
	/* the file's name, MAC, ip: 409 */
	probe = mk("cfg1", 0x0b, 0);
	assert_int_equal(api_host_conflict(c, t, probe, &field, msg, sizeof(msg)), 409);
	assert_string_equal(field, "name");
	config_host_free(probe);
	probe = mk("b", 0x0b, 0);
	memcpy(probe->mac, (uint8_t[6]){ 0x52, 0x54, 0, 0xcc, 0, 1 }, 6);
	assert_int_equal(api_host_conflict(c, t, probe, &field, msg, sizeof(msg)), 409);
	assert_string_equal(field, "mac");
	assert_non_null(strstr(msg, "[host cfg1]"));
	config_host_free(probe);
	probe = mk("b", 0x0b, 0x0a000007);
	assert_int_equal(api_host_conflict(c, t, probe, &field, msg, sizeof(msg)), 409);
	assert_string_equal(field, "ip");
	config_host_free(probe);
	/* another API host's MAC or ip: 400; a's own: none */
	probe = mk("b", 0x0a, 0);
	assert_int_equal(api_host_conflict(c, t, probe, &field, msg, sizeof(msg)), 400);
	assert_string_equal(field, "mac");
	config_host_free(probe);
	probe = mk("b", 0x0b, 0x0a00000a);
	assert_int_equal(api_host_conflict(c, t, probe, &field, msg, sizeof(msg)), 400);
	assert_string_equal(field, "ip");
	config_host_free(probe);
	probe = mk("a", 0x0a, 0x0a00000a);
	assert_int_equal(api_host_conflict(c, t, probe, &field, msg, sizeof(msg)), 0);
	config_host_free(probe);
	host_table_free(t);
	config_free(c);
}

static void test_table_indexes_and_bound(void **state)
{
	struct host_table *t;
	struct host_config *old = NULL, *extra;
	const uint8_t mac3[6] = { 0x52, 0x54, 0, 0, 0, 3 };

	(void)state;
	assert_rc(host_table_new(3, &t), 0);
	assert_rc(host_table_put(t, mk("c", 3, 0x0a000003), &old), 0);
	assert_rc(host_table_put(t, mk("a", 1, 0), &old), 0);
	assert_rc(host_table_put(t, mk("b", 2, 0x0a000002), &old), 0);
	assert_null(old);
	assert_int_equal(host_table_count(t), 3);
	assert_string_equal(host_table_at(t, 0)->name, "a");
	assert_string_equal(host_table_at(t, 2)->name, "c");
	assert_string_equal(host_table_by_mac(t, mac3)->name, "c");
	assert_string_equal(host_table_by_ip(t, 0x0a000002)->name, "b");
	assert_null(host_table_by_ip(t, 0));
	/* full: a new name is refused, a replacement is not */
	extra = mk("d", 4, 0);
	assert_rc(host_table_put(t, extra, &old), -ENOSPC);
	config_host_free(extra);
	assert_rc(host_table_put(t, mk("c", 9, 0x0a000009), &old), 0);
	assert_non_null(old);
	assert_int_equal(old->mac[5], 3);
	config_host_free(old);
	assert_null(host_table_by_mac(t, mac3));
	assert_null(host_table_by_ip(t, 0x0a000003));
	assert_string_equal(host_table_by_ip(t, 0x0a000009)->name, "c");
	old = host_table_take(t, "b");
	assert_non_null(old);
	config_host_free(old);
	assert_null(host_table_by_ip(t, 0x0a000002));
	assert_null(host_table_by_name(t, "b"));
	assert_null(host_table_take(t, "b"));
	assert_int_equal(host_table_count(t), 2);
	host_table_free(t);
}

/* The lookups every DHCP packet makes see an API host after the file's,
 * and not at all once the file overrides it (it stays in the table,
 * inactive with a reason) or its profile is gone. */
static void test_attach_overrides(void **state)
{
	char err[512];
	struct config *c = build(BASE_INI, err, sizeof(err)), *c2, *c3;
	struct host_table *t;
	struct host_config *a = mk("a", 0x0a, 0x0a00000a), *old = NULL;
	const uint8_t mac[6] = { 0x52, 0x54, 0, 0, 0, 0x0a };

	(void)state;
	assert_non_null(c);
	a->profile_name = strdup("inst");
	assert_rc(host_table_new(10, &t), 0);
	assert_rc(host_table_put(t, a, &old), 0);
	assert_null(config_host_by_mac(c, mac));  /* not attached yet */
	assert_int_equal(config_attach_api_hosts(c, t), 0);
	assert_ptr_equal(config_host_by_mac(c, mac), a);
	assert_ptr_equal(config_host_by_ip(c, 0x0a00000a), a);
	assert_ptr_equal(a->profile, c->profiles);
	assert_null(config_file_host_by_mac(c, mac));

	c2 = build(BASE_INI "[host filewins]\nmac = 52:54:00:00:00:0a\n", err, sizeof(err));
	assert_non_null(c2);
	assert_int_equal(config_attach_api_hosts(c2, t), 1);
	assert_non_null(a->inactive);
	assert_non_null(strstr(a->inactive, "[host filewins]"));
	assert_string_equal(config_host_by_mac(c2, mac)->name, "filewins");
	assert_null(config_host_by_ip(c2, 0x0a00000a));  /* none of a's parts answer */

	c3 = build("[dhcp]\ninterface = lo\n[profile other]\nkernel = k\n", err, sizeof(err));
	assert_non_null(c3);
	assert_int_equal(config_attach_api_hosts(c3, t), 1);
	assert_non_null(strstr(a->inactive, "no [profile inst]"));
	assert_null(config_host_by_mac(c3, mac));

	assert_int_equal(config_attach_api_hosts(c, t), 0);
	assert_null(a->inactive);
	assert_ptr_equal(config_host_by_mac(c, mac), a);
	config_free(c3);
	config_free(c2);
	config_free(c);
	host_table_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_rules_as_the_file),
		cmocka_unit_test(test_body_refusals),
		cmocka_unit_test(test_parse_fills_host),
		cmocka_unit_test(test_conflicts),
		cmocka_unit_test(test_table_indexes_and_bound),
		cmocka_unit_test(test_attach_overrides),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
