/* quick.h - `kidou boot`: boot every PXE machine on a segment into one
 * kernel, with no config file (in the spirit of pixiecore).
 *
 *   kidou boot --kernel FILE [--initrd FILE ...] [--cmdline TEXT] \
 *              --interface IFACE --dhcp-range "FIRST LAST" [other flags]
 *
 * It makes a private directory, copies the kernel, the initrds and iPXE
 * (undionly.kpxe, ipxe.efi from Debian's ipxe package) into it, and writes
 * a config there: BIOS machines chainload undionly.kpxe, UEFI x64 machines
 * ipxe.efi, and iPXE fetches a rendered script, kernel and initrds over
 * HTTP (port 8080 unless --http-listen says otherwise). The directory is
 * removed on exit. kidou is then the DHCP server on that interface, or,
 * with --dhcp-mode proxy instead of --dhcp-range, a proxyDHCP beside the
 * network's own DHCP server. */
#ifndef KIDOU_QUICK_H
#define KIDOU_QUICK_H

#include <stddef.h>

#define QUICK_PATH_MAX 4096

struct quick {
	char dir[QUICK_PATH_MAX];     /* private directory, "" when none */
	char config[QUICK_PATH_MAX];  /* the config file written into it */
};

/* Consume the quick-mode flags (--kernel, --initrd, --cmdline) from argv
 * (argv[0] is "boot"), leaving the others in place of the consumed ones
 * (*argc shrinks). Prepare the directory and config. Returns 0, or -errno
 * with a message in err. */
int quick_prepare(int *argc, char **argv, struct quick *q, char *err, size_t errsize);

/* Remove the private directory and everything in it. */
void quick_cleanup(struct quick *q);

#endif
