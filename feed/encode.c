/*
 * The change feed's encoders (encode.h): the store's rows as JSON Lines or
 * text, byte for byte what the store itself wrote before it handed out
 * rows.  A row's strings are the store's until the callback returns: each
 * line is made in a buffer reused from row to row and written at once.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "log.h"
#include "oh_limits.h"
#include "store.h"
#include "encode.h"

/*
 * One exported line holds one record: metadata of at most MAX_RECORD_BYTES
 * and DC values taken from it, each up to six times longer once escaped as
 * JSON (\u00XX), plus the header (as the store's EXPORT_MAX_LINE).
 */
#define EXPORT_MAX_LINE		(16 * MAX_RECORD_BYTES)

/* What the export callback reuses from one record to the next. */
struct export_out {
	FILE		*fp;
	char		**cause;
	struct buf	 line;
	struct buf	 el[STORE_NDCMES];
};

struct changes_out {
	FILE		*fp;
	char		**cause;
	int64_t		*last;
	struct buf	 line;
};

struct search_out {
	FILE		*fp;
	char		**cause;
	struct buf	 line;
};

struct status_out {
	FILE		*fp;
	int		 sources;
	int		 prefixes;	/* of the source in hand */
	int		 in_records;	/* its records lines not ended */
};

struct source_json_out {
	struct buf	*b;
	int		 lists;		/* list objects written */
	int		 open;		/* "lists":[ written, ] not yet */
};

static void	 set_cause(char **, const char *, ...) __printflike(2, 3);
static int	 write_buf(const struct buf *, FILE *, const char *, char **);
static void	 json_str(struct buf *, const char *, size_t);
static const char *txt(const char *);

static int	 export_row(void *, const struct store_export_row *);
static int	 changes_row(void *, const struct store_change_row *);
static int	 search_row(void *, const struct store_search_row *);
static int	 status_source(void *, const struct store_source_row *);
static int	 status_run(void *, const struct store_run_row *);
static int	 status_prefix(void *, const struct store_prefix_row *);
static int	 status_list(void *, const struct store_list_row *);
static void	 status_records_end(struct status_out *);
static int	 source_json_source(void *, const struct store_source_row *);
static int	 source_json_list(void *, const struct store_list_row *);

static void
set_cause(char **cause, const char *fmt, ...)
{
	va_list	ap;

	if (cause == NULL)
		return;
	va_start(ap, fmt);
	xvasprintf(cause, fmt, ap);
	va_end(ap);
}

static int
write_buf(const struct buf *b, FILE *fp, const char *what, char **cause)
{
	if (fwrite(buf_str(b), 1, b->len, fp) != b->len) {
		set_cause(cause, "store: %s: write: %s", what,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* A string of len bytes as JSON, or null. */
static void
json_str(struct buf *b, const char *v, size_t len)
{
	if (v == NULL)
		buf_addstr(b, "null");
	else
		json_add_string(b, v, len);
}

/* Export */

static int
export_row(void *arg, const struct store_export_row *r)
{
	struct export_out	*x = arg;
	struct buf		*b = &x->line;
	size_t			 i;
	int			 e, first, err = 0;

	buf_reset(b);
	err |= buf_addstr(b, "{\"source\":");
	err |= json_add_string(b, r->source, -1);
	err |= buf_addstr(b, ",\"identifier\":");
	err |= json_add_string(b, r->identifier, -1);
	err |= buf_addstr(b, ",\"prefix\":");
	err |= json_add_string(b, r->prefix, -1);
	err |= buf_addstr(b, ",\"datestamp\":");
	err |= json_add_string(b, r->datestamp, -1);
	err |= buf_addstr(b, r->deleted ? ",\"deleted\":true" :
	    ",\"deleted\":false");

	/* record.sets is written as the old set rows were exported. */
	err |= buf_addstr(b, ",\"sets\":");
	err |= buf_add(b, r->sets, r->sets_len);

	/* Gathered in document order, written in DCMES order. */
	for (i = 0; i < STORE_NDCMES; i++)
		buf_reset(&x->el[i]);
	for (i = 0; i < r->ndc; i++) {
		if ((e = r->dc[i].element) < 0 || e >= STORE_NDCMES)
			continue;
		if (x->el[e].len > 0)
			err |= buf_addch(&x->el[e], ',');
		err |= json_add_string(&x->el[e], r->dc[i].value,
		    r->dc[i].len);
	}
	err |= buf_addstr(b, ",\"dc\":{");
	for (first = 1, i = 0; i < STORE_NDCMES; i++) {
		if (x->el[i].len == 0)
			continue;
		if (!first)
			err |= buf_addch(b, ',');
		first = 0;
		err |= json_add_string(b, store_dc_name((int)i), -1);
		err |= buf_addstr(b, ":[");
		err |= buf_add(b, x->el[i].data, x->el[i].len);
		err |= buf_addch(b, ']');
	}
	err |= buf_addch(b, '}');
	if (r->metadata != NULL) {
		err |= buf_addstr(b, ",\"metadata\":");
		err |= json_add_string(b, r->metadata, r->metadata_len);
	}
	err |= buf_addstr(b, "}\n");
	if (err) {
		set_cause(x->cause, "store: export: record %lld longer than "
		    "%zu bytes", (long long)r->id, (size_t)EXPORT_MAX_LINE);
		return -1;
	}
	return write_buf(b, x->fp, "export", x->cause);
}

int
feed_export(struct store *s, const char *source, const char *prefix,
    FILE *fp, char **cause)
{
	struct export_out	x;
	size_t			i;
	int			ret = -1;

	memset(&x, 0, sizeof(x));
	x.fp = fp;
	x.cause = cause;
	buf_init(&x.line, EXPORT_MAX_LINE);
	for (i = 0; i < STORE_NDCMES; i++)
		buf_init(&x.el[i], EXPORT_MAX_LINE);
	if (store_export(s, source, prefix, export_row, &x, cause) == -1)
		goto out;
	if (fflush(fp) == EOF) {
		set_cause(cause, "store: export: write: %s", strerror(errno));
		goto out;
	}
	ret = 0;
out:
	buf_free(&x.line);
	for (i = 0; i < STORE_NDCMES; i++)
		buf_free(&x.el[i]);
	return ret;
}

/* The change log */

static int
changes_row(void *arg, const struct store_change_row *r)
{
	struct changes_out	*c = arg;
	struct buf		*b = &c->line;
	int			 err;

	buf_reset(b);
	err = buf_printf(b, "{\"seq\":%lld,\"source\":", (long long)r->seq);
	err |= json_add_string(b, r->source, -1);
	err |= buf_addstr(b, ",\"identifier\":");
	err |= json_add_string(b, r->identifier, -1);
	err |= buf_addstr(b, ",\"prefix\":");
	err |= json_add_string(b, r->prefix, -1);
	err |= buf_addstr(b, ",\"kind\":");
	err |= json_add_string(b, r->kind, -1);
	err |= buf_addstr(b, ",\"datestamp\":");
	err |= json_add_string(b, r->datestamp, -1);
	err |= buf_addstr(b, ",\"at\":");
	err |= json_add_string(b, r->at, -1);
	/* Only deletions found by a sweep say why. */
	if (r->reason != NULL) {
		err |= buf_addstr(b, ",\"reason\":");
		err |= json_add_string(b, r->reason, -1);
	}
	err |= buf_addstr(b, "}\n");
	if (err) {
		set_cause(c->cause, "store: changes: row too long");
		return -1;
	}
	if (write_buf(b, c->fp, "changes", c->cause) == -1)
		return -1;
	if (c->last != NULL)
		*c->last = r->seq;
	return 0;
}

int
feed_changes(struct store *s, int64_t since, int64_t limit, FILE *fp,
    int64_t *last, char **cause)
{
	struct changes_out	c;
	int			ret = -1;

	c.fp = fp;
	c.cause = cause;
	c.last = last;
	/* A change row holds two short strings and an identifier. */
	buf_init(&c.line, 64 * MAX_ID_LEN);
	if (store_changes(s, since, limit, changes_row, &c, cause) == -1)
		goto out;
	if (fflush(fp) == EOF) {
		set_cause(cause, "store: changes: write: %s", strerror(errno));
		goto out;
	}
	ret = 0;
out:
	buf_free(&c.line);
	return ret;
}

/* Search */

static int
search_row(void *arg, const struct store_search_row *r)
{
	struct search_out	*o = arg;
	struct buf		*b = &o->line;

	buf_reset(b);
	buf_addstr(b, "{\"source\":");
	json_str(b, r->source, r->source_len);
	buf_addstr(b, ",\"identifier\":");
	json_str(b, r->identifier, r->identifier_len);
	buf_addstr(b, ",\"prefix\":");
	json_str(b, r->prefix, r->prefix_len);
	buf_addstr(b, ",\"datestamp\":");
	json_str(b, r->datestamp, r->datestamp_len);
	buf_addstr(b, ",\"title\":");
	json_str(b, r->title, r->title_len);
	buf_addstr(b, ",\"snippet\":");
	json_str(b, r->snippet, r->snippet_len);
	buf_printf(b, ",\"score\":%.4f}\n", r->score);
	return write_buf(b, o->fp, "search", o->cause);
}

int
feed_search(struct store *s, const char *query, const char *source,
    long long limit, FILE *fp, char **cause)
{
	struct search_out	o;
	int			r;

	o.fp = fp;
	o.cause = cause;
	buf_init(&o.line, SIZE_MAX / 4);
	r = store_search(s, query, source, limit, search_row, &o, cause);
	buf_free(&o.line);
	return r;
}

/* Status */

/*
 * Strings in the status text came from repositories: quote and escape any
 * with control characters (or quotes) so that they cannot drive a terminal.
 */
static const char *
txt(const char *s)
{
	const unsigned char	*p;

	if (s == NULL)
		return "-";
	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\')
			return log_q(s);
	if (*s == '\0')
		return "\"\"";
	return s;
}

/* The records lines of the source in hand are over. */
static void
status_records_end(struct status_out *o)
{
	if (!o->in_records)
		return;
	o->in_records = 0;
	if (o->prefixes == 0)
		fprintf(o->fp, "  records        none\n");
}

static int
status_source(void *arg, const struct store_source_row *r)
{
	struct status_out	*o = arg;
	FILE			*fp = o->fp;

	status_records_end(o);
	if (o->sources++ > 0)
		fputc('\n', fp);
	o->prefixes = 0;
	fprintf(fp, "source %s\n", txt(r->name));
	fprintf(fp, "  url            %s\n", txt(r->url));
	fprintf(fp, "  repository     %s\n", txt(r->repository_name));
	fprintf(fp, "  granularity    %s\n", txt(r->granularity));
	fprintf(fp, "  earliest       %s\n", txt(r->earliest));
	fprintf(fp, "  deletedRecord  %s\n", txt(r->deleted_record));
	fprintf(fp, "  identified     %s\n", txt(r->identified_at));
	return 0;
}

static int
status_run(void *arg, const struct store_run_row *r)
{
	struct status_out	*o = arg;
	FILE			*fp = o->fp;

	o->in_records = 1;
	if (r == NULL) {
		fprintf(fp, "  last run       none\n");
		return 0;
	}
	fprintf(fp, "  last run       #%lld %s, started %s, ended %s\n",
	    (long long)r->id, txt(r->status), txt(r->started),
	    txt(r->ended));
	fprintf(fp, "                 pages %lld, records %lld: "
	    "new %lld, updated %lld, deleted %lld, unchanged %lld; "
	    "bytes %lld\n", r->pages, r->records, r->new_records,
	    r->updated, r->deleted, r->unchanged, r->bytes);
	if (r->error != NULL)
		fprintf(fp, "                 error: %s\n", txt(r->error));
	return 0;
}

static int
status_prefix(void *arg, const struct store_prefix_row *r)
{
	struct status_out	*o = arg;

	o->prefixes++;
	fprintf(o->fp, "  records        %s: %lld present, %lld deleted\n",
	    txt(r->prefix), r->present, r->deleted);
	return 0;
}

static int
status_list(void *arg, const struct store_list_row *r)
{
	struct status_out	*o = arg;
	FILE			*fp = o->fp;

	status_records_end(o);
	fprintf(fp, "  list           %s %s: watermark %s", txt(r->prefix),
	    *r->set == '\0' ? "(whole repository)" : txt(r->set),
	    txt(r->watermark));
	if (r->token != NULL || r->pages > 0) {
		fprintf(fp, "; in progress: pages %lld, token %s, "
		    "progress %s", r->pages, txt(r->token),
		    txt(r->progress));
		if (r->cursor >= 0)
			fprintf(fp, ", cursor %lld", r->cursor);
		if (r->complete_list_size >= 0)
			fprintf(fp, " of %lld", r->complete_list_size);
	}
	fputc('\n', fp);
	return 0;
}

int
feed_status(struct store *s, FILE *fp, char **cause)
{
	struct status_out	o;
	struct store_status_cb	cb = {
		.source = status_source,
		.run = status_run,
		.prefix = status_prefix,
		.list = status_list,
		.arg = &o,
	};

	memset(&o, 0, sizeof(o));
	o.fp = fp;
	if (store_status(s, &cb, cause) == -1)
		return -1;
	status_records_end(&o);
	if (o.sources == 0)
		fprintf(fp, "no sources\n");
	if (fflush(fp) == EOF || ferror(fp)) {
		set_cause(cause, "store: status: write: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* The daemon's /status, per source */

static int
source_json_source(void *arg, const struct store_source_row *r)
{
	struct source_json_out	*o = arg;
	struct buf		*b = o->b;

	if (r == NULL) {
		buf_addstr(b, ",\"repository\":null,\"records\":null,"
		    "\"lists\":[]");
		return 0;
	}
	buf_addstr(b, ",\"repository\":{\"name\":");
	json_str(b, r->repository_name, r->repository_name_len);
	buf_addstr(b, ",\"granularity\":");
	json_str(b, r->granularity, r->granularity_len);
	buf_addstr(b, ",\"deleted_record\":");
	json_str(b, r->deleted_record, r->deleted_record_len);
	buf_addch(b, '}');
	if (r->present >= 0)
		buf_printf(b, ",\"records\":{\"present\":%lld,"
		    "\"deleted\":%lld}", r->present, r->deleted);
	/* The lists, as `status` shows them. */
	buf_addstr(b, ",\"lists\":[");
	o->open = 1;
	return 0;
}

static int
source_json_list(void *arg, const struct store_list_row *r)
{
	struct source_json_out	*o = arg;
	struct buf		*b = o->b;

	buf_addstr(b, o->lists++ ? ",{\"prefix\":" : "{\"prefix\":");
	json_str(b, r->prefix, r->prefix_len);
	buf_addstr(b, ",\"set\":");
	json_str(b, r->set, r->set_len);
	buf_addstr(b, ",\"watermark\":");
	json_str(b, r->watermark, r->watermark_len);
	buf_printf(b, ",\"in_progress\":%s,\"pages\":%lld}",
	    r->token != NULL ? "true" : "false", r->pages);
	return 0;
}

int
feed_source_json(struct store *s, const char *name, struct buf *b,
    char **cause)
{
	struct source_json_out	o = { .b = b };
	struct store_status_cb	cb = {
		.source = source_json_source,
		.list = source_json_list,
		.arg = &o,
	};
	int			r;

	r = store_source_status(s, name, &cb, cause);
	if (o.open)
		buf_addch(b, ']');
	return r;
}
