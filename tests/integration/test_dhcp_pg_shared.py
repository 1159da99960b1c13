"""Two kidou instances, one PostgreSQL database, one client segment (issue 15).

    kd-a-<tag>: a0 172.24.0.1/16 --veth-- pa \\
    kd-b-<tag>: b0 172.24.0.2/16 --veth-- pb  }-- br0 in kd-c-<tag>
                        raw clients on v1 --veth-- v1p /

Both instances serve the same range from the same database. Raw-socket
clients (a bounded storm, pipelined: every DISCOVER, then every REQUEST)
pick either server's offer. Asserted: no address is ACKed to two clients,
on the wire and in the table; a claim another instance holds is NAKed;
after SIGKILL of one instance every lease it ACKed is in the table, the
other goes on and renews them; after a PostgreSQL restart no ACKed lease
is missing and service resumes.
"""
from __future__ import annotations

import secrets
import signal
from dataclasses import dataclass, field

import pytest

from dhcp_lib import (  # noqa: F401  (fixtures)
    ACK, DISCOVER, NAK, OFFER, O_REQ_IP, O_SERVER_ID, REQUEST, RawLink, Client, opt_ip,
    BROADCAST_FLAG, mac_bytes, random_mac, sh, start_kidou, wait_dhcp,
)
from kidou_testlib import T
from pg_lib import pg  # noqa: F401  (fixture)

ADDR = {"a": "172.24.0.1", "b": "172.24.0.2"}
RANGE = ("172.24.32.1", "172.24.32.200")


class SharedNet:
    """Two server namespaces bridged to one client namespace."""

    def __init__(self):
        tag = secrets.token_hex(3)
        self.ns = {"a": f"kd-a-{tag}", "b": f"kd-b-{tag}", "c": f"kd-c-{tag}"}
        self.created = []

    def setup(self):
        for ns in self.ns.values():
            sh("ip", "netns", "add", ns)
            self.created.append(ns)
        c = self.ns["c"]
        sh("ip", "-n", c, "link", "add", "br0", "type", "bridge", "forward_delay", "0",
           "stp_state", "0")
        for x in ("a", "b"):
            sh("ip", "link", "add", f"{x}0", "netns", self.ns[x], "type", "veth", "peer", "name",
               f"p{x}", "netns", c)
            sh("ip", "-n", self.ns[x], "addr", "add", f"{ADDR[x]}/16", "dev", f"{x}0")
            sh("ip", "-n", self.ns[x], "link", "set", f"{x}0", "up")
            sh("ip", "-n", self.ns[x], "link", "set", "lo", "up")
            sh("ip", "-n", c, "link", "set", f"p{x}", "master", "br0", "up")
        sh("ip", "-n", c, "link", "add", "v1", "type", "veth", "peer", "name", "v1p")
        sh("ip", "-n", c, "link", "set", "v1p", "master", "br0", "up")
        sh("ip", "-n", c, "link", "set", "v1", "up")
        sh("ip", "-n", c, "link", "set", "br0", "up")
        return self

    def teardown(self):
        for ns in self.created:
            for p in sh("ip", "netns", "pids", ns, check=False).stdout.split():
                try:
                    import os
                    os.kill(int(p), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            sh("ip", "netns", "del", ns, check=False)


@dataclass
class Seen:
    """Every ACK on the wire: ip -> {mac}, and who sent each."""
    acks: dict = field(default_factory=dict)
    by_server: dict = field(default_factory=dict)
    naks: int = 0

    def add(self, r, mac):
        if r.dhcp.type == ACK:
            self.acks.setdefault(r.dhcp.yiaddr, set()).add(mac)
            self.by_server.setdefault(r.dhcp.ip_opt(O_SERVER_ID), {})[mac] = r.dhcp.yiaddr
        elif r.dhcp.type == NAK:
            self.naks += 1


def storm_round(link: RawLink, clients: list[Client], seen: Seen, choose, after_requests=None):
    """DISCOVER from every client, then REQUEST the offer `choose(i,
    offers)` picks; returns the clients that got no ACK."""
    link.drain()
    xids = {}
    for c in clients:
        xids[c.send(DISCOVER)] = c
    offers = {}
    for r in link.collect(T(2.0)):
        if r.dhcp.type == OFFER and r.dhcp.xid in xids:
            offers.setdefault(r.dhcp.xid, []).append(r)
    req = {}
    for i, (xid, c) in enumerate(xids.items()):
        got = offers.get(xid)
        if not got:
            continue
        o = choose(i, got)
        sid = o.dhcp.ip_opt(O_SERVER_ID)
        c.send(REQUEST, [opt_ip(O_SERVER_ID, sid), opt_ip(O_REQ_IP, o.dhcp.yiaddr)], xid=xid)
        req[xid] = c
    if after_requests:
        after_requests()
    acked = set()
    for r in link.collect(T(3.0)):
        c = req.get(r.dhcp.xid)
        if c is None or r.dhcp.type not in (ACK, NAK) or r.dhcp.chaddr[:6] != mac_bytes(c.mac):
            continue
        seen.add(r, c.mac)
        if r.dhcp.type == ACK:
            c.ip, c.server = r.dhcp.yiaddr, r.dhcp.ip_opt(O_SERVER_ID)
            acked.add(c.mac)
    return [c for c in clients if c.mac not in acked]


def alternate(i, offers):
    """Half the clients take server a's offer, half b's, where both came."""
    want = ADDR["a"] if i % 2 == 0 else ADDR["b"]
    for o in offers:
        if o.dhcp.ip_opt(O_SERVER_ID) == want:
            return o
    return offers[0]


def storm(link, clients, seen, rounds=6, choose=alternate, after_first=None):
    left = clients
    for n in range(rounds):
        left = storm_round(link, left, seen, choose, after_first if n == 0 else None)
        if not left:
            return
    raise AssertionError(f"{len(left)} clients got no lease after {rounds} rounds")


def assert_unique(seen: Seen, pg_):
    dup = {ip: macs for ip, macs in seen.acks.items() if len(macs) > 1}
    assert not dup, f"addresses ACKed to two clients: {dup}"
    rows = pg_.leases()
    for ip, macs in seen.acks.items():
        assert ip in rows, f"{ip} ACKed but not in the table"
    return rows


@pytest.fixture
def shared(tmp_path, pg, kidou_factory, monkeypatch):
    monkeypatch.setenv("PGPASSFILE", str(pg.passfile))
    net = SharedNet()
    try:
        net.setup()

        class Net:  # what start_kidou needs
            def __init__(self, ns):
                self.srv = ns

        def start(x, name=None):
            return start_kidou(kidou_factory, Net(net.ns[x]), tmp_path, db=pg.uri,
                               interface=f"{x}0", dhcp_range=RANGE,
                               tftp_listen=f"{ADDR[x]}:69", name=name or f"kidou-{x}")
        link = RawLink(net.ns["c"], "v1")
        yield net, start, link
        link.close()
    finally:
        # SIGTERM first, so kidou_factory checks clean exits; then the
        # namespaces go (with anything else left in them).
        for k in kidou_factory.instances:
            try:
                k.stop()
            except AssertionError:
                pass
        net.teardown()


def test_two_instances_never_ack_one_address_twice(shared, pg):
    net, start, link = shared
    a, b = start("a"), start("b")
    # b misses what a hands out while its link is down: its memory goes
    # stale, and its offers collide with a's leases in the database.
    sh("ip", "-n", net.ns["b"], "link", "set", "b0", "down")
    first = [Client(link) for _ in range(6)]
    seen = Seen()
    storm(link, first, seen, choose=lambda i, offers: offers[0])
    assert set(seen.by_server) == {ADDR["a"]}
    sh("ip", "-n", net.ns["b"], "link", "set", "b0", "up")
    second = [Client(link) for _ in range(6)]
    storm(link, second, seen,
          choose=lambda i, offers: next((o for o in offers
                                         if o.dhcp.ip_opt(O_SERVER_ID) == ADDR["b"]), offers[0]))
    # b offered a's addresses, the database refused its claims, and those
    # clients were NAKed (not ACKed) and got another address.
    assert seen.naks >= 1
    refused = b.events("nak", mod="dhcp", reason="address-claimed-elsewhere")
    assert refused, b.text()[-3000:]
    rows = assert_unique(seen, pg)
    for c in first + second:
        assert rows[c.ip][1] == c.mac.replace(":", ""), (c.ip, rows[c.ip])
    # A storm split over both.
    storm(link, [Client(link) for _ in range(40)], seen)
    assert_unique(seen, pg)
    assert ADDR["b"] in seen.by_server and ADDR["a"] in seen.by_server


def test_sigkill_one_instance_mid_storm(shared, pg, kidou_factory):
    net, start, link = shared
    a, b = start("a"), start("b")
    seen = Seen()
    clients = [Client(link) for _ in range(40)]
    a.expect_rc = None  # killed on purpose

    def kill_a():
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait()
    storm(link, clients, seen, after_first=kill_a)
    rows = assert_unique(seen, pg)
    # Every lease a ACKed before it died is in the table, as ACKed.
    for mac, ip in seen.by_server.get(ADDR["a"], {}).items():
        assert rows[ip][1] == mac.replace(":", ""), (ip, mac, rows[ip])
    assert b.alive()
    # Renewals (REBINDING: broadcast, ciaddr) of every client through b,
    # a's clients included: each keeps its address.
    link.drain()
    xids = {c.send(REQUEST, ciaddr=c.ip, flags=BROADCAST_FLAG): c for c in clients}
    got = {}
    for r in link.collect(T(3.0)):
        c = xids.get(r.dhcp.xid)
        if c and r.dhcp.type in (ACK, NAK):
            got[c.mac] = (r.dhcp.type, r.dhcp.yiaddr)
    for c in clients:
        assert got.get(c.mac) == (ACK, c.ip), (c.mac, c.ip, got.get(c.mac))
    # a comes back, loads the table, and renews through it work too.
    a2 = start("a", name="kidou-a2")
    link.drain()
    some = clients[:10]
    xids = {c.send(REQUEST, ciaddr=c.ip, flags=BROADCAST_FLAG): c for c in some}
    ok = {xids[r.dhcp.xid].mac for r in link.collect(T(3.0))
          if r.dhcp.xid in xids and r.dhcp.type == ACK and
          r.dhcp.ip_opt(O_SERVER_ID) == ADDR["a"] and r.dhcp.yiaddr == xids[r.dhcp.xid].ip}
    assert ok == {c.mac for c in some}, (ok, a2.text()[-2000:])


def test_postgres_restart_mid_storm(shared, pg):
    net, start, link = shared
    a, b = start("a"), start("b")
    seen = Seen()
    clients = [Client(link) for _ in range(30)]
    storm(link, clients, seen, after_first=pg.restart)
    rows = assert_unique(seen, pg)
    for c in clients:
        assert rows[c.ip][1] == c.mac.replace(":", ""), (c.ip, rows[c.ip])
    # Service goes on: new clients after the restart.
    more = [Client(link) for _ in range(10)]
    storm(link, more, seen)
    assert_unique(seen, pg)
