/* config_doc.h - the documents generated from the settings table, so that
 * a key, its flag and its description cannot drift between --help, the
 * man pages, docs/configuration.md and the sample docs/kidou.ini.
 *
 * Pure: each writes one document (or the generated part of one) to out.
 * tools/docgen.c puts them into their templates; a meson test fails when
 * a checked-in document differs from what the table generates now. */
#ifndef KIDOU_CONFIG_DOC_H
#define KIDOU_CONFIG_DOC_H

#include <stdio.h>

/* The sample config: every section and key, commented out, with its
 * description and an example value. */
void config_doc_ini(FILE *out);
/* The settings reference: a "## [section]" part per section. */
void config_doc_markdown(FILE *out);
/* kidou(8)'s OPTIONS entries: one .TP per flag. */
void config_doc_man_options(FILE *out);
/* kidou.ini(5)'s sections: one .SS per section, one .TP per key. */
void config_doc_man_sections(FILE *out);

#endif
