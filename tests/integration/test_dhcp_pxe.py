"""PXE and HTTP boot answers: which boot file each kind of firmware is told,
and the PXE options around it. Raw DISCOVERs from the client namespace
(see dhcp_lib.py)."""
from __future__ import annotations

from dhcp_lib import (  # noqa: F401  (fixtures)
    O_BOOTFILE, O_MASK, O_SERVER_ID, O_TFTP_SERVER, O_USER_CLASS, O_UUID, O_VCLASS,
    O_VENDOR, RANGE, SRV_ADDR, Client, dhcp_net, dhcpd, in_range, link, opt, opt_prl,
    wait_dhcp, xid_str,
)

UUID = bytes([0]) + bytes.fromhex("8c1f6f6a2b4e4a0f9c3d5e6f708192a3")
BIOS_VC = "PXEClient:Arch:00000:UNDI:002001"
EFI64_VC = "PXEClient:Arch:00007:UNDI:003016"
HTTP_VC = "HTTPClient:Arch:00016:UNDI:003001"
PXE_PRL = opt_prl(1, 3, 6, 12, 15, 43, 60, 66, 67, 97, 128, 129)


def pxe_options(vendor_class, arch, prl=PXE_PRL, extra=()):
    return [opt(O_VCLASS, vendor_class), opt(93, arch.to_bytes(2, "big")),
            opt(94, b"\x01\x02\x01"), opt(O_UUID, UUID), prl] + list(extra)


def assert_boot(d, file, vendor_class="PXEClient", discovery_control=True):
    assert d.siaddr == SRV_ADDR, d
    assert d.file == file, d
    assert d.str_opt(O_VCLASS) == vendor_class, d
    assert d.options.get(O_UUID) == UUID, d
    assert d.str_opt(O_TFTP_SERVER) == SRV_ADDR, d
    assert d.str_opt(O_BOOTFILE) == file, d
    if discovery_control:
        assert d.options.get(O_VENDOR) == b"\x06\x01\x08\xff", d
    else:
        assert O_VENDOR not in d.options, d


def assert_no_boot(d):
    assert d.siaddr == "0.0.0.0" and d.file == "", d
    for code in (O_TFTP_SERVER, O_BOOTFILE, O_VENDOR, O_UUID):
        assert code not in d.options, d


def test_bios_pxe_client(dhcpd, link):
    k = dhcpd()
    cl = Client(link)
    offer, ack = cl.dora(pxe_options(BIOS_VC, 0))
    for r in (offer, ack):
        d = r.dhcp
        assert in_range(d.yiaddr, *RANGE), d
        assert_boot(d, "pxelinux/pxelinux.0")
        assert (r.ip_src, r.sport, r.ip_dst, r.dport) == (SRV_ADDR, 67, "255.255.255.255", 68), r
        assert r.eth_dst == "ff:ff:ff:ff:ff:ff", r
    ev = wait_dhcp(k, "offer", xid=xid_str(offer.dhcp.xid))
    assert ev["arch"] == "bios" and ev["boot"] == "pxelinux/pxelinux.0", ev


def test_pxe_without_prl_still_gets_file_field(dhcpd, link):
    """No option 55: the file field carries the name; 66/67 are only sent
    when asked for (old ROMs choke on unexpected options)."""
    dhcpd()
    d = Client(link).discover([opt(O_VCLASS, BIOS_VC), opt(93, b"\0\0")]).dhcp
    assert d.siaddr == SRV_ADDR and d.file == "pxelinux/pxelinux.0", d
    assert d.str_opt(O_VCLASS) == "PXEClient", d


def test_uefi_x64(dhcpd, link):
    k = dhcpd("--boot-uefi-x64", "efi64/syslinux.efi")
    cl = Client(link)
    for arch in (7, 9):
        offer, ack = cl.dora(pxe_options(EFI64_VC, arch))
        for r in (offer, ack):
            assert_boot(r.dhcp, "efi64/syslinux.efi")
    ev = wait_dhcp(k, "offer", xid=xid_str(offer.dhcp.xid))
    assert ev["arch"] == "efi-x64-bc" and ev["boot"] == "efi64/syslinux.efi", ev
    # BIOS clients still get the BIOS default
    d = Client(link).discover(pxe_options(BIOS_VC, 0)).dhcp
    assert_boot(d, "pxelinux/pxelinux.0")


def test_uefi_x64_without_target_gets_address_only(dhcpd, link):
    k = dhcpd()
    cl = Client(link)
    offer, ack = cl.dora(pxe_options(EFI64_VC, 7))
    for r in (offer, ack):
        assert in_range(r.dhcp.yiaddr, *RANGE), r.dhcp
        assert r.dhcp.ip_opt(O_MASK) == "255.255.0.0", r.dhcp
        assert_no_boot(r.dhcp)
    ev = wait_dhcp(k, "offer", xid=xid_str(offer.dhcp.xid))
    assert ev["arch"] == "efi-x64" and ev["boot"] == "none", ev


def test_ipxe_client_without_ipxe_target_is_served_as_firmware(dhcpd, link):
    dhcpd()
    d = Client(link).discover(pxe_options(BIOS_VC, 0, extra=[opt(O_USER_CLASS, "iPXE")])).dhcp
    assert_boot(d, "pxelinux/pxelinux.0")


def test_ipxe_client_with_ipxe_target(dhcpd, link):
    url = "http://172.24.0.1/boot.ipxe"
    k = dhcpd("--boot-ipxe", url)
    cl = Client(link)
    # bare "iPXE" and the RFC 3004 form (length-prefixed) are both iPXE
    for uc in (b"iPXE", b"\x04iPXE"):
        d = cl.discover(pxe_options(BIOS_VC, 0, extra=[opt(O_USER_CLASS, uc)])).dhcp
        assert d.file == url and d.str_opt(O_BOOTFILE) == url, d
        assert d.siaddr == SRV_ADDR, d
    ev = wait_dhcp(k, "offer", xid=xid_str(d.xid))
    assert ev["boot"] == url, ev
    # the firmware itself (no iPXE user class) still gets the BIOS file,
    # so that chainloading cannot loop
    d = Client(link).discover(pxe_options(BIOS_VC, 0)).dhcp
    assert_boot(d, "pxelinux/pxelinux.0")


def test_uefi_http_boot(dhcpd, link):
    url = "http://172.24.0.1/ipxe.efi"
    k = dhcpd("--boot-http-x64", url)
    cl = Client(link)
    offer, ack = cl.dora(pxe_options(HTTP_VC, 16))
    for r in (offer, ack):
        d = r.dhcp
        assert d.file == url and d.str_opt(O_BOOTFILE) == url, d
        assert d.str_opt(O_VCLASS) == "HTTPClient", d
        assert O_VENDOR not in d.options, d  # no PXE discovery control
    ev = wait_dhcp(k, "offer", xid=xid_str(offer.dhcp.xid))
    assert ev["arch"] == "efi-x64-http" and ev["boot"] == url, ev


def test_non_pxe_client_gets_no_boot_information(dhcpd, link):
    k = dhcpd("--boot-uefi-x64", "efi64/syslinux.efi")
    cl = Client(link)
    offer, ack = cl.dora([opt(O_VCLASS, "MSFT 5.0"), opt_prl(1, 3, 6, 15, 66, 67)])
    for r in (offer, ack):
        assert_no_boot(r.dhcp)
        assert O_VCLASS not in r.dhcp.options, r.dhcp
    ev = wait_dhcp(k, "offer", xid=xid_str(offer.dhcp.xid))
    assert ev["boot"] == "none" and ev["arch"] == "none", ev


def test_host_specific_boot_file(dhcpd, link, tmp_path):
    mac = "52:54:00:0b:00:7e"
    cfg = tmp_path / "hosts.ini"
    cfg.write_text(f"[host special]\nmac = {mac}\nbios = special/lpxelinux.0\n")
    k = dhcpd(config=cfg)
    d = Client(link, mac).discover(pxe_options(BIOS_VC, 0)).dhcp
    assert_boot(d, "special/lpxelinux.0")
    ev = wait_dhcp(k, "offer", xid=xid_str(d.xid))
    assert ev["host"] == "special", ev
    d = Client(link).discover(pxe_options(BIOS_VC, 0)).dhcp
    assert_boot(d, "pxelinux/pxelinux.0")


def test_next_server(dhcpd, link):
    dhcpd("--dhcp-next-server", "172.24.0.7")
    d = Client(link).discover(pxe_options(BIOS_VC, 0)).dhcp
    assert d.siaddr == "172.24.0.7" and d.str_opt(O_TFTP_SERVER) == "172.24.0.7", d
    assert d.ip_opt(O_SERVER_ID) == SRV_ADDR, d
