/* net.h - socket helpers shared by the protocol adapters.
 *
 * IPv4 only for now: PXE firmware speaks DHCPv4 and TFTP over IPv4. Every
 * socket is opened non-blocking and close-on-exec. */
#ifndef KIDOU_NET_H
#define KIDOU_NET_H

#include <netinet/in.h>
#include <stdbool.h>

/* "255.255.255.255:65535" plus NUL. */
#define NET_ENDPOINT_STRLEN 22

/* Parse "ADDR:PORT" (dotted IPv4, decimal port 0..65535). Returns 0 or
 * -EINVAL. */
int net_parse_endpoint(const char *s, struct sockaddr_in *out);

/* Format as "ADDR:PORT" into buf (NET_ENDPOINT_STRLEN bytes); returns buf. */
char *net_format_endpoint(const struct sockaddr_in *sa, char *buf);

/* A UDP socket bound to addr, exclusively (a taken port is -EADDRINUSE). With want_pktinfo, recvmsg() reports the
 * local address each datagram was sent to (IP_PKTINFO), so that a reply can
 * leave from the address the client talked to. Returns fd or -errno. */
int net_udp_bind(const struct sockaddr_in *addr, bool want_pktinfo);

/* A listening TCP socket bound to addr (SO_REUSEADDR, so a restart does
 * not wait for TIME_WAIT). Returns fd or -errno. */
int net_tcp_listen(const struct sockaddr_in *addr, int backlog);

/* Largest UDP datagram we will ever receive or send. */
#define NET_MAX_DATAGRAM 65535

#endif
