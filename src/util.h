/* util.h - small helpers every module may use: cleanup attributes, fd
 * handling, bounded number parsing and the monotonic clock.
 *
 * Contract: nothing here allocates hidden state; every function is safe to
 * call with "empty" arguments (NULL, -1) where that makes sense. */
#ifndef KIDOU_UTIL_H
#define KIDOU_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* Close fd if it is >= 0; always returns -1 so callers can write
 * `fd = safe_close(fd);`. Preserves errno. */
int safe_close(int fd);

static inline void free_ptr(void *p) { free(*(void **)p); }
static inline void close_ptr(const int *fd) { safe_close(*fd); }

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(free_ptr)
#define _cleanup_close_ _cleanup_(close_ptr)

/* Hand ownership out of a _cleanup_ variable: returns the value and resets
 * the variable so the cleanup does nothing. */
#define TAKE_PTR(p) ({ __typeof__(p) _p = (p); (p) = NULL; _p; })
#define TAKE_FD(fd) ({ int _fd = (fd); (fd) = -1; _fd; })

/* Parse a decimal unsigned integer in [min, max]. The whole string must be
 * digits (no sign, no spaces, no trailing junk). Returns 0 and sets *out, or
 * -EINVAL (not a number) / -ERANGE (outside [min, max]); *out untouched on
 * failure. */
int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* "52:54:00:12:34:56": an Ethernet address as kidou logs and renders it. */
#define MAC_STRLEN 18
char *format_mac(const uint8_t mac[6], char out[MAC_STRLEN]);

/* Monotonic time in microseconds. */
uint64_t now_usec(void);

/* ASCII case-insensitive equality (locale-independent, as protocol option
 * names require). */
bool ascii_streq_nocase(const char *a, const char *b);

#endif
