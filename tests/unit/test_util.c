/* test_util.c - util.h (parse_uint, ascii_streq_nocase, safe_close, the
 * cleanup helpers) and log.h (log_quote, levels, the line log_event
 * writes). */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/* --- parse_uint --- */

struct uint_case {
	const char *s;
	uint64_t min, max;
	int rc;
	uint64_t value;  /* when rc == 0 */
};

static void test_parse_uint_table(void **state)
{
	static const struct uint_case cases[] = {
		{ "0", 0, 10, 0, 0 },
		{ "7", 0, 10, 0, 7 },
		{ "10", 0, 10, 0, 10 },
		{ "11", 0, 10, -ERANGE, 0 },
		{ "4", 5, 10, -ERANGE, 0 },
		{ "5", 5, 10, 0, 5 },
		{ "007", 0, 10, 0, 7 },          /* leading zeros are digits */
		{ "65535", 0, 65535, 0, 65535 },
		{ "65536", 0, 65535, -ERANGE, 0 },
		{ "18446744073709551615", 0, UINT64_MAX, 0, UINT64_MAX },
		{ "18446744073709551616", 0, UINT64_MAX, -ERANGE, 0 },
		{ "99999999999999999999999", 0, UINT64_MAX, -ERANGE, 0 },
		{ "", 0, 10, -EINVAL, 0 },
		{ "-1", 0, 10, -EINVAL, 0 },
		{ "+1", 0, 10, -EINVAL, 0 },
		{ " 1", 0, 10, -EINVAL, 0 },
		{ "1 ", 0, 10, -EINVAL, 0 },
		{ "1a", 0, 10, -EINVAL, 0 },
		{ "0x10", 0, 100, -EINVAL, 0 },
		{ "1.0", 0, 10, -EINVAL, 0 },
		{ "1e3", 0, 10000, -EINVAL, 0 },
		{ "\xd9\xa3", 0, 10, -EINVAL, 0 },  /* U+0663 ARABIC-INDIC THREE */
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct uint_case *c = &cases[i];
		uint64_t out = 0xdeadbeef;
		int r = parse_uint(c->s, c->min, c->max, &out);

		if (r != c->rc)
			print_error("case %zu: \"%s\"\n", i, c->s);
		assert_rc(r, c->rc);
		if (c->rc == 0)
			assert_int_equal(out, c->value);
		else
			assert_int_equal(out, 0xdeadbeef);  /* untouched */
	}
}

static void test_parse_uint_null(void **state)
{
	uint64_t out = 3;

	assert_rc(parse_uint(NULL, 0, 10, &out), -EINVAL);
	assert_int_equal(out, 3);
}

/* --- ascii_streq_nocase --- */

static void test_streq_nocase(void **state)
{
	assert_true(ascii_streq_nocase("blksize", "blksize"));
	assert_true(ascii_streq_nocase("BlkSize", "bLKsIZE"));
	assert_true(ascii_streq_nocase("", ""));
	assert_true(ascii_streq_nocase("OCTET", "octet"));
	assert_false(ascii_streq_nocase("blksize", "blksiz"));
	assert_false(ascii_streq_nocase("blksiz", "blksize"));
	assert_false(ascii_streq_nocase("", "a"));
	assert_false(ascii_streq_nocase("a", ""));
	assert_false(ascii_streq_nocase("tsize", "tsizf"));
	/* Only A-Z fold: these pairs differ by 0x20 but are not letters. */
	assert_false(ascii_streq_nocase("@", "`"));
	assert_false(ascii_streq_nocase("[", "{"));
	assert_false(ascii_streq_nocase("^", "~"));
	/* No locale folding of non-ASCII bytes (É vs é in Latin-1). */
	assert_false(ascii_streq_nocase("\xc9", "\xe9"));
	assert_true(ascii_streq_nocase("\xc9", "\xc9"));
	assert_true(ascii_streq_nocase("WINDOWSIZE", "windowsize"));
}

/* --- safe_close and the cleanup helpers --- */

static void test_safe_close(void **state)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	errno = EAGAIN;
	assert_int_equal(safe_close(fd), -1);
	assert_int_equal(errno, EAGAIN);  /* preserved */
	assert_int_equal(fcntl(fd, F_GETFD), -1);  /* really closed */
	assert_int_equal(errno, EBADF);
	errno = EINTR;
	assert_int_equal(safe_close(-1), -1);
	assert_int_equal(errno, EINTR);
}

static int cleanup_fd_seen = -1;

static void open_with_cleanup(void)
{
	_cleanup_close_ int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	cleanup_fd_seen = fd;
}

static int take_fd(void)
{
	_cleanup_close_ int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	return TAKE_FD(fd);
}

static char *take_ptr(void)
{
	_cleanup_free_ char *p = strdup("kept");

	return TAKE_PTR(p);
}

static void test_cleanup(void **state)
{
	int fd;
	char *p;

	open_with_cleanup();
	assert_true(cleanup_fd_seen >= 0);
	assert_int_equal(fcntl(cleanup_fd_seen, F_GETFD), -1);

	fd = take_fd();
	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFD) >= 0);  /* survived the scope */
	safe_close(fd);

	p = take_ptr();  /* ASan reports a use-after-free if TAKE_PTR failed */
	assert_string_equal(p, "kept");
	free(p);
}

static void test_now_usec(void **state)
{
	uint64_t a = now_usec(), b;

	usleep(2000);
	b = now_usec();
	assert_true(a > 0);
	assert_true(b >= a + 1000);
	assert_true(b - a < 10 * 1000000u);
}

/* --- log_quote --- */

static void check_quote(size_t outsize, const char *s, size_t len,
			const char *expected)
{
	char out[300];

	assert_true(outsize <= sizeof(out) - 8);
	memset(out, 'Z', sizeof(out));
	assert_ptr_equal(log_quote(out, outsize, s, len), out);
	assert_string_equal(out, expected);
	for (size_t i = outsize; i < sizeof(out); i++)
		assert_int_equal(out[i], 'Z');  /* nothing written past outsize */
}

static void test_quote_plain(void **state)
{
	check_quote(64, "pxelinux.0", SIZE_MAX, "\"pxelinux.0\"");
	check_quote(64, "", SIZE_MAX, "\"\"");
	check_quote(64, "a b=c", SIZE_MAX, "\"a b=c\"");
	check_quote(64, "~", SIZE_MAX, "\"~\"");
}

static void test_quote_escapes(void **state)
{
	check_quote(64, "a\"b", SIZE_MAX, "\"a\\\"b\"");
	check_quote(64, "a\\b", SIZE_MAX, "\"a\\\\b\"");
	/* a forged second log line becomes visible bytes */
	check_quote(64, "x\nlevel=error", SIZE_MAX, "\"x\\x0alevel=error\"");
	check_quote(64, "\r\t\x1f\x7f\x80\xff", SIZE_MAX,
		    "\"\\x0d\\x09\\x1f\\x7f\\x80\\xff\"");
	check_quote(64, " ", SIZE_MAX, "\" \"");
}

static void test_quote_len(void **state)
{
	/* len bounds the input; a NUL inside len also stops it */
	check_quote(64, "abcdef", 3, "\"abc\"");
	check_quote(64, "abcdef", 0, "\"\"");
	check_quote(64, "ab\0cd", 5, "\"ab\"");
}

static void test_quote_truncates(void **state)
{
	char big[200];
	char out[32];
	size_t n;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_quote(out, sizeof(out), big, SIZE_MAX);
	n = strlen(out);
	assert_true(n <= sizeof(out) - 1);
	assert_int_equal(out[0], '"');
	assert_string_equal(out + n - 4, "...\"");
	for (size_t i = 1; i < n - 4; i++)
		assert_int_equal(out[i], 'x');

	/* the smallest allowed buffer */
	check_quote(8, "abcdefghijkl", SIZE_MAX, "\"ab...\"");
}

static void test_quote_never_splits_escape(void **state)
{
	char nl[100];
	char out[16];
	size_t n;

	memset(nl, '\n', sizeof(nl) - 1);
	nl[sizeof(nl) - 1] = '\0';
	for (size_t outsize = 8; outsize <= sizeof(out); outsize++) {
		log_quote(out, outsize, nl, SIZE_MAX);
		n = strlen(out);
		assert_true(n < outsize);
		assert_string_equal(out + n - 4, "...\"");
		/* body is whole "\x0a" groups */
		assert_int_equal((n - 5) % 4, 0);
		for (size_t i = 1; i + 4 < n; i += 4)
			assert_memory_equal(out + i, "\\x0a", 4);
	}
}

/* The contract: truncate only what does not fit. A value whose quoted form
 * fits in outsize must come back whole. */
static void test_quote_fits_exactly(void **state)
{
	/* "abc" quoted is 5 characters + NUL = 6 bytes <= 8 */
	check_quote(8, "abc", SIZE_MAX, "\"abc\"");
	/* 13 characters quoted + NUL = 16 bytes */
	check_quote(16, "01234567890", SIZE_MAX, "\"01234567890\"");
	check_quote(16, "0123456789012", SIZE_MAX, "\"0123456789012\"");
	/* one more and it must be cut */
	check_quote(16, "01234567890123", SIZE_MAX, "\"0123456789...\"");
}

/* --- levels and log_event --- */

static void test_levels(void **state)
{
	enum log_level l = LOG_LEVEL_ERROR;

	assert_rc(log_level_from_string("debug", &l), 0);
	assert_int_equal(l, LOG_LEVEL_DEBUG);
	assert_rc(log_level_from_string("info", &l), 0);
	assert_int_equal(l, LOG_LEVEL_INFO);
	assert_rc(log_level_from_string("warn", &l), 0);
	assert_int_equal(l, LOG_LEVEL_WARN);
	assert_rc(log_level_from_string("error", &l), 0);
	assert_int_equal(l, LOG_LEVEL_ERROR);
	l = LOG_LEVEL_WARN;
	assert_rc(log_level_from_string("warning", &l), -EINVAL);
	assert_rc(log_level_from_string("", &l), -EINVAL);
	assert_rc(log_level_from_string("INFO", &l), -EINVAL);
	assert_int_equal(l, LOG_LEVEL_WARN);

	log_set_level(LOG_LEVEL_WARN);
	assert_false(log_enabled(LOG_LEVEL_DEBUG));
	assert_false(log_enabled(LOG_LEVEL_INFO));
	assert_true(log_enabled(LOG_LEVEL_WARN));
	assert_true(log_enabled(LOG_LEVEL_ERROR));
	log_set_level(LOG_LEVEL_DEBUG);
	assert_true(log_enabled(LOG_LEVEL_DEBUG));
	log_set_level(LOG_LEVEL_INFO);
}

/* Run fn with stderr redirected to a temporary file; return what it wrote
 * (malloc'd, NUL-terminated) and its length. */
static char *capture_stderr(void (*fn)(void), size_t *len)
{
	FILE *tmp = tmpfile();
	int saved;
	long n;
	char *buf;

	assert_non_null(tmp);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);
	fn();
	fflush(stderr);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	n = lseek(fileno(tmp), 0, SEEK_END);
	assert_true(n >= 0);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(pread(fileno(tmp), buf, (size_t)n, 0), n);
	buf[n] = '\0';
	fclose(tmp);
	*len = (size_t)n;
	return buf;
}

static void emit_info(void)
{
	log_info("tftp", "rrq", "peer=%s blksize=%u", "10.0.0.7:1024", 1408u);
}

static void emit_filtered(void)
{
	log_set_level(LOG_LEVEL_WARN);
	log_info("tftp", "rrq", "x=%d", 1);
	log_debug("tftp", "drop", "reason=%s", "short");
	log_warn("tftp", "slow", "peer=%s", "10.0.0.8:2000");
	log_set_level(LOG_LEVEL_INFO);
}

static void emit_long(void)
{
	char body[6000];  /* longer than a log line (4096) */

	memset(body, 'x', sizeof(body) - 1);
	body[sizeof(body) - 1] = '\0';
	log_error("m", "e", "v=%s", body);
}

static void test_log_event_line(void **state)
{
	size_t len;
	char *s = capture_stderr(emit_info, &len);

	assert_string_equal(s, "level=info mod=tftp event=rrq peer=10.0.0.7:1024 blksize=1408\n");
	free(s);
}

static void test_log_event_filtered(void **state)
{
	size_t len;
	char *s = capture_stderr(emit_filtered, &len);

	/* below the threshold nothing is written, at it exactly one line */
	assert_string_equal(s, "level=warn mod=tftp event=slow peer=10.0.0.8:2000\n");
	free(s);
}

static void test_log_event_long_line(void **state)
{
	size_t len;
	char *s = capture_stderr(emit_long, &len);

	/* bounded, still exactly one line */
	assert_int_equal(len, 4095);
	assert_int_equal(s[len - 1], '\n');
	assert_null(memchr(s, '\n', len - 1));
	assert_memory_equal(s, "level=error mod=m event=e v=xxx", 31);
	free(s);
}

/* --- under systemd: <N> priority prefixes and $JOURNAL_STREAM --- */

static void emit_journal(void)
{
	log_set_level(LOG_LEVEL_DEBUG);
	log_set_journal(true);
	log_debug("dhcp", "drop", "reason=%s", "short");
	log_info("tftp", "rrq", "file=%s", "\"a\"");
	log_warn("tftp", "slow", "x=%d", 1);
	log_error("main", "reload", "action=%s", "keep-old");
	log_set_journal(false);
	log_info("tftp", "rrq", "plain=%s", "again");
	log_set_level(LOG_LEVEL_INFO);
}

static void test_log_journal_prefix(void **state)
{
	size_t len;
	char *s = capture_stderr(emit_journal, &len);

	/* syslog priorities debug 7, info 6, warning 4, err 3; the rest of
	 * each line is the same logfmt as without the prefix */
	assert_string_equal(s,
		"<7>level=debug mod=dhcp event=drop reason=short\n"
		"<6>level=info mod=tftp event=rrq file=\"a\"\n"
		"<4>level=warn mod=tftp event=slow x=1\n"
		"<3>level=error mod=main event=reload action=keep-old\n"
		"level=info mod=tftp event=rrq plain=again\n");
	free(s);
}

static void emit_journal_long(void)
{
	log_set_journal(true);
	emit_long();
	log_set_journal(false);
}

static void test_log_journal_long_line(void **state)
{
	size_t len;
	char *s = capture_stderr(emit_journal_long, &len);

	assert_int_equal(len, 4095);
	assert_int_equal(s[len - 1], '\n');
	assert_null(memchr(s, '\n', len - 1));
	assert_memory_equal(s, "<3>level=error mod=m event=e v=xxx", 34);
	free(s);
}

static void test_journal_stream_matches(void **state)
{
	FILE *tmp = tmpfile();
	struct stat st;
	char v[64];

	assert_non_null(tmp);
	assert_rc(fstat(fileno(tmp), &st), 0);
	snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	assert_true(log_journal_stream_matches(v, fileno(tmp)));
	/* another file: stderr was redirected after systemd set the variable */
	snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino + 1);
	assert_false(log_journal_stream_matches(v, fileno(tmp)));
	snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev + 1,
		 (unsigned long long)st.st_ino);
	assert_false(log_journal_stream_matches(v, fileno(tmp)));
	snprintf(v, sizeof(v), "%llu:%llux", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	assert_false(log_journal_stream_matches(v, fileno(tmp)));
	assert_false(log_journal_stream_matches(NULL, fileno(tmp)));
	assert_false(log_journal_stream_matches("", fileno(tmp)));
	assert_false(log_journal_stream_matches("12", fileno(tmp)));
	assert_false(log_journal_stream_matches("a:b", fileno(tmp)));
	assert_false(log_journal_stream_matches("1:2", -1));
	fclose(tmp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_uint_table),
		cmocka_unit_test(test_parse_uint_null),
		cmocka_unit_test(test_streq_nocase),
		cmocka_unit_test(test_safe_close),
		cmocka_unit_test(test_cleanup),
		cmocka_unit_test(test_now_usec),
		cmocka_unit_test(test_quote_plain),
		cmocka_unit_test(test_quote_escapes),
		cmocka_unit_test(test_quote_len),
		cmocka_unit_test(test_quote_truncates),
		cmocka_unit_test(test_quote_never_splits_escape),
		cmocka_unit_test(test_quote_fits_exactly),
		cmocka_unit_test(test_levels),
		cmocka_unit_test(test_log_event_line),
		cmocka_unit_test(test_log_event_filtered),
		cmocka_unit_test(test_log_event_long_line),
		cmocka_unit_test(test_log_journal_prefix),
		cmocka_unit_test(test_log_journal_long_line),
		cmocka_unit_test(test_journal_stream_matches),
	};

	return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
