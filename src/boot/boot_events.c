/* boot_events.c - see boot_events.h. */
#include "boot/boot_events.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "util.h"

#define MOD "boot"
#define BUCKETS 2048  /* power of two, twice the machines: short chains */
#define NIL (-1)
#define LABEL_MAX 56
#define REASON_MAX 24
/* A transfer that never reports its end (it should: TFTP gives up after
 * its retries, HTTP after its idle timeout) is summarised after this many
 * idle periods all the same, so no timeline lives forever. */
#define OPEN_IDLE_FACTOR 10

enum step_state {
	STEP_INSTANT,  /* a DHCP decision, an RA */
	STEP_OPEN,     /* a file requested, not finished */
	STEP_OK,
	STEP_FAILED,
	STEP_PROBE,    /* the client asked for the size only */
};

/* How far a boot got along the loaders' chain (boot_events.h). */
enum stage {
	STAGE_FIRMWARE,  /* DHCP only */
	STAGE_LOADER,    /* the firmware's boot file */
	STAGE_SHIM,
	STAGE_GRUB,
	STAGE_CONFIG,    /* grub.cfg, pxelinux.cfg/..., an iPXE script */
	STAGE_KERNEL,
	STAGE_INITRD,
};

struct step {
	char label[LABEL_MAX];
	char reason[REASON_MAX];
	enum step_state state;
	uint64_t start, end;
};

struct timeline {
	bool used;
	/* Summarised and released, but kept (still on its MAC's chain) until
	 * its slot is taken again, so the API can show a machine's last boot:
	 * free slots are reused oldest first. */
	bool done;
	const char *outcome;    /* set once done: "booted", "served", "stalled" */
	char end_reason[REASON_MAX];
	bool has_mac;
	uint8_t mac[6];
	uint32_t ip;
	bool ip_indexed;
	int next_mac, next_ip;  /* hash chains */
	uint64_t first, last;
	uint64_t first_ack;     /* 0: no ACK yet */
	uint64_t first_file;    /* first file request after the first ACK; 0: none */
	uint64_t plain_dhcp;    /* a plain DHCP exchange after the files; 0: none */
	unsigned n_steps, dropped_steps;
	unsigned rs, misses, probes, files_ok, files_failed, open;
	bool last_file_failed;
	enum stage stage;
	const char *config_kind;  /* "grub.cfg", "pxelinux.cfg", "ipxe" once STAGE_CONFIG */
	/* The first file that arrived whole (the firmware's boot file) and
	 * whether anything else was asked for after it: a UEFI loader that
	 * arrives and is never heard of again was most likely refused by
	 * Secure Boot. */
	char loader[LABEL_MAX];
	bool after_loader;
	bool local_boot;        /* was handed its local-boot config (next_boot) */
	uint64_t bytes;
	char last_miss[LABEL_MAX];
	char last_fail[REASON_MAX];
	struct step steps[BOOT_EVENTS_MAX_STEPS];
};

struct boot_events {
	uint64_t idle;
	boot_events_sink sink;
	void *sink_ctx;
	struct timeline *tl;    /* BOOT_EVENTS_MAX_MACHINES */
	int free_list[BOOT_EVENTS_MAX_MACHINES];  /* a ring: oldest released first */
	unsigned free_head, n_free;
	boot_events_listener listener;
	void *listener_ctx;
	int mac_head[BUCKETS];
	int ip_head[BUCKETS];
	struct boot_events_stats stats;
};

/* --- indexes --- */

static unsigned hash_bytes(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;  /* FNV-1a */

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h & (BUCKETS - 1);
}

static unsigned hash_ip(uint32_t ip)
{
	uint8_t b[4] = { ip >> 24, ip >> 16, ip >> 8, ip };
	return hash_bytes(b, sizeof(b));
}

/* The timeline of mac, open (live) or done, or NULL. At most one of
 * each: a new timeline unlinks the done one of its MAC. */
static struct timeline *find_mac_any(const struct boot_events *b, const uint8_t mac[6], bool live)
{
	for (int i = b->mac_head[hash_bytes(mac, 6)]; i != NIL; i = b->tl[i].next_mac)
		if (memcmp(b->tl[i].mac, mac, 6) == 0 && b->tl[i].used == live)
			return &b->tl[i];
	return NULL;
}

static struct timeline *find_mac(struct boot_events *b, const uint8_t mac[6])
{
	return find_mac_any(b, mac, true);
}

static struct timeline *find_ip(struct boot_events *b, uint32_t ip)
{
	for (int i = b->ip_head[hash_ip(ip)]; i != NIL; i = b->tl[i].next_ip)
		if (b->tl[i].ip == ip)
			return &b->tl[i];
	return NULL;
}

static void unlink_chain(struct boot_events *b, int *head, int idx, bool by_mac)
{
	for (int *p = head; *p != NIL; p = by_mac ? &b->tl[*p].next_mac : &b->tl[*p].next_ip) {
		if (*p == idx) {
			*p = by_mac ? b->tl[idx].next_mac : b->tl[idx].next_ip;
			return;
		}
	}
}

static int index_of(const struct boot_events *b, const struct timeline *t)
{
	return (int)(t - b->tl);
}

static void unindex_ip(struct boot_events *b, struct timeline *t)
{
	if (!t->ip_indexed)
		return;
	unlink_chain(b, &b->ip_head[hash_ip(t->ip)], index_of(b, t), false);
	t->ip_indexed = false;
}

/* The address belongs to t now; whoever held it before (a lease that
 * moved, an address-only timeline) no longer receives its file events. */
static void index_ip(struct boot_events *b, struct timeline *t, uint32_t ip)
{
	struct timeline *old;

	if (t->ip_indexed && t->ip == ip)
		return;
	unindex_ip(b, t);
	old = find_ip(b, ip);
	if (old)
		unindex_ip(b, old);
	t->ip = ip;
	t->next_ip = b->ip_head[hash_ip(ip)];
	b->ip_head[hash_ip(ip)] = index_of(b, t);
	t->ip_indexed = true;
}

/* --- the summary --- */

static unsigned long long ms_between(uint64_t from, uint64_t to)
{
	return to > from ? (unsigned long long)((to - from) / 1000) : 0;
}

static uint64_t step_end(const struct step *s)
{
	return s->state == STEP_OK || s->state == STEP_FAILED ? s->end : s->start;
}

/* Append to buf at *o, never past size (the tail is dropped quietly: the
 * summary still ends properly, only shorter). */
static void append(char *buf, size_t size, size_t *o, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t size, size_t *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*o >= size)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *o, size - *o, fmt, ap);
	va_end(ap);
	if (n > 0)
		*o = MIN(*o + (size_t)n, size);
}

static const char *stage_name(const struct timeline *t)
{
	static const char *const names[] = {
		[STAGE_FIRMWARE] = "firmware", [STAGE_LOADER] = "loader", [STAGE_SHIM] = "shim",
		[STAGE_GRUB] = "grub", [STAGE_CONFIG] = "config", [STAGE_KERNEL] = "kernel",
		[STAGE_INITRD] = "initrd",
	};

	if (t->stage == STAGE_CONFIG && t->config_kind)
		return t->config_kind;
	return names[t->stage];
}

static void summarise(struct boot_events *b, struct timeline *t, const char *outcome,
		      const char *reason)
{
	char mac[MAC_STRLEN] = "-", ip[INET_ADDRSTRLEN] = "-", steps[2400], line[3200];
	char gap_label[LABEL_MAX] = "-";
	struct in_addr a = { htonl(t->ip) };
	uint64_t cursor = t->first, largest_gap = 0;
	size_t so = 0, lo = 0;

	/* A machine sent back to its disk that got its config whole booted
	 * from the disk, whatever its OS's DHCP did after. */
	if (t->local_boot && strcmp(outcome, "stalled") != 0)
		outcome = "local";
	if (t->has_mac)
		format_mac(t->mac, mac);
	if (t->ip)
		inet_ntop(AF_INET, &a, ip, sizeof(ip));
	for (unsigned i = 0; i < t->n_steps; i++) {
		const struct step *s = &t->steps[i];
		uint64_t gap = s->start > cursor ? s->start - cursor : 0;

		if (i > 0)
			append(steps, sizeof(steps), &so, " +%llu ", (unsigned long long)(gap / 1000));
		if (gap > largest_gap) {
			largest_gap = gap;
			snprintf(gap_label, sizeof(gap_label), "%s", s->label);
		}
		append(steps, sizeof(steps), &so, "%s@%llu", s->label, ms_between(t->first, s->start));
		if (s->state == STEP_OK)
			append(steps, sizeof(steps), &so, "..%llu", ms_between(t->first, s->end));
		else if (s->state == STEP_FAILED)
			append(steps, sizeof(steps), &so, "..!%s", s->reason);
		else if (s->state == STEP_OPEN)
			append(steps, sizeof(steps), &so, "..?");
		else if (s->state == STEP_PROBE)
			append(steps, sizeof(steps), &so, "..size");
		cursor = MAX(cursor, step_end(s));
	}
	if (so >= sizeof(steps))
		so = sizeof(steps) - 1;
	steps[so] = '\0';

	append(line, sizeof(line), &lo, "mac=%s ip=%s outcome=%s", mac, ip, outcome);
	if (reason)
		append(line, sizeof(line), &lo, " reason=%s", reason);
	if (reason && strcmp(reason, "loader-refused") == 0)
		append(line, sizeof(line), &lo, " hint=\"the firmware fetched %s and asked for"
		       " nothing more: Secure Boot may have refused an unsigned loader\"", t->loader);
	append(line, sizeof(line), &lo, " stage=%s", stage_name(t));
	append(line, sizeof(line), &lo, " total_ms=%llu", ms_between(t->first, t->last));
	if (t->first_ack && t->first_file)
		append(line, sizeof(line), &lo, " ack_to_file_ms=%llu",
		       ms_between(t->first_ack, t->first_file));
	else
		append(line, sizeof(line), &lo, " ack_to_file_ms=-");
	append(line, sizeof(line), &lo,
	       " files=%u failed=%u misses=%u probes=%u rs=%u bytes=%llu largest_gap_ms=%llu"
	       " largest_gap_before=\"%s\"",
	       t->files_ok, t->files_failed, t->misses, t->probes, t->rs,
	       (unsigned long long)t->bytes,
	       (unsigned long long)(largest_gap / 1000), gap_label);
	if (t->misses)
		append(line, sizeof(line), &lo, " last_miss=\"%s\"", t->last_miss);
	if (t->dropped_steps)
		append(line, sizeof(line), &lo, " dropped_steps=%u", t->dropped_steps);
	append(line, sizeof(line), &lo, " steps=\"%s\"", steps);
	if (lo >= sizeof(line))
		line[sizeof(line) - 1] = '\0';
	if (strcmp(outcome, "local") == 0)
		b->stats.local++;
	else if (strcmp(outcome, "booted") == 0)
		b->stats.booted++;
	else if (strcmp(outcome, "served") == 0)
		b->stats.served++;
	else
		b->stats.stalled++;
	t->outcome = outcome;
	snprintf(t->end_reason, sizeof(t->end_reason), "%s", reason ? reason : "");
	b->sink(b->sink_ctx, line);
}

static void release(struct boot_events *b, struct timeline *t)
{
	int idx = index_of(b, t);

	unindex_ip(b, t);
	t->used = false;
	t->done = t->has_mac;  /* stays on its MAC's chain until reused */
	b->free_list[(b->free_head + b->n_free++) % BOOT_EVENTS_MAX_MACHINES] = idx;
}

/* Forget a done timeline: off its MAC's chain (its slot stays free). */
static void forget_done(struct boot_events *b, struct timeline *t)
{
	if (!t->done)
		return;
	unlink_chain(b, &b->mac_head[hash_bytes(t->mac, 6)], index_of(b, t), true);
	t->done = false;
}

static bool ends_with_nocase(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

/* Why a quiet boot ended, from what it got to. */
static const char *quiet_outcome(const struct timeline *t, const char **reason)
{
	*reason = NULL;
	if (t->open) {
		*reason = "transfer-unfinished";
	} else if (t->files_ok + t->files_failed > 0) {
		if (t->last_file_failed) {
			*reason = t->last_fail;
		} else if (t->first_ack && t->loader[0] && !t->after_loader &&
			   ends_with_nocase(t->loader, ".efi")) {
			/* A UEFI firmware's boot file that loads nothing: under
			 * Secure Boot, an unsigned one is refused ("Access
			 * Denied") and the firmware moves on to its next
			 * boot option. */
			*reason = "loader-refused";
		} else {
			return "served";
		}
	} else if (t->misses || t->probes) {
		*reason = "file-not-found";
	} else if (t->first_ack) {
		*reason = "no-file-request";
	} else {
		*reason = "no-dhcp-request";  /* offered, never took it */
	}
	return "stalled";
}

static void summarise_quiet(struct boot_events *b, struct timeline *t)
{
	const char *reason, *outcome = quiet_outcome(t, &reason);

	summarise(b, t, outcome, reason);
	release(b, t);
}

/* --- recording --- */

static void sanitise_label(char *out, const char *proto, const char *name)
{
	size_t o = (size_t)snprintf(out, LABEL_MAX, "%s:", proto ? proto : "?");
	size_t len = name ? strlen(name) : 0;

	/* Client-chosen names end up inside a quoted log value: keep it to
	 * plain printable bytes without quotes, spaces or escapes. */
	for (size_t i = 0; i < len && o < LABEL_MAX - 1; i++) {
		unsigned char c = (unsigned char)name[i];
		out[o++] = (c > ' ' && c < 0x7f && c != '"' && c != '\\') ? (char)c : '?';
	}
	if (o == LABEL_MAX - 1 && len > LABEL_MAX - 1 - strlen(proto ? proto : "?") - 1)
		out[o - 1] = '~';  /* truncated */
	out[o] = '\0';
}

/* The last path component of name. */
static const char *base_name(const char *name, size_t *dirlen)
{
	const char *slash = strrchr(name, '/');

	*dirlen = slash ? (size_t)(slash - name) : 0;
	return slash ? slash + 1 : name;
}

/* Does the directory part of name (dirlen bytes) end in component dir? */
static bool dir_is(const char *name, size_t dirlen, const char *dir)
{
	size_t m = strlen(dir);

	return dirlen >= m && memcmp(name + dirlen - m, dir, m) == 0 &&
	       (dirlen == m || name[dirlen - m - 1] == '/');
}

const char *boot_events_probe_of(const char *name)
{
	size_t dirlen, n;
	const char *base;

	if (!name)
		return NULL;
	base = base_name(name, &dirlen);
	n = strlen(base);
	/* shim 16 looks beside itself for revocation lists and extra
	 * certificates before it loads GRUB (shim's README.tpm, SBAT.md). */
	if (strcmp(base, "revocations_sku.efi") == 0 || strcmp(base, "revocations_sbat.efi") == 0 ||
	    (strncmp(base, "shim_certificate", 16) == 0 && ends_with_nocase(base, ".efi")))
		return "shim";
	/* GRUB reads its module lists (command.lst, fs.lst, crypto.lst,
	 * terminal.lst) from $prefix/<platform>/ at start; a monolithic
	 * signed GRUB has its modules built in and finds none. */
	if (n > 4 && strcmp(base + n - 4, ".lst") == 0 && dirlen > 4 &&
	    (memcmp(name + dirlen - 4, "-efi", 4) == 0 || memcmp(name + dirlen - 3, "-pc", 3) == 0))
		return "grub";
	/* GRUB's per-machine search (grub.cfg-01-<mac>, grub.cfg-<hex IP>,
	 * where a GRUB does it) before grub.cfg. */
	if (strncmp(base, "grub.cfg-", 9) == 0)
		return "grub";
	/* PXELINUX's config search: 01-<mac>, the UUID, the address in hex
	 * and its prefixes, before "default" (PXELINUX's doc/pxelinux.txt). */
	if (dir_is(name, dirlen, "pxelinux.cfg") && strcmp(base, "default") != 0)
		return "pxelinux";
	return NULL;
}

/* The stage a file that arrived whole takes a boot to, from its name and
 * the stage before it: shim and GRUB by their names, configs by theirs;
 * the first file after a config is the kernel, what follows initrds. */
static void advance_stage(struct timeline *t, const char *name)
{
	const char *nm = name ? name : "";
	size_t dirlen;
	const char *base = base_name(nm, &dirlen);
	enum stage s = t->stage;
	const char *kind = NULL;

	if (strncasecmp(base, "shim", 4) == 0 && ends_with_nocase(base, ".efi")) {
		s = STAGE_SHIM;
	} else if (strncasecmp(base, "grub", 4) == 0 && ends_with_nocase(base, ".efi")) {
		s = STAGE_GRUB;
	} else if (strcmp(base, "grub.cfg") == 0 || strncmp(base, "grub.cfg-", 9) == 0) {
		s = STAGE_CONFIG;
		kind = "grub.cfg";
	} else if (dir_is(nm, dirlen, "pxelinux.cfg")) {
		s = STAGE_CONFIG;
		kind = "pxelinux.cfg";
	} else if (ends_with_nocase(base, ".ipxe")) {
		s = STAGE_CONFIG;
		kind = "ipxe";
	} else if (t->stage == STAGE_FIRMWARE) {
		s = STAGE_LOADER;
	} else if (t->stage < STAGE_CONFIG && (strncmp(base, "vmlinuz", 7) == 0 ||
					       strncmp(base, "bzImage", 7) == 0)) {
		s = STAGE_KERNEL;  /* a config that came from elsewhere (built in) */
	} else if (t->stage < STAGE_CONFIG && strncmp(base, "initr", 5) == 0) {
		s = STAGE_INITRD;
	} else if (t->stage == STAGE_CONFIG) {
		s = STAGE_KERNEL;
	} else if (t->stage >= STAGE_KERNEL) {
		s = STAGE_INITRD;
	}
	if (s > t->stage || (s == STAGE_CONFIG && t->stage == STAGE_CONFIG)) {
		t->stage = s;
		if (kind)
			t->config_kind = kind;
	}
}

static struct step *add_step(struct timeline *t, const char *label, enum step_state state,
			     uint64_t at)
{
	struct step *s;

	if (t->n_steps == BOOT_EVENTS_MAX_STEPS) {
		t->dropped_steps++;
		return NULL;
	}
	s = &t->steps[t->n_steps++];
	snprintf(s->label, sizeof(s->label), "%s", label);
	s->reason[0] = '\0';
	s->state = state;
	s->start = s->end = at;
	return s;
}

static struct timeline *evict_oldest(struct boot_events *b)
{
	struct timeline *oldest = NULL;

	for (unsigned i = 0; i < BOOT_EVENTS_MAX_MACHINES; i++)
		if (b->tl[i].used && (!oldest || b->tl[i].last < oldest->last))
			oldest = &b->tl[i];
	summarise_quiet(b, oldest);
	return oldest;
}

static struct timeline *new_timeline(struct boot_events *b, const struct boot_event *ev)
{
	struct timeline *t;
	int idx;

	if (b->n_free == 0)
		evict_oldest(b);
	idx = b->free_list[b->free_head];
	b->free_head = (b->free_head + 1) % BOOT_EVENTS_MAX_MACHINES;
	b->n_free--;
	t = &b->tl[idx];
	forget_done(b, t);
	if (ev->has_mac) {
		struct timeline *old = find_mac_any(b, ev->mac, false);
		if (old)
			forget_done(b, old);  /* this boot replaces its last one */
	}
	memset(t, 0, sizeof(*t));
	t->used = true;
	t->next_mac = t->next_ip = NIL;
	t->first = t->last = ev->at_usec;
	if (ev->has_mac) {
		unsigned h = hash_bytes(ev->mac, 6);
		t->has_mac = true;
		memcpy(t->mac, ev->mac, 6);
		t->next_mac = b->mac_head[h];
		b->mac_head[h] = idx;
	}
	/* An offered address is not the machine's yet: DHCP events index
	 * their address only when it is acknowledged. */
	if (ev->ip && ev->kind != BOOT_EV_DHCP)
		index_ip(b, t, ev->ip);
	return t;
}

static void on_dhcp(struct boot_events *b, const struct boot_event *ev)
{
	struct timeline *t;
	char label[LABEL_MAX];
	/* A proxy's offer and ack carry boot information just as a server's
	 * do; "pass" is a proxy seeing a DHCP exchange that is not its own,
	 * such as the served kernel getting its address. */
	bool offer = strcmp(ev->dhcp_event, "offer") == 0 ||
		     strcmp(ev->dhcp_event, "proxy-offer") == 0;
	bool ack = strcmp(ev->dhcp_event, "ack") == 0 ||
		   strcmp(ev->dhcp_event, "proxy-ack") == 0;
	bool passed = strcmp(ev->dhcp_event, "pass") == 0;

	if (!ev->has_mac)
		return;
	t = find_mac(b, ev->mac);
	if (!t) {
		/* Only firmware starts a timeline: an installed OS renewing
		 * its lease is not booting from us. */
		if (!ev->dhcp_firmware || !(offer || ack))
			return;
		t = new_timeline(b, ev);
	}
	t->last = MAX(t->last, ev->at_usec);
	if (!ev->dhcp_firmware && (offer || ack || passed) && t->files_ok > 0) {
		/* Perhaps the kernel we served, up and asking for its
		 * address; or a boot loader's own DHCP (syslinux.efi does
		 * one before fetching the kernel, seconds later under
		 * emulation). Settled when the idle time passes without a
		 * file request. */
		if (!t->plain_dhcp)
			add_step(t, "dhcp-plain", STEP_INSTANT, ev->at_usec);
		t->plain_dhcp = ev->at_usec;
		if (ack && ev->ip)
			index_ip(b, t, ev->ip);
		return;
	}
	snprintf(label, sizeof(label), "dhcp-%s", ev->dhcp_event);
	add_step(t, label, STEP_INSTANT, ev->at_usec);
	if (passed && ev->ip) {
		/* Beside another DHCP server: the firmware requesting its
		 * address there is as close to an ACK as a proxy sees. */
		if (!t->first_ack)
			t->first_ack = ev->at_usec;
		index_ip(b, t, ev->ip);
	}
	if (ack) {
		if (!t->first_ack)
			t->first_ack = ev->at_usec;
		if (ev->ip)
			index_ip(b, t, ev->ip);
	}
}

static void on_router_solicit(struct boot_events *b, const struct boot_event *ev)
{
	struct timeline *t = ev->has_mac ? find_mac(b, ev->mac) : NULL;

	if (!t)
		return;  /* not a machine booting from us */
	t->last = MAX(t->last, ev->at_usec);
	/* Only the first: a firmware that keeps soliciting would fill the
	 * steps; the count says how many there were. */
	if (t->rs++ == 0)
		add_step(t, ev->ok ? "ra" : "rs-unanswered", STEP_INSTANT, ev->at_usec);
}

static struct timeline *file_timeline(struct boot_events *b, const struct boot_event *ev)
{
	struct timeline *t = ev->ip ? find_ip(b, ev->ip) : NULL;

	if (!t && ev->ip)
		t = new_timeline(b, ev);  /* a machine that got its address elsewhere */
	if (t)
		t->last = MAX(t->last, ev->at_usec);
	return t;
}

static void note_first_file(struct timeline *t, uint64_t at)
{
	if (t->first_ack && !t->first_file)
		t->first_file = at;
}

static void on_file(struct boot_events *b, const struct boot_event *ev)
{
	struct timeline *t = file_timeline(b, ev);
	char label[LABEL_MAX];
	struct step *s = NULL;

	if (!t)
		return;
	t->plain_dhcp = 0;  /* that plain DHCP was a boot loader's */
	sanitise_label(label, ev->proto, ev->name);
	if (t->loader[0] && strcmp(label, t->loader) != 0)
		t->after_loader = true;
	switch (ev->kind) {
	case BOOT_EV_FILE_START:
		note_first_file(t, ev->at_usec);
		if (add_step(t, label, STEP_OPEN, ev->at_usec))
			t->open++;
		return;
	case BOOT_EV_FILE_MISS:
		note_first_file(t, ev->at_usec);
		/* A loader's expected probes are not failures: misses= counts
		 * only what a loader needed and did not get. */
		if (boot_events_probe_of(ev->name)) {
			t->probes++;
			return;
		}
		t->misses++;
		snprintf(t->last_miss, sizeof(t->last_miss), "%s", label);
		return;
	case BOOT_EV_FILE_PROBE:
		for (unsigned i = t->n_steps; i-- > 0;) {
			if (t->steps[i].state == STEP_OPEN && strcmp(t->steps[i].label, label) == 0) {
				t->steps[i].state = STEP_PROBE;
				t->open--;
				break;
			}
		}
		return;
	case BOOT_EV_FILE_END:
		for (unsigned i = t->n_steps; i-- > 0;) {
			if (t->steps[i].state == STEP_OPEN && strcmp(t->steps[i].label, label) == 0) {
				s = &t->steps[i];
				t->open--;
				break;
			}
		}
		if (!s) {
			note_first_file(t, ev->at_usec);
			s = add_step(t, label, STEP_OPEN, ev->at_usec);
		}
		if (ev->ok) {
			t->files_ok++;
			t->bytes += ev->bytes;
			if (!t->loader[0])
				snprintf(t->loader, sizeof(t->loader), "%s", label);
			advance_stage(t, ev->name);
		} else {
			t->files_failed++;
			snprintf(t->last_fail, sizeof(t->last_fail), "%s",
				 ev->reason ? ev->reason : "failed");
		}
		t->last_file_failed = !ev->ok;
		if (s) {
			s->state = ev->ok ? STEP_OK : STEP_FAILED;
			s->end = ev->at_usec;
			snprintf(s->reason, sizeof(s->reason), "%s", t->last_fail);
		}
		return;
	default:
		return;
	}
}

/* --- public --- */

static void boot_events_emit_inner(struct boot_events *b, const struct boot_event *ev);

static void log_sink(void *ctx, const char *line)
{
	log_info(MOD, "timeline", "%s", line);
}

int boot_events_new(uint64_t idle_usec, boot_events_sink sink, void *sink_ctx,
		    struct boot_events **ret)
{
	struct boot_events *b = calloc(1, sizeof(*b));

	if (!b)
		return -ENOMEM;
	b->tl = calloc(BOOT_EVENTS_MAX_MACHINES, sizeof(*b->tl));
	if (!b->tl) {
		free(b);
		return -ENOMEM;
	}
	b->idle = idle_usec;
	b->sink = sink ? sink : log_sink;
	b->sink_ctx = sink_ctx;
	for (unsigned i = 0; i < BUCKETS; i++)
		b->mac_head[i] = b->ip_head[i] = NIL;
	/* Hand out low slots first (only for tidy debugging). */
	for (unsigned i = 0; i < BOOT_EVENTS_MAX_MACHINES; i++)
		b->free_list[i] = (int)i;
	b->n_free = BOOT_EVENTS_MAX_MACHINES;
	*ret = b;
	return 0;
}

void boot_events_set_idle(struct boot_events *b, uint64_t idle_usec)
{
	b->idle = idle_usec;
}

static void notify(struct boot_events *b, const struct boot_event *ev)
{
	const struct timeline *t = NULL;

	if (!b->listener)
		return;
	if (ev->has_mac)
		t = find_mac(b, ev->mac);
	else if (ev->ip)
		t = find_ip(b, ev->ip);
	b->listener(b->listener_ctx, ev, ev->has_mac ? ev->mac : t && t->has_mac ? t->mac : NULL);
}

void boot_events_emit(struct boot_events *b, const struct boot_event *ev)
{
	if (!b || !ev)
		return;
	boot_events_emit_inner(b, ev);
	notify(b, ev);
}

void boot_events_mark_local(struct boot_events *b, const uint8_t *mac, uint32_t ip)
{
	struct timeline *t = NULL;

	if (!b)
		return;
	if (mac)
		t = find_mac(b, mac);
	if (!t && ip)
		t = find_ip(b, ip);
	if (t && t->used)
		t->local_boot = true;
}

void boot_events_set_listener(struct boot_events *b, boot_events_listener fn, void *ctx)
{
	b->listener = fn;
	b->listener_ctx = ctx;
}

static const char *const step_states[] = {
	[STEP_INSTANT] = "instant", [STEP_OPEN] = "open", [STEP_OK] = "ok",
	[STEP_FAILED] = "failed", [STEP_PROBE] = "probe",
};

static void fill_info(const struct timeline *t, struct boot_timeline_info *out)
{
	out->has_mac = t->has_mac;
	memcpy(out->mac, t->mac, 6);
	out->ip = t->ip;
	out->open = t->used;
	out->outcome = t->used ? NULL : t->outcome;
	out->reason = !t->used && t->end_reason[0] ? t->end_reason : NULL;
	out->first_usec = t->first;
	out->last_usec = t->last;
	out->n_steps = t->n_steps;
	out->dropped_steps = t->dropped_steps;
	for (unsigned i = 0; i < t->n_steps; i++) {
		const struct step *s = &t->steps[i];
		out->steps[i] = (struct boot_step_info){
			.name = s->label, .state = step_states[s->state], .start_usec = s->start,
			.end_usec = step_end(s), .reason = s->state == STEP_FAILED ? s->reason : NULL };
	}
}

int boot_events_find(const struct boot_events *b, const uint8_t mac[6],
		     struct boot_timeline_info *out)
{
	const struct timeline *t = find_mac_any(b, mac, true);

	if (!t)
		t = find_mac_any(b, mac, false);
	if (!t)
		return -ENOENT;
	fill_info(t, out);
	return 0;
}

void boot_events_foreach(const struct boot_events *b,
			 void (*cb)(void *ctx, const struct boot_timeline_info *t), void *ctx)
{
	struct boot_timeline_info *info = malloc(sizeof(*info));

	if (!info)
		return;
	for (unsigned i = 0; i < BOOT_EVENTS_MAX_MACHINES; i++) {
		const struct timeline *t = &b->tl[i];

		if (!t->has_mac || !(t->used || t->done))
			continue;
		/* An open timeline hides its MAC's done one. */
		if (!t->used && find_mac_any(b, t->mac, true))
			continue;
		fill_info(t, info);
		cb(ctx, info);
	}
	free(info);
}

static void boot_events_emit_inner(struct boot_events *b, const struct boot_event *ev)
{
	switch (ev->kind) {
	case BOOT_EV_DHCP:
		if (ev->dhcp_event)
			on_dhcp(b, ev);
		break;
	case BOOT_EV_ROUTER_SOLICIT:
		on_router_solicit(b, ev);
		break;
	case BOOT_EV_FILE_START:
	case BOOT_EV_FILE_END:
	case BOOT_EV_FILE_MISS:
	case BOOT_EV_FILE_PROBE:
		on_file(b, ev);
		break;
	}
}

uint64_t boot_events_tick(struct boot_events *b, uint64_t now)
{
	uint64_t next = 0;

	for (unsigned i = 0; i < BOOT_EVENTS_MAX_MACHINES; i++) {
		struct timeline *t = &b->tl[i];
		uint64_t due;

		if (!t->used)
			continue;
		if (t->plain_dhcp && !t->open) {
			due = t->last + b->idle;
			if (now >= due) {
				summarise(b, t, "booted", NULL);
				release(b, t);
				continue;
			}
		} else {
			due = t->last + (t->open ? OPEN_IDLE_FACTOR * b->idle : b->idle);
			if (now >= due) {
				summarise_quiet(b, t);
				continue;
			}
		}
		if (!next || due < next)
			next = due;
	}
	return next;
}

void boot_events_flush(struct boot_events *b)
{
	if (!b)
		return;
	for (unsigned i = 0; i < BOOT_EVENTS_MAX_MACHINES; i++) {
		struct timeline *t = &b->tl[i];

		if (!t->used)
			continue;
		if (t->plain_dhcp && !t->open) {
			summarise(b, t, "booted", NULL);
			release(b, t);
		} else {
			summarise_quiet(b, t);
		}
	}
}

unsigned boot_events_open(const struct boot_events *b)
{
	return BOOT_EVENTS_MAX_MACHINES - b->n_free;
}

const struct boot_events_stats *boot_events_stats(const struct boot_events *b)
{
	return &b->stats;
}

void boot_events_free(struct boot_events *b)
{
	if (!b)
		return;
	free(b->tl);
	free(b);
}
