#!/usr/bin/env python3
"""Write the seed corpus of each fuzz target into tests/fuzz/corpus/.

The seeds are small hand-written inputs (a few of each shape the target
understands); libFuzzer grows its own corpus from them in a temporary
directory (run.sh), never here. Re-run this script after changing an
input format, and commit its output.
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def cstr(s):
    return s.encode() + b"\0" if isinstance(s, str) else s + b"\0"


def request(op, name, mode, *opts):
    out = struct.pack(">H", op) + cstr(name) + cstr(mode)
    for k, v in opts:
        out += cstr(k) + cstr(v)
    return out


def wire():
    t = "fuzz_tftp_wire"
    write(t, "rrq-plain", request(1, "pxelinux.0", "octet"))
    write(t, "rrq-options", request(1, "/boot/grub/grub.cfg", "octet",
                                    ("blksize", "1468"), ("tsize", "0"),
                                    ("timeout", "3"), ("windowsize", "16")))
    write(t, "rrq-netascii-backslash", request(1, "boot\\pxelinux.cfg\\default",
                                               "NetASCII", ("BLKSIZE", "512")))
    write(t, "rrq-padded", request(1, "ipxe.efi", "octet", ("blksize", "1408")) + b"\0" * 6)
    write(t, "rrq-dotdot", request(1, "../../etc/passwd", "octet"))
    write(t, "rrq-bad-option", request(1, "f", "octet", ("blksize", "lots")))
    write(t, "rrq-many-options", request(1, "f", "octet",
                                         *[("o%d" % i, str(i)) for i in range(20)]))
    write(t, "wrq", request(2, "upload", "octet"))
    write(t, "rrq-mail", request(1, "f", "mail"))
    write(t, "rrq-truncated", request(1, "pxelinux.0", "octet")[:-1])
    write(t, "data", struct.pack(">HH", 3, 1) + b"hello")
    write(t, "ack", struct.pack(">HH", 4, 65535))
    write(t, "error", struct.pack(">HH", 5, 1) + cstr("File not found"))
    write(t, "oack", struct.pack(">H", 6) + cstr("blksize") + cstr("1468") +
          cstr("tsize") + cstr("123456"))
    write(t, "unknown-opcode", struct.pack(">H", 7) + b"x\0")


def path():
    t = "fuzz_tftp_path"
    big = bytes([12])   # selects the 4 * TFTP_PATH_MAX output buffer
    exact = bytes([10])  # selects a TFTP_PATH_MAX output buffer
    write(t, "plain", big + b"pxelinux.0")
    write(t, "leading-slash", big + b"/boot/vmlinuz")
    write(t, "backslashes", big + b"boot\\grub\\grub.cfg")
    write(t, "dots", big + b"./a/./b//c/")
    write(t, "dotdot", big + b"a/../b")
    write(t, "dotdot-backslash", big + b"..\\x")
    write(t, "three-dots", big + b"a/.../b")
    write(t, "empty", big)
    write(t, "only-separators", big + b"/\\/")
    write(t, "nul", big + b"a\0b")
    write(t, "small-buffer", bytes([4]) + b"abc/def")
    write(t, "longest", exact + b"a" * 1023)
    write(t, "longest-two-components", big + b"a/" + b"b" * 1021)


def session(size, shift, blksize, windowsize, retries, oack, events):
    hdr = struct.pack(">IBHHB", size, shift | (0x80 if oack else 0),
                      (blksize - 8) % (65464 - 8 + 1), windowsize, retries)
    return hdr + bytes(events)


def sessions():
    t = "fuzz_tftp_session"
    # op 0: ACK with block; 1: timeout; 2: ACK all sent; 3: ACK acked+k;
    # 4: n perfect ACKs
    write(t, "small-perfect", session(2000, 0, 512, 1, 3, False, [2, 2, 2, 2]))
    write(t, "oack-window", session(100000, 0, 1468, 8, 5, True,
                                    [0, 0, 0, 4, 200]))
    write(t, "timeouts", session(5000, 0, 512, 4, 2, False, [1, 1, 2, 1, 1, 1]))
    write(t, "partial-window", session(20 * 512, 0, 512, 4, 5, False,
                                       [3, 2, 3, 1, 0, 0, 9, 2, 2, 2]))
    write(t, "stale-acks", session(10 * 512, 0, 512, 2, 5, False,
                                   [2, 0, 0, 1, 0, 0xff, 0xff, 2]))
    # 70000 blocks of 512 at window 1: bursts of perfect ACKs cross the
    # 16-bit wrap
    write(t, "rollover", session(70000 * 512, 0, 512, 1, 3, False, [4, 255] * 300))
    write(t, "empty-file", session(0, 0, 512, 1, 1, False, [2, 2, 1]))
    write(t, "exact-multiple", session(1024, 0, 512, 2, 1, True, [0, 0, 0, 2, 2]))
    write(t, "huge", session(0xffffffff, 15, 8, 65535, 7, False, [4, 255, 1, 2]))


def main():
    wire()
    path()
    sessions()
    return 0


if __name__ == "__main__":
    sys.exit(main())
