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
import select
import signal
import socket
import time
from dataclasses import dataclass, field

import pytest

from dhcp_lib import (  # noqa: F401  (fixtures)
    ACK, DISCOVER, NAK, OFFER, O_REQ_IP, O_SERVER_ID, REQUEST, RawLink, Client, opt_ip,
    BROADCAST_FLAG, build_dhcp, in_netns, mac_bytes, opt_type, parse_dhcp, random_mac, sh,
    start_kidou, wait_dhcp,
)
from kidou_testlib import T
from pg_lib import pg, pg_server  # noqa: F401  (fixtures)

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


def collect_until(link: RawLink, timeout: float, keep, done) -> None:
    """Feed every reply to keep(reply) until done() or timeout seconds:
    a round ends as soon as every answer it waits for is in (a loaded
    machine only makes it longer, never makes it fail), and the deadline
    only bounds a round whose answers will not all come (a withheld ACK,
    a killed server)."""
    deadline = time.monotonic() + timeout
    while not done():
        left = deadline - time.monotonic()
        if left <= 0:
            return
        for r in link.collect(left, until_first=True):
            keep(r)


def storm_round(link: RawLink, clients: list[Client], seen: Seen, choose, servers,
                after_requests=None, servers_after=None, discover_options=None):
    """DISCOVER from every client, then REQUEST the offer `choose(i,
    offers)` picks; returns the clients that got no ACK. servers: the
    server identifiers whose offers to wait for; servers_after: those
    alive after after_requests()."""
    servers_after = servers if servers_after is None else set(servers_after)
    link.drain()
    xids = {}
    for c in clients:
        xids[c.send(DISCOVER, discover_options(c) if discover_options else [])] = c
    offers = {}

    def keep_offer(r):
        if r.dhcp.type == OFFER and r.dhcp.xid in xids:
            offers.setdefault(r.dhcp.xid, []).append(r)
    collect_until(link, T(5.0), keep_offer,
                  lambda: len(offers) == len(xids) and
                  all({o.dhcp.ip_opt(O_SERVER_ID) for o in got} >= servers
                      for got in offers.values()))
    req, chosen = {}, {}
    for i, (xid, c) in enumerate(xids.items()):
        got = offers.get(xid)
        if not got:
            continue
        o = choose(i, got)
        sid = o.dhcp.ip_opt(O_SERVER_ID)
        c.send(REQUEST, [opt_ip(O_SERVER_ID, sid), opt_ip(O_REQ_IP, o.dhcp.yiaddr)], xid=xid)
        req[xid] = c
        chosen[xid] = sid
    if after_requests:
        after_requests()
    # A server the hook killed answers no more: wait for the others only.
    waited = {xid for xid, sid in chosen.items() if sid in servers_after}
    acked, answered = set(), set()

    def keep_answer(r):
        c = req.get(r.dhcp.xid)
        if c is None or r.dhcp.type not in (ACK, NAK) or r.dhcp.chaddr[:6] != mac_bytes(c.mac):
            return
        seen.add(r, c.mac)
        answered.add(r.dhcp.xid)
        if r.dhcp.type == ACK:
            c.ip, c.server = r.dhcp.yiaddr, r.dhcp.ip_opt(O_SERVER_ID)
            acked.add(c.mac)
    collect_until(link, T(10.0), keep_answer, lambda: answered >= waited)
    return [c for c in clients if c.mac not in acked]


def alternate(i, offers):
    """Half the clients take server a's offer, half b's, where both came."""
    want = ADDR["a"] if i % 2 == 0 else ADDR["b"]
    for o in offers:
        if o.dhcp.ip_opt(O_SERVER_ID) == want:
            return o
    return offers[0]


def storm(link, clients, seen, rounds=6, choose=alternate, after_first=None,
          servers=(ADDR["a"], ADDR["b"]), servers_after=None, discover_options=None):
    """servers: whose offers a round waits for (servers_after: after the
    first round's after_first, e.g. without a killed one)."""
    left = clients
    for n in range(rounds):
        left = storm_round(link, left, seen, choose, set(servers),
                           after_first if n == 0 else None,
                           servers_after if n == 0 else None,
                           discover_options if n == 0 else None)
        if servers_after is not None:
            servers = servers_after
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

        def start(x, name=None, config=None):
            return start_kidou(kidou_factory, Net(net.ns[x]), tmp_path, db=pg.uri,
                               interface=f"{x}0", dhcp_range=RANGE, config=config,
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
    storm(link, first, seen, choose=lambda i, offers: offers[0], servers=(ADDR["a"],))
    assert set(seen.by_server) == {ADDR["a"]}
    sh("ip", "-n", net.ns["b"], "link", "set", "b0", "up")
    second = [Client(link) for _ in range(6)]
    # Each asks for an address a granted (option 50): b, which missed
    # those grants, has it free and offers it. (Instances begin their
    # never-used addresses at different places, so without this they
    # would rarely collide.)
    wanted = {c.mac: f.ip for c, f in zip(second, first)}
    storm(link, second, seen,
          choose=lambda i, offers: next((o for o in offers
                                         if o.dhcp.ip_opt(O_SERVER_ID) == ADDR["b"]), offers[0]),
          discover_options=lambda c: [opt_ip(O_REQ_IP, wanted[c.mac])] if c.mac in wanted else [])
    # b offered a's addresses, the database refused its claims, and those
    # clients were NAKed (not ACKed) and got another address.
    assert seen.naks >= 1
    refused = b.events("nak", mod="dhcp", reason="address-claimed-elsewhere")
    assert refused, b.text()[-3000:]
    # A refused claim also brought a's leases just above it (a's six are
    # neighbours, from one walk): b marked them held without a NAK each.
    learned = b.events("learned", mod="dhcp", source="database")
    assert learned and sum(int(e["leases"]) for e in learned) >= 1, b.text()[-3000:]
    rows = assert_unique(seen, pg)
    for c in first + second:
        assert rows[c.ip][1] == c.mac.replace(":", ""), (c.ip, rows[c.ip])
    # A storm split over both.
    storm(link, [Client(link) for _ in range(30)], seen)
    assert_unique(seen, pg)
    assert ADDR["b"] in seen.by_server and ADDR["a"] in seen.by_server


def test_sigkill_one_instance_mid_storm(shared, pg, kidou_factory):
    net, start, link = shared
    a, b = start("a"), start("b")
    seen = Seen()
    clients = [Client(link) for _ in range(30)]
    a.expect_rc = None  # killed on purpose

    def kill_a():
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait()
    storm(link, clients, seen, after_first=kill_a, servers_after=(ADDR["b"],))
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

    def keep(r):
        c = xids.get(r.dhcp.xid)
        if c and r.dhcp.type in (ACK, NAK):
            got[c.mac] = (r.dhcp.type, r.dhcp.yiaddr)
    collect_until(link, T(10.0), keep, lambda: len(got) == len(xids))
    for c in clients:
        assert got.get(c.mac) == (ACK, c.ip), (c.mac, c.ip, got.get(c.mac))
    # a comes back, loads the table, and renews through it work too.
    a2 = start("a", name="kidou-a2")
    link.drain()
    some = clients[:10]
    xids = {c.send(REQUEST, ciaddr=c.ip, flags=BROADCAST_FLAG): c for c in some}
    ok = set()

    def keep_a(r):
        c = xids.get(r.dhcp.xid)
        if c and r.dhcp.type == ACK and r.dhcp.ip_opt(O_SERVER_ID) == ADDR["a"] and \
                r.dhcp.yiaddr == c.ip:
            ok.add(c.mac)
    collect_until(link, T(10.0), keep_a, lambda: len(ok) == len(xids))
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


# --------------------------------------------------------------------------
# relays pointed at both instances

RELAY_IP, GIADDR = "172.24.0.3", "10.9.0.1"
RELAY_CFG = """[subnet far]
network = 10.9.0.0/16
range = 10.9.0.10 10.9.0.100
lease-time = 900
"""


class Relay:
    """The client namespace plays a routed site's relay agent (dhcrelay
    SERVER_A SERVER_B): it has RELAY_IP on the servers' segment and GIADDR
    on the relayed network, forwards every client message to both
    instances (unicast, giaddr set, hops 1), and receives their answers
    on GIADDR:67. Both servers route the relayed network back through
    RELAY_IP."""

    def __init__(self, net: SharedNet):
        c = net.ns["c"]
        sh("ip", "-n", c, "addr", "add", f"{RELAY_IP}/16", "dev", "br0")
        sh("ip", "-n", c, "addr", "add", f"{GIADDR}/16", "dev", "br0")
        for x in ("a", "b"):
            sh("ip", "-n", net.ns[x], "route", "add", "10.9.0.0/16", "via", RELAY_IP)
        with in_netns(c):
            self.out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.out.bind((RELAY_IP, 67))
            self.back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.back.bind((GIADDR, 67))

    def close(self):
        self.out.close()
        self.back.close()

    def send(self, to, mtype, mac, xid, options=(), ciaddr="0.0.0.0"):
        msg = build_dhcp(xid=xid, hops=1, giaddr=GIADDR, chaddr=mac, ciaddr=ciaddr,
                         options=[opt_type(mtype)] + list(options))
        for server in to:
            self.out.sendto(msg, (server, 67))

    def collect_until(self, timeout, keep, done):
        """Like collect_until on the raw link: ends when done()."""
        deadline = time.monotonic() + timeout
        while not done():
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.back], [], [], left)[0]:
                return
            data, _ = self.back.recvfrom(2048)
            keep(parse_dhcp(data, strict=False))


def test_relays_to_both_instances(shared, pg, tmp_path):
    """A routed site: the relay forwards every client to both instances
    (one [subnet] with its range on both, one database). No address is
    ACKed twice, and every client renews through either instance."""
    net, start, link = shared
    cfg = tmp_path / "relay.ini"
    cfg.write_text(RELAY_CFG)
    relay = Relay(net)
    try:
        start("a", config=cfg), start("b", config=cfg)
        both = (ADDR["a"], ADDR["b"])
        macs = [random_mac(b"\x52\x54\x03") for _ in range(24)]
        xid_of = {m: 0x5E1A0000 + i for i, m in enumerate(macs)}
        mac_of = {x: m for m, x in xid_of.items()}
        acks, ip_of, server_of, seen = {}, {}, {}, Seen()
        left = list(macs)
        for _ in range(6):  # rounds: a NAKed client starts again
            offers = {}
            for m in left:
                relay.send(both, DISCOVER, m, xid_of[m])

            def keep_offer(d):
                if d.type == OFFER and d.xid in mac_of and d.giaddr == GIADDR:
                    offers.setdefault(d.xid, {})[d.ip_opt(O_SERVER_ID)] = d
            relay.collect_until(T(5.0), keep_offer,
                                lambda: all(len(offers.get(xid_of[m], {})) == 2 for m in left))
            asked = set()
            for i, m in enumerate(left):
                got = offers.get(xid_of[m])
                if not got:
                    continue
                o = got.get(both[i % 2]) or next(iter(got.values()))
                # The relay forwards the REQUEST to both: the one not
                # chosen learns the address is taken.
                relay.send(both, REQUEST, m, xid_of[m],
                           [opt_ip(O_SERVER_ID, o.ip_opt(O_SERVER_ID)),
                            opt_ip(O_REQ_IP, o.yiaddr)])
                asked.add(xid_of[m])
            answered = set()

            def keep_answer(d):
                if d.xid in asked and d.type in (ACK, NAK):
                    answered.add(d.xid)
                    if d.type == ACK:
                        m = mac_of[d.xid]
                        acks.setdefault(d.yiaddr, set()).add(m)
                        ip_of[m], server_of[m] = d.yiaddr, d.ip_opt(O_SERVER_ID)
                    else:
                        seen.naks += 1
            relay.collect_until(T(10.0), keep_answer, lambda: answered >= asked)
            left = [m for m in left if m not in ip_of]
            if not left:
                break
        assert not left, f"{len(left)} relayed clients got no lease"
        dup = {ip: m for ip, m in acks.items() if len(m) > 1}
        assert not dup, f"addresses ACKed to two clients: {dup}"
        assert set(server_of.values()) == set(both), server_of
        rows = pg.leases()
        for m, ip in ip_of.items():
            assert ip.startswith("10.9.0.") and rows[ip][1] == m.replace(":", ""), (m, ip)

        # Renewals (REBINDING through the relay: ciaddr, giaddr) sent to
        # the instance that did NOT grant the lease: each keeps its address.
        for m in macs:
            other = ADDR["b"] if server_of[m] == ADDR["a"] else ADDR["a"]
            relay.send((other,), REQUEST, m, xid_of[m] + 0x100, ciaddr=ip_of[m])
        renewed = {}

        def keep_renewal(d):
            m = mac_of.get(d.xid - 0x100)
            if m and d.type in (ACK, NAK):
                renewed[m] = (d.type, d.yiaddr, d.ip_opt(O_SERVER_ID))
        relay.collect_until(T(10.0), keep_renewal, lambda: len(renewed) == len(macs))
        for m in macs:
            other = ADDR["b"] if server_of[m] == ADDR["a"] else ADDR["a"]
            assert renewed.get(m) == (ACK, ip_of[m], other), (m, ip_of[m], renewed.get(m))
        rows = pg.leases()
        assert {ip: rows[ip][1] for ip in ip_of.values()} == \
            {ip: m.replace(":", "") for m, ip in ip_of.items()}
    finally:
        relay.close()


def wait_for(what, check, timeout=10.0):
    """Poll check() until it returns a true value (bounded)."""
    end = time.monotonic() + T(timeout)
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_api_state_shared(shared, pg, tmp_path):
    """Hosts and next-boot records written through one instance's API are
    answered the same way by the other, without a restart: install once
    set on a, booted and reported done through b, local on both; a host
    put on a is a host on b, deleted on b is gone from a."""
    from test_next_boot import TOKEN, Api, done_url_of, write_config

    net, start, _link = shared
    cfg = write_config(tmp_path)
    cfg.write_text(cfg.read_text() + "\n[http]\nlisten = 0.0.0.0:8080\n")
    a, b = start("a", config=cfg), start("b", config=cfg)

    class Ns:
        def __init__(self, ns):
            self.srv = ns
    base = {x: f"http://{ADDR[x]}:8080" for x in ADDR}
    api = {x: Api(Ns(net.ns[x]), base[x]) for x in ADDR}
    mac, mac2 = "52:54:00:12:34:56", "52:54:00:12:34:58"

    def ipxe(x, m=mac):
        cp = api[x]._curl(f"{base[x]}/boot.ipxe?mac={m}")
        assert cp.returncode == 0, cp.stderr
        return cp.stdout.decode()

    def machine(x, m=mac):
        st, doc = api[x].call("GET", f"/api/v1/machines/{m}", auth=None)
        return doc if st == 200 else None

    assert "rescue/vmlinuz" in ipxe("b")
    st, doc = api["a"].call("PUT", f"/api/v1/machines/{mac}/next-boot",
                            {"profile": "inst", "once": True})
    assert st == 200, doc
    token = doc["done_token"]
    # b answers the machine as a does: the install, with b's own done URL
    m = wait_for("b to see a's next-boot",
                 lambda: (lambda d: d if d and d["install_pending"] else None)(machine("b")))
    assert m["next_boot"] == {"mode": "profile", "profile": "inst", "once": True}, m
    b.wait_event("next-boot-synced", mod="api", mac=mac, timeout=T(5))
    text = ipxe("b")
    assert "inst/vmlinuz" in text, text
    url = done_url_of(text)
    assert url == f"{base['b']}/api/v1/machines/{mac}/done?token={token}", url

    # the installer reports to b; a then boots it from its disk, and the
    # spent token is refused by a too
    st, doc = api["b"].call("POST", url[len(base["b"]):], auth=None)
    assert st == 200, doc
    wait_for("a to see the done",
             lambda: (lambda d: d and d["next_boot"] == {"mode": "local"})(machine("a")))
    text = ipxe("a")
    assert "\nexit\n" in text and "vmlinuz" not in text, text
    st, _ = api["a"].call("POST", url[len(base["b"]):], auth=None)
    assert st == 403

    # hosts: put on a, a host on b (its profile rendered); deleted on b,
    # gone from a
    def hosts(x):
        st, doc = api[x].call("GET", "/api/v1/hosts", auth=None)
        assert st == 200, doc
        return {h["name"]: h for h in doc}
    st, doc = api["a"].call("PUT", "/api/v1/hosts/web1",
                            {"mac": mac2, "hostname": "web1", "profile": "inst"})
    assert st == 201, doc
    h = wait_for("b to see host web1", lambda: hosts("b").get("web1"))
    assert h["source"] == "api" and h["mac"] == mac2, h
    assert "inst/vmlinuz" in ipxe("b", mac2)
    st, doc = api["b"].call("DELETE", "/api/v1/hosts/web1")
    assert st == 200, doc
    wait_for("a to drop host web1", lambda: "web1" not in hosts("a"))
    assert "rescue/vmlinuz" in ipxe("a", mac2)
    for k in (a, b):
        assert k.alive()
        assert not k.events("sync-failed", mod="store")
