/* Over 1,500 lines: the migrations and the statement table belong together. */
/*
 * The PostgreSQL backend of the store (see backend.h and pg.h): the
 * connection, its statements, the schema and its migrations; sources and
 * runs.  `--db postgresql://...` (or postgres://, any libpq URI) selects
 * it.  One connection; every statement is prepared once at open from
 * store_pg_queries[] and run with its values as parameters.  The URI's
 * password is only ever given to libpq: messages name the database by a
 * form of the URI without it (pg->safe).
 *
 * The schema is SQLite's (see schema.c) in PostgreSQL's types, with these
 * differences: the XML is kept whole in content.xml (no templates: TOAST
 * compresses what templates saved, and rebuilding XML in SQL is slow);
 * record_fts.fts is the record's tsvector (titles weight A, creators B,
 * subjects C, descriptions D), made by the harvester with the SQLite
 * index's tokenizer, on the event loop as it reads a page, and sent in
 * tsvector's binary form (pg_tsv.c: PostgreSQL's to_tsvector() was some
 * 85 us a record of its CPU, and its terms were not SQLite's; parsing
 * tsvector text was 15% of its CPU), under a GIN index, written with the
 * record in the page's statement (measured against the trailing index of
 * migration 3, which wrote it to fts_pending first: a fifth less of
 * PostgreSQL's CPU);
 * fts_pending now only holds records owed by an older version or by
 * migration 4, indexed at a page writer's open (pg_write.c);
 * configuration oh_fts (simple with unaccent) only serves ts_headline()
 * now; change seqs are numbered
 * from the one-row change_seq at commit (pg_write.c).
 * The tables a page writes (record, content, record_set) have no foreign
 * keys, whose checks were a tenth of the server's work a record: their
 * rows go with their source in pg_admin.c's drop.  A content row (some
 * 4 KB: the XML, content.dc) and a tsvector stay whole in their pages
 * (toast_tuple_target): compressing and moving it out of line was a
 * quarter of the server's work a record.
 * Migrations are numbered as SQLite's are, in schema_version, each run in
 * a transaction under an advisory lock so that two daemons starting at
 * once migrate once.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "util.h"
#include "log.h"
#include "pg.h"
#include "pg_tsv.h"

/* Statements queued in the pipeline before their results are read. */
#define PG_PIPELINE_MAX 256

/* Statements */
static int pipe_sync(struct store_pg *, PGresult **, char **);

/* Opening */
static const char *pg_path(const void *);
static int	   pg_schema_version(void *);
static char	  *safe_uri(const char *);
static int	   exec_script(struct store_pg *, const char *, char **);
static int	   migrate(struct store_pg *, char **);
static void	  *store_pg_open(const char *, int, char **);
static void	   store_pg_close(void *);
static void	   quiet(void *, const char *);

/* Sources and runs */
static int64_t pg_source(void *, const char *, const char *, int, char **);
static char   *pg_text1(struct store_pg *, enum pg_query, const char *, int);
static char   *pg_source_url(void *, const char *);
static char   *pg_source_by_url(void *, const char *);
static int     pg_source_identify(void *, int64_t, const char *, const char *,
	const char *, const char *, char **);
static int64_t pg_run_begin(void *, int64_t, char **);
static int     pg_run_end(void *, int64_t, const char *,
	const struct store_run_stats *, const char *, char **);
static int pg_source_last_run(void *, const char *, time_t *, char **, char **);

/*
 * The migrations, indexed by schema_version.version.  Never edit a step
 * that has shipped: append one.
 */
static const char *const migrations[] = {
	/* 0 -> 1: the schema of SQLite's version 8 (schema.c). */
	"CREATE TEXT SEARCH CONFIGURATION oh_fts (COPY = simple);"
	"CREATE EXTENSION IF NOT EXISTS unaccent;"
	"ALTER TEXT SEARCH CONFIGURATION oh_fts"
	"  ALTER MAPPING FOR hword, hword_part, word WITH unaccent, simple;"

	"CREATE TABLE source ("
	"  id bigserial PRIMARY KEY,"
	"  name text NOT NULL UNIQUE,"
	"  url text,"
	"  granularity text,"
	"  earliest_datestamp text,"
	"  deleted_record text,"
	"  repository_name text,"
	"  identified_at text,"
	"  created text NOT NULL"
	");"

	"CREATE TABLE run ("
	"  id bigserial PRIMARY KEY,"
	"  source_id bigint NOT NULL REFERENCES source(id) ON DELETE CASCADE,"
	"  started text NOT NULL,"
	"  ended text,"
	"  status text NOT NULL"
	"    CHECK (status IN ('running', 'ok', 'failed')),"
	"  pages bigint NOT NULL DEFAULT 0,"
	"  records bigint NOT NULL DEFAULT 0,"
	"  new bigint NOT NULL DEFAULT 0,"
	"  updated bigint NOT NULL DEFAULT 0,"
	"  deleted bigint NOT NULL DEFAULT 0,"
	"  unchanged bigint NOT NULL DEFAULT 0,"
	"  bytes bigint NOT NULL DEFAULT 0,"
	"  error text"
	");"
	"CREATE INDEX run_source ON run (source_id, id);"

	"CREATE TABLE record ("
	"  id bigserial PRIMARY KEY,"
	"  source_id bigint NOT NULL,"
	"  prefix text NOT NULL,"
	"  identifier text NOT NULL,"
	"  datestamp text NOT NULL,"
	"  deleted integer NOT NULL CHECK (deleted IN (0, 1)),"
	"  hash bigint NOT NULL,"
	"  sets text NOT NULL DEFAULT '[]',"
	"  first_seen text NOT NULL,"
	"  last_seen text NOT NULL,"
	"  swept bigint,"
	"  UNIQUE (source_id, prefix, identifier)"
	");"

	"CREATE TABLE dc_element ("
	"  code integer PRIMARY KEY,"
	"  name text NOT NULL UNIQUE"
	");"
	"INSERT INTO dc_element (code, name) VALUES"
	"  (0, 'title'), (1, 'creator'), (2, 'subject'), (3, 'description'),"
	"  (4, 'publisher'), (5, 'contributor'), (6, 'date'), (7, 'type'),"
	"  (8, 'format'), (9, 'identifier'), (10, 'source'),"
	"  (11, 'language'), (12, 'relation'), (13, 'coverage'),"
	"  (14, 'rights');"

	"CREATE TABLE content ("
	"  record_id bigint PRIMARY KEY,"
	"  dc text NOT NULL,"
	"  xml text,"
	"  fts tsvector NOT NULL"
	") WITH (toast_tuple_target = 8160);"
	"CREATE INDEX content_fts ON content USING gin (fts);"

	"CREATE VIEW metadata (record_id, xml) AS"
	"  SELECT record_id, xml FROM content WHERE xml IS NOT NULL;"
	"CREATE VIEW dc (record_id, position, element, value, lang) AS"
	"  SELECT c.record_id, j.o - 1, coalesce(e.name, j.v ->> 0),"
	"  j.v ->> 1, j.v ->> 2"
	"  FROM content c"
	"  CROSS JOIN LATERAL jsonb_array_elements(c.dc::jsonb)"
	"    WITH ORDINALITY AS j (v, o)"
	"  LEFT JOIN dc_element e ON e.code::text = j.v ->> 0;"

	"CREATE TABLE record_set ("
	"  setspec text NOT NULL,"
	"  record_id bigint NOT NULL,"
	"  position integer NOT NULL,"
	"  PRIMARY KEY (setspec, record_id, position)"
	");"

	"CREATE TABLE change ("
	"  seq bigint PRIMARY KEY,"
	"  source_id bigint NOT NULL REFERENCES source(id),"
	"  identifier text NOT NULL,"
	"  prefix text NOT NULL,"
	"  kind text NOT NULL CHECK (kind IN ('new', 'updated', 'deleted')),"
	"  datestamp text NOT NULL,"
	"  at text NOT NULL,"
	"  run_id bigint REFERENCES run(id) ON DELETE SET NULL,"
	"  reason text"
	");"
	"CREATE INDEX change_record ON change (source_id, prefix, identifier);"
	"CREATE TABLE change_seq ("
	"  last bigint NOT NULL"
	");"
	"INSERT INTO change_seq (last) VALUES (0);"

	"CREATE TABLE list_state ("
	"  source_id bigint NOT NULL REFERENCES source(id) ON DELETE CASCADE,"
	"  prefix text NOT NULL,"
	"  setspec text NOT NULL DEFAULT '',"
	"  watermark text,"
	"  token text,"
	"  progress text,"
	"  cursor bigint,"
	"  complete_list_size bigint,"
	"  pages bigint NOT NULL DEFAULT 0,"
	"  updated_at text NOT NULL,"
	"  swept_at text,"
	"  PRIMARY KEY (source_id, prefix, setspec)"
	");"

	"CREATE TABLE outbox ("
	"  name text PRIMARY KEY,"
	"  seq bigint NOT NULL"
	");"

	"CREATE TABLE reject ("
	"  id bigserial PRIMARY KEY,"
	"  source_id bigint NOT NULL REFERENCES source(id) ON DELETE CASCADE,"
	"  prefix text NOT NULL,"
	"  identifier text,"
	"  datestamp text,"
	"  cause text NOT NULL,"
	"  raw text,"
	"  truncated integer NOT NULL,"
	"  run_id bigint,"
	"  at text NOT NULL"
	");"
	"CREATE INDEX reject_source ON reject (source_id, identifier);",
	/*
	 * 1 -> 2: leases, for several daemons on one database (SQLite's
	 * version 9; pg_lease.c).  Times in ms since the epoch, by the
	 * server's clock.
	 */
	"CREATE TABLE lease ("
	"  host text PRIMARY KEY, holder text, node text,"
	"  gen bigint NOT NULL DEFAULT 0,"
	"  expires_ms bigint NOT NULL DEFAULT 0,"
	"  next_ms bigint NOT NULL DEFAULT 0);"
	"CREATE INDEX lease_holder ON lease (holder);"
	"CREATE TABLE node ("
	"  id text PRIMARY KEY, name text NOT NULL,"
	"  started_ms bigint NOT NULL, expires_ms bigint NOT NULL);",
	/*
	 * 2 -> 3: the full-text index trails the records (SQLite's version
	 * 10; pg_write.c): record_fts holds each record's tsvector under the
	 * GIN index, fts_pending the records it owes (their text, or gone).
	 */
	"CREATE TABLE record_fts ("
	"  record_id bigint PRIMARY KEY,"
	"  fts tsvector NOT NULL"
	") WITH (toast_tuple_target = 8160);"
	"INSERT INTO record_fts (record_id, fts)"
	"  SELECT record_id, fts FROM content;"
	"ALTER TABLE content DROP COLUMN fts;"
	"CREATE INDEX record_fts_gin ON record_fts USING gin (fts);"
	"CREATE TABLE fts_pending ("
	"  record_id bigint PRIMARY KEY,"
	"  gone boolean NOT NULL,"
	"  f0 text, f1 text, f2 text, f3 text);",
	/*
	 * 3 -> 4: the harvester makes the tsvectors (pg_tsv.c), with the
	 * SQLite index's tokenizer: fts_pending holds a record's tsvector
	 * instead of its text.  Every record's is made again the new way:
	 * all are owed, without one (tsv NULL: made from content.dc by the
	 * next page writer's open, pg_write.c); the old ones serve searches
	 * until then.
	 */
	"ALTER TABLE fts_pending DROP COLUMN f0, DROP COLUMN f1,"
	"  DROP COLUMN f2, DROP COLUMN f3, ADD COLUMN tsv tsvector;"
	"ALTER TABLE fts_pending SET (toast_tuple_target = 8160);"
	"INSERT INTO fts_pending (record_id, gone)"
	"  SELECT record_id, false FROM content"
	"  ON CONFLICT (record_id) DO UPDATE SET gone = false, tsv = NULL;",
};

/*
 * A new record with its content and set rows, in one statement: no row
 * back when (source, prefix, identifier) is known.
 */
#define RECORD_INSERT(on_conflict) \
	"WITH r AS (INSERT INTO record (source_id, prefix, identifier," \
	" datestamp, deleted, hash, sets, first_seen, last_seen)" \
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)" on_conflict \
	" RETURNING id)," \
	" c AS (INSERT INTO content (record_id, dc, xml)" \
	" SELECT id, $9, $10 FROM r WHERE $9::text IS NOT NULL)," \
	" p AS (INSERT INTO record_fts (record_id, fts)" \
	" SELECT id, $11::tsvector FROM r" \
	" WHERE $9::text IS NOT NULL)," \
	" t AS (INSERT INTO record_set (setspec, record_id, position)" \
	" SELECT j.v, r.id, j.o - 1 FROM r," \
	" jsonb_array_elements_text($7::text::jsonb)" \
	" WITH ORDINALITY AS j (v, o))" \
	" SELECT id FROM r"

/* The columns export_row() (pg_query.c) reads, and their joins. */
#define EXPORT_COLS \
	"r.id, s.name, r.identifier, r.prefix, r.datestamp, r.deleted," \
	" c.xml, r.sets, c.dc"
#define EXPORT_JOINS \
	" JOIN source s ON s.id = r.source_id" \
	" LEFT JOIN content c ON c.record_id = r.id"

const struct pg_query_def store_pg_queries[PQ_COUNT] = {
	[PQ_BEGIN] = { "begin", "BEGIN" },
	[PQ_COMMIT] = { "commit", "COMMIT" },
	[PQ_ROLLBACK] = { "rollback", "ROLLBACK" },
	[PQ_SOURCE_GET] = { "find source",
	    "SELECT id, url FROM source WHERE name = $1" },
	[PQ_SOURCE_BY_URL] = { "find source by url",
	    "SELECT name FROM source WHERE url = $1 ORDER BY id LIMIT 1" },
	[PQ_SOURCE_ADD] = { "insert source",
	    "INSERT INTO source (name, url, created) VALUES ($1, $2, $3)"
	    " ON CONFLICT (name) DO UPDATE SET name = excluded.name"
	    " RETURNING id, url" },
	[PQ_SOURCE_URL] = { "update source url",
	    "UPDATE source SET url = $2 WHERE id = $1" },
	[PQ_SOURCE_IDENTIFY] = { "update source identify",
	    "UPDATE source SET granularity = $2, earliest_datestamp = $3,"
	    " deleted_record = $4, repository_name = $5, identified_at = $6"
	    " WHERE id = $1" },
	/*
	 * A page transaction's first statement on a source's rows: the
	 * source's row as its rows' foreign keys lock it, taken before any
	 * of them (see pg_admin.c's drop).
	 */
	[PQ_SOURCE_SHARE] = { "lock source",
	    "SELECT 1 FROM source WHERE id = $1 FOR KEY SHARE" },
	[PQ_RUN_INTERRUPTED] = { "mark interrupted runs",
	    "UPDATE run SET status = 'failed', error = 'interrupted',"
	    " ended = $2 WHERE source_id = $1 AND status = 'running'" },
	[PQ_RUN_BEGIN] = { "insert run",
	    "INSERT INTO run (source_id, started, status)"
	    " VALUES ($1, $2, 'running') RETURNING id" },
	[PQ_RUN_END] = { "end run",
	    "UPDATE run SET ended = $2, status = $3, pages = $4, records = $5,"
	    " new = $6, updated = $7, deleted = $8, unchanged = $9,"
	    " bytes = $10, error = $11 WHERE id = $1" },
	[PQ_RUN_LAST] = { "last run",
	    "SELECT id, started, ended, status, pages, records, new, updated,"
	    " deleted, unchanged, bytes, error FROM run"
	    " WHERE source_id = $1 ORDER BY id DESC LIMIT 1" },
	[PQ_RECORD_ADD] = { "insert record",
	    RECORD_INSERT(" ON CONFLICT (source_id, prefix, identifier)"
			  " DO NOTHING") },
	[PQ_RECORD_GET] = { "find record",
	    "SELECT id, datestamp, deleted, hash, sets FROM record"
	    " WHERE source_id = $1 AND prefix = $2 AND identifier = $3" },
	/*
	 * A page's records ($3: a JSON array of identifiers), each by the
	 * key (LATERAL ... LIMIT 1: a plan made on an empty table would
	 * scan it for an IN list).
	 */
	[PQ_RECORD_FIND] = { "find records",
	    "SELECT r.id, r.datestamp, r.deleted, r.hash, r.sets, j.v"
	    " FROM jsonb_array_elements_text($3::text::jsonb) AS j (v)"
	    " CROSS JOIN LATERAL (SELECT id, datestamp, deleted, hash, sets"
	    " FROM record WHERE source_id = $1 AND prefix = $2"
	    " AND identifier = j.v LIMIT 1) AS r" },
	/*
	 * A page's new records (pg_write.c): each $n a text[] column (the
	 * tsvectors a tsvector[], sent in binary), ids
	 * from the sequence in the rows' order.  Records the page's lookup
	 * did not find: a conflict (another writer's) fails the transaction
	 * instead of going unnoticed.
	 */
	[PQ_RECORDS_NEW] = { "insert new records",
	    "WITH v AS MATERIALIZED (SELECT nextval('record_id_seq') AS id,"
	    " u.* FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],"
	    " $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],"
	    " $10::text[], $11::tsvector[])"
	    " AS u (src, prefix, identifier, datestamp, deleted, hash, sets,"
	    " at, dc, xml, tsv)),"
	    " r AS (INSERT INTO record (id, source_id, prefix, identifier,"
	    " datestamp, deleted, hash, sets, first_seen, last_seen)"
	    " SELECT id, src::bigint, prefix, identifier, datestamp,"
	    " deleted::integer, hash::bigint, sets, at, at FROM v),"
	    " c AS (INSERT INTO content (record_id, dc, xml)"
	    " SELECT id, dc, xml FROM v WHERE dc IS NOT NULL),"
	    " p AS (INSERT INTO record_fts (record_id, fts)"
	    " SELECT id, tsv FROM v WHERE dc IS NOT NULL),"
	    " t AS (INSERT INTO record_set (setspec, record_id, position)"
	    " SELECT j.v, v.id, j.o - 1 FROM v,"
	    " jsonb_array_elements_text(v.sets::jsonb)"
	    " WITH ORDINALITY AS j (v, o))"
	    " SELECT count(*) FROM v" },
	/* Known records' datestamps (and sets when rewritten), as above. */
	[PQ_RECORDS_UPDATE] = { "update records",
	    "UPDATE record r SET datestamp = u.datestamp,"
	    " deleted = u.deleted::integer, hash = u.hash::bigint,"
	    " sets = coalesce(u.sets, r.sets), last_seen = u.at"
	    " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],"
	    " $5::text[], $6::text[])"
	    " AS u (id, datestamp, deleted, hash, at, sets)"
	    " WHERE r.id = u.id::bigint" },
	/* Content, and the record owed to the full-text index (pg_write.c). */
	[PQ_CONTENT_PUT] = { "store content",
	    "WITH c AS (INSERT INTO content (record_id, dc, xml)"
	    " VALUES ($1, $2, $3) ON CONFLICT (record_id) DO UPDATE"
	    " SET dc = excluded.dc, xml = excluded.xml)"
	    " , p AS (DELETE FROM fts_pending WHERE record_id = $1)"
	    " INSERT INTO record_fts (record_id, fts)"
	    " VALUES ($1, $4::tsvector) ON CONFLICT (record_id)"
	    " DO UPDATE SET fts = excluded.fts" },
	[PQ_CONTENT_DEL] = { "delete content",
	    "WITH c AS (DELETE FROM content WHERE record_id = $1),"
	    " p AS (DELETE FROM fts_pending WHERE record_id = $1)"
	    " DELETE FROM record_fts WHERE record_id = $1" },
	/*
	 * Index up to $1 of the records owed (pg_write.c): rows another
	 * connection is indexing are skipped, never waited for.
	 */
	[PQ_FTS_TRAIL] = { "search index",
	    "WITH d AS (DELETE FROM fts_pending WHERE record_id IN"
	    " (SELECT record_id FROM fts_pending"
	    " WHERE gone OR tsv IS NOT NULL ORDER BY record_id LIMIT $1"
	    " FOR UPDATE SKIP LOCKED)"
	    " RETURNING record_id, gone, tsv),"
	    " i AS (INSERT INTO record_fts (record_id, fts)"
	    " SELECT record_id, tsv FROM d WHERE NOT gone"
	    " ON CONFLICT (record_id) DO UPDATE SET fts = excluded.fts),"
	    " x AS (DELETE FROM record_fts f USING d"
	    " WHERE d.gone AND f.record_id = d.record_id)"
	    " SELECT count(*) FROM d" },
	/*
	 * Up to $1 records owed without their tsvector (migration 4), with
	 * their content.dc (NULL: gone), and one's tsvector made
	 * (pg_write.c).
	 */
	[PQ_FTS_OWED] = { "search index owed",
	    "SELECT p.record_id, c.dc FROM fts_pending p"
	    " LEFT JOIN content c ON c.record_id = p.record_id"
	    " WHERE NOT p.gone AND p.tsv IS NULL ORDER BY p.record_id"
	    " LIMIT $1 FOR UPDATE OF p SKIP LOCKED" },
	[PQ_FTS_FILL] = { "search index fill",
	    "UPDATE fts_pending SET gone = $2::text IS NULL,"
	    " tsv = $2::text::tsvector WHERE record_id = $1" },
	/* By the sets it had: record_set's key leads with the set. */
	[PQ_SETS_DEL] = { "delete sets",
	    "DELETE FROM record_set WHERE setspec IN"
	    " (SELECT jsonb_array_elements_text($2::text::jsonb))"
	    " AND record_id = $1" },
	[PQ_SETS_ADD] = { "insert sets",
	    "INSERT INTO record_set (setspec, record_id, position)"
	    " SELECT j.v, $1, j.o - 1"
	    " FROM jsonb_array_elements_text($2::text::jsonb)"
	    " WITH ORDINALITY AS j (v, o)" },
	/*
	 * The transaction's change rows ($2: a JSON array of arrays), seqs
	 * from the counter, whose row stays locked until commit: a
	 * transaction that commits later numbers its rows after these.
	 */
	[PQ_CHANGES_ADD] = { "insert changes",
	    "WITH b AS (UPDATE change_seq SET last = last + $1"
	    " RETURNING last - $1 AS base)"
	    " INSERT INTO change (seq, source_id, identifier, prefix, kind,"
	    " datestamp, at, run_id, reason)"
	    " SELECT b.base + j.o, (j.v ->> 0)::bigint, j.v ->> 1, j.v ->> 2,"
	    " j.v ->> 3, j.v ->> 4, j.v ->> 5, (j.v ->> 6)::bigint, j.v ->> 7"
	    " FROM b, jsonb_array_elements($2::text::jsonb)"
	    " WITH ORDINALITY AS j (v, o)" },
	[PQ_SEQ_GET] = { "read change seq", "SELECT last FROM change_seq" },
	/* At commit of changes: tell the listeners (pg_watch.c). */
	[PQ_NOTIFY] = { "notify",
	    "SELECT pg_notify('" PG_NOTIFY_CHANNEL "', last::text)"
	    " FROM change_seq" },
	[PQ_LIST_GET] = { "read list state",
	    "SELECT watermark, token, progress, cursor, complete_list_size,"
	    " pages FROM list_state"
	    " WHERE source_id = $1 AND prefix = $2 AND setspec = $3" },
	[PQ_LIST_CHECKPOINT] = { "checkpoint list",
	    "INSERT INTO list_state (source_id, prefix, setspec, token,"
	    " progress, cursor, complete_list_size, pages, updated_at)"
	    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
	    " ON CONFLICT (source_id, prefix, setspec) DO UPDATE SET"
	    " token = excluded.token, progress = excluded.progress,"
	    " cursor = excluded.cursor,"
	    " complete_list_size = excluded.complete_list_size,"
	    " pages = excluded.pages, updated_at = excluded.updated_at" },
	[PQ_LIST_COMPLETE] = { "complete list",
	    "INSERT INTO list_state (source_id, prefix, setspec, watermark,"
	    " pages, updated_at) VALUES ($1, $2, $3, $4, 0, $5)"
	    " ON CONFLICT (source_id, prefix, setspec) DO UPDATE SET"
	    " watermark = coalesce(excluded.watermark, list_state.watermark),"
	    " token = NULL, progress = NULL, cursor = NULL,"
	    " complete_list_size = NULL, pages = 0,"
	    " updated_at = excluded.updated_at" },
	[PQ_REJECT_ADD] = { "insert reject",
	    "INSERT INTO reject (source_id, prefix, identifier, datestamp,"
	    " cause, raw, truncated, run_id, at)"
	    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)" },
	[PQ_SWEEP_MARK] = { "sweep mark",
	    "UPDATE record SET swept = $1 WHERE source_id = $2 AND"
	    " prefix = $3 AND identifier = $4" },
	[PQ_SWEEP_PRESENT] = { "sweep count",
	    "SELECT count(*) FROM record WHERE source_id = $1 AND"
	    " prefix = $2 AND deleted = 0" },
	[PQ_SWEEP_MISSED] = { "sweep missed",
	    "SELECT identifier FROM record WHERE source_id = $1 AND"
	    " prefix = $2 AND deleted = 0 AND swept IS DISTINCT FROM $3" },
	[PQ_SWEEP_STAMP] = { "sweep stamp",
	    "UPDATE list_state SET swept_at = $3 WHERE source_id = $1 AND"
	    " prefix = $2 AND setspec = '' AND ($4::int = 1 OR"
	    " swept_at IS NULL)" },
	[PQ_SWEEP_LAST] = { "sweep last",
	    "SELECT swept_at FROM list_state WHERE source_id = $1 AND"
	    " prefix = $2 AND setspec = ''" },
	[PQ_EXPORT] = { "export",
	    "SELECT " EXPORT_COLS " FROM record r" EXPORT_JOINS
	    " WHERE ($1::text IS NULL OR s.name = $1)"
	    " AND ($2::text IS NULL OR r.prefix = $2)"
	    " ORDER BY s.name, r.prefix, r.identifier" },
	[PQ_EXPORT_SINCE] = { "export since",
	    "SELECT " EXPORT_COLS " FROM record r" EXPORT_JOINS
	    " WHERE r.id IN (SELECT r2.id FROM change ch"
	    "  JOIN record r2 ON r2.source_id = ch.source_id"
	    "  AND r2.prefix = ch.prefix AND r2.identifier = ch.identifier"
	    "  WHERE ch.seq > $3)"
	    " AND ($1::text IS NULL OR s.name = $1)"
	    " AND ($2::text IS NULL OR r.prefix = $2)"
	    " AND ($4::text IS NULL OR r.identifier IN"
	    "  (SELECT jsonb_array_elements_text($4::text::jsonb)))"
	    " ORDER BY s.name, r.prefix, r.identifier" },
	[PQ_EXPORT_IDS] = { "export identifiers",
	    "SELECT " EXPORT_COLS " FROM record r" EXPORT_JOINS
	    " WHERE r.identifier IN"
	    "  (SELECT jsonb_array_elements_text($3::text::jsonb))"
	    " AND ($1::text IS NULL OR s.name = $1)"
	    " AND ($2::text IS NULL OR r.prefix = $2)"
	    " ORDER BY s.name, r.prefix, r.identifier" },
	[PQ_CHANGES] = { "changes",
	    "SELECT c.seq, s.name, c.identifier, c.prefix, c.kind,"
	    " c.datestamp, c.at, c.reason FROM change c"
	    " JOIN source s ON s.id = c.source_id"
	    " WHERE c.seq > $1 ORDER BY c.seq LIMIT $2" },
	[PQ_STATUS_SOURCES] = { "status sources",
	    "SELECT id, name, url, repository_name, granularity,"
	    " earliest_datestamp, deleted_record, identified_at"
	    " FROM source ORDER BY name" },
	[PQ_STATUS_RECORDS] = { "status records",
	    "SELECT prefix, count(*) - sum(deleted), sum(deleted) FROM record"
	    " WHERE source_id = $1 GROUP BY prefix ORDER BY prefix" },
	[PQ_STATUS_LISTS] = { "status lists",
	    "SELECT prefix, setspec, watermark, token, progress, cursor,"
	    " complete_list_size, pages FROM list_state"
	    " WHERE source_id = $1 ORDER BY prefix, setspec" },
	[PQ_SOURCE_JSON] = { "source status",
	    "SELECT id, repository_name, granularity, deleted_record"
	    " FROM source WHERE name = $1" },
	/*
	 * $1 a tsquery in the index's terms (pg_query.c builds it), best
	 * first: the title is the first title value, the snippet the
	 * matched terms in [] within the four columns' text.
	 */
	[PQ_SEARCH] = { "search",
	    "WITH q AS (SELECT $1::text::tsquery AS q),"
	    " hit AS (SELECT c.record_id, c.dc, ts_rank(f.fts, q.q) AS score"
	    "  FROM q, record_fts f JOIN content c ON c.record_id = f.record_id"
	    "  JOIN record r0 ON r0.id = c.record_id"
	    "  WHERE f.fts @@ q.q AND ($2::text IS NULL OR r0.source_id ="
	    "   (SELECT id FROM source WHERE name = $2))"
	    "  ORDER BY score DESC, c.record_id LIMIT $3)"
	    " SELECT so.name, r.identifier, r.prefix, r.datestamp,"
	    " (SELECT split_part(j.v ->> 1, E'\\n', 1)"
	    "  FROM jsonb_array_elements(h.dc::jsonb) WITH ORDINALITY"
	    "  AS j (v, o) WHERE j.v ->> 0 = '0' ORDER BY j.o LIMIT 1),"
	    " ts_headline('oh_fts', (SELECT string_agg(j.v ->> 1, E'\\n'"
	    "  ORDER BY j.o) FROM jsonb_array_elements(h.dc::jsonb)"
	    "  WITH ORDINALITY AS j (v, o)"
	    "  WHERE j.v ->> 0 IN ('0', '1', '2', '3')), q.q,"
	    "  'StartSel=[, StopSel=], MaxWords=16, MinWords=4'),"
	    " h.score"
	    " FROM q, hit h JOIN record r ON r.id = h.record_id"
	    " JOIN source so ON so.id = r.source_id"
	    " ORDER BY h.score DESC, h.record_id" },
	[PQ_OUTBOX_GET] = { "outbox read",
	    "SELECT seq FROM outbox WHERE name = $1" },
	[PQ_OUTBOX_SET] = { "outbox write",
	    "INSERT INTO outbox (name, seq) VALUES ($1, $2)"
	    " ON CONFLICT (name) DO UPDATE SET seq = excluded.seq" },
	[PQ_WRITABLE] = { "writable",
	    "SELECT (NOT pg_is_in_recovery() AND"
	    " current_setting('transaction_read_only') = 'off')::int" },
	[PQ_KNOWN] = { "source known",
	    "SELECT EXISTS (SELECT 1 FROM source s"
	    " WHERE ($1::text IS NULL OR s.name = $1) AND ($2::text IS NULL"
	    " OR EXISTS (SELECT 1 FROM record r"
	    "  WHERE r.source_id = s.id AND r.prefix = $2)"
	    " OR EXISTS (SELECT 1 FROM list_state l"
	    "  WHERE l.source_id = s.id AND l.prefix = $2)))::int" },
	[PQ_RENAME] = { "rename source",
	    "UPDATE source SET name = $2 WHERE id = $1" },
	[PQ_RESET_LISTS] = { "reset lists",
	    "DELETE FROM list_state WHERE source_id = $1" },
	[PQ_RESET_SWEPT] = { "reset sweeps",
	    "UPDATE record SET swept = NULL"
	    " WHERE source_id = $1 AND swept IS NOT NULL" },
	/*
	 * A drop's or reset's first lock: it waits for the source's pages
	 * to commit (pg_admin.c).
	 */
	[PQ_SOURCE_LOCK] = { "lock source",
	    "SELECT id FROM source WHERE id = $1 FOR UPDATE" },
	/* A consumer behind a change of the source. */
	[PQ_DROP_UNCONSUMED] = { "outbox consumers",
	    "SELECT o.name, o.seq, (SELECT min(c.seq) FROM change c"
	    "  WHERE c.seq > o.seq AND c.source_id = $1)"
	    " FROM outbox o WHERE EXISTS (SELECT 1 FROM change c"
	    "  WHERE c.seq > o.seq AND c.source_id = $1)"
	    " ORDER BY o.name LIMIT 1" },
	[PQ_DROP_COUNTS] = { "count records",
	    "SELECT (SELECT count(*) FROM record WHERE source_id = $1),"
	    " (SELECT count(*) FROM run WHERE source_id = $1)" },
	/*
	 * The source's change rows go with it; change_seq.last keeps their
	 * seqs from being given out again.  Its records, content and sets
	 * go by PQ_DROP_RECORDS, its runs, lists and rejects by ON DELETE
	 * CASCADE.
	 */
	[PQ_DROP_CHANGES] = { "delete changes",
	    "DELETE FROM change WHERE source_id = $1" },
	[PQ_DROP_RECORDS] = { "delete records",
	    "WITH r AS (DELETE FROM record WHERE source_id = $1"
	    " RETURNING id, sets),"
	    " c AS (DELETE FROM content WHERE record_id IN (SELECT id FROM r)),"
	    " f AS (DELETE FROM record_fts WHERE record_id IN (SELECT id FROM "
	    "r)),"
	    " p AS (DELETE FROM fts_pending"
	    "  WHERE record_id IN (SELECT id FROM r)),"
	    " t AS (DELETE FROM record_set WHERE (setspec, record_id) IN"
	    "  (SELECT j.v, r.id FROM r,"
	    "  jsonb_array_elements_text(r.sets::jsonb) AS j (v)))"
	    " SELECT count(*) FROM r" },
	[PQ_DROP_SOURCE] = { "delete source",
	    "DELETE FROM source WHERE id = $1" },

/* The server's clock in ms since the epoch: one for every daemon. */
#define NOW_MS "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"
	/* Leases (pg_lease.c), each its own transaction but the check. */
	[PQ_LEASE_ENSURE] = { "lease row",
	    "INSERT INTO lease (host) VALUES ($1)"
	    " ON CONFLICT (host) DO NOTHING" },
	/* None: another daemon takes it, or a page of its holder commits. */
	[PQ_LEASE_PICK] = { "lease pick",
	    "SELECT holder, expires_ms FROM lease WHERE host = $1"
	    " FOR UPDATE SKIP LOCKED" },
	/* Free, expired or ours: ours now; a new holder, one more gen. */
	[PQ_LEASE_TAKE] = { "lease take",
	    "UPDATE lease SET holder = $2, node = $3,"
	    " gen = CASE WHEN holder = $2 THEN gen ELSE gen + 1 END,"
	    " expires_ms = " NOW_MS " + $4"
	    " WHERE host = $1 AND (holder IS NULL OR holder = $2"
	    " OR expires_ms <= " NOW_MS ")"
	    " RETURNING gen, expires_ms, next_ms" },
	[PQ_LEASE_RENEW] = { "lease renew",
	    "UPDATE lease SET expires_ms = " NOW_MS " + $2, node = $3"
	    " WHERE holder = $1 RETURNING host, gen" },
	[PQ_LEASE_NODE] = { "lease node",
	    "INSERT INTO node (id, name, started_ms, expires_ms)"
	    " VALUES ($1, $2, " NOW_MS ", " NOW_MS " + $3)"
	    " ON CONFLICT (id) DO UPDATE SET name = excluded.name,"
	    " expires_ms = excluded.expires_ms" },
	[PQ_LEASE_NODE_GC] = { "lease node gc",
	    "DELETE FROM node WHERE expires_ms < " NOW_MS },
	[PQ_LEASE_RELEASE] = { "lease release",
	    "UPDATE lease SET holder = NULL, node = NULL, expires_ms = 0,"
	    " next_ms = greatest(next_ms, $3)"
	    " WHERE holder = $1 AND ($2::text IS NULL OR host = $2)" },
	[PQ_LEASE_NODE_DEL] = { "lease node delete",
	    "DELETE FROM node WHERE id = $1" },
	/*
	 * FOR KEY SHARE: a takeover (its FOR UPDATE) waits for (skips) the
	 * page's commit; a renewal (no key changes) does not (pg_lease.c).
	 */
	[PQ_LEASE_HELD] = { "lease check",
	    "SELECT 1 FROM lease WHERE host = $1 AND gen = $2"
	    " AND expires_ms > " NOW_MS " FOR KEY SHARE" },
	[PQ_LEASE_LIST] = { "leases",
	    "SELECT host, holder, node, gen, expires_ms, next_ms, " NOW_MS
	    " FROM lease ORDER BY host" },
	[PQ_LEASE_NODES] = { "lease nodes",
	    "SELECT count(*) FROM node WHERE expires_ms > " NOW_MS },
#undef NOW_MS
};

/* Parameters */

void
pgp_init(struct pg_params *p)
{
	p->n = 0;
}

/* A string as its bytes (binary format: no NUL needed); NULL as NULL. */
void
pgp_textn(struct pg_params *p, const char *v, size_t len)
{
	if (p->n == PG_MAXPARAMS)
		fatal("store: pg: too many parameters");
	p->v[p->n] = v;
	p->len[p->n] = v != NULL ? (int)len : 0;
	p->fmt[p->n] = 1;
	p->n++;
}

void
pgp_text(struct pg_params *p, const char *v)
{
	pgp_textn(p, v, v != NULL ? strlen(v) : 0);
}

void
pgp_int(struct pg_params *p, long long v)
{
	if (p->n == PG_MAXPARAMS)
		fatal("store: pg: too many parameters");
	snprintf(p->num[p->n], sizeof(p->num[p->n]), "%lld", v);
	p->v[p->n] = p->num[p->n];
	p->len[p->n] = 0;
	p->fmt[p->n] = 0;
	p->n++;
}

void
pgp_count(struct pg_params *p, long long v)
{
	if (v < 0)
		pgp_textn(p, NULL, 0);
	else
		pgp_int(p, v);
}

/* Statements */

static const char *
stmt_name(enum pg_query q, char *buf, size_t n)
{
	snprintf(buf, n, "oh%d", (int)q);
	return buf;
}

/* Keep the first failure of the transaction, one line. */
static void
pg_failed(struct store_pg *s, const char *what, const char *msg)
{
	if (s->failed != NULL)
		return;
	xasprintf(&s->failed, "store: %s: %s", what, msg);
	s->failed[strcspn(s->failed, "\n")] = '\0';
}

static int
send_prepared(struct store_pg *s, enum pg_query q, const struct pg_params *p)
{
	char name[16];

	return PQsendQueryPrepared(s->conn, stmt_name(q, name, sizeof(name)),
	    p != NULL ? p->n : 0, p != NULL ? p->v : NULL,
	    p != NULL ? p->len : NULL, p != NULL ? p->fmt : NULL, 0);
}

int
pg_send(struct store_pg *s, enum pg_query q, const struct pg_params *p,
    char **cause)
{
	PGresult *r;

	if (!s->intxn) {
		if ((r = pg_exec(s, q, p, cause)) == NULL)
			return -1;
		PQclear(r);
		return 0;
	}
	if (s->failed == NULL && !send_prepared(s, q, p))
		pg_failed(s, store_pg_queries[q].what, PQerrorMessage(s->conn));
	if (s->failed != NULL) {
		set_cause(cause, "%s", s->failed);
		return -1;
	}
	/*
	 * Read the results now and then: a server whose results nobody
	 * reads stops reading, and a client that only writes would wait
	 * for it forever (a sweep marks a page's identifiers in one go).
	 */
	if (++s->nsent >= PG_PIPELINE_MAX)
		return pipe_sync(s, NULL, cause);
	return 0;
}

/*
 * Sync the pipeline and read every result queued since the last sync, the
 * last one into *last when last is not NULL.  Each query gives its result
 * and then NULL; the sync gives PGRES_PIPELINE_SYNC.  After a failure the
 * rest of the segment comes back PGRES_PIPELINE_ABORTED.
 */
static int
pipe_sync(struct store_pg *s, PGresult **last, char **cause)
{
	PGresult      *r, *x;
	ExecStatusType st;
	int	       i, n = s->nsent;

	if (last != NULL)
		*last = NULL;
	s->nsent = 0;
	if (!PQpipelineSync(s->conn)) {
		pg_failed(s, "sync", PQerrorMessage(s->conn));
		set_cause(cause, "%s", s->failed);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if ((r = PQgetResult(s->conn)) == NULL) {
			pg_failed(s, "pipeline", PQerrorMessage(s->conn));
			break;
		}
		st = PQresultStatus(r);
		if (st == PGRES_FATAL_ERROR)
			pg_failed(s, "pipeline", PQresultErrorMessage(r));
		else if (st == PGRES_PIPELINE_ABORTED)
			pg_failed(s, "pipeline", "aborted");
		if (last != NULL && i == n - 1 && s->failed == NULL)
			*last = r;
		else
			PQclear(r);
		while ((x = PQgetResult(s->conn)) != NULL)
			PQclear(x);
	}
	r = PQgetResult(s->conn);
	if (PQresultStatus(r) != PGRES_PIPELINE_SYNC)
		pg_failed(s, "pipeline", PQerrorMessage(s->conn));
	PQclear(r);
	if (s->failed != NULL) {
		if (last != NULL) {
			PQclear(*last);
			*last = NULL;
		}
		set_cause(cause, "%s", s->failed);
		return -1;
	}
	return 0;
}

/* Send what is queued, without waiting for its results. */
int
pg_flush(struct store_pg *s, char **cause)
{
	if (PQflush(s->conn) != 0) {
		pg_failed(s, "flush", PQerrorMessage(s->conn));
		set_cause(cause, "%s", s->failed);
		return -1;
	}
	return 0;
}

int
pg_sync(struct store_pg *s, char **cause)
{
	if (!s->intxn)
		return 0;
	return pipe_sync(s, NULL, cause);
}

PGresult *
pg_exec(struct store_pg *s, enum pg_query q, const struct pg_params *p,
    char **cause)
{
	PGresult      *r;
	ExecStatusType st;
	char	       name[16];

	if (s->intxn) {
		/* What reads must see the rows gathered so far. */
		if (pg_bulk_flush(s, cause) == -1 ||
		    pg_send(s, q, p, cause) == -1 ||
		    pipe_sync(s, &r, cause) == -1)
			return NULL;
		return r;
	}
	r = PQexecPrepared(s->conn, stmt_name(q, name, sizeof(name)),
	    p != NULL ? p->n : 0, p != NULL ? p->v : NULL,
	    p != NULL ? p->len : NULL, p != NULL ? p->fmt : NULL, 0);
	st = PQresultStatus(r);
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
		return r;
	set_cause(cause, "store: %s: %s", store_pg_queries[q].what,
	    r != NULL ? PQresultErrorMessage(r) : PQerrorMessage(s->conn));
	if (cause != NULL && *cause != NULL)
		(*cause)[strcspn(*cause, "\n")] = '\0';
	PQclear(r);
	return NULL;
}

int
pg_exec_rows(struct store_pg *s, enum pg_query q, const struct pg_params *p,
    int (*row)(void *, PGresult *, int), void *arg, char **cause)
{
	PGresult      *r;
	ExecStatusType st;
	int	       i, ret = 0, stopped = 0;

	if (s->intxn) {
		if ((r = pg_exec(s, q, p, cause)) == NULL)
			return -1;
		for (i = 0; i < PQntuples(r) && !stopped; i++)
			if (row(arg, r, i) == -1)
				stopped = 1;
		PQclear(r);
		return stopped ? -1 : 0;
	}
	if (!send_prepared(s, q, p) || !PQsetSingleRowMode(s->conn)) {
		set_cause(cause, "store: %s: %s", store_pg_queries[q].what,
		    PQerrorMessage(s->conn));
		if (cause != NULL && *cause != NULL)
			(*cause)[strcspn(*cause, "\n")] = '\0';
		while ((r = PQgetResult(s->conn)) != NULL)
			PQclear(r);
		return -1;
	}
	/* Read to the end, even after a stop, to leave the connection idle. */
	while ((r = PQgetResult(s->conn)) != NULL) {
		st = PQresultStatus(r);
		if (st == PGRES_SINGLE_TUPLE) {
			if (!stopped && ret == 0 && row(arg, r, 0) == -1)
				stopped = 1;
		} else if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK &&
		    ret == 0) {
			ret = -1;
			set_cause(cause, "store: %s: %s",
			    store_pg_queries[q].what, PQresultErrorMessage(r));
			if (cause != NULL && *cause != NULL)
				(*cause)[strcspn(*cause, "\n")] = '\0';
		}
		PQclear(r);
	}
	return stopped || ret == -1 ? -1 : 0;
}

/* content.dc */

void
pg_dc_init(struct pg_dc *d)
{
	memset(d, 0, sizeof(*d));
	buf_init(&d->vals, EXPORT_MAX_LINE);
}

void
pg_dc_free(struct pg_dc *d)
{
	buf_free(&d->vals);
	free(d->off);
	free(d->len);
	free(d->noff);
	free(d->code);
	memset(d, 0, sizeof(*d));
}

/* A JSON string of content.dc (store_dc_string()), NUL-terminated in b. */
static int
dc_string(const char **pp, const char *end, struct buf *b)
{
	if (store_dc_string(pp, end, b) == -1)
		return -1;
	return b != NULL ? buf_addch(b, '\0') : 0;
}

int
pg_dc_parse(struct pg_dc *d, const char *j, size_t n)
{
	const char *p = j, *end;
	size_t	    noff, voff;
	int	    c;

	buf_reset(&d->vals);
	d->n = 0;
	if (j == NULL || n < 2 || *p++ != '[')
		return -1;
	end = j + n;
	if (*p == ']')
		return p + 1 == end ? 0 : -1;
	for (;;) {
		if (end - p < 4 || *p++ != '[')
			return -1;
		noff = SIZE_MAX;
		c = -1;
		if (*p == '"') {
			noff = d->vals.len;
			p++;
			if (dc_string(&p, end, &d->vals) == -1)
				return -1;
		} else {
			if (*p < '0' || *p > '9')
				return -1;
			c = *p++ - '0';
			if (p < end && *p >= '0' && *p <= '9')
				c = c * 10 + *p++ - '0';
		}
		if (p == end || *p++ != ',' || p == end || *p++ != '"')
			return -1;
		voff = d->vals.len;
		if (dc_string(&p, end, &d->vals) == -1)
			return -1;
		/* The language, if any: skipped. */
		if (p < end && *p == ',') {
			if (++p == end || *p++ != '"' ||
			    dc_string(&p, end, NULL) == -1)
				return -1;
		}
		if (p == end || *p++ != ']' || p == end)
			return -1;
		if (d->n == d->cap) {
			d->cap = d->cap == 0 ? 32 : 2 * d->cap;
			d->off = xreallocarray(d->off, d->cap, sizeof(*d->off));
			d->len = xreallocarray(d->len, d->cap, sizeof(*d->len));
			d->noff =
			    xreallocarray(d->noff, d->cap, sizeof(*d->noff));
			d->code =
			    xreallocarray(d->code, d->cap, sizeof(*d->code));
		}
		d->off[d->n] = voff;
		d->len[d->n] = d->vals.len - voff - 1;
		d->noff[d->n] = noff;
		d->code[d->n] = c;
		d->n++;
		if (*p == ']')
			return p + 1 == end ? 0 : -1;
		if (*p++ != ',')
			return -1;
	}
}

long long
pg_ll(PGresult *r, int row, int col, long long dflt)
{
	if (PQgetisnull(r, row, col))
		return dflt;
	return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

const char *
pg_now(struct store_pg *s)
{
	time_t t;

	t = time(NULL);
	if (t != s->now_t || s->now[0] == '\0') {
		datestamp_format(t, GRAN_SECONDS, s->now);
		s->now_t = t;
	}
	return s->now;
}

/* Opening */

/*
 * The database as messages may name it: scheme, user, host, port and
 * database from libpq's own parse of the URI; never its password.
 */
static char *
safe_uri(const char *uri)
{
	PQconninfoOption *o, *opts;
	const char	 *user = NULL, *host = NULL, *port = NULL;
	const char	 *db = NULL;
	char		 *out, *err = NULL;

	if ((opts = PQconninfoParse(uri, &err)) == NULL) {
		PQfreemem(err);
		return xstrdup("postgresql://(unparsable)");
	}
	for (o = opts; o->keyword != NULL; o++) {
		if (o->val == NULL)
			continue;
		if (strcmp(o->keyword, "user") == 0)
			user = o->val;
		else if (strcmp(o->keyword, "host") == 0)
			host = o->val;
		else if (strcmp(o->keyword, "port") == 0)
			port = o->val;
		else if (strcmp(o->keyword, "dbname") == 0)
			db = o->val;
	}
	xasprintf(&out, "postgresql://%s%s%s%s%s/%s", user != NULL ? user : "",
	    user != NULL ? "@" : "", host != NULL ? host : "",
	    port != NULL ? ":" : "", port != NULL ? port : "",
	    db != NULL ? db : "");
	PQconninfoFree(opts);
	return out;
}

/* Constant SQL that binds nothing (migration scripts). */
static int
exec_script(struct store_pg *s, const char *sql, char **cause)
{
	PGresult *r;
	int	  ok;

	r = PQexec(s->conn, sql);
	ok = PQresultStatus(r) == PGRES_COMMAND_OK ||
	    PQresultStatus(r) == PGRES_TUPLES_OK;
	if (!ok) {
		set_cause(cause, "store: migrate %s: %s", s->safe,
		    PQresultErrorMessage(r));
		if (cause != NULL && *cause != NULL)
			(*cause)[strcspn(*cause, "\n")] = '\0';
	}
	PQclear(r);
	return ok ? 0 : -1;
}

/* The version in schema_version, or -1. */
static int
read_version(struct store_pg *s, int *v, char **cause)
{
	PGresult *r;

	r = PQexecParams(s->conn,
	    "SELECT coalesce((SELECT max(version) FROM schema_version), 0)", 0,
	    NULL, NULL, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		set_cause(cause, "store: open %s: %s", s->safe,
		    PQresultErrorMessage(r));
		if (cause != NULL && *cause != NULL)
			(*cause)[strcspn(*cause, "\n")] = '\0';
		PQclear(r);
		return -1;
	}
	*v = atoi(PQgetvalue(r, 0, 0));
	PQclear(r);
	return 0;
}

/*
 * Bring the schema up to date in one transaction under an advisory lock,
 * so that two processes opening a new database migrate it once.
 */
static int
migrate(struct store_pg *s, char **cause)
{
	PGresult *r;
	char	  step[128];
	int	  v;
	size_t	  i;

	if (exec_script(s, "BEGIN", cause) == -1)
		return -1;
	r = PQexecParams(s->conn, "SELECT pg_advisory_xact_lock(20261207)", 0,
	    NULL, NULL, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		set_cause(cause, "store: migrate %s: lock: %s", s->safe,
		    PQresultErrorMessage(r));
		PQclear(r);
		goto fail;
	}
	PQclear(r);
	if (exec_script(s,
		"CREATE TABLE IF NOT EXISTS schema_version ("
		"  version integer NOT NULL)",
		cause) == -1 ||
	    read_version(s, &v, cause) == -1)
		goto fail;
	if (v < 0 || (size_t)v > nitems(migrations)) {
		set_cause(cause,
		    "store: open %s: schema version %d is newer "
		    "than this oaiharvest knows (%zu)",
		    s->safe, v, nitems(migrations));
		goto fail;
	}
	for (i = (size_t)v; i < nitems(migrations); i++) {
		if (exec_script(s, migrations[i], cause) == -1)
			goto fail;
		/* A number of ours, not a value from outside. */
		snprintf(step, sizeof(step),
		    "DELETE FROM schema_version;"
		    "INSERT INTO schema_version VALUES (%zu)",
		    i + 1);
		if (exec_script(s, step, cause) == -1)
			goto fail;
		log_info("event=store_migrated path=%s version=%zu",
		    log_q(s->safe), i + 1);
	}
	if (exec_script(s, "COMMIT", cause) == -1)
		goto fail;
	return 0;
fail:
	exec_script(s, "ROLLBACK", NULL);
	return -1;
}

static void
quiet(void *arg, const char *msg)
{
}

static void *
store_pg_open(const char *uri, int flags, char **cause)
{
	struct store_pg *s;
	PGresult	*r;
	char		 name[16], *why = NULL;
	int		 v;
	size_t		 i;

	s = xcalloc(1, sizeof(*s));
	s->uri = xstrdup(uri);
	s->safe = safe_uri(uri);
	s->rdonly = (flags & STORE_RDONLY) != 0;
	s->prep = store_prep_new();
	buf_init(&s->changes, SIZE_MAX / 4);
	buf_init(&s->oldsets, SETS_JSON_MAX);
	s->conn = PQconnectdb(uri);
	if (PQstatus(s->conn) != CONNECTION_OK) {
		set_cause(cause, "store: open %s: %s", s->safe,
		    PQerrorMessage(s->conn));
		if (cause != NULL && *cause != NULL)
			(*cause)[strcspn(*cause, "\n")] = '\0';
		goto fail;
	}
	/* Quiet NOTICEs (IF NOT EXISTS ...): they would go to stderr. */
	PQsetNoticeProcessor(s->conn, quiet, NULL);
	if (exec_script(s,
		"SET client_min_messages = warning;"
		"SET timezone = 'UTC'",
		cause) == -1)
		goto fail;
	if (s->rdonly) {
		if (read_version(s, &v, NULL) == -1)
			v = 0;
		if ((size_t)v != nitems(migrations)) {
			set_cause(cause,
			    "store: open %s: schema version %d, need %zu; "
			    "open it read-write once to migrate",
			    s->safe, v, nitems(migrations));
			goto fail;
		}
		if (exec_script(s, "SET default_transaction_read_only = on",
			cause) == -1)
			goto fail;
	} else if (migrate(s, cause) == -1)
		goto fail;
	s->version = (int)nitems(migrations);
	for (i = 0; i < PQ_COUNT; i++) {
		r = PQprepare(s->conn, stmt_name(i, name, sizeof(name)),
		    store_pg_queries[i].sql, 0, NULL);
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			set_cause(cause, "store: prepare %s: %s",
			    store_pg_queries[i].what, PQresultErrorMessage(r));
			if (cause != NULL && *cause != NULL)
				(*cause)[strcspn(*cause, "\n")] = '\0';
			PQclear(r);
			goto fail;
		}
		PQclear(r);
	}
	/*
	 * The page writer's connection: what fts_pending owes the search
	 * index (an older version's leftovers, migration 4's rebuild) is
	 * indexed now (a failure leaves it owed).
	 */
	if ((flags & STORE_TRAIL) && !s->rdonly) {
		s->trail = 1;
		if (pg_fts_drain(s, &why) == -1) {
			log_warn("event=search_index_error path=%s error=%s",
			    log_q(s->safe), log_q(why));
			free(why);
		}
	}
	return s;
fail:
	store_pg_close(s);
	return NULL;
}

static void
store_pg_close(void *be)
{
	struct store_pg *s = be;
	char		*cause = NULL;

	if (s == NULL)
		return;
	/*
	 * An open page transaction is lost, as in a crash; after the last,
	 * the search index catches up.
	 */
	if (s->conn != NULL && s->trail && !s->intxn &&
	    PQstatus(s->conn) == CONNECTION_OK &&
	    pg_fts_drain(s, &cause) == -1) {
		log_warn("event=search_index_error path=%s error=%s",
		    log_q(s->safe), log_q(cause));
		free(cause);
	}
	if (s->conn != NULL && !s->intxn)
		pg_gin_close(s);
	if (s->gin != NULL)
		PQfinish(s->gin);
	if (s->conn != NULL)
		PQfinish(s->conn);
	store_pg_write_free(s);
	free(s->uri);
	free(s->safe);
	free(s);
}

static const char *
pg_path(const void *be)
{
	const struct store_pg *s = be;

	return s->uri;
}

static int
pg_schema_version(void *be)
{
	struct store_pg *s = be;

	return s->version;
}

/* Sources */

static int64_t
pg_source(void *be, const char *name, const char *url, int move, char **cause)
{
	struct store_pg *s = be;
	struct pg_params p;
	PGresult	*r;
	const char	*old;
	int64_t		 id;
	int		 same;

	if (name == NULL) {
		set_cause(cause, "store: source: no name");
		return -1;
	}
	pgp_init(&p);
	pgp_text(&p, name);
	if ((r = pg_exec(s, PQ_SOURCE_GET, &p, cause)) == NULL)
		return -1;
	if (PQntuples(r) == 0) {
		PQclear(r);
		/* Another process may add it first: then it is that one. */
		pgp_text(&p, url);
		pgp_text(&p, pg_now(s));
		if ((r = pg_exec(s, PQ_SOURCE_ADD, &p, cause)) == NULL)
			return -1;
	}
	id = pg_ll(r, 0, 0, -1);
	old = pg_col(r, 0, 1);
	same = url == NULL || (old != NULL && strcmp(old, url) == 0);
	/*
	 * One source, one repository: another URL is another repository
	 * unless the caller says the source moved.
	 */
	if (!same && !move && old != NULL) {
		set_cause(cause,
		    "source \"%s\" is the repository at %s, not %s", name, old,
		    url);
		PQclear(r);
		return STORE_SOURCE_OTHER_URL;
	}
	PQclear(r);
	if (same)
		return id;
	pgp_init(&p);
	pgp_int(&p, id);
	pgp_text(&p, url);
	if ((r = pg_exec(s, PQ_SOURCE_URL, &p, cause)) == NULL)
		return -1;
	PQclear(r);
	return id;
}

/* One text column of the first row of query q with $1 = arg, or NULL. */
static char *
pg_text1(struct store_pg *s, enum pg_query q, const char *arg, int col)
{
	struct pg_params p;
	PGresult	*r;
	const char	*v;
	char		*out = NULL;

	pgp_init(&p);
	pgp_text(&p, arg);
	if ((r = pg_exec(s, q, &p, NULL)) == NULL)
		return NULL;
	if (PQntuples(r) > 0 && (v = pg_col(r, 0, col)) != NULL)
		out = xstrdup(v);
	PQclear(r);
	return out;
}

static char *
pg_source_url(void *be, const char *name)
{
	return pg_text1(be, PQ_SOURCE_GET, name, 1);
}

static char *
pg_source_by_url(void *be, const char *url)
{
	return pg_text1(be, PQ_SOURCE_BY_URL, url, 0);
}

static int
pg_source_identify(void *be, int64_t source, const char *granularity,
    const char *earliest, const char *deleted_record,
    const char *repository_name, char **cause)
{
	struct store_pg *s = be;
	struct pg_params p;
	PGresult	*r;
	int		 n;

	pgp_init(&p);
	pgp_int(&p, source);
	pgp_text(&p, granularity);
	pgp_text(&p, earliest);
	pgp_text(&p, deleted_record);
	pgp_text(&p, repository_name);
	pgp_text(&p, pg_now(s));
	if ((r = pg_exec(s, PQ_SOURCE_IDENTIFY, &p, cause)) == NULL)
		return -1;
	n = atoi(PQcmdTuples(r));
	PQclear(r);
	if (n != 1) {
		set_cause(cause, "store: identify: no source %lld",
		    (long long)source);
		return -1;
	}
	return 0;
}

/* Runs */

/*
 * A run still 'running' when the next run of its source begins was killed
 * before it could end: it is marked failed with error 'interrupted' (see
 * sqlite.c).
 */
static int64_t
pg_run_begin(void *be, int64_t source, char **cause)
{
	struct store_pg *s = be;
	struct pg_params p;
	PGresult	*r;
	int64_t		 id;
	int		 n;

	pgp_init(&p);
	pgp_int(&p, source);
	pgp_text(&p, pg_now(s));
	if ((r = pg_exec(s, PQ_RUN_INTERRUPTED, &p, cause)) == NULL)
		return -1;
	if ((n = atoi(PQcmdTuples(r))) > 0)
		log_warn("event=runs_interrupted source_id=%lld runs=%d "
			 "msg=\"marked failed\"",
		    (long long)source, n);
	PQclear(r);
	if ((r = pg_exec(s, PQ_RUN_BEGIN, &p, cause)) == NULL)
		return -1;
	id = pg_ll(r, 0, 0, -1);
	PQclear(r);
	return id;
}

static int
pg_run_end(void *be, int64_t run, const char *status,
    const struct store_run_stats *rs, const char *error, char **cause)
{
	static const struct store_run_stats zero;
	struct store_pg			   *s = be;
	struct pg_params		    p;
	PGresult			   *r;
	int				    n;

	if (status == NULL ||
	    (strcmp(status, "ok") != 0 && strcmp(status, "failed") != 0)) {
		set_cause(cause, "store: end run: status must be ok or failed");
		return -1;
	}
	if (rs == NULL)
		rs = &zero;
	pgp_init(&p);
	pgp_int(&p, run);
	pgp_text(&p, pg_now(s));
	pgp_text(&p, status);
	pgp_int(&p, rs->pages);
	pgp_int(&p, rs->records);
	pgp_int(&p, rs->new_records);
	pgp_int(&p, rs->updated);
	pgp_int(&p, rs->deleted);
	pgp_int(&p, rs->unchanged);
	pgp_int(&p, rs->bytes);
	pgp_text(&p, error);
	if ((r = pg_exec(s, PQ_RUN_END, &p, cause)) == NULL)
		return -1;
	n = atoi(PQcmdTuples(r));
	PQclear(r);
	if (n != 1) {
		set_cause(cause, "store: end run: no run %lld", (long long)run);
		return -1;
	}
	return 0;
}

static int
pg_source_last_run(
    void *be, const char *name, time_t *ended, char **status, char **cause)
{
	struct store_pg *s = be;
	struct pg_params p;
	PGresult	*r;
	const char	*v;
	int64_t		 id;

	*ended = 0;
	*status = NULL;
	pgp_init(&p);
	pgp_text(&p, name);
	if ((r = pg_exec(s, PQ_SOURCE_GET, &p, cause)) == NULL)
		return -1;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return 0;
	}
	id = pg_ll(r, 0, 0, -1);
	PQclear(r);
	pgp_init(&p);
	pgp_int(&p, id);
	if ((r = pg_exec(s, PQ_RUN_LAST, &p, cause)) == NULL)
		return -1;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return 0;
	}
	if ((v = pg_col(r, 0, 2)) != NULL &&
	    datestamp_parse(v, ended, NULL) == -1)
		*ended = 0;
	*status = xstrdup((v = pg_col(r, 0, 3)) != NULL ? v : "running");
	PQclear(r);
	return 1;
}

const struct store_ops store_pg_ops = {
	.name = "postgresql",
	.scheme = "postgresql://",
	.scheme2 = "postgres://",
	.fts_maker_new = pg_fts_maker_new,
	.fts_maker_free = pg_fts_maker_free,
	.fts_make = pg_fts_make,
	.open = store_pg_open,
	.close = store_pg_close,
	.path = pg_path,
	.schema_version = pg_schema_version,
	.source = pg_source,
	.source_url = pg_source_url,
	.source_by_url = pg_source_by_url,
	.source_identify = pg_source_identify,
	.run_begin = pg_run_begin,
	.run_end = pg_run_end,
	.source_last_run = pg_source_last_run,
	.begin = store_pg_begin,
	.commit = store_pg_commit,
	.rollback = store_pg_rollback,
	.put = store_pg_put,
	.put_prefetch = store_pg_put_prefetch,
	.reject = store_pg_reject,
	.list_get = store_pg_list_get,
	.list_checkpoint = store_pg_list_checkpoint,
	.list_complete = store_pg_list_complete,
	.sweep_mark = store_pg_sweep_mark,
	.sweep_finish = store_pg_sweep_finish,
	.sweep_last = store_pg_sweep_last,
	.sweep_touch = store_pg_sweep_touch,
	.export = store_pg_export,
	.changes = store_pg_changes,
	.search = store_pg_search,
	.status = store_pg_status,
	.source_status = store_pg_source_status,
	.writable = store_pg_writable,
	.last_seq = store_pg_last_seq,
	.outbox_get = store_pg_outbox_get,
	.outbox_set = store_pg_outbox_set,
	.export_select = store_pg_export_select,
	.source_known = store_pg_source_known,
	.source_rename = store_pg_source_rename,
	.source_move = store_pg_source_move,
	.source_reset = store_pg_source_reset,
	.source_drop = store_pg_source_drop,
	.lease_take = store_pg_lease_take,
	.lease_renew = store_pg_lease_renew,
	.lease_release = store_pg_lease_release,
	.lease_held = store_pg_lease_held,
	.leases = store_pg_leases,
	.lease_nodes = store_pg_lease_nodes,
	.outbox_set_fenced = store_pg_outbox_set_fenced,
	.watch_open = store_pg_watch_open,
	.watch_close = store_pg_watch_close,
};
