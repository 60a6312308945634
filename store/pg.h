/*
 * The PostgreSQL backend of the store (see backend.h), inside store/:
 * store/pg.c (the connection, its statements, the schema and its
 * migrations, sources, runs), store/pg_write.c (the page transaction),
 * store/pg_query.c (export, changes, status, search, outbox),
 * store/pg_admin.c (rename, move, reset, drop) and store/pg_gin.c (the
 * search index's pending list).  Every statement is
 * prepared once at open from store_pg_queries[] and run with its values
 * as parameters; no SQL is built from values.
 */
#ifndef OH_STORE_PG_H
#define OH_STORE_PG_H

#include <stdint.h>
#include <time.h>

#include <libpq-fe.h>

#include "util.h"
#include "backend.h"

enum pg_query {
	PQ_BEGIN,
	PQ_COMMIT,
	PQ_ROLLBACK,
	PQ_SOURCE_GET,
	PQ_SOURCE_BY_URL,
	PQ_SOURCE_ADD,
	PQ_SOURCE_URL,
	PQ_SOURCE_IDENTIFY,
	PQ_SOURCE_SHARE,
	PQ_RUN_INTERRUPTED,
	PQ_RUN_BEGIN,
	PQ_RUN_END,
	PQ_RUN_LAST,
	PQ_RECORD_ADD,
	PQ_RECORD_GET,
	PQ_RECORD_FIND,
	PQ_RECORDS_NEW,
	PQ_RECORDS_UPDATE,
	PQ_CONTENT_PUT,
	PQ_CONTENT_DEL,
	PQ_FTS_TRAIL,
	PQ_FTS_OWED,
	PQ_FTS_FILL,
	PQ_SETS_DEL,
	PQ_SETS_ADD,
	PQ_CHANGES_ADD,
	PQ_SEQ_GET,
	PQ_NOTIFY,
	PQ_LIST_GET,
	PQ_LIST_CHECKPOINT,
	PQ_LIST_COMPLETE,
	PQ_REJECT_ADD,
	PQ_SWEEP_MARK,
	PQ_SWEEP_PRESENT,
	PQ_SWEEP_MISSED,
	PQ_SWEEP_STAMP,
	PQ_SWEEP_LAST,
	PQ_EXPORT,
	PQ_EXPORT_SINCE,
	PQ_EXPORT_IDS,
	PQ_CHANGES,
	PQ_STATUS_SOURCES,
	PQ_STATUS_RECORDS,
	PQ_STATUS_LISTS,
	PQ_SOURCE_JSON,
	PQ_SEARCH,
	PQ_OUTBOX_GET,
	PQ_OUTBOX_SET,
	PQ_WRITABLE,
	PQ_KNOWN,
	PQ_RENAME,
	PQ_RESET_LISTS,
	PQ_RESET_SWEPT,
	PQ_SOURCE_LOCK,
	PQ_DROP_UNCONSUMED,
	PQ_DROP_COUNTS,
	PQ_DROP_CHANGES,
	PQ_DROP_RECORDS,
	PQ_DROP_SOURCE,
	PQ_LEASE_ENSURE,
	PQ_LEASE_PICK,
	PQ_LEASE_TAKE,
	PQ_LEASE_RENEW,
	PQ_LEASE_NODE,
	PQ_LEASE_NODE_GC,
	PQ_LEASE_RELEASE,
	PQ_LEASE_NODE_DEL,
	PQ_LEASE_HELD,
	PQ_LEASE_LIST,
	PQ_LEASE_NODES,
	PQ_COUNT
};

struct pg_tsv;

struct pg_query_def {
	const char *what; /* in error causes */
	const char *sql;
};
extern const struct pg_query_def store_pg_queries[PQ_COUNT];

/* A statement's parameters: strings as bytes (binary), numbers as text. */
#define PG_MAXPARAMS 16
struct pg_params {
	const char *v[PG_MAXPARAMS];
	int	    len[PG_MAXPARAMS];
	int	    fmt[PG_MAXPARAMS];
	char	    num[PG_MAXPARAMS][24];
	int	    n;
};

/*
 * content.dc as store_prepare() writes it, read back: each value (and its
 * field's name) NUL-terminated in vals, in document order.
 */
struct pg_dc {
	struct buf vals;
	size_t	  *off;	 /* value i at vals.data + off[i] */
	size_t	  *len;	 /* its length */
	size_t	  *noff; /* its field's name, or SIZE_MAX: code[i] */
	int	  *code;
	size_t	   n;
	size_t	   cap;
};
void pg_dc_init(struct pg_dc *);
void pg_dc_free(struct pg_dc *);
/* -1 unless j (n bytes) is exactly what store_prepare() writes. */
int pg_dc_parse(struct pg_dc *, const char *j, size_t n);

/*
 * Rows gathered for one multi-row statement (pg_write.c): each column a
 * text[] in PostgreSQL's binary array format, its 20-byte header written
 * when the statement goes.
 */
#define PG_BULK_COLS 14
struct pg_bulk {
	struct buf col[PG_BULK_COLS];
	int	   ncols;
	size_t	   n;	  /* rows */
	size_t	   bytes; /* of all columns */
};

struct store_pg {
	PGconn *conn;
	char   *uri;  /* as given: store_path() */
	char   *safe; /* without any password: for messages */
	int	version;
	int	rdonly;
	/* A page transaction is open (the connection in pipeline mode). */
	int intxn;
	/* The source whose row it locked last (pg_write.c's need_source()). */
	int64_t shared;
	/* Statements sent since the last sync, their results unread. */
	int nsent;
	/* The first failure since the transaction began. */
	char *failed;
	/*
	 * The transaction's change rows, a JSON array, numbered and inserted
	 * at commit (or when it grows past PG_CHANGES_MAX, from then on
	 * holding the counter's lock): see pg_write.c.
	 */
	struct buf	   changes;
	long long	   nchanges;
	int		   notify; /* changes went in: NOTIFY at commit */
	int		   last_new;
	struct store_prep *prep;
	struct buf	   oldsets;
	struct pg_dc	   dc;	/* a template's values (pg_write.c) */
	struct buf	   xml; /* a template filled */
	struct pg_tsv *tsv; /* the tsvectors' maker (pg_tsv.c), once needed */
	char	       now[32];
	time_t	       now_t;
	/*
	 * A page's records as stored, looked up in one statement before its
	 * puts (store_pg_put_prefetch()): pf[] sorted by identifier, each
	 * with its row of pf_res (-1: not stored).
	 */
	PGresult *pf_res;
	/*
	 * The page's new records and its known records' new datestamps,
	 * gathered and written each in one statement before any other
	 * statement reads (pg_exec()) and at commit (pg_bulk_flush()).
	 */
	struct pg_bulk add;
	struct pg_bulk upd;
	/*
	 * The page writer's connection (STORE_TRAIL): what fts_pending owes
	 * the full-text index is indexed at its open and close (pg.c).
	 */
	int trail;
	/*
	 * The search index's cleaner (pg_gin.c), the page writer's only: its
	 * connection, its state, a clean in flight, and the change rows put
	 * since the last clean was sent (rolled back ones too: they only
	 * bring the next clean forward).
	 */
	PGconn	     *gin;
	int	      gin_state;
	int	      gin_busy;
	long long     gin_since;
	struct pg_pf *pf;
	size_t	      pf_n;
	int64_t	      pf_source;
	char	     *pf_prefix;
};

struct pg_pf {
	char *identifier;
	int   row;  /* of pf_res, -1: not stored */
	int   dup;  /* listed twice on the page: put one by one */
	int   used; /* put already */
};

/* pg.c */
void pgp_init(struct pg_params *);
void pgp_text(struct pg_params *, const char *);
void pgp_textn(struct pg_params *, const char *, size_t);
void pgp_int(struct pg_params *, long long);
void pgp_count(struct pg_params *, long long); /* < 0: NULL */
/*
 * Run query q now: its result (tuples or command done), the caller's to
 * PQclear(), or NULL with *cause.  In a page transaction it goes down the
 * pipeline behind what pg_send() queued, whose results it reads first.
 */
PGresult *pg_exec(
    struct store_pg *, enum pg_query, const struct pg_params *, char **);
/*
 * The same, each row to row(arg, result, i) as it comes (single-row mode;
 * i is then 0): 0 after the last, -1 when row stops it or with *cause.
 */
int pg_exec_rows(struct store_pg *, enum pg_query, const struct pg_params *,
    int (*)(void *, PGresult *, int), void *, char **);
/*
 * In a page transaction: queue query q in the pipeline, its result read
 * (and a failure reported) at the next pg_exec() or pg_sync().  Outside
 * one: pg_exec() it.
 */
int pg_send(
    struct store_pg *, enum pg_query, const struct pg_params *, char **);
/* Read the results of what pg_send() queued; -1 with the first failure. */
int pg_sync(struct store_pg *, char **);
/* Send what pg_send() queued now; its results are read at the next sync. */
int pg_flush(struct store_pg *, char **);

const char *pg_now(struct store_pg *);
/* Column c of row 0, NULL when NULL. */
static inline const char *
pg_col(PGresult *r, int row, int c)
{
	return PQgetisnull(r, row, c) ? NULL : PQgetvalue(r, row, c);
}
long long pg_ll(PGresult *, int row, int col, long long dflt);

/* pg_lease.c */
int store_pg_lease_take(void *, const char *, const char *, const char *,
    long long, struct store_lease_grant *, char **);
int store_pg_lease_renew(void *, const char *, const char *, long long,
    int (*)(void *, const char *, int64_t), void *, char **);
int store_pg_lease_release(
    void *, const char *, const char *, int64_t, char **);
int store_pg_lease_held(void *, const char *, int64_t, char **);
int store_pg_leases(
    void *, int (*)(void *, const struct store_lease *), void *, char **);
int store_pg_lease_nodes(void *, char **);
int store_pg_outbox_set_fenced(
    void *, const char *, int64_t, const char *, int64_t, char **);

/* pg_write.c */
int  store_pg_begin(void *, char **);
int  store_pg_commit(void *, char **);
void store_pg_rollback(void *);
int  store_pg_put(void *, int64_t, int64_t, const struct store_record *,
     enum store_change *, char **);
int  store_pg_put_prefetch(
     void *, int64_t, const char *, const char *const *, size_t, char **);
int store_pg_reject(void *, int64_t, int64_t, const char *, const char *,
    const char *, const char *, const char *, size_t, int, char **);
int store_pg_list_get(void *, int64_t, const char *, const char *,
    struct store_list_state *, char **);
int store_pg_list_checkpoint(void *, int64_t, const char *, const char *,
    const struct store_list_state *, char **);
int store_pg_list_complete(
    void *, int64_t, const char *, const char *, const char *, char **);
int store_pg_sweep_mark(
    void *, int64_t, const char *, const char *, int64_t, char **);
int store_pg_sweep_finish(
    void *, int64_t, const char *, int64_t, const char *, long long *, char **);
int  store_pg_sweep_last(void *, int64_t, const char *, char **, char **);
int  store_pg_sweep_touch(void *, int64_t, const char *, char **);
void store_pg_write_free(struct store_pg *);
/* Send the rows gathered for multi-row statements; -1 with *cause. */
int pg_bulk_flush(struct store_pg *, char **);
/*
 * Outside a page transaction: index every record the full-text index owes
 * (at the page writer's connection's open and close); -1 with *cause.
 */
int pg_fts_drain(struct store_pg *, char **);
/*
 * The search index's pending list (pg_gin.c): after a page writer's
 * commit; at its close.
 */
void pg_gin_commit(struct store_pg *);
void pg_gin_close(struct store_pg *);
/* s's tsvector maker, made the first time; NULL with *cause. */
struct pg_tsv *pg_tsv_get(struct store_pg *, char **);

/* pg_query.c */
int store_pg_export(void *, const char *, const char *,
    int (*)(void *, const struct store_export_row *), void *, char **);
int store_pg_export_select(void *, const struct store_export_filter *,
    int (*)(void *, const struct store_export_row *), void *, char **);
int store_pg_changes(void *, int64_t, int64_t,
    int (*)(void *, const struct store_change_row *), void *, char **);
int store_pg_search(void *, const char *, const char *, long long,
    int (*)(void *, const struct store_search_row *), void *, char **);
int store_pg_status(void *, const struct store_status_cb *, char **);
int store_pg_source_status(
    void *, const char *, const struct store_status_cb *, char **);
int	store_pg_writable(void *, char **);
int64_t store_pg_last_seq(void *);
int	store_pg_outbox_get(void *, const char *, int64_t *, char **);
int	store_pg_outbox_set(void *, const char *, int64_t, char **);

/*
 * pg_watch.c: store_watch_open() (see store.h).  A page transaction that
 * adds changes sends a notification on this channel, its payload the
 * last seq, delivered when (and only if) it commits.
 */
#define PG_NOTIFY_CHANNEL "oaiharvest_changes"
struct event_base;
void *store_pg_watch_open(void *, struct event_base *,
    void (*)(void *, enum store_watch_event), void *, char **);
void  store_pg_watch_close(void *);

/* pg_admin.c */
int store_pg_source_known(void *, const char *, const char *, char **);
int store_pg_source_rename(void *, const char *, const char *, char **);
int store_pg_source_move(void *, const char *, const char *, char **);
int store_pg_source_reset(void *, const char *, long long *, char **);
int store_pg_source_drop(
    void *, const char *, int, struct store_drop_stats *, char **);

#endif
