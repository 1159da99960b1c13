/* test_notify.c - notify.h: $NOTIFY_SOCKET's address forms, the datagrams
 * of the sd_notify protocol, and a send to a socket the test binds. */
#include "unit.h"

#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"

static void test_address_path(void **state)
{
	struct sockaddr_un sa;
	socklen_t len;

	assert_rc(notify_address("/run/systemd/notify", &sa, &len), 0);
	assert_int_equal(sa.sun_family, AF_UNIX);
	assert_string_equal(sa.sun_path, "/run/systemd/notify");
	/* the path with its NUL */
	assert_int_equal(len, offsetof(struct sockaddr_un, sun_path) + 20);
}

static void test_address_abstract(void **state)
{
	struct sockaddr_un sa;
	socklen_t len;

	assert_rc(notify_address("@kidou/test", &sa, &len), 0);
	assert_int_equal(sa.sun_path[0], '\0');
	assert_memory_equal(sa.sun_path + 1, "kidou/test", 10);
	/* an abstract name's length is the address length: no NUL counted */
	assert_int_equal(len, offsetof(struct sockaddr_un, sun_path) + 11);
}

static void test_address_rejects(void **state)
{
	struct sockaddr_un sa;
	socklen_t len;
	char longest[sizeof(sa.sun_path) + 2];

	assert_rc(notify_address(NULL, &sa, &len), -EINVAL);
	assert_rc(notify_address("", &sa, &len), -EINVAL);
	assert_rc(notify_address("@", &sa, &len), -EINVAL);
	assert_rc(notify_address("relative/path", &sa, &len), -EAFNOSUPPORT);
	assert_rc(notify_address("vsock:2:1234", &sa, &len), -EAFNOSUPPORT);
	/* A path fills sun_path only with its NUL; an abstract name may fill it all. */
	memset(longest, 'a', sizeof(longest));
	longest[0] = '/';
	longest[sizeof(sa.sun_path)] = '\0';
	assert_rc(notify_address(longest, &sa, &len), -EINVAL);
	longest[sizeof(sa.sun_path) - 1] = '\0';
	assert_rc(notify_address(longest, &sa, &len), 0);
	memset(longest, 'a', sizeof(longest));
	longest[0] = '@';
	longest[sizeof(sa.sun_path)] = '\0';
	assert_rc(notify_address(longest, &sa, &len), 0);
	longest[sizeof(sa.sun_path)] = 'a';
	longest[sizeof(sa.sun_path) + 1] = '\0';
	assert_rc(notify_address(longest, &sa, &len), -EINVAL);
}

static void test_format(void **state)
{
	char buf[128];

	assert_rc(notify_format(buf, sizeof(buf), NOTIFY_READY, NULL, 0), 8);
	assert_string_equal(buf, "READY=1\n");
	assert_rc(notify_format(buf, sizeof(buf), NOTIFY_READY, "serving TFTP", 0), 28);
	assert_string_equal(buf, "READY=1\nSTATUS=serving TFTP\n");
	/* RELOADING=1 carries CLOCK_MONOTONIC in µs (systemd 253's
	 * Type=notify-reload needs it; older managers ignore it). */
	notify_format(buf, sizeof(buf), NOTIFY_RELOADING, "reloading", 123456789);
	assert_string_equal(buf, "RELOADING=1\nMONOTONIC_USEC=123456789\nSTATUS=reloading\n");
	notify_format(buf, sizeof(buf), NOTIFY_STOPPING, NULL, 0);
	assert_string_equal(buf, "STOPPING=1\n");
	notify_format(buf, sizeof(buf), NOTIFY_STATUS, "busy", 0);
	assert_string_equal(buf, "STATUS=busy\n");
	/* A newline would start a new variable: the status stops there. */
	notify_format(buf, sizeof(buf), NOTIFY_STATUS, "one\nREADY=1", 0);
	assert_string_equal(buf, "STATUS=one\n");
}

static void test_format_nobufs(void **state)
{
	char buf[40];

	assert_rc(notify_format(buf, 8, NOTIFY_READY, NULL, 0), -ENOBUFS);  /* no room for NUL */
	assert_rc(notify_format(buf, 9, NOTIFY_READY, NULL, 0), 8);
	assert_rc(notify_format(buf, 20, NOTIFY_RELOADING, NULL, 0), -ENOBUFS);
	assert_rc(notify_format(buf, sizeof(buf), NOTIFY_READY,
				"a status longer than forty bytes, cut?", 0), -ENOBUFS);
	assert_rc(notify_format(buf, sizeof(buf), (enum notify_state)99, NULL, 0), -EINVAL);
}

/* Through a real socket, abstract form: one datagram per message. */
static void test_send_abstract(void **state)
{
	char name[64], buf[256];
	struct sockaddr_un sa;
	socklen_t len;
	struct notify n;
	int srv;
	ssize_t got;

	snprintf(name, sizeof(name), "@kidou-test-notify-%d", (int)getpid());
	assert_rc(notify_address(name, &sa, &len), 0);
	srv = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(srv >= 0);
	assert_rc(bind(srv, (struct sockaddr *)&sa, len), 0);
	assert_rc(notify_open(&n, name), 0);
	assert_rc(notify_send(&n, NOTIFY_READY, "ok"), 0);
	assert_rc(notify_send(&n, NOTIFY_STOPPING, NULL), 0);
	got = recv(srv, buf, sizeof(buf) - 1, 0);
	assert_int_equal(got, 18);
	buf[got] = '\0';
	assert_string_equal(buf, "READY=1\nSTATUS=ok\n");
	got = recv(srv, buf, sizeof(buf) - 1, 0);
	buf[got] = '\0';
	assert_string_equal(buf, "STOPPING=1\n");
	notify_close(&n);
	assert_int_equal(n.fd, -1);
	close(srv);
}

static void test_open_without_manager(void **state)
{
	struct notify n = { .fd = 7 };

	assert_rc(notify_open(&n, NULL), 0);
	assert_int_equal(n.fd, -1);
	assert_rc(notify_open(&n, ""), 0);
	assert_rc(notify_send(&n, NOTIFY_READY, NULL), 0);  /* a no-op */
	/* Nobody bound there: connect fails, the caller warns and goes on. */
	assert_rc(notify_open(&n, "@kidou-test-nobody-listens-here"), -ECONNREFUSED);
	assert_int_equal(n.fd, -1);
	notify_close(&n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_address_path),
		cmocka_unit_test(test_address_abstract),
		cmocka_unit_test(test_address_rejects),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_format_nobufs),
		cmocka_unit_test(test_send_abstract),
		cmocka_unit_test(test_open_without_manager),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
