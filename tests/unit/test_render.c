/* test_render.c - boot/render: ${...} expansion of a profile's cmdline and
 * the exact PXELINUX, GRUB and iPXE configs rendered from a profile. */
#include "unit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "boot/render.h"
#include "config.h"

#define MAC "52:54:00:12:34:56"

static const struct render_vars full = {
	.mac = MAC,
	.ip = "10.0.0.5",
	.hostname = "web1",
	.server = "10.0.0.1",
	.http = "http://10.0.0.1:8080",
};

static const struct render_vars empty_vars = { 0 };

/* Expand and compare, and check that exactly len+1 bytes is the smallest
 * buffer that works (-ENOBUFS below it, nothing written past the end). */
static void expect_expand(const char *tmpl, const struct render_vars *v, const char *want)
{
	size_t n = strlen(want);
	char *buf = malloc(n + 8);

	assert_non_null(buf);
	memset(buf, 'Z', n + 8);
	assert_rc(render_expand(tmpl, v, buf, n + 8), (int)n);
	assert_string_equal(buf, want);

	memset(buf, 'Z', n + 8);
	assert_rc(render_expand(tmpl, v, buf, n + 1), (int)n);
	assert_string_equal(buf, want);
	assert_int_equal(buf[n + 1], 'Z');

	if (n == 0) {  /* size 0: test_size_zero_buffer_is_not_written */
		free(buf);
		return;
	}
	memset(buf, 'Z', n + 8);
	assert_rc(render_expand(tmpl, v, buf, n), -ENOBUFS);
	for (size_t i = n; i < n + 8; i++)
		assert_int_equal(buf[i], 'Z');
	free(buf);
}

/* --- render_expand --- */

static void test_every_variable(void **state)
{
	expect_expand("${mac}", &full, MAC);
	expect_expand("${ip}", &full, "10.0.0.5");
	expect_expand("${hostname}", &full, "web1");
	expect_expand("${server}", &full, "10.0.0.1");
	expect_expand("${http}", &full, "http://10.0.0.1:8080");
	expect_expand("a=${mac} b=${ip} c=${hostname} d=${server} e=${http}/x",
		      &full,
		      "a=" MAC " b=10.0.0.5 c=web1 d=10.0.0.1 e=http://10.0.0.1:8080/x");
	/* adjacent, repeated, at both ends */
	expect_expand("${ip}${ip}", &full, "10.0.0.510.0.0.5");
	expect_expand("${mac}-${mac}", &full, MAC "-" MAC);
	expect_expand("plain text, no variables", &full, "plain text, no variables");
}

static void test_empty_and_null_values(void **state)
{
	struct render_vars blank = { .mac = "", .ip = "", .hostname = "", .server = "",
				     .http = "" };

	expect_expand("[${mac}|${ip}|${hostname}|${server}|${http}]", &empty_vars, "[||||]");
	expect_expand("[${mac}|${ip}|${hostname}|${server}|${http}]", &blank, "[||||]");
	expect_expand("[${mac}|${ip}|${hostname}|${server}|${http}]", NULL, "[||||]");
	expect_expand("a${hostname}b", &empty_vars, "ab");
	expect_expand("${hostname}", &empty_vars, "");
	expect_expand("", &full, "");
}

static void test_size_zero_buffer_is_not_written(void **state)
{
	/* Output "" still needs its NUL: a zero-size buffer is too small and
	 * must not be touched. */
	char buf[4] = "ZZZ";

	assert_rc(render_expand("", &full, buf, 0), -ENOBUFS);
	assert_int_equal(buf[0], 'Z');
	assert_rc(render_expand("${hostname}", &empty_vars, buf, 0), -ENOBUFS);
	assert_int_equal(buf[0], 'Z');
	assert_rc(render_expand("x", &full, buf, 0), -ENOBUFS);
	assert_int_equal(buf[0], 'Z');
}

static void test_enobufs_at_each_boundary(void **state)
{
	const char *tmpl = "ip=${ip} mac=${mac}!";
	const char *want = "ip=10.0.0.5 mac=" MAC "!";
	size_t n = strlen(want);
	char buf[64];

	/* Every size from 0 to n is too small, n+1 and up fit. */
	for (size_t size = 0; size <= n + 2; size++) {
		memset(buf, 'Z', sizeof(buf));
		int r = render_expand(tmpl, &full, buf, size);
		if (size <= n) {
			assert_rc(r, -ENOBUFS);
		} else {
			assert_rc(r, (int)n);
			assert_string_equal(buf, want);
		}
		for (size_t i = size; i < sizeof(buf); i++)
			assert_int_equal(buf[i], 'Z');
	}
}

static void test_unknown_variable(void **state)
{
	char out[128], bad[32];

	assert_rc(render_expand("a ${foo} b", &full, out, sizeof(out)), -EINVAL);
	assert_rc(render_expand("${MAC}", &full, out, sizeof(out)), -EINVAL);
	assert_rc(render_expand("${}", &full, out, sizeof(out)), -EINVAL);
	assert_rc(render_expand("${ mac}", &full, out, sizeof(out)), -EINVAL);
	assert_rc(render_expand("${mac }", &full, out, sizeof(out)), -EINVAL);
	assert_rc(render_expand("${macx}", &full, out, sizeof(out)), -EINVAL);
	assert_rc(render_expand("${ma}", &full, out, sizeof(out)), -EINVAL);
	/* the error wins even when the buffer is too small for the rest */
	assert_rc(render_expand("${bogus}", &full, out, 1), -EINVAL);

	assert_rc(render_check_template("a ${foo} b", bad, sizeof(bad)), -EINVAL);
	assert_string_equal(bad, "foo");
	assert_rc(render_check_template("${mac} ${ip} ${bogus} ${worse}", bad, sizeof(bad)),
		  -EINVAL);
	assert_string_equal(bad, "bogus");
	assert_rc(render_check_template("${MAC}", bad, sizeof(bad)), -EINVAL);
	assert_string_equal(bad, "MAC");
	assert_rc(render_check_template("${}", bad, sizeof(bad)), -EINVAL);
	assert_string_equal(bad, "");
	/* a long name is truncated to the caller's buffer */
	assert_rc(render_check_template("${abcdefghij}", bad, 4), -EINVAL);
	assert_string_equal(bad, "abc");
}

static void test_known_templates_pass_the_check(void **state)
{
	char bad[32] = "untouched";

	assert_rc(render_check_template("", bad, sizeof(bad)), 0);
	assert_rc(render_check_template("${mac}${ip}${hostname}${server}${http}", bad,
					sizeof(bad)), 0);
	assert_rc(render_check_template("console=ttyS0 $ $mac ${mac}} {x}", bad, sizeof(bad)),
		  0);
	/* bad may be NULL */
	assert_rc(render_check_template("${nope}", NULL, 0), -EINVAL);
	assert_rc(render_check_template("${mac}", NULL, 0), 0);
}

static void test_unterminated(void **state)
{
	char out[128], bad[32];

	assert_rc(render_expand("${mac", &full, out, sizeof(out)), -EINVAL);
	assert_rc(render_expand("x ${", &full, out, sizeof(out)), -EINVAL);
	assert_rc(render_expand("${mac} ${ip", &full, out, sizeof(out)), -EINVAL);
	bad[0] = '\0';
	assert_rc(render_check_template("console=${mac", bad, sizeof(bad)), -EINVAL);
	assert_rc(render_check_template("${", bad, sizeof(bad)), -EINVAL);
}

static void test_literal_dollars_kept(void **state)
{
	expect_expand("$", &full, "$");
	expect_expand("$$", &full, "$$");
	expect_expand("$mac", &full, "$mac");
	expect_expand("cost $5 {mac}", &full, "cost $5 {mac}");
	expect_expand("end$", &full, "end$");
	expect_expand("$${mac}", &full, "$" MAC);
	expect_expand("${mac}}", &full, MAC "}");
	expect_expand("}{", &full, "}{");
}

static void test_ipxe_settings_pass_through(void **state)
{
	/* ${net0/mac} is iPXE's to expand */
	expect_expand("BOOTIF=${net0/mac} ip=${ip}", &full, "BOOTIF=${net0/mac} ip=10.0.0.5");
	assert_rc(render_check_template("${net0/mac:hexhyp}", NULL, 0), 0);
}

/* --- the three formats --- */

static struct profile_config profile(const char *kernel, unsigned n_initrd,
				     const char *const *initrd, const char *cmdline)
{
	struct profile_config p = { .name = (char *)"inst", .kernel = (char *)kernel,
				    .n_initrd = n_initrd, .cmdline = (char *)cmdline };

	for (unsigned i = 0; i < n_initrd; i++)
		p.initrd[i] = (char *)initrd[i];
	return p;
}

typedef int (*render_fn)(const struct profile_config *, const struct render_vars *, char *,
			 size_t);

/* Render, compare exactly, and check the size boundary. */
static void expect_render(render_fn fn, const struct profile_config *p,
			  const struct render_vars *v, const char *want)
{
	size_t n = strlen(want);
	char *buf = malloc(n + 16);

	assert_non_null(buf);
	memset(buf, 'Z', n + 16);
	assert_rc(fn(p, v, buf, n + 16), (int)n);
	assert_string_equal(buf, want);
	memset(buf, 'Z', n + 16);
	assert_rc(fn(p, v, buf, n + 1), (int)n);
	assert_string_equal(buf, want);
	memset(buf, 'Z', n + 16);
	assert_rc(fn(p, v, buf, n), -ENOBUFS);
	for (size_t i = n; i < n + 16; i++)
		assert_int_equal(buf[i], 'Z');
	assert_rc(fn(p, v, buf, 0), -ENOBUFS);
	free(buf);
}

#define CMDLINE_T "console=ttyS0 ip=${ip} BOOTIF=${mac} hostname=${hostname} url=${http}/seed srv=${server}"
#define CMDLINE_X "console=ttyS0 ip=10.0.0.5 BOOTIF=" MAC " hostname=web1 url=http://10.0.0.1:8080/seed srv=10.0.0.1"

static const char *const three[] = { "deb/initrd.gz", "deb/firmware.cpio", "deb/extra.img" };

static void test_pxelinux(void **state)
{
	struct profile_config p0 = profile("deb/linux", 0, NULL, CMDLINE_T);
	struct profile_config p1 = profile("deb/linux", 1, three, CMDLINE_T);
	struct profile_config p3 = profile("deb/linux", 3, three, CMDLINE_T);
	const char *head = "# rendered by kidou from [profile inst] for " MAC "\n"
			   "default kidou\nprompt 0\ntimeout 0\n\nlabel kidou\n"
			   "  kernel ::deb/linux\n";
	char want[1024];

	snprintf(want, sizeof(want), "%s  append %s\n", head, CMDLINE_X);
	expect_render(render_pxelinux, &p0, &full, want);
	snprintf(want, sizeof(want), "%s  initrd ::deb/initrd.gz\n  append %s\n", head, CMDLINE_X);
	expect_render(render_pxelinux, &p1, &full, want);
	snprintf(want, sizeof(want),
		 "%s  initrd ::deb/initrd.gz,::deb/firmware.cpio,::deb/extra.img\n  append %s\n",
		 head, CMDLINE_X);
	expect_render(render_pxelinux, &p3, &full, want);
}

static void test_grub(void **state)
{
	struct profile_config p0 = profile("deb/linux", 0, NULL, CMDLINE_T);
	struct profile_config p1 = profile("deb/linux", 1, three, CMDLINE_T);
	struct profile_config p3 = profile("deb/linux", 3, three, CMDLINE_T);
	const char *head = "# rendered by kidou from [profile inst] for " MAC "\n"
			   "set timeout=0\nset default=0\n\nmenuentry \"kidou inst\" {\n";
	char want[1024];

	snprintf(want, sizeof(want), "%s  linux /deb/linux %s\n}\n", head, CMDLINE_X);
	expect_render(render_grub, &p0, &full, want);
	snprintf(want, sizeof(want), "%s  linux /deb/linux %s\n  initrd /deb/initrd.gz\n}\n",
		 head, CMDLINE_X);
	expect_render(render_grub, &p1, &full, want);
	snprintf(want, sizeof(want),
		 "%s  linux /deb/linux %s\n  initrd /deb/initrd.gz /deb/firmware.cpio "
		 "/deb/extra.img\n}\n", head, CMDLINE_X);
	expect_render(render_grub, &p3, &full, want);
}

static void test_ipxe(void **state)
{
	struct profile_config p0 = profile("deb/linux", 0, NULL, CMDLINE_T);
	struct profile_config p1 = profile("deb/linux", 1, three, CMDLINE_T);
	struct profile_config p3 = profile("deb/linux", 3, three, CMDLINE_T);
	const char *head = "#!ipxe\n# rendered by kidou from [profile inst] for " MAC "\n"
			   "kernel http://10.0.0.1:8080/deb/linux";
	char want[1024];

	snprintf(want, sizeof(want), "%s %s\nboot\n", head, CMDLINE_X);
	expect_render(render_ipxe, &p0, &full, want);
	/* each initrd named, and named on the command line (UEFI iPXE) */
	snprintf(want, sizeof(want), "%s initrd=initrd0 %s\n"
		 "initrd --name initrd0 http://10.0.0.1:8080/deb/initrd.gz\nboot\n", head, CMDLINE_X);
	expect_render(render_ipxe, &p1, &full, want);
	snprintf(want, sizeof(want),
		 "%s initrd=initrd0 initrd=initrd1 initrd=initrd2 %s\n"
		 "initrd --name initrd0 http://10.0.0.1:8080/deb/initrd.gz\n"
		 "initrd --name initrd1 http://10.0.0.1:8080/deb/firmware.cpio\n"
		 "initrd --name initrd2 http://10.0.0.1:8080/deb/extra.img\nboot\n", head, CMDLINE_X);
	expect_render(render_ipxe, &p3, &full, want);
}

static void test_without_mac_says_any_machine(void **state)
{
	struct render_vars v = full;
	struct profile_config p = profile("k", 0, NULL, "m=${mac}.");
	char out[1024];

	v.mac = NULL;
	assert_true(render_pxelinux(&p, &v, out, sizeof(out)) > 0);
	assert_non_null(strstr(out, "[profile inst] for any machine\n"));
	assert_non_null(strstr(out, "  append m=.\n"));
	assert_true(render_grub(&p, &v, out, sizeof(out)) > 0);
	assert_non_null(strstr(out, "[profile inst] for any machine\n"));
	assert_non_null(strstr(out, "  linux /k m=.\n"));
	assert_true(render_ipxe(&p, &v, out, sizeof(out)) > 0);
	assert_non_null(strstr(out, "[profile inst] for any machine\n"));
	assert_non_null(strstr(out, "kernel http://10.0.0.1:8080/k m=.\n"));
}

static void test_null_cmdline_is_empty(void **state)
{
	struct profile_config p = profile("k", 0, NULL, NULL);
	char out[1024];

	assert_true(render_pxelinux(&p, &full, out, sizeof(out)) > 0);
	assert_non_null(strstr(out, "  kernel ::k\n  append \n"));
	assert_true(render_ipxe(&p, &full, out, sizeof(out)) > 0);
	assert_non_null(strstr(out, "kernel http://10.0.0.1:8080/k \nboot\n"));
}

static void test_bad_cmdline_fails_every_format(void **state)
{
	struct profile_config p = profile("k", 0, NULL, "x=${nope}");
	struct profile_config u = profile("k", 0, NULL, "x=${mac");
	char out[1024];

	assert_rc(render_pxelinux(&p, &full, out, sizeof(out)), -EINVAL);
	assert_rc(render_grub(&p, &full, out, sizeof(out)), -EINVAL);
	assert_rc(render_ipxe(&p, &full, out, sizeof(out)), -EINVAL);
	assert_rc(render_pxelinux(&u, &full, out, sizeof(out)), -EINVAL);
	assert_rc(render_grub(&u, &full, out, sizeof(out)), -EINVAL);
	assert_rc(render_ipxe(&u, &full, out, sizeof(out)), -EINVAL);
}

/* URLs are handed to the bootloader as they are: no '/' in front (that
 * would turn them into TFTP paths) and no ${http} base. */
static const char *const urls[] = { "https://mirror.example/initrd.gz", "deb/local.img",
				    "http://mirror.example/fw.cpio" };

static void test_url_pxelinux(void **state)
{
	struct profile_config p = profile("http://mirror.example/linux", 3, urls, "q");
	const char *want = "# rendered by kidou from [profile inst] for " MAC "\n"
			   "default kidou\nprompt 0\ntimeout 0\n\nlabel kidou\n"
			   "  kernel http://mirror.example/linux\n"
			   "  initrd https://mirror.example/initrd.gz,::deb/local.img,"
			   "http://mirror.example/fw.cpio\n"
			   "  append q\n";

	expect_render(render_pxelinux, &p, &full, want);
}

static void test_url_ipxe(void **state)
{
	struct profile_config p = profile("https://mirror.example/linux", 3, urls, "q");
	const char *want = "#!ipxe\n# rendered by kidou from [profile inst] for " MAC "\n"
			   "kernel https://mirror.example/linux initrd=initrd0 initrd=initrd1 "
			   "initrd=initrd2 q\n"
			   "initrd --name initrd0 https://mirror.example/initrd.gz\n"
			   "initrd --name initrd1 http://10.0.0.1:8080/deb/local.img\n"
			   "initrd --name initrd2 http://mirror.example/fw.cpio\n"
			   "boot\n";

	expect_render(render_ipxe, &p, &full, want);
}

static void test_url_grub(void **state)
{
	struct profile_config p = profile("http://mirror.example/linux", 3, urls, "q");
	char out[1024];

	assert_true(render_grub(&p, &full, out, sizeof(out)) > 0);
	/* A URL must not become the TFTP path "/http://...". */
	if (strstr(out, "/http://") || strstr(out, "/https://")) {
		print_error("GRUB config turns a URL into a path:\n%s", out);
		fail();
	}
	assert_non_null(strstr(out, "  linux "));
	/* GRUB's own form for a file on an HTTP server */
	assert_non_null(strstr(out, "  linux (http,mirror.example)/linux q\n"));
	/* the local initrd is still a TFTP path */
	assert_non_null(strstr(out, " /deb/local.img"));
}

static void test_internal_cmdline_limit(void **state)
{
	/* A long cmdline that fits the output is rendered whole. */
	char cmd[1100], out[8192];
	struct profile_config p;

	memset(cmd, 'a', 1024);
	cmd[1024] = '\0';
	p = profile("k", 0, NULL, cmd);
	assert_true(render_pxelinux(&p, &full, out, sizeof(out)) > 1024);
	assert_non_null(strstr(out, cmd));
	assert_true(render_grub(&p, &full, out, sizeof(out)) > 1024);
	assert_true(render_ipxe(&p, &full, out, sizeof(out)) > 1024);
}

/* ${done_url}: the URL for a machine with a once-install pending, empty
 * for every other (and known to the config-time check). */
static void test_done_url(void **state)
{
	struct render_vars v = full;
	char bad[32];

	v.done_url = "http://10.0.0.1:8080/api/v1/machines/" MAC "/done?token=00ff";
	expect_expand("kidou.done=${done_url} x", &v,
		      "kidou.done=http://10.0.0.1:8080/api/v1/machines/" MAC "/done?token=00ff x");
	expect_expand("kidou.done=${done_url} x", &full, "kidou.done= x");
	assert_rc(render_check_template("a ${done_url} b", bad, sizeof(bad)), 0);
}

/* The local-boot forms, exactly: nothing in them starts a kernel. */
static void test_local_forms(void **state)
{
	char out[512];

	assert_rc(render_pxelinux_local(&full, out, sizeof(out)), (int)strlen(out));
	assert_string_equal(out, "# rendered by kidou for " MAC ": next boot is local (from its disk)\n"
			    "default local\nprompt 0\ntimeout 0\n\nlabel local\n  localboot 0\n");
	assert_rc(render_grub_local(&full, out, sizeof(out)), (int)strlen(out));
	assert_string_equal(out, "# rendered by kidou for " MAC ": next boot is local (from its disk)\n"
			    "exit\n");
	assert_rc(render_ipxe_local(&full, out, sizeof(out)), (int)strlen(out));
	assert_string_equal(out, "#!ipxe\n# rendered by kidou for " MAC
			    ": next boot is local (from its disk)\nexit\n");
	assert_rc(render_ipxe_local(&empty_vars, out, 20), -ENOBUFS);
	assert_rc(render_pxelinux_local(&empty_vars, out, sizeof(out)), (int)strlen(out));
	assert_non_null(strstr(out, "for any machine"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_variable),
		cmocka_unit_test(test_empty_and_null_values),
		cmocka_unit_test(test_size_zero_buffer_is_not_written),
		cmocka_unit_test(test_enobufs_at_each_boundary),
		cmocka_unit_test(test_unknown_variable),
		cmocka_unit_test(test_known_templates_pass_the_check),
		cmocka_unit_test(test_unterminated),
		cmocka_unit_test(test_literal_dollars_kept),
		cmocka_unit_test(test_ipxe_settings_pass_through),
		cmocka_unit_test(test_pxelinux),
		cmocka_unit_test(test_grub),
		cmocka_unit_test(test_ipxe),
		cmocka_unit_test(test_without_mac_says_any_machine),
		cmocka_unit_test(test_null_cmdline_is_empty),
		cmocka_unit_test(test_bad_cmdline_fails_every_format),
		cmocka_unit_test(test_url_pxelinux),
		cmocka_unit_test(test_url_ipxe),
		cmocka_unit_test(test_url_grub),
		cmocka_unit_test(test_internal_cmdline_limit),
		cmocka_unit_test(test_done_url),
		cmocka_unit_test(test_local_forms),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
