"""Real TFTP clients (curl, tftp-hpa, atftp) fetch files of awkward sizes
from kidou; content is compared by sha256 and the server's log must show
the negotiated parameters and a clean `done`."""
from __future__ import annotations

import hashlib

import pytest

from kidou_testlib import RawClient, T, sha256_file

SMALL = ["size0.bin", "size1.bin", "size511.bin", "size512.bin", "size513.bin",
         "size1m.bin"]

# id -> (client, client kwargs, expected start-line fields)
VARIANTS = {
    "curl-default": ("curl", {}, {"blksize": 512, "windowsize": 1, "tsize": "yes",
                                  "oack": "yes"}),
    "curl-blk1024": ("curl", {"blksize": 1024}, {"blksize": 1024, "windowsize": 1,
                                                 "tsize": "yes", "oack": "yes"}),
    "curl-blk65464": ("curl", {"blksize": 65464}, {"blksize": 65464, "windowsize": 1,
                                                   "oack": "yes"}),
    "curl-no-options": ("curl", {"no_options": True}, {"blksize": 512, "windowsize": 1,
                                                       "tsize": "no", "oack": "no"}),
    "tftp-hpa": ("tftp_hpa", {}, {"blksize": 512, "windowsize": 1, "tsize": "no",
                                  "oack": "no"}),
    "atftp-plain": ("atftp", {}, {"blksize": 512, "windowsize": 1, "tsize": "no",
                                  "oack": "no"}),
    "atftp-blk1024-tsize": ("atftp", {"options": [("blksize", 1024), ("tsize", 0)]},
                            {"blksize": 1024, "windowsize": 1, "tsize": "yes",
                             "oack": "yes"}),
    "atftp-blk1428-win16": ("atftp", {"options": [("blksize", 1428), ("windowsize", 16),
                                                  ("tsize", 0)]},
                            {"blksize": 1428, "windowsize": 16, "tsize": "yes",
                             "oack": "yes"}),
    "atftp-blk8-win4": ("atftp", {"options": [("blksize", 8), ("windowsize", 4)]},
                        {"blksize": 8, "windowsize": 4, "tsize": "no", "oack": "yes"}),
}


def fetch_and_check(kidou, clients, corpus, name, variant, timeout=60):
    client, kwargs, expect = VARIANTS[variant]
    path, sha = corpus[name]
    size = path.stat().st_size
    local = clients.out(name)
    cp = getattr(clients, client)(kidou.port, name, local, timeout=timeout, **kwargs)
    output = (cp.stdout + cp.stderr).decode(errors="replace")
    assert cp.returncode == 0, f"{client} exit {cp.returncode}: {output}"
    if client == "tftp_hpa":
        # tftp-hpa exits 0 on errors too; it prints "Error code N: ..."
        assert "Error code" not in output and "aborting" not in output, output
    assert local.exists(), f"{client} wrote no file; output: {output}"
    assert local.stat().st_size == size
    assert sha256_file(local) == sha, f"{client} {variant}: content differs for {name}"

    done = kidou.wait_event("done", mod="tftp", file=name, timeout=T(10))
    start = kidou.events("start", mod="tftp", file=name)
    assert len(start) == 1, start
    start = start[0]
    assert start["mode"] == "octet"
    assert int(start["size"]) == size
    for key, value in expect.items():
        assert start[key] == str(value), f"start line {key}: {start['_line']}"
    assert int(done["bytes"]) == size
    assert start["peer"] == done["peer"]
    assert not kidou.events("fail"), kidou.events("fail")
    return start, done


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("name", SMALL)
def test_fetch_small_files(kidou, clients, corpus, name, variant):
    if name == "size0.bin" and variant.startswith("curl") and variant != "curl-no-options":
        pytest.skip("curl refuses an OACK with tsize 0 ('invalid tsize -:0:- value in "
                    "OACK packet'); covered by curl-no-options and the other clients")
    if name == "size1m.bin" and variant == "atftp-blk8-win4":
        # 131072 blocks of 8 bytes: also a block-number rollover with windows
        fetch_and_check(kidou, clients, corpus, name, variant, timeout=120)
        return
    fetch_and_check(kidou, clients, corpus, name, variant)


# 40 MiB: at blksize 512 that is 81920 blocks, so the 16-bit block number
# wraps past 65535 -> 0 once.
@pytest.mark.parametrize("variant", ["curl-default", "tftp-hpa", "atftp-plain",
                                     "atftp-blk1428-win16", "curl-blk65464"])
def test_fetch_40mib(kidou, clients, corpus, variant):
    start, done = fetch_and_check(kidou, clients, corpus, "size40m.bin", variant,
                                  timeout=120)
    assert int(done["retransmits"]) == 0 or int(start["windowsize"]) > 1


def test_block_number_rollover_raw(kidou, corpus):
    """The block after 65535 is 0 (RFC 1350 has no rule; every client in
    use expects wrap-around to 0, not 1), checked packet by packet: 1 MiB at
    blksize 16 is 65536 full blocks and an empty block 65537 (wire: 1)."""
    path, sha = corpus["size1m.bin"]
    with RawClient(kidou.port) as c:
        c.rrq("size1m.bin", options={"blksize": 16, "windowsize": 64})
        oack = c.expect()
        assert oack.options == {"blksize": "16", "windowsize": "64"}
        c.ack(0)
        blocks = []
        data = bytearray()
        while True:
            p = c.expect(T(5))
            assert p.opcode == 3, p
            assert p.block == (len(blocks) + 1) & 0xFFFF, (len(blocks), p)
            blocks.append(p.block)
            data += p.data
            if len(p.data) < 16:
                c.ack(p.block)
                break
            if len(blocks) % 64 == 0:
                c.ack(p.block)
    assert len(blocks) == 65537
    assert blocks[65533:65537] == [65534, 65535, 0, 1]
    assert len(data) == path.stat().st_size
    assert hashlib.sha256(bytes(data)).hexdigest() == sha
    done = kidou.wait_event("done", file="size1m.bin", timeout=T(5))
    assert done["retransmits"] == "0"


def test_netascii_roundtrip_tftp_hpa(kidou, clients, tftp_root):
    """netascii: LF goes out as CR LF, a bare CR as CR NUL; tftp-hpa converts
    back, so a text file round-trips."""
    text = "".join(f"line {i}: {'x' * (i % 70)}\n" for i in range(300))
    text += "carriage\rreturn alone\r\nand CRLF\n"
    (tftp_root / "text.txt").write_bytes(text.encode())
    local = clients.out("text")
    cp = clients.tftp_hpa(kidou.port, "text.txt", local, mode="ascii")
    output = (cp.stdout + cp.stderr).decode(errors="replace")
    assert cp.returncode == 0 and "Error" not in output, output
    assert local.read_bytes() == text.encode()
    start = kidou.wait_event("start", file="text.txt")
    assert start["mode"] == "netascii"
    wire_size = len(text) + text.count("\n") + text.count("\r")
    # start: the file's size; done: the bytes sent, converted as they went
    assert int(start["size"]) == len(text)
    kidou.wait_event("done", file="text.txt", bytes=wire_size)


def test_netascii_on_the_wire(kidou, tftp_root):
    src = b"a\nb\r\nc\rd" + b"\n" * 600
    (tftp_root / "t.txt").write_bytes(src)
    expect = src.replace(b"\r", b"\r\0").replace(b"\n", b"\r\n")
    # "\r\n" in the source becomes "\r\0\r\n"
    assert expect.startswith(b"a\r\nb\r\0\r\nc\r\0d\r\n")
    with RawClient(kidou.port) as c:
        data, oack = c.fetch("t.txt", mode="netascii")
        assert oack == {}
    assert data == expect
    with RawClient(kidou.port) as c:
        data, _ = c.fetch("t.txt", mode="octet")
    assert data == src
