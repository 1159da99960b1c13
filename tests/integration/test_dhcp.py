"""kidou's DHCP server against real clients (busybox udhcpc, ISC dhclient,
dhcpcd) and against scripted raw packets, each test in its own pair of
network namespaces (see dhcp_lib.py)."""
from __future__ import annotations

import signal
import socket
import time

import pytest

from dhcp_lib import (  # noqa: F401  (fixtures)
    ACK, DNS, DOMAIN, LEASE, LEASE_BOUND, LEASE_DECLINED, LEASE_RELEASED, NAK, NETMASK,
    O_DNS, O_DOMAIN, O_HOSTNAME, O_LEASE, O_MASK, O_RELAY, O_REQ_IP, O_ROUTER,
    O_SERVER_ID, O_T1, O_T2, O_TYPE, OFFER, RANGE, ROUTER, SRV_ADDR, BROADCAST_FLAG,
    DECLINE, DISCOVER, INFORM, REQUEST, RELEASE,
    Client, Dhclient, Dhcpcd, RawLink, Udhcpc, assert_alive, build_dhcp, dhcp_events, dhcp_net,
    dhcpd, in_netns, in_range, link, mac_bytes, opt, opt_ip, opt_prl, opt_type, parse_dhcp,
    random_mac, read_leases, wait_dhcp, xid_str,
)
from kidou_testlib import T


def lease_row(tmp_path, ip):
    rows = read_leases(tmp_path / "leases.db")
    assert ip in rows, f"no lease row for {ip}: {rows}"
    return rows[ip]


def assert_bound_row(tmp_path, ip, mac):
    row = lease_row(tmp_path, ip)
    assert row["state"] == LEASE_BOUND, row
    assert row["hwaddr"] == mac_bytes(mac), row
    assert abs(row["expires"] - (time.time() + LEASE)) < 30, row


def read_leases_or_empty(k):
    for i, a in enumerate(k.args):
        if a == "--dhcp-database":
            return read_leases(k.args[i + 1])
    return {}


def _srv_mac(net) -> str:
    out = net.srv_ip("-o", "link", "show", "v0").stdout
    return out.split("link/ether ")[1].split()[0]


def assert_released_row(tmp_path, ip, mac):
    row = lease_row(tmp_path, ip)
    assert row["state"] == LEASE_RELEASED, row
    assert row["hwaddr"] == mac_bytes(mac), row
    assert row["expires"] <= time.time() + 1, row


# --------------------------------------------------------------------------
# real clients: obtain, renew, release


def test_udhcpc_obtain_renew_release(dhcpd, dhcp_net, tmp_path):
    k = dhcpd()
    mac = dhcp_net.client_mac
    c = Udhcpc(dhcp_net, tmp_path)
    p = c.start()
    try:
        env = c.wait_event(["bound"])
        ip = env["ip"]
        assert in_range(ip, *RANGE), env
        assert env["subnet"] == NETMASK, env
        assert env["router"] == ROUTER, env
        assert env["dns"].split() == list(DNS), env
        assert env["domain"] == DOMAIN, env
        assert int(env["lease"]) == LEASE, env
        assert env["serverid"] == SRV_ADDR, env
        offer = wait_dhcp(k, "offer", mac=mac)
        ack = wait_dhcp(k, "ack", mac=mac)
        assert offer["type"] == "DISCOVER" and offer["ip"] == ip, offer
        assert ack["type"] == "REQUEST" and ack["ip"] == ip and ack["iface"] == "v0", ack
        assert_bound_row(tmp_path, ip, mac)

        # renew (RENEWING: unicast REQUEST from the leased address)
        n = len(c.events())
        p.send_signal(signal.SIGUSR1)
        env2 = c.wait_event(["renew", "bound"], after=n)
        assert env2["ip"] == ip and int(env2["lease"]) == LEASE, env2
        renew = wait_dhcp(k, "ack", count=2, mac=mac)
        assert renew["type"] == "REQUEST" and renew["ip"] == ip, renew
        assert not dhcp_events(k, "nak"), k.text()

        # release
        p.send_signal(signal.SIGUSR2)
        rel = wait_dhcp(k, "release", mac=mac)
        assert rel["ip"] == ip and rel["type"] == "RELEASE", rel
        assert_released_row(tmp_path, ip, mac)
    finally:
        c.stop()
    assert_alive(k)


def test_config_options_reach_udhcpc(dhcpd, dhcp_net, tmp_path):
    """`option = CODE TYPE VALUE` lines: udhcpc asks for NTP servers (42)
    and a site-specific option (224) with -O and its script sees them; the
    MTU option (26) it did not ask for stays out."""
    cfg = tmp_path / "options.ini"
    cfg.write_text("[dhcp]\n"
                   "option = 42 ip 172.24.0.123, 172.24.0.124\n"
                   "option = 224 hex 6b:69:64:6f:75\n"
                   "option = 26 u16 1400\n")
    dhcpd(config=cfg)
    c = Udhcpc(dhcp_net, tmp_path)
    env = c.once("-O", "ntpsrv", "-O", "224")
    assert env["ntpsrv"].split() == ["172.24.0.123", "172.24.0.124"], env
    assert env["opt224"].lower() == "6b69646f75", env
    assert "mtu" not in env, env


def test_dhclient_obtain_renew_release(dhcpd, dhcp_net, tmp_path):
    k = dhcpd()
    mac = dhcp_net.client_mac
    c = Dhclient(dhcp_net, tmp_path)
    try:
        cp = c.obtain()
        assert cp.returncode == 0, c.log_text()
        env = c.wait_event(["BOUND"])
        ip = env["new_ip_address"]
        assert in_range(ip, *RANGE), env
        assert env["new_subnet_mask"] == NETMASK, env
        assert env["new_routers"] == ROUTER, env
        assert env["new_domain_name_servers"].split() == list(DNS), env
        assert env["new_domain_name"] == DOMAIN, env
        assert int(env["new_dhcp_lease_time"]) == LEASE, env
        assert env["new_dhcp_server_identifier"] == SRV_ADDR, env
        first = wait_dhcp(k, "ack", mac=mac)
        assert first["type"] == "REQUEST" and first["ip"] == ip, first
        assert_bound_row(tmp_path, ip, mac)

        # renew: a second run with the same lease file asks for the same
        # address (INIT-REBOOT) and replaces the first daemon
        n = len(c.events())
        cp = c.obtain()
        assert cp.returncode == 0, c.log_text()
        env2 = c.wait_event(["REBOOT", "RENEW", "BOUND"], after=n)
        assert env2["new_ip_address"] == ip, env2
        assert int(env2["new_dhcp_lease_time"]) == LEASE, env2
        second = wait_dhcp(k, "ack", count=2, mac=mac)
        assert second["type"] == "REQUEST" and second["ip"] == ip, second
        assert second["xid"] != first["xid"], (first, second)
        assert not dhcp_events(k, "nak"), k.text()

        cp = c.release()
        assert cp.returncode == 0, c.log_text()
        rel = wait_dhcp(k, "release", mac=mac)
        assert rel["ip"] == ip, rel
        assert_released_row(tmp_path, ip, mac)
    finally:
        c.stop()
    assert_alive(k)


def test_dhcpcd_obtain_renew_release(dhcpd, dhcp_net, tmp_path):
    k = dhcpd()
    mac = dhcp_net.client_mac
    c = Dhcpcd(dhcp_net, tmp_path)
    p = c.start()
    try:
        env = c.wait_event(["BOUND"], timeout=15)
        ip = env["new_ip_address"]
        assert in_range(ip, *RANGE), env
        assert env["new_subnet_mask"] == NETMASK, env
        assert env["new_routers"] == ROUTER, env
        assert env["new_domain_name_servers"].split() == list(DNS), env
        assert env["new_domain_name"] == DOMAIN, env
        assert int(env["new_dhcp_lease_time"]) == LEASE, env
        assert env["new_dhcp_server_identifier"] == SRV_ADDR, env
        wait_dhcp(k, "ack", mac=mac, ip=ip)
        assert_bound_row(tmp_path, ip, mac)

        n = len(c.events())
        c.signal(signal.SIGUSR1)  # renew
        env2 = c.wait_event(["RENEW", "BOUND"], after=n)
        assert env2["new_ip_address"] == ip, env2
        renew = wait_dhcp(k, "ack", count=2, mac=mac)
        assert renew["type"] == "REQUEST" and renew["ip"] == ip, renew

        c.signal(signal.SIGALRM)  # release and exit
        rel = wait_dhcp(k, "release", mac=mac)
        assert rel["ip"] == ip, rel
        p.wait(timeout=T(10))
        assert_released_row(tmp_path, ip, mac)
    finally:
        c.stop()
    assert_alive(k)


# --------------------------------------------------------------------------
# static hosts


def test_static_host(dhcpd, dhcp_net, link, tmp_path):
    web_mac, db_mac = random_mac(), random_mac()
    cfg = tmp_path / "kidou.ini"
    cfg.write_text(f"[host web1]\nmac = {web_mac}\nip = 172.24.0.10\nhostname = web1\n\n"
                   f"[host db1]\nmac = {db_mac.upper().replace(':', '-')}\nip = 172.24.32.5\n")
    k = dhcpd(config=cfg)

    dhcp_net.set_client_mac(web_mac)
    c = Udhcpc(dhcp_net, tmp_path)
    env = c.once()
    assert env["ip"] == "172.24.0.10", env
    assert env.get("hostname") == "web1", env
    assert env["subnet"] == NETMASK and env["router"] == ROUTER, env
    ev = wait_dhcp(k, "ack", mac=web_mac)
    assert ev["host"] == "web1" and ev["ip"] == "172.24.0.10", ev

    other = dhcp_net.set_client_mac()
    env = c.once()
    assert in_range(env["ip"], *RANGE), env
    assert env["ip"] != "172.24.32.5", env  # reserved for db1
    assert "hostname" not in env, env
    ev = wait_dhcp(k, "ack", mac=other)
    assert ev["host"] == "-", ev

    # db1's fixed address lies inside the range: nobody else gets it, even
    # when asking for it
    stranger = Client(link)
    offer = stranger.discover([opt_ip(O_REQ_IP, "172.24.32.5")])
    assert offer.dhcp.yiaddr != "172.24.32.5", offer.dhcp
    nak = stranger.request([opt_ip(O_REQ_IP, "172.24.32.5")])
    assert nak.dhcp.type == NAK, nak.dhcp
    db1 = Client(link, db_mac)
    _, ack = db1.dora()
    assert ack.dhcp.yiaddr == "172.24.32.5", ack.dhcp
    assert O_HOSTNAME not in ack.dhcp.options, ack.dhcp
    assert_alive(k)


# --------------------------------------------------------------------------
# persistence across kill -9


def test_leases_survive_kill_9(dhcpd, dhcp_net, link, tmp_path):
    k = dhcpd(name="before")
    a, b = Client(link), Client(link)
    a.dora()
    b.dora()
    c = Udhcpc(dhcp_net, tmp_path)
    mac = dhcp_net.client_mac
    ip = c.once()["ip"]
    taken = {a.ip, b.ip, ip}
    assert len(taken) == 3, taken
    rows = read_leases(tmp_path / "leases.db")
    for addr in taken:
        assert rows[addr]["state"] == LEASE_BOUND, rows
    assert rows[ip]["hwaddr"] == mac_bytes(mac), rows

    k.proc.kill()
    k.proc.wait()
    k.expect_rc = None  # killed on purpose
    k2 = dhcpd(name="after")
    listening = wait_dhcp(k2, "listening")
    assert listening["leases_in_use"] == "3", listening

    # the same client, DISCOVER without a requested address: same address
    same = Client(link, mac)
    offer = same.discover()
    assert offer.dhcp.yiaddr == ip, offer.dhcp
    # other clients never get any of the leased addresses
    for _ in range(3):
        d = Client(link)
        o = d.discover()
        assert o.dhcp.yiaddr not in taken, o.dhcp
        r = d.request([opt_ip(O_REQ_IP, ip)])
        assert r.dhcp.type == NAK, r.dhcp
    # and the real client gets its address back
    env = c.once()
    assert env["ip"] == ip, env
    assert_alive(k2)


# --------------------------------------------------------------------------
# the exchange in detail, with raw packets


def test_dora_fields_and_destination(dhcpd, link, tmp_path):
    k = dhcpd()
    cl = Client(link)
    offer, ack = cl.dora()
    for r, t in ((offer, OFFER), (ack, ACK)):
        d = r.dhcp
        assert d.op == 2 and d.type == t, d
        assert d.chaddr[:6] == mac_bytes(cl.mac) and d.hlen == 6 and d.htype == 1, d
        assert in_range(d.yiaddr, *RANGE), d
        assert d.siaddr == "0.0.0.0" and d.file == "", d  # not a boot client
        assert d.ip_opt(O_SERVER_ID) == SRV_ADDR, d
        assert d.u32_opt(O_LEASE) == LEASE, d
        assert d.u32_opt(O_T1) == LEASE // 2, d
        assert d.u32_opt(O_T2) == LEASE * 7 // 8, d
        assert d.ip_opt(O_MASK) == NETMASK, d
        assert d.ips_opt(O_ROUTER) == [ROUTER], d
        assert d.ips_opt(O_DNS) == list(DNS), d
        assert d.str_opt(O_DOMAIN) == DOMAIN, d
        assert d.order[0] == O_TYPE, d
        assert (r.ip_src, r.sport, r.ip_dst, r.dport) == (SRV_ADDR, 67, "255.255.255.255", 68), r
        assert r.eth_dst == "ff:ff:ff:ff:ff:ff", r
        assert len(r.payload) >= 300, len(r.payload)
    wait_dhcp(k, "offer", xid=xid_str(offer.dhcp.xid), ip=offer.dhcp.yiaddr, mac=cl.mac)
    wait_dhcp(k, "ack", xid=xid_str(ack.dhcp.xid), ip=ack.dhcp.yiaddr, type="REQUEST")
    assert_bound_row(tmp_path, ack.dhcp.yiaddr, cl.mac)


def test_request_for_another_server_is_ignored(dhcpd, link):
    k = dhcpd()
    cl = Client(link)
    offer = cl.discover()
    xid = cl.send(REQUEST, [opt_ip(O_SERVER_ID, "172.24.0.99"),
                            opt_ip(O_REQ_IP, offer.dhcp.yiaddr)], xid=offer.dhcp.xid)
    link.expect_none(xid, timeout=1.0)
    ev = wait_dhcp(k, "ignore", xid=xid_str(xid), reason="client-chose-other-server")
    assert ev["type"] == "REQUEST", ev
    assert not dhcp_events(k, "ack"), k.text()


def test_init_reboot_in_wrong_network_is_naked(dhcpd, link):
    """A client kidou knows (it has a lease here) that comes back asking
    for an address of another network (the laptop moved) is NAKed. One
    kidou has no record of gets silence (RFC 2131 4.3.2): see
    test_dhcp_hostile.py."""
    k = dhcpd()
    cl = Client(link)
    cl.dora()
    r = cl.request([opt_ip(O_REQ_IP, "10.1.2.3")])
    d = r.dhcp
    assert d.type == NAK, d
    assert d.yiaddr == "0.0.0.0" and d.ciaddr == "0.0.0.0", d
    assert d.ip_opt(O_SERVER_ID) == SRV_ADDR, d
    for code in (O_LEASE, O_T1, O_T2, O_ROUTER, O_DNS, O_DOMAIN):
        assert code not in d.options, d
    assert (r.ip_dst, r.dport) == ("255.255.255.255", 68), r
    wait_dhcp(k, "nak", xid=xid_str(d.xid), reason="wrong-network")


def test_declined_address_is_not_offered(dhcpd, link, tmp_path):
    k = dhcpd(dhcp_range=("172.24.40.1", "172.24.40.2"))
    a = Client(link)
    a.dora()
    bad = a.ip
    xid = a.send(DECLINE, [opt_ip(O_SERVER_ID, SRV_ADDR), opt_ip(O_REQ_IP, bad)])
    link.expect_none(xid, timeout=0.5)
    ev = wait_dhcp(k, "decline", xid=xid_str(xid))
    assert ev["ip"] == bad, ev
    assert lease_row(tmp_path, bad)["state"] == LEASE_DECLINED

    b = Client(link)
    offer = b.discover()
    assert offer.dhcp.yiaddr != bad and in_range(offer.dhcp.yiaddr, "172.24.40.1",
                                                 "172.24.40.2"), offer.dhcp
    # the only other address is offered to b: nothing is left for c, and
    # in particular not the declined one (not even when asking for it)
    c = Client(link)
    xid = c.send(DISCOVER, [opt_ip(O_REQ_IP, bad)])
    link.expect_none(xid, timeout=1.0)
    wait_dhcp(k, "pool-full", xid=xid_str(xid))
    # nor to the client that declined it
    xid = a.send(DISCOVER)
    link.expect_none(xid, timeout=1.0)


def test_inform(dhcpd, dhcp_net, link):
    k = dhcpd()
    dhcp_net.cli_ip("addr", "add", "172.24.0.50/16", "dev", "v1")
    cl = Client(link, link.mac)
    xid = cl.send(INFORM, [opt_prl(1, 3, 6, 15)], ciaddr="172.24.0.50",
                  frame_kw=dict(src_ip="172.24.0.50", dst_ip=SRV_ADDR,
                                dst_mac=_srv_mac(dhcp_net)))
    r = link.expect(xid, what="ACK to INFORM")
    d = r.dhcp
    assert d.type == ACK, d
    assert d.yiaddr == "0.0.0.0" and d.ciaddr == "172.24.0.50", d
    for code in (O_LEASE, O_T1, O_T2):
        assert code not in d.options, d
    assert d.ip_opt(O_MASK) == NETMASK and d.ips_opt(O_ROUTER) == [ROUTER], d
    assert d.ips_opt(O_DNS) == list(DNS) and d.str_opt(O_DOMAIN) == DOMAIN, d
    # RFC 2131 4.3.5: unicast to ciaddr
    assert (r.ip_src, r.ip_dst, r.dport) == (SRV_ADDR, "172.24.0.50", 68), r
    ev = wait_dhcp(k, "inform-ack", xid=xid_str(xid))
    assert ev["ip"] == "172.24.0.50", ev
    assert not read_leases_or_empty(k), "INFORM must not create a lease"


def test_prl_limits_router_and_dns(dhcpd, link):
    dhcpd()
    cl = Client(link)
    d = cl.discover([opt_prl(1, 15)]).dhcp
    assert O_ROUTER not in d.options and O_DNS not in d.options, d
    assert d.str_opt(O_DOMAIN) == DOMAIN and d.ip_opt(O_MASK) == NETMASK, d
    d = cl.discover([opt_prl(3)]).dhcp
    assert d.ips_opt(O_ROUTER) == [ROUTER], d
    assert O_DNS not in d.options and O_DOMAIN not in d.options, d
    # mandatory ones regardless of the list
    assert d.u32_opt(O_LEASE) == LEASE and d.ip_opt(O_SERVER_ID) == SRV_ADDR, d


def test_max_message_size_is_honoured(dhcpd, link):
    long_domain = ".".join(["a" * 60] * 4)  # 243 characters
    long_file = "boot/" + "x" * 200 + ".0"
    dhcpd("--dhcp-router", ROUTER, "--dhcp-lease-time", LEASE,
          "--dhcp-dns", "172.24.0.53,172.24.0.54,172.24.0.55,172.24.0.56",
          "--dhcp-domain", long_domain, "--boot-bios", long_file, options=False)
    pxe = [opt(60, "PXEClient:Arch:00000:UNDI:002001"), opt(93, b"\0\0"),
           opt(97, b"\0" + bytes(range(16))), opt_prl(1, 3, 6, 15, 66, 67)]
    cl = Client(link)
    for size in (576, 1000):
        r = cl.discover(pxe + [opt(57, size.to_bytes(2, "big"))])
        assert len(r.payload) <= size - 28, (size, len(r.payload))
        d = r.dhcp
        for code in (O_TYPE, O_SERVER_ID, O_LEASE, O_MASK):
            assert code in d.options, (size, d)
    # with room enough, everything is there
    r = cl.discover(pxe + [opt(57, (1500).to_bytes(2, "big"))])
    d = r.dhcp
    assert len(r.payload) <= 1472
    assert d.str_opt(O_DOMAIN) == long_domain, d
    assert d.str_opt(67) == long_file, d
    assert len(d.ips_opt(O_DNS)) == 4, d
    # no option 57: the RFC 2131 minimum, 576 bytes of IP datagram
    r = cl.discover(pxe)
    assert len(r.payload) <= 548, len(r.payload)


# --------------------------------------------------------------------------
# relayed requests

RELAY_CFG = """[subnet far]
network = 10.9.0.0/16
range = 10.9.0.10 10.9.0.20
router = 10.9.0.1
dns = 10.9.0.2
lease-time = 900
"""


class Relay:
    """The client namespace plays a relay agent: v1 has 172.24.0.2 (towards
    kidou) and 10.9.0.1 (the relayed network, giaddr); the server namespace
    routes 10.9.0.0/16 back through 172.24.0.2."""

    AGENT = bytes([1, 4]) + b"abcd" + bytes([2, 3]) + b"\x01\x02\x03"

    def __init__(self, net):
        net.cli_ip("addr", "add", "172.24.0.2/16", "dev", "v1")
        net.cli_ip("addr", "add", "10.9.0.1/16", "dev", "v1")
        net.srv_ip("route", "add", "10.9.0.0/16", "via", "172.24.0.2")
        with in_netns(net.cli):
            self.out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.out.bind(("172.24.0.2", 67))
            self.back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.back.bind(("10.9.0.1", 67))
        self.chaddr = random_mac(b"\x52\x54\x02")

    def close(self):
        self.out.close()
        self.back.close()

    def send(self, mtype, options, xid, giaddr="10.9.0.1", agent=True):
        msg = build_dhcp(xid=xid, hops=1, giaddr=giaddr, chaddr=self.chaddr,
                         options=[opt_type(mtype)] + options +
                         ([opt(O_RELAY, self.AGENT)] if agent else []))
        self.out.sendto(msg, (SRV_ADDR, 67))

    def recv(self, timeout=3.0):
        self.back.settimeout(T(timeout))
        data, src = self.back.recvfrom(2048)
        return parse_dhcp(data), src

    def exchange(self, mtype, options, xid):
        self.send(mtype, options, xid)
        return self.recv()


@pytest.fixture
def relay(dhcp_net):
    r = Relay(dhcp_net)
    yield r
    r.close()


def relay_config(tmp_path):
    cfg = tmp_path / "relay.ini"
    cfg.write_text(RELAY_CFG)
    return cfg


def test_relayed_request(dhcpd, relay, link, tmp_path):
    k = dhcpd(config=relay_config(tmp_path))
    agent = Relay.AGENT
    offer, src = relay.exchange(DISCOVER, [opt_prl(1, 3, 6)], xid=0x4E1A0001)
    assert src == (SRV_ADDR, 67), src
    assert offer.type == OFFER and offer.op == 2 and offer.xid == 0x4E1A0001, offer
    assert in_range(offer.yiaddr, "10.9.0.10", "10.9.0.20"), offer
    assert offer.giaddr == "10.9.0.1", offer
    assert offer.options[O_RELAY] == agent, offer
    assert offer.order[-1] == O_RELAY, offer  # last, RFC 3046 2.2
    assert offer.ip_opt(O_MASK) == NETMASK, offer
    assert offer.ips_opt(O_ROUTER) == ["10.9.0.1"], offer
    assert offer.ips_opt(O_DNS) == ["10.9.0.2"], offer
    assert offer.u32_opt(O_LEASE) == 900, offer
    assert offer.ip_opt(O_SERVER_ID) == SRV_ADDR, offer

    ack, _ = relay.exchange(REQUEST, [opt_ip(O_SERVER_ID, SRV_ADDR),
                                      opt_ip(O_REQ_IP, offer.yiaddr)], xid=offer.xid)
    assert ack.type == ACK and ack.yiaddr == offer.yiaddr, ack
    assert ack.options[O_RELAY] == agent, ack
    wait_dhcp(k, "ack", xid=xid_str(ack.xid), ip=ack.yiaddr)
    assert read_leases_or_empty(k)[ack.yiaddr]["state"] == LEASE_BOUND

    # a relayed INIT-REBOOT for an address of another network: NAK, to the
    # relay, with the broadcast bit set (RFC 2131 4.3.2)
    nak, src = relay.exchange(REQUEST, [opt_ip(O_REQ_IP, "172.24.32.9")], xid=0x4E1A0002)
    assert src == (SRV_ADDR, 67), src
    assert nak.type == NAK and nak.flags & BROADCAST_FLAG, nak
    assert nak.giaddr == "10.9.0.1" and nak.options[O_RELAY] == agent, nak

    # a relay from a network kidou does not serve gets nothing
    xid = 0x7E57AB1E
    link.drain()
    relay.send(DISCOVER, [], xid=xid, giaddr="10.77.0.1")
    with pytest.raises(socket.timeout):
        relay.recv(timeout=1.0)
    link.expect_none(xid, timeout=0.2)
    link.expect_none(xid, timeout=0.2, port=67)
    wait_dhcp(k, "ignore", xid=xid_str(xid), reason="relay-from-unknown-subnet")


def test_relay_agent_option_survives_a_small_max_message_size(dhcpd, relay, tmp_path):
    """RFC 3046 2.2: option 82 comes back whatever else has to be cut. The
    other options here fill a 576-byte reply almost to the end."""
    domain = "d" * 60 + "." + "e" * 60 + "." + "f" * 58
    cfg = tmp_path / "relay-big.ini"
    cfg.write_text(RELAY_CFG + "domain = " + domain + "\n"
                   "dns = 10.9.0.3, 10.9.0.4, 10.9.0.5\n")
    k = dhcpd("--boot-bios", "boot/" + "y" * 122, config=cfg)
    relay.AGENT = bytes([1, 120]) + bytes(range(120)) + bytes([2, 6]) + b"remote"
    pxe = [opt(60, "PXEClient:Arch:00000:UNDI:002001"), opt(93, b"\0\0"),
           opt(97, b"\0" + bytes(16)), opt_prl(1, 3, 6, 15, 66, 67), opt(57, b"\x02\x40")]
    relay.send(DISCOVER, pxe, xid=0x4E1A0301)
    offer, _ = relay.recv()
    assert len(offer.raw) <= 576 - 28, len(offer.raw)
    assert offer.type == OFFER, offer
    assert offer.options.get(O_RELAY) == relay.AGENT, offer
    assert offer.order[-1] == O_RELAY, offer
    assert_alive(k)


def test_relayed_client_renews_directly(dhcpd, dhcp_net, relay, tmp_path):
    """RFC 2131 4.3.2: a RENEWING client unicasts straight to the server
    (no relay, giaddr 0); the server trusts ciaddr and answers it there."""
    k = dhcpd(config=relay_config(tmp_path))
    offer, _ = relay.exchange(DISCOVER, [], xid=0x4E1A0101)
    ack, _ = relay.exchange(REQUEST, [opt_ip(O_SERVER_ID, SRV_ADDR),
                                      opt_ip(O_REQ_IP, offer.yiaddr)], xid=0x4E1A0101)
    assert ack.type == ACK, ack
    ip = ack.yiaddr
    dhcp_net.cli_ip("addr", "add", f"{ip}/16", "dev", "v1")
    with in_netns(dhcp_net.cli):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((ip, 68))
    try:
        s.settimeout(T(3))
        msg = build_dhcp(xid=0x4E1A0102, ciaddr=ip, chaddr=relay.chaddr,
                         options=[opt_type(REQUEST)])
        s.sendto(msg, (SRV_ADDR, 67))
        try:
            data, src = s.recvfrom(2048)
        except socket.timeout:
            pytest.fail(f"no reply to a RENEWING REQUEST from {ip}:\n{k.text()[-2000:]}")
        d = parse_dhcp(data)
        assert d.type == ACK, (d, k.text()[-1000:])
        assert d.yiaddr == ip and d.ciaddr == ip, d
        assert d.u32_opt(O_LEASE) == 900 and d.ip_opt(O_MASK) == NETMASK, d
        assert d.ips_opt(O_ROUTER) == ["10.9.0.1"], d
        assert src == (SRV_ADDR, 67), src
    finally:
        s.close()


def test_relayed_client_releases_directly(dhcpd, dhcp_net, relay, tmp_path):
    """RFC 2131 4.4.6: DHCPRELEASE is unicast to the server, not relayed:
    the lease of a client behind a relay is found by ciaddr."""
    k = dhcpd(config=relay_config(tmp_path))
    offer, _ = relay.exchange(DISCOVER, [], xid=0x4E1A0201)
    ack, _ = relay.exchange(REQUEST, [opt_ip(O_SERVER_ID, SRV_ADDR),
                                      opt_ip(O_REQ_IP, offer.yiaddr)], xid=0x4E1A0201)
    ip = ack.yiaddr
    dhcp_net.cli_ip("addr", "add", f"{ip}/16", "dev", "v1")
    with in_netns(dhcp_net.cli):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((ip, 68))
    try:
        s.sendto(build_dhcp(xid=0x4E1A0202, ciaddr=ip, chaddr=relay.chaddr,
                            options=[opt_type(RELEASE), opt_ip(O_SERVER_ID, SRV_ADDR)]),
                 (SRV_ADDR, 67))
    finally:
        s.close()
    k.wait_for(lambda: [e for e in dhcp_events(k) if e.get("xid") == "0x4e1a0202"], T(3),
               "the RELEASE to be handled")
    ev = [e for e in dhcp_events(k) if e.get("xid") == "0x4e1a0202"][0]
    assert ev["event"] == "release" and ev["ip"] == ip, ev
    assert read_leases_or_empty(k)[ip]["state"] == LEASE_RELEASED


# --------------------------------------------------------------------------
# interfaces


def test_ignores_interfaces_not_configured(dhcpd, dhcp_net, link):
    dhcp_net.add_link("v2", "v3", "172.25.0.1/16")
    k = dhcpd()
    other = RawLink(dhcp_net.cli, "v3")
    try:
        cl = Client(other)
        xid = cl.send(DISCOVER)
        other.expect_none(xid, timeout=1.5)
        link.expect_none(xid, timeout=0.1)
        assert not [e for e in dhcp_events(k) if e.get("xid") == xid_str(xid)], k.text()
        # the same client on the served interface is answered
        cl2 = Client(link, cl.mac)
        assert in_range(cl2.discover().dhcp.yiaddr, *RANGE)
    finally:
        other.close()


def test_never_offers_an_address_outside_the_receiving_network(dhcpd, dhcp_net, link):
    """Two served interfaces on different networks and one [dhcp] range
    (on v0's network): a client on v2's network must not be offered an
    address of v0's network (it could not use it, and kidou would NAK its
    REQUEST as wrong-network)."""
    dhcp_net.add_link("v2", "v3", "172.25.0.1/16")
    k = dhcpd(interface="v0,v2")
    other = RawLink(dhcp_net.cli, "v3")
    try:
        cl = Client(other)
        xid = cl.send(DISCOVER)
        got = other.collect(T(1.5), xid=xid)
        for r in got:
            assert r.dhcp.yiaddr.startswith("172.25."), \
                f"offered {r.dhcp.yiaddr} on 172.25.0.0/16: {r.dhcp}"
        # v0's clients are still served
        assert in_range(Client(link).discover().dhcp.yiaddr, *RANGE)
    finally:
        other.close()
    assert_alive(k)


def test_interface_address_added_after_start(dhcpd, dhcp_net, link):
    """kidou started before its interface has an address (a boot-time
    race) serves the network once the address appears, without a reload."""
    dhcp_net.srv_ip("addr", "del", f"{SRV_ADDR}/16", "dev", "v0")
    k = dhcpd(tftp_listen="0.0.0.0:69")
    iface = wait_dhcp(k, "interface", name="v0")
    assert iface["addr"] == "0.0.0.0", iface
    cl = Client(link)
    xid = cl.send(DISCOVER)
    link.expect_none(xid, timeout=0.5)
    wait_dhcp(k, "ignore", xid=xid_str(xid), reason="interface-without-address")

    dhcp_net.srv_ip("addr", "add", f"{SRV_ADDR}/16", "dev", "v0")
    deadline = time.monotonic() + T(15)
    offer = None
    while offer is None and time.monotonic() < deadline:
        xid = cl.send(DISCOVER)
        got = link.collect(1.0, xid=xid, until_first=True)
        offer = got[0] if got else None
    assert offer is not None, \
        "no OFFER within 15 s of the interface getting its address:\n" + k.text()[-3000:]
    assert offer.dhcp.ip_opt(O_SERVER_ID) == SRV_ADDR, offer.dhcp
    assert in_range(offer.dhcp.yiaddr, *RANGE), offer.dhcp


# --------------------------------------------------------------------------
# holds, reloads, restarts


def test_offer_hold_expires(dhcpd, link):
    k = dhcpd("--dhcp-offer-hold", "1", dhcp_range=("172.24.60.1", "172.24.60.1"))
    a, b = Client(link), Client(link)
    x = a.discover().dhcp.yiaddr
    assert x == "172.24.60.1"
    xid = b.send(DISCOVER)
    link.expect_none(xid, timeout=0.3)
    wait_dhcp(k, "pool-full", xid=xid_str(xid))
    time.sleep(1.5)
    assert b.discover().dhcp.yiaddr == x
    # a's REQUEST for it now fails: b holds the offer
    r = a.request([opt_ip(O_SERVER_ID, SRV_ADDR), opt_ip(O_REQ_IP, x)])
    assert r.dhcp.type == NAK, r.dhcp


def test_declined_address_stays_blocked_after_restart(dhcpd, link, tmp_path):
    rng = ("172.24.61.1", "172.24.61.1")
    k = dhcpd(dhcp_range=rng, name="before")
    a = Client(link)
    a.dora()
    xid = a.send(DECLINE, [opt_ip(O_SERVER_ID, SRV_ADDR), opt_ip(O_REQ_IP, a.ip)])
    wait_dhcp(k, "decline", xid=xid_str(xid))
    k.stop()
    k2 = dhcpd(dhcp_range=rng, name="after")
    for cl in (Client(link), a):
        xid = cl.send(DISCOVER)
        link.expect_none(xid, timeout=0.7)
        wait_dhcp(k2, "pool-full", xid=xid_str(xid))


def test_reload_keeps_leases_and_applies_new_options(dhcpd, link, tmp_path):
    cfg = tmp_path / "reload.ini"
    base = ("[dhcp]\nrange = 172.24.70.1 172.24.70.9\nlease-time = 600\n"
            "router = {router}\n")
    cfg.write_text(base.format(router="172.24.0.1"))
    k = dhcpd(config=cfg, dhcp_range=None, options=False)
    a = Client(link)
    _, ack = a.dora()
    assert ack.dhcp.ips_opt(O_ROUTER) == ["172.24.0.1"], ack.dhcp

    cfg.write_text(base.format(router="172.24.0.254"))
    k.signal(signal.SIGHUP)
    k.wait_for(lambda: len(k.events("listening", mod="dhcp")) >= 1 and
               len(k.events("interface", mod="dhcp")) >= 2, T(5), "the reload")
    d = a.discover().dhcp
    assert d.yiaddr == a.ip, d
    assert d.ips_opt(O_ROUTER) == ["172.24.0.254"], d
    b = Client(link)
    assert b.discover().dhcp.yiaddr != a.ip
    r = b.request([opt_ip(O_REQ_IP, a.ip)])
    assert r.dhcp.type == NAK, r.dhcp
    assert_alive(k)
