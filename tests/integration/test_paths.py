"""File name handling: what is served, what is refused, and with which TFTP
error code. Nothing outside the root may ever be read."""
from __future__ import annotations

import os
import stat
import time

import pytest

from kidou_testlib import OP_DATA, OP_ERROR, RawClient, T, TftpError, det_bytes

SECRET = b"SECRET-OUTSIDE-THE-ROOT\n"


@pytest.fixture
def tree(tmp_path, tftp_root):
    """A root with nested files and symlinks pointing in and out of it."""
    root = tftp_root
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)
    (root / "top.txt").write_bytes(b"top\n")
    (root / "dir" / "sub").mkdir(parents=True)
    (root / "dir" / "file.txt").write_bytes(b"dir/file\n")
    (root / "dir" / "sub" / "deep.txt").write_bytes(b"deep\n")
    (root / "..dotdot-prefix").write_bytes(b"dotdot prefix is just a name\n")
    (root / "suffix..").write_bytes(b"dotdot suffix\n")
    (root / "etc").mkdir()
    (root / "etc" / "hostname").write_bytes(b"the root's own etc/hostname\n")
    os.symlink(outside / "secret.txt", root / "link_abs")
    os.symlink("../outside/secret.txt", root / "link_rel")
    os.symlink("/etc/hostname", root / "link_hostname")
    os.symlink(outside, root / "dirlink")
    os.symlink("../outside", root / "dirlink_rel")
    os.symlink("dir/file.txt", root / "link_in")
    os.symlink("../top.txt", root / "dir" / "up_in")
    os.symlink("dir", root / "dirlink_in")
    os.mkfifo(root / "fifo")
    os.mknod(root / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    return root


def fetch(kidou, name, **kw):
    with RawClient(kidou.port) as c:
        return c.fetch(name, timeout=T(3), **kw)[0]


def refused(kidou, name, code):
    """Request `name`; expect ERROR `code` from the listening port and no
    DATA at all."""
    with RawClient(kidou.port) as c:
        c.rrq(name)
        first = c.recv(T(2))
        assert first is not None, f"no reply to RRQ {name!r}"
        got = [first + (0,)] + c.drain(0.1)
    pkts = [p for p, _, _ in got]
    assert all(p.opcode != OP_DATA for p in pkts), f"{name!r} was served: {pkts}"
    assert len(pkts) == 1 and pkts[0].opcode == OP_ERROR, pkts
    assert pkts[0].code == code, f"{name!r}: {pkts[0]!r}, wanted code {code}"
    assert got[0][1] == ("127.0.0.1", kidou.port)
    return pkts[0]


SERVED = {
    "top.txt": b"top\n",
    "/top.txt": b"top\n",
    "//dir//file.txt": b"dir/file\n",
    "dir\\file.txt": b"dir/file\n",
    "\\dir\\sub\\deep.txt": b"deep\n",
    "dir/sub\\deep.txt": b"deep\n",
    "./dir/./file.txt": b"dir/file\n",
    "..dotdot-prefix": b"dotdot prefix is just a name\n",
    "suffix..": b"dotdot suffix\n",
    # a leading '/' means the root, so "absolute" names stay inside it
    "/etc/hostname": b"the root's own etc/hostname\n",
    # symlinks that stay inside the root are followed
    "link_in": b"dir/file\n",
    "dir/up_in": b"top\n",
    "dirlink_in/sub/deep.txt": b"deep\n",
}


@pytest.mark.parametrize("name", list(SERVED))
def test_served(kidou, tree, name):
    assert fetch(kidou, name) == SERVED[name]
    kidou.wait_event("done", timeout=T(5))
    assert not kidou.events("reject")


ACCESS = {
    # name -> logged reason
    "../outside/secret.txt": "dotdot",
    "..\\outside\\secret.txt": "dotdot",
    "/../outside/secret.txt": "dotdot",
    "dir/../../outside/secret.txt": "dotdot",
    "dir/../top.txt": "dotdot",  # '..' is refused even when it stays inside
    "..": "dotdot",
    "link_abs": "outside-root",
    "link_rel": "outside-root",
    "link_hostname": "outside-root",
    "dirlink/secret.txt": "outside-root",
    "dirlink_rel/secret.txt": "outside-root",
    "dir": "is-directory",
    "dir/sub/": "is-directory",
    "dirlink_in": "is-directory",
    "fifo": "permission",
    "null": "permission",
}


@pytest.mark.parametrize("name", list(ACCESS))
def test_access_violation(kidou, tree, name):
    pkt = refused(kidou, name, 2)
    assert pkt.message == "access violation"
    rej = kidou.wait_event("reject", mod="tftp", timeout=T(5))
    assert rej["error"] == "2" and rej["reason"] == ACCESS[name], rej["_line"]
    assert rej["file"] == name
    assert not kidou.events("start")


NOT_FOUND = ["nope", "dir/nope", "nodir/x", "top.txt/x", "/etc/passwd", "dirlink_in/nope",
             "OUTSIDE"]


@pytest.mark.parametrize("name", NOT_FOUND)
def test_not_found(kidou, tree, tmp_path, name):
    if name == "OUTSIDE":
        # the absolute path of a real file outside: taken relative to the root
        name = str(tmp_path / "outside" / "secret.txt")
    pkt = refused(kidou, name, 1)
    assert pkt.message == "file not found"
    rej = kidou.wait_event("reject", mod="tftp", timeout=T(5))
    assert rej["error"] == "1" and rej["reason"] == "not-found", rej["_line"]


@pytest.mark.parametrize("name", ["", "/", "//", "./", "\\", "a\0b"])
def test_empty_name_is_illegal(kidou, tree, name):
    # "a\0b" ends the file name at the NUL; the rest must be taken as the
    # mode "b", which is unknown.
    refused(kidou, name, 4)
    rej = kidou.wait_event("reject", mod="tftp", timeout=T(5))
    assert rej["error"] == "4"
    assert rej["reason"] in ("bad-name", "bad-mode", "malformed")


def test_symlink_outside_with_real_clients(kidou, tree, clients):
    for name in ("link_abs", "dirlink/secret.txt", "link_hostname"):
        out = clients.out()
        cp = clients.curl(kidou.port, name, out)
        assert cp.returncode == 69, cp  # CURLE_TFTP_PERM
        assert not out.exists() or SECRET not in out.read_bytes()
        out = clients.out()
        cp = clients.atftp(kidou.port, name, out)
        assert cp.returncode != 0
        assert not out.exists() or SECRET not in out.read_bytes()
        out = clients.out()
        cp = clients.tftp_hpa(kidou.port, name, out)
        assert b"Error code 2: access violation" in cp.stdout + cp.stderr, cp
        assert not out.exists() or out.read_bytes() == b""
    rejects = kidou.events("reject", reason="outside-root", error=2)
    assert len(rejects) == 9, [r["_line"] for r in kidou.events("reject")]


def test_dotdot_with_real_clients(kidou, tree, clients):
    # curl would normalise "../" away itself; %2e%2e reaches the server.
    out = clients.out()
    cp = clients.curl(kidou.port, "%2e%2e/outside/secret.txt", out)
    assert cp.returncode == 69, cp
    out = clients.out()
    cp = clients.atftp(kidou.port, "../outside/secret.txt", out)
    assert cp.returncode != 0
    assert not out.exists() or SECRET not in out.read_bytes()
    out = clients.out()
    cp = clients.tftp_hpa(kidou.port, "../outside/secret.txt", out)
    assert b"Error code 2" in cp.stdout + cp.stderr, cp
    assert len(kidou.events("reject", reason="dotdot", error=2)) == 3


def test_missing_and_directory_with_real_clients(kidou, tree, clients):
    cp = clients.curl(kidou.port, "nope", clients.out())
    assert cp.returncode == 68, cp  # CURLE_TFTP_NOTFOUND
    cp = clients.curl(kidou.port, "dir", clients.out())
    assert cp.returncode == 69, cp
    cp = clients.tftp_hpa(kidou.port, "nope", clients.out())
    assert b"Error code 1: file not found" in cp.stdout + cp.stderr, cp
    cp = clients.atftp(kidou.port, "dir", clients.out())
    assert cp.returncode != 0
    assert len(kidou.events("reject", error=1, reason="not-found")) == 2
    assert len(kidou.events("reject", error=2, reason="is-directory")) == 2


def test_backslash_with_real_client(kidou, tree, clients):
    out = clients.out()
    cp = clients.atftp(kidou.port, "dir\\sub\\deep.txt", out)
    assert cp.returncode == 0, cp
    assert out.read_bytes() == b"deep\n"


def test_write_request_refused(kidou, tree, clients, tmp_path):
    src = tmp_path / "upload.bin"
    src.write_bytes(b"x" * 3000)
    cp = clients.tftp_hpa_put(kidou.port, src, "uploaded.bin")
    assert b"Error code 2: read-only server" in cp.stdout + cp.stderr, cp
    assert not (tree / "uploaded.bin").exists()
    rej = kidou.wait_event("reject", timeout=T(5))
    assert rej["error"] == "2" and rej["reason"] == "write" and rej["file"] == "uploaded.bin"
    # overwriting an existing file is refused the same way
    with RawClient(kidou.port) as c:
        c.wrq("top.txt", options={"tsize": 3000})
        pkt = c.expect_error(T(2))
        assert pkt.code == 2
        # no DATA/ACK dance follows
        assert c.drain(T(0.3)) == []
    assert (tree / "top.txt").read_bytes() == b"top\n"
    assert not kidou.events("start")


def test_raw_fetch_refused_leaves_no_transfer(kidou, tree):
    """A refused request must not leave a transfer behind: fetch of a good
    file afterwards works and the log never shows start for the bad one."""
    for name in ACCESS:
        with pytest.raises(TftpError):
            fetch(kidou, name)
    assert fetch(kidou, "top.txt") == b"top\n"
    starts = kidou.events("start")
    assert [s["file"] for s in starts] == ["top.txt"]


def test_file_changed_while_being_served(kidou_factory, tftp_root):
    """A transfer keeps the version it started with when the file is
    replaced by rename (the safe way to update a boot file); requests
    after a change get the new content, whether the file was replaced by
    rename or rewritten in place."""
    k = kidou_factory("--tftp-retransmit-ms", 10000)
    path = tftp_root / "changing.bin"
    v1, v2, v3 = det_bytes(100_000, 1), det_bytes(100_000, 2), det_bytes(70_000, 3)
    path.write_bytes(v1)
    with RawClient(k.port) as slow:
        slow.rrq("changing.bin")
        first = slow.expect(T(2))
        assert first.opcode == OP_DATA and first.data == v1[:512]
        tmp = tftp_root / "changing.tmp"
        tmp.write_bytes(v3)
        os.rename(tmp, path)           # new inode
        assert fetch(k, "changing.bin") == v3
        # the first transfer still sends version 1
        data = bytearray(first.data)
        block = 1
        while True:
            slow.ack(block)
            p = slow.expect(T(2))
            assert p.opcode == OP_DATA and p.block == block + 1
            data += p.data
            block += 1
            if len(p.data) < 512:
                slow.ack(block)
                break
    assert bytes(data) == v1
    time.sleep(0.02)  # a different mtime even on coarse clocks
    with open(path, "r+b") as f:       # same inode, rewritten in place
        f.write(v2)
        f.truncate(len(v2))
    assert fetch(k, "changing.bin") == v2
    assert len(k.wait_events("done", 3, timeout=T(3))) == 3


def test_file_truncated_under_a_transfer_ends_it_cleanly(kidou_factory, tftp_root):
    """A file cut short in place while it is being sent ends that transfer
    with an error and a log line; the server goes on serving. (kidou reads
    a transfer's blocks 256 KiB at a time: what it already holds is sent
    as it was read, so the cut shows at the next read; the file is larger
    than that here.)"""
    k = kidou_factory("--tftp-retransmit-ms", 10000)
    path = tftp_root / "shrinking.bin"
    path.write_bytes(det_bytes(1_000_000, 4))
    with RawClient(k.port) as slow:
        slow.rrq("shrinking.bin")
        first = slow.expect(T(2))
        assert first.opcode == OP_DATA and first.block == 1
        os.truncate(path, 1000)
        got_error = False
        block = 1
        for _ in range(2000):
            slow.ack(block)
            p = slow.expect(T(2))
            if p.opcode == OP_ERROR:
                got_error = True
                break
            assert p.opcode == OP_DATA and p.block == block + 1
            block += 1
        assert got_error
    fails = k.wait_events("fail", 1, timeout=T(3))
    assert fails[0]["reason"] == "file-changed"
    path.write_bytes(b"ok")
    assert fetch(k, "shrinking.bin") == b"ok"


def test_file_over_4gib_refused(kidou, tftp_root):
    """Files are served from memory, up to 4 GiB; a bigger one is refused
    before anything is read."""
    big = tftp_root / "huge.img"
    with open(big, "wb") as f:
        f.truncate((4 << 30) + 1)  # sparse
    pkt = refused(kidou, "huge.img", 0)
    assert pkt.message == "file too large"
    rej = kidou.wait_event("reject", timeout=T(3))
    assert rej["reason"] == "too-large" and rej["error"] == "0"
    assert kidou.alive()
