"""Malformed and hostile DHCP traffic, and pool exhaustion. After each batch
kidou must still be running (and, in an ASan build, clean) and a normal
udhcpc must still get a lease. Raw frames from the client namespace (see
dhcp_lib.py)."""
from __future__ import annotations

import itertools
import random

from dhcp_lib import (  # noqa: F401  (fixtures)
    ACK, DISCOVER, MAGIC, NAK, OFFER, O_REQ_IP, O_SERVER_ID, RANGE, SRV_ADDR,
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
        build_dhcp(xid=0x33330007, chaddr=mac,
                   options=[opt_type(DISCOVER), opt(61, b"\x01" * 200)]),
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
    r = c.request([opt_ip(O_REQ_IP, a.ip)])
    assert r.dhcp.type == NAK, r.dhcp

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
