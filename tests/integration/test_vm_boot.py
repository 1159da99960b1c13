"""A real machine with an empty disk boots from kidou (issue #5).

QEMU VMs with no disk boot with -boot n on a tap device in a network
namespace of their own (bridge br0, 172.24.0.1/16): the firmware's PXE ROM
(iPXE, as QEMU ships it) gets its address and boot file from kidou's DHCP,
PXELINUX (BIOS) or syslinux.efi (UEFI, OVMF) comes over kidou's TFTP,
fetches its config, the kernel and a busybox initramfs, and Linux boots to
a shell that prints `KIDOU-GREETING ip=... cmdline=...` on the serial
console, which goes to a file. A test passes only when that line appears
within the hard timeout (vm_lib.boot_timeout: 240 s under TCG). KVM is used
when it really works, else TCG; KIDOU_VM_ACCEL=tcg forces TCG.

The tree, the namespace, the server flags and the QEMU command line come
from vm_lib.py, which the demo (scripts/demo.sh) and the benchmark
(bench/boot_bench.py) use too. Missing packages fail these tests (they do
not skip): vm_lib.PACKAGES lists them.
"""
from __future__ import annotations

import ipaddress
import secrets
from pathlib import Path

import pytest

import vm_lib as V
from kidou_testlib import T

MAC_A = "52:54:00:4b:44:0a"
MAC_B = "52:54:00:4b:44:0b"
BOOT_FILE = {"bios": V.BOOT_BIOS, "uefi": V.BOOT_UEFI}
CFG_DIR = {"bios": "pxelinux/pxelinux.cfg", "uefi": "efi64/pxelinux.cfg"}
LDLINUX = {"bios": "pxelinux/ldlinux.c32", "uefi": "efi64/ldlinux.e64"}
DHCP_ARCH = {"bios": "bios", "uefi": "efi-x64"}


@pytest.fixture(scope="module")
def accel():
    problems = V.check_requirements()
    if problems:
        pytest.fail("the VM boot test can not run here:\n  " + "\n  ".join(problems),
                    pytrace=False)
    return V.pick_accel()


@pytest.fixture
def tree(tmp_path, accel) -> Path:
    return V.build_tree(tmp_path / "tftpboot")


class VmNet:
    """The namespace of one test, the VMs in it and kidou."""

    def __init__(self, tmp_path: Path, factory, accel: str):
        self.tmp = tmp_path
        self.factory = factory
        self.accel = accel
        self.ns = V.NetNS(f"kvm-{secrets.token_hex(3)}")
        self.vms: list[V.VM] = []
        self.kidou = None

    def start_kidou(self, tree: Path):
        k = self.factory(*V.kidou_args(tree, self.tmp, log_level="info"),
                         with_defaults=False, netns=self.ns.name, wait_ready=False,
                         name="kidou")
        k.wait_event("ready", mod="main", timeout=T(10))
        k.wait_event("listening", mod="dhcp", timeout=T(5))
        self.kidou = k
        return k

    def vm(self, firmware: str, mac: str) -> V.VM:
        vm = V.VM(self.ns, self.tmp / "vms", firmware, mac, accel=self.accel)
        self.vms.append(vm)
        return vm

    def teardown(self):
        for vm in self.vms:
            vm.stop()
        if self.kidou is not None:
            self.kidou.stop(timeout=15)  # the factory checks its exit code
        self.ns.delete()


@pytest.fixture
def vmnet(tmp_path, kidou_factory, accel):
    net = VmNet(tmp_path, kidou_factory, accel)
    net.ns.setup()
    try:
        yield net
    finally:
        net.teardown()
    assert not net.ns.exists(), f"namespace {net.ns.name} left behind"


def describe_failure(what: str, vm: V.VM, r: V.BootResult, k) -> str:
    console = V.plain(r.console)
    return (f"{what}: {r.reason}\n"
            f"--- console of {vm.name} (last 4000 chars, {vm.console_path}):\n"
            f"{console[-4000:]}\n"
            f"--- kidou log (last 4000 chars, {k.log_path}):\n{k.text()[-4000:]}")


def wait_booted(vm: V.VM, k) -> V.BootResult:
    r = vm.wait_greeting(V.boot_timeout(vm.accel))
    if not r.ok:
        pytest.fail(describe_failure(f"{vm.firmware.upper()} VM {vm.mac} did not boot",
                                     vm, r, k), pytrace=False)
    return r


def hex_ip_probes(ip: str) -> list[str]:
    """The names PXELINUX tries after 01-<mac>: the address in hex, then
    ever shorter prefixes of it."""
    h = f"{int(ipaddress.IPv4Address(ip)):08X}"
    return [h[:n] for n in range(8, 0, -1)]


def check_kidou_log(k, firmware: str, mac: str, ip: str, tree: Path, own_config: bool):
    """kidou's log tells the whole story of this VM's boot."""
    log = k.text()
    ev = [e for e in k.events(mod="dhcp", mac=mac) if e["event"] in ("offer", "ack")]
    # the firmware's DHCP exchange: iPXE, served as the firmware it runs on
    fw = [e for e in ev if e["boot"] == BOOT_FILE[firmware]]
    assert [e["event"] for e in fw][:2] == ["offer", "ack"], log
    for e in fw:
        assert e["arch"] == DHCP_ARCH[firmware], e["_line"]
        assert e["user_class"] == "iPXE", e["_line"]
        assert e["ip"] == ip, e["_line"]
    # Linux's own DHCP (udhcpc in the initramfs) gets the same address and
    # no boot file
    linux = [e for e in ev if e["event"] == "ack" and e["boot"] == "none"]
    assert linux and all(e["ip"] == ip for e in linux), log

    def from_vm(e):
        return e["peer"].rsplit(":", 1)[0] == ip

    done = {e["file"]: e for e in k.events("done", mod="tftp") if from_vm(e)}
    rejected = {e["file"]: e for e in k.events("reject", mod="tftp") if from_vm(e)}
    cfg = CFG_DIR[firmware]
    mine = f"{cfg}/{V.mac_config_name(mac)}"
    expect = [BOOT_FILE[firmware], LDLINUX[firmware], V.KERNEL, V.INITRD]
    expect.append(mine if own_config else f"{cfg}/default")
    for name in expect:
        assert name in done, f"no finished TFTP transfer of {name}:\n{log}"
        size = (tree / name).stat().st_size
        e = done[name]
        assert int(e["bytes"]) == size, e["_line"]
        assert int(e["rate_kib_s"]) >= 0 and int(e["duration_ms"]) >= 0, e["_line"]
    if own_config:
        # found at the first try: the generic names were never asked for
        assert f"{cfg}/default" not in done, log
        assert not any(f.startswith(cfg + "/") for f in rejected), log
    else:
        # the misses PXELINUX goes through before pxelinux.cfg/default
        for probe in [V.mac_config_name(mac)] + hex_ip_probes(ip):
            e = rejected.get(f"{cfg}/{probe}")
            assert e is not None, f"no TFTP miss logged for {cfg}/{probe}:\n{log}"
            assert e["error"] == "1" and e["reason"] == "not-found", e["_line"]
    assert not k.events("fail", mod="tftp"), log
    bad = [line for line in k.lines() if line.startswith(("level=warn", "level=error"))]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("firmware", ["bios", "uefi"])
def test_vm_boots_from_kidou(vmnet, tree, firmware):
    k = vmnet.start_kidou(tree)
    vm = vmnet.vm(firmware, MAC_A).start()
    r = wait_booted(vm, k)
    vm.stop()
    ip = r.ip.split("/")[0]
    assert ipaddress.IPv4Address(V.POOL[0]) <= ipaddress.IPv4Address(ip) \
        <= ipaddress.IPv4Address(V.POOL[1]), r.ip
    assert r.ip.endswith("/16"), r.ip
    assert "kidou.config=default" in r.cmdline, r.cmdline
    assert f"BOOTIF={V.mac_config_name(MAC_A)}" in r.cmdline, r.cmdline
    check_kidou_log(k, firmware, MAC_A, ip, tree, own_config=False)


def test_second_vm_gets_its_own_config(vmnet, tree):
    """Two VMs at once on the same bridge: A (BIOS) has no config of its
    own and boots pxelinux.cfg/default; B (UEFI) has pxelinux.cfg/01-<mac>
    with another kernel command line, and boots that."""
    V.add_host_config(tree, MAC_B, "console=ttyS0,115200 panic=5 kidou.config=machine-b "
                                   "kidou.role=second")
    k = vmnet.start_kidou(tree)
    a = vmnet.vm("bios", MAC_A).start()
    b = vmnet.vm("uefi", MAC_B).start()
    ra = wait_booted(a, k)
    rb = wait_booted(b, k)
    a.stop()
    b.stop()
    assert "kidou.config=default" in ra.cmdline, ra.cmdline
    assert "kidou.config=machine-b kidou.role=second" in rb.cmdline, rb.cmdline
    assert "kidou.config=default" not in rb.cmdline, rb.cmdline
    ip_a, ip_b = ra.ip.split("/")[0], rb.ip.split("/")[0]
    assert ip_a != ip_b, (ra.ip, rb.ip)
    check_kidou_log(k, "bios", MAC_A, ip_a, tree, own_config=False)
    check_kidou_log(k, "uefi", MAC_B, ip_b, tree, own_config=True)
