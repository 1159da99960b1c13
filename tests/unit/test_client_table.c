/* test_client_table.c - the CLI's tables: API JSON in, text out. Column
 * widths, null and missing fields, long cells cut, and server text that
 * would drive the terminal (escapes, C1 controls, bidi overrides) shown
 * escaped. */
#include "unit.h"

#include <errno.h>
#include <stdlib.h>

#include "api/client_table.h"

static char *table(enum client_list list, const char *json)
{
	json_error_t jerr;
	json_t *doc = json_loads(json, 0, &jerr);
	char *out = NULL;

	assert_non_null(doc);
	assert_rc(client_table(list, doc, &out), 0);
	json_decref(doc);
	return out;
}

static void test_machines_columns(void **state)
{
	char *out = table(CLIENT_MACHINES,
		"[{\"mac\": \"52:54:00:00:00:02\", \"ip\": \"10.9.0.2\", \"hostname\": \"db1.example\","
		"  \"host\": \"db1\", \"profile\": \"rescue\", \"next_boot\": {\"mode\": \"default\"},"
		"  \"install_pending\": false, \"lease\": null, \"timeline\": null},"
		" {\"mac\": \"52:54:00:4b:44:0a\", \"ip\": null, \"hostname\": null, \"host\": null,"
		"  \"profile\": \"inst\", \"next_boot\": {\"mode\": \"profile\", \"profile\": \"inst\","
		"  \"once\": true}, \"install_pending\": true,"
		"  \"timeline\": {\"open\": false, \"outcome\": \"stalled\", \"reason\": \"file-not-found\","
		"   \"steps\": [{\"name\": \"dhcp-offer\"}, {\"name\": \"tftp:pxelinux.0\"}]}}]");

	assert_string_equal(out,
		"MAC                IP        HOSTNAME     HOST  PROFILE  NEXT-BOOT                            LAST\n"
		"52:54:00:00:00:02  10.9.0.2  db1.example  db1   rescue   default                              -\n"
		"52:54:00:4b:44:0a  -         -            -     inst     profile inst once (install pending)"
		"  stalled: file-not-found at tftp:pxelinux.0\n");
	free(out);
}

static void test_empty_and_missing(void **state)
{
	char *out = table(CLIENT_LEASES, "[]");

	/* only the header, no trailing spaces */
	assert_string_equal(out, "IP  MAC  HOSTNAME  STATE  EXPIRES  SUBNET\n");
	free(out);
	/* fields missing altogether are "-"; a client id that is no MAC is
	 * shown instead of the MAC; [dhcp]'s own range ("") is "-" */
	out = table(CLIENT_LEASES,
		"[{\"ip\": \"10.0.0.9\", \"mac\": null, \"client_id\": \"ff00aa\", \"state\": \"bound\","
		"  \"subnet\": \"\"}, {}]");
	assert_string_equal(out,
		"IP        MAC        HOSTNAME  STATE  EXPIRES  SUBNET\n"
		"10.0.0.9  id:ff00aa  -         bound  -        -\n"
		"-         -          -         -      -        -\n");
	free(out);
}

static void test_hosts_and_profiles(void **state)
{
	char *out = table(CLIENT_HOSTS,
		"[{\"name\": \"db1\", \"mac\": \"52:54:00:00:00:02\", \"uuid\": null, \"ip\": \"10.9.0.2\","
		"  \"hostname\": \"db1\", \"profile\": null, \"source\": \"config\","
		"  \"boot\": {\"bios\": \"pxelinux.0\", \"uefi-x64\": \"grubx64.efi\"}}]");

	assert_string_equal(out,
		"NAME  MAC                UUID  IP        HOSTNAME  PROFILE  BOOT"
		"                                  SOURCE\n"
		"db1   52:54:00:00:00:02  -     10.9.0.2  db1       -        bios=pxelinux.0 uefi-x64=grubx64.efi"
		"  config\n");
	free(out);
	/* an API host, and one the config file overrides */
	out = table(CLIENT_HOSTS,
		"[{\"name\": \"a\", \"mac\": \"52:54:00:00:00:03\", \"source\": \"api\", \"active\": true},"
		" {\"name\": \"b\", \"mac\": \"52:54:00:00:00:04\", \"source\": \"api\", \"active\": false}]");
	assert_string_equal(out,
		"NAME  MAC                UUID  IP  HOSTNAME  PROFILE  BOOT  SOURCE\n"
		"a     52:54:00:00:00:03  -     -   -         -        -     api\n"
		"b     52:54:00:00:00:04  -     -   -         -        -     api (inactive)\n");
	free(out);
	out = table(CLIENT_PROFILES,
		"[{\"name\": \"inst\", \"kernel\": \"k\", \"initrds\": [\"a\", \"b\"], \"cmdline\": \"\"},"
		" {\"name\": \"r\", \"kernel\": \"kk\", \"initrds\": [], \"cmdline\": \"quiet\"}]");
	/* "" is "-" too */
	assert_string_equal(out,
		"NAME  KERNEL  INITRDS  CMDLINE\n"
		"inst  k       a, b     -\n"
		"r     kk      -        quiet\n");
	free(out);
}

/* A cell past CLIENT_CELL_MAX is cut to exactly that width, with "...",
 * and the column is that wide. */
static void test_long_cell_cut(void **state)
{
	char json[512], *out, want[512];
	char long_name[100];

	memset(long_name, 'x', 80);
	long_name[80] = '\0';
	snprintf(json, sizeof(json), "[{\"name\": \"%s\", \"kernel\": \"k\"}]", long_name);
	out = table(CLIENT_PROFILES, json);
	snprintf(want, sizeof(want), "NAME%*s  KERNEL  INITRDS  CMDLINE\n%.*s...  k       -        -\n",
		 CLIENT_CELL_MAX - 4, "", CLIENT_CELL_MAX - 3, long_name);
	assert_string_equal(out, want);
	free(out);
}

/* What a DHCP client may put in its hostname reaches the terminal only
 * escaped: ESC (a colour or title sequence), BEL, a newline that would
 * fake a row, DEL, a C1 CSI (U+009B), a right-to-left override (U+202E).
 * Ordinary UTF-8 stays, and counts one column per character. */
static void test_control_characters(void **state)
{
	char *out = table(CLIENT_LEASES,
		"[{\"ip\": \"10.0.0.9\", \"hostname\": \"a\\u001b]0;pwned\\u0007b\\nc\\u007f\","
		"  \"state\": \"\\u009b31m\\u202eevil\\\\\"},"
		" {\"ip\": \"10.0.0.10\", \"hostname\": \"caf\\u00e9\", \"state\": \"x\"}]");

	assert_string_equal(out,
		"IP         MAC  HOSTNAME                     STATE                  EXPIRES  SUBNET\n"
		"10.0.0.9   -    a\\x1b]0;pwned\\x07b\\x0ac\\x7f  \\u009b31m\\u202eevil\\\\  -        -\n"
		"10.0.0.10  -    caf\xc3\xa9                         x                      -        -\n");
	free(out);
}

static void test_escape_invalid_utf8(void **state)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;

	/* a lone continuation byte, an overlong "/", a truncated sequence */
	assert_rc(client_escape("\x80" "\xc0\xaf" "\xe2\x82", 100, &buf, &len, &cap), 20);
	assert_string_equal(buf, "\\x80\\xc0\\xaf\\xe2\\x82");
	free(buf);
	buf = NULL, len = cap = 0;
	/* a cut never splits an escape: "\x1b" is 4 columns, kept whole or not */
	assert_rc(client_escape("ab\x1b" "cdefgh", 8, &buf, &len, &cap), 5);
	assert_string_equal(buf, "ab...");
	free(buf);
}

static void test_not_a_list(void **state)
{
	json_t *doc = json_loads("{\"error\": \"x\"}", 0, NULL);
	char *out = NULL;

	assert_rc(client_table(CLIENT_MACHINES, doc, &out), -EBADMSG);
	json_decref(doc);
	doc = json_loads("[1]", 0, NULL);
	assert_rc(client_table(CLIENT_HOSTS, doc, &out), -EBADMSG);
	json_decref(doc);
	assert_null(out);
}

static void assert_body(json_t *body, const char *want)
{
	char *text;

	assert_non_null(body);
	text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(text, want);
	free(text);
	json_decref(body);
}

/* The four bodies of docs/api.md, and the combinations the CLI refuses. */
static void test_next_boot_body(void **state)
{
	assert_body(client_next_boot_body("inst", true, false, false),
		    "{\"once\":true,\"profile\":\"inst\"}");
	assert_body(client_next_boot_body("inst", false, false, false), "{\"profile\":\"inst\"}");
	assert_body(client_next_boot_body(NULL, false, true, false), "{\"local\":true}");
	assert_body(client_next_boot_body(NULL, false, false, true), "{\"default\":true}");
	assert_null(client_next_boot_body(NULL, false, false, false));
	assert_null(client_next_boot_body("inst", false, true, false));
	assert_null(client_next_boot_body(NULL, false, true, true));
	assert_null(client_next_boot_body(NULL, true, true, false));
}

static char *nb_line(const char *json)
{
	json_t *doc = json_loads(json, 0, NULL);
	char *out = NULL;

	assert_non_null(doc);
	assert_rc(client_next_boot_line(doc, &out), 0);
	json_decref(doc);
	return out;
}

/* The PUT's answer as one line: the same words as `kidou machines`'
 * NEXT-BOOT, never the done_token, server text escaped. */
static void test_next_boot_line(void **state)
{
	char *out = nb_line("{\"mac\": \"52:54:00:12:34:56\", \"next_boot\": {\"mode\": \"profile\","
			    " \"profile\": \"inst\", \"once\": true}, \"install_pending\": true,"
			    " \"done_token\": \"0123456789abcdef0123456789abcdef\"}");
	json_t *doc;

	assert_string_equal(out, "52:54:00:12:34:56: next boot profile inst once (install pending)\n");
	free(out);
	out = nb_line("{\"mac\": \"52:54:00:12:34:56\", \"next_boot\": {\"mode\": \"local\"},"
		      " \"install_pending\": false}");
	assert_string_equal(out, "52:54:00:12:34:56: next boot local\n");
	free(out);
	out = nb_line("{\"mac\": \"52:54:00:12:34:56\", \"next_boot\": {\"mode\": \"profile\","
		      " \"profile\": \"in\\u001b[2Jst\", \"once\": false}}");
	assert_string_equal(out, "52:54:00:12:34:56: next boot profile in\\x1b[2Jst\n");
	free(out);
	out = NULL;
	doc = json_loads("[{\"mac\": \"52:54:00:12:34:56\"}]", 0, NULL);
	assert_rc(client_next_boot_line(doc, &out), -EBADMSG);
	json_decref(doc);
	doc = json_loads("{\"next_boot\": {\"mode\": \"local\"}}", 0, NULL);
	assert_rc(client_next_boot_line(doc, &out), -EBADMSG);
	json_decref(doc);
	assert_null(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_machines_columns),
		cmocka_unit_test(test_empty_and_missing),
		cmocka_unit_test(test_hosts_and_profiles),
		cmocka_unit_test(test_long_cell_cut),
		cmocka_unit_test(test_control_characters),
		cmocka_unit_test(test_escape_invalid_utf8),
		cmocka_unit_test(test_not_a_list),
		cmocka_unit_test(test_next_boot_body),
		cmocka_unit_test(test_next_boot_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
