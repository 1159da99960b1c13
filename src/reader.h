/* reader.h - the one bounds-checked cursor every wire decoder uses.
 *
 * A reader is a pointer and a count of bytes left. Every rd_* call checks
 * what is left first and leaves the reader untouched on failure, so a
 * decoder can never read past the end of a datagram. All return 0 on
 * success or -EBADMSG when the input is too short (or, for rd_cstr, has no
 * terminating NUL). */
#ifndef KIDOU_READER_H
#define KIDOU_READER_H

#include <stddef.h>
#include <stdint.h>

struct reader {
	const uint8_t *p; /* next unread byte */
	size_t left;      /* bytes remaining after p */
};

static inline struct reader reader_init(const void *buf, size_t len)
{
	return (struct reader){ .p = buf, .left = len };
}

int rd_u8(struct reader *r, uint8_t *out);
int rd_be16(struct reader *r, uint16_t *out);
int rd_be32(struct reader *r, uint32_t *out);
/* Little-endian, for formats that are (PE/COFF). */
int rd_le16(struct reader *r, uint16_t *out);
int rd_le32(struct reader *r, uint32_t *out);
/* Copy n bytes into out (out may be NULL to skip them). */
int rd_bytes(struct reader *r, void *out, size_t n);
/* A NUL-terminated string lying wholly inside the reader. *out points into
 * the buffer, *len is its length without the NUL; the reader moves past the
 * NUL. */
int rd_cstr(struct reader *r, const char **out, size_t *len);

#endif
