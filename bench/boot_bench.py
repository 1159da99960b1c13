#!/usr/bin/python3
"""Network boot time of a real VM: kidou against dnsmasq (issues #5, #7).

For BIOS and UEFI, a QEMU VM with no disk boots from the network as in
the demo (scripts/demo.sh) and the test (tests/integration/test_vm_boot.py):
same tftpboot tree, same namespace (bridge br0 172.24.0.1/16 with a tap),
same QEMU command line, all from tests/integration/vm_lib.py. The servers,
in turn so that drift on the machine hits all alike:
  * kidou: DHCP and TFTP exactly as dnsmasq below (PXELINUX for BIOS,
    syslinux.efi for UEFI), plus its IPv6 router advertisements;
  * kidou-ipxe: the same tree, but iPXE (QEMU's NIC ROM, BIOS and UEFI)
    gets an HTTP boot script rendered from a [profile] and loads kernel
    and initrd over HTTP (vm_lib.ipxe_config) - what kidou can do and a
    DHCP+TFTP server cannot;
  * dnsmasq: DHCP and TFTP from the same tree, same pool and boot files.
Each run gets a fresh namespace, a fresh lease file and a fresh VM (new
OVMF variables), so every boot is a first boot. The VM starts only once
kidou's startup router advertisement is 3 s past, so that the firmware
has to solicit one (as a machine powered on later would).

Measured: seconds from QEMU's start to the initramfs's greeting on the
serial console, and when the console first showed
  * `Next server` (iPXE has its DHCP answer),
  * `Linux version` (the kernel runs: every TFTP transfer is done).
The floor is the same VM started with -kernel/-initrd (no PXE, no TFTP;
the initramfs still asks kidou for its address): what is left of the boot
time when the network boot costs nothing.

--transport is another comparison, kidou against itself: a BIOS VM boots
an initrd padded to --initrd-mib (default 64) MiB with incompressible
filler (inside the initramfs cpio, so it still boots), once with the
kernel and initrd over TFTP through PXELINUX (kidou's plain setup, as
above) and once over HTTP through an iPXE script (kidou configured with
`[boot] ipxe = ${http}/boot.ipxe?mac=${net0/mac}` and a [profile]; QEMU's
NIC ROM is iPXE, so it fetches the script at once). Runs alternate
between the two; reported are the medians of QEMU start -> greeting and
the ratio, and, from kidou's log, how long the initrd itself took.

--secureboot (issue #16): Debian's signed chain (shim, GRUB, signed
kernel) under OVMF's Secure Boot build with enforcement on, from kidou
(grub.cfg rendered from a profile) and from dnsmasq (the same tree with a
static grub.cfg, --dhcp-no-override); reported: time to the greeting,
when shim and GRUB were in, the TFTP transfers' share of the boot, and per
file the blksize and windowsize the client asked for.

Usage (root; packages: vm_lib.PACKAGES and dnsmasq-base):
    /usr/bin/python3 bench/boot_bench.py [--runs 3] [--firmware bios,uefi]
        [--servers kidou,dnsmasq] [--accel auto|kvm|tcg] [--json FILE] [--keep]
    /usr/bin/python3 bench/boot_bench.py --transport [--runs 3] [--initrd-mib 64]
    /usr/bin/python3 bench/boot_bench.py --secureboot [--runs 3] [--servers kidou,dnsmasq]
Progress goes to stderr, the report to stdout. Exit status 1 if a boot
failed, or with --strict if kidou's median is more than --tolerance
slower than dnsmasq's.
"""
from __future__ import annotations

import argparse
import json
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests" / "integration"))

import vm_lib as V  # noqa: E402

MARKS = ("Next server", "Linux version")
NS = "kboot-bench"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# packets: how long the server itself takes to answer
#
# The boot time is dominated by the emulated client, whose speed moves with
# the load on the machine. The server's own share is measured on the wire:
# a sniffer in the namespace records every DHCP and TFTP packet on br0 with
# kernel timestamps, and the report gives the server's turnaround (request
# in -> answer out) next to the client's (answer out -> next request in).

SO_TIMESTAMPNS = 35
ETH_P_ALL = 3


def sniff(iface: str, out_path: str) -> int:
    """Run inside the namespace (`boot_bench.py _sniff IFACE FILE`): write
    `time src sport dst dport kind ...` for each DHCP and TFTP packet until
    SIGTERM."""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
    s.bind((iface, 0))
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
    out = open(out_path, "w")

    def stop(*_):
        out.close()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    sys.stdout.write("sniffing\n")
    sys.stdout.flush()
    while True:
        data, anc, _, addr = s.recvmsg(2048, 64)
        if addr[1] != 0x0800 or len(data) < 28 or data[9] != 17:
            continue
        ts = time.time()
        for lvl, typ, d in anc:
            if lvl == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS:
                sec, ns = struct.unpack("qq", d[:16])
                ts = sec + ns / 1e9
        ihl = (data[0] & 15) * 4
        sport, dport = struct.unpack("!HH", data[ihl:ihl + 4])
        src, dst = socket.inet_ntoa(data[12:16]), socket.inet_ntoa(data[16:20])
        pl = data[ihl + 8:]
        if {sport, dport} & {67, 68}:
            if len(pl) < 240:
                continue
            xid = struct.unpack("!I", pl[4:8])[0]
            mtype, i = 0, 240
            while i + 1 < len(pl) and pl[i] != 255:
                if pl[i] == 0:
                    i += 1
                    continue
                if pl[i] == 53 and i + 2 < len(pl):
                    mtype = pl[i + 2]
                i += 2 + pl[i + 1]
            kind = f"dhcp{mtype} {xid:08x}"
        elif len(pl) >= 4:
            op, blk = struct.unpack("!HH", pl[:4])
            kind = f"tftp{op} {blk}"
            if op == 1:  # RRQ: file and options, for --secureboot
                f = pl[2:].split(b"\0")
                opts = {f[i].decode("ascii", "replace").lower(): f[i + 1].decode("ascii", "replace")
                        for i in range(2, len(f) - 1, 2)}
                kind += f" file={f[0].decode('ascii', 'replace') or '-'}" + "".join(
                    f" {k}={opts[k]}" for k in ("blksize", "windowsize", "tsize") if k in opts)
            elif op == 3:
                kind += f" len={len(pl) - 4}"
        else:
            continue
        out.write(f"{ts:.6f} {src} {sport} {dst} {dport} {kind}\n")


def analyse_packets(path: Path) -> dict:
    """Medians in microseconds: DISCOVER in -> OFFER out and REQUEST in ->
    ACK out over every DHCP exchange (the firmware's, the boot loader's,
    Linux's), and, over every TFTP block of every transfer, ACK in -> next
    DATA out (server) and DATA out -> ACK in (client)."""
    dhcp_req: dict = {}
    offer, ack, srv_turn, cli_turn, rrq_turn = [], [], [], [], []
    last: dict = {}  # client endpoint -> (time, op)
    rrq_at: dict = {}
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return {}
    for line in lines:
        p = line.split()
        if len(p) < 7:
            continue
        t, src, sport, dst, dport, kind, arg = float(p[0]), p[1], p[2], p[3], p[4], p[5], p[6]
        if kind.startswith("dhcp"):
            mtype = int(kind[4:])
            if mtype in (1, 3):                       # DISCOVER, REQUEST
                dhcp_req.setdefault((arg, mtype), t)
            elif mtype in (2, 5):                     # OFFER, ACK
                t0 = dhcp_req.pop((arg, 1 if mtype == 2 else 3), None)
                if t0 is not None:
                    (offer if mtype == 2 else ack).append(t - t0)
            continue
        op = int(kind[4:])
        server_side = src == V.SERVER_IP
        client = f"{dst}:{dport}" if server_side else f"{src}:{sport}"
        if op == 1:
            rrq_at[client] = t
            last.pop(client, None)
        elif op in (3, 6) and server_side:            # DATA or OACK out
            prev = last.get(client)
            if prev and prev[1] == 4:
                srv_turn.append(t - prev[0])
            elif client in rrq_at:
                rrq_turn.append(t - rrq_at.pop(client))
            last[client] = (t, op)
        elif op == 4 and not server_side:             # ACK in
            prev = last.get(client)
            if prev and prev[1] in (3, 6):
                cli_turn.append(t - prev[0])
            last[client] = (t, op)

    def us(xs):
        return round(statistics.median(xs) * 1e6, 1) if xs else None

    return {"dhcp_offer_us": us(offer), "dhcp_ack_us": us(ack), "tftp_rrq_us": us(rrq_turn),
            "tftp_server_us": us(srv_turn), "tftp_client_us": us(cli_turn),
            "tftp_blocks": len(srv_turn) + len(rrq_turn)}


def one_boot(tree: Path, workdir: Path, firmware: str, server: str, accel: str,
             timeout: float, mac: str, config: Optional[str] = None,
             sniff_packets: bool = True) -> dict:
    """server: kidou, kidou-ipxe (with `config`, the text of a
    vm_lib.ipxe_config), dnsmasq or floor (direct kernel boot, kidou for
    DHCP); for --transport, tftp or http (both kidou; http with `config`). sniff_packets: record DHCP and TFTP
    packets for the on-the-wire table (off for --transport, where the
    sniffer would wake for each of the initrd's packets)."""
    workdir.mkdir(parents=True, exist_ok=True)
    ns = V.NetNS(NS)
    srv = None
    vm = None
    sniffer = None
    try:
        ns.setup()
        tap = ns.add_tap("tap0")
        pkts = workdir / "packets.txt"
        if sniff_packets:
            sniffer = subprocess.Popen(ns.exec([sys.executable, str(Path(__file__).resolve()),
                                                "_sniff", V.BRIDGE, str(pkts)]),
                                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
            sniffer.stdout.readline()  # "sniffing": bound and listening
        cfg_path = None
        if config is not None:
            cfg_path = workdir / "kidou.ini"
            cfg_path.write_text(config)
        if server == "dnsmasq":
            srv = V.start_dnsmasq(ns, tree, workdir)
        else:
            srv = V.start_kidou(ns, tree, workdir, config=cfg_path)
            wait_startup_advert_past(srv)
        direct = None
        if server == "floor":
            direct = (tree / V.KERNEL, tree / V.INITRD,
                      f"console=ttyS0,115200 panic=5 kidou.config=direct "
                      f"BOOTIF={V.mac_config_name(mac)}")
        vm = V.VM(ns, workdir, firmware, mac, tap=tap, accel=accel, direct=direct,
                  name=f"{firmware}-{server}")
        marks = {m: None for m in MARKS}
        vm.start()
        r = vm.wait_greeting(timeout, marks)
        vm.stop()
        if sniffer:
            sniffer.terminate()
            sniffer.wait(timeout=10)
        out = {"firmware": firmware, "server": server, "ok": r.ok, "seconds": r.seconds,
               "ip": r.ip, "marks": marks, "reason": r.reason,
               "packets": analyse_packets(pkts) if sniffer else {},
               "initrd": initrd_transfer(srv.text()) if server != "dnsmasq" else None,
               "cmdline": r.cmdline}
        if not r.ok:
            out["console_tail"] = V.plain(r.console)[-2000:]
            out["server_log_tail"] = srv.text()[-2000:]
        return out
    finally:
        if vm:
            vm.stop()
        if sniffer and sniffer.poll() is None:
            sniffer.kill()
            sniffer.wait()
        if srv:
            srv.stop()
        ns.delete()


def wait_startup_advert_past(srv, settle: float = 3.0, timeout: float = 15.0) -> None:
    """Until kidou has sent its startup router advertisement (once br0's
    link-local address is usable), and `settle` seconds more: a firmware
    that starts now must solicit its own."""
    deadline = time.monotonic() + timeout
    while "mod=ndp event=announced" not in srv.text():
        if time.monotonic() > deadline:
            raise RuntimeError("kidou sent no startup router advertisement:\n"
                               + srv.text()[-2000:])
        time.sleep(0.05)
    time.sleep(settle)


def initrd_transfer(log: str) -> Optional[dict]:
    """How the initrd went, from kidou's log: over TFTP (`event=done`) or
    HTTP (`event=request`, GET, 200): bytes and seconds."""
    for line in log.splitlines():
        f = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
        if f.get("file", f.get("path", "")).strip('"').lstrip("/") != V.INITRD:
            continue
        if f.get("mod") == "tftp" and f.get("event") == "done":
            return {"via": "tftp", "bytes": int(f["bytes"]),
                    "seconds": int(f["duration_ms"]) / 1000}
        if f.get("mod") == "http" and f.get("event") == "request" and f.get("method") == "GET" \
                and f.get("status") == "200":
            return {"via": "http", "bytes": int(f["bytes"]),
                    "seconds": int(f["duration_ms"]) / 1000}
    return None


def log_boot(label: str, run: int, runs: int, r: dict, started: float,
             extra: str = "") -> None:
    """One progress line per boot; the console's and server's tails when
    it failed."""
    state = f"{r['seconds']:.1f}s" if r["ok"] else f"FAILED: {r['reason']}"
    log(f"  {label} run {run + 1}/{runs}: {state} "
        f"(dhcp {fmt(r['marks']['Next server'])}s, kernel "
        f"{fmt(r['marks']['Linux version'])}s{extra}; "
        f"{time.monotonic() - started:.0f}s wall)")
    if not r["ok"]:
        log(r.get("console_tail", "")[-1500:])
        log(r.get("server_log_tail", "")[-1500:])


def fmt(x) -> str:
    return "-" if x is None else f"{x:.1f}"


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def report(results: list[dict], firmwares, servers, accel: str, runs: int,
           tolerance: float) -> tuple[str, bool]:
    lines = [f"VM network boot, QEMU start -> greeting on the console "
             f"(accel={accel}, {runs} run(s), medians in seconds)", ""]
    hdr = f"{'firmware':8} {'server':10} {'boot':>6} {'min':>6} {'max':>6} " \
          f"{'dhcp':>6} {'load':>6} {'linux':>6} {'fails':>5}"
    lines += [hdr, "-" * len(hdr)]
    med_of = {}
    slower = False
    for fw in firmwares:
        for s in servers + ["floor"]:
            rs = [r for r in results if r["firmware"] == fw and r["server"] == s]
            if not rs:
                continue
            ok = [r for r in rs if r["ok"]]
            secs = [r["seconds"] for r in ok]
            m = med(secs)
            med_of[(fw, s)] = m
            dhcp = med([r["marks"]["Next server"] for r in ok])
            tftp = med([r["marks"]["Linux version"] - r["marks"]["Next server"] for r in ok
                        if r["marks"]["Linux version"] and r["marks"]["Next server"]])
            linux = med([r["seconds"] - r["marks"]["Linux version"] for r in ok
                         if r["marks"]["Linux version"]])
            label = "floor" if s == "floor" else s
            lines.append(f"{fw:8} {label:10} {fmt(m):>6} {fmt(min(secs) if secs else None):>6} "
                         f"{fmt(max(secs) if secs else None):>6} {fmt(dhcp):>6} "
                         f"{fmt(tftp):>6} {fmt(linux):>6} {len(rs) - len(ok):>5}")
        lines.append("")
    lines.append("dhcp: QEMU start -> `Next server` on the console (firmware has its "
                 "DHCP answer; includes iPXE's wait for IPv6 autoconfiguration);")
    lines.append("load: -> `Linux version` (boot loader, its config, kernel and initrd "
                 "over TFTP; kidou-ipxe: script, kernel and initrd over HTTP);")
    lines.append("linux: -> greeting (kernel boot, initramfs DHCP).")
    lines.append("floor: -kernel/-initrd, no PXE and no TFTP (the initramfs still does "
                 "DHCP, from kidou).")
    lines.append("")
    lines.append("On the wire (medians over the runs of each run's median, microseconds):")
    hdr2 = f"{'firmware':8} {'server':10} {'OFFER':>8} {'ACK':>8} {'RRQ->1st':>9} " \
           f"{'ACK->DATA':>10} {'DATA->ACK':>10} {'blocks':>7}"
    lines += [hdr2, "-" * len(hdr2)]
    for fw in firmwares:
        for s in servers:
            ok = [r for r in results if r["firmware"] == fw and r["server"] == s and r["ok"]]
            if not ok:
                continue
            pk = [r.get("packets") or {} for r in ok]

            def col(key, width):
                v = med([p.get(key) for p in pk])
                return f"{'-' if v is None else f'{v:.0f}':>{width}}"

            lines.append(f"{fw:8} {s:10} {col('dhcp_offer_us', 8)} {col('dhcp_ack_us', 8)} "
                         f"{col('tftp_rrq_us', 9)} {col('tftp_server_us', 10)} "
                         f"{col('tftp_client_us', 10)} {col('tftp_blocks', 7)}")
    lines.append("OFFER/ACK: DISCOVER/REQUEST in -> the server's answer out; "
                 "RRQ->1st: read request -> OACK; ACK->DATA: the server's turnaround per "
                 "block; DATA->ACK: the client's (the emulated machine's).")
    lines.append("")
    for fw in firmwares:
        k, d, f = med_of.get((fw, "kidou")), med_of.get((fw, "dnsmasq")), \
            med_of.get((fw, "floor"))
        parts = [f"{fw}:"]
        if k and d:
            parts.append(f"kidou/dnsmasq = {k / d:.3f}")
            if k > d * (1 + tolerance):
                slower = True
                parts.append(f"(kidou SLOWER by more than {tolerance:.0%})")
        if k and f:
            parts.append(f"network boot overhead kidou {k - f:.1f} s")
        if d and f:
            parts.append(f"dnsmasq {d - f:.1f} s")
        lines.append("  ".join(parts))
    lines += ["", "Goals of issue #7 (median seconds to the greeting):"]
    for fw in firmwares:
        f, d = med_of.get((fw, "floor")), med_of.get((fw, "dnsmasq"))
        for s in ("kidou", "kidou-ipxe"):
            k = med_of.get((fw, s))
            if not k:
                continue
            goals = []
            if f:
                goals.append(f"{k / f:.2f}x the floor ({'met' if k <= 2.5 * f else 'NOT MET'}: "
                             f"<= 2.5x)")
            if d:
                goals.append(f"{d / k:.2f}x faster than dnsmasq ({'met' if d >= 2 * k else 'NOT MET'}"
                             f": >= 2x)")
            if goals:
                lines.append(f"  {fw:4} {s:10} " + "; ".join(goals))
    return "\n".join(lines), slower


TRANSPORTS = ("tftp", "http")


def report_transport(results: list[dict], accel: str, runs: int, initrd_bytes: int) -> str:
    lines = [f"BIOS VM network boot with a {initrd_bytes / 2**20:.1f} MiB initrd, kidou over "
             f"TFTP (PXELINUX) vs HTTP (iPXE script); QEMU start -> greeting "
             f"(accel={accel}, {runs} run(s), medians in seconds)", ""]
    hdr = f"{'transport':9} {'boot':>6} {'min':>6} {'max':>6} {'dhcp':>6} {'load':>6} " \
          f"{'linux':>6} {'initrd':>7} {'MiB/s':>6} {'fails':>5}"
    lines += [hdr, "-" * len(hdr)]
    med_of = {}
    for t in TRANSPORTS:
        rs = [r for r in results if r["server"] == t]
        ok = [r for r in rs if r["ok"]]
        secs = [r["seconds"] for r in ok]
        med_of[t] = med(secs)
        dhcp = med([r["marks"]["Next server"] for r in ok])
        load = med([r["marks"]["Linux version"] - r["marks"]["Next server"] for r in ok
                    if r["marks"]["Linux version"] and r["marks"]["Next server"]])
        linux = med([r["seconds"] - r["marks"]["Linux version"] for r in ok
                     if r["marks"]["Linux version"]])
        it = [r["initrd"] for r in ok if r.get("initrd")]
        isecs = med([i["seconds"] for i in it])
        rate = med([i["bytes"] / 2**20 / i["seconds"] for i in it if i["seconds"] > 0])
        lines.append(f"{t:9} {fmt(med_of[t]):>6} {fmt(min(secs) if secs else None):>6} "
                     f"{fmt(max(secs) if secs else None):>6} {fmt(dhcp):>6} {fmt(load):>6} "
                     f"{fmt(linux):>6} {fmt(isecs):>7} {fmt(rate):>6} {len(rs) - len(ok):>5}")
    lines.append("")
    lines.append("dhcp: QEMU start -> `Next server` (the ROM's iPXE has its DHCP answer); "
                 "load: -> `Linux version` (tftp: pxelinux.0, ldlinux.c32, config, kernel, "
                 "initrd; http: script, kernel, initrd); linux: -> greeting.")
    lines.append("initrd, MiB/s: the initrd's own transfer as kidou logged it (TFTP "
                 "event=done, HTTP event=request duration).")
    lines.append("")
    tf, ht = med_of.get("tftp"), med_of.get("http")
    if tf and ht:
        lines.append(f"tftp/http = {tf / ht:.2f} (boot time over TFTP divided by over HTTP; "
                     f"HTTP saves {tf - ht:.1f} s)")
    return "\n".join(lines)


def prepare(args, bench: bool = False, ipxe: bool = False) -> Optional[tuple]:
    """(accel, per-boot timeout, work dir), or None (logged) when the
    machine lacks something."""
    problems = V.check_requirements(bench=bench, ipxe=ipxe)
    if problems:
        log("boot_bench: " + "\n  ".join(problems))
        return None
    if not Path(V.kidou_bin()).exists():
        log(f"boot_bench: no kidou at {V.kidou_bin()} (make build)")
        return None
    accel = V.pick_accel(args.accel)
    timeout = args.timeout or V.boot_timeout(accel)
    return accel, timeout, Path(tempfile.mkdtemp(prefix="kidou-boot-bench-"))


def main_transport(args) -> int:
    ready = prepare(args)
    if not ready:
        return 2
    accel, timeout, work = ready
    log(f"boot_bench: --transport, work dir {work}, accel {accel}, timeout {timeout:.0f}s "
        f"per boot, initrd padded with {args.initrd_mib} MiB")
    tree = V.build_tree(work / "tftpboot", initrd_filler=args.initrd_mib << 20)
    initrd_bytes = (tree / V.INITRD).stat().st_size
    append = "console=ttyS0,115200 panic=5 kidou.config=ipxe"
    config = V.ipxe_config({"bench": append}, default="bench")
    results = []
    n = 0
    try:
        for run in range(args.runs):
            # alternate which goes first, so drift hits both alike
            for t in (TRANSPORTS if run % 2 == 0 else TRANSPORTS[::-1]):
                n += 1
                t0 = time.monotonic()
                r = one_boot(tree, work / f"{n:03d}-bios-{t}", "bios", t, accel, timeout,
                             mac=f"52:54:00:4b:46:{n % 256:02x}",
                             config=config if t == "http" else None, sniff_packets=False)
                r["run"] = run
                if r["ok"]:
                    want = "kidou.config=ipxe" if t == "http" else "kidou.config=default"
                    it = r.get("initrd")
                    if want not in r["cmdline"] or not it or it["via"] != t \
                            or it["bytes"] != initrd_bytes:
                        r["ok"] = False
                        r["reason"] = (f"booted, but not as measured: cmdline "
                                       f"{r['cmdline']!r}, initrd {it}")
                results.append(r)
                it = r.get("initrd") or {}
                log_boot(f"bios {t:4}", run, args.runs, r, t0,
                         extra=f", initrd {fmt(it.get('seconds'))}s")
    finally:
        if args.json:
            args.json.write_text(json.dumps({"accel": accel, "mode": "transport",
                                             "initrd_bytes": initrd_bytes,
                                             "results": results}, indent=1))
        if args.keep:
            log(f"boot_bench: kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(report_transport(results, accel, args.runs, initrd_bytes))
    return 1 if any(not r["ok"] for r in results) else 0


# --------------------------------------------------------------------------
# --secureboot: Debian's signed chain under OVMF with enforcement on


SB_MARKS = ("NBP file downloaded", "Welcome to GRUB", "Linux version")


def tftp_transfers(path: Path) -> list[dict]:
    """Every TFTP transfer in a sniffer file, in order: the file, the
    options the client asked for, when its RRQ came and its last packet
    went, the data bytes; a transfer is the client's endpoint from its RRQ
    on (a tsize probe or a not-found is one too, with no data)."""
    out, by_client = [], {}
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return out
    for line in lines:
        p = line.split()
        if len(p) < 7 or not p[5].startswith("tftp"):
            continue
        t, op = float(p[0]), int(p[5][4:])
        server_side = p[1] == V.SERVER_IP
        client = f"{p[3]}:{p[4]}" if server_side else f"{p[1]}:{p[2]}"
        kv = dict(x.split("=", 1) for x in p[7:] if "=" in x)
        if op == 1 and not server_side:
            tr = {"file": kv.get("file", "-"), "blksize": int(kv.get("blksize", 512)),
                  "windowsize": int(kv.get("windowsize", 1)), "tsize": "tsize" in kv,
                  "start": t, "end": t, "bytes": 0, "blocks": 0}
            by_client[client] = tr
            out.append(tr)
            continue
        tr = by_client.get(client)
        if tr is None:
            continue
        tr["end"] = t
        if op == 3 and server_side:
            tr["bytes"] += int(kv.get("len", 0))
            tr["blocks"] += 1
    return out


def dnsmasq_secureboot_args(tree: Path, workdir: Path) -> list[str]:
    """dnsmasq serving the chain from the same tree: shim to UEFI x64 in
    the BOOTP file field (--dhcp-no-override: shim reads no option 67)."""
    args = [a for a in V.dnsmasq_args(tree, workdir) if not a.startswith("--dhcp-boot=")]
    return args + [f"--dhcp-boot=tag:efi64,{V.SB_SHIM}", "--dhcp-no-override"]


def one_secureboot(tree: Path, workdir: Path, server: str, accel: str, timeout: float,
                   mac: str) -> dict:
    """One Secure Boot VM booting the chain from kidou (grub.cfg rendered
    from the profile) or dnsmasq (the same tree plus a static grub.cfg),
    the packets recorded."""
    workdir.mkdir(parents=True, exist_ok=True)
    ns = V.NetNS(NS)
    srv = vm = sniffer = None
    try:
        ns.setup()
        tap = ns.add_tap("tap0")
        pkts = workdir / "packets.txt"
        sniffer = subprocess.Popen(ns.exec([sys.executable, str(Path(__file__).resolve()),
                                            "_sniff", V.BRIDGE, str(pkts)]),
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
        sniffer.stdout.readline()
        if server == "dnsmasq":
            srv = V.Server(ns, dnsmasq_secureboot_args(tree, workdir), workdir / "dnsmasq.log",
                           "dnsmasq").start(ready="TFTP root is")
        else:
            cfg = workdir / "kidou.ini"
            cfg.write_text(V.secureboot_config({"bench": SB_APPEND}, default="bench"))
            srv = V.start_kidou(ns, tree, workdir, config=cfg)
            wait_startup_advert_past(srv)
        vm = V.VM(ns, workdir, "secureboot", mac, tap=tap, accel=accel,
                  name=f"secureboot-{server}")
        marks = {m: None for m in SB_MARKS}
        vm.start()
        r = vm.wait_greeting(timeout, marks)
        vm.stop()
        sniffer.terminate()
        sniffer.wait(timeout=10)
        console = V.plain(r.console)
        out = {"server": server, "ok": r.ok and "Secure boot enabled" in console,
               "seconds": r.seconds, "marks": marks, "reason": r.reason,
               "transfers": tftp_transfers(pkts), "cmdline": r.cmdline}
        if r.ok and not out["ok"]:
            out["reason"] = "booted, but the kernel did not say 'Secure boot enabled'"
        if not out["ok"]:
            out["console_tail"] = console[-2000:]
            out["server_log_tail"] = srv.text()[-2000:]
        return out
    finally:
        if vm:
            vm.stop()
        if sniffer and sniffer.poll() is None:
            sniffer.kill()
            sniffer.wait()
        if srv:
            srv.stop()
        ns.delete()


SB_APPEND = "console=ttyS0,115200 panic=5 kidou.config=secureboot"


def report_secureboot(results: list[dict], accel: str, runs: int) -> str:
    lines = [f"Secure Boot chain (OVMF secboot, enforcement on: shim -> GRUB -> signed "
             f"kernel), QEMU start -> greeting (accel={accel}, {runs} run(s), medians in "
             f"seconds)", ""]
    hdr = f"{'server':8} {'boot':>6} {'min':>6} {'max':>6} {'shim':>6} {'grub':>6} " \
          f"{'linux':>6} {'tftp':>6} {'share':>6} {'fails':>5}"
    lines += [hdr, "-" * len(hdr)]
    for s in ("kidou", "dnsmasq"):
        rs = [r for r in results if r["server"] == s]
        ok = [r for r in rs if r["ok"]]
        if not rs:
            continue
        secs = [r["seconds"] for r in ok]
        tftp = [sum(t["end"] - t["start"] for t in r["transfers"]) for r in ok]
        m = med(secs)
        share = med([t / r["seconds"] for t, r in zip(tftp, ok) if r["seconds"]])
        lines.append(f"{s:8} {fmt(m):>6} {fmt(min(secs) if secs else None):>6} "
                     f"{fmt(max(secs) if secs else None):>6} "
                     f"{fmt(med([r['marks']['NBP file downloaded'] for r in ok])):>6} "
                     f"{fmt(med([r['marks']['Welcome to GRUB'] for r in ok])):>6} "
                     f"{fmt(med([r['marks']['Linux version'] for r in ok])):>6} "
                     f"{fmt(med(tftp)):>6} {'-' if share is None else f'{share:.0%}':>6} "
                     f"{len(rs) - len(ok):>5}")
    lines += ["", "shim, grub, linux: seconds from QEMU's start until the console showed "
              "OVMF's `NBP file downloaded` (shim is in), `Welcome to GRUB` (GRUB is in), "
              "`Linux version` (kernel and initrd are in);",
              "tftp: the TFTP transfers' time on the wire, RRQ to last packet, summed "
              "(they run one after another); share: tftp / boot.", ""]
    ok = [r for r in results if r["ok"]]
    if ok:
        lines.append("Per file (medians over the runs; the options as the client asked):")
        hdr2 = f"{'server':8} {'file':34} {'blksize':>7} {'window':>6} {'bytes':>9} " \
               f"{'blocks':>7} {'seconds':>8} {'KiB/s':>7}"
        lines += [hdr2, "-" * len(hdr2)]
        for s in ("kidou", "dnsmasq"):
            per: dict = {}
            for r in (r for r in ok if r["server"] == s):
                for t in r["transfers"]:
                    if t["bytes"]:
                        per.setdefault(t["file"], []).append(t)
            for f, ts in per.items():
                secs = med([t["end"] - t["start"] for t in ts])
                b = ts[0]["bytes"]
                lines.append(f"{s:8} {f[-34:]:34} {ts[0]['blksize']:>7} "
                             f"{ts[0]['windowsize']:>6} {b:>9} {ts[0]['blocks']:>7} "
                             f"{fmt(secs):>8} {b / 1024 / secs if secs else 0:>7.0f}")
    return "\n".join(lines)


def main_secureboot(args) -> int:
    problems = V.check_requirements(bench=True, secureboot=True)
    if problems:
        log("boot_bench: " + "\n  ".join(problems))
        return 2
    accel = V.pick_accel(args.accel)
    timeout = args.timeout or V.boot_timeout(accel)
    work = Path(tempfile.mkdtemp(prefix="kidou-boot-bench-"))
    log(f"boot_bench: --secureboot, work dir {work}, accel {accel}, timeout {timeout:.0f}s "
        f"per boot")
    # kidou renders /grub/grub.cfg (a file on disk would win over it), so
    # dnsmasq gets its own copy of the tree with the static one
    tree_k = V.add_secureboot(V.build_tree(work / "tftpboot"))
    tree_d = work / "tftpboot-dnsmasq"
    shutil.copytree(tree_k, tree_d)
    (tree_d / "grub").mkdir(exist_ok=True)
    (tree_d / V.SB_GRUB_CFG).write_text(V.grub_menu(SB_APPEND))
    results, n = [], 0
    servers = [s for s in args.servers.split(",") if s in ("kidou", "dnsmasq")] or \
        ["kidou", "dnsmasq"]
    try:
        for run in range(args.runs):
            for s in (servers if run % 2 == 0 else servers[::-1]):
                n += 1
                t0 = time.monotonic()
                r = one_secureboot(tree_k if s == "kidou" else tree_d,
                                   work / f"{n:03d}-secureboot-{s}", s, accel, timeout,
                                   mac=f"52:54:00:4b:47:{n % 256:02x}")
                r["run"] = run
                results.append(r)
                tftp = sum(t["end"] - t["start"] for t in r["transfers"])
                state = f"{r['seconds']:.1f}s" if r["ok"] else f"FAILED: {r['reason']}"
                log(f"  secureboot {s:8} run {run + 1}/{args.runs}: {state} (tftp {tftp:.1f}s; "
                    f"{time.monotonic() - t0:.0f}s wall)")
                if not r["ok"]:
                    log(r.get("console_tail", "")[-1500:])
                    log(r.get("server_log_tail", "")[-1500:])
    finally:
        if args.json:
            args.json.write_text(json.dumps({"accel": accel, "mode": "secureboot",
                                             "results": results}, indent=1))
        if args.keep:
            log(f"boot_bench: kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(report_secureboot(results, accel, args.runs))
    return 1 if any(not r["ok"] for r in results) else 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_sniff"]:
        return sniff(argv[1], argv[2])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="boots per firmware and server")
    ap.add_argument("--firmware", default="bios,uefi", help="bios,uefi or one of them")
    ap.add_argument("--servers", default="kidou,kidou-ipxe,dnsmasq",
                    help="some of kidou,kidou-ipxe,dnsmasq (default all three)")
    ap.add_argument("--no-floor", action="store_true", help="skip the -kernel boots")
    ap.add_argument("--accel", default=None, choices=("auto", "kvm", "tcg"),
                    help="default $KIDOU_VM_ACCEL or auto (KVM if it works, else TCG)")
    ap.add_argument("--timeout", type=float, help="per boot (default: vm_lib.boot_timeout)")
    ap.add_argument("--tolerance", type=float, default=0.05,
                    help="--strict: how much slower kidou may be (default 0.05 = 5%%)")
    ap.add_argument("--strict", action="store_true",
                    help="exit 1 if kidou is slower than dnsmasq beyond --tolerance")
    ap.add_argument("--json", type=Path, help="also write every raw result here")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--transport", action="store_true",
                    help="instead: BIOS, kidou only, large initrd over TFTP (PXELINUX) vs "
                         "HTTP (iPXE)")
    ap.add_argument("--initrd-mib", type=int, default=64,
                    help="--transport: MiB of incompressible filler in the initrd (default 64)")
    ap.add_argument("--secureboot", action="store_true",
                    help="instead: Debian's signed chain under OVMF with Secure Boot on, "
                         "kidou against dnsmasq (--servers), with the TFTP share and the "
                         "blksize each stage asks for")
    args = ap.parse_args(argv)
    if args.secureboot:
        return main_secureboot(args)
    if args.transport:
        return main_transport(args)

    firmwares = [f for f in args.firmware.split(",") if f]
    servers = [s for s in args.servers.split(",") if s]
    for s in servers:
        if s not in ("kidou", "kidou-ipxe", "dnsmasq"):
            ap.error(f"unknown server {s}")
    ready = prepare(args, bench="dnsmasq" in servers, ipxe="kidou-ipxe" in servers)
    if not ready:
        return 2
    accel, timeout, work = ready
    log(f"boot_bench: work dir {work}, accel {accel}, timeout {timeout:.0f}s per boot")
    tree = V.build_tree(work / "tftpboot", ipxe="kidou-ipxe" in servers)
    ipxe_config = V.ipxe_config({"bench": V.DEFAULT_APPEND}, default="bench")
    order = list(servers) + ([] if args.no_floor else ["floor"])
    results = []
    n = 0
    try:
        for fw in firmwares:
            for run in range(args.runs):
                for s in order:
                    n += 1
                    t = time.monotonic()
                    r = one_boot(tree, work / f"{n:03d}-{fw}-{s}", fw, s, accel, timeout,
                                 mac=f"52:54:00:4b:45:{n % 256:02x}",
                                 config=ipxe_config if s == "kidou-ipxe" else None)
                    r["run"] = run
                    via = {"kidou": "tftp", "kidou-ipxe": "http"}.get(s)
                    if r["ok"] and via and (r.get("initrd") or {}).get("via") != via:
                        r["ok"] = False
                        r["reason"] = f"booted, but the initrd did not come over {via}: " \
                                      f"{r.get('initrd')}"
                    results.append(r)
                    log_boot(f"{fw:4} {s:10}", run, args.runs, r, t)
    finally:
        if args.json:
            args.json.write_text(json.dumps({"accel": accel, "results": results}, indent=1))
        if args.keep:
            log(f"boot_bench: kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    text, slower = report(results, firmwares, servers, accel, args.runs, args.tolerance)
    print(text)
    if any(not r["ok"] for r in results):
        return 1
    return 1 if (slower and args.strict) else 0


if __name__ == "__main__":
    sys.exit(main())
