"""Issue #13, the live status page (GET / on [api] listen, /ui/ wherever
the API is), in a real browser.

The static routes are checked with http.client and raw sockets: types,
Cache-Control, ETag, the Content-Security-Policy, and refusals (404 for
any path that is not one of the page's files, 405 for other methods).

The page itself runs in Debian's chromium, headless, driven by selenium
(page_lib.py). kidou runs in the test's namespaces (dhcp_lib: a DHCP
server on v0; vm_lib: a bridge with QEMU VMs), the browser reaches it
through a loopback relay into that namespace. Machines appear and change
while the page stays loaded: the page's load mark (window.kidouPage) and
its single navigation entry show there was no reload. Each browser test
saves a screenshot under its pytest tmp dir and prints the path;
KIDOU_SCREENSHOT=docs/page.png makes test_page_states write docs/page.png (shown in the README).
"""
from __future__ import annotations

import http.client
import json
import os
import socket
from pathlib import Path

import pytest

import page_lib as P
from dhcp_lib import (  # noqa: F401  (fixtures)
    O_ARCH, O_VCLASS, SRV_ADDR, Client, RawLink, dhcp_net, dhcpd, in_netns, opt, opt_u16,
)
from kidou_testlib import T, build_ack, build_request, parse_packet
from pg_lib import pg, pg_server  # noqa: F401  (fixtures)

TOKEN = "page-token-0123456789abcdef"
MAC_WEB = "52:54:00:aa:00:01"
MAC_DB = "52:54:00:aa:00:02"
MAC_NEW = "52:54:00:aa:00:07"
MAC_NODE = "52:54:00:aa:00:03"
PXE = [opt_u16(O_ARCH, 0), opt(O_VCLASS, b"PXEClient:Arch:00000:UNDI:002001")]
PAGE_FILES = {"/ui/": "text/html; charset=utf-8", "/ui/index.html": "text/html; charset=utf-8",
              "/ui/app.css": "text/css; charset=utf-8",
              "/ui/app.js": "text/javascript; charset=utf-8"}


def write_config(tmp: Path, read_token: bool = False, extra: str = "") -> Path:
    tok = tmp / "token"
    tok.write_text(TOKEN + "\n")
    tok.chmod(0o600)
    text = ("[profile debian12]\nkernel = debian/vmlinuz\ninitrd = debian/initrd.img\n"
            "cmdline = console=ttyS0 kidou.done=${done_url}\n\n"
            "[profile rescue]\nkernel = rescue/vmlinuz\ncmdline = rescue\n\n"
            "[boot]\nprofile = rescue\n\n"
            f"[host web1]\nmac = {MAC_WEB}\nhostname = web1\n\n"
            f"[host db1]\nmac = {MAC_DB}\nhostname = db1\n\n"
            f"[host node3]\nmac = {MAC_NODE}\nhostname = node3\nprofile = debian12\n\n"
            f"[api]\ntoken-file = {tok}\nread-token = {'yes' if read_token else 'no'}\n" + extra)
    p = tmp / "page.ini"
    p.write_text(text)
    return p


def request(port, method, path, headers=None, host="127.0.0.1"):
    c = http.client.HTTPConnection(host, port, timeout=T(10))
    try:
        c.request(method, path, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def raw_request(port, line: bytes) -> int:
    """Send one request line as given (no client-side normalisation)."""
    with socket.create_connection(("127.0.0.1", port), timeout=T(10)) as s:
        s.sendall(line + b"\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while b"\r\n" not in data:
            d = s.recv(4096)
            if not d:
                break
            data += d
    return int(data.split(b" ", 2)[1])


def http_ports(k) -> list[int]:
    """The file server's port first, then the API's own (serves=api)."""
    evs = sorted(k.events("listening", mod="http"), key=lambda e: e.get("serves") == "api")
    return [int(e["addr"].rsplit(":", 1)[1]) for e in evs]


# --- the static routes ------------------------------------------------------


def check_page_files(port: int, root_is_page: bool):
    for path, ctype in PAGE_FILES.items():
        st, h, body = request(port, "GET", path)
        assert st == 200, (path, st)
        assert h["content-type"] == ctype, (path, h)
        assert h["cache-control"] == "no-cache", h
        assert h["content-security-policy"].startswith("default-src 'self'"), h
        assert "'unsafe-inline'" not in h["content-security-policy"], h
        assert h["x-content-type-options"] == "nosniff", h
        assert int(h["content-length"]) == len(body) > 0
        # unchanged: 304 without a body
        st2, h2, body2 = request(port, "GET", path, {"If-None-Match": h["etag"]})
        assert (st2, body2) == (304, b""), (path, st2)
        st3, h3, body3 = request(port, "HEAD", path)
        assert st3 == 200 and body3 == b"" and h3["content-length"] == h["content-length"]
    st, h, index = request(port, "GET", "/ui/")
    assert b'<script src="/ui/app.js"' in index and b"<style" not in index
    assert b" onclick=" not in index and b"http://" not in index and b"https://" not in index
    st, h, body = request(port, "GET", "/")
    if root_is_page:
        assert (st, body) == (200, index)
    else:
        assert st == 404, st
    # no path but the page's own files; no method but GET and HEAD
    for path in ("/ui/nothing.js", "/ui/APP.JS", "/ui/app.js/", "/ui//app.js", "/ui/ui/app.js",
                 "/ui/./app.js", "/ui/../ui/app.js", "/ui/%2e%2e/etc/passwd", "/ui/app.js%2f",
                 "/ui/.%2fapp.js", "/ui/app.js;x", "/uiapp.js", "/ui/index.html.bak",
                 "/ui/page_files.c", "/ui/" + "a" * 200):
        st, _, _ = request(port, "GET", path)
        assert st == 404, (path, st)
    assert raw_request(port, b"GET /ui/../../etc/passwd HTTP/1.1") == 404
    assert raw_request(port, b"GET /ui/app.js%00.png HTTP/1.1") in (400, 404)
    for method in ("POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE"):
        for path in ("/ui/", "/ui/app.js") + (("/",) if root_is_page else ()):
            st, h, _ = request(port, method, path)
            assert st == 405, (method, path, st)
            assert h["allow"] == "GET, HEAD", h


def test_static_routes_on_http_server(kidou_factory, tmp_path):
    """The API on the [http] server: the page under /ui/ only; "/" and
    every other path stay the file server's."""
    k = kidou_factory("--config", write_config(tmp_path), "--http-listen", "127.0.0.1:0")
    (port,) = http_ports(k)
    check_page_files(port, root_is_page=False)
    # the page files are no boot steps: no boot event, no timeline
    assert not k.events("file-start", mod="boot")
    assert k.alive()


def test_static_routes_on_api_listen(kidou_factory, tmp_path):
    """[api] listen: the page at "/" too; the file server has no API, and
    so no page."""
    k = kidou_factory("--config", write_config(tmp_path), "--http-listen", "127.0.0.1:0",
                      "--api-listen", "127.0.0.1:0")
    files, api = http_ports(k)
    check_page_files(api, root_is_page=True)
    assert request(files, "GET", "/ui/")[0] == 404
    assert request(files, "GET", "/ui/app.js")[0] == 404
    # read-token = yes does not cover the page itself (it holds no data)
    k.stop()
    k2 = kidou_factory("--config", write_config(tmp_path, read_token=True),
                       "--api-listen", "127.0.0.1:0")
    (api,) = http_ports(k2)
    assert request(api, "GET", "/")[0] == 200
    assert request(api, "GET", "/api/v1/machines")[0] == 401


# --- browser helpers ---------------------------------------------------------


@pytest.fixture
def browser(tmp_path):
    d = P.start_browser(tmp_path)
    try:
        yield d
    finally:
        d.quit()


@pytest.fixture
def forwards():
    made: list[P.Forward] = []

    def make(netns: str, target):
        f = P.Forward(netns, target)
        made.append(f)
        return f

    yield make
    for f in made:
        f.close()


def client_addr(net, ip: str):
    """Give v1 the address a scripted client leased (for its TFTP)."""
    net.cli_ip("addr", "add", f"{ip}/16", "dev", "v1")


def tftp_get(net, ip: str, name: str) -> bytes | None:
    """A TFTP read from ip in the client namespace (acks every block); None
    when the server answers with an error."""
    with in_netns(net.cli):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(T(5))
    try:
        s.bind((ip, 0))
        s.sendto(build_request(name), (SRV_ADDR, 69))
        data, block = b"", 1
        while True:
            raw, peer = s.recvfrom(2048)
            pk = parse_packet(raw)
            if pk.opcode == 5:
                return None
            assert pk.opcode == 3 and pk.block == block, pk
            data += pk.data
            s.sendto(build_ack(block), peer)
            if len(pk.data) < 512:
                return data
            block += 1
    finally:
        s.close()


def tftp_hang(net, ip: str, name: str) -> socket.socket:
    """Start a TFTP read and never acknowledge: the transfer stays open
    (the caller closes the socket)."""
    with in_netns(net.cli):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(T(5))
    s.bind((ip, 0))
    s.sendto(build_request(name), (SRV_ADDR, 69))
    pk = parse_packet(s.recvfrom(2048)[0])
    assert pk.opcode == 3 and pk.block == 1, pk
    return s


def boot_tree(tmp: Path) -> Path:
    root = tmp / "tftp"
    (root / "debian").mkdir(parents=True, exist_ok=True)
    (root / "pxelinux.0").write_bytes(os.urandom(1500))
    (root / "ldlinux.c32").write_bytes(os.urandom(3000))
    (root / "debian" / "vmlinuz").write_bytes(os.urandom(200_000))
    return root


def open_page(browser, url: str) -> str:
    browser.get(url)
    return P.wait_js(browser, "return window.kidouPage && window.kidouPage.loadMark", 10,
                     "the page's script")


def wait_rows(browser, n: int, timeout=10):
    P.wait_js(browser, "return document.querySelectorAll('#rows tr').length === arguments[0]",
              timeout, f"{n} rows", n)


def wait_visible(browser, macs: list[str]):
    """The rows the filter leaves are exactly macs (in order)."""
    P.wait_js(browser, "return JSON.stringify([...document.querySelectorAll('#rows tr')]"
              ".filter(r => !r.hidden).map(r => r.dataset.mac)) === arguments[0]", 5,
              f"visible rows {macs}", json.dumps(macs, separators=(",", ":")))


def cell_text(browser, mac: str, cls: str) -> str:
    return browser.execute_script(
        "const r = document.querySelector(`#rows tr[data-mac='${arguments[0]}']`);"
        "const c = r && r.querySelector('.' + arguments[1]); return c ? c.innerText : null",
        mac, cls)


def set_filter(browser, text: str):
    from selenium.webdriver.common.by import By
    f = browser.find_element(By.ID, "filter")
    f.clear()
    if text:
        f.send_keys(text)
    else:
        # clear() sends no input event
        browser.execute_script("arguments[0].dispatchEvent(new Event('input'))", f)


def next_boot(browser, mac: str, choice: str, token: str, once: bool = True) -> str:
    """Use the row's next-boot dialog: 'closed' when it closed (accepted),
    else the error it shows."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    # Found and clicked in one step of the page's own thread: the page
    # redraws rows as events arrive, so an element found from here first
    # may be replaced before a separate click reaches it (stale element).
    assert browser.execute_script(
        "const b = document.querySelector(`#rows tr[data-mac='${arguments[0]}'] .nb-button`);"
        "if (!b) return false; b.click(); return true", mac), f"no next-boot button for {mac}"
    P.wait_js(browser, "return document.getElementById('nb-dialog').open", 5, "the dialog")
    Select(browser.find_element(By.ID, "nb-choice")).select_by_value(choice)
    box = browser.find_element(By.ID, "nb-once")
    if box.is_enabled() and box.is_selected() != once:
        box.click()
    t = browser.find_element(By.ID, "nb-token")
    t.clear()
    t.send_keys(token)
    browser.find_element(By.ID, "nb-submit").click()
    return P.wait_js(browser,
                     "const d = document.getElementById('nb-dialog');"
                     "const e = document.getElementById('nb-error').textContent;"
                     "return !d.open ? 'closed' : e ? e : null", 10, "the dialog's answer")


def no_script_errors(browser):
    """No CSP refusal and no uncaught exception (HTTP refusals the page
    itself provoked, 401s, are logged by chromium too: not counted)."""
    bad = [m for m in P.console_errors(browser)
           if "Content Security Policy" in m or "Uncaught" in m]
    assert not bad, bad


# --- the page, live -----------------------------------------------------------


@pytest.mark.parametrize("read_token", [False, True], ids=["open-reads", "read-token"])
def test_page_live(dhcp_net, dhcpd, tmp_path, browser, forwards, read_token):  # noqa: F811
    """A DHCP client and a TFTP fetch make a row appear without a reload;
    the filter hides rows; the next-boot dialog shows the API's refusal
    for a wrong token and changes the row with the right one. With [api]
    read-token = yes the page asks for the token first and reads the API
    (and the event stream, with fetch) with it."""
    boot_tree(tmp_path)
    k = dhcpd("--config", write_config(tmp_path, read_token), "--http-listen",
              f"{SRV_ADDR}:8080", tftp_root=tmp_path / "tftp")
    fwd = forwards(dhcp_net.srv, (SRV_ADDR, 8080))
    mark = open_page(browser, fwd.url + "/ui/")
    if read_token:
        from selenium.webdriver.common.by import By
        P.wait_js(browser, "return !document.getElementById('login').hidden", 10,
                  "the token form")
        box = browser.find_element(By.ID, "login-token")
        box.send_keys("not-the-token-at-all")
        browser.find_element(By.CSS_SELECTOR, "#login-form button").click()
        err = P.wait_js(browser, "return document.getElementById('login-error').textContent",
                        10, "the login error")
        assert "missing or wrong bearer token" in err, err
        box.send_keys(TOKEN)
        browser.find_element(By.CSS_SELECTOR, "#login-form button").click()
        P.wait_js(browser, "return document.getElementById('login').hidden", 10,
                  "the token accepted")
    # the configured hosts, then the event stream
    wait_rows(browser, 3)
    P.wait_js(browser, "return document.getElementById('live').dataset.state === 'on'", 10,
              "the event stream")
    assert P.row_state(browser, MAC_NEW) is None

    # an unknown machine asks for an address, as PXE firmware
    link = RawLink(dhcp_net.cli)
    try:
        c = Client(link, mac=MAC_NEW)
        _, ack = c.dora(PXE)
    finally:
        link.close()
    ip = ack.dhcp.yiaddr
    wait_rows(browser, 4)
    assert P.wait_js(browser, "const r = document.querySelector(`#rows tr[data-mac='${arguments[0]}']`);"
                     "return r && r.dataset.state", 10, "the new row", MAC_NEW) == "booting"
    assert cell_text(browser, MAC_NEW, "c-ip") == ip
    # its first file: the row's current step follows
    client_addr(dhcp_net, ip)
    assert tftp_get(dhcp_net, ip, "pxelinux.0") is not None
    P.wait_js(browser,
              "const r = document.querySelector(`#rows tr[data-mac='${arguments[0]}'] .c-step`);"
              "return r && r.innerText.includes('tftp:pxelinux.0')", 10, "the TFTP step", MAC_NEW)
    assert P.loaded_once(browser, mark)

    # the filter: by hostname, by IP, by profile; then nothing hides
    set_filter(browser, "web1")
    wait_visible(browser, [MAC_WEB])
    set_filter(browser, ip)
    wait_visible(browser, [MAC_NEW])
    set_filter(browser, "debian12")
    wait_visible(browser, [MAC_NODE])
    set_filter(browser, "52:54:00:AA:00:0")
    wait_visible(browser, [MAC_WEB, MAC_DB, MAC_NODE, MAC_NEW])
    set_filter(browser, "no-such-machine")
    wait_visible(browser, [])
    set_filter(browser, "")
    wait_visible(browser, [MAC_WEB, MAC_DB, MAC_NODE, MAC_NEW])

    # next boot: a wrong token shows the API's refusal, the row unchanged
    err = next_boot(browser, MAC_NEW, "profile:debian12", "wrong-token-0123456789")
    assert "401" in err and "missing or wrong bearer token" in err, err
    assert cell_text(browser, MAC_NEW, "c-next") == "default"
    browser.find_element("id", "nb-cancel").click()
    # the right one: install once; the row says so
    assert next_boot(browser, MAC_NEW, "profile:debian12", TOKEN) == "closed"
    P.wait_js(browser, "return document.querySelector(`#rows tr[data-mac='${arguments[0]}'] "
              ".c-next`).innerText === 'install debian12 once'", 10, "install pending", MAC_NEW)
    with_auth = {"Authorization": f"Bearer {TOKEN}"}
    st, _, body = request(fwd.port, "GET", f"/api/v1/machines/{MAC_NEW}", with_auth)
    m = json.loads(body)
    assert m["install_pending"] is True and m["next_boot"]["profile"] == "debian12", m
    # then local: the badge changes again (the token is kept for the tab)
    assert next_boot(browser, MAC_NEW, "local", TOKEN) == "closed"
    P.wait_js(browser, "return document.querySelector(`#rows tr[data-mac='${arguments[0]}'] "
              ".c-next`).innerText === 'local disk'", 10, "local", MAC_NEW)
    assert browser.execute_script("return sessionStorage.getItem('kidou-token')") == TOKEN
    assert browser.execute_script("return localStorage.length") == 0

    assert P.loaded_once(browser, mark)
    no_script_errors(browser)
    P.screenshot(browser, tmp_path)
    assert k.alive()


def boot_machine(net, link, mac: str) -> str:
    """A scripted PXE client: its DHCP as firmware; its address (on v1)."""
    _, ack = Client(link, mac=mac).dora(PXE)
    ip = ack.dhcp.yiaddr
    client_addr(net, ip)
    return ip


def wait_state(browser, mac: str, want: str, timeout: float):
    P.wait_js(browser, "const r = document.querySelector(`#rows tr[data-mac='${arguments[0]}']`);"
              "return r && r.dataset.state === arguments[1]", timeout, f"{mac} {want}", mac, want)


def test_page_states(dhcp_net, dhcpd, tmp_path, browser, forwards):  # noqa: F811
    """Three machines as an operator would see them: web1 booted (firmware
    DHCP, three files, then the kernel's own DHCP), db1 stalled (its
    boot file is not there) with the reason in its row, node3 installing
    (next boot set to debian12 once, a transfer in progress). The page
    shows each outcome as the timelines close, without a reload.
    KIDOU_SCREENSHOT=docs/page.png saves the screenshot the README shows."""
    boot_tree(tmp_path)
    k = dhcpd("--config", write_config(tmp_path), "--http-listen", f"{SRV_ADDR}:8080",
              "--timeline-idle", "2", tftp_root=tmp_path / "tftp")
    fwd = forwards(dhcp_net.srv, (SRV_ADDR, 8080))
    mark = open_page(browser, fwd.url + "/ui/")
    wait_rows(browser, 3)
    link = RawLink(dhcp_net.cli)
    hang = None
    try:
        ip = boot_machine(dhcp_net, link, MAC_WEB)
        for name in ("pxelinux.0", "ldlinux.c32", "debian/vmlinuz"):
            assert tftp_get(dhcp_net, ip, name) is not None, name
        Client(link, mac=MAC_WEB).dora([])   # the kernel's DHCP: no PXE options
        ip = boot_machine(dhcp_net, link, MAC_DB)
        # its boot file is missing from the tree: the firmware gives up
        assert tftp_get(dhcp_net, ip, "bios/pxelinux.0") is None
        wait_state(browser, MAC_WEB, "booted", 20)
        wait_state(browser, MAC_DB, "stalled", 20)
        assert cell_text(browser, MAC_DB, "c-state").split() == ["stalled", "file-not-found"]
        # node3: install once, then its boot begins
        c = http.client.HTTPConnection("127.0.0.1", fwd.port, timeout=T(10))
        c.request("PUT", f"/api/v1/machines/{MAC_NODE}/next-boot",
                  body=json.dumps({"profile": "debian12", "once": True}),
                  headers={"Authorization": f"Bearer {TOKEN}",
                           "Content-Type": "application/json"})
        r = c.getresponse()
        assert r.status == 200, r.read()
        c.close()
        ip = boot_machine(dhcp_net, link, MAC_NODE)
        assert tftp_get(dhcp_net, ip, "pxelinux.0") is not None
        assert tftp_get(dhcp_net, ip, "ldlinux.c32") is not None
        hang = tftp_hang(dhcp_net, ip, "debian/vmlinuz")
        wait_state(browser, MAC_NODE, "booting", 10)
        P.wait_js(browser, "const c = document.querySelector(`#rows tr[data-mac='${arguments[0]}'] "
                  ".c-step`); return c && c.innerText.includes('debian/vmlinuz')", 10,
                  "node3's open transfer", MAC_NODE)
        assert cell_text(browser, MAC_NODE, "c-next") == "install debian12 once"
        assert cell_text(browser, MAC_WEB, "c-state") == "booted"
        assert P.loaded_once(browser, mark)
        no_script_errors(browser)
        P.screenshot(browser, tmp_path, for_docs=True)
    finally:
        link.close()
        if hang:
            hang.close()
    assert k.alive()


# --- the lease database away (issue 15) -----------------------------------------


def test_page_shows_store_outage(dhcp_net, dhcpd, tmp_path, browser, forwards, pg,
                                 monkeypatch):
    """kidou on PostgreSQL: while the database is away (found by a
    commit that fails) the page shows a banner, without a reload, and
    GET /api/v1/status says lease_store up false; it goes when the
    database is back."""
    from dhcp_lib import O_REQ_IP, O_SERVER_ID, REQUEST, opt_ip

    monkeypatch.setenv("PGPASSFILE", str(pg.passfile))
    boot_tree(tmp_path)
    k = dhcpd("--config", write_config(tmp_path), "--http-listen", f"{SRV_ADDR}:8080",
              tftp_root=tmp_path / "tftp", db=pg.uri)
    fwd = forwards(dhcp_net.srv, (SRV_ADDR, 8080))
    mark = open_page(browser, fwd.url + "/ui/")
    wait_rows(browser, 3)

    def status():
        st, _, body = request(fwd.port, "GET", "/api/v1/status")
        assert st == 200, body
        return json.loads(body)["lease_store"]
    assert status() == {"backend": "postgresql", "up": True, "outages": 0,
                        "claims_refused": 0}
    assert browser.execute_script("return document.getElementById('store-down').hidden")

    pg.stop()
    link = RawLink(dhcp_net.cli)
    try:
        c = Client(link, mac=MAC_NEW)
        offer = c.discover()
        link.drain()
        c.send(REQUEST, [opt_ip(O_SERVER_ID, SRV_ADDR), opt_ip(O_REQ_IP, offer.dhcp.yiaddr)])
        k.wait_event("database-down", mod="store", timeout=T(30))
    finally:
        link.close()
    s = status()
    assert s["up"] is False and s["outages"] == 1, s
    P.wait_js(browser, "return !document.getElementById('store-down').hidden", 20,
              "the outage banner")
    P.screenshot(browser, tmp_path)

    pg.start()
    k.wait_event("database-up", mod="store", timeout=T(30))
    assert status()["up"] is True
    P.wait_js(browser, "return document.getElementById('store-down').hidden", 20,
              "the banner gone")
    assert P.loaded_once(browser, mark)
    no_script_errors(browser)
    assert k.alive()


# --- a real machine boots while the page is open -------------------------------


def test_page_vm_boot(vmnet, vm_tree, tmp_path, browser, forwards):
    """A QEMU VM (SeaBIOS, PXELINUX, Linux; TCG here) boots from kidou
    while the page is open at "/" on [api] listen: its row appears, follows
    the boot step by step and reaches "booted", with no reload."""
    import vm_lib as V
    mac = "52:54:00:4b:44:1a"
    # The default timeline-idle (20 s): under TCG the kernel takes seconds
    # between its initrd and its own DHCP, which is what makes it "booted".
    args = V.kidou_args(vm_tree, tmp_path) + ["--api-listen", "127.0.0.1:8081"]
    k = vmnet.start_kidou(args=args)
    fwd = forwards(vmnet.ns.name, ("127.0.0.1", 8081))
    mark = open_page(browser, fwd.url + "/")
    P.wait_js(browser, "return document.getElementById('live').dataset.state === 'on' && "
              "!document.getElementById('empty').hidden", 10, "the empty page, live")
    vm = vmnet.vm("bios", mac).start()
    timeout = V.boot_timeout(vm.accel)
    P.wait_js(browser, "return !!document.querySelector(`#rows tr[data-mac='${arguments[0]}']`)",
              timeout, "the VM's row", mac)
    # the row follows the boot: PXELINUX's files show up as its steps
    P.wait_js(browser, "const b = document.querySelector(`#rows tr[data-mac='${arguments[0]}'] "
              ".tl-bar`); return b && b.querySelector(\"[data-step$='ldlinux.c32']\")",
              timeout, "the VM's ldlinux.c32 step", mac)
    r = V.wait_booted(vm, k)
    wait_state(browser, mac, "booted", 60)
    ip = r.ip.split("/")[0]
    assert cell_text(browser, mac, "c-ip") == ip
    steps = browser.execute_script(
        "return [...document.querySelectorAll(`#rows tr[data-mac='${arguments[0]}'] .seg`)]"
        ".map(s => s.dataset.step)", mac)
    for name in ("tftp:" + V.BOOT_BIOS, "tftp:" + V.KERNEL, "tftp:" + V.INITRD):
        assert name in steps, (name, steps)
    assert P.loaded_once(browser, mark)
    no_script_errors(browser)
    P.screenshot(browser, tmp_path)
    vm.stop()
