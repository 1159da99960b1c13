/* main.c - command line and wiring: build the configuration, open every
 * socket and root, drop privileges, then run the event loop. The one
 * daemon object lives on main()'s stack. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "api/api.h"
#include "api/api_sync.h"
#include "api/client.h"
#include "doctor/doctor.h"
#include "config.h"
#include "config_show.h"
#include "fs.h"
#include "log.h"
#include "loop.h"
#include "dhcp/dhcp_io.h"
#include "http/http_server.h"
#include "metrics.h"
#include "notify.h"
#include "quick.h"
#include "sandbox.h"
#include "boot/boot_events.h"
#include "boot/boot_files.h"
#include "boot/kernel_sig.h"
#include "ndp/ndp_io.h"
#include "store/lease_migrate.h"
#include "store/lease_store.h"
#include "api/api_hosts.h"
#include "host_table.h"
#include "tftp/tftp_server.h"
#include "util.h"

/* How long in-flight transfers may take to finish after SIGTERM/SIGINT. */
#define SHUTDOWN_GRACE_USEC (5 * 1000000ull)
#define MAX_OVERRIDES 64
/* How often quiet boots are looked for and summarised. */
#define TIMELINE_TICK_USEC (1000000ull)

struct daemon {
	struct loop *loop;
	struct config *config;
	const char *config_path;
	struct config_override overrides[MAX_OVERRIDES];
	char override_flags[MAX_OVERRIDES][64]; /* storage for --flag=value names */
	size_t n_overrides;
	struct tftp_server *tftp;
	struct dhcp_io *dhcp;        /* NULL when no DHCP interface is configured */
	struct http_server *http;    /* NULL unless [http] listen is set */
	struct http_server *api_http; /* NULL unless [api] listen is set */
	struct api *api;             /* NULL when neither is */
	struct ndp_io *ndp;          /* NULL unless DHCP runs with ipv6-ra on */
	struct boot_events *events;  /* every boot event passes through here */
	struct loop_timer timeline_tick;
	int http_port;               /* its bound port, for rendered URLs */
	struct sockaddr_in api_addr; /* [api] listen as bound (port 0: not set), for ${done_url} */
	struct boot_lookup boot_lookup;
	/* Each machine's next boot (the API's, kept in the lease database):
	 * not part of the config, so a reload keeps it. */
	struct next_boot *next_boot;
	/* The hosts written through the API (kept in the same database),
	 * attached to each config in turn: a reload keeps them. */
	struct host_table *api_hosts;
	bool stopping;
	bool failed;                 /* exit non-zero once the loop ends */
	struct loop_timer grace;
	struct notify notify;        /* the service manager's, when there is one */
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: kidou [--config FILE] [--SETTING VALUE ...]\n"
		"       kidou boot --kernel FILE [--initrd FILE ...] [--cmdline TEXT] [--secure-boot]\n"
		"                  --interface IFACE --dhcp-range \"FIRST LAST\" [--SETTING VALUE ...]\n"
		"       kidou machines|leases|hosts|profiles [--api URL | --config FILE]\n"
		"                  [--token-file FILE] [--json]\n"
		"       kidou next-boot MAC (PROFILE [--once] | --local | --default)\n"
		"                  [--api URL | --config FILE] [--token-file FILE] [--json]\n"
		"       kidou check-config [FILE] [--SETTING VALUE ...]\n"
		"       kidou doctor IFACE [--config FILE] [--wait SEC] [--mac MAC] [--json]\n"
		"       kidou leases migrate FROM TO\n"
		"\n"
		"kidou is a network boot server: DHCP (with PXE), TFTP and HTTP.\n"
		"\n"
		"  -c, --config FILE         read settings from an INI file (flags win)\n"
		"  -h, --help                show this help\n"
		"  -V, --version             show the version\n"
		"\n"
		"kidou boot boots every PXE machine on the interface into one kernel with\n"
		"no config file: BIOS and UEFI firmware chainload iPXE (Debian's ipxe\n"
		"package), which fetches the kernel and initrds over HTTP (port 8080 unless\n"
		"--http-listen is given). With --secure-boot, UEFI x64 firmware gets\n"
		"Debian's signed chain instead (shim, GRUB over TFTP), and the kernel must\n"
		"be signed.\n"
		"\n"
		"kidou machines, leases, hosts and profiles ask a running kidou's API and\n"
		"print a table, or its JSON with --json (kidou machines --help). kidou\n"
		"next-boot sets what a machine boots next (kidou next-boot --help).\n"
		"\n"
		"kidou check-config validates the config as startup does, without opening\n"
		"a socket, and prints the settings in force with where each came from.\n"
		"\n"
		"kidou doctor acts as a PXE client on IFACE and says what will go wrong\n"
		"when machines boot there: DHCP servers, proxyDHCP, router advertisements,\n"
		"ports, MTU, missing boot files (kidou doctor --help).\n"
		"\n"
		"kidou leases migrate copies the leases, next-boot records and API hosts\n"
		"of one lease database into another (an SQLite file into PostgreSQL).\n"
		"\n"
		"Settings (flag, then [section] key in the config file):\n");
	config_print_keys(out);
	fprintf(out,
		"\n"
		"Signals: SIGHUP re-reads the configuration; SIGINT/SIGTERM stop\n"
		"accepting requests and let transfers finish (5 s grace); a second\n"
		"signal stops at once.\n");
}

/* Returns 0 to run, 1 to exit successfully (help/version), -1 on error. */
static int parse_args(struct daemon *d, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *value = NULL, *eq;
		char flag[64];

		if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
			usage(stdout);
			return 1;
		}
		if (strcmp(arg, "-V") == 0 || strcmp(arg, "--version") == 0) {
			printf("kidou %s\n", KIDOU_VERSION);
			return 1;
		}
		if (strcmp(arg, "-c") == 0)
			arg = "--config";
		if (strncmp(arg, "--", 2) != 0 || !arg[2]) {
			fprintf(stderr, "kidou: unexpected argument '%s' (see --help)\n", arg);
			return -1;
		}
		arg += 2;
		eq = strchr(arg, '=');
		if (eq) {
			value = eq + 1;
			if ((size_t)(eq - arg) >= sizeof(flag)) {
				fprintf(stderr, "kidou: unknown option '--%s'\n", arg);
				return -1;
			}
			memcpy(flag, arg, (size_t)(eq - arg));
			flag[eq - arg] = '\0';
		} else {
			if (strlen(arg) >= sizeof(flag)) {
				fprintf(stderr, "kidou: unknown option '--%s'\n", arg);
				return -1;
			}
			strcpy(flag, arg);
		}
		if (strcmp(flag, "config") != 0 && config_flag_known(flag) < 0) {
			fprintf(stderr, "kidou: unknown option '--%s' (see --help)\n", flag);
			return -1;
		}
		if (!value) {
			if (i + 1 >= argc) {
				fprintf(stderr, "kidou: --%s needs a value\n", flag);
				return -1;
			}
			value = argv[++i];
		}
		if (strcmp(flag, "config") == 0) {
			d->config_path = value;
			continue;
		}
		if (d->n_overrides == MAX_OVERRIDES) {
			fprintf(stderr, "kidou: too many options\n");
			return -1;
		}
		/* The value keeps pointing into argv, which lives as long as
		 * the process, so a reload can apply it again. */
		memcpy(d->override_flags[d->n_overrides], flag, sizeof(flag));
		d->overrides[d->n_overrides].flag = d->override_flags[d->n_overrides];
		d->overrides[d->n_overrides].value = value;
		d->n_overrides++;
	}
	return 0;
}

/* Returns 1 if it dropped to user, 0 if there was nothing to drop, or -errno. */
static int drop_privileges(const char *user)
{
	struct passwd *pw;

	if (!user)
		return 0;
	if (geteuid() != 0) {
		/* Started unprivileged (a systemd User= with ambient
		 * capabilities): already that user, or one chosen for us. */
		log_info("main", "privileges", "user=\"%s\" state=not-root action=none", user);
		return 0;
	}
	pw = getpwnam(user);
	if (!pw) {
		log_error("main", "privileges", "user=\"%s\" error=\"no such user\"", user);
		return -ENOENT;
	}
	if (setgroups(0, NULL) < 0 || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0) {
		int r = -errno;
		log_error("main", "privileges", "user=\"%s\" error=\"%s\"", user, strerror(errno));
		return r;
	}
	log_info("main", "privileges", "user=\"%s\" uid=%u gid=%u", user,
		 (unsigned)pw->pw_uid, (unsigned)pw->pw_gid);
	return 1;
}

/* Started as a user other than root with capabilities (systemd's
 * AmbientCapabilities=, or setpriv/capsh): CAP_NET_BIND_SERVICE and
 * CAP_NET_RAW served to open the sockets, which are open now; a process
 * that serves hostile input keeps none. As root (no [daemon] user), kidou
 * stays root as before: a reload may re-read files only root can read.
 * Returns 0 or -errno. */
static int drop_capabilities(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = { { 0 } };
	bool any = false;

	if (geteuid() == 0)
		return 0;
	/* EINVAL: a kernel before 4.3 has no ambient set to clear. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		goto fail;
	if (syscall(SYS_capget, &hdr, data) < 0)
		goto fail;
	for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		any |= data[i].permitted || data[i].effective || data[i].inheritable;
	if (!any)
		return 0;
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) < 0)
		goto fail;
	log_info("main", "capabilities", "state=dropped uid=%u", (unsigned)geteuid());
	return 0;
fail:
	{
		int r = -errno;
		log_error("main", "capabilities", "error=\"%s\"", strerror(errno));
		return r;
	}
}

/* The served roots, opened (O_PATH) before the drop as the servers opened
 * theirs, so that they can be checked as the user after it. */
struct root_probe {
	const char *server;
	const char *path;
	int fd;
};

static void root_probes_open(const struct config *c, struct root_probe p[2])
{
	p[0] = (struct root_probe){ "tftp", c->tftp.root, fs_open_root(c->tftp.root) };
	p[1] = (struct root_probe){ "http", c->http.root,
				    c->http.enabled ? fs_open_root(c->http.root) : -1 };
}

static void root_probes_close(struct root_probe p[2])
{
	for (int i = 0; i < 2; i++)
		p[i].fd = safe_close(p[i].fd);
}

/* Right after the drop, as the user: what it needs from the file system.
 * A root held open spares the user its parents, but every lookup beneath
 * it needs search permission on the root itself; without that each request
 * would fail, so refuse to start. A SIGHUP re-reads the config file and
 * re-opens the roots by path as the user: warn now when that must fail. */
static int check_as_user(const struct daemon *d, const struct root_probe p[2])
{
	const char *user = d->config->user;
	int r = 0;

	for (int i = 0; i < 2; i++) {
		int e, fd;

		if (p[i].fd < 0)
			continue;
		e = fs_root_usable(p[i].fd);
		if (e < 0) {
			log_error("main", "root-unusable", "server=%s root=\"%s\" user=\"%s\" error=\"%s\"",
				  p[i].server, p[i].path, user, strerror(-e));
			r = e;
			continue;
		}
		fd = fs_open_root(p[i].path);
		if (fd < 0)
			log_warn("main", "root-unreachable-after-drop",
				 "server=%s root=\"%s\" user=\"%s\" error=\"%s\" note=\"SIGHUP reloads will fail\"",
				 p[i].server, p[i].path, user, strerror(-fd));
		else
			safe_close(fd);
	}
	if (d->config_path && faccessat(AT_FDCWD, d->config_path, R_OK, AT_EACCESS) < 0)
		log_warn("main", "config-unreadable-after-drop",
			 "path=\"%s\" user=\"%s\" error=\"%s\" note=\"SIGHUP reloads will fail\"",
			 d->config_path, user, strerror(errno));
	return r;
}

/* From here on no execve() could gain privileges (setuid, file caps):
 * kidou never executes anything, and a seccomp filter needs it. Set with
 * or without --user, as it costs nothing. */
static int no_new_privs(void)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		int r = -errno;
		log_error("main", "no-new-privs", "error=\"%s\"", strerror(errno));
		return r;
	}
	return 0;
}

/* The last step of startup: from here on only the system calls of a
 * running kidou are allowed (sandbox.h). */
static int confine(const struct config *c)
{
	int n;

	if (c->seccomp_off) {
		log_info("main", "seccomp", "state=off reason=config");
		return 0;
	}
	if (sandbox_unsupported_build()) {
		log_info("main", "seccomp", "state=off reason=sanitizer-build");
		return 0;
	}
	n = sandbox_apply();
	if (n < 0) {
		log_error("main", "seccomp", "error=\"%s\" note=\"[daemon] seccomp = no turns it off\"",
			  strerror(-n));
		return n;
	}
	log_info("main", "seccomp", "state=on syscalls=%d action=kill-process", n);
	return 0;
}

/* Paths the HTTP server answers from memory rather than the file tree. */
static int http_generate(void *data, const char *path, const struct http_query *q,
			 char **body, size_t *len, const char **content_type)
{
	struct daemon *d = data;

	if (strcmp(path, "metrics") == 0) {
		struct metrics_sources m = { .tftp = d->tftp, .dhcp = d->dhcp, .http = d->http,
					     .ndp = d->ndp, .boot = d->events, .loop = d->loop };
		*content_type = "text/plain; version=0.0.4; charset=utf-8";
		return metrics_render(&m, body, len);
	}
	return -ENOENT;
}

/* Generated files a file on disk may replace: iPXE boot scripts. */
static int http_fallback(void *data, const char *path, const struct http_query *q,
			 char **body, size_t *len, const char **content_type)
{
	struct daemon *d = data;

	*content_type = "text/plain; charset=utf-8";
	return boot_files_ipxe(d->config, &d->boot_lookup, path, http_query_arg(q, "mac"),
			       ntohl(http_query_peer(q)->sin_addr.s_addr),
			       ntohl(http_query_local(q)->sin_addr.s_addr), body, len);
}

/* Requests under /api/, on either server. */
static int http_api(void *data, const struct http_api_request *rq, struct http_api_answer *a)
{
	struct daemon *d = data;

	return api_handle(d->api, rq, a);
}

static int restore_next_boot(const struct next_boot_record *r, void *ctx)
{
	struct daemon *d = ctx;
	char mac[MAC_STRLEN];
	int e = next_boot_put(d->next_boot, r);

	/* A row that does not fit (full, or nonsense written by hand) is
	 * skipped with a word, not fatal: the leases matter more. */
	if (e < 0)
		log_warn("main", "next-boot-skipped", "mac=%s error=\"%s\"", format_mac(r->mac, mac),
			 strerror(-e));
	return 0;
}

/* Next-boot records from the lease database, at startup, before the
 * loop runs (the store's contract for loads). */
static int load_next_boot(struct daemon *d)
{
	struct lease_store *st = dhcp_io_store(d->dhcp);
	int e;

	if (!st)
		return 0;
	e = st->ops->load_next_boot(st, restore_next_boot, d);
	if (e < 0) {
		log_error("main", "database", "path=\"%s\" error=\"cannot load next-boot records\"",
			  d->config->dhcp.database);
		return e;
	}
	log_info("main", "next-boot-loaded", "records=%zu", next_boot_count(d->next_boot));
	return 0;
}

/* One stored API host: parsed as the API parsed it; checked against the
 * config by config_attach_api_hosts (a host the file now overrides is
 * kept, inactive). A row that does not parse, or that clashes with one
 * already loaded (only a hand edit makes one), is skipped with a word. */
static int restore_host(const char *name, const char *json, void *ctx)
{
	struct daemon *d = ctx;
	struct host_config *h = NULL, *old = NULL;
	char field[64], msg[256], q[300], *canonical = NULL;
	const char *clash = NULL;
	int e = api_host_parse(json, strlen(json), d->config, name, false, &h, &canonical, field,
			       sizeof(field), msg, sizeof(msg));

	if (e == 0)
		h->api_body = canonical;

	if (e == 0 && host_table_by_name(d->api_hosts, h->name))
		clash = "name";
	else if (e == 0 && h->has_mac && host_table_by_mac(d->api_hosts, h->mac))
		clash = "mac";
	else if (e == 0 && h->has_uuid && host_table_by_uuid(d->api_hosts, h->uuid))
		clash = "uuid";
	else if (e == 0 && h->ip && host_table_by_ip(d->api_hosts, h->ip))
		clash = "ip";
	if (clash) {
		snprintf(msg, sizeof(msg), "%s: another stored host has it", clash);
		e = -EEXIST;
	}
	if (e == 0)
		e = host_table_put(d->api_hosts, h, &old);
	if (e < 0) {
		config_host_free(h);
		log_warn("main", "host-skipped", "host=%s error=%s", name,
			 log_quote(q, sizeof(q), e == -EINVAL || e == -EEXIST ? msg : strerror(-e),
				   sizeof(msg)));
	}
	return 0;
}

static int load_hosts(struct daemon *d)
{
	struct lease_store *st = dhcp_io_store(d->dhcp);
	size_t inactive;
	int e;

	if (!st)
		return 0;
	e = st->ops->load_hosts(st, restore_host, d);
	if (e < 0) {
		log_error("main", "database", "path=\"%s\" error=\"cannot load API hosts\"",
			  d->config->dhcp.database);
		return e;
	}
	inactive = config_attach_api_hosts(d->config, d->api_hosts);
	log_info("main", "hosts-loaded", "hosts=%zu inactive=%zu", host_table_count(d->api_hosts),
		 inactive);
	return 0;
}

static void watch_store(struct daemon *d);

/* In loop context: a shared store unreachable at start has been reached
 * and dhcp_io has loaded the leases: the rest of what startup loads, then
 * the other instances' writes. A database kidou cannot use ends it. */
static void on_store_ready(int result, void *data)
{
	struct daemon *d = data;

	if (result == 0 && load_next_boot(d) == 0 && load_hosts(d) == 0) {
		watch_store(d);
		return;
	}
	d->failed = true;
	loop_quit(d->loop);
}

/* In loop context: what other instances wrote to the shared store. */
static void on_remote_changes(struct lease_remote_set *set, void *data)
{
	struct daemon *d = data;
	struct api_sync_target t = { .api = d->api, .config = d->config,
				     .next_boot = d->next_boot, .hosts = d->api_hosts };

	api_sync_apply(&t, set);
}

/* Shared stores: the other instances' API writes, from now on (after the
 * loads, and once the API can say which writes are its own). */
static void watch_store(struct daemon *d)
{
	struct lease_store *st = dhcp_io_store(d->dhcp);

	if (st && st->ops->watch)
		st->ops->watch(st, on_remote_changes, d);
}

static int lookup_mac_for_ip(void *data, uint32_t ip, uint8_t mac[6])
{
	struct daemon *d = data;

	return d->dhcp ? dhcp_io_mac_for_ip(d->dhcp, ip, mac) : -ENOENT;
}

/* Start TFTP with the profiles of c rendered behind its root. */
static int tftp_start(struct daemon *d, const struct config *c)
{
	struct file_source *gen;
	int r = boot_files_source_new(c, &d->boot_lookup, &gen);

	if (r < 0)
		return r;
	r = tftp_server_new(d->loop, &c->tftp, gen, &d->tftp);
	file_source_unref(gen);
	return r;
}

/* How often busy polling spun and how often that found a packet: the
 * operator's measure of what --busy-poll did for (and cost) this run. */
static void log_busy_poll_stats(const struct loop *l)
{
	struct loop_poll_stats st;

	loop_poll_stats(l, &st);
	log_info("main", "busy-poll", "spins=%llu hits=%llu",
		 (unsigned long long)st.spins, (unsigned long long)st.hits);
}

static void on_timeline_tick(struct loop_timer *t)
{
	struct daemon *d = t->data;

	boot_events_tick(d->events, now_usec());
	loop_timer_arm(d->loop, t, TIMELINE_TICK_USEC);
}

static void on_idle(void *data)
{
	struct daemon *d = data;

	log_info("main", "stopped", "reason=idle");
	loop_quit(d->loop);
}

static void on_grace_expired(struct loop_timer *t)
{
	struct daemon *d = t->data;

	log_warn("main", "stopping", "reason=grace-expired active=%u",
		 tftp_server_active(d->tftp));
	tftp_server_abort_all(d->tftp, "server shutting down");
	loop_quit(d->loop);
}

static void free_dhcp(void *data)
{
	dhcp_io_free(data);
}

static void free_ndp(void *data)
{
	ndp_io_free(data);
}

static void free_http(void *data)
{
	http_server_free(data);
}

static void on_stop_signal(struct loop *l, int signo, void *data)
{
	struct daemon *d = data;

	if (d->stopping) {
		log_warn("main", "stopping", "signal=%s reason=second-signal active=%u",
			 sigabbrev_np(signo), tftp_server_active(d->tftp));
		tftp_server_abort_all(d->tftp, "server shutting down");
		loop_quit(l);
		return;
	}
	d->stopping = true;
	notify_send(&d->notify, NOTIFY_STOPPING, "stopping: letting transfers finish");
	log_info("main", "stopping", "signal=%s active=%u", sigabbrev_np(signo),
		 tftp_server_active(d->tftp));
	loop_timer_arm(l, &d->grace, SHUTDOWN_GRACE_USEC);
	/* DHCP, router advertisements and HTTP stop answering now (a DHCP
	 * reply still waiting for its commit is never sent); TFTP transfers
	 * get their grace period. The modules are freed after this
	 * iteration's dispatch, which may still hold events for their
	 * handles. */
	if (d->dhcp && loop_defer(l, free_dhcp, d->dhcp) < 0)
		dhcp_io_free(d->dhcp);
	d->dhcp = NULL;
	if (d->ndp && loop_defer(l, free_ndp, d->ndp) < 0)
		ndp_io_free(d->ndp);
	d->ndp = NULL;
	api_close_streams(d->api);  /* no suspended connection when MHD stops */
	if (d->http && loop_defer(l, free_http, d->http) < 0)
		http_server_free(d->http);
	d->http = NULL;
	if (d->api_http && loop_defer(l, free_http, d->api_http) < 0)
		http_server_free(d->api_http);
	d->api_http = NULL;
	tftp_server_drain(d->tftp, on_idle, d);
}

/* A reload changes everything or nothing: every module prepares its new
 * state beside the running one, and only when all succeeded is it all
 * swapped in (no step after the first commit can fail). */
static void on_reload_signal(struct loop *l, int signo, void *data)
{
	struct daemon *d = data;
	struct dhcp_server *dhcp_new = NULL;
	struct tftp_reload tftp_new = { .fd = -1 };
	struct file_source *gen = NULL;
	const char *failed;
	int http_root = -1;
	struct config *c;
	char err[512];

	if (d->stopping)
		return;
	/* systemd holds `systemctl reload` until READY=1 follows; every way
	 * out of this function sends it. */
	notify_send(&d->notify, NOTIFY_RELOADING, "reloading");
	if (config_build(d->config_path, d->overrides, d->n_overrides, &c, err,
			 sizeof(err)) < 0) {
		char q[600];
		log_error("main", "reload", "error=%s action=keep-old",
			  log_quote(q, sizeof(q), err, sizeof(err)));
		notify_send(&d->notify, NOTIFY_READY, "reload failed: running the old config");
		return;
	}
	log_set_level(c->log_level);
	/* The API's hosts against the new config, before anything reads it
	 * (the DHCP server below is built from it); back on the old one if
	 * the reload fails. */
	config_attach_api_hosts(c, d->api_hosts);
	if (c->dhcp.enabled != (d->dhcp != NULL) || c->http.enabled != (d->http != NULL) ||
	    c->api.own_listen != (d->api_http != NULL)) {
		log_error("main", "reload", "error=\"turning DHCP, HTTP or [api] listen on or off needs a restart\" action=keep-old");
		goto keep_old;
	}
	failed = "http";
	if (d->http && (http_root = http_server_reload_prepare(d->http, c)) < 0)
		goto abort;
	failed = "tftp";
	if (boot_files_source_new(c, &d->boot_lookup, &gen) < 0)
		goto abort;
	if (tftp_server_reload_prepare(d->tftp, &c->tftp, gen, &tftp_new) < 0)
		goto abort;
	failed = "dhcp";
	if (d->dhcp && dhcp_io_reload_prepare(d->dhcp, c, &dhcp_new) < 0)
		goto abort;
	file_source_unref(gen);

	if (d->http)
		http_server_reload_commit(d->http, http_root);
	tftp_server_reload_commit(d->tftp, &c->tftp, &tftp_new);
	if (d->dhcp)
		dhcp_io_reload_commit(d->dhcp, c, dhcp_new);
	if (!d->ndp && c->dhcp.ipv6_ra != IPV6_RA_OFF && c->dhcp.ipv6_ra != d->config->dhcp.ipv6_ra)
		log_warn("main", "reload", "note=\"turning ipv6-ra on needs a restart\"");
	ndp_io_reconfigure(d->ndp, c);
	boot_events_set_idle(d->events, c->timeline_idle_sec * 1000000ull);
	loop_set_busy_poll(d->loop, c->busy_poll_usec);
	config_free(d->config);
	d->config = c;
	api_reconfigure(d->api);
	kernel_sig_check(c);
	kernel_sig_check_proxy(c);
	log_info("main", "reloaded", "config=\"%s\"", d->config_path ? d->config_path : "");
	notify_send(&d->notify, NOTIFY_READY, "reloaded");
	return;
abort:
	log_error("main", "reload", "error=\"%s refused the new config\" action=keep-old", failed);
	tftp_server_reload_abort(&tftp_new);
	file_source_unref(gen);
	safe_close(http_root);
keep_old:
	log_set_level(d->config->log_level);
	config_attach_api_hosts(d->config, d->api_hosts);
	config_free(c);
	notify_send(&d->notify, NOTIFY_READY, "reload failed: running the old config");
}

/* One line for `systemctl status`: what this kidou serves. */
static void notify_ready(struct daemon *d)
{
	char status[256];

	snprintf(status, sizeof(status), "serving TFTP%s%s%s",
		 !d->dhcp ? "" : d->config->dhcp.mode == DHCP_MODE_PROXY ? ", proxyDHCP" : ", DHCP",
		 d->http ? ", HTTP" : "", d->api_http ? ", API" : "");
	notify_send(&d->notify, NOTIFY_READY, status);
}

int main(int argc, char **argv)
{
	struct daemon d = { .notify = { .fd = -1 } };
	struct quick quick = { 0 };
	struct root_probe probes[2] = { { .fd = -1 }, { .fd = -1 } };
	char err[512];
	sigset_t hup;
	int r;

	/* kidou leases migrate FROM TO: the one leases command that works on
	 * databases, not on a running kidou's API. */
	if (argc > 2 && strcmp(argv[1], "leases") == 0 && strcmp(argv[2], "migrate") == 0) {
		if (argc != 5) {
			fprintf(stderr, "usage: kidou leases migrate FROM TO (an SQLite path or a "
				"postgresql:// URI each)\n");
			return 2;
		}
		if (lease_migrate(argv[3], argv[4], stdout, err, sizeof(err)) < 0) {
			fprintf(stderr, "kidou leases migrate: %s\n", err);
			return 1;
		}
		return EXIT_SUCCESS;
	}
	/* The CLI commands only ask a running kidou (api/client.h). */
	if (argc > 1 && client_is_command(argv[1]))
		return client_main(argc - 1, argv + 1);
	log_set_journal(log_journal_stream_matches(getenv("JOURNAL_STREAM"), STDERR_FILENO));
	if (argc > 1 && strcmp(argv[1], "doctor") == 0)
		return doctor_main(argc - 1, argv + 1);
	/* SIGHUP kills by default: one sent while the config loads (an init
	 * system reloading early) would end the daemon. Held blocked from
	 * here, it waits for the loop's signalfd and becomes a reload. */
	sigemptyset(&hup);
	sigaddset(&hup, SIGHUP);
	sigprocmask(SIG_BLOCK, &hup, NULL);

	/* kidou check-config [FILE] [--SETTING VALUE ...]: no socket, no loop. */
	if (argc > 1 && strcmp(argv[1], "check-config") == 0) {
		argv[1] = argv[0];
		argv++;
		argc--;
		if (argc > 1 && argv[1][0] != '-') {
			d.config_path = argv[1];
			argv[1] = argv[0];
			argv++;
			argc--;
		}
		r = parse_args(&d, argc, argv);
		if (r != 0)
			return r > 0 ? EXIT_SUCCESS : 2;
		return config_check_run(d.config_path, d.overrides, d.n_overrides, stdout, stderr);
	}
	if (argc > 1 && strcmp(argv[1], "boot") == 0) {
		int qargc = argc - 1;
		if (quick_prepare(&qargc, argv + 1, &quick, err, sizeof(err)) < 0) {
			fprintf(stderr, "kidou boot: %s\n", err);
			quick_cleanup(&quick);
			return 2;
		}
		/* The rest are ordinary flags, read after the generated file. */
		argv[1] = argv[0];
		argv++;
		argc = qargc;
		d.config_path = quick.config;
	}
	r = parse_args(&d, argc, argv);
	if (r != 0 || (quick.dir[0] && d.config_path != quick.config)) {
		if (r == 0)
			fprintf(stderr, "kidou boot: --config cannot be combined with boot\n");
		quick_cleanup(&quick);
		return r > 0 ? EXIT_SUCCESS : 2;
	}
	if (config_build(d.config_path, d.overrides, d.n_overrides, &d.config, err,
			 sizeof(err)) < 0) {
		fprintf(stderr, "kidou: %s\n", err);
		quick_cleanup(&quick);
		return EXIT_FAILURE;
	}
	log_set_level(d.config->log_level);
	/* A vanished TFTP client must not kill us through SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);

	if (loop_new(&d.loop) < 0) {
		fprintf(stderr, "kidou: cannot create event loop\n");
		r = EXIT_FAILURE;
		goto out;
	}
	loop_timer_init(&d.grace, on_grace_expired, &d);
	if (loop_signal_add(d.loop, SIGINT, on_stop_signal, &d) < 0 ||
	    loop_signal_add(d.loop, SIGTERM, on_stop_signal, &d) < 0 ||
	    loop_signal_add(d.loop, SIGHUP, on_reload_signal, &d) < 0) {
		fprintf(stderr, "kidou: cannot set up signals\n");
		r = EXIT_FAILURE;
		goto out;
	}
	if (boot_events_new(d.config->timeline_idle_sec * 1000000ull, NULL, NULL, &d.events) < 0) {
		fprintf(stderr, "kidou: out of memory\n");
		r = EXIT_FAILURE;
		goto out;
	}
	loop_set_busy_poll(d.loop, d.config->busy_poll_usec);
	loop_timer_init(&d.timeline_tick, on_timeline_tick, &d);
	loop_timer_arm(d.loop, &d.timeline_tick, TIMELINE_TICK_USEC);
	if (next_boot_new(NEXT_BOOT_MAX, &d.next_boot) < 0 ||
	    host_table_new(HOST_TABLE_MAX, &d.api_hosts) < 0) {
		fprintf(stderr, "kidou: out of memory\n");
		r = EXIT_FAILURE;
		goto out;
	}
	d.boot_lookup = (struct boot_lookup){ .mac_for_ip = lookup_mac_for_ip, .data = &d,
					      .http_port = &d.http_port, .api_listen = &d.api_addr,
					      .next_boot = d.next_boot, .events = d.events };
	if (tftp_start(&d, d.config) < 0) {
		r = EXIT_FAILURE;
		goto out;
	}
	tftp_server_set_events(d.tftp, d.events);
	if (d.config->dhcp.enabled) {
		if (dhcp_io_new(d.loop, d.config, &d.dhcp) < 0 ||
		    ndp_io_new(d.loop, d.config, d.events, &d.ndp) < 0) {
			r = EXIT_FAILURE;
			goto out;
		}
		dhcp_io_set_events(d.dhcp, d.events);
		dhcp_io_set_ready_hook(d.dhcp, on_store_ready, &d);
		if (dhcp_io_loaded(d.dhcp) && (load_next_boot(&d) < 0 || load_hosts(&d) < 0)) {
			r = EXIT_FAILURE;
			goto out;
		}
	}
	if (d.config->http.enabled || d.config->api.own_listen) {
		struct api_sources src = { .config = &d.config, .dhcp = &d.dhcp, .events = d.events,
					   .next_boot = d.next_boot, .hosts = d.api_hosts };
		if (api_new(d.loop, &src, &d.api) < 0) {
			r = EXIT_FAILURE;
			goto out;
		}
	}
	if (d.config->api.own_listen) {
		struct http_dynamic dyn = { .api = http_api, .data = &d };
		if (http_server_new_api(d.loop, d.config, &dyn, &d.api_http) < 0) {
			r = EXIT_FAILURE;
			goto out;
		}
		d.api_addr = d.config->api.listen;
		d.api_addr.sin_port = htons((uint16_t)http_server_local_port(d.api_http));
	}
	if (dhcp_io_loaded(d.dhcp))
		watch_store(&d);
	if (d.config->http.enabled) {
		/* The API is on the file server too unless it has its own. */
		struct http_dynamic dyn = { .generate = http_generate, .fallback = http_fallback,
					    .api = d.config->api.own_listen ? NULL : http_api,
					    .data = &d };
		if (http_server_new(d.loop, d.config, &dyn, &d.http) < 0) {
			r = EXIT_FAILURE;
			goto out;
		}
		http_server_set_events(d.http, d.events);
		d.http_port = http_server_local_port(d.http);
		if (d.dhcp)
			dhcp_io_set_http_port(d.dhcp, d.http_port);
	}
	/* Connected before the drop: connect() is where a path socket's
	 * permissions are checked (notify.h). */
	r = notify_open(&d.notify, getenv("NOTIFY_SOCKET"));
	if (r < 0)
		log_warn("notify", "open-error", "socket=\"%s\" error=\"%s\"",
			 getenv("NOTIFY_SOCKET"), strerror(-r));
	/* Serving Debian's signed chain: an unsigned kernel would be refused
	 * on the machine's console only; say so here. */
	kernel_sig_check(d.config);
	kernel_sig_check_proxy(d.config);
	if (d.config->user && geteuid() == 0)
		root_probes_open(d.config, probes);
	r = drop_privileges(d.config->user);
	if (r < 0 || (r > 0 && check_as_user(&d, probes) < 0) || drop_capabilities() < 0 ||
	    no_new_privs() < 0 || confine(d.config) < 0) {
		root_probes_close(probes);
		r = EXIT_FAILURE;
		goto out;
	}
	root_probes_close(probes);
	log_info("main", "ready", "version=%s config=\"%s\"", KIDOU_VERSION,
		 d.config_path ? d.config_path : "");
	notify_ready(&d);
	r = loop_run(d.loop) < 0 || d.failed ? EXIT_FAILURE : EXIT_SUCCESS;
	boot_events_flush(d.events);  /* boots still in progress get their line */
	log_busy_poll_stats(d.loop);
out:
	api_close_streams(d.api);
	http_server_free(d.http);
	http_server_free(d.api_http);
	ndp_io_free(d.ndp);
	dhcp_io_free(d.dhcp);
	tftp_server_free(d.tftp);
	api_free(d.api);  /* after the HTTP servers (their streams), before the loop */
	loop_free(d.loop);
	next_boot_free(d.next_boot);
	boot_events_free(d.events);
	config_free(d.config);
	notify_close(&d.notify);
	host_table_free(d.api_hosts);  /* after the config that points at it */
	quick_cleanup(&quick);
	return r;
}
