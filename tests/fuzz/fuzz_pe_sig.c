/* fuzz_pe_sig.c - pe_sig_parse() on arbitrary file heads.
 *
 * The first 4 input bytes (little-endian) are the file's size, the rest
 * its first bytes, in an exact-size heap buffer so that ASan catches a
 * read past it. Whatever it returns, a signed verdict means a certificate
 * table of at least one header lying inside the file. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "boot/pe_sig.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pe_sig s;
	uint64_t file_size;
	uint8_t *buf;
	int r;

	if (size < 4)
		return 0;
	file_size = (uint64_t)data[0] | ((uint64_t)data[1] << 8) | ((uint64_t)data[2] << 16) |
		    ((uint64_t)data[3] << 24);
	buf = malloc(size - 4 ? size - 4 : 1);
	if (!buf)
		return 0;
	memcpy(buf, data + 4, size - 4);
	r = pe_sig_parse(buf, size - 4, file_size, &s);
	CHECK(r == 0 || r == -EBADMSG);
	if (r == 0 && pe_sig_signed(&s, file_size)) {
		CHECK(s.cert_size >= 8);
		CHECK((uint64_t)s.cert_offset + s.cert_size <= file_size);
	}
	free(buf);
	return 0;
}
