#!/bin/bash
# make bench-pg: the PostgreSQL backend's end-to-end harvest throughput and
# the harvester's peak RSS, against the test server with pre-rendered pages
# (the corpus of make bench), into a private PostgreSQL 15 cluster started
# here (initdb in a temporary directory, 127.0.0.1, as nobody when run as
# root; fsync on, synchronous_commit off: a commit waits for no disk, as
# SQLite's synchronous=NORMAL in WAL mode).
#
#   bash tests/bench/bench-pg.sh [RECORDS] [PAGE]    (from the project root, after make)
# Targets (issue 17) are printed PASS/FAIL; the exit status says only
# whether the benchmark itself ran (a cluster that does not start, a
# harvest that fails or falls short: 1).  HARVEST: the binary (./oaiharvest);
# BENCH_PG_ROW: a file to write make bench's table row to (bench.sh).
set -eu
RECORDS=${1:-100000}
PAGE=${2:-100}
SERVER=build/release/oaiserver
HARVEST=${HARVEST:-./oaiharvest}
TIME=/usr/bin/time
PGBIN=/usr/lib/postgresql/15/bin
TARGET_RPS=15000
TARGET_RSS_MB=32

for f in $SERVER $HARVEST $TIME $PGBIN/initdb $PGBIN/postgres $PGBIN/psql; do
	[ -x "$f" ] || { echo "bench-pg: $f is missing" >&2; exit 1; }
done

DIR=$(mktemp -d "${TMPDIR:-/tmp}/oaiharvest-benchpg-XXXXXX")
SPID=""
PGPID=""
AS=""
if [ "$(id -u)" -eq 0 ]; then
	chown nobody "$DIR"
	AS="setpriv --reuid=nobody --regid=nogroup --clear-groups"
fi
cleanup() {
	if [ -n "$SPID" ]; then kill "$SPID" 2>/dev/null || true; wait "$SPID" 2>/dev/null || true; fi
	if [ -n "$PGPID" ]; then kill -INT "$PGPID" 2>/dev/null || true; wait "$PGPID" 2>/dev/null || true; fi
	rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A free port of BENCH_PG_PORT..+99 (default 18100) for the cluster.
PGPORT=""
PORT0=${BENCH_PG_PORT:-18100}
for p in $(seq "$PORT0" $((PORT0 + 99))); do
	if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then PGPORT=$p; break; fi
done 2>/dev/null
[ -n "$PGPORT" ] || { echo "bench-pg: no free port" >&2; exit 1; }
$AS $PGBIN/initdb -D "$DIR/data" -U oaiharvest --auth=trust -E UTF8 \
    --locale=C -N >"$DIR/initdb.log" 2>&1 ||
    { cat "$DIR/initdb.log" >&2; exit 1; }
$AS $PGBIN/postgres -D "$DIR/data" -p "$PGPORT" -c listen_addresses=127.0.0.1 \
    -c unix_socket_directories="$DIR" -c synchronous_commit=off \
    >"$DIR/postgres.log" 2>&1 &
PGPID=$!
i=0
until $PGBIN/pg_isready -q -h 127.0.0.1 -p "$PGPORT"; do
	i=$((i + 1))
	if [ $i -gt 300 ] || ! kill -0 "$PGPID" 2>/dev/null; then
		echo "bench-pg: PostgreSQL did not start" >&2
		cat "$DIR/postgres.log" >&2
		exit 1
	fi
	sleep 0.1
done
DB="postgresql://oaiharvest@127.0.0.1:$PGPORT/postgres"

$SERVER --port 0 --port-file "$DIR/port" --records "$RECORDS" \
    --page-size "$PAGE" --deleted-every 0 --prerender >/dev/null \
    2>"$DIR/server.log" &
SPID=$!
i=0
while [ ! -s "$DIR/port" ]; do
	i=$((i + 1))
	if [ $i -gt 6000 ] || ! kill -0 "$SPID" 2>/dev/null; then
		echo "bench-pg: the server did not start" >&2
		exit 1
	fi
	sleep 0.1
done
URL="http://127.0.0.1:$(cat "$DIR/port")/oai"

# PostgreSQL's CPU: the postmaster's own and its reaped backends' (ticks).
pgcpu() { awk '{ print $14 + $15 + $16 + $17 }' "/proc/$PGPID/stat"; }
PG0=$(pgcpu)
$TIME -v $HARVEST harvest --db "$DB" --url "$URL" --source bench \
    >"$DIR/out" 2>"$DIR/time" || { cat "$DIR/time" >&2; exit 1; }
sleep 0.5
PGCPU=$(awk -v a="$PG0" -v b="$(pgcpu)" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "%.2f", (b - a) / hz }')
SUM=$(grep '^harvest source=' "$DIR/time" | tail -1)
GOT=$(printf '%s\n' "$SUM" | sed -n 's/.* records=\([0-9]*\).*/\1/p')
BYTES=$(printf '%s\n' "$SUM" | sed -n 's/.* bytes=\([0-9]*\).*/\1/p')
if [ "$GOT" != "$RECORDS" ]; then
	echo "bench-pg: harvested ${GOT:-no} records of $RECORDS" >&2
	exit 1
fi
DBSIZE=$($PGBIN/psql -X -q -At -h 127.0.0.1 -p "$PGPORT" -U oaiharvest \
    -d postgres -c "SELECT pg_database_size('postgres')") ||
    { echo "bench-pg: no database size" >&2; exit 1; }
# The search index holds every record once the harvest has ended (the
# trailing index catches up at the writer's close), none owed.
FTS=$($PGBIN/psql -X -q -At -h 127.0.0.1 -p "$PGPORT" -U oaiharvest \
    -d postgres -c "SELECT (SELECT count(*) FROM record_fts) || ' ' ||
    (SELECT count(*) FROM fts_pending)") ||
    { echo "bench-pg: no search index count" >&2; exit 1; }
if [ "$FTS" != "$RECORDS 0" ]; then
	echo "bench-pg: search index: $FTS (indexed, owed) of $RECORDS" >&2
	exit 1
fi
awk -F': ' -v n="$RECORDS" -v page="$PAGE" -v trps=$TARGET_RPS \
    -v trss=$TARGET_RSS_MB -v pgcpu="$PGCPU" '
/Elapsed \(wall clock\)/ {
	k = split($2, t, ":"); w = 0
	for (i = 1; i <= k; i++) w = w * 60 + t[i]
}
/User time \(seconds\)/ { u = $2 }
/System time \(seconds\)/ { s = $2 }
/Maximum resident set size/ { m = $2 }
END {
	rps = w > 0 ? n / w : 0
	printf "postgresql %d records at %d a page: %.2f s wall, %.2f s cpu " \
	    "(harvester), %.0f records/s, peak RSS %.1f MB\n", n, page, w, \
	    u + s, rps, m / 1024
	printf "  postgresql cpu %.2f s (%.0f us a record)\n", pgcpu, \
	    pgcpu * 1e6 / n
	okr = (rps >= trps) ? "PASS" : "FAIL"
	okm = (m / 1024 <= trss) ? "PASS" : "FAIL"
	printf "  %s records/s >= %d\n", okr, trps
	printf "  %s peak RSS <= %d MB\n", okm, trss
}' "$DIR/time"
# make bench's table row (bench.sh): its columns, NA where SQLite's alone.
if [ -n "${BENCH_PG_ROW:-}" ]; then
	awk -F': ' -v n="$RECORDS" -v page="$PAGE" -v b="${BYTES:-0}" \
	    -v d="$DBSIZE" '
	/Elapsed \(wall clock\)/ {
		k = split($2, t, ":"); w = 0
		for (i = 1; i <= k; i++) w = w * 60 + t[i]
	}
	/User time \(seconds\)/ { u = $2 }
	/System time \(seconds\)/ { s = $2 }
	/Maximum resident set size/ { m = $2 }
	END {
		if (w <= 0) w = 0.001
		printf "%d %d %.0f %.1f %.2f %.1f %.0f %.2f NA NA NA %.2f NA NA NA NA postgresql\n",
		    n, page, n / w, b / 1e6 / w, u + s, m / 1024, d / n,
		    (b > 0 ? d / b : 0), w
	}' "$DIR/time" >"$BENCH_PG_ROW"
fi
