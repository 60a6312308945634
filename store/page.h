/*
 * The page writer: the store's side of a harvest.  Harvest hands it whole
 * pages (a list page's records, rejects and checkpoint or completion; a
 * deletion sweep's page of identifiers) and gets a completion callback on
 * the event loop; it never begins or commits a transaction, and the loop
 * never waits for the writer (but in store_pages_wait()).
 *
 * Pages are written by a thread with a connection of its own, while the
 * loop fetches and parses the next ones.  They queue in order; when the
 * thread is free it takes the whole queue and writes it in one
 * transaction, each page with its checkpoint, so that the database stops
 * only at a page's end.  When the thread is the slower, the queue grows
 * and each commit's fixed cost (the full-text index's flush above all) is
 * shared; past STORE_PAGES_MAX_RECORDS, store_pages_full() tells harvest to
 * stop fetching until a completion comes.  A batch that fails fails every
 * page in it and the later queued pages of the same callers (done's arg):
 * nothing after a lost page is written.
 *
 * Built on the public store.h only.
 */
#ifndef OH_PAGE_H
#define OH_PAGE_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct event_base;
struct spool;
struct store_pages;

/* A queue stops growing at this many records: see store_pages_full(). */
#define STORE_PAGES_MAX_RECORDS 800
/* Past this many queued, a new page's records wait in a file (page.c). */
#define STORE_PAGES_MEM_RECORDS 200
/* What such a page's spool keeps in memory at most. */
#define SPOOL_QUEUED_MEM_BYTES (64 * 1024)

/* A malformed record set aside, written with its page. */
struct store_page_reject {
	char  *identifier;
	char  *datestamp;
	char  *cause;
	char  *raw;
	size_t raw_len;
	int    truncated;
};

enum store_page_kind {
	STORE_PAGE_CHECKPOINT, /* a list page, the list goes on */
	STORE_PAGE_COMPLETE,   /* a list's last page */
	STORE_PAGE_SWEEP,      /* a deletion sweep's page */
};

/*
 * One page; store_page_submit() takes it, and frees it after done.  The
 * strings are allocated; list.watermark is the next from of a complete
 * list (NULL: none), list.token ... list.pages a checkpoint's.
 */
struct store_page {
	enum store_page_kind	  kind;
	int64_t			  source;
	int64_t			  run;
	char			 *prefix;
	char			 *set;
	struct spool		 *spool; /* records (sweep: headers) */
	struct store_page_reject *rejects;
	size_t			  nrejects;
	struct store_list_state	  list;
	/* A sweep's last page: finish it, as of this datestamp. */
	int   sweep_finish;
	char *swept_at;
	/*
	 * Several daemons: the host lease the page was harvested under and
	 * its gen (store_lease_held()); the page is written only while the
	 * lease is the same, else it fails.  NULL: none.
	 */
	char   *lease;
	int64_t lease_gen;
};

/* What writing a page did; valid during the done callback. */
struct store_page_result {
	const struct store_page *page;
	const char		*cause; /* NULL: written */
	/*
	 * A sweep's end was refused (more than half would go, say):
	 * nothing of the page was written; cause says why.
	 */
	int		       refused;
	struct store_run_stats stats;	 /* the page's records */
	long long	       vanished; /* a sweep's end */
	size_t		       batch;	 /* pages in its transaction */
};

typedef void (*store_page_done_cb)(void *, const struct store_page_result *);
typedef void (*store_call_done_cb)(void *, const char *cause);

/*
 * The writer for the database store is open on (a connection of its own
 * to the same file), with completions on base.
 */
struct store_pages *store_pages_new(
    struct store *, struct event_base *, char **cause);
/* Waits for the batch in hand; what is queued is dropped, done not called. */
void store_pages_free(struct store_pages *);

/* A page with the strings copied (set NULL: ""), its spool not yet set. */
struct store_page *store_page_new(enum store_page_kind, int64_t source,
    int64_t run, const char *prefix, const char *set);
void		   store_page_free(struct store_page *);
void		   store_page_rejects_free(struct store_page_reject *, size_t);

/* Queue a page to be written after everything queued before it. */
void store_page_submit(
    struct store_pages *, struct store_page *, store_page_done_cb, void *);
/*
 * Run fn with the writer's connection after everything queued before it,
 * outside a page transaction, and call done with its cause (NULL: it
 * returned 0) on the loop.  fn runs on the writer's thread: it may touch
 * only arg, which the caller leaves alone until done.
 */
void store_pages_call(struct store_pages *,
    int (*fn)(struct store *, void *, char **), store_call_done_cb, void *);
/* Whether the queue is past STORE_PAGES_MAX_RECORDS. */
int store_pages_full(const struct store_pages *);
/*
 * Write everything queued, deliver its completions (here, before this
 * returns), and return the connection for the caller's own use until its
 * next submit.  For what cannot wait for a callback: a job's start, a
 * cancel, shutdown.
 */
struct store *store_pages_wait(struct store_pages *);
/*
 * An empty spool for a page (one given back after a page was written, or
 * new); spool_free() it, or let a submitted page take it.
 */
struct spool *store_pages_spool(struct store_pages *);

#endif
