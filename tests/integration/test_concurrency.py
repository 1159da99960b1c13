"""Many transfers at once, and the max-transfers limit."""
from __future__ import annotations

import subprocess
import time

from kidou_testlib import OP_DATA, OP_OACK, RawClient, T, sha256_bytes, sha256_file


def test_50_concurrent_curl(kidou, corpus, tmp_path):
    _, sha = corpus["size1m.bin"]
    blksizes = [512, 1024, 1468, 8192, 65464]
    procs = []
    for i in range(50):
        out = tmp_path / f"c{i}.bin"
        cmd = ["curl", "-sS", "--fail", "--tftp-blksize", str(blksizes[i % len(blksizes)]),
               "-o", str(out), f"tftp://127.0.0.1:{kidou.port}/size1m.bin"]
        procs.append((out, subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE)))
    deadline = time.monotonic() + T(90)
    failures = []
    for out, p in procs:
        try:
            _, err = p.communicate(timeout=max(1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            failures.append(f"{out.name}: timed out")
            continue
        if p.returncode != 0:
            failures.append(f"{out.name}: curl exit {p.returncode} {err!r}")
        elif sha256_file(out) != sha:
            failures.append(f"{out.name}: content differs")
    assert not failures, failures
    done = kidou.wait_events("done", 50, timeout=T(10), file="size1m.bin")
    assert len({d["peer"] for d in done}) == 50
    assert all(d["bytes"] == str(1024 * 1024) for d in done)
    assert not kidou.events("fail")
    assert not kidou.events("reject")
    starts = kidou.events("start")
    assert sorted(int(s["blksize"]) for s in starts) == sorted(
        blksizes[i % len(blksizes)] for i in range(50))


def test_concurrent_raw_transfers_are_independent(kidou, corpus):
    """Ten interleaved transfers driven one packet at a time from a single
    thread, each with its own blksize: no cross-talk between sessions."""
    names = ["size1m.bin", "size300k.bin", "size64k.bin", "size513.bin", "size1.bin"]
    sessions = []
    for i in range(10):
        name = names[i % len(names)]
        blk = 512 + 100 * i
        c = RawClient(kidou.port)
        c.rrq(name, options={"blksize": blk})
        oack = c.expect(T(2))
        assert oack.opcode == OP_OACK and oack.options == {"blksize": str(blk)}
        sessions.append({"c": c, "name": name, "blk": blk, "next": 1, "data": bytearray(),
                         "done": False})
    for s in sessions:
        s["c"].ack(0)
    while not all(s["done"] for s in sessions):
        for s in sessions:
            if s["done"]:
                continue
            p = s["c"].expect(T(3))
            assert p.opcode == OP_DATA and p.block == s["next"] & 0xFFFF, p
            s["data"] += p.data
            s["c"].ack(p.block)
            s["next"] += 1
            if len(p.data) < s["blk"]:
                s["done"] = True
    for s in sessions:
        s["c"].close()
        assert sha256_bytes(bytes(s["data"])) == corpus[s["name"]][1], s["name"]
    kidou.wait_events("done", 10, timeout=T(5))


def test_max_transfers_busy(kidou_factory, corpus, clients):
    k = kidou_factory("--tftp-max-transfers", 2, "--tftp-retransmit-ms", 10000)
    slow1, slow2, extra = RawClient(k.port), RawClient(k.port), RawClient(k.port)
    try:
        # two slow clients: they ask and never acknowledge
        slow1.rrq("size1m.bin", options={"blksize": 1024})
        assert slow1.expect(T(2)).opcode == OP_OACK
        slow2.rrq("size300k.bin")
        first = slow2.expect(T(2))
        assert first.opcode == OP_DATA and first.block == 1
        k.wait_events("start", 2, timeout=T(5))

        # the third is told to go away, from the listening port
        extra.rrq("size64k.bin")
        got = extra.recv(T(2))
        assert got is not None, "no reply to a request over the limit"
        err, addr = got
        assert addr == ("127.0.0.1", k.port)
        assert err.opcode == 5 and err.code == 0, err
        assert "busy" in err.message, err
        rej = k.wait_event("reject", reason="busy", timeout=T(5))
        assert rej["error"] == "0" and rej["file"] == "size64k.bin"
        assert extra.drain(0.2) == []

        # a real client is refused as well
        out = clients.out()
        cp = clients.curl(k.port, "size64k.bin", out)
        assert cp.returncode != 0, cp
        assert len(k.events("reject", reason="busy")) == 2

        # one slow client gives up: its slot frees and the next request works
        slow1.error(0, "bye")
        k.wait_event("fail", file="size1m.bin", timeout=T(5))
        data, _ = extra.fetch("size64k.bin", timeout=T(3))
        assert sha256_bytes(data) == corpus["size64k.bin"][1]

        # the other slow one was never disturbed and can still finish
        slow2.ack(1)
        data = bytearray(first.data)
        block = 1
        while True:
            p = slow2.expect(T(3))
            assert p.opcode == OP_DATA and p.block == (block + 1) & 0xFFFF, p
            block += 1
            data += p.data
            slow2.ack(p.block)
            if len(p.data) < 512:
                break
        assert sha256_bytes(bytes(data)) == corpus["size300k.bin"][1]
        k.wait_event("done", file="size300k.bin", timeout=T(5))
        assert len(k.events("start")) == 3
    finally:
        for c in (slow1, slow2, extra):
            c.close()


def test_concurrent_transfers_get_distinct_ports(kidou_factory):
    """Each transfer is its own TID (RFC 1350): no two concurrent transfers
    may share a local port, or one transfer's ACKs reach the other, which
    answers with ERROR 5 while the first stalls. 800 transfers are held
    open at once (each waiting for its single ACK); a port-0 bind that may
    reuse a busy port would collide here with near certainty."""
    n = 800
    k = kidou_factory("--tftp-retransmit-ms", 5000, log_level="info")
    clients = [RawClient(k.port) for _ in range(n)]
    try:
        tids = []
        # in batches, so the listening socket's queue never overflows
        for i in range(0, n, 50):
            batch = clients[i:i + 50]
            for c in batch:
                c.rrq("size1.bin")
            for c in batch:
                p = c.expect(T(3))
                assert p.opcode == OP_DATA and p.block == 1 and len(p.data) == 1, p
                tids.append(c.tid)
        k.wait_events("start", n, timeout=T(5))
        shared = {t: tids.count(t) for t in set(tids) if tids.count(t) > 1}
        for c in clients:
            c.ack(1)
        deadline = time.monotonic() + T(3)
        while len(k.events("done")) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        errors = [p for c in clients for p, _, _ in c.drain(0.001) if p.opcode == 5]
    finally:
        for c in clients:
            c.close()
    assert not shared, (f"{len(shared)} server ports were used by two or more concurrent "
                        f"transfers: {sorted(shared.items())[:10]}")
    assert len(k.events("done")) == n, [f["_line"] for f in k.events("fail")][:5]
    assert not errors, errors[:5]
