/* config.c - see config.h. The INI syntax itself is parsed by libinih;
 * this file maps keys to typed settings and validates them. */
#include "config.h"

#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"
#include "util.h"

/* RFC 2348: blksize 8..65464. RFC 7440: windowsize 1..65535. */
#define TFTP_BLKSIZE_MIN 8
#define TFTP_BLKSIZE_MAX 65464
#define TFTP_WINDOWSIZE_MAX 65535

typedef int (*config_setter)(struct config *c, const char *value,
			     char *err, size_t errsize);

struct config_key {
	const char *section;
	const char *key;
	const char *flag;
	const char *help;
	config_setter set;
};

static int set_error(char *err, size_t errsize, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int set_error(char *err, size_t errsize, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errsize, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int set_string(char **slot, const char *value, char *err, size_t errsize)
{
	char *s;

	if (!*value)
		return set_error(err, errsize, "must not be empty");
	s = strdup(value);
	if (!s)
		return -ENOMEM;
	free(*slot);
	*slot = s;
	return 0;
}

static int set_uint(unsigned *slot, const char *value, unsigned min,
		    unsigned max, char *err, size_t errsize)
{
	uint64_t v;

	if (parse_uint(value, min, max, &v) < 0)
		return set_error(err, errsize, "\"%s\" is not a whole number in %u..%u",
				 value, min, max);
	*slot = (unsigned)v;
	return 0;
}

static int set_log_level(struct config *c, const char *v, char *err, size_t n)
{
	if (log_level_from_string(v, &c->log_level) < 0)
		return set_error(err, n, "\"%s\" is not one of debug, info, warn, error", v);
	return 0;
}

static int set_user(struct config *c, const char *v, char *err, size_t n)
{
	return set_string(&c->user, v, err, n);
}

static int set_tftp_root(struct config *c, const char *v, char *err, size_t n)
{
	return set_string(&c->tftp.root, v, err, n);
}

static int set_tftp_listen(struct config *c, const char *v, char *err, size_t n)
{
	if (net_parse_endpoint(v, &c->tftp.listen) < 0)
		return set_error(err, n, "\"%s\" is not ADDR:PORT (IPv4)", v);
	return 0;
}

static int set_tftp_max_transfers(struct config *c, const char *v, char *err, size_t n)
{
	return set_uint(&c->tftp.max_transfers, v, 1, 100000, err, n);
}

static int set_tftp_retransmit_ms(struct config *c, const char *v, char *err, size_t n)
{
	/* Up to RFC 2349's largest timeout, 255 s. */
	return set_uint(&c->tftp.retransmit_ms, v, 10, 255000, err, n);
}

static int set_tftp_retries(struct config *c, const char *v, char *err, size_t n)
{
	return set_uint(&c->tftp.retries, v, 1, 100, err, n);
}

static int set_tftp_max_blksize(struct config *c, const char *v, char *err, size_t n)
{
	return set_uint(&c->tftp.max_blksize, v, 512, TFTP_BLKSIZE_MAX, err, n);
}

static int set_tftp_max_windowsize(struct config *c, const char *v, char *err, size_t n)
{
	return set_uint(&c->tftp.max_windowsize, v, 1, 1024, err, n);
}

static const struct config_key config_keys[] = {
	{ "daemon", "log-level", "log-level",
	  "debug | info | warn | error (default info)", set_log_level },
	{ "daemon", "user", "user",
	  "when started as root, drop to this user after opening sockets (default: stay)",
	  set_user },
	{ "tftp", "root", "tftp-root",
	  "directory served over TFTP (default ./tftpboot)", set_tftp_root },
	{ "tftp", "listen", "tftp-listen",
	  "ADDR:PORT the TFTP server listens on (default 0.0.0.0:69)", set_tftp_listen },
	{ "tftp", "max-transfers", "tftp-max-transfers",
	  "concurrent transfers; more are refused with an error (default 1000)",
	  set_tftp_max_transfers },
	{ "tftp", "retransmit-ms", "tftp-retransmit-ms",
	  "milliseconds before unacknowledged data is resent, unless the client negotiates a timeout (10..255000, default 1000)",
	  set_tftp_retransmit_ms },
	{ "tftp", "retries", "tftp-retries",
	  "retransmissions before a transfer is abandoned (default 6)", set_tftp_retries },
	{ "tftp", "max-blksize", "tftp-max-blksize",
	  "larger blksize requests are clamped to this (512..65464, default 65464)",
	  set_tftp_max_blksize },
	{ "tftp", "max-windowsize", "tftp-max-windowsize",
	  "larger windowsize requests are clamped to this (1..1024, default 64)",
	  set_tftp_max_windowsize },
};

void config_print_keys(FILE *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(config_keys); i++) {
		const struct config_key *k = &config_keys[i];
		fprintf(out, "  --%-22s [%s] %s\n      %s\n", k->flag, k->section,
			k->key, k->help);
	}
}

static const struct config_key *config_key_by_flag(const char *flag)
{
	for (size_t i = 0; i < ARRAY_SIZE(config_keys); i++)
		if (strcmp(config_keys[i].flag, flag) == 0)
			return &config_keys[i];
	return NULL;
}

int config_flag_known(const char *flag)
{
	return config_key_by_flag(flag) ? 0 : -ENOENT;
}

static void config_defaults(struct config *c)
{
	c->log_level = LOG_LEVEL_INFO;
	c->tftp.listen.sin_family = AF_INET;
	c->tftp.listen.sin_addr.s_addr = htonl(INADDR_ANY);
	c->tftp.listen.sin_port = htons(69);
	c->tftp.max_transfers = 1000;
	c->tftp.retransmit_ms = 1000;
	c->tftp.retries = 6;
	c->tftp.max_blksize = TFTP_BLKSIZE_MAX;
	c->tftp.max_windowsize = 64;
}

/* --- the INI file: a line-counting reader so errors name their line --- */

struct ini_state {
	struct config *config;
	FILE *file;
	const char *path;
	unsigned line;
	int error;
	char *err;
	size_t errsize;
};

static char *ini_read_line(char *buf, int size, void *stream)
{
	struct ini_state *st = stream;
	char *s = fgets(buf, size, st->file);

	if (s)
		st->line++;
	return s;
}

static int ini_on_key(void *user, const char *section, const char *name,
		      const char *value)
{
	struct ini_state *st = user;
	char msg[256];
	int r;

	if (st->error)
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(config_keys); i++) {
		const struct config_key *k = &config_keys[i];
		if (strcmp(k->section, section) != 0 || strcmp(k->key, name) != 0)
			continue;
		r = k->set(st->config, value, msg, sizeof(msg));
		if (r < 0) {
			st->error = r;
			snprintf(st->err, st->errsize, "%s:%u: [%s] %s: %s", st->path,
				 st->line, section, name, r == -ENOMEM ? "out of memory" : msg);
			return 0;
		}
		return 1;
	}
	st->error = -EINVAL;
	if (!*section)
		snprintf(st->err, st->errsize, "%s:%u: %s: key outside any [section]",
			 st->path, st->line, name);
	else
		snprintf(st->err, st->errsize, "%s:%u: [%s] %s: unknown key",
			 st->path, st->line, section, name);
	return 0;
}

static int config_read_file(struct config *c, const char *path, char *err,
			    size_t errsize)
{
	struct ini_state st = { .config = c, .path = path, .err = err,
				.errsize = errsize };
	int r;

	st.file = fopen(path, "re");
	if (!st.file) {
		r = -errno;
		snprintf(err, errsize, "%s: cannot open config file: %s", path,
			 strerror(errno));
		return r;
	}
	r = ini_parse_stream(ini_read_line, &st, ini_on_key, &st);
	fclose(st.file);
	if (st.error)
		return st.error;
	if (r > 0) {
		snprintf(err, errsize, "%s:%d: syntax error (expected [section] or key = value)",
			 path, r);
		return -EINVAL;
	}
	if (r < 0) {
		snprintf(err, errsize, "%s: cannot read config file", path);
		return -EIO;
	}
	return 0;
}

void config_free(struct config *c)
{
	if (!c)
		return;
	free(c->path);
	free(c->user);
	free(c->tftp.root);
	free(c);
}

int config_build(const char *path, const struct config_override *overrides,
		 size_t n_overrides, struct config **ret, char *err, size_t errsize)
{
	struct config *c = calloc(1, sizeof(*c));
	char msg[256];
	int r;

	if (!c)
		return -ENOMEM;
	config_defaults(c);
	if (path) {
		c->path = strdup(path);
		if (!c->path) {
			r = -ENOMEM;
			goto fail;
		}
		r = config_read_file(c, path, err, errsize);
		if (r < 0)
			goto fail;
	}
	for (size_t i = 0; i < n_overrides; i++) {
		const struct config_key *k = config_key_by_flag(overrides[i].flag);
		if (!k) {
			snprintf(err, errsize, "--%s: unknown option", overrides[i].flag);
			r = -EINVAL;
			goto fail;
		}
		r = k->set(c, overrides[i].value, msg, sizeof(msg));
		if (r < 0) {
			snprintf(err, errsize, "--%s: %s", k->flag, msg);
			goto fail;
		}
	}
	if (!c->tftp.root) {
		c->tftp.root = strdup("./tftpboot");
		if (!c->tftp.root) {
			r = -ENOMEM;
			goto fail;
		}
	}
	*ret = c;
	return 0;
fail:
	config_free(c);
	return r;
}
