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
(bench/boot_bench.py) use too; the fixtures (vm_accel, vm_tree, vmnet) are
in conftest.py, shared with test_vm_ipxe.py. Missing packages fail these
tests (they do not skip): vm_lib.PACKAGES lists them.
"""
from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

import vm_lib as V

MAC_A = "52:54:00:4b:44:0a"
MAC_B = "52:54:00:4b:44:0b"
BOOT_FILE = {"bios": V.BOOT_BIOS, "uefi": V.BOOT_UEFI}
CFG_DIR = {"bios": "pxelinux/pxelinux.cfg", "uefi": "efi64/pxelinux.cfg"}
LDLINUX = {"bios": "pxelinux/ldlinux.c32", "uefi": "efi64/ldlinux.e64"}
DHCP_ARCH = {"bios": "bios", "uefi": "efi-x64"}


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
def test_vm_boots_from_kidou(vmnet, vm_tree, firmware):
    tree = vm_tree
    k = vmnet.start_kidou(tree)
    vm = vmnet.vm(firmware, MAC_A).start()
    r = V.wait_booted(vm, k)
    vm.stop()
    ip = r.ip.split("/")[0]
    assert ipaddress.IPv4Address(V.POOL[0]) <= ipaddress.IPv4Address(ip) \
        <= ipaddress.IPv4Address(V.POOL[1]), r.ip
    assert r.ip.endswith("/16"), r.ip
    assert "kidou.config=default" in r.cmdline, r.cmdline
    assert f"BOOTIF={V.mac_config_name(MAC_A)}" in r.cmdline, r.cmdline
    check_kidou_log(k, firmware, MAC_A, ip, tree, own_config=False)


def test_second_vm_gets_its_own_config(vmnet, vm_tree):
    """Two VMs at once on the same bridge: A (BIOS) has no config of its
    own and boots pxelinux.cfg/default; B (UEFI) has pxelinux.cfg/01-<mac>
    with another kernel command line, and boots that."""
    tree = vm_tree
    V.add_host_config(tree, MAC_B, "console=ttyS0,115200 panic=5 kidou.config=machine-b "
                                   "kidou.role=second")
    k = vmnet.start_kidou(tree)
    a = vmnet.vm("bios", MAC_A).start()
    b = vmnet.vm("uefi", MAC_B).start()
    ra = V.wait_booted(a, k)
    rb = V.wait_booted(b, k)
    a.stop()
    b.stop()
    assert "kidou.config=default" in ra.cmdline, ra.cmdline
    assert "kidou.config=machine-b kidou.role=second" in rb.cmdline, rb.cmdline
    assert "kidou.config=default" not in rb.cmdline, rb.cmdline
    ip_a, ip_b = ra.ip.split("/")[0], rb.ip.split("/")[0]
    assert ip_a != ip_b, (ra.ip, rb.ip)
    check_kidou_log(k, "bios", MAC_A, ip_a, tree, own_config=False)
    check_kidou_log(k, "uefi", MAC_B, ip_b, tree, own_config=True)
