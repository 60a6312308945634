/* Unit tests of common/: bounded parsers, datestamps, JSON strings, buffers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"
#include "util.h"

static void
test_datestamps(void **state)
{
	static const struct {
		const char	*in;
		int		 ok;
		long long	 t;
		int		 gran;
	} cases[] = {
		{ "2024-01-02", 1, 1704153600, GRAN_DAY },
		{ "2024-01-02T03:04:05Z", 1, 1704164645, GRAN_SECONDS },
		{ "1970-01-01T00:00:00Z", 1, 0, GRAN_SECONDS },
		{ "2024-02-29", 1, 1709164800, GRAN_DAY },
		{ "2023-02-29", 0, 0, 0 },
		{ "2024-13-01", 0, 0, 0 },
		{ "2024-00-10", 0, 0, 0 },
		{ "2024-04-31", 0, 0, 0 },
		{ "2024-01-02T24:00:00Z", 0, 0, 0 },
		{ "2024-01-02T03:04:05", 0, 0, 0 },
		{ "2024-01-02T03:04:05+01:00", 0, 0, 0 },
		{ "2024-01-02 03:04:05Z", 0, 0, 0 },
		{ "2024-1-02", 0, 0, 0 },
		{ " 2024-01-02", 0, 0, 0 },
		{ "", 0, 0, 0 },
		{ "yesterday", 0, 0, 0 },
	};
	enum oai_granularity	g;
	time_t			t;
	char			out[DATESTAMP_LEN];
	size_t			i;

	for (i = 0; i < nitems(cases); i++) {
		if (datestamp_parse(cases[i].in, &t, &g) == 0) {
			if (!cases[i].ok)
				fail_msg("accepted %s", cases[i].in);
			assert_int_equal((long long)t, cases[i].t);
			assert_int_equal(g, cases[i].gran);
			datestamp_format(t, g, out);
			assert_string_equal(out, cases[i].in);
		} else if (cases[i].ok)
			fail_msg("rejected %s", cases[i].in);
	}
	datestamp_format(1704164645, GRAN_DAY, out);
	assert_string_equal(out, "2024-01-02");
}

static void
test_numbers(void **state)
{
	static const struct {
		const char	*in;
		long long	 want;	/* -1: error */
	} durations[] = {
		{ "90", 90 }, { "30s", 30 }, { "15m", 900 }, { "6h", 21600 },
		{ "1d", 86400 }, { "2w", 1209600 }, { "", -1 }, { "h", -1 },
		{ "5x", -1 }, { "-5m", -1 }, { "1.5h", -1 }, { " 5m", -1 },
		{ "99999999999999999999d", -1 },
	};
	const char	*errstr;
	long long	 v;
	size_t		 i;

	for (i = 0; i < nitems(durations); i++) {
		if (parse_duration(durations[i].in, &v, &errstr) == 0)
			assert_int_equal(v, durations[i].want);
		else if (durations[i].want != -1)
			fail_msg("rejected %s: %s", durations[i].in, errstr);
	}
	assert_int_equal(parse_ll("42", 0, 100, &v, &errstr), 0);
	assert_int_equal(v, 42);
	assert_int_equal(parse_ll("101", 0, 100, &v, &errstr), -1);
	assert_string_equal(errstr, "too large");
	assert_int_equal(parse_ll("-1", 0, 100, &v, &errstr), -1);
	assert_int_equal(parse_ll("4x", 0, 100, &v, &errstr), -1);
	assert_int_equal(parse_ll("+4", 0, 100, &v, &errstr), -1);
	assert_int_equal(parse_ll("", 0, 100, &v, &errstr), -1);
}

/* Every byte: the sixteen hexadecimal digits in either case, nothing else. */
static void
test_hex_digit(void **state)
{
	const char	*digits = "0123456789abcdef", *upper = "ABCDEF";
	int		 c, n = 0;

	for (c = 0; c < 16; c++)
		assert_int_equal(hex_digit(digits[c]), c);
	for (c = 0; c < 6; c++)
		assert_int_equal(hex_digit(upper[c]), 10 + c);
	for (c = -128; c < 128; c++)
		if (hex_digit((char)c) >= 0)
			n++;
	assert_int_equal(n, 22);
}

static void
test_json(void **state)
{
	static const struct {
		const char	*in;
		const char	*out;
	} cases[] = {
		{ "plain", "\"plain\"" },
		{ "q\"b\\s/", "\"q\\\"b\\\\s/\"" },
		{ "a\nb\tc\rd\x01" "e", "\"a\\nb\\tc\\rd\\u0001e\"" },
		{ "Қазақстан ā€˜", "\"Қазақстан ā€˜\"" },
		{ "bad \xff\xfe end", "\"bad \\ufffd\\ufffd end\"" },
		{ "cut \xe2\x82", "\"cut \\ufffd\\ufffd\"" },
		{ "surrogate \xed\xa0\x80", "\"surrogate \\ufffd\\ufffd\\ufffd\"" },
		{ "", "\"\"" },
	};
	struct buf	b;
	size_t		i;

	for (i = 0; i < nitems(cases); i++) {
		buf_init(&b, 1024);
		assert_int_equal(json_add_string(&b, cases[i].in, (size_t)-1),
		    0);
		assert_string_equal(buf_str(&b), cases[i].out);
		buf_free(&b);
	}
}

static void
test_buf_cap(void **state)
{
	struct buf	b;

	buf_init(&b, 8);
	assert_int_equal(buf_addstr(&b, "12345678"), 0);
	assert_int_equal(buf_addch(&b, '9'), -1);
	assert_string_equal(buf_str(&b), "12345678");
	buf_reset(&b);
	assert_string_equal(buf_str(&b), "");
	assert_int_equal(buf_add(&b, "x", SIZE_MAX), -1);
	buf_free(&b);
	assert_string_equal(buf_str(&b), "");
}

static void
test_log_quote(void **state)
{
	assert_string_equal(log_q("a b"), "\"a b\"");
	assert_string_equal(log_q("x\"y\\z\nw\x1b"), "\"x\\\"y\\\\z\\nw\\x1b\"");
	assert_string_equal(log_q(NULL), "\"\"");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_datestamps),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_hex_digit),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_buf_cap),
		cmocka_unit_test(test_log_quote),
	};

	return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
