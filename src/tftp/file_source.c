/* file_source.c - see file_source.h. */
#include "tftp/file_source.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fs.h"
#include "util.h"

struct boot_file *boot_file_ref(struct boot_file *f)
{
	f->refs++;
	return f;
}

void boot_file_unref(struct boot_file *f)
{
	if (f && --f->refs == 0)
		f->release(f);
}

struct owned_file {
	struct boot_file base;
	void *buf;
};

static void owned_file_release(struct boot_file *f)
{
	struct owned_file *o = (struct owned_file *)f;

	free(o->buf);
	free(o);
}

int boot_file_new_owned(void *buf, uint64_t size, struct boot_file **ret)
{
	struct owned_file *o = calloc(1, sizeof(*o));

	if (!o) {
		free(buf);
		return -ENOMEM;
	}
	o->buf = buf;
	o->base = (struct boot_file){ .refs = 1, .data = size ? buf : NULL, .fd = -1,
				      .size = size, .release = owned_file_release };
	*ret = &o->base;
	return 0;
}

int boot_file_read(const struct boot_file *f, uint64_t off, const struct iovec *iov,
		   int iovcnt)
{
	struct iovec local[64];
	size_t want = 0;

	for (int i = 0; i < iovcnt; i++)
		want += iov[i].iov_len;
	if (off > f->size || want > f->size - off)
		return -EIO;
	if (f->fd < 0) {
		for (int i = 0; i < iovcnt; i++) {
			if (iov[i].iov_len)
				memcpy(iov[i].iov_base, f->data + off, iov[i].iov_len);
			off += iov[i].iov_len;
		}
		return 0;
	}
	/* One preadv() per call; loop only on short reads (signals, huge
	 * windows), never past what was asked for. */
	if (iovcnt > (int)ARRAY_SIZE(local))
		return -EINVAL;
	memcpy(local, iov, (size_t)iovcnt * sizeof(*iov));
	for (int first = 0; want > 0;) {
		ssize_t n = preadv(f->fd, local + first, iovcnt - first, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;  /* the file shrank under us */
		want -= (size_t)n;
		off += (uint64_t)n;
		while (n > 0 && first < iovcnt) {
			size_t take = MIN((size_t)n, local[first].iov_len);
			local[first].iov_base = (uint8_t *)local[first].iov_base + take;
			local[first].iov_len -= take;
			n -= (ssize_t)take;
			if (local[first].iov_len == 0)
				first++;
		}
	}
	return 0;
}

struct file_source *file_source_ref(struct file_source *s)
{
	s->refs++;
	return s;
}

void file_source_unref(struct file_source *s)
{
	if (s && --s->refs == 0)
		s->ops->destroy(s);
}

/* --- the disk source: files read once, shared while in use --- */

struct disk_source;

/* An open file, identified by the version it was opened at. */
struct disk_file {
	struct boot_file base;
	struct disk_source *owner;      /* holds a reference on the source */
	struct disk_file *next, *prev;  /* in owner->live */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

struct disk_source {
	struct file_source base;
	int rootfd;
	struct disk_file *live;  /* files some transfer still holds */
};

static void disk_file_release(struct boot_file *f)
{
	struct disk_file *d = (struct disk_file *)f;
	struct disk_source *s = d->owner;

	if (d->prev)
		d->prev->next = d->next;
	else
		s->live = d->next;
	if (d->next)
		d->next->prev = d->prev;
	safe_close(d->base.fd);
	free(d);
	file_source_unref(&s->base);
}

static struct disk_file *disk_source_find(struct disk_source *s,
					  const struct stat *st)
{
	for (struct disk_file *d = s->live; d; d = d->next)
		if (d->dev == st->st_dev && d->ino == st->st_ino &&
		    d->size == st->st_size &&
		    d->mtime.tv_sec == st->st_mtim.tv_sec &&
		    d->mtime.tv_nsec == st->st_mtim.tv_nsec)
			return d;
	return NULL;
}

static int disk_source_open(struct file_source *base, const char *path,
			    const struct file_request *req, struct boot_file **ret)
{
	struct disk_source *s = (struct disk_source *)base;
	_cleanup_close_ int fd = -1;
	struct disk_file *d;
	struct stat st;

	fd = fs_open_beneath(s->rootfd, path);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (!S_ISREG(st.st_mode))
		return -EACCES;  /* no devices, FIFOs or sockets */
	if ((uint64_t)st.st_size > BOOT_FILE_MAX_SIZE)
		return -EFBIG;
	d = disk_source_find(s, &st);
	if (d) {
		*ret = boot_file_ref(&d->base);
		return 0;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	d->dev = st.st_dev;
	d->ino = st.st_ino;
	d->size = st.st_size;
	d->mtime = st.st_mtim;
	d->base = (struct boot_file){ .refs = 1, .fd = TAKE_FD(fd), .size = (uint64_t)st.st_size,
				      .release = disk_file_release };
	d->owner = (struct disk_source *)file_source_ref(&s->base);
	d->next = s->live;
	if (s->live)
		s->live->prev = d;
	s->live = d;
	*ret = &d->base;
	return 0;
}

static void disk_source_destroy(struct file_source *base)
{
	struct disk_source *s = (struct disk_source *)base;

	/* Live files hold references, so by now the list is empty. */
	safe_close(s->rootfd);
	free(s);
}

static const struct file_source_ops disk_source_ops = {
	.open = disk_source_open,
	.destroy = disk_source_destroy,
};

int file_source_disk_new(const char *root, struct file_source **ret)
{
	struct disk_source *s;
	int fd = fs_open_root(root);

	if (fd < 0)
		return fd;
	s = calloc(1, sizeof(*s));
	if (!s) {
		safe_close(fd);
		return -ENOMEM;
	}
	s->base = (struct file_source){ .ops = &disk_source_ops, .refs = 1 };
	s->rootfd = fd;
	*ret = &s->base;
	return 0;
}

/* --- layering: disk first, then generated --- */

struct layered_source {
	struct file_source base;
	struct file_source *first, *second;
};

static int layered_open(struct file_source *base, const char *path,
			const struct file_request *req, struct boot_file **ret)
{
	struct layered_source *l = (struct layered_source *)base;
	int r = file_source_open(l->first, path, req, ret);

	return r == -ENOENT ? file_source_open(l->second, path, req, ret) : r;
}

static void layered_destroy(struct file_source *base)
{
	struct layered_source *l = (struct layered_source *)base;

	file_source_unref(l->first);
	file_source_unref(l->second);
	free(l);
}

static const struct file_source_ops layered_ops = {
	.open = layered_open,
	.destroy = layered_destroy,
};

int file_source_layered_new(struct file_source *first, struct file_source *second,
			    struct file_source **ret)
{
	struct layered_source *l = calloc(1, sizeof(*l));

	if (!l) {
		file_source_unref(first);
		file_source_unref(second);
		return -ENOMEM;
	}
	l->base = (struct file_source){ .ops = &layered_ops, .refs = 1 };
	l->first = first;
	l->second = second;
	*ret = &l->base;
	return 0;
}
