/* client_table.h - the CLI's tables (`kidou machines`, `leases`, `hosts`,
 * `profiles`): the JSON array an API list answered, made into aligned
 * text columns. Pure: no I/O, no curl (client.c does the HTTP).
 *
 * Every cell is sanitised for a terminal: the strings come from the
 * server, and some (hostnames, file names) from the machines it boots. */
#ifndef KIDOU_API_CLIENT_TABLE_H
#define KIDOU_API_CLIENT_TABLE_H

#include <jansson.h>
#include <stdbool.h>

enum client_list {
	CLIENT_MACHINES,
	CLIENT_LEASES,
	CLIENT_HOSTS,
	CLIENT_PROFILES,
};

/* Cells wider than this (in characters) are cut, ending in "...": a long
 * kernel command line must not push every other column off the screen.
 * --json has the full text. */
#define CLIENT_CELL_MAX 60

/* The API path of a list under /api/v1/ ("machines"). */
const char *client_list_path(enum client_list list);

/* Format doc, the array GET /api/v1/<list> answered, as a header row and
 * one row per item, columns separated by two spaces, no trailing spaces.
 * A missing or null field is "-". Returns 0 and a malloc'd text in *ret,
 * -EBADMSG when doc is not an array of objects, -ENOMEM. */
int client_table(enum client_list list, const json_t *doc, char **ret);

/* Escape s for a terminal, appending to *buf (malloc'd, *len used, *cap
 * allocated; all may start at NULL/0): C0 controls, DEL and invalid
 * bytes as \xHH, C1 controls and the Unicode bidirectional overrides as
 * \uHHHH, a backslash as \\. Stops after max characters, ending in "..."
 * when it cut. Returns the characters appended (terminal columns, one
 * per code point), or -ENOMEM. */
int client_escape(const char *s, size_t max, char **buf, size_t *len, size_t *cap);

/* The body of PUT /api/v1/machines/{mac}/next-boot (docs/api.md):
 * {"profile": P, "once": true}, {"profile": P}, {"local": true} or
 * {"default": true}. The caller has checked that exactly one of profile,
 * local, dflt is given and once only with profile. Returns a new
 * reference, or NULL (out of memory, or those rules broken). */
json_t *client_next_boot_body(const char *profile, bool once, bool local, bool dflt);

/* The one line `kidou next-boot` prints for the machine state the PUT
 * answered: "52:54:00:12:34:56: next boot profile inst once (install
 * pending)\n", the same next-boot text as `kidou machines`, escaped. The
 * answer's done_token is never shown (--json has it). Returns 0 and a
 * malloc'd text in *ret, -EBADMSG when doc is no object with a "mac"
 * string, -ENOMEM. */
int client_next_boot_line(const json_t *doc, char **ret);

#endif
