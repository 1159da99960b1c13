/* config_show.c - see config_show.h. */
#include "config_show.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_internal.h"
#include "util.h"

/* Settings seen, in order; a config has at most a few hundred thousand
 * lines (100,000 hosts), each kept once. */
struct origin {
	char *section, *name, *key, *value, *file, *flag;
	unsigned line;
};

struct origins {
	struct origin *v;
	size_t n, cap;
};

static char *dup_or_null(const char *s, bool *oom)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*oom = true;
	return d;
}

static int record(void *ctx, const struct config_origin *o)
{
	struct origins *os = ctx;
	struct origin *e;
	bool oom = false;

	if (os->n == os->cap) {
		size_t cap = os->cap ? os->cap * 2 : 64;
		struct origin *v = realloc(os->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		os->v = v;
		os->cap = cap;
	}
	e = &os->v[os->n];
	*e = (struct origin){ .line = o->line };
	e->section = dup_or_null(o->section, &oom);
	e->name = dup_or_null(o->name, &oom);
	e->key = dup_or_null(o->key, &oom);
	e->value = dup_or_null(o->value, &oom);
	e->file = dup_or_null(o->file, &oom);
	e->flag = dup_or_null(o->flag, &oom);
	os->n++;  /* counted even half-filled, so that it is freed */
	return oom ? -ENOMEM : 0;
}

static void origins_free(struct origins *os)
{
	for (size_t i = 0; i < os->n; i++) {
		struct origin *e = &os->v[i];
		free(e->section);
		free(e->name);
		free(e->key);
		free(e->value);
		free(e->file);
		free(e->flag);
	}
	free(os->v);
}

static void print_setting(FILE *out, const char *key, const struct origin *e)
{
	char where[320];
	int w;

	if (e->flag)
		snprintf(where, sizeof(where), "--%s", e->flag);
	else
		snprintf(where, sizeof(where), "%s:%u", e->file, e->line);
	w = fprintf(out, "%s = %s", key, e->value);
	fprintf(out, "%*s ; %s\n", w < 40 ? 40 - w : 0, "", where);
}

/* "(default X)" or "default: X" in a key's help, as the words after
 * "default", for a key nobody set. */
static void print_default(FILE *out, const struct config_key *k)
{
	const char *d = strstr(k->help, "(default");
	size_t len;

	if (!d)
		d = strstr(k->help, "; default");
	if (!d) {
		fprintf(out, ";%s =%*s ; not set\n", k->key, (int)(37 - strlen(k->key)), "");
		return;
	}
	d = strstr(d, "default") + strlen("default");
	d += strspn(d, ": ");
	len = strcspn(d, ");");
	fprintf(out, ";%s =%*s ; not set, default %.*s\n", k->key,
		(int)(strlen(k->key) < 37 ? 37 - strlen(k->key) : 0), "", (int)len, d);
}

/* One plain section: every key of the table, as set (a flag replaces the
 * file's values, a repeatable key lists each) or its default. */
static void print_plain(FILE *out, enum section_kind s, const struct origins *os)
{
	size_t n;
	const struct config_key *keys = config_key_table(&n);
	const char *sname = config_section_name(s);

	fprintf(out, "\n[%s]\n", sname);
	for (size_t i = 0; i < n; i++) {
		const struct config_key *k = &keys[i];
		bool any = false, by_flag = false;

		if (k->section != s)
			continue;
		for (size_t j = 0; j < os->n; j++)
			if (strcmp(os->v[j].section, sname) == 0 && strcmp(os->v[j].key, k->key) == 0 &&
			    os->v[j].flag)
				by_flag = true;
		for (size_t j = 0; j < os->n; j++) {
			const struct origin *e = &os->v[j];
			if (strcmp(e->section, sname) != 0 || strcmp(e->key, k->key) != 0 ||
			    (by_flag && !e->flag))
				continue;
			/* A single-valued key set twice (file, then flag):
			 * the last one is in force. */
			if (!k->repeatable) {
				for (size_t l = j + 1; l < os->n; l++)
					if (strcmp(os->v[l].section, sname) == 0 &&
					    strcmp(os->v[l].key, k->key) == 0)
						e = &os->v[l];
				print_setting(out, k->key, e);
				any = true;
				break;
			}
			print_setting(out, k->key, e);
			any = true;
		}
		if (!any)
			print_default(out, k);
	}
}

/* The named sections of kind s, each with its keys in file order. A
 * section's keys are one run of lines (a repeated section is refused) and
 * no flag sets them, so a change of name starts the next one. */
static void print_named(FILE *out, enum section_kind s, const struct origins *os)
{
	const char *sname = config_section_name(s), *cur = NULL;

	for (size_t i = 0; i < os->n; i++) {
		const struct origin *e = &os->v[i];

		if (strcmp(e->section, sname) != 0)
			continue;
		if (!cur || strcmp(cur, e->name) != 0) {
			fprintf(out, "\n[%s %s]\n", sname, e->name);
			cur = e->name;
		}
		print_setting(out, e->key, e);
	}
}

/* What startup checks after the config is built, before serving: the
 * roots must be directories it can open, the DHCP interfaces must exist. */
static int check_environment(const struct config *c, FILE *err)
{
	const char *roots[2] = { c->tftp.root, c->http.enabled ? c->http.root : NULL };
	const char *names[2] = { "[tftp] root", "[http] root" };
	int bad = 0;

	for (size_t i = 0; i < 2; i++) {
		int fd;

		if (!roots[i])
			continue;
		fd = open(roots[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			fprintf(err, "kidou: %s: %s: %s\n", names[i], roots[i], strerror(errno));
			bad = 1;
		} else {
			close(fd);
		}
	}
	for (size_t i = 0; i < c->dhcp.n_interfaces; i++)
		if (if_nametoindex(c->dhcp.interfaces[i]) == 0) {
			fprintf(err, "kidou: [dhcp] interface: no interface %s here\n",
				c->dhcp.interfaces[i]);
			bad = 1;
		}
	return bad;
}

int config_check_run(const char *path, const struct config_override *overrides,
		     size_t n_overrides, FILE *out, FILE *err)
{
	static const enum section_kind plain[] = { SEC_DAEMON, SEC_TFTP, SEC_HTTP, SEC_API,
						   SEC_DHCP, SEC_BOOT };
	static const enum section_kind named[] = { SEC_SUBNET, SEC_HOST, SEC_PROFILE };
	struct origins os = { 0 };
	struct config *c = NULL;
	char msg[512];
	int r;

	r = config_build_traced(path, overrides, n_overrides, &c, msg, sizeof(msg), record, &os);
	if (r < 0) {
		fprintf(err, "kidou: %s\n", msg);
		origins_free(&os);
		return 1;
	}
	r = check_environment(c, err);
	fprintf(out, "; kidou check-config: %s%s\n", path ? path : "no config file, flags only",
		r ? ": the settings are valid, but kidou would not start here (above)"
		  : ": valid");
	fprintf(out, "; The settings in force, each with where it came from: FILE:LINE,\n"
		     "; a --flag, or its default (commented out).\n");
	for (size_t i = 0; i < ARRAY_SIZE(plain); i++)
		print_plain(out, plain[i], &os);
	for (size_t i = 0; i < ARRAY_SIZE(named); i++)
		print_named(out, named[i], &os);
	config_free(c);
	origins_free(&os);
	return r;
}
