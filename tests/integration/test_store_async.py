"""The lease database off the event loop (issue 12).

Another process (the Debian `sqlite3` shell, as an operator's or a backup's)
holds the write lock on kidou's lease database. kidou must keep serving TFTP
and HTTP meanwhile and withhold only the ACKs whose lease is not yet
written; when the lock goes, the client gets its lease. When the lock
outlasts the busy timeout, the commit fails, SQLite's reason is logged, and
the address is not left bound to a client that never got its ACK.

Assertions are about order, never time: a fetch must complete while the
lock is still held and before kidou has given up on the commit.
"""
from __future__ import annotations

import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from dhcp_lib import (  # noqa: F401  (fixtures)
    ACK, NAK, O_ARCH, O_REQ_IP, O_SERVER_ID, O_VCLASS, REQUEST, SRV_ADDR, LEASE_BOUND, Client, dhcp_net, dhcpd,
    int2ip, ip2int, link, opt_ip, opt_u16, read_leases, wait_dhcp,
)
from kidou_testlib import T

HTTP_PORT = 8080


def db_locked(db: Path) -> bool:
    """True while another connection holds the write lock."""
    con = sqlite3.connect(str(db), timeout=0)
    try:
        con.execute("BEGIN IMMEDIATE")
        con.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError as e:
        assert "locked" in str(e), e
        return True
    finally:
        con.close()


class Locker:
    """A sqlite3 shell with an open write transaction on db."""

    def __init__(self, db: Path):
        exe = shutil.which("sqlite3")
        assert exe, "the sqlite3 command-line shell is missing (apt-get install sqlite3)"
        self.db = db
        self.p = subprocess.Popen([exe, str(db)], stdin=subprocess.PIPE,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        # WAL mode makes EXCLUSIVE a write lock that readers pass. kidou's
        # writer may hold the lock for a commit at this very moment: without
        # a busy timeout the shell's BEGIN would fail at once, the INSERT
        # would commit on its own, and no lock would ever be held.
        self.p.stdin.write(".timeout 10000\n"
                           "BEGIN EXCLUSIVE;\n"
                           "INSERT OR REPLACE INTO leases VALUES(1, x'00', x'00', '', 0, 1);\n")
        self.p.stdin.flush()
        deadline = time.monotonic() + T(10)
        while not db_locked(db):
            assert self.p.poll() is None, self.p.stderr.read()
            assert time.monotonic() < deadline, "sqlite3 did not take the lock"
            time.sleep(0.01)

    def held(self) -> bool:
        return self.p.poll() is None and db_locked(self.db)

    def release(self):
        if self.p.poll() is None:
            self.p.stdin.write("ROLLBACK;\n.quit\n")
            self.p.stdin.close()
            self.p.wait(timeout=T(10))
        # Not "db_locked() is now false": kidou's writer, waiting for the
        # lock, may hold it by now.
        assert self.p.returncode == 0, self.p.stderr.read()


@pytest.fixture
def locker():
    made = []

    def take(db):
        lk = Locker(db)
        made.append(lk)
        return lk
    yield take
    for lk in made:
        if lk.p.poll() is None:
            lk.p.kill()
            lk.p.wait()


def fetch(netns: str, url: str, out: Path):
    r = subprocess.run(["ip", "netns", "exec", netns, "curl", "-sS", "--fail", "-o", str(out),
                        url], capture_output=True, timeout=T(30))
    assert r.returncode == 0, r.stderr
    return out.read_bytes()


def request_selecting(c: Client, ip: str) -> int:
    """REQUEST for ip naming kidou as the server (RFC 2131 SELECTING)."""
    c.link.drain()
    return c.send(REQUEST, [opt_ip(O_SERVER_ID, SRV_ADDR), opt_ip(O_REQ_IP, ip)])


def test_lock_stalls_only_the_acks(dhcp_net, dhcpd, link, locker, tmp_path):
    root = tmp_path / "tftp"
    root.mkdir()
    (root / "small.bin").write_bytes(b"S" * 3000)
    db = tmp_path / "leases.db"
    k = dhcpd("--http-listen", f"{SRV_ADDR}:{HTTP_PORT}",
              "--dhcp-database-busy-timeout", "3600", tftp_root=root)
    c = Client(link)
    offer = c.discover()
    ip = offer.dhcp.yiaddr
    lk = locker(db)

    xid = request_selecting(c, ip)
    # The REQUEST was decided and its lease handed to the writer.
    wait_dhcp(k, "store-submit")
    # TFTP and HTTP are served while the writer waits on the lock...
    assert fetch(dhcp_net.srv, f"tftp://{SRV_ADDR}/small.bin", tmp_path / "t") == b"S" * 3000
    assert fetch(dhcp_net.srv, f"http://{SRV_ADDR}:{HTTP_PORT}/small.bin",
                 tmp_path / "h") == b"S" * 3000
    # ...the lock is still held, kidou has not given up on the commit, and
    # the ACK has not left.
    assert lk.held()
    assert not k.events("store-error", mod="dhcp"), k.text()[-2000:]
    assert not c.link.collect(0, xid=xid), "ACK sent before its lease was written"

    lk.release()
    ack = c.link.expect(xid, timeout=10, what="ACK once the lock is gone")
    assert ack.dhcp.type == ACK and ack.dhcp.yiaddr == ip, ack.dhcp
    assert read_leases(db)[ip]["state"] == LEASE_BOUND


def test_failed_commit_leaves_no_phantom_binding(dhcp_net, dhcpd, link, locker, tmp_path):
    db = tmp_path / "leases.db"
    k = dhcpd("--dhcp-database-busy-timeout", "0")
    a, b = Client(link), Client(link)
    ip = "172.24.32.77"
    lk = locker(db)

    # Client A's lease cannot be written: no ACK, SQLite's reason logged.
    xid = request_selecting(a, ip)
    err = wait_dhcp(k, "store-error", timeout=10)
    assert err["level"] == "error" and err["error"] == "database is locked", err["_line"]
    assert err["action"] == "withhold-acks", err["_line"]
    wait_dhcp(k, "withheld", mac=a.mac)
    assert not a.link.collect(0, xid=xid)
    lk.release()

    # The address was never granted: client B may have it, not a NAK
    # "address-taken".
    xid = request_selecting(b, ip)
    r = b.link.expect(xid, timeout=10, what="reply to B's REQUEST")
    assert r.dhcp.type == ACK and r.dhcp.yiaddr == ip, (r.dhcp, k.text()[-2000:])
    assert read_leases(db)[ip]["hwaddr"] == bytes.fromhex(b.mac.replace(":", ""))


def reload_then_release(k, lk, c: Client, xid: int, ip: str):
    """SIGHUP while c's lease waits behind lk's lock, then free the lock:
    the ACK decided before the reload leaves, for ip."""
    k.signal(signal.SIGHUP)
    k.wait_event("reloaded", mod="main", timeout=T(10))
    assert lk.held()
    lk.release()
    ack = c.link.expect(xid, timeout=10, what="ACK after the reload")
    assert ack.dhcp.type == ACK and ack.dhcp.yiaddr == ip, ack.dhcp


def test_reload_while_commit_in_flight(dhcp_net, dhcpd, link, locker, tmp_path):
    """A SIGHUP while a lease waits for the writer: the reload does not
    read the database (it keeps the leases in memory), and the lease in
    flight is neither lost nor doubled: its ACK leaves once the commit
    is done, and the address stays the client's."""
    db = tmp_path / "leases.db"
    k = dhcpd("--dhcp-database-busy-timeout", "3600")
    a, b = Client(link), Client(link)
    offer = a.discover()
    ip = offer.dhcp.yiaddr
    lk = locker(db)
    xid = request_selecting(a, ip)
    wait_dhcp(k, "store-submit")
    reload_then_release(k, lk, a, xid, ip)
    r = b.link.expect(request_selecting(b, ip), timeout=10, what="B's REQUEST")
    assert r.dhcp.type == NAK, r.dhcp


def test_shutdown_abandons_pending_commit(dhcp_net, dhcpd, link, locker, tmp_path):
    """SIGTERM while the writer waits on another process's lock: kidou
    stops at once and cleanly (the fixture checks exit 0 and, in the
    sanitized build, no leak), and the waiting ACK is never sent."""
    db = tmp_path / "leases.db"
    k = dhcpd("--dhcp-database-busy-timeout", "3600")
    a = Client(link)
    offer = a.discover()
    lk = locker(db)
    xid = request_selecting(a, offer.dhcp.yiaddr)
    wait_dhcp(k, "store-submit")
    assert k.stop() == 0, k.text()[-2000:]
    assert k.events("store-abandon", mod="dhcp", leases=1), k.text()[-2000:]
    assert lk.held()
    assert not a.link.collect(0, xid=xid)


def metric(netns: str, tmp_path: Path, name: str) -> int:
    text = fetch(netns, f"http://{SRV_ADDR}:{HTTP_PORT}/metrics", tmp_path / "metrics").decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return int(line.split()[1])
    raise AssertionError(f"no {name} in /metrics:\n{text}")


def test_stuck_store_drops_and_counts(dhcp_net, dhcpd, link, locker, tmp_path):
    """While the writer is stuck on a lock, lease changes queue only up to
    a bound (the batch in flight, the open one and the queue: at most 5 x
    64 leases); beyond it REQUESTs are dropped (reason=store-busy),
    counted, and their addresses not held; the accepted ones all get their
    ACK once the lock goes."""
    db = tmp_path / "leases.db"
    k = dhcpd("--http-listen", f"{SRV_ADDR}:{HTTP_PORT}", "--dhcp-database-busy-timeout", "3600",
              dhcp_range=("172.24.32.1", "172.24.35.254"))
    received = 'kidou_dhcp_received_total{type="REQUEST"}'
    busy = 'kidou_dhcp_errors_total{kind="store-busy"}'
    lk = locker(db)
    n = 400
    for chunk in range(0, n, 50):
        for i in range(chunk, chunk + 50):
            request_selecting(Client(link), int2ip(ip2int("172.24.32.1") + i))
        k.wait_for(lambda: metric(dhcp_net.srv, tmp_path, received) >= chunk + 50, T(10),
                   "kidou to read the REQUESTs")
    dropped = metric(dhcp_net.srv, tmp_path, busy)
    assert n - 5 * 64 <= dropped < n, dropped
    drops = k.events("drop", mod="dhcp", reason="store-busy")
    assert len(drops) == dropped and drops[0]["level"] == "debug", drops[:1]
    assert lk.held()

    lk.release()
    acks = []
    deadline = time.monotonic() + T(20)
    while len(acks) < n - dropped and time.monotonic() < deadline:
        acks += [r for r in link.collect(0.5) if r.dhcp.type == ACK]
    assert len(acks) == n - dropped, (len(acks), n - dropped)
    # A dropped REQUEST left its address free: it can be granted now.
    ip = drops[-1]["ip"]
    c = Client(link)
    r = c.link.expect(request_selecting(c, ip), timeout=10, what="REQUEST for a dropped address")
    assert r.dhcp.type == ACK and r.dhcp.yiaddr == ip, r.dhcp


def test_reload_frees_config_while_ack_waits(dhcp_net, dhcpd, link, locker, tmp_path):
    """The ACK's log line, written when its commit is done, names the
    [host] and the boot file as decided, although a reload freed the
    config they came from meanwhile (under the sanitizers a dangling
    pointer there is a use-after-free report, which the fixture fails)."""
    db = tmp_path / "leases.db"
    cfg = tmp_path / "kidou.ini"
    mac = "52:54:01:aa:bb:cc"
    cfg.write_text(f"[boot]\nbios = first.0\n\n[host machine-a]\nmac = {mac}\n"
                   "hostname = alpha\nbios = machine-a.0\n")
    k = dhcpd("--dhcp-database-busy-timeout", "3600", config=cfg)
    a = Client(link, mac=mac)
    pxe = [(O_VCLASS, b"PXEClient:Arch:00000:UNDI:002001"), opt_u16(O_ARCH, 0)]
    ip = a.discover(pxe).dhcp.yiaddr
    lk = locker(db)
    link.drain()
    xid = a.send(REQUEST, [opt_ip(O_SERVER_ID, SRV_ADDR), opt_ip(O_REQ_IP, ip)] + pxe)
    wait_dhcp(k, "store-submit")
    cfg.write_text("[boot]\nbios = second.0\n\n[host machine-b]\n"
                   f"mac = {mac}\nhostname = beta\nbios = machine-b.0\n")
    reload_then_release(k, lk, a, xid, ip)
    ev = wait_dhcp(k, "ack", mac=mac)
    assert ev["host"] == "machine-a" and ev["boot"] == "machine-a.0", ev
