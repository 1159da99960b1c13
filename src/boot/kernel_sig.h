/* kernel_sig.h - the kernels a config hands to Debian's signed chain
 * (shim, then GRUB) must be signed: under Secure Boot, GRUB asks shim to
 * verify the kernel and refuses an unsigned one ("bad shim signature"),
 * which a machine shows only on its console. kidou checks at load and
 * reload, and warns naming the file. */
#ifndef KIDOU_KERNEL_SIG_H
#define KIDOU_KERNEL_SIG_H

#include <stdbool.h>

#include "config.h"

/* Does the config hand shim to UEFI x64 machines ([boot] uefi-x64 or a
 * [host]'s naming a file shim*.efi)? Then GRUB's grub.cfg, rendered from
 * the profiles, names the kernels Secure Boot will check. */
bool kernel_sig_chain_served(const struct config *c);

/* Is the file at path (a PE image) signed? 1 signed, 0 not (or not a PE
 * image), -errno when it can not be read. rootfd: a directory fd path is
 * beneath (fs_open_beneath), or -1 for a plain path. */
int kernel_sig_file(int rootfd, const char *path);

/* When the chain is served: every profile's kernel (under the TFTP root;
 * URLs are skipped) that is not signed gets level=warn mod=boot
 * event=kernel-unsigned, one that can not be read event=kernel-unreadable.
 * Returns how many warnings. */
unsigned kernel_sig_check(const struct config *c);

/* When the chain is served by a proxyDHCP (dhcp mode=proxy): shim takes
 * the proxy's offer, but Debian's GRUB takes its TFTP server from the
 * other DHCP server's ACK (siaddr) and asks it, not kidou, for
 * /grub/grub.cfg (grub2 PR #87, shim issue #165). kidou can not see how
 * that server is set up, so it says so once: level=warn mod=boot
 * event=secure-boot-proxy. Returns true when it warned. */
bool kernel_sig_check_proxy(const struct config *c);

#endif
