/* path.h - turning the file name in a request (TFTP or HTTP) into a path
 * relative to the served root.
 *
 * PXE clients send names such as "/pxelinux.0" or "boot\\grub\\grub.cfg";
 * both forms are accepted: '\\' becomes '/', leading '/' are dropped, empty
 * and "." components are collapsed. Any ".." component is refused outright
 * rather than resolved, so the name never reaches above the root even
 * lexically; the kernel (fs_open_beneath) enforces the same for symlinks. */
#ifndef KIDOU_PATH_H
#define KIDOU_PATH_H

#include <stddef.h>

/* Longest normalised name accepted. */
#define PATH_NAME_MAX 1024

/* Normalise name (len bytes, no NUL inside) into out (outsize bytes).
 * Returns 0, -EINVAL (empty after normalisation), -EACCES (".."), or
 * -ENAMETOOLONG. */
int path_normalize(const char *name, size_t len, char *out, size_t outsize);

#endif
