"""Real machines boot through iPXE, with the kernel over kidou's HTTP (issue #6).

The same namespace, tree and QEMU command line as test_vm_boot.py (vm_lib,
fixtures in conftest.py), but kidou is configured to chainload iPXE:

    [boot]
    bios = undionly.kpxe
    uefi-x64 = ipxe.efi
    ipxe = ${http}/boot.ipxe?mac=${net0/mac}
    [profile NAME]  kernel = linux/vmlinuz, initrd = linux/initrd.img, cmdline = ...

so a machine running iPXE gets the URL of its boot script on kidou's HTTP
server (port vm_lib.HTTP_PORT), kidou renders the script from the
machine's profile, and iPXE fetches the kernel and the initrd over HTTP.
Every test waits for the initramfs's `KIDOU-GREETING ip=... cmdline=...`
line on the serial console (a hard timeout, vm_lib.boot_timeout) and then
reads kidou's log for each step, in order.

1. BIOS: SeaBIOS runs the NIC's option ROM, which is iPXE already (user
   class iPXE), so kidou's first answer is the script URL: nothing goes
   over TFTP.
2. UEFI chainload: the NIC has no option ROM, so OVMF's own PXE
   (VirtioNetDxe + PxeBcDxe, arch 7, no user class) asks; kidou gives it
   ipxe.efi over TFTP, ipxe.efi asks again as iPXE and boots over HTTP.
3. UEFI HTTP boot: the same NIC without a ROM, OVMF's PXE switched off
   through fw_cfg (vm_lib.OVMF_HTTP_BOOT_ONLY), so OVMF's HttpBootDxe asks
   (arch 16, vendor class HTTPClient); kidou answers `[boot] http-x64`, the
   URL of ipxe.efi on its HTTP server, and iPXE goes on as in 2.
4. Two BIOS machines at once, each mapped by `[host] mac` to a profile of
   its own, each boots its own command line.
5. `kidou boot` (quick mode, no config file) boots a BIOS machine, and its
   private directory is gone after SIGTERM.

The greeting must show the profile's command line, behind what the
script puts in front (initrd=initrd0, which UEFI iPXE 2019 needs to hand
the initrd to Linux; before kidou wrote it, test 2 ended in "VFS: Unable
to mount root fs") and, under UEFI, iPXE's name for the kernel image.
kidou logs no warning at all: OVMF's TFTP size probe in test 2 (it reads
the OACK with tsize and aborts with error 8, then downloads) is an info
line, event=size-probe, not a failed transfer.

Missing packages (vm_lib.PACKAGES and the ipxe package) fail the tests;
they do not skip. Under TCG the five take about a minute.
"""
from __future__ import annotations

import ipaddress
import os
import secrets
import time
from pathlib import Path
from urllib.parse import unquote

import pytest

import vm_lib as V
from kidou_testlib import T

MAC_A = "52:54:00:4b:49:0a"
MAC_B = "52:54:00:4b:49:0b"
HTTP_BASE = f"http://{V.SERVER_IP}:{V.HTTP_PORT}"
# what kidou hands to a machine running iPXE, ${http} filled in
SCRIPT_TARGET = V.IPXE_TARGET.replace("${http}", HTTP_BASE)
APPEND = "console=ttyS0,115200 panic=5"


@pytest.fixture(scope="module")
def ipxe_tree(tmp_path_factory, vm_accel) -> Path:
    """vm_lib's tree plus undionly.kpxe and ipxe.efi; shared by the tests
    of this module, which only read it."""
    problems = V.check_requirements(ipxe=True)
    if problems:
        pytest.fail("the iPXE VM boot tests can not run here:\n  " + "\n  ".join(problems),
                    pytrace=False)
    return V.build_tree(tmp_path_factory.mktemp("ipxe") / "tftpboot", ipxe=True)


def marker() -> str:
    """A token for one test's command line: its greeting can come from no
    other run."""
    return f"kidou.run={secrets.token_hex(4)}"


# --------------------------------------------------------------------------
# reading kidou's log


def numbered(k) -> list[dict]:
    """Every event in kidou's log, with its position as "_n"."""
    evs = k.events()
    for n, e in enumerate(evs):
        e["_n"] = n
    return evs


def peer_ip(e: dict) -> str:
    return e.get("peer", "").rsplit(":", 1)[0]


def first(evs: list[dict], what: str, log: str, after: int = -1, **match) -> dict:
    """The first event after position `after` whose fields are `match`
    (a value may be a callable: a predicate on the field)."""
    for e in evs:
        if e["_n"] <= after:
            continue
        if all(v(e.get(k)) if callable(v) else e.get(k) == v for k, v in match.items()):
            return e
    raise AssertionError(f"kidou's log has no {what} (after event #{after}):\n{log}")


def check_ipxe_http_boot(k, tree: Path, mac: str, ip: str, after: int = -1,
                         kernel: str = V.KERNEL, initrds=(V.INITRD,)) -> dict:
    """iPXE's part of a boot, in kidou's log, in order: its DHCP ack (user
    class iPXE) with the script URL, the script fetched by MAC from the
    machine's address, the kernel and each initrd over HTTP, whole, and
    Linux's own DHCP for the same address. Returns those events."""
    log = k.text()
    evs = numbered(k)
    ack = first(evs, f"DHCP ack for iPXE on {mac}", log, after, mod="dhcp", event="ack",
                mac=mac, user_class="iPXE")
    assert ack["boot"] == SCRIPT_TARGET, ack["_line"]
    assert ack["ip"] == ip, ack["_line"]
    script = first(evs, f"HTTP GET of {mac}'s boot script", log, ack["_n"], mod="http",
                   event="request", method="GET",
                   path=lambda p: unquote(p or "") == f"/boot.ipxe?mac={mac}")
    assert peer_ip(script) == ip, script["_line"]
    assert script["status"] == "200" and script["complete"] == "yes", script["_line"]
    assert int(script["bytes"]) > 0, script["_line"]
    got = {"ack": ack, "script": script}
    at = script["_n"]
    for name in [kernel] + list(initrds):
        e = first(evs, f"HTTP GET of /{name} from {ip}", log, at, mod="http", event="request",
                  method="GET", path=f"/{name}", peer=lambda p: (p or "").startswith(ip + ":"))
        assert e["status"] == "200" and e["complete"] == "yes", e["_line"]
        assert int(e["bytes"]) == (tree / name).stat().st_size, e["_line"]
        assert "range" not in e, e["_line"]
        got[name] = e
        at = e["_n"]
    # Linux's udhcpc: the same address, no boot file
    linux = first(evs, f"Linux's DHCP ack for {mac}", log, at, mod="dhcp", event="ack", mac=mac,
                  boot="none")
    assert linux["ip"] == ip, linux["_line"]
    # the kernel and the initrd never went over TFTP
    for e in k.events(mod="tftp"):
        assert e.get("file") not in [kernel] + list(initrds), e["_line"]
    return got


def no_warnings(k, allow=lambda e: False) -> None:
    bad = [e["_line"] for e in k.events() if e.get("level") in ("warn", "error")
           and not allow(e)]
    bad += [line for line in k.lines() if not line.startswith("level=")]
    assert not bad, "\n".join(bad)


def expect_cmdline(r: V.BootResult, cmdline: str, efi: bool = False,
                   kernel: str = "vmlinuz", n_initrd: int = 1) -> None:
    """The greeting's /proc/cmdline is the profile's command line behind
    what kidou's script and iPXE put in front: initrd=initrdN for each
    initrd (so that UEFI Linux finds them), and under UEFI iPXE's name for
    the kernel image."""
    front = ([kernel] if efi else []) + [f"initrd=initrd{i}" for i in range(n_initrd)]
    assert r.cmdline == " ".join(front + [cmdline]), (r.cmdline, cmdline)


def booted_ip(r: V.BootResult) -> str:
    ip = r.ip.split("/")[0]
    assert r.ip.endswith("/16"), r.ip
    assert ipaddress.IPv4Address(V.POOL[0]) <= ipaddress.IPv4Address(ip) \
        <= ipaddress.IPv4Address(V.POOL[1]), r.ip
    return ip


# --------------------------------------------------------------------------
# 1. BIOS: the NIC's iPXE ROM gets the script URL at once


def test_bios_ipxe_boots_profile_over_http(vmnet, ipxe_tree):
    tree = ipxe_tree
    cmdline = f"{APPEND} kidou.profile=live {marker()}"
    k = vmnet.start_kidou(tree, config_text=V.ipxe_config({"live": cmdline}, default="live"))
    vm = vmnet.vm("bios", MAC_A).start()
    r = V.wait_booted(vm, k)
    vm.stop()
    expect_cmdline(r, cmdline)
    ip = booted_ip(r)

    got = check_ipxe_http_boot(k, tree, MAC_A, ip)
    fw = [e for e in k.events(mod="dhcp", mac=MAC_A) if e["event"] in ("offer", "ack")
          and e["boot"] != "none"]
    # the ROM is iPXE from its first DHCP message on: only ever the script
    assert [e["event"] for e in fw][:2] == ["offer", "ack"], k.text()
    for e in fw:
        assert e["arch"] == "bios" and e["user_class"] == "iPXE", e["_line"]
        assert e["boot"] == SCRIPT_TARGET, e["_line"]
    assert got["ack"]["_n"] == min(e["_n"] for e in numbered(k) if e.get("mod") == "dhcp"
                                   and e.get("event") == "ack" and e.get("mac") == MAC_A)
    # nothing at all over TFTP: not PXELINUX, not the kernel
    assert not k.events("start", mod="tftp") and not k.events("done", mod="tftp"), k.text()
    no_warnings(k)


# --------------------------------------------------------------------------
# 2. UEFI without a NIC ROM: OVMF's PXE -> ipxe.efi over TFTP -> iPXE -> HTTP


def test_uefi_native_pxe_chainloads_ipxe(vmnet, ipxe_tree):
    tree = ipxe_tree
    cmdline = f"{APPEND} kidou.profile=chain {marker()}"
    k = vmnet.start_kidou(tree, config_text=V.ipxe_config({"chain": cmdline}, default="chain"))
    vm = vmnet.vm("uefi", MAC_A, nic_rom=False).start()
    r = V.wait_booted(vm, k)
    vm.stop()
    expect_cmdline(r, cmdline, efi=True)
    ip = booted_ip(r)
    log = k.text()
    evs = numbered(k)

    # OVMF's own PXE: arch 7, no iPXE user class; it gets ipxe.efi
    fw = first(evs, "OVMF's PXE DHCP ack", log, mod="dhcp", event="ack", mac=MAC_A)
    assert fw["arch"] == "efi-x64", fw["_line"]
    assert fw["user_class"] == "-", fw["_line"]
    assert fw["boot"] == V.IPXE_UEFI, fw["_line"]
    assert fw["ip"] == ip, fw["_line"]
    # ipxe.efi over TFTP, whole
    done = first(evs, "TFTP transfer of ipxe.efi", log, fw["_n"], mod="tftp", event="done",
                 file=V.IPXE_UEFI)
    assert peer_ip(done) == ip, done["_line"]
    assert int(done["bytes"]) == (tree / V.IPXE_UEFI).stat().st_size, done["_line"]
    # then iPXE asks, and goes on over HTTP
    got = check_ipxe_http_boot(k, tree, MAC_A, ip, after=done["_n"])
    assert got["ack"]["arch"] == "efi-x64", got["ack"]["_line"]
    # no iPXE DHCP before ipxe.efi was loaded: the NIC really had no ROM
    early = [e for e in evs if e["_n"] < done["_n"] and e.get("mod") == "dhcp"
             and e.get("mac") == MAC_A and e.get("user_class") == "iPXE"]
    assert not early, "\n".join(e["_line"] for e in early)
    # TFTP carried ipxe.efi and nothing else to completion; before it, at
    # most OVMF's size probe of the same file, which is not a failure
    assert {e["file"] for e in k.events("done", mod="tftp")} == {V.IPXE_UEFI}, log
    assert not k.events("fail", mod="tftp"), log
    probes = [e for e in evs if e.get("mod") == "tftp" and e.get("event") == "size-probe"]
    assert probes, f"OVMF asked for the size of ipxe.efi first, and kidou logs it:\n{log}"
    for e in probes:
        assert e["file"] == V.IPXE_UEFI and e["_n"] < done["_n"], e["_line"]
        assert int(e["size"]) == (tree / V.IPXE_UEFI).stat().st_size, e["_line"]
    no_warnings(k)


# --------------------------------------------------------------------------
# 3. UEFI HTTP boot: OVMF's HttpBootDxe fetches ipxe.efi from kidou's HTTP


def test_uefi_http_boot_fetches_ipxe_over_http(vmnet, ipxe_tree):
    tree = ipxe_tree
    cmdline = f"{APPEND} kidou.profile=httpboot {marker()}"
    cfg = V.ipxe_config({"httpboot": cmdline}, default="httpboot",
                        http_x64=f"${{http}}/{V.IPXE_UEFI}")
    k = vmnet.start_kidou(tree, config_text=cfg)
    vm = vmnet.vm("uefi", MAC_A, nic_rom=False, fw_cfg=V.OVMF_HTTP_BOOT_ONLY).start()
    r = V.wait_booted(vm, k)
    vm.stop()
    expect_cmdline(r, cmdline, efi=True)
    ip = booted_ip(r)
    log = k.text()
    evs = numbered(k)

    url = f"{HTTP_BASE}/{V.IPXE_UEFI}"
    fw = first(evs, "OVMF's HTTP boot DHCP ack", log, mod="dhcp", event="ack", mac=MAC_A)
    assert fw["arch"] == "efi-x64-http", fw["_line"]
    assert fw["user_class"] == "-", fw["_line"]
    assert fw["boot"] == url, fw["_line"]
    assert fw["ip"] == ip, fw["_line"]
    # the firmware's GET of ipxe.efi, whole (it may ask HEAD first)
    get = first(evs, "HTTP GET of ipxe.efi", log, fw["_n"], mod="http", event="request",
                method="GET", path=f"/{V.IPXE_UEFI}")
    assert peer_ip(get) == ip, get["_line"]
    assert get["status"] == "200" and get["complete"] == "yes", get["_line"]
    assert int(get["bytes"]) == (tree / V.IPXE_UEFI).stat().st_size, get["_line"]
    got = check_ipxe_http_boot(k, tree, MAC_A, ip, after=get["_n"])
    assert got["ack"]["arch"] == "efi-x64", got["ack"]["_line"]
    # no PXE at all: nothing over TFTP, and the firmware never asked as PXE
    assert not k.events("start", mod="tftp"), log
    assert not [e for e in k.events(mod="dhcp", mac=MAC_A) if e.get("boot") == V.IPXE_UEFI], log
    no_warnings(k)


# --------------------------------------------------------------------------
# 4. two machines, two profiles


def test_two_machines_boot_their_own_profiles(vmnet, ipxe_tree):
    tree = ipxe_tree
    run = marker()
    alpha = f"{APPEND} kidou.profile=alpha {run}"
    beta = f"{APPEND} kidou.profile=beta {run}"
    # no [boot] profile: a machine kidou does not know gets no script
    cfg = V.ipxe_config({"alpha": alpha, "beta": beta},
                        hosts={"one": (MAC_A, "alpha"), "two": (MAC_B, "beta")})
    k = vmnet.start_kidou(tree, config_text=cfg)
    a = vmnet.vm("bios", MAC_A).start()
    b = vmnet.vm("bios", MAC_B).start()
    ra = V.wait_booted(a, k)
    rb = V.wait_booted(b, k)
    a.stop()
    b.stop()
    expect_cmdline(ra, alpha)
    expect_cmdline(rb, beta)
    ip_a, ip_b = booted_ip(ra), booted_ip(rb)
    assert ip_a != ip_b, (ra.ip, rb.ip)
    for mac, ip in ((MAC_A, ip_a), (MAC_B, ip_b)):
        got = check_ipxe_http_boot(k, tree, mac, ip)
        assert got["ack"]["host"] in ("one", "two"), got["ack"]["_line"]
    hosts = {e["mac"]: e["host"] for e in k.events("ack", mod="dhcp") if e["boot"] != "none"}
    assert hosts == {MAC_A: "one", MAC_B: "two"}, k.text()
    assert not k.events("start", mod="tftp"), k.text()
    no_warnings(k)


# --------------------------------------------------------------------------
# 5. quick mode


def test_quick_mode_boots_and_cleans_up(vmnet, ipxe_tree, tmp_path):
    tree = ipxe_tree
    cmdline = f"{APPEND} kidou.quick=yes {marker()}"
    args = ["boot", "--kernel", tree / V.KERNEL, "--initrd", tree / V.INITRD,
            "--cmdline", cmdline, "--interface", V.BRIDGE,
            "--dhcp-range", f"{V.POOL[0]} {V.POOL[1]}",
            "--dhcp-database", tmp_path / "quick-leases.db", "--log-level", "info"]
    k = vmnet.start_kidou(args=args, wait_http=True)
    ready = k.events("ready", mod="main")[-1]
    qdir = Path(ready["config"]).parent
    assert qdir.name.startswith("kidou-boot-"), ready["_line"]
    assert sorted(os.listdir(qdir)) == ["initrd0", "ipxe.efi", "kernel", "kidou-boot.ini",
                                        "undionly.kpxe"], os.listdir(qdir)
    http = k.events("listening", mod="http")[-1]
    assert http["addr"] == f"0.0.0.0:{V.HTTP_PORT}", http["_line"]

    vm = vmnet.vm("bios", MAC_A).start()
    r = V.wait_booted(vm, k)
    vm.stop()
    expect_cmdline(r, cmdline)
    ip = booted_ip(r)
    # quick mode's own names for the copies: /kernel, /initrd0
    for name, src in (("kernel", V.KERNEL), ("initrd0", V.INITRD)):
        assert (qdir / name).read_bytes() == (tree / src).read_bytes(), name
    check_ipxe_http_boot(k, qdir, MAC_A, ip, kernel="kernel", initrds=("initrd0",))
    assert not k.events("start", mod="tftp"), k.text()
    no_warnings(k)

    # SIGTERM: kidou exits 0 and takes its private directory with it
    t = time.monotonic()
    assert k.stop(timeout=15) == 0, k.text()[-3000:]
    assert time.monotonic() - t < T(10)
    assert not qdir.exists(), f"{qdir} left behind: {os.listdir(qdir)}"
