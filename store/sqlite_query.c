/*
 * The SQLite backend's queries (see backend.h): export, the change log,
 * status, full-text search and the outbox.  Rows go to the caller's
 * callback as they come off their statement; feed/ writes them out.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "util.h"
#include "log.h"
#include "sqlite.h"

/* What store_export() reuses from one record to the next. */
struct export
{
	struct store_export_value *dc;
	size_t			   ndc;
	struct buf		   vals; /* DC values, NUL-terminated */
	size_t			  *off;	 /* where each starts in vals */
	size_t			  *noff; /* its name's, or SIZE_MAX: a code */
	struct buf		   xml;	 /* a template filled */
};

/* Export */
static int export_record(struct store_sqlite *, sqlite3_stmt *, struct export *,
    int (*)(void *, const struct store_export_row *), void *, char **);

/* Status */
static int status_source(struct store_sqlite *, sqlite3_stmt *,
    const struct store_status_cb *, char **);
static int status_prefixes(
    struct store_sqlite *, int64_t, const struct store_status_cb *, char **);
static int status_lists(
    struct store_sqlite *, int64_t, const struct store_status_cb *, char **);

/* Search */
static int  search_is_syntax(const char *);
static int  search_is_op(const char *, size_t);
static int  search_is_column(const char *, size_t);
static int  search_has_token(const char *, size_t);
static int  search_add_word(struct buf *, const char *, size_t, const char *);
static void search_plain(const char *, struct buf *);
static int  search_run(struct store_sqlite *, const char *, const char *,
     long long, int (*)(void *, const struct store_search_row *), void *, int *,
     long long *, int *, char **);

/*
 * Search queries.  FTS5's query syntax turns ordinary text into errors
 * ("Taylor-Jones", "COVID-19", "O'Brien", "C++": every character outside
 * [A-Za-z0-9_] and non-ASCII is an operator or a syntax error), so a query
 * goes to FTS5 as it is only when it holds some of that syntax; otherwise,
 * or when FTS5 refuses it, each word is searched as a quoted FTS5 string:
 * the phrase of its tokens.  The words AND, OR and NOT between two words, a
 * leading "column:" and a trailing "*" keep their meaning there.  The query
 * is always a bound parameter, never SQL text.
 */

#define SEARCH_SPACE " \t\n\r\f\v"

/* The columns of record_fts (schema.c), for "column:word". */
static const char *const search_columns[] = {
	"title",
	"creator",
	"subject",
	"description",
};

/* Characters that only FTS5 query syntax would use. */
static int
search_is_syntax(const char *q)
{
	return strpbrk(q, "\"*:(){}^+") != NULL;
}

static int
search_is_op(const char *w, size_t n)
{
	return (n == 3 &&
		   (memcmp(w, "AND", 3) == 0 || memcmp(w, "NOT", 3) == 0)) ||
	    (n == 2 && memcmp(w, "OR", 2) == 0);
}

static int
search_is_column(const char *w, size_t n)
{
	size_t i;

	for (i = 0; i < nitems(search_columns); i++)
		if (strlen(search_columns[i]) == n &&
		    strncasecmp(search_columns[i], w, n) == 0)
			return 1;
	return 0;
}

/*
 * Does the word hold a token?  Only ASCII letters and digits are tokens to
 * unicode61 among ASCII; a word of punctuation alone would be an empty
 * phrase, which FTS5 takes for "no match" beside AND.  Non-ASCII is kept.
 */
static int
search_has_token(const char *w, size_t n)
{
	size_t	      i;
	unsigned char c;

	for (i = 0; i < n; i++) {
		c = (unsigned char)w[i];
		if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
		    (c >= 'a' && c <= 'z') || c >= 0x80)
			return 1;
	}
	return 0;
}

/* Add one word as an FTS5 string; 0 if it holds no token. */
static int
search_add_word(struct buf *b, const char *w, size_t n, const char *op)
{
	const char *colon;
	size_t	    col = 0, i;
	int	    star = 0;

	colon = memchr(w, ':', n);
	if (colon != NULL && colon > w &&
	    search_is_column(w, (size_t)(colon - w)))
		col = (size_t)(colon - w) + 1;
	while (n > col && w[n - 1] == '*') {
		star = 1;
		n--;
	}
	if (!search_has_token(w + col, n - col))
		return 0;
	if (b->len > 0)
		buf_addch(b, ' ');
	if (op != NULL) {
		buf_addstr(b, op);
		buf_addch(b, ' ');
	}
	buf_add(b, w, col);
	buf_addch(b, '"');
	for (i = col; i < n; i++) {
		if (w[i] == '"')
			buf_addch(b, '"');
		buf_addch(b, w[i]);
	}
	buf_addch(b, '"');
	if (star)
		buf_addch(b, '*');
	return 1;
}

/*
 * The query as plain words.  An operator counts as one only between two
 * words; elsewhere (alone, first, last, doubled) it is a word.  Nothing
 * left: "", which matches nothing.
 */
static void
search_plain(const char *q, struct buf *b)
{
	const char *w, *op = NULL;
	char	    opw[4];
	size_t	    n;

	buf_reset(b);
	for (w = q + strspn(q, SEARCH_SPACE); *w != '\0';
	     w += n, w += strspn(w, SEARCH_SPACE)) {
		n = strcspn(w, SEARCH_SPACE);
		if (search_is_op(w, n) && b->len > 0) {
			if (op != NULL)
				search_add_word(b, op, strlen(op), NULL);
			memcpy(opw, w, n);
			opw[n] = '\0';
			op = opw;
			continue;
		}
		if (search_add_word(b, w, n, op))
			op = NULL;
	}
	if (op != NULL)
		search_add_word(b, op, strlen(op), NULL);
	if (b->len == 0)
		buf_addstr(b, "\"\"");
}

/*
 * Run one MATCH query.  *rc is the step's result code, *rows the rows
 * given to row, *stopped whether row stopped the query: a query FTS5
 * refuses fails with SQLITE_ERROR at the first step, before any row.
 */
static int
search_run(struct store_sqlite *s, const char *match, const char *source,
    long long limit, int (*row)(void *, const struct store_search_row *),
    void *arg, int *rc, long long *rows, int *stopped, char **cause)
{
	sqlite3_stmt	       *st = s->q[Q_SEARCH];
	struct store_search_row sr;
	int			ret = -1;

	*rows = 0;
	*stopped = 0;
	bind_text(st, 1, match);
	bind_text(st, 2, source);
	sqlite3_bind_int64(st, 3, limit);
	while ((*rc = sqlite3_step(st)) == SQLITE_ROW) {
		sr.source = col_text(st, 0);
		sr.source_len = (size_t)sqlite3_column_bytes(st, 0);
		sr.identifier = col_text(st, 1);
		sr.identifier_len = (size_t)sqlite3_column_bytes(st, 1);
		sr.prefix = col_text(st, 2);
		sr.prefix_len = (size_t)sqlite3_column_bytes(st, 2);
		sr.datestamp = col_text(st, 3);
		sr.datestamp_len = (size_t)sqlite3_column_bytes(st, 3);
		sr.title = col_text(st, 4);
		sr.title_len = (size_t)sqlite3_column_bytes(st, 4);
		sr.snippet = col_text(st, 5);
		sr.snippet_len = (size_t)sqlite3_column_bytes(st, 5);
		sr.score = -sqlite3_column_double(st, 6);
		if (row(arg, &sr) == -1) {
			*stopped = 1;
			goto out;
		}
		(*rows)++;
	}
	if (*rc != SQLITE_DONE) {
		q_fail(s, Q_SEARCH, cause);
		goto out;
	}
	ret = 0;
out:
	sqlite3_reset(st);
	sqlite3_bind_null(st, 1);
	return ret;
}

int
store_sqlite_search(void *be, const char *query, const char *source,
    long long limit, int (*row)(void *, const struct store_search_row *),
    void *arg, char **cause)
{
	struct store_sqlite *s = be;
	struct buf	     plain;
	long long	     rows;
	char		    *why = NULL;
	int		     rc, r, stopped;

	if (search_is_syntax(query)) {
		r = search_run(s, query, source, limit, row, arg, &rc, &rows,
		    &stopped, &why);
		if (r == 0 || rows > 0 || rc != SQLITE_ERROR) {
			if (r == -1 && !stopped)
				set_cause(cause, "%s", why);
			free(why);
			return r;
		}
		log_info("event=search_plain query=%s cause=%s msg=\"not "
			 "FTS5 query syntax: searched as plain words\"",
		    log_q(query), log_q(why));
		free(why);
	}
	buf_init(&plain, SIZE_MAX / 4);
	search_plain(query, &plain);
	r = search_run(s, buf_str(&plain), source, limit, row, arg, &rc, &rows,
	    &stopped, cause);
	buf_free(&plain);
	return r;
}

/* Export */

/*
 * Hand the record under st to row: its DC values in document order (with
 * their DCMES codes, or the names of fields filed by name) read out of
 * content.dc into x->vals, and its XML, kept whole or its template filled
 * with them.
 */
static int
export_record(struct store_sqlite *s, sqlite3_stmt *st, struct export *x,
    int (*row)(void *, const struct store_export_row *), void *arg,
    char **cause)
{
	struct store_export_row er;
	sqlite3_stmt	       *q;
	const char	       *v;
	size_t			n = 0, i;
	int			rc, tmpl, err = 0;

	er.id = sqlite3_column_int64(st, 0);
	er.source = col_text(st, 1);
	er.identifier = col_text(st, 2);
	er.prefix = col_text(st, 3);
	er.datestamp = col_text(st, 4);
	er.deleted = sqlite3_column_int(st, 5) != 0;
	er.sets = sqlite3_column_blob(st, 8);
	er.sets_len = (size_t)sqlite3_column_bytes(st, 8);
	er.metadata = NULL;
	er.metadata_len = 0;
	tmpl = !er.deleted && sqlite3_column_type(st, 7) != SQLITE_NULL;

	buf_reset(&x->vals);
	q = s->q[Q_EXPORT_DC];
	sqlite3_bind_int64(q, 1, er.id);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if ((v = col_text(q, 1)) == NULL)
			v = "";
		if (n == x->ndc) {
			x->ndc = x->ndc == 0 ? 64 : 2 * x->ndc;
			x->dc = xreallocarray(x->dc, x->ndc, sizeof(*x->dc));
			x->off = xreallocarray(x->off, x->ndc, sizeof(*x->off));
			x->noff =
			    xreallocarray(x->noff, x->ndc, sizeof(*x->noff));
		}
		x->dc[n].element = sqlite3_column_type(q, 0) == SQLITE_INTEGER ?
		    sqlite3_column_int(q, 0) :
		    -1;
		x->noff[n] = SIZE_MAX;
		if (sqlite3_column_type(q, 0) == SQLITE_TEXT) {
			x->noff[n] = x->vals.len;
			err |= buf_add(&x->vals, col_text(q, 0),
			    (size_t)sqlite3_column_bytes(q, 0) + 1);
		}
		x->dc[n].len = (size_t)sqlite3_column_bytes(q, 1);
		x->off[n++] = x->vals.len;
		err |= buf_add(&x->vals, v, x->dc[n - 1].len + 1);
	}
	if (rc != SQLITE_DONE)
		return q_fail(s, Q_EXPORT_DC, cause);
	sqlite3_reset(q);
	if (err) {
		set_cause(cause,
		    "store: export: record %lld longer than %zu "
		    "bytes",
		    (long long)er.id, (size_t)EXPORT_MAX_LINE);
		return -1;
	}
	/* vals is whole now: it moves no more. */
	for (i = 0; i < n; i++) {
		x->dc[i].value = x->vals.data + x->off[i];
		x->dc[i].name =
		    x->noff[i] == SIZE_MAX ? NULL : x->vals.data + x->noff[i];
	}
	er.dc = x->dc;
	er.ndc = n;

	if (!er.deleted && sqlite3_column_type(st, 9) != SQLITE_NULL && !tmpl) {
		set_cause(cause, "store: export: record %lld: no template %lld",
		    (long long)er.id, (long long)sqlite3_column_int64(st, 9));
		return -1;
	}
	if (tmpl) {
		buf_reset(&x->xml);
		if (store_template_fill(&x->xml, sqlite3_column_blob(st, 7),
			sqlite3_column_bytes(st, 7), &x->vals, x->off,
			n) == -1) {
			set_cause(cause,
			    "store: export: record %lld: its "
			    "template does not fit its DC values",
			    (long long)er.id);
			return -1;
		}
		er.metadata = buf_str(&x->xml);
		er.metadata_len = x->xml.len;
	} else if (!er.deleted && sqlite3_column_type(st, 6) != SQLITE_NULL) {
		er.metadata = col_text(st, 6);
		er.metadata_len = (size_t)sqlite3_column_bytes(st, 6);
	}
	return row(arg, &er);
}

int
store_sqlite_export(void *be, const char *source, const char *prefix,
    int (*row)(void *, const struct store_export_row *), void *arg,
    char **cause)
{
	struct store_sqlite *s = be;
	sqlite3_stmt	    *st = s->q[Q_EXPORT];
	struct export x;
	int rc, ret = -1;

	memset(&x, 0, sizeof(x));
	buf_init(&x.vals, EXPORT_MAX_LINE);
	buf_init(&x.xml, MAX_RECORD_BYTES);
	bind_text(st, 1, source);
	bind_text(st, 2, prefix);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (export_record(s, st, &x, row, arg, cause) == -1)
			goto out;
	}
	if (rc != SQLITE_DONE) {
		q_fail(s, Q_EXPORT, cause);
		goto out;
	}
	ret = 0;
out:
	sqlite3_reset(st);
	buf_free(&x.vals);
	buf_free(&x.xml);
	free(x.dc);
	free(x.off);
	free(x.noff);
	return ret;
}

/* The change log */

int
store_sqlite_changes(void *be, int64_t since, int64_t limit,
    int (*row)(void *, const struct store_change_row *), void *arg,
    char **cause)
{
	struct store_sqlite    *s = be;
	sqlite3_stmt	       *st = s->q[Q_CHANGES];
	struct store_change_row cr;
	int			rc, ret = -1;

	sqlite3_bind_int64(st, 1, since);
	sqlite3_bind_int64(st, 2, limit < 0 ? -1 : limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		cr.seq = sqlite3_column_int64(st, 0);
		cr.source = col_text(st, 1);
		cr.identifier = col_text(st, 2);
		cr.prefix = col_text(st, 3);
		cr.kind = col_text(st, 4);
		cr.datestamp = col_text(st, 5);
		cr.at = col_text(st, 6);
		cr.reason = col_text(st, 7);
		if (row(arg, &cr) == -1)
			goto out;
	}
	if (rc != SQLITE_DONE) {
		q_fail(s, Q_CHANGES, cause);
		goto out;
	}
	ret = 0;
out:
	sqlite3_reset(st);
	return ret;
}

/* Status */

/* The lists of source id, as Q_STATUS_LISTS gives them. */
static int
status_lists(struct store_sqlite *s, int64_t id,
    const struct store_status_cb *cb, char **cause)
{
	sqlite3_stmt	     *st = s->q[Q_STATUS_LISTS];
	struct store_list_row lr;
	int		      rc;

	sqlite3_bind_int64(st, 1, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (cb->list == NULL)
			continue;
		lr.prefix = col_text(st, 0);
		lr.prefix_len = (size_t)sqlite3_column_bytes(st, 0);
		lr.set = col_text(st, 1);
		lr.set_len = (size_t)sqlite3_column_bytes(st, 1);
		lr.watermark = col_text(st, 2);
		lr.watermark_len = (size_t)sqlite3_column_bytes(st, 2);
		lr.token = col_text(st, 3);
		lr.progress = col_text(st, 4);
		lr.cursor = sqlite3_column_type(st, 5) != SQLITE_NULL ?
		    sqlite3_column_int64(st, 5) :
		    -1;
		lr.complete_list_size =
		    sqlite3_column_type(st, 6) != SQLITE_NULL ?
		    sqlite3_column_int64(st, 6) :
		    -1;
		lr.pages = sqlite3_column_int64(st, 7);
		if (cb->list(cb->arg, &lr) == -1) {
			sqlite3_reset(st);
			return -1;
		}
	}
	if (rc != SQLITE_DONE)
		return q_fail(s, Q_STATUS_LISTS, cause);
	sqlite3_reset(st);
	return 0;
}

/* The source under src, its last run, its records and its lists. */
static int
status_source(struct store_sqlite *s, sqlite3_stmt *src,
    const struct store_status_cb *cb, char **cause)
{
	struct store_source_row so;
	struct store_run_row	ru;
	sqlite3_stmt	       *st;
	int64_t			id;
	int			rc;

	id = sqlite3_column_int64(src, 0);
	memset(&so, 0, sizeof(so));
	so.name = col_text(src, 1);
	so.url = col_text(src, 2);
	so.repository_name = col_text(src, 3);
	so.repository_name_len = (size_t)sqlite3_column_bytes(src, 3);
	so.granularity = col_text(src, 4);
	so.granularity_len = (size_t)sqlite3_column_bytes(src, 4);
	so.earliest = col_text(src, 5);
	so.deleted_record = col_text(src, 6);
	so.deleted_record_len = (size_t)sqlite3_column_bytes(src, 6);
	so.identified_at = col_text(src, 7);
	if (cb->source != NULL && cb->source(cb->arg, &so) == -1)
		return -1;

	st = s->q[Q_STATUS_RUN];
	sqlite3_bind_int64(st, 1, id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		ru.id = sqlite3_column_int64(st, 0);
		ru.started = col_text(st, 1);
		ru.ended = col_text(st, 2);
		ru.status = col_text(st, 3);
		ru.pages = sqlite3_column_int64(st, 4);
		ru.records = sqlite3_column_int64(st, 5);
		ru.new_records = sqlite3_column_int64(st, 6);
		ru.updated = sqlite3_column_int64(st, 7);
		ru.deleted = sqlite3_column_int64(st, 8);
		ru.unchanged = sqlite3_column_int64(st, 9);
		ru.bytes = sqlite3_column_int64(st, 10);
		ru.error = col_text(st, 11);
		rc = cb->run != NULL ? cb->run(cb->arg, &ru) : 0;
	} else if (rc == SQLITE_DONE)
		rc = cb->run != NULL ? cb->run(cb->arg, NULL) : 0;
	else
		return q_fail(s, Q_STATUS_RUN, cause);
	sqlite3_reset(st);
	if (rc == -1)
		return -1;

	if (status_prefixes(s, id, cb, cause) == -1)
		return -1;
	return status_lists(s, id, cb, cause);
}

/* Source id's records by prefix, present and deleted: a scan of them. */
static int
status_prefixes(struct store_sqlite *s, int64_t id,
    const struct store_status_cb *cb, char **cause)
{
	sqlite3_stmt	       *st = s->q[Q_STATUS_RECORDS];
	struct store_prefix_row pr;
	int			rc;

	memset(&pr, 0, sizeof(pr));
	sqlite3_bind_int64(st, 1, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		pr.prefix = col_text(st, 0);
		pr.present = sqlite3_column_int64(st, 1);
		pr.deleted = sqlite3_column_int64(st, 2);
		if (cb->prefix != NULL && cb->prefix(cb->arg, &pr) == -1) {
			sqlite3_reset(st);
			return -1;
		}
	}
	if (rc != SQLITE_DONE)
		return q_fail(s, Q_STATUS_RECORDS, cause);
	sqlite3_reset(st);
	return 0;
}

int
store_sqlite_status(void *be, const struct store_status_cb *cb, char **cause)
{
	struct store_sqlite *s = be;
	sqlite3_stmt	    *st = s->q[Q_STATUS_SOURCES];
	int		     rc, ret = -1;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (status_source(s, st, cb, cause) == -1)
			goto out;
	}
	if (rc != SQLITE_DONE) {
		q_fail(s, Q_STATUS_SOURCES, cause);
		goto out;
	}
	ret = 0;
out:
	sqlite3_reset(st);
	return ret;
}

int
store_sqlite_source_status(
    void *be, const char *name, const struct store_status_cb *cb, char **cause)
{
	struct store_sqlite    *s = be;
	sqlite3_stmt	       *st = s->q[Q_SOURCE_JSON];
	struct store_source_row so;
	int64_t			id;
	int			rc;

	bind_text(st, 1, name);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			return q_fail(s, Q_SOURCE_JSON, cause);
		return cb->source != NULL ? cb->source(cb->arg, NULL) : 0;
	}
	id = sqlite3_column_int64(st, 0);
	memset(&so, 0, sizeof(so));
	so.name = name;
	so.repository_name = col_text(st, 1);
	so.repository_name_len = (size_t)sqlite3_column_bytes(st, 1);
	so.granularity = col_text(st, 2);
	so.granularity_len = (size_t)sqlite3_column_bytes(st, 2);
	so.deleted_record = col_text(st, 3);
	so.deleted_record_len = (size_t)sqlite3_column_bytes(st, 3);
	rc = cb->source != NULL ? cb->source(cb->arg, &so) : 0;
	sqlite3_reset(s->q[Q_SOURCE_JSON]);
	if (rc == -1)
		return -1;
	if (cb->prefix != NULL && status_prefixes(s, id, cb, cause) == -1)
		return -1;
	return status_lists(s, id, cb, cause);
}

/* For the daemon's status server. */

int
store_sqlite_writable(void *be, char **cause)
{
	struct store_sqlite *s = be;

	/* Inside a page transaction the database is being written. */
	if (!sqlite3_get_autocommit(s->db))
		return 0;
	if (q_exec(s, Q_BEGIN, cause) == -1)
		return -1;
	return q_exec(s, Q_ROLLBACK, cause);
}

int64_t
store_sqlite_last_seq(void *be)
{
	struct store_sqlite *s = be;
	sqlite3_stmt	    *st = s->q[Q_SEQ_GET];
	int64_t		     seq = -1;

	if (sqlite3_step(st) == SQLITE_ROW)
		seq = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return seq;
}

/* Feeds (the outbox pattern). */

int
store_sqlite_outbox_get(void *be, const char *name, int64_t *seq, char **cause)
{
	struct store_sqlite *s = be;
	sqlite3_stmt	    *st = s->q[Q_OUTBOX_GET];
	int		     rc;

	*seq = 0;
	bind_text(st, 1, name);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		*seq = sqlite3_column_int64(st, 0);
	else if (rc != SQLITE_DONE)
		return q_fail(s, Q_OUTBOX_GET, cause);
	sqlite3_reset(st);
	return 0;
}

int
store_sqlite_outbox_set(void *be, const char *name, int64_t seq, char **cause)
{
	struct store_sqlite *s = be;

	bind_text(s->q[Q_OUTBOX_SET], 1, name);
	sqlite3_bind_int64(s->q[Q_OUTBOX_SET], 2, seq);
	return q_exec(s, Q_OUTBOX_SET, cause);
}

/* A selection of records */

/*
 * The records changed after a seq: the change rows from there on (a range
 * of the primary key), each to its record by the record's unique index,
 * each record once.
 */
static const char export_since_sql[] =
    "SELECT r.id, s.name, r.identifier, r.prefix, r.datestamp,"
    " r.deleted, c.xml, t.body, r.sets, c.template_id"
    " FROM (SELECT DISTINCT r2.id AS id FROM change ch"
    "  JOIN record r2 ON r2.source_id = ch.source_id"
    "  AND r2.prefix = ch.prefix AND r2.identifier = ch.identifier"
    "  WHERE ch.seq > ?3) x"
    " JOIN record r ON r.id = x.id"
    " JOIN source s ON s.id = r.source_id"
    " LEFT JOIN content c ON c.record_id = r.id"
    " LEFT JOIN xml_template t ON t.id = c.template_id"
    " WHERE (?1 IS NULL OR s.name = ?1)"
    " AND (?2 IS NULL OR r.prefix = ?2)"
    " AND (?4 IS NULL OR r.identifier IN (SELECT value FROM json_each(?4)))"
    " ORDER BY s.name, r.prefix, r.identifier";

/*
 * Records by identifier: the unique index is (source, prefix, identifier),
 * so each (source, prefix) pair is found by a skip through the index
 * (min(prefix) above the last), and each identifier looked up under each:
 * a few index searches an identifier instead of a scan of every record.
 */
static const char export_ids_sql[] =
    "WITH RECURSIVE sp (sid, pfx) AS ("
    "  SELECT so.id, (SELECT min(prefix) FROM record"
    "   WHERE source_id = so.id) FROM source so"
    "  WHERE ?1 IS NULL OR so.name = ?1"
    "  UNION ALL"
    "  SELECT sid, (SELECT min(prefix) FROM record"
    "   WHERE source_id = sp.sid AND prefix > sp.pfx)"
    "  FROM sp WHERE pfx IS NOT NULL)"
    " SELECT r.id, s.name, r.identifier, r.prefix, r.datestamp,"
    " r.deleted, c.xml, t.body, r.sets, c.template_id"
    " FROM sp, (SELECT DISTINCT value AS id FROM json_each(?4)) j"
    " JOIN record r ON r.source_id = sp.sid AND r.prefix = sp.pfx"
    "  AND r.identifier = j.id"
    " JOIN source s ON s.id = r.source_id"
    " LEFT JOIN content c ON c.record_id = r.id"
    " LEFT JOIN xml_template t ON t.id = c.template_id"
    " WHERE sp.pfx IS NOT NULL AND (?2 IS NULL OR sp.pfx = ?2)"
    " AND ?3 IS NULL"
    " ORDER BY s.name, r.prefix, r.identifier";

int
store_sqlite_export_select(void *be, const struct store_export_filter *f,
    int (*row)(void *, const struct store_export_row *), void	      *arg,
    char **cause)
{
	struct store_sqlite *s = be;
	sqlite3_stmt	    *st = NULL;
	struct export x;
	struct buf ids;
	size_t	   i;
	int	   rc, ret = -1;

	if (f->since < 0 && f->identifiers == NULL)
		return store_sqlite_export(
		    be, f->source, f->prefix, row, arg, cause);
	memset(&x, 0, sizeof(x));
	buf_init(&x.vals, EXPORT_MAX_LINE);
	buf_init(&x.xml, MAX_RECORD_BYTES);
	/* The identifiers as one JSON array, bound as one value. */
	buf_init(&ids, SIZE_MAX / 4);
	if (f->identifiers != NULL) {
		buf_addch(&ids, '[');
		for (i = 0; i < f->nidentifiers; i++) {
			if (i > 0)
				buf_addch(&ids, ',');
			json_add_string(&ids, f->identifiers[i], (size_t)-1);
		}
		buf_addch(&ids, ']');
	}
	if (sqlite3_prepare_v2(s->db,
		f->since >= 0 ? export_since_sql : export_ids_sql, -1, &st,
		NULL) != SQLITE_OK) {
		set_cause(cause, "store: prepare export selection: %s",
		    sqlite3_errmsg(s->db));
		goto out;
	}
	bind_text(st, 1, f->source);
	bind_text(st, 2, f->prefix);
	if (f->since >= 0)
		sqlite3_bind_int64(st, 3, f->since);
	if (f->identifiers != NULL)
		sqlite3_bind_text(
		    st, 4, buf_str(&ids), (int)ids.len, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (export_record(s, st, &x, row, arg, cause) == -1)
			goto out;
	}
	if (rc != SQLITE_DONE) {
		set_cause(cause, "store: export selection: %s",
		    sqlite3_errmsg(s->db));
		goto out;
	}
	ret = 0;
out:
	sqlite3_finalize(st);
	buf_free(&ids);
	buf_free(&x.vals);
	buf_free(&x.xml);
	free(x.dc);
	free(x.off);
	free(x.noff);
	return ret;
}
