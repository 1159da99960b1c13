"""Hostile and malformed input. After every batch the server must still be
alive and serve a normal fetch correctly."""
from __future__ import annotations

import random
import struct

import pytest

from kidou_testlib import (
    OP_DATA, OP_ERROR, OP_OACK, RawClient, T, build_ack, build_request, sha256_bytes,
)


def assert_healthy(kidou, corpus, name="size64k.bin"):
    assert kidou.alive(), f"kidou died:\n{kidou.text()[-3000:]}"
    with RawClient(kidou.port) as c:
        data, _ = c.fetch(name, options={"blksize": 1024, "tsize": 0}, timeout=T(3))
    assert sha256_bytes(data) == corpus[name][1]
    assert kidou.alive()


def replies(c: RawClient, wait=0.3):
    return [p for p, _, _ in c.drain(T(wait))]


@pytest.mark.parametrize("payload", [b"", b"\x00", b"\x00\x01", b"\x00\x01\x00",
                                     b"\xff", b"\xff\xff\xff"],
                         ids=["len0", "len1", "len2-rrq", "len3-rrq", "len1-ff", "len3-ff"])
def test_short_datagrams_ignored(kidou, corpus, payload):
    with RawClient(kidou.port) as c:
        c.send_raw(payload)
        assert replies(c) == [], "a datagram shorter than 4 bytes got an answer"
    kidou.wait_event("drop", reason="short", len=len(payload), timeout=T(3))
    assert_healthy(kidou, corpus)


@pytest.mark.parametrize("opcode", [0, 7, 8, 9, 0x100, 0x8001, 0xFFFF])
def test_unknown_opcode_error_4(kidou, corpus, opcode):
    with RawClient(kidou.port) as c:
        c.send_raw(struct.pack("!H", opcode) + b"size64k.bin\0octet\0")
        got = replies(c)
    assert len(got) == 1 and got[0].opcode == OP_ERROR and got[0].code == 4, got
    rej = kidou.wait_event("reject", timeout=T(3))
    assert rej["reason"] == "unknown-opcode" and rej["error"] == "4"
    assert_healthy(kidou, corpus)


@pytest.mark.parametrize("pkt", [
    struct.pack("!HH", 3, 1) + b"data",     # DATA to the listening port
    build_ack(0),                             # ACK to the listening port
    struct.pack("!HH", 5, 0) + b"err\0",     # ERROR to the listening port
    struct.pack("!H", 6) + b"blksize\x00" b"512\x00",  # OACK to the listening port
], ids=["data", "ack", "error", "oack"])
def test_non_requests_on_listen_port_dropped(kidou, corpus, pkt):
    """Answering these would let two servers loop forever."""
    with RawClient(kidou.port) as c:
        c.send_raw(pkt)
        assert replies(c) == []
    kidou.wait_event("drop", reason="not-a-request", timeout=T(3))
    assert_healthy(kidou, corpus)


@pytest.mark.parametrize("pkt", [
    b"\x00\x01size64k.bin",                    # no NUL at all
    b"\x00\x01size64k.bin\x00octet",           # mode not terminated
    b"\x00\x01" + b"A" * 1400,                 # one long unterminated string
    b"\x00\x02upload\x00",                     # WRQ without a mode
    b"\x00\x01size64k.bin\x00octet\x00blksize\x00",            # option without value
    b"\x00\x01size64k.bin\x00octet\x00blksize\x001024",        # value not terminated
    b"\x00\x01size64k.bin\x00octet\x00\x001024\x00",           # empty option name
    b"\x00\x01size64k.bin\x00octet\x00blksize\x001024\x00x",   # trailing garbage
], ids=["no-nul", "mode-unterminated", "long-unterminated", "wrq-no-mode",
        "option-without-value", "value-unterminated", "empty-option-name", "trailing-garbage"])
def test_malformed_requests_error_4(kidou, corpus, pkt):
    with RawClient(kidou.port) as c:
        c.send_raw(pkt)
        got = replies(c)
    assert len(got) == 1 and got[0].opcode == OP_ERROR and got[0].code == 4, got
    rej = kidou.wait_event("reject", timeout=T(3))
    assert rej["error"] == "4" and rej["reason"] == "malformed"
    assert not kidou.events("start")
    assert_healthy(kidou, corpus)


def test_nul_padding_after_options_tolerated(kidou, corpus):
    """Some PXE ROMs pad their requests with NULs."""
    with RawClient(kidou.port) as c:
        c.send_raw(build_request("size64k.bin", options={"blksize": 1024}) + b"\0" * 40)
        p = c.expect(T(2))
        assert p.opcode == OP_OACK and p.options == {"blksize": "1024"}, p
        c.error(0, "ok")
    assert_healthy(kidou, corpus)


def test_empty_option_value_refused(kidou, corpus):
    with RawClient(kidou.port) as c:
        c.send_raw(b"\x00\x01size64k.bin\x00octet\x00blksize\x00\x00")
        p = c.expect_error(T(2))
        assert p.code == 8
    assert_healthy(kidou, corpus)


def test_huge_option_value(kidou, corpus):
    with RawClient(kidou.port) as c:
        c.rrq("size64k.bin", options={"blksize": "9" * 1000})
        p = c.expect(T(2))
        # refusing (8) or clamping to the maximum are both acceptable
        if p.opcode == OP_OACK:
            assert p.options == {"blksize": "65464"}
            c.error(0, "ok")
        else:
            assert p.opcode == OP_ERROR and p.code == 8, p
    assert_healthy(kidou, corpus)


@pytest.mark.parametrize("name,code,reasons", [
    # one 500-byte component: longer than NAME_MAX (255)
    (b"n" * 500, (1, 4), ("not-found", "name-too-long")),
    (b"n" * 256, (1, 4), ("not-found", "name-too-long")),
    (b"n" * 255, (1,), ("not-found",)),
    # 500 bytes in short components
    (b"d/" * 249 + b"xx", (1,), ("not-found",)),
    # longer than any path kidou accepts
    (b"m" * 60000, (4,), ("name-too-long",)),
    (b"d/" * 30000, (4,), ("name-too-long",)),
], ids=["500-one-component", "256-one-component", "255-one-component", "500-short-components",
        "60000-one-component", "60000-short-components"])
def test_long_file_names(kidou, corpus, name, code, reasons):
    with RawClient(kidou.port) as c:
        c.rrq(name)
        got = replies(c)
    assert len(got) == 1 and got[0].opcode == OP_ERROR, got
    assert got[0].code in code, f"{len(name)}-byte name: {got[0]!r}"
    rej = kidou.wait_event("reject", timeout=T(3))
    assert rej["reason"] in reasons, rej["_line"]
    # the hostile name is truncated in the log, and the log line is bounded
    assert len(rej["_line"]) < 1024
    assert_healthy(kidou, corpus)


def test_hostile_file_name_cannot_forge_log_lines(kidou, corpus):
    name = 'x" error=0 reason=ok\nlevel=info mod=main event=ready \x1b[31m'
    with RawClient(kidou.port) as c:
        c.rrq(name)
        p = c.expect_error(T(2))
        assert p.code == 1
    rej = kidou.wait_event("reject", timeout=T(3))
    assert rej["file"] == name
    assert rej["error"] == "1" and rej["reason"] == "not-found"
    assert len(kidou.events("ready")) == 1
    assert all(line.startswith("level=") for line in kidou.lines())
    assert "\x1b" not in kidou.text()
    assert_healthy(kidou, corpus)


@pytest.mark.parametrize("n_unknown", [15, 16, 17, 40])
def test_many_options(kidou, corpus, n_unknown):
    opts = [(f"opt{i}", str(i)) for i in range(n_unknown)] + [("blksize", 1024)]
    with RawClient(kidou.port) as c:
        c.rrq("size64k.bin", options=opts)
        p = c.expect(T(2))
        if n_unknown < 16:
            assert p.opcode == OP_OACK and p.options == {"blksize": "1024"}, p
        else:
            # options past the 16th are not looked at; the request is still
            # served (with defaults) rather than dropped
            assert p.opcode in (OP_OACK, OP_DATA), p
        c.error(0, "ok")
    assert_healthy(kidou, corpus)


def test_options_with_many_values(kidou, corpus):
    """1400 bytes of tiny options."""
    opts = [(f"o{i}", "") for i in range(300)]
    with RawClient(kidou.port) as c:
        c.rrq("size64k.bin", options=opts)
        p = c.expect(T(2))
        assert p.opcode in (OP_DATA, OP_OACK, OP_ERROR), p
        if p.opcode != OP_ERROR:
            c.error(0, "ok")
    assert_healthy(kidou, corpus)


def test_random_garbage_on_listen_port(kidou, corpus):
    rng = random.Random(20240601)
    with RawClient(kidou.port) as c:
        for i in range(3000):
            kind = i % 4
            n = rng.randrange(0, 1500)
            body = rng.randbytes(n)
            if kind == 1:
                body = b"\x00\x01" + body        # RRQ-looking
            elif kind == 2:
                body = b"\x00\x02" + body        # WRQ-looking
            elif kind == 3:
                # a syntactically valid RRQ with random strings
                parts = [rng.randbytes(rng.randrange(1, 40)).replace(b"\0", b"x")
                         for _ in range(rng.randrange(1, 12))]
                body = b"\x00\x01" + b"\0".join(parts) + b"\0"
            c.send_raw(body)
            if i % 200 == 0:
                c.drain(0.01)
        c.drain(T(0.5))
    assert_healthy(kidou, corpus)
    # every request got at most one reply and none started a transfer of a
    # file that does not exist
    for s in kidou.events("start"):
        assert s["file"] == "size64k.bin"


def test_random_garbage_on_transfer_port(kidou_factory, corpus):
    """Garbage from the right peer mid-transfer is dropped; the transfer
    goes on."""
    k = kidou_factory("--tftp-retransmit-ms", 5000)
    rng = random.Random(7)
    with RawClient(k.port) as c:
        c.rrq("size300k.bin")
        p = c.expect(T(2))
        assert p.opcode == OP_DATA and p.block == 1
        data = bytearray(p.data)
        for _ in range(1000):
            body = rng.randbytes(rng.randrange(0, 600))
            if body[:2] in (b"\x00\x04", b"\x00\x05"):
                body = b"\x00\x09" + body[2:]     # no real ACK/ERROR
            c.send_raw(body, c.tid)
        c.send_raw(b"\x00\x04\x00", c.tid)  # a short ACK is malformed
        # nothing above may have moved the transfer on or ended it
        got = [q for q, _, _ in c.drain(T(0.3))]
        assert got == [], got
        c.ack(1)
        block = 2
        while True:
            q = c.expect(T(3))
            assert q.opcode == OP_DATA and q.block == block & 0xFFFF, q
            data += q.data
            c.ack(q.block)
            block += 1
            if len(q.data) < 512:
                break
    assert sha256_bytes(bytes(data)) == corpus["size300k.bin"][1]
    done = k.wait_event("done", timeout=T(3))
    assert done["retransmits"] == "0"
    assert len(k.events("drop", reason="malformed")) >= 1
    assert_healthy(k, corpus)


def test_request_flood_from_many_ports(kidou_factory, corpus):
    """Hundreds of requests that are never acknowledged: all get a reply,
    the limit holds, and the server recovers once they time out."""
    k = kidou_factory("--tftp-max-transfers", 50, "--tftp-retransmit-ms", 100,
                      "--tftp-retries", 1)
    socks = [RawClient(k.port) for _ in range(200)]
    try:
        for s in socks:
            s.rrq("size1m.bin", options={"blksize": 1024})
        busy = started = 0
        for s in socks:
            p = s.expect(T(3))
            if p.opcode == OP_OACK:
                started += 1
            else:
                assert p.opcode == OP_ERROR and p.code == 0 and "busy" in p.message, p
                busy += 1
        assert started == 50 and busy == 150
    finally:
        for s in socks:
            s.close()
    k.wait_events("fail", 50, timeout=T(5), reason="timeout")
    assert_healthy(k, corpus, "size1m.bin")
