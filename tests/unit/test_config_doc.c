/* test_config_doc.c - the documents generated from the settings table:
 * the sample config loads once uncommented, with the example values it
 * shows; every key reaches the reference and every flag the man page. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "config_doc.h"

static char *render(void (*fn)(FILE *))
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	fn(f);
	assert_int_equal(fclose(f), 0);
	return buf;
}

/* Uncomment ";[section]" and ";key = value" lines, leaving the prose. The
 * token file and the database point at files of the test's own. */
static char *uncomment(const char *sample, const char *dir)
{
	char *out = NULL, *line, *save = NULL, *copy = strdup(sample);
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	assert_non_null(copy);
	assert_non_null(f);
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] != ';' || (line[1] != '[' && !strstr(line, " = ")) || line[1] == ' ')
			continue;
		if (strncmp(line, ";token-file = ", 14) == 0)
			fprintf(f, "token-file = %s/token\n", dir);
		else if (strncmp(line, ";database = ", 12) == 0)
			fprintf(f, "database = %s/leases.db\n", dir);
		else if (strncmp(line, ";user = ", 8) == 0)
			continue;  /* the user need not exist here */
		else
			fprintf(f, "%s\n", line + 1);
	}
	assert_int_equal(fclose(f), 0);
	free(copy);
	return out;
}

static void test_sample_loads_uncommented(void **state)
{
	char dir[] = "/tmp/kidou-doc-XXXXXX", path[64], tok[64], err[512] = "";
	char *sample = render(config_doc_ini), *ini;
	struct config *c = NULL;
	FILE *f;
	int r;

	assert_non_null(mkdtemp(dir));
	snprintf(tok, sizeof(tok), "%s/token", dir);
	f = fopen(tok, "we");
	assert_non_null(f);
	fputs("0123456789abcdef0123456789abcdef\n", f);
	fclose(f);
	chmod(tok, 0600);
	ini = uncomment(sample, dir);
	/* Every section of the table is there, uncommented. */
	assert_non_null(strstr(ini, "[daemon]\n"));
	assert_non_null(strstr(ini, "[profile install]\n"));
	snprintf(path, sizeof(path), "%s/kidou.ini", dir);
	f = fopen(path, "we");
	assert_non_null(f);
	fputs(ini, f);
	fclose(f);
	r = config_build(path, NULL, 0, &c, err, sizeof(err));
	if (r < 0)
		fprintf(stderr, "the uncommented sample: %s\n", err);
	assert_int_equal(r, 0);
	/* The values shown are the values loaded. */
	assert_int_equal(c->tftp.max_windowsize, 64);
	assert_int_equal(c->dhcp.local.lease_time, 3600);
	config_free(c);
	unlink(path);
	unlink(tok);
	snprintf(path, sizeof(path), "%s/leases.db", dir);
	unlink(path);
	rmdir(dir);
	free(ini);
	free(sample);
}

/* Every key is in the reference and the sample; every flag in kidou(8)
 * (checked through --help's own list, which the table also drives). */
static void test_every_key_documented(void **state)
{
	char *md = render(config_doc_markdown), *ini = render(config_doc_ini);
	char *man = render(config_doc_man_options), *help = NULL, *p, *save = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&help, &len);
	unsigned flags = 0;

	assert_non_null(f);
	config_print_keys(f);
	fclose(f);
	for (p = strtok_r(help, "\n", &save); p; p = strtok_r(NULL, "\n", &save)) {
		char flag[64], manflag[160], *o = manflag;

		if (sscanf(p, "  --%63s [", flag) != 1 || strcmp(flag, "interface") == 0)
			continue;
		o += sprintf(o, ".B \\-\\-");
		for (const char *q = flag; *q; q++)
			o += *q == '-' ? sprintf(o, "\\-") : sprintf(o, "%c", *q);
		if (!strstr(man, manflag))
			fail_msg("flag --%s is missing from kidou(8)", flag);
		snprintf(manflag, sizeof(manflag), "(`--%s`)", flag);
		if (!strstr(md, manflag))
			fail_msg("flag --%s is missing from docs/configuration.md", flag);
		flags++;
	}
	assert_true(flags > 40);
	assert_non_null(strstr(md, "- `mac`: the machine's MAC address (required)"));
	assert_non_null(strstr(ini, ";option = 42 ip 10.0.0.1\n"));
	free(help);
	free(md);
	free(ini);
	free(man);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sample_loads_uncommented),
		cmocka_unit_test(test_every_key_documented),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
