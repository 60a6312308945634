# `make check-valgrind`: every test binary under valgrind's memcheck; included
# by the Makefile.
#
# valgrind and the sanitizers do not mix, so everything is built again without
# them into build/valgrind/, with the link rules of build/asan.  The tests run
# from the project root with OH_BUILD=build/valgrind: the programs the
# integration tests start (oaiserver, oaiharvest, oaiharvestd) are these
# unsanitized builds, run natively (valgrind does not follow exec).
#
# A test binary fails when cmocka says so or when it exits non-zero, which
# includes valgrind's VG_ERROR_EXIT: an invalid access, a use of
# uninitialised memory, or a definitely or indirectly lost block.  "Still
# reachable" memory (libxml2's and libcurl's global state, which nothing
# frees at exit) is not an error.  Ends with a summary line like
# tests/run.sh.  VALGRIND_FLAGS adds options, e.g. --track-origins=yes.

VG		 = build/valgrind
VG_CFLAGS	 = $(BASE_CFLAGS) -O1 -fno-omit-frame-pointer
VG_ERROR_EXIT	 = 99
VALGRIND	?= valgrind
VALGRIND_FLAGS	?=
VG_SUPP		 = $(wildcard tests/valgrind.supp)
VG_RUN		 = $(VALGRIND) -q --error-exitcode=$(VG_ERROR_EXIT) \
		   --leak-check=full --errors-for-leak-kinds=definite,indirect \
		   --track-fds=no $(VG_SUPP:%=--suppressions=%) $(VALGRIND_FLAGS)

VG_LIB_OBJS	 = $(LIB_SRCS:%.c=$(VG)/%.o)
VG_COMMON	 = $(VG)/common/util.o $(VG)/common/log.o
VG_TESTS	 = $(TEST_SRCS:tests/%.c=$(VG)/tests/%)
VG_LINK		 = $(CC) $(VG_CFLAGS) -o $@ $^ $(PKG_LIBS) -lm
VG_LINK_TEST	 = $(CC) $(VG_CFLAGS) -o $@ $^ $(PKG_LIBS) $(CMOCKA_LIBS) -lm

.PHONY: check-valgrind valgrind-bins

# Test objects are only reached through the test_% pattern rule: keep them,
# or make deletes them as intermediates and relinks every time.
.SECONDARY: $(VG_TESTS:%=%.o) $(VG)/tests/testlib.o

$(VG)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(VG_CFLAGS) $(PKG_CFLAGS) -MMD -MP -c -o $@ $<

$(VG)/oaiharvest: $(VG_LIB_OBJS) $(CLI_SRCS:%.c=$(VG)/%.o)
	$(VG_LINK)

$(VG)/oaiharvestd: $(VG_LIB_OBJS) $(DMN_SRCS:%.c=$(VG)/%.o)
	$(VG_LINK)

$(VG)/oaiserver: $(SRV_SRCS:%.c=$(VG)/%.o) $(VG_COMMON)
	$(VG_LINK)

# As in the Makefile: unit tests link only the module they test.
$(VG)/tests/test_util: $(VG)/tests/test_util.o $(VG_COMMON)
	$(VG_LINK_TEST)
$(VG)/tests/test_parser: $(VG)/tests/test_parser.o $(VG_COMMON) \
	    $(VG)/harvest/oai.o
	$(VG_LINK_TEST)
$(VG)/tests/test_store: $(VG)/tests/test_store.o $(VG_COMMON) \
	    $(VG)/common/writer.o $(patsubst %.c,$(VG)/%.o,$(wildcard store/*.c))
	$(VG_LINK_TEST)
$(VG)/tests/test_conf: $(VG)/tests/test_conf.o $(VG_COMMON) \
	    $(patsubst %.c,$(VG)/%.o,$(wildcard conf/*.c))
	$(VG_LINK_TEST)
$(VG)/tests/test_notify: $(VG)/tests/test_notify.o $(VG_COMMON) \
	    $(VG)/daemon/notify.o
	$(VG_LINK_TEST)
$(VG)/tests/test_%: $(VG)/tests/test_%.o $(VG)/tests/testlib.o \
	    $(VG_LIB_OBJS)
	$(VG_LINK_TEST)

valgrind-bins: $(VG_TESTS) $(VG)/oaiharvest $(VG)/oaiharvestd \
	    $(VG)/oaiserver

# The loop is tests/run.sh's, with valgrind in front of each binary.
check-valgrind: deps
	@sh tools/deps.sh --extra valgrind
	@$(MAKE) --no-print-directory valgrind-bins
	@export OH_BUILD=$(VG); passed=0; failed=0; bad=""; \
	tmp=$$(mktemp); \
	for t in $(VG_TESTS); do \
		echo "== valgrind $$t"; \
		$(VG_RUN) $$t >$$tmp 2>&1; rc=$$?; \
		cat $$tmp; \
		p=$$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' $$tmp | \
		    tail -1); \
		f=$$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' $$tmp | \
		    tail -1); \
		s=$$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' $$tmp | \
		    tail -1); \
		passed=$$((passed + $${p:-0})); \
		failed=$$((failed + $${f:-0} + $${s:-0})); \
		if [ $$rc -ne 0 ] && [ $${f:-0} -eq 0 ]; then \
			failed=$$((failed + 1)); fi; \
		if [ $$rc -eq $(VG_ERROR_EXIT) ]; then \
			echo "valgrind: errors in $$t"; fi; \
		[ $$rc -ne 0 ] && bad="$$bad $${t##*/}"; \
	done; \
	rm -f $$tmp; \
	[ -n "$$bad" ] && echo "failing under valgrind:$$bad"; \
	echo "valgrind: $$passed passed, $$failed failed"; \
	[ $$failed -eq 0 ] && [ $$passed -gt 0 ]
