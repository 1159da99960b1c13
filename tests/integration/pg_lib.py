"""A throwaway PostgreSQL server for kidou's tests (Debian's postgresql-15).

One server per test module (initdb costs seconds, more on a loaded
machine): the module fixture `pg_server` runs initdb in a temporary
directory of its own and starts the server as `nobody` (postgres refuses
to run as root), listening only on a Unix socket in that directory
(listen_addresses = ''), so it is reachable from every network namespace
the test creates (a socket path is not in a network namespace) and from
nothing else. It creates the role `kidou` with a password; kidou
connects with the password from a passfile (PGPASSFILE), as README tells
operators to. The fixture `pg` gives each test a fresh database owned by
`kidou` on that server (and starts the server again if a test left it
stopped). The server is stopped (killed if it will not stop) and its
directory removed after the module.
"""
from __future__ import annotations

import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Optional

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


def _reap_stale():
    """Servers left by a test run that was killed (its pytest gone):
    stop them and remove their directories. Only our own kind: a
    /tmp/kidou-pg-* directory whose owner.pid names a dead process."""
    for d in Path(tempfile.gettempdir()).glob("kidou-pg-*"):
        try:
            owner = int((d / "owner.pid").read_text())
        except (OSError, ValueError):
            continue
        try:
            os.kill(owner, 0)
            continue  # its run is alive
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        stale = PgServer(d)
        stale.running = stale.postmaster_pid() is not None
        stale.teardown()


class PgServer:
    def __init__(self, dir: Optional[Path] = None):
        if not (PG_BIN / "initdb").exists():
            raise AssertionError(f"{PG_BIN}/initdb missing: apt-get install postgresql-15 "
                                 "(scripts/setup.sh test)")
        # Not under pytest's basetemp: every pytest session that starts
        # (another suite on the same machine) chmods /tmp/pytest-of-root
        # to 0700, which would lock nobody out of its own data directory
        # and socket mid-test. A directory of its own in /tmp, owned by
        # nobody, with a short socket path (sun_path is 108 bytes) that no
        # other server shares.
        self.dir = dir or Path(tempfile.mkdtemp(prefix="kidou-pg-"))
        self.data = self.dir / "data"
        self.sock = self.dir / "sock"
        self.log = self.dir / "server.log"
        self.passfile = self.dir / "pgpass"
        self.running = False
        self._seq = itertools.count(1)

    def setup(self) -> "PgServer":
        pw = pwd.getpwnam(PG_USER)
        (self.dir / "owner.pid").write_text(str(os.getpid()))
        self.sock.mkdir(exist_ok=True)
        for d in (self.dir, self.sock):
            os.chown(d, pw.pw_uid, pw.pw_gid)
        os.chmod(self.dir, 0o755)
        os.chmod(self.sock, 0o755)
        pwfile = self.dir / "superpw"
        pwfile.write_text("super\n")
        os.chown(pwfile, pw.pw_uid, pw.pw_gid)
        _as_user([PG_BIN / "initdb", "-D", self.data, "-U", "postgres", "--no-sync",
                  "--auth-local=scram-sha-256", "--auth-host=scram-sha-256",
                  f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C"], timeout=300)
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
        # -w: pg_ctl returns once the server accepts connections (it
        # polls; -t bounds it, generously for a loaded machine).
        cp = _as_user([PG_BIN / "pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t",
                       str(int(T(120))),
                       "-o", f"-k {self.sock} -c listen_addresses='' -c fsync=on "
                             f"-c max_connections=100", "start"], check=False,
                      timeout=T(180))
        if cp.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise AssertionError(f"pg_ctl start failed ({cp.returncode}):\n{cp.stdout}"
                                 f"{cp.stderr}\nserver.log:\n{log[-3000:]}")
        self.running = True

    def postmaster_pid(self):
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self, mode="fast"):
        cp = _as_user([PG_BIN / "pg_ctl", "-D", self.data, "-m", mode, "-w", "-t",
                       str(int(T(120))), "stop"], check=False, timeout=T(180))
        self.running = False
        return cp.returncode == 0

    def kill(self):
        """The last resort: a server that will not stop is not left behind."""
        pid = self.postmaster_pid()
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def restart(self):
        self.stop()
        self.start()

    def new_database(self) -> "PgDb":
        name = f"kidou_{next(self._seq)}"
        self.psql("postgres", f"CREATE DATABASE {name} OWNER {ROLE}")
        return PgDb(self, name)

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

    def leases(self, db=DBNAME) -> dict:
        """{dotted ip: (client_id hex, hwaddr hex, expires, state)}."""
        out = self.psql(db, "SELECT ip, encode(client_id, 'hex'), encode(hwaddr, 'hex'), "
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
        if self.running and not self.stop("immediate"):
            self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class PgDb:
    """One test's database on the module's server: what a test calls `pg`.
    stop/start/restart act on the whole server (the module's other tests
    have their own databases, and the fixture starts it again)."""

    def __init__(self, server: PgServer, name: str):
        self.server, self.name = server, name
        self.passfile = server.passfile
        self.sock = server.sock

    @property
    def uri(self) -> str:
        return f"postgresql://{ROLE}@/{self.name}?host={self.sock}"

    def env(self) -> dict:
        return self.server.env()

    def sql(self, sql: str) -> str:
        """sql in this database, as the superuser; the output, unaligned."""
        return self.server.psql(self.name, sql)

    def leases(self) -> dict:
        return self.server.leases(self.name)

    def stop(self, mode="fast"):
        return self.server.stop(mode)

    def start(self):
        self.server.start()

    def restart(self):
        self.server.restart()


@pytest.fixture(scope="module")
def pg_server():
    if os.geteuid() != 0:
        pytest.skip("the fixture starts postgres as nobody: needs root")
    _reap_stale()
    srv = PgServer()
    try:
        srv.setup()
        yield srv
    finally:
        srv.teardown()


@pytest.fixture
def pg(pg_server):
    if not pg_server.running:
        pg_server.start()  # a previous test stopped it and failed
    yield pg_server.new_database()
