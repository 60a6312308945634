/*
 * Unit tests of harvest/window.c: the date windows of a windowed list, by
 * table, and against a simulated repository that refuses wide windows.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util.h"
#include "window.h"

#define DAY 86400LL

static time_t
ts(const char *s)
{
	enum oai_granularity g;
	time_t		     t;

	if (datestamp_parse(s, &t, &g) == -1)
		fail_msg("bad datestamp in test: %s", s);
	return t;
}

static void
test_unit_end(void **state)
{
	static const struct {
		const char	*t;
		enum window_unit unit;
		const char	*end;
	} cases[] = {
		{ "2024-02-10T08:00:00Z", WINDOW_MONTH,
		    "2024-02-29T23:59:59Z" },
		{ "2023-02-01T00:00:00Z", WINDOW_MONTH,
		    "2023-02-28T23:59:59Z" },
		{ "2023-12-31T23:59:59Z", WINDOW_MONTH,
		    "2023-12-31T23:59:59Z" },
		{ "2023-04-30T12:00:00Z", WINDOW_MONTH,
		    "2023-04-30T23:59:59Z" },
		{ "2023-01-01T00:00:00Z", WINDOW_YEAR, "2023-12-31T23:59:59Z" },
		{ "2024-07-04T10:00:00Z", WINDOW_YEAR, "2024-12-31T23:59:59Z" },
		{ "2024-07-04T10:00:00Z", WINDOW_DAY, "2024-07-04T23:59:59Z" },
		{ "1970-01-01T00:00:00Z", WINDOW_DAY, "1970-01-01T23:59:59Z" },
	};
	char   out[DATESTAMP_LEN];
	size_t i;

	(void)state;
	for (i = 0; i < nitems(cases); i++) {
		datestamp_format(window_unit_end(ts(cases[i].t), cases[i].unit),
		    GRAN_SECONDS, out);
		assert_string_equal(out, cases[i].end);
	}
}

/* Walk every window from start to end; the formatted windows, one a line. */
static void
walk(enum window_unit unit, enum oai_granularity gran, const char *start,
    const char *end, int open_end, const char *want)
{
	struct window w;
	char	      from[DATESTAMP_LEN], until[DATESTAMP_LEN];
	char	      got[1024] = "";
	int	      n = 0;

	window_init(&w, unit, gran, DAY, ts(start), ts(end), open_end);
	do {
		window_format(&w, gran, from, until);
		snprintf(got + strlen(got), sizeof(got) - strlen(got),
		    "%s..%s\n", from, until);
		assert_true(++n < 100);
	} while (window_advance(&w) == 0);
	assert_string_equal(got, want);
}

static void
test_sequences(void **state)
{
	(void)state;
	walk(WINDOW_MONTH, GRAN_SECONDS, "2020-01-15T00:00:00Z",
	    "2020-03-10T12:00:00Z", 0,
	    "2020-01-15T00:00:00Z..2020-01-31T23:59:59Z\n"
	    "2020-02-01T00:00:00Z..2020-02-29T23:59:59Z\n"
	    "2020-03-01T00:00:00Z..2020-03-10T12:00:00Z\n");
	/* Day granularity: the start goes back to its midnight. */
	walk(WINDOW_YEAR, GRAN_DAY, "2019-06-15T13:00:00Z",
	    "2021-02-01T00:00:00Z", 0,
	    "2019-06-15..2019-12-31\n"
	    "2020-01-01..2020-12-31\n"
	    "2021-01-01..2021-02-01\n");
	/* An open end: the last window runs to the repository's clock. */
	walk(WINDOW_YEAR, GRAN_SECONDS, "2022-03-01T00:00:00Z",
	    "2023-05-05T05:05:05Z", 1,
	    "2022-03-01T00:00:00Z..2022-12-31T23:59:59Z\n"
	    "2023-01-01T00:00:00Z..\n");
	walk(WINDOW_DAY, GRAN_DAY, "2024-02-28", "2024-03-01", 0,
	    "2024-02-28..2024-02-28\n"
	    "2024-02-29..2024-02-29\n"
	    "2024-03-01..2024-03-01\n");
	/* An end before the start: one window, at the start. */
	walk(WINDOW_MONTH, GRAN_DAY, "2024-05-05", "2024-01-01", 1,
	    "2024-05-05..\n");
}

/*
 * A repository that refuses every window wider than limit seconds (before
 * refuse_until only, when that is not 0): the windows the harvester ends
 * with are contiguous, cover start..end, each within the limit where it
 * applies, and it gets there with a bounded number of refusals.
 */
static void
simulate(enum window_unit unit, enum oai_granularity gran, long long limit,
    const char *start, const char *end, time_t refuse_until,
    long long *last_span)
{
	struct window w;
	time_t	      s = ts(start), e = ts(end), next;
	long long     span;
	int	      refusals = 0, windows = 0;

	window_init(&w, unit, gran, DAY, s, e, 0);
	next = w.from;
	if (gran == GRAN_DAY) {
		/* Whole days: the start's midnight to the end's last second. */
		assert_int_equal(next % DAY, 0);
		assert_int_equal((w.end + 1) % DAY, 0);
		assert_true(w.end - e < DAY && w.end >= e);
		e = w.end;
	}
	for (;;) {
		span = (long long)(w.until - w.from) + 1;
		if (span > limit &&
		    (refuse_until == 0 || w.from < refuse_until)) {
			assert_int_equal(window_halve(&w), 0);
			assert_true(++refusals < 10000);
			continue;
		}
		assert_int_equal((long long)w.from, (long long)next);
		assert_true(w.until >= w.from);
		if (gran == GRAN_DAY) {
			assert_int_equal(w.from % DAY, 0);
			assert_int_equal((w.until + 1) % DAY, 0);
		}
		next = w.until + 1;
		*last_span = span;
		assert_true(++windows < 100000);
		if (window_advance(&w) == -1)
			break;
	}
	assert_int_equal((long long)(next - 1), (long long)e);
	/* Every refusal halves; at most a handful per unit. */
	assert_true(refusals <= 8 * (windows + 1));
}

static void
test_refusals(void **state)
{
	static const struct {
		enum window_unit     unit;
		enum oai_granularity gran;
		long long	     limit;
	} cases[] = {
		{ WINDOW_YEAR, GRAN_SECONDS, 40 * DAY },
		{ WINDOW_YEAR, GRAN_DAY, 40 * DAY },
		{ WINDOW_YEAR, GRAN_DAY, 2 * DAY },
		{ WINDOW_MONTH, GRAN_SECONDS, 3 * DAY + 7 },
		{ WINDOW_MONTH, GRAN_DAY, DAY },
		{ WINDOW_YEAR, GRAN_SECONDS, 400 * DAY },
	};
	long long last;
	size_t	  i;

	(void)state;
	for (i = 0; i < nitems(cases); i++)
		simulate(cases[i].unit, cases[i].gran, cases[i].limit,
		    "2019-11-20T10:00:00Z", "2022-02-03T04:05:06Z", 0, &last);
}

/* Narrowed windows widen again, unit by unit, once refusals stop. */
static void
test_widen(void **state)
{
	long long last;

	(void)state;
	simulate(WINDOW_YEAR, GRAN_SECONDS, 30 * DAY, "2020-01-01T00:00:00Z",
	    "2026-12-31T23:59:59Z", ts("2021-01-01T00:00:00Z"), &last);
	assert_int_equal(last, 365 * DAY);
	simulate(WINDOW_MONTH, GRAN_DAY, 5 * DAY, "2020-01-01", "2020-06-30",
	    ts("2020-02-01"), &last);
	assert_int_equal(last, 30 * DAY);
}

/* At the minimum a window cannot be halved, and stays as it was. */
static void
test_minimum(void **state)
{
	struct window w;
	char	      from[DATESTAMP_LEN], until[DATESTAMP_LEN];

	(void)state;
	window_init(&w, WINDOW_DAY, GRAN_DAY, 3600, ts("2024-01-01"),
	    ts("2024-01-05"), 0);
	assert_int_equal(window_halve(&w), -1);
	window_format(&w, GRAN_DAY, from, until);
	assert_string_equal(from, "2024-01-01");
	assert_string_equal(until, "2024-01-01");

	/* Seconds granularity: down to the configured minimum, no further. */
	window_init(&w, WINDOW_DAY, GRAN_SECONDS, 3600,
	    ts("2024-01-01T00:00:00Z"), ts("2024-01-05T00:00:00Z"), 0);
	assert_int_equal(window_halve(&w), 0);	/* 12 h */
	assert_int_equal(window_halve(&w), 0);	/* 6 h */
	assert_int_equal(window_halve(&w), 0);	/* 3 h */
	assert_int_equal(window_halve(&w), 0);	/* 1.5 h */
	assert_int_equal(window_halve(&w), -1); /* 45 min < 1 h */
	window_format(&w, GRAN_SECONDS, from, until);
	assert_string_equal(from, "2024-01-01T00:00:00Z");
	assert_string_equal(until, "2024-01-01T01:29:59Z");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unit_end),
		cmocka_unit_test(test_sequences),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_widen),
		cmocka_unit_test(test_minimum),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
