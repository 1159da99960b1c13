/* boot_select.h - which boot file (or URL) a client gets, from what its
 * firmware says about itself. Pure policy: no packets, no logging.
 *
 *   - A client that is neither a PXE/HTTP boot client nor iPXE gets no boot
 *     information.
 *   - A client already running iPXE (user class "iPXE", or option 175) gets
 *     the `ipxe` target when one is configured, so chainloading iPXE never
 *     loops; otherwise it is served as the firmware it runs on (QEMU's PXE
 *     ROM is iPXE, and a plain PXELINUX setup must work unchanged).
 *   - Otherwise the target follows the architecture (option 93): 0 BIOS,
 *     6 UEFI IA32, 7 and 9 UEFI x64, 10 ARM32, 11 ARM64, 16 x64 HTTP,
 *     19 ARM64 HTTP. A PXE client without option 93 is taken to be BIOS.
 *   - A host's own targets win over the [boot] defaults, per target.
 */
#ifndef KIDOU_BOOT_SELECT_H
#define KIDOU_BOOT_SELECT_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

struct boot_client {
	bool pxe;        /* option 60 starts with "PXEClient" */
	bool http;       /* option 60 starts with "HTTPClient" */
	bool ipxe;       /* user class "iPXE" or option 175 present */
	bool has_arch;   /* option 93 present */
	uint16_t arch;   /* first architecture in option 93 */
};

struct boot_choice {
	const char *target;       /* file or URL; NULL: no boot information */
	enum boot_target slot;    /* which configured target it came from */
	const char *vendor_class; /* echo in option 60: "PXEClient", "HTTPClient" or NULL */
	const char *reason;       /* why there is no target, for the log */
};

/* host may be NULL. Always fills out; returns whether a target was chosen. */
bool boot_select(const struct boot_client *c, const struct boot_targets *host,
		 const struct boot_targets *defaults, struct boot_choice *out);

/* "bios", "efi-x64", ... for the log; "none" without option 93. */
const char *boot_arch_name(const struct boot_client *c);

#endif
