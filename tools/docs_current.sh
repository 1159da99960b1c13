#!/bin/sh
# The documents generated from the settings table (src/config.c), checked
# against the checked-in copies, or (with --update) rewritten:
#   tools/docs_current.sh DOCGEN SRCDIR [--update]
# A meson test runs it without --update: it fails when docs/kidou.ini or
# docs/configuration.md differ from what the table generates, with the
# diff and the command that brings them up to date.
set -eu
docgen=$1 src=$2 mode=${3:-check}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$docgen" ini > "$tmp/kidou.ini"
"$docgen" markdown "$src/tools/configuration.md.in" > "$tmp/configuration.md"
status=0
for f in kidou.ini configuration.md; do
	if [ "$mode" = --update ]; then
		cp "$tmp/$f" "$src/docs/$f"
	elif ! diff -u "$src/docs/$f" "$tmp/$f"; then
		echo "docs/$f differs from the settings table: run 'ninja -C build update-docs'" >&2
		status=1
	fi
done
exit $status
