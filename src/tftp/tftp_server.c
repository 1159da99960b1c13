/* tftp_server.c - see tftp_server.h. */
#include "tftp/tftp_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/udp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "net.h"
#include "tftp/file_source.h"
#include "tftp/netascii_stream.h"
#include "tftp/tftp_options.h"
#include "path.h"
#include "tftp/tftp_session.h"
#include "tftp/tftp_wire.h"
#include "util.h"

#define MOD "tftp"
/* DATA packets handed to the kernel per sendmmsg() call (overridable at
 * build time to measure what batching buys). */
#ifndef SEND_BATCH
#define SEND_BATCH 64
#endif
/* Block data buffered per sendmmsg() batch when reading from disk. */
#define BATCH_BUF_BYTES (256 * 1024)
/* UDP GSO: at most this many segments, and this many bytes, per send. */
#define GSO_MAX_SEGMENTS 64
#define GSO_MAX_BYTES 65000
/* Datagrams read per wakeup before yielding to other handles. */
#define RECV_BUDGET 64
/* A logged file name: long enough for any sane path, bounded for hostile
 * ones. */
#define LOG_NAME_MAX 256
#define OACK_MAX 160
/* netascii and tsize (RFC 2349): the converted size is known only after
 * reading the whole file, and a read of a big file would stall the loop.
 * Files up to this size are counted (read once: no more than one
 * read-ahead of a transfer); above it tsize is left out of the OACK, as
 * RFC 2349 allows. Text files served in netascii are small in practice. */
#define NETASCII_TSIZE_MAX_SRC (64 * 1024)

struct tftp_settings {
	struct tftp_limits limits;
	unsigned max_transfers;
	unsigned retransmit_ms;
	unsigned retries;
};

struct tftp_transfer {
	struct tftp_server *server;
	struct tftp_transfer *next, *prev;

	int fd;
	struct loop_io io;
	struct loop_timer timer;
	struct sockaddr_in peer;
	struct sockaddr_in local;

	struct boot_file *file;
	struct tftp_session session;
	unsigned timeout_ms;

	/* DATA blocks queued but not yet accepted by the kernel (it said
	 * EAGAIN); sent when the socket is writable again. */
	uint64_t send_next, send_end;

	uint8_t oack[OACK_MAX];
	size_t oack_len;

	bool no_gso;  /* the route's MTU is below a GSO segment: batch instead */
	uint8_t *batch_buf;  /* block data for sendmmsg() from a file on disk */
	uint64_t buf_first;  /* batch_buf holds blocks [buf_first, +buf_count) */
	unsigned buf_count;
	bool read_failed;    /* the file shrank under us: end the transfer */
	/* netascii (RFC 1350): converted block by block as they are due,
	 * never the whole file; the session's size is an upper bound until
	 * the stream reaches the end. Blocks then come from na, not from
	 * batch_buf. */
	bool netascii;
	struct netascii_stream na;

	uint64_t started_usec;
	uint64_t bytes_sent;
	char peer_str[NET_ENDPOINT_STRLEN];
	char name[LOG_NAME_MAX];  /* quoted for the log */
	char event_name[64];      /* normalised path, for boot_events */
	bool tsize_asked;         /* the request carried tsize (RFC 2349) */
};

struct tftp_server {
	struct loop *loop;
	struct file_source *source;
	struct tftp_settings settings;

	int fd;
	struct loop_io io;
	struct sockaddr_in listen;

	struct tftp_transfer *transfers;
	unsigned n_transfers;

	void (*on_idle)(void *data);
	void *on_idle_data;

	struct tftp_stats stats;
	struct boot_events *events;  /* may be NULL */
	bool gso_broken;  /* the kernel refused UDP_SEGMENT once: stop trying */
	uint8_t buf[NET_MAX_DATAGRAM + 1];
	uint8_t gso_buf[NET_MAX_DATAGRAM];
};

static void settings_from_config(struct tftp_settings *st, const struct tftp_config *cfg)
{
	st->limits.max_blksize = cfg->max_blksize;
	st->limits.max_windowsize = cfg->max_windowsize;
	st->max_transfers = cfg->max_transfers;
	st->retransmit_ms = cfg->retransmit_ms;
	st->retries = cfg->retries;
}

/* --- transfers --- */

static void transfer_free_deferred(void *data)
{
	struct tftp_transfer *t = data;

	netascii_stream_free(&t->na);
	boot_file_unref(t->file);
	free(t->batch_buf);
	free(t);
}

static void transfer_end(struct tftp_transfer *t)
{
	struct tftp_server *s = t->server;

	if (t->prev)
		t->prev->next = t->next;
	else
		s->transfers = t->next;
	if (t->next)
		t->next->prev = t->prev;
	s->n_transfers--;
	loop_io_del(s->loop, &t->io);
	loop_timer_disarm(s->loop, &t->timer);
	t->fd = safe_close(t->fd);
	/* The transfer may be ending inside its own callback: free it once
	 * the loop has finished dispatching. */
	if (loop_defer(s->loop, transfer_free_deferred, t) < 0)
		transfer_free_deferred(t);  /* only on ENOMEM; no callback holds t then */
	if (s->n_transfers == 0 && s->on_idle)
		s->on_idle(s->on_idle_data);
}

static void emit_file_event(struct tftp_server *s, enum boot_event_kind kind,
			    const struct sockaddr_in *peer, const char *name, uint64_t bytes,
			    bool ok, const char *reason)
{
	struct boot_event ev = { .kind = kind, .at_usec = now_usec(),
				 .ip = ntohl(peer->sin_addr.s_addr), .proto = "tftp",
				 .name = name, .bytes = bytes, .ok = ok, .reason = reason };

	boot_events_emit(s->events, &ev);
}

static void transfer_log_end(struct tftp_transfer *t, bool ok, const char *reason)
{
	uint64_t usec = now_usec() - t->started_usec;
	uint64_t ms = usec / 1000;
	uint64_t acked_bytes = MIN(t->session.acked * t->session.blksize, t->session.size);
	/* KiB/s over the whole transfer; at least 1 us to avoid dividing by 0. */
	uint64_t rate = acked_bytes * 1000000 / 1024 / (usec ? usec : 1);

	if (ok) {
		t->server->stats.completed++;
		log_info(MOD, "done", "peer=%s file=%s bytes=%llu duration_ms=%llu rate_kib_s=%llu retransmits=%llu",
			 t->peer_str, t->name, (unsigned long long)t->session.size,
			 (unsigned long long)ms, (unsigned long long)rate,
			 (unsigned long long)t->session.retransmits);
	} else {
		t->server->stats.failed++;
		log_warn(MOD, "fail", "peer=%s file=%s reason=%s bytes_acked=%llu of=%llu duration_ms=%llu retransmits=%llu",
			 t->peer_str, t->name, reason, (unsigned long long)acked_bytes,
			 (unsigned long long)t->session.size, (unsigned long long)ms,
			 (unsigned long long)t->session.retransmits);
	}
	emit_file_event(t->server, BOOT_EV_FILE_END, &t->peer, t->event_name,
			t->session.size, ok, reason);
}

static void transfer_send_error(struct tftp_transfer *t, const struct sockaddr_in *to,
				uint16_t code, const char *msg)
{
	uint8_t pkt[128];
	int n = tftp_encode_error(pkt, sizeof(pkt), code, msg);

	if (n > 0)
		sendto(t->fd, pkt, (size_t)n, 0, (const struct sockaddr *)to, sizeof(*to));
}

static void transfer_count_sent(struct tftp_transfer *t, uint64_t first, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		size_t len = tftp_session_block_len(&t->session, first + i);
		t->bytes_sent += len;
		t->server->stats.bytes_sent += len;
	}
}

static int transfer_buf_ready(struct tftp_transfer *t);

/* Send up to max blocks from t->send_next as one UDP GSO super-datagram:
 * the kernel cuts it into DATA packets of 4 + blksize bytes (the last may
 * be shorter, as the file's last block is). One trip through the UDP stack
 * per window instead of one per block. Returns blocks sent, 0 when GSO
 * does not apply, or -errno. */
static int transfer_send_gso(struct tftp_transfer *t, unsigned max)
{
	struct tftp_server *s = t->server;
	size_t seg = TFTP_DATA_HEADER_LEN + t->session.blksize;
	unsigned n = (unsigned)MIN((size_t)max, MIN((size_t)GSO_MAX_SEGMENTS, GSO_MAX_BYTES / seg));
	char cbuf[CMSG_SPACE(sizeof(uint16_t))] = { 0 };
	struct iovec iov;
	struct msghdr mh = {
		.msg_name = &t->peer, .msg_namelen = sizeof(t->peer),
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	uint16_t gso_size = (uint16_t)seg;
	size_t off = 0;

	if (s->gso_broken || t->no_gso || n < 2)
		return 0;
	if (t->netascii) {
		/* Converted blocks: only as many as the stream holds. */
		int avail = transfer_buf_ready(t);

		if (avail <= 0)
			return avail;
		n = MIN(n, (unsigned)avail);
	}
	struct iovec data[GSO_MAX_SEGMENTS];

	for (unsigned i = 0; i < n; i++) {
		uint64_t b = t->send_next + i;
		size_t len = tftp_session_block_len(&t->session, b);

		/* Only the last segment may be short. */
		if (len < t->session.blksize && i + 1 < n)
			n = i + 1;
		tftp_encode_data_header(s->gso_buf + off, (uint16_t)b);
		data[i] = (struct iovec){ s->gso_buf + off + TFTP_DATA_HEADER_LEN, len };
		off += TFTP_DATA_HEADER_LEN + len;
	}
	if (n < 2)
		return 0;
	/* The window's blocks are contiguous in the file: one read fills
	 * every segment's payload in place. */
	if (t->netascii) {
		for (unsigned i = 0; i < n; i++) {
			size_t len;
			const uint8_t *p = netascii_stream_block(&t->na, t->send_next + i, &len);
			if (data[i].iov_len)
				memcpy(data[i].iov_base, p, data[i].iov_len);
		}
	} else if (boot_file_read(t->file, tftp_session_block_offset(&t->session, t->send_next),
				  data, (int)n) < 0) {
		return -EIO;
	}
	iov = (struct iovec){ s->gso_buf, off };
	cm->cmsg_level = SOL_UDP;
	cm->cmsg_type = UDP_SEGMENT;
	cm->cmsg_len = CMSG_LEN(sizeof(gso_size));
	memcpy(CMSG_DATA(cm), &gso_size, sizeof(gso_size));
	if (sendmsg(t->fd, &mh, 0) < 0) {
		if (errno == EMSGSIZE) {
			/* A segment larger than the path MTU: GSO will not
			 * fragment it, plain sends will. */
			t->no_gso = true;
			return 0;
		}
		if (errno == EIO || errno == EINVAL || errno == ENOPROTOOPT ||
		    errno == EOPNOTSUPP) {
			/* No GSO on this kernel or route: batch instead. */
			s->gso_broken = true;
			log_info(MOD, "gso", "state=off error=\"%s\"", strerror(errno));
			return 0;
		}
		return -errno;
	}
	return (int)n;
}

/* Convert netascii blocks from b on. The end of the file, once converted,
 * fixes the transfer's real size, and a window planned on the upper
 * bound is cut there. */
static int transfer_fill_netascii(struct tftp_transfer *t, uint64_t b)
{
	int r = netascii_stream_fill(&t->na, b);

	if (t->na.size_known && t->na.size != t->session.size) {
		tftp_session_set_size(&t->session, t->na.size);
		t->send_end = MIN(t->send_end, t->session.n_blocks + 1);
		t->send_next = MIN(t->send_next, t->send_end);
	}
	/* -ERANGE: b lies past the end; the window was cut above. */
	return r == -ERANGE ? 0 : r;
}

/* Read blocks [first, first + n) of a file on disk into the transfer's
 * buffer (netascii: convert a span from first on). */
static int transfer_fill_buf(struct tftp_transfer *t, uint64_t first, unsigned n)
{
	size_t room = MAX((size_t)BATCH_BUF_BYTES, (size_t)t->session.blksize);
	struct iovec whole;

	if (t->netascii)
		return transfer_fill_netascii(t, first);

	t->buf_count = 0;
	if (!t->batch_buf && !(t->batch_buf = malloc(room)))
		return -ENOMEM;
	whole = (struct iovec){ t->batch_buf, 0 };
	for (unsigned i = 0; i < n; i++)
		whole.iov_len += tftp_session_block_len(&t->session, first + i);
	if (boot_file_read(t->file, tftp_session_block_offset(&t->session, first), &whole, 1) < 0)
		return -EIO;
	t->buf_first = first;
	t->buf_count = n;
	return 0;
}

static bool buf_holds(const struct tftp_transfer *t, uint64_t b)
{
	if (t->netascii)
		return netascii_stream_holds(&t->na, b);
	return t->buf_count && b >= t->buf_first && b < t->buf_first + t->buf_count;
}

/* Blocks come from a buffer, filled ahead of the ACKs: a file on disk, or
 * any file sent in netascii. */
static bool transfer_buffered(const struct tftp_transfer *t)
{
	return t->netascii || t->file->fd >= 0;
}

/* Blocks from first that fill the buffer, none past the file's last. */
static unsigned buf_span(const struct tftp_transfer *t, uint64_t first)
{
	size_t room = MAX((size_t)BATCH_BUF_BYTES, (size_t)t->session.blksize);
	uint64_t fit = MAX((size_t)1, room / t->session.blksize);

	return (unsigned)MIN(fit, t->session.n_blocks - first + 1);
}

/* In lock step (windowsize 1) every round trip would wait for a read of
 * the next block. The buffer is filled a whole span at a time (256 KiB:
 * 512 blocks at blksize 512), and refilled right after a send, while the
 * block travels and the client acknowledges it, so an ACK is answered
 * with a send alone. A read that fails here is left to the send path,
 * which reports it. */
static void transfer_read_ahead(struct tftp_transfer *t)
{
	uint64_t next = t->send_end;

	if (!transfer_buffered(t) || t->session.windowsize != 1 || next > t->session.n_blocks ||
	    buf_holds(t, next))
		return;
	if (transfer_fill_buf(t, next, buf_span(t, next)) < 0)
		t->buf_count = 0;
}

/* Make the buffer hold t->send_next. Returns how many blocks from there
 * it holds that are due (>= 1), 0 when nothing is left to send (a
 * netascii window cut at the end), or -errno. */
static int transfer_buf_ready(struct tftp_transfer *t)
{
	uint64_t end;

	if (!buf_holds(t, t->send_next)) {
		int r = transfer_fill_buf(t, t->send_next, buf_span(t, t->send_next));
		if (r < 0)
			return r;
	}
	if (t->send_next >= t->send_end)
		return 0;
	if (!buf_holds(t, t->send_next))
		return -EIO;
	end = t->netascii ? t->na.first + t->na.count : t->buf_first + t->buf_count;
	return (int)MIN(end - t->send_next, MIN(t->send_end - t->send_next, (uint64_t)INT_MAX));
}

/* Send up to max blocks from t->send_next with one sendmmsg() call.
 * Returns blocks sent or -errno. */
static int transfer_send_batch(struct tftp_transfer *t, unsigned max)
{
	struct mmsghdr msgs[SEND_BATCH];
	struct iovec iov[SEND_BATCH][2];
	uint8_t hdr[SEND_BATCH][TFTP_DATA_HEADER_LEN];
	unsigned n = MIN(max, (unsigned)SEND_BATCH);
	/* In memory, blocks are sent from where they lie; from disk, from
	 * this transfer's buffer, which starts at the batch's first block. */
	const uint8_t *src = t->file->data;
	uint64_t src_off = 0;
	int sent;

	if (transfer_buffered(t)) {
		/* On disk or converted: from this transfer's buffer, read now
		 * unless it already holds the block (read ahead, or a
		 * retransmission). */
		int avail = transfer_buf_ready(t);

		if (avail <= 0)
			return avail;
		n = MIN(n, (unsigned)avail);
		src = t->netascii ? t->na.out : t->batch_buf;
		src_off = tftp_session_block_offset(&t->session,
						    t->netascii ? t->na.first : t->buf_first);
	}
	for (unsigned i = 0; i < n; i++) {
		uint64_t b = t->send_next + i;
		size_t len = tftp_session_block_len(&t->session, b);

		tftp_encode_data_header(hdr[i], (uint16_t)b);
		iov[i][0] = (struct iovec){ hdr[i], TFTP_DATA_HEADER_LEN };
		iov[i][1] = (struct iovec){
			(void *)(len ? src + (tftp_session_block_offset(&t->session, b) - src_off) : NULL),
			len };
		msgs[i] = (struct mmsghdr){ .msg_hdr = {
			.msg_name = &t->peer, .msg_namelen = sizeof(t->peer),
			.msg_iov = iov[i], .msg_iovlen = 2 } };
	}
	sent = sendmmsg(t->fd, msgs, n, 0);
	return sent < 0 ? -errno : sent;
}

/* Hand queued DATA blocks to the kernel: a window per system call where
 * UDP GSO works, else a batch per sendmmsg(). */
static void transfer_flush(struct tftp_transfer *t)
{
	struct tftp_server *s = t->server;

	while (t->send_next < t->send_end) {
		unsigned want = (unsigned)MIN(t->send_end - t->send_next, (uint64_t)UINT16_MAX);
		int sent = transfer_send_gso(t, want);

		if (sent == 0)
			sent = transfer_send_batch(t, want);
		if (sent == -EINTR)
			continue;
		if (sent == -EIO || sent == -ENOMEM) {
			t->read_failed = true;
			t->send_next = t->send_end;
			break;
		}
		if (sent == -EAGAIN || sent == -EWOULDBLOCK) {
			loop_io_set_events(s->loop, &t->io, EPOLLIN | EPOLLOUT);
			return;
		}
		if (sent < 0) {
			/* e.g. ECONNREFUSED from an earlier ICMP: the timer
			 * retransmits or gives up. */
			log_debug(MOD, "send-error", "peer=%s error=\"%s\"", t->peer_str,
				  strerror(-sent));
			t->send_next = t->send_end;
			break;
		}
		transfer_count_sent(t, t->send_next, (unsigned)sent);
		t->send_next += (uint64_t)sent;
	}
	if (t->io.events & EPOLLOUT)
		loop_io_set_events(s->loop, &t->io, EPOLLIN);
}

/* Flush, and end the transfer if its file could not be read (it shrank
 * since it was opened). Returns false if the transfer ended. */
static bool transfer_flush_or_end(struct tftp_transfer *t)
{
	transfer_flush(t);
	if (!t->read_failed)
		return true;
	transfer_log_end(t, false, "file-changed");
	transfer_send_error(t, &t->peer, TFTP_ERR_UNDEFINED, "file changed during transfer");
	transfer_end(t);
	return false;
}

/* Perform what the session decided. Returns false if the transfer ended. */
static bool transfer_act(struct tftp_transfer *t, struct tftp_action a)
{
	struct tftp_server *s = t->server;

	switch (a.kind) {
	case TFTP_ACTION_NONE:
		return true;
	case TFTP_ACTION_SEND_OACK:
		sendto(t->fd, t->oack, t->oack_len, 0, (struct sockaddr *)&t->peer,
		       sizeof(t->peer));
		break;
	case TFTP_ACTION_SEND_DATA:
		/* a.first is the oldest unacknowledged block: nothing before
		 * it will be asked for again. */
		if (t->netascii)
			netascii_stream_anchor(&t->na, a.first);
		t->send_next = a.first;
		t->send_end = a.first + a.count;
		if (!transfer_flush_or_end(t))
			return false;
		loop_timer_arm(s->loop, &t->timer, (uint64_t)t->timeout_ms * 1000);
		if (t->send_next == t->send_end)
			transfer_read_ahead(t);
		return true;
	case TFTP_ACTION_DONE:
		transfer_log_end(t, true, NULL);
		transfer_end(t);
		return false;
	case TFTP_ACTION_FAIL:
		transfer_log_end(t, false, "timeout");
		transfer_send_error(t, &t->peer, TFTP_ERR_UNDEFINED, "timed out");
		transfer_end(t);
		return false;
	}
	loop_timer_arm(s->loop, &t->timer, (uint64_t)t->timeout_ms * 1000);
	return true;
}

static void transfer_on_timer(struct loop_timer *timer)
{
	struct tftp_transfer *t = timer->data;

	transfer_act(t, tftp_session_on_timeout(&t->session));
}

static bool same_endpoint(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
	return a->sin_addr.s_addr == b->sin_addr.s_addr && a->sin_port == b->sin_port;
}

/* Returns false if the transfer ended. */
static bool transfer_on_datagram(struct tftp_transfer *t, const uint8_t *buf,
				 size_t len, const struct sockaddr_in *from)
{
	struct tftp_server *s = t->server;
	struct tftp_packet p;
	char msg[96];

	if (!same_endpoint(from, &t->peer)) {
		char who[NET_ENDPOINT_STRLEN];
		/* RFC 1350: a packet from a stranger is answered with error 5
		 * and the transfer goes on. */
		log_debug(MOD, "drop", "reason=unknown-tid from=%s transfer_peer=%s",
			  net_format_endpoint(from, who), t->peer_str);
		s->stats.dropped++;
		transfer_send_error(t, from, TFTP_ERR_UNKNOWN_TID, "unknown transfer ID");
		return true;
	}
	if (tftp_decode(buf, len, &p) < 0) {
		log_debug(MOD, "drop", "reason=malformed peer=%s len=%zu", t->peer_str, len);
		s->stats.dropped++;
		return true;
	}
	switch (p.opcode) {
	case TFTP_OP_ACK:
		return transfer_act(t, tftp_session_on_ack(&t->session, p.ack.block));
	case TFTP_OP_ERROR:
		if (t->tsize_asked && t->session.state == TFTP_SESSION_OACK_SENT) {
			/* PXE firmware (OVMF, the PXE spec's MTFTP "get file
			 * size") asks once for tsize only and aborts after the
			 * OACK: a normal question answered, not a failure. */
			s->stats.size_probes++;
			log_info(MOD, "size-probe", "peer=%s file=%s size=%llu code=%u",
				 t->peer_str, t->name, (unsigned long long)t->session.size,
				 p.error.code);
			emit_file_event(s, BOOT_EV_FILE_PROBE, &t->peer, t->event_name,
					t->session.size, true, NULL);
			transfer_end(t);
			return false;
		}
		/* The client gave up (or refused our OACK, RFC 2347). */
		snprintf(msg, sizeof(msg), "client-error code=%u message=", p.error.code);
		{
			char quoted[80];
			char reason[200];
			log_quote(quoted, sizeof(quoted), p.error.message, SIZE_MAX);
			snprintf(reason, sizeof(reason), "%s%s", msg, quoted);
			transfer_log_end(t, false, reason);
		}
		transfer_end(t);
		return false;
	default:
		log_debug(MOD, "drop", "reason=unexpected-opcode opcode=%u peer=%s",
			  p.opcode, t->peer_str);
		s->stats.dropped++;
		return true;
	}
}

static void transfer_on_io(struct loop_io *io, uint32_t revents)
{
	struct tftp_transfer *t = io->data;
	struct tftp_server *s = t->server;

	if ((revents & EPOLLOUT) && !transfer_flush_or_end(t))
		return;
	if (!(revents & (EPOLLIN | EPOLLERR)))
		return;
	/* One datagram per wakeup: a transfer socket rarely holds more than
	 * the ACK just answered, and the loop (level-triggered) comes back
	 * for any other; this saves the recvfrom() that would only say
	 * EAGAIN, a quarter of the system calls per block. */
	for (int i = 0; i < 1; i++) {
		struct sockaddr_in from;
		socklen_t fromlen = sizeof(from);
		ssize_t n = recvfrom(t->fd, s->buf, sizeof(s->buf), 0,
				     (struct sockaddr *)&from, &fromlen);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* EAGAIN, or a queued ICMP error (ECONNREFUSED) that
			 * the retransmit timer will deal with. */
			return;
		}
		if (fromlen != sizeof(from) || from.sin_family != AF_INET)
			continue;
		if (!transfer_on_datagram(t, s->buf, (size_t)n, &from))
			return;
	}
}

/* --- requests on the listening socket --- */

struct request_ctx {
	struct sockaddr_in peer;
	struct in_addr local;  /* address the client sent to */
	char peer_str[NET_ENDPOINT_STRLEN];
};

/* Answer a request we will not serve, from the listening socket and the
 * local address the client used. */
static void server_reject(struct tftp_server *s, const struct request_ctx *rq,
			  const char *name, uint16_t code, const char *msg,
			  const char *reason)
{
	uint8_t pkt[160];
	int n = tftp_encode_error(pkt, sizeof(pkt), code, msg);
	char cbuf[CMSG_SPACE(sizeof(struct in_pktinfo))] = { 0 };
	struct iovec iov;
	struct msghdr mh = {
		.msg_name = (void *)&rq->peer, .msg_namelen = sizeof(rq->peer),
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	struct in_pktinfo pi = { .ipi_spec_dst = rq->local };

	s->stats.rejected++;
	log_info(MOD, "reject", "peer=%s file=%s error=%u reason=%s", rq->peer_str,
		 name, code, reason);
	if (n < 0)
		return;
	iov = (struct iovec){ pkt, (size_t)n };
	cm->cmsg_level = IPPROTO_IP;
	cm->cmsg_type = IP_PKTINFO;
	cm->cmsg_len = CMSG_LEN(sizeof(pi));
	memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
	if (rq->local.s_addr == htonl(INADDR_ANY))
		mh.msg_control = NULL, mh.msg_controllen = 0;
	sendmsg(s->fd, &mh, 0);
}

static void open_error(int err, uint16_t *code, const char **msg, const char **reason)
{
	switch (err) {
	case -ENOENT:
	case -ENOTDIR:
		*code = TFTP_ERR_NOT_FOUND, *msg = "file not found", *reason = "not-found";
		return;
	case -EXDEV:
	case -ELOOP:
		*code = TFTP_ERR_ACCESS, *msg = "access violation", *reason = "outside-root";
		return;
	case -EISDIR:
		*code = TFTP_ERR_ACCESS, *msg = "access violation", *reason = "is-directory";
		return;
	case -EACCES:
	case -EPERM:
		*code = TFTP_ERR_ACCESS, *msg = "access violation", *reason = "permission";
		return;
	case -EFBIG:
		*code = TFTP_ERR_UNDEFINED, *msg = "file too large", *reason = "too-large";
		return;
	case -ENAMETOOLONG:
		*code = TFTP_ERR_ILLEGAL_OP, *msg = "bad file name", *reason = "name-too-long";
		return;
	default:
		*code = TFTP_ERR_UNDEFINED, *msg = "cannot read file", *reason = "io-error";
		return;
	}
}

/* Build the OACK text for what was accepted; tsize carries the size. */
static int build_oack(struct tftp_transfer *t, const struct tftp_negotiated *neg)
{
	char blk[12], win[12], tmo[12], tsz[24];
	struct tftp_option opts[4];
	size_t n = 0;
	int len;

	if (neg->has_blksize) {
		snprintf(blk, sizeof(blk), "%u", neg->blksize);
		opts[n++] = (struct tftp_option){ "blksize", blk };
	}
	if (neg->has_timeout) {
		snprintf(tmo, sizeof(tmo), "%u", neg->timeout_sec);
		opts[n++] = (struct tftp_option){ "timeout", tmo };
	}
	if (neg->has_tsize) {
		/* The bytes sent: netascii counts the converted size. */
		snprintf(tsz, sizeof(tsz), "%llu", (unsigned long long)t->session.size);
		opts[n++] = (struct tftp_option){ "tsize", tsz };
	}
	if (neg->has_windowsize) {
		snprintf(win, sizeof(win), "%u", neg->windowsize);
		opts[n++] = (struct tftp_option){ "windowsize", win };
	}
	len = tftp_encode_oack(t->oack, sizeof(t->oack), opts, n);
	if (len < 0)
		return len;
	t->oack_len = (size_t)len;
	return 0;
}

static void server_start_transfer(struct tftp_server *s, const struct request_ctx *rq,
				  const struct tftp_request *req, const char *name,
				  const char *path, struct boot_file *file,
				  const struct tftp_negotiated *neg, uint64_t size)
{
	struct tftp_transfer *t = calloc(1, sizeof(*t));
	struct sockaddr_in local = { .sin_family = AF_INET, .sin_addr = rq->local };
	int fd;

	if (!t) {
		boot_file_unref(file);
		server_reject(s, rq, name, TFTP_ERR_UNDEFINED, "out of memory", "no-memory");
		return;
	}
	t->file = file;
	fd = net_udp_bind(&local, false);
	if (fd < 0) {
		transfer_free_deferred(t);
		server_reject(s, rq, name, TFTP_ERR_UNDEFINED, "no socket", "no-socket");
		return;
	}
	t->server = s;
	t->fd = fd;
	t->peer = rq->peer;
	t->local = local;
	memcpy(t->peer_str, rq->peer_str, sizeof(t->peer_str));
	snprintf(t->name, sizeof(t->name), "%s", name);
	snprintf(t->event_name, sizeof(t->event_name), "%.*s", (int)sizeof(t->event_name) - 1, path);
	t->tsize_asked = neg->has_tsize;
	t->timeout_ms = neg->has_timeout ? neg->timeout_sec * 1000 : s->settings.retransmit_ms;
	t->started_usec = now_usec();
	loop_timer_init(&t->timer, transfer_on_timer, t);
	t->io = (struct loop_io){ .fd = fd, .events = EPOLLIN, .cb = transfer_on_io, .data = t };
	tftp_session_init(&t->session, size, neg->blksize, neg->windowsize,
			  s->settings.retries);
	t->netascii = req->mode == TFTP_MODE_NETASCII;
	if (t->netascii && netascii_stream_init(&t->na, file, neg->blksize) < 0) {
		safe_close(t->fd);
		transfer_free_deferred(t);
		server_reject(s, rq, name, TFTP_ERR_UNDEFINED, "out of memory", "no-memory");
		return;
	}
	if (build_oack(t, neg) < 0 || loop_io_add(s->loop, &t->io) < 0) {
		safe_close(t->fd);
		transfer_free_deferred(t);
		server_reject(s, rq, name, TFTP_ERR_UNDEFINED, "internal error", "internal");
		return;
	}
	t->next = s->transfers;
	if (s->transfers)
		s->transfers->prev = t;
	s->transfers = t;
	s->n_transfers++;

	log_info(MOD, "start", "peer=%s file=%s mode=%s size=%llu blksize=%u windowsize=%u timeout_ms=%u tsize=%s oack=%s",
		 t->peer_str, t->name, tftp_mode_name(req->mode),
		 (unsigned long long)file->size, neg->blksize, neg->windowsize,
		 t->timeout_ms, neg->has_tsize ? "yes" : "no",
		 tftp_negotiated_any(neg) ? "yes" : "no");
	emit_file_event(s, BOOT_EV_FILE_START, &t->peer, t->event_name, 0, true, NULL);
	transfer_act(t, tftp_session_start(&t->session, tftp_negotiated_any(neg)));
}

static void server_on_request(struct tftp_server *s, const struct request_ctx *rq,
			      const struct tftp_request *req)
{
	char path[PATH_NAME_MAX];
	char name[LOG_NAME_MAX];
	struct file_request freq = { .client = &rq->peer, .local = rq->local };
	struct tftp_negotiated neg;
	struct boot_file *file = NULL;
	uint64_t size;
	uint16_t code;
	const char *msg, *reason;
	int r;

	s->stats.requests++;
	log_quote(name, sizeof(name), req->filename, req->filename_len);
	if (req->mode != TFTP_MODE_OCTET && req->mode != TFTP_MODE_NETASCII) {
		server_reject(s, rq, name, TFTP_ERR_ILLEGAL_OP, "unsupported mode", "bad-mode");
		return;
	}
	r = path_normalize(req->filename, req->filename_len, path, sizeof(path));
	if (r == -EACCES) {
		server_reject(s, rq, name, TFTP_ERR_ACCESS, "access violation", "dotdot");
		return;
	}
	if (r < 0) {
		server_reject(s, rq, name, TFTP_ERR_ILLEGAL_OP, "bad file name",
			      r == -ENAMETOOLONG ? "name-too-long" : "bad-name");
		return;
	}
	r = tftp_options_negotiate(req->options, req->n_options, &s->settings.limits, &neg);
	if (r < 0) {
		char opt[64];
		char reason_buf[96];
		log_quote(opt, sizeof(opt), neg.refused, SIZE_MAX);
		snprintf(reason_buf, sizeof(reason_buf), "bad-option option=%s", opt);
		server_reject(s, rq, name, TFTP_ERR_OPTION_REFUSED, "bad option value", reason_buf);
		return;
	}
	if (s->n_transfers >= s->settings.max_transfers) {
		server_reject(s, rq, name, TFTP_ERR_UNDEFINED, "server busy, try again",
			      "busy");
		emit_file_event(s, BOOT_EV_FILE_MISS, &rq->peer, path, 0, false, "busy");
		return;
	}
	r = file_source_open(s->source, path, &freq, &file);
	if (r < 0) {
		open_error(r, &code, &msg, &reason);
		server_reject(s, rq, name, code, msg, reason);
		emit_file_event(s, BOOT_EV_FILE_MISS, &rq->peer, path, 0, false, reason);
		return;
	}
	size = file->size;
	if (req->mode == TFTP_MODE_NETASCII) {
		/* Converted as sent; the size sent is at most twice the
		 * file's (every byte a CR or LF) and exact only at the end,
		 * unless counted for tsize. */
		size = 2 * file->size;
		if (neg.has_tsize) {
			r = netascii_count(file, NETASCII_TSIZE_MAX_SRC, &size);
			if (r < 0) {
				log_debug(MOD, "tsize-omitted", "peer=%s file=%s mode=netascii reason=%s",
					  rq->peer_str, name, r == -EFBIG ? "too-large" : "io-error");
				neg.has_tsize = false;
				size = 2 * file->size;
			}
		}
	}
	server_start_transfer(s, rq, req, name, path, file, &neg, size);
}

static void server_on_datagram(struct tftp_server *s, const struct request_ctx *rq,
			       const uint8_t *buf, size_t len)
{
	struct tftp_packet p;
	int r;

	/* The shortest meaningful request is opcode + "x\0" + "octet\0". */
	if (len < 4) {
		log_debug(MOD, "drop", "reason=short peer=%s len=%zu", rq->peer_str, len);
		s->stats.dropped++;
		return;
	}
	r = tftp_decode(buf, len, &p);
	if (r == -EPROTO) {
		server_reject(s, rq, "\"\"", TFTP_ERR_ILLEGAL_OP, "illegal operation",
			      "unknown-opcode");
		return;
	}
	if (r < 0) {
		server_reject(s, rq, "\"\"", TFTP_ERR_ILLEGAL_OP, "malformed request",
			      "malformed");
		return;
	}
	switch (p.opcode) {
	case TFTP_OP_RRQ:
		server_on_request(s, rq, &p.request);
		return;
	case TFTP_OP_WRQ: {
		char name[LOG_NAME_MAX];
		s->stats.requests++;
		log_quote(name, sizeof(name), p.request.filename, p.request.filename_len);
		server_reject(s, rq, name, TFTP_ERR_ACCESS, "read-only server", "write");
		return;
	}
	default:
		/* DATA/ACK/ERROR/OACK belong on a transfer port; answering
		 * them here would only feed loops between servers. */
		log_debug(MOD, "drop", "reason=not-a-request opcode=%u peer=%s",
			  p.opcode, rq->peer_str);
		s->stats.dropped++;
		return;
	}
}

static void server_on_io(struct loop_io *io, uint32_t revents)
{
	struct tftp_server *s = io->data;

	for (int i = 0; i < RECV_BUDGET && s->fd >= 0; i++) {
		char cbuf[CMSG_SPACE(sizeof(struct in_pktinfo))];
		struct request_ctx rq = { 0 };
		struct iovec iov = { s->buf, sizeof(s->buf) };
		struct msghdr mh = {
			.msg_name = &rq.peer, .msg_namelen = sizeof(rq.peer),
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
		};
		ssize_t n = recvmsg(s->fd, &mh, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (mh.msg_namelen != sizeof(rq.peer) || rq.peer.sin_family != AF_INET)
			continue;
		if (mh.msg_flags & MSG_TRUNC) {
			s->stats.dropped++;
			continue;
		}
		rq.local = s->listen.sin_addr;
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
				struct in_pktinfo pi;
				memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
				rq.local = pi.ipi_spec_dst;
			}
		}
		net_format_endpoint(&rq.peer, rq.peer_str);
		server_on_datagram(s, &rq, s->buf, (size_t)n);
	}
}

/* --- lifecycle --- */

static int server_listen(struct tftp_server *s, const struct sockaddr_in *addr)
{
	int fd = net_udp_bind(addr, true);
	socklen_t len = sizeof(s->listen);

	if (fd < 0)
		return fd;
	if (s->fd >= 0) {
		loop_io_del(s->loop, &s->io);
		s->fd = safe_close(s->fd);
	}
	s->fd = fd;
	getsockname(fd, (struct sockaddr *)&s->listen, &len);
	s->io = (struct loop_io){ .fd = fd, .events = EPOLLIN, .cb = server_on_io, .data = s };
	return loop_io_add(s->loop, &s->io);
}

/* The root on disk, with generated files behind it. */
static int open_source(const char *root, struct file_source *generated,
		       struct file_source **ret)
{
	struct file_source *disk;
	int r = file_source_disk_new(root, &disk);

	if (r < 0 || !generated) {
		if (r == 0)
			*ret = disk;
		return r;
	}
	return file_source_layered_new(disk, file_source_ref(generated), ret);
}

int tftp_server_new(struct loop *loop, const struct tftp_config *cfg,
		    struct file_source *generated, struct tftp_server **ret)
{
	struct tftp_server *s = calloc(1, sizeof(*s));
	char ep[NET_ENDPOINT_STRLEN];
	int r;

	if (!s)
		return -ENOMEM;
	s->loop = loop;
	s->fd = -1;
	settings_from_config(&s->settings, cfg);
	r = open_source(cfg->root, generated, &s->source);
	if (r < 0) {
		log_error(MOD, "root", "root=\"%s\" error=\"%s\"", cfg->root, strerror(-r));
		free(s);
		return r;
	}
	r = server_listen(s, &cfg->listen);
	if (r < 0) {
		log_error(MOD, "listen", "addr=%s error=\"%s\"",
			  net_format_endpoint(&cfg->listen, ep), strerror(-r));
		tftp_server_free(s);
		return r;
	}
	log_info(MOD, "listening", "addr=%s root=\"%s\"",
		 net_format_endpoint(&s->listen, ep), cfg->root);
	*ret = s;
	return 0;
}

int tftp_server_reload_prepare(const struct tftp_server *s, const struct tftp_config *cfg,
			       struct file_source *generated, struct tftp_reload *ret)
{
	struct tftp_reload rl = { .fd = -1 };
	char ep[NET_ENDPOINT_STRLEN];
	int r = open_source(cfg->root, generated, &rl.source);

	if (r < 0) {
		log_error(MOD, "reload", "root=\"%s\" error=\"%s\" action=keep-old",
			  cfg->root, strerror(-r));
		return r;
	}
	if (s->fd >= 0 && (cfg->listen.sin_addr.s_addr != s->listen.sin_addr.s_addr ||
			   (cfg->listen.sin_port && cfg->listen.sin_port != s->listen.sin_port))) {
		socklen_t len = sizeof(rl.listen);

		rl.fd = net_udp_bind(&cfg->listen, true);
		if (rl.fd < 0) {
			r = rl.fd;
			log_error(MOD, "reload", "addr=%s error=\"%s\" action=keep-old",
				  net_format_endpoint(&cfg->listen, ep), strerror(-r));
			file_source_unref(rl.source);
			return r;
		}
		getsockname(rl.fd, (struct sockaddr *)&rl.listen, &len);
	}
	*ret = rl;
	return 0;
}

void tftp_server_reload_commit(struct tftp_server *s, const struct tftp_config *cfg,
			       struct tftp_reload *r)
{
	char ep[NET_ENDPOINT_STRLEN];

	if (r->fd >= 0) {
		struct loop_io io = { .fd = r->fd, .events = EPOLLIN, .cb = server_on_io,
				      .data = s };

		loop_io_del(s->loop, &s->io);
		s->io = io;
		if (loop_io_add(s->loop, &s->io) < 0) {
			/* epoll refused a fresh socket (out of memory): stay on
			 * the old one rather than deaf. */
			log_error(MOD, "reload", "addr=%s error=\"cannot watch the new socket\" "
				  "action=keep-old-listen", net_format_endpoint(&r->listen, ep));
			safe_close(r->fd);
			s->io.fd = s->fd;
			loop_io_add(s->loop, &s->io);
		} else {
			safe_close(s->fd);
			s->fd = r->fd;
			s->listen = r->listen;
		}
		r->fd = -1;
	}
	file_source_unref(s->source);
	s->source = r->source;
	r->source = NULL;
	settings_from_config(&s->settings, cfg);
	log_info(MOD, "reloaded", "addr=%s root=\"%s\"",
		 net_format_endpoint(&s->listen, ep), cfg->root);
}

void tftp_server_reload_abort(struct tftp_reload *r)
{
	file_source_unref(r->source);
	r->source = NULL;
	r->fd = safe_close(r->fd);
}

void tftp_server_drain(struct tftp_server *s, void (*on_idle)(void *data), void *data)
{
	if (s->fd >= 0) {
		loop_io_del(s->loop, &s->io);
		s->fd = safe_close(s->fd);
	}
	s->on_idle = on_idle;
	s->on_idle_data = data;
	if (s->n_transfers == 0 && on_idle)
		on_idle(data);
}

void tftp_server_abort_all(struct tftp_server *s, const char *why)
{
	void (*on_idle)(void *) = s->on_idle;

	/* Aborting is not "becoming idle" for the caller's purposes. */
	s->on_idle = NULL;
	while (s->transfers) {
		struct tftp_transfer *t = s->transfers;
		transfer_send_error(t, &t->peer, TFTP_ERR_UNDEFINED, why);
		transfer_log_end(t, false, "shutdown");
		transfer_end(t);
	}
	s->on_idle = on_idle;
}

unsigned tftp_server_active(const struct tftp_server *s)
{
	return s->n_transfers;
}

const struct tftp_stats *tftp_server_stats(const struct tftp_server *s)
{
	return &s->stats;
}

void tftp_server_set_events(struct tftp_server *s, struct boot_events *events)
{
	s->events = events;
}

int tftp_server_local_port(const struct tftp_server *s)
{
	return ntohs(s->listen.sin_port);
}

void tftp_server_free(struct tftp_server *s)
{
	if (!s)
		return;
	s->on_idle = NULL;
	tftp_server_abort_all(s, "server shutting down");
	if (s->fd >= 0) {
		loop_io_del(s->loop, &s->io);
		safe_close(s->fd);
	}
	file_source_unref(s->source);
	free(s);
}
