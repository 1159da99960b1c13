/* quick.c - see quick.h. */
#include "quick.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot/kernel_sig.h"
#include "config.h"
#include "util.h"

#define QUICK_MAX_INITRDS PROFILE_MAX_INITRDS

/* Debian's ipxe package. */
static const char *const ipxe_files[][2] = {
	{ "/usr/lib/ipxe/undionly.kpxe", "undionly.kpxe" },
	{ "/usr/lib/ipxe/ipxe.efi", "ipxe.efi" },
};

/* --secure-boot: Debian's signed chain (docs/secureboot.md) for UEFI x64.
 * shim loads grubx64.efi from its own directory, hence the names; the
 * netboot GRUB asks for /grub/grub.cfg, which kidou renders from the quick
 * profile. BIOS firmware has no Secure Boot: it keeps undionly.kpxe. */
#define QUICK_SHIM_DIR "shim"
static const char *const shim_files[][2] = {
	{ "/usr/lib/shim/shimx64.efi.signed", QUICK_SHIM_DIR "/shimx64.efi" },
	{ "/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed", QUICK_SHIM_DIR "/grubx64.efi" },
};

static int copy_file(const char *from, const char *dir, const char *name)
{
	char to[QUICK_PATH_MAX + 64];
	_cleanup_close_ int in = open(from, O_RDONLY | O_CLOEXEC);
	_cleanup_close_ int out = -1;
	struct stat st;
	off_t off = 0;

	if (in < 0 || fstat(in, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	snprintf(to, sizeof(to), "%s/%s", dir, name);
	out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (out < 0)
		return -errno;
	while (off < st.st_size) {
		ssize_t n = sendfile(out, in, &off, (size_t)(st.st_size - off));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
	}
	return 0;
}

static const char *arg_value(int *i, int argc, char **argv, const char *flag, bool *bad)
{
	size_t n = strlen(flag);
	const char *a = argv[*i];

	if (strncmp(a, flag, n) != 0)
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	if (a[n] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		*bad = true;
		return NULL;
	}
	return argv[++*i];
}

int quick_prepare(int *argc, char **argv, struct quick *q, char *err, size_t errsize)
{
	const char *kernel = NULL, *cmdline = "", *initrds[QUICK_MAX_INITRDS];
	size_t n_initrds = 0;
	bool http_given = false, bad = false, secure_boot = false;
	int out = 1, r;
	FILE *f;

	memset(q, 0, sizeof(*q));
	for (int i = 1; i < *argc; i++) {
		const char *v;

		if ((v = arg_value(&i, *argc, argv, "--kernel", &bad))) {
			kernel = v;
		} else if ((v = arg_value(&i, *argc, argv, "--initrd", &bad))) {
			if (n_initrds == QUICK_MAX_INITRDS) {
				snprintf(err, errsize, "more than %d --initrd", QUICK_MAX_INITRDS);
				return -EINVAL;
			}
			initrds[n_initrds++] = v;
		} else if ((v = arg_value(&i, *argc, argv, "--cmdline", &bad))) {
			cmdline = v;
		} else if (strcmp(argv[i], "--secure-boot") == 0) {
			secure_boot = true;
		} else if (!bad) {
			if (strncmp(argv[i], "--http-listen", 13) == 0)
				http_given = true;
			argv[out++] = argv[i];
		}
		if (bad) {
			snprintf(err, errsize, "%s needs a value", argv[i]);
			return -EINVAL;
		}
	}
	*argc = out;
	argv[out] = NULL;
	if (!kernel) {
		snprintf(err, errsize, "kidou boot needs --kernel FILE (see --help)");
		return -EINVAL;
	}
	for (const char *p = cmdline; *p; p++)
		if ((unsigned char)*p < ' ' || *p == '\n') {
			snprintf(err, errsize, "--cmdline must not contain control characters");
			return -EINVAL;
		}
	/* Under Secure Boot GRUB asks shim to verify the kernel and refuses
	 * an unsigned one ("bad shim signature"), which shows only on each
	 * machine's console: refuse it here, before any socket opens. */
	if (secure_boot) {
		r = kernel_sig_file(-1, kernel);
		if (r < 0) {
			snprintf(err, errsize, "--kernel %s: %s", kernel, strerror(-r));
			return r;
		}
		if (r == 0) {
			snprintf(err, errsize, "--kernel %s has no Authenticode signature: under "
				 "Secure Boot, GRUB would refuse it (give a signed kernel, e.g. "
				 "Debian's linux-image-amd64, or leave out --secure-boot)", kernel);
			return -EPERM;
		}
	}
	r = snprintf(q->dir, sizeof(q->dir), "%s/kidou-boot-XXXXXX",
		     getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (r < 0 || (size_t)r >= sizeof(q->dir) - 64) {
		snprintf(err, errsize, "TMPDIR is too long");
		q->dir[0] = '\0';
		return -ENAMETOOLONG;
	}
	if (!mkdtemp(q->dir)) {
		r = -errno;
		snprintf(err, errsize, "cannot make a private directory: %s", strerror(errno));
		q->dir[0] = '\0';
		return r;
	}
	chmod(q->dir, 0755);  /* readable after dropping privileges */
	r = copy_file(kernel, q->dir, "kernel");
	if (r < 0) {
		snprintf(err, errsize, "--kernel %s: %s", kernel, strerror(-r));
		return r;
	}
	for (size_t i = 0; i < n_initrds; i++) {
		char name[32];
		snprintf(name, sizeof(name), "initrd%zu", i);
		r = copy_file(initrds[i], q->dir, name);
		if (r < 0) {
			snprintf(err, errsize, "--initrd %s: %s", initrds[i], strerror(-r));
			return r;
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(ipxe_files); i++) {
		if (secure_boot && strcmp(ipxe_files[i][1], "ipxe.efi") == 0)
			continue;  /* unsigned: Secure Boot firmware refuses it */
		r = copy_file(ipxe_files[i][0], q->dir, ipxe_files[i][1]);
		if (r < 0) {
			snprintf(err, errsize, "%s: %s (install Debian's ipxe package)",
				 ipxe_files[i][0], strerror(-r));
			return r;
		}
	}
	if (secure_boot) {
		char sub[QUICK_PATH_MAX + 16];

		snprintf(sub, sizeof(sub), "%s/" QUICK_SHIM_DIR, q->dir);
		if (mkdir(sub, 0755) < 0) {
			r = -errno;
			snprintf(err, errsize, "%s: %s", sub, strerror(errno));
			return r;
		}
		chmod(sub, 0755);  /* despite the umask: read after dropping privileges */
		for (size_t i = 0; i < ARRAY_SIZE(shim_files); i++) {
			r = copy_file(shim_files[i][0], q->dir, shim_files[i][1]);
			if (r < 0) {
				snprintf(err, errsize, "%s: %s (install Debian's shim-signed and "
					 "grub-efi-amd64-signed packages)", shim_files[i][0],
					 strerror(-r));
				return r;
			}
		}
	}
	r = snprintf(q->config, sizeof(q->config), "%s/kidou-boot.ini", q->dir);
	if (r < 0 || (size_t)r >= sizeof(q->config)) {
		snprintf(err, errsize, "TMPDIR is too long");
		return -ENAMETOOLONG;
	}
	f = fopen(q->config, "wxe");
	if (!f) {
		r = -errno;
		snprintf(err, errsize, "%s: %s", q->config, strerror(errno));
		return r;
	}
	fprintf(f, "; written by kidou boot\n[tftp]\nroot = %s\n[http]\nroot = %s\n", q->dir, q->dir);
	if (!http_given)
		fprintf(f, "listen = 0.0.0.0:8080\n");
	fprintf(f, "[boot]\nbios = undionly.kpxe\nuefi-x64 = %s\n"
		   "ipxe = ${http}/boot.ipxe?mac=${net0/mac}\nprofile = quick\n"
		   "[profile quick]\nkernel = kernel\n",
		secure_boot ? shim_files[0][1] : "ipxe.efi");
	for (size_t i = 0; i < n_initrds; i++)
		fprintf(f, "initrd = initrd%zu\n", i);
	fprintf(f, "cmdline = %s\n", cmdline);
	if (fclose(f) != 0) {
		snprintf(err, errsize, "%s: cannot write", q->config);
		return -EIO;
	}
	return 0;
}

void quick_cleanup(struct quick *q)
{
	static const char *const names[] = { "kernel", "undionly.kpxe", "ipxe.efi",
					     "kidou-boot.ini", QUICK_SHIM_DIR "/shimx64.efi",
					     QUICK_SHIM_DIR "/grubx64.efi" };
	char path[QUICK_PATH_MAX + 64];

	if (!q->dir[0])
		return;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		snprintf(path, sizeof(path), "%s/%s", q->dir, names[i]);
		unlink(path);
	}
	for (int i = 0; i < QUICK_MAX_INITRDS; i++) {
		snprintf(path, sizeof(path), "%s/initrd%d", q->dir, i);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/" QUICK_SHIM_DIR, q->dir);
	rmdir(path);
	rmdir(q->dir);
	q->dir[0] = '\0';
}
