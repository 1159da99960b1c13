"""Secure Boot: Debian's signed chain boots from kidou with enforcement on
(issue #16, docs/secureboot.md).

OVMF's Secure Boot build (OVMF_CODE_4M.secboot.fd, q35 with SMM) with
Microsoft's keys enrolled (a copy of OVMF_VARS_4M.ms.fd) verifies every
EFI image it starts. The chain: shim (signed by Microsoft's UEFI CA) from
kidou's TFTP, GRUB (signed by Debian; shim checks it against the key it
carries), /grub/grub.cfg rendered by kidou from the machine's profile, and
the kernel (signed by Debian; GRUB asks shim to verify it). The NIC has no
option ROM: OVMF's own virtio driver and PXE stack do the network boot.

The cases: the chain boots, and the kernel says Secure Boot is on; the
TFTP requests come in the order the issue measured, and the timeline
counts shim's and GRUB's probes apart from misses; an unsigned loader is
refused by the firmware ("Access Denied"), and the timeline says stalled
with a hint. vm_lib.py holds the tree, the QEMU command line and the
config (secureboot_config).
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

import vm_lib as V

MAC = "52:54:00:4b:44:5b"
APPEND = "console=ttyS0,115200 panic=5 kidou.config=signed"


@pytest.fixture
def sb_tree(vm_tree) -> Path:
    problems = V.check_requirements(secureboot=True)
    if problems:
        pytest.fail("the Secure Boot chain can not run here:\n  " + "\n  ".join(problems),
                    pytrace=False)
    return V.add_secureboot(vm_tree)


def tftp_order(k, ip: str) -> list[tuple[str, str]]:
    """(event, file) of every TFTP request from ip, in order: done for a
    download, probe for a tsize-only request, reject for a miss."""
    out = []
    for e in k.events(mod="tftp"):
        if e.get("peer", "").rsplit(":", 1)[0] != ip:
            continue
        if e["event"] in ("done", "reject", "probe"):
            out.append((e["event"], e["file"]))
    return out


def test_signed_chain_boots_with_enforcement(vmnet, sb_tree):
    k = vmnet.start_kidou(sb_tree, config_text=V.secureboot_config({"signed": APPEND},
                                   default="signed"))
    vm = vmnet.vm("secureboot", MAC).start()
    r = V.wait_booted(vm, k)
    vm.stop()
    print(f"secure boot chain: greeting after {r.seconds:.1f}s (accel {vm.accel})")
    console = V.plain(r.console)
    assert "Secure boot enabled" in console, console[-4000:]
    assert r.cmdline.endswith(APPEND), r.cmdline
    ip = r.ip.split("/")[0]

    order = tftp_order(k, ip)
    print("tftp order:", order)
    for e in k.events(mod="tftp"):
        if e["event"] in ("start", "done"):
            print("tftp:", e["_line"])
    files = [f for _, f in order]
    # 1. shim, 2. its probes (all misses), 3. GRUB, 4. GRUB's .lst probes,
    # 5. grub.cfg, 6. kernel and initrd
    want = [V.SB_SHIM] + V.SB_SHIM_PROBES + [V.SB_GRUB] + V.SB_GRUB_PROBES + \
        [V.SB_GRUB_CFG, V.KERNEL, V.INITRD]
    seen = [f.lstrip("/") for f in files]
    pos = [seen.index(w) for w in want]
    assert pos == sorted(pos), order
    done = {f.lstrip("/") for ev, f in order if ev == "done"}
    assert {V.SB_SHIM, V.SB_GRUB, V.SB_GRUB_CFG, V.KERNEL, V.INITRD} <= done, order
    rejected = {f.lstrip("/") for ev, f in order if ev == "reject"}
    assert set(V.SB_SHIM_PROBES + V.SB_GRUB_PROBES) <= rejected, order
    # GRUB asks for its config by one name only: no per-MAC search
    assert not [f for f in seen if "grub.cfg-" in f], order
    bad = [line for line in k.lines() if line.startswith(("level=warn", "level=error"))]
    assert not bad, "\n".join(bad)

    # The timeline: the whole chain, its seven probes apart from misses.
    summary = k.boot_summary_at_stop(MAC)
    print("timeline:", summary["_line"])
    assert summary["outcome"] == "booted" and summary["stage"] == "initrd", summary["_line"]
    assert summary["misses"] == "0" and summary["probes"] == "7", summary["_line"]
    assert summary["files"] == "5" and summary["failed"] == "0", summary["_line"]


def wait_console(vm, text: str, timeout: float) -> str:
    """Poll the VM's console until text appears (or QEMU exits, or the
    timeout); returns the console, plain."""
    deadline = time.monotonic() + timeout
    while True:
        console = V.plain(vm.console())
        if text in console or vm.proc.poll() is not None or time.monotonic() > deadline:
            return console
        time.sleep(0.2)


def test_unsigned_loader_is_refused(vmnet, sb_tree):
    """syslinux.efi (Debian's, unsigned) as the UEFI boot file: OVMF
    fetches it, refuses to start it, and says so; kidou's timeline says the
    boot stalled after the loader, with the Secure Boot hint."""
    assert not V.pe_signed(sb_tree / V.BOOT_UEFI)
    k = vmnet.start_kidou(sb_tree, config_text=V.secureboot_config(
        {"signed": APPEND}, default="signed", uefi_x64=V.BOOT_UEFI))
    vm = vmnet.vm("secureboot", MAC).start()
    console = wait_console(vm, "Access Denied", V.boot_timeout(vm.accel))
    took = time.monotonic() - vm.t0
    vm.stop()
    print(f"unsigned loader: refused after {took:.1f}s (accel {vm.accel})")
    assert "Access Denied" in console, console[-4000:]
    assert V.GREETING not in console
    done = [e["file"] for e in k.events("done", mod="tftp")]
    assert V.BOOT_UEFI in done, k.text()
    summary = k.boot_summary_at_stop(MAC)
    print("timeline:", summary["_line"])
    assert summary["outcome"] == "stalled", summary["_line"]
    assert summary["reason"] == "loader-refused", summary["_line"]
    assert summary["stage"] == "loader", summary["_line"]
    assert "Secure Boot may have refused an unsigned loader" in summary["hint"], summary["_line"]
    assert V.BOOT_UEFI in summary["hint"], summary["_line"]
