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
#include <pthread.h>
#include <sqlite3.h>

#include "testlib.h"
#include "util.h"
#include "store.h"
#include "pg_tsv.h"

static struct server srv;

static const char *const     sets_ab[] = { "a", "b" };
static const struct store_dc dc_basic[] = {
	{ "title", "A title", "en" },
	{ "creator", "Doe, J.", NULL },
	{ "subject", "Physics", NULL },
};

#define META1 "<oai_dc:dc><dc:title>A title</dc:title></oai_dc:dc>"
#define META2 "<oai_dc:dc><dc:title>Another title</dc:title></oai_dc:dc>"

/* Calls that must succeed. */
#define CHECKP(x) \
	do { \
		if ((x) != 0) \
			fail_msg("%s: %s", #x, cause != NULL ? cause : "?"); \
	} while (0)

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

/*
 * The rows of a query, each column separated by |, NULL as "NULL", a line
 * a row: what test_store.c's assert_sql() compares for SQLite.
 */
static char *
pg_rows(const char *uri, const char *sql)
{
	PGconn	  *c;
	PGresult  *r;
	struct buf b;
	int	   i, j;

	c = PQconnectdb(uri);
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("connect: %s", PQerrorMessage(c));
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	buf_init(&b, 64UL * 1024 * 1024);
	for (i = 0; i < PQntuples(r); i++) {
		for (j = 0; j < PQnfields(r); j++) {
			if (j > 0)
				buf_addch(&b, '|');
			buf_addstr(&b,
			    PQgetisnull(r, i, j) ? "NULL" :
						   PQgetvalue(r, i, j));
		}
		buf_addch(&b, '\n');
	}
	PQclear(r);
	PQfinish(c);
	return b.data != NULL ? b.data : xstrdup("");
}

#define assert_pg(uri, sql, want) \
	do { \
		char *got_ = pg_rows(uri, sql); \
		if (strcmp(got_, want) != 0) \
			fail_msg("%s:\n got: %s\nwant: %s", sql, got_, want); \
		free(got_); \
	} while (0)

static struct store_record
mkrec(const char *id, const char *ds, int deleted, const char *meta)
{
	struct store_record r;

	memset(&r, 0, sizeof(r));
	r.prefix = "oai_dc";
	r.identifier = id;
	r.datestamp = ds;
	r.deleted = deleted;
	r.sets = sets_ab;
	r.nsets = nitems(sets_ab);
	if (!deleted) {
		r.metadata = meta;
		r.metadata_len = meta != NULL ? strlen(meta) : 0;
		r.dc = dc_basic;
		r.ndc = nitems(dc_basic);
	}
	return r;
}

static struct store *
open_store(const char *uri, int flags)
{
	struct store *s;
	char	     *cause = NULL;

	if ((s = store_open(uri, flags, &cause)) == NULL)
		fail_msg("store_open: %s", cause);
	return s;
}

/* One record in its own page transaction; the change it made. */
static enum store_change
put(struct store *s, int64_t src, int64_t run, const struct store_record *r)
{
	enum store_change c = STORE_UNCHANGED;
	char		 *cause = NULL;

	if (store_begin(s, &cause) != 0)
		fail_msg("begin: %s", cause);
	if (store_put(s, src, run, r, &c, &cause) != 0)
		fail_msg("put: %s", cause);
	if (store_commit(s, &cause) != 0)
		fail_msg("commit: %s", cause);
	return c;
}

/*
 * The records whose tsvector (record_fts) is not what the harvester's own
 * builder (store/pg_tsv.c) makes of their content.dc now, or that have a
 * tsvector without content or content without one.
 */
static long long
fts_stale(const char *uri)
{
	PGconn		 *c;
	PGresult	 *r, *e;
	struct pg_tsv	 *x;
	const struct buf *b;
	const char	 *v[2];
	char		 *cause = NULL;
	long long	  bad = 0;
	int		  i;

	if ((x = pg_tsv_new(&cause)) == NULL)
		fail_msg("pg_tsv_new: %s", cause);
	c = PQconnectdb(uri);
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("connect: %s", PQerrorMessage(c));
	r = PQexec(c,
	    "SELECT c.record_id, c.dc, f.record_id FROM content c"
	    " FULL JOIN record_fts f ON f.record_id = c.record_id");
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("fts rows: %s", PQerrorMessage(c));
	for (i = 0; i < PQntuples(r); i++) {
		if (PQgetisnull(r, i, 0) || PQgetisnull(r, i, 2)) {
			bad++;
			continue;
		}
		if (pg_tsv_dc(x, PQgetvalue(r, i, 1),
			(size_t)PQgetlength(r, i, 1), &b, &cause) == -1)
			fail_msg("pg_tsv_dc: %s", cause);
		v[0] = PQgetvalue(r, i, 0);
		v[1] = buf_str(b);
		e = PQexecParams(c,
		    "SELECT fts = $2::tsvector FROM record_fts"
		    " WHERE record_id = $1::bigint",
		    2, NULL, v, NULL, NULL, 0);
		if (PQresultStatus(e) != PGRES_TUPLES_OK || PQntuples(e) != 1)
			fail_msg("fts row %s: %s", v[0], PQerrorMessage(c));
		bad += strcmp(PQgetvalue(e, 0, 0), "t") != 0;
		PQclear(e);
	}
	PQclear(r);
	PQfinish(c);
	pg_tsv_free(x);
	return bad;
}

/* Search equals a fresh build, and nothing is owed to the index. */
static void
assert_fts_fresh(const char *uri)
{
	assert_true(pg_int(uri, "SELECT count(*) FROM content") > 0);
	assert_pg(uri, "SELECT count(*) FROM fts_pending", "0\n");
	assert_int_equal(fts_stale(uri), 0);
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

/* Opening: the schema made once, its version; read-only opening. */
static void
test_open_schema(void **state)
{
	struct store *s, *t;
	char	     *uri, *cause = NULL;

	uri = pg_database();
	/* Two at once on a new database: it is migrated once. */
	s = open_store(uri, 0);
	t = open_store(uri, 0);
	assert_int_equal(store_schema_version(s), 4);
	assert_pg(uri, "SELECT version FROM schema_version", "4\n");
	assert_pg(uri,
	    "SELECT string_agg(tablename, ',' ORDER BY tablename)"
	    " FROM pg_tables WHERE schemaname = 'public'",
	    "change,change_seq,content,dc_element,fts_pending,lease,list_state,"
	    "node,outbox,record,record_fts,record_set,reject,run,"
	    "schema_version,source\n");
	assert_null(store_path(s) == NULL ? "" : NULL);
	assert_string_equal(store_path(s), uri);
	assert_int_equal(store_writable(s, &cause), 0);
	assert_int_equal(store_last_seq(s), 0);
	store_close(t);
	store_close(s);
	/* Read-only: reads, refuses writes. */
	s = open_store(uri, STORE_RDONLY);
	assert_int_equal(store_last_seq(s), 0);
	assert_true(store_source(s, "x", "http://x/oai", 0, &cause) < 0);
	assert_non_null(cause);
	free(cause);
	store_close(s);
	/* postgres:// is PostgreSQL too. */
	memcpy(uri + strlen("postgres"), "ql", 2);
	free(uri);
}

/* Sources and runs, as the SQLite backend keeps them. */
static void
test_sources_runs(void **state)
{
	struct store_run_stats rs = { 2, 10, 5, 1, 1, 3, 1000, 0 };
	struct store	      *s;
	time_t		       ended;
	char		      *uri, *cause = NULL, *st = NULL, *v;
	int64_t		       a, b, run;

	uri = pg_database();
	s = open_store(uri, 0);
	a = store_source(s, "nur", "https://nur.example/oai", 0, &cause);
	assert_true(a > 0);
	assert_int_equal(
	    store_source(s, "nur", "https://nur.example/oai", 0, &cause), a);
	assert_int_equal(store_source(s, "nur", NULL, 0, &cause), a);
	/* Another URL is another repository, unless it moved. */
	assert_int_equal(
	    store_source(s, "nur", "https://other.example/oai", 0, &cause),
	    STORE_SOURCE_OTHER_URL);
	assert_non_null(strstr(cause, "nur.example"));
	free(cause);
	cause = NULL;
	assert_int_equal(
	    store_source(s, "nur", "https://moved.example/oai", 1, &cause), a);
	v = store_source_url(s, "nur");
	assert_string_equal(v, "https://moved.example/oai");
	free(v);
	v = store_source_by_url(s, "https://moved.example/oai");
	assert_string_equal(v, "nur");
	free(v);
	assert_null(store_source_url(s, "none"));
	b = store_source(s, "kaz", "https://kaz.example/oai", 0, &cause);
	assert_true(b > a);
	assert_int_equal(store_source_identify(s, a, "YYYY-MM-DD", "2001-01-01",
			     "persistent", "Nur", &cause),
	    0);
	assert_int_equal(
	    store_source_identify(s, 999, NULL, NULL, NULL, NULL, &cause), -1);
	free(cause);
	cause = NULL;
	assert_int_equal(
	    store_source_last_run(s, "nur", &ended, &st, &cause), 0);
	run = store_run_begin(s, a, &cause);
	assert_true(run > 0);
	assert_int_equal(
	    store_source_last_run(s, "nur", &ended, &st, &cause), 1);
	assert_string_equal(st, "running");
	assert_int_equal(ended, 0);
	free(st);
	/* A run left running is marked interrupted by the next. */
	assert_true(store_run_begin(s, a, &cause) > run);
	assert_pg(uri,
	    "SELECT status, error FROM run WHERE id = (SELECT min(id) FROM "
	    "run)",
	    "failed|interrupted\n");
	assert_int_equal(store_run_end(s, run + 1, "ok", &rs, NULL, &cause), 0);
	assert_int_equal(
	    store_run_end(s, run + 1, "bogus", &rs, NULL, &cause), -1);
	free(cause);
	cause = NULL;
	assert_int_equal(
	    store_source_last_run(s, "nur", &ended, &st, &cause), 1);
	assert_string_equal(st, "ok");
	assert_true(ended > 0);
	free(st);
	assert_pg(uri,
	    "SELECT pages, records, new, updated, deleted, unchanged, bytes"
	    " FROM run WHERE id = (SELECT max(id) FROM run)",
	    "2|10|5|1|1|3|1000\n");
	assert_pg(uri,
	    "SELECT granularity, earliest_datestamp, repository_name"
	    " FROM source WHERE name = 'nur'",
	    "YYYY-MM-DD|2001-01-01|Nur\n");
	store_close(s);
	free(uri);
}

/* Every transition of store_put(), its rows and change rows. */
static void
test_put_transitions(void **state)
{
	struct store	   *s;
	struct store_record r;
	char		   *uri, *cause = NULL;
	int64_t		    src, run;

	uri = pg_database();
	s = open_store(uri, 0);
	src = store_source(s, "nur", "https://nur.example/oai", 0, &cause);
	run = store_run_begin(s, src, &cause);
	assert_true(run > 0);

	r = mkrec("oai:nur:1", "2024-01-01T00:00:00Z", 0, META1);
	assert_int_equal(put(s, src, run, &r), STORE_NEW);
	assert_pg(uri,
	    "SELECT deleted, datestamp, first_seen = last_seen FROM record",
	    "0|2024-01-01T00:00:00Z|t\n");
	assert_pg(uri, "SELECT xml FROM metadata", META1 "\n");
	assert_pg(uri,
	    "SELECT position, element, value, lang FROM dc ORDER BY position",
	    "0|title|A title|en\n1|creator|Doe, J.|NULL\n"
	    "2|subject|Physics|NULL\n");
	assert_pg(uri, "SELECT position, setspec FROM record_set ORDER BY 1",
	    "0|a\n1|b\n");
	assert_int_equal(put(s, src, run, &r), STORE_UNCHANGED);
	r = mkrec("oai:nur:1", "2024-02-01T00:00:00Z", 0, META1);
	assert_int_equal(put(s, src, run, &r), STORE_UNCHANGED);
	assert_pg(
	    uri, "SELECT datestamp FROM record", "2024-02-01T00:00:00Z\n");
	/* An older copy, even with other content, is ignored. */
	r = mkrec("oai:nur:1", "2024-01-15T00:00:00Z", 0, META2);
	assert_int_equal(put(s, src, run, &r), STORE_UNCHANGED);
	assert_pg(uri, "SELECT xml FROM metadata", META1 "\n");
	r = mkrec("oai:nur:1", "2024-03-01T00:00:00Z", 0, META2);
	assert_int_equal(put(s, src, run, &r), STORE_UPDATED);
	assert_pg(uri, "SELECT xml FROM metadata", META2 "\n");
	r = mkrec("oai:nur:1", "2024-04-01T00:00:00Z", 1, NULL);
	assert_int_equal(put(s, src, run, &r), STORE_DELETED);
	assert_pg(uri, "SELECT count(*) FROM metadata", "0\n");
	assert_pg(uri, "SELECT count(*) FROM dc", "0\n");
	assert_pg(
	    uri, "SELECT setspec FROM record_set ORDER BY position", "a\nb\n");
	r = mkrec("oai:nur:1", "2024-05-01T00:00:00Z", 1, NULL);
	assert_int_equal(put(s, src, run, &r), STORE_UNCHANGED);
	r = mkrec("oai:nur:1", "2024-06-01T00:00:00Z", 0, META1);
	assert_int_equal(put(s, src, run, &r), STORE_NEW);
	assert_pg(uri, "SELECT count(*) FROM dc", "3\n");
	r = mkrec("oai:nur:2", "2024-06-02T00:00:00Z", 1, NULL);
	assert_int_equal(put(s, src, run, &r), STORE_TOMBSTONE);
	r = mkrec("oai:nur:2", "2024-06-03T00:00:00Z", 0, META1);
	assert_int_equal(put(s, src, run, &r), STORE_NEW);
	assert_pg(uri,
	    "SELECT seq, identifier, prefix, kind, datestamp,"
	    " run_id = (SELECT max(id) FROM run) FROM change ORDER BY seq",
	    "1|oai:nur:1|oai_dc|new|2024-01-01T00:00:00Z|t\n"
	    "2|oai:nur:1|oai_dc|updated|2024-03-01T00:00:00Z|t\n"
	    "3|oai:nur:1|oai_dc|deleted|2024-04-01T00:00:00Z|t\n"
	    "4|oai:nur:1|oai_dc|new|2024-06-01T00:00:00Z|t\n"
	    "5|oai:nur:2|oai_dc|new|2024-06-03T00:00:00Z|t\n");
	assert_int_equal(store_last_seq(s), 5);
	/* Outside a transaction, put is refused. */
	assert_int_equal(store_put(s, src, run, &r, NULL, &cause), -1);
	free(cause);
	cause = NULL;

	/* A rollback takes the records and the seqs with it. */
	CHECKP(store_begin(s, &cause));
	r = mkrec("oai:nur:3", "2024-07-01T00:00:00Z", 0, META1);
	CHECKP(store_put(s, src, run, &r, NULL, &cause));
	assert_int_equal(store_writable(s, &cause), 0);
	store_rollback(s);
	assert_pg(uri, "SELECT count(*), max(seq) FROM change", "5|5\n");
	assert_pg(uri, "SELECT count(*) FROM record", "2\n");
	assert_int_equal(put(s, src, run, &r), STORE_NEW);
	assert_pg(uri,
	    "SELECT max(seq), (SELECT last FROM change_seq)"
	    " FROM change",
	    "6|6\n");
	/* A failed statement fails the page; it rolls back whole. */
	CHECKP(store_begin(s, &cause));
	r = mkrec("oai:nur:4", "2024-07-01T00:00:00Z", 0, META1);
	CHECKP(store_put(s, src, run, &r, NULL, &cause));
	/* Not UTF-8: PostgreSQL refuses the text. */
	r = mkrec("oai:nur:\xff\xfe", "2024-07-01T00:00:00Z", 0, META1);
	assert_int_equal(store_put(s, src, run, &r, NULL, &cause), -1);
	assert_non_null(cause);
	free(cause);
	cause = NULL;
	store_rollback(s);
	assert_pg(uri, "SELECT count(*) FROM record", "3\n");
	store_close(s);
	free(uri);
}

/* One record put inside a page transaction already open: its change. */
static enum store_change
put_in(struct store *s, int64_t src, int64_t run, const struct store_record *r)
{
	enum store_change c = STORE_UNCHANGED;
	char		 *cause = NULL;

	if (store_put(s, src, run, r, &c, &cause) != 0)
		fail_msg("put: %s", cause);
	return c;
}

/*
 * A page's records looked up at once (store_put_prefetch()): the same
 * transitions as one by one, a record listed twice on the page, one the
 * lookup did not name, and a record another writer put after the lookup,
 * which fails the page instead of counting it new.
 */
static void
test_put_prefetch(void **state)
{
	static const char *const ids[] = { "oai:nur:1", "oai:nur:2",
		"oai:nur:3", "oai:nur:4", "oai:nur:4", "oai:nur:3" };
	static const char *const late[] = { "oai:nur:6" };
	struct store		*s, *s2;
	struct store_record	 r;
	char			*uri, *cause = NULL;
	int64_t			 src, run;

	uri = pg_database();
	s = open_store(uri, 0);
	assert_true(store_put_prefetches(s));
	src = store_source(s, "nur", "https://nur.example/oai", 0, &cause);
	run = store_run_begin(s, src, &cause);
	assert_true(run > 0);
	r = mkrec("oai:nur:1", "2024-01-01T00:00:00Z", 0, META1);
	assert_int_equal(put(s, src, run, &r), STORE_NEW);
	r = mkrec("oai:nur:2", "2024-01-01T00:00:00Z", 0, META1);
	assert_int_equal(put(s, src, run, &r), STORE_NEW);

	CHECKP(store_begin(s, &cause));
	CHECKP(store_put_prefetch(s, src, "oai_dc", ids, nitems(ids), &cause));
	r = mkrec("oai:nur:1", "2024-02-01T00:00:00Z", 0, META1);
	assert_int_equal(put_in(s, src, run, &r), STORE_UNCHANGED);
	r = mkrec("oai:nur:2", "2024-02-01T00:00:00Z", 0, META2);
	assert_int_equal(put_in(s, src, run, &r), STORE_UPDATED);
	r = mkrec("oai:nur:3", "2024-02-01T00:00:00Z", 0, META1);
	assert_int_equal(put_in(s, src, run, &r), STORE_NEW);
	r = mkrec("oai:nur:4", "2024-02-01T00:00:00Z", 0, META1);
	assert_int_equal(put_in(s, src, run, &r), STORE_NEW);
	r = mkrec("oai:nur:4", "2024-02-02T00:00:00Z", 0, META2);
	assert_int_equal(put_in(s, src, run, &r), STORE_UPDATED);
	r = mkrec("oai:nur:5", "2024-02-01T00:00:00Z", 1, NULL);
	assert_int_equal(put_in(s, src, run, &r), STORE_TOMBSTONE);
	r = mkrec("oai:nur:3", "2024-02-03T00:00:00Z", 1, NULL);
	assert_int_equal(put_in(s, src, run, &r), STORE_DELETED);
	CHECKP(store_commit(s, &cause));
	assert_pg(uri,
	    "SELECT identifier, deleted, datestamp, hash IS NOT NULL"
	    " FROM record ORDER BY identifier",
	    "oai:nur:1|0|2024-02-01T00:00:00Z|t\n"
	    "oai:nur:2|0|2024-02-01T00:00:00Z|t\n"
	    "oai:nur:3|1|2024-02-03T00:00:00Z|t\n"
	    "oai:nur:4|0|2024-02-02T00:00:00Z|t\n"
	    "oai:nur:5|1|2024-02-01T00:00:00Z|t\n");
	assert_pg(uri,
	    "SELECT r.identifier, m.xml = '" META2 "' FROM metadata m"
	    " JOIN record r ON r.id = m.record_id ORDER BY 1",
	    "oai:nur:1|f\noai:nur:2|t\noai:nur:4|t\n");
	assert_pg(uri, "SELECT seq, identifier, kind FROM change ORDER BY seq",
	    "1|oai:nur:1|new\n2|oai:nur:2|new\n3|oai:nur:2|updated\n"
	    "4|oai:nur:3|new\n5|oai:nur:4|new\n6|oai:nur:4|updated\n"
	    "7|oai:nur:3|deleted\n");
	assert_pg(uri,
	    "SELECT count(*) FROM record_set s JOIN record r"
	    " ON r.id = s.record_id WHERE r.identifier = 'oai:nur:4'",
	    "2\n");
	assert_fts_fresh(uri);

	/* Put by another writer between the lookup and the put. */
	s2 = open_store(uri, 0);
	CHECKP(store_begin(s, &cause));
	CHECKP(store_put_prefetch(s, src, "oai_dc", late, 1, &cause));
	r = mkrec("oai:nur:6", "2024-03-01T00:00:00Z", 0, META1);
	assert_int_equal(put(s2, src, run, &r), STORE_NEW);
	if (store_put(s, src, run, &r, NULL, &cause) == 0)
		assert_int_equal(store_commit(s, &cause), -1);
	assert_non_null(cause);
	free(cause);
	cause = NULL;
	store_rollback(s);
	assert_pg(uri,
	    "SELECT count(*), max(seq) FROM change"
	    " WHERE identifier = 'oai:nur:6'",
	    "1|8\n");
	/* The page again: the record is known now. */
	CHECKP(store_begin(s, &cause));
	CHECKP(store_put_prefetch(s, src, "oai_dc", late, 1, &cause));
	assert_int_equal(put_in(s, src, run, &r), STORE_UNCHANGED);
	CHECKP(store_commit(s, &cause));
	store_close(s2);
	store_close(s);
	free(uri);
}

/*
 * A transaction of several pages written by multi-row statements: more
 * new records than one statement takes, a record new on one page and
 * listed again on the next (the lookup must see it), known records whose
 * datestamps go in at once, and an empty string, quotes, a backslash and
 * braces in the values.
 */
#define BULK_N 1203

static void
test_put_bulk(void **state)
{
	static const char *const again[] = { "oai:nur:7", "oai:nur:x\"\\{}" };
	static const char	*ids[BULK_N];
	static char		 id[BULK_N][32];
	struct store		*s;
	struct store_record	 r;
	char			*uri, *cause = NULL, want[256];
	int64_t			 src, run;
	int			 i;

	uri = pg_database();
	s = open_store(uri, 0);
	src = store_source(s, "nur", "https://nur.example/oai", 0, &cause);
	run = store_run_begin(s, src, &cause);
	for (i = 0; i < BULK_N; i++) {
		snprintf(id[i], sizeof(id[i]), "oai:nur:%d", i);
		ids[i] = id[i];
	}
	CHECKP(store_begin(s, &cause));
	CHECKP(store_put_prefetch(s, src, "oai_dc", ids, BULK_N, &cause));
	for (i = 0; i < BULK_N; i++) {
		r = mkrec(ids[i], "2024-01-01T00:00:00Z", i % 100 == 99, META1);
		assert_int_equal(put_in(s, src, run, &r),
		    i % 100 == 99 ? STORE_TOMBSTONE : STORE_NEW);
	}
	CHECKP(store_put_prefetch(s, src, "oai_dc", again, 2, &cause));
	r = mkrec(again[0], "2024-01-02T00:00:00Z", 0, META2);
	assert_int_equal(put_in(s, src, run, &r), STORE_UPDATED);
	r = mkrec(again[1], "", 0, META1);
	r.sets = NULL;
	r.nsets = 0;
	assert_int_equal(put_in(s, src, run, &r), STORE_NEW);
	CHECKP(store_commit(s, &cause));
	snprintf(want, sizeof(want), "%d|%d|%d|%d\n", BULK_N + 1, BULK_N + 1,
	    BULK_N + 1 - BULK_N / 100, 2 * BULK_N);
	assert_pg(uri,
	    "SELECT (SELECT count(*) FROM record),"
	    " (SELECT count(DISTINCT id) FROM record),"
	    " (SELECT count(*) FROM content), (SELECT count(*) FROM "
	    "record_set)",
	    want);
	assert_pg(uri,
	    "SELECT r.identifier, r.datestamp, r.sets, m.xml = '" META2 "'"
	    " FROM record r JOIN metadata m ON m.record_id = r.id"
	    " WHERE r.identifier IN ('oai:nur:7', 'oai:nur:x\"\\{}')"
	    " ORDER BY 1",
	    "oai:nur:7|2024-01-02T00:00:00Z|[\"a\",\"b\"]|t\n"
	    "oai:nur:x\"\\{}||[]|f\n");
	snprintf(want, sizeof(want), "%d|%d\n", BULK_N + 2 - BULK_N / 100,
	    BULK_N + 2 - BULK_N / 100);
	assert_pg(uri, "SELECT count(*), max(seq) FROM change", want);
	snprintf(want, sizeof(want), "%d\n", BULK_N + 1 - BULK_N / 100);
	assert_pg(uri,
	    "SELECT count(*) FROM record_fts"
	    " WHERE fts @@ to_tsquery('oh_fts', 'physics')",
	    want);

	/* Again, a day later: every datestamp, in one statement or two. */
	CHECKP(store_begin(s, &cause));
	CHECKP(store_put_prefetch(s, src, "oai_dc", ids, BULK_N, &cause));
	for (i = 0; i < BULK_N; i++) {
		r = mkrec(ids[i], "2024-01-03T00:00:00Z", i % 100 == 99,
		    i == 7 ? META2 : META1);
		assert_int_equal(put_in(s, src, run, &r), STORE_UNCHANGED);
	}
	CHECKP(store_commit(s, &cause));
	snprintf(want, sizeof(want), "%d\n", BULK_N);
	assert_pg(uri,
	    "SELECT count(*) FROM record"
	    " WHERE datestamp = '2024-01-03T00:00:00Z'"
	    " AND sets = '[\"a\",\"b\"]'",
	    want);
	assert_fts_fresh(uri);
	store_close(s);

	/* The check sees one altered tsvector. */
	free(pg_rows(uri,
	    "UPDATE record_fts SET fts = fts || 'zzz'::tsvector"
	    " WHERE record_id = (SELECT min(record_id) FROM record_fts)"
	    " RETURNING 1"));
	assert_int_equal(fts_stale(uri), 1);

	/*
	 * A page writer killed between a commit and its index's catching
	 * up leaves records owed (with their tsvectors, or without as
	 * migration 4 leaves them): the next page writer's open indexes
	 * them, the altered one among them.
	 */
	free(pg_rows(uri,
	    "WITH o AS (SELECT record_id FROM record_fts ORDER BY record_id"
	    " LIMIT 50), d AS (DELETE FROM record_fts"
	    " WHERE record_id IN (SELECT record_id FROM o)"
	    " RETURNING record_id, fts)"
	    " INSERT INTO fts_pending (record_id, gone, tsv)"
	    " SELECT record_id, false, CASE WHEN record_id % 2 = 0"
	    " AND NOT fts @@ 'zzz'::tsquery THEN fts END FROM d"
	    " RETURNING 1"));
	assert_pg(uri,
	    "SELECT (SELECT count(*) FROM fts_pending),"
	    " (SELECT count(*) FROM content) - (SELECT count(*) FROM "
	    "record_fts)",
	    "50|50\n");
	s = open_store(uri, STORE_TRAIL);
	assert_fts_fresh(uri);
	store_close(s);
	free(uri);
}

/* List state, rejects, sweeps and the outbox. */
static void
test_lists_sweeps(void **state)
{
	struct store_list_state ls, got;
	struct store	       *s;
	struct store_record	r;
	long long		vanished = -1;
	char		       *uri, *cause = NULL, *at = NULL;
	int64_t			src, run, seq = -1;
	int			i;
	char			id[32];

	uri = pg_database();
	s = open_store(uri, 0);
	src = store_source(s, "nur", "https://nur.example/oai", 0, &cause);
	run = store_run_begin(s, src, &cause);
	memset(&ls, 0, sizeof(ls));
	ls.token = "tok1";
	ls.progress = "2024-01-01";
	ls.cursor = 100;
	ls.complete_list_size = -1;
	ls.pages = 1;
	assert_int_equal(
	    store_list_checkpoint(s, src, "oai_dc", NULL, &ls, &cause), -1);
	free(cause);
	cause = NULL;
	CHECKP(store_begin(s, &cause));
	for (i = 0; i < 10; i++) {
		snprintf(id, sizeof(id), "oai:nur:%d", i);
		r = mkrec(id, "2024-01-01T00:00:00Z", 0, META1);
		CHECKP(store_put(s, src, run, &r, NULL, &cause));
	}
	CHECKP(store_reject(s, src, run, "oai_dc", "oai:bad", "2024", "broken",
	    "<x>", 3, 0, &cause));
	CHECKP(store_list_checkpoint(s, src, "oai_dc", NULL, &ls, &cause));
	/* Inside a transaction too. */
	CHECKP(store_list_get(s, src, "oai_dc", NULL, &got, &cause));
	assert_string_equal(got.token, "tok1");
	store_list_state_free(&got);
	CHECKP(store_commit(s, &cause));
	CHECKP(store_list_get(s, src, "oai_dc", "", &got, &cause));
	assert_string_equal(got.token, "tok1");
	assert_string_equal(got.progress, "2024-01-01");
	assert_int_equal(got.cursor, 100);
	assert_int_equal(got.complete_list_size, -1);
	assert_int_equal(got.pages, 1);
	assert_null(got.watermark);
	store_list_state_free(&got);
	CHECKP(store_begin(s, &cause));
	CHECKP(store_list_complete(
	    s, src, "oai_dc", NULL, "2024-02-01T00:00:00Z", &cause));
	CHECKP(store_commit(s, &cause));
	CHECKP(store_list_get(s, src, "oai_dc", NULL, &got, &cause));
	assert_string_equal(got.watermark, "2024-02-01T00:00:00Z");
	assert_null(got.token);
	assert_int_equal(got.pages, 0);
	store_list_state_free(&got);
	assert_pg(uri, "SELECT identifier, cause, raw, truncated FROM reject",
	    "oai:bad|broken|<x>|0\n");

	/* A sweep that lists 7 of 10: 3 vanish. */
	CHECKP(store_sweep_touch(s, src, "oai_dc", &cause));
	CHECKP(store_sweep_last(s, src, "oai_dc", &at, &cause));
	assert_non_null(at);
	free(at);
	run = store_run_begin(s, src, &cause);
	CHECKP(store_begin(s, &cause));
	for (i = 0; i < 7; i++) {
		snprintf(id, sizeof(id), "oai:nur:%d", i);
		CHECKP(store_sweep_mark(s, src, "oai_dc", id, run, &cause));
	}
	CHECKP(
	    store_sweep_finish(s, src, "oai_dc", run, NULL, &vanished, &cause));
	CHECKP(store_commit(s, &cause));
	assert_int_equal(vanished, 3);
	assert_pg(uri,
	    "SELECT identifier, kind, reason FROM change WHERE seq > 10"
	    " ORDER BY seq",
	    "oai:nur:7|deleted|vanished: no longer listed by ListIdentifiers\n"
	    "oai:nur:8|deleted|vanished: no longer listed by ListIdentifiers\n"
	    "oai:nur:9|deleted|vanished: no longer listed by "
	    "ListIdentifiers\n");
	/* A sweep that lists 2 of 7 present refuses. */
	run = store_run_begin(s, src, &cause);
	CHECKP(store_begin(s, &cause));
	CHECKP(store_sweep_mark(s, src, "oai_dc", "oai:nur:0", run, &cause));
	assert_int_equal(
	    store_sweep_finish(s, src, "oai_dc", run, NULL, &vanished, &cause),
	    -1);
	assert_non_null(strstr(cause, "partial"));
	free(cause);
	cause = NULL;
	store_rollback(s);

	CHECKP(store_outbox_get(s, "file", &seq, &cause));
	assert_int_equal(seq, 0);
	CHECKP(store_outbox_set(s, "file", 12, &cause));
	CHECKP(store_outbox_get(s, "file", &seq, &cause));
	assert_int_equal(seq, 12);
	store_close(s);
	free(uri);
}

/* Many statements queued in one transaction (a sweep page of 600). */
static void
test_pipeline_long(void **state)
{
	struct store	   *s;
	struct store_record r;
	char		   *uri, *cause = NULL, id[32];
	int64_t		    src, run;
	int		    i;

	uri = pg_database();
	s = open_store(uri, 0);
	src = store_source(s, "nur", "https://nur.example/oai", 0, &cause);
	run = store_run_begin(s, src, &cause);
	CHECKP(store_begin(s, &cause));
	for (i = 0; i < 600; i++) {
		snprintf(id, sizeof(id), "oai:nur:%d", i);
		r = mkrec(id, "2024-01-01T00:00:00Z", 0, META1);
		CHECKP(store_put(s, src, run, &r, NULL, &cause));
	}
	CHECKP(store_commit(s, &cause));
	CHECKP(store_begin(s, &cause));
	for (i = 0; i < 600; i++) {
		snprintf(id, sizeof(id), "oai:nur:%d", i);
		CHECKP(store_sweep_mark(s, src, "oai_dc", id, run, &cause));
	}
	CHECKP(store_commit(s, &cause));
	assert_pg(uri, "SELECT count(*) FROM record WHERE swept IS NOT NULL",
	    "600\n");
	assert_pg(uri, "SELECT count(*), max(seq) FROM change", "600|600\n");
	store_close(s);
	free(uri);
}

/*
 * Change seqs with two writers at once: a reader that follows the log
 * (seq > the last it saw) must see every seq, in order, never one that
 * appears later below what it already read.
 */
#define SEQ_WRITERS 2
#define SEQ_TXNS    40
#define SEQ_PUTS    5

struct seq_arg {
	const char *uri;
	int	    n;
	int	    failed;
	int	    done;
	char	    why[256];
};

static void *
seq_writer(void *arg)
{
	struct seq_arg	   *a = arg;
	struct store	   *s;
	struct store_record r;
	char		   *cause = NULL, id[48];
	int64_t		    src;
	int		    t, k;

	if ((s = store_open(a->uri, 0, &cause)) == NULL)
		goto fail;
	if ((src = store_source(s, "nur", NULL, 0, &cause)) < 0)
		goto fail;
	for (t = 0; t < SEQ_TXNS; t++) {
		if (store_begin(s, &cause) == -1)
			goto fail;
		for (k = 0; k < SEQ_PUTS; k++) {
			snprintf(id, sizeof(id), "oai:w%d:%d:%d", a->n, t, k);
			r = mkrec(id, "2024-01-01T00:00:00Z", 0, META1);
			if (store_put(s, src, 0, &r, NULL, &cause) == -1)
				goto fail;
			/* Let the other writer in between. */
			if (k == 2)
				usleep(1000);
		}
		if (store_commit(s, &cause) == -1)
			goto fail;
	}
	store_close(s);
	return NULL;
fail:
	a->failed = 1;
	snprintf(a->why, sizeof(a->why), "%s", cause != NULL ? cause : "?");
	free(cause);
	store_close(s);
	return NULL;
}

struct follow {
	int64_t last;
	int	bad;
};

static int
follow_row(void *arg, const struct store_change_row *c)
{
	struct follow *f = arg;

	if (c->seq != f->last + 1)
		f->bad = 1;
	f->last = c->seq;
	return 0;
}

static void
test_seq_concurrent(void **state)
{
	struct seq_arg a[SEQ_WRITERS];
	pthread_t      th[SEQ_WRITERS];
	struct follow  f = { 0, 0 };
	struct store  *s;
	char	      *uri, *cause = NULL;
	int	       i, reads = 0, done;

	uri = pg_database();
	s = open_store(uri, 0);
	assert_true(
	    store_source(s, "nur", "https://nur.example/oai", 0, &cause) > 0);
	for (i = 0; i < SEQ_WRITERS; i++) {
		memset(&a[i], 0, sizeof(a[i]));
		a[i].uri = uri;
		a[i].n = i;
		assert_int_equal(
		    pthread_create(&th[i], NULL, seq_writer, &a[i]), 0);
	}
	/* Follow while they write: bounded by the writers' work. */
	for (done = 0; !done && reads < 100000; reads++) {
		done = f.last >= SEQ_WRITERS * SEQ_TXNS * SEQ_PUTS;
		CHECKP(store_changes(s, f.last, -1, follow_row, &f, &cause));
		usleep(200);
	}
	for (i = 0; i < SEQ_WRITERS; i++) {
		pthread_join(th[i], NULL);
		if (a[i].failed)
			fail_msg("writer %d: %s", i, a[i].why);
	}
	CHECKP(store_changes(s, f.last, -1, follow_row, &f, &cause));
	assert_false(f.bad);
	assert_int_equal(f.last, SEQ_WRITERS * SEQ_TXNS * SEQ_PUTS);
	assert_pg(uri,
	    "SELECT count(*), count(DISTINCT identifier), min(seq),"
	    " max(seq) FROM change",
	    "400|400|1|400\n");
	store_close(s);
	free(uri);
}

/* Sources by name: known, rename, move, reset, drop. */
static void
test_admin(void **state)
{
	struct store_drop_stats ds;
	struct store_list_state ls;
	struct store	       *s;
	struct store_record	r;
	long long		lists = -1;
	char		       *uri, *cause = NULL, *v;
	int64_t			a, b, run, seq;
	int			i;
	char			id[32];

	uri = pg_database();
	s = open_store(uri, 0);
	a = store_source(s, "nur", "https://nur.example/oai", 0, &cause);
	b = store_source(s, "kaz", "https://kaz.example/oai", 0, &cause);
	assert_int_equal(store_source_known(s, "nur", NULL, &cause), 1);
	assert_int_equal(store_source_known(s, "nur", "oai_dc", &cause), 0);
	assert_int_equal(store_source_known(s, "none", NULL, &cause), 0);
	run = store_run_begin(s, a, &cause);
	memset(&ls, 0, sizeof(ls));
	ls.token = "t";
	ls.cursor = ls.complete_list_size = -1;
	CHECKP(store_begin(s, &cause));
	for (i = 0; i < 4; i++) {
		snprintf(id, sizeof(id), "oai:nur:%d", i);
		r = mkrec(id, "2024-01-01T00:00:00Z", 0, META1);
		CHECKP(store_put(s, i < 3 ? a : b, run, &r, NULL, &cause));
	}
	CHECKP(store_list_checkpoint(s, a, "oai_dc", NULL, &ls, &cause));
	CHECKP(store_list_checkpoint(s, a, "oai_dc", "set1", &ls, &cause));
	CHECKP(store_commit(s, &cause));
	assert_int_equal(store_source_known(s, "nur", "oai_dc", &cause), 1);
	assert_int_equal(store_source_known(s, NULL, "marcxml", &cause), 0);

	/* Rename: not onto a taken name, not a source that is not there. */
	assert_int_equal(store_source_rename(s, "nur", "kaz", &cause), -1);
	assert_non_null(strstr(cause, "already"));
	free(cause);
	cause = NULL;
	assert_int_equal(
	    store_source_rename(s, "none", "x", &cause), STORE_NO_SOURCE);
	free(cause);
	cause = NULL;
	CHECKP(store_source_rename(s, "nur", "nurly", &cause));
	assert_pg(uri, "SELECT name FROM source ORDER BY id", "nurly\nkaz\n");
	/* Move: the URL, records kept. */
	CHECKP(
	    store_source_move(s, "nurly", "https://new.example/oai", &cause));
	v = store_source_url(s, "nurly");
	assert_string_equal(v, "https://new.example/oai");
	free(v);
	assert_pg(
	    uri, "SELECT count(*) FROM record WHERE source_id = 1", "3\n");
	/* Reset: the lists go, the records stay. */
	CHECKP(store_source_reset(s, "nurly", &lists, &cause));
	assert_int_equal(lists, 2);
	assert_pg(uri, "SELECT count(*) FROM list_state", "0\n");
	assert_pg(uri, "SELECT count(*) FROM record", "4\n");

	/* Drop: refused while a feed has not written its changes out. */
	CHECKP(store_outbox_set(s, "file", 2, &cause));
	assert_int_equal(
	    store_source_drop(s, "nurly", 0, &ds, &cause), STORE_UNCONSUMED);
	assert_non_null(strstr(cause, "\"file\""));
	free(cause);
	cause = NULL;
	assert_pg(uri, "SELECT count(*) FROM record", "4\n");
	CHECKP(store_source_drop(s, "nurly", 1, &ds, &cause));
	assert_int_equal(ds.records, 3);
	assert_int_equal(ds.changes, 3);
	assert_int_equal(ds.runs, 1);
	assert_pg(uri,
	    "SELECT (SELECT count(*) FROM source), (SELECT count(*) FROM"
	    " record), (SELECT count(*) FROM content), (SELECT count(*) FROM"
	    " record_set), (SELECT count(*) FROM change)",
	    "1|1|1|2|1\n");
	/* Its seqs are never given out again. */
	seq = store_last_seq(s);
	assert_int_equal(seq, 4);
	r = mkrec("oai:kaz:9", "2024-01-01T00:00:00Z", 0, META1);
	assert_int_equal(put(s, b, 0, &r), STORE_NEW);
	assert_pg(uri, "SELECT max(seq) FROM change", "5\n");
	assert_int_equal(
	    store_source_drop(s, "nurly", 1, &ds, &cause), STORE_NO_SOURCE);
	free(cause);
	store_close(s);
	free(uri);
}

/* Run the CLI; its stdout (allocated), failing the test unless it exits 0. */
static char *
cli(const char *fmt, ...)
{
	va_list ap;
	char   *cmd, *out, *err;
	int	rc;

	va_start(ap, fmt);
	xvasprintf(&cmd, fmt, ap);
	va_end(ap);
	rc = run("cli.out", "cli.err", "%s/oaiharvest %s", bindir, cmd);
	out = read_tmp("cli.out");
	err = read_tmp("cli.err");
	if (rc != 0)
		fail_msg("oaiharvest %s: exit %d: %s", cmd, rc, err);
	free(cmd);
	free(err);
	return out;
}

/* s quoted for sh (allocated). */
static char *
squote(const char *s)
{
	struct buf b;

	buf_init(&b, 4096);
	buf_addch(&b, '\'');
	for (; *s != '\0'; s++) {
		if (*s == '\'')
			buf_addstr(&b, "'\\''");
		else
			buf_addch(&b, *s);
	}
	buf_addch(&b, '\'');
	return b.data;
}

static int
count_lines(const char *s)
{
	int n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

/*
 * oaiharvest harvests the test server into PostgreSQL: the export equals
 * the server's corpus and, byte for byte, the SQLite backend's export of
 * the same harvest; a re-harvest changes nothing; the change log, status
 * and searches agree with SQLite's.
 */
static void
test_harvest(void **state)
{
	static const char *const queries[] = {
		"the",
		"title:school",
		"migra*",
		"\"migration across\"",
		"O'Brien",
		"Taylor-Jones",
		"school AND NOT migration",
		"(school OR water) AND health",
		"Алматы",
		"C++ (",
	};
	char  *uri, *db, *a, *b, *dump, *st, *q;
	size_t i;

	uri = pg_database();
	db = path("harvest.db");
	a = cli("harvest --db %s --url http://127.0.0.1:%d/oai --source t1",
	    uri, srv.port);
	free(a);
	b = cli("harvest --db %s --url http://127.0.0.1:%d/oai --source t1", db,
	    srv.port);
	free(b);
	a = cli("export --db %s", uri);
	b = cli("export --db %s", db);
	dump = http(&srv, 0, "/control/dump");
	compare_export_dump(a, dump, "t1");
	assert_string_equal(a, b);
	free(a);
	free(b);
	free(dump);
	assert_fts_fresh(uri);
	a = cli(
	    "export --db %s --source t1 --identifier "
	    "oai:oaiharvest.test:rec/5 --identifier oai:oaiharvest.test:rec/7",
	    uri);
	b = cli(
	    "export --db %s --source t1 --identifier "
	    "oai:oaiharvest.test:rec/5 --identifier oai:oaiharvest.test:rec/7",
	    db);
	assert_int_equal(count_lines(a), 2);
	assert_string_equal(a, b);
	free(a);
	free(b);
	a = cli("export --db %s --since 1700", uri);
	b = cli("export --db %s --since 1700", db);
	assert_true(count_lines(a) > 0);
	assert_string_equal(a, b);
	free(a);
	free(b);

	/* Again: nothing changes. */
	assert_pg(uri, "SELECT count(*) FROM change", "1800\n");
	a = cli("harvest --db %s --url http://127.0.0.1:%d/oai --source t1",
	    uri, srv.port);
	free(a);
	assert_pg(uri, "SELECT count(*), max(seq) FROM change", "1800|1800\n");
	assert_pg(
	    uri, "SELECT status, new FROM run ORDER BY id", "ok|1800\nok|0\n");
	assert_fts_fresh(uri);

	/* The change log, but for when each row was written. */
	a = cli("changes --db %s --since 5 --limit 20", uri);
	b = cli("changes --db %s --since 5 --limit 20", db);
	assert_int_equal(count_lines(a), 20);
	assert_int_equal(strncmp(a, "{\"seq\":6,", 9), 0);
	free(a);
	free(b);

	st = cli("status --db %s", uri);
	assert_non_null(strstr(st, "1800 present, 200 deleted"));
	free(st);

	for (i = 0; i < nitems(queries); i++) {
		q = squote(queries[i]);
		a = cli("search --db %s --limit 5000 %s", uri, q);
		b = cli("search --db %s --limit 5000 %s", db, q);
		free(q);
		if (count_lines(a) != count_lines(b))
			fail_msg("search %s: %d results, SQLite %d", queries[i],
			    count_lines(a), count_lines(b));
		assert_true(i == nitems(queries) - 1 || count_lines(a) > 0);
		free(a);
		free(b);
	}
	free(db);
	free(uri);
}

/*
 * Migration 4 on a database of version 3: the tsvectors to_tsvector()
 * made, and records owed with their text, are all made again by the
 * harvester's builder at the next page writer's open.
 */
static void
test_migrate_tsv(void **state)
{
	struct store	   *s;
	struct store_record r;
	char		   *uri, *cause = NULL, id[32];
	int64_t		    src, run;
	int		    i;

	uri = pg_database();
	s = open_store(uri, 0);
	src = store_source(s, "nur", "https://nur.example/oai", 0, &cause);
	run = store_run_begin(s, src, &cause);
	assert_true(run > 0);
	for (i = 0; i < 20; i++) {
		snprintf(id, sizeof(id), "oai:nur:%d", i);
		r = mkrec(id, "2024-01-01T00:00:00Z", 0, META1);
		assert_int_equal(put(s, src, run, &r), STORE_NEW);
	}
	store_close(s);
	assert_fts_fresh(uri);
	free(pg_rows(uri,
	    "ALTER TABLE fts_pending DROP COLUMN tsv, ADD COLUMN f0 text,"
	    " ADD COLUMN f1 text, ADD COLUMN f2 text, ADD COLUMN f3 text;"
	    "ALTER TABLE fts_pending RESET (toast_tuple_target);"
	    "UPDATE record_fts SET fts = to_tsvector('oh_fts', 'old vector');"
	    "INSERT INTO fts_pending (record_id, gone, f0)"
	    " SELECT record_id, false, 'old text' FROM record_fts"
	    " ORDER BY record_id LIMIT 3;"
	    "INSERT INTO fts_pending (record_id, gone)"
	    " SELECT max(record_id) + 1000, true FROM record_fts;"
	    "UPDATE schema_version SET version = 3;"
	    "SELECT 1"));
	assert_int_equal(fts_stale(uri), 20);
	s = open_store(uri, STORE_TRAIL);
	assert_int_equal(store_schema_version(s), 4);
	store_close(s);
	assert_fts_fresh(uri);
	assert_pg(uri, "SELECT count(*) FROM record_fts", "20\n");
	free(uri);
}

/*
 * The binary tsvector the page writer sends (pg_tsv_doc_bin()) is, as
 * PostgreSQL reads it, the text one (pg_tsv_doc()).
 */
static void
tsv_binary_same(
    PGconn *c, struct pg_tsv *x, const char *const col[4], const size_t len[4])
{
	const struct buf *d;
	const char	 *v[2];
	int		  l[2], f[2] = { 0, 1 };
	char		 *text, *cause = NULL;
	PGresult	 *r;

	if (pg_tsv_doc(x, col, len, &d, &cause) == -1)
		fail_msg("pg_tsv_doc: %s", cause);
	text = xstrdup(d->len > 0 ? d->data : "");
	if (pg_tsv_doc_bin(x, col, len, &d, &cause) == -1)
		fail_msg("pg_tsv_doc_bin: %s", cause);
	v[0] = text;
	v[1] = d->data;
	l[0] = 0;
	l[1] = (int)d->len;
	r = PQexecParams(c,
	    "SELECT $1::tsvector::text = $2::tsvector::text,"
	    " length($2::tsvector), $2::tsvector::text",
	    2, NULL, v, l, f, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("binary tsvector: %s (text %.200s)", PQerrorMessage(c),
		    text);
	if (strcmp(PQgetvalue(r, 0, 0), "t") != 0)
		fail_msg("binary tsvector differs: %.300s / %.300s", text,
		    PQgetvalue(r, 0, 2));
	PQclear(r);
	free(text);
}

/*
 * Random documents: the binary and text tsvectors the same to PostgreSQL
 * (Latin with quotes and backslashes, diacritics, Cyrillic and Kazakh,
 * digits, repeated words past 256 positions, empty and absent columns).
 */
static void
test_tsv_binary(void **state)
{
	static const char *const words[] = { "it's", "back\\slash", "'",
		"O'Brien", "\u00fcn\u00ef", "Alma\u0301ty",
		"\u049a\u0430\u0437\u0430\u049b",
		"\u0493\u044b\u043b\u044b\u043c",
		"\u041c\u043e\u0441\u043a\u0432\u0430", "COVID-19", "2024",
		"x:1A", "the", "a", "na\u00efve", "\u00e9t\u00e9",
		"Stra\u00dfe", "\u00c6sir", "-", "..." };
	const char		*col[4];
	size_t			 len[4];
	struct buf		 b[4];
	struct pg_tsv		*x;
	PGconn			*c;
	char			*uri, *cause = NULL;
	unsigned		 seed = 1207;
	int			 i, k, n, w;

	(void)state;
	uri = pg_database();
	c = PQconnectdb(uri);
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("connect: %s", PQerrorMessage(c));
	if ((x = pg_tsv_new(&cause)) == NULL)
		fail_msg("pg_tsv_new: %s", cause);
	for (k = 0; k < 4; k++)
		buf_init(&b[k], 1024 * 1024);
	for (i = 0; i < 200; i++) {
		for (k = 0; k < 4; k++) {
			buf_reset(&b[k]);
			n = (int)(rand_r(&seed) % (i % 10 == 0 ? 600 : 40));
			for (w = 0; w < n; w++) {
				buf_addstr(&b[k],
				    words[rand_r(&seed) % nitems(words)]);
				buf_addch(
				    &b[k], rand_r(&seed) % 7 ? ' ' : '\n');
			}
			col[k] = rand_r(&seed) % 9 ? buf_str(&b[k]) : NULL;
			len[k] = col[k] != NULL ? b[k].len : 0;
		}
		tsv_binary_same(c, x, col, len);
	}
	for (k = 0; k < 4; k++)
		buf_free(&b[k]);
	pg_tsv_free(x);
	PQfinish(c);
	free(uri);
}

/*
 * The tsvector and tsquery text the harvester writes (store/pg_tsv.c):
 * lexemes with ' and \ round-trip through PostgreSQL's input, and a
 * document within PostgreSQL's limits (a term over 2047 bytes left out,
 * positions at most 16383, at most 256 a term) is taken as written.
 */
static void
test_tsv_literal(void **state)
{
	static const char *const lex[] = { "it's", "back\\slash", "'", "\\",
		"''\\\\", "a b", "\u00fcn\u00ef", "x:1A", "\\'" };
	const char		*v[3];
	const char		*col[4];
	size_t			 len[4];
	struct pg_tsv		*x;
	const struct buf	*d;
	struct buf		 t, q, big;
	PGconn			*c;
	PGresult		*r;
	char			*uri, *cause = NULL;
	size_t			 i;

	uri = pg_database();
	c = PQconnectdb(uri);
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("connect: %s", PQerrorMessage(c));
	buf_init(&t, 4096);
	buf_init(&q, 4096);
	for (i = 0; i < nitems(lex); i++) {
		buf_reset(&t);
		buf_reset(&q);
		pg_tsv_quote(&t, lex[i], strlen(lex[i]));
		buf_addstr(&t, ":1A");
		pg_tsv_quote(&q, lex[i], strlen(lex[i]));
		v[0] = t.data;
		v[1] = q.data;
		v[2] = lex[i];
		r = PQexecParams(c,
		    "SELECT (tsvector_to_array($1::tsvector))[1] = $3,"
		    " length($1::tsvector),"
		    " $1::tsvector @@ $2::tsquery,"
		    " $1::tsvector @@ ($2::text || ':*A')::tsquery,"
		    " $1::tsvector @@ ($2::text || ':B')::tsquery",
		    3, NULL, v, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK)
			fail_msg("%s / %s: %s", v[0], v[1], PQerrorMessage(c));
		if (strcmp(PQgetvalue(r, 0, 0), "t") != 0 ||
		    strcmp(PQgetvalue(r, 0, 1), "1") != 0 ||
		    strcmp(PQgetvalue(r, 0, 2), "t") != 0 ||
		    strcmp(PQgetvalue(r, 0, 3), "t") != 0 ||
		    strcmp(PQgetvalue(r, 0, 4), "f") != 0)
			fail_msg("%s / %s: %s %s %s %s %s", v[0], v[1],
			    PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1),
			    PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 3),
			    PQgetvalue(r, 0, 4));
		PQclear(r);
	}

	/* A document at PostgreSQL's limits. */
	if ((x = pg_tsv_new(&cause)) == NULL)
		fail_msg("pg_tsv_new: %s", cause);
	buf_init(&big, 1024 * 1024);
	for (i = 0; i < 3000; i++)
		buf_addch(&big, 'a');
	buf_addstr(&big, " ok ");
	for (i = 0; i < 17000; i++)
		buf_addstr(&big, "x ");
	buf_addstr(&big, "end");
	col[0] = "O'Brien's Back\\slash";
	col[1] = NULL;
	col[2] = big.data;
	col[3] = "end";
	len[0] = strlen(col[0]);
	len[1] = 0;
	len[2] = big.len;
	len[3] = 3;
	if (pg_tsv_doc(x, col, len, &d, &cause) == -1)
		fail_msg("pg_tsv_doc: %s", cause);
	v[0] = d->data;
	r = PQexecParams(c,
	    "SELECT string_agg(lexeme || ' ' || array_length(positions, 1)"
	    " || ' ' || positions[1] || weights[1], ',' ORDER BY lexeme)"
	    " FROM unnest($1::tsvector)",
	    1, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("document: %s", PQerrorMessage(c));
	assert_string_equal(PQgetvalue(r, 0, 0),
	    "back 1 4A,brien 1 2A,end 1 16383C,o 1 1A,ok 1 8C,s 1 3A,"
	    "slash 1 5A,x 256 9C");
	PQclear(r);
	tsv_binary_same(c, x, col, len);
	buf_free(&big);
	buf_free(&t);
	buf_free(&q);
	pg_tsv_free(x);
	PQfinish(c);
	free(uri);
}

/*
 * A search finds the same records on both backends (PostgreSQL's tsvectors
 * and tsquery terms made with SQLite's tokenizer, store/pg_tsv.c): real
 * responses (tests/fixtures/real, replayed) harvested into a SQLite file
 * and into PostgreSQL, and records put here into both, searched with
 * diacritics, Cyrillic and Kazakh, hyphenated terms, quotes, prefixes,
 * phrases, columns and operators.
 */
static const char *const same_scenarios[] = {
	"lshtm",
	"caltech",
	"cyberleninka",
	"dryad",
	"zenodo-2015",
	"nature",
	"udel",
	"erasmus-2004-listrecords",
	"pucrio",
};

static const struct {
	const char *id, *title, *creator, *subject, *description;
} same_records[] = {
	{ "oai:x:1", "COVID-19 and schools", "M\u00fcller, J\u00fcrgen",
	    "Epidemiology",
	    "The COVID-19 pandemic in \u0410\u043b\u043c\u0430\u0442\u044b." },
	{ "oai:x:2", "Covid 19 notes", "O'Brien, Se\u00e1n", "Public health",
	    "Notes on covid, 19 cases and schools." },
	{ "oai:x:3",
	    "\u049a\u0430\u0437\u0430\u049b\u0441\u0442\u0430\u043d\u0434\u0430"
	    "\u0493\u044b "
	    "\u0431\u0456\u043b\u0456\u043c",
	    "\u04d8\u043b\u0438\u0435\u0432\u0430, "
	    "\u0413\u04af\u043b\u043d\u0430\u0440",
	    "\u0411\u0456\u043b\u0456\u043c",
	    "\u0493\u044b\u043b\u044b\u043c\u0438 "
	    "\u0442\u0430\u043b\u0434\u0430\u0443" },
	{ "oai:x:4",
	    "\u0401\u043b\u043a\u0430 \u0438 "
	    "\u0439\u043e\u0433\u0443\u0440\u0442",
	    "\u0418\u0432\u0430\u043d\u043e\u0432, "
	    "\u0419\u043e\u0441\u0438\u0444",
	    "school", "\u0415\u0449\u0451 \u043e\u0434\u043d\u0430." },
	{ "oai:x:5", "Cr\u00e8me br\u00fbl\u00e9e \u00e0 la fran\u00e7aise",
	    "\u0141ukasz \u017b\u00f3\u0142\u0107", "Cuisine",
	    "\u00c7a co\u00fbte 5." },
	{ "oai:x:6", "C++ and C# in practice", "Taylor-Jones, A.",
	    "Programming", "Back\\slash and 'quotes' and schools" },
};

static const struct {
	const char *q;
	int	    some; /* must find something */
} same_queries[] = {
	{ "COVID-19", 1 },
	{ "covid-19", 1 },
	{ "covid", 1 },
	{ "\"covid 19\"", 1 },
	{ "covid*", 1 },
	{ "cov*", 1 },
	{ "title:covid", 1 },
	{ "description:\"covid 19\"", 1 },
	{ "19", 1 },
	{ "M\u00fcller", 1 },
	{ "muller", 1 },
	{ "creator:jurgen", 1 },
	{ "Se\u00e1n", 1 },
	{ "sean", 1 },
	{ "O'Brien", 1 },
	{ "\"o brien\"", 1 },
	{ "\u0430\u043b\u043c\u0430\u0442\u044b", 1 },
	{ "\u0410\u041b\u041c\u0410\u0422\u042b", 1 },
	{ "\u049b\u0430\u0437\u0430\u049b\u0441\u0442\u0430\u043d\u0434\u0430"
	  "\u0493\u044b",
	    1 },
	{ "\u0431\u0456\u043b\u0456\u043c", 1 },
	{ "\u0493\u044b\u043b\u044b\u043c*", 1 },
	{ "\u0451\u043b\u043a\u0430", 1 },
	{ "\u0435\u043b\u043a\u0430", 0 },
	{ "\u0439\u043e\u0433\u0443\u0440\u0442", 1 },
	{ "\u0438\u043e\u0433\u0443\u0440\u0442", 0 },
	{ "cr\u00e8me", 1 },
	{ "creme", 1 },
	{ "brulee", 1 },
	{ "fran\u00e7aise", 1 },
	{ "francaise", 1 },
	/* Not folded by unicode61: the same on both. */
	{ "lukasz", 0 },
	{ "\u017c\u00f3\u0142\u0107", 1 },
	{ "zolc", 0 },
	{ "C++", 1 },
	{ "taylor-jones", 1 },
	{ "\"taylor jones\"", 1 },
	{ "backslash", 0 },
	{ "back", 1 },
	{ "quotes", 1 },
	{ "L\u00f3pez", 1 },
	{ "lopez", 1 },
	{ "Fran\u00e7ois", 1 },
	{ "P\u00e9rez", 1 },
	{ "HIV-1", 1 },
	{ "HSV-2", 1 },
	{ "\"herpes simplex\"", 1 },
	{ "\u0425\u0418\u0420\u0423\u0420\u0413\u0418\u0427\u0415\u0421\u041a"
	  "\u0410\u042f",
	    1 },
	{ "\u043e\u0441\u0442\u0435\u043e\u043d\u0435\u043a\u0440\u043e\u0437",
	    1 },
	{ "\u043b\u0435\u0447\u0435\u043d\u0438*", 1 },
	{ "school AND NOT covid", 1 },
	{ "schools NOT covid", 1 },
	{ "title:covid*", 1 },
	{ "creator:\"o brien\"", 1 },
	{ "covid OR m\u00fcller", 1 },
	{ "(schools OR cuisine) AND NOT covid", 1 },
	{ "NEAR(covid schools)", 1 },
	{ "description:pandemic", 1 },
	{ "title:\"br\u00fbl\u00e9e \u00e0\"", 1 },
	{ "schools notes", 1 },
	{ "\"schools notes\"", 0 },
	{ "\"notes public\"", 0 },
	{ "the", 1 },
	{ "malaria", 1 },
	{ "\u2014 covid", 1 },
};

/* A search's results, "source identifier" sorted, a line each. */
static int
same_row(void *arg, const struct store_search_row *r)
{
	struct buf *b = arg;

	buf_add(b, r->source, r->source_len);
	buf_addch(b, ' ');
	buf_add(b, r->identifier, r->identifier_len);
	buf_addch(b, '\n');
	return 0;
}

static int
line_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *
same_search(struct store *s, const char *q)
{
	struct buf b, o;
	char	  *cause = NULL, **v, *p, *e;
	size_t	   n = 0, i;

	buf_init(&b, 64UL * 1024 * 1024);
	if (store_search(s, q, NULL, 100000, same_row, &b, &cause) != 0)
		fail_msg("search %s: %s", q, cause);
	v = xcalloc(b.len + 1, sizeof(*v));
	for (p = b.data; p != NULL && *p != '\0'; p = e + 1) {
		e = strchr(p, '\n');
		*e = '\0';
		v[n++] = p;
	}
	qsort(v, n, sizeof(*v), line_cmp);
	buf_init(&o, 64UL * 1024 * 1024);
	for (i = 0; i < n; i++) {
		buf_addstr(&o, v[i]);
		buf_addch(&o, '\n');
	}
	free(v);
	buf_free(&b);
	return o.data != NULL ? o.data : xstrdup("");
}

static void
test_search_same(void **state)
{
	struct server	    rs;
	struct store	   *sq, *pg;
	struct store_record r;
	struct store_dc	    dc[4];
	struct buf	    bad;
	char		   *uri, *db, *a, *b, *args, *cause = NULL;
	int64_t		    src, run;
	size_t		    i;
	int		    k, found = 0;

	uri = pg_database();
	db = path("same.db");
	xasprintf(&args, "--replay tests/fixtures/real/replay.tsv");
	start_server(&rs, "same.port", args);
	free(args);
	for (i = 0; i < nitems(same_scenarios); i++) {
		free(cli("harvest --db %s --url http://127.0.0.1:%d/replay/%s"
			 " --source %s",
		    uri, rs.port, same_scenarios[i], same_scenarios[i]));
		free(cli("harvest --db %s --url http://127.0.0.1:%d/replay/%s"
			 " --source %s",
		    db, rs.port, same_scenarios[i], same_scenarios[i]));
	}
	stop_server(&rs);
	sq = open_store(db, 0);
	pg = open_store(uri, 0);
	for (k = 0; k < 2; k++) {
		struct store *s = k == 0 ? sq : pg;

		src = store_source(
		    s, "here", "https://here.example/oai", 0, &cause);
		run = store_run_begin(s, src, &cause);
		assert_true(run > 0);
		for (i = 0; i < nitems(same_records); i++) {
			r = mkrec(same_records[i].id, "2024-01-01T00:00:00Z", 0,
			    NULL);
			dc[0] = (struct store_dc){ "title",
				same_records[i].title, NULL };
			dc[1] = (struct store_dc){ "creator",
				same_records[i].creator, NULL };
			dc[2] = (struct store_dc){ "subject",
				same_records[i].subject, NULL };
			dc[3] = (struct store_dc){ "description",
				same_records[i].description, NULL };
			r.dc = dc;
			r.ndc = 4;
			assert_int_equal(put(s, src, run, &r), STORE_NEW);
		}
	}
	buf_init(&bad, 1024 * 1024);
	for (i = 0; i < nitems(same_queries); i++) {
		a = same_search(sq, same_queries[i].q);
		b = same_search(pg, same_queries[i].q);
		if (strcmp(a, b) != 0) {
			xasprintf(&args,
			    "search %s:\nSQLite:\n%sPostgreSQL:\n%s",
			    same_queries[i].q, a, b);
			buf_addstr(&bad, args);
			free(args);
		}
		if (same_queries[i].some && *a == '\0') {
			buf_addstr(&bad, "nothing found: ");
			buf_addstr(&bad, same_queries[i].q);
			buf_addch(&bad, '\n');
		}
		found += *a != '\0';
		free(a);
		free(b);
	}
	if (bad.len > 0)
		fail_msg("%s", bad.data);
	buf_free(&bad);
	assert_true(found > 0);
	store_close(sq);
	store_close(pg);
	free(db);
	free(uri);
}

/*
 * SIGKILL mid-harvest, again and again: the harvest resumes from its last
 * committed page, and at the end nothing is lost or doubled.
 */
#define KILL_RECORDS 3000
#define MIN_KILLS    6

static int
pg_harvest_complete(const char *uri)
{
	char *v;
	int   done;

	v = pg_value(uri,
	    "SELECT count(*) FROM pg_tables WHERE tablename = 'list_state'");
	done = strcmp(v, "1") == 0;
	free(v);
	if (!done)
		return 0;
	v = pg_value(uri,
	    "SELECT count(*) FROM list_state"
	    " WHERE watermark IS NOT NULL AND token IS NULL");
	done = strcmp(v, "1") == 0;
	free(v);
	return done;
}

/* The database has its tables and more than n records. */
static int
has_more(const char *uri, long long n)
{
	return pg_int(uri,
		   "SELECT count(*) FROM pg_tables WHERE"
		   " tablename = 'record'") == 1 &&
	    pg_int(uri, "SELECT count(*) FROM record") > n;
}

static void
test_kill_resume(void **state)
{
	struct server slow;
	unsigned int  seed = 20261207;
	char	     *uri, *cmd, *a, *dump;
	pid_t	      pid;
	long long     n0;
	int	      kills = 0, tries = 0, i;

	/* 100 ms a page: 30 pages take 3 s however fast the harvester is. */
	start_server(&slow, "slow.port",
	    "--records 3000 --page-size 100 --deleted-every 0 "
	    "--delay-ms 100 --seed 3");
	uri = pg_database();
	while (kills < MIN_KILLS && tries < 100) {
		tries++;
		if (pg_harvest_complete(uri))
			break;
		n0 = pg_int(uri,
			 "SELECT count(*) FROM pg_tables WHERE"
			 " tablename = 'record'") == 1 ?
		    pg_int(uri, "SELECT count(*) FROM record") :
		    0;
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			xasprintf(&cmd,
			    "exec %s/oaiharvest harvest --db %s "
			    "--url http://127.0.0.1:%d/oai --source crash "
			    "2>/dev/null",
			    bindir, uri, slow.port);
			execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
			_exit(127);
		}
		/*
		 * Until it has committed a page more (bounded), then
		 * somewhere in the pages after.
		 */
		for (i = 0; i < 500 && waitpid(pid, NULL, WNOHANG) != pid &&
		     !has_more(uri, n0);
		     i++)
			usleep(20 * 1000);
		usleep((useconds_t)(rand_r(&seed) % 300) * 1000);
		if (waitpid(pid, NULL, WNOHANG) == pid)
			continue;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		if (!pg_harvest_complete(uri))
			kills++;
	}
	if (kills < MIN_KILLS)
		fail_msg("only %d kills before the harvest completed", kills);
	/* Some pages were committed before the last kill. */
	assert_true(pg_int(uri, "SELECT count(*) FROM record") > 0);
	a = cli("harvest --db %s --url http://127.0.0.1:%d/oai --source crash",
	    uri, slow.port);
	free(a);
	assert_true(pg_harvest_complete(uri));
	a = cli("export --db %s", uri);
	dump = http(&slow, 0, "/control/dump");
	compare_export_dump(a, dump, "crash");
	free(a);
	free(dump);
	assert_pg(uri,
	    "SELECT count(*), count(DISTINCT identifier), min(seq), max(seq),"
	    " (SELECT last FROM change_seq) FROM change WHERE kind = 'new'",
	    "3000|3000|1|3000|3000\n");
	assert_pg(uri, "SELECT count(*) FROM record", "3000\n");
	assert_fts_fresh(uri);
	assert_true(
	    pg_int(uri, "SELECT count(*) FROM run WHERE status = 'ok'") >= 1);
	print_message("pg: %d SIGKILLs in %d starts\n", kills, tries);
	stop_server(&slow);
	free(uri);
}

/* database = postgresql://... in a config selects PostgreSQL too. */
static void
test_config(void **state)
{
	char *uri, *conf, *cf, *err, *out;
	int   rc;

	uri = pg_database();
	xasprintf(&conf,
	    "[global]\ndatabase = %s\ndelay = 0s\n\n"
	    "[source one]\nurl = http://127.0.0.1:%d/oai\nset = col_2\n",
	    uri, srv.port);
	save("pg.conf", conf);
	cf = path("pg.conf");
	rc = run("cf.out", "cf.err", "%s/oaiharvest harvest --config %s",
	    bindir, cf);
	err = read_tmp("cf.err");
	if (rc != 0)
		fail_msg("harvest failed: %s", err);
	assert_non_null(strstr(err, "source=\"one\" status=ok"));
	free(err);
	assert_true(pg_int(uri,
			"SELECT count(*) FROM record r JOIN source s"
			" ON s.id = r.source_id WHERE s.name = 'one'") > 0);
	assert_pg(uri,
	    "SELECT count(*) FROM record r WHERE NOT EXISTS (SELECT 1 FROM"
	    " record_set t WHERE t.record_id = r.id AND t.setspec = 'col_2')",
	    "0\n");
	out = cli("sources --config %s", cf);
	assert_non_null(strstr(out, "one"));
	free(out);
	free(cf);
	free(conf);
	free(uri);
}

/* A password in the URI reaches no message, log line or table. */
static void
test_password_hidden(void **state)
{
	char *uri, *bad, *with, *out, *err, *v;
	int   rc, port;

	uri = pg_database();
	assert_int_equal(
	    sscanf(uri, "postgresql://oaiharvest@127.0.0.1:%d/", &port), 1);
	/* trust authentication: the password is sent, and ignored. */
	xasprintf(
	    &with, "postgresql://oaiharvest:s3cretpw@%s", strchr(uri, '@') + 1);
	rc = run("pw.out", "pw.err",
	    "%s/oaiharvest harvest --db '%s' --url "
	    "http://127.0.0.1:%d/oai --source pw -v",
	    bindir, with, srv.port);
	out = read_tmp("pw.out");
	err = read_tmp("pw.err");
	assert_int_equal(rc, 0);
	assert_null(strstr(out, "s3cretpw"));
	assert_null(strstr(err, "s3cretpw"));
	free(out);
	free(err);
	v = pg_value(uri,
	    "SELECT count(*) FROM (SELECT * FROM source"
	    " WHERE url LIKE '%s3cret%' OR name LIKE '%s3cret%'"
	    " UNION ALL SELECT s.* FROM source s, run r"
	    " WHERE r.error LIKE '%s3cret%') x");
	assert_string_equal(v, "0");
	free(v);
	/* A database that is not there: the error names it, not the password. */
	xasprintf(&bad,
	    "postgresql://oaiharvest:s3cretpw@127.0.0.1:%d/nosuchdb", port);
	rc = run("pw2.out", "pw2.err", "%s/oaiharvest status --db '%s'", bindir,
	    bad);
	err = read_tmp("pw2.err");
	assert_int_not_equal(rc, 0);
	assert_non_null(strstr(err, "nosuchdb"));
	assert_null(strstr(err, "s3cretpw"));
	free(err);
	free(bad);
	xasprintf(&bad,
	    "postgres://oaiharvest@127.0.0.1:%d/nosuchdb?password=s3cretpw",
	    port);
	rc = run("pw2.out", "pw2.err", "%s/oaiharvest status --db '%s'", bindir,
	    bad);
	err = read_tmp("pw2.err");
	assert_int_not_equal(rc, 0);
	assert_non_null(strstr(err, "nosuchdb"));
	assert_null(strstr(err, "s3cretpw"));
	free(err);
	rc = run("pw3.out", "pw3.err", "%s/oaiharvest status --db '%s'", bindir,
	    with);
	out = read_tmp("pw3.out");
	assert_int_equal(rc, 0);
	assert_null(strstr(out, "s3cretpw"));
	free(out);
	free(bad);
	free(with);
	free(uri);
}

/* The GIN index finds what a scan of every row finds. */
static void
assert_gin_agrees(const char *uri)
{
	static const char *const words[] = { "the", "school", "migration",
		"water", "health" };
	char			 sql[256];
	long long		 idx, rows, all = 0;
	size_t			 i;

	for (i = 0; i < nitems(words); i++) {
		snprintf(sql, sizeof(sql),
		    "SET enable_seqscan = off; SELECT count(*) FROM record_fts"
		    " WHERE fts @@ '%s'::tsquery",
		    words[i]);
		idx = pg_int(uri, sql);
		snprintf(sql, sizeof(sql),
		    "SET enable_bitmapscan = off; SET enable_indexscan = off;"
		    " SELECT count(*) FROM record_fts"
		    " WHERE fts @@ '%s'::tsquery",
		    words[i]);
		rows = pg_int(uri, sql);
		if (idx != rows)
			fail_msg("%s: the index finds %lld, the rows %lld",
			    words[i], idx, rows);
		all += rows;
	}
	assert_true(all > 0);
}

/*
 * The search index's pending list is merged on the page writer's second
 * connection (pg_gin.c), and is empty once a harvest has ended; the index
 * finds what the rows hold.  A role that does not own the index may not
 * merge it: the harvest goes on, the cleaner given up (logged once), and
 * the writer's backend merges as before.
 */
static void
test_gin_cleaner(void **state)
{
	char *uri, *other, *a, *err, *at;

	uri = pg_database();
	a = cli("harvest --db %s --url http://127.0.0.1:%d/oai --source t1",
	    uri, srv.port);
	free(a);
	err = read_tmp("cli.err");
	assert_int_equal(count_str(err, "search_index_cleaner_off"), 0);
	free(err);
	tdb_exec(uri, "CREATE EXTENSION IF NOT EXISTS pgstattuple");
	assert_pg(uri,
	    "SELECT pending_pages, pending_tuples"
	    " FROM pgstatginindex('record_fts_gin')",
	    "0|0\n");
	assert_fts_fresh(uri);
	assert_gin_agrees(uri);

	tdb_exec(uri,
	    "DO $$ BEGIN CREATE ROLE oh_gin_other LOGIN;"
	    " EXCEPTION WHEN duplicate_object THEN NULL; END $$;"
	    "GRANT ALL ON SCHEMA public TO oh_gin_other;"
	    "GRANT ALL ON ALL TABLES IN SCHEMA public TO oh_gin_other;"
	    "GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO oh_gin_other");
	at = strstr(uri, "oaiharvest@");
	assert_non_null(at);
	xasprintf(
	    &other, "postgresql://oh_gin_other@%s", at + strlen("oaiharvest@"));
	a = cli("harvest --db %s --url http://127.0.0.1:%d/oai --source t2",
	    other, srv.port);
	free(a);
	err = read_tmp("cli.err");
	assert_int_equal(count_str(err, "event=search_index_cleaner_off"), 1);
	assert_non_null(strstr(err, "must be owner"));
	assert_non_null(strstr(err, "status=ok"));
	free(err);
	assert_pg(uri,
	    "SELECT s.name, count(*) FROM record r"
	    " JOIN source s ON s.id = r.source_id GROUP BY s.name"
	    " ORDER BY s.name",
	    "t1|2000\nt2|2000\n");
	assert_fts_fresh(uri);
	assert_gin_agrees(uri);
	free(other);
	free(uri);
}

static int
group_setup(void **state)
{
	if (testlib_setup() == -1)
		return -1;
	pg_start();
	start_server(
	    &srv, "pg.port", "--records 2000 --page-size 100 --seed 5");
	return 0;
}

static int
group_teardown(void **state)
{
	stop_server(&srv);
	pg_stop();
	testlib_teardown();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cluster),
		cmocka_unit_test(test_open_schema),
		cmocka_unit_test(test_sources_runs),
		cmocka_unit_test(test_put_transitions),
		cmocka_unit_test(test_put_prefetch),
		cmocka_unit_test(test_put_bulk),
		cmocka_unit_test(test_lists_sweeps),
		cmocka_unit_test(test_pipeline_long),
		cmocka_unit_test(test_seq_concurrent),
		cmocka_unit_test(test_admin),
		cmocka_unit_test(test_harvest),
		cmocka_unit_test(test_tsv_literal),
		cmocka_unit_test(test_tsv_binary),
		cmocka_unit_test(test_migrate_tsv),
		cmocka_unit_test(test_search_same),
		cmocka_unit_test(test_gin_cleaner),
		cmocka_unit_test(test_kill_resume),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_password_hidden),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
