"""kidou doctor IFACE: a PXE client's diagnosis of a segment, asserted
finding by finding against real servers.

Network layout (one per test, torn down afterwards): a namespace kdd-lan-<tag>
holds bridge br0; every host is a namespace of its own whose lan0 is a veth
port on br0:

    kdd-doc-<tag>   lan0 172.24.0.2/16   kidou doctor lan0
    kdd-a-<tag>     lan0 172.24.0.1/16   dnsmasq (DHCP + TFTP) or kidou
    kdd-b-<tag>     lan0 172.24.0.3/16   a second DHCP server, or a proxy
    kdd-rtr-<tag>   lan0                 router advertisements (AF_PACKET)

The doctor's listening windows are its own (--wait); the tests assert on
what it printed, never on how long anything took.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from dhcp_lib import in_netns, sh
from kidou_testlib import SANITIZED, T, kidou_bin, sanitizer_findings
from test_ndp import ETH_P_IPV6, dev_mac, icmp6_frame, link_local, multicast_mac, ra_message

SRV_A = "172.24.0.1"
SRV_B = "172.24.0.3"
DOCTOR_IP = "172.24.0.2"
POOL_A = ("172.24.32.1", "172.24.32.254")
POOL_B = ("172.24.40.1", "172.24.40.254")


class Lan:
    """A bridge and hosts on it, each host its own namespace."""

    def __init__(self, tmp: Path):
        self.tag = secrets.token_hex(3)
        self.tmp = tmp
        self.lan = f"kdd-lan-{self.tag}"
        self.namespaces: list[str] = []
        self.procs: list[subprocess.Popen] = []
        self.stop_events: list[threading.Event] = []
        self.threads: list[threading.Thread] = []

    def setup(self) -> "Lan":
        sh("ip", "netns", "add", self.lan)
        self.namespaces.append(self.lan)
        sh("ip", "-n", self.lan, "link", "add", "br0", "type", "bridge", "forward_delay", "0",
           "mcast_snooping", "0")
        sh("ip", "-n", self.lan, "link", "set", "br0", "up")
        return self

    def host(self, name: str, cidr: str | None = None, mtu: int | None = None) -> str:
        ns = f"kdd-{name}-{self.tag}"
        port = f"p{len(self.namespaces)}"
        sh("ip", "netns", "add", ns)
        self.namespaces.append(ns)
        sh("ip", "link", "add", "lan0", "netns", ns, "type", "veth", "peer", "name", port,
           "netns", self.lan)
        sh("ip", "-n", self.lan, "link", "set", port, "master", "br0")
        sh("ip", "-n", self.lan, "link", "set", port, "up")
        # The kernel's own router solicitations would be answered by the
        # servers under test before the doctor asks: keep them quiet.
        sh("ip", "netns", "exec", ns, "sysctl", "-qw",
           "net.ipv6.conf.lan0.router_solicitations=0")
        if cidr:
            sh("ip", "-n", ns, "addr", "add", cidr, "dev", "lan0")
        if mtu:
            sh("ip", "-n", ns, "link", "set", "lan0", "mtu", str(mtu))
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", ns, "link", "set", "lan0", "up")
        self._wait_forwarding(port)
        return ns

    def _wait_forwarding(self, port: str):
        deadline = time.monotonic() + T(10)
        while time.monotonic() < deadline:
            out = sh("bridge", "-n", self.lan, "link", "show", "dev", port).stdout
            if "state forwarding" in out:
                return
            time.sleep(0.02)
        raise AssertionError(f"bridge port {port} not forwarding: {out}")

    def start(self, ns: str, argv: list, name: str, ready: str) -> subprocess.Popen:
        """A server in ns, its output in <tmp>/<name>.log, once ready."""
        log_path = self.tmp / f"{name}.log"
        with open(log_path, "wb") as logf:
            p = subprocess.Popen(["ip", "netns", "exec", ns] + [str(a) for a in argv],
                                 stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
        self.procs.append(p)
        deadline = time.monotonic() + T(15)
        while ready not in log_path.read_text(errors="replace"):
            assert p.poll() is None, f"{name} exited:\n{log_path.read_text()}"
            assert time.monotonic() < deadline, f"{name} not ready:\n{log_path.read_text()}"
            time.sleep(0.02)
        return p

    def router(self, ns: str, lifetime: int = 1800):
        """Router advertisements from ns (link-local source, a prefix) every
        0.2 s until the test ends: whenever the doctor listens, one comes."""
        src = link_local(ns, "lan0")
        mac = dev_mac(ns, "lan0")
        frame = icmp6_frame(mac, multicast_mac("ff02::1"), src, "ff02::1",
                            ra_message(mac, lifetime))
        with in_netns(ns):
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IPV6))
            sock.bind(("lan0", ETH_P_IPV6))
        stop = threading.Event()

        def run():
            try:
                while not stop.wait(0.2):
                    sock.send(frame)
            finally:
                sock.close()
        t = threading.Thread(target=run, daemon=True)
        t.start()
        self.stop_events.append(stop)
        self.threads.append(t)
        return src

    def teardown(self):
        for e in self.stop_events:
            e.set()
        for t in self.threads:
            t.join(timeout=5)
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=T(10))
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        for ns in reversed(self.namespaces):
            sh("ip", "netns", "del", ns, check=False)


@pytest.fixture
def lan(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    if not shutil.which("dnsmasq"):
        pytest.fail("dnsmasq (package dnsmasq-base, installed by scripts/setup.sh test) is "
                    "needed beside the doctor")
    net = Lan(tmp_path)
    try:
        yield net.setup()
    finally:
        net.teardown()


def dnsmasq(lan: Lan, ns: str, name: str, *extra, tftp_root: Path | None = None,
            dhcp_range=POOL_A, ready="DHCP, IP range"):
    argv = ["dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0", "--no-ping",
            "--interface=lan0", "--bind-interfaces", f"--dhcp-leasefile={lan.tmp / name}.leases",
            "--pid-file=", "--user=root", "--log-facility=-", "--log-dhcp"]
    if dhcp_range:
        argv.append(f"--dhcp-range={dhcp_range[0]},{dhcp_range[1]},1h")
    if tftp_root:
        argv += ["--enable-tftp", f"--tftp-root={tftp_root}"]
    return lan.start(ns, argv + list(extra), name, ready)


def kidou_on(kidou_factory, ns: str, tmp: Path, *extra, pool=POOL_A, addr=SRV_A):
    root = tmp / "kidou-tftp"
    root.mkdir(exist_ok=True)
    (root / "undionly.kpxe").write_bytes(b"\0" * 1000)
    args = ["--tftp-root", root, "--tftp-listen", f"{addr}:69", "--interface", "lan0",
            "--dhcp-database", tmp / "kidou-leases.db", "--log-level", "debug",
            "--boot-bios", "undionly.kpxe", "--boot-uefi-x64", "ipxe.efi",
            "--boot-ipxe", "http://172.24.0.1:8080/boot.ipxe"]
    if pool:
        args += ["--dhcp-range", f"{pool[0]} {pool[1]}"]
    k = kidou_factory(*args, *extra, with_defaults=False, netns=ns, wait_ready=False)
    k.wait_event("ready", mod="main", timeout=T(10))
    k.wait_event("listening", mod="dhcp", timeout=T(2))
    return k


class Doctor:
    def __init__(self, cp: subprocess.CompletedProcess, report: dict | None):
        self.cp, self.report = cp, report

    def findings(self, code: str) -> list[dict]:
        return [f for f in self.report["findings"] if f["code"] == code]

    def texts(self) -> str:
        return "\n".join(f"{f['severity']}: {f['text']}" for f in self.report["findings"])

    def offers(self, **match) -> list[dict]:
        return [o for o in self.report["offers"]
                if all(o.get(k) == v for k, v in match.items())]


def doctor(ns: str, *args, iface="lan0", json_out=True) -> Doctor:
    argv = ["ip", "netns", "exec", ns, kidou_bin(), "doctor", iface] + [str(a) for a in args]
    if json_out:
        argv.append("--json")
    cp = subprocess.run(argv, capture_output=True, text=True, timeout=T(60),
                        stdin=subprocess.DEVNULL, errors="replace")
    hits = sanitizer_findings(cp.stderr)
    assert not hits, "sanitizer report:\n" + "\n".join(hits)
    assert cp.returncode in (0, 1), f"rc={cp.returncode}\n{cp.stdout}{cp.stderr}"
    report = json.loads(cp.stdout) if json_out else None
    if report is not None:
        # Exit status 1 exactly when a finding is a problem.
        problems = [f for f in report["findings"] if f["severity"] == "problem"]
        assert cp.returncode == (1 if problems else 0), (cp.returncode, report["findings"])
    return Doctor(cp, report)


# --------------------------------------------------------------------------


def test_beside_dnsmasq_missing_boot_file_and_port_holder(lan, tmp_path):
    """dnsmasq as the DHCP and TFTP server: BIOS gets undionly.kpxe (there),
    UEFI gets ipxe.efi (missing); run on dnsmasq's own machine, the doctor
    names dnsmasq as the holder of ports 67 and 69."""
    root = tmp_path / "tftp"
    root.mkdir()
    (root / "undionly.kpxe").write_bytes(b"\xeb" * 4321)
    a = lan.host("a", f"{SRV_A}/16")
    doc = lan.host("doc", f"{DOCTOR_IP}/16")
    srv = dnsmasq(lan, a, "dnsmasq", "--dhcp-match=set:efi64,option:client-arch,7",
                  "--dhcp-boot=tag:!efi64,undionly.kpxe", "--dhcp-boot=tag:efi64,ipxe.efi",
                  tftp_root=root)

    d = doctor(doc)
    assert d.cp.returncode == 1
    bios = d.offers(round="bios", kind="dhcp", server=SRV_A)
    uefi = d.offers(round="uefi-x64", kind="dhcp", server=SRV_A)
    assert len(bios) == 1 and len(uefi) == 1, d.report["offers"]
    assert bios[0]["address"].startswith("172.24.32."), bios
    assert "undionly.kpxe" in (bios[0]["file"], bios[0].get("option67")), bios
    files = {f["file"]: f for f in d.report["boot_files"]}
    assert files["undionly.kpxe"]["result"] == "exists", files
    assert files["undionly.kpxe"]["tsize"] == 4321, files
    assert files["ipxe.efi"]["result"] == "not-found", files
    missing = d.findings("boot-file-missing")
    assert [f["text"] for f in missing] == [
        f"the offered boot file ipxe.efi does not exist on {SRV_A}"], d.texts()
    assert not d.findings("several-dhcp-servers"), d.texts()
    # dnsmasq logged the tsize read of undionly.kpxe, and no DHCPREQUEST:
    log = (tmp_path / "dnsmasq.log").read_text()
    assert "DHCPDISCOVER" in log and "DHCPREQUEST" not in log, log

    # On dnsmasq's machine: who holds 67 and 69.
    d = doctor(a)
    held = {f["text"] for f in d.findings("port-held")}
    assert f"UDP port 67 is held by dnsmasq (pid {srv.pid}): kidou cannot serve DHCP on " \
           "this machine while it runs" in held, d.texts()
    assert any(t.startswith("UDP port 69 is held by dnsmasq") for t in held), d.texts()
    ports = {p["port"]: p for p in d.report["ports"]}
    assert ports[4011]["state"] == "free", ports


def test_text_output_beside_dnsmasq(lan, tmp_path):
    """The plain text report: servers, boot files, findings in words."""
    root = tmp_path / "tftp"
    root.mkdir()
    a = lan.host("a", f"{SRV_A}/16")
    doc = lan.host("doc", f"{DOCTOR_IP}/16")
    dnsmasq(lan, a, "dnsmasq", "--dhcp-boot=pxelinux.0", tftp_root=root)
    d = doctor(doc, json_out=False)
    out = d.cp.stdout
    print(out)
    assert d.cp.returncode == 1, out
    assert f"DHCP {SRV_A} to BIOS PXE (arch 0): address 172.24.32." in out, out
    assert f"  problem: the offered boot file pxelinux.0 does not exist on {SRV_A}\n" in out, out
    assert "Findings:" in out


def test_two_dhcp_servers_dnsmasq_and_kidou(lan, tmp_path, kidou_factory):
    """dnsmasq and kidou both hand out addresses: the doctor lists both
    and says machines boot from whichever answers first."""
    a = lan.host("a", f"{SRV_A}/16")
    b = lan.host("b", f"{SRV_B}/16")
    doc = lan.host("doc", f"{DOCTOR_IP}/16")
    kidou_on(kidou_factory, a, tmp_path)
    dnsmasq(lan, b, "dnsmasq", "--dhcp-boot=undionly.kpxe", dhcp_range=POOL_B)

    d = doctor(doc)
    assert d.offers(round="bios", kind="dhcp", server=SRV_A), d.report["offers"]
    assert d.offers(round="bios", kind="dhcp", server=SRV_B), d.report["offers"]
    two = d.findings("several-dhcp-servers")
    assert len(two) == 1, d.texts()
    text = two[0]["text"]
    assert text.startswith("two DHCP servers answer PXE clients (") and text.endswith(
        "): machines will boot from whichever answers first"), text
    assert SRV_A in text and SRV_B in text, text
    # kidou's iPXE answer is an HTTP URL: listed, not fetched over TFTP.
    ipxe = d.offers(round="ipxe", server=SRV_A)
    assert ipxe and ipxe[0].get("option67", ipxe[0]["file"]).startswith("http://"), ipxe
    assert d.findings("boot-url-not-checked"), d.texts()
    # kidou's BIOS file exists on its TFTP server; dnsmasq serves no TFTP.
    files = {(f["server"], f["file"]): f["result"] for f in d.report["boot_files"]}
    assert files[(SRV_A, "undionly.kpxe")] == "exists", files
    assert files[(SRV_A, "ipxe.efi")] == "not-found", files
    assert files[(SRV_B, "undionly.kpxe")] in ("no-answer", "error"), files


def test_beside_dnsmasq_proxy_with_pxe_service(lan, tmp_path):
    """dnsmasq hands out addresses only; a second dnsmasq is a proxyDHCP
    with pxe-service: the doctor lists it as a proxy with option 60
    PXEClient and option 43, and finds one DHCP server (no conflict) and
    no missing boot information."""
    a = lan.host("a", f"{SRV_A}/16")
    b = lan.host("b", f"{SRV_B}/16")
    doc = lan.host("doc", f"{DOCTOR_IP}/16")
    dnsmasq(lan, a, "dnsmasq-dhcp")
    dnsmasq(lan, b, "dnsmasq-proxy", f"--dhcp-range={SRV_B},proxy",
            '--pxe-service=x86PC,"Boot from network",undionly',
            '--pxe-service=x86-64_EFI,"Boot from network",ipxe', dhcp_range=None,
            ready="proxy on subnet")

    d = doctor(doc)
    proxy = d.offers(kind="proxy", server=SRV_B)
    assert proxy, d.report["offers"]
    assert all(o["option60"] == "PXEClient" for o in proxy), proxy
    # BIOS: a boot menu in option 43; UEFI x64 and iPXE: siaddr, the file
    # then comes from the proxy's port 4011.
    by_round = {o["round"]: o for o in proxy}
    assert by_round["bios"].get("option43_len", 0) > 0, proxy
    assert by_round["uefi-x64"]["siaddr"] == SRV_B, proxy
    assert d.offers(kind="dhcp", server=SRV_A), d.report["offers"]
    assert not d.offers(kind="dhcp", server=SRV_B), d.report["offers"]
    assert not d.findings("several-dhcp-servers"), d.texts()
    assert not d.findings("no-boot-file"), d.texts()
    assert not d.findings("no-dhcp-answer"), d.texts()


def test_beside_kidou_proxy_and_on_kidous_machine(lan, tmp_path, kidou_factory):
    """kidou as a proxyDHCP beside dnsmasq: listed as a proxy; on kidou's
    own machine the doctor sees kidou's answers too (broadcast loops back)
    and names kidou as the holder of 67, 69 and 4011, which is fine."""
    a = lan.host("a", f"{SRV_A}/16")
    b = lan.host("b", f"{SRV_B}/16")
    doc = lan.host("doc", f"{DOCTOR_IP}/16")
    dnsmasq(lan, b, "dnsmasq", dhcp_range=POOL_B)
    k = kidou_on(kidou_factory, a, tmp_path, "--dhcp-mode", "proxy", pool=None)

    d = doctor(doc)
    assert d.offers(kind="proxy", server=SRV_A), d.report["offers"]
    assert d.offers(kind="dhcp", server=SRV_B), d.report["offers"]
    assert not d.findings("several-dhcp-servers"), d.texts()
    assert not d.findings("no-boot-file"), d.texts()

    link_local(a, "lan0")
    d = doctor(a)
    assert d.offers(kind="proxy", server=SRV_A), d.report["offers"]
    # The doctor sent no router solicitation from kidou's own address:
    # kidou, answering it, would have heard its own advertisement and
    # fallen silent as beside a foreign router.
    assert not k.events("foreign-router", mod="ndp"), k.text()[-3000:]
    ports = {p["port"]: p for p in d.report["ports"]}
    assert all(ports[p]["state"] == "kidou" for p in (67, 69, 4011)), ports
    assert not d.findings("port-held"), d.texts()
    assert len(d.findings("port-held-by-kidou")) == 3, d.texts()


def test_router_advertisement(lan, tmp_path):
    """A router advertising (lifetime, a prefix): ipv6-ra=auto stays silent."""
    a = lan.host("a", f"{SRV_A}/16")
    rtr = lan.host("rtr")
    doc = lan.host("doc", f"{DOCTOR_IP}/16")
    dnsmasq(lan, a, "dnsmasq", "--dhcp-boot=undionly.kpxe")
    src = lan.router(rtr)
    link_local(doc, "lan0")

    d = doctor(doc)
    ras = [r for r in d.report["router_advertisements"] if r["source"] == src]
    assert ras and ras[0]["router_lifetime"] == 1800 and ras[0]["prefixes"] == 1, \
        d.report["router_advertisements"]
    ra = d.findings("router-advertises")
    assert [f["text"] for f in ra] == [
        f"a router advertises on this segment ({src}): ipv6-ra=auto stays silent here, and "
        "iPXE configures IPv6 from that router"], d.texts()
    assert not d.findings("no-router-advertisement"), d.texts()


def test_kidou_quiet_advertisement_answers_the_solicitation(lan, tmp_path, kidou_factory):
    """kidou with ipv6-ra=auto answers the doctor's router solicitation
    with its advertisement that configures nothing."""
    a = lan.host("a", f"{SRV_A}/16")
    doc = lan.host("doc", f"{DOCTOR_IP}/16")
    kidou_on(kidou_factory, a, tmp_path)
    kidou_ll = link_local(a, "lan0")
    link_local(doc, "lan0")

    d = doctor(doc)
    quiet = d.findings("quiet-advertisement")
    assert len(quiet) == 1 and kidou_ll in quiet[0]["text"], d.texts()
    assert not d.findings("router-advertises"), d.texts()
    assert not d.findings("several-dhcp-servers"), d.texts()


def test_nobody_answers_and_mtu(lan, tmp_path):
    """An empty segment: no DHCP answer at all, no router. A 1400-byte
    MTU against the default max-blksize; a config with a fitting one."""
    doc = lan.host("doc", mtu=1400)
    d = doctor(doc, "--wait", "1")
    assert d.cp.returncode == 1
    assert [f["text"] for f in d.findings("no-dhcp-answer")] == [
        "no DHCP server answered a PXE DISCOVER on lan0 (3 tries, 1 s each): machines will "
        "not boot from the network here"], d.texts()
    assert d.findings("no-router-advertisement"), d.texts()
    mtu = d.findings("blksize-above-mtu")
    assert len(mtu) == 1 and "MTU 1400: blksize 1368 at most" in mtu[0]["text"] and \
        "max-blksize = 1368" in mtu[0]["text"], d.texts()

    cfg = tmp_path / "kidou.ini"
    cfg.write_text("[tftp]\nmax-blksize = 1368\n")
    d = doctor(doc, "--wait", "1", "--config", cfg)
    assert d.report["max_blksize"] == 1368
    assert not d.findings("blksize-above-mtu"), d.texts()


def test_usage_errors():
    for args in ([], ["no-such-iface0"], ["lo", "--wait", "0"], ["lo", "--mac", "zz"],
                 ["lo", "--bogus"]):
        cp = subprocess.run([kidou_bin(), "doctor"] + args, capture_output=True, text=True,
                            timeout=T(20), stdin=subprocess.DEVNULL)
        assert cp.returncode == 2, (args, cp.stdout, cp.stderr)
        assert cp.stderr.startswith("kidou doctor: "), (args, cp.stderr)
    cp = subprocess.run([kidou_bin(), "doctor", "--help"], capture_output=True, text=True,
                        timeout=T(20))
    assert cp.returncode == 0 and cp.stdout.startswith("Usage: kidou doctor IFACE"), cp
