#!/usr/bin/python3
"""HTTP benchmark: kidou against nginx (Debian) serving the same files on loopback.

Each server runs in a network namespace of its own that this script creates
(hbench-kidou, hbench-nginx1, hbench-nginxa: only `lo`, server on
127.0.0.1:8080) and always deletes again, also on an error, Ctrl-C or
SIGTERM. Clients run inside the same namespace, so no packet leaves the
machine. Servers:
  * kidou --http-listen 127.0.0.1:8080 --log-level warn
    --http-max-connections-per-address 1000 (all clients share 127.0.0.1; warn: at info kidou
    writes one access-log line per request);
  * nginx with a minimal config written to the temporary directory
    (daemon off; sendfile on; tcp_nopush on; access_log off), once with
    worker_processes 1 ("nginx-1w") and once with worker_processes auto
    ("nginx-auto", 2 workers on this 2-core machine).

Measured:
  1. single stream: one download of a 1 GiB file (512 MiB with --quick) with
     `curl -o /dev/null`, MiB/s from curl's own timing, median of 5;
  2. concurrency: 50 curl processes fetch a 64 MiB file at once; wall time
     from the first start to the last finish and aggregate MiB/s;
  3. small files: `wrk -c 50 -t 2 -d 10s` on a 4 KiB file, requests/s;
plus a keep-alive probe (200 sequential requests and 10 pipelined requests on
one connection, with a byte-for-byte check of the body).
For each test it records the CPU time of the server processes
(/proc/PID/stat utime+stime), of the clients, and how busy the whole machine
was. Ratios are kidou/nginx.

Usage (as root, Python stdlib only; needs nginx, wrk, curl, ip):
  /usr/bin/python3 bench/http_bench.py           # ~2-3 minutes
  /usr/bin/python3 bench/http_bench.py --quick   # 512 MiB file, 1 run of 2. and 3.
See bench/README.md for how to read the output.
"""

import argparse
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

MiB = 1 << 20
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PYTHON = sys.executable or "/usr/bin/python3"
PORT = 8080
TCK = os.sysconf("SC_CLK_TCK")

# name -> (netns, label in the table)
SERVERS = {
    "kidou": ("hbench-kidou", "kidou"),
    "nginx-1w": ("hbench-nginx1", "nginx 1 worker"),
    "nginx-auto": ("hbench-nginxa", "nginx auto"),
}
PEERS = ("nginx-1w", "nginx-auto")
BIG, MID, SMALL = "big.bin", "mid.bin", "small.bin"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class Interrupted(Exception):
    pass


def _on_signal(signum, frame):
    raise Interrupted(signal.Signals(signum).name)


# --------------------------------------------------------------------------
# Client side: runs inside a namespace as `http_bench.py _helper MODE JSON`.
# --------------------------------------------------------------------------

CURL_FMT = "%{http_code} %{size_download} %{time_total} %{time_starttransfer}\\n"


def helper_swarm(job):
    """Start job['clients'] curl processes at once, wait for all (bounded by a
    deadline), report per-client results, the wall time and client CPU."""
    url, n, deadline_s = job["url"], job["clients"], job["deadline"]
    procs = []
    t0 = time.monotonic()
    for i in range(n):
        procs.append(subprocess.Popen(
            ["curl", "-s", "-o", "/dev/null", "--max-time", str(int(deadline_s)),
             "-w", CURL_FMT, url],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    t_started = time.monotonic() - t0
    results = []
    last_end = t0
    for p in procs:
        try:
            out, err = p.communicate(timeout=max(0.1, t0 + deadline_s + 5 - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        last_end = max(last_end, time.monotonic())
        r = {"rc": p.returncode}
        f = out.decode(errors="replace").split()
        if len(f) == 4:
            r.update(code=int(f[0]), size=int(float(f[1])), time=float(f[2]), ttfb=float(f[3]))
        if p.returncode != 0:
            r["err"] = err.decode(errors="replace").strip()[-200:] or "curl exit %d" % p.returncode
        results.append(r)
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    # The wall time ends at the last curl's exit as seen here; curl's own
    # time_total (per client) is reported too.
    return {"wall": last_end - t0, "spawn": t_started, "clients": results,
            "client_cpu": ru.ru_utime + ru.ru_stime}


def _read_response(sock, buf, head_only=False):
    """Read one HTTP/1.x response from sock (buf: bytes already read).
    Returns (status, headers dict, body, rest of buf)."""
    while b"\r\n\r\n" not in buf:
        d = sock.recv(65536)
        if not d:
            raise ConnectionError("closed before headers (%d bytes)" % len(buf))
        buf += d
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = 0 if head_only else int(headers.get("content-length", "0"))
    while len(buf) < n:
        d = sock.recv(65536)
        if not d:
            raise ConnectionError("closed in body (%d of %d bytes)" % (len(buf), n))
        buf += d
    return status, headers, buf[:n], buf[n:]


def _closed_by_peer(sock, wait):
    sock.settimeout(wait)
    try:
        return sock.recv(1) == b""
    except socket.timeout:
        return False
    except OSError:
        return True


def helper_keepalive(job):
    """Keep-alive behaviour on one connection: N sequential GETs (reconnecting
    when the server closes), then P pipelined GETs, then an HTTP/1.0 request
    without keep-alive, which the server should answer and then close."""
    host, port, path = "127.0.0.1", job["port"], job["path"]
    want = open(job["file"], "rb").read()
    req = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: hbench\r\n\r\n"
           % (path, host, port)).encode()
    out = {"seq": job["seq"], "seq_ok": 0, "connections": 0, "bad": [], "headers": {}}
    deadline = time.monotonic() + job["deadline"]
    sock, buf = None, b""
    lat = []
    t0 = time.monotonic()
    for i in range(job["seq"]):
        if time.monotonic() > deadline:
            out["bad"].append("deadline after %d requests" % i)
            break
        try:
            if sock is None:
                sock = socket.create_connection((host, port), timeout=5)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                out["connections"] += 1
                buf = b""
            t = time.monotonic()
            sock.sendall(req)
            st, hd, body, buf = _read_response(sock, buf)
            lat.append(time.monotonic() - t)
            if i == 0:
                out["headers"] = hd
            if st != 200 or body != want:
                out["bad"].append("request %d: status %d, %d bytes%s" % (
                    i, st, len(body), "" if body == want else ", body differs"))
            else:
                out["seq_ok"] += 1
            if hd.get("connection", "").lower() == "close":
                sock.close()
                sock = None
        except (OSError, ConnectionError, ValueError, IndexError) as e:
            out["bad"].append("request %d: %s" % (i, e))
            if sock:
                sock.close()
            sock = None
    out["seq_time"] = time.monotonic() - t0
    out["lat_p50_ms"] = statistics.median(lat) * 1e3 if lat else None
    out["lat_max_ms"] = max(lat) * 1e3 if lat else None
    # Pipelining: all requests in one write, then read the answers.
    out["pipe"], out["pipe_ok"] = job["pipe"], 0
    try:
        if sock is None:
            sock = socket.create_connection((host, port), timeout=5)
            out["connections"] += 1
            buf = b""
        sock.sendall(req * job["pipe"])
        for i in range(job["pipe"]):
            st, hd, body, buf = _read_response(sock, buf)
            if st == 200 and body == want:
                out["pipe_ok"] += 1
    except (OSError, ConnectionError, ValueError, IndexError) as e:
        out["pipe_err"] = str(e)
    if sock:
        sock.close()
    # HTTP/1.0 without keep-alive: answered, then closed by the server.
    try:
        s = socket.create_connection((host, port), timeout=5)
        s.sendall(("GET %s HTTP/1.0\r\n\r\n" % path).encode())
        st, hd, body, rest = _read_response(s, b"")
        out["http10"] = {"status": st, "body_ok": body == want,
                         "closed": _closed_by_peer(s, 2.0)}
        s.close()
    except (OSError, ConnectionError, ValueError, IndexError) as e:
        out["http10"] = {"error": str(e)}
    # Idle connection: still open after 1 s (kidou's idle timeout is 30 s)?
    try:
        s = socket.create_connection((host, port), timeout=5)
        s.sendall(req)
        st, hd, body, rest = _read_response(s, b"")
        closed = _closed_by_peer(s, 1.0)
        if not closed:
            s.settimeout(5)
            s.sendall(req)
            st2, _, body2, _ = _read_response(s, rest)
            out["idle_reuse"] = st2 == 200 and body2 == want
        else:
            out["idle_reuse"] = False
        s.close()
    except (OSError, ConnectionError, ValueError, IndexError) as e:
        out["idle_reuse"] = "error: %s" % e
    return out


def helper_ready(job):
    """Wait until something accepts connections on the port (bounded)."""
    deadline = time.monotonic() + job["deadline"]
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", job["port"]), timeout=1).close()
            return {"ok": True}
        except OSError:
            time.sleep(0.05)
    return {"ok": False}


def helper_main(mode, payload):
    job = json.loads(payload)
    fn = {"swarm": helper_swarm, "keepalive": helper_keepalive, "ready": helper_ready}[mode]
    json.dump(fn(job), sys.stdout)
    return 0


# --------------------------------------------------------------------------
# Measurement side.
# --------------------------------------------------------------------------

def proc_ticks(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except (OSError, IndexError, ValueError):
        return 0


def box_ticks():
    """(busy, total) ticks of all CPUs from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


def machine_busy(seconds=1.0):
    b0, t0 = box_ticks()
    time.sleep(seconds)
    b1, t1 = box_ticks()
    return (b1 - b0) / max(1, t1 - t0)


class LoadMonitor(threading.Thread):
    """Samples, every half second, the CPU time of every process that is not
    ours (not this script, not in one of our namespaces, not a kernel thread):
    other work on the same two cores distorts every number, and this says how
    much of it there was during each measurement."""

    PERIOD = 0.5

    def __init__(self):
        super().__init__(daemon=True)
        self.own_ns = set()  # inodes of our namespaces; the main thread adds to it
        self.stop_ev = threading.Event()
        self.lock = threading.Lock()
        self.seen = {}       # pid -> (starttime, ticks)
        self.timeline = []   # (monotonic time, foreign CPU seconds since the last sample)
        self.last_boot_ticks = None
        self.last_t = None

    def sample(self):
        me = os.getpid()
        with open("/proc/uptime") as f:
            now_ticks = float(f.read().split()[0]) * TCK
        seen, foreign = {}, 0
        for d in os.listdir("/proc"):
            if not d.isdigit() or int(d) == me:
                continue
            pid = int(d)
            try:
                with open("/proc/%d/stat" % pid) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if os.stat("/proc/%d/ns/net" % pid).st_ino in self.own_ns:
                    continue
            except (OSError, IndexError):
                continue
            if int(fields[6]) & 0x00200000:  # PF_KTHREAD: softirq work is ours too
                continue
            start, cpu = int(fields[19]), int(fields[11]) + int(fields[12])
            seen[pid] = (start, cpu)
            prev = self.seen.get(pid)
            if prev and prev[0] == start:
                foreign += cpu - prev[1]
            elif self.last_boot_ticks is not None and start >= self.last_boot_ticks:
                foreign += cpu  # born since the last sample
        now = time.monotonic()
        with self.lock:
            if self.last_boot_ticks is not None:
                self.timeline.append((self.last_t, now, foreign / TCK))
            self.seen, self.last_boot_ticks, self.last_t = seen, now_ticks, now

    def run(self):
        while not self.stop_ev.is_set():
            try:
                self.sample()
            except Exception:  # never take the benchmark down
                pass
            self.stop_ev.wait(self.PERIOD)

    def stop(self):
        self.stop_ev.set()
        self.join(timeout=5)

    def foreign(self, t0, t1):
        """Share of all CPUs that other processes used between t0 and t1: each
        sample's CPU time is spread evenly over the interval it covers."""
        with self.lock:
            tl = list(self.timeline)
        secs = 0.0
        for a, b, c in tl:
            overlap = min(b, t1) - max(a, t0)
            if overlap > 0 and b > a:
                secs += c * overlap / (b - a)
        return secs / (max(t1 - t0, 1e-3) * (os.cpu_count() or 1))


class Meter:
    """CPU of the server processes, of the whole machine and of other
    people's processes over a window."""

    monitor = None

    def __init__(self, pids):
        self.pids = pids
        self.srv0 = sum(proc_ticks(p) for p in pids)
        self.box0 = box_ticks()
        self.t0 = time.monotonic()

    def stop(self):
        t1 = time.monotonic()
        srv = (sum(proc_ticks(p) for p in self.pids) - self.srv0) / TCK
        b1 = box_ticks()
        box = (b1[0] - self.box0[0]) / max(1, b1[1] - self.box0[1])
        r = {"wall": t1 - self.t0, "srv_cpu": srv, "box": box, "t0": self.t0, "t1": t1}
        return r


class Bench:
    def __init__(self, args):
        self.args = args
        self.tmp = None
        self.root = None
        self.files = {}
        self.netns = []
        self.servers = {}   # name -> dict(proc, ns, log, pids)
        self.helpers = []
        self.t_start = time.monotonic()
        self.skipped = []
        self.monitor = LoadMonitor()
        if args.pin == "split":
            self.srv_pin, self.cli_pin = ["taskset", "-c", "0"], ["taskset", "-c", "1"]
        else:
            self.srv_pin, self.cli_pin = [], []

    # --- plumbing ---

    def run(self, cmd, timeout=30, check=True):
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError("%s failed: %s" % (" ".join(cmd),
                                                  r.stderr.decode(errors="replace").strip()))
        return r

    def remaining(self):
        return self.args.budget - (time.monotonic() - self.t_start)

    def make_files(self):
        self.tmp = tempfile.mkdtemp(prefix="kidou-hbench-")
        os.chmod(self.tmp, 0o755)  # nginx workers run as nobody
        self.root = os.path.join(self.tmp, "root")
        os.mkdir(self.root)
        os.chmod(self.root, 0o755)
        block = os.urandom(16 * MiB)  # repeated: nothing here compresses
        sizes = {BIG: self.args.big_mib * MiB, MID: self.args.swarm_mib * MiB,
                 SMALL: self.args.small_kib * 1024}
        for name, size in sizes.items():
            path = os.path.join(self.root, name)
            with open(path, "wb") as f:
                if size < len(block):
                    f.write(os.urandom(size))
                else:
                    left = size
                    while left > 0:
                        f.write(block[:min(left, len(block))])
                        left -= min(left, len(block))
            os.chmod(path, 0o644)
            self.files[name] = size
        # Read everything once so that every server finds it in the page cache.
        for name in sizes:
            with open(os.path.join(self.root, name), "rb") as f:
                while f.read(8 * MiB):
                    pass

    def create_netns(self, ns):
        existing = self.run(["ip", "netns", "list"]).stdout.decode().split()
        if ns in existing:
            pids = self.run(["ip", "netns", "pids", ns], check=False).stdout.split()
            if pids:
                raise RuntimeError("network namespace %s exists and has processes %s: "
                                   "another benchmark running?" % (ns, b" ".join(pids).decode()))
            log("removing stale network namespace %s" % ns)
            self.run(["ip", "netns", "del", ns])
        self.run(["ip", "netns", "add", ns])
        self.netns.append(ns)
        try:
            self.monitor.own_ns.add(os.stat("/run/netns/" + ns).st_ino)
        except OSError:
            pass
        self.run(["ip", "-n", ns, "link", "set", "lo", "up"])

    def nginx_conf(self, name, workers):
        d = os.path.join(self.tmp, name)
        os.makedirs(d, exist_ok=True)
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write("""# written by bench/http_bench.py
daemon off;
master_process on;
worker_processes %(workers)s;
pid %(d)s/nginx.pid;
error_log %(d)s/error.log warn;
events {
    worker_connections 1024;
}
http {
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    tcp_nopush on;
    client_body_temp_path %(d)s/body;
    proxy_temp_path %(d)s/proxy;
    fastcgi_temp_path %(d)s/fastcgi;
    uwsgi_temp_path %(d)s/uwsgi;
    scgi_temp_path %(d)s/scgi;
    server {
        listen 127.0.0.1:%(port)d;
        root %(root)s;
    }
}
""" % {"workers": workers, "d": d, "port": PORT, "root": self.root})
        return d, conf

    def server_cmd(self, name):
        if name == "kidou":
            return [self.args.kidou, "--tftp-root", self.root, "--tftp-listen", "127.0.0.1:0",
                    "--http-listen", "127.0.0.1:%d" % PORT, "--http-root", self.root,
                    # every client is 127.0.0.1: lift the per-address cap
                    # (16) that would answer most of the 50 with 503
                    "--http-max-connections-per-address", "1000",
                    "--log-level", "warn"]
        d, conf = self.nginx_conf(name, "1" if name == "nginx-1w" else "auto")
        base = [self.args.nginx, "-p", d + "/", "-c", conf, "-e", os.path.join(d, "error.log")]
        r = self.run(base + ["-t"], check=False)
        if r.returncode != 0:
            raise RuntimeError("nginx -t for %s: %s" % (name, r.stderr.decode(errors="replace")))
        return base

    def start_server(self, name):
        ns = SERVERS[name][0]
        self.create_netns(ns)
        logpath = os.path.join(self.tmp, name + ".stderr")
        with open(logpath, "wb") as lf:
            p = subprocess.Popen(self.srv_pin + ["ip", "netns", "exec", ns] + self.server_cmd(name),
                                 stdin=subprocess.DEVNULL, stdout=lf, stderr=lf,
                                 start_new_session=True)
        self.servers[name] = {"proc": p, "ns": ns, "log": logpath, "pids": [p.pid]}
        if name == "kidou":
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and p.poll() is None:
                if "event=ready" in self.log_text(name):
                    break
                time.sleep(0.05)
        r = self.helper(ns, "ready", {"port": PORT, "deadline": 10}, timeout=20)
        if p.poll() is not None or not r.get("ok"):
            raise RuntimeError("%s did not start (exit %s); its log:\n%s" % (
                name, p.returncode, self.log_text(name)[-2000:]))
        if name != "kidou":
            # Master and workers: every process in the namespace right now.
            deadline = time.monotonic() + 5
            want = 2 if name == "nginx-1w" else 1 + os.cpu_count()
            while time.monotonic() < deadline:
                pids = [int(x) for x in
                        self.run(["ip", "netns", "pids", ns], check=False).stdout.split()]
                if len(pids) >= want:
                    break
                time.sleep(0.05)
            self.servers[name]["pids"] = pids
        # Correctness: the small file, byte for byte, and the big file's length.
        with open(os.path.join(self.root, SMALL), "rb") as f:
            want_small = f.read()
        r = self.run(["ip", "netns", "exec", ns, "curl", "-s", "--max-time", "10",
                      "http://127.0.0.1:%d/%s" % (PORT, SMALL)], check=False)
        if r.returncode != 0 or r.stdout != want_small:
            raise RuntimeError("%s served %s wrong (curl exit %d, %d bytes)" % (
                name, SMALL, r.returncode, len(r.stdout)))
        r = self.run(["ip", "netns", "exec", ns, "curl", "-sI", "--max-time", "10",
                      "http://127.0.0.1:%d/%s" % (PORT, BIG)], check=False)
        m = re.search(rb"(?im)^content-length:\s*(\d+)", r.stdout)
        if not m or int(m.group(1)) != self.files[BIG]:
            raise RuntimeError("%s: HEAD %s has no right Content-Length: %r" % (
                name, BIG, r.stdout[:300]))

    def log_text(self, name):
        try:
            with open(self.servers[name]["log"], "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def server_alive(self, name):
        return self.servers[name]["proc"].poll() is None

    def helper(self, ns, mode, payload, timeout):
        cmd = self.cli_pin + ["ip", "netns", "exec", ns, PYTHON, os.path.abspath(__file__),
                              "_helper", mode, json.dumps(payload)]
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, start_new_session=True)
        self.helpers.append(p)
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.communicate()
            raise RuntimeError("client helper in %s ran over %d s" % (ns, timeout))
        finally:
            self.helpers.remove(p)
        if p.returncode != 0:
            raise RuntimeError("client helper failed: %s" % err.decode(errors="replace")[-2000:])
        return json.loads(out)

    def client(self, ns, cmd, timeout):
        """Run a client command in ns; returns (rc, stdout, stderr, client CPU s)."""
        p = subprocess.Popen(self.cli_pin + ["ip", "netns", "exec", ns] + cmd,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, start_new_session=True)
        self.helpers.append(p)
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, err = p.communicate()
            return -9, out, b"timed out after %d s" % timeout, None
        finally:
            self.helpers.remove(p)
        # communicate() reaped it; the children's rusage delta is its CPU.
        return p.returncode, out, err, None

    def client_rusage(self):
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        return ru.ru_utime + ru.ru_stime

    def url(self, fname):
        return "http://127.0.0.1:%d/%s" % (PORT, fname)

    # --- the three measurements ---

    def measure_single(self, names):
        res = {n: [] for n in names}
        size = self.files[BIG]
        # Warm-up: one discarded download per server.
        for n in names:
            self.client(self.servers[n]["ns"], ["curl", "-s", "-o", "/dev/null", "--max-time",
                                                "60", self.url(BIG)], timeout=70)
        est = 10.0
        for run in range(self.args.runs):
            order = names[run % len(names):] + names[:run % len(names)]
            for n in order:
                reserve = self.reserve("single")
                if run > 0 and self.remaining() < est + reserve:
                    self.skipped.append("single stream run %d of %s (time budget)" % (run + 1, n))
                    continue
                m = Meter(self.servers[n]["pids"])
                c0 = self.client_rusage()
                rc, out, err, _ = self.client(
                    self.servers[n]["ns"],
                    ["curl", "-s", "-o", "/dev/null", "--max-time", "120", "-w", CURL_FMT,
                     self.url(BIG)], timeout=130)
                cpu = m.stop()
                cpu["cli_cpu"] = self.client_rusage() - c0
                est = max(est if run else 0, cpu["wall"] * 1.5 + 1)
                f = out.decode(errors="replace").split()
                r = dict(cpu, rc=rc)
                if rc == 0 and len(f) == 4 and int(f[0]) == 200 and int(float(f[1])) == size:
                    r.update(ok=True, time=float(f[2]), ttfb=float(f[3]),
                             mibs=size / MiB / float(f[2]))
                else:
                    r.update(ok=False, error="curl exit %d, out %r, %s" % (
                        rc, out[:80], err.decode(errors="replace").strip()[:200]))
                res[n].append(r)
                log("  single %d/%d %-10s %s" % (
                    run + 1, self.args.runs, n,
                    "%.0f MiB/s (srv CPU %.0f%%)" % (r["mibs"], 100 * r["srv_cpu"] / r["time"])
                    if r["ok"] else "FAILED: " + r["error"]))
        return res

    def measure_swarm(self, names):
        res = {n: [] for n in names}
        size = self.files[MID]
        for run in range(self.args.swarm_runs):
            order = names[run % len(names):] + names[:run % len(names)]
            for n in order:
                if run > 0 and self.remaining() < 25 + self.reserve("swarm"):
                    self.skipped.append("concurrency run %d of %s (time budget)" % (run + 1, n))
                    continue
                m = Meter(self.servers[n]["pids"])
                try:
                    h = self.helper(self.servers[n]["ns"], "swarm",
                                    {"url": self.url(MID), "clients": self.args.clients,
                                     "deadline": self.args.swarm_deadline},
                                    timeout=self.args.swarm_deadline + 30)
                except RuntimeError as e:
                    res[n].append(dict(m.stop(), ok=False, error=str(e)))
                    log("  swarm %d/%d %-10s FAILED: %s" % (run + 1, self.args.swarm_runs, n, e))
                    continue
                cpu = m.stop()
                cl = h["clients"]
                good = [c for c in cl if c.get("rc") == 0 and c.get("code") == 200
                        and c.get("size") == size]
                errs = {}
                for c in cl:
                    if c not in good:
                        e = c.get("err") or "status %s, %s bytes" % (c.get("code"), c.get("size"))
                        errs[e] = errs.get(e, 0) + 1
                times = sorted(c["time"] for c in good)
                r = dict(cpu, cpu_wall=cpu["wall"], ok=True, wall=h["wall"], spawn=h["spawn"],
                         cli_cpu=h["client_cpu"], failed=len(cl) - len(good), errors=errs,
                         agg=len(good) * size / MiB / h["wall"],
                         t_min=times[0] if times else None,
                         t_p50=statistics.median(times) if times else None,
                         t_max=times[-1] if times else None,
                         ttfb_max=max((c["ttfb"] for c in good), default=None))
                res[n].append(r)
                log("  swarm %d/%d %-10s %.2f s, %.0f MiB/s, %d failed, client %.2f/%.2f/%.2f s"
                    % (run + 1, self.args.swarm_runs, n, r["wall"], r["agg"], r["failed"],
                       r["t_min"] or 0, r["t_p50"] or 0, r["t_max"] or 0))
        return res

    def measure_wrk(self, names):
        res = {n: [] for n in names}
        d = self.args.duration
        for run in range(self.args.wrk_runs):
            order = names[run % len(names):] + names[:run % len(names)]
            for n in order:
                if run > 0 and self.remaining() < d + 5:
                    self.skipped.append("wrk run %d of %s (time budget)" % (run + 1, n))
                    continue
                m = Meter(self.servers[n]["pids"])
                c0 = self.client_rusage()
                rc, out, err, _ = self.client(
                    self.servers[n]["ns"],
                    ["wrk", "--latency", "-c", str(self.args.conns), "-t", str(self.args.threads),
                     "-d", "%ds" % d, "--timeout", "5s", self.url(SMALL)], timeout=d + 30)
                cpu = m.stop()
                cpu["cli_cpu"] = self.client_rusage() - c0
                r = dict(cpu, **parse_wrk(out.decode(errors="replace")))
                r["rc"] = rc
                if rc != 0 or r.get("rps") is None:
                    r.update(ok=False, error="wrk exit %d: %s" % (
                        rc, (err or out).decode(errors="replace").strip()[-300:]))
                else:
                    r["ok"] = True
                res[n].append(r)
                log("  wrk %d/%d %-10s %s" % (
                    run + 1, self.args.wrk_runs, n,
                    "%.0f req/s, %d socket errors, %d non-2xx" % (
                        r["rps"], sum(r["sock_err"].values()), r["non2xx"])
                    if r["ok"] else "FAILED: " + r["error"]))
        return res

    def measure_keepalive(self, names):
        res = {}
        for n in names:
            try:
                res[n] = self.helper(self.servers[n]["ns"], "keepalive",
                                     {"port": PORT, "path": "/" + SMALL,
                                      "file": os.path.join(self.root, SMALL),
                                      "seq": 200, "pipe": 10, "deadline": 20}, timeout=40)
            except RuntimeError as e:
                res[n] = {"error": str(e)}
            k = res[n]
            log("  keep-alive %-10s %s" % (n, k.get("error") or
                "%d/%d on %d connection(s), pipelined %d/%d, p50 %.3f ms" % (
                    k["seq_ok"], k["seq"], k["connections"], k["pipe_ok"], k["pipe"],
                    k["lat_p50_ms"] or 0)))
        return res

    def reserve(self, phase):
        """Seconds to keep for the phases after `phase`: one run of each, per server."""
        ns = len(self.servers)
        wrk = (self.args.duration + 3) * ns
        swarm = 15 * ns
        return {"single": swarm + wrk, "swarm": wrk, "wrk": 0}[phase]

    # --- teardown ---

    def cleanup(self):
        if self.monitor.is_alive():
            self.monitor.stop()
        for p in list(self.helpers):
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
        for name, s in self.servers.items():
            p = s["proc"]
            if p.poll() is None:
                p.terminate()  # nginx: fast shutdown; kidou: clean exit
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=5)
        # Whatever still runs inside our namespaces was started by us (nginx
        # workers, curl clients): end it by pid, then delete the namespace.
        for ns in self.netns:
            for _ in range(3):
                r = self.run(["ip", "netns", "pids", ns], check=False)
                pids = [int(x) for x in r.stdout.split()]
                if not pids:
                    break
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                time.sleep(0.2)
            r = self.run(["ip", "netns", "del", ns], check=False)
            if r.returncode != 0:
                log("warning: could not delete network namespace %s: %s" % (
                    ns, r.stderr.decode(errors="replace").strip()))
        self.netns = []
        if self.tmp and not self.args.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)
        elif self.tmp:
            log("kept files and server logs in %s" % self.tmp)


def parse_wrk(text):
    r = {"rps": None, "mibs": None, "sock_err": {}, "non2xx": 0, "requests": None,
         "lat_avg_ms": None, "lat_max_ms": None, "lat_p50_ms": None, "lat_p99_ms": None}

    def ms(v, unit):
        return float(v) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]

    m = re.search(r"Requests/sec:\s*([\d.]+)", text)
    if m:
        r["rps"] = float(m.group(1))
    m = re.search(r"Transfer/sec:\s*([\d.]+)([KMG]?B)", text)
    if m:
        r["mibs"] = float(m.group(1)) * {"B": 1 / MiB, "KB": 1 / 1024, "MB": 1, "GB": 1024}[m.group(2)]
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", text)
    if m:
        r["requests"] = int(m.group(1))
    m = re.search(r"Latency\s+([\d.]+)(us|ms|s|m)\s+[\d.]+\w+\s+([\d.]+)(us|ms|s|m)", text)
    if m:
        r["lat_avg_ms"], r["lat_max_ms"] = ms(m.group(1), m.group(2)), ms(m.group(3), m.group(4))
    for pct, key in (("50", "lat_p50_ms"), ("99", "lat_p99_ms")):
        m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s|m)" % pct, text, re.M)
        if m:
            r[key] = ms(m.group(1), m.group(2))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        r["sock_err"] = {k: int(v) for k, v in zip(("connect", "read", "write", "timeout"),
                                                    m.groups()) if int(v)}
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        r["non2xx"] = int(m.group(1))
    return r


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def cell(vals, prec=0, rng=True):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "-"
    m = statistics.median(vals)
    s = "%.*f" % (prec, m)
    if rng and len(vals) > 1:
        s += " (%.*f-%.*f)" % (prec, min(vals), prec, max(vals))
    return s


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "-"
    return "%.2f" % (a / b)


def pct(x):
    return "-" if x is None else "%.0f%%" % (100 * x)


def kidou_log_summary(text):
    lines = [ln for ln in text.splitlines() if ln.strip()]
    bad = [ln for ln in lines if "level=warn" in ln or "level=error" in ln]
    counts = {}
    for ln in bad:
        m = re.search(r"level=(\w+) mod=(\S+) event=(\S+)", ln)
        k = " ".join(m.groups()) if m else ln[:80]
        counts[k] = counts.get(k, 0) + 1
    return len(lines), counts


def report(bench, names, single, swarm, wrk, keep, elapsed, busy0):
    a = bench.args
    out = []
    p = out.append
    nginx_v = subprocess.run([a.nginx, "-v"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             timeout=10).stdout.decode().strip().replace("nginx version: ", "")
    try:
        kv = subprocess.run([a.kidou, "--version"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, timeout=10).stdout.decode().strip()
        head = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              timeout=10).stdout.decode().strip()
        in_repo = os.path.realpath(a.kidou).startswith(os.path.realpath(REPO) + os.sep)
        kv += (" (git %s)" % head) if head and in_repo else " (%s)" % a.kidou
    except (OSError, subprocess.SubprocessError):
        kv = "kidou"
    cpu_model = ""
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s*:\s*(.*)", f.read())
            cpu_model = m.group(1) if m else ""
    except OSError:
        pass
    nworkers = {n: len(bench.servers[n]["pids"]) - 1 for n in names if n != "kidou"}
    ncpu = os.cpu_count() or 1
    # Other people's CPU use during each measurement, from the load monitor.
    worst = 0.0
    for res in (single, swarm, wrk):
        for lst in (res or {}).values():
            for r in lst:
                if "t0" in r:
                    r["other"] = bench.monitor.foreign(r["t0"], r["t1"])
                    worst = max(worst, r["other"])
    p("kidou HTTP benchmark: %s vs %s (Debian), loopback, one network namespace per server"
      % (kv, nginx_v))
    p("Machine: %d CPUs, %s, Linux %s; placement: %s; %.0f%% busy before the start%s"
      % (os.cpu_count(), cpu_model, platform.release(),
         "servers on CPU 0, clients on CPU 1" if a.pin == "split" else "not pinned",
         100 * busy0, "  OTHER LOAD: numbers are noisy" if busy0 > 0.10 else ""))
    if worst > 0.10:
        p("OTHER LOAD during the run: other processes used up to %.0f%% of the machine in a "
          "test (see the CPU table); the numbers are noisy, run again when it is quiet"
          % (100 * worst))
    p("nginx: sendfile on, tcp_nopush on, access_log off; workers: %s" % ", ".join(
        "%s=%d" % (n, w) for n, w in nworkers.items()))
    p("")
    big, mid, small = bench.files[BIG] // MiB, bench.files[MID] // MiB, bench.files[SMALL] // 1024
    labels = [SERVERS[n][1] for n in names]
    peers = [n for n in PEERS if n in names]
    has_k = "kidou" in names
    ratio_cols = ["kidou/%s" % ("1w" if n == "nginx-1w" else "auto") for n in peers] if has_k else []
    rows = []

    def row(label, cells, vals=None, invert=False):
        rr = []
        if has_k and vals:
            for n in peers:
                rr.append(ratio(vals.get("kidou"), vals.get(n)))
        elif has_k:
            rr = [""] * len(peers)
        rows.append([label] + cells + rr)

    def okr(lst):
        return [r for r in lst if r.get("ok")]

    # (1) single stream
    v = {n: med([r["mibs"] for r in okr(single[n])]) for n in names}
    row("1. single stream %d MiB, MiB/s" % big,
        [cell([r["mibs"] for r in okr(single[n])]) for n in names], v)
    row("   runs ok/total", ["%d/%d" % (len(okr(single[n])), len(single[n])) for n in names])
    row("   time to first byte, ms",
        [cell([1e3 * r["ttfb"] for r in okr(single[n])], 1, rng=False) for n in names])
    # (2) concurrency
    if swarm:
        v = {n: med([r["agg"] for r in okr(swarm[n])]) for n in names}
        row("2. %d x %d MiB at once, agg MiB/s" % (a.clients, mid),
            [cell([r["agg"] for r in okr(swarm[n])]) for n in names], v)
        v = {n: med([r["wall"] for r in okr(swarm[n])]) for n in names}
        row("   wall time, s (ratio <1: kidou faster)",
            [cell([r["wall"] for r in okr(swarm[n])], 2) for n in names], v)
        row("   failed clients per run",
            ["+".join(str(r.get("failed", "E")) for r in swarm[n]) or "-" for n in names])
        row("   one client min/p50/max, s",
            ["%s/%s/%s" % tuple(cell([r[k] for r in okr(swarm[n])], 2, rng=False)
                                for k in ("t_min", "t_p50", "t_max")) for n in names])
        row("   slowest first byte, ms",
            [cell([1e3 * r["ttfb_max"] for r in okr(swarm[n]) if r["ttfb_max"] is not None], 0,
                  rng=False) for n in names])
    # (3) wrk
    if wrk:
        v = {n: med([r["rps"] for r in okr(wrk[n])]) for n in names}
        row("3. wrk %d KiB, -c %d -t %d -d %ds, req/s" % (small, a.conns, a.threads, a.duration),
            [cell([r["rps"] for r in okr(wrk[n])]) for n in names], v)
        row("   latency p50/p99/max, ms",
            ["%s/%s/%s" % tuple(cell([r[k] for r in okr(wrk[n])], 2, rng=False)
                                for k in ("lat_p50_ms", "lat_p99_ms", "lat_max_ms"))
             for n in names])
        errs = {}
        for n in names:
            e = {}
            for r in wrk[n]:
                for k, c in r.get("sock_err", {}).items():
                    e[k] = e.get(k, 0) + c
                if r.get("non2xx"):
                    e["non-2xx"] = e.get("non-2xx", 0) + r["non2xx"]
                if not r.get("ok"):
                    e["failed runs"] = e.get("failed runs", 0) + 1
            errs[n] = ", ".join("%s %d" % item for item in e.items()) or "0"
        row("   errors", [errs[n] for n in names])
    # keep-alive probe
    if keep:
        v = {n: (keep[n]["seq_ok"] / keep[n]["seq_time"]) if "seq_time" in keep[n] else None
             for n in names}
        row("4. one connection, 200 GETs, req/s",
            ["%.0f" % v[n] if v[n] else "-" for n in names], v)
        row("   keep-alive: ok/sent (connections)",
            ["%d/%d (%d)" % (keep[n]["seq_ok"], keep[n]["seq"], keep[n]["connections"])
             if "seq" in keep[n] else "error" for n in names])
        row("   pipelined ok/sent",
            ["%d/%d" % (keep[n]["pipe_ok"], keep[n]["pipe"]) if "pipe" in keep[n] else "error"
             for n in names])
        row("   HTTP/1.0: closed after answer",
            [("yes" if keep[n]["http10"].get("closed") else "NO")
             if "status" in keep[n].get("http10", {}) else "error" for n in names])
        row("   reused after 1 s idle",
            [("yes" if keep[n].get("idle_reuse") is True else str(keep[n].get("idle_reuse")))
             for n in names])

    hdr = ["", *labels, *ratio_cols]
    widths = [max(len(str(r[i])) for r in rows + [hdr]) for i in range(len(hdr))]
    line = lambda r: "  ".join(str(c).ljust(widths[0]) if i == 0 else str(c).rjust(widths[i])
                               for i, c in enumerate(r))
    p(line(hdr))
    p("-" * len(line(hdr)))
    for r in rows:
        p(line(r))
    p("Cells: median (min-max) over runs. Ratios kidou/nginx: above 1 kidou is faster, "
      "except for wall time.")
    p("")

    # CPU table
    p("CPU over each test, %% of one core: server processes / clients / other people's "
      "processes;\nbox: how busy all %d CPUs were" % ncpu)
    crows = []

    def cpu_cell(lst):
        lst = [r for r in lst if r.get("ok")]
        if not lst:
            return "-"
        wall = lambda r: r.get("cpu_wall", r["wall"])  # the window the CPU was metered over
        w = sum(wall(r) for r in lst)
        s = sum(r["srv_cpu"] for r in lst) / w
        c = sum(r["cli_cpu"] for r in lst) / w
        b = sum(r["box"] * wall(r) for r in lst) / w
        o = sum(r["other"] * wall(r) for r in lst) / w
        return "%3.0f / %3.0f / %3.0f  (box %3.0f%%)" % (100 * s, 100 * c, 100 * o * ncpu, 100 * b)

    crows.append(["1. single stream"] + [cpu_cell(single[n]) for n in names])
    if swarm:
        crows.append(["2. concurrent"] + [cpu_cell(swarm[n]) for n in names])
    if wrk:
        crows.append(["3. wrk small file"] + [cpu_cell(wrk[n]) for n in names])
    if wrk:
        crows.append(["   server CPU us per request"] + [
            "%.1f" % (1e6 * sum(r["srv_cpu"] for r in okr(wrk[n])) /
                      sum(r["requests"] for r in okr(wrk[n])))
            if okr(wrk[n]) and all(r["requests"] for r in okr(wrk[n])) else "-" for n in names])
    h2 = ["", *labels]
    w2 = [max(len(str(r[i])) for r in crows + [h2]) for i in range(len(h2))]
    line2 = lambda r: "  ".join(str(c).ljust(w2[0]) if i == 0 else str(c).rjust(w2[i])
                                for i, c in enumerate(r))
    p(line2(h2))
    for r in crows:
        p(line2(r))
    p("")

    # Failures and notes
    fails = []
    for what, res in (("single stream", single), ("concurrency", swarm), ("wrk", wrk)):
        for n in names:
            for r in (res or {}).get(n, []):
                if not r.get("ok"):
                    fails.append("%s, %s: %s" % (what, n, r.get("error")))
                for e, c in (r.get("errors") or {}).items():
                    fails.append("%s, %s: %d x %s" % (what, n, c, e))
    for n in names:
        k = (keep or {}).get(n, {})
        for b in k.get("bad", [])[:5]:
            fails.append("keep-alive, %s: %s" % (n, b))
        if k.get("pipe_err"):
            fails.append("pipelining, %s: %s" % (n, k["pipe_err"]))
        if not bench.server_alive(n):
            fails.append("%s EXITED during the run (code %s)" % (n, bench.servers[n]["proc"].returncode))
    if fails:
        p("Failures:")
        for f in fails[:30]:
            p("  " + f)
    if has_k:
        nl, counts = kidou_log_summary(bench.log_text("kidou"))
        p("kidou's log (--log-level warn): %d lines; %s" % (
            nl, ", ".join("%s x%d" % kv for kv in counts.items()) or "no warnings or errors"))
    for n in peers:
        try:
            with open(os.path.join(bench.tmp, n, "error.log")) as f:
                el = [ln for ln in f.read().splitlines() if "[notice]" not in ln]
            p("%s error.log: %s" % (n, "%d lines, first: %s" % (len(el), el[0][:160])
                                    if el else "empty"))
        except OSError:
            pass
    for s in bench.skipped:
        p("skipped: " + s)
    p("Total time %.0f s." % elapsed)
    return "\n".join(out)


# --------------------------------------------------------------------------

def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="512 MiB big file, 1 run of the concurrency and wrk tests")
    ap.add_argument("--servers", default="kidou,nginx-1w,nginx-auto",
                    help="comma-separated subset of kidou,nginx-1w,nginx-auto")
    ap.add_argument("--kidou", default=os.path.join(REPO, "build", "kidou"))
    ap.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    ap.add_argument("--runs", type=int, default=5, help="single-stream runs (default 5)")
    ap.add_argument("--swarm-runs", type=int, help="concurrency runs (default 3, quick 1)")
    ap.add_argument("--wrk-runs", type=int, help="wrk runs (default 2, quick 1)")
    ap.add_argument("--big-mib", type=int, help="single-stream file (default 1024, quick 512)")
    ap.add_argument("--swarm-mib", type=int, default=64)
    ap.add_argument("--clients", type=int, default=50, help="concurrent curl processes")
    ap.add_argument("--swarm-deadline", type=int, default=120,
                    help="seconds one concurrency run may take")
    ap.add_argument("--small-kib", type=int, default=4)
    ap.add_argument("--conns", type=int, default=50, help="wrk -c")
    ap.add_argument("--threads", type=int, default=2, help="wrk -t")
    ap.add_argument("--duration", type=int, default=10, help="wrk -d, seconds")
    ap.add_argument("--pin", choices=("none", "split"), default="none",
                    help="split: servers on CPU 0, clients on CPU 1 (default none)")
    ap.add_argument("--budget", type=float, default=270,
                    help="seconds: repeat runs are skipped past this (default 270)")
    ap.add_argument("--json", help="also write every raw result to this file")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    a = ap.parse_args(argv)
    if a.swarm_runs is None:
        a.swarm_runs = 1 if a.quick else 3
    if a.wrk_runs is None:
        a.wrk_runs = 1 if a.quick else 2
    if a.big_mib is None:
        a.big_mib = 512 if a.quick else 1024
    a.runs = max(1, min(a.runs, 50))
    a.swarm_runs = max(1, min(a.swarm_runs, 20))
    a.wrk_runs = max(1, min(a.wrk_runs, 20))
    a.clients = max(1, min(a.clients, 500))
    return a


def main(argv):
    if len(argv) >= 3 and argv[0] == "_helper":
        return helper_main(argv[1], argv[2])
    args = parse_args(argv)
    names = [n.strip() for n in args.servers.split(",") if n.strip()]
    for n in names:
        if n not in SERVERS:
            log("unknown server %r (known: %s)" % (n, ", ".join(SERVERS)))
            return 2
    if os.geteuid() != 0:
        log("run as root: the benchmark creates network namespaces")
        return 2
    need = ["ip", "curl"] + (["wrk"] if args.wrk_runs else []) + \
        (["taskset"] if args.pin == "split" else [])
    missing = [t for t in need if not shutil.which(t)]
    if "kidou" in names and not os.access(args.kidou, os.X_OK):
        missing.append(args.kidou + " (make build)")
    if any(n != "kidou" for n in names) and not os.access(args.nginx, os.X_OK):
        missing.append("nginx (apt-get install nginx-light)")
    if missing:
        log("missing: " + ", ".join(missing))
        return 2
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, _on_signal)
    # Also when started in the background, where SIGINT arrives ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    bench = Bench(args)
    t0 = time.monotonic()
    try:
        busy0 = machine_busy(1.0)
        bench.monitor.start()
        log("writing files (%d MiB, %d MiB, %d KiB)..." % (args.big_mib, args.swarm_mib,
                                                         args.small_kib))
        bench.make_files()
        for n in names:
            log("starting %s in %s" % (n, SERVERS[n][0]))
            bench.start_server(n)
        log("keep-alive probe")
        keep = bench.measure_keepalive(names)
        log("single stream: %d runs of %d MiB" % (args.runs, args.big_mib))
        single = bench.measure_single(names)
        log("concurrency: %d runs of %d clients x %d MiB" % (args.swarm_runs, args.clients,
                                                             args.swarm_mib))
        swarm = bench.measure_swarm(names)
        log("small files: %d wrk runs of %d s" % (args.wrk_runs, args.duration))
        wrk = bench.measure_wrk(names)
        time.sleep(LoadMonitor.PERIOD + 0.2)  # the monitor's sample after the last test
        text = report(bench, names, single, swarm, wrk, keep, time.monotonic() - t0, busy0)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"args": vars(args), "files": bench.files, "single": single,
                           "swarm": swarm, "wrk": wrk, "keepalive": keep,
                           "pids": {n: bench.servers[n]["pids"] for n in names}}, f, indent=1)
        print(text, flush=True)
        return 0
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    except Interrupted as e:
        log("interrupted by %s" % e)
        return 143
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        log("error: %s" % e)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        bench.cleanup()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
