#!/bin/sh
# Install the Debian packages oaiharvest needs to build and test, when they are
# missing.  As root: apt-get update, then apt-get install.  Otherwise print the
# exact command and fail.  Run by `make deps` (and so by `make demo`/`make check`).
set -eu

# What building needs (and so make demo); the tests add cmocka, promtool
# (Debian's prometheus package), nats-server (tests/test_nats.c runs one), a
# PostgreSQL 15 server (postgresql; the tests run private clusters) and make
# lint's clang-format and cppcheck, with --test.
PKGS="pkg-config libcurl4-openssl-dev libxml2-dev libsqlite3-dev libevent-dev \
libinih-dev zlib1g-dev libnats-dev libpq-dev ca-certificates"
TEST_PKGS="libcmocka-dev prometheus postgresql clang-format cppcheck nats-server"
case "${1:-}" in
--test)
	shift
	PKGS="$PKGS $TEST_PKGS"
	;;
--extra)
	shift
	PKGS="$PKGS $*"
	;;
esac

missing=""
for p in $PKGS; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
	echo "deps: installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing
	# promtool is what the tests use: no Prometheus server left running.
	case " $missing " in
	*" prometheus "*)
		if command -v systemctl >/dev/null 2>&1; then
			systemctl disable --now prometheus.service \
			    >/dev/null 2>&1 || true
		fi
		;;
	esac
	# The tests run a private PostgreSQL cluster of their own: not the
	# system's.
	case " $missing " in
	*" postgresql "*)
		if command -v systemctl >/dev/null 2>&1; then
			systemctl disable --now postgresql \
			    >/dev/null 2>&1 || true
		fi
		;;
	esac
else
	echo "deps: missing Debian packages:$missing" >&2
	echo "deps: run: sudo apt-get update && sudo apt-get install -y --no-install-recommends$missing" >&2
	exit 1
fi
