/* net.c - see net.h. */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"

int net_parse_endpoint(const char *s, struct sockaddr_in *out)
{
	char host[INET_ADDRSTRLEN];
	const char *colon = strrchr(s, ':');
	struct sockaddr_in sa = { .sin_family = AF_INET };
	uint64_t port;
	size_t hlen;

	if (!colon)
		return -EINVAL;
	hlen = (size_t)(colon - s);
	if (hlen == 0 || hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return -EINVAL;
	if (parse_uint(colon + 1, 0, 65535, &port) < 0)
		return -EINVAL;
	sa.sin_port = htons((uint16_t)port);
	*out = sa;
	return 0;
}

char *net_format_endpoint(const struct sockaddr_in *sa, char *buf)
{
	char host[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &sa->sin_addr, host, sizeof(host));
	snprintf(buf, NET_ENDPOINT_STRLEN, "%s:%u", host, ntohs(sa->sin_port));
	return buf;
}

int net_udp_bind(const struct sockaddr_in *addr, bool want_pktinfo)
{
	int one = 1;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	/* No SO_REUSEADDR: for UDP on Linux it lets two sockets share a port,
	 * so a second daemon would silently steal requests and two transfers
	 * could be handed the same ephemeral port. */
	if (want_pktinfo &&
	    setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) < 0)
		goto fail;
	if (bind(fd, (const struct sockaddr *)addr, sizeof(*addr)) < 0)
		goto fail;
	return fd;
fail:
	{
		int r = -errno;
		safe_close(fd);
		return r;
	}
}

int net_tcp_listen(const struct sockaddr_in *addr, int backlog)
{
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (const struct sockaddr *)addr, sizeof(*addr)) < 0 ||
	    listen(fd, backlog) < 0) {
		int r = -errno;
		safe_close(fd);
		return r;
	}
	return fd;
}
