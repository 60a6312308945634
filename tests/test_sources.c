/*
 * Integration: what real repositories do that our own server did not, until
 * it was taught to (issue 13): several lists per source staying incremental,
 * source identity across base URLs, OAI errors sent with HTTP error
 * statuses, bot walls and HTML pages, records set aside by list-identifiers
 * and get-record, and the counts of a first harvest.  The real oaiharvest
 * CLI against the real test server, into a real SQLite file.
 */
#include <sys/types.h>
#include <sys/wait.h>

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
#include <sqlite3.h>

#include "store.h"
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
	pg_stop();
	testlib_teardown();
	return 0;
}

/* test_drop_while_harvesting's daemon (tmpdir/d7.conf), on its port. */
#define BUSY_DAEMON 7
#define BUSY_PORT   18431 /* this test's ports: 18430-18439 */
static pid_t busy_pid;

static int
kill_busy(void **state)
{
	daemons_kill(&busy_pid, 1);
	return 0;
}

/* One integer from a query on the database file db. */
static long long
db_int(const char *db, const char *fmt, ...)
{
	sqlite3	 *sdb;
	va_list	  ap;
	char	 *sql;
	long long v;

	va_start(ap, fmt);
	xvasprintf(&sql, fmt, ap);
	va_end(ap);
	assert_int_equal(
	    sqlite3_open_v2(db, &sdb, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	v = q_int(sdb, sql);
	sqlite3_close(sdb);
	free(sql);
	return v;
}

/* The server's count of OAI requests so far. */
static long long
oai_requests(const struct server *srv)
{
	char	 *st, *p;
	long long n;

	st = http(srv, 0, "/control/stats");
	p = strstr(st, "\"oai_requests\":");
	assert_non_null(p);
	n = atoll(p + strlen("\"oai_requests\":"));
	free(st);
	return n;
}

/* harvest; its exit status, its stderr in *err (allocated). */
static int
harvest(char **err, const char *fmt, ...)
{
	va_list ap;
	char   *args;
	int	rc;

	va_start(ap, fmt);
	xvasprintf(&args, fmt, ap);
	va_end(ap);
	rc = run("h.out", "h.err", "%s/oaiharvest harvest %s", bindir, args);
	*err = read_tmp("h.err");
	free(args);
	return rc;
}

/*
 * Item 1: with two prefixes and two sets (four lists), every list gets a
 * watermark, and the next run asks every list with from: nothing changed,
 * nothing comes back.  Before, lists 2..4 had none and came in full again
 * on every run.
 */
static void
test_every_list_incremental(void **state)
{
	struct server srv;
	char	     *db, *err;

	start_server(&srv, "lists.port",
	    "--records 200 --page-size 40 "
	    "--sets 4 --deleted-every 0");
	db = path("lists.db");
	assert_int_equal(
	    harvest(&err,
		"--db %s --url http://127.0.0.1:%d/oai "
		"--source lists --prefix oai_dc --prefix qdc --set col_1 "
		"--set com_3",
		db, srv.port),
	    0);
	assert_non_null(strstr(err, "lists=4"));
	free(err);
	assert_int_equal(db_int(db, "SELECT count(*) FROM list_state"), 4);
	assert_int_equal(db_int(db,
			     "SELECT count(*) FROM list_state WHERE "
			     "watermark IS NULL"),
	    0);
	assert_int_equal(
	    harvest(&err,
		"--db %s --url http://127.0.0.1:%d/oai "
		"--source lists --prefix oai_dc --prefix qdc --set col_1 "
		"--set com_3",
		db, srv.port),
	    0);
	if (strstr(err, " records=0 ") == NULL)
		fail_msg("the second run harvested again: %s", err);
	free(err);
	assert_int_equal(db_int(db,
			     "SELECT records FROM run ORDER BY id DESC "
			     "LIMIT 1"),
	    0);
	free(db);
	stop_server(&srv);
}

/*
 * Item 2: two repositories on one host are two sources by default; a
 * source named for one is refused the other's URL (exit 2, nothing
 * written) unless --move, which keeps its records and watermark.
 */
static void
test_source_identity(void **state)
{
	struct server a, b;
	char	     *db, *err;
	long long     runs;

	start_server(&a, "a.port", "--records 60 --page-size 20 --seed 3");
	start_server(&b, "b.port", "--records 80 --page-size 20 --seed 3");
	db = path("ident.db");
	assert_int_equal(
	    harvest(&err, "--db %s --url http://127.0.0.1:%d/oai", db, a.port),
	    0);
	free(err);
	assert_int_equal(
	    harvest(&err, "--db %s --url http://127.0.0.1:%d/oai", db, b.port),
	    0);
	free(err);
	/* Two sources, each with its own repository's records. */
	assert_int_equal(db_int(db, "SELECT count(*) FROM source"), 2);
	assert_int_equal(
	    db_int(db,
		"SELECT count(*) FROM record r JOIN source "
		"s ON s.id = r.source_id WHERE s.name = '127.0.0.1_%d_oai'",
		a.port),
	    60);
	assert_int_equal(
	    db_int(db,
		"SELECT count(*) FROM record r JOIN source "
		"s ON s.id = r.source_id WHERE s.name = '127.0.0.1_%d_oai'",
		b.port),
	    80);
	/* Again without --source: the source that harvests that URL. */
	assert_int_equal(
	    harvest(&err, "--db %s --url http://127.0.0.1:%d/oai", db, a.port),
	    0);
	free(err);
	assert_int_equal(db_int(db, "SELECT count(*) FROM source"), 2);

	/* A named source and another repository's URL: refused. */
	assert_int_equal(harvest(&err,
			     "--db %s --url http://127.0.0.1:%d/oai "
			     "--source one",
			     db, a.port),
	    0);
	free(err);
	runs = db_int(db, "SELECT count(*) FROM run");
	assert_int_equal(harvest(&err,
			     "--db %s --url http://127.0.0.1:%d/oai "
			     "--source one",
			     db, b.port),
	    2);
	assert_non_null(strstr(err, "--move"));
	free(err);
	assert_int_equal(db_int(db, "SELECT count(*) FROM run"), runs);
	assert_int_equal(db_int(db,
			     "SELECT count(*) FROM source WHERE name = "
			     "'one' AND url = 'http://127.0.0.1:%d/oai'",
			     a.port),
	    1);
	assert_int_equal(harvest(&err,
			     "--db %s --url http://127.0.0.1:%d/oai "
			     "--move",
			     db, b.port),
	    2);
	free(err);

	/* --move: the same source, its records kept, the URL follows. */
	assert_int_equal(harvest(&err,
			     "--db %s --url http://127.0.0.1:%d/oai "
			     "--source one --move",
			     db, b.port),
	    0);
	free(err);
	assert_int_equal(db_int(db,
			     "SELECT count(*) FROM source WHERE name = "
			     "'one' AND url = 'http://127.0.0.1:%d/oai'",
			     b.port),
	    1);
	/* Incremental from the kept watermark: nothing new was listed. */
	assert_int_equal(db_int(db,
			     "SELECT records FROM run ORDER BY id DESC "
			     "LIMIT 1"),
	    0);
	assert_int_equal(db_int(db,
			     "SELECT count(*) FROM record r JOIN source "
			     "s ON s.id = r.source_id WHERE s.name = 'one'"),
	    60);
	free(db);
	stop_server(&a);
	stop_server(&b);
}

/*
 * Item 3: an OAI error document is that error, whatever the HTTP status
 * (Zenodo: 422); a body that is not one stays an HTTP error.
 */
static void
test_oai_errors_under_http_status(void **state)
{
	struct server srv;
	char	     *db, *err;
	int	      rc;

	start_server(&srv, "e422.port", "--records 50 --page-size 20");
	db = path("e422.db");
	assert_int_equal(harvest(&err,
			     "--db %s --url http://127.0.0.1:%d/oai "
			     "--source z",
			     db, srv.port),
	    0);
	free(err);
	/* Nothing new: noRecordsMatch, sent with 422, is an empty list. */
	free(http(&srv, 1,
	    "/control/fault?kind=oai_status&status=422&"
	    "page=0&count=0"));
	rc = harvest(&err,
	    "--db %s --url http://127.0.0.1:%d/oai --source z "
	    "--retries 0",
	    db, srv.port);
	if (rc != 0)
		fail_msg("noRecordsMatch under 422 failed the run: %s", err);
	assert_non_null(strstr(err, "status=ok"));
	free(err);
	/* The same under 404 and 500. */
	free(http(&srv, 1, "/control/clear-faults"));
	free(http(&srv, 1,
	    "/control/fault?kind=oai_status&status=404&"
	    "page=0&count=0"));
	assert_int_equal(harvest(&err,
			     "--db %s --url http://127.0.0.1:%d/oai "
			     "--source z --retries 0",
			     db, srv.port),
	    0);
	free(err);
	free(http(&srv, 1, "/control/clear-faults"));
	/* get-record: the OAI error, not "HTTP status 422". */
	free(http(&srv, 1, "/control/fault?kind=oai_status&status=422"));
	rc = run("g.out", "g.err",
	    "%s/oaiharvest get-record "
	    "http://127.0.0.1:%d/oai oai:oaiharvest.test:nope",
	    bindir, srv.port);
	err = read_tmp("g.err");
	assert_int_equal(rc, 1);
	if (strstr(err, "idDoesNotExist") == NULL)
		fail_msg("get-record: %s", err);
	assert_null(strstr(err, "HTTP status"));
	free(err);
	/* A page of records under 500 is not an answer: an HTTP error. */
	free(http(&srv, 1,
	    "/control/fault?kind=oai_status&status=500&"
	    "page=0"));
	rc = harvest(&err,
	    "--db %s --url http://127.0.0.1:%d/oai --source y "
	    "--retries 0",
	    db, srv.port);
	assert_int_equal(rc, 1);
	assert_non_null(strstr(err, "HTTP status 500"));
	free(err);
	free(db);
	stop_server(&srv);
}

/*
 * Item 9: a bot wall's challenge is named as what it is (error type
 * blocked), and not retried; an ordinary HTML page is "HTML, not XML".
 */
static void
test_bot_walls(void **state)
{
	static const struct {
		const char *wall;
		const char *name;
	} walls[] = {
		{ "cloudflare", "Cloudflare" },
		{ "aws", "AWS WAF" },
		{ "anubis", "Anubis" },
	};
	struct server srv;
	char	     *db, *err, *q;
	long long     before;
	size_t	      i;

	start_server(&srv, "wall.port", "--records 30 --page-size 10");
	for (i = 0; i < nitems(walls); i++) {
		xasprintf(&q,
		    "/control/fault?kind=challenge&wall=%s&at=2&"
		    "count=0",
		    walls[i].wall);
		free(http(&srv, 1, "/control/clear-faults"));
		free(http(&srv, 1, q));
		free(q);
		xasprintf(&db, "%s/wall-%zu.db", tmpdir, i);
		before = oai_requests(&srv);
		assert_int_equal(
		    harvest(&err,
			"--db %s --url "
			"http://127.0.0.1:%d/oai --source w --retry-wait 1",
			db, srv.port),
		    1);
		if (strstr(err, "bot protection") == NULL ||
		    strstr(err, walls[i].name) == NULL)
			fail_msg("%s: %s", walls[i].wall, err);
		free(err);
		/* Identify and the one challenged request: no retry. */
		assert_int_equal(oai_requests(&srv) - before, 2);
		assert_int_equal(db_int(db,
				     "SELECT count(*) FROM run WHERE "
				     "status = 'failed' AND error LIKE '%%bot "
				     "protection%%'"),
		    1);
		free(db);
	}
	/* An ordinary HTML page where XML was expected. */
	free(http(&srv, 1, "/control/clear-faults"));
	free(http(&srv, 1, "/control/fault?kind=html200&at=2&count=0"));
	db = path("html.db");
	assert_int_equal(harvest(&err,
			     "--db %s --url http://127.0.0.1:%d/oai "
			     "--source h --retries 0",
			     db, srv.port),
	    1);
	if (strstr(err, "HTML, not XML") == NULL)
		fail_msg("html200: %s", err);
	assert_null(strstr(err, "DOCTYPE"));
	free(err);
	/* One-off requests say the same. */
	free(http(&srv, 1, "/control/clear-faults"));
	free(http(&srv, 1, "/control/fault?kind=challenge&wall=anubis"));
	assert_int_equal(run("i.out", "i.err",
			     "%s/oaiharvest identify "
			     "http://127.0.0.1:%d/oai",
			     bindir, srv.port),
	    1);
	err = read_tmp("i.err");
	if (strstr(err, "blocked") == NULL || strstr(err, "Anubis") == NULL)
		fail_msg("identify: %s", err);
	free(err);
	free(db);
	stop_server(&srv);
}

/*
 * Item 8: list-identifiers and get-record say what they set aside, and
 * why, as harvest does.
 */
static void
test_set_aside_is_said(void **state)
{
	struct server srv;
	char	     *err, *out;
	int	      rc;

	start_server(&srv, "aside.port",
	    "--records 30 --page-size 10 "
	    "--deleted-every 0");
	free(http(&srv, 1,
	    "/control/fault?kind=badrecord&variant=baddate&"
	    "record=2"));
	rc = run("li.out", "li.err",
	    "%s/oaiharvest list-identifiers "
	    "http://127.0.0.1:%d/oai",
	    bindir, srv.port);
	assert_int_equal(rc, 0);
	err = read_tmp("li.err");
	out = read_tmp("li.out");
	if (strstr(err, "set aside") == NULL ||
	    strstr(err, "oai:oaiharvest.test:rec/3") == NULL ||
	    strstr(err, "29 records, 1 set aside") == NULL)
		fail_msg("list-identifiers: %s", err);
	assert_null(strstr(out, "oai:oaiharvest.test:rec/3\""));
	free(err);
	free(out);
	/*
	 * A token repeated forever: list-identifiers stops at once, as
	 * harvest does (it used to follow it to a million pages).
	 */
	free(http(&srv, 1, "/control/fault?kind=same_token&count=0"));
	rc = run("st.out", "st.err",
	    "timeout 60 %s/oaiharvest "
	    "list-identifiers http://127.0.0.1:%d/oai",
	    bindir, srv.port);
	err = read_tmp("st.err");
	if (rc != 1 || strstr(err, "repeated the resumptionToken") == NULL)
		fail_msg("same token: exit %d: %.300s", rc, err);
	free(err);
	free(http(&srv, 1, "/control/clear-faults"));
	free(http(&srv, 1, "/control/fault?kind=badrecord&variant=baddate"));
	rc = run("gr.out", "gr.err",
	    "%s/oaiharvest get-record "
	    "http://127.0.0.1:%d/oai oai:oaiharvest.test:rec/5",
	    bindir, srv.port);
	assert_int_equal(rc, 1);
	err = read_tmp("gr.err");
	if (strstr(err, "set aside") == NULL ||
	    strstr(err, "oai:oaiharvest.test:rec/5") == NULL)
		fail_msg("get-record: %s", err);
	free(err);
	stop_server(&srv);
}

/*
 * Item 10: a first harvest's deleted headers of records never seen are
 * tombstones, not "unchanged"; a record set aside was received, so it
 * does not make a completeListSize warning.
 */
static void
test_first_harvest_counts(void **state)
{
	struct server srv;
	char	     *db, *err;

	start_server(&srv, "counts.port",
	    "--records 100 --page-size 25 "
	    "--deleted-every 10");
	free(http(&srv, 1,
	    "/control/fault?kind=badrecord&variant=baddate&"
	    "page=1"));
	db = path("counts.db");
	assert_int_equal(harvest(&err,
			     "--db %s --url http://127.0.0.1:%d/oai "
			     "--source c",
			     db, srv.port),
	    0);
	if (strstr(err, " new=89 ") == NULL ||
	    strstr(err, " unchanged=0 ") == NULL ||
	    strstr(err, " tombstones=10 ") == NULL ||
	    strstr(err, " rejected=1") == NULL)
		fail_msg("counts: %s", err);
	if (strstr(err, "completeListSize") != NULL)
		fail_msg("false completeListSize warning: %s", err);
	free(err);
	assert_int_equal(db_int(db, "SELECT unchanged FROM run"), 0);
	assert_int_equal(db_int(db, "SELECT count(*) FROM change"), 89);
	assert_int_equal(db_int(db,
			     "SELECT count(*) FROM record WHERE "
			     "deleted"),
	    10);
	free(db);
	stop_server(&srv);
}

/*
 * Issue 14, item 5: a password in the base URL is sent (the requests need
 * it) but never shown: not in the logs, the summary, the source's name,
 * source.url or run.error.
 */
static void
test_password_never_shown(void **state)
{
	struct server srv;
	char	     *db, *err;

	start_server(&srv, "pw.port", "--records 40 --page-size 20");
	db = path("pw.db");
	free(http(&srv, 1, "/control/fault?kind=http404&page=1"));
	assert_int_equal(harvest(&err,
			     "-vv --db %s --url "
			     "http://alice:s3cret@127.0.0.1:%d/oai --retries 0",
			     db, srv.port),
	    1);
	assert_null(strstr(err, "s3cret"));
	if (strstr(err, "alice:***@127.0.0.1") == NULL)
		fail_msg("no redacted URL: %.400s", err);
	free(err);
	assert_int_equal(db_int(db,
			     "SELECT count(*) FROM source WHERE url = "
			     "'http://alice:***@127.0.0.1:%d/oai' AND name = "
			     "'127.0.0.1_%d_oai'",
			     srv.port, srv.port),
	    1);
	assert_int_equal(
	    db_int(db,
		"SELECT count(*) FROM run WHERE error LIKE "
		"'%%HTTP status 404%%' AND error NOT LIKE '%%s3cret%%'"),
	    1);
	/* The same source again, with the password changed: no new source. */
	assert_int_equal(harvest(&err,
			     "--db %s --url "
			     "http://alice:n3w@127.0.0.1:%d/oai",
			     db, srv.port),
	    0);
	free(err);
	assert_int_equal(db_int(db, "SELECT count(*) FROM source"), 1);
	assert_int_equal(db_int(db, "SELECT count(*) FROM record"), 40);
	free(db);
	stop_server(&srv);
}

/*
 * Issue 17: `sources drop` while a daemon harvests the source (leases =
 * yes, its run going, its host's lease held) is refused, naming the
 * daemon, and the source stays; --force drops it all the same.  Before,
 * the drop went through and the run failed on its next page.
 */
static void
test_drop_while_harvesting(void **state)
{
	struct server srv;
	char	     *db, *conf, *err, *out;
	long long     n = 0;

	db = tdb_new(state, "busy.db");
	start_server(&srv, "busy.port",
	    "--records 4000 --page-size 50 --delay-ms 150 --deleted-every 0");
	xasprintf(&conf,
	    "[global]\ndatabase = %s\nleases = yes\nlease_ttl = 3s\n"
	    "node_name = keeper\ndelay = 0s\n"
	    "status_listen = 127.0.0.1:%d\n\n"
	    "[source busy]\nurl = http://127.0.0.1:%d/oai\ninterval = 1h\n",
	    db, BUSY_PORT, srv.port);
	save("d7.conf", conf);
	free(conf);
	busy_pid = daemon_n_start(BUSY_DAEMON);
	/* Until its run is going, with some pages in, under its lease. */
	n = tdb_wait_int(db,
	    "SELECT count(*) FROM run r JOIN source s"
	    " ON s.id = r.source_id WHERE s.name = 'busy'"
	    " AND r.status = 'running' AND (SELECT count(*)"
	    "  FROM record WHERE source_id = s.id) >= 100"
	    " AND EXISTS (SELECT 1 FROM lease"
	    "  WHERE node = 'keeper' AND holder IS NOT NULL)",
	    1, 60000);
	if (n != 1)
		fail_msg("the daemon's run did not get going");

	assert_int_equal(
	    run("drop.out", "drop.err",
		"%s/oaiharvest sources --db %s drop busy", bindir, db),
	    1);
	err = read_tmp("drop.err");
	if (strstr(err, "is being harvested by keeper") == NULL ||
	    strstr(err, "--force") == NULL)
		fail_msg("no refusal naming the daemon: %s", err);
	free(err);
	assert_int_equal(
	    tdb_int(db, "SELECT count(*) FROM source WHERE name = 'busy'"), 1);
	assert_true(tdb_int(db, "SELECT count(*) FROM record") > 0);

	if (run("drop.out", "drop.err",
		"%s/oaiharvest sources --db %s drop busy --force", bindir,
		db) != 0)
		fail_msg("drop --force failed: %s", read_tmp("drop.err"));
	out = read_tmp("drop.out");
	assert_non_null(strstr(out, "source \"busy\" dropped"));
	free(out);
	daemon_n_stop(&busy_pid, BUSY_DAEMON);
	assert_int_equal(
	    tdb_int(db, "SELECT count(*) FROM source WHERE name = 'busy'"), 0);
	stop_server(&srv);
	free(db);
}

/*
 * A sources command (args) beside a page transaction that has rewritten
 * a record of the source "beside" (PostgreSQL), deterministically: the
 * record (swept) and its list's row were written before; the page holds
 * the record's row when the command starts, waits until it waits for a
 * lock, then writes its list row and change row and commits.  Both must
 * succeed.  The database's URI (allocated).
 */
static char *
beside_page(void **state, const char *args)
{
	static const struct store_dc dc[] = { { "title", "A title", NULL } };
	static const char *const     m1 = "<oai_dc:dc><dc:title>A title"
					  "</dc:title></oai_dc:dc>";
	static const char *const     m2 = "<oai_dc:dc><dc:title>Another"
					  "</dc:title></oai_dc:dc>";
	struct store_list_state	     ls;
	struct store_record	     r;
	struct store		    *s;
	enum store_change	     kind;
	int64_t			     src, runid;
	char			    *db, *cmd, *err, *cause = NULL;
	pid_t			     pid, w = 0;
	int			     i, st = 0, crc;

	db = tdb_new(state, "beside.db");
	if ((s = store_open(db, 0, &cause)) == NULL)
		fail_msg("store_open: %s", cause);
	src = store_source(s, "beside", "http://127.0.0.1:9/oai", 0, &cause);
	assert_true(src > 0);
	runid = store_run_begin(s, src, &cause);
	assert_true(runid > 0);
	memset(&r, 0, sizeof(r));
	r.prefix = "oai_dc";
	r.identifier = "oai:beside:1";
	r.datestamp = "2026-01-01T00:00:00Z";
	r.metadata = m1;
	r.metadata_len = strlen(m1);
	r.dc = dc;
	r.ndc = nitems(dc);
	memset(&ls, 0, sizeof(ls));
	ls.cursor = ls.complete_list_size = -1;
	ls.token = "t1";
	ls.pages = 1;
	assert_int_equal(store_begin(s, &cause), 0);
	assert_int_equal(store_put(s, src, runid, &r, &kind, &cause), 0);
	assert_int_equal(kind, STORE_NEW);
	assert_int_equal(
	    store_sweep_mark(s, src, "oai_dc", r.identifier, runid, &cause), 0);
	assert_int_equal(
	    store_list_checkpoint(s, src, "oai_dc", "", &ls, &cause), 0);
	assert_int_equal(store_commit(s, &cause), 0);

	/* The page: the record rewritten, its row written (a read syncs). */
	assert_int_equal(store_begin(s, &cause), 0);
	r.datestamp = "2026-02-01T00:00:00Z";
	r.metadata = m2;
	r.metadata_len = strlen(m2);
	assert_int_equal(store_put(s, src, runid, &r, &kind, &cause), 0);
	assert_int_equal(kind, STORE_UPDATED);
	assert_int_equal(store_list_get(s, src, "oai_dc", "", &ls, &cause), 0);
	store_list_state_free(&ls);

	/* The command, until it waits for a lock (at most 20 s). */
	xasprintf(&cmd,
	    "%s/oaiharvest sources --db %s %s "
	    ">%s/beside.out 2>%s/beside.err",
	    bindir, db, args, tmpdir, tmpdir);
	if ((pid = fork()) == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	assert_true(pid > 0);
	free(cmd);
	if (tdb_wait_int(db,
		"SELECT count(*) FROM pg_stat_activity"
		" WHERE wait_event_type = 'Lock'"
		" AND datname = current_database()",
		1, 20000) != 1) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		fail_msg("%s never waited: %s", args, read_tmp("beside.err"));
	}

	/* The page goes on: its list row, its change row, its commit. */
	memset(&ls, 0, sizeof(ls));
	ls.cursor = ls.complete_list_size = -1;
	ls.token = "t2";
	ls.pages = 2;
	crc = store_list_checkpoint(s, src, "oai_dc", "", &ls, &cause);
	if (crc == 0)
		crc = store_commit(s, &cause);
	if (crc != 0)
		store_rollback(s);
	for (i = 0; i < 600 && (w = waitpid(pid, &st, WNOHANG)) == 0; i++)
		usleep(50 * 1000);
	if (w != pid) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		fail_msg("%s did not end in 30 s", args);
	}
	err = read_tmp("beside.err");
	if (crc != 0)
		fail_msg(
		    "the page failed beside %s: %s (%s)", args, cause, err);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("%s failed beside the page: %s", args, err);
	free(err);
	store_close(s);
	return db;
}

/*
 * sources drop --force beside a page: the page's list and change rows
 * want the source's row, which the drop locked before it wanted the
 * record's: "deadlock detected" (test_drop_while_harvesting failed so
 * now and then).  The page now takes its source's row first: the drop
 * waits for its commit, then drops everything.
 */
static void
test_drop_beside_page(void **state)
{
	char *db;

	db = beside_page(state, "drop beside --force");
	assert_int_equal(tdb_int(db, "SELECT count(*) FROM source"), 0);
	assert_int_equal(tdb_int(db, "SELECT count(*) FROM record"), 0);
	assert_int_equal(tdb_int(db, "SELECT count(*) FROM content"), 0);
	assert_int_equal(tdb_int(db, "SELECT count(*) FROM run"), 0);
	free(db);
}

/*
 * sources reset beside a page: the reset deleted the list's row and then
 * wanted the record's (its sweep mark), which the page held and then
 * wanted the list's row: "deadlock detected".  The reset now takes the
 * source's row first, as the drop does: it waits for the page's commit,
 * then forgets its list and sweep.
 */
static void
test_reset_beside_page(void **state)
{
	char *db;

	db = beside_page(state, "reset beside");
	assert_int_equal(tdb_int(db, "SELECT count(*) FROM list_state"), 0);
	assert_int_equal(tdb_int(db,
			     "SELECT count(*) FROM record"
			     " WHERE swept IS NOT NULL"),
	    0);
	assert_int_equal(tdb_int(db,
			     "SELECT count(*) FROM record"
			     " WHERE datestamp = '2026-02-01T00:00:00Z'"),
	    1);
	free(db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_list_incremental),
		cmocka_unit_test(test_source_identity),
		cmocka_unit_test(test_oai_errors_under_http_status),
		cmocka_unit_test(test_bot_walls),
		cmocka_unit_test(test_set_aside_is_said),
		cmocka_unit_test(test_first_harvest_counts),
		cmocka_unit_test(test_password_never_shown),
		/* BACKENDS(), with a teardown for the daemon. */
		{ "test_drop_while_harvesting", test_drop_while_harvesting,
		    NULL, kill_busy, (void *)&tbackends[0] },
		{ "test_drop_while_harvesting/pg", test_drop_while_harvesting,
		    NULL, kill_busy, (void *)&tbackends[1] },
		{ "test_drop_beside_page/pg", test_drop_beside_page, NULL, NULL,
		    (void *)&tbackends[1] },
		{ "test_reset_beside_page/pg", test_reset_beside_page, NULL,
		    NULL, (void *)&tbackends[1] },
	};

	return cmocka_run_group_tests_name("sources", tests, setup, teardown);
}
