#!/bin/sh
# Run a libFuzzer binary once over every file of a seed directory (no
# mutation, nothing written anywhere). Usage: replay.sh FUZZER DIR
set -eu
fuzzer=$1
dir=$2
[ -d "$dir" ] || { echo "replay: no seed directory $dir" >&2; exit 1; }
set -- "$dir"/*
[ -e "$1" ] || { echo "replay: $dir is empty" >&2; exit 1; }
exec "$fuzzer" "$@"
