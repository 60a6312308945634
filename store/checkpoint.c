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
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"
#include "checkpoint.h"

struct store_ckpt {
	sqlite3		*wdb;		/* the writer's connection */
	sqlite3		*db;		/* the checkpointer's own */
	int		 trigger;
	int		 step;
	int		 cap;
	pthread_t	 thread;
	pthread_mutex_t	 mtx;
	pthread_cond_t	 cv;		/* want or quit */
	pthread_cond_t	 idle;		/* a pass ended */
	int		 want;
	int		 running;
	int		 quit;
	int		 copied;	/* frames copied by the last pass */
	int		 last;		/* the WAL's length at the last commit */
	int		 txn;		/* the most frames a commit added since
					   the WAL started again */
	struct store_ckpt_stats stats;
};

/* At the cap, the WAL holds at least this many of the last transaction. */
#define CKPT_CAP_TXNS	4

static void	*ckpt_main(void *);
static int	 ckpt_hook(void *, sqlite3 *, const char *, int);
static void	 ckpt_done(struct store_ckpt *, int, int, const char *, int);

struct store_ckpt *
store_ckpt_start(sqlite3 *wdb, const char *path, int trigger, int step,
    int cap, char **cause)
{
	struct store_ckpt	*c;
	int			 rc;

	c = xcalloc(1, sizeof(*c));
	c->wdb = wdb;
	c->trigger = trigger;
	c->step = step > 0 ? step : 1;
	c->cap = cap > trigger ? cap : trigger + c->step;
	rc = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(c->db, "PRAGMA synchronous = NORMAL", NULL,
		    NULL, NULL);
	if (rc != SQLITE_OK) {
		xasprintf(cause, "store: checkpointer: open %s: %s", path,
		    c->db != NULL ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		sqlite3_close(c->db);
		free(c);
		return NULL;
	}
	pthread_mutex_init(&c->mtx, NULL);
	pthread_cond_init(&c->cv, NULL);
	pthread_cond_init(&c->idle, NULL);
	if ((rc = pthread_create(&c->thread, NULL, ckpt_main, c)) != 0) {
		xasprintf(cause, "store: checkpointer: %s", strerror(rc));
		pthread_cond_destroy(&c->idle);
		pthread_cond_destroy(&c->cv);
		pthread_mutex_destroy(&c->mtx);
		sqlite3_close(c->db);
		free(c);
		return NULL;
	}
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
	pthread_mutex_lock(&c->mtx);
	c->quit = 1;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mtx);
	/* A pass in progress finishes first. */
	pthread_join(c->thread, NULL);
	pthread_cond_destroy(&c->idle);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mtx);
	log_debug("store: checkpoints passes=%lld inline=%lld failed=%lld "
	    "max_wal_pages=%lld max_commit_pages=%lld", c->stats.passes,
	    c->stats.inline_passes, c->stats.failed, c->stats.max_frames,
	    c->stats.max_txn);
	if (sqlite3_close(c->db) != SQLITE_OK)
		log_err("store: checkpointer close: %s",
		    log_q(sqlite3_errmsg(c->db)));
	free(c);
}

void
store_ckpt_stats(struct store_ckpt *c, struct store_ckpt_stats *st)
{
	pthread_mutex_lock(&c->mtx);
	*st = c->stats;
	pthread_mutex_unlock(&c->mtx);
}

static void *
ckpt_main(void *arg)
{
	struct store_ckpt	*c = arg;
	char			 err[256];
	int			 rc, nlog, ncopied;

	pthread_mutex_lock(&c->mtx);
	for (;;) {
		while (!c->want && !c->quit)
			pthread_cond_wait(&c->cv, &c->mtx);
		if (c->quit)
			break;
		c->want = 0;
		c->running = 1;
		pthread_mutex_unlock(&c->mtx);

		nlog = ncopied = -1;
		rc = sqlite3_wal_checkpoint_v2(c->db, "main",
		    SQLITE_CHECKPOINT_PASSIVE, &nlog, &ncopied);
		err[0] = '\0';
		if (rc != SQLITE_OK)
			snprintf(err, sizeof(err), "%s", sqlite3_errmsg(c->db));

		pthread_mutex_lock(&c->mtx);
		c->running = 0;
		c->stats.passes++;
		ckpt_done(c, rc, ncopied, err, 0);
		pthread_cond_broadcast(&c->idle);
	}
	pthread_mutex_unlock(&c->mtx);
	return NULL;
}

/* With the mutex held: count a pass that ended with rc. */
static void
ckpt_done(struct store_ckpt *c, int rc, int ncopied, const char *err,
    int inline_pass)
{
	if (rc == SQLITE_OK) {
		if (ncopied >= 0)
			c->copied = ncopied;
		return;
	}
	c->stats.failed++;
	/* BUSY: another connection was checkpointing; the next pass goes on. */
	if (rc == SQLITE_BUSY)
		log_debug("store: checkpoint busy inline=%d", inline_pass);
	else
		log_warn("store: checkpoint inline=%d error=%s", inline_pass,
		    log_q(err));
}

/*
 * After each commit on the writer's connection, with the WAL's length in
 * pages; the write lock is already released.
 */
static int
ckpt_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct store_ckpt	*c = arg;
	char			 err[256];
	int			 rc, nlog, ncopied;

	pthread_mutex_lock(&c->mtx);
	if (frames > c->stats.max_frames)
		c->stats.max_frames = frames;
	if (frames <= c->last) {	/* the WAL started again */
		c->copied = 0;
		c->txn = frames;
	} else if (frames - c->last > c->txn)
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
		if (frames >= c->trigger && frames - c->copied >= c->step &&
		    !c->running && !c->want) {
			c->want = 1;
			pthread_cond_signal(&c->cv);
		}
		pthread_mutex_unlock(&c->mtx);
		return SQLITE_OK;
	}
	/* At the cap: copy the rest here, then the WAL can start again. */
	while (c->running)
		pthread_cond_wait(&c->idle, &c->mtx);
	c->want = 0;
	pthread_mutex_unlock(&c->mtx);

	nlog = ncopied = -1;
	rc = sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE,
	    &nlog, &ncopied);
	err[0] = '\0';
	if (rc != SQLITE_OK)
		snprintf(err, sizeof(err), "%s", sqlite3_errmsg(db));

	pthread_mutex_lock(&c->mtx);
	c->stats.inline_passes++;
	ckpt_done(c, rc, ncopied, err, 1);
	pthread_mutex_unlock(&c->mtx);
	return SQLITE_OK;
}
