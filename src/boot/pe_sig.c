/* pe_sig.c - see pe_sig.h. Offsets are from Microsoft's PE Format
 * specification (MS-DOS stub, COFF file header, optional header). */
#include "boot/pe_sig.h"

#include <errno.h>

#include "reader.h"

#define MZ_LFANEW_AT 0x3c         /* e_lfanew: file offset of "PE\0\0" */
#define PE_MAGIC 0x00004550u       /* "PE\0\0" read little-endian */
#define OPT_PE32 0x10b
#define OPT_PE32_PLUS 0x20b
/* From the start of the optional header to NumberOfRvaAndSizes: the
 * standard fields and the Windows-specific ones (PE32+ has no BaseOfData
 * and 64-bit ImageBase and stack/heap sizes). */
#define OPT_NRVA_AT_PE32 92
#define OPT_NRVA_AT_PE32_PLUS 108
#define DD_CERTIFICATE 4           /* the certificate table's entry */
#define WIN_CERTIFICATE_HEADER 8   /* dwLength, wRevision, wCertificateType */

int pe_sig_parse(const uint8_t *buf, size_t len, uint64_t file_size, struct pe_sig *out)
{
	struct reader r = reader_init(buf, len);
	uint32_t lfanew, magic, nrva, offset, size;
	uint16_t mz, machine, opt_size, opt_magic;
	size_t nrva_at;

	if (rd_le16(&r, &mz) < 0 || mz != 0x5a4d)  /* "MZ" */
		return -EBADMSG;
	r = reader_init(buf, len);
	if (rd_bytes(&r, NULL, MZ_LFANEW_AT) < 0 || rd_le32(&r, &lfanew) < 0)
		return -EBADMSG;
	if (lfanew >= len || lfanew >= file_size)
		return -EBADMSG;
	r = reader_init(buf + lfanew, len - lfanew);
	/* COFF header: Machine, NumberOfSections, TimeDateStamp,
	 * PointerToSymbolTable, NumberOfSymbols, SizeOfOptionalHeader,
	 * Characteristics */
	if (rd_le32(&r, &magic) < 0 || magic != PE_MAGIC || rd_le16(&r, &machine) < 0 ||
	    rd_bytes(&r, NULL, 2 + 4 + 4 + 4) < 0 || rd_le16(&r, &opt_size) < 0 ||
	    rd_bytes(&r, NULL, 2) < 0)
		return -EBADMSG;
	/* The optional header, opt_size bytes of it: read only within them. */
	if (opt_size > r.left)
		return -EBADMSG;
	r.left = opt_size;
	if (rd_le16(&r, &opt_magic) < 0)
		return -EBADMSG;
	if (opt_magic == OPT_PE32)
		nrva_at = OPT_NRVA_AT_PE32;
	else if (opt_magic == OPT_PE32_PLUS)
		nrva_at = OPT_NRVA_AT_PE32_PLUS;
	else
		return -EBADMSG;
	if (rd_bytes(&r, NULL, nrva_at - 2) < 0 || rd_le32(&r, &nrva) < 0)
		return -EBADMSG;
	*out = (struct pe_sig){ .machine = machine, .pe32_plus = opt_magic == OPT_PE32_PLUS };
	/* Fewer directories than the certificate table's index: none (the
	 * Linux EFI stub writes 6). */
	if (nrva <= DD_CERTIFICATE)
		return 0;
	if (rd_bytes(&r, NULL, (size_t)DD_CERTIFICATE * 8) < 0 || rd_le32(&r, &offset) < 0 ||
	    rd_le32(&r, &size) < 0)
		return -EBADMSG;
	out->cert_offset = offset;
	out->cert_size = size;
	return 0;
}

bool pe_sig_signed(const struct pe_sig *s, uint64_t file_size)
{
	return s->cert_size >= WIN_CERTIFICATE_HEADER && s->cert_offset > 0 &&
	       (uint64_t)s->cert_offset + s->cert_size <= file_size;
}
