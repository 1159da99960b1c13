"""Boot profiles end to end: PXELINUX/GRUB configs over TFTP and iPXE
scripts over HTTP rendered from [profile]/[host] sections, files on disk
winning over renderings, SIGHUP while a rendered file is in flight, and
the DHCP side (a machine found by its lease's address; [host] uuid, option
97, in both byte orders).

kidou listens on 127.0.0.1 port 0 for TFTP and HTTP; the HTTP port is read
back from its `mod=http event=listening addr=...` line. The DHCP tests run
in the namespaces of dhcp_lib.py."""
from __future__ import annotations

import http.client
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from kidou_testlib import OP_DATA, OP_OACK, RawClient, T
from dhcp_lib import (  # noqa: F401  (fixtures)
    O_UUID, O_VCLASS, RANGE, SRV_ADDR, Client, dhcp_net, dhcpd, in_range, link, opt,
    opt_prl, sh, wait_dhcp, xid_str,
)

WEB1 = "52:54:00:aa:bb:01"    # [host web1]: profile rescue
PLAIN = "52:54:00:aa:bb:02"   # [host plain]: no profile
STRANGER = "52:54:00:aa:bb:99"


def dashed(mac: str) -> str:
    return mac.replace(":", "-")


PROFILES = """\
[profile inst]
kernel = deb/linux
initrd = deb/initrd.gz
cmdline = auto url=${http}/seed mac=${mac} host=${hostname} ip=${ip} srv=${server}

[profile rescue]
kernel = rescue/vmlinuz
initrd = rescue/a.img, rescue/b.img
cmdline = rescue mac=${mac} host=${hostname} v=1
"""

HOSTS = f"""\
[host web1]
mac = {WEB1}
profile = rescue
hostname = web1

[host plain]
mac = {PLAIN}
"""


def config_text(default=True, profiles=PROFILES, hosts=HOSTS) -> str:
    return ("[boot]\nprofile = inst\n\n" if default else "") + profiles + "\n" + hosts


# --------------------------------------------------------------------------
# expected renderings (the exact formats are pinned by tests/unit/test_render.c)


def pxelinux(profile, target, kernel, initrds, cmdline) -> str:
    s = (f"# rendered by kidou from [profile {profile}] for {target}\n"
         "default kidou\nprompt 0\ntimeout 0\n\nlabel kidou\n"
         f"  kernel ::{kernel}\n")
    if initrds:
        s += "  initrd " + ",".join("::" + i for i in initrds) + "\n"
    return s + f"  append {cmdline}\n"


def ipxe(profile, target, base, kernel, initrds, cmdline) -> str:
    s = f"#!ipxe\n# rendered by kidou from [profile {profile}] for {target}\n"
    names = "".join(f" initrd=initrd{n}" for n in range(len(initrds)))
    s += f"kernel {base}/{kernel}{names} {cmdline}\n"
    for n, i in enumerate(initrds):
        s += f"initrd --name initrd{n} {base}/{i}\n"
    return s + "boot\n"


def rescue_pxelinux(mac=WEB1, host="web1", v=1):
    return pxelinux("rescue", mac, "rescue/vmlinuz", ["rescue/a.img", "rescue/b.img"],
                    f"rescue mac={mac} host={host} v={v}")


def inst_cmdline(base, mac="", host="", ip="127.0.0.1", srv="127.0.0.1"):
    return f"auto url={base}/seed mac={mac} host={host} ip={ip} srv={srv}"


# --------------------------------------------------------------------------
# helpers


def http_port(k) -> int:
    ev = k.wait_event("listening", mod="http", timeout=T(5))
    return int(ev["addr"].rsplit(":", 1)[1])


def start(kidou_factory, tmp_path, root, text, name="kidou.ini", extra=()):
    cfg = tmp_path / name
    cfg.write_text(text)
    k = kidou_factory("--config", cfg, "--http-listen", "127.0.0.1:0", *extra, root=root)
    return k, http_port(k), cfg


def get(port, path, host="127.0.0.1", timeout=5.0):
    """(status, body bytes, headers) of GET path."""
    conn = http.client.HTTPConnection(host, port, timeout=T(timeout))
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read(), r.headers
    finally:
        conn.close()


def tftp_curl(clients, port, remote):
    out = clients.out("tftp")
    cp = clients.curl(port, remote, out, timeout=15)
    return cp, (out.read_text() if cp.returncode == 0 else None)


@pytest.fixture
def root(tftp_root):
    """The standard corpus plus the files the profiles name."""
    for rel in ("deb/linux", "deb/initrd.gz", "rescue/vmlinuz", "rescue/a.img",
                "rescue/b.img"):
        p = tftp_root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(rel.encode() * 100)
    (tftp_root / "pxelinux").mkdir()
    return tftp_root


# --------------------------------------------------------------------------
# TFTP


def test_tftp_rendered_pxelinux(kidou_factory, tmp_path, root, clients):
    k, hport, _ = start(kidou_factory, tmp_path, root, config_text())
    base = f"http://127.0.0.1:{hport}"

    cp, text = tftp_curl(clients, k.port, f"pxelinux/pxelinux.cfg/01-{dashed(WEB1)}")
    assert cp.returncode == 0, cp.stderr
    assert text == rescue_pxelinux()

    cp, text = tftp_curl(clients, k.port, "pxelinux/pxelinux.cfg/default")
    assert cp.returncode == 0, cp.stderr
    assert text == pxelinux("inst", "any machine", "deb/linux", ["deb/initrd.gz"],
                            inst_cmdline(base))

    # a profile-less or unknown machine named in the request: not found,
    # and PXELINUX goes on to "default"; so do the hex-IP probes
    for name in (f"01-{dashed(PLAIN)}", f"01-{dashed(STRANGER)}", "7F000001", "7F0", "7"):
        cp, _ = tftp_curl(clients, k.port, f"pxelinux/pxelinux.cfg/{name}")
        assert cp.returncode != 0, name
    cp, _ = tftp_curl(clients, k.port, "xpxelinux.cfg/default")
    assert cp.returncode != 0

    # GRUB
    cp, text = tftp_curl(clients, k.port, f"grub/grub.cfg-01-{dashed(WEB1)}")
    assert cp.returncode == 0, cp.stderr
    assert text.startswith(f"# rendered by kidou from [profile rescue] for {WEB1}\n"), text
    assert f"  linux /rescue/vmlinuz rescue mac={WEB1} host=web1 v=1\n" in text, text
    assert "  initrd /rescue/a.img /rescue/b.img\n" in text, text
    cp, text = tftp_curl(clients, k.port, "grub/grub.cfg")
    assert cp.returncode == 0, cp.stderr
    assert "[profile inst] for any machine\n" in text, text

    # the kernel the rendering names ("/rescue/vmlinuz", absolute for
    # PXELINUX) is served from the root
    with RawClient(k.port) as c:
        data, _ = c.fetch("/rescue/vmlinuz", timeout=T(2))
    assert data == b"rescue/vmlinuz" * 100


def test_tftp_netascii_rendering(kidou_factory, tmp_path, root, clients):
    """tftp-hpa in ascii mode gets the rendering with CR LF, converted back."""
    k, _, _ = start(kidou_factory, tmp_path, root, config_text())
    out = clients.out("ascii")
    cp = clients.tftp_hpa(k.port, f"pxelinux/pxelinux.cfg/01-{dashed(WEB1)}", out,
                          mode="ascii", timeout=15)
    assert b"Error" not in cp.stdout + cp.stderr, cp
    assert out.read_text() == rescue_pxelinux()


def test_tftp_no_default_profile(kidou_factory, tmp_path, root, clients):
    k, _, _ = start(kidou_factory, tmp_path, root, config_text(default=False))
    cp, _ = tftp_curl(clients, k.port, "pxelinux/pxelinux.cfg/default")
    assert cp.returncode != 0
    cp, _ = tftp_curl(clients, k.port, "grub/grub.cfg")
    assert cp.returncode != 0
    cp, text = tftp_curl(clients, k.port, f"pxelinux/pxelinux.cfg/01-{dashed(WEB1)}")
    assert cp.returncode == 0 and text == rescue_pxelinux()


def test_disk_files_win(kidou_factory, tmp_path, root, clients):
    (root / "pxelinux" / "pxelinux.cfg").mkdir()
    (root / "pxelinux" / "pxelinux.cfg" / "default").write_text("DISK DEFAULT\n")
    (root / "boot.ipxe").write_text("#!ipxe\necho DISK\n")
    k, hport, _ = start(kidou_factory, tmp_path, root, config_text())

    cp, text = tftp_curl(clients, k.port, "pxelinux/pxelinux.cfg/default")
    assert cp.returncode == 0 and text == "DISK DEFAULT\n", (cp, text)
    # what is not on disk is still rendered
    cp, text = tftp_curl(clients, k.port, f"pxelinux/pxelinux.cfg/01-{dashed(WEB1)}")
    assert cp.returncode == 0 and text == rescue_pxelinux()

    for path in ("/boot.ipxe", f"/boot.ipxe?mac={WEB1}", f"/boot.ipxe?mac={STRANGER}",
                 "/boot.ipxe?mac=garbage"):
        status, body, _ = get(hport, path)
        assert (status, body) == (200, b"#!ipxe\necho DISK\n"), path
    status, body, _ = get(hport, f"/boot/{dashed(WEB1)}.ipxe")
    assert status == 200 and body.startswith(b"#!ipxe\n# rendered by kidou from [profile "
                                             b"rescue]"), body


# --------------------------------------------------------------------------
# HTTP


def test_http_ipxe_scripts(kidou_factory, tmp_path, root):
    k, hport, _ = start(kidou_factory, tmp_path, root, config_text())
    base = f"http://127.0.0.1:{hport}"
    rescue = ipxe("rescue", WEB1, base, "rescue/vmlinuz", ["rescue/a.img", "rescue/b.img"],
                  f"rescue mac={WEB1} host=web1 v=1").encode()

    for path in (f"/boot.ipxe?mac={WEB1}", "/boot.ipxe?mac=52%3A54%3A00%3Aaa%3Abb%3A01",
                 f"/boot.ipxe?mac={dashed(WEB1)}", "/boot.ipxe?mac=525400AABB01",
                 f"/boot/{WEB1}.ipxe", f"/boot/{dashed(WEB1)}.ipxe", "/boot/525400aabb01.ipxe",
                 f"/boot.ipxe?other=1&mac={WEB1}"):
        status, body, headers = get(hport, path)
        assert status == 200, (path, status, body)
        assert body == rescue, (path, body)
        assert headers.get("Content-Type", "").startswith("text/plain"), headers

    # unknown machine, and a [host] without a profile: the [boot] profile
    status, body, _ = get(hport, f"/boot.ipxe?mac={STRANGER}")
    assert status == 200
    assert body.decode() == ipxe("inst", STRANGER, base, "deb/linux", ["deb/initrd.gz"],
                                 inst_cmdline(base, mac=STRANGER))
    status, body, _ = get(hport, f"/boot/{dashed(PLAIN)}.ipxe")
    assert status == 200 and f"mac={PLAIN} host=plain ".encode() in body, body
    # no ?mac= and no DHCP lease for 127.0.0.1: the default, for any machine
    status, body, _ = get(hport, "/boot.ipxe")
    assert status == 200 and b"[profile inst] for any machine\n" in body, body

    # the files the script names are served
    status, body, _ = get(hport, "/rescue/a.img")
    assert status == 200 and body == b"rescue/a.img" * 100


def test_http_ipxe_without_default_profile(kidou_factory, tmp_path, root):
    k, hport, _ = start(kidou_factory, tmp_path, root, config_text(default=False))
    for path in (f"/boot.ipxe?mac={STRANGER}", f"/boot/{dashed(STRANGER)}.ipxe",
                 f"/boot.ipxe?mac={PLAIN}", "/boot.ipxe"):
        status, body, _ = get(hport, path)
        assert status == 404, (path, status, body)
    status, body, _ = get(hport, f"/boot.ipxe?mac={WEB1}")
    assert status == 200 and b"[profile rescue]" in body


@pytest.mark.parametrize("path", [
    "/boot.ipxe?mac=",
    "/boot.ipxe?mac=52:54:00:aa:bb",
    "/boot.ipxe?mac=52:54:00:aa:bb:0g",
    "/boot.ipxe?mac=52:54-00:aa:bb:01",
    "/boot.ipxe?mac=../../etc/passwd",
    "/boot.ipxe?mac=..%2F..%2Fetc%2Fpasswd",
    "/boot.ipxe?mac=%00%00%00%00%00%00%00%00%00%00%00%00",
    "/boot.ipxe?mac=" + "a" * 3000,
    "/boot.ipxe?mac=${net0/mac}",
    "/boot/zz.ipxe",
    "/boot/52-54-00-aa-bb.ipxe",
    "/boot/" + "a" * 40 + ".ipxe",
])
def test_http_malformed_mac_is_400(kidou_factory, tmp_path, root, path):
    k, hport, _ = start(kidou_factory, tmp_path, root, config_text())
    status, body, _ = get(hport, path)
    assert status == 400, (status, body)
    assert b"root" not in body and b"#!ipxe" not in body
    status, _, _ = get(hport, f"/boot.ipxe?mac={WEB1}")  # still serving
    assert status == 200


@pytest.mark.parametrize("path", [
    "/boot/../../etc/passwd.ipxe",
    "/boot/%2e%2e/%2e%2e/etc/passwd.ipxe",
    "/boot/..%2F..%2Fetc%2Fpasswd.ipxe",
    "/boot/" + "a" * 5000 + ".ipxe",
    "/boot.ipxe/../../../etc/passwd",
])
def test_http_traversal_like_names_are_4xx(kidou_factory, tmp_path, root, path):
    k, hport, _ = start(kidou_factory, tmp_path, root, config_text())
    status, body, _ = get(hport, path)
    assert 400 <= status < 500, (status, body)
    assert b"root:" not in body and b"#!ipxe" not in body
    assert k.alive()


# --------------------------------------------------------------------------
# SIGHUP


def _reload(k, cfg: Path, text: str, count: int):
    cfg.write_text(text)
    k.signal(signal.SIGHUP)
    k.wait_event("reloaded", mod="main", count=count, timeout=T(5))


def test_sighup_rerenders_while_transfers_finish(kidou_factory, tmp_path, root, clients):
    k, hport, cfg = start(kidou_factory, tmp_path, root, config_text())
    name = f"pxelinux/pxelinux.cfg/01-{dashed(WEB1)}"
    before = rescue_pxelinux()
    cp, text = tftp_curl(clients, k.port, name)
    assert cp.returncode == 0 and text == before

    # web1 moves to profile inst, whose cmdline changes too
    new_profiles = PROFILES.replace("cmdline = auto ", "cmdline = reinstall=yes auto ")
    new_hosts = HOSTS.replace("profile = rescue", "profile = inst")
    assert new_profiles != PROFILES and new_hosts != HOSTS

    slow = RawClient(k.port)
    disk = RawClient(k.port)
    try:
        # a rendered file at blksize 8 (dozens of blocks) and a file from
        # disk, both started before the reload and acknowledged slowly
        slow.rrq(name, options={"blksize": "8"})
        p = slow.expect(timeout=T(2))
        assert p.opcode == OP_OACK and p.options == {"blksize": "8"}, p
        slow.ack(0)
        disk.rrq("size64k.bin", options={"blksize": "512"})
        p = disk.expect(timeout=T(2))
        assert p.opcode == OP_OACK, p
        disk.ack(0)

        got, disk_got = [], []
        block, dblock = 1, 1
        reloaded = slow_done = disk_done = False
        while not (slow_done and disk_done):
            if not slow_done:
                p = slow.expect(timeout=T(3))
                assert p.opcode == OP_DATA and p.block == block, p
                got.append(p.data)
                time.sleep(0.01)
                slow.ack(block)
                slow_done = len(p.data) < 8
                block += 1
            if not disk_done:
                p = disk.expect(timeout=T(3))
                assert p.opcode == OP_DATA and p.block == dblock, p
                disk_got.append(p.data)
                disk.ack(dblock)
                disk_done = len(p.data) < 512
                dblock += 1
            if block == 4 and not reloaded:
                _reload(k, cfg, config_text(profiles=new_profiles, hosts=new_hosts), 1)
                reloaded = True
        assert reloaded and block > 10
    finally:
        slow.close()
        disk.close()

    # the transfers finished with what they started with
    assert b"".join(got).decode() == before
    assert b"".join(disk_got) == (root / "size64k.bin").read_bytes()

    # new requests get the new rendering, over TFTP and HTTP
    base = f"http://127.0.0.1:{hport}"
    want_cmd = "reinstall=yes " + inst_cmdline(base, mac=WEB1, host="web1")
    cp, text = tftp_curl(clients, k.port, name)
    assert cp.returncode == 0, cp.stderr
    assert text == pxelinux("inst", WEB1, "deb/linux", ["deb/initrd.gz"], want_cmd)
    status, body, _ = get(hport, f"/boot.ipxe?mac={WEB1}")
    assert status == 200
    assert body.decode() == ipxe("inst", WEB1, base, "deb/linux", ["deb/initrd.gz"], want_cmd)

    # a broken config is refused on reload and the last good one stays
    cfg.write_text(config_text(hosts=HOSTS.replace("profile = rescue", "profile = gone")))
    k.signal(signal.SIGHUP)
    ev = k.wait_event("reload", mod="main", timeout=T(5))
    assert "gone" in ev.get("error", ""), ev
    cp, text2 = tftp_curl(clients, k.port, name)
    assert cp.returncode == 0 and text2 == text
    assert k.alive()


# --------------------------------------------------------------------------
# DHCP: the machine behind an address, and [host] uuid

UUID_TEXT = "8c1f6f6a-2b4e-4a0f-9c3d-5e6f708192a3"
UUID_WIRE = bytes.fromhex(UUID_TEXT.replace("-", ""))
# SMBIOS order: the first three fields little-endian
UUID_SWAPPED = UUID_WIRE[3::-1] + UUID_WIRE[5:3:-1] + UUID_WIRE[7:5:-1] + UUID_WIRE[8:]
BIOS_VC = "PXEClient:Arch:00000:UNDI:002001"
PXE_PRL = opt_prl(1, 3, 6, 12, 15, 43, 60, 66, 67, 97)

DYN_MAC = "52:54:00:0d:00:01"     # [host dyn]: pool address, profile rescue
FIXED_MAC = "52:54:00:0d:00:02"   # [host fixed]: fixed address, profile rescue
FIXED_IP = "172.24.100.10"
UUID_IP = "172.24.100.20"         # [host byuuid]: no mac, uuid

DHCP_HOSTS = f"""\
[host dyn]
mac = {DYN_MAC}
profile = rescue
hostname = dyn

[host fixed]
mac = {FIXED_MAC}
ip = {FIXED_IP}
profile = rescue
hostname = fixed

[host byuuid]
uuid = {UUID_TEXT}
ip = {UUID_IP}
bios = special/byuuid.0
profile = rescue
hostname = byuuid
"""


def pxe_options(uuid: bytes | None = None):
    o = [opt(O_VCLASS, BIOS_VC), opt(93, b"\0\0"), opt(94, b"\x01\x02\x01"), PXE_PRL]
    if uuid is not None:
        o.append(opt(O_UUID, b"\0" + uuid))
    return o


@pytest.fixture
def pxe_kidou(dhcpd, tmp_path):
    cfg = tmp_path / "dhcp-profiles.ini"
    cfg.write_text(config_text(hosts=DHCP_HOSTS))
    k = dhcpd("--http-listen", f"{SRV_ADDR}:0", config=cfg)
    ev = k.wait_event("listening", mod="http", timeout=T(5))
    return k, int(ev["addr"].rsplit(":", 1)[1])


def fetch_from(net, ip: str, url: str) -> tuple[int, str]:
    """GET url from the client namespace with source address ip (added to
    v1 first). Returns (status, body)."""
    sh("ip", "-n", net.cli, "addr", "replace", f"{ip}/16", "dev", "v1")
    cp = sh("ip", "netns", "exec", net.cli, "curl", "-sS", "--max-time", str(int(T(5))),
            "--interface", ip, "-o", "-", "-w", "\n%{http_code}", url, check=False)
    assert cp.returncode == 0, cp.stderr
    body, _, status = cp.stdout.rpartition("\n")
    return int(status), body


def test_ipxe_without_mac_uses_the_lease(pxe_kidou, dhcp_net, link, tmp_path):
    k, hport = pxe_kidou
    cl = Client(link, DYN_MAC)
    cl.dora(pxe_options())
    assert in_range(cl.ip, *RANGE), cl.ip
    base = f"http://{SRV_ADDR}:{hport}"
    status, body = fetch_from(dhcp_net, cl.ip, f"{base}/boot.ipxe")
    assert status == 200, body
    assert body == ipxe("rescue", DYN_MAC, base, "rescue/vmlinuz",
                        ["rescue/a.img", "rescue/b.img"], f"rescue mac={DYN_MAC} host=dyn v=1")
    # and PXELINUX's "default" from that address names the machine too
    out = dhcp_net.tmp / "default.cfg"
    cp = subprocess.run(["ip", "netns", "exec", dhcp_net.cli, "curl", "-sS", "--max-time",
                         str(int(T(5))), "--interface", cl.ip, "-o", str(out),
                         f"tftp://{SRV_ADDR}/pxelinux.cfg/default"],
                        capture_output=True, text=True, timeout=T(15))
    assert cp.returncode == 0, cp.stderr
    assert out.read_text() == rescue_pxelinux(mac=DYN_MAC, host="dyn")
    # another address of the same segment has no lease: the default profile
    status, body = fetch_from(dhcp_net, "172.24.200.200", f"{base}/boot.ipxe")
    assert status == 200 and "[profile inst] for any machine\n" in body, body

    # the lease outlives a reload that moves the machine to another profile
    cfg = tmp_path / "dhcp-profiles.ini"
    cfg.write_text(cfg.read_text().replace(
        f"mac = {DYN_MAC}\nprofile = rescue", f"mac = {DYN_MAC}\nprofile = inst"))
    k.signal(signal.SIGHUP)
    k.wait_event("reloaded", mod="main", timeout=T(5))
    status, body = fetch_from(dhcp_net, cl.ip, f"{base}/boot.ipxe")
    assert status == 200, body
    assert body == ipxe("inst", DYN_MAC, base, "deb/linux", ["deb/initrd.gz"],
                        inst_cmdline(base, mac=DYN_MAC, host="dyn", ip=cl.ip, srv=SRV_ADDR))


def test_ipxe_without_mac_from_a_fixed_address(pxe_kidou, dhcp_net, link):
    """A [host] with a fixed ip is as much kidou's DHCP client as one from
    the pool: its boot.ipxe is its own profile."""
    k, hport = pxe_kidou
    cl = Client(link, FIXED_MAC)
    cl.dora(pxe_options())
    assert cl.ip == FIXED_IP
    base = f"http://{SRV_ADDR}:{hport}"
    status, body = fetch_from(dhcp_net, cl.ip, f"{base}/boot.ipxe")
    assert status == 200, body
    assert f"[profile rescue] for {FIXED_MAC}\n" in body, body


@pytest.mark.parametrize("order", ["as-written", "smbios"])
def test_dhcp_uuid_matches_host(pxe_kidou, link, order):
    k, _ = pxe_kidou
    uuid = UUID_WIRE if order == "as-written" else UUID_SWAPPED
    assert len(uuid) == 16 and (order == "as-written" or uuid != UUID_WIRE)
    cl = Client(link)  # a MAC no [host] has
    offer, ack = cl.dora(pxe_options(uuid))
    for r in (offer, ack):
        assert r.dhcp.yiaddr == UUID_IP, r.dhcp
        assert r.dhcp.file == "special/byuuid.0", r.dhcp
    ev = wait_dhcp(k, "offer", xid=xid_str(offer.dhcp.xid))
    assert ev.get("host") == "byuuid", ev
    # a UUID no [host] has: the pool and the [boot] file
    other = bytes(reversed(UUID_WIRE))
    d = Client(link).discover(pxe_options(other)).dhcp
    assert in_range(d.yiaddr, *RANGE) and d.file == "pxelinux/pxelinux.0", d
    # a known MAC wins over somebody else's UUID
    d = Client(link, FIXED_MAC).discover(pxe_options(UUID_WIRE)).dhcp
    assert d.yiaddr == FIXED_IP and d.file == "pxelinux/pxelinux.0", d


def test_uuid_host_gets_its_profile(pxe_kidou, dhcp_net, link):
    """The machine kidou knows by its UUID boots its [host]'s profile when
    it fetches boot.ipxe from the address DHCP gave it."""
    k, hport = pxe_kidou
    cl = Client(link)
    cl.dora(pxe_options(UUID_SWAPPED))
    assert cl.ip == UUID_IP
    base = f"http://{SRV_ADDR}:{hport}"
    status, body = fetch_from(dhcp_net, cl.ip, f"{base}/boot.ipxe")
    assert status == 200, body
    assert "[profile rescue] for " in body and " host=byuuid " in body, body


def test_dhcp_ipxe_target_names_the_bound_http_port(dhcpd, tmp_path, link):
    """`ipxe = ${http}/boot.ipxe?mac=${mac}` sends iPXE to kidou's own HTTP
    server: the port must be the one it listens on, also when the kernel
    chose it (listen port 0)."""
    cfg = tmp_path / "ipxe-target.ini"
    cfg.write_text("[boot]\nipxe = ${http}/boot.ipxe?mac=${mac}\nprofile = inst\n\n" + PROFILES)
    k = dhcpd("--http-listen", f"{SRV_ADDR}:0", config=cfg)
    hport = int(k.wait_event("listening", mod="http", timeout=T(5))["addr"].rsplit(":", 1)[1])
    cl = Client(link)
    d = cl.discover(pxe_options() + [opt(77, b"iPXE")]).dhcp
    assert d.file == f"http://{SRV_ADDR}:{hport}/boot.ipxe?mac={cl.mac}", d


SB_A = "52:54:00:5b:00:0a"   # [host sb-a]: profile sb-a
SB_B = "52:54:00:5b:00:0b"   # [host sb-b]: profile sb-b

SB_CONFIG = f"""\
[boot]
uefi-x64 = shim/shimx64.efi
profile = sb-any

[profile sb-any]
kernel = linux/vmlinuz
cmdline = console=ttyS0 role=any

[profile sb-a]
kernel = linux/vmlinuz
initrd = linux/initrd.img
cmdline = console=ttyS0 role=a mac=${{mac}}

[profile sb-b]
kernel = linux/vmlinuz-b
initrd = linux/initrd-b.img
cmdline = console=ttyS0 role=b mac=${{mac}}

[host sb-a]
mac = {SB_A}
profile = sb-a

[host sb-b]
mac = {SB_B}
profile = sb-b
"""


def signed_kernels(root: Path, *names: str) -> None:
    """Copies of the installed (Debian-signed) cloud kernel at names."""
    import vm_lib
    kernel, _ = vm_lib.find_kernel()
    assert vm_lib.pe_signed(kernel), kernel
    for n in names:
        (root / n).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(kernel, root / n)


def test_secure_boot_grub_cfg_per_machine(dhcpd, dhcp_net, link, tmp_path):
    """The signed chain's GRUB (Debian's grubnetx64, prefix /grub) asks only
    for /grub/grub.cfg, never a per-MAC name: kidou tells machines apart
    by the address their DHCP lease gave them. Two UEFI machines get their
    own profiles from the same path; an address without a lease gets the
    [boot] profile."""
    cfg = tmp_path / "sb.ini"
    cfg.write_text(SB_CONFIG)
    signed_kernels(tmp_path / "tftp", "linux/vmlinuz", "linux/vmlinuz-b")
    k = dhcpd(config=cfg)
    uefi = [opt(O_VCLASS, "PXEClient:Arch:00007:UNDI:003016"), opt(93, b"\0\x07"),
            opt(94, b"\x01\x03\x10"), PXE_PRL]
    got = {}
    for mac in (SB_A, SB_B):
        cl = Client(link, mac)
        offer, ack = cl.dora(uefi)
        assert ack.dhcp.file == "shim/shimx64.efi", ack.dhcp
        sh("ip", "-n", dhcp_net.cli, "addr", "replace", f"{cl.ip}/16", "dev", "v1")
        out = dhcp_net.tmp / f"grub-{mac[-2:]}.cfg"
        cp = subprocess.run(["ip", "netns", "exec", dhcp_net.cli, "curl", "-sS", "--max-time",
                             str(int(T(5))), "--interface", cl.ip, "-o", str(out),
                             f"tftp://{SRV_ADDR}//grub/grub.cfg"],
                            capture_output=True, text=True, timeout=T(15))
        assert cp.returncode == 0, cp.stderr
        got[mac] = out.read_text()
    assert got[SB_A] == (f"# rendered by kidou from [profile sb-a] for {SB_A}\n"
                         "set timeout=0\nset default=0\n\nmenuentry \"kidou sb-a\" {\n"
                         f"  linux /linux/vmlinuz console=ttyS0 role=a mac={SB_A}\n"
                         "  initrd /linux/initrd.img\n}\n"), got[SB_A]
    assert got[SB_B] == (f"# rendered by kidou from [profile sb-b] for {SB_B}\n"
                         "set timeout=0\nset default=0\n\nmenuentry \"kidou sb-b\" {\n"
                         f"  linux /linux/vmlinuz-b console=ttyS0 role=b mac={SB_B}\n"
                         "  initrd /linux/initrd-b.img\n}\n"), got[SB_B]
    # an address without a lease: the [boot] profile, for any machine
    sh("ip", "-n", dhcp_net.cli, "addr", "replace", "172.24.200.201/16", "dev", "v1")
    out = dhcp_net.tmp / "grub-any.cfg"
    cp = subprocess.run(["ip", "netns", "exec", dhcp_net.cli, "curl", "-sS", "--max-time",
                         str(int(T(5))), "--interface", "172.24.200.201", "-o", str(out),
                         f"tftp://{SRV_ADDR}//grub/grub.cfg"],
                        capture_output=True, text=True, timeout=T(15))
    assert cp.returncode == 0, cp.stderr
    assert "[profile sb-any] for any machine\n" in out.read_text()
    assert_no_warnings = [ln for ln in k.lines() if ln.startswith(("level=warn", "level=error"))]
    assert not assert_no_warnings, assert_no_warnings


def kernel_warnings(k) -> dict:
    """{profile: (event, kernel)} of the kernel signature warnings."""
    return {e["profile"]: (e["event"], e["kernel"])
            for e in k.events(mod="boot") if e["event"].startswith("kernel-")}


def test_unsigned_kernel_warned_when_serving_shim(kidou_factory, tmp_path):
    """Serving the signed chain (a shim*.efi as the UEFI x64 boot file),
    every profile's kernel is checked for an Authenticode signature at
    load and at reload: an unsigned or unreadable one is named in a
    warning (GRUB would refuse it under Secure Boot, on the machine's
    console only). Without shim nothing is checked."""
    import vm_lib
    root = tmp_path / "root"
    signed_kernels(root, "linux/vmlinuz")
    (root / "linux/plain.efi").write_bytes(Path(vm_lib.SYSLINUX_EFI).read_bytes())
    assert not vm_lib.pe_signed(root / "linux/plain.efi")
    (root / "linux/notpe").write_bytes(b"not a PE image at all\n")
    text = ("[boot]\nuefi-x64 = shim/shimx64.efi\nprofile = good\n\n"
            "[profile good]\nkernel = linux/vmlinuz\n\n"
            "[profile plain]\nkernel = linux/plain.efi\n\n"
            "[profile notpe]\nkernel = linux/notpe\n\n"
            "[profile gone]\nkernel = linux/missing\n\n"
            "[profile web]\nkernel = http://10.0.0.1/vmlinuz\n")
    cfg = tmp_path / "sig.ini"
    cfg.write_text(text)
    k = kidou_factory("--config", cfg, root=root)
    k.wait_event("ready", mod="main", timeout=T(5))
    w = kernel_warnings(k)
    assert w == {"plain": ("kernel-unsigned", "linux/plain.efi"),
                 "notpe": ("kernel-unsigned", "linux/notpe"),
                 "gone": ("kernel-unreadable", "linux/missing")}, k.text()
    assert all(e["level"] == "warn" for e in k.events(mod="boot")
               if e["event"].startswith("kernel-")), k.text()

    # reload: the unsigned kernel replaced by a signed one, the missing one
    # dropped; the warnings of this load name only what is still wrong
    n = len(k.lines())
    cfg.write_text(text.replace("kernel = linux/plain.efi", "kernel = linux/vmlinuz")
                   .replace("[profile gone]\nkernel = linux/missing\n\n", ""))
    k.signal(signal.SIGHUP)
    k.wait_event("reloaded", mod="main", timeout=T(5))
    later = [ln for ln in k.lines()[n:] if "event=kernel-" in ln]
    assert len(later) == 1 and "profile=notpe" in later[0], later

    # not serving shim: no checks
    n = len(k.lines())
    cfg.write_text(text.replace("uefi-x64 = shim/shimx64.efi", "uefi-x64 = efi64/syslinux.efi"))
    k.signal(signal.SIGHUP)
    k.wait_event("reloaded", mod="main", count=2, timeout=T(5))
    assert not [ln for ln in k.lines()[n:] if "event=kernel-" in ln], k.text()
