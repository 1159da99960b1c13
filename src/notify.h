/* notify.h - tell a service manager (systemd, Type=notify) what kidou is
 * doing, by the sd_notify protocol written out by hand: one datagram of
 * newline-separated VAR=VALUE lines to the AF_UNIX socket named by
 * $NOTIFY_SOCKET (a path, or '@' for the abstract namespace). See
 * sd_notify(3) and systemd's "Service Manager Notification" document;
 * libsystemd would be one more runtime dependency for these ~100 lines.
 *
 *   READY=1                      every socket is open: start is done
 *   RELOADING=1 MONOTONIC_USEC=  a SIGHUP reload begins (READY=1 ends it)
 *   STOPPING=1                   a stop signal was taken
 *   STATUS=...                   one line for `systemctl status`
 *
 * Without $NOTIFY_SOCKET every call is a no-op, so kidou run by hand or by
 * the tests behaves as before. */
#ifndef KIDOU_NOTIFY_H
#define KIDOU_NOTIFY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

enum notify_state {
	NOTIFY_READY,
	NOTIFY_RELOADING,
	NOTIFY_STOPPING,
	NOTIFY_STATUS,  /* STATUS= alone */
};

struct notify {
	int fd;  /* -1: no service manager listens */
};

/* Parse $NOTIFY_SOCKET's value into an address: "/path" or "@abstract"
 * (the '@' becomes the leading NUL). Returns 0, -EINVAL when empty or too
 * long, -EAFNOSUPPORT for other forms (vsock:, which kidou does not
 * speak). Pure. */
int notify_address(const char *value, struct sockaddr_un *sa, socklen_t *len);

/* Format the datagram for state into buf: the state's lines, then
 * STATUS=status when status is non-NULL (a newline in it is cut there:
 * one line per variable). monotonic_usec is for RELOADING=1, which
 * systemd wants stamped with CLOCK_MONOTONIC. Returns the length, or
 * -ENOBUFS. Pure. */
int notify_format(char *buf, size_t size, enum notify_state state, const char *status,
		  uint64_t monotonic_usec);

/* Open and connect a datagram socket to value ($NOTIFY_SOCKET; NULL or ""
 * leaves n->fd at -1 and returns 0). Connected at startup, before any
 * privilege drop: the permission to write to a path socket is checked at
 * connect(), and kidou's seccomp filter allows the sends that follow.
 * Returns 0 or -errno (n->fd stays -1). */
int notify_open(struct notify *n, const char *value);

/* Send one message; never blocks (a full queue drops it, with a warning
 * in the log). No-op when n->fd < 0. Returns 0 or -errno. */
int notify_send(struct notify *n, enum notify_state state, const char *status);

void notify_close(struct notify *n);

#endif
