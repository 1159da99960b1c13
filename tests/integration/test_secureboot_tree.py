"""scripts/secureboot-tree.sh: Debian's signed chain laid out in a TFTP
root, and the config it prints is one kidou accepts."""
from __future__ import annotations

import glob
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "secureboot-tree.sh"
SHIM = Path("/usr/lib/shim/shimx64.efi.signed")
GRUB = Path("/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed")


def test_lays_out_the_chain(kidou_factory, tmp_path):
    kernel = sorted(glob.glob("/boot/vmlinuz-*"))[-1]
    initrd = tmp_path / "initrd.img"
    initrd.write_bytes(b"\x00" * 512)
    root = tmp_path / "tftp"
    cp = subprocess.run([str(SCRIPT), str(root), kernel, str(initrd)],
                        capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, cp.stderr
    assert (root / "shim/shimx64.efi").read_bytes() == SHIM.read_bytes()
    assert (root / "shim/grubx64.efi").read_bytes() == GRUB.read_bytes()
    assert (root / "linux/vmlinuz").read_bytes() == Path(kernel).read_bytes()
    assert (root / "linux/initrd.img").stat().st_size == 512
    assert not (root / "grub").exists()   # kidou renders /grub/grub.cfg
    cfg = tmp_path / "kidou.ini"
    cfg.write_text(cp.stdout)
    check = kidou_factory.run(["check-config", cfg])
    assert check.returncode == 0, check.stderr
    assert "uefi-x64 = shim/shimx64.efi" in check.stdout


def test_warns_about_a_grub_cfg_on_disk_and_usage(tmp_path):
    root = tmp_path / "tftp"
    (root / "grub").mkdir(parents=True)
    (root / "grub/grub.cfg").write_text("menuentry x {}\n")
    cp = subprocess.run([str(SCRIPT), str(root)], capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0 and "a file on disk wins" in cp.stderr, cp.stderr
    cp = subprocess.run([str(SCRIPT)], capture_output=True, text=True, timeout=60)
    assert cp.returncode == 2 and "TFTP_ROOT" in cp.stderr
