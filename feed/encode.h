/*
 * The change feed's encoders: the store's rows (store.h) written out as the
 * CLI and the daemon show them, JSON Lines or text, as documented in the
 * README.  source and prefix may be NULL (all).  Each returns 0, or -1
 * with *cause (allocated, cause may be NULL) when the store or the write
 * failed; lines already written stay written.
 */
#ifndef OH_FEED_ENCODE_H
#define OH_FEED_ENCODE_H

#include <stdint.h>
#include <stdio.h>

struct buf;
struct store;

/* export: JSON Lines, one record per line, ordered by source, prefix, id. */
int	 feed_export(struct store *, const char *source, const char *prefix,
	    FILE *, char **cause);
/*
 * changes: JSON Lines with seq > since, at most limit rows (limit < 0:
 * all); *last (when not NULL) becomes the seq of the last row written.
 */
int	 feed_changes(struct store *, int64_t since, int64_t limit, FILE *,
	    int64_t *last, char **cause);
/* status: a readable table per source. */
int	 feed_status(struct store *, FILE *, char **cause);
/*
 * search: JSON Lines {source, identifier, prefix, datestamp, title,
 * snippet, score}, best first (see store_search()).
 */
int	 feed_search(struct store *, const char *query, const char *source,
	    long long limit, FILE *, char **cause);
/*
 * For the daemon's /status: append to b, for source name, the fields
 * ,"repository":{...},"records":{"present":N,"deleted":N},"lists":[{prefix,
 * set, watermark, in_progress, pages}, ...].
 */
int	 feed_source_json(struct store *, const char *name, struct buf *,
	    char **cause);
/*
 * The daemon's /status JSON (json, NUL-terminated) as the table `oaiharvest
 * status --daemon` prints: one line a source; -1 when it is not JSON.
 */
int	 feed_daemon_status(const char *json, FILE *);

#endif
