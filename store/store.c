/*
 * The SQLite store.  One connection; every statement is prepared once at
 * open (SQLITE_PREPARE_PERSISTENT) from the queries[] table and reused with
 * bind, step, reset.  No SQL is ever built from values.  The schema and its
 * migrations live in schema.c.
 */
#include <endian.h>
#include <errno.h>
#include <limits.h>
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
#include "c14n.h"
#include "checkpoint.h"
#include "schema.h"
#include "store.h"
#include "tokenize.h"

/*
 * A writer waits this long for another connection's lock (the CLI reading
 * while the daemon commits a page) before the statement fails with BUSY.
 */
#define BUSY_TIMEOUT_MS		5000
/* Between two tries of a lock SQLite's busy handler does not wait for. */
#define BUSY_RETRY_MS		10

/*
 * Page cache in KiB.  Writes append at the ends of the tables and of a few
 * index ranges (one per source, prefix and set), so a small cache holds what
 * a page transaction touches; the rest of the harvester needs the memory.
 * 4 MiB harvests as fast as 8 (1,000,000 records at 10,000 a page: 33.2 s
 * against 32.8, 100,000: the same within noise) in 5 MB less peak RSS
 * (26.7 MB against 31.8); 16 MiB no faster either.
 */
#define CACHE_KIB		4096

/*
 * The WAL is checkpointed into the database once it has this many pages
 * (32 MiB of 16 KiB pages; 16 MiB in files made with 8 KiB pages), at the
 * end of a transaction: SQLite's 1000 meant a checkpoint
 * and its fsync every 24 pages of 100 records, a tenth of the time spent.
 * It grows past that only while one transaction needs it (10,000 oai_dc
 * records: 25 MB), and is cut back to WAL_LIMIT_BYTES after a checkpoint.
 */
#define WAL_CHECKPOINT_PAGES	2048
#define WAL_LIMIT_BYTES		(64 * 1024 * 1024)

/*
 * The page writer's checkpoints (store_checkpoint_async(), checkpoint.c),
 * in pages (of 16 KiB): a background pass for every 4 MiB once the WAL
 * holds 8 MiB, the rest on the writer at 64 MiB (WAL_LIMIT_BYTES, so the
 * file is not cut back each time) or four commits.  make bench, 100,000
 * records at 100 a page, 8 KiB pages: with these sizes 3.42-3.50 s; 8 MiB
 * steps 3.51-3.57; trigger 16 MiB, steps 16 MiB, cap 128 MiB 3.72-3.79;
 * SQLite's own checkpoints at 32 MiB 3.78-3.97.
 */
#define CKPT_TRIGGER_PAGES	512
#define CKPT_STEP_PAGES		256
#define CKPT_CAP_PAGES		4096

/*
 * Templates (see schema.c) longer than this are not made: the XML is kept
 * as it is.  An oai_dc template is about 40 bytes a value plus 350.
 */
#define TEMPLATE_MAX		4096

/*
 * Templates remembered, so that records rarely ask SQLite for theirs (a
 * lookup costs a tenth of a put): sets of TEMPLATE_WAYS by hash, the least
 * recently used of a set replaced.  Only those up to TEMPLATE_KEEP bytes,
 * so at most 2 MiB; a repository has some hundreds of about 1 KB.
 */
#define TEMPLATE_SETS		512
#define TEMPLATE_WAYS		2
#define TEMPLATE_KEEP		2048

/* What json_value() saw in a value. */
#define JV_MARKUP	0x01	/* & < > or CR: escaped in XML text */

/*
 * One exported line holds one record: metadata of at most MAX_RECORD_BYTES
 * and DC values taken from it, each up to six times longer once escaped as
 * JSON (\u00XX), plus the header.
 */
#define EXPORT_MAX_LINE		(16 * MAX_RECORD_BYTES)

/* content.dc of one record, at most. */
#define JSON_MAX		EXPORT_MAX_LINE

/* record.sets: every setSpec escaped (up to six bytes a byte), quoted. */
#define SETS_JSON_MAX		(MAX_SETS_PER_RECORD * (6 * MAX_ID_LEN + 3) + 2)

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
	Q_SOURCE_BY_URL,
	Q_SOURCE_ADD,
	Q_SOURCE_URL,
	Q_SOURCE_IDENTIFY,
	Q_RUN_INTERRUPTED,
	Q_RUN_BEGIN,
	Q_RUN_END,
	Q_RECORD_GET,
	Q_RECORD_ADD,
	Q_RECORD_UPDATE,
	Q_RECORD_STORED,
	Q_JSON_STRINGS,
	Q_JSON_DC_VALUES,
	Q_CONTENT_ADD,
	Q_CONTENT_PUT,
	Q_CONTENT_DEL,
	Q_TEMPLATE_GET,
	Q_TEMPLATE_ADD,
	Q_SETS_DEL,
	Q_SET_ADD,
	Q_CHANGE_ADD,
	Q_SEQ_GET,
	Q_SEQ_SET,
	Q_LIST_GET,
	Q_LIST_CHECKPOINT,
	Q_LIST_COMPLETE,
	Q_EXPORT,
	Q_EXPORT_DC,
	Q_CHANGES,
	Q_STATUS_SOURCES,
	Q_STATUS_RUN,
	Q_STATUS_RECORDS,
	Q_STATUS_LISTS,
	Q_SOURCE_JSON,
	Q_SOURCE_COUNTS,
	Q_CONTENT_DC,
	Q_FTS_OLD,
	Q_FTS_DEL,
	Q_FTS_ADD,
	Q_SEARCH,
	Q_OUTBOX_GET,
	Q_OUTBOX_SET,
	Q_REJECT_ADD,
	Q_SWEEP_MARK,
	Q_SWEEP_PRESENT,
	Q_SWEEP_MISSED,
	Q_SWEEP_STAMP,
	Q_SWEEP_LAST,
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
	[Q_SEQ_SET] = { "write change seq",
	    "UPDATE change_seq SET last = ?1" },
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
	[Q_SOURCE_COUNTS] = { "source counts",
	    "SELECT count(*) - coalesce(sum(deleted), 0),"
	    " coalesce(sum(deleted), 0) FROM record WHERE source_id = ?1" },
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

/* A growing JSON text (content.dc). */
struct jbuf {
	char	*data;
	size_t	 len;
	size_t	 cap;
};

/*
 * What store_prepare() works with: its results point into it.  Nothing
 * here is the database's, so that another thread can prepare records
 * while the store's writes them.
 */
struct store_prep {
	/* Scratch array for sorting a record's setSpecs before hashing. */
	const char	**sets;
	size_t		  nsets;
	/* The metadata's canonical form is hashed with this. */
	struct store_c14n *c14n;
	/* The DCMES code, length and JV_ flags of each DC value. */
	int		 *codes;
	size_t		 *vlen;
	int		 *vflags;
	size_t		  ncodes;
	/* content.dc, the template, record.sets, the full-text columns. */
	struct jbuf	  dcjson;
	struct buf	  tmpl;
	struct buf	  setsjson;
	struct buf	  fts[4];
};

/* A template SQLite holds, as id; tentative until its insert commits. */
struct template {
	uint64_t	 hash;
	int64_t		 id;
	char		*body;
	size_t		 len;
	uint64_t	 used;		/* s->template_clock when last used */
	int		 tentative;
};

struct store {
	sqlite3		 *db;
	char		 *path;
	int		  version;
	sqlite3_stmt	 *q[Q_COUNT];
	/* What store_put() works out when it is not given it. */
	struct store_prep *prep;
	/* The record.sets JSON a rewritten record replaces. */
	struct buf	  oldsets;
	/* Templates remembered, by hash. */
	struct template	  templates[TEMPLATE_SETS][TEMPLATE_WAYS];
	uint64_t	  template_clock;
	/* Whether the last record put was new: then try to insert first. */
	int		  last_new;
	/*
	 * The last change seq given out in this page transaction; valid when
	 * seq_read, to be written back at commit when seq_new.
	 */
	int64_t		  seq;
	int		  seq_read;
	int		  seq_new;
	/* The current UTC time, formatted at most once a second. */
	time_t		  now_t;
	char		  now[DATESTAMP_LEN];
	/* A record's old full-text columns, to take its terms out. */
	struct buf	  fts_text[4];
	/* Checkpoints on a thread of their own, or NULL. */
	struct store_ckpt *ckpt;
	/* What stored_hash() works with, made when first needed. */
	struct rehash	 *rehash;
};

/*
 * A stored record's setSpecs and DC values, read by SQLite's JSON
 * functions for stored_hash(), and its XML rebuilt.
 */
struct rehash {
	struct buf	 vals;		/* NUL-terminated strings */
	size_t		*off;		/* where each starts in vals */
	const char	**ptr;
	size_t		 n;
	size_t		 cap;
	struct buf	 xml;
};

/* What store_export() reuses from one record to the next. */
struct export {
	struct buf	 line;
	struct buf	 el[NDCMES];
	struct buf	 vals;		/* DC values, NUL-terminated */
	size_t		*off;		/* where each starts in vals */
	size_t		 nvals;
	size_t		 noff;
	struct buf	 xml;		/* a template filled */
};

/* Errors and statements */
static void	 set_cause(char **, const char *, ...) __printflike(2, 3);
static int	 q_fail(struct store *, enum query, char **);
static int	 q_exec(struct store *, enum query, char **);
static void	 bind_text(sqlite3_stmt *, int, const char *);
static void	 bind_count(sqlite3_stmt *, int, long long);
static const char *col_text(sqlite3_stmt *, int);
static int	 need_transaction(struct store *, const char *, char **);
static int	 fts_del(struct store *, int64_t, char **);
static int	 fts_old_text(struct store *, const char *, size_t, int[4]);
static int	 fts_add(struct store *, int64_t,
		    const struct store_prepared *, char **);
static void	 json_col(struct buf *, sqlite3_stmt *, int);
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
static int	 check_record(struct store_prep *,
		    const struct store_record *, char **);
static uint64_t	 record_hash(struct store_prep *,
		    const struct store_record *);
static int	 is_stale(const char *, const char *);
static int	 stored_hash(struct store *, int64_t, const char *,
		    uint64_t *, char **);
static int	 rehash_strings(struct store *, enum query, const char *,
		    size_t);
static void	 rehash_free(struct rehash *);
static int	 record_get(struct store *, int64_t,
		    const struct store_record *, uint64_t, int64_t *, int *,
		    int *, int *, uint64_t *, int *, char **);
static int	 record_add(struct store *, int64_t,
		    const struct store_record *, const struct store_prepared *,
		    const char *, int64_t *, char **);
static int	 content_put(struct store *, int64_t,
		    const struct store_record *, const struct store_prepared *,
		    int, char **);
static int	 change_add(struct store *, int64_t, int64_t,
		    const struct store_record *, enum store_change,
		    const char *, char **);
static void	 transaction_end(struct store *, int);

/* Content */
static int	 sets_json(struct store_prep *, const struct store_record *);
static int	 buf_str_copy(struct buf *, const char *);
static int	 dc_json(struct store_prep *, const struct store_record *);
static int	 jbuf_room(struct jbuf *, size_t);
static char	*json_value(char *, const char *, size_t, int *);
static const char *text_match(const char *, const char *, const char *,
		    size_t, int);
static int	 template_make(struct store_prep *,
		    const struct store_record *);
static int	 template_id(struct store *, const struct store_prepared *,
		    int64_t *, char **);
static void	 templates_settle(struct store *, int);
static int	 xml_escape(struct buf *, const char *, size_t);
static int	 template_fill(struct buf *, const char *, size_t,
		    const struct buf *, const size_t *, size_t);

/* Output */
static int	 export_record(struct store *, sqlite3_stmt *,
		    struct export *, char **);
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
		if (exec_sql(s, store_migrations[v].sql, "migrate",
		    cause) == -1)
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
	s->prep = store_prep_new();
	buf_init(&s->oldsets, SETS_JSON_MAX);
	for (i = 0; i < nitems(s->fts_text); i++)
		buf_init(&s->fts_text[i], SIZE_MAX / 4);
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
		/*
		 * A new file gets the first step's page size before WAL mode
		 * fixes it; on a file with tables this changes nothing.
		 */
		if ((size_t)v < store_nmigrations &&
		    store_migrations[v].setup != NULL &&
		    exec_sql(s, store_migrations[v].setup, "migrate",
		    cause) == -1)
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
		    i < BUSY_TIMEOUT_MS / BUSY_RETRY_MS; i++) {
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
		if (mode == NULL || (strcmp(mode, "wal") != 0 &&
		    strcmp(mode, "memory") != 0))
			log_warn("store: not in WAL mode path=%s mode=%s",
			    log_q(path), log_q(mode));
		sqlite3_finalize(st);
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
	xasprintf(&sql, "PRAGMA cache_size = -%d; "
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

const char *
store_path(const struct store *s)
{
	return s->path;
}

void
store_close(struct store *s)
{
	size_t	i, j;

	if (s == NULL)
		return;
	store_ckpt_stop(s->ckpt);
	rehash_free(s->rehash);
	s->rehash = NULL;
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
	for (i = 0; i < TEMPLATE_SETS; i++)
		for (j = 0; j < TEMPLATE_WAYS; j++)
			free(s->templates[i][j].body);
	for (i = 0; i < nitems(s->fts_text); i++)
		buf_free(&s->fts_text[i]);
	store_prep_free(s->prep);
	buf_free(&s->oldsets);
	free(s->path);
	free(s);
}

int
store_checkpoint_async(struct store *s, int trigger, int step, int cap,
    char **cause)
{
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

void
store_checkpoint_stats(struct store *s, struct store_ckpt_stats *st)
{
	if (s->ckpt != NULL)
		store_ckpt_stats(s->ckpt, st);
	else
		memset(st, 0, sizeof(*st));
}

int
store_schema_version(struct store *s)
{
	return s->version;
}

/* Sources */

int64_t
store_source(struct store *s, const char *name, const char *url, int move,
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
		/*
		 * One source, one repository: another URL is another
		 * repository unless the caller says the source moved.
		 */
		if (!same && !move && old != NULL) {
			set_cause(cause, "source \"%s\" is the repository at "
			    "%s, not %s", name, old, url);
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
q_text1(struct store *s, enum query q, const char *arg, int col)
{
	sqlite3_stmt	*st = s->q[q];
	const char	*v;
	char		*out = NULL;

	bind_text(st, 1, arg);
	if (sqlite3_step(st) == SQLITE_ROW && (v = col_text(st, col)) != NULL)
		out = xstrdup(v);
	sqlite3_reset(st);
	return out;
}

char *
store_source_url(struct store *s, const char *name)
{
	return q_text1(s, Q_SOURCE_GET, name, 1);
}

char *
store_source_by_url(struct store *s, const char *url)
{
	return q_text1(s, Q_SOURCE_BY_URL, url, 0);
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

/*
 * A run still 'running' when the next run of its source begins was killed
 * (SIGKILL, a power loss) before it could end: it is marked failed with
 * error 'interrupted'.  A source is harvested by one process at a time, so
 * no live process holds such a run; if two harvested one source at once
 * after all, the live run's own end overwrites the mark with its result.
 */
int64_t
store_run_begin(struct store *s, int64_t source, char **cause)
{
	sqlite3_stmt	*st = s->q[Q_RUN_INTERRUPTED];
	int		 n;

	sqlite3_bind_int64(st, 1, source);
	bind_text(st, 2, store_now(s));
	if (q_exec(s, Q_RUN_INTERRUPTED, cause) == -1)
		return -1;
	if ((n = sqlite3_changes(s->db)) > 0)
		log_warn("store: interrupted runs source_id=%lld runs=%d "
		    "msg=\"marked failed\"", (long long)source, n);
	st = s->q[Q_RUN_BEGIN];
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
		[STORE_TOMBSTONE] = NULL,
	};

	if ((size_t)c >= nitems(names))
		return NULL;
	return names[c];
}

/*
 * What the store keeps about a transaction (templates added, the change
 * seq) is only good for that transaction unless it commits here.
 */
static void
transaction_end(struct store *s, int committed)
{
	templates_settle(s, committed);
	s->seq_read = s->seq_new = 0;
}

int
store_begin(struct store *s, char **cause)
{
	transaction_end(s, 0);
	return q_exec(s, Q_BEGIN, cause);
}

/* On failure the transaction is still open: the caller rolls it back. */
int
store_commit(struct store *s, char **cause)
{
	if (s->seq_new && !sqlite3_get_autocommit(s->db)) {
		sqlite3_bind_int64(s->q[Q_SEQ_SET], 1, s->seq);
		if (q_exec(s, Q_SEQ_SET, cause) == -1)
			return -1;
	}
	if (q_exec(s, Q_COMMIT, cause) == -1)
		return -1;
	transaction_end(s, 1);
	return 0;
}

void
store_rollback(struct store *s)
{
	transaction_end(s, 0);
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
		if (dcmes[i][0] == name[0] && strcmp(dcmes[i], name) == 0)
			return (int)i;
	return -1;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Reject what the schema cannot hold before writing anything, and note the
 * DCMES code of each value.
 */
static int
check_record(struct store_prep *s, const struct store_record *r,
    char **cause)
{
	size_t	i;
	int	code;

	if (r->identifier == NULL || r->datestamp == NULL) {
		set_cause(cause, "store: put: record without identifier or "
		    "datestamp");
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
	if (s->ncodes < r->ndc) {
		s->codes = xreallocarray(s->codes, r->ndc, sizeof(*s->codes));
		s->vlen = xreallocarray(s->vlen, r->ndc, sizeof(*s->vlen));
		s->vflags = xreallocarray(s->vflags, r->ndc,
		    sizeof(*s->vflags));
		s->ncodes = r->ndc;
	}
	for (i = 0; i < r->ndc; i++) {
		if (r->dc[i].element == NULL || r->dc[i].value == NULL) {
			set_cause(cause, "store: put: DC value without "
			    "element or text");
			return -1;
		}
		if ((code = dc_lookup(r->dc[i].element)) == -1) {
			set_cause(cause, "store: put: %s is not a DC element",
			    log_q(r->dc[i].element));
			return -1;
		}
		s->codes[i] = code;
	}
	return 0;
}

/*
 * The content hash: FNV-1a over the deleted flag, the number of sets and
 * the setSpecs sorted and NUL-terminated (so that a server listing them in
 * another order is not an update), then XXH64 of the metadata's canonical
 * form (c14n.c: namespace declarations and attributes in one order, no
 * comments, text as its characters) seeded with that, so that the same
 * metadata written another way is not one either.  DC values come from
 * the metadata and add nothing.
 */
static uint64_t
record_hash(struct store_prep *s, const struct store_record *r)
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
		h = store_c14n_hash(s->c14n, r->metadata, r->metadata_len,
		    h);
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

	if (stored == NULL || datestamp_read(stored, &ts, NULL, NULL) == -1 ||
	    datestamp_read(incoming, &ti, NULL, NULL) == -1)
		return 0;
	return ti < ts;
}

/*
 * Write the content and sets of record id; unless fresh, replace what was
 * there.  Deleted records keep their sets but no content.
 */
static int
content_put(struct store *s, int64_t id, const struct store_record *r,
    const struct store_prepared *p, int fresh, char **cause)
{
	sqlite3_stmt	*st;
	int64_t		 tid = 0;
	size_t		 i;

	if (!fresh) {
		st = s->q[Q_SETS_DEL];
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_text64(st, 2, s->oldsets.data, s->oldsets.len,
		    SQLITE_STATIC, SQLITE_UTF8);
		if (q_exec(s, Q_SETS_DEL, cause) == -1)
			return -1;
	}
	if (p->dc_json != NULL) {
		if (p->tmpl != NULL && template_id(s, p, &tid, cause) == -1)
			return -1;
		if (!fresh && fts_del(s, id, cause) == -1)
			return -1;
		st = s->q[fresh ? Q_CONTENT_ADD : Q_CONTENT_PUT];
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_text64(st, 2, p->dc_json, p->dc_json_len,
		    SQLITE_STATIC, SQLITE_UTF8);
		if (tid > 0) {
			sqlite3_bind_int64(st, 3, tid);
			sqlite3_bind_null(st, 4);
		} else {
			sqlite3_bind_null(st, 3);
			if (r->metadata != NULL)
				sqlite3_bind_text64(st, 4, r->metadata,
				    r->metadata_len, SQLITE_STATIC,
				    SQLITE_UTF8);
			else
				sqlite3_bind_null(st, 4);
		}
		if (q_exec(s, fresh ? Q_CONTENT_ADD : Q_CONTENT_PUT,
		    cause) == -1 || fts_add(s, id, p, cause) == -1)
			return -1;
	} else if (!fresh) {
		sqlite3_bind_int64(s->q[Q_CONTENT_DEL], 1, id);
		if (q_exec(s, Q_CONTENT_DEL, cause) == -1)
			return -1;
	}
	st = s->q[Q_SET_ADD];
	for (i = 0; i < r->nsets; i++) {
		bind_text(st, 1, r->sets[i]);
		sqlite3_bind_int64(st, 2, id);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)i);
		if (q_exec(s, Q_SET_ADD, cause) == -1)
			return -1;
	}
	return 0;
}

/*
 * record.sets: the setSpecs in header order as a JSON array, each written
 * by json_add_string() so that export copies the array as it is.
 */
static int
sets_json(struct store_prep *s, const struct store_record *r)
{
	struct buf	*b = &s->setsjson;
	size_t		 i;
	int		 err = 0;

	buf_reset(b);
	err |= buf_addch(b, '[');
	for (i = 0; i < r->nsets; i++) {
		if (i > 0)
			err |= buf_addch(b, ',');
		err |= json_add_string(b, r->sets[i], (size_t)-1);
	}
	err |= buf_addch(b, ']');
	return err ? -1 : 0;
}

/* Copy string v (NULL as "") into b. */
static int
buf_str_copy(struct buf *b, const char *v)
{
	buf_reset(b);
	return buf_addstr(b, v != NULL ? v : "");
}

/* Content */

/*
 * content.dc: [[code,"value"],[code,"value","lang"],...] in document
 * order.  SQLite's json_each reads it back for the dc view and for export.
 * Also set s->vlen[] and s->vflags[].
 */
static int
dc_json(struct store_prep *s, const struct store_record *r)
{
	struct jbuf	*j = &s->dcjson;
	const char	*lang;
	char		*o;
	size_t		 i, n, m;
	int		 code, flags;

	j->len = 0;
	if (jbuf_room(j, 2) == -1)
		return -1;
	j->data[j->len++] = '[';
	for (i = 0; i < r->ndc; i++) {
		n = s->vlen[i] = strlen(r->dc[i].value);
		lang = r->dc[i].lang;
		m = lang != NULL ? strlen(lang) : 0;
		/* ",[" 2 digits "," value ("," lang) "]", escaped 6 times. */
		if (n > JSON_MAX / 8 || m > JSON_MAX / 8 ||
		    jbuf_room(j, 6 * n + 6 * m + 16) == -1)
			return -1;
		o = j->data + j->len;
		if (i > 0)
			*o++ = ',';
		*o++ = '[';
		code = s->codes[i];
		if (code >= 10)
			*o++ = '0' + code / 10;
		*o++ = '0' + code % 10;
		*o++ = ',';
		o = json_value(o, r->dc[i].value, n, &flags);
		s->vflags[i] = flags;
		if (lang != NULL) {
			*o++ = ',';
			o = json_value(o, lang, m, &flags);
		}
		*o++ = ']';
		j->len = o - j->data;
	}
	j->data[j->len++] = ']';
	return 0;
}

/* Room for n more bytes in j, within JSON_MAX. */
static int
jbuf_room(struct jbuf *j, size_t n)
{
	size_t	cap;

	if (n > JSON_MAX - j->len)
		return -1;
	if (n <= j->cap - j->len)
		return 0;
	for (cap = j->cap > 0 ? j->cap : 4096; cap - j->len < n; cap *= 2)
		;
	j->data = xreallocarray(j->data, cap, 1);
	j->cap = cap;
	return 0;
}

/*
 * 16 bytes at a time (GCC and Clang vector extensions: SSE2 on amd64, NEON
 * on arm64).  A comparison gives each lane 0 or -1.
 */
typedef unsigned char	v16u8 __attribute__((vector_size(16)));
typedef uint64_t	v2u64 __attribute__((vector_size(16)));

static int
v16_any(v16u8 m)
{
	v2u64	w;

	memcpy(&w, &m, sizeof(w));
	return (w[0] | w[1]) != 0;
}

/*
 * Write v (n bytes) at o as a JSON string, '"', '\\' and control
 * characters escaped as json_add_string() escapes them, every other byte
 * as it is; o has room for 6 * n + 2 bytes.  Return the end.
 * Unlike json_add_string() it keeps bytes that are not UTF-8 (SQLite's
 * JSON functions give them back unchanged, as the dc table of schema 0
 * did), and it looks at 16 bytes at a time: this is most of store_put()'s
 * own work.  Sets JV_MARKUP in *flags when v has a byte XML escapes in
 * text.
 */
static char *
json_value(char *o, const char *v, size_t n, int *flags)
{
	static const char	 hex[] = "0123456789abcdef";
	const unsigned char	*p = (const unsigned char *)v;
	const unsigned char	*end = p + n, *run = p, *stop;
	v16u8			 x;

	*flags = 0;
	*o++ = '"';
	while (p < end) {
		stop = end;
		if (end - p >= 16) {
			memcpy(&x, p, sizeof(x));
			if (v16_any((v16u8)((x == '&') | (x == '<') |
			    (x == '>'))))
				*flags |= JV_MARKUP;
			if (!v16_any((v16u8)((x < 0x20) | (x == '"') |
			    (x == '\\')))) {
				p += 16;
				continue;
			}
			stop = p + 16;
		}
		/* Up to the escape in these 16 bytes, or to the end. */
		for (; p < stop && *p >= 0x20 && *p != '"' && *p != '\\'; p++)
			if (*p == '&' || *p == '<' || *p == '>')
				*flags |= JV_MARKUP;
		if (p == stop)
			continue;
		memcpy(o, run, p - run);
		o += p - run;
		*o++ = '\\';
		switch (*p) {
		case '"':
		case '\\':
			*o++ = *p;
			break;
		case '\n':
			*o++ = 'n';
			break;
		case '\r':
			*flags |= JV_MARKUP;
			*o++ = 'r';
			break;
		case '\t':
			*o++ = 't';
			break;
		default:
			memcpy(o, "u00", 3);
			o[3] = hex[*p >> 4];
			o[4] = hex[*p & 0xf];
			o += 5;
			break;
		}
		run = ++p;
	}
	memcpy(o, run, p - run);
	o += p - run;
	*o++ = '"';
	return o;
}

/*
 * Where value v (n bytes) ends if the text at p, up to end, is v escaped as
 * the harvester escapes text (& < > and CR, see harvest/oai.c), or NULL.
 * xml_escape() is the same escaping.
 */
static const char *
text_match(const char *p, const char *end, const char *v, size_t n,
    int markup)
{
	const char	*rep;
	size_t		 k, rn;

	if (!markup)
		return (size_t)(end - p) >= n && memcmp(p, v, n) == 0 ?
		    p + n : NULL;
	while (n > 0) {
		k = strcspn(v, "&<>\r");
		if (k > n)
			k = n;
		if ((size_t)(end - p) < k || memcmp(p, v, k) != 0)
			return NULL;
		p += k;
		v += k;
		n -= k;
		if (n == 0)
			break;
		rep = xml_ref((unsigned char)*v);
		rn = strlen(rep);
		if ((size_t)(end - p) < rn || memcmp(p, rep, rn) != 0)
			return NULL;
		p += rn;
		v++;
		n--;
	}
	return p;
}

/*
 * Make the record's template (see schema.c) in s->tmpl: each DC value, in
 * document order, must be the whole text of an element after the previous
 * one (give or take the white space the parser trimmed), escaped as the
 * harvester escapes text.  Found that way, the value's bytes are exactly
 * the slot's, so filling the template gives the XML back byte for byte.
 * -1: no template, keep the XML as it is.
 */
static int
template_make(struct store_prep *s, const struct store_record *r)
{
	const char	*x = r->metadata, *end = x + r->metadata_len;
	const char	*done = x, *gt, *t, *e, *u, *v;
	struct buf	*b = &s->tmpl;
	size_t		 i, n;
	int		 err = 0, markup;

	buf_reset(b);
	if (r->ndc == 0 ||
	    memchr(x, STORE_SLOT, r->metadata_len) != NULL)
		return -1;
	for (i = 0; i < r->ndc; i++) {
		v = r->dc[i].value;
		n = s->vlen[i];
		markup = s->vflags[i] & JV_MARKUP;
		for (gt = done; ; gt++) {
			if ((gt = memchr(gt, '>', end - gt)) == NULL)
				return -1;
			/* The value, after white space the parser trimmed. */
			for (t = gt + 1; t < end && (*t == ' ' || *t == '\t' ||
			    *t == '\n'); t++)
				;
			if ((e = text_match(t, end, v, n, markup)) == NULL &&
			    (t == gt + 1 || (e = text_match(t = gt + 1, end,
			    v, n, markup)) == NULL))
				continue;
			/* And then the end of the element. */
			for (u = e; u < end && (*u == ' ' || *u == '\t' ||
			    *u == '\n'); u++)
				;
			if (u < end && *u == '<')
				break;
		}
		err |= buf_add(b, done, t - done);
		err |= buf_addch(b, STORE_SLOT);
		done = e;
	}
	err |= buf_add(b, done, end - done);
	return err ? -1 : 0;
}

/*
 * The id of the template in s->tmpl, found or added.  Remembered ones are
 * compared byte for byte: XXH64 is no defence against a repository that
 * makes two templates collide.
 */
static int
template_id(struct store *s, const struct store_prepared *p, int64_t *id,
    char **cause)
{
	struct template	*set, *t;
	sqlite3_stmt	*st;
	uint64_t	 h = p->tmpl_hash;
	size_t		 i;
	int		 rc;

	set = s->templates[h % TEMPLATE_SETS];
	for (i = 0; i < TEMPLATE_WAYS && p->tmpl_len <= TEMPLATE_KEEP; i++) {
		t = &set[i];
		if (t->body != NULL && t->hash == h &&
		    t->len == p->tmpl_len &&
		    memcmp(t->body, p->tmpl, t->len) == 0) {
			t->used = ++s->template_clock;
			*id = t->id;
			return 0;
		}
	}

	*id = 0;
	st = s->q[Q_TEMPLATE_GET];
	sqlite3_bind_int64(st, 1, (sqlite3_int64)h);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((size_t)sqlite3_column_bytes(st, 1) == p->tmpl_len &&
		    memcmp(sqlite3_column_blob(st, 1), p->tmpl,
		    p->tmpl_len) == 0) {
			*id = sqlite3_column_int64(st, 0);
			break;
		}
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return q_fail(s, Q_TEMPLATE_GET, cause);
	sqlite3_reset(st);
	if (*id == 0) {
		st = s->q[Q_TEMPLATE_ADD];
		sqlite3_bind_int64(st, 1, (sqlite3_int64)h);
		sqlite3_bind_text64(st, 2, p->tmpl, p->tmpl_len,
		    SQLITE_STATIC, SQLITE_UTF8);
		if (q_exec(s, Q_TEMPLATE_ADD, cause) == -1)
			return -1;
		*id = sqlite3_last_insert_rowid(s->db);
	}
	if (p->tmpl_len > TEMPLATE_KEEP)
		return 0;

	/* Remember it in place of the empty or least recently used way. */
	t = &set[0];
	for (i = 1; i < TEMPLATE_WAYS; i++)
		if (set[i].body == NULL ||
		    (t->body != NULL && set[i].used < t->used))
			t = &set[i];
	free(t->body);
	t->body = xmalloc(p->tmpl_len);
	memcpy(t->body, p->tmpl, p->tmpl_len);
	t->len = p->tmpl_len;
	t->hash = h;
	t->id = *id;
	t->used = ++s->template_clock;
	/* Even one found may be this transaction's own. */
	t->tentative = !sqlite3_get_autocommit(s->db);
	return 0;
}

/*
 * A page transaction ended.  Committed, the templates it added are for
 * good; rolled back, they are gone and must not be remembered.
 */
static void
templates_settle(struct store *s, int committed)
{
	struct template	*t;
	size_t		 i, j;

	for (i = 0; i < TEMPLATE_SETS; i++) {
		for (j = 0; j < TEMPLATE_WAYS; j++) {
			t = &s->templates[i][j];
			if (!t->tentative)
				continue;
			t->tentative = 0;
			if (!committed) {
				free(t->body);
				t->body = NULL;
			}
		}
	}
}

/* Append v (n bytes) escaped as XML text: the escaping of text_match(). */
static int
xml_escape(struct buf *b, const char *v, size_t n)
{
	const char	*rep;
	size_t		 k;
	int		 err = 0;

	while (n > 0) {
		k = strcspn(v, "&<>\r");
		if (k > n)
			k = n;
		err |= buf_add(b, v, k);
		v += k;
		n -= k;
		if (n == 0)
			break;
		rep = xml_ref((unsigned char)*v);
		err |= buf_addstr(b, rep);
		v++;
		n--;
	}
	return err ? -1 : 0;
}

/*
 * The XML of template body (len bytes) with its slots filled by the n
 * values in vals at offsets off[] (each NUL-terminated).  -1 when the
 * counts disagree (a damaged file) or the XML is too long.
 */
static int
template_fill(struct buf *b, const char *body, size_t len,
    const struct buf *vals, const size_t *off, size_t n)
{
	const char	*p = body, *end = body + len, *slot;
	const char	*v;
	size_t		 i = 0;
	int		 err = 0;

	while ((slot = memchr(p, STORE_SLOT, end - p)) != NULL) {
		if (i == n)
			return -1;
		err |= buf_add(b, p, slot - p);
		v = vals->data + off[i++];
		err |= xml_escape(b, v, strlen(v));
		p = slot + 1;
	}
	err |= buf_add(b, p, end - p);
	return err || i != n ? -1 : 0;
}

/*
 * Look record r up.  Known, set *id and what is stored: whether r is older
 * (*stale), was deleted, its hash, and whether r changes its content
 * (*rewrite: then s->oldsets has the sets it had, by which its set rows
 * go).
 */
static int
record_get(struct store *s, int64_t source, const struct store_record *r,
    uint64_t hash, int64_t *id, int *known, int *stale, int *was_deleted,
    uint64_t *old_hash, int *rewrite, char **cause)
{
	sqlite3_stmt	*st = s->q[Q_RECORD_GET];
	int		 rc;

	sqlite3_bind_int64(st, 1, source);
	bind_text(st, 2, r->prefix);
	bind_text(st, 3, r->identifier);
	if ((rc = sqlite3_step(st)) == SQLITE_DONE) {
		sqlite3_reset(st);
		return 0;
	}
	if (rc != SQLITE_ROW)
		return q_fail(s, Q_RECORD_GET, cause);
	*known = 1;
	*id = sqlite3_column_int64(st, 0);
	/*
	 * A deletion a sweep inferred (r->reason) is dated by our clock,
	 * which may be behind the repository's: never an older copy.
	 */
	*stale = r->reason == NULL && is_stale(col_text(st, 1), r->datestamp);
	*was_deleted = sqlite3_column_int(st, 2) != 0;
	*old_hash = (uint64_t)sqlite3_column_int64(st, 3);
	/*
	 * Hashed over the bytes before schema 7: hash the stored XML as
	 * now, once, so that the same metadata is not an update.
	 */
	if (!*stale && sqlite3_column_int(st, 5) == 0 && hash != *old_hash &&
	    !r->deleted && !*was_deleted &&
	    stored_hash(s, *id, col_text(st, 4), old_hash, cause) == -1) {
		sqlite3_reset(st);
		return -1;
	}
	*rewrite = !*stale && (hash != *old_hash ||
	    (r->deleted != 0) != *was_deleted);
	if (*rewrite && buf_str_copy(&s->oldsets, col_text(st, 4)) == -1) {
		sqlite3_reset(st);
		set_cause(cause, "store: put: record %lld: sets longer than "
		    "%zu bytes", (long long)*id, s->oldsets.max);
		return -1;
	}
	sqlite3_reset(st);
	return 0;
}

/*
 * record.hash as record_hash() makes it now, of record id as stored (sets
 * its record.sets): its XML, kept whole or as a template filled with the
 * values of content.dc, as the metadata view rebuilds it.  For records
 * hashed before schema 7, over their bytes (see schema.c); *h is left as
 * it was when the XML cannot be rebuilt.
 */
static int
stored_hash(struct store *s, int64_t id, const char *sets, uint64_t *h,
    char **cause)
{
	sqlite3_stmt		*st = s->q[Q_RECORD_STORED];
	struct rehash		*m = s->rehash;
	struct store_record	 r;
	size_t			 nsets, i;
	int			 rc, ok = 1;

	if (m == NULL) {
		m = s->rehash = xcalloc(1, sizeof(*m));
		buf_init(&m->vals, EXPORT_MAX_LINE);
		buf_init(&m->xml, EXPORT_MAX_LINE);
	}
	buf_reset(&m->vals);
	m->n = 0;
	if (rehash_strings(s, Q_JSON_STRINGS, sets, sets != NULL ?
	    strlen(sets) : 0) == -1)
		return 0;
	nsets = m->n;
	memset(&r, 0, sizeof(r));
	sqlite3_bind_int64(st, 1, id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_type(st, 0) != SQLITE_NULL) {
			r.metadata = col_text(st, 0);
			r.metadata_len = (size_t)sqlite3_column_bytes(st, 0);
		} else if (sqlite3_column_type(st, 1) != SQLITE_NULL) {
			buf_reset(&m->xml);
			ok = rehash_strings(s, Q_JSON_DC_VALUES,
			    col_text(st, 2),
			    (size_t)sqlite3_column_bytes(st, 2)) == 0 &&
			    template_fill(&m->xml, col_text(st, 1),
			    (size_t)sqlite3_column_bytes(st, 1), &m->vals,
			    m->off + nsets, m->n - nsets) == 0;
			r.metadata = buf_str(&m->xml);
			r.metadata_len = m->xml.len;
		}
	} else if (rc != SQLITE_DONE)
		return q_fail(s, Q_RECORD_STORED, cause);
	for (i = 0; i < nsets; i++)
		m->ptr[i] = m->vals.data + m->off[i];
	r.sets = m->ptr;
	r.nsets = nsets;
	if (ok)
		*h = record_hash(s->prep, &r);
	sqlite3_reset(st);
	return 0;
}

/*
 * The strings query q gives for JSON text j (n bytes), into s->rehash; -1
 * when j is not JSON or they are too long.
 */
static int
rehash_strings(struct store *s, enum query q, const char *j, size_t n)
{
	struct rehash	*m = s->rehash;
	sqlite3_stmt	*st = s->q[q];
	const char	*t;
	int		 rc;

	if (j == NULL)
		return 0;
	sqlite3_bind_text64(st, 1, j, n, SQLITE_STATIC, SQLITE_UTF8);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((t = col_text(st, 0)) == NULL)
			t = "";
		if (m->n == m->cap) {
			m->cap = m->cap == 0 ? 64 : 2 * m->cap;
			m->off = xreallocarray(m->off, m->cap,
			    sizeof(*m->off));
			m->ptr = xreallocarray(m->ptr, m->cap,
			    sizeof(*m->ptr));
		}
		m->off[m->n++] = m->vals.len;
		if (buf_add(&m->vals, t,
		    (size_t)sqlite3_column_bytes(st, 0) + 1) == -1)
			break;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static void
rehash_free(struct rehash *m)
{
	if (m == NULL)
		return;
	buf_free(&m->vals);
	buf_free(&m->xml);
	free(m->off);
	free(m->ptr);
	free(m);
}

/*
 * Insert record r as new; *id is its id, or 0 when (source, prefix,
 * identifier) is already there.
 */
static int
record_add(struct store *s, int64_t source, const struct store_record *r,
    const struct store_prepared *p, const char *now, int64_t *id,
    char **cause)
{
	sqlite3_stmt	*st = s->q[Q_RECORD_ADD];

	*id = 0;
	sqlite3_bind_int64(st, 1, source);
	bind_text(st, 2, r->prefix);
	bind_text(st, 3, r->identifier);
	bind_text(st, 4, r->datestamp);
	sqlite3_bind_int(st, 5, r->deleted != 0);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)p->hash);
	sqlite3_bind_text64(st, 7, p->sets_json, p->sets_json_len,
	    SQLITE_STATIC, SQLITE_UTF8);
	bind_text(st, 8, now);
	if (q_exec(s, Q_RECORD_ADD, cause) == -1)
		return -1;
	if (sqlite3_changes(s->db) == 1)
		*id = sqlite3_last_insert_rowid(s->db);
	return 0;
}

/* Preparing records */

struct store_prep *
store_prep_new(void)
{
	struct store_prep	*p;
	size_t			 i;

	p = xcalloc(1, sizeof(*p));
	p->c14n = store_c14n_new();
	buf_init(&p->tmpl, TEMPLATE_MAX);
	buf_init(&p->setsjson, SETS_JSON_MAX);
	for (i = 0; i < nitems(p->fts); i++)
		buf_init(&p->fts[i], SIZE_MAX / 4);
	return p;
}

void
store_prep_free(struct store_prep *p)
{
	size_t	i;

	if (p == NULL)
		return;
	free(p->dcjson.data);
	buf_free(&p->tmpl);
	buf_free(&p->setsjson);
	for (i = 0; i < nitems(p->fts); i++)
		buf_free(&p->fts[i]);
	free(p->codes);
	free(p->vlen);
	free(p->vflags);
	free(p->sets);
	store_c14n_free(p->c14n);
	free(p);
}

/*
 * Everything store_put() needs of r that the database does not hold: the
 * checks, the hash, record.sets, content.dc, the template and the
 * full-text columns (titles, creators, subjects and descriptions, one
 * value a line, as the view record_fts_doc reads them back out of
 * content.dc: the 'delete' the triggers send must see the very terms
 * inserted, see test_fts_in_step).
 */
int
store_prepare(struct store_prep *s, const struct store_record *r,
    struct store_prepared *out, char **cause)
{
	size_t	k, seen[4] = { 0 };
	int	c;

	memset(out, 0, sizeof(*out));
	if (check_record(s, r, cause) == -1)
		return -1;
	out->hash = record_hash(s, r);
	if (sets_json(s, r) == -1) {
		set_cause(cause, "store: put: setSpecs longer than %zu bytes",
		    s->setsjson.max);
		return -1;
	}
	out->sets_json = s->setsjson.data;
	out->sets_json_len = s->setsjson.len;
	if (r->deleted || (r->metadata == NULL && r->ndc == 0))
		return 0;
	if (dc_json(s, r) == -1) {
		set_cause(cause, "store: put: DC values longer than %zu bytes "
		    "as JSON", (size_t)JSON_MAX);
		return -1;
	}
	out->dc_json = s->dcjson.data;
	out->dc_json_len = s->dcjson.len;
	if (r->metadata != NULL && template_make(s, r) == 0) {
		out->tmpl = s->tmpl.data;
		out->tmpl_len = s->tmpl.len;
		out->tmpl_hash = store_xxh64(s->tmpl.data, s->tmpl.len, 0);
	}
	for (c = 0; c < 4; c++)
		buf_reset(&s->fts[c]);
	/* DCMES codes 0-3: title, creator, subject, description. */
	for (k = 0; k < r->ndc; k++) {
		if ((c = s->codes[k]) > 3)
			continue;
		if (seen[c]++ > 0 && buf_addch(&s->fts[c], '\n') == -1)
			goto toolong;
		if (buf_add(&s->fts[c], r->dc[k].value, s->vlen[k]) == -1)
			goto toolong;
	}
	for (c = 0; c < 4; c++) {
		if (s->fts[c].len > INT_MAX)
			goto toolong;
		out->fts[c] = buf_str(&s->fts[c]);
		out->fts_len[c] = s->fts[c].len;
	}
	return 0;
toolong:
	set_cause(cause, "store: put: full-text columns too long");
	return -1;
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
	sqlite3_stmt			*st;
	struct store_prepared		 mine;
	const struct store_prepared	*p = r->prep;
	enum store_change		 change = STORE_UNCHANGED;
	const char			*now;
	uint64_t			 hash, old_hash = 0;
	int64_t				 id = 0;
	int				 deleted, known = 0, was_deleted = 0;
	int				 stale = 0, rewrite = 0;

	if (changep != NULL)
		*changep = STORE_UNCHANGED;
	if (need_transaction(s, "put", cause) == -1)
		return -1;
	/* The rest is store_prepare()'s to check: it knows no prefix. */
	if (r->prefix == NULL) {
		set_cause(cause, "store: put: record without prefix");
		return -1;
	}
	if (p == NULL) {
		if (store_prepare(s->prep, r, &mine, cause) == -1)
			return -1;
		p = &mine;
	}
	deleted = r->deleted != 0;
	hash = p->hash;
	now = store_now(s);

	/*
	 * A first harvest brings only new records, an incremental one mostly
	 * known ones: after a new record, insert first (the insert finds a
	 * known one for nothing), else look first.
	 */
	if (s->last_new &&
	    record_add(s, source, r, p, now, &id, cause) == -1)
		return -1;
	if (id == 0 && record_get(s, source, r, hash, &id, &known, &stale,
	    &was_deleted, &old_hash, &rewrite, cause) == -1)
		return -1;
	if (stale)
		return 0;
	if (id == 0 &&
	    record_add(s, source, r, p, now, &id, cause) == -1)
		return -1;
	if (id == 0) {
		set_cause(cause, "store: insert record: %s appeared while "
		    "being put", log_q(r->identifier));
		return -1;
	}
	s->last_new = !known;

	if (!known) {
		if (content_put(s, id, r, p, 1, cause) == -1)
			return -1;
		change = deleted ? STORE_TOMBSTONE : STORE_NEW;
	} else {
		st = s->q[Q_RECORD_UPDATE];
		sqlite3_bind_int64(st, 1, id);
		bind_text(st, 2, r->datestamp);
		sqlite3_bind_int(st, 3, deleted);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)hash);
		bind_text(st, 5, now);
		/* Unchanged, the sets stay as first listed. */
		if (rewrite)
			sqlite3_bind_text64(st, 6, p->sets_json,
			    p->sets_json_len, SQLITE_STATIC, SQLITE_UTF8);
		else
			sqlite3_bind_null(st, 6);
		if (q_exec(s, Q_RECORD_UPDATE, cause) == -1)
			return -1;
		/* Unchanged content: no content or set row is touched. */
		if (rewrite && content_put(s, id, r, p, 0, cause) == -1)
			return -1;
		if (deleted && !was_deleted)
			change = STORE_DELETED;
		else if (!deleted && was_deleted)
			change = STORE_NEW;
		else if (!deleted && hash != old_hash)
			change = STORE_UPDATED;
	}

	if (store_change_name(change) != NULL &&
	    change_add(s, source, run, r, change, now, cause) == -1)
		return -1;
	if (changep != NULL)
		*changep = change;
	return 0;
}

/*
 * Index the content row just written for record id (the triggers of
 * schema.c took out what it held before), from the columns
 * store_prepare() made.
 */
static int
fts_add(struct store *s, int64_t id, const struct store_prepared *p,
    char **cause)
{
	sqlite3_stmt	*st = s->q[Q_FTS_ADD];
	int		 c;

	sqlite3_bind_int64(st, 1, id);
	for (c = 0; c < 4; c++)
		sqlite3_bind_text(st, c + 2, p->fts[c], (int)p->fts_len[c],
		    SQLITE_STATIC);
	return q_exec(s, Q_FTS_ADD, cause);
}

/*
 * Take record id's terms out of the index, if it has a content row: what
 * the trigger content_fts_update does, in statements that need no
 * savepoint (see Q_CONTENT_PUT).  The old values come out of content.dc
 * as dc_json() wrote it, read here (fts_old_text()): through the view
 * record_fts_doc, SQLite's JSON functions took four times as long as the
 * rest of an update.  Anything else in content.dc goes through the view.
 */
static int
fts_del(struct store *s, int64_t id, char **cause)
{
	sqlite3_stmt	*dc = s->q[Q_CONTENT_DC], *old = s->q[Q_FTS_OLD];
	sqlite3_stmt	*st = s->q[Q_FTS_DEL];
	int		 c, rc, seen[4];

	sqlite3_bind_int64(dc, 1, id);
	if ((rc = sqlite3_step(dc)) == SQLITE_DONE) {
		sqlite3_reset(dc);
		return 0;
	}
	if (rc != SQLITE_ROW)
		return q_fail(s, Q_CONTENT_DC, cause);
	sqlite3_bind_int64(st, 1, id);
	if (fts_old_text(s, (const char *)sqlite3_column_text(dc, 0),
	    (size_t)sqlite3_column_bytes(dc, 0), seen) == 0) {
		sqlite3_reset(dc);
		for (c = 0; c < 4; c++) {
			if (seen[c] == 0)
				sqlite3_bind_null(st, c + 2);
			else
				sqlite3_bind_text(st, c + 2,
				    buf_str(&s->fts_text[c]),
				    (int)s->fts_text[c].len, SQLITE_STATIC);
		}
		return q_exec(s, Q_FTS_DEL, cause);
	}
	sqlite3_reset(dc);
	sqlite3_bind_int64(old, 1, id);
	if ((rc = sqlite3_step(old)) != SQLITE_ROW)
		return q_fail(s, Q_FTS_OLD, cause);
	for (c = 0; c < 4; c++)
		sqlite3_bind_value(st, c + 2, sqlite3_column_value(old, c));
	rc = q_exec(s, Q_FTS_DEL, cause);
	sqlite3_reset(old);
	return rc;
}

/*
 * The titles, creators, subjects and descriptions of content.dc j (n
 * bytes) into s->fts_text[], one value a line, as record_fts_doc gives
 * them, and how many of each into seen[]: -1 unless j is exactly what
 * dc_json() writes (no blanks; escapes \" \\ \n \r \t and \u00XX below
 * 0x20 only).
 */
static int
fts_old_text(struct store *s, const char *j, size_t n, int seen[4])
{
	const char	*p = j, *end = j + n;
	struct buf	*b;
	int		 c, k, x;

	for (c = 0; c < 4; c++) {
		buf_reset(&s->fts_text[c]);
		seen[c] = 0;
	}
	if (j == NULL || n < 2 || *p++ != '[')
		return -1;
	if (*p == ']')
		return p + 1 == end ? 0 : -1;
	for (;;) {
		if (end - p < 4 || *p++ != '[' || *p < '0' || *p > '9')
			return -1;
		c = *p++ - '0';
		if (*p >= '0' && *p <= '9') {
			if (c == 0)
				return -1;
			c = c * 10 + *p++ - '0';
		}
		if (p == end || *p++ != ',' || p == end || *p++ != '"')
			return -1;
		b = NULL;
		if (c <= 3) {
			b = &s->fts_text[c];
			if (seen[c]++ > 0 && buf_addch(b, '\n') == -1)
				return -1;
		}
		/* The value: runs of plain bytes, and escapes. */
		for (;;) {
			const char	*run = p;

			while (p < end && *p != '"' && *p != '\\' &&
			    (unsigned char)*p >= 0x20)
				p++;
			if (b != NULL && buf_add(b, run, p - run) == -1)
				return -1;
			if (p == end || (unsigned char)*p < 0x20)
				return -1;
			if (*p++ == '"')
				break;
			if (p == end)
				return -1;
			switch (*p++) {
			case '"':
				x = '"';
				break;
			case '\\':
				x = '\\';
				break;
			case 'n':
				x = '\n';
				break;
			case 'r':
				x = '\r';
				break;
			case 't':
				x = '\t';
				break;
			case 'u':
				if (end - p < 4 || p[0] != '0' || p[1] != '0' ||
				    (k = hex_digit(p[2])) < 0 || k > 1 ||
				    (x = hex_digit(p[3])) < 0)
					return -1;
				x += k * 16;
				p += 4;
				break;
			default:
				return -1;
			}
			if (b != NULL && buf_addch(b, (char)x) == -1)
				return -1;
		}
		/* The language, if any: skipped. */
		if (p < end && *p == ',') {
			if (++p == end || *p++ != '"')
				return -1;
			while (p < end && *p != '"') {
				if (*p == '\\' && ++p == end)
					return -1;
				p++;
			}
			if (p++ == end)
				return -1;
		}
		if (p == end || *p++ != ']' || p == end)
			return -1;
		if (*p == ']')
			return p + 1 == end ? 0 : -1;
		if (*p++ != ',')
			return -1;
	}
}

/*
 * Search queries.  FTS5's query syntax turns ordinary text into errors
 * ("Taylor-Jones", "COVID-19", "O'Brien", "C++": every character outside
 * [A-Za-z0-9_] and non-ASCII is an operator or a syntax error), so a query
 * goes to FTS5 as it is only when it holds some of that syntax; otherwise,
 * or when FTS5 refuses it, each word is searched as a quoted FTS5 string:
 * the phrase of its tokens.  The words AND, OR and NOT between two words, a
 * leading "column:" and a trailing "*" keep their meaning there.  The query
 * is always a bound parameter, never SQL text.
 */

#define SEARCH_SPACE	" \t\n\r\f\v"

/* The columns of record_fts (schema.c), for "column:word". */
static const char *const search_columns[] = {
	"title", "creator", "subject", "description",
};

/* Characters that only FTS5 query syntax would use. */
static int
search_is_syntax(const char *q)
{
	return strpbrk(q, "\"*:(){}^+") != NULL;
}

static int
search_is_op(const char *w, size_t n)
{
	return (n == 3 && (memcmp(w, "AND", 3) == 0 ||
	    memcmp(w, "NOT", 3) == 0)) || (n == 2 && memcmp(w, "OR", 2) == 0);
}

static int
search_is_column(const char *w, size_t n)
{
	size_t	i;

	for (i = 0; i < nitems(search_columns); i++)
		if (strlen(search_columns[i]) == n &&
		    strncasecmp(search_columns[i], w, n) == 0)
			return 1;
	return 0;
}

/*
 * Does the word hold a token?  Only ASCII letters and digits are tokens to
 * unicode61 among ASCII; a word of punctuation alone would be an empty
 * phrase, which FTS5 takes for "no match" beside AND.  Non-ASCII is kept.
 */
static int
search_has_token(const char *w, size_t n)
{
	size_t		i;
	unsigned char	c;

	for (i = 0; i < n; i++) {
		c = (unsigned char)w[i];
		if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
		    (c >= 'a' && c <= 'z') || c >= 0x80)
			return 1;
	}
	return 0;
}

/* Add one word as an FTS5 string; 0 if it holds no token. */
static int
search_add_word(struct buf *b, const char *w, size_t n, const char *op)
{
	const char	*colon;
	size_t		 col = 0, i;
	int		 star = 0;

	colon = memchr(w, ':', n);
	if (colon != NULL && colon > w && search_is_column(w,
	    (size_t)(colon - w)))
		col = (size_t)(colon - w) + 1;
	while (n > col && w[n - 1] == '*') {
		star = 1;
		n--;
	}
	if (!search_has_token(w + col, n - col))
		return 0;
	if (b->len > 0)
		buf_addch(b, ' ');
	if (op != NULL) {
		buf_addstr(b, op);
		buf_addch(b, ' ');
	}
	buf_add(b, w, col);
	buf_addch(b, '"');
	for (i = col; i < n; i++) {
		if (w[i] == '"')
			buf_addch(b, '"');
		buf_addch(b, w[i]);
	}
	buf_addch(b, '"');
	if (star)
		buf_addch(b, '*');
	return 1;
}

/*
 * The query as plain words.  An operator counts as one only between two
 * words; elsewhere (alone, first, last, doubled) it is a word.  Nothing
 * left: "", which matches nothing.
 */
static void
search_plain(const char *q, struct buf *b)
{
	const char	*w, *op = NULL;
	char		 opw[4];
	size_t		 n;

	buf_reset(b);
	for (w = q + strspn(q, SEARCH_SPACE); *w != '\0';
	    w += n, w += strspn(w, SEARCH_SPACE)) {
		n = strcspn(w, SEARCH_SPACE);
		if (search_is_op(w, n) && b->len > 0) {
			if (op != NULL)
				search_add_word(b, op, strlen(op), NULL);
			memcpy(opw, w, n);
			opw[n] = '\0';
			op = opw;
			continue;
		}
		if (search_add_word(b, w, n, op))
			op = NULL;
	}
	if (op != NULL)
		search_add_word(b, op, strlen(op), NULL);
	if (b->len == 0)
		buf_addstr(b, "\"\"");
}

/*
 * Run one MATCH query.  *rc is the step's result code, *rows the lines
 * written: a query FTS5 refuses fails with SQLITE_ERROR at the first step,
 * before any row.
 */
static int
search_run(struct store *s, const char *match, const char *source,
    long long limit, FILE *fp, int *rc, long long *rows, char **cause)
{
	sqlite3_stmt	*st = s->q[Q_SEARCH];
	struct buf	 b;
	int		 ret = -1;

	*rows = 0;
	bind_text(st, 1, match);
	bind_text(st, 2, source);
	sqlite3_bind_int64(st, 3, limit);
	buf_init(&b, SIZE_MAX / 4);
	while ((*rc = sqlite3_step(st)) == SQLITE_ROW) {
		buf_reset(&b);
		buf_addstr(&b, "{\"source\":");
		json_col(&b, st, 0);
		buf_addstr(&b, ",\"identifier\":");
		json_col(&b, st, 1);
		buf_addstr(&b, ",\"prefix\":");
		json_col(&b, st, 2);
		buf_addstr(&b, ",\"datestamp\":");
		json_col(&b, st, 3);
		buf_addstr(&b, ",\"title\":");
		json_col(&b, st, 4);
		buf_addstr(&b, ",\"snippet\":");
		json_col(&b, st, 5);
		buf_printf(&b, ",\"score\":%.4f}\n",
		    -sqlite3_column_double(st, 6));
		if (write_buf(&b, fp, "search", cause) == -1)
			goto out;
		(*rows)++;
	}
	if (*rc != SQLITE_DONE) {
		q_fail(s, Q_SEARCH, cause);
		goto out;
	}
	ret = 0;
out:
	sqlite3_reset(st);
	sqlite3_bind_null(st, 1);
	buf_free(&b);
	return ret;
}

int
store_search(struct store *s, const char *query, const char *source,
    long long limit, FILE *fp, char **cause)
{
	struct buf	 plain;
	long long	 rows;
	char		*why = NULL;
	int		 rc, r;

	if (search_is_syntax(query)) {
		r = search_run(s, query, source, limit, fp, &rc, &rows, &why);
		if (r == 0 || rows > 0 || rc != SQLITE_ERROR) {
			if (r == -1)
				set_cause(cause, "%s", why);
			free(why);
			return r;
		}
		log_info("event=search_plain query=%s cause=%s msg=\"not "
		    "FTS5 query syntax: searched as plain words\"",
		    log_q(query), log_q(why));
		free(why);
	}
	buf_init(&plain, SIZE_MAX / 4);
	search_plain(query, &plain);
	r = search_run(s, buf_str(&plain), source, limit, fp, &rc, &rows,
	    cause);
	buf_free(&plain);
	return r;
}

/*
 * Append a change row.  Its seq is one more than the last given out,
 * which the first change of a transaction reads (see change_seq in
 * schema.c); seq is kept only once the row is in, so that a failed insert
 * leaves no gap.
 */
static int
change_add(struct store *s, int64_t source, int64_t run,
    const struct store_record *r, enum store_change change, const char *now,
    char **cause)
{
	sqlite3_stmt	*st;
	int		 rc;

	if (!s->seq_read) {
		st = s->q[Q_SEQ_GET];
		if ((rc = sqlite3_step(st)) != SQLITE_ROW)
			return q_fail(s, Q_SEQ_GET, cause);
		s->seq = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		s->seq_read = 1;
	}
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
	sqlite3_bind_int64(st, 8, s->seq + 1);
	if (r->reason != NULL)
		bind_text(st, 9, r->reason);
	else
		sqlite3_bind_null(st, 9);
	if (q_exec(s, Q_CHANGE_ADD, cause) == -1)
		return -1;
	s->seq++;
	s->seq_new = 1;
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
 * One export line for the record under st, in x->line.  x->el[] holds one
 * buffer per DCMES element so that values can be gathered in document order
 * and written in DCMES order; x->vals keeps them as they are, in order, to
 * fill the record's template.
 */
static int
export_record(struct store *s, sqlite3_stmt *st, struct export *x,
    char **cause)
{
	struct buf	*b = &x->line;
	sqlite3_stmt	*q;
	const char	*v;
	int64_t		 id;
	size_t		 i;
	int		 deleted, first, rc, e, tmpl, err = 0;

	id = sqlite3_column_int64(st, 0);
	deleted = sqlite3_column_int(st, 5) != 0;
	tmpl = !deleted && sqlite3_column_type(st, 7) != SQLITE_NULL;
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

	/* record.sets is written as the old set rows were exported. */
	err |= buf_addstr(b, ",\"sets\":");
	err |= buf_add(b, sqlite3_column_blob(st, 8),
	    sqlite3_column_bytes(st, 8));

	for (i = 0; i < NDCMES; i++)
		buf_reset(&x->el[i]);
	buf_reset(&x->vals);
	x->nvals = 0;
	q = s->q[Q_EXPORT_DC];
	sqlite3_bind_int64(q, 1, id);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if ((v = col_text(q, 1)) == NULL)
			v = "";
		if (tmpl) {
			if (x->nvals == x->noff) {
				x->noff = x->noff == 0 ? 64 : 2 * x->noff;
				x->off = xreallocarray(x->off, x->noff,
				    sizeof(*x->off));
			}
			x->off[x->nvals++] = x->vals.len;
			err |= buf_add(&x->vals, v, strlen(v) + 1);
		}
		if (sqlite3_column_type(q, 0) != SQLITE_INTEGER ||
		    (e = sqlite3_column_int(q, 0)) < 0 || (size_t)e >= NDCMES)
			continue;
		if (x->el[e].len > 0)
			err |= buf_addch(&x->el[e], ',');
		err |= json_add_string(&x->el[e], v,
		    sqlite3_column_bytes(q, 1));
	}
	if (rc != SQLITE_DONE)
		return q_fail(s, Q_EXPORT_DC, cause);
	sqlite3_reset(q);
	err |= buf_addstr(b, ",\"dc\":{");
	for (first = 1, i = 0; i < NDCMES; i++) {
		if (x->el[i].len == 0)
			continue;
		if (!first)
			err |= buf_addch(b, ',');
		first = 0;
		err |= json_add_string(b, dcmes[i], -1);
		err |= buf_addstr(b, ":[");
		err |= buf_add(b, x->el[i].data, x->el[i].len);
		err |= buf_addch(b, ']');
	}
	err |= buf_addch(b, '}');

	if (!deleted && sqlite3_column_type(st, 9) != SQLITE_NULL && !tmpl) {
		set_cause(cause, "store: export: record %lld: no template %lld",
		    (long long)id, (long long)sqlite3_column_int64(st, 9));
		return -1;
	}
	if (tmpl) {
		buf_reset(&x->xml);
		if (template_fill(&x->xml, sqlite3_column_blob(st, 7),
		    sqlite3_column_bytes(st, 7), &x->vals, x->off,
		    x->nvals) == -1) {
			set_cause(cause, "store: export: record %lld: its "
			    "template does not fit its DC values",
			    (long long)id);
			return -1;
		}
		err |= buf_addstr(b, ",\"metadata\":");
		err |= json_add_string(b, buf_str(&x->xml), x->xml.len);
	} else if (!deleted && sqlite3_column_type(st, 6) != SQLITE_NULL) {
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
	struct export	 x;
	size_t		 i;
	int		 rc, ret = -1;

	memset(&x, 0, sizeof(x));
	buf_init(&x.line, EXPORT_MAX_LINE);
	buf_init(&x.vals, EXPORT_MAX_LINE);
	buf_init(&x.xml, MAX_RECORD_BYTES);
	for (i = 0; i < NDCMES; i++)
		buf_init(&x.el[i], EXPORT_MAX_LINE);
	bind_text(st, 1, source);
	bind_text(st, 2, prefix);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		buf_reset(&x.line);
		if (export_record(s, st, &x, cause) == -1 ||
		    write_buf(&x.line, fp, "export", cause) == -1)
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
	buf_free(&x.line);
	buf_free(&x.vals);
	buf_free(&x.xml);
	for (i = 0; i < NDCMES; i++)
		buf_free(&x.el[i]);
	free(x.off);
	return ret;
}

int
store_changes(struct store *s, int64_t since, int64_t limit, FILE *fp,
    int64_t *lastp, char **cause)
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
		/* Only deletions found by a sweep say why. */
		if (sqlite3_column_type(st, 7) != SQLITE_NULL) {
			err |= buf_addstr(&b, ",\"reason\":");
			err |= json_add_string(&b, col_text(st, 7), -1);
		}
		err |= buf_addstr(&b, "}\n");
		if (err) {
			set_cause(cause, "store: changes: row too long");
			goto out;
		}
		if (write_buf(&b, fp, "changes", cause) == -1)
			goto out;
		if (lastp != NULL)
			*lastp = sqlite3_column_int64(st, 0);
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

/* For the daemon's status server. */

int
store_writable(struct store *s, char **cause)
{
	/* Inside a page transaction the database is being written. */
	if (!sqlite3_get_autocommit(s->db))
		return 0;
	if (q_exec(s, Q_BEGIN, cause) == -1)
		return -1;
	return q_exec(s, Q_ROLLBACK, cause);
}

int64_t
store_last_seq(struct store *s)
{
	sqlite3_stmt	*st = s->q[Q_SEQ_GET];
	int64_t		 seq = -1;

	if (sqlite3_step(st) == SQLITE_ROW)
		seq = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
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
	sqlite3_stmt	*st = s->q[Q_SOURCE_JSON];
	int64_t		 id;
	int		 rc, n = 0;

	bind_text(st, 1, name);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			return q_fail(s, Q_SOURCE_JSON, cause);
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
	sqlite3_reset(st);

	st = s->q[Q_SOURCE_COUNTS];
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW)
		buf_printf(b, ",\"records\":{\"present\":%lld,"
		    "\"deleted\":%lld}",
		    (long long)sqlite3_column_int64(st, 0),
		    (long long)sqlite3_column_int64(st, 1));
	sqlite3_reset(st);

	/* The lists, as `status` shows them. */
	st = s->q[Q_STATUS_LISTS];
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
		    sqlite3_column_type(st, 3) != SQLITE_NULL ? "true" :
		    "false", (long long)sqlite3_column_int64(st, 7));
	}
	buf_addch(b, ']');
	if (rc != SQLITE_DONE)
		return q_fail(s, Q_STATUS_LISTS, cause);
	sqlite3_reset(st);
	return 0;
}

/* Feeds (the outbox pattern) and rejects. */

int
store_outbox_get(struct store *s, const char *name, int64_t *seq,
    char **cause)
{
	sqlite3_stmt	*st = s->q[Q_OUTBOX_GET];
	int		 rc;

	*seq = 0;
	bind_text(st, 1, name);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		*seq = sqlite3_column_int64(st, 0);
	else if (rc != SQLITE_DONE)
		return q_fail(s, Q_OUTBOX_GET, cause);
	sqlite3_reset(st);
	return 0;
}

int
store_outbox_set(struct store *s, const char *name, int64_t seq,
    char **cause)
{
	bind_text(s->q[Q_OUTBOX_SET], 1, name);
	sqlite3_bind_int64(s->q[Q_OUTBOX_SET], 2, seq);
	return q_exec(s, Q_OUTBOX_SET, cause);
}

int
store_reject(struct store *s, int64_t source, int64_t run, const char *prefix,
    const char *identifier, const char *datestamp, const char *cause_text,
    const char *raw, size_t raw_len, int truncated, char **cause)
{
	sqlite3_stmt	*st = s->q[Q_REJECT_ADD];

	if (need_transaction(s, "reject", cause) == -1)
		return -1;
	sqlite3_bind_int64(st, 1, source);
	bind_text(st, 2, prefix);
	bind_text(st, 3, identifier);
	bind_text(st, 4, datestamp);
	bind_text(st, 5, cause_text);
	if (raw != NULL)
		sqlite3_bind_text64(st, 6, raw, raw_len, SQLITE_STATIC,
		    SQLITE_UTF8);
	else
		sqlite3_bind_null(st, 6);
	sqlite3_bind_int(st, 7, truncated != 0);
	sqlite3_bind_int64(st, 8, run);
	bind_text(st, 9, store_now(s));
	return q_exec(s, Q_REJECT_ADD, cause);
}

/*
 * Deletion sweeps, for repositories that keep no deletions: a full
 * ListIdentifiers marks every record it lists with the sweep's run; when it
 * completes, the present records it did not list have vanished.
 */

int
store_sweep_mark(struct store *s, int64_t source, const char *prefix,
    const char *identifier, int64_t run, char **cause)
{
	sqlite3_stmt	*st = s->q[Q_SWEEP_MARK];

	if (need_transaction(s, "sweep", cause) == -1)
		return -1;
	sqlite3_bind_int64(st, 1, run);
	sqlite3_bind_int64(st, 2, source);
	bind_text(st, 3, prefix);
	bind_text(st, 4, identifier);
	return q_exec(s, Q_SWEEP_MARK, cause);
}

/* Set a whole-repository list's swept_at (only if unset, unless always). */
static int
sweep_stamp(struct store *s, int64_t source, const char *prefix, int always,
    char **cause)
{
	sqlite3_stmt	*st = s->q[Q_SWEEP_STAMP];

	sqlite3_bind_int64(st, 1, source);
	bind_text(st, 2, prefix);
	bind_text(st, 3, store_now(s));
	sqlite3_bind_int(st, 4, always);
	return q_exec(s, Q_SWEEP_STAMP, cause);
}

int
store_sweep_finish(struct store *s, int64_t source, const char *prefix,
    int64_t run, const char *datestamp, long long *vanished, char **cause)
{
	static const char *const reason =
	    "vanished: no longer listed by ListIdentifiers";
	sqlite3_stmt		*st;
	struct store_record	 r;
	enum store_change	 kind;
	char			**ids = NULL;
	size_t			 n = 0, i;
	long long		 present = 0;
	int			 rc, ret = -1;

	*vanished = 0;
	if (need_transaction(s, "sweep", cause) == -1)
		return -1;
	st = s->q[Q_SWEEP_PRESENT];
	sqlite3_bind_int64(st, 1, source);
	bind_text(st, 2, prefix);
	if (sqlite3_step(st) == SQLITE_ROW)
		present = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	/* Read them all first: store_put() below changes the same rows. */
	st = s->q[Q_SWEEP_MISSED];
	sqlite3_bind_int64(st, 1, source);
	bind_text(st, 2, prefix);
	sqlite3_bind_int64(st, 3, run);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		ids = xreallocarray(ids, n + 1, sizeof(*ids));
		ids[n++] = xstrdup((const char *)sqlite3_column_text(st, 0));
	}
	if (rc != SQLITE_DONE) {
		q_fail(s, Q_SWEEP_MISSED, cause);
		goto out;
	}
	sqlite3_reset(st);
	/*
	 * A repository that lists half its records or fewer is more likely
	 * broken than emptied: refuse to delete on its word.
	 */
	if (n > 0 && (long long)n * 2 > present) {
		set_cause(cause, "store: sweep: %zu of %lld records not listed; "
		    "not deleting on a partial list", n, present);
		goto out;
	}
	for (i = 0; i < n; i++) {
		memset(&r, 0, sizeof(r));
		r.prefix = prefix;
		r.identifier = ids[i];
		r.datestamp = datestamp != NULL ? datestamp : store_now(s);
		r.deleted = 1;
		r.reason = reason;
		if (store_put(s, source, run, &r, &kind, cause) == -1)
			goto out;
		if (kind == STORE_DELETED)
			(*vanished)++;
	}
	if (sweep_stamp(s, source, prefix, 1, cause) == -1)
		goto out;
	ret = 0;
out:
	for (i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	return ret;
}

int
store_sweep_last(struct store *s, int64_t source, const char *prefix,
    char **swept_at, char **cause)
{
	sqlite3_stmt	*st = s->q[Q_SWEEP_LAST];
	int		 rc;

	*swept_at = NULL;
	sqlite3_bind_int64(st, 1, source);
	bind_text(st, 2, prefix);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_type(st, 0) != SQLITE_NULL)
			*swept_at = xstrdup(col_text(st, 0));
	} else if (rc != SQLITE_DONE)
		return q_fail(s, Q_SWEEP_LAST, cause);
	sqlite3_reset(st);
	return 0;
}

int
store_sweep_touch(struct store *s, int64_t source, const char *prefix,
    char **cause)
{
	return sweep_stamp(s, source, prefix, 0, cause);
}
