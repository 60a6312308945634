/*
 * The store: the only module that holds the harvest's data, and the only
 * one that writes SQL.  This header is its whole interface; behind it one
 * backend (store/sqlite*.c, chosen by store_open()) does the work through
 * the operations table of store/backend.h.  One connection, owned by the
 * thread that opened it.  A harvested page is one transaction:
 * store_begin(), store_put() for each record, store_list_checkpoint(),
 * store_commit(); so a page's records, its change-log rows and the
 * checkpoint land together or not at all.
 *
 * Every function that can fail returns -1 and sets *cause to an allocated
 * one-line message the caller frees (cause may be NULL).
 *
 * Queries hand their rows to a callback, one at a time; what a row points
 * to is the store's, good until the callback returns.  A callback returns
 * 0 to go on or -1 to stop: the query then returns -1 and leaves *cause
 * alone (the callback has its own way to say why).  feed/ turns the rows
 * into the CLI's and the daemon's JSON Lines and text.
 */
#ifndef OH_STORE_H
#define OH_STORE_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

struct store;

#define STORE_RDONLY 0x01 /* open an existing database read-only */
/*
 * The page writer's connection: the full-text index may trail its commits
 * by a batch of records, and catches up when a run ends.
 */
#define STORE_TRAIL 0x02

struct store *store_open(const char *path, int flags, char **cause);
void	      store_close(struct store *);
/*
 * The path it was opened with (for a second connection to the file); NULL
 * for a backend that has no file.
 */
const char *store_path(const struct store *);
/*
 * Checkpoint the WAL on a thread of its own (store/checkpoint.c) instead
 * of at the end of the commit that fills it, for the connection that
 * writes pages.  Sizes in pages, 0 for the defaults: a background pass
 * every step pages once the WAL holds trigger, the rest on the writing
 * thread at cap or at four of the biggest commits, whichever is more.
 * SQLite only: with a backend that has no WAL it does nothing (0).
 */
int store_checkpoint_async(
    struct store *, int trigger, int step, int cap, char **cause);
struct store_ckpt_stats {
	long long passes;	 /* on the checkpointer's thread */
	long long inline_passes; /* on the writer's, at the cap */
	long long failed;	 /* passes that returned an error */
	long long max_frames;	 /* the longest the WAL grew, in pages */
	long long max_txn;	 /* the most pages one commit added */
};
/*
 * What the checkpointer did so far, after the pass in hand (zeros without
 * one); on the thread that writes.
 */
void store_checkpoint_stats(struct store *, struct store_ckpt_stats *);
/* Schema version (PRAGMA user_version) after migrations. */
int store_schema_version(struct store *);

/*
 * Sources: created on first use.  A source is one repository: a url other
 * than the one stored is refused (STORE_SOURCE_OTHER_URL, with the cause)
 * unless move says the repository moved there (the url is then updated,
 * its records, watermarks and changes kept).  url NULL: any.
 */
#define STORE_SOURCE_OTHER_URL (-2)
int64_t store_source(
    struct store *, const char *name, const char *url, int move, char **cause);
/* The url of the source called name, or NULL (allocated). */
char *store_source_url(struct store *, const char *name);
/* The name of the (oldest) source harvesting url, or NULL (allocated). */
char *store_source_by_url(struct store *, const char *url);
/* What Identify said; any value may be NULL. */
int store_source_identify(struct store *, int64_t source,
    const char *granularity, const char *earliest, const char *deleted_record,
    const char *repository_name, char **cause);

/* Harvest runs. */
struct store_run_stats {
	long long pages;
	long long records; /* records and headers received */
	long long new_records;
	long long updated;
	long long deleted;
	long long unchanged;
	long long bytes;      /* response bytes after decoding */
	long long tombstones; /* of records, STORE_TOMBSTONE (not in
					   the run table: records less the
					   other four) */
};

int64_t store_run_begin(struct store *, int64_t source, char **cause);
/* status: "ok" or "failed"; error may be NULL. */
int store_run_end(struct store *, int64_t run, const char *status,
    const struct store_run_stats *, const char *error, char **cause);
/*
 * The last run of the source called name (for the daemon's schedule): 1
 * with *status ("running", "ok" or "failed"; allocated) and *ended (when
 * it ended; 0 when it has not: running, or killed before it could end); 0
 * when the source has no run or does not exist.
 */
int store_source_last_run(struct store *, const char *name, time_t *ended,
    char **status, char **cause);

/*
 * The 15 DCMES elements in their standard order (export writes them so):
 * the name of code 0 .. STORE_NDCMES - 1, else NULL.
 */
#define STORE_NDCMES 15
const char *store_dc_name(int code);

/*
 * One field value; element is a DC local name ("title", ...) or any other
 * field name of a letter and up to 63 of A-Z a-z 0-9 _ . : - ("abstract"):
 * see harvest/format.h.
 */
struct store_dc {
	const char *element;
	const char *value;
	const char *lang; /* NULL when none */
};

/*
 * What store_put() works out from a record alone, with no database:
 * store_prepare() makes it, on any thread, so that the thread that writes
 * need not (see harvest/spool.c).  Strings are not NUL-terminated unless
 * said; they point into the store_prep (or a copy of them).
 */
struct store_prepared {
	uint64_t    hash;      /* record.hash */
	const char *sets_json; /* record.sets */
	size_t	    sets_json_len;
	const char *dc_json; /* content.dc; NULL: no content row */
	size_t	    dc_json_len;
	const char *tmpl; /* the template; NULL: XML kept whole */
	size_t	    tmpl_len;
	uint64_t    tmpl_hash;
	const char *fts[4]; /* the full-text columns, NUL-ended */
	size_t	    fts_len[4];
	/*
	 * The full-text columns as the backend's index takes them (for
	 * PostgreSQL, the tsvector), NUL-ended, or NULL: made only with a
	 * maker (store_prep_fts()), for records with content.
	 */
	const char *fts_doc;
	size_t	    fts_doc_len;
};

struct store_record {
	const char	      *prefix;
	const char	      *identifier;
	const char	      *datestamp;
	int		       deleted;
	const char *const     *sets;
	size_t		       nsets;
	const char	      *metadata; /* NULL for deleted records */
	size_t		       metadata_len;
	const struct store_dc *dc; /* in document order */
	size_t		       ndc;
	const char	      *reason; /* why, on the change row; NULL */
	/*
	 * What store_prepare() made of this record, or NULL: store_put()
	 * makes it.  With it, store_put() reads of the record only prefix,
	 * identifier, datestamp, deleted, sets and (without a template)
	 * metadata: dc may be empty.
	 */
	const struct store_prepared *prep;
};

/* Scratch space for store_prepare(), one per thread that prepares. */
struct store_prep;
struct store_prep *store_prep_new(void);
void		   store_prep_free(struct store_prep *);

/*
 * What the backend's full-text index takes of a record, made off its page
 * writer's thread (by the event loop, as the spool prepares the page):
 * NULL with *cause NULL when the backend makes nothing (SQLite: FTS5
 * tokenizes inside its insert), NULL with *cause on failure.  One thread
 * uses a maker at a time.
 */
struct store_fts_maker;
struct store_fts_maker *store_fts_maker_new(struct store *, char **cause);
void			store_fts_maker_free(struct store_fts_maker *);
/*
 * From now on store_prepare() also makes fts_doc with m (borrowed; NULL:
 * no more).
 */
void store_prep_fts(struct store_prep *, struct store_fts_maker *m);
/* -1 with *cause when store_put() would refuse the record. */
int store_prepare(struct store_prep *, const struct store_record *,
    struct store_prepared *, char **cause);

enum store_change {
	STORE_UNCHANGED = 0, /* nothing but maybe the datestamp moved */
	STORE_NEW,	     /* unknown, or known as deleted, now present */
	STORE_UPDATED,	     /* content (metadata, sets) changed */
	STORE_DELETED,	     /* known and present, now deleted */
	STORE_TOMBSTONE,     /* deleted, never known present: kept, no
				   change (a first harvest's deleted headers) */
};

/* "new", "updated", "deleted"; NULL for STORE_UNCHANGED. */
const char *store_change_name(enum store_change);

/* Page transactions (BEGIN IMMEDIATE ... COMMIT). */
int  store_begin(struct store *, char **cause);
int  store_commit(struct store *, char **cause);
void store_rollback(struct store *);

/*
 * Insert or update one record inside a page transaction and append its
 * change-log row when the content changed.  A content hash over deleted
 * flag, sets and metadata tells a real update from a datestamp bump.  A
 * deleted header for a record never seen is kept as a tombstone without a
 * change row (no consumer has it).
 */
int store_put(struct store *, int64_t source, int64_t	     run,
    const struct store_record *, enum store_change *, char **cause);
/*
 * Whether the backend looks a page's records up at once (PostgreSQL), and,
 * inside a page transaction before the page's store_put()s, give it the
 * identifiers (borrowed) of the page's records (one source and prefix).
 */
int store_put_prefetches(struct store *);
int store_put_prefetch(struct store *, int64_t source, const char *prefix,
    const char *const *ids, size_t n, char **cause);

/*
 * Per-list state; a list is (source, metadataPrefix, setSpec), setSpec ""
 * for the whole repository.  Strings are allocated; NULL when unset.
 */
struct store_list_state {
	char	 *watermark;	      /* high-water datestamp of the last
					   completed list */
	char	 *token;	      /* resumptionToken to resume with */
	char	 *progress;	      /* high-water datestamp so far */
	long long cursor;	      /* -1 unknown */
	long long complete_list_size; /* -1 unknown */
	long long pages;	      /* pages committed in this list */
};

int  store_list_get(struct store *, int64_t source, const char *prefix,
     const char *set, struct store_list_state *, char **cause);
void store_list_state_free(struct store_list_state *);
/* Inside the page transaction: where to resume. token NULL: none. */
int store_list_checkpoint(struct store *, int64_t source, const char *prefix,
    const char *set, const struct store_list_state *, char **cause);
/*
 * Inside the page transaction of the last page: the list is complete; the
 * watermark moves to watermark (unless NULL: nothing was harvested) and the
 * token and progress are cleared.
 */
int store_list_complete(struct store *, int64_t source, const char *prefix,
    const char *set, const char *watermark, char **cause);

/*
 * Queries.  source and prefix may be NULL (all).
 *
 * export: every record, ordered by source, prefix, identifier.
 */
struct store_export_value {
	int	    element; /* its DCMES code; out of range: none */
	const char *name;    /* not a DC element: its name; NULL */
	const char *value;   /* NUL-terminated */
	size_t	    len;
};
struct store_export_row {
	int64_t				 id;
	const char			*source;
	const char			*identifier;
	const char			*prefix;
	const char			*datestamp;
	int				 deleted;
	const char			*sets; /* record.sets: a JSON array */
	size_t				 sets_len;
	const struct store_export_value *dc; /* in document order */
	size_t				 ndc;
	const char			*metadata; /* NULL: none */
	size_t				 metadata_len;
};
int store_export(struct store *, const char *source, const char	    *prefix,
    int (*)(void *, const struct store_export_row *), void *, char **cause);

/* changes: the change log with seq > since, at most limit rows (< 0: all). */
struct store_change_row {
	int64_t	    seq;
	const char *source;
	const char *identifier;
	const char *prefix;
	const char *kind; /* store_change_name() */
	const char *datestamp;
	const char *at;	    /* when it was written */
	const char *reason; /* NULL: none (only sweeps say why) */
};
int store_changes(struct store *, int64_t since, int64_t	     limit,
    int (*)(void *, const struct store_change_row *), void *, char **cause);

/*
 * Full-text search over title, creator, subject and description, best
 * first; source may be NULL (all).  The query is FTS5 query syntax when it
 * is valid syntax, else its words are searched as plain text (each the
 * phrase of its tokens; AND/OR/NOT between words, column: and a trailing *
 * kept): any text searches without an error.  Strings may be NULL.
 */
struct store_search_row {
	const char *source;
	size_t	    source_len;
	const char *identifier;
	size_t	    identifier_len;
	const char *prefix;
	size_t	    prefix_len;
	const char *datestamp;
	size_t	    datestamp_len;
	const char *title; /* its first line */
	size_t	    title_len;
	const char *snippet; /* [match] in context */
	size_t	    snippet_len;
	double	    score; /* higher is better */
};
int store_search(struct store *, const char *query, const char *source,
    long long limit, int (*)(void *, const struct store_search_row *), void *,
    char    **cause);

/*
 * status: each source by name, each followed by its last run, its records
 * by prefix and its lists (through the callbacks of struct store_status_cb;
 * any may be NULL).  Strings may be NULL unless said; lengths are of the
 * strings the daemon's JSON copies whole.
 */
struct store_source_row {
	const char *name; /* not NULL */
	const char *url;
	const char *repository_name;
	size_t	    repository_name_len;
	const char *granularity;
	size_t	    granularity_len;
	const char *earliest;
	const char *deleted_record;
	size_t	    deleted_record_len;
	const char *identified_at;
};
struct store_run_row {
	int64_t	    id;
	const char *started;
	const char *ended;
	const char *status;
	long long   pages;
	long long   records;
	long long   new_records;
	long long   updated;
	long long   deleted;
	long long   unchanged;
	long long   bytes;
	const char *error;
};
struct store_prefix_row {
	const char *prefix;
	long long   present;
	long long   deleted;
};
struct store_list_row {
	const char *prefix;
	size_t	    prefix_len;
	const char *set; /* "": the whole repository */
	size_t	    set_len;
	const char *watermark;
	size_t	    watermark_len;
	const char *token; /* NULL: not in progress */
	const char *progress;
	long long   cursor;		/* -1 unknown */
	long long   complete_list_size; /* -1 unknown */
	long long   pages;
};
struct store_status_cb {
	/* Each source, first. */
	int (*source)(void *, const struct store_source_row *);
	/* Its last run; NULL: none yet. */
	int (*run)(void *, const struct store_run_row *);
	int (*prefix)(void *, const struct store_prefix_row *);
	int (*list)(void *, const struct store_list_row *);
	void *arg;
};
int store_status(struct store *, const struct store_status_cb *, char **cause);
/*
 * The source called name alone, for the daemon's status server: its row
 * (NULL when there is no such source yet; present -1), its prefixes with
 * their counts only when cb->prefix is set (a scan of its records), then
 * its lists; no run.
 */
int store_source_status(struct store *, const char *name,
    const struct store_status_cb *, char	  **cause);

/* For the daemon's status server. */
/* 0 when a write transaction can be had (or one is going on). */
int store_writable(struct store *, char **cause);
/* The newest change's seq (0: none), or -1. */
int64_t store_last_seq(struct store *);

/*
 * Feeds: the last seq a named consumer (the daemon's changes_log) has
 * written out; 0 when none.  Outside page transactions.
 */
int store_outbox_get(
    struct store *, const char *name, int64_t *seq, char **cause);
int store_outbox_set(
    struct store *, const char *name, int64_t seq, char **cause);

/*
 * Deletion sweeps (inside page transactions): mark each identifier a full
 * ListIdentifiers lists; when it completes, the present records it did
 * not list become deleted with the reason "vanished" (refused when more
 * than half would go).  swept_at: when the last sweep completed, or NULL.
 */
int store_sweep_mark(struct store *, int64_t source, const char *prefix,
    const char *identifier, int64_t run, char **cause);
int store_sweep_finish(struct store *, int64_t source, const char *prefix,
    int64_t run, const char *datestamp, long long *vanished, char **cause);
int store_sweep_last(struct store *, int64_t source, const char *prefix,
    char **swept_at, char **cause);
/* Start the sweep clock of a list never swept (outside transactions). */
int store_sweep_touch(
    struct store *, int64_t source, const char *prefix, char **cause);

/*
 * A malformed record set aside, with its raw XML (raw may be NULL), for an
 * operator to inspect; inside the page transaction.
 */
int store_reject(struct store *, int64_t source, int64_t run,
    const char *prefix, const char *identifier, const char *datestamp,
    const char *cause_text, const char *raw, size_t raw_len, int truncated,
    char **cause);

/*
 * Export a selection (the CLI's export --identifier, --since): the records
 * of source and prefix (NULL: all) that are among identifiers (when not
 * NULL) and, when since >= 0, that have a change with seq > since (each
 * once, as it is now: a deleted one as such), ordered as store_export().
 */
struct store_export_filter {
	const char	  *source;
	const char	  *prefix;
	int64_t		   since;	/* < 0: changed or not */
	const char *const *identifiers; /* NULL: any */
	size_t		   nidentifiers;
};
int store_export_select(struct store *, const struct store_export_filter *,
    int (*)(void *, const struct store_export_row *), void *, char **cause);

/*
 * 1 when there is a source called name (NULL: any source) that has
 * records or lists of prefix (NULL: whatever it has), 0 when not, -1.
 */
int store_source_known(
    struct store *, const char *name, const char *prefix, char **cause);

/*
 * Managing sources (oaiharvest sources), outside page transactions, each
 * one transaction of its own.  STORE_NO_SOURCE (with the cause) when there
 * is no source called name.
 *
 * rename: refused when newname is taken.  move: the source harvests url
 * from now on, keeping its records, watermarks and changes (as store_source()
 * with move).  reset: its lists forget their watermarks, resumption tokens
 * and sweeps (*lists: how many), so that its next harvest is a full one;
 * its records stay.  drop: the source and everything of it (records,
 * content, full-text rows, sets, lists, runs, rejects and its change rows)
 * goes; refused with STORE_UNCONSUMED (the cause names the consumer) while
 * a feed consumer of the outbox (store_outbox_get()) has not written out
 * every change of it, unless force.  The change seqs of a dropped source
 * are never given out again.
 */
#define STORE_NO_SOURCE	 (-3)
#define STORE_UNCONSUMED (-4)
struct store_drop_stats {
	long long records;
	long long changes;
	long long runs;
};
int store_source_rename(
    struct store *, const char *name, const char *newname, char **cause);
int store_source_move(
    struct store *, const char *name, const char *url, char **cause);
int store_source_reset(
    struct store *, const char *name, long long *lists, char **cause);
int store_source_drop(struct store *, const char *name, int force,
    struct store_drop_stats *, char **cause);

/*
 * Leases, for several daemons sharing one database: a host (its
 * scheme://host:port, as harvest/polite.c keys hosts) is harvested by the
 * daemon whose lease it is, until the lease expires unless renewed.  A
 * holder is a node id unique per process; node its human name.  Times are
 * the database's clock, in ms since the epoch; ttl in ms.  Outside page
 * transactions but store_lease_held(), each its own transaction.
 *
 * take: the host's lease for holder, when it is free, expired or holder's
 * already: 1 with *g, 0 when another holds it, -1.  g->gen is one more
 * than the last holder's when the holder changes (the same when holder
 * takes its own again); g->next_ms the time before which no request may
 * go to the host (the last holder's last request's end plus its delay, as
 * it said when it released the host); g->lapsed_ms, when the last holder
 * lost the host by expiry rather than releasing it, when that was (its
 * requests' ends are unknown: wait a delay after it), else 0.
 */
struct store_lease_grant {
	int64_t gen;
	int64_t expires_ms;
	int64_t next_ms;
	int64_t lapsed_ms;
};
int store_lease_take(struct store *, const char *host, const char *holder,
    const char *node, long long ttl_ms, struct store_lease_grant *,
    char **cause);
/*
 * Renew every lease holder holds (and its node row, made when missing),
 * in one transaction; cb (may be NULL) gets each host still held, with
 * its gen: a host not named was lost.  The number held, or -1.
 */
int store_lease_renew(struct store *, const char *holder, const char *node,
    long long ttl_ms, int (*cb)(void *, const char *host, int64_t gen), void *,
    char    **cause);
/*
 * Give back holder's lease of host (NULL: every lease of holder, and its
 * node row goes), no request to it before next_ms.  0 or -1.
 */
int store_lease_release(struct store *, const char *host, const char *holder,
    int64_t next_ms, char **cause);
/*
 * Inside a page transaction: 1 when host's lease is still of gen and not
 * expired, 0 when not (the page must not be written), -1.  The check holds
 * until the commit: another holder cannot take the host in between.
 */
int store_lease_held(
    struct store *, const char *host, int64_t gen, char **cause);
/* Every host's lease (holder NULL: free); now_ms: the database's clock. */
struct store_lease {
	const char *host;
	const char *holder;
	const char *node;
	int64_t	    gen;
	int64_t	    expires_ms;
	int64_t	    next_ms;
	int64_t	    now_ms;
};
int store_leases(struct store *, int (*)(void *, const struct store_lease *),
    void *, char **cause);
/* The daemons alive (node rows not expired), or -1. */
int store_lease_nodes(struct store *, char **cause);
/* 1 when the backend has leases (store_lease_*() work), else 0. */
int store_has_leases(struct store *);
/*
 * A feed's outbox cursor moved only by the holder of a lease (a reserved
 * key such as "feed:nats", not a host): in one transaction, name's cursor
 * becomes seq when lease is still of gen and not expired.  1 moved, 0 not
 * (the lease is another's: nothing written), -1.
 */
int store_outbox_set_fenced(struct store *, const char *name, int64_t seq,
    const char *lease, int64_t gen, char **cause);

/*
 * Watching the change log (PostgreSQL: LISTEN/NOTIFY).  A watch holds a
 * connection of its own on base's loop and calls cb(arg, what): UP when
 * it listens (commits before may have gone unseen: look), CHANGED when a
 * process (this one too) committed changes, DOWN when it lost its
 * connection; it connects again by itself, with backoff, then says UP.
 * It starts down.  NULL with *cause when the backend has none.
 */
enum store_watch_event {
	STORE_WATCH_UP,
	STORE_WATCH_CHANGED,
	STORE_WATCH_DOWN
};
struct event_base;
struct store_watch;
struct store_watch *store_watch_open(struct store *, struct event_base *,
    void (*cb)(void *, enum store_watch_event), void *arg, char **cause);
void		    store_watch_close(struct store_watch *);
/* 1 when the backend can watch (store_watch_open() works), else 0. */
int store_has_watch(struct store *);

#endif
