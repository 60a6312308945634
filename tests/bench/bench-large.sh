#!/bin/sh
# make bench-large: end-to-end throughput at 100 records a page (real
# repositories' page size) as the store grows, 1,000,000 and 10,000,000
# records by default, each harvested RUNS times into a fresh database; the
# medians, against the floor (the same pages fetched with libcurl to nowhere,
# then parsed by xmllint --stream), with peak RSS, database size, a
# re-harvest with nothing new and, for sizes the test server can hold
# (BENCH_BASE_MAX), a re-harvest with 1% of the records changed: the first
# run's database harvests again from the test server on the same port after
# /control/update of every 100th record (the server renders that list live:
# its time is in the wall seconds; the harvester's own CPU is given apart).
#
#   sh tests/bench/bench-large.sh [SIZES] [PAGE] [RUNS]   (from the project root, after make)
#
# The test server cannot pre-render 10,000,000 records in memory (28 GB of
# XML), so the list is made on disk: the test server pre-renders at most
# 1,000,000 records, bench-walk saves them, and bench-pages copies them as
# many times as the size needs (other identifiers, renumbered resumption
# tokens) and serves the files from the disk (the kernel copies them: next
# to no CPU beside the harvester).  A size must be a multiple of 1,000,000
# above it.
# Needs, for 10,000,000 records: about 28 GB for the list and 30 GB for the
# database (one at a time, deleted after each run), about 35-45 minutes
# on the 2-core VM (three harvests of 6-9 minutes, the floor 4-5, making
# the list 3-5); for 1,000,000: 6 GB, 5-8 minutes.  The list goes under
# BENCH_DIR (default /var/tmp), removed at the end.  Network: 127.0.0.1
# only.  Targets are printed PASS/FAIL; the exit status says only whether
# the benchmark itself ran.
set -eu
SIZES=${1:-"1000000 10000000"}
PAGE=${2:-100}
RUNS=${3:-3}
BASE_MAX=${BENCH_BASE_MAX:-1000000}
SERVER=build/release/oaiserver
HARVEST=${HARVEST:-./oaiharvest}
WALK=${WALK:-build/release/bench/bench-walk}
PAGES=${PAGES:-build/release/bench/bench-pages}
TIME=/usr/bin/time
TARGET_RPS=40000
TARGET_FLOOR=1.5
TARGET_RSS_MB=32
TARGET_DB_RATIO=1.5
TARGET_FLAT=0.10
TARGET_REHARVEST_S=0.1
TARGET_CHANGED_S=2

for f in $SERVER $HARVEST $WALK $PAGES $TIME; do
	[ -x "$f" ] || { echo "bench-large: $f is missing (make bench-large builds it)" >&2; exit 1; }
done
for c in xmllint sqlite3 curl; do
	command -v $c >/dev/null || { echo "bench-large: $c is missing" >&2; exit 1; }
done

DIR=$(mktemp -d "${BENCH_DIR:-/var/tmp}/oaiharvest-large-XXXXXX")
SPID=""
cleanup() {
	if [ -n "$SPID" ]; then kill "$SPID" 2>/dev/null || true; wait "$SPID" 2>/dev/null || true; fi
	rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_port() {	# pid portfile
	i=0
	while [ ! -s "$2" ]; do
		i=$((i + 1))
		if [ $i -gt 6000 ] || ! kill -0 "$1" 2>/dev/null; then
			echo "bench-large: the server did not start" >&2
			exit 1
		fi
		sleep 0.1
	done
	PORT=$(cat "$2")
}

stop() {
	kill "$SPID" 2>/dev/null || true
	wait "$SPID" 2>/dev/null || true
	SPID=""
}

time_fields() {
	awk -F': ' '
	/Elapsed \(wall clock\)/ {
		n = split($2, t, ":"); w = 0
		for (i = 1; i <= n; i++) w = w * 60 + t[i]
	}
	/User time \(seconds\)/ { u = $2 }
	/System time \(seconds\)/ { s = $2 }
	/Maximum resident set size/ { m = $2 }
	END { printf "%s %s %s\n", w, u + s, m }' "$1"
}

median() {	# values...
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
	    print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo "machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)," \
    "$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) memory;" \
    "$(uname -sr); $(sqlite3 --version | awk '{ print "sqlite3 CLI " $1 }')"
echo "oaiharvest: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo '+dirty')"
echo "list and databases under $DIR; $(df -h "$DIR" | awk 'NR == 2 { print $4 }') free"
echo

printf '%s\n' "records per_page records_s MB_s cpu_s rss_MB db_xml nofts_xml fts_xml wall_s fetch_s parse_s floor_s x_floor reharvest_s changed_s changed_cpu walls" > "$DIR/table"
for n in $SIZES; do
	base=$n
	[ "$base" -gt $BASE_MAX ] && base=$BASE_MAX
	if [ $((n % base)) -ne 0 ]; then
		echo "bench-large: $n is not a multiple of $base" >&2
		exit 1
	fi
	copies=$((n / base))

	echo "run: $n records, $PAGE per page: the test server pre-renders $base..." >&2
	rm -f "$DIR/port"
	$SERVER --port 0 --port-file "$DIR/port" --records "$base" --page-size "$PAGE" \
	    --deleted-every 0 --prerender >/dev/null 2>"$DIR/server.log" &
	SPID=$!
	wait_port $SPID "$DIR/port"
	rm -rf "$DIR/base" "$DIR/list"
	mkdir -p "$DIR/base"
	$WALK "http://127.0.0.1:$PORT/oai" "$DIR/base" >/dev/null
	curl -sf "http://127.0.0.1:$PORT/oai?verb=Identify" >"$DIR/base/identify.xml"
	stop
	if [ $copies -gt 1 ]; then
		echo "run: $n: making the list ($copies copies)..." >&2
		mkdir -p "$DIR/list"
		$PAGES make "$DIR/base" "$DIR/list" $copies
		rm -rf "$DIR/base"
	else
		mv "$DIR/base" "$DIR/list"
	fi
	rm -f "$DIR/port"
	$PAGES "$DIR/list" "$DIR/port" &
	SPID=$!
	wait_port $SPID "$DIR/port"
	URL="http://127.0.0.1:$PORT/oai"

	echo "run: $n: the floor" >&2
	fetch=$($WALK "$URL" | sed -n 's/.* seconds=\([0-9.]*\).*/\1/p')
	$TIME -f '%e' -o "$DIR/xtime" sh -c "find '$DIR/list' -name 'p*.xml' | sort | xargs xmllint --stream --noout"
	parse=$(tail -1 "$DIR/xtime")

	walls="" cpus="" rsss="" re=NA dbsize=0 fts=0 bytes=0
	r=0
	while [ $r -lt "$RUNS" ]; do
		r=$((r + 1))
		db="$DIR/h.db"
		rm -f "$db" "$db-wal" "$db-shm"
		echo "run: $n: harvest $r of $RUNS" >&2
		if ! $TIME -v -o "$DIR/time" $HARVEST harvest --db "$db" --url "$URL" \
		    --source bench 2>"$DIR/harvest.err"; then
			echo "bench-large: the harvest failed:" >&2
			tail -5 "$DIR/harvest.err" >&2
			exit 1
		fi
		sumline=$(grep '^harvest source=' "$DIR/harvest.err" | tail -1)
		records=$(printf '%s\n' "$sumline" | sed -n 's/.* records=\([0-9]*\).*/\1/p')
		bytes=$(printf '%s\n' "$sumline" | sed -n 's/.* bytes=\([0-9]*\).*/\1/p')
		[ "$records" = "$n" ] || echo "bench-large: harvested $records records of $n" >&2
		set -- $(time_fields "$DIR/time")
		walls="$walls $1" cpus="$cpus $2" rsss="$rsss $3"
		if [ $r -eq 1 ]; then
			dbsize=$(cat "$db" "$db-wal" | wc -c)
			fts=$(sqlite3 "$db" "SELECT coalesce(sum(pgsize),0) FROM dbstat WHERE name LIKE 'record_fts%'")
			$TIME -f '%e' -o "$DIR/rtime" $HARVEST harvest --db "$db" --url "$URL" \
			    --source bench 2>"$DIR/reharvest.err" ||
			    { echo "bench-large: the re-harvest failed" >&2; tail -3 "$DIR/reharvest.err" >&2; exit 1; }
			re=$(tail -1 "$DIR/rtime")
			if [ $copies -eq 1 ]; then
				# Kept for the 1% changed re-harvest below.
				for x in "" -wal -shm; do
					[ ! -e "$db$x" ] || mv "$db$x" "$DIR/keep.db$x"
				done
			fi
		fi
		rm -f "$db" "$db-wal" "$db-shm"
		echo "run: $n: $sumline" >&2
	done
	stop
	rm -rf "$DIR/list"

	ch=NA chcpu=NA
	if [ -e "$DIR/keep.db" ]; then
		changed=$((n / 100))
		echo "run: $n: the test server on port $PORT, $changed records changed" >&2
		rm -f "$DIR/port"
		$SERVER --port "$PORT" --port-file "$DIR/port" --records "$base" \
		    --page-size "$PAGE" --deleted-every 0 >/dev/null 2>"$DIR/server.log" &
		SPID=$!
		wait_port $SPID "$DIR/port"
		i=1
		: >"$DIR/updates"
		while [ $i -le $n ]; do
			echo "url = \"http://127.0.0.1:$PORT/control/update?id=$i\"" >>"$DIR/updates"
			i=$((i + 100))
		done
		curl -sf -X POST -K "$DIR/updates" >/dev/null ||
		    { echo "bench-large: /control/update failed" >&2; exit 1; }
		if ! $TIME -v -o "$DIR/ctime" $HARVEST harvest --db "$DIR/keep.db" \
		    --url "$URL" --source bench 2>"$DIR/changed.err"; then
			echo "bench-large: the 1% changed re-harvest failed:" >&2
			tail -5 "$DIR/changed.err" >&2
			exit 1
		fi
		sumline=$(grep '^harvest source=' "$DIR/changed.err" | tail -1)
		echo "run: $n: 1% changed: $sumline" >&2
		upd=$(printf '%s\n' "$sumline" | sed -n 's/.* updated=\([0-9]*\).*/\1/p')
		[ "$upd" = "$changed" ] ||
		    echo "bench-large: the re-harvest updated $upd records of $changed" >&2
		set -- $(time_fields "$DIR/ctime")
		ch=$1 chcpu=$2
		stop
		rm -f "$DIR/keep.db" "$DIR/keep.db-wal" "$DIR/keep.db-shm"
	fi

	wall=$(median $walls) cpu=$(median $cpus) rss=$(median $rsss)
	awk -v n="$n" -v p="$PAGE" -v b="$bytes" -v w="$wall" -v c="$cpu" \
	    -v r="$rss" -v d="$dbsize" -v f="$fts" -v fe="$fetch" -v pa="$parse" \
	    -v re="$re" -v ch="$ch" -v cc="$chcpu" \
	    -v ws="$(echo $walls | tr ' ' ',')" '
	BEGIN {
		floor = fe + pa
		printf "%d %d %.0f %.1f %.2f %.1f %.2f %.2f %.2f %.2f %.2f %.2f %.2f %.2f %s %s %s %s\n",
		    n, p, n / w, b / 1e6 / w, c, r / 1024, d / b, (d - f) / b, f / b,
		    w, fe, pa, floor, w / floor, re, ch, cc, ws
	}' >> "$DIR/table"
done

echo
if command -v column >/dev/null; then column -t "$DIR/table"; else cat "$DIR/table"; fi
echo
echo "medians of $RUNS harvests, each into a fresh database: records_s, MB_s over the wall time;"
echo "cpu_s user+sys; rss_MB peak RSS; db_xml the database (+ WAL) over the XML bytes, nofts_xml"
echo "without the full-text index (record_fts*), fts_xml the index (first run); floor_s = fetch_s"
echo "(libcurl, one connection, bytes discarded) + parse_s (xmllint --stream); x_floor = wall_s /"
echo "floor_s; reharvest_s: the same harvest again, nothing new (first run); changed_s and"
echo "changed_cpu: the first run's database harvested again with 1% of the records changed (wall"
echo "seconds with the test server rendering them, the harvester's CPU seconds); walls: every run"
echo

awk -v rps=$TARGET_RPS -v xf=$TARGET_FLOOR -v rss=$TARGET_RSS_MB -v dbx=$TARGET_DB_RATIO \
    -v flat=$TARGET_FLAT -v rh=$TARGET_REHARVEST_S -v ct=$TARGET_CHANGED_S '
function verdict(ok) { return ok ? "PASS" : "FAIL" }
NR == 1 { next }
{
	printf "%-16s >= %d records/s: %s (%s)   within %gx of the floor: %s (%sx)   RSS <= %d MB: %s (%s)   db without FTS <= %gx XML: %s (%sx)   re-harvest < %g s: %s (%s)\n",
	    $1 "/" $2, rps, verdict($3 >= rps), $3, xf, verdict($14 <= xf), $14,
	    rss, verdict($6 <= rss), $6, dbx, verdict($8 <= dbx), $8, rh,
	    verdict($15 != "NA" && $15 < rh), $15
	if ($16 != "NA")
		printf "%-16s 1%% changed < %g s: %s (%s s wall, %s CPU s)\n", $1 "/" $2, ct,
		    verdict($16 < ct), $16, $17
	if (first == "") first = $3
	else printf "%-16s records/s within %d%% of %s: %s (%+.1f%%)\n", $1 "/" $2,
	    flat * 100, first, verdict($3 >= first * (1 - flat)), ($3 / first - 1) * 100
}' "$DIR/table"
