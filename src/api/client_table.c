/* client_table.c - the CLI's tables, see client_table.h. */
#include "api/client_table.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define COLS_MAX 8

static int put(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
	if (*len + n + 1 > *cap) {
		size_t ncap = *cap ? *cap : 256;
		char *nb;

		while (*len + n + 1 > ncap)
			ncap *= 2;
		nb = realloc(*buf, ncap);
		if (!nb)
			return -ENOMEM;
		*buf = nb;
		*cap = ncap;
	}
	memcpy(*buf + *len, s, n);
	*len += n;
	(*buf)[*len] = '\0';
	return 0;
}

/* Code points a terminal acts on rather than shows: C1 controls (0x9b is
 * CSI on some terminals) and the bidirectional marks and overrides that
 * reorder what follows them (the "Trojan Source" trick). */
static bool cp_hidden(uint32_t cp)
{
	return (cp >= 0x80 && cp <= 0x9f) || cp == 0x200e || cp == 0x200f ||
	       (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

/* Decode one valid UTF-8 sequence of 2..4 bytes at p; 0 when invalid
 * (truncated, overlong, a surrogate, past U+10FFFF). */
static size_t utf8_decode(const unsigned char *p, uint32_t *cp)
{
	size_t n;
	uint32_t c, min;

	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2; c = p[0] & 0x1f; min = 0x80;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3; c = p[0] & 0x0f; min = 0x800;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4; c = p[0] & 0x07; min = 0x10000;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80) /* also stops at the NUL */
			return 0;
		c = (c << 6) | (p[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

/* One character of s as shown: its text in out (NUL-terminated), the
 * bytes of s it stands for in *used; returns its width in columns. */
static size_t escape_one(const char *s, char out[8], size_t *used)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t cp;
	size_t n;

	if (*p < 0x20 || *p == 0x7f) {
		*used = 1;
		return (size_t)snprintf(out, 8, "\\x%02x", *p);
	}
	if (*p == '\\') {
		*used = 1;
		memcpy(out, "\\\\", 3);
		return 2;
	}
	if (*p < 0x80) {
		*used = 1;
		out[0] = (char)*p;
		out[1] = '\0';
		return 1;
	}
	n = utf8_decode(p, &cp);
	if (!n) {
		*used = 1;
		return (size_t)snprintf(out, 8, "\\x%02x", *p);
	}
	*used = n;
	if (cp_hidden(cp))
		return (size_t)snprintf(out, 8, "\\u%04x", (unsigned)cp);
	memcpy(out, s, n);
	out[n] = '\0';
	return 1;
}

int client_escape(const char *s, size_t max, char **buf, size_t *len, size_t *cap)
{
	size_t total = 0, cols = 0, used, w;
	char one[8];
	int r;

	for (const char *p = s; *p; p += used)
		total += escape_one(p, one, &used);
	/* Cut so that what is kept and "..." fit in max. */
	for (const char *p = s; *p; p += used) {
		w = escape_one(p, one, &used);
		if (total > max && cols + w + 3 > max)
			break;
		r = put(buf, len, cap, one, strlen(one));
		if (r < 0)
			return r;
		cols += w;
	}
	if (total > max) {
		r = put(buf, len, cap, "...", 3);
		if (r < 0)
			return r;
		cols += 3;
	}
	return (int)MIN(cols, (size_t)INT32_MAX);
}

/* The text of a scalar: "-" for missing, null or "" (an empty cell would
 * read as a shifted column). Returns malloc'd text. */
static char *text_of(const json_t *v)
{
	char *s = NULL;

	if (!v || json_is_null(v) || (json_is_string(v) && !json_string_length(v)))
		return strdup("-");
	if (json_is_string(v))
		return strndup(json_string_value(v), json_string_length(v));
	if (json_is_true(v))
		return strdup("yes");
	if (json_is_false(v))
		return strdup("no");
	if (json_is_integer(v))
		return asprintf(&s, "%lld", (long long)json_integer_value(v)) < 0 ? NULL : s;
	if (json_is_real(v))
		return asprintf(&s, "%g", json_real_value(v)) < 0 ? NULL : s;
	return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

static char *field(const json_t *o, const char *key)
{
	return text_of(json_object_get(o, key));
}

/* "config", "api", or "api (inactive)" for an API host the config file
 * overrides (docs/api.md). */
static char *source_text(const json_t *h)
{
	char *s = NULL;

	if (!json_is_false(json_object_get(h, "active")))
		return field(h, "source");
	if (asprintf(&s, "%s (inactive)", json_string_value(json_object_get(h, "source")) ?
		     json_string_value(json_object_get(h, "source")) : "-") < 0)
		return NULL;
	return s;
}

/* "default", "local", "profile install once (install pending)". */
static char *next_boot_text(const json_t *m)
{
	const json_t *nb = json_object_get(m, "next_boot");
	const json_t *mode = json_object_get(nb, "mode"), *prof = json_object_get(nb, "profile");
	char *s = NULL;

	if (asprintf(&s, "%s%s%s%s%s", json_is_string(mode) ? json_string_value(mode) : "-",
		     json_is_string(prof) ? " " : "",
		     json_is_string(prof) ? json_string_value(prof) : "",
		     json_is_true(json_object_get(nb, "once")) ? " once" : "",
		     json_is_true(json_object_get(m, "install_pending")) ? " (install pending)" : "") < 0)
		return NULL;
	return s;
}

/* "stalled: file-not-found at tftp:pxelinux.0": the outcome, its reason,
 * and the last step the boot reached. */
static char *last_text(const json_t *m)
{
	const json_t *t = json_object_get(m, "timeline");
	const json_t *out, *reason, *steps, *name = NULL;
	char *s = NULL;

	if (!json_is_object(t))
		return strdup("-");
	out = json_object_get(t, "outcome");
	reason = json_object_get(t, "reason");
	steps = json_object_get(t, "steps");
	if (json_is_array(steps) && json_array_size(steps))
		name = json_object_get(json_array_get(steps, json_array_size(steps) - 1), "name");
	if (asprintf(&s, "%s%s%s%s%s", json_is_string(out) ? json_string_value(out) : "-",
		     json_is_string(reason) ? ": " : "",
		     json_is_string(reason) ? json_string_value(reason) : "",
		     json_is_string(name) ? " at " : "",
		     json_is_string(name) ? json_string_value(name) : "") < 0)
		return NULL;
	return s;
}

/* A lease's MAC, or its client id when that is no MAC. */
static char *lease_mac_text(const json_t *l)
{
	const json_t *mac = json_object_get(l, "mac"), *id = json_object_get(l, "client_id");
	char *s = NULL;

	if (json_is_string(mac) || !json_is_string(id))
		return text_of(mac);
	return asprintf(&s, "id:%s", json_string_value(id)) < 0 ? NULL : s;
}

/* "bios=pxelinux.0 uefi-x64=grubx64.efi", in the API's key order. */
static char *boot_text(const json_t *h)
{
	const json_t *boot = json_object_get(h, "boot"), *v;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	const char *key;

	if (!json_is_object(boot) || !json_object_size(boot))
		return strdup("-");
	json_object_foreach((json_t *)boot, key, v) {
		_cleanup_free_ char *t = text_of(v);
		if (!t || (len && put(&buf, &len, &cap, " ", 1) < 0) ||
		    put(&buf, &len, &cap, key, strlen(key)) < 0 || put(&buf, &len, &cap, "=", 1) < 0 ||
		    put(&buf, &len, &cap, t, strlen(t)) < 0) {
			free(buf);
			return NULL;
		}
	}
	return buf;
}

static char *join_text(const json_t *arr)
{
	char *buf = NULL;
	size_t len = 0, cap = 0, i;
	const json_t *v;

	if (!json_is_array(arr) || !json_array_size(arr))
		return text_of(NULL);
	json_array_foreach(arr, i, v) {
		_cleanup_free_ char *t = text_of(v);
		if (!t || (i && put(&buf, &len, &cap, ", ", 2) < 0) ||
		    put(&buf, &len, &cap, t, strlen(t)) < 0) {
			free(buf);
			return NULL;
		}
	}
	return buf;
}

struct layout {
	size_t ncols;
	const char *heads[COLS_MAX];
};

static const struct layout layouts[] = {
	[CLIENT_MACHINES] = { 7, { "MAC", "IP", "HOSTNAME", "HOST", "PROFILE", "NEXT-BOOT", "LAST" } },
	[CLIENT_LEASES] = { 6, { "IP", "MAC", "HOSTNAME", "STATE", "EXPIRES", "SUBNET" } },
	[CLIENT_HOSTS] = { 8, { "NAME", "MAC", "UUID", "IP", "HOSTNAME", "PROFILE", "BOOT", "SOURCE" } },
	[CLIENT_PROFILES] = { 4, { "NAME", "KERNEL", "INITRDS", "CMDLINE" } },
};

const char *client_list_path(enum client_list list)
{
	static const char *const paths[] = {
		[CLIENT_MACHINES] = "machines", [CLIENT_LEASES] = "leases",
		[CLIENT_HOSTS] = "hosts", [CLIENT_PROFILES] = "profiles",
	};
	return (size_t)list < ARRAY_SIZE(paths) ? paths[list] : NULL;
}

/* The raw (not yet escaped) cells of one item. */
static void row_cells(enum client_list list, const json_t *o, char *raw[COLS_MAX])
{
	switch (list) {
	case CLIENT_MACHINES:
		raw[0] = field(o, "mac"); raw[1] = field(o, "ip");
		raw[2] = field(o, "hostname"); raw[3] = field(o, "host");
		raw[4] = field(o, "profile"); raw[5] = next_boot_text(o);
		raw[6] = last_text(o);
		break;
	case CLIENT_LEASES:
		raw[0] = field(o, "ip"); raw[1] = lease_mac_text(o);
		raw[2] = field(o, "hostname"); raw[3] = field(o, "state");
		raw[4] = field(o, "expires");
		raw[5] = field(o, "subnet"); /* "" is [dhcp]'s own range */
		break;
	case CLIENT_HOSTS:
		raw[0] = field(o, "name"); raw[1] = field(o, "mac");
		raw[2] = field(o, "uuid"); raw[3] = field(o, "ip");
		raw[4] = field(o, "hostname"); raw[5] = field(o, "profile");
		raw[6] = boot_text(o); raw[7] = source_text(o);
		break;
	case CLIENT_PROFILES:
		raw[0] = field(o, "name"); raw[1] = field(o, "kernel");
		raw[2] = join_text(json_object_get(o, "initrds"));
		raw[3] = field(o, "cmdline");
		break;
	}
}

struct cell {
	char *text;   /* escaped */
	size_t width; /* in columns */
};

static void cells_free(struct cell *cells, size_t n)
{
	for (size_t i = 0; cells && i < n; i++)
		free(cells[i].text);
	free(cells);
}

/* Escape the cells of every row into cells (rows + 1 header, row-major)
 * and widen widths to fit. */
static int fill(enum client_list list, const json_t *doc, struct cell *cells, size_t *widths)
{
	const struct layout *lay = &layouts[list];
	const json_t *o;
	size_t i;

	for (size_t c = 0; c < lay->ncols; c++) {
		cells[c].text = strdup(lay->heads[c]);
		if (!cells[c].text)
			return -ENOMEM;
		widths[c] = cells[c].width = strlen(lay->heads[c]);
	}
	json_array_foreach(doc, i, o) {
		char *raw[COLS_MAX] = { 0 };
		struct cell *row = cells + (i + 1) * lay->ncols;
		int r = 0;

		row_cells(list, o, raw);
		for (size_t c = 0; c < lay->ncols; c++) {
			size_t len = 0, cap = 0;
			int w = raw[c] ? client_escape(raw[c], CLIENT_CELL_MAX, &row[c].text, &len, &cap)
				       : -ENOMEM;
			if (w >= 0 && !row[c].text)
				row[c].text = strdup(""), w = row[c].text ? 0 : -ENOMEM;
			if (w < 0 && r == 0)
				r = w;
			row[c].width = w < 0 ? 0 : (size_t)w;
			widths[c] = MAX(widths[c], row[c].width);
			free(raw[c]);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

int client_table(enum client_list list, const json_t *doc, char **ret)
{
	const struct layout *lay;
	struct cell *cells;
	size_t widths[COLS_MAX], rows, i, len = 0, cap = 0;
	const json_t *o;
	char *out = NULL;
	int r;

	if ((size_t)list >= ARRAY_SIZE(layouts) || !json_is_array(doc))
		return -EBADMSG;
	json_array_foreach(doc, i, o)
		if (!json_is_object(o))
			return -EBADMSG;
	lay = &layouts[list];
	rows = json_array_size(doc) + 1;
	cells = calloc(rows * lay->ncols, sizeof(*cells));
	if (!cells)
		return -ENOMEM;
	r = fill(list, doc, cells, widths);
	for (size_t row = 0; r == 0 && row < rows; row++) {
		for (size_t c = 0; r == 0 && c < lay->ncols; c++) {
			const struct cell *cl = &cells[row * lay->ncols + c];
			r = put(&out, &len, &cap, cl->text, strlen(cl->text));
			/* two spaces between columns, none after the last */
			for (size_t pad = c + 1 < lay->ncols ? widths[c] - cl->width + 2 : 0;
			     r == 0 && pad > 0; pad--)
				r = put(&out, &len, &cap, " ", 1);
		}
		/* an empty last cell leaves the padding before it */
		while (r == 0 && len && out[len - 1] == ' ')
			out[--len] = '\0';
		if (r == 0)
			r = put(&out, &len, &cap, "\n", 1);
	}
	cells_free(cells, rows * lay->ncols);
	if (r < 0) {
		free(out);
		return r;
	}
	*ret = out;
	return 0;
}

json_t *client_next_boot_body(const char *profile, bool once, bool local, bool dflt)
{
	if ((profile != NULL) + local + dflt != 1 || (once && !profile))
		return NULL;
	if (profile)
		return once ? json_pack("{s:s, s:b}", "profile", profile, "once", 1)
			    : json_pack("{s:s}", "profile", profile);
	return json_pack("{s:b}", local ? "local" : "default", 1);
}

int client_next_boot_line(const json_t *doc, char **ret)
{
	const json_t *mac = json_object_get(doc, "mac");
	_cleanup_free_ char *nb = NULL;
	char *out = NULL;
	size_t len = 0, cap = 0;
	int r;

	if (!json_is_object(doc) || !json_is_string(mac))
		return -EBADMSG;
	nb = next_boot_text(doc);
	if (!nb)
		return -ENOMEM;
	r = client_escape(json_string_value(mac), CLIENT_CELL_MAX, &out, &len, &cap);
	if (r >= 0)
		r = put(&out, &len, &cap, ": next boot ", 12);
	if (r >= 0)
		r = client_escape(nb, 300, &out, &len, &cap);
	if (r >= 0)
		r = put(&out, &len, &cap, "\n", 1);
	if (r < 0) {
		free(out);
		return r;
	}
	*ret = out;
	return 0;
}
