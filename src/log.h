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

/* Under systemd, stderr goes to the journal: with on, every line starts
 * with "<N>", its syslog priority (debug 7, info 6, warn 4, error 3),
 * which journald turns into the entry's PRIORITY and strips. */
void log_set_journal(bool on);
int log_syslog_priority(enum log_level level);
/* True when value ($JOURNAL_STREAM, "DEV:INODE") names the file fd is
 * open on: stderr really is the journal stream, not a pipe or a file it
 * was redirected to after systemd set the variable. */
bool log_journal_stream_matches(const char *value, int fd);

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
