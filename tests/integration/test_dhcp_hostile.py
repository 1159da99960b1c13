"""Malformed and hostile DHCP traffic, and pool exhaustion. After each batch
kidou must still be running (and, in an ASan build, clean) and a normal
udhcpc must still get a lease. Raw frames from the client namespace (see
dhcp_lib.py)."""
from __future__ import annotations

import itertools
import random

from dhcp_lib import (  # noqa: F401  (fixtures)
    ACK, DECLINE, DISCOVER, MAGIC, NAK, OFFER, O_REQ_IP, O_SERVER_ID, RANGE, REQUEST, SRV_ADDR,
    BROADCAST_FLAG, Client, Udhcpc, assert_alive, build_dhcp, dhcp_events, dhcp_net, dhcpd,
    in_range, link, opt, opt_ip, opt_type, random_mac, udp_frame, wait_dhcp, xid_str,
)
from kidou_testlib import T


_checks = itertools.count()


def still_serving(k, dhcp_net, tmp_path):
    """kidou is alive (and clean) and serves a real client."""
    assert_alive(k)
    env = Udhcpc(dhcp_net, tmp_path, name=f"udhcpc-check-{next(_checks)}").once()
    assert in_range(env["ip"], *RANGE), env
    assert_alive(k)


def drops(k, reason=None):
    return [e for e in dhcp_events(k, "drop") if reason is None or e.get("reason") == reason]


def send_and_expect_silence(link, msgs, mac=None):
    link.drain()
    for m in msgs:
        link.send_dhcp(m, src_mac=mac)
    got = link.collect(T(0.8))
    assert not got, f"replies to malformed requests: {[r.dhcp for r in got]}"


def test_malformed_requests_are_dropped(dhcpd, dhcp_net, link, tmp_path):
    k = dhcpd()
    mac = random_mac()
    good = build_dhcp(xid=0x11111111, chaddr=mac, options=[opt_type(DISCOVER)])

    # truncated: inside the fixed header, right before and inside the cookie
    truncated = [good[:n] for n in (0, 1, 10, 100, 235, 236, 237, 239)]
    send_and_expect_silence(link, truncated, mac=mac)
    k.wait_for(lambda: len(drops(k, "malformed")) >= len(truncated), T(3), "malformed drops")
    still_serving(k, dhcp_net, tmp_path)

    before = len(drops(k, "malformed"))
    bad = [
        # no magic cookie / a wrong one
        build_dhcp(xid=0x22220001, chaddr=mac, cookie=b"", options=[opt_type(DISCOVER)]),
        build_dhcp(xid=0x22220002, chaddr=mac, cookie=b"\x63\x82\x53\x64",
                   options=[opt_type(DISCOVER)]),
        # an option whose length runs past the end of the datagram
        build_dhcp(xid=0x22220003, chaddr=mac, pad_to=0,
                   raw_options=bytes([53, 1, 1, 12, 200]) + b"host"),
        # length byte missing
        build_dhcp(xid=0x22220004, chaddr=mac, pad_to=0, raw_options=bytes([53, 1, 1, 12])),
        # no END (and no padding either)
        build_dhcp(xid=0x22220005, chaddr=mac, pad_to=0, end=False,
                   options=[opt_type(DISCOVER)]),
        # hlen 17
        build_dhcp(xid=0x22220006, chaddr=mac, hlen=17, options=[opt_type(DISCOVER)]),
        build_dhcp(xid=0x22220007, chaddr=mac, hlen=255, options=[opt_type(DISCOVER)]),
        # overload pointing at garbage: an option in `file` overrunning it
        build_dhcp(xid=0x22220008, chaddr=mac, file=bytes([1, 255]) + b"\xAA" * 126,
                   options=[opt_type(DISCOVER), opt(52, 1)]),
        build_dhcp(xid=0x22220009, chaddr=mac, sname=bytes([12, 100]) + b"x" * 62,
                   file=b"\xff" * 128, options=[opt_type(DISCOVER), opt(52, 3)]),
    ]
    send_and_expect_silence(link, bad, mac=mac)
    k.wait_for(lambda: len(drops(k, "malformed")) >= before + len(bad), T(3),
               f"{len(bad)} more malformed drops")
    still_serving(k, dhcp_net, tmp_path)

    # well-formed, but not something a server answers
    odd = [
        build_dhcp(xid=0x33330001, op=2, chaddr=mac, options=[opt_type(DISCOVER)]),
        build_dhcp(xid=0x33330002, chaddr=mac, options=[opt_type(42)]),
        build_dhcp(xid=0x33330003, chaddr=mac, options=[opt_type(OFFER)]),
        build_dhcp(xid=0x33330004, chaddr=mac, options=[]),  # plain BOOTP
        build_dhcp(xid=0x33330005, chaddr=mac, options=[opt(53, b"\x01\x01")]),
        build_dhcp(xid=0x33330006, hlen=0, chaddr=b"", options=[opt_type(DISCOVER)]),
        # option 61 split (RFC 3396) past the 255 bytes of RFC 2132 9.14
        build_dhcp(xid=0x33330007, chaddr=mac,
                   options=[opt_type(DISCOVER), opt(61, b"\x01" * 200), opt(61, b"\x01" * 100)]),
    ]
    send_and_expect_silence(link, odd, mac=mac)
    for xid, reason in ((0x33330001, "reply-from-a-client"),
                        (0x33330002, "unexpected-message-type"),
                        (0x33330003, "unexpected-message-type"),
                        (0x33330004, "no-message-type"),
                        (0x33330005, "no-message-type"),
                        (0x33330006, "no-client-identity"),
                        (0x33330007, "no-client-identity")):
        ev = wait_dhcp(k, "drop", xid=xid_str(xid))
        assert ev["reason"] == reason, ev
    assert not dhcp_events(k, "offer", mac=mac), k.text()
    still_serving(k, dhcp_net, tmp_path)


def test_overloaded_options_are_read(dhcpd, link):
    """Option overload done right: the message type lives in `file`."""
    k = dhcpd()
    cl = Client(link)
    msg = build_dhcp(xid=0x0F11E000, chaddr=cl.mac, file=bytes([53, 1, 1, 255]),
                     options=[opt(52, 1)])
    link.drain()
    link.send_dhcp(msg, src_mac=cl.mac)
    r = link.expect(0x0F11E000)
    assert r.dhcp.type == OFFER and in_range(r.dhcp.yiaddr, *RANGE), r.dhcp
    assert_alive(k)


def test_thousands_of_zero_length_options(dhcpd, dhcp_net, link, tmp_path):
    k = dhcpd()
    cl = Client(link)
    # 4000 zero-length options of site-specific codes, in one fragmented
    # 8 KiB datagram, then the message type
    zero = b"".join(bytes([224 + i % 30, 0]) for i in range(4000))
    msg = build_dhcp(xid=0x0000C0DE, chaddr=cl.mac,
                     raw_options=zero + bytes([53, 1, 1, 255]))
    assert len(msg) > 8000
    link.drain()
    link.send(udp_frame(msg, cl.mac, fragsize=1400))
    r = link.expect(0x0000C0DE, what="OFFER to a message with 4000 empty options")
    assert r.dhcp.type == OFFER, r.dhcp
    # the same count of zero-length options of every code, with no
    # message type: dropped, without a reply
    every = b"".join(bytes([1 + i % 254, 0]) for i in range(4000)) + b"\xff"
    msg = build_dhcp(xid=0x0000C0DF, chaddr=cl.mac, raw_options=every)
    link.send(udp_frame(msg, cl.mac, fragsize=1400))
    link.expect_none(0x0000C0DF, timeout=0.8)
    still_serving(k, dhcp_net, tmp_path)


def test_random_datagrams(dhcpd, dhcp_net, link, tmp_path):
    k = dhcpd(log_level="info")
    rng = random.Random(0xD4C9)
    frames = []
    for i in range(1000):
        kind = i % 4
        if kind == 0:  # pure noise
            payload = rng.randbytes(rng.randrange(0, 700))
        elif kind == 1:  # a header and cookie, then noise
            payload = rng.randbytes(236) + MAGIC + rng.randbytes(rng.randrange(0, 400))
        elif kind == 2:  # a plausible request with random options
            opts = b""
            for _ in range(rng.randrange(0, 30)):
                n = rng.randrange(0, 20)
                opts += bytes([rng.randrange(1, 255), n]) + rng.randbytes(n)
            payload = build_dhcp(xid=rng.getrandbits(32), chaddr=rng.randbytes(6),
                                 raw_options=bytes([53, 1, rng.randrange(0, 10)]) + opts
                                 + (b"\xff" if rng.random() < 0.7 else b""))
        else:  # a valid message with a few bytes flipped
            b = bytearray(build_dhcp(xid=rng.getrandbits(32), chaddr=rng.randbytes(6),
                                     options=[opt_type(rng.randrange(1, 9)),
                                              opt(55, bytes([1, 3, 6, 15, 66, 67])),
                                              opt(60, "PXEClient:Arch:00000"),
                                              opt(93, b"\x00\x07"),
                                              opt(82, b"\x01\x02ab")]))
            for _ in range(rng.randrange(1, 8)):
                b[rng.randrange(len(b))] = rng.randrange(256)
            payload = bytes(b)
        frames += udp_frame(payload, random_mac())
    for n in range(0, len(frames), 100):
        link.send(frames[n:n + 100])
        assert_alive(k)
    still_serving(k, dhcp_net, tmp_path)


def test_pool_exhaustion(dhcpd, link):
    k = dhcpd(dhcp_range=("172.24.50.1", "172.24.50.2"))
    a, b, c = Client(link), Client(link), Client(link)
    a.dora()
    b.dora()
    assert {a.ip, b.ip} == {"172.24.50.1", "172.24.50.2"}
    xid = c.send(DISCOVER)
    link.expect_none(xid, timeout=1.0)
    ev = wait_dhcp(k, "pool-full", xid=xid_str(xid))
    assert ev["level"] == "warn" and ev["mac"] == c.mac, ev
    # asking for a taken address does not help
    xid = c.send(DISCOVER, [opt_ip(O_REQ_IP, a.ip)])
    link.expect_none(xid, timeout=0.5)
    # c was never offered anything: its INIT-REBOOT gets silence
    xid = c.send(REQUEST, [opt_ip(O_REQ_IP, a.ip)])
    link.expect_none(xid, timeout=0.5)
    wait_dhcp(k, "ignore", xid=xid_str(xid), reason="unknown-client")

    # the clients holding leases still renew (REBINDING: broadcast, ciaddr)
    for cl in (a, b):
        r = cl.request(ciaddr=cl.ip, flags=BROADCAST_FLAG)
        assert r.dhcp.type == ACK and r.dhcp.yiaddr == cl.ip, r.dhcp
        assert r.dhcp.ciaddr == cl.ip, r.dhcp
        wait_dhcp(k, "ack", xid=xid_str(r.dhcp.xid), ip=cl.ip)
    # and a full DORA from a holder gets its own address again
    offer, ack = a.dora()
    assert ack.dhcp.yiaddr == a.ip
    assert_alive(k)


def test_other_clients_cannot_release_or_decline_a_lease(dhcpd, link, tmp_path):
    from dhcp_lib import DECLINE, LEASE_BOUND, RELEASE, read_leases
    k = dhcpd(dhcp_range=("172.24.51.1", "172.24.51.2"))
    victim = Client(link)
    victim.dora()
    thief = Client(link)
    xid = thief.send(RELEASE, [opt_ip(O_SERVER_ID, SRV_ADDR)], ciaddr=victim.ip)
    wait_dhcp(k, "ignore", xid=xid_str(xid), reason="release-of-unknown-lease")
    xid = thief.send(DECLINE, [opt_ip(O_SERVER_ID, SRV_ADDR), opt_ip(O_REQ_IP, victim.ip)])
    wait_dhcp(k, "ignore", xid=xid_str(xid), reason="decline-of-unknown-lease")
    assert read_leases(tmp_path / "leases.db")[victim.ip]["state"] == LEASE_BOUND
    # the thief gets the other address, never the victim's
    assert thief.discover().dhcp.yiaddr != victim.ip
    r = victim.request(ciaddr=victim.ip, flags=BROADCAST_FLAG)
    assert r.dhcp.type == ACK and r.dhcp.yiaddr == victim.ip, r.dhcp
    assert not dhcp_events(k, "release") and not dhcp_events(k, "decline"), k.text()


def test_log_lines_cannot_be_forged(dhcpd, link):
    k = dhcpd()
    cl = Client(link)
    evil = b'x" ip=6.6.6.6\nlevel=info mod=dhcp event=ack ip=6.6.6.6 \x1b[2J\r\x00'
    r = cl.discover([opt(77, evil), opt(60, b"PXEClient\nlevel=error")])
    assert r.dhcp.type == OFFER
    ev = wait_dhcp(k, "offer", xid=xid_str(r.dhcp.xid))
    assert ev["ip"] == r.dhcp.yiaddr, ev
    assert "6.6.6.6" in ev["user_class"], ev
    for line in k.lines():
        assert line.startswith(("level=", "kidou:")), f"forged or broken log line: {line!r}"
        assert "\x1b" not in line and "\r" not in line, repr(line)
    assert not [e for e in dhcp_events(k) if e.get("ip") == "6.6.6.6"], k.text()


def test_reserved_address_cannot_be_claimed_with_a_forged_client_id(dhcpd, link, tmp_path):
    """A fixed host's address inside the range is reserved for its MAC;
    no option 61 a client can send (whatever kidou uses internally for the
    reservation) gets it."""
    cfg = tmp_path / "hosts.ini"
    cfg.write_text("[host db1]\nmac = 52:54:00:db:00:01\nip = 172.24.52.2\n")
    k = dhcpd(config=cfg, dhcp_range=("172.24.52.1", "172.24.52.20"))
    forged_ids = [b"\x01host:db1", b"host:db1", b"\x00host:db1", b"\x01" + bytes(6),
                  b"\x01\x52\x54\x00\xdb\x00\x01", b"\x00\x00"]
    for cid in forged_ids:
        cl = Client(link)
        want = [opt(61, cid), opt_ip(O_REQ_IP, "172.24.52.2")]
        offer = cl.discover(want)
        assert offer.dhcp.yiaddr != "172.24.52.2", (cid, offer.dhcp)
        r = cl.request(want)
        assert r.dhcp.type == NAK, (cid, r.dhcp)
        r = cl.request(want + [opt_ip(O_SERVER_ID, SRV_ADDR)])
        assert r.dhcp.type == NAK, (cid, r.dhcp)
    assert not dhcp_events(k, "ack"), k.text()
    # the host itself still gets it
    _, ack = Client(link, "52:54:00:db:00:01").dora()
    assert ack.dhcp.yiaddr == "172.24.52.2", ack.dhcp


# --------------------------------------------------------------------------
# issue 12: one attacker must not take the pool


def strangers_init_reboot(link, first_octets, n):
    """n INIT-REBOOTs, each from a new MAC for another address of
    first_octets.1..n; returns their xids."""
    link.drain()
    xids = []
    for i in range(1, n + 1):
        cl = Client(link)
        xids.append(cl.send(REQUEST, [opt_ip(O_REQ_IP, f"{first_octets}.{i}")]))
    return xids


def test_init_reboot_from_strangers_gets_silence(dhcpd, link, tmp_path):
    """RFC 2131 4.3.2: no record of the client, no answer. 20 such
    packets used to bind a 20-address pool, for good (stored)."""
    from dhcp_lib import read_leases
    k = dhcpd(dhcp_range=("172.24.53.1", "172.24.53.20"))
    xids = strangers_init_reboot(link, "172.24.53", 20)
    # and RENEWING from a stranger, by unicast-style ciaddr
    xids.append(Client(link).send(REQUEST, ciaddr="172.24.53.5", flags=BROADCAST_FLAG))
    got = link.collect(T(1.0))
    assert not got, [r.dhcp for r in got]
    for xid in xids:
        wait_dhcp(k, "ignore", xid=xid_str(xid), reason="unknown-client")
    assert not dhcp_events(k, "ack"), k.text()
    assert read_leases(tmp_path / "leases.db") == {}
    # the pool is whole: a client that does DORA gets the first address
    _, ack = Client(link).dora()
    assert ack.dhcp.yiaddr == "172.24.53.1", ack.dhcp
    assert_alive(k)


def test_authoritative_answers_strangers(dhcpd, link, tmp_path):
    """authoritative = yes: the database was lost and kidou is the only
    server, so a stranger keeps a free address and is NAKed otherwise."""
    from dhcp_lib import LEASE_BOUND, read_leases
    k = dhcpd("--dhcp-authoritative", "yes", dhcp_range=("172.24.55.1", "172.24.55.20"))
    a = Client(link)
    r = a.request([opt_ip(O_REQ_IP, "172.24.55.7")])
    assert r.dhcp.type == ACK and r.dhcp.yiaddr == "172.24.55.7", r.dhcp
    assert read_leases(tmp_path / "leases.db")["172.24.55.7"]["state"] == LEASE_BOUND
    b = Client(link)
    r = b.request([opt_ip(O_REQ_IP, "172.24.55.7")])  # a's
    assert r.dhcp.type == NAK, r.dhcp
    wait_dhcp(k, "nak", xid=xid_str(r.dhcp.xid), reason="address-taken")
    r = b.request([opt_ip(O_REQ_IP, "10.1.2.3")])  # another network
    assert r.dhcp.type == NAK, r.dhcp
    wait_dhcp(k, "nak", xid=xid_str(r.dhcp.xid), reason="wrong-network")
    r = b.request([opt_ip(O_REQ_IP, "172.24.99.1")])  # ours, outside the range
    assert r.dhcp.type == NAK, r.dhcp
    wait_dhcp(k, "nak", xid=xid_str(r.dhcp.xid), reason="address-not-in-range")


def scrape_dhcp_metrics(dhcp_net, port) -> dict:
    import http.client
    from dhcp_lib import in_netns
    with in_netns(dhcp_net.srv):  # the socket is made on connect()
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=T(5))
        c.connect()
    try:
        c.request("GET", "/metrics")
        body = c.getresponse().read().decode()
    finally:
        c.close()
    out = {}
    for line in body.splitlines():
        if line.startswith("kidou_dhcp_"):
            name, value = line.rsplit(" ", 1)
            out[name] = int(float(value))
    return out


def test_decline_of_an_offer_does_not_drain_the_pool(dhcpd, dhcp_net, link, tmp_path):
    """DISCOVER, then DECLINE of the merely offered address, 30 times with
    a new MAC: used to set 30 addresses aside for decline-hold (600 s),
    stored. Now they are only offered, held for offer-hold (30 s)."""
    from dhcp_lib import LEASE_DECLINED, read_leases
    k = dhcpd("--http-listen", "127.0.0.1:8067",
              dhcp_range=("172.24.56.1", "172.24.56.40"))
    for _ in range(30):
        cl = Client(link)
        offer = cl.discover()
        xid = cl.send(DECLINE, [opt_ip(O_SERVER_ID, SRV_ADDR),
                                opt_ip(O_REQ_IP, offer.dhcp.yiaddr)])
        wait_dhcp(k, "ignore", xid=xid_str(xid), reason="decline-of-unknown-lease")
    assert not dhcp_events(k, "decline"), k.text()
    assert read_leases(tmp_path / "leases.db") == {}
    m = scrape_dhcp_metrics(dhcp_net, 8067)
    assert m['kidou_dhcp_pool_declined{subnet="dhcp"}'] == 0, m
    assert m['kidou_dhcp_leases_in_use{subnet="dhcp"}'] == 30, m  # offered
    # the holder of an acknowledged lease may still decline it, and the
    # declined address shows in /metrics apart from leases and free ones
    holder = Client(link)
    holder.dora()
    xid = holder.send(DECLINE, [opt_ip(O_SERVER_ID, SRV_ADDR), opt_ip(O_REQ_IP, holder.ip)])
    wait_dhcp(k, "decline", xid=xid_str(xid), ip=holder.ip)
    assert read_leases(tmp_path / "leases.db")[holder.ip]["state"] == LEASE_DECLINED
    m = scrape_dhcp_metrics(dhcp_net, 8067)
    assert m['kidou_dhcp_pool_declined{subnet="dhcp"}'] == 1, m
    assert m['kidou_dhcp_pool_size{subnet="dhcp"}'] == 40, m
    assert m['kidou_dhcp_pool_free{subnet="dhcp"}'] == 40 - 1 - m[
        'kidou_dhcp_leases_in_use{subnet="dhcp"}'], m


def test_declines_over_a_tenth_of_the_pool_warn(dhcpd, link):
    k = dhcpd(dhcp_range=("172.24.57.1", "172.24.57.5"))
    cl = Client(link)
    cl.dora()
    xid = cl.send(DECLINE, [opt_ip(O_SERVER_ID, SRV_ADDR), opt_ip(O_REQ_IP, cl.ip)])
    wait_dhcp(k, "decline", xid=xid_str(xid))
    ev = wait_dhcp(k, "pool-declines")
    assert ev["level"] == "warn" and ev["declined"] == "1" and ev["size"] == "5", ev


def test_relay_on_the_servers_own_network(dhcpd, dhcp_net, link):
    """A relay whose giaddr is on the receiving interface's network, with
    no [subnet] for it: served from the [dhcp] range, to the relay, with
    option 82 back (it used to be ignored: relay-from-unknown-subnet)."""
    import socket
    from dhcp_lib import O_RELAY, in_netns, in_range, parse_dhcp, random_mac
    k = dhcpd()
    dhcp_net.cli_ip("addr", "add", "172.24.0.2/16", "dev", "v1")
    with in_netns(dhcp_net.cli):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("172.24.0.2", 67))
    agent = bytes([1, 4]) + b"sw17"
    chaddr = random_mac(b"\x52\x54\x03")
    try:
        sock.settimeout(T(3))
        msg = build_dhcp(xid=0x5E1F0001, hops=1, giaddr="172.24.0.2", chaddr=chaddr,
                         options=[opt_type(DISCOVER), opt(O_RELAY, agent)])
        sock.sendto(msg, (SRV_ADDR, 67))
        data, src = sock.recvfrom(2048)
        offer = parse_dhcp(data)
        assert src == (SRV_ADDR, 67), src
        assert offer.type == OFFER and offer.xid == 0x5E1F0001, offer
        assert in_range(offer.yiaddr, *RANGE), offer
        assert offer.giaddr == "172.24.0.2" and offer.options[O_RELAY] == agent, offer
        assert offer.order[-1] == O_RELAY, offer
        msg = build_dhcp(xid=0x5E1F0001, hops=1, giaddr="172.24.0.2", chaddr=chaddr,
                         options=[opt_type(REQUEST), opt_ip(O_SERVER_ID, SRV_ADDR),
                                  opt_ip(O_REQ_IP, offer.yiaddr), opt(O_RELAY, agent)])
        sock.sendto(msg, (SRV_ADDR, 67))
        data, src = sock.recvfrom(2048)
        ack = parse_dhcp(data)
        assert ack.type == ACK and ack.yiaddr == offer.yiaddr, ack
        assert ack.options[O_RELAY] == agent, ack
    finally:
        sock.close()
    wait_dhcp(k, "ack", xid=xid_str(0x5E1F0001), ip=offer.yiaddr)


def test_client_id_of_255_bytes(dhcpd, link, tmp_path):
    """RFC 2132 9.14 allows 255 bytes of option 61; kidou used to drop
    anything past 64 (at debug level only)."""
    from dhcp_lib import read_leases
    k = dhcpd()
    cid = b"\xff" + bytes(range(254))
    cl = Client(link)
    _, ack = cl.dora([opt(61, cid)])
    assert read_leases(tmp_path / "leases.db")[ack.dhcp.yiaddr]["client_id"] == cid
    # another machine whose id differs only in its last byte is another client
    other = Client(link)
    offer = other.discover([opt(61, cid[:-1] + b"\x00")])
    assert offer.dhcp.yiaddr != ack.dhcp.yiaddr, offer.dhcp
    # and the first renews its own
    r = cl.request([opt(61, cid)], ciaddr=cl.ip, flags=BROADCAST_FLAG)
    assert r.dhcp.type == ACK and r.dhcp.yiaddr == cl.ip, r.dhcp
    assert_alive(k)


def range_events(k, iface):
    return [e for e in dhcp_events(k, "range") if e.get("iface") == iface]


def test_range_is_checked_against_the_interface(dhcpd, link):
    """A range holding the network address and the server's own
    (172.24.0.0/16, kidou is 172.24.0.1): both named at start and never
    handed out; the rest is served."""
    k = dhcpd(dhcp_range=("172.24.0.0", "172.24.0.3"))
    problems = {e["problem"] for e in range_events(k, "v0")}
    assert problems == {"range-includes-network-address", "range-includes-server-address"}, \
        k.text()
    assert [e["server_addr"] for e in range_events(k, "v0")
            if e["problem"] == "range-includes-server-address"] == [SRV_ADDR]
    got = {Client(link).dora()[1].dhcp.yiaddr for _ in range(2)}
    assert got == {"172.24.0.2", "172.24.0.3"}, got
    xid = Client(link).send(DISCOVER)
    link.expect_none(xid, timeout=0.5)
    wait_dhcp(k, "pool-full", xid=xid_str(xid))


def test_range_with_nothing_usable_is_refused(dhcpd, link):
    k = dhcpd(dhcp_range=("172.24.255.255", "172.24.255.255"))
    ev = wait_dhcp(k, "range", iface="v0", problem="range-includes-broadcast-address")
    assert ev["level"] == "warn", ev
    ev = wait_dhcp(k, "range", iface="v0", action="not-serving")
    assert ev["level"] == "error", ev
    xid = Client(link).send(DISCOVER)
    link.expect_none(xid, timeout=0.5)
    wait_dhcp(k, "pool-full", xid=xid_str(xid))


def test_range_is_checked_when_an_interface_appears(dhcpd, dhcp_net):
    """v2 does not exist at start: the range (which holds v2's network
    address) is checked once v2 and its address appear, and v2's network
    and server addresses are skipped."""
    from dhcp_lib import RawLink
    k = dhcpd("--interface", "v2", dhcp_range=("10.66.0.0", "10.66.0.3"))
    wait_dhcp(k, "range", iface="v0", problem="range-on-another-subnet")
    assert not range_events(k, "v2")
    dhcp_net.add_link("v2", "v3", "10.66.0.1/24")
    link3 = RawLink(dhcp_net.cli, "v3")
    try:
        cl = Client(link3)
        # kidou looks again at interfaces it does not know when a packet
        # comes in on one (at most once a second): resend until it does
        for _ in range(20):
            xid = cl.send(DISCOVER)
            got = link3.collect(T(0.5), xid=xid, until_first=True)
            if got:
                break
        assert got, k.text()
        assert got[0].dhcp.yiaddr in ("10.66.0.2", "10.66.0.3"), got[0].dhcp
        problems = {e["problem"] for e in range_events(k, "v2")}
        assert problems == {"range-includes-network-address",
                            "range-includes-server-address"}, k.text()
    finally:
        link3.close()
