"""kidou's HTTP server against hostile clients (issue 12): slowloris (a
request's headers trickled one byte at a time), one address taking every
connection, a full server, a client that reads a little of a big file and
leaves, requests libmicrohttpd answers itself, and request lines or headers
that must be refused with 400 (a NUL byte, conflicting Content-Length,
HTTP/1.1 without Host).

All traffic is on loopback. A second client address is 127.0.0.2 (all of
127.0.0.0/8 is local on Linux), so "another machine" needs no namespace."""
from __future__ import annotations

import select
import socket
import threading
import time

import pytest

from kidou_testlib import T
from test_http import curl, get, parse_response, raw_exchange, recv_all, scrape, start_http

BIG = "size40m.bin"
BIG_SIZE = 40 << 20


def connect_from(port: int, source: str = "127.0.0.1") -> socket.socket:
    s = socket.socket()
    s.bind((source, 0))
    s.settimeout(T(5))
    s.connect(("127.0.0.1", port))
    return s


class Slowloris:
    """n connections that each send a request's headers one byte at a time,
    one byte per `every` seconds per connection, never finishing them. A
    thread trickles; `closed` holds the connections the server closed, with
    what it sent them."""

    HEAD = b"GET /size1.bin HTTP/1.1\r\nHost: x\r\nX-Slow: "

    def __init__(self, port: int, n: int, every: float = 1.0, sources=("127.0.0.1",)):
        self.socks = []
        for i in range(n):
            s = socket.socket()
            s.bind((sources[i % len(sources)], 0))
            s.connect(("127.0.0.1", port))
            s.setblocking(False)
            self.socks.append(s)
        self.sent = {s: 0 for s in self.socks}
        self.received = {s: b"" for s in self.socks}
        self.closed: dict[socket.socket, bytes] = {}
        self.every = every
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.is_set():
            for s in self.socks:
                if s in self.closed:
                    continue
                i = self.sent[s]
                byte = self.HEAD[i:i + 1] or b"a"
                try:
                    s.send(byte)
                    self.sent[s] += 1
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    self.closed[s] = self.received[s]
                    continue
                try:
                    while True:
                        chunk = s.recv(4096)
                        if not chunk:
                            self.closed[s] = self.received[s]
                            break
                        self.received[s] += chunk
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    self.closed[s] = self.received[s]
            self.stop.wait(self.every)

    def open_count(self) -> int:
        return len(self.socks) - len(self.closed)

    def close(self):
        self.stop.set()
        self.thread.join(T(10))
        for s in self.socks:
            s.close()


def metric(port, key) -> float:
    m, _ = scrape(port)
    assert key in m, f"{key} missing from /metrics"
    return m[key]


# --------------------------------------------------------------------------
# slowloris and header-timeout


def test_slowloris_closed_after_header_timeout(kidou_factory, tftp_root):
    """One header byte per second never lets idle-timeout (30 s) fire; the
    header deadline (2 s here) closes the connection anyway, says 408, logs
    and counts it."""
    k, port = start_http(kidou_factory, "--http-header-timeout", "2", root=tftp_root)
    loris = Slowloris(port, 1, every=T(0.5))
    try:
        k.wait_for(lambda: loris.open_count() == 0, T(20),
                   "the slowloris connection to be closed by the server")
        got = next(iter(loris.closed.values()))
        assert got.startswith(b"HTTP/1.1 408 "), got[:200]
        # well past the deadline, yet still the start of one request
        assert loris.sent[loris.socks[0]] < 200
    finally:
        loris.close()
    ev = k.wait_event("header-timeout", mod="http", timeout=T(5))
    assert ev["peer"].startswith("127.0.0.1:")
    assert metric(port, "kidou_http_header_timeouts_total") == 1
    assert get(port, "/size1.bin").status == 200


def test_keepalive_slowloris_closed_too(kidou_factory, tftp_root):
    """The deadline restarts after each request: a first request served on
    a keep-alive connection does not buy the second one unlimited time."""
    k, port = start_http(kidou_factory, "--http-header-timeout", "2", root=tftp_root)
    s = connect_from(port)
    try:
        s.sendall(b"GET /size1.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        buf = b""
        while b"\r\n\r\n" not in buf or len(buf) < buf.find(b"\r\n\r\n") + 5:
            buf += s.recv(4096)
        r, _ = parse_response(buf)
        assert r.status == 200
        closed = False
        deadline = time.monotonic() + T(20)
        for b in b"GET /size1.bin HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
            try:
                s.send(bytes([b]))
            except OSError:
                closed = True
                break
            rd, _, _ = select.select([s], [], [], T(0.5))
            if rd:
                try:
                    closed = s.recv(4096) == b""
                except OSError:
                    closed = True
                if closed:
                    break
            if time.monotonic() > deadline:
                break
        assert closed, "a keep-alive connection trickling its second request was never closed"
    finally:
        s.close()
    k.wait_event("header-timeout", mod="http", timeout=T(5))


def test_fetch_while_50_slowloris(kidou_factory, tftp_root):
    """50 slowloris connections against --http-max-connections 50: before,
    they held every slot and nobody else was served for as long as they
    trickled. Now one address gets at most its cap (16) and the rest are
    refused, so another machine is served while all 50 still trickle."""
    k, port = start_http(kidou_factory, "--http-max-connections", "50", root=tftp_root)
    loris = Slowloris(port, 50, every=T(1.0))
    try:
        time.sleep(T(0.5))
        cp = curl(["-sS", "--interface", "127.0.0.2", "-o", "/dev/null", "-w", "%{http_code}",
                   "--max-time", str(T(5)), f"http://127.0.0.1:{port}/size1.bin"], timeout=T(10))
        assert cp.stdout == b"200", f"curl rc={cp.returncode} {cp.stderr!r}"
        # the refused ones were told why
        k.wait_for(lambda: len(loris.closed) >= 50 - 16, T(10), "34 refusals")
        assert all(v.startswith(b"HTTP/1.1 503 ") for v in loris.closed.values()), \
            [v[:40] for v in loris.closed.values()]
    finally:
        loris.close()


def test_full_server_answers_503(kidou_factory, tftp_root):
    """With every slot taken, a new client is told 503, not reset or left
    hanging; once a slot frees it is served."""
    k, port = start_http(kidou_factory, "--http-max-connections", "2", root=tftp_root)
    idle = [connect_from(port, "127.0.0.%d" % (10 + i)) for i in range(2)]
    try:
        time.sleep(T(0.3))
        raw, closed = raw_exchange(port, b"GET /size1.bin HTTP/1.1\r\nHost: x\r\n\r\n", shut_wr=False)
        r, _ = parse_response(raw)
        assert r.status == 503 and closed, raw[:200]
        assert r.header("connection") == "close"
        k.wait_event("refused", mod="http", reason="max-connections", timeout=T(5))
    finally:
        for s in idle:
            s.close()
    time.sleep(T(0.3))
    assert get(port, "/size1.bin").status == 200
    assert metric(port, 'kidou_http_connections_refused_total{reason="max-connections"}') == 1


def test_per_address_cap(kidou_factory, tftp_root):
    """--http-max-connections-per-address 3: a fourth connection from one
    address gets 503 while another address is served."""
    k, port = start_http(kidou_factory, "--http-max-connections-per-address", "3",
                         root=tftp_root)
    held = [connect_from(port) for _ in range(3)]
    try:
        time.sleep(T(0.3))
        fourth = connect_from(port)
        fourth.sendall(b"GET /size1.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        raw, closed = recv_all(fourth, T(5))
        fourth.close()
        r, _ = parse_response(raw)
        assert r.status == 503 and closed, raw[:200]
        other = connect_from(port, "127.0.0.2")
        other.sendall(b"GET /size1.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        raw, _ = recv_all(other, T(5))
        other.close()
        assert parse_response(raw)[0].status == 200, raw[:200]
        ev = k.wait_event("refused", mod="http", timeout=T(5))
        assert ev["reason"] == "max-connections-per-address" and ev["status"] == "503"
    finally:
        for s in held:
            s.close()
    time.sleep(T(0.3))
    m, _ = scrape(port)
    assert m['kidou_http_connections_refused_total{reason="max-connections-per-address"}'] == 1
    assert m['kidou_http_connections_refused_total{reason="max-connections"}'] == 0


# --------------------------------------------------------------------------
# bytes counted as sent


def test_bytes_counted_for_client_that_leaves_early(kidou_factory, tftp_root):
    """A client reads 1000 bytes of 40 MiB and closes: the access log and
    kidou_http_bytes_total count about what reached it (its small receive
    buffer bounds that), not the whole file."""
    k, port = start_http(kidou_factory, root=tftp_root)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    s.settimeout(T(5))
    s.connect(("127.0.0.1", port))
    s.sendall(f"GET /{BIG} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    got = b""
    while len(got) < 1000:
        got += s.recv(1000 - len(got))
    time.sleep(T(0.3))
    s.close()
    ev = k.wait_event("request", mod="http", path=f"/{BIG}", timeout=T(40))
    assert ev["complete"] == "no" and ev["status"] == "200"
    assert int(ev["bytes"]) < BIG_SIZE // 10, ev
    assert metric(port, "kidou_http_bytes_total") < BIG_SIZE // 10


def test_bytes_counted_in_full_for_whole_file(kidou_factory, tftp_root, tmp_path):
    k, port = start_http(kidou_factory, root=tftp_root)
    cp = curl(["-sS", "-o", str(tmp_path / "big"), f"http://127.0.0.1:{port}/{BIG}"])
    assert cp.returncode == 0
    ev = k.wait_event("request", mod="http", path=f"/{BIG}", timeout=T(10))
    assert ev["bytes"] == str(BIG_SIZE) and ev["complete"] == "yes"
    assert metric(port, "kidou_http_bytes_total") == BIG_SIZE


# --------------------------------------------------------------------------
# libmicrohttpd's own answers


MHD_ANSWERS = [
    (b"GET /size1.bin HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    (b"GET /" + b"a" * 40000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    (b"GET /size1.bin HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 33000 + b"\r\n\r\n", 431),
    (b"GET /size1.bin HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n", 400),
]


def test_libmicrohttpd_answers_logged_and_counted(kidou_factory, tftp_root):
    k, port = start_http(kidou_factory, root=tftp_root)
    for data, status in MHD_ANSWERS:
        raw, _ = raw_exchange(port, data, shut_wr=False)
        assert parse_response(raw)[0].status == status, (status, raw[:100])
        ev = k.wait_event("request", mod="http", status=str(status), timeout=T(5))
        assert ev["peer"].startswith("127.0.0.1:")
    assert not k.events("request", mod="http", status="0")
    m, _ = scrape(port)
    assert m['kidou_http_responses_total{class="4xx"}'] == 3
    assert m['kidou_http_responses_total{class="5xx"}'] == 1
    assert m["kidou_http_requests_total"] == 5  # the scrape itself counts too


# --------------------------------------------------------------------------
# 400 refusals


def one_response(port, data: bytes):
    raw, _ = raw_exchange(port, data, shut_wr=False)
    return parse_response(raw)[0]


@pytest.mark.parametrize("line", [b"GET /size1.bin\x00.txt HTTP/1.1",
                                  b"GET /size1.bin\x00 HTTP/1.1",
                                  b"GET /size1.bin?a\x00b HTTP/1.1"])
def test_nul_in_request_line_400(kidou_factory, tftp_root, line):
    k, port = start_http(kidou_factory, root=tftp_root)
    r = one_response(port, line + b"\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert r.status == 400, r
    assert one_response(port, b"GET /size1.bin HTTP/1.1\r\nHost: x\r\n"
                              b"Connection: close\r\n\r\n").status == 200


@pytest.mark.parametrize("lengths", [(b"0", b"5"), (b"5", b"0")])
def test_conflicting_content_length_400(kidou_factory, tftp_root, lengths):
    k, port = start_http(kidou_factory, root=tftp_root)
    r = one_response(port, b"GET /size1.bin HTTP/1.1\r\nHost: x\r\nContent-Length: " + lengths[0]
                     + b"\r\nContent-Length: " + lengths[1] + b"\r\nConnection: close\r\n\r\nhello")
    assert r.status == 400, r


def test_host_required_for_http11(kidou_factory, tftp_root):
    """RFC 9112 3.2: HTTP/1.1 without Host, or with two, is 400; HTTP/1.0
    need not send one."""
    k, port = start_http(kidou_factory, root=tftp_root)
    assert one_response(port, b"GET /size1.bin HTTP/1.1\r\nConnection: close\r\n\r\n").status == 400
    assert one_response(port, b"GET /size1.bin HTTP/1.1\r\nHost: a\r\nHost: b\r\n"
                              b"Connection: close\r\n\r\n").status == 400
    assert one_response(port, b"GET /size1.bin HTTP/1.0\r\n\r\n").status == 200
    assert one_response(port, b"GET /size1.bin HTTP/1.1\r\nHost: a\r\n"
                              b"Connection: close\r\n\r\n").status == 200
