"""Windows of large blocks on a link with an ordinary MTU.

The host's loopback has a 64 KiB MTU, so every other test sends DATA
packets that never need IP fragmentation. Here kidou runs in a private
namespace whose loopback has MTU 1500, like Ethernet: blocks up to 1468
bytes fit a frame, larger ones must be fragmented by IP. Both must work
with any windowsize (kidou batches a window per system call, with UDP GSO
where the kernel allows it)."""
from __future__ import annotations

import os
import subprocess

import pytest

from kidou_testlib import NetNs, T, sha256_file


@pytest.fixture
def mtu1500_netns():
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    ns = NetNs(mtu=1500)
    try:
        yield ns.name
    finally:
        ns.delete()


@pytest.mark.parametrize("blksize,windowsize", [
    (1468, 8),    # 1468 + 4 + 8 + 20 = 1500: one frame per block
    (1469, 8),    # one byte too many for a frame
    (4096, 8),
    (8192, 4),
    (16000, 4),
    (32000, 2),
    (65464, 2),
    (4096, 1),
    (512, 16),
])
def test_window_with_mtu_1500(mtu1500_netns, kidou_factory, corpus, tmp_path, blksize,
                              windowsize):
    ns = mtu1500_netns
    k = kidou_factory("--tftp-retransmit-ms", 200, "--tftp-retries", 3, netns=ns)
    out = tmp_path / "out"
    cp = subprocess.run(["ip", "netns", "exec", ns, "atftp",
                         "--option", f"blksize {blksize}",
                         "--option", f"windowsize {windowsize}",
                         "-g", "-r", "size300k.bin", "-l", str(out), "127.0.0.1",
                         str(k.port)], capture_output=True, timeout=T(30))
    end = k.wait_for(lambda: k.events("done") or k.events("fail"), timeout=T(10),
                     what="end of transfer")[0]
    start = k.events("start")[0]
    assert (start["blksize"], start["windowsize"]) == (str(blksize), str(windowsize))
    assert end["event"] == "done", (
        f"blksize {blksize} windowsize {windowsize} over MTU 1500: {end['_line']}\n"
        + "\n".join(line for line in k.lines() if "send-error" in line or "gso" in line))
    assert cp.returncode == 0, cp.stderr
    assert sha256_file(out) == corpus["size300k.bin"][1]
    assert end["retransmits"] == "0", end["_line"]
    assert not [line for line in k.lines() if "send-error" in line]


def test_gso_fallback_does_not_break_later_transfers(mtu1500_netns, kidou_factory, corpus,
                                                     tmp_path):
    """Whatever kidou does when the kernel refuses a batched send, the
    transfers after it must still work, large blocks or small."""
    ns = mtu1500_netns
    k = kidou_factory("--tftp-retransmit-ms", 200, "--tftp-retries", 3, netns=ns)
    for i, (blk, win) in enumerate([(8192, 8), (512, 8), (1468, 16), (512, 1)]):
        out = tmp_path / f"out{i}"
        subprocess.run(["ip", "netns", "exec", ns, "atftp",
                        "--option", f"blksize {blk}", "--option", f"windowsize {win}",
                        "-g", "-r", "size64k.bin", "-l", str(out), "127.0.0.1", str(k.port)],
                       capture_output=True, timeout=T(30))
        k.wait_for(lambda: len(k.events("done")) + len(k.events("fail")) > i,
                   timeout=T(10), what=f"end of transfer {i}")
        if i > 0:
            assert sha256_file(out) == corpus["size64k.bin"][1], (blk, win)
    fails = k.events("fail")
    assert all(f["_line"] for f in fails)
    assert len(k.events("done")) >= 3, k.text()
