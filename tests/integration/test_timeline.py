"""Boot timelines (issue #7): one summary line per machine when its boot
is over, built from the DHCP, TFTP and HTTP events of that machine.

The "machine" is the client namespace of dhcp_lib: busybox udhcpc plays
the firmware (it sends a PXE client architecture, option 93) and then the
installed OS (no option 93); curl fetches the boot files over TFTP and
HTTP from the leased address.
"""
from __future__ import annotations

import re
import subprocess
import time

from dhcp_lib import (  # noqa: F401  (fixtures)
    RANGE, SRV_ADDR, Udhcpc, assert_alive, dhcp_net, dhcpd, in_range, sh,
)
from kidou_testlib import T

FIRMWARE = ("-x", "0x5d:0000")   # option 93: x86 BIOS, as PXE firmware says


def curl(net, url: str, check: bool = True) -> bytes:
    """url fetched by curl from the client namespace: its body."""
    cp = subprocess.run(["ip", "netns", "exec", net.cli, "curl", "-sS", "--max-time", "10",
                         "-o", "-", url], capture_output=True, timeout=T(20))
    if check:
        assert cp.returncode == 0, cp.stderr.decode(errors="replace")
    return cp.stdout


def metrics(net) -> dict:
    text = curl(net, f"http://{SRV_ADDR}:8080/metrics").decode()
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line and not line.startswith("#")}


def steps(summary: dict) -> list[str]:
    """The step names of a summary, in order (times stripped)."""
    return [s.split("@")[0] for s in summary["steps"].split() if not s.startswith("+")]


def test_booted_timeline(dhcp_net, dhcpd, tmp_path):
    root = tmp_path / "tftp"
    root.mkdir()
    (root / "boot.0").write_bytes(b"B" * 70000)
    (root / "vmlinuz").write_bytes(b"K" * 300000)
    k = dhcpd("--http-listen", f"{SRV_ADDR}:8080", "--timeline-idle", "10", tftp_root=root)
    env = Udhcpc(dhcp_net, tmp_path, name="firmware").once(*FIRMWARE)
    ip = env["ip"]
    assert in_range(ip, *RANGE)
    assert curl(dhcp_net, f"tftp://{SRV_ADDR}/boot.0") == b"B" * 70000
    # a config probe that misses, as PXELINUX's do: expected, so counted as
    # a probe, not a miss
    mac = dhcp_net.client_mac.replace(":", "-")
    curl(dhcp_net, f"tftp://{SRV_ADDR}/pxelinux.cfg/01-{mac}", check=False)
    assert curl(dhcp_net, f"http://{SRV_ADDR}:8080/vmlinuz") == b"K" * 300000
    time.sleep(0.5)    # well within the idle time: nothing is over yet
    assert not k.events("timeline", mod="boot"), "summarised before the boot was over"
    # the installed OS asks for its address: the boot is over
    Udhcpc(dhcp_net, tmp_path, name="os").once()
    ev = k.wait_event("timeline", mod="boot", timeout=T(15))
    assert ev["mac"] == dhcp_net.client_mac and ev["ip"] == ip, ev["_line"]
    assert ev["outcome"] == "booted", ev["_line"]
    assert ev["files"] == "2" and ev["failed"] == "0" and ev["misses"] == "0", ev["_line"]
    assert ev["probes"] == "1" and "last_miss" not in ev, ev["_line"]
    assert ev["stage"] == "kernel", ev["_line"]
    assert ev["bytes"] == str(70000 + 300000), ev["_line"]
    assert int(ev["ack_to_file_ms"]) >= 0, ev["_line"]
    names = steps(ev)
    assert names[:2] == ["dhcp-offer", "dhcp-ack"], names
    assert names[2:] == ["tftp:boot.0", "http:vmlinuz", "dhcp-plain"], names
    # every step's times are in order, the last within the total
    times = [int(m) for m in re.findall(r"@(\d+)", ev["steps"])]
    assert times == sorted(times), ev["steps"]
    assert times[-1] <= int(ev["total_ms"]) < times[-1] + 10000, ev["_line"]
    # only one summary for one boot; the OS renewing opens no new one
    Udhcpc(dhcp_net, tmp_path, name="os-again").once()
    assert len(k.events("timeline", mod="boot")) == 1
    # and /metrics counts it (the scrape itself is the server's own page,
    # not a boot file: it opens no timeline)
    m = metrics(dhcp_net)
    assert m['kidou_boots_total{outcome="booted"}'] == 1, m
    assert m['kidou_boots_total{outcome="stalled"}'] == 0, m
    assert m["kidou_boots_in_progress"] == 0, m
    assert "kidou_ipv6_router_advertisements_total" in m, m
    time.sleep(2)
    assert len(k.events("timeline", mod="boot")) == 1, k.text()
    assert_alive(k)


def test_stalled_timeline(dhcp_net, dhcpd, tmp_path):
    """The firmware got its address and never asked for a file: after the
    idle time the summary says where it stopped."""
    k = dhcpd("--timeline-idle", "1")
    Udhcpc(dhcp_net, tmp_path, name="firmware").once(*FIRMWARE)
    ev = k.wait_event("timeline", mod="boot", timeout=T(6))
    assert ev["mac"] == dhcp_net.client_mac, ev["_line"]
    assert ev["outcome"] == "stalled" and ev["reason"] == "no-file-request", ev["_line"]
    assert steps(ev) == ["dhcp-offer", "dhcp-ack"], ev["_line"]


def test_missing_boot_file_timeline(dhcp_net, dhcpd, tmp_path):
    k = dhcpd("--timeline-idle", "1")
    env = Udhcpc(dhcp_net, tmp_path, name="firmware").once(*FIRMWARE)
    curl(dhcp_net, f"tftp://{SRV_ADDR}/no/such/boot.efi", check=False)
    ev = k.wait_event("timeline", mod="boot", timeout=T(6))
    assert ev["ip"] == env["ip"], ev["_line"]
    assert ev["outcome"] == "stalled" and ev["reason"] == "file-not-found", ev["_line"]
    assert ev["last_miss"] == "tftp:no/such/boot.efi", ev["_line"]


def test_plain_clients_have_no_timeline(dhcp_net, dhcpd, tmp_path):
    """An installed OS taking a lease is not a boot: no summary, ever."""
    k = dhcpd("--timeline-idle", "1")
    Udhcpc(dhcp_net, tmp_path).once()
    k.wait_event("ack", mod="dhcp", timeout=T(2))
    time.sleep(T(2.5))
    assert not k.events("timeline", mod="boot"), k.text()


def test_stopping_summarises_boots_in_progress(dhcp_net, dhcpd, tmp_path):
    """SIGTERM: a boot still in progress gets its line before kidou exits."""
    k = dhcpd()                       # idle time 20 s: nothing would be due
    Udhcpc(dhcp_net, tmp_path, name="firmware").once(*FIRMWARE)
    k.wait_event("ack", mod="dhcp", timeout=T(2))
    assert not k.events("timeline", mod="boot")
    assert k.stop() == 0
    ev = k.events("timeline", mod="boot")
    assert len(ev) == 1, k.text()
    assert ev[0]["mac"] == dhcp_net.client_mac, ev[0]["_line"]
    assert ev[0]["outcome"] == "stalled" and ev[0]["reason"] == "no-file-request", ev[0]["_line"]
