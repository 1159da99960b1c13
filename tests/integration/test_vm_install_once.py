"""Install once, then boot from the disk: one VM, three boots (issue #13).

The whole loop the peers get wrong (tink#116, matchbox #349, cobbler
#3329), with a real (QEMU, BIOS) machine that PXE boots from kidou as in
test_vm_boot.py: QEMU's iPXE ROM, PXELINUX over TFTP, its config rendered
by kidou for the machine's MAC (pxelinux.cfg/01-<mac>).

1. The machine's next boot is set through the API to the `install`
   profile, once. The API shows it: profile install, install pending.
2. The VM boots it. The profile's command line carries
   `kidou.done=${done_url}`; the busybox initrd (vm_lib.INIT_SCRIPT) reads
   it from /proc/cmdline, POSTs to it with wget, prints `KIDOU-DONE
   result=ok` and powers off (QEMU runs with -no-reboot and exits). The
   API shows next boot local, no install pending; the done URL replayed is
   refused (403).
3. The same VM (same MAC) starts again. kidou renders PXELINUX's
   `localboot 0`, PXELINUX hands the machine back to the BIOS, and SeaBIOS,
   with no disk, says so on the console (NO_DISK_RE); kidou's timeline for
   the MAC ends with outcome=local.
4. A third boot stays local.

The same with iPXE (test_ipxe_install_once_then_local, two boots: install
and one local): QEMU's iPXE ROM gets kidou's boot.ipxe?mac= script over
HTTP, the install profile's kernel and initrd over HTTP, and for the local
boot the script `exit`, back to SeaBIOS.

Nothing here waits on a clock except the hard limits (vm_lib.boot_timeout
for a boot, T() for kidou): each step waits for what it expects to see.
kidou runs with --timeline-idle 2 so that a boot's timeline closes (and
gets its outcome) soon after the machine goes quiet.
"""
from __future__ import annotations

import json
import re
import subprocess
import time

import pytest

import vm_lib as V
from kidou_testlib import T

MAC = "52:54:00:4b:44:3a"
TOKEN = "e2e-install-once-token-0123456789"
API = f"http://{V.SERVER_IP}:{V.HTTP_PORT}/api/v1"
# The local boot on the serial console under SeaBIOS with no disk:
#   PXELINUX 6.04 PXE ...             (its config: localboot 0)
#   Booting from local disk...        (PXELINUX, back to the BIOS)
#   No more network devices           (QEMU's iPXE ROM, asked again)
#   Booting from Floppy... / DVD/CD... / Hard Disk... Boot failed: ...
#   No bootable device.               (SeaBIOS; it would retry in 60 s)
# With iPXE the script (`exit`) ends the ROM's boot, and from "No more
# network devices" on the console is the same.
NO_DISK_RE = re.compile(r"No bootable device")

# What each loader does: the [boot] lines, what its local boot shows on the
# console before SeaBIOS gives up, and the timeline step that handed it
# the local form.
LOADERS = {
    "pxelinux": {"boot": [f"bios = {V.BOOT_BIOS}"],
                 "console": ["PXELINUX", "Booting from local disk"],
                 "step": f"tftp:pxelinux/pxelinux.cfg/{V.mac_config_name(MAC)}"},
    "ipxe": {"boot": [f"bios = {V.IPXE_BIOS}", f"ipxe = {V.IPXE_TARGET}"],
             "console": [f"/boot.ipxe?mac={MAC}", "[script]"],
             "step": "http:boot.ipxe"},
}


def config(tmp, loader: str) -> str:
    tok = tmp / "api-token"
    tok.write_text(TOKEN + "\n")
    tok.chmod(0o600)
    return "\n".join([
        "; written by test_vm_install_once.py",
        "[boot]",
        *LOADERS[loader]["boot"],
        "",
        "[profile install]",
        f"kernel = {V.KERNEL}",
        f"initrd = {V.INITRD}",
        "cmdline = console=ttyS0,115200 panic=5 kidou.role=install kidou.done=${done_url}",
        "",
        "[host vm1]",
        f"mac = {MAC}",
        "hostname = vm1",
        "",
        "[api]",
        f"token-file = {tok}",
        "",
    ])


class Api:
    """curl inside the VMs' namespace, where kidou's API listens."""

    def __init__(self, ns: V.NetNS):
        self.ns = ns

    def call(self, method: str, url: str, body=None, token: str | None = None):
        args = ["curl", "-sS", "-X", method, "-w", "\n%{http_code}", url]
        if token:
            args += ["-H", f"Authorization: Bearer {token}"]
        if body is not None:
            args += ["-H", "Content-Type: application/json", "--data-binary", json.dumps(body)]
        cp = subprocess.run(self.ns.exec(args), capture_output=True, timeout=T(20))
        assert cp.returncode == 0, cp.stderr
        text, code = cp.stdout.decode().rsplit("\n", 1)
        return int(code), (json.loads(text) if text.strip() else None)

    def machine(self) -> dict:
        st, m = self.call("GET", f"{API}/machines/{MAC}")
        assert st == 200, m
        return m


def wait_console(vm: V.VM, k, pattern: re.Pattern, what: str):
    """The first match of pattern on vm's console, before QEMU exits (a
    match written just before a power off counts) and within the boot's
    hard limit; else the test fails with the console and kidou's log."""
    deadline = vm.t0 + V.boot_timeout(vm.accel)
    while True:
        gone = vm.proc.poll() is not None
        if gone:
            time.sleep(0.2)  # what QEMU wrote last is in the file
        text = V.plain(vm.console())
        m = pattern.search(text)
        if m:
            return m
        if gone or time.monotonic() > deadline:
            pytest.fail(f"{what}: not seen on the console of {vm.name} "
                        f"({'QEMU exited' if gone else 'timed out'}, accel={vm.accel})\n"
                        f"--- console (last 3000 chars):\n{text[-3000:]}\n"
                        f"--- kidou log (last 3000 chars):\n{k.text()[-3000:]}",
                        pytrace=False)
        time.sleep(0.1)


def wait_local_timeline(k, api: Api, after: str | None) -> dict:
    """The machine's timeline once it has closed with outcome local, and
    is not the one that started at `after` (a previous boot's)."""
    def closed():
        t = api.machine()["timeline"]
        return t if t and t["outcome"] == "local" and t["started_at"] != after else None
    return k.wait_for(closed, timeout=T(60), what="a new timeline with outcome=local")


def local_boot(vmnet, k, api: Api, loader: str, tap: str, name: str,
               after: str | None) -> dict:
    """Start the VM again; it must get the local form and fall back to the
    BIOS, which finds no disk; returns its (closed) timeline."""
    vm = vmnet.vm("bios", MAC, tap=tap, name=name).start()
    wait_console(vm, k, NO_DISK_RE, f"{name}: SeaBIOS's 'No bootable device'")
    console = V.plain(vm.console())
    vm.stop()
    # the loader ran its config, the local form, and no kernel started
    for text in LOADERS[loader]["console"]:
        assert text in console, (text, console[-3000:])
    assert "KIDOU-GREETING" not in console and "Linux version" not in console, console[-3000:]
    t = wait_local_timeline(k, api, after)
    labels = [s["name"] for s in t["steps"]]
    assert any(n.startswith(LOADERS[loader]["step"]) for n in labels), t
    assert not any("vmlinuz" in n or "initrd" in n for n in labels), t
    m = api.machine()
    assert m["next_boot"] == {"mode": "local"} and m["install_pending"] is False, m
    return t


def install_boot(vmnet, k, api: Api) -> V.VM:
    """Steps 1 and 2: install once through the API; the VM boots it, calls
    done from its initrd and powers off. Returns the (stopped) VM."""
    st, doc = api.call("PUT", f"{API}/machines/{MAC}/next-boot",
                       {"profile": "install", "once": True}, token=TOKEN)
    assert st == 200, doc
    done_token = doc["done_token"]
    m = api.machine()
    assert m["next_boot"] == {"mode": "profile", "profile": "install", "once": True}, m
    assert m["install_pending"] is True and m["host"] == "vm1", m

    vm = vmnet.vm("bios", MAC, name="boot1-install").start()
    r = V.wait_booted(vm, k)
    assert "kidou.role=install" in r.cmdline, r.cmdline
    url = re.search(r"kidou\.done=(\S+)", r.cmdline).group(1)
    assert url == f"{API}/machines/{MAC}/done?token={done_token}", r.cmdline
    done = wait_console(vm, k, V.DONE_RE, "boot1: the initrd's KIDOU-DONE line")
    assert done.group(1) == "ok", done.group(0)
    answer = json.loads(done.group(3))
    assert answer["next_boot"] == {"mode": "local"} and answer["install_pending"] is False, answer
    # powered off: QEMU exits by itself (-no-reboot)
    vm.proc.wait(timeout=T(60))
    k.wait_event("done", mod="api", mac=MAC, timeout=T(5))
    m = api.machine()
    assert m["next_boot"] == {"mode": "local"} and m["install_pending"] is False, m
    # the done URL is good once
    st, e = api.call("POST", url)
    assert st == 403, e
    k.wait_event("done-refused", mod="api", mac=MAC, reason="no-pending-install", timeout=T(5))
    return vm


def start(vmnet, tree, tmp_path, loader: str):
    cfg = tmp_path / "kidou.ini"
    cfg.write_text(config(tmp_path, loader))
    args = V.kidou_args(tree, tmp_path, log_level="info", config=cfg)
    return vmnet.start_kidou(args=args + ["--timeline-idle", "2"], wait_http=True)


def kernel_fetches(k) -> list[dict]:
    """kidou's log lines of the kernel sent whole, over TFTP or HTTP."""
    return [e for e in k.events("done", mod="tftp") if e.get("file") == V.KERNEL] + \
        [e for e in k.events("request", mod="http")
         if e.get("path") == f"/{V.KERNEL}" and e.get("status") == "200"]


def test_install_once_then_local(vmnet, vm_tree, tmp_path):
    t0 = time.monotonic()
    k = start(vmnet, vm_tree, tmp_path, "pxelinux")
    api = Api(vmnet.ns)
    # 1, 2: install once through the API, the VM installs and calls done
    vm = install_boot(vmnet, k, api)
    boot1 = time.monotonic() - t0
    # 3. the same machine again: local, on the console and in the timeline
    t2 = local_boot(vmnet, k, api, "pxelinux", vm.tap, "boot2-local", after=None)
    boot2 = time.monotonic() - t0
    # 4. and again: still local, never the installer
    t3 = local_boot(vmnet, k, api, "pxelinux", vm.tap, "boot3-local", after=t2["started_at"])
    assert t3["started_at"] != t2["started_at"]
    summaries = k.events("timeline", mod="boot", mac=MAC)
    assert [s["outcome"] for s in summaries].count("local") == 2, k.text()[-4000:]
    # the install profile's kernel was sent once, to boot 1 only
    assert len(kernel_fetches(k)) == 1, kernel_fetches(k)
    print(f"\ntimes (accel={vm.accel}): install boot + done {boot1:.1f}s, "
          f"local boot 2 at {boot2:.1f}s, local boot 3 at {time.monotonic() - t0:.1f}s")


def test_ipxe_install_once_then_local(vmnet, vm_tree, tmp_path):
    problems = V.check_requirements(ipxe=True)
    if problems:
        pytest.fail("the iPXE VM boot test can not run here:\n  " + "\n  ".join(problems),
                    pytrace=False)
    V.add_ipxe(vm_tree)
    t0 = time.monotonic()
    k = start(vmnet, vm_tree, tmp_path, "ipxe")
    api = Api(vmnet.ns)
    vm = install_boot(vmnet, k, api)
    boot1 = time.monotonic() - t0
    local_boot(vmnet, k, api, "ipxe", vm.tap, "boot2-local", after=None)
    assert len(kernel_fetches(k)) == 1, kernel_fetches(k)
    print(f"\ntimes (accel={vm.accel}): install boot + done {boot1:.1f}s, "
          f"local boot 2 at {time.monotonic() - t0:.1f}s")
