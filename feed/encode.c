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

/* What the export callback reuses from one record to the next. */
struct export_out {
	FILE	  *fp;
	char	 **cause;
	struct buf line;
	struct buf el[STORE_NDCMES];
};

struct changes_out {
	FILE	  *fp;
	char	 **cause;
	int64_t	  *last;
	struct buf line;
};

struct search_out {
	FILE	  *fp;
	char	 **cause;
	struct buf line;
};

struct status_out {
	FILE *fp;
	int   sources;
	int   prefixes;	  /* of the source in hand */
	int   in_records; /* its records lines not ended */
};

struct source_json_out {
	struct buf *b;
	int	    lists; /* list objects written */
	int	    open;  /* "lists":[ written, ] not yet */
	long long   present, deleted;
};

static void	   set_cause(char **, const char *, ...) __printflike(2, 3);
static int	   write_buf(const struct buf *, FILE *, const char *, char **);
static void	   json_str(struct buf *, const char *, size_t);
static const char *txt(const char *);

static int  export_row(void *, const struct store_export_row *);
static int  export_fields(struct buf *, const struct store_export_row *);
static int  changes_row(void *, const struct store_change_row *);
static int  search_row(void *, const struct store_search_row *);
static int  status_source(void *, const struct store_source_row *);
static int  status_run(void *, const struct store_run_row *);
static int  status_prefix(void *, const struct store_prefix_row *);
static int  status_list(void *, const struct store_list_row *);
static void status_records_end(struct status_out *);
static int  source_json_source(void *, const struct store_source_row *);
static int  source_json_list(void *, const struct store_list_row *);

static void
set_cause(char **cause, const char *fmt, ...)
{
	va_list ap;

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
		set_cause(cause, "store: %s: write: %s", what, strerror(errno));
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
	struct export_out *x = arg;
	struct buf	  *b = &x->line;
	size_t		   i;
	int		   e, first, err = 0;

	buf_reset(b);
	err |= buf_addstr(b, "{\"source\":");
	err |= json_add_string(b, r->source, -1);
	err |= buf_addstr(b, ",\"identifier\":");
	err |= json_add_string(b, r->identifier, -1);
	err |= buf_addstr(b, ",\"prefix\":");
	err |= json_add_string(b, r->prefix, -1);
	err |= buf_addstr(b, ",\"datestamp\":");
	err |= json_add_string(b, r->datestamp, -1);
	err |= buf_addstr(
	    b, r->deleted ? ",\"deleted\":true" : ",\"deleted\":false");

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
		err |= json_add_string(&x->el[e], r->dc[i].value, r->dc[i].len);
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
	err |= export_fields(b, r);
	if (r->metadata != NULL) {
		err |= buf_addstr(b, ",\"metadata\":");
		err |= json_add_string(b, r->metadata, r->metadata_len);
	}
	err |= buf_addstr(b, "}\n");
	if (err) {
		set_cause(x->cause,
		    "store: export: record %lld longer than "
		    "%zu bytes",
		    (long long)r->id, (size_t)EXPORT_MAX_LINE);
		return -1;
	}
	return write_buf(b, x->fp, "export", x->cause);
}

/*
 * The values of fields filed by name, if r has any: ,"fields":{"name":
 * [values],...}, names in the order they first come, each one's values in
 * document order.  (A record has few: the quadratic scan is cheap.)
 */
static int
export_fields(struct buf *b, const struct store_export_row *r)
{
	const char *name;
	size_t	    i, k;
	int	    first = 1, err = 0;

	for (i = 0; i < r->ndc; i++) {
		if ((name = r->dc[i].name) == NULL)
			continue;
		for (k = 0; k < i; k++)
			if (r->dc[k].name != NULL &&
			    strcmp(r->dc[k].name, name) == 0)
				break;
		if (k < i)
			continue;
		err |= buf_addstr(b, first ? ",\"fields\":{" : "],");
		first = 0;
		err |= json_add_string(b, name, -1);
		err |= buf_addstr(b, ":[");
		for (k = i; k < r->ndc; k++) {
			if (r->dc[k].name == NULL ||
			    strcmp(r->dc[k].name, name) != 0)
				continue;
			if (k > i)
				err |= buf_addch(b, ',');
			err |= json_add_string(b, r->dc[k].value, r->dc[k].len);
		}
	}
	if (!first)
		err |= buf_addstr(b, "]}");
	return err;
}

int
feed_export(struct store *s, const char *source, const char *prefix, FILE *fp,
    char **cause)
{
	struct export_out x;
	size_t		  i;
	int		  ret = -1;

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
	struct changes_out *c = arg;
	struct buf	   *b = &c->line;
	int		    err;

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
	struct changes_out c;
	int		   ret = -1;

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
	struct search_out *o = arg;
	struct buf	  *b = &o->line;

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
	struct search_out o;
	int		  r;

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
	const unsigned char *p;

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
	struct status_out *o = arg;
	FILE		  *fp = o->fp;

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
	struct status_out *o = arg;
	FILE		  *fp = o->fp;

	o->in_records = 1;
	if (r == NULL) {
		fprintf(fp, "  last run       none\n");
		return 0;
	}
	fprintf(fp, "  last run       #%lld %s, started %s, ended %s\n",
	    (long long)r->id, txt(r->status), txt(r->started), txt(r->ended));
	fprintf(fp,
	    "                 pages %lld, records %lld: "
	    "new %lld, updated %lld, deleted %lld, unchanged %lld; "
	    "bytes %lld\n",
	    r->pages, r->records, r->new_records, r->updated, r->deleted,
	    r->unchanged, r->bytes);
	if (r->error != NULL)
		fprintf(fp, "                 error: %s\n", txt(r->error));
	return 0;
}

static int
status_prefix(void *arg, const struct store_prefix_row *r)
{
	struct status_out *o = arg;

	o->prefixes++;
	fprintf(o->fp, "  records        %s: %lld present, %lld deleted\n",
	    txt(r->prefix), r->present, r->deleted);
	return 0;
}

static int
status_list(void *arg, const struct store_list_row *r)
{
	struct status_out *o = arg;
	FILE		  *fp = o->fp;

	status_records_end(o);
	fprintf(fp, "  list           %s %s: watermark %s", txt(r->prefix),
	    *r->set == '\0' ? "(whole repository)" : txt(r->set),
	    txt(r->watermark));
	if (r->token != NULL || r->pages > 0) {
		fprintf(fp,
		    "; in progress: pages %lld, token %s, "
		    "progress %s",
		    r->pages, txt(r->token), txt(r->progress));
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
	struct status_out      o;
	struct store_status_cb cb = {
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
	struct source_json_out *o = arg;
	struct buf	       *b = o->b;

	if (r == NULL) {
		buf_addstr(b,
		    ",\"repository\":null,\"records\":null,"
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
	if (o->present >= 0)
		buf_printf(b,
		    ",\"records\":{\"present\":%lld,"
		    "\"deleted\":%lld}",
		    o->present, o->deleted);
	else
		buf_addstr(b, ",\"records\":null");
	/* The lists, as `status` shows them. */
	buf_addstr(b, ",\"lists\":[");
	o->open = 1;
	return 0;
}

static int
source_json_list(void *arg, const struct store_list_row *r)
{
	struct source_json_out *o = arg;
	struct buf	       *b = o->b;

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
feed_source_json(struct store *s, const char *name, long long present,
    long long deleted, struct buf *b, char **cause)
{
	struct source_json_out o = {
		.b = b,
		.present = present,
		.deleted = deleted,
	};
	struct store_status_cb cb = {
		.source = source_json_source,
		.list = source_json_list,
		.arg = &o,
	};
	int r;

	r = store_source_status(s, name, &cb, cause);
	if (o.open)
		buf_addch(b, ']');
	return r;
}

/*
 * The daemon's /status read back, for `oaiharvest status --daemon`: a
 * small JSON reader (values into a tree) and the table the CLI prints.
 * A value is read as SQLite's ->> gives it, which the table once came
 * from: a string unescaped, a number as written, true and false as 1 and
 * 0, null as none, an array or an object as its JSON text.
 */

#define JSON_DEPTH_MAX 1000 /* as SQLite's JSON functions */

enum jtype {
	J_NULL,
	J_FALSE,
	J_TRUE,
	J_NUMBER,
	J_STRING,
	J_ARRAY,
	J_OBJECT,
};

struct jval {
	enum jtype   type;
	char	    *text; /* as ->> gives it; NULL for null */
	size_t	     n;	   /* members of an array or object */
	char	   **keys; /* of an object's members */
	struct jval *v;
};

struct jread {
	const char *p;
	const char *end;
};

static int		  jr_value(struct jread *, struct jval *, int);
static void		  jval_free(struct jval *);
static const struct jval *jval_get(const struct jval *, const char *);
static const char	 *jval_text(const struct jval *, const char *);
static void		  jr_space(struct jread *);
static int		  jr_string(struct jread *, char **);
static void		  utf8_put(struct buf *, unsigned long);

static void
jr_space(struct jread *r)
{
	while (r->p < r->end &&
	    (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
		r->p++;
}

static void
utf8_put(struct buf *b, unsigned long c)
{
	if (c < 0x80)
		buf_addch(b, (char)c);
	else if (c < 0x800) {
		buf_addch(b, (char)(0xc0 | (c >> 6)));
		buf_addch(b, (char)(0x80 | (c & 0x3f)));
	} else if (c < 0x10000) {
		buf_addch(b, (char)(0xe0 | (c >> 12)));
		buf_addch(b, (char)(0x80 | ((c >> 6) & 0x3f)));
		buf_addch(b, (char)(0x80 | (c & 0x3f)));
	} else {
		buf_addch(b, (char)(0xf0 | (c >> 18)));
		buf_addch(b, (char)(0x80 | ((c >> 12) & 0x3f)));
		buf_addch(b, (char)(0x80 | ((c >> 6) & 0x3f)));
		buf_addch(b, (char)(0x80 | (c & 0x3f)));
	}
}

/* Four hex digits at p into *c; -1 unless there are. */
static int
jr_hex4(const char *p, const char *end, unsigned long *c)
{
	int i, d;

	if (end - p < 4)
		return -1;
	for (*c = 0, i = 0; i < 4; i++) {
		if ((d = hex_digit(p[i])) < 0)
			return -1;
		*c = *c * 16 + (unsigned long)d;
	}
	return 0;
}

/* A string at r->p (its opening quote), unescaped into *out. */
static int
jr_string(struct jread *r, char **out)
{
	struct buf    b;
	unsigned long c, lo;
	const char   *run;

	if (r->p == r->end || *r->p++ != '"')
		return -1;
	buf_init(&b, SIZE_MAX / 4);
	for (;;) {
		for (run = r->p; r->p < r->end && *r->p != '"' &&
		     *r->p != '\\' && (unsigned char)*r->p >= 0x20;
		     r->p++)
			;
		buf_add(&b, run, r->p - run);
		if (r->p == r->end || (unsigned char)*r->p < 0x20)
			goto fail;
		if (*r->p++ == '"')
			break;
		if (r->p == r->end)
			goto fail;
		switch (*r->p++) {
		case '"':
			buf_addch(&b, '"');
			break;
		case '\\':
			buf_addch(&b, '\\');
			break;
		case '/':
			buf_addch(&b, '/');
			break;
		case 'b':
			buf_addch(&b, '\b');
			break;
		case 'f':
			buf_addch(&b, '\f');
			break;
		case 'n':
			buf_addch(&b, '\n');
			break;
		case 'r':
			buf_addch(&b, '\r');
			break;
		case 't':
			buf_addch(&b, '\t');
			break;
		case 'u':
			if (jr_hex4(r->p, r->end, &c) == -1)
				goto fail;
			r->p += 4;
			if (c >= 0xd800 && c < 0xdc00 && r->end - r->p >= 6 &&
			    r->p[0] == '\\' && r->p[1] == 'u' &&
			    jr_hex4(r->p + 2, r->end, &lo) == 0 &&
			    lo >= 0xdc00 && lo < 0xe000) {
				c = 0x10000 + ((c - 0xd800) << 10) +
				    (lo - 0xdc00);
				r->p += 6;
			}
			utf8_put(&b, c);
			break;
		default:
			goto fail;
		}
	}
	*out = xstrdup(buf_str(&b));
	buf_free(&b);
	return 0;
fail:
	buf_free(&b);
	return -1;
}

/* One value at r->p into *v (zeroed first); -1 when it is not JSON. */
static int
jr_value(struct jread *r, struct jval *v, int depth)
{
	const char *start;
	char	   *key;
	int	    obj;

	memset(v, 0, sizeof(*v));
	jr_space(r);
	if (r->p == r->end || depth > JSON_DEPTH_MAX)
		return -1;
	start = r->p;
	switch (*r->p) {
	case '"':
		v->type = J_STRING;
		return jr_string(r, &v->text);
	case '[':
	case '{':
		obj = *r->p++ == '{';
		v->type = obj ? J_OBJECT : J_ARRAY;
		jr_space(r);
		if (r->p < r->end && *r->p == (obj ? '}' : ']')) {
			r->p++;
			break;
		}
		for (;;) {
			key = NULL;
			if (obj) {
				jr_space(r);
				if (jr_string(r, &key) == -1)
					return -1;
				jr_space(r);
				if (r->p == r->end || *r->p++ != ':') {
					free(key);
					return -1;
				}
			}
			v->v = xreallocarray(v->v, v->n + 1, sizeof(*v->v));
			v->keys =
			    xreallocarray(v->keys, v->n + 1, sizeof(*v->keys));
			v->keys[v->n] = key;
			if (jr_value(r, &v->v[v->n++], depth + 1) == -1)
				return -1;
			jr_space(r);
			if (r->p == r->end)
				return -1;
			if (*r->p == ',') {
				r->p++;
				continue;
			}
			if (*r->p++ != (obj ? '}' : ']'))
				return -1;
			break;
		}
		break;
	case 't':
	case 'f':
	case 'n':
		if (r->end - r->p >= 4 && memcmp(r->p, "true", 4) == 0) {
			v->type = J_TRUE;
			v->text = xstrdup("1");
			r->p += 4;
		} else if (r->end - r->p >= 5 &&
		    memcmp(r->p, "false", 5) == 0) {
			v->type = J_FALSE;
			v->text = xstrdup("0");
			r->p += 5;
		} else if (r->end - r->p >= 4 && memcmp(r->p, "null", 4) == 0) {
			v->type = J_NULL;
			r->p += 4;
		} else
			return -1;
		return 0;
	default:
		if (*r->p == '-')
			r->p++;
		if (r->p == r->end || *r->p < '0' || *r->p > '9')
			return -1;
		while (r->p < r->end &&
		    ((*r->p >= '0' && *r->p <= '9') || *r->p == '.' ||
			*r->p == 'e' || *r->p == 'E' || *r->p == '+' ||
			*r->p == '-'))
			r->p++;
		v->type = J_NUMBER;
		v->text = xstrndup(start, r->p - start);
		return 0;
	}
	/* An array or object: its JSON text. */
	v->text = xstrndup(start, r->p - start);
	return 0;
}

static void
jval_free(struct jval *v)
{
	size_t i;

	for (i = 0; i < v->n; i++) {
		jval_free(&v->v[i]);
		free(v->keys[i]);
	}
	free(v->v);
	free(v->keys);
	free(v->text);
}

/* Member key of object v, or NULL. */
static const struct jval *
jval_get(const struct jval *v, const char *key)
{
	size_t i;

	if (v == NULL || v->type != J_OBJECT)
		return NULL;
	for (i = 0; i < v->n; i++)
		if (strcmp(v->keys[i], key) == 0)
			return &v->v[i];
	return NULL;
}

/* The text of v, or none (NULL, or missing) when v holds none. */
static const char *
jval_text(const struct jval *v, const char *none)
{
	return v != NULL && v->text != NULL ? v->text : none;
}

int
feed_daemon_status(const char *json, FILE *fp)
{
	static const char *row = "%-20s %-9s %-7s %-21s %-21s %9s %8s "
				 "%4s  %s\n";
	struct jread	   r = { json, json + strlen(json) };
	struct jval	   top;
	const struct jval *sources, *s, *run, *recs, *lists, *l;
	const char	  *set, *error;
	struct buf	   from;
	size_t		   i, j;
	int		   n = 0, ok;

	fprintf(fp, row, "SOURCE", "STATE", "LAST", "ENDED", "NEXT", "RECORDS",
	    "DELETED", "FAIL", "NEXT FROM");
	ok = jr_value(&r, &top, 0) == 0;
	jr_space(&r);
	if (!ok || r.p != r.end) {
		jval_free(&top);
		return -1;
	}
	buf_init(&from, SIZE_MAX / 4);
	sources = jval_get(&top, "sources");
	for (i = 0; sources != NULL &&
	     (sources->type == J_ARRAY || sources->type == J_OBJECT) &&
	     i < sources->n;
	     i++) {
		s = &sources->v[i];
		run = jval_get(s, "last_run");
		recs = jval_get(s, "records");
		/* prefix[/set]=watermark of each list with a prefix and set. */
		buf_reset(&from);
		lists = jval_get(s, "lists");
		for (j = 0; lists != NULL &&
		     (lists->type == J_ARRAY || lists->type == J_OBJECT) &&
		     j < lists->n;
		     j++) {
			l = &lists->v[j];
			if (jval_text(jval_get(l, "prefix"), NULL) == NULL ||
			    (set = jval_text(jval_get(l, "set"), NULL)) == NULL)
				continue;
			if (from.len > 0)
				buf_addch(&from, ' ');
			buf_addstr(&from, jval_get(l, "prefix")->text);
			if (*set != '\0') {
				buf_addch(&from, '/');
				buf_addstr(&from, set);
			}
			buf_addch(&from, '=');
			buf_addstr(
			    &from, jval_text(jval_get(l, "watermark"), "-"));
		}
		n++;
		fprintf(fp, row, jval_text(jval_get(s, "name"), "(null)"),
		    jval_text(jval_get(s, "state"), "(null)"),
		    jval_text(jval_get(run, "status"), "-"),
		    jval_text(jval_get(run, "end"), "-"),
		    jval_text(jval_get(s, "next_run"), "-"),
		    jval_text(jval_get(recs, "present"), "0"),
		    jval_text(jval_get(recs, "deleted"), "0"),
		    jval_text(jval_get(s, "consecutive_failures"), "(null)"),
		    from.len > 0 ? buf_str(&from) : "-");
		if ((error = jval_text(jval_get(run, "error"), NULL)) != NULL)
			fprintf(fp, "%-20s error: %s\n", "", error);
	}
	buf_free(&from);
	jval_free(&top);
	if (n == 0)
		fprintf(fp, "no sources\n");
	return 0;
}

/* Export as XML: one document, or OAI-PMH ListRecords pages */

#define OAI_NS "http://www.openarchives.org/OAI/2.0/"
#define OAI_SCHEMA \
	"http://www.openarchives.org/OAI/2.0/ " \
	"http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd"

struct xml_out {
	struct store		      *store;
	const struct feed_export_opts *o;
	struct export_out	       json; /* FEED_JSON */
	FILE			      *fp;
	char			     **cause;
	struct buf		       line;
	long long		       records;
	/* FEED_OAI: the page in hand. */
	int	  open;
	char	 *source;
	char	 *prefix;
	char	 *url;
	long long in_page;
	long long cursor; /* the list's so far */
	long long page;	  /* of the list */
	char	  now[DATESTAMP_LEN];
};

/*
 * Text or an attribute value as XML: the harvester's own escaping
 * (xml_ref()), and U+FFFD for what XML 1.0 cannot hold (control
 * characters, invalid UTF-8, surrogates, U+FFFE and U+FFFF), so that a
 * source name from the command line cannot break the document.
 */
static int
xml_text(struct buf *b, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	const char	    *ref;
	size_t		     i = 0, n;
	unsigned long	     c;
	int		     err = 0;

	if (len == (size_t)-1)
		len = strlen(s);
	while (i < len) {
		if (p[i] < 0x80) {
			if ((ref = xml_ref(p[i])) != NULL)
				err |= buf_addstr(b, ref);
			else if (p[i] < 0x20)
				err |= buf_addstr(b, "\xef\xbf\xbd");
			else
				err |= buf_addch(b, (char)p[i]);
			i++;
			continue;
		}
		if (p[i] >= 0xc2 && p[i] <= 0xdf)
			n = 2, c = p[i] & 0x1f;
		else if (p[i] >= 0xe0 && p[i] <= 0xef)
			n = 3, c = p[i] & 0x0f;
		else if (p[i] >= 0xf0 && p[i] <= 0xf4)
			n = 4, c = p[i] & 0x07;
		else
			n = 0, c = 0;
		if (n > 0 && i + n <= len) {
			size_t k;

			for (k = 1; k < n && (p[i + k] & 0xc0) == 0x80; k++)
				c = (c << 6) | (p[i + k] & 0x3f);
			if (k == n && !(n == 3 && c < 0x800) &&
			    !(n == 4 && (c < 0x10000 || c > 0x10ffff)) &&
			    !(c >= 0xd800 && c <= 0xdfff) && c != 0xfffe &&
			    c != 0xffff) {
				err |= buf_add(b, s + i, n);
				i += n;
				continue;
			}
		}
		err |= buf_addstr(b, "\xef\xbf\xbd");
		i++;
	}
	return err;
}

/*
 * The metadata as stored, in an element of a namespace given by default
 * (OAI-PMH's <metadata>): a root without a prefix and without its own
 * xmlns="..." is in no namespace, as its declarations stand alone, and
 * gets xmlns="" so that it stays there.
 */
static int
xml_metadata(struct buf *b, const char *m, size_t len, int dflt)
{
	size_t name, i;
	int    err = 0;

	if (!dflt || len < 2 || m[0] != '<')
		return buf_add(b, m, len);
	name = 1 + strcspn(m + 1, " \t\r\n/>");
	if (name > len || memchr(m + 1, ':', name - 1) != NULL)
		return buf_add(b, m, len);
	for (i = name; i < len && m[i] != '>'; i++)
		if (i + 7 <= len && memcmp(m + i, "xmlns", 5) == 0 &&
		    strchr(" \t\r\n=", m[i + 5]) != NULL &&
		    (m[i - 1] == ' ' || m[i - 1] == '\t' || m[i - 1] == '\r' ||
			m[i - 1] == '\n'))
			return buf_add(b, m, len);
	err |= buf_add(b, m, name);
	err |= buf_addstr(b, " xmlns=\"\"");
	err |= buf_add(b, m + name, len - name);
	return err;
}

/* The record's header and metadata, elements prefixed with ns. */
static int
xml_record(
    struct buf *b, const struct store_export_row *r, const char *ns, int dflt)
{
	struct jread jr = { r->sets, r->sets + r->sets_len };
	struct jval  sets;
	size_t	     i;
	int	     err = 0;

	err |= buf_printf(
	    b, "<%sheader%s>", ns, r->deleted ? " status=\"deleted\"" : "");
	err |= buf_printf(b, "<%sidentifier>", ns);
	err |= xml_text(b, r->identifier, (size_t)-1);
	err |= buf_printf(b, "</%sidentifier><%sdatestamp>", ns, ns);
	err |= xml_text(b, r->datestamp, (size_t)-1);
	err |= buf_printf(b, "</%sdatestamp>", ns);
	/* record.sets: a JSON array of strings. */
	if (r->sets_len > 0 && jr_value(&jr, &sets, 0) == 0 &&
	    sets.type == J_ARRAY) {
		for (i = 0; i < sets.n; i++) {
			if (sets.v[i].type != J_STRING)
				continue;
			err |= buf_printf(b, "<%ssetSpec>", ns);
			err |= xml_text(b, sets.v[i].text, (size_t)-1);
			err |= buf_printf(b, "</%ssetSpec>", ns);
		}
	}
	if (r->sets_len > 0)
		jval_free(&sets);
	err |= buf_printf(b, "</%sheader>", ns);
	if (r->metadata != NULL) {
		err |= buf_printf(b, "<%smetadata>", ns);
		err |= xml_metadata(b, r->metadata, r->metadata_len, dflt);
		err |= buf_printf(b, "</%smetadata>", ns);
	}
	return err;
}

/* Close the OAI-PMH page in hand; last: its list ends with it. */
static int
oai_page_end(struct xml_out *x, int last)
{
	struct buf *b = &x->line;
	int	    err = 0;

	if (!x->open)
		return 0;
	buf_reset(b);
	x->cursor += x->in_page;
	if (!last) {
		err |= buf_printf(b,
		    "<resumptionToken cursor=\"%lld\">"
		    "page-%lld</resumptionToken>\n",
		    x->cursor - x->in_page, x->page + 1);
	} else if (x->page > 0)
		err |= buf_printf(b,
		    "<resumptionToken cursor=\"%lld\" "
		    "completeListSize=\"%lld\"/>\n",
		    x->cursor - x->in_page, x->cursor);
	err |= buf_addstr(b, "</ListRecords>\n</OAI-PMH>\n");
	x->open = 0;
	if (err) {
		set_cause(x->cause, "store: export: page too long");
		return -1;
	}
	return write_buf(b, x->fp, "export", x->cause);
}

/* Open an OAI-PMH page of the list (x->source, x->prefix). */
static int
oai_page_start(struct xml_out *x, const char *error)
{
	struct buf *b = &x->line;
	int	    err = 0;

	buf_reset(b);
	err |= buf_printf(b,
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<OAI-PMH xmlns=\"%s\"\n"
	    " xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"\n"
	    " xsi:schemaLocation=\"%s\">\n<responseDate>%s</responseDate>\n"
	    "<request verb=\"ListRecords\"",
	    OAI_NS, OAI_SCHEMA, x->now);
	/* As OAI-PMH has it: a token alone, or the list's arguments. */
	if (error == NULL && x->page > 0)
		err |= buf_printf(b, " resumptionToken=\"page-%lld\"", x->page);
	else if (error == NULL) {
		err |= buf_addstr(b, " metadataPrefix=\"");
		err |= xml_text(b, x->prefix, (size_t)-1);
		err |= buf_addstr(b, "\"");
	}
	err |= buf_addch(b, '>');
	if (x->url != NULL)
		err |= xml_text(b, x->url, (size_t)-1);
	err |= buf_addstr(b, "</request>\n");
	if (error != NULL)
		err |= buf_printf(b,
		    "<error code=\"noRecordsMatch\">%s</error>"
		    "\n</OAI-PMH>\n",
		    error);
	else
		err |= buf_addstr(b, "<ListRecords>\n");
	x->open = error == NULL;
	x->in_page = 0;
	if (err) {
		set_cause(x->cause, "store: export: page too long");
		return -1;
	}
	return write_buf(b, x->fp, "export", x->cause);
}

/* Mark the row's identifier found among the (sorted) identifiers. */
static void
export_found(const struct feed_export_opts *o, const char *id)
{
	const struct store_export_filter *f = o->filter;
	size_t				  lo = 0, hi, mid;
	int				  c;

	if (o->found == NULL || f->identifiers == NULL)
		return;
	hi = f->nidentifiers;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if ((c = strcmp(id, f->identifiers[mid])) == 0) {
			o->found[mid] = 1;
			return;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
}

static int
xml_row(void *arg, const struct store_export_row *r)
{
	struct xml_out *x = arg;
	struct buf     *b = &x->line;
	int		err = 0, same;

	export_found(x->o, r->identifier);
	x->records++;
	switch (x->o->format) {
	case FEED_JSON:
		return export_row(&x->json, r);
	case FEED_XML:
		buf_reset(b);
		err |= buf_addstr(b, "<oh:record source=\"");
		err |= xml_text(b, r->source, (size_t)-1);
		err |= buf_addstr(b, "\" prefix=\"");
		err |= xml_text(b, r->prefix, (size_t)-1);
		err |= buf_addstr(b, "\">");
		err |= xml_record(b, r, "oh:", 0);
		err |= buf_addstr(b, "</oh:record>\n");
		break;
	case FEED_OAI:
		same = x->source != NULL && strcmp(x->source, r->source) == 0;
		if (same && strcmp(x->prefix, r->prefix) == 0) {
			if (x->o->page_size > 0 &&
			    x->in_page >= x->o->page_size) {
				if (oai_page_end(x, 0) == -1)
					return -1;
				x->page++;
				if (oai_page_start(x, NULL) == -1)
					return -1;
			}
		} else {
			if (oai_page_end(x, 1) == -1)
				return -1;
			if (!same) {
				free(x->url);
				x->url = store_source_url(x->store, r->source);
				free(x->source);
				x->source = xstrdup(r->source);
			}
			free(x->prefix);
			x->prefix = xstrdup(r->prefix);
			x->page = x->cursor = 0;
			if (oai_page_start(x, NULL) == -1)
				return -1;
		}
		x->in_page++;
		buf_reset(b);
		err |= buf_addstr(b, "<record>");
		err |= xml_record(b, r, "", 1);
		err |= buf_addstr(b, "</record>\n");
		break;
	}
	if (err) {
		set_cause(x->cause,
		    "store: export: record %lld longer than "
		    "%zu bytes",
		    (long long)r->id, (size_t)EXPORT_MAX_LINE);
		return -1;
	}
	return write_buf(b, x->fp, "export", x->cause);
}

int
feed_export_select(
    struct store *s, const struct feed_export_opts *o, FILE *fp, char **cause)
{
	struct xml_out x;
	size_t	       i;
	int	       ret = -1;

	memset(&x, 0, sizeof(x));
	x.store = s;
	x.o = o;
	x.fp = x.json.fp = fp;
	x.cause = x.json.cause = cause;
	datestamp_now(x.now);
	buf_init(&x.line, EXPORT_MAX_LINE);
	buf_init(&x.json.line, EXPORT_MAX_LINE);
	for (i = 0; i < STORE_NDCMES; i++)
		buf_init(&x.json.el[i], EXPORT_MAX_LINE);
	if (o->format == FEED_XML) {
		buf_printf(&x.line,
		    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
		    "\n<oh:records xmlns:oh=\"%s\">\n",
		    FEED_XMLNS);
		if (write_buf(&x.line, fp, "export", cause) == -1)
			goto out;
	}
	if (store_export_select(s, o->filter, xml_row, &x, cause) == -1)
		goto out;
	buf_reset(&x.line);
	if (o->format == FEED_XML) {
		buf_addstr(&x.line, "</oh:records>\n");
		if (write_buf(&x.line, fp, "export", cause) == -1)
			goto out;
	} else if (o->format == FEED_OAI) {
		if (x.records == 0) {
			if (oai_page_start(&x, "no records") == -1)
				goto out;
		} else if (oai_page_end(&x, 1) == -1)
			goto out;
	}
	if (fflush(fp) == EOF) {
		set_cause(cause, "store: export: write: %s", strerror(errno));
		goto out;
	}
	ret = 0;
out:
	if (o->records != NULL)
		*o->records = x.records;
	free(x.source);
	free(x.prefix);
	free(x.url);
	buf_free(&x.line);
	buf_free(&x.json.line);
	for (i = 0; i < STORE_NDCMES; i++)
		buf_free(&x.json.el[i]);
	return ret;
}

/* Sources */

struct sources_out {
	FILE	  *fp;
	int	   n;
	char	  *name, *url, *last, *ended;
	long long  present, deleted;
	struct buf from;
};

static void
sources_line(struct sources_out *o)
{
	if (o->name == NULL)
		return;
	fprintf(o->fp, "%-20s %-40s %9lld %8lld %-7s %-21s %s\n", txt(o->name),
	    txt(o->url), o->present, o->deleted,
	    o->last != NULL ? o->last : "-", o->ended != NULL ? o->ended : "-",
	    o->from.len > 0 ? buf_str(&o->from) : "-");
	free(o->name);
	free(o->url);
	free(o->last);
	free(o->ended);
	o->name = o->url = o->last = o->ended = NULL;
	o->present = o->deleted = 0;
	buf_reset(&o->from);
}

static int
sources_source(void *arg, const struct store_source_row *r)
{
	struct sources_out *o = arg;

	sources_line(o);
	if (o->n++ == 0)
		fprintf(o->fp, "%-20s %-40s %9s %8s %-7s %-21s %s\n", "SOURCE",
		    "URL", "RECORDS", "DELETED", "LAST", "ENDED", "NEXT FROM");
	o->name = xstrdup(r->name);
	o->url = r->url != NULL ? xstrdup(r->url) : NULL;
	return 0;
}

static int
sources_run(void *arg, const struct store_run_row *r)
{
	struct sources_out *o = arg;

	if (r == NULL)
		return 0;
	o->last = xstrdup(r->status != NULL ? txt(r->status) : "-");
	o->ended = xstrdup(r->ended != NULL ? txt(r->ended) : "-");
	return 0;
}

static int
sources_prefix(void *arg, const struct store_prefix_row *r)
{
	struct sources_out *o = arg;

	o->present += r->present;
	o->deleted += r->deleted;
	return 0;
}

/* prefix[/set]=watermark, as `status --daemon` writes NEXT FROM. */
static int
sources_list(void *arg, const struct store_list_row *r)
{
	struct sources_out *o = arg;

	if (o->from.len > 0)
		buf_addch(&o->from, ' ');
	buf_addstr(&o->from, txt(r->prefix));
	if (*r->set != '\0') {
		buf_addch(&o->from, '/');
		buf_addstr(&o->from, txt(r->set));
	}
	buf_addch(&o->from, '=');
	buf_addstr(
	    &o->from, r->watermark != NULL ? txt(r->watermark) : "(full)");
	return 0;
}

int
feed_sources(struct store *s, FILE *fp, char **cause)
{
	struct sources_out     o;
	struct store_status_cb cb = {
		.source = sources_source,
		.run = sources_run,
		.prefix = sources_prefix,
		.list = sources_list,
		.arg = &o,
	};
	int r;

	memset(&o, 0, sizeof(o));
	o.fp = fp;
	buf_init(&o.from, SIZE_MAX / 4);
	r = store_status(s, &cb, cause);
	if (r == 0) {
		sources_line(&o);
		if (o.n == 0)
			fprintf(fp, "no sources\n");
		if (fflush(fp) == EOF || ferror(fp)) {
			set_cause(cause, "store: sources: write: %s",
			    strerror(errno));
			r = -1;
		}
	}
	free(o.name);
	free(o.url);
	free(o.last);
	free(o.ended);
	buf_free(&o.from);
	return r;
}
