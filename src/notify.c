/* notify.c - see notify.h. */
#include "notify.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

int notify_address(const char *value, struct sockaddr_un *sa, socklen_t *len)
{
	size_t n = value ? strlen(value) : 0;

	if (n == 0)
		return -EINVAL;
	if (value[0] != '/' && value[0] != '@')
		return -EAFNOSUPPORT;
	/* A path needs its NUL inside sun_path; an abstract name does not
	 * (its length is the address length). */
	if (n > sizeof(sa->sun_path) - (value[0] == '/' ? 1 : 0) || n < 2)
		return -EINVAL;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, value, n);
	if (value[0] == '@')
		sa->sun_path[0] = '\0';
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (value[0] == '/'));
	return 0;
}

int notify_format(char *buf, size_t size, enum notify_state state, const char *status,
		  uint64_t monotonic_usec)
{
	static const char *const lines[] = {
		[NOTIFY_READY] = "READY=1\n",
		[NOTIFY_RELOADING] = "RELOADING=1\n",
		[NOTIFY_STOPPING] = "STOPPING=1\n",
		[NOTIFY_STATUS] = "",
	};
	size_t o = 0;
	int n;

	if ((size_t)state >= ARRAY_SIZE(lines))
		return -EINVAL;
	n = snprintf(buf, size, "%s", lines[state]);
	if (n < 0 || (size_t)n >= size)
		return -ENOBUFS;
	o = (size_t)n;
	if (state == NOTIFY_RELOADING) {
		n = snprintf(buf + o, size - o, "MONOTONIC_USEC=%llu\n",
			     (unsigned long long)monotonic_usec);
		if (n < 0 || (size_t)n >= size - o)
			return -ENOBUFS;
		o += (size_t)n;
	}
	if (status) {
		int line = (int)strcspn(status, "\n");

		n = snprintf(buf + o, size - o, "STATUS=%.*s\n", line, status);
		if (n < 0 || (size_t)n >= size - o)
			return -ENOBUFS;
		o += (size_t)n;
	}
	return (int)o;
}

int notify_open(struct notify *n, const char *value)
{
	struct sockaddr_un sa;
	socklen_t len;
	int fd, r;

	n->fd = -1;
	if (!value || !*value)
		return 0;
	r = notify_address(value, &sa, &len);
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)&sa, len) < 0) {
		r = -errno;
		safe_close(fd);
		return r;
	}
	n->fd = fd;
	return 0;
}

int notify_send(struct notify *n, enum notify_state state, const char *status)
{
	char buf[512];
	int len;

	if (n->fd < 0)
		return 0;
	len = notify_format(buf, sizeof(buf), state, status, now_usec());
	if (len < 0)
		return len;
	/* MSG_DONTWAIT: the event loop never waits on the manager. */
	if (send(n->fd, buf, (size_t)len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
		int r = -errno;
		log_warn("notify", "send-error", "error=\"%s\"", strerror(-r));
		return r;
	}
	return 0;
}

void notify_close(struct notify *n)
{
	n->fd = safe_close(n->fd);
}
