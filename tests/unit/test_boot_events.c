/* test_boot_events.c - boot timelines: which events make a machine's
 * timeline, when it is summarised, and what the summary says. Time is
 * passed in, so every step is exact. */
#include "unit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "boot/boot_events.h"

#define MS 1000ull
#define SEC 1000000ull
#define IDLE (20 * SEC)
#define IP(a, b, c, d) (((uint32_t)(a) << 24) | ((b) << 16) | ((c) << 8) | (d))

static const uint8_t MAC_A[6] = { 0x52, 0x54, 0x00, 0x4b, 0x44, 0x0a };
static const uint8_t MAC_B[6] = { 0x52, 0x54, 0x00, 0x4b, 0x44, 0x0b };

struct captured {
	unsigned n;
	char lines[8][4096];
};

static void capture(void *ctx, const char *line)
{
	struct captured *c = ctx;

	if (c->n < 8)
		snprintf(c->lines[c->n], sizeof(c->lines[0]), "%s", line);
	c->n++;
}

struct fixture {
	struct boot_events *b;
	struct captured out;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_rc(boot_events_new(IDLE, capture, &f->out, &f->b), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	boot_events_free(f->b);
	free(f);
	return 0;
}

static void dhcp(struct fixture *f, uint64_t at, const uint8_t mac[6], const char *what,
		 uint32_t ip, bool firmware)
{
	struct boot_event ev = { .kind = BOOT_EV_DHCP, .at_usec = at, .has_mac = true, .ip = ip,
				 .dhcp_event = what, .dhcp_firmware = firmware };

	memcpy(ev.mac, mac, 6);
	boot_events_emit(f->b, &ev);
}

static void rs(struct fixture *f, uint64_t at, const uint8_t mac[6])
{
	struct boot_event ev = { .kind = BOOT_EV_ROUTER_SOLICIT, .at_usec = at, .has_mac = true,
				 .ok = true };

	memcpy(ev.mac, mac, 6);
	boot_events_emit(f->b, &ev);
}

static void file(struct fixture *f, enum boot_event_kind kind, uint64_t at, uint32_t ip,
		 const char *proto, const char *name, uint64_t bytes, const char *failed)
{
	struct boot_event ev = { .kind = kind, .at_usec = at, .ip = ip, .proto = proto,
				 .name = name, .bytes = bytes, .ok = !failed, .reason = failed };

	boot_events_emit(f->b, &ev);
}

static void assert_has(const char *line, const char *part)
{
	if (!strstr(line, part)) {
		print_error("summary lacks [%s]:\n%s\n", part, line);
		fail();
	}
}

/* A BIOS machine: PXE firmware DHCP, an RA, PXELINUX over TFTP with its
 * config probes, kernel and initrd over HTTP, then the kernel's own DHCP. */
static void test_booted(void **state)
{
	struct fixture *f = *state;
	uint32_t ip = IP(172, 24, 32, 1);
	uint64_t t0 = 1000 * SEC;

	dhcp(f, t0, MAC_A, "offer", ip, true);
	dhcp(f, t0 + 2 * MS, MAC_A, "ack", ip, true);
	rs(f, t0 + 40 * MS, MAC_A);
	rs(f, t0 + 45 * MS, MAC_A);
	file(f, BOOT_EV_FILE_START, t0 + 41 * MS, ip, "tftp", "pxelinux/pxelinux.0", 0, NULL);
	file(f, BOOT_EV_FILE_END, t0 + 90 * MS, ip, "tftp", "pxelinux/pxelinux.0", 46000, NULL);
	file(f, BOOT_EV_FILE_MISS, t0 + 95 * MS, ip, "tftp", "pxelinux.cfg/01-52-54-00-4b-44-0a", 0, "not-found");
	file(f, BOOT_EV_FILE_MISS, t0 + 96 * MS, ip, "tftp", "pxelinux.cfg/AC182001", 0, "not-found");
	file(f, BOOT_EV_FILE_START, t0 + 100 * MS, ip, "http", "linux/vmlinuz", 0, NULL);
	file(f, BOOT_EV_FILE_END, t0 + 600 * MS, ip, "http", "linux/vmlinuz", 14000000, NULL);
	file(f, BOOT_EV_FILE_START, t0 + 3700 * MS, ip, "http", "linux/initrd.img", 0, NULL);
	file(f, BOOT_EV_FILE_END, t0 + 3900 * MS, ip, "http", "linux/initrd.img", 1000000, NULL);
	assert_int_equal(boot_events_open(f->b), 1);
	assert_int_equal(f->out.n, 0);
	/* the kernel's DHCP client: no PXE architecture; settled once no
	 * file request follows for the idle time */
	dhcp(f, t0 + 9000 * MS, MAC_A, "offer", ip, false);
	dhcp(f, t0 + 9002 * MS, MAC_A, "ack", ip, false);
	boot_events_tick(f->b, t0 + 9002 * MS + IDLE - 1);
	assert_int_equal(f->out.n, 0);
	boot_events_tick(f->b, t0 + 9002 * MS + IDLE);
	assert_int_equal(f->out.n, 1);
	assert_int_equal(boot_events_open(f->b), 0);
	assert_string_equal(f->out.lines[0],
		"mac=52:54:00:4b:44:0a ip=172.24.32.1 outcome=booted stage=initrd total_ms=9002 "
		"ack_to_file_ms=39 files=3 failed=0 misses=0 probes=2 rs=2 bytes=15046000 "
		"largest_gap_ms=5100 largest_gap_before=\"dhcp-plain\" "
		"steps=\"dhcp-offer@0 +2 dhcp-ack@2 +38 ra@40 +1 tftp:pxelinux/pxelinux.0@41..90 "
		"+10 http:linux/vmlinuz@100..600 +3100 http:linux/initrd.img@3700..3900 "
		"+5100 dhcp-plain@9000\"");
	/* the OS renewing later makes no new timeline */
	dhcp(f, t0 + 20000 * MS, MAC_A, "ack", ip, false);
	assert_int_equal(boot_events_open(f->b), 0);
}

/* kidou as a proxy beside another DHCP server: it offers the boot file,
 * sees the firmware request its address from the other server ("pass"
 * with that address), serves the files to that address, and sees the
 * kernel's own DHCP pass by. */
static void test_booted_through_proxy(void **state)
{
	struct fixture *f = *state;
	uint32_t ip = IP(172, 24, 40, 52);
	uint64_t t0 = 1000 * SEC;

	dhcp(f, t0, MAC_A, "proxy-offer", 0, true);
	dhcp(f, t0 + 3 * MS, MAC_A, "pass", ip, true);
	file(f, BOOT_EV_FILE_START, t0 + 50 * MS, ip, "tftp", "pxelinux/pxelinux.0", 0, NULL);
	file(f, BOOT_EV_FILE_END, t0 + 90 * MS, ip, "tftp", "pxelinux/pxelinux.0", 46000, NULL);
	dhcp(f, t0 + 5000 * MS, MAC_A, "pass", 0, false);
	assert_int_equal(boot_events_open(f->b), 1);
	boot_events_tick(f->b, t0 + 5000 * MS + IDLE);
	assert_int_equal(f->out.n, 1);
	assert_has(f->out.lines[0], "mac=52:54:00:4b:44:0a ip=172.24.40.52 outcome=booted ");
	assert_has(f->out.lines[0], "ack_to_file_ms=47 files=1 ");
	assert_has(f->out.lines[0], "steps=\"dhcp-proxy-offer@0 +3 dhcp-pass@3 +47 "
				    "tftp:pxelinux/pxelinux.0@50..90 +4910 dhcp-plain@5000\"");
}

/* syslinux.efi does a plain DHCP of its own between its first file and the
 * kernel: that is not the end of the boot. */
/* Debian's signed chain under Secure Boot, as measured (issue #16): shim
 * and its probes, GRUB and its module-list probes, grub.cfg, kernel,
 * initrd, then the kernel's own DHCP. The probes are not misses. */
static void test_signed_chain(void **state)
{
	static const char *const probes[] = {
		"shim/revocations_sku.efi", "shim/revocations_sbat.efi",
		"shim/shim_certificate_0.efi", "/grub/x86_64-efi/command.lst",
		"/grub/x86_64-efi/fs.lst", "/grub/x86_64-efi/crypto.lst",
		"/grub/x86_64-efi/terminal.lst",
	};
	struct fixture *f = *state;
	uint32_t ip = IP(172, 24, 32, 1);
	uint64_t t = SEC;

	dhcp(f, t, MAC_A, "offer", ip, true);
	dhcp(f, t + MS, MAC_A, "ack", ip, true);
	file(f, BOOT_EV_FILE_START, t + 10 * MS, ip, "tftp", "shim/shimx64.efi", 0, NULL);
	file(f, BOOT_EV_FILE_END, t + 20 * MS, ip, "tftp", "shim/shimx64.efi", 1000, NULL);
	for (unsigned i = 0; i < 3; i++)
		file(f, BOOT_EV_FILE_MISS, t + 30 * MS, ip, "tftp", probes[i], 0, "not-found");
	file(f, BOOT_EV_FILE_START, t + 40 * MS, ip, "tftp", "shim/grubx64.efi", 0, NULL);
	file(f, BOOT_EV_FILE_END, t + 50 * MS, ip, "tftp", "shim/grubx64.efi", 1000, NULL);
	for (unsigned i = 3; i < 7; i++)
		file(f, BOOT_EV_FILE_MISS, t + 60 * MS, ip, "tftp", probes[i], 0, "not-found");
	file(f, BOOT_EV_FILE_START, t + 70 * MS, ip, "tftp", "/grub/grub.cfg", 0, NULL);
	file(f, BOOT_EV_FILE_END, t + 71 * MS, ip, "tftp", "/grub/grub.cfg", 100, NULL);
	file(f, BOOT_EV_FILE_START, t + 80 * MS, ip, "tftp", "/boot/k", 0, NULL);
	file(f, BOOT_EV_FILE_END, t + 90 * MS, ip, "tftp", "/boot/k", 1000, NULL);
	boot_events_tick(f->b, t + 90 * MS + IDLE - 1);
	assert_int_equal(f->out.n, 0);
	/* stopped after the kernel: served, and the stage says where */
	boot_events_tick(f->b, t + 90 * MS + IDLE);
	assert_int_equal(f->out.n, 1);
	assert_has(f->out.lines[0], "outcome=served stage=kernel ");
	assert_has(f->out.lines[0], "files=4 failed=0 misses=0 probes=7 ");
	assert_null(strstr(f->out.lines[0], "last_miss"));

	/* the whole chain, then a real miss: it counts */
	t = 100 * SEC;
	dhcp(f, t, MAC_A, "ack", ip, true);
	file(f, BOOT_EV_FILE_END, t + 10 * MS, ip, "tftp", "shim/shimx64.efi", 1000, NULL);
	file(f, BOOT_EV_FILE_MISS, t + 11 * MS, ip, "tftp", "shim/revocations_sku.efi", 0, "not-found");
	file(f, BOOT_EV_FILE_END, t + 20 * MS, ip, "tftp", "shim/grubx64.efi", 1000, NULL);
	file(f, BOOT_EV_FILE_END, t + 30 * MS, ip, "tftp", "/grub/grub.cfg", 100, NULL);
	file(f, BOOT_EV_FILE_END, t + 40 * MS, ip, "tftp", "/linux/vmlinuz", 1000, NULL);
	file(f, BOOT_EV_FILE_MISS, t + 50 * MS, ip, "tftp", "/linux/initrd.img", 0, "not-found");
	file(f, BOOT_EV_FILE_END, t + 60 * MS, ip, "tftp", "/linux/initrd2.img", 10, NULL);
	dhcp(f, t + 5 * SEC, MAC_A, "ack", ip, false);
	boot_events_tick(f->b, t + 5 * SEC + IDLE);
	assert_int_equal(f->out.n, 2);
	assert_has(f->out.lines[1], "outcome=booted stage=initrd ");
	assert_has(f->out.lines[1], "misses=1 probes=1 ");
	assert_has(f->out.lines[1], "last_miss=\"tftp:/linux/initrd.img\"");
}

/* An unsigned UEFI loader under Secure Boot: the firmware fetches it
 * (after a size probe), refuses it ("Access Denied") and moves on, so
 * nothing more is asked for: stalled, with the hint. Anything asked for
 * after it (shim's probes, ldlinux.e64) means the loader ran. */
static void test_loader_refused(void **state)
{
	struct fixture *f = *state;
	uint32_t ip = IP(172, 24, 32, 2);

	dhcp(f, SEC, MAC_A, "ack", ip, true);
	file(f, BOOT_EV_FILE_START, SEC + 10 * MS, ip, "tftp", "efi64/syslinux.efi", 0, NULL);
	file(f, BOOT_EV_FILE_PROBE, SEC + 11 * MS, ip, "tftp", "efi64/syslinux.efi", 200000, NULL);
	file(f, BOOT_EV_FILE_START, SEC + 20 * MS, ip, "tftp", "efi64/syslinux.efi", 0, NULL);
	file(f, BOOT_EV_FILE_END, SEC + 90 * MS, ip, "tftp", "efi64/syslinux.efi", 200000, NULL);
	boot_events_tick(f->b, SEC + 90 * MS + IDLE);
	assert_int_equal(f->out.n, 1);
	assert_has(f->out.lines[0], "outcome=stalled reason=loader-refused hint=\"the firmware "
		   "fetched tftp:efi64/syslinux.efi and asked for nothing more: Secure Boot may "
		   "have refused an unsigned loader\" stage=loader ");
	assert_int_equal(boot_events_stats(f->b)->stalled, 1);

	/* the loader ran: it asked for its next file */
	dhcp(f, 100 * SEC, MAC_A, "ack", ip, true);
	file(f, BOOT_EV_FILE_END, 100 * SEC, ip, "tftp", "efi64/syslinux.efi", 200000, NULL);
	file(f, BOOT_EV_FILE_END, 101 * SEC, ip, "tftp", "efi64/ldlinux.e64", 100000, NULL);
	boot_events_tick(f->b, 101 * SEC + IDLE);
	assert_int_equal(f->out.n, 2);
	assert_has(f->out.lines[1], "outcome=served stage=loader ");

	/* shim refused in turn (no Microsoft key): the same */
	dhcp(f, 200 * SEC, MAC_A, "ack", ip, true);
	file(f, BOOT_EV_FILE_END, 200 * SEC, ip, "tftp", "shim/shimx64.efi", 100, NULL);
	boot_events_tick(f->b, 200 * SEC + IDLE);
	assert_has(f->out.lines[2], "outcome=stalled reason=loader-refused");
	assert_has(f->out.lines[2], "stage=shim ");

	/* a BIOS loader is not held to it (no Secure Boot there), nor is a
	 * file fetched with no firmware DHCP seen */
	dhcp(f, 300 * SEC, MAC_A, "ack", ip, true);
	file(f, BOOT_EV_FILE_END, 300 * SEC, ip, "tftp", "pxelinux.0", 100, NULL);
	boot_events_tick(f->b, 300 * SEC + IDLE);
	assert_has(f->out.lines[3], "outcome=served");
	file(f, BOOT_EV_FILE_END, 400 * SEC, IP(10, 9, 9, 9), "tftp", "x.efi", 100, NULL);
	boot_events_tick(f->b, 400 * SEC + IDLE);
	assert_has(f->out.lines[4], "mac=- ip=10.9.9.9 outcome=served");
}

static void test_probe_names(void **state)
{
	(void)state;
	assert_string_equal(boot_events_probe_of("shim/revocations_sku.efi"), "shim");
	assert_string_equal(boot_events_probe_of("revocations_sbat.efi"), "shim");
	assert_string_equal(boot_events_probe_of("/a/shim_certificate_0.efi"), "shim");
	assert_string_equal(boot_events_probe_of("/grub/x86_64-efi/command.lst"), "grub");
	assert_string_equal(boot_events_probe_of("grub/i386-pc/fs.lst"), "grub");
	assert_string_equal(boot_events_probe_of("/grub/grub.cfg-01-52-54-00-4b-44-0a"), "grub");
	assert_string_equal(boot_events_probe_of("grub.cfg-AC182001"), "grub");
	assert_string_equal(boot_events_probe_of("pxelinux.cfg/01-52-54-00-4b-44-0a"), "pxelinux");
	assert_string_equal(boot_events_probe_of("efi64/pxelinux.cfg/AC1"), "pxelinux");
	/* what a loader needs is not a probe */
	assert_null(boot_events_probe_of("efi64/pxelinux.cfg/default"));
	assert_null(boot_events_probe_of("/grub/grub.cfg"));
	assert_null(boot_events_probe_of("shim/grubx64.efi"));
	assert_null(boot_events_probe_of("linux/vmlinuz"));
	assert_null(boot_events_probe_of("x/mypxelinux.cfg/01-aa"));
	assert_null(boot_events_probe_of("grub/x86_64-efi/normal.mod"));
	assert_null(boot_events_probe_of("lists/fs.lst"));
	assert_null(boot_events_probe_of(".lst"));
	assert_null(boot_events_probe_of("-efi/"));
	assert_null(boot_events_probe_of(""));
	assert_null(boot_events_probe_of(NULL));
}

static void test_boot_loader_plain_dhcp(void **state)
{
	struct fixture *f = *state;
	uint32_t ip = IP(172, 24, 32, 1);

	dhcp(f, SEC, MAC_A, "ack", ip, true);
	file(f, BOOT_EV_FILE_START, SEC + 30 * MS, ip, "tftp", "efi64/syslinux.efi", 0, NULL);
	file(f, BOOT_EV_FILE_END, SEC + 60 * MS, ip, "tftp", "efi64/syslinux.efi", 171456, NULL);
	dhcp(f, SEC + 100 * MS, MAC_A, "offer", ip, false);
	dhcp(f, SEC + 101 * MS, MAC_A, "ack", ip, false);
	file(f, BOOT_EV_FILE_START, SEC + 300 * MS, ip, "tftp", "efi64/ldlinux.e64", 0, NULL);
	boot_events_tick(f->b, SEC + 101 * MS + IDLE);
	assert_int_equal(f->out.n, 0);
	file(f, BOOT_EV_FILE_END, SEC + 400 * MS, ip, "tftp", "efi64/ldlinux.e64", 1, NULL);
	dhcp(f, 9 * SEC, MAC_A, "offer", ip, false);
	boot_events_tick(f->b, 9 * SEC + IDLE - 1);
	assert_int_equal(f->out.n, 0);
	boot_events_tick(f->b, 9 * SEC + IDLE);
	assert_int_equal(f->out.n, 1);
	assert_has(f->out.lines[0], "outcome=booted");
	assert_has(f->out.lines[0], "files=2");
	assert_has(f->out.lines[0], "dhcp-plain@100 +200 tftp:efi64/ldlinux.e64@300..400 +7600 dhcp-plain@8000\"");
}

/* OVMF asks for the boot file's size first and aborts: not a failure, and
 * not a transfer left open. */
static void test_size_probe(void **state)
{
	struct fixture *f = *state;
	uint32_t ip = IP(10, 0, 0, 5);

	dhcp(f, SEC, MAC_A, "ack", ip, true);
	file(f, BOOT_EV_FILE_START, SEC + 10 * MS, ip, "tftp", "ipxe.efi", 0, NULL);
	file(f, BOOT_EV_FILE_PROBE, SEC + 12 * MS, ip, "tftp", "ipxe.efi", 1024, NULL);
	file(f, BOOT_EV_FILE_START, SEC + 20 * MS, ip, "tftp", "ipxe.efi", 0, NULL);
	file(f, BOOT_EV_FILE_END, SEC + 90 * MS, ip, "tftp", "ipxe.efi", 1024, NULL);
	boot_events_tick(f->b, SEC + 90 * MS + IDLE);
	assert_int_equal(f->out.n, 1);
	/* (and nothing after it: a refused loader, test_loader_refused) */
	assert_has(f->out.lines[0], "outcome=stalled reason=loader-refused");
	assert_has(f->out.lines[0], "files=1 failed=0");
	assert_has(f->out.lines[0], "tftp:ipxe.efi@10..size +10 tftp:ipxe.efi@20..90\"");
}

static void test_plain_dhcp_clients_make_no_timeline(void **state)
{
	struct fixture *f = *state;

	dhcp(f, SEC, MAC_A, "offer", IP(10, 0, 0, 5), false);
	dhcp(f, SEC, MAC_A, "ack", IP(10, 0, 0, 5), false);
	assert_int_equal(boot_events_open(f->b), 0);
	assert_int_equal(boot_events_tick(f->b, 100 * SEC), 0);
	assert_int_equal(f->out.n, 0);
}

static void test_stalled_without_file_request(void **state)
{
	struct fixture *f = *state;
	uint64_t t0 = 5 * SEC;

	dhcp(f, t0, MAC_A, "offer", IP(10, 0, 0, 5), true);
	dhcp(f, t0 + 3 * MS, MAC_A, "ack", IP(10, 0, 0, 5), true);
	/* not yet: quiet for less than the idle time */
	assert_int_equal(boot_events_tick(f->b, t0 + 3 * MS + IDLE - 1), t0 + 3 * MS + IDLE);
	assert_int_equal(f->out.n, 0);
	assert_int_equal(boot_events_tick(f->b, t0 + 3 * MS + IDLE), 0);
	assert_int_equal(f->out.n, 1);
	assert_has(f->out.lines[0], "outcome=stalled reason=no-file-request");
	assert_has(f->out.lines[0], "ack_to_file_ms=-");
	assert_has(f->out.lines[0], "steps=\"dhcp-offer@0 +3 dhcp-ack@3\"");
}

static void test_offer_never_taken(void **state)
{
	struct fixture *f = *state;

	dhcp(f, SEC, MAC_A, "offer", IP(10, 0, 0, 5), true);
	boot_events_tick(f->b, SEC + IDLE);
	assert_int_equal(f->out.n, 1);
	assert_has(f->out.lines[0], "outcome=stalled reason=no-dhcp-request");
}

static void test_missing_boot_file(void **state)
{
	struct fixture *f = *state;
	uint32_t ip = IP(10, 0, 0, 5);

	dhcp(f, SEC, MAC_A, "ack", ip, true);
	file(f, BOOT_EV_FILE_MISS, SEC + 10 * MS, ip, "tftp", "nope.0", 0, "not-found");
	boot_events_tick(f->b, SEC + 10 * MS + IDLE);
	assert_int_equal(f->out.n, 1);
	assert_has(f->out.lines[0], "outcome=stalled reason=file-not-found");
	assert_has(f->out.lines[0], "ack_to_file_ms=10");
	assert_has(f->out.lines[0], "last_miss=\"tftp:nope.0\"");
}

/* A transfer in progress is not a quiet machine, however long it runs;
 * only a transfer that never reports its end is given up on. */
static void test_transfer_in_progress_is_not_idle(void **state)
{
	struct fixture *f = *state;
	uint32_t ip = IP(10, 0, 0, 5);

	dhcp(f, SEC, MAC_A, "ack", ip, true);
	file(f, BOOT_EV_FILE_START, 2 * SEC, ip, "tftp", "big.img", 0, NULL);
	boot_events_tick(f->b, 2 * SEC + 3 * IDLE);
	assert_int_equal(f->out.n, 0);
	boot_events_tick(f->b, 2 * SEC + 10 * IDLE);
	assert_int_equal(f->out.n, 1);
	assert_has(f->out.lines[0], "outcome=stalled reason=transfer-unfinished");
	assert_has(f->out.lines[0], "tftp:big.img@1000..?");
}

static void test_failed_transfer(void **state)
{
	struct fixture *f = *state;
	uint32_t ip = IP(10, 0, 0, 5);

	dhcp(f, SEC, MAC_A, "ack", ip, true);
	file(f, BOOT_EV_FILE_START, 2 * SEC, ip, "tftp", "k", 0, NULL);
	file(f, BOOT_EV_FILE_END, 9 * SEC, ip, "tftp", "k", 0, "timeout");
	boot_events_tick(f->b, 9 * SEC + IDLE);
	assert_int_equal(f->out.n, 1);
	assert_has(f->out.lines[0], "outcome=stalled reason=timeout");
	assert_has(f->out.lines[0], "files=0 failed=1");
	assert_has(f->out.lines[0], "tftp:k@1000..!timeout");
}

/* A machine handed its local-boot config (next boot local): outcome=local,
 * whether its OS from the disk then does DHCP (booted) or not (served);
 * found by MAC or by its address; a stall stays a stall. */
static void test_local_outcome(void **state)
{
	struct fixture *f = *state;
	uint32_t ip = IP(10, 0, 0, 5), ip2 = IP(10, 0, 0, 6);

	dhcp(f, SEC, MAC_A, "ack", ip, true);
	file(f, BOOT_EV_FILE_START, SEC + 10 * MS, ip, "tftp", "pxelinux.cfg/01-52", 0, NULL);
	boot_events_mark_local(f->b, MAC_A, 0);
	file(f, BOOT_EV_FILE_END, SEC + 20 * MS, ip, "tftp", "pxelinux.cfg/01-52", 60, NULL);
	dhcp(f, 3 * SEC, MAC_A, "offer", ip, false);   /* the OS on the disk */
	boot_events_tick(f->b, 3 * SEC + IDLE);
	assert_int_equal(f->out.n, 1);
	assert_has(f->out.lines[0], "outcome=local");
	assert_int_equal(boot_events_stats(f->b)->local, 1);
	assert_int_equal(boot_events_stats(f->b)->booted, 0);

	dhcp(f, 100 * SEC, MAC_B, "ack", ip2, true);
	file(f, BOOT_EV_FILE_START, 100 * SEC + 10 * MS, ip2, "http", "boot.ipxe", 0, NULL);
	boot_events_mark_local(f->b, NULL, ip2);
	file(f, BOOT_EV_FILE_END, 100 * SEC + 20 * MS, ip2, "http", "boot.ipxe", 20, NULL);
	boot_events_tick(f->b, 100 * SEC + 20 * MS + IDLE);
	assert_int_equal(f->out.n, 2);
	assert_has(f->out.lines[1], "outcome=local");

	dhcp(f, 200 * SEC, MAC_A, "ack", ip, true);
	file(f, BOOT_EV_FILE_START, 200 * SEC + 10 * MS, ip, "tftp", "x", 0, NULL);
	boot_events_mark_local(f->b, MAC_A, ip);
	file(f, BOOT_EV_FILE_END, 200 * SEC + 20 * MS, ip, "tftp", "x", 0, "timeout");
	boot_events_tick(f->b, 200 * SEC + 20 * MS + IDLE);
	assert_int_equal(f->out.n, 3);
	assert_has(f->out.lines[2], "outcome=stalled");
	/* no timeline open: nothing happens */
	boot_events_mark_local(f->b, MAC_A, ip);
	boot_events_mark_local(NULL, MAC_A, ip);
	assert_int_equal(boot_events_open(f->b), 0);
}

/* Files served to an address we never leased (a static IP, another DHCP
 * server): a timeline of its own, without a MAC. */
static void test_address_only_timeline(void **state)
{
	struct fixture *f = *state;
	uint32_t ip = IP(127, 0, 0, 1);

	file(f, BOOT_EV_FILE_START, SEC, ip, "tftp", "a", 0, NULL);
	file(f, BOOT_EV_FILE_END, SEC + 5 * MS, ip, "tftp", "a", 7, NULL);
	boot_events_tick(f->b, SEC + 5 * MS + IDLE);
	assert_int_equal(f->out.n, 1);
	assert_has(f->out.lines[0], "mac=- ip=127.0.0.1 outcome=served");
	assert_has(f->out.lines[0], "files=1 failed=0 misses=0 probes=0 rs=0 bytes=7");
}

/* A lease that moves to another machine takes the file events with it. */
static void test_address_moves(void **state)
{
	struct fixture *f = *state;
	uint32_t ip = IP(10, 0, 0, 9);

	dhcp(f, SEC, MAC_A, "ack", ip, true);
	dhcp(f, 2 * SEC, MAC_B, "ack", ip, true);
	file(f, BOOT_EV_FILE_START, 3 * SEC, ip, "tftp", "b", 0, NULL);
	file(f, BOOT_EV_FILE_END, 3 * SEC, ip, "tftp", "b", 1, NULL);
	boot_events_tick(f->b, 3 * SEC + IDLE);
	assert_int_equal(f->out.n, 2);
	for (unsigned i = 0; i < 2; i++) {
		if (strstr(f->out.lines[i], "mac=52:54:00:4b:44:0b"))
			assert_has(f->out.lines[i], "outcome=served");
		else
			assert_has(f->out.lines[i], "outcome=stalled reason=no-file-request");
	}
}

/* Names come from clients: the summary never carries their quotes,
 * spaces or control bytes, and a long one is cut with a mark. */
static void test_hostile_names(void **state)
{
	struct fixture *f = *state;
	uint32_t ip = IP(10, 0, 0, 5);
	char long_name[300];

	memset(long_name, 'x', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	dhcp(f, SEC, MAC_A, "ack", ip, true);
	file(f, BOOT_EV_FILE_START, SEC, ip, "tftp", "a \"b\"\n\\c\x01", 0, NULL);
	file(f, BOOT_EV_FILE_END, SEC, ip, "tftp", "a \"b\"\n\\c\x01", 1, NULL);
	file(f, BOOT_EV_FILE_START, SEC, ip, "tftp", long_name, 0, NULL);
	file(f, BOOT_EV_FILE_END, SEC, ip, "tftp", long_name, 1, NULL);
	boot_events_tick(f->b, SEC + IDLE);
	assert_int_equal(f->out.n, 1);
	assert_has(f->out.lines[0], "tftp:a??b???c?@0..0");
	assert_has(f->out.lines[0], "tftp:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx~@0..0");
	assert_has(f->out.lines[0], "files=2");
}

/* Steps are bounded; the summary says how many were left out. */
static void test_step_limit(void **state)
{
	struct fixture *f = *state;
	uint32_t ip = IP(10, 0, 0, 5);

	dhcp(f, SEC, MAC_A, "ack", ip, true);
	for (unsigned i = 0; i < BOOT_EVENTS_MAX_STEPS + 10; i++) {
		char name[16];
		snprintf(name, sizeof(name), "f%u", i);
		file(f, BOOT_EV_FILE_START, SEC + i * MS, ip, "http", name, 0, NULL);
		file(f, BOOT_EV_FILE_END, SEC + i * MS, ip, "http", name, 1, NULL);
	}
	boot_events_tick(f->b, 2 * SEC + IDLE);
	assert_int_equal(f->out.n, 1);
	assert_has(f->out.lines[0], "dropped_steps=");
	assert_has(f->out.lines[0], "outcome=served");
}

/* More machines than timelines: the longest-quiet one is summarised early
 * to make room, nothing grows without bound. */
static void test_machine_limit(void **state)
{
	struct fixture *f = *state;

	for (unsigned i = 0; i < BOOT_EVENTS_MAX_MACHINES + 1; i++) {
		uint8_t mac[6] = { 0x02, 0, 0, 0, (uint8_t)(i >> 8), (uint8_t)i };
		dhcp(f, SEC + i, mac, "offer", IP(10, 1, i >> 8, i & 0xff), true);
	}
	assert_int_equal(boot_events_open(f->b), BOOT_EVENTS_MAX_MACHINES);
	assert_int_equal(f->out.n, 1);
	assert_has(f->out.lines[0], "mac=02:00:00:00:00:00 ip=-");
	boot_events_tick(f->b, 10 * SEC + IDLE);
	assert_int_equal(boot_events_open(f->b), 0);
	assert_int_equal(f->out.n, BOOT_EVENTS_MAX_MACHINES + 1);
}

static void count_open(void *ctx, const struct boot_timeline_info *i)
{
	assert_true(i->open);
	(*(unsigned *)ctx)++;
}

static void count_any(void *ctx, const struct boot_timeline_info *i)
{
	(*(unsigned *)ctx)++;
}

/* The API's view: a machine's open timeline, then its last one once
 * summarised (outcome and reason kept), replaced by its next boot. */
static void test_find_and_foreach(void **state)
{
	struct fixture *f = *state;
	struct boot_timeline_info *t = malloc(sizeof(*t));
	uint64_t t0 = 1000 * SEC;
	unsigned seen = 0;

	assert_rc(boot_events_find(f->b, MAC_A, t), -ENOENT);
	dhcp(f, t0, MAC_A, "offer", IP(10, 0, 0, 5), true);
	dhcp(f, t0 + 2000, MAC_A, "ack", IP(10, 0, 0, 5), true);
	file(f, BOOT_EV_FILE_MISS, t0 + 5000, IP(10, 0, 0, 5), "tftp", "pxelinux.0", 0, NULL);
	assert_rc(boot_events_find(f->b, MAC_A, t), 0);
	assert_true(t->open);
	assert_null(t->outcome);
	assert_int_equal(t->ip, IP(10, 0, 0, 5));
	assert_int_equal(t->n_steps, 2);
	assert_string_equal(t->steps[1].name, "dhcp-ack");
	assert_int_equal(t->steps[1].start_usec - t->first_usec, 2000);
	boot_events_tick(f->b, t0 + 5000 + IDLE);
	assert_int_equal(boot_events_open(f->b), 0);
	/* summarised, still there */
	assert_rc(boot_events_find(f->b, MAC_A, t), 0);
	assert_false(t->open);
	assert_string_equal(t->outcome, "stalled");
	assert_string_equal(t->reason, "file-not-found");
	/* its next boot replaces it; another machine adds one */
	dhcp(f, t0 + 100 * SEC, MAC_A, "offer", IP(10, 0, 0, 5), true);
	dhcp(f, t0 + 100 * SEC, MAC_B, "offer", IP(10, 0, 0, 6), true);
	assert_rc(boot_events_find(f->b, MAC_A, t), 0);
	assert_true(t->open);
	assert_int_equal(t->n_steps, 1);
	free(t);
	boot_events_foreach(f->b, count_open, &seen);
	assert_int_equal(seen, 2);
}

/* Done timelines are kept as long as possible and never more than the
 * machine limit: the oldest released slot is reused first. */
static void test_last_timelines_bounded(void **state)
{
	struct fixture *f = *state;
	struct boot_timeline_info *t = malloc(sizeof(*t));
	unsigned seen = 0;

	for (unsigned i = 0; i < BOOT_EVENTS_MAX_MACHINES + 10; i++) {
		uint8_t mac[6] = { 0x02, 0, 0, 0, (uint8_t)(i >> 8), (uint8_t)i };
		dhcp(f, SEC + i, mac, "offer", 0, true);
		boot_events_tick(f->b, SEC + i + IDLE);  /* each one over at once */
	}
	boot_events_foreach(f->b, count_any, &seen);
	assert_int_equal(seen, BOOT_EVENTS_MAX_MACHINES);
	assert_rc(boot_events_find(f->b, (uint8_t[]){ 2, 0, 0, 0, 0, 9 }, t), -ENOENT);
	assert_rc(boot_events_find(f->b, (uint8_t[]){ 2, 0, 0, 0, 0, 10 }, t), 0);
	assert_string_equal(t->outcome, "stalled");
	free(t);
}

struct heard {
	unsigned n;
	bool mac_known;
	uint8_t mac[6];
};

static void listen_cb(void *ctx, const struct boot_event *ev, const uint8_t *mac)
{
	struct heard *h = ctx;

	h->n++;
	h->mac_known = mac != NULL;
	if (mac)
		memcpy(h->mac, mac, 6);
}

/* The listener hears every event, a file request with its machine's MAC. */
static void test_listener(void **state)
{
	struct fixture *f = *state;
	struct heard h = { 0 };

	boot_events_set_listener(f->b, listen_cb, &h);
	dhcp(f, SEC, MAC_A, "ack", IP(10, 0, 0, 5), true);
	assert_int_equal(h.n, 1);
	assert_memory_equal(h.mac, MAC_A, 6);
	file(f, BOOT_EV_FILE_START, 2 * SEC, IP(10, 0, 0, 5), "tftp", "x", 0, NULL);
	assert_int_equal(h.n, 2);
	assert_true(h.mac_known);
	assert_memory_equal(h.mac, MAC_A, 6);
	file(f, BOOT_EV_FILE_MISS, 2 * SEC, 0, "tftp", "y", 0, NULL);
	assert_int_equal(h.n, 3);
	assert_false(h.mac_known);
	/* plain DHCP of an unknown machine opens no timeline, still heard */
	dhcp(f, 3 * SEC, MAC_B, "ack", IP(10, 0, 0, 6), false);
	assert_int_equal(h.n, 4);
}

/* Stopping: every open boot gets its line now. */
static void test_flush(void **state)
{
	struct fixture *f = *state;

	dhcp(f, SEC, MAC_A, "ack", IP(10, 0, 0, 5), true);
	dhcp(f, SEC, MAC_B, "ack", IP(10, 0, 0, 6), true);
	file(f, BOOT_EV_FILE_START, SEC, IP(10, 0, 0, 6), "tftp", "k", 0, NULL);
	boot_events_flush(f->b);
	assert_int_equal(f->out.n, 2);
	assert_int_equal(boot_events_open(f->b), 0);
	for (unsigned i = 0; i < 2; i++)
		assert_has(f->out.lines[i], strstr(f->out.lines[i], "mac=52:54:00:4b:44:0a")
					    ? "outcome=stalled reason=no-file-request"
					    : "outcome=stalled reason=transfer-unfinished");
	boot_events_flush(NULL);
}

static void test_null_is_harmless(void **state)
{
	struct boot_event ev = { .kind = BOOT_EV_DHCP };

	boot_events_emit(NULL, &ev);
	boot_events_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_booted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_find_and_foreach, setup, teardown),
		cmocka_unit_test_setup_teardown(test_last_timelines_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listener, setup, teardown),
		cmocka_unit_test_setup_teardown(test_booted_through_proxy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_boot_loader_plain_dhcp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signed_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loader_refused, setup, teardown),
		cmocka_unit_test(test_probe_names),
		cmocka_unit_test_setup_teardown(test_size_probe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plain_dhcp_clients_make_no_timeline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stalled_without_file_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_offer_never_taken, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_boot_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transfer_in_progress_is_not_idle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_transfer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_local_outcome, setup, teardown),
		cmocka_unit_test_setup_teardown(test_address_only_timeline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_address_moves, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_step_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_machine_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush, setup, teardown),
		cmocka_unit_test(test_null_is_harmless),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
