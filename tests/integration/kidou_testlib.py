"""Helpers shared by kidou's integration tests: running kidou, reading its
logfmt log, generating test files and a small raw-socket TFTP client.

Only the Python standard library is used. conftest.py wraps these in
fixtures; test modules import the client and packet helpers directly.
"""
from __future__ import annotations

import hashlib
import os
import random
import re
import select
import signal
import socket
import struct
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional

REPO_ROOT = Path(__file__).resolve().parents[2]
SANITIZED = os.environ.get("KIDOU_SANITIZED") == "1"
# Everything time-related is stretched for the (much slower) ASan build.
SLOW = 4.0 if SANITIZED else 1.0

SANITIZER_PATTERNS = (
    re.compile(r"ERROR: AddressSanitizer"),
    re.compile(r"ERROR: LeakSanitizer"),
    re.compile(r"runtime error:"),
    re.compile(r"ERROR: \w*Sanitizer"),
)


def kidou_bin() -> str:
    env = os.environ.get("KIDOU_BIN")
    if env:
        return env
    return str(REPO_ROOT / "build" / "kidou")


def T(seconds: float) -> float:
    """A timeout, scaled for sanitizer builds."""
    return seconds * SLOW


def sanitizer_findings(text: str) -> list[str]:
    hits = []
    for line in text.splitlines():
        if any(p.search(line) for p in SANITIZER_PATTERNS):
            hits.append(line)
    return hits


# --------------------------------------------------------------------------
# files


def det_bytes(size: int, seed) -> bytes:
    """Deterministic pseudo-random content: same (size, seed), same bytes."""
    return random.Random(f"kidou-{seed}-{size}").randbytes(size)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def make_file(directory, name: str, size: int, seed=None) -> str:
    """Create directory/name with `size` deterministic random bytes; return
    its sha256."""
    path = Path(directory) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    data = det_bytes(size, name if seed is None else seed)
    path.write_bytes(data)
    return sha256_bytes(data)


# --------------------------------------------------------------------------
# logfmt

_PAIR = re.compile(r'([A-Za-z_][\w.-]*)=("(?:[^"\\]|\\.)*"|\S*)')


def _unquote(v: str) -> str:
    if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
        v = v[1:-1]
        v = re.sub(r"\\x([0-9a-f]{2})", lambda m: chr(int(m.group(1), 16)), v)
        v = v.replace('\\"', '"').replace("\\\\", "\\")
    return v


def parse_logfmt(line: str) -> dict:
    return {k: _unquote(v) for k, v in _PAIR.findall(line)}


# --------------------------------------------------------------------------
# the kidou process


class KidouError(AssertionError):
    pass


class Kidou:
    """One kidou process whose stderr goes to a log file we can poll."""

    def __init__(self, workdir: Path, args: Iterable[str] = (), netns: Optional[str] = None,
                 name: str = "kidou"):
        self.workdir = Path(workdir)
        self.args = list(args)
        self.netns = netns
        self.log_path = self.workdir / f"{name}.log"
        self.proc: Optional[subprocess.Popen] = None
        self.port: Optional[int] = None
        self.returncode: Optional[int] = None
        self.expect_rc: Optional[int] = 0  # checked by the fixture teardown

    @property
    def cmd(self) -> list[str]:
        cmd = [kidou_bin()] + self.args
        if self.netns:
            cmd = ["ip", "netns", "exec", self.netns] + cmd
        return cmd

    def start(self, wait_ready: bool = True, timeout: float = 10.0) -> "Kidou":
        self.workdir.mkdir(parents=True, exist_ok=True)
        logf = open(self.log_path, "wb")
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
        try:
            self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL,
                                         stdout=logf, stderr=logf, env=env)
        finally:
            logf.close()
        if wait_ready:
            ready = self.wait_event("ready", mod="main", timeout=T(timeout))
            assert ready["version"], ready
            listening = self.events("listening", mod="tftp")
            assert listening, self.text()
            self.port = int(listening[-1]["addr"].rsplit(":", 1)[1])
            assert 1024 <= self.port <= 65535
        return self

    # -- log access --

    def text(self) -> str:
        try:
            return self.log_path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def lines(self) -> list[str]:
        return self.text().splitlines()

    def events(self, event: Optional[str] = None, mod: Optional[str] = None,
               **match) -> list[dict]:
        out = []
        for line in self.lines():
            if not line.startswith("level="):
                continue
            d = parse_logfmt(line)
            d["_line"] = line
            if event is not None and d.get("event") != event:
                continue
            if mod is not None and d.get("mod") != mod:
                continue
            if any(d.get(k) != str(v) for k, v in match.items()):
                continue
            out.append(d)
        return out

    def wait_for(self, pred: Callable[[], object], timeout: float, what: str = "condition"):
        deadline = time.monotonic() + timeout
        while True:
            r = pred()
            if r:
                return r
            if self.proc is not None and self.proc.poll() is not None:
                r = pred()
                if r:
                    return r
                raise KidouError(f"kidou exited (rc={self.proc.returncode}) while waiting "
                                 f"for {what}; log:\n{self.text()[-4000:]}")
            if time.monotonic() > deadline:
                raise KidouError(f"timed out after {timeout:.1f}s waiting for {what}; "
                                 f"log:\n{self.text()[-4000:]}")
            time.sleep(0.01)

    def wait_event(self, event: str, mod: Optional[str] = None, count: int = 1,
                   timeout: float = 10.0, **match) -> dict:
        evs = self.wait_for(lambda: (lambda e: e if len(e) >= count else None)(
            self.events(event, mod=mod, **match)), timeout,
            what=f"{count}x event={event} {match}")
        return evs[count - 1]

    def wait_events(self, event: str, count: int, timeout: float = 10.0, **match) -> list[dict]:
        return self.wait_for(lambda: (lambda e: e if len(e) >= count else None)(
            self.events(event, **match)), timeout, what=f"{count}x event={event} {match}")

    # -- lifecycle --

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, signo) -> None:
        self.proc.send_signal(signo)

    def wait(self, timeout: float) -> int:
        self.returncode = self.proc.wait(timeout=timeout)
        return self.returncode

    def boot_summary_at_stop(self, mac: str) -> dict:
        """Stop kidou (it must exit 0) and return the one boot timeline
        summary it wrote for mac. On exit kidou summarises every boot it
        still follows, so a test need not wait out the idle time, nor race
        it against how long a kernel takes to ask for its address."""
        assert self.stop(timeout=15) == 0, self.text()[-3000:]
        summaries = self.events("timeline", mod="boot", mac=mac)
        assert len(summaries) == 1, self.text()
        return summaries[0]

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM and wait; returns the exit code (kills on timeout)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=T(timeout))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.returncode = self.proc.returncode
                raise KidouError(f"kidou did not exit within {T(timeout):.0f}s of SIGTERM; "
                                 f"log:\n{self.text()[-4000:]}")
        self.returncode = self.proc.returncode
        return self.returncode

    def sanitizer_findings(self) -> list[str]:
        return sanitizer_findings(self.text())


def run_kidou(args: list[str], timeout: float = 10.0, netns: Optional[str] = None,
              cwd=None) -> subprocess.CompletedProcess:
    cmd = [kidou_bin()] + list(args)
    if netns:
        cmd = ["ip", "netns", "exec", netns] + cmd
    return subprocess.run(cmd, capture_output=True, text=True, timeout=T(timeout),
                          stdin=subprocess.DEVNULL, cwd=cwd, errors="replace")


# --------------------------------------------------------------------------
# network namespaces


def sh(*cmd, check=True, input=None, timeout=20) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, check=check,
                          input=input, timeout=timeout)


class NetNs:
    """A private network namespace with only `lo` (up), for kidou and its
    clients. Created by us, so everything left running inside at the end is
    ours and is killed (by pid) before the namespace is deleted."""

    def __init__(self, mtu: Optional[int] = None, nft_rules: Optional[str] = None):
        import secrets
        self.name = f"kidou-test-{secrets.token_hex(4)}"
        sh("ip", "netns", "add", self.name)
        try:
            self.run("ip", "link", "set", "lo", "up")
            if mtu:
                self.run("ip", "link", "set", "lo", "mtu", mtu)
            if nft_rules:
                sh("ip", "netns", "exec", self.name, "nft", "-f", "-", input=nft_rules)
        except BaseException:
            self.delete()
            raise

    def run(self, *cmd, **kw) -> subprocess.CompletedProcess:
        return sh("ip", "netns", "exec", self.name, *cmd, **kw)

    def delete(self):
        pids = sh("ip", "netns", "pids", self.name, check=False).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        sh("ip", "netns", "del", self.name, check=False)
        assert self.name not in sh("ip", "netns", "list").stdout.split()


# --------------------------------------------------------------------------
# TFTP wire format

OP_RRQ, OP_WRQ, OP_DATA, OP_ACK, OP_ERROR, OP_OACK = 1, 2, 3, 4, 5, 6


def _b(s) -> bytes:
    return s if isinstance(s, bytes) else str(s).encode()


def build_request(filename, mode="octet", options=(), opcode=OP_RRQ) -> bytes:
    pkt = struct.pack("!H", opcode) + _b(filename) + b"\0" + _b(mode) + b"\0"
    if isinstance(options, dict):
        options = list(options.items())
    for k, v in options:
        pkt += _b(k) + b"\0" + _b(v) + b"\0"
    return pkt


def build_ack(block: int) -> bytes:
    return struct.pack("!HH", OP_ACK, block & 0xFFFF)


def build_error(code: int, msg="") -> bytes:
    return struct.pack("!HH", OP_ERROR, code) + _b(msg) + b"\0"


@dataclass
class Packet:
    opcode: int
    raw: bytes
    block: Optional[int] = None
    data: bytes = b""
    code: Optional[int] = None
    message: str = ""
    options: dict = field(default_factory=dict)

    def __repr__(self):
        if self.opcode == OP_DATA:
            return f"DATA(block={self.block}, len={len(self.data)})"
        if self.opcode == OP_ERROR:
            return f"ERROR(code={self.code}, msg={self.message!r})"
        if self.opcode == OP_OACK:
            return f"OACK({self.options})"
        if self.opcode == OP_ACK:
            return f"ACK({self.block})"
        return f"Packet(op={self.opcode}, raw={self.raw[:32]!r})"


def parse_packet(raw: bytes) -> Packet:
    if len(raw) < 2:
        return Packet(-1, raw)
    (op,) = struct.unpack("!H", raw[:2])
    p = Packet(op, raw)
    if op == OP_DATA and len(raw) >= 4:
        p.block = struct.unpack("!H", raw[2:4])[0]
        p.data = raw[4:]
    elif op == OP_ACK and len(raw) >= 4:
        p.block = struct.unpack("!H", raw[2:4])[0]
    elif op == OP_ERROR and len(raw) >= 4:
        p.code = struct.unpack("!H", raw[2:4])[0]
        msg = raw[4:]
        assert msg.endswith(b"\0"), f"ERROR message not NUL-terminated: {raw!r}"
        p.message = msg[:-1].decode("latin-1")
    elif op == OP_OACK:
        body = raw[2:]
        assert body == b"" or body.endswith(b"\0"), f"OACK not NUL-terminated: {raw!r}"
        parts = body.split(b"\0")[:-1] if body else []
        assert len(parts) % 2 == 0, f"OACK has odd number of strings: {raw!r}"
        for i in range(0, len(parts), 2):
            name = parts[i].decode("latin-1").lower()
            assert name not in p.options, f"duplicate option {name} in OACK {raw!r}"
            p.options[name] = parts[i + 1].decode("latin-1")
    return p


class TftpError(Exception):
    def __init__(self, packet: Packet):
        super().__init__(f"server sent {packet!r}")
        self.packet = packet
        self.code = packet.code
        self.message = packet.message


class RawClient:
    """A deliberately low-level TFTP client: every packet is explicit, so
    tests can misbehave on purpose."""

    def __init__(self, port: int, host: str = "127.0.0.1", bind_port: int = 0):
        self.server = (host, port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", bind_port))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.tid: Optional[tuple] = None  # the server's transfer endpoint

    @property
    def local_port(self) -> int:
        return self.sock.getsockname()[1]

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send_raw(self, data: bytes, to=None):
        self.sock.sendto(data, to or self.server)

    def rrq(self, filename, mode="octet", options=()):
        self.tid = None
        self.send_raw(build_request(filename, mode, options))

    def wrq(self, filename, mode="octet", options=()):
        self.send_raw(build_request(filename, mode, options, opcode=OP_WRQ))

    def recv(self, timeout: float = 2.0) -> Optional[tuple[Packet, tuple]]:
        """Next datagram as (Packet, from_addr), or None on timeout."""
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            return None
        raw, addr = self.sock.recvfrom(70000)
        return parse_packet(raw), addr

    def expect(self, timeout: float = 2.0) -> Packet:
        got = self.recv(timeout)
        assert got is not None, f"no reply from the server within {timeout:.1f}s"
        pkt, addr = got
        if self.tid is None and addr != self.server:
            self.tid = addr
        return pkt

    def expect_error(self, timeout: float = 2.0) -> Packet:
        pkt = self.expect(timeout)
        assert pkt.opcode == OP_ERROR, f"expected ERROR, got {pkt!r}"
        return pkt

    def drain(self, duration: float, until: Optional[Callable[[Packet], bool]] = None,
              ) -> list[tuple[Packet, tuple, float]]:
        """Everything that arrives within `duration` seconds, with arrival
        times; stops early after a packet for which `until` is true."""
        out = []
        deadline = time.monotonic() + duration
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return out
            got = self.recv(left)
            if got is None:
                return out
            out.append((got[0], got[1], time.monotonic()))
            if until is not None and until(got[0]):
                return out

    def ack(self, block: int, to=None):
        self.send_raw(build_ack(block), to or self.tid)

    def error(self, code: int, msg: str = "", to=None):
        self.send_raw(build_error(code, msg), to or self.tid)

    def fetch(self, filename, mode="octet", options=(), timeout: float = 5.0,
              windowsize: Optional[int] = None, linger: float = 0.0,
              max_stalls: int = 5) -> tuple[bytes, dict]:
        """A complete, well-behaved read. Returns (content, oack options).

        Tolerates loss like a careful client: a duplicate or out-of-order
        block is answered with an ACK of the last in-order block (RFC 7440),
        a repeated OACK with ACK 0, silence with a re-ACK; after the last
        block it lingers `linger` seconds to re-ACK a retransmitted final
        block (the "dally" of RFC 1350)."""
        self.rrq(filename, mode, options)
        opts = dict((k.lower(), str(v)) for k, v in (options.items() if isinstance(options, dict)
                                                    else options))
        blksize = 512
        wsize = 1
        oack = {}
        for attempt in range(max_stalls):
            got = self.recv(timeout)
            if got is not None:
                break
            self.rrq(filename, mode, options)  # the request may have been lost
        else:
            raise AssertionError(f"no reply to RRQ {filename!r}")
        pkt, addr = got
        if pkt.opcode != OP_ERROR:
            self.tid = addr
        if pkt.opcode == OP_ERROR:
            raise TftpError(pkt)
        if pkt.opcode == OP_OACK:
            oack = pkt.options
            for name in oack:
                assert name in opts, f"OACK has option {name} we did not ask for: {oack}"
            blksize = int(oack.get("blksize", 512))
            wsize = int(oack.get("windowsize", 1))
            self.ack(0)
            pkt = None
        if windowsize is not None:
            wsize = windowsize
        chunks = []
        expected = 1
        since_ack = 0
        stalls = 0
        while True:
            if pkt is None:
                got = self.recv(timeout)
                if got is None:
                    stalls += 1
                    assert stalls < max_stalls, \
                        f"transfer of {filename!r} stalled at block {expected}"
                    self.ack((expected - 1) & 0xFFFF)
                    continue
                pkt, addr = got
                if addr != self.tid:
                    pkt = None
                    continue
            if pkt.opcode == OP_ERROR:
                raise TftpError(pkt)
            if pkt.opcode == OP_OACK and oack and expected == 1:
                self.ack(0)  # our ACK 0 was lost
                pkt = None
                continue
            assert pkt.opcode == OP_DATA, f"unexpected {pkt!r}"
            if pkt.block != (expected & 0xFFFF):
                self.ack((expected - 1) & 0xFFFF)
                since_ack = 0
                pkt = None
                continue
            stalls = 0
            assert len(pkt.data) <= blksize, f"block {expected} has {len(pkt.data)} > {blksize}"
            chunks.append(pkt.data)
            last = len(pkt.data) < blksize
            since_ack += 1
            if last or since_ack >= wsize:
                self.ack(expected)
                since_ack = 0
            pkt = None
            if last:
                final = expected & 0xFFFF
                deadline = time.monotonic() + linger
                while time.monotonic() < deadline:
                    got = self.recv(deadline - time.monotonic())
                    if got and got[1] == self.tid and got[0].opcode == OP_DATA:
                        self.ack(final)
                return b"".join(chunks), oack
            expected += 1


def _main(argv):
    """`python3 kidou_testlib.py fetch HOST PORT NAME OUT [blksize [windowsize]]`:
    the raw client as a command, for running inside a network namespace."""
    import sys
    if len(argv) < 6 or argv[1] != "fetch":
        print(_main.__doc__, file=sys.stderr)
        return 2
    host, port, name, out = argv[2], int(argv[3]), argv[4], argv[5]
    opts = {}
    if len(argv) > 6:
        opts["blksize"] = argv[6]
    if len(argv) > 7:
        opts["windowsize"] = argv[7]
    with RawClient(port, host=host) as c:
        data, _ = c.fetch(name, options=opts, timeout=1.0, linger=1.0, max_stalls=30)
    Path(out).write_bytes(data)
    return 0


if __name__ == "__main__":
    import sys
    sys.exit(_main(sys.argv))
