"""The CLI read commands (issue #13): `kidou machines`, `leases`, `hosts`
and `profiles` against a running kidou's API: tables, --json, --api and
--config, a token file with [api] read-token = yes, and an API that is
not there.

The CLI is the same binary (KIDOU_BIN) run as a one-shot process; kidou
serves on loopback (127.0.0.1:0, its port read from its log) or, for the
lease and the --config cases, in the server namespace of dhcp_lib, where
the ports are fixed and nothing else listens.
"""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
from pathlib import Path

from dhcp_lib import (  # noqa: F401  (fixtures)
    SRV_ADDR, Udhcpc, dhcp_net, dhcpd,
)
from kidou_testlib import T, kidou_bin
from test_api import FIRMWARE, TOKEN, get, http_port, mac_of, start, token_file, write_config


def cli(*args, netns=None) -> subprocess.CompletedProcess:
    cmd = [kidou_bin(), *[str(a) for a in args]]
    if netns:
        cmd = ["ip", "netns", "exec", netns] + cmd
    return subprocess.run(cmd, capture_output=True, text=True, timeout=T(40))


def rows(out: str) -> list[list[str]]:
    """A table's lines split into cells (no cell of these tests has two
    spaces in it)."""
    return [re.split(r"  +", line) for line in out.splitlines()]


def assert_aligned(out: str):
    """Every column starts at the same offset on every line."""
    lines = out.splitlines()
    starts = [m.start() for m in re.finditer(r"(?<=  )\S", lines[0])]
    for line in lines[1:]:
        for s in starts:
            assert line[s - 2:s] == "  " and line[s] != " ", (s, out)
    assert all(line == line.rstrip() for line in lines), out


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_tables_and_json(kidou_factory, tmp_path):
    cfg = write_config(tmp_path / "k.ini", hosts=3)
    k = start(kidou_factory, tmp_path, cfg)
    api = f"http://127.0.0.1:{http_port(k)}"

    cp = cli("machines", "--api", api)
    assert cp.returncode == 0 and cp.stderr == "", cp.stderr
    assert rows(cp.stdout) == [
        ["MAC", "IP", "HOSTNAME", "HOST", "PROFILE", "NEXT-BOOT", "LAST"],
        [mac_of(0), "10.9.0.0", "node0", "h0", "inst", "default", "-"],
        [mac_of(1), "10.9.0.1", "node1", "h1", "inst", "default", "-"],
        [mac_of(2), "10.9.0.2", "node2", "h2", "inst", "default", "-"],
    ], cp.stdout
    assert_aligned(cp.stdout)

    # --json: the API's document, pretty-printed (a trailing slash on
    # --api is the same API)
    cp = cli("machines", "--json", "--api", api + "/")
    assert cp.returncode == 0, cp.stderr
    assert json.loads(cp.stdout) == get(http_port(k), "/api/v1/machines")[2]
    assert cp.stdout.startswith("[\n  {\n    \"mac\": ")

    cp = cli("hosts", f"--api={api}")
    assert cp.returncode == 0, cp.stderr
    assert rows(cp.stdout)[0] == ["NAME", "MAC", "UUID", "IP", "HOSTNAME", "PROFILE", "BOOT",
                                  "SOURCE"]
    # file order
    assert [r[0] for r in rows(cp.stdout)[1:]] == ["h2", "h1", "h0"]
    assert rows(cp.stdout)[1] == ["h2", mac_of(2), "-", "10.9.0.2", "node2", "inst", "-", "config"]
    assert_aligned(cp.stdout)

    cp = cli("profiles", "--api", api)
    assert cp.returncode == 0, cp.stderr
    assert rows(cp.stdout) == [["NAME", "KERNEL", "INITRDS", "CMDLINE"],
                               ["inst", "linux/vmlinuz", "linux/a.img, linux/b.img",
                                "console=ttyS0 ip=${ip}"],
                               ["rescue", "r/vmlinuz", "-", "-"]], cp.stdout

    # no DHCP here: no leases, the header alone
    cp = cli("leases", "--api", api)
    assert cp.returncode == 0 and cp.stdout == "IP  MAC  HOSTNAME  STATE  EXPIRES  SUBNET\n"


def test_read_token(kidou_factory, tmp_path):
    tok = token_file(tmp_path)
    cfg = write_config(tmp_path / "k.ini", api=f"token-file = {tok}\nread-token = yes")
    k = start(kidou_factory, tmp_path, cfg)
    api = f"http://127.0.0.1:{http_port(k)}"

    cp = cli("machines", "--api", api)
    assert cp.returncode == 1 and cp.stdout == ""
    # one line: the status, the API's own error text, what to do
    assert cp.stderr.count("\n") == 1, cp.stderr
    err = get(http_port(k), "/api/v1/machines")[2]["error"]
    assert cp.stderr.startswith(f"kidou: the API at {api} answered 401: {err}"), cp.stderr
    assert "--token-file" in cp.stderr

    wrong = tmp_path / "wrong"
    wrong.write_text("nope-nope-nope-nope\n")
    cp = cli("machines", "--api", api, "--token-file", wrong)
    assert cp.returncode == 1 and "answered 401" in cp.stderr and "--token-file" not in cp.stderr

    cp = cli("machines", "--api", api, "--token-file", tok)
    assert cp.returncode == 0, cp.stderr
    assert [r[0] for r in rows(cp.stdout)] == ["MAC", mac_of(0), mac_of(1)]
    cp = cli("hosts", "--api", api, "--token-file", tok, "--json")
    assert cp.returncode == 0 and [h["name"] for h in json.loads(cp.stdout)] == ["h1", "h0"]

    # a token file the API would refuse to start with is refused here too
    short = tmp_path / "short"
    short.write_text("short\n")
    cp = cli("machines", "--api", api, "--token-file", short)
    assert cp.returncode == 1 and "16..512" in cp.stderr
    assert TOKEN not in cp.stderr


def test_unreachable_and_usage(tmp_path):
    port = closed_port()
    url = f"http://127.0.0.1:{port}"
    for cmd in ("machines", "leases", "hosts", "profiles"):
        cp = cli(cmd, "--api", url)
        assert cp.returncode == 1 and cp.stdout == ""
        assert cp.stderr == (f"kidou: cannot reach the API at {url}: Couldn't connect to server "
                             "(is kidou running, and is [http] listen or [api] listen set?)\n")
    # the same through a config whose [http] listen is that port
    cfg = tmp_path / "k.ini"
    cfg.write_text(f"[http]\nlisten = 127.0.0.1:{port}\n")
    cp = cli("leases", "--config", cfg)
    assert cp.returncode == 1 and f"at {url}:" in cp.stderr
    # a config that serves no API at all
    cfg.write_text("[tftp]\nroot = /nonexistent\n")
    cp = cli("machines", "-c", cfg)
    assert cp.returncode == 1 and "neither [api] listen nor [http] listen" in cp.stderr
    # a config kidou would refuse
    cfg.write_text("[http]\nlisten = nowhere\n")
    cp = cli("machines", "--config", cfg)
    assert cp.returncode == 1 and "listen" in cp.stderr and cp.stderr.count("\n") == 1
    # usage errors: exit 2
    cp = cli("machines", "--api", "127.0.0.1:8080")
    assert cp.returncode == 2 and "http://" in cp.stderr
    cp = cli("machines", "--bogus")
    assert cp.returncode == 2 and "--bogus" in cp.stderr
    cp = cli("hosts", "--api")
    assert cp.returncode == 2 and "needs a value" in cp.stderr
    # next-boot: its usage is checked before anything is sent (this API
    # is not there): exactly one of PROFILE/--local/--default, --once only
    # with a PROFILE, the MAC parsed as kidou parses it
    for args, text in [((), "give the machine's MAC"),
                       (("52:54:00:12:34:56",), "exactly one of PROFILE, --local, --default"),
                       (("52:54:00:12:34:56", "inst", "--local"), "exactly one of"),
                       (("52:54:00:12:34:56", "--local", "--default"), "exactly one of"),
                       (("52:54:00:12:34:56", "--local", "--once"), "--once goes with a PROFILE"),
                       (("52:54:00:12:34:5", "inst"), "'52:54:00:12:34:5' is no MAC address"),
                       (("52:54:00:12:34:56/x", "inst"), "is no MAC address"),
                       (("52:54:00:12:34:56", "inst", "more"), "unknown argument 'more'"),
                       (("52:54:00:12:34:56", "inst", "--bogus"), "unknown argument '--bogus'")]:
        cp = cli("next-boot", *args, "--api", url)
        assert cp.returncode == 2 and cp.stdout == "", (args, cp.stderr)
        assert text in cp.stderr and cp.stderr.count("\n") == 1, (args, cp.stderr)


def test_help():
    for cmd in ("machines", "leases", "hosts", "profiles"):
        cp = cli(cmd, "--help")
        assert cp.returncode == 0 and cp.stdout.startswith(f"Usage: kidou {cmd} ")
        assert f"GET /api/v1/{cmd}" in cp.stdout and "--token-file" in cp.stdout
    cp = cli("next-boot", "--help")
    assert cp.returncode == 0 and cp.stdout.startswith(
        "Usage: kidou next-boot MAC (PROFILE [--once] | --local | --default)\n")
    assert "PUT /api/v1/machines/MAC/next-boot" in cp.stdout and "done_token" in cp.stdout
    cp = cli("--help")
    assert cp.returncode == 0 and "kidou machines|leases|hosts|profiles" in cp.stdout
    assert "kidou next-boot MAC (PROFILE [--once] | --local | --default)" in cp.stdout


def test_lease_and_config(dhcp_net, dhcpd, tmp_path):
    """A real lease (udhcpc in the client namespace) in `kidou leases` and
    `kidou machines`, found through --config alone: [api] listen on the
    wildcard address (reached on loopback) wins over [http] listen, and
    the token comes from [api] token-file."""
    root = tmp_path / "tftp"
    root.mkdir()
    (root / "boot.0").write_bytes(b"B" * 5000)
    tok = token_file(tmp_path)
    cfg = tmp_path / "k.ini"
    cfg.write_text(f"[http]\nlisten = {SRV_ADDR}:8080\n\n"
                   f"[api]\nlisten = 0.0.0.0:8081\ntoken-file = {tok}\nread-token = yes\n\n"
                   "[profile inst]\nkernel = linux/vmlinuz\n\n"
                   f"[host web1]\nmac = {mac_of(7)}\nhostname = web1\nprofile = inst\n")
    dhcpd(config=cfg, tftp_root=root)
    env = Udhcpc(dhcp_net, tmp_path, name="firmware").once(*FIRMWARE)
    ip = env["ip"]
    cp = subprocess.run(["ip", "netns", "exec", dhcp_net.cli, "curl", "-sS", "-o", "/dev/null",
                         f"tftp://{SRV_ADDR}/boot.0"], timeout=T(20))
    assert cp.returncode == 0

    cp = cli("leases", "--config", cfg, netns=dhcp_net.srv)
    assert cp.returncode == 0, cp.stderr
    r = rows(cp.stdout)
    assert r[0] == ["IP", "MAC", "HOSTNAME", "STATE", "EXPIRES", "SUBNET"]
    assert r[1][:4] == [ip, dhcp_net.client_mac, "-", "bound"] and r[1][5] == "-", cp.stdout
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", r[1][4]), cp.stdout
    assert len(r) == 2

    cp = cli("machines", "--config", cfg, netns=dhcp_net.srv)
    assert cp.returncode == 0, cp.stderr
    assert_aligned(cp.stdout)
    by_mac = {x[0]: x for x in rows(cp.stdout)[1:]}
    assert by_mac[mac_of(7)] == [mac_of(7), "-", "web1", "web1", "inst", "default", "-"]
    assert by_mac[dhcp_net.client_mac][:6] == [dhcp_net.client_mac, ip, "-", "-", "-", "default"]
    assert by_mac[dhcp_net.client_mac][6] == "in-progress at tftp:boot.0", cp.stdout

    # without the token: 401
    cp = cli("machines", "--api", "http://127.0.0.1:8081", netns=dhcp_net.srv)
    assert cp.returncode == 1 and "answered 401" in cp.stderr
    cp = cli("machines", "--api", "http://127.0.0.1:8081", "--token-file", tok,
             netns=dhcp_net.srv)
    assert cp.returncode == 0 and dhcp_net.client_mac in cp.stdout
    # [http] listen serves files only, once [api] listen is set: its 404
    # is no API answer, and the CLI says so
    cp = cli("machines", "--api", f"http://{SRV_ADDR}:8080", netns=dhcp_net.srv)
    assert cp.stderr == (f"kidou: the API at http://{SRV_ADDR}:8080 answered 404: no JSON "
                         "error text (is this kidou's API address?)\n")


def test_next_boot(dhcp_net, dhcpd, tmp_path):  # noqa: F811
    """`kidou next-boot` against a real kidou that is the DHCP server (the
    records live in its lease database), in the server namespace: once,
    a profile, --local and --default, each seen through the API and
    `kidou machines`; the token from --token-file or --config; the
    refusals (no token, a wrong one, an unknown profile) exit 1 with the
    API's reason."""
    from test_next_boot import BASE, MAC, Api, done_url_of, start as nb_start
    nb_start(dhcpd, tmp_path)
    tok = tmp_path / "token"  # written by nb_start's config
    api = Api(dhcp_net)

    def nb(*args, token=tok):
        extra = ("--token-file", token) if token else ()
        return cli("next-boot", *args, "--api", BASE, *extra, netns=dhcp_net.srv)

    def machines_row(mac=MAC):
        cp = cli("machines", "--api", BASE, netns=dhcp_net.srv)
        assert cp.returncode == 0, cp.stderr
        return {r[0]: r for r in rows(cp.stdout)[1:]}.get(mac)

    # once: one line, the next-boot words of `kidou machines`, no token
    cp = nb(MAC, "inst", "--once")
    assert cp.returncode == 0 and cp.stderr == "", cp.stderr
    assert cp.stdout == f"{MAC}: next boot profile inst once (install pending)\n"
    m = api.machine()
    assert m["next_boot"] == {"mode": "profile", "profile": "inst", "once": True}
    assert m["install_pending"] is True
    assert machines_row()[5] == "profile inst once (install pending)"
    assert re.search(r"token=[0-9a-f]{32}", api.ipxe())  # it has a done token ...
    assert not re.search(r"[0-9a-f]{32}", cp.stdout)     # ... not shown

    # --json: the answer, done_token included (the one the config now
    # carries); the MAC in any of the API's three forms
    cp = nb("52-54-00-12-34-56", "inst", "--once", "--json")
    assert cp.returncode == 0, cp.stderr
    doc = json.loads(cp.stdout)
    assert doc["mac"] == MAC and doc["install_pending"] is True
    assert done_url_of(api.ipxe()).endswith(f"?token={doc['done_token']}")

    # a profile on every boot
    cp = nb("525400123456", "rescue")
    assert cp.returncode == 0 and cp.stdout == f"{MAC}: next boot profile rescue\n", cp.stderr
    assert api.machine()["next_boot"] == {"mode": "profile", "profile": "rescue", "once": False}

    # --local, the token from --config's [api] token-file
    cfg = tmp_path / "cli.ini"
    cfg.write_text(f"[http]\nlisten = {SRV_ADDR}:8080\n\n[api]\ntoken-file = {tok}\n")
    cp = cli("next-boot", MAC.upper(), "--local", "--config", cfg, netns=dhcp_net.srv)
    assert cp.returncode == 0 and cp.stdout == f"{MAC}: next boot local\n", cp.stderr
    assert api.machine()["next_boot"] == {"mode": "local"}
    assert machines_row()[5] == "local"

    # the refusals: exit 1, one line, nothing changed
    cp = nb(MAC, "--default", token=None)
    assert cp.returncode == 1 and cp.stdout == ""
    assert cp.stderr == ("kidou: next-boot needs the API token: give --token-file FILE, "
                         "or --config with [api] token-file\n")
    wrong = tmp_path / "wrong"
    wrong.write_text("nope-nope-nope-nope\n")
    cp = nb(MAC, "--default", token=wrong)
    st, err = api.call("PUT", f"/api/v1/machines/{MAC}/next-boot", {"default": True}, auth="nope")
    assert st == 401
    assert cp.returncode == 1 and cp.stdout == ""
    assert cp.stderr == f"kidou: the API at {BASE} answered 401: {err['error']}\n", cp.stderr
    cp = nb(MAC, "nosuch", "--once")
    assert cp.returncode == 1 and cp.stdout == ""
    assert cp.stderr == (f"kidou: the API at {BASE} answered 400: profile: no such profile "
                         "in the configuration\n"), cp.stderr
    assert api.machine()["next_boot"] == {"mode": "local"}

    # --default: the record is forgotten; the machine is known no more
    cp = nb(MAC, "--default")
    assert cp.returncode == 0 and cp.stdout == f"{MAC}: next boot default\n", cp.stderr
    assert api.call("GET", f"/api/v1/machines/{MAC}", auth=None)[0] == 404
    assert machines_row() is None


class FakeApi:
    """A stand-in API on loopback that answers every request with one
    canned (status, headers, body) or a stream of body chunks."""

    def __init__(self, status=200, body=b"[]", headers=(), chunks=None):
        import http.server
        import threading
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                outer.auth = self.headers.get("Authorization")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for k, v in headers:
                    self.send_header(k, v)
                if chunks is None:
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    for c in chunks:
                        self.wfile.write(c)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_PUT(self):
                outer.put = (self.path, self.headers.get("Content-Type"),
                             json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.do_GET()

            def log_message(self, *a):
                pass

        self.auth = self.put = None
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}"
        self.t = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.t.start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def test_hostile_server(tmp_path):
    """What a server sends reaches the terminal escaped, and its size is
    bounded (64 MiB), announced or not."""
    evil = [{"ip": "10.0.0.9", "mac": None, "client_id": "01", "state": "bound",
             "hostname": "x\x1b]0;owned\x07\x1b[2J\u202eyy", "expires": None, "subnet": ""}]
    f = FakeApi(body=json.dumps(evil).encode())
    try:
        cp = cli("leases", "--api", f.url)
        assert cp.returncode == 0, cp.stderr
        assert "\x1b" not in cp.stdout and "\x07" not in cp.stdout and "\u202e" not in cp.stdout
        assert "x\\x1b]0;owned\\x07\\x1b[2J\\u202eyy" in cp.stdout, cp.stdout
        cp = cli("leases", "--api", f.url, "--json")
        assert cp.returncode == 0 and "\x1b" not in cp.stdout and "\u202e" not in cp.stdout
        assert json.loads(cp.stdout) == evil
        assert f.auth is None
    finally:
        f.close()

    f = FakeApi(status=500, body=json.dumps({"error": "bad\x1b[31m\nthing"}).encode())
    try:
        cp = cli("hosts", "--api", f.url, "--token-file", token_file(tmp_path))
        assert cp.returncode == 1
        assert cp.stderr == f"kidou: the API at {f.url} answered 500: bad\\x1b[31m\\x0athing\n"
        assert f.auth == f"Bearer {TOKEN}"
    finally:
        f.close()

    # JSON that is no list of objects
    f = FakeApi(body=b'{"mac": 1}')
    try:
        cp = cli("machines", "--api", f.url)
        assert cp.returncode == 1 and "not a list of machines" in cp.stderr
    finally:
        f.close()

    # too big: announced (Content-Length, refused before the body), or
    # not (a body with no length, cut as it passes 64 MiB)
    big = (64 << 20) + 1
    for f in (FakeApi(chunks=[], headers=[("Content-Length", str(big))]),
              FakeApi(chunks=[b"[" + b" " * (1 << 20)] * 65 + [b"]"])):
        try:
            cp = cli("machines", "--api", f.url)
            assert cp.returncode == 1 and cp.stdout == ""
            assert cp.stderr == f"kidou: the API at {f.url} answered more than 64 MiB; refused\n"
        finally:
            f.close()


def test_next_boot_request(tmp_path):
    """What `kidou next-boot` sends (the path with the MAC as parsed, the
    JSON bodies of docs/api.md, the token), and a refusal whose text does
    not name its field gets it appended."""
    tok = token_file(tmp_path)
    ok = {"mac": "52:54:00:12:34:56", "next_boot": {"mode": "local"}, "install_pending": False}
    f = FakeApi(body=json.dumps(ok).encode())
    try:
        for args, body in [(("inst", "--once"), {"profile": "inst", "once": True}),
                           (("--once", "inst"), {"profile": "inst", "once": True}),
                           (("inst",), {"profile": "inst"}),
                           (("--local",), {"local": True}),
                           (("--default",), {"default": True})]:
            cp = cli("next-boot", "52-54-00-12-34-56", *args, "--api", f.url, "--token-file", tok)
            assert cp.returncode == 0 and cp.stdout == "52:54:00:12:34:56: next boot local\n"
            assert f.put == ("/api/v1/machines/52:54:00:12:34:56/next-boot", "application/json",
                             body), args
            assert f.auth == f"Bearer {TOKEN}"
    finally:
        f.close()
    f = FakeApi(status=400, body=b'{"error": "malformed MAC address", "field": "mac"}')
    try:
        cp = cli("next-boot", "525400123456", "--local", "--api", f.url, "--token-file", tok)
        assert cp.returncode == 1 and cp.stdout == ""
        assert cp.stderr == (f"kidou: the API at {f.url} answered 400: malformed MAC address "
                             "(field: mac)\n")
    finally:
        f.close()
    # an answer that is no machine's state
    f = FakeApi(body=b'[]')
    try:
        cp = cli("next-boot", "525400123456", "--local", "--api", f.url, "--token-file", tok)
        assert cp.returncode == 1 and "no machine's state" in cp.stderr
    finally:
        f.close()
