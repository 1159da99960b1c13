/* boot_events.h - the one place every boot event passes through.
 *
 * DHCP decisions, router solicitations answered, TFTP and HTTP file
 * requests: each adapter reports what happened here, keyed by the client's
 * MAC (or, for file requests, its address, which the DHCP ACK ties to a
 * MAC; as a proxy, the firmware's request for its address from the other
 * DHCP server, seen as a "pass" with that address, does the same). From these events boot_events keeps one timeline per machine and,
 * when that machine's boot is over, writes one summary line:
 *
 *   level=info mod=boot event=timeline mac=52:54:00:4b:44:0a ip=172.24.32.1
 *     outcome=booted stage=initrd total_ms=8120 ack_to_file_ms=41 files=5 misses=0 probes=9 rs=1
 *     bytes=15728640 largest_gap_ms=3102 largest_gap_before="http:linux/initrd.img"
 *     steps="dhcp-offer@0 +2 dhcp-ack@2 +38 ra@40 +1 tftp:ipxe.efi@41..305 ... dhcp-plain@8120"
 *
 * Each step is name@start_ms (..end_ms for a file, ..!reason when it
 * failed, ..? when it never ended, ..size when only its size was asked), times from the first event; "+N"
 * between steps is the gap in ms from the end of one to the start of the
 * next, so a slow boot shows where it waited.
 *
 * misses= counts files a loader needed and did not get; the probes every
 * loader makes and expects to miss (boot_events_probe_of()) are counted
 * apart as probes=. stage= is how far along its loaders' chain the boot
 * got: firmware (DHCP only), loader (the firmware's boot file), shim,
 * grub, a config (grub.cfg, pxelinux.cfg, ipxe), kernel, initrd.
 *
 * A boot is over when, after boot files were served, a plain DHCP exchange
 * (no PXE architecture option: the booted kernel's own client) is followed
 * by the idle time without a file request (outcome=booted; a boot loader
 * that does plain DHCP and then fetches the kernel does not end it), or
 * when the
 * machine has been quiet for the idle time with no transfer in progress:
 * outcome=served if its last file arrived whole, outcome=stalled (with
 * reason=) otherwise. A UEFI boot file (.efi) that arrived whole after the
 * firmware's DHCP, with no request after it, is stalled with
 * reason=loader-refused and a hint: Secure Boot refuses an unsigned
 * loader, and the firmware goes on to its next boot option.
 *
 * Pure bookkeeping: the caller passes the monotonic time in every event
 * and calls boot_events_tick() (the daemon from a loop timer); summaries
 * go to a sink, by default the log. Memory is bounded: at most
 * BOOT_EVENTS_MAX_MACHINES timelines (the longest-idle one is summarised
 * early to make room) of at most BOOT_EVENTS_MAX_STEPS steps each. */
#ifndef KIDOU_BOOT_EVENTS_H
#define KIDOU_BOOT_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BOOT_EVENTS_MAX_MACHINES 1024
#define BOOT_EVENTS_MAX_STEPS 32

enum boot_event_kind {
	BOOT_EV_DHCP,            /* a DHCP decision: dhcp_event, dhcp_firmware */
	BOOT_EV_ROUTER_SOLICIT,  /* an IPv6 RS; ok: answered with an RA */
	BOOT_EV_FILE_START,      /* proto, name */
	BOOT_EV_FILE_END,        /* proto, name, bytes, ok, reason */
	BOOT_EV_FILE_MISS,       /* proto, name: asked for, not there */
	BOOT_EV_FILE_PROBE,      /* proto, name, bytes: only its size was asked */
};

struct boot_event {
	enum boot_event_kind kind;
	uint64_t at_usec;        /* monotonic */
	bool has_mac;
	uint8_t mac[6];
	uint32_t ip;             /* the client's IPv4 address, host order; 0: unknown */
	const char *dhcp_event;  /* "offer", "ack", "nak", "proxy-offer", "pass", ... */
	bool dhcp_firmware;      /* sent a PXE client architecture (option 93):
	                          * boot firmware or iPXE, not an installed OS */
	const char *proto;       /* "tftp", "http" */
	const char *name;        /* raw file name (sanitised here before use) */
	uint64_t bytes;
	bool ok;
	const char *reason;      /* why it failed; NULL when ok */
};

struct boot_events;

/* sink(ctx, line) receives every summary line body (without level, mod and
 * event: "mac=... ip=... outcome=..."). */
typedef void (*boot_events_sink)(void *ctx, const char *line);

/* idle_usec: quiet time after which a boot is summarised. sink NULL: log
 * at info as mod=boot event=timeline. */
int boot_events_new(uint64_t idle_usec, boot_events_sink sink, void *sink_ctx,
		    struct boot_events **ret);
void boot_events_set_idle(struct boot_events *b, uint64_t idle_usec);

/* Which loader expects to miss the file name ("shim", "grub", "pxelinux"),
 * or NULL when a miss of it is a real one: shim's revocations_sku.efi,
 * revocations_sbat.efi and shim_certificate*.efi; GRUB's
 * <platform>/{command,fs,crypto,terminal}.lst and grub.cfg-<...>;
 * PXELINUX's pxelinux.cfg/<anything but default>. Pure. */
const char *boot_events_probe_of(const char *name);

/* Report one event. NULL b is a no-op, so adapters need no check. */
void boot_events_emit(struct boot_events *b, const struct boot_event *ev);

/* Summarise every boot that has gone quiet by now. Returns the monotonic
 * time at which the next one may be due, or 0 when no timeline is open. */
uint64_t boot_events_tick(struct boot_events *b, uint64_t now_usec);

/* Summarise every open timeline now, as if each had gone quiet: the
 * daemon is stopping, and a boot in progress still gets its line. */
void boot_events_flush(struct boot_events *b);

/* The machine (by mac, else its address ip) was just handed its local-boot
 * config (boot/next_boot.h): its open timeline ends with outcome=local
 * instead of booted or served (a stall stays a stall). No timeline open:
 * a no-op. NULL b is a no-op. */
void boot_events_mark_local(struct boot_events *b, const uint8_t *mac, uint32_t ip);

/* Told of every event emitted, after it was recorded: the API's event
 * stream. mac is the machine's (from the event, or for a file request
 * the timeline its address belongs to), or NULL when unknown. */
typedef void (*boot_events_listener)(void *ctx, const struct boot_event *ev,
				     const uint8_t *mac);
void boot_events_set_listener(struct boot_events *b, boot_events_listener fn, void *ctx);

/* A machine's current timeline, or its last one once summarised (kept
 * until its slot is needed again), read-only for the API. Pointers point
 * into b and are valid until the next event or tick. */
struct boot_step_info {
	const char *name;        /* "dhcp-ack", "tftp:ipxe.efi", ... */
	const char *state;       /* instant, open, ok, failed, probe */
	uint64_t start_usec, end_usec;  /* monotonic */
	const char *reason;      /* why it failed, or NULL */
};
struct boot_timeline_info {
	bool has_mac;
	uint8_t mac[6];
	uint32_t ip;             /* host order, 0: none */
	bool open;               /* still in progress */
	const char *outcome;     /* NULL while open: booted, served, stalled, local */
	const char *reason;      /* the stall reason, or NULL */
	uint64_t first_usec, last_usec;
	unsigned n_steps, dropped_steps;
	struct boot_step_info steps[BOOT_EVENTS_MAX_STEPS];
};
/* 0 and *out, or -ENOENT. */
int boot_events_find(const struct boot_events *b, const uint8_t mac[6],
		     struct boot_timeline_info *out);
/* Every machine's current or last timeline (those with a MAC), once each,
 * in no particular order. */
void boot_events_foreach(const struct boot_events *b,
			 void (*cb)(void *ctx, const struct boot_timeline_info *t), void *ctx);

/* Timelines open right now. */
unsigned boot_events_open(const struct boot_events *b);

/* Boots summarised so far, by outcome. */
struct boot_events_stats {
	uint64_t booted, served, stalled;
	uint64_t local;          /* handed back to their disk (next_boot local) */
};
const struct boot_events_stats *boot_events_stats(const struct boot_events *b);

/* NULL is a no-op. Open timelines are dropped without a summary. */
void boot_events_free(struct boot_events *b);

#endif
