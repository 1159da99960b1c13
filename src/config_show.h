/* config_show.h - `kidou check-config [FILE] [--SETTING VALUE ...]`:
 * build the config exactly as startup does (config_build(), then the
 * checks startup makes before it opens a socket: the roots open as
 * directories, the DHCP interfaces exist), and print the settings in
 * force, each with where it came from (FILE:LINE, a --flag, or its
 * default), as an INI file that loads again. Opens no socket. */
#ifndef KIDOU_CONFIG_SHOW_H
#define KIDOU_CONFIG_SHOW_H

#include <stddef.h>
#include <stdio.h>

#include "config.h"

/* Returns the exit status: 0 valid, 1 not (the reason went to err). */
int config_check_run(const char *path, const struct config_override *overrides,
		     size_t n_overrides, FILE *out, FILE *err);

#endif
