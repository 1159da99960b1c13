/* test_page.c - page.h: which embedded file a path names. Only the
 * page's own names are served; everything else is 404 (NULL). */
#include "unit.h"

#include <stdio.h>
#include <string.h>

#include "api/page.h"

struct page_case {
	const char *url;
	bool root;      /* the API's own server */
	bool owns;
	const char *file;  /* NULL: 404 */
};

static const struct page_case cases[] = {
	{ "/ui", false, true, "index.html" },
	{ "/ui/", false, true, "index.html" },
	{ "/ui/index.html", false, true, "index.html" },
	{ "/ui/app.css", false, true, "app.css" },
	{ "/ui/app.js", true, true, "app.js" },
	{ "/", true, true, "index.html" },
	{ "/", false, false, NULL },           /* the file server's own "/" */
	{ "/index.html", true, false, NULL },
	{ "/app.js", true, false, NULL },
	{ "/uiapp.js", false, false, NULL },
	{ "/ui2/app.js", false, false, NULL },
	{ "/api/v1/machines", true, false, NULL },
	{ "/ui/APP.JS", false, true, NULL },
	{ "/ui/app.js/", false, true, NULL },
	{ "/ui//app.js", false, true, NULL },
	{ "/ui/./app.js", false, true, NULL },
	{ "/ui/../ui/app.js", false, true, NULL },
	{ "/ui/../../etc/passwd", false, true, NULL },
	{ "/ui/ui/app.js", false, true, NULL },
	{ "/ui/app", false, true, NULL },
	{ "/ui/app.js.map", false, true, NULL },
	{ "/ui/page_files.c", false, true, NULL },
	{ "", true, false, NULL },
	{ "ui/app.js", true, false, NULL },
};

static void test_find(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct page_case *c = &cases[i];
		const struct page_file *f = page_find(c->url, c->root);

		if (page_owns(c->url, c->root) != c->owns ||
		    (f == NULL) != (c->file == NULL) || (f && strcmp(f->name, c->file) != 0))
			print_error("case %zu: \"%s\" root=%d -> owns=%d file=%s\n", i, c->url,
				    c->root, page_owns(c->url, c->root), f ? f->name : "NULL");
		assert_int_equal(page_owns(c->url, c->root), c->owns);
		if (c->file) {
			assert_non_null(f);
			assert_string_equal(f->name, c->file);
		} else {
			assert_null(f);
		}
	}
}

/* The generated table: every file with a type, its bytes NUL-terminated,
 * a quoted ETag, and the HTML loading only the page's own files. */
static void test_files(void **state)
{
	size_t n;
	const struct page_file *f = page_files(&n);
	const struct page_file *index = page_find("/ui/", false);

	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++) {
		assert_true(f[i].len > 0);
		assert_int_equal(f[i].data[f[i].len], 0);
		assert_int_equal(strlen((const char *)f[i].data), f[i].len);
		assert_true(f[i].etag[0] == '"' && f[i].etag[strlen(f[i].etag) - 1] == '"');
		assert_non_null(strstr(f[i].content_type, "charset=utf-8"));
	}
	assert_non_null(index);
	assert_string_equal(index->content_type, "text/html; charset=utf-8");
	assert_non_null(strstr((const char *)index->data, "src=\"/ui/app.js\""));
	assert_null(strstr((const char *)index->data, "<style"));
	assert_null(strstr((const char *)index->data, "//"));  /* no other origin */
	assert_string_equal(page_find("/ui/app.js", false)->content_type,
			    "text/javascript; charset=utf-8");
	assert_non_null(strstr(PAGE_CSP, "default-src 'self'"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
