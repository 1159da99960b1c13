"""seccomp with DHCP: a lease committed to SQLite under the filter, a
reload that re-reads the interfaces, and a lease committed after it. Router
advertisements (the NDP raw socket) run under the filter in test_ndp.py,
as every integration test does: it is on by default. See test_privileges.py."""
from __future__ import annotations

import signal

from dhcp_lib import (  # noqa: F401  (fixtures)
    RANGE, Client, LEASE_BOUND, assert_alive, dhcp_net, dhcpd, in_range, link,
    mac_bytes, read_leases, wait_dhcp,
)
from kidou_testlib import T
from test_privileges import expect_seccomp_on


def test_seccomp_dhcp_lease_commit_and_reload(dhcpd, dhcp_net, link, tmp_path):
    k = dhcpd("--http-listen", "172.24.0.1:0")
    expect_seccomp_on(k)

    c = Client(link)
    _, ack = c.dora()
    ip = ack.dhcp.yiaddr
    assert in_range(ip, *RANGE)
    rows = read_leases(tmp_path / "leases.db")
    assert rows[ip]["state"] == LEASE_BOUND and rows[ip]["hwaddr"] == mac_bytes(c.mac), rows

    k.signal(signal.SIGHUP)
    k.wait_event("reloaded", mod="main", timeout=T(5))
    c2 = Client(link)
    _, ack2 = c2.dora()
    assert ack2.dhcp.yiaddr != ip
    rows = read_leases(tmp_path / "leases.db")
    assert rows[ack2.dhcp.yiaddr]["state"] == LEASE_BOUND, rows
    assert_alive(k)
    assert k.stop() == 0, k.text()[-3000:]
