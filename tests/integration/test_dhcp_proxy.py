"""kidou as a proxyDHCP (`--dhcp-mode proxy`), packet by packet: raw
DISCOVERs and port-4011 requests from the client namespace (see
dhcp_lib.py). A proxy answers boot firmware with where to boot from and
never with an address; everything else passes. test_vm_proxy.py boots real
firmware through it beside another DHCP server."""
from __future__ import annotations

import socket
import struct

from dhcp_lib import (  # noqa: F401  (fixtures)
    ACK, DISCOVER, O_BOOTFILE, O_DNS, O_LEASE, O_MASK, O_ROUTER, O_SERVER_ID, O_T1,
    O_TFTP_SERVER, O_UUID, O_VCLASS, O_VENDOR, OFFER, REQUEST, SRV_ADDR, Client, assert_alive,
    build_dhcp, dhcp_events, dhcp_net, dhcpd, in_netns, link, opt, opt_ip, opt_prl, opt_type,
    parse_dhcp, wait_dhcp, xid_str,
)
from kidou_testlib import T

UUID = bytes([0]) + bytes.fromhex("8c1f6f6a2b4e4a0f9c3d5e6f708192a3")
BIOS_VC = "PXEClient:Arch:00000:UNDI:002001"
EFI64_VC = "PXEClient:Arch:00007:UNDI:003016"
PXE_PRL = opt_prl(1, 3, 6, 12, 15, 43, 60, 66, 67, 97, 128, 129)
CLIENT_ADDR = "172.24.40.7"  # as if from the network's DHCP server
PXE_PORT = 4011


def pxe_options(vendor_class=BIOS_VC, arch=0):
    return [opt(O_VCLASS, vendor_class), opt(93, arch.to_bytes(2, "big")),
            opt(94, b"\x01\x02\x01"), opt(O_UUID, UUID), PXE_PRL]


def start_proxy(dhcpd, *extra):
    k = dhcpd("--dhcp-mode", "proxy", "--boot-uefi-x64", "efi64/syslinux.efi", *extra,
              dhcp_range=None, options=False)
    ev = k.events("listening", mod="dhcp")
    assert ev[0]["mode"] == "proxy" and ev[0]["pxe_port"] == str(PXE_PORT), ev
    return k


def assert_proxy_reply(d, mtype, file):
    """Boot information, and nothing of an address or a network."""
    assert d.type == mtype, d
    assert d.yiaddr == "0.0.0.0", d
    assert d.siaddr == SRV_ADDR, d
    assert d.file == file, d
    assert d.ip_opt(O_SERVER_ID) == SRV_ADDR, d
    assert d.str_opt(O_VCLASS) == "PXEClient", d
    assert d.options.get(O_VENDOR) == b"\x06\x01\x08\xff", d
    assert d.options.get(O_UUID) == UUID, d
    assert d.str_opt(O_TFTP_SERVER) == SRV_ADDR, d
    assert d.str_opt(O_BOOTFILE) == file, d
    for code in (O_LEASE, O_T1, O_MASK, O_ROUTER, O_DNS):
        assert code not in d.options, d


def test_proxy_offer_to_firmware(dhcpd, link, tmp_path):
    db = tmp_path / "proxy.db"
    k = start_proxy(dhcpd, "--dhcp-database", db)
    for vc, arch, file in ((BIOS_VC, 0, "pxelinux/pxelinux.0"),
                           (EFI64_VC, 7, "efi64/syslinux.efi")):
        r = Client(link).discover(pxe_options(vc, arch))
        assert_proxy_reply(r.dhcp, OFFER, file)
        assert (r.ip_src, r.sport, r.ip_dst, r.dport) == \
            (SRV_ADDR, 67, "255.255.255.255", 68), r
        ev = wait_dhcp(k, "proxy-offer", xid=xid_str(r.dhcp.xid))
        assert ev["ip"] == "-" and ev["boot"] == file, ev
    assert_alive(k)
    assert not db.exists(), "a proxy opened a lease database"


def test_proxy_passes_the_dhcp_servers_business(dhcpd, link):
    k = start_proxy(dhcpd)
    cl = Client(link)
    # A machine that is not booting from the network: no answer at all.
    xid = cl.send(DISCOVER, [opt_prl(1, 3, 6)])
    link.expect_none(xid, timeout=1.0)
    wait_dhcp(k, "pass", xid=xid_str(xid), reason="not-a-pxe-client")
    # Firmware taking the DHCP server's offer: not ours to answer, even
    # when it names us.
    for sid in ("172.24.0.2", SRV_ADDR):
        xid = cl.send(REQUEST, pxe_options() + [opt_ip(O_SERVER_ID, sid),
                                                opt_ip(50, CLIENT_ADDR)])
        link.expect_none(xid, timeout=1.0)
        wait_dhcp(k, "pass", xid=xid_str(xid), reason="address-for-the-dhcp-server")
    assert not dhcp_events(k, "ack") and not dhcp_events(k, "offer")
    assert_alive(k)


def give_client_address(dhcp_net):
    """v1 holds CLIENT_ADDR, as if the network's DHCP server gave it."""
    dhcp_net.cli_ip("addr", "add", f"{CLIENT_ADDR}/16", "dev", "v1")


def client_socket(dhcp_net, port):
    """A UDP socket in the client namespace bound to CLIENT_ADDR:port."""
    with in_netns(dhcp_net.cli):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((CLIENT_ADDR, port))
    s.settimeout(T(3))
    return s


def pxe_request(xid, mac, options=None, mtype=REQUEST):
    return build_dhcp(xid=xid, chaddr=mac, ciaddr=CLIENT_ADDR,
                      options=[opt_type(mtype)] + (pxe_options() if options is None
                                                   else options))


def test_proxy_answers_on_port_4011(dhcpd, dhcp_net):
    k = start_proxy(dhcpd)
    give_client_address(dhcp_net)
    for port in (68, 4011, 40123):  # back to wherever the request came from
        s = client_socket(dhcp_net, port)
        try:
            xid = 0x4b440000 + port
            s.sendto(pxe_request(xid, dhcp_net.client_mac), (SRV_ADDR, PXE_PORT))
            data, src = s.recvfrom(2048)
        finally:
            s.close()
        assert src == (SRV_ADDR, PXE_PORT), src
        d = parse_dhcp(data)
        assert d.xid == xid, d
        assert d.ciaddr == CLIENT_ADDR, d
        assert_proxy_reply(d, ACK, "pxelinux/pxelinux.0")
        ev = wait_dhcp(k, "proxy-ack", xid=xid_str(xid))
        assert ev["ip"] == CLIENT_ADDR, ev
    assert_alive(k)


def test_port_4011_refuses_what_is_not_a_request(dhcpd, dhcp_net):
    k = start_proxy(dhcpd)
    give_client_address(dhcp_net)
    s = client_socket(dhcp_net, 40124)
    try:
        # A DISCOVER, a non-PXE request, junk, a truncated header: no
        # answer, and the proxy goes on serving.
        s.sendto(pxe_request(0x4b441001, dhcp_net.client_mac, mtype=DISCOVER),
                 (SRV_ADDR, PXE_PORT))
        s.sendto(pxe_request(0x4b441002, dhcp_net.client_mac, options=[opt_prl(1, 3)]),
                 (SRV_ADDR, PXE_PORT))
        s.sendto(b"\xff" * 600, (SRV_ADDR, PXE_PORT))
        s.sendto(pxe_request(0x4b441003, dhcp_net.client_mac)[:100], (SRV_ADDR, PXE_PORT))
        s.settimeout(T(1))
        try:
            data, src = s.recvfrom(2048)
            raise AssertionError(f"unexpected answer from {src}: {parse_dhcp(data)}")
        except socket.timeout:
            pass
        wait_dhcp(k, "pass", xid=xid_str(0x4b441001), reason="not-a-request")
        wait_dhcp(k, "pass", xid=xid_str(0x4b441002), reason="not-a-pxe-client")
        # Still answering.
        s.settimeout(T(3))
        s.sendto(pxe_request(0x4b441004, dhcp_net.client_mac), (SRV_ADDR, PXE_PORT))
        data, _ = s.recvfrom(2048)
        assert parse_dhcp(data).xid == 0x4b441004
    finally:
        s.close()
    assert_alive(k)
    assert struct.unpack("!I", data[4:8])[0] == 0x4b441004


def test_proxy_refuses_address_settings(kidou_factory, tmp_path):
    for flags in (["--dhcp-range", "172.24.32.1 172.24.32.9"],
                  ["--dhcp-router", "172.24.0.1"]):
        cp = kidou_factory.run(["--interface", "lo", "--dhcp-mode", "proxy",
                                "--tftp-root", str(tmp_path)] + flags)
        assert cp.returncode != 0, cp
        assert "no meaning in proxy mode" in cp.stderr, cp.stderr


def test_proxy_serving_shim_warns(dhcpd, tmp_path):
    """Debian's signed chain (shim, then GRUB) as a proxy: GRUB takes its
    TFTP server from the other DHCP server's ACK, not the proxy offer
    (test_vm_proxy.py::test_signed_chain_through_proxy shows it), so kidou
    says at startup what the other server needs; not as the DHCP server,
    and not for another loader."""
    shim = "shim/shimx64.efi"
    k = dhcpd("--dhcp-mode", "proxy", "--boot-uefi-x64", shim, dhcp_range=None, options=False)
    warns = [e for e in k.events("secure-boot-proxy", mod="boot")]
    assert len(warns) == 1 and warns[0]["level"] == "warn", k.text()
    assert "next server" in warns[0]["note"] and "dhcp-boot=" in warns[0]["note"], warns[0]
    assert k.stop() == 0, k.text()
    k = start_proxy(dhcpd, "--dhcp-database", tmp_path / "p2.db")
    assert not k.events("secure-boot-proxy"), k.text()
    assert k.stop() == 0, k.text()
    k = dhcpd("--boot-uefi-x64", shim, "--dhcp-database", tmp_path / "s.db")
    assert not k.events("secure-boot-proxy"), k.text()
