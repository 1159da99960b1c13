/* fuzz_dhcp_wire.c - dhcp_decode() on arbitrary datagrams.
 *
 * Beyond "does not crash": every present option slot lies inside
 * optdata_len, the slots are laid out back to back in code order (so none
 * overlaps another), PAD and END are never present, and a decoded message
 * re-encoded with the writer (all options but 52, which would make the
 * copied file/sname fields be read as options again) decodes to the same
 * header and the same option bytes, long values split and joined again
 * per RFC 3396. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "dhcp/dhcp_wire.h"

static void check_slots(const struct dhcp_message *m)
{
	uint32_t next = 0;

	CHECK(!m->opt[DHCP_OPT_PAD].present);
	CHECK(!m->opt[DHCP_OPT_END].present);
	CHECK(m->optdata_len <= DHCP_OPTION_SPACE);
	for (unsigned code = 0; code < 256; code++) {
		const struct dhcp_option_slot *s = &m->opt[code];
		const uint8_t *p;
		size_t len = 0;

		if (!s->present) {
			CHECK(s->offset == 0 && s->len == 0);
			CHECK(dhcp_option(m, (uint8_t)code, 0, NULL) == NULL);
			continue;
		}
		CHECK((uint32_t)s->offset + s->len <= m->optdata_len);
		CHECK(s->offset == next);
		next += s->len;
		p = dhcp_option(m, (uint8_t)code, 0, &len);
		CHECK(p == m->optdata + s->offset && len == s->len);
		CHECK(dhcp_option(m, (uint8_t)code, (size_t)s->len + 1, NULL) == NULL);
	}
	CHECK(next == m->optdata_len);
}

static void check_round_trip(const struct dhcp_message *m)
{
	static uint8_t buf[8192];
	static struct dhcp_message back;
	struct dhcp_writer w;
	size_t n;

	CHECK(dhcp_writer_init(&w, buf, sizeof(buf), m) == 0);
	for (unsigned code = 1; code < 255; code++) {
		if (!m->opt[code].present || code == DHCP_OPT_OVERLOAD)
			continue;
		CHECK(dhcp_writer_option(&w, (uint8_t)code, m->optdata + m->opt[code].offset,
					 m->opt[code].len) == 0);
	}
	CHECK(!w.overflow);
	n = dhcp_writer_finish(&w);
	CHECK(n >= 300 && n <= sizeof(buf));
	CHECK(dhcp_decode(buf, n, &back) == 0);
	CHECK(back.op == m->op && back.htype == m->htype && back.hlen == m->hlen);
	CHECK(back.hops == m->hops && back.xid == m->xid);
	CHECK(back.secs == m->secs && back.flags == m->flags);
	CHECK(back.ciaddr == m->ciaddr && back.yiaddr == m->yiaddr);
	CHECK(back.siaddr == m->siaddr && back.giaddr == m->giaddr);
	CHECK(memcmp(back.chaddr, m->chaddr, DHCP_CHADDR_LEN) == 0);
	CHECK(memcmp(back.sname, m->sname, DHCP_SNAME_LEN) == 0);
	CHECK(memcmp(back.file, m->file, DHCP_FILE_LEN) == 0);
	CHECK(back.overload == 0);
	for (unsigned code = 1; code < 255; code++) {
		const struct dhcp_option_slot *a = &m->opt[code], *b = &back.opt[code];

		if (code == DHCP_OPT_OVERLOAD) {
			CHECK(!b->present);
			continue;
		}
		CHECK(a->present == b->present && a->len == b->len);
		CHECK(memcmp(m->optdata + a->offset, back.optdata + b->offset, a->len) == 0);
	}
	CHECK(dhcp_message_type(&back) == dhcp_message_type(m));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly size bytes: ASan flags any read past the end. */
	uint8_t *buf = malloc(size ? size : 1);
	static struct dhcp_message m;
	size_t len;
	const uint8_t *t;
	int r;

	if (!buf)
		return 0;
	if (size)
		memcpy(buf, data, size);
	r = dhcp_decode(buf, size, &m);
	CHECK(r == 0 || r == -EBADMSG);
	if (r < 0)
		goto out;
	CHECK(size >= DHCP_FIXED_LEN + 4);
	CHECK(m.hlen <= DHCP_CHADDR_LEN);
	CHECK(m.overload <= 3);
	CHECK(m.op == buf[0] && m.htype == buf[1] && m.hlen == buf[2] && m.hops == buf[3]);
	check_slots(&m);
	t = dhcp_option(&m, DHCP_OPT_MESSAGE_TYPE, 0, &len);
	CHECK(dhcp_message_type(&m) == (t && len == 1 ? t[0] : 0));
	check_round_trip(&m);
out:
	free(buf);
	return 0;
}
