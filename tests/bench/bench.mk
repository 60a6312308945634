# Benchmarks (included by the Makefile).
#
#   make bench         throughput, memory and size against the pre-rendered test
#                      server, with the floor (libcurl fetch + xmllint --stream)
#                      BENCH_SIZES="100000" BENCH_PAGES="100 10000"
#                      BENCH_EXTRA="1000000/10000" (more SIZE/PAGE runs; "" for none)
#                      and the PostgreSQL backend's row (bench-pg below; BENCH_PG=0:
#                      none)
#   make bench-peers   other harvesters on the same corpus (installs them as root)
#                      PEERS_RECORDS=100000 PEERS_PAGE=100
#   make bench-daemon  tests/bench/daemon-1000.sh (BENCH_WINDOW=180 seconds)
#   make bench-large   tests/bench/bench-large.sh: 1,000,000 and 10,000,000
#                      records at 100 a page, medians of three, with the
#                      floor; about 40 minutes and 60 GB of disk (see there)
#                      LARGE_SIZES="1000000 10000000" LARGE_PAGE=100 LARGE_RUNS=3
#   make bench-pg      the PostgreSQL backend (tests/bench/bench-pg.sh):
#                      BENCH_PG_RECORDS=100000 BENCH_PG_PAGE=100

BENCH_SIZES	?= 100000
BENCH_PAGES	?= 100 10000
BENCH_EXTRA	?= 1000000/10000
BENCH_WINDOW	?= 180
LARGE_SIZES	?= 1000000 10000000
LARGE_PAGE	?= 100
LARGE_RUNS	?= 3
PEERS_RECORDS	?= 100000
PEERS_PAGE	?= 100
BENCH_PG_RECORDS ?= 100000
BENCH_PG_PAGE	?= 100
BENCH_PG	?= 1
# Debian packages the benchmarks use (beyond tools/deps.sh's own); the
# PostgreSQL row's server (its system cluster is disabled, as for the tests).
BENCH_DEBS	= time libxml2-utils sqlite3 curl postgresql

.PHONY: bench bench-peers bench-daemon bench-deps bench-large bench-pg

bench-deps:
	@sh tools/deps.sh --extra $(BENCH_DEBS)

$(REL)/bench/bench-walk: tests/bench/walk.c
	@mkdir -p $(dir $@)
	$(CC) $(REL_CFLAGS) $(PKG_CFLAGS) -o $@ $< $(PKG_LIBS)

$(REL)/bench/bench-pages: tests/bench/pages.c
	@mkdir -p $(dir $@)
	$(CC) $(REL_CFLAGS) $(PKG_CFLAGS) -o $@ $< $(PKG_LIBS)

bench-large: bench-deps all $(REL)/bench/bench-walk $(REL)/bench/bench-pages
	@WALK=$(REL)/bench/bench-walk PAGES=$(REL)/bench/bench-pages \
	    sh tests/bench/bench-large.sh "$(LARGE_SIZES)" "$(LARGE_PAGE)" \
	    "$(LARGE_RUNS)"

bench: bench-deps all $(REL)/bench/bench-walk
	@WALK=$(REL)/bench/bench-walk BENCH_PG=$(BENCH_PG) \
	    BENCH_PG_RECORDS=$(BENCH_PG_RECORDS) BENCH_PG_PAGE=$(BENCH_PG_PAGE) \
	    sh tests/bench/bench.sh "$(BENCH_SIZES)" \
	    "$(BENCH_PAGES)" "$(BENCH_EXTRA)"

bench-peers: bench-deps all
	@sh tests/bench/peers.sh $(PEERS_RECORDS) $(PEERS_PAGE)

bench-daemon: all
	@sh tests/bench/daemon-1000.sh $(BENCH_WINDOW)

bench-pg: bench-deps all
	@bash tests/bench/bench-pg.sh $(BENCH_PG_RECORDS) $(BENCH_PG_PAGE)
