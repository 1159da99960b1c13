/* netascii_stream.h - a file's netascii blocks, converted as they are due.
 *
 * A netascii transfer sends the file converted (see netascii.h), which is
 * longer than the file by an amount known only once the file was read
 * through. Instead of converting the whole file up front, a stream keeps
 * a bounded buffer of converted blocks [first, first + count), filled a
 * span at a time (read ahead of the ACKs, as the binary path does), and
 * remembers for every block in it where in the source it starts (offset
 * and carried byte). Memory per transfer is fixed whatever the file's
 * size: the output buffer (at most NETASCII_STREAM_BUF_BYTES), a read
 * buffer and the marks.
 *
 * A retransmission, or a window restarted by RFC 7440, asks again for
 * blocks that may have left the buffer. The session names the oldest
 * block it may still need (netascii_stream_anchor()), and the stream keeps
 * where that block starts, so any block from there on can be converted
 * again, byte for byte the same.
 *
 * Reads go through boot_file_read(): pread() on the shared descriptor, or
 * a copy for an in-memory file. */
#ifndef KIDOU_NETASCII_STREAM_H
#define KIDOU_NETASCII_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "tftp/file_source.h"
#include "tftp/netascii.h"

/* Converted bytes buffered per fill: the binary path's read-ahead span. */
#define NETASCII_STREAM_BUF_BYTES (256 * 1024)
/* Blocks per fill, so that the marks stay small at tiny block sizes. */
#define NETASCII_STREAM_MAX_BLOCKS 512
/* Source bytes per pread(). */
#define NETASCII_STREAM_READ_BYTES (64 * 1024)

/* Where a converted block starts in the source. */
struct netascii_pos {
	uint64_t in_off;
	struct netascii_carry carry;
};

struct netascii_stream {
	const struct boot_file *file;  /* the source; the caller holds a reference */
	unsigned blksize;
	unsigned max_blocks;           /* blocks converted per fill */

	uint8_t *out;                  /* blocks [first, first + count), each blksize
					* bytes but the file's last */
	uint64_t first;
	unsigned count;
	struct netascii_pos *marks;    /* max_blocks + 1: block first + i starts at marks[i] */

	struct netascii_pos base;      /* where block base_block starts: at or before */
	uint64_t base_block;           /* the oldest block still needed */

	uint8_t *in;                   /* source bytes [in_off, in_off + in_len) */
	uint64_t in_off;
	size_t in_len;

	bool size_known;               /* the end was converted: */
	uint64_t size;                 /* the converted size */
};

/* Set up st for file at blksize (TFTP_BLKSIZE_MIN..TFTP_BLKSIZE_MAX).
 * Allocates the buffers; -ENOMEM. */
int netascii_stream_init(struct netascii_stream *st, const struct boot_file *file,
			 unsigned blksize);
/* Frees the buffers; safe on a zeroed or already freed stream. */
void netascii_stream_free(struct netascii_stream *st);

static inline bool netascii_stream_holds(const struct netascii_stream *st, uint64_t b)
{
	return st->count && b >= st->first && b < st->first + st->count;
}

/* Make the buffer hold block b (from 1), converting a span from b on, or
 * from the anchored block when b lies before the buffer. Returns 0,
 * -ERANGE when b is past the end (or before the anchor), -EIO when the
 * file shrank, or -errno. Sets size_known/size once the end is reached. */
int netascii_stream_fill(struct netascii_stream *st, uint64_t b);

/* No block before b will be asked for again (b is the oldest
 * unacknowledged block): remember where b starts if the buffer knows. */
void netascii_stream_anchor(struct netascii_stream *st, uint64_t b);

/* Block b's bytes in the buffer (netascii_stream_holds(st, b)) and, in
 * *len, its length. */
const uint8_t *netascii_stream_block(const struct netascii_stream *st, uint64_t b,
				     size_t *len);

/* The converted size of file, counted without a buffer the size of the
 * file: in-memory files always, files on disk only up to max_src bytes
 * (they are read whole to count). -EFBIG above that, or -errno. */
int netascii_count(const struct boot_file *file, uint64_t max_src, uint64_t *ret);

#endif
