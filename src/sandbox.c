/* sandbox.c - see sandbox.h. */
#include "sandbox.h"

#include <errno.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <sched.h>
#include <seccomp.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"

/* KIDOU_SANITIZED: meson.build passes 1 in builds with -Db_sanitize, else 0. */

/* Allowed whatever their arguments. Names, not numbers, so that the list
 * reads the same on every architecture; one an architecture lacks (open,
 * stat on arm64) is skipped. */
static const char *const allowed[] = {
	/* memory (mmap and mprotect: below, never executable) */
	"brk", "munmap", "mremap", "madvise",
	/* the event loop: epoll, timers, signals, wake-ups */
	"epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2",
	"poll", "ppoll", "select", "pselect6",
	"timerfd_create", "timerfd_settime", "timerfd_gettime", "eventfd2",
	"signalfd4", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack",
	"restart_syscall",
	"clock_gettime", "clock_getres", "gettimeofday", "time", "nanosleep", "clock_nanosleep",
	/* files: served files (openat2 beneath a root, pread, sendfile), the
	 * config on SIGHUP, the lease database (SQLite: WAL, its shared-memory
	 * index, fcntl locks, fsync, unlinking a journal), logging */
	"read", "readv", "pread64", "preadv", "write", "writev", "pwrite64", "pwritev",
	"lseek", "close", "open", "openat", "openat2", "fstat", "stat", "lstat", "newfstatat",
	"statx", "fcntl", "fadvise64", "ftruncate", "fallocate", "fsync", "fdatasync", "flock",
	"unlink", "unlinkat", "rmdir", "access", "faccessat", "faccessat2", "getcwd",
	"readlink", "readlinkat", "getdents64", "fchown", "fchmod",
	/* sockets: DHCP, TFTP (a socket per transfer), HTTP, NDP */
	"bind", "connect", "accept", "accept4", "getsockname", "getpeername",
	"setsockopt", "getsockopt", "sendto", "recvfrom", "sendmsg", "recvmsg",
	"sendmmsg", "recvmmsg", "shutdown", "sendfile",
	/* threads (the lease writer): futexes, thread start and exit */
	"futex", "set_robust_list", "get_robust_list", "rseq", "set_tid_address",
	"sched_yield", "sched_getaffinity", "membarrier",
	"getpid", "gettid", "getuid", "geteuid", "getgid", "getegid",
	"getrandom", "uname", "sysinfo", "getrlimit", "prlimit64",
	"exit", "exit_group",
};

/* ioctl requests: interface names and indexes (if_nametoindex and
 * if_indextoname), and a terminal check (isatty) by stdio. */
static const unsigned long allowed_ioctls[] = {
	SIOCGIFINDEX, SIOCGIFNAME, SIOCGIFADDR, SIOCGIFNETMASK, SIOCGIFFLAGS,
	SIOCGIFHWADDR, SIOCGIFMTU, FIONREAD, FIONBIO, 0x5401 /* TCGETS */,
};

/* Socket families: IPv4 and IPv6 (TFTP transfers, NDP), and what glibc
 * opens for interface look-ups: netlink route (getifaddrs) and a local
 * datagram socket (if_nametoindex). */
static const int allowed_families[] = { AF_INET, AF_INET6, AF_UNIX };

bool sandbox_unsupported_build(void)
{
	return KIDOU_SANITIZED;
}

static int add(scmp_filter_ctx ctx, int nr, unsigned n, const struct scmp_arg_cmp *cmp)
{
	return seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, n, cmp);
}

static int add_rules(scmp_filter_ctx ctx)
{
	int count = 0, r;

	for (size_t i = 0; i < ARRAY_SIZE(allowed); i++) {
		int nr = seccomp_syscall_resolve_name(allowed[i]);

		if (nr == __NR_SCMP_ERROR || nr < 0)
			continue;
		r = add(ctx, nr, 0, NULL);
		if (r < 0)
			return r;
		count++;
	}
	/* Never writable and executable, nor made executable later: kidou
	 * loads no code once running. */
	{
		struct scmp_arg_cmp noexec = SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0);

		if ((r = add(ctx, SCMP_SYS(mmap), 1, &noexec)) < 0 ||
		    (r = add(ctx, SCMP_SYS(mprotect), 1, &noexec)) < 0)
			return r;
	}
	/* Threads, never processes: clone() only with CLONE_THREAD. clone3()
	 * passes its flags in memory a filter cannot read, so it answers
	 * ENOSYS and glibc falls back to clone(). */
	{
		struct scmp_arg_cmp thread = SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD);

		if ((r = add(ctx, SCMP_SYS(clone), 1, &thread)) < 0)
			return r;
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
		if (r < 0)
			return r;
	}
	/* Signals only to ourselves: abort() and raise(). */
	{
		struct scmp_arg_cmp self = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid());

		if ((r = add(ctx, SCMP_SYS(tgkill), 1, &self)) < 0)
			return r;
	}
	for (size_t i = 0; i < ARRAY_SIZE(allowed_ioctls); i++) {
		struct scmp_arg_cmp req = SCMP_A1(SCMP_CMP_EQ, allowed_ioctls[i]);

		if ((r = add(ctx, SCMP_SYS(ioctl), 1, &req)) < 0)
			return r;
	}
	for (size_t i = 0; i < ARRAY_SIZE(allowed_families); i++) {
		struct scmp_arg_cmp fam = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)allowed_families[i]);

		if ((r = add(ctx, SCMP_SYS(socket), 1, &fam)) < 0)
			return r;
	}
	{
		struct scmp_arg_cmp nl[2] = { SCMP_A0(SCMP_CMP_EQ, AF_NETLINK),
					      SCMP_A2(SCMP_CMP_EQ, NETLINK_ROUTE) };

		if ((r = add(ctx, SCMP_SYS(socket), 2, nl)) < 0)
			return r;
	}
	/* and mmap, mprotect, clone, tgkill, ioctl, socket with conditions */
	return count + 6;
}

int sandbox_apply(void)
{
	/* A call outside the list kills the whole process (SIGSYS, and the
	 * kernel's audit log names the call): a missed call shows at once,
	 * where an error return could go on as silent misbehaviour. */
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	int n, r;

	if (!ctx)
		return -ENOMEM;
	n = add_rules(ctx);
	r = n < 0 ? n : seccomp_load(ctx);
	seccomp_release(ctx);
	return r < 0 ? r : n;
}
