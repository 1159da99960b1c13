/* file_source.h - where served files come from.
 *
 * The TFTP layer (and later HTTP) asks a file_source for a path and gets a
 * boot_file: an immutable, reference-counted byte buffer. The disk source
 * reads a file once into memory and shares it between every transfer of
 * that same file version (200 machines booting the same kernel read it
 * once); other sources (generated per-machine PXELINUX configs, a later
 * issue) implement the same two operations.
 *
 * Why memory rather than mmap: a mapped file that is truncated under a
 * transfer kills the process with SIGBUS, and the server must never crash
 * because an operator replaced a kernel mid-boot. */
#ifndef KIDOU_FILE_SOURCE_H
#define KIDOU_FILE_SOURCE_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Largest file served (TFTP with block rollover can move it; memory is the
 * limit). */
#define BOOT_FILE_MAX_SIZE (UINT64_C(4) << 30)

struct boot_file {
	unsigned refs;
	const uint8_t *data;      /* size bytes; NULL when size == 0 */
	uint64_t size;
	/* Called when refs drops to 0; frees the object. */
	void (*release)(struct boot_file *f);
};

struct boot_file *boot_file_ref(struct boot_file *f);
/* NULL is a no-op. */
void boot_file_unref(struct boot_file *f);

/* A boot_file owning buf (malloc'd, size bytes; taken over even on error). */
int boot_file_new_owned(void *buf, uint64_t size, struct boot_file **ret);

/* A new boot_file holding src converted to netascii (RFC 764): LF becomes
 * CR LF, a bare CR becomes CR NUL. */
int boot_file_new_netascii(const struct boot_file *src, struct boot_file **ret);

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
