"""A throwaway PostgreSQL server for kidou's tests (Debian's postgresql-15).

The fixture `pg` runs initdb in the test's temporary directory and starts
the server as `nobody` (postgres refuses to run as root), listening only on
a Unix socket in that directory (listen_addresses = ''), so it is reachable
from every network namespace the test creates (a socket path is not in a
network namespace) and from nothing else. It creates the role `kidou`
with a password and the database `kidou` owned by it; kidou connects with
the password from a passfile (PGPASSFILE), as README tells operators to.
The server is stopped and its directory removed afterwards.
"""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path

import pytest

from kidou_testlib import T

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_USER = "nobody"
ROLE = "kidou"
DBNAME = "kidou"
PASSWORD = "kidou-test-pw"


def _as_user(argv, check=True, timeout=180, **kw):
    cp = subprocess.run(["setpriv", f"--reuid={PG_USER}", "--regid=nogroup", "--clear-groups",
                         "--reset-env", "--"] + [str(a) for a in argv],
                        capture_output=True, text=True, timeout=T(timeout),
                        stdin=subprocess.DEVNULL, **kw)
    if check and cp.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, argv))} failed ({cp.returncode}):\n"
                             f"{cp.stdout}{cp.stderr}")
    return cp


class PgServer:
    def __init__(self, tmp: Path):
        if not (PG_BIN / "initdb").exists():
            raise AssertionError(f"{PG_BIN}/initdb missing: apt-get install postgresql-15 "
                                 "(scripts/setup.sh test)")
        self.dir = tmp / "pg"
        self.data = self.dir / "data"
        self.sock = self.dir / "sock"
        self.log = self.dir / "server.log"
        self.passfile = tmp / "pgpass"
        self.running = False

    def setup(self) -> "PgServer":
        pw = pwd.getpwnam(PG_USER)
        for d in (self.dir, self.sock):
            d.mkdir(parents=True, exist_ok=True)
            os.chown(d, pw.pw_uid, pw.pw_gid)
        # The temporary directory's parents must let nobody through.
        p = self.dir.parent
        while p != p.parent:
            mode = p.stat().st_mode
            if not mode & 0o001:
                os.chmod(p, mode | 0o001)
            p = p.parent
        os.chmod(self.sock, 0o755)
        pwfile = self.dir / "superpw"
        pwfile.write_text("super\n")
        os.chown(pwfile, pw.pw_uid, pw.pw_gid)
        _as_user([PG_BIN / "initdb", "-D", self.data, "-U", "postgres", "--no-sync",
                  "--auth-local=scram-sha-256", "--auth-host=scram-sha-256",
                  f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C"])
        self.start()
        self.psql("postgres", f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'")
        self.psql("postgres", f"CREATE DATABASE {DBNAME} OWNER {ROLE}")
        self.passfile.write_text(f"{self.sock}:5432:*:{ROLE}:{PASSWORD}\n"
                                 f"{self.sock}:5432:*:postgres:super\n")
        os.chmod(self.passfile, 0o600)
        return self

    @property
    def uri(self) -> str:
        return f"postgresql://{ROLE}@/{DBNAME}?host={self.sock}"

    def env(self) -> dict:
        return {"PGPASSFILE": str(self.passfile)}

    def start(self):
        _as_user([PG_BIN / "pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "120",
                  "-o", f"-k {self.sock} -c listen_addresses='' -c fsync=on "
                        f"-c max_connections=50", "start"])
        self.running = True

    def stop(self, mode="fast"):
        _as_user([PG_BIN / "pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "120", "stop"],
                 check=False)
        self.running = False

    def restart(self):
        self.stop()
        self.start()

    def psql(self, db: str, sql: str, user="postgres") -> str:
        """Run sql as the superuser (or user); the output, unaligned."""
        self.dir.joinpath("pgpass_nobody").write_text(self.passfile.read_text()
                                                       if self.passfile.exists() else
                                                       f"{self.sock}:5432:*:postgres:super\n")
        pf = self.dir / "pgpass_nobody"
        pw = pwd.getpwnam(PG_USER)
        os.chown(pf, pw.pw_uid, pw.pw_gid)
        os.chmod(pf, 0o600)
        cp = _as_user(["env", f"PGPASSFILE={pf}", PG_BIN / "psql", "-h", self.sock, "-U", user,
                       "-d", db, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
        return cp.stdout

    def leases(self) -> dict:
        """{dotted ip: (client_id hex, hwaddr hex, expires, state)}."""
        out = self.psql(DBNAME, "SELECT ip, encode(client_id, 'hex'), encode(hwaddr, 'hex'), "
                                "expires, state FROM leases")
        rows = {}
        for line in out.splitlines():
            if not line:
                continue
            ip, cid, hw, exp, st = line.split("|")
            n = int(ip)
            rows[f"{n >> 24}.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"] = \
                (cid, hw, int(exp), int(st))
        return rows

    def teardown(self):
        if self.running:
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def pg(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the fixture starts postgres as nobody: needs root")
    srv = PgServer(tmp_path)
    try:
        srv.setup()
        yield srv
    finally:
        srv.teardown()
