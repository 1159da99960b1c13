"""Router advertisements for boot segments (issue #7).

kidou serves DHCP on v0 (namespace kd-srv-*); frames are sent and captured
on v1 in the client namespace (kd-cli-*) with an AF_PACKET socket, built
here byte by byte so that hostile tests can send anything: Ethernet, the
IPv6 header (hop limit chosen per test) and the ICMPv6 message with its
checksum. Solicitations come from v1's own link-local address and MAC, so
that the client namespace's kernel answers kidou's neighbour solicitation
for the unicast reply, as iPXE does.

What an answer must be (RFC 4861 4.2, 6.1.2, and the issue): ICMPv6 type
134, code 0, hop limit 255, from v0's link-local address, router lifetime
0, M=0 and O=0, no prefix information, and v0's MAC as the source
link-layer address option.
"""
from __future__ import annotations

import ipaddress
import select
import socket
import struct
import subprocess
import time
from dataclasses import dataclass
from typing import Optional

import pytest

from dhcp_lib import (  # noqa: F401  (fixtures)
    SRV_ADDR, assert_alive, dhcp_net, dhcpd, in_netns, sh,
)
from kidou_testlib import T

ETH_P_IPV6 = 0x86DD
ALL_NODES = "ff02::1"
ALL_ROUTERS = "ff02::2"
RS, RA = 133, 134


def mac_bytes(mac: str) -> bytes:
    return bytes(int(x, 16) for x in mac.split(":"))


def multicast_mac(addr: str) -> bytes:
    return b"\x33\x33" + ipaddress.IPv6Address(addr).packed[-4:]


def icmp6_checksum(src: str, dst: str, msg: bytes) -> int:
    pseudo = (ipaddress.IPv6Address(src).packed + ipaddress.IPv6Address(dst).packed +
              struct.pack("!I3xB", len(msg), 58))
    data = pseudo + msg + (b"\0" if len(msg) % 2 else b"")
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def icmp6_frame(src_mac: str, dst_mac: bytes, src: str, dst: str, msg: bytes,
                hop_limit: int = 255) -> bytes:
    """Ethernet + IPv6 + msg, msg's checksum (bytes 2..3) filled in."""
    msg = bytearray(msg)
    if len(msg) >= 4:
        msg[2:4] = b"\0\0"
        msg[2:4] = struct.pack("!H", icmp6_checksum(src, dst, bytes(msg)))
    ip6 = struct.pack("!IHBB", 0x60000000, len(msg), 58, hop_limit)
    ip6 += ipaddress.IPv6Address(src).packed + ipaddress.IPv6Address(dst).packed
    return dst_mac + mac_bytes(src_mac) + struct.pack("!H", ETH_P_IPV6) + ip6 + bytes(msg)


def rs_message(lladdr: Optional[str] = None) -> bytes:
    m = bytes([RS, 0, 0, 0, 0, 0, 0, 0])
    if lladdr:
        m += b"\x01\x01" + mac_bytes(lladdr)
    return m


def ra_message(lladdr: str, lifetime: int = 1800, prefix: bool = True) -> bytes:
    """A real router's advertisement: M and O clear, a prefix (without
    one and with lifetime 0: one that configures nothing, like kidou's)."""
    m = struct.pack("!BBHBBHII", RA, 0, 0, 64, 0, lifetime, 0, 0)
    m += b"\x01\x01" + mac_bytes(lladdr)
    if prefix:
        m += struct.pack("!BBBBIII", 3, 4, 64, 0xC0, 86400, 14400, 0)
        m += ipaddress.IPv6Address("2001:db8:1::").packed
    return m


@dataclass
class Advert:
    eth_src: str
    eth_dst: str
    src: str
    dst: str
    hop_limit: int
    code: int
    cur_hop_limit: int
    flags: int
    lifetime: int
    reachable: int
    retrans: int
    options: list  # (type, bytes)
    at: float


def parse_advert(frame: bytes, at: float) -> Optional[Advert]:
    if len(frame) < 14 + 40 or struct.unpack("!H", frame[12:14])[0] != ETH_P_IPV6:
        return None
    ip6 = frame[14:54]
    plen, nh, hop = struct.unpack("!HBB", ip6[4:8])
    msg = frame[54:54 + plen]
    if nh != 58 or len(msg) < 16 or msg[0] != RA:
        return None
    code, _, cur, flags, lifetime, reach, retrans = struct.unpack("!BHBBHII", msg[1:16])
    opts, off = [], 16
    while off + 2 <= len(msg):
        t, units = msg[off], msg[off + 1]
        assert units > 0, f"option of length 0 in {msg.hex()}"
        opts.append((t, msg[off + 2:off + units * 8]))
        off += units * 8
    assert off == len(msg), f"options do not tile the advertisement: {msg.hex()}"
    mac = lambda b: ":".join(f"{x:02x}" for x in b)  # noqa: E731
    return Advert(mac(frame[6:12]), mac(frame[0:6]),
                  str(ipaddress.IPv6Address(ip6[8:24])), str(ipaddress.IPv6Address(ip6[24:40])),
                  hop, code, cur, flags, lifetime, reach, retrans, opts, at)


class V6Link:
    """AF_PACKET on v1 for IPv6 frames."""

    def __init__(self, netns: str, ifname: str = "v1"):
        with in_netns(netns):
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IPV6))
            self.sock.bind((ifname, ETH_P_IPV6))
        self.mac = ":".join(f"{x:02x}" for x in self.sock.getsockname()[4])

    def close(self):
        self.sock.close()

    def send(self, frame: bytes):
        self.sock.send(frame)

    def adverts(self, timeout: float, until_first=False) -> list[Advert]:
        """Router advertisements arriving on v1 (sent by others than us)."""
        out, deadline = [], time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if not select.select([self.sock], [], [], left)[0]:
                break
            frame, addr = self.sock.recvfrom(65535)
            if addr[2] == socket.PACKET_OUTGOING:
                continue
            a = parse_advert(frame, time.monotonic())
            if a:
                out.append(a)
                if until_first:
                    break
        return out


def parse_solicit(frame: bytes) -> Optional[tuple]:
    """(source address, hop limit, lladdr option bytes or None) of a router
    solicitation frame, else None."""
    if len(frame) < 14 + 40 + 8 or struct.unpack("!H", frame[12:14])[0] != ETH_P_IPV6:
        return None
    ip6, msg = frame[14:54], frame[54:]
    if ip6[6] != 58 or msg[0] != RS or msg[1] != 0:
        return None
    ll = msg[10:16] if len(msg) >= 16 and msg[8] == 1 and msg[9] == 1 else None
    return str(ipaddress.IPv6Address(ip6[8:24])), ip6[7], ll


def first_solicit(link: "V6Link", timeout: float) -> Optional[tuple]:
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        if not select.select([link.sock], [], [], left)[0]:
            return None
        frame, addr = link.sock.recvfrom(65535)
        if addr[2] != socket.PACKET_OUTGOING and (rs := parse_solicit(frame)):
            return rs
    return None


def link_local(ns: str, dev: str, timeout: float = 10.0) -> str:
    """dev's link-local address once DAD has finished with it."""
    deadline = time.monotonic() + T(timeout)
    while time.monotonic() < deadline:
        out = sh("ip", "-n", ns, "-6", "-o", "addr", "show", "dev", dev, "scope", "link").stdout
        if out and "tentative" not in out:
            return out.split("inet6 ")[1].split("/")[0]
        time.sleep(0.05)
    raise AssertionError(f"{dev} in {ns} has no usable link-local address: {out!r}")


def dev_mac(ns: str, dev: str) -> str:
    return sh("ip", "-n", ns, "-o", "link", "show", dev).stdout.split("link/ether ")[1].split()[0]


@pytest.fixture
def v6(dhcp_net):
    # The client kernel's own solicitations on link-up are not ours to
    # count: keep them off before anything else happens.
    sh("ip", "netns", "exec", dhcp_net.cli, "sysctl", "-qw",
       "net.ipv6.conf.v1.router_solicitations=0")
    lk = V6Link(dhcp_net.cli)
    yield lk
    lk.close()


class Seg:
    """The segment as the tests see it."""

    def __init__(self, net, link: V6Link):
        self.net, self.link = net, link
        self.srv_ll = link_local(net.srv, "v0")
        self.srv_mac = dev_mac(net.srv, "v0")
        self.cli_ll = link_local(net.cli, "v1")

    def solicit(self, src: Optional[str] = None, lladdr: Optional[str] = "own",
                hop_limit: int = 255, msg: Optional[bytes] = None, dst: str = ALL_ROUTERS):
        src = self.cli_ll if src is None else src
        if lladdr == "own":
            lladdr = self.link.mac
        if msg is None:
            msg = rs_message(lladdr)
        self.link.send(icmp6_frame(self.link.mac, multicast_mac(dst), src, dst, msg,
                                   hop_limit))

    def advertise(self, hop_limit: int = 255, src: Optional[str] = None, lifetime: int = 1800,
                  prefix: bool = True):
        src = src or self.cli_ll
        self.link.send(icmp6_frame(self.link.mac, multicast_mac(ALL_NODES), src, ALL_NODES,
                                   ra_message(self.link.mac, lifetime, prefix), hop_limit))

    def check_quiet(self, a: Advert, dst: str):
        """An advertisement that configures nothing, from kidou."""
        assert a.src == self.srv_ll, a
        assert a.eth_src == self.srv_mac, a
        assert a.dst == dst, a
        assert a.hop_limit == 255, a
        assert a.code == 0, a
        assert a.lifetime == 0, a
        assert a.flags & 0xC0 == 0, a          # M=0, O=0
        assert a.cur_hop_limit == 0 and a.reachable == 0 and a.retrans == 0, a
        assert [t for t, _ in a.options] == [1], a   # only the source lladdr
        assert a.options[0][1] == mac_bytes(self.srv_mac), a


def start(dhcpd, *flags):
    k = dhcpd(*flags)
    return k


def scrape(net) -> dict:
    """kidou's /metrics, fetched inside its own namespace (the client has
    no IPv4 address here)."""
    cp = subprocess.run(["ip", "netns", "exec", net.srv, "curl", "-sS", "--max-time", "5",
                         f"http://{SRV_ADDR}:8080/metrics"], capture_output=True,
                        timeout=T(10), text=True)
    assert cp.returncode == 0, cp.stderr
    return {ln.rsplit(" ", 1)[0]: float(ln.rsplit(" ", 1)[1])
            for ln in cp.stdout.splitlines() if ln and not ln.startswith("#")}


def test_startup_and_solicited_adverts(dhcp_net, dhcpd, v6):
    k = start(dhcpd, "--http-listen", f"{SRV_ADDR}:8080")
    seg = Seg(dhcp_net, v6)
    k.wait_event("announced", mod="ndp", timeout=T(10), iface="v0")
    # the announcement when kidou starts, to all nodes
    got = v6.adverts(T(1.5))
    assert got, "no advertisement after kidou announced itself"
    seg.check_quiet(got[0], ALL_NODES)
    # a solicitation from a link-local address: answered to it, at once
    for n in range(3):
        sent = time.monotonic()
        seg.solicit()
        got = v6.adverts(T(2), until_first=True)
        assert got, f"solicitation {n} not answered:\n{k.text()[-2000:]}"
        seg.check_quiet(got[0], seg.cli_ll)
        assert got[0].at - sent < T(1.0), got[0].at - sent
    ev = k.wait_event("rs", mod="ndp", count=3, timeout=T(2), mac=v6.mac)
    assert ev["action"] == "answered" and ev["from"] == seg.cli_ll, ev["_line"]
    # the solicitation's MAC also comes from an EUI-64 source address
    seg.solicit(lladdr=None)
    got = v6.adverts(T(2), until_first=True)
    assert got, "a solicitation without a link-layer option is answered too"
    seg.check_quiet(got[0], seg.cli_ll)
    k.wait_event("rs", mod="ndp", count=4, timeout=T(2), mac=v6.mac)
    m = scrape(dhcp_net)
    assert m["kidou_ipv6_router_solicitations_total"] == 4, m
    assert m["kidou_ipv6_router_advertisements_total"] == 5, m   # startup + 4
    assert m["kidou_ipv6_foreign_advertisements_total"] == 0, m
    assert_alive(k)


def test_listens_before_it_speaks(dhcp_net, dhcpd, v6):
    """Mode auto: before its first advertisement kidou solicits a router
    itself (from its link-local address, hop limit 255, with its MAC), and
    one that answers keeps kidou silent from the start."""
    k = start(dhcpd)
    seg = Seg(dhcp_net, v6)
    rs = first_solicit(v6, T(10))
    assert rs, f"kidou sent no router solicitation:\n{k.text()}"
    src, hop, ll = rs
    assert src == seg.srv_ll and hop == 255 and ll == mac_bytes(seg.srv_mac), rs
    seg.advertise()                     # a router answers, well within a second
    ev = k.wait_event("foreign-router", mod="ndp", timeout=T(3))
    assert ev["action"] == "silent", ev["_line"]
    seg.solicit()
    assert v6.adverts(T(3)) == [], "kidou advertised beside a router that answered it"
    assert not k.events("announced", mod="ndp"), k.text()


def test_unspecified_source_gets_rate_limited_multicast(dhcp_net, dhcpd, v6):
    """RFC 4861 6.2.6: from :: the answer goes to all nodes, at most one per
    3 s; solicitations in between share the next one."""
    k = start(dhcpd)
    seg = Seg(dhcp_net, v6)
    k.wait_event("announced", mod="ndp", timeout=T(10), iface="v0")
    first = v6.adverts(T(1.5), until_first=True)
    assert first, "no startup advertisement"
    for _ in range(3):
        seg.solicit(src="::", lladdr=None)
    got = v6.adverts(T(5))
    assert len(got) == 1, got          # three solicitations, one answer
    seg.check_quiet(got[0], ALL_NODES)
    assert got[0].at - first[0].at >= 2.9, got[0].at - first[0].at
    # an unspecified source must not carry a link-layer option (6.1.1)
    seg.solicit(src="::", lladdr=v6.mac)
    k.wait_event("drop", mod="ndp", timeout=T(2), reason="unspecified-with-lladdr")


def test_foreign_router_makes_kidou_silent(dhcp_net, dhcpd, v6):
    k = start(dhcpd)
    seg = Seg(dhcp_net, v6)
    k.wait_event("announced", mod="ndp", timeout=T(10), iface="v0")
    v6.adverts(T(1.5), until_first=True)
    # a forged advertisement that a router elsewhere relayed (hop limit
    # below 255) proves nothing about this link: dropped, kidou carries on
    seg.advertise(hop_limit=64)
    k.wait_event("drop", mod="ndp", timeout=T(2), reason="hop-limit")
    seg.solicit()
    assert v6.adverts(T(2), until_first=True), "kidou went silent for a forged advert"
    # an advertisement that configures nothing (what kidou itself sends,
    # and what comes back when a program here solicits from kidou's own
    # address) is no router: kidou carries on
    seg.advertise(lifetime=0, prefix=False)
    k.wait_event("quiet-advert", mod="ndp", timeout=T(2), action="ignore")
    seg.solicit()
    assert v6.adverts(T(2), until_first=True), "kidou went silent for a quiet advert"
    assert k.events("foreign-router", mod="ndp") == []
    # a real router on the segment: kidou stops advertising there
    seg.advertise()
    ev = k.wait_event("foreign-router", mod="ndp", timeout=T(2))
    assert ev["level"] == "warn" and ev["iface"] == "v0" and ev["from"] == seg.cli_ll, ev
    assert ev["action"] == "silent", ev
    seg.advertise()
    for _ in range(3):
        seg.solicit()
        seg.solicit(src="::", lladdr=None)
    assert v6.adverts(T(4)) == [], "kidou answered beside another router"
    ev = k.wait_event("rs", mod="ndp", timeout=T(2), action="silent")
    assert len(k.events("foreign-router", mod="ndp")) == 1, "logged more than once"
    assert_alive(k)


def test_always_answers_beside_a_router(dhcp_net, dhcpd, v6):
    k = start(dhcpd, "--dhcp-ipv6-ra", "always")
    seg = Seg(dhcp_net, v6)
    k.wait_event("announced", mod="ndp", timeout=T(10), iface="v0")
    assert v6.adverts(T(1.5), until_first=True), "no startup advertisement"
    seg.advertise()
    ev = k.wait_event("foreign-router", mod="ndp", timeout=T(2))
    assert ev["level"] == "info" and ev["action"] == "answer-anyway", ev
    seg.solicit()
    got = v6.adverts(T(2), until_first=True)
    assert got, "mode always must still answer"
    seg.check_quiet(got[0], seg.cli_ll)


def test_off_sends_nothing(dhcp_net, dhcpd, v6):
    k = start(dhcpd, "--dhcp-ipv6-ra", "off")
    seg = Seg(dhcp_net, v6)
    for _ in range(3):
        seg.solicit()
    assert v6.adverts(T(2.5)) == []
    assert not k.events(mod="ndp"), k.text()


def test_hostile_icmpv6(dhcp_net, dhcpd, v6):
    """Malformed solicitations are dropped with a reason; kidou lives on and
    still answers a good one."""
    k = start(dhcpd)
    seg = Seg(dhcp_net, v6)
    k.wait_event("announced", mod="ndp", timeout=T(10), iface="v0")
    v6.adverts(T(1.5), until_first=True)
    mac = mac_bytes(v6.mac)
    bad = [
        ("malformed", bytes([RS, 0, 0, 0, 0, 0, 0])),                        # cut header
        ("malformed", bytes([RS, 1, 0, 0, 0, 0, 0, 0])),                     # code 1
        ("malformed", bytes([RS, 0, 0, 0, 0, 0, 0, 0, 1, 0]) + mac),         # option length 0
        ("malformed", bytes([RS, 0, 0, 0, 0, 0, 0, 0, 1, 2]) + mac),         # option past the end
        ("malformed", bytes([RS, 0, 0, 0, 0, 0, 0, 0, 1])),                  # option header cut
        ("malformed", bytes([RA, 0, 0, 0, 64, 0, 0])),                       # cut advert
    ]
    for _, msg in bad:
        seg.solicit(msg=msg)
    seg.solicit(hop_limit=254)
    seg.solicit(hop_limit=1)
    # random junk of every length that passes the kernel's checksum check
    # (solicitations, and types kidou's filter keeps out; a random advert
    # that happens to be valid would rightly silence kidou)
    import random
    rnd = random.Random(7)
    for n in range(200):
        body = bytes([rnd.choice([RS, RS, 128, 135, 136]), rnd.choice([0, 0, 1])]) + \
            bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 64)))
        seg.solicit(msg=body, src=rnd.choice([seg.cli_ll, "::"]))
    # the good one, after all that (the junk's accepted solicitations may
    # have drawn answers of their own: look for ours by destination)
    time.sleep(0.5)
    v6.adverts(T(3.5))  # drain, past any coalesced all-nodes answer
    seg.solicit()
    got = [a for a in v6.adverts(T(2)) if a.dst == seg.cli_ll]
    assert got, f"no answer after hostile traffic:\n{k.text()[-3000:]}"
    seg.check_quiet(got[0], seg.cli_ll)
    drops = k.events("drop", mod="ndp")
    reasons = {e["reason"] for e in drops}
    assert {"malformed", "hop-limit"} <= reasons, reasons
    assert len([e for e in drops if e["reason"] == "hop-limit"]) >= 2
    assert len([e for e in drops if e["reason"] == "malformed"]) >= len(bad)
    assert not k.events("foreign-router", mod="ndp"), "junk counted as a router"
    assert_alive(k)


def test_reload_turns_advertisements_off_and_on(dhcp_net, dhcpd, v6, tmp_path):
    """SIGHUP applies ipv6-ra; a reload also forgets a foreign router, so
    that kidou listens afresh."""
    import signal
    cfg = tmp_path / "ra.ini"
    cfg.write_text("[dhcp]\nipv6-ra = auto\n")
    k = start(dhcpd, "--config", str(cfg))
    seg = Seg(dhcp_net, v6)
    k.wait_event("announced", mod="ndp", timeout=T(10), iface="v0")
    assert v6.adverts(T(1.5), until_first=True), "no startup advertisement"

    def reload(text: str, n: int):
        cfg.write_text(text)
        k.signal(signal.SIGHUP)
        k.wait_event("reloaded", mod="main", count=n, timeout=T(5))

    reload("[dhcp]\nipv6-ra = off\n", 1)
    seg.solicit()
    assert v6.adverts(T(1.5)) == [], "answered with ipv6-ra = off"
    reload("[dhcp]\nipv6-ra = auto\n", 2)
    k.wait_event("announced", mod="ndp", count=2, timeout=T(5), iface="v0")
    v6.adverts(T(1.5), until_first=True)       # the announcement after the reload
    seg.solicit()
    got = v6.adverts(T(2), until_first=True)
    assert got, "not answering after ipv6-ra went back to auto"
    seg.check_quiet(got[0], seg.cli_ll)
    # a foreign router silences kidou; a reload makes it listen afresh
    seg.advertise()
    k.wait_event("foreign-router", mod="ndp", timeout=T(2))
    reload("[dhcp]\nipv6-ra = auto\n", 3)
    v6.adverts(T(1.5))
    seg.solicit()
    assert v6.adverts(T(2), until_first=True), "still silent after the reload"
    assert_alive(k)
