#!/bin/sh
# Run every libFuzzer target for SECONDS each, starting from its seed corpus.
#
#   tests/fuzz/run.sh BUILD_DIR SECONDS
#   FUZZ_TARGETS="fuzz_tftp_wire" tests/fuzz/run.sh BUILD_DIR SECONDS
#
# The seeds are copied into a temporary directory first, so the corpus that
# libFuzzer grows never lands in the source tree. Crash inputs are kept in
# BUILD_DIR/fuzz-artifacts/TARGET/; the script exits non-zero if any target
# crashed (or could not run), after running all of them.
set -u

if [ $# -ne 2 ]; then
	echo "usage: $0 BUILD_DIR SECONDS" >&2
	exit 2
fi
build=$1
seconds=$2
case "$seconds" in
''|*[!0-9]*) echo "run.sh: SECONDS must be a whole number" >&2; exit 2 ;;
esac

here=$(cd "$(dirname "$0")" && pwd)
# FUZZ_TARGETS (space-separated) runs a subset.
targets=${FUZZ_TARGETS:-"fuzz_tftp_wire fuzz_path fuzz_tftp_session fuzz_netascii fuzz_dhcp_wire fuzz_dhcp_server fuzz_ndp_wire fuzz_lease_store fuzz_api_route fuzz_next_boot fuzz_api_hosts fuzz_page fuzz_pe_sig"}
work=$(mktemp -d "${TMPDIR:-/tmp}/kidou-fuzz.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT INT TERM
failed=""

# Largest input each target is fed: a datagram, a long path, an event list.
# DHCP: past a jumbo frame, and past the decoder's 4096 bytes of options.
max_len() {
	case "$1" in
	fuzz_tftp_wire) echo 2048 ;;
	fuzz_path) echo 4200 ;;
	fuzz_dhcp_wire|fuzz_dhcp_server) echo 9000 ;;
	fuzz_ndp_wire) echo 1500 ;;  # one Ethernet frame
	fuzz_netascii) echo 70000 ;;  # past a span of tiny blocks and a 64K block
	fuzz_lease_store) echo 512 ;;  # 256 steps
	fuzz_api_route) echo 600 ;;  # past API_PATH_MAX and a token
	fuzz_next_boot|fuzz_api_hosts) echo 4200 ;;  # past the API's 4 KiB body
	fuzz_page) echo 300 ;;  # past the page's names
	fuzz_pe_sig) echo 4200 ;;  # past PE_SIG_HEAD
	*) echo 4096 ;;
	esac
}

for t in $targets; do
	bin=$build/tests/fuzz/$t
	seeds=$here/corpus/$t
	artifacts=$(cd "$build" && pwd)/fuzz-artifacts/$t
	if [ ! -x "$bin" ]; then
		echo "run.sh: $bin missing (configure with CC=clang -Dfuzz=true)" >&2
		failed="$failed $t"
		continue
	fi
	if [ ! -d "$seeds" ]; then
		echo "run.sh: no seed corpus $seeds" >&2
		failed="$failed $t"
		continue
	fi
	mkdir -p "$work/$t" "$artifacts"
	cp "$seeds"/* "$work/$t/"
	echo "== $t: ${seconds}s from $(ls "$seeds" | wc -l) seeds"
	# -artifact_prefix keeps crash-* files out of the working directory.
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
	UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
	"$bin" -max_total_time="$seconds" -max_len="$(max_len "$t")" \
		-timeout=10 -print_final_stats=1 \
		-artifact_prefix="$artifacts/" "$work/$t" \
		>"$work/$t.log" 2>&1
	rc=$?
	tail -n 12 "$work/$t.log"
	if [ $rc -ne 0 ]; then
		echo "== $t FAILED (exit $rc); full log follows" >&2
		grep -v '^#[0-9]' "$work/$t.log" | tail -n 60 >&2
		echo "== reproduce: $bin $artifacts/<crash file>" >&2
		failed="$failed $t"
	else
		echo "== $t ok"
	fi
done

if [ -n "$failed" ]; then
	echo "fuzzing found problems in:$failed" >&2
	exit 1
fi
echo "all fuzz targets ran ${seconds}s without a crash"
