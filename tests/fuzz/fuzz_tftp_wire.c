/* fuzz_tftp_wire.c - tftp_decode() on arbitrary datagrams.
 *
 * Beyond "does not crash": decoded pointers lie inside the input, strings
 * are terminated inside it, option counts respect TFTP_MAX_OPTIONS, and a
 * decoded request survives what the server does next (option negotiation,
 * path normalisation) and re-encodes to something that decodes the same. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "tftp/tftp_options.h"
#include "path.h"
#include "tftp/tftp_wire.h"

/* s is a NUL-terminated string lying wholly inside [buf, buf + size). */
static void check_inside(const uint8_t *buf, size_t size, const char *s)
{
	const uint8_t *p = (const uint8_t *)s;

	CHECK(p >= buf && p < buf + size);
	CHECK(memchr(p, 0, (size_t)(buf + size - p)) != NULL);
}

static void check_options(const uint8_t *buf, size_t size,
			  const struct tftp_option *o, size_t n)
{
	CHECK(n <= TFTP_MAX_OPTIONS);
	for (size_t i = 0; i < n; i++) {
		check_inside(buf, size, o[i].name);
		check_inside(buf, size, o[i].value);
		CHECK(o[i].name[0] != '\0');
	}
}

static void same_options(const struct tftp_option *a, size_t na,
			 const struct tftp_option *b, size_t nb)
{
	CHECK(na == nb);
	for (size_t i = 0; i < na; i++) {
		CHECK(strcmp(a[i].name, b[i].name) == 0);
		CHECK(strcmp(a[i].value, b[i].value) == 0);
	}
}

static void after_request(const uint8_t *buf, size_t size, const struct tftp_packet *p)
{
	const struct tftp_request *req = &p->request;
	const struct tftp_limits limits = { .max_blksize = 1468, .max_windowsize = 64 };
	struct tftp_negotiated neg;
	struct tftp_packet again;
	char path[PATH_NAME_MAX];
	uint8_t *enc;
	int r, n;

	check_inside(buf, size, req->filename);
	CHECK(strlen(req->filename) == req->filename_len);
	check_options(buf, size, req->options, req->n_options);
	CHECK(req->n_options_dropped == 0 || req->n_options == TFTP_MAX_OPTIONS);

	r = tftp_options_negotiate(req->options, req->n_options, &limits, &neg);
	CHECK(r == 0 || r == -EINVAL);
	if (r == 0) {
		CHECK(neg.refused == NULL);
		CHECK(neg.blksize >= TFTP_BLKSIZE_MIN && neg.blksize <= limits.max_blksize);
		CHECK(neg.windowsize >= 1 && neg.windowsize <= limits.max_windowsize);
		CHECK(neg.timeout_sec <= 255);
		CHECK(neg.has_timeout == (neg.timeout_sec != 0));
		CHECK(neg.has_blksize || neg.blksize == TFTP_DEFAULT_BLKSIZE);
		CHECK(neg.has_windowsize || neg.windowsize == 1);
	} else {
		CHECK(neg.refused != NULL);
		check_inside(buf, size, neg.refused);
	}

	r = path_normalize(req->filename, req->filename_len, path, sizeof(path));
	CHECK(r == 0 || r == -EINVAL || r == -EACCES || r == -ENAMETOOLONG);
	if (r == 0) {
		CHECK(strlen(path) < sizeof(path));
		CHECK(path[0] != '/');
	}

	/* Re-encode what was understood; it must decode to the same thing.
	 * Dropped options and padding are gone, so it is never longer. */
	if (req->mode == TFTP_MODE_UNKNOWN)
		return;
	enc = malloc(size);
	CHECK(enc != NULL);
	n = tftp_encode_request(enc, size, p->opcode, req->filename,
				tftp_mode_name(req->mode), req->options, req->n_options);
	CHECK(n > 0 && (size_t)n <= size);
	CHECK(tftp_decode(enc, (size_t)n, &again) == 0);
	CHECK(again.opcode == p->opcode);
	CHECK(again.request.mode == req->mode);
	CHECK(again.request.filename_len == req->filename_len);
	CHECK(memcmp(again.request.filename, req->filename, req->filename_len) == 0);
	CHECK(again.request.n_options_dropped == 0);
	same_options(again.request.options, again.request.n_options, req->options,
		     req->n_options);
	free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly size bytes: ASan flags any read past the end. */
	uint8_t *buf = malloc(size ? size : 1);
	struct tftp_packet p;
	uint8_t out[128];
	int r;

	if (!buf)
		return 0;
	if (size)
		memcpy(buf, data, size);
	r = tftp_decode(buf, size, &p);
	CHECK(r == 0 || r == -EBADMSG || r == -EPROTO);
	if (r == -EPROTO)
		CHECK(size >= 2);
	if (r < 0)
		goto out;
	CHECK(size >= 2);
	CHECK(p.opcode == ((buf[0] << 8) | buf[1]));
	switch (p.opcode) {
	case TFTP_OP_RRQ:
	case TFTP_OP_WRQ:
		after_request(buf, size, &p);
		break;
	case TFTP_OP_DATA:
		CHECK(size >= 4);
		CHECK(p.data.data == buf + 4);
		CHECK(p.data.len == size - 4);
		break;
	case TFTP_OP_ACK:
		CHECK(size >= 4);
		CHECK(p.ack.block == ((buf[2] << 8) | buf[3]));
		CHECK(tftp_encode_ack(out, sizeof(out), p.ack.block) == 4);
		CHECK(memcmp(out, buf, 4) == 0);
		break;
	case TFTP_OP_ERROR:
		check_inside(buf, size, p.error.message);
		CHECK(p.error.message == (const char *)buf + 4);
		if (strlen(p.error.message) + 5 <= sizeof(out)) {
			int n = tftp_encode_error(out, sizeof(out), p.error.code, p.error.message);
			CHECK(n == (int)strlen(p.error.message) + 5);
			CHECK(memcmp(out, buf, (size_t)n) == 0);
		}
		break;
	case TFTP_OP_OACK:
		check_options(buf, size, p.oack.options, p.oack.n_options);
		break;
	default:
		CHECK(!"decoded an unknown opcode");
	}
out:
	free(buf);
	return 0;
}
