/* path.c - see path.h. */
#include "path.h"

#include <errno.h>
#include <string.h>

int path_normalize(const char *name, size_t len, char *out, size_t outsize)
{
	size_t o = 0, i = 0;

	if (outsize == 0)
		return -ENAMETOOLONG;
	while (i < len) {
		size_t start, clen;

		/* Skip separators of either kind. */
		while (i < len && (name[i] == '/' || name[i] == '\\'))
			i++;
		start = i;
		while (i < len && name[i] != '/' && name[i] != '\\' && name[i] != '\0')
			i++;
		if (i < len && name[i] == '\0')
			return -EINVAL;
		clen = i - start;
		if (clen == 0 || (clen == 1 && name[start] == '.'))
			continue;
		if (clen == 2 && name[start] == '.' && name[start + 1] == '.')
			return -EACCES;
		/* component, plus a separator before it, plus the final NUL */
		size_t need = o + (o ? 1 : 0) + clen + 1;
		if (need > outsize || need > PATH_NAME_MAX)
			return -ENAMETOOLONG;
		if (o)
			out[o++] = '/';
		memcpy(out + o, name + start, clen);
		o += clen;
	}
	if (o == 0)
		return -EINVAL;
	out[o] = '\0';
	return 0;
}
