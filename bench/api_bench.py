#!/usr/bin/python3
"""API benchmark: GET /api/v1/machines with 10,000 machines, and what the
API costs kidou's DHCP and TFTP fast path.

kidou runs alone in the namespaces of dhcp_bench.py (kbd-srv: s0
10.77.0.1/16, the server; kbd-cli: c0 10.77.0.2/16, the clients), created
and always deleted again by this script. Its config holds a relay subnet
(as in dhcp_bench) and 10,000 [host] sections; it serves TFTP on
10.77.0.1:69 and HTTP (the API) on 10.77.0.1:8080.

Measured:
  (a) latency: GET /api/v1/machines (10,000 machines, ~1.8 MB) N times in a
      row, alone, then beside a probe that does TFTP RRQ->ERROR and DHCP
      DISCOVER->OFFER round trips one after the other (a process of its
      own); the probe's p99 and max RTT, against the same probe with the
      API idle, show how long the loop stalled. kidou's own figures come
      from its log: per GET, the longest slice (32 machines) in wall and
      CPU time (read-done max_slice_us, max_slice_cpu_us) and the snapshot
      (machines-snapshot us, debug); an older kidou that built the answer
      whole logs that as build_us.
  (b) fast-path cost: a DHCP storm (dhcp_bench's raw DORA client, ACKs/s)
      and TFTP transfers (curl in lock-step, and tftp_bench's client at
      windowsize 16; MiB/s), with the API idle, with 100 Server-Sent-Events
      subscribers attached (reading), with a client doing GET
      /api/v1/machines in a loop, and with both. Printed as loaded/idle
      ratios.

Usage (as root, Python stdlib only; needs curl and ip):
  /usr/bin/python3 bench/api_bench.py             # ~4 minutes
  /usr/bin/python3 bench/api_bench.py --quick     # ~2 minutes
  /usr/bin/python3 bench/api_bench.py --kidou /tmp/kidou-old   # another binary
See bench/README.md.
"""

import argparse
import http.client
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import dhcp_bench as db  # noqa: E402  (namespaces, processes, the DHCP storm)

SELF = os.path.abspath(__file__)
PYTHON = db.PYTHON
SRV, CLI = db.SRV_ADDR, db.CLI_ADDR
HTTP_PORT = 8080
HOST_MAC = bytes.fromhex("02aa")   # + 4 bytes of index: the [host] sections
PROBE_MAC = bytes.fromhex("026b71000001")
log = db.log


def pct(values, p):
    return db.pct(values, p)


# --------------------------------------------------------------------------
# Helpers that run inside kbd-cli: `api_bench.py _latency|_load JOB`
# --------------------------------------------------------------------------

def get_machines(conn_box):
    """One GET /api/v1/machines on a kept-alive connection; (seconds, bytes)."""
    t0 = time.monotonic()
    c = conn_box.get("c")
    if c is None:
        c = conn_box["c"] = http.client.HTTPConnection(SRV, HTTP_PORT, timeout=30)
    c.request("GET", "/api/v1/machines")
    r = c.getresponse()
    body = r.read()
    if r.status != 200:
        raise RuntimeError("GET /api/v1/machines: %d %s" % (r.status, body[:200]))
    return time.monotonic() - t0, len(body)


def tftp_rrq_miss(s, n):
    """A read request for a missing file: kidou answers an ERROR at once."""
    name = b"probe-miss-%d" % n
    s.sendto(b"\x00\x01" + name + b"\x00octet\x00", (SRV, 69))


def probe_loop(stop_at, stop_flag=None):
    """TFTP RRQ->ERROR and DHCP DISCOVER->OFFER round trips, one at a time,
    alternating, until stop_at (monotonic) or stop_flag() is true."""
    t = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    t.settimeout(2.0)
    d = db.relay_socket()
    d.settimeout(2.0)
    giaddr = db.ip_bytes(CLI)
    tftp_rtt, dhcp_rtt, lost = [], [], 0
    buf = bytearray(2048)
    n = 0
    while time.monotonic() < stop_at and not (stop_flag and stop_flag()):
        n += 1
        t0 = time.monotonic()
        tftp_rrq_miss(t, n)
        try:
            t.recv_into(buf)
            tftp_rtt.append(time.monotonic() - t0)
        except socket.timeout:
            lost += 1
        xid = 0x6B710000 | (n & 0xFFFF)
        pkt = db.build_discover(xid, PROBE_MAC, giaddr)
        t0 = time.monotonic()
        d.sendto(pkt, (SRV, 67))
        while True:
            try:
                nb = d.recv_into(buf)
            except socket.timeout:
                lost += 1
                break
            if nb >= 244 and struct.unpack_from("!I", buf, 4)[0] == xid:
                dhcp_rtt.append(time.monotonic() - t0)
                break
    t.close()
    d.close()
    return tftp_rtt, dhcp_rtt, lost


def summary(v):
    if not v:
        return {"n": 0}
    return {"n": len(v), "med_ms": pct(v, 50) * 1e3, "p99_ms": pct(v, 99) * 1e3,
            "max_ms": max(v) * 1e3}


def helper_gets(job):
    """job["gets"] GETs in a row (after one to warm up)."""
    box, times, size = {}, [], 0
    get_machines(box)
    for _ in range(job["gets"]):
        dt, size = get_machines(box)
        times.append(dt)
    return {"get": summary(times), "bytes": size}


def helper_rtt(job):
    """The probe, for job["seconds"] or until the file job["stop"] exists.
    A process of its own: a thread beside the GETs would wait for the GIL."""
    stop = job.get("stop")
    t, d, lost = probe_loop(time.monotonic() + job["seconds"],
                            (lambda: os.path.exists(stop)) if stop else None)
    return {"tftp": summary(t), "dhcp": summary(d), "lost": lost}


def helper_load(job):
    """100 SSE subscribers (read as data comes) and GET /machines in a loop,
    until the file job["stop"] exists; counts what it got."""
    subs = []
    for _ in range(job["subscribers"]):
        s = socket.create_connection((SRV, HTTP_PORT), timeout=10)
        s.sendall(b"GET /api/v1/events HTTP/1.1\r\nHost: x\r\n\r\n")
        s.setblocking(False)
        subs.append(s)
    poller = select.poll()
    for s in subs:
        poller.register(s.fileno(), select.POLLIN)
    byfd = {s.fileno(): s for s in subs}
    sse_bytes, gets, closed = 0, 0, 0
    box = {}
    import threading
    stop = threading.Event()

    def getter():
        nonlocal gets
        while not stop.is_set():
            get_machines(box)
            gets += 1
    th = threading.Thread(target=getter, daemon=True)
    if job["gets"]:
        th.start()
    while not os.path.exists(job["stop"]):
        for fd, ev in poller.poll(100):
            try:
                d = byfd[fd].recv(65536)
            except BlockingIOError:
                continue
            if not d:
                poller.unregister(fd)
                closed += 1
                continue
            sse_bytes += len(d)
    stop.set()
    if job["gets"]:
        th.join(timeout=30)
    for s in subs:
        s.close()
    return {"sse_bytes": sse_bytes, "gets": gets, "sse_closed": closed}


def helper_tftp(job):
    """One windowed transfer with tftp_bench.py's client (fewer wakeups
    per byte than lock-step: less sensitive to how fast idle cores wake)."""
    import tftp_bench
    r = tftp_bench.tftp_fetch({"host": SRV, "port": 69, "blksize": 1468,
                               "windowsize": job["windowsize"], "file": "big.bin",
                               "size": job["size"], "verify": False})
    return {"mib_s": r["bytes"] / r["seconds"] / (1 << 20)}


def helper_main(mode, arg):
    with open(arg[1:]) as f:
        job = json.load(f)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    res = {"_gets": helper_gets, "_rtt": helper_rtt, "_load": helper_load,
           "_tftp": helper_tftp}[mode](job)
    sys.stdout.write(json.dumps(res))
    sys.stdout.flush()


# --------------------------------------------------------------------------
# Parent side
# --------------------------------------------------------------------------

class Kidou(db.Server):
    name = label = "kidou"

    def prepare(self):
        self.db = os.path.join(self.dir, "leases.db")
        self.conf = os.path.join(self.dir, "kidou.ini")
        root = os.path.join(self.dir, "tftpboot")
        os.makedirs(root, exist_ok=True)
        with open(os.path.join(root, "big.bin"), "wb") as f:
            f.write(os.urandom(self.opts.tftp_mib << 20))
        lines = ["[subnet bench]", "network = %s" % db.NETWORK,
                 "range = %s %s" % (db.POOL_FIRST, db.POOL_LAST),
                 "lease-time = %d" % db.LEASE_TIME, "",
                 "[api]", "max-event-streams = 200", "",
                 "[profile inst]", "kernel = linux/vmlinuz", "cmdline = console=ttyS0", ""]
        for i in range(self.opts.machines):
            mac = ":".join("%02x" % b for b in HOST_MAC + i.to_bytes(4, "big"))
            lines += ["[host h%d]" % i, "mac = %s" % mac, "hostname = node%d" % i,
                      "profile = inst", ""]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines))

    def argv(self):
        return [self.opts.kidou, "--config", self.conf, "--interface", db.IF_SRV,
                "--dhcp-database", self.db, "--tftp-root", os.path.join(self.dir, "tftpboot"),
                "--tftp-listen", "%s:69" % SRV, "--http-listen", "%s:%d" % (SRV, HTTP_PORT),
                "--http-max-connections", "400",
                "--http-max-connections-per-address", "400",
                "--log-level", self.level]


def run_helper(bench, mode, job, timeout):
    path = os.path.join(bench.tmp, "job-%d.json" % time.monotonic_ns())
    with open(path, "w") as f:
        json.dump(job, f)
    p = bench.spawn(db.NS_CLI, [PYTHON, SELF, mode, "@" + path],
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return p


def finish(bench, p, mode, timeout):
    return bench.finish_helper(p, mode, timeout)


def kidou_figures(srv):
    """From kidou's log: its time per slice (and per snapshot), or an older
    kidou's time to build the whole answer."""
    slices, cpus, snaps, builds = [], [], [], []
    for line in srv.log_lines():
        f = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
        if f.get("event") == "read-done" and f.get("what") == "machines":
            slices.append(int(f["max_slice_us"]))
            cpus.append(int(f.get("max_slice_cpu_us", 0)))
        elif f.get("event") == "machines-snapshot":
            snaps.append(int(f["us"]))
        elif f.get("event") == "machines" and "build_us" in f:
            builds.append(int(f["build_us"]))
    def medmax(v):
        return [pct(v, 50), max(v)] if v else None
    # Per GET: its longest slice; reported as the median and the max over
    # the GETs (the max is where preemption on a busy machine shows).
    return {"slice_us": medmax(slices), "slice_cpu_us": medmax(cpus), "snapshot_us": medmax(snaps),
            "whole_build_us": medmax(builds)}


def phase_latency(bench, opts, srv):
    srv.level = "debug"
    srv.start()
    stop = os.path.join(bench.tmp, "stop-%d" % time.monotonic_ns())
    try:
        alone = finish(bench, run_helper(bench, "_gets", {"gets": opts.gets}, 0), "_gets", 600)
        p = run_helper(bench, "_rtt", {"seconds": opts.idle_s}, 0)
        idle = finish(bench, p, "_rtt", 60)
        probe = run_helper(bench, "_rtt", {"seconds": 600, "stop": stop}, 0)
        time.sleep(0.3)
        try:
            gets = run_helper(bench, "_gets", {"gets": opts.gets}, 0)
            r = finish(bench, gets, "_gets", 600)
        finally:
            open(stop, "w").close()
            busy = finish(bench, probe, "_rtt", 60)
    finally:
        srv.stop()
    r["get_alone"] = alone["get"]
    r.update({"idle_tftp": idle["tftp"], "idle_dhcp": idle["dhcp"], "idle_lost": idle["lost"],
              "busy_tftp": busy["tftp"], "busy_dhcp": busy["dhcp"], "busy_lost": busy["lost"]})
    r["kidou"] = kidou_figures(srv)
    return r


def tftp_once(bench, opts):
    t0 = time.monotonic()
    p = bench.spawn(db.NS_CLI, ["curl", "-sS", "--fail", "--tftp-blksize", "1468", "-o",
                                "/dev/null", "-w", "%{size_download}",
                                "tftp://%s/big.bin" % SRV], stdout=subprocess.PIPE)
    out, _ = p.communicate(timeout=600)
    bench.reap(p)
    dt = time.monotonic() - t0
    if p.returncode != 0 or int(out or 0) != opts.tftp_mib << 20:
        raise RuntimeError("TFTP transfer failed (curl rc %d, %s bytes)" % (p.returncode, out))
    return (opts.tftp_mib << 20) / dt / (1 << 20)


def phase_cost(bench, opts, srv, subscribers, gets):
    """A fresh kidou; the SSE subscribers and/or the GET loop (the load) run
    through both measurements. Returns (storm, MiB/s list, load stats)."""
    loaded = subscribers or gets
    srv.level = "info"
    srv.start()
    load = None
    stop = os.path.join(bench.tmp, "stop-%d" % time.monotonic_ns())
    try:
        if loaded:
            load = run_helper(bench, "_load", {"subscribers": subscribers, "gets": gets,
                                               "stop": stop}, 0)
            deadline = time.monotonic() + 20
            while sum(1 for line in srv.log_lines() if "event=events-open" in line) \
                    < subscribers:
                if time.monotonic() > deadline or load.poll() is not None:
                    raise RuntimeError("the SSE subscribers did not all connect")
                time.sleep(0.1)
            time.sleep(0.5)   # the GET loop is running
        mibs = [tftp_once(bench, opts) for _ in range(opts.tftp_runs)]
        win = [finish(bench, run_helper(bench, "_tftp", {"windowsize": 16,
                                                          "size": opts.tftp_mib << 20}, 0),
                      "_tftp", 600)["mib_s"] for _ in range(opts.tftp_runs)]
        storm = bench.helper("_storm", {
            "server": SRV, "n": opts.storm_n, "window": 128, "timeout": 1.0,
            "max_time": opts.storm_time, "mac_prefix": db.STORM_MAC.hex(),
        }, timeout=opts.storm_time + 60)
        storm.pop("done", None)
    finally:
        if load:
            open(stop, "w").close()
            ld = finish(bench, load, "_load", 60)
        srv.stop()
    return storm, (mibs, win), (ld if loaded else None)


# (name, SSE subscribers attached, GET /machines loop running)
COST_LOADS = (("idle", False, False), ("sse", True, False), ("gets", False, True),
              ("both", True, True))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kidou", default=os.path.join(db.REPO, "build", "kidou"))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--machines", type=int, default=10000)
    ap.add_argument("--gets", type=int, default=50, help="GETs for the latency (default 50)")
    ap.add_argument("--idle-s", type=float, default=3.0)
    ap.add_argument("--subscribers", type=int, default=100)
    ap.add_argument("--tftp-mib", type=int, default=16)
    ap.add_argument("--tftp-runs", type=int, default=2)
    ap.add_argument("--storm-n", type=int, default=30000)
    ap.add_argument("--storm-time", type=float, default=10.0)
    ap.add_argument("--pin", choices=("split", "none", "same"), default="split")
    ap.add_argument("--skip", default="", help="latency,cost")
    ap.add_argument("--json")
    opts = ap.parse_args()
    if opts.quick:
        opts.gets, opts.idle_s, opts.tftp_mib, opts.tftp_runs = 20, 1.0, 16, 1
        opts.storm_n, opts.storm_time = 10000, 6.0
    if os.geteuid() != 0:
        sys.exit("api_bench.py needs root (network namespaces)")
    bench = db.Bench(pin=opts.pin)
    signal.signal(signal.SIGTERM, db.on_signal)
    res = {"kidou": opts.kidou, "machines": opts.machines}
    try:
        bench.setup()
        srv = Kidou(bench, opts)   # each start: a fresh directory and lease database
        if "latency" not in opts.skip:
            log("latency: %d x GET /api/v1/machines (%d machines)" % (opts.gets, opts.machines))
            res["latency"] = phase_latency(bench, opts, srv)
        if "cost" not in opts.skip:
            for tag, subs, gets in COST_LOADS:
                subs = opts.subscribers if subs else 0
                log("cost: %s" % tag)
                storm, mibs, ld = phase_cost(bench, opts, srv, subs, gets)
                res[tag] = {"storm": storm, "tftp_mib_s": mibs[0], "tftp_w16_mib_s": mibs[1],
                            "load": ld}
    finally:
        bench.cleanup()
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump(res, f, indent=1)
    report(res, opts)


def fmt(v, unit="ms"):
    return "-" if v is None else "%.2f %s" % (v, unit)


def report(res, opts):
    print("kidou: %s, %d [host] machines" % (res["kidou"], res["machines"]))
    lat = res.get("latency")
    if lat:
        g, k, a = lat["get"], lat["kidou"], lat["get_alone"]
        print("\n(a) GET /api/v1/machines (%d bytes), %d runs each" % (lat["bytes"], g["n"]))
        print("    alone:            median %s, p99 %s, max %s"
              % (fmt(a["med_ms"]), fmt(a["p99_ms"]), fmt(a["max_ms"])))
        print("    beside the probe: median %s, p99 %s, max %s"
              % (fmt(g["med_ms"]), fmt(g["p99_ms"]), fmt(g["max_ms"])))
        if k["slice_us"]:
            print("    kidou, per GET: longest slice on the loop median %s, max %s; "
                  "snapshot median %s, max %s"
                  % (fmt(k["slice_us"][0] / 1e3), fmt(k["slice_us"][1] / 1e3),
                     fmt(k["snapshot_us"][0] / 1e3), fmt(k["snapshot_us"][1] / 1e3)))
            print("    kidou, per GET: longest slice in CPU time (no preemption) median %s, max %s"
                  % (fmt(k["slice_cpu_us"][0] / 1e3), fmt(k["slice_cpu_us"][1] / 1e3)))
        if k["whole_build_us"]:
            print("    kidou, per GET: whole answer built on the loop: median %s, max %s"
                  % (fmt(k["whole_build_us"][0] / 1e3), fmt(k["whole_build_us"][1] / 1e3)))
        print("    probe round trips      %-28s %s" % ("API idle", "during the GETs"))
        for kind in ("tftp", "dhcp"):
            a, b = lat["idle_" + kind], lat["busy_" + kind]
            print("    %-4s (n idle %5d/busy %5d) med %s p99 %s max %s | med %s p99 %s max %s"
                  % (kind, a["n"], b["n"], fmt(a.get("med_ms")), fmt(a.get("p99_ms")),
                     fmt(a.get("max_ms")), fmt(b.get("med_ms")), fmt(b.get("p99_ms")),
                     fmt(b.get("max_ms"))))
        print("    probes lost: idle %d, busy %d" % (lat["idle_lost"], lat["busy_lost"]))
    if "idle" in res:
        i = res["idle"]
        si, ti, wi = i["storm"]["per_s"], pct(i["tftp_mib_s"], 50), pct(i["tftp_w16_mib_s"], 50)
        print("\n(b) fast path, API idle vs. loaded: DHCP storm (ACK/s); TFTP %d MiB at blksize "
              "1468 (MiB/s, median of %d), curl lock-step and windowsize 16"
              % (opts.tftp_mib, opts.tftp_runs))
        print("    %-30s %7s %5s %7s %5s %7s %5s  %s" % ("load", "ACK/s", "ratio", "ws1", "ratio",
                                                    "ws16", "ratio", "load done meanwhile"))
        labels = {"idle": "API idle",
                  "sse": "%d SSE subscribers" % opts.subscribers,
                  "gets": "GET /machines loop",
                  "both": "%d SSE + GET loop" % opts.subscribers}
        for tag, _, _ in COST_LOADS:
            if tag not in res:
                continue
            r = res[tag]
            sl, tl, wl = r["storm"]["per_s"], pct(r["tftp_mib_s"], 50), pct(r["tftp_w16_mib_s"], 50)
            ld = r["load"]
            done = "" if not ld else "%d GETs, %.0f MB SSE, %d streams closed; " % (
                ld["gets"], ld["sse_bytes"] / 1e6, ld["sse_closed"])
            print("    %-30s %7.0f %5.2f %7.1f %5.2f %7.1f %5.2f  %sstorm lost %d"
                  % (labels[tag], sl, sl / si, tl, tl / ti, wl, wl / wi, done,
                     r["storm"]["lost"]))


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] in ("_gets", "_rtt", "_load", "_tftp"):
        helper_main(sys.argv[1], sys.argv[2])
    else:
        main()
