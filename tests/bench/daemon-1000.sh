#!/bin/sh
# The daemon at scale: 1,000 sources on ten test servers (ten hosts), each
# with an interval of one minute, harvested by one oaiharvestd.  Waits until
# every source has completed a run, then samples the daemon's CPU time every
# second for WINDOW seconds and reports the CPU used in the seconds when no
# run was active ("between runs") and overall, and the peak RSS.
#   sh tests/bench/daemon-1000.sh [WINDOW]     (from the project root, after make)
set -eu
WINDOW=${1:-180}
N=1000
HOSTS=10
DIR=$(mktemp -d /tmp/oaiharvest-bench-XXXXXX)
PIDS=""
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

h=0
while [ $h -lt $HOSTS ]; do
	build/release/oaiserver --port 0 --port-file "$DIR/s$h.port" \
	    --records 2000 --sets 100 --page-size 100 >/dev/null 2>&1 &
	PIDS="$PIDS $!"
	h=$((h + 1))
done
h=0
while [ $h -lt $HOSTS ]; do
	i=0
	while [ ! -s "$DIR/s$h.port" ]; do
		i=$((i + 1)); [ $i -gt 100 ] && { echo "server $h did not start" >&2; exit 1; }
		sleep 0.1
	done
	h=$((h + 1))
done

{
	printf '[global]\ndatabase = %s/bench.db\ndelay = 10ms\nmax_concurrent = 100\n\n' "$DIR"
	i=0
	while [ $i -lt $N ]; do
		port=$(cat "$DIR/s$((i % HOSTS)).port")
		printf '[source s%d]\nurl = http://127.0.0.1:%s/oai\nset = col_%d\ninterval = 1m\n\n' \
		    $i "$port" $(( (i / HOSTS) % 100 ))
		i=$((i + 1))
	done
} > "$DIR/bench.conf"

./oaiharvestd -f -c "$DIR/bench.conf" 2>"$DIR/d.log" &
DPID=$!
PIDS="$DPID $PIDS"
t0=$(date +%s)
while :; do
	done_n=$(grep 'event=run_done' "$DIR/d.log" | grep 'status=ok' |
	    sed 's/.*source="\([^"]*\)".*/\1/' | sort -u | wc -l)
	[ "$done_n" -ge $N ] && break
	[ $(( $(date +%s) - t0 )) -gt 600 ] && { echo "only $done_n of $N sources harvested in 600 s" >&2; exit 1; }
	sleep 1
done
first=$(( $(date +%s) - t0 ))
echo "all $N sources harvested once in ${first} s"

TCK=$(getconf CLK_TCK)
: > "$DIR/samples"
i=0
while [ $i -lt "$WINDOW" ]; do
	# utime + stime (fields 14 and 15 of /proc/PID/stat) and the wall time
	set -- $(sed 's/^.*) //' /proc/$DPID/stat)
	echo "$(date +%s) $(( ${12} + ${13} ))" >> "$DIR/samples"
	sleep 1
	i=$((i + 1))
done
HWM=$(awk '/VmHWM/ {print $2}' /proc/$DPID/status)
RUNS=$(grep -c 'event=run_done' "$DIR/d.log")
FAILS=$(grep 'event=run_done' "$DIR/d.log" | grep -c 'status=failed' || true)

# Seconds in which a run started, made progress or ended are "busy".
grep -E 'event=(run_start|run_done|identify|list_start|list_done)' "$DIR/d.log" |
    cut -c1-20 | sort -u > "$DIR/busy"
awk -v tck="$TCK" '
	FNR == NR { busy[$1] = 1; next }
	{
		if (have) {
			d = $2 - prev
			ts = strftime("%Y-%m-%dT%H:%M:%SZ", pt, 1)
			ts2 = strftime("%Y-%m-%dT%H:%M:%SZ", $1, 1)
			tot += d; secs += $1 - pt
			if (!(ts in busy) && !(ts2 in busy)) { idle += d; isecs += $1 - pt }
		}
		prev = $2; pt = $1; have = 1
	}
	END {
		printf "window: %d s, daemon CPU %.2f%% overall\n", secs, 100 * tot / tck / secs
		if (isecs > 0)
			printf "between runs: %d idle seconds, daemon CPU %.3f%%\n", isecs, 100 * idle / tck / isecs
	}' "$DIR/busy" "$DIR/samples"
echo "runs completed: $RUNS (failed: $FAILS); peak RSS: $HWM kB"
