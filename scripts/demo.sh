#!/bin/sh
# kidou demo: a VM with an empty disk boots Linux from the network.
#
#   make demo                           # BIOS (SeaBIOS + QEMU's iPXE ROM -> PXELINUX)
#   make demo FIRMWARE=uefi             # UEFI (OVMF + iPXE -> syslinux.efi)
#   make demo FIRMWARE=secureboot       # UEFI with Secure Boot enforced: shim -> GRUB -> signed kernel
#   scripts/demo.sh [--uefi|--bios|--secureboot] [--server dnsmasq] [--tcg|--kvm] [--no-inline-log]
#
# As root on Debian 12: installs the packages it needs (tests/integration/
# vm_lib.py: PACKAGES), builds kidou, builds a tftpboot tree (PXELINUX,
# syslinux.efi, the cloud kernel and a busybox initramfs) in $WORKDIR,
# creates network namespace kidou-demo holding bridge br0 (172.24.0.1/16)
# and tap0, starts kidou there (DHCP pool 172.24.32.1-254 on br0, TFTP from
# the tree), and boots QEMU from the network on tap0 with its serial
# console in this terminal. kidou's log lines appear between the console
# lines (prefixed [kidou]). Ctrl-C, or `poweroff -f` in the VM, ends it,
# and everything (VM, kidou, namespace) is torn down.
#
# Environment: FIRMWARE=bios|uefi|secureboot, KIDOU_VM_ACCEL=auto|kvm|tcg (auto: KVM
# if it really works here, else TCG), WORKDIR (default /tmp/kidou-demo),
# KIDOU_BIN (default: build/kidou, built by this script).
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
PY=/usr/bin/python3

firmware=${FIRMWARE:-bios}
server=kidou
extra=""
while [ $# -gt 0 ]; do
	case "$1" in
	--uefi) firmware=uefi ;;
	--bios) firmware=bios ;;
	--secureboot) firmware=secureboot ;;
	--firmware) shift; firmware=$1 ;;
	--firmware=*) firmware=${1#*=} ;;
	--server) shift; server=$1 ;;
	--server=*) server=${1#*=} ;;
	--tcg) extra="$extra --accel tcg" ;;
	--kvm) extra="$extra --accel kvm" ;;
	--no-inline-log) extra="$extra --no-inline-log" ;;
	-h|--help) sed -n '2,/^set -eu/p' "$0" | sed '$d'; exit 0 ;;
	*) echo "demo: unknown argument $1 (try --help)" >&2; exit 2 ;;
	esac
	shift
done
case "$firmware" in bios|uefi|secureboot) ;; *) echo "demo: FIRMWARE must be bios, uefi or secureboot" >&2; exit 2 ;; esac

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: run as root (make demo, as root): it installs packages and creates a network namespace" >&2
	exit 1
fi

# 1. packages and kidou
if [ "$server" = dnsmasq ]; then
	$PY tests/integration/vm_lib.py install --bench
elif [ "$firmware" = secureboot ]; then
	$PY tests/integration/vm_lib.py install --secureboot
else
	$PY tests/integration/vm_lib.py install
fi
if [ -z "${KIDOU_BIN:-}" ]; then
	make -s build
	KIDOU_BIN="$repo/build/kidou"
	export KIDOU_BIN
fi

# 2-5. tree, namespace, kidou, VM, teardown (vm_lib.py demo cleans up on
# every exit; this trap only gives the terminal back if QEMU was killed
# while it held it in raw mode)
restore_tty() {
	if [ -t 0 ]; then stty sane 2>/dev/null || true; fi
}
trap restore_tty EXIT
# shellcheck disable=SC2086
$PY tests/integration/vm_lib.py demo --firmware "$firmware" --server "$server" \
	--workdir "${WORKDIR:-/tmp/kidou-demo}" $extra
