/* test_boot_files.c - the per-machine files kidou renders from [profile]s
 * (boot/boot_files: TFTP names of PXELINUX and GRUB, iPXE scripts over
 * HTTP), and the config checks behind profiles, hosts and [boot] profile.
 *
 * The config is built from a real INI file in a mkdtemp() directory; DHCP
 * is a fake lookup that knows one lease. */
#include "unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot/boot_files.h"
#include "config.h"
#include "tftp/file_source.h"

#define WEB1_MAC "52:54:00:aa:bb:01"  /* [host web1]: profile rescue */
#define PLAIN_MAC "52:54:00:aa:bb:02" /* [host plain]: no profile */
#define STRANGER_MAC "52:54:00:aa:bb:99"

#define SERVER "10.0.0.1"
#define LEASED "10.0.0.77"            /* the fake lease's address */
#define OTHER "10.0.0.99"             /* no lease */

static const char *const profiles_ini =
	"[profile inst]\n"
	"kernel = deb/linux\n"
	"initrd = deb/initrd.gz\n"
	"cmdline = auto url=${http}/seed mac=${mac} ip=${ip} host=${hostname} srv=${server}\n"
	"\n"
	"[profile rescue]\n"
	"kernel = rescue/vmlinuz\n"
	"initrd = rescue/a.img, rescue/b.img\n"
	"initrd = rescue/c.img\n"
	"cmdline = rescue mac=${mac} host=${hostname} ip=${ip}\n"
	"\n"
	"[host web1]\n"
	"mac = " WEB1_MAC "\n"
	"profile = rescue\n"
	"hostname = web1.example\n"
	"\n"
	"[host plain]\n"
	"mac = " PLAIN_MAC "\n";

struct fixture {
	char dir[256];
	char path[300];
	char err[512];
	struct config *c;
	/* the fake DHCP */
	bool leased;
	uint32_t lease_ip;
	uint8_t lease_mac[6];
	unsigned lookups;
	int http_port;
	struct boot_lookup lk;
	struct file_source *src;
};

static uint32_t ip_of(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return ntohl(a.s_addr);
}

static int fake_mac_for_ip(void *data, uint32_t ip, uint8_t mac[6])
{
	struct fixture *f = data;

	f->lookups++;
	if (!f->leased || ip != f->lease_ip)
		return -ENOENT;
	memcpy(mac, f->lease_mac, 6);
	return 0;
}

static void lease(struct fixture *f, const char *ip, const char *mac)
{
	f->leased = true;
	f->lease_ip = ip_of(ip);
	assert_rc(config_parse_mac(mac, f->lease_mac), 0);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *tmpdir = getenv("TMPDIR");

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "%s/kidou-bootfiles-XXXXXX",
		 tmpdir && *tmpdir ? tmpdir : "/tmp");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/kidou.ini", f->dir);
	f->http_port = 8080;
	f->lk = (struct boot_lookup){ .mac_for_ip = fake_mac_for_ip, .data = f,
				      .http_port = &f->http_port };
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->src)
		file_source_unref(f->src);
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
	assert_true(fputs(text, fp) >= 0);
	assert_int_equal(fclose(fp), 0);
}

static int build(struct fixture *f, const char *text)
{
	struct config *c = NULL;
	int r;

	write_ini(f, text);
	f->err[0] = '\0';
	r = config_build(f->path, NULL, 0, &c, f->err, sizeof(f->err));
	if (r == 0) {
		config_free(f->c);
		f->c = c;
	} else {
		assert_true(f->err[0] != '\0');
	}
	return r;
}

/* The standard config, with or without a [boot] profile. */
static void load(struct fixture *f, bool with_default)
{
	char text[2048];

	snprintf(text, sizeof(text), "%s%s", with_default ? "[boot]\nprofile = inst\n\n" : "",
		 profiles_ini);
	if (build(f, text) != 0) {
		print_error("config: %s\n", f->err);
		fail();
	}
	if (f->src)
		file_source_unref(f->src);
	assert_rc(boot_files_source_new(f->c, &f->lk, &f->src), 0);
}

/* Open path through the TFTP source as the machine at peer; on success
 * *body is a NUL-terminated copy. */
static int tftp_open(struct fixture *f, const char *path, const char *peer, char **body)
{
	struct sockaddr_in client = { .sin_family = AF_INET, .sin_port = htons(2070),
				      .sin_addr.s_addr = htonl(ip_of(peer)) };
	struct file_request req = { .client = &client, .local.s_addr = htonl(ip_of(SERVER)) };
	struct boot_file *bf = (struct boot_file *)0x1;
	int r = file_source_open(f->src, path, &req, &bf);

	*body = NULL;
	if (r < 0) {
		assert_ptr_equal(bf, (struct boot_file *)0x1);
		return r;
	}
	*body = calloc(1, bf->size + 1);
	assert_non_null(*body);
	if (bf->size)
		memcpy(*body, bf->data, bf->size);
	assert_int_equal(strlen(*body), bf->size);
	boot_file_unref(bf);
	return 0;
}

static int ipxe(struct fixture *f, const char *path, const char *mac_arg, const char *peer,
		char **body)
{
	size_t len = 0;
	int r;

	*body = NULL;
	r = boot_files_ipxe(f->c, &f->lk, path, mac_arg, ip_of(peer), ip_of(SERVER), body, &len);
	if (r == 0) {
		assert_non_null(*body);
		/* the body is len bytes; make it a C string for the checks */
		char *s = realloc(*body, len + 1);
		assert_non_null(s);
		s[len] = '\0';
		assert_int_equal(strlen(s), len);
		*body = s;
	} else {
		assert_null(*body);
	}
	return r;
}

static void expect_contains(const char *body, const char *want)
{
	if (!body || !strstr(body, want)) {
		print_error("expected \"%s\" in:\n%s\n", want, body ? body : "(null)");
		fail();
	}
}

static void expect_lacks(const char *body, const char *bad)
{
	if (strstr(body, bad)) {
		print_error("unexpected \"%s\" in:\n%s\n", bad, body);
		fail();
	}
}

static void expect_tftp(struct fixture *f, const char *path, const char *peer, int rc)
{
	char *body;

	assert_rc(tftp_open(f, path, peer, &body), rc);
	free(body);
}

/* --- TFTP: PXELINUX --- */

static const char *const web1_pxelinux =
	"# rendered by kidou from [profile rescue] for " WEB1_MAC "\n"
	"default kidou\nprompt 0\ntimeout 0\n\nlabel kidou\n"
	"  kernel ::rescue/vmlinuz\n"
	"  initrd ::rescue/a.img,::rescue/b.img,::rescue/c.img\n"
	"  append rescue mac=" WEB1_MAC " host=web1.example ip=" OTHER "\n";

static const char *const default_pxelinux =
	"# rendered by kidou from [profile inst] for any machine\n"
	"default kidou\nprompt 0\ntimeout 0\n\nlabel kidou\n"
	"  kernel ::deb/linux\n"
	"  initrd ::deb/initrd.gz\n"
	"  append auto url=http://" SERVER ":8080/seed mac= ip=" OTHER " host= srv=" SERVER "\n";

static void test_pxelinux_host_with_profile(void **state)
{
	struct fixture *f = *state;
	char *body;

	load(f, true);
	assert_rc(tftp_open(f, "pxelinux.cfg/01-52-54-00-aa-bb-01", OTHER, &body), 0);
	assert_string_equal(body, web1_pxelinux);
	free(body);
	/* PXELINUX's own directory may be anywhere under the root */
	assert_rc(tftp_open(f, "pxelinux/pxelinux.cfg/01-52-54-00-aa-bb-01", OTHER, &body), 0);
	assert_string_equal(body, web1_pxelinux);
	free(body);
	/* without a [boot] profile too */
	load(f, false);
	assert_rc(tftp_open(f, "pxelinux.cfg/01-52-54-00-aa-bb-01", OTHER, &body), 0);
	assert_string_equal(body, web1_pxelinux);
	free(body);
}

static void test_pxelinux_uppercase_mac(void **state)
{
	struct fixture *f = *state;
	char *body;

	load(f, true);
	assert_rc(tftp_open(f, "pxelinux.cfg/01-52-54-00-AA-BB-01", OTHER, &body), 0);
	assert_string_equal(body, web1_pxelinux);  /* the MAC is rendered in lower case */
	free(body);
}

static void test_pxelinux_named_without_profile(void **state)
{
	struct fixture *f = *state;

	/* A machine named in the request gets only its own profile: PXELINUX
	 * then goes on to "default" by itself. */
	load(f, true);
	expect_tftp(f, "pxelinux.cfg/01-52-54-00-aa-bb-02", OTHER, -ENOENT);  /* plain */
	expect_tftp(f, "pxelinux.cfg/01-52-54-00-aa-bb-99", OTHER, -ENOENT);  /* unknown */
	/* even when asked from the address leased to that very machine */
	lease(f, LEASED, PLAIN_MAC);
	expect_tftp(f, "pxelinux.cfg/01-52-54-00-aa-bb-02", LEASED, -ENOENT);
	load(f, false);
	expect_tftp(f, "pxelinux.cfg/01-52-54-00-aa-bb-02", OTHER, -ENOENT);
	expect_tftp(f, "pxelinux.cfg/01-52-54-00-aa-bb-99", OTHER, -ENOENT);
}

static void test_pxelinux_default(void **state)
{
	struct fixture *f = *state;
	char *body;

	load(f, true);
	assert_rc(tftp_open(f, "pxelinux.cfg/default", OTHER, &body), 0);
	assert_string_equal(body, default_pxelinux);
	free(body);
	assert_rc(tftp_open(f, "efi64/pxelinux.cfg/default", OTHER, &body), 0);
	assert_string_equal(body, default_pxelinux);
	free(body);
	assert_rc(tftp_open(f, "a/b/pxelinux.cfg/default", OTHER, &body), 0);
	assert_string_equal(body, default_pxelinux);
	free(body);

	load(f, false);
	expect_tftp(f, "pxelinux.cfg/default", OTHER, -ENOENT);
	expect_tftp(f, "efi64/pxelinux.cfg/default", OTHER, -ENOENT);
}

static void test_pxelinux_directory_must_match_exactly(void **state)
{
	struct fixture *f = *state;

	load(f, true);
	expect_tftp(f, "xpxelinux.cfg/default", OTHER, -ENOENT);
	expect_tftp(f, "efi64/xpxelinux.cfg/default", OTHER, -ENOENT);
	expect_tftp(f, "pxelinux.cfgx/default", OTHER, -ENOENT);
	expect_tftp(f, "pxelinux.cfg/x/default", OTHER, -ENOENT);
	expect_tftp(f, "pxelinux.cfg", OTHER, -ENOENT);
	expect_tftp(f, "default", OTHER, -ENOENT);
	expect_tftp(f, "xpxelinux.cfg/01-52-54-00-aa-bb-01", OTHER, -ENOENT);
	expect_tftp(f, "pxelinux.cfg/defaults", OTHER, -ENOENT);
	expect_tftp(f, "pxelinux.cfg/Default", OTHER, -ENOENT);
	expect_tftp(f, "pxelinux.0", OTHER, -ENOENT);
	expect_tftp(f, "deb/linux", OTHER, -ENOENT);
}

static void test_pxelinux_hex_ip_probes(void **state)
{
	struct fixture *f = *state;
	static const char *const probes[] = {
		"0A00004D", "0A00004", "0A0000", "0A000", "0A00", "0A0", "0A", "0",
		/* a 01-<mac> that is not quite one */
		"01-52-54-00-aa-bb", "01-525400aabb01", "02-52-54-00-aa-bb-01",
		"01-52-54-00-aa-bb-01x", "01-52-54-00-aa-bb-0g",
		/* PXELINUX's UUID probe */
		"8c1f6f6a-2b4e-4a0f-9c3d-5e6f708192a3",
	};

	load(f, true);
	lease(f, LEASED, WEB1_MAC);
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		char path[128];
		snprintf(path, sizeof(path), "pxelinux.cfg/%s", probes[i]);
		expect_tftp(f, path, LEASED, -ENOENT);
		expect_tftp(f, path, OTHER, -ENOENT);
	}
}

static void test_default_mac_from_lease(void **state)
{
	struct fixture *f = *state;
	char *body;

	load(f, true);
	/* a [host] without a profile of its own: the [boot] profile, its MAC
	 * and its name */
	lease(f, LEASED, PLAIN_MAC);
	assert_rc(tftp_open(f, "pxelinux.cfg/default", LEASED, &body), 0);
	expect_contains(body, "[profile inst] for " PLAIN_MAC "\n");
	expect_contains(body, "  append auto url=http://" SERVER ":8080/seed mac=" PLAIN_MAC
			" ip=" LEASED " host=plain srv=" SERVER "\n");
	free(body);
	/* another address still gets no MAC */
	assert_rc(tftp_open(f, "pxelinux.cfg/default", OTHER, &body), 0);
	assert_string_equal(body, default_pxelinux);
	free(body);

	/* a machine kidou has no [host] for */
	lease(f, LEASED, STRANGER_MAC);
	assert_rc(tftp_open(f, "pxelinux.cfg/default", LEASED, &body), 0);
	expect_contains(body, "mac=" STRANGER_MAC " ip=" LEASED " host= srv=");
	free(body);

	/* a [host] with its own profile asking for "default" gets its own */
	lease(f, LEASED, WEB1_MAC);
	assert_rc(tftp_open(f, "pxelinux.cfg/default", LEASED, &body), 0);
	expect_contains(body, "[profile rescue] for " WEB1_MAC "\n");
	expect_contains(body, "  append rescue mac=" WEB1_MAC " host=web1.example ip=" LEASED "\n");
	free(body);
	/* ... even without a [boot] profile */
	load(f, false);
	assert_rc(tftp_open(f, "pxelinux.cfg/default", LEASED, &body), 0);
	expect_contains(body, "[profile rescue] for " WEB1_MAC "\n");
	free(body);
	lease(f, LEASED, PLAIN_MAC);
	expect_tftp(f, "pxelinux.cfg/default", LEASED, -ENOENT);
}

static void test_no_dhcp_lookup(void **state)
{
	struct fixture *f = *state;
	char *body;

	load(f, true);
	f->lk.mac_for_ip = NULL;  /* DHCP is off */
	assert_rc(tftp_open(f, "pxelinux.cfg/default", LEASED, &body), 0);
	assert_non_null(strstr(body, "for any machine"));
	free(body);
	assert_rc(ipxe(f, "boot.ipxe", NULL, LEASED, &body), 0);
	assert_non_null(strstr(body, "[profile inst] for any machine"));
	free(body);
}

/* --- TFTP: GRUB --- */

static void test_grub(void **state)
{
	struct fixture *f = *state;
	char *body;

	load(f, true);
	assert_rc(tftp_open(f, "grub.cfg-01-52-54-00-aa-bb-01", OTHER, &body), 0);
	assert_string_equal(body,
			    "# rendered by kidou from [profile rescue] for " WEB1_MAC "\n"
			    "set timeout=0\nset default=0\n\nmenuentry \"kidou rescue\" {\n"
			    "  linux /rescue/vmlinuz rescue mac=" WEB1_MAC " host=web1.example ip="
			    OTHER "\n"
			    "  initrd /rescue/a.img /rescue/b.img /rescue/c.img\n"
			    "}\n");
	free(body);
	assert_rc(tftp_open(f, "grub/grub.cfg-01-52-54-00-AA-BB-01", OTHER, &body), 0);
	expect_contains(body, "[profile rescue] for " WEB1_MAC "\n");
	free(body);

	assert_rc(tftp_open(f, "grub/grub.cfg", OTHER, &body), 0);
	assert_string_equal(body,
			    "# rendered by kidou from [profile inst] for any machine\n"
			    "set timeout=0\nset default=0\n\nmenuentry \"kidou inst\" {\n"
			    "  linux /deb/linux auto url=http://" SERVER ":8080/seed mac= ip=" OTHER
			    " host= srv=" SERVER "\n"
			    "  initrd /deb/initrd.gz\n"
			    "}\n");
	free(body);
	assert_rc(tftp_open(f, "grub.cfg", OTHER, &body), 0);
	expect_contains(body, "[profile inst] for any machine\n");
	free(body);
	/* from the leased address, with the MAC */
	lease(f, LEASED, PLAIN_MAC);
	assert_rc(tftp_open(f, "grub/grub.cfg", LEASED, &body), 0);
	expect_contains(body, "mac=" PLAIN_MAC " ip=" LEASED " host=plain");
	free(body);

	expect_tftp(f, "grub.cfg-01-52-54-00-aa-bb-02", OTHER, -ENOENT);  /* no profile */
	expect_tftp(f, "grub.cfg-01-52-54-00-aa-bb-99", OTHER, -ENOENT);  /* unknown */
	expect_tftp(f, "grub/grub.cfg-0A00004D", OTHER, -ENOENT);         /* hex IP */
	expect_tftp(f, "grub/grub.cfg-0A", OTHER, -ENOENT);
	expect_tftp(f, "grub/grub.cfg-", OTHER, -ENOENT);
	expect_tftp(f, "grub/grub.cfgx", OTHER, -ENOENT);
	expect_tftp(f, "grub/xgrub.cfg", OTHER, -ENOENT);

	load(f, false);
	expect_tftp(f, "grub/grub.cfg", OTHER, -ENOENT);
	assert_rc(tftp_open(f, "grub.cfg-01-52-54-00-aa-bb-01", OTHER, &body), 0);
	free(body);
}

/* --- the disk wins --- */

static void test_disk_file_wins(void **state)
{
	struct fixture *f = *state;
	struct file_source *disk, *layered;
	char sub[400], file[450];
	struct boot_file *bf;
	FILE *fp;

	load(f, true);
	snprintf(sub, sizeof(sub), "%s/pxelinux.cfg", f->dir);
	assert_int_equal(mkdir(sub, 0755), 0);
	snprintf(file, sizeof(file), "%s/default", sub);
	fp = fopen(file, "we");
	assert_non_null(fp);
	fputs("DISK\n", fp);
	fclose(fp);

	assert_rc(file_source_disk_new(f->dir, &disk), 0);
	file_source_ref(f->src);
	assert_rc(file_source_layered_new(disk, f->src, &layered), 0);
	assert_rc(file_source_open(layered, "pxelinux.cfg/default", NULL, &bf), 0);
	assert_int_equal(bf->size, 5);  /* "DISK\n", not a rendering */
	boot_file_unref(bf);
	/* not on disk: rendered */
	assert_rc(file_source_open(layered, "pxelinux.cfg/01-52-54-00-aa-bb-01", NULL, &bf), 0);
	assert_true(bf->size > 20);
	assert_memory_equal(bf->data, "# rendered by kidou", 19);
	boot_file_unref(bf);
	assert_rc(file_source_open(layered, "pxelinux.cfg/0A00004D", NULL, &bf), -ENOENT);
	file_source_unref(layered);

	unlink(file);
	rmdir(sub);
}

/* --- HTTP: iPXE --- */

#define RESCUE_IPXE(mac, ip, base)                                       \
	"#!ipxe\n# rendered by kidou from [profile rescue] for " mac "\n" \
	"kernel " base "/rescue/vmlinuz initrd=initrd0 initrd=initrd1 initrd=initrd2 " \
	"rescue mac=" mac " host=web1.example ip=" ip "\n"                \
	"initrd --name initrd0 " base "/rescue/a.img\n"                   \
	"initrd --name initrd1 " base "/rescue/b.img\n"                   \
	"initrd --name initrd2 " base "/rescue/c.img\n"                   \
	"boot\n"

static void test_ipxe_known_host(void **state)
{
	struct fixture *f = *state;
	static const char *const forms[] = {
		WEB1_MAC, "52-54-00-aa-bb-01", "525400aabb01", "52:54:00:AA:BB:01", "525400AABB01",
	};
	char *body;

	load(f, true);
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		assert_rc(ipxe(f, "boot.ipxe", forms[i], OTHER, &body), 0);
		assert_string_equal(body, RESCUE_IPXE(WEB1_MAC, OTHER, "http://" SERVER ":8080"));
		free(body);
	}
}

static void test_ipxe_boot_mac_path(void **state)
{
	struct fixture *f = *state;
	static const char *const paths[] = {
		"boot/52:54:00:aa:bb:01.ipxe", "boot/52-54-00-aa-bb-01.ipxe",
		"boot/525400aabb01.ipxe", "boot/52-54-00-AA-BB-01.ipxe",
	};
	char *body;

	load(f, false);
	lease(f, LEASED, PLAIN_MAC);  /* the path names the machine, not the lease */
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		assert_rc(ipxe(f, paths[i], NULL, LEASED, &body), 0);
		assert_string_equal(body, RESCUE_IPXE(WEB1_MAC, LEASED, "http://" SERVER ":8080"));
		free(body);
	}
	/* unknown and profile-less machines without a [boot] profile */
	assert_rc(ipxe(f, "boot/52-54-00-aa-bb-99.ipxe", NULL, OTHER, &body), -ENOENT);
	assert_rc(ipxe(f, "boot/52-54-00-aa-bb-02.ipxe", NULL, OTHER, &body), -ENOENT);
	/* with one they get it */
	load(f, true);
	assert_rc(ipxe(f, "boot/52-54-00-aa-bb-99.ipxe", NULL, OTHER, &body), 0);
	expect_contains(body, "[profile inst] for " STRANGER_MAC "\n");
	free(body);
	/* malformed */
	assert_rc(ipxe(f, "boot/zz.ipxe", NULL, OTHER, &body), -EINVAL);
	assert_rc(ipxe(f, "boot/52-54-00-aa-bb.ipxe", NULL, OTHER, &body), -EINVAL);
	assert_rc(ipxe(f, "boot/52:54-00:aa:bb:01.ipxe", NULL, OTHER, &body), -EINVAL);
	assert_rc(ipxe(f, "boot/sub/52-54-00-aa-bb-01.ipxe", NULL, OTHER, &body), -EINVAL);
	assert_rc(ipxe(f, "boot/0123456789012345678901234567890123456789.ipxe", NULL, OTHER,
		       &body), -EINVAL);
}

static void test_ipxe_unknown_mac_gets_default(void **state)
{
	struct fixture *f = *state;
	char *body;

	load(f, true);
	assert_rc(ipxe(f, "boot.ipxe", STRANGER_MAC, OTHER, &body), 0);
	assert_string_equal(body,
			    "#!ipxe\n# rendered by kidou from [profile inst] for " STRANGER_MAC "\n"
			    "kernel http://" SERVER ":8080/deb/linux initrd=initrd0 auto url=http://"
			    SERVER ":8080/seed mac=" STRANGER_MAC " ip=" OTHER " host= srv=" SERVER "\n"
			    "initrd --name initrd0 http://" SERVER ":8080/deb/initrd.gz\n"
			    "boot\n");
	free(body);
	/* a [host] without a profile: the default, with its name */
	assert_rc(ipxe(f, "boot.ipxe", PLAIN_MAC, OTHER, &body), 0);
	expect_contains(body, "[profile inst] for " PLAIN_MAC "\n");
	expect_contains(body, " host=plain ");
	free(body);
}

static void test_ipxe_no_default(void **state)
{
	struct fixture *f = *state;
	char *body;

	load(f, false);
	assert_rc(ipxe(f, "boot.ipxe", STRANGER_MAC, OTHER, &body), -ENOENT);
	assert_rc(ipxe(f, "boot.ipxe", PLAIN_MAC, OTHER, &body), -ENOENT);
	assert_rc(ipxe(f, "boot.ipxe", NULL, OTHER, &body), -ENOENT);
	assert_rc(ipxe(f, "boot.ipxe", WEB1_MAC, OTHER, &body), 0);
	free(body);
}

static void test_ipxe_malformed_mac(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {
		"", "52:54:00:aa:bb", "52:54:00:aa:bb:01:02", "52:54-00:aa:bb:01",
		"52.54.00.aa.bb.01", "52:54:00:aa:bb:0g", "525400aabb0", "525400aabb011",
		" 52:54:00:aa:bb:01", "52:54:00:aa:bb:01 ", "../../etc/passwd",
		"${net0/mac}", "01-52-54-00-aa-bb-01",
	};
	char *body, longmac[600];

	load(f, true);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_rc(ipxe(f, "boot.ipxe", bad[i], OTHER, &body), -EINVAL);
	memset(longmac, 'a', sizeof(longmac) - 1);
	longmac[sizeof(longmac) - 1] = '\0';
	assert_rc(ipxe(f, "boot.ipxe", longmac, OTHER, &body), -EINVAL);
}

static void test_ipxe_mac_from_lease(void **state)
{
	struct fixture *f = *state;
	char *body;

	load(f, true);
	lease(f, LEASED, WEB1_MAC);
	assert_rc(ipxe(f, "boot.ipxe", NULL, LEASED, &body), 0);
	assert_string_equal(body, RESCUE_IPXE(WEB1_MAC, LEASED, "http://" SERVER ":8080"));
	free(body);
	/* not leased: the default, for any machine */
	assert_rc(ipxe(f, "boot.ipxe", NULL, OTHER, &body), 0);
	expect_contains(body, "[profile inst] for any machine\n");
	expect_contains(body, " mac= ip=" OTHER " host= ");
	free(body);
	/* ?mac= wins over the lease */
	assert_rc(ipxe(f, "boot.ipxe", PLAIN_MAC, LEASED, &body), 0);
	expect_contains(body, "[profile inst] for " PLAIN_MAC "\n");
	free(body);
}

static void test_ipxe_other_paths(void **state)
{
	struct fixture *f = *state;
	static const char *const paths[] = {
		"", "boot.ipxe2", "xboot.ipxe", "boot.ipx", "sub/boot.ipxe", "boot", "boot/",
		"boot/.ipxe", "boot.ipxe/x", "pxelinux.cfg/default", "grub.cfg", "metrics",
		"boot/52-54-00-aa-bb-01", "boot/52-54-00-aa-bb-01.ipx", "bootx/52-54-00-aa-bb-01.ipxe",
	};
	char *body;

	load(f, true);
	lease(f, LEASED, WEB1_MAC);
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		assert_rc(ipxe(f, paths[i], NULL, LEASED, &body), -ENOENT);
		assert_rc(ipxe(f, paths[i], WEB1_MAC, LEASED, &body), -ENOENT);
	}
}

static void test_http_base_follows_port_and_server(void **state)
{
	struct fixture *f = *state;
	size_t len;
	char *body;

	load(f, true);
	/* the port may be filled in after the source was made */
	f->http_port = 40123;
	assert_rc(boot_files_ipxe(f->c, &f->lk, "boot.ipxe", WEB1_MAC, ip_of(OTHER),
				  ip_of("192.168.7.1"), &body, &len), 0);
	assert_memory_equal(body, "#!ipxe", 6);
	body[len - 1] = '\0';
	expect_contains(body, "kernel http://192.168.7.1:40123/rescue/vmlinuz ");
	expect_contains(body, "initrd --name initrd2 http://192.168.7.1:40123/rescue/c.img\n");
	free(body);
	assert_rc(tftp_open(f, "pxelinux.cfg/default", OTHER, &body), 0);
	expect_contains(body, "url=http://" SERVER ":40123/seed ");
	free(body);
	/* HTTP off: ${http} is empty */
	f->http_port = 0;
	assert_rc(tftp_open(f, "pxelinux.cfg/default", OTHER, &body), 0);
	expect_contains(body, " url=/seed ");
	expect_lacks(body, "http://");
	free(body);
	f->lk.http_port = NULL;
	assert_rc(tftp_open(f, "pxelinux.cfg/default", OTHER, &body), 0);
	expect_contains(body, " url=/seed ");
	free(body);
}

/* --- config: profiles, hosts and [boot] profile --- */

static void expect_error_at(struct fixture *f, const char *text, unsigned line, ...)
	__attribute__((sentinel));
static void expect_error_at(struct fixture *f, const char *text, unsigned line, ...)
{
	char prefix[400];
	const char *want;
	va_list ap;

	assert_rc(build(f, text), -EINVAL);
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

/* The line number in "PATH:LINE: " of the last error, or 0. */
static unsigned error_line(struct fixture *f)
{
	size_t n = strlen(f->path);

	if (strncmp(f->err, f->path, n) != 0 || f->err[n] != ':')
		return 0;
	return (unsigned)strtoul(f->err + n + 1, NULL, 10);
}

static void test_config_profiles_parsed(void **state)
{
	struct fixture *f = *state;
	const struct profile_config *p;
	const struct host_config *h;
	uint8_t mac[6];

	load(f, true);
	assert_non_null(f->c->default_profile);
	assert_string_equal(f->c->default_profile->name, "inst");
	p = f->c->profiles;
	assert_string_equal(p->name, "inst");
	assert_string_equal(p->kernel, "deb/linux");
	assert_int_equal(p->n_initrd, 1);
	p = p->next;
	assert_string_equal(p->name, "rescue");
	assert_int_equal(p->n_initrd, 3);
	assert_string_equal(p->initrd[0], "rescue/a.img");
	assert_string_equal(p->initrd[1], "rescue/b.img");
	assert_string_equal(p->initrd[2], "rescue/c.img");
	assert_null(p->next);
	assert_rc(config_parse_mac(WEB1_MAC, mac), 0);
	h = config_host_by_mac(f->c, mac);
	assert_non_null(h);
	assert_string_equal(h->name, "web1");
	assert_ptr_equal(h->profile, p);
	assert_rc(config_parse_mac(PLAIN_MAC, mac), 0);
	h = config_host_by_mac(f->c, mac);
	assert_non_null(h);
	assert_null(h->profile);
	load(f, false);
	assert_null(f->c->default_profile);
}

static void test_config_profile_after_host(void **state)
{
	struct fixture *f = *state;

	/* a [host] may name a [profile] defined further down */
	assert_rc(build(f, "[boot]\nprofile = late\n[host h]\nmac = " WEB1_MAC "\nprofile = late\n"
			   "[profile late]\nkernel = k\n"), 0);
	assert_non_null(f->c->hosts->profile);
	assert_string_equal(f->c->hosts->profile->name, "late");
	assert_ptr_equal(f->c->default_profile, f->c->hosts->profile);
}

static void test_config_host_profile_missing(void **state)
{
	struct fixture *f = *state;

	expect_error_at(f,
			"[profile a]\n"          /* 1 */
			"kernel = k\n"           /* 2 */
			"\n"                     /* 3 */
			"[host web1]\n"          /* 4 */
			"profile = nope\n"       /* 5 */
			"mac = " WEB1_MAC "\n",  /* 6 */
			5, "[host web1]", "profile", "nope", NULL);
}

static void test_config_host_profile_missing_line(void **state)
{
	struct fixture *f = *state;
	unsigned line;

	/* The line is the [host] header's or the profile key's, not that of
	 * whichever key came first in the section. */
	assert_rc(build(f,
			"[profile a]\n"          /* 1 */
			"kernel = k\n"           /* 2 */
			"\n"                     /* 3 */
			"[host web1]\n"          /* 4 */
			"mac = " WEB1_MAC "\n"   /* 5 */
			"hostname = web1\n"      /* 6 */
			"profile = nope\n"),     /* 7 */
		  -EINVAL);
	assert_non_null(strstr(f->err, "nope"));
	line = error_line(f);
	if (line != 4 && line != 7) {
		print_error("\"%s\": line %u is neither the [host web1] header (4) nor its "
			    "profile key (7)\n", f->err, line);
		fail();
	}
}

static void test_config_boot_profile_missing(void **state)
{
	struct fixture *f = *state;
	struct config_override o = { "boot-profile", "ghost" };
	struct config *c = NULL;

	expect_error_at(f, "[boot]\nprofile = ghost\n\n[profile a]\nkernel = k\n", 0,
			"[boot] profile", "ghost", NULL);
	/* no profiles at all */
	expect_error_at(f, "[boot]\nprofile = ghost\n", 0, "ghost", NULL);
	/* the flag is checked the same way */
	write_ini(f, "[profile a]\nkernel = k\n");
	assert_rc(config_build(f->path, &o, 1, &c, f->err, sizeof(f->err)), -EINVAL);
	assert_non_null(strstr(f->err, "ghost"));
	o.value = "a";
	assert_rc(config_build(f->path, &o, 1, &c, f->err, sizeof(f->err)), 0);
	assert_string_equal(c->default_profile->name, "a");
	config_free(c);
}

static void test_config_profile_without_kernel(void **state)
{
	struct fixture *f = *state;
	unsigned line;

	assert_rc(build(f,
			"[profile a]\n"          /* 1 */
			"kernel = k\n"           /* 2 */
			"[profile nok]\n"        /* 3 */
			"initrd = x.img\n"       /* 4 */
			"cmdline = quiet\n"),    /* 5 */
		  -EINVAL);
	assert_non_null(strstr(f->err, "[profile nok]"));
	assert_non_null(strstr(f->err, "kernel"));
	line = error_line(f);
	if (line != 3 && line != 4) {
		print_error("\"%s\": expected line 3 or 4\n", f->err);
		fail();
	}
}

static void test_config_empty_profile_referenced(void **state)
{
	struct fixture *f = *state;

	/* a [profile] with no keys has no kernel either */
	assert_rc(build(f, "[profile empty]\n\n[host h]\nmac = " WEB1_MAC "\nprofile = empty\n"),
		  -EINVAL);
	assert_non_null(strstr(f->err, "empty"));
	assert_rc(build(f, "[profile empty]\n[boot]\nprofile = empty\n"), -EINVAL);
}

static void test_config_cmdline_unknown_variable(void **state)
{
	struct fixture *f = *state;

	expect_error_at(f, "[profile a]\nkernel = k\ncmdline = ip=${ip} x=${unknown}\n", 3,
			"[profile a] cmdline", "${unknown}", NULL);
	expect_error_at(f, "[profile a]\nkernel = k\ncmdline = x=${MAC}\n", 3, "${MAC}", NULL);
	expect_error_at(f, "[profile a]\nkernel = k\ncmdline = x=${mac\n", 3, "cmdline", NULL);
	/* every known variable, and an iPXE setting, are fine */
	assert_rc(build(f, "[profile a]\nkernel = k\n"
			   "cmdline = ${mac} ${ip} ${hostname} ${server} ${http} ${net0/mac} $x\n"),
		  0);
	assert_string_equal(f->c->profiles->cmdline,
			    "${mac} ${ip} ${hostname} ${server} ${http} ${net0/mac} $x");
}

static void test_config_kernel_paths(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {
		"../vmlinuz", "deb/../../etc/shadow", "deb/..", "..", "/boot/vmlinuz", "/",
		"a b", "a\"b",
	};
	char text[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "[profile a]\ncmdline = q\nkernel = %s\n", bad[i]);
		expect_error_at(f, text, 3, "[profile a] kernel", NULL);
		snprintf(text, sizeof(text), "[profile a]\nkernel = k\ninitrd = %s\n", bad[i]);
		expect_error_at(f, text, 3, "[profile a] initrd", NULL);
		snprintf(text, sizeof(text), "[profile a]\nkernel = k\ninitrd = ok.img, %s\n",
			 bad[i]);
		expect_error_at(f, text, 3, "[profile a] initrd", NULL);
	}
	expect_error_at(f, "[profile a]\nkernel =\n", 2, "kernel", NULL);
	/* URLs and plain relative paths are fine */
	assert_rc(build(f, "[profile a]\nkernel = https://mirror.example/d/linux\n"
			   "initrd = http://mirror.example/initrd.gz, local/fw.img\n"), 0);
	assert_string_equal(f->c->profiles->kernel, "https://mirror.example/d/linux");
	assert_int_equal(f->c->profiles->n_initrd, 2);
	assert_string_equal(f->c->profiles->initrd[1], "local/fw.img");
}

static void test_config_initrd_limit(void **state)
{
	struct fixture *f = *state;

	/* 8, over two lines */
	assert_rc(build(f, "[profile a]\nkernel = k\ninitrd = 1,2,3,4,5\ninitrd = 6,7,8\n"), 0);
	assert_int_equal(f->c->profiles->n_initrd, 8);
	assert_string_equal(f->c->profiles->initrd[7], "8");
	/* 9 on one line */
	expect_error_at(f, "[profile a]\nkernel = k\ninitrd = 1,2,3,4,5,6,7,8,9\n", 3,
			"initrd", "8", NULL);
	/* the ninth on its own line */
	expect_error_at(f, "[profile a]\nkernel = k\ninitrd = 1,2,3,4,5,6,7,8\ninitrd = 9\n", 4,
			"initrd", NULL);
	expect_error_at(f, "[profile a]\nkernel = k\ninitrd = 1,2,3,4\ninitrd = 5,6,7,8,9\n", 4,
			"initrd", NULL);
	/* empty list */
	expect_error_at(f, "[profile a]\nkernel = k\ninitrd = , ,\n", 3, "initrd", NULL);
}

static void test_config_uuid(void **state)
{
	struct fixture *f = *state;
	static const uint8_t want[16] = { 0x8c, 0x1f, 0x6f, 0x6a, 0x2b, 0x4e, 0x4a, 0x0f,
					  0x9c, 0x3d, 0x5e, 0x6f, 0x70, 0x81, 0x92, 0xa3 };
	static const char *const good[] = {
		"8c1f6f6a-2b4e-4a0f-9c3d-5e6f708192a3",
		"8c1f6f6a2b4e4a0f9c3d5e6f708192a3",
		"8C1F6F6A-2B4E-4A0F-9C3D-5E6F708192A3",
		"8C1F6F6A2B4E4A0F9C3D5E6F708192A3",
	};
	static const char *const bad[] = {
		"8c1f6f6a-2b4e-4a0f-9c3d-5e6f708192a",     /* 31 digits */
		"8c1f6f6a-2b4e-4a0f-9c3d-5e6f708192a3ff",  /* 34 */
		"8c1f6f6a-2b4e-4a0f-9c3d-5e6f708192",      /* 30 */
		"8c1f6f6a-2b4e-4a0f-9c3d-5e6f708192ag",
		"{8c1f6f6a-2b4e-4a0f-9c3d-5e6f708192a3}",
		"8c1f6f6a:2b4e:4a0f:9c3d:5e6f708192a3",
		"not-a-uuid",
	};
	char text[256];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(text, sizeof(text), "[host u]\nuuid = %s\nip = 10.0.0.9\n", good[i]);
		if (build(f, text) != 0) {
			print_error("uuid %s: %s\n", good[i], f->err);
			fail();
		}
		assert_true(f->c->hosts->has_uuid);
		assert_false(f->c->hosts->has_mac);  /* a uuid alone identifies a host */
		assert_memory_equal(f->c->hosts->uuid, want, 16);
		assert_ptr_equal(config_host_by_uuid(f->c, want), f->c->hosts);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "[host u]\nmac = " WEB1_MAC "\nuuid = %s\n", bad[i]);
		expect_error_at(f, text, 3, "[host u] uuid", NULL);
	}
	/* neither mac nor uuid */
	assert_rc(build(f, "[host u]\nip = 10.0.0.9\n"), -EINVAL);
	assert_non_null(strstr(f->err, "[host u]"));
}

static void test_config_duplicate_uuid(void **state)
{
	struct fixture *f = *state;

	/* Like a duplicate MAC: the second host could never be matched. */
	assert_rc(build(f, "[host a]\nuuid = 8c1f6f6a-2b4e-4a0f-9c3d-5e6f708192a3\n"
			   "[host b]\nuuid = 8C1F6F6A2B4E4A0F9C3D5E6F708192A3\n"), -EINVAL);
	assert_non_null(strstr(f->err, "[host b]"));
}

static void test_parse_mac(void **state)
{
	static const uint8_t want[6] = { 0x52, 0x54, 0x00, 0xaa, 0xbb, 0x01 };
	static const char *const good[] = {
		"52:54:00:aa:bb:01", "52-54-00-aa-bb-01", "525400aabb01", "52:54:00:AA:BB:01",
		"52-54-00-Aa-bB-01", "525400AABB01",
	};
	static const char *const bad[] = {
		"", "52:54:00:aa:bb", "52:54:00:aa:bb:01:", "52:54:00:aa:bb:0", "52:54-00:aa:bb:01",
		"52.54.00.aa.bb.01", "52 54 00 aa bb 01", "525400aabb0", "525400aabb011",
		"52:54:00:aa:bb:0g", "g2:54:00:aa:bb:01", "52:54:00:aa:bb:01 ", "5:254:00:aa:bb:01",
		"525400aabbzz", "52::4:00:aa:bb:01",
	};
	uint8_t mac[6];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		memset(mac, 0, sizeof(mac));
		assert_rc(config_parse_mac(good[i], mac), 0);
		assert_memory_equal(mac, want, 6);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (config_parse_mac(bad[i], mac) != -EINVAL) {
			print_error("config_parse_mac(\"%s\") accepted\n", bad[i]);
			fail();
		}
	}
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

/* --- next boot (the API's records) --- */

static struct next_boot *next_boot_with(const char *mac, enum next_boot_mode mode,
					const char *profile, const char *token)
{
	struct next_boot *nb;
	struct next_boot_record r = { .mode = (uint8_t)mode };

	assert_rc(next_boot_new(8, &nb), 0);
	assert_rc(config_parse_mac(mac, r.mac), 0);
	if (profile)
		snprintf(r.profile, sizeof(r.profile), "%s", profile);
	if (token) {
		r.once = 1;
		snprintf(r.token, sizeof(r.token), "%s", token);
	}
	assert_rc(next_boot_put(nb, &r), 0);
	return nb;
}

#define TOKEN "00112233445566778899aabbccddeeff"

/* A once-install: its profile wins over the [host]'s, ${done_url} carries
 * the token; every other machine keeps its own, ${done_url} empty. */
static void test_next_boot_once_install(void **state)
{
	struct fixture *f = *state;
	struct next_boot *nb = next_boot_with(WEB1_MAC, NEXT_BOOT_PROFILE, "inst", TOKEN);
	char *body;

	f->lk.next_boot = nb;
	load(f, true);
	assert_rc(build(f, "[boot]\nprofile = inst\n\n[profile inst]\nkernel = deb/linux\n"
			"cmdline = done=${done_url} x\n\n[profile rescue]\nkernel = rescue/vmlinuz\n"
			"cmdline = r done=${done_url} x\n\n[host web1]\nmac = " WEB1_MAC
			"\nprofile = rescue\n"), 0);
	file_source_unref(f->src);
	assert_rc(boot_files_source_new(f->c, &f->lk, &f->src), 0);
	assert_rc(tftp_open(f, "pxelinux.cfg/01-52-54-00-aa-bb-01", OTHER, &body), 0);
	expect_contains(body, "kernel ::deb/linux\n");
	expect_contains(body, "done=http://" SERVER ":8080/api/v1/machines/" WEB1_MAC
			"/done?token=" TOKEN " x\n");
	free(body);
	assert_rc(ipxe(f, "boot.ipxe", WEB1_MAC, OTHER, &body), 0);
	expect_contains(body, "done=http://" SERVER ":8080/api/v1/machines/" WEB1_MAC
			"/done?token=" TOKEN " x\n");
	free(body);
	/* by its lease, without naming itself */
	lease(f, LEASED, WEB1_MAC);
	assert_rc(tftp_open(f, "grub.cfg", LEASED, &body), 0);
	expect_contains(body, "linux /deb/linux done=http://");
	free(body);
	/* another machine: its own profile, an empty ${done_url} */
	assert_rc(ipxe(f, "boot.ipxe", STRANGER_MAC, OTHER, &body), 0);
	expect_contains(body, "done= x\n");
	free(body);
	/* no HTTP: no URL to give */
	f->http_port = 0;
	assert_rc(tftp_open(f, "pxelinux.cfg/01-52-54-00-aa-bb-01", OTHER, &body), 0);
	expect_contains(body, "append done= x\n");
	free(body);
	next_boot_free(nb);
}

/* [api] listen set: the API answers only there, so ${done_url} points at
 * it, whether or not [http] is on; its unspecified address (0.0.0.0)
 * becomes the address the machine talked to, as in ${http}. */
static void test_next_boot_done_url_follows_api_listen(void **state)
{
	struct fixture *f = *state;
	struct next_boot *nb = next_boot_with(WEB1_MAC, NEXT_BOOT_PROFILE, "inst", TOKEN);
	struct sockaddr_in api = { .sin_family = AF_INET, .sin_port = htons(9443),
				   .sin_addr.s_addr = htonl(ip_of("192.168.7.5")) };
	char *body;

	f->lk.next_boot = nb;
	f->lk.api_listen = &api;
	assert_rc(build(f, "[profile inst]\nkernel = deb/linux\ncmdline = kidou.done=${done_url}\n"), 0);
	assert_rc(boot_files_source_new(f->c, &f->lk, &f->src), 0);
	assert_rc(tftp_open(f, "pxelinux.cfg/01-52-54-00-aa-bb-01", OTHER, &body), 0);
	expect_contains(body, "kidou.done=http://192.168.7.5:9443/api/v1/machines/" WEB1_MAC
			"/done?token=" TOKEN);
	expect_lacks(body, ":8080/api/");
	free(body);
	assert_rc(ipxe(f, "boot.ipxe", WEB1_MAC, OTHER, &body), 0);
	expect_contains(body, "kidou.done=http://192.168.7.5:9443/api/v1/machines/" WEB1_MAC
			"/done?token=" TOKEN);
	free(body);
	/* 0.0.0.0: the server address the request came to */
	api.sin_addr.s_addr = htonl(INADDR_ANY);
	assert_rc(tftp_open(f, "pxelinux.cfg/01-52-54-00-aa-bb-01", OTHER, &body), 0);
	expect_contains(body, "kidou.done=http://" SERVER ":9443/api/v1/machines/" WEB1_MAC
			"/done?token=" TOKEN);
	free(body);
	/* no [http] at all: the API's listener still gives the URL */
	f->http_port = 0;
	assert_rc(tftp_open(f, "pxelinux.cfg/01-52-54-00-aa-bb-01", OTHER, &body), 0);
	expect_contains(body, "kidou.done=http://" SERVER ":9443/api/v1/machines/");
	free(body);
	/* port 0: the API is on the HTTP server, ${http} again */
	f->http_port = 8080;
	api.sin_port = 0;
	assert_rc(tftp_open(f, "pxelinux.cfg/01-52-54-00-aa-bb-01", OTHER, &body), 0);
	expect_contains(body, "kidou.done=http://" SERVER ":8080/api/v1/machines/");
	free(body);
	next_boot_free(nb);
}

/* Local: every format renders its local form, named or found by lease,
 * even for a machine without any profile; a profile a reload removed is
 * ignored (the config's choice stands). */
static void test_next_boot_local(void **state)
{
	struct fixture *f = *state;
	struct next_boot *nb = next_boot_with(PLAIN_MAC, NEXT_BOOT_LOCAL, NULL, NULL);
	struct next_boot_record gone = { .mode = NEXT_BOOT_PROFILE, .profile = "removed" };
	char *body;

	f->lk.next_boot = nb;
	load(f, false);  /* no [boot] profile, and [host plain] has none */
	assert_rc(tftp_open(f, "pxelinux.cfg/01-52-54-00-aa-bb-02", OTHER, &body), 0);
	assert_string_equal(body, "# rendered by kidou for " PLAIN_MAC
			    ": next boot is local (from its disk)\n"
			    "default local\nprompt 0\ntimeout 0\n\nlabel local\n  localboot 0\n");
	free(body);
	assert_rc(tftp_open(f, "grub.cfg-01-52-54-00-aa-bb-02", OTHER, &body), 0);
	expect_contains(body, "\nexit\n");
	expect_lacks(body, "linux");
	free(body);
	assert_rc(ipxe(f, "boot/" PLAIN_MAC ".ipxe", NULL, OTHER, &body), 0);
	assert_string_equal(body, "#!ipxe\n# rendered by kidou for " PLAIN_MAC
			    ": next boot is local (from its disk)\nexit\n");
	free(body);
	lease(f, LEASED, PLAIN_MAC);
	assert_rc(tftp_open(f, "pxelinux.cfg/default", LEASED, &body), 0);
	expect_contains(body, "localboot 0");
	free(body);
	/* web1 has no record: its own profile */
	assert_rc(tftp_open(f, "pxelinux.cfg/01-52-54-00-aa-bb-01", OTHER, &body), 0);
	assert_string_equal(body, web1_pxelinux);
	free(body);
	assert_rc(config_parse_mac(WEB1_MAC, gone.mac), 0);
	assert_rc(next_boot_put(nb, &gone), 0);
	assert_rc(tftp_open(f, "pxelinux.cfg/01-52-54-00-aa-bb-01", OTHER, &body), 0);
	assert_string_equal(body, web1_pxelinux);
	free(body);
	next_boot_free(nb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_next_boot_once_install, setup, teardown),
		cmocka_unit_test_setup_teardown(test_next_boot_local, setup, teardown),
		cmocka_unit_test_setup_teardown(test_next_boot_done_url_follows_api_listen, setup,
						teardown),
		T(test_pxelinux_host_with_profile),
		T(test_pxelinux_uppercase_mac),
		T(test_pxelinux_named_without_profile),
		T(test_pxelinux_default),
		T(test_pxelinux_directory_must_match_exactly),
		T(test_pxelinux_hex_ip_probes),
		T(test_default_mac_from_lease),
		T(test_no_dhcp_lookup),
		T(test_grub),
		T(test_disk_file_wins),
		T(test_ipxe_known_host),
		T(test_ipxe_boot_mac_path),
		T(test_ipxe_unknown_mac_gets_default),
		T(test_ipxe_no_default),
		T(test_ipxe_malformed_mac),
		T(test_ipxe_mac_from_lease),
		T(test_ipxe_other_paths),
		T(test_http_base_follows_port_and_server),
		T(test_config_profiles_parsed),
		T(test_config_profile_after_host),
		T(test_config_host_profile_missing),
		T(test_config_host_profile_missing_line),
		T(test_config_boot_profile_missing),
		T(test_config_profile_without_kernel),
		T(test_config_empty_profile_referenced),
		T(test_config_cmdline_unknown_variable),
		T(test_config_kernel_paths),
		T(test_config_initrd_limit),
		T(test_config_uuid),
		T(test_config_duplicate_uuid),
		T(test_parse_mac),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
