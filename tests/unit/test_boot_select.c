/* test_boot_select.c - which target each kind of client gets: the RFC 4578
 * architecture table, PXE ROMs without option 93, iPXE chainloading, host
 * overrides per target, and the reasons logged when nothing is chosen. */
#include "unit.h"

#include <stdbool.h>

#include "boot/boot_select.h"

/* Distinct strings per slot, so a test sees which slot answered. */
static char *const default_names[BOOT_TARGET_COUNT] = {
	[BOOT_TARGET_BIOS] = "d-bios",
	[BOOT_TARGET_UEFI_IA32] = "d-ia32",
	[BOOT_TARGET_UEFI_X64] = "d-x64",
	[BOOT_TARGET_UEFI_ARM32] = "d-arm32",
	[BOOT_TARGET_UEFI_ARM64] = "d-arm64",
	[BOOT_TARGET_HTTP_X64] = "http://boot/x64.efi",
	[BOOT_TARGET_HTTP_ARM64] = "http://boot/arm64.efi",
	[BOOT_TARGET_IPXE] = NULL,
};

static struct boot_targets all_defaults(void)
{
	struct boot_targets t = { 0 };

	for (int i = 0; i < BOOT_TARGET_COUNT; i++)
		t.target[i] = default_names[i];
	return t;
}

static struct boot_client pxe_arch(uint16_t arch)
{
	return (struct boot_client){ .pxe = true, .has_arch = true, .arch = arch };
}

static void test_every_arch_mapping(void **state)
{
	static const struct {
		uint16_t arch;
		enum boot_target slot;
		const char *name;
	} table[] = {
		{ 0, BOOT_TARGET_BIOS, "bios" },
		{ 6, BOOT_TARGET_UEFI_IA32, "efi-ia32" },
		{ 7, BOOT_TARGET_UEFI_X64, "efi-x64" },
		{ 9, BOOT_TARGET_UEFI_X64, "efi-x64-bc" },
		{ 10, BOOT_TARGET_UEFI_ARM32, "efi-arm32" },
		{ 11, BOOT_TARGET_UEFI_ARM64, "efi-arm64" },
		{ 16, BOOT_TARGET_HTTP_X64, "efi-x64-http" },
		{ 19, BOOT_TARGET_HTTP_ARM64, "efi-arm64-http" },
	};
	struct boot_targets d = all_defaults();

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		struct boot_client c = pxe_arch(table[i].arch);
		struct boot_choice out;
		bool http = table[i].slot == BOOT_TARGET_HTTP_X64 ||
			    table[i].slot == BOOT_TARGET_HTTP_ARM64;

		assert_true(boot_select(&c, NULL, &d, &out));
		assert_int_equal(out.slot, table[i].slot);
		assert_string_equal(out.target, default_names[table[i].slot]);
		assert_null(out.reason);
		/* The HTTP boot architectures are answered as HTTPClient
		 * even when the firmware said PXEClient. */
		assert_string_equal(out.vendor_class, http ? "HTTPClient" : "PXEClient");
		assert_string_equal(boot_arch_name(&c), table[i].name);
	}
}

static void test_unknown_arch(void **state)
{
	struct boot_targets d = all_defaults();
	struct boot_client c = pxe_arch(42);
	struct boot_choice out;

	assert_false(boot_select(&c, NULL, &d, &out));
	assert_null(out.target);
	assert_string_equal(out.reason, "unknown-arch");
	assert_string_equal(boot_arch_name(&c), "other");
	/* Past the end of the name table, too. */
	c.arch = 0xffff;
	assert_false(boot_select(&c, NULL, &d, &out));
	assert_string_equal(boot_arch_name(&c), "other");
}

static void test_pxe_without_arch_is_bios(void **state)
{
	struct boot_targets d = all_defaults();
	struct boot_client c = { .pxe = true };
	struct boot_choice out;

	assert_true(boot_select(&c, NULL, &d, &out));
	assert_int_equal(out.slot, BOOT_TARGET_BIOS);
	assert_string_equal(out.target, "d-bios");
	assert_string_equal(out.vendor_class, "PXEClient");
	assert_string_equal(boot_arch_name(&c), "none");
}

static void test_non_boot_client(void **state)
{
	struct boot_targets d = all_defaults();
	/* option 93 alone does not make a boot client */
	struct boot_client c = { .has_arch = true, .arch = 7 };
	struct boot_choice out = { .target = "stale", .reason = "stale" };

	assert_false(boot_select(&c, NULL, &d, &out));
	assert_null(out.target);
	assert_null(out.vendor_class);
	assert_string_equal(out.reason, "not-a-boot-client");
}

static void test_http_client_without_arch(void **state)
{
	struct boot_targets d = all_defaults();
	struct boot_client c = { .http = true };
	struct boot_choice out;

	assert_false(boot_select(&c, NULL, &d, &out));
	assert_null(out.target);
	assert_string_equal(out.reason, "http-client-without-arch");
}

static void test_http_client_vendor_class_echo(void **state)
{
	struct boot_targets d = all_defaults();
	struct boot_client c = { .http = true, .has_arch = true, .arch = 16 };
	struct boot_choice out;

	assert_true(boot_select(&c, NULL, &d, &out));
	assert_int_equal(out.slot, BOOT_TARGET_HTTP_X64);
	assert_string_equal(out.target, "http://boot/x64.efi");
	assert_string_equal(out.vendor_class, "HTTPClient");
	c.arch = 19;
	assert_true(boot_select(&c, NULL, &d, &out));
	assert_string_equal(out.target, "http://boot/arm64.efi");
	assert_string_equal(out.vendor_class, "HTTPClient");
}

static void test_ipxe_with_target(void **state)
{
	struct boot_targets d = all_defaults();
	struct boot_client c = { .pxe = true, .ipxe = true, .has_arch = true, .arch = 7 };
	struct boot_choice out;

	d.target[BOOT_TARGET_IPXE] = "http://boot/menu.ipxe";
	assert_true(boot_select(&c, NULL, &d, &out));
	assert_int_equal(out.slot, BOOT_TARGET_IPXE);
	assert_string_equal(out.target, "http://boot/menu.ipxe");
	assert_string_equal(out.vendor_class, "PXEClient");
	/* iPXE that says nothing else about itself: no vendor class echo. */
	c = (struct boot_client){ .ipxe = true };
	assert_true(boot_select(&c, NULL, &d, &out));
	assert_string_equal(out.target, "http://boot/menu.ipxe");
	assert_null(out.vendor_class);
	/* iPXE running as an HTTP client. */
	c = (struct boot_client){ .http = true, .ipxe = true, .has_arch = true, .arch = 16 };
	assert_true(boot_select(&c, NULL, &d, &out));
	assert_int_equal(out.slot, BOOT_TARGET_IPXE);
	assert_string_equal(out.vendor_class, "HTTPClient");
}

static void test_ipxe_without_target_is_served_as_firmware(void **state)
{
	struct boot_targets d = all_defaults();
	struct boot_client c = { .pxe = true, .ipxe = true, .has_arch = true, .arch = 7 };
	struct boot_choice out;

	assert_true(boot_select(&c, NULL, &d, &out));
	assert_int_equal(out.slot, BOOT_TARGET_UEFI_X64);
	assert_string_equal(out.target, "d-x64");
	/* QEMU's PXE ROM is iPXE without option 93: plain PXELINUX. */
	c = (struct boot_client){ .pxe = true, .ipxe = true };
	assert_true(boot_select(&c, NULL, &d, &out));
	assert_int_equal(out.slot, BOOT_TARGET_BIOS);
	assert_string_equal(out.target, "d-bios");
}

static void test_host_override_per_target(void **state)
{
	struct boot_targets d = all_defaults();
	struct boot_targets host = { 0 };
	struct boot_client c = pxe_arch(7);
	struct boot_choice out;

	host.target[BOOT_TARGET_UEFI_X64] = "h-x64";
	assert_true(boot_select(&c, &host, &d, &out));
	assert_string_equal(out.target, "h-x64");
	/* Targets the host leaves unset fall back to [boot]. */
	c = pxe_arch(0);
	assert_true(boot_select(&c, &host, &d, &out));
	assert_string_equal(out.target, "d-bios");
	/* A host ipxe target wins over the default one, and exists even
	 * when [boot] has none. */
	c = (struct boot_client){ .pxe = true, .ipxe = true, .has_arch = true, .arch = 7 };
	host.target[BOOT_TARGET_IPXE] = "h-menu.ipxe";
	assert_true(boot_select(&c, &host, &d, &out));
	assert_int_equal(out.slot, BOOT_TARGET_IPXE);
	assert_string_equal(out.target, "h-menu.ipxe");
	d.target[BOOT_TARGET_IPXE] = "d-menu.ipxe";
	assert_true(boot_select(&c, &host, &d, &out));
	assert_string_equal(out.target, "h-menu.ipxe");
	assert_true(boot_select(&c, NULL, &d, &out));
	assert_string_equal(out.target, "d-menu.ipxe");
}

static void test_missing_target(void **state)
{
	struct boot_targets d = { 0 };
	struct boot_targets host = { 0 };
	struct boot_client c = pxe_arch(11);
	struct boot_choice out;

	d.target[BOOT_TARGET_BIOS] = "d-bios";
	assert_false(boot_select(&c, &host, &d, &out));
	assert_null(out.target);
	assert_string_equal(out.reason, "no-target-for-arch");
	assert_int_equal(out.slot, BOOT_TARGET_UEFI_ARM64);
	c = pxe_arch(16);
	assert_false(boot_select(&c, NULL, &d, &out));
	assert_string_equal(out.reason, "no-target-for-arch");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_arch_mapping),
		cmocka_unit_test(test_unknown_arch),
		cmocka_unit_test(test_pxe_without_arch_is_bios),
		cmocka_unit_test(test_non_boot_client),
		cmocka_unit_test(test_http_client_without_arch),
		cmocka_unit_test(test_http_client_vendor_class_echo),
		cmocka_unit_test(test_ipxe_with_target),
		cmocka_unit_test(test_ipxe_without_target_is_served_as_firmware),
		cmocka_unit_test(test_host_override_per_target),
		cmocka_unit_test(test_missing_target),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
