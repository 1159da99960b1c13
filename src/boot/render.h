/* render.h - per-machine bootloader configs, rendered from a profile.
 *
 * Pure: writes into the caller's buffer, never allocates, never logs.
 * Templates (a profile's cmdline) may use these variables:
 *   ${mac}       the machine's MAC, 52:54:00:12:34:56
 *   ${ip}        the machine's IPv4 address
 *   ${hostname}  its [host] hostname (or the [host] name), else empty
 *   ${server}    kidou's address as the machine sees it
 *   ${http}      kidou's HTTP base URL, http://SERVER:PORT (empty without HTTP)
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

#endif
