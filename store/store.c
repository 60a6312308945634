/*
 * The store's dispatcher (see backend.h): store_open() picks the backend by
 * the path, and each store_*() function of store.h calls its operation.
 * What needs no database is here, the same for every backend:
 * store_prepare() (the checks, the content hash, record.sets, content.dc,
 * the template and the full-text columns) and the templates' filling.
 */
#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "log.h"
#include "oh_limits.h"
#include "backend.h"
#include "c14n.h"
#include "schema.h"
#include "store.h"

/*
 * Templates (see schema.c) longer than this are not made: the XML is kept
 * as it is.  An oai_dc template is about 40 bytes a value plus 350.
 */
#define TEMPLATE_MAX 4096

/* What json_value() saw in a value. */
#define JV_MARKUP 0x01 /* & < > or CR: escaped in XML text */

/* content.dc of one record, at most. */
#define JSON_MAX EXPORT_MAX_LINE

/* A field name other than the 15 DC ones, at most (see field_name_ok()). */
#define FIELD_NAME_MAX 64

/* The 15 DCMES elements in their standard order: export writes them so. */
static const char *const dcmes[STORE_NDCMES] = {
	"title",
	"creator",
	"subject",
	"description",
	"publisher",
	"contributor",
	"date",
	"type",
	"format",
	"identifier",
	"source",
	"language",
	"relation",
	"coverage",
	"rights",
};
#define NDCMES nitems(dcmes)

/*
 * The backends, by the scheme their paths start with; the one without a
 * scheme opens any other path.
 */
static const struct store_ops *const backends[] = {
	&store_sqlite_ops,
	&store_pg_ops,
};

/* A growing JSON text (content.dc). */
struct jbuf {
	char  *data;
	size_t len;
	size_t cap;
};

/*
 * What store_prepare() works with: its results point into it.  Nothing
 * here is the database's, so that another thread can prepare records
 * while the store's writes them.
 */
struct store_prep {
	/* Scratch array for sorting a record's setSpecs before hashing. */
	const char **sets;
	size_t	     nsets;
	/* The metadata's canonical form is hashed with this. */
	struct store_c14n *c14n;
	/*
	 * The DCMES code (-1: a field filed by its name), length and JV_
	 * flags of each value.
	 */
	int    *codes;
	size_t *vlen;
	int    *vflags;
	size_t	ncodes;
	/* content.dc, the template, record.sets, the full-text columns. */
	struct jbuf dcjson;
	struct buf  tmpl;
	struct buf  setsjson;
	struct buf  fts[4];
	/* fts_doc, made with fts (borrowed) when set. */
	struct store_fts_maker *fts_maker;
	struct buf		ftsdoc;
};

struct store_fts_maker {
	const struct store_ops *ops;
	void		       *be;
};

/* Records */
static void fts_make(struct store_prep *, struct store_prepared *);
static int  dc_lookup(const char *);
static int  field_name_ok(const char *);
static int  cmp_str(const void *, const void *);
static int  check_record(
     struct store_prep *, const struct store_record *, char **);

/* Content */
static int	   sets_json(struct store_prep *, const struct store_record *);
static int	   dc_json(struct store_prep *, const struct store_record *);
static int	   jbuf_room(struct jbuf *, size_t);
static char	  *json_value(char *, const char *, size_t, int *);
static char	  *json_name(char *, const char *);
static const char *text_match(
    const char *, const char *, const char *, size_t, int);
static int template_make(struct store_prep *, const struct store_record *);
static int xml_escape(struct buf *, const char *, size_t);

/* Opening */

struct store *
store_open(const char *path, int flags, char **cause)
{
	const struct store_ops *ops = NULL;
	struct store	       *s;
	size_t			i;

	for (i = 0; i < nitems(backends); i++) {
		if (backends[i]->scheme == NULL) {
			if (ops == NULL)
				ops = backends[i];
		} else if (strncmp(path, backends[i]->scheme,
			       strlen(backends[i]->scheme)) == 0 ||
		    (backends[i]->scheme2 != NULL &&
			strncmp(path, backends[i]->scheme2,
			    strlen(backends[i]->scheme2)) == 0)) {
			ops = backends[i];
			break;
		}
	}
	s = xcalloc(1, sizeof(*s));
	s->ops = ops;
	if ((s->be = ops->open(path, flags, cause)) == NULL) {
		free(s);
		return NULL;
	}
	return s;
}

void
store_close(struct store *s)
{
	if (s == NULL)
		return;
	s->ops->close(s->be);
	free(s);
}

const char *
store_path(const struct store *s)
{
	return s->ops->path != NULL ? s->ops->path(s->be) : NULL;
}

int
store_checkpoint_async(
    struct store *s, int trigger, int step, int cap, char **cause)
{
	if (s->ops->checkpoint_async == NULL)
		return 0;
	return s->ops->checkpoint_async(s->be, trigger, step, cap, cause);
}

void
store_checkpoint_stats(struct store *s, struct store_ckpt_stats *st)
{
	if (s->ops->checkpoint_stats != NULL)
		s->ops->checkpoint_stats(s->be, st);
	else
		memset(st, 0, sizeof(*st));
}

int
store_schema_version(struct store *s)
{
	return s->ops->schema_version(s->be);
}

/* Sources and runs */

int64_t
store_source(
    struct store *s, const char *name, const char *url, int move, char **cause)
{
	return s->ops->source(s->be, name, url, move, cause);
}

char *
store_source_url(struct store *s, const char *name)
{
	return s->ops->source_url(s->be, name);
}

char *
store_source_by_url(struct store *s, const char *url)
{
	return s->ops->source_by_url(s->be, url);
}

int
store_source_identify(struct store *s, int64_t source, const char *granularity,
    const char *earliest, const char *deleted_record,
    const char *repository_name, char **cause)
{
	return s->ops->source_identify(s->be, source, granularity, earliest,
	    deleted_record, repository_name, cause);
}

int64_t
store_run_begin(struct store *s, int64_t source, char **cause)
{
	return s->ops->run_begin(s->be, source, cause);
}

int
store_run_end(struct store *s, int64_t run, const char *status,
    const struct store_run_stats *rs, const char *error, char **cause)
{
	return s->ops->run_end(s->be, run, status, rs, error, cause);
}

int
store_source_last_run(struct store *s, const char *name, time_t *ended,
    char **status, char **cause)
{
	return s->ops->source_last_run(s->be, name, ended, status, cause);
}

/* The page transaction */

int
store_begin(struct store *s, char **cause)
{
	return s->ops->begin(s->be, cause);
}

int
store_commit(struct store *s, char **cause)
{
	return s->ops->commit(s->be, cause);
}

void
store_rollback(struct store *s)
{
	s->ops->rollback(s->be);
}

int
store_put(struct store *s, int64_t source, int64_t run,
    const struct store_record *r, enum store_change *changep, char **cause)
{
	return s->ops->put(s->be, source, run, r, changep, cause);
}

int
store_put_prefetches(struct store *s)
{
	return s->ops->put_prefetch != NULL;
}

int
store_put_prefetch(struct store *s, int64_t source, const char *prefix,
    const char *const *ids, size_t n, char **cause)
{
	if (s->ops->put_prefetch == NULL)
		return 0;
	return s->ops->put_prefetch(s->be, source, prefix, ids, n, cause);
}

int
store_reject(struct store *s, int64_t source, int64_t run, const char *prefix,
    const char *identifier, const char *datestamp, const char *cause_text,
    const char *raw, size_t raw_len, int truncated, char **cause)
{
	return s->ops->reject(s->be, source, run, prefix, identifier, datestamp,
	    cause_text, raw, raw_len, truncated, cause);
}

int
store_list_get(struct store *s, int64_t source, const char *prefix,
    const char *set, struct store_list_state *ls, char **cause)
{
	return s->ops->list_get(s->be, source, prefix, set, ls, cause);
}

void
store_list_state_free(struct store_list_state *ls)
{
	free(ls->watermark);
	free(ls->token);
	free(ls->progress);
	ls->watermark = ls->token = ls->progress = NULL;
}

int
store_list_checkpoint(struct store *s, int64_t source, const char *prefix,
    const char *set, const struct store_list_state *ls, char **cause)
{
	return s->ops->list_checkpoint(s->be, source, prefix, set, ls, cause);
}

int
store_list_complete(struct store *s, int64_t source, const char *prefix,
    const char *set, const char *watermark, char **cause)
{
	return s->ops->list_complete(
	    s->be, source, prefix, set, watermark, cause);
}

int
store_sweep_mark(struct store *s, int64_t source, const char *prefix,
    const char *identifier, int64_t run, char **cause)
{
	return s->ops->sweep_mark(
	    s->be, source, prefix, identifier, run, cause);
}

int
store_sweep_finish(struct store *s, int64_t source, const char *prefix,
    int64_t run, const char *datestamp, long long *vanished, char **cause)
{
	return s->ops->sweep_finish(
	    s->be, source, prefix, run, datestamp, vanished, cause);
}

int
store_sweep_last(struct store *s, int64_t source, const char *prefix,
    char **swept_at, char **cause)
{
	return s->ops->sweep_last(s->be, source, prefix, swept_at, cause);
}

int
store_sweep_touch(
    struct store *s, int64_t source, const char *prefix, char **cause)
{
	return s->ops->sweep_touch(s->be, source, prefix, cause);
}

/* Queries */

int
store_export(struct store *s, const char *source, const char *prefix,
    int (*row)(void *, const struct store_export_row *), void *arg,
    char **cause)
{
	return s->ops->export(s->be, source, prefix, row, arg, cause);
}

int
store_changes(struct store *s, int64_t since, int64_t limit,
    int (*row)(void *, const struct store_change_row *), void *arg,
    char **cause)
{
	return s->ops->changes(s->be, since, limit, row, arg, cause);
}

int
store_search(struct store *s, const char *query, const char *source,
    long long limit, int (*row)(void *, const struct store_search_row *),
    void *arg, char **cause)
{
	return s->ops->search(s->be, query, source, limit, row, arg, cause);
}

int
store_status(struct store *s, const struct store_status_cb *cb, char **cause)
{
	return s->ops->status(s->be, cb, cause);
}

int
store_source_status(struct store *s, const char *name,
    const struct store_status_cb *cb, char **cause)
{
	return s->ops->source_status(s->be, name, cb, cause);
}

int
store_writable(struct store *s, char **cause)
{
	return s->ops->writable(s->be, cause);
}

int64_t
store_last_seq(struct store *s)
{
	return s->ops->last_seq(s->be);
}

int
store_outbox_get(struct store *s, const char *name, int64_t *seq, char **cause)
{
	return s->ops->outbox_get(s->be, name, seq, cause);
}

int
store_outbox_set(struct store *s, const char *name, int64_t seq, char **cause)
{
	return s->ops->outbox_set(s->be, name, seq, cause);
}

int
store_export_select(struct store *s, const struct store_export_filter *f,
    int (*row)(void *, const struct store_export_row *), void	      *arg,
    char **cause)
{
	return s->ops->export_select(s->be, f, row, arg, cause);
}

int
store_source_known(
    struct store *s, const char *name, const char *prefix, char **cause)
{
	return s->ops->source_known(s->be, name, prefix, cause);
}

int
store_source_rename(
    struct store *s, const char *name, const char *newname, char **cause)
{
	return s->ops->source_rename(s->be, name, newname, cause);
}

int
store_source_move(
    struct store *s, const char *name, const char *url, char **cause)
{
	return s->ops->source_move(s->be, name, url, cause);
}

int
store_source_reset(
    struct store *s, const char *name, long long *lists, char **cause)
{
	return s->ops->source_reset(s->be, name, lists, cause);
}

int
store_source_drop(struct store *s, const char *name, int force,
    struct store_drop_stats *ds, char **cause)
{
	return s->ops->source_drop(s->be, name, force, ds, cause);
}

/* Leases */

static int
no_leases(const struct store *s, char **cause)
{
	set_cause(cause, "store: the %s backend has no leases", s->ops->name);
	return -1;
}

int
store_lease_take(struct store *s, const char *host, const char *holder,
    const char *node, long long ttl_ms, struct store_lease_grant *g,
    char **cause)
{
	if (s->ops->lease_take == NULL)
		return no_leases(s, cause);
	return s->ops->lease_take(s->be, host, holder, node, ttl_ms, g, cause);
}

int
store_lease_renew(struct store *s, const char *holder, const char *node,
    long long ttl_ms, int (*cb)(void *, const char *, int64_t), void *arg,
    char **cause)
{
	if (s->ops->lease_renew == NULL)
		return no_leases(s, cause);
	return s->ops->lease_renew(s->be, holder, node, ttl_ms, cb, arg, cause);
}

int
store_lease_release(struct store *s, const char *host, const char *holder,
    int64_t next_ms, char **cause)
{
	if (s->ops->lease_release == NULL)
		return no_leases(s, cause);
	return s->ops->lease_release(s->be, host, holder, next_ms, cause);
}

int
store_lease_held(struct store *s, const char *host, int64_t gen, char **cause)
{
	if (s->ops->lease_held == NULL)
		return no_leases(s, cause);
	return s->ops->lease_held(s->be, host, gen, cause);
}

int
store_leases(struct store *s, int (*row)(void *, const struct store_lease *),
    void *arg, char **cause)
{
	if (s->ops->leases == NULL)
		return no_leases(s, cause);
	return s->ops->leases(s->be, row, arg, cause);
}

int
store_lease_nodes(struct store *s, char **cause)
{
	if (s->ops->lease_nodes == NULL)
		return no_leases(s, cause);
	return s->ops->lease_nodes(s->be, cause);
}

int
store_has_leases(struct store *s)
{
	return s->ops->lease_nodes != NULL;
}

int
store_outbox_set_fenced(struct store *s, const char *name, int64_t seq,
    const char *lease, int64_t gen, char **cause)
{
	if (s->ops->outbox_set_fenced == NULL)
		return no_leases(s, cause);
	return s->ops->outbox_set_fenced(s->be, name, seq, lease, gen, cause);
}

/* Watching the change log */

struct store_watch {
	const struct store_ops *ops;
	void		       *w;
};

struct store_watch *
store_watch_open(struct store *s, struct event_base  *base,
    void (*cb)(void *, enum store_watch_event), void *arg, char **cause)
{
	struct store_watch *sw;
	void		   *w;

	if (s->ops->watch_open == NULL) {
		set_cause(
		    cause, "store: %s: no change notifications", s->ops->name);
		return NULL;
	}
	if ((w = s->ops->watch_open(s->be, base, cb, arg, cause)) == NULL)
		return NULL;
	sw = xcalloc(1, sizeof(*sw));
	sw->ops = s->ops;
	sw->w = w;
	return sw;
}

void
store_watch_close(struct store_watch *sw)
{
	if (sw == NULL)
		return;
	sw->ops->watch_close(sw->w);
	free(sw);
}

int
store_has_watch(struct store *s)
{
	return s->ops->watch_open != NULL;
}

/* Names */

const char *
store_change_name(enum store_change c)
{
	static const char *const names[] = {
		[STORE_UNCHANGED] = NULL,
		[STORE_NEW] = "new",
		[STORE_UPDATED] = "updated",
		[STORE_DELETED] = "deleted",
		[STORE_TOMBSTONE] = NULL,
	};

	if ((size_t)c >= nitems(names))
		return NULL;
	return names[c];
}

const char *
store_dc_name(int code)
{
	if (code < 0 || (size_t)code >= nitems(dcmes))
		return NULL;
	return dcmes[code];
}

/* Records */

static int
dc_lookup(const char *name)
{
	size_t i;

	for (i = 0; i < NDCMES; i++)
		if (dcmes[i][0] == name[0] && strcmp(dcmes[i], name) == 0)
			return (int)i;
	return -1;
}

/*
 * A field name filed as it is: a letter, then up to FIELD_NAME_MAX - 1
 * letters, digits and "_.:-" (so that content.dc holds it as a JSON string
 * with nothing to escape).
 */
static int
field_name_ok(const char *name)
{
	size_t i;

	if (!((name[0] >= 'A' && name[0] <= 'Z') ||
		(name[0] >= 'a' && name[0] <= 'z')))
		return 0;
	for (i = 1; name[i] != '\0'; i++) {
		if (i == FIELD_NAME_MAX)
			return 0;
		if ((name[i] >= 'A' && name[i] <= 'Z') ||
		    (name[i] >= 'a' && name[i] <= 'z') ||
		    (name[i] >= '0' && name[i] <= '9') ||
		    strchr("_.:-", name[i]) != NULL)
			continue;
		return 0;
	}
	return 1;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Reject what the schema cannot hold before writing anything, and note the
 * DCMES code of each value (-1 for any other field name).
 */
static int
check_record(struct store_prep *s, const struct store_record *r, char **cause)
{
	size_t i;
	int    code;

	if (r->identifier == NULL || r->datestamp == NULL) {
		set_cause(cause,
		    "store: put: record without identifier or "
		    "datestamp");
		return -1;
	}
	for (i = 0; i < r->nsets; i++) {
		if (r->sets[i] == NULL) {
			set_cause(cause, "store: put: NULL setSpec");
			return -1;
		}
	}
	if (r->deleted)
		return 0;
	if (s->ncodes < r->ndc) {
		s->codes = xreallocarray(s->codes, r->ndc, sizeof(*s->codes));
		s->vlen = xreallocarray(s->vlen, r->ndc, sizeof(*s->vlen));
		s->vflags =
		    xreallocarray(s->vflags, r->ndc, sizeof(*s->vflags));
		s->ncodes = r->ndc;
	}
	for (i = 0; i < r->ndc; i++) {
		if (r->dc[i].element == NULL || r->dc[i].value == NULL) {
			set_cause(cause,
			    "store: put: DC value without "
			    "element or text");
			return -1;
		}
		if ((code = dc_lookup(r->dc[i].element)) == -1 &&
		    !field_name_ok(r->dc[i].element)) {
			set_cause(cause,
			    "store: put: %s is not a field name "
			    "(a letter, then up to %d of A-Z a-z 0-9 _ . : -)",
			    log_q(r->dc[i].element), FIELD_NAME_MAX - 1);
			return -1;
		}
		s->codes[i] = code;
	}
	return 0;
}

/*
 * The content hash: FNV-1a over the deleted flag, the number of sets and
 * the setSpecs sorted and NUL-terminated (so that a server listing them in
 * another order is not an update), then XXH64 of the metadata's canonical
 * form (c14n.c: namespace declarations and attributes in one order, no
 * comments, text as its characters) seeded with that, so that the same
 * metadata written another way is not one either.  DC values come from
 * the metadata and add nothing.
 */
uint64_t
store_record_hash(struct store_prep *s, const struct store_record *r)
{
	const char *const *sets = r->sets;
	unsigned char	   head[9];
	uint64_t	   h, n = r->nsets;
	size_t		   i;

	head[0] = r->deleted ? 1 : 0;
	for (i = 0; i < 8; i++)
		head[1 + i] = (n >> (8 * i)) & 0xff;
	h = hash_add(HASH_INIT, head, sizeof(head));
	if (r->nsets > 1) {
		if (s->nsets < r->nsets) {
			s->sets =
			    xreallocarray(s->sets, r->nsets, sizeof(*s->sets));
			s->nsets = r->nsets;
		}
		memcpy(s->sets, r->sets, r->nsets * sizeof(*s->sets));
		qsort(s->sets, r->nsets, sizeof(*s->sets), cmp_str);
		sets = s->sets;
	}
	for (i = 0; i < r->nsets; i++)
		h = hash_add(h, sets[i], strlen(sets[i]) + 1);
	if (!r->deleted && r->metadata != NULL)
		h = store_c14n_hash(s->c14n, r->metadata, r->metadata_len, h);
	return h;
}

/*
 * record.sets: the setSpecs in header order as a JSON array, each written
 * by json_add_string() so that export copies the array as it is.
 */
static int
sets_json(struct store_prep *s, const struct store_record *r)
{
	struct buf *b = &s->setsjson;
	size_t	    i;
	int	    err = 0;

	buf_reset(b);
	err |= buf_addch(b, '[');
	for (i = 0; i < r->nsets; i++) {
		if (i > 0)
			err |= buf_addch(b, ',');
		err |= json_add_string(b, r->sets[i], (size_t)-1);
	}
	err |= buf_addch(b, ']');
	return err ? -1 : 0;
}

/* Content */

/*
 * content.dc: [[code,"value"],[code,"value","lang"],...] in document
 * order, where code is the DCMES code of the 15 DC names and any other
 * field's name as a JSON string (["abstract","value"]).  SQLite's
 * json_each reads it back for the dc view and for export.
 * Also set s->vlen[] and s->vflags[].
 */
static int
dc_json(struct store_prep *s, const struct store_record *r)
{
	struct jbuf *j = &s->dcjson;
	const char  *lang;
	char	    *o;
	size_t	     i, n, m;
	int	     code, flags;

	j->len = 0;
	if (jbuf_room(j, 2) == -1)
		return -1;
	j->data[j->len++] = '[';
	for (i = 0; i < r->ndc; i++) {
		n = s->vlen[i] = strlen(r->dc[i].value);
		lang = r->dc[i].lang;
		m = lang != NULL ? strlen(lang) : 0;
		/*
		 * ",[" 2 digits or a quoted name "," value ("," lang) "]",
		 * escaped 6 times.  Room for any name, so as not to measure
		 * it: the DC values are most of store_put()'s own work.
		 */
		if (n > JSON_MAX / 8 || m > JSON_MAX / 8 ||
		    jbuf_room(j, 6 * n + 6 * m + 18 + FIELD_NAME_MAX) == -1)
			return -1;
		o = j->data + j->len;
		if (i > 0)
			*o++ = ',';
		*o++ = '[';
		code = s->codes[i];
		if ((unsigned)code < 10)
			*o++ = '0' + code;
		else if (code >= 0) {
			*o++ = '0' + code / 10;
			*o++ = '0' + code % 10;
		} else
			o = json_name(o, r->dc[i].element);
		*o++ = ',';
		o = json_value(o, r->dc[i].value, n, &flags);
		s->vflags[i] = flags;
		if (lang != NULL) {
			*o++ = ',';
			o = json_value(o, lang, m, &flags);
		}
		*o++ = ']';
		j->len = o - j->data;
	}
	j->data[j->len++] = ']';
	return 0;
}

/* Room for n more bytes in j, within JSON_MAX. */
static int
jbuf_room(struct jbuf *j, size_t n)
{
	size_t cap;

	if (n > JSON_MAX - j->len)
		return -1;
	if (n <= j->cap - j->len)
		return 0;
	for (cap = j->cap > 0 ? j->cap : 4096; cap - j->len < n; cap *= 2)
		;
	j->data = xreallocarray(j->data, cap, 1);
	j->cap = cap;
	return 0;
}

/*
 * 16 bytes at a time (GCC and Clang vector extensions: SSE2 on amd64, NEON
 * on arm64).  A comparison gives each lane 0 or -1.
 */
typedef unsigned char v16u8 __attribute__((vector_size(16)));
typedef uint64_t      v2u64 __attribute__((vector_size(16)));

static int
v16_any(v16u8 m)
{
	v2u64 w;

	memcpy(&w, &m, sizeof(w));
	return (w[0] | w[1]) != 0;
}

/*
 * Write v (n bytes) at o as a JSON string, '"', '\\' and control
 * characters escaped as json_add_string() escapes them, every other byte
 * as it is; o has room for 6 * n + 2 bytes.  Return the end.
 * Unlike json_add_string() it keeps bytes that are not UTF-8 (SQLite's
 * JSON functions give them back unchanged, as the dc table of schema 0
 * did), and it looks at 16 bytes at a time: this is most of store_put()'s
 * own work.  Sets JV_MARKUP in *flags when v has a byte XML escapes in
 * text.
 */
static char *
json_value(char *o, const char *v, size_t n, int *flags)
{
	static const char    hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)v;
	const unsigned char *end = p + n, *run = p, *stop;
	v16u8		     x;

	*flags = 0;
	*o++ = '"';
	while (p < end) {
		stop = end;
		if (end - p >= 16) {
			memcpy(&x, p, sizeof(x));
			if (v16_any(
				(v16u8)((x == '&') | (x == '<') | (x == '>'))))
				*flags |= JV_MARKUP;
			if (!v16_any((v16u8)((x < 0x20) | (x == '"') |
				(x == '\\')))) {
				p += 16;
				continue;
			}
			stop = p + 16;
		}
		/* Up to the escape in these 16 bytes, or to the end. */
		for (; p < stop && *p >= 0x20 && *p != '"' && *p != '\\'; p++)
			if (*p == '&' || *p == '<' || *p == '>')
				*flags |= JV_MARKUP;
		if (p == stop)
			continue;
		memcpy(o, run, p - run);
		o += p - run;
		*o++ = '\\';
		switch (*p) {
		case '"':
		case '\\':
			*o++ = *p;
			break;
		case '\n':
			*o++ = 'n';
			break;
		case '\r':
			*flags |= JV_MARKUP;
			*o++ = 'r';
			break;
		case '\t':
			*o++ = 't';
			break;
		default:
			memcpy(o, "u00", 3);
			o[3] = hex[*p >> 4];
			o[4] = hex[*p & 0xf];
			o += 5;
			break;
		}
		run = ++p;
	}
	memcpy(o, run, p - run);
	o += p - run;
	*o++ = '"';
	return o;
}

/*
 * Write field name v at o as a JSON string; o has room for FIELD_NAME_MAX
 * + 2 bytes.  field_name_ok() let nothing in it that JSON escapes.
 */
static char *
json_name(char *o, const char *v)
{
	size_t n = strlen(v);

	*o++ = '"';
	memcpy(o, v, n);
	o += n;
	*o++ = '"';
	return o;
}

/*
 * Where value v (n bytes) ends if the text at p, up to end, is v escaped as
 * the harvester escapes text (& < > and CR, see harvest/oai.c), or NULL.
 * xml_escape() is the same escaping.
 */
static const char *
text_match(const char *p, const char *end, const char *v, size_t n, int markup)
{
	const char *rep;
	size_t	    k, rn;

	if (!markup)
		return (size_t)(end - p) >= n && memcmp(p, v, n) == 0 ? p + n :
									NULL;
	while (n > 0) {
		k = strcspn(v, "&<>\r");
		if (k > n)
			k = n;
		if ((size_t)(end - p) < k || memcmp(p, v, k) != 0)
			return NULL;
		p += k;
		v += k;
		n -= k;
		if (n == 0)
			break;
		rep = xml_ref((unsigned char)*v);
		rn = strlen(rep);
		if ((size_t)(end - p) < rn || memcmp(p, rep, rn) != 0)
			return NULL;
		p += rn;
		v++;
		n--;
	}
	return p;
}

/*
 * Make the record's template (see schema.c) in s->tmpl: each DC value, in
 * document order, must be the whole text of an element after the previous
 * one (give or take the white space the parser trimmed), escaped as the
 * harvester escapes text.  Found that way, the value's bytes are exactly
 * the slot's, so filling the template gives the XML back byte for byte.
 * -1: no template, keep the XML as it is.
 */
static int
template_make(struct store_prep *s, const struct store_record *r)
{
	const char *x = r->metadata, *end = x + r->metadata_len;
	const char *done = x, *gt, *t, *e, *u, *v;
	struct buf *b = &s->tmpl;
	size_t	    i, n;
	int	    err = 0, markup;

	buf_reset(b);
	if (r->ndc == 0 || memchr(x, STORE_SLOT, r->metadata_len) != NULL)
		return -1;
	for (i = 0; i < r->ndc; i++) {
		v = r->dc[i].value;
		n = s->vlen[i];
		markup = s->vflags[i] & JV_MARKUP;
		for (gt = done;; gt++) {
			if ((gt = memchr(gt, '>', end - gt)) == NULL)
				return -1;
			/* The value, after white space the parser trimmed. */
			for (t = gt + 1;
			     t < end && (*t == ' ' || *t == '\t' || *t == '\n');
			     t++)
				;
			if ((e = text_match(t, end, v, n, markup)) == NULL &&
			    (t == gt + 1 ||
				(e = text_match(
				     t = gt + 1, end, v, n, markup)) == NULL))
				continue;
			/* And then the end of the element. */
			for (u = e;
			     u < end && (*u == ' ' || *u == '\t' || *u == '\n');
			     u++)
				;
			if (u < end && *u == '<')
				break;
		}
		err |= buf_add(b, done, t - done);
		err |= buf_addch(b, STORE_SLOT);
		done = e;
	}
	err |= buf_add(b, done, end - done);
	return err ? -1 : 0;
}

/* Append v (n bytes) escaped as XML text: the escaping of text_match(). */
static int
xml_escape(struct buf *b, const char *v, size_t n)
{
	const char *rep;
	size_t	    k;
	int	    err = 0;

	while (n > 0) {
		k = strcspn(v, "&<>\r");
		if (k > n)
			k = n;
		err |= buf_add(b, v, k);
		v += k;
		n -= k;
		if (n == 0)
			break;
		rep = xml_ref((unsigned char)*v);
		err |= buf_addstr(b, rep);
		v++;
		n--;
	}
	return err ? -1 : 0;
}

/*
 * The XML of template body (len bytes) with its slots filled by the n
 * values in vals at offsets off[] (each NUL-terminated).  -1 when the
 * counts disagree (a damaged file) or the XML is too long.
 */
int
store_template_fill(struct buf *b, const char *body, size_t len,
    const struct buf *vals, const size_t *off, size_t n)
{
	const char *p = body, *end = body + len, *slot;
	const char *v;
	size_t	    i = 0;
	int	    err = 0;

	while ((slot = memchr(p, STORE_SLOT, end - p)) != NULL) {
		if (i == n)
			return -1;
		err |= buf_add(b, p, slot - p);
		v = vals->data + off[i++];
		err |= xml_escape(b, v, strlen(v));
		p = slot + 1;
	}
	err |= buf_add(b, p, end - p);
	return err || i != n ? -1 : 0;
}

/* Preparing records */

struct store_prep *
store_prep_new(void)
{
	struct store_prep *p;
	size_t		   i;

	p = xcalloc(1, sizeof(*p));
	p->c14n = store_c14n_new();
	buf_init(&p->tmpl, TEMPLATE_MAX);
	buf_init(&p->setsjson, SETS_JSON_MAX);
	for (i = 0; i < nitems(p->fts); i++)
		buf_init(&p->fts[i], SIZE_MAX / 4);
	buf_init(&p->ftsdoc, SIZE_MAX / 4);
	return p;
}

void
store_prep_fts(struct store_prep *p, struct store_fts_maker *m)
{
	p->fts_maker = m;
}

struct store_fts_maker *
store_fts_maker_new(struct store *s, char **cause)
{
	struct store_fts_maker *m;
	void		       *be;

	if (cause != NULL)
		*cause = NULL;
	if (s->ops->fts_maker_new == NULL)
		return NULL;
	if ((be = s->ops->fts_maker_new(cause)) == NULL)
		return NULL;
	m = xcalloc(1, sizeof(*m));
	m->ops = s->ops;
	m->be = be;
	return m;
}

void
store_fts_maker_free(struct store_fts_maker *m)
{
	if (m == NULL)
		return;
	m->ops->fts_maker_free(m->be);
	free(m);
}

void
store_prep_free(struct store_prep *p)
{
	size_t i;

	if (p == NULL)
		return;
	free(p->dcjson.data);
	buf_free(&p->tmpl);
	buf_free(&p->setsjson);
	for (i = 0; i < nitems(p->fts); i++)
		buf_free(&p->fts[i]);
	buf_free(&p->ftsdoc);
	free(p->codes);
	free(p->vlen);
	free(p->vflags);
	free(p->sets);
	store_c14n_free(p->c14n);
	free(p);
}

/*
 * out's fts_doc with s's maker.  One it fails to make (a tokenizer that
 * could not start), the page writer makes as it did without one.
 */
static void
fts_make(struct store_prep *s, struct store_prepared *out)
{
	struct store_fts_maker *m = s->fts_maker;
	const char	       *doc;
	size_t			len;
	char		       *cause = NULL;

	if (m->ops->fts_make(
		m->be, out->fts, out->fts_len, &doc, &len, &cause) == -1) {
		free(cause);
		return;
	}
	buf_reset(&s->ftsdoc);
	if (buf_add(&s->ftsdoc, doc, len) == -1)
		return;
	out->fts_doc = buf_str(&s->ftsdoc);
	out->fts_doc_len = s->ftsdoc.len;
}

/*
 * Everything store_put() needs of r that the database does not hold: the
 * checks, the hash, record.sets, content.dc, the template and the
 * full-text columns (titles, creators, subjects and descriptions, one
 * value a line, as the view record_fts_doc reads them back out of
 * content.dc: the 'delete' the triggers send must see the very terms
 * inserted, see test_fts_in_step).
 */
int
store_prepare(struct store_prep *s, const struct store_record *r,
    struct store_prepared *out, char **cause)
{
	size_t k, seen[4] = { 0 };
	int    c;

	memset(out, 0, sizeof(*out));
	if (check_record(s, r, cause) == -1)
		return -1;
	out->hash = store_record_hash(s, r);
	if (sets_json(s, r) == -1) {
		set_cause(cause, "store: put: setSpecs longer than %zu bytes",
		    s->setsjson.max);
		return -1;
	}
	out->sets_json = s->setsjson.data;
	out->sets_json_len = s->setsjson.len;
	if (r->deleted || (r->metadata == NULL && r->ndc == 0))
		return 0;
	if (dc_json(s, r) == -1) {
		set_cause(cause,
		    "store: put: DC values longer than %zu bytes "
		    "as JSON",
		    (size_t)JSON_MAX);
		return -1;
	}
	out->dc_json = s->dcjson.data;
	out->dc_json_len = s->dcjson.len;
	if (r->metadata != NULL && template_make(s, r) == 0) {
		out->tmpl = s->tmpl.data;
		out->tmpl_len = s->tmpl.len;
		out->tmpl_hash = store_xxh64(s->tmpl.data, s->tmpl.len, 0);
	}
	for (c = 0; c < 4; c++)
		buf_reset(&s->fts[c]);
	/*
	 * DCMES codes 0-3: title, creator, subject, description.  Fields
	 * filed by name (-1, so above 3 unsigned) are not indexed (see
	 * harvest/format.h).
	 */
	for (k = 0; k < r->ndc; k++) {
		if ((unsigned)(c = s->codes[k]) > 3)
			continue;
		if (seen[c]++ > 0 && buf_addch(&s->fts[c], '\n') == -1)
			goto toolong;
		if (buf_add(&s->fts[c], r->dc[k].value, s->vlen[k]) == -1)
			goto toolong;
	}
	for (c = 0; c < 4; c++) {
		if (s->fts[c].len > INT_MAX)
			goto toolong;
		out->fts[c] = buf_str(&s->fts[c]);
		out->fts_len[c] = s->fts[c].len;
	}
	if (s->fts_maker != NULL)
		fts_make(s, out);
	return 0;
toolong:
	set_cause(cause, "store: put: full-text columns too long");
	return -1;
}

/*
 * One JSON string of content.dc at *pp (after its opening quote), as
 * json_value() writes it (escapes \" \\ \n \r \t, and \u00XX below 0x20
 * only): its bytes appended to b when b is not NULL, *pp moved past its
 * closing quote.  -1: not so written.
 */
int
store_dc_string(const char **pp, const char *end, struct buf *b)
{
	const char *p = *pp, *run;
	int	    k, x;

	for (;;) {
		run = p;
		while (p < end && *p != '"' && *p != '\\' &&
		    (unsigned char)*p >= 0x20)
			p++;
		if (b != NULL && buf_add(b, run, p - run) == -1)
			return -1;
		if (p == end || (unsigned char)*p < 0x20)
			return -1;
		if (*p++ == '"')
			break;
		if (p == end)
			return -1;
		switch (*p++) {
		case '"':
			x = '"';
			break;
		case '\\':
			x = '\\';
			break;
		case 'n':
			x = '\n';
			break;
		case 'r':
			x = '\r';
			break;
		case 't':
			x = '\t';
			break;
		case 'u':
			if (end - p < 4 || p[0] != '0' || p[1] != '0' ||
			    (k = hex_digit(p[2])) < 0 || k > 1 ||
			    (x = hex_digit(p[3])) < 0)
				return -1;
			x += k * 16;
			p += 4;
			break;
		default:
			return -1;
		}
		if (b != NULL && buf_addch(b, (char)x) == -1)
			return -1;
	}
	*pp = p;
	return 0;
}
