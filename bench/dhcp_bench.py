#!/usr/bin/python3
"""DHCP benchmark: kidou against Kea (memfile, persistent) and dnsmasq.

The servers (kidou, Kea single-threaded, Kea multi-threaded, dnsmasq) run
one at a time, taking turns step by step, in the same two network
namespaces that this script creates and always deletes again (also on an
error or Ctrl-C):

    kbd-srv: s0 10.77.0.1/16  (the server under test)
    kbd-cli: c0 10.77.0.2/16  (the load generators)

The veth pair is created inside kbd-srv, so nothing is added to the root
namespace and no packet leaves the machine. The clients act as a DHCP relay
(giaddr 10.77.0.2, port 67 to 10.77.0.1:67), which is how ISC's perfdhcp
always talks DHCPv4; every server serves the pool 10.77.1.0-10.77.254.254 of
10.77.0.0/16 with a 3600 s lease, and each starts from an empty lease store
for every measurement.

Measured for every server:
  * rate: perfdhcp DORA at fixed rates (each step a fresh server, many
    distinct clients), the highest rate of completed exchanges with under 1%
    of them lost; stops when drops reach 1% or perfdhcp cannot send at the
    asked rate any more (then the figure is a floor set by the generator);
  * latency: DISCOVER->OFFER and REQUEST->ACK, median and p99, from
    perfdhcp's per-exchange timestamps at a moderate rate;
  * storm: a client in this file sends DORA for N distinct MACs as fast as a
    bounded window of outstanding exchanges allows (pre-built packets, one
    non-blocking socket) and counts ACKs per second; it says when its own CPU
    was the limit. The ACKed (MAC, address) pairs are then looked up in the
    server's lease store after it stopped, and checked for duplicates.
For kidou also: every address perfdhcp got ACKed must be in its SQLite
database, and a crash test: kidou is SIGKILLed in the middle of a storm,
every ACK the client received must be in the database, and after a restart
kidou must offer each of those clients the address it had.

Usage (as root, Python stdlib only):
  /usr/bin/python3 bench/dhcp_bench.py            # full benchmark, ~7 minutes
  /usr/bin/python3 bench/dhcp_bench.py --quick    # short periods, ~1.5 minutes
Needs perfdhcp (kea-admin), kea-dhcp4 (kea-dhcp4-server) and dnsmasq
(dnsmasq-base); a missing peer is skipped. See bench/README.md.
"""

import argparse
import json
import os
import platform
import resource
import select
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
from collections import deque

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SELF = os.path.abspath(__file__)
PYTHON = sys.executable or "/usr/bin/python3"

NS_SRV, NS_CLI = "kbd-srv", "kbd-cli"
IF_SRV, IF_CLI = "s0", "c0"
SRV_ADDR, CLI_ADDR, PREFIX = "10.77.0.1", "10.77.0.2", 16
NETWORK = "10.77.0.0/16"
POOL_FIRST, POOL_LAST = "10.77.1.0", "10.77.254.254"
LEASE_TIME = 3600

PERFDHCP = "/usr/sbin/perfdhcp"
KEA = "/usr/sbin/kea-dhcp4"
DNSMASQ = "/usr/sbin/dnsmasq"

# MAC prefixes (3 bytes, then a 24-bit client index) of our own clients;
# perfdhcp uses 00:0c:01:... by default.
STORM_MAC = bytes.fromhex("026b64")
CRASH_MAC = bytes.fromhex("026b65")
PROBE_MAC = bytes.fromhex("026b70000001")
XID_BASE = 0x4B000000

# One-line labels for the ratio columns.
PEER_ORDER = ("kea", "kea-mt", "dnsmasq")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class Interrupted(Exception):
    pass


def on_signal(signum, frame):
    raise Interrupted("signal %d" % signum)


# --------------------------------------------------------------------------
# DHCP packets (client side, relay style)
# --------------------------------------------------------------------------

MAGIC = b"\x63\x82\x53\x63"
PRL = bytes([55, 5, 1, 3, 6, 51, 54])


def ip_bytes(a):
    return socket.inet_aton(a)


def bootp_header(xid, mac, giaddr):
    """The 236-byte BOOTP header and the magic cookie, as a relay sends it."""
    return (struct.pack("!BBBBIHH", 1, 1, 6, 1, xid, 0, 0)
            + b"\0" * 12 + giaddr + mac + b"\0" * 10 + b"\0" * 192 + MAGIC)


def pad(p):
    return p + b"\0" * (300 - len(p)) if len(p) < 300 else p


def build_discover(xid, mac, giaddr):
    return pad(bootp_header(xid, mac, giaddr) + bytes([53, 1, 1]) + PRL + b"\xff")


# REQUEST (SELECTING): requested address and server id patched in later.
REQ_OPT_REQIP = 240 + 3 + 2        # offset of option 50's value
REQ_OPT_SID = REQ_OPT_REQIP + 4 + 2  # offset of option 54's value


def build_request(xid, mac, giaddr):
    return bytearray(pad(bootp_header(xid, mac, giaddr) + bytes([53, 1, 3])
                         + bytes([50, 4]) + b"\0\0\0\0" + bytes([54, 4]) + b"\0\0\0\0"
                         + PRL + b"\xff"))


def reply_type_and_sid(buf, n):
    """Message type (option 53) and server id (option 54) of a reply."""
    mtype, sid = 0, None
    i = 240
    while i < n:
        code = buf[i]
        if code == 0:
            i += 1
            continue
        if code == 255 or i + 1 >= n:
            break
        ln = buf[i + 1]
        if code == 53 and ln >= 1:
            mtype = buf[i + 2]
        elif code == 54 and ln == 4:
            sid = bytes(buf[i + 2:i + 6])
        if mtype and sid is not None:
            break
        i += 2 + ln
    return mtype, sid


def relay_socket():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    for opt, fallback, size in ((getattr(socket, "SO_RCVBUFFORCE", 33), socket.SO_RCVBUF, 16 << 20),
                                (getattr(socket, "SO_SNDBUFFORCE", 32), socket.SO_SNDBUF, 4 << 20)):
        try:
            s.setsockopt(socket.SOL_SOCKET, opt, size)
        except OSError:
            s.setsockopt(socket.SOL_SOCKET, fallback, size)
    s.bind((CLI_ADDR, 67))
    return s


# --------------------------------------------------------------------------
# Helpers that run inside kbd-cli: `dhcp_bench.py _probe|_storm JSON`
# --------------------------------------------------------------------------

def helper_probe(job):
    """DISCOVER until an OFFER comes back (bounded by job["timeout"])."""
    s = relay_socket()
    s.settimeout(0.2)
    dst = (job["server"], 67)
    giaddr = ip_bytes(CLI_ADDR)
    xid = 0x6B700000 | (os.getpid() & 0xFFFF)
    pkt = build_discover(xid, PROBE_MAC, giaddr)
    deadline = time.monotonic() + job["timeout"]
    buf = bytearray(2048)
    tries = 0
    while time.monotonic() < deadline:
        tries += 1
        s.sendto(pkt, dst)
        end = time.monotonic() + 0.25
        while time.monotonic() < end:
            try:
                n = s.recv_into(buf)
            except socket.timeout:
                break
            if n >= 244 and buf[0] == 2 and struct.unpack_from("!I", buf, 4)[0] == xid:
                mtype, _ = reply_type_and_sid(buf, n)
                if mtype == 2:
                    return {"ok": True, "tries": tries,
                            "yiaddr": socket.inet_ntoa(bytes(buf[16:20]))}
    return {"ok": False, "tries": tries}


def pct(values, p):
    if not values:
        return None
    v = sorted(values)
    k = min(len(v) - 1, max(0, int(round(p / 100.0 * (len(v) - 1)))))
    return v[k]


def helper_storm(job):
    """DORA (or DISCOVER only, job["discover_only"]) for clients
    job["first"]..job["first"]+job["n"]-1 with MAC prefix+index, at most
    job["window"] exchanges outstanding, each abandoned after
    job["timeout"] s. Ends when every client is done, after job["max_time"]
    s, or when nothing came back for job["idle_stop"] s (server gone)."""
    n, first, window = job["n"], job.get("first", 0), job["window"]
    timeout, max_time = job["timeout"], job["max_time"]
    idle_stop = job.get("idle_stop", 3.0)
    discover_only = job.get("discover_only", False)
    prefix = bytes.fromhex(job["mac_prefix"])
    # job["servers"]: several instances on one database, client i's
    # exchange to servers[i % len] (dhcp_pg_bench.py).
    dsts = [(a, 67) for a in job.get("servers") or [job["server"]]]
    nd = len(dsts)
    giaddr = ip_bytes(CLI_ADDR)

    t_build = time.monotonic()
    ids = job.get("indices") or list(range(first, first + n))
    n = len(ids)
    macs = [prefix + ids[i].to_bytes(3, "big") for i in range(n)]
    disc = [build_discover(XID_BASE + i, macs[i], giaddr) for i in range(n)]
    reqs = None if discover_only else [build_request(XID_BASE + i, macs[i], giaddr)
                                       for i in range(n)]
    build_s = time.monotonic() - t_build

    s = relay_socket()
    s.setblocking(False)
    sendto, recv_into = s.sendto, s.recv_into
    poller = select.poll()
    poller.register(s.fileno(), select.POLLIN)
    buf = bytearray(2048)
    unpack_xid = struct.Struct("!I").unpack_from

    # state: 0 not started, 1 DISCOVER out, 2 REQUEST out, 3 done, 4 lost, 5 NAK
    state = bytearray(n)
    t_disc = [0.0] * n
    t_req = [0.0] * n
    got_ip = [None] * n
    d_o, r_a = [], []
    q = deque()
    inflight = next_new = 0
    sent_disc = sent_req = offers = acks = naks = lost = stray = send_blocked = 0
    if job.get("announce"):
        sys.stderr.write("go\n")
        sys.stderr.flush()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.monotonic()
    end = t0 + max_time
    last_rx = t0
    last_done = t0
    stop_reason = "done"
    while True:
        now = time.monotonic()
        if now >= end:
            stop_reason = "time-limit"
            break
        room = window - inflight
        sent_now = 0
        if room > 0 and next_new < n:
            k = min(room, n - next_new, 32)
            for i in range(next_new, next_new + k):
                try:
                    sendto(disc[i], dsts[i % nd])
                except BlockingIOError:
                    send_blocked += 1
                    break
                state[i] = 1
                t_disc[i] = now
                q.append((now + timeout, i, 1))
                sent_now += 1
            next_new += sent_now
            inflight += sent_now
            sent_disc += sent_now
        got = 0
        while got < 256:
            try:
                nb = recv_into(buf)
            except BlockingIOError:
                break
            got += 1
            if nb < 244 or buf[0] != 2:
                stray += 1
                continue
            i = unpack_xid(buf, 4)[0] - XID_BASE
            if i < 0 or i >= n:
                stray += 1
                continue
            st = state[i]
            if st != 1 and st != 2:
                stray += 1
                continue
            mtype, sid = reply_type_and_sid(buf, nb)
            t = time.monotonic()
            if st == 1 and mtype == 2:
                offers += 1
                d_o.append(t - t_disc[i])
                yi = bytes(buf[16:20])
                if discover_only:
                    got_ip[i] = yi
                    state[i] = 3
                    inflight -= 1
                    last_done = t
                    continue
                r = reqs[i]
                r[REQ_OPT_REQIP:REQ_OPT_REQIP + 4] = yi
                r[REQ_OPT_SID:REQ_OPT_SID + 4] = sid or b"\0\0\0\0"
                try:
                    sendto(r, dsts[i % nd])
                except BlockingIOError:
                    send_blocked += 1
                    continue  # times out as a lost DISCOVER exchange
                sent_req += 1
                state[i] = 2
                t_req[i] = t
                q.append((t + timeout, i, 2))
            elif st == 2 and mtype == 5:
                acks += 1
                r_a.append(t - t_req[i])
                got_ip[i] = bytes(buf[16:20])
                state[i] = 3
                inflight -= 1
                last_done = t
            elif st == 2 and mtype == 6:
                naks += 1
                state[i] = 5
                inflight -= 1
            else:
                stray += 1
        if got:
            last_rx = now
        while q and q[0][0] < now:
            _, i, st = q.popleft()
            if state[i] == st:
                state[i] = 4
                lost += 1
                inflight -= 1
        if next_new >= n and inflight == 0:
            break
        if now - last_rx > idle_stop and sent_disc:
            stop_reason = "idle"
            break
        if not got and (sent_now == 0):
            poller.poll(2)
    wall = time.monotonic() - t0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    done = [[ids[i], int.from_bytes(got_ip[i], "big")] for i in range(n) if state[i] == 3]
    # The rate counts until the last completion, so a tail of abandoned
    # exchanges does not dilute it.
    active = max(1e-6, last_done - t0)
    completed = offers if discover_only else acks
    return {
        "n": n, "window": window, "sent_discover": sent_disc, "sent_request": sent_req,
        "offers": offers, "acks": acks, "naks": naks, "lost": lost, "stray": stray,
        "not_started": n - next_new, "send_blocked": send_blocked,
        "wall_s": wall, "active_s": active, "per_s": completed / active,
        "cpu_s": cpu, "cpu_frac": cpu / wall if wall > 0 else 0.0, "build_s": build_s,
        "stop": stop_reason,
        "do_ms": [pct(d_o, 50) and pct(d_o, 50) * 1e3, pct(d_o, 99) and pct(d_o, 99) * 1e3],
        "ra_ms": [pct(r_a, 50) and pct(r_a, 50) * 1e3, pct(r_a, 99) and pct(r_a, 99) * 1e3],
        "done": done,
    }


def helper_main(mode, arg):
    if arg == "-":
        job = json.load(sys.stdin)
    elif arg.startswith("@"):
        with open(arg[1:]) as f:
            job = json.load(f)
    else:
        job = json.loads(arg)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    res = helper_probe(job) if mode == "_probe" else helper_storm(job)
    sys.stdout.write(json.dumps(res))
    sys.stdout.flush()


# --------------------------------------------------------------------------
# Namespaces and processes (parent side)
# --------------------------------------------------------------------------

class Bench:
    """Owns everything that must be undone: namespaces, processes, tmpdir."""

    def __init__(self, keep_tmp=False, pin="split"):
        self.pin = pin
        self.procs = []
        self.netns_made = []
        self.tmp = None
        self.keep_tmp = keep_tmp

    def sh(self, *cmd, check=True):
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if check and r.returncode != 0:
            raise RuntimeError("%s: %s" % (" ".join(cmd), r.stderr.strip()))
        return r

    def setup(self):
        existing = self.sh("ip", "netns", "list").stdout.split()
        for ns in (NS_SRV, NS_CLI):
            if ns in existing:
                pids = self.sh("ip", "netns", "pids", ns, check=False).stdout.split()
                log("note: removing namespace %s left by an earlier run%s" % (
                    ns, " (processes still in it: %s; not touched)" % " ".join(pids) if pids else ""))
                self.sh("ip", "netns", "delete", ns, check=False)
        for ns in (NS_SRV, NS_CLI):
            self.sh("ip", "netns", "add", ns)
            self.netns_made.append(ns)
        # Both ends are created inside kbd-srv; the peer moves to kbd-cli.
        self.sh("ip", "-n", NS_SRV, "link", "add", IF_SRV, "type", "veth",
                "peer", "name", IF_CLI, "netns", NS_CLI)
        self.sh("ip", "-n", NS_SRV, "addr", "add", "%s/%d" % (SRV_ADDR, PREFIX), "dev", IF_SRV)
        self.sh("ip", "-n", NS_CLI, "addr", "add", "%s/%d" % (CLI_ADDR, PREFIX), "dev", IF_CLI)
        for ns, dev in ((NS_SRV, IF_SRV), (NS_SRV, "lo"), (NS_CLI, IF_CLI), (NS_CLI, "lo")):
            self.sh("ip", "-n", ns, "link", "set", dev, "up")
        self.tmp = tempfile.mkdtemp(prefix="kbd-", dir="/var/tmp")  # on disk: fsync costs

    def spawn(self, ns, argv, stdout=None, stderr=None, env=None, stdin=None):
        pre = []
        if self.pin == "split":
            # The server gets core 0, the load generators core 1.
            pre = ["taskset", "-c", "0" if ns == NS_SRV else "1"]
        elif self.pin == "same":
            pre = ["taskset", "-c", "0"]
        p = subprocess.Popen(pre + ["ip", "netns", "exec", ns] + argv,
                             stdin=stdin if stdin is not None else subprocess.DEVNULL,
                             stdout=stdout if stdout is not None else subprocess.DEVNULL,
                             stderr=stderr if stderr is not None else subprocess.DEVNULL,
                             env=env)
        self.procs.append(p)
        return p

    def reap(self, p):
        if p in self.procs:
            self.procs.remove(p)

    def cleanup(self):
        for p in list(self.procs):
            if p.poll() is None:
                try:
                    p.kill()  # by its own pid
                    p.wait(timeout=5)
                except Exception:
                    pass
        self.procs = []
        for ns in reversed(self.netns_made):
            subprocess.run(["ip", "netns", "delete", ns], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        self.netns_made = []
        if self.tmp and not self.keep_tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def helper(self, mode, job, timeout):
        """Run a helper in kbd-cli and return its JSON answer."""
        p = self.spawn(NS_CLI, [PYTHON, SELF, mode, "-"], stdin=subprocess.PIPE,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = p.communicate(json.dumps(job).encode(), timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            raise RuntimeError("%s helper did not finish in %.0f s" % (mode, timeout))
        finally:
            self.reap(p)
        if p.returncode != 0:
            raise RuntimeError("%s helper failed: %s" % (mode, err.decode(errors="replace")[-800:]))
        return json.loads(out)

    def start_helper(self, mode, job):
        """Start a helper in kbd-cli; it gets its job in a file (stdin is
        needed by communicate() later)."""
        path = os.path.join(self.tmp, "job-%d.json" % time.monotonic_ns())
        with open(path, "w") as f:
            json.dump(job, f)
        return self.spawn(NS_CLI, [PYTHON, SELF, mode, "@" + path],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def finish_helper(self, p, mode, timeout):
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            raise RuntimeError("%s helper did not finish in %.0f s" % (mode, timeout))
        finally:
            self.reap(p)
        if p.returncode != 0:
            raise RuntimeError("%s helper failed: %s" % (mode, err.decode(errors="replace")[-800:]))
        return json.loads(out)


def proc_cpu_seconds(pid):
    """utime+stime of a process and all its threads, in seconds."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def proc_runq_wait(pid):
    """Seconds the threads of pid spent runnable but waiting for a CPU."""
    total = 0
    try:
        for t in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
                total += int(f.read().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return total / 1e9


def machine_cpu():
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    total = sum(v[:8])
    return total - idle, total


def cpu0_stat():
    """(busy, iowait, total) jiffies of CPU 0, the server's core with --pin split."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu0 "):
                v = [int(x) for x in line.split()[1:]]
                return sum(v[:8]) - v[3] - v[4], v[4], sum(v[:8])
    return 0, 0, 0


def busy_frac(c0, c1):
    """Share of the whole machine (all cores) that was busy between c0 and c1."""
    dt = c1[1] - c0[1]
    return (c1[0] - c0[0]) / dt if dt > 0 else 0.0


def udp_drops(ns):
    """UDP datagrams dropped for a full receive buffer in namespace ns."""
    r = subprocess.run(["ip", "netns", "exec", ns, "cat", "/proc/net/snmp"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    udp = [l.split() for l in r.stdout.splitlines() if l.startswith("Udp:")]
    if len(udp) < 2:
        return 0
    d = dict(zip(udp[0][1:], udp[1][1:]))
    return int(d.get("RcvbufErrors", 0))


def background_busy(seconds=1.0):
    """Busy share of the machine while this benchmark runs nothing."""
    c0 = machine_cpu()
    time.sleep(seconds)
    return busy_frac(c0, machine_cpu())


class Meter:
    """Machine CPU and per-namespace UDP receive-buffer drops over a span."""

    def __init__(self):
        self.c0 = machine_cpu()
        self.z0 = cpu0_stat()
        self.s0, self.k0 = udp_drops(NS_SRV), udp_drops(NS_CLI)

    def done(self):
        z1 = cpu0_stat()
        dt = (z1[2] - self.z0[2]) or 1
        return {"machine_busy": busy_frac(self.c0, machine_cpu()),
                "cpu0_busy": (z1[0] - self.z0[0]) / dt, "cpu0_iowait": (z1[1] - self.z0[1]) / dt,
                "srv_rcvbuf_drops": udp_drops(NS_SRV) - self.s0,
                "cli_rcvbuf_drops": udp_drops(NS_CLI) - self.k0}


# --------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------

class Server:
    name = "?"
    label = "?"

    def __init__(self, bench, opts):
        self.b = bench
        self.opts = opts
        self.proc = None
        self.run_no = 0
        self.dir = None
        self.logf = None

    def fresh_dir(self):
        self.run_no += 1
        self.dir = os.path.join(self.b.tmp, "%s-%03d" % (self.name, self.run_no))
        os.makedirs(self.dir)
        return self.dir

    def argv(self):
        raise NotImplementedError

    def env(self):
        return None

    def start(self, fresh=True):
        if fresh or not self.dir:
            self.fresh_dir()
            self.prepare()
        self.logpath = os.path.join(self.dir, "server-%d.log" % time.monotonic_ns())
        self.logf = open(self.logpath, "wb")
        self.proc = self.b.spawn(NS_SRV, self.argv(), stdout=self.logf, stderr=self.logf,
                                 env=self.env())
        r = self.b.helper("_probe", {"server": SRV_ADDR, "timeout": 15}, timeout=30)
        if not r["ok"] or self.proc.poll() is not None:
            self.stop()
            raise RuntimeError("%s did not answer a DISCOVER within 15 s; log:\n%s"
                               % (self.name, self.log_tail()))
        return r

    def prepare(self):
        pass

    def stop(self, sig=signal.SIGTERM):
        p = self.proc
        if not p:
            return None
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.b.reap(p)
        self.proc = None
        if self.logf:
            self.logf.close()
            self.logf = None
        return p.returncode

    def kill(self):
        return self.stop(signal.SIGKILL)

    def cpu(self):
        return proc_cpu_seconds(self.proc.pid) if self.proc else None

    def runq_wait(self):
        return proc_runq_wait(self.proc.pid) if self.proc else None

    def log_tail(self, n=15):
        try:
            with open(self.logpath, "rb") as f:
                lines = f.read().decode(errors="replace").splitlines()
            return "\n".join(lines[-n:])
        except OSError:
            return ""

    def log_lines(self):
        try:
            with open(self.logpath, "rb") as f:
                return f.read().decode(errors="replace").splitlines()
        except OSError:
            return []

    def leases(self):
        """{ip_int: mac_bytes} of bound leases in the server's store, or None."""
        return None

    def version(self):
        return "?"


class Kidou(Server):
    name = label = "kidou"

    def prepare(self):
        self.db = os.path.join(self.dir, "leases.db")
        self.conf = os.path.join(self.dir, "kidou.ini")
        os.makedirs(os.path.join(self.dir, "tftpboot"), exist_ok=True)
        with open(self.conf, "w") as f:
            # perfdhcp always acts as a relay (giaddr = its address), so the
            # pool is a [subnet] chosen by giaddr, not the interface's range.
            f.write("[subnet bench]\nnetwork = %s\nrange = %s %s\nlease-time = %d\n"
                    % (NETWORK, POOL_FIRST, POOL_LAST, LEASE_TIME))

    def argv(self):
        return [self.opts.kidou, "--config", self.conf, "--interface", IF_SRV,
                "--dhcp-database", self.db, "--tftp-root", os.path.join(self.dir, "tftpboot"),
                "--tftp-listen", "127.0.0.1:69", "--log-level", "warn"]

    def leases(self):
        con = sqlite3.connect(self.db, timeout=10)
        try:
            rows = con.execute("SELECT ip, hwaddr FROM leases WHERE state = 1").fetchall()
        finally:
            con.close()
        return {int(ip): bytes(hw) for ip, hw in rows}

    def version(self):
        r = subprocess.run([self.opts.kidou, "--version"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        return r.stdout.strip().splitlines()[0] if r.stdout.strip() else "?"


class Kea(Server):
    name = label = "kea"
    threads = 0  # Kea 2.2's default: single-threaded

    def prepare(self):
        self.csv = os.path.join(self.dir, "kea-leases4.csv")
        self.conf = os.path.join(self.dir, "kea-dhcp4.json")
        mt = {"enable-multi-threading": False}
        if self.threads > 0:
            mt = {"enable-multi-threading": True, "thread-pool-size": self.threads,
                  "packet-queue-size": 64}
        cfg = {"Dhcp4": {
            # udp: the relayed traffic comes unicast to 10.77.0.1:67.
            "interfaces-config": {"interfaces": [IF_SRV], "dhcp-socket-type": "udp"},
            "lease-database": {"type": "memfile", "persist": True, "name": self.csv,
                               "lfc-interval": 0},
            "valid-lifetime": LEASE_TIME,
            "subnet4": [{"id": 1, "subnet": NETWORK,
                         "pools": [{"pool": "%s - %s" % (POOL_FIRST, POOL_LAST)}]}],
            "multi-threading": mt,
            "loggers": [{"name": "kea-dhcp4", "output_options": [{"output": "stderr"}],
                         "severity": "WARN"}],
        }}
        with open(self.conf, "w") as f:
            json.dump(cfg, f, indent=1)
        os.makedirs("/run/kea", exist_ok=True)

    def env(self):
        e = dict(os.environ)
        e["KEA_PIDFILE_DIR"] = self.dir
        e["KEA_LOCKFILE_DIR"] = self.dir
        return e

    def argv(self):
        return [KEA, "-c", self.conf]

    def leases(self):
        out = {}
        with open(self.csv) as f:
            head = f.readline().strip().split(",")
            ia, ih, ist = head.index("address"), head.index("hwaddr"), head.index("state")
            for line in f:  # append-only: a later line replaces an earlier one
                c = line.rstrip("\n").split(",")
                if len(c) <= max(ia, ih, ist):
                    continue
                ip = int.from_bytes(socket.inet_aton(c[ia]), "big")
                if c[ist] == "0" and c[ih]:
                    out[ip] = bytes.fromhex(c[ih].replace(":", ""))
                else:
                    out.pop(ip, None)
        return out

    def version(self):
        r = subprocess.run([KEA, "-v"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        v = r.stdout.strip()
        return "Kea %s (memfile persist, %s)" % (v, "multi-threaded, %d threads" % self.threads
                                                  if self.threads else "single-threaded")


class KeaMT(Kea):
    name = label = "kea-mt"

    def __init__(self, bench, opts):
        super().__init__(bench, opts)
        self.threads = opts.kea_threads


class Dnsmasq(Server):
    name = label = "dnsmasq"

    def prepare(self):
        self.leasefile = os.path.join(self.dir, "dnsmasq.leases")

    def argv(self):
        return [DNSMASQ, "--no-daemon", "--conf-file=/dev/null", "--port=0", "--no-ping",
                "--interface=%s" % IF_SRV, "--bind-interfaces",
                "--dhcp-range=%s,%s,%ds" % (POOL_FIRST, POOL_LAST, LEASE_TIME),
                "--dhcp-lease-max=200000", "--dhcp-leasefile=%s" % self.leasefile,
                "--dhcp-authoritative", "--log-facility=-", "--quiet-dhcp", "--user=root",
                "--pid-file=%s" % os.path.join(self.dir, "dnsmasq.pid")]

    def leases(self):
        out = {}
        with open(self.leasefile) as f:
            for line in f:
                c = line.split()
                if len(c) >= 3 and c[0] != "duid":
                    out[int.from_bytes(socket.inet_aton(c[2]), "big")] = \
                        bytes.fromhex(c[1].replace(":", ""))
        return out

    def version(self):
        r = subprocess.run([DNSMASQ, "--version"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        return r.stdout.splitlines()[0].strip() if r.stdout else "?"


# --------------------------------------------------------------------------
# perfdhcp
# --------------------------------------------------------------------------

def parse_perfdhcp(text):
    res = {"do": {}, "ra": {}, "ts_do": [], "ts_ra": [], "acked_ips": []}
    section = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("***"):
            if "Statistics for: DISCOVER-OFFER" in line:
                section = "do"
            elif "Statistics for: REQUEST-ACK" in line:
                section = "ra"
            elif "Timestamps for packets: DISCOVER-OFFER" in line:
                section = "ts_do"
            elif "Timestamps for packets: REQUEST-ACK" in line:
                section = "ts_ra"
            elif "Leases for REQUEST-ACK" in line:
                section = "leases_ra"
            else:
                section = None
            continue
        if section in ("do", "ra") and ":" in line:
            k, v = line.split(":", 1)
            k = k.strip()
            if k in ("sent packets", "received packets", "drops", "orphans", "rejected leases"):
                try:
                    res[section][k] = int(v.strip().split()[0])
                except ValueError:
                    pass
        elif section in ("ts_do", "ts_ra") and line.startswith("sent / received:"):
            a, b = line.split(":", 1)[1].split("/")
            res[section].append(float(b) - float(a))
        elif section == "leases_ra" and line and not line.startswith("client_id"):
            parts = line.split(",")
            if len(parts) >= 2 and parts[1]:
                try:
                    res["acked_ips"].append(int.from_bytes(socket.inet_aton(parts[1]), "big"))
                except OSError:
                    pass
    return res


def run_perfdhcp(bench, server, rate, period, clients, timestamps=False, leases=False):
    argv = [PERFDHCP, "-4", "-g", "single", "-l", IF_CLI, "-r", str(rate), "-R", str(clients),
            "-p", str(period), "-W", "1000000", "-d", "1"]
    xs = ("t" if timestamps else "") + ("l" if leases else "")
    if xs:
        argv += ["-x", xs]
    argv.append(SRV_ADDR)
    cpu0, wait0 = server.cpu(), server.runq_wait()
    meter = Meter()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = bench.spawn(NS_CLI, argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = p.communicate(timeout=period + 40)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
        raise RuntimeError("perfdhcp did not finish")
    finally:
        bench.reap(p)
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu1, wait1 = server.cpu(), server.runq_wait()
    m = meter.done()
    text = out.decode(errors="replace")
    if p.returncode not in (0, 3):
        raise RuntimeError("perfdhcp exited %d:\n%s" % (p.returncode, text[-1500:]))
    r = parse_perfdhcp(text)
    sent = r["do"].get("sent packets", 0)
    acked = r["ra"].get("received packets", 0)
    r.update({
        "rate": rate, "period": period, "sent": sent, "offers": r["do"].get("received packets", 0),
        "acked": acked, "drop": (1.0 - acked / sent) if sent else 1.0,
        "sent_rate": sent / period, "ack_rate": acked / period,
        "gen_cpu": (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime),
        "srv_cpu": (cpu1 - cpu0) if cpu0 is not None and cpu1 is not None else None,
        "srv_wait": (wait1 - wait0) if wait0 is not None and wait1 is not None else None,
    })
    r.update(m)
    # perfdhcp could not keep up: it sent too slowly while the server kept
    # up with what came, or more of the lost exchanges died in perfdhcp's
    # own receive buffer than in the server's. (A server that drops more
    # than 1% of a short-sent rate has failed at that rate.)
    lost = sent - acked
    r["gen_limited"] = ((r["sent_rate"] < 0.95 * rate and lost <= 0.01 * sent)
                        or (lost > 0.01 * sent and m["cli_rcvbuf_drops"] > m["srv_rcvbuf_drops"]))
    return r


# --------------------------------------------------------------------------
# Phases
# --------------------------------------------------------------------------

def check_leases(server, pairs, macprefix):
    """pairs: [[client index, ip_int]]; returns (missing, wrong_owner, error)."""
    try:
        store = server.leases()
    except Exception as e:  # noqa: BLE001 - reported, not fatal
        return None, None, "cannot read lease store: %s" % e
    if store is None:
        return None, None, "no store"
    missing = wrong = 0
    for idx, ip in pairs:
        mac = macprefix + idx.to_bytes(3, "big")
        got = store.get(ip)
        if got is None:
            missing += 1
        elif got[:6] != mac:
            wrong += 1
    return missing, wrong, None


def duplicates(pairs):
    seen = {}
    dup = 0
    for idx, ip in pairs:
        if ip in seen and seen[ip] != idx:
            dup += 1
        seen[ip] = idx
    return dup


def rate_step(bench, server, opts, res, rate):
    """One perfdhcp run at `rate` on a fresh server (tried once more if it
    fails: one noisy second must not end the search). Returns (ok, result)."""
    ok, r = rate_step_once(bench, server, opts, res, rate)
    retry = opts.retry_fail
    while not ok and retry > 0 and not r["gen_limited"]:
        log("  %-8s   (trying %d/s again)" % (server.name, rate))
        retry -= 1
        ok, r = rate_step_once(bench, server, opts, res, rate)
    # Another process on the server's core (this machine is shared): the
    # share of CPU 0 that neither the server nor its packets used.
    srv = (r["srv_cpu"] or 0.0) / r["period"]
    r["others_cpu0"] = max(0.0, r["cpu0_busy"] - srv) if opts.pin == "split" else 0.0
    r["disturbed"] = not ok and r["others_cpu0"] > 0.35
    res.setdefault("rate_steps", []).append(
        {k: v for k, v in r.items() if k not in ("do", "ra", "ts_do", "ts_ra", "acked_ips")})
    return ok, r


def rate_step_once(bench, server, opts, res, rate):
    server.start()
    try:
        r = run_perfdhcp(bench, server, rate, opts.period, opts.clients,
                         leases=isinstance(server, Kidou))
    finally:
        server.stop()
    ok = r["drop"] < 0.01
    note = ""
    if isinstance(server, Kidou) and r["acked_ips"]:
        store = server.leases()
        miss = sum(1 for ip in r["acked_ips"] if ip not in store)
        r["db_missing"] = miss
        res.setdefault("perfdhcp_db_missing", 0)
        res["perfdhcp_db_missing"] += miss
        res.setdefault("perfdhcp_db_checked", 0)
        res["perfdhcp_db_checked"] += len(r["acked_ips"])
        note = " db-missing=%d/%d" % (miss, len(r["acked_ips"]))
    srv = ("%.0f%%" % (100 * r["srv_cpu"] / opts.period)) if r["srv_cpu"] is not None else "?"
    if r["srv_wait"] is not None:
        srv += " (+%.0f%% waiting for a core)" % (100 * r["srv_wait"] / opts.period)
    log("  %-8s rate %6d/s: sent %7.0f/s  acked %7.0f/s  drops %6.2f%%  "
        "cpu: server %s perfdhcp %.0f%% machine %.0f%% (cpu0 %.0f%% + iowait %.0f%%)  "
        "rcvbuf drops: server %d client %d%s%s" % (
            server.name, rate, r["sent_rate"], r["ack_rate"], 100 * r["drop"], srv,
            100 * r["gen_cpu"] / opts.period, 100 * r["machine_busy"],
            100 * r["cpu0_busy"], 100 * r["cpu0_iowait"],
            r["srv_rcvbuf_drops"], r["cli_rcvbuf_drops"],
            "  GENERATOR-LIMITED" if r["gen_limited"] else "", note))
    for k in ("ts_do", "ts_ra", "acked_ips"):
        r.pop(k, None)
    return ok, r


class RateSearch:
    """Where one server's rate search stands. The ladder goes up from
    1,000/s until a step fails (or perfdhcp cannot keep up), or down until
    one passes; then bisection narrows the gap. The servers' searches are
    run interleaved, step by step, so that a noisy minute on this shared
    machine hits them all alike."""

    def __init__(self, opts):
        self.ladder = opts.ladder
        self.bisect_left = opts.bisect
        self.i = self.start = self.ladder.index(1000) if 1000 in self.ladder else 0
        self.phase = "up"
        self.best = self.first_fail = self.ceiling = None
        self.disturbed = 0  # disturbed failures in a row at the current rate

    def next_rate(self):
        if self.phase in ("up", "down"):
            return self.ladder[self.i]
        if self.phase == "bisect":
            lo = self.best["rate"] if self.best else 0
            ff = self.first_fail
            if self.bisect_left <= 0 or ff is None:
                return None
            mid = int(round((lo + ff) / 2.0, -1))
            if mid <= lo or mid >= ff or ff - lo < max(50, lo * 0.1):
                return None
            return mid
        return None

    def record(self, rate, ok, r):
        if r["gen_limited"] and (not self.ceiling or rate < self.ceiling["rate"]):
            self.ceiling = r
        if ok and (not self.best or rate > self.best["rate"]):
            self.best = r
        if not ok and (self.first_fail is None or rate < self.first_fail):
            self.first_fail = rate
        if self.phase == "up":
            if ok and not self.ceiling and self.i + 1 < len(self.ladder):
                self.i += 1
            elif not ok and self.i == self.start and self.i > 0:
                self.phase, self.i = "down", self.i - 1
            else:
                self.phase = "bisect"
        elif self.phase == "down":
            if ok or self.i == 0:
                self.phase = "bisect"
            else:
                self.i -= 1
        elif self.phase == "bisect":
            self.bisect_left -= 1

    def store(self, res, opts):
        best = self.best
        res["max_rate"] = best["ack_rate"] if best else 0.0
        res["max_rate_step"] = best["rate"] if best else None
        res["max_rate_srv_cpu"] = (best["srv_cpu"] / opts.period
                                   if best and best["srv_cpu"] is not None else None)
        res["first_fail"] = self.first_fail
        res["gen_limited"] = self.ceiling is not None
        c = self.ceiling
        res["ceiling"] = ({"rate": c["rate"], "sent_rate": c["sent_rate"],
                           "gen_cpu": c["gen_cpu"] / c["period"]} if c else None)


def rate_search_all(bench, servers, opts, results):
    searches = {s.name: RateSearch(opts) for s in servers}
    for _ in range((2 * len(opts.ladder) + opts.bisect + 2) * (1 + opts.disturbed_retries)):
        busy = False
        for srv in servers:
            res = results[srv.name]
            if "error" in res:
                continue
            rs = searches[srv.name]
            rate = rs.next_rate()
            if rate is None:
                continue
            busy = True
            try:
                ok, r = rate_step(bench, srv, opts, res, rate)
            except Interrupted:
                raise
            except Exception as e:  # noqa: BLE001 - one server failing keeps the others
                fail(srv, res, e)
                continue
            if r["disturbed"] and rs.disturbed < opts.disturbed_retries:
                # Not the server's failure: ask again on its next turn.
                rs.disturbed += 1
                log("  %-8s   (%d/s disturbed: %.0f%% of CPU 0 went to other processes; "
                    "again on its next turn)" % (srv.name, rate, 100 * r["others_cpu0"]))
                continue
            rs.disturbed = 0
            rs.record(rate, ok, r)
        if not busy:
            break
    for srv in servers:
        if "error" not in results[srv.name]:
            searches[srv.name].store(results[srv.name], opts)


def fail(srv, res, e):
    log("  %s FAILED: %s" % (srv.name, e))
    res["error"] = str(e).splitlines()[0] if str(e) else repr(e)
    srv.stop()


def latency(bench, server, opts, res):
    server.start()
    try:
        r = run_perfdhcp(bench, server, opts.lat_rate, opts.lat_period, opts.clients,
                         timestamps=True)
    finally:
        server.stop()
    do = r["ts_do"]
    ra = r["ts_ra"]
    res["lat"] = {
        "rate": opts.lat_rate, "samples": len(ra), "drop": r["drop"],
        "do_med": pct(do, 50) * 1e3 if do else None, "do_p99": pct(do, 99) * 1e3 if do else None,
        "ra_med": pct(ra, 50) * 1e3 if ra else None, "ra_p99": pct(ra, 99) * 1e3 if ra else None,
    }
    L = res["lat"]
    log("  %-8s latency at %d/s: D->O median %s p99 %s ms, R->A median %s p99 %s ms "
        "(%d exchanges, drops %.2f%%)" % (server.name, opts.lat_rate, fmt_ms(L["do_med"]),
                                          fmt_ms(L["do_p99"]), fmt_ms(L["ra_med"]),
                                          fmt_ms(L["ra_p99"]), L["samples"], 100 * L["drop"]))


def storm_once(bench, server, opts):
    server.start()
    cpu0, wait0 = server.cpu(), server.runq_wait()
    meter = Meter()
    t0 = time.monotonic()
    try:
        r = bench.helper("_storm", {
            "server": SRV_ADDR, "n": opts.storm_n, "window": opts.storm_window,
            "timeout": 1.0, "max_time": opts.storm_time, "mac_prefix": STORM_MAC.hex(),
        }, timeout=opts.storm_time + 60)
        wall = time.monotonic() - t0
        cpu1, wait1 = server.cpu(), server.runq_wait()
        r.update(meter.done())
    finally:
        server.stop()
    pairs = r.pop("done")
    missing, wrong, err = check_leases(server, pairs, STORM_MAC)
    r["dups"] = duplicates(pairs)
    r["store_missing"], r["store_wrong"], r["store_error"] = missing, wrong, err
    # Over the helper's whole life (it builds its packets first, ~1 s).
    r["srv_cpu_frac"] = (cpu1 - cpu0) / wall if cpu0 is not None and cpu1 is not None else None
    r["srv_wait_frac"] = (wait1 - wait0) / wall if wait0 is not None and wait1 is not None else None
    r["client_saturated"] = r["cpu_frac"] > 0.85
    r["helper_wall_s"] = wall
    log("  %-8s storm: %d ACKs in %.2f s = %.0f ACK/s (lost %d, NAK %d, not started %d, stop %s); "
        "cpu: client %.0f%%%s server %s (+%s waiting) machine %.0f%% (cpu0 %.0f%% + iowait %.0f%%); "
        "rcvbuf drops server %d client %d; "
        "D->O med %s ms, R->A med %s ms; "
        "store: missing %s, wrong owner %s%s; duplicate addresses %d" % (
            server.name, r["acks"], r["active_s"], r["per_s"], r["lost"], r["naks"],
            r["not_started"], r["stop"], 100 * r["cpu_frac"],
            " (CLIENT SATURATED)" if r["client_saturated"] else "",
            "%.0f%%" % (100 * r["srv_cpu_frac"]) if r["srv_cpu_frac"] is not None else "?",
            "%.0f%%" % (100 * r["srv_wait_frac"]) if r["srv_wait_frac"] is not None else "?",
            100 * r["machine_busy"], 100 * r["cpu0_busy"], 100 * r["cpu0_iowait"],
            r["srv_rcvbuf_drops"], r["cli_rcvbuf_drops"], fmt_ms(r["do_ms"][0]), fmt_ms(r["ra_ms"][0]), missing, wrong,
            " (%s)" % err if err else "", r["dups"]))
    return r


def storm_all(bench, servers, opts, results):
    """opts.storm_runs rounds; in each, every server has one storm on a fresh
    server (interleaved like the rate search). The best run by ACK/s is
    reported: on this shared machine other load only ever slows a run down,
    so the best run is the closest to what the server can do. The lease
    checks add up over all runs."""
    runs = {srv.name: [] for srv in servers}
    for _ in range(opts.storm_runs):
        for srv in servers:
            res = results[srv.name]
            mine = runs[srv.name]
            if "error" in res or (mine and mine[-1]["stop"] == "time-limit"):
                continue  # a slow server: one long run says enough
            try:
                mine.append(storm_once(bench, srv, opts))
            except Interrupted:
                raise
            except Exception as e:  # noqa: BLE001
                fail(srv, res, e)
    for srv in servers:
        mine = runs[srv.name]
        if not mine or "error" in results[srv.name]:
            continue
        med = dict(max(mine, key=lambda r: r["per_s"]))
        med["runs"] = [round(r["per_s"]) for r in mine]
        med["median_per_s"] = sorted(r["per_s"] for r in mine)[len(mine) // 2]
        for k in ("acks", "store_missing", "store_wrong", "dups", "lost"):
            med["all_" + k] = sum((r[k] or 0) for r in mine)
        med["store_error"] = next((r["store_error"] for r in mine if r["store_error"]), None)
        med["client_saturated"] = any(r["client_saturated"] for r in mine)
        results[srv.name]["storm"] = med


def crash_test(bench, server, opts, res):
    """SIGKILL kidou mid-storm; every ACK received must survive the restart."""
    server.start()
    p = bench.start_helper("_storm", {
        "server": SRV_ADDR, "n": opts.crash_n, "window": opts.storm_window,
        "timeout": 1.0, "max_time": opts.crash_kill_after + 15, "idle_stop": 2.0,
        "mac_prefix": CRASH_MAC.hex(), "announce": True,
    })
    try:
        # Wait until the client has built its packets and starts sending.
        fd, seen, deadline = p.stderr.fileno(), b"", time.monotonic() + 60
        while b"go\n" not in seen and time.monotonic() < deadline and p.poll() is None:
            if select.select([fd], [], [], 0.5)[0]:
                chunk = os.read(fd, 256)
                if not chunk:
                    break
                seen += chunk
        time.sleep(opts.crash_kill_after)
        alive = server.proc.poll() is None
        server.kill()
        r = bench.finish_helper(p, "_storm", opts.crash_kill_after + 60)
    except BaseException:
        if p.poll() is None:
            p.kill()
            p.wait()
        bench.reap(p)
        raise
    pairs = r.pop("done")
    c = {"acked": len(pairs), "alive_at_kill": alive, "stop": r["stop"],
         "not_started": r["not_started"], "n": opts.crash_n,
         "mid_storm": alive and len(pairs) < opts.crash_n}
    # Restart on the same database (untouched since the kill): every ACKed
    # lease must be in it, and each client must be offered its address.
    server.start(fresh=False)
    try:
        missing, wrong, err = check_leases(server, pairs, CRASH_MAC)
        c.update({"db_missing": missing, "db_wrong": wrong, "db_error": err})
        if pairs:
            offered = {}
            todo = sorted(i for i, _ in pairs)
            for attempt in range(4):  # a DISCOVER can be lost; ask again
                rr = bench.helper("_storm", {
                    "server": SRV_ADDR, "indices": todo, "n": len(todo), "window": 64,
                    "timeout": 1.0, "max_time": 60, "mac_prefix": CRASH_MAC.hex(),
                    "discover_only": True,
                }, timeout=120)
                offered.update({i: ip for i, ip in rr["done"]})
                todo = [i for i in todo if i not in offered]
                if not todo:
                    break
            c["reoffer_checked"] = len(pairs)
            c["reoffer_same"] = sum(1 for i, ip in pairs if offered.get(i) == ip)
            c["reoffer_none"] = sum(1 for i, _ in pairs if i not in offered)
    finally:
        server.stop()
    res["crash"] = c
    log("  kidou crash test: SIGKILL after %.1f s of storm (%s); %d ACKs received before the kill; "
        "in the database: missing %s, wrong owner %s%s; after restart: re-offered the same "
        "address to %s of %s (no answer for %s)" % (
            opts.crash_kill_after, "mid-storm" if c["mid_storm"] else "STORM HAD ENDED",
            c["acked"], missing, wrong, " (%s)" % err if err else "",
            c.get("reoffer_same"), c.get("reoffer_checked"), c.get("reoffer_none")))


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------

def fmt_ms(v):
    if v is None:
        return "-"
    return "%.3f" % v if v < 1 else "%.2f" % v if v < 10 else "%.1f" % v


def ratio(a, b):
    if a is None or b is None or not b:
        return "-"
    return "%.2fx" % (a / b)


def limit_text(r):
    """Why the rate search stopped, with the CPU figures of that step."""
    steps = {st["rate"]: st for st in r.get("rate_steps", [])}
    c = r.get("ceiling")
    if c:
        return "perfdhcp ceiling: asked %d/s, sent %.0f/s, gen %.0f%%" % (
            c["rate"], c["sent_rate"], 100 * c["gen_cpu"])
    ff = r.get("first_fail")
    if not ff:
        return "top of the ladder"
    st = steps.get(ff)
    if not st:
        return ">=1%% drops at %d/s" % ff
    cpu = "srv %s%s gen %.0f%% box %.0f%%%s" % (
        "%.0f%%" % (100 * st["srv_cpu"] / st["period"]) if st["srv_cpu"] is not None else "?",
        "/wait %.0f%%" % (100 * st["srv_wait"] / st["period"]) if st.get("srv_wait") is not None
        else "", 100 * st["gen_cpu"] / st["period"], 100 * st["machine_busy"],
        " iowait %.0f%%" % (100 * st["cpu0_iowait"]) if st.get("cpu0_iowait", 0) >= 0.05 else "")
    return "%.0f%% drops at %d/s [%s]" % (100 * st["drop"], ff, cpu)


def k_warn(results):
    return bool(results.get("kidou", {}).get("log_warnings"))


def report(results, opts, meta):
    names = [n for n in ("kidou",) + PEER_ORDER if n in results]
    rows = []
    hdr = ["server", "max rate <1% drop", "limit (first failing step)", "D->O med/p99 ms",
           "R->A med/p99 ms", "storm ACK/s", "storm note", "ACKed lost"]
    for n in names:
        r = results[n]
        if "error" in r:
            rows.append([n, "error: " + r["error"][:70], "", "", "", "", "", ""])
            continue
        mr = r.get("max_rate")
        rate = "-" if mr is None else ("%.0f/s" % mr if mr else "<%d/s" % opts.ladder[0])
        limit = limit_text(r) if mr is not None else ""
        L = r.get("lat", {})
        s = r.get("storm")
        if s:
            sr = "%.0f" % s["per_s"]
            notes = []
            if len(s.get("runs", [])) > 1:
                notes.append("median %.0f" % s["median_per_s"])
            if s["client_saturated"]:
                notes.append("CLIENT CPU-BOUND")
            if s.get("srv_cpu_frac") is not None:
                notes.append("srv %.0f%%%s" % (100 * s["srv_cpu_frac"], "/wait %.0f%%" % (
                    100 * s["srv_wait_frac"]) if s.get("srv_wait_frac") is not None else ""))
            notes.append("box %.0f%%" % (100 * s["machine_busy"]))
            if s.get("stop") == "time-limit":
                notes.append("hit %d s limit" % opts.storm_time)
            if s["all_lost"]:
                notes.append("lost %d" % s["all_lost"])
            if s["all_dups"]:
                notes.append("DUP ADDR %d" % s["all_dups"])
            sn = ", ".join(notes)
            if s.get("store_error"):
                lost = "?"
            else:
                lost = "%d/%d" % (s["all_store_missing"] + s["all_store_wrong"], s["all_acks"])
        else:
            sr, sn, lost = "-", "", "-"
        rows.append([n, rate, limit,
                     "%s / %s" % (fmt_ms(L.get("do_med")), fmt_ms(L.get("do_p99"))),
                     "%s / %s" % (fmt_ms(L.get("ra_med")), fmt_ms(L.get("ra_p99"))),
                     sr, sn, lost])
    widths = [max(len(str(x[i])) for x in rows + [hdr]) for i in range(len(hdr))]
    out = []
    out.append("")
    out.append("DHCP benchmark (%s): %s" % ("quick" if opts.quick else "full", meta["when"]))
    out.append("machine: %s, %d cores; load average at start %s, at end %s"
               % (meta["kernel"], os.cpu_count() or 0, meta["load0"], meta["load1"]))
    bg = meta.get("background") or []
    if bg:
        out.append("machine busy with other work before each phase: %s%s" % (
            ", ".join("%s %.0f%%" % (t.split(" (")[0], 100 * b) for t, b in bg),
            "  WARNING: other load on the machine disturbs these figures"
            if max(b for _, b in bg) > 0.15 else ""))
    for n in names:
        out.append("  %-8s %s" % (n, meta["versions"].get(n, "?")))
    if k_warn(results):
        out.append("  kidou logged %d warning/error lines, e.g. %s"
                   % (results["kidou"]["log_warning_count"], results["kidou"]["log_warnings"][0]))
    out.append("  perfdhcp %s -g single, relay mode (giaddr %s), -R %d clients, %d s per rate step, "
               "latency at %d/s for %d s" % (meta["versions"].get("perfdhcp", "?"), CLI_ADDR,
                                             opts.clients, opts.period, opts.lat_rate,
                                             opts.lat_period))
    out.append("  CPU placement: %s" % {
        "split": "servers on CPU 0, perfdhcp and the storm client on CPU 1 (kea-mt's threads "
                 "share CPU 0)",
        "none": "left to the scheduler", "same": "everything on CPU 0"}[opts.pin])
    out.append("  storm: %d distinct clients, full DORA, %d exchanges outstanding, best of "
               "%d run(s), at most %d s each" % (opts.storm_n, opts.storm_window,
                                                  opts.storm_runs, opts.storm_time))
    out.append("")
    out.append("  ".join(h.ljust(widths[i]) for i, h in enumerate(hdr)).rstrip())
    out.append("  ".join("-" * w for w in widths))
    for row in rows:
        out.append("  ".join(str(c).ljust(widths[i]) for i, c in enumerate(row)).rstrip())
    out.append("")
    out.append("srv/wait/gen/box: CPU of the server, time it was runnable but waiting for a core, "
               "CPU of perfdhcp (one core = 100%), busy share of the whole machine (all cores = "
               "100%); iowait: share of CPU 0 idle while waiting for the disk (shown from 5%). "
               "A server that waits for a core on a busy box was limited by the two shared "
               "cores, not by its own code. 'ACKed lost': ACKed (MAC, address) pairs of the "
               "storms missing from the server's lease store after it stopped.")
    k = results.get("kidou")
    if k and "error" not in k:
        out.append("")
        out.append("ratios kidou/peer (rate and storm: >1 means kidou is faster; "
                   "latency: <1 means kidou answers sooner)")
        for peer in PEER_ORDER:
            p = results.get(peer)
            if not p or "error" in p:
                continue
            kl, pl = k.get("lat", {}), p.get("lat", {})
            ks, ps = k.get("storm"), p.get("storm")
            rate_note = ""
            if k.get("gen_limited") and p.get("gen_limited"):
                rate_note = " (both at the perfdhcp ceiling)"
            elif k.get("gen_limited"):
                rate_note = " (kidou's figure is a floor: perfdhcp ceiling)"
            out.append("  vs %-8s rate %s%s, D->O med %s p99 %s, R->A med %s p99 %s, storm %s" % (
                peer, ratio(k.get("max_rate"), p.get("max_rate")), rate_note,
                ratio(kl.get("do_med"), pl.get("do_med")), ratio(kl.get("do_p99"), pl.get("do_p99")),
                ratio(kl.get("ra_med"), pl.get("ra_med")), ratio(kl.get("ra_p99"), pl.get("ra_p99")),
                ratio(ks and ks["per_s"], ps and ps["per_s"])))
        out.append("")
        checks = []
        if "perfdhcp_db_checked" in k:
            checks.append("addresses perfdhcp got ACKed that are not in kidou's database: %d of %d"
                          % (k["perfdhcp_db_missing"], k["perfdhcp_db_checked"]))
        s = k.get("storm")
        if s:
            checks.append("storm ACKs not in the database with that MAC: %s of %d"
                          % (s["all_store_missing"] + s["all_store_wrong"]
                             if not s.get("store_error") else "?", s["all_acks"]))
        c = k.get("crash")
        if c:
            checks.append("SIGKILL %s: %d ACKs before the kill, %s missing from the "
                          "database after restart, %s of them re-offered the same address"
                          % ("mid-storm" if c["mid_storm"] else "(after the storm had ended!)",
                             c["acked"], c["db_missing"] if c["db_missing"] is not None else "?",
                             c.get("reoffer_same", "?")))
        if k.get("crash_error"):
            checks.append("the SIGKILL test could not run: %s" % k["crash_error"].splitlines()[0])
        for line in checks:
            out.append("kidou lease durability: " + line)
        ok = (k.get("perfdhcp_db_missing", 0) == 0
              and (not s or (not s.get("store_error") and s["all_store_missing"] == 0
                             and s["all_store_wrong"] == 0))
              and (not c or (c["db_missing"] == 0 and c["db_wrong"] == 0
                             and c.get("reoffer_same") == c.get("reoffer_checked")))
              and not k.get("crash_error"))
        out.append("kidou lease durability: %s" % ("OK, no acknowledged lease lost" if ok
                                                    else "FAILED: acknowledged leases lost"))
        keas = [(n, results[n]) for n in ("kea", "kea-mt")
                if n in results and "error" not in results[n]]
        if keas and s:
            best_storm = max(keas, key=lambda x: x[1].get("storm", {}).get("per_s", 0))
            best_rate = max(keas, key=lambda x: x[1].get("max_rate") or 0)
            bs = best_storm[1].get("storm", {}).get("per_s", 0)
            br = best_rate[1].get("max_rate") or 0
            # perfdhcp rates compare by ladder step: 3990/s and 4000/s are one step.
            rate_ok = (k.get("max_rate_step") or 0) >= (best_rate[1].get("max_rate_step") or 0)
            met = s["per_s"] > bs and rate_ok and ok
            out.append("goal (more leases/s than Kea with persistence, none lost): storm %.0f vs "
                       "%.0f ACK/s (%s), perfdhcp %.0f vs %.0f/s (%s)%s -> %s"
                       % (s["per_s"], bs, best_storm[0], k.get("max_rate") or 0, br, best_rate[0],
                          " [kidou at the perfdhcp ceiling]" if k.get("gen_limited") else "",
                          "met" if met else "NOT met"))
    return "\n".join(out)


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------

def tool_version(argv):
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=10)
        return r.stdout.strip().splitlines()[0] if r.stdout.strip() else "?"
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short periods for development")
    ap.add_argument("--servers", default="kidou,kea,kea-mt,dnsmasq",
                    help="comma-separated subset of kidou,kea,kea-mt,dnsmasq")
    ap.add_argument("--kidou", default=os.path.join(REPO, "build", "kidou"))
    ap.add_argument("--kea-threads", type=int, default=2,
                    help="thread-pool-size of the kea-mt variant (kea runs Kea 2.2's default, "
                    "single-threaded)")
    ap.add_argument("--storm-window", type=int, default=128,
                    help="exchanges the storm client keeps outstanding")
    ap.add_argument("--pin", choices=("split", "none", "same"), default="split",
                    help="CPU placement: split = server on CPU 0, perfdhcp and the storm client "
                    "on CPU 1 (default); none = the scheduler decides; same = all on CPU 0")
    ap.add_argument("--skip", default="", help="comma-separated phases to skip: rate,latency,storm,crash")
    ap.add_argument("--json", help="also write all results to this file")
    ap.add_argument("--keep-tmp", action="store_true", help="keep databases and logs (/var/tmp/kbd-*)")
    opts = ap.parse_args()
    if opts.quick:
        opts.ladder = [250, 1000, 4000, 8000, 12000, 16000]
        opts.period, opts.bisect, opts.retry_fail, opts.disturbed_retries = 2, 0, 0, 1
        opts.lat_rate, opts.lat_period = 200, 3
        opts.storm_n, opts.storm_time, opts.storm_runs = 8000, 10, 1
        opts.crash_n, opts.crash_kill_after = 60000, 0.5
    else:
        opts.ladder = [100, 250, 500, 1000, 2000, 3000, 4000, 5000, 6000, 8000, 10000,
                       12000, 15000, 20000]
        opts.period, opts.bisect, opts.retry_fail, opts.disturbed_retries = 5, 2, 1, 3
        opts.lat_rate, opts.lat_period = 200, 10
        opts.storm_n, opts.storm_time, opts.storm_runs = 50000, 20, 5
        opts.crash_n, opts.crash_kill_after = 60000, 1.0
    opts.clients = 60000  # below the pool size (65,023), so the pool never runs dry
    skip = set(x for x in opts.skip.split(",") if x)

    if os.geteuid() != 0:
        sys.exit("dhcp_bench: needs root (network namespaces, port 67)")
    for tool in ("ip", PERFDHCP):
        if not shutil.which(tool):
            sys.exit("dhcp_bench: %s not found (apt-get install kea-admin iproute2)" % tool)
    wanted = [s.strip() for s in opts.servers.split(",") if s.strip()]
    classes = {"kidou": (Kidou, opts.kidou), "kea": (Kea, KEA), "kea-mt": (KeaMT, KEA),
               "dnsmasq": (Dnsmasq, DNSMASQ)}
    for w in wanted:
        if w not in classes:
            sys.exit("dhcp_bench: unknown server %r" % w)

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    bench = Bench(keep_tmp=opts.keep_tmp, pin=opts.pin)
    results = {}
    meta = {"when": time.strftime("%Y-%m-%d %H:%M:%S"),
            "kernel": "Linux " + platform.release(),
            "load0": "%.2f" % os.getloadavg()[0], "background": [], "versions": {
                "perfdhcp": tool_version([PERFDHCP, "-v"])}}
    t_start = time.monotonic()
    try:
        bench.setup()
        servers = []
        for name in wanted:
            cls, binary = classes[name]
            if not os.path.exists(binary):
                log("skipping %s: %s not installed" % (name, binary))
                results[name] = {"error": "%s not installed" % binary}
                continue
            srv = cls(bench, opts)
            meta["versions"][name] = srv.version()
            results[name] = {}
            servers.append(srv)
            log("%-8s %s" % (name, meta["versions"][name]))
        live = lambda: [x for x in servers if "error" not in results[x.name]]  # noqa: E731

        def phase(title):
            bg = background_busy()
            meta["background"].append([title, bg])
            log("== %s; machine busy with other work: %.0f%%" % (title, 100 * bg))

        if "rate" not in skip:
            phase("rate search (the servers take turns)")
            rate_search_all(bench, live(), opts, results)
        if "latency" not in skip:
            phase("latency at %d/s" % opts.lat_rate)
            for srv in live():
                try:
                    latency(bench, srv, opts, results[srv.name])
                except Interrupted:
                    raise
                except Exception as e:  # noqa: BLE001
                    fail(srv, results[srv.name], e)
        if "storm" not in skip:
            phase("storm (the servers take turns)")
            storm_all(bench, live(), opts, results)
        kd = [x for x in live() if x.name == "kidou"]
        if kd and "crash" not in skip:
            phase("kidou crash test")
            try:
                crash_test(bench, kd[0], opts, results["kidou"])
            except Interrupted:
                raise
            except Exception as e:  # noqa: BLE001
                log("  crash test FAILED: %s" % e)
                results["kidou"]["crash_error"] = str(e)
                kd[0].stop()
        if kd:
            warn = [l for l in _all_logs(kd[0]) if "level=warn" in l or "level=error" in l]
            if warn:
                results["kidou"]["log_warnings"] = warn[:20]
                results["kidou"]["log_warning_count"] = len(warn)
                log("  kidou logged %d warning/error lines, e.g.: %s" % (len(warn), warn[0]))
        meta["load1"] = "%.2f" % os.getloadavg()[0]
        text = report(results, opts, meta)
        print(text, flush=True)
        log("(took %.0f s)" % (time.monotonic() - t_start))
        if opts.json:
            with open(opts.json, "w") as f:
                json.dump({"meta": meta, "results": results}, f, indent=1, default=str)
    except Interrupted as e:
        log("interrupted (%s): cleaning up" % e)
        return 130
    finally:
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        bench.cleanup()
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_DFL)
    return 0


def _all_logs(srv):
    out = []
    if not srv.b.tmp:
        return out
    for d in sorted(os.listdir(srv.b.tmp)):
        if d.rsplit("-", 1)[0] != srv.name:
            continue
        for f in sorted(os.listdir(os.path.join(srv.b.tmp, d))):
            if f.startswith("server-") and f.endswith(".log"):
                with open(os.path.join(srv.b.tmp, d, f), "rb") as fh:
                    out.extend(fh.read().decode(errors="replace").splitlines())
    return out


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] in ("_probe", "_storm"):
        helper_main(sys.argv[1], sys.argv[2])
    else:
        sys.exit(main())
