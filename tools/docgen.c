/* docgen - write a document generated from the settings table:
 *
 *   kidou-docgen ini|markdown|man-options|man-sections [TEMPLATE]
 *
 * Without TEMPLATE the generated text alone goes to stdout. With one,
 * TEMPLATE is copied to stdout with its line "@GENERATED@" replaced by the
 * generated text and "@VERSION@" by kidou's version. Built, never
 * installed: meson runs it for the man pages, and `ninja update-docs`
 * (tests/docs_current.sh) for the checked-in documents. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config_doc.h"

static int generate(const char *format, FILE *out)
{
	if (strcmp(format, "ini") == 0)
		config_doc_ini(out);
	else if (strcmp(format, "markdown") == 0)
		config_doc_markdown(out);
	else if (strcmp(format, "man-options") == 0)
		config_doc_man_options(out);
	else if (strcmp(format, "man-sections") == 0)
		config_doc_man_sections(out);
	else
		return -EINVAL;
	return 0;
}

static void put_line(const char *line, FILE *out)
{
	const char *v;

	while ((v = strstr(line, "@VERSION@"))) {
		fwrite(line, 1, (size_t)(v - line), out);
		fputs(KIDOU_VERSION, out);
		line = v + strlen("@VERSION@");
	}
	fputs(line, out);
}

int main(int argc, char **argv)
{
	char line[4096];
	FILE *t;
	int r = 0;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: kidou-docgen ini|markdown|man-options|man-sections [TEMPLATE]\n");
		return 2;
	}
	if (argc == 2) {
		if (generate(argv[1], stdout) < 0) {
			fprintf(stderr, "kidou-docgen: unknown format '%s'\n", argv[1]);
			return 2;
		}
		return fflush(stdout) == 0 ? 0 : 1;
	}
	t = fopen(argv[2], "re");
	if (!t) {
		fprintf(stderr, "kidou-docgen: %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	while (r == 0 && fgets(line, sizeof(line), t)) {
		if (strcmp(line, "@GENERATED@\n") == 0)
			r = generate(argv[1], stdout);
		else
			put_line(line, stdout);
	}
	if (r < 0)
		fprintf(stderr, "kidou-docgen: unknown format '%s'\n", argv[1]);
	if (ferror(t))
		r = -EIO;
	fclose(t);
	return r == 0 && fflush(stdout) == 0 ? 0 : 1;
}
