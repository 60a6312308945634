/*
 * The PostgreSQL backend's queries (see backend.h, pg.h): export, the
 * change log, status, full-text search and the outbox.  Rows come off the
 * server one at a time (single-row mode), so that an export of millions
 * of records holds one in memory.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "util.h"
#include "log.h"
#include "pg.h"
#include "pg_tsv.h"

/* Search: the columns of "column:word", by weight (pg.c's FTS_DOC). */
static const struct {
	const char *name;
	char	    weight;
} search_columns[] = {
	{ "title", 'A' },
	{ "creator", 'B' },
	{ "subject", 'C' },
	{ "description", 'D' },
};

#define SEARCH_SPACE " \t\n\r\f\v"

/* Export */

struct export
{
	struct store_pg		  *s;
	struct pg_dc		   dc;
	struct store_export_value *v;
	size_t			   nv;
	int (*row)(void *, const struct store_export_row *);
	void *arg;
	char *cause;
};

static int
export_row(void *arg, PGresult *r, int i)
{
	struct export	       *x = arg;
	struct store_export_row er;
	const char	       *dc;
	size_t			k;

	memset(&er, 0, sizeof(er));
	er.id = pg_ll(r, i, 0, 0);
	er.source = pg_col(r, i, 1);
	er.identifier = pg_col(r, i, 2);
	er.prefix = pg_col(r, i, 3);
	er.datestamp = pg_col(r, i, 4);
	er.deleted = pg_ll(r, i, 5, 0) != 0;
	if (!er.deleted && (er.metadata = pg_col(r, i, 6)) != NULL)
		er.metadata_len = (size_t)PQgetlength(r, i, 6);
	er.sets = pg_col(r, i, 7);
	er.sets_len = er.sets != NULL ? (size_t)PQgetlength(r, i, 7) : 0;
	if ((dc = pg_col(r, i, 8)) != NULL) {
		if (pg_dc_parse(&x->dc, dc, (size_t)PQgetlength(r, i, 8)) ==
		    -1) {
			xasprintf(&x->cause,
			    "store: export: record %lld: content.dc is not "
			    "what oaiharvest writes",
			    (long long)er.id);
			return -1;
		}
		if (x->nv < x->dc.n) {
			x->v = xreallocarray(x->v, x->dc.n, sizeof(*x->v));
			x->nv = x->dc.n;
		}
		for (k = 0; k < x->dc.n; k++) {
			x->v[k].element = x->dc.code[k];
			x->v[k].name = x->dc.noff[k] == SIZE_MAX ?
			    NULL :
			    x->dc.vals.data + x->dc.noff[k];
			x->v[k].value = x->dc.vals.data + x->dc.off[k];
			x->v[k].len = x->dc.len[k];
		}
		er.dc = x->v;
		er.ndc = x->dc.n;
	}
	return x->row(x->arg, &er);
}

static int
export_run(struct store_pg *s, enum pg_query q, const struct pg_params *p,
    int (*row)(void *, const struct store_export_row *), void *arg,
    char **cause)
{
	struct export x;
	int r;

	memset(&x, 0, sizeof(x));
	x.s = s;
	x.row = row;
	x.arg = arg;
	pg_dc_init(&x.dc);
	r = pg_exec_rows(s, q, p, export_row, &x, cause);
	if (x.cause != NULL) {
		set_cause(cause, "%s", x.cause);
		free(x.cause);
	}
	pg_dc_free(&x.dc);
	free(x.v);
	return r;
}

int
store_pg_export(void *be, const char *source, const char *prefix,
    int (*row)(void *, const struct store_export_row *), void *arg,
    char **cause)
{
	struct pg_params p;

	pgp_init(&p);
	pgp_text(&p, source);
	pgp_text(&p, prefix);
	return export_run(be, PQ_EXPORT, &p, row, arg, cause);
}

int
store_pg_export_select(void *be, const struct store_export_filter *f,
    int (*row)(void *, const struct store_export_row *), void	  *arg,
    char **cause)
{
	struct pg_params p;
	struct buf	 ids;
	size_t		 i;
	int		 r;

	if (f->since < 0 && f->identifiers == NULL)
		return store_pg_export(
		    be, f->source, f->prefix, row, arg, cause);
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
	pgp_init(&p);
	pgp_text(&p, f->source);
	pgp_text(&p, f->prefix);
	if (f->since >= 0) {
		pgp_int(&p, f->since);
		pgp_textn(
		    &p, f->identifiers != NULL ? ids.data : NULL, ids.len);
		r = export_run(be, PQ_EXPORT_SINCE, &p, row, arg, cause);
	} else {
		pgp_textn(&p, ids.data, ids.len);
		r = export_run(be, PQ_EXPORT_IDS, &p, row, arg, cause);
	}
	buf_free(&ids);
	return r;
}

/* The change log */

struct changes {
	int (*row)(void *, const struct store_change_row *);
	void *arg;
};

static int
change_row(void *arg, PGresult *r, int i)
{
	struct changes	       *c = arg;
	struct store_change_row cr;

	cr.seq = pg_ll(r, i, 0, 0);
	cr.source = pg_col(r, i, 1);
	cr.identifier = pg_col(r, i, 2);
	cr.prefix = pg_col(r, i, 3);
	cr.kind = pg_col(r, i, 4);
	cr.datestamp = pg_col(r, i, 5);
	cr.at = pg_col(r, i, 6);
	cr.reason = pg_col(r, i, 7);
	return c->row(c->arg, &cr);
}

int
store_pg_changes(void *be, int64_t since, int64_t limit,
    int (*row)(void *, const struct store_change_row *), void *arg,
    char **cause)
{
	struct pg_params p;
	struct changes	 c = { row, arg };

	pgp_init(&p);
	pgp_int(&p, since);
	pgp_count(&p, limit);
	return pg_exec_rows(be, PQ_CHANGES, &p, change_row, &c, cause);
}

/* Status */

static int
status_lists(struct store_pg *s, int64_t id, const struct store_status_cb *cb,
    char **cause)
{
	struct store_list_row lr;
	struct pg_params      p;
	PGresult	     *r;
	int		      i;

	pgp_init(&p);
	pgp_int(&p, id);
	if ((r = pg_exec(s, PQ_STATUS_LISTS, &p, cause)) == NULL)
		return -1;
	for (i = 0; i < PQntuples(r) && cb->list != NULL; i++) {
		lr.prefix = pg_col(r, i, 0);
		lr.prefix_len = (size_t)PQgetlength(r, i, 0);
		lr.set = pg_col(r, i, 1);
		lr.set_len = (size_t)PQgetlength(r, i, 1);
		lr.watermark = pg_col(r, i, 2);
		lr.watermark_len = (size_t)PQgetlength(r, i, 2);
		lr.token = pg_col(r, i, 3);
		lr.progress = pg_col(r, i, 4);
		lr.cursor = pg_ll(r, i, 5, -1);
		lr.complete_list_size = pg_ll(r, i, 6, -1);
		lr.pages = pg_ll(r, i, 7, 0);
		if (cb->list(cb->arg, &lr) == -1) {
			PQclear(r);
			return -1;
		}
	}
	PQclear(r);
	return 0;
}

/* Source id's records by prefix, present and deleted: a scan of them. */
static int
status_prefixes(struct store_pg *s, int64_t id,
    const struct store_status_cb *cb, char **cause)
{
	struct store_prefix_row pr;
	struct pg_params	p;
	PGresult	       *r;
	int			k;

	pgp_init(&p);
	pgp_int(&p, id);
	if ((r = pg_exec(s, PQ_STATUS_RECORDS, &p, cause)) == NULL)
		return -1;
	for (k = 0; k < PQntuples(r) && cb->prefix != NULL; k++) {
		pr.prefix = pg_col(r, k, 0);
		pr.present = pg_ll(r, k, 1, 0);
		pr.deleted = pg_ll(r, k, 2, 0);
		if (cb->prefix(cb->arg, &pr) == -1) {
			PQclear(r);
			return -1;
		}
	}
	PQclear(r);
	return 0;
}

static int
status_source(struct store_pg *s, PGresult *src, int i,
    const struct store_status_cb *cb, char **cause)
{
	struct store_source_row so;
	struct store_run_row	ru;
	struct pg_params	p;
	PGresult	       *r;
	int64_t			id;
	int			rc;

	id = pg_ll(src, i, 0, 0);
	memset(&so, 0, sizeof(so));
	so.name = pg_col(src, i, 1);
	so.url = pg_col(src, i, 2);
	so.repository_name = pg_col(src, i, 3);
	so.repository_name_len = (size_t)PQgetlength(src, i, 3);
	so.granularity = pg_col(src, i, 4);
	so.granularity_len = (size_t)PQgetlength(src, i, 4);
	so.earliest = pg_col(src, i, 5);
	so.deleted_record = pg_col(src, i, 6);
	so.deleted_record_len = (size_t)PQgetlength(src, i, 6);
	so.identified_at = pg_col(src, i, 7);
	if (cb->source != NULL && cb->source(cb->arg, &so) == -1)
		return -1;

	pgp_init(&p);
	pgp_int(&p, id);
	if ((r = pg_exec(s, PQ_RUN_LAST, &p, cause)) == NULL)
		return -1;
	if (PQntuples(r) == 1) {
		ru.id = pg_ll(r, 0, 0, 0);
		ru.started = pg_col(r, 0, 1);
		ru.ended = pg_col(r, 0, 2);
		ru.status = pg_col(r, 0, 3);
		ru.pages = pg_ll(r, 0, 4, 0);
		ru.records = pg_ll(r, 0, 5, 0);
		ru.new_records = pg_ll(r, 0, 6, 0);
		ru.updated = pg_ll(r, 0, 7, 0);
		ru.deleted = pg_ll(r, 0, 8, 0);
		ru.unchanged = pg_ll(r, 0, 9, 0);
		ru.bytes = pg_ll(r, 0, 10, 0);
		ru.error = pg_col(r, 0, 11);
		rc = cb->run != NULL ? cb->run(cb->arg, &ru) : 0;
	} else
		rc = cb->run != NULL ? cb->run(cb->arg, NULL) : 0;
	PQclear(r);
	if (rc == -1)
		return -1;

	if (status_prefixes(s, id, cb, cause) == -1)
		return -1;
	return status_lists(s, id, cb, cause);
}

int
store_pg_status(void *be, const struct store_status_cb *cb, char **cause)
{
	struct store_pg *s = be;
	PGresult	*r;
	int		 i, ret = 0;

	if ((r = pg_exec(s, PQ_STATUS_SOURCES, NULL, cause)) == NULL)
		return -1;
	for (i = 0; i < PQntuples(r) && ret == 0; i++)
		ret = status_source(s, r, i, cb, cause);
	PQclear(r);
	return ret;
}

int
store_pg_source_status(
    void *be, const char *name, const struct store_status_cb *cb, char **cause)
{
	struct store_pg	       *s = be;
	struct store_source_row so;
	struct pg_params	p;
	PGresult	       *r;
	int64_t			id;
	int			rc;

	pgp_init(&p);
	pgp_text(&p, name);
	if ((r = pg_exec(s, PQ_SOURCE_JSON, &p, cause)) == NULL)
		return -1;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return cb->source != NULL ? cb->source(cb->arg, NULL) : 0;
	}
	id = pg_ll(r, 0, 0, 0);
	memset(&so, 0, sizeof(so));
	so.name = name;
	so.repository_name = pg_col(r, 0, 1);
	so.repository_name_len = (size_t)PQgetlength(r, 0, 1);
	so.granularity = pg_col(r, 0, 2);
	so.granularity_len = (size_t)PQgetlength(r, 0, 2);
	so.deleted_record = pg_col(r, 0, 3);
	so.deleted_record_len = (size_t)PQgetlength(r, 0, 3);
	rc = cb->source != NULL ? cb->source(cb->arg, &so) : 0;
	PQclear(r);
	if (rc == -1)
		return -1;
	if (cb->prefix != NULL && status_prefixes(s, id, cb, cause) == -1)
		return -1;
	return status_lists(s, id, cb, cause);
}

/* Search */

/*
 * The query as a tsquery of the index's terms: each word (or "phrase")
 * folded by the tokenizer that made the index (pg_tsv.c), several tokens
 * a phrase (a <-> b), and given to PostgreSQL as tsquery text, which it
 * does not normalise again.  syntax: FTS5's query syntax as the SQLite
 * backend reads it, "a phrase", AND, OR, NOT, parentheses, column:term,
 * term* and NEAR(...) (its words); -1 for what has no tsquery (^,
 * {columns}), an operator out of place, or a term without tokens.  Else
 * plain words, as sqlite_query.c's search_plain(): the operators only
 * between two words, column: and a trailing * kept.
 */
static int
search_is_op(const char *w, size_t n)
{
	return (n == 3 &&
		   (memcmp(w, "AND", 3) == 0 || memcmp(w, "NOT", 3) == 0)) ||
	    (n == 2 && memcmp(w, "OR", 2) == 0);
}

/* The weight of column w (n bytes), or 0. */
static char
search_column(const char *w, size_t n)
{
	size_t i;

	for (i = 0; i < nitems(search_columns); i++)
		if (strlen(search_columns[i].name) == n &&
		    strncasecmp(search_columns[i].name, w, n) == 0)
			return search_columns[i].weight;
	return 0;
}

/*
 * Add term w (n bytes) as its tokens, with its weight and prefix mark,
 * after sep (if any): the number of tokens (0: nothing added), -1 when
 * the tokenizer fails.
 */
static int
search_term(struct pg_tsv *x, struct buf *b, const char *sep, const char *w,
    size_t n, char weight, int star)
{
	struct buf t;
	int	   k;

	buf_init(&t, SIZE_MAX / 4);
	if ((k = pg_tsv_query_word(x, &t, w, n, weight, star)) > 0) {
		if (sep != NULL)
			buf_addstr(b, sep);
		buf_add(b, t.data, t.len);
	}
	buf_free(&t);
	return k;
}

/* One word of plain text; 0 if it holds no token. */
static int
search_word(
    struct pg_tsv *x, struct buf *b, const char *w, size_t n, const char *op)
{
	const char *colon;
	char	    weight = 0;
	int	    star = 0;

	colon = memchr(w, ':', n);
	if (colon != NULL && colon > w &&
	    (weight = search_column(w, (size_t)(colon - w))) != 0) {
		n -= (size_t)(colon - w) + 1;
		w = colon + 1;
	}
	while (n > 0 && w[n - 1] == '*') {
		star = 1;
		n--;
	}
	return search_term(x, b,
		   b->len == 0		      ? NULL :
		       op == NULL	      ? " & " :
		       strcmp(op, "OR") == 0  ? " | " :
		       strcmp(op, "NOT") == 0 ? " & !" :
						" & ",
		   w, n, weight, star) > 0;
}

static void
search_plain(struct pg_tsv *x, const char *q, struct buf *b)
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
				search_word(x, b, op, strlen(op), NULL);
			memcpy(opw, w, n);
			opw[n] = '\0';
			op = opw;
			continue;
		}
		if (search_word(x, b, w, n, op))
			op = NULL;
	}
	if (op != NULL)
		search_word(x, b, op, strlen(op), NULL);
}

static int
search_syntax(struct pg_tsv *x, const char *q, struct buf *b)
{
	const char *p = q, *w, *e;
	const char *op = NULL;
	size_t	    n;
	char	    weight;
	int	    operand = 0, depth = 0, star, k;

	buf_reset(b);
	for (;;) {
		p += strspn(p, SEARCH_SPACE);
		if (*p == '\0')
			break;
		if (*p == ')') {
			if (!operand || op != NULL || depth == 0)
				return -1;
			buf_addch(b, ')');
			depth--;
			p++;
			continue;
		}
		n = strcspn(p, SEARCH_SPACE "()\"");
		if (n > 0 && search_is_op(p, n)) {
			if (!operand || op != NULL)
				return -1;
			op = n == 2 ? " | " : p[0] == 'A' ? " & " : " & !";
			p += n;
			continue;
		}
		if (operand)
			buf_addstr(b, op != NULL ? op : " & ");
		op = NULL;
		if (*p == '(') {
			buf_addch(b, '(');
			depth++;
			operand = 0;
			p++;
			continue;
		}
		/*
		 * NEAR(a b ..., N): tsquery has no "within N", so all
		 * its words (a superset of FTS5's answer).
		 */
		if (strncmp(p, "NEAR(", 5) == 0) {
			if ((e = strchr(p, ')')) == NULL)
				return -1;
			buf_addch(b, '(');
			for (p += 5, k = 0; p < e; p += n) {
				p += strspn(p, SEARCH_SPACE ",");
				n = strcspn(p, SEARCH_SPACE ",)");
				if (n == 0 || strspn(p, "0123456789") == n)
					continue;
				switch (search_term(
				    x, b, k > 0 ? " & " : NULL, p, n, 0, 0)) {
				case -1:
					return -1;
				case 0:
					break;
				default:
					k++;
				}
			}
			if (k == 0)
				return -1;
			buf_addch(b, ')');
			p = e + 1;
			operand = 1;
			continue;
		}
		/* column:, then a word or a "phrase", then *. */
		weight = 0;
		e = memchr(p, ':', n);
		if (e != NULL && e > p) {
			if ((weight = search_column(p, (size_t)(e - p))) == 0)
				return -1;
			p = e + 1;
			p += strspn(p, SEARCH_SPACE);
		}
		if (*p == '"') {
			w = ++p;
			/* "" inside a phrase is a quote. */
			for (e = p; *e != '\0'; e++) {
				if (*e == '"' && e[1] == '"')
					e++;
				else if (*e == '"')
					break;
			}
			if (*e != '"')
				return -1;
			n = (size_t)(e - w);
			p = e + 1;
		} else {
			w = p;
			n = strcspn(p, SEARCH_SPACE "()\"");
			p += n;
		}
		star = 0;
		while (n > 0 && w[n - 1] == '*') {
			star = 1;
			n--;
		}
		if (*p == '*') {
			star = 1;
			p++;
		}
		if (n == 0 || memchr(w, '{', n) != NULL ||
		    memchr(w, '}', n) != NULL || memchr(w, '^', n) != NULL ||
		    memchr(w, '+', n) != NULL)
			return -1;
		if (search_term(x, b, NULL, w, n, weight, star) <= 0)
			return -1;
		operand = 1;
	}
	return operand && op == NULL && depth == 0 ? 0 : -1;
}

struct search {
	int (*row)(void *, const struct store_search_row *);
	void	      *arg;
	long long      rows;
	struct pg_tsv *tsv;
};

static int
search_row(void *arg, PGresult *r, int i)
{
	struct search	       *x = arg;
	struct store_search_row sr;

	sr.source = pg_col(r, i, 0);
	sr.source_len = (size_t)PQgetlength(r, i, 0);
	sr.identifier = pg_col(r, i, 1);
	sr.identifier_len = (size_t)PQgetlength(r, i, 1);
	sr.prefix = pg_col(r, i, 2);
	sr.prefix_len = (size_t)PQgetlength(r, i, 2);
	sr.datestamp = pg_col(r, i, 3);
	sr.datestamp_len = (size_t)PQgetlength(r, i, 3);
	sr.title = pg_col(r, i, 4);
	sr.title_len = (size_t)PQgetlength(r, i, 4);
	sr.snippet = pg_col(r, i, 5);
	sr.snippet_len = (size_t)PQgetlength(r, i, 5);
	sr.score = strtod(PQgetvalue(r, i, 6), NULL);
	x->rows++;
	return x->row(x->arg, &sr);
}

static int
search_run(struct store_pg *s, const struct buf *tsq, const char *source,
    long long limit, struct search *x, char **cause)
{
	struct pg_params p;

	pgp_init(&p);
	pgp_textn(&p, tsq->data, tsq->len);
	pgp_text(&p, source);
	pgp_count(&p, limit);
	x->rows = 0;
	return pg_exec_rows(s, PQ_SEARCH, &p, search_row, x, cause);
}

int
store_pg_search(void *be, const char *query, const char *source,
    long long limit, int (*row)(void *, const struct store_search_row *),
    void *arg, char **cause)
{
	struct store_pg *s = be;
	struct search	 x = { row, arg, 0, NULL };
	struct buf	 tsq;
	char		*why = NULL;
	int		 r = 0;

	if ((x.tsv = pg_tsv_get(s, cause)) == NULL)
		return -1;
	buf_init(&tsq, SIZE_MAX / 4);
	if (strpbrk(query, "\"*:(){}^+") != NULL ||
	    strstr(query, "AND") != NULL || strstr(query, "OR") != NULL ||
	    strstr(query, "NOT") != NULL) {
		if (search_syntax(x.tsv, query, &tsq) == 0) {
			r = search_run(s, &tsq, source, limit, &x, &why);
			/* A row's stop, or rows given: that is the answer. */
			if (r == 0 || x.rows > 0 || why == NULL) {
				if (why != NULL)
					set_cause(cause, "%s", why);
				free(why);
				buf_free(&tsq);
				return r;
			}
			log_info("event=search_plain query=%s cause=%s "
				 "msg=\"not query syntax: searched as plain "
				 "words\"",
			    log_q(query), log_q(why));
			free(why);
		}
	}
	search_plain(x.tsv, query, &tsq);
	/* Nothing to search for matches nothing. */
	if (tsq.len > 0)
		r = search_run(s, &tsq, source, limit, &x, cause);
	buf_free(&tsq);
	return r;
}

/* For the daemon's status server. */

int
store_pg_writable(void *be, char **cause)
{
	struct store_pg *s = be;
	PGresult	*r;
	int		 w;

	/* Inside a page transaction the database is being written. */
	if (s->intxn)
		return 0;
	if ((r = pg_exec(s, PQ_WRITABLE, NULL, cause)) == NULL)
		return -1;
	w = pg_ll(r, 0, 0, 0) == 1;
	PQclear(r);
	if (!w) {
		set_cause(cause, "store: %s is read-only", s->safe);
		return -1;
	}
	return 0;
}

int64_t
store_pg_last_seq(void *be)
{
	struct store_pg *s = be;
	PGresult	*r;
	int64_t		 seq;

	if ((r = pg_exec(s, PQ_SEQ_GET, NULL, NULL)) == NULL)
		return -1;
	seq = pg_ll(r, 0, 0, -1);
	PQclear(r);
	return seq;
}

/* Feeds (the outbox pattern). */

int
store_pg_outbox_get(void *be, const char *name, int64_t *seq, char **cause)
{
	struct pg_params p;
	PGresult	*r;

	*seq = 0;
	pgp_init(&p);
	pgp_text(&p, name);
	if ((r = pg_exec(be, PQ_OUTBOX_GET, &p, cause)) == NULL)
		return -1;
	if (PQntuples(r) == 1)
		*seq = pg_ll(r, 0, 0, 0);
	PQclear(r);
	return 0;
}

int
store_pg_outbox_set(void *be, const char *name, int64_t seq, char **cause)
{
	struct pg_params p;

	pgp_init(&p);
	pgp_text(&p, name);
	pgp_int(&p, seq);
	return pg_send(be, PQ_OUTBOX_SET, &p, cause);
}
