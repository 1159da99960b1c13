/* next_boot.h - what each machine boots next, set at runtime through the
 * API: the "install once, then boot from disk" workflow.
 *
 *   default   no record: the [host]'s profile, else the [boot] one
 *   profile   boot that profile; with once, until the installer reports
 *             done with the record's one-time token, then local
 *   local     hand the machine back to its own disk (see render.h), every
 *             boot, until someone sets something else: a machine that has
 *             installed never starts the installer again by itself
 *
 * Pure: a map from MAC to record, sorted by MAC (binary search), bounded
 * to max entries; no I/O, no clock, no randomness (the caller makes the
 * token). The API owns it; it is not part of the config, so a SIGHUP
 * keeps it, and the lease database keeps it across restarts. */
#ifndef KIDOU_NEXT_BOOT_H
#define KIDOU_NEXT_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/lease_store.h"

/* Records kept at most: 100,000 machines is ~12 MB. */
#define NEXT_BOOT_MAX 100000

struct next_boot;

int next_boot_new(size_t max, struct next_boot **ret);
/* NULL is a no-op. */
void next_boot_free(struct next_boot *nb);

/* The record of mac, or NULL (mode default). Valid until the next change. */
const struct next_boot_record *next_boot_get(const struct next_boot *nb, const uint8_t mac[6]);
/* Insert or replace r (by r->mac); mode default forgets the record.
 * -ENOSPC when the map is full and r->mac is new, -EINVAL for a record
 * that makes no sense (profile mode without a profile, once without a
 * token or outside profile mode, an unknown mode). */
int next_boot_put(struct next_boot *nb, const struct next_boot_record *r);
/* Forget mac's record (0 whether or not there was one). */
void next_boot_del(struct next_boot *nb, const uint8_t mac[6]);
size_t next_boot_count(const struct next_boot *nb);
/* The i-th record in MAC order (i < count). */
const struct next_boot_record *next_boot_at(const struct next_boot *nb, size_t i);

/* Is an install pending (a once-profile whose done has not come)? */
static inline bool next_boot_install_pending(const struct next_boot_record *r)
{
	return r && r->mode == NEXT_BOOT_PROFILE && r->once && r->token[0];
}

/* The done callback's check, pure: may token mark r done? 0, or -EACCES
 * with *reason ("no-pending-install": no record, not a once-install, or
 * its token already spent; "wrong-token"). token NULL with operator true:
 * the operator's bearer token stood in for it. The comparison takes the
 * same time whatever the bytes. On 0, *out is the record after done:
 * mode local, token spent. */
int next_boot_check_done(const struct next_boot_record *r, const char *token, bool operator,
			 struct next_boot_record *out, const char **reason);

#endif
