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
    t = "fuzz_path"
    big = bytes([12])   # selects the 4 * PATH_NAME_MAX output buffer
    exact = bytes([10])  # selects a PATH_NAME_MAX output buffer
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
    # op 5: a netascii stream learns its size (bound * k / 256) at the end
    write(t, "netascii-size-learned", session(2 * 3000, 0, 512, 4, 3, False,
                                              [2, 5, 140, 2, 2, 1, 2]))


def netascii(blksize, script, text):
    return struct.pack(">HB", blksize - 8, len(script)) + bytes(script) + text


def netascii_seeds():
    t = "fuzz_netascii"
    text = b"".join(b"line %d\n" % i + (b"\r" if i % 5 == 0 else b"") for i in range(300))
    # script bytes: low 2 bits op (0 anchor += k, 1 block anchor + k % 8,
    # 2 block anchor + 37 k, 3 block after the buffer), high 6 bits k
    write(t, "lockstep-512", netascii(512, [1, 4 | 0, 1, 3, 4 | 0, 1], text))
    write(t, "tiny-blocks", netascii(9, [1, 3, 8 | 2, 4 | 1, 40 | 0, 1], b"\n\r" * 400))
    write(t, "only-lf", netascii(8, [3, 3, 3, 4 | 1], b"\n" * 5000))
    write(t, "empty", netascii(512, [1, 2], b""))
    write(t, "big-block", netascii(65464, [1, 3], text * 20))
    write(t, "retransmit", netascii(16, [1, 3, 3, 3, 1, 4 | 0, 1, 252 | 2, 1], text))


# --- DHCP ---

IFACE = "172.24.32.254"   # the address fuzz_dhcp_server's context has
PXE_PRL = bytes([1, 3, 6, 15, 43, 54, 60, 66, 67, 97, 128, 129, 130])
UUID = bytes([0]) + bytes(range(0x10, 0x20))


def ip(s):
    return bytes(int(x) for x in s.split("."))


def opt(code, value):
    """One option; values over 255 bytes become several (RFC 3396)."""
    out = b""
    while True:
        out += bytes([code, min(len(value), 255)]) + value[:255]
        value = value[255:]
        if not value:
            return out


def dhcp(msg_type, *opts, op=1, mac="52:54:00:00:00:01", xid=0x4b490001,
         flags=0, hops=0, ciaddr="0.0.0.0", giaddr="0.0.0.0", sname=b"",
         file=b"", end=True, hlen=6):
    chaddr = bytes(int(x, 16) for x in mac.split(":"))
    out = struct.pack(">BBBBIHH", op, 1, hlen, hops, xid, 0, flags)
    out += ip(ciaddr) + bytes(4) + bytes(4) + ip(giaddr)
    out += chaddr.ljust(16, b"\0") + sname.ljust(64, b"\0") + file.ljust(128, b"\0")
    out += struct.pack(">I", 0x63825363)
    if msg_type:
        out += opt(53, bytes([msg_type]))
    for code, value in opts:
        out += opt(code, value)
    return out + (b"\xff" if end else b"")


def pxe(arch, vendor=b"PXEClient:Arch:%05d:UNDI:002001"):
    if b"%" in vendor:
        vendor = vendor % arch
    return [(57, struct.pack(">H", 1260)), (93, struct.pack(">H", arch)),
            (94, b"\x01\x02\x01"), (97, UUID), (60, vendor), (55, PXE_PRL)]


def dhcp_packets():
    relay = dict(giaddr="10.9.0.1", hops=1)
    agent = (82, opt(1, b"eth0/1/3") + opt(2, b"\x00\x11\x22\x33\x44\x55"))
    return {
        "discover": dhcp(1, (61, b"\x01\x52\x54\x00\x00\x00\x01"),
                         (12, b"node1"), (57, struct.pack(">H", 1500)),
                         (55, bytes([1, 3, 6, 15, 28, 51, 58, 59]))),
        "discover-broadcast": dhcp(1, (55, b"\x01\x03\x06"), flags=0x8000),
        "discover-requested": dhcp(1, (50, ip("172.24.32.5")), mac="52:54:00:00:00:02"),
        "discover-pxe-bios": dhcp(1, *pxe(0)),
        "discover-pxe-efi-x64": dhcp(1, *pxe(7), mac="52:54:00:00:00:03"),
        "discover-pxe-efi-arm64": dhcp(1, *pxe(11), mac="52:54:00:aa:00:02", **relay),
        "discover-pxe-unknown-arch": dhcp(1, *pxe(42)),
        "discover-pxe-no-arch": dhcp(1, (60, b"PXEClient"), (55, PXE_PRL)),
        "discover-http-x64": dhcp(1, (93, b"\x00\x10"), (60, b"HTTPClient:Arch:00016:UNDI:003001"),
                                  (55, PXE_PRL)),
        "discover-ipxe": dhcp(1, *pxe(7), (77, b"iPXE"), (175, opt(19, b"\x01") + opt(39, b"\x01"))),
        "discover-ipxe-user-class-list": dhcp(1, (77, b"\x03foo\x04iPXE"), (60, b"PXEClient")),
        "discover-fixed-host": dhcp(1, *pxe(0), mac="52:54:00:aa:00:01"),
        "discover-relayed": dhcp(1, (55, b"\x01\x03\x06"), agent, **relay),
        "discover-relayed-unknown-subnet": dhcp(1, agent, giaddr="192.168.77.1", hops=1),
        "discover-max-576": dhcp(1, *pxe(0)[1:], (57, struct.pack(">H", 576))),
        "discover-no-hlen-client-id": dhcp(1, (61, b"\xff\x00\x00\x00\x01abcd"), hlen=0),
        "discover-overload": dhcp(1, (52, b"\x03"), (61, b"\x01ab"),
                                  file=opt(12, b"from-file") + opt(60, b"PXE") + b"\xff",
                                  sname=opt(60, b"Client") + b"\xff"),
        "discover-split-option": dhcp(1, (77, b"a" * 300), (43, bytes(range(256)) * 2)),
        "request-selecting": dhcp(3, (54, ip(IFACE)), (50, ip("172.24.32.1")),
                                  (61, b"\x01\x52\x54\x00\x00\x00\x01")),
        "request-selecting-pxe": dhcp(3, (54, ip(IFACE)), (50, ip("172.24.32.2")), *pxe(0)),
        "request-other-server": dhcp(3, (54, ip("172.24.32.99")), (50, ip("172.24.32.1"))),
        "request-init-reboot": dhcp(3, (50, ip("172.24.32.4"))),
        "request-init-reboot-wrong-network": dhcp(3, (50, ip("10.1.2.3"))),
        "request-init-reboot-fixed": dhcp(3, (50, ip("172.24.32.3")), mac="52:54:00:00:00:09"),
        "request-renewing": dhcp(3, ciaddr="172.24.32.1"),
        "request-relayed": dhcp(3, (54, ip(IFACE)), (50, ip("10.9.1.10")), agent, **relay),
        "decline": dhcp(4, (54, ip(IFACE)), (50, ip("172.24.32.1"))),
        "release": dhcp(7, (54, ip(IFACE)), ciaddr="172.24.32.1"),
        "inform": dhcp(8, (55, b"\x01\x03\x06\x0f"), ciaddr="172.24.32.77"),
        "bootp": dhcp(0, (12, b"old")),
        "offer-from-client": dhcp(2, (54, ip(IFACE)), op=2),
        "no-end": dhcp(1, (55, b"\x01"), end=False),
    }


def dhcp_seeds():
    packets = dhcp_packets()
    for name, data in packets.items():
        write("fuzz_dhcp_server", name, data)
        write("fuzz_dhcp_wire", name, data)
    # Shapes only the codec cares about.
    t = "fuzz_dhcp_wire"
    write(t, "truncated-header", packets["discover"][:100])
    write(t, "bad-cookie", packets["discover"][:236] + b"\x63\x82\x53\x64\x35\x01\x01\xff")
    write(t, "option-overruns", packets["discover"][:240] + b"\x35\x01\x01\x0c\x20ab\xff")
    write(t, "zero-length-options", packets["discover"][:240] + b"\xc8\x00" * 600 + b"\x35\x01\x01\xff")


def store_programs():
    """fuzz_lease_store: steps of (op, arg); op 0 bind, 1 release, 2 submit,
    3 drain, 4 lock, 5 unlock (see the target's header)."""
    t = "fuzz_lease_store"
    bind, release, submit, drain, lock, unlock = range(6)

    def prog(*steps, abandon=False):
        data = bytes(b for s in steps for b in s)
        return data + (b"\x01" if abandon else b"\x00")
    write(t, "commit", prog((bind, 0x11), (bind, 0x22), (submit, 0), (drain, 0)))
    write(t, "fail-then-rebind", prog((lock, 0), (bind, 0x13), (submit, 0), (bind, 0x23),
                                      (submit, 0), (drain, 0), (unlock, 0), (bind, 0x33),
                                      (submit, 0), (drain, 0)))
    write(t, "queue-full", prog((lock, 0), *[s for i in range(6) for s in
                                             ((bind, 0x10 + i), (submit, 0))],
                                (drain, 0)))
    write(t, "release", prog((bind, 0x15), (submit, 0), (drain, 0), (release, 0x15),
                             (lock, 0), (submit, 0), (drain, 0)))
    write(t, "abandon", prog((lock, 0), (bind, 0x16), (submit, 0), abandon=True))


def api_route():
    t = "fuzz_api_route"
    write(t, "machines", b"/api/v1/machines\0Bearer 0123456789abcdef-fuzz")
    write(t, "machine", b"/api/v1/machines/52:54:00:12:34:56\0bearer x")
    write(t, "next-boot", b"/api/v1/machines/525400123456/next-boot")
    write(t, "done", b"/api/v1/machines/52-54-00-12-34-56/done\0Basic abc")
    write(t, "host", b"/api/v1/hosts/web1\0Bearer  0123456789abcdef-fuzz")
    write(t, "events", b"/api/v1/events")
    write(t, "unknown", b"/api/v1/machines//x")


def page():
    t = "fuzz_page"
    for name, url in (("index", b"/ui/"), ("bare", b"/ui"), ("root", b"/"), ("js", b"/ui/app.js"),
                      ("css", b"/ui/app.css"), ("dotdot", b"/ui/../ui/app.js"),
                      ("double", b"/ui//app.js"), ("other", b"/ui/nothing.js")):
        write(t, name, url)


def next_boot():
    t = "fuzz_next_boot"
    write(t, "once", b'{"profile": "inst", "once": true}')
    write(t, "every", b'{"profile": "rescue"}')
    write(t, "local", b'{"local": true}')
    write(t, "default", b'{"default": true}')
    write(t, "unknown-key", b'{"profile": "inst", "colour": "blue"}')
    write(t, "unknown-profile", b'{"profile": "nope", "once": true}')
    write(t, "dup", b'{"local": true, "local": true}')
    write(t, "nested", b'{"profile": {"a": [1, 2, {"b": null}]}}')


def api_hosts():
    t = "fuzz_api_hosts"
    write(t, "full", b'{"mac": "52:54:00:12:34:56", "ip": "10.0.0.9", "hostname": "web1",'
                     b' "profile": "inst", "bios": "pxelinux/lpxelinux.0",'
                     b' "uefi-x64": "ipxe/${mac}.efi", "option": ["252 string http://x/w"]}')
    write(t, "uuid", b'{"uuid": "4c4c4544-0042-3510-8052-b4c04f335731", "ipxe": "http://s/b"}')
    write(t, "option-one", b'{"mac": "525400123456", "option": "224 hex 01:02"}')
    write(t, "unknown-key", b'{"mac": "52:54:00:12:34:56", "colour": "blue"}')
    write(t, "unknown-profile", b'{"mac": "52:54:00:12:34:56", "profile": "nope"}')
    write(t, "bad-ip", b'{"mac": "52:54:00:12:34:56", "ip": "127.0.0.1"}')
    write(t, "dup", b'{"mac": "52:54:00:12:34:56", "mac": "52:54:00:12:34:57"}')
    write(t, "nested", b'{"mac": {"a": [1, 2, {"b": null}]}}')


def pe_image(magic=0x20B, nrva=16, cert=(900, 100), lfanew=0x80):
    """The head of a PE image (pe_sig.c): MZ, e_lfanew, PE\\0\\0, a COFF
    header for x86-64, an optional header with nrva data directories,
    entry 4 (the certificate table) = cert."""
    nrva_at = 92 if magic == 0x10B else 108
    b = bytearray(1024)
    b[0:2] = b"MZ"
    struct.pack_into("<I", b, 0x3C, lfanew)
    b[lfanew:lfanew + 4] = b"PE\0\0"
    struct.pack_into("<HHIIIHH", b, lfanew + 4, 0x8664, 3, 0, 0, 0,
                     nrva_at + 4 + 8 * nrva, 0x206)
    opt = lfanew + 24
    struct.pack_into("<H", b, opt, magic)
    struct.pack_into("<I", b, opt + nrva_at, nrva)
    if nrva > 4:
        struct.pack_into("<II", b, opt + nrva_at + 4 + 32, *cert)
    return bytes(b)


def pe_sig():
    """fuzz_pe_sig: 4 bytes of file size (little-endian), then the head."""
    t = "fuzz_pe_sig"
    size = struct.pack("<I", 1024)
    write(t, "signed-pe32plus", size + pe_image())
    write(t, "signed-pe32", size + pe_image(magic=0x10B, cert=(600, 8)))
    write(t, "unsigned", size + pe_image(cert=(0, 0)))
    write(t, "linux-stub-6-dirs", size + pe_image(nrva=6, cert=(512, 64)))
    write(t, "four-dirs", size + pe_image(nrva=4))
    write(t, "cert-past-end", struct.pack("<I", 950) + pe_image())
    write(t, "truncated", size + pe_image()[:200])
    write(t, "not-mz", size + b"\x7fELF" + b"\0" * 60)


def main():
    pe_sig()
    api_hosts()
    store_programs()
    api_route()
    next_boot()
    page()
    wire()
    path()
    sessions()
    netascii_seeds()
    dhcp_seeds()
    return 0


if __name__ == "__main__":
    sys.exit(main())
