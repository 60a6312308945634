# libFuzzer targets for the OAI-PMH parser and the config reader; included
# by the Makefile.  Not part of `make check`.
#
#   make fuzz			build, then run each target FUZZ_SECONDS
#   make fuzz-oai		only the parser target (fuzz-conf likewise)
#   make fuzz-build		only build build/fuzz/fuzz_oai, fuzz_conf
#   make fuzz FUZZ_SECONDS=600 FUZZ_FLAGS=-jobs=2
#
# Corpora grow in build/fuzz/corpus-*/ (a second run continues from them);
# seeds are rebuilt from the fixtures on every run (tests/fuzz/seeds.sh).
# Crashes, leaks, timeouts and OOMs are written as build/fuzz/NAME-crash-*
# (-leak-, -timeout-, -oom-, -slow-unit-); a run fails while any is there.
# Reproduce one with build/fuzz/fuzz_NAME FILE, delete it once fixed.
#
# Needs clang and its libFuzzer runtime (Debian: clang libclang-rt-14-dev).

FUZZ_CC		?= clang
FUZZ_SECONDS	?= 60
FUZZ_FLAGS	?=
FUZZ		 = build/fuzz
FUZZ_SAN	 = -fsanitize=address,undefined -fno-sanitize-recover=undefined \
		   -fno-omit-frame-pointer
FUZZ_CFLAGS	 = $(BASE_CFLAGS) -O1 $(FUZZ_SAN)
FUZZ_COMMON	 = $(patsubst %.c,$(FUZZ)/%.o,$(wildcard common/*.c))
FUZZ_TARGETS	 = oai conf
# The parser's files: the SAX core, the input filter, the serializer and
# the metadata formats.
FUZZ_OAI	 = $(patsubst %.c,$(FUZZ)/%.o,harvest/oai.c harvest/xmlfilter.c \
		   harvest/serialize.c $(wildcard harvest/format*.c))

# The largest input of each target.  A config line may be 16 KiB (a
# MAX_URL_LEN URL plus its key): conf gets room to cross that.
FUZZ_MAXLEN_oai	 = 65536
FUZZ_MAXLEN_conf = 20480
FUZZ_DICT_oai	 = tests/fuzz/oai.dict
FUZZ_DICT_conf	 = tests/fuzz/conf.dict

.PHONY: fuzz fuzz-build fuzz-deps $(FUZZ_TARGETS:%=fuzz-%)

fuzz: fuzz-build
	@rc=0; for t in $(FUZZ_TARGETS); do \
		$(MAKE) --no-print-directory fuzz-$$t || rc=1; \
	done; exit $$rc

fuzz-build: fuzz-deps
	@$(MAKE) --no-print-directory -q $(FUZZ_TARGETS:%=$(FUZZ)/fuzz_%) || \
	    $(MAKE) --no-print-directory $(FUZZ_TARGETS:%=$(FUZZ)/fuzz_%)

# Only checks (or installs, as root) the packages; clang itself may be
# another one, named by FUZZ_CC.
fuzz-deps:
	@sh tools/deps.sh --extra clang libclang-rt-14-dev

# The library, instrumented for coverage but without libFuzzer's main().
$(FUZZ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(PKG_CFLAGS) \
	    -MMD -MP -c -o $@ $<

$(FUZZ)/fuzz_oai: tests/fuzz/fuzz_oai.c $(FUZZ_COMMON) $(FUZZ_OAI)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(PKG_CFLAGS) -o $@ $^ \
	    $(PKG_LIBS) -lm

$(FUZZ)/fuzz_conf: tests/fuzz/fuzz_conf.c $(FUZZ_COMMON) $(FUZZ)/conf/conf.o
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(PKG_CFLAGS) -o $@ $^ \
	    $(PKG_LIBS) -lm

# One bounded run.  libFuzzer writes new inputs to the first directory and
# reads the seeds from the second.
$(FUZZ_TARGETS:%=fuzz-%): fuzz-%: fuzz-deps
	@$(MAKE) --no-print-directory -q $(FUZZ)/fuzz_$* || \
	    $(MAKE) --no-print-directory $(FUZZ)/fuzz_$*
	@sh tests/fuzz/seeds.sh $* $(FUZZ)/seeds-$*
	@mkdir -p $(FUZZ)/corpus-$*
	@echo "fuzz: $* for $(FUZZ_SECONDS)s"
	@rc=0; $(FUZZ)/fuzz_$* -max_total_time=$(FUZZ_SECONDS) \
	    -rss_limit_mb=2048 -max_len=$(FUZZ_MAXLEN_$*) -timeout=10 \
	    -dict=$(FUZZ_DICT_$*) -artifact_prefix=$(FUZZ)/$*- \
	    -print_final_stats=1 $(FUZZ_FLAGS) \
	    $(FUZZ)/corpus-$* $(FUZZ)/seeds-$* || rc=$$?; \
	found=$$(ls $(FUZZ)/$*-crash-* $(FUZZ)/$*-leak-* \
	    $(FUZZ)/$*-timeout-* $(FUZZ)/$*-oom-* \
	    $(FUZZ)/$*-slow-unit-* 2>/dev/null); \
	if [ -n "$$found" ]; then \
		echo "fuzz: $*: reproducers in $(FUZZ)/:"; \
		echo "$$found" | sed 's/^/  /'; \
		exit 1; \
	fi; \
	if [ $$rc -ne 0 ]; then echo "fuzz: $*: exit status $$rc"; \
	    exit 1; fi; \
	echo "fuzz: $*: no crash"
