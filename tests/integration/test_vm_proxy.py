"""VMs boot from kidou as a proxyDHCP beside another DHCP server.

The network already has a DHCP server that hands out addresses and knows
nothing of network boot: dnsmasq, in a namespace of its own joined to the
VMs' bridge by a veth pair (all inside namespaces this test creates). kidou
runs with `--dhcp-mode proxy` on the bridge: it answers only the firmware,
with where to boot from and no address (PXE 2.1 proxyDHCP), and serves the
files. Each VM must boot to its greeting with dnsmasq's address, and kidou
must never have handed out an address.

Three independent proxyDHCP clients: QEMU's PXE ROM (iPXE) under SeaBIOS,
OVMF's own PXE stack (no NIC option ROM), and OVMF's UEFI HTTP boot; and
quick mode (`kidou boot`) as a proxy.
"""
from __future__ import annotations

import ipaddress
import secrets
import shutil
import time
from pathlib import Path

import pytest

import vm_lib as V

MAC = "52:54:00:4b:44:1a"
NEIGHBOUR_ADDR = "172.24.0.2"
NEIGHBOUR_POOL = ("172.24.40.1", "172.24.40.254")


class DhcpNeighbour:
    """dnsmasq as the network's DHCP server (addresses only, no DNS, no
    boot options) in namespace kdh-<rand>, its vd1 joined to br0 of the
    VM namespace through the veth peer vd0."""

    def __init__(self, vm_ns: str, workdir: Path, extra: tuple = ()):
        # vm_lib.NetNS for running and cleaning up, without its bridge:
        # this namespace is a host on the VMs' bridge, not a second one.
        self.netns = V.NetNS(f"kdh-{secrets.token_hex(3)}")
        ns = self.netns.name
        V.sh("ip", "netns", "add", ns)
        self.netns.created = True
        V.sh("ip", "link", "add", "vd0", "netns", vm_ns, "type", "veth",
             "peer", "name", "vd1", "netns", ns)
        V.sh("ip", "-n", vm_ns, "link", "set", "vd0", "master", V.BRIDGE)
        V.sh("ip", "-n", vm_ns, "link", "set", "vd0", "up")
        V.sh("ip", "-n", ns, "addr", "add", f"{NEIGHBOUR_ADDR}/16", "dev", "vd1")
        V.sh("ip", "-n", ns, "link", "set", "lo", "up")
        V.sh("ip", "-n", ns, "link", "set", "vd1", "up")
        argv = ["dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0", "--no-ping",
                "--interface=vd1", "--bind-interfaces",
                f"--dhcp-range={NEIGHBOUR_POOL[0]},{NEIGHBOUR_POOL[1]},1h",
                f"--dhcp-leasefile={workdir / 'dnsmasq-neighbour.leases'}", "--pid-file=",
                "--user=root", "--log-facility=-", "--log-dhcp", *extra]
        self.server = V.Server(self.netns, argv, workdir / "dnsmasq-neighbour.log", "dnsmasq")

    def start(self) -> "DhcpNeighbour":
        self.server.start(ready="DHCP, IP range")
        return self

    def text(self) -> str:
        return self.server.text()

    def teardown(self):
        self.server.stop()
        self.netns.delete()


@pytest.fixture
def neighbour(vmnet, tmp_path):
    if not shutil.which("dnsmasq"):
        pytest.fail("dnsmasq (package dnsmasq-base, installed by scripts/setup.sh test) is "
                    "missing: it is the DHCP server the proxy works beside", pytrace=False)
    n = DhcpNeighbour(vmnet.ns.name, tmp_path)
    try:
        yield n.start()
    finally:
        n.teardown()
    assert not n.netns.exists(), f"namespace {n.netns.name} left behind"


def proxy_args(tree: Path, db: Path, boot_files: bool = True) -> list[str]:
    """kidou as a proxy on br0, TFTP from tree; boot_files: PXELINUX for
    BIOS and syslinux.efi for UEFI by flag (which would win over a config
    file's [boot])."""
    args = ["--interface", V.BRIDGE, "--dhcp-mode", "proxy", "--dhcp-database", str(db),
            "--tftp-root", str(tree), "--tftp-listen", "0.0.0.0:69",
            "--log-level", "info"]
    if boot_files:
        args += ["--boot-bios", V.BOOT_BIOS, "--boot-uefi-x64", V.BOOT_UEFI]
    return args


@pytest.mark.parametrize("firmware", ["bios", "uefi"])
def test_vm_boots_through_proxy_dhcp(vmnet, vm_tree, neighbour, firmware):
    db = vmnet.tmp / "proxy-leases.db"
    k = vmnet.start_kidou(args=proxy_args(vm_tree, db))
    listening = k.events("listening", mod="dhcp")
    assert listening and listening[0]["mode"] == "proxy", k.text()
    vm = vmnet.vm(firmware, MAC, nic_rom=(firmware == "bios")).start()
    r = V.wait_booted(vm, k)
    vm.stop()
    summary = k.boot_summary_at_stop(MAC)

    # The address is the neighbour's, end to end.
    ip = r.ip.split("/")[0]
    assert ipaddress.IPv4Address(NEIGHBOUR_POOL[0]) <= ipaddress.IPv4Address(ip) \
        <= ipaddress.IPv4Address(NEIGHBOUR_POOL[1]), r.ip
    assert f"DHCPACK(vd1) {ip} {MAC}" in neighbour.text(), neighbour.text()

    # kidou answered the firmware with boot information only.
    mine = k.events(mod="dhcp", mac=MAC)
    offers = [e for e in mine if e["event"] == "proxy-offer"]
    assert offers, k.text()
    boot_file = V.BOOT_BIOS if firmware == "bios" else V.BOOT_UEFI
    assert all(e["boot"] == boot_file and e["ip"] == "-" for e in offers), offers
    # Both firmwares boot from the offer (its PXE discovery control says
    # "boot this file now"), so neither needs to ask again on port 4011
    # (test_dhcp_proxy.py drives that exchange); if one does, the answer
    # must match.
    acks = [e for e in mine if e["event"] == "proxy-ack"]
    assert all(e["ip"] == ip and e["boot"] == boot_file for e in acks), k.text()
    assert not [e for e in mine if e["event"] in ("offer", "ack", "nak")], k.text()

    # ...and served the boot over TFTP to the address the neighbour gave.
    done = {e["file"] for e in k.events("done", mod="tftp")
            if e["peer"].rsplit(":", 1)[0] == ip}
    for name in (boot_file, V.KERNEL, V.INITRD):
        assert name in done, k.text()
    assert not k.events("fail", mod="tftp"), k.text()
    bad = [line for line in k.lines() if line.startswith(("level=warn", "level=error"))
           and "mod=ndp" not in line]
    assert not bad, "\n".join(bad)
    # No lease database: a proxy owns no addresses.
    assert not db.exists()

    # The boot timeline ties the files (asked for by address) to the
    # machine: a proxy learns the address from the firmware's REQUEST to
    # the other server, and sees the kernel's own DHCP pass by at the end.
    assert summary["outcome"] == "booted", summary["_line"]
    assert summary["ip"] == ip, summary["_line"]
    steps = [st.split("@")[0] for st in summary["steps"].split() if not st.startswith("+")]
    assert steps[0] == "dhcp-proxy-offer", summary["_line"]
    assert f"tftp:{boot_file}" in steps and "dhcp-plain" in steps, summary["_line"]
    # (syslinux.efi does a plain DHCP of its own before its config: the
    # kernel's is the last one)
    last_plain = len(steps) - 1 - steps[::-1].index("dhcp-plain")
    assert steps.index(f"tftp:{V.INITRD}") < last_plain, summary["_line"]
    assert int(summary["files"]) >= 3 and summary["failed"] == "0", summary["_line"]


def test_quick_mode_as_proxy(vmnet, vm_tree, neighbour, tmp_path):
    """`kidou boot ... --dhcp-mode proxy`: one kernel for every machine on a
    network whose DHCP server stays in charge (as pixiecore does)."""
    problems = V.check_requirements(ipxe=True)
    if problems:
        pytest.fail("quick mode needs iPXE here:\n  " + "\n  ".join(problems), pytrace=False)
    cmdline = f"console=ttyS0,115200 panic=5 kidou.quick=proxy-{secrets.token_hex(3)}"
    args = ["boot", "--kernel", vm_tree / V.KERNEL, "--initrd", vm_tree / V.INITRD,
            "--cmdline", cmdline, "--interface", V.BRIDGE, "--dhcp-mode", "proxy",
            "--dhcp-database", tmp_path / "quick-proxy.db", "--log-level", "info"]
    k = vmnet.start_kidou(args=args, wait_http=True)
    vm = vmnet.vm("bios", MAC).start()
    r = V.wait_booted(vm, k)
    vm.stop()
    assert r.cmdline.endswith(cmdline), r.cmdline
    ip = r.ip.split("/")[0]
    assert f"DHCPACK(vd1) {ip} {MAC}" in neighbour.text(), neighbour.text()

    # QEMU's ROM is iPXE already: the proxy offer names the script URL.
    offers = [e for e in k.events("proxy-offer", mod="dhcp", mac=MAC)]
    assert offers and offers[0]["boot"].startswith("http://172.24.0.1:"), k.text()
    assert not [e for e in k.events(mod="dhcp", mac=MAC) if e["event"] in ("offer", "ack")]
    got = {e["path"] for e in k.events("request", mod="http")
           if e["peer"].rsplit(":", 1)[0] == ip and e["status"] == "200"}
    assert {"/kernel", "/initrd0"} <= got, k.text()
    assert not (tmp_path / "quick-proxy.db").exists()


def test_uefi_http_boot_through_proxy(vmnet, vm_tree, neighbour, tmp_path):
    """UEFI HTTP boot (OVMF's HttpBootDxe, PXE off) beside another DHCP
    server: kidou's proxy offer (option 60 HTTPClient, the URL in `file`)
    names ipxe.efi on its HTTP server; iPXE then asks again as iPXE and
    gets its script."""
    problems = V.check_requirements(ipxe=True)
    if problems:
        pytest.fail("this test needs iPXE here:\n  " + "\n  ".join(problems), pytrace=False)
    tree = V.add_ipxe(vm_tree)
    cmdline = f"console=ttyS0,115200 panic=5 kidou.proxy=http-{secrets.token_hex(3)}"
    cfg = tmp_path / "proxy-http.ini"
    cfg.write_text(V.ipxe_config({"p": cmdline}, default="p",
                                 http_x64=f"${{http}}/{V.IPXE_UEFI}"))
    db = tmp_path / "proxy-http.db"
    k = vmnet.start_kidou(args=["--config", cfg] + proxy_args(tree, db, boot_files=False)
                          + ["--http-listen", f"0.0.0.0:{V.HTTP_PORT}"], wait_http=True)
    vm = vmnet.vm("uefi", MAC, nic_rom=False, fw_cfg=V.OVMF_HTTP_BOOT_ONLY).start()
    r = V.wait_booted(vm, k)
    vm.stop()
    assert r.cmdline.endswith(cmdline), r.cmdline
    ip = r.ip.split("/")[0]
    assert f"DHCPACK(vd1) {ip} {MAC}" in neighbour.text(), neighbour.text()

    offers = k.events("proxy-offer", mod="dhcp", mac=MAC)
    url = f"http://172.24.0.1:{V.HTTP_PORT}/{V.IPXE_UEFI}"
    firmware = [e for e in offers if e["arch"] == "efi-x64-http"]
    assert firmware and firmware[0]["boot"] == url, k.text()
    assert [e for e in offers if e["user_class"] == "iPXE"], k.text()
    got = {e["path"] for e in k.events("request", mod="http")
           if e["peer"].rsplit(":", 1)[0] == ip and e["status"] == "200"}
    assert {f"/{V.IPXE_UEFI}", f"/{V.KERNEL}", f"/{V.INITRD}"} <= got, k.text()
    assert not k.events("start", mod="tftp"), k.text()
    assert not db.exists()


# --------------------------------------------------------------------------
# Debian's signed chain (docs/secureboot.md) beside another DHCP server

SB_APPEND = "console=ttyS0,115200 panic=5 kidou.config=signed-proxy"

# Stands in for a TFTP server on the other DHCP server's host: prints each
# request's opcode and file name, answers nothing.
TFTP_CATCHER = f"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("{NEIGHBOUR_ADDR}", 69))
print("catching", flush=True)
while True:
    data, peer = s.recvfrom(2048)
    name = data[2:].split(b"\\0")[0].decode("ascii", "replace")
    print(f"rrq op={{data[1]}} file={{name}} peer={{peer[0]}}", flush=True)
"""


@pytest.mark.parametrize("next_server", ["other", "kidou"])
def test_signed_chain_through_proxy(vmnet, vm_tree, tmp_path, next_server):
    """kidou as a proxyDHCP serving shim, beside dnsmasq, under Secure
    Boot. shim takes its server from the proxy offer and fetches GRUB from
    kidou; Debian's GRUB takes it from dnsmasq's ACK (grub2 PR #87, shim
    issue #165). With dnsmasq as it comes (its ACK names itself as next
    server) GRUB asks dnsmasq's host for its files and the boot goes no
    further; with dnsmasq naming kidou as next server (dhcp-boot=
    shim/shimx64.efi,,KIDOU plus dhcp-no-override, docs/secureboot.md) the
    chain boots, with kidou's per-machine grub.cfg. Either way kidou warns
    at startup that the other server must be set up so."""
    problems = V.check_requirements(secureboot=True)
    if problems:
        pytest.fail("the Secure Boot chain can not run here:\n  " + "\n  ".join(problems),
                    pytrace=False)
    tree = V.add_secureboot(vm_tree)
    extra = () if next_server == "other" else (
        f"--dhcp-boot={V.SB_SHIM},,172.24.0.1", "--dhcp-no-override")
    neighbour = DhcpNeighbour(vmnet.ns.name, tmp_path, extra)
    catcher = V.Server(neighbour.netns, ["python3", "-c", TFTP_CATCHER],
                       tmp_path / "tftp-catcher.log", "tftp catcher")
    try:
        neighbour.start()
        catcher.start(ready="catching")
        cfg = tmp_path / "sb-proxy.ini"
        cfg.write_text(V.secureboot_config({"signed": SB_APPEND}, default="signed"))
        k = vmnet.start_kidou(args=["--config", cfg] + proxy_args(tree, tmp_path / "p.db",
                                                                  boot_files=False))
        warns = k.events("secure-boot-proxy", mod="boot")
        assert len(warns) == 1 and warns[0]["level"] == "warn", k.text()
        vm = vmnet.vm("secureboot", MAC).start()
        if next_server == "other":
            deadline = time.monotonic() + V.boot_timeout(vm.accel)
            while "rrq " not in catcher.text() and vm.proc.poll() is None \
                    and time.monotonic() < deadline:
                time.sleep(0.2)
            console = V.plain(vm.console())
            vm.stop()
            asked = [line for line in catcher.text().splitlines() if line.startswith("rrq ")]
            print("asked the other server:", asked)
            # GRUB (from kidou, via shim) asked dnsmasq's host for its
            # files, and kidou never heard of them
            assert asked and "file=/grub/" in asked[0], catcher.text() + console[-3000:]
            done = {e["file"] for e in k.events("done", mod="tftp")}
            assert {V.SB_SHIM, V.SB_GRUB} <= done, k.text()
            assert not [e for e in k.events(mod="tftp") if "/grub/" in e.get("file", "")], \
                k.text()
            return
        r = V.wait_booted(vm, k)
        vm.stop()
    finally:
        catcher.stop()
        neighbour.teardown()
    print(f"signed chain beside dnsmasq (next server kidou): greeting after "
          f"{r.seconds:.1f}s (accel {vm.accel})")
    console = V.plain(r.console)
    assert "Secure boot enabled" in console, console[-4000:]
    assert r.cmdline.endswith(SB_APPEND), r.cmdline
    ip = r.ip.split("/")[0]
    assert ipaddress.IPv4Address(NEIGHBOUR_POOL[0]) <= ipaddress.IPv4Address(ip) \
        <= ipaddress.IPv4Address(NEIGHBOUR_POOL[1]), r.ip
    assert f"DHCPACK(vd1) {ip} {MAC}" in neighbour.text(), neighbour.text()
    assert "next server: 172.24.0.1" in neighbour.text(), neighbour.text()
    assert not [e for e in k.events(mod="dhcp", mac=MAC) if e["event"] in ("offer", "ack")]
    done = {e["file"].lstrip("/") for e in k.events("done", mod="tftp")
            if e["peer"].rsplit(":", 1)[0] == ip}
    assert {V.SB_SHIM, V.SB_GRUB, V.SB_GRUB_CFG, V.KERNEL, V.INITRD} <= done, k.text()
    assert not [line for line in catcher.text().splitlines() if line.startswith("rrq ")]
    bad = [line for line in k.lines() if line.startswith(("level=warn", "level=error"))
           and "mod=ndp" not in line and "event=secure-boot-proxy" not in line]
    assert not bad, "\n".join(bad)
