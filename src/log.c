/* log.c - see log.h. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* The one piece of process-wide state outside the daemon object: the log
 * threshold, because every module logs and threading a logger through each
 * call would add nothing but noise. */
static enum log_level threshold = LOG_LEVEL_INFO;
/* Set once at startup, before any thread starts: prefix lines with <N>. */
static bool journal_prefix;

static const char *const level_names[] = {
	[LOG_LEVEL_DEBUG] = "debug",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_WARN] = "warn",
	[LOG_LEVEL_ERROR] = "error",
};

void log_set_level(enum log_level level)
{
	threshold = level;
}

int log_level_from_string(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void log_set_journal(bool on)
{
	journal_prefix = on;
}

int log_syslog_priority(enum log_level level)
{
	/* syslog(3) numbers: LOG_ERR 3, LOG_WARNING 4, LOG_INFO 6, LOG_DEBUG 7. */
	static const int prio[] = {
		[LOG_LEVEL_DEBUG] = 7,
		[LOG_LEVEL_INFO] = 6,
		[LOG_LEVEL_WARN] = 4,
		[LOG_LEVEL_ERROR] = 3,
	};

	return (size_t)level < sizeof(prio) / sizeof(prio[0]) ? prio[level] : 6;
}

bool log_journal_stream_matches(const char *value, int fd)
{
	unsigned long long dev, ino;
	struct stat st;
	int end = 0;

	/* systemd writes "DEV:INODE" in decimal (systemd.exec(5), $JOURNAL_STREAM). */
	if (!value || sscanf(value, "%llu:%llu%n", &dev, &ino, &end) != 2 || value[end] != '\0')
		return false;
	if (fstat(fd, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

bool log_enabled(enum log_level level)
{
	return level >= threshold;
}

void log_event(enum log_level level, const char *mod, const char *event,
	       const char *fmt, ...)
{
	char line[4096];  /* a boot timeline summary is the longest line */
	char prefix[8] = "";
	int n;
	va_list ap;

	if (!log_enabled(level))
		return;
	/* Under journald, "<N>" tells it the priority (SyslogLevelPrefix=,
	 * on by default) and is stripped: the journal keeps the logfmt line. */
	if (journal_prefix)
		snprintf(prefix, sizeof(prefix), "<%d>", log_syslog_priority(level));
	n = snprintf(line, sizeof(line), "%slevel=%s mod=%s event=%s", prefix,
		     level_names[level], mod, event);
	if (n < 0)
		return;
	if (fmt && *fmt && (size_t)n < sizeof(line) - 2) {
		line[n++] = ' ';
		va_start(ap, fmt);
		int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
		va_end(ap);
		if (m > 0)
			n += m;
	}
	if ((size_t)n >= sizeof(line) - 1)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	/* One write per line so concurrent writers (the test harness reading
	 * our stderr) never see interleaved halves. */
	fwrite(line, 1, (size_t)n, stderr);
	fflush(stderr);
}

/* Bytes needed to write c escaped. */
static size_t quoted_len(unsigned char c)
{
	if (c == '"' || c == '\\')
		return 2;
	return c < 0x20 || c > 0x7e ? 4 : 1;
}

char *log_quote(char *out, size_t outsize, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, total = 0, limit;
	bool cut;

	for (size_t i = 0; i < len && s[i]; i++)
		total += quoted_len((unsigned char)s[i]);
	/* Whole value when it fits with its quotes and NUL; else as much as
	 * fits before "..." and the closing quote. */
	cut = total + 3 > outsize;
	limit = cut ? outsize - 6 : total;
	out[o++] = '"';
	for (size_t i = 0; i < len && s[i]; i++) {
		unsigned char c = (unsigned char)s[i];
		size_t k = quoted_len(c);

		if (o - 1 + k > limit)
			break;
		if (k == 2) {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (k == 4) {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else {
			out[o++] = (char)c;
		}
	}
	if (cut) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o++] = '"';
	out[o] = '\0';
	return out;
}
