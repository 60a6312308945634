/*
 * Inside the SQLite backend (sqlite.c, sqlite_write.c, sqlite_query.c): its
 * state, its statements and the small helpers the three files share.
 * Nothing outside these files includes it.
 */
#ifndef OH_STORE_SQLITE_H
#define OH_STORE_SQLITE_H

#include <stdint.h>
#include <time.h>

#include <sqlite3.h>

#include "util.h"
#include "backend.h"

/*
 * Templates remembered, so that records rarely ask SQLite for theirs (a
 * lookup costs a tenth of a put): sets of TEMPLATE_WAYS by hash, the least
 * recently used of a set replaced.  Only those up to TEMPLATE_KEEP bytes,
 * so at most 2 MiB; a repository has some hundreds of about 1 KB.
 */
#define TEMPLATE_SETS 512
#define TEMPLATE_WAYS 2
#define TEMPLATE_KEEP 2048

/*
 * The text of the records the full-text index owes (see fts_pending) is
 * kept, so that indexing them reads no content row back: they are indexed
 * once it holds half this many bytes (some 1,300 records of oai_dc).
 */
#define OWED_TEXT_MAX (3 * 1024 * 1024)

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
	Q_CONTENT_DC,
	Q_FTS_OLD,
	Q_FTS_DEL,
	Q_FTS_ADD,
	Q_FTS_OWE,
	Q_FTS_OWED,
	Q_FTS_DUE,
	Q_FTS_PAID,
	Q_FTS_UNOWE,
	Q_FTS_OWED_COUNT,
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
struct sqlite_query {
	const char *what;
	const char *sql;
};
extern const struct sqlite_query store_sqlite_queries[Q_COUNT];

/*
 * Records' full-text columns (title, creator, subject, description: one
 * value a line, as record_fts_doc gives them), in text; a NULL one has
 * len -1.
 */
struct fts_list {
	struct fts_doc {
		int64_t id;
		size_t	off[4];
		long	len[4];
	} * v;
	size_t	   n;
	size_t	   cap;
	struct buf text;
};

/* A template SQLite holds, as id; tentative until its insert commits. */
struct template
{
	uint64_t hash;
	int64_t	 id;
	char	*body;
	size_t	 len;
	uint64_t used; /* s->template_clock when last used */
	int	 tentative;
};

struct store_sqlite {
	sqlite3	     *db;
	char	     *path;
	int	      version;
	sqlite3_stmt *q[Q_COUNT];
	/* What store_put() works out when it is not given it. */
	struct store_prep *prep;
	/* The record.sets JSON a rewritten record replaces. */
	struct buf oldsets;
	/* Templates remembered, by hash. */
	struct template templates[TEMPLATE_SETS][TEMPLATE_WAYS];
	uint64_t template_clock;
	/* Whether the last record put was new: then try to insert first. */
	int last_new;
	/*
	 * The last change seq given out in this page transaction; valid when
	 * seq_read, to be written back at commit when seq_new.
	 */
	int64_t seq;
	int	seq_read;
	int	seq_new;
	/* The current UTC time, formatted at most once a second. */
	time_t now_t;
	char   now[DATESTAMP_LEN];
	/* A record's old full-text columns, to take its terms out. */
	struct buf fts_text[4];
	/*
	 * The full-text index (see fts_pending in schema.c): whether it may
	 * trail by a batch (STORE_TRAIL), the rows of fts_pending (-1: to
	 * be counted; another connection may have indexed them since), the
	 * terms this transaction takes out at its commit, and the text of
	 * records owed as this connection wrote them (some or all of them,
	 * none stale: a record's content and fts_pending decide).
	 */
	int		fts_trail;
	long long	fts_owed;
	struct fts_list gone;
	struct fts_list owed;
	int64_t		forgot; /* the record fts_forget() just listed */
	/* Checkpoints on a thread of their own, or NULL. */
	struct store_ckpt *ckpt;
	/* What stored_hash() works with, made when first needed. */
	struct rehash *rehash;
	/* sqlite_lease.c's statements, prepared when first used. */
	sqlite3_stmt **lease_q;
};

/* sqlite.c */
void *store_sqlite_open(const char *, int, char **);
void  store_sqlite_close(void *);

/* sqlite_write.c */
int  store_sqlite_begin(void *, char **);
int  store_sqlite_commit(void *, char **);
void store_sqlite_rollback(void *);
int  store_sqlite_put(void *, int64_t, int64_t, const struct store_record *,
     enum store_change *, char **);
int  store_sqlite_reject(void *, int64_t, int64_t, const char *, const char *,
     const char *, const char *, const char *, size_t, int, char **);
int  store_sqlite_list_get(void *, int64_t, const char *, const char *,
     struct store_list_state *, char **);
int  store_sqlite_list_checkpoint(void *, int64_t, const char *, const char *,
     const struct store_list_state *, char **);
int  store_sqlite_list_complete(
     void *, int64_t, const char *, const char *, const char *, char **);
int store_sqlite_sweep_mark(
    void *, int64_t, const char *, const char *, int64_t, char **);
int store_sqlite_sweep_finish(
    void *, int64_t, const char *, int64_t, const char *, long long *, char **);
int store_sqlite_sweep_last(void *, int64_t, const char *, char **, char **);
int store_sqlite_sweep_touch(void *, int64_t, const char *, char **);
/* What the write path keeps, freed at close. */
void store_sqlite_write_free(struct store_sqlite *);
/* Index the records fts_pending lists, in a transaction of their own. */
int store_sqlite_fts_catch_up(struct store_sqlite *, char **);

/* sqlite_query.c */
int store_sqlite_export(void *, const char *, const char *,
    int (*)(void *, const struct store_export_row *), void *, char **);
int store_sqlite_changes(void *, int64_t, int64_t,
    int (*)(void *, const struct store_change_row *), void *, char **);
int store_sqlite_search(void *, const char *, const char *, long long,
    int (*)(void *, const struct store_search_row *), void *, char **);
int store_sqlite_status(void *, const struct store_status_cb *, char **);
int store_sqlite_source_status(
    void *, const char *, const struct store_status_cb *, char **);
int	store_sqlite_writable(void *, char **);
int64_t store_sqlite_last_seq(void *);
int	store_sqlite_outbox_get(void *, const char *, int64_t *, char **);
int	store_sqlite_outbox_set(void *, const char *, int64_t, char **);

/* sqlite_query.c, sqlite_admin.c: selections and sources by name */
int store_sqlite_export_select(void *, const struct store_export_filter *,
    int (*)(void *, const struct store_export_row *), void *, char **);
int store_sqlite_source_known(void *, const char *, const char *, char **);
int store_sqlite_source_rename(void *, const char *, const char *, char **);
int store_sqlite_source_move(void *, const char *, const char *, char **);
int store_sqlite_source_reset(void *, const char *, long long *, char **);
int store_sqlite_source_drop(
    void *, const char *, int, struct store_drop_stats *, char **);

/* sqlite_lease.c */
int store_sqlite_lease_take(void *, const char *, const char *, const char *,
    long long, struct store_lease_grant *, char **);
int store_sqlite_lease_renew(void *, const char *, const char *, long long,
    int (*)(void *, const char *, int64_t), void *, char **);
int store_sqlite_lease_release(
    void *, const char *, const char *, int64_t, char **);
int store_sqlite_lease_held(void *, const char *, int64_t, char **);
int store_sqlite_leases(
    void *, int (*)(void *, const struct store_lease *), void *, char **);
int store_sqlite_lease_nodes(void *, char **);
int store_sqlite_outbox_set_fenced(
    void *, const char *, int64_t, const char *, int64_t, char **);
void store_sqlite_lease_free(struct store_sqlite *);

/* Statements */

/* Say why statement q failed, and reset it so it holds no lock. */
static inline int
q_fail(struct store_sqlite *s, enum query q, char **cause)
{
	set_cause(cause, "store: %s: %s", store_sqlite_queries[q].what,
	    sqlite3_errmsg(s->db));
	sqlite3_reset(s->q[q]);
	return -1;
}

/* Step a statement that returns no rows (or ignores them), then reset. */
static inline int
q_exec(struct store_sqlite *s, enum query q, char **cause)
{
	int rc;

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
static inline void
bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (v == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
}

/* A count or position where -1 means unknown: stored as NULL. */
static inline void
bind_count(sqlite3_stmt *st, int i, long long v)
{
	if (v < 0)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_int64(st, i, v);
}

static inline const char *
col_text(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

static inline int
need_transaction(struct store_sqlite *s, const char *what, char **cause)
{
	if (sqlite3_get_autocommit(s->db)) {
		set_cause(cause, "store: %s: not inside a transaction", what);
		return -1;
	}
	return 0;
}

static inline const char *
store_now(struct store_sqlite *s)
{
	time_t t;

	t = time(NULL);
	if (t != s->now_t || s->now[0] == '\0') {
		datestamp_format(t, GRAN_SECONDS, s->now);
		s->now_t = t;
	}
	return s->now;
}

#endif
