/*
 * Private to store/: WAL checkpoints on a thread of their own
 * (checkpoint.c), so that the connection that writes pages does not wait
 * for the copy into the database file and its fsyncs.
 */
#ifndef OH_STORE_CHECKPOINT_H
#define OH_STORE_CHECKPOINT_H

#include <sqlite3.h>

#include "store.h"

struct store_ckpt;

/*
 * Take over the checkpoints of db (opened on path): a background pass
 * every step pages once the WAL has trigger pages, and one on the writing
 * thread when it reaches cap pages (or four of the biggest commits since
 * it started again, if more), after which the WAL starts again from its
 * beginning.  NULL with *cause set when no connection can be had (db then
 * checkpoints as before); without a thread (common/writer.c) the passes
 * run on the writing thread.
 */
struct store_ckpt *store_ckpt_start(sqlite3 *db, const char *path, int trigger,
    int step, int cap, char **cause);
/* Wait for a pass in progress, stop the thread and give db back. */
void store_ckpt_stop(struct store_ckpt *);
/* After the pass in hand; on the thread that commits on db. */
void store_ckpt_stats(struct store_ckpt *, struct store_ckpt_stats *);

#endif
