/*
 * The page writer (see page.h): a queue of pages and calls, a thread that
 * writes a whole queue at a time on a connection of its own, and an
 * eventfd that brings each written batch back to the event loop.  Nothing
 * is shared with the thread while it works: a batch is the thread's from
 * writer_submit() until on_written() (or store_pages_wait()) takes it back.
 */
#include <sys/eventfd.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "oh_limits.h"
#include "page.h"
#include "spool.h"
#include "util.h"
#include "writer.h"

/* Spools kept for the next pages (each a few KiB to SPOOL_MEM_BYTES). */
#define SPARE_SPOOLS 4

/* A page or a call, queued. */
struct item {
	struct store_page *page; /* NULL: a call */
	int (*fn)(struct store *, void *, char **);
	store_page_done_cb	 page_done;
	store_call_done_cb	 call_done;
	void			*arg;
	size_t			 nrecords;
	struct store_page_result res;
	char			*cause;
};

/* Items written by the thread in one go, in order. */
struct batch {
	struct store *s;
	int	      wfd; /* the eventfd */
	struct item  *items;
	size_t	      n;
	size_t	      cap;
	size_t	      records;
	size_t	      pages;
};

struct store_pages {
	struct store  *s;	 /* the writer's connection */
	struct writer *writer;	 /* NULL: batches written inline */
	struct batch  *inflight; /* with the thread, or NULL */
	struct batch  *open;	 /* queued behind it */
	int	       wfd;	 /* eventfd: a batch is written */
	struct event  *wev;
	struct spool  *spare[SPARE_SPOOLS];
	size_t	       nspare;
	/*
	 * The loop makes what the backend's full-text index takes of a page's
	 * records (store_fts_maker_new()), off the writer's thread, while
	 * most records of the last pages written were new or updated: a
	 * re-harvest's unchanged records need nothing made.
	 */
	struct store_fts_maker *fts; /* NULL: the writer makes it */
	int			fts_on;
};

static struct item *queue_item(struct store_pages *);
static void	    pump(struct store_pages *);
static void	    batch_free(struct batch *);
static void	    batch_write(void *);
static void	    batch_back(struct store_pages *, struct batch *);
static void	    on_written(evutil_socket_t, short, void *);
static void	    fts_adapt(struct store_pages *, const struct batch *);
static int	    is_list_page(const struct item *);

struct store_pages *
store_pages_new(struct store *s, struct event_base *base, char **cause)
{
	struct store_pages *sp;
	char		   *ckcause = NULL;

	sp = xcalloc(1, sizeof(*sp));
	sp->wfd = -1;
	if ((sp->s = store_open(store_path(s), STORE_TRAIL, cause)) == NULL) {
		free(sp);
		return NULL;
	}
	/*
	 * The writer should not wait for checkpoints; without a
	 * checkpointer, its commits checkpoint as SQLite's do.
	 */
	if (store_checkpoint_async(sp->s, 0, 0, 0, &ckcause) == -1) {
		log_warn("event=checkpoint_error cause=%s", log_q(ckcause));
		free(ckcause);
	}
	if ((sp->fts = store_fts_maker_new(sp->s, &ckcause)) == NULL &&
	    ckcause != NULL) {
		log_warn("event=fts_maker_error cause=%s", log_q(ckcause));
		free(ckcause);
	}
	sp->fts_on = 1;
	if ((sp->wfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1 ||
	    (sp->wev = event_new(base, sp->wfd, EV_READ | EV_PERSIST,
		 on_written, sp)) == NULL ||
	    event_add(sp->wev, NULL) == -1) {
		xasprintf(cause, "harvest: page writer: %s", strerror(errno));
		store_pages_free(sp);
		return NULL;
	}
	sp->writer = writer_new();
	return sp;
}

void
store_pages_free(struct store_pages *sp)
{
	size_t i;

	if (sp == NULL)
		return;
	/* Jobs see their pages written when they end; this is for safety. */
	writer_wait(sp->writer);
	batch_free(sp->inflight);
	batch_free(sp->open);
	writer_free(sp->writer);
	if (sp->wev != NULL)
		event_free(sp->wev);
	if (sp->wfd != -1)
		close(sp->wfd);
	store_close(sp->s);
	for (i = 0; i < sp->nspare; i++)
		spool_free(sp->spare[i]);
	store_fts_maker_free(sp->fts);
	free(sp);
}

struct store_page *
store_page_new(enum store_page_kind kind, int64_t source, int64_t run,
    const char *prefix, const char *set)
{
	struct store_page *p;

	p = xcalloc(1, sizeof(*p));
	p->kind = kind;
	p->source = source;
	p->run = run;
	p->prefix = xstrdup(prefix);
	p->set = xstrdup(set != NULL ? set : "");
	p->list.cursor = -1;
	p->list.complete_list_size = -1;
	return p;
}

void
store_page_rejects_free(struct store_page_reject *r, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(r[i].identifier);
		free(r[i].datestamp);
		free(r[i].cause);
		free(r[i].raw);
	}
	free(r);
}

void
store_page_free(struct store_page *p)
{
	if (p == NULL)
		return;
	free(p->prefix);
	free(p->set);
	spool_free(p->spool);
	store_page_rejects_free(p->rejects, p->nrejects);
	store_list_state_free(&p->list);
	free(p->swept_at);
	free(p->lease);
	free(p);
}

/*
 * A page's spool keeps its records in memory while the queue is short; a
 * page that will wait behind STORE_PAGES_MEM_RECORDS queued records keeps
 * them in its temporary file (the kernel's page cache, not this process's
 * memory), so that the queue can grow while the writer catches up (a
 * flush of the full-text index, a checkpoint's fsync) without the
 * harvester's memory growing with it.
 */
struct spool *
store_pages_spool(struct store_pages *sp)
{
	struct spool *s;
	size_t	      queued;

	queued = sp->open != NULL ? sp->open->records : 0;
	s = sp->nspare > 0 ? sp->spare[--sp->nspare] :
			     spool_new(SPOOL_MEM_BYTES);
	spool_set_mem_max(s,
	    queued >= STORE_PAGES_MEM_RECORDS ? SPOOL_QUEUED_MEM_BYTES :
						SPOOL_MEM_BYTES);
	spool_set_fts(s, sp->fts_on ? sp->fts : NULL);
	return s;
}

/* A new item at the end of the open batch. */
static struct item *
queue_item(struct store_pages *sp)
{
	struct batch *b;
	struct item  *it;

	if ((b = sp->open) == NULL) {
		b = sp->open = xcalloc(1, sizeof(*b));
		b->s = sp->s;
		b->wfd = sp->wfd;
	}
	if (b->n == b->cap) {
		b->cap = b->cap == 0 ? 8 : b->cap * 2;
		b->items = xreallocarray(b->items, b->cap, sizeof(*b->items));
	}
	it = &b->items[b->n++];
	memset(it, 0, sizeof(*it));
	return it;
}

void
store_page_submit(struct store_pages *sp, struct store_page *p,
    store_page_done_cb done, void *arg)
{
	struct item *it;

	it = queue_item(sp);
	it->page = p;
	it->page_done = done;
	it->arg = arg;
	it->nrecords = p->spool != NULL ? spool_count(p->spool) : 0;
	sp->open->records += it->nrecords;
	sp->open->pages++;
	pump(sp);
}

void
store_pages_call(struct store_pages *sp,
    int (*fn)(struct store *, void *, char **), store_call_done_cb done,
    void *arg)
{
	struct item *it;

	it = queue_item(sp);
	it->fn = fn;
	it->call_done = done;
	it->arg = arg;
	pump(sp);
}

int
store_pages_full(const struct store_pages *sp)
{
	return sp->open != NULL && sp->open->records >= STORE_PAGES_MAX_RECORDS;
}

/* Hand the open batch to the thread if it is free. */
static void
pump(struct store_pages *sp)
{
	if (sp->inflight != NULL || sp->open == NULL)
		return;
	sp->inflight = sp->open;
	sp->open = NULL;
	writer_submit(sp->writer, batch_write, sp->inflight);
}

struct store *
store_pages_wait(struct store_pages *sp)
{
	struct batch *b;
	uint64_t      n;

	while (sp->inflight != NULL) {
		writer_wait(sp->writer);
		/* Its wake-up is for this batch, taken back here. */
		if (read(sp->wfd, &n, sizeof(n)) == -1) {
			/* Not written yet, or read by on_written(). */
		}
		b = sp->inflight;
		sp->inflight = NULL;
		batch_back(sp, b);
	}
	return sp->s;
}

/* The thread finished a batch: take it back and hand it the next. */
static void
on_written(evutil_socket_t fd, short what, void *arg)
{
	struct store_pages *sp = arg;
	struct batch	   *b;
	uint64_t	    n;

	/*
	 * Nothing to read: store_pages_wait() took the batch back since the
	 * loop saw the eventfd ready.
	 */
	if (read(fd, &n, sizeof(n)) == -1) {
		if (errno != EAGAIN)
			log_warn("event=page_writer_error op=eventfd cause=%s",
			    log_q(strerror(errno)));
		return;
	}
	if ((b = sp->inflight) == NULL)
		return;
	/* The thread wrote the eventfd last: this is its return. */
	writer_wait(sp->writer);
	sp->inflight = NULL;
	batch_back(sp, b);
}

static void
batch_free(struct batch *b)
{
	size_t i;

	if (b == NULL)
		return;
	for (i = 0; i < b->n; i++) {
		store_page_free(b->items[i].page);
		free(b->items[i].cause);
	}
	free(b->items);
	free(b);
}

/* The writer's thread */

/* A record of a page being written: stored and counted. */
struct put_ctx {
	struct store *s;
	struct item  *it;
	char	     *cause;
};

static int
item_put(void *arg, const struct store_record *r)
{
	struct put_ctx	       *c = arg;
	struct store_page      *p = c->it->page;
	struct store_run_stats *st = &c->it->res.stats;
	enum store_change	kind;
	struct store_record	rec = *r;

	rec.prefix = p->prefix;
	if (store_put(c->s, p->source, p->run, &rec, &kind, &c->cause) == -1)
		return -1;
	st->records++;
	switch (kind) {
	case STORE_NEW:
		st->new_records++;
		break;
	case STORE_UPDATED:
		st->updated++;
		break;
	case STORE_DELETED:
		st->deleted++;
		break;
	case STORE_UNCHANGED:
		st->unchanged++;
		break;
	case STORE_TOMBSTONE:
		st->tombstones++;
		break;
	}
	return 0;
}

/*
 * Inside the page's transaction: is the page's host lease still the one
 * it was harvested under?  0 when it is (or the page has none), 1 with
 * *cause when not, -1 with *cause when the store cannot say.  A daemon
 * paused past its lease, whose host another took over, must not write.
 */
static int
lease_fence(struct store *s, const struct store_page *p, char **cause)
{
	int rc;

	if (p->lease == NULL)
		return 0;
	if ((rc = store_lease_held(s, p->lease, p->lease_gen, cause)) == 1)
		return 0;
	if (rc == -1)
		return -1;
	xasprintf(cause, "lease of %s lost", p->lease);
	return 1;
}

/* A page's identifiers, for a backend that looks them up at once. */
struct ids_ctx {
	char **ids;
	size_t n, cap;
};

static int
item_id(void *arg, const struct store_record *r)
{
	struct ids_ctx *c = arg;

	if (r->identifier == NULL)
		return 0;
	if (c->n == c->cap) {
		c->cap = c->cap == 0 ? 128 : c->cap * 2;
		c->ids = xreallocarray(c->ids, c->cap, sizeof(*c->ids));
	}
	c->ids[c->n++] = xstrdup(r->identifier);
	return 0;
}

/*
 * Whether list page b may be looked up with a (the page before it in the
 * batch): the same source and prefix, after no list's end (whose
 * statements may change records).
 */
static int
prefetch_joins(const struct item *a, const struct item *b)
{
	return is_list_page(b) && b->page->spool != NULL &&
	    a->page->kind != STORE_PAGE_COMPLETE &&
	    b->page->source == a->page->source &&
	    strcmp(b->page->prefix, a->page->prefix) == 0;
}

/*
 * Look the records of list pages k.. of b up at once, for a backend that
 * looks them up (store_put_prefetches()): as many pages as join page k,
 * in one round trip instead of one a page.  A record listed on two of
 * them goes the slow way, as one listed twice on a page does.  The index
 * past the last page looked up.
 */
static size_t
prefetch(struct store *s, const struct batch *b, size_t k, char **cause)
{
	struct ids_ctx c;
	size_t	       i, e;
	int	       rc = 0;

	memset(&c, 0, sizeof(c));
	for (e = k; rc == 0 && e < b->n; e++) {
		if (e > k && !prefetch_joins(&b->items[e - 1], &b->items[e]))
			break;
		rc = spool_replay(b->items[e].page->spool, item_id, &c, cause);
	}
	if (rc == 0)
		rc = store_put_prefetch(s, b->items[k].page->source,
		    b->items[k].page->prefix, (const char *const *)c.ids, c.n,
		    cause);
	for (i = 0; i < c.n; i++)
		free(c.ids[i]);
	free(c.ids);
	return rc == 0 ? e : 0;
}

/* A list page's records, rejects and checkpoint, inside a transaction. */
static int
write_list_page(struct store *s, struct item *it, char **cause)
{
	struct store_page *p = it->page;
	struct put_ctx	   c;
	size_t		   i;

	memset(&c, 0, sizeof(c));
	c.s = s;
	c.it = it;
	if (p->spool != NULL &&
	    spool_replay(p->spool, item_put, &c, cause) == -1) {
		if (*cause == NULL)
			*cause = c.cause;
		else
			free(c.cause);
		return -1;
	}
	for (i = 0; i < p->nrejects; i++)
		if (store_reject(s, p->source, p->run, p->prefix,
			p->rejects[i].identifier, p->rejects[i].datestamp,
			p->rejects[i].cause, p->rejects[i].raw,
			p->rejects[i].raw_len, p->rejects[i].truncated,
			cause) == -1)
			return -1;
	if (p->kind == STORE_PAGE_CHECKPOINT)
		return store_list_checkpoint(
		    s, p->source, p->prefix, p->set, &p->list, cause);
	return store_list_complete(
	    s, p->source, p->prefix, p->set, p->list.watermark, cause);
}

struct mark_ctx {
	struct store	  *s;
	struct store_page *p;
	char		  *cause;
};

static int
mark_record(void *arg, const struct store_record *r)
{
	struct mark_ctx *c = arg;

	if (r->deleted || r->identifier == NULL)
		return 0;
	return store_sweep_mark(c->s, c->p->source, c->p->prefix, r->identifier,
	    c->p->run, &c->cause);
}

/*
 * A page of a deletion sweep, in a transaction of its own: mark what it
 * lists; at the sweep's end, the records it did not list have vanished
 * from a repository that keeps no deletions.  A partial list must not
 * delete: an end refused rolls the page back, and the harvest stands.
 */
static void
write_sweep_page(struct store *s, struct item *it)
{
	struct store_page *p = it->page;
	struct mark_ctx	   c;
	char		  *cause = NULL;

	memset(&c, 0, sizeof(c));
	c.s = s;
	c.p = p;
	if (store_begin(s, &cause) == -1)
		goto fail;
	if (lease_fence(s, p, &cause) != 0)
		goto rollback;
	if (p->spool != NULL &&
	    spool_replay(p->spool, mark_record, &c, &cause) == -1) {
		if (cause == NULL) {
			cause = c.cause;
			c.cause = NULL;
		}
		goto rollback;
	}
	if (p->sweep_finish &&
	    store_sweep_finish(s, p->source, p->prefix, p->run, p->swept_at,
		&it->res.vanished, &cause) == -1) {
		store_rollback(s);
		it->res.refused = 1;
		goto fail;
	}
	if (store_commit(s, &cause) == -1)
		goto rollback;
	free(c.cause);
	return;
rollback:
	store_rollback(s);
fail:
	free(c.cause);
	it->cause = cause != NULL ? cause : xstrdup("store failed");
}

static int
is_list_page(const struct item *it)
{
	return it->page != NULL && it->page->kind != STORE_PAGE_SWEEP;
}

/* The list pages first..end-1 are lost with the transaction. */
static void
txn_fail(struct batch *b, size_t first, size_t end, char **failed, char *cause)
{
	size_t i;

	*failed = cause != NULL ? cause : xstrdup("store failed");
	for (i = first; i < end; i++)
		if (is_list_page(&b->items[i]) && b->items[i].cause == NULL)
			b->items[i].cause = xstrdup(*failed);
}

/*
 * Write a batch, on the thread: its list pages in one transaction, ended
 * early by a call or a sweep page (each outside it).  Once a transaction
 * fails, no later list page of the batch is written: each fails with the
 * same cause.
 */
static void
batch_write(void *arg)
{
	struct batch *b = arg;
	struct item  *it;
	char	     *cause = NULL, *failed = NULL;
	uint64_t      one = 1;
	size_t	      k, first = 0, fetched = 0;
	int	      intxn = 0, rc, pf;

	pf = store_put_prefetches(b->s);

	for (k = 0; k < b->n; k++) {
		it = &b->items[k];
		if (is_list_page(it)) {
			if (failed != NULL) {
				it->cause = xstrdup(failed);
				continue;
			}
			if (!intxn) {
				if (store_begin(b->s, &cause) == -1) {
					txn_fail(b, k, k + 1, &failed, cause);
					cause = NULL;
					continue;
				}
				intxn = 1;
				first = k;
			}
			/*
			 * A page whose lease is lost fails alone: nothing of
			 * it is written, the others of the batch are.
			 */
			if ((rc = lease_fence(b->s, it->page, &cause)) == 1) {
				it->cause = cause;
				cause = NULL;
				continue;
			}
			if (rc == -1) {
				store_rollback(b->s);
				intxn = 0;
				txn_fail(b, first, k + 1, &failed, cause);
				cause = NULL;
				continue;
			}
			/* This page and those that join it, if not yet. */
			if (pf && k >= fetched && it->page->spool != NULL &&
			    (fetched = prefetch(b->s, b, k, &cause)) == 0) {
				store_rollback(b->s);
				intxn = 0;
				txn_fail(b, first, k + 1, &failed, cause);
				cause = NULL;
				continue;
			}
			if (write_list_page(b->s, it, &cause) == -1) {
				store_rollback(b->s);
				intxn = 0;
				txn_fail(b, first, k + 1, &failed, cause);
				cause = NULL;
			}
			continue;
		}
		if (intxn) {
			intxn = 0;
			if (store_commit(b->s, &cause) == -1) {
				store_rollback(b->s);
				txn_fail(b, first, k, &failed, cause);
				cause = NULL;
			}
		}
		if (it->page != NULL)
			write_sweep_page(b->s, it);
		else if (it->fn(b->s, it->arg, &cause) == -1) {
			it->cause =
			    cause != NULL ? cause : xstrdup("store failed");
			cause = NULL;
		}
	}
	if (intxn && store_commit(b->s, &cause) == -1) {
		store_rollback(b->s);
		txn_fail(b, first, b->n, &failed, cause);
	}
	free(failed);
	/* Wake the event loop, which takes the batch back (on_written). */
	if (write(b->wfd, &one, sizeof(one)) == -1) {
		/* The counter cannot overflow here; nothing to do. */
	}
}

/* Back on the loop */

static void
item_done(struct store_pages *sp, struct item *it, size_t batch)
{
	struct store_page *p = it->page;

	if (p == NULL) {
		it->call_done(it->arg, it->cause);
		return;
	}
	it->res.page = p;
	it->res.cause = it->cause;
	it->res.batch = batch;
	it->page_done(it->arg, &it->res);
	/* Its spool, emptied, for a next page. */
	if (p->spool != NULL && sp->nspare < SPARE_SPOOLS) {
		spool_reset(p->spool);
		sp->spare[sp->nspare++] = p->spool;
		p->spool = NULL;
	}
}

/*
 * The callers of a page that failed lose their later queued pages too
 * (done with the same cause): nothing after a lost page may be written.
 * Taken out of the open batch before it goes to the thread.
 */
static struct batch *
batch_drop(struct store_pages *sp, struct batch *b)
{
	struct batch *o = sp->open, *drop;
	struct item  *it;
	size_t	      i, k, n;

	drop = xcalloc(1, sizeof(*drop));
	for (i = 0; o != NULL && i < b->n; i++) {
		it = &b->items[i];
		if (!is_list_page(it) || it->cause == NULL)
			continue;
		for (k = n = 0; k < o->n; k++) {
			if (!is_list_page(&o->items[k]) ||
			    o->items[k].arg != it->arg) {
				o->items[n++] = o->items[k];
				continue;
			}
			o->records -= o->items[k].nrecords;
			o->pages--;
			if (drop->n == drop->cap) {
				drop->cap = drop->cap == 0 ? 8 : drop->cap * 2;
				drop->items = xreallocarray(drop->items,
				    drop->cap, sizeof(*drop->items));
			}
			drop->items[drop->n] = o->items[k];
			drop->items[drop->n++].cause = xstrdup(it->cause);
		}
		o->n = n;
	}
	if (o != NULL && o->n == 0) {
		batch_free(o);
		sp->open = NULL;
	}
	return drop;
}

/* Make fts_doc on the loop while most records written have new content. */
static void
fts_adapt(struct store_pages *sp, const struct batch *b)
{
	const struct store_run_stats *st;
	long long		      changed = 0, seen = 0;
	size_t			      i;

	for (i = 0; i < b->n; i++) {
		if (b->items[i].page == NULL || b->items[i].cause != NULL)
			continue;
		st = &b->items[i].res.stats;
		changed += st->new_records + st->updated;
		seen += st->new_records + st->updated + st->unchanged;
	}
	if (seen > 0)
		sp->fts_on = changed * 2 >= seen;
}

/*
 * A batch is back from the thread: the next one goes to it, then what the
 * thread did goes to each item's caller, in order (so that a caller told
 * its page is written finds the queue short again).
 */
static void
batch_back(struct store_pages *sp, struct batch *b)
{
	struct batch *drop;
	size_t	      i;

	drop = batch_drop(sp, b);
	fts_adapt(sp, b);
	pump(sp);
	for (i = 0; i < b->n; i++)
		item_done(sp, &b->items[i], b->pages);
	for (i = 0; i < drop->n; i++)
		item_done(sp, &drop->items[i], 0);
	batch_free(b);
	batch_free(drop);
}
