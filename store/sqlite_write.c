/*
 * The SQLite backend's page transaction (see backend.h): store_put() and
 * what it writes (records, content, templates, full-text, change rows),
 * list state, rejects and deletion sweeps.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "util.h"
#include "log.h"
#include "sqlite.h"

/*
 * A stored record's setSpecs and DC values, read by SQLite's JSON
 * functions for stored_hash(), and its XML rebuilt.
 */
struct rehash {
	struct buf   vals; /* NUL-terminated strings */
	size_t	    *off;  /* where each starts in vals */
	const char **ptr;
	size_t	     n;
	size_t	     cap;
	struct buf   xml;
};

/*
 * The page writer's connection (STORE_TRAIL) indexes the records
 * fts_pending lists once this many have gathered, and when a run ends;
 * any other indexes them at every commit.
 */
#define FTS_TRAIL_RECORDS 1500

/* Records */
static int is_stale(const char *, const char *);
static int stored_hash(
    struct store_sqlite *, int64_t, const char *, uint64_t *, char **);
static int rehash_strings(
    struct store_sqlite *, enum query, const char *, size_t);
static void rehash_free(struct rehash *);
static int  record_get(struct store_sqlite *, int64_t,
     const struct store_record *, uint64_t, int64_t *, int *, int *, int *,
     uint64_t *, int *, char **);
static int  record_add(struct store_sqlite *, int64_t,
     const struct store_record *, const struct store_prepared *, const char *,
     int64_t *, char **);
static int  content_put(struct store_sqlite *, int64_t,
     const struct store_record *, const struct store_prepared *, int, char **);
static int  buf_str_copy(struct buf *, const char *);
static int  change_add(struct store_sqlite *, int64_t, int64_t,
     const struct store_record *, enum store_change, const char *, char **);
static void transaction_end(struct store_sqlite *, int);

/* Content */
static int template_id(
    struct store_sqlite *, const struct store_prepared *, int64_t *, char **);
static void templates_settle(struct store_sqlite *, int);
static int  fts_count(struct store_sqlite *, char **);
static int  fts_owe(
     struct store_sqlite *, int64_t, const struct store_prepared *, char **);
static int fts_forget(struct store_sqlite *, int64_t,
    const struct store_prepared *, int *, char **);
static int fts_same(
    struct store_sqlite *, const struct store_prepared *, const int[4]);
static int fts_read(
    struct store_sqlite *, sqlite3_stmt *, int64_t, int, int[4], char **);
static int fts_old_text(struct store_sqlite *, const char *, size_t, int[4]);
static int fts_list_add(
    struct fts_list *, int64_t, const char *const[4], const long[4]);
static void fts_list_clear(struct fts_list *);
static int  fts_doc_cmp(const void *, const void *);
static int  fts_settle(struct store_sqlite *, int, char **);
static int  fts_write(struct store_sqlite *, enum query, int64_t,
     const char *const[4], const long[4], char **);
static int  fts_write_doc(struct store_sqlite *, enum query,
     const struct fts_list *, size_t, char **);
static int  fts_due(struct store_sqlite *, int64_t *, char **);
static int  fts_add_stored(struct store_sqlite *, int64_t, char **);

/* Sweeps */
static int sweep_stamp(
    struct store_sqlite *, int64_t, const char *, int, char **);

/* Transactions */

/*
 * What the store keeps about a transaction (templates added, the change
 * seq) is only good for that transaction unless it commits here.
 */
static void
transaction_end(struct store_sqlite *s, int committed)
{
	templates_settle(s, committed);
	s->seq_read = s->seq_new = 0;
	fts_list_clear(&s->gone);
	s->forgot = 0;
	if (!committed) {
		s->fts_owed = -1;
		fts_list_clear(&s->owed);
	}
}

int
store_sqlite_begin(void *be, char **cause)
{
	struct store_sqlite *s = be;

	/* One still open was not committed. */
	transaction_end(s, sqlite3_get_autocommit(s->db) != 0);
	return q_exec(s, Q_BEGIN, cause);
}

/* On failure the transaction is still open: the caller rolls it back. */
int
store_sqlite_commit(void *be, char **cause)
{
	struct store_sqlite *s = be;

	if (!sqlite3_get_autocommit(s->db) &&
	    fts_settle(s, !s->fts_trail, cause) == -1)
		return -1;
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
store_sqlite_rollback(void *be)
{
	struct store_sqlite *s = be;

	transaction_end(s, 0);
	if (sqlite3_get_autocommit(s->db))
		return;
	if (sqlite3_step(s->q[Q_ROLLBACK]) != SQLITE_DONE)
		log_err("event=store_rollback_error path=%s error=%s",
		    log_q(s->path), log_q(sqlite3_errmsg(s->db)));
	sqlite3_reset(s->q[Q_ROLLBACK]);
}

void
store_sqlite_write_free(struct store_sqlite *s)
{
	size_t i, j;

	rehash_free(s->rehash);
	s->rehash = NULL;
	for (i = 0; i < TEMPLATE_SETS; i++)
		for (j = 0; j < TEMPLATE_WAYS; j++)
			free(s->templates[i][j].body);
	for (i = 0; i < nitems(s->fts_text); i++)
		buf_free(&s->fts_text[i]);
	buf_free(&s->gone.text);
	free(s->gone.v);
	buf_free(&s->owed.text);
	free(s->owed.v);
	memset(&s->gone, 0, sizeof(s->gone));
	memset(&s->owed, 0, sizeof(s->owed));
	store_prep_free(s->prep);
	buf_free(&s->oldsets);
}

/* Records */

/*
 * An incoming copy older than the stored one (a lagging mirror, overlapping
 * windows) must not overwrite it.  Day granularity parses as midnight.  A
 * datestamp that does not parse is never stale: it is stored as sent.
 */
static int
is_stale(const char *stored, const char *incoming)
{
	time_t ts, ti;

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
content_put(struct store_sqlite *s, int64_t id, const struct store_record *r,
    const struct store_prepared *p, int fresh, char **cause)
{
	sqlite3_stmt *st;
	int64_t	      tid = 0;
	size_t	      i;
	int	      keep = 0;

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
		if (!fresh && fts_forget(s, id, p, &keep, cause) == -1)
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
		if (q_exec(s, fresh ? Q_CONTENT_ADD : Q_CONTENT_PUT, cause) ==
		    -1)
			return -1;
		if (keep) {
			/* Its terms stand: listed only past the trigger. */
			sqlite3_bind_int64(s->q[Q_FTS_UNOWE], 1, id);
			if (q_exec(s, Q_FTS_UNOWE, cause) == -1)
				return -1;
			if (s->fts_owed > 0)
				s->fts_owed--;
		} else if (fts_owe(s, id, p, cause) == -1)
			return -1;
	} else if (!fresh) {
		/* Listed in fts_pending, its content goes past the trigger. */
		if (fts_forget(s, id, NULL, &keep, cause) == -1)
			return -1;
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

/* Copy string v (NULL as "") into b. */
static int
buf_str_copy(struct buf *b, const char *v)
{
	buf_reset(b);
	return buf_addstr(b, v != NULL ? v : "");
}

/*
 * The id of the template in s->tmpl, found or added.  Remembered ones are
 * compared byte for byte: XXH64 is no defence against a repository that
 * makes two templates collide.
 */
static int
template_id(struct store_sqlite *s, const struct store_prepared *p, int64_t *id,
    char **cause)
{
	struct template *set, *t;
	sqlite3_stmt	*st;
	uint64_t	 h = p->tmpl_hash;
	size_t		 i;
	int		 rc;

	set = s->templates[h % TEMPLATE_SETS];
	for (i = 0; i < TEMPLATE_WAYS && p->tmpl_len <= TEMPLATE_KEEP; i++) {
		t = &set[i];
		if (t->body != NULL && t->hash == h && t->len == p->tmpl_len &&
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
		    memcmp(sqlite3_column_blob(st, 1), p->tmpl, p->tmpl_len) ==
			0) {
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
		sqlite3_bind_text64(
		    st, 2, p->tmpl, p->tmpl_len, SQLITE_STATIC, SQLITE_UTF8);
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
templates_settle(struct store_sqlite *s, int committed)
{
	struct template *t;
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

/*
 * Look record r up.  Known, set *id and what is stored: whether r is older
 * (*stale), was deleted, its hash, and whether r changes its content
 * (*rewrite: then s->oldsets has the sets it had, by which its set rows
 * go).
 */
static int
record_get(struct store_sqlite *s, int64_t source, const struct store_record *r,
    uint64_t hash, int64_t *id, int *known, int *stale, int *was_deleted,
    uint64_t *old_hash, int *rewrite, char **cause)
{
	sqlite3_stmt *st = s->q[Q_RECORD_GET];
	int	      rc;

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
	*rewrite =
	    !*stale && (hash != *old_hash || (r->deleted != 0) != *was_deleted);
	if (*rewrite && buf_str_copy(&s->oldsets, col_text(st, 4)) == -1) {
		sqlite3_reset(st);
		set_cause(cause,
		    "store: put: record %lld: sets longer than "
		    "%zu bytes",
		    (long long)*id, s->oldsets.max);
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
stored_hash(struct store_sqlite *s, int64_t id, const char *sets, uint64_t *h,
    char **cause)
{
	sqlite3_stmt	   *st = s->q[Q_RECORD_STORED];
	struct rehash	   *m = s->rehash;
	struct store_record r;
	size_t		    nsets, i;
	int		    rc, ok = 1;

	if (m == NULL) {
		m = s->rehash = xcalloc(1, sizeof(*m));
		buf_init(&m->vals, EXPORT_MAX_LINE);
		buf_init(&m->xml, EXPORT_MAX_LINE);
	}
	buf_reset(&m->vals);
	m->n = 0;
	if (rehash_strings(
		s, Q_JSON_STRINGS, sets, sets != NULL ? strlen(sets) : 0) == -1)
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
			ok =
			    rehash_strings(s, Q_JSON_DC_VALUES, col_text(st, 2),
				(size_t)sqlite3_column_bytes(st, 2)) == 0 &&
			    store_template_fill(&m->xml, col_text(st, 1),
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
		*h = store_record_hash(s->prep, &r);
	sqlite3_reset(st);
	return 0;
}

/*
 * The strings query q gives for JSON text j (n bytes), into s->rehash; -1
 * when j is not JSON or they are too long.
 */
static int
rehash_strings(struct store_sqlite *s, enum query q, const char *j, size_t n)
{
	struct rehash *m = s->rehash;
	sqlite3_stmt  *st = s->q[q];
	const char    *t;
	int	       rc;

	if (j == NULL)
		return 0;
	sqlite3_bind_text64(st, 1, j, n, SQLITE_STATIC, SQLITE_UTF8);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((t = col_text(st, 0)) == NULL)
			t = "";
		if (m->n == m->cap) {
			m->cap = m->cap == 0 ? 64 : 2 * m->cap;
			m->off = xreallocarray(m->off, m->cap, sizeof(*m->off));
			m->ptr = xreallocarray(m->ptr, m->cap, sizeof(*m->ptr));
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
record_add(struct store_sqlite *s, int64_t source, const struct store_record *r,
    const struct store_prepared *p, const char *now, int64_t *id, char **cause)
{
	sqlite3_stmt *st = s->q[Q_RECORD_ADD];

	*id = 0;
	sqlite3_bind_int64(st, 1, source);
	bind_text(st, 2, r->prefix);
	bind_text(st, 3, r->identifier);
	bind_text(st, 4, r->datestamp);
	sqlite3_bind_int(st, 5, r->deleted != 0);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)p->hash);
	sqlite3_bind_text64(
	    st, 7, p->sets_json, p->sets_json_len, SQLITE_STATIC, SQLITE_UTF8);
	bind_text(st, 8, now);
	if (q_exec(s, Q_RECORD_ADD, cause) == -1)
		return -1;
	if (sqlite3_changes(s->db) == 1)
		*id = sqlite3_last_insert_rowid(s->db);
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
store_sqlite_put(void *be, int64_t source, int64_t run,
    const struct store_record *r, enum store_change *changep, char **cause)
{
	struct store_sqlite	    *s = be;
	sqlite3_stmt		    *st;
	struct store_prepared	     mine;
	const struct store_prepared *p = r->prep;
	enum store_change	     change = STORE_UNCHANGED;
	const char		    *now;
	uint64_t		     hash, old_hash = 0;
	int64_t			     id = 0;
	int			     deleted, known = 0, was_deleted = 0;
	int			     stale = 0, rewrite = 0;

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
	if (s->last_new && record_add(s, source, r, p, now, &id, cause) == -1)
		return -1;
	if (id == 0 &&
	    record_get(s, source, r, hash, &id, &known, &stale, &was_deleted,
		&old_hash, &rewrite, cause) == -1)
		return -1;
	if (stale)
		return 0;
	if (id == 0 && record_add(s, source, r, p, now, &id, cause) == -1)
		return -1;
	if (id == 0) {
		set_cause(cause,
		    "store: insert record: %s appeared while "
		    "being put",
		    log_q(r->identifier));
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
 * The full-text index trails the content (see fts_pending in schema.c).
 * A content row written lists its record in fts_pending (and keeps its
 * text in s->owed while that is whole); a record whose terms are in the
 * index and whose content is about to be rewritten or deleted has them
 * read out first (s->gone), and listed.  The index is written only at the
 * commit, after every other statement of the transaction, in record order:
 * FTS5 flushes its pending terms into a segment of their own at every
 * statement that has a savepoint (the DELETE of a content row, which has
 * triggers) and whenever a rowid is lower than the last, so that terms
 * written with each record made segments of a record or a few.
 */

/*
 * Count the rows of fts_pending unless known; none, s->owed is whole.
 * Inside a transaction.
 */
static int
fts_count(struct store_sqlite *s, char **cause)
{
	sqlite3_stmt *st = s->q[Q_FTS_OWED_COUNT];

	if (s->fts_owed >= 0)
		return 0;
	if (sqlite3_step(st) != SQLITE_ROW)
		return q_fail(s, Q_FTS_OWED_COUNT, cause);
	s->fts_owed = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return 0;
}

/*
 * Record id's content is new or rewritten (p): the index owes its terms.
 * Its text is kept in s->owed, which may hold some records fts_pending
 * lists, never stale text: fts_pending and content say what is indexed.
 */
static int
fts_owe(struct store_sqlite *s, int64_t id, const struct store_prepared *p,
    char **cause)
{
	const char *t[4];
	long	    len[4];
	int	    c;

	if (fts_count(s, cause) == -1)
		return -1;
	sqlite3_bind_int64(s->q[Q_FTS_OWE], 1, id);
	if (q_exec(s, Q_FTS_OWE, cause) == -1)
		return -1;
	if (sqlite3_changes(s->db) == 1)
		s->fts_owed++;
	else if (s->forgot != id)
		/* Owed already, rewritten again: what s->owed has is stale. */
		fts_list_clear(&s->owed);
	for (c = 0; c < 4; c++) {
		t[c] = p->fts[c];
		len[c] = (long)p->fts_len[c];
	}
	/* Too long to keep, it is read back. */
	(void)fts_list_add(&s->owed, id, t, len);
	/*
	 * A batch has gathered: index it now, rather than keep more text or
	 * read it back (a transaction of pages of 10,000 records).
	 */
	if (s->fts_owed >= FTS_TRAIL_RECORDS ||
	    s->owed.text.len >= OWED_TEXT_MAX / 2)
		return fts_settle(s, 1, cause);
	return 0;
}

/*
 * Record id's content row is about to change (to p) or go (p NULL):
 * unless fts_pending lists it (its terms are not in the index), read its
 * terms' text for the commit to take out, and list it, so that the
 * triggers leave it alone.  When p's full-text columns are the text read
 * (a record moved to other sets, or changed in fields the index does not
 * hold), its terms stand: *keep is set and the caller takes it off the
 * list once the content row is written.
 */
static int
fts_forget(struct store_sqlite *s, int64_t id, const struct store_prepared *p,
    int *keep, char **cause)
{
	sqlite3_stmt *owed = s->q[Q_FTS_OWED], *dc = s->q[Q_CONTENT_DC];
	const char   *t[4];
	long	      len[4];
	int	      c, rc, seen[4];

	if (fts_count(s, cause) == -1)
		return -1;
	sqlite3_bind_int64(owed, 1, id);
	rc = sqlite3_step(owed);
	sqlite3_reset(owed);
	if (rc == SQLITE_ROW) {
		/* Its text in s->owed goes stale. */
		fts_list_clear(&s->owed);
		return 0;
	}
	if (rc != SQLITE_DONE)
		return q_fail(s, Q_FTS_OWED, cause);
	sqlite3_bind_int64(dc, 1, id);
	if ((rc = sqlite3_step(dc)) == SQLITE_DONE) {
		sqlite3_reset(dc);
		return 0;
	}
	if (rc != SQLITE_ROW)
		return q_fail(s, Q_CONTENT_DC, cause);
	rc = fts_read(s, dc, id, 0, seen, cause);
	sqlite3_reset(dc);
	if (rc == -1)
		return -1;
	if (p != NULL && fts_same(s, p, seen)) {
		sqlite3_bind_int64(s->q[Q_FTS_OWE], 1, id);
		if (q_exec(s, Q_FTS_OWE, cause) == -1)
			return -1;
		if (s->fts_owed >= 0)
			s->fts_owed++;
		*keep = 1;
		return 0;
	}
	for (c = 0; c < 4; c++) {
		t[c] = s->fts_text[c].data;
		len[c] = seen[c] > 0 ? (long)s->fts_text[c].len : -1;
	}
	if (fts_list_add(&s->gone, id, t, len) == -1) {
		set_cause(cause,
		    "store: search index: record %lld: text too "
		    "long",
		    (long long)id);
		return -1;
	}
	sqlite3_bind_int64(s->q[Q_FTS_OWE], 1, id);
	if (q_exec(s, Q_FTS_OWE, cause) == -1)
		return -1;
	if (s->fts_owed >= 0)
		s->fts_owed++;
	s->forgot = id;
	return 0;
}

/*
 * Whether p's full-text columns are those fts_read() left in s->fts_text
 * (seen[c] values each): the same bytes make the same terms.
 */
static int
fts_same(
    struct store_sqlite *s, const struct store_prepared *p, const int seen[4])
{
	size_t len;
	int    c;

	for (c = 0; c < 4; c++) {
		len = seen[c] > 0 ? s->fts_text[c].len : 0;
		if (len != p->fts_len[c] ||
		    (len > 0 &&
			memcmp(s->fts_text[c].data, p->fts[c], len) != 0))
			return 0;
	}
	return 1;
}

/*
 * Record id's full-text columns into s->fts_text[] (seen[c]: how many
 * values, 0 for none), from its content.dc, column col of st: in C when it
 * is as dc_json() wrote it (fts_old_text(): through the view
 * record_fts_doc, SQLite's JSON functions took four times as long as the
 * rest of an update), else through the view.
 */
static int
fts_read(struct store_sqlite *s, sqlite3_stmt *st, int64_t id, int col,
    int seen[4], char **cause)
{
	sqlite3_stmt *old = s->q[Q_FTS_OLD];
	int	      c, ok = 1;

	if (fts_old_text(s, (const char *)sqlite3_column_text(st, col),
		(size_t)sqlite3_column_bytes(st, col), seen) == 0)
		return 0;
	sqlite3_bind_int64(old, 1, id);
	if (sqlite3_step(old) != SQLITE_ROW)
		return q_fail(s, Q_FTS_OLD, cause);
	for (c = 0; c < 4; c++) {
		buf_reset(&s->fts_text[c]);
		seen[c] = sqlite3_column_type(old, c) != SQLITE_NULL;
		if (seen[c] &&
		    buf_add(&s->fts_text[c], sqlite3_column_text(old, c),
			(size_t)sqlite3_column_bytes(old, c)) == -1)
			ok = 0;
	}
	sqlite3_reset(old);
	if (!ok) {
		set_cause(cause,
		    "store: search index: record %lld: text too "
		    "long",
		    (long long)id);
		return -1;
	}
	return 0;
}

/* Add a record's columns t (len[c] bytes, -1 for NULL) to l. */
static int
fts_list_add(
    struct fts_list *l, int64_t id, const char *const t[4], const long len[4])
{
	struct fts_doc *d;
	size_t		mark = l->text.len;
	int		c;

	if (l->n == l->cap) {
		l->cap = l->cap == 0 ? 64 : 2 * l->cap;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	d = &l->v[l->n];
	d->id = id;
	for (c = 0; c < 4; c++) {
		d->off[c] = l->text.len;
		d->len[c] = len[c];
		if (len[c] > 0 &&
		    buf_add(&l->text, t[c], (size_t)len[c]) == -1) {
			l->text.len = mark;
			return -1;
		}
	}
	l->n++;
	return 0;
}

static void
fts_list_clear(struct fts_list *l)
{
	l->n = 0;
	buf_reset(&l->text);
}

static int
fts_doc_cmp(const void *a, const void *b)
{
	const struct fts_doc *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* Put (Q_FTS_ADD) or take out (Q_FTS_DEL) record id's terms, of t. */
static int
fts_write(struct store_sqlite *s, enum query q, int64_t id,
    const char *const t[4], const long len[4], char **cause)
{
	sqlite3_stmt *st = s->q[q];
	int	      c;

	sqlite3_bind_int64(st, 1, id);
	for (c = 0; c < 4; c++) {
		if (len[c] < 0)
			sqlite3_bind_null(st, c + 2);
		else
			sqlite3_bind_text(
			    st, c + 2, t[c], (int)len[c], SQLITE_STATIC);
	}
	return q_exec(s, q, cause);
}

static int
fts_write_doc(struct store_sqlite *s, enum query q, const struct fts_list *l,
    size_t i, char **cause)
{
	const struct fts_doc *d = &l->v[i];
	const char	     *t[4];
	int		      c;

	for (c = 0; c < 4; c++)
		t[c] = d->len[c] > 0 ? l->text.data + d->off[c] : "";
	return fts_write(s, q, d->id, t, d->len, cause);
}

/*
 * The next record fts_pending lists that has content (Q_FTS_DUE, in record
 * order): 1, 0 at the end, or -1.
 */
static int
fts_due(struct store_sqlite *s, int64_t *id, char **cause)
{
	sqlite3_stmt *due = s->q[Q_FTS_DUE];
	int	      rc;

	if ((rc = sqlite3_step(due)) == SQLITE_DONE) {
		sqlite3_reset(due);
		return 0;
	}
	if (rc != SQLITE_ROW)
		return q_fail(s, Q_FTS_DUE, cause);
	*id = sqlite3_column_int64(due, 0);
	return 1;
}

/* Index record id from its content row, read back. */
static int
fts_add_stored(struct store_sqlite *s, int64_t id, char **cause)
{
	sqlite3_stmt *dc = s->q[Q_CONTENT_DC];
	const char   *t[4];
	long	      len[4];
	int	      c, rc, seen[4];

	sqlite3_bind_int64(dc, 1, id);
	if ((rc = sqlite3_step(dc)) == SQLITE_DONE) {
		sqlite3_reset(dc);
		return 0;
	}
	if (rc != SQLITE_ROW)
		return q_fail(s, Q_CONTENT_DC, cause);
	rc = fts_read(s, dc, id, 0, seen, cause);
	sqlite3_reset(dc);
	if (rc == -1)
		return -1;
	for (c = 0; c < 4; c++) {
		t[c] = s->fts_text[c].data;
		len[c] = seen[c] > 0 ? (long)s->fts_text[c].len : -1;
	}
	return fts_write(s, Q_FTS_ADD, id, t, len, cause);
}

/*
 * Before a commit: take out the terms fts_forget() read and, if all (or,
 * trailing, once FTS_TRAIL_RECORDS have gathered), index the records
 * fts_pending lists, in one pass in record order (a record's old terms
 * before its new ones), and empty it.
 */
static int
fts_settle(struct store_sqlite *s, int all, char **cause)
{
	int64_t id = 0;
	size_t	g = 0, o = 0;
	int	more = 0, index, rc;

	if (fts_count(s, cause) == -1)
		return -1;
	index = s->fts_owed > 0 && (all || s->fts_owed >= FTS_TRAIL_RECORDS);
	if (s->gone.n > 1)
		qsort(s->gone.v, s->gone.n, sizeof(*s->gone.v), fts_doc_cmp);
	if (index && s->owed.n > 1)
		qsort(s->owed.v, s->owed.n, sizeof(*s->owed.v), fts_doc_cmp);
	if (index && (more = fts_due(s, &id, cause)) == -1)
		return -1;
	for (;;) {
		if (g < s->gone.n && (!more || s->gone.v[g].id <= id)) {
			if (fts_write_doc(s, Q_FTS_DEL, &s->gone, g++, cause) ==
			    -1)
				goto fail;
			continue;
		}
		if (!more)
			break;
		/* Its text as kept, else as stored. */
		while (o < s->owed.n && s->owed.v[o].id < id)
			o++;
		if (o < s->owed.n && s->owed.v[o].id == id)
			rc = fts_write_doc(s, Q_FTS_ADD, &s->owed, o++, cause);
		else
			rc = fts_add_stored(s, id, cause);
		if (rc == -1 || (more = fts_due(s, &id, cause)) == -1)
			goto fail;
	}
	fts_list_clear(&s->gone);
	if (!index)
		return 0;
	if (q_exec(s, Q_FTS_PAID, cause) == -1)
		return -1;
	s->fts_owed = 0;
	fts_list_clear(&s->owed);
	return 0;
fail:
	sqlite3_reset(s->q[Q_FTS_DUE]);
	return -1;
}

int
store_sqlite_fts_catch_up(struct store_sqlite *s, char **cause)
{
	if (!sqlite3_get_autocommit(s->db))
		return 0;
	/* Unknown (a connection just opened): counted before a BEGIN. */
	if (fts_count(s, cause) == -1)
		return -1;
	if (s->fts_owed == 0)
		return 0;
	if (q_exec(s, Q_BEGIN, cause) == -1)
		return -1;
	if (fts_settle(s, 1, cause) == -1 || q_exec(s, Q_COMMIT, cause) == -1) {
		store_sqlite_rollback(s);
		return -1;
	}
	transaction_end(s, 1);
	return 0;
}

/*
 * The titles, creators, subjects and descriptions of content.dc j (n
 * bytes) into s->fts_text[], one value a line, as record_fts_doc gives
 * them, and how many of each into seen[]: -1 unless j is exactly what
 * dc_json() writes (no blanks; escapes \" \\ \n \r \t and \u00XX below
 * 0x20 only; a field name, in place of a code, unescaped).
 */
static int
fts_old_text(struct store_sqlite *s, const char *j, size_t n, int seen[4])
{
	const char *p = j, *end;
	struct buf *b;
	int	    c;

	for (c = 0; c < 4; c++) {
		buf_reset(&s->fts_text[c]);
		seen[c] = 0;
	}
	if (j == NULL || n < 2 || *p++ != '[')
		return -1;
	end = j + n;
	if (*p == ']')
		return p + 1 == end ? 0 : -1;
	for (;;) {
		if (end - p < 4 || *p++ != '[')
			return -1;
		if (*p == '"') {
			/* A field filed by its name: not indexed. */
			while (++p < end && *p != '"' && *p != '\\')
				;
			if (p == end || *p++ != '"')
				return -1;
			c = -1;
		} else {
			if (*p < '0' || *p > '9')
				return -1;
			c = *p++ - '0';
			if (*p >= '0' && *p <= '9') {
				if (c == 0)
					return -1;
				c = c * 10 + *p++ - '0';
			}
		}
		if (p == end || *p++ != ',' || p == end || *p++ != '"')
			return -1;
		b = NULL;
		if (c >= 0 && c <= 3) {
			b = &s->fts_text[c];
			if (seen[c]++ > 0 && buf_addch(b, '\n') == -1)
				return -1;
		}
		/* The value, unescaped. */
		if (store_dc_string(&p, end, b) == -1)
			return -1;
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
 * Append a change row.  Its seq is one more than the last given out,
 * which the first change of a transaction reads (see change_seq in
 * schema.c); seq is kept only once the row is in, so that a failed insert
 * leaves no gap.
 */
static int
change_add(struct store_sqlite *s, int64_t source, int64_t run,
    const struct store_record *r, enum store_change change, const char *now,
    char **cause)
{
	sqlite3_stmt *st;
	int	      rc;

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
store_sqlite_list_get(void *be, int64_t source, const char *prefix,
    const char *set, struct store_list_state *ls, char **cause)
{
	struct store_sqlite *s = be;
	sqlite3_stmt	    *st = s->q[Q_LIST_GET];
	const char	    *v;
	int		     rc;

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

int
store_sqlite_list_checkpoint(void *be, int64_t source, const char *prefix,
    const char *set, const struct store_list_state *ls, char **cause)
{
	struct store_sqlite *s = be;
	sqlite3_stmt	    *st = s->q[Q_LIST_CHECKPOINT];

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
store_sqlite_list_complete(void *be, int64_t source, const char *prefix,
    const char *set, const char *watermark, char **cause)
{
	struct store_sqlite *s = be;
	sqlite3_stmt	    *st = s->q[Q_LIST_COMPLETE];

	if (need_transaction(s, "complete list", cause) == -1)
		return -1;
	sqlite3_bind_int64(st, 1, source);
	bind_text(st, 2, prefix);
	bind_text(st, 3, set != NULL ? set : "");
	bind_text(st, 4, watermark);
	bind_text(st, 5, store_now(s));
	return q_exec(s, Q_LIST_COMPLETE, cause);
}

/* Rejects */

int
store_sqlite_reject(void *be, int64_t source, int64_t run, const char *prefix,
    const char *identifier, const char *datestamp, const char *cause_text,
    const char *raw, size_t raw_len, int truncated, char **cause)
{
	struct store_sqlite *s = be;
	sqlite3_stmt	    *st = s->q[Q_REJECT_ADD];

	if (need_transaction(s, "reject", cause) == -1)
		return -1;
	sqlite3_bind_int64(st, 1, source);
	bind_text(st, 2, prefix);
	bind_text(st, 3, identifier);
	bind_text(st, 4, datestamp);
	bind_text(st, 5, cause_text);
	if (raw != NULL)
		sqlite3_bind_text64(
		    st, 6, raw, raw_len, SQLITE_STATIC, SQLITE_UTF8);
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
store_sqlite_sweep_mark(void *be, int64_t source, const char *prefix,
    const char *identifier, int64_t run, char **cause)
{
	struct store_sqlite *s = be;
	sqlite3_stmt	    *st = s->q[Q_SWEEP_MARK];

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
sweep_stamp(struct store_sqlite *s, int64_t source, const char *prefix,
    int always, char **cause)
{
	sqlite3_stmt *st = s->q[Q_SWEEP_STAMP];

	sqlite3_bind_int64(st, 1, source);
	bind_text(st, 2, prefix);
	bind_text(st, 3, store_now(s));
	sqlite3_bind_int(st, 4, always);
	return q_exec(s, Q_SWEEP_STAMP, cause);
}

int
store_sqlite_sweep_finish(void *be, int64_t source, const char *prefix,
    int64_t run, const char *datestamp, long long *vanished, char **cause)
{
	static const char *const reason =
	    "vanished: no longer listed by ListIdentifiers";
	struct store_sqlite *s = be;
	sqlite3_stmt	    *st;
	struct store_record  r;
	enum store_change    kind;
	char		   **ids = NULL;
	size_t		     n = 0, i;
	long long	     present = 0;
	int		     rc, ret = -1;

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
		set_cause(cause,
		    "store: sweep: %zu of %lld records not listed; "
		    "not deleting on a partial list",
		    n, present);
		goto out;
	}
	for (i = 0; i < n; i++) {
		memset(&r, 0, sizeof(r));
		r.prefix = prefix;
		r.identifier = ids[i];
		r.datestamp = datestamp != NULL ? datestamp : store_now(s);
		r.deleted = 1;
		r.reason = reason;
		if (store_sqlite_put(s, source, run, &r, &kind, cause) == -1)
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
store_sqlite_sweep_last(
    void *be, int64_t source, const char *prefix, char **swept_at, char **cause)
{
	struct store_sqlite *s = be;
	sqlite3_stmt	    *st = s->q[Q_SWEEP_LAST];
	int		     rc;

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
store_sqlite_sweep_touch(
    void *be, int64_t source, const char *prefix, char **cause)
{
	struct store_sqlite *s = be;

	return sweep_stamp(s, source, prefix, 0, cause);
}
