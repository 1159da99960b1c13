/* boot_select.c - see boot_select.h. */
#include "boot/boot_select.h"

#include <stddef.h>

/* RFC 4578 section 2.1 and the IANA "Processor Architecture Types". */
static bool target_for_arch(uint16_t arch, enum boot_target *out)
{
	switch (arch) {
	case 0: *out = BOOT_TARGET_BIOS; return true;
	case 6: *out = BOOT_TARGET_UEFI_IA32; return true;
	case 7:
	case 9: *out = BOOT_TARGET_UEFI_X64; return true;
	case 10: *out = BOOT_TARGET_UEFI_ARM32; return true;
	case 11: *out = BOOT_TARGET_UEFI_ARM64; return true;
	case 16: *out = BOOT_TARGET_HTTP_X64; return true;
	case 19: *out = BOOT_TARGET_HTTP_ARM64; return true;
	default: return false;
	}
}

const char *boot_arch_name(const struct boot_client *c)
{
	static const char *const names[] = {
		[0] = "bios", [6] = "efi-ia32", [7] = "efi-x64", [9] = "efi-x64-bc",
		[10] = "efi-arm32", [11] = "efi-arm64", [16] = "efi-x64-http",
		[19] = "efi-arm64-http",
	};

	if (!c->has_arch)
		return "none";
	if (c->arch < sizeof(names) / sizeof(names[0]) && names[c->arch])
		return names[c->arch];
	return "other";
}

static const char *lookup(const struct boot_targets *host,
			  const struct boot_targets *defaults, enum boot_target t)
{
	if (host && host->target[t])
		return host->target[t];
	return defaults->target[t];
}

bool boot_select(const struct boot_client *c, const struct boot_targets *host,
		 const struct boot_targets *defaults, struct boot_choice *out)
{
	enum boot_target slot;
	bool http_arch;

	*out = (struct boot_choice){ 0 };
	if (!c->pxe && !c->http && !c->ipxe) {
		out->reason = "not-a-boot-client";
		return false;
	}
	if (c->ipxe) {
		const char *t = lookup(host, defaults, BOOT_TARGET_IPXE);
		if (t) {
			out->target = t;
			out->slot = BOOT_TARGET_IPXE;
			out->vendor_class = c->http ? "HTTPClient" : c->pxe ? "PXEClient" : NULL;
			return true;
		}
	}
	if (c->has_arch) {
		if (!target_for_arch(c->arch, &slot)) {
			out->reason = "unknown-arch";
			return false;
		}
	} else if (c->http) {
		out->reason = "http-client-without-arch";
		return false;
	} else {
		slot = BOOT_TARGET_BIOS;  /* old PXE ROMs omit option 93 */
	}
	http_arch = slot == BOOT_TARGET_HTTP_X64 || slot == BOOT_TARGET_HTTP_ARM64;
	out->slot = slot;
	out->vendor_class = http_arch || c->http ? "HTTPClient" : "PXEClient";
	out->target = lookup(host, defaults, slot);
	if (!out->target) {
		out->reason = "no-target-for-arch";
		return false;
	}
	return true;
}
