/* file_source.h - where served files come from.
 *
 * The TFTP layer asks a file_source for a path and gets a boot_file: an
 * immutable, reference-counted view of some bytes, either in memory
 * (rendered configs) or an open file read with pread() as blocks are sent
 * (netascii converts them on the way: netascii_stream.h). The disk source shares one descriptor
 * between every transfer of the same file version, so 200 machines
 * booting the same kernel share it and the page cache; nothing is read
 * before the first block is due, and the event loop never waits for a
 * whole file.
 *
 * Why not mmap: a mapped file truncated under a transfer kills the process
 * with SIGBUS, and the server must never crash because an operator
 * replaced a kernel mid-boot. A short read ends just that transfer. */
#ifndef KIDOU_FILE_SOURCE_H
#define KIDOU_FILE_SOURCE_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Largest file served over TFTP. Block numbers roll over, so size is no
 * protocol limit; this bounds a transfer at blksize 512 to ~8.4M blocks. */
#define BOOT_FILE_MAX_SIZE (UINT64_C(4) << 30)

struct boot_file {
	unsigned refs;
	uint64_t size;            /* as opened; the bytes served */
	const uint8_t *data;      /* in memory: size bytes (NULL when size == 0 or fd-backed) */
	int fd;                   /* fd-backed: read with pread(); -1 for memory */
	/* Called when refs drops to 0; frees the object. */
	void (*release)(struct boot_file *f);
};

/* Fill iov (iovcnt entries, their lengths summing to what is wanted) with
 * the bytes from off on. Returns 0, or -EIO when the file no longer has
 * them (it shrank since it was opened), or -errno. */
int boot_file_read(const struct boot_file *f, uint64_t off, const struct iovec *iov,
		   int iovcnt);

struct boot_file *boot_file_ref(struct boot_file *f);
/* NULL is a no-op. */
void boot_file_unref(struct boot_file *f);

/* A boot_file owning buf (malloc'd, size bytes; taken over even on error). */
int boot_file_new_owned(void *buf, uint64_t size, struct boot_file **ret);

/* Who is asking, so that generated sources can answer per machine. */
struct file_request {
	const struct sockaddr_in *client;
	struct in_addr local;      /* our address as the client sees it */
};

struct file_source;

struct file_source_ops {
	/* Open path (normalised, relative). Returns 0 and *ret, or -errno:
	 * -ENOENT missing, -EACCES/-EXDEV/-ELOOP/-EISDIR refused, -EFBIG. */
	int (*open)(struct file_source *s, const char *path,
		    const struct file_request *req, struct boot_file **ret);
	void (*destroy)(struct file_source *s);
};

struct file_source {
	const struct file_source_ops *ops;
	unsigned refs;
};

static inline int file_source_open(struct file_source *s, const char *path,
				   const struct file_request *req,
				   struct boot_file **ret)
{
	return s->ops->open(s, path, req, ret);
}
struct file_source *file_source_ref(struct file_source *s);
void file_source_unref(struct file_source *s);

/* Files beneath the directory root, opened with fs_open_beneath(). Fails
 * with -errno if root cannot be opened as a directory. */
int file_source_disk_new(const char *root, struct file_source **ret);

/* first, and where it has no such file (-ENOENT), second: a file on disk
 * wins over a generated one. Takes over both references. */
int file_source_layered_new(struct file_source *first, struct file_source *second,
			    struct file_source **ret);

#endif
