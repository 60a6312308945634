/*
 * The PostgreSQL backend's page transaction (see backend.h, pg.h): put,
 * list state, rejects and deletion sweeps.  A page transaction runs in
 * libpq's pipeline mode: writes are queued (pg_send()) and only what
 * store_put() must know before it returns, whether the record is new or
 * what is stored, waits for its answer (pg_exec()): one round trip a
 * record.  A page's new records go in with their content and sets in
 * one statement, and its known records' new datestamps in another
 * (struct pg_bulk: each column a text[] parameter, unnested).
 *
 * Change seqs.  A sequence would give seqs in the order transactions ask,
 * not the order they commit: A takes 10, B 11, B commits, and a reader at
 * 11 never sees 10.  So a transaction's change rows wait here (a JSON
 * array) and go in at commit, numbered from change_seq.last in the same
 * statement, which locks that row until COMMIT: a second writer waits
 * for it and numbers after.  Seqs are contiguous, never reused and in
 * commit order.  Past PG_CHANGES_MAX rows (a sweep deleting many), they go
 * in early, the lock held from then on.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "util.h"
#include "log.h"
#include "pg.h"
#include "pg_tsv.h"

/* Change rows held before they go in (see above). */
#define PG_CHANGES_MAX	     2000
#define PG_CHANGES_MAX_BYTES (1024 * 1024)

/*
 * Rows gathered for a multi-row statement before it goes (the page writer's
 * batch is some 400 records: one statement a batch), and the most bytes.
 */
#define PG_BULK_MAX	  1000
#define PG_BULK_MAX_BYTES (8 * 1024 * 1024)
/* The records the full-text index owes, indexed by one statement at most. */
#define PG_TRAIL_MAX 5000
/* Records made again (migration 4) by one statement. */
#define PG_REBUILD_MAX 1000
/* A drain's statements at most: each indexes some or ends it. */
#define PG_DRAIN_ROUNDS 1000000

/* The columns of PQ_RECORDS_NEW and PQ_RECORDS_UPDATE. */
#define PG_ADD_COLS 11
#define PG_UPD_COLS 6

static int  need_transaction(struct store_pg *, const char *, char **);
static int  need_source(struct store_pg *, const char *, int64_t, char **);
static int  is_stale(const char *, const char *);
static int  change_add(struct store_pg *, int64_t, int64_t,
     const struct store_record *, enum store_change, const char *, char **);
static int  changes_flush(struct store_pg *, char **);
static void transaction_end(struct store_pg *);
static void pf_clear(struct store_pg *);
static const char *record_xml(struct store_pg *, const struct store_record *,
    const struct store_prepared *, size_t *, char **);
static void	   bulk_reset(struct pg_bulk *, int);
static void	   bulk_torn(struct store_pg *);
static const char *record_tsv(
    struct store_pg *, const struct store_prepared *, size_t *, char **);
static int  pg_fts_rebuild(struct store_pg *, char **);
static void bulk_free(struct pg_bulk *);

static int
need_transaction(struct store_pg *s, const char *what, char **cause)
{
	if (!s->intxn) {
		set_cause(cause, "store: %s: not inside a transaction", what);
		return -1;
	}
	return 0;
}

/*
 * need_transaction() for a statement on a source's rows (records,
 * content, sets, lists, rejects, changes): before the transaction's
 * first, lock the source's row FOR KEY SHARE, as the foreign keys of its
 * list, reject and change rows would later anyway.  A drop or reset locks
 * it FOR UPDATE before anything else (pg_admin.c): either it waits for
 * this transaction to end, or this one waits here for it, holding no row
 * of the source.  Queued, not awaited; a source dropped meanwhile is no
 * row here, and the page's list or change rows then fail on their
 * foreign key, as before.
 */
static int
need_source(struct store_pg *s, const char *what, int64_t source, char **cause)
{
	struct pg_params q;

	if (need_transaction(s, what, cause) == -1)
		return -1;
	if (source == s->shared)
		return 0;
	pgp_init(&q);
	pgp_int(&q, source);
	if (pg_send(s, PQ_SOURCE_SHARE, &q, cause) == -1)
		return -1;
	s->shared = source;
	return 0;
}

/* Leave pipeline mode; what the transaction held is gone. */
static void
transaction_end(struct store_pg *s)
{
	PGresult *r;

	while ((r = PQgetResult(s->conn)) != NULL)
		PQclear(r);
	if (!PQexitPipelineMode(s->conn))
		log_err("event=store_pipeline_error path=%s error=%s",
		    log_q(s->safe), log_q(PQerrorMessage(s->conn)));
	s->intxn = 0;
	s->shared = 0;
	s->nsent = 0;
	free(s->failed);
	s->failed = NULL;
	buf_reset(&s->changes);
	s->nchanges = 0;
	s->notify = 0;
	pf_clear(s);
	bulk_reset(&s->add, PG_ADD_COLS);
	bulk_reset(&s->upd, PG_UPD_COLS);
}

int
store_pg_begin(void *be, char **cause)
{
	struct store_pg *s = be;

	if (s->intxn)
		store_pg_rollback(s);
	if (!PQenterPipelineMode(s->conn)) {
		set_cause(cause, "store: begin %s: %s", s->safe,
		    PQerrorMessage(s->conn));
		return -1;
	}
	s->intxn = 1;
	return pg_send(s, PQ_BEGIN, NULL, cause);
}

/* On failure the transaction is still open: the caller rolls it back. */
int
store_pg_commit(void *be, char **cause)
{
	struct store_pg *s = be;

	if (need_transaction(s, "commit", cause) == -1)
		return -1;
	if (pg_bulk_flush(s, cause) == -1 || changes_flush(s, cause) == -1)
		return -1;
	/* Listeners (pg_watch.c) hear of the changes once they commit. */
	if ((s->notify && pg_send(s, PQ_NOTIFY, NULL, cause) == -1) ||
	    pg_send(s, PQ_COMMIT, NULL, cause) == -1 || pg_sync(s, cause) == -1)
		return -1;
	transaction_end(s);
	pg_gin_commit(s);
	return 0;
}

/*
 * The full-text index.  The tsvectors go in with their records (pg.c):
 * no write owes the index anything.  What fts_pending holds (an older
 * version's leftovers, migration 4's rebuild) is indexed by
 * pg_fts_drain() at a page writer's open and close (pg.c).
 */

/*
 * Make the tsvectors owed without one (migration 4) from content.dc, a
 * batch a transaction; rows another connection is making are skipped.
 */
static int
pg_fts_rebuild(struct store_pg *s, char **cause)
{
	struct pg_params  q;
	struct pg_tsv	 *x;
	const struct buf *b;
	PGresult	 *r;
	char		 *why = NULL;
	int		  i, k, n;

	if ((x = pg_tsv_get(s, cause)) == NULL)
		return -1;
	for (i = 0; i < PG_DRAIN_ROUNDS; i++) {
		if (store_pg_begin(s, cause) == -1)
			return -1;
		pgp_init(&q);
		pgp_int(&q, PG_REBUILD_MAX);
		if ((r = pg_exec(s, PQ_FTS_OWED, &q, cause)) == NULL)
			goto fail;
		n = PQntuples(r);
		for (k = 0; k < n; k++) {
			pgp_init(&q);
			pgp_int(&q, strtoll(PQgetvalue(r, k, 0), NULL, 10));
			if (PQgetisnull(r, k, 1))
				pgp_text(&q, NULL);
			else if (pg_tsv_dc(x, PQgetvalue(r, k, 1),
				     (size_t)PQgetlength(r, k, 1), &b,
				     &why) == 0)
				pgp_textn(&q, buf_str(b), b->len);
			else {
				/* Unreadable: an empty one, logged. */
				log_warn("event=search_index_error path=%s "
					 "record=%s error=%s",
				    log_q(s->safe), PQgetvalue(r, k, 0),
				    log_q(why));
				free(why);
				why = NULL;
				pgp_textn(&q, "", 0);
			}
			if (pg_send(s, PQ_FTS_FILL, &q, cause) == -1) {
				PQclear(r);
				goto fail;
			}
		}
		PQclear(r);
		if (store_pg_commit(s, cause) == -1)
			goto fail;
		if (n == 0)
			break;
	}
	return 0;
fail:
	store_pg_rollback(s);
	return -1;
}

int
pg_fts_drain(struct store_pg *s, char **cause)
{
	struct pg_params q;
	PGresult	*r;
	long long	 n;
	int		 i;

	if (s->intxn) {
		set_cause(cause, "store: search index: inside a transaction");
		return -1;
	}
	if (pg_fts_rebuild(s, cause) == -1)
		return -1;
	for (i = 0; i < PG_DRAIN_ROUNDS; i++) {
		pgp_init(&q);
		pgp_int(&q, PG_TRAIL_MAX);
		if ((r = pg_exec(s, PQ_FTS_TRAIL, &q, cause)) == NULL)
			return -1;
		n = pg_ll(r, 0, 0, 0);
		PQclear(r);
		if (n == 0)
			break;
	}
	return 0;
}

void
store_pg_rollback(void *be)
{
	struct store_pg *s = be;
	char		*cause = NULL;

	if (!s->intxn)
		return;
	/* Drain what was queued, failed or not, then roll back. */
	pg_sync(s, NULL);
	free(s->failed);
	s->failed = NULL;
	if (pg_send(s, PQ_ROLLBACK, NULL, &cause) == -1 ||
	    pg_sync(s, &cause) == -1) {
		log_err("event=store_rollback_error path=%s error=%s",
		    log_q(s->safe), log_q(cause));
		free(cause);
	}
	transaction_end(s);
}

void
store_pg_write_free(struct store_pg *s)
{
	pf_clear(s);
	bulk_free(&s->add);
	bulk_free(&s->upd);
	buf_free(&s->changes);
	buf_free(&s->oldsets);
	buf_free(&s->xml);
	pg_dc_free(&s->dc);
	pg_tsv_free(s->tsv);
	s->tsv = NULL;
	store_prep_free(s->prep);
}

/* Records */

/* As sqlite_write.c: an incoming copy older than the stored one. */
static int
is_stale(const char *stored, const char *incoming)
{
	time_t ts, ti;

	if (stored == NULL || datestamp_read(stored, &ts, NULL, NULL) == -1 ||
	    datestamp_read(incoming, &ti, NULL, NULL) == -1)
		return 0;
	return ti < ts;
}

/*
 * The record's XML: as it came, or (when store_prepare() made a template
 * and the spool kept that instead) the template filled with the values of
 * content.dc.  PostgreSQL keeps it whole (see pg.c).
 */
static const char *
record_xml(struct store_pg *s, const struct store_record *r,
    const struct store_prepared *p, size_t *len, char **cause)
{
	*len = 0;
	if (r->metadata != NULL) {
		*len = r->metadata_len;
		return r->metadata;
	}
	if (p->tmpl == NULL)
		return NULL;
	if (s->dc.vals.max == 0)
		pg_dc_init(&s->dc);
	if (s->xml.max == 0)
		buf_init(&s->xml, EXPORT_MAX_LINE);
	buf_reset(&s->xml);
	if (pg_dc_parse(&s->dc, p->dc_json, p->dc_json_len) == -1 ||
	    store_template_fill(&s->xml, p->tmpl, p->tmpl_len, &s->dc.vals,
		s->dc.off, s->dc.n) == -1) {
		set_cause(cause, "store: put: %s: template does not fit",
		    log_q(r->identifier));
		return NULL;
	}
	*len = s->xml.len;
	return buf_str(&s->xml);
}

/* $n.. of a content row: dc, xml, its tsvector (pg_tsv.c). */
static int
content_params(struct store_pg *s, struct pg_params *q,
    const struct store_prepared *p, const char *xml, size_t xml_len,
    char **cause)
{
	const char *tsv;
	size_t	    len;

	if ((tsv = record_tsv(s, p, &len, cause)) == NULL)
		return -1;
	pgp_textn(q, p->dc_json, p->dc_json_len);
	pgp_textn(q, xml, xml_len);
	pgp_textn(q, tsv, len);
	return 0;
}

/* $1..$11 of PQ_RECORD_ADD. */
static int
add_params(struct store_pg *s, struct pg_params *q, int64_t source,
    const struct store_record *r, const struct store_prepared *p,
    const char *now, const char *xml, size_t xml_len, char **cause)
{
	pgp_init(q);
	pgp_int(q, source);
	pgp_text(q, r->prefix);
	pgp_text(q, r->identifier);
	pgp_text(q, r->datestamp);
	pgp_int(q, r->deleted != 0);
	pgp_int(q, (long long)p->hash);
	pgp_textn(q, p->sets_json, p->sets_json_len);
	pgp_text(q, now);
	if (p->dc_json != NULL) {
		if (content_params(s, q, p, xml, xml_len, cause) == -1)
			return -1;
	} else
		while (q->n < 11)
			pgp_textn(q, NULL, 0);
	return 0;
}

/* Multi-row statements (see pg.h) */

/* Binary text[]: ndim, has-nulls, element type (text), length, lower bound. */
#define ARR_HEADER  20
#define TEXTOID	    25
#define TSVECTOROID 3614

/* PQ_RECORDS_NEW's columns: text, but the tsvectors (in binary). */
static const uint32_t add_elem[PG_ADD_COLS] = { TEXTOID, TEXTOID, TEXTOID,
	TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
	TSVECTOROID };

static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static void
bulk_reset(struct pg_bulk *b, int ncols)
{
	static const char zero[ARR_HEADER];
	int		  c;

	b->ncols = ncols;
	for (c = 0; c < ncols; c++) {
		if (b->col[c].max == 0)
			buf_init(&b->col[c], 2 * PG_BULK_MAX_BYTES);
		buf_reset(&b->col[c]);
		buf_add(&b->col[c], zero, sizeof(zero));
	}
	b->n = 0;
	b->bytes = 0;
}

static void
bulk_free(struct pg_bulk *b)
{
	int c;

	for (c = 0; c < PG_BULK_COLS; c++)
		buf_free(&b->col[c]);
	memset(b, 0, sizeof(*b));
}

/* A value of the row being added to column c; NULL as NULL. */
static int
bulk_textn(struct pg_bulk *b, int c, const char *v, size_t len)
{
	unsigned char n[4];

	if (len > INT32_MAX)
		return -1;
	put32(n, v != NULL ? (uint32_t)len : UINT32_MAX);
	if (buf_add(&b->col[c], n, sizeof(n)) == -1 ||
	    (v != NULL && buf_add(&b->col[c], v, len) == -1))
		return -1;
	b->bytes += sizeof(n) + (v != NULL ? len : 0);
	return 0;
}

static int
bulk_text(struct pg_bulk *b, int c, const char *v)
{
	return bulk_textn(b, c, v, v != NULL ? strlen(v) : 0);
}

static int
bulk_int(struct pg_bulk *b, int c, long long v)
{
	char num[24];

	snprintf(num, sizeof(num), "%lld", v);
	return bulk_text(b, c, num);
}

/* Send b's rows as statement q, then start it again. */
static int
bulk_send(struct store_pg *s, struct pg_bulk *b, enum pg_query q, char **cause)
{
	struct pg_params p;
	unsigned char	*h;
	int		 c;

	if (b->n == 0)
		return 0;
	pgp_init(&p);
	for (c = 0; c < b->ncols; c++) {
		h = (unsigned char *)b->col[c].data;
		put32(h, 1);
		put32(h + 4, 1);
		put32(h + 8, q == PQ_RECORDS_NEW ? add_elem[c] : TEXTOID);
		put32(h + 12, (uint32_t)b->n);
		put32(h + 16, 1);
		pgp_textn(&p, b->col[c].data, b->col[c].len);
	}
	if (pg_send(s, q, &p, cause) == -1)
		return -1;
	bulk_reset(b, b->ncols);
	return 0;
}

/* A row half added: the transaction fails (see pg_send()). */
static void
bulk_torn(struct store_pg *s)
{
	if (s->failed == NULL)
		s->failed = xstrdup("store: put: too long");
	bulk_reset(&s->add, PG_ADD_COLS);
	bulk_reset(&s->upd, PG_UPD_COLS);
}

int
pg_bulk_flush(struct store_pg *s, char **cause)
{
	if (!s->intxn)
		return 0;
	if (bulk_send(s, &s->add, PQ_RECORDS_NEW, cause) == -1 ||
	    bulk_send(s, &s->upd, PQ_RECORDS_UPDATE, cause) == -1)
		return -1;
	return 0;
}

/*
 * The record's tsvector in binary (pg_tsv_doc_bin()), *len bytes, until
 * the next call.
 */
static const char *
record_tsv(struct store_pg *s, const struct store_prepared *p, size_t *len,
    char **cause)
{
	const struct buf *b;
	struct pg_tsv	 *x;

	/* Made by the event loop (store_fts_maker_new()). */
	if (p->fts_doc != NULL) {
		*len = p->fts_doc_len;
		return p->fts_doc;
	}
	if ((x = pg_tsv_get(s, cause)) == NULL ||
	    pg_tsv_doc_bin(x, p->fts, p->fts_len, &b, cause) == -1)
		return NULL;
	*len = b->len;
	return buf_str(b);
}

/* A new record's row of PQ_RECORDS_NEW (its sets, content and all). */
static int
bulk_add(struct store_pg *s, int64_t source, const struct store_record *r,
    const struct store_prepared *p, const char *now, const char *xml,
    size_t xml_len, char **cause)
{
	struct pg_bulk *b = &s->add;
	const char     *tsv = NULL;
	size_t		tsvlen = 0;
	int		c, err = 0;

	if (b->ncols == 0)
		bulk_reset(b, PG_ADD_COLS);
	if ((b->n >= PG_BULK_MAX || b->bytes >= PG_BULK_MAX_BYTES) &&
	    bulk_send(s, b, PQ_RECORDS_NEW, cause) == -1)
		return -1;
	if (p->dc_json != NULL &&
	    (tsv = record_tsv(s, p, &tsvlen, cause)) == NULL)
		return -1;
	err |= bulk_int(b, 0, source);
	err |= bulk_text(b, 1, r->prefix);
	err |= bulk_text(b, 2, r->identifier);
	err |= bulk_text(b, 3, r->datestamp);
	err |= bulk_int(b, 4, r->deleted != 0);
	err |= bulk_int(b, 5, (long long)p->hash);
	err |= bulk_textn(b, 6, p->sets_json, p->sets_json_len);
	err |= bulk_text(b, 7, now);
	if (p->dc_json != NULL) {
		err |= bulk_textn(b, 8, p->dc_json, p->dc_json_len);
		err |= bulk_textn(b, 9, xml, xml_len);
		err |= bulk_textn(b, 10, tsv, tsvlen);
	} else
		for (c = 8; c < PG_ADD_COLS; c++)
			err |= bulk_textn(b, c, NULL, 0);
	if (err) {
		/* The statement would be torn: the transaction is lost. */
		bulk_torn(s);
		set_cause(cause, "store: put: too long");
		return -1;
	}
	b->n++;
	return 0;
}

/* A known record's row of PQ_RECORDS_UPDATE; sets NULL: unchanged. */
static int
bulk_update(struct store_pg *s, int64_t id, const struct store_record *r,
    uint64_t hash, const char *now, const char *sets, size_t sets_len,
    char **cause)
{
	struct pg_bulk *b = &s->upd;
	int		err = 0;

	if (b->ncols == 0)
		bulk_reset(b, PG_UPD_COLS);
	if ((b->n >= PG_BULK_MAX || b->bytes >= PG_BULK_MAX_BYTES) &&
	    bulk_send(s, b, PQ_RECORDS_UPDATE, cause) == -1)
		return -1;
	err |= bulk_int(b, 0, id);
	err |= bulk_text(b, 1, r->datestamp);
	err |= bulk_int(b, 2, r->deleted != 0);
	err |= bulk_int(b, 3, (long long)hash);
	err |= bulk_text(b, 4, now);
	err |= bulk_textn(b, 5, sets, sets_len);
	if (err) {
		bulk_torn(s);
		set_cause(cause, "store: put: too long");
		return -1;
	}
	b->n++;
	return 0;
}

/* A page's lookup (see pg.h) */

static int
pf_cmp(const void *a, const void *b)
{
	return strcmp(((const struct pg_pf *)a)->identifier,
	    ((const struct pg_pf *)b)->identifier);
}

static void
pf_clear(struct store_pg *s)
{
	size_t i;

	for (i = 0; i < s->pf_n; i++)
		free(s->pf[i].identifier);
	free(s->pf);
	s->pf = NULL;
	s->pf_n = 0;
	PQclear(s->pf_res);
	s->pf_res = NULL;
	free(s->pf_prefix);
	s->pf_prefix = NULL;
}

/*
 * The lookup's entry of r, put only once (a record listed twice on a page
 * goes one by one: the first put changes what the second finds); NULL
 * when r goes the slow way.
 */
static struct pg_pf *
pf_find(struct store_pg *s, int64_t source, const struct store_record *r)
{
	struct pg_pf key = { 0 }, *e;

	if (s->pf_n == 0 || r->identifier == NULL || source != s->pf_source ||
	    strcmp(r->prefix, s->pf_prefix) != 0)
		return NULL;
	key.identifier = (char *)(uintptr_t)r->identifier;
	e = bsearch(&key, s->pf, s->pf_n, sizeof(*s->pf), pf_cmp);
	if (e == NULL || e->dup || e->used)
		return NULL;
	return e;
}

int
store_pg_put_prefetch(void *be, int64_t source, const char *prefix,
    const char *const *ids, size_t n, char **cause)
{
	struct store_pg *s = be;
	struct pg_params q;
	struct pg_pf	 key = { 0 }, *e;
	struct buf	 b;
	PGresult	*res;
	size_t		 i, k;
	int		 err = 0, row;

	if (need_source(s, "prefetch", source, cause) == -1)
		return -1;
	pf_clear(s);
	if (n == 0 || prefix == NULL)
		return 0;
	s->pf = xcalloc(n, sizeof(*s->pf));
	for (i = k = 0; i < n; i++)
		if (ids[i] != NULL)
			s->pf[k++].identifier = xstrdup(ids[i]);
	s->pf_n = k;
	qsort(s->pf, s->pf_n, sizeof(*s->pf), pf_cmp);
	buf_init(&b, SIZE_MAX / 4);
	for (i = 0; i < s->pf_n; i++) {
		s->pf[i].row = -1;
		if (i > 0 &&
		    strcmp(s->pf[i].identifier, s->pf[i - 1].identifier) == 0)
			s->pf[i].dup = s->pf[i - 1].dup = 1;
		err |= buf_addch(&b, i == 0 ? '[' : ',');
		err |= json_add_string(&b, s->pf[i].identifier, (size_t)-1);
	}
	err |= buf_addch(&b, ']');
	if (err) {
		buf_free(&b);
		pf_clear(s);
		set_cause(cause, "store: prefetch: too long");
		return -1;
	}
	pgp_init(&q);
	pgp_int(&q, source);
	pgp_text(&q, prefix);
	pgp_textn(&q, b.data, b.len);
	res = pg_exec(s, PQ_RECORD_FIND, &q, cause);
	buf_free(&b);
	if (res == NULL) {
		pf_clear(s);
		return -1;
	}
	for (row = 0; row < PQntuples(res); row++) {
		key.identifier = PQgetvalue(res, row, 5);
		if ((e = bsearch(
			 &key, s->pf, s->pf_n, sizeof(*s->pf), pf_cmp)) != NULL)
			e->row = row;
	}
	s->pf_res = res;
	s->pf_source = source;
	s->pf_prefix = xstrdup(prefix);
	return 0;
}

/*
 * The transitions, as sqlite_write.c's store_sqlite_put() decides them:
 *	unknown, present	insert				NEW
 *	unknown, deleted	tombstone			UNCHANGED
 *	present, deleted	drop metadata and DC		DELETED
 *	deleted, deleted	datestamp			UNCHANGED
 *	deleted, present	insert content			NEW
 *	present, present	same hash: datestamp		UNCHANGED
 *				other hash: replace content	UPDATED
 * and an incoming datestamp older than the stored one changes nothing.
 */
int
store_pg_put(void *be, int64_t source, int64_t run,
    const struct store_record *r, enum store_change *changep, char **cause)
{
	struct store_pg		    *s = be;
	struct store_prepared	     mine;
	const struct store_prepared *p = r->prep;
	struct pg_params	     q;
	struct pg_pf		    *ent;
	enum store_change	     change = STORE_UNCHANGED;
	PGresult		    *res = NULL;
	const char		    *now, *xml = NULL;
	uint64_t		     hash, old_hash;
	size_t			     xml_len = 0;
	int64_t			     id = 0;
	int deleted, was_deleted, rewrite, i, row = 0, own = 1;

	if (changep != NULL)
		*changep = STORE_UNCHANGED;
	if (need_source(s, "put", source, cause) == -1)
		return -1;
	if (r->prefix == NULL) {
		set_cause(cause, "store: put: record without prefix");
		return -1;
	}
	if (p == NULL) {
		if (store_prepare(s->prep, r, &mine, cause) == -1)
			return -1;
		p = &mine;
	}
	deleted = r->deleted != 0;
	hash = p->hash;
	now = pg_now(s);
	if (p->dc_json != NULL &&
	    (xml = record_xml(s, r, p, &xml_len, cause)) == NULL &&
	    (r->metadata != NULL || p->tmpl != NULL))
		return -1;

	/*
	 * A record of the page's lookup: no round trip.  A new one goes in
	 * by a statement that fails the transaction should another writer
	 * have put it since.
	 */
	if ((ent = pf_find(s, source, r)) != NULL) {
		ent->used = 1;
		if (ent->row >= 0) {
			res = s->pf_res;
			row = ent->row;
			own = 0;
			id = pg_ll(res, row, 0, 0);
			goto known;
		}
		if (bulk_add(s, source, r, p, now, xml, xml_len, cause) == -1)
			return -1;
		change = deleted ? STORE_TOMBSTONE : STORE_NEW;
		goto changed;
	}

	/*
	 * After a new record, insert first (a first harvest); else look
	 * first (an incremental one), as sqlite_write.c does.
	 */
	for (i = 0; i < 2 && id == 0; i++) {
		if (s->last_new == (i == 0)) {
			if (add_params(s, &q, source, r, p, now, xml, xml_len,
				cause) == -1)
				return -1;
			if ((res = pg_exec(s, PQ_RECORD_ADD, &q, cause)) ==
			    NULL)
				return -1;
			if (PQntuples(res) == 1) {
				id = pg_ll(res, 0, 0, 0);
				PQclear(res);
				s->last_new = 1;
				change = deleted ? STORE_TOMBSTONE : STORE_NEW;
				goto changed;
			}
			PQclear(res);
			continue;
		}
		pgp_init(&q);
		pgp_int(&q, source);
		pgp_text(&q, r->prefix);
		pgp_text(&q, r->identifier);
		if ((res = pg_exec(s, PQ_RECORD_GET, &q, cause)) == NULL)
			return -1;
		if (PQntuples(res) == 1)
			id = pg_ll(res, 0, 0, 0);
		else
			PQclear(res);
	}
	if (id == 0) {
		set_cause(cause,
		    "store: insert record: %s appeared while "
		    "being put",
		    log_q(r->identifier));
		return -1;
	}
known:
	s->last_new = 0;
	/*
	 * A deletion a sweep inferred (r->reason) is dated by our clock:
	 * never an older copy.
	 */
	if (r->reason == NULL && is_stale(pg_col(res, row, 1), r->datestamp)) {
		if (own)
			PQclear(res);
		return 0;
	}
	was_deleted = pg_ll(res, row, 2, 0) != 0;
	old_hash = (uint64_t)pg_ll(res, row, 3, 0);
	rewrite = hash != old_hash || deleted != was_deleted;
	/* Its set rows go by the sets it had. */
	buf_reset(&s->oldsets);
	if (rewrite &&
	    buf_addstr(&s->oldsets,
		pg_col(res, row, 4) != NULL ? pg_col(res, row, 4) : "[]") ==
		-1) {
		if (own)
			PQclear(res);
		set_cause(cause, "store: put: %s: sets too long",
		    log_q(r->identifier));
		return -1;
	}
	if (own)
		PQclear(res);

	/* Unchanged, the sets stay as first listed. */
	if (bulk_update(s, id, r, hash, now, rewrite ? p->sets_json : NULL,
		p->sets_json_len, cause) == -1)
		return -1;
	if (rewrite) {
		pgp_init(&q);
		pgp_int(&q, id);
		pgp_textn(&q, s->oldsets.data, s->oldsets.len);
		if (pg_send(s, PQ_SETS_DEL, &q, cause) == -1)
			return -1;
		pgp_init(&q);
		pgp_int(&q, id);
		if (p->dc_json != NULL) {
			if (content_params(s, &q, p, xml, xml_len, cause) == -1)
				return -1;
			if (pg_send(s, PQ_CONTENT_PUT, &q, cause) == -1)
				return -1;
		} else if (pg_send(s, PQ_CONTENT_DEL, &q, cause) == -1)
			return -1;
		pgp_init(&q);
		pgp_int(&q, id);
		pgp_textn(&q, p->sets_json, p->sets_json_len);
		if (pg_send(s, PQ_SETS_ADD, &q, cause) == -1)
			return -1;
	}
	if (deleted && !was_deleted)
		change = STORE_DELETED;
	else if (!deleted && was_deleted)
		change = STORE_NEW;
	else if (!deleted && hash != old_hash)
		change = STORE_UPDATED;
changed:
	if (store_change_name(change) != NULL &&
	    change_add(s, source, run, r, change, now, cause) == -1)
		return -1;
	if (changep != NULL)
		*changep = change;
	return 0;
}

/*
 * Hold a change row until commit: [source, identifier, prefix, kind,
 * datestamp, at, run, reason], the order PQ_CHANGES_ADD reads.
 */
static int
change_add(struct store_pg *s, int64_t source, int64_t run,
    const struct store_record *r, enum store_change change, const char *now,
    char **cause)
{
	struct buf *b = &s->changes;
	int	    err = 0;

	if (s->nchanges >= PG_CHANGES_MAX || b->len >= PG_CHANGES_MAX_BYTES) {
		if (changes_flush(s, cause) == -1)
			return -1;
	}
	err |= buf_addch(b, b->len == 0 ? '[' : ',');
	err |= buf_printf(b, "[%lld,", (long long)source);
	err |= json_add_string(b, r->identifier, (size_t)-1);
	err |= buf_addch(b, ',');
	err |= json_add_string(b, r->prefix, (size_t)-1);
	err |= buf_printf(b, ",\"%s\",", store_change_name(change));
	err |= json_add_string(b, r->datestamp, (size_t)-1);
	err |= buf_addch(b, ',');
	err |= json_add_string(b, now, (size_t)-1);
	if (run > 0)
		err |= buf_printf(b, ",%lld,", (long long)run);
	else
		err |= buf_addstr(b, ",null,");
	if (r->reason != NULL)
		err |= json_add_string(b, r->reason, (size_t)-1);
	else
		err |= buf_addstr(b, "null");
	err |= buf_addch(b, ']');
	if (err) {
		set_cause(cause, "store: put: change row too long");
		return -1;
	}
	s->nchanges++;
	s->gin_since++;
	return 0;
}

/* Insert the held change rows, numbered (see the top of this file). */
static int
changes_flush(struct store_pg *s, char **cause)
{
	struct pg_params q;

	if (s->nchanges == 0)
		return 0;
	if (buf_addch(&s->changes, ']') == -1) {
		set_cause(cause, "store: changes too long");
		return -1;
	}
	pgp_init(&q);
	pgp_int(&q, s->nchanges);
	pgp_textn(&q, s->changes.data, s->changes.len);
	if (pg_send(s, PQ_CHANGES_ADD, &q, cause) == -1)
		return -1;
	s->notify = 1;
	buf_reset(&s->changes);
	s->nchanges = 0;
	return 0;
}

/* List state */

/*
 * A page's records are all put: its rows go to PostgreSQL now, not with
 * the next page's, so that it writes them while the next page is put
 * (page.c looks the pages of a batch up at once: no read between them).
 */
static int
page_end(struct store_pg *s, char **cause)
{
	if (pg_bulk_flush(s, cause) == -1)
		return -1;
	return pg_flush(s, cause);
}

int
store_pg_list_get(void *be, int64_t source, const char *prefix, const char *set,
    struct store_list_state *ls, char **cause)
{
	struct store_pg *s = be;
	struct pg_params q;
	PGresult	*r;
	const char	*v;

	memset(ls, 0, sizeof(*ls));
	ls->cursor = ls->complete_list_size = -1;
	pgp_init(&q);
	pgp_int(&q, source);
	pgp_text(&q, prefix);
	pgp_text(&q, set != NULL ? set : "");
	if ((r = pg_exec(s, PQ_LIST_GET, &q, cause)) == NULL)
		return -1;
	if (PQntuples(r) == 1) {
		if ((v = pg_col(r, 0, 0)) != NULL)
			ls->watermark = xstrdup(v);
		if ((v = pg_col(r, 0, 1)) != NULL)
			ls->token = xstrdup(v);
		if ((v = pg_col(r, 0, 2)) != NULL)
			ls->progress = xstrdup(v);
		ls->cursor = pg_ll(r, 0, 3, -1);
		ls->complete_list_size = pg_ll(r, 0, 4, -1);
		ls->pages = pg_ll(r, 0, 5, 0);
	}
	PQclear(r);
	return 0;
}

int
store_pg_list_checkpoint(void *be, int64_t source, const char *prefix,
    const char *set, const struct store_list_state *ls, char **cause)
{
	struct store_pg *s = be;
	struct pg_params q;

	if (need_source(s, "checkpoint list", source, cause) == -1 ||
	    page_end(s, cause) == -1)
		return -1;
	pgp_init(&q);
	pgp_int(&q, source);
	pgp_text(&q, prefix);
	pgp_text(&q, set != NULL ? set : "");
	pgp_text(&q, ls->token);
	pgp_text(&q, ls->progress);
	pgp_count(&q, ls->cursor);
	pgp_count(&q, ls->complete_list_size);
	pgp_int(&q, ls->pages);
	pgp_text(&q, pg_now(s));
	return pg_send(s, PQ_LIST_CHECKPOINT, &q, cause);
}

int
store_pg_list_complete(void *be, int64_t source, const char *prefix,
    const char *set, const char *watermark, char **cause)
{
	struct store_pg *s = be;
	struct pg_params q;

	if (need_source(s, "complete list", source, cause) == -1 ||
	    page_end(s, cause) == -1)
		return -1;
	pgp_init(&q);
	pgp_int(&q, source);
	pgp_text(&q, prefix);
	pgp_text(&q, set != NULL ? set : "");
	pgp_text(&q, watermark);
	pgp_text(&q, pg_now(s));
	return pg_send(s, PQ_LIST_COMPLETE, &q, cause);
}

/* Rejects */

int
store_pg_reject(void *be, int64_t source, int64_t run, const char *prefix,
    const char *identifier, const char *datestamp, const char *cause_text,
    const char *raw, size_t raw_len, int truncated, char **cause)
{
	struct store_pg *s = be;
	struct pg_params q;

	if (need_source(s, "reject", source, cause) == -1)
		return -1;
	pgp_init(&q);
	pgp_int(&q, source);
	pgp_text(&q, prefix);
	pgp_text(&q, identifier);
	pgp_text(&q, datestamp);
	pgp_text(&q, cause_text);
	pgp_textn(&q, raw, raw_len);
	pgp_int(&q, truncated != 0);
	pgp_int(&q, run);
	pgp_text(&q, pg_now(s));
	return pg_send(s, PQ_REJECT_ADD, &q, cause);
}

/* Deletion sweeps (see sqlite_write.c) */

int
store_pg_sweep_mark(void *be, int64_t source, const char *prefix,
    const char *identifier, int64_t run, char **cause)
{
	struct store_pg *s = be;
	struct pg_params q;

	if (need_source(s, "sweep", source, cause) == -1)
		return -1;
	pgp_init(&q);
	pgp_int(&q, run);
	pgp_int(&q, source);
	pgp_text(&q, prefix);
	pgp_text(&q, identifier);
	return pg_send(s, PQ_SWEEP_MARK, &q, cause);
}

static int
sweep_stamp(struct store_pg *s, int64_t source, const char *prefix, int always,
    char **cause)
{
	struct pg_params q;

	pgp_init(&q);
	pgp_int(&q, source);
	pgp_text(&q, prefix);
	pgp_text(&q, pg_now(s));
	pgp_int(&q, always);
	return pg_send(s, PQ_SWEEP_STAMP, &q, cause);
}

int
store_pg_sweep_finish(void *be, int64_t source, const char *prefix, int64_t run,
    const char *datestamp, long long *vanished, char **cause)
{
	static const char *const reason =
	    "vanished: no longer listed by ListIdentifiers";
	struct store_pg	   *s = be;
	struct pg_params    q;
	struct store_record r;
	enum store_change   kind;
	PGresult	   *res;
	long long	    present = 0;
	int		    i, n;

	*vanished = 0;
	if (need_source(s, "sweep", source, cause) == -1)
		return -1;
	pgp_init(&q);
	pgp_int(&q, source);
	pgp_text(&q, prefix);
	if ((res = pg_exec(s, PQ_SWEEP_PRESENT, &q, cause)) == NULL)
		return -1;
	present = pg_ll(res, 0, 0, 0);
	PQclear(res);
	pgp_int(&q, run);
	if ((res = pg_exec(s, PQ_SWEEP_MISSED, &q, cause)) == NULL)
		return -1;
	n = PQntuples(res);
	/* Half or fewer listed: more likely broken than emptied. */
	if (n > 0 && (long long)n * 2 > present) {
		set_cause(cause,
		    "store: sweep: %d of %lld records not listed; "
		    "not deleting on a partial list",
		    n, present);
		PQclear(res);
		return -1;
	}
	for (i = 0; i < n; i++) {
		memset(&r, 0, sizeof(r));
		r.prefix = prefix;
		r.identifier = PQgetvalue(res, i, 0);
		r.datestamp = datestamp != NULL ? datestamp : pg_now(s);
		r.deleted = 1;
		r.reason = reason;
		if (store_pg_put(s, source, run, &r, &kind, cause) == -1) {
			PQclear(res);
			return -1;
		}
		if (kind == STORE_DELETED)
			(*vanished)++;
	}
	PQclear(res);
	return sweep_stamp(s, source, prefix, 1, cause);
}

int
store_pg_sweep_last(
    void *be, int64_t source, const char *prefix, char **swept_at, char **cause)
{
	struct store_pg *s = be;
	struct pg_params q;
	PGresult	*r;
	const char	*v;

	*swept_at = NULL;
	pgp_init(&q);
	pgp_int(&q, source);
	pgp_text(&q, prefix);
	if ((r = pg_exec(s, PQ_SWEEP_LAST, &q, cause)) == NULL)
		return -1;
	if (PQntuples(r) == 1 && (v = pg_col(r, 0, 0)) != NULL)
		*swept_at = xstrdup(v);
	PQclear(r);
	return 0;
}

int
store_pg_sweep_touch(void *be, int64_t source, const char *prefix, char **cause)
{
	return sweep_stamp(be, source, prefix, 0, cause);
}
