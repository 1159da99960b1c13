/* config.h - kidou's configuration: defaults, then the INI file, then
 * command-line flags (flags win). Every setting has one key in the file
 * ([section] key) and one flag (--section-key, or a short alias).
 *
 * A config is validated whole when built and is immutable afterwards; a
 * reload (SIGHUP) builds a new one from the same file and flags and the
 * daemon swaps it in. */
#ifndef KIDOU_CONFIG_H
#define KIDOU_CONFIG_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>

#include "log.h"

struct tftp_config {
	char *root;                /* directory served (default ./tftpboot) */
	struct sockaddr_in listen; /* default 0.0.0.0:69 */
	unsigned max_transfers;    /* concurrent transfers before "busy" */
	unsigned retransmit_ms;    /* retransmit timeout unless the client negotiates one */
	unsigned retries;          /* retransmits before a transfer is abandoned */
	unsigned max_blksize;      /* larger blksize requests are clamped here */
	unsigned max_windowsize;   /* larger windowsize requests are clamped here */
};

struct config {
	char *path;                /* config file, NULL when none */
	enum log_level log_level;
	char *user;                /* drop privileges to this user; NULL: don't */
	struct tftp_config tftp;
};

/* One command-line setting, kept so that a reload can apply it again. */
struct config_override {
	const char *flag;  /* e.g. "tftp-root" (without dashes) */
	const char *value;
};

/* Describes every setting for --help: one line per key. */
void config_print_keys(FILE *out);

/* Look up a flag name ("tftp-root"); returns 0 if it names a setting. */
int config_flag_known(const char *flag);

/* Build a config: defaults, then `path` (may be NULL), then overrides.
 * On failure returns -errno and writes a message naming the file, line and
 * key (or the flag) into err. *ret is set only on success. */
int config_build(const char *path, const struct config_override *overrides,
		 size_t n_overrides, struct config **ret, char *err, size_t errsize);

void config_free(struct config *c);

#endif
