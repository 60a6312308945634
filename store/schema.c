/*
 * The database schema, as a list of migrations indexed by PRAGMA
 * user_version.  store_open() runs every step above the file's version, each
 * in its own BEGIN IMMEDIATE transaction together with the new user_version,
 * and refuses a file whose version is newer than the list.  Never edit a
 * step that has shipped: append a new one.
 *
 * Schema (version 1).  All tables are STRICT; times are UTC
 * "YYYY-MM-DDThh:mm:ssZ"; datestamps are kept as the repository sent them.
 * Pages are 16 KiB: a record's content row (2-3 KB for a typical oai_dc
 * record) packs five to seven to a page where 4 KiB pages held one, and
 * the WAL takes half the writes of 8 KiB pages (make bench, 100,000
 * records: 5-8% less CPU than 8 KiB, 32 KiB no better).  The page size
 * is the first step's setup, run on new files only: files made with
 * 8 KiB pages (before this was 16) keep them.
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
 *	hash (64 bits: XXH64 of the metadata's canonical form (store/c14n.c;
 *	version 7, before that its bytes, see c14n) seeded with FNV-1a of the
 *	deleted flag and the sorted setSpecs: tells a real update from a
 *	datestamp bump or another serialization),
 *	sets (the setSpecs in header order, a JSON array),
 *	c14n (version 7: 1 when hash is over the canonical form, 0 for a
 *	hash an earlier version made over the bytes),
 *	first_seen, last_seen (last harvest that returned it),
 *	UNIQUE (source_id, prefix, identifier)
 *
 * content		what a present record holds: its DC values and XML
 *	record_id PRIMARY KEY,
 *	dc: JSON array of [code, value] or [code, value, xml:lang], one per
 *	field value in document order, code from dc_element for the 15 DC
 *	names, else (version 8) the field's name as a JSON string
 *	(["abstract", value]; see harvest/format.h),
 *	template_id or xml: the <metadata> child (see below); both NULL for
 *	a record harvested without metadata.
 *	Kept out of the record row so that a datestamp bump or last_seen
 *	rewrites a small row and never copies the content.  One row for all
 *	of a record's DC values, not one per value: a row costs about a
 *	microsecond to write and an oai_dc record has some 16 values.  No row
 *	for deleted records.
 *
 *	The XML is not stored twice when it can be made from the DC values:
 *	cut each value, escaped as the harvester escapes text, out of the
 *	element that holds it, and what remains is a template (namespaces,
 *	tags, xml:lang attributes, line breaks) that most records of a
 *	repository share.  template_id names it in xml_template, and the
 *	record's XML is that template with each STORE_SLOT byte replaced by
 *	the next value, escaped.  When that does not work (other formats, a
 *	value split by a comment, ...), xml holds the XML verbatim.
 *
 * xml_template		templates, each kept once
 *	id, hash (XXH64 of body), body; index on hash.
 *	Never deleted: any later record may use one.
 *
 * dc_element		the 15 DCMES elements
 *	code (0 title, 1 creator, ... 14 rights: DCMES order), name UNIQUE
 *
 * metadata (view)	record_id, xml: the <metadata> child of each record
 *	that has one, templates filled in (in SQL, so that the file can be
 *	read without oaiharvest)
 *
 * dc (view)		record_id, position (document order), element
 *	(DCMES local name, or (version 8) the name of any other field),
 *	value, lang (xml:lang or NULL): one row per field value of a
 *	present record, from content.dc.  Values are not
 *	indexed: an index ordered by value takes its inserts at random
 *	places, and once it outgrows the page cache every value costs a
 *	read and a write (the old dc_element_value index held a 100,000
 *	record harvest to 2,000 records/s).  "Records whose dc:E is V"
 *	reads content.dc of every record.
 *
 * record_set		"records in set X": one row per setSpec of a record
 *	setspec, record_id, position (in record.sets);
 *	PRIMARY KEY (setspec, record_id, position), WITHOUT ROWID.
 *	Keyed by set alone: a second index, by record, would cost every set
 *	row another b-tree insert; a record's sets are in record.sets.
 *
 * change		the change log, append-only; consumers read seq > N
 *	seq INTEGER PRIMARY KEY (strictly increasing, never reused),
 *	source_id, identifier, prefix, kind ('new', 'updated', 'deleted'),
 *	datestamp (the record's), at (when it was stored), run_id
 *
 * change_seq		one row: last, the highest seq ever given out
 *	sqlite_write.c gives seqs from max(last, max(change.seq)) + 1 and writes
 *	last back when the page transaction commits, so that deleting the
 *	newest change rows never brings their seqs back.  (AUTOINCREMENT
 *	does the same but reads and writes sqlite_sequence on every insert.)
 *
 * record_fts		(version 5) the full-text index: FTS5 over title,
 *	creator, subject, description (rowid = record_id), external content:
 *	its text is read back through the view record_fts_doc (each
 *	column's values from content.dc, one a line), never stored twice.
 *	sqlite_write.c indexes each content row it writes; triggers on content
 *	take the old terms out.  (Version 6) it merges 32 segments at a
 *	time.  store/tokenize.c stands in for its tokenizer, unicode61,
 *	on the store's connection (the same tokens, faster).  (Version 10)
 *	it may trail the records by a batch: see fts_pending.
 *
 * fts_pending		(version 10) record_id PRIMARY KEY: the records whose
 *	terms record_fts does not hold yet, indexed at the latest when the
 *	run that wrote them ends.
 *
 * list_state		where each list (source, prefix, set) stands
 *	source_id, prefix, setspec ('' = the whole repository),
 *	watermark (high-water datestamp of the last completed list: the next
 *	incremental harvest's from), token, progress (high-water datestamp of
 *	the list in progress), cursor, complete_list_size, pages, updated_at;
 *	PRIMARY KEY (source_id, prefix, setspec)
 *
 * lease		(version 9) which daemon harvests a host
 *	host PRIMARY KEY (scheme://host:port, as harvest/polite.c keys
 *	hosts), holder (a daemon's node id; NULL: free), node (its name),
 *	gen (one more at each new holder: a page written under another is
 *	refused), expires_ms, next_ms (no request before: the last holder's
 *	last request's end plus its delay)
 *
 * node			(version 9) the daemons alive: id, name, started_ms,
 *	expires_ms (renewed with the leases)
 *
 * record, run and list_state rows go with their source (ON DELETE
 * CASCADE), content and record_set rows with their record (trigger
 * record_delete; see below why not by foreign key).  change rows do not:
 * deleting a source that has a change history fails, because consumers may
 * still hold its seqs.
 *
 * Example queries:
 *	records in set X:
 *	  SELECT r.* FROM record_set s JOIN record r ON r.id = s.record_id
 *	  WHERE s.setspec = 'X';
 *	records whose dc:subject is V (a scan, see dc above):
 *	  SELECT r.* FROM dc JOIN record r ON r.id = dc.record_id
 *	  WHERE dc.element = 'subject' AND dc.value = 'V';
 *	a record with its XML:
 *	  SELECT r.*, m.xml FROM record r LEFT JOIN metadata m
 *	  ON m.record_id = r.id WHERE r.identifier = 'oai:...';
 */
#include <stddef.h>

#include "util.h"
#include "schema.h"

const struct store_migration store_migrations[] = {
	/* 0 -> 1: the first schema. */
	{ "PRAGMA page_size = 16384",

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
	    "  sets TEXT NOT NULL DEFAULT '[]',"
	    "  first_seen TEXT NOT NULL,"
	    "  last_seen TEXT NOT NULL,"
	    "  UNIQUE (source_id, prefix, identifier)"
	    ") STRICT;"

	    "CREATE TABLE dc_element ("
	    "  code INTEGER PRIMARY KEY,"
	    "  name TEXT NOT NULL UNIQUE"
	    ") STRICT;"
	    "INSERT INTO dc_element (code, name) VALUES"
	    "  (0, 'title'), (1, 'creator'), (2, 'subject'), (3, "
	    "'description'),"
	    "  (4, 'publisher'), (5, 'contributor'), (6, 'date'), (7, 'type'),"
	    "  (8, 'format'), (9, 'identifier'), (10, 'source'),"
	    "  (11, 'language'), (12, 'relation'), (13, 'coverage'),"
	    "  (14, 'rights');"

	    "CREATE TABLE xml_template ("
	    "  id INTEGER PRIMARY KEY,"
	    "  hash INTEGER NOT NULL,"
	    "  body TEXT NOT NULL"
	    ") STRICT;"
	    "CREATE INDEX xml_template_hash ON xml_template(hash);"

	    "CREATE TABLE content ("
	    "  record_id INTEGER PRIMARY KEY,"
	    "  dc TEXT NOT NULL,"
	    "  template_id INTEGER,"
	    "  xml TEXT,"
	    "  CHECK (template_id IS NULL OR xml IS NULL)"
	    ") STRICT;"

	    /*
	 * A template's slots are filled one at a time, as store.c does:
	 * done is the XML so far, rest what is left of the template.
	 */
	    "CREATE VIEW metadata (record_id, xml) AS"
	    "  SELECT c.record_id, CASE WHEN c.template_id IS NULL THEN c.xml"
	    "  ELSE (WITH RECURSIVE x (i, done, rest) AS ("
	    "    SELECT 0, '', t.body FROM xml_template t"
	    "    WHERE t.id = c.template_id"
	    "    UNION ALL"
	    "    SELECT i + 1, done || substr(rest, 1, instr(rest, char(1)) - "
	    "1)"
	    "      || replace(replace(replace(replace("
	    "      c.dc ->> ('$[' || i || '][1]'), '&', '&amp;'), '<', '&lt;'),"
	    "      '>', '&gt;'), char(13), '&#13;'),"
	    "      substr(rest, instr(rest, char(1)) + 1)"
	    "    FROM x WHERE instr(rest, char(1)) > 0)"
	    "    SELECT done || rest FROM x WHERE instr(rest, char(1)) = 0)"
	    "  END"
	    "  FROM content c"
	    "  WHERE c.template_id IS NOT NULL OR c.xml IS NOT NULL;"

	    "CREATE VIEW dc (record_id, position, element, value, lang) AS"
	    "  SELECT c.record_id, j.key, e.name, j.value ->> 1, j.value ->> 2"
	    "  FROM content c, json_each(c.dc) j"
	    "  JOIN dc_element e ON e.code = j.value ->> 0;"

	    "CREATE TABLE record_set ("
	    "  setspec TEXT NOT NULL,"
	    "  record_id INTEGER NOT NULL,"
	    "  position INTEGER NOT NULL,"
	    "  PRIMARY KEY (setspec, record_id, position)"
	    ") STRICT, WITHOUT ROWID;"

	    /*
	 * content and record_set go with their record by trigger, not by
	 * foreign key: a key is checked on every insert (a cursor on the
	 * parent, some 15% of a store_put), and sqlite_write.c writes them
	 * after their record anyway.  record_set is found by record.sets.
	 */
	    "CREATE TRIGGER record_delete AFTER DELETE ON record BEGIN"
	    "  DELETE FROM content WHERE record_id = old.id;"
	    "  DELETE FROM record_set WHERE setspec IN"
	    "    (SELECT value FROM json_each(old.sets)) AND record_id = "
	    "old.id;"
	    "END;"

	    /*
	 * Not IN ('new', ...): SQLite 3.40 builds that list as a temporary
	 * b-tree on every insert.
	 */
	    "CREATE TABLE change ("
	    "  seq INTEGER PRIMARY KEY,"
	    "  source_id INTEGER NOT NULL REFERENCES source(id),"
	    "  identifier TEXT NOT NULL,"
	    "  prefix TEXT NOT NULL,"
	    "  kind TEXT NOT NULL"
	    "    CHECK (kind = 'new' OR kind = 'updated' OR kind = 'deleted'),"
	    "  datestamp TEXT NOT NULL,"
	    "  at TEXT NOT NULL,"
	    "  run_id INTEGER REFERENCES run(id) ON DELETE SET NULL"
	    ") STRICT;"
	    "CREATE TABLE change_seq ("
	    "  last INTEGER NOT NULL"
	    ") STRICT;"
	    "INSERT INTO change_seq (last) VALUES (0);"

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
	    ") STRICT, WITHOUT ROWID;" },

	/*
	 * 1 -> 2: where each exported feed stands (the outbox pattern), and
	 * the records set aside as malformed, with their raw XML.
	 */
	{ NULL,
	    "CREATE TABLE outbox ("
	    "  name TEXT PRIMARY KEY,"
	    "  seq INTEGER NOT NULL"
	    ") STRICT;"

	    "CREATE TABLE reject ("
	    "  id INTEGER PRIMARY KEY,"
	    "  source_id INTEGER NOT NULL"
	    "    REFERENCES source(id) ON DELETE CASCADE,"
	    "  prefix TEXT NOT NULL,"
	    "  identifier TEXT,"
	    "  datestamp TEXT,"
	    "  cause TEXT NOT NULL,"
	    "  raw TEXT,"
	    "  truncated INTEGER NOT NULL,"
	    "  run_id INTEGER,"
	    "  at TEXT NOT NULL"
	    ") STRICT;"
	    "CREATE INDEX reject_source ON reject (source_id, identifier);" },

	/*
	 * 2 -> 3: the full-text index over title, creator, subject and
	 * description (one row per present record, rowid = record.id), kept
	 * in step by store_put().  Diacritics are folded (a search for
	 * "Almaty" also finds "Almatý"); Cyrillic and Kazakh letters are
	 * tokenized as words like Latin ones.
	 */
	{ NULL,
	    "CREATE VIRTUAL TABLE record_fts USING fts5 ("
	    "  title, creator, subject, description,"
	    "  tokenize = 'unicode61 remove_diacritics 2'"
	    ");" },

	/*
	 * 3 -> 4: deletion sweeps.  record.swept is the run of the last
	 * sweep that listed the record, list_state.swept_at when the last
	 * sweep of a whole-repository list completed, change.reason why a
	 * deletion was inferred.
	 */
	{ NULL,
	    "ALTER TABLE record ADD COLUMN swept INTEGER;"
	    "ALTER TABLE list_state ADD COLUMN swept_at TEXT;"
	    "ALTER TABLE change ADD COLUMN reason TEXT;" },

	/*
	 * 4 -> 5: the full-text index keeps no copy of its text.  Version 3's
	 * record_fts held title, creator, subject and description a second
	 * time (record_fts_content: two thirds of the raw XML) and wrote that
	 * copy with every record.  Now it is an external-content table over
	 * the view record_fts_doc, which reads the same values out of
	 * content.dc, so snippet(), highlight() and 'rebuild' still work.
	 * sqlite_write.c inserts a row for every content row it writes; the
	 * triggers take a row's terms out before its content row changes or
	 * goes, with the values as they were (what an external-content
	 * table needs, SQLite 3.40 having no contentless_delete).
	 */
	{ NULL,
	    "DROP TABLE record_fts;"
	    "CREATE VIEW record_fts_doc (record_id, title, creator, subject,"
	    "  description) AS"
	    "  SELECT c.record_id,"
	    "  (WITH RECURSIVE x (i, v) AS (SELECT 0, NULL UNION ALL"
	    "    SELECT i + 1, CASE WHEN c.dc ->> ('$[' || i || '][0]') = 0"
	    "    THEN c.dc ->> ('$[' || i || '][1]') END"
	    "    FROM x WHERE i < json_array_length(c.dc))"
	    "    SELECT group_concat(v, char(10)) FROM x),"
	    "  (WITH RECURSIVE x (i, v) AS (SELECT 0, NULL UNION ALL"
	    "    SELECT i + 1, CASE WHEN c.dc ->> ('$[' || i || '][0]') = 1"
	    "    THEN c.dc ->> ('$[' || i || '][1]') END"
	    "    FROM x WHERE i < json_array_length(c.dc))"
	    "    SELECT group_concat(v, char(10)) FROM x),"
	    "  (WITH RECURSIVE x (i, v) AS (SELECT 0, NULL UNION ALL"
	    "    SELECT i + 1, CASE WHEN c.dc ->> ('$[' || i || '][0]') = 2"
	    "    THEN c.dc ->> ('$[' || i || '][1]') END"
	    "    FROM x WHERE i < json_array_length(c.dc))"
	    "    SELECT group_concat(v, char(10)) FROM x),"
	    "  (WITH RECURSIVE x (i, v) AS (SELECT 0, NULL UNION ALL"
	    "    SELECT i + 1, CASE WHEN c.dc ->> ('$[' || i || '][0]') = 3"
	    "    THEN c.dc ->> ('$[' || i || '][1]') END"
	    "    FROM x WHERE i < json_array_length(c.dc))"
	    "    SELECT group_concat(v, char(10)) FROM x)"
	    "  FROM content c;"
	    "CREATE VIRTUAL TABLE record_fts USING fts5 ("
	    "  title, creator, subject, description,"
	    "  content = 'record_fts_doc', content_rowid = 'record_id',"
	    "  tokenize = 'unicode61 remove_diacritics 2'"
	    ");"
	    "CREATE TRIGGER content_fts_delete BEFORE DELETE ON content BEGIN"
	    "  INSERT INTO record_fts (record_fts, rowid, title, creator,"
	    "    subject, description)"
	    "  SELECT 'delete', record_id, title, creator, subject, description"
	    "  FROM record_fts_doc WHERE record_id = old.record_id;"
	    "END;"
	    "CREATE TRIGGER content_fts_update BEFORE UPDATE OF dc ON content"
	    "  BEGIN"
	    "  INSERT INTO record_fts (record_fts, rowid, title, creator,"
	    "    subject, description)"
	    "  SELECT 'delete', record_id, title, creator, subject, description"
	    "  FROM record_fts_doc WHERE record_id = old.record_id;"
	    "END;"
	    /*
	 * Every page commit flushes its terms as a new segment; merging
	 * them four at a time (the default) cost as much again as the
	 * flush at 100 records a page.  Eight at a time: a third less
	 * commit work, a few more segments for a search to read.
	 */
	    "INSERT INTO record_fts (record_fts, rank) VALUES ('automerge', 8);"
	    "INSERT INTO record_fts (record_fts) VALUES ('rebuild');" },

	/*
	 * 5 -> 6: the full-text index merges 32 segments at a time, and a
	 * level is merged at once only when it reaches 128 (crisismerge
	 * must stay above automerge).  Merging was most of a page commit:
	 * a page of 100 records flushes a segment of 100 documents, and
	 * merging eight at a time rewrote every term about once per level,
	 * log8 of the pages harvested.  32 at a time: commit work 114k ->
	 * 66k instructions a record over 30,000 records (callgrind,
	 * bench_store), for a few more segments to a search, which its
	 * ranking of every hit outweighs.
	 */
	{ NULL,
	    "INSERT INTO record_fts (record_fts, rank) VALUES ('automerge', "
	    "32);"
	    "INSERT INTO record_fts (record_fts, rank) VALUES"
	    "  ('crisismerge', 128);" },

	/*
	 * 6 -> 7: record.hash is taken over the canonical form of the
	 * metadata (store/c14n.c), not its bytes, so that the same metadata
	 * written another way (declarations in another order, say) is not an
	 * update.  record.c14n says which: 1 for hashes made the new way,
	 * 0 for those made before.  store_put() meets a 0 with another hash
	 * by hashing the stored XML the new way (once: the record's row is
	 * then rewritten with c14n = 1), so that the first harvest after
	 * the upgrade finds unchanged what is unchanged.  Not all at once
	 * here: hashing every record again took 3 s of CPU and 9 s of
	 * writes per 100,000 records, which a daemon with millions would
	 * spend at start, past systemd's start timeout.
	 */
	{ NULL,
	    "ALTER TABLE record ADD COLUMN c14n INTEGER NOT NULL DEFAULT 0;" },

	/*
	 * 7 -> 8: content.dc holds fields of any metadata format: the 15 DC
	 * names keep their codes, any other name is written as a string in
	 * place of the code.  The dc view lists those too, by name (a
	 * string matches no dc_element code).  What was stored is unchanged;
	 * metadata and record_fts_doc read values by position and codes 0-3
	 * as before, so named fields are in no full-text column.
	 */
	{ NULL,
	    "DROP VIEW dc;"
	    "CREATE VIEW dc (record_id, position, element, value, lang) AS"
	    "  SELECT c.record_id, j.key, coalesce(e.name, j.value ->> 0),"
	    "  j.value ->> 1, j.value ->> 2"
	    "  FROM content c, json_each(c.dc) j"
	    "  LEFT JOIN dc_element e ON e.code = j.value ->> 0;" },

	/*
	 * 8 -> 9: leases, for several daemons on one database (see
	 * sqlite_lease.c).  lease: who harvests a host (scheme://host:port)
	 * until when; gen counts its holders, so that a page written under
	 * an older one is refused (fencing); next_ms: not before, so that a
	 * daemon that takes a host over keeps the last one's delay.  node:
	 * the daemons alive, each until its expires_ms.  Times in ms since
	 * the epoch.
	 */
	{ NULL,
	    "CREATE TABLE IF NOT EXISTS lease ("
	    "  host TEXT PRIMARY KEY, holder TEXT, node TEXT,"
	    "  gen INTEGER NOT NULL DEFAULT 0,"
	    "  expires_ms INTEGER NOT NULL DEFAULT 0,"
	    "  next_ms INTEGER NOT NULL DEFAULT 0"
	    ") STRICT;"
	    "CREATE INDEX IF NOT EXISTS lease_holder ON lease (holder);"
	    "CREATE TABLE IF NOT EXISTS node ("
	    "  id TEXT PRIMARY KEY, name TEXT NOT NULL,"
	    "  started_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL"
	    ") STRICT;" },
	/*
	 * 9 -> 10: the full-text index may trail the records.  fts_pending
	 * lists the records whose terms the index does not hold yet (their
	 * content is new or rewritten since it was last indexed); whoever
	 * commits a page transaction indexes them from content.dc, the page
	 * writer once a batch of them has gathered and at the end of each run
	 * (sqlite_write.c), so that each flush of the index's pending terms
	 * makes a segment of thousands of records, not of one page.  A
	 * record listed has no terms in the index, which the triggers heed:
	 * they take out only the terms of records not listed.  After a
	 * 'rebuild' by hand, DELETE FROM fts_pending.  (IF NOT EXISTS: the
	 * tests take files back to older versions by their user_version.)
	 */
	{ NULL,
	    "CREATE TABLE IF NOT EXISTS fts_pending ("
	    "  record_id INTEGER PRIMARY KEY"
	    ") STRICT;"
	    "DROP TRIGGER IF EXISTS content_fts_delete;"
	    "DROP TRIGGER IF EXISTS content_fts_update;"
	    "CREATE TRIGGER content_fts_delete BEFORE DELETE ON content"
	    "  WHEN NOT EXISTS (SELECT 1 FROM fts_pending"
	    "    WHERE record_id = old.record_id) BEGIN"
	    "  INSERT INTO record_fts (record_fts, rowid, title, creator,"
	    "    subject, description)"
	    "  SELECT 'delete', record_id, title, creator, subject, description"
	    "  FROM record_fts_doc WHERE record_id = old.record_id;"
	    "END;"
	    "CREATE TRIGGER content_fts_update BEFORE UPDATE OF dc ON content"
	    "  WHEN NOT EXISTS (SELECT 1 FROM fts_pending"
	    "    WHERE record_id = old.record_id) BEGIN"
	    "  INSERT INTO record_fts (record_fts, rowid, title, creator,"
	    "    subject, description)"
	    "  SELECT 'delete', record_id, title, creator, subject, description"
	    "  FROM record_fts_doc WHERE record_id = old.record_id;"
	    "END;" },
};

const size_t store_nmigrations = nitems(store_migrations);
