"""Transfers over a lossy link: kidou runs in a private network namespace
whose loopback drops 10% of UDP packets at random (nftables `numgen`; the
kernel here has no sch_netem).

The drop is done in the *input* hook: every loopback packet passes it
exactly once, like the output hook, but a drop there is silent to the
sender, whereas an output-hook drop makes sendto() fail with EPERM, which
curl treats as fatal (exit 55) and which is not what a lossy network
looks like.

Client choice is forced by the clients themselves:
  * curl always sends "timeout 6" with its options, and kidou rightly
    honours a negotiated timeout, so each loss would cost 6 s; with
    --tftp-no-options kidou's own 100 ms retransmit applies.
  * atftp re-ACKs a repeated block (or window) only once and then ignores
    further copies, which keep resetting its own timer, so losing that one
    extra ACK deadlocks it until kidou gives up (about 1% per block or
    window); it also aborts on a repeated OACK. It is used with windowsize
    8 (fewer ACKs) and gets several tries.
  * the raw client from kidou_testlib (run inside the namespace) fetches
    300 KiB at blksize 1024 with windowsize 1 and 8, with correct loss
    handling, so kidou's recovery is tested without client flakiness.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kidou_testlib import NetNs, T, sh, sha256_file

HERE = Path(__file__).resolve().parent

NFT_RULES = """
table inet lossy {
    chain input {
        type filter hook input priority 0; policy accept;
        meta l4proto udp numgen random mod 10 == 0 counter drop
    }
}
"""


@pytest.fixture
def lossy_netns():
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    ns = NetNs(nft_rules=NFT_RULES)
    try:
        yield ns.name
    finally:
        ns.delete()


def dropped_packets(ns) -> int:
    out = sh("ip", "netns", "exec", ns, "nft", "list", "table", "inet", "lossy").stdout
    m = re.search(r"counter packets (\d+)", out)
    assert m, out
    return int(m.group(1))


def step_ends(kidou, starts):
    """Wait for the done/fail line of every transfer in `starts` (matched
    by peer, in order: a client that repeats its request from the same
    port gets a second transfer)."""
    def find():
        ends = [e for e in kidou.events() if e.get("event") in ("done", "fail")]
        out = []
        for s in starts:
            mine = [e for e in ends if e["peer"] == s["peer"] and e["file"] == s["file"]
                    and e not in out]
            if not mine:
                return None
            out.append(mine[0])
        return out
    # a client that leaves right after its final ACK may leave the server
    # retransmitting until it gives up: up to retries x 100 ms
    return kidou.wait_for(find, timeout=T(15), what="end of every transfer")


def ended_well(ev, start) -> bool:
    size = int(start["size"])
    if ev["event"] == "done":
        assert ev["bytes"] == str(size)
        return True
    # the other acceptable end: the client's last ACK was lost after it had
    # everything and left (TFTP cannot tell the server otherwise), so at
    # most the last window is unacknowledged
    last_window = int(start["blksize"]) * int(start["windowsize"])
    return (ev["reason"] == "timeout" and ev["of"] == str(size)
            and int(ev["bytes_acked"]) >= size - last_window)


def test_transfers_survive_10_percent_loss(lossy_netns, kidou_factory, corpus, tmp_path):
    ns = lossy_netns
    k = kidou_factory("--tftp-retransmit-ms", 100, "--tftp-retries", 30, netns=ns)
    steps = []  # (name, starts of this step, expected start fields)

    def step(name, expect, run):
        before = len(k.events("start"))
        run()
        starts = k.events("start")[before:]
        assert starts, f"{name}: no transfer started"
        steps.append((name, starts, expect))

    # 1. curl, 64 KiB (128 blocks of 512)
    def curl64k():
        out = tmp_path / "curl64k"
        cp = subprocess.run(["ip", "netns", "exec", ns, "curl", "-sS", "--fail",
                             "--tftp-no-options", "-o", str(out),
                             f"tftp://127.0.0.1:{k.port}/size64k.bin"],
                            capture_output=True, timeout=T(60))
        assert cp.returncode == 0, cp
        assert sha256_file(out) == corpus["size64k.bin"][1]
    step("curl", {"file": "size64k.bin", "blksize": "512", "windowsize": "1",
                  "timeout_ms": "100"}, curl64k)

    # 2. and 3. raw client, 300 KiB at blksize 1024, windowsize 1 and 8
    def raw300k(windowsize):
        out = tmp_path / f"raw300k-w{windowsize}"
        cp = subprocess.run(["ip", "netns", "exec", ns, sys.executable,
                             str(HERE / "kidou_testlib.py"), "fetch", "127.0.0.1",
                             str(k.port), "size300k.bin", str(out), "1024", str(windowsize)],
                            capture_output=True, text=True, timeout=T(90))
        assert cp.returncode == 0, cp.stderr
        assert sha256_file(out) == corpus["size300k.bin"][1]
    for w in (1, 8):
        step(f"raw-w{w}", {"file": "size300k.bin", "blksize": "1024",
                           "windowsize": str(w)}, lambda w=w: raw300k(w))

    # 4. atftp, 300 KiB at blksize 1024 with windowsize 8. atftp's own loss
    # handling is weak: it aborts on a repeated OACK, and it answers a
    # repeated window with a single extra ACK and then ignores further
    # copies (which keep resetting its own timer), so losing that one ACK
    # deadlocks it until kidou gives up. So it gets several tries.
    def atftp300k():
        errors = []
        for attempt in range(5):
            out = tmp_path / f"atftp300k-{attempt}"
            cp = subprocess.run(["ip", "netns", "exec", ns, "atftp",
                                 "--option", "blksize 1024", "--option", "windowsize 8",
                                 "-g", "-r", "size300k.bin", "-l", str(out), "127.0.0.1",
                                 str(k.port)], capture_output=True, timeout=T(90))
            if cp.returncode == 0:
                assert sha256_file(out) == corpus["size300k.bin"][1]
                return
            errors.append(cp.stderr[-300:])
        pytest.fail(f"atftp failed five times: {errors}")
    step("atftp", {"file": "size300k.bin", "blksize": "1024", "windowsize": "8"}, atftp300k)

    # the log: the negotiated parameters, every transfer ended, each step
    # has a transfer that ended well, and loss really was applied
    total_retransmits = 0
    for name, starts, expect in steps:
        for s in starts:
            for key, value in expect.items():
                assert s[key] == value, f"{name}: {s['_line']}"
        ends = step_ends(k, starts)
        total_retransmits += sum(int(e["retransmits"]) for e in ends)
        assert any(ended_well(e, s) for e, s in zip(ends, starts)), \
            f"{name}: " + "\n".join(e["_line"] for e in ends)
        if name.startswith("raw"):
            # the raw client lingers for its final ACK: its transfer is done
            assert any(e["event"] == "done" for e in ends), [e["_line"] for e in ends]
    assert total_retransmits > 0, "no retransmissions: was loss applied?"
    assert dropped_packets(ns) > 0
