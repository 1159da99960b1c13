/* test_api.c - the API's pure parts: the router (paths, methods, MACs),
 * the bearer token check, and the JSON of a machine built from given
 * parts (host, lease, timeline). */
#include "unit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "api/api_json.h"
#include "api/api_route.h"

static void test_route_paths(void **state)
{
	struct api_route r;

	assert_rc(api_route_parse("/api/v1/machines", &r), 0);
	assert_int_equal(r.endpoint, API_MACHINES);
	assert_string_equal(r.allow, "GET, HEAD");
	assert_rc(api_route_parse("/api/v1/machines/52:54:00:AB:cd:01", &r), 0);
	assert_int_equal(r.endpoint, API_MACHINE);
	assert_true(r.mac_ok);
	assert_memory_equal(r.mac, ((uint8_t[]){ 0x52, 0x54, 0, 0xab, 0xcd, 1 }), 6);
	assert_rc(api_route_parse("/api/v1/machines/52-54-00-ab-cd-01/next-boot", &r), 0);
	assert_int_equal(r.endpoint, API_MACHINE_NEXT_BOOT);
	assert_true(r.mac_ok);
	assert_rc(api_route_parse("/api/v1/machines/525400abcd01/done", &r), 0);
	assert_int_equal(r.endpoint, API_MACHINE_DONE);
	assert_rc(api_route_parse("/api/v1/hosts/web1", &r), 0);
	assert_int_equal(r.endpoint, API_HOST);
	assert_string_equal(r.name, "web1");
	assert_string_equal(r.allow, "PUT, DELETE");
	assert_rc(api_route_parse("/api/v1/leases", &r), 0);
	assert_rc(api_route_parse("/api/v1/profiles", &r), 0);
	assert_rc(api_route_parse("/api/v1/events", &r), 0);
	assert_int_equal(r.endpoint, API_EVENTS);
	assert_rc(api_route_parse("/api/v1/status", &r), 0);
	assert_int_equal(r.endpoint, API_STATUS);
	assert_string_equal(r.allow, "GET, HEAD");
}

static void test_route_refusals(void **state)
{
	static const char *const unknown[] = {
		"/api/v1", "/api/v1/", "/api/v2/machines", "/api/v1/machines/",
		"/api/v1/machines//done", "/api/v1/machines/52:54:00:00:00:01/", "/api/v1/Machines",
		"/api/v1/machines/52:54:00:00:00:01/done/x", "/api/v1/eventsx", "/api/v1x/events",
		"/api/v1/hosts/", "/api/v1/hosts/a/b", "/api/v1/hosts/"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	};
	char longpath[API_PATH_MAX + 20];
	struct api_route r;

	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		if (api_route_parse(unknown[i], &r) != -ENOENT) {
			print_error("%s routed\n", unknown[i]);
			fail();
		}
	}
	snprintf(longpath, sizeof(longpath), "/api/v1/machines/%0*d", API_PATH_MAX, 0);
	assert_rc(api_route_parse(longpath, &r), -ENAMETOOLONG);
	/* A malformed MAC routes, marked: a 400 naming the field, not a 404. */
	static const char *const bad_macs[] = {
		"/api/v1/machines/zz:54:00:00:00:01", "/api/v1/machines/52:54:00:00:00",
		"/api/v1/machines/52:54:00:00:00:01:02", "/api/v1/machines/52:54:00:00:00:1g",
		"/api/v1/machines/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	};
	for (size_t i = 0; i < sizeof(bad_macs) / sizeof(bad_macs[0]); i++) {
		assert_rc(api_route_parse(bad_macs[i], &r), 0);
		assert_false(r.mac_ok);
	}
}

static void test_route_methods(void **state)
{
	struct api_route r;

	assert_rc(api_route_parse("/api/v1/machines", &r), 0);
	assert_true(api_route_allows(&r, API_GET));
	assert_true(api_route_allows(&r, API_HEAD));
	assert_false(api_route_allows(&r, API_PUT));
	assert_false(api_route_allows(&r, API_OTHER));
	assert_rc(api_route_parse("/api/v1/hosts/x", &r), 0);
	assert_false(api_route_allows(&r, API_GET));
	assert_true(api_route_allows(&r, API_PUT));
	assert_true(api_route_allows(&r, API_DELETE));
	assert_false(api_route_allows(&r, API_POST));
	assert_rc(api_route_parse("/api/v1/machines/525400000001/done", &r), 0);
	assert_true(api_route_allows(&r, API_POST));
	assert_false(api_route_allows(&r, API_HEAD));
	assert_int_equal(api_method_parse("GET"), API_GET);
	assert_int_equal(api_method_parse("get"), API_OTHER);  /* RFC 9110 9.1: case-sensitive */
	assert_int_equal(api_method_parse("PATCH"), API_OTHER);
	assert_true(api_method_is_write(API_DELETE));
	assert_false(api_method_is_write(API_HEAD));
}

static void test_token(void **state)
{
	const char *t = "0123456789abcdef-token";

	assert_true(api_token_check(t, "Bearer 0123456789abcdef-token"));
	assert_true(api_token_check(t, "bearer 0123456789abcdef-token"));
	assert_true(api_token_check(t, "Bearer   0123456789abcdef-token"));
	assert_false(api_token_check(t, "Bearer 0123456789abcdef-toke"));
	assert_false(api_token_check(t, "Bearer 0123456789abcdef-tokenX"));
	assert_false(api_token_check(t, "Bearer 0123456789abcdef-tokeN"));
	assert_false(api_token_check(t, "Bearer "));
	assert_false(api_token_check(t, "Basic 0123456789abcdef-token"));
	assert_false(api_token_check(t, "0123456789abcdef-token"));
	assert_false(api_token_check(t, NULL));
	assert_false(api_token_check(NULL, "Bearer x"));
}

static json_t *parse(json_t *doc)
{
	char *s = json_dumps(doc, JSON_COMPACT);
	json_t *back;

	assert_non_null(s);
	back = json_loads(s, 0, NULL);
	assert_non_null(back);
	free(s);
	json_decref(doc);
	return back;
}

static const char *str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	assert_non_null(v);
	return json_is_null(v) ? NULL : json_string_value(v);
}

static void test_machine_from_host_only(void **state)
{
	struct profile_config p = { .name = "inst", .kernel = "k" };
	struct host_config h = { .name = "web1", .hostname = "web1.lan", .ip = 0x0a000005,
				 .has_mac = true, .profile = &p, .profile_name = "inst" };
	struct api_machine m = { .mac = { 0x52, 0x54, 0, 0, 0, 1 }, .host = &h };
	struct api_clock clk = { .mono_usec = 5000000, .wall_usec = 1800000000000000 };
	json_t *o = parse(api_json_machine(&m, &clk));

	assert_string_equal(str(o, "mac"), "52:54:00:00:00:01");
	assert_string_equal(str(o, "ip"), "10.0.0.5");
	assert_string_equal(str(o, "hostname"), "web1.lan");
	assert_string_equal(str(o, "host"), "web1");
	assert_string_equal(str(o, "profile"), "inst");
	assert_string_equal(json_string_value(json_object_get(json_object_get(o, "next_boot"),
							      "mode")), "default");
	assert_true(json_is_false(json_object_get(o, "install_pending")));
	assert_true(json_is_null(json_object_get(o, "lease")));
	assert_true(json_is_null(json_object_get(o, "timeline")));
	json_decref(o);
}

/* A machine nobody configured: its lease, the default profile, and its
 * last boot (stalled) with a hostile file name made printable. */
static void test_machine_from_lease_and_timeline(void **state)
{
	struct profile_config def = { .name = "default-prof", .kernel = "k" };
	struct boot_timeline_info t = {
		.has_mac = true, .mac = { 2, 0, 0, 0, 0, 9 }, .ip = 0x0a000063, .open = false,
		.outcome = "stalled", .reason = "file-not-found",
		.first_usec = 10000000, .last_usec = 12500000, .n_steps = 3,
		.steps = {
			{ .name = "dhcp-offer", .state = "instant", .start_usec = 10000000,
			  .end_usec = 10000000 },
			{ .name = "dhcp-ack", .state = "instant", .start_usec = 10002000,
			  .end_usec = 10002000 },
			{ .name = "tftp:bad\x01\xff\"name", .state = "failed",
			  .start_usec = 10040000, .end_usec = 12500000, .reason = "timeout" },
		},
	};
	struct api_machine m = { .mac = { 2, 0, 0, 0, 0, 9 }, .default_profile = &def,
				 .lease_ip = 0x0a000063, .lease_state = "bound",
				 .lease_expires = 1800003600, .timeline = &t };
	/* wall - mono = 1800000000 s: the timeline started at 1800000010 s */
	struct api_clock clk = { .mono_usec = 20000000,
				 .wall_usec = 1800000000000000 + 20000000 };
	json_t *o = parse(api_json_machine(&m, &clk)), *tl, *steps, *s2, *lease;

	assert_string_equal(str(o, "ip"), "10.0.0.99");
	assert_null(str(o, "host"));
	assert_null(str(o, "hostname"));
	assert_string_equal(str(o, "profile"), "default-prof");
	lease = json_object_get(o, "lease");
	assert_string_equal(str(lease, "state"), "bound");
	assert_string_equal(str(lease, "expires"), "2027-01-15T09:00:00.000Z");
	tl = json_object_get(o, "timeline");
	assert_true(json_is_false(json_object_get(tl, "open")));
	assert_string_equal(str(tl, "outcome"), "stalled");
	assert_string_equal(str(tl, "reason"), "file-not-found");
	assert_string_equal(str(tl, "started_at"), "2027-01-15T08:00:10.000Z");
	assert_int_equal(json_integer_value(json_object_get(tl, "duration_ms")), 2500);
	steps = json_object_get(tl, "steps");
	assert_int_equal(json_array_size(steps), 3);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(steps, 1), "start_ms")), 2);
	s2 = json_array_get(steps, 2);
	assert_string_equal(str(s2, "name"), "tftp:bad??\"name");
	assert_string_equal(str(s2, "state"), "failed");
	assert_string_equal(str(s2, "reason"), "timeout");
	assert_int_equal(json_integer_value(json_object_get(s2, "start_ms")), 40);
	assert_int_equal(json_integer_value(json_object_get(s2, "end_ms")), 2500);
	json_decref(o);
}

static void test_event_json(void **state)
{
	struct boot_event ev = { .kind = BOOT_EV_FILE_END, .at_usec = 7000000, .ip = 0x7f000001,
				 .proto = "http", .name = "a\nb", .bytes = 42, .ok = false,
				 .reason = "incomplete" };
	uint8_t mac[6] = { 0x52, 0x54, 0, 1, 2, 3 };
	struct api_clock clk = { .mono_usec = 7000000, .wall_usec = 1800000000000000 };
	json_t *o = parse(api_json_event(&ev, mac, 9, &clk));

	assert_string_equal(str(o, "kind"), "file-end");
	assert_string_equal(str(o, "mac"), "52:54:00:01:02:03");
	assert_string_equal(str(o, "ip"), "127.0.0.1");
	assert_string_equal(str(o, "file"), "a?b");  /* no raw newline in an SSE data line */
	assert_int_equal(json_integer_value(json_object_get(o, "bytes")), 42);
	assert_int_equal(json_integer_value(json_object_get(o, "seq")), 9);
	assert_true(json_is_false(json_object_get(o, "ok")));
	assert_string_equal(str(o, "time"), "2027-01-15T08:00:00.000Z");
	json_decref(o);
}

static void test_error_json(void **state)
{
	size_t len;
	char *s = api_json_error("malformed MAC address", "mac", &len);

	assert_string_equal(s, "{\"error\":\"malformed MAC address\",\"field\":\"mac\"}");
	assert_int_equal(len, strlen(s));
	free(s);
	s = api_json_error("say \"no\"", NULL, NULL);
	assert_string_equal(s, "{\"error\":\"say \\\"no\\\"\"}");
	free(s);
}

/* The next-boot body: each accepted form, and each refusal naming its field. */
static void test_next_boot_parse(void **state)
{
	struct profile_config rescue = { .name = "rescue", .kernel = "k" };
	struct profile_config inst = { .name = "inst", .kernel = "k", .next = &rescue };
	struct config c = { .profiles = &inst };
	static const struct {
		const char *body;
		int rc;
		const char *field;        /* on refusal */
		uint8_t mode, once;
	} cases[] = {
		{ "{\"profile\": \"inst\", \"once\": true}", 0, NULL, NEXT_BOOT_PROFILE, 1 },
		{ "{\"once\": true, \"profile\": \"rescue\"}", 0, NULL, NEXT_BOOT_PROFILE, 1 },
		{ "{\"profile\": \"inst\"}", 0, NULL, NEXT_BOOT_PROFILE, 0 },
		{ "{\"profile\": \"inst\", \"once\": false}", 0, NULL, NEXT_BOOT_PROFILE, 0 },
		{ "{\"local\": true}", 0, NULL, NEXT_BOOT_LOCAL, 0 },
		{ "{\"default\": true}", 0, NULL, NEXT_BOOT_DEFAULT, 0 },
		{ "{\"profile\": \"nope\"}", -EINVAL, "profile", 0, 0 },
		{ "{\"profile\": \"\"}", -EINVAL, "profile", 0, 0 },
		{ "{\"profile\": 7}", -EINVAL, "profile", 0, 0 },
		{ "{\"profile\": \"in\\u0000st\"}", -EINVAL, "", 0, 0 },  /* jansson: no NUL */
		{ "{\"profile\": \"inst\", \"once\": 1}", -EINVAL, "once", 0, 0 },
		{ "{\"local\": true, \"once\": true}", -EINVAL, "once", 0, 0 },
		{ "{\"once\": true}", -EINVAL, "", 0, 0 },
		{ "{\"local\": false}", -EINVAL, "local", 0, 0 },
		{ "{\"default\": 1}", -EINVAL, "default", 0, 0 },
		{ "{\"local\": true, \"profile\": \"inst\"}", -EINVAL, "", 0, 0 },
		{ "{\"local\": true, \"local\": true}", -EINVAL, "", 0, 0 },  /* duplicate */
		{ "{\"profile\": \"inst\", \"colour\": \"blue\"}", -EINVAL, "colour", 0, 0 },
		{ "{}", -EINVAL, "", 0, 0 },
		{ "[]", -EINVAL, "", 0, 0 },
		{ "\"local\"", -EINVAL, "", 0, 0 },
		{ "{\"local\": tru", -EINVAL, "", 0, 0 },
		{ "", -EINVAL, "", 0, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct next_boot_record r = { 0 };
		char field[API_JSON_KEY_MAX + 1], msg[160];
		int rc = api_json_next_boot_parse(cases[i].body, strlen(cases[i].body), &c, &r,
						  field, sizeof(field), msg, sizeof(msg));

		if (rc != cases[i].rc)
			fail_msg("case %zu (%s): rc %d", i, cases[i].body, rc);
		if (rc == 0) {
			assert_int_equal(r.mode, cases[i].mode);
			assert_int_equal(r.once, cases[i].once);
			continue;
		}
		if (strcmp(field, cases[i].field) != 0)
			fail_msg("case %zu (%s): field \"%s\"", i, cases[i].body, field);
		assert_true(msg[0] != '\0');
	}
	/* none at all */
	struct next_boot_record r = { 0 };
	char field[8], msg[160];
	assert_rc(api_json_next_boot_parse(NULL, 0, &c, &r, field, sizeof(field), msg,
					   sizeof(msg)), -EINVAL);
	/* a long unknown key is named cut short, never overflowing */
	char body[300];
	snprintf(body, sizeof(body), "{\"%0200d\": 1}", 0);
	assert_rc(api_json_next_boot_parse(body, strlen(body), &c, &r, field, sizeof(field), msg,
					   sizeof(msg)), -EINVAL);
	assert_string_equal(field, "0000000");
}

/* A machine's next_boot and install_pending from its record; the token
 * never shows. */
static void test_machine_next_boot_json(void **state)
{
	struct next_boot_record r = { .mode = NEXT_BOOT_PROFILE, .once = 1, .profile = "inst",
				      .token = "00112233445566778899aabbccddeeff" };
	struct api_machine m = { .mac = { 0x52, 0x54, 0, 1, 2, 3 }, .next_boot = &r };
	struct api_clock clk = { 0 };
	json_t *o = api_json_machine(&m, &clk);
	char *s;

	assert_non_null(o);
	s = json_dumps(json_object_get(o, "next_boot"), JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s, "{\"mode\":\"profile\",\"once\":true,\"profile\":\"inst\"}");
	free(s);
	assert_true(json_is_true(json_object_get(o, "install_pending")));
	s = json_dumps(o, JSON_COMPACT);
	assert_null(strstr(s, "00112233"));
	free(s);
	json_decref(o);
	r = (struct next_boot_record){ .mode = NEXT_BOOT_LOCAL };
	o = api_json_machine(&m, &clk);
	s = json_dumps(json_object_get(o, "next_boot"), JSON_COMPACT);
	assert_string_equal(s, "{\"mode\":\"local\"}");
	free(s);
	assert_true(json_is_false(json_object_get(o, "install_pending")));
	json_decref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_next_boot_parse),
		cmocka_unit_test(test_machine_next_boot_json),
		cmocka_unit_test(test_route_paths),
		cmocka_unit_test(test_route_refusals),
		cmocka_unit_test(test_route_methods),
		cmocka_unit_test(test_token),
		cmocka_unit_test(test_machine_from_host_only),
		cmocka_unit_test(test_machine_from_lease_and_timeline),
		cmocka_unit_test(test_event_json),
		cmocka_unit_test(test_error_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
