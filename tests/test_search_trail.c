/*
 * The full-text index trails the page writer's commits by a batch of
 * records (fts_pending, store/sqlite_write.c) and catches up when the run
 * ends: a search right after a harvest, after an update and after a
 * deletion finds exactly the records whose text holds the words, as an
 * index built afresh by SQLite's own unicode61 from the content says, and
 * the index holds exactly the terms of the content.  The real CLI harvests
 * the real test server into a real SQLite file.
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
#include <sqlite3.h>

#include "util.h"

#include "testlib.h"

/*
 * More records than two of the writer's trailing batches (1,500), in pages
 * of 100: the index is written within the run and at its end.
 */
static struct server srv;

static int
setup(void **state)
{
	if (testlib_setup() == -1)
		return -1;
	start_server(&srv, "trail.port",
	    "--records 4000 --page-size 100 --deleted-every 0 --seed 11");
	return 0;
}

static int
teardown(void **state)
{
	stop_server(&srv);
	testlib_teardown();
	return 0;
}

/*
 * db opened with temp.ref, the index built afresh from record_fts_doc by
 * SQLite's unicode61, and fts5vocab tables over both indexes.
 */
static sqlite3 *
open_ref(const char *db)
{
	sqlite3 *h;
	char	*sql;

	/* db attached as h: the tables the test makes stay out of it. */
	assert_int_equal(sqlite3_open(":memory:", &h), SQLITE_OK);
	xasprintf(&sql, "ATTACH '%s' AS h", db);
	assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
	free(sql);
	if (sqlite3_exec(h,
		"CREATE VIRTUAL TABLE temp.ref USING fts5 (title, creator,"
		" subject, description,"
		" tokenize = 'unicode61 remove_diacritics 2');"
		"INSERT INTO temp.ref (rowid, title, creator, subject,"
		" description) SELECT record_id, title, creator, subject,"
		" description FROM h.record_fts_doc;"
		"CREATE VIRTUAL TABLE temp.vi USING fts5vocab (h,"
		" record_fts, instance);"
		"CREATE VIRTUAL TABLE temp.vr USING fts5vocab (temp, ref,"
		" instance);"
		"CREATE VIRTUAL TABLE temp.vrow USING fts5vocab (temp, ref,"
		" row);",
		NULL, NULL, NULL) != SQLITE_OK)
		fail_msg("reference index: %s", sqlite3_errmsg(h));
	return h;
}

/*
 * Nothing is owed, the index is sound, and it holds every term instance of
 * the content and no other.
 */
static void
assert_index_exact(sqlite3 *h)
{
	assert_int_equal(q_int(h, "SELECT count(*) FROM h.fts_pending"), 0);
	if (sqlite3_exec(h,
		"INSERT INTO h.record_fts (record_fts)"
		" VALUES ('integrity-check')",
		NULL, NULL, NULL) != SQLITE_OK)
		fail_msg("integrity-check: %s", sqlite3_errmsg(h));
	assert_true(q_int(h, "SELECT count(*) FROM temp.vr") > 10000);
	assert_int_equal(q_int(h,
			     "SELECT count(*) FROM (SELECT * FROM temp.vi"
			     " EXCEPT SELECT * FROM temp.vr)"),
	    0);
	assert_int_equal(q_int(h,
			     "SELECT count(*) FROM (SELECT * FROM temp.vr"
			     " EXCEPT SELECT * FROM temp.vi)"),
	    0);
}

/*
 * The rarest term of record identifier's title in the reference index
 * (allocated).
 */
static char *
rare_title_term(sqlite3 *h, const char *identifier)
{
	sqlite3_stmt *st;
	char	     *t;

	assert_int_equal(
	    sqlite3_prepare_v2(h,
		"SELECT v.term FROM temp.vr v JOIN temp.vrow w"
		" ON w.term = v.term WHERE v.col = 'title' AND v.doc ="
		" (SELECT id FROM h.record WHERE identifier = ?1)"
		" ORDER BY w.doc, v.term LIMIT 1",
		-1, &st, NULL),
	    SQLITE_OK);
	sqlite3_bind_text(st, 1, identifier, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW)
		fail_msg("%s has no title term", identifier);
	t = xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return t;
}

/*
 * `oaiharvest search` for term finds exactly the records the reference
 * index finds; whether identifier is among them.
 */
static int
search_exact(
    sqlite3 *h, const char *db, const char *term, const char *identifier)
{
	sqlite3_stmt *st;
	char	     *out, *err;
	long long     want, found;
	int	      has;

	if (run("s.out", "s.err",
		"%s/oaiharvest search --db %s --limit 100000 '%s'", bindir, db,
		term) != 0) {
		err = read_tmp("s.err");
		fail_msg("search %s: %s", term, err);
	}
	out = read_tmp("s.out");
	sqlite3_exec(h, "DROP TABLE IF EXISTS found", NULL, NULL, NULL);
	load_jsonl(h, "found", out);
	free(out);
	sqlite3_exec(h,
	    "DROP TABLE IF EXISTS temp.want;"
	    "CREATE TEMP TABLE want (identifier TEXT)",
	    NULL, NULL, NULL);
	assert_int_equal(
	    sqlite3_prepare_v2(h,
		"INSERT INTO temp.want SELECT r.identifier"
		" FROM temp.ref JOIN h.record r ON r.id = ref.rowid"
		" WHERE ref MATCH ?1",
		-1, &st, NULL),
	    SQLITE_OK);
	sqlite3_bind_text(st, 1, term, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	want = q_int(h, "SELECT count(*) FROM temp.want");
	found = q_int(h, "SELECT count(*) FROM found");
	if (found != want ||
	    q_int(h,
		"SELECT count(*) FROM (SELECT identifier FROM temp.want"
		" EXCEPT SELECT j->>'identifier' FROM found)") != 0)
		fail_msg(
		    "search %s: %lld found, %lld hold it", term, found, want);
	assert_int_equal(sqlite3_prepare_v2(h,
			     "SELECT count(*) FROM found"
			     " WHERE j->>'identifier' = ?1",
			     -1, &st, NULL),
	    SQLITE_OK);
	sqlite3_bind_text(
	    st, 1, identifier != NULL ? identifier : "", -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	has = sqlite3_column_int(st, 0) > 0;
	sqlite3_finalize(st);
	return has;
}

static void
harvest(const char *db, const char *what)
{
	char *err;

	if (run("h.out", "h.err",
		"%s/oaiharvest harvest --db %s --url http://127.0.0.1:%d/oai"
		" --source trail",
		bindir, db, srv.port) != 0) {
		err = read_tmp("h.err");
		fail_msg("%s harvest failed: %s", what, err);
	}
}

static void
test_search_after_harvest_update_delete(void **state)
{
	/* Records in the first, a middle and the last trailing batch. */
	static const char *const ids[] = { "17", "2222", "3999" };
	char			*db, *old[3], *new[3], id[64], q[64];
	sqlite3			*h;
	size_t			 i;

	db = path("trail.db");
	harvest(db, "first");
	h = open_ref(db);
	assert_int_equal(q_int(h, "SELECT count(*) FROM h.record"), 4000);
	assert_index_exact(h);
	for (i = 0; i < nitems(ids); i++) {
		snprintf(id, sizeof(id), "oai:oaiharvest.test:rec/%s", ids[i]);
		old[i] = rare_title_term(h, id);
		assert_true(search_exact(h, db, old[i], id));
	}
	sqlite3_close(h);

	/* Updated: found by the new title, and by the old as the text says. */
	for (i = 0; i < nitems(ids); i++) {
		snprintf(q, sizeof(q), "/control/update?id=%s", ids[i]);
		free(http(&srv, 1, q));
	}
	harvest(db, "second");
	h = open_ref(db);
	assert_index_exact(h);
	for (i = 0; i < nitems(ids); i++) {
		snprintf(id, sizeof(id), "oai:oaiharvest.test:rec/%s", ids[i]);
		new[i] = rare_title_term(h, id);
		assert_true(search_exact(h, db, new[i], id));
		/* Found by the old term only if the new text holds it. */
		search_exact(h, db, old[i], id);
	}
	sqlite3_close(h);

	/* Deleted: found by nothing. */
	for (i = 0; i < nitems(ids); i++) {
		snprintf(q, sizeof(q), "/control/delete?id=%s", ids[i]);
		free(http(&srv, 1, q));
	}
	harvest(db, "third");
	h = open_ref(db);
	assert_index_exact(h);
	for (i = 0; i < nitems(ids); i++) {
		snprintf(id, sizeof(id), "oai:oaiharvest.test:rec/%s", ids[i]);
		assert_false(search_exact(h, db, new[i], id));
		assert_false(search_exact(h, db, old[i], id));
		free(old[i]);
		free(new[i]);
	}
	assert_int_equal(
	    q_int(h, "SELECT count(*) FROM h.record WHERE deleted = 1"), 3);
	sqlite3_close(h);
	free(db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_search_after_harvest_update_delete),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
