"""Fixtures for kidou's integration tests.

kidou under test: $KIDOU_BIN (the Makefile sets it), else build/kidou.
With KIDOU_SANITIZED=1 it is an ASan/UBSan build: timeouts are stretched
(kidou_testlib.SLOW) and any sanitizer report in kidou's stderr fails the
test in the fixture teardown.

Every kidou listens on 127.0.0.1 port 0, i.e. a free ephemeral (high) port
chosen by the kernel at bind time, so there is no window in which another
process could take the port; the port is read back from kidou's
`event=listening addr=...` line.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kidou_testlib import (  # noqa: E402
    SANITIZED, T, Kidou, KidouError, kidou_bin, make_file, run_kidou, sanitizer_findings,
)

# The standard corpus: name -> size. Generated once per session and
# hard-linked into each test's root.
CORPUS_SIZES = {
    "size0.bin": 0,
    "size1.bin": 1,
    "size511.bin": 511,
    "size512.bin": 512,
    "size513.bin": 513,
    "size64k.bin": 64 * 1024,
    "size300k.bin": 300 * 1024,
    "size1m.bin": 1024 * 1024,
    "size40m.bin": 40 * 1024 * 1024,
}


def pytest_report_header(config):
    return [f"kidou: {kidou_bin()} sanitized={SANITIZED}"]


@pytest.fixture(scope="session", autouse=True)
def _kidou_binary():
    path = kidou_bin()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.exit(f"kidou binary not found at {path}: run `make build` or set KIDOU_BIN",
                    returncode=1)
    return path


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> dict:
    """{name: (path, sha256)} for CORPUS_SIZES, deterministic content."""
    d = tmp_path_factory.mktemp("corpus")
    out = {}
    for name, size in CORPUS_SIZES.items():
        sha = make_file(d, name, size)
        out[name] = (d / name, sha)
    return out


@pytest.fixture
def tftp_root(tmp_path, corpus) -> Path:
    """A fresh TFTP root holding (hard links to) the standard corpus."""
    root = tmp_path / "root"
    root.mkdir()
    for name, (path, _sha) in corpus.items():
        os.link(path, root / name)
    return root


class KidouFactory:
    """Starts kidou processes for one test and checks them all at teardown:
    still-running ones get SIGTERM and must exit 0 (or the test's declared
    expect_rc), and no sanitizer report may appear in any stderr."""

    def __init__(self, tmp_path: Path, default_root: Path):
        self.tmp_path = tmp_path
        self.default_root = default_root
        self.instances: list[Kidou] = []
        self.oneshots: list[tuple[list[str], str]] = []

    def __call__(self, *extra_args, root=None, listen="127.0.0.1:0", log_level="debug",
                 netns=None, wait_ready=True, with_defaults=True, name=None) -> Kidou:
        args = []
        if with_defaults:
            args += ["--tftp-root", str(root or self.default_root), "--tftp-listen", listen]
            if log_level:
                args += ["--log-level", log_level]
        args += [str(a) for a in extra_args]
        k = Kidou(self.tmp_path / "kidou", args, netns=netns,
                  name=name or f"kidou{len(self.instances)}")
        self.instances.append(k)
        k.start(wait_ready=wait_ready)
        return k

    def run(self, args, timeout=10.0, **kw) -> subprocess.CompletedProcess:
        """Run kidou to completion (config errors, --help): its output is
        checked for sanitizer reports at teardown too."""
        cp = run_kidou([str(a) for a in args], timeout=timeout, **kw)
        self.oneshots.append((list(args), (cp.stdout or "") + (cp.stderr or "")))
        return cp

    def teardown(self) -> list[str]:
        problems = []
        for k in self.instances:
            if k.proc is None:
                continue
            try:
                rc = k.stop(timeout=15.0)
            except KidouError as e:
                problems.append(str(e))
                rc = k.proc.returncode
            if k.expect_rc is not None and rc != k.expect_rc:
                problems.append(f"{k.log_path.name}: exit code {rc}, expected {k.expect_rc}; "
                                f"log tail:\n{k.text()[-3000:]}")
            hits = k.sanitizer_findings()
            if hits:
                problems.append(f"{k.log_path.name}: sanitizer report in kidou's stderr:\n"
                                + "\n".join(hits[:20]) + f"\n--- full log: {k.log_path}")
        for args, out in self.oneshots:
            hits = sanitizer_findings(out)
            if hits:
                problems.append(f"kidou {args}: sanitizer report:\n" + "\n".join(hits[:20])
                                + "\n" + out[-3000:])
        return problems


@pytest.fixture
def kidou_factory(tmp_path, tftp_root):
    f = KidouFactory(tmp_path, tftp_root)
    yield f
    problems = f.teardown()
    if problems:
        pytest.fail("kidou teardown checks failed:\n\n" + "\n\n".join(problems), pytrace=False)


@pytest.fixture
def kidou(kidou_factory) -> Kidou:
    """kidou on 127.0.0.1:<free port> serving tftp_root, debug logging."""
    return kidou_factory()


# --------------------------------------------------------------------------
# real clients


class Clients:
    """Thin wrappers around the installed TFTP clients. Each returns the
    CompletedProcess; callers assert on exit codes and content."""

    def __init__(self, tmp_path: Path):
        self.dir = tmp_path / "downloads"
        self.dir.mkdir(exist_ok=True)
        self.n = 0

    def out(self, tag="out") -> Path:
        self.n += 1
        return self.dir / f"{tag}-{self.n}"

    @staticmethod
    def _run(cmd, timeout, netns=None, **kw):
        if netns:
            cmd = ["ip", "netns", "exec", netns] + cmd
        return subprocess.run(cmd, capture_output=True, timeout=T(timeout),
                              stdin=kw.pop("stdin", subprocess.DEVNULL), **kw)

    def curl(self, port, remote, local, blksize=None, no_options=False, host="127.0.0.1",
             timeout=60, netns=None, extra=()):
        cmd = ["curl", "-sS", "--fail", "-o", str(local)]
        if blksize is not None:
            cmd += ["--tftp-blksize", str(blksize)]
        if no_options:
            cmd += ["--tftp-no-options"]
        cmd += list(extra)
        cmd.append(f"tftp://{host}:{port}/{remote}")
        return self._run(cmd, timeout, netns)

    def tftp_hpa(self, port, remote, local, mode="binary", host="127.0.0.1", timeout=60,
                 netns=None):
        # tftp-hpa exits 0 even when the server sends an ERROR; callers must
        # look at its output ("Error code N: ...") and the file content.
        cmd = ["tftp", "-v", "-m", mode, host, str(port), "-c", "get", str(remote), str(local)]
        return self._run(cmd, timeout, netns)

    def tftp_hpa_put(self, port, local, remote, host="127.0.0.1", timeout=30):
        cmd = ["tftp", "-v", "-m", "binary", host, str(port), "-c", "put", str(local),
               str(remote)]
        return self._run(cmd, timeout)

    def atftp(self, port, remote, local, options=(), host="127.0.0.1", timeout=60,
              netns=None, extra=()):
        cmd = ["atftp"]
        for k, v in (options.items() if isinstance(options, dict) else options):
            cmd += ["--option", f"{k} {v}"]
        cmd += list(extra)
        cmd += ["-g", "-r", str(remote), "-l", str(local), host, str(port)]
        return self._run(cmd, timeout, netns)


@pytest.fixture
def clients(tmp_path) -> Clients:
    for tool in ("curl", "tftp", "atftp"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed (run scripts/setup.sh test)")
    return Clients(tmp_path)



# --------------------------------------------------------------------------
# VMs booting from kidou (test_vm_boot.py, test_vm_ipxe.py)


def _vm_lib():
    import vm_lib
    return vm_lib


@pytest.fixture(scope="module")
def vm_accel():
    """The QEMU accelerator (KVM if it really works here, else TCG); a
    missing package or capability fails the test (it does not skip)."""
    V = _vm_lib()
    problems = V.check_requirements()
    if problems:
        pytest.fail("the VM boot test can not run here:\n  " + "\n  ".join(problems),
                    pytrace=False)
    return V.pick_accel()


@pytest.fixture
def vm_tree(tmp_path, vm_accel) -> Path:
    """vm_lib's tftpboot tree (PXELINUX, syslinux.efi, kernel, initramfs)."""
    return _vm_lib().build_tree(tmp_path / "tftpboot")


class VmNet:
    """The network namespace of one test (bridge br0 and its taps, see
    vm_lib.NetNS), the VMs in it and kidou, started through the
    kidou_factory so that its exit code and sanitizer reports are checked
    at teardown."""

    def __init__(self, tmp_path: Path, factory: KidouFactory, accel: str):
        import secrets
        V = _vm_lib()
        self.tmp = tmp_path
        self.factory = factory
        self.accel = accel
        self.ns = V.NetNS(f"kvm-{secrets.token_hex(3)}")
        self.vms = []
        self.kidou: Kidou | None = None

    def start_kidou(self, tree: Path | None = None, config_text: str | None = None,
                    args: list | None = None, wait_http: bool = False) -> Kidou:
        """kidou on br0 with vm_lib.kidou_args(tree): PXELINUX, or with
        config_text (vm_lib.ipxe_config) written to a file, iPXE over HTTP.
        args: the whole command line instead (quick mode)."""
        V = _vm_lib()
        if args is None:
            cfg = None
            if config_text is not None:
                cfg = self.tmp / "kidou.ini"
                cfg.write_text(config_text)
                wait_http = True
            args = V.kidou_args(tree, self.tmp, log_level="info", config=cfg)
        k = self.factory(*args, with_defaults=False, netns=self.ns.name, wait_ready=False,
                         name="kidou")
        k.wait_event("ready", mod="main", timeout=T(10))
        k.wait_event("listening", mod="dhcp", timeout=T(5))
        if wait_http:
            k.wait_event("listening", mod="http", timeout=T(5))
        self.kidou = k
        return k

    def vm(self, firmware: str, mac: str, **kw):
        """A VM on a new tap (vm_lib.VM; kw: nic_rom, fw_cfg, name)."""
        V = _vm_lib()
        vm = V.VM(self.ns, self.tmp / "vms", firmware, mac, accel=self.accel, **kw)
        self.vms.append(vm)
        return vm

    def teardown(self):
        for vm in self.vms:
            vm.stop()
        if self.kidou is not None and self.kidou.alive():
            self.kidou.stop(timeout=15)  # the factory checks its exit code
        self.ns.delete()


@pytest.fixture
def vmnet(tmp_path, kidou_factory, vm_accel):
    net = VmNet(tmp_path, kidou_factory, vm_accel)
    net.ns.setup()
    try:
        yield net
    finally:
        net.teardown()
    assert not net.ns.exists(), f"namespace {net.ns.name} left behind"
