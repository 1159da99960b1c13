/* test_config.c - defaults, the INI file, flags, and the error messages an
 * operator sees (FILE:LINE, section and key). Files are written into a
 * mkdtemp() directory per test. */
#include "unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/stat.h>

#include "config.h"
#include "util.h"

struct fixture {
	char dir[256];
	char path[300];  /* dir/kidou.ini, written by write_ini() */
	char err[512];
	struct config *c;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *tmpdir = getenv("TMPDIR");

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "%s/kidou-cfg-XXXXXX",
		 tmpdir && *tmpdir ? tmpdir : "/tmp");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/kidou.ini", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	config_free(f->c);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void write_ini(struct fixture *f, const char *text)
{
	FILE *fp = fopen(f->path, "we");

	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

/* Build from the fixture's file (or none) and the given flags. */
static int build(struct fixture *f, bool with_file, const struct config_override *o,
		 size_t n)
{
	struct config *c = (struct config *)0x1;
	int r;

	f->err[0] = '\0';
	r = config_build(with_file ? f->path : NULL, o, n, &c, f->err, sizeof(f->err));
	if (r < 0) {
		assert_ptr_equal(c, (struct config *)0x1);  /* untouched */
		assert_true(f->err[0] != '\0');
	} else {
		f->c = c;
	}
	return r;
}

/* Expect failure whose message starts with "PATH:LINE: " (just "PATH:"
 * when line is 0) and contains every string of the NULL-terminated list:
 * the operator must learn where, and which key or section. The rest of the
 * wording is free to change. */
static void expect_file_error(struct fixture *f, int rc, unsigned line, ...)
	__attribute__((sentinel));
static void expect_file_error(struct fixture *f, int rc, unsigned line, ...)
{
	char prefix[400];
	const char *want;
	va_list ap;

	assert_rc(build(f, true, NULL, 0), rc);
	if (line)
		snprintf(prefix, sizeof(prefix), "%s:%u: ", f->path, line);
	else
		snprintf(prefix, sizeof(prefix), "%s:", f->path);
	if (strncmp(f->err, prefix, strlen(prefix)) != 0) {
		print_error("message \"%s\" does not start with \"%s\"\n", f->err, prefix);
		fail();
	}
	va_start(ap, line);
	while ((want = va_arg(ap, const char *))) {
		if (!strstr(f->err, want)) {
			print_error("message \"%s\" lacks \"%s\"\n", f->err, want);
			va_end(ap);
			fail();
		}
	}
	va_end(ap);
}

static void assert_listen(const struct sockaddr_in *sa, const char *addr, uint16_t port)
{
	char got[INET_ADDRSTRLEN];

	assert_int_equal(sa->sin_family, AF_INET);
	assert_non_null(inet_ntop(AF_INET, &sa->sin_addr, got, sizeof(got)));
	assert_string_equal(got, addr);
	assert_int_equal(ntohs(sa->sin_port), port);
}

static void test_defaults(void **state)
{
	struct fixture *f = *state;

	assert_rc(build(f, false, NULL, 0), 0);
	assert_null(f->c->path);
	assert_int_equal(f->c->log_level, LOG_LEVEL_INFO);
	assert_null(f->c->user);
	assert_string_equal(f->c->tftp.root, "./tftpboot");
	assert_listen(&f->c->tftp.listen, "0.0.0.0", 69);
	assert_int_equal(f->c->tftp.max_transfers, 1000);
	assert_int_equal(f->c->tftp.retransmit_ms, 1000);
	assert_int_equal(f->c->tftp.retries, 6);
	assert_int_equal(f->c->tftp.max_blksize, 65464);
	assert_int_equal(f->c->tftp.max_windowsize, 64);
	assert_int_equal(f->c->timeline_idle_sec, 20);
	assert_int_equal(f->c->busy_poll_usec, 100);
	assert_false(f->c->dhcp.authoritative);
	assert_false(f->c->seccomp_off);
}

static void test_dhcp_authoritative(void **state)
{
	struct fixture *f = *state;

	write_ini(f, "[dhcp]\nauthoritative = yes\n");
	assert_rc(build(f, true, NULL, 0), 0);
	assert_true(f->c->dhcp.authoritative);
	config_free(f->c);
	f->c = NULL;
	write_ini(f, "[dhcp]\nauthoritative = no\n");
	assert_rc(build(f, true, NULL, 0), 0);
	assert_false(f->c->dhcp.authoritative);
}

static void test_empty_file_is_defaults(void **state)
{
	struct fixture *f = *state;

	write_ini(f, "; nothing but a comment\n\n[tftp]\n");
	assert_rc(build(f, true, NULL, 0), 0);
	assert_string_equal(f->c->path, f->path);
	assert_string_equal(f->c->tftp.root, "./tftpboot");
	assert_int_equal(f->c->tftp.retries, 6);
}

static void test_every_key(void **state)
{
	struct fixture *f = *state;

	write_ini(f,
		  "; kidou test configuration\n"
		  "# hash comments too\n"
		  "[daemon]\n"
		  "log-level = debug\n"
		  "user = nobody\n"
		  "timeline-idle = 45\n"
		  "busy-poll = 0\n"
		  "seccomp = no\n"
		  "\n"
		  "[tftp]\n"
		  "root = /srv/tftp\n"
		  "listen = 127.0.0.1:1069\n"
		  "max-transfers = 10\n"
		  "retransmit-ms = 250\n"
		  "retries = 3\n"
		  "max-blksize = 1468\n"
		  "max-windowsize = 8\n");
	assert_rc(build(f, true, NULL, 0), 0);
	assert_string_equal(f->c->path, f->path);
	assert_int_equal(f->c->log_level, LOG_LEVEL_DEBUG);
	assert_string_equal(f->c->user, "nobody");
	assert_int_equal(f->c->timeline_idle_sec, 45);
	assert_int_equal(f->c->busy_poll_usec, 0);
	assert_true(f->c->seccomp_off);
	assert_string_equal(f->c->tftp.root, "/srv/tftp");
	assert_listen(&f->c->tftp.listen, "127.0.0.1", 1069);
	assert_int_equal(f->c->tftp.max_transfers, 10);
	assert_int_equal(f->c->tftp.retransmit_ms, 250);
	assert_int_equal(f->c->tftp.retries, 3);
	assert_int_equal(f->c->tftp.max_blksize, 1468);
	assert_int_equal(f->c->tftp.max_windowsize, 8);
}

/* The lease writer's wait on another process's lock: 5 s by default, 0
 * (fail at once) to 3600. */
static void test_dhcp_database_busy_timeout(void **state)
{
	struct fixture *f = *state;

	assert_rc(build(f, false, NULL, 0), 0);
	assert_int_equal(f->c->dhcp.database_busy_timeout_sec, 5);
	config_free(f->c);
	f->c = NULL;
	write_ini(f, "[dhcp]\ndatabase-busy-timeout = 0\n");
	assert_rc(build(f, true, NULL, 0), 0);
	assert_int_equal(f->c->dhcp.database_busy_timeout_sec, 0);
	config_free(f->c);
	f->c = NULL;
	write_ini(f, "[dhcp]\ndatabase-busy-timeout = 3601\n");
	expect_file_error(f, -EINVAL, 2, "[dhcp] database-busy-timeout", "0..3600", NULL);
}

/* A PostgreSQL URI is kept as written; one carrying a password (as
 * user:pw@ or ?password=) is refused, naming the key. */
static void test_dhcp_database_postgresql(void **state)
{
	struct fixture *f = *state;

	write_ini(f, "[dhcp]\ndatabase = postgresql://kidou@db.example/kidou\n");
	assert_rc(build(f, true, NULL, 0), 0);
	assert_string_equal(f->c->dhcp.database, "postgresql://kidou@db.example/kidou");
	config_free(f->c);
	f->c = NULL;
	write_ini(f, "[dhcp]\ndatabase = postgresql://kidou:secret@db.example/kidou\n");
	expect_file_error(f, -EINVAL, 2, "[dhcp] database", "passfile", NULL);
	write_ini(f, "[dhcp]\ndatabase = postgres://db.example/kidou?user=k&password=secret\n");
	expect_file_error(f, -EINVAL, 2, "[dhcp] database", "passfile", NULL);
	write_ini(f, "[dhcp]\ndatabase = postgresql://kidou@db.example/kidou?sslmode=require\n");
	assert_rc(build(f, true, NULL, 0), 0);
}

/* Under systemd's StateDirectory= the lease database goes there by
 * default (kidou.service sets StateDirectory=kidou); the file and flags
 * still win, and without the variable the old default stays. */
static void test_dhcp_database_state_directory(void **state)
{
	struct fixture *f = *state;
	const struct config_override flag[] = { { "dhcp-database", "/srv/flag.db" } };

	unsetenv("STATE_DIRECTORY");
	assert_rc(build(f, false, NULL, 0), 0);
	assert_string_equal(f->c->dhcp.database, "./kidou-leases.db");
	config_free(f->c);
	f->c = NULL;
	setenv("STATE_DIRECTORY", "/var/lib/kidou", 1);
	assert_rc(build(f, false, NULL, 0), 0);
	assert_string_equal(f->c->dhcp.database, "/var/lib/kidou/leases.db");
	config_free(f->c);
	f->c = NULL;
	/* several StateDirectory= entries: the first */
	setenv("STATE_DIRECTORY", "/var/lib/kidou:/var/lib/other", 1);
	assert_rc(build(f, false, NULL, 0), 0);
	assert_string_equal(f->c->dhcp.database, "/var/lib/kidou/leases.db");
	config_free(f->c);
	f->c = NULL;
	/* not an absolute path: ignored */
	setenv("STATE_DIRECTORY", "relative", 1);
	assert_rc(build(f, false, NULL, 0), 0);
	assert_string_equal(f->c->dhcp.database, "./kidou-leases.db");
	config_free(f->c);
	f->c = NULL;
	setenv("STATE_DIRECTORY", "/var/lib/kidou", 1);
	write_ini(f, "[dhcp]\ndatabase = /srv/file.db\n");
	assert_rc(build(f, true, NULL, 0), 0);
	assert_string_equal(f->c->dhcp.database, "/srv/file.db");
	config_free(f->c);
	f->c = NULL;
	assert_rc(build(f, true, flag, 1), 0);
	assert_string_equal(f->c->dhcp.database, "/srv/flag.db");
	unsetenv("STATE_DIRECTORY");
}

static void test_range_edges_accepted(void **state)
{
	struct fixture *f = *state;

	write_ini(f,
		  "[tftp]\n"
		  "max-transfers = 100000\n"
		  "retransmit-ms = 10\n"
		  "retries = 100\n"
		  "max-blksize = 512\n"
		  "max-windowsize = 1024\n"
		  "listen = 0.0.0.0:0\n");
	assert_rc(build(f, true, NULL, 0), 0);
	assert_int_equal(f->c->tftp.max_transfers, 100000);
	assert_int_equal(f->c->tftp.retransmit_ms, 10);
	assert_int_equal(f->c->tftp.retries, 100);
	assert_int_equal(f->c->tftp.max_blksize, 512);
	assert_int_equal(f->c->tftp.max_windowsize, 1024);
	assert_listen(&f->c->tftp.listen, "0.0.0.0", 0);
}

static void test_whitespace_comments_crlf(void **state)
{
	struct fixture *f = *state;

	write_ini(f, "[tftp]\r\n  retries=4   \r\nroot =   /x y  ; inline comment\r\n");
	assert_rc(build(f, true, NULL, 0), 0);
	assert_int_equal(f->c->tftp.retries, 4);
	assert_string_equal(f->c->tftp.root, "/x y");
}

/* A key given twice in one section is refused at the second line, naming
 * the first: neither silently wins. */
static void test_duplicate_key_refused(void **state)
{
	struct fixture *f = *state;

	write_ini(f, "[tftp]\nroot = /a\nretries = 2\nroot = /b\n");
	expect_file_error(f, -EINVAL, 4, "[tftp] root: repeated key", "line 2", NULL);
	write_ini(f, "[host a]\nmac = 52:54:00:00:00:01\nip = 10.0.0.5\nip = 10.0.0.6\n");
	expect_file_error(f, -EINVAL, 4, "[host a] ip: repeated key", "line 3", NULL);
	/* lists accumulate: not a repetition */
	write_ini(f, "[dhcp]\ninterface = a\ninterface = b\ndns = 10.0.0.1\ndns = 10.0.0.2\n"
		  "[profile p]\nkernel = k\ninitrd = a\ninitrd = b\n");
	assert_rc(build(f, true, NULL, 0), 0);
	assert_int_equal(f->c->dhcp.n_interfaces, 2);
	assert_int_equal(f->c->dhcp.local.n_dns, 2);
	assert_int_equal(f->c->profiles->n_initrd, 2);
}

/* A section given twice would merge (or make one machine of two [host]s
 * with one name): refused at the repeated header, naming the first. */
static void test_duplicate_section_refused(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *text;
		unsigned line;
		const char *section;
	} cases[] = {
		{ "[tftp]\nretries = 2\n[http]\nroot = /h\n[tftp]\nroot = /a\n", 5, "[tftp]" },
		{ "[dhcp]\ninterface = a\n\n[dhcp]\nrouter = 10.0.0.1\n", 4, "[dhcp]" },
		{ "[host a]\nmac = 52:54:00:00:00:01\n[host b]\nmac = 52:54:00:00:00:02\n"
		  "[host a]\nip = 10.0.0.9\n", 5, "[host a]" },
		{ "[profile p]\nkernel = k\n[profile  p]\ncmdline = x\n", 3, "[profile  p]" },
		{ "[dhcp]\ninterface = a\n[subnet s]\nnetwork = 10.1.0.0/24\n"
		  "[subnet s]\nrange = 10.1.0.10 10.1.0.20\n", 5, "[subnet s]" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		write_ini(f, cases[i].text);
		expect_file_error(f, -EINVAL, cases[i].line, cases[i].section,
				  "repeated section", "first at line", NULL);
	}
}

static void test_unknown_key(void **state)
{
	struct fixture *f = *state;

	write_ini(f, "[tftp]\nretries = 3\nbogus = 1\n");
	expect_file_error(f, -EINVAL, 3, "[tftp] bogus: unknown key", NULL);
}

/* [http] header-timeout and max-connections-per-address: defaults, values
 * and the refusal of 0 (a cap or deadline of nothing serves nobody). */
static void test_http_limits(void **state)
{
	struct fixture *f = *state;

	assert_rc(build(f, false, NULL, 0), 0);
	assert_int_equal(f->c->http.header_timeout_sec, 10);
	assert_int_equal(f->c->http.max_connections_per_address, 16);
	config_free(f->c);
	f->c = NULL;
	write_ini(f, "[http]\nheader-timeout = 3\nmax-connections-per-address = 4\n");
	assert_rc(build(f, true, NULL, 0), 0);
	assert_int_equal(f->c->http.header_timeout_sec, 3);
	assert_int_equal(f->c->http.max_connections_per_address, 4);
	config_free(f->c);
	f->c = NULL;
	write_ini(f, "[http]\nheader-timeout = 0\n");
	expect_file_error(f, -EINVAL, 2, "header-timeout", NULL);
	write_ini(f, "[http]\nmax-connections-per-address = 0\n");
	expect_file_error(f, -EINVAL, 2, "max-connections-per-address", NULL);
}

/* [api]: defaults; the token read from token-file (trailing newline
 * dropped); refusals naming the key: a short token, a directory,
 * read-token without a file. */
static void test_api_keys(void **state)
{
	struct fixture *f = *state;
	char tok[600], ini[1400];
	FILE *fp;

	assert_rc(build(f, false, NULL, 0), 0);
	assert_false(f->c->api.own_listen);
	assert_null(f->c->api.token);
	assert_false(f->c->api.read_token);
	assert_int_equal(f->c->api.max_event_streams, 256);
	config_free(f->c);
	f->c = NULL;

	snprintf(tok, sizeof(tok), "%s/token", f->dir);
	fp = fopen(tok, "w");
	assert_non_null(fp);
	fputs("0123456789abcdef-xyz\n", fp);
	fclose(fp);
	chmod(tok, 0600);
	snprintf(ini, sizeof(ini), "[api]\nlisten = 127.0.0.1:9090\ntoken-file = %s\n"
		 "read-token = yes\nmax-event-streams = 3\n", tok);
	write_ini(f, ini);
	assert_rc(build(f, true, NULL, 0), 0);
	assert_true(f->c->api.own_listen);
	assert_int_equal(ntohs(f->c->api.listen.sin_port), 9090);
	assert_string_equal(f->c->api.token, "0123456789abcdef-xyz");
	assert_true(f->c->api.read_token);
	assert_int_equal(f->c->api.max_event_streams, 3);
	config_free(f->c);
	f->c = NULL;

	fp = fopen(tok, "w");
	fputs("short\n", fp);
	fclose(fp);
	snprintf(ini, sizeof(ini), "[api]\ntoken-file = %s\n", tok);
	write_ini(f, ini);
	expect_file_error(f, -EINVAL, 0, "token-file", "16", NULL);
	fp = fopen(tok, "w");
	fputs("0123456789 abcdef-xyz\n", fp);
	fclose(fp);
	expect_file_error(f, -EINVAL, 0, "token-file", "spaces", NULL);
	unlink(tok);
	expect_file_error(f, -ENOENT, 0, "token-file", NULL);
	snprintf(ini, sizeof(ini), "[api]\ntoken-file = %s\n", f->dir);
	write_ini(f, ini);
	expect_file_error(f, -EINVAL, 0, "token-file", "regular file", NULL);
	write_ini(f, "[api]\nread-token = yes\n");
	expect_file_error(f, -EINVAL, 0, "read-token", "token-file", NULL);
	write_ini(f, "[api]\nmax-event-streams = 0\n");
	expect_file_error(f, -EINVAL, 2, "max-event-streams", NULL);
	write_ini(f, "[api]\nlisten = nowhere\n");
	expect_file_error(f, -EINVAL, 2, "listen", NULL);
}

static void test_unknown_section(void **state)
{
	struct fixture *f = *state;

	write_ini(f, "[tftp]\nretries = 3\n\n[ldap]\nserver = x\n");
	expect_file_error(f, -EINVAL, 5, "ldap", "unknown", NULL);
}

static void test_key_in_wrong_section(void **state)
{
	struct fixture *f = *state;

	write_ini(f, "[daemon]\nroot = /srv\n");
	expect_file_error(f, -EINVAL, 2, "[daemon] root: unknown key", NULL);
}

static void test_key_outside_section(void **state)
{
	struct fixture *f = *state;

	write_ini(f, "; top\nretries = 3\n[tftp]\n");
	expect_file_error(f, -EINVAL, 2, "retries: key outside any [section]", NULL);
}

static void test_first_error_reported(void **state)
{
	struct fixture *f = *state;

	write_ini(f, "[tftp]\nretries = 0\nbogus = 1\nmax-blksize = 1\n");
	expect_file_error(f, -EINVAL, 2,
			  "[tftp] retries: \"0\" is not a whole number in 1..100", NULL);
}

struct bad_value {
	const char *line;  /* under [section] */
	const char *section;
	const char *suffix; /* after "PATH:2: " */
};

static void test_bad_values(void **state)
{
	static const struct bad_value cases[] = {
		{ "log-level = verbose", "daemon",
		  "[daemon] log-level: \"verbose\" is not one of debug, info, warn, error" },
		{ "log-level = INFO", "daemon",
		  "[daemon] log-level: \"INFO\" is not one of debug, info, warn, error" },
		{ "user =", "daemon", "[daemon] user: must not be empty" },
		{ "authoritative = true", "dhcp",
		  "[dhcp] authoritative: \"true\" is not yes or no" },
		{ "seccomp = on", "daemon", "[daemon] seccomp: \"on\" is not yes or no" },
		{ "seccomp =", "daemon", "[daemon] seccomp: \"\" is not yes or no" },
		{ "option = 42", "dhcp", "[dhcp] option: \"42\" is not CODE TYPE VALUE" },
		{ "option = 42 ip", "dhcp", "[dhcp] option: \"42 ip\" is not CODE TYPE VALUE" },
		{ "option = 0 u8 1", "dhcp",
		  "[dhcp] option: \"0\" is not an option code in 1..254" },
		{ "option = 255 u8 1", "dhcp",
		  "[dhcp] option: \"255\" is not an option code in 1..254" },
		{ "option = 3 ip 10.0.0.1", "dhcp", "[dhcp] option: option 3 is kidou's own (router)" },
		{ "option = 53 u8 5", "dhcp",
		  "[dhcp] option: option 53 is kidou's own (the DHCP exchange itself)" },
		{ "option = 67 string x", "dhcp",
		  "[dhcp] option: option 67 is kidou's own (the [boot] targets)" },
		{ "option = 42 ip 10.0.0.300", "dhcp",
		  "[dhcp] option: \"10.0.0.300\" is not an IPv4 address" },
		{ "option = 42 ipv4 10.0.0.1", "dhcp",
		  "[dhcp] option: \"ipv4\" is not a type (ip, string, u8, u16, u32, hex)" },
		{ "option = 26 u16 65536", "dhcp", "[dhcp] option: \"65536\" is not a u16" },
		{ "option = 23 u8 -1", "dhcp", "[dhcp] option: \"-1\" is not a u8" },
		{ "option = 224 hex 0a:b", "dhcp",
		  "[dhcp] option: \"0a:b\" is not 1..255 bytes of hex" },
		{ "option = 224 hex 0a:", "dhcp",
		  "[dhcp] option: \"0a:\" is not 1..255 bytes of hex" },
		{ "option = 224 hex zz", "dhcp", "[dhcp] option: \"zz\" is not 1..255 bytes of hex" },
		{ "busy-poll = 1001", "daemon",
		  "[daemon] busy-poll: \"1001\" is not a whole number in 0..1000" },
		{ "busy-poll = -5", "daemon",
		  "[daemon] busy-poll: \"-5\" is not a whole number in 0..1000" },
		{ "root =", "tftp", "[tftp] root: must not be empty" },
		{ "listen = 127.0.0.1", "tftp",
		  "[tftp] listen: \"127.0.0.1\" is not ADDR:PORT (IPv4)" },
		{ "listen = 127.0.0.1:65536", "tftp",
		  "[tftp] listen: \"127.0.0.1:65536\" is not ADDR:PORT (IPv4)" },
		{ "listen = localhost:69", "tftp",
		  "[tftp] listen: \"localhost:69\" is not ADDR:PORT (IPv4)" },
		{ "listen = :69", "tftp", "[tftp] listen: \":69\" is not ADDR:PORT (IPv4)" },
		{ "max-transfers = 0", "tftp",
		  "[tftp] max-transfers: \"0\" is not a whole number in 1..100000" },
		{ "max-transfers = 100001", "tftp",
		  "[tftp] max-transfers: \"100001\" is not a whole number in 1..100000" },
		{ "retransmit-ms = 9", "tftp",
		  "[tftp] retransmit-ms: \"9\" is not a whole number in 10..255000" },
		{ "retransmit-ms = 255001", "tftp",
		  "[tftp] retransmit-ms: \"255001\" is not a whole number in 10..255000" },
		{ "retries = lots", "tftp",
		  "[tftp] retries: \"lots\" is not a whole number in 1..100" },
		{ "retries = -1", "tftp",
		  "[tftp] retries: \"-1\" is not a whole number in 1..100" },
		{ "retries = 101", "tftp",
		  "[tftp] retries: \"101\" is not a whole number in 1..100" },
		{ "max-blksize = 511", "tftp",
		  "[tftp] max-blksize: \"511\" is not a whole number in 512..65464" },
		{ "max-blksize = 65465", "tftp",
		  "[tftp] max-blksize: \"65465\" is not a whole number in 512..65464" },
		{ "max-windowsize = 0", "tftp",
		  "[tftp] max-windowsize: \"0\" is not a whole number in 1..1024" },
		{ "max-windowsize = 1025", "tftp",
		  "[tftp] max-windowsize: \"1025\" is not a whole number in 1..1024" },
		{ "max-windowsize = 4294967297", "tftp",
		  "[tftp] max-windowsize: \"4294967297\" is not a whole number in 1..1024" },
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char text[256];

		snprintf(text, sizeof(text), "[%s]\n%s\n", cases[i].section, cases[i].line);
		write_ini(f, text);
		expect_file_error(f, -EINVAL, 2, cases[i].suffix, NULL);
	}
}

static void test_dhcp_options(void **state)
{
	struct fixture *f = *state;
	char long_string[300];
	const struct dhcp_option_config *o;

	write_ini(f,
		  "[dhcp]\n"
		  "interface = v0\n"
		  "option = 42 ip 10.0.0.1, 10.0.0.2\n"
		  "option = 26 u16 1400\n"
		  "option = 224 hex 0a:1B:ff\n"
		  "option = 225 hex 00ff\n"
		  "option = 209 string pxelinux.cfg/special config\n"
		  "option = 23 u8 64\n"
		  "option = 35 u32 4294967295\n"
		  "[host h]\n"
		  "mac = 52:54:00:aa:00:01\n"
		  "option = 42 ip 10.9.9.9\n");
	assert_rc(build(f, true, NULL, 0), 0);
	o = f->c->dhcp.local.options;
	assert_non_null(o);
	assert_int_equal(o->code, 42);
	assert_int_equal(o->len, 8);
	assert_memory_equal(o->data, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
	o = o->next;
	assert_int_equal(o->code, 26);
	assert_int_equal(o->len, 2);
	assert_memory_equal(o->data, "\x05\x78", 2);  /* 1400 */
	o = o->next;
	assert_int_equal(o->code, 224);
	assert_int_equal(o->len, 3);
	assert_memory_equal(o->data, "\x0a\x1b\xff", 3);
	o = o->next;
	assert_int_equal(o->code, 225);
	assert_int_equal(o->len, 2);
	assert_memory_equal(o->data, "\x00\xff", 2);
	o = o->next;
	assert_int_equal(o->code, 209);
	assert_int_equal(o->len, 27);
	assert_memory_equal(o->data, "pxelinux.cfg/special config", 27);
	o = o->next;
	assert_int_equal(o->code, 23);
	assert_int_equal(o->len, 1);
	assert_int_equal(o->data[0], 64);
	o = o->next;
	assert_int_equal(o->code, 35);
	assert_int_equal(o->len, 4);
	assert_memory_equal(o->data, "\xff\xff\xff\xff", 4);
	assert_null(o->next);
	assert_non_null(f->c->hosts->options);
	assert_int_equal(f->c->hosts->options->code, 42);
	assert_memory_equal(f->c->hosts->options->data, "\x0a\x09\x09\x09", 4);
	assert_null(f->c->hosts->options->next);
	config_free(f->c);
	f->c = NULL;

	/* A long string (lines are at most 198 characters). */
	snprintf(long_string, sizeof(long_string), "[dhcp]\noption = 224 string %0150d\n", 0);
	write_ini(f, long_string);
	assert_rc(build(f, true, NULL, 0), 0);
	assert_int_equal(f->c->dhcp.local.options->len, 150);
	config_free(f->c);
	f->c = NULL;

	/* The same code twice in one section: refused, not the later winning. */
	write_ini(f, "[dhcp]\noption = 26 u16 1400\noption = 42 ip 10.0.0.1\n"
		  "option = 26 u16 9000\n");
	expect_file_error(f, -EINVAL, 4, "[dhcp] option:", "26", "already set", NULL);
}

/* A NUL byte is named at its own line; the lines after it are not parsed
 * as something else (libinih alone calls it "line too long" and reads
 * the rest of the line as the next one). */
static void test_nul_byte(void **state)
{
	struct fixture *f = *state;
	static const char text[] = "[tftp]\nretries = 3\nroot = /a\0bogus = 1\nmax-blksize = 512\n";
	FILE *fp = fopen(f->path, "we");

	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, sizeof(text) - 1, fp), sizeof(text) - 1);
	assert_int_equal(fclose(fp), 0);
	expect_file_error(f, -EINVAL, 3, "NUL byte", NULL);
}

/* A FIFO (or device) at the config path must not block: open() of a FIFO
 * without O_NONBLOCK waits for a writer forever. Only a regular file. */
static void test_fifo_refused(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(mkfifo(f->path, 0600), 0);
	expect_file_error(f, -EINVAL, 0, "FIFO", "not a regular file", NULL);
	unlink(f->path);
	f->err[0] = '\0';
	assert_true(config_build("/dev/null", NULL, 0, &f->c, f->err, sizeof(f->err)) < 0);
	assert_non_null(strstr(f->err, "/dev/null"));
	assert_non_null(strstr(f->err, "not a regular file"));
}

/* A [host] that no machine can be: a group or zero MAC, an address no
 * client can hold. Refused at the key's line. */
static void test_host_impossible_addresses(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *line;
		const char *key;
	} cases[] = {
		{ "mac = ff:ff:ff:ff:ff:ff", "[host h] mac:" },
		{ "mac = 01:00:5e:00:00:01", "[host h] mac:" },
		{ "mac = 33:33:00:00:00:01", "[host h] mac:" },
		{ "mac = 00:00:00:00:00:00", "[host h] mac:" },
		{ "ip = 255.255.255.255", "[host h] ip:" },
		{ "ip = 0.0.0.0", "[host h] ip:" },
		{ "ip = 224.0.0.1", "[host h] ip:" },
		{ "ip = 239.1.2.3", "[host h] ip:" },
		{ "ip = 240.0.0.1", "[host h] ip:" },
		{ "ip = 127.0.0.1", "[host h] ip:" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char text[256];

		snprintf(text, sizeof(text), "[host h]\nuuid = %s\n%s\n",
			 "12345678-1234-1234-1234-123456789abc", cases[i].line);
		write_ini(f, text);
		expect_file_error(f, -EINVAL, 3, cases[i].key, NULL);
	}
	write_ini(f, "[host h]\nmac = 02:00:00:00:00:01\nip = 223.255.255.254\n");
	assert_rc(build(f, true, NULL, 0), 0);
}

/* Overlapping [subnet] networks or ranges would give two clients one
 * address: refused at the later one's key, naming the earlier. */
static void test_subnet_overlaps(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *body;
		unsigned line;
		const char *want1, *want2;
	} cases[] = {
		/* the same network twice */
		{ "[subnet a]\nnetwork = 10.1.0.0/24\n[subnet b]\nnetwork = 10.1.0.0/24\n",
		  6, "[subnet b] network: overlaps", "[subnet a] (line 4)" },
		/* a network inside a wider one, the wider one second */
		{ "[subnet a]\nnetwork = 10.1.2.0/24\n[subnet b]\nnetwork = 10.1.0.0/16\n",
		  6, "[subnet b] network: overlaps", "[subnet a]" },
		/* networks fine, but a's range reaches into b's */
		{ "[subnet a]\nnetwork = 10.1.0.0/16\nrange = 10.1.0.10 10.1.0.50\n"
		  "[subnet b]\nnetwork = 10.2.0.0/24\nrange = 10.2.0.10 10.2.0.20\n"
		  "[subnet c]\nnetwork = 10.3.0.0/24\nrange = 10.3.0.1 10.3.0.9\n", 0, NULL, NULL },
		/* a [subnet] range over the [dhcp] range */
		{ "[subnet a]\nnetwork = 192.168.0.0/16\nrange = 192.168.1.50 192.168.1.60\n",
		  0, NULL, NULL },
		/* a range outside its network */
		{ "[subnet a]\nnetwork = 10.1.0.0/24\nrange = 10.1.0.10 10.1.1.20\n",
		  5, "[subnet a] range: outside its network", NULL },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char text[512];

		snprintf(text, sizeof(text), "[dhcp]\ninterface = v0\n%s%s",
			 i == 3 ? "range = 192.168.1.10 192.168.1.100\n" : "", cases[i].body);
		write_ini(f, text);
		if (i == 2) {
			assert_rc(build(f, true, NULL, 0), 0);  /* disjoint: fine */
			config_free(f->c);
			f->c = NULL;
			continue;
		}
		if (i == 3) {
			expect_file_error(f, -EINVAL, 6, "[subnet a] range: overlaps the range of [dhcp]",
					  "(line 3)", NULL);
			continue;
		}
		expect_file_error(f, -EINVAL, cases[i].line, cases[i].want1,
				  cases[i].want2 ? cases[i].want2 : cases[i].want1, NULL);
	}
	/* The [dhcp] range from a flag, over a [subnet]'s: the flag is blamed. */
	write_ini(f, "[dhcp]\ninterface = v0\n[subnet a]\nnetwork = 10.9.0.0/24\n"
		  "range = 10.9.0.10 10.9.0.20\n");
	{
		const struct config_override o[] = { { "dhcp-range", "10.9.0.15 10.9.0.30" } };
		assert_rc(build(f, true, o, 1), -EINVAL);
		assert_non_null(strstr(f->err, "--dhcp-range: overlaps the range of [subnet a]"));
		assert_non_null(strstr(f->err, ":5)"));
	}
}

/* Many hosts: every one found by mac, uuid and ip through the indexes,
 * and a duplicate far down the file still caught (the index replaces a
 * quadratic scan). */
static void test_many_hosts(void **state)
{
	struct fixture *f = *state;
	const unsigned n = 5000;
	FILE *fp = fopen(f->path, "we");

	assert_non_null(fp);
	fprintf(fp, "[profile p]\nkernel = k\n");
	for (unsigned i = 0; i < n; i++)
		fprintf(fp, "[host h%u]\nmac = 52:54:00:00:%02x:%02x\nip = 10.0.%u.%u\n"
			"uuid = %08x-0000-0000-0000-000000000000\nprofile = p\n",
			i, i >> 8, i & 255, i >> 8, i & 255, i);
	assert_int_equal(fclose(fp), 0);
	assert_rc(build(f, true, NULL, 0), 0);
	for (unsigned i = 0; i < n; i += 7) {
		const uint8_t mac[6] = { 0x52, 0x54, 0, 0, (uint8_t)(i >> 8), (uint8_t)i };
		uint8_t uuid[16] = { (uint8_t)(i >> 24), (uint8_t)(i >> 16), (uint8_t)(i >> 8),
				     (uint8_t)i };
		const struct host_config *h = config_host_by_mac(f->c, mac);
		char name[16];

		snprintf(name, sizeof(name), "h%u", i);
		assert_non_null(h);
		assert_string_equal(h->name, name);
		assert_ptr_equal(config_host_by_uuid(f->c, uuid), h);
		assert_ptr_equal(config_host_by_ip(f->c, 0x0a000000u | (i >> 8) << 8 | (i & 255)), h);
		assert_non_null(h->profile);
	}
	{
		const uint8_t other[6] = { 0x52, 0x54, 0, 1, 0, 0 };
		assert_null(config_host_by_mac(f->c, other));
		assert_null(config_host_by_ip(f->c, 0x0b000001));
	}
	config_free(f->c);
	f->c = NULL;

	/* the same mac at the very end */
	fp = fopen(f->path, "ae");
	assert_non_null(fp);
	fprintf(fp, "[host last]\nmac = 52:54:00:00:00:07\n");
	assert_int_equal(fclose(fp), 0);
	expect_file_error(f, -EINVAL, 5u * n + 3, "[host last]", "same mac as [host h7]", NULL);
}

static void test_missing_file(void **state)
{
	struct fixture *f = *state;

	/* never written */
	expect_file_error(f, -ENOENT, 0, "cannot open config file",
			  "No such file or directory", NULL);
}

static void test_directory_as_file(void **state)
{
	struct fixture *f = *state;
	struct config *c = (struct config *)0x1;
	int r;

	/* fopen() opens a directory fine; reading it fails with EISDIR,
	 * which must not pass for an empty file. */
	r = config_build(f->dir, NULL, 0, &c, f->err, sizeof(f->err));
	if (r >= 0) {
		f->c = c;  /* teardown frees it */
		print_error("a directory as config file gave defaults\n");
	}
	assert_true(r < 0);
	assert_ptr_equal(c, (struct config *)0x1);
	assert_non_null(strstr(f->err, f->dir));
}

static void test_syntax_error(void **state)
{
	struct fixture *f = *state;

	write_ini(f, "[tftp]\nretries = 3\nthis is not ini\n");
	expect_file_error(f, -EINVAL, 3, "syntax error", NULL);
	write_ini(f, "[tftp\nretries = 3\n");
	expect_file_error(f, -EINVAL, 1, "syntax error", NULL);
}

/* A comment longer than libinih's line buffer (200 bytes) is still a
 * comment: the tail of the line must not be parsed as a line of its own. */
static void test_long_comment_line(void **state)
{
	struct fixture *f = *state;
	char text[1024];
	char comment[401];

	memset(comment, 'x', sizeof(comment) - 1);
	comment[sizeof(comment) - 1] = '\0';
	snprintf(text, sizeof(text), "# %s\n[tftp]\nretries = 4\n", comment);
	write_ini(f, text);
	assert_rc(build(f, true, NULL, 0), 0);
	assert_int_equal(f->c->tftp.retries, 4);
}

/* A value longer than the line buffer is either taken whole or refused
 * with the right line number; never silently cut, never blamed on a line
 * that does not exist. */
static void test_long_value_line(void **state)
{
	struct fixture *f = *state;
	char text[1024];
	char root[301];
	int r;

	memset(root, 'r', sizeof(root) - 1);
	root[0] = '/';
	root[sizeof(root) - 1] = '\0';
	snprintf(text, sizeof(text), "[tftp]\nroot = %s\n", root);
	write_ini(f, text);
	r = build(f, true, NULL, 0);
	if (r == 0) {
		assert_string_equal(f->c->tftp.root, root);
	} else {
		char want[400];
		snprintf(want, sizeof(want), "%s:2:", f->path);
		if (strncmp(f->err, want, strlen(want)) != 0)
			print_error("error names the wrong line: %s\n", f->err);
		assert_memory_equal(f->err, want, strlen(want));
	}
}

static void test_flags_override_file(void **state)
{
	struct fixture *f = *state;
	const struct config_override o[] = {
		{ "tftp-retries", "5" },
		{ "log-level", "warn" },
		{ "tftp-listen", "10.0.0.1:6969" },
	};

	write_ini(f, "[daemon]\nlog-level = debug\n[tftp]\nretries = 3\nroot = /from-file\n");
	assert_rc(build(f, true, o, ARRAY_SIZE(o)), 0);
	assert_int_equal(f->c->tftp.retries, 5);           /* flag wins */
	assert_int_equal(f->c->log_level, LOG_LEVEL_WARN); /* flag wins */
	assert_string_equal(f->c->tftp.root, "/from-file"); /* file kept */
	assert_listen(&f->c->tftp.listen, "10.0.0.1", 6969);
}

static void test_flags_without_file(void **state)
{
	struct fixture *f = *state;
	const struct config_override o[] = {
		{ "tftp-root", "/a" },
		{ "tftp-root", "/b" },  /* later flag wins */
		{ "user", "kidou" },
		{ "tftp-max-transfers", "7" },
		{ "tftp-retransmit-ms", "500" },
		{ "tftp-max-blksize", "1024" },
		{ "tftp-max-windowsize", "16" },
	};

	assert_rc(build(f, false, o, ARRAY_SIZE(o)), 0);
	assert_null(f->c->path);
	assert_string_equal(f->c->tftp.root, "/b");
	assert_string_equal(f->c->user, "kidou");
	assert_int_equal(f->c->tftp.max_transfers, 7);
	assert_int_equal(f->c->tftp.retransmit_ms, 500);
	assert_int_equal(f->c->tftp.max_blksize, 1024);
	assert_int_equal(f->c->tftp.max_windowsize, 16);
}

static void test_unknown_flag(void **state)
{
	struct fixture *f = *state;
	const struct config_override o[] = { { "tftp-retries", "5" }, { "bogus", "1" } };

	assert_rc(build(f, false, o, ARRAY_SIZE(o)), -EINVAL);
	assert_string_equal(f->err, "--bogus: unknown option");
}

static void test_bad_flag_value(void **state)
{
	struct fixture *f = *state;
	const struct config_override o[] = { { "tftp-retries", "0" } };
	const struct config_override e[] = { { "tftp-root", "" } };

	assert_rc(build(f, false, o, 1), -EINVAL);
	assert_string_equal(f->err, "--tftp-retries: \"0\" is not a whole number in 1..100");
	assert_rc(build(f, false, e, 1), -EINVAL);
	assert_string_equal(f->err, "--tftp-root: must not be empty");
}

static void test_file_error_beats_flags(void **state)
{
	struct fixture *f = *state;
	const struct config_override o[] = { { "tftp-retries", "5" } };

	/* flags do not paper over a broken file */
	write_ini(f, "[tftp]\nretries = x\n");
	assert_rc(build(f, true, o, 1), -EINVAL);
	assert_non_null(strstr(f->err, ":2: [tftp] retries:"));
}

static void test_flag_known(void **state)
{
	static const char *const flags[] = {
		"log-level", "user", "tftp-root", "tftp-listen", "tftp-max-transfers",
		"tftp-retransmit-ms", "tftp-retries", "tftp-max-blksize",
		"tftp-max-windowsize",
	};

	for (size_t i = 0; i < ARRAY_SIZE(flags); i++)
		assert_rc(config_flag_known(flags[i]), 0);
	assert_rc(config_flag_known("root"), -ENOENT);
	assert_rc(config_flag_known("tftp-"), -ENOENT);
	assert_rc(config_flag_known(""), -ENOENT);
	assert_rc(config_flag_known("--tftp-root"), -ENOENT);
}

static void test_print_keys(void **state)
{
	static const char *const expect[] = {
		"--log-level", "[daemon] log-level", "--tftp-root", "[tftp] root",
		"--tftp-max-windowsize", "[tftp] max-windowsize",
	};
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	assert_non_null(out);
	config_print_keys(out);
	assert_int_equal(fclose(out), 0);
	for (size_t i = 0; i < ARRAY_SIZE(expect); i++)
		assert_non_null(strstr(buf, expect[i]));
	free(buf);
}

static void test_free_null(void **state)
{
	config_free(NULL);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_defaults),
		T(test_dhcp_authoritative),
		T(test_empty_file_is_defaults),
		T(test_every_key),
		T(test_http_limits),
		T(test_dhcp_database_busy_timeout),
		T(test_dhcp_database_postgresql),
		T(test_dhcp_database_state_directory),
		T(test_range_edges_accepted),
		T(test_whitespace_comments_crlf),
		T(test_duplicate_key_refused),
		T(test_duplicate_section_refused),
		T(test_nul_byte),
		T(test_fifo_refused),
		T(test_host_impossible_addresses),
		T(test_subnet_overlaps),
		T(test_many_hosts),
		T(test_unknown_key),
		T(test_unknown_section),
		T(test_api_keys),
		T(test_key_in_wrong_section),
		T(test_key_outside_section),
		T(test_first_error_reported),
		T(test_bad_values),
		T(test_dhcp_options),
		T(test_missing_file),
		T(test_directory_as_file),
		T(test_syntax_error),
		T(test_long_comment_line),
		T(test_long_value_line),
		T(test_flags_override_file),
		T(test_flags_without_file),
		T(test_unknown_flag),
		T(test_bad_flag_value),
		T(test_file_error_beats_flags),
		T(test_flag_known),
		T(test_print_keys),
		T(test_free_null),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
