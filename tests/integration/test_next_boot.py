"""Issue #13, the next-boot write side: "install once, then boot from disk".

PUT /api/v1/machines/{mac}/next-boot and POST .../done change what the
rendered PXELINUX and iPXE configs of a machine say, durably (answered
after the lease store's commit): the state survives SIGHUP and a restart.
kidou runs as a DHCP server in the server namespace of dhcp_lib (the
next-boot records live in its lease database); the API and the rendered
files are fetched there with curl, by MAC (pxelinux.cfg/01-..., and
boot.ipxe?mac=...), as the machines themselves ask for them.
"""
from __future__ import annotations

import json
import re
import signal
import subprocess
from pathlib import Path

import pytest

from dhcp_lib import SRV_ADDR, Udhcpc, dhcp_net, dhcpd  # noqa: F401  (fixtures)
from kidou_testlib import T

TOKEN = "s3cret-token-0123456789abcdef"
MAC = "52:54:00:12:34:56"
OTHER = "52:54:00:12:34:57"
BASE = f"http://{SRV_ADDR}:8080"


def dashed(mac: str) -> str:
    return "01-" + mac.replace(":", "-")


def write_config(tmp: Path, token: bool = True) -> Path:
    tok = tmp / "token"
    tok.write_text(TOKEN + "\n")
    tok.chmod(0o600)
    text = ("[profile inst]\nkernel = inst/vmlinuz\ninitrd = inst/initrd.img\n"
            "cmdline = console=ttyS0 kidou.done=${done_url}\n\n"
            "[profile rescue]\nkernel = rescue/vmlinuz\ncmdline = rescue\n\n"
            "[boot]\nprofile = rescue\n\n")
    if token:
        text += f"[api]\ntoken-file = {tok}\n"
    p = tmp / "k.ini"
    p.write_text(text)
    return p


class Api:
    """curl in the server namespace: the API and the rendered files."""

    def __init__(self, net, api_base: str = BASE):
        self.net = net
        self.api_base = api_base  # BASE, or [api] listen's own server

    def _curl(self, *args) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", self.net.srv, "curl", "-sS", *args],
                              capture_output=True, timeout=T(20))

    def call(self, method: str, path: str, body=None, auth: str | None = TOKEN,
             chunked: bool = False):
        args = ["-X", method, "-w", "\n%{http_code}", self.api_base + path]
        if chunked:
            args += ["-H", "Transfer-Encoding: chunked"]
        if auth:
            args += ["-H", f"Authorization: Bearer {auth}"]
        if body is not None:
            args += ["-H", "Content-Type: application/json", "--data-binary",
                     body if isinstance(body, str) else json.dumps(body)]
        cp = self._curl(*args)
        assert cp.returncode == 0, cp.stderr
        text, code = cp.stdout.decode().rsplit("\n", 1)
        return int(code), (json.loads(text) if text else None)

    def machine(self, mac: str = MAC) -> dict:
        st, m = self.call("GET", f"/api/v1/machines/{mac}", auth=None)
        assert st == 200, m
        return m

    def pxelinux(self, mac: str = MAC) -> str:
        cp = self._curl(f"tftp://{SRV_ADDR}/pxelinux.cfg/{dashed(mac)}")
        assert cp.returncode == 0, cp.stderr
        return cp.stdout.decode()

    def ipxe(self, mac: str = MAC) -> str:
        cp = self._curl(f"{BASE}/boot.ipxe?mac={mac}")
        assert cp.returncode == 0, cp.stderr
        return cp.stdout.decode()


def start(dhcpd, tmp_path, token=True, db=None):  # noqa: F811
    return dhcpd("--config", write_config(tmp_path, token), "--http-listen",
                 f"{SRV_ADDR}:8080", db=db)


def done_url_of(text: str) -> str:
    m = re.search(r"kidou\.done=(\S+)", text)
    assert m, text
    return m.group(1)


def test_install_once_then_local(dhcp_net, dhcpd, tmp_path):  # noqa: F811
    k = start(dhcpd, tmp_path)
    api = Api(dhcp_net)
    # before: the [boot] profile, no record
    assert api.call("GET", f"/api/v1/machines/{MAC}", auth=None)[0] == 404  # unknown MAC
    assert "rescue/vmlinuz" in api.ipxe()

    st, doc = api.call("PUT", f"/api/v1/machines/{MAC}/next-boot",
                       {"profile": "inst", "once": True})
    assert st == 200, doc
    assert doc["next_boot"] == {"mode": "profile", "profile": "inst", "once": True}
    assert doc["install_pending"] is True and len(doc["done_token"]) == 32
    token = doc["done_token"]
    m = api.machine()
    assert m["next_boot"] == {"mode": "profile", "profile": "inst", "once": True}
    assert m["install_pending"] is True and "done_token" not in m

    px = api.pxelinux()
    assert "kernel ::inst/vmlinuz" in px
    url = done_url_of(px)
    assert url == f"{BASE}/api/v1/machines/{MAC}/done?token={token}"
    ipxe = api.ipxe()
    assert f"kernel {BASE}/inst/vmlinuz" in ipxe and done_url_of(ipxe) == url
    # another machine is untouched, and its ${done_url} is empty
    other = api.ipxe(OTHER)
    assert "rescue/vmlinuz" in other and "done" not in other

    # a wrong token: refused and logged; the install is still pending
    st, e = api.call("POST", f"/api/v1/machines/{MAC}/done?token={'0' * 32}", auth=None)
    assert st == 403 and e["field"] == "token"
    k.wait_event("done-refused", mod="api", mac=MAC, reason="wrong-token", timeout=T(5))
    assert api.machine()["install_pending"] is True

    # the installer's callback, without the bearer token
    st, doc = api.call("POST", url[len(BASE):], auth=None)
    assert st == 200, doc
    assert doc["next_boot"] == {"mode": "local"} and doc["install_pending"] is False
    m = api.machine()
    assert m["next_boot"] == {"mode": "local"} and m["install_pending"] is False
    px = api.pxelinux()
    assert "default local" in px and "localboot 0" in px and "vmlinuz" not in px
    ipxe = api.ipxe()
    assert ipxe.startswith("#!ipxe") and "\nexit\n" in ipxe and "vmlinuz" not in ipxe

    # replayed: refused, logged, nothing changes
    st, e = api.call("POST", url[len(BASE):], auth=None)
    assert st == 403
    k.wait_event("done-refused", mod="api", mac=MAC, reason="no-pending-install", timeout=T(5))
    assert api.machine()["next_boot"] == {"mode": "local"}
    assert "localboot 0" in api.pxelinux()
    # the one-time token stays out of the access log
    assert token not in k.text() and "done?token=-" in k.text()


@pytest.mark.parametrize("listen", ["0.0.0.0", "127.0.0.1"])
def test_done_url_follows_api_listen(dhcp_net, dhcpd, tmp_path, listen):  # noqa: F811
    """[api] listen set: the API is only there (the [http] server answers
    no /api/ path), so ${done_url} points there; an unspecified listen
    address becomes the address the machine talked to (here SRV_ADDR, as
    in ${http}). The rendered URL works, once."""
    dhcpd("--config", write_config(tmp_path), "--http-listen", f"{SRV_ADDR}:8080",
          "--api-listen", f"{listen}:8081")
    api_base = f"http://{SRV_ADDR if listen == '0.0.0.0' else listen}:8081"
    api = Api(dhcp_net, api_base)
    # the file server has no API any more
    cp = api._curl("-o", "/dev/null", "-w", "%{http_code}", f"{BASE}/api/v1/machines")
    assert cp.stdout == b"404", cp
    st, doc = api.call("PUT", f"/api/v1/machines/{MAC}/next-boot",
                       {"profile": "inst", "once": True})
    assert st == 200, doc
    token = doc["done_token"]
    url = done_url_of(api.pxelinux())
    assert url == f"{api_base}/api/v1/machines/{MAC}/done?token={token}"
    # iPXE asks the file server, and gets the same URL
    assert done_url_of(api.ipxe()) == url
    # the installer calls it (no bearer token): it works, once
    st, doc = api.call("POST", url[len(api_base):], auth=None)
    assert st == 200 and doc["next_boot"] == {"mode": "local"}, doc
    assert api.machine()["install_pending"] is False
    assert api.call("POST", url[len(api_base):], auth=None)[0] == 403
    assert "localboot 0" in api.pxelinux()


def test_refusals(dhcp_net, dhcpd, tmp_path):  # noqa: F811
    start(dhcpd, tmp_path)
    api = Api(dhcp_net)
    path = f"/api/v1/machines/{MAC}/next-boot"
    st, e = api.call("PUT", path, {"profile": "nope"})
    assert st == 400 and e["field"] == "profile" and "no such profile" in e["error"]
    st, e = api.call("PUT", path, "{not json")
    assert st == 400 and e["error"]
    st, e = api.call("PUT", path, "[1]")
    assert st == 400
    st, e = api.call("PUT", path, {"profile": "inst", "colour": "blue"})
    assert st == 400 and e["field"] == "colour"
    st, e = api.call("PUT", path, {"profile": 7})
    assert st == 400 and e["field"] == "profile"
    st, e = api.call("PUT", path, {"profile": "inst", "once": "yes"})
    assert st == 400 and e["field"] == "once"
    st, e = api.call("PUT", path, {"local": True, "once": True})
    assert st == 400 and e["field"] == "once"
    st, e = api.call("PUT", path, {"local": True, "profile": "inst"})
    assert st == 400
    st, e = api.call("PUT", path, {"local": False})
    assert st == 400 and e["field"] == "local"
    st, e = api.call("PUT", path, "{}")
    assert st == 400
    st, e = api.call("PUT", path, "x" * 5000)
    assert st == 413 and "too large" in e["error"]
    # chunked: no length to refuse up front; read on, kept to 4 KiB, 413
    st, e = api.call("PUT", path, " " * 5000 + '{"local": true}', chunked=True)
    assert st == 413 and "too large" in e["error"]
    # within the bound, chunked or not, a body is read whole
    st, e = api.call("PUT", path, " " * 4000 + '{"local": 1}', chunked=True)
    assert st == 400 and e["field"] == "local"
    st, e = api.call("PUT", path, {"local": True}, auth="wrong")
    assert st == 401
    st, e = api.call("PUT", path, {"local": True}, auth=None)
    assert st == 401
    # done on a machine with no install pending: 403, with or without a token
    st, e = api.call("POST", f"/api/v1/machines/{MAC}/done?token={'a' * 32}", auth=None)
    assert st == 403
    st, e = api.call("POST", f"/api/v1/machines/{MAC}/done", auth=None)
    assert st == 401
    # nothing was recorded by any of these
    assert api.call("GET", f"/api/v1/machines/{MAC}", auth=None)[0] == 404


def test_done_token_is_per_machine(dhcp_net, dhcpd, tmp_path):  # noqa: F811
    """Two machines installing at once: each one's done token works only
    at its own URL; a swapped one is refused and spends nothing."""
    k = start(dhcpd, tmp_path)
    api = Api(dhcp_net)
    tokens = {}
    for mac in (MAC, OTHER):
        st, doc = api.call("PUT", f"/api/v1/machines/{mac}/next-boot",
                           {"profile": "inst", "once": True})
        assert st == 200, doc
        tokens[mac] = doc["done_token"]
    assert tokens[MAC] != tokens[OTHER]
    st, e = api.call("POST", f"/api/v1/machines/{OTHER}/done?token={tokens[MAC]}", auth=None)
    assert st == 403 and e["field"] == "token"
    k.wait_event("done-refused", mod="api", mac=OTHER, reason="wrong-token", timeout=T(5))
    assert api.machine(OTHER)["install_pending"] is True
    assert api.machine(MAC)["install_pending"] is True
    for mac in (MAC, OTHER):
        st, doc = api.call("POST", f"/api/v1/machines/{mac}/done?token={tokens[mac]}", auth=None)
        assert st == 200 and doc["next_boot"] == {"mode": "local"}, doc


def test_no_token_file(dhcp_net, dhcpd, tmp_path):  # noqa: F811
    start(dhcpd, tmp_path, token=False)
    api = Api(dhcp_net)
    st, e = api.call("PUT", f"/api/v1/machines/{MAC}/next-boot", {"local": True})
    assert st == 403 and "token-file" in e["error"]


def test_operator_done_local_default(dhcp_net, dhcpd, tmp_path):  # noqa: F811
    """The bearer token stands in for the done token; local and default."""
    start(dhcpd, tmp_path)
    api = Api(dhcp_net)
    path = f"/api/v1/machines/{MAC}/next-boot"
    assert api.call("PUT", path, {"profile": "inst", "once": True})[0] == 200
    st, doc = api.call("POST", f"/api/v1/machines/{MAC}/done")
    assert st == 200 and doc["next_boot"] == {"mode": "local"}
    # every boot a profile (no once, no token, no done URL)
    st, doc = api.call("PUT", path, {"profile": "inst"})
    assert st == 200 and doc["next_boot"]["once"] is False and "done_token" not in doc
    assert doc["install_pending"] is False
    px = api.pxelinux()
    assert "kernel ::inst/vmlinuz" in px and "kidou.done=\n" in px
    assert api.call("POST", f"/api/v1/machines/{MAC}/done")[0] == 403
    # default: the record is gone, the [boot] profile is back
    st, doc = api.call("PUT", path, {"default": True})
    assert st == 200 and doc["next_boot"] == {"mode": "default"}
    assert "rescue/vmlinuz" in api.ipxe()
    assert api.call("GET", f"/api/v1/machines/{MAC}", auth=None)[0] == 404


def test_state_survives_sighup_and_restart(dhcp_net, dhcpd, tmp_path):  # noqa: F811
    db = tmp_path / "leases.db"
    k = start(dhcpd, tmp_path, db=db)
    api = Api(dhcp_net)
    st, doc = api.call("PUT", f"/api/v1/machines/{MAC}/next-boot",
                       {"profile": "inst", "once": True})
    assert st == 200
    token = doc["done_token"]
    assert api.call("PUT", f"/api/v1/machines/{OTHER}/next-boot", {"local": True})[0] == 200
    k.signal(signal.SIGHUP)
    k.wait_event("reloaded", mod="main", timeout=T(5))
    assert api.machine()["install_pending"] is True
    assert api.machine(OTHER)["next_boot"] == {"mode": "local"}
    assert k.stop() == 0

    k = start(dhcpd, tmp_path, db=db)
    k.wait_event("next-boot-loaded", mod="main", records="2", timeout=T(5))
    m = api.machine()
    assert m["next_boot"] == {"mode": "profile", "profile": "inst", "once": True}
    assert m["install_pending"] is True
    assert done_url_of(api.pxelinux()).endswith(f"token={token}")
    assert "localboot 0" in api.pxelinux(OTHER)
    # the token from before the restart still works, once
    st, doc = api.call("POST", f"/api/v1/machines/{MAC}/done?token={token}", auth=None)
    assert st == 200 and doc["next_boot"] == {"mode": "local"}
    assert k.stop() == 0

    k = start(dhcpd, tmp_path, db=db)
    assert api.machine()["next_boot"] == {"mode": "local"}
    st, _ = api.call("POST", f"/api/v1/machines/{MAC}/done?token={token}", auth=None)
    assert st == 403


def test_local_boot_outcome(dhcp_net, dhcpd, tmp_path):  # noqa: F811
    """A machine in local mode boots: DHCP as firmware, then PXELINUX asks
    for its config without naming itself (pxelinux.cfg/default, found by
    its lease) and gets the local form; its timeline ends outcome=local."""
    k = start(dhcpd, tmp_path)
    api = Api(dhcp_net)
    mac = dhcp_net.client_mac
    assert api.call("PUT", f"/api/v1/machines/{mac}/next-boot", {"local": True})[0] == 200
    Udhcpc(dhcp_net, tmp_path, name="firmware").once("-x", "0x5d:0000")
    cp = subprocess.run(["ip", "netns", "exec", dhcp_net.cli, "curl", "-sS",
                         f"tftp://{SRV_ADDR}/pxelinux.cfg/default"], capture_output=True,
                        timeout=T(20))
    assert cp.returncode == 0, cp.stderr
    text = cp.stdout.decode()
    assert "default local" in text and "localboot 0" in text and "kernel" not in text
    assert k.boot_summary_at_stop(mac)["outcome"] == "local"


def put_local_waiting(dhcp_net, k, api) -> subprocess.Popen:
    """PUT {"local": true} with curl in the background, returned once the
    record is in memory (the commit may still wait); curl prints the body,
    a newline and the status."""
    put = subprocess.Popen(
        ["ip", "netns", "exec", dhcp_net.srv, "curl", "-sS", "-X", "PUT", "-w", "\n%{http_code}",
         "-H", f"Authorization: Bearer {TOKEN}", "--data-binary", '{"local": true}',
         f"{BASE}/api/v1/machines/{MAC}/next-boot"], stdout=subprocess.PIPE)
    k.wait_for(lambda: api.call("GET", f"/api/v1/machines/{MAC}", auth=None)[0] == 200,
               timeout=T(10), what="the record in memory")
    return put


def test_store_failure_is_503_and_undone(dhcp_net, dhcpd, tmp_path):  # noqa: F811
    """The database locked by another process past the store's busy
    timeout: the PUT waits (reads do not), then answers 503 with SQLite's
    reason, and the change is undone in memory."""
    from test_store_async import Locker
    db = tmp_path / "leases.db"
    k = start(dhcpd, tmp_path, db=db)
    api = Api(dhcp_net)
    lk = Locker(db)
    try:
        # applied in memory at once (boots see it), while the commit waits
        put = put_local_waiting(dhcp_net, k, api)
        assert api.machine()["next_boot"] == {"mode": "local"}
        out, _ = put.communicate(timeout=T(30))
        text, code = out.decode().rsplit("\n", 1)
        assert code == "503", text
        assert "locked" in json.loads(text)["error"]
        k.wait_event("store-error", mod="api", mac=MAC, undone="yes", timeout=T(5))
        assert api.call("GET", f"/api/v1/machines/{MAC}", auth=None)[0] == 404
        assert "rescue/vmlinuz" in api.ipxe()
    finally:
        lk.release()
    st, doc = api.call("PUT", f"/api/v1/machines/{MAC}/next-boot", {"local": True})
    assert st == 200 and doc["next_boot"] == {"mode": "local"}


def test_stop_while_a_write_waits(dhcp_net, dhcpd, tmp_path):  # noqa: F811
    """SIGTERM while a write waits for a locked database: the client gets
    503 (kidou cannot say whether it was kept), kidou exits 0 with no
    connection left suspended."""
    from test_store_async import Locker
    db = tmp_path / "leases.db"
    k = start(dhcpd, tmp_path, db=db)
    api = Api(dhcp_net)
    lk = Locker(db)
    try:
        put = put_local_waiting(dhcp_net, k, api)
        assert k.stop(timeout=T(15)) == 0, k.text()[-3000:]
        out, _ = put.communicate(timeout=T(30))
        text, code = out.decode().rsplit("\n", 1)
        assert code == "503" and "stopping" in json.loads(text)["error"], out
    finally:
        lk.release()
