/* http_range.c - see http_range.h. */
#include "http/http_range.h"

#include <errno.h>
#include <string.h>

#include "util.h"

/* Digits at *p, advancing; -EINVAL if none or too many for 64 bits. */
static int read_number(const char **p, uint64_t *out)
{
	char digits[21];
	size_t n = strspn(*p, "0123456789");

	if (n == 0 || n >= sizeof(digits))
		return -EINVAL;
	memcpy(digits, *p, n);
	digits[n] = '\0';
	if (parse_uint(digits, 0, UINT64_MAX, out) < 0)
		return -EINVAL;
	*p += n;
	return 0;
}

int http_range_parse(const char *header, uint64_t size, uint64_t *start, uint64_t *len)
{
	const char *p = header;
	uint64_t first, last;

	if (strncmp(p, "bytes=", 6) != 0)
		return -EINVAL;
	p += 6;
	while (*p == ' ')
		p++;
	if (strchr(p, ','))
		return -EOPNOTSUPP;
	if (*p == '-') {
		/* suffix: the last N bytes */
		p++;
		if (read_number(&p, &last) < 0 || *p)
			return -EINVAL;
		if (last == 0 || size == 0)
			return -ERANGE;
		*len = MIN(last, size);
		*start = size - *len;
		return 0;
	}
	if (read_number(&p, &first) < 0 || *p != '-')
		return -EINVAL;
	p++;
	if (*p == '\0') {
		last = UINT64_MAX;
	} else {
		if (read_number(&p, &last) < 0 || *p || last < first)
			return -EINVAL;
	}
	if (first >= size)
		return -ERANGE;
	last = MIN(last, size - 1);
	*start = first;
	*len = last - first + 1;
	return 0;
}
