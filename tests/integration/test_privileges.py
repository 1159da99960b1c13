"""Privileges: what kidou checks as the user it drops to (--user), and how
it confines itself once started (no_new_privs, the seccomp allow-list).

The tests run as root and drop to `nobody`. pytest's own temporary
directories sit below /tmp/pytest-of-root (mode 0700), which nobody cannot
search, so configs and roots that nobody must reach on a reload live in a
world-searchable directory of their own (the `shared` fixture)."""
from __future__ import annotations

import http.client
import os
import pwd
import re
import shutil
import signal
import tempfile
from pathlib import Path

import pytest

from kidou_testlib import RawClient, T


@pytest.fixture
def nobody():
    if os.geteuid() != 0:
        pytest.fail("the privilege tests need root (kidou drops from root to nobody)")
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        pytest.fail("no user 'nobody' to drop to")


@pytest.fixture
def shared():
    """A directory nobody can search, removed afterwards."""
    d = Path(tempfile.mkdtemp(prefix="kidou-priv-", dir="/tmp"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d)


def make_root(parent: Path, name: str, mode: int = 0o755) -> Path:
    """A root holding which.txt ("<name>\\n"), readable by all."""
    r = parent / name
    r.mkdir()
    (r / "which.txt").write_text(f"{name}\n")
    os.chmod(r / "which.txt", 0o644)
    os.chmod(r, mode)
    return r


def tftp_get(port: int, name: str) -> bytes:
    with RawClient(port) as c:
        data, _ = c.fetch(name)
    return data


def http_get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=T(5))
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def http_port(k) -> int:
    ev = k.events("listening", mod="http")
    assert ev, k.text()[-3000:]
    return int(ev[-1]["addr"].rsplit(":", 1)[1])


def proc_status(pid: int, field: str) -> str:
    status = Path(f"/proc/{pid}/status").read_text()
    m = re.search(rf"^{field}:\s+(.*)$", status, re.M)
    assert m, status
    return m.group(1).strip()


def write_config(path: Path, text: str, mode: int = 0o644) -> Path:
    path.write_text(text)
    os.chmod(path, mode)
    return path


def config_text(tftp_root: Path, http_root: Path | None = None) -> str:
    text = f"[daemon]\nuser = nobody\nlog-level = debug\n[tftp]\nroot = {tftp_root}\nlisten = 127.0.0.1:0\n"
    if http_root is not None:
        text += f"[http]\nlisten = 127.0.0.1:0\nroot = {http_root}\n"
    return text


# ---------------------------------------------------------------- the config file


def test_config_unreadable_after_drop_warns(kidou_factory, shared, nobody):
    """A config only root can read works at start, and every SIGHUP then
    fails: kidou says so at start, naming the file and the user."""
    root = make_root(shared, "A")
    cfg = write_config(shared / "k.ini", config_text(root), mode=0o600)
    k = kidou_factory("--config", cfg, with_defaults=False)
    ev = k.events("config-unreadable-after-drop", mod="main")
    assert len(ev) == 1, k.text()
    assert ev[0]["level"] == "warn" and ev[0]["path"] == str(cfg), ev[0]
    assert ev[0]["user"] == "nobody" and "SIGHUP" in ev[0]["note"], ev[0]
    assert tftp_get(k.port, "which.txt") == b"A\n"


def test_config_readable_after_drop_no_warning(kidou_factory, shared, nobody):
    root = make_root(shared, "A")
    cfg = write_config(shared / "k.ini", config_text(root), mode=0o644)
    k = kidou_factory("--config", cfg, with_defaults=False)
    assert not k.events("config-unreadable-after-drop"), k.text()
    assert not k.events("root-unreachable-after-drop"), k.text()
    # and a reload as nobody does work
    k.signal(signal.SIGHUP)
    k.wait_event("reloaded", mod="main", timeout=T(5))


# ---------------------------------------------------------------- roots


@pytest.mark.parametrize("server", ["tftp", "http"])
def test_unsearchable_root_refused_at_start(kidou_factory, shared, nobody, server):
    """A root nobody may not search (0700, owned by root): before, kidou
    started and then failed every request; now it refuses to start and
    names the root and the user."""
    good = make_root(shared, "A")
    bad = make_root(shared, "secret", mode=0o700)
    cfg = write_config(shared / "k.ini", config_text(bad if server == "tftp" else good,
                                                     bad if server == "http" else good))
    cp = kidou_factory.run(["--config", cfg])
    assert cp.returncode == 1, cp
    assert "event=ready" not in cp.stderr, cp.stderr
    line = [ln for ln in cp.stderr.splitlines() if "event=root-unusable" in ln]
    assert len(line) == 1, cp.stderr
    assert f"server={server}" in line[0] and f'root="{bad}"' in line[0], line
    assert 'user="nobody"' in line[0] and "level=error" in line[0], line


@pytest.mark.parametrize("server", ["tftp", "http"])
def test_unsearchable_root_keeps_old_on_reload(kidou_factory, shared, nobody, server):
    """A reload to a root nobody may not search keeps the old root, which
    is still served."""
    a = make_root(shared, "A")
    bad = make_root(shared, "secret", mode=0o700)
    cfg = write_config(shared / "k.ini", config_text(a, a))
    k = kidou_factory("--config", cfg, with_defaults=False)
    hport = http_port(k)
    assert tftp_get(k.port, "which.txt") == b"A\n"
    assert http_get(hport, "/which.txt") == (200, b"A\n")

    write_config(cfg, config_text(bad if server == "tftp" else a, bad if server == "http" else a))
    k.signal(signal.SIGHUP)
    line = k.wait_for(lambda: [ln for ln in k.lines()
                               if "action=keep-old" in ln and f'root="{bad}"' in ln],
                      T(5), "keep-old naming the root")
    assert "Permission denied" in line[0], line
    assert not k.events("reloaded", mod="main"), k.text()
    assert tftp_get(k.port, "which.txt") == b"A\n"
    assert http_get(hport, "/which.txt") == (200, b"A\n")


def test_root_unreachable_by_path_warns(kidou_factory, tmp_path, nobody):
    """A root nobody can search but not reach by its path (a parent is
    root's only) is served, since kidou holds it open, but a reload re-opens
    it by path as nobody: warn at start."""
    root = make_root(tmp_path, "A")   # below /tmp/pytest-of-root (0700)
    k = kidou_factory("--user", "nobody", root=root)
    ev = k.events("root-unreachable-after-drop", mod="main")
    assert len(ev) == 1 and ev[0]["server"] == "tftp" and ev[0]["root"] == str(root), k.text()
    assert tftp_get(k.port, "which.txt") == b"A\n"


# ---------------------------------------------------------------- confinement


def test_no_new_privs_after_drop(kidou_factory, shared, nobody):
    root = make_root(shared, "A")
    k = kidou_factory("--user", "nobody", root=root)
    assert proc_status(k.pid, "Uid").split() == [str(nobody.pw_uid)] * 4
    assert proc_status(k.pid, "NoNewPrivs") == "1"


def test_no_new_privs_without_user(kidou_factory, shared):
    root = make_root(shared, "A")
    k = kidou_factory(root=root)
    assert proc_status(k.pid, "NoNewPrivs") == "1"


# ---------------------------------------------------------------- seccomp
#
# The filter is on by default, so every other integration test runs under it
# too; these check that it is there and walk each feature once on purpose.


def seccomp_mode(pid: int) -> str:
    return proc_status(pid, "Seccomp")


def expect_seccomp_on(k):
    ev = k.events("seccomp", mod="main")
    assert len(ev) == 1, k.text()
    if ev[0]["state"] == "off" and ev[0].get("reason") == "sanitizer-build":
        assert seccomp_mode(k.pid) == "0"
        return False
    assert ev[0]["state"] == "on" and int(ev[0]["syscalls"]) > 0, ev[0]
    assert seccomp_mode(k.pid) == "2", "Seccomp: 2 is filter mode"
    assert proc_status(k.pid, "Seccomp_filters") == "1"
    return True


def test_seccomp_tftp_http_reload(kidou_factory, shared, nobody):
    """Under the filter, as nobody: TFTP (octet, netascii, options, errors),
    HTTP (whole, range, generated /metrics, 404), two reloads (one kept
    old), then a clean exit (the fixture wants rc 0, not SIGSYS)."""
    a = make_root(shared, "A")
    b = make_root(shared, "B")
    (a / "big.bin").write_bytes(bytes(range(256)) * 4096)
    os.chmod(a / "big.bin", 0o644)
    cfg = write_config(shared / "k.ini", config_text(a, a))
    k = kidou_factory("--config", cfg, with_defaults=False)
    expect_seccomp_on(k)
    hport = http_port(k)

    assert tftp_get(k.port, "which.txt") == b"A\n"
    with RawClient(k.port) as c:
        data, oack = c.fetch("big.bin", options={"blksize": 1400, "windowsize": 4, "tsize": 0})
    assert data == bytes(range(256)) * 4096 and oack["tsize"] == str(len(data)), oack
    with RawClient(k.port) as c:
        data, _ = c.fetch("which.txt", mode="netascii")
    assert data == b"A\r\n"
    with RawClient(k.port) as c:
        c.rrq("missing.bin")
        assert c.expect_error(T(2)).code == 1

    assert http_get(hport, "/which.txt") == (200, b"A\n")
    conn = http.client.HTTPConnection("127.0.0.1", hport, timeout=T(5))
    conn.request("GET", "/big.bin", headers={"Range": "bytes=256-511"})
    resp = conn.getresponse()
    assert resp.status == 206 and resp.read() == bytes(range(256))
    conn.close()
    status, body = http_get(hport, "/metrics")
    assert status == 200 and b"kidou_tftp_requests_total" in body
    assert http_get(hport, "/nothing-here")[0] == 404

    write_config(cfg, config_text(b, b))
    k.signal(signal.SIGHUP)
    k.wait_event("reloaded", mod="main", timeout=T(5))
    assert tftp_get(k.port, "which.txt") == b"B\n"
    assert http_get(hport, "/which.txt") == (200, b"B\n")

    write_config(cfg, config_text(shared / "gone", b))
    k.signal(signal.SIGHUP)
    k.wait_for(lambda: [ln for ln in k.lines() if "action=keep-old" in ln], T(5), "keep-old")
    assert tftp_get(k.port, "which.txt") == b"B\n"
    assert k.alive() and seccomp_mode(k.pid) in ("0", "2")
    assert k.stop() == 0, k.text()[-3000:]


def test_seccomp_off_by_config(kidou_factory, shared):
    root = make_root(shared, "A")
    k = kidou_factory("--seccomp", "no", root=root)
    ev = k.events("seccomp", mod="main")
    assert len(ev) == 1 and ev[0]["state"] == "off" and ev[0]["reason"] in ("config", "sanitizer-build"), k.text()
    assert seccomp_mode(k.pid) == "0"
    assert proc_status(k.pid, "NoNewPrivs") == "1"
    assert tftp_get(k.port, "which.txt") == b"A\n"


def test_seccomp_bad_value(kidou_factory, shared):
    cp = kidou_factory.run(["--tftp-root", shared, "--seccomp", "maybe"])
    assert cp.returncode != 0 and '"maybe" is not yes or no' in cp.stderr, cp.stderr
