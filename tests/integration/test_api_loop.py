"""The API never blocks the event loop (issue #13).

- GET /api/v1/machines (and /hosts) with 1000 and 10,000 machines is built
  a slice per loop turn (src/api/api_chunked.c): a client that has the
  headers and then stops reading holds an answer still being produced,
  and meanwhile a TFTP transfer of many blocks, or DHCP exchanges,
  complete. Checked by the order of kidou's log lines (read-streamed, the
  transfer's done / the ACKs, read-done), never by time.
- An event-stream subscriber that never reads (small SO_RCVBUF) is
  dropped and closed once its 64 KiB buffer is full, while DHCP and TFTP
  keep being answered, another subscriber misses nothing, and kidou's
  memory stays put.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

from dhcp_lib import (  # noqa: F401  (fixtures)
    SRV_ADDR, Client, dhcp_net, dhcpd, in_netns, link, random_mac,
)
from kidou_testlib import (
    SANITIZED, NetNs, T, RawClient, build_request, make_file, parse_logfmt,
)


def small_tcp(ns: str):
    subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.tcp_wmem=4096 4096 4096",
                    "net.ipv4.tcp_rmem=4096 4096 4096"], check=True)


@pytest.fixture
def small_tcp_ns():
    """A namespace with only lo, whose TCP buffers are small and fixed
    (tcp_wmem/tcp_rmem are per namespace): what an answer can have queued
    in the kernel is a few KiB, so a client that stops reading holds an
    answer of 180 KB or more mid-way, deterministically."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    ns = NetNs()
    try:
        small_tcp(ns.name)
        yield ns.name
    finally:
        ns.delete()


def mac_of(i: int) -> str:
    return "52:54:00:%02x:%02x:%02x" % ((i >> 16) & 255, (i >> 8) & 255, i & 255)


def write_hosts(path: Path, n: int, with_ip: bool = True) -> Path:
    """n [host] sections, in reverse MAC order (the API sorts)."""
    lines = ["[profile inst]", "kernel = linux/vmlinuz", "cmdline = console=ttyS0", ""]
    for i in reversed(range(n)):
        lines += [f"[host h{i}]", f"mac = {mac_of(i)}", f"hostname = node{i}", "profile = inst"]
        if with_ip:
            lines.append(f"ip = 10.{i >> 16}.{(i >> 8) & 255}.{i & 255}")
        lines.append("")
    path.write_text("\n".join(lines))
    return path


def http_port(k) -> int:
    ev = k.events("listening", mod="http")
    assert ev, k.text()[-2000:]
    return int(ev[0]["addr"].rsplit(":", 1)[1])


def line_index(k, event: str, mod: str, start: int = 0, **match) -> int:
    """The index of the first log line from start on with this mod and
    event (and fields); -1 if none."""
    for i, line in enumerate(k.lines()[start:], start):
        d = parse_logfmt(line)
        if d.get("mod") == mod and d.get("event") == event and \
                all(d.get(key) == v for key, v in match.items()):
            return i
    return -1


class SlowGet:
    """GET path on a raw socket with a small receive buffer: the test reads
    the headers, then reads nothing until it says so."""

    def __init__(self, host: str, port: int, path: str, rcvbuf: int = 4096):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.s.settimeout(T(20))
        self.s.connect((host, port))
        self.s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        self.data = b""

    def head(self) -> tuple[int, dict]:
        while b"\r\n\r\n" not in self.data:
            d = self.s.recv(1024)
            assert d, "closed before the headers"
            self.data += d
        head, self.data = self.data.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        self.headers = {k.strip().lower(): v.strip()
                        for k, v in (x.split(":", 1) for x in lines[1:])}
        return int(lines[0].split()[1]), self.headers

    def body(self) -> bytes:
        """Read to the end (kidou closes: Connection: close), dechunked; an
        answer cut short gives what came."""
        while True:
            try:
                d = self.s.recv(65536)
            except ConnectionResetError:
                break
            if not d:
                break
            self.data += d
        self.s.close()
        if self.headers.get("transfer-encoding") != "chunked":
            return self.data
        out, raw = b"", self.data
        while b"\r\n" in raw:
            size_line, raw = raw.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                return out
            out += raw[:size]
            raw = raw[size + 2:]
        return out


def check_machines(body: bytes, n: int):
    machines = json.loads(body)
    assert len(machines) == n
    assert [m["mac"] for m in machines] == [mac_of(i) for i in range(n)]
    assert all(m["host"] == f"h{i}" and m["hostname"] == f"node{i}"
               for i, m in enumerate(machines))


@pytest.mark.parametrize("n", [1000, 10000])
def test_machines_while_tftp(small_tcp_ns, kidou_factory, tmp_path, tftp_root, n):
    """A TFTP transfer of 400 blocks runs to its end while GET /machines of
    n machines is still being produced."""
    make_file(tftp_root, "big.bin", 400 * 512, seed=n)
    cfg = write_hosts(tmp_path / "k.ini", n)
    k = kidou_factory("--config", cfg, "--http-listen", "127.0.0.1:0", netns=small_tcp_ns)
    port = http_port(k)
    with in_netns(small_tcp_ns):
        rq = SlowGet("127.0.0.1", port, "/api/v1/machines")
        c = RawClient(k.port)
    st, hdrs = rq.head()
    assert st == 200 and hdrs["content-type"] == "application/json"
    k.wait_event("read-streamed", mod="api", what="machines", timeout=T(10))
    # the client reads nothing now: the answer waits, the loop does not
    with c:
        data, _ = c.fetch("big.bin", timeout=T(5))
    assert len(data) == 400 * 512
    k.wait_event("done", mod="tftp", file="big.bin", timeout=T(5))
    assert not k.events("read-done", mod="api"), "the answer was done before the client read it"
    body = rq.body()
    check_machines(body, n)
    done = k.wait_event("read-done", mod="api", what="machines", timeout=T(10))
    assert done["result"] == "complete" and int(done["elements"]) == n
    assert int(done["bytes"]) == len(body)
    # produced in slices of at most 32 machines (API_SLICE_ELEMENTS), one
    # per loop turn
    assert int(done["slices"]) >= n // 32
    started = line_index(k, "read-streamed", "api")
    tftp_done = line_index(k, "done", "tftp", file="big.bin")
    finished = line_index(k, "read-done", "api")
    assert 0 <= started < tftp_done < finished


def test_hosts_10000_while_tftp(small_tcp_ns, kidou_factory, tmp_path, tftp_root):
    """GET /hosts (10,000 [host] sections, file order) is produced in
    slices too; the answer is the same as a whole one would be."""
    make_file(tftp_root, "big.bin", 100 * 512, seed=1)
    cfg = write_hosts(tmp_path / "k.ini", 10000)
    k = kidou_factory("--config", cfg, "--http-listen", "127.0.0.1:0", netns=small_tcp_ns)
    with in_netns(small_tcp_ns):
        rq = SlowGet("127.0.0.1", http_port(k), "/api/v1/hosts")
        c = RawClient(k.port)
    assert rq.head()[0] == 200
    k.wait_event("read-streamed", mod="api", what="hosts", timeout=T(10))
    with c:
        assert len(c.fetch("big.bin", timeout=T(5))[0]) == 100 * 512
    assert not k.events("read-done", mod="api")
    hosts = json.loads(rq.body())
    assert [h["name"] for h in hosts] == [f"h{i}" for i in reversed(range(10000))]
    assert hosts[-1] == {"name": "h0", "mac": mac_of(0), "uuid": None, "ip": "10.0.0.0",
                         "hostname": "node0", "profile": "inst", "boot": {},
                         "source": "config", "active": True}
    done = k.wait_event("read-done", mod="api", what="hosts", timeout=T(10))
    assert done["result"] == "complete" and int(done["elements"]) == 10000


def test_machines_while_dhcp(dhcp_net, dhcpd, link, tmp_path):
    """DHCP exchanges complete while GET /machines of 10,000 machines is
    being produced; the machines that got a lease show it afterwards."""
    cfg = write_hosts(tmp_path / "k.ini", 10000, with_ip=False)
    small_tcp(dhcp_net.srv)
    k = dhcpd("--http-listen", f"{SRV_ADDR}:8080", config=cfg)
    with in_netns(dhcp_net.srv):
        rq = SlowGet(SRV_ADDR, 8080, "/api/v1/machines")
    assert rq.head()[0] == 200
    k.wait_event("read-streamed", mod="api", what="machines", timeout=T(10))
    macs = [random_mac(b"\x52\x54\x02") for _ in range(5)]
    for mac in macs:
        Client(link, mac).dora()
    assert len(k.events("ack", mod="dhcp")) >= 5
    assert not k.events("read-done", mod="api")
    machines = json.loads(rq.body())
    assert len(machines) == 10000   # the snapshot taken when the GET came
    done = k.wait_event("read-done", mod="api", what="machines", timeout=T(10))
    assert done["result"] == "complete"
    started = line_index(k, "read-streamed", "api")
    first_ack = line_index(k, "ack", "dhcp")
    assert 0 <= started < first_ack < line_index(k, "read-done", "api")
    # a new GET sees the leases
    with in_netns(dhcp_net.srv):
        rq = SlowGet(SRV_ADDR, 8080, "/api/v1/machines")
    assert rq.head()[0] == 200
    machines = json.loads(rq.body())
    assert len(machines) == 10005
    leased = {m["mac"]: m["lease"] for m in machines if m["lease"]}
    assert sorted(leased) == sorted(macs)
    # /leases past one slice (32): sent in slices from a copy of the leases
    more = [random_mac(b"\x52\x54\x04") for _ in range(35)]
    for mac in more:
        Client(link, mac).dora()
    with in_netns(dhcp_net.srv):
        rq = SlowGet(SRV_ADDR, 8080, "/api/v1/leases")
    assert rq.head()[0] == 200
    leases = json.loads(rq.body())
    assert sorted(x["mac"] for x in leases) == sorted(macs + more)
    assert all(x["state"] == "bound" and x["client_id"] == "01" + x["mac"].replace(":", "")
               and x["hostname"] is None and x["expires"].endswith("Z") for x in leases)
    done = k.wait_event("read-done", mod="api", what="leases", timeout=T(10))
    assert done["result"] == "complete" and int(done["elements"]) == 40


def test_max_big_reads(small_tcp_ns, kidou_factory, tmp_path):
    """Past 8 big reads streaming at once, the next is refused 503 (each
    holds a snapshot); once one ends, reads are served again."""
    cfg = write_hosts(tmp_path / "k.ini", 2000)
    k = kidou_factory("--config", cfg, "--http-listen", "127.0.0.1:0",
                      "--http-max-connections-per-address", "64", netns=small_tcp_ns)
    port = http_port(k)
    with in_netns(small_tcp_ns):
        held = [SlowGet("127.0.0.1", port, "/api/v1/machines") for _ in range(8)]
        extra = SlowGet("127.0.0.1", port, "/api/v1/machines")
    for rq in held:
        assert rq.head()[0] == 200
    k.wait_event("read-streamed", mod="api", count=8, timeout=T(10))
    st, _ = extra.head()
    assert st == 503 and b"too many large reads" in extra.body()
    assert k.events("read-refused", mod="api")
    check_machines(held[0].body(), 2000)
    k.wait_event("read-done", mod="api", timeout=T(10))
    with in_netns(small_tcp_ns):
        again = SlowGet("127.0.0.1", port, "/api/v1/machines")
    assert again.head()[0] == 200
    check_machines(again.body(), 2000)
    for rq in held[1:]:
        check_machines(rq.body(), 2000)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


class Sse:
    """An event-stream subscriber on a raw socket (chunked framing is
    read through: only "data: " lines matter)."""

    def __init__(self, host: str, port: int, rcvbuf: int = 0):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.s.settimeout(T(10))
        self.s.connect((host, port))
        self.s.sendall(b"GET /api/v1/events HTTP/1.1\r\nHost: x\r\n\r\n")
        self.buf = b""

    def recv(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError("stream closed")
        self.buf += d

    def events(self, count: int) -> list[dict]:
        while True:
            out = [json.loads(line[6:]) for line in self.buf.split(b"\n")[:-1]
                   if line.startswith(b"data: ")]
            if len(out) >= count:
                return out
            self.recv()


def test_stuck_subscriber_dhcp_tftp(dhcp_net, dhcpd, link, tmp_path):
    """A subscriber that never reads: DHCP exchanges and TFTP requests are
    answered all along, it is dropped (logged) and closed, the reader
    gets every event in sequence, and kidou's RSS stays put."""
    small_tcp(dhcp_net.srv)   # the stuck one's kernel buffers fill fast
    k = dhcpd("--http-listen", f"{SRV_ADDR}:8080")
    with in_netns(dhcp_net.srv):
        stuck = Sse(SRV_ADDR, 8080, rcvbuf=4096)
        reader = Sse(SRV_ADDR, 8080)
        tftp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tftp.settimeout(T(5))
    k.wait_event("events-open", mod="api", count=2, timeout=T(5))
    rss_before = rss_kib(k.pid)
    name = "n" * 400   # each miss is a ~600-byte event
    expected = 0
    for round_ in range(200):
        mac = random_mac(b"\x52\x54\x03")
        Client(link, mac).dora()        # answered while the stuck one fills up
        for i in range(50):
            tftp.sendto(build_request(f"{name}{round_}.{i}"), (SRV_ADDR, 69))
            tftp.recvfrom(2048)         # the TFTP error reply: answered
        expected = len(reader.events(expected + 50))
        if k.events("events-dropped", mod="api"):
            break
    drops = k.events("events-dropped", mod="api")
    assert drops, "the stuck subscriber was never dropped"
    assert drops[0]["reason"] == "slow-reader" and int(drops[0]["limit"]) == 64 * 1024
    # DHCP and TFTP after the drop, and the reader sees them
    Client(link, random_mac(b"\x52\x54\x03")).dora()
    tftp.sendto(build_request("after-drop"), (SRV_ADDR, 69))
    tftp.recvfrom(2048)
    evs = reader.events(expected + 3)
    while evs[-1].get("file") != "after-drop":
        evs = reader.events(len(evs) + 1)
    seqs = [e["seq"] for e in evs]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "the reader missed events"
    with pytest.raises((EOFError, ConnectionResetError)):
        while True:
            stuck.recv()
    limit = 300 * 1024 if SANITIZED else 16 * 1024
    assert rss_kib(k.pid) - rss_before < limit, "RSS grew with a stuck subscriber"
    assert k.events("events-closed", mod="api")
    tftp.close()
    reader.s.close()


def test_reload_during_big_reads(small_tcp_ns, kidou_factory, tmp_path):
    """A reload (SIGHUP) frees the config while /machines and /hosts are
    being sent: /machines looks each host up again by MAC in the new
    config and completes (valid JSON, the removed hosts without their
    [host]); /hosts is cut short (read-cut, connection closed). Under ASan
    a stale host pointer would be a use-after-free."""
    import signal as sig
    cfg = write_hosts(tmp_path / "k.ini", 3000)
    k = kidou_factory("--config", cfg, "--http-listen", "127.0.0.1:0", netns=small_tcp_ns)
    port = http_port(k)
    with in_netns(small_tcp_ns):
        m = SlowGet("127.0.0.1", port, "/api/v1/machines")
        h = SlowGet("127.0.0.1", port, "/api/v1/hosts")
    assert m.head()[0] == 200 and h.head()[0] == 200
    k.wait_event("read-streamed", mod="api", count=2, timeout=T(10))
    write_hosts(cfg, 1000)   # hosts 1000..2999 are gone
    k.signal(sig.SIGHUP)
    k.wait_event("reloaded", mod="main", timeout=T(10))
    machines = json.loads(m.body())
    assert [x["mac"] for x in machines] == [mac_of(i) for i in range(3000)]
    assert machines[999]["host"] == "h999" and machines[2999]["host"] is None
    done = k.wait_event("read-done", mod="api", what="machines", timeout=T(10))
    assert done["result"] == "complete"
    with pytest.raises(json.JSONDecodeError):
        json.loads(h.body())
    cut = k.wait_event("read-cut", mod="api", what="hosts", timeout=T(10))
    assert "stale" in cut["error"].lower()
    assert k.wait_event("read-done", mod="api", what="hosts", timeout=T(10))["result"] == \
        "cut-reload"


def test_hosts_write_during_big_reads(dhcp_net, dhcpd, tmp_path):
    """An API host deleted while /machines and /hosts are being sent: the
    /machines snapshot held a pointer to it, which the DELETE's commit
    frees. /machines looks the host up again (gone: host null) and
    completes; /hosts is cut short. Under ASan a stale pointer would be a
    use-after-free."""
    token = tmp_path / "token"
    token.write_text("0123456789abcdef0123456789abcdef\n")
    token.chmod(0o600)
    cfg = write_hosts(tmp_path / "k.ini", 3000, with_ip=False)
    cfg.write_text(cfg.read_text() + f"\n[api]\ntoken-file = {token}\n")
    small_tcp(dhcp_net.srv)
    k = dhcpd("--http-listen", f"{SRV_ADDR}:8080", config=cfg)
    api_mac = "52:54:0f:ff:ff:fe"   # after every [host]'s MAC

    def call(method: str, path: str, body: str = "") -> int:
        cmd = ["ip", "netns", "exec", dhcp_net.srv, "curl", "-sS", "-o", "/dev/null",
               "-w", "%{http_code}", "-X", method, "-H",
               "Authorization: Bearer 0123456789abcdef0123456789abcdef",
               f"http://{SRV_ADDR}:8080{path}"]
        if body:
            cmd[-1:-1] = ["-d", body]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=T(30))
        assert r.returncode == 0, r.stderr
        return int(r.stdout)

    assert call("PUT", "/api/v1/hosts/zz-api",
                json.dumps({"mac": api_mac, "hostname": "api-host"})) == 201
    with in_netns(dhcp_net.srv):
        m = SlowGet(SRV_ADDR, 8080, "/api/v1/machines")
        h = SlowGet(SRV_ADDR, 8080, "/api/v1/hosts")
    assert m.head()[0] == 200 and h.head()[0] == 200
    k.wait_event("read-streamed", mod="api", count=2, timeout=T(10))
    assert call("DELETE", "/api/v1/hosts/zz-api") == 200
    machines = json.loads(m.body())
    assert len(machines) == 3001 and machines[-1]["mac"] == api_mac
    assert machines[-1]["host"] is None, machines[-1]
    assert machines[0]["host"] == "h0"
    done = k.wait_event("read-done", mod="api", what="machines", timeout=T(10))
    assert done["result"] == "complete"
    with pytest.raises(json.JSONDecodeError):
        json.loads(h.body())
    k.wait_event("read-cut", mod="api", what="hosts", timeout=T(10))
