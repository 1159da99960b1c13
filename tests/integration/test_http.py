"""kidou's HTTP server (iPXE / UEFI HTTP boot): whole files and byte ranges
compared by sha256, keep-alive, what is refused and how, hostile input,
concurrency, the access log, /metrics, separate and reloaded roots, and
the connection limit.

kidou listens for HTTP on 127.0.0.1 port 0 too; the port is read back from
its `mod=http event=listening addr=127.0.0.1:PORT` line. Clients are curl,
http.client and raw sockets (for requests no library would send)."""
from __future__ import annotations

import http.client
import os
import re
import select
import signal
import socket
import stat
import struct
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from kidou_testlib import T, make_file, sha256_bytes, sha256_file

SECRET = b"KIDOU-HTTP-SECRET-OUTSIDE-THE-ROOT\n"
TEXT = "text/plain; charset=utf-8"
BINARY = "application/octet-stream"
SIZES = {"size0.bin": 0, "size1.bin": 1, "size1m.bin": 1 << 20, "size40m.bin": 40 << 20}


# --------------------------------------------------------------------------
# helpers


def http_port(k) -> int:
    ev = k.events("listening", mod="http")
    assert ev, f"no `mod=http event=listening` line:\n{k.text()[-3000:]}"
    port = int(ev[-1]["addr"].rsplit(":", 1)[1])
    assert ev[-1]["addr"].startswith("127.0.0.1:") and 1024 <= port <= 65535, ev[-1]
    return port


def start_http(kidou_factory, *extra, root=None, http_root=None, **kw):
    """kidou with TFTP on `root` and HTTP on `http_root` (default: the same
    tree), both on 127.0.0.1:0. Returns (kidou, http port)."""
    args = ["--http-listen", "127.0.0.1:0"]
    if http_root is not None or root is not None:
        args += ["--http-root", str(http_root or root)]
    k = kidou_factory(*args, *extra, root=root, **kw)
    return k, http_port(k)


def recv_all(sock, timeout: float, limit: int = 64 << 20) -> tuple[bytes, bool]:
    """Everything until the peer closes; (data, closed). closed is False if
    `timeout` ran out first."""
    data = bytearray()
    deadline = time.monotonic() + timeout
    while len(data) < limit:
        left = deadline - time.monotonic()
        if left <= 0:
            return bytes(data), False
        r, _, _ = select.select([sock], [], [], left)
        if not r:
            return bytes(data), False
        try:
            chunk = sock.recv(1 << 16)
        except (ConnectionResetError, BrokenPipeError):
            return bytes(data), True
        if not chunk:
            return bytes(data), True
        data += chunk
    return bytes(data), False


def raw_exchange(port: int, data: bytes, timeout: float = 5.0, shut_wr: bool = True
                 ) -> tuple[bytes, bool]:
    """Send raw bytes on a fresh connection, half-close, read until the
    server closes. Returns (everything received, closed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=T(timeout)) as s:
        try:
            s.sendall(data)
            if shut_wr:
                s.shutdown(socket.SHUT_WR)
        except (ConnectionResetError, BrokenPipeError):
            pass  # the server may close while we still send: that is fine
        return recv_all(s, T(timeout))


class Response(SimpleNamespace):
    status: int
    reason: str
    headers: dict
    body: bytes

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)


def parse_response(buf: bytes, head: bool = False) -> tuple[Response, bytes]:
    """One HTTP/1.x response off the front of buf: (response, rest). The
    body is framed by Content-Length (kidou never sends chunked); without
    one, the rest of buf is the body."""
    end = buf.find(b"\r\n\r\n")
    assert end >= 0, f"no complete response header in {buf[:300]!r}"
    head_lines = buf[:end].decode("latin-1").split("\r\n")
    m = re.fullmatch(r"HTTP/1\.[01] (\d{3}) ?(.*)", head_lines[0])
    assert m, f"bad status line {head_lines[0]!r}"
    headers = {}
    for line in head_lines[1:]:
        name, sep, value = line.partition(":")
        assert sep and name and name == name.strip(), f"bad header line {line!r}"
        assert name.lower() not in headers, f"duplicate header {name}: {head_lines}"
        headers[name.lower()] = value.strip()
    rest = buf[end + 4:]
    status = int(m.group(1))
    if head or status in (204, 304) or 100 <= status < 200:
        body = b""
    elif "content-length" in headers:
        n = int(headers["content-length"])
        assert len(rest) >= n, f"body cut short: {len(rest)} of {n} bytes"
        body, rest = rest[:n], rest[n:]
    else:
        body, rest = rest, b""
    return Response(status=status, reason=m.group(2), headers=headers, body=body), rest


def raw_request(port: int, target: str | bytes, method: str = "GET", headers=(),
                timeout: float = 5.0) -> tuple[Response, bytes]:
    """One request with Connection: close, target sent exactly as given.
    Returns (response, every byte received)."""
    target = target if isinstance(target, bytes) else target.encode("latin-1")
    req = method.encode() + b" " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    for name, value in headers:
        req += f"{name}: {value}\r\n".encode("latin-1")
    req += b"Connection: close\r\n\r\n"
    raw, closed = raw_exchange(port, req, timeout=timeout, shut_wr=False)
    assert closed, f"server did not close after Connection: close; got {raw[:300]!r}"
    resp, rest = parse_response(raw, head=(method == "HEAD"))
    assert rest == b"", f"bytes after the response: {rest[:200]!r}"
    return resp, raw


def get(port, path, headers=None, method="GET", body=None, timeout=30.0) -> Response:
    """One request through http.client on a fresh connection."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=T(timeout))
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        return Response(status=r.status, reason=r.reason, body=data,
                        headers={k.lower(): v for k, v in r.getheaders()})
    finally:
        c.close()


def curl(args, timeout=60.0) -> subprocess.CompletedProcess:
    return subprocess.run(["curl", "-sS", "--max-time", str(int(T(timeout)))] + list(args),
                          capture_output=True, timeout=T(timeout) + 10,
                          stdin=subprocess.DEVNULL)


def curl_get(port, path, out: Path, extra=(), timeout=60.0) -> tuple[int, dict]:
    """curl GET into out; returns (status, headers)."""
    hdr = out.with_name(out.name + ".hdr")
    cp = curl(["-o", str(out), "-D", str(hdr), "-w", "%{http_code}", *extra,
               f"http://127.0.0.1:{port}{path}"], timeout=timeout)
    assert cp.returncode == 0, f"curl failed rc={cp.returncode}: {cp.stderr!r}"
    blocks = hdr.read_bytes().decode("latin-1").split("\r\n\r\n")
    headers = {}
    for line in blocks[0].split("\r\n")[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return int(cp.stdout), headers


def assert_serves(k, port, corpus, name="size1m.bin"):
    """kidou is alive and serves a normal GET correctly, on a new connection."""
    assert k.alive(), f"kidou died:\n{k.text()[-3000:]}"
    r = get(port, "/" + name, timeout=10)
    assert r.status == 200, (r.status, r.body[:200])
    assert sha256_bytes(r.body) == corpus[name][1]
    assert k.alive()


def no_secret(raw: bytes, what=""):
    assert SECRET.strip() not in raw, f"{what}: the file outside the root was served: {raw!r}"
    assert b"root:x:0:0" not in raw, f"{what}: /etc/passwd was served: {raw[:300]!r}"


def http_requests(k, **match) -> list[dict]:
    return k.events("request", mod="http", **match)


def read_corpus(corpus, name) -> bytes:
    return Path(corpus[name][0]).read_bytes()


# --------------------------------------------------------------------------
# fixtures


@pytest.fixture
def tree(tmp_path, tftp_root):
    """The standard corpus plus typed files, a subdirectory, special files
    and symlinks escaping the root; a secret file just outside it."""
    root = tftp_root
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)
    (root / "boot.ipxe").write_bytes(b"#!ipxe\nchain http://x/y\n")
    (root / "grub.cfg").write_bytes(b"set timeout=1\n")
    (root / "readme.txt").write_bytes(b"read me\n")
    (root / "vmlinuz").write_bytes(b"\x7fELF-ish kernel\n")
    (root / "initrd.img").write_bytes(b"\x1f\x8b initrd\n")
    (root / "notes.txt.bin").write_bytes(b"not text\n")
    (root / "with space.txt").write_bytes(b"spaced\n")
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "sub" / "file.txt").write_bytes(b"sub/file\n")
    (root / "metrics.txt").write_bytes(b"a file, not the metrics\n")
    os.symlink(outside / "secret.txt", root / "escape_abs.txt")
    os.symlink("../outside/secret.txt", root / "escape_rel.txt")
    os.symlink(outside, root / "escdir")
    os.symlink("../outside", root / "escdir_rel")
    os.symlink("/etc/passwd", root / "passwd")
    os.symlink("sub/file.txt", root / "link_in.txt")
    os.mkfifo(root / "fifo")
    os.mknod(root / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    return SimpleNamespace(root=root, outside=outside)


@pytest.fixture
def hk(kidou_factory, tree):
    """kidou serving `tree` over TFTP and HTTP: (kidou, http port)."""
    return start_http(kidou_factory, root=tree.root, http_root=tree.root)


# --------------------------------------------------------------------------
# whole files: GET and HEAD


@pytest.mark.parametrize("name", list(SIZES))
def test_get_with_curl(hk, corpus, tmp_path, name):
    k, port = hk
    out = tmp_path / f"dl-{name}"
    status, headers = curl_get(port, "/" + name, out)
    assert status == 200
    assert headers["content-length"] == str(SIZES[name])
    assert headers["content-type"] == BINARY
    assert headers.get("accept-ranges") == "bytes"
    assert "content-range" not in headers
    assert out.stat().st_size == SIZES[name]
    assert sha256_file(out) == corpus[name][1]
    ev = k.wait_event("request", mod="http", path=f"/{name}", timeout=T(5))
    assert ev["status"] == "200" and ev["bytes"] == str(SIZES[name]) and ev["complete"] == "yes"


@pytest.mark.parametrize("name", list(SIZES))
def test_get_with_http_client(hk, corpus, name):
    k, port = hk
    r = get(port, "/" + name)
    assert r.status == 200
    assert r.header("content-length") == str(SIZES[name])
    assert sha256_bytes(r.body) == corpus[name][1]


@pytest.mark.parametrize("name", list(SIZES))
def test_head(hk, corpus, tmp_path, name):
    k, port = hk
    # on the wire: headers only, then the server closes as asked
    r, raw = raw_request(port, "/" + name, method="HEAD")
    assert r.status == 200
    assert r.header("content-length") == str(SIZES[name])
    assert r.header("content-type") == BINARY
    assert raw.endswith(b"\r\n\r\n"), f"HEAD response carries a body: {raw[-200:]!r}"
    # and with curl
    cp = curl(["-I", f"http://127.0.0.1:{port}/{name}"])
    assert cp.returncode == 0, cp.stderr
    text = cp.stdout.decode("latin-1")
    assert text.startswith("HTTP/1.1 200"), text
    assert re.search(rf"(?im)^content-length: {SIZES[name]}\r?$", text), text
    ev = k.wait_event("request", mod="http", method="HEAD", path=f"/{name}", count=2,
                      timeout=T(5))
    assert ev["status"] == "200" and ev["complete"] == "yes"


def test_head_then_get_on_one_connection(hk, corpus):
    """A HEAD response must not be followed by body bytes, or the next
    response on the connection is garbage."""
    k, port = hk
    req = (b"HEAD /size1m.bin HTTP/1.1\r\nHost: x\r\n\r\n"
           b"GET /size1.bin HTTP/1.1\r\nHost: x\r\n\r\n"
           b"HEAD /size0.bin HTTP/1.1\r\nHost: x\r\n\r\n"
           b"GET /readme.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    raw, closed = raw_exchange(port, req, shut_wr=False)
    assert closed
    r1, rest = parse_response(raw, head=True)
    r2, rest = parse_response(rest)
    r3, rest = parse_response(rest, head=True)
    r4, rest = parse_response(rest)
    assert rest == b""
    assert (r1.status, r1.header("content-length")) == (200, str(1 << 20))
    assert r2.status == 200 and r2.body == read_corpus(corpus, "size1.bin")
    assert (r3.status, r3.header("content-length")) == (200, "0")
    assert r4.status == 200 and r4.body == b"read me\n"


@pytest.mark.parametrize("name,ctype", [
    ("boot.ipxe", TEXT), ("grub.cfg", TEXT), ("readme.txt", TEXT), ("sub/file.txt", TEXT),
    ("with%20space.txt", TEXT), ("vmlinuz", BINARY), ("initrd.img", BINARY),
    ("notes.txt.bin", BINARY), ("size1.bin", BINARY),
])
def test_content_type(hk, tree, name, ctype):
    k, port = hk
    r = get(port, "/" + name)
    assert r.status == 200
    assert r.header("content-type") == ctype
    assert r.body == (tree.root / name.replace("%20", " ")).read_bytes()


def test_query_string_is_not_part_of_the_name(hk):
    k, port = hk
    r = get(port, "/readme.txt?mac=52-54-00-12-34-56&arch=x64")
    assert r.status == 200 and r.body == b"read me\n"


def test_symlink_inside_the_root_is_served(hk):
    k, port = hk
    r = get(port, "/link_in.txt")
    assert r.status == 200 and r.body == b"sub/file\n"


# --------------------------------------------------------------------------
# byte ranges


RANGE_CASES = [
    # header, (start, end inclusive) on a file of 1 MiB
    ("bytes=0-99", (0, 99)),
    ("bytes=0-0", (0, 0)),
    ("bytes=1000-1999", (1000, 1999)),
    ("bytes=-100", ((1 << 20) - 100, (1 << 20) - 1)),
    ("bytes=-1", ((1 << 20) - 1, (1 << 20) - 1)),
    ("bytes=1048000-", (1048000, (1 << 20) - 1)),
    ("bytes=1048575-1048575", ((1 << 20) - 1, (1 << 20) - 1)),
    ("bytes=1048570-9999999", (1048570, (1 << 20) - 1)),  # end cut to the file
    ("bytes=-99999999", (0, (1 << 20) - 1)),              # suffix larger than the file
    ("bytes=0-", (0, (1 << 20) - 1)),
]


@pytest.mark.parametrize("header,span", RANGE_CASES, ids=[c[0] for c in RANGE_CASES])
def test_range(hk, corpus, header, span):
    k, port = hk
    data = read_corpus(corpus, "size1m.bin")
    r = get(port, "/size1m.bin", headers={"Range": header})
    start, end = span
    assert r.status == 206, (r.status, r.headers)
    assert r.header("content-range") == f"bytes {start}-{end}/{len(data)}"
    assert r.header("content-length") == str(end - start + 1)
    assert r.body == data[start:end + 1]
    ev = k.wait_event("request", mod="http", range=header, timeout=T(5))
    assert ev["status"] == "206" and ev["bytes"] == str(end - start + 1)


def test_range_with_curl_on_40m(hk, corpus, tmp_path):
    k, port = hk
    data = read_corpus(corpus, "size40m.bin")
    for rng, (start, end) in [("20000000-20999999", (20000000, 20999999)),
                              ("41943000-", (41943000, (40 << 20) - 1)),
                              ("-4096", ((40 << 20) - 4096, (40 << 20) - 1))]:
        out = tmp_path / f"part-{rng}"
        status, headers = curl_get(port, "/size40m.bin", out, extra=["-r", rng])
        assert status == 206
        assert headers["content-range"] == f"bytes {start}-{end}/{40 << 20}"
        assert out.read_bytes() == data[start:end + 1]


@pytest.mark.parametrize("name,header", [
    ("size1m.bin", "bytes=1048576-"),
    ("size1m.bin", "bytes=1048576-1048577"),
    ("size1m.bin", "bytes=99999999-"),
    ("size1m.bin", "bytes=-0"),
    ("size1.bin", "bytes=1-"),
    ("size0.bin", "bytes=0-"),
    ("size0.bin", "bytes=-1"),
    ("size0.bin", "bytes=0-0"),
])
def test_range_not_satisfiable(hk, name, header):
    k, port = hk
    r = get(port, "/" + name, headers={"Range": header})
    assert r.status == 416, (r.status, r.headers)
    assert r.header("content-range") == f"bytes */{SIZES[name]}"
    assert r.body == b""


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "bytes=0-0, -1",
                                    "bytes=0-,0-,0-,0-,0-,0-,0-,0-"])
def test_several_ranges_refused(hk, header):
    k, port = hk
    r = get(port, "/size1m.bin", headers={"Range": header})
    assert r.status == 416, (r.status, r.headers)
    assert r.header("content-range") == f"bytes */{1 << 20}"
    assert len(r.body) < 1000, "several ranges must not amplify"


@pytest.mark.parametrize("header", ["bytes=", "bytes=a-b", "items=0-1", "bytes=5-2",
                                    "bytes=123456789012345678901234567890-", "bytes=0 - 1",
                                    "bytes=-", "garbage"])
def test_malformed_range_serves_whole_file(hk, corpus, header):
    k, port = hk
    r = get(port, "/size1m.bin", headers={"Range": header})
    assert r.status == 200, (r.status, r.headers)
    assert "content-range" not in r.headers
    assert sha256_bytes(r.body) == corpus["size1m.bin"][1]


# --------------------------------------------------------------------------
# keep-alive


def test_keep_alive_two_requests_one_connection(hk, corpus):
    k, port = hk
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=T(10))
    try:
        c.request("GET", "/size1m.bin")
        r1 = c.getresponse()
        b1 = r1.read()
        sock1 = c.sock
        local = sock1.getsockname()
        c.request("GET", "/size1.bin")
        r2 = c.getresponse()
        b2 = r2.read()
        assert c.sock is sock1, "http.client had to reconnect: the server closed"
    finally:
        c.close()
    assert r1.status == 200 and sha256_bytes(b1) == corpus["size1m.bin"][1]
    assert r2.status == 200 and b2 == read_corpus(corpus, "size1.bin")
    evs = k.wait_events("request", 2, mod="http", peer=f"{local[0]}:{local[1]}", timeout=T(5))
    assert [e["path"] for e in evs] == ["/size1m.bin", "/size1.bin"]


def test_keep_alive_survives_errors_and_ranges(hk, corpus):
    """iPXE fetches kernel and initrd over one connection: a 404, a 206 or
    a 416 in between must not cost it the connection."""
    k, port = hk
    data = read_corpus(corpus, "size1m.bin")
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=T(10))
    got = []
    try:
        c.connect()
        sock = c.sock
        local = sock.getsockname()
        for method, path, hdrs in [("GET", "/missing", {}), ("GET", "/sub", {}),
                                   ("GET", "/../x", {}),
                                   ("GET", "/size1m.bin", {"Range": "bytes=10-19"}),
                                   ("GET", "/size1m.bin", {"Range": "bytes=9999999-"}),
                                   ("HEAD", "/size40m.bin", {}),
                                   ("GET", "/metrics", {}),
                                   ("GET", "/size1m.bin", {})]:
            c.request(method, path, headers=hdrs)
            r = c.getresponse()
            got.append((r.status, r.read()))
            assert c.sock is sock, f"connection closed after {method} {path} ({r.status})"
    finally:
        c.close()
    assert [s for s, _ in got] == [404, 403, 403, 206, 416, 200, 200, 200]
    assert got[3][1] == data[10:20]
    assert got[5][1] == b""
    assert sha256_bytes(got[7][1]) == corpus["size1m.bin"][1]
    k.wait_events("request", 8, mod="http", peer=f"{local[0]}:{local[1]}", timeout=T(5))


# --------------------------------------------------------------------------
# refused paths


TRAVERSALS = [
    "/../outside/secret.txt",
    "/../../../../../../etc/passwd",
    "/%2e%2e/outside/secret.txt",
    "/%2E%2E/outside/secret.txt",
    "/.%2e/outside/secret.txt",
    "/%2e./outside/secret.txt",
    "/sub/../../outside/secret.txt",
    "/sub/%2e%2e/%2e%2e/outside/secret.txt",
    "/a/%2e%2e/%2e%2e/etc/passwd",
    "/..%2foutside%2fsecret.txt",
    "/..%2Foutside/secret.txt",
    "/%2e%2e%2foutside%2fsecret.txt",
    "/%2F..%2F..%2Foutside%2Fsecret.txt",
    "/%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/sub%2f..%2f..%2foutside%2fsecret.txt",
    "//../outside/secret.txt",
    "/./../outside/secret.txt",
    "/..\\outside\\secret.txt",
    "/sub\\..\\..\\outside\\secret.txt",
    "/%5c..%5coutside%5csecret.txt",
    "/..%5Coutside%5Csecret.txt",
    "/%252e%252e/outside/secret.txt",      # double encoding: a literal name
    "/%2e%2e%00/outside/secret.txt",
    "/escape_abs.txt",                      # symlinks leading out of the root
    "/escape_rel.txt",
    "/escdir/secret.txt",
    "/escdir_rel/secret.txt",
    "/passwd",
    "/proc/self/root/etc/passwd",
    "/etc/passwd",
]


@pytest.mark.parametrize("target", TRAVERSALS)
def test_traversal_refused(hk, tree, corpus, target):
    k, port = hk
    r, raw = raw_request(port, target)
    no_secret(raw, target)
    assert r.status in (400, 403, 404), (target, r.status, r.body[:200])
    # the same through curl, which would normalise unless told not to
    cp = curl(["--path-as-is", "-i", f"http://127.0.0.1:{port}{target}"])
    no_secret(cp.stdout, target)
    assert_serves(k, port, corpus, "size1.bin")


def test_traversal_absolute_name_stays_in_the_root(hk, tree):
    """A name that is an absolute path of the host is taken beneath the
    root like any other."""
    k, port = hk
    target = "/" + str(tree.outside / "secret.txt")
    r, raw = raw_request(port, target)
    no_secret(raw, target)
    assert r.status == 404


def test_symlink_outside_is_403(hk):
    k, port = hk
    for path in ("/escape_abs.txt", "/escape_rel.txt", "/escdir/secret.txt", "/passwd"):
        r, raw = raw_request(port, path)
        no_secret(raw, path)
        assert r.status in (403, 404), (path, r.status)
    assert get(port, "/escape_abs.txt").status == 403


@pytest.mark.parametrize("path", ["/sub", "/sub/", "/sub/deeper", "/fifo", "/null", "/escdir"])
def test_not_a_file_is_403(hk, path):
    k, port = hk
    r = get(port, path, timeout=10)
    assert r.status == 403, (path, r.status, r.body)


@pytest.mark.parametrize("path", ["/missing", "/sub/missing", "/size1.bin/x", "/", "/index.html",
                                  "/%252e%252e/x", "/SIZE1.BIN"])
def test_missing_is_404(hk, path):
    k, port = hk
    r = get(port, path)
    assert r.status == 404, (path, r.status, r.body)
    ev = k.wait_event("request", mod="http", status=404, timeout=T(5))
    assert ev["complete"] == "yes"


def test_encoded_nul_in_path_is_refused(hk):
    """%00 decodes to a NUL inside the name. Cutting the name there serves
    a different file than the one asked for (readme.txt for
    readme.txt%00.bin): the request must be refused (400) or not found."""
    k, port = hk
    for target in ("/readme.txt%00.bin", "/readme.txt%00", "/sub/file.txt%00/../x"):
        r, raw = raw_request(port, target)
        assert r.status in (400, 404), (target, r.status, r.body[:100])
        assert b"read me" not in r.body and b"sub/file" not in r.body, target


# --------------------------------------------------------------------------
# hostile and malformed requests


def test_very_long_url_414(hk, corpus):
    k, port = hk
    target = "/" + "a" * 40000
    raw, closed = raw_exchange(port, f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
                               shut_wr=False)
    assert raw.startswith(b"HTTP/1.1 414"), raw[:200]
    assert_serves(k, port, corpus)


def test_long_name_within_request_limits_414(hk, corpus):
    """Short enough for the request buffer, too long for a file name."""
    k, port = hk
    r, _ = raw_request(port, "/" + "b" * 3000)
    assert r.status == 414, r.status
    r, _ = raw_request(port, "/" + "c/" * 1500 + "x")
    assert r.status == 414, r.status
    assert_serves(k, port, corpus)


@pytest.mark.parametrize("kind", ["one-huge", "many"])
def test_huge_header_431_or_close(hk, corpus, kind):
    k, port = hk
    if kind == "one-huge":
        hdrs = b"X-Big: " + b"a" * 64000 + b"\r\n"
    else:
        hdrs = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 50) for i in range(2000))
    req = b"GET /size1.bin HTTP/1.1\r\nHost: x\r\n" + hdrs + b"\r\n"
    raw, closed = raw_exchange(port, req, shut_wr=False, timeout=10)
    if raw:
        r, _ = parse_response(raw)
        assert r.status == 431, (r.status, raw[:300])
    else:
        assert closed, "neither an answer nor a close"
    assert_serves(k, port, corpus)


# (request bytes, what besides "4xx/505 or close" is acceptable). "wait":
# libmicrohttpd has no complete request line yet and waits for more; in its
# epoll mode it does not notice the client's half-close either, so such a
# connection lives until the idle timeout (30 s) - bounded, not a leak.
# 200: libmicrohttpd cuts a raw NUL or ignores an empty header name, which
# still names size1.bin (and then keeps the connection alive, see "wait").
MALFORMED = [
    (b"GARBAGE\r\n\r\n", ()),
    (b"GET\r\n\r\n", ()),
    (b"GET /size1.bin\r\n", ()),                 # HTTP/0.9
    (b"GET /size1.bin\r\n\r\n", ()),
    (b"\r\n\r\n", ("wait",)),                     # empty lines before a request are skipped
    (b"\r\n", ("wait",)),
    (b"GET /size1.bin HTTP/9.9\r\nHost: x\r\n\r\n", ()),
    (b"GET /size1.bin HTTP/1.1 extra\r\nHost: x\r\n\r\n", ()),
    (b"GET  HTTP/1.1\r\nHost: x\r\n\r\n", ()),
    (b"GET /size1.bin HTTP/1.1\r\nNoColonHeader\r\n\r\n", ()),
    (b"GET /size1.bin HTTP/1.1\r\n: empty-name\r\n\r\n", (200, "wait")),
    (b"GET /size1.bin HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", ()),
    (b"GET /size1.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
     ()),
    (b"GET /size1.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
     ()),
    (b"GET /size1.bin HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", ()),
    (b"\x00" * 64, ("wait",)),
    (b"\xff\xfe\xfd" * 100 + b"\r\n\r\n", ()),
    (bytes(range(256)) * 8, ()),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 200, ("wait",)),  # TLS hello
    (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", ()),                 # HTTP/2 preface
    (b"GET /size1.bin HTTP/1.1\nHost: x\n\n", (200, "wait")),            # bare LF
    (b"GET /\x00size1.bin HTTP/1.1\r\nHost: x\r\n\r\n", ("wait",)),
    (b"GET /size1.bin\x00 HTTP/1.1\r\nHost: x\r\n\r\n", (200, "wait")),
]


@pytest.mark.parametrize("data,also", MALFORMED, ids=[f"m{i}" for i in range(len(MALFORMED))])
def test_malformed_request_4xx_or_close(hk, corpus, data, also):
    k, port = hk
    raw, closed = raw_exchange(port, data, timeout=0.5 if "wait" in also else 5)
    if raw:
        r, _ = parse_response(raw)
        ok = 400 <= r.status < 500 or r.status == 505 or (
            r.status == 200 and 200 in also and r.body == read_corpus(corpus, "size1.bin"))
        assert ok, f"{data[:60]!r} answered {r.status}"
    assert closed or "wait" in also, \
        f"{data[:60]!r}: the server neither answered nor closed after EOF"
    assert_serves(k, port, corpus, "size1.bin")


def test_malformed_burst_then_serves(hk, corpus):
    """All of them at once on parallel connections, then a normal fetch."""
    k, port = hk
    socks = []
    for data, _ in MALFORMED * 3:
        s = socket.create_connection(("127.0.0.1", port), timeout=T(5))
        try:
            s.sendall(data)
        except OSError:
            pass
        socks.append(s)
    time.sleep(T(0.5))
    for s in socks:
        s.close()
    assert_serves(k, port, corpus)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE",
                                    "CONNECT", "PROPFIND"])
def test_other_methods_405(hk, corpus, tree, method):
    k, port = hk
    target = "127.0.0.1:1" if method == "CONNECT" else "/readme.txt"
    body = b"x=1" if method in ("POST", "PUT", "PATCH") else None
    hdrs = [("Content-Length", str(len(body)))] if body else []
    req = f"{method} {target} HTTP/1.1\r\nHost: x\r\n".encode()
    req += b"".join(f"{n}: {v}\r\n".encode() for n, v in hdrs) + b"\r\n" + (body or b"")
    raw, closed = raw_exchange(port, req, shut_wr=False)
    r, _ = parse_response(raw)
    assert r.status == 405, (method, r.status)
    # RFC 9110 15.5.6: a 405 MUST carry Allow with the methods supported
    allow = {m.strip() for m in (r.header("allow") or "").split(",")}
    assert {"GET", "HEAD"} <= allow, f"405 without a proper Allow header: {r.headers}"
    assert (tree.root / "readme.txt").read_bytes() == b"read me\n"
    ev = k.wait_event("request", mod="http", status=405, timeout=T(5))
    assert ev["method"] in (method, "OTHER")
    assert_serves(k, port, corpus, "size1.bin")


def test_put_with_curl_does_not_write(hk, tmp_path):
    k, port = hk
    src = tmp_path / "upload.bin"
    src.write_bytes(b"uploaded")
    cp = curl(["-o", "/dev/null", "-w", "%{http_code}", "-T", str(src),
               f"http://127.0.0.1:{port}/uploaded.bin"])
    assert cp.stdout == b"405", cp
    assert get(port, "/uploaded.bin").status == 404


@pytest.mark.parametrize("how", ["content-length", "chunked"])
def test_get_with_body_400(hk, corpus, how):
    k, port = hk
    if how == "content-length":
        req = b"GET /size1.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
    else:
        req = (b"GET /size1.bin HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\nhello\r\n0\r\n\r\n")
    raw, closed = raw_exchange(port, req, shut_wr=False)
    r, _ = parse_response(raw)
    assert r.status == 400, r
    assert r.body != read_corpus(corpus, "size1.bin")
    # and with http.client
    r = get(port, "/size1.bin", body=b"abc")
    assert r.status == 400
    assert_serves(k, port, corpus, "size1.bin")


def test_get_with_empty_body_is_fine(hk, corpus):
    k, port = hk
    r, _ = raw_request(port, "/size1.bin", headers=[("Content-Length", "0")])
    assert r.status == 200 and r.body == read_corpus(corpus, "size1.bin")


def test_stalled_reader_does_not_block_others(hk, corpus):
    """One client stops reading a 40 MiB response: the single-threaded
    server still serves everyone else, and the abandoned request is logged
    as incomplete."""
    k, port = hk
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    s.settimeout(T(5))
    s.connect(("127.0.0.1", port))
    local = s.getsockname()
    try:
        s.sendall(b"GET /size40m.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        first = s.recv(4096)
        assert first.startswith(b"HTTP/1.1 200"), first[:100]
        t0 = time.monotonic()
        for _ in range(3):
            assert_serves(k, port, corpus)
        assert time.monotonic() - t0 < T(10)
    finally:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()  # RST
    ev = k.wait_event("request", mod="http", peer=f"{local[0]}:{local[1]}", timeout=T(10))
    assert ev["path"] == "/size40m.bin" and ev["complete"] == "no", ev
    assert_serves(k, port, corpus)


# --------------------------------------------------------------------------
# concurrency


def test_50_concurrent_downloads(hk, corpus, tmp_path):
    k, port = hk
    procs = []
    outs = []
    for i in range(50):
        out = tmp_path / f"conc-{i}"
        outs.append(out)
        procs.append(subprocess.Popen(
            # 50 machines, one address each: one address alone gets
            # 16 connections (max-connections-per-address)
            ["curl", "-sS", "--fail", "--max-time", str(int(T(60))), "-o", str(out),
             "--interface", f"127.0.0.{10 + i}", f"http://127.0.0.1:{port}/size1m.bin"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    try:
        for p in procs:
            p.wait(timeout=T(60) + 10)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    bad = [(i, p.returncode, p.stderr.read()) for i, p in enumerate(procs) if p.returncode]
    for p in procs:
        p.stderr.close()
    assert not bad, bad
    for out in outs:
        assert sha256_file(out) == corpus["size1m.bin"][1], out
    evs = k.wait_events("request", 50, mod="http", path="/size1m.bin", timeout=T(10))
    assert all(e["status"] == "200" and e["complete"] == "yes" for e in evs)
    assert_serves(k, port, corpus)


# --------------------------------------------------------------------------
# access log


def test_access_log_line(hk, corpus):
    k, port = hk
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=T(10))
    try:
        c.request("GET", "/size1m.bin")
        r = c.getresponse()
        r.read()
        local = c.sock.getsockname()
        c.request("GET", "/size1m.bin", headers={"Range": "bytes=100-199"})
        c.getresponse().read()
        c.request("GET", "/nope")
        c.getresponse().read()
        c.request("HEAD", "/size1.bin")
        c.getresponse().read()
    finally:
        c.close()
    peer = f"{local[0]}:{local[1]}"
    evs = k.wait_events("request", 4, mod="http", peer=peer, timeout=T(5))
    full, part, miss, head = evs
    line = full["_line"]
    assert re.search(rf'\bmod=http event=request peer={re.escape(peer)} method=GET '
                     rf'path="/size1m\.bin" status=200 bytes=1048576 .*complete=yes', line), line
    assert full["level"] == "info"
    assert re.fullmatch(r"\d+", full["duration_ms"]), line
    assert "range" not in full
    assert (part["status"], part["bytes"], part["range"]) == ("206", "100", "bytes=100-199")
    assert (miss["status"], miss["path"], miss["complete"]) == ("404", "/nope", "yes")
    assert (head["method"], head["status"]) == ("HEAD", "200")


def test_access_log_quotes_hostile_paths(hk):
    k, port = hk
    r, _ = raw_request(port, '/a"b%22c%0a%1b[31mred')
    assert r.status in (400, 404)
    ev = k.wait_event("request", mod="http", timeout=T(5))
    line = ev["_line"]
    assert "\n" not in line and "\x1b" not in line
    assert ev["path"].startswith('/a"b'), ev
    assert len([ln for ln in k.lines() if "event=request" in ln]) == 1


def test_every_request_logged_once(hk, corpus):
    k, port = hk
    paths = ["/size1.bin", "/missing", "/sub", "/../x", "/metrics", "/size0.bin"]
    for p in paths:
        raw_request(port, p)
    evs = k.wait_events("request", len(paths), mod="http", timeout=T(5))
    time.sleep(T(0.2))
    evs = http_requests(k)
    assert [e["path"] for e in evs] == paths
    assert [e["status"] for e in evs] == ["200", "404", "403", "403", "200", "200"]


# --------------------------------------------------------------------------
# /metrics


PROM_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
PROM_SAMPLE = re.compile(
    rf'^({PROM_NAME})(\{{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
    rf'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*,?)?\}})? '
    r'([-+]?(?:\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|NaN|[-+]?Inf))( -?\d+)?$')


def parse_prometheus(text: str) -> dict:
    """Strict reading of the Prometheus text exposition format 0.0.4:
    {sample name with labels: float}. Checks HELP/TYPE placement and that
    each metric's lines form one group."""
    assert text.endswith("\n"), "exposition must end with a newline"
    samples, types, helps = {}, {}, {}
    seen_groups, current = [], None
    for n, line in enumerate(text.split("\n")[:-1], 1):
        where = f"line {n}: {line!r}"
        if line.startswith("#"):
            m = re.match(rf"^# (HELP|TYPE) ({PROM_NAME}) (.*)$", line)
            if not m:
                assert not re.match(r"^# (HELP|TYPE)\b", line), where
                continue
            kind, name, rest = m.groups()
            if kind == "TYPE":
                assert name not in types, f"second TYPE for {name}: {where}"
                assert rest in ("counter", "gauge", "histogram", "summary", "untyped"), where
                assert not any(s.split("{")[0] == name for s in samples), \
                    f"TYPE after samples of {name}: {where}"
                types[name] = rest
            else:
                assert name not in helps, f"second HELP for {name}: {where}"
                assert rest.strip(), where
                helps[name] = rest
            continue
        assert line.strip(), f"blank line inside the exposition: {where}"
        m = PROM_SAMPLE.match(line)
        assert m, f"not a valid sample: {where}"
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        key = name + labels
        assert key not in samples, f"duplicate sample {key}"
        if name != current:
            assert name not in seen_groups, f"samples of {name} are not one group: {where}"
            seen_groups.append(name)
            current = name
        samples[key] = float(value)
        if types.get(name) == "counter":
            assert samples[key] >= 0 and samples[key] == int(samples[key]), where
    for name in seen_groups:
        assert name in types, f"{name} has no TYPE line"
    return samples


def scrape(port) -> tuple[dict, bytes]:
    r = get(port, "/metrics")
    assert r.status == 200, r.status
    ctype = r.header("content-type") or ""
    assert ctype.startswith("text/plain") and "version=0.0.4" in ctype, ctype
    return parse_prometheus(r.body.decode("utf-8")), r.body


def test_metrics_format_and_no_dhcp(hk):
    k, port = hk
    m, body = scrape(port)
    for name in ("kidou_http_requests_total", "kidou_http_bytes_total",
                 "kidou_tftp_requests_total", "kidou_tftp_transfers_completed_total",
                 "kidou_tftp_bytes_sent_total", "kidou_tftp_transfers_active",
                 'kidou_http_responses_total{class="2xx"}',
                 'kidou_http_responses_total{class="4xx"}'):
        assert name in m, f"{name} missing from /metrics:\n{body.decode()}"
    assert not [n for n in m if n.startswith("kidou_dhcp")], body.decode()
    assert b"dhcp" not in body.lower()
    assert m["kidou_http_requests_total"] == 1  # this scrape
    r = get(port, "/metrics")
    assert r.header("cache-control") == "no-store"
    # the generated path shadows nothing else: metrics.txt is a file
    assert get(port, "/metrics.txt").body == b"a file, not the metrics\n"


def test_metrics_counters_follow_traffic(hk, corpus, tmp_path):
    k, port = hk
    m1, body1 = scrape(port)

    # one file over TFTP (curl), to completion
    out = tmp_path / "tftp-size64k"
    cp = subprocess.run(["curl", "-sS", "--fail", "--max-time", str(int(T(30))), "-o", str(out),
                         f"tftp://127.0.0.1:{k.port}/size64k.bin"],
                        capture_output=True, timeout=T(30) + 10, stdin=subprocess.DEVNULL)
    assert cp.returncode == 0, cp.stderr
    assert sha256_file(out) == corpus["size64k.bin"][1]
    done = k.wait_event("done", file="size64k.bin", timeout=T(5))

    # over HTTP: a file, a range, a miss
    assert get(port, "/size1m.bin").status == 200
    assert get(port, "/size1m.bin", headers={"Range": "bytes=0-9"}).status == 206
    miss = get(port, "/absent")
    assert miss.status == 404
    k.wait_events("request", 4, mod="http", timeout=T(5))
    m2, _ = scrape(port)

    def d(name):
        return m2[name] - m1[name]

    assert d("kidou_tftp_requests_total") == 1
    assert d("kidou_tftp_transfers_completed_total") == 1
    assert d("kidou_tftp_transfers_failed_total") == 0
    if done.get("retransmits", "0") == "0":
        assert d("kidou_tftp_bytes_sent_total") == 65536
    else:
        assert d("kidou_tftp_bytes_sent_total") >= 65536
    assert m2["kidou_tftp_transfers_active"] == 0
    # requests: the file, the range, the miss and the second scrape itself
    assert d("kidou_http_requests_total") == 4
    # bytes: the first scrape's body (counted once it was queued) + the rest
    assert d("kidou_http_bytes_total") == len(body1) + (1 << 20) + 10 + len(miss.body)
    assert d('kidou_http_responses_total{class="2xx"}') == 3   # scrape 1, file, range
    assert d('kidou_http_responses_total{class="4xx"}') == 1
    assert d('kidou_http_responses_total{class="5xx"}') == 0
    # busy polling: how often the loop spun, and found a packet that way
    assert 0 <= m2["kidou_busy_poll_hits_total"] <= m2["kidou_busy_poll_spins_total"]
    assert d("kidou_busy_poll_spins_total") >= 0 and d("kidou_busy_poll_hits_total") >= 0


def test_metrics_head_sends_no_body_bytes(hk):
    """kidou_http_bytes_total is "HTTP body bytes sent": a HEAD sends none."""
    k, port = hk
    m1, body1 = scrape(port)
    r, raw = raw_request(port, "/size40m.bin", method="HEAD")
    assert r.status == 200 and raw.endswith(b"\r\n\r\n")
    m2, _ = scrape(port)
    assert m2["kidou_http_requests_total"] - m1["kidou_http_requests_total"] == 2
    sent = m2["kidou_http_bytes_total"] - m1["kidou_http_bytes_total"] - len(body1)
    assert sent == 0, f"a HEAD of a 40 MiB file added {sent:.0f} body bytes"


def test_no_http_unless_listen_is_set(kidou_factory, tree):
    k = kidou_factory(root=tree.root)
    assert not k.events("listening", mod="http")
    assert k.events("listening", mod="tftp")


# --------------------------------------------------------------------------
# roots


def test_http_root_separate_from_tftp_root(kidou_factory, tmp_path, tftp_root, corpus):
    troot, hroot = tmp_path / "troot", tmp_path / "hroot"
    troot.mkdir()
    hroot.mkdir()
    (troot / "which.txt").write_bytes(b"tftp\n")
    (troot / "only-tftp.txt").write_bytes(b"only tftp\n")
    (hroot / "which.txt").write_bytes(b"http\n")
    (hroot / "only-http.txt").write_bytes(b"only http\n")
    make_file(hroot / "deep" / "er", "big.bin", 300 * 1024)
    k, port = start_http(kidou_factory, root=troot, http_root=hroot)
    assert k.events("listening", mod="http")[-1]["root"] == str(hroot)
    assert get(port, "/which.txt").body == b"http\n"
    assert get(port, "/only-http.txt").body == b"only http\n"
    assert get(port, "/only-tftp.txt").status == 404
    big = get(port, "/deep/er/big.bin")
    assert big.status == 200 and big.body == (hroot / "deep" / "er" / "big.bin").read_bytes()
    out = tmp_path / "t"
    cp = subprocess.run(["curl", "-sS", "--fail", "--max-time", str(int(T(20))), "-o", str(out),
                         f"tftp://127.0.0.1:{k.port}/which.txt"],
                        capture_output=True, timeout=T(20) + 10, stdin=subprocess.DEVNULL)
    assert cp.returncode == 0 and out.read_bytes() == b"tftp\n", cp.stderr


def test_http_root_defaults_to_tftp_root(kidou_factory, tree, corpus):
    k, port = start_http(kidou_factory, root=tree.root)  # no --http-root
    assert k.events("listening", mod="http")[-1]["root"] == str(tree.root)
    assert get(port, "/readme.txt").body == b"read me\n"


def write_config(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_sighup_changes_http_root(kidou_factory, tmp_path, corpus):
    troot, h1, h2 = tmp_path / "troot", tmp_path / "h1", tmp_path / "h2"
    for d in (troot, h1, h2):
        d.mkdir()
    (h1 / "which.txt").write_bytes(b"one\n")
    (h1 / "only-1.txt").write_bytes(b"only in one\n")
    (h2 / "which.txt").write_bytes(b"two\n")
    (h2 / "only-2.txt").write_bytes(b"only in two\n")
    sha1 = make_file(h1, "big.bin", 8 << 20, seed="h1")
    make_file(h2, "big.bin", 8 << 20, seed="h2")

    def cfg_text(hroot):
        return (f"[tftp]\nroot = {troot}\nlisten = 127.0.0.1:0\n"
                f"[http]\nlisten = 127.0.0.1:0\nroot = {hroot}\n"
                f"[daemon]\nlog-level = debug\n")

    cfg = write_config(tmp_path / "k.ini", cfg_text(h1))
    k = kidou_factory("--config", cfg, with_defaults=False)
    port = http_port(k)
    assert get(port, "/which.txt").body == b"one\n"

    # a download begun before the reload
    # a small receive buffer, set before connecting (set afterwards, the
    # window ends up below the loopback MSS and TCP_CORK crawls)
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    slow.settimeout(T(10))
    slow.connect(("127.0.0.1", port))
    try:
        slow.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        first = slow.recv(4096)
        assert first.startswith(b"HTTP/1.1 200"), first[:100]

        write_config(cfg, cfg_text(h2))
        k.signal(signal.SIGHUP)
        k.wait_event("reloaded", mod="main", timeout=T(5))
        assert get(port, "/which.txt").body == b"two\n"
        assert get(port, "/only-2.txt").body == b"only in two\n"
        assert get(port, "/only-1.txt").status == 404
        assert http_port(k) == port  # same listener

        rest, closed = recv_all(slow, T(30))
        assert closed
    finally:
        slow.close()
    resp, tail = parse_response(first + rest)
    assert tail == b""
    assert sha256_bytes(resp.body) == sha1, "the download begun before the reload changed files"

    # a root that does not exist: keep the old one
    write_config(cfg, cfg_text(tmp_path / "gone"))
    k.signal(signal.SIGHUP)
    ev = k.wait_event("reload", mod="http", timeout=T(5))
    assert ev["action"] == "keep-old"
    assert get(port, "/which.txt").body == b"two\n"
    assert len(k.events("reloaded", mod="main")) == 1


def test_second_kidou_on_same_http_port_fails(kidou_factory, hk, tree, tftp_root):
    k, port = hk
    cp = kidou_factory.run(["--tftp-root", tftp_root, "--tftp-listen", "127.0.0.1:0",
                            "--http-listen", f"127.0.0.1:{port}", "--http-root", tftp_root],
                           timeout=10)
    assert cp.returncode != 0, cp
    out = cp.stdout + cp.stderr
    assert re.search(rf'mod=http event=listen addr=127\.0\.0\.1:{port} '
                     r'error="Address already in use"', out), out
    assert "event=ready" not in out
    assert k.alive()
    assert get(port, "/readme.txt").body == b"read me\n"


# --------------------------------------------------------------------------
# many connections


def open_idle(port: int, n: int, within: float) -> list[socket.socket]:
    """Start n connections at once (non-blocking); return the ones whose
    handshake completed within `within` seconds. Nothing is sent."""
    pending = []
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        pending.append(s)
    done = []
    deadline = time.monotonic() + within
    while pending and time.monotonic() < deadline:
        _, w, _ = select.select([], pending, [], max(0.0, deadline - time.monotonic()))
        for s in w:
            pending.remove(s)
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                done.append(s)
            else:
                s.close()
    for s in pending:
        s.close()
    return done


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_200_idle_connections_default_limit(kidou_factory, tree, corpus):
    # one address for all 200: lift its own cap (16) out of the way
    k, port = start_http(kidou_factory, "--http-max-connections-per-address", "1000",
                         root=tree.root)
    base = open_fds(k.pid)
    socks = open_idle(port, 200, T(3))
    try:
        assert len(socks) == 200
        time.sleep(T(0.3))
        assert open_fds(k.pid) <= base + 200 + 5
        assert_serves(k, port, corpus)  # while they are all still open
    finally:
        for s in socks:
            s.close()
    time.sleep(T(0.3))
    assert_serves(k, port, corpus)
    k.wait_for(lambda: open_fds(k.pid) <= base + 2, T(5), "idle connections to be closed")


def test_connection_limit_bounds_and_recovers(kidou_factory, tree, corpus):
    """200 idle connections against --http-max-connections 50: kidou holds
    at most 50 of them plus 64 it answers 503 (the rest wait in the
    kernel's backlog or are closed), does not crash, and serves again as
    soon as they go away."""
    k, port = start_http(kidou_factory, "--http-max-connections", "50",
                         "--http-max-connections-per-address", "1000", root=tree.root)
    base = open_fds(k.pid)
    socks = open_idle(port, 200, T(2))
    try:
        assert len(socks) >= 50
        time.sleep(T(0.5))
        assert k.alive()
        held = open_fds(k.pid) - base
        assert held <= 50 + 64 + 2, f"kidou holds {held} connections with a limit of 50"
    finally:
        for s in socks:
            s.close()
    # every slot is free again: a new client is served promptly
    t0 = time.monotonic()
    cp = curl(["-o", "/dev/null", "-w", "%{http_code}", f"http://127.0.0.1:{port}/size1.bin"],
              timeout=5)
    assert cp.stdout == b"200", (f"no answer {time.monotonic() - t0:.1f}s after the idle "
                                 f"connections closed (curl rc={cp.returncode} "
                                 f"{cp.stderr!r}): the server stopped accepting")
    assert_serves(k, port, corpus)


def test_connection_limit_reached_once_then_served(kidou_factory, tree):
    """The smallest form of the above, deterministic: one idle client takes
    the only slot and leaves; the next client must be served."""
    k, port = start_http(kidou_factory, "--http-max-connections", "1", root=tree.root)
    idle = socket.create_connection(("127.0.0.1", port), timeout=T(2))
    time.sleep(T(0.3))
    idle.close()
    time.sleep(T(0.3))
    cp = curl(["-o", "/dev/null", "-w", "%{http_code}", f"http://127.0.0.1:{port}/size1.bin"],
              timeout=5)
    assert cp.stdout == b"200", f"curl rc={cp.returncode} {cp.stderr!r}: server stopped accepting"


def test_connection_limit_sequential_clients(kidou_factory, tree):
    """With a limit of one, every client fills the server; one after the
    other, each finishing before the next starts, all are served."""
    k, port = start_http(kidou_factory, "--http-max-connections", "1", root=tree.root)
    for i in range(5):
        cp = curl(["-o", "/dev/null", "-w", "%{http_code}", f"http://127.0.0.1:{port}/size1.bin"],
                  timeout=4)
        assert cp.stdout == b"200", f"client {i}: curl rc={cp.returncode} {cp.stderr!r}"
