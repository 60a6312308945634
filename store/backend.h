/*
 * Inside the store: the operations table a backend fills, like redis's
 * aeApi* behind ae.c.  store.c is the dispatcher: each public store_*()
 * function of store.h calls the operation of the same name on the backend
 * state store_open() made, and does itself what needs no database
 * (store_prepare(), the hash, the templates).  The SQLite backend is
 * store/sqlite.c (connection, statements, open and close, sources, runs),
 * store/sqlite_write.c (the page transaction: put, content, full-text,
 * templates, list state, sweeps, rejects) and store/sqlite_query.c
 * (export, changes, status, search, outbox), with schema.c, checkpoint.c
 * and tokenize.c its own.  Another backend (PostgreSQL) is one more file
 * set that fills a struct store_ops and one line in store.c's backends[]:
 * the PostgreSQL backend is store/pg*.c (see pg.h).
 *
 * Every operation but open takes the backend's state as its first argument
 * and keeps the contract its store.h function states: -1 with *cause on
 * failure (set with set_cause(), cause may be NULL), strings handed in are
 * the caller's and only borrowed for the call, strings handed out are
 * allocated and the caller's to free unless said otherwise.  "In a page
 * transaction" means between begin and commit or rollback: the operation
 * must refuse to run outside one (so that a page lands whole), and what it
 * writes must vanish with a rollback.
 */
#ifndef OH_STORE_BACKEND_H
#define OH_STORE_BACKEND_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "util.h"
#include "oh_limits.h"
#include "store.h"

/* record.sets: every setSpec escaped (up to six bytes a byte), quoted. */
#define SETS_JSON_MAX (MAX_SETS_PER_RECORD * (6 * MAX_ID_LEN + 3) + 2)

struct store_ops {
	/* Names the backend in logs. */
	const char *name;
	/*
	 * The paths this backend opens start so (e.g. "postgresql://");
	 * NULL: any other path, a file (the default backend).  scheme2:
	 * another such start, or NULL.
	 */
	const char *scheme;
	const char *scheme2;
	/*
	 * May be NULL: the full-text index takes the columns as they are.
	 * Else a maker's state (NULL with *cause), freed by fts_maker_free,
	 * and fts_make: the columns as the index takes them (store_prepared
	 * fts_doc) in *out (*len bytes, NUL-ended) until its next call.  The
	 * page writer uses fts_doc when store_prepare() made it.
	 */
	void *(*fts_maker_new)(char **);
	void (*fts_maker_free)(void *);
	int (*fts_make)(void *, const char *const[4], const size_t[4],
	    const char **out, size_t *len, char **);

	/*
	 * Connect (creating and migrating the schema unless STORE_RDONLY);
	 * the state every other operation gets, or NULL with *cause.
	 */
	void *(*open)(const char *path, int flags, char **cause);
	/* Disconnect and free; an open page transaction is rolled back. */
	void (*close)(void *);
	/* May be NULL: no file (store_path() gives NULL). */
	const char *(*path)(const void *);
	/*
	 * May be NULL: nothing to checkpoint (store_checkpoint_async() does
	 * nothing, store_checkpoint_stats() gives zeros).  Outside page
	 * transactions.
	 */
	int (*checkpoint_async)(void *, int, int, int, char **);
	void (*checkpoint_stats)(void *, struct store_ckpt_stats *);
	int (*schema_version)(void *);

	/*
	 * Sources and runs: outside page transactions, each its own
	 * (autocommit).  source_url and source_by_url return an allocated
	 * string (NULL: none) the caller frees.
	 */
	int64_t (*source)(void *, const char *, const char *, int, char **);
	char *(*source_url)(void *, const char *);
	char *(*source_by_url)(void *, const char *);
	int (*source_identify)(void *, int64_t, const char *, const char *,
	    const char *, const char *, char **);
	int64_t (*run_begin)(void *, int64_t, char **);
	int (*run_end)(void *, int64_t, const char *,
	    const struct store_run_stats *, const char *, char **);
	/* 1 with *ended (0: none) and *status (allocated), 0, or -1. */
	int (*source_last_run)(
	    void *, const char *, time_t *, char **, char **);

	/*
	 * The page transaction.  commit failing leaves it open: the caller
	 * rolls back.  rollback outside one does nothing.
	 */
	int (*begin)(void *, char **);
	int (*commit)(void *, char **);
	void (*rollback)(void *);
	/*
	 * In a page transaction.  The record (and its prep, made by
	 * store_prepare() when NULL) is the caller's.
	 */
	int (*put)(void *, int64_t, int64_t, const struct store_record *,
	    enum store_change *, char **);
	/*
	 * May be NULL.  In a page transaction, before its puts: the
	 * identifiers (borrowed) of the page's records, of one source and
	 * prefix, so that the backend looks them up at once.  A put of
	 * another record must still work.
	 */
	int (*put_prefetch)(void *, int64_t, const char *, const char *const *,
	    size_t, char **);
	/* In a page transaction; raw (raw_len bytes) borrowed. */
	int (*reject)(void *, int64_t, int64_t, const char *, const char *,
	    const char *, const char *, const char *, size_t, int, char **);
	/*
	 * Outside or inside one; fills a state whose strings are allocated,
	 * the caller's to free (store_list_state_free()).
	 */
	int (*list_get)(void *, int64_t, const char *, const char *,
	    struct store_list_state *, char **);
	/* Both in a page transaction; strings borrowed. */
	int (*list_checkpoint)(void *, int64_t, const char *, const char *,
	    const struct store_list_state *, char **);
	int (*list_complete)(
	    void *, int64_t, const char *, const char *, const char *, char **);
	/* In a page transaction: mark and finish (which puts deletions). */
	int (*sweep_mark)(
	    void *, int64_t, const char *, const char *, int64_t, char **);
	int (*sweep_finish)(void *, int64_t, const char *, int64_t,
	    const char *, long long *, char **);
	/* Outside page transactions; *swept_at is allocated (or NULL). */
	int (*sweep_last)(void *, int64_t, const char *, char **, char **);
	int (*sweep_touch)(void *, int64_t, const char *, char **);

	/*
	 * Queries, outside page transactions: rows go to the callback, valid
	 * until it returns; a callback's -1 stops the query, which returns
	 * -1 without setting *cause.
	 */
	int (*export)(void *, const char *, const char *,
	    int (*)(void *, const struct store_export_row *), void *, char **);
	int (*changes)(void *, int64_t, int64_t,
	    int (*)(void *, const struct store_change_row *), void *, char **);
	int (*search)(void *, const char *, const char *, long long,
	    int (*)(void *, const struct store_search_row *), void *, char **);
	int (*status)(void *, const struct store_status_cb *, char **);
	int (*source_status)(
	    void *, const char *, const struct store_status_cb *, char **);
	/* Any time, inside a page transaction too. */
	int (*writable)(void *, char **);
	int64_t (*last_seq)(void *);
	/* Outside page transactions. */
	int (*outbox_get)(void *, const char *, int64_t *, char **);
	int (*outbox_set)(void *, const char *, int64_t, char **);

	/* A selection of records; a query, as export. */
	int (*export_select)(void *, const struct store_export_filter *,
	    int (*)(void *, const struct store_export_row *), void *, char **);
	/*
	 * Sources by name, outside page transactions: known is a query;
	 * the others are each a transaction of their own.
	 */
	int (*source_known)(void *, const char *, const char *, char **);
	int (*source_rename)(void *, const char *, const char *, char **);
	int (*source_move)(void *, const char *, const char *, char **);
	int (*source_reset)(void *, const char *, long long *, char **);
	int (*source_drop)(
	    void *, const char *, int, struct store_drop_stats *, char **);

	/*
	 * Leases (several daemons): each its own transaction, but held,
	 * which is in a page transaction and must keep another holder from
	 * taking the host until the commit.  May be NULL: the backend
	 * has none (store_lease_*() and store_leases() fail).
	 */
	int (*lease_take)(void *, const char *, const char *, const char *,
	    long long, struct store_lease_grant *, char **);
	int (*lease_renew)(void *, const char *, const char *, long long,
	    int (*)(void *, const char *, int64_t), void *, char **);
	int (*lease_release)(
	    void *, const char *, const char *, int64_t, char **);
	int (*lease_held)(void *, const char *, int64_t, char **);
	int (*leases)(void *, int (*)(void *, const struct store_lease *),
	    void *, char **);
	int (*lease_nodes)(void *, char **);
	int (*outbox_set_fenced)(
	    void *, const char *, int64_t, const char *, int64_t, char **);

	/*
	 * May be NULL: the backend tells nobody of commits (its readers
	 * poll last_seq).  A watch on base's loop, with a connection of its
	 * own, of the change log's commits by any process: see
	 * store_watch_open() in store.h.  Its state goes to watch_close.
	 */
	void *(*watch_open)(void *, struct event_base *,
	    void (*)(void *, enum store_watch_event), void *, char **);
	void (*watch_close)(void *);
};

/* What store_open() returns: the backend and its state. */
struct store {
	const struct store_ops *ops;
	void		       *be;
};

extern const struct store_ops store_sqlite_ops;
extern const struct store_ops store_pg_ops;

/* Set *cause (when cause is not NULL) to an allocated message. */
static inline void set_cause(char **, const char *, ...) __printflike(2, 3);

static inline void
set_cause(char **cause, const char *fmt, ...)
{
	va_list ap;

	if (cause == NULL)
		return;
	va_start(ap, fmt);
	xvasprintf(cause, fmt, ap);
	va_end(ap);
}

/*
 * What store.c does for backends: the content hash of a record (as
 * store_prepare() makes it), and a template's XML filled with the n
 * NUL-terminated values at vals->data + off[] (-1 when the counts disagree
 * or it is too long).
 */
uint64_t store_record_hash(struct store_prep *, const struct store_record *);
int store_template_fill(struct buf *, const char *, size_t, const struct buf *,
    const size_t *, size_t);
/* A JSON string of content.dc, unescaped into a buf (see store.c). */
int store_dc_string(const char **, const char *, struct buf *);

#endif
