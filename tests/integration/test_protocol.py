"""Packet-level protocol behaviour, driven with raw UDP sockets:
option negotiation (RFC 2347/2348/2349/7440), modes, ACK handling,
transfer IDs, retransmission and client errors."""
from __future__ import annotations

import socket
import time

import pytest

from kidou_testlib import (
    OP_DATA, OP_ERROR, OP_OACK, RawClient, T, build_ack, sha256_bytes,
)

LISTEN = "127.0.0.1"


def first_reply(c: RawClient, timeout=2.0):
    got = c.recv(T(timeout))
    assert got is not None, "no reply"
    pkt, addr = got
    if pkt.opcode != OP_ERROR:
        c.tid = addr
    return pkt


def finish(c: RawClient, first_block: int, blksize: int, data: bytearray, windowsize=1):
    """Continue a transfer whose blocks < first_block are already in `data`
    and acknowledged; returns all the data."""
    expected = first_block
    since = 0
    while True:
        p = c.expect(T(3))
        assert p.opcode == OP_DATA, p
        if p.block != expected & 0xFFFF:
            continue
        data += p.data
        since += 1
        last = len(p.data) < blksize
        if last or since == windowsize:
            c.ack(p.block)
            since = 0
        expected += 1
        if last:
            return bytes(data)


# ---------------------------------------------------------------- options


def test_oack_contents(kidou, corpus):
    size = corpus["size1m.bin"][0].stat().st_size
    with RawClient(kidou.port) as c:
        c.rrq("size1m.bin", options=[("blksize", 1024), ("tsize", 0), ("windowsize", 4),
                                     ("timeout", 3)])
        oack = first_reply(c)
        assert oack.opcode == OP_OACK, oack
        assert oack.options == {"blksize": "1024", "tsize": str(size), "windowsize": "4",
                                "timeout": "3"}
        # the OACK comes from the transfer's own port, not the listening one
        assert c.tid != ("127.0.0.1", kidou.port)
        c.ack(0)
        data = finish(c, 1, 1024, bytearray(), windowsize=4)
    assert sha256_bytes(data) == corpus["size1m.bin"][1]
    start = kidou.wait_event("start")
    assert (start["blksize"], start["windowsize"], start["timeout_ms"], start["tsize"],
            start["oack"]) == ("1024", "4", "3000", "yes", "yes")
    kidou.wait_event("done", bytes=size)


@pytest.mark.parametrize("name", ["size0.bin", "size1.bin", "size512.bin", "size40m.bin"])
def test_tsize_reports_file_size(kidou, corpus, name):
    with RawClient(kidou.port) as c:
        c.rrq(name, options={"tsize": 0})
        oack = first_reply(c)
        assert oack.options == {"tsize": str(corpus[name][0].stat().st_size)}
        c.error(0, "only wanted the size")
    ev = kidou.wait_event("size-probe", timeout=T(3))
    assert ev["size"] == str(corpus[name][0].stat().st_size), ev["_line"]
    assert not kidou.events("fail")


@pytest.mark.parametrize("value", [0, 1, 4, 7])
def test_blksize_below_8_ignored(kidou, value):
    with RawClient(kidou.port) as c:
        # alone: no OACK at all, DATA with the default 512 bytes
        c.rrq("size1m.bin", options={"blksize": value})
        p = first_reply(c)
        assert p.opcode == OP_DATA and p.block == 1 and len(p.data) == 512, p
        c.error(0, "enough")
    with RawClient(kidou.port) as c:
        # next to tsize: the OACK carries tsize only
        c.rrq("size1m.bin", options=[("blksize", value), ("tsize", 0)])
        p = first_reply(c)
        assert p.opcode == OP_OACK and p.options == {"tsize": str(1 << 20)}, p
        c.ack(0)
        p = c.expect(T(2))
        assert p.opcode == OP_DATA and len(p.data) == 512
        c.error(0, "enough")


def test_blksize_8_is_the_minimum(kidou, corpus):
    with RawClient(kidou.port) as c:
        data, oack = c.fetch("size513.bin", options={"blksize": 8})
    assert oack == {"blksize": "8"}
    assert sha256_bytes(data) == corpus["size513.bin"][1]


@pytest.mark.parametrize("asked,max_flag,expect", [
    (100000, None, 65464),
    (65465, None, 65464),
    (65464, None, 65464),
    (4294967296, None, 65464),
    (100000, 1024, 1024),
    (1025, 1024, 1024),
    (1000, 1024, 1000),
])
def test_blksize_clamped(kidou_factory, corpus, asked, max_flag, expect):
    k = kidou_factory(*(["--tftp-max-blksize", max_flag] if max_flag else []))
    with RawClient(k.port) as c:
        c.rrq("size300k.bin", options={"blksize": asked})
        p = first_reply(c)
        assert p.opcode == OP_OACK and p.options == {"blksize": str(expect)}, p
        c.ack(0)
        p = c.expect(T(2))
        assert p.opcode == OP_DATA and p.block == 1 and len(p.data) == expect
        c.ack(1)
        data = finish(c, 2, expect, bytearray(p.data))
    assert sha256_bytes(data) == corpus["size300k.bin"][1]
    assert k.wait_event("start")["blksize"] == str(expect)


@pytest.mark.parametrize("asked,max_flag,expect", [
    (100, 4, 4),
    (3, 4, 3),
    (1000, None, 64),
    (64, None, 64),
])
def test_windowsize_clamped(kidou_factory, corpus, asked, max_flag, expect):
    k = kidou_factory("--tftp-retransmit-ms", 5000,
                      *(["--tftp-max-windowsize", max_flag] if max_flag else []))
    with RawClient(k.port) as c:
        c.rrq("size300k.bin", options={"windowsize": asked})
        p = first_reply(c)
        assert p.opcode == OP_OACK and p.options == {"windowsize": str(expect)}, p
        c.ack(0)
        # exactly one window arrives, then the server waits for an ACK
        got = c.drain(T(0.4))
        blocks = [q.block for q, _, _ in got]
        assert blocks == list(range(1, expect + 1)), blocks
        c.ack(expect)
        data = bytearray(b"".join(q.data for q, _, _ in got))
        data = finish(c, expect + 1, 512, data, windowsize=expect)
    assert sha256_bytes(data) == corpus["size300k.bin"][1]


def test_windowsize_zero_ignored(kidou):
    with RawClient(kidou.port) as c:
        c.rrq("size64k.bin", options=[("windowsize", 0), ("tsize", 0)])
        p = first_reply(c)
        assert p.opcode == OP_OACK and p.options == {"tsize": str(64 * 1024)}, p
        c.error(0, "enough")


@pytest.mark.parametrize("value", [0, 256, 1000])
def test_timeout_out_of_range_ignored(kidou, value):
    with RawClient(kidou.port) as c:
        c.rrq("size64k.bin", options=[("timeout", value), ("blksize", 1024)])
        p = first_reply(c)
        assert p.opcode == OP_OACK and p.options == {"blksize": "1024"}, p
        c.error(0, "enough")
    assert kidou.wait_event("start")["timeout_ms"] == "1000"


def test_option_names_case_insensitive(kidou, corpus):
    with RawClient(kidou.port) as c:
        data, oack = c.fetch("size64k.bin", options=[("BlKsIzE", 1024), ("TSIZE", 0),
                                                    ("WindowSize", 2), ("TimeOut", 5)])
    assert oack == {"blksize": "1024", "tsize": str(64 * 1024), "windowsize": "2",
                    "timeout": "5"}
    assert sha256_bytes(data) == corpus["size64k.bin"][1]


def test_unknown_option_ignored(kidou, corpus):
    with RawClient(kidou.port) as c:
        data, oack = c.fetch("size64k.bin", options=[("frobnicate", "yes"),
                                                    ("blksize", 1024), ("multicast", "")])
    assert oack == {"blksize": "1024"}
    assert sha256_bytes(data) == corpus["size64k.bin"][1]
    # only unknown options: no OACK at all
    with RawClient(kidou.port) as c:
        c.rrq("size64k.bin", options={"frobnicate": "yes"})
        p = first_reply(c)
        assert p.opcode == OP_DATA and p.block == 1 and len(p.data) == 512
        c.error(0, "enough")
    starts = kidou.events("start")
    assert [s["oack"] for s in starts] == ["yes", "no"]


def test_duplicate_option_first_wins(kidou):
    with RawClient(kidou.port) as c:
        c.rrq("size64k.bin", options=[("blksize", 1024), ("BLKSIZE", 2048)])
        p = first_reply(c)
        assert p.opcode == OP_OACK and p.options == {"blksize": "1024"}, p
        c.error(0, "enough")


@pytest.mark.parametrize("option,value", [
    ("blksize", "abc"), ("blksize", "12x"), ("blksize", "-1"), ("blksize", ""),
    ("blksize", " 1024"), ("windowsize", "four"), ("tsize", "x"), ("timeout", "1.5"),
    ("BLKSIZE", "0x400"),
])
def test_non_numeric_option_value_refused(kidou, option, value):
    with RawClient(kidou.port) as c:
        c.rrq("size64k.bin", options=[(option, value)])
        got = c.recv(T(2))
        assert got is not None
        p, addr = got
        assert p.opcode == OP_ERROR and p.code == 8, p
        assert addr == (LISTEN, kidou.port)
        assert c.drain(0.2) == []
    rej = kidou.wait_event("reject", timeout=T(3))
    assert rej["error"] == "8" and rej["reason"] == "bad-option"
    assert rej["option"] == option
    assert not kidou.events("start")


# ---------------------------------------------------------------- modes


@pytest.mark.parametrize("mode", ["octet", "OcTeT", "OCTET"])
def test_mode_case_insensitive_octet(kidou, corpus, mode):
    with RawClient(kidou.port) as c:
        data, _ = c.fetch("size1m.bin", mode=mode)
    assert sha256_bytes(data) == corpus["size1m.bin"][1]
    assert kidou.wait_event("start")["mode"] == "octet"


@pytest.mark.parametrize("mode", ["NetAscii", "NETASCII"])
def test_mode_case_insensitive_netascii(kidou, tftp_root, mode):
    (tftp_root / "t.txt").write_bytes(b"one\ntwo\n")
    with RawClient(kidou.port) as c:
        data, _ = c.fetch("t.txt", mode=mode)
    assert data == b"one\r\ntwo\r\n"
    assert kidou.wait_event("start")["mode"] == "netascii"


@pytest.mark.parametrize("mode", ["binary", "mail", "MAIL", "", "octe", "octets", "ascii"])
def test_unknown_mode_error_4(kidou, mode):
    with RawClient(kidou.port) as c:
        c.rrq("size64k.bin", mode=mode)
        p = c.expect_error(T(2))
        assert p.code == 4, p
        assert c.drain(0.2) == []
    rej = kidou.wait_event("reject", timeout=T(3))
    assert rej["error"] == "4" and rej["reason"] == "bad-mode"


# ---------------------------------------------------------------- ACKs


def test_duplicate_ack_sends_no_duplicate_data(kidou_factory, corpus):
    """Sorcerer's Apprentice (RFC 1123 4.2.3.1): a duplicated ACK must not
    trigger a second copy of the next block."""
    k = kidou_factory("--tftp-retransmit-ms", 5000)
    with RawClient(k.port) as c:
        c.rrq("size64k.bin")
        p = first_reply(c)
        assert p.opcode == OP_DATA and p.block == 1
        data = bytearray(p.data)
        c.ack(1)
        c.ack(1)
        got = c.drain(T(0.5))
        assert [q.block for q, _, _ in got] == [2], got
        data += got[0][0].data
        # again in the middle of the file, three times over
        c.ack(2)
        c.ack(2)
        c.ack(2)
        got = c.drain(T(0.5))
        assert [q.block for q, _, _ in got] == [3], got
        data += got[0][0].data
        c.ack(3)
        data = finish(c, 4, 512, data)
    assert sha256_bytes(data) == corpus["size64k.bin"][1]
    done = k.wait_event("done", timeout=T(3))
    assert done["retransmits"] == "0"


def test_duplicate_ack_with_window(kidou_factory):
    k = kidou_factory("--tftp-retransmit-ms", 5000)
    with RawClient(k.port) as c:
        c.rrq("size64k.bin", options={"windowsize": 4})
        assert first_reply(c).opcode == OP_OACK
        c.ack(0)
        got = c.drain(T(0.4))
        assert [q.block for q, _, _ in got] == [1, 2, 3, 4]
        c.ack(4)
        c.ack(4)
        got = c.drain(T(0.4))
        assert [q.block for q, _, _ in got] == [5, 6, 7, 8]
        c.error(0, "enough")


def test_stale_and_future_acks_ignored(kidou_factory, corpus):
    k = kidou_factory("--tftp-retransmit-ms", 5000)
    with RawClient(k.port) as c:
        c.rrq("size64k.bin")
        p = first_reply(c)
        data = bytearray(p.data)
        c.ack(50)        # not sent yet
        c.ack(0xFFFF)    # "block -1"
        c.ack(0)         # before the first block
        assert c.drain(T(0.3)) == []
        c.ack(1)
        data = finish(c, 2, 512, data)
    assert sha256_bytes(data) == corpus["size64k.bin"][1]


def test_ack_with_trailing_bytes_accepted(kidou, corpus):
    with RawClient(kidou.port) as c:
        c.rrq("size1.bin")
        p = first_reply(c)
        assert p.opcode == OP_DATA and len(p.data) == 1
        c.send_raw(build_ack(1) + b"\0\0junk", c.tid)
    kidou.wait_event("done", timeout=T(3))


@pytest.mark.parametrize("name,lengths", [
    ("size0.bin", [0]),
    ("size511.bin", [511]),
    ("size512.bin", [512, 0]),
    ("size513.bin", [512, 1]),
])
def test_last_block_lengths(kidou, name, lengths):
    """A file that is a multiple of blksize ends with an empty DATA."""
    with RawClient(kidou.port) as c:
        c.rrq(name)
        seen = []
        while True:
            p = c.expect(T(2))
            assert p.opcode == OP_DATA and p.block == len(seen) + 1
            seen.append(len(p.data))
            c.ack(p.block)
            if len(p.data) < 512:
                break
        assert c.drain(0.2) == []
    assert seen == lengths
    kidou.wait_event("done", timeout=T(3))


def test_partial_window_ack_resends_from_first_unacked(kidou_factory, corpus):
    k = kidou_factory("--tftp-retransmit-ms", 5000)
    with RawClient(k.port) as c:
        c.rrq("size64k.bin", options={"windowsize": 4})
        assert first_reply(c).opcode == OP_OACK
        c.ack(0)
        got = c.drain(T(0.4))
        assert [q.block for q, _, _ in got] == [1, 2, 3, 4]
        blocks = {q.block: q.data for q, _, _ in got}
        # pretend 3 and 4 were lost
        c.ack(2)
        got = c.drain(T(0.4))
        assert [q.block for q, _, _ in got] == [3, 4, 5, 6], got
        for q, _, _ in got:
            if q.block in blocks:
                assert q.data == blocks[q.block], "resent block differs"
            blocks[q.block] = q.data
        # an ACK for an already-acknowledged block changes nothing
        c.ack(1)
        assert c.drain(T(0.3)) == []
        c.ack(5)
        got = c.drain(T(0.4))
        assert [q.block for q, _, _ in got] == [6, 7, 8, 9], got
        for q, _, _ in got:
            blocks[q.block] = q.data
        c.ack(9)
        data = bytearray(b"".join(blocks[i] for i in range(1, 10)))
        data = finish(c, 10, 512, data, windowsize=4)
    assert sha256_bytes(data) == corpus["size64k.bin"][1]
    done = k.wait_event("done", timeout=T(3))
    assert done["retransmits"] == "0"


# ---------------------------------------------------------------- TIDs


def test_stranger_gets_error_5_and_transfer_continues(kidou_factory, corpus):
    k = kidou_factory("--tftp-retransmit-ms", 5000)
    with RawClient(k.port) as c, RawClient(k.port) as stranger:
        c.rrq("size64k.bin")
        p = first_reply(c)
        data = bytearray(p.data)
        # same host, other port
        stranger.send_raw(build_ack(1), c.tid)
        err = stranger.expect_error(T(2))
        assert err.code == 5, err
        # other host (127.0.0.2 is loopback too), same port as the client
        s2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s2.bind(("127.0.0.2", c.local_port))
            s2.settimeout(T(2))
            s2.sendto(build_ack(1), c.tid)
            raw, addr = s2.recvfrom(1000)
            assert addr == c.tid
            assert raw[:4] == b"\x00\x05\x00\x05", raw
        finally:
            s2.close()
        # neither ACK moved the transfer on
        assert c.drain(T(0.3)) == []
        c.ack(1)
        data = finish(c, 2, 512, data)
    assert sha256_bytes(data) == corpus["size64k.bin"][1]
    done = k.wait_event("done", timeout=T(3))
    assert done["retransmits"] == "0"
    drops = k.events("drop", reason="unknown-tid")
    assert len(drops) == 2


def test_data_port_differs_per_transfer(kidou):
    with RawClient(kidou.port) as a, RawClient(kidou.port) as b:
        a.rrq("size64k.bin")
        b.rrq("size64k.bin")
        first_reply(a)
        first_reply(b)
        assert a.tid != b.tid
        assert kidou.port not in (a.tid[1], b.tid[1])
        a.error(0, "x")
        b.error(0, "x")


# ---------------------------------------------------------------- timeouts


def test_retransmit_then_give_up(kidou_factory):
    k = kidou_factory("--tftp-retransmit-ms", 200, "--tftp-retries", 3)
    with RawClient(k.port) as c:
        t0 = time.monotonic()
        c.rrq("size64k.bin")
        first = first_reply(c)
        assert first.opcode == OP_DATA and first.block == 1
        t_first = time.monotonic()
        got = c.drain(T(0.2) * 4 + T(1.5), until=lambda p: p.opcode == OP_ERROR)
        assert c.drain(0.4) == [], "packets after the final ERROR"
    pkts = [p for p, _, _ in got]
    assert [p.opcode for p in pkts] == [OP_DATA] * 3 + [OP_ERROR], pkts
    assert all(p.block == 1 and p.data == first.data for p in pkts[:3])
    assert all(addr == c.tid for _, addr, _ in got)
    assert pkts[-1].code == 0 and "timed out" in pkts[-1].message
    times = [t_first] + [t for _, _, t in got]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert all(g >= 0.15 for g in gaps), gaps
    assert all(g <= T(1.0) for g in gaps), gaps
    assert t_first - t0 < T(0.5)
    fail = k.wait_event("fail", timeout=T(3))
    assert fail["reason"] == "timeout" and fail["retransmits"] == "3"
    assert fail["bytes_acked"] == "0" and fail["of"] == str(64 * 1024)


def test_oack_retransmitted(kidou_factory):
    k = kidou_factory("--tftp-retransmit-ms", 200, "--tftp-retries", 2)
    with RawClient(k.port) as c:
        c.rrq("size64k.bin", options={"blksize": 1024})
        first = first_reply(c)
        assert first.opcode == OP_OACK
        got = c.drain(T(2), until=lambda p: p.opcode == OP_ERROR)
        assert c.drain(0.3) == []
    pkts = [p for p, _, _ in got]
    assert [p.opcode for p in pkts] == [OP_OACK, OP_OACK, OP_ERROR], pkts
    assert all(p.raw == first.raw for p in pkts[:2])
    fail = k.wait_event("fail", timeout=T(3))
    assert fail["reason"] == "timeout" and fail["retransmits"] == "2"


def test_window_retransmitted_after_timeout(kidou_factory, corpus):
    k = kidou_factory("--tftp-retransmit-ms", 200, "--tftp-retries", 5)
    with RawClient(k.port) as c:
        c.rrq("size64k.bin", options={"windowsize": 4})
        assert first_reply(c).opcode == OP_OACK
        c.ack(0)
        got = [c.expect(T(1)) for _ in range(4)]
        assert [q.block for q in got] == [1, 2, 3, 4]
        c.ack(2)
        # say nothing more: after 200 ms the unacknowledged window (3..6)
        # comes again, whole and in order
        got = [c.expect(T(1)) for _ in range(8)]
        assert [q.block for q in got] == [3, 4, 5, 6, 3, 4, 5, 6], got
        assert [q.data for q in got[:4]] == [q.data for q in got[4:]]
        c.ack(6)
        first = {q.block: q.data for q in got}
        data = bytearray()
        data = finish(c, 7, 512, data, windowsize=4)
    assert sha256_bytes(data) == sha256_bytes(
        corpus["size64k.bin"][0].read_bytes()[6 * 512:])
    assert first[3] == corpus["size64k.bin"][0].read_bytes()[1024:1536]
    done = k.wait_event("done", timeout=T(3))
    assert int(done["retransmits"]) >= 1


def test_negotiated_timeout_used(kidou_factory):
    """The client's timeout option replaces --tftp-retransmit-ms."""
    k = kidou_factory("--tftp-retransmit-ms", 20000, "--tftp-retries", 1)
    with RawClient(k.port) as c:
        c.rrq("size64k.bin", options={"timeout": 1})
        assert first_reply(c).options == {"timeout": "1"}
        c.ack(0)
        p = c.expect(T(1))
        assert p.opcode == OP_DATA and p.block == 1
        t0 = time.monotonic()
        p2 = c.expect(T(3))
        dt = time.monotonic() - t0
        assert p2.opcode == OP_DATA and p2.block == 1, p2
        assert 0.8 <= dt <= T(2.0), dt
        c.error(0, "done")
    assert k.wait_event("start")["timeout_ms"] == "1000"


# ---------------------------------------------------------------- errors


def test_client_error_ends_transfer(kidou_factory):
    k = kidou_factory("--tftp-retransmit-ms", 200)
    with RawClient(k.port) as c:
        c.rrq("size64k.bin")
        assert first_reply(c).opcode == OP_DATA
        c.error(3, "disk full")
        # no retransmission follows: the transfer is gone
        assert c.drain(T(0.8)) == []
    fail = k.wait_event("fail", timeout=T(3))
    assert fail["reason"] == "client-error"
    assert fail["code"] == "3" and fail["message"] == "disk full"
    assert fail["bytes_acked"] == "0"
    assert not k.events("done")


def test_client_refuses_oack(kidou_factory):
    k = kidou_factory("--tftp-retransmit-ms", 200)
    with RawClient(k.port) as c:
        c.rrq("size64k.bin", options={"blksize": 1024})
        assert first_reply(c).opcode == OP_OACK
        c.error(8, "no thanks")
        assert c.drain(T(0.8)) == []
    fail = k.wait_event("fail", timeout=T(3))
    assert fail["reason"] == "client-error" and fail["code"] == "8"
    assert fail["message"] == "no thanks"


def test_size_probe_is_not_a_failure(kidou_factory):
    """PXE firmware asks for tsize, reads the size from the OACK and aborts
    (OVMF: error 8): an info line, not a failed transfer."""
    k = kidou_factory("--tftp-retransmit-ms", 200)
    with RawClient(k.port) as c:
        c.rrq("size64k.bin", options={"tsize": 0, "blksize": 1408})
        oack = first_reply(c)
        assert oack.opcode == OP_OACK and oack.options.get("tsize") == "65536", oack
        c.error(8, "User aborted the transfer")
        assert c.drain(T(0.8)) == []
    ev = k.wait_event("size-probe", timeout=T(3))
    assert ev["level"] == "info" and ev["file"] == "size64k.bin", ev["_line"]
    assert ev["size"] == "65536" and ev["code"] == "8", ev["_line"]
    assert not k.events("fail")
    # once data has flowed, an abort is a failure again
    with RawClient(k.port) as c:
        c.rrq("size64k.bin", options={"tsize": 0})
        assert first_reply(c).opcode == OP_OACK
        c.ack(0)
        assert c.expect().opcode == OP_DATA
        c.error(8, "changed my mind")
    assert k.wait_event("fail", timeout=T(3))["reason"] == "client-error"


def test_hostile_client_error_message_is_quoted(kidou):
    with RawClient(kidou.port) as c:
        c.rrq("size64k.bin")
        first_reply(c)
        c.error(0, 'x" level=error forged=1\nlevel=error mod=main event=ready')
    fail = kidou.wait_event("fail", timeout=T(3))
    assert fail["message"].startswith('x" level=error forged=1')
    assert "forged" not in {k for k in fail}
    assert len(kidou.events("ready")) == 1
    assert all(line.startswith("level=") for line in kidou.lines())
