"""kidou check-config [FILE] [--SETTING VALUE ...]: the config built as
startup builds it, without a socket, and the settings in force with where
each came from."""
from __future__ import annotations

import re
import socket
from pathlib import Path


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def setting(out: str, key: str) -> str:
    """The line of out that sets key (first match), without padding."""
    m = re.search(rf"^;?{re.escape(key)} =.*$", out, re.M)
    assert m, f"no line for {key} in:\n{out}"
    return re.sub(r" {2,}", " ", m.group(0))


def test_valid_config_shows_each_origin(kidou_factory, tmp_path, tftp_root):
    cfg = write(tmp_path / "k.ini",
                f"[tftp]\nroot = {tftp_root}\nmax-blksize = 1468\n\n"
                "[profile install]\nkernel = vmlinuz\ncmdline = console=ttyS0\n\n"
                "[host web1]\nmac = 52:54:00:12:34:56\nprofile = install\n")
    cp = kidou_factory.run(["check-config", cfg, "--tftp-max-windowsize", "16"])
    assert cp.returncode == 0, cp.stderr
    out = cp.stdout
    assert f"{cfg}: valid" in out
    assert setting(out, "root") == f"root = {tftp_root} ; {cfg}:2"
    assert setting(out, "max-blksize") == f"max-blksize = 1468 ; {cfg}:3"
    assert setting(out, "max-windowsize") == "max-windowsize = 16 ; --tftp-max-windowsize"
    assert setting(out, ";retries") == ";retries = ; not set, default 6"
    assert "\n[host web1]\nmac = 52:54:00:12:34:56" in re.sub(r" {2,}", " ", out)
    assert "\n[profile install]\nkernel = vmlinuz" in re.sub(r" {2,}", " ", out)


def test_a_flag_replaces_the_file(kidou_factory, tmp_path, tftp_root):
    cfg = write(tmp_path / "k.ini", f"[tftp]\nroot = {tftp_root}\nretries = 3\n")
    cp = kidou_factory.run(["check-config", "--config", cfg, "--tftp-retries", "9"])
    assert cp.returncode == 0, cp.stderr
    assert setting(cp.stdout, "retries") == "retries = 9 ; --tftp-retries"


def test_output_loads_again(kidou_factory, tmp_path, tftp_root):
    """What check-config prints is itself a config, with the same settings."""
    cfg = write(tmp_path / "k.ini",
                f"[tftp]\nroot = {tftp_root}\nretries = 3\n\n[dhcp]\ninterface = lo\n"
                "range = 127.0.0.100 127.0.0.200\ndns = 127.0.0.1, 127.0.0.2\n")
    first = kidou_factory.run(["check-config", cfg])
    assert first.returncode == 0, first.stderr
    again = write(tmp_path / "again.ini", first.stdout)
    second = kidou_factory.run(["check-config", again])
    assert second.returncode == 0, second.stderr

    def settings(text):
        return [re.sub(r" *;.*", "", l) for l in text.splitlines() if l and l[0] not in ";"]
    assert settings(first.stdout) == settings(second.stdout)
    assert "dns = 127.0.0.1, 127.0.0.2" in settings(second.stdout)


def test_opens_no_socket(kidou_factory, tmp_path, tftp_root):
    """Its listen address is taken: the daemon could not start, the check
    does not bind and passes."""
    held = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    held.bind(("127.0.0.1", 0))
    port = held.getsockname()[1]
    try:
        cfg = write(tmp_path / "k.ini", f"[tftp]\nroot = {tftp_root}\nlisten = 127.0.0.1:{port}\n")
        cp = kidou_factory.run(["check-config", cfg])
        assert cp.returncode == 0, cp.stderr
        daemon = kidou_factory.run(["--config", cfg])
        assert daemon.returncode != 0 and "event=ready" not in daemon.stderr
    finally:
        held.close()


def test_errors_name_file_and_line(kidou_factory, tmp_path, tftp_root):
    cfg = write(tmp_path / "k.ini", f"[tftp]\nroot = {tftp_root}\nmax-blksize = 9\n")
    cp = kidou_factory.run(["check-config", cfg])
    assert cp.returncode == 1
    assert f'{cfg}:3: [tftp] max-blksize: "9" is not a whole number in 512..65464' in cp.stderr
    assert cp.stdout == ""
    write(cfg, f"[tftp]\nroot = {tftp_root}\n")
    cp = kidou_factory.run(["check-config", cfg, "--tftp-retries", "x"])
    assert cp.returncode == 1 and "--tftp-retries:" in cp.stderr, cp.stderr


def test_what_startup_would_refuse(kidou_factory, tmp_path):
    cfg = write(tmp_path / "k.ini",
                f"[tftp]\nroot = {tmp_path}/missing\n\n[dhcp]\ninterface = nosuch0\n"
                "range = 10.0.0.10 10.0.0.20\n")
    cp = kidou_factory.run(["check-config", cfg])
    assert cp.returncode == 1
    assert f"[tftp] root: {tmp_path}/missing: No such file or directory" in cp.stderr
    assert "[dhcp] interface: no interface nosuch0 here" in cp.stderr
    assert "kidou would not start here" in cp.stdout
