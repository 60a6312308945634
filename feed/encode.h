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
struct store_export_filter;

/* export: JSON Lines, one record per line, ordered by source, prefix, id. */
int feed_export(struct store *, const char *source, const char *prefix, FILE *,
    char **cause);
/*
 * export of a selection (store_export_select()) in one of three forms:
 * FEED_JSON the JSON Lines of feed_export(); FEED_XML one XML document,
 * <oh:records xmlns:oh="FEED_XMLNS"> holding an <oh:record source= prefix=>
 * per record with its <oh:header> (OAI-PMH's: status="deleted",
 * identifier, datestamp, setSpec...) and its <oh:metadata> (the XML as
 * stored); FEED_OAI OAI-PMH ListRecords responses, page_size records each
 * (0: one per source and prefix), one document after the other, each with
 * its XML declaration.  When found is not NULL, the filter's identifiers
 * are sorted (strcmp) and found[i] is set when identifiers[i] was written.
 * *records (when not NULL): how many were written.
 */
#define FEED_XMLNS "urn:oaiharvest:export:1"
enum feed_format {
	FEED_JSON = 0,
	FEED_XML,
	FEED_OAI,
};
struct feed_export_opts {
	const struct store_export_filter *filter;
	enum feed_format		  format;
	long long			  page_size;
	unsigned char			 *found;
	long long			 *records;
};
int feed_export_select(
    struct store *, const struct feed_export_opts *, FILE *, char **cause);
/*
 * sources: one line a source (name, url, records present and deleted,
 * the last run's result and end, each list's next from).
 */
int feed_sources(struct store *, FILE *, char **cause);
/*
 * changes: JSON Lines with seq > since, at most limit rows (limit < 0:
 * all); *last (when not NULL) becomes the seq of the last row written.
 */
int feed_changes(struct store *, int64_t since, int64_t limit, FILE *,
    int64_t *last, char **cause);
/* status: a readable table per source. */
int feed_status(struct store *, FILE *, char **cause);
/*
 * search: JSON Lines {source, identifier, prefix, datestamp, title,
 * snippet, score}, best first (see store_search()).
 */
int feed_search(struct store *, const char *query, const char *source,
    long long limit, FILE *, char **cause);
/*
 * For the daemon's /status: append to b, for source name, the fields
 * ,"repository":{...},"records":{"present":N,"deleted":N},"lists":[{prefix,
 * set, watermark, in_progress, pages}, ...].  The counts are the caller's
 * (present -1: "records":null), not counted here: a scan of the source's
 * records at every request.
 */
int feed_source_json(struct store *, const char *name, long long present,
    long long deleted, struct buf *, char **cause);
/*
 * The daemon's /status JSON (json, NUL-terminated) as the table `oaiharvest
 * status --daemon` prints: one line a source; -1 when it is not JSON.
 */
int feed_daemon_status(const char *json, FILE *);

#endif
