#!/bin/sh
# Install what kidou needs from Debian. Usage: scripts/setup.sh [build|test|bench|all]
# Idempotent; refreshes the package index only when an install needs it.
set -eu
what=${1:-test}

build_pkgs="gcc meson ninja-build pkg-config libinih-dev libsqlite3-dev libmicrohttpd-dev libjansson-dev libseccomp-dev libcmocka-dev libcurl4-openssl-dev libpq-dev"
test_pkgs="clang libclang-rt-14-dev python3 python3-pytest python3-scapy curl tftp-hpa atftp iproute2 nftables procps systemd util-linux sqlite3 busybox isc-dhcp-client dhcpcd-base dnsmasq-base ipxe qemu-system-x86 ipxe-qemu pxelinux syslinux-common syslinux-efi ovmf shim-signed grub-efi-amd64-signed linux-image-cloud-amd64 debhelper dpkg-dev lintian man-db groff-base chromium chromium-driver python3-selenium postgresql-15"
bench_pkgs="tftpd-hpa dnsmasq-base kea-dhcp4-server kea-admin nginx-light wrk"

case "$what" in
build) pkgs="$build_pkgs" ;;
test) pkgs="$build_pkgs $test_pkgs" ;;
bench) pkgs="$build_pkgs $test_pkgs $bench_pkgs" ;;
all) pkgs="$build_pkgs $test_pkgs $bench_pkgs" ;;
*) echo "usage: $0 [build|test|bench|all]" >&2; exit 2 ;;
esac

missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "setup: missing packages:$missing (run as root to install them)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Packages that ship daemons (tftpd-hpa, atftpd) must not start them on
# this machine's port 69: policy-rc.d refuses service starts during install.
policy=/usr/sbin/policy-rc.d
made_policy=""
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' > "$policy"
	chmod +x "$policy"
	made_policy=1
fi
install() { apt-get install -y --no-install-recommends $missing; }
install || { apt-get update && install; }
[ -n "$made_policy" ] && rm -f "$policy"
exit 0
