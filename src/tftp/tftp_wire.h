/* tftp_wire.h - the TFTP packet codec (RFC 1350, options per RFC 2347).
 *
 * Pure: no sockets, clock, files or logging. The decoder never reads past
 * len, never writes into the buffer, and returns pointers into it; the
 * caller keeps the buffer alive while it uses the decoded packet. */
#ifndef KIDOU_TFTP_WIRE_H
#define KIDOU_TFTP_WIRE_H

#include <stddef.h>
#include <stdint.h>

enum tftp_opcode {
	TFTP_OP_RRQ = 1,   /* read request */
	TFTP_OP_WRQ = 2,   /* write request */
	TFTP_OP_DATA = 3,
	TFTP_OP_ACK = 4,
	TFTP_OP_ERROR = 5,
	TFTP_OP_OACK = 6,  /* option acknowledgement, RFC 2347 */
};

enum tftp_error_code {
	TFTP_ERR_UNDEFINED = 0,      /* see message */
	TFTP_ERR_NOT_FOUND = 1,
	TFTP_ERR_ACCESS = 2,         /* access violation */
	TFTP_ERR_DISK_FULL = 3,
	TFTP_ERR_ILLEGAL_OP = 4,     /* malformed or unsupported request */
	TFTP_ERR_UNKNOWN_TID = 5,    /* packet from a stranger to a transfer port */
	TFTP_ERR_FILE_EXISTS = 6,
	TFTP_ERR_NO_USER = 7,
	TFTP_ERR_OPTION_REFUSED = 8, /* RFC 2347 */
};

enum tftp_mode {
	TFTP_MODE_OCTET,
	TFTP_MODE_NETASCII,
	TFTP_MODE_MAIL,    /* obsolete, recognised only to be refused */
	TFTP_MODE_UNKNOWN,
};

/* Requests carry at most this many options; further ones are ignored
 * (kidou understands four, so a client sending more is padding or
 * hostile). */
#define TFTP_MAX_OPTIONS 16
/* opcode + block number */
#define TFTP_DATA_HEADER_LEN 4

struct tftp_option {
	const char *name;   /* NUL-terminated, inside the packet */
	const char *value;  /* NUL-terminated, inside the packet */
};

struct tftp_request {          /* RRQ or WRQ */
	const char *filename;  /* NUL-terminated, inside the packet */
	size_t filename_len;   /* without the NUL; may contain anything but NUL */
	enum tftp_mode mode;
	struct tftp_option options[TFTP_MAX_OPTIONS];
	size_t n_options;      /* options kept (at most TFTP_MAX_OPTIONS) */
	size_t n_options_dropped; /* options beyond TFTP_MAX_OPTIONS */
};

struct tftp_packet {
	uint16_t opcode;       /* enum tftp_opcode */
	union {
		struct tftp_request request;   /* RRQ, WRQ */
		struct {
			uint16_t block;
			const uint8_t *data;
			size_t len;
		} data;                        /* DATA */
		struct {
			uint16_t block;
		} ack;                         /* ACK */
		struct {
			uint16_t code;         /* enum tftp_error_code */
			const char *message;   /* NUL-terminated, inside the packet */
		} error;                       /* ERROR */
		struct {
			struct tftp_option options[TFTP_MAX_OPTIONS];
			size_t n_options;
		} oack;                        /* OACK */
	};
};

/* Decode one datagram. Returns 0, or -EBADMSG when it is truncated, lacks a
 * terminating NUL, or has an unknown opcode (-EPROTO for the latter so the
 * caller can answer "illegal operation" distinctly). */
int tftp_decode(const void *buf, size_t len, struct tftp_packet *out);

/* Encoders write into buf (size bytes) and return the length written, or
 * -ENOBUFS if it does not fit. */
int tftp_encode_error(void *buf, size_t size, uint16_t code, const char *message);
int tftp_encode_oack(void *buf, size_t size, const struct tftp_option *options,
		     size_t n_options);
int tftp_encode_ack(void *buf, size_t size, uint16_t block);
/* A read or write request; used by tests and tools. */
int tftp_encode_request(void *buf, size_t size, uint16_t opcode,
			const char *filename, const char *mode,
			const struct tftp_option *options, size_t n_options);
/* The 4-byte header of a DATA packet. */
void tftp_encode_data_header(uint8_t hdr[TFTP_DATA_HEADER_LEN], uint16_t block);

const char *tftp_mode_name(enum tftp_mode mode);

#endif
