/* page.c - see page.h. */
#include "api/page.h"

#include <string.h>

bool page_owns(const char *url, bool root)
{
	size_t n = strlen(PAGE_PREFIX);

	if (root && strcmp(url, "/") == 0)
		return true;
	return strncmp(url, PAGE_PREFIX, n) == 0 && (url[n] == '\0' || url[n] == '/');
}

const struct page_file *page_find(const char *url, bool root)
{
	size_t n = strlen(PAGE_PREFIX), count;
	const struct page_file *f = page_files(&count);
	const char *name;

	if (!page_owns(url, root))
		return NULL;
	if (strcmp(url, "/") == 0 || url[n] == '\0' || url[n + 1] == '\0')
		name = "index.html";
	else
		name = url + n + 1;
	for (size_t i = 0; i < count; i++)
		if (strcmp(f[i].name, name) == 0)
			return &f[i];
	return NULL;
}
