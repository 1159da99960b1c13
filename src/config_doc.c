/* config_doc.c - see config_doc.h. Everything here is read off the
 * settings table in config.c; nothing about a key is written twice. */
#include "config_doc.h"

#include <string.h>

#include "config_internal.h"

/* The order of the documents: the daemon, then the servers, then DHCP's
 * sections, then what is booted. */
static const enum section_kind doc_order[] = {
	SEC_DAEMON, SEC_TFTP, SEC_HTTP, SEC_API, SEC_DHCP,
	SEC_SUBNET, SEC_BOOT, SEC_HOST, SEC_PROFILE,
};

#define DOC_ORDER_COUNT (sizeof(doc_order) / sizeof(doc_order[0]))

static const char *header_of(enum section_kind s, char *buf, size_t size)
{
	snprintf(buf, size, "[%s%s]", config_section_name(s),
		 config_section_named(s) ? " NAME" : "");
	return buf;
}

/* --- the sample config --- */

/* Word-wrap text into "; "-prefixed comment lines of at most 76 columns. */
static void ini_comment(FILE *out, const char *text)
{
	const char *p = text;

	while (*p) {
		size_t len = strlen(p), cut = len;

		if (len > 74) {
			cut = 74;
			while (cut > 0 && p[cut] != ' ')
				cut--;
			if (cut == 0)
				cut = strcspn(p, " ");
		}
		fprintf(out, "; %.*s\n", (int)cut, p);
		p += cut;
		while (*p == ' ')
			p++;
	}
}

void config_doc_ini(FILE *out)
{
	size_t n;
	const struct config_key *keys = config_key_table(&n);
	char hdr[64];

	fprintf(out,
		"; kidou sample configuration (kidou.ini(5)). Generated from the settings\n"
		"; table (src/config.c): every key, its meaning and an example value, all\n"
		"; commented out. Uncomment what you need; a key left out keeps its\n"
		"; default. Most keys are also flags: [tftp] root is --tftp-root, and\n"
		"; flags win over this file.\n");
	for (size_t o = 0; o < DOC_ORDER_COUNT; o++) {
		enum section_kind s = doc_order[o];

		fprintf(out, "\n");
		ini_comment(out, config_section_help(s));
		if (config_section_named(s))
			fprintf(out, ";[%s %s]\n", config_section_name(s),
				s == SEC_SUBNET ? "rack1" : s == SEC_HOST ? "web1" : "install");
		else
			fprintf(out, ";%s\n", header_of(s, hdr, sizeof(hdr)));
		for (size_t i = 0; i < n; i++) {
			const struct config_key *k = &keys[i];

			if (k->section != s)
				continue;
			fprintf(out, "\n");
			ini_comment(out, k->help);
			fprintf(out, ";%s = %s\n", k->key, k->example ? k->example : "");
		}
	}
}

/* --- Markdown (docs/configuration.md) --- */

/* Markdown that GitHub renders as written: escape what would start
 * emphasis, code or HTML. */
static void md_text(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (strchr("*_`<>[]\\", *s))
			fputc('\\', out);
		fputc(*s, out);
	}
}

void config_doc_markdown(FILE *out)
{
	size_t n;
	const struct config_key *keys = config_key_table(&n);
	char hdr[64];

	for (size_t o = 0; o < DOC_ORDER_COUNT; o++) {
		enum section_kind s = doc_order[o];

		fprintf(out, "## `%s`\n\n", header_of(s, hdr, sizeof(hdr)));
		md_text(out, config_section_help(s));
		fprintf(out, "\n\n");
		for (size_t i = 0; i < n; i++) {
			const struct config_key *k = &keys[i];

			if (k->section != s)
				continue;
			fprintf(out, "- `%s`", k->key);
			if (k->flag)
				fprintf(out, " (`--%s`)", k->flag);
			if (k->repeatable)
				fprintf(out, ", repeatable");
			fprintf(out, ": ");
			md_text(out, k->help);
			if (k->example)
				fprintf(out, ". Example: `%s = %s`", k->key, k->example);
			fprintf(out, "\n");
		}
		fprintf(out, "\n");
	}
}

/* --- troff (man(7)) --- */

/* Text for a man page: a backslash is \e, a hyphen in a flag is \-, and a
 * line may not begin with a control character (. or '). */
static void man_text(FILE *out, const char *s, bool hyphens_are_minus)
{
	if (*s == '.' || *s == '\'')
		fputs("\\&", out);
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\e", out);
		else if (*s == '-' && hyphens_are_minus)
			fputs("\\-", out);
		else
			fputc(*s, out);
	}
}

void config_doc_man_options(FILE *out)
{
	size_t n;
	const struct config_key *keys = config_key_table(&n);

	for (size_t o = 0; o < DOC_ORDER_COUNT; o++) {
		enum section_kind s = doc_order[o];

		for (size_t i = 0; i < n; i++) {
			const struct config_key *k = &keys[i];

			if (k->section != s || !k->flag)
				continue;
			fprintf(out, ".TP\n.B \\-\\-");
			man_text(out, k->flag, true);
			fprintf(out, " \\fIVALUE\\fR\n");
			man_text(out, k->help, false);
			fprintf(out, ".\nThe key \\fB%s\\fR in \\fB[%s]\\fR.\n", k->key,
				config_section_name(s));
		}
	}
}

void config_doc_man_sections(FILE *out)
{
	size_t n;
	const struct config_key *keys = config_key_table(&n);
	char hdr[64];

	for (size_t o = 0; o < DOC_ORDER_COUNT; o++) {
		enum section_kind s = doc_order[o];

		fprintf(out, ".SS \"%s\"\n", header_of(s, hdr, sizeof(hdr)));
		man_text(out, config_section_help(s), false);
		fprintf(out, "\n");
		for (size_t i = 0; i < n; i++) {
			const struct config_key *k = &keys[i];

			if (k->section != s)
				continue;
			fprintf(out, ".TP\n.B ");
			man_text(out, k->key, true);
			fprintf(out, "\n");
			man_text(out, k->help, false);
			fprintf(out, ".");
			if (k->flag) {
				fprintf(out, " Flag: \\fB\\-\\-");
				man_text(out, k->flag, true);
				fprintf(out, "\\fR.");
			}
			if (k->repeatable)
				fprintf(out, " Repeatable.");
			if (k->example) {
				fprintf(out, " Example: \\fB");
				man_text(out, k->key, true);
				fprintf(out, " = ");
				man_text(out, k->example, false);
				fprintf(out, "\\fR.");
			}
			fprintf(out, "\n");
		}
	}
}
