#!/usr/bin/python3
"""Network boot of a real (QEMU) VM from kidou: the pieces shared by the
demo (scripts/demo.sh), the test (tests/integration/test_vm_boot.py) and
the benchmark (bench/boot_bench.py), so all three run the same code.

What it does, step by step:

1. `check_requirements()` / `install_packages()`: the Debian packages the
   VM boot needs (PACKAGES).
2. `build_tree(DIR)`: a tftpboot/ tree in the layout of the original design

       pxelinux/pxelinux.0              BIOS boot file (package pxelinux)
       pxelinux/ldlinux.c32             (syslinux-common)
       pxelinux/pxelinux.cfg/default    default linux, prompt 0, ...
       efi64/syslinux.efi               UEFI x64 boot file (syslinux-efi)
       efi64/ldlinux.e64
       efi64/pxelinux.cfg/default       the same menu for syslinux.efi
       linux/vmlinuz                    /boot/vmlinuz-*-cloud-amd64
       linux/initrd.img                 busybox initramfs built here

   The initramfs's /init loads the virtio NIC driver, gets an address
   with udhcpc and prints one line to the console,
   `KIDOU-GREETING ip=<addr> cmdline=<kernel command line>`, then runs a
   shell. When the command line has `kidou.done=URL` (an install boot's
   `${done_url}`), it POSTs to URL with busybox wget instead, prints
   `KIDOU-DONE result=ok|failed try=N response=...` and powers off. `add_host_config()` writes pxelinux.cfg/01-<mac> for one machine.
3. `NetNS`: a network namespace holding bridge br0 (172.24.0.1/16) and tap
   devices; nothing is created in the root namespace.
4. `kidou_args()` / `dnsmasq_args()`: the server command lines (run inside
   the namespace with `ip netns exec`).
5. `qemu_args()` / `VM`: QEMU with -boot n on a tap, BIOS (SeaBIOS + the
   iPXE ROM of ipxe-qemu) or UEFI (OVMF), KVM when /dev/kvm works, else TCG;
   serial console to a file (tests) or to the terminal (demo).

Run as a program it is the demo (see `main()`); root is needed throughout.
"""
from __future__ import annotations

import argparse
import glob
import gzip
import io
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

REPO_ROOT = Path(__file__).resolve().parents[2]

# --------------------------------------------------------------------------
# what is needed

# Debian package -> a file it provides that this module uses.
PACKAGES = {
    "qemu-system-x86": "/usr/bin/qemu-system-x86_64",
    "ipxe-qemu": "/usr/lib/ipxe/qemu/efi-virtio.rom",
    "pxelinux": "/usr/lib/PXELINUX/pxelinux.0",
    "syslinux-common": "/usr/lib/syslinux/modules/bios/ldlinux.c32",
    "syslinux-efi": "/usr/lib/SYSLINUX.EFI/efi64/syslinux.efi",
    "ovmf": "/usr/share/OVMF/OVMF_CODE.fd",
    "linux-image-cloud-amd64": "/boot/vmlinuz-*-cloud-amd64",
    # busybox-static, as the issue asks; the plain `busybox` package (which
    # conflicts with it, and which scripts/setup.sh installs for the udhcpc
    # tests) does as well: build_initrd() copies its libraries along
    "busybox-static": "/usr/bin/busybox",
    "iproute2": "/usr/sbin/ip",
}
# Only for the benchmark's comparison run.
BENCH_PACKAGES = {"dnsmasq-base": "/usr/sbin/dnsmasq"}
# Only for the iPXE chainload and HTTP boot tests (and quick mode): the iPXE
# builds kidou hands to firmware, from Debian's ipxe package.
IPXE_PACKAGES = {"ipxe": "/usr/lib/ipxe/ipxe.efi"}
# Only for the Secure Boot chain (docs/secureboot.md): Debian's signed shim
# and netboot GRUB. (The kernel, linux-image-cloud-amd64, is signed too.)
SHIM_SIGNED = "/usr/lib/shim/shimx64.efi.signed"
GRUBNET_SIGNED = "/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed"
SECUREBOOT_PACKAGES = {"shim-signed": SHIM_SIGNED,
                       "grub-efi-amd64-signed": GRUBNET_SIGNED}
UNDIONLY_KPXE = "/usr/lib/ipxe/undionly.kpxe"
IPXE_EFI = "/usr/lib/ipxe/ipxe.efi"

PXELINUX = "/usr/lib/PXELINUX/pxelinux.0"
LDLINUX_C32 = "/usr/lib/syslinux/modules/bios/ldlinux.c32"
SYSLINUX_EFI = "/usr/lib/SYSLINUX.EFI/efi64/syslinux.efi"
LDLINUX_E64 = "/usr/lib/syslinux/modules/efi64/ldlinux.e64"
OVMF_CODE = "/usr/share/OVMF/OVMF_CODE.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS.fd"
# OVMF built with Secure Boot (and SMM, which guards its variable store),
# and a variable store with Microsoft's keys enrolled and enforcement on:
# what shim's signature (Microsoft's UEFI CA) is checked against.
OVMF_CODE_SB = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"
OVMF_VARS_MS = "/usr/share/OVMF/OVMF_VARS_4M.ms.fd"
QEMU = "qemu-system-x86_64"

# Boot files as kidou and dnsmasq hand them out (paths in the tree).
BOOT_BIOS = "pxelinux/pxelinux.0"
BOOT_UEFI = "efi64/syslinux.efi"
KERNEL = "linux/vmlinuz"
INITRD = "linux/initrd.img"

# The network of the original design.
BRIDGE = "br0"
BRIDGE_CIDR = "172.24.0.1/16"
SERVER_IP = "172.24.0.1"
POOL = ("172.24.32.1", "172.24.32.254")

GREETING = "KIDOU-GREETING"
# the whole line: QEMU writes the console to its file as the guest sends it
GREETING_RE = re.compile(r"KIDOU-GREETING ip=(\S*) cmdline=([^\r\n]*)\r?\n")
DONE_RE = re.compile(r"KIDOU-DONE result=(\S+) try=(\d+) response=([^\r\n]*)\r?\n")
DEFAULT_APPEND = "console=ttyS0,115200 panic=5 kidou.config=default"

# Kernel modules the initramfs loads (and their dependencies): the
# virtio NIC QEMU is given. Built-in on some kernels, modules on Debian's.
NIC_MODULES = ("virtio_pci", "virtio_net")


def _present(pattern: str) -> bool:
    return bool(glob.glob(pattern))


def missing_packages(bench: bool = False, ipxe: bool = False,
                     secureboot: bool = False) -> list[str]:
    """Debian packages (by the file each provides) that are not there."""
    want = dict(PACKAGES)
    if bench:
        want.update(BENCH_PACKAGES)
    if ipxe:
        want.update(IPXE_PACKAGES)
    if secureboot:
        want.update(SECUREBOOT_PACKAGES)
    return [pkg for pkg, path in want.items() if not _present(path)]


def check_requirements(bench: bool = False, ipxe: bool = False,
                       secureboot: bool = False) -> list[str]:
    """Every reason the VM boot can not run here (empty: it can)."""
    problems = []
    miss = missing_packages(bench, ipxe, secureboot)
    if miss:
        problems.append("missing Debian packages: " + " ".join(miss) +
                        " (apt-get install --no-install-recommends " + " ".join(miss) + ")")
    if os.geteuid() != 0:
        problems.append("not root: network namespaces, bridges and taps need root")
    if not os.path.exists("/dev/net/tun"):
        problems.append("/dev/net/tun is missing (tap devices need it)")
    return problems


def install_packages(bench: bool = False, secureboot: bool = False) -> None:
    """apt-get install whatever is missing (as scripts/setup.sh does: no
    recommends, no service starts, the index refreshed only if needed).
    bench: also what bench/boot_bench.py needs (dnsmasq, and the ipxe
    package for its kidou-ipxe and --transport boots); secureboot: shim
    and GRUB, signed."""
    miss = missing_packages(bench, ipxe=bench, secureboot=secureboot or bench)
    if not miss:
        return
    if os.geteuid() != 0:
        raise SystemExit(f"missing packages: {' '.join(miss)} (run as root to install them)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "--no-install-recommends"] + miss
    print(f"vm_lib: installing {' '.join(miss)}", file=sys.stderr, flush=True)
    policy = Path("/usr/sbin/policy-rc.d")
    made_policy = False
    if not policy.exists():
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        made_policy = True
    try:
        if subprocess.run(cmd, env=env).returncode != 0:
            subprocess.run(["apt-get", "update"], env=env, check=True)
            subprocess.run(cmd, env=env, check=True)
    finally:
        if made_policy:
            policy.unlink()
    still = missing_packages(bench, ipxe=bench, secureboot=secureboot or bench)
    if still:
        raise SystemExit(f"vm_lib: still missing after install: {' '.join(still)}")


_kvm_probe: Optional[bool] = None


def kvm_usable() -> bool:
    """True when KVM really runs a guest here: /dev/kvm opens, answers
    KVM_GET_API_VERSION, and a QEMU with -accel kvm -cpu host gets SeaBIOS
    to print its banner on the serial port within 15 s. (Some nested
    hosts open /dev/kvm fine and then fail every VM: QEMU aborts with
    "failed to set MSR", or the guest never runs.) Probed once."""
    global _kvm_probe
    if _kvm_probe is not None:
        return _kvm_probe
    _kvm_probe = False
    try:
        import fcntl
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        if fcntl.ioctl(fd, 0xAE00) != 12:  # KVM_GET_API_VERSION
            return False
    except OSError:
        return False
    finally:
        os.close(fd)
    if not shutil.which(QEMU):
        return False
    import tempfile
    with tempfile.TemporaryDirectory(prefix="kidou-kvm-probe-") as d:
        out = Path(d) / "serial"
        out.write_bytes(b"")
        p = subprocess.Popen([QEMU, "-accel", "kvm", "-cpu", "host", "-machine", "pc",
                              "-m", "64", "-nodefaults", "-no-user-config", "-nographic",
                              "-serial", f"file:{out}", "-monitor", "none", "-net", "none"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and p.poll() is None:
                if b"SeaBIOS" in out.read_bytes():
                    _kvm_probe = True
                    break
                time.sleep(0.05)
        finally:
            if p.poll() is None:
                p.kill()
            p.wait()
    return _kvm_probe


def pick_accel(want: Optional[str] = None) -> str:
    """'kvm' or 'tcg'. want (or $KIDOU_VM_ACCEL): kvm, tcg or auto."""
    want = (want or os.environ.get("KIDOU_VM_ACCEL") or "auto").lower()
    if want == "tcg":
        return "tcg"
    if want == "kvm":
        if not kvm_usable():
            raise RuntimeError("KIDOU_VM_ACCEL=kvm but /dev/kvm does not work here")
        return "kvm"
    if want != "auto":
        raise ValueError(f"accel must be kvm, tcg or auto, not {want!r}")
    return "kvm" if kvm_usable() else "tcg"


# --------------------------------------------------------------------------
# the kernel and the initramfs


def find_kernel() -> tuple[Path, str]:
    """(vmlinuz, release): the newest installed cloud kernel, else the
    newest kernel whose modules are installed."""
    def release(p: str) -> str:
        return os.path.basename(p)[len("vmlinuz-"):]

    def vkey(p: str):
        return [int(x) if x.isdigit() else x for x in re.split(r"[.-]", release(p))]

    for pattern in ("/boot/vmlinuz-*-cloud-amd64", "/boot/vmlinuz-*"):
        cands = [p for p in glob.glob(pattern)
                 if os.path.isdir(f"/lib/modules/{release(p)}")]
        if cands:
            best = max(cands, key=lambda p: [str(x).zfill(8) for x in vkey(p)])
            return Path(best), release(best)
    raise FileNotFoundError("no kernel in /boot with modules in /lib/modules "
                            "(apt-get install linux-image-cloud-amd64)")


def module_load_order(release: str, names=NIC_MODULES) -> list[Path]:
    """The .ko files to insmod, dependencies first, for `names` (module
    names; those built into the kernel are skipped)."""
    base = Path("/lib/modules") / release
    deps: dict[str, list[str]] = {}
    by_name: dict[str, str] = {}
    for line in (base / "modules.dep").read_text().splitlines():
        if ":" not in line:
            continue
        mod, rest = line.split(":", 1)
        deps[mod] = rest.split()
        stem = os.path.basename(mod).split(".ko")[0].replace("-", "_")
        by_name[stem] = mod
    builtin = set()
    bpath = base / "modules.builtin"
    if bpath.exists():
        for line in bpath.read_text().splitlines():
            builtin.add(os.path.basename(line).split(".ko")[0].replace("-", "_"))
    order: list[str] = []

    def visit(mod: str):
        if mod in order:
            return
        for d in deps.get(mod, []):
            visit(d)
        order.append(mod)

    for n in names:
        n = n.replace("-", "_")
        if n in by_name:
            visit(by_name[n])
        elif n not in builtin:
            raise FileNotFoundError(f"kernel module {n} not found for {release}")
    return [base / m for m in order]


INIT_SCRIPT = r"""#!/bin/sh
# kidou demo initramfs: network up, greet, shell.
/bin/busybox mkdir -p /proc /sys /dev /tmp /run /sbin /usr/bin /usr/sbin /root
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
export PATH=/sbin:/usr/sbin:/bin:/usr/bin HOME=/root
echo "kidou-initrd: loading NIC driver"
for m in $(cat /etc/modules.order); do insmod "$m" 2>/dev/null; done
ip link set lo up
# The NIC PXE booted from: BOOTIF=01-<mac> (PXELINUX ipappend 2), else eth0.
bootif=$(sed -n 's/.*BOOTIF=01-\([0-9a-fA-F-]*\).*/\1/p' /proc/cmdline | tr - :)
iface=eth0
n=0
while [ $n -lt 50 ]; do
    for d in /sys/class/net/*; do
        [ -n "$bootif" ] && [ "$(cat $d/address 2>/dev/null)" = "$bootif" ] && iface=${d##*/}
    done
    [ -e /sys/class/net/$iface ] && break
    n=$((n + 1)); sleep 0.1
done
ip link set "$iface" up
echo "kidou-initrd: DHCP on $iface"
udhcpc -i "$iface" -q -n -t 6 -T 2 -s /etc/udhcpc.script -x hostname:kidou-demo >/dev/null 2>&1
addr=$(ip -4 -o addr show dev "$iface" | awk '{print $4}' | head -n 1)
[ -n "$addr" ] || addr=none
echo "KIDOU-GREETING ip=$addr cmdline=$(cat /proc/cmdline)" > /dev/console
# An install boot (kidou's ${done_url} as kidou.done=URL): report done, as
# an installer would at its end, and power off. The URL is one argument
# (it holds ?token=); POST, as the API wants; two retries for a network
# that is slow to come up.
done_url=$(sed -n 's/.*kidou\.done=\([^ ]*\).*/\1/p' /proc/cmdline)
if [ -n "$done_url" ]; then
    result=failed
    for try in 1 2 3; do
        if out=$(wget -q -O - --post-data '' "$done_url" 2>&1); then
            result=ok
            break
        fi
        sleep 1
    done
    echo "KIDOU-DONE result=$result try=$try response=$(echo "$out" | tr -s '\r\n' '  ' | cut -c1-300)" > /dev/console
    poweroff -f
fi
echo "Hello from a machine that booted from the network with kidou. This is a busybox shell;"
echo "'poweroff -f' ends the VM."
exec setsid cttyhack sh -l
"""

UDHCPC_SCRIPT = r"""#!/bin/sh
case "$1" in
deconfig) ip -4 addr flush dev "$interface"; ip link set "$interface" up ;;
bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/${mask:-16}" dev "$interface"
    [ -n "$router" ] && ip route replace default via ${router%% *} dev "$interface"
    ;;
esac
exit 0
"""


class Cpio:
    """A cpio archive in the 'newc' format the kernel unpacks."""

    def __init__(self):
        self.buf = io.BytesIO()
        self.ino = 1
        self.names: set[str] = set()

    def _entry(self, name: str, mode: int, data: bytes = b"", rdev=(0, 0)):
        name = name.lstrip("/")
        if name in self.names:
            return
        self.names.add(name)
        nb = name.encode() + b"\0"
        hdr = "070701" + "".join(f"{v:08x}" for v in (
            self.ino, mode, 0, 0, 2 if stat.S_ISDIR(mode) else 1, 0, len(data),
            0, 0, rdev[0], rdev[1], len(nb), 0))
        self.ino += 1
        self.buf.write(hdr.encode() + nb)
        self.buf.write(b"\0" * (-(110 + len(nb)) % 4))
        self.buf.write(data)
        self.buf.write(b"\0" * (-len(data) % 4))

    def dir(self, name: str):
        parts = name.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            self._entry("/".join(parts[:i]), stat.S_IFDIR | 0o755)

    def file(self, name: str, data: bytes, mode: int = 0o644):
        parent = os.path.dirname(name.strip("/"))
        if parent:
            self.dir(parent)
        self._entry(name, stat.S_IFREG | mode, data)

    def symlink(self, name: str, target: str):
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def chardev(self, name: str, major: int, minor: int, mode: int = 0o600):
        self._entry(name, stat.S_IFCHR | mode, rdev=(major, minor))

    def finish(self) -> bytes:
        self._entry("TRAILER!!!", 0)
        self.buf.write(b"\0" * (-self.buf.tell() % 512))
        return self.buf.getvalue()


def _shared_libs(binary: str) -> list[str]:
    """Absolute paths of the shared libraries `binary` needs ([] if static)."""
    cp = subprocess.run(["ldd", binary], capture_output=True, text=True)
    if cp.returncode != 0:
        return []  # "not a dynamic executable"
    libs = []
    for line in cp.stdout.splitlines():
        m = re.search(r"(/\S+)\s+\(0x", line)
        if m:
            libs.append(m.group(1))
    return libs


def build_initrd(out: Path, release: str, busybox: str = "/usr/bin/busybox",
                 filler_bytes: int = 0) -> Path:
    """Write a gzip'd busybox initramfs for kernel `release` to `out`.
    filler_bytes: add /filler.bin of that many random (incompressible)
    bytes, so that the initrd is that much bigger and still boots (the
    transfer benchmark's large initrd); it is then compressed at level 1,
    which costs little on incompressible data."""
    a = Cpio()
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "tmp",
              "run", "root", "lib/modules"):
        a.dir(d)
    a.chardev("dev/console", 5, 1)
    a.chardev("dev/null", 1, 3, 0o666)
    a.file("bin/busybox", Path(busybox).read_bytes(), 0o755)
    a.symlink("bin/sh", "busybox")
    # busybox-static needs nothing else; a dynamically linked busybox (the
    # plain `busybox` package) brings its libraries along.
    for lib in _shared_libs(busybox):
        a.file(lib, Path(lib).read_bytes(), 0o755)
    loaded = []
    for ko in module_load_order(release):
        dest = f"lib/modules/{ko.name}"
        data = ko.read_bytes()
        if ko.name.endswith(".xz"):
            import lzma
            data, dest = lzma.decompress(data), dest[:-3]
        elif ko.name.endswith(".zst"):
            data = subprocess.run(["zstd", "-dc", str(ko)], capture_output=True,
                                  check=True).stdout
            dest = dest[:-4]
        elif ko.name.endswith(".gz"):
            data, dest = gzip.decompress(data), dest[:-3]
        a.file(dest, data)
        loaded.append("/" + dest)
    a.file("etc/modules.order", ("\n".join(loaded) + "\n").encode())
    a.file("etc/udhcpc.script", UDHCPC_SCRIPT.encode(), 0o755)
    a.file("init", INIT_SCRIPT.encode(), 0o755)
    if filler_bytes:
        a.file("filler.bin", os.urandom(filler_bytes))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(gzip.compress(a.finish(), compresslevel=1 if filler_bytes else 9, mtime=0))
    return out


# --------------------------------------------------------------------------
# the tftpboot tree


def menu(append: str, label: str = "linux") -> str:
    """A PXELINUX / syslinux.efi config booting the demo kernel.
    PXELINUX puts its own directory (pxelinux/ or efi64/) in front of every
    name, even one starting with /; a name starting with :: is sent as it
    is, i.e. from the TFTP root. `ipappend 2` adds BOOTIF=01-<mac> to the
    command line."""
    return (f"default {label}\n"
            f"prompt 0\n"
            f"timeout 0\n"
            f"label {label}\n"
            f"  kernel ::{KERNEL}\n"
            f"  initrd ::{INITRD}\n"
            f"  append {append}\n"
            f"  ipappend 2\n")


def build_tree(root: Path, append: str = DEFAULT_APPEND, kernel: Optional[Path] = None,
               release: Optional[str] = None, ipxe: bool = False,
               initrd_filler: int = 0) -> Path:
    """Lay out the tftpboot tree (see the module doc) under `root`. Files
    are copied, not linked: kidou serves only regular files beneath its
    root. ipxe: also undionly.kpxe and ipxe.efi at the top (add_ipxe);
    initrd_filler: bytes of incompressible padding in the initrd."""
    root = Path(root)
    if kernel is None:
        kernel, release = find_kernel()
    assert release, "release is needed with an explicit kernel"
    for src, dest in ((PXELINUX, "pxelinux/pxelinux.0"),
                      (LDLINUX_C32, "pxelinux/ldlinux.c32"),
                      (SYSLINUX_EFI, "efi64/syslinux.efi"),
                      (LDLINUX_E64, "efi64/ldlinux.e64"),
                      (str(kernel), KERNEL)):
        d = root / dest
        d.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, d)
    build_initrd(root / INITRD, release, filler_bytes=initrd_filler)
    if ipxe:
        add_ipxe(root)
    for cfgdir in ("pxelinux/pxelinux.cfg", "efi64/pxelinux.cfg"):
        (root / cfgdir).mkdir(parents=True, exist_ok=True)
        (root / cfgdir / "default").write_text(menu(append))
    for p in root.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    return root


# iPXE as kidou chainloads it: BIOS PXE firmware gets undionly.kpxe, UEFI
# firmware (PXE over TFTP, or HTTP boot) ipxe.efi, both from the top of the
# tree; iPXE then asks again and gets IPXE_TARGET, its script on kidou's
# HTTP server, rendered from the machine's [profile].
IPXE_BIOS = "undionly.kpxe"
IPXE_UEFI = "ipxe.efi"
HTTP_PORT = 8080
IPXE_TARGET = "${http}/boot.ipxe?mac=${net0/mac}"


def add_ipxe(root: Path) -> Path:
    """Copy Debian's undionly.kpxe and ipxe.efi into the tree (IPXE_BIOS,
    IPXE_UEFI)."""
    for src, dest in ((UNDIONLY_KPXE, IPXE_BIOS), (IPXE_EFI, IPXE_UEFI)):
        d = Path(root) / dest
        shutil.copyfile(src, d)  # follows Debian's ipxe.efi -> /boot/ipxe.efi link
        d.chmod(0o644)
    return Path(root)


def ipxe_config(profiles: dict, hosts: Optional[dict] = None, default: Optional[str] = None,
                http_x64: Optional[str] = None) -> str:
    """A kidou config that chainloads iPXE and boots profiles over HTTP.
    profiles: {name: cmdline} (kernel and initrd: the tree's); hosts:
    {name: (mac, profile)}; default: the [boot] profile; http_x64: the
    [boot] http-x64 URL for UEFI HTTP boot."""
    lines = ["; written by vm_lib.ipxe_config", "[boot]", f"bios = {IPXE_BIOS}",
             f"uefi-x64 = {IPXE_UEFI}", f"ipxe = {IPXE_TARGET}"]
    if http_x64:
        lines.append(f"http-x64 = {http_x64}")
    if default:
        lines.append(f"profile = {default}")
    for name, cmdline in profiles.items():
        lines += ["", f"[profile {name}]", f"kernel = {KERNEL}", f"initrd = {INITRD}",
                  f"cmdline = {cmdline}"]
    for name, (mac, profile) in (hosts or {}).items():
        lines += ["", f"[host {name}]", f"mac = {mac}", f"profile = {profile}"]
    return "\n".join(lines) + "\n"


# The Secure Boot chain (docs/secureboot.md), as Debian ships it: the
# firmware loads shim (signed by Microsoft's UEFI CA), shim loads
# grubx64.efi from its own directory (GRUB signed by Debian, whose key shim
# carries), and GRUB, a netboot image whose prefix is /grub, asks for
# /grub/grub.cfg (kidou renders it from the machine's profile) and then
# the kernel (signed by Debian) and the initrd, all over TFTP.
SB_SHIM = "shim/shimx64.efi"
SB_GRUB = "shim/grubx64.efi"
SB_GRUB_CFG = "grub/grub.cfg"
# shim's and GRUB's probes on the way, in order: all not found.
SB_SHIM_PROBES = ["shim/revocations_sku.efi", "shim/revocations_sbat.efi",
                  "shim/shim_certificate_0.efi"]
SB_GRUB_PROBES = [f"grub/x86_64-efi/{n}.lst" for n in ("command", "fs", "crypto", "terminal")]


def add_secureboot(root: Path) -> Path:
    """Copy Debian's signed shim and netboot GRUB into the tree (SB_SHIM,
    SB_GRUB). No grub.cfg: kidou renders /grub/grub.cfg per machine (a
    file on disk would win over it); grub_menu() is the static one for
    servers that can not render."""
    for src, dest in ((SHIM_SIGNED, SB_SHIM), (GRUBNET_SIGNED, SB_GRUB)):
        d = Path(root) / dest
        d.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, d)
        d.chmod(0o644)
        d.parent.chmod(0o755)
    return Path(root)


def grub_menu(append: str) -> str:
    """A static grub.cfg booting the demo kernel (what kidou renders from
    a profile, for dnsmasq in the benchmark)."""
    return ("set timeout=0\nset default=0\n\nmenuentry \"linux\" {\n"
            f"  linux /{KERNEL} {append}\n  initrd /{INITRD}\n}}\n")


def secureboot_config(profiles: dict, hosts: Optional[dict] = None,
                      default: Optional[str] = None, uefi_x64: str = SB_SHIM) -> str:
    """A kidou config serving the signed chain: UEFI x64 firmware gets
    shim, GRUB's /grub/grub.cfg is rendered from the machine's profile.
    profiles: {name: cmdline}; hosts: {name: (mac, profile)}; default: the
    [boot] profile; uefi_x64: another boot file (the negative test's
    unsigned loader)."""
    lines = ["; written by vm_lib.secureboot_config", "[boot]", f"uefi-x64 = {uefi_x64}"]
    if default:
        lines.append(f"profile = {default}")
    for name, cmdline in profiles.items():
        lines += ["", f"[profile {name}]", f"kernel = {KERNEL}", f"initrd = {INITRD}",
                  f"cmdline = {cmdline}"]
    for name, (mac, profile) in (hosts or {}).items():
        lines += ["", f"[host {name}]", f"mac = {mac}", f"profile = {profile}"]
    return "\n".join(lines) + "\n"


def pe_signed(path: Path) -> bool:
    """True when the PE file has a non-empty certificate table (an
    Authenticode signature; whether it verifies is the firmware's
    business). The same test kidou's pe_sig.c makes."""
    import struct
    d = Path(path).read_bytes()
    if len(d) < 0x40 or d[:2] != b"MZ":
        return False
    pe = struct.unpack_from("<I", d, 0x3C)[0]
    if d[pe:pe + 4] != b"PE\0\0":
        return False
    opt = pe + 24
    magic = struct.unpack_from("<H", d, opt)[0]
    dd = opt + (96 if magic == 0x10B else 112)
    if struct.unpack_from("<I", d, dd - 4)[0] <= 4:
        return False
    return struct.unpack_from("<II", d, dd + 4 * 8)[1] > 0


def mac_config_name(mac: str) -> str:
    """PXELINUX's per-machine config name: 01-<mac with dashes>."""
    return "01-" + mac.lower().replace(":", "-")


def add_host_config(root: Path, mac: str, append: str) -> list[Path]:
    """pxelinux.cfg/01-<mac> for one machine (BIOS and UEFI)."""
    out = []
    for cfgdir in ("pxelinux/pxelinux.cfg", "efi64/pxelinux.cfg"):
        p = Path(root) / cfgdir / mac_config_name(mac)
        p.write_text(menu(append))
        p.chmod(0o644)
        out.append(p)
    return out


# --------------------------------------------------------------------------
# the network namespace


def sh(*cmd, check=True, timeout=30) -> subprocess.CompletedProcess:
    cp = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                        timeout=timeout, stdin=subprocess.DEVNULL)
    if check and cp.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({cp.returncode}): "
                           f"{cp.stderr.strip()}")
    return cp


class NetNS:
    """A network namespace with bridge br0 (172.24.0.1/16) and tap devices
    on it. Bridge and taps exist only inside the namespace; QEMU and the
    server run inside it through `ip netns exec`."""

    def __init__(self, name: str):
        self.name = name
        self.taps: list[str] = []
        self.created = False

    def exists(self) -> bool:
        return os.path.exists(f"/run/netns/{self.name}")

    def setup(self) -> "NetNS":
        if self.exists():
            # left over from a killed run: nothing of ours can still use it
            self.delete()
        sh("ip", "netns", "add", self.name)
        self.created = True
        ip = ("ip", "-n", self.name)
        sh(*ip, "link", "set", "lo", "up")
        sh(*ip, "link", "add", BRIDGE, "type", "bridge", "stp_state", "0",
           "forward_delay", "0")
        sh(*ip, "addr", "add", BRIDGE_CIDR, "dev", BRIDGE)
        sh(*ip, "link", "set", BRIDGE, "up")
        return self

    def add_tap(self, tap: Optional[str] = None) -> str:
        tap = tap or f"tap{len(self.taps)}"
        ip = ("ip", "-n", self.name)
        sh(*ip, "tuntap", "add", "dev", tap, "mode", "tap")
        sh(*ip, "link", "set", tap, "master", BRIDGE)
        sh(*ip, "link", "set", tap, "up")
        self.taps.append(tap)
        return tap

    def exec(self, argv: list) -> list[str]:
        return ["ip", "netns", "exec", self.name] + [str(a) for a in argv]

    def pids(self) -> list[int]:
        out = sh("ip", "netns", "pids", self.name, check=False).stdout.split()
        return [int(p) for p in out if p.isdigit()]

    def delete(self) -> None:
        """Kill whatever still runs in the namespace (only this module's
        processes run there) and delete it."""
        if not self.exists():
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = self.pids()
            if not pids:
                break
            for p in pids:
                try:
                    os.kill(p, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 3.0
            while time.monotonic() < deadline and self.pids():
                time.sleep(0.05)
        sh("ip", "netns", "del", self.name, check=False)
        self.created = False

    def __enter__(self):
        return self.setup()

    def __exit__(self, *exc):
        self.delete()


# --------------------------------------------------------------------------
# the servers


def kidou_bin() -> str:
    return os.environ.get("KIDOU_BIN") or str(REPO_ROOT / "build" / "kidou")


def kidou_args(tree: Path, workdir: Path, log_level: str = "info",
               boot_uefi: bool = True, config: Optional[Path] = None) -> list[str]:
    """kidou's flags for the demo network: DHCP on br0 with a pool in
    172.24.0.0/16, TFTP on port 69 serving `tree`, PXELINUX for BIOS
    (also for QEMU's iPXE ROM, which sends user class iPXE: with no
    --boot-ipxe it is served as the BIOS it runs on) and syslinux.efi for
    UEFI x64.

    config: a config file (ipxe_config()) that says what boots instead;
    then no boot file flag is given (flags would win over the file) and
    HTTP is on at HTTP_PORT, serving the same tree."""
    args = ["--interface", BRIDGE,
            "--dhcp-range", f"{POOL[0]} {POOL[1]}",
            "--dhcp-database", str(Path(workdir) / "kidou-leases.db"),
            "--dhcp-lease-time", "3600",
            "--tftp-root", str(tree),
            "--tftp-listen", "0.0.0.0:69",
            "--log-level", log_level]
    if config is not None:
        return ["--config", str(config)] + args + ["--http-listen", f"0.0.0.0:{HTTP_PORT}"]
    args += ["--boot-bios", BOOT_BIOS]
    if boot_uefi:
        args += ["--boot-uefi-x64", BOOT_UEFI]
    return args


def dnsmasq_args(tree: Path, workdir: Path) -> list[str]:
    """dnsmasq doing the same job as kidou_args(): DHCP (no DNS) on br0,
    the same pool and boot files, TFTP from the same tree."""
    return ["dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0", "--no-ping",
            f"--interface={BRIDGE}", "--bind-interfaces",
            f"--dhcp-range={POOL[0]},{POOL[1]},1h",
            f"--dhcp-leasefile={Path(workdir) / 'dnsmasq.leases'}",
            "--pid-file=", "--user=root", "--log-facility=-", "--log-dhcp",
            "--enable-tftp", f"--tftp-root={tree}",
            "--dhcp-match=set:efi64,option:client-arch,7",
            "--dhcp-match=set:efi64,option:client-arch,9",
            f"--dhcp-boot=tag:!efi64,{BOOT_BIOS}",
            f"--dhcp-boot=tag:efi64,{BOOT_UEFI}"]


class Server:
    """A server process inside the namespace, its output in a log file."""

    def __init__(self, ns: NetNS, argv: list, log_path: Path, name: str):
        self.ns, self.argv, self.log_path, self.name = ns, argv, Path(log_path), name
        self.proc: Optional[subprocess.Popen] = None

    def start(self, ready: str, timeout: float = 15.0) -> "Server":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as logf:
            # own session: a Ctrl-C in the demo's terminal reaches QEMU, and
            # the server is stopped by us afterwards
            self.proc = subprocess.Popen(self.ns.exec(self.argv), stdin=subprocess.DEVNULL,
                                         stdout=logf, stderr=logf, start_new_session=True)
        deadline = time.monotonic() + timeout
        while ready not in self.text():
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}):\n"
                                   f"{self.text()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} not ready after {timeout}s:\n"
                                   f"{self.text()[-3000:]}")
            time.sleep(0.02)
        return self

    def text(self) -> str:
        try:
            return self.log_path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def stop(self, timeout: float = 10.0) -> Optional[int]:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def start_kidou(ns: NetNS, tree: Path, workdir: Path, log_level: str = "info",
                config: Optional[Path] = None) -> Server:
    s = Server(ns, [kidou_bin()] + kidou_args(tree, workdir, log_level, config=config),
               Path(workdir) / "kidou.log", "kidou")
    s.start(ready="mod=dhcp event=listening")
    return s


def start_dnsmasq(ns: NetNS, tree: Path, workdir: Path) -> Server:
    s = Server(ns, dnsmasq_args(tree, workdir), Path(workdir) / "dnsmasq.log", "dnsmasq")
    s.start(ready="TFTP root is")
    return s


# --------------------------------------------------------------------------
# the VM


# OVMF's network boot switches (fw_cfg, OvmfPkg/RUNTIME_CONFIG.md): with
# both PXE stacks off the NIC's only boot options are UEFI HTTP boot.
OVMF_HTTP_BOOT_ONLY = {"opt/org.tianocore/IPv4PXESupport": "n",
                       "opt/org.tianocore/IPv6PXESupport": "n"}


def qemu_args(*, firmware: str, tap: str, mac: str, serial: str, accel: str,
              workdir: Path, memory_mb: int = 512, direct: Optional[tuple] = None,
              nic_rom: bool = True, fw_cfg: Optional[dict] = None) -> list[str]:
    """QEMU booting from the network on `tap`.

    firmware: bios (SeaBIOS; the virtio NIC's ROM from ipxe-qemu does PXE)
    or uefi (OVMF with a private copy of its variable store) or
    secureboot (OVMF's Secure Boot build on q35 with SMM, Microsoft's keys
    enrolled and enforcement on; the NIC gets no option ROM).
    serial: a QEMU -serial value (`file:PATH`) or 'stdio' for the terminal.
    direct: (kernel, initrd, append) to boot Linux without the network
    boot (the benchmark's floor).
    nic_rom: False gives the NIC no option ROM (romfile= empty), so no
    iPXE runs from it: under OVMF the firmware's own network stack
    (VirtioNetDxe, PxeBcDxe, HttpBootDxe) boots; SeaBIOS then has no
    network boot at all.
    fw_cfg: {name: string} passed with -fw_cfg (OVMF_HTTP_BOOT_ONLY)."""
    if firmware not in ("bios", "uefi", "secureboot"):
        raise ValueError(f"firmware must be bios, uefi or secureboot, not {firmware!r}")
    workdir = Path(workdir)
    machine = ["-machine", "pc"]
    if firmware == "secureboot":
        # OVMF's Secure Boot build needs SMM (its variable store is only
        # writable from SMM, so the OS can not change the keys) on q35;
        # S3 off, as OVMF's README asks with SMM.
        machine = ["-machine", "q35,smm=on", "-global",
                   "driver=cfi.pflash01,property=secure,value=on",
                   "-global", "ICH9-LPC.disable_s3=1"]
        # QEMU's iPXE ROM is unsigned: OVMF runs it anyway, but shim then
        # fails through its network stack. OVMF's own (VirtioNetDxe) works.
        nic_rom = False
    a = [QEMU, "-name", f"kidou-{firmware}", *machine, "-accel", accel,
         "-cpu", os.environ.get("KIDOU_VM_CPU") or ("max" if accel == "tcg" else "host"), "-smp", "1", "-m", str(memory_mb),
         "-nographic", "-vga", "none", "-no-reboot", "-no-user-config",
         "-netdev", f"tap,id=n0,ifname={tap},script=no,downscript=no"]
    nic = f"virtio-net-pci,netdev=n0,mac={mac}" + ("" if nic_rom else ",romfile=")
    if direct:
        a += ["-device", nic]
    else:
        a += ["-device", f"{nic},bootindex=1", "-boot", "n"]
    for name, value in (fw_cfg or {}).items():
        if "," in name or "," in value:
            raise ValueError(f"-fw_cfg {name}={value}: no commas")
        a += ["-fw_cfg", f"name={name},string={value}"]
    if serial == "stdio":
        # Ctrl-C stops QEMU (signal=on); the demo then tears everything down
        a += ["-chardev", "stdio,id=con,signal=on", "-serial", "chardev:con",
              "-monitor", "none"]
    else:
        a += ["-serial", serial, "-monitor", "none"]
    if firmware in ("uefi", "secureboot"):
        code, vars_ = (OVMF_CODE, OVMF_VARS) if firmware == "uefi" else \
            (OVMF_CODE_SB, OVMF_VARS_MS)
        vars_copy = workdir / f"OVMF_VARS-{firmware}-{mac.replace(':', '')}.fd"
        shutil.copyfile(vars_, vars_copy)
        a += ["-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={code}",
              "-drive", f"if=pflash,format=raw,unit=1,file={vars_copy}"]
    if direct:
        kernel, initrd, append = direct
        a += ["-kernel", str(kernel), "-initrd", str(initrd), "-append", append]
    return a


@dataclass
class BootResult:
    ok: bool
    seconds: float            # QEMU start to greeting (or to giving up)
    ip: str = ""
    cmdline: str = ""
    console: str = ""
    reason: str = ""


def _mac_seq(i: int) -> str:
    return f"52:54:00:4b:44:{i:02x}"


class VM:
    """One QEMU in the namespace, its serial console in a file."""

    def __init__(self, ns: NetNS, workdir: Path, firmware: str, mac: str,
                 tap: Optional[str] = None, accel: Optional[str] = None,
                 name: Optional[str] = None, direct: Optional[tuple] = None,
                 nic_rom: bool = True, fw_cfg: Optional[dict] = None):
        self.ns, self.firmware, self.mac = ns, firmware, mac
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.name = name or f"vm-{firmware}-{mac.replace(':', '')[-4:]}"
        self.console_path = self.workdir / f"{self.name}.console"
        self.stderr_path = self.workdir / f"{self.name}.qemu.log"
        self.tap = tap or ns.add_tap()
        self.accel = pick_accel(accel)
        self.direct = direct
        self.nic_rom = nic_rom
        self.fw_cfg = dict(fw_cfg or {})
        self.proc: Optional[subprocess.Popen] = None
        self.t0 = 0.0

    def argv(self) -> list[str]:
        return self.ns.exec(qemu_args(firmware=self.firmware, tap=self.tap, mac=self.mac,
                                      serial=f"file:{self.console_path}",
                                      accel=self.accel, workdir=self.workdir,
                                      direct=self.direct, nic_rom=self.nic_rom,
                                      fw_cfg=self.fw_cfg))

    def start(self) -> "VM":
        self.console_path.write_bytes(b"")
        with open(self.stderr_path, "wb") as err:
            self.t0 = time.monotonic()
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                         stdout=err, stderr=err, start_new_session=True)
        return self

    def console(self) -> str:
        try:
            return self.console_path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def wait_greeting(self, timeout: float, marks: Optional[dict] = None) -> BootResult:
        """Poll the console until the initrd's greeting, QEMU's exit or
        the timeout; the VM keeps running (stop() ends it). marks: {text:
        None} is filled with the seconds from QEMU's start at which each
        text first appeared on the console (None if it never did)."""
        deadline = self.t0 + timeout
        marks = marks if marks is not None else {}

        def look():
            text = self.console()
            now = time.monotonic() - self.t0
            for k in marks:
                if marks[k] is None and k in text:
                    marks[k] = now
            m = GREETING_RE.search(text)
            if m:
                return BootResult(True, now, m.group(1), m.group(2).strip(), text)
            return text

        while True:
            r = look()
            if isinstance(r, BootResult):
                return r
            if self.proc.poll() is not None:
                time.sleep(0.2)
                r = look()
                if isinstance(r, BootResult):
                    return r
                err = self.stderr_path.read_text(errors="replace")
                return BootResult(False, time.monotonic() - self.t0, console=r,
                                  reason=f"QEMU exited ({self.proc.returncode}) before the "
                                         f"greeting; QEMU said: {err.strip()[-2000:]}")
            if time.monotonic() > deadline:
                return BootResult(False, time.monotonic() - self.t0, console=r,
                                  reason=f"no greeting within {timeout:.0f}s "
                                         f"(accel={self.accel})")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


_ANSI = re.compile(r"\x1b(\[[0-9;?=]*[A-Za-z]|c)")


def plain(console: str) -> str:
    """Console text without terminal escapes (firmware menus move the
    cursor around), for reading and for failure messages."""
    return _ANSI.sub("", console).replace("\r", "")


def describe_failure(what: str, vm: "VM", r: BootResult, server) -> str:
    """A failed boot for a test report: the console's and the server's
    last lines (server: anything with .text() and .log_path)."""
    console = plain(r.console)
    return (f"{what}: {r.reason}\n"
            f"--- console of {vm.name} (last 4000 chars, {vm.console_path}):\n"
            f"{console[-4000:]}\n"
            f"--- server log (last 4000 chars, {server.log_path}):\n{server.text()[-4000:]}")


def wait_booted(vm: "VM", server) -> BootResult:
    """Wait for the VM's greeting (boot_timeout); a boot that does not get
    there fails the calling test, with the console and the server log."""
    r = vm.wait_greeting(boot_timeout(vm.accel))
    if not r.ok:
        import pytest
        pytest.fail(describe_failure(f"{vm.firmware.upper()} VM {vm.mac} did not boot",
                                     vm, r, server), pytrace=False)
    return r


def boot_timeout(accel: str) -> float:
    """The hard limit for one boot: $KIDOU_VM_TIMEOUT, else 240 s under
    TCG and 120 s under KVM."""
    env = os.environ.get("KIDOU_VM_TIMEOUT")
    if env:
        return float(env)
    return 240.0 if accel == "tcg" else 120.0


# --------------------------------------------------------------------------
# the demo


def _tail_to_terminal(path: Path, stop: threading.Event, tag: str):
    """Copy new lines of the server log to the terminal, between the
    console's lines (CR LF: QEMU has the terminal in raw mode)."""
    tty = sys.stderr.isatty()
    pre, post = ("\033[36m", "\033[0m") if tty else ("", "")
    pos = 0
    pending = b""
    while not stop.is_set():
        try:
            with open(path, "rb") as f:
                f.seek(pos)
                chunk = f.read()
                pos += len(chunk)
        except FileNotFoundError:
            chunk = b""
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            text = line.decode("utf-8", "replace")
            sys.stderr.write(f"\r\n{pre}[{tag}] {text}{post}\r\n")
        if lines:
            sys.stderr.flush()
        stop.wait(0.1)


def demo(firmware: str, workdir: Path, tree: Optional[Path], ns_name: str,
         server: str, mac: str, accel: Optional[str], log_inline: bool) -> int:
    secureboot = firmware == "secureboot"
    problems = check_requirements(bench=(server == "dnsmasq"), secureboot=secureboot)
    if secureboot and server != "kidou":
        problems.append("the secureboot demo runs with kidou (it renders /grub/grub.cfg)")
    if problems:
        print("demo: " + "\n      ".join(problems), file=sys.stderr)
        return 1
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    tree = Path(tree) if tree else workdir / "tftpboot"
    print(f"demo: building the tftpboot tree in {tree}", file=sys.stderr)
    build_tree(tree)
    config = None
    if secureboot:
        # Debian's signed chain (docs/secureboot.md): shim, GRUB, and
        # /grub/grub.cfg rendered by kidou from the [boot] profile
        add_secureboot(tree)
        config = workdir / "kidou-secureboot.ini"
        config.write_text(secureboot_config({"demo": DEFAULT_APPEND}, default="demo"))
    accel = pick_accel(accel)
    ns = NetNS(ns_name)
    srv = None
    stop_tail = threading.Event()
    tail = None
    interrupted = []

    def on_signal(signo, _frame):
        interrupted.append(signo)
        if qemu is not None and qemu.poll() is None:
            qemu.terminate()

    qemu: Optional[subprocess.Popen] = None
    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM,
                                                    signal.SIGHUP)}
    try:
        ns.setup()
        tap = ns.add_tap("tap0")
        print(f"demo: namespace {ns_name}: {BRIDGE} {BRIDGE_CIDR}, {tap}", file=sys.stderr)
        if server == "kidou":
            srv = start_kidou(ns, tree, workdir, config=config)
        else:
            srv = start_dnsmasq(ns, tree, workdir)
        print(f"demo: {server} is serving DHCP on {BRIDGE} ({POOL[0]}-{POOL[1]}) and "
              f"TFTP from {tree}; log: {srv.log_path}", file=sys.stderr)
        argv = ns.exec(qemu_args(firmware=firmware, tap=tap, mac=mac, serial="stdio",
                                 accel=accel, workdir=workdir))
        print(f"demo: starting a {firmware.upper()} VM (mac {mac}, accel {accel}) with an "
              f"empty disk; Ctrl-C ends the demo\n", file=sys.stderr, flush=True)
        if log_inline:
            tail = threading.Thread(target=_tail_to_terminal,
                                    args=(srv.log_path, stop_tail, server), daemon=True)
            tail.start()
        qemu = subprocess.Popen(argv)
        if interrupted:
            qemu.terminate()
        while True:
            try:
                rc = qemu.wait(timeout=1)
                break
            except subprocess.TimeoutExpired:
                continue
        return 0 if rc == 0 or interrupted else rc
    finally:
        if qemu is not None and qemu.poll() is None:
            qemu.kill()
            qemu.wait()
        stop_tail.set()
        if tail:
            tail.join(timeout=2)
        if srv:
            srv.stop()
        ns.delete()
        for s, h in old.items():
            signal.signal(s, h)
        if sys.stdin.isatty():
            subprocess.run(["stty", "sane"], stdin=sys.stdin, check=False)
        print(f"\ndemo: VM stopped, {server} stopped, namespace {ns_name} deleted. "
              f"{server}'s log: {srv.log_path if srv else '-'}", file=sys.stderr)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("check", help="list what is missing for the VM boot")
    p.add_argument("--bench", action="store_true")
    p = sub.add_parser("install", help="apt-get install the missing packages")
    p.add_argument("--bench", action="store_true")
    p.add_argument("--secureboot", action="store_true",
                   help="also shim-signed and grub-efi-amd64-signed")
    p = sub.add_parser("tree", help="build the tftpboot tree into DIR")
    p.add_argument("dir", type=Path)
    p = sub.add_parser("demo", help="boot a VM from kidou, console in this terminal")
    p.add_argument("--firmware", choices=("bios", "uefi", "secureboot"),
                   default=os.environ.get("FIRMWARE", "bios"))
    p.add_argument("--server", choices=("kidou", "dnsmasq"), default="kidou")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/kidou-demo"))
    p.add_argument("--tree", type=Path, help="serve this tree (built/refreshed there)")
    p.add_argument("--netns", default="kidou-demo")
    p.add_argument("--mac", default="52:54:00:12:34:56")
    p.add_argument("--accel", choices=("auto", "kvm", "tcg"),
                   default=os.environ.get("KIDOU_VM_ACCEL", "auto"))
    p.add_argument("--no-inline-log", action="store_true",
                   help="do not copy the server's log lines into the terminal")
    args = ap.parse_args(argv)
    if args.cmd == "check":
        problems = check_requirements(args.bench)
        print("\n".join(problems) or "ok")
        return 1 if problems else 0
    if args.cmd == "install":
        install_packages(args.bench, secureboot=args.secureboot)
        return 0
    if args.cmd == "tree":
        build_tree(args.dir)
        print(args.dir)
        return 0
    return demo(args.firmware, args.workdir, args.tree, args.netns, args.server,
                args.mac, args.accel, not args.no_inline_log)


if __name__ == "__main__":
    sys.exit(main())
