/* test_path.c - request file names to root-relative paths. */
#include "unit.h"

#include <errno.h>
#include <stdlib.h>

#include "path.h"
#include "util.h"

struct path_case {
	const char *in;
	int rc;
	const char *out;  /* when rc == 0 */
};

static const struct path_case cases[] = {
	{ "pxelinux.0", 0, "pxelinux.0" },
	{ "/pxelinux.0", 0, "pxelinux.0" },
	{ "///pxelinux.0", 0, "pxelinux.0" },
	{ "boot/grub/grub.cfg", 0, "boot/grub/grub.cfg" },
	{ "boot\\grub\\grub.cfg", 0, "boot/grub/grub.cfg" },
	{ "\\boot\\x", 0, "boot/x" },
	{ "/boot\\mixed/seps\\x", 0, "boot/mixed/seps/x" },
	{ "a//b", 0, "a/b" },
	{ "a\\\\b", 0, "a/b" },
	{ "a/b/", 0, "a/b" },
	{ "a/b\\", 0, "a/b" },
	{ "./a", 0, "a" },
	{ "a/./b", 0, "a/b" },
	{ "a/.\\.\\b/.", 0, "a/b" },
	{ "/./././x", 0, "x" },
	/* names that merely contain dots are names */
	{ "...", 0, "..." },
	{ "a/.../b", 0, "a/.../b" },
	{ "..a", 0, "..a" },
	{ "a..", 0, "a.." },
	{ ".hidden", 0, ".hidden" },
	{ "a/..b/c", 0, "a/..b/c" },
	{ "pxelinux.cfg/01-aa-bb-cc-dd-ee-ff", 0, "pxelinux.cfg/01-aa-bb-cc-dd-ee-ff" },
	{ "sp ace", 0, "sp ace" },
	{ "\xc3\xa9t\xc3\xa9", 0, "\xc3\xa9t\xc3\xa9" },
	/* ".." anywhere is refused, not resolved */
	{ "..", -EACCES, NULL },
	{ "/..", -EACCES, NULL },
	{ "../x", -EACCES, NULL },
	{ "..\\x", -EACCES, NULL },
	{ "a/../b", -EACCES, NULL },
	{ "a\\..\\b", -EACCES, NULL },
	{ "a/..", -EACCES, NULL },
	{ "a/..\\", -EACCES, NULL },
	{ "./../x", -EACCES, NULL },
	{ "a/b/c/../../..", -EACCES, NULL },
	{ "\\..\\..\\etc\\passwd", -EACCES, NULL },
	/* nothing left */
	{ "", -EINVAL, NULL },
	{ "/", -EINVAL, NULL },
	{ "\\", -EINVAL, NULL },
	{ "//\\\\", -EINVAL, NULL },
	{ ".", -EINVAL, NULL },
	{ "./", -EINVAL, NULL },
	{ "/./.\\.", -EINVAL, NULL },
};

static void test_table(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct path_case *c = &cases[i];
		size_t len = strlen(c->in);
		char *in = malloc(len ? len : 1);  /* exact size: no NUL to lean on */
		char out[64];
		int r;

		assert_non_null(in);
		memcpy(in, c->in, len);
		memset(out, 'Z', sizeof(out));
		r = path_normalize(in, len, out, sizeof(out));
		if (r != c->rc || (r == 0 && strcmp(out, c->out) != 0))
			print_error("case \"%s\": rc %d out \"%.*s\"\n", c->in, r,
				    r == 0 ? (int)sizeof(out) : 0, out);
		assert_rc(r, c->rc);
		if (r == 0)
			assert_string_equal(out, c->out);
		free(in);
	}
}

static void test_len_bounds_input(void **state)
{
	char out[32];

	/* only len bytes count, whatever follows */
	assert_rc(path_normalize("abc/../x", 3, out, sizeof(out)), 0);
	assert_string_equal(out, "abc");
	assert_rc(path_normalize("abc", 0, out, sizeof(out)), -EINVAL);
}

static void test_embedded_nul(void **state)
{
	char out[32];

	/* A NUL inside would cut the path short when opened: refuse it. */
	assert_rc(path_normalize("a\0b", 3, out, sizeof(out)), -EINVAL);
	assert_rc(path_normalize("ok.txt\0../../x", 14, out, sizeof(out)), -EINVAL);
	assert_rc(path_normalize("\0", 1, out, sizeof(out)), -EINVAL);
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* PATH_NAME_MAX counts the NUL, like PATH_MAX: the longest normalised name
 * is PATH_NAME_MAX - 1 characters, however many components it has. A
 * larger output buffer must not raise that limit. */
static void test_too_long(void **state)
{
	static char out[4 * PATH_NAME_MAX];
	char *name = repeat('a', PATH_NAME_MAX - 1);

	assert_rc(path_normalize(name, PATH_NAME_MAX - 1, out, sizeof(out)), 0);
	assert_int_equal(strlen(out), PATH_NAME_MAX - 1);
	free(name);

	name = repeat('a', PATH_NAME_MAX);
	assert_rc(path_normalize(name, PATH_NAME_MAX, out, sizeof(out)), -ENAMETOOLONG);
	free(name);

	/* leading separators and "." do not count towards the limit */
	name = repeat('/', 3 * PATH_NAME_MAX);
	memset(name + 2 * PATH_NAME_MAX, 'b', PATH_NAME_MAX - 1);
	assert_rc(path_normalize(name, strlen(name), out, sizeof(out)), 0);
	assert_int_equal(strlen(out), PATH_NAME_MAX - 1);
	free(name);
}

static void test_too_long_multi_component(void **state)
{
	static char out[4 * PATH_NAME_MAX];
	char *name = repeat('b', PATH_NAME_MAX);
	int r_max, r_over;

	/* "a/" + 1021 'b': 1023 characters, the longest allowed */
	name[0] = 'a';
	name[1] = '/';
	r_max = path_normalize(name, PATH_NAME_MAX - 1, out, sizeof(out));
	/* "a/" + 1022 'b': 1024 characters, one too many */
	r_over = path_normalize(name, PATH_NAME_MAX, out, sizeof(out));
	free(name);
	assert_rc(r_max, 0);
	assert_rc(r_over, -ENAMETOOLONG);

	/* many short components adding up past the limit */
	name = repeat('c', 2 * PATH_NAME_MAX);
	for (size_t i = 1; i < 2 * PATH_NAME_MAX; i += 2)
		name[i] = '/';
	assert_rc(path_normalize(name, 2 * PATH_NAME_MAX, out, sizeof(out)), -ENAMETOOLONG);
	assert_rc(path_normalize(name, PATH_NAME_MAX - 1, out, sizeof(out)), 0);
	assert_int_equal(strlen(out), PATH_NAME_MAX - 1);
	free(name);
}

static void test_out_buffer_small(void **state)
{
	char out[16];

	memset(out, 'Z', sizeof(out));
	assert_rc(path_normalize("abc", 3, out, 0), -ENAMETOOLONG);
	assert_int_equal(out[0], 'Z');
	assert_rc(path_normalize("abc", 3, out, 3), -ENAMETOOLONG);
	assert_int_equal(out[3], 'Z');
	assert_rc(path_normalize("abc", 3, out, 4), 0);
	assert_string_equal(out, "abc");

	memset(out, 'Z', sizeof(out));
	assert_rc(path_normalize("/a/b", 4, out, 3), -ENAMETOOLONG);
	assert_int_equal(out[3], 'Z');
	assert_rc(path_normalize("/a/b", 4, out, 4), 0);
	assert_string_equal(out, "a/b");
	assert_rc(path_normalize("x", 1, out, 1), -ENAMETOOLONG);
	assert_rc(path_normalize("x", 1, out, 2), 0);
	assert_string_equal(out, "x");
	/* the refusal order does not let ".." slip through a full buffer */
	assert_rc(path_normalize("../a", 4, out, 1), -EACCES);
}

static void test_idempotent(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char once[64], twice[64];

		if (cases[i].rc != 0)
			continue;
		assert_rc(path_normalize(cases[i].in, strlen(cases[i].in), once,
					      sizeof(once)), 0);
		assert_rc(path_normalize(once, strlen(once), twice, sizeof(twice)), 0);
		assert_string_equal(once, twice);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_len_bounds_input),
		cmocka_unit_test(test_embedded_nul),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_too_long_multi_component),
		cmocka_unit_test(test_out_buffer_small),
		cmocka_unit_test(test_idempotent),
	};

	return cmocka_run_group_tests_name("path", tests, NULL, NULL);
}
