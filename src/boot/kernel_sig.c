/* kernel_sig.c - see kernel_sig.h. The I/O around the pure pe_sig. */
#include "boot/kernel_sig.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot/pe_sig.h"
#include "fs.h"
#include "log.h"
#include "util.h"

static bool is_shim(const char *target)
{
	const char *slash, *base;
	size_t n;

	if (!target)
		return false;
	slash = strrchr(target, '/');
	base = slash ? slash + 1 : target;
	n = strlen(base);
	return strncasecmp(base, "shim", 4) == 0 && n > 8 &&
	       strcasecmp(base + n - 4, ".efi") == 0;
}

bool kernel_sig_chain_served(const struct config *c)
{
	if (is_shim(c->boot.target[BOOT_TARGET_UEFI_X64]))
		return true;
	for (const struct host_config *h = c->hosts; h; h = h->next)
		if (is_shim(h->boot.target[BOOT_TARGET_UEFI_X64]))
			return true;
	return false;
}

int kernel_sig_file(int rootfd, const char *path)
{
	uint8_t head[PE_SIG_HEAD];
	struct pe_sig sig;
	struct stat st;
	ssize_t n;
	int fd, r;

	fd = rootfd >= 0 ? fs_open_beneath(rootfd, path) : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return rootfd >= 0 ? fd : -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		goto out;
	}
	n = pread(fd, head, sizeof(head), 0);
	if (n < 0) {
		r = -errno;
		goto out;
	}
	r = pe_sig_parse(head, (size_t)n, (uint64_t)st.st_size, &sig) == 0 &&
	    pe_sig_signed(&sig, (uint64_t)st.st_size);
out:
	close(fd);
	return r;
}

unsigned kernel_sig_check(const struct config *c)
{
	unsigned warnings = 0;
	int rootfd;

	if (!kernel_sig_chain_served(c))
		return 0;
	rootfd = fs_open_root(c->tftp.root);
	for (const struct profile_config *p = c->profiles; p; p = p->next) {
		const char *k = p->kernel;
		char q[600], e[128];
		int r;

		if (!k || strstr(k, "://"))
			continue;  /* over HTTP: not GRUB's netboot chain */
		while (*k == '/')
			k++;
		r = rootfd < 0 ? rootfd : kernel_sig_file(rootfd, k);
		if (r == 1)
			continue;
		warnings++;
		if (r == 0)
			log_warn("boot", "kernel-unsigned",
				 "profile=%s kernel=%s note=\"the signed chain (shim, GRUB) is served: "
				 "under Secure Boot GRUB refuses a kernel without a signature\"",
				 p->name, log_quote(q, sizeof(q), k, strlen(k)));
		else
			log_warn("boot", "kernel-unreadable",
				 "profile=%s kernel=%s error=%s note=\"its signature could not be "
				 "checked\"", p->name, log_quote(q, sizeof(q), k, strlen(k)),
				 log_quote(e, sizeof(e), strerror(-r), strlen(strerror(-r))));
	}
	if (rootfd >= 0)
		close(rootfd);
	return warnings;
}

bool kernel_sig_check_proxy(const struct config *c)
{
	if (!c->dhcp.enabled || c->dhcp.mode != DHCP_MODE_PROXY || !kernel_sig_chain_served(c))
		return false;
	/* Measured (test_vm_proxy.py): with the other server's ACK naming
	 * itself as next server, GRUB starts and then asks that server for
	 * its .lst files and grub.cfg; the boot goes no further. With
	 * siaddr pointing here (dnsmasq: dhcp-boot=shim/shimx64.efi,,ADDR
	 * and dhcp-no-override), the chain boots. */
	log_warn("boot", "secure-boot-proxy",
		 "note=\"shim is served as a proxyDHCP: Debian's GRUB takes its TFTP server "
		 "from the other DHCP server's ACK, not this offer, so that server must name "
		 "this host as next server (dnsmasq: dhcp-boot=shim/shimx64.efi,,ADDRESS and "
		 "dhcp-no-override; docs/secureboot.md)\"");
	return true;
}
