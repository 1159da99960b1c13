/* log.h - one event per line, logfmt, to stderr.
 *
 *   level=info mod=tftp event=rrq peer=127.0.0.1:40000 file="pxelinux.0"
 *
 * Callers pass the key=value body themselves; values that come from the
 * network must go through log_quote() first so that a hostile name cannot
 * forge fields or lines. Codecs never log. */
#ifndef KIDOU_LOG_H
#define KIDOU_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level {
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR,
};

void log_set_level(enum log_level level);
/* Returns 0 and sets *out for "debug", "info", "warn", "error"; else -EINVAL. */
int log_level_from_string(const char *s, enum log_level *out);
bool log_enabled(enum log_level level);

/* Emit "level=L mod=MOD event=EVENT <body>" as one line. */
void log_event(enum log_level level, const char *mod, const char *event,
	       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define log_debug(mod, ev, ...) \
	do { if (log_enabled(LOG_LEVEL_DEBUG)) log_event(LOG_LEVEL_DEBUG, mod, ev, __VA_ARGS__); } while (0)
#define log_info(mod, ev, ...) log_event(LOG_LEVEL_INFO, mod, ev, __VA_ARGS__)
#define log_warn(mod, ev, ...) log_event(LOG_LEVEL_WARN, mod, ev, __VA_ARGS__)
#define log_error(mod, ev, ...) log_event(LOG_LEVEL_ERROR, mod, ev, __VA_ARGS__)

/* Write s (at most len bytes, stopping at NUL) into out as a double-quoted
 * logfmt value: '"' and '\\' are escaped, bytes outside printable ASCII
 * become \xHH. The result is truncated (with "...") to fit outsize, which
 * must be at least 8. Returns out. */
char *log_quote(char *out, size_t outsize, const char *s, size_t len);

#endif
