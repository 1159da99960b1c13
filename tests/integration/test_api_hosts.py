"""Issue #13, the hosts writes: PUT and DELETE /api/v1/hosts/{name}.

A host written through the API is a real host: DHCP gives it its fixed
address and host name, the boot file of its architecture, and the
rendered PXELINUX/iPXE configs are its profile's (with ${hostname}), as
if it were a [host] section of the config file. The body is validated
by the config's own [host] setters; the file's hosts are read-only and
win every clash; the hosts live in the lease database and survive SIGHUP
and a restart. kidou runs as a DHCP server in dhcp_lib's namespaces.
"""
from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest

from dhcp_lib import (  # noqa: F401  (fixtures)
    O_VCLASS, SRV_ADDR, Client, Udhcpc, dhcp_net, dhcpd, link, opt, opt_prl,
)
from kidou_testlib import T
from test_next_boot import BASE, TOKEN, Api

CFG_MAC = "52:54:00:cc:00:01"     # [host cfg1] of the file
CFG_IP = "172.24.7.1"
FIXED = "172.24.5.5"              # outside the range 172.24.32.x
BIOS_VC = "PXEClient:Arch:00000:UNDI:002001"
PXE_PRL = opt_prl(1, 3, 6, 12, 15, 43, 60, 66, 67, 97)


def write_config(tmp: Path, token: bool = True, extra: str = "") -> Path:
    tok = tmp / "token"
    tok.write_text(TOKEN + "\n")
    tok.chmod(0o600)
    text = ("[profile inst]\nkernel = inst/vmlinuz\ninitrd = inst/initrd.img\n"
            "cmdline = inst host=${hostname} ip=${ip}\n\n"
            "[profile rescue]\nkernel = rescue/vmlinuz\ncmdline = rescue\n\n"
            "[boot]\nprofile = rescue\n\n"
            f"[host cfg1]\nmac = {CFG_MAC}\nip = {CFG_IP}\nhostname = cfg1\n\n" + extra)
    if token:
        text += f"[api]\ntoken-file = {tok}\n"
    p = tmp / "k.ini"
    p.write_text(text)
    return p


def start(dhcpd, tmp_path, *flags, token=True, db=None, extra=""):  # noqa: F811
    return dhcpd("--config", write_config(tmp_path, token, extra), "--http-listen",
                 f"{SRV_ADDR}:8080", *flags, db=db)


def hosts(api) -> dict:
    st, doc = api.call("GET", "/api/v1/hosts", auth=None)
    assert st == 200, doc
    return {h["name"]: h for h in doc}


def tftp_default_from(net, ip: str) -> str:
    """pxelinux.cfg/default fetched from the client namespace with source
    address ip: kidou finds the machine by its address, as PXELINUX's
    request names no MAC."""
    subprocess.run(["ip", "-n", net.cli, "addr", "replace", f"{ip}/16", "dev", "v1"],
                   check=True, timeout=T(10))
    cp = subprocess.run(["ip", "netns", "exec", net.cli, "curl", "-sS", "--max-time",
                         str(int(T(5))), "--interface", ip,
                         f"tftp://{SRV_ADDR}/pxelinux.cfg/default"],
                        capture_output=True, timeout=T(15))
    assert cp.returncode == 0, cp.stderr
    return cp.stdout.decode()


def test_api_host_is_a_real_host(dhcp_net, dhcpd, tmp_path, link):  # noqa: F811
    k = start(dhcpd, tmp_path)
    api = Api(dhcp_net)
    mac = dhcp_net.client_mac
    body = {"mac": mac, "ip": FIXED, "hostname": "web1", "profile": "inst",
            "bios": "custom/pxe.0", "option": ["252 string http://x/wpad.dat"]}
    st, doc = api.call("PUT", "/api/v1/hosts/web1", body)
    assert st == 201, doc
    assert doc["name"] == "web1" and doc["source"] == "api" and doc["ip"] == FIXED
    hs = hosts(api)
    assert hs["web1"]["source"] == "api" and hs["web1"]["active"] is True
    assert hs["web1"]["profile"] == "inst" and hs["web1"]["boot"] == {"bios": "custom/pxe.0"}
    assert hs["cfg1"]["source"] == "config"

    # DHCP: the fixed address and the host name, from a real client
    env = Udhcpc(dhcp_net, tmp_path).once()
    assert env["ip"] == FIXED, env
    assert env.get("hostname") == "web1", env
    # the boot file of its architecture (PXE BIOS)
    offer = Client(link, mac).discover([opt(O_VCLASS, BIOS_VC), opt(93, b"\0\0"),
                                        opt(94, b"\x01\x02\x01"), PXE_PRL])
    assert offer.dhcp.yiaddr == FIXED
    assert offer.dhcp.file == "custom/pxe.0", offer.dhcp

    # its profile, rendered with its name, over TFTP (found by its fixed
    # address) and HTTP (by MAC)
    px = tftp_default_from(dhcp_net, FIXED)
    assert "kernel ::inst/vmlinuz" in px and f"inst host=web1 ip={FIXED}" in px, px
    ipxe = api.ipxe(mac)
    assert "inst/vmlinuz" in ipxe and "inst host=web1" in ipxe, ipxe
    m = api.machine(mac)
    assert (m["host"], m["hostname"], m["profile"], m["ip"]) == ("web1", "web1", "inst", FIXED), m
    st, ms = api.call("GET", "/api/v1/machines", auth=None)
    assert st == 200 and any(x["mac"] == mac and x["host"] == "web1" for x in ms), ms

    # DELETE: the machine falls back to the defaults
    st, doc = api.call("DELETE", "/api/v1/hosts/web1")
    assert st == 200 and doc == {"name": "web1", "deleted": True}, doc
    assert "web1" not in hosts(api)
    ipxe = api.ipxe(mac)
    assert "rescue/vmlinuz" in ipxe and "inst" not in ipxe, ipxe
    env = Udhcpc(dhcp_net, tmp_path, name="after").once()
    assert env["ip"] != FIXED and env["ip"].startswith("172.24.32."), env
    assert api.call("DELETE", "/api/v1/hosts/web1")[0] == 404
    assert k.alive()


@pytest.mark.parametrize("body, field, frag", [
    ("{", None, "JSON object"),
    ("[]", None, "JSON object"),
    ({"mac": "52:54:00:00:00:01", "colour": "blue"}, "colour", "unknown key"),
    ({"mac": "52:54:00:zz:00:01"}, "mac", "not a MAC address"),
    ({"mac": "ff:ff:ff:ff:ff:ff"}, "mac", "broadcast"),
    ({"mac": "52:54:00:00:00:01", "ip": "300.1.1.1"}, "ip", "not an IPv4 address"),
    ({"mac": "52:54:00:00:00:01", "ip": "127.0.0.1"}, "ip", "loopback"),
    ({"mac": "52:54:00:00:00:01", "ip": "172.24.32.9"}, "ip", "dynamic range"),
    ({"uuid": "not-a-uuid"}, "uuid", "not a UUID"),
    ({"mac": "52:54:00:00:00:01", "hostname": "a b"}, "hostname", "not a host name"),
    ({"mac": "52:54:00:00:00:01", "profile": "nosuch"}, "profile", "no [profile nosuch]"),
    ({"mac": "52:54:00:00:00:01", "bios": "x${nope}"}, "bios", "unknown variable"),
    ({"mac": "52:54:00:00:00:01", "ip": 5}, "ip", "must be a string"),
    ({"hostname": "x"}, "mac", "mac (or uuid) is required"),
    ({"mac": "52:54:00:00:00:01", "option": "53 u8 1"}, "option", "kidou's own"),
])
def test_refusals(dhcp_net, dhcpd, tmp_path, body, field, frag):  # noqa: F811
    start(dhcpd, tmp_path)
    api = Api(dhcp_net)
    st, doc = api.call("PUT", "/api/v1/hosts/bad", body)
    assert st == 400, doc
    assert frag in doc["error"], doc
    assert doc.get("field") == field, doc
    assert "bad" not in hosts(api)


def test_conflicts_name_and_auth(dhcp_net, dhcpd, tmp_path):  # noqa: F811
    start(dhcpd, tmp_path)
    api = Api(dhcp_net)
    a = {"mac": "52:54:00:00:00:0a", "ip": "172.24.5.10"}
    assert api.call("PUT", "/api/v1/hosts/a", a)[0] == 201
    # the config file's hosts are read-only, and win every clash
    st, doc = api.call("PUT", "/api/v1/hosts/cfg1", {"mac": "52:54:00:00:00:0b"})
    assert st == 409 and doc["field"] == "name" and "config file" in doc["error"], doc
    st, doc = api.call("DELETE", "/api/v1/hosts/cfg1")
    assert st == 409 and doc["field"] == "name", doc
    st, doc = api.call("PUT", "/api/v1/hosts/b", {"mac": CFG_MAC})
    assert st == 409 and doc["field"] == "mac" and "[host cfg1]" in doc["error"], doc
    st, doc = api.call("PUT", "/api/v1/hosts/b", {"mac": "52:54:00:00:00:0b", "ip": CFG_IP})
    assert st == 409 and doc["field"] == "ip" and "[host cfg1]" in doc["error"], doc
    # another API host's MAC or ip
    st, doc = api.call("PUT", "/api/v1/hosts/b", {"mac": "52:54:00:00:00:0a"})
    assert st == 400 and doc["field"] == "mac" and "host a" in doc["error"], doc
    st, doc = api.call("PUT", "/api/v1/hosts/b", {"mac": "52:54:00:00:00:0b",
                                                  "ip": "172.24.5.10"})
    assert st == 400 and doc["field"] == "ip", doc
    # replacing a itself with its own MAC is no clash
    st, doc = api.call("PUT", "/api/v1/hosts/a", {"mac": "52:54:00:00:00:0a"})
    assert st == 200, doc
    # a malformed name
    st, doc = api.call("PUT", "/api/v1/hosts/a_b", {"mac": "52:54:00:00:00:0c"})
    assert st == 400 and doc["field"] == "name", doc
    # a duplicate key is refused, not one of them silently winning
    st, doc = api.call("PUT", "/api/v1/hosts/c",
                       '{"mac": "52:54:00:00:00:0c", "mac": "52:54:00:00:00:0d"}')
    assert st == 400, doc
    # a body past the limit
    st, doc = api.call("PUT", "/api/v1/hosts/c", {"mac": "52:54:00:00:00:0c",
                                                  "hostname": "x" * 5000})
    assert st == 413, doc
    # writes need the token
    st, doc = api.call("PUT", "/api/v1/hosts/c", {"mac": "52:54:00:00:00:0c"}, auth=None)
    assert st == 401, doc
    st, doc = api.call("DELETE", "/api/v1/hosts/a", auth="wrong-token-0123456789")
    assert st == 401, doc
    assert set(hosts(api)) == {"cfg1", "a"}


def test_no_token_file(dhcp_net, dhcpd, tmp_path):  # noqa: F811
    start(dhcpd, tmp_path, token=False)
    api = Api(dhcp_net)
    st, doc = api.call("PUT", "/api/v1/hosts/a", {"mac": "52:54:00:00:00:0a"})
    assert st == 403 and "token-file" in doc["error"], doc
    assert api.call("DELETE", "/api/v1/hosts/a")[0] == 403


def db_hosts(db: Path) -> dict:
    con = sqlite3.connect(str(db), timeout=5)
    try:
        return {n: json.loads(b) for n, b in con.execute("SELECT name, body FROM hosts")}
    finally:
        con.close()


def test_survive_sighup_and_restart(dhcp_net, dhcpd, tmp_path):  # noqa: F811
    db = tmp_path / "leases.db"
    k = start(dhcpd, tmp_path, db=db)
    api = Api(dhcp_net)
    mac = "52:54:00:00:00:21"
    assert api.call("PUT", "/api/v1/hosts/keep", {"mac": mac, "hostname": "keep",
                                                  "profile": "inst"})[0] == 201
    assert api.call("PUT", "/api/v1/hosts/gone", {"mac": "52:54:00:00:00:22"})[0] == 201
    assert api.call("DELETE", "/api/v1/hosts/gone")[0] == 200
    assert set(db_hosts(db)) == {"keep"}  # committed before the answer
    k.signal(signal.SIGHUP)
    k.wait_event("reloaded", mod="main", timeout=T(5))
    assert hosts(api)["keep"]["active"] is True
    assert "inst host=keep" in api.ipxe(mac)
    assert k.stop() == 0

    k = start(dhcpd, tmp_path, db=db)
    k.wait_event("hosts-loaded", mod="main", hosts="1", inactive="0", timeout=T(5))
    hs = hosts(api)
    assert set(hs) == {"cfg1", "keep"} and hs["keep"]["source"] == "api"
    assert "inst host=keep" in api.ipxe(mac)
    assert k.stop() == 0

    # The config file now has a [host] with keep's MAC: the file wins; the
    # API host is kept (database, GET) but inactive, and said so.
    extra = f"[host filewins]\nmac = {mac}\nprofile = rescue\n\n"
    k = start(dhcpd, tmp_path, db=db, extra=extra)
    k.wait_event("api-host-inactive", mod="config", host="keep", timeout=T(5))
    hs = hosts(api)
    assert hs["keep"]["active"] is False and "[host filewins]" in hs["keep"]["inactive_reason"]
    assert "rescue/vmlinuz" in api.ipxe(mac)
    assert set(db_hosts(db)) == {"keep"}
    # and back once the file no longer has it (SIGHUP)
    write_config(tmp_path)
    k.signal(signal.SIGHUP)
    k.wait_event("reloaded", mod="main", timeout=T(5))
    assert hosts(api)["keep"]["active"] is True
    assert "inst host=keep" in api.ipxe(mac)


def test_schema2_database_upgrades(dhcp_net, dhcpd, tmp_path):  # noqa: F811
    """A lease database of the previous kidou (schema 2) is taken over: it
    gains the hosts table, and hosts written then survive a restart."""
    db = tmp_path / "leases.db"
    con = sqlite3.connect(str(db))
    con.executescript(
        "CREATE TABLE leases (ip INTEGER PRIMARY KEY, client_id BLOB NOT NULL,"
        " hwaddr BLOB NOT NULL, hostname TEXT NOT NULL DEFAULT '', expires INTEGER NOT NULL,"
        " state INTEGER NOT NULL);"
        "CREATE TABLE next_boot (mac BLOB PRIMARY KEY, mode INTEGER NOT NULL,"
        " once INTEGER NOT NULL DEFAULT 0, profile TEXT NOT NULL DEFAULT '',"
        " token TEXT NOT NULL DEFAULT '');"
        "PRAGMA user_version=2;")
    con.close()
    k = start(dhcpd, tmp_path, db=db)
    api = Api(dhcp_net)
    assert api.call("PUT", "/api/v1/hosts/n", {"mac": "52:54:00:00:00:31"})[0] == 201
    assert k.stop() == 0
    con = sqlite3.connect(str(db))
    assert con.execute("PRAGMA user_version").fetchone()[0] == 3
    con.close()
    start(dhcpd, tmp_path, db=db)
    assert "n" in hosts(api)


def write_waiting(dhcp_net, k, api, method, path, body, until) -> subprocess.Popen:
    """method path with curl in the background, returned once until(hosts)
    holds (the change is in memory; the commit may still wait)."""
    args = ["ip", "netns", "exec", dhcp_net.srv, "curl", "-sS", "-X", method, "-w",
            "\n%{http_code}", "-H", f"Authorization: Bearer {TOKEN}", BASE + path]
    if body is not None:
        args += ["--data-binary", json.dumps(body)]
    p = subprocess.Popen(args, stdout=subprocess.PIPE)
    k.wait_for(lambda: until(hosts(api)), timeout=T(10), what="the change in memory")
    return p


def answer_of(p: subprocess.Popen) -> tuple[int, dict]:
    out, _ = p.communicate(timeout=T(30))
    text, code = out.decode().rsplit("\n", 1)
    return int(code), json.loads(text)


def test_store_failure_is_503_and_undone(dhcp_net, dhcpd, tmp_path):  # noqa: F811
    """The database locked by another process past the store's busy
    timeout: a PUT (and a DELETE) is applied in memory at once, then
    answered 503 with SQLite's reason, and undone: the host as it was."""
    from test_store_async import Locker
    db = tmp_path / "leases.db"
    k = start(dhcpd, tmp_path, "--dhcp-database-busy-timeout", "1", db=db)
    api = Api(dhcp_net)
    mac = "52:54:00:00:00:41"
    assert api.call("PUT", "/api/v1/hosts/a", {"mac": mac, "profile": "inst"})[0] == 201
    lk = Locker(db)
    try:
        p = write_waiting(dhcp_net, k, api, "PUT", "/api/v1/hosts/a",
                          {"mac": mac, "profile": "rescue"},
                          lambda hs: hs["a"]["profile"] == "rescue")
        st, doc = answer_of(p)
        assert st == 503 and "locked" in doc["error"], doc
        k.wait_event("store-error", mod="api", host="a", undone="yes", timeout=T(5))
        assert hosts(api)["a"]["profile"] == "inst"
        assert "inst/vmlinuz" in api.ipxe(mac)

        p = write_waiting(dhcp_net, k, api, "DELETE", "/api/v1/hosts/a", None,
                          lambda hs: "a" not in hs)
        st, doc = answer_of(p)
        assert st == 503, doc
        k.wait_event("store-error", mod="api", host="a", undone="yes", count=2, timeout=T(5))
        assert hosts(api)["a"]["profile"] == "inst"
        assert "inst/vmlinuz" in api.ipxe(mac)
    finally:
        lk.release()
    assert db_hosts(db) == {"a": {"mac": mac, "profile": "inst"}}
    assert api.call("DELETE", "/api/v1/hosts/a")[0] == 200
    assert db_hosts(db) == {}
