"""netascii (RFC 1350 / RFC 764) is converted block by block as it is sent:
real clients get the expected bytes, retransmissions repeat them exactly,
tsize follows the documented rule, and never-acknowledged requests for a
big file cannot grow kidou's memory."""
from __future__ import annotations

import hashlib

from kidou_testlib import OP_DATA, OP_OACK, RawClient, T, sha256_bytes

# A text chunk with LF, bare CR and CR LF; conversion is byte by byte, so
# the conversion of chunk * k is convert(chunk) * k.
CHUNK = b"".join(b"line %05d: " % i + b"x" * (i % 53) + (b"\r\n" if i % 7 == 0 else
                 b"\rmid\n" if i % 11 == 0 else b"\n") for i in range(1000))


def convert(data: bytes) -> bytes:
    return data.replace(b"\r", b"\r\0").replace(b"\n", b"\r\n")


def write_repeated(path, total: int) -> tuple[int, str]:
    """Write CHUNK repeated up to total bytes; return (wire size, sha256 of
    the netascii form)."""
    h = hashlib.sha256()
    wire = 0
    conv = convert(CHUNK)
    with open(path, "wb") as f:
        left = total
        while left > 0:
            part = CHUNK[:left]
            f.write(part)
            c = conv if len(part) == len(CHUNK) else convert(part)
            h.update(c)
            wire += len(c)
            left -= len(part)
    return wire, h.hexdigest()


def vm_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS line")


def test_curl_netascii_bigger_than_old_cap(kidou, clients, tftp_root):
    """curl -B asks for netascii and writes the wire bytes as they come: a
    file over 64 MiB (refused before, when it was converted whole in
    memory) arrives as its exact conversion. curl asks for tsize, which a
    file this big does not get (see docs/tftp.md)."""
    wire, sha = write_repeated(tftp_root / "big.txt", (64 << 20) + 4097)
    local = clients.out("big")
    cp = clients.curl(kidou.port, "big.txt", local, blksize=65464, extra=["-B"],
                      timeout=120)
    assert cp.returncode == 0, cp.stderr.decode(errors="replace")
    assert local.stat().st_size == wire
    h = hashlib.sha256()
    with open(local, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    assert h.hexdigest() == sha
    start = kidou.wait_event("start", file="big.txt")
    assert start["mode"] == "netascii"
    assert start["tsize"] == "no"
    kidou.wait_event("done", file="big.txt", bytes=wire, timeout=T(10))


def test_tftp_hpa_and_atftp_roundtrip(kidou, clients, tftp_root):
    """tftp-hpa (-m ascii, lock step) and atftp (mode netascii, windowsize
    16) convert back to the local form: a text longer than one converted
    span (256 KiB) round-trips, pairs split at block edges included."""
    src = CHUNK * 9
    (tftp_root / "text.txt").write_bytes(src)
    local = clients.out("hpa")
    cp = clients.tftp_hpa(kidou.port, "text.txt", local, mode="ascii")
    output = (cp.stdout + cp.stderr).decode(errors="replace")
    assert cp.returncode == 0 and "Error" not in output, output
    assert local.read_bytes() == src
    local = clients.out("atftp")
    cp = clients.atftp(kidou.port, "text.txt", local,
                       options=[("mode", "netascii"), ("blksize", 1428), ("windowsize", 16)])
    assert cp.returncode == 0, (cp.stdout + cp.stderr).decode(errors="replace")
    assert local.read_bytes() == src
    dones = kidou.wait_events("done", 2, file="text.txt", timeout=T(10))
    assert all(int(d["bytes"]) == len(convert(src)) for d in dones)


def test_tsize_small_counted_big_omitted(kidou, tftp_root):
    """RFC 2349 in netascii: a small file's converted size is counted; a
    big one's would take a read of the whole file, so tsize is left out
    of the OACK, and a request with tsize alone gets DATA at once."""
    small = b"a\nb\r\nc\r" * 100
    (tftp_root / "small.txt").write_bytes(small)
    big = CHUNK * 4  # > 64 KiB
    (tftp_root / "big.txt").write_bytes(big)
    with RawClient(kidou.port) as c:
        data, oack = c.fetch("small.txt", mode="netascii", options={"tsize": 0})
    assert oack == {"tsize": str(len(convert(small)))}
    assert data == convert(small)
    with RawClient(kidou.port) as c:
        data, oack = c.fetch("big.txt", mode="netascii", options={"tsize": 0, "blksize": 1024})
    assert oack == {"blksize": "1024"}
    assert data == convert(big)
    with RawClient(kidou.port) as c:
        c.rrq("big.txt", "netascii", {"tsize": 0})
        first = c.expect(T(3))
        assert first.opcode == OP_DATA and first.block == 1, first
        c.error(0, "probe done")
    # octet still carries the file size
    with RawClient(kidou.port) as c:
        _, oack = c.fetch("big.txt", options={"tsize": 0})
    assert oack == {"tsize": str(len(big))}


def _recv_data(c, block, timeout):
    while True:
        got = c.recv(timeout)
        assert got is not None, f"no DATA {block}"
        pkt, addr = got
        if addr == c.tid and pkt.opcode == OP_DATA and pkt.block == block & 0xFFFF:
            return pkt.data


def test_retransmission_repeats_block_after_buffer_moved(kidou, tftp_root):
    """Lock step: after block 512 (the end of the first converted span) the
    server converts ahead; a lost ACK makes it send 512 again, which must
    be converted again byte for byte. Then a window (RFC 7440) that
    straddles a span edge times out and is resent identically."""
    src = CHUNK * 12
    want = convert(src)
    (tftp_root / "t.txt").write_bytes(src)
    with RawClient(kidou.port) as c:
        c.rrq("t.txt", "netascii", {"timeout": 1})
        assert c.expect(T(3)).opcode == OP_OACK
        c.ack(0)
        got = b""
        for b in range(1, 513):
            got += _recv_data(c, b, T(3))
            if b < 512:
                c.ack(b)
        again = _recv_data(c, 512, T(5))  # our ACK 512 "was lost"
        assert again == got[-512:]
        c.ack(512)
        while True:
            b = len(got) // 512 + 1
            data = _recv_data(c, b, T(3))
            got += data
            c.ack(b)
            if len(data) < 512:
                break
    assert got == want

    with RawClient(kidou.port) as c:
        c.rrq("t.txt", "netascii", {"timeout": 1, "windowsize": 7})
        assert c.expect(T(3)).opcode == OP_OACK
        c.ack(0)
        got = b""
        b = 1
        retried = False
        while True:
            window = []
            for _ in range(7):
                data = _recv_data(c, b + len(window), T(3))
                window.append(data)
                if len(data) < 512:
                    break
            if b <= 512 < b + len(window) and not retried:
                # no ACK for the window across the span edge: resent
                retried = True
                for i, data in enumerate(window):
                    assert _recv_data(c, b + i, T(5)) == data
            got += b"".join(window)
            b += len(window)
            c.ack(b - 1)
            if len(window[-1]) < 512:
                break
        assert retried
    assert got == want


def test_never_acked_requests_keep_memory_bounded(kidou, tftp_root, corpus):
    """Five netascii requests for a 64 MiB file, never acknowledged: kidou's
    RSS stays within 32 MiB of what it was (it grew by 320 MiB when each
    request converted the whole file), and another client is served
    meanwhile."""
    write_repeated(tftp_root / "huge.txt", 64 << 20)
    with RawClient(kidou.port) as c:
        data, _ = c.fetch("size64k.bin", timeout=T(3))
    base = vm_rss_kib(kidou.proc.pid)
    attackers = [RawClient(kidou.port) for _ in range(5)]
    try:
        for i, a in enumerate(attackers):
            a.rrq("huge.txt", "netascii", {"blksize": 1428} if i % 2 else ())
        kidou.wait_events("start", 5, file="huge.txt", timeout=T(30))
        peak = vm_rss_kib(kidou.proc.pid)
        with RawClient(kidou.port) as c:
            data, _ = c.fetch("size64k.bin", options={"tsize": 0}, timeout=T(5))
        assert sha256_bytes(data) == corpus["size64k.bin"][1]
        peak = max(peak, vm_rss_kib(kidou.proc.pid))
        for a in attackers:
            got = a.recv(T(3))
            assert got is not None
    finally:
        for a in attackers:
            a.close()
    assert kidou.events("done", file="size64k.bin")
    assert peak - base < 32 * 1024, f"RSS grew from {base} KiB to {peak} KiB"
