/* netascii_stream.c - see netascii_stream.h. */
#include "tftp/netascii_stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "util.h"

int netascii_stream_init(struct netascii_stream *st, const struct boot_file *file,
			 unsigned blksize)
{
	unsigned max_blocks = MAX(1u, MIN((unsigned)NETASCII_STREAM_MAX_BLOCKS,
					  (unsigned)(NETASCII_STREAM_BUF_BYTES / blksize)));

	*st = (struct netascii_stream){ .file = file, .blksize = blksize,
					.max_blocks = max_blocks, .base_block = 1 };
	st->out = malloc((size_t)max_blocks * blksize);
	st->marks = calloc(max_blocks + 1, sizeof(*st->marks));
	st->in = malloc(NETASCII_STREAM_READ_BYTES);
	if (!st->out || !st->marks || !st->in) {
		netascii_stream_free(st);
		return -ENOMEM;
	}
	if (file->size == 0) {
		st->size_known = true;
		st->size = 0;
	}
	return 0;
}

void netascii_stream_free(struct netascii_stream *st)
{
	free(st->out);
	free(st->marks);
	free(st->in);
	st->out = st->in = NULL;
	st->marks = NULL;
	st->count = 0;
}

static uint64_t n_blocks(const struct netascii_stream *st)
{
	return st->size / st->blksize + 1;
}

/* Make st->in hold source bytes from off on (at least one, off < size). */
static int read_source(struct netascii_stream *st, uint64_t off)
{
	size_t n = (size_t)MIN((uint64_t)NETASCII_STREAM_READ_BYTES, st->file->size - off);
	struct iovec iov = { st->in, n };
	int r;

	if (off >= st->in_off && off < st->in_off + st->in_len)
		return 0;
	st->in_len = 0;
	r = boot_file_read(st->file, off, &iov, 1);
	if (r < 0)
		return r;
	st->in_off = off;
	st->in_len = n;
	return 0;
}

/* Convert one block starting at *pos into out. Returns its length (short
 * only for the file's last block) or -errno; moves *pos past it. */
static int convert_block(struct netascii_stream *st, struct netascii_pos *pos, uint8_t *out)
{
	size_t filled = 0;

	while (filled < st->blksize) {
		size_t skip, used, n;
		int r;

		if (pos->in_off >= st->file->size) {
			/* Only a carried byte can be left. */
			n = netascii_encode(&pos->carry, NULL, 0, &used, out + filled,
					    st->blksize - filled);
			filled += n;
			break;
		}
		r = read_source(st, pos->in_off);
		if (r < 0)
			return r;
		skip = (size_t)(pos->in_off - st->in_off);
		n = netascii_encode(&pos->carry, st->in + skip, st->in_len - skip, &used,
				    out + filled, st->blksize - filled);
		filled += n;
		pos->in_off += used;
	}
	return (int)filled;
}

/* Replace the buffer with up to max_blocks blocks from block s, which
 * starts at pos. */
static int convert_span(struct netascii_stream *st, uint64_t s, struct netascii_pos pos)
{
	st->first = s;
	st->count = 0;
	st->marks[0] = pos;
	while (st->count < st->max_blocks) {
		int len = convert_block(st, &pos, st->out + (size_t)st->count * st->blksize);

		if (len < 0) {
			st->count = 0;
			return len;
		}
		st->count++;
		st->marks[st->count] = pos;
		if ((unsigned)len < st->blksize) {
			/* A short block ends the transfer (RFC 1350). */
			st->size_known = true;
			st->size = (s + st->count - 2) * st->blksize + (unsigned)len;
			break;
		}
	}
	return 0;
}

int netascii_stream_fill(struct netascii_stream *st, uint64_t b)
{
	struct netascii_pos pos;
	uint64_t s;

	if (b == 0 || (st->size_known && b > n_blocks(st)))
		return -ERANGE;
	if (netascii_stream_holds(st, b))
		return 0;
	if (st->count && b >= st->first && b <= st->first + st->count) {
		/* Next in line, or inside: convert from its own mark. */
		s = b;
		pos = st->marks[b - st->first];
	} else if (st->count && b > st->first + st->count &&
		   st->first + st->count > st->base_block) {
		/* Far ahead: go on from the buffer's end. */
		s = st->first + st->count;
		pos = st->marks[st->count];
	} else if (b >= st->base_block) {
		/* Gone from the buffer (a retransmission after the buffer
		 * moved on), or far ahead: convert again from the anchor. */
		s = st->base_block;
		pos = st->base;
	} else {
		return -ERANGE;
	}
	for (;;) {
		int r = convert_span(st, s, pos);

		if (r < 0)
			return r;
		if (netascii_stream_holds(st, b))
			return 0;
		if (st->size_known && st->first + st->count - 1 >= n_blocks(st))
			return -ERANGE;  /* b lies past the last block */
		s = st->first + st->count;
		pos = st->marks[st->count];
	}
}

void netascii_stream_anchor(struct netascii_stream *st, uint64_t b)
{
	if (b <= st->base_block)
		return;
	if (st->count && b >= st->first && b <= st->first + st->count) {
		st->base = st->marks[b - st->first];
		st->base_block = b;
	}
}

const uint8_t *netascii_stream_block(const struct netascii_stream *st, uint64_t b,
				     size_t *len)
{
	*len = st->blksize;
	if (st->size_known && b == n_blocks(st))
		*len = (size_t)(st->size - (b - 1) * st->blksize);
	return st->out + (size_t)(b - st->first) * st->blksize;
}

int netascii_count(const struct boot_file *file, uint64_t max_src, uint64_t *ret)
{
	struct iovec iov;
	uint8_t *buf;
	int r;

	if (file->fd < 0) {
		*ret = file->size ? netascii_encoded_len(file->data, (size_t)file->size) : 0;
		return 0;
	}
	if (file->size > max_src)
		return -EFBIG;
	buf = malloc(file->size ? (size_t)file->size : 1);
	if (!buf)
		return -ENOMEM;
	iov = (struct iovec){ buf, (size_t)file->size };
	r = boot_file_read(file, 0, &iov, 1);
	if (r == 0)
		*ret = netascii_encoded_len(buf, (size_t)file->size);
	free(buf);
	return r;
}
