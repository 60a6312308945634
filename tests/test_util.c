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

/*
 * The forms real repositories send, and their normalized values; out NULL:
 * refused.  Harvard LibraryCloud sends YYYYMMDD, Melinda and the Node
 * oai-provider-service milliseconds.
 */
static const struct {
	const char *in;
	const char *out; /* NULL: refused */
	long long   t;
	int	    gran;
	int	    canonical;
} ds_cases[] = {
	/* OAI-PMH's own forms. */
	{ "2024-01-02", "2024-01-02", 1704153600, GRAN_DAY, 1 },
	{ "2024-01-02T03:04:05Z", "2024-01-02T03:04:05Z", 1704164645,
	    GRAN_SECONDS, 1 },
	{ "1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z", 0, GRAN_SECONDS, 1 },
	{ "2024-02-29", "2024-02-29", 1709164800, GRAN_DAY, 1 },
	{ "2000-02-29", "2000-02-29", 951782400, GRAN_DAY, 1 },
	{ "1969-12-31T23:59:59Z", "1969-12-31T23:59:59Z", -1, GRAN_SECONDS, 1 },
	{ "0001-01-01", "0001-01-01", -62135596800LL, GRAN_DAY, 1 },
	{ "9999-12-31T23:59:59Z", "9999-12-31T23:59:59Z", 253402300799LL,
	    GRAN_SECONDS, 1 },
	/* Fractions of a second, cut. */
	{ "2000-01-02T05:00:00.000Z", "2000-01-02T05:00:00Z", 946789200,
	    GRAN_SECONDS, 0 },
	{ "2024-01-02T03:04:05.9Z", "2024-01-02T03:04:05Z", 1704164645,
	    GRAN_SECONDS, 0 },
	{ "2024-01-02T03:04:05.123456789012345Z", "2024-01-02T03:04:05Z",
	    1704164645, GRAN_SECONDS, 0 },
	{ "2024-01-02T03:04:05.123", "2024-01-02T03:04:05Z", 1704164645,
	    GRAN_SECONDS, 0 },
	/* Compact (ISO 8601 basic) forms. */
	{ "20210311", "2021-03-11", 1615420800, GRAN_DAY, 0 },
	{ "20240102T030405Z", "2024-01-02T03:04:05Z", 1704164645, GRAN_SECONDS,
	    0 },
	{ "20240102T0304Z", "2024-01-02T03:04:00Z", 1704164640, GRAN_SECONDS,
	    0 },
	{ "20240102T030405+0100", "2024-01-02T02:04:05Z", 1704161045,
	    GRAN_SECONDS, 0 },
	/* Offsets, to UTC. */
	{ "2024-01-02T03:04:05+02:00", "2024-01-02T01:04:05Z", 1704157445,
	    GRAN_SECONDS, 0 },
	{ "2024-01-02T03:04:05-0500", "2024-01-02T08:04:05Z", 1704182645,
	    GRAN_SECONDS, 0 },
	{ "2024-01-02T03:04:05+02", "2024-01-02T01:04:05Z", 1704157445,
	    GRAN_SECONDS, 0 },
	{ "2024-01-02T03:04:05-00:00", "2024-01-02T03:04:05Z", 1704164645,
	    GRAN_SECONDS, 0 },
	{ "2024-01-01T01:00:00.000+02:00", "2023-12-31T23:00:00Z", 1704063600,
	    GRAN_SECONDS, 0 },
	{ "2024-01-02T23:30:00-01:30", "2024-01-03T01:00:00Z", 1704243600,
	    GRAN_SECONDS, 0 },
	/* A space for the T, no zone (UTC), no seconds, a leap second. */
	{ "2024-01-02 03:04:05", "2024-01-02T03:04:05Z", 1704164645,
	    GRAN_SECONDS, 0 },
	{ "2024-01-02 03:04:05Z", "2024-01-02T03:04:05Z", 1704164645,
	    GRAN_SECONDS, 0 },
	{ "2024-01-02T03:04:05", "2024-01-02T03:04:05Z", 1704164645,
	    GRAN_SECONDS, 0 },
	{ "2024-01-02T03:04Z", "2024-01-02T03:04:00Z", 1704164640, GRAN_SECONDS,
	    0 },
	{ "2024-01-02T03:04", "2024-01-02T03:04:00Z", 1704164640, GRAN_SECONDS,
	    0 },
	{ "2016-12-31T23:59:60Z", "2016-12-31T23:59:59Z", 1483228799,
	    GRAN_SECONDS, 0 },
	/* Refused: out of range. */
	{ "2023-02-29", NULL, 0, 0, 0 },
	{ "1900-02-29", NULL, 0, 0, 0 },
	{ "2024-13-01", NULL, 0, 0, 0 },
	{ "2021-13-45", NULL, 0, 0, 0 },
	{ "2024-00-10", NULL, 0, 0, 0 },
	{ "2024-01-00", NULL, 0, 0, 0 },
	{ "2024-04-31", NULL, 0, 0, 0 },
	{ "0000-01-01", NULL, 0, 0, 0 },
	{ "2024-01-02T24:00:00Z", NULL, 0, 0, 0 },
	{ "2024-01-02T03:60:00Z", NULL, 0, 0, 0 },
	{ "2024-01-02T03:04:61Z", NULL, 0, 0, 0 },
	{ "2024-01-02T03:04:05+24:00", NULL, 0, 0, 0 },
	{ "2024-01-02T03:04:05+02:60", NULL, 0, 0, 0 },
	{ "0001-01-01T00:00:00+00:01", NULL, 0, 0, 0 },
	{ "9999-12-31T23:59:59-00:01", NULL, 0, 0, 0 },
	/* Refused: malformed, mixed forms, trailing bytes. */
	{ "2024-1-02", NULL, 0, 0, 0 },
	{ "2024-01-2", NULL, 0, 0, 0 },
	{ "202401-02", NULL, 0, 0, 0 },
	{ "2024-0102", NULL, 0, 0, 0 },
	{ "2024010", NULL, 0, 0, 0 },
	{ "202401021", NULL, 0, 0, 0 },
	{ "20240102T03:04:05Z", NULL, 0, 0, 0 },
	{ "2024-01-02T030405Z", NULL, 0, 0, 0 },
	{ " 2024-01-02", NULL, 0, 0, 0 },
	{ "2024-01-02 ", NULL, 0, 0, 0 },
	{ "2024-01-02T", NULL, 0, 0, 0 },
	{ "2024-01-02T03", NULL, 0, 0, 0 },
	{ "2024-01-02T03:", NULL, 0, 0, 0 },
	{ "2024-01-02T3:04:05Z", NULL, 0, 0, 0 },
	{ "2024-01-02T03:4:05Z", NULL, 0, 0, 0 },
	{ "2024-01-02T03:04:5Z", NULL, 0, 0, 0 },
	{ "2024-01-02x03:04:05Z", NULL, 0, 0, 0 },
	{ "2024-01-02t03:04:05z", NULL, 0, 0, 0 },
	{ "2024-01-02T03:04:05ZZ", NULL, 0, 0, 0 },
	{ "2024-01-02T03:04:05Z junk", NULL, 0, 0, 0 },
	{ "2024-01-02T03:04:05.Z", NULL, 0, 0, 0 },
	{ "2024-01-02T03:04.5Z", NULL, 0, 0, 0 },
	{ "2024-01-02T03:04:05+2", NULL, 0, 0, 0 },
	{ "2024-01-02T03:04:05+02:", NULL, 0, 0, 0 },
	{ "2024-01-02T03:04:05+02:0", NULL, 0, 0, 0 },
	{ "2024-01-02T03:04:05+02:00Z", NULL, 0, 0, 0 },
	{ "2024-01-02T03:04:05 +02:00", NULL, 0, 0, 0 },
	{ "2024-01-02+02:00", NULL, 0, 0, 0 },
	{ "2024-01-02Z", NULL, 0, 0, 0 },
	{ "+2024-01-02", NULL, 0, 0, 0 },
	{ "-2024-01-02", NULL, 0, 0, 0 },
	{ "", NULL, 0, 0, 0 },
	{ "yesterday", NULL, 0, 0, 0 },
	/* 64 bytes are read, 65 are not. */
	{ "2024-01-02T03:04:05.0000000000000000000000000000000000000000000Z",
	    "2024-01-02T03:04:05Z", 1704164645, GRAN_SECONDS, 0 },
	{ "2024-01-02T03:04:05.00000000000000000000000000000000000000000000Z",
	    NULL, 0, 0, 0 },
};

static void
test_datestamps(void **state)
{
	enum oai_granularity g;
	time_t		     t;
	char		     out[DATESTAMP_LEN];
	size_t		     i;
	int		     canon;

	for (i = 0; i < nitems(ds_cases); i++) {
		if (datestamp_read(ds_cases[i].in, &t, &g, &canon) == -1) {
			if (ds_cases[i].out != NULL)
				fail_msg("refused %s", ds_cases[i].in);
			assert_int_equal(
			    datestamp_parse(ds_cases[i].in, NULL, NULL), -1);
			continue;
		}
		if (ds_cases[i].out == NULL)
			fail_msg("accepted %s", ds_cases[i].in);
		if ((long long)t != ds_cases[i].t)
			fail_msg("%s: %lld", ds_cases[i].in, (long long)t);
		assert_int_equal(g, ds_cases[i].gran);
		assert_int_equal(canon, ds_cases[i].canonical);
		datestamp_format(t, g, out);
		assert_string_equal(out, ds_cases[i].out);
		/* Canonical means: the normalized form is the input. */
		assert_int_equal(canon, strcmp(out, ds_cases[i].in) == 0);
		/* datestamp_parse() takes OAI-PMH's forms only. */
		assert_int_equal(datestamp_parse(ds_cases[i].in, NULL, NULL),
		    canon ? 0 : -1);
	}
	assert_int_equal(datestamp_read(NULL, &t, &g, &canon), -1);
	datestamp_format(1704164645, GRAN_DAY, out);
	assert_string_equal(out, "2024-01-02");
}

/* Bytes a mutation puts in; then two more operations: drop, cut. */
static const char ds_bytes[] = "0159:-+.TZ \x01\xff";
#define DS_OPS (sizeof(ds_bytes) - 1 + 2)

/* in with byte k replaced, dropped or made the end, in a buffer its size. */
static char *
ds_mutate(const char *in, size_t k, size_t op)
{
	char *m, *exact;

	m = xstrdup(in);
	if (op < sizeof(ds_bytes) - 1)
		m[k] = ds_bytes[op];
	else if (op == sizeof(ds_bytes) - 1)
		memmove(m + k, m + k + 1, strlen(m + k));
	else
		m[k] = '\0';
	exact = xstrndup(m, strlen(m));
	free(m);
	return exact;
}

/*
 * Mutations of every case, each in a buffer of its exact size so that ASan
 * sees any read past its end: whatever is accepted normalizes to a
 * canonical datestamp of the same instant, and is canonical itself only
 * when it is that.
 */
static void
test_datestamp_mutations(void **state)
{
	enum oai_granularity g, g2;
	time_t		     t, t2;
	char		     out[DATESTAMP_LEN], *m;
	size_t		     i, k, op, tried = 0, taken = 0;
	int		     canon, canon2;

	for (i = 0; i < nitems(ds_cases); i++)
		for (k = 0; ds_cases[i].in[k] != '\0'; k++)
			for (op = 0; op < DS_OPS; op++) {
				m = ds_mutate(ds_cases[i].in, k, op);
				tried++;
				if (datestamp_read(m, &t, &g, &canon) == 0) {
					taken++;
					datestamp_format(t, g, out);
					assert_int_equal(
					    canon, strcmp(out, m) == 0);
					assert_int_equal(datestamp_read(out,
							     &t2, &g2, &canon2),
					    0);
					assert_int_equal(canon2, 1);
					assert_true(t2 == t && g2 == g);
				}
				free(m);
			}
	assert_true(tried > 10000);
	assert_true(taken > 1000 && taken < tried / 2);
}

static void
test_numbers(void **state)
{
	static const struct {
		const char *in;
		long long   want; /* -1: error */
	} durations[] = {
		{ "90", 90 },
		{ "30s", 30 },
		{ "15m", 900 },
		{ "6h", 21600 },
		{ "1d", 86400 },
		{ "2w", 1209600 },
		{ "", -1 },
		{ "h", -1 },
		{ "5x", -1 },
		{ "-5m", -1 },
		{ "1.5h", -1 },
		{ " 5m", -1 },
		{ "99999999999999999999d", -1 },
	};
	const char *errstr;
	long long   v;
	size_t	    i;

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
	const char *digits = "0123456789abcdef", *upper = "ABCDEF";
	int	    c, n = 0;

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
		const char *in;
		const char *out;
	} cases[] = {
		{ "plain", "\"plain\"" },
		{ "q\"b\\s/", "\"q\\\"b\\\\s/\"" },
		{ "a\nb\tc\rd\x01"
		  "e",
		    "\"a\\nb\\tc\\rd\\u0001e\"" },
		{ "Қазақстан ā€˜", "\"Қазақстан ā€˜\"" },
		{ "bad \xff\xfe end", "\"bad \\ufffd\\ufffd end\"" },
		{ "cut \xe2\x82", "\"cut \\ufffd\\ufffd\"" },
		{ "surrogate \xed\xa0\x80",
		    "\"surrogate \\ufffd\\ufffd\\ufffd\"" },
		{ "", "\"\"" },
	};
	struct buf b;
	size_t	   i;

	for (i = 0; i < nitems(cases); i++) {
		buf_init(&b, 1024);
		assert_int_equal(
		    json_add_string(&b, cases[i].in, (size_t)-1), 0);
		assert_string_equal(buf_str(&b), cases[i].out);
		buf_free(&b);
	}
}

static void
test_buf_cap(void **state)
{
	struct buf b;

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

/* Passwords in URLs are never shown (issue 14, item 5). */
static void
test_url_redact(void **state)
{
	static const struct {
		const char *in;
		const char *out;
	} cases[] = {
		{ "https://user:pass@host/oai", "https://user:***@host/oai" },
		{ "http://u:p@127.0.0.1:8080/oai?verb=Identify",
		    "http://u:***@127.0.0.1:8080/oai?verb=Identify" },
		/* An '@' in the password: the last one ends the userinfo. */
		{ "https://u:p@ss@host/", "https://u:***@host/" },
		{ "https://u:@host/", "https://u:***@host/" },
		/* No password, no userinfo, an '@' only in the path or query. */
		{ "https://user@host/oai", "https://user@host/oai" },
		{ "https://host/oai", "https://host/oai" },
		{ "https://host/a@b:c", "https://host/a@b:c" },
		{ "https://host/oai?x=u:p@h", "https://host/oai?x=u:p@h" },
		{ "https://host:8443", "https://host:8443" },
		{ "", "" },
	};
	char  *r;
	size_t i;

	for (i = 0; i < nitems(cases); i++) {
		r = url_redact(cases[i].in);
		assert_string_equal(r, cases[i].out);
		free(r);
	}
	assert_string_equal(
	    log_qurl("http://a:secret@h/"), "\"http://a:***@h/\"");
}

static void
test_log_quote(void **state)
{
	assert_string_equal(log_q("a b"), "\"a b\"");
	assert_string_equal(
	    log_q("x\"y\\z\nw\x1b"), "\"x\\\"y\\\\z\\nw\\x1b\"");
	assert_string_equal(log_q(NULL), "\"\"");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_datestamps),
		cmocka_unit_test(test_datestamp_mutations),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_hex_digit),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_buf_cap),
		cmocka_unit_test(test_log_quote),
		cmocka_unit_test(test_url_redact),
	};

	return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
