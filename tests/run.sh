#!/bin/sh
# Run every test binary in BUILD/tests from the project root and add up what
# cmocka reports.  A binary that dies (a sanitizer report, a crash) counts as
# a failure even if its tests printed nothing.  Ends with one summary line.
BUILD=${1:-build/asan}
export OH_BUILD="$BUILD"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
passed=0
failed=0
bad=""
tmp=$(mktemp)
for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	echo "== $t"
	"$t" >"$tmp" 2>&1
	rc=$?
	cat "$tmp"
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$tmp" | tail -1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$tmp" | tail -1)
	s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$tmp" | tail -1)
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0} + ${s:-0}))
	if [ "$rc" -ne 0 ] && [ "${f:-0}" -eq 0 ]; then
		failed=$((failed + 1))
	fi
	[ "$rc" -ne 0 ] && bad="$bad $(basename "$t")"
done
rm -f "$tmp"
[ -n "$bad" ] && echo "failing:$bad"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
