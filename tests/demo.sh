#!/bin/sh
# make demo: start the test OAI-PMH server on 127.0.0.1 with the nur pages
# (DSpace-shaped, from a real nur.nu.edu.kz record) and a synthetic corpus,
# harvest both into ./demo/harvest.db, show the status and the first changes,
# stop the server and end with a short summary: what is in the database, one
# record, and what to try next.  DEMO_DIR=dir puts the database elsewhere.
#   DEMO_URL=https://nur.nu.edu.kz/oai/request make demo   harvests a real
#   repository instead (needs the network).
set -eu
SERVER=$1
CLI=$2
DIR=${DEMO_DIR:-demo}
DB=$DIR/harvest.db
mkdir -p "$DIR"
rm -f "$DB" "$DB-wal" "$DB-shm" "$DIR/server.port"

if [ -n "${DEMO_URL:-}" ]; then
	echo "== harvesting $DEMO_URL into $DB"
	"$CLI" identify "$DEMO_URL" || true
	"$CLI" harvest --db "$DB" --url "$DEMO_URL" --delay 1000 -v || true
	echo "== status"; "$CLI" status --db "$DB"
	exit 0
fi

"$SERVER" --port 0 --port-file "$DIR/server.port" \
    --pages tests/fixtures/nur --records 5000 --page-size 200 \
    >"$DIR/server.log" 2>&1 &
SPID=$!
trap 'kill $SPID 2>/dev/null; wait $SPID 2>/dev/null || true' EXIT INT TERM
i=0
while [ ! -s "$DIR/server.port" ]; do
	i=$((i + 1))
	if [ $i -gt 100 ]; then echo "demo: the test server did not start" >&2; cat "$DIR/server.log" >&2; exit 1; fi
	sleep 0.1
done
PORT=$(cat "$DIR/server.port")
BASE=http://127.0.0.1:$PORT

echo "== the test OAI-PMH server listens on $BASE (nur pages at /pages, 5000 synthetic records at /oai)"
echo
echo "== oaiharvest identify $BASE/pages"
"$CLI" identify "$BASE/pages"
echo
echo "== oaiharvest harvest --db $DB --url $BASE/pages --source nur"
"$CLI" harvest --db "$DB" --url "$BASE/pages" --source nur
echo "== oaiharvest harvest --db $DB --url $BASE/oai --source synthetic"
"$CLI" harvest --db "$DB" --url "$BASE/oai" --source synthetic
echo "== the same again: incremental, nothing new"
"$CLI" harvest --db "$DB" --url "$BASE/oai" --source synthetic
echo
echo "== oaiharvest status --db $DB"
"$CLI" status --db "$DB"
echo
echo "== oaiharvest changes --db $DB --limit 5"
"$CLI" changes --db "$DB" --limit 5
echo

# The summary.  One record's title and creator, read from export's JSON line
# (the first value of each; \" and \\ are the only escapes in it).
first() {
	sed -n 's/.*"'"$1"'":\["\(\([^"\\]\|\\.\)*\)".*/\1/p' |
	    sed 's/\\\(["\\]\)/\1/g' | head -n 1
}
REC=$("$CLI" export --db "$DB" --source nur | head -n 1)
TITLE=$(printf '%s\n' "$REC" | first title)
CREATOR=$(printf '%s\n' "$REC" | first creator)
ID=$(printf '%s\n' "$REC" | sed -n 's/.*"identifier":"\([^"]*\)".*/\1/p')
count() {
	"$CLI" status --db "$DB" | awk -v s="$1" '
	    $1 == "source" { cur = $2 }
	    cur == s && $1 == "records" { $1 = ""; $2 = ""; sub(/^ +/, ""); print; exit }'
}

echo "== summary"
echo "  nur         $(count nur)  (DSpace-shaped pages of nur.nu.edu.kz)"
echo "  synthetic   $(count synthetic)  (the second run found nothing new)"
echo "  a record    $ID"
echo "              \"$TITLE\""
echo "              by $CREATOR"
echo "  database    $DB (SQLite: records, Dublin Core values, the change log)"
echo "  try next    ./oaiharvest export --db $DB --source nur"
echo "              ./oaiharvest search --db $DB --source nur leadership"
echo "              ./oaiharvest changes --db $DB --since 5"
echo "              DEMO_URL=https://nur.nu.edu.kz/oai/request make demo  (the real repository)"
