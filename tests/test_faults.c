/*
 * Harvesting through broken endpoints: for every fault the test server can
 * inject, a harvest either completes with exactly the corpus, or fails
 * cleanly with a clear error and nothing lost (only whole pages were
 * written, and the next harvest without the fault completes exactly).
 * The table runs once per backend (BACKENDS): on SQLite files and, for
 * the cases that fail or set a record aside, on databases of a private
 * PostgreSQL cluster.
 */
#include <sys/types.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "testlib.h"

#define RECORDS 300
#define PAGE	50

enum outcome {
	OK_EXACT,   /* exit 0, the database equals the corpus */
	OK_ONE_OFF, /* exit 0, one record set aside or repaired */
	FAILS,	    /* exit 1, a clear error, whole pages only */
};

static const struct fcase {
	const char  *name;
	const char  *fault; /* /control/fault arguments */
	enum outcome outcome;
	const char  *expect;  /* in the summary line, or NULL */
	const char  *options; /* more harvest options, or NULL */
} cases[] = {
	{ "503 with Retry-After seconds", "kind=http503&page=2&retry_after=1",
	    OK_EXACT, "retries=1", NULL },
	{ "429 with Retry-After HTTP-date",
	    "kind=http429&page=1&retry_after_date=1", OK_EXACT, "retries=1",
	    NULL },
	{ "500", "kind=http500&page=3", OK_EXACT, "retries=1", NULL },
	{ "502 twice", "kind=http502&page=1&count=2", OK_EXACT, "retries=2",
	    NULL },
	{ "504 on Identify", "kind=http504&at=1", OK_EXACT, "retries=1", NULL },
	{ "403 stops", "kind=http403&page=2", FAILS, "403", NULL },
	{ "404 is final", "kind=http404&page=1", FAILS, "HTTP status 404",
	    NULL },
	{ "connection reset mid-body", "kind=reset&page=2", OK_EXACT,
	    "retries=1", NULL },
	{ "truncated body", "kind=truncate&page=4", OK_EXACT, "retries=1",
	    NULL },
	{ "stalled body", "kind=stall&page=1&seconds=20", OK_EXACT, "retries=1",
	    "--timeout 2s" },
	{ "HTML with status 200", "kind=html200&page=2", OK_EXACT, "retries=1",
	    NULL },
	{ "control characters", "kind=ctrlchars&page=1", OK_EXACT,
	    "repaired_bytes=", NULL },
	{ "gzip", "kind=gzip&page=1", OK_EXACT, NULL, NULL },
	{ "deflate", "kind=deflate&page=2", OK_EXACT, NULL, NULL },
	{ "gzip without Content-Encoding", "kind=gzip_noheader&page=3",
	    OK_EXACT, NULL, NULL },
	{ "a redirect", "kind=redirect&page=1", OK_EXACT, NULL, NULL },
	{ "a redirect loop", "kind=redirect_loop&page=2", FAILS, "redirect",
	    NULL },
	{ "oversized response", "kind=oversize&page=1&mb=8", FAILS,
	    "larger than", "--max-response-bytes 4194304" },
	{ "gzip bomb", "kind=oversize&page=1&mb=64&gzipbomb=1", FAILS,
	    "larger than", "--max-response-bytes 4194304" },
	{ "the same token forever", "kind=same_token&page=2", FAILS,
	    "repeated the resumptionToken", NULL },
	/* Its token leads back to the same page: a loop, caught as one. */
	{ "empty pages with a token forever", "kind=empty_token&page=1&count=0",
	    FAILS, "the server repeated the resumptionToken", NULL },
	/* Tokens that never repeat: the empty pages are counted instead. */
	{ "empty pages with fresh tokens forever",
	    "kind=empty_token&page=1&count=0&delta=1", FAILS,
	    "11 pages in a row without records", NULL },
	{ "a few empty pages with fresh tokens",
	    "kind=empty_token&page=1&count=3&delta=1", OK_EXACT, NULL, NULL },
	{ "expired token", "kind=expire_token&page=3", OK_EXACT, NULL, NULL },
	{ "noRecordsMatch for a token too early", "kind=past_end&page=3",
	    OK_EXACT, NULL, NULL },
	{ "a record without identifier",
	    "kind=badrecord&page=2&record=3"
	    "&variant=noid",
	    OK_ONE_OFF, "rejected=1", NULL },
	{ "a record with a bad datestamp",
	    "kind=badrecord&page=1&record=0"
	    "&variant=baddate",
	    OK_ONE_OFF, "rejected=1", NULL },
	{ "a record with two metadata roots",
	    "kind=badrecord&page=4&record=7"
	    "&variant=tworoots",
	    OK_ONE_OFF, "rejected=1", NULL },
	{ "U+FFFE and a lone surrogate reference", "kind=badchars&page=1",
	    OK_ONE_OFF, "repaired_bytes=", NULL },
	{ "bytes invalid in UTF-8", "kind=badencoding&page=3", OK_ONE_OFF,
	    "repaired_bytes=", NULL },
	{ "completeListSize that does not match", "kind=wrong_cls&count=0",
	    OK_EXACT, "warnings=", NULL },
};

static struct server srv;

static int
setup(void **state)
{
	if (testlib_setup() == -1)
		return -1;
	start_server(&srv, "f.port",
	    "--records 300 --page-size 50 "
	    "--deleted-every 0 --seed 11");
	return 0;
}

static int
teardown(void **state)
{
	stop_server(&srv);
	pg_stop();
	testlib_teardown();
	return 0;
}

static int
harvest(const char *db, const char *options, char **err)
{
	int rc;

	rc = run("f.out", "f.err",
	    "%s/oaiharvest harvest --db %s --url "
	    "http://127.0.0.1:%d/oai --source f --retry-wait 100 %s",
	    bindir, db, srv.port, options != NULL ? options : "");
	*err = read_tmp("f.err");
	return rc;
}

static void
check_exact(const char *db)
{
	char *exp, *dump;

	assert_int_equal(run("fe.out", "fe.err",
			     "%s/oaiharvest export --db "
			     "%s",
			     bindir, db),
	    0);
	exp = read_tmp("fe.out");
	dump = http(&srv, 0, "/control/dump");
	compare_export_dump(exp, dump, "f");
	free(exp);
	free(dump);
}

static void
test_fault_table(void **state)
{
	const struct tbackend *be = *state;
	char		      *db, *err, *q, *name;
	long long	       n;
	size_t		       i;
	int		       rc, rejected;

	for (i = 0; i < nitems(cases); i++) {
		/*
		 * On PostgreSQL, the cases where the store matters: a failed
		 * harvest must leave whole pages, a record set aside is kept
		 * in reject.  An exact one writes as any harvest does.
		 */
		if (be->pg && cases[i].outcome == OK_EXACT)
			continue;
		print_message("fault (%s): %s\n", be->name, cases[i].name);
		free(http(&srv, 1, "/control/clear-faults"));
		xasprintf(&q, "/control/fault?%s", cases[i].fault);
		free(http(&srv, 1, q));
		free(q);
		xasprintf(&name, "f%zu.db", i);
		db = tdb_new(state, name);
		free(name);
		rc = harvest(db, cases[i].options, &err);
		if (cases[i].outcome != FAILS && rc != 0)
			fail_msg("%s: harvest failed: %s", cases[i].name, err);
		if (cases[i].outcome == FAILS && rc != 1)
			fail_msg(
			    "%s: exit %d, want 1: %s", cases[i].name, rc, err);
		if (cases[i].expect != NULL &&
		    strstr(err, cases[i].expect) == NULL)
			fail_msg("%s: no \"%s\" in: %s", cases[i].name,
			    cases[i].expect, err);
		free(err);
		if (cases[i].outcome == OK_EXACT) {
			check_exact(db);
			free(db);
			continue;
		}
		if (cases[i].outcome == OK_ONE_OFF) {
			/*
			 * The rest of the page and of the list is kept: all
			 * records but one, or all with one value repaired.
			 */
			n = tdb_int(db, "SELECT count(*) FROM record");
			rejected = strstr(cases[i].expect, "rejected=") != NULL;
			/* A record set aside is kept, raw, for inspection. */
			if (tdb_int(db,
				"SELECT count(*) FROM reject WHERE "
				"raw LIKE '%<record%' AND cause != ''") !=
			    rejected)
				fail_msg("%s: %d reject(s) expected kept",
				    cases[i].name, rejected);
			/* Set aside: one record fewer; repaired: all. */
			if (n != RECORDS - rejected)
				fail_msg("%s: %lld records", cases[i].name, n);
			free(db);
			continue;
		}
		/* Failed: whole pages only, then a clean run completes. */
		n = tdb_int(db, "SELECT count(*) FROM record");
		assert_int_equal(tdb_int(db,
				     "SELECT count(*) FROM run WHERE "
				     "status = 'failed' AND error IS NOT NULL"),
		    1);
		if (n % PAGE != 0)
			fail_msg("%s: %lld records: a page half-written",
			    cases[i].name, n);
		free(http(&srv, 1, "/control/clear-faults"));
		rc = harvest(db, NULL, &err);
		if (rc != 0)
			fail_msg("%s: the harvest after it failed: %s",
			    cases[i].name, err);
		free(err);
		check_exact(db);
		free(db);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		BACKENDS(test_fault_table),
	};

	return cmocka_run_group_tests_name("faults", tests, setup, teardown);
}
