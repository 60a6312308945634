# Benchmarks (included by the Makefile).
#
#   make bench         throughput, memory and size against the pre-rendered test
#                      server, with the floor (libcurl fetch + xmllint --stream)
#                      BENCH_SIZES="100000" BENCH_PAGES="100 10000"
#                      BENCH_EXTRA="1000000/10000" (more SIZE/PAGE runs; "" for none)
#   make bench-peers   other harvesters on the same corpus (installs them as root)
#                      PEERS_RECORDS=100000 PEERS_PAGE=100
#   make bench-daemon  tests/bench/daemon-1000.sh (BENCH_WINDOW=180 seconds)
#   make bench-pg      the PostgreSQL backend (tests/bench/bench-pg.sh):
#                      BENCH_PG_RECORDS=100000 BENCH_PG_PAGE=100

BENCH_SIZES	?= 100000
BENCH_PAGES	?= 100 10000
BENCH_EXTRA	?= 1000000/10000
BENCH_WINDOW	?= 180
PEERS_RECORDS	?= 100000
PEERS_PAGE	?= 100
BENCH_PG_RECORDS ?= 100000
BENCH_PG_PAGE	?= 100
# Debian packages the benchmarks use (beyond tools/deps.sh's own).
BENCH_DEBS	= time libxml2-utils sqlite3

.PHONY: bench bench-peers bench-daemon bench-deps bench-pg

bench-deps:
	@sh tools/deps.sh --extra $(BENCH_DEBS)

$(REL)/bench/bench-walk: tests/bench/walk.c
	@mkdir -p $(dir $@)
	$(CC) $(REL_CFLAGS) $(PKG_CFLAGS) -o $@ $< $(PKG_LIBS)

bench: bench-deps all $(REL)/bench/bench-walk
	@WALK=$(REL)/bench/bench-walk sh tests/bench/bench.sh "$(BENCH_SIZES)" \
	    "$(BENCH_PAGES)" "$(BENCH_EXTRA)"

bench-peers: bench-deps all
	@sh tests/bench/peers.sh $(PEERS_RECORDS) $(PEERS_PAGE)

bench-daemon: all
	@sh tests/bench/daemon-1000.sh $(BENCH_WINDOW)

bench-pg: all
	@bash tests/bench/bench-pg.sh $(BENCH_PG_RECORDS) $(BENCH_PG_PAGE)
