#!/bin/sh
# make demo: start the test OAI-PMH server on 127.0.0.1 with the nur pages
# (DSpace-shaped, from a real nur.nu.edu.kz record) and a synthetic corpus,
# harvest both into ./demo/harvest.db, show the summary, the status and the
# first changes, then stop the server.
#   DEMO_URL=https://nur.nu.edu.kz/oai/request make demo   harvests a real
#   repository instead (needs the network).
set -eu
SERVER=$1
CLI=$2
DIR=demo
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
echo "== oaiharvest export --db $DB --source nur (first record)"
"$CLI" export --db "$DB" --source nur | head -n 1
echo
echo "demo: done; the database is $DB"
