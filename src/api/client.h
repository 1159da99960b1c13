/* client.h - the CLI side of the API: `kidou machines`, `kidou leases`,
 * `kidou hosts`, `kidou profiles`. Each asks a running kidou over HTTP
 * (libcurl) and prints a table (api/client_table.h) or, with --json, the
 * JSON it received, pretty-printed.
 *
 *   kidou machines [--api URL | --config FILE] [--token-file FILE] [--json]
 *
 * Linked into the executable only: the daemon's code never calls curl. */
#ifndef KIDOU_API_CLIENT_H
#define KIDOU_API_CLIENT_H

#include <stdbool.h>

/* Whether argv[1] names a client subcommand. */
bool client_is_command(const char *name);

/* Run one: argv[0] is the subcommand. Returns the exit status (0; 1 on
 * any failure, with one line on stderr; 2 on a usage error). */
int client_main(int argc, char **argv);

#endif
