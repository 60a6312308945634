/*
 * make demo, as a new user sees it (issue 16, item 2): tests/demo.sh with
 * the real test server and the real CLI, into a database of its own.  It
 * must run clean (no error or warning line), print nothing a reader cannot
 * read (no multi-kilobyte JSON line), and end with a summary that says what
 * was harvested, shows one record, says where the database is and what to
 * try next; and what it suggests must work.
 */
#include <sys/types.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util.h"

#include "testlib.h"

static int
setup(void **state)
{
	return testlib_setup();
}

static int
teardown(void **state)
{
	testlib_teardown();
	return 0;
}

static void
test_demo_reads_well(void **state)
{
	char  *out, *err, *sum, *line, *next, *db;
	size_t longest = 0, n;

	assert_int_equal(
	    run("demo.out", "demo.err",
		"DEMO_DIR=%s/demo sh tests/demo.sh %s/oaiserver %s/oaiharvest",
		tmpdir, bindir, bindir),
	    0);
	out = read_tmp("demo.out");
	err = read_tmp("demo.err");

	/*
	 * Clean: no error or warning anywhere (stderr has the harvests'
	 * summary lines, and nothing else).
	 */
	assert_null(strstr(out, "error"));
	assert_null(strstr(out, "warn"));
	assert_null(strstr(err, "error"));
	assert_null(strstr(err, "level=warn"));
	assert_null(strstr(err, "level=err"));
	assert_non_null(strstr(err, "harvest source=\"nur\" status=ok"));

	/* Readable: no line a screen cannot hold a few of. */
	for (line = out; *line != '\0'; line = next) {
		next = strchr(line, '\n');
		n = next != NULL ? (size_t)(next - line) : strlen(line);
		if (n > longest)
			longest = n;
		next = next != NULL ? next + 1 : line + n;
	}
	assert_true(longest <= 200);

	/* The summary ends the output and says what it should. */
	sum = strstr(out, "== summary\n");
	assert_non_null(sum);
	assert_non_null(strstr(sum, "nur         2 present, 1 deleted"));
	assert_non_null(strstr(sum, "synthetic   4500 present, 500 deleted"));
	assert_non_null(strstr(sum, "oai:nur.nu.edu.kz:123456789/7421"));
	assert_non_null(strstr(sum,
	    "\"THE EXPLORATION OF TEACHER LEADERSHIP"
	    " AT SECONDARY SCHOOLS IN KAZAKHSTAN\""));
	assert_non_null(strstr(sum, "by Khoroshash, Aidar"));
	xasprintf(&db, "%s/demo/harvest.db", tmpdir);
	assert_non_null(strstr(sum, db));
	assert_non_null(strstr(sum, "try next"));

	/* What it suggests works: the search finds the record shown. */
	assert_int_equal(
	    run("s.out", "s.err",
		"%s/oaiharvest search --db %s --source nur leadership", bindir,
		db),
	    0);
	free(out);
	out = read_tmp("s.out");
	assert_non_null(strstr(out, "oai:nur.nu.edu.kz:123456789/7421"));

	free(db);
	free(out);
	free(err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_demo_reads_well),
	};

	return cmocka_run_group_tests_name("demo", tests, setup, teardown);
}
