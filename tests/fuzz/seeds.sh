#!/bin/sh
# Build a seed corpus from the fixtures, at fuzz time (nothing is committed).
#
#   sh tests/fuzz/seeds.sh oai  DIR	every *.xml under ../shared/fixtures
#					(when present) and tests/fixtures
#   sh tests/fuzz/seeds.sh conf DIR	conf/oaiharvest.conf and
#					tests/fuzz/conf-seeds/*.conf
#
# Run from the project root.  DIR is emptied first.  fuzz_oai reads a
# header before the document (see fuzz_oai.c), so each fixture is written
# twice: fed in one piece ("\0"), and in chunks of 1, 7 and 256 bytes
# ("\3\0\6\377").
set -eu

kind=$1
out=$2
rm -rf "$out"
mkdir -p "$out"

# A file name from a path: the path itself, flattened.
seed_name() {
	printf '%s' "$1" | sed 's|^\./||; s|^\.\./||; s|[^A-Za-z0-9._-]|_|g'
}

n=0
case "$kind" in
oai)
	dirs=tests/fixtures
	[ -d ../shared/fixtures ] && dirs="../shared/fixtures $dirs"
	# shellcheck disable=SC2086
	for f in $(find $dirs -type f -name '*.xml' | sort); do
		name=$(seed_name "$f")
		{ printf '\000'; cat "$f"; } >"$out/whole-$name"
		{ printf '\003\000\006\377'; cat "$f"; } >"$out/chunks-$name"
		n=$((n + 1))
	done
	;;
conf)
	for f in conf/oaiharvest.conf tests/fuzz/conf-seeds/*.conf; do
		[ -f "$f" ] || continue
		cp "$f" "$out/$(seed_name "$f")"
		n=$((n + 1))
	done
	;;
*)
	echo "usage: seeds.sh oai|conf DIR" >&2
	exit 2
	;;
esac
echo "seeds: $n $kind seed files in $out"
