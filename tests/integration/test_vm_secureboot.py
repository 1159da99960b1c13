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

import shutil
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
