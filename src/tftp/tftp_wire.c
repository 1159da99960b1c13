/* tftp_wire.c - see tftp_wire.h. */
#include "tftp/tftp_wire.h"

#include <errno.h>
#include <string.h>

#include "reader.h"
#include "util.h"

static enum tftp_mode mode_from_name(const char *s)
{
	/* RFC 1350: mode names are case-insensitive. */
	if (ascii_streq_nocase(s, "octet"))
		return TFTP_MODE_OCTET;
	if (ascii_streq_nocase(s, "netascii"))
		return TFTP_MODE_NETASCII;
	if (ascii_streq_nocase(s, "mail"))
		return TFTP_MODE_MAIL;
	return TFTP_MODE_UNKNOWN;
}

const char *tftp_mode_name(enum tftp_mode mode)
{
	switch (mode) {
	case TFTP_MODE_OCTET: return "octet";
	case TFTP_MODE_NETASCII: return "netascii";
	case TFTP_MODE_MAIL: return "mail";
	default: return "unknown";
	}
}

static bool all_zero(const struct reader *r)
{
	for (size_t i = 0; i < r->left; i++)
		if (r->p[i])
			return false;
	return true;
}

/* name NUL value NUL pairs until the end of the packet. */
static int decode_options(struct reader *r, struct tftp_option *opts,
			  size_t *n_kept, size_t *n_dropped)
{
	*n_kept = 0;
	if (n_dropped)
		*n_dropped = 0;
	while (r->left > 0) {
		const char *name, *value;
		size_t nlen, vlen;

		/* Some PXE ROMs pad requests with NUL bytes after the last
		 * option; tolerate padding, not garbage. */
		if (all_zero(r))
			return 0;
		if (rd_cstr(r, &name, &nlen) < 0 || rd_cstr(r, &value, &vlen) < 0)
			return -EBADMSG;
		if (nlen == 0)
			return -EBADMSG;
		if (*n_kept < TFTP_MAX_OPTIONS) {
			opts[*n_kept].name = name;
			opts[*n_kept].value = value;
			(*n_kept)++;
		} else if (n_dropped) {
			(*n_dropped)++;
		}
	}
	return 0;
}

static int decode_request(struct reader *r, struct tftp_request *req)
{
	const char *mode;
	size_t mlen;

	if (rd_cstr(r, &req->filename, &req->filename_len) < 0)
		return -EBADMSG;
	if (rd_cstr(r, &mode, &mlen) < 0)
		return -EBADMSG;
	req->mode = mode_from_name(mode);
	return decode_options(r, req->options, &req->n_options,
			      &req->n_options_dropped);
}

int tftp_decode(const void *buf, size_t len, struct tftp_packet *out)
{
	struct reader r = reader_init(buf, len);
	struct tftp_packet p;
	const char *s;
	size_t slen;

	memset(&p, 0, sizeof(p));
	if (rd_be16(&r, &p.opcode) < 0)
		return -EBADMSG;
	switch (p.opcode) {
	case TFTP_OP_RRQ:
	case TFTP_OP_WRQ:
		if (decode_request(&r, &p.request) < 0)
			return -EBADMSG;
		break;
	case TFTP_OP_DATA:
		if (rd_be16(&r, &p.data.block) < 0)
			return -EBADMSG;
		p.data.data = r.p;
		p.data.len = r.left;
		break;
	case TFTP_OP_ACK:
		/* RFC 1350 ACK is exactly 4 bytes; extra bytes are ignored
		 * because some clients send them, but a short one is bad. */
		if (rd_be16(&r, &p.ack.block) < 0)
			return -EBADMSG;
		break;
	case TFTP_OP_ERROR:
		if (rd_be16(&r, &p.error.code) < 0 || rd_cstr(&r, &s, &slen) < 0)
			return -EBADMSG;
		p.error.message = s;
		break;
	case TFTP_OP_OACK:
		if (decode_options(&r, p.oack.options, &p.oack.n_options, NULL) < 0)
			return -EBADMSG;
		break;
	default:
		return -EPROTO;
	}
	*out = p;
	return 0;
}

/* --- encoders: a tiny writer with the same discipline as the reader --- */

struct writer {
	uint8_t *p;
	size_t left;
	size_t len;
	bool overflow;
};

static void wr_bytes(struct writer *w, const void *src, size_t n)
{
	if (w->overflow || w->left < n) {
		w->overflow = true;
		return;
	}
	memcpy(w->p, src, n);
	w->p += n;
	w->left -= n;
	w->len += n;
}

static void wr_be16(struct writer *w, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	wr_bytes(w, b, 2);
}

static void wr_cstr(struct writer *w, const char *s)
{
	wr_bytes(w, s, strlen(s) + 1);
}

static int wr_finish(const struct writer *w)
{
	return w->overflow ? -ENOBUFS : (int)w->len;
}

int tftp_encode_error(void *buf, size_t size, uint16_t code, const char *message)
{
	struct writer w = { .p = buf, .left = size };

	wr_be16(&w, TFTP_OP_ERROR);
	wr_be16(&w, code);
	wr_cstr(&w, message ? message : "");
	return wr_finish(&w);
}

int tftp_encode_oack(void *buf, size_t size, const struct tftp_option *options,
		     size_t n_options)
{
	struct writer w = { .p = buf, .left = size };

	wr_be16(&w, TFTP_OP_OACK);
	for (size_t i = 0; i < n_options; i++) {
		wr_cstr(&w, options[i].name);
		wr_cstr(&w, options[i].value);
	}
	return wr_finish(&w);
}

int tftp_encode_ack(void *buf, size_t size, uint16_t block)
{
	struct writer w = { .p = buf, .left = size };

	wr_be16(&w, TFTP_OP_ACK);
	wr_be16(&w, block);
	return wr_finish(&w);
}

int tftp_encode_request(void *buf, size_t size, uint16_t opcode,
			const char *filename, const char *mode,
			const struct tftp_option *options, size_t n_options)
{
	struct writer w = { .p = buf, .left = size };

	wr_be16(&w, opcode);
	wr_cstr(&w, filename);
	wr_cstr(&w, mode);
	for (size_t i = 0; i < n_options; i++) {
		wr_cstr(&w, options[i].name);
		wr_cstr(&w, options[i].value);
	}
	return wr_finish(&w);
}

void tftp_encode_data_header(uint8_t hdr[TFTP_DATA_HEADER_LEN], uint16_t block)
{
	hdr[0] = 0;
	hdr[1] = TFTP_OP_DATA;
	hdr[2] = (uint8_t)(block >> 8);
	hdr[3] = (uint8_t)block;
}
