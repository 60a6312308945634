/*
 * store/ against real SQLite files in a fresh mkdtemp() directory per test:
 * migrations, every store_put transition with its change rows, transactions,
 * list state, runs and the three outputs.  The outputs are parsed back with
 * SQLite's own JSON functions.  The cases of the table at the end marked
 * BOTH run once per backend: on a SQLite file and on a fresh database of
 * a private PostgreSQL cluster (tests/testlib.c's pg_start()).
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "util.h"
#include "log.h"
#include "store.h"
#include "c14n.h"
#include "encode.h"
#include "schema.h"
#include "tokenize.h"

struct fx {
	char	      dir[64];
	char	     *path;
	struct store *s;
	int64_t	      src;
	int64_t	      run;
};

static const char *const     sets_ab[] = { "a", "b" };
static const struct store_dc dc_basic[] = {
	{ "title", "A title", "en" },
	{ "creator", "Doe, J.", NULL },
	{ "subject", "Physics", NULL },
};

#define META1 "<oai_dc:dc><dc:title>A title</dc:title></oai_dc:dc>"
#define META2 "<oai_dc:dc><dc:title>Another title</dc:title></oai_dc:dc>"

/* Calls that must succeed pass CAUSE, which is only set on failure. */
static char *cause_;
#define CAUSE (&cause_)
#define CHECK(x) \
	do { \
		if ((x) != 0) \
			fail_msg("%s: %s", #x, cause_ != NULL ? cause_ : "?"); \
	} while (0)

/* Fixture */

static int
setup(void **state)
{
	struct fx *f;
	char	  *cause = NULL;

	f = xcalloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_store.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		fail_msg("mkdtemp: %s", strerror(errno));
	xasprintf(&f->path, "%s/harvest.db", f->dir);
	if ((f->s = store_open(f->path, 0, &cause)) == NULL)
		fail_msg("store_open: %s", cause);
	f->src =
	    store_source(f->s, "nur", "https://nur.example/oai", 0, &cause);
	assert_true(f->src > 0);
	*state = f;
	return 0;
}

/* tests/testlib.c */
const char *pg_start(void);
char	   *pg_database(void);
void	    pg_stop(void);

static int
is_pg(const char *path)
{
	return strncmp(path, "postgresql://", 13) == 0;
}

/* The same fixture on a fresh PostgreSQL database. */
static int
setup_pg(void **state)
{
	struct fx *f;
	char	  *cause = NULL;

	f = xcalloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_store.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		fail_msg("mkdtemp: %s", strerror(errno));
	f->path = pg_database();
	if ((f->s = store_open(f->path, 0, &cause)) == NULL)
		fail_msg("store_open: %s", cause);
	f->src =
	    store_source(f->s, "nur", "https://nur.example/oai", 0, &cause);
	assert_true(f->src > 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx     *f = *state;
	struct dirent *de;
	DIR	      *d;
	char	      *p;

	store_close(f->s);
	if ((d = opendir(f->dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			xasprintf(&p, "%s/%s", f->dir, de->d_name);
			unlink(p);
			free(p);
		}
		closedir(d);
	}
	rmdir(f->dir);
	free(f->path);
	free(f);
	return 0;
}

/* Helpers */

static void assert_fts_sound(struct fx *);

/*
 * The same on PostgreSQL, booleans as SQLite writes them (1 and 0).
 */
static char *
sql_pg(const char *uri, const char *q)
{
	PGconn	   *c;
	PGresult   *r;
	struct buf  b;
	const char *t;
	char	   *out;
	int	    i, j;

	c = PQconnectdb(uri);
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("connect: %s", PQerrorMessage(c));
	r = PQexec(c, q);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", q, PQerrorMessage(c));
	buf_init(&b, 1 << 24);
	for (i = 0; i < PQntuples(r); i++) {
		for (j = 0; j < PQnfields(r); j++) {
			if (j > 0)
				buf_addch(&b, '|');
			t = PQgetisnull(r, i, j) ? "NULL" : PQgetvalue(r, i, j);
			/* 16: BOOLOID */
			if (PQftype(r, j) == 16 && !PQgetisnull(r, i, j))
				t = strcmp(t, "t") == 0 ? "1" : "0";
			buf_addstr(&b, t);
		}
		buf_addch(&b, '\n');
	}
	PQclear(r);
	PQfinish(c);
	out = xstrdup(buf_str(&b));
	buf_free(&b);
	return out;
}

/* Rows of a query on a separate connection: "a|b\n" per row, NULL as NULL. */
static char *
sql(const char *path, const char *q)
{
	sqlite3	     *db;
	sqlite3_stmt *st;
	struct buf    b;
	const char   *t;
	char	     *out;
	int	      i, n, rc;

	if (is_pg(path))
		return sql_pg(path, q);
	assert_int_equal(
	    sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	if (sqlite3_prepare_v2(db, q, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", q, sqlite3_errmsg(db));
	buf_init(&b, 1 << 24);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		n = sqlite3_column_count(st);
		for (i = 0; i < n; i++) {
			if (i > 0)
				buf_addch(&b, '|');
			t = (const char *)sqlite3_column_text(st, i);
			buf_addstr(&b, t != NULL ? t : "NULL");
		}
		buf_addch(&b, '\n');
	}
	assert_int_equal(rc, SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(db);
	out = xstrdup(buf_str(&b));
	buf_free(&b);
	return out;
}

#define assert_sql(f, q, want) \
	do { \
		char *got_ = sql((f)->path, (q)); \
		assert_string_equal(got_, (want)); \
		free(got_); \
	} while (0)

/* Run SQL that writes, on a separate connection (the store closed). */
static void
sql_exec(const char *path, const char *q)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, q, NULL, NULL, NULL) != SQLITE_OK)
		fail_msg("%s: %s", q, sqlite3_errmsg(db));
	sqlite3_close(db);
}

/* Evaluate a JSON expression over one line with SQLite's JSON1. */
static char *
json_eval(const char *line, const char *expr)
{
	sqlite3	     *db;
	sqlite3_stmt *st;
	const char   *t;
	char	     *q, *out;

	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	xasprintf(&q, "SELECT %s FROM (SELECT ?1 AS j)", expr);
	if (sqlite3_prepare_v2(db, q, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", q, sqlite3_errmsg(db));
	sqlite3_bind_text(st, 1, line, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	t = (const char *)sqlite3_column_text(st, 0);
	out = xstrdup(t != NULL ? t : "NULL");
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(q);
	return out;
}

#define assert_json(line, expr, want) \
	do { \
		char *got_ = json_eval((line), (expr)); \
		assert_string_equal(got_, (want)); \
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

/* One record in its own page transaction; the change it made. */
static enum store_change
put(struct fx *f, const struct store_record *r)
{
	enum store_change c = STORE_UNCHANGED;
	char		 *cause = NULL;

	if (store_begin(f->s, &cause) != 0)
		fail_msg("begin: %s", cause);
	if (store_put(f->s, f->src, f->run, r, &c, &cause) != 0)
		fail_msg("put: %s", cause);
	if (store_commit(f->s, &cause) != 0)
		fail_msg("commit: %s", cause);
	return c;
}

/* Output goes to a temporary file and comes back as a string. */
static FILE *
out_open(void)
{
	FILE *fp;

	if ((fp = tmpfile()) == NULL)
		fail_msg("tmpfile: %s", strerror(errno));
	return fp;
}

static char *
out_take(FILE *fp)
{
	struct buf b;
	char	   chunk[4096], *out;
	size_t	   n;

	rewind(fp);
	buf_init(&b, 1 << 26);
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		assert_int_equal(buf_add(&b, chunk, n), 0);
	assert_false(ferror(fp));
	fclose(fp);
	out = xstrdup(buf_str(&b));
	buf_free(&b);
	return out;
}

static char *
capture_export(struct fx *f, const char *source, const char *prefix)
{
	FILE *fp = out_open();

	CHECK(feed_export(f->s, source, prefix, fp, CAUSE));
	return out_take(fp);
}

static char *
capture_changes(struct fx *f, int64_t since, int64_t limit)
{
	FILE *fp = out_open();

	CHECK(feed_changes(f->s, since, limit, fp, NULL, CAUSE));
	return out_take(fp);
}

static char *
capture_status(struct store *s)
{
	FILE *fp = out_open();

	CHECK(feed_status(s, fp, CAUSE));
	return out_take(fp);
}

static int
count_lines(const char *s)
{
	int n = 0;

	for (; *s != '\0'; s++)
		if (*s == '\n')
			n++;
	return n;
}

/* The n-th line (0-based) without its newline, allocated. */
static char *
nth_line(const char *s, int n)
{
	const char *e;

	while (n-- > 0) {
		assert_non_null(s = strchr(s, '\n'));
		s++;
	}
	assert_non_null(e = strchr(s, '\n'));
	return xstrndup(s, e - s);
}

static void
reopen(struct fx *f, int flags)
{
	char *cause = NULL;

	store_close(f->s);
	f->s = NULL;
	if ((f->s = store_open(f->path, flags, &cause)) == NULL)
		fail_msg("reopen: %s", cause);
}

/* Migrations and opening */

static void
test_migrate_fresh(void **state)
{
	struct fx *f = *state;
	char	  *want;
	int	   v;

	v = store_schema_version(f->s);
	assert_true(v >= 1);
	xasprintf(&want, "%d\n", v);
	assert_sql(f, "PRAGMA user_version", want);
	assert_sql(f, "PRAGMA journal_mode", "wal\n");
	/* Every table of ours is STRICT. */
	assert_sql(f,
	    "SELECT name FROM pragma_table_list WHERE schema = 'main'"
	    " AND type = 'table' AND name NOT LIKE 'sqlite_%' AND strict = 0",
	    "");
	assert_sql(f,
	    "SELECT count(*) FROM pragma_table_list WHERE"
	    " schema = 'main' AND name IN ('source', 'record', 'metadata',"
	    " 'record_set', 'dc', 'change', 'run', 'list_state')",
	    "8\n");

	/* Reopening runs nothing again (CREATE would fail), keeps data. */
	reopen(f, 0);
	assert_int_equal(store_schema_version(f->s), v);
	assert_sql(f, "PRAGMA user_version", want);
	assert_int_equal(
	    store_source(f->s, "nur", "https://nur.example/oai", 0, NULL),
	    f->src);
	assert_sql(f, "SELECT count(*) FROM source", "1\n");
	free(want);
}

static void
test_migrate_too_new(void **state)
{
	struct fx *f = *state;
	char	  *q, *cause = NULL;
	int	   v;

	v = store_schema_version(f->s);
	store_close(f->s);
	f->s = NULL;
	xasprintf(&q, "PRAGMA user_version = %d", v + 1);
	sql_exec(f->path, q);
	free(q);
	assert_null(store_open(f->path, 0, &cause));
	assert_non_null(cause);
	assert_non_null(strstr(cause, "newer"));
	free(cause);
	cause = NULL;
	assert_null(store_open(f->path, STORE_RDONLY, &cause));
	assert_non_null(strstr(cause, "newer"));
	free(cause);
	/* The refused file was not touched. */
	xasprintf(&q, "%d\n", v + 1);
	assert_sql(f, "PRAGMA user_version", q);
	free(q);
}

static void
test_not_a_database(void **state)
{
	struct fx *f = *state;
	char	  *p, *cause = NULL;
	FILE	  *fp;
	int	   i;

	xasprintf(&p, "%s/junk.db", f->dir);
	assert_non_null(fp = fopen(p, "w"));
	for (i = 0; i < 200; i++)
		fputs("this is not an SQLite database, just text\n", fp);
	fclose(fp);
	assert_null(store_open(p, 0, &cause));
	assert_non_null(cause);
	assert_non_null(strstr(cause, "not a database"));
	assert_non_null(strstr(cause, "junk.db"));
	free(cause);
	cause = NULL;
	assert_null(store_open(p, STORE_RDONLY, &cause));
	assert_non_null(strstr(cause, "not a database"));
	free(cause);
	cause = NULL;
	free(p);

	/* Another program's SQLite database is left alone. */
	xasprintf(&p, "%s/other.db", f->dir);
	sql_exec(p, "CREATE TABLE t (x); INSERT INTO t VALUES (1)");
	assert_null(store_open(p, 0, &cause));
	assert_non_null(strstr(cause, "not an oaiharvest database"));
	free(cause);
	cause = sql(p,
	    "SELECT group_concat(name), (SELECT user_version"
	    " FROM pragma_user_version) FROM sqlite_master");
	assert_string_equal(cause, "t|0\n");
	free(cause);
	free(p);
}

static void
test_rdonly(void **state)
{
	struct fx	   *f = *state;
	struct store_record r = mkrec("oai:x:1", "2024-01-01", 0, META1);
	struct store	   *ro;
	char		   *p, *cause = NULL;
	FILE		   *fp;

	/* Missing file: no creation. */
	xasprintf(&p, "%s/missing.db", f->dir);
	assert_null(store_open(p, STORE_RDONLY, &cause));
	assert_non_null(cause);
	assert_non_null(strstr(cause, "missing.db"));
	free(cause);
	cause = NULL;
	assert_int_equal(access(p, F_OK), -1);
	free(p);

	/* An SQLite file that was never migrated is not ours to read. */
	xasprintf(&p, "%s/empty.db", f->dir);
	sql_exec(p, "CREATE TABLE t (x)");
	assert_null(store_open(p, STORE_RDONLY, &cause));
	assert_non_null(strstr(cause, "read-write"));
	free(cause);
	cause = NULL;
	free(p);

	/* A current database reads, and refuses to write. */
	put(f, &r);
	assert_non_null(ro = store_open(f->path, STORE_RDONLY, &cause));
	assert_int_equal(store_schema_version(ro), store_schema_version(f->s));
	assert_int_equal(
	    store_source(ro, "other", "https://o.example/", 0, &cause), -1);
	free(cause);
	cause = NULL;
	fp = out_open();
	CHECK(feed_export(ro, NULL, NULL, fp, CAUSE));
	p = out_take(fp);
	assert_int_equal(count_lines(p), 1);
	free(p);
	store_close(ro);

	/* Alone, after the writer closed (no -wal or -shm left). */
	reopen(f, STORE_RDONLY);
	p = capture_export(f, NULL, NULL);
	assert_int_equal(count_lines(p), 1);
	free(p);
	p = capture_status(f->s);
	assert_non_null(strstr(p, "oai_dc: 1 present, 0 deleted"));
	free(p);
	assert_int_equal(store_begin(f->s, &cause), 0);
	assert_int_equal(store_put(f->s, f->src, 0, &r, NULL, &cause), -1);
	assert_non_null(strstr(cause, "readonly"));
	free(cause);
	store_rollback(f->s);
}

/* store_put transitions */

/*
 * A sweep deletes a record that vanished whatever its stored datestamp:
 * one dated after our clock (a repository clock ahead of ours) too.  The
 * model-based test found it (seed 89): the deletion, dated by our clock,
 * was taken for an older copy and ignored.
 */
static void
test_sweep_future_datestamp(void **state)
{
	struct fx		*f = *state;
	struct store_record	 r;
	static const char *const ids[] = { "oai:s:1", "oai:s:2", "oai:s:3",
		"oai:s:4", "oai:s:5" };
	long long		 vanished = 0;
	char			*cause = NULL;
	size_t			 i;

	f->run = store_run_begin(f->s, f->src, &cause);
	assert_true(f->run > 0);
	for (i = 0; i < nitems(ids); i++) {
		r = mkrec(ids[i],
		    i == 4 ? "2099-01-01T00:00:00Z" : "2024-01-01T00:00:00Z", 0,
		    META1);
		assert_int_equal(put(f, &r), STORE_NEW);
	}
	CHECK(store_begin(f->s, CAUSE));
	for (i = 0; i < 3; i++)
		CHECK(store_sweep_mark(
		    f->s, f->src, "oai_dc", ids[i], f->run, CAUSE));
	CHECK(store_sweep_finish(
	    f->s, f->src, "oai_dc", f->run, NULL, &vanished, CAUSE));
	CHECK(store_commit(f->s, CAUSE));
	assert_int_equal(vanished, 2);
	assert_sql(f, "SELECT identifier, deleted FROM record ORDER BY id",
	    "oai:s:1|0\noai:s:2|0\noai:s:3|0\noai:s:4|1\noai:s:5|1\n");
	assert_sql(f,
	    "SELECT identifier, kind, reason FROM change WHERE "
	    "kind = 'deleted' ORDER BY seq",
	    "oai:s:4|deleted|vanished: no longer listed by ListIdentifiers\n"
	    "oai:s:5|deleted|vanished: no longer listed by ListIdentifiers\n");
}

static void
test_put_transitions(void **state)
{
	struct fx	   *f = *state;
	struct store_record r;
	char		   *cause = NULL;

	f->run = store_run_begin(f->s, f->src, &cause);
	assert_true(f->run > 0);

	/* Unknown and present: new. */
	r = mkrec("oai:nur:1", "2024-01-01T00:00:00Z", 0, META1);
	assert_int_equal(put(f, &r), STORE_NEW);
	assert_sql(f,
	    "SELECT deleted, datestamp, first_seen = last_seen"
	    " FROM record",
	    "0|2024-01-01T00:00:00Z|1\n");
	assert_sql(f, "SELECT xml FROM metadata", META1 "\n");
	assert_sql(f,
	    "SELECT position, element, value, lang FROM dc"
	    " ORDER BY position",
	    "0|title|A title|en\n1|creator|Doe, J.|NULL\n"
	    "2|subject|Physics|NULL\n");
	assert_sql(f, "SELECT position, setspec FROM record_set", "0|a\n1|b\n");

	/* The same again: nothing. */
	assert_int_equal(put(f, &r), STORE_UNCHANGED);

	/* Only the datestamp moved: not a change, but remembered. */
	r = mkrec("oai:nur:1", "2024-02-01T00:00:00Z", 0, META1);
	assert_int_equal(put(f, &r), STORE_UNCHANGED);
	assert_sql(f, "SELECT datestamp FROM record", "2024-02-01T00:00:00Z\n");

	/* An older copy, even with other content, is ignored. */
	r = mkrec("oai:nur:1", "2024-01-15T00:00:00Z", 0, META2);
	assert_int_equal(put(f, &r), STORE_UNCHANGED);
	assert_sql(f, "SELECT datestamp FROM record", "2024-02-01T00:00:00Z\n");
	assert_sql(f, "SELECT xml FROM metadata", META1 "\n");

	/* Other metadata: updated. */
	r = mkrec("oai:nur:1", "2024-03-01T00:00:00Z", 0, META2);
	assert_int_equal(put(f, &r), STORE_UPDATED);
	assert_sql(f, "SELECT xml FROM metadata", META2 "\n");

	/* Present, now deleted: metadata and DC go, sets stay. */
	r = mkrec("oai:nur:1", "2024-04-01T00:00:00Z", 1, NULL);
	assert_int_equal(put(f, &r), STORE_DELETED);
	assert_sql(f, "SELECT deleted, datestamp FROM record",
	    "1|2024-04-01T00:00:00Z\n");
	assert_sql(f, "SELECT count(*) FROM metadata", "0\n");
	assert_sql(f, "SELECT count(*) FROM dc", "0\n");
	assert_sql(
	    f, "SELECT setspec FROM record_set ORDER BY position", "a\nb\n");

	/* Deleted again: the datestamp only. */
	r = mkrec("oai:nur:1", "2024-05-01T00:00:00Z", 1, NULL);
	assert_int_equal(put(f, &r), STORE_UNCHANGED);
	assert_sql(f, "SELECT deleted, datestamp FROM record",
	    "1|2024-05-01T00:00:00Z\n");

	/* Back from the dead: new. */
	r = mkrec("oai:nur:1", "2024-06-01T00:00:00Z", 0, META1);
	assert_int_equal(put(f, &r), STORE_NEW);
	assert_sql(f, "SELECT xml FROM metadata", META1 "\n");
	assert_sql(f, "SELECT count(*) FROM dc", "3\n");

	/* A deleted header never seen: a tombstone, no change row. */
	r = mkrec("oai:nur:2", "2024-06-02T00:00:00Z", 1, NULL);
	assert_int_equal(put(f, &r), STORE_TOMBSTONE);
	assert_sql(f,
	    "SELECT deleted, datestamp FROM record"
	    " WHERE identifier = 'oai:nur:2'",
	    "1|2024-06-02T00:00:00Z\n");
	assert_sql(f,
	    "SELECT count(*) FROM metadata m JOIN record r"
	    " ON r.id = m.record_id WHERE r.identifier = 'oai:nur:2'",
	    "0\n");

	/* And when it comes back present: new. */
	r = mkrec("oai:nur:2", "2024-06-03T00:00:00Z", 0, META1);
	assert_int_equal(put(f, &r), STORE_NEW);

	assert_sql(f,
	    "SELECT seq, identifier, prefix, kind, datestamp,"
	    " run_id = (SELECT max(id) FROM run) FROM change ORDER BY seq",
	    "1|oai:nur:1|oai_dc|new|2024-01-01T00:00:00Z|1\n"
	    "2|oai:nur:1|oai_dc|updated|2024-03-01T00:00:00Z|1\n"
	    "3|oai:nur:1|oai_dc|deleted|2024-04-01T00:00:00Z|1\n"
	    "4|oai:nur:1|oai_dc|new|2024-06-01T00:00:00Z|1\n"
	    "5|oai:nur:2|oai_dc|new|2024-06-03T00:00:00Z|1\n");
	/* "at" is a UTC time of now. */
	assert_sql(f,
	    "SELECT count(*) FROM change WHERE at GLOB"
	    " '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T"
	    "[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z'"
	    " AND abs(unixepoch(at) - unixepoch('now')) < 600",
	    "5\n");
}

static void
test_put_stale_granularity(void **state)
{
	struct fx	   *f = *state;
	struct store_record r;

	r = mkrec("oai:nur:1", "2024-05-02T00:00:00Z", 0, META1);
	assert_int_equal(put(f, &r), STORE_NEW);
	/* A day is its midnight: older is stale, the same day is not. */
	r = mkrec("oai:nur:1", "2024-05-01", 0, META2);
	assert_int_equal(put(f, &r), STORE_UNCHANGED);
	assert_sql(f, "SELECT datestamp FROM record", "2024-05-02T00:00:00Z\n");
	r = mkrec("oai:nur:1", "2024-05-02", 0, META2);
	assert_int_equal(put(f, &r), STORE_UPDATED);
	assert_sql(f, "SELECT datestamp FROM record", "2024-05-02\n");
	r = mkrec("oai:nur:1", "2024-05-01T23:59:59Z", 0, META1);
	assert_int_equal(put(f, &r), STORE_UNCHANGED);
	assert_sql(f, "SELECT xml FROM metadata", META2 "\n");
	/* A datestamp that does not parse is stored as sent, never stale. */
	r = mkrec("oai:nur:1", "2024-05-03 12:00", 0, META1);
	assert_int_equal(put(f, &r), STORE_UPDATED);
	assert_sql(f, "SELECT datestamp FROM record", "2024-05-03 12:00\n");
	assert_sql(f, "SELECT kind, datestamp FROM change ORDER BY seq",
	    "new|2024-05-02T00:00:00Z\nupdated|2024-05-02\n"
	    "updated|2024-05-03 12:00\n");
}

static void
test_put_sets(void **state)
{
	struct fx		*f = *state;
	static const char *const ba[] = { "b", "a" };
	static const char *const abc[] = { "a", "b", "c" };
	struct store_record	 r;
	char			*plan;

	r = mkrec("oai:nur:1", "2024-01-01", 0, META1);
	assert_int_equal(put(f, &r), STORE_NEW);
	/* The same sets in another order are the same content. */
	r.sets = ba;
	assert_int_equal(put(f, &r), STORE_UNCHANGED);
	assert_sql(
	    f, "SELECT setspec FROM record_set ORDER BY position", "a\nb\n");
	/* Another set, same metadata: updated. */
	r.sets = abc;
	r.nsets = nitems(abc);
	assert_int_equal(put(f, &r), STORE_UPDATED);
	assert_sql(
	    f, "SELECT setspec FROM record_set ORDER BY position", "a\nb\nc\n");
	/* No set at all. */
	r.nsets = 0;
	assert_int_equal(put(f, &r), STORE_UPDATED);
	assert_sql(f, "SELECT count(*) FROM record_set", "0\n");
	assert_sql(f, "SELECT kind FROM change ORDER BY seq",
	    "new\nupdated\nupdated\n");
	assert_sql(f, "SELECT sets FROM record", "[]\n");
	/* Back to two sets, listed b, a: kept in that order. */
	r.sets = ba;
	r.nsets = nitems(ba);
	assert_int_equal(put(f, &r), STORE_UPDATED);
	assert_sql(f, "SELECT sets FROM record", "[\"b\",\"a\"]\n");
	assert_sql(f,
	    "SELECT position, setspec FROM record_set"
	    " ORDER BY position",
	    "0|b\n1|a\n");
	/* "Records in set X" uses the key of record_set. */
	plan = sql(f->path,
	    "EXPLAIN QUERY PLAN SELECT r.identifier FROM"
	    " record_set s JOIN record r ON r.id = s.record_id"
	    " WHERE s.setspec = 'a'");
	assert_non_null(strstr(plan, "SEARCH s USING PRIMARY KEY (setspec=?)"));
	free(plan);
	/* "Whose dc:E is V", as the README writes it, reads the view. */
	assert_sql(f,
	    "SELECT r.identifier FROM dc"
	    " JOIN record r ON r.id = dc.record_id"
	    " WHERE dc.element = 'subject' AND dc.value = 'Physics'",
	    "oai:nur:1\n");
	assert_sql(f,
	    "SELECT r.identifier FROM dc"
	    " JOIN record r ON r.id = dc.record_id"
	    " WHERE dc.element = 'creator' AND dc.value = 'Physics'",
	    "");
}

/*
 * The same metadata written another way (issue 13: the HTTP::OAI gateway
 * writes its namespace declarations in hash order) is the same content.
 * C14N_BASE as harvest/oai.c serializes it, then other serializations.
 */
#define C14N_BASE \
	"<oai_dc:dc xmlns:oai_dc=\"http://www.openarchives.org/OAI/2.0/" \
	"oai_dc/\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\" " \
	"xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" " \
	"xsi:schemaLocation=\"http://www.openarchives.org/OAI/2.0/oai_dc/ " \
	"http://www.openarchives.org/OAI/2.0/oai_dc.xsd\">\n" \
	"<dc:title xml:lang=\"en\" id=\"t1\">A title &amp; more</dc:title>\n" \
	"<dc:creator>Doe, J.</dc:creator>\n" \
	"<dc:subject/>\n" \
	"</oai_dc:dc>"

static const char *const c14n_same[] = {
	/* Namespace declarations in another order. */
	"<oai_dc:dc xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
	"xmlns:dc=\"http://purl.org/dc/elements/1.1/\" "
	"xmlns:oai_dc=\"http://www.openarchives.org/OAI/2.0/oai_dc/\" "
	"xsi:schemaLocation=\"http://www.openarchives.org/OAI/2.0/oai_dc/ "
	"http://www.openarchives.org/OAI/2.0/oai_dc.xsd\">\n"
	"<dc:title xml:lang=\"en\" id=\"t1\">A title &amp; more</dc:title>\n"
	"<dc:creator>Doe, J.</dc:creator>\n<dc:subject/>\n</oai_dc:dc>",
	/* Attributes in another order, declarations among them. */
	"<oai_dc:dc xsi:schemaLocation=\"http://www.openarchives.org/OAI/2.0/"
	"oai_dc/ http://www.openarchives.org/OAI/2.0/oai_dc.xsd\" "
	"xmlns:oai_dc=\"http://www.openarchives.org/OAI/2.0/oai_dc/\" "
	"xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
	"xmlns:dc=\"http://purl.org/dc/elements/1.1/\">\n"
	"<dc:title id=\"t1\" xml:lang=\"en\">A title &amp; more</dc:title>\n"
	"<dc:creator>Doe, J.</dc:creator>\n<dc:subject/>\n</oai_dc:dc>",
	/* Single quotes. */
	"<oai_dc:dc xmlns:oai_dc='http://www.openarchives.org/OAI/2.0/"
	"oai_dc/' xmlns:dc='http://purl.org/dc/elements/1.1/' "
	"xmlns:xsi='http://www.w3.org/2001/XMLSchema-instance' "
	"xsi:schemaLocation='http://www.openarchives.org/OAI/2.0/oai_dc/ "
	"http://www.openarchives.org/OAI/2.0/oai_dc.xsd'>\n"
	"<dc:title xml:lang='en' id='t1'>A title &amp; more</dc:title>\n"
	"<dc:creator>Doe, J.</dc:creator>\n<dc:subject/>\n</oai_dc:dc>",
	/* Blanks inside tags; <a></a> for <a/>. */
	"<oai_dc:dc\n  xmlns:oai_dc=\"http://www.openarchives.org/OAI/2.0/"
	"oai_dc/\"\n  xmlns:dc = \"http://purl.org/dc/elements/1.1/\"\t"
	"xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"\r\n  "
	"xsi:schemaLocation=\"http://www.openarchives.org/OAI/2.0/oai_dc/ "
	"http://www.openarchives.org/OAI/2.0/oai_dc.xsd\" >\n"
	"<dc:title  xml:lang=\"en\"  id=\"t1\" >A title &amp; more"
	"</dc:title >\n<dc:creator\n>Doe, J.</dc:creator\t>\n"
	"<dc:subject></dc:subject>\n</oai_dc:dc >",
	/* Comments, an XML declaration, blanks around the element. */
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- exported -->\n"
	"<oai_dc:dc xmlns:oai_dc=\"http://www.openarchives.org/OAI/2.0/"
	"oai_dc/\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\" "
	"xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
	"xsi:schemaLocation=\"http://www.openarchives.org/OAI/2.0/oai_dc/ "
	"http://www.openarchives.org/OAI/2.0/oai_dc.xsd\">\n"
	"<dc:title xml:lang=\"en\" id=\"t1\">A title<!-- x --> &amp; more"
	"</dc:title>\n<!-- the creator -->"
	"<dc:creator>Doe, J.</dc:creator>\n<dc:subject/>\n</oai_dc:dc>\n",
	/* References for the characters; CDATA; CR LF for LF. */
	"<oai_dc:dc xmlns:oai_dc=\"http://www.openarchives.org/OAI/2.0/"
	"oai_dc/\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\" "
	"xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
	"xsi:schemaLocation=\"http://www.openarchives.org/OAI/2.0/oai_dc/ "
	"http://www.openarchives.org/OAI/2.0/oai_dc.xsd\">\r\n"
	"<dc:title xml:lang=\"&#101;n\" id=\"t&#x31;\">&#x41; title &#38; "
	"more</dc:title>\n<dc:creator><![CDATA[Doe, J.]]></dc:creator>\n"
	"<dc:subject/>\n</oai_dc:dc>",
	/* A declaration repeated where it is in scope already. */
	"<oai_dc:dc xmlns:oai_dc=\"http://www.openarchives.org/OAI/2.0/"
	"oai_dc/\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\" "
	"xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
	"xsi:schemaLocation=\"http://www.openarchives.org/OAI/2.0/oai_dc/ "
	"http://www.openarchives.org/OAI/2.0/oai_dc.xsd\">\n"
	"<dc:title xml:lang=\"en\" id=\"t1\">A title &amp; more</dc:title>\n"
	"<dc:creator xmlns:dc=\"http://purl.org/dc/elements/1.1/\">Doe, J."
	"</dc:creator>\n<dc:subject/>\n</oai_dc:dc>",
};

static const char *const c14n_other[] = {
	/* A value. */
	"<oai_dc:dc xmlns:oai_dc=\"http://www.openarchives.org/OAI/2.0/"
	"oai_dc/\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\" "
	"xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
	"xsi:schemaLocation=\"http://www.openarchives.org/OAI/2.0/oai_dc/ "
	"http://www.openarchives.org/OAI/2.0/oai_dc.xsd\">\n"
	"<dc:title xml:lang=\"en\" id=\"t1\">A title &amp; less</dc:title>\n"
	"<dc:creator>Doe, J.</dc:creator>\n<dc:subject/>\n</oai_dc:dc>",
	/* An attribute's value. */
	"<oai_dc:dc xmlns:oai_dc=\"http://www.openarchives.org/OAI/2.0/"
	"oai_dc/\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\" "
	"xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
	"xsi:schemaLocation=\"http://www.openarchives.org/OAI/2.0/oai_dc/ "
	"http://www.openarchives.org/OAI/2.0/oai_dc.xsd\">\n"
	"<dc:title xml:lang=\"fr\" id=\"t1\">A title &amp; more</dc:title>\n"
	"<dc:creator>Doe, J.</dc:creator>\n<dc:subject/>\n</oai_dc:dc>",
	/* An element's name. */
	"<oai_dc:dc xmlns:oai_dc=\"http://www.openarchives.org/OAI/2.0/"
	"oai_dc/\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\" "
	"xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
	"xsi:schemaLocation=\"http://www.openarchives.org/OAI/2.0/oai_dc/ "
	"http://www.openarchives.org/OAI/2.0/oai_dc.xsd\">\n"
	"<dc:title xml:lang=\"en\" id=\"t1\">A title &amp; more</dc:title>\n"
	"<dc:contributor>Doe, J.</dc:contributor>\n<dc:subject/>\n"
	"</oai_dc:dc>",
	/* A namespace URI. */
	"<oai_dc:dc xmlns:oai_dc=\"http://www.openarchives.org/OAI/2.0/"
	"oai_dc/\" xmlns:dc=\"http://purl.org/dc/terms/\" "
	"xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
	"xsi:schemaLocation=\"http://www.openarchives.org/OAI/2.0/oai_dc/ "
	"http://www.openarchives.org/OAI/2.0/oai_dc.xsd\">\n"
	"<dc:title xml:lang=\"en\" id=\"t1\">A title &amp; more</dc:title>\n"
	"<dc:creator>Doe, J.</dc:creator>\n<dc:subject/>\n</oai_dc:dc>",
	/* Blanks in the text are text. */
	"<oai_dc:dc xmlns:oai_dc=\"http://www.openarchives.org/OAI/2.0/"
	"oai_dc/\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\" "
	"xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
	"xsi:schemaLocation=\"http://www.openarchives.org/OAI/2.0/oai_dc/ "
	"http://www.openarchives.org/OAI/2.0/oai_dc.xsd\">\n"
	"<dc:title xml:lang=\"en\" id=\"t1\">A title &amp;  more</dc:title>\n"
	"<dc:creator>Doe, J.</dc:creator>\n<dc:subject/>\n</oai_dc:dc>",
	/* A declaration moved to where it means something else. */
	"<oai_dc:dc xmlns:oai_dc=\"http://www.openarchives.org/OAI/2.0/"
	"oai_dc/\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\" "
	"xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
	"xsi:schemaLocation=\"http://www.openarchives.org/OAI/2.0/oai_dc/ "
	"http://www.openarchives.org/OAI/2.0/oai_dc.xsd\">\n"
	"<dc:title xml:lang=\"en\" id=\"t1\">A title &amp; more</dc:title>\n"
	"<dc:creator xmlns:dc=\"http://purl.org/dc/terms/\">Doe, J."
	"</dc:creator>\n<dc:subject/>\n</oai_dc:dc>",
};

static uint64_t
prepared_hash(struct store_prep *prep, const char *meta)
{
	struct store_record   r = mkrec("oai:nur:1", "2024-01-01", 0, meta);
	struct store_prepared p;

	CHECK(store_prepare(prep, &r, &p, CAUSE));
	return p.hash;
}

static void
test_hash_canonical(void **state)
{
	struct fx	   *f = *state;
	struct store_prep  *prep = store_prep_new();
	struct store_record r;
	uint64_t	    base, h[nitems(c14n_other)];
	size_t		    i, j;

	base = prepared_hash(prep, C14N_BASE);
	for (i = 0; i < nitems(c14n_same); i++)
		if (prepared_hash(prep, c14n_same[i]) != base)
			fail_msg("c14n_same[%zu] hashes otherwise", i);
	for (i = 0; i < nitems(c14n_other); i++) {
		h[i] = prepared_hash(prep, c14n_other[i]);
		if (h[i] == base)
			fail_msg("c14n_other[%zu] hashes the same", i);
		for (j = 0; j < i; j++)
			if (h[i] == h[j])
				fail_msg("c14n_other[%zu] and [%zu] hash the "
					 "same",
				    j, i);
	}
	store_prep_free(prep);

	/* In the store: no change row, and the XML stays as first sent. */
	r = mkrec("oai:nur:1", "2024-01-01", 0, C14N_BASE);
	assert_int_equal(put(f, &r), STORE_NEW);
	for (i = 0; i < nitems(c14n_same); i++) {
		r = mkrec("oai:nur:1", "2024-01-02", 0, c14n_same[i]);
		assert_int_equal(put(f, &r), STORE_UNCHANGED);
	}
	assert_sql(f, "SELECT xml FROM metadata", C14N_BASE "\n");
	r = mkrec("oai:nur:1", "2024-01-03", 0, c14n_other[0]);
	assert_int_equal(put(f, &r), STORE_UPDATED);
	assert_sql(f, "SELECT kind FROM change ORDER BY seq", "new\nupdated\n");
}

/*
 * The canonical form is hashed in pieces as it is found: the same hash as
 * XXH64 of it whole, wherever the pieces end (comments and references
 * moved around the 32-byte stripes); and XXH64 is XXH64.
 */
static void
test_hash_pieces(void **state)
{
	struct store_c14n *c = store_c14n_new();
	char		   in[256], want[256];
	size_t		   n, m, k, len, wlen;

	assert_true(store_xxh64("", 0, 0) == 0xef46db3751d8e999ULL);
	assert_true(store_xxh64("abc", 3, 0) == 0x44bc2cf5ad770999ULL);
	for (n = 0; n < 70; n++) {
		for (m = 0; m < 70; m += 3) {
			len = wlen = 0;
			len += (size_t)snprintf(
			    in + len, sizeof(in) - len, "<a b='1'>");
			wlen += (size_t)snprintf(
			    want + wlen, sizeof(want) - wlen, "<a b=\"1\">");
			for (k = 0; k < n; k++)
				in[len++] = want[wlen++] = 'x';
			len += (size_t)snprintf(
			    in + len, sizeof(in) - len, "<!---->&#x79;");
			want[wlen++] = 'y';
			for (k = 0; k < m; k++)
				in[len++] = want[wlen++] = 'z';
			len += (size_t)snprintf(
			    in + len, sizeof(in) - len, "</a>");
			wlen += (size_t)snprintf(
			    want + wlen, sizeof(want) - wlen, "</a>");
			if (store_c14n_hash(c, in, len, 7) !=
			    store_xxh64(want, wlen, 7))
				fail_msg("%zu, %zu: %.*s", n, m, (int)len, in);
		}
	}
	/* Not readable: the bytes as they are, under another seed. */
	assert_true(store_c14n_hash(c, "<a>&nbsp;</a>", 13, 7) !=
	    store_xxh64("<a>&nbsp;</a>", 13, 7));
	assert_true(store_c14n_hash(c, "<a>&nbsp;</a>", 13, 7) ==
	    store_c14n_hash(c, "<a>&nbsp;</a>", 13, 7));
	store_c14n_free(c);
}

/* Count the writes to the content tables with triggers of our own. */
static void
install_write_log(struct fx *f)
{
	sql_exec(f->path,
	    "CREATE TABLE write_log (what TEXT);"
	    "CREATE TRIGGER wl_set_i AFTER INSERT ON record_set BEGIN"
	    " INSERT INTO write_log VALUES ('set'); END;"
	    "CREATE TRIGGER wl_set_d AFTER DELETE ON record_set BEGIN"
	    " INSERT INTO write_log VALUES ('set'); END;"
	    "CREATE TRIGGER wl_content_i AFTER INSERT ON content BEGIN"
	    " INSERT INTO write_log VALUES ('content'); END;"
	    "CREATE TRIGGER wl_content_u AFTER UPDATE ON content BEGIN"
	    " INSERT INTO write_log VALUES ('content'); END;"
	    "CREATE TRIGGER wl_content_d AFTER DELETE ON content BEGIN"
	    " INSERT INTO write_log VALUES ('content'); END;"
	    "CREATE TRIGGER wl_template_i AFTER INSERT ON xml_template BEGIN"
	    " INSERT INTO write_log VALUES ('template'); END;");
}

static void
test_put_unchanged_keeps_rows(void **state)
{
	struct fx	   *f = *state;
	struct store_record r;
	static const char   q[] = "SELECT what, count(*) FROM write_log"
				  " GROUP BY what ORDER BY what";

	r = mkrec("oai:nur:1", "2024-01-01", 0, META1);
	assert_int_equal(put(f, &r), STORE_NEW);
	/* The store notices the schema change and prepares again. */
	install_write_log(f);
	r.datestamp = "2024-01-02";
	assert_int_equal(put(f, &r), STORE_UNCHANGED);
	r.datestamp = "2024-01-01";
	assert_int_equal(put(f, &r), STORE_UNCHANGED);
	assert_int_equal(put(f, &r), STORE_UNCHANGED);
	/* Nothing but the record row was written. */
	assert_sql(f, q, "");
	assert_sql(f, "SELECT datestamp FROM record", "2024-01-02\n");
	/* An update rewrites: 2 sets out and in, the content row. */
	r.datestamp = "2024-01-03";
	r.metadata = META2;
	r.metadata_len = strlen(META2);
	assert_int_equal(put(f, &r), STORE_UPDATED);
	assert_sql(f, q, "content|1\nset|4\n");
	assert_sql(f, "SELECT count(*) FROM dc", "3\n");
}

static void
test_put_errors(void **state)
{
	struct fx	   *f = *state;
	struct store_record r = mkrec("oai:nur:1", "2024-01-01", 0, META1);
	static const struct store_dc bad[] = { { "titel?", "x", NULL } };
	enum store_change	     c;
	char			    *cause = NULL;

	/* Outside a transaction. */
	assert_int_equal(store_put(f->s, f->src, 0, &r, &c, &cause), -1);
	assert_non_null(strstr(cause, "not inside a transaction"));
	free(cause);
	cause = NULL;
	assert_sql(f, "SELECT count(*) FROM record", "0\n");

	CHECK(store_begin(f->s, CAUSE));
	/* A source that does not exist. */
	assert_int_equal(store_put(f->s, 999, 0, &r, &c, &cause), -1);
	assert_non_null(strstr(cause, "store: insert record: FOREIGN KEY"));
	free(cause);
	cause = NULL;
	/* Not a field name (a DC element or [A-Za-z][A-Za-z0-9_.:-]*). */
	r.dc = bad;
	r.ndc = 1;
	assert_int_equal(store_put(f->s, f->src, 0, &r, &c, &cause), -1);
	assert_non_null(strstr(cause, "titel"));
	free(cause);
	cause = NULL;
	/* No identifier. */
	r = mkrec(NULL, "2024-01-01", 0, META1);
	assert_int_equal(store_put(f->s, f->src, 0, &r, NULL, &cause), -1);
	free(cause);
	cause = NULL;
	/* A transaction inside a transaction. */
	assert_int_equal(store_begin(f->s, &cause), -1);
	assert_non_null(strstr(cause, "store: begin:"));
	free(cause);
	store_rollback(f->s);
	/* Rollback twice is harmless. */
	store_rollback(f->s);
	assert_sql(f, "SELECT count(*) FROM record", "0\n");
}

/* Transactions */

static void
test_rollback(void **state)
{
	struct fx	       *f = *state;
	struct store_record	r = mkrec("oai:nur:1", "2024-01-01", 0, META1);
	struct store_list_state ls = { NULL, "tok1", "2024-01-01", 0, 100, 1 };
	struct store_list_state got;
	enum store_change	c;

	CHECK(store_begin(f->s, CAUSE));
	CHECK(store_put(f->s, f->src, 0, &r, &c, CAUSE));
	assert_int_equal(c, STORE_NEW);
	CHECK(store_list_checkpoint(f->s, f->src, "oai_dc", NULL, &ls, CAUSE));
	CHECK(store_list_complete(
	    f->s, f->src, "oai_dc", "x", "2024-01-01", CAUSE));
	store_rollback(f->s);
	assert_sql(f,
	    "SELECT (SELECT count(*) FROM record),"
	    " (SELECT count(*) FROM metadata), (SELECT count(*) FROM dc),"
	    " (SELECT count(*) FROM record_set),"
	    " (SELECT count(*) FROM change),"
	    " (SELECT count(*) FROM list_state)",
	    "0|0|0|0|0|0\n");
	CHECK(store_list_get(f->s, f->src, "oai_dc", "", &got, CAUSE));
	assert_null(got.token);
	assert_int_equal(got.pages, 0);
	store_list_state_free(&got);

	/* A page left open at close is lost, as in a crash. */
	CHECK(store_begin(f->s, CAUSE));
	CHECK(store_put(f->s, f->src, 0, &r, &c, CAUSE));
	reopen(f, 0);
	assert_sql(f, "SELECT count(*) FROM record", "0\n");
}

static void
test_commit_persists(void **state)
{
	struct fx	       *f = *state;
	struct store_record	r = mkrec("oai:nur:1", "2024-01-01", 0, META1);
	struct store_list_state ls = { NULL, "tok1", "2024-01-01", 0, 100, 1 };
	struct store_list_state got;
	enum store_change	c;
	char		       *out;

	CHECK(store_begin(f->s, CAUSE));
	CHECK(store_put(f->s, f->src, 0, &r, &c, CAUSE));
	CHECK(store_list_checkpoint(f->s, f->src, "oai_dc", NULL, &ls, CAUSE));
	CHECK(store_commit(f->s, CAUSE));
	reopen(f, 0);
	out = capture_export(f, NULL, NULL);
	assert_int_equal(count_lines(out), 1);
	free(out);
	CHECK(store_list_get(f->s, f->src, "oai_dc", NULL, &got, CAUSE));
	assert_string_equal(got.token, "tok1");
	store_list_state_free(&got);
	/* The same record again after reopening is known. */
	assert_int_equal(put(f, &r), STORE_UNCHANGED);
	out = capture_changes(f, 0, -1);
	assert_int_equal(count_lines(out), 1);
	free(out);
}

/* List state */

static void
test_list_state(void **state)
{
	struct fx	       *f = *state;
	struct store_list_state ls, got;
	char		       *cause = NULL;

	/* Nothing yet. */
	CHECK(store_list_get(f->s, f->src, "oai_dc", "", &got, CAUSE));
	assert_null(got.watermark);
	assert_null(got.token);
	assert_null(got.progress);
	assert_int_equal(got.cursor, -1);
	assert_int_equal(got.complete_list_size, -1);
	assert_int_equal(got.pages, 0);
	store_list_state_free(&got);

	/* Outside a transaction. */
	memset(&ls, 0, sizeof(ls));
	assert_int_equal(
	    store_list_checkpoint(f->s, f->src, "oai_dc", "", &ls, &cause), -1);
	assert_non_null(strstr(cause, "not inside a transaction"));
	free(cause);
	cause = NULL;
	assert_int_equal(store_list_complete(
			     f->s, f->src, "oai_dc", "", "2024-01-01", &cause),
	    -1);
	free(cause);

	ls.token = "tok1";
	ls.progress = "2024-01-05T00:00:00Z";
	ls.cursor = 0;
	ls.complete_list_size = 250;
	ls.pages = 1;
	CHECK(store_begin(f->s, CAUSE));
	CHECK(store_list_checkpoint(f->s, f->src, "oai_dc", NULL, &ls, CAUSE));
	CHECK(store_commit(f->s, CAUSE));
	CHECK(store_list_get(f->s, f->src, "oai_dc", "", &got, CAUSE));
	assert_null(got.watermark);
	assert_string_equal(got.token, "tok1");
	assert_string_equal(got.progress, "2024-01-05T00:00:00Z");
	assert_int_equal(got.cursor, 0);
	assert_int_equal(got.complete_list_size, 250);
	assert_int_equal(got.pages, 1);
	store_list_state_free(&got);

	/* Next page: unknown cursor and size. */
	ls.token = "tok2";
	ls.cursor = -1;
	ls.complete_list_size = -1;
	ls.pages = 2;
	CHECK(store_begin(f->s, CAUSE));
	CHECK(store_list_checkpoint(f->s, f->src, "oai_dc", "", &ls, CAUSE));
	CHECK(store_commit(f->s, CAUSE));
	CHECK(store_list_get(f->s, f->src, "oai_dc", NULL, &got, CAUSE));
	assert_string_equal(got.token, "tok2");
	assert_int_equal(got.cursor, -1);
	assert_int_equal(got.complete_list_size, -1);
	assert_int_equal(got.pages, 2);
	store_list_state_free(&got);

	/* Another set is another list. */
	CHECK(store_list_get(f->s, f->src, "oai_dc", "physics", &got, CAUSE));
	assert_null(got.token);
	store_list_state_free(&got);

	/* Complete: watermark set, the rest cleared. */
	CHECK(store_begin(f->s, CAUSE));
	CHECK(store_list_complete(
	    f->s, f->src, "oai_dc", NULL, "2024-01-09T00:00:00Z", CAUSE));
	CHECK(store_commit(f->s, CAUSE));
	CHECK(store_list_get(f->s, f->src, "oai_dc", "", &got, CAUSE));
	assert_string_equal(got.watermark, "2024-01-09T00:00:00Z");
	assert_null(got.token);
	assert_null(got.progress);
	assert_int_equal(got.cursor, -1);
	assert_int_equal(got.complete_list_size, -1);
	assert_int_equal(got.pages, 0);
	store_list_state_free(&got);

	/* A checkpoint keeps the watermark; completing with none too. */
	ls.token = "tok3";
	ls.pages = 1;
	CHECK(store_begin(f->s, CAUSE));
	CHECK(store_list_checkpoint(f->s, f->src, "oai_dc", "", &ls, CAUSE));
	CHECK(store_commit(f->s, CAUSE));
	CHECK(store_list_get(f->s, f->src, "oai_dc", "", &got, CAUSE));
	assert_string_equal(got.watermark, "2024-01-09T00:00:00Z");
	assert_string_equal(got.token, "tok3");
	store_list_state_free(&got);
	CHECK(store_begin(f->s, CAUSE));
	CHECK(store_list_complete(f->s, f->src, "oai_dc", "", NULL, CAUSE));
	CHECK(store_commit(f->s, CAUSE));
	CHECK(store_list_get(f->s, f->src, "oai_dc", "", &got, CAUSE));
	assert_string_equal(got.watermark, "2024-01-09T00:00:00Z");
	assert_null(got.token);
	store_list_state_free(&got);

	/* Completing a list never checkpointed creates it. */
	CHECK(store_begin(f->s, CAUSE));
	CHECK(store_list_complete(
	    f->s, f->src, "oai_dc", "math", "2024-02-01", CAUSE));
	CHECK(store_commit(f->s, CAUSE));
	CHECK(store_list_get(f->s, f->src, "oai_dc", "math", &got, CAUSE));
	assert_string_equal(got.watermark, "2024-02-01");
	store_list_state_free(&got);
}

/* Sources and runs */

static void
test_source_and_runs(void **state)
{
	struct fx	      *f = *state;
	struct store_run_stats rs = { 3, 250, 10, 2, 1, 237, 123456, 0 };
	int64_t		       run, other;
	char		      *cause = NULL, *url;

	/* Same name, same id. */
	assert_int_equal(
	    store_source(f->s, "nur", "https://nur.example/oai", 0, NULL),
	    f->src);
	/* Another url is another repository: refused, nothing changed. */
	assert_int_equal(
	    store_source(f->s, "nur", "https://new.example/oai", 0, &cause),
	    STORE_SOURCE_OTHER_URL);
	assert_non_null(strstr(cause, "https://nur.example/oai"));
	free(cause);
	cause = NULL;
	assert_sql(f, "SELECT url FROM source", "https://nur.example/oai\n");
	assert_null(store_source_by_url(f->s, "https://new.example/oai"));
	/* Unless the source moved there: same id, the url follows. */
	assert_int_equal(
	    store_source(f->s, "nur", "https://new.example/oai", 1, NULL),
	    f->src);
	assert_sql(f, "SELECT url FROM source", "https://new.example/oai\n");
	url = store_source_url(f->s, "nur");
	assert_string_equal(url, "https://new.example/oai");
	free(url);
	url = store_source_by_url(f->s, "https://new.example/oai");
	assert_string_equal(url, "nur");
	free(url);
	assert_null(store_source_url(f->s, "none"));
	other = store_source(f->s, "abc", NULL, 0, NULL);
	assert_true(other > 0 && other != f->src);

	CHECK(store_source_identify(f->s, f->src, "YYYY-MM-DDThh:mm:ssZ",
	    "2001-01-01T00:00:00Z", "persistent", "NUR", CAUSE));
	assert_sql(f,
	    "SELECT granularity, earliest_datestamp, deleted_record,"
	    " repository_name, identified_at IS NOT NULL FROM source"
	    " WHERE name = 'nur'",
	    "YYYY-MM-DDThh:mm:ssZ|2001-01-01T00:00:00Z|persistent|NUR|1\n");
	assert_int_equal(
	    store_source_identify(f->s, 999, NULL, NULL, NULL, NULL, &cause),
	    -1);
	free(cause);
	cause = NULL;

	run = store_run_begin(f->s, f->src, NULL);
	assert_true(run > 0);
	assert_sql(f, "SELECT status, started IS NOT NULL, ended FROM run",
	    "running|1|NULL\n");
	CHECK(store_run_end(f->s, run, "ok", &rs, NULL, CAUSE));
	assert_sql(f,
	    "SELECT status, ended IS NOT NULL, pages, records, new,"
	    " updated, deleted, unchanged, bytes, error FROM run",
	    "ok|1|3|250|10|2|1|237|123456|NULL\n");

	run = store_run_begin(f->s, f->src, NULL);
	CHECK(store_run_end(f->s, run, "failed", NULL, "HTTP 503", CAUSE));
	assert_sql(f,
	    "SELECT status, pages, error FROM run WHERE id = (SELECT"
	    " max(id) FROM run)",
	    "failed|0|HTTP 503\n");

	assert_int_equal(
	    store_run_end(f->s, run, "running", NULL, NULL, &cause), -1);
	free(cause);
	cause = NULL;
	assert_int_equal(
	    store_run_end(f->s, 999, "ok", NULL, NULL, &cause), -1);
	assert_non_null(strstr(cause, "no run"));
	free(cause);
	cause = NULL;
	assert_int_equal(store_run_begin(f->s, 999, &cause), -1);
	assert_non_null(strstr(cause, "store: insert run:"));
	free(cause);

	assert_string_equal(store_change_name(STORE_NEW), "new");
	assert_string_equal(store_change_name(STORE_UPDATED), "updated");
	assert_string_equal(store_change_name(STORE_DELETED), "deleted");
	assert_null(store_change_name(STORE_UNCHANGED));
	assert_null(store_change_name(STORE_TOMBSTONE));
}

/* Content: DC values as JSON, XML as a template or verbatim */

#define OAI_DC_HEAD \
	"<oai_dc:dc xmlns:oai_dc=\"http://www." \
	"openarchives.org/OAI/2.0/oai_dc/\" " \
	"xmlns:dc=\"http://purl.org/dc/elements/1.1/\">\n"

static void
test_schema_layout(void **state)
{
	struct fx *f = *state;

	/* Set before WAL mode, by the first migration's setup. */
	assert_sql(f, "PRAGMA page_size", "16384\n");
	/* Codes are the DCMES order store.c exports in. */
	assert_sql(f,
	    "SELECT group_concat(name, ',') FROM"
	    " (SELECT name FROM dc_element ORDER BY code)",
	    "title,creator,subject,description,publisher,contributor,date,"
	    "type,format,identifier,source,language,relation,coverage,"
	    "rights\n");
	assert_sql(f,
	    "SELECT name, type FROM sqlite_schema WHERE name IN"
	    " ('dc', 'metadata', 'record_delete') ORDER BY name",
	    "dc|view\nmetadata|view\nrecord_delete|trigger\n");
	assert_sql(f, "SELECT last FROM change_seq", "0\n");
	/* No index orders DC values. */
	assert_sql(f,
	    "SELECT count(*) FROM sqlite_schema WHERE type = 'index'"
	    " AND tbl_name IN ('content', 'xml_template', 'dc_element')"
	    " AND name NOT LIKE 'sqlite_autoindex_%'",
	    "1\n");
}

/* SQLite's hex() of n bytes of s, allocated. */
static char *
hexstr(const char *s, size_t n)
{
	static const char digits[] = "0123456789ABCDEF";
	char		 *out;
	size_t		  i;

	out = xmalloc(2 * n + 1);
	for (i = 0; i < n; i++) {
		out[2 * i] = digits[(unsigned char)s[i] >> 4];
		out[2 * i + 1] = digits[(unsigned char)s[i] & 0xf];
	}
	out[2 * n] = '\0';
	return out;
}

/*
 * Record id, put new, must come back exactly: its XML through export
 * (escaped as json_add_string() escapes, as before templates) and through
 * the metadata view, its values through the dc view.  form: "template",
 * "verbatim" or "none" (no XML).
 */
static void
check_content(struct fx *f, const struct store_record *r, const char *form)
{
	struct buf want;
	char	  *q, *got, *out, *h;
	size_t	   i;

	xasprintf(&q,
	    "SELECT CASE WHEN c.template_id IS NOT NULL THEN"
	    " 'template' WHEN c.xml IS NOT NULL THEN 'verbatim' ELSE 'none'"
	    " END FROM content c JOIN record r ON r.id = c.record_id"
	    " WHERE r.identifier = '%s'",
	    r->identifier);
	got = sql(f->path, q);
	free(q);
	xasprintf(&q, "%s\n", form);
	if (strcmp(got, q) != 0)
		fail_msg("%s: stored as %s, not %s", r->identifier, got, form);
	free(got);
	free(q);

	/* Export. */
	out = capture_export(f, NULL, NULL);
	buf_init(&want, 1 << 24);
	if (r->metadata != NULL) {
		buf_addstr(&want, ",\"metadata\":");
		json_add_string(&want, r->metadata, r->metadata_len);
		buf_addstr(&want, "}\n");
		if (strstr(out, buf_str(&want)) == NULL)
			fail_msg("%s: export lacks %s", r->identifier,
			    buf_str(&want));
	}
	buf_free(&want);
	free(out);

	/* The views. */
	xasprintf(&q,
	    "SELECT hex(m.xml) FROM metadata m JOIN record r"
	    " ON r.id = m.record_id WHERE r.identifier = '%s'",
	    r->identifier);
	got = sql(f->path, q);
	free(q);
	if (r->metadata != NULL) {
		h = hexstr(r->metadata, r->metadata_len);
		xasprintf(&q, "%s\n", h);
		free(h);
		assert_string_equal(got, q);
		free(q);
	} else
		assert_string_equal(got, "");
	free(got);
	buf_init(&want, 1 << 24);
	for (i = 0; i < r->ndc; i++) {
		h = hexstr(r->dc[i].value, strlen(r->dc[i].value));
		buf_printf(&want, "%zu|%s|%s|%s\n", i, r->dc[i].element, h,
		    r->dc[i].lang != NULL ? r->dc[i].lang : "NULL");
		free(h);
	}
	xasprintf(&q,
	    "SELECT position, element, hex(value), lang FROM dc"
	    " WHERE record_id = (SELECT id FROM record WHERE identifier ="
	    " '%s') ORDER BY position",
	    r->identifier);
	got = sql(f->path, q);
	free(q);
	assert_string_equal(got, buf_str(&want));
	free(got);
	buf_free(&want);
}

static void
test_content_forms(void **state)
{
	struct fx		    *f = *state;
	static const struct store_dc plain[] = {
		{ "title", "Мұғалімдердің көшбасшылығы", "kk" },
		{ "title", "Лидерство учителей", "ru" },
		{ "creator", "Khoroshash, Aidar", NULL },
		{ "subject", "R&D <management> & more", NULL },
		{ "subject", "dc", NULL },
		{ "language", "en", NULL },
	};
	static const char plain_xml[] = OAI_DC_HEAD
	    "<dc:title xml:lang=\"kk\">Мұғалімдердің көшбасшылығы</dc:title>\n"
	    "<dc:title xml:lang=\"ru\">Лидерство учителей</dc:title>\n"
	    "<dc:creator>Khoroshash, Aidar</dc:creator>\n"
	    "<dc:subject>R&amp;D &lt;management&gt; &amp; more</dc:subject>\n"
	    "<dc:subject>dc</dc:subject>\n"
	    "<dc:language xml:lang=\"en_US\">en</dc:language>\n</oai_dc:dc>";
	/* Indented, values trimmed by the parser. */
	static const struct store_dc spaced[] = {
		{ "title", "A title", NULL },
		{ "description", "Two\nlines, \"quoted\"\tand\rCR", NULL },
	};
	static const char spaced_xml[] =
	    OAI_DC_HEAD "  <dc:title>\n    A title  \n  </dc:title>\n"
			"  <dc:description> Two\nlines, \"quoted\"\tand&#13;CR"
			"</dc:description>\n</oai_dc:dc>";
	/* Not bytes the store writes for '&': kept as they came. */
	static const struct store_dc other_escape[] = {
		{ "title", "R&D", NULL },
	};
	static const char other_escape_xml[] =
	    OAI_DC_HEAD "<dc:title>R&#38;D</dc:title>\n</oai_dc:dc>";
	static const struct store_dc split[] = {
		{ "title", "AB", NULL },
	};
	static const char split_xml[] = OAI_DC_HEAD
	    "<dc:title>A<!-- a comment -->B</dc:title>\n</oai_dc:dc>";
	static const char slot_xml[] =
	    OAI_DC_HEAD "<dc:title>AB</dc:title><!-- \001 -->\n</oai_dc:dc>";
	/* Bytes that are not UTF-8 go through unchanged. */
	static const struct store_dc latin1[] = {
		{ "title", "Caf\351 \377", NULL },
	};
	static const char latin1_xml[] =
	    OAI_DC_HEAD "<dc:title>Caf\351 \377</dc:title>\n</oai_dc:dc>";
	static const char marc_xml[] =
	    "<record xmlns=\"http://www.loc.gov/"
	    "MARC21/slim\"><leader>00925njm  22002777a 4500</leader></record>";
	static const struct {
		const char	      *id;
		const char	      *xml;
		const struct store_dc *dc;
		size_t		       ndc;
		const char	      *form;
	} cases[] = {
		{ "oai:t:plain", plain_xml, plain, nitems(plain), "template" },
		{ "oai:t:spaced", spaced_xml, spaced, nitems(spaced),
		    "template" },
		{ "oai:t:escape", other_escape_xml, other_escape,
		    nitems(other_escape), "verbatim" },
		{ "oai:t:split", split_xml, split, nitems(split), "verbatim" },
		{ "oai:t:slot", slot_xml, split, nitems(split), "verbatim" },
		{ "oai:t:latin1", latin1_xml, latin1, nitems(latin1),
		    "template" },
		{ "oai:t:marc", marc_xml, NULL, 0, "verbatim" },
		{ "oai:t:none", NULL, plain, nitems(plain), "none" },
	};
	struct store_record   r, rp;
	struct store_prepared p;
	struct store_prep    *prep;
	struct buf	      big;
	char		      id[64];
	size_t		      i;

	for (i = 0; i < nitems(cases); i++) {
		r = mkrec(cases[i].id, "2024-01-01", 0, cases[i].xml);
		r.dc = cases[i].dc;
		r.ndc = cases[i].ndc;
		assert_int_equal(put(f, &r), STORE_NEW);
		check_content(f, &r, cases[i].form);
	}
	/*
	 * Prepared elsewhere (as the harvester's event loop does), with only
	 * what store_put() then reads: the same rows, and the same terms.
	 */
	prep = store_prep_new();
	for (i = 0; i < nitems(cases); i++) {
		snprintf(id, sizeof(id), "%s:prepared", cases[i].id);
		r = mkrec(id, "2024-01-01", 0, cases[i].xml);
		r.dc = cases[i].dc;
		r.ndc = cases[i].ndc;
		CHECK(store_prepare(prep, &r, &p, CAUSE));
		rp = r;
		rp.dc = NULL;
		rp.ndc = 0;
		if (p.tmpl != NULL)
			rp.metadata = NULL;
		rp.prep = &p;
		assert_int_equal(put(f, &rp), STORE_NEW);
		check_content(f, &r, cases[i].form);
	}
	store_prep_free(prep);
	assert_fts_sound(f);

	/*
	 * Templates of 3,000 bytes are made but not remembered: the second
	 * record finds the first one's in SQLite.  Past 4,096: verbatim.
	 */
	buf_init(&big, 1 << 20);
	buf_addstr(&big, OAI_DC_HEAD "<!-- ");
	for (i = 0; i < 3000; i++)
		buf_addch(&big, 'x');
	buf_addstr(&big, " -->\n<dc:title>AB</dc:title>\n</oai_dc:dc>");
	r = mkrec("oai:t:big1", "2024-01-01", 0, buf_str(&big));
	r.dc = split;
	r.ndc = nitems(split);
	assert_int_equal(put(f, &r), STORE_NEW);
	check_content(f, &r, "template");
	r.identifier = "oai:t:big2";
	assert_int_equal(put(f, &r), STORE_NEW);
	check_content(f, &r, "template");
	assert_sql(f,
	    "SELECT count(*), count(DISTINCT template_id) FROM"
	    " content WHERE template_id IN (SELECT id FROM xml_template"
	    " WHERE length(body) > 3000)",
	    "2|1\n");
	buf_reset(&big);
	buf_addstr(&big, OAI_DC_HEAD "<!-- ");
	for (i = 0; i < 5000; i++)
		buf_addch(&big, 'x');
	buf_addstr(&big, " -->\n<dc:title>AB</dc:title>\n</oai_dc:dc>");
	r = mkrec("oai:t:big", "2024-01-01", 0, buf_str(&big));
	r.dc = split;
	r.ndc = nitems(split);
	assert_int_equal(put(f, &r), STORE_NEW);
	check_content(f, &r, "verbatim");
	buf_free(&big);

	/* Deleted: no content; back again: the template is found. */
	r = mkrec("oai:t:plain", "2024-02-01", 1, NULL);
	assert_int_equal(put(f, &r), STORE_DELETED);
	assert_sql(f,
	    "SELECT count(*) FROM content c JOIN record r"
	    " ON r.id = c.record_id WHERE r.identifier = 'oai:t:plain'",
	    "0\n");
	r = mkrec("oai:t:plain", "2024-03-01", 0, plain_xml);
	r.dc = plain;
	r.ndc = nitems(plain);
	assert_int_equal(put(f, &r), STORE_NEW);
	check_content(f, &r, "template");
	assert_sql(f, "SELECT count(*) FROM xml_template", "4\n");
}

/* Records of one shape share a template, also across reopening. */
static void
test_template_shared(void **state)
{
	struct fx	   *f = *state;
	struct store_dc	    dc[2] = { { "title", NULL, NULL },
		    { "subject", NULL, NULL } };
	struct store_record r;
	char		   *xml[4], *title[4], id[32];
	int		    i;

	for (i = 0; i < 4; i++) {
		xasprintf(&title[i], "Title number %d", i);
		xasprintf(&xml[i],
		    OAI_DC_HEAD
		    "<dc:title>%s</dc:title>\n"
		    "<dc:subject>physics</dc:subject>\n%s</oai_dc:dc>",
		    title[i], i == 1 ? "<!-- another shape -->\n" : "");
	}
	for (i = 0; i < 4; i++) {
		if (i == 3)
			reopen(f, 0);
		snprintf(id, sizeof(id), "oai:s:%d", i);
		dc[0].value = title[i];
		dc[1].value = "physics";
		r = mkrec(id, "2024-01-01", 0, xml[i]);
		r.dc = dc;
		r.ndc = nitems(dc);
		assert_int_equal(put(f, &r), STORE_NEW);
		check_content(f, &r, "template");
	}
	assert_sql(f, "SELECT count(*) FROM xml_template", "2\n");
	assert_sql(f, "SELECT count(DISTINCT template_id) FROM content", "2\n");
	assert_sql(f, "SELECT hash = 0 FROM xml_template", "0\n0\n");
	for (i = 0; i < 4; i++) {
		free(xml[i]);
		free(title[i]);
	}
}

/*
 * A template added in a transaction that rolls back is gone: the store
 * must not hand out its id afterwards (it remembers templates).
 */
static void
test_template_rollback(void **state)
{
	struct fx		    *f = *state;
	static const struct store_dc dc[] = { { "title", "T1", NULL } };
	static const struct store_dc dc2[] = { { "title", "T2", NULL } };
	static const char   x1[] = OAI_DC_HEAD "<dc:title>T1</dc:title>\n"
					       "</oai_dc:dc>";
	static const char   x2[] = OAI_DC_HEAD "<dc:title>T2</dc:title>\n"
					       "</oai_dc:dc>";
	struct store_record r;
	enum store_change   c;

	CHECK(store_begin(f->s, CAUSE));
	r = mkrec("oai:r:1", "2024-01-01", 0, x1);
	r.dc = dc;
	r.ndc = 1;
	CHECK(store_put(f->s, f->src, 0, &r, &c, CAUSE));
	/* Used again in the same transaction. */
	r = mkrec("oai:r:2", "2024-01-01", 0, x2);
	r.dc = dc2;
	r.ndc = 1;
	CHECK(store_put(f->s, f->src, 0, &r, &c, CAUSE));
	store_rollback(f->s);
	assert_sql(f, "SELECT count(*) FROM xml_template", "0\n");

	r = mkrec("oai:r:2", "2024-01-01", 0, x2);
	r.dc = dc2;
	r.ndc = 1;
	assert_int_equal(put(f, &r), STORE_NEW);
	check_content(f, &r, "template");
	assert_sql(f, "SELECT count(*) FROM xml_template", "1\n");
	assert_sql(f,
	    "SELECT count(*) FROM content c LEFT JOIN xml_template t"
	    " ON t.id = c.template_id WHERE t.id IS NULL",
	    "0\n");
}

/*
 * content.dc is JSON that SQLite reads back exactly: escapes in the first,
 * middle and last of 16-byte blocks and in short values.
 */
static void
test_dc_json(void **state)
{
	struct fx		*f = *state;
	static const char *const vals[] = {
		"\"quoted\" and \\ backslash",
		"0123456789abcde\"0123456789abcdef\\",
		"\001\002\037\177 tab\there\nnewline\rcr",
		"x",
		"Ёмкость «шыңы» & <не> — 0123456789abcdef0123456789",
		"ends with a quote\"",
	};
	struct store_dc	    dc[nitems(vals)];
	struct store_record r;
	struct buf	    want, xml;
	char		   *got;
	size_t		    i;

	buf_init(&want, 1 << 20);
	buf_init(&xml, 1 << 20);
	buf_addch(&want, '[');
	for (i = 0; i < nitems(vals); i++) {
		dc[i].element = i % 2 ? "description" : "subject";
		dc[i].value = vals[i];
		dc[i].lang = i == 3 ? "e\"n" : NULL;
		buf_printf(&want, "%s[%d,", i > 0 ? "," : "", i % 2 ? 3 : 2);
		json_add_string(&want, vals[i], (size_t)-1);
		if (dc[i].lang != NULL) {
			buf_addch(&want, ',');
			json_add_string(&want, dc[i].lang, (size_t)-1);
		}
		buf_addch(&want, ']');
	}
	buf_addstr(&want, "]\n");
	r = mkrec("oai:j:1", "2024-01-01", 0, NULL);
	r.dc = dc;
	r.ndc = nitems(dc);
	assert_int_equal(put(f, &r), STORE_NEW);
	got = sql(f->path, "SELECT dc FROM content");
	assert_string_equal(got, buf_str(&want));
	free(got);
	check_content(f, &r, "none");
	buf_free(&want);
	buf_free(&xml);
}

/*
 * seq comes from change_seq and the change table: never back, even when
 * all change rows are gone; a rolled-back transaction leaves no trace.
 */
static void
test_seq_counter(void **state)
{
	struct fx	   *f = *state;
	struct store_record r;
	enum store_change   c;

	r = mkrec("oai:q:1", "2024-01-01", 0, META1);
	assert_int_equal(put(f, &r), STORE_NEW);
	r = mkrec("oai:q:2", "2024-01-01", 0, META1);
	assert_int_equal(put(f, &r), STORE_NEW);
	assert_sql(f, "SELECT last FROM change_seq", "2\n");
	assert_int_equal(store_last_seq(f->s), 2);

	store_close(f->s);
	f->s = NULL;
	sql_exec(f->path, "DELETE FROM change");
	reopen(f, 0);
	CHECK(store_begin(f->s, CAUSE));
	r = mkrec("oai:q:3", "2024-01-01", 0, META1);
	CHECK(store_put(f->s, f->src, 0, &r, &c, CAUSE));
	store_rollback(f->s);
	r = mkrec("oai:q:4", "2024-01-01", 0, META1);
	assert_int_equal(put(f, &r), STORE_NEW);
	assert_sql(f, "SELECT seq, identifier FROM change", "3|oai:q:4\n");
	assert_sql(f, "SELECT last FROM change_seq", "3\n");

	/* A row written by someone else counts too. */
	store_close(f->s);
	f->s = NULL;
	sql_exec(f->path,
	    "INSERT INTO change (seq, source_id, identifier,"
	    " prefix, kind, datestamp, at) VALUES (10, 1, 'x', 'oai_dc',"
	    " 'new', '2024-01-01', '2024-01-01T00:00:00Z')");
	reopen(f, 0);
	r = mkrec("oai:q:5", "2024-01-01", 0, META1);
	assert_int_equal(put(f, &r), STORE_NEW);
	assert_sql(f, "SELECT max(seq) FROM change", "11\n");
}

/* A record deleted with SQL takes its content and set rows along. */
static void
test_record_delete(void **state)
{
	struct fx	   *f = *state;
	struct store_record r;

	r = mkrec("oai:d:1", "2024-01-01", 0, META1);
	assert_int_equal(put(f, &r), STORE_NEW);
	r = mkrec("oai:d:2", "2024-01-01", 0, META1);
	assert_int_equal(put(f, &r), STORE_NEW);
	assert_sql(f, "SELECT count(*) FROM record_set", "4\n");
	store_close(f->s);
	f->s = NULL;
	sql_exec(f->path, "DELETE FROM record WHERE identifier = 'oai:d:1'");
	assert_sql(f,
	    "SELECT count(*), min(r.identifier) FROM content c"
	    " JOIN record r ON r.id = c.record_id",
	    "1|oai:d:2\n");
	assert_sql(f,
	    "SELECT count(*), min(r.identifier) FROM record_set s"
	    " JOIN record r ON r.id = s.record_id",
	    "2|oai:d:2\n");
	assert_sql(f, "SELECT count(*) FROM record_set", "2\n");
	reopen(f, 0);
}

/* Output */

static void
test_export_exact(void **state)
{
	struct fx		    *f = *state;
	static const struct store_dc dc[] = {
		{ "creator", "Пушкин, А. С.", "ru" },
		{ "title", "Say \"hi\"\nthen\tgo \\ home", NULL },
		{ "language", "ru", NULL },
		{ "creator", "Doe, J.", NULL },
		{ "description",
		    "ctl\001"
		    "end",
		    NULL },
		{ "title", "Второе", "ru" },
	};
	static const char meta[] =
	    "<oai_dc:dc xmlns:oai_dc=\"http://www."
	    "openarchives.org/OAI/2.0/oai_dc/\">\n<dc:title>Say &quot;hi"
	    "&quot;</dc:title></oai_dc:dc>";
	static const char want[] =
	    "{\"source\":\"nur\",\"identifier\":"
	    "\"oai:nur:1\",\"prefix\":\"oai_dc\",\"datestamp\":"
	    "\"2024-01-02T03:04:05Z\",\"deleted\":false,\"sets\":[\"a\","
	    "\"b\"],\"dc\":{\"title\":[\"Say \\\"hi\\\"\\nthen\\tgo \\\\ "
	    "home\",\"Второе\"],\"creator\":[\"Пушкин, А. С.\","
	    "\"Doe, J.\"],"
	    "\"description\":[\"ctl\\u0001end\"],\"language\":[\"ru\"]},"
	    "\"metadata\":\"<oai_dc:dc xmlns:oai_dc=\\\"http://www."
	    "openarchives.org/OAI/2.0/oai_dc/\\\">\\n<dc:title>Say &quot;hi"
	    "&quot;</dc:title></oai_dc:dc>\"}\n";
	struct store_record r;
	char		   *out, *line, *first;

	r = mkrec("oai:nur:1", "2024-01-02T03:04:05Z", 0, meta);
	r.dc = dc;
	r.ndc = nitems(dc);
	assert_int_equal(put(f, &r), STORE_NEW);
	r = mkrec("oai:nur:2", "2024-01-03", 1, NULL);
	r.nsets = 0;
	assert_int_equal(put(f, &r), STORE_TOMBSTONE);

	out = capture_export(f, NULL, NULL);
	assert_int_equal(count_lines(out), 2);
	line = nth_line(out, 0);
	xasprintf(&first, "%s\n", line);
	assert_string_equal(first, want);
	free(first);
	/* Parsed back, the strings are what went in. */
	assert_json(line, "json_valid(j)", "1");
	assert_json(line, "json_extract(j, '$.dc.title[0]')", dc[1].value);
	assert_json(line, "json_extract(j, '$.dc.title[1]')", "Второе");
	assert_json(line, "json_extract(j, '$.dc.creator[0]')", dc[0].value);
	assert_json(
	    line, "json_extract(j, '$.dc.description[0]')", dc[4].value);
	assert_json(line, "json_extract(j, '$.metadata')", meta);
	assert_json(line, "(SELECT group_concat(key) FROM json_each(j))",
	    "source,identifier,prefix,datestamp,deleted,sets,dc,metadata");
	free(line);

	/* The deleted record: empty dc, no metadata key at all. */
	line = nth_line(out, 1);
	assert_string_equal(line,
	    "{\"source\":\"nur\",\"identifier\":"
	    "\"oai:nur:2\",\"prefix\":\"oai_dc\",\"datestamp\":\"2024-01-03\","
	    "\"deleted\":true,\"sets\":[],\"dc\":{}}");
	assert_json(line, "json_type(j, '$.metadata')", "NULL");
	free(line);
	free(out);
}

static void
test_export_filters(void **state)
{
	struct fx	   *f = *state;
	struct store_record r;
	int64_t		    abc;
	char		   *out, *line;

	abc = store_source(f->s, "abc", "https://abc.example/oai", 0, NULL);
	/* Inserted out of order; exported by source, prefix, identifier. */
	r = mkrec("oai:2", "2024-01-01", 0, META1);
	assert_int_equal(put(f, &r), STORE_NEW);
	r = mkrec("oai:1", "2024-01-01", 0, META1);
	r.prefix = "marcxml";
	assert_int_equal(put(f, &r), STORE_NEW);
	r = mkrec("oai:1", "2024-01-01", 0, META1);
	assert_int_equal(put(f, &r), STORE_NEW);
	CHECK(store_begin(f->s, CAUSE));
	r = mkrec("oai:9", "2024-01-01", 0, META1);
	CHECK(store_put(f->s, abc, 0, &r, NULL, CAUSE));
	CHECK(store_commit(f->s, CAUSE));

	out = capture_export(f, NULL, NULL);
	assert_int_equal(count_lines(out), 4);
	line = nth_line(out, 0);
	assert_json(line,
	    "json_extract(j, '$.source') || ' ' ||"
	    " json_extract(j, '$.prefix') || ' ' ||"
	    " json_extract(j, '$.identifier')",
	    "abc oai_dc oai:9");
	free(line);
	line = nth_line(out, 1);
	assert_json(line,
	    "json_extract(j, '$.prefix') || ' ' ||"
	    " json_extract(j, '$.identifier')",
	    "marcxml oai:1");
	free(line);
	line = nth_line(out, 2);
	assert_json(line,
	    "json_extract(j, '$.prefix') || ' ' ||"
	    " json_extract(j, '$.identifier')",
	    "oai_dc oai:1");
	free(line);
	line = nth_line(out, 3);
	assert_json(line,
	    "json_extract(j, '$.prefix') || ' ' ||"
	    " json_extract(j, '$.identifier')",
	    "oai_dc oai:2");
	free(line);
	free(out);

	out = capture_export(f, "nur", NULL);
	assert_int_equal(count_lines(out), 3);
	assert_null(strstr(out, "\"abc\""));
	free(out);
	out = capture_export(f, NULL, "oai_dc");
	assert_int_equal(count_lines(out), 3);
	assert_null(strstr(out, "marcxml"));
	free(out);
	out = capture_export(f, "nur", "marcxml");
	assert_int_equal(count_lines(out), 1);
	free(out);
	out = capture_export(f, "nobody", NULL);
	assert_string_equal(out, "");
	free(out);
}

/* The rows of a query stop when the callback says so. */
struct rows {
	int	n;
	int	stop; /* return -1 at this row (1-based) */
	int64_t last_seq;
	int	dc_title; /* DC values coded as title */
	int	with_xml;
};

static int
change_row(void *arg, const struct store_change_row *r)
{
	struct rows *w = arg;

	w->last_seq = r->seq;
	return ++w->n == w->stop ? -1 : 0;
}

static int
export_row(void *arg, const struct store_export_row *r)
{
	struct rows *w = arg;
	size_t	     i;

	for (i = 0; i < r->ndc; i++)
		if (r->dc[i].element == 0 &&
		    strcmp(store_dc_name(r->dc[i].element), "title") == 0)
			w->dc_title++;
	if (r->metadata != NULL && r->metadata_len == strlen(META1) &&
	    memcmp(r->metadata, META1, r->metadata_len) == 0)
		w->with_xml++;
	return ++w->n == w->stop ? -1 : 0;
}

static int
search_row(void *arg, const struct store_search_row *r)
{
	struct rows *w = arg;

	return ++w->n == w->stop ? -1 : 0;
}

static void
test_rows_stop(void **state)
{
	struct fx	   *f = *state;
	struct store_record r;
	struct rows	    w;
	char		   *id, *cause = NULL;
	int		    i;

	for (i = 1; i <= 3; i++) {
		xasprintf(&id, "oai:nur:%d", i);
		r = mkrec(id, "2024-01-01", 0, META1);
		assert_int_equal(put(f, &r), STORE_NEW);
		free(id);
	}
	memset(&w, 0, sizeof(w));
	CHECK(store_changes(f->s, 0, -1, change_row, &w, CAUSE));
	assert_int_equal(w.n, 3);
	assert_int_equal(w.last_seq, 3);
	memset(&w, 0, sizeof(w));
	w.stop = 2;
	assert_int_equal(
	    store_changes(f->s, 0, -1, change_row, &w, &cause), -1);
	assert_null(cause);
	assert_int_equal(w.n, 2);
	assert_int_equal(w.last_seq, 2);

	memset(&w, 0, sizeof(w));
	CHECK(store_export(f->s, NULL, NULL, export_row, &w, CAUSE));
	assert_int_equal(w.n, 3);
	assert_int_equal(w.dc_title, 3);
	assert_int_equal(w.with_xml, 3);
	memset(&w, 0, sizeof(w));
	w.stop = 1;
	assert_int_equal(
	    store_export(f->s, NULL, NULL, export_row, &w, &cause), -1);
	assert_null(cause);
	assert_int_equal(w.n, 1);

	/* A stop in FTS5 syntax is not taken for a syntax error. */
	memset(&w, 0, sizeof(w));
	w.stop = 1;
	assert_int_equal(
	    store_search(f->s, "title:title", NULL, 10, search_row, &w, &cause),
	    -1);
	assert_null(cause);
	assert_int_equal(w.n, 1);
	memset(&w, 0, sizeof(w));
	CHECK(
	    store_search(f->s, "title:title", NULL, 10, search_row, &w, CAUSE));
	assert_int_equal(w.n, 3);

	assert_null(store_dc_name(-1));
	assert_null(store_dc_name(STORE_NDCMES));
	assert_string_equal(store_dc_name(STORE_NDCMES - 1), "rights");
}

static void
test_changes(void **state)
{
	struct fx	   *f = *state;
	struct store_record r;
	char		   *out, *line, *want, *exact;
	int		    i;

	/* Five changes: new 1..3, updated 2, deleted 3. */
	for (i = 1; i <= 3; i++) {
		xasprintf(&want, "oai:nur:%d", i);
		r = mkrec(want, "2024-01-01", 0, META1);
		assert_int_equal(put(f, &r), STORE_NEW);
		free(want);
	}
	r = mkrec("oai:nur:2", "2024-01-02", 0, META2);
	assert_int_equal(put(f, &r), STORE_UPDATED);
	r = mkrec("oai:nur:3", "2024-01-03", 1, NULL);
	assert_int_equal(put(f, &r), STORE_DELETED);

	out = capture_changes(f, 0, -1);
	assert_int_equal(count_lines(out), 5);
	for (i = 0; i < 5; i++) {
		line = nth_line(out, i);
		xasprintf(&want, "%d", i + 1);
		assert_json(line, "json_extract(j, '$.seq')", want);
		free(want);
		free(line);
	}
	line = nth_line(out, 3);
	want = json_eval(line, "json_extract(j, '$.at')");
	free(line);
	line = nth_line(out, 3);
	xasprintf(&exact,
	    "{\"seq\":4,\"source\":\"nur\",\"identifier\":"
	    "\"oai:nur:2\",\"prefix\":\"oai_dc\",\"kind\":\"updated\","
	    "\"datestamp\":\"2024-01-02\",\"at\":\"%s\"}",
	    want);
	assert_string_equal(line, exact);
	free(exact);
	assert_int_equal(datestamp_parse(want, NULL, NULL), 0);
	assert_int_equal(strlen(want), 20);
	free(want);
	free(line);
	free(out);

	out = capture_changes(f, 2, 2);
	assert_int_equal(count_lines(out), 2);
	line = nth_line(out, 0);
	assert_json(line,
	    "json_extract(j, '$.seq') || json_extract(j,"
	    " '$.kind')",
	    "3new");
	free(line);
	line = nth_line(out, 1);
	assert_json(line,
	    "json_extract(j, '$.seq') || json_extract(j,"
	    " '$.kind')",
	    "4updated");
	free(line);
	free(out);

	out = capture_changes(f, 4, 100);
	assert_int_equal(count_lines(out), 1);
	line = nth_line(out, 0);
	assert_json(line, "json_extract(j, '$.kind')", "deleted");
	free(line);
	free(out);
	out = capture_changes(f, 5, -1);
	assert_string_equal(out, "");
	free(out);
	out = capture_changes(f, 0, 0);
	assert_string_equal(out, "");
	free(out);
}

/* seq never goes back, even after the newest change rows are deleted. */
static void
test_changes_seq_not_reused(void **state)
{
	struct fx	   *f = *state;
	struct store_record r;

	r = mkrec("oai:nur:1", "2024-01-01", 0, META1);
	assert_int_equal(put(f, &r), STORE_NEW);
	r = mkrec("oai:nur:2", "2024-01-01", 0, META1);
	assert_int_equal(put(f, &r), STORE_NEW);
	store_close(f->s);
	f->s = NULL;
	sql_exec(f->path, "DELETE FROM change WHERE seq = 2");
	reopen(f, 0);
	r = mkrec("oai:nur:3", "2024-01-01", 0, META1);
	assert_int_equal(put(f, &r), STORE_NEW);
	assert_sql(f, "SELECT seq, identifier FROM change ORDER BY seq",
	    "1|oai:nur:1\n3|oai:nur:3\n");
}

static void
test_status(void **state)
{
	struct fx	       *f = *state;
	struct store_run_stats	rs = { 3, 250, 10, 2, 1, 237, 123456, 0 };
	struct store_list_state ls = { NULL, "tok\x1b[2J", "2024-01-05", 200,
		1000, 3 };
	struct store_record	r;
	struct store	       *empty;
	char		       *out, *p, *cause = NULL;
	int64_t			run;

	/* An empty database. */
	xasprintf(&p, "%s/empty.db", f->dir);
	assert_non_null(empty = store_open(p, 0, &cause));
	free(p);
	out = capture_status(empty);
	assert_string_equal(out, "no sources\n");
	free(out);
	store_close(empty);

	/* A source that was never harvested. */
	out = capture_status(f->s);
	assert_non_null(strstr(out, "source nur\n"));
	assert_non_null(strstr(out, "last run       none"));
	assert_non_null(strstr(out, "records        none"));
	free(out);

	CHECK(store_source_identify(f->s, f->src, "YYYY-MM-DD", "2001-01-01",
	    "persistent", "NUR \"Open\" Repository", CAUSE));
	run = store_run_begin(f->s, f->src, NULL);
	f->run = run;
	r = mkrec("oai:nur:1", "2024-01-01", 0, META1);
	put(f, &r);
	r = mkrec("oai:nur:2", "2024-01-01", 0, META1);
	put(f, &r);
	r = mkrec("oai:nur:3", "2024-01-01", 1, NULL);
	put(f, &r);
	CHECK(store_begin(f->s, CAUSE));
	CHECK(store_list_complete(
	    f->s, f->src, "oai_dc", "", "2024-01-01T10:00:00Z", CAUSE));
	CHECK(store_list_checkpoint(
	    f->s, f->src, "oai_dc", "physics", &ls, CAUSE));
	CHECK(store_commit(f->s, CAUSE));
	CHECK(store_run_end(
	    f->s, run, "failed", &rs, "HTTP 503 from server", CAUSE));

	out = capture_status(f->s);
	assert_non_null(strstr(out, "source nur\n"));
	assert_non_null(strstr(out, "https://nur.example/oai"));
	/* Quoted because of the quotes in it. */
	assert_non_null(strstr(out, "\"NUR \\\"Open\\\" Repository\""));
	assert_non_null(strstr(out, "granularity    YYYY-MM-DD\n"));
	assert_non_null(strstr(out, "earliest       2001-01-01\n"));
	assert_non_null(strstr(out, "deletedRecord  persistent\n"));
	assert_non_null(strstr(out, "#1 failed, started "));
	assert_non_null(strstr(out,
	    "pages 3, records 250: new 10, updated 2,"
	    " deleted 1, unchanged 237; bytes 123456"));
	assert_non_null(strstr(out, "error: HTTP 503 from server"));
	assert_non_null(strstr(out, "oai_dc: 2 present, 1 deleted"));
	assert_non_null(strstr(out,
	    "oai_dc (whole repository): watermark "
	    "2024-01-01T10:00:00Z\n"));
	assert_non_null(strstr(out,
	    "oai_dc physics: watermark -; in progress: "
	    "pages 3, token \"tok\\x1b[2J\", progress 2024-01-05, cursor 200 "
	    "of 1000\n"));
	/* No raw escape character reaches the terminal. */
	assert_null(strchr(out, '\x1b'));
	free(out);
}

/* Throughput: prints, never asserts a time. */

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
test_throughput(void **state)
{
	struct fx *f = *state;
	enum {
		NREC = 20000,
		PAGE = 200,
		NDC = 15
	};
	static const char *const el[NDC] = { "title", "creator", "creator",
		"creator", "subject", "subject", "subject", "description",
		"publisher", "date", "type", "format", "identifier", "language",
		"rights" };
	static const char *const sets[] = { "col:physics", "type:article" };
	struct store_dc		 dc[NDC];
	struct store_record	 r;
	enum store_change	 c;
	char			 id[32], vals[NDC][256], meta[4096];
	double			 t0, dt;
	int			 i, j, pass, want;

	for (pass = 0; pass < 2; pass++) {
		t0 = now_s();
		for (i = 0; i < NREC; i++) {
			if (i % PAGE == 0)
				CHECK(store_begin(f->s, CAUSE));
			snprintf(id, sizeof(id), "oai:bench:%06d", i);
			for (j = 0; j < NDC; j++) {
				snprintf(vals[j], sizeof(vals[j]),
				    "%s value %d of record %d%s", el[j], j, i,
				    j == 7 ? ": a longer abstract-like text "
					     "that goes on for a while, as "
					     "descriptions "
					     "do in real repositories." :
					     "");
				dc[j].element = el[j];
				dc[j].value = vals[j];
				dc[j].lang = j == 0 ? "en" : NULL;
			}
			snprintf(meta, sizeof(meta),
			    "<oai_dc:dc xmlns:oai_dc="
			    "\"http://www.openarchives.org/OAI/2.0/oai_dc/\" "
			    "xmlns:dc=\"http://purl.org/dc/elements/1.1/\">"
			    "<dc:title>%s</dc:title><dc:description>%s"
			    "</dc:description>%.*s</oai_dc:dc>",
			    vals[0], vals[7], 1200,
			    "<dc:subject>padding padding "
			    "padding padding padding padding padding padding "
			    "padding padding padding padding padding padding "
			    "padding</dc:subject><dc:subject>padding padding "
			    "padding padding padding padding padding padding "
			    "padding padding padding padding</dc:subject>");
			memset(&r, 0, sizeof(r));
			r.prefix = "oai_dc";
			r.identifier = id;
			r.datestamp = "2024-01-01T00:00:00Z";
			r.sets = sets;
			r.nsets = nitems(sets);
			r.metadata = meta;
			r.metadata_len = strlen(meta);
			r.dc = dc;
			r.ndc = NDC;
			CHECK(store_put(f->s, f->src, 0, &r, &c, CAUSE));
			want = pass == 0 ? STORE_NEW : STORE_UNCHANGED;
			assert_int_equal(c, want);
			if (i % PAGE == PAGE - 1)
				CHECK(store_commit(f->s, CAUSE));
		}
		dt = now_s() - t0;
		printf("# store: %s %d records (%d DC values each) in "
		       "%d-record transactions: %.2f s, %.0f records/s\n",
		    pass == 0 ? "inserted" : "re-put unchanged", NREC, NDC,
		    PAGE, dt, NREC / dt);
	}
	assert_sql(f,
	    "SELECT (SELECT count(*) FROM record),"
	    " (SELECT count(*) FROM dc), (SELECT count(*) FROM change)",
	    "20000|300000|20000\n");
}

/* Search */

static char *
capture_search(struct fx *f, const char *q)
{
	FILE *fp = out_open();

	CHECK(feed_search(f->s, q, NULL, 10, fp, CAUSE));
	return out_take(fp);
}

/* The index agrees with content (FTS5 compares every term). */
/*
 * The index is sound and holds exactly the terms of record_fts_doc, at
 * the same places: SQLite 3.40's integrity-check does not compare an
 * external-content index with its content, so every term instance is
 * compared with an index built afresh, by SQLite's own unicode61 (the
 * store's stands in for it on the store's connection only).
 */
static void
assert_fts_sound(struct fx *f)
{
	sqlite3	     *db;
	sqlite3_stmt *st;

	sql_exec(f->path,
	    "INSERT INTO record_fts (record_fts)"
	    " VALUES ('integrity-check')");
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	if (sqlite3_exec(db,
		"CREATE VIRTUAL TABLE temp.ref USING fts5 (title, creator,"
		" subject, description,"
		" tokenize = 'unicode61 remove_diacritics 2');"
		"INSERT INTO temp.ref (rowid, title, creator, subject,"
		" description) SELECT record_id, title, creator, subject,"
		" description FROM record_fts_doc;"
		"CREATE VIRTUAL TABLE temp.vi USING fts5vocab (main, "
		"record_fts,"
		" instance);"
		"CREATE VIRTUAL TABLE temp.vr USING fts5vocab (temp, ref,"
		" instance);",
		NULL, NULL, NULL) != SQLITE_OK)
		fail_msg("reference index: %s", sqlite3_errmsg(db));
	assert_int_equal(
	    sqlite3_prepare_v2(db,
		"SELECT (SELECT count(*) FROM (SELECT * FROM temp.vi EXCEPT"
		" SELECT * FROM temp.vr)), (SELECT count(*) FROM (SELECT * FROM"
		" temp.vr EXCEPT SELECT * FROM temp.vi))",
		-1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	if (sqlite3_column_int(st, 0) != 0 || sqlite3_column_int(st, 1) != 0)
		fail_msg("index and content differ: %d term instances only "
			 "in the index, %d only in the content",
		    sqlite3_column_int(st, 0), sqlite3_column_int(st, 1));
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static void
assert_search(struct fx *f, const char *q, const char *want)
{
	char *out = capture_search(f, q);

	if (want == NULL)
		assert_string_equal(out, "");
	else if (strstr(out, want) == NULL)
		fail_msg("search %s: %s not in %s", q, want, out);
	free(out);
}

/*
 * The full-text index follows every content change: a search never finds a
 * record by a title it no longer has, or a record that is deleted, and the
 * terms the triggers take out are the ones store_put put in (values with
 * line breaks, quotes, control characters, empty values, several titles).
 */
static void
test_fts_in_step(void **state)
{
	struct fx		    *f = *state;
	static const struct store_dc dc1[] = {
		{ "title", "Zebra crossings", "en" },
		{ "title", "", NULL },
		{ "creator", "Пушкин, А. С.", "ru" },
		{ "subject", "Say \"hi\"\nthen\tgo \\ home", NULL },
		{ "description",
		    "ctl\001"
		    "end of Almatý",
		    NULL },
		{ "title", "Второе заглавие", "ru" },
		{ "language", "en", NULL },
	};
	static const struct store_dc dc2[] = {
		{ "description", "Gamma rays", NULL },
		{ "title", "Okapi", NULL },
	};
	struct store_record r, o;

	r = mkrec("oai:f:1", "2024-01-01", 0, META1);
	r.dc = dc1;
	r.ndc = nitems(dc1);
	assert_int_equal(put(f, &r), STORE_NEW);
	o = mkrec("oai:f:2", "2024-01-01", 0, META1);
	assert_int_equal(put(f, &o), STORE_NEW);
	assert_fts_sound(f);
	assert_search(f, "zebra", "\"identifier\":\"oai:f:1\"");
	assert_search(f, "zebra", "\"title\":\"Zebra crossings\"");
	assert_search(f, "zebra", "[Zebra] crossings");
	assert_search(f, "almaty", "[Almatý]");
	assert_search(f, "пушкин", "oai:f:1");
	assert_search(f, "title:заглавие", "oai:f:1");
	assert_search(f, "\"zebra crossings\"", "oai:f:1");
	assert_search(f, "physics", "oai:f:2");

	/* Updated: the old terms go, the new ones come. */
	r = mkrec("oai:f:1", "2024-01-02", 0, META2);
	r.dc = dc2;
	r.ndc = nitems(dc2);
	assert_int_equal(put(f, &r), STORE_UPDATED);
	assert_fts_sound(f);
	assert_search(f, "zebra", NULL);
	assert_search(f, "пушкин", NULL);
	assert_search(f, "okapi", "\"title\":\"Okapi\"");
	assert_search(f, "gamma", "[Gamma] rays");

	/* Unchanged but for the datestamp: nothing moves. */
	r.datestamp = "2024-01-03";
	assert_int_equal(put(f, &r), STORE_UNCHANGED);
	assert_search(f, "okapi", "oai:f:1");

	/* Deleted: gone from the index; the other record stays. */
	r = mkrec("oai:f:1", "2024-01-04", 1, NULL);
	assert_int_equal(put(f, &r), STORE_DELETED);
	assert_fts_sound(f);
	assert_search(f, "okapi", NULL);
	assert_search(f, "gamma", NULL);
	assert_search(f, "physics", "oai:f:2");

	/* Back again. */
	r = mkrec("oai:f:1", "2024-01-05", 0, META1);
	r.dc = dc1;
	r.ndc = nitems(dc1);
	assert_int_equal(put(f, &r), STORE_NEW);
	assert_fts_sound(f);
	assert_search(f, "zebra", "oai:f:1");

	/* A record row deleted by hand takes its terms along. */
	store_close(f->s);
	f->s = NULL;
	sql_exec(f->path, "DELETE FROM record WHERE identifier = 'oai:f:1'");
	reopen(f, 0);
	assert_fts_sound(f);
	assert_search(f, "zebra", NULL);
	assert_search(f, "physics", "oai:f:2");
	/* A rebuild from the view gives the index the store keeps. */
	sql_exec(f->path,
	    "INSERT INTO record_fts (record_fts)"
	    " VALUES ('rebuild')");
	assert_fts_sound(f);
	assert_search(f, "physics", "oai:f:2");
	/* No copy of the text: record_fts_content is gone. */
	assert_sql(f,
	    "SELECT count(*) FROM sqlite_schema"
	    " WHERE name = 'record_fts_content'",
	    "0\n");
	assert_sql(
	    f, "SELECT v FROM record_fts_config WHERE k = 'automerge'", "32\n");
}

/* Put r on store s in a transaction of its own. */
static enum store_change
put_on(struct fx *f, struct store *s, const struct store_record *r)
{
	enum store_change c = STORE_UNCHANGED;

	CHECK(store_begin(s, CAUSE));
	CHECK(store_put(s, f->src, f->run, r, &c, CAUSE));
	CHECK(store_commit(s, CAUSE));
	return c;
}

/*
 * The page writer's connection (STORE_TRAIL) lets the index trail its
 * commits and catches up when the run ends; meanwhile another connection
 * that commits indexes what it owes too, and records change and go on
 * both: the index never holds a record twice, nor stale or deleted terms.
 */
static void
test_fts_trails(void **state)
{
	struct fx		    *f = *state;
	static const struct store_dc dc_a[] = { { "title", "Aardvark", NULL } };
	static const struct store_dc dc_b[] = { { "title", "Bison", NULL } };
	static const struct store_dc dc_c[] = { { "title", "Caracal", NULL } };
	struct store_run_stats	     rs;
	struct store_record	     r;
	struct store		    *w;
	char			     id[32];
	int64_t			     run;
	int			     i;

	w = store_open(f->path, STORE_TRAIL, CAUSE);
	assert_non_null(w);
	run = store_run_begin(w, f->src, CAUSE);
	assert_true(run > 0);
	for (i = 1; i <= 20; i++) {
		snprintf(id, sizeof(id), "oai:t:%d", i);
		r = mkrec(id, "2024-01-01", 0, META1);
		r.dc = i % 2 ? dc_a : dc_b;
		r.ndc = 1;
		assert_int_equal(put_on(f, w, &r), STORE_NEW);
	}
	/* Trailing: not searchable yet, but owed. */
	assert_sql(f, "SELECT count(*) FROM fts_pending", "20\n");
	assert_search(f, "aardvark", NULL);
	/* Updated and deleted while owed. */
	r = mkrec("oai:t:1", "2024-01-02", 0, META2);
	r.dc = dc_c;
	r.ndc = 1;
	assert_int_equal(put_on(f, w, &r), STORE_UPDATED);
	r = mkrec("oai:t:3", "2024-01-02", 1, NULL);
	assert_int_equal(put_on(f, w, &r), STORE_DELETED);
	for (i = 22; i <= 25; i++) {
		snprintf(id, sizeof(id), "oai:t:%d", i);
		r = mkrec(id, "2024-01-01", 0, META1);
		r.dc = dc_a;
		r.ndc = 1;
		assert_int_equal(put_on(f, w, &r), STORE_NEW);
	}

	/* Another connection's commit indexes all that is owed. */
	r = mkrec("oai:t:other", "2024-01-01", 0, META1);
	r.dc = dc_c;
	r.ndc = 1;
	assert_int_equal(put(f, &r), STORE_NEW);
	assert_sql(f, "SELECT count(*) FROM fts_pending", "0\n");
	assert_fts_sound(f);

	/* The writer goes on: indexed records change and go. */
	r = mkrec("oai:t:5", "2024-01-03", 0, META2);
	r.dc = dc_c;
	r.ndc = 1;
	assert_int_equal(put_on(f, w, &r), STORE_UPDATED);
	r = mkrec("oai:t:7", "2024-01-03", 1, NULL);
	assert_int_equal(put_on(f, w, &r), STORE_DELETED);
	r = mkrec("oai:t:21", "2024-01-03", 0, META1);
	r.dc = dc_b;
	r.ndc = 1;
	assert_int_equal(put_on(f, w, &r), STORE_NEW);
	assert_sql(f, "SELECT count(*) FROM fts_pending", "3\n");

	/* The run ends: caught up, each record once. */
	memset(&rs, 0, sizeof(rs));
	CHECK(store_run_end(w, run, "ok", &rs, NULL, CAUSE));
	assert_sql(f, "SELECT count(*) FROM fts_pending", "0\n");
	assert_fts_sound(f);
	assert_sql(f,
	    "SELECT count(*) FROM record_fts WHERE record_fts MATCH 'aardvark'",
	    "10\n");
	assert_sql(f,
	    "SELECT count(*) FROM record_fts WHERE record_fts MATCH 'caracal'",
	    "3\n");
	assert_sql(f,
	    "SELECT count(*) FROM record_fts WHERE record_fts MATCH 'bison'",
	    "11\n");
	store_close(w);
}

/*
 * Plain text always searches: words FTS5 would take for syntax (a hyphen, an
 * apostrophe, "+", "a:b" with a that is no column, an unbalanced quote,
 * "NEAR(", a lone "*", "-x", "AND" alone, nothing at all) find the records
 * holding them, as phrases of their tokens; the syntax still works where it
 * is syntax (phrases, prefix*, column:, AND, OR, NOT).
 */
static void
test_search_plain_words(void **state)
{
	struct fx		    *f = *state;
	static const struct store_dc dc1[] = {
		{ "title", "Taylor-Jones on COVID-19", NULL },
		{ "creator", "O'Brien, Pat", NULL },
		{ "subject", "C++", NULL },
		{ "description", "ratio a:b, NEAR( and -x", NULL },
	};
	static const struct store_dc dc2[] = {
		{ "title", "Jones and Taylor", NULL },
		{ "creator", "Brien, O.", NULL },
		{ "description", "covid in 19 wards", NULL },
	};
	static const struct store_dc dc3[] = {
		{ "title", "Zebra", NULL },
		{ "description", "Taylor", NULL },
	};
	static const struct store_dc *const dcs[] = { dc1, dc2, dc3 };
	static const size_t ndcs[] = { nitems(dc1), nitems(dc2), nitems(dc3) };
	/* want: a bit per record, 1 << (n - 1) for oai:q:n. */
	static const struct {
		const char *q;
		int	    want;
	} cases[] = {
		{ "Taylor-Jones", 1 },
		{ "COVID-19", 1 },
		{ "O'Brien", 1 },
		{ "C++", 1 },
		{ "a:b", 1 },
		{ "\"Taylor-Jones", 1 },
		{ "Taylor-Jones\"", 1 },
		{ "NEAR(", 1 },
		{ "*", 0 },
		{ "-x", 1 },
		{ "AND", 3 },
		{ "", 0 },
		{ "  \t ", 0 },
		{ "title:Taylor-Jones", 1 },
		{ "COVID-19 AND O'Brien", 1 },
		{ "Taylor-Jones OR zebra", 5 },
		{ "taylor NOT Taylor-Jones", 6 },
		{ "O'Bri*", 1 },
		/* Syntax, where it is syntax. */
		{ "taylor", 7 },
		{ "\"taylor jones\"", 1 },
		{ "\"O'Brien\"", 1 },
		{ "title:taylor", 3 },
		{ "description:taylor", 4 },
		{ "taylor NOT jones", 4 },
		{ "zebra OR pat", 5 },
		{ "zeb*", 4 },
		{ "covid AND 19", 3 },
		{ "\"covid 19\"", 1 },
		{ "NEAR(jones taylor, 2)", 3 },
	};
	struct store_record r;
	char		    id[16], want[64], *out;
	size_t		    i, j, n;
	int		    lines;

	for (i = 0; i < nitems(dcs); i++) {
		snprintf(id, sizeof(id), "oai:q:%zu", i + 1);
		r = mkrec(id, "2024-01-01", 0, META1);
		r.dc = dcs[i];
		r.ndc = ndcs[i];
		assert_int_equal(put(f, &r), STORE_NEW);
	}
	for (i = 0; i < nitems(cases); i++) {
		out = capture_search(f, cases[i].q);
		for (lines = 0, j = 0; out[j] != '\0'; j++)
			lines += out[j] == '\n';
		for (n = 0, j = 0; j < nitems(dcs); j++) {
			snprintf(want, sizeof(want),
			    "\"identifier\":\"oai:q:%zu\"", j + 1);
			if ((strstr(out, want) != NULL) !=
			    ((cases[i].want >> j) & 1))
				fail_msg("search [%s]: oai:q:%zu %s: %s",
				    cases[i].q, j + 1,
				    (cases[i].want >> j) & 1 ? "not found" :
							       "found",
				    out);
			n += (cases[i].want >> j) & 1;
		}
		assert_int_equal(lines, n);
		free(out);
	}
}

/*
 * An update takes the old terms out by reading content.dc in C when it is
 * as store.c writes it (escapes, languages with quotes, several values of
 * a column), and through the view record_fts_doc when it is not (written
 * by hand, with blanks and other escapes): both leave the index sound.
 */
static void
test_fts_update_paths(void **state)
{
	struct fx		    *f = *state;
	static const struct store_dc dc1[] = {
		{ "subject", "Tab\there \"quoted\" back\\slash", "a\"b" },
		{ "title", "Quagga\r\nline", NULL },
		{ "subject", "bell\007ringer", NULL },
		{ "description", "", NULL },
		{ "rights", "Kept out", NULL },
	};
	static const struct store_dc dc2[] = {
		{ "title", "Narwhal", NULL },
	};
	struct store_record r;

	r = mkrec("oai:u:1", "2024-01-01", 0, META1);
	r.dc = dc1;
	r.ndc = nitems(dc1);
	assert_int_equal(put(f, &r), STORE_NEW);
	r = mkrec("oai:u:1", "2024-01-02", 0, META2);
	r.dc = dc2;
	r.ndc = nitems(dc2);
	assert_int_equal(put(f, &r), STORE_UPDATED);
	assert_fts_sound(f);
	assert_search(f, "quagga", NULL);
	assert_search(f, "ringer", NULL);
	assert_search(f, "narwhal", "oai:u:1");

	/* By hand: blanks and escapes store.c never writes. */
	store_close(f->s);
	f->s = NULL;
	sql_exec(f->path,
	    "UPDATE content SET dc ="
	    " '[ [0, \"Caf\\u00e9 \\/ Okapi\"] , [2,\"Yak\"] ]'"
	    " WHERE record_id = (SELECT id FROM record"
	    " WHERE identifier = 'oai:u:1');"
	    /* The triggers only take terms out: the new ones by hand. */
	    "INSERT INTO record_fts (rowid, title, creator, subject,"
	    " description) SELECT record_id, title, creator, subject,"
	    " description FROM record_fts_doc WHERE record_id = (SELECT id"
	    " FROM record WHERE identifier = 'oai:u:1')");
	reopen(f, 0);
	assert_fts_sound(f);
	assert_search(f, "okapi", "oai:u:1");
	r = mkrec("oai:u:1", "2024-01-03", 0, META1);
	r.dc = dc1;
	r.ndc = nitems(dc1);
	assert_int_equal(put(f, &r), STORE_UPDATED);
	assert_fts_sound(f);
	assert_search(f, "okapi", NULL);
	assert_search(f, "yak", NULL);
	assert_search(f, "quagga", "oai:u:1");
	assert_search(f, "\"kept out\"", NULL);
}

/* Canonical UTF-8 for test_fts_tokenizer_same. */
static void
tokenize_utf8(struct buf *b, uint32_t c)
{
	if (c < 0x80)
		buf_addch(b, (char)c);
	else if (c < 0x800) {
		buf_addch(b, (char)(0xc0 | c >> 6));
		buf_addch(b, (char)(0x80 | (c & 0x3f)));
	} else if (c < 0x10000) {
		buf_addch(b, (char)(0xe0 | c >> 12));
		buf_addch(b, (char)(0x80 | (c >> 6 & 0x3f)));
		buf_addch(b, (char)(0x80 | (c & 0x3f)));
	} else {
		buf_addch(b, (char)(0xf0 | c >> 18));
		buf_addch(b, (char)(0x80 | (c >> 12 & 0x3f)));
		buf_addch(b, (char)(0x80 | (c >> 6 & 0x3f)));
		buf_addch(b, (char)(0x80 | (c & 0x3f)));
	}
}

/* splitmix64: the same bytes every run. */
static uint64_t
tokenize_rand(uint64_t *s)
{
	uint64_t z;

	z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* One character (or byte) of text for test_fts_tokenizer_same. */
static void
tokenize_mixed(struct buf *b, uint64_t *rng)
{
	static const uint32_t from[] = { 0x20, 0x41, 0x61, 0x30, 0xc0, 0x400,
		0x300, 0x4e00, 0x2010 };
	static const uint32_t span[] = { 16, 26, 26, 10, 64, 256, 112, 64, 32 };
	uint64_t	      r = tokenize_rand(rng);
	size_t		      k = (size_t)(r % 16);

	r >>= 8;
	if (k == 15) { /* a stray byte: a lead or a continuation */
		buf_addch(b, (char)(0x80 + r % 0x80));
		return;
	}
	if (k >= nitems(from))
		k = k % 3; /* more spaces and letters */
	tokenize_utf8(b, from[k] + (uint32_t)(r % span[k]));
}

/* Tokens as "start end text" lines, to compare two tokenizers' output. */
static int
tokens_cb(void *ctx, int flags, const char *tok, int len, int start, int end)
{
	struct buf *b = ctx;

	buf_printf(b, "%d %d ", start, end);
	buf_add(b, tok, (size_t)len);
	buf_addch(b, '\n');
	return SQLITE_OK;
}

static fts5_api *
fts5_api_of(sqlite3 *db)
{
	fts5_api     *api = NULL;
	sqlite3_stmt *st;

	assert_int_equal(
	    sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL),
	    SQLITE_OK);
	sqlite3_bind_pointer(st, 1, &api, "fts5_api_ptr", NULL);
	sqlite3_step(st);
	sqlite3_finalize(st);
	assert_non_null(api);
	return api;
}

/*
 * The store's "unicode61" (store/tokenize.c) gives the tokens, offsets and
 * folded text SQLite's own gives, on every code point alone, after a letter
 * and before one, and on random bytes (malformed UTF-8 too), with the
 * schema's arguments and others: an index it writes reads the same in the
 * sqlite3 shell.
 */
static void
test_fts_tokenizer_same(void **state)
{
	static const char *const args[][4] = {
		{ "remove_diacritics", "2" },
		{ NULL },
		{ "remove_diacritics", "0", "tokenchars", "-_\xc2\xb7" },
		{ "separators", "xé", "categories", "L* N* Co Mn" },
	};
	static const int nargs[] = { 2, 0, 4, 4 };
	sqlite3		*db[2];
	fts5_api	*api[2];
	fts5_tokenizer	 tk[2];
	Fts5Tokenizer	*t[2];
	void		*ctx;
	struct buf	 text, out[2];
	uint64_t	 rng = 42;
	uint32_t	 c;
	size_t		 a, i, k, n;
	int		 j;

	(void)state;
	for (j = 0; j < 2; j++) {
		assert_int_equal(sqlite3_open(":memory:", &db[j]), SQLITE_OK);
		buf_init(&out[j], SIZE_MAX / 4);
	}
	assert_int_equal(store_tokenize_register(db[1]), SQLITE_OK);
	buf_init(&text, SIZE_MAX / 4);
	for (a = 0; a < nitems(args); a++) {
		for (j = 0; j < 2; j++) {
			api[j] = fts5_api_of(db[j]);
			assert_int_equal(api[j]->xFindTokenizer(
					     api[j], "unicode61", &ctx, &tk[j]),
			    SQLITE_OK);
			assert_int_equal(
			    tk[j].xCreate(
				ctx, (const char **)args[a], nargs[a], &t[j]),
			    SQLITE_OK);
		}
		assert_ptr_not_equal(tk[0].xTokenize, tk[1].xTokenize);
		for (k = 0; k < 0x110000 / 256 + 128; k++) {
			buf_reset(&text);
			if (k < 0x110000 / 256) {
				/* 256 code points, each alone, in a word. */
				for (i = 0; i < 256; i++) {
					c = (uint32_t)(k * 256 + i);
					if (c == 0 ||
					    (c >= 0xd800 && c < 0xe000))
						continue;
					buf_addch(&text, ' ');
					tokenize_utf8(&text, c);
					buf_addstr(&text, " b");
					tokenize_utf8(&text, c);
					tokenize_utf8(&text, c);
					buf_addstr(&text, "Z ");
				}
			} else if (k < 0x110000 / 256 + 64) {
				/* Random bytes. */
				n = 1 + (size_t)(tokenize_rand(&rng) % 4000);
				for (i = 0; i < n; i++)
					buf_addch(&text,
					    (char)(1 +
						tokenize_rand(&rng) % 255));
			} else {
				/*
				 * Words: ASCII, Latin-1, Cyrillic, combining
				 * marks, CJK, now and then a stray byte.
				 */
				n = 1 + (size_t)(tokenize_rand(&rng) % 300);
				for (i = 0; i < n; i++)
					tokenize_mixed(&text, &rng);
			}
			for (j = 0; j < 2; j++) {
				buf_reset(&out[j]);
				assert_int_equal(
				    tk[j].xTokenize(t[j], &out[j],
					FTS5_TOKENIZE_DOCUMENT, text.data,
					(int)text.len, tokens_cb),
				    SQLITE_OK);
			}
			if (out[0].len != out[1].len ||
			    memcmp(out[0].data, out[1].data, out[0].len) != 0)
				fail_msg("arguments %zu, text %zu: tokens "
					 "differ",
				    a, k);
		}
		for (j = 0; j < 2; j++)
			tk[j].xDelete(t[j]);
	}
	for (j = 0; j < 2; j++) {
		buf_free(&out[j]);
		sqlite3_close(db[j]);
	}
	buf_free(&text);
}

/*
 * Make the fixture's database a file of schema version (made by the first
 * version migrations, with data in it), not yet opened by the store.
 */
static void
old_database(struct fx *f, int version, const char *data)
{
	struct buf b;
	char	  *p;
	int	   v;

	xasprintf(&p, "%s/v%d.db", f->dir, version);
	buf_init(&b, 1 << 20);
	for (v = 0; v < version; v++) {
		if (store_migrations[v].setup != NULL) {
			buf_addstr(&b, store_migrations[v].setup);
			buf_addstr(&b, ";");
		}
	}
	buf_addstr(&b, "BEGIN;");
	for (v = 0; v < version; v++)
		buf_addstr(&b, store_migrations[v].sql);
	buf_addstr(&b, data);
	buf_printf(&b, "PRAGMA user_version = %d; COMMIT;", version);
	sql_exec(p, buf_str(&b));
	buf_free(&b);
	store_close(f->s);
	f->s = NULL;
	free(f->path);
	f->path = p;
}

/*
 * A version 4 database (full-text index with its own copy of the text)
 * upgrades: the index is rebuilt from content and searches as before.
 */
static void
test_migrate_fts(void **state)
{
	struct fx *f = *state;
	char	  *q;

	old_database(f, 4,
	    "INSERT INTO source (id, name, created) VALUES (1, 'old', 'x');"
	    "INSERT INTO record (id, source_id, prefix, identifier, datestamp,"
	    " deleted, hash, first_seen, last_seen) VALUES"
	    " (7, 1, 'oai_dc', 'oai:old:7', '2020', 0, 1, 'x', 'x'),"
	    " (8, 1, 'oai_dc', 'oai:old:8', '2020', 0, 2, 'x', 'x');"
	    "INSERT INTO content (record_id, dc) VALUES"
	    " (7, '[[0,\"Ancient zebra\"],[3,\"about\\nstripes\"]]'),"
	    " (8, '[[1,\"Doe\"],[2,\"Okapi\"],[2,\"Giraffe\"]]');"
	    "INSERT INTO record_fts (rowid, title, creator, subject,"
	    " description) VALUES (7, 'Ancient zebra', '', '',"
	    " 'about\nstripes'), (8, '', 'Doe', 'Okapi\nGiraffe', '');");
	reopen(f, 0);
	xasprintf(&q, "%zu\n", store_nmigrations);
	assert_sql(f, "PRAGMA user_version", q);
	free(q);
	assert_fts_sound(f);
	assert_search(f, "zebra", "\"identifier\":\"oai:old:7\"");
	assert_search(f, "stripes", "about\\n[stripes]");
	assert_search(f, "giraffe", "oai:old:8");
	assert_sql(f,
	    "SELECT title, description FROM record_fts_doc"
	    " WHERE record_id = 7",
	    "Ancient zebra|about\nstripes\n");
	assert_sql(f,
	    "SELECT count(*) FROM sqlite_schema"
	    " WHERE name = 'record_fts_content'",
	    "0\n");
}

/*
 * A version 5 database (full-text index merging eight segments at a time)
 * upgrades to 32 at a time, crisismerge 128, and its index is unchanged.
 */
static void
test_migrate_fts_merge(void **state)
{
	struct fx *f = *state;
	char	  *q;

	old_database(f, 5,
	    "INSERT INTO source (id, name, created) VALUES (1, 'old', 'x');"
	    "INSERT INTO record (id, source_id, prefix, identifier, datestamp,"
	    " deleted, hash, first_seen, last_seen) VALUES"
	    " (7, 1, 'oai_dc', 'oai:old:7', '2020', 0, 1, 'x', 'x');"
	    "INSERT INTO content (record_id, dc) VALUES"
	    " (7, '[[0,\"Ancient zebra\"],[3,\"about\\nstripes\"]]');"
	    "INSERT INTO record_fts (rowid, title, creator, subject,"
	    " description) VALUES (7, 'Ancient zebra', NULL, NULL,"
	    " 'about\nstripes');");
	assert_sql(
	    f, "SELECT v FROM record_fts_config WHERE k = 'automerge'", "8\n");
	reopen(f, 0);
	xasprintf(&q, "%zu\n", store_nmigrations);
	assert_sql(f, "PRAGMA user_version", q);
	free(q);
	assert_sql(f,
	    "SELECT k, v FROM record_fts_config"
	    " WHERE k IN ('automerge', 'crisismerge') ORDER BY k",
	    "automerge|32\ncrisismerge|128\n");
	assert_fts_sound(f);
	assert_search(f, "zebra", "\"identifier\":\"oai:old:7\"");
	assert_search(f, "stripes", "about\\n[stripes]");
}

/*
 * A version 6 database (hashes of the metadata bytes) upgrades at once,
 * and a record hashed the old way is hashed again from its stored XML
 * (kept whole, or as a template and DC values) when it comes again, so
 * that the first harvest after the upgrade finds the same metadata,
 * written another way, unchanged.
 */
#define TMPL_META1 \
	"<oai_dc:dc xmlns:oai_dc=\"http://www.openarchives.org/OAI/2.0/" \
	"oai_dc/\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\">" \
	"<dc:title xml:lang=\"en\">A title</dc:title><dc:creator>Doe, J." \
	"</dc:creator><dc:subject>Physics</dc:subject></oai_dc:dc>"
#define TMPL_META2 \
	"<oai_dc:dc xmlns:dc='http://purl.org/dc/elements/1.1/' " \
	"xmlns:oai_dc='http://www.openarchives.org/OAI/2.0/oai_dc/'>" \
	"<dc:title xml:lang='en'>A title</dc:title><dc:creator>Doe, J." \
	"</dc:creator><dc:subject>Physics</dc:subject></oai_dc:dc>"

/* record.hash as version 6 made it, for sets a and b; NULL: deleted. */
static uint64_t
v6_hash(const char *meta)
{
	unsigned char head[9] = { 0, 2 };
	uint64_t      h;

	head[0] = meta == NULL;
	h = hash_add(HASH_INIT, head, sizeof(head));
	h = hash_add(h, "a", 2);
	h = hash_add(h, "b", 2);
	if (meta != NULL)
		h = store_xxh64(meta, strlen(meta), h);
	return h;
}

static void
test_migrate_rehash(void **state)
{
	struct fx	   *f = *state;
	struct store_record r;
	char		   *q, *want;

	r = mkrec("oai:x:whole", "2024-01-01", 0, C14N_BASE);
	assert_int_equal(put(f, &r), STORE_NEW);
	r = mkrec("oai:x:tmpl", "2024-01-01", 0, TMPL_META1);
	assert_int_equal(put(f, &r), STORE_NEW);
	r = mkrec("oai:x:gone", "2024-01-01", 1, NULL);
	assert_int_equal(put(f, &r), STORE_TOMBSTONE);
	assert_sql(f,
	    "SELECT r.identifier, c.template_id IS NOT NULL,"
	    " c.xml IS NOT NULL FROM record r JOIN content c"
	    " ON c.record_id = r.id ORDER BY r.id",
	    "oai:x:whole|0|1\noai:x:tmpl|1|0\n");
	/* What version 6 left: the hashes of the bytes. */
	store_close(f->s);
	f->s = NULL;
	xasprintf(&q,
	    "UPDATE record SET hash = %lld WHERE identifier ="
	    " 'oai:x:whole'; UPDATE record SET hash = %lld WHERE identifier ="
	    " 'oai:x:tmpl'; ALTER TABLE record DROP COLUMN c14n;"
	    " PRAGMA user_version = 6",
	    (long long)v6_hash(C14N_BASE), (long long)v6_hash(TMPL_META1));
	sql_exec(f->path, q);
	free(q);
	/* A deleted record's hash had no metadata and stays. */
	xasprintf(&want, "%lld\n", (long long)v6_hash(NULL));
	assert_sql(
	    f, "SELECT hash FROM record WHERE identifier = 'oai:x:gone'", want);

	reopen(f, 0);
	xasprintf(&q, "%zu\n", store_nmigrations);
	assert_sql(f, "PRAGMA user_version", q);
	free(q);
	assert_sql(
	    f, "SELECT hash FROM record WHERE identifier = 'oai:x:gone'", want);
	free(want);
	assert_sql(f, "SELECT count(*) FROM record WHERE c14n = 0", "3\n");
	r = mkrec("oai:x:whole", "2024-01-02", 0, c14n_same[0]);
	assert_int_equal(put(f, &r), STORE_UNCHANGED);
	r = mkrec("oai:x:tmpl", "2024-01-02", 0, TMPL_META2);
	assert_int_equal(put(f, &r), STORE_UNCHANGED);
	r = mkrec("oai:x:gone", "2024-01-02", 1, NULL);
	assert_int_equal(put(f, &r), STORE_UNCHANGED);
	assert_sql(f, "SELECT count(*) FROM change", "2\n");
	/* Hashed the new way from now on. */
	assert_sql(f, "SELECT count(*) FROM record WHERE c14n = 0", "0\n");
	r = mkrec("oai:x:whole", "2024-01-03", 0, C14N_BASE);
	assert_int_equal(put(f, &r), STORE_UNCHANGED);
	r = mkrec("oai:x:tmpl", "2024-01-03", 0, META1);
	assert_int_equal(put(f, &r), STORE_UPDATED);
	r = mkrec("oai:x:whole", "2024-01-04", 0, c14n_other[1]);
	assert_int_equal(put(f, &r), STORE_UPDATED);
}

/* Checkpoints on their own thread */

static long long
wal_bytes(struct fx *f)
{
	struct stat sb;
	char	   *wal;
	long long   n;

	xasprintf(&wal, "%s-wal", f->path);
	n = stat(wal, &sb) == 0 ? (long long)sb.st_size : 0;
	free(wal);
	return n;
}

/* Record n, new: 2 KB of text, unlike its neighbours'. */
static void
put_numbered(struct fx *f, int n)
{
	struct store_record r;
	struct store_dc	    dc;
	enum store_change   c;
	char		    id[32], title[64], meta[3000];

	snprintf(id, sizeof(id), "oai:x:%d", n);
	snprintf(title, sizeof(title), "Title %d", n);
	snprintf(meta, sizeof(meta),
	    "<dc><title>%s</title><description>%0*d"
	    "</description></dc>",
	    title, 2000, n);
	dc = (struct store_dc){ "title", title, NULL };
	r = mkrec(id, "2024-01-01", 0, meta);
	r.dc = &dc;
	r.ndc = 1;
	CHECK(store_put(f->s, f->src, 0, &r, &c, CAUSE));
	assert_int_equal(c, STORE_NEW);
}

/*
 * The checkpointer copies the WAL into the database on its own thread and
 * keeps the WAL bounded although the writer never pauses: at the cap the
 * writer copies the rest itself and the WAL starts again.  With small
 * sizes (pages): a pass for every STEP once the WAL holds TRIGGER, the
 * rest at CAP; each transaction adds some 5 pages (more when the
 * full-text index merges).
 */
static void
test_checkpoint_async(void **state)
{
	struct fx *f = *state;
	enum {
		TRIGGER = 16,
		STEP = 8,
		CAP = 64,
		NTX = 60,
		PERTX = 20,
		NTX2 = 12
	};
	struct store_ckpt_stats st, before;
	char		       *got;
	long long		wal, wal_max = 0, bound;
	int			i, k, tries;

	CHECK(store_checkpoint_async(f->s, TRIGGER, STEP, CAP, CAUSE));
	/* Twice is harmless. */
	CHECK(store_checkpoint_async(f->s, TRIGGER, STEP, CAP, CAUSE));
	for (i = 0; i < NTX; i++) {
		CHECK(store_begin(f->s, CAUSE));
		for (k = 0; k < PERTX; k++)
			put_numbered(f, i * PERTX + k);
		CHECK(store_commit(f->s, CAUSE));
		if ((wal = wal_bytes(f)) > wal_max)
			wal_max = wal;
	}
	/* A pass was asked for: the thread gets to it (bounded wait). */
	for (tries = 0; tries < 500; tries++) {
		store_checkpoint_stats(f->s, &st);
		if (st.passes > 0)
			break;
		usleep(10000);
	}
	print_message(
	    "# checkpoints: %lld on the thread, %lld inline, "
	    "%lld failed, WAL at most %lld pages, %lld bytes, commits of up "
	    "to %lld pages\n",
	    st.passes, st.inline_passes, st.failed, st.max_frames, wal_max,
	    st.max_txn);
	assert_true(st.passes > 0);
	assert_true(st.inline_passes > 0);
	assert_int_equal(st.failed, 0);
	/* At most the cap (or four commits) and the commit that passed it. */
	bound = st.max_txn * 4 > CAP ? st.max_txn * 4 : CAP;
	bound += st.max_txn;
	assert_true(st.max_frames >= CAP);
	assert_true(st.max_frames <= bound);
	/* The file too: the WAL started again from its beginning. */
	assert_true(wal_max <= 32 + bound * (16384 + 24));

	/*
	 * Commits 20 times as big: the cap stretches to four of them (else
	 * the writer would copy half of every two itself), no further.
	 */
	before = st;
	for (i = 0; i < NTX2; i++) {
		CHECK(store_begin(f->s, CAUSE));
		for (k = 0; k < PERTX * 20; k++)
			put_numbered(f, NTX * PERTX + i * PERTX * 20 + k);
		CHECK(store_commit(f->s, CAUSE));
	}
	store_checkpoint_stats(f->s, &st);
	print_message("# bigger commits: %lld passes, %lld inline, WAL at "
		      "most %lld pages, commits of up to %lld\n",
	    st.passes - before.passes, st.inline_passes - before.inline_passes,
	    st.max_frames, st.max_txn);
	/* Every commit passes CAP: without stretching, one pass each. */
	assert_true(st.inline_passes > before.inline_passes);
	assert_true(st.inline_passes - before.inline_passes <= NTX2 / 3);
	assert_true(st.max_txn > CAP);
	assert_true(st.max_frames <= 5 * st.max_txn);
	assert_int_equal(st.failed, 0);

	/* Nothing lost, nothing broken, once the store is closed. */
	store_close(f->s);
	f->s = NULL;
	got = sql(f->path, "PRAGMA integrity_check");
	assert_string_equal(got, "ok\n");
	free(got);
	assert_sql(f, "SELECT count(*), count(DISTINCT identifier) FROM record",
	    "6000|6000\n");
	assert_sql(f, "SELECT count(*) FROM change", "6000\n");
	assert_sql(f, "SELECT count(*) FROM record_fts('title')", "6000\n");
}

/*
 * A run left 'running' by a process killed with SIGKILL is marked failed,
 * error 'interrupted', when the next run of its source begins; the runs of
 * other sources are left alone.
 */
static void
test_run_interrupted(void **state)
{
	struct fx *f = *state;
	int64_t	   killed, other, next, src2;

	killed = store_run_begin(f->s, f->src, NULL);
	src2 = store_source(f->s, "two", "https://two.example/oai", 0, CAUSE);
	assert_true(killed > 0 && src2 > 0);
	other = store_run_begin(f->s, src2, NULL);
	assert_true(other > 0);
	next = store_run_begin(f->s, f->src, NULL);
	assert_true(next > killed);
	assert_sql(f,
	    "SELECT id = (SELECT min(id) FROM run), source_id = 1,"
	    " status, error, ended IS NOT NULL FROM run ORDER BY id",
	    "1|1|failed|interrupted|1\n"
	    "0|0|running|NULL|0\n"
	    "0|1|running|NULL|0\n");
	CHECK(store_run_end(f->s, next, "ok", NULL, NULL, CAUSE));
	CHECK(store_run_end(f->s, other, "ok", NULL, NULL, CAUSE));
	assert_sql(f,
	    "SELECT group_concat(status || '/' || ifnull(error, ''),"
	    " ' ') FROM (SELECT * FROM run ORDER BY id)",
	    "failed/interrupted ok/ ok/\n");
}

/*
 * A new file opened while another connection holds its write lock: setting
 * WAL mode upgrades a read lock, for which SQLite calls no busy handler, so
 * this failed at once with "journal_mode: database is locked" where it must
 * wait, as it does for an existing file.
 */
static void
test_open_new_file_locked(void **state)
{
	struct fx    *f = *state;
	struct store *s2;
	sqlite3	     *db;
	char	     *p, c = 0;
	pid_t	      pid;
	int	      fds[2], status;

	xasprintf(&p, "%s/new.db", f->dir);
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* Hold the write lock of the new, empty file for 400 ms. */
		close(fds[0]);
		if (sqlite3_open(p, &db) != SQLITE_OK ||
		    sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
			SQLITE_OK)
			_exit(1);
		if (write(fds[1], "x", 1) != 1)
			_exit(1);
		usleep(400 * 1000);
		sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
		sqlite3_close(db);
		_exit(0);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &c, 1), 1);
	close(fds[0]);
	if ((s2 = store_open(p, 0, CAUSE)) == NULL)
		fail_msg("store_open while locked: %s", cause_);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(
	    store_source(s2, "nur", "https://nur.example/oai", 0, CAUSE) > 0);
	store_close(s2);
	free(p);
}

/* Fields of other metadata formats (filed by name) */

#define MODS_HEAD "<mods xmlns=\"http://www.loc.gov/mods/v3\">"
#define MODS1 \
	MODS_HEAD "<titleInfo><title xml:lang=\"en\">Zebra studies</title>" \
		  "</titleInfo><abstract xml:lang=\"en\">About stripes &amp; " \
		  "quaggas</abstract><note>n1</note><note>n2</note></mods>"
#define MODS2 \
	MODS_HEAD \
	"<titleInfo><title xml:lang=\"en\">Zebra studies</title>" \
	"</titleInfo><abstract xml:lang=\"en\">About okapis</abstract>" \
	"<note>n1</note><note>n2</note></mods>"

static const struct store_dc mods1[] = {
	{ "title", "Zebra studies", "en" },
	{ "abstract", "About stripes & quaggas", "en" },
	{ "mods:note", "n1", NULL },
	{ "mods:note", "n2", NULL },
};
static const struct store_dc mods2[] = {
	{ "title", "Zebra studies", "en" },
	{ "abstract", "About okapis", "en" },
	{ "mods:note", "n1", NULL },
	{ "mods:note", "n2", NULL },
};

/*
 * A record with fields outside the 15 DC names (and a lang) is stored:
 * the names in content.dc in place of a code, in the dc view by name, its
 * XML as a template filled by position; only DC names are in the
 * full-text index.  Its hash is over the metadata: a value that changes
 * (with its metadata) is an update, the same record again is unchanged.
 */
static void
test_fields_put(void **state)
{
	struct fx	     *f = *state;
	struct store_record   r, rp;
	struct store_prepared p;
	struct store_prep    *prep;
	char		     *h1, *h2;

	r = mkrec("oai:m:1", "2024-01-01", 0, MODS1);
	r.prefix = "mods";
	r.dc = mods1;
	r.ndc = nitems(mods1);
	assert_int_equal(put(f, &r), STORE_NEW);
	assert_sql(f, "SELECT dc FROM content",
	    "[[0,\"Zebra studies\",\"en\"],[\"abstract\",\"About stripes & "
	    "quaggas\",\"en\"],[\"mods:note\",\"n1\"],[\"mods:note\","
	    "\"n2\"]]\n");
	check_content(f, &r, "template");
	assert_sql(f,
	    "SELECT element, value, lang FROM dc"
	    " WHERE element NOT IN (SELECT name FROM dc_element)"
	    " ORDER BY position",
	    "abstract|About stripes & quaggas|en\nmods:note|n1|NULL\n"
	    "mods:note|n2|NULL\n");
	assert_fts_sound(f);
	assert_search(f, "zebra", "oai:m:1");
	assert_search(f, "quaggas", NULL);

	/* Prepared elsewhere: the same rows. */
	prep = store_prep_new();
	r.identifier = "oai:m:prepared";
	CHECK(store_prepare(prep, &r, &p, CAUSE));
	rp = r;
	rp.dc = NULL;
	rp.ndc = 0;
	rp.metadata = NULL;
	assert_non_null(p.tmpl);
	rp.prep = &p;
	assert_int_equal(put(f, &rp), STORE_NEW);
	store_prep_free(prep);
	check_content(f, &r, "template");
	assert_sql(f,
	    "SELECT count(DISTINCT dc), count(DISTINCT template_id)"
	    " FROM content",
	    "1|1\n");

	/* Again as it was: unchanged, the same hash. */
	r.identifier = "oai:m:1";
	h1 = sql(f->path,
	    "SELECT hash FROM record WHERE identifier ="
	    " 'oai:m:1'");
	r.datestamp = "2024-01-02";
	assert_int_equal(put(f, &r), STORE_UNCHANGED);
	h2 = sql(f->path,
	    "SELECT hash FROM record WHERE identifier ="
	    " 'oai:m:1'");
	assert_string_equal(h1, h2);
	free(h2);

	/* A named field's value changes: an update, another hash. */
	r = mkrec("oai:m:1", "2024-01-03", 0, MODS2);
	r.prefix = "mods";
	r.dc = mods2;
	r.ndc = nitems(mods2);
	assert_int_equal(put(f, &r), STORE_UPDATED);
	h2 = sql(f->path,
	    "SELECT hash FROM record WHERE identifier ="
	    " 'oai:m:1'");
	assert_string_not_equal(h1, h2);
	free(h1);
	free(h2);
	check_content(f, &r, "template");
	assert_sql(f,
	    "SELECT kind FROM change WHERE identifier = 'oai:m:1'"
	    " ORDER BY seq",
	    "new\nupdated\n");
	/* The index took the old terms out (past the named fields). */
	assert_fts_sound(f);
	assert_search(f, "zebra", "oai:m:1");
	assert_int_equal(put(f, &r), STORE_UNCHANGED);

	/* Only named fields: no title, nothing indexed, all in the view. */
	r = mkrec("oai:m:2", "2024-01-01", 0, MODS2);
	r.prefix = "mods";
	r.dc = mods2 + 1;
	r.ndc = nitems(mods2) - 1;
	assert_int_equal(put(f, &r), STORE_NEW);
	check_content(f, &r, "template");
	r = mkrec("oai:m:2", "2024-01-02", 0, MODS1);
	r.prefix = "mods";
	r.dc = mods1 + 1;
	r.ndc = nitems(mods1) - 1;
	assert_int_equal(put(f, &r), STORE_UPDATED);
	check_content(f, &r, "template");
	assert_fts_sound(f);
}

/*
 * Export: DC values under "dc" as ever, the others under "fields" (names
 * in the order they first come, values in document order); a record with
 * none has no "fields" key.
 */
static void
test_fields_export(void **state)
{
	struct fx		    *f = *state;
	static const struct store_dc dc[] = {
		{ "abstract", "First \"abstract\"", "en" },
		{ "creator", "Doe, J.", NULL },
		{ "x_y.z-1", "odd name", NULL },
		{ "title", "Zebra", NULL },
		{ "abstract", "Второе", "ru" },
	};
	static const char want[] =
	    "{\"source\":\"nur\",\"identifier\":"
	    "\"oai:f:1\",\"prefix\":\"mods\",\"datestamp\":\"2024-01-01\","
	    "\"deleted\":false,\"sets\":[\"a\",\"b\"],\"dc\":{\"title\":"
	    "[\"Zebra\"],\"creator\":[\"Doe, J.\"]},\"fields\":{\"abstract\":"
	    "[\"First \\\"abstract\\\"\",\"Второе\"],\"x_y.z-1\":"
	    "[\"odd name\"]},\"metadata\":\"<mods/>\"}\n";
	struct store_record r;
	char		   *out, *line;

	r = mkrec("oai:f:1", "2024-01-01", 0, "<mods/>");
	r.prefix = "mods";
	r.dc = dc;
	r.ndc = nitems(dc);
	assert_int_equal(put(f, &r), STORE_NEW);
	r = mkrec("oai:f:2", "2024-01-01", 0, META1);
	assert_int_equal(put(f, &r), STORE_NEW);

	out = capture_export(f, NULL, NULL);
	assert_int_equal(count_lines(out), 2);
	line = nth_line(out, 0);
	assert_json(line, "json_valid(j)", "1");
	assert_json(line, "json_extract(j, '$.fields.abstract[1]')", "Второе");
	assert_json(line, "(SELECT group_concat(key) FROM json_each(j))",
	    "source,identifier,prefix,datestamp,deleted,sets,dc,fields,"
	    "metadata");
	free(line);
	/* By prefix: mods before oai_dc. */
	assert_non_null(strstr(out, want));
	line = nth_line(out, 1);
	assert_json(line, "(SELECT group_concat(key) FROM json_each(j))",
	    "source,identifier,prefix,datestamp,deleted,sets,dc,metadata");
	free(line);
	free(out);
}

/* A name the store cannot file is refused, with the name in the cause. */
static void
test_fields_bad_names(void **state)
{
	struct fx		*f = *state;
	static const char *const bad[] = {
		"",
		"1abc",
		"_abc",
		"a b",
		"a\"b",
		"a/b",
		"caf\303\251",
		"dc:title\n",
		"a123456789012345678901234567890123456789012345678901234567890"
		"1234",
	};
	static const char *const good[] = {
		"x",
		"Abstract",
		"mods:titleInfo.title",
		"a-b_c.d:e",
		"a123456789012345678901234567890123456789012345678901234567890"
		"123",
	};
	struct store_dc	    dc[2] = { { "title", "T", NULL } };
	struct store_record r;
	enum store_change   c;
	char		   *cause = NULL, id[32];
	size_t		    i;

	assert_int_equal(strlen(bad[nitems(bad) - 1]), 65);
	assert_int_equal(strlen(good[nitems(good) - 1]), 64);
	CHECK(store_begin(f->s, CAUSE));
	for (i = 0; i < nitems(bad); i++) {
		r = mkrec("oai:b:1", "2024-01-01", 0, META1);
		dc[1].element = bad[i];
		dc[1].value = "v";
		r.dc = dc;
		r.ndc = 2;
		assert_int_equal(
		    store_put(f->s, f->src, 0, &r, &c, &cause), -1);
		if (strstr(cause, "is not a field name") == NULL ||
		    strstr(cause, log_q(bad[i])) == NULL)
			fail_msg("%s: %s", bad[i], cause);
		free(cause);
		cause = NULL;
	}
	for (i = 0; i < nitems(good); i++) {
		snprintf(id, sizeof(id), "oai:g:%zu", i);
		r = mkrec(id, "2024-01-01", 0, META1);
		dc[1].element = good[i];
		dc[1].value = "v";
		r.dc = dc;
		r.ndc = 2;
		CHECK(store_put(f->s, f->src, 0, &r, &c, CAUSE));
		assert_int_equal(c, STORE_NEW);
	}
	CHECK(store_commit(f->s, CAUSE));
	assert_sql(f, "SELECT count(*) FROM record", "5\n");
	assert_sql(f,
	    "SELECT group_concat(element, ' ') FROM"
	    " (SELECT element FROM dc WHERE position = 1 ORDER BY record_id)",
	    "x Abstract mods:titleInfo.title a-b_c.d:e "
	    "a123456789012345678901234567890123456789012345678901234567890"
	    "123\n");
}

/*
 * A version 7 database (its dc view joining dc_element only) upgrades when
 * opened to write: export and the dc view give what they gave, byte for
 * byte, and fields filed by name show in the view from then on.
 */
static void
test_migrate_fields(void **state)
{
	struct fx	   *f = *state;
	struct store_record r;
	char		   *exp1, *exp2, *view1, *q;
	static const char   view_q[] =
	    "SELECT record_id, position, element,"
	    " hex(value), lang FROM dc ORDER BY record_id, position";

	r = mkrec("oai:v:tmpl", "2024-01-01", 0, TMPL_META1);
	assert_int_equal(put(f, &r), STORE_NEW);
	r = mkrec("oai:v:whole", "2024-01-01", 0, C14N_BASE);
	assert_int_equal(put(f, &r), STORE_NEW);
	r = mkrec("oai:v:none", "2024-01-01", 0, NULL);
	assert_int_equal(put(f, &r), STORE_NEW);
	r = mkrec("oai:v:gone", "2024-01-01", 1, NULL);
	assert_int_equal(put(f, &r), STORE_TOMBSTONE);
	exp1 = capture_export(f, NULL, NULL);
	view1 = sql(f->path, view_q);
	assert_int_equal(count_lines(view1), 9);

	/* Back to version 7, as its migrations left it. */
	store_close(f->s);
	f->s = NULL;
	sql_exec(f->path,
	    "BEGIN; DROP VIEW dc;"
	    "CREATE VIEW dc (record_id, position, element, value, lang) AS"
	    "  SELECT c.record_id, j.key, e.name, j.value ->> 1, j.value ->> 2"
	    "  FROM content c, json_each(c.dc) j"
	    "  JOIN dc_element e ON e.code = j.value ->> 0;"
	    "PRAGMA user_version = 7; COMMIT;");
	assert_sql(f, "PRAGMA user_version", "7\n");
	assert_sql(f, view_q, view1);

	reopen(f, 0);
	xasprintf(&q, "%zu\n", store_nmigrations);
	assert_sql(f, "PRAGMA user_version", q);
	free(q);
	assert_int_equal(store_nmigrations, 10);
	exp2 = capture_export(f, NULL, NULL);
	assert_string_equal(exp1, exp2);
	assert_sql(f, view_q, view1);
	free(exp1);
	free(exp2);
	free(view1);

	r = mkrec("oai:v:mods", "2024-01-01", 0, MODS1);
	r.dc = mods1;
	r.ndc = nitems(mods1);
	assert_int_equal(put(f, &r), STORE_NEW);
	check_content(f, &r, "template");
	assert_fts_sound(f);
}

static int
group_setup(void **state)
{
	pg_start();
	return 0;
}

static int
group_teardown(void **state)
{
	pg_stop();
	return 0;
}

/* A case once per backend: on SQLite, then on PostgreSQL. */
#define BOTH(t) \
	cmocka_unit_test_setup_teardown(t, setup, teardown), \
	{ \
#t "/pg", t, setup_pg, teardown, NULL \
	}

int
main(void)
{
	log_init(LOG_LVL_WARN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_migrate_fresh, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_migrate_too_new, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_not_a_database, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rdonly, setup, teardown),
		BOTH(test_hash_canonical),
		cmocka_unit_test(test_hash_pieces),
		BOTH(test_sweep_future_datestamp),
		cmocka_unit_test_setup_teardown(
		    test_put_transitions, setup, teardown),
		BOTH(test_put_stale_granularity),
		cmocka_unit_test_setup_teardown(test_put_sets, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_put_unchanged_keeps_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_put_errors, setup, teardown),
		BOTH(test_rollback),
		BOTH(test_commit_persists),
		BOTH(test_list_state),
		BOTH(test_source_and_runs),
		BOTH(test_export_exact),
		BOTH(test_export_filters),
		BOTH(test_rows_stop),
		BOTH(test_changes),
		cmocka_unit_test_setup_teardown(
		    test_changes_seq_not_reused, setup, teardown),
		BOTH(test_status),
		cmocka_unit_test_setup_teardown(
		    test_schema_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_content_forms, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_template_shared, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_template_rollback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dc_json, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_seq_counter, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_record_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_fts_in_step, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_fts_update_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_fts_trails, setup, teardown),
		BOTH(test_search_plain_words),
		cmocka_unit_test(test_fts_tokenizer_same),
		cmocka_unit_test_setup_teardown(
		    test_migrate_rehash, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_migrate_fts_merge, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_migrate_fts, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_checkpoint_async, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_throughput, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_run_interrupted, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_open_new_file_locked, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_fields_put, setup, teardown),
		BOTH(test_fields_export),
		cmocka_unit_test_setup_teardown(
		    test_fields_bad_names, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_migrate_fields, setup, teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
