/* fuzz_page.c - which page file a path names, on arbitrary paths.
 *
 * The input up to its first NUL is the path; its first byte's low bit
 * says whether this is the API's own server (where "/" is the page).
 * Checked: a file is found only for "/", "/ui", "/ui/" (index.html) or
 * exactly "/ui/" + an embedded file's name, and only for a path the page
 * owns; whatever else comes in (.., %2f decoded, doubled slashes) is
 * NULL, a 404. */
#include <stdlib.h>
#include <string.h>

#include "api/page.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *url = malloc(size + 1);
	bool root = size > 0 && (data[0] & 1);
	const struct page_file *f;

	CHECK(url != NULL);
	memcpy(url, data, size);
	url[size] = '\0';
	f = page_find(url, root);
	if (f) {
		char expect[64];
		CHECK(page_owns(url, root));
		if (strcmp(f->name, "index.html") == 0 &&
		    (strcmp(url, "/ui") == 0 || strcmp(url, "/ui/") == 0 ||
		     (root && strcmp(url, "/") == 0)))
			goto out;
		CHECK(strlen(f->name) < sizeof(expect) - 4);
		strcpy(expect, "/ui/");
		strcat(expect, f->name);
		CHECK(strcmp(url, expect) == 0);
	}
out:
	free(url);
	return 0;
}
