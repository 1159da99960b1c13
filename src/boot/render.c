/* render.c - see render.h. */
#include "boot/render.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

/* Look a variable up by name (len bytes); NULL if unknown. */
static const char *var_value(const struct render_vars *v, const char *name, size_t len,
			     bool *known)
{
	static const char *const names[] = { "mac", "ip", "hostname", "server", "http", "done_url" };
	const char *values[6];

	if (v) {
		values[0] = v->mac;
		values[1] = v->ip;
		values[2] = v->hostname;
		values[3] = v->server;
		values[4] = v->http;
		values[5] = v->done_url;
	}
	for (size_t i = 0; i < 6; i++) {
		if (strlen(names[i]) == len && memcmp(names[i], name, len) == 0) {
			*known = true;
			return v && values[i] ? values[i] : "";
		}
	}
	*known = false;
	return NULL;
}

/* Walk tmpl; with out == NULL only check. */
static int expand(const char *tmpl, const struct render_vars *v, char *out, size_t size,
		  char *bad, size_t badsize)
{
	size_t o = 0;

	for (const char *p = tmpl; *p;) {
		const char *piece = p;
		size_t plen = 1;

		if (p[0] == '$' && p[1] == '{') {
			const char *end = strchr(p + 2, '}');
			bool known;

			if (!end) {
				if (bad)
					snprintf(bad, badsize, "%.*s", (int)MIN(strlen(p + 2), (size_t)16), p + 2);
				return -EINVAL;
			}
			piece = var_value(v, p + 2, (size_t)(end - p - 2), &known);
			if (!known && memchr(p + 2, '/', (size_t)(end - p - 2))) {
				/* An iPXE setting such as ${net0/mac}: iPXE
				 * expands it itself, so it passes through. */
				piece = p;
				plen = (size_t)(end - p + 1);
				p = end + 1;
				goto copy;
			}
			if (!known) {
				if (bad)
					snprintf(bad, badsize, "%.*s", (int)(end - p - 2), p + 2);
				return -EINVAL;
			}
			plen = strlen(piece);
			p = end + 1;
		} else {
			p++;
		}
copy:
		if (out) {
			if (o + plen >= size)
				return -ENOBUFS;
			memcpy(out + o, piece, plen);
		}
		o += plen;
	}
	if (out)
		out[o] = '\0';
	return (int)o;
}

int render_expand(const char *tmpl, const struct render_vars *v, char *out, size_t size)
{
	if (size == 0)
		return -ENOBUFS;
	return expand(tmpl, v, out, size, NULL, 0);
}

int render_check_template(const char *tmpl, char *bad, size_t badsize)
{
	int r = expand(tmpl, NULL, NULL, 0, bad, badsize);

	return r < 0 ? r : 0;
}

/* --- a tiny appending writer --- */

struct text {
	char *buf;
	size_t size, len;
	int error;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->error)
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->buf + t->len, t->size - t->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= t->size - t->len) {
		t->error = -ENOBUFS;
		return;
	}
	t->len += (size_t)n;
}

static int finish(struct text *t)
{
	return t->error ? t->error : (int)t->len;
}

static bool is_url(const char *s)
{
	return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

static int cmdline_of(const struct profile_config *p, const struct render_vars *v,
		      char *out, size_t size)
{
	return render_expand(p->cmdline ? p->cmdline : "", v, out, size);
}

int render_pxelinux(const struct profile_config *p, const struct render_vars *v,
		    char *out, size_t size)
{
	struct text t = { out, size, 0, 0 };
	char cmdline[2048];
	int r = cmdline_of(p, v, cmdline, sizeof(cmdline));

	if (r < 0)
		return r;
	put(&t, "# rendered by kidou from [profile %s] for %s\n", p->name, v->mac ? v->mac : "any machine");
	put(&t, "default kidou\nprompt 0\ntimeout 0\n\nlabel kidou\n");
	/* "::" makes PXELINUX (and syslinux.efi) ask for the path from the
	 * TFTP root. Any other name, even one starting with '/', gets
	 * PXELINUX's own directory in front (PXELINUX 6.04 booted as
	 * pxelinux/pxelinux.0 asks for "pxelinux//linux/vmlinuz" for
	 * "/linux/vmlinuz"; seen in test_vm_install_once.py). */
	put(&t, "  kernel %s%s\n", is_url(p->kernel) ? "" : "::", p->kernel);
	if (p->n_initrd) {
		put(&t, "  initrd ");
		for (unsigned i = 0; i < p->n_initrd; i++)
			put(&t, "%s%s%s", i ? "," : "", is_url(p->initrd[i]) ? "" : "::", p->initrd[i]);
		put(&t, "\n");
	}
	put(&t, "  append %s\n", cmdline);
	return finish(&t);
}

/* GRUB names files on a server as (http,HOST)/PATH; a path from the root
 * is /PATH on the device GRUB booted from (kidou's TFTP). */
static void put_grub_path(struct text *t, const char *path)
{
	const char *rest;
	bool https = strncmp(path, "https://", 8) == 0;

	if (!is_url(path)) {
		put(t, "/%s", path);
		return;
	}
	rest = path + (https ? 8 : 7);
	const char *slash = strchr(rest, '/');
	if (!slash)
		put(t, "(%s,%s)/", https ? "https" : "http", rest);
	else
		put(t, "(%s,%.*s)%s", https ? "https" : "http", (int)(slash - rest), rest, slash);
}

int render_grub(const struct profile_config *p, const struct render_vars *v,
		char *out, size_t size)
{
	struct text t = { out, size, 0, 0 };
	char cmdline[2048];
	int r = cmdline_of(p, v, cmdline, sizeof(cmdline));

	if (r < 0)
		return r;
	put(&t, "# rendered by kidou from [profile %s] for %s\n", p->name, v->mac ? v->mac : "any machine");
	put(&t, "set timeout=0\nset default=0\n\nmenuentry \"kidou %s\" {\n", p->name);
	put(&t, "  linux ");
	put_grub_path(&t, p->kernel);
	put(&t, " %s\n", cmdline);
	if (p->n_initrd) {
		put(&t, "  initrd");
		for (unsigned i = 0; i < p->n_initrd; i++) {
			put(&t, " ");
			put_grub_path(&t, p->initrd[i]);
		}
		put(&t, "\n");
	}
	put(&t, "}\n");
	return finish(&t);
}

int render_ipxe(const struct profile_config *p, const struct render_vars *v,
		char *out, size_t size)
{
	struct text t = { out, size, 0, 0 };
	const char *base = v->http && *v->http ? v->http : "";
	char cmdline[2048];
	int r = cmdline_of(p, v, cmdline, sizeof(cmdline));

	if (r < 0)
		return r;
	put(&t, "#!ipxe\n# rendered by kidou from [profile %s] for %s\n", p->name,
	    v->mac ? v->mac : "any machine");
	/* Under UEFI, iPXE before 1.21 hands initrds to Linux's EFI stub only
	 * as files named on the command line (initrd=NAME), so each initrd
	 * gets a fixed name and is named there; BIOS iPXE and newer iPXE
	 * (LoadFile2) load them either way. */
	if (is_url(p->kernel))
		put(&t, "kernel %s", p->kernel);
	else
		put(&t, "kernel %s/%s", base, p->kernel);
	for (unsigned i = 0; i < p->n_initrd; i++)
		put(&t, " initrd=initrd%u", i);
	put(&t, " %s\n", cmdline);
	for (unsigned i = 0; i < p->n_initrd; i++) {
		if (is_url(p->initrd[i]))
			put(&t, "initrd --name initrd%u %s\n", i, p->initrd[i]);
		else
			put(&t, "initrd --name initrd%u %s/%s\n", i, base, p->initrd[i]);
	}
	put(&t, "boot\n");
	return finish(&t);
}

static const char *for_whom(const struct render_vars *v)
{
	return v && v->mac ? v->mac : "any machine";
}

int render_pxelinux_local(const struct render_vars *v, char *out, size_t size)
{
	struct text t = { out, size, 0, 0 };

	put(&t, "# rendered by kidou for %s: next boot is local (from its disk)\n", for_whom(v));
	put(&t, "default local\nprompt 0\ntimeout 0\n\nlabel local\n  localboot 0\n");
	return finish(&t);
}

int render_grub_local(const struct render_vars *v, char *out, size_t size)
{
	struct text t = { out, size, 0, 0 };

	put(&t, "# rendered by kidou for %s: next boot is local (from its disk)\n", for_whom(v));
	put(&t, "exit\n");
	return finish(&t);
}

int render_ipxe_local(const struct render_vars *v, char *out, size_t size)
{
	struct text t = { out, size, 0, 0 };

	put(&t, "#!ipxe\n# rendered by kidou for %s: next boot is local (from its disk)\n",
	    for_whom(v));
	put(&t, "exit\n");
	return finish(&t);
}
