"""Shared pieces of kidou's DHCP integration tests.

Network layout (one per test, torn down afterwards):

    namespace kd-srv-<rand>                namespace kd-cli-<rand>
      v0 172.24.0.1/16   <--- veth --->      v1 (fresh 52:54:00:.. MAC)
      kidou --interface v0                   udhcpc / dhclient / dhcpcd,
                                             raw packets (AF_PACKET on v1)

Nothing is created in the root namespace: the veth pair is created with both
ends directly inside the test namespaces. Raw sockets are opened inside the
client namespace by switching the calling thread there with setns(2) for the
duration of the socket() and bind() calls; a socket stays in the namespace
it was created in.

Packets are encoded and decoded here byte by byte (so that hostile tests can
send anything), scapy only builds the Ethernet/IPv4/UDP framing (checksums,
fragments). Replies are parsed strictly: a reply that is not a well-formed
DHCP message fails the test.

Fixtures (import them into a test module):
    dhcp_net    the two namespaces and the veth pair (DhcpNet)
    dhcpd       start kidou in the server namespace: dhcpd(*flags, **kw)
    link        an AF_PACKET socket on v1 in the client namespace (RawLink)
"""
from __future__ import annotations

import ctypes
import errno
import ipaddress
import os
import secrets
import select
import signal
import socket
import sqlite3
import struct
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

import pytest

from kidou_testlib import T, Kidou

SRV_ADDR = "172.24.0.1"
PREFIX = 16
NETMASK = "255.255.0.0"
RANGE = ("172.24.32.1", "172.24.32.254")
ROUTER = "172.24.0.1"
DNS = ("172.24.0.53", "9.9.9.9")
DOMAIN = "kidou.test"
LEASE = 600

MAGIC = b"\x63\x82\x53\x63"

DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK, RELEASE, INFORM = range(1, 9)
TYPE_NAMES = {1: "DISCOVER", 2: "OFFER", 3: "REQUEST", 4: "DECLINE", 5: "ACK",
              6: "NAK", 7: "RELEASE", 8: "INFORM"}

# option codes
O_MASK, O_ROUTER, O_DNS, O_HOSTNAME, O_DOMAIN = 1, 3, 6, 12, 15
O_VENDOR = 43
O_REQ_IP, O_LEASE, O_OVERLOAD, O_TYPE, O_SERVER_ID, O_PRL = 50, 51, 52, 53, 54, 55
O_MAXMSG, O_T1, O_T2, O_VCLASS, O_CLIENT_ID = 57, 58, 59, 60, 61
O_TFTP_SERVER, O_BOOTFILE, O_USER_CLASS, O_RELAY = 66, 67, 77, 82
O_ARCH, O_NDI, O_UUID = 93, 94, 97

BROADCAST_FLAG = 0x8000

ETH_P_IP = 0x0800
PACKET_OUTGOING = 4


def sh(*cmd, check=True, timeout=20, **kw) -> subprocess.CompletedProcess:
    cp = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                        timeout=T(timeout), stdin=subprocess.DEVNULL, **kw)
    if check and cp.returncode != 0:
        raise AssertionError(f"command failed ({cp.returncode}): {' '.join(map(str, cmd))}\n"
                             f"{cp.stdout}{cp.stderr}")
    return cp


def random_mac(prefix: bytes = b"\x52\x54\x00") -> str:
    return ":".join(f"{b:02x}" for b in prefix + secrets.token_bytes(6 - len(prefix)))


def mac_bytes(mac: str) -> bytes:
    return bytes(int(x, 16) for x in mac.split(":"))


def ip2int(a: str) -> int:
    return int(ipaddress.IPv4Address(a))


def int2ip(n: int) -> str:
    return str(ipaddress.IPv4Address(n))


def in_range(ip: str, first: str, last: str) -> bool:
    return ip2int(first) <= ip2int(ip) <= ip2int(last)


# --------------------------------------------------------------------------
# network namespaces

_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000


def _setns(fd: int):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


@contextmanager
def in_netns(name: str):
    """Run the body with this thread in network namespace `name`."""
    here = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    there = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        _setns(there)
        try:
            yield
        finally:
            _setns(here)
    finally:
        os.close(here)
        os.close(there)


class DhcpNet:
    """Two namespaces joined by v0 (server, 172.24.0.1/16) and v1 (client)."""

    def __init__(self, tmp: Path):
        tag = secrets.token_hex(3)
        self.srv = f"kd-srv-{tag}"
        self.cli = f"kd-cli-{tag}"
        self.tmp = tmp
        self.client_mac = random_mac()
        self._created: list[str] = []

    def setup(self):
        for ns in (self.srv, self.cli):
            sh("ip", "netns", "add", ns)
            self._created.append(ns)
        sh("ip", "link", "add", "v0", "netns", self.srv, "type", "veth",
           "peer", "name", "v1", "netns", self.cli)
        self.srv_ip("addr", "add", f"{SRV_ADDR}/{PREFIX}", "dev", "v0")
        self.cli_ip("link", "set", "v1", "address", self.client_mac)
        for ns, dev in ((self.srv, "v0"), (self.cli, "v1")):
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", ns, "link", "set", dev, "up")
        self.wait_carrier("v1")
        return self

    def srv_ip(self, *args):
        return sh("ip", "-n", self.srv, *args)

    def cli_ip(self, *args):
        return sh("ip", "-n", self.cli, *args)

    def wait_carrier(self, dev, ns=None, timeout=5.0):
        ns = ns or self.cli
        deadline = time.monotonic() + T(timeout)
        while time.monotonic() < deadline:
            out = sh("ip", "-n", ns, "-o", "link", "show", dev).stdout
            if "LOWER_UP" in out:
                return
            time.sleep(0.02)
        raise AssertionError(f"{dev} in {ns} has no carrier: {out}")

    def set_client_mac(self, mac: Optional[str] = None) -> str:
        """Give v1 a new MAC (the real clients take their identity from it)."""
        self.client_mac = mac or random_mac()
        self.cli_ip("link", "set", "v1", "down")
        self.cli_ip("addr", "flush", "dev", "v1")
        self.cli_ip("link", "set", "v1", "address", self.client_mac)
        self.cli_ip("link", "set", "v1", "up")
        self.wait_carrier("v1")
        return self.client_mac

    def add_link(self, srv_dev: str, cli_dev: str, srv_cidr: Optional[str] = None):
        """A second veth pair between the two namespaces."""
        sh("ip", "link", "add", srv_dev, "netns", self.srv, "type", "veth",
           "peer", "name", cli_dev, "netns", self.cli)
        if srv_cidr:
            self.srv_ip("addr", "add", srv_cidr, "dev", srv_dev)
        self.srv_ip("link", "set", srv_dev, "up")
        self.cli_ip("link", "set", cli_dev, "up")
        self.wait_carrier(cli_dev)

    def pids(self, ns) -> list[int]:
        out = sh("ip", "netns", "pids", ns, check=False).stdout.split()
        return [int(p) for p in out if p.isdigit()]

    def teardown(self):
        # Every process in these namespaces was started by this test
        # (kidou, udhcpc, dhclient, dhcpcd and its privsep helpers).
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = [p for ns in self._created for p in self.pids(ns)]
            if not pids:
                break
            for p in pids:
                try:
                    os.kill(p, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline and any(self.pids(ns) for ns in self._created):
                time.sleep(0.05)
        for ns in self._created:
            sh("ip", "netns", "del", ns, check=False)
        left = sh("ip", "netns", "list").stdout
        assert not any(ns in left for ns in self._created), left


# --------------------------------------------------------------------------
# the DHCP message codec


def opt(code: int, value) -> tuple[int, bytes]:
    if isinstance(value, str):
        value = value.encode()
    elif isinstance(value, int):
        value = bytes([value])
    return code, bytes(value)


def opt_ip(code: int, *addrs: str) -> tuple[int, bytes]:
    return code, b"".join(socket.inet_aton(a) for a in addrs)


def opt_type(t: int) -> tuple[int, bytes]:
    return O_TYPE, bytes([t])


def opt_prl(*codes: int) -> tuple[int, bytes]:
    return O_PRL, bytes(codes)


def opt_u16(code: int, v: int) -> tuple[int, bytes]:
    return code, struct.pack("!H", v)


def encode_options(options) -> bytes:
    out = b""
    for code, value in options:
        assert len(value) <= 255, (code, len(value))
        out += bytes([code, len(value)]) + value
    return out


def build_dhcp(*, op=1, htype=1, hlen=6, hops=0, xid=0, secs=0, flags=0,
               ciaddr="0.0.0.0", yiaddr="0.0.0.0", siaddr="0.0.0.0", giaddr="0.0.0.0",
               chaddr=b"", sname=b"", file=b"", options=(), raw_options: Optional[bytes] = None,
               cookie: bytes = MAGIC, end=True, pad_to=300) -> bytes:
    """A BOOTP/DHCP message. `options` is a list of (code, bytes); or give
    `raw_options` to send exactly those bytes after the cookie."""
    if isinstance(chaddr, str):
        chaddr = mac_bytes(chaddr)
    hdr = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", op, htype, hlen, hops, xid, secs, flags,
                      socket.inet_aton(ciaddr), socket.inet_aton(yiaddr),
                      socket.inet_aton(siaddr), socket.inet_aton(giaddr),
                      chaddr.ljust(16, b"\0")[:16], sname.ljust(64, b"\0")[:64],
                      file.ljust(128, b"\0")[:128])
    body = raw_options if raw_options is not None else encode_options(options) + (
        b"\xff" if end else b"")
    msg = hdr + cookie + body
    if len(msg) < pad_to:
        msg += b"\0" * (pad_to - len(msg))
    return msg


@dataclass
class Dhcp:
    op: int
    htype: int
    hlen: int
    hops: int
    xid: int
    secs: int
    flags: int
    ciaddr: str
    yiaddr: str
    siaddr: str
    giaddr: str
    chaddr: bytes
    sname: bytes
    file_raw: bytes
    options: dict = field(default_factory=dict)   # code -> concatenated bytes
    order: list = field(default_factory=list)     # codes in wire order
    raw: bytes = b""

    @property
    def type(self) -> Optional[int]:
        v = self.options.get(O_TYPE)
        return v[0] if v and len(v) == 1 else None

    @property
    def file(self) -> str:
        return self.file_raw.split(b"\0", 1)[0].decode("latin-1")

    def ip_opt(self, code) -> Optional[str]:
        v = self.options.get(code)
        if v is None:
            return None
        assert len(v) == 4, f"option {code} is {len(v)} bytes, not an address: {v!r}"
        return socket.inet_ntoa(v)

    def ips_opt(self, code) -> Optional[list[str]]:
        v = self.options.get(code)
        if v is None:
            return None
        assert len(v) % 4 == 0 and v, f"option {code}: {v!r}"
        return [socket.inet_ntoa(v[i:i + 4]) for i in range(0, len(v), 4)]

    def u32_opt(self, code) -> Optional[int]:
        v = self.options.get(code)
        if v is None:
            return None
        assert len(v) == 4, f"option {code}: {v!r}"
        return struct.unpack("!I", v)[0]

    def str_opt(self, code) -> Optional[str]:
        v = self.options.get(code)
        return None if v is None else v.decode("latin-1")

    def __repr__(self):
        t = TYPE_NAMES.get(self.type, self.type)
        return (f"Dhcp({t} xid=0x{self.xid:08x} yiaddr={self.yiaddr} siaddr={self.siaddr} "
                f"giaddr={self.giaddr} file={self.file!r} options="
                f"{ {k: self.options[k] for k in self.order} })")


def parse_dhcp(data: bytes, strict=True) -> Dhcp:
    """Decode a DHCP message. strict: it must be a well-formed reply as RFC
    2131 requires (cookie, options ending in END, no overrun)."""
    assert len(data) >= 240, f"DHCP message of {len(data)} bytes"
    f = struct.unpack("!BBBBIHH4s4s4s4s16s64s128s4s", data[:240])
    m = Dhcp(op=f[0], htype=f[1], hlen=f[2], hops=f[3], xid=f[4], secs=f[5], flags=f[6],
             ciaddr=socket.inet_ntoa(f[7]), yiaddr=socket.inet_ntoa(f[8]),
             siaddr=socket.inet_ntoa(f[9]), giaddr=socket.inet_ntoa(f[10]),
             chaddr=f[11], sname=f[12], file_raw=f[13], raw=data)
    assert f[14] == MAGIC, f"bad magic cookie {f[14]!r}"
    p = data[240:]
    i = 0
    ended = False
    while i < len(p):
        code = p[i]
        if code == 0:
            i += 1
            continue
        if code == 255:
            ended = True
            break
        assert i + 1 < len(p), f"option {code} has no length byte: {data!r}"
        n = p[i + 1]
        assert i + 2 + n <= len(p), f"option {code} (len {n}) overruns the message"
        m.options[code] = m.options.get(code, b"") + p[i + 2:i + 2 + n]
        m.order.append(code)
        i += 2 + n
    if strict:
        assert ended, f"options do not end with END: {data[240:]!r}"
        assert all(b == 0 for b in p[i + 1:]), "bytes after END are not padding"
    return m


# --------------------------------------------------------------------------
# frames

def udp_frame(payload: bytes, src_mac: str, src_ip="0.0.0.0", dst_ip="255.255.255.255",
              sport=68, dport=67, dst_mac="ff:ff:ff:ff:ff:ff", fragsize: Optional[int] = None
              ) -> list[bytes]:
    """Ethernet/IPv4/UDP frames carrying payload (several when fragmented)."""
    from scapy.layers.inet import IP, UDP, fragment
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw

    ip = IP(src=src_ip, dst=dst_ip, ttl=64, id=secrets.randbelow(65536)) / \
        UDP(sport=sport, dport=dport) / Raw(payload)
    ips = fragment(ip, fragsize=fragsize) if fragsize else [ip]
    return [bytes(Ether(src=src_mac, dst=dst_mac) / p) for p in ips]


@dataclass
class Reply:
    eth_src: str
    eth_dst: str
    ip_src: str
    ip_dst: str
    sport: int
    dport: int
    payload: bytes
    dhcp: Dhcp
    frame: bytes


def _mac_str(b: bytes) -> str:
    return ":".join(f"{x:02x}" for x in b)


def parse_frame(frame: bytes) -> Optional[tuple]:
    """(eth_dst, eth_src, ip_src, ip_dst, sport, dport, payload) of an
    unfragmented IPv4/UDP frame, else None."""
    if len(frame) < 14 + 20 + 8 or frame[12:14] != b"\x08\x00":
        return None
    ip = frame[14:]
    ihl = (ip[0] & 0x0F) * 4
    if ip[0] >> 4 != 4 or ip[9] != 17:
        return None
    total = struct.unpack("!H", ip[2:4])[0]
    if struct.unpack("!H", ip[6:8])[0] & 0x3FFF:
        return None  # a fragment
    udp = ip[ihl:total]
    sport, dport, ulen = struct.unpack("!HHH", udp[:6])
    return (_mac_str(frame[0:6]), _mac_str(frame[6:12]), socket.inet_ntoa(ip[12:16]),
            socket.inet_ntoa(ip[16:20]), sport, dport, udp[8:ulen])


class RawLink:
    """An AF_PACKET socket on an interface of a namespace: sends frames, and
    collects the DHCP messages the interface receives."""

    def __init__(self, netns: str, ifname: str = "v1"):
        self.ifname = ifname
        with in_netns(netns):
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
            self.sock.bind((ifname, ETH_P_IP))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.mac = _mac_str(self.sock.getsockname()[4])

    def close(self):
        self.sock.close()

    def send(self, frames):
        if isinstance(frames, (bytes, bytearray)):
            frames = [frames]
        for f in frames:
            self.sock.send(f)

    def send_dhcp(self, msg: bytes, src_mac: Optional[str] = None, **kw):
        self.send(udp_frame(msg, src_mac or self.mac, **kw))

    def _recv(self):
        """A frame, or None for the pending ENETDOWN a socket reports once
        after its interface went down (e.g. for a MAC change)."""
        try:
            return self.sock.recvfrom(65535)
        except OSError as e:
            if e.errno == errno.ENETDOWN:
                return None
            raise

    def drain(self):
        while select.select([self.sock], [], [], 0)[0]:
            self._recv()

    def collect(self, timeout: float, xid: Optional[int] = None, port: int = 68,
                until_first=False) -> list[Reply]:
        """DHCP messages to UDP `port` (optionally only for xid) arriving
        within timeout seconds."""
        out = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return out
            if not select.select([self.sock], [], [], left)[0]:
                return out
            got = self._recv()
            if got is None:
                continue
            frame, addr = got
            if addr[2] == PACKET_OUTGOING:
                continue
            pf = parse_frame(frame)
            if not pf or pf[5] != port:
                continue
            eth_dst, eth_src, ip_src, ip_dst, sport, dport, payload = pf
            d = parse_dhcp(payload)
            if xid is not None and d.xid != xid:
                continue
            out.append(Reply(eth_src, eth_dst, ip_src, ip_dst, sport, dport, payload, d, frame))
            if until_first:
                return out

    def expect(self, xid: int, timeout: float = 3.0, port: int = 68, what="a reply") -> Reply:
        got = self.collect(T(timeout), xid=xid, port=port, until_first=True)
        assert got, f"no DHCP reply for xid 0x{xid:08x} within {T(timeout):.1f}s ({what})"
        return got[0]

    def expect_none(self, xid: Optional[int], timeout: float = 1.0, port: int = 68):
        got = self.collect(T(timeout), xid=xid, port=port)
        assert not got, f"expected no reply, got {[r.dhcp for r in got]}"


class Client:
    """A scripted DHCP client with its own chaddr, speaking through a RawLink."""

    def __init__(self, link: RawLink, mac: Optional[str] = None):
        self.link = link
        self.mac = mac or random_mac(b"\x52\x54\x01")
        self.ip: Optional[str] = None
        self.server: Optional[str] = None

    def send(self, mtype: Optional[int], options=(), xid=None, frame_kw=None, **hdr) -> int:
        xid = secrets.randbits(32) if xid is None else xid
        opts = ([opt_type(mtype)] if mtype is not None else []) + list(options)
        hdr.setdefault("chaddr", self.mac)
        msg = build_dhcp(xid=xid, options=opts, **hdr)
        self.link.send_dhcp(msg, src_mac=self.mac, **(frame_kw or {}))
        return xid

    def discover(self, options=(), timeout=3.0, **hdr) -> Reply:
        self.link.drain()
        xid = self.send(DISCOVER, options, **hdr)
        r = self.link.expect(xid, timeout, what="OFFER")
        assert r.dhcp.type == OFFER, r.dhcp
        return r

    def request(self, options=(), timeout=3.0, **hdr) -> Reply:
        self.link.drain()
        xid = self.send(REQUEST, options, **hdr)
        return self.link.expect(xid, timeout, what="reply to REQUEST")

    def dora(self, options=(), requested: Optional[str] = None) -> tuple[Reply, Reply]:
        """DISCOVER, OFFER, REQUEST (selecting), ACK. Returns (offer, ack)."""
        dopts = list(options) + ([opt_ip(O_REQ_IP, requested)] if requested else [])
        offer = self.discover(dopts)
        sid = offer.dhcp.ip_opt(O_SERVER_ID)
        assert sid, offer.dhcp
        ack = self.request([opt_ip(O_SERVER_ID, sid), opt_ip(O_REQ_IP, offer.dhcp.yiaddr)]
                           + list(options), xid=offer.dhcp.xid)
        assert ack.dhcp.type == ACK, ack.dhcp
        assert ack.dhcp.yiaddr == offer.dhcp.yiaddr, (offer.dhcp, ack.dhcp)
        self.ip, self.server = ack.dhcp.yiaddr, sid
        return offer, ack


# --------------------------------------------------------------------------
# kidou in the server namespace


def start_kidou(factory, net: DhcpNet, tmp: Path, *extra, dhcp_range=RANGE, config=None,
                db=None, interface="v0", log_level="debug", options=True, name=None,
                tftp_root=None, tftp_listen=f"{SRV_ADDR}:69") -> Kidou:
    """kidou serving DHCP on v0 (and TFTP on 172.24.0.1:69) in net.srv.
    options: also set router, DNS, domain and lease time."""
    root = Path(tftp_root or tmp / "tftp")
    root.mkdir(parents=True, exist_ok=True)
    args = ["--tftp-root", root, "--tftp-listen", tftp_listen,
            "--dhcp-database", db or tmp / "leases.db", "--log-level", log_level]
    if config:
        args = ["--config", config] + args
    if interface:
        args += ["--interface", interface]
    if dhcp_range:
        args += ["--dhcp-range", f"{dhcp_range[0]} {dhcp_range[1]}"]
    if options:
        args += ["--dhcp-router", ROUTER, "--dhcp-dns", ",".join(DNS),
                 "--dhcp-domain", DOMAIN, "--dhcp-lease-time", LEASE]
    args += list(extra)
    k = factory(*args, with_defaults=False, netns=net.srv, wait_ready=False, name=name)
    k.wait_event("ready", mod="main", timeout=T(10))
    k.wait_event("listening", mod="dhcp", timeout=T(2))
    return k


def dhcp_events(k: Kidou, event=None, **match) -> list[dict]:
    return k.events(event, mod="dhcp", **match)


def wait_dhcp(k: Kidou, event: str, count=1, timeout=5.0, **match) -> dict:
    return k.wait_event(event, mod="dhcp", count=count, timeout=T(timeout), **match)


def xid_str(xid: int) -> str:
    return f"0x{xid:08x}"


def assert_alive(k: Kidou):
    assert k.alive(), f"kidou died (rc={k.proc.poll()}); log:\n{k.text()[-4000:]}"
    hits = k.sanitizer_findings()
    assert not hits, "sanitizer report:\n" + "\n".join(hits)


# --------------------------------------------------------------------------
# the lease database


def read_leases(db: Path) -> dict:
    """{dotted ip: row} from kidou's SQLite lease table."""
    con = sqlite3.connect(str(db), timeout=5)
    try:
        rows = con.execute("SELECT ip, client_id, hwaddr, hostname, expires, state "
                           "FROM leases").fetchall()
    finally:
        con.close()
    return {int2ip(r[0]): {"client_id": bytes(r[1]), "hwaddr": bytes(r[2]), "hostname": r[3],
                           "expires": r[4], "state": r[5]} for r in rows}


LEASE_BOUND, LEASE_RELEASED, LEASE_DECLINED = 1, 2, 3


# --------------------------------------------------------------------------
# real clients

def _env0(path: Path) -> dict:
    env = {}
    for item in path.read_bytes().split(b"\0"):
        if b"=" in item:
            k, v = item.split(b"=", 1)
            env[k.decode()] = v.decode("utf-8", "replace")
    return env


class RealClient:
    """Common part: an event script that stores each invocation's environment
    in its own file, so tests assert on what the client understood."""

    configure = ""  # shell run by the script after recording (per client)

    def __init__(self, net: DhcpNet, tmp: Path, name: str):
        self.net = net
        self.dir = tmp / name
        self.evdir = self.dir / "events"
        self.evdir.mkdir(parents=True, exist_ok=True)
        self.script = self.dir / "event.sh"
        # Written aside and renamed into place: a reader polling the
        # directory never sees an event whose environment is half written
        # (seen under ASan: a `bound` without its ip).
        self.script.write_text(
            "#!/bin/sh\n"
            'ev="${reason:-$1}"\n'
            f'f="{self.evdir}/$(date +%s%N).$ev"\n'
            'env -0 > "$f.partial" && mv "$f.partial" "$f"\n' + self.configure)
        self.script.chmod(0o755)
        self.log = self.dir / "client.log"
        self.procs: list[subprocess.Popen] = []

    def events(self) -> list[tuple[str, dict]]:
        out = []
        done = [p for p in self.evdir.iterdir() if not p.name.endswith(".partial")]
        for p in sorted(done, key=lambda p: int(p.name.split(".")[0])):
            out.append((p.name.split(".", 1)[1], _env0(p)))
        return out

    def event_names(self) -> list[str]:
        return [e for e, _ in self.events()]

    def wait_event(self, names: Iterable[str], after: int = 0, timeout=10.0) -> dict:
        """The first event named in names among events[after:]."""
        names = set(names)
        deadline = time.monotonic() + T(timeout)
        while True:
            evs = self.events()[after:]
            for e, env in evs:
                if e in names:
                    return env
            if time.monotonic() > deadline:
                raise AssertionError(f"no {sorted(names)} event within {T(timeout):.0f}s; "
                                     f"events: {[e for e, _ in self.events()]}; log:\n"
                                     f"{self.log_text()[-3000:]}")
            time.sleep(0.05)

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def cmd(self, *argv) -> list[str]:
        return ["ip", "netns", "exec", self.net.cli] + [str(a) for a in argv]

    def popen(self, argv) -> subprocess.Popen:
        with open(self.log, "ab") as logf:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
        self.procs.append(p)
        return p

    def run(self, argv, timeout=20.0) -> subprocess.CompletedProcess:
        with open(self.log, "ab") as logf:
            return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                  timeout=T(timeout))

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


class Udhcpc(RealClient):
    """busybox udhcpc. Its script configures the address so that renewals
    and releases (unicast from the leased address) work."""

    configure = (
        'case "$1" in\n'
        '  bound|renew) ip addr flush dev "$interface"; '
        'ip addr add "$ip/${mask:-16}" dev "$interface";;\n'
        '  deconfig) ip addr flush dev "$interface";;\n'
        'esac\n')

    def __init__(self, net, tmp, name="udhcpc"):
        super().__init__(net, tmp, name)

    def argv(self, *extra, oneshot=True):
        a = ["busybox", "udhcpc", "-i", "v1", "-f", "-s", self.script, "-t", "4", "-T", "1",
             "-A", "1"]
        if oneshot:
            a += ["-n", "-q"]
        return self.cmd(*a, *extra)

    def once(self, *extra, timeout=20.0) -> dict:
        """Obtain a lease and exit; returns the environment of `bound`."""
        n = len(self.events())
        cp = self.run(self.argv(*extra), timeout=timeout)
        assert cp.returncode == 0, f"udhcpc failed ({cp.returncode}):\n{self.log_text()[-3000:]}"
        return self.wait_event(["bound"], after=n, timeout=2)

    def start(self, *extra) -> subprocess.Popen:
        # `ip netns exec` execs the command: the pid is udhcpc's.
        return self.popen(self.argv(*extra, oneshot=False))


class Dhclient(RealClient):
    """ISC dhclient with a private config, lease file and pid file."""

    configure = (
        'case "$reason" in\n'
        '  BOUND|RENEW|REBIND|REBOOT) ip addr flush dev "$interface"; '
        'ip addr add "$new_ip_address/$new_subnet_mask" dev "$interface";;\n'
        '  RELEASE|EXPIRE|FAIL|STOP) ip addr flush dev "$interface";;\n'
        'esac\n')

    def __init__(self, net, tmp, name="dhclient"):
        super().__init__(net, tmp, name)
        self.conf = self.dir / "dhclient.conf"
        self.conf.write_text(
            "timeout 15;\nretry 1;\ninitial-interval 1;\n"
            "request subnet-mask, routers, domain-name, domain-name-servers, host-name, "
            "dhcp-lease-time;\n")
        self.leasefile = self.dir / "dhclient.leases"
        self.pidfile = self.dir / "dhclient.pid"

    def argv(self, *flags):
        return self.cmd("dhclient", *flags, "-v", "-cf", self.conf, "-sf", self.script,
                        "-lf", self.leasefile, "-pf", self.pidfile, "v1")

    def obtain(self, timeout=25.0) -> subprocess.CompletedProcess:
        """`dhclient -1`: it backgrounds itself once bound."""
        return self.run(self.argv("-1"), timeout=timeout)

    def release(self, timeout=15.0) -> subprocess.CompletedProcess:
        return self.run(self.argv("-r"), timeout=timeout)

    def stop(self):
        super().stop()
        try:
            pid = int(self.pidfile.read_text().strip())
        except (FileNotFoundError, ValueError):
            return
        if pid in self.net.pids(self.net.cli):  # only our own daemon
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


class Dhcpcd(RealClient):
    """dhcpcd in a private mount namespace: /var/lib/dhcpcd and /run are
    bind mounts of test directories, so no lease, DUID or pid file leaks.
    Runs in the foreground (-B); SIGUSR1 renews, SIGALRM releases and exits."""

    def __init__(self, net, tmp, name="dhcpcd"):
        super().__init__(net, tmp, name)
        self.conf = self.dir / "dhcpcd.conf"
        self.conf.write_text(
            "option subnet_mask, routers, domain_name_servers, domain_name, dhcp_lease_time\n"
            "noipv4ll\nnoarp\nipv4only\n")
        self.db = self.dir / "db"
        self.rundir = self.dir / "run"
        self.db.mkdir(exist_ok=True)
        self.rundir.mkdir(exist_ok=True)
        self.proc: Optional[subprocess.Popen] = None

    def start(self, *extra) -> subprocess.Popen:
        inner = (f"mount --bind {self.db} /var/lib/dhcpcd && mount --bind {self.rundir} /run "
                 f"&& mkdir -p /run/dhcpcd && exec dhcpcd -f {self.conf} -c {self.script} "
                 f"-4 -B -d -t 15 {' '.join(extra)} v1")
        # unshare without --fork and `exec` in sh: the pid is dhcpcd's.
        self.proc = self.popen(self.cmd("unshare", "-m", "--propagation", "private",
                                        "sh", "-c", inner))
        return self.proc

    def signal(self, sig):
        assert self.proc.poll() is None, f"dhcpcd exited:\n{self.log_text()[-3000:]}"
        self.proc.send_signal(sig)


# --------------------------------------------------------------------------
# fixtures


@pytest.fixture
def dhcp_net(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    net = DhcpNet(tmp_path)
    try:
        net.setup()
        yield net
    finally:
        net.teardown()


@pytest.fixture
def dhcpd(dhcp_net, kidou_factory, tmp_path):
    """dhcpd(*flags, **kw) starts kidou in the server namespace (see
    start_kidou). kidou_factory stops it and checks it (exit code,
    sanitizer reports) before dhcp_net deletes the namespaces."""
    def start(*extra, **kw):
        return start_kidou(kidou_factory, dhcp_net, tmp_path, *extra, **kw)
    return start


@pytest.fixture
def link(dhcp_net):
    lk = RawLink(dhcp_net.cli, "v1")
    yield lk
    lk.close()
