/*
 * The PostgreSQL store backend (store/pg*.c) against a private PostgreSQL
 * 15 cluster that the test starts (tests/testlib.c): the cluster itself,
 * the store's operations, and oaiharvest harvesting the test server into
 * it, a re-harvest and a harvest killed mid-way.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "testlib.h"
#include "util.h"

/* One value of a query on the database at uri, allocated ("" for NULL). */
static char *
pg_value(const char *uri, const char *sql)
{
	PGconn	 *c;
	PGresult *r;
	char	 *v;

	c = PQconnectdb(uri);
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("connect: %s", PQerrorMessage(c));
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	v = xstrdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	PQfinish(c);
	return v;
}

static long long
pg_int(const char *uri, const char *sql)
{
	char	 *v = pg_value(uri, sql);
	long long n = strtoll(v, NULL, 10);

	free(v);
	return n;
}

/* The cluster: a fresh database each time, PostgreSQL 15. */
static void
test_cluster(void **state)
{
	char *a, *b, *v;

	a = pg_database();
	b = pg_database();
	assert_string_not_equal(a, b);
	v = pg_value(a, "SHOW server_version_num");
	assert_true(strncmp(v, "15", 2) == 0);
	free(v);
	assert_int_equal(pg_int(b,
			     "SELECT count(*) FROM pg_class "
			     "WHERE relname = 'record'"),
	    0);
	free(a);
	free(b);
}

static int
group_setup(void **state)
{
	if (testlib_setup() == -1)
		return -1;
	pg_start();
	return 0;
}

static int
group_teardown(void **state)
{
	pg_stop();
	testlib_teardown();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cluster),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
