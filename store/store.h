/*
 * The SQLite store: the only module that writes SQL.  One connection, owned
 * by the event loop's thread.  A harvested page is one transaction:
 * store_begin(), store_put() for each record, store_list_checkpoint(),
 * store_commit(); so a page's records, its change-log rows and the
 * checkpoint land together or not at all.
 *
 * Every function that can fail returns -1 and sets *cause to an allocated
 * one-line message the caller frees (cause may be NULL).
 */
#ifndef OH_STORE_H
#define OH_STORE_H

#include <stdint.h>
#include <stdio.h>

struct store;

#define STORE_RDONLY	0x01	/* open an existing database read-only */

struct store	*store_open(const char *path, int flags, char **cause);
void		 store_close(struct store *);
/* The path it was opened with (for a second connection to the file). */
const char	*store_path(const struct store *);
/*
 * Checkpoint the WAL on a thread of its own (store/checkpoint.c) instead
 * of at the end of the commit that fills it, for the connection that
 * writes pages.  Sizes in pages, 0 for the defaults: a background pass
 * every step pages once the WAL holds trigger, the rest on the writing
 * thread at cap or at four of the biggest commits, whichever is more.
 */
int	 store_checkpoint_async(struct store *, int trigger, int step,
	    int cap, char **cause);
struct store_ckpt_stats {
	long long	passes;		/* on the checkpointer's thread */
	long long	inline_passes;	/* on the writer's, at the cap */
	long long	failed;		/* passes that returned an error */
	long long	max_frames;	/* the longest the WAL grew, in pages */
	long long	max_txn;	/* the most pages one commit added */
};
/*
 * What the checkpointer did so far, after the pass in hand (zeros without
 * one); on the thread that writes.
 */
void	 store_checkpoint_stats(struct store *, struct store_ckpt_stats *);
/* Schema version (PRAGMA user_version) after migrations. */
int		 store_schema_version(struct store *);

/*
 * Sources: created on first use.  A source is one repository: a url other
 * than the one stored is refused (STORE_SOURCE_OTHER_URL, with the cause)
 * unless move says the repository moved there (the url is then updated,
 * its records, watermarks and changes kept).  url NULL: any.
 */
#define STORE_SOURCE_OTHER_URL	(-2)
int64_t	 store_source(struct store *, const char *name, const char *url,
	    int move, char **cause);
/* The url of the source called name, or NULL (allocated). */
char	*store_source_url(struct store *, const char *name);
/* The name of the (oldest) source harvesting url, or NULL (allocated). */
char	*store_source_by_url(struct store *, const char *url);
/* What Identify said; any value may be NULL. */
int	 store_source_identify(struct store *, int64_t source,
	    const char *granularity, const char *earliest,
	    const char *deleted_record, const char *repository_name,
	    char **cause);

/* Harvest runs. */
struct store_run_stats {
	long long	pages;
	long long	records;	/* records and headers received */
	long long	new_records;
	long long	updated;
	long long	deleted;
	long long	unchanged;
	long long	bytes;		/* response bytes after decoding */
	long long	tombstones;	/* of records, STORE_TOMBSTONE (not in
					   the run table: records less the
					   other four) */
};

int64_t	 store_run_begin(struct store *, int64_t source, char **cause);
/* status: "ok" or "failed"; error may be NULL. */
int	 store_run_end(struct store *, int64_t run, const char *status,
	    const struct store_run_stats *, const char *error, char **cause);

/* One Dublin Core value; element is the DC local name ("title", ...). */
struct store_dc {
	const char	*element;
	const char	*value;
	const char	*lang;		/* NULL when none */
};

/*
 * What store_put() works out from a record alone, with no database:
 * store_prepare() makes it, on any thread, so that the thread that writes
 * need not (see harvest/spool.c).  Strings are not NUL-terminated unless
 * said; they point into the store_prep (or a copy of them).
 */
struct store_prepared {
	uint64_t	 hash;		/* record.hash */
	const char	*sets_json;	/* record.sets */
	size_t		 sets_json_len;
	const char	*dc_json;	/* content.dc; NULL: no content row */
	size_t		 dc_json_len;
	const char	*tmpl;		/* the template; NULL: XML kept whole */
	size_t		 tmpl_len;
	uint64_t	 tmpl_hash;
	const char	*fts[4];	/* the full-text columns, NUL-ended */
	size_t		 fts_len[4];
};

struct store_record {
	const char		*prefix;
	const char		*identifier;
	const char		*datestamp;
	int			 deleted;
	const char *const	*sets;
	size_t			 nsets;
	const char		*metadata;	/* NULL for deleted records */
	size_t			 metadata_len;
	const struct store_dc	*dc;		/* in document order */
	size_t			 ndc;
	const char		*reason;	/* why, on the change row; NULL */
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
struct store_prep	*store_prep_new(void);
void			 store_prep_free(struct store_prep *);
/* -1 with *cause when store_put() would refuse the record. */
int	 store_prepare(struct store_prep *, const struct store_record *,
	    struct store_prepared *, char **cause);

enum store_change {
	STORE_UNCHANGED = 0,	/* nothing but maybe the datestamp moved */
	STORE_NEW,		/* unknown, or known as deleted, now present */
	STORE_UPDATED,		/* content (metadata, sets) changed */
	STORE_DELETED,		/* known and present, now deleted */
	STORE_TOMBSTONE,	/* deleted, never known present: kept, no
				   change (a first harvest's deleted headers) */
};

/* "new", "updated", "deleted"; NULL for STORE_UNCHANGED. */
const char	*store_change_name(enum store_change);

/* Page transactions (BEGIN IMMEDIATE ... COMMIT). */
int	 store_begin(struct store *, char **cause);
int	 store_commit(struct store *, char **cause);
void	 store_rollback(struct store *);

/*
 * Insert or update one record inside a page transaction and append its
 * change-log row when the content changed.  A content hash over deleted
 * flag, sets and metadata tells a real update from a datestamp bump.  A
 * deleted header for a record never seen is kept as a tombstone without a
 * change row (no consumer has it).
 */
int	 store_put(struct store *, int64_t source, int64_t run,
	    const struct store_record *, enum store_change *, char **cause);

/*
 * Per-list state; a list is (source, metadataPrefix, setSpec), setSpec ""
 * for the whole repository.  Strings are allocated; NULL when unset.
 */
struct store_list_state {
	char		*watermark;	/* high-water datestamp of the last
					   completed list */
	char		*token;		/* resumptionToken to resume with */
	char		*progress;	/* high-water datestamp so far */
	long long	 cursor;	/* -1 unknown */
	long long	 complete_list_size;	/* -1 unknown */
	long long	 pages;		/* pages committed in this list */
};

int	 store_list_get(struct store *, int64_t source, const char *prefix,
	    const char *set, struct store_list_state *, char **cause);
void	 store_list_state_free(struct store_list_state *);
/* Inside the page transaction: where to resume. token NULL: none. */
int	 store_list_checkpoint(struct store *, int64_t source,
	    const char *prefix, const char *set,
	    const struct store_list_state *, char **cause);
/*
 * Inside the page transaction of the last page: the list is complete; the
 * watermark moves to watermark (unless NULL: nothing was harvested) and the
 * token and progress are cleared.
 */
int	 store_list_complete(struct store *, int64_t source,
	    const char *prefix, const char *set, const char *watermark,
	    char **cause);

/*
 * Output for the CLI, as documented in the README.
 * export: JSON Lines, one record per line, ordered by source, prefix, id.
 * changes: JSON Lines with seq > since, at most limit rows (limit < 0: all);
 * *last (when not NULL) becomes the seq of the last row written.
 * status: a readable table per source.
 * source and prefix may be NULL (all).
 */
int	 store_export(struct store *, const char *source, const char *prefix,
	    FILE *, char **cause);
int	 store_changes(struct store *, int64_t since, int64_t limit, FILE *,
	    int64_t *last, char **cause);
int	 store_status(struct store *, FILE *, char **cause);
/*
 * Full-text search over title, creator, subject and description: JSON Lines
 * {source, identifier, prefix, datestamp, title, snippet, score}, best
 * first; source may be NULL (all).  The query is FTS5 query syntax when it
 * is valid syntax, else its words are searched as plain text (each the
 * phrase of its tokens; AND/OR/NOT between words, column: and a trailing *
 * kept): any text searches without an error.
 */
int	 store_search(struct store *, const char *query, const char *source,
	    long long limit, FILE *, char **cause);

/* For the daemon's status server. */
struct buf;
/* 0 when a write transaction can be had (or one is going on). */
int	 store_writable(struct store *, char **cause);
/* The newest change's seq (0: none), or -1. */
int64_t	 store_last_seq(struct store *);
/*
 * Append to b, for source name, the fields ,"repository":{...},
 * "records":{"present":N,"deleted":N},"lists":[{prefix, set, watermark,
 * in_progress, pages}, ...].
 */
int	 store_source_json(struct store *, const char *name, struct buf *,
	    char **cause);

/*
 * Feeds: the last seq a named consumer (the daemon's changes_log) has
 * written out; 0 when none.  Outside page transactions.
 */
int	 store_outbox_get(struct store *, const char *name, int64_t *seq,
	    char **cause);
int	 store_outbox_set(struct store *, const char *name, int64_t seq,
	    char **cause);

/*
 * Deletion sweeps (inside page transactions): mark each identifier a full
 * ListIdentifiers lists; when it completes, the present records it did
 * not list become deleted with the reason "vanished" (refused when more
 * than half would go).  swept_at: when the last sweep completed, or NULL.
 */
int	 store_sweep_mark(struct store *, int64_t source, const char *prefix,
	    const char *identifier, int64_t run, char **cause);
int	 store_sweep_finish(struct store *, int64_t source, const char *prefix,
	    int64_t run, const char *datestamp, long long *vanished,
	    char **cause);
int	 store_sweep_last(struct store *, int64_t source, const char *prefix,
	    char **swept_at, char **cause);
/* Start the sweep clock of a list never swept (outside transactions). */
int	 store_sweep_touch(struct store *, int64_t source, const char *prefix,
	    char **cause);

/*
 * A malformed record set aside, with its raw XML (raw may be NULL), for an
 * operator to inspect; inside the page transaction.
 */
int	 store_reject(struct store *, int64_t source, int64_t run,
	    const char *prefix, const char *identifier, const char *datestamp,
	    const char *cause_text, const char *raw, size_t raw_len,
	    int truncated, char **cause);

#endif
