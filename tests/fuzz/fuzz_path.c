/* fuzz_path.c - path_normalize() on arbitrary names.
 *
 * The first input byte picks the output buffer size (an exact-size heap
 * buffer, so ASan catches an overflow); the rest is the name. The result
 * is checked against a straightforward model: split on '/' and '\\', drop
 * empty and "." components, refuse "..", join with '/'. Whatever it
 * returns, a successful output never starts with '/', never holds a ".."
 * (or "." or empty) component, and never exceeds PATH_NAME_MAX - 1
 * characters. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "path.h"

static const size_t out_sizes[] = { 0, 1, 2, 3, 4, 8, 16, 64, 256,
				    PATH_NAME_MAX - 1, PATH_NAME_MAX,
				    PATH_NAME_MAX + 1, 4 * PATH_NAME_MAX };

static bool is_sep(char c)
{
	return c == '/' || c == '\\';
}

struct model {
	bool has_nul, has_dotdot;
	char *joined;  /* normalised form, ignoring length limits */
	size_t len;
};

static void model_build(const char *name, size_t len, struct model *m)
{
	size_t i = 0;

	memset(m, 0, sizeof(*m));
	m->joined = malloc(len + 1);
	CHECK(m->joined != NULL);
	m->has_nul = memchr(name, 0, len) != NULL;
	while (i < len) {
		size_t start, clen;

		while (i < len && is_sep(name[i]))
			i++;
		start = i;
		while (i < len && !is_sep(name[i]))
			i++;
		clen = i - start;
		if (clen == 0 || (clen == 1 && name[start] == '.'))
			continue;
		if (clen == 2 && name[start] == '.' && name[start + 1] == '.')
			m->has_dotdot = true;
		if (m->len)
			m->joined[m->len++] = '/';
		memcpy(m->joined + m->len, name + start, clen);
		m->len += clen;
	}
	m->joined[m->len] = '\0';
}

static void check_output(const char *out, size_t outsize)
{
	size_t n = strlen(out);
	const char *c = out;

	CHECK(n < outsize);
	CHECK(n > 0);
	CHECK(n <= PATH_NAME_MAX - 1);
	CHECK(out[0] != '/');
	CHECK(out[n - 1] != '/');
	CHECK(strchr(out, '\\') == NULL);
	/* every component is non-empty, not ".", not ".." */
	for (;;) {
		const char *e = strchr(c, '/');
		size_t clen = e ? (size_t)(e - c) : strlen(c);

		CHECK(clen > 0);
		CHECK(!(clen == 1 && c[0] == '.'));
		CHECK(!(clen == 2 && c[0] == '.' && c[1] == '.'));
		if (!e)
			break;
		c = e + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t outsize, len;
	char *name, *out, *again;
	struct model m;
	int r;

	if (size < 1)
		return 0;
	outsize = out_sizes[data[0] % (sizeof(out_sizes) / sizeof(out_sizes[0]))];
	len = size - 1;
	name = malloc(len ? len : 1);
	out = malloc(outsize ? outsize : 1);
	CHECK(name && out);
	if (len)
		memcpy(name, data + 1, len);

	r = path_normalize(name, len, out, outsize);
	CHECK(r == 0 || r == -EINVAL || r == -EACCES || r == -ENAMETOOLONG);
	model_build(name, len, &m);
	if (r == 0) {
		check_output(out, outsize);
		CHECK(!m.has_nul);
		CHECK(!m.has_dotdot);
		CHECK(strcmp(out, m.joined) == 0);
		/* normalising a normal name changes nothing */
		again = malloc(outsize);
		CHECK(again != NULL);
		CHECK(path_normalize(out, strlen(out), again, outsize) == 0);
		CHECK(strcmp(out, again) == 0);
		free(again);
	} else if (r == -EACCES) {
		CHECK(m.has_dotdot);
	} else if (r == -EINVAL) {
		CHECK(m.has_nul || m.len == 0);
	} else {
		CHECK(m.len + 1 > outsize || m.len > PATH_NAME_MAX - 1);
	}
	/* and the other way round: a clean, short name is accepted */
	if (!m.has_nul && !m.has_dotdot && m.len > 0 && m.len + 1 <= outsize &&
	    m.len <= PATH_NAME_MAX - 1)
		CHECK(r == 0);
	free(m.joined);
	free(name);
	free(out);
	return 0;
}
