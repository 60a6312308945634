/*
 * The SQLite store.  One connection; every statement is prepared once at
 * open (SQLITE_PREPARE_PERSISTENT) from the queries[] table and reused with
 * bind, step, reset.  No SQL is ever built from values.  The schema and its
 * migrations live in schema.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "util.h"
#include "log.h"
#include "oh_limits.h"
#include "schema.h"
#include "store.h"

/*
 * A writer waits this long for another connection's lock (the CLI reading
 * while the daemon commits a page) before the statement fails with BUSY.
 */
#define BUSY_TIMEOUT_MS		5000

/* Page cache in KiB: the dc value index is written at random places. */
#define CACHE_KIB		16384

/*
 * One exported line holds one record: metadata of at most MAX_RECORD_BYTES
 * and DC values taken from it, each up to six times longer once escaped as
 * JSON (\u00XX), plus the header.
 */
#define EXPORT_MAX_LINE		(16 * MAX_RECORD_BYTES)

/* The 15 DCMES elements in their standard order: export writes them so. */
static const char *const dcmes[] = {
	"title", "creator", "subject", "description", "publisher",
	"contributor", "date", "type", "format", "identifier", "source",
	"language", "relation", "coverage", "rights",
};
#define NDCMES	nitems(dcmes)

enum query {
	Q_BEGIN,
	Q_COMMIT,
	Q_ROLLBACK,
	Q_SOURCE_GET,
	Q_SOURCE_ADD,
	Q_SOURCE_URL,
	Q_SOURCE_IDENTIFY,
	Q_RUN_BEGIN,
	Q_RUN_END,
	Q_RECORD_GET,
	Q_RECORD_ADD,
	Q_RECORD_UPDATE,
	Q_METADATA_PUT,
	Q_METADATA_DEL,
	Q_SETS_DEL,
	Q_SET_ADD,
	Q_DC_DEL,
	Q_DC_ADD,
	Q_CHANGE_ADD,
	Q_LIST_GET,
	Q_LIST_CHECKPOINT,
	Q_LIST_COMPLETE,
	Q_EXPORT,
	Q_EXPORT_SETS,
	Q_EXPORT_DC,
	Q_CHANGES,
	Q_STATUS_SOURCES,
	Q_STATUS_RUN,
	Q_STATUS_RECORDS,
	Q_STATUS_LISTS,
	Q_COUNT
};

/* Every statement the store runs; "what" names it in error causes. */
static const struct {
	const char	*what;
	const char	*sql;
} queries[Q_COUNT] = {
	[Q_BEGIN] = { "begin", "BEGIN IMMEDIATE" },
	[Q_COMMIT] = { "commit", "COMMIT" },
	[Q_ROLLBACK] = { "rollback", "ROLLBACK" },
	[Q_SOURCE_GET] = { "find source",
	    "SELECT id, url FROM source WHERE name = ?1" },
	[Q_SOURCE_ADD] = { "insert source",
	    "INSERT INTO source (name, url, created) VALUES (?1, ?2, ?3)" },
	[Q_SOURCE_URL] = { "update source url",
	    "UPDATE source SET url = ?2 WHERE id = ?1" },
	[Q_SOURCE_IDENTIFY] = { "update source identify",
	    "UPDATE source SET granularity = ?2, earliest_datestamp = ?3,"
	    " deleted_record = ?4, repository_name = ?5, identified_at = ?6"
	    " WHERE id = ?1" },
	[Q_RUN_BEGIN] = { "insert run",
	    "INSERT INTO run (source_id, started, status)"
	    " VALUES (?1, ?2, 'running')" },
	[Q_RUN_END] = { "end run",
	    "UPDATE run SET ended = ?2, status = ?3, pages = ?4, records = ?5,"
	    " new = ?6, updated = ?7, deleted = ?8, unchanged = ?9,"
	    " bytes = ?10, error = ?11 WHERE id = ?1" },
	[Q_RECORD_GET] = { "find record",
	    "SELECT id, datestamp, deleted, hash FROM record"
	    " WHERE source_id = ?1 AND prefix = ?2 AND identifier = ?3" },
	[Q_RECORD_ADD] = { "insert record",
	    "INSERT INTO record (source_id, prefix, identifier, datestamp,"
	    " deleted, hash, first_seen, last_seen)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)" },
	[Q_RECORD_UPDATE] = { "update record",
	    "UPDATE record SET datestamp = ?2, deleted = ?3, hash = ?4,"
	    " last_seen = ?5 WHERE id = ?1" },
	[Q_METADATA_PUT] = { "store metadata",
	    "INSERT INTO metadata (record_id, xml) VALUES (?1, ?2)"
	    " ON CONFLICT (record_id) DO UPDATE SET xml = excluded.xml" },
	[Q_METADATA_DEL] = { "delete metadata",
	    "DELETE FROM metadata WHERE record_id = ?1" },
	[Q_SETS_DEL] = { "delete sets",
	    "DELETE FROM record_set WHERE record_id = ?1" },
	[Q_SET_ADD] = { "insert set",
	    "INSERT INTO record_set (record_id, position, setspec)"
	    " VALUES (?1, ?2, ?3)" },
	[Q_DC_DEL] = { "delete dc",
	    "DELETE FROM dc WHERE record_id = ?1" },
	[Q_DC_ADD] = { "insert dc",
	    "INSERT INTO dc (record_id, position, element, value, lang)"
	    " VALUES (?1, ?2, ?3, ?4, ?5)" },
	[Q_CHANGE_ADD] = { "insert change",
	    "INSERT INTO change (source_id, identifier, prefix, kind,"
	    " datestamp, at, run_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)" },
	[Q_LIST_GET] = { "read list state",
	    "SELECT watermark, token, progress, cursor, complete_list_size,"
	    " pages FROM list_state"
	    " WHERE source_id = ?1 AND prefix = ?2 AND setspec = ?3" },
	[Q_LIST_CHECKPOINT] = { "checkpoint list",
	    "INSERT INTO list_state (source_id, prefix, setspec, token,"
	    " progress, cursor, complete_list_size, pages, updated_at)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
	    " ON CONFLICT (source_id, prefix, setspec) DO UPDATE SET"
	    " token = excluded.token, progress = excluded.progress,"
	    " cursor = excluded.cursor,"
	    " complete_list_size = excluded.complete_list_size,"
	    " pages = excluded.pages, updated_at = excluded.updated_at" },
	[Q_LIST_COMPLETE] = { "complete list",
	    "INSERT INTO list_state (source_id, prefix, setspec, watermark,"
	    " pages, updated_at) VALUES (?1, ?2, ?3, ?4, 0, ?5)"
	    " ON CONFLICT (source_id, prefix, setspec) DO UPDATE SET"
	    " watermark = coalesce(excluded.watermark, watermark),"
	    " token = NULL, progress = NULL, cursor = NULL,"
	    " complete_list_size = NULL, pages = 0,"
	    " updated_at = excluded.updated_at" },
	[Q_EXPORT] = { "export",
	    "SELECT r.id, s.name, r.identifier, r.prefix, r.datestamp,"
	    " r.deleted, m.xml FROM source s"
	    " JOIN record r ON r.source_id = s.id"
	    " LEFT JOIN metadata m ON m.record_id = r.id"
	    " WHERE (?1 IS NULL OR s.name = ?1)"
	    " AND (?2 IS NULL OR r.prefix = ?2)"
	    " ORDER BY s.name, r.prefix, r.identifier" },
	[Q_EXPORT_SETS] = { "export sets",
	    "SELECT setspec FROM record_set WHERE record_id = ?1"
	    " ORDER BY position" },
	[Q_EXPORT_DC] = { "export dc",
	    "SELECT element, value FROM dc WHERE record_id = ?1"
	    " ORDER BY position" },
	[Q_CHANGES] = { "changes",
	    "SELECT c.seq, s.name, c.identifier, c.prefix, c.kind,"
	    " c.datestamp, c.at FROM change c"
	    " JOIN source s ON s.id = c.source_id"
	    " WHERE c.seq > ?1 ORDER BY c.seq LIMIT ?2" },
	[Q_STATUS_SOURCES] = { "status sources",
	    "SELECT id, name, url, repository_name, granularity,"
	    " earliest_datestamp, deleted_record, identified_at"
	    " FROM source ORDER BY name" },
	[Q_STATUS_RUN] = { "status run",
	    "SELECT id, started, ended, status, pages, records, new, updated,"
	    " deleted, unchanged, bytes, error FROM run"
	    " WHERE source_id = ?1 ORDER BY id DESC LIMIT 1" },
	[Q_STATUS_RECORDS] = { "status records",
	    "SELECT prefix, count(*) - sum(deleted), sum(deleted) FROM record"
	    " WHERE source_id = ?1 GROUP BY prefix ORDER BY prefix" },
	[Q_STATUS_LISTS] = { "status lists",
	    "SELECT prefix, setspec, watermark, token, progress, cursor,"
	    " complete_list_size, pages FROM list_state"
	    " WHERE source_id = ?1 ORDER BY prefix, setspec" },
};

struct store {
	sqlite3		 *db;
	char		 *path;
	int		  version;
	sqlite3_stmt	 *q[Q_COUNT];
	/* Scratch array for sorting a record's setSpecs before hashing. */
	const char	**sets;
	size_t		  nsets;
	/* The current UTC time, formatted at most once a second. */
	time_t		  now_t;
	char		  now[DATESTAMP_LEN];
};

/* Errors and statements */
static void	 set_cause(char **, const char *, ...) __printflike(2, 3);
static int	 q_fail(struct store *, enum query, char **);
static int	 q_exec(struct store *, enum query, char **);
static void	 bind_text(sqlite3_stmt *, int, const char *);
static void	 bind_count(sqlite3_stmt *, int, long long);
static const char *col_text(sqlite3_stmt *, int);
static int	 need_transaction(struct store *, const char *, char **);
static const char *store_now(struct store *);

/* Opening */
static int	 read_version(struct store *, int *, char **);
static int	 exec_sql(struct store *, const char *, const char *,
		    char **);
static int	 is_empty(struct store *, int *, char **);
static int	 migrate(struct store *, char **);

/* Records */
static int	 dc_lookup(const char *);
static int	 cmp_str(const void *, const void *);
static int	 check_record(const struct store_record *, char **);
static uint64_t	 record_hash(struct store *,
		    const struct store_record *);
static int	 is_stale(const char *, const char *);
static int	 content_put(struct store *, int64_t,
		    const struct store_record *, int, char **);

/* Output */
static int	 export_record(struct store *, sqlite3_stmt *, struct buf *,
		    struct buf *, char **);
static int	 write_buf(const struct buf *, FILE *, const char *, char **);
static const char *txt(const char *);
static int	 status_source(struct store *, sqlite3_stmt *, FILE *,
		    char **);

/* Errors and statements */

static void
set_cause(char **cause, const char *fmt, ...)
{
	va_list	ap;

	if (cause == NULL)
		return;
	va_start(ap, fmt);
	xvasprintf(cause, fmt, ap);
	va_end(ap);
}

/* Say why statement q failed, and reset it so it holds no lock. */
static int
q_fail(struct store *s, enum query q, char **cause)
{
	set_cause(cause, "store: %s: %s", queries[q].what,
	    sqlite3_errmsg(s->db));
	sqlite3_reset(s->q[q]);
	return -1;
}

/* Step a statement that returns no rows (or ignores them), then reset. */
static int
q_exec(struct store *s, enum query q, char **cause)
{
	int	rc;

	rc = sqlite3_step(s->q[q]);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return q_fail(s, q, cause);
	sqlite3_reset(s->q[q]);
	return 0;
}

/*
 * SQLITE_STATIC: every caller's string outlives the step that reads it, and
 * every parameter is bound again before the next step.
 */
static void
bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (v == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
}

/* A count or position where -1 means unknown: stored as NULL. */
static void
bind_count(sqlite3_stmt *st, int i, long long v)
{
	if (v < 0)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_int64(st, i, v);
}

static const char *
col_text(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

static int
need_transaction(struct store *s, const char *what, char **cause)
{
	if (sqlite3_get_autocommit(s->db)) {
		set_cause(cause, "store: %s: not inside a transaction", what);
		return -1;
	}
	return 0;
}

static const char *
store_now(struct store *s)
{
	time_t	t;

	t = time(NULL);
	if (t != s->now_t || s->now[0] == '\0') {
		datestamp_format(t, GRAN_SECONDS, s->now);
		s->now_t = t;
	}
	return s->now;
}

/* Opening */

/* Reading the version is also the first read of the file's header. */
static int
read_version(struct store *s, int *version, char **cause)
{
	sqlite3_stmt	*st;
	int		 rc;

	if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st,
	    NULL) != SQLITE_OK) {
		set_cause(cause, "store: open %s: %s", s->path,
		    sqlite3_errmsg(s->db));
		return -1;
	}
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		set_cause(cause, "store: open %s: %s", s->path,
		    sqlite3_errmsg(s->db));
		sqlite3_finalize(st);
		return -1;
	}
	*version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return 0;
}

/* Run constant SQL (pragmas, migration scripts) that binds nothing. */
static int
exec_sql(struct store *s, const char *sql, const char *what, char **cause)
{
	char	*err = NULL;

	if (sqlite3_exec(s->db, sql, NULL, NULL, &err) != SQLITE_OK) {
		set_cause(cause, "store: %s %s: %s", what, s->path,
		    err != NULL ? err : sqlite3_errmsg(s->db));
		sqlite3_free(err);
		return -1;
	}
	return 0;
}

static int
is_empty(struct store *s, int *empty, char **cause)
{
	sqlite3_stmt	*st;
	int		 rc;

	if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM sqlite_master",
	    -1, &st, NULL) != SQLITE_OK) {
		set_cause(cause, "store: open %s: %s", s->path,
		    sqlite3_errmsg(s->db));
		return -1;
	}
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		set_cause(cause, "store: open %s: %s", s->path,
		    sqlite3_errmsg(s->db));
		sqlite3_finalize(st);
		return -1;
	}
	*empty = sqlite3_column_int(st, 0) == 0;
	sqlite3_finalize(st);
	return 0;
}

/*
 * Bring the schema up to date, one step per transaction together with its
 * user_version, so that a crash leaves the file at some whole version.  The
 * version is read again under the write lock: another process may have
 * migrated while we waited.
 */
static int
migrate(struct store *s, char **cause)
{
	char	*sql;
	int	 v, rc, empty;

	for (;;) {
		if (exec_sql(s, "BEGIN IMMEDIATE", "migrate", cause) == -1)
			return -1;
		if (read_version(s, &v, cause) == -1)
			goto fail;
		if (v < 0 || (size_t)v >= store_nmigrations)
			break;
		/* Version 0 with tables: another program's database. */
		if (v == 0) {
			if (is_empty(s, &empty, cause) == -1)
				goto fail;
			if (!empty) {
				set_cause(cause, "store: open %s: not an "
				    "oaiharvest database (it has tables but "
				    "no schema version)", s->path);
				goto fail;
			}
		}
		if (exec_sql(s, store_migrations[v], "migrate", cause) == -1)
			goto fail;
		xasprintf(&sql, "PRAGMA user_version = %d", v + 1);
		rc = exec_sql(s, sql, "migrate", cause);
		free(sql);
		if (rc == -1 || exec_sql(s, "COMMIT", "migrate", cause) == -1)
			goto fail;
		log_info("store: migrated path=%s version=%d", log_q(s->path),
		    v + 1);
	}
	if (exec_sql(s, "COMMIT", "migrate", cause) == -1)
		goto fail;
	if ((size_t)v != store_nmigrations) {
		set_cause(cause, "store: open %s: schema version %d is newer "
		    "than this oaiharvest knows (%zu)", s->path, v,
		    store_nmigrations);
		return -1;
	}
	return 0;
fail:
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

struct store *
store_open(const char *path, int flags, char **cause)
{
	struct store	*s;
	sqlite3_stmt	*st;
	const char	*mode;
	char		*sql;
	int		 oflags, rc, v;
	size_t		 i;

	/*
	 * store/ is the process's only SQLite user.  Without the memory
	 * statistics every allocation skips a global mutex (about 7% of a
	 * store_put); this fails harmlessly once SQLite is initialised.
	 */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);

	s = xcalloc(1, sizeof(*s));
	s->path = xstrdup(path);
	oflags = SQLITE_OPEN_NOMUTEX;
	if (flags & STORE_RDONLY)
		oflags |= SQLITE_OPEN_READONLY;
	else
		oflags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	if ((rc = sqlite3_open_v2(path, &s->db, oflags, NULL)) != SQLITE_OK) {
		set_cause(cause, "store: open %s: %s", path, s->db != NULL ?
		    sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);

	/* Refuse a newer file before changing anything in it. */
	if (read_version(s, &v, cause) == -1)
		goto fail;
	if (v < 0 || (size_t)v > store_nmigrations) {
		set_cause(cause, "store: open %s: schema version %d is newer "
		    "than this oaiharvest knows (%zu)", path, v,
		    store_nmigrations);
		goto fail;
	}
	if ((size_t)v < store_nmigrations && (flags & STORE_RDONLY)) {
		set_cause(cause, "store: open %s: schema version %d, need %zu "
		    "(%s); open it read-write once to migrate", path, v,
		    store_nmigrations, v == 0 ? "not an oaiharvest database" :
		    "older");
		goto fail;
	}

	if (!(flags & STORE_RDONLY)) {
		/* WAL is persistent in the file; this only sets it once. */
		if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1,
		    &st, NULL) != SQLITE_OK) {
			set_cause(cause, "store: journal_mode %s: %s", path,
			    sqlite3_errmsg(s->db));
			goto fail;
		}
		if (sqlite3_step(st) != SQLITE_ROW) {
			set_cause(cause, "store: journal_mode %s: %s", path,
			    sqlite3_errmsg(s->db));
			sqlite3_finalize(st);
			goto fail;
		}
		mode = col_text(st, 0);
		if (mode == NULL || (strcmp(mode, "wal") != 0 &&
		    strcmp(mode, "memory") != 0))
			log_warn("store: not in WAL mode path=%s mode=%s",
			    log_q(path), log_q(mode));
		sqlite3_finalize(st);
	}
	/*
	 * NORMAL in WAL mode syncs only at checkpoints: a power loss may lose
	 * the last pages, which the next harvest fetches again.
	 */
	if (exec_sql(s, "PRAGMA synchronous = NORMAL", "open", cause) == -1 ||
	    exec_sql(s, "PRAGMA foreign_keys = ON", "open", cause) == -1)
		goto fail;
	xasprintf(&sql, "PRAGMA cache_size = -%d", CACHE_KIB);
	rc = exec_sql(s, sql, "open", cause);
	free(sql);
	if (rc == -1)
		goto fail;

	if ((size_t)v < store_nmigrations && migrate(s, cause) == -1)
		goto fail;
	s->version = (int)store_nmigrations;

	for (i = 0; i < Q_COUNT; i++) {
		if (sqlite3_prepare_v3(s->db, queries[i].sql, -1,
		    SQLITE_PREPARE_PERSISTENT, &s->q[i], NULL) != SQLITE_OK) {
			set_cause(cause, "store: prepare %s: %s",
			    queries[i].what, sqlite3_errmsg(s->db));
			goto fail;
		}
	}
	return s;
fail:
	store_close(s);
	return NULL;
}

void
store_close(struct store *s)
{
	size_t	i;

	if (s == NULL)
		return;
	if (s->db != NULL) {
		/* An open page transaction is lost, as in a crash. */
		if (!sqlite3_get_autocommit(s->db))
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		for (i = 0; i < Q_COUNT; i++)
			sqlite3_finalize(s->q[i]);
		if (sqlite3_close(s->db) != SQLITE_OK)
			log_err("store: close path=%s error=%s", log_q(s->path),
			    log_q(sqlite3_errmsg(s->db)));
	}
	free(s->sets);
	free(s->path);
	free(s);
}

int
store_schema_version(struct store *s)
{
	return s->version;
}

/* Sources */

int64_t
store_source(struct store *s, const char *name, const char *url,
    char **cause)
{
	sqlite3_stmt	*st = s->q[Q_SOURCE_GET];
	const char	*old;
	int64_t		 id;
	int		 rc, same;

	if (name == NULL) {
		set_cause(cause, "store: source: no name");
		return -1;
	}
	bind_text(st, 1, name);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		id = sqlite3_column_int64(st, 0);
		old = col_text(st, 1);
		same = url == NULL || (old != NULL && strcmp(old, url) == 0);
		sqlite3_reset(st);
		if (same)
			return id;
		st = s->q[Q_SOURCE_URL];
		sqlite3_bind_int64(st, 1, id);
		bind_text(st, 2, url);
		if (q_exec(s, Q_SOURCE_URL, cause) == -1)
			return -1;
		return id;
	}
	if (rc != SQLITE_DONE)
		return q_fail(s, Q_SOURCE_GET, cause);
	sqlite3_reset(st);

	st = s->q[Q_SOURCE_ADD];
	bind_text(st, 1, name);
	bind_text(st, 2, url);
	bind_text(st, 3, store_now(s));
	if (q_exec(s, Q_SOURCE_ADD, cause) == -1)
		return -1;
	return sqlite3_last_insert_rowid(s->db);
}

int
store_source_identify(struct store *s, int64_t source,
    const char *granularity, const char *earliest, const char *deleted_record,
    const char *repository_name, char **cause)
{
	sqlite3_stmt	*st = s->q[Q_SOURCE_IDENTIFY];

	sqlite3_bind_int64(st, 1, source);
	bind_text(st, 2, granularity);
	bind_text(st, 3, earliest);
	bind_text(st, 4, deleted_record);
	bind_text(st, 5, repository_name);
	bind_text(st, 6, store_now(s));
	if (q_exec(s, Q_SOURCE_IDENTIFY, cause) == -1)
		return -1;
	if (sqlite3_changes(s->db) != 1) {
		set_cause(cause, "store: identify: no source %lld",
		    (long long)source);
		return -1;
	}
	return 0;
}

/* Runs */

int64_t
store_run_begin(struct store *s, int64_t source, char **cause)
{
	sqlite3_stmt	*st = s->q[Q_RUN_BEGIN];

	sqlite3_bind_int64(st, 1, source);
	bind_text(st, 2, store_now(s));
	if (q_exec(s, Q_RUN_BEGIN, cause) == -1)
		return -1;
	return sqlite3_last_insert_rowid(s->db);
}

int
store_run_end(struct store *s, int64_t run, const char *status,
    const struct store_run_stats *rs, const char *error, char **cause)
{
	static const struct store_run_stats	 zero;
	sqlite3_stmt				*st = s->q[Q_RUN_END];

	if (status == NULL || (strcmp(status, "ok") != 0 &&
	    strcmp(status, "failed") != 0)) {
		set_cause(cause, "store: end run: status must be ok or failed");
		return -1;
	}
	if (rs == NULL)
		rs = &zero;
	sqlite3_bind_int64(st, 1, run);
	bind_text(st, 2, store_now(s));
	bind_text(st, 3, status);
	sqlite3_bind_int64(st, 4, rs->pages);
	sqlite3_bind_int64(st, 5, rs->records);
	sqlite3_bind_int64(st, 6, rs->new_records);
	sqlite3_bind_int64(st, 7, rs->updated);
	sqlite3_bind_int64(st, 8, rs->deleted);
	sqlite3_bind_int64(st, 9, rs->unchanged);
	sqlite3_bind_int64(st, 10, rs->bytes);
	bind_text(st, 11, error);
	if (q_exec(s, Q_RUN_END, cause) == -1)
		return -1;
	if (sqlite3_changes(s->db) != 1) {
		set_cause(cause, "store: end run: no run %lld", (long long)run);
		return -1;
	}
	return 0;
}

/* Transactions */

const char *
store_change_name(enum store_change c)
{
	static const char *const names[] = {
		[STORE_UNCHANGED] = NULL,
		[STORE_NEW] = "new",
		[STORE_UPDATED] = "updated",
		[STORE_DELETED] = "deleted",
	};

	if ((size_t)c >= nitems(names))
		return NULL;
	return names[c];
}

int
store_begin(struct store *s, char **cause)
{
	return q_exec(s, Q_BEGIN, cause);
}

/* On failure the transaction is still open: the caller rolls it back. */
int
store_commit(struct store *s, char **cause)
{
	return q_exec(s, Q_COMMIT, cause);
}

void
store_rollback(struct store *s)
{
	if (sqlite3_get_autocommit(s->db))
		return;
	if (sqlite3_step(s->q[Q_ROLLBACK]) != SQLITE_DONE)
		log_err("store: rollback path=%s error=%s", log_q(s->path),
		    log_q(sqlite3_errmsg(s->db)));
	sqlite3_reset(s->q[Q_ROLLBACK]);
}

/* Records */

static int
dc_lookup(const char *name)
{
	size_t	i;

	for (i = 0; i < NDCMES; i++)
		if (strcmp(dcmes[i], name) == 0)
			return (int)i;
	return -1;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Reject what the schema cannot hold before writing anything. */
static int
check_record(const struct store_record *r, char **cause)
{
	size_t	i;

	if (r->prefix == NULL || r->identifier == NULL ||
	    r->datestamp == NULL) {
		set_cause(cause, "store: put: record without prefix, "
		    "identifier or datestamp");
		return -1;
	}
	for (i = 0; i < r->nsets; i++) {
		if (r->sets[i] == NULL) {
			set_cause(cause, "store: put: NULL setSpec");
			return -1;
		}
	}
	if (r->deleted)
		return 0;
	for (i = 0; i < r->ndc; i++) {
		if (r->dc[i].element == NULL || r->dc[i].value == NULL) {
			set_cause(cause, "store: put: DC value without "
			    "element or text");
			return -1;
		}
		if (dc_lookup(r->dc[i].element) == -1) {
			set_cause(cause, "store: put: %s is not a DC element",
			    log_q(r->dc[i].element));
			return -1;
		}
	}
	return 0;
}

/*
 * The content hash: deleted flag, number of sets, the setSpecs sorted and
 * NUL-terminated (so that a server listing them in another order is not an
 * update), then the metadata bytes.  DC values come from the metadata and
 * add nothing.
 */
static uint64_t
record_hash(struct store *s, const struct store_record *r)
{
	const char *const	*sets = r->sets;
	unsigned char		 head[9];
	uint64_t		 h, n = r->nsets;
	size_t			 i;

	head[0] = r->deleted ? 1 : 0;
	for (i = 0; i < 8; i++)
		head[1 + i] = (n >> (8 * i)) & 0xff;
	h = hash_add(HASH_INIT, head, sizeof(head));
	if (r->nsets > 1) {
		if (s->nsets < r->nsets) {
			s->sets = xreallocarray(s->sets, r->nsets,
			    sizeof(*s->sets));
			s->nsets = r->nsets;
		}
		memcpy(s->sets, r->sets, r->nsets * sizeof(*s->sets));
		qsort(s->sets, r->nsets, sizeof(*s->sets), cmp_str);
		sets = s->sets;
	}
	for (i = 0; i < r->nsets; i++)
		h = hash_add(h, sets[i], strlen(sets[i]) + 1);
	if (!r->deleted && r->metadata != NULL)
		h = hash_add(h, r->metadata, r->metadata_len);
	return h;
}

/*
 * An incoming copy older than the stored one (a lagging mirror, overlapping
 * windows) must not overwrite it.  Day granularity parses as midnight.  A
 * datestamp that does not parse is never stale: it is stored as sent.
 */
static int
is_stale(const char *stored, const char *incoming)
{
	time_t	ts, ti;

	if (stored == NULL || datestamp_parse(stored, &ts, NULL) == -1 ||
	    datestamp_parse(incoming, &ti, NULL) == -1)
		return 0;
	return ti < ts;
}

/*
 * Write the metadata, sets and DC rows of record id; unless fresh, replace
 * what was there.  Deleted records keep their sets but no metadata or DC.
 */
static int
content_put(struct store *s, int64_t id, const struct store_record *r,
    int fresh, char **cause)
{
	sqlite3_stmt	*st;
	size_t		 i;

	if (!fresh) {
		sqlite3_bind_int64(s->q[Q_SETS_DEL], 1, id);
		if (q_exec(s, Q_SETS_DEL, cause) == -1)
			return -1;
		sqlite3_bind_int64(s->q[Q_DC_DEL], 1, id);
		if (q_exec(s, Q_DC_DEL, cause) == -1)
			return -1;
	}
	if (!r->deleted && r->metadata != NULL) {
		st = s->q[Q_METADATA_PUT];
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_text64(st, 2, r->metadata, r->metadata_len,
		    SQLITE_STATIC, SQLITE_UTF8);
		if (q_exec(s, Q_METADATA_PUT, cause) == -1)
			return -1;
	} else if (!fresh) {
		sqlite3_bind_int64(s->q[Q_METADATA_DEL], 1, id);
		if (q_exec(s, Q_METADATA_DEL, cause) == -1)
			return -1;
	}
	st = s->q[Q_SET_ADD];
	for (i = 0; i < r->nsets; i++) {
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
		bind_text(st, 3, r->sets[i]);
		if (q_exec(s, Q_SET_ADD, cause) == -1)
			return -1;
	}
	if (r->deleted)
		return 0;
	st = s->q[Q_DC_ADD];
	for (i = 0; i < r->ndc; i++) {
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
		bind_text(st, 3, r->dc[i].element);
		bind_text(st, 4, r->dc[i].value);
		bind_text(st, 5, r->dc[i].lang);
		if (q_exec(s, Q_DC_ADD, cause) == -1)
			return -1;
	}
	return 0;
}

/*
 * The transitions, by what is stored and what arrives:
 *	unknown, present	insert				NEW
 *	unknown, deleted	tombstone			UNCHANGED
 *	present, deleted	drop metadata and DC		DELETED
 *	deleted, deleted	datestamp			UNCHANGED
 *	deleted, present	insert content			NEW
 *	present, present	same hash: datestamp		UNCHANGED
 *				other hash: replace content	UPDATED
 * and an incoming datestamp older than the stored one changes nothing.
 * Only NEW, UPDATED and DELETED append a change row.
 */
int
store_put(struct store *s, int64_t source, int64_t run,
    const struct store_record *r, enum store_change *changep, char **cause)
{
	sqlite3_stmt		*st;
	enum store_change	 change = STORE_UNCHANGED;
	const char		*now;
	uint64_t		 hash, old_hash = 0;
	int64_t			 id = 0;
	int			 deleted, known = 0, was_deleted = 0;
	int			 stale = 0, rc;

	if (changep != NULL)
		*changep = STORE_UNCHANGED;
	if (need_transaction(s, "put", cause) == -1 ||
	    check_record(r, cause) == -1)
		return -1;
	deleted = r->deleted != 0;
	hash = record_hash(s, r);
	now = store_now(s);

	st = s->q[Q_RECORD_GET];
	sqlite3_bind_int64(st, 1, source);
	bind_text(st, 2, r->prefix);
	bind_text(st, 3, r->identifier);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		known = 1;
		id = sqlite3_column_int64(st, 0);
		stale = is_stale(col_text(st, 1), r->datestamp);
		was_deleted = sqlite3_column_int(st, 2) != 0;
		old_hash = (uint64_t)sqlite3_column_int64(st, 3);
	} else if (rc != SQLITE_DONE)
		return q_fail(s, Q_RECORD_GET, cause);
	sqlite3_reset(st);
	if (stale)
		return 0;

	if (!known) {
		st = s->q[Q_RECORD_ADD];
		sqlite3_bind_int64(st, 1, source);
		bind_text(st, 2, r->prefix);
		bind_text(st, 3, r->identifier);
		bind_text(st, 4, r->datestamp);
		sqlite3_bind_int(st, 5, deleted);
		sqlite3_bind_int64(st, 6, (sqlite3_int64)hash);
		bind_text(st, 7, now);
		if (q_exec(s, Q_RECORD_ADD, cause) == -1)
			return -1;
		id = sqlite3_last_insert_rowid(s->db);
		if (content_put(s, id, r, 1, cause) == -1)
			return -1;
		if (!deleted)
			change = STORE_NEW;
	} else {
		st = s->q[Q_RECORD_UPDATE];
		sqlite3_bind_int64(st, 1, id);
		bind_text(st, 2, r->datestamp);
		sqlite3_bind_int(st, 3, deleted);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)hash);
		bind_text(st, 5, now);
		if (q_exec(s, Q_RECORD_UPDATE, cause) == -1)
			return -1;
		/* Unchanged content: no metadata, set or DC row is touched. */
		if ((hash != old_hash || deleted != was_deleted) &&
		    content_put(s, id, r, 0, cause) == -1)
			return -1;
		if (deleted && !was_deleted)
			change = STORE_DELETED;
		else if (!deleted && was_deleted)
			change = STORE_NEW;
		else if (!deleted && hash != old_hash)
			change = STORE_UPDATED;
	}

	if (change != STORE_UNCHANGED) {
		st = s->q[Q_CHANGE_ADD];
		sqlite3_bind_int64(st, 1, source);
		bind_text(st, 2, r->identifier);
		bind_text(st, 3, r->prefix);
		bind_text(st, 4, store_change_name(change));
		bind_text(st, 5, r->datestamp);
		bind_text(st, 6, now);
		if (run > 0)
			sqlite3_bind_int64(st, 7, run);
		else
			sqlite3_bind_null(st, 7);
		if (q_exec(s, Q_CHANGE_ADD, cause) == -1)
			return -1;
	}
	if (changep != NULL)
		*changep = change;
	return 0;
}

/* List state */

int
store_list_get(struct store *s, int64_t source, const char *prefix,
    const char *set, struct store_list_state *ls, char **cause)
{
	sqlite3_stmt	*st = s->q[Q_LIST_GET];
	const char	*v;
	int		 rc;

	memset(ls, 0, sizeof(*ls));
	ls->cursor = ls->complete_list_size = -1;
	sqlite3_bind_int64(st, 1, source);
	bind_text(st, 2, prefix);
	bind_text(st, 3, set != NULL ? set : "");
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((v = col_text(st, 0)) != NULL)
			ls->watermark = xstrdup(v);
		if ((v = col_text(st, 1)) != NULL)
			ls->token = xstrdup(v);
		if ((v = col_text(st, 2)) != NULL)
			ls->progress = xstrdup(v);
		if (sqlite3_column_type(st, 3) != SQLITE_NULL)
			ls->cursor = sqlite3_column_int64(st, 3);
		if (sqlite3_column_type(st, 4) != SQLITE_NULL)
			ls->complete_list_size = sqlite3_column_int64(st, 4);
		ls->pages = sqlite3_column_int64(st, 5);
	} else if (rc != SQLITE_DONE)
		return q_fail(s, Q_LIST_GET, cause);
	sqlite3_reset(st);
	return 0;
}

void
store_list_state_free(struct store_list_state *ls)
{
	free(ls->watermark);
	free(ls->token);
	free(ls->progress);
	ls->watermark = ls->token = ls->progress = NULL;
}

int
store_list_checkpoint(struct store *s, int64_t source, const char *prefix,
    const char *set, const struct store_list_state *ls, char **cause)
{
	sqlite3_stmt	*st = s->q[Q_LIST_CHECKPOINT];

	if (need_transaction(s, "checkpoint list", cause) == -1)
		return -1;
	sqlite3_bind_int64(st, 1, source);
	bind_text(st, 2, prefix);
	bind_text(st, 3, set != NULL ? set : "");
	bind_text(st, 4, ls->token);
	bind_text(st, 5, ls->progress);
	bind_count(st, 6, ls->cursor);
	bind_count(st, 7, ls->complete_list_size);
	sqlite3_bind_int64(st, 8, ls->pages);
	bind_text(st, 9, store_now(s));
	return q_exec(s, Q_LIST_CHECKPOINT, cause);
}

int
store_list_complete(struct store *s, int64_t source, const char *prefix,
    const char *set, const char *watermark, char **cause)
{
	sqlite3_stmt	*st = s->q[Q_LIST_COMPLETE];

	if (need_transaction(s, "complete list", cause) == -1)
		return -1;
	sqlite3_bind_int64(st, 1, source);
	bind_text(st, 2, prefix);
	bind_text(st, 3, set != NULL ? set : "");
	bind_text(st, 4, watermark);
	bind_text(st, 5, store_now(s));
	return q_exec(s, Q_LIST_COMPLETE, cause);
}

/* Output */

static int
write_buf(const struct buf *b, FILE *fp, const char *what, char **cause)
{
	if (fwrite(buf_str(b), 1, b->len, fp) != b->len) {
		set_cause(cause, "store: %s: write: %s", what,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * One export line for the record under st.  el[] holds one buffer per DCMES
 * element so that values can be gathered in document order and written in
 * DCMES order.
 */
static int
export_record(struct store *s, sqlite3_stmt *st, struct buf *b,
    struct buf *el, char **cause)
{
	sqlite3_stmt	*q;
	const char	*v;
	int64_t		 id;
	size_t		 i;
	int		 deleted, first, rc, e, err = 0;

	id = sqlite3_column_int64(st, 0);
	deleted = sqlite3_column_int(st, 5) != 0;
	err |= buf_addstr(b, "{\"source\":");
	err |= json_add_string(b, col_text(st, 1), -1);
	err |= buf_addstr(b, ",\"identifier\":");
	err |= json_add_string(b, col_text(st, 2), -1);
	err |= buf_addstr(b, ",\"prefix\":");
	err |= json_add_string(b, col_text(st, 3), -1);
	err |= buf_addstr(b, ",\"datestamp\":");
	err |= json_add_string(b, col_text(st, 4), -1);
	err |= buf_addstr(b, deleted ? ",\"deleted\":true" :
	    ",\"deleted\":false");

	err |= buf_addstr(b, ",\"sets\":[");
	q = s->q[Q_EXPORT_SETS];
	sqlite3_bind_int64(q, 1, id);
	for (first = 1; (rc = sqlite3_step(q)) == SQLITE_ROW; first = 0) {
		if (!first)
			err |= buf_addch(b, ',');
		err |= json_add_string(b, col_text(q, 0),
		    sqlite3_column_bytes(q, 0));
	}
	if (rc != SQLITE_DONE)
		return q_fail(s, Q_EXPORT_SETS, cause);
	sqlite3_reset(q);

	for (i = 0; i < NDCMES; i++)
		buf_reset(&el[i]);
	q = s->q[Q_EXPORT_DC];
	sqlite3_bind_int64(q, 1, id);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if ((v = col_text(q, 0)) == NULL || (e = dc_lookup(v)) == -1)
			continue;
		if (el[e].len > 0)
			err |= buf_addch(&el[e], ',');
		err |= json_add_string(&el[e], col_text(q, 1),
		    sqlite3_column_bytes(q, 1));
	}
	if (rc != SQLITE_DONE)
		return q_fail(s, Q_EXPORT_DC, cause);
	sqlite3_reset(q);
	err |= buf_addstr(b, "],\"dc\":{");
	for (first = 1, i = 0; i < NDCMES; i++) {
		if (el[i].len == 0)
			continue;
		if (!first)
			err |= buf_addch(b, ',');
		first = 0;
		err |= json_add_string(b, dcmes[i], -1);
		err |= buf_addstr(b, ":[");
		err |= buf_add(b, el[i].data, el[i].len);
		err |= buf_addch(b, ']');
	}
	err |= buf_addch(b, '}');

	if (!deleted && sqlite3_column_type(st, 6) != SQLITE_NULL) {
		err |= buf_addstr(b, ",\"metadata\":");
		err |= json_add_string(b, col_text(st, 6),
		    sqlite3_column_bytes(st, 6));
	}
	err |= buf_addstr(b, "}\n");
	if (err) {
		set_cause(cause, "store: export: record %lld longer than %zu "
		    "bytes", (long long)id, (size_t)EXPORT_MAX_LINE);
		return -1;
	}
	return 0;
}

int
store_export(struct store *s, const char *source, const char *prefix,
    FILE *fp, char **cause)
{
	sqlite3_stmt	*st = s->q[Q_EXPORT];
	struct buf	 line, el[NDCMES];
	size_t		 i;
	int		 rc, ret = -1;

	buf_init(&line, EXPORT_MAX_LINE);
	for (i = 0; i < NDCMES; i++)
		buf_init(&el[i], EXPORT_MAX_LINE);
	bind_text(st, 1, source);
	bind_text(st, 2, prefix);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		buf_reset(&line);
		if (export_record(s, st, &line, el, cause) == -1 ||
		    write_buf(&line, fp, "export", cause) == -1)
			goto out;
	}
	if (rc != SQLITE_DONE) {
		q_fail(s, Q_EXPORT, cause);
		goto out;
	}
	if (fflush(fp) == EOF) {
		set_cause(cause, "store: export: write: %s", strerror(errno));
		goto out;
	}
	ret = 0;
out:
	sqlite3_reset(st);
	buf_free(&line);
	for (i = 0; i < NDCMES; i++)
		buf_free(&el[i]);
	return ret;
}

int
store_changes(struct store *s, int64_t since, int64_t limit, FILE *fp,
    char **cause)
{
	sqlite3_stmt	*st = s->q[Q_CHANGES];
	struct buf	 b;
	int		 rc, ret = -1, err;

	/* A change row holds two short strings and an identifier. */
	buf_init(&b, 64 * MAX_ID_LEN);
	sqlite3_bind_int64(st, 1, since);
	sqlite3_bind_int64(st, 2, limit < 0 ? -1 : limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		buf_reset(&b);
		err = buf_printf(&b, "{\"seq\":%lld,\"source\":",
		    (long long)sqlite3_column_int64(st, 0));
		err |= json_add_string(&b, col_text(st, 1), -1);
		err |= buf_addstr(&b, ",\"identifier\":");
		err |= json_add_string(&b, col_text(st, 2), -1);
		err |= buf_addstr(&b, ",\"prefix\":");
		err |= json_add_string(&b, col_text(st, 3), -1);
		err |= buf_addstr(&b, ",\"kind\":");
		err |= json_add_string(&b, col_text(st, 4), -1);
		err |= buf_addstr(&b, ",\"datestamp\":");
		err |= json_add_string(&b, col_text(st, 5), -1);
		err |= buf_addstr(&b, ",\"at\":");
		err |= json_add_string(&b, col_text(st, 6), -1);
		err |= buf_addstr(&b, "}\n");
		if (err) {
			set_cause(cause, "store: changes: row too long");
			goto out;
		}
		if (write_buf(&b, fp, "changes", cause) == -1)
			goto out;
	}
	if (rc != SQLITE_DONE) {
		q_fail(s, Q_CHANGES, cause);
		goto out;
	}
	if (fflush(fp) == EOF) {
		set_cause(cause, "store: changes: write: %s", strerror(errno));
		goto out;
	}
	ret = 0;
out:
	sqlite3_reset(st);
	buf_free(&b);
	return ret;
}

/*
 * Strings in the status text came from repositories: quote and escape any
 * with control characters (or quotes) so that they cannot drive a terminal.
 */
static const char *
txt(const char *s)
{
	const unsigned char	*p;

	if (s == NULL)
		return "-";
	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\')
			return log_q(s);
	if (*s == '\0')
		return "\"\"";
	return s;
}

/* The status paragraph of the source under src. */
static int
status_source(struct store *s, sqlite3_stmt *src, FILE *fp, char **cause)
{
	sqlite3_stmt	*st;
	int64_t		 id;
	int		 rc, n;

	id = sqlite3_column_int64(src, 0);
	fprintf(fp, "source %s\n", txt(col_text(src, 1)));
	fprintf(fp, "  url            %s\n", txt(col_text(src, 2)));
	fprintf(fp, "  repository     %s\n", txt(col_text(src, 3)));
	fprintf(fp, "  granularity    %s\n", txt(col_text(src, 4)));
	fprintf(fp, "  earliest       %s\n", txt(col_text(src, 5)));
	fprintf(fp, "  deletedRecord  %s\n", txt(col_text(src, 6)));
	fprintf(fp, "  identified     %s\n", txt(col_text(src, 7)));

	st = s->q[Q_STATUS_RUN];
	sqlite3_bind_int64(st, 1, id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		fprintf(fp, "  last run       #%lld %s, started %s, ended %s\n",
		    (long long)sqlite3_column_int64(st, 0),
		    txt(col_text(st, 3)), txt(col_text(st, 1)),
		    txt(col_text(st, 2)));
		fprintf(fp, "                 pages %lld, records %lld: "
		    "new %lld, updated %lld, deleted %lld, unchanged %lld; "
		    "bytes %lld\n",
		    (long long)sqlite3_column_int64(st, 4),
		    (long long)sqlite3_column_int64(st, 5),
		    (long long)sqlite3_column_int64(st, 6),
		    (long long)sqlite3_column_int64(st, 7),
		    (long long)sqlite3_column_int64(st, 8),
		    (long long)sqlite3_column_int64(st, 9),
		    (long long)sqlite3_column_int64(st, 10));
		if (sqlite3_column_type(st, 11) != SQLITE_NULL)
			fprintf(fp, "                 error: %s\n",
			    txt(col_text(st, 11)));
	} else if (rc == SQLITE_DONE)
		fprintf(fp, "  last run       none\n");
	else
		return q_fail(s, Q_STATUS_RUN, cause);
	sqlite3_reset(st);

	st = s->q[Q_STATUS_RECORDS];
	sqlite3_bind_int64(st, 1, id);
	for (n = 0; (rc = sqlite3_step(st)) == SQLITE_ROW; n++)
		fprintf(fp, "  records        %s: %lld present, %lld deleted\n",
		    txt(col_text(st, 0)),
		    (long long)sqlite3_column_int64(st, 1),
		    (long long)sqlite3_column_int64(st, 2));
	if (rc != SQLITE_DONE)
		return q_fail(s, Q_STATUS_RECORDS, cause);
	sqlite3_reset(st);
	if (n == 0)
		fprintf(fp, "  records        none\n");

	st = s->q[Q_STATUS_LISTS];
	sqlite3_bind_int64(st, 1, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		fprintf(fp, "  list           %s %s: watermark %s",
		    txt(col_text(st, 0)),
		    *col_text(st, 1) == '\0' ? "(whole repository)" :
		    txt(col_text(st, 1)), txt(col_text(st, 2)));
		if (sqlite3_column_type(st, 3) != SQLITE_NULL ||
		    sqlite3_column_int64(st, 7) > 0) {
			fprintf(fp, "; in progress: pages %lld, token %s, "
			    "progress %s",
			    (long long)sqlite3_column_int64(st, 7),
			    txt(col_text(st, 3)), txt(col_text(st, 4)));
			if (sqlite3_column_type(st, 5) != SQLITE_NULL)
				fprintf(fp, ", cursor %lld",
				    (long long)sqlite3_column_int64(st, 5));
			if (sqlite3_column_type(st, 6) != SQLITE_NULL)
				fprintf(fp, " of %lld",
				    (long long)sqlite3_column_int64(st, 6));
		}
		fputc('\n', fp);
	}
	if (rc != SQLITE_DONE)
		return q_fail(s, Q_STATUS_LISTS, cause);
	sqlite3_reset(st);
	return 0;
}

int
store_status(struct store *s, FILE *fp, char **cause)
{
	sqlite3_stmt	*st = s->q[Q_STATUS_SOURCES];
	int		 rc, n, ret = -1;

	for (n = 0; (rc = sqlite3_step(st)) == SQLITE_ROW; n++) {
		if (n > 0)
			fputc('\n', fp);
		if (status_source(s, st, fp, cause) == -1)
			goto out;
	}
	if (rc != SQLITE_DONE) {
		q_fail(s, Q_STATUS_SOURCES, cause);
		goto out;
	}
	if (n == 0)
		fprintf(fp, "no sources\n");
	if (fflush(fp) == EOF || ferror(fp)) {
		set_cause(cause, "store: status: write: %s", strerror(errno));
		goto out;
	}
	ret = 0;
out:
	sqlite3_reset(st);
	return ret;
}

/*
 * For the daemon's status server.  These run rarely (an operator's or a
 * scraper's request), so their statements are prepared per call.
 */

static int
prepare(struct store *s, const char *sql, sqlite3_stmt **st, char **cause)
{
	if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK) {
		set_cause(cause, "store: %s", sqlite3_errmsg(s->db));
		return -1;
	}
	return 0;
}

int
store_writable(struct store *s, char **cause)
{
	/* Inside a page transaction the database is being written. */
	if (!sqlite3_get_autocommit(s->db))
		return 0;
	if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK) {
		set_cause(cause, "store: not writable: %s",
		    sqlite3_errmsg(s->db));
		return -1;
	}
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return 0;
}

int64_t
store_last_seq(struct store *s)
{
	sqlite3_stmt	*st;
	int64_t		 seq = -1;

	if (prepare(s, "SELECT coalesce(max(seq), 0) FROM change", &st,
	    NULL) == -1)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		seq = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return seq;
}

static void
json_col(struct buf *b, sqlite3_stmt *st, int col)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		buf_addstr(b, "null");
	else
		json_add_string(b, (const char *)sqlite3_column_text(st, col),
		    (size_t)sqlite3_column_bytes(st, col));
}

int
store_source_json(struct store *s, const char *name, struct buf *b,
    char **cause)
{
	sqlite3_stmt	*st;
	int64_t		 id;
	int		 rc, n = 0;

	if (prepare(s, "SELECT id, repository_name, granularity, "
	    "deleted_record FROM source WHERE name = ?", &st, cause) == -1)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		buf_addstr(b, ",\"repository\":null,\"records\":null,"
		    "\"lists\":[]");
		return 0;
	}
	id = sqlite3_column_int64(st, 0);
	buf_addstr(b, ",\"repository\":{\"name\":");
	json_col(b, st, 1);
	buf_addstr(b, ",\"granularity\":");
	json_col(b, st, 2);
	buf_addstr(b, ",\"deleted_record\":");
	json_col(b, st, 3);
	buf_addch(b, '}');
	sqlite3_finalize(st);

	if (prepare(s, "SELECT count(*) - coalesce(sum(deleted), 0), "
	    "coalesce(sum(deleted), 0) FROM record WHERE source_id = ?", &st,
	    cause) == -1)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW)
		buf_printf(b, ",\"records\":{\"present\":%lld,"
		    "\"deleted\":%lld}",
		    (long long)sqlite3_column_int64(st, 0),
		    (long long)sqlite3_column_int64(st, 1));
	sqlite3_finalize(st);

	if (prepare(s, "SELECT prefix, setspec, watermark, token IS NOT NULL, "
	    "pages FROM list_state WHERE source_id = ? ORDER BY prefix, "
	    "setspec", &st, cause) == -1)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	buf_addstr(b, ",\"lists\":[");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		buf_addstr(b, n++ ? ",{\"prefix\":" : "{\"prefix\":");
		json_col(b, st, 0);
		buf_addstr(b, ",\"set\":");
		json_col(b, st, 1);
		buf_addstr(b, ",\"watermark\":");
		json_col(b, st, 2);
		buf_printf(b, ",\"in_progress\":%s,\"pages\":%lld}",
		    sqlite3_column_int(st, 3) ? "true" : "false",
		    (long long)sqlite3_column_int64(st, 4));
	}
	buf_addch(b, ']');
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}
