/*
 * The database schema, as a list of migrations indexed by PRAGMA
 * user_version.  store_open() runs every step above the file's version, each
 * in its own BEGIN IMMEDIATE transaction together with the new user_version,
 * and refuses a file whose version is newer than the list.  Never edit a
 * step that has shipped: append a new one.
 *
 * Schema (version 1).  All tables are STRICT; times are UTC
 * "YYYY-MM-DDThh:mm:ssZ"; datestamps are kept as the repository sent them.
 *
 * source		one OAI-PMH endpoint, by its configured name
 *	id, name UNIQUE, url, granularity, earliest_datestamp,
 *	deleted_record, repository_name, identified_at (what Identify said and
 *	when), created
 *
 * run			one harvest of one source
 *	id, source_id, started, ended, status ('running', 'ok', 'failed'),
 *	pages, records, new, updated, deleted, unchanged, bytes, error
 *
 * record		one (source, metadataPrefix, OAI identifier)
 *	id, source_id, prefix, identifier, datestamp, deleted (0/1),
 *	hash (64-bit FNV-1a over the deleted flag, the sorted setSpecs and the
 *	metadata bytes: tells a real update from a datestamp bump),
 *	first_seen, last_seen (last harvest that returned it),
 *	UNIQUE (source_id, prefix, identifier)
 *
 * metadata		the <metadata> child of a present record, verbatim
 *	record_id PRIMARY KEY, xml
 *	Kept out of the record row so that a datestamp bump or last_seen
 *	rewrites a small row and never copies the XML.  No row for deleted
 *	records or for headers harvested without metadata.
 *
 * record_set		the record's setSpecs in header order
 *	record_id, position, setspec; PRIMARY KEY (record_id, position),
 *	WITHOUT ROWID; index record_set_spec (setspec): "records in set X"
 *
 * dc			Dublin Core values of present records
 *	record_id, position (document order), element (DCMES local name:
 *	'title', 'creator', ...), value, lang (xml:lang or NULL);
 *	PRIMARY KEY (record_id, position), WITHOUT ROWID: a row costs two
 *	b-tree inserts, not three, and this table takes most of the writes;
 *	index dc_element_value (element, value): "records whose dc:E = V"
 *
 * change		the change log, append-only; consumers read seq > N
 *	seq INTEGER PRIMARY KEY AUTOINCREMENT (strictly increasing, never
 *	reused), source_id, identifier, prefix,
 *	kind ('new', 'updated', 'deleted'), datestamp (the record's), at (when
 *	it was stored), run_id
 *
 * list_state		where each list (source, prefix, set) stands
 *	source_id, prefix, setspec ('' = the whole repository),
 *	watermark (high-water datestamp of the last completed list: the next
 *	incremental harvest's from), token, progress (high-water datestamp of
 *	the list in progress), cursor, complete_list_size, pages, updated_at;
 *	PRIMARY KEY (source_id, prefix, setspec)
 *
 * record, metadata, record_set, dc, run and list_state rows go with their
 * parent (ON DELETE CASCADE).  change rows do not: deleting a source that
 * has a change history fails, because consumers may still hold its seqs.
 *
 * Example queries:
 *	records in set X:
 *	  SELECT r.* FROM record_set s JOIN record r ON r.id = s.record_id
 *	  WHERE s.setspec = 'X';
 *	records whose dc:subject is V:
 *	  SELECT r.* FROM dc JOIN record r ON r.id = dc.record_id
 *	  WHERE dc.element = 'subject' AND dc.value = 'V';
 *	a record with its XML:
 *	  SELECT r.*, m.xml FROM record r LEFT JOIN metadata m
 *	  ON m.record_id = r.id WHERE r.identifier = 'oai:...';
 */
#include <stddef.h>

#include "util.h"
#include "schema.h"

const char *const store_migrations[] = {
	/* 0 -> 1: the first schema. */
	"CREATE TABLE source ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  url TEXT,"
	"  granularity TEXT,"
	"  earliest_datestamp TEXT,"
	"  deleted_record TEXT,"
	"  repository_name TEXT,"
	"  identified_at TEXT,"
	"  created TEXT NOT NULL"
	") STRICT;"

	"CREATE TABLE run ("
	"  id INTEGER PRIMARY KEY,"
	"  source_id INTEGER NOT NULL"
	"    REFERENCES source(id) ON DELETE CASCADE,"
	"  started TEXT NOT NULL,"
	"  ended TEXT,"
	"  status TEXT NOT NULL"
	"    CHECK (status IN ('running', 'ok', 'failed')),"
	"  pages INTEGER NOT NULL DEFAULT 0,"
	"  records INTEGER NOT NULL DEFAULT 0,"
	"  new INTEGER NOT NULL DEFAULT 0,"
	"  updated INTEGER NOT NULL DEFAULT 0,"
	"  deleted INTEGER NOT NULL DEFAULT 0,"
	"  unchanged INTEGER NOT NULL DEFAULT 0,"
	"  bytes INTEGER NOT NULL DEFAULT 0,"
	"  error TEXT"
	") STRICT;"
	"CREATE INDEX run_source ON run(source_id, id);"

	"CREATE TABLE record ("
	"  id INTEGER PRIMARY KEY,"
	"  source_id INTEGER NOT NULL"
	"    REFERENCES source(id) ON DELETE CASCADE,"
	"  prefix TEXT NOT NULL,"
	"  identifier TEXT NOT NULL,"
	"  datestamp TEXT NOT NULL,"
	"  deleted INTEGER NOT NULL CHECK (deleted IN (0, 1)),"
	"  hash INTEGER NOT NULL,"
	"  first_seen TEXT NOT NULL,"
	"  last_seen TEXT NOT NULL,"
	"  UNIQUE (source_id, prefix, identifier)"
	") STRICT;"

	"CREATE TABLE metadata ("
	"  record_id INTEGER PRIMARY KEY"
	"    REFERENCES record(id) ON DELETE CASCADE,"
	"  xml TEXT NOT NULL"
	") STRICT;"

	"CREATE TABLE record_set ("
	"  record_id INTEGER NOT NULL"
	"    REFERENCES record(id) ON DELETE CASCADE,"
	"  position INTEGER NOT NULL,"
	"  setspec TEXT NOT NULL,"
	"  PRIMARY KEY (record_id, position)"
	") STRICT, WITHOUT ROWID;"
	"CREATE INDEX record_set_spec ON record_set(setspec);"

	"CREATE TABLE dc ("
	"  record_id INTEGER NOT NULL"
	"    REFERENCES record(id) ON DELETE CASCADE,"
	"  position INTEGER NOT NULL,"
	"  element TEXT NOT NULL,"
	"  value TEXT NOT NULL,"
	"  lang TEXT,"
	"  PRIMARY KEY (record_id, position)"
	") STRICT, WITHOUT ROWID;"
	"CREATE INDEX dc_element_value ON dc(element, value);"

	"CREATE TABLE change ("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  source_id INTEGER NOT NULL REFERENCES source(id),"
	"  identifier TEXT NOT NULL,"
	"  prefix TEXT NOT NULL,"
	"  kind TEXT NOT NULL"
	"    CHECK (kind IN ('new', 'updated', 'deleted')),"
	"  datestamp TEXT NOT NULL,"
	"  at TEXT NOT NULL,"
	"  run_id INTEGER REFERENCES run(id) ON DELETE SET NULL"
	") STRICT;"

	"CREATE TABLE list_state ("
	"  source_id INTEGER NOT NULL"
	"    REFERENCES source(id) ON DELETE CASCADE,"
	"  prefix TEXT NOT NULL,"
	"  setspec TEXT NOT NULL DEFAULT '',"
	"  watermark TEXT,"
	"  token TEXT,"
	"  progress TEXT,"
	"  cursor INTEGER,"
	"  complete_list_size INTEGER,"
	"  pages INTEGER NOT NULL DEFAULT 0,"
	"  updated_at TEXT NOT NULL,"
	"  PRIMARY KEY (source_id, prefix, setspec)"
	") STRICT, WITHOUT ROWID;",
};

const size_t store_nmigrations = nitems(store_migrations);
