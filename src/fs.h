/* fs.h - opening files strictly beneath a served root directory.
 *
 * Every file kidou serves (TFTP now, HTTP later) is opened through here:
 * openat2() with RESOLVE_BENEATH makes the kernel refuse any resolution
 * that leaves the root, whether by "..", an absolute path, or a symlink
 * (absolute symlinks are refused even when they point back inside). */
#ifndef KIDOU_FS_H
#define KIDOU_FS_H

/* Open root as a directory handle (O_PATH). Returns fd or -errno; -EACCES
 * also when the effective user may not search it (fs_root_usable). */
int fs_open_root(const char *root);

/* 0 if the effective user may look up names beneath rootfd, else -errno.
 * A root opened before a privilege drop is checked again after it. */
int fs_root_usable(int rootfd);

/* Open rel (relative, already normalised) read-only beneath rootfd. Returns
 * fd or -errno: -ENOENT missing, -EXDEV/-ELOOP escapes the root, -EACCES
 * permissions, -ENOSYS when the kernel lacks openat2 (Linux < 5.6). */
int fs_open_beneath(int rootfd, const char *rel);

#endif
