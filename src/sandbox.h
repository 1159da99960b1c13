/* sandbox.h - confine the running daemon to the system calls it serves with.
 *
 * Once startup is done (sockets bound, roots and database open, privileges
 * dropped), kidou needs a small, known set of system calls: in the spirit
 * of OpenBSD's pledge(2), a seccomp filter allows those and kills the
 * process on any other. What the filter allows covers every path of the
 * running daemon: the event loop, DHCP, TFTP, HTTP (libmicrohttpd), router
 * advertisements, SIGHUP reloads, lease commits (SQLite, also from a writer
 * thread), logging and exit. */
#ifndef KIDOU_SANDBOX_H
#define KIDOU_SANDBOX_H

#include <stdbool.h>

/* Install the filter for the whole process (threads started later inherit
 * it). Needs no_new_privs or CAP_SYS_ADMIN. Returns the number of system
 * calls allowed, or -errno. */
int sandbox_apply(void);

/* True when this build cannot run under the filter: sanitizer runtimes
 * (ASan, UBSan) make calls of their own (symbolising a report reads
 * /proc/self/maps, forks llvm-symbolizer) that no allow-list should grant. */
bool sandbox_unsupported_build(void);

#endif
