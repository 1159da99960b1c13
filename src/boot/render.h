/* render.h - per-machine bootloader configs, rendered from a profile.
 *
 * Pure: writes into the caller's buffer, never allocates, never logs.
 * Templates (a profile's cmdline) may use these variables:
 *   ${mac}       the machine's MAC, 52:54:00:12:34:56
 *   ${ip}        the machine's IPv4 address
 *   ${hostname}  its [host] hostname (or the [host] name), else empty
 *   ${server}    kidou's address as the machine sees it
 *   ${http}      kidou's HTTP base URL, http://SERVER:PORT (empty without HTTP)
 *   ${done_url}  for a machine whose next boot is a once-install (see
 *                boot/next_boot.h): API/api/v1/machines/MAC/done?token=T,
 *                API being ${http}, or the [api] listen address when set
 *                (0.0.0.0 there: the address the machine talked to),
 *                the URL its installer calls when done; empty for any other
 *                boot (an installer then has nothing to call, and the
 *                machine keeps its setting)
 * An unknown variable is an error, found when the config is loaded; one
 * with a '/' in its name, such as ${net0/mac}, is an iPXE setting and is
 * left for iPXE to expand.
 *
 * Kernel and initrd paths in a profile are relative to the served root
 * (or full URLs): PXELINUX and GRUB get them as absolute TFTP paths
 * ("/linux/vmlinuz", which kidou resolves under its root), iPXE gets
 * ${http}/path. */
#ifndef KIDOU_RENDER_H
#define KIDOU_RENDER_H

#include <stddef.h>

#include "config.h"

struct render_vars {
	const char *mac;
	const char *ip;
	const char *hostname;
	const char *server;
	const char *http;
	const char *done_url;
};

/* Expand ${...} in tmpl into out. Returns the length, -EINVAL for an
 * unknown or unterminated variable, -ENOBUFS when out is too small. */
int render_expand(const char *tmpl, const struct render_vars *v, char *out, size_t size);

/* 0 if every variable in tmpl is known; else -EINVAL and the first unknown
 * name in bad (truncated to badsize). */
int render_check_template(const char *tmpl, char *bad, size_t badsize);

/* The three bootloader formats. Each returns the length written or
 * -EINVAL/-ENOBUFS as render_expand. */
int render_pxelinux(const struct profile_config *p, const struct render_vars *v,
		    char *out, size_t size);
int render_grub(const struct profile_config *p, const struct render_vars *v,
		char *out, size_t size);
int render_ipxe(const struct profile_config *p, const struct render_vars *v,
		char *out, size_t size);

/* The local-boot forms: hand the machine back to its firmware's next
 * boot device (its disk) instead of starting any kernel.
 *   PXELINUX  DEFAULT local / LABEL local / LOCALBOOT 0: 0 is the one
 *             value that works under BIOS PXELINUX for "boot the next
 *             device" (-1 asks the BIOS for the next entry, which some
 *             BIOSes do badly); syslinux.efi does not implement LOCALBOOT
 *             and exits to the firmware, which has the same effect.
 *   GRUB      exit: returns to the firmware's boot manager, which goes on
 *             with the next boot entry (the disk).
 *   iPXE      exit: likewise returns to the firmware (BIOS: INT 18h).
 * Same returns as the renderers above. */
int render_pxelinux_local(const struct render_vars *v, char *out, size_t size);
int render_grub_local(const struct render_vars *v, char *out, size_t size);
int render_ipxe_local(const struct render_vars *v, char *out, size_t size);

#endif
