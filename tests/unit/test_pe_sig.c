/* test_pe_sig.c - signed or not, from PE headers built byte by byte:
 * PE32+ and PE32, a certificate table present, empty, cut short, outside
 * the file; fewer data directories than the table's index (the Linux EFI
 * stub writes 6); and every way the headers can be truncated. Also the
 * real files when Debian's packages are installed (the integration tests
 * need them: scripts/setup.sh installs them). */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boot/kernel_sig.h"
#include "boot/pe_sig.h"

#define LFANEW 0x80

struct image {
	uint8_t b[1024];
	size_t len;
};

static void le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A minimal image: MZ, e_lfanew, "PE\0\0", a COFF header for x86-64, an
 * optional header (magic, nrva directories); entry 4 = (off, size). */
static struct image make(uint16_t magic, uint32_t nrva, uint32_t off, uint32_t size)
{
	struct image im = { .len = 1024 };
	size_t opt = LFANEW + 24;
	size_t nrva_at = magic == 0x10b ? 92 : 108;
	size_t dd = opt + nrva_at + 4;

	memset(im.b, 0, sizeof(im.b));
	im.b[0] = 'M';
	im.b[1] = 'Z';
	le32(im.b + 0x3c, LFANEW);
	memcpy(im.b + LFANEW, "PE\0\0", 4);
	le16(im.b + LFANEW + 4, 0x8664);
	le16(im.b + LFANEW + 20, (uint16_t)(nrva_at + 4 + 8 * nrva));
	le16(im.b + opt, magic);
	le32(im.b + opt + nrva_at, nrva);
	if (nrva > 4) {
		le32(im.b + dd + 4 * 8, off);
		le32(im.b + dd + 4 * 8 + 4, size);
	}
	return im;
}

static void test_signed_pe32_plus(void **state)
{
	struct image im = make(0x20b, 16, 900, 100);
	struct pe_sig s;

	(void)state;
	assert_rc(pe_sig_parse(im.b, im.len, 1000, &s), 0);
	assert_int_equal(s.machine, 0x8664);
	assert_true(s.pe32_plus);
	assert_int_equal(s.cert_offset, 900);
	assert_int_equal(s.cert_size, 100);
	assert_true(pe_sig_signed(&s, 1000));
	/* the table past the end of the file: not a signature */
	assert_false(pe_sig_signed(&s, 999));
}

static void test_signed_pe32(void **state)
{
	struct image im = make(0x10b, 16, 600, 8);
	struct pe_sig s;

	(void)state;
	assert_rc(pe_sig_parse(im.b, im.len, 1000, &s), 0);
	assert_false(s.pe32_plus);
	assert_true(pe_sig_signed(&s, 1000));
}

static void test_unsigned(void **state)
{
	struct pe_sig s;
	struct image im = make(0x20b, 16, 0, 0);

	(void)state;
	assert_rc(pe_sig_parse(im.b, im.len, 1024, &s), 0);
	assert_false(pe_sig_signed(&s, 1024));
	/* smaller than one WIN_CERTIFICATE header */
	im = make(0x20b, 16, 900, 7);
	assert_rc(pe_sig_parse(im.b, im.len, 1024, &s), 0);
	assert_false(pe_sig_signed(&s, 1024));
	/* a size but no offset */
	im = make(0x20b, 16, 0, 64);
	assert_rc(pe_sig_parse(im.b, im.len, 1024, &s), 0);
	assert_false(pe_sig_signed(&s, 1024));
	/* offset + size wrapping 32 bits */
	im = make(0x20b, 16, 0xfffffff0u, 0x20);
	assert_rc(pe_sig_parse(im.b, im.len, 1024, &s), 0);
	assert_false(pe_sig_signed(&s, 1024));
	/* four directories: no certificate table at all */
	im = make(0x20b, 4, 900, 100);
	assert_rc(pe_sig_parse(im.b, im.len, 1024, &s), 0);
	assert_int_equal(s.cert_size, 0);
	assert_false(pe_sig_signed(&s, 1024));
}

/* The Linux EFI stub has 6 directories, the certificate table among them. */
static void test_six_directories(void **state)
{
	struct image im = make(0x20b, 6, 512, 64);
	struct pe_sig s;

	(void)state;
	assert_rc(pe_sig_parse(im.b, im.len, 1024, &s), 0);
	assert_true(pe_sig_signed(&s, 1024));
}

static void test_not_pe(void **state)
{
	struct image im = make(0x20b, 16, 900, 100);
	struct pe_sig s;
	struct image bad;

	(void)state;
	bad = im;
	bad.b[0] = 'X';
	assert_rc(pe_sig_parse(bad.b, bad.len, 1024, &s), -EBADMSG);
	bad = im;
	bad.b[LFANEW + 2] = 'X';  /* "PE\0X" */
	assert_rc(pe_sig_parse(bad.b, bad.len, 1024, &s), -EBADMSG);
	bad = im;
	le16(bad.b + LFANEW + 24, 0x107);  /* ROM image */
	assert_rc(pe_sig_parse(bad.b, bad.len, 1024, &s), -EBADMSG);
	bad = im;
	le32(bad.b + 0x3c, 0xfffffffcu);  /* e_lfanew far outside */
	assert_rc(pe_sig_parse(bad.b, bad.len, 1024, &s), -EBADMSG);
	bad = im;
	le32(bad.b + 0x3c, 1022);  /* "PE" cut by the buffer's end */
	assert_rc(pe_sig_parse(bad.b, bad.len, 1024, &s), -EBADMSG);
	/* an optional header too small for its own directory count */
	bad = im;
	le16(bad.b + LFANEW + 20, 112 + 8 * 3);
	assert_rc(pe_sig_parse(bad.b, bad.len, 1024, &s), -EBADMSG);
	/* an optional header larger than what is there */
	bad = im;
	le16(bad.b + LFANEW + 20, 0xffff);
	assert_rc(pe_sig_parse(bad.b, bad.len, 1024, &s), -EBADMSG);
}

/* Every prefix of a good image short of its optional header fails
 * cleanly (the header is read only within the size it declares). */
static void test_truncated(void **state)
{
	struct image im = make(0x20b, 16, 900, 100);
	size_t need = LFANEW + 24 + 112 + 16 * 8;  /* the whole optional header */
	struct pe_sig s;

	(void)state;
	for (size_t n = 0; n < need; n++) {
		uint8_t *copy = malloc(n ? n : 1);

		memcpy(copy, im.b, n);
		assert_rc(pe_sig_parse(copy, n, 1024, &s), -EBADMSG);
		free(copy);
	}
	assert_rc(pe_sig_parse(im.b, need, 1024, &s), 0);
}

/* Debian's files, when installed: shim and the cloud kernel are signed,
 * syslinux.efi and the unsigned shim build are not. */
static void test_debian_files(void **state)
{
	static const struct {
		const char *path;
		int want;
	} files[] = {
		{ "/usr/lib/shim/shimx64.efi.signed", 1 },
		{ "/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed", 1 },
		{ "/usr/lib/shim/shimx64.efi", 0 },
		{ "/usr/lib/SYSLINUX.EFI/efi64/syslinux.efi", 0 },
		{ "/etc/hostname", 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if (access(files[i].path, R_OK) != 0)
			continue;
		assert_rc(kernel_sig_file(-1, files[i].path), files[i].want);
	}
	assert_rc(kernel_sig_file(-1, "/nonexistent/kidou"), -ENOENT);
	assert_rc(kernel_sig_file(-1, "/"), -EINVAL);
}

static bool proxy_warns(const char *ini)
{
	char path[] = "/tmp/kidou-test-pe-sig-XXXXXX", err[256];
	struct config *c = NULL;
	bool warned;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, ini, strlen(ini)), (ssize_t)strlen(ini));
	close(fd);
	if (config_build(path, NULL, 0, &c, err, sizeof(err)) < 0)
		fail_msg("config_build: %s", err);
	unlink(path);
	warned = kernel_sig_check_proxy(c);
	config_free(c);
	return warned;
}

/* The signed chain served as a proxyDHCP: GRUB asks the other server
 * (test_vm_proxy.py), so kidou warns; not as the DHCP server, not for
 * another loader, not without DHCP. */
static void test_proxy_caveat(void **state)
{
	(void)state;
	assert_true(proxy_warns("[dhcp]\ninterface = lo\nmode = proxy\n"
				"[boot]\nuefi-x64 = shim/shimx64.efi\n"));
	assert_true(proxy_warns("[dhcp]\ninterface = lo\nmode = proxy\n"
				"[host a]\nmac = 52:54:00:00:00:01\nuefi-x64 = sb/SHIMX64.EFI\n"));
	assert_false(proxy_warns("[dhcp]\ninterface = lo\nmode = proxy\n"
				 "[boot]\nuefi-x64 = efi64/syslinux.efi\n"));
	assert_false(proxy_warns("[dhcp]\ninterface = lo\nrange = 127.0.0.100 127.0.0.200\n"
				 "[boot]\nuefi-x64 = shim/shimx64.efi\n"));
	assert_false(proxy_warns("[boot]\nuefi-x64 = shim/shimx64.efi\n"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signed_pe32_plus),
		cmocka_unit_test(test_signed_pe32),
		cmocka_unit_test(test_unsigned),
		cmocka_unit_test(test_six_directories),
		cmocka_unit_test(test_not_pe),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_debian_files),
		cmocka_unit_test(test_proxy_caveat),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
