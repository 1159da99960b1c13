#!/usr/bin/python3
"""DHCP lease storm on a shared PostgreSQL lease store (issue 15).

In one run, on one throwaway PostgreSQL 15 server (tests/integration/
pg_lib.py: initdb in /tmp, a Unix socket, fsync on), the leases per second
of dhcp_bench.py's storm client for:

  kidou         kidou with its SQLite file (the reference)
  kidou-pg      kidou with PostgreSQL, one instance
  kidou-pg-2    kidou with PostgreSQL, two instances on the same database
  kea-pg        Kea 2.2 with its PostgreSQL lease backend (kea-admin db-init
                pgsql on the same server), single-threaded

Every server commits a lease before it ACKs it. Each measurement starts
from a fresh, empty database. The storm client (dhcp_bench.py's, a relay:
giaddr 10.77.0.2) keeps --window exchanges outstanding; with two
instances, client i's exchange goes to instance i % 2 (as two relays, or
a relay balancing its servers, would send them), so the figure is what
two instances commit together on one database. After each storm the
ACKed (MAC, address) pairs are looked up in the database (missing, wrong
owner) and checked for duplicates.

    kpg-srv:  s0 10.77.0.1/16  (the server; kidou-pg-2's first instance)
    kpg-srv2: s1 10.78.0.1/16  (kidou-pg-2's second instance)
    kpg-cli:  c0 10.77.0.2/16, c1 10.78.0.2/16 (the storm client)

Usage (as root): /usr/bin/python3 bench/dhcp_pg_bench.py [--quick]
Needs postgresql-15, kea-dhcp4-server and kea-admin (scripts/setup.sh bench).
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

import dhcp_bench as D  # noqa: E402
from pg_lib import PASSWORD, ROLE, PgServer  # noqa: E402

# Namespaces of its own (dhcp_bench.py's functions read these globals at
# call time): a dhcp_bench.py or api_bench.py running meanwhile on the
# same machine keeps its kbd-* namespaces, and this one its own.
D.NS_SRV, D.NS_CLI = "kpg-srv", "kpg-cli"
NS_SRV2, IF_SRV2, IF_CLI2 = "kpg-srv2", "s1", "c1"
SRV2_ADDR, CLI2_ADDR = "10.78.0.1", "10.78.0.2"
KEA_ADMIN = "/usr/sbin/kea-admin"


def setup_second(bench):
    """A second server namespace on its own link to the client; replies
    go to giaddr 10.77.0.2 through the client's 10.78.0.2."""
    if NS_SRV2 in bench.sh("ip", "netns", "list").stdout.split():
        bench.sh("ip", "netns", "delete", NS_SRV2, check=False)
    bench.sh("ip", "netns", "add", NS_SRV2)
    bench.netns_made.append(NS_SRV2)
    bench.sh("ip", "-n", NS_SRV2, "link", "add", IF_SRV2, "type", "veth", "peer", "name",
             IF_CLI2, "netns", D.NS_CLI)
    bench.sh("ip", "-n", NS_SRV2, "addr", "add", SRV2_ADDR + "/16", "dev", IF_SRV2)
    bench.sh("ip", "-n", D.NS_CLI, "addr", "add", CLI2_ADDR + "/16", "dev", IF_CLI2)
    for ns, dev in ((NS_SRV2, IF_SRV2), (NS_SRV2, "lo"), (D.NS_CLI, IF_CLI2)):
        bench.sh("ip", "-n", ns, "link", "set", dev, "up")
    bench.sh("ip", "-n", NS_SRV2, "route", "add", D.NETWORK, "via", CLI2_ADDR)


class KidouSqlite(D.Kidou):
    addrs = [D.SRV_ADDR]


class KidouPG(D.Kidou):
    """kidou on a database of the shared server; ns/iface/addr: where."""
    name = label = "kidou-pg"
    addrs = [D.SRV_ADDR]

    def __init__(self, bench, opts, pg, ns=None, iface=D.IF_SRV, addr=D.SRV_ADDR,
                 db=None, name=None):
        super().__init__(bench, opts)
        ns = ns or D.NS_SRV
        if name:
            self.name = name
        self.pg, self.ns, self.iface, self.addr, self.fixed_db = pg, ns, iface, addr, db

    def prepare(self):
        super().prepare()
        self.dbname = self.fixed_db or self.pg.new_database().name

    def argv(self):
        uri = "postgresql://%s@/%s?host=%s" % (ROLE, self.dbname, self.pg.sock)
        return [self.opts.kidou, "--config", self.conf, "--interface", self.iface,
                "--dhcp-database", uri, "--tftp-root", os.path.join(self.dir, "tftpboot"),
                "--tftp-listen", "127.0.0.1:69", "--log-level", "warn"]

    def env(self):
        return dict(os.environ, PGPASSFILE=str(self.pg.passfile))

    def start(self, fresh=True):
        if fresh or not self.dir:
            self.fresh_dir()
            self.prepare()
        self.logpath = os.path.join(self.dir, "server-%d.log" % time.monotonic_ns())
        self.logf = open(self.logpath, "wb")
        self.proc = self.b.spawn(self.ns, self.argv(), stdout=self.logf, stderr=self.logf,
                                 env=self.env())
        r = self.b.helper("_probe", {"server": self.addr, "timeout": 15}, timeout=30)
        if not r["ok"] or self.proc.poll() is not None:
            self.stop()
            raise RuntimeError("%s did not answer a DISCOVER within 15 s; log:\n%s"
                               % (self.name, self.log_tail()))
        return r

    def leases(self):
        return pg_leases(self.pg, self.dbname)


def pg_leases(pg, db):
    out = {}
    for line in pg.psql(db, "SELECT ip, encode(hwaddr, 'hex') FROM leases WHERE state = 1"
                        ).splitlines():
        if line:
            ip, hw = line.split("|")
            out[int(ip)] = bytes.fromhex(hw)
    return out


class KidouPG2:
    """Two kidou instances, one database."""
    name = label = "kidou-pg-2"
    addrs = [D.SRV_ADDR, SRV2_ADDR]

    def __init__(self, bench, opts, pg):
        self.b, self.opts, self.pg = bench, opts, pg
        self.inst = []

    def start(self):
        db = self.pg.new_database().name
        self.dbname = db
        if not self.inst:  # kept across runs: each numbers its run folders
            self.inst = [KidouPG(self.b, self.opts, self.pg, name="kidou-pg-2a"),
                         KidouPG(self.b, self.opts, self.pg, NS_SRV2, IF_SRV2, SRV2_ADDR,
                                 name="kidou-pg-2b")]
        for k in self.inst:
            k.fixed_db = db
            k.start()

    def stop(self):
        for k in self.inst:
            k.stop()

    def cpu(self):
        v = [k.cpu() for k in self.inst]
        return None if None in v else sum(v)

    def runq_wait(self):
        v = [k.runq_wait() for k in self.inst]
        return None if None in v else sum(v)

    def leases(self):
        return pg_leases(self.pg, self.dbname)

    def log_tail(self, n=15):
        return "\n".join(k.log_tail(n) for k in self.inst)

    def version(self):
        return self.inst[0].version() if self.inst else "?"


class KeaPG(D.Kea):
    name = label = "kea-pg"
    addrs = [D.SRV_ADDR]

    def __init__(self, bench, opts, pg):
        super().__init__(bench, opts)
        self.pg = pg

    def prepare(self):
        super().prepare()
        self.dbname = self.pg.new_database().name
        r = subprocess.run([KEA_ADMIN, "db-init", "pgsql", "-u", ROLE, "-p", PASSWORD,
                            "-n", self.dbname, "-h", str(self.pg.sock)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           env=dict(os.environ, PGPASSFILE=str(self.pg.passfile)))
        if r.returncode != 0:
            raise RuntimeError("kea-admin db-init pgsql failed: %s" % r.stdout[-800:])
        with open(self.conf) as f:
            cfg = json.load(f)
        # The commit before the ACK: Kea writes the lease (autocommit)
        # before it sends the DHCPACK.
        cfg["Dhcp4"]["lease-database"] = {"type": "postgresql", "name": self.dbname,
                                          "user": ROLE, "password": PASSWORD,
                                          "host": str(self.pg.sock)}
        with open(self.conf, "w") as f:
            json.dump(cfg, f, indent=1)

    def leases(self):
        out = {}
        for line in self.pg.psql(self.dbname, "SELECT address, encode(hwaddr, 'hex') FROM "
                                 "lease4 WHERE state = 0").splitlines():
            if line:
                ip, hw = line.split("|")
                out[int(ip)] = bytes.fromhex(hw)
        return out

    def version(self):
        return super().version().replace("memfile persist", "PostgreSQL")


def storm(bench, server, opts):
    server.start()
    cpu0 = server.cpu()
    t0 = time.monotonic()
    try:
        r = bench.helper("_storm", {
            "server": server.addrs[0], "servers": server.addrs, "n": opts.n,
            "window": opts.window, "timeout": 1.0, "max_time": opts.time,
            "mac_prefix": D.STORM_MAC.hex(),
        }, timeout=opts.time + 120)
        wall = time.monotonic() - t0
        cpu1 = server.cpu()
    finally:
        server.stop()
    pairs = r.pop("done")
    r["store_missing"], r["store_wrong"], r["store_error"] = D.check_leases(
        server, pairs, D.STORM_MAC)
    r["dups"] = D.duplicates(pairs)
    r["srv_cpu_frac"] = (cpu1 - cpu0) / wall if cpu0 is not None and cpu1 is not None else None
    D.log("  %-10s %6d ACKs in %5.2f s = %6.0f ACK/s (lost %d, NAK %d, stop %s); client cpu "
          "%.0f%%, server cpu %s; store: missing %s, wrong owner %s%s; duplicates %d" % (
              server.name, r["acks"], r["active_s"], r["per_s"], r["lost"], r["naks"],
              r["stop"], 100 * r["cpu_frac"],
              "%.0f%%" % (100 * r["srv_cpu_frac"]) if r["srv_cpu_frac"] is not None else "?",
              r["store_missing"], r["store_wrong"],
              " (%s)" % r["store_error"] if r["store_error"] else "", r["dups"]))
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer clients, one run each")
    ap.add_argument("--kidou", default=os.path.join(REPO, "build", "kidou"))
    ap.add_argument("--servers", default="kidou,kidou-pg,kidou-pg-2,kea-pg")
    ap.add_argument("--window", type=int, default=128,
                    help="exchanges the storm client keeps outstanding")
    ap.add_argument("--pin", choices=("split", "none", "same"), default="none",
                    help="CPU placement (dhcp_bench.py's); default none: PostgreSQL and the "
                    "second instance run where the scheduler puts them anyway")
    ap.add_argument("--json", help="also write the results to this file")
    opts = ap.parse_args()
    opts.n, opts.time, opts.runs = (4000, 15, 1) if opts.quick else (20000, 30, 3)
    if os.geteuid() != 0:
        sys.exit("dhcp_pg_bench: needs root (network namespaces, port 67)")
    bench = D.Bench(pin=opts.pin)
    pg = None
    results = {}
    signal_handlers = D.on_signal
    import signal
    signal.signal(signal.SIGINT, signal_handlers)
    signal.signal(signal.SIGTERM, signal_handlers)
    try:
        bench.setup()
        setup_second(bench)
        pg = PgServer().setup()
        make = {"kidou": lambda: KidouSqlite(bench, opts),
                "kidou-pg": lambda: KidouPG(bench, opts, pg),
                "kidou-pg-2": lambda: KidouPG2(bench, opts, pg),
                "kea-pg": lambda: KeaPG(bench, opts, pg)}
        servers = [make[s.strip()]() for s in opts.servers.split(",") if s.strip()]
        for n in range(opts.runs):
            D.log("run %d/%d: %d clients, window %d" % (n + 1, opts.runs, opts.n, opts.window))
            for srv in servers:
                try:
                    results.setdefault(srv.name, []).append(storm(bench, srv, opts))
                except D.Interrupted:
                    raise
                except Exception as e:  # noqa: BLE001
                    D.log("  %-10s FAILED: %s" % (srv.name, e))
        best = {k: max(v, key=lambda r: r["per_s"]) for k, v in results.items() if v}
        out = ["", "DHCP storm on a shared PostgreSQL (%s; %d clients, window %d, best of %d)"
               % ("quick" if opts.quick else "full", opts.n, opts.window, opts.runs)]
        for name, r in best.items():
            out.append("  %-10s %7.0f leases/s  (runs: %s; missing %s, wrong %s, dups %d)" % (
                name, r["per_s"], ", ".join("%.0f" % x["per_s"] for x in results[name]),
                r["store_missing"], r["store_wrong"], r["dups"]))
        kea = best.get("kea-pg", {}).get("per_s")
        for name in ("kidou", "kidou-pg", "kidou-pg-2"):
            if name in best and kea:
                out.append("  %s / kea-pg = %.2f" % (name, best[name]["per_s"] / kea))
        if "kidou-pg" in best and "kidou" in best:
            out.append("  kidou-pg / kidou (SQLite) = %.2f" % (best["kidou-pg"]["per_s"] /
                                                             best["kidou"]["per_s"]))
        if "kidou-pg-2" in best and "kidou-pg" in best:
            out.append("  kidou-pg-2 / kidou-pg = %.2f" % (best["kidou-pg-2"]["per_s"] /
                                                         best["kidou-pg"]["per_s"]))
        print("\n".join(out))
        if opts.json:
            with open(opts.json, "w") as f:
                json.dump(results, f, indent=1)
    finally:
        bench.cleanup()
        if pg:
            pg.teardown()


if __name__ == "__main__":
    main()
