"""The event loop's busy polling (--busy-poll, docs/tftp.md):
it spins for the next packet only while packets come fast, an idle kidou
never burns CPU, and 0 turns it off. kidou reports at exit how often it
spun (`event=busy-poll spins=N hits=M`)."""
from __future__ import annotations

import os
import time

import pytest

from kidou_testlib import RawClient, sha256_bytes

FILE = "size1m.bin"


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    # Fields after the parenthesised command name; utime and stime are the
    # 14th and 15th fields of the whole line.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fetch_windowsize_1(port: int, corpus) -> None:
    """One transfer at windowsize 1, ACKing each block as soon as it comes:
    the fast request/answer exchange busy polling is for."""
    with RawClient(port) as c:
        data, _oack = c.fetch(FILE, options={"blksize": "512"})
    assert sha256_bytes(data) == corpus[FILE][1]


def busy_poll_stats(k) -> dict:
    k.stop()
    ev = k.events("busy-poll", mod="main")
    assert len(ev) == 1, k.text()[-2000:]
    return {key: int(ev[0][key]) for key in ("spins", "hits")}


def test_spins_while_acks_come_fast(kidou_factory, corpus):
    # A 1 ms ceiling: a local client's ACK comes well within it even on a
    # loaded machine under sanitizers, so of the 2049 waits for an ACK some
    # must have been served by the spin.
    k = kidou_factory("--busy-poll", 1000)
    fetch_windowsize_1(k.port, corpus)
    st = busy_poll_stats(k)
    assert st["hits"] > 0, st
    assert st["spins"] >= st["hits"], st


def test_zero_never_spins(kidou_factory, corpus):
    k = kidou_factory("--busy-poll", 0)
    fetch_windowsize_1(k.port, corpus)
    st = busy_poll_stats(k)
    assert st == {"spins": 0, "hits": 0}


@pytest.mark.parametrize("ceiling", [100, 1000])
def test_idle_server_does_not_spin(kidou_factory, corpus, ceiling):
    k = kidou_factory("--busy-poll", ceiling)
    fetch_windowsize_1(k.port, corpus)
    time.sleep(0.3)  # the transfer's end and its log line
    before = cpu_seconds(k.proc.pid)
    time.sleep(2.0)
    used = cpu_seconds(k.proc.pid) - before
    # Sleeping in epoll costs next to nothing; a loop that kept spinning
    # with no packet to wait for would use most of the 2 s.
    assert used < 0.5, f"idle kidou used {used:.2f} CPU-s in 2 s"
