#!/usr/bin/python3
"""The Debian package, end to end (make package; make check runs it, as root):

1. build it with dpkg-buildpackage -us -uc -b from a copy of the tree;
2. lintian: no errors (warnings are printed, README lists the kept ones);
3. install it with dpkg -i, then check /usr/sbin/kidou --version, the man
   pages (man -l), the sample config, the kidou user and /var/lib/kidou,
   that the service is not enabled, and the unit (systemd-analyze verify,
   and the security exposure, at most 2.5);
4. where systemd is PID 1, start the unit (systemd-run is not needed:
   systemctl start) -- else say that this part is skipped, and why;
5. purge it, and check that what it made is gone.

Exit status 0 when every check passed. It changes the system it runs on
(a package, a user), and undoes that at the end, also on failure."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MAX_EXPOSURE = 2.5
failures: list[str] = []


def run(*cmd, check=True, **kw) -> subprocess.CompletedProcess:
    cp = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if check and cp.returncode != 0:
        raise SystemExit(f"package: {' '.join(map(str, cmd))} failed ({cp.returncode}):\n"
                         f"{cp.stdout}\n{cp.stderr}")
    return cp


def expect(ok: bool, what: str):
    print(f"package: {'ok  ' if ok else 'FAIL'} {what}")
    if not ok:
        failures.append(what)


def build(work: Path) -> Path:
    src = work / "kidou"
    files = run("git", "-C", REPO, "ls-files", "-co", "--exclude-standard").stdout.split("\n")
    for f in files:
        if not f or f.startswith(("build", "obj-")):
            continue
        p = REPO / f
        if p.is_file():
            (src / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(p, src / f)
    env = dict(os.environ, DEB_BUILD_OPTIONS="nocheck")
    cp = run("dpkg-buildpackage", "-us", "-uc", "-b", cwd=src, env=env, check=False)
    if cp.returncode != 0:
        raise SystemExit(f"package: dpkg-buildpackage failed:\n{cp.stdout[-4000:]}\n{cp.stderr[-4000:]}")
    debs = [d for d in work.glob("kidou_*_amd64.deb")]
    if len(debs) != 1:
        raise SystemExit(f"package: expected one kidou_*.deb, found {debs}")
    print(f"package: built {debs[0].name}")
    return debs[0]


def check_lintian(deb: Path, changes: Path):
    cp = run("lintian", "--allow-root", "--tag-display-limit", "0", changes, check=False)
    out = (cp.stdout + cp.stderr).strip()
    print("package: lintian says:\n" + (out or "(nothing)"))
    errors = [l for l in out.splitlines() if l.startswith("E:")]
    expect(not errors, f"lintian reports no errors ({len(errors)})")


def exposure(unit: Path) -> float | None:
    cp = run("systemd-analyze", "security", "--offline=true", unit, check=False)
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\S+)", cp.stdout + cp.stderr)
    if not m:
        print(cp.stdout + cp.stderr)
        return None
    print(f"package: systemd-analyze security: {m.group(1)} {m.group(2)}")
    return float(m.group(1))


def check_installed():
    cp = run("/usr/sbin/kidou", "--version", check=False)
    expect(cp.returncode == 0 and cp.stdout.startswith("kidou "), "/usr/sbin/kidou --version")
    for page, name in (("/usr/share/man/man8/kidou.8.gz", "KIDOU(8)"),
                       ("/usr/share/man/man5/kidou.ini.5.gz", "KIDOU.INI(5)")):
        cp = run("man", "-l", page, check=False, env=dict(os.environ, MANPAGER="cat",
                                                          MANWIDTH="80"))
        expect(cp.returncode == 0 and name in cp.stdout, f"man -l {page}")
    ini = Path("/etc/kidou/kidou.ini")
    expect(ini.is_file() and "[tftp]" in ini.read_text(), "the sample /etc/kidou/kidou.ini")
    expect(run("getent", "passwd", "kidou", check=False).returncode == 0, "the kidou user")
    state = Path("/var/lib/kidou")
    expect(state.is_dir(), "/var/lib/kidou")
    units = [Path(d) / "kidou.service" for d in ("/lib/systemd/system", "/usr/lib/systemd/system")]
    unit = next((u for u in units if u.exists()), None)
    expect(unit is not None, "kidou.service installed")
    if unit is None:
        return
    wants = list(Path("/etc/systemd/system").glob("*.wants/kidou.service"))
    expect(not wants, "the service is not enabled")
    cp = run("systemd-analyze", "verify", unit, check=False)
    noise = [l for l in (cp.stdout + cp.stderr).splitlines() if l.strip()]
    expect(cp.returncode == 0 and not noise, "systemd-analyze verify is clean"
           + ("" if not noise else ": " + " / ".join(noise)))
    e = exposure(unit)
    expect(e is not None and e <= MAX_EXPOSURE, f"exposure {e} <= {MAX_EXPOSURE}")
    if Path("/proc/1/comm").read_text().strip() == "systemd":
        cp = run("systemctl", "start", "kidou.service", check=False)
        expect(cp.returncode == 0, "systemctl start kidou.service")
        run("systemctl", "stop", "kidou.service", check=False)
    else:
        print("package: skipped starting the unit: systemd is not PID 1 here "
              f"(PID 1 is {Path('/proc/1/comm').read_text().strip()})")


def check_purged():
    cp = run("dpkg-query", "-W", "-f=${Status}", "kidou", check=False)
    expect("installed" not in cp.stdout or "not-installed" in cp.stdout, "purged")
    expect(not Path("/usr/sbin/kidou").exists(), "/usr/sbin/kidou removed")
    expect(not Path("/var/lib/kidou").exists(), "/var/lib/kidou removed")
    expect(not Path("/etc/kidou").exists(), "/etc/kidou removed")
    expect(run("getent", "passwd", "kidou", check=False).returncode != 0, "the kidou user removed")


def main() -> int:
    if os.geteuid() != 0:
        print("package: needs root (it installs the package)", file=sys.stderr)
        return 2
    if run("dpkg-query", "-W", "-f=${Status}", "kidou", check=False).stdout.startswith("install"):
        print("package: a kidou package is installed already; not touching it", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="kidou-pkg-") as tmp:
        work = Path(tmp)
        deb = build(work)
        check_lintian(deb, next(work.glob("kidou_*_amd64.changes")))
        try:
            run("dpkg", "-i", deb)
            check_installed()
        finally:
            run("dpkg", "--purge", "kidou", check=False)
        check_purged()
    if failures:
        print(f"package: {len(failures)} check(s) failed: " + "; ".join(failures))
        return 1
    print("package: every check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
