/* doctor_wire.c - the doctor's packets, see doctor_wire.h. */
#include "doctor/doctor_wire.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>

#include "reader.h"
#include "tftp/tftp_wire.h"
#include "util.h"

#define IPPROTO_UDP_NUM 17
#define IPV4_FLAG_MF 0x2000
#define IPV4_FRAG_OFFSET 0x1fff

/* What each round claims to be. The UNDI version is what the firmware
 * sends (2.1 for BIOS PXE ROMs, 3.16 for EDK2's UEFI PXE); servers that
 * match on the whole string (some ISC configs) see a familiar client. */
static const struct {
	uint16_t arch;              /* option 93, RFC 4578 2.1 */
	const char *vendor_class;   /* option 60, PXE 2.1 spec 2.2.5 */
	uint8_t undi_major, undi_minor; /* option 94 */
} rounds[DOCTOR_ROUNDS] = {
	[DOCTOR_ROUND_BIOS] = { 0, "PXEClient:Arch:00000:UNDI:002001", 2, 1 },
	[DOCTOR_ROUND_UEFI] = { 7, "PXEClient:Arch:00007:UNDI:003016", 3, 16 },
	[DOCTOR_ROUND_IPXE] = { 7, "PXEClient:Arch:00007:UNDI:003016", 3, 16 },
};

int doctor_encode_discover(void *buf, size_t size, enum doctor_round round,
			   uint32_t xid, const uint8_t mac[6])
{
	struct dhcp_message *m;
	struct dhcp_writer w;
	/* The options PXE firmware asks for (EDK2 PxeBcDhcp4.c asks these
	 * and a few more), with 43, 60, 66 and 67 that the doctor reports. */
	static const uint8_t prl[] = { DHCP_OPT_SUBNET_MASK, DHCP_OPT_ROUTER, DHCP_OPT_DNS,
				       DHCP_OPT_HOSTNAME, DHCP_OPT_DOMAIN_NAME, DHCP_OPT_VENDOR,
				       DHCP_OPT_SERVER_ID, DHCP_OPT_VENDOR_CLASS,
				       DHCP_OPT_TFTP_SERVER, DHCP_OPT_BOOTFILE,
				       DHCP_OPT_CLIENT_ARCH, DHCP_OPT_IPXE_ENCAP };
	uint8_t arch[2], ndi[3] = { 1, 0, 0 }, uuid[17] = { 0 };
	/* iPXE's feature indicators (encapsulated in 175, iPXE's
	 * include/ipxe/features.h): HTTP (19), TFTP (21), DNS (23), EFI (36). */
	static const uint8_t ipxe_features[] = { 19, 1, 1, 21, 1, 1, 23, 1, 1, 36, 1, 1 };
	int r;

	if ((unsigned)round >= DOCTOR_ROUNDS)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->op = DHCP_OP_REQUEST;
	m->htype = 1;
	m->hlen = 6;
	m->xid = xid;
	m->flags = DHCP_FLAG_BROADCAST;
	memcpy(m->chaddr, mac, 6);
	r = dhcp_writer_init(&w, buf, size, m);
	free(m);
	if (r < 0)
		return r;
	arch[0] = (uint8_t)(rounds[round].arch >> 8);
	arch[1] = (uint8_t)rounds[round].arch;
	ndi[1] = rounds[round].undi_major;
	ndi[2] = rounds[round].undi_minor;
	/* Option 97 type 0 and a GUID: the MAC in its last bytes, so that a
	 * server matching [host]s by UUID sees the same client every round. */
	memcpy(uuid + 11, mac, 6);
	dhcp_writer_u8(&w, DHCP_OPT_MESSAGE_TYPE, DHCP_DISCOVER);
	dhcp_writer_option(&w, DHCP_OPT_MAX_MESSAGE, (const uint8_t[]){ 0x05, 0xc0 }, 2);
	dhcp_writer_option(&w, DHCP_OPT_PARAM_REQUEST, prl, sizeof(prl));
	dhcp_writer_option(&w, DHCP_OPT_CLIENT_ARCH, arch, sizeof(arch));
	dhcp_writer_option(&w, DHCP_OPT_CLIENT_NDI, ndi, sizeof(ndi));
	dhcp_writer_option(&w, DHCP_OPT_CLIENT_UUID, uuid, sizeof(uuid));
	dhcp_writer_option(&w, DHCP_OPT_VENDOR_CLASS, rounds[round].vendor_class,
			   strlen(rounds[round].vendor_class));
	if (round == DOCTOR_ROUND_IPXE) {
		dhcp_writer_option(&w, DHCP_OPT_USER_CLASS, "iPXE", 4);
		dhcp_writer_option(&w, DHCP_OPT_IPXE_ENCAP, ipxe_features,
				   sizeof(ipxe_features));
	}
	if (w.overflow)
		return -ENOBUFS;
	return (int)dhcp_writer_finish(&w);
}

int doctor_parse_ipv4_udp(const void *pkt, size_t len, struct doctor_udp *out)
{
	struct reader r = reader_init(pkt, len);
	uint8_t vihl, proto;
	uint16_t total, frag, ulen;
	size_t ihl;

	if (rd_u8(&r, &vihl) < 0 || (vihl >> 4) != 4)
		return -EBADMSG;
	ihl = (size_t)(vihl & 0x0f) * 4;
	if (ihl < 20 || ihl > len)
		return -EBADMSG;
	if (rd_bytes(&r, NULL, 1) < 0 || rd_be16(&r, &total) < 0 ||
	    rd_bytes(&r, NULL, 2) < 0 || rd_be16(&r, &frag) < 0 ||
	    rd_bytes(&r, NULL, 1) < 0 || rd_u8(&r, &proto) < 0 ||
	    rd_bytes(&r, NULL, 2) < 0 || rd_bytes(&r, &out->src, 4) < 0 ||
	    rd_bytes(&r, &out->dst, 4) < 0)
		return -EBADMSG;
	/* A fragment's pieces are not reassembled here: a DHCP reply never
	 * needs fragmenting (RFC 2131 576-byte minimum). */
	if (total < ihl || total > len || proto != IPPROTO_UDP_NUM ||
	    (frag & (IPV4_FLAG_MF | IPV4_FRAG_OFFSET)))
		return -EBADMSG;
	r = reader_init((const uint8_t *)pkt + ihl, total - ihl);
	if (rd_be16(&r, &out->sport) < 0 || rd_be16(&r, &out->dport) < 0 ||
	    rd_be16(&r, &ulen) < 0 || rd_bytes(&r, NULL, 2) < 0)
		return -EBADMSG;
	if (ulen < 8 || ulen > total - ihl)
		return -EBADMSG;
	out->payload = (const uint8_t *)pkt + ihl + 8;
	out->len = ulen - 8u;
	return 0;
}

static void copy_option_text(const struct dhcp_message *m, uint8_t code, bool *has,
			     char *out, size_t outsize)
{
	size_t len;
	const uint8_t *v = dhcp_option(m, code, 0, &len);

	*has = v != NULL;
	out[0] = '\0';
	if (v)
		doctor_escape(out, outsize, v, len);
}

int doctor_offer_from(const struct dhcp_message *m, uint32_t source, uint32_t xid_base,
		      const uint8_t mac[6], struct doctor_offer *out)
{
	uint32_t round = m->xid - xid_base;
	size_t len;
	bool has_file;

	if (m->op != DHCP_OP_REPLY || round >= DOCTOR_ROUNDS || m->hlen != 6 ||
	    memcmp(m->chaddr, mac, 6) != 0 || dhcp_message_type(m) != DHCP_OFFER)
		return -ENOMSG;
	memset(out, 0, sizeof(*out));
	out->round = (enum doctor_round)round;
	out->source = source;
	if (dhcp_option_addr(m, DHCP_OPT_SERVER_ID, &out->server) < 0)
		out->server = source;
	out->yiaddr = m->yiaddr;
	out->siaddr = m->siaddr;
	/* The file field is unusable when option 52 moved options into it. */
	has_file = !(m->overload & 1);
	if (has_file)
		doctor_escape(out->file, sizeof(out->file), m->file, DHCP_FILE_LEN);
	copy_option_text(m, DHCP_OPT_VENDOR_CLASS, &out->has_vendor_class,
			 out->vendor_class, sizeof(out->vendor_class));
	out->vendor_len = dhcp_option(m, DHCP_OPT_VENDOR, 0, &len) ? (int)len : -1;
	copy_option_text(m, DHCP_OPT_TFTP_SERVER, &out->has_tftp_server,
			 out->tftp_server, sizeof(out->tftp_server));
	copy_option_text(m, DHCP_OPT_BOOTFILE, &out->has_bootfile,
			 out->bootfile, sizeof(out->bootfile));
	/* PXE 2.1 spec 2.2.5: a proxyDHCP offer gives no address and carries
	 * option 60 "PXEClient". */
	out->proxy = m->yiaddr == 0 && out->has_vendor_class &&
		     strncmp(out->vendor_class, "PXEClient", 9) == 0;
	return 0;
}

int doctor_parse_proc_udp(const char *line, uint16_t *port, unsigned long *inode)
{
	/* "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when
	 *  retrnsmt   uid  timeout inode ..." (net/ipv4/udp.c udp4_format_sock) */
	char local[64];
	unsigned p, st;
	unsigned long ino;
	const char *colon;

	if (sscanf(line, " %*u: %63s %*s %x %*s %*s %*s %*s %*s %lu", local, &st, &ino) != 3)
		return -EINVAL;
	colon = strrchr(local, ':');
	if (!colon || sscanf(colon + 1, "%4x", &p) != 1 || p > 65535)
		return -EINVAL;
	*port = (uint16_t)p;
	*inode = ino;
	return 0;
}

int doctor_encode_tsize_rrq(void *buf, size_t size, const char *file)
{
	const struct tftp_option tsize = { "tsize", "0" };

	return tftp_encode_request(buf, size, TFTP_OP_RRQ, file, "octet", &tsize, 1);
}

int doctor_read_tftp_answer(const void *buf, size_t len, struct doctor_fetch *f)
{
	struct tftp_packet p;
	uint64_t v;

	if (tftp_decode(buf, len, &p) < 0)
		return -EBADMSG;
	switch (p.opcode) {
	case TFTP_OP_OACK:
		f->result = DOCTOR_FETCH_EXISTS;
		for (size_t i = 0; i < p.oack.n_options; i++)
			if (ascii_streq_nocase(p.oack.options[i].name, "tsize") &&
			    parse_uint(p.oack.options[i].value, 0, UINT64_MAX, &v) == 0) {
				f->has_tsize = true;
				f->tsize = v;
			}
		return 0;
	case TFTP_OP_DATA:
		/* A server without RFC 2347 options sends block 1 at once. */
		f->result = DOCTOR_FETCH_EXISTS;
		return 0;
	case TFTP_OP_ERROR:
		f->result = p.error.code == TFTP_ERR_NOT_FOUND ? DOCTOR_FETCH_NOT_FOUND
							       : DOCTOR_FETCH_ERROR;
		f->error_code = p.error.code;
		doctor_escape(f->error_message, sizeof(f->error_message), p.error.message,
			      strlen(p.error.message));
		return 1;
	default:
		return -EBADMSG;
	}
}
