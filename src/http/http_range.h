/* http_range.h - the Range request header (RFC 9110 section 14), for one
 * range of bytes. Pure.
 *
 *   bytes=0-499     the first 500 bytes
 *   bytes=500-      from byte 500 to the end
 *   bytes=-500      the last 500 bytes
 *
 * An end past the file is cut to the file (RFC 9110 14.1.2). Several
 * ranges in one header are refused: boot clients never send them, and
 * answering overlapping ranges is a known amplification. */
#ifndef KIDOU_HTTP_RANGE_H
#define KIDOU_HTTP_RANGE_H

#include <stdint.h>

/* Returns 0 with [*start, *start + *len) inside a file of `size` bytes;
 * -EINVAL when the header is not a byte range we understand (serve the
 * whole file, as RFC 9110 allows); -ERANGE when it cannot be satisfied
 * (416); -EOPNOTSUPP for several ranges (416). */
int http_range_parse(const char *header, uint64_t size, uint64_t *start, uint64_t *len);

#endif
