/* page.h - the live status page: which of its files a path names.
 *
 * The page is three plain files in src/api/ui (index.html, app.css,
 * app.js), built into the binary (scripts/embed_page.py writes
 * page_files.c at build time): nothing to install, nothing fetched from
 * elsewhere. It is served wherever the API is: under /ui/ always, and at
 * "/" too on the API's own server ([api] listen), which has no file tree.
 * On the [http] file server "/" stays the file server's, so a boot tree
 * is never shadowed there (a "ui" directory in it is, while the API is
 * on that server). The page's data all comes from the API, so the files
 * themselves need no token even with [api] read-token = yes.
 *
 * Pure: no I/O, no allocation. http_server.c answers with what this gives. */
#ifndef KIDOU_PAGE_H
#define KIDOU_PAGE_H

#include <stdbool.h>
#include <stddef.h>

#define PAGE_PREFIX "/ui"

/* The page may load only its own files and talk only to its own origin:
 * no inline script or style, no frames, no plugins, no forms posted
 * anywhere (the page's own forms are handled by its script). */
#define PAGE_CSP "default-src 'self'; object-src 'none'; base-uri 'none'; " \
		 "form-action 'none'; frame-ancestors 'none'"

struct page_file {
	const char *name;          /* "index.html" */
	const char *content_type;
	const unsigned char *data; /* NUL-terminated (not counted in len) */
	size_t len;
	const char *etag;          /* quoted, from a hash of data */
};

/* The embedded files (generated page_files.c). */
const struct page_file *page_files(size_t *n);

/* Is url (decoded, with its '/') the page's to answer: "/ui", "/ui/..."
 * and, with root (the API's own server), "/"? */
bool page_owns(const char *url, bool root);

/* The file url names: index.html for "/ui", "/ui/" (and "/" with root),
 * else "/ui/NAME" for an embedded NAME exactly. NULL: no such file (404):
 * every other path, "..", "%2f" and the like included, since nothing is
 * looked up but these names. */
const struct page_file *page_find(const char *url, bool root);

#endif
