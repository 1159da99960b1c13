/* fs.c - see fs.h. */
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

int fs_open_root(const char *root)
{
	int fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	int r;

	if (fd < 0)
		return -errno;
	r = fs_root_usable(fd);
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

int fs_root_usable(int rootfd)
{
	/* Opening with O_PATH needs no permission on the directory itself,
	 * but every lookup beneath it does: without search permission each
	 * request would fail with EACCES. Read permission is not needed, as
	 * kidou never lists a root. AT_EACCESS: as the effective user, the
	 * one that serves (faccessat2, Linux 5.8). */
	if (faccessat(rootfd, "", X_OK, AT_EACCESS | AT_EMPTY_PATH) < 0)
		return -errno;
	return 0;
}

int fs_open_beneath(int rootfd, const char *rel)
{
	struct open_how how = {
		.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	/* glibc 2.36 has no wrapper for openat2. */
	long fd = syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}
