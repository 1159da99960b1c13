/* boot_files.h - the per-machine files kidou renders instead of reading
 * them from disk: what PXELINUX, GRUB and iPXE ask for, answered from the
 * machine's [profile].
 *
 *   .../pxelinux.cfg/01-<mac>   PXELINUX, a [host] with a profile
 *   .../pxelinux.cfg/default    PXELINUX, the [boot] profile
 *   .../grub.cfg-01-<mac>       GRUB, a [host] with a profile
 *   .../grub.cfg                GRUB, the [boot] profile
 *   boot.ipxe?mac=<mac>         iPXE (HTTP); without ?mac= the machine is
 *   boot/<mac>.ipxe             found by its address's DHCP lease
 *
 * A machine without a profile of its own gets the [boot] profile where the
 * request does not name it (default, grub.cfg, boot.ipxe); the hex-IP
 * probes of PXELINUX are never answered, so its search reaches "default".
 * The callers put these behind the files on disk, which always win. */
#ifndef KIDOU_BOOT_FILES_H
#define KIDOU_BOOT_FILES_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "boot/boot_events.h"
#include "boot/next_boot.h"
#include "config.h"
#include "tftp/file_source.h"

struct boot_lookup {
	/* MAC of the machine leased ip (host order): 0 or -ENOENT. NULL
	 * when DHCP is off. */
	int (*mac_for_ip)(void *data, uint32_t ip, uint8_t mac[6]);
	void *data;
	/* The HTTP server's bound port (0: HTTP is off); read at render
	 * time, so it may be filled in after the source is made. */
	const int *http_port;
	/* The API's own listener ([api] listen) as bound, or NULL (or port
	 * 0) when the API is on the HTTP server; read at render time.
	 * ${done_url} points there: with [api] listen set, the HTTP server
	 * does not answer /api/. An unspecified address (0.0.0.0) becomes
	 * the address the machine talked to, as for ${http}. */
	const struct sockaddr_in *api_listen;
	/* The machines' next-boot records (boot/next_boot.h), or NULL: a
	 * record's profile wins over the [host]'s and [boot]'s, local
	 * renders the local-boot form, a once-install fills ${done_url}. */
	const struct next_boot *next_boot;
	/* Told when a machine is handed its local-boot form (outcome=local);
	 * may be NULL. */
	struct boot_events *events;
};

/* A file_source for TFTP. cfg and lk must outlive it. */
int boot_files_source_new(const struct config *cfg, const struct boot_lookup *lk,
			  struct file_source **ret);

/* The iPXE script for an HTTP path (normalised, no leading '/'). mac_arg
 * is the ?mac= argument or NULL; peer and server are addresses in host
 * order. Returns 0 with a malloc'd *body, -ENOENT when path is not a
 * script or the machine has no profile, -EINVAL for a malformed MAC. */
int boot_files_ipxe(const struct config *cfg, const struct boot_lookup *lk,
		    const char *path, const char *mac_arg, uint32_t peer, uint32_t server,
		    char **body, size_t *len);

#endif
