/*
 * The full-text index trails the page writer's commits by a batch of
 * records (fts_pending, store/sqlite_write.c) and catches up when the run
 * ends: a search right after a harvest, after an update and after a
 * deletion finds exactly the records whose text holds the words, as an
 * index built afresh by SQLite's own unicode61 from the content says, and
 * the index holds exactly the terms of the content.  A harvest killed
 * mid-run leaves its last batch owed, which the page writer's connection
 * indexes when it next opens.  The real CLI harvests the real test server
 * into a real SQLite file.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "util.h"
#include "store.h"

#include "testlib.h"

/*
 * More records than two of the writer's trailing batches (1,300-1,500), in pages
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

/* The harvest's summary line (on stderr) says updated=n. */
static void
assert_updated(int n)
{
	char *err, want[32];

	err = read_tmp("h.err");
	snprintf(want, sizeof(want), " updated=%d ", n);
	if (strstr(err, want) == NULL)
		fail_msg("want%s: %s", want, err);
	free(err);
}

/*
 * A record moved to another collection is updated (its sets are part of
 * its hash) but its text is what it was: its terms stand, and a harvest
 * of nothing but such moves writes nothing to the index (before, each
 * moved record's terms were taken out and put back, as much work as a
 * new record twice).  A record whose title changes, moved or not, has
 * its terms replaced.
 */
static void
test_moved_records_keep_their_terms(void **state)
{
	/* Not those the other cases change. */
	static const int moved[] = { 101, 1602, 3203 };
	char		*db, *term[3], *now, id[3][64], q[96];
	sqlite3		*h;
	long long	 blocks, bytes;
	size_t		 i;

	db = path("moved.db");
	harvest(db, "first");
	h = open_ref(db);
	assert_index_exact(h);
	for (i = 0; i < nitems(moved); i++) {
		snprintf(id[i], sizeof(id[i]), "oai:oaiharvest.test:rec/%d",
		    moved[i]);
		term[i] = rare_title_term(h, id[i]);
	}
	blocks = q_int(h, "SELECT count(*) FROM h.record_fts_data");
	bytes = q_int(h, "SELECT sum(length(block)) FROM h.record_fts_data");
	sqlite3_close(h);

	for (i = 0; i < nitems(moved); i++) {
		snprintf(q, sizeof(q), "/control/move?id=%d&set=col_%d",
		    moved[i], (moved[i] + 1) % 4);
		free(http(&srv, 1, q));
	}
	harvest(db, "second");
	assert_updated(3);
	h = open_ref(db);
	assert_index_exact(h);
	assert_int_equal(
	    q_int(h, "SELECT count(*) FROM h.record_fts_data"), blocks);
	assert_int_equal(
	    q_int(h, "SELECT sum(length(block)) FROM h.record_fts_data"),
	    bytes);
	for (i = 0; i < nitems(moved); i++)
		assert_true(search_exact(h, db, term[i], id[i]));
	sqlite3_close(h);

	/* The first retitled; the second moved again and retitled. */
	free(http(&srv, 1, "/control/update?id=101"));
	snprintf(
	    q, sizeof(q), "/control/move?id=1602&set=col_%d", (1602 + 2) % 4);
	free(http(&srv, 1, q));
	free(http(&srv, 1, "/control/update?id=1602"));
	harvest(db, "third");
	assert_updated(2);
	h = open_ref(db);
	assert_index_exact(h);
	for (i = 0; i < 2; i++) {
		now = rare_title_term(h, id[i]);
		assert_true(search_exact(h, db, now, id[i]));
		/* Found by the old term only if the new text holds it. */
		search_exact(h, db, term[i], id[i]);
		free(now);
	}
	assert_true(search_exact(h, db, term[2], id[2]));
	sqlite3_close(h);
	for (i = 0; i < nitems(moved); i++)
		free(term[i]);
	free(db);
}

/* Records in db, and the rows of its fts_pending; 0 while it has none. */
static int
progress(const char *db, long long *records, long long *owed)
{
	sqlite3 *h;
	int	 ok = 0;

	*records = *owed = 0;
	if (access(db, F_OK) != 0)
		return 0;
	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		sqlite3_close(h);
		return 0;
	}
	sqlite3_busy_timeout(h, 5000);
	if (sqlite3_exec(h, "SELECT 1 FROM fts_pending", NULL, NULL, NULL) ==
	    SQLITE_OK) {
		*records = q_int(h, "SELECT count(*) FROM record");
		*owed = q_int(h, "SELECT count(*) FROM fts_pending");
		ok = 1;
	}
	sqlite3_close(h);
	return ok;
}

/*
 * SIGKILL mid-harvest, once a batch is indexed and the next is owed: the
 * killed run ends nothing, so its owed batch stays out of searches until
 * the page writer's connection opens again, which indexes it (at the next
 * harvest's or the daemon's start): then every record is found.
 */
static void
test_killed_harvest_caught_up_at_open(void **state)
{
	struct server slow;
	struct store *st;
	sqlite3	     *h;
	sqlite3_stmt *q;
	char	     *db, *cmd, *cause = NULL, *term, id[64];
	pid_t	      pid;
	long long     records = 0, owed = 0, last;
	int	      i;

	/* 4,000 records at 100 a page, 100 ms a page: 4 s or more. */
	start_server(&slow, "trail-slow.port",
	    "--records 4000 --page-size 100 --deleted-every 0 --seed 12 "
	    "--delay-ms 100");
	db = path("killed.db");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		xasprintf(&cmd,
		    "exec %s/oaiharvest harvest --db %s "
		    "--url http://127.0.0.1:%d/oai --source killed "
		    "2>/dev/null",
		    bindir, db, slow.port);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	/* Past a first batch, some of the next owed: at most 60 s. */
	for (i = 0; i < 1200; i++) {
		if (progress(db, &records, &owed) && records > 1700 &&
		    records < 3500 && owed > 0)
			break;
		if (waitpid(pid, NULL, WNOHANG) == pid)
			fail_msg("the harvest ended before it was killed");
		usleep(50 * 1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	stop_server(&slow);
	if (!progress(db, &records, &owed) || owed == 0 || records < 1700 ||
	    records >= 4000)
		fail_msg("killed at %lld records, %lld owed: not mid-run",
		    records, owed);
	print_message(
	    "killed at %lld records, %lld owed the index\n", records, owed);

	/* The page writer's connection opens (as at a harvest's start). */
	if ((st = store_open(db, STORE_TRAIL, &cause)) == NULL)
		fail_msg("open: %s", cause);
	store_close(st);

	h = open_ref(db);
	assert_int_equal(q_int(h, "SELECT count(*) FROM h.record"), records);
	assert_index_exact(h);
	/* The last record written, and one in the indexed batch, are found. */
	last = q_int(h, "SELECT max(id) FROM h.record");
	assert_true(last > 0);
	for (i = 0; i < 2; i++) {
		assert_int_equal(sqlite3_prepare_v2(h,
				     "SELECT identifier FROM h.record"
				     " WHERE id = ?1",
				     -1, &q, NULL),
		    SQLITE_OK);
		sqlite3_bind_int64(q, 1, i == 0 ? last : 17);
		assert_int_equal(sqlite3_step(q), SQLITE_ROW);
		snprintf(id, sizeof(id), "%s", sqlite3_column_text(q, 0));
		sqlite3_finalize(q);
		term = rare_title_term(h, id);
		assert_true(search_exact(h, db, term, id));
		free(term);
	}
	sqlite3_close(h);
	free(db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_search_after_harvest_update_delete),
		cmocka_unit_test(test_moved_records_keep_their_terms),
		cmocka_unit_test(test_killed_harvest_caught_up_at_open),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
