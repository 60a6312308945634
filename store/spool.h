/*
 * The records of one page, held between the parser and the page's
 * transaction.  Pages are committed whole, and many sources may be
 * harvesting at once on one SQLite connection, so a page's records wait
 * here until the page is complete and the page writer (page.h) has
 * written it.  Memory stays bounded: past SPOOL_MEM_BYTES the records go to
 * an unlinked temporary file.
 */
#ifndef OH_SPOOL_H
#define OH_SPOOL_H

#include <stddef.h>

#include "store.h"

struct spool;

struct spool *spool_new(size_t mem_max);
void	      spool_free(struct spool *);
void	      spool_reset(struct spool *);
/*
 * Add a record (prefix and prep are not kept: the page has the prefix,
 * and the spool prepares the record itself).  Return -1 with *cause when
 * the temporary file cannot be written.
 */
int spool_add(struct spool *, const struct store_record *, char **cause);
/*
 * Records past mem_max bytes go to the file from now on; when no file can
 * be made, they stay in memory up to spool_new()'s mem_max.
 */
void spool_set_mem_max(struct spool *, size_t mem_max);
/* spool_add() also makes fts_doc with m (borrowed; NULL: not). */
void   spool_set_fts(struct spool *, struct store_fts_maker *m);
size_t spool_count(const struct spool *);
/* Call fn for each record in order; stop at the first -1. */
int spool_replay(struct spool *, int (*fn)(void *, const struct store_record *),
    void *, char **cause);

#endif
