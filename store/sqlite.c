/*
 * The SQLite backend of the store (see backend.h): the connection, its
 * statements and opening it; sources and runs.  One connection; every
 * statement is prepared once at open (SQLITE_PREPARE_PERSISTENT) from the
 * store_sqlite_queries[] table and reused with bind, step, reset.  No SQL
 * is ever built from values.  The schema and its migrations live in
 * schema.c, the page transaction in sqlite_write.c, the queries in
 * sqlite_query.c.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "util.h"
#include "log.h"
#include "checkpoint.h"
#include "schema.h"
#include "sqlite.h"
#include "tokenize.h"

/*
 * A writer waits this long for another connection's lock (the CLI reading
 * while the daemon commits a page) before the statement fails with BUSY.
 */
#define BUSY_TIMEOUT_MS 5000
/* Between two tries of a lock SQLite's busy handler does not wait for. */
#define BUSY_RETRY_MS 10

/*
 * Page cache in KiB.  Writes append at the ends of the tables and of a few
 * index ranges (one per source, prefix and set), so a small cache holds what
 * a page transaction touches; the rest of the harvester needs the memory.
 * 4 MiB harvests as fast as 8 (1,000,000 records at 10,000 a page: 33.2 s
 * against 32.8, 100,000: the same within noise) in 5 MB less peak RSS
 * (26.7 MB against 31.8); 16 MiB no faster either.
 */
#define CACHE_KIB 4096

/*
 * The WAL is checkpointed into the database once it has this many pages
 * (32 MiB of 16 KiB pages; 16 MiB in files made with 8 KiB pages), at the
 * end of a transaction: SQLite's 1000 meant a checkpoint
 * and its fsync every 24 pages of 100 records, a tenth of the time spent.
 * It grows past that only while one transaction needs it (10,000 oai_dc
 * records: 25 MB), and is cut back to WAL_LIMIT_BYTES after a checkpoint.
 */
#define WAL_CHECKPOINT_PAGES 2048
#define WAL_LIMIT_BYTES	     (64 * 1024 * 1024)

/*
 * The page writer's checkpoints (store_checkpoint_async(), checkpoint.c),
 * in pages (of 16 KiB): a background pass for every 4 MiB once the WAL
 * holds 8 MiB, the rest on the writer at 64 MiB (WAL_LIMIT_BYTES, so the
 * file is not cut back each time) or four commits.  make bench, 100,000
 * records at 100 a page, 8 KiB pages: with these sizes 3.42-3.50 s; 8 MiB
 * steps 3.51-3.57; trigger 16 MiB, steps 16 MiB, cap 128 MiB 3.72-3.79;
 * SQLite's own checkpoints at 32 MiB 3.78-3.97.
 */
#define CKPT_TRIGGER_PAGES 512
#define CKPT_STEP_PAGES	   256
#define CKPT_CAP_PAGES	   4096

/* Opening */
static const char *sqlite_path(const void *);
static int	   sqlite_checkpoint_async(void *, int, int, int, char **);
static void	   sqlite_checkpoint_stats(void *, struct store_ckpt_stats *);
static int	   sqlite_schema_version(void *);
static int	   read_version(struct store_sqlite *, int *, char **);
static int exec_sql(struct store_sqlite *, const char *, const char *, char **);
static int is_empty(struct store_sqlite *, int *, char **);
static int migrate(struct store_sqlite *, char **);

/* Sources and runs */
static int64_t sqlite_source(void *, const char *, const char *, int, char **);
static char   *q_text1(struct store_sqlite *, enum query, const char *, int);
static char   *sqlite_source_url(void *, const char *);
static char   *sqlite_source_by_url(void *, const char *);
static int sqlite_source_identify(void *, int64_t, const char *, const char *,
    const char *, const char *, char **);
static int64_t sqlite_run_begin(void *, int64_t, char **);
static int     sqlite_run_end(void *, int64_t, const char *,
	const struct store_run_stats *, const char *, char **);
static int     sqlite_source_last_run(
	void *, const char *, time_t *, char **, char **);

/* Every statement the store runs; "what" names it in error causes. */
const struct sqlite_query store_sqlite_queries[Q_COUNT] = {
	[Q_BEGIN] = { "begin", "BEGIN IMMEDIATE" },
	[Q_COMMIT] = { "commit", "COMMIT" },
	[Q_ROLLBACK] = { "rollback", "ROLLBACK" },
	[Q_SOURCE_GET] = { "find source",
	    "SELECT id, url FROM source WHERE name = ?1" },
	[Q_SOURCE_BY_URL] = { "find source by url",
	    "SELECT name FROM source WHERE url = ?1 ORDER BY id LIMIT 1" },
	[Q_SOURCE_ADD] = { "insert source",
	    "INSERT INTO source (name, url, created) VALUES (?1, ?2, ?3)" },
	[Q_SOURCE_URL] = { "update source url",
	    "UPDATE source SET url = ?2 WHERE id = ?1" },
	[Q_SOURCE_IDENTIFY] = { "update source identify",
	    "UPDATE source SET granularity = ?2, earliest_datestamp = ?3,"
	    " deleted_record = ?4, repository_name = ?5, identified_at = ?6"
	    " WHERE id = ?1" },
	[Q_RUN_INTERRUPTED] = { "mark interrupted runs",
	    "UPDATE run SET status = 'failed', error = 'interrupted',"
	    " ended = ?2 WHERE source_id = ?1 AND status = 'running'" },
	[Q_RUN_BEGIN] = { "insert run",
	    "INSERT INTO run (source_id, started, status)"
	    " VALUES (?1, ?2, 'running')" },
	[Q_RUN_END] = { "end run",
	    "UPDATE run SET ended = ?2, status = ?3, pages = ?4, records = ?5,"
	    " new = ?6, updated = ?7, deleted = ?8, unchanged = ?9,"
	    " bytes = ?10, error = ?11 WHERE id = ?1" },
	[Q_RECORD_GET] = { "find record",
	    "SELECT id, datestamp, deleted, hash, sets, c14n FROM record"
	    " WHERE source_id = ?1 AND prefix = ?2 AND identifier = ?3" },
	[Q_RECORD_ADD] = { "insert record",
	    "INSERT INTO record (source_id, prefix, identifier, datestamp,"
	    " deleted, hash, sets, first_seen, last_seen, c14n)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, 1)"
	    " ON CONFLICT (source_id, prefix, identifier) DO NOTHING" },
	[Q_RECORD_UPDATE] = { "update record",
	    "UPDATE record SET datestamp = ?2, deleted = ?3, hash = ?4,"
	    " sets = coalesce(?6, sets), last_seen = ?5, c14n = 1"
	    " WHERE id = ?1" },
	[Q_RECORD_STORED] = { "stored xml",
	    "SELECT c.xml, t.body, c.dc FROM content c"
	    " LEFT JOIN xml_template t ON t.id = c.template_id"
	    " WHERE c.record_id = ?1" },
	[Q_JSON_STRINGS] = { "json strings",
	    "SELECT value FROM json_each(?1) ORDER BY key" },
	[Q_JSON_DC_VALUES] = { "json dc values",
	    "SELECT value ->> 1 FROM json_each(?1) ORDER BY key" },
	[Q_CONTENT_ADD] = { "store content",
	    "INSERT INTO content (record_id, dc, template_id, xml)"
	    " VALUES (?1, ?2, ?3, ?4)" },
	/*
	 * REPLACE, not an upsert: it fires no trigger (recursive_triggers
	 * is off), so the statement needs no statement journal, and FTS5
	 * would flush its pending terms at each one's savepoint: a segment
	 * a record.  content_put() takes the old terms out itself.
	 */
	[Q_CONTENT_PUT] = { "store content",
	    "INSERT OR REPLACE INTO content (record_id, dc, template_id, xml)"
	    " VALUES (?1, ?2, ?3, ?4)" },
	[Q_CONTENT_DEL] = { "delete content",
	    "DELETE FROM content WHERE record_id = ?1" },
	[Q_TEMPLATE_GET] = { "find template",
	    "SELECT id, body FROM xml_template WHERE hash = ?1" },
	[Q_TEMPLATE_ADD] = { "insert template",
	    "INSERT INTO xml_template (hash, body) VALUES (?1, ?2)" },
	[Q_SETS_DEL] = { "delete sets",
	    "DELETE FROM record_set WHERE setspec IN"
	    " (SELECT value FROM json_each(?2)) AND record_id = ?1" },
	[Q_SET_ADD] = { "insert set",
	    "INSERT INTO record_set (setspec, record_id, position)"
	    " VALUES (?1, ?2, ?3)" },
	[Q_CHANGE_ADD] = { "insert change",
	    "INSERT INTO change (source_id, identifier, prefix, kind,"
	    " datestamp, at, run_id, seq, reason)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)" },
	[Q_SEQ_GET] = { "read change seq",
	    "SELECT max((SELECT last FROM change_seq),"
	    " coalesce((SELECT max(seq) FROM change), 0))" },
	[Q_SEQ_SET] = { "write change seq", "UPDATE change_seq SET last = ?1" },
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
	    " r.deleted, c.xml, t.body, r.sets, c.template_id FROM source s"
	    " JOIN record r ON r.source_id = s.id"
	    " LEFT JOIN content c ON c.record_id = r.id"
	    " LEFT JOIN xml_template t ON t.id = c.template_id"
	    " WHERE (?1 IS NULL OR s.name = ?1)"
	    " AND (?2 IS NULL OR r.prefix = ?2)"
	    " ORDER BY s.name, r.prefix, r.identifier" },
	[Q_EXPORT_DC] = { "export dc",
	    "SELECT j.value ->> 0, j.value ->> 1"
	    " FROM content c, json_each(c.dc) j"
	    " WHERE c.record_id = ?1 ORDER BY j.key" },
	[Q_CHANGES] = { "changes",
	    "SELECT c.seq, s.name, c.identifier, c.prefix, c.kind,"
	    " c.datestamp, c.at, c.reason FROM change c"
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
	[Q_SOURCE_JSON] = { "source status",
	    "SELECT id, repository_name, granularity, deleted_record"
	    " FROM source WHERE name = ?1" },
	[Q_CONTENT_DC] = { "read content dc",
	    "SELECT dc FROM content WHERE record_id = ?1" },
	[Q_FTS_OLD] = { "search index text",
	    "SELECT title, creator, subject, description FROM record_fts_doc"
	    " WHERE record_id = ?1" },
	/* VALUES, not SELECT: an INSERT ... SELECT has a savepoint. */
	[Q_FTS_DEL] = { "search index delete",
	    "INSERT INTO record_fts (record_fts, rowid, title, creator,"
	    " subject, description) VALUES ('delete', ?1, ?2, ?3, ?4, ?5)" },
	[Q_FTS_ADD] = { "search index insert",
	    "INSERT INTO record_fts (rowid, title, creator, subject,"
	    " description) VALUES (?1, ?2, ?3, ?4, ?5)" },
	[Q_FTS_OWE] = { "search index owe",
	    "INSERT OR IGNORE INTO fts_pending (record_id) VALUES (?1)" },
	[Q_FTS_OWED] = { "search index owed",
	    "SELECT 1 FROM fts_pending WHERE record_id = ?1" },
	[Q_FTS_DUE] = { "search index due",
	    "SELECT p.record_id FROM fts_pending p"
	    " JOIN content c ON c.record_id = p.record_id"
	    " ORDER BY p.record_id" },
	[Q_FTS_PAID] = { "search index paid", "DELETE FROM fts_pending" },
	[Q_FTS_UNOWE] = { "search index unlist",
	    "DELETE FROM fts_pending WHERE record_id = ?1" },
	[Q_FTS_OWED_COUNT] = { "search index count",
	    "SELECT count(*) FROM fts_pending" },
	[Q_SEARCH] = { "search",
	    "SELECT so.name, r.identifier, r.prefix, r.datestamp,"
	    " substr(f.title, 1, coalesce(nullif(instr(f.title, char(10)), 0)"
	    " - 1, length(f.title))),"
	    " snippet(record_fts, -1, '[', ']', '...', 16), bm25(record_fts)"
	    " FROM record_fts f JOIN record r ON r.id = f.rowid"
	    " JOIN source so ON so.id = r.source_id"
	    " WHERE record_fts MATCH ?1 AND (?2 IS NULL OR so.name = ?2)"
	    " ORDER BY rank LIMIT ?3" },
	[Q_OUTBOX_GET] = { "outbox read",
	    "SELECT seq FROM outbox WHERE name = ?1" },
	[Q_OUTBOX_SET] = { "outbox write",
	    "INSERT INTO outbox (name, seq) VALUES (?1, ?2)"
	    " ON CONFLICT (name) DO UPDATE SET seq = excluded.seq" },
	[Q_REJECT_ADD] = { "insert reject",
	    "INSERT INTO reject (source_id, prefix, identifier, datestamp,"
	    " cause, raw, truncated, run_id, at)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)" },
	[Q_SWEEP_MARK] = { "sweep mark",
	    "UPDATE record SET swept = ?1 WHERE source_id = ?2 AND"
	    " prefix = ?3 AND identifier = ?4" },
	[Q_SWEEP_PRESENT] = { "sweep count",
	    "SELECT count(*) FROM record WHERE source_id = ?1 AND"
	    " prefix = ?2 AND deleted = 0" },
	[Q_SWEEP_MISSED] = { "sweep missed",
	    "SELECT identifier FROM record WHERE source_id = ?1 AND"
	    " prefix = ?2 AND deleted = 0 AND swept IS NOT ?3" },
	/* ?4: overwrite; else only start the clock of a list never swept. */
	[Q_SWEEP_STAMP] = { "sweep stamp",
	    "UPDATE list_state SET swept_at = ?3 WHERE source_id = ?1 AND"
	    " prefix = ?2 AND setspec = '' AND (?4 OR swept_at IS NULL)" },
	[Q_SWEEP_LAST] = { "sweep last",
	    "SELECT swept_at FROM list_state WHERE source_id = ?1 AND"
	    " prefix = ?2 AND setspec = ''" },
};

/* Opening */

/* Reading the version is also the first read of the file's header. */
static int
read_version(struct store_sqlite *s, int *version, char **cause)
{
	sqlite3_stmt *st;
	int	      rc;

	if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) !=
	    SQLITE_OK) {
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
exec_sql(
    struct store_sqlite *s, const char *sql, const char *what, char **cause)
{
	char *err = NULL;

	if (sqlite3_exec(s->db, sql, NULL, NULL, &err) != SQLITE_OK) {
		set_cause(cause, "store: %s %s: %s", what, s->path,
		    err != NULL ? err : sqlite3_errmsg(s->db));
		sqlite3_free(err);
		return -1;
	}
	return 0;
}

static int
is_empty(struct store_sqlite *s, int *empty, char **cause)
{
	sqlite3_stmt *st;
	int	      rc;

	if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM sqlite_master", -1,
		&st, NULL) != SQLITE_OK) {
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
migrate(struct store_sqlite *s, char **cause)
{
	char *sql;
	int   v, rc, empty;

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
				set_cause(cause,
				    "store: open %s: not an "
				    "oaiharvest database (it has tables but "
				    "no schema version)",
				    s->path);
				goto fail;
			}
		}
		if (exec_sql(s, store_migrations[v].sql, "migrate", cause) ==
		    -1)
			goto fail;
		xasprintf(&sql, "PRAGMA user_version = %d", v + 1);
		rc = exec_sql(s, sql, "migrate", cause);
		free(sql);
		if (rc == -1 || exec_sql(s, "COMMIT", "migrate", cause) == -1)
			goto fail;
		log_info("event=store_migrated path=%s version=%d",
		    log_q(s->path), v + 1);
	}
	if (exec_sql(s, "COMMIT", "migrate", cause) == -1)
		goto fail;
	if ((size_t)v != store_nmigrations) {
		set_cause(cause,
		    "store: open %s: schema version %d is newer "
		    "than this oaiharvest knows (%zu)",
		    s->path, v, store_nmigrations);
		return -1;
	}
	return 0;
fail:
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/* The records fts_pending lists into the index (see store_sqlite_open). */
static void
fts_catch_up_at_open(struct store_sqlite *s)
{
	sqlite3_stmt *st = s->q[Q_FTS_OWED_COUNT];
	char	     *cause = NULL;
	int64_t	      owed;

	if (sqlite3_step(st) != SQLITE_ROW) {
		(void)q_fail(s, Q_FTS_OWED_COUNT, &cause);
		goto fail;
	}
	owed = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	s->fts_owed = owed;
	if (owed == 0)
		return;
	if (store_sqlite_fts_catch_up(s, &cause) == -1)
		goto fail;
	log_info("event=search_index_caught_up path=%s records=%lld",
	    log_q(s->path), (long long)owed);
	return;
fail:
	log_warn("event=search_index_catch_up_error path=%s cause=%s",
	    log_q(s->path), log_q(cause));
	free(cause);
}

void *
store_sqlite_open(const char *path, int flags, char **cause)
{
	struct store_sqlite *s;
	sqlite3_stmt	    *st;
	const char	    *mode;
	char		    *sql;
	int		     oflags, rc, v, persist;
	size_t		     i;

	/*
	 * store/ is the process's only SQLite user.  Without the memory
	 * statistics every allocation skips a global mutex (about 7% of a
	 * store_put); this fails harmlessly once SQLite is initialised.
	 */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);

	s = xcalloc(1, sizeof(*s));
	s->path = xstrdup(path);
	s->prep = store_prep_new();
	buf_init(&s->oldsets, SETS_JSON_MAX);
	for (i = 0; i < nitems(s->fts_text); i++)
		buf_init(&s->fts_text[i], SIZE_MAX / 4);
	buf_init(&s->gone.text, SIZE_MAX / 4);
	buf_init(&s->owed.text, OWED_TEXT_MAX);
	s->fts_trail = (flags & STORE_TRAIL) != 0;
	s->fts_owed = -1;
	oflags = SQLITE_OPEN_NOMUTEX;
	if (flags & STORE_RDONLY)
		oflags |= SQLITE_OPEN_READONLY;
	else
		oflags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	if ((rc = sqlite3_open_v2(path, &s->db, oflags, NULL)) != SQLITE_OK) {
		set_cause(cause, "store: open %s: %s", path,
		    s->db != NULL ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
	/* Before anything touches record_fts: see tokenize.c. */
	if ((rc = store_tokenize_register(s->db)) != SQLITE_OK) {
		set_cause(cause, "store: open %s: full-text tokenizer: %s",
		    path, sqlite3_errstr(rc));
		goto fail;
	}

	/* Refuse a newer file before changing anything in it. */
	if (read_version(s, &v, cause) == -1)
		goto fail;
	if (v < 0 || (size_t)v > store_nmigrations) {
		set_cause(cause,
		    "store: open %s: schema version %d is newer "
		    "than this oaiharvest knows (%zu)",
		    path, v, store_nmigrations);
		goto fail;
	}
	if ((size_t)v < store_nmigrations && (flags & STORE_RDONLY)) {
		set_cause(cause,
		    "store: open %s: schema version %d, need %zu "
		    "(%s); open it read-write once to migrate",
		    path, v, store_nmigrations,
		    v == 0 ? "not an oaiharvest database" : "older");
		goto fail;
	}

	if (!(flags & STORE_RDONLY)) {
		/*
		 * A new file gets the first step's page size before WAL mode
		 * fixes it; on a file with tables this changes nothing.
		 */
		if ((size_t)v < store_nmigrations &&
		    store_migrations[v].setup != NULL &&
		    exec_sql(s, store_migrations[v].setup, "migrate", cause) ==
			-1)
			goto fail;
		/*
		 * WAL is persistent in the file; this only sets it once.
		 * Setting it takes a read lock and then upgrades it to a
		 * write lock, and SQLite calls no busy handler for such an
		 * upgrade (it could deadlock): two processes opening a new
		 * file at once would see "database is locked" at once.
		 * Wait for the lock here, as the busy timeout does.
		 */
		if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1,
			&st, NULL) != SQLITE_OK) {
			set_cause(cause, "store: journal_mode %s: %s", path,
			    sqlite3_errmsg(s->db));
			goto fail;
		}
		for (i = 0; (rc = sqlite3_step(st)) == SQLITE_BUSY &&
		     i < BUSY_TIMEOUT_MS / BUSY_RETRY_MS;
		     i++) {
			sqlite3_reset(st);
			sqlite3_sleep(BUSY_RETRY_MS);
		}
		if (rc != SQLITE_ROW) {
			set_cause(cause, "store: journal_mode %s: %s", path,
			    sqlite3_errmsg(s->db));
			sqlite3_finalize(st);
			goto fail;
		}
		mode = col_text(st, 0);
		if (mode == NULL ||
		    (strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0))
			log_warn("event=store_not_wal path=%s mode=%s",
			    log_q(path), log_q(mode));
		sqlite3_finalize(st);
		/*
		 * Keep the -wal and -shm files when the last connection
		 * closes.  A reader that may not write the directory (a
		 * member of the daemon's group: directory 0750, files 0640)
		 * opens a WAL database read-only only when they exist; were
		 * they deleted, it could read nothing while the daemon is
		 * stopped.
		 */
		persist = 1;
		sqlite3_file_control(
		    s->db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
	}
	/*
	 * NORMAL in WAL mode syncs only at checkpoints: a power loss may lose
	 * the last pages, which the next harvest fetches again.  secure_delete
	 * (on in Debian's build) would zero every byte a replaced row leaves
	 * behind: writes for nothing, the data is public.
	 */
	if (exec_sql(s, "PRAGMA synchronous = NORMAL", "open", cause) == -1 ||
	    exec_sql(s, "PRAGMA foreign_keys = ON", "open", cause) == -1 ||
	    exec_sql(s, "PRAGMA secure_delete = OFF", "open", cause) == -1)
		goto fail;
	xasprintf(&sql,
	    "PRAGMA cache_size = -%d; "
	    "PRAGMA wal_autocheckpoint = %d; PRAGMA journal_size_limit = %d",
	    CACHE_KIB, WAL_CHECKPOINT_PAGES, WAL_LIMIT_BYTES);
	rc = exec_sql(s, sql, "open", cause);
	free(sql);
	if (rc == -1)
		goto fail;

	if ((size_t)v < store_nmigrations && migrate(s, cause) == -1)
		goto fail;
	s->version = (int)store_nmigrations;

	for (i = 0; i < Q_COUNT; i++) {
		if (sqlite3_prepare_v3(s->db, store_sqlite_queries[i].sql, -1,
			SQLITE_PREPARE_PERSISTENT, &s->q[i],
			NULL) != SQLITE_OK) {
			set_cause(cause, "store: prepare %s: %s",
			    store_sqlite_queries[i].what,
			    sqlite3_errmsg(s->db));
			goto fail;
		}
	}
	/*
	 * A page writer killed mid-run left its last batch out of the
	 * full-text index until a run ended: the next one catches it up.
	 * Failing that (the file busy), the next run's end does.
	 */
	if ((flags & STORE_TRAIL) && !(flags & STORE_RDONLY))
		fts_catch_up_at_open(s);
	return s;
fail:
	store_sqlite_close(s);
	return NULL;
}

static const char *
sqlite_path(const void *be)
{
	const struct store_sqlite *s = be;

	return s->path;
}

void
store_sqlite_close(void *be)
{
	struct store_sqlite *s = be;
	size_t		     i;

	if (s == NULL)
		return;
	store_ckpt_stop(s->ckpt);
	if (s->db != NULL) {
		/* An open page transaction is lost, as in a crash. */
		if (!sqlite3_get_autocommit(s->db))
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		for (i = 0; i < Q_COUNT; i++)
			sqlite3_finalize(s->q[i]);
		store_sqlite_lease_free(s);
		if (sqlite3_close(s->db) != SQLITE_OK)
			log_err("event=store_close_error path=%s error=%s",
			    log_q(s->path), log_q(sqlite3_errmsg(s->db)));
	}
	store_sqlite_write_free(s);
	free(s->path);
	free(s);
}

static int
sqlite_checkpoint_async(void *be, int trigger, int step, int cap, char **cause)
{
	struct store_sqlite *s = be;

	if (s->ckpt != NULL)
		return 0;
	if (trigger <= 0)
		trigger = CKPT_TRIGGER_PAGES;
	if (step <= 0)
		step = CKPT_STEP_PAGES;
	if (cap <= 0)
		cap = CKPT_CAP_PAGES;
	s->ckpt = store_ckpt_start(s->db, s->path, trigger, step, cap, cause);
	return s->ckpt != NULL ? 0 : -1;
}

static void
sqlite_checkpoint_stats(void *be, struct store_ckpt_stats *st)
{
	struct store_sqlite *s = be;

	if (s->ckpt != NULL)
		store_ckpt_stats(s->ckpt, st);
	else
		memset(st, 0, sizeof(*st));
}

static int
sqlite_schema_version(void *be)
{
	struct store_sqlite *s = be;

	return s->version;
}

/* Sources */

static int64_t
sqlite_source(
    void *be, const char *name, const char *url, int move, char **cause)
{
	struct store_sqlite *s = be;
	sqlite3_stmt	    *st = s->q[Q_SOURCE_GET];
	const char	    *old;
	int64_t		     id;
	int		     rc, same;

	if (name == NULL) {
		set_cause(cause, "store: source: no name");
		return -1;
	}
	bind_text(st, 1, name);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		id = sqlite3_column_int64(st, 0);
		old = col_text(st, 1);
		same = url == NULL || (old != NULL && strcmp(old, url) == 0);
		/*
		 * One source, one repository: another URL is another
		 * repository unless the caller says the source moved.
		 */
		if (!same && !move && old != NULL) {
			set_cause(cause,
			    "source \"%s\" is the repository at "
			    "%s, not %s",
			    name, old, url);
			sqlite3_reset(st);
			return STORE_SOURCE_OTHER_URL;
		}
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

/* One text column of the first row of query q with ?1 = arg, or NULL. */
static char *
q_text1(struct store_sqlite *s, enum query q, const char *arg, int col)
{
	sqlite3_stmt *st = s->q[q];
	const char   *v;
	char	     *out = NULL;

	bind_text(st, 1, arg);
	if (sqlite3_step(st) == SQLITE_ROW && (v = col_text(st, col)) != NULL)
		out = xstrdup(v);
	sqlite3_reset(st);
	return out;
}

static char *
sqlite_source_url(void *be, const char *name)
{
	return q_text1(be, Q_SOURCE_GET, name, 1);
}

static char *
sqlite_source_by_url(void *be, const char *url)
{
	return q_text1(be, Q_SOURCE_BY_URL, url, 0);
}

static int
sqlite_source_identify(void *be, int64_t source, const char *granularity,
    const char *earliest, const char *deleted_record,
    const char *repository_name, char **cause)
{
	struct store_sqlite *s = be;
	sqlite3_stmt	    *st = s->q[Q_SOURCE_IDENTIFY];

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

/*
 * A run still 'running' when the next run of its source begins was killed
 * (SIGKILL, a power loss) before it could end: it is marked failed with
 * error 'interrupted'.  A source is harvested by one process at a time, so
 * no live process holds such a run; if two harvested one source at once
 * after all, the live run's own end overwrites the mark with its result.
 */
static int64_t
sqlite_run_begin(void *be, int64_t source, char **cause)
{
	struct store_sqlite *s = be;
	sqlite3_stmt	    *st = s->q[Q_RUN_INTERRUPTED];
	int		     n;

	sqlite3_bind_int64(st, 1, source);
	bind_text(st, 2, store_now(s));
	if (q_exec(s, Q_RUN_INTERRUPTED, cause) == -1)
		return -1;
	if ((n = sqlite3_changes(s->db)) > 0)
		log_warn("event=runs_interrupted source_id=%lld runs=%d "
			 "msg=\"marked failed\"",
		    (long long)source, n);
	st = s->q[Q_RUN_BEGIN];
	sqlite3_bind_int64(st, 1, source);
	bind_text(st, 2, store_now(s));
	if (q_exec(s, Q_RUN_BEGIN, cause) == -1)
		return -1;
	return sqlite3_last_insert_rowid(s->db);
}

static int
sqlite_run_end(void *be, int64_t run, const char *status,
    const struct store_run_stats *rs, const char *error, char **cause)
{
	static const struct store_run_stats zero;
	struct store_sqlite		   *s = be;
	sqlite3_stmt			   *st = s->q[Q_RUN_END];

	if (status == NULL ||
	    (strcmp(status, "ok") != 0 && strcmp(status, "failed") != 0)) {
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
	/* The run's records are searchable when it ends. */
	return store_sqlite_fts_catch_up(s, cause);
}

/*
 * The source's id (Q_SOURCE_GET), then its newest run (Q_STATUS_RUN, whose
 * columns 2 and 3 are ended and status).
 */
static int
sqlite_source_last_run(
    void *be, const char *name, time_t *ended, char **status, char **cause)
{
	struct store_sqlite *s = be;
	sqlite3_stmt	    *st = s->q[Q_SOURCE_GET];
	const char	    *v;
	int64_t		     id;
	int		     rc;

	*ended = 0;
	*status = NULL;
	bind_text(st, 1, name);
	if ((rc = sqlite3_step(st)) == SQLITE_DONE) {
		sqlite3_reset(st);
		return 0;
	}
	if (rc != SQLITE_ROW)
		return q_fail(s, Q_SOURCE_GET, cause);
	id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	st = s->q[Q_STATUS_RUN];
	sqlite3_bind_int64(st, 1, id);
	if ((rc = sqlite3_step(st)) == SQLITE_DONE) {
		sqlite3_reset(st);
		return 0;
	}
	if (rc != SQLITE_ROW)
		return q_fail(s, Q_STATUS_RUN, cause);
	if ((v = col_text(st, 2)) != NULL &&
	    datestamp_parse(v, ended, NULL) == -1)
		*ended = 0;
	*status = xstrdup((v = col_text(st, 3)) != NULL ? v : "running");
	sqlite3_reset(st);
	return 1;
}

const struct store_ops store_sqlite_ops = {
	.name = "sqlite",
	.scheme = NULL,
	.open = store_sqlite_open,
	.close = store_sqlite_close,
	.path = sqlite_path,
	.checkpoint_async = sqlite_checkpoint_async,
	.checkpoint_stats = sqlite_checkpoint_stats,
	.schema_version = sqlite_schema_version,
	.source = sqlite_source,
	.source_url = sqlite_source_url,
	.source_by_url = sqlite_source_by_url,
	.source_identify = sqlite_source_identify,
	.run_begin = sqlite_run_begin,
	.run_end = sqlite_run_end,
	.source_last_run = sqlite_source_last_run,
	.begin = store_sqlite_begin,
	.commit = store_sqlite_commit,
	.rollback = store_sqlite_rollback,
	.put = store_sqlite_put,
	.reject = store_sqlite_reject,
	.list_get = store_sqlite_list_get,
	.list_checkpoint = store_sqlite_list_checkpoint,
	.list_complete = store_sqlite_list_complete,
	.sweep_mark = store_sqlite_sweep_mark,
	.sweep_finish = store_sqlite_sweep_finish,
	.sweep_last = store_sqlite_sweep_last,
	.sweep_touch = store_sqlite_sweep_touch,
	.export = store_sqlite_export,
	.changes = store_sqlite_changes,
	.search = store_sqlite_search,
	.status = store_sqlite_status,
	.source_status = store_sqlite_source_status,
	.writable = store_sqlite_writable,
	.last_seq = store_sqlite_last_seq,
	.outbox_get = store_sqlite_outbox_get,
	.outbox_set = store_sqlite_outbox_set,
	.export_select = store_sqlite_export_select,
	.source_known = store_sqlite_source_known,
	.source_rename = store_sqlite_source_rename,
	.source_move = store_sqlite_source_move,
	.source_reset = store_sqlite_source_reset,
	.source_drop = store_sqlite_source_drop,
	.lease_take = store_sqlite_lease_take,
	.lease_renew = store_sqlite_lease_renew,
	.lease_release = store_sqlite_lease_release,
	.lease_held = store_sqlite_lease_held,
	.leases = store_sqlite_leases,
	.lease_nodes = store_sqlite_lease_nodes,
	.outbox_set_fenced = store_sqlite_outbox_set_fenced,
};
