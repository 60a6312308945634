# oaiharvest: an OAI-PMH harvester (oaiharvestd daemon and oaiharvest CLI).
#
#   make            build ./oaiharvest (and later ./oaiharvestd)
#   make check      make lint, then all unit and integration tests under
#                   ASan/UBSan
#   make lint       every C file: clang-format (.clang-format, KNF) and cppcheck
#   make check-long SEEDS=N [SEED_BASE=S]  the model-based harvest test
#                   (tests/test_model.c) over N seeds
#   make demo       harvest the embedded demo corpus into ./demo/harvest.db
#   make install    PREFIX=/usr/local DESTDIR=
#   make deps       install the missing Debian packages the build needs (root)
#                   or say how; make deps-test: and what the tests need

PREFIX	?= /usr/local
BINDIR	?= $(PREFIX)/bin
SBINDIR	?= $(PREFIX)/sbin
MANDIR	?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
UNITDIR	?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
LOGROTATEDIR ?= $(SYSCONFDIR)/logrotate.d
DESTDIR	?=

CC	?= cc
PKGS	 = libcurl libxml-2.0 sqlite3 libevent inih zlib libnats libpq
# Evaluated when used, so that `make deps` can install pkg-config first.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS))
CMOCKA_LIBS = $(shell pkg-config --libs cmocka)

WARN	 = -Wall -Wextra -Wshadow -Wpointer-arith -Wstrict-prototypes \
	   -Wmissing-prototypes -Wno-unused-parameter
BASE_CFLAGS = -std=c11 -D_GNU_SOURCE -Icommon -Iharvest -Istore -Iconf \
	   -Idaemon -Ifeed $(WARN) -g -pthread
CFLAGS	?= -O2
REL_CFLAGS = $(BASE_CFLAGS) $(CFLAGS) -D_FORTIFY_SOURCE=2 \
	   -fstack-protector-strong
SAN	 = -fsanitize=address,undefined -fno-omit-frame-pointer \
	   -fno-sanitize-recover=undefined
ASAN_CFLAGS = $(BASE_CFLAGS) -O1 -Werror $(SAN)

LIB_SRCS = $(sort $(wildcard common/*.c conf/*.c store/*.c harvest/*.c \
	   feed/*.c))
CLI_SRCS = daemon/cli.c daemon/cli_sources.c daemon/cli_lease.c \
	   daemon/settings.c
DMN_SRCS = daemon/oaiharvestd.c daemon/notify.c daemon/http.c \
	   daemon/settings.c daemon/lease.c
SRV_SRCS = $(sort $(wildcard tests/server/*.c))
TEST_SRCS = $(sort $(wildcard tests/test_*.c))

REL	 = build/release
ASN	 = build/asan

REL_LIB_OBJS = $(LIB_SRCS:%.c=$(REL)/%.o)
ASN_LIB_OBJS = $(LIB_SRCS:%.c=$(ASN)/%.o)
ASN_TESTS = $(TEST_SRCS:tests/%.c=$(ASN)/tests/%)

.PHONY: all check check-long demo install clean deps deps-test test-bins lint
.SUFFIXES:

all: oaiharvest oaiharvestd $(REL)/oaiserver

deps:
	@sh tools/deps.sh

deps-test:
	@sh tools/deps.sh --test

oaiharvest: $(REL)/oaiharvest
	cp $< $@.tmp && mv -f $@.tmp $@

$(REL)/oaiharvest: $(REL_LIB_OBJS) $(CLI_SRCS:%.c=$(REL)/%.o)
	$(CC) $(REL_CFLAGS) -o $@ $^ $(PKG_LIBS) -lm

oaiharvestd: $(REL)/oaiharvestd
	cp $< $@.tmp && mv -f $@.tmp $@

$(REL)/oaiharvestd: $(REL_LIB_OBJS) $(DMN_SRCS:%.c=$(REL)/%.o)
	$(CC) $(REL_CFLAGS) -o $@ $^ $(PKG_LIBS) -lm

$(REL)/oaiserver: $(SRV_SRCS:%.c=$(REL)/%.o) $(REL)/common/util.o \
	    $(REL)/common/log.o
	$(CC) $(REL_CFLAGS) -o $@ $^ $(PKG_LIBS) -lm

$(REL)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(REL_CFLAGS) $(PKG_CFLAGS) -MMD -MP -c -o $@ $<

$(ASN)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_CFLAGS) $(PKG_CFLAGS) -MMD -MP -c -o $@ $<

$(ASN)/oaiharvest: $(ASN_LIB_OBJS) $(CLI_SRCS:%.c=$(ASN)/%.o)
	$(CC) $(ASAN_CFLAGS) -o $@ $^ $(PKG_LIBS) -lm

$(ASN)/oaiharvestd: $(ASN_LIB_OBJS) $(DMN_SRCS:%.c=$(ASN)/%.o)
	$(CC) $(ASAN_CFLAGS) -o $@ $^ $(PKG_LIBS) -lm

$(ASN)/oaiserver: $(SRV_SRCS:%.c=$(ASN)/%.o) $(ASN)/common/util.o \
	    $(ASN)/common/log.o
	$(CC) $(ASAN_CFLAGS) -o $@ $^ $(PKG_LIBS) -lm

LINK_TEST = $(CC) $(ASAN_CFLAGS) -o $@ $^ $(PKG_LIBS) $(CMOCKA_LIBS) -lm
ASN_COMMON = $(ASN)/common/util.o $(ASN)/common/log.o

# Unit tests link only the module they test, so that modules build alone.
$(ASN)/tests/test_util: $(ASN)/tests/test_util.o $(ASN_COMMON)
	$(LINK_TEST)
$(ASN)/tests/test_parser: $(ASN)/tests/test_parser.o $(ASN_COMMON) \
	    $(ASN)/harvest/oai.o $(ASN)/harvest/xmlfilter.o \
	    $(ASN)/harvest/serialize.o \
	    $(patsubst %.c,$(ASN)/%.o,$(wildcard harvest/format*.c))
	$(LINK_TEST)
$(ASN)/tests/test_store: $(ASN)/tests/test_store.o $(ASN_COMMON) \
	    $(ASN)/tests/testlib.o \
	    $(ASN)/common/writer.o $(patsubst %.c,$(ASN)/%.o,$(wildcard store/*.c)) \
	    $(patsubst %.c,$(ASN)/%.o,$(wildcard feed/*.c))
	$(LINK_TEST)
$(ASN)/tests/test_conf: $(ASN)/tests/test_conf.o $(ASN_COMMON) \
	    $(patsubst %.c,$(ASN)/%.o,$(wildcard conf/*.c)) \
	    $(ASN)/daemon/settings.o
	$(LINK_TEST)
$(ASN)/tests/test_notify: $(ASN)/tests/test_notify.o $(ASN_COMMON) \
	    $(ASN)/daemon/notify.o
	$(LINK_TEST)
$(ASN)/tests/test_window: $(ASN)/tests/test_window.o $(ASN_COMMON) \
	    $(ASN)/harvest/window.o
	$(LINK_TEST)
$(ASN)/tests/test_writer: $(ASN)/tests/test_writer.o $(ASN_COMMON) \
	    $(ASN)/common/writer.o
	$(LINK_TEST)
$(ASN)/tests/test_classify: $(ASN)/tests/test_classify.o $(ASN_COMMON) \
	    $(ASN)/harvest/classify.o
	$(LINK_TEST)
$(ASN)/tests/test_%: $(ASN)/tests/test_%.o $(ASN)/tests/testlib.o \
	    $(ASN_LIB_OBJS)
	$(LINK_TEST)

test-bins: $(ASN_TESTS) $(ASN)/oaiharvest $(ASN)/oaiharvestd \
	    $(ASN)/oaiserver

check: deps-test
	@$(MAKE) --no-print-directory lint
	@$(MAKE) --no-print-directory test-bins
	@sh tests/run.sh $(ASN)

# More seeds of the model-based harvest test than make check runs.
SEEDS	?= 200
SEED_BASE ?= 1
check-long: deps-test
	@$(MAKE) --no-print-directory $(ASN)/tests/test_model \
	    $(ASN)/oaiharvest $(ASN)/oaiserver
	@OH_BUILD=$(ASN) OH_MODEL_SEEDS=$(SEEDS) \
	    OH_MODEL_SEED_BASE=$(SEED_BASE) \
	    ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:$${ASAN_OPTIONS:-}" \
	    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
	    $(ASN)/tests/test_model

demo: deps
	@$(MAKE) --no-print-directory all
	@sh tests/demo.sh $(REL)/oaiserver ./oaiharvest

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
	    $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(SYSCONFDIR)/oaiharvest $(DESTDIR)$(SYSUSERSDIR) \
	    $(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(LOGROTATEDIR)
	install -m 755 oaiharvest $(DESTDIR)$(BINDIR)/oaiharvest
	install -m 755 oaiharvestd $(DESTDIR)$(SBINDIR)/oaiharvestd
	install -m 644 daemon/oaiharvest.1 $(DESTDIR)$(MANDIR)/man1/oaiharvest.1
	install -m 644 conf/oaiharvest.conf.5 \
	    $(DESTDIR)$(MANDIR)/man5/oaiharvest.conf.5
	install -m 644 daemon/oaiharvestd.8 \
	    $(DESTDIR)$(MANDIR)/man8/oaiharvestd.8
	sed 's|/usr/local/sbin/|$(SBINDIR)/|' systemd/oaiharvestd.service \
	    > $(DESTDIR)$(UNITDIR)/oaiharvestd.service
	chmod 644 $(DESTDIR)$(UNITDIR)/oaiharvestd.service
	install -m 644 systemd/oaiharvest.sysusers \
	    $(DESTDIR)$(SYSUSERSDIR)/oaiharvest.conf
	install -m 644 systemd/oaiharvest.tmpfiles \
	    $(DESTDIR)$(TMPFILESDIR)/oaiharvest.conf
	install -m 644 systemd/oaiharvest.logrotate \
	    $(DESTDIR)$(LOGROTATEDIR)/oaiharvest
	# The user and group the unit runs as, now rather than at next boot.
	if [ -z "$(DESTDIR)" ] && command -v systemd-sysusers >/dev/null; then \
	    systemd-sysusers $(SYSUSERSDIR)/oaiharvest.conf; fi
	# An existing config is never overwritten.
	test -e $(DESTDIR)$(SYSCONFDIR)/oaiharvest/oaiharvest.conf || \
	    install -m 644 conf/oaiharvest.conf \
	    $(DESTDIR)$(SYSCONFDIR)/oaiharvest/oaiharvest.conf

# Every C file of the project: formatted as .clang-format says (KNF), and
# clean under cppcheck.  Either failing fails make lint, and so make check.
# c14n.c: cppcheck takes xxh_update(x, "&amp;", 5)'s one-past-the-end
# pointer for an overflow (an inline suppression does not reach it).
LINT_SRCS = $(sort $(wildcard common/*.[ch] conf/*.[ch] store/*.[ch] \
	    harvest/*.[ch] feed/*.[ch] daemon/*.[ch] tests/*.[ch] \
	    tests/server/*.[ch] tests/bench/*.c tests/fuzz/*.c))
CPPCHECK = cppcheck --quiet --error-exitcode=1 --std=c11 \
	   --enable=warning,portability --inline-suppr \
	   --suppress=missingIncludeSystem -D_GNU_SOURCE \
	   --suppress=pointerOutOfBounds:store/c14n.c \
	   -Icommon -Iharvest -Istore -Iconf -Idaemon -Ifeed \
	   --include=/usr/include/$(shell $(CC) -dumpmachine)/sys/queue.h

lint:
	@clang-format --dry-run --Werror $(LINT_SRCS)
	@$(CPPCHECK) $(filter %.c,$(LINT_SRCS))
	@echo "lint: $(words $(LINT_SRCS)) files formatted and cppcheck-clean"

clean:
	rm -rf build oaiharvest oaiharvestd demo

-include $(shell find build -name '*.d' 2>/dev/null)

# Fuzzing (clang libFuzzer) and valgrind runs live in their own fragments.
-include tests/fuzz/fuzz.mk
-include tests/valgrind.mk
-include tests/bench/bench.mk
