/*
 * WAL checkpoints on a thread of their own.
 *
 * In WAL mode every committed page is appended to the -wal file and later
 * copied into the database by a checkpoint, which with synchronous=NORMAL
 * fsyncs the WAL before the copy and the database after it.  SQLite runs
 * it on the connection that commits, at the end of the commit that takes
 * the WAL past wal_autocheckpoint pages: the page writer then waited for
 * the copy and both fsyncs, some 0.7 s of a 4 s harvest of 100,000 records
 * (make bench with synchronous=OFF: 3.1 s against 3.8).
 *
 * Here a second connection checkpoints on its own thread while the writer
 * goes on: a checkpoint and a writer can run together, and a PASSIVE
 * checkpoint never waits for either.  The catch is that the WAL starts
 * again from its beginning only when a writer begins a transaction with
 * every frame already copied; a writer that never pauses never sees that,
 * so the WAL would grow for as long as the harvest lasts.  So the writer's
 * commit hook asks for a background pass every `step` pages once the WAL
 * holds `trigger`, and at `cap` pages runs the last pass itself, before
 * its next transaction: by then the background passes have copied (and
 * synced) all but the last few pages, so that pass is short, and the next
 * transaction starts the WAL again.  A crash at any point leaves what
 * SQLite's own checkpoints leave: the WAL is the truth until copied.
 */
#include <stdlib.h>

#include "log.h"
#include "util.h"
#include "writer.h"
#include "checkpoint.h"

/* At the cap, the WAL holds at least this many of the biggest commit. */
#define CKPT_CAP_TXNS 4

/*
 * The committing thread owns everything here.  A pass on the writer's
 * thread writes copied and the stats; the committing thread reads them
 * only once writer_busy() says 0 or after writer_wait(), which order the
 * two.
 */
struct store_ckpt {
	sqlite3		       *wdb; /* the writer's connection */
	sqlite3		       *db;  /* the checkpointer's own */
	struct writer	       *w;   /* its thread (NULL: passes inline) */
	int			trigger;
	int			step;
	int			cap;
	int			copied; /* frames copied by the last pass */
	int			last; /* the WAL's length at the last commit */
	int			txn;  /* the most frames a commit added since
					   the WAL started again */
	struct store_ckpt_stats stats;
	long long		commits;  /* seen by the hook */
	long long		appended; /* frames they added to the WAL */
};

static void ckpt_pass(void *);
static void ckpt_run(struct store_ckpt *, sqlite3 *, int);
static int  ckpt_hook(void *, sqlite3 *, const char *, int);

struct store_ckpt *
store_ckpt_start(sqlite3 *wdb, const char *path, int trigger, int step, int cap,
    char **cause)
{
	struct store_ckpt *c;
	int		   rc;

	c = xcalloc(1, sizeof(*c));
	c->wdb = wdb;
	c->trigger = trigger;
	c->step = step > 0 ? step : 1;
	c->cap = cap > trigger ? cap : trigger + c->step;
	rc = sqlite3_open_v2(
	    path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(
		    c->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		xasprintf(cause, "store: checkpointer: open %s: %s", path,
		    c->db != NULL ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		sqlite3_close(c->db);
		free(c);
		return NULL;
	}
	c->w = writer_new();
	/* This replaces SQLite's own wal_autocheckpoint hook. */
	sqlite3_wal_hook(wdb, ckpt_hook, c);
	return c;
}

void
store_ckpt_stop(struct store_ckpt *c)
{
	if (c == NULL)
		return;
	sqlite3_wal_autocheckpoint(c->wdb, c->trigger);
	/* A pass in progress finishes first. */
	writer_free(c->w);
	log_debug("event=checkpoint_stats passes=%lld inline=%lld failed=%lld "
		  "max_wal_pages=%lld max_commit_pages=%lld commits=%lld "
		  "wal_pages=%lld",
	    c->stats.passes, c->stats.inline_passes, c->stats.failed,
	    c->stats.max_frames, c->stats.max_txn, c->commits, c->appended);
	if (sqlite3_close(c->db) != SQLITE_OK)
		log_err("event=store_error op=checkpointer_close cause=%s",
		    log_q(sqlite3_errmsg(c->db)));
	free(c);
}

void
store_ckpt_stats(struct store_ckpt *c, struct store_ckpt_stats *st)
{
	writer_wait(c->w);
	*st = c->stats;
}

/* On the writer's thread. */
static void
ckpt_pass(void *arg)
{
	struct store_ckpt *c = arg;

	ckpt_run(c, c->db, 0);
}

/* A PASSIVE pass on db: it copies what it can and waits for no one. */
static void
ckpt_run(struct store_ckpt *c, sqlite3 *db, int inline_pass)
{
	int rc, nlog = -1, ncopied = -1;

	rc = sqlite3_wal_checkpoint_v2(
	    db, "main", SQLITE_CHECKPOINT_PASSIVE, &nlog, &ncopied);
	if (inline_pass)
		c->stats.inline_passes++;
	else
		c->stats.passes++;
	if (rc == SQLITE_OK) {
		if (ncopied >= 0)
			c->copied = ncopied;
		return;
	}
	c->stats.failed++;
	/* BUSY: another connection was checkpointing; the next pass goes on. */
	if (rc == SQLITE_BUSY)
		log_debug("event=checkpoint_busy inline=%d", inline_pass);
	else
		log_warn("event=checkpoint_error inline=%d error=%s",
		    inline_pass, log_q(sqlite3_errmsg(db)));
}

/*
 * After each commit on the writer's connection, with the WAL's length in
 * pages; the write lock is already released.
 */
static int
ckpt_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct store_ckpt *c = arg;

	if (frames > c->stats.max_frames)
		c->stats.max_frames = frames;
	c->commits++;
	c->appended += frames > c->last ? frames - c->last : frames;
	if (frames <= c->last) /* the WAL started again */
		c->txn = frames;
	else if (frames - c->last > c->txn)
		c->txn = frames - c->last;
	c->last = frames;
	if (c->txn > c->stats.max_txn)
		c->stats.max_txn = c->txn;
	/*
	 * What the writer copies itself is about one transaction's frames:
	 * with big ones (pages of 10,000 records: 4,000 frames) the cap
	 * stretches to four of the biggest since the WAL started again, so
	 * that this stays about a quarter at most.
	 */
	if (frames < c->cap || frames < CKPT_CAP_TXNS * c->txn) {
		if (frames < c->trigger || writer_busy(c->w))
			return SQLITE_OK;
		if (c->copied > frames) /* the WAL started again */
			c->copied = 0;
		if (frames - c->copied >= c->step)
			writer_submit(c->w, ckpt_pass, c);
		return SQLITE_OK;
	}
	/* At the cap: copy the rest here, then the WAL can start again. */
	writer_wait(c->w);
	ckpt_run(c, db, 1);
	return SQLITE_OK;
}
