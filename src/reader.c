/* reader.c - see reader.h. */
#include "reader.h"

#include <errno.h>
#include <string.h>

int rd_u8(struct reader *r, uint8_t *out)
{
	if (r->left < 1)
		return -EBADMSG;
	*out = r->p[0];
	r->p += 1;
	r->left -= 1;
	return 0;
}

int rd_be16(struct reader *r, uint16_t *out)
{
	if (r->left < 2)
		return -EBADMSG;
	*out = (uint16_t)((r->p[0] << 8) | r->p[1]);
	r->p += 2;
	r->left -= 2;
	return 0;
}

int rd_le16(struct reader *r, uint16_t *out)
{
	if (r->left < 2)
		return -EBADMSG;
	*out = (uint16_t)(r->p[0] | (r->p[1] << 8));
	r->p += 2;
	r->left -= 2;
	return 0;
}

int rd_le32(struct reader *r, uint32_t *out)
{
	if (r->left < 4)
		return -EBADMSG;
	*out = (uint32_t)r->p[0] | ((uint32_t)r->p[1] << 8) | ((uint32_t)r->p[2] << 16) |
	       ((uint32_t)r->p[3] << 24);
	r->p += 4;
	r->left -= 4;
	return 0;
}

int rd_be32(struct reader *r, uint32_t *out)
{
	if (r->left < 4)
		return -EBADMSG;
	*out = ((uint32_t)r->p[0] << 24) | ((uint32_t)r->p[1] << 16) |
	       ((uint32_t)r->p[2] << 8) | r->p[3];
	r->p += 4;
	r->left -= 4;
	return 0;
}

int rd_bytes(struct reader *r, void *out, size_t n)
{
	if (r->left < n)
		return -EBADMSG;
	if (out && n)
		memcpy(out, r->p, n);
	r->p += n;
	r->left -= n;
	return 0;
}

int rd_cstr(struct reader *r, const char **out, size_t *len)
{
	const uint8_t *nul = r->left ? memchr(r->p, 0, r->left) : NULL;
	size_t n;

	if (!nul)
		return -EBADMSG;
	n = (size_t)(nul - r->p);
	*out = (const char *)r->p;
	*len = n;
	r->p += n + 1;
	r->left -= n + 1;
	return 0;
}
