"""The JSON API, read side (issue #13, first step): /api/v1/machines,
/machines/{mac}, /leases, /hosts, /profiles and the /events stream, the
[api] keys, and every refusal (400, 401, 403, 404, 405, 409, 503).

kidou serves the API on its HTTP server (127.0.0.1:0, the port read from
its `mod=http event=listening` line) or on [api] listen. Clients are
http.client and raw sockets (for Server-Sent Events); boot events come
from TFTP requests sent by the test, and in the DHCP test from udhcpc in
the client namespace of dhcp_lib.
"""
from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from dhcp_lib import (  # noqa: F401  (fixtures)
    SRV_ADDR, Udhcpc, dhcp_net, dhcpd,
)
from kidou_testlib import SANITIZED, T, build_request

TOKEN = "s3cret-token-0123456789abcdef"
FIRMWARE = ("-x", "0x5d:0000")   # option 93: x86 BIOS


def mac_of(i: int) -> str:
    return "52:54:00:%02x:%02x:%02x" % ((i >> 16) & 255, (i >> 8) & 255, i & 255)


def write_config(path: Path, hosts: int = 2, api: str = "", extra: str = "") -> Path:
    lines = ["[profile inst]", "kernel = linux/vmlinuz", "initrd = linux/a.img, linux/b.img",
             "cmdline = console=ttyS0 ip=${ip}", "", "[profile rescue]", "kernel = r/vmlinuz", ""]
    # in reverse MAC order: the API must sort
    for i in reversed(range(hosts)):
        lines += [f"[host h{i}]", f"mac = {mac_of(i)}", f"ip = 10.9.{i >> 8}.{i & 255}",
                  f"hostname = node{i}", "profile = inst", ""]
    if api:
        lines += ["[api]", api, ""]
    path.write_text("\n".join(lines) + extra)
    return path


def token_file(tmp: Path, text: str = TOKEN, mode: int = 0o600) -> Path:
    p = tmp / "token"
    p.write_text(text + "\n")
    os.chmod(p, mode)
    return p


def http_port(k, which: int = 0) -> int:
    ev = k.events("listening", mod="http")
    assert ev, k.text()[-2000:]
    return int(ev[which]["addr"].rsplit(":", 1)[1])


def request(port, method, path, headers=None, body=None):
    """(status, headers, parsed JSON or raw bytes)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=T(10))
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        if hdrs.get("content-type") == "application/json" and data:
            return r.status, hdrs, json.loads(data)
        return r.status, hdrs, data
    finally:
        c.close()


def get(port, path, **kw):
    return request(port, "GET", path, **kw)


def start(kidou_factory, tmp_path, cfg, *extra):
    return kidou_factory("--config", cfg, "--http-listen", "127.0.0.1:0", *extra)


def tftp_miss(port: int, name: str, n: int = 1):
    """n read requests for a file that is not there: each is a boot event
    (file-miss) of 127.0.0.1, answered with a TFTP error."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(T(5))
    try:
        for i in range(n):
            s.sendto(build_request(name), ("127.0.0.1", port))
            s.recvfrom(2048)
    finally:
        s.close()


class Sse:
    """A Server-Sent Events subscriber on a raw socket."""

    def __init__(self, port: int, rcvbuf: int = 0, path="/api/v1/events", headers=""):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.s.settimeout(T(10))
        self.s.connect(("127.0.0.1", port))
        self.s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode())
        self.buf = b""

    def head(self) -> tuple[int, str]:
        """Status and headers (the stream's opening comment must follow)."""
        while b"\r\n\r\n" not in self.buf:
            self._recv()
        head, self.raw = self.buf.split(b"\r\n\r\n", 1)
        self.buf = b""
        self._dechunk()
        lines = head.decode().split("\r\n")
        return int(lines[0].split()[1]), "\n".join(lines[1:]).lower()

    def _dechunk(self):
        """Move whole chunks of the chunked body from raw to buf."""
        while b"\r\n" in self.raw:
            size_line, rest = self.raw.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            if len(rest) < size + 2:
                return
            self.buf += rest[:size]
            self.raw = rest[size + 2:]

    def _recv(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError("stream closed")
        if hasattr(self, "raw"):
            self.raw += d
            self._dechunk()
        else:
            self.buf += d

    def events(self, count: int) -> list[dict]:
        """The next count JSON events (chunked framing is read through:
        only "data: " lines are looked at)."""
        out: list[dict] = []
        while True:
            for line in self.buf.split(b"\n")[:-1]:   # whole lines only
                if line.startswith(b"data: "):
                    out.append(json.loads(line[6:]))
            if len(out) >= count:
                return out
            out = []
            self._recv()

    def close(self):
        self.s.close()


# --- reads ---


def test_machines_hosts_profiles(kidou_factory, tmp_path):
    cfg = write_config(tmp_path / "k.ini", hosts=3)
    k = start(kidou_factory, tmp_path, cfg)
    port = http_port(k)

    st, h, machines = get(port, "/api/v1/machines")
    assert st == 200 and h["content-type"] == "application/json"
    assert [m["mac"] for m in machines] == [mac_of(0), mac_of(1), mac_of(2)]
    m = machines[1]
    assert m == {"mac": mac_of(1), "ip": "10.9.0.1", "hostname": "node1", "host": "h1",
                 "profile": "inst", "next_boot": {"mode": "default"},
                 "install_pending": False, "lease": None, "timeline": None}

    # one machine, whatever the MAC's spelling
    st, _, one = get(port, "/api/v1/machines/52-54-00-00-00-02")
    assert st == 200 and one["host"] == "h2"
    st, _, one = get(port, "/api/v1/machines/525400000002")
    assert st == 200 and one["mac"] == mac_of(2)

    st, _, hosts = get(port, "/api/v1/hosts")
    assert st == 200 and [x["name"] for x in hosts] == ["h2", "h1", "h0"]   # file order
    assert hosts[0] == {"name": "h2", "mac": mac_of(2), "uuid": None, "ip": "10.9.0.2",
                        "hostname": "node2", "profile": "inst", "boot": {},
                        "source": "config", "active": True}

    st, _, profiles = get(port, "/api/v1/profiles")
    assert st == 200
    assert profiles == [
        {"name": "inst", "kernel": "linux/vmlinuz", "initrds": ["linux/a.img", "linux/b.img"],
         "cmdline": "console=ttyS0 ip=${ip}"},
        {"name": "rescue", "kernel": "r/vmlinuz", "initrds": [], "cmdline": ""}]

    # no DHCP: no leases
    st, _, leases = get(port, "/api/v1/leases")
    assert st == 200 and leases == []
    # HEAD goes where GET does, without a body
    st, h, body = request(port, "HEAD", "/api/v1/machines")
    assert st == 200 and body == b"" and h["content-type"] == "application/json"


def test_1000_hosts(kidou_factory, tmp_path):
    cfg = write_config(tmp_path / "k.ini", hosts=1000)
    k = start(kidou_factory, tmp_path, cfg)
    st, _, machines = get(http_port(k), "/api/v1/machines")
    assert st == 200 and len(machines) == 1000
    assert [m["mac"] for m in machines] == [mac_of(i) for i in range(1000)]
    assert all(m["host"] == f"h{i}" and m["ip"] == f"10.9.{i >> 8}.{i & 255}"
               for i, m in enumerate(machines))


# --- refusals ---


def test_errors_are_json(kidou_factory, tmp_path):
    cfg = write_config(tmp_path / "k.ini")
    k = start(kidou_factory, tmp_path, cfg)
    port = http_port(k)

    st, h, e = get(port, "/api/v1/nothing")
    assert st == 404 and h["content-type"] == "application/json" and e["error"]
    st, _, e = get(port, "/api/v1/machines/52:54:00:00:00:01/extra")
    assert st == 404 and e["error"]
    st, _, e = get(port, "/api/v1/machines/52:54:00:aa:bb:cc")
    assert st == 404 and e == {"error": "no such machine", "field": "mac"}
    for bad in ("zz:54:00:00:00:01", "52:54:00:00:00", "52:54:00:00:00:01:02", "x" * 40):
        st, _, e = get(port, f"/api/v1/machines/{bad}")
        assert st == 400 and e["field"] == "mac", (bad, e)
    # wrong method: 405 with Allow
    st, h, e = request(port, "DELETE", "/api/v1/machines")
    assert st == 405 and h["allow"] == "GET, HEAD" and e["error"]
    st, h, e = request(port, "GET", "/api/v1/hosts/h1")
    assert st == 405 and h["allow"] == "PUT, DELETE"
    st, h, e = request(port, "PATCH", "/api/v1/hosts")
    assert st == 405 and h["allow"] == "GET, HEAD"
    # a read takes no body
    st, _, e = request(port, "GET", "/api/v1/hosts", body=b"{}",
                       headers={"Content-Type": "application/json"})
    assert st == 400 and "body" in e["error"]
    # bounded path
    st, _, e = get(port, "/api/v1/machines/" + "a" * 400)
    assert st == 414 and e["error"]
    # the file server still answers outside /api/
    st, _, body = get(port, "/metrics")
    assert st == 200 and b"kidou_" in body
    assert k.alive()


def test_writes_without_token_file(kidou_factory, tmp_path):
    cfg = write_config(tmp_path / "k.ini")
    k = start(kidou_factory, tmp_path, cfg)
    port = http_port(k)
    for method, path in (("PUT", "/api/v1/hosts/h1"), ("DELETE", "/api/v1/hosts/h1"),
                         ("PUT", "/api/v1/machines/52:54:00:00:00:01/next-boot"),
                         ("POST", "/api/v1/machines/52:54:00:00:00:01/done")):
        st, _, e = request(port, method, path, body=b'{"local": true}',
                           headers={"Authorization": f"Bearer {TOKEN}"})
        assert st == 403, (method, path, st)
        assert e == {"error": "no token-file configured, writes are disabled"}
    # reads are open
    assert get(port, "/api/v1/hosts")[0] == 200


def test_writes_need_the_token(kidou_factory, tmp_path):
    tok = token_file(tmp_path)
    cfg = write_config(tmp_path / "k.ini", api=f"token-file = {tok}")
    k = start(kidou_factory, tmp_path, cfg)
    port = http_port(k)
    path = "/api/v1/machines/52:54:00:00:00:01/next-boot"
    body = b'{"profile": "inst", "once": true}'
    for auth in (None, "Bearer wrong", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}",
                 f"Basic {TOKEN}", TOKEN):
        hdrs = {"Authorization": auth} if auth else {}
        st, h, e = request(port, "PUT", path, headers=hdrs, body=body)
        assert st == 401, (auth, st, e)
        assert h["www-authenticate"].startswith("Bearer") and e["error"]
    # past the token: without DHCP there is no lease database to keep
    # next-boot records in (test_next_boot.py has the writes themselves)
    st, _, e = request(port, "PUT", path, body=body,
                       headers={"Authorization": f"Bearer {TOKEN}"})
    assert st == 409 and "lease database" in e["error"]
    st, _, e = request(port, "PUT", "/api/v1/hosts/h9", body=b'{"mac": "52:54:00:00:00:09"}',
                       headers={"Authorization": f"bearer {TOKEN}"})   # scheme: any case
    assert st == 409 and "database" in e["error"]   # hosts writes need it too
    # the token checked, a bad MAC is still a 400
    st, _, e = request(port, "POST", "/api/v1/machines/nope/done",
                       headers={"Authorization": f"Bearer {TOKEN}"})
    assert st == 400 and e["field"] == "mac"
    # a path without writes: 405, token or not
    st, h, e = request(port, "PUT", "/api/v1/leases",
                       headers={"Authorization": f"Bearer {TOKEN}"})
    assert st == 405 and h["allow"] == "GET, HEAD"
    # reads stay open by default
    assert get(port, "/api/v1/machines")[0] == 200
    assert "world" not in k.text() and "token-file-readable" not in k.text()
    assert TOKEN not in k.text(), "the token must never be logged"


def test_read_token(kidou_factory, tmp_path):
    tok = token_file(tmp_path)
    cfg = write_config(tmp_path / "k.ini", api=f"token-file = {tok}\nread-token = yes")
    k = start(kidou_factory, tmp_path, cfg)
    port = http_port(k)
    for path in ("/api/v1/machines", "/api/v1/hosts", "/api/v1/events"):
        st, _, e = get(port, path)
        assert st == 401 and e["error"], path
        st, _, e = get(port, path, headers={"Authorization": "Bearer nope-nope-nope-nope"})
        assert st == 401, path
    st, _, machines = get(port, "/api/v1/machines",
                          headers={"Authorization": f"Bearer {TOKEN}"})
    assert st == 200 and len(machines) == 2


def test_token_file_checks(kidou_factory, tmp_path):
    # too short: refused at start, naming the key
    short = token_file(tmp_path, "short")
    cfg = write_config(tmp_path / "k.ini", api=f"token-file = {short}")
    cp = kidou_factory.run(["--config", cfg, "--http-listen", "127.0.0.1:0"])
    assert cp.returncode != 0 and "token-file" in cp.stderr and "16" in cp.stderr
    # not a regular file
    cfg = write_config(tmp_path / "k2.ini", api=f"token-file = {tmp_path}")
    cp = kidou_factory.run(["--config", cfg, "--http-listen", "127.0.0.1:0"])
    assert cp.returncode != 0 and "regular file" in cp.stderr
    # read-token without a token file
    cfg = write_config(tmp_path / "k3.ini", api="read-token = yes")
    cp = kidou_factory.run(["--config", cfg, "--http-listen", "127.0.0.1:0"])
    assert cp.returncode != 0 and "read-token" in cp.stderr
    # world-readable: a warning, and it still works
    tok = token_file(tmp_path, mode=0o644)
    cfg = write_config(tmp_path / "k4.ini", api=f"token-file = {tok}")
    k = start(kidou_factory, tmp_path, cfg)
    assert k.events("token-file-readable", mod="config")
    st, _, _ = request(http_port(k), "DELETE", "/api/v1/hosts/h1",
                       headers={"Authorization": f"Bearer {TOKEN}"})
    assert st == 409   # past the token: h1 is the config file's, read-only


def test_token_reload(kidou_factory, tmp_path):
    """SIGHUP reads the token file again."""
    tok = token_file(tmp_path)
    cfg = write_config(tmp_path / "k.ini", api=f"token-file = {tok}")
    k = start(kidou_factory, tmp_path, cfg)
    port = http_port(k)
    new = "another-token-abcdefghijkl"
    tok.write_text(new + "\n")
    import signal
    k.signal(signal.SIGHUP)
    k.wait_event("reloaded", mod="main", timeout=T(10))
    path = "/api/v1/hosts/h1"
    assert request(port, "DELETE", path, headers={"Authorization": f"Bearer {TOKEN}"})[0] == 401
    assert request(port, "DELETE", path, headers={"Authorization": f"Bearer {new}"})[0] == 409


def test_api_listen(kidou_factory, tmp_path):
    """[api] listen: the API on its own address; the file server no longer
    answers /api/ (there it is a path like any other)."""
    cfg = write_config(tmp_path / "k.ini", api="listen = 127.0.0.1:0")
    k = start(kidou_factory, tmp_path, cfg)
    ports = [int(e["addr"].rsplit(":", 1)[1]) for e in k.events("listening", mod="http")]
    assert len(ports) == 2
    api = [int(e["addr"].rsplit(":", 1)[1]) for e in k.events("listening", mod="http")
           if e.get("serves") == "api"]
    assert len(api) == 1
    files = [p for p in ports if p != api[0]][0]
    st, _, hosts = get(api[0], "/api/v1/hosts")
    assert st == 200 and len(hosts) == 2
    st, _, body = get(files, "/api/v1/hosts")
    assert st == 404 and not isinstance(body, list)
    st, _, _ = get(api[0], "/metrics")
    assert st == 404


# --- events ---


def test_events_stream(kidou_factory, tmp_path):
    cfg = write_config(tmp_path / "k.ini")
    k = start(kidou_factory, tmp_path, cfg)
    sse = Sse(http_port(k))
    status, headers = sse.head()
    assert status == 200 and "content-type: text/event-stream" in headers
    k.wait_event("events-open", mod="api", timeout=T(5))
    tftp_miss(k.port, "pxelinux.cfg/default")
    ev = sse.events(1)[0]
    assert ev["kind"] == "file-miss" and ev["proto"] == "tftp"
    assert ev["file"] == "pxelinux.cfg/default" and ev["ip"] == "127.0.0.1"
    assert ev["seq"] >= 1 and ev["time"].endswith("Z")
    # a second event, later: the stream waited for it
    tftp_miss(k.port, "second")
    evs = sse.events(2)
    assert evs[1]["file"] == "second" and evs[1]["seq"] > evs[0]["seq"]
    sse.close()


def test_100_subscribers(kidou_factory, tmp_path):
    cfg = write_config(tmp_path / "k.ini")
    # the subscribers all come from 127.0.0.1: allow them past the
    # per-address cap
    k = start(kidou_factory, tmp_path, cfg, "--http-max-connections-per-address", "200")
    port = http_port(k)
    subs = [Sse(port) for _ in range(100)]
    for s in subs:
        assert s.head()[0] == 200
    k.wait_event("events-open", mod="api", count=100, timeout=T(10))
    tftp_miss(k.port, "for-everyone")
    for s in subs:
        assert s.events(1)[0]["file"] == "for-everyone"
        s.close()


def test_max_event_streams(kidou_factory, tmp_path):
    cfg = write_config(tmp_path / "k.ini", api="max-event-streams = 2")
    k = start(kidou_factory, tmp_path, cfg)
    port = http_port(k)
    a, b = Sse(port), Sse(port)
    assert a.head()[0] == 200 and b.head()[0] == 200
    st, _, e = get(port, "/api/v1/events")
    assert st == 503 and "max-event-streams" in e["error"]
    assert k.events("events-refused", mod="api")
    a.close()   # a place frees up once kidou sees it gone: writing
    # events to it finds it closed (the second write after the peer's
    # reset fails)
    for _ in range(20):
        tftp_miss(k.port, "wake")
        if k.events("events-closed", mod="api"):
            break
    assert k.events("events-closed", mod="api")
    c = Sse(port)
    assert c.head()[0] == 200
    b.close()
    c.close()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_slow_subscriber_dropped(kidou_factory, tmp_path):
    """A subscriber that never reads is dropped once its buffer is full;
    another keeps receiving every event, and kidou's memory stays put."""
    cfg = write_config(tmp_path / "k.ini")
    k = start(kidou_factory, tmp_path, cfg)
    port = http_port(k)
    stuck = Sse(port, rcvbuf=4096)
    reader = Sse(port)
    assert reader.head()[0] == 200
    k.wait_event("events-open", mod="api", count=2, timeout=T(5))
    rss_before = rss_kib(k.pid)
    name = "n" * 400   # each event ~600 bytes
    got = 0
    for round_ in range(300):
        tftp_miss(k.port, f"{name}{round_}", n=100)
        got = len(reader.events(100 * (round_ + 1)))
        if k.events("events-dropped", mod="api"):
            break
    drops = k.events("events-dropped", mod="api")
    assert drops, "the stuck subscriber was never dropped"
    assert drops[0]["reason"] == "slow-reader"
    # the reader still gets what comes after the drop
    tftp_miss(k.port, "after-drop")
    evs = reader.events(got + 1)
    assert evs[-1]["file"] == "after-drop"
    # nothing was lost for the reader: sequence numbers without a gap
    seqs = [e["seq"] for e in evs]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    # the stuck one's connection is closed by kidou
    stuck.s.settimeout(T(10))
    with pytest.raises((EOFError, ConnectionResetError)):
        while True:
            stuck._recv()
    # (ASan keeps freed memory in quarantine, up to 256 MiB by default)
    limit = 300 * 1024 if SANITIZED else 16 * 1024
    assert rss_kib(k.pid) - rss_before < limit, "RSS grew with a stuck subscriber"
    reader.close()


def test_machines_from_dhcp(dhcp_net, dhcpd, tmp_path):
    """A machine nobody configured: its lease and its boot timeline show up
    under its MAC, and its DHCP events reach the stream with that MAC."""
    root = tmp_path / "tftp"
    root.mkdir()
    (root / "boot.0").write_bytes(b"B" * 5000)
    k = dhcpd("--http-listen", f"{SRV_ADDR}:8080", tftp_root=root)
    # the subscriber is in the server namespace, on its loopback: use curl
    # there to collect the stream
    out = tmp_path / "sse.out"
    sse = subprocess.Popen(["ip", "netns", "exec", dhcp_net.srv, "curl", "-sN", "--max-time",
                            str(int(T(20))), f"http://{SRV_ADDR}:8080/api/v1/events",
                            "-o", str(out)])
    try:
        k.wait_event("events-open", mod="api", timeout=T(5))
        env = Udhcpc(dhcp_net, tmp_path, name="firmware").once(*FIRMWARE)
        ip = env["ip"]
        cp = subprocess.run(["ip", "netns", "exec", dhcp_net.cli, "curl", "-sS", "-o", "/dev/null",
                             f"tftp://{SRV_ADDR}/boot.0"], timeout=T(20))
        assert cp.returncode == 0

        def api(path):
            cp = subprocess.run(["ip", "netns", "exec", dhcp_net.cli, "curl", "-sS",
                                 f"http://{SRV_ADDR}:8080{path}"], capture_output=True,
                                timeout=T(20))
            return json.loads(cp.stdout)
        m = api(f"/api/v1/machines/{dhcp_net.client_mac}")
        assert m["mac"] == dhcp_net.client_mac and m["ip"] == ip and m["host"] is None
        assert m["lease"]["ip"] == ip and m["lease"]["state"] == "bound"
        t = m["timeline"]
        assert t["open"] is True and t["outcome"] == "in-progress"
        names = [s["name"] for s in t["steps"]]
        assert names[:2] == ["dhcp-offer", "dhcp-ack"], names
        assert names[2] == "tftp:boot.0" and t["steps"][2]["state"] == "ok", t
        assert [s["start_ms"] for s in t["steps"]] == sorted(s["start_ms"] for s in t["steps"])
        leases = api("/api/v1/leases")
        assert [(x["ip"], x["mac"], x["state"]) for x in leases] == \
            [(ip, dhcp_net.client_mac, "bound")]
        assert leases[0]["client_id"] == "01" + dhcp_net.client_mac.replace(":", "")
        machines = api("/api/v1/machines")
        assert [x["mac"] for x in machines] == [dhcp_net.client_mac]

        def seen():
            text = out.read_text() if out.exists() else ""
            evs = [json.loads(line[6:]) for line in text.splitlines()
                   if line.startswith("data: ")]
            return [e for e in evs if e["kind"] == "file-end"] and evs
        deadline = time.monotonic() + T(10)
        while not seen() and time.monotonic() < deadline:
            time.sleep(0.05)
        evs = seen()
        assert evs, "no events on the stream"
        dhcp = [e for e in evs if e["kind"] == "dhcp"]
        assert [e["dhcp"] for e in dhcp][:2] == ["offer", "ack"]
        assert all(e["mac"] == dhcp_net.client_mac and e["firmware"] for e in dhcp)
        fe = [e for e in evs if e["kind"] == "file-end"][0]
        # a file request carries only an address: the timeline names its MAC
        assert fe["mac"] == dhcp_net.client_mac and fe["ip"] == ip and fe["bytes"] == 5000
    finally:
        sse.terminate()
        sse.wait()
