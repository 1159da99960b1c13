/* dhcp_wire.c - see dhcp_wire.h. */
#include "dhcp/dhcp_wire.h"

#include <errno.h>
#include <string.h>

#include "reader.h"

/* One region that holds options: the options field, or file/sname when
 * overloaded. */
struct option_area {
	const uint8_t *p;
	size_t len;
	bool end_required;  /* the options field must end with END */
};

/* Walk an area, calling visit for each option instance. Returns 0 or
 * -EBADMSG. PAD is skipped; END stops the walk. */
static int walk_area(const struct option_area *a,
		     int (*visit)(uint8_t code, const uint8_t *data, uint8_t len, void *ctx),
		     void *ctx)
{
	struct reader r = reader_init(a->p, a->len);

	for (;;) {
		uint8_t code, len;
		const uint8_t *data;

		if (rd_u8(&r, &code) < 0)
			return a->end_required ? -EBADMSG : 0;
		if (code == DHCP_OPT_PAD)
			continue;
		if (code == DHCP_OPT_END)
			return 0;
		if (rd_u8(&r, &len) < 0)
			return -EBADMSG;
		data = r.p;
		if (rd_bytes(&r, NULL, len) < 0)
			return -EBADMSG;  /* option runs past its field */
		if (visit && visit(code, data, len, ctx) < 0)
			return -EBADMSG;
	}
}

static int find_overload(uint8_t code, const uint8_t *data, uint8_t len, void *ctx)
{
	uint8_t *overload = ctx;

	/* The first instance decides; a malformed value is ignored rather
	 * than trusted. */
	if (code == DHCP_OPT_OVERLOAD && *overload == 0 && len == 1 &&
	    data[0] >= 1 && data[0] <= 3)
		*overload = data[0];
	return 0;
}

struct sizing {
	uint32_t total[256];
	bool seen[256];  /* zero-length options (e.g. rapid commit) count too */
};

static int size_option(uint8_t code, const uint8_t *data, uint8_t len, void *ctx)
{
	struct sizing *s = ctx;

	s->total[code] += len;
	s->seen[code] = true;
	return 0;
}

struct filling {
	struct dhcp_message *m;
	uint16_t filled[256];
};

static int fill_option(uint8_t code, const uint8_t *data, uint8_t len, void *ctx)
{
	struct filling *f = ctx;
	struct dhcp_option_slot *slot = &f->m->opt[code];

	memcpy(f->m->optdata + slot->offset + f->filled[code], data, len);
	f->filled[code] += len;
	return 0;
}

int dhcp_decode(const void *buf, size_t len, struct dhcp_message *out)
{
	struct reader r = reader_init(buf, len);
	struct option_area areas[3];
	size_t n_areas = 0;
	uint32_t magic;
	struct sizing sizing;
	struct filling filling;
	uint32_t offset = 0;
	struct dhcp_message *m = out;

	memset(m, 0, offsetof(struct dhcp_message, optdata));
	if (rd_u8(&r, &m->op) < 0 || rd_u8(&r, &m->htype) < 0 ||
	    rd_u8(&r, &m->hlen) < 0 || rd_u8(&r, &m->hops) < 0 ||
	    rd_be32(&r, &m->xid) < 0 || rd_be16(&r, &m->secs) < 0 ||
	    rd_be16(&r, &m->flags) < 0 ||
	    rd_bytes(&r, &m->ciaddr, 4) < 0 || rd_bytes(&r, &m->yiaddr, 4) < 0 ||
	    rd_bytes(&r, &m->siaddr, 4) < 0 || rd_bytes(&r, &m->giaddr, 4) < 0 ||
	    rd_bytes(&r, m->chaddr, DHCP_CHADDR_LEN) < 0 ||
	    rd_bytes(&r, m->sname, DHCP_SNAME_LEN) < 0 ||
	    rd_bytes(&r, m->file, DHCP_FILE_LEN) < 0 ||
	    rd_be32(&r, &magic) < 0)
		return -EBADMSG;
	if (magic != DHCP_MAGIC || m->hlen > DHCP_CHADDR_LEN)
		return -EBADMSG;

	areas[n_areas++] = (struct option_area){ r.p, r.left, true };
	if (walk_area(&areas[0], find_overload, &m->overload) < 0)
		return -EBADMSG;
	/* RFC 3396 order: options, then file, then sname. Option 52 inside
	 * these fields is not followed again, so overload cannot loop. */
	if (m->overload & 1)
		areas[n_areas++] = (struct option_area){ m->file, DHCP_FILE_LEN, false };
	if (m->overload & 2)
		areas[n_areas++] = (struct option_area){ m->sname, DHCP_SNAME_LEN, false };

	memset(&sizing, 0, sizeof(sizing));
	for (size_t i = 0; i < n_areas; i++)
		if (walk_area(&areas[i], size_option, &sizing) < 0)
			return -EBADMSG;
	for (unsigned code = 1; code < 255; code++) {
		if (!sizing.seen[code])
			continue;
		if (offset + sizing.total[code] > DHCP_OPTION_SPACE)
			return -EBADMSG;
		m->opt[code] = (struct dhcp_option_slot){
			.offset = (uint16_t)offset,
			.len = (uint16_t)sizing.total[code],
			.present = true,
		};
		offset += sizing.total[code];
	}
	m->optdata_len = (uint16_t)offset;
	filling.m = m;
	memset(filling.filled, 0, sizeof(filling.filled));
	for (size_t i = 0; i < n_areas; i++)
		walk_area(&areas[i], fill_option, &filling);  /* validated above */
	return 0;
}

const uint8_t *dhcp_option(const struct dhcp_message *m, uint8_t code,
			   size_t min_len, size_t *len)
{
	const struct dhcp_option_slot *s = &m->opt[code];

	if (!s->present || s->len < min_len)
		return NULL;
	if (len)
		*len = s->len;
	return m->optdata + s->offset;
}

uint8_t dhcp_message_type(const struct dhcp_message *m)
{
	size_t len;
	const uint8_t *p = dhcp_option(m, DHCP_OPT_MESSAGE_TYPE, 1, &len);

	return p && len == 1 ? p[0] : 0;
}

int dhcp_option_addr(const struct dhcp_message *m, uint8_t code, uint32_t *out)
{
	size_t len;
	const uint8_t *p = dhcp_option(m, code, 4, &len);

	if (!p || len != 4)
		return -ENOENT;
	memcpy(out, p, 4);
	return 0;
}

/* --- encoder --- */

static void put_bytes(struct dhcp_writer *w, const void *p, size_t n)
{
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static void put_be32(struct dhcp_writer *w, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	put_bytes(w, b, 4);
}

int dhcp_writer_init(struct dhcp_writer *w, void *buf, size_t size,
		     const struct dhcp_message *m)
{
	uint8_t hdr[4] = { m->op, m->htype, m->hlen, m->hops };
	uint8_t b2[4] = { (uint8_t)(m->secs >> 8), (uint8_t)m->secs,
			  (uint8_t)(m->flags >> 8), (uint8_t)m->flags };

	/* Fixed part, cookie and END must fit. */
	if (size < 300)
		return -ENOBUFS;
	*w = (struct dhcp_writer){ .buf = buf, .size = size };
	put_bytes(w, hdr, 4);
	put_be32(w, m->xid);
	put_bytes(w, b2, 4);
	put_bytes(w, &m->ciaddr, 4);
	put_bytes(w, &m->yiaddr, 4);
	put_bytes(w, &m->siaddr, 4);
	put_bytes(w, &m->giaddr, 4);
	put_bytes(w, m->chaddr, DHCP_CHADDR_LEN);
	put_bytes(w, m->sname, DHCP_SNAME_LEN);
	put_bytes(w, m->file, DHCP_FILE_LEN);
	put_be32(w, DHCP_MAGIC);
	return 0;
}

int dhcp_writer_option(struct dhcp_writer *w, uint8_t code, const void *data,
		       size_t len)
{
	size_t instances = len ? (len + 254) / 255 : 1;
	size_t need = instances * 2 + len;
	const uint8_t *p = data;

	/* Keep one byte for END. */
	if (w->len + need + 1 > w->size) {
		w->overflow = true;
		return -ENOBUFS;
	}
	do {
		uint8_t chunk = (uint8_t)(len > 255 ? 255 : len);
		w->buf[w->len++] = code;
		w->buf[w->len++] = chunk;
		if (chunk)
			put_bytes(w, p, chunk);
		p += chunk;
		len -= chunk;
	} while (len > 0);
	return 0;
}

int dhcp_writer_u8(struct dhcp_writer *w, uint8_t code, uint8_t v)
{
	return dhcp_writer_option(w, code, &v, 1);
}

int dhcp_writer_be32(struct dhcp_writer *w, uint8_t code, uint32_t v_host)
{
	uint8_t b[4] = { (uint8_t)(v_host >> 24), (uint8_t)(v_host >> 16),
			 (uint8_t)(v_host >> 8), (uint8_t)v_host };
	return dhcp_writer_option(w, code, b, 4);
}

size_t dhcp_writer_finish(struct dhcp_writer *w)
{
	w->buf[w->len++] = DHCP_OPT_END;
	/* BOOTP relays and some PXE ROMs drop replies shorter than 300. */
	while (w->len < 300)
		w->buf[w->len++] = DHCP_OPT_PAD;
	return w->len;
}

const char *dhcp_message_type_name(uint8_t type)
{
	static const char *const names[] = {
		[DHCP_DISCOVER] = "DISCOVER", [DHCP_OFFER] = "OFFER",
		[DHCP_REQUEST] = "REQUEST", [DHCP_DECLINE] = "DECLINE",
		[DHCP_ACK] = "ACK", [DHCP_NAK] = "NAK",
		[DHCP_RELEASE] = "RELEASE", [DHCP_INFORM] = "INFORM",
	};
	return type < sizeof(names) / sizeof(names[0]) && names[type] ? names[type] : "UNKNOWN";
}
