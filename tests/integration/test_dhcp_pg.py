"""The PostgreSQL lease store (issue 15), against a real postgresql-15.

One kidou on a PostgreSQL database: leases are written before the ACK and
read back at start; the schema is kidou's and versioned; a password in the
URI is refused; when the server is down kidou withholds ACKs (and says so
once), TFTP and HTTP go on, and it recovers by itself when the server is
back. Several instances on one database: test_dhcp_pg_shared.py.
"""
from __future__ import annotations

import http.client
import json
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from dhcp_lib import (  # noqa: F401  (fixtures)
    ACK, DISCOVER, NAK, O_REQ_IP, O_SERVER_ID, REQUEST, SRV_ADDR, Client, dhcp_net, dhcpd, link,
    opt_ip, wait_dhcp,
)
from kidou_testlib import T
from pg_lib import pg, pg_server  # noqa: F401  (fixtures)

HTTP_PORT = 8080


@pytest.fixture
def pgenv(pg, monkeypatch):
    """kidou finds its password in the passfile, as README says."""
    monkeypatch.setenv("PGPASSFILE", str(pg.passfile))
    return pg


def request_selecting(c: Client, ip: str, server=SRV_ADDR) -> int:
    c.link.drain()
    return c.send(REQUEST, [opt_ip(O_SERVER_ID, server), opt_ip(O_REQ_IP, ip)])


def metrics(netns: str) -> dict:
    out = subprocess.run(["ip", "netns", "exec", netns, "curl", "-sS", "--fail",
                          f"http://{SRV_ADDR}:{HTTP_PORT}/metrics"],
                         capture_output=True, text=True, timeout=T(20))
    assert out.returncode == 0, out.stderr
    vals = {}
    for line in out.stdout.splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            vals[k] = float(v)
    return vals


def test_pg_lease_written_and_loaded(dhcp_net, dhcpd, link, pgenv, kidou_factory):
    k = dhcpd(db=pgenv.uri)
    c = Client(link)
    _, ack = c.dora()
    rows = pgenv.leases()
    assert c.ip in rows, rows
    assert rows[c.ip][1] == c.mac.replace(":", ""), rows[c.ip]
    assert rows[c.ip][3] == 1  # LEASE_BOUND
    assert pgenv.sql("SELECT version FROM schema_version").strip() == "4"
    # A restarted kidou knows the client from the database: its
    # INIT-REBOOT is ACKed (a stranger's would be ignored).
    k.stop()
    k2 = dhcpd(db=pgenv.uri, name="kidou-again")
    xid = c.send(REQUEST, [opt_ip(O_REQ_IP, c.ip)])
    r = link.expect(xid)
    assert r.dhcp.type == ACK and r.dhcp.yiaddr == c.ip, r.dhcp
    assert k2.alive()


def test_pg_password_in_uri_refused(kidou_factory, tmp_path):
    cp = kidou_factory.run(["check-config", "--tftp-root", tmp_path,
                            "--dhcp-range", "10.9.0.10 10.9.0.20",
                            "--dhcp-database", "postgresql://kidou:secret@localhost/kidou"])
    assert cp.returncode != 0
    assert "database" in cp.stderr and "passfile" in cp.stderr, cp.stderr


def test_pg_newer_schema_refused(dhcp_net, kidou_factory, tmp_path, pgenv):
    pgenv.sql("CREATE TABLE schema_version (version integer NOT NULL); "
              "INSERT INTO schema_version VALUES (99); "
              "ALTER TABLE schema_version OWNER TO kidou")
    cp = kidou_factory.run(["--tftp-root", tmp_path, "--tftp-listen", f"{SRV_ADDR}:69",
                            "--interface", "v0", "--dhcp-range", "172.24.32.1 172.24.32.9",
                            "--dhcp-database", pgenv.uri], netns=dhcp_net.srv, timeout=30)
    assert cp.returncode != 0
    assert "schema version 99 is newer" in cp.stderr, cp.stderr


def assert_files_served(dhcp_net, tmp_path):
    """small.bin (3000 bytes of S) comes whole over TFTP and over HTTP."""
    for url in (f"tftp://{SRV_ADDR}/small.bin", f"http://{SRV_ADDR}:{HTTP_PORT}/small.bin"):
        out = subprocess.run(["ip", "netns", "exec", dhcp_net.srv, "curl", "-sS", "--fail",
                              "-o", str(tmp_path / "f"), url], capture_output=True,
                             timeout=T(30))
        assert out.returncode == 0 and (tmp_path / "f").read_bytes() == b"S" * 3000, out.stderr


def test_pg_down_withholds_acks_and_recovers(dhcp_net, dhcpd, link, pgenv, tmp_path):
    root = tmp_path / "tftp"
    root.mkdir()
    (root / "small.bin").write_bytes(b"S" * 3000)
    k = dhcpd("--http-listen", f"{SRV_ADDR}:{HTTP_PORT}", db=pgenv.uri, tftp_root=root)
    first = Client(link)
    first.dora()
    assert metrics(dhcp_net.srv)["kidou_lease_store_up"] == 1

    pgenv.stop()
    clients = [Client(link) for _ in range(3)]
    for c in clients:
        offer = c.discover()
        xid = request_selecting(c, offer.dhcp.yiaddr)
        link.expect_none(xid, timeout=1.0)
    wait_dhcp(k, "withheld", count=3)
    # Logged once for the outage, not once per client.
    assert len(k.events("database-down", mod="store")) == 1, k.text()[-3000:]
    m = metrics(dhcp_net.srv)
    assert m["kidou_lease_store_up"] == 0 and m["kidou_lease_store_outages_total"] == 1, m
    # TFTP and HTTP go on.
    assert_files_served(dhcp_net, tmp_path)
    # Nothing withheld was written, nothing written was lost.
    pgenv.start()
    k.wait_event("database-up", mod="store", timeout=T(30))
    rows = pgenv.leases()
    assert first.ip in rows and not any(c.mac.replace(":", "") in str(rows) for c in clients)
    for c in clients:
        c.dora()
    rows = pgenv.leases()
    assert all(c.ip in rows for c in clients), rows
    assert metrics(dhcp_net.srv)["kidou_lease_store_up"] == 1


def test_pg_down_at_start_serves_then_loads(dhcp_net, dhcpd, link, pgenv, tmp_path):
    """kidou started while PostgreSQL is down: it starts, TFTP and HTTP
    serve, DHCP stays silent (who holds what is unknown), the outage shows;
    once the database is back it loads the leases and answers, without a
    restart: a client known from before is ACKed its address."""
    root = tmp_path / "tftp"
    root.mkdir()
    (root / "small.bin").write_bytes(b"S" * 3000)
    k1 = dhcpd(db=pgenv.uri, tftp_root=root, name="kidou-before")
    known = Client(link)
    known.dora()
    k1.stop()

    pgenv.stop()
    k = dhcpd("--http-listen", f"{SRV_ADDR}:{HTTP_PORT}", db=pgenv.uri, tftp_root=root)
    k.wait_event("database", mod="dhcp", timeout=T(5))
    k.wait_event("database-down", mod="store", timeout=T(10))
    stranger = Client(link)
    xid = stranger.send(DISCOVER)
    link.expect_none(xid, timeout=1.0)
    xid = known.send(REQUEST, [opt_ip(O_REQ_IP, known.ip)])
    link.expect_none(xid, timeout=1.0)
    m = metrics(dhcp_net.srv)
    assert m["kidou_lease_store_up"] == 0, m
    assert_files_served(dhcp_net, tmp_path)

    pgenv.start()
    ev = k.wait_event("leases-loaded", mod="dhcp", timeout=T(30))
    assert ev["leases_in_use"] == "1", ev
    k.wait_event("database-up", mod="store", timeout=T(5))
    # the known client's INIT-REBOOT: ACKed (a stranger's would be ignored)
    xid = known.send(REQUEST, [opt_ip(O_REQ_IP, known.ip)])
    r = link.expect(xid)
    assert r.dhcp.type == ACK and r.dhcp.yiaddr == known.ip, r.dhcp
    stranger.dora()
    assert stranger.ip in pgenv.leases()
    assert metrics(dhcp_net.srv)["kidou_lease_store_up"] == 1
    assert k.alive()


def test_pg_newer_schema_after_late_start_exits(dhcp_net, dhcpd, pgenv, tmp_path):
    """Started while PostgreSQL is down, and the database then reached
    holds a newer kidou's schema: kidou says so and exits non-zero (as
    it does when it finds that at start), rather than write to it."""
    pgenv.sql("CREATE TABLE schema_version (version integer NOT NULL); "
              "INSERT INTO schema_version VALUES (99); "
              "ALTER TABLE schema_version OWNER TO kidou")
    pgenv.stop()
    k = dhcpd(db=pgenv.uri)
    k.expect_rc = None
    pgenv.start()
    assert k.wait(timeout=T(30)) != 0
    assert "schema version 99 is newer" in k.text(), k.text()[-3000:]
    assert k.events("database", mod="dhcp", action="exit"), k.text()[-3000:]


def test_pg_full_read_after_falling_behind(dhcp_net, dhcpd, pgenv):
    """An instance that missed more changes than the changes table keeps
    (here: the table says it was pruned past what the instance saw) reads
    every record instead: hosts and next-boot records written meanwhile
    appear, and the ones deleted meanwhile go."""
    k = dhcpd("--http-listen", f"{SRV_ADDR}:{HTTP_PORT}", db=pgenv.uri, log_level="info")

    def api(path):
        out = subprocess.run(["ip", "netns", "exec", dhcp_net.srv, "curl", "-sS", "--fail",
                              f"http://{SRV_ADDR}:{HTTP_PORT}{path}"],
                             capture_output=True, text=True, timeout=T(20))
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    def behind(sql, n):
        pgenv.sql(sql + "; UPDATE changes_pruned SET upto = upto + 1000000;"
                  " NOTIFY kidou_changes")
        return k.wait_event("sync-full", mod="api", count=n, timeout=T(30))

    ev = behind("INSERT INTO hosts VALUES ('x1', '{\"mac\":\"52:54:00:aa:00:01\"}'),"
                " ('x2', '{\"mac\":\"52:54:00:aa:00:02\"}');"
                " INSERT INTO next_boot VALUES ('\\x525400aa0003', 2, 0, '', '')", 1)
    assert ev["records"] == "3" and ev["changed"] == "3", ev
    hosts = {h["name"]: h for h in api("/api/v1/hosts")}
    assert hosts["x1"]["source"] == "api" and hosts["x2"]["mac"] == "52:54:00:aa:00:02", hosts
    assert api("/api/v1/machines/52:54:00:aa:00:03")["next_boot"] == {"mode": "local"}

    ev = behind("DELETE FROM hosts WHERE name = 'x1'; DELETE FROM next_boot", 2)
    assert ev["removed"] == "2" and ev["changed"] == "0", ev
    hosts = {h["name"]: h for h in api("/api/v1/hosts")}
    assert "x1" not in hosts and "x2" in hosts, hosts
    m = subprocess.run(["ip", "netns", "exec", dhcp_net.srv, "curl", "-sS", "-o", "/dev/null",
                        "-w", "%{http_code}",
                        f"http://{SRV_ADDR}:{HTTP_PORT}/api/v1/machines/52:54:00:aa:00:03"],
                       capture_output=True, text=True, timeout=T(20))
    assert m.stdout == "404", m.stdout
    # past one 5 s poll of the changes: no full read again (the instance
    # is no longer behind what was pruned)
    time.sleep(6)
    assert len(k.events("sync-full", mod="api")) == 2, k.text()[-2000:]


def test_migrate_sqlite_to_pg(dhcp_net, dhcpd, link, pgenv, tmp_path, kidou_factory):
    """kidou leases migrate FROM TO: an SQLite database's leases,
    next-boot records and API hosts, into PostgreSQL; a kidou on the
    PostgreSQL database then knows the SQLite instance's clients."""
    db = tmp_path / "leases.db"
    k = dhcpd(db=db)
    c = Client(link)
    c.dora()
    k.stop()
    con = sqlite3.connect(str(db))
    con.execute("INSERT INTO next_boot(mac, mode, once, profile, token) VALUES "
                "(x'525400aabbcc', 1, 1, 'rescue', 'abc123')")
    con.execute("INSERT INTO hosts(name, body) VALUES ('web1', '{\"mac\": \"52:54:00:00:00:01\"}')")
    con.commit()
    con.close()
    cp = kidou_factory.run(["leases", "migrate", str(db), pgenv.uri], timeout=30)
    assert cp.returncode == 0, cp.stderr
    assert "leases=1 next_boot=1 hosts=1" in cp.stdout, cp.stdout
    rows = pgenv.leases()
    assert rows[c.ip][1] == c.mac.replace(":", ""), rows
    assert pgenv.sql("SELECT encode(mac, 'hex'), mode, once, profile, token "
                     "FROM next_boot").strip() == "525400aabbcc|1|1|rescue|abc123"
    assert pgenv.sql("SELECT name, body FROM hosts").strip() == \
        'web1|{"mac": "52:54:00:00:00:01"}'
    # The client's INIT-REBOOT, to a kidou that never saw it, on PostgreSQL.
    k2 = dhcpd(db=pgenv.uri, name="kidou-pg")
    xid = c.send(REQUEST, [opt_ip(O_REQ_IP, c.ip)])
    r = link.expect(xid)
    assert r.dhcp.type == ACK and r.dhcp.yiaddr == c.ip, r.dhcp
    # A missing source is an error, not an empty migration.
    cp = kidou_factory.run(["leases", "migrate", str(tmp_path / "nope.db"), pgenv.uri])
    assert cp.returncode == 1 and "nope.db" in cp.stderr, cp.stderr
