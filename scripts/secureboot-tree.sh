#!/bin/sh
# Lay out Debian's signed Secure Boot chain in a TFTP root, for kidou:
#
#   scripts/secureboot-tree.sh TFTP_ROOT [KERNEL [INITRD]]
#
# copies shim (shim-signed) to TFTP_ROOT/shim/shimx64.efi and the netboot
# GRUB (grub-efi-amd64-signed) to TFTP_ROOT/shim/grubx64.efi, where shim
# looks for it; with KERNEL (a signed one, e.g. /boot/vmlinuz-*-amd64 from
# linux-image-amd64) and INITRD, also linux/vmlinuz and linux/initrd.img.
# Then it prints the config that serves them. GRUB asks for /grub/grub.cfg,
# which kidou renders from each machine's profile: no grub.cfg goes in the
# tree. See docs/secureboot.md.
set -eu

shim=/usr/lib/shim/shimx64.efi.signed
grub=/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }
case "${1:-}" in
-h|--help) usage; exit 0 ;;
esac
if [ $# -lt 1 ] || [ $# -gt 3 ]; then
	usage >&2
	exit 2
fi
root=$1
for f in "$shim" "$grub"; do
	if [ ! -f "$f" ]; then
		echo "secureboot-tree: $f is missing: apt-get install shim-signed grub-efi-amd64-signed" >&2
		exit 1
	fi
done
install -D -m 0644 "$shim" "$root/shim/shimx64.efi"
install -D -m 0644 "$grub" "$root/shim/grubx64.efi"
if [ $# -ge 2 ]; then
	install -D -m 0644 "$2" "$root/linux/vmlinuz"
fi
if [ $# -ge 3 ]; then
	install -D -m 0644 "$3" "$root/linux/initrd.img"
fi
if [ -e "$root/grub/grub.cfg" ]; then
	echo "secureboot-tree: warning: $root/grub/grub.cfg exists; a file on disk wins over the grub.cfg kidou renders per machine" >&2
fi
cat <<CONF
; $root now holds Debian's signed chain. In kidou's config:
[tftp]
root = $root

[boot]
uefi-x64 = shim/shimx64.efi
profile = install

[profile install]
kernel = linux/vmlinuz
initrd = linux/initrd.img
cmdline = console=ttyS0,115200
CONF
