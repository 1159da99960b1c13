/* test_file_source.c - the disk file source against a real directory tree
 * made with mkdtemp(), and the boot_file helpers.
 *
 * Layout built by setup():
 *   TMP/outside.txt           a file outside the served root
 *   TMP/root/hello.txt        "hello, world\n"
 *   TMP/root/empty            0 bytes
 *   TMP/root/sub/inner.bin    bytes 0..255
 *   TMP/root/sub/             a directory
 *   TMP/root/fifo             a FIFO
 *   TMP/root/alias            -> sub/inner.bin      (relative, inside)
 *   TMP/root/sub/up           -> ../hello.txt       (relative, stays inside)
 *   TMP/root/escape           -> ../outside.txt     (relative, leaves)
 *   TMP/root/abs-out          -> TMP/outside.txt    (absolute, leaves)
 *   TMP/root/abs-in           -> TMP/root/hello.txt (absolute, refused too)
 *   TMP/root/dangling         -> nowhere
 */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "tftp/file_source.h"
#include "tftp/netascii_stream.h"
#include "tftp/netascii_stream.h"
#include "util.h"

struct fixture {
	char tmp[256];
	char root[300];
	struct file_source *src;
};

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void at(char *buf, size_t size, const char *dir, const char *name)
{
	int n = snprintf(buf, size, "%s/%s", dir, name);

	assert_true(n > 0 && (size_t)n < size);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *tmpdir = getenv("TMPDIR");
	char p[512], target[512];
	uint8_t bytes[256];

	assert_non_null(f);
	snprintf(f->tmp, sizeof(f->tmp), "%s/kidou-fs-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
	assert_non_null(mkdtemp(f->tmp));
	at(f->root, sizeof(f->root), f->tmp, "root");
	assert_int_equal(mkdir(f->root, 0755), 0);

	at(p, sizeof(p), f->tmp, "outside.txt");
	write_file(p, "secret\n", 7);
	at(p, sizeof(p), f->root, "hello.txt");
	write_file(p, "hello, world\n", 13);
	at(p, sizeof(p), f->root, "empty");
	write_file(p, "", 0);
	at(p, sizeof(p), f->root, "sub");
	assert_int_equal(mkdir(p, 0755), 0);
	for (size_t i = 0; i < sizeof(bytes); i++)
		bytes[i] = (uint8_t)i;
	at(p, sizeof(p), f->root, "sub/inner.bin");
	write_file(p, bytes, sizeof(bytes));
	at(p, sizeof(p), f->root, "fifo");
	assert_int_equal(mkfifo(p, 0644), 0);

	at(p, sizeof(p), f->root, "alias");
	assert_int_equal(symlink("sub/inner.bin", p), 0);
	at(p, sizeof(p), f->root, "sub/up");
	assert_int_equal(symlink("../hello.txt", p), 0);
	at(p, sizeof(p), f->root, "escape");
	assert_int_equal(symlink("../outside.txt", p), 0);
	at(p, sizeof(p), f->root, "abs-out");
	at(target, sizeof(target), f->tmp, "outside.txt");
	assert_int_equal(symlink(target, p), 0);
	at(p, sizeof(p), f->root, "abs-in");
	at(target, sizeof(target), f->root, "hello.txt");
	assert_int_equal(symlink(target, p), 0);
	at(p, sizeof(p), f->root, "dangling");
	assert_int_equal(symlink("nowhere", p), 0);

	assert_rc(file_source_disk_new(f->root, &f->src), 0);
	assert_non_null(f->src);
	assert_int_equal(f->src->refs, 1);
	*state = f;
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (!f)
		return 0;
	/* every test gives back what it opened */
	assert_int_equal(f->src->refs, 1);
	file_source_unref(f->src);
	nftw(f->tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static int open_path(struct fixture *f, const char *path, struct boot_file **ret)
{
	struct sockaddr_in client = { .sin_family = AF_INET };
	struct file_request req = { .client = &client };

	return file_source_open(f->src, path, &req, ret);
}

static void assert_refused(struct fixture *f, const char *path, int expected)
{
	struct boot_file *bf = (struct boot_file *)0x1;  /* must stay untouched */
	int r = open_path(f, path, &bf);

	if (r != expected)
		print_error("open \"%s\"\n", path);
	assert_rc(r, expected);
	assert_ptr_equal(bf, (struct boot_file *)0x1);
}

/* The bytes of a boot_file, however it holds them. */
static void assert_content(const struct boot_file *bf, const void *want, size_t len)
{
	uint8_t *buf = malloc(len ? len : 1);
	struct iovec iov = { buf, len };

	assert_non_null(buf);
	assert_int_equal(bf->size, len);
	assert_rc(boot_file_read(bf, 0, &iov, 1), 0);
	assert_memory_equal(buf, want, len);
	free(buf);
}

static void test_regular_file(void **state)
{
	struct fixture *f = *state;
	struct boot_file *bf = NULL;

	assert_rc(open_path(f, "hello.txt", &bf), 0);
	assert_non_null(bf);
	assert_int_equal(bf->size, 13);
	assert_content(bf, "hello, world\n", 13);
	assert_int_equal(bf->refs, 1);
	assert_int_equal(f->src->refs, 2);  /* the live file holds the source */
	boot_file_unref(bf);
	assert_int_equal(f->src->refs, 1);
}

static void test_nested_binary(void **state)
{
	struct fixture *f = *state;
	struct boot_file *bf = NULL;
	uint8_t want[256];

	assert_rc(open_path(f, "sub/inner.bin", &bf), 0);

	for (size_t i = 0; i < 256; i++)
		want[i] = (uint8_t)i;
	assert_content(bf, want, sizeof(want));
	boot_file_unref(bf);
}

static void test_empty_file(void **state)
{
	struct fixture *f = *state;
	struct boot_file *bf = NULL;

	assert_rc(open_path(f, "empty", &bf), 0);
	assert_int_equal(bf->size, 0);
	assert_null(bf->data);
	boot_file_unref(bf);
}

static void test_missing(void **state)
{
	struct fixture *f = *state;

	assert_refused(f, "nope", -ENOENT);
	assert_refused(f, "sub/nope", -ENOENT);
	assert_refused(f, "nodir/x", -ENOENT);
	assert_refused(f, "dangling", -ENOENT);
}

static void test_directory(void **state)
{
	struct fixture *f = *state;

	assert_refused(f, "sub", -EISDIR);
	assert_refused(f, ".", -EISDIR);
}

static void test_not_a_directory(void **state)
{
	struct fixture *f = *state;

	assert_refused(f, "hello.txt/x", -ENOTDIR);
}

static void test_dotdot_refused_by_kernel(void **state)
{
	struct fixture *f = *state;
	struct boot_file *bf = NULL;
	int r;

	/* Normalisation would refuse these; the source must refuse them on
	 * its own too. */
	assert_refused(f, "../outside.txt", -EXDEV);
	assert_refused(f, "sub/../../outside.txt", -EXDEV);
	/* an absolute path is not beneath anything */
	r = open_path(f, "/etc/passwd", &bf);
	assert_rc(r, -EXDEV);
	/* ".." that stays inside is resolved by the kernel and allowed */
	assert_rc(open_path(f, "sub/../hello.txt", &bf), 0);
	assert_int_equal(bf->size, 13);
	boot_file_unref(bf);
}

static void test_symlink_out_refused(void **state)
{
	struct fixture *f = *state;
	struct boot_file *bf = NULL;
	int r;

	r = open_path(f, "escape", &bf);
	assert_true(r == -EXDEV || r == -ELOOP);
	r = open_path(f, "abs-out", &bf);
	assert_true(r == -EXDEV || r == -ELOOP);
	/* fs.h: absolute symlinks are refused even pointing back inside */
	r = open_path(f, "abs-in", &bf);
	assert_true(r == -EXDEV || r == -ELOOP);
}

static void test_symlink_inside_allowed(void **state)
{
	struct fixture *f = *state;
	struct boot_file *a = NULL, *b = NULL, *c = NULL;

	assert_rc(open_path(f, "alias", &a), 0);
	uint8_t last;
	struct iovec iov = { &last, 1 };

	assert_int_equal(a->size, 256);
	assert_rc(boot_file_read(a, 255, &iov, 1), 0);
	assert_int_equal(last, 255);
	/* the same file by its own name is the same version: shared */
	assert_rc(open_path(f, "sub/inner.bin", &b), 0);
	assert_ptr_equal(a, b);
	assert_int_equal(a->refs, 2);
	assert_rc(open_path(f, "sub/up", &c), 0);
	assert_int_equal(c->size, 13);
	assert_content(c, "hello, world\n", 13);
	boot_file_unref(a);
	boot_file_unref(b);
	boot_file_unref(c);
}

static void test_fifo_refused(void **state)
{
	struct fixture *f = *state;

	/* no writer exists: the open must neither block nor succeed */
	assert_refused(f, "fifo", -EACCES);
}

static void test_unreadable(void **state)
{
	struct fixture *f = *state;
	char p[512];

	if (geteuid() == 0)
		skip();  /* root reads mode 000 files anyway */
	at(p, sizeof(p), f->root, "locked");
	write_file(p, "x", 1);
	assert_int_equal(chmod(p, 0), 0);
	assert_refused(f, "locked", -EACCES);
}

static void test_shared_and_refcounts(void **state)
{
	struct fixture *f = *state;
	struct boot_file *a = NULL, *b = NULL, *c = NULL;

	assert_rc(open_path(f, "hello.txt", &a), 0);
	assert_rc(open_path(f, "hello.txt", &b), 0);
	assert_ptr_equal(a, b);  /* read once, shared */
	assert_int_equal(a->refs, 2);
	assert_int_equal(f->src->refs, 2);  /* one file, one reference */
	assert_rc(open_path(f, "hello.txt", &c), 0);
	assert_ptr_equal(a, c);
	assert_int_equal(a->refs, 3);

	assert_ptr_equal(boot_file_ref(a), a);
	assert_int_equal(a->refs, 4);
	boot_file_unref(a);
	boot_file_unref(b);
	boot_file_unref(c);
	assert_int_equal(a->refs, 1);
	assert_int_equal(f->src->refs, 2);
	boot_file_unref(a);  /* last: freed (ASan checks), source released */
	assert_int_equal(f->src->refs, 1);
	boot_file_unref(NULL);  /* no-op */
}

static void test_changed_file_is_new_version(void **state)
{
	struct fixture *f = *state;
	struct boot_file *old = NULL, *cur = NULL;
	struct timespec ts[2] = { { .tv_sec = 1000000000 }, { .tv_sec = 1000000000 } };
	char p[512], tmp[512];
	uint8_t buf[9];
	struct iovec iov = { buf, sizeof(buf) };

	at(p, sizeof(p), f->root, "kernel");
	at(tmp, sizeof(tmp), f->root, "kernel.new");
	write_file(p, "version 1", 9);
	assert_rc(open_path(f, "kernel", &old), 0);

	/* an operator replaces the kernel (write, then rename) while a
	 * transfer still reads it: the transfer keeps the old bytes */
	write_file(tmp, "version 2!", 10);
	assert_int_equal(utimensat(AT_FDCWD, tmp, ts, 0), 0);
	assert_int_equal(rename(tmp, p), 0);
	assert_rc(open_path(f, "kernel", &cur), 0);
	assert_true(old != cur);
	assert_content(old, "version 1", 9);  /* unchanged under it */
	assert_content(cur, "version 2!", 10);
	assert_int_equal(f->src->refs, 3);

	/* truncated in place instead: the old transfer's read fails cleanly
	 * (it ends with an error; nothing crashes, nothing stale is sent) */
	assert_int_equal(truncate(p, 0), 0);
	assert_rc(boot_file_read(cur, 0, &iov, 1), -EIO);
	boot_file_unref(old);
	boot_file_unref(cur);
	assert_int_equal(f->src->refs, 1);
}

static void test_source_outlives_its_owner(void **state)
{
	struct fixture *f = *state;
	struct file_source *src = NULL;
	struct boot_file *bf = NULL;
	struct sockaddr_in client = { .sin_family = AF_INET };
	struct file_request req = { .client = &client };

	/* A reload drops the old source while transfers still hold files:
	 * the files keep the source alive until the last one goes. */
	assert_rc(file_source_disk_new(f->root, &src), 0);
	assert_rc(file_source_open(src, "hello.txt", &req, &bf), 0);
	assert_int_equal(src->refs, 2);
	file_source_unref(src);
	assert_int_equal(bf->size, 13);
	assert_content(bf, "hello, world\n", 13);
	boot_file_unref(bf);  /* frees the source too (LeakSanitizer checks) */
}

static void test_disk_new_errors(void **state)
{
	struct fixture *f = *state;
	struct file_source *src = (struct file_source *)0x1;
	char p[512];

	at(p, sizeof(p), f->tmp, "no-such-dir");
	assert_rc(file_source_disk_new(p, &src), -ENOENT);
	at(p, sizeof(p), f->root, "hello.txt");
	assert_rc(file_source_disk_new(p, &src), -ENOTDIR);
	assert_ptr_equal(src, (struct file_source *)0x1);
}

/* --- boot_file helpers --- */

static struct boot_file *owned(const char *s, size_t len)
{
	struct boot_file *bf = NULL;
	void *buf = malloc(len ? len : 1);

	assert_non_null(buf);
	if (len)
		memcpy(buf, s, len);
	assert_rc(boot_file_new_owned(buf, len, &bf), 0);
	return bf;
}

static void test_owned(void **state)
{
	struct boot_file *bf = owned("abc", 3);

	assert_int_equal(bf->size, 3);
	assert_content(bf, "abc", 3);
	assert_int_equal(bf->refs, 1);
	boot_file_ref(bf);
	boot_file_unref(bf);
	assert_int_equal(bf->refs, 1);
	boot_file_unref(bf);

	bf = owned("", 0);
	assert_int_equal(bf->size, 0);
	assert_null(bf->data);
	boot_file_unref(bf);
}

/* netascii streams from the shared descriptor of a file on disk. */
static void test_netascii_of_disk_file(void **state)
{
	struct fixture *f = *state;
	struct boot_file *bf = NULL;
	struct netascii_stream st;
	uint64_t size = 0;
	size_t len;

	assert_rc(open_path(f, "hello.txt", &bf), 0);
	assert_rc(netascii_count(bf, 1024, &size), 0);
	assert_int_equal(size, 14);
	assert_rc(netascii_count(bf, 12, &size), -EFBIG);  /* not read whole past the cap */
	assert_rc(netascii_stream_init(&st, bf, 512), 0);
	assert_rc(netascii_stream_fill(&st, 1), 0);
	assert_true(st.size_known);
	assert_int_equal(st.size, 14);
	assert_memory_equal(netascii_stream_block(&st, 1, &len), "hello, world\r\n", 14);
	assert_int_equal(len, 14);
	netascii_stream_free(&st);
	boot_file_unref(bf);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_regular_file),
		T(test_nested_binary),
		T(test_empty_file),
		T(test_missing),
		T(test_directory),
		T(test_not_a_directory),
		T(test_dotdot_refused_by_kernel),
		T(test_symlink_out_refused),
		T(test_symlink_inside_allowed),
		T(test_fifo_refused),
		T(test_unreadable),
		T(test_shared_and_refcounts),
		T(test_changed_file_is_new_version),
		T(test_source_outlives_its_owner),
		T(test_disk_new_errors),
		T(test_netascii_of_disk_file),
		cmocka_unit_test(test_owned),
	};

	return cmocka_run_group_tests_name("file_source", tests, NULL, NULL);
}
