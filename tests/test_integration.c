/*
 * Integration: the real oaiharvest CLI harvests the real test server over
 * HTTP on 127.0.0.1 into a real SQLite file; the export is compared field by
 * field with the server's own account of its corpus (/control/dump), using
 * SQLite's JSON functions; then the corpus changes and the exact change rows
 * of the next harvest are checked.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <sqlite3.h>

#include "store.h"
#include "util.h"

#include "testlib.h"

static struct server synth; /* 350 records, 50 per page */

/* Setup */

static int
setup(void **state)
{
	if (testlib_setup() == -1)
		return -1;
	start_server(&synth, "synth.port",
	    "--records 350 --page-size 50 "
	    "--sets 4 --deleted-every 10 --seed 7");
	return 0;
}

static int
teardown(void **state)
{
	stop_server(&synth);
	pg_stop();
	testlib_teardown();
	return 0;
}

/* Checks */

/* The export of one source of db is the server's corpus, field by field. */
static void
export_matches(const struct server *srv, const char *db, const char *source)
{
	char *exp, *dump;

	assert_int_equal(run("xm.out", "xm.err",
			     "%s/oaiharvest export --db %s "
			     "--source %s",
			     bindir, db, source),
	    0);
	exp = read_tmp("xm.out");
	dump = http(srv, 0, "/control/dump");
	compare_export_dump(exp, dump, source);
	free(exp);
	free(dump);
}

static int
is_pg(const char *db)
{
	return strncmp(db, "postgresql://", 13) == 0;
}

/*
 * A new database whose record table refuses one identifier (of one source
 * only, when source is not NULL), as a full disk would: a trigger, in
 * SQLite or PostgreSQL; refusing_end() drops it.
 */
static void
refusing_database(const char *db, const char *identifier, const char *source)
{
	struct store *s;
	char	     *cause = NULL, *sql;

	if ((s = store_open(db, 0, &cause)) == NULL)
		fail_msg("store_open: %s", cause);
	store_close(s);
	if (is_pg(db))
		/* PostgreSQL's WHEN takes no subquery: the function tests. */
		xasprintf(&sql,
		    "CREATE FUNCTION refuse() RETURNS trigger"
		    " LANGUAGE plpgsql AS $$ BEGIN"
		    " IF NEW.identifier = '%s'%s%s%s THEN"
		    " RAISE EXCEPTION 'injected failure'; END IF;"
		    " RETURN NEW; END $$;"
		    "CREATE TRIGGER refuse BEFORE INSERT ON record"
		    " FOR EACH ROW EXECUTE FUNCTION refuse()",
		    identifier,
		    source != NULL ? " AND NEW.source_id = "
				     "(SELECT id FROM source WHERE name = '" :
				     "",
		    source != NULL ? source : "", source != NULL ? "')" : "");
	else
		xasprintf(&sql,
		    "CREATE TRIGGER refuse BEFORE INSERT ON record "
		    "WHEN NEW.identifier = '%s'%s%s%s "
		    "BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
		    identifier,
		    source != NULL ? " AND NEW.source_id = "
				     "(SELECT id FROM source WHERE name = '" :
				     "",
		    source != NULL ? source : "", source != NULL ? "')" : "");
	tdb_exec(db, sql);
	free(sql);
}

static void
refusing_end(const char *db)
{
	tdb_exec(db,
	    is_pg(db) ? "DROP TRIGGER refuse ON record" :
			"DROP TRIGGER refuse");
}

/*
 * Every record (of every source) has exactly one "new" change; nothing
 * else happened.
 */
static void
check_one_new_each(const char *db, long long live)
{
	sqlite3 *sdb;
	char	*ch;

	assert_int_equal(run("wc.out", "wc.err",
			     "%s/oaiharvest changes --db "
			     "%s",
			     bindir, db),
	    0);
	ch = read_tmp("wc.out");
	assert_int_equal(sqlite3_open(":memory:", &sdb), SQLITE_OK);
	load_jsonl(sdb, "c", ch);
	assert_int_equal(q_int(sdb, "SELECT count(*) FROM c"), live);
	assert_int_equal(
	    q_int(sdb,
		"SELECT count(*) FROM (SELECT DISTINCT "
		"j->>'source', j->>'identifier' FROM c WHERE j->>'kind' = "
		"'new')"),
	    live);
	sqlite3_close(sdb);
	free(ch);
}

/* Tests */

/* Harvest everything, compare with the corpus; harvest again: no change. */
static void
test_full_then_incremental(void **state)
{
	char *err, *exp, *dump, *ch, *db;
	int   rc;

	db = tdb_new(state, "full.db");
	rc = run("h1.out", "h1.err",
	    "%s/oaiharvest harvest --db %s --url "
	    "http://127.0.0.1:%d/oai --source synth",
	    bindir, db, synth.port);
	err = read_tmp("h1.err");
	if (rc != 0)
		fail_msg("harvest failed: %s", err);
	assert_non_null(strstr(err, "status=ok"));
	/* 350 records in pages of 50: 7 pages, 35 deleted never seen. */
	assert_non_null(strstr(err, "pages=7 records=350 new=315 "));
	free(err);

	assert_int_equal(run("e1.out", "e1.err",
			     "%s/oaiharvest export --db "
			     "%s",
			     bindir, db),
	    0);
	exp = read_tmp("e1.out");
	dump = http(&synth, 0, "/control/dump");
	compare_export_dump(exp, dump, "synth");
	free(exp);
	free(dump);

	assert_int_equal(run("c1.out", "c1.err",
			     "%s/oaiharvest changes --db "
			     "%s",
			     bindir, db),
	    0);
	ch = read_tmp("c1.out");
	/* One "new" change per live record, seq 1..315. */
	assert_non_null(strstr(ch, "{\"seq\":1,\"source\":\"synth\","));
	assert_non_null(strstr(ch, "{\"seq\":315,"));
	assert_null(strstr(ch, "{\"seq\":316,"));
	assert_null(strstr(ch, "\"kind\":\"updated\""));
	free(ch);

	/* Nothing changed: a successful harvest with no change rows. */
	rc = run("h2.out", "h2.err",
	    "%s/oaiharvest harvest --db %s --url "
	    "http://127.0.0.1:%d/oai --source synth",
	    bindir, db, synth.port);
	err = read_tmp("h2.err");
	if (rc != 0)
		fail_msg("second harvest failed: %s", err);
	assert_non_null(strstr(err, "new=0 updated=0 deleted=0"));
	free(err);
	assert_int_equal(run("c2.out", "c2.err",
			     "%s/oaiharvest changes --db "
			     "%s --since 315",
			     bindir, db),
	    0);
	ch = read_tmp("c2.out");
	assert_string_equal(ch, "");
	free(ch);
	free(db);
}

/*
 * Change the corpus (add, update, delete, datestamp bump only), harvest
 * again, check the exact change rows; the export still equals the corpus.
 */
static void
test_changes_exact(void **state)
{
	sqlite3 *sdb;
	char	*err, *exp, *dump, *ch, *db, *r;
	int	 rc;

	db = path("changes.db");
	rc = run("h3.out", "h3.err",
	    "%s/oaiharvest harvest --db %s --url "
	    "http://127.0.0.1:%d/oai --source synth",
	    bindir, db, synth.port);
	assert_int_equal(rc, 0);
	assert_int_equal(run("c3.out", "c3.err",
			     "%s/oaiharvest changes --db "
			     "%s",
			     bindir, db),
	    0);
	ch = read_tmp("c3.out");
	assert_non_null(strstr(ch, "{\"seq\":315,"));
	free(ch);

	free(http(&synth, 1, "/control/add?n=3")); /* 351..353 */
	free(http(&synth, 1, "/control/update?id=12"));
	free(http(&synth, 1, "/control/touch?id=13")); /* bump only */
	free(http(&synth, 1, "/control/delete?id=14"));
	free(http(&synth, 1, "/control/undelete?id=20")); /* was deleted */
	r = http(&synth, 1, "/control/update?id=12");	  /* twice */
	free(r);

	rc = run("h4.out", "h4.err",
	    "%s/oaiharvest harvest --db %s --url "
	    "http://127.0.0.1:%d/oai --source synth -v",
	    bindir, db, synth.port);
	err = read_tmp("h4.err");
	if (rc != 0)
		fail_msg("incremental harvest failed: %s", err);
	assert_non_null(strstr(err, "new=4 updated=1 deleted=1"));
	free(err);

	assert_int_equal(run("c4.out", "c4.err",
			     "%s/oaiharvest changes --db "
			     "%s --since 315",
			     bindir, db),
	    0);
	ch = read_tmp("c4.out");
	assert_int_equal(sqlite3_open(":memory:", &sdb), SQLITE_OK);
	load_jsonl(sdb, "c", ch);
	assert_int_equal(q_int(sdb, "SELECT count(*) FROM c"), 6);
	/* seq strictly increasing from 316 */
	assert_int_equal(q_int(sdb, "SELECT min(j->>'seq') FROM c"), 316);
	assert_int_equal(q_int(sdb, "SELECT max(j->>'seq') FROM c"), 321);
	assert_int_equal(
	    q_int(sdb,
		"SELECT count(*) FROM c WHERE "
		"j->>'kind' = 'new' AND j->>'identifier' IN ("
		"'oai:oaiharvest.test:rec/351', 'oai:oaiharvest.test:rec/352', "
		"'oai:oaiharvest.test:rec/353', 'oai:oaiharvest.test:rec/20')"),
	    4);
	assert_int_equal(q_int(sdb,
			     "SELECT count(*) FROM c WHERE "
			     "j->>'kind' = 'updated' AND "
			     "j->>'identifier' = 'oai:oaiharvest.test:rec/12'"),
	    1);
	assert_int_equal(q_int(sdb,
			     "SELECT count(*) FROM c WHERE "
			     "j->>'kind' = 'deleted' AND "
			     "j->>'identifier' = 'oai:oaiharvest.test:rec/14'"),
	    1);
	assert_int_equal(q_int(sdb,
			     "SELECT count(*) FROM c WHERE "
			     "j->>'identifier' = 'oai:oaiharvest.test:rec/13'"),
	    0);
	assert_int_equal(
	    q_int(sdb,
		"SELECT count(*) FROM c WHERE "
		"j->>'source' != 'synth' OR j->>'prefix' != 'oai_dc' OR "
		"j->>'datestamp' IS NULL OR j->>'at' IS NULL"),
	    0);
	sqlite3_close(sdb);
	free(ch);

	assert_int_equal(run("e4.out", "e4.err",
			     "%s/oaiharvest export --db "
			     "%s --source synth --prefix oai_dc",
			     bindir, db),
	    0);
	exp = read_tmp("e4.out");
	dump = http(&synth, 0, "/control/dump");
	compare_export_dump(exp, dump, "synth");
	free(exp);
	free(dump);

	assert_int_equal(run("s4.out", "s4.err",
			     "%s/oaiharvest status --db "
			     "%s",
			     bindir, db),
	    0);
	r = read_tmp("s4.out");
	assert_non_null(strstr(r, "synth"));
	assert_non_null(strstr(r, "ok"));
	free(r);
	free(db);
}

/* Sets and two metadata formats in one source. */
static void
test_sets_and_prefixes(void **state)
{
	sqlite3 *sdb;
	char	*exp, *dump, *db, *err;
	int	 rc;

	db = path("sets.db");
	rc = run("h5.out", "h5.err",
	    "%s/oaiharvest harvest --db %s --url "
	    "http://127.0.0.1:%d/oai --source sets --set col_1 --set com_3 "
	    "--prefix oai_dc --prefix qdc",
	    bindir, db, synth.port);
	err = read_tmp("h5.err");
	if (rc != 0)
		fail_msg("harvest failed: %s", err);
	assert_non_null(strstr(err, "lists=4"));
	free(err);
	assert_int_equal(run("e5.out", "e5.err",
			     "%s/oaiharvest export --db "
			     "%s",
			     bindir, db),
	    0);
	exp = read_tmp("e5.out");
	dump = http(&synth, 0, "/control/dump");
	assert_int_equal(sqlite3_open(":memory:", &sdb), SQLITE_OK);
	load_jsonl(sdb, "e", exp);
	load_jsonl(sdb, "d", dump);
	/* Per prefix: exactly the corpus records in col_1 or com_3. */
	assert_true(q_int(sdb,
			"SELECT count(*) FROM d WHERE EXISTS (SELECT 1 "
			"FROM json_each(d.j, '$.sets') s WHERE s.value IN "
			"('col_1','com_3'))") > 50);
	assert_int_equal(q_int(sdb,
			     "SELECT count(*) FROM e WHERE "
			     "j->>'prefix' = 'oai_dc'"),
	    q_int(sdb,
		"SELECT count(*) FROM d "
		"WHERE EXISTS (SELECT 1 FROM json_each(d.j, '$.sets') s WHERE "
		"s.value IN ('col_1','com_3'))"));
	assert_int_equal(q_int(sdb,
			     "SELECT count(*) FROM e WHERE "
			     "j->>'prefix' = 'qdc'"),
	    q_int(sdb,
		"SELECT count(*) FROM e "
		"WHERE j->>'prefix' = 'oai_dc'"));
	/* qdc records carry their title as a dc element too. */
	assert_int_equal(q_int(sdb,
			     "SELECT count(*) FROM e WHERE "
			     "j->>'prefix' = 'qdc' AND j->>'deleted' = 0 AND "
			     "json_array_length(j, '$.dc.title') IS NOT 1"),
	    0);
	sqlite3_close(sdb);
	free(exp);
	free(dump);
	free(db);
}

/* The DSpace-shaped nur pages: recorded responses served as they are. */
static void
test_nur_pages(void **state)
{
	struct server nur;
	char	     *db, *err, *exp, *ch;
	int	      rc;

	start_server(&nur, "nur.port", "--pages tests/fixtures/nur");
	db = path("nur.db");
	rc = run("h6.out", "h6.err",
	    "%s/oaiharvest harvest --db %s --url "
	    "http://127.0.0.1:%d/pages --source nur",
	    bindir, db, nur.port);
	err = read_tmp("h6.err");
	if (rc != 0)
		fail_msg("harvest failed: %s", err);
	assert_non_null(strstr(err, "pages=2 records=3 new=2 "));
	free(err);
	assert_int_equal(run("e6.out", "e6.err",
			     "%s/oaiharvest export --db "
			     "%s",
			     bindir, db),
	    0);
	exp = read_tmp("e6.out");
	assert_non_null(strstr(exp,
	    "\"identifier\":"
	    "\"oai:nur.nu.edu.kz:123456789/7421\""));
	assert_non_null(strstr(exp,
	    "\"title\":[\"THE EXPLORATION OF TEACHER "
	    "LEADERSHIP AT SECONDARY SCHOOLS IN KAZAKHSTAN\"]"));
	assert_non_null(strstr(exp, "\"creator\":[\"Khoroshash, Aidar\"]"));
	/* The mojibake of the source record survives as it was. */
	assert_non_null(
	    strstr(exp, "stakeholders\xc4\x81\xe2\x82\xac\xcb\x9c"));
	assert_non_null(strstr(exp,
	    "\"identifier\":"
	    "\"oai:nur.nu.edu.kz:123456789/7440\",\"prefix\":\"oai_dc\","
	    "\"datestamp\":\"2023-09-23T11:30:00Z\",\"deleted\":true"));
	free(exp);
	/* The full-text index knows the live records. */
	assert_int_equal(run("q6.out", "q6.err",
			     "%s/oaiharvest search --db %s "
			     "'teacher leadership'",
			     bindir, db),
	    0);
	exp = read_tmp("q6.out");
	assert_non_null(strstr(exp,
	    "{\"source\":\"nur\",\"identifier\":"
	    "\"oai:nur.nu.edu.kz:123456789/7421\""));
	assert_non_null(strstr(exp, "[teacher] [leadership]"));
	assert_null(strstr(exp, "123456789/7440"));
	free(exp);
	/* Not FTS5 syntax: searched as the plain words it holds. */
	assert_int_equal(run("q7.out", "q7.err",
			     "%s/oaiharvest search --db %s "
			     "'title:\"teacher'",
			     bindir, db),
	    0);
	exp = read_tmp("q7.out");
	assert_non_null(strstr(exp, "123456789/7421"));
	free(exp);
	assert_int_equal(run("q8.out", "q8.err",
			     "%s/oaiharvest search --db %s "
			     "nosuchwordanywhere",
			     bindir, db),
	    0);
	exp = read_tmp("q8.out");
	assert_string_equal(exp, "");
	free(exp);
	assert_int_equal(run("c6.out", "c6.err",
			     "%s/oaiharvest changes --db "
			     "%s",
			     bindir, db),
	    0);
	ch = read_tmp("c6.out");
	assert_non_null(strstr(ch, "\"seq\":2,"));
	assert_null(strstr(ch, "\"seq\":3,"));
	free(ch);
	free(db);
	stop_server(&nur);
}

/* A day-granularity repository: from is sent as YYYY-MM-DD. */
static void
test_day_granularity(void **state)
{
	struct server day;
	char	     *db, *err;
	int	      rc;

	start_server(&day, "day.port",
	    "--records 120 --page-size 25 "
	    "--granularity day --deleted-every 0");
	db = tdb_new(state, "day.db");
	rc = run("h7.out", "h7.err",
	    "%s/oaiharvest harvest --db %s --url "
	    "http://127.0.0.1:%d/oai",
	    bindir, db, day.port);
	err = read_tmp("h7.err");
	if (rc != 0)
		fail_msg("harvest failed: %s", err);
	assert_non_null(strstr(err, "records=120 new=120"));
	free(err);
	free(http(&day, 1, "/control/update?id=5"));
	rc = run("h8.out", "h8.err",
	    "%s/oaiharvest harvest --db %s --url "
	    "http://127.0.0.1:%d/oai -vv",
	    bindir, db, day.port);
	err = read_tmp("h8.err");
	if (rc != 0)
		fail_msg("harvest failed: %s", err);
	assert_non_null(strstr(err, "new=0 updated=1 deleted=0"));
	/* The incremental request used a day-granularity from. */
	assert_non_null(strstr(err, "&from="));
	assert_non_null(strstr(err, "&from=20"));
	assert_null(strstr(err, "&from=2025-12-31T"));
	free(err);
	free(db);
	stop_server(&day);
}

/*
 * A list that matches nothing (noRecordsMatch) is a successful harvest; a
 * checkpoint whose token the server no longer knows restarts the list from
 * the watermark.
 */
static void
test_no_match_and_expired_token(void **state)
{
	sqlite3 *sdb;
	char	*db, *err, *sql;
	int	 rc;

	db = path("nomatch.db");
	rc = run("n1.out", "n1.err",
	    "%s/oaiharvest harvest --db %s --url "
	    "http://127.0.0.1:%d/oai --from 2031-01-01 -v",
	    bindir, db, synth.port);
	err = read_tmp("n1.err");
	if (rc != 0)
		fail_msg("harvest failed: %s", err);
	assert_non_null(strstr(err, "event=list_empty"));
	assert_non_null(strstr(err, "status=ok"));
	assert_non_null(strstr(err, "records=0 new=0"));
	free(err);

	/* A whole harvest, then a forged checkpoint with a dead token. */
	assert_int_equal(
	    run("n2.out", "n2.err",
		"%s/oaiharvest harvest --db "
		"%s --url http://127.0.0.1:%d/oai --source expired",
		bindir, db, synth.port),
	    0);
	assert_int_equal(sqlite3_open(db, &sdb), SQLITE_OK);
	xasprintf(&sql,
	    "UPDATE list_state SET token = 'oh1:forged/token', "
	    "pages = 3 WHERE source_id = (SELECT id FROM source WHERE name = "
	    "'expired')");
	assert_int_equal(sqlite3_exec(sdb, sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_changes(sdb), 1);
	free(sql);
	sqlite3_close(sdb);
	rc = run("n3.out", "n3.err",
	    "%s/oaiharvest harvest --db %s --url "
	    "http://127.0.0.1:%d/oai --source expired -v",
	    bindir, db, synth.port);
	err = read_tmp("n3.err");
	if (rc != 0)
		fail_msg("harvest failed: %s", err);
	assert_non_null(strstr(err, "event=list_resume"));
	assert_non_null(strstr(err, "event=token_expired"));
	assert_non_null(strstr(err, "status=ok"));
	assert_non_null(strstr(err, "new=0 updated=0 deleted=0"));
	free(err);
	/* The checkpoint is gone: the list completed. */
	assert_int_equal(sqlite3_open(db, &sdb), SQLITE_OK);
	assert_int_equal(q_int(sdb,
			     "SELECT count(*) FROM list_state WHERE "
			     "token IS NOT NULL"),
	    0);
	sqlite3_close(sdb);
	free(db);
}

/* ListIdentifiers and GetRecord straight to stdout, without a database. */
static void
test_list_identifiers_get_record(void **state)
{
	sqlite3 *sdb;
	char	*out, *dump;

	assert_int_equal(
	    run("l1.out", "l1.err",
		"%s/oaiharvest "
		"list-identifiers http://127.0.0.1:%d/oai --set col_2",
		bindir, synth.port),
	    0);
	out = read_tmp("l1.out");
	dump = http(&synth, 0, "/control/dump");
	assert_int_equal(sqlite3_open(":memory:", &sdb), SQLITE_OK);
	load_jsonl(sdb, "l", out);
	load_jsonl(sdb, "d", dump);
	free(out);
	assert_true(q_int(sdb, "SELECT count(*) FROM l") > 50);
	assert_int_equal(
	    q_int(sdb,
		"SELECT count(*) FROM (SELECT "
		"j->>'identifier', j->>'datestamp', j->>'deleted' FROM l "
		"EXCEPT "
		"SELECT j->>'identifier', j->>'datestamp', j->>'deleted' FROM "
		"d "
		"WHERE EXISTS (SELECT 1 FROM json_each(d.j, '$.sets') s WHERE "
		"s.value = 'col_2'))"),
	    0);
	assert_int_equal(q_int(sdb, "SELECT count(*) FROM l"),
	    q_int(sdb,
		"SELECT count(*) FROM d WHERE EXISTS (SELECT 1 FROM "
		"json_each(d.j, '$.sets') s WHERE s.value = 'col_2')"));

	assert_int_equal(
	    run("g1.out", "g1.err",
		"%s/oaiharvest get-record "
		"http://127.0.0.1:%d/oai oai:oaiharvest.test:rec/21",
		bindir, synth.port),
	    0);
	out = read_tmp("g1.out");
	load_jsonl(sdb, "g", out);
	free(out);
	assert_int_equal(
	    q_int(sdb,
		"SELECT count(*) FROM g, d WHERE "
		"g.j->>'identifier' = 'oai:oaiharvest.test:rec/21' AND "
		"d.j->>'identifier' = g.j->>'identifier' AND "
		"g.j->'dc' = d.j->'dc' AND json_type(g.j, '$.metadata') = "
		"'text'"),
	    1);
	sqlite3_close(sdb);
	free(dump);
	assert_int_equal(run("g2.out", "g2.err",
			     "%s/oaiharvest get-record "
			     "http://127.0.0.1:%d/oai oai:oaiharvest.test:nope",
			     bindir, synth.port),
	    1);
	out = read_tmp("g2.err");
	assert_non_null(strstr(out, "idDoesNotExist"));
	free(out);
}

/*
 * Deletion reconciliation for repositories that keep no deletions: records
 * purged without a deleted header vanish; a sweep finds them and logs
 * "deleted" changes saying why; a list missing most records deletes
 * nothing.
 */
static void
test_sweep(void **state)
{
	struct server nd;
	sqlite3	     *sdb;
	char	     *db, *err, *ch, *q;
	int	      i;

	start_server(&nd, "nd.port",
	    "--records 300 --page-size 50 "
	    "--deleted-every 0");
	db = tdb_new(state, "sweep.db");
	assert_int_equal(run("w1.out", "w1.err",
			     "%s/oaiharvest harvest --db "
			     "%s --url http://127.0.0.1:%d/oai --source nd",
			     bindir, db, nd.port),
	    0);
	for (i = 5; i <= 7; i++) {
		xasprintf(&q, "/control/purge?id=%d", i);
		free(http(&nd, 1, q));
		free(q);
	}
	/* An ordinary incremental harvest cannot see them go. */
	assert_int_equal(run("w2.out", "w2.err",
			     "%s/oaiharvest harvest --db "
			     "%s --url http://127.0.0.1:%d/oai --source nd",
			     bindir, db, nd.port),
	    0);
	err = read_tmp("w2.err");
	assert_non_null(strstr(err, "deleted=0"));
	free(err);
	/* A sweep does. */
	assert_int_equal(
	    run("w3.out", "w3.err",
		"%s/oaiharvest harvest --db "
		"%s --url http://127.0.0.1:%d/oai --source nd --sweep",
		bindir, db, nd.port),
	    0);
	err = read_tmp("w3.err");
	if (strstr(err, "deleted=3 ") == NULL)
		fail_msg("sweep: %s", err);
	free(err);
	assert_int_equal(run("w4.out", "w4.err",
			     "%s/oaiharvest changes --db "
			     "%s --since 300",
			     bindir, db),
	    0);
	ch = read_tmp("w4.out");
	assert_int_equal(sqlite3_open(":memory:", &sdb), SQLITE_OK);
	load_jsonl(sdb, "c", ch);
	free(ch);
	assert_int_equal(q_int(sdb, "SELECT count(*) FROM c"), 3);
	assert_int_equal(
	    q_int(sdb,
		"SELECT count(*) FROM c WHERE "
		"j->>'kind' = 'deleted' AND j->>'reason' LIKE 'vanished%' AND "
		"j->>'identifier' IN ('oai:oaiharvest.test:rec/5', "
		"'oai:oaiharvest.test:rec/6', 'oai:oaiharvest.test:rec/7')"),
	    3);
	sqlite3_close(sdb);
	/* Nothing more vanished: a second sweep changes nothing. */
	assert_int_equal(
	    run("w5.out", "w5.err",
		"%s/oaiharvest harvest --db "
		"%s --url http://127.0.0.1:%d/oai --source nd --sweep",
		bindir, db, nd.port),
	    0);
	err = read_tmp("w5.err");
	assert_non_null(strstr(err, "deleted=0 "));
	free(err);
	/* Most records missing at once: refused, nothing deleted. */
	for (i = 100; i <= 280; i++) {
		xasprintf(&q, "/control/purge?id=%d", i);
		free(http(&nd, 1, q));
		free(q);
	}
	assert_int_equal(
	    run("w6.out", "w6.err",
		"%s/oaiharvest harvest --db "
		"%s --url http://127.0.0.1:%d/oai --source nd --sweep",
		bindir, db, nd.port),
	    0);
	err = read_tmp("w6.err");
	assert_non_null(strstr(err, "deleted=0 "));
	assert_non_null(strstr(err, "not deleting on a partial list"));
	free(err);
	free(db);
	stop_server(&nd);
}

/*
 * On a terminal, a progress line updates in place; on a pipe, none.  The
 * terminal is a real pseudo-terminal, from script(1).
 */
static void
test_progress_line(void **state)
{
	struct server slow;
	char	     *db, *out;

	start_server(&slow, "pl.port",
	    "--records 600 --page-size 50 "
	    "--delay-ms 30");
	db = path("progress.db");
	assert_int_equal(
	    run("p1.out", "p1.err",
		"script -qec '%s/oaiharvest "
		"harvest --db %s --url http://127.0.0.1:%d/oai' /dev/null",
		bindir, db, slow.port),
	    0);
	out = read_tmp("p1.out");
	assert_non_null(strstr(out, "\r\033[K"));
	assert_non_null(strstr(out, " records of 600 ("));
	assert_non_null(strstr(out, "records/s"));
	assert_non_null(strstr(out, "status=ok"));
	free(out);
	free(db);
	db = path("progress2.db");
	assert_int_equal(run("p2.out", "p2.err",
			     "%s/oaiharvest harvest --db "
			     "%s --url http://127.0.0.1:%d/oai",
			     bindir, db, slow.port),
	    0);
	out = read_tmp("p2.err");
	assert_null(strstr(out, "\r"));
	assert_null(strstr(out, "records/s"));
	free(out);
	free(db);
	stop_server(&slow);
}

/* Errors: exit codes and one clear line. */
static void
test_errors(void **state)
{
	char *db, *err, *conf, *cf;
	int   rc;

	db = path("err.db");
	/* A port nothing listens on: a failed harvest, exit 1. */
	rc = run("x1.out", "x1.err",
	    "%s/oaiharvest harvest --db %s --url "
	    "http://127.0.0.1:1/oai --retries 0",
	    bindir, db);
	assert_int_equal(rc, 1);
	err = read_tmp("x1.err");
	assert_non_null(strstr(err, "status=failed"));
	assert_non_null(strstr(err, "error="));
	free(err);
	/* An OAI error: cannotDisseminateFormat. */
	rc = run("x2.out", "x2.err",
	    "%s/oaiharvest harvest --db %s --url "
	    "http://127.0.0.1:%d/oai --prefix nosuchformat",
	    bindir, db, synth.port);
	assert_int_equal(rc, 1);
	err = read_tmp("x2.err");
	assert_non_null(strstr(err, "cannotDisseminateFormat"));
	free(err);
	/* Usage errors: exit 2. */
	assert_int_equal(run("x3.out", "x3.err",
			     "%s/oaiharvest harvest "
			     "--url http://127.0.0.1:1/oai",
			     bindir),
	    2);
	assert_int_equal(run("x4.out", "x4.err",
			     "%s/oaiharvest harvest "
			     "--db %s --url ftp://example.org/oai",
			     bindir, db),
	    2);
	assert_int_equal(
	    run("x5.out", "x5.err",
		"%s/oaiharvest harvest "
		"--db %s --url http://127.0.0.1:1/ --from yesterday",
		bindir, db),
	    2);
	assert_int_equal(
	    run("x6.out", "x6.err", "%s/oaiharvest nosuchcmd", bindir), 2);
	assert_int_equal(
	    run("x7.out", "x7.err", "%s/oaiharvest export", bindir), 2);
	/* A bad config: exit 2 with the line. */
	xasprintf(&conf,
	    "[global]\ndatabase = %s\n[source a]\nurl = "
	    "http://127.0.0.1:1/\ninterval = often\n",
	    db);
	save("bad.conf", conf);
	cf = path("bad.conf");
	assert_int_equal(run("x8.out", "x8.err",
			     "%s/oaiharvest harvest "
			     "--config %s",
			     bindir, cf),
	    2);
	err = read_tmp("x8.err");
	assert_non_null(strstr(err, "bad.conf:5:"));
	free(err);
	free(conf);
	free(cf);
	/* --help everywhere. */
	assert_int_equal(run("x9.out", "x9.err",
			     "%s/oaiharvest harvest "
			     "--help",
			     bindir),
	    0);
	err = read_tmp("x9.out");
	assert_non_null(strstr(err, "usage:"));
	free(err);
	/* Reading a database that does not exist: exit 1. */
	assert_int_equal(run("x10.out", "x10.err",
			     "%s/oaiharvest status "
			     "--db %s/none.db",
			     bindir, tmpdir),
	    1);
	free(db);
}

/*
 * The harvest flags take the config's units and bounds (one vocabulary):
 * --delay 1s waits a second between requests, sizes take K/M/G, and a
 * value out of bounds is a usage error that reads like the config's.
 */
static void
test_flag_units(void **state)
{
	struct server	srv;
	struct timespec t0, t1;
	char	       *db, *err, *out, *s;
	double		secs;
	int		rc, n;

	start_server(&srv, "units.port",
	    "--records 20 --page-size 10 "
	    "--deleted-every 0 --seed 5");
	db = path("units.db");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = run("u1.out", "u1.err",
	    "%s/oaiharvest harvest --db %s --url "
	    "http://127.0.0.1:%d/oai --source u --delay 1s --timeout 30s "
	    "--max-response-bytes 64M --retry-wait 500ms --retries 1",
	    bindir, db, srv.port);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	err = read_tmp("u1.err");
	if (rc != 0)
		fail_msg("harvest --delay 1s failed (rc %d): %s", rc, err);
	free(err);
	/* Identify and two pages: at least two waits of a second. */
	secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (secs < 2.0)
		fail_msg("three requests with --delay 1s took %.2f s", secs);
	assert_int_equal(run("u2.out", "u2.err",
			     "%s/oaiharvest export --db "
			     "%s --source u",
			     bindir, db),
	    0);
	out = read_tmp("u2.out");
	for (n = 0, s = out; (s = strchr(s, '\n')) != NULL; s++)
		n++;
	assert_int_equal(n, 20);
	free(out);
	/* Out of bounds: exit 2, the flag, its value and the bounds. */
	rc = run("u3.out", "u3.err",
	    "%s/oaiharvest harvest --db %s --url "
	    "http://127.0.0.1:%d/oai --source u --delay 2h",
	    bindir, db, srv.port);
	assert_int_equal(rc, 2);
	err = read_tmp("u3.err");
	if (strstr(err, "--delay 2h: out of range (0 to 1h)") == NULL)
		fail_msg("--delay 2h: %s", err);
	free(err);
	free(db);
	stop_server(&srv);
}

/* A config with two sources on the test server, run by name. */
static void
test_config(void **state)
{
	char *conf, *cf, *db, *err, *st;
	int   rc;

	db = path("conf.db");
	xasprintf(&conf,
	    "[global]\ndatabase = %s\ndelay = 0s\n\n"
	    "[source one]\nurl = http://127.0.0.1:%d/oai\nset = col_2\n\n"
	    "[source two]\nurl = http://127.0.0.1:%d/oai\n"
	    "metadata_prefix = qdc\nset = col_3\n",
	    db, synth.port, synth.port);
	save("two.conf", conf);
	cf = path("two.conf");
	rc = run("k1.out", "k1.err", "%s/oaiharvest harvest --config %s",
	    bindir, cf);
	err = read_tmp("k1.err");
	if (rc != 0)
		fail_msg("harvest failed: %s", err);
	assert_non_null(strstr(err, "source=\"one\" status=ok"));
	assert_non_null(strstr(err, "source=\"two\" status=ok"));
	free(err);
	rc = run("k2.out", "k2.err", "%s/oaiharvest harvest --config %s two",
	    bindir, cf);
	err = read_tmp("k2.err");
	assert_int_equal(rc, 0);
	assert_null(strstr(err, "source=\"one\""));
	free(err);
	assert_int_equal(run("k3.out", "k3.err",
			     "%s/oaiharvest harvest "
			     "--config %s three",
			     bindir, cf),
	    2);
	assert_int_equal(
	    run("k4.out", "k4.err", "%s/oaiharvest status --db %s", bindir, db),
	    0);
	st = read_tmp("k4.out");
	assert_non_null(strstr(st, "one"));
	assert_non_null(strstr(st, "two"));
	free(st);
	free(conf);
	free(cf);
	free(db);
}

/*
 * Kill the harvester at some moment, run it again: it resumes from its
 * checkpoint and ends with every record exactly once, one "new" change each.
 */
/*
 * A harvest with an explicit until leaves the watermark there, not at the
 * repository's clock: the next harvest brings what came after.
 */
static void
test_until_then_rest(void **state)
{
	char	 *db, *err;
	long long n;
	int	  rc;

	db = tdb_new(state, "until.db");
	rc = run("u1.out", "u1.err",
	    "%s/oaiharvest harvest --db %s --url "
	    "http://127.0.0.1:%d/oai --source synth --until 2015-06-30",
	    bindir, db, synth.port);
	err = read_tmp("u1.err");
	if (rc != 0)
		fail_msg("harvest failed: %s", err);
	free(err);
	n = tdb_int(db, "SELECT count(*) FROM record");
	assert_true(n > 0 && n < 350);
	assert_int_equal(tdb_int(db,
			     "SELECT count(*) FROM record WHERE "
			     "datestamp > '2015-06-30T23:59:59Z'"),
	    0);
	assert_int_equal(tdb_int(db,
			     "SELECT count(*) FROM list_state WHERE "
			     "watermark <= '2015-06-30T23:59:59Z'"),
	    1);
	rc = run("u2.out", "u2.err",
	    "%s/oaiharvest harvest --db %s --url "
	    "http://127.0.0.1:%d/oai --source synth",
	    bindir, db, synth.port);
	err = read_tmp("u2.err");
	if (rc != 0)
		fail_msg("second harvest failed: %s", err);
	free(err);
	export_matches(&synth, db, "synth");
	free(db);
}

/* The server's count of refused windows, from /control/stats. */
static long long
window_refusals(const struct server *srv)
{
	char	 *stats, *p;
	long long n = -1;

	stats = http(srv, 0, "/control/stats");
	if ((p = strstr(stats, "\"window_refusals\":")) != NULL)
		n = strtoll(p + 18, NULL, 10);
	free(stats);
	return n;
}

/*
 * A page whose write fails (a trigger that refuses rec/176, the 26th record
 * of page 4, written by the page writer while later pages are fetched and
 * queued): the run fails naming the cause; the database holds whole pages
 * up to its checkpoint and nothing after, not even the later pages that
 * would have gone in (page 4 may share its
 * transaction with page 3 or 2, never with page 1, which the writer gets
 * alone); the next run goes on from the checkpoint to exactly the corpus
 * with one change per record.
 */
static void
test_store_fails_midway(void **state)
{
	char	 *db, *err, *want;
	long long live, pages;
	int	  rc;

	db = tdb_new(state, "failing.db");
	refusing_database(db, "oai:oaiharvest.test:rec/176", NULL);

	rc = run("f1.out", "f1.err",
	    "%s/oaiharvest harvest --db %s --url "
	    "http://127.0.0.1:%d/oai --source synth",
	    bindir, db, synth.port);
	err = read_tmp("f1.err");
	assert_int_not_equal(rc, 0);
	if (strstr(err, "injected failure") == NULL)
		fail_msg("the cause is not named: %s", err);
	free(err);
	pages = tdb_int(db, "SELECT pages FROM list_state");
	assert_true(pages >= 1 && pages <= 3);
	assert_int_equal(
	    tdb_int(db, "SELECT count(*) FROM record"), 50 * pages);
	/* A record first seen deleted makes no change. */
	assert_int_equal(tdb_int(db, "SELECT count(*) FROM change"),
	    tdb_int(db, "SELECT count(*) FROM record WHERE deleted = 0"));
	assert_true(tdb_int(db, "SELECT count(*) FROM change") >= 40 * pages);
	assert_int_equal(tdb_int(db,
			     "SELECT count(*) FROM list_state WHERE "
			     "token IS NOT NULL AND watermark IS NULL"),
	    1);
	assert_int_equal(
	    tdb_int(db,
		"SELECT count(*) FROM run WHERE "
		"status = 'failed' AND error LIKE '%injected failure%'"),
	    1);
	/* The run counts what was written, not what was queued. */
	assert_int_equal(tdb_int(db, "SELECT records FROM run"), 50 * pages);
	assert_int_equal(tdb_int(db, "SELECT pages FROM run"), pages);
	refusing_end(db);

	rc = run("f2.out", "f2.err",
	    "%s/oaiharvest harvest -v --db %s --url "
	    "http://127.0.0.1:%d/oai --source synth",
	    bindir, db, synth.port);
	err = read_tmp("f2.err");
	if (rc != 0)
		fail_msg("second harvest failed: %s", err);
	xasprintf(&want,
	    "event=list_resume source=\"synth\" prefix=\"oai_dc\" "
	    "set=\"\" pages=%lld\n",
	    pages);
	if (strstr(err, want) == NULL)
		fail_msg("the second run did not take up at page %lld: %s",
		    pages + 1, err);
	free(want);
	free(err);
	export_matches(&synth, db, "synth");
	live = tdb_int(db, "SELECT count(*) FROM record WHERE deleted = 0");
	assert_true(live > 300);
	check_one_new_each(db, live);
	free(db);
}

/*
 * Two sources harvested at once share the page writer, and so may share a
 * batch: a refused record of source a (rec/176) fails a, and b too when
 * one of b's pages was in that batch.  Either way each source holds whole
 * pages up to its checkpoint or its whole list, with no gap, and the next
 * run completes both to exactly the corpus, one change per record each.
 */
static void
test_two_sources_store_fails(void **state)
{
	char	   *conf, *cf, *db, *err;
	const char *name;
	long long   live, n, pages;
	int	    rc, i;

	db = tdb_new(state, "two-fail.db");
	xasprintf(&conf,
	    "[global]\ndatabase = %s\ndelay = 0s\n\n"
	    "[source a]\nurl = http://127.0.0.1:%d/oai\n\n"
	    "[source b]\nurl = http://127.0.0.1:%d/oai\n",
	    db, synth.port, synth.port);
	save("two-fail.conf", conf);
	cf = path("two-fail.conf");
	refusing_database(db, "oai:oaiharvest.test:rec/176", "a");

	rc = run("t1.out", "t1.err", "%s/oaiharvest harvest --config %s a b",
	    bindir, cf);
	err = read_tmp("t1.err");
	assert_int_not_equal(rc, 0);
	if (strstr(err, "source=\"a\" status=failed") == NULL ||
	    strstr(err, "injected failure") == NULL)
		fail_msg("a did not fail on the refused record: %s", err);
	free(err);
	for (i = 0; i < 2; i++) {
		name = i == 0 ? "a" : "b";
		n = tdb_intf(db,
		    "SELECT count(*) FROM record r JOIN source s "
		    "ON s.id = r.source_id WHERE s.name = '%s'",
		    name);
		if (tdb_intf(db,
			"SELECT count(*) FROM list_state l JOIN source "
			"s ON s.id = l.source_id WHERE s.name = '%s' AND "
			"l.watermark IS NOT NULL",
			name) == 1) {
			assert_int_equal(i, 1); /* a cannot have completed */
			assert_true(n >= 350);
			continue;
		}
		pages = tdb_intf(db,
		    "SELECT coalesce(max(l.pages), 0) FROM "
		    "list_state l JOIN source s ON s.id = l.source_id WHERE "
		    "s.name = '%s'",
		    name);
		if (i == 0)
			assert_true(pages <= 3);
		assert_int_equal(n, 50 * pages);
	}
	refusing_end(db);

	rc = run("t2.out", "t2.err", "%s/oaiharvest harvest --config %s a b",
	    bindir, cf);
	err = read_tmp("t2.err");
	if (rc != 0)
		fail_msg("second harvest failed: %s", err);
	free(err);
	export_matches(&synth, db, "a");
	export_matches(&synth, db, "b");
	live = tdb_int(db, "SELECT count(*) FROM record WHERE deleted = 0");
	assert_true(live > 600);
	check_one_new_each(db, live);
	free(conf);
	free(cf);
	free(db);
}

/*
 * A repository that refuses (503, no Retry-After) any selective harvest
 * wider than 100 days: one request for everything fails; with year
 * windows, each refused window is halved until it passes, and the harvest
 * ends with exactly the corpus.  Stopped halfway (a 403), the next run
 * goes on from the last window it completed.
 */
static void
test_windows(void **state)
{
	struct server w;
	char	     *db, *err, *line, *wm;
	const char   *url_fmt =
	    "%s/oaiharvest harvest --db %s --url "
	    "http://127.0.0.1:%d/oai --source w --retry-wait 1 %s";
	long long refused;
	int	  rc;

	start_server(&w, "w.port",
	    "--records 400 --page-size 30 "
	    "--deleted-every 10 --seed 5 --max-window-days 100");
	db = tdb_new(state, "w.db");

	/* Everything at once: refused, retried, failed; nothing stored. */
	rc =
	    run("w1.out", "w1.err", url_fmt, bindir, db, w.port, "--retries 1");
	err = read_tmp("w1.err");
	assert_int_equal(rc, 1);
	assert_non_null(strstr(err, "503"));
	free(err);
	assert_int_equal(window_refusals(&w), 2);

	/* Year windows, halved to fit. */
	rc = run("w2.out", "w2.err", url_fmt, bindir, db, w.port,
	    "--window year -v");
	err = read_tmp("w2.err");
	if (rc != 0)
		fail_msg("windowed harvest failed: %s", err);
	assert_non_null(strstr(err, "status=ok"));
	assert_non_null(strstr(err, "records=400 new=360 "));
	assert_non_null(strstr(err, "event=window_narrowed"));
	assert_non_null(strstr(err, "windows_narrowed="));
	free(err);
	refused = window_refusals(&w);
	assert_true(refused > 2);
	/* At most two refusals a year (2005 to 2026), and two before. */
	assert_true(refused <= 2 + 2 * 22);
	export_matches(&w, db, "w");
	check_one_new_each(db, 360);

	/* Incremental: one narrow window from the watermark. */
	free(http(&w, 1, "/control/update?id=7"));
	rc = run(
	    "w4.out", "w4.err", url_fmt, bindir, db, w.port, "--window month");
	err = read_tmp("w4.err");
	if (rc != 0)
		fail_msg("incremental windowed harvest failed: %s", err);
	assert_non_null(strstr(err, "new=0 updated=1 deleted=0"));
	free(err);
	free(db);

	/*
	 * Stopped by a 403 on the 40th request: the watermark is the end of
	 * the last window completed; the next run finishes from there, and
	 * no change is lost or doubled.
	 */
	db = tdb_new(state, "w2.db");
	free(http(&w, 1, "/control/fault?kind=http403&at=40"));
	rc = run("w5.out", "w5.err", url_fmt, bindir, db, w.port,
	    "--window year -v");
	err = read_tmp("w5.err");
	assert_int_equal(rc, 1);
	assert_non_null(strstr(err, "403"));
	assert_true(tdb_int(db, "SELECT count(*) FROM record") > 0);
	assert_true(tdb_int(db, "SELECT count(*) FROM record") < 400);
	wm = tdb_text(
	    db, "SELECT 'from=\"' || watermark || '\"' FROM list_state");
	assert_non_null(wm);
	/* The watermark is where the window in flight began. */
	assert_non_null(strstr(err, wm));
	free(err);
	rc = run("w6.out", "w6.err", url_fmt, bindir, db, w.port,
	    "--window year -v");
	err = read_tmp("w6.err");
	if (rc != 0)
		fail_msg("resumed windowed harvest failed: %s", err);
	/* It began where the first run stopped. */
	assert_non_null(line = strstr(err, "event=window "));
	*strchrnul(line, '\n') = '\0';
	if (strstr(line, wm) == NULL)
		fail_msg("resumed at %s, not %s", line, wm);
	free(err);
	export_matches(&w, db, "w");
	check_one_new_each(db, 360);
	free(wm);
	free(db);
	stop_server(&w);
}

static void
test_killed_and_resumed(void **state)
{
	struct server slow;
	sqlite3	     *sdb;
	sqlite3_stmt *st;
	char	     *db, *cmd, *err;
	pid_t	      pid;
	int	      status, round, rc;

	start_server(&slow, "slow.port",
	    "--records 400 --page-size 20 "
	    "--deleted-every 0 --delay-ms 40");
	db = tdb_new(state, "killed.db");
	for (round = 0; round < 3; round++) {
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			xasprintf(&cmd,
			    "exec %s/oaiharvest harvest --db %s "
			    "--url http://127.0.0.1:%d/oai --source slow "
			    "2>/dev/null",
			    bindir, db, slow.port);
			execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
			_exit(127);
		}
		usleep((useconds_t)(150 + 170 * round) * 1000);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	rc = run("r1.out", "r1.err",
	    "%s/oaiharvest harvest --db %s --url "
	    "http://127.0.0.1:%d/oai --source slow",
	    bindir, db, slow.port);
	err = read_tmp("r1.err");
	if (rc != 0)
		fail_msg("final harvest failed: %s", err);
	free(err);
	check_one_new_each(db, 400);
	/* The database file itself is sound (PostgreSQL's: its business). */
	if (is_pg(db)) {
		assert_int_equal(
		    tdb_int(db, "SELECT count(*) FROM record"), 400);
		free(db);
		stop_server(&slow);
		return;
	}
	assert_int_equal(
	    sqlite3_open_v2(db, &sdb, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(
	    sqlite3_prepare_v2(sdb, "PRAGMA integrity_check", -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
	sqlite3_close(sdb);
	free(db);
	stop_server(&slow);
}

/* The first column of sql's first row on an open SQLite database. */
static char *
tdb_text_sqlite(sqlite3 *sdb, const char *sql)
{
	sqlite3_stmt *st;
	char	     *v = NULL;

	if (sqlite3_prepare_v2(sdb, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(sdb));
	if (sqlite3_step(st) == SQLITE_ROW &&
	    sqlite3_column_type(st, 0) != SQLITE_NULL)
		v = xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return v;
}

/*
 * Search by the words of a real harvest that FTS5 would take for syntax
 * (names with hyphens and apostrophes, "AT&T", an unbalanced quote): each
 * exits 0 and finds exactly the records whose text holds it.  On
 * PostgreSQL too, whose text search takes other characters for syntax.
 */
static void
test_search_plain_words(void **state)
{
	static const char *const words[] = {
		"Taylor-Jones",
		"O'Connor",
		"D'Arcy",
		"Anne-Marie",
		"AT&T",
		"R&D",
		"so-called",
		"O'Brien",
		"\"O'Neil",
	};
	struct buf    q;
	sqlite3	     *sdb;
	sqlite3_stmt *st;
	char	     *db, *out, *err, *sql, *a, *b;
	const char   *p, *text;
	size_t	      i;
	long long     want;

	db = tdb_new(state, "search.db");
	assert_int_equal(run("s0.out", "s0.err",
			     "%s/oaiharvest harvest --db "
			     "%s --url http://127.0.0.1:%d/oai --source synth",
			     bindir, db, synth.port),
	    0);
	buf_init(&q, 4096);
	for (i = 0; i < nitems(words); i++) {
		/* The word as one sh argument: '...' with ' as '\''. */
		buf_reset(&q);
		buf_addch(&q, '\'');
		for (p = words[i]; *p != '\0'; p++)
			if (*p == '\'')
				buf_addstr(&q, "'\\''");
			else
				buf_addch(&q, *p);
		buf_addch(&q, '\'');
		if (run("s1.out", "s1.err",
			"%s/oaiharvest search --db %s "
			"--limit 100000 %s",
			bindir, db, buf_str(&q)) != 0) {
			err = read_tmp("s1.err");
			fail_msg("search %s failed: %s", words[i], err);
		}
		out = read_tmp("s1.out");
		assert_int_equal(sqlite3_open(":memory:", &sdb), SQLITE_OK);
		load_jsonl(sdb, "found", out);
		/* The word as one SQL string: '...' with ' as ''. */
		text = words[i] + (words[i][0] == '"');
		buf_reset(&q);
		buf_addch(&q, '\'');
		for (p = text; *p != '\0'; p++)
			if (*p == '\'')
				buf_addstr(&q, "''");
			else
				buf_addch(&q, *p);
		buf_addch(&q, '\'');
		if (is_pg(db)) {
			/* The same records, by the values of the same fields. */
			xasprintf(&sql,
			    "SELECT string_agg(identifier, ','"
			    " ORDER BY identifier COLLATE \"C\") FROM record r"
			    " WHERE EXISTS (SELECT 1 FROM dc d WHERE"
			    " d.record_id = r.id AND d.element IN ('title',"
			    " 'creator', 'subject', 'description') AND"
			    " strpos(lower(d.value), lower(%s)) > 0)",
			    buf_str(&q));
			a = tdb_text(db, sql);
			free(sql);
			if (a == NULL)
				fail_msg("the corpus has no %s", words[i]);
			b = tdb_text_sqlite(sdb,
			    "SELECT group_concat(id, ',') FROM (SELECT"
			    " j->>'identifier' AS id FROM found ORDER BY 1)");
			if (b == NULL || strcmp(a, b) != 0)
				fail_msg("search %s: found %s, want %s",
				    words[i], b != NULL ? b : "none", a);
			free(a);
			free(b);
			sqlite3_close(sdb);
			free(out);
			continue;
		}
		xasprintf(&sql, "ATTACH '%s' AS h", db);
		assert_int_equal(
		    sqlite3_exec(sdb, sql, NULL, NULL, NULL), SQLITE_OK);
		free(sql);
		/* The records whose text holds the word (without quotes). */
		assert_int_equal(sqlite3_exec(sdb,
				     "CREATE TABLE want AS "
				     "SELECT r.identifier FROM "
				     "h.record_fts_doc d JOIN h.record "
				     "r ON r.id = d.record_id WHERE 0",
				     NULL, NULL, NULL),
		    SQLITE_OK);
		assert_int_equal(
		    sqlite3_prepare_v2(sdb,
			"INSERT INTO want "
			"SELECT r.identifier FROM h.record_fts_doc d JOIN "
			"h.record "
			"r ON r.id = d.record_id WHERE instr(lower("
			"coalesce(d.title, '') || ' ' || coalesce(d.creator, "
			"'') "
			"|| ' ' || "
			"coalesce(d.subject, '') || ' ' || "
			"coalesce(d.description, "
			"'')), lower(?))",
			-1, &st, NULL),
		    SQLITE_OK);
		sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
		assert_int_equal(sqlite3_step(st), SQLITE_DONE);
		sqlite3_finalize(st);
		want = q_int(sdb, "SELECT count(*) FROM want");
		if (want == 0)
			fail_msg("the corpus has no %s", words[i]);
		if (q_int(sdb, "SELECT count(*) FROM found") != want ||
		    q_int(sdb,
			"SELECT count(*) FROM (SELECT identifier FROM "
			"want EXCEPT SELECT j->>'identifier' FROM found)") != 0)
			fail_msg("search %s: %lld found, %lld hold it",
			    words[i], q_int(sdb, "SELECT count(*) FROM found"),
			    want);
		sqlite3_close(sdb);
		free(out);
	}
	buf_free(&q);
	free(db);
}

/*
 * Datestamps as real repositories send them (Harvard's 20210311, Melinda's
 * milliseconds, offsets, a space for the T) and a responseDate with
 * milliseconds (the Node provider): the records are stored with their
 * datestamps as sent, the summary counts those normalized, the watermarks
 * are normalized, and the next harvest asks with a well-formed from.
 */
static void
test_real_datestamps(void **state)
{
	static const struct {
		const char *source;
		const char *prefix;
		const char *first; /* the first summary */
		const char *again; /* the second */
		const char *watermark;
		const char *from; /* in the request, encoded */
	} cases[] = {
		/* The clock (responseDate less 300 s) is the next from. */
		{ "hu", "mods",
		    "pages=2 records=5 new=5 updated=0 deleted=0 "
		    "unchanged=0 ",
		    "pages=2 records=5 new=0 updated=0 "
		    "deleted=0 unchanged=5 ",
		    "2024-08-04T15:39:58Z", "&from=2024-08-04T15%3A39%3A58Z" },
		/* No responseDate: the high-water datestamp is. */
		{ "mel", "marc21",
		    "pages=1 records=6 new=6 updated=0 "
		    "deleted=0 unchanged=0 ",
		    "pages=1 records=6 new=0 "
		    "updated=0 deleted=0 unchanged=6 ",
		    "2010-01-01T23:30:00Z", "&from=2010-01-01T23%3A30%3A00Z" },
	};
	struct server ds;
	char	     *db, *err, *log;
	size_t	      i, off;
	int	      rc;

	start_server(&ds, "ds.port", "-v --pages tests/fixtures/datestamps");
	db = tdb_new(state, "ds.db");
	/* The servers' log so far (of the other backend's run too). */
	log = path("servers.log");
	err = slurp(log);
	off = strlen(err);
	free(err);
	free(log);
	for (i = 0; i < nitems(cases); i++) {
		rc = run("d1.out", "d1.err",
		    "%s/oaiharvest harvest --db %s "
		    "--url http://127.0.0.1:%d/pages --source %s --prefix %s",
		    bindir, db, ds.port, cases[i].source, cases[i].prefix);
		err = read_tmp("d1.err");
		if (rc != 0 || strstr(err, cases[i].first) == NULL)
			fail_msg(
			    "first harvest of %s: %s", cases[i].source, err);
		assert_non_null(strstr(err,
		    i == 0 ? " normalized=5\n" : " rejected=1 normalized=5\n"));
		free(err);
		log = path("servers.log");
		err = slurp(log);
		assert_null(strstr(err + off, cases[i].from));
		free(err);
		rc = run("d2.out", "d2.err",
		    "%s/oaiharvest harvest --db %s "
		    "--url http://127.0.0.1:%d/pages --source %s --prefix %s",
		    bindir, db, ds.port, cases[i].source, cases[i].prefix);
		err = read_tmp("d2.err");
		if (rc != 0 || strstr(err, cases[i].again) == NULL)
			fail_msg(
			    "second harvest of %s: %s", cases[i].source, err);
		free(err);
		/* The second harvest asked from the watermark, normalized. */
		err = slurp(log);
		if (strstr(err + off, cases[i].from) == NULL)
			fail_msg("no %s in %s", cases[i].from, err);
		free(err);
		free(log);
	}
	for (i = 0; i < nitems(cases); i++)
		assert_int_equal(
		    tdb_intf(db,
			"SELECT count(*) FROM list_state "
			"l JOIN source s ON s.id = l.source_id WHERE s.name = "
			"'%s' "
			"AND l.prefix = '%s' AND l.watermark = '%s'",
			cases[i].source, cases[i].prefix, cases[i].watermark),
		    1);
	/* Kept as sent. */
	assert_int_equal(tdb_int(db,
			     "SELECT count(*) FROM record WHERE "
			     "datestamp = '20210311'"),
	    3);
	assert_int_equal(tdb_int(db,
			     "SELECT count(*) FROM record WHERE "
			     "datestamp = '2010-01-02T01:30:00.250+02:00'"),
	    1);
	assert_int_equal(tdb_int(db, "SELECT count(*) FROM record"), 11);
	/* Set aside only what cannot be read, saying so; once a harvest. */
	assert_int_equal(
	    tdb_int(db,
		"SELECT count(*) FROM reject WHERE "
		"identifier = 'oai:foo.bar/000000003' AND datestamp = "
		"'2021-13-45' AND cause = 'line 109: unreadable datestamp "
		"\"2021-13-45\"'"),
	    2);
	assert_int_equal(tdb_int(db, "SELECT count(*) FROM reject"), 2);
	free(db);
	stop_server(&ds);
}

/*
 * The same records written another way are not updates; a real change is
 * (issue 13: re-harvesting the HTTP::OAI gateway, which writes namespace
 * declarations in hash order, gave updated=161 of 308).  The recorded
 * pages of tests/fixtures/c14n: a, then b (the same metadata serialized
 * otherwise, one datestamp bumped), then c (b with one title changed),
 * served one after the other on the same port, so that the source's URL
 * stays the same.
 */
static void
test_reserialized_not_updated(void **state)
{
	static const char *const dirs[] = { "a", "b", "c" };
	static const char *const want[] = {
		"records=5 new=4 updated=0 deleted=0 ",
		"records=5 new=0 updated=0 deleted=0 ",
		"records=5 new=0 updated=1 deleted=0 ",
	};
	struct server gw;
	char	     *db, *err, *args;
	size_t	      i;
	int	      port = 0, rc;

	db = tdb_new(state, "c14n.db");
	for (i = 0; i < nitems(dirs); i++) {
		if (port == 0)
			xasprintf(
			    &args, "--pages tests/fixtures/c14n/%s", dirs[i]);
		else
			xasprintf(&args,
			    "--port %d --pages "
			    "tests/fixtures/c14n/%s",
			    port, dirs[i]);
		start_server(&gw, "c14n.port", args);
		free(args);
		assert_true(port == 0 || gw.port == port);
		port = gw.port;
		rc = run("cz.out", "cz.err",
		    "%s/oaiharvest harvest --db %s "
		    "--url http://127.0.0.1:%d/pages --source gw",
		    bindir, db, port);
		err = read_tmp("cz.err");
		if (rc != 0)
			fail_msg("harvest of %s failed: %s", dirs[i], err);
		if (strstr(err, want[i]) == NULL)
			fail_msg("harvest of %s: want %s in: %s", dirs[i],
			    want[i], err);
		free(err);
		stop_server(&gw);
	}

	/* One change row per real change, none for the rest. */
	assert_int_equal(tdb_int(db, "SELECT count(*) FROM change"), 5);
	assert_int_equal(tdb_int(db,
			     "SELECT count(*) FROM change WHERE "
			     "kind = 'new' AND run_id = 1"),
	    4);
	assert_int_equal(tdb_int(db,
			     "SELECT count(*) FROM change WHERE "
			     "run_id = 2"),
	    0);
	assert_int_equal(tdb_int(db,
			     "SELECT count(*) FROM change WHERE "
			     "run_id = 3 AND kind = 'updated' AND identifier = "
			     "'oai:arXiv.org:hep-th/0001003'"),
	    1);
	/* The bumped datestamp is kept; so is the XML as first sent. */
	assert_int_equal(tdb_int(db,
			     "SELECT count(*) FROM record WHERE "
			     "identifier = 'oai:arXiv.org:hep-th/0001001' AND "
			     "datestamp = '2005-03-01T00:00:00Z'"),
	    1);
	assert_int_equal(
	    tdb_int(db,
		"SELECT count(*) FROM metadata m JOIN "
		"record r ON r.id = m.record_id WHERE r.identifier = "
		"'oai:arXiv.org:hep-th/0001001' AND m.xml LIKE "
		"'<oai_dc:dc xmlns:xsi=%'"),
	    1);
	assert_int_equal(
	    tdb_int(db,
		"SELECT count(*) FROM metadata m JOIN "
		"record r ON r.id = m.record_id WHERE r.identifier = "
		"'oai:arXiv.org:hep-th/0001003' AND m.xml LIKE "
		"'%B &lt; D</dc:title>%'"),
	    1);
	free(db);
}

/*
 * oaiharvest identify shows a repository's error text escaped (a newline in
 * it made a fake log line), and says when it cut an endless ListSets.
 */
static void
test_identify_hostile(void **state)
{
	struct server srv;
	char	     *out, *err;
	int	      rc;

	start_server(&srv, "hostile.port",
	    "--pages tests/fixtures/hostile/identify-cut");
	rc = run("i1.out", "i1.err",
	    "%s/oaiharvest identify "
	    "http://127.0.0.1:%d/pages",
	    bindir, srv.port);
	out = read_tmp("i1.out");
	err = read_tmp("i1.err");
	assert_non_null(strstr(out, "Hostile test repository"));
	assert_non_null(strstr(err,
	    "OAI error noMetadataFormats: \"none "
	    "here\\n2026-01-01T00:00:00Z ERROR event=fake"));
	assert_null(strstr(err, "\n2026-01-01T00:00:00Z ERROR"));
	assert_non_null(strstr(err, "warning: ListSets cut after 100 pages"));
	/* The listing is incomplete: that is a failure. */
	assert_int_equal(rc, 1);
	free(out);
	free(err);
	stop_server(&srv);
}

/*
 * A repository whose clock runs into the future (its responseDate, or with
 * none, a record's datestamp) does not drag the watermark along: it stays
 * within a day of the local clock, and the run says why.
 */
static void
test_future_clock(void **state)
{
	static const char *const dirs[] = { "future-clock",
		"future-datestamp" };
	struct server		 srv;
	sqlite3			*sdb;
	char			*db, *err, *sql, *dir, limit[32];
	size_t			 i;
	time_t			 t = time(NULL) + 86400;
	int			 rc;

	strftime(limit, sizeof(limit), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
	for (i = 0; i < nitems(dirs); i++) {
		xasprintf(&dir, "--pages tests/fixtures/hostile/%s", dirs[i]);
		start_server(&srv, "future.port", dir);
		free(dir);
		xasprintf(&dir, "future%zu.db", i);
		db = path(dir);
		free(dir);
		rc = run("f1.out", "f1.err",
		    "%s/oaiharvest harvest --db %s "
		    "--url http://127.0.0.1:%d/pages --source future",
		    bindir, db, srv.port);
		err = read_tmp("f1.err");
		if (rc != 0)
			fail_msg("%s: harvest failed: %s", dirs[i], err);
		if (strstr(err, "event=clock_ahead") == NULL ||
		    strstr(err, "warnings=\"repository clock ahead") == NULL)
			fail_msg("%s: no warning: %s", dirs[i], err);
		assert_int_equal(sqlite3_open(db, &sdb), SQLITE_OK);
		xasprintf(&sql,
		    "SELECT count(*) FROM list_state WHERE "
		    "watermark IS NOT NULL AND watermark <= '%s'",
		    limit);
		if (q_int(sdb, sql) != 1)
			fail_msg("%s: watermark past %s", dirs[i], limit);
		free(sql);
		sqlite3_close(sdb);
		free(err);
		free(db);
		stop_server(&srv);
	}
}

/*
 * A redirect to another port of the same address is refused by default
 * (follow_redirects = same-host) and followed with --follow-redirects any.
 */
static void
test_redirect_other_port(void **state)
{
	struct server other;
	char	     *db, *err, *req;
	int	      rc;

	start_server(&other, "other.port",
	    "--records 350 --page-size 50 "
	    "--sets 4 --deleted-every 10 --seed 7");
	xasprintf(&req, "/control/fault?kind=redirect&port=%d", other.port);
	free(http(&synth, 1, "/control/clear-faults"));
	free(http(&synth, 1, req));
	db = path("redirect.db");
	rc = run("r1.out", "r1.err",
	    "%s/oaiharvest harvest --db %s --url "
	    "http://127.0.0.1:%d/oai --source r --retries 0",
	    bindir, db, synth.port);
	err = read_tmp("r1.err");
	if (rc != 1 ||
	    strstr(err,
		"refused: another host or port "
		"(follow_redirects = same-host)") == NULL)
		fail_msg("redirect followed (rc %d): %s", rc, err);
	free(err);
	/* Allowed: the other server answers the whole harvest. */
	free(http(&synth, 1, req));
	rc = run("r2.out", "r2.err",
	    "%s/oaiharvest harvest --db %s --url "
	    "http://127.0.0.1:%d/oai --source r --follow-redirects any",
	    bindir, db, synth.port);
	err = read_tmp("r2.err");
	if (rc != 0 || strstr(err, "status=ok") == NULL)
		fail_msg("redirect not followed (rc %d): %s", rc, err);
	free(err);
	rc = run("r3.out", "r3.err",
	    "%s/oaiharvest harvest --db %s --url "
	    "http://127.0.0.1:%d/oai --source r --follow-redirects sideways",
	    bindir, db, synth.port);
	assert_int_equal(rc, 2);
	free(http(&synth, 1, "/control/clear-faults"));
	free(req);
	free(db);
	stop_server(&other);
}

/*
 * Two harvests started at once on a new database file both succeed.  In
 * every other round the test holds the new file's write lock for 300 ms
 * while they start, so that they meet at setting WAL mode, where SQLite
 * waits for no lock by itself ("journal_mode: database is locked").
 */
static void
test_two_harvests_new_db(void **state)
{
	sqlite3 *sdb = NULL;
	char	*db, *cmd, *err, name[32];
	pid_t	 pid[2];
	int	 round, k, status;

	for (round = 0; round < 4; round++) {
		snprintf(name, sizeof(name), "race%d.db", round);
		db = path(name);
		if (round % 2 == 0) {
			assert_int_equal(sqlite3_open(db, &sdb), SQLITE_OK);
			/*
			 * Its COMMIT waits for the harvests' read locks, taken
			 * and dropped as they try again (it was SQLITE_BUSY at
			 * once when one held its lock at that moment).
			 */
			sqlite3_busy_timeout(sdb, 10000);
			assert_int_equal(sqlite3_exec(sdb, "BEGIN IMMEDIATE",
					     NULL, NULL, NULL),
			    SQLITE_OK);
		}
		for (k = 0; k < 2; k++) {
			pid[k] = fork();
			assert_true(pid[k] >= 0);
			if (pid[k] == 0) {
				xasprintf(&cmd,
				    "exec %s/oaiharvest harvest "
				    "--db %s --url http://127.0.0.1:%d/oai "
				    "--source r%d 2>%s/race%d.err",
				    bindir, db, synth.port, k, tmpdir, k);
				execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
				_exit(127);
			}
		}
		if (sdb != NULL) {
			usleep(300 * 1000);
			assert_int_equal(
			    sqlite3_exec(sdb, "COMMIT", NULL, NULL, NULL),
			    SQLITE_OK);
			sqlite3_close(sdb);
			sdb = NULL;
		}
		for (k = 0; k < 2; k++) {
			assert_int_equal(waitpid(pid[k], &status, 0), pid[k]);
			snprintf(name, sizeof(name), "race%d.err", k);
			err = read_tmp(name);
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
				fail_msg(
				    "round %d, harvest %d: %s", round, k, err);
			assert_non_null(strstr(err, "status=ok"));
			free(err);
		}
		assert_int_equal(
		    sqlite3_open_v2(db, &sdb, SQLITE_OPEN_READONLY, NULL),
		    SQLITE_OK);
		assert_int_equal(q_int(sdb,
				     "SELECT count(DISTINCT source_id) "
				     "FROM run WHERE status = 'ok'"),
		    2);
		assert_int_equal(q_int(sdb, "SELECT count(*) FROM run"), 2);
		assert_true(q_int(sdb, "SELECT count(*) FROM record") > 600);
		sqlite3_close(sdb);
		sdb = NULL;
		free(db);
	}
}

/*
 * A CLI harvest killed with SIGKILL mid-run leaves its run 'running'; the
 * next run of the source marks it failed, error 'interrupted', and
 * `oaiharvest status` no longer says running.
 */
static void
test_killed_run_interrupted(void **state)
{
	struct server slow;
	char	     *db, *cmd, *out;
	pid_t	      pid;
	int	      i, status, rc;
	long long     running = 0;

	start_server(&slow, "slow2.port",
	    "--records 400 --page-size 20 "
	    "--deleted-every 0 --delay-ms 40");
	db = tdb_new(state, "interrupted.db");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		xasprintf(&cmd,
		    "exec %s/oaiharvest harvest --db %s "
		    "--url http://127.0.0.1:%d/oai --source slow "
		    "2>/dev/null",
		    bindir, db, slow.port);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	/* Killed once its run has begun and a page is in. */
	for (i = 0; i < 200 && running == 0; i++) {
		usleep(50 * 1000);
		if (tdb_table(db, "run") && tdb_table(db, "record"))
			running = tdb_int(db,
			    "SELECT count(*) FROM run WHERE "
			    "status = 'running' AND (SELECT count(*) FROM "
			    "record) > 0");
	}
	assert_int_equal(running, 1);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	assert_int_equal(run("ki1.out", "ki1.err",
			     "%s/oaiharvest status "
			     "--db %s",
			     bindir, db),
	    0);
	out = read_tmp("ki1.out");
	assert_non_null(strstr(out, "running"));
	free(out);

	rc = run("ki2.out", "ki2.err",
	    "%s/oaiharvest harvest --db %s --url "
	    "http://127.0.0.1:%d/oai --source slow",
	    bindir, db, slow.port);
	if (rc != 0)
		fail_msg("next harvest failed: %s", read_tmp("ki2.err"));
	assert_int_equal(
	    tdb_int(db,
		"SELECT count(*) FROM run WHERE id = 1 "
		"AND status = 'failed' AND error = 'interrupted' AND ended IS "
		"NOT NULL"),
	    1);
	assert_int_equal(tdb_int(db,
			     "SELECT count(*) FROM run WHERE "
			     "status = 'running'"),
	    0);
	assert_int_equal(run("ki3.out", "ki3.err",
			     "%s/oaiharvest status "
			     "--db %s",
			     bindir, db),
	    0);
	out = read_tmp("ki3.out");
	assert_null(strstr(out, "running"));
	free(out);
	free(db);
	stop_server(&slow);
}

/* Issue 16, item 8 */

/* Is line (up to its newline) a log line: a UTC timestamp and a level? */
static int
is_log_line(const char *line)
{
	return strlen(line) > 21 && line[4] == '-' && line[10] == 'T' &&
	    line[19] == 'Z' && strncmp(line + 20, " level=", 7) == 0;
}

/* Every log line of text names its event; none says -1 for unknown. */
static int
check_log_lines(const char *text)
{
	const char *p, *nl;
	char	   *line;
	int	    n = 0;

	for (p = text; *p != '\0'; p = *nl != '\0' ? nl + 1 : nl) {
		if ((nl = strchr(p, '\n')) == NULL)
			nl = p + strlen(p);
		line = xstrndup(p, (size_t)(nl - p));
		if (is_log_line(line)) {
			n++;
			if (strstr(line, " event=") == NULL)
				fail_msg("a log line without event=: %s", line);
			if (strstr(line, "=-1 ") != NULL ||
			    (strlen(line) > 3 &&
				strcmp(line + strlen(line) - 3, "=-1") == 0))
				fail_msg("a -1 placeholder: %s", line);
		}
		free(line);
	}
	return n;
}

/*
 * A harvest with -v -v (debug) into a new database: the migrations, the
 * requests, the pages (the last one of a list has no cursor), the sweep,
 * the checkpointer: every line has event= and nothing is -1.
 */
static void
test_log_lines_debug(void **state)
{
	char *db, *err;

	db = path("logs.db");
	assert_int_equal(
	    run("lg.out", "lg.err",
		"%s/oaiharvest harvest "
		"--db %s --url http://127.0.0.1:%d/oai --sweep -v -v",
		bindir, db, synth.port),
	    0);
	err = read_tmp("lg.err");
	assert_non_null(strstr(err, "event=store_migrated"));
	assert_non_null(strstr(err, "event=page "));
	assert_true(check_log_lines(err) > 20);
	free(err);
	free(db);
}

/* Nothing listens: curl's text once, not "X (X)". */
static void
test_curl_text_once(void **state)
{
	char	   *db, *err, *p;
	const char *text = "Couldn't connect to server";
	int	    n = 0;

	db = path("nolisten.db");
	assert_int_equal(run("nl.out", "nl.err",
			     "%s/oaiharvest harvest "
			     "--db %s --url http://127.0.0.1:1/x --retries 0",
			     bindir, db),
	    1);
	err = read_tmp("nl.err");
	for (p = err; (p = strstr(p, text)) != NULL; p += strlen(text))
		n++;
	if (n != 1)
		fail_msg("curl's text %d times: %s", n, err);
	free(err);
	free(db);
}

/*
 * Usage: oaiharvest --help says a word on each command; a command without
 * its database says --db is missing; --limit 0 is refused alike; messages
 * name the command, not the verb; counts take the singular; oaiharvestd
 * --help explains every option.
 */
static void
test_usage_messages(void **state)
{
	static const char *const cmds[] = { "identify", "harvest", "export",
		"changes", "search", "list-identifiers", "get-record", "status",
		"sources" };
	static const char *const needdb[] = { "changes", "export", "search q",
		"sources", "status", "harvest --url http://x/oai" };
	static const char *const limited[] = { "changes", "search" };
	static const char *const named[] = { "status", "changes", "export",
		"search", "sources" };
	char			*out, *err, *conf, *cf, *line, *db;
	size_t			 i;

	assert_int_equal(
	    run("u1.out", "u1.err", "%s/oaiharvest --help", bindir), 0);
	out = read_tmp("u1.out");
	for (i = 0; i < nitems(cmds); i++) {
		/* "  NAME   a description" on a line of its own. */
		xasprintf(&line, "\n  %s ", cmds[i]);
		if (strstr(out, line) == NULL)
			fail_msg("oaiharvest --help: no line for %s:\n%s",
			    cmds[i], out);
		if (strcspn(strstr(out, line) + strlen(line), "\n") <
		    strspn(strstr(out, line) + strlen(line), " ") + 10)
			fail_msg("oaiharvest --help: %s without a word on it",
			    cmds[i]);
		free(line);
	}
	free(out);

	for (i = 0; i < nitems(needdb); i++) {
		assert_int_equal(run("u2.out", "u2.err", "%s/oaiharvest %s",
				     bindir, needdb[i]),
		    2);
		err = read_tmp("u2.err");
		if (strstr(err, "--db FILE is missing") == NULL)
			fail_msg("oaiharvest %s: %s", needdb[i], err);
		free(err);
	}

	db = path("nolimit.db");
	for (i = 0; i < nitems(limited); i++) {
		assert_int_equal(
		    run("u3.out", "u3.err",
			"%s/oaiharvest %s --db %s --limit 0%s", bindir,
			limited[i], db,
			strcmp(limited[i], "search") == 0 ? " q" : ""),
		    2);
		err = read_tmp("u3.err");
		xasprintf(
		    &line, "oaiharvest %s: --limit: too small", limited[i]);
		if (strstr(err, line) == NULL)
			fail_msg("%s --limit 0: %s", limited[i], err);
		free(line);
		free(err);
	}
	free(db);

	assert_int_equal(run("u4.out", "u4.err",
			     "%s/oaiharvest get-record http://127.0.0.1:1/x "
			     "oai:x:1",
			     bindir),
	    1);
	err = read_tmp("u4.err");
	assert_non_null(strstr(err, "oaiharvest get-record: "));
	assert_null(strstr(err, "oaiharvest GetRecord"));
	free(err);
	assert_int_equal(
	    run("u5.out", "u5.err",
		"%s/oaiharvest list-identifiers http://127.0.0.1:1/x", bindir),
	    1);
	err = read_tmp("u5.err");
	assert_non_null(strstr(err, "oaiharvest list-identifiers: "));
	assert_null(strstr(err, "oaiharvest ListIdentifiers"));
	free(err);

	/* A database that cannot be opened: the command names itself. */
	for (i = 0; i < nitems(named); i++) {
		assert_int_equal(
		    run("u8.out", "u8.err",
			"%s/oaiharvest %s --db %s/none/x.db%s", bindir,
			named[i], tmpdir,
			strcmp(named[i], "search") == 0 ? " q" : ""),
		    1);
		err = read_tmp("u8.err");
		xasprintf(&line, "oaiharvest %s: ", named[i]);
		if (strncmp(err, line, strlen(line)) != 0)
			fail_msg("oaiharvest %s: %s", named[i], err);
		free(line);
		free(err);
	}

	assert_int_equal(
	    run("u6.out", "u6.err", "%s/oaiharvestd --help", bindir), 0);
	out = read_tmp("u6.out");
	assert_non_null(strstr(out, "  -c FILE"));
	assert_non_null(strstr(out, "  -t "));
	assert_non_null(strstr(out, "  -v "));
	assert_non_null(strstr(out, "  --version"));
	free(out);

	db = path("one.db");
	xasprintf(&conf,
	    "[global]\ndatabase = %s\n\n"
	    "[source one]\nurl = http://127.0.0.1:1/oai\n",
	    db);
	save("one.conf", conf);
	cf = path("one.conf");
	assert_int_equal(
	    run("u7.out", "u7.err", "%s/oaiharvestd -t -c %s", bindir, cf), 0);
	out = read_tmp("u7.out");
	if (strstr(out, "(1 source)") == NULL)
		fail_msg("oaiharvestd -t: %s", out);
	free(out);
	free(cf);
	free(conf);
	free(db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		BACKENDS(test_full_then_incremental),
		cmocka_unit_test(test_changes_exact),
		cmocka_unit_test(test_sets_and_prefixes),
		cmocka_unit_test(test_nur_pages),
		BACKENDS(test_day_granularity),
		cmocka_unit_test(test_no_match_and_expired_token),
		cmocka_unit_test(test_list_identifiers_get_record),
		BACKENDS(test_sweep),
		cmocka_unit_test(test_progress_line),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_flag_units),
		BACKENDS(test_until_then_rest),
		BACKENDS(test_windows),
		BACKENDS(test_store_fails_midway),
		BACKENDS(test_two_sources_store_fails),
		BACKENDS(test_killed_and_resumed),
		BACKENDS(test_search_plain_words),
		BACKENDS(test_real_datestamps),
		BACKENDS(test_reserialized_not_updated),
		cmocka_unit_test(test_identify_hostile),
		cmocka_unit_test(test_future_clock),
		cmocka_unit_test(test_redirect_other_port),
		cmocka_unit_test(test_two_harvests_new_db),
		BACKENDS(test_killed_run_interrupted),
		cmocka_unit_test(test_log_lines_debug),
		cmocka_unit_test(test_curl_text_once),
		cmocka_unit_test(test_usage_messages),
	};

	return cmocka_run_group_tests_name(
	    "integration", tests, setup, teardown);
}
