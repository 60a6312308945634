#!/bin/sh
# make bench-peers: other OAI-PMH harvesters on the same corpus as oaiharvest,
# in the same run, against the same pre-rendered test server (127.0.0.1 only):
#   catmandu   Catmandu::Importer::OAI (Debian libcatmandu-oai-perl):
#              catmandu convert OAI --url URL --metadataPrefix oai_dc to JSON
#   oai_pmh    HTTP::OAI's script (Debian libhttp-oai-perl):
#              oai_pmh --metadataPrefix oai_dc URL
#   oai-pmh    the npm package's CLI (build/peers/node_modules):
#              oai-pmh list-records URL -p oai_dc
#              (npm install --prefix build/peers oai-pmh; Debian npm if missing)
# Each must return every record (distinct identifiers counted in its output);
# a harvester that cannot be installed or fails is reported as such.
#   sh tests/bench/peers.sh [RECORDS] [PAGE]     (from the project root, after make)
set -eu
N=${1:-100000}
P=${2:-100}
SERVER=build/release/oaiserver
TIME=/usr/bin/time
LIMIT=3600	# seconds, per harvester
PEERDIR=build/peers
DEBS="libcatmandu-oai-perl libhttp-oai-perl"

[ -x $SERVER ] && [ -x ./oaiharvest ] && [ -x $TIME ] ||
    { echo "peers: build first (make), and install time" >&2; exit 1; }

# Installation, where it can.
missing=""
# npm (Debian: npm, with nodejs) only when it is not there at all.
command -v npm >/dev/null || DEBS="$DEBS npm"
for p in $DEBS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
	    missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" -eq 0 ]; then
		echo "peers: installing:$missing"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		    --no-install-recommends $missing >/dev/null 2>&1 ||
		    { DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null 2>&1 &&
		      DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		      --no-install-recommends $missing >/dev/null 2>&1; } ||
		    echo "peers: apt-get install$missing failed"
	else
		echo "peers: not root; to install: sudo apt-get install -y --no-install-recommends$missing"
	fi
fi
NPM_BIN=$PEERDIR/node_modules/.bin/oai-pmh
if [ ! -x $NPM_BIN ]; then
	if command -v npm >/dev/null; then
		echo "peers: npm install --prefix $PEERDIR oai-pmh"
		mkdir -p $PEERDIR
		npm install --prefix $PEERDIR --no-audit --no-fund oai-pmh \
		    >/dev/null 2>&1 || echo "peers: npm install oai-pmh failed"
	else
		echo "peers: npm is missing (Debian: npm); oai-pmh (npm) cannot be installed"
	fi
fi

DIR=$(mktemp -d "${TMPDIR:-/tmp}/oaiharvest-peers-XXXXXX")
SPID=""
cleanup() {
	if [ -n "$SPID" ]; then kill "$SPID" 2>/dev/null || true; wait "$SPID" 2>/dev/null || true; fi
	rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

$SERVER --port 0 --port-file "$DIR/port" --records "$N" --page-size "$P" \
    --deleted-every 0 --prerender >/dev/null 2>"$DIR/server.log" &
SPID=$!
i=0
while [ ! -s "$DIR/port" ]; do
	i=$((i + 1))
	if [ $i -gt 6000 ] || ! kill -0 "$SPID" 2>/dev/null; then
		echo "peers: the server did not start" >&2; exit 1
	fi
	sleep 0.1
done
URL="http://127.0.0.1:$(cat "$DIR/port")/oai"

echo "machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)," \
    "$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) memory"
echo "corpus: $N oai_dc records, $P per page, pre-rendered, $URL"
echo

time_fields() {
	awk -F': ' '
	/Elapsed \(wall clock\)/ {
		n = split($2, t, ":"); w = 0
		for (i = 1; i <= n; i++) w = w * 60 + t[i]
	}
	/User time \(seconds\)/ { u = $2 }
	/System time \(seconds\)/ { s = $2 }
	/Maximum resident set size/ { m = $2 }
	/Exit status/ { x = $2 }
	END { printf "%s %s %s\n", w, u + s, m }' "$1"
}

# run NAME CMD...: stdout to $DIR/NAME.out; a result line in $DIR/results.
run() {
	name=$1; shift
	echo "peers: $name..." >&2
	rc=0
	timeout $LIMIT $TIME -v -o "$DIR/$name.time" "$@" >"$DIR/$name.out" \
	    2>"$DIR/$name.err" || rc=$?
	if [ "$name" = oaiharvest ]; then
		got=$(sed -n 's/^harvest source=.* records=\([0-9]*\).*/\1/p' "$DIR/$name.err" | tail -1)
	else
		got=$(grep -o 'oai:oaiharvest\.test:rec/[0-9]*' "$DIR/$name.out" | sort -u | wc -l)
	fi
	[ -n "$got" ] || got=0
	set -- $(time_fields "$DIR/$name.time")
	if [ $rc -ne 0 ]; then
		echo "$name FAILED(exit:$rc) $got $1 $2 $3" >>"$DIR/results"
		echo "peers: $name failed (exit $rc):" >&2
		tail -3 "$DIR/$name.err" >&2
	elif [ "$got" -ne "$N" ]; then
		echo "$name INCOMPLETE $got $1 $2 $3" >>"$DIR/results"
	else
		echo "$name ok $got $1 $2 $3" >>"$DIR/results"
	fi
	rm -f "$DIR/$name.out" "$DIR/h.db" "$DIR/h.db-wal" "$DIR/h.db-shm"
}

: >"$DIR/results"
run oaiharvest ./oaiharvest harvest --db "$DIR/h.db" --url "$URL" --source bench
if command -v catmandu >/dev/null && perl -MCatmandu::Importer::OAI -e1 2>/dev/null; then
	run catmandu catmandu convert OAI --url "$URL" --metadataPrefix oai_dc to JSON
else
	echo "catmandu NOT-INSTALLED 0 0 0 0" >>"$DIR/results"
fi
if command -v oai_pmh >/dev/null; then
	run oai_pmh oai_pmh --metadataPrefix oai_dc "$URL"
else
	echo "oai_pmh NOT-INSTALLED 0 0 0 0" >>"$DIR/results"
fi
if [ -x $NPM_BIN ] && command -v node >/dev/null; then
	run oai-pmh-npm $NPM_BIN list-records "$URL" -p oai_dc
else
	echo "oai-pmh-npm NOT-INSTALLED 0 0 0 0" >>"$DIR/results"
fi

echo
awk -v n="$N" '
BEGIN { printf "%-12s %-22s %9s %8s %8s %8s %10s %9s\n", "harvester", "status", "records", "wall_s", "cpu_s", "rss_MB", "x_wall", "x_cpu" }
{
	if (NR == 1) { w0 = $4; c0 = $5 }
	if ($2 ~ /NOT-INSTALLED/) {
		printf "%-12s %-22s %9s %8s %8s %8s %10s %9s\n", $1, "not installed", "-", "-", "-", "-", "-", "-"
		next
	}
	xw = (w0 > 0 && $2 == "ok") ? sprintf("%.1fx", $4 / w0) : "-"
	xc = (c0 > 0 && $2 == "ok") ? sprintf("%.1fx", $5 / c0) : "-"
	printf "%-12s %-22s %9d %8.2f %8.2f %8.1f %10s %9s\n", $1, $2, $3, $4, $5, $6 / 1024, xw, xc
}' "$DIR/results"
echo
echo "records: distinct identifiers in the output (oaiharvest: its summary line), of $N"
echo "x_wall, x_cpu: the harvester's wall and CPU (user+sys) time over oaiharvest's; only for complete runs"
echo "oaiharvest stores into SQLite (with FTS); the others print records to stdout (sent to a file)"
