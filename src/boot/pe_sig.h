/* pe_sig.h - does a PE image (an EFI binary, a signed Linux kernel) carry
 * an Authenticode signature? Pure: headers in a buffer, no file I/O.
 *
 * A signed PE image has a certificate table: data directory entry 4 of
 * its optional header, which (unlike the other entries) holds a file
 * offset, not an RVA (Microsoft's PE Format, "The Attribute Certificate
 * Table"). UEFI Secure Boot's firmware, shim and GRUB verify the
 * WIN_CERTIFICATE entries there; this only says whether there are any,
 * which is what tells Debian's signed kernel from an unsigned one. */
#ifndef KIDOU_PE_SIG_H
#define KIDOU_PE_SIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How many bytes of a file pe_sig_parse() wants to see: the headers of
 * every real image lie well inside (e_lfanew is 0x40..0x200). */
#define PE_SIG_HEAD 4096

struct pe_sig {
	uint16_t machine;        /* COFF machine, e.g. 0x8664 for x86-64 */
	bool pe32_plus;          /* optional header magic 0x20b (else 0x10b) */
	uint32_t cert_offset;    /* certificate table: file offset ... */
	uint32_t cert_size;      /* ... and size; 0: none */
};

/* Parse the PE headers in buf (the first len bytes of a file of
 * file_size bytes). Returns 0 with *out filled, -EBADMSG when it is not
 * a PE image (no MZ, no PE signature, an unknown optional header, headers
 * past len). */
int pe_sig_parse(const uint8_t *buf, size_t len, uint64_t file_size, struct pe_sig *out);

/* A certificate table that holds at least one WIN_CERTIFICATE header (8
 * bytes) and lies inside the file. */
bool pe_sig_signed(const struct pe_sig *s, uint64_t file_size);

#endif
