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

import os
import subprocess
import time
from pathlib import Path

import pytest

import vm_lib as V
from kidou_testlib import T, kidou_bin

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


# --------------------------------------------------------------------------
# quick mode: kidou boot --secure-boot


def test_quick_mode_secure_boot(vmnet, sb_tree, tmp_path):
    """`kidou boot --kernel ... --secure-boot`: UEFI x64 firmware gets
    Debian's shim and netboot GRUB, copied by kidou from the packages, and
    GRUB's /grub/grub.cfg is rendered from the quick profile; the signed
    kernel boots with enforcement on."""
    cmdline = f"{APPEND} kidou.quick=secure-boot"
    args = ["boot", "--kernel", sb_tree / V.KERNEL, "--initrd", sb_tree / V.INITRD,
            "--cmdline", cmdline, "--secure-boot", "--interface", V.BRIDGE,
            "--dhcp-range", f"{V.POOL[0]} {V.POOL[1]}",
            "--dhcp-database", tmp_path / "quick-sb.db", "--log-level", "info"]
    k = vmnet.start_kidou(args=args, wait_http=True)
    ready = k.events("ready", mod="main")[-1]
    qdir = Path(ready["config"]).parent
    assert qdir.name.startswith("kidou-boot-"), ready["_line"]
    # BIOS machines (no Secure Boot) keep iPXE; no unsigned ipxe.efi
    assert sorted(os.listdir(qdir)) == ["initrd0", "kernel", "kidou-boot.ini", "shim",
                                        "undionly.kpxe"], os.listdir(qdir)
    assert sorted(os.listdir(qdir / "shim")) == ["grubx64.efi", "shimx64.efi"]
    assert (qdir / V.SB_SHIM).read_bytes() == Path(V.SHIM_SIGNED).read_bytes()
    assert (qdir / V.SB_GRUB).read_bytes() == Path(V.GRUBNET_SIGNED).read_bytes()

    vm = vmnet.vm("secureboot", MAC).start()
    r = V.wait_booted(vm, k)
    vm.stop()
    print(f"quick mode, secure boot: greeting after {r.seconds:.1f}s (accel {vm.accel})")
    console = V.plain(r.console)
    assert "Secure boot enabled" in console, console[-4000:]
    assert r.cmdline.endswith(cmdline), r.cmdline
    ip = r.ip.split("/")[0]
    # the firmware's ACK names shim (the kernel's own DHCP later: none)
    acks = [e for e in k.events("ack", mod="dhcp", mac=MAC) if e["arch"] != "none"]
    assert acks and acks[0]["arch"] == "efi-x64", k.text()
    assert {e["boot"] for e in acks} == {V.SB_SHIM}, k.text()
    done = {f.lstrip("/") for ev, f in tftp_order(k, ip) if ev == "done"}
    assert {V.SB_SHIM, V.SB_GRUB, V.SB_GRUB_CFG, "kernel", "initrd0"} <= done, done
    bad = [line for line in k.lines() if line.startswith(("level=warn", "level=error"))]
    assert not bad, "\n".join(bad)
    assert k.stop(timeout=15) == 0, k.text()[-3000:]
    assert not qdir.exists(), f"{qdir} left behind: {list(qdir.rglob('*'))}"


@pytest.mark.parametrize("kind", ["unsigned-pe", "not-pe", "missing"])
def test_quick_mode_secure_boot_refuses_unsigned_kernel(tmp_path, kind):
    """No VM: an unsigned kernel (syslinux.efi, a PE image with no
    certificate table), a file that is no PE image at all, or no file is
    refused with a clear error, before any socket opens and before the
    private directory is made."""
    if kind == "unsigned-pe":
        kernel = Path(V.SYSLINUX_EFI)
        if not kernel.is_file():
            pytest.fail(f"{kernel} is missing: apt-get install syslinux-efi", pytrace=False)
        assert not V.pe_signed(kernel)
    else:
        kernel = tmp_path / "vmlinuz"
        if kind == "not-pe":
            kernel.write_bytes(b"\x7fELF" + bytes(8000))
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = dict(os.environ, TMPDIR=str(tmpdir))
    cp = subprocess.run([kidou_bin(), "boot", "--kernel", str(kernel), "--secure-boot",
                         "--interface", "lo", "--dhcp-range", "127.0.0.100 127.0.0.200"],
                        capture_output=True, text=True, timeout=T(10), env=env,
                        stdin=subprocess.DEVNULL)
    assert cp.returncode == 2, cp
    err = cp.stderr
    assert f"kidou boot: --kernel {kernel}" in err, err
    if kind == "missing":
        assert "No such file or directory" in err, err
    else:
        assert "has no Authenticode signature" in err and "Secure Boot" in err, err
    assert "event=listening" not in err and "event=ready" not in err, err
    assert not list(tmpdir.iterdir()), list(tmpdir.iterdir())
