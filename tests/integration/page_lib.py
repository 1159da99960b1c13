"""A real browser for kidou's status page: Debian's chromium, headless,
driven by python3-selenium through chromium-driver.

kidou runs in a network namespace the test creates; chromium runs in the
root namespace and reaches kidou through Forward, a loopback TCP relay
whose outgoing connections are made from inside that namespace (the
calling thread enters it with setns(2) for the connect() alone). So the
browser and its driver need nothing special, and no traffic leaves
loopback or the test's namespace.

Missing packages fail the tests (never skip): PACKAGES lists them.
"""
from __future__ import annotations

import os
import shutil
import socket
import threading
from pathlib import Path

from dhcp_lib import in_netns
from kidou_testlib import T

PACKAGES = {"chromium": "/usr/bin/chromium", "chromium-driver": "/usr/bin/chromedriver"}
WINDOW = (1400, 800)


def check_requirements():
    missing = [pkg for pkg, path in PACKAGES.items() if not os.path.exists(path)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("python3-selenium")
    assert not missing, ("the page tests need Debian's " + ", ".join(missing) +
                         " (scripts/setup.sh test installs them)")


class Forward:
    """127.0.0.1:<port> in our namespace, relayed to target in netns."""

    def __init__(self, netns: str, target: tuple[str, int]):
        self.netns, self.target = netns, target
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.socks: list[socket.socket] = []
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            try:
                with in_netns(self.netns):
                    u = socket.create_connection(self.target, timeout=T(5))
                u.settimeout(None)
            except OSError:
                c.close()
                continue
            with self.lock:
                if self.closed:
                    c.close()
                    u.close()
                    return
                self.socks += [c, u]
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket):
        try:
            while True:
                d = src.recv(65536)
                if not d:
                    break
                dst.sendall(d)
        except OSError:
            pass
        for s, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
            try:
                s.shutdown(how)
            except OSError:
                pass

    def close(self):
        with self.lock:
            self.closed = True
            socks, self.socks = self.socks, []
        self.lsock.close()
        for s in socks:
            try:
                s.close()
            except OSError:
                pass


def start_browser(workdir: Path):
    """Headless chromium with its own profile under workdir."""
    check_requirements()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = Path(workdir) / "chromium-profile"
    shutil.rmtree(profile, ignore_errors=True)
    opts = webdriver.ChromeOptions()
    opts.binary_location = PACKAGES["chromium"]
    for a in ("--headless=new", "--no-sandbox",  # root in a test container
              f"--window-size={WINDOW[0]},{WINDOW[1]}", "--disable-gpu",
              "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions",
              "--disable-background-networking", "--disable-sync",
              "--disable-component-update", "--disable-default-apps",
              f"--user-data-dir={profile}", "--lang=en-US", "--force-device-scale-factor=1"):
        opts.add_argument(a)
    # The page's console errors (CSP refusals among them) are read back.
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(PACKAGES["chromium-driver"], log_path=str(Path(workdir) / "chromedriver.log"))
    return webdriver.Chrome(service=service, options=opts)


def wait_js(driver, script: str, timeout: float, what: str, *args):
    """Wait until script (returning a value) is truthy; its last value."""
    from selenium.webdriver.support.ui import WebDriverWait
    from selenium.common.exceptions import TimeoutException

    last = {}

    def check(d):
        last["v"] = d.execute_script(script, *args)
        return last["v"]

    try:
        return WebDriverWait(driver, T(timeout), poll_frequency=0.1).until(check)
    except TimeoutException:
        raise AssertionError(f"page: {what} not within {T(timeout):.0f}s; last value "
                             f"{last.get('v')!r}; rows:\n{rows_text(driver)}") from None


def rows_text(driver) -> str:
    return driver.execute_script(
        "return [...document.querySelectorAll('#rows tr')].map("
        "r => (r.hidden ? '[hidden] ' : '') + r.innerText.replace(/\\s+/g, ' ')).join('\\n')")


def row_state(driver, mac: str):
    return driver.execute_script(
        "const r = document.querySelector(`#rows tr[data-mac='${arguments[0]}']`);"
        "return r ? r.dataset.state : null", mac)


def console_errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def loaded_once(driver, mark: str) -> bool:
    """The document is still the one loaded at first: same load mark, and
    one navigation (a reload would make a new mark)."""
    return driver.execute_script(
        "return window.kidouPage && window.kidouPage.loadMark === arguments[0] && "
        "performance.getEntriesByType('navigation').length === 1 && "
        "performance.getEntriesByType('navigation')[0].type === 'navigate'", mark)


def screenshot(driver, tmp_path: Path, name: str = "page.png", for_docs: bool = False) -> Path:
    """Save a screenshot as the test's artifact (its path printed). for_docs:
    with KIDOU_SCREENSHOT=PATH, also there (docs/page.png is made so)."""
    out = Path(tmp_path) / name
    driver.save_screenshot(str(out))
    print(f"page screenshot: {out}")
    extra = os.environ.get("KIDOU_SCREENSHOT")
    if for_docs and extra:
        shutil.copyfile(out, extra)
        print(f"page screenshot copied to {extra}")
    return out
