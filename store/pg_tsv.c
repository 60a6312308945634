/*
 * PostgreSQL's tsvectors made by the harvester (see pg.c): a record's
 * tsvector is written as tsvector text ('term':1A,5A 'other':2B ...), which
 * PostgreSQL only parses, instead of the text that to_tsvector() would
 * parse, normalise and sort (some 85 us a record of the server's CPU).
 * The terms are the SQLite index's: its tokenizer, unicode61 with
 * remove_diacritics 2 (tokenize.c), so that a search finds the same
 * records on both backends, and a query's words are folded by the same
 * tokenizer (pg_query.c).
 *
 * Positions: the columns' tokens are counted from 1 in the order title,
 * creator, subject, description, as FTS5 counts a column's tokens (every
 * token, the values of a column one text joined by newlines), each
 * column after the first starting one past the last position of the one
 * before: a phrase (a <-> b) never spans two columns, as in FTS5.
 * PostgreSQL's limits hold: positions above 16383 are 16383, a term keeps
 * its first 256 positions, terms over 2047 bytes are left out (as
 * to_tsvector() leaves them out), and so are new terms once the terms
 * take 1 MiB.  Terms are written sorted as PostgreSQL sorts them (bytes,
 * then length) with their positions merged, so its input finds them in
 * order.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "util.h"
#include "backend.h"
#include "tokenize.h"
#include "pg.h"
#include "pg_tsv.h"

/* PostgreSQL 15's tsvector limits (ts_type.h). */
#define TSV_LEXEME_MAX 2047	       /* MAXSTRLEN */
#define TSV_POS_MAX    16383	       /* MAXENTRYPOS - 1 */
#define TSV_NPOS_MAX   256	       /* MAXNUMPOS */
#define TSV_TEXT_MAX   ((1 << 20) - 1) /* MAXSTRPOS: the terms' bytes */
/* The distinct terms' text of one record, at most. */
#define TSV_ARENA_MAX (64UL * 1024 * 1024)

/*
 * A term of the document: its text in the arena; key, its first 8 bytes
 * big-endian (NUL padded: terms hold no NUL), orders most pairs without
 * memcmp(); its positions a chain through x->pos in the order they came
 * (rising: the tokens come in order), at most TSV_NPOS_MAX, none twice.
 */
struct tsv_term {
	uint64_t    key;
	const char *p;
	size_t	    off;
	int	    len;
	int	    npos;
	int	    first, last; /* x->pos[], -1: none */
	uint32_t    slot;	 /* its slot of x->slot */
};

struct tsv_pos {
	int  pos;
	int  next; /* -1: the last */
	char w;
};

struct pg_tsv {
	struct store_tokenizer *z;
	struct buf		arena; /* the terms' text */
	struct tsv_term	       *t;
	size_t			n, cap;
	struct tsv_pos	       *pos;
	size_t			npos, poscap;
	/* Open addressing: a term's index + 1, 0 free; mask + 1 slots. */
	uint32_t    *slot;
	uint32_t     mask;
	int	     at; /* the last token's position */
	char	     w;	 /* the column's weight */
	int	     full;
	struct buf   out;
	struct pg_dc dc;
	struct buf   col[4];
	/* A query word's tokens. */
	size_t qn;
};

static int   tsv_cb(void *, int, const char *, int, int, int);
static int   tsv_cmp(const void *, const void *);
static char *reserve(struct buf *, size_t);
static int   tsv_gather(
      struct pg_tsv *, const char *const[4], const size_t[4], char **);
static int tsv_write_bin(struct pg_tsv *, char **);
static int tsv_write(struct pg_tsv *, char **);
static int query_cb(void *, int, const char *, int, int, int);

struct pg_tsv *
pg_tsv_new(char **cause)
{
	static const char *argv[] = { "remove_diacritics", "2" };
	struct pg_tsv	  *x;
	int		   c;

	x = xcalloc(1, sizeof(*x));
	if ((x->z = store_tokenizer_open(argv, 2, cause)) == NULL) {
		free(x);
		return NULL;
	}
	buf_init(&x->arena, TSV_ARENA_MAX);
	x->mask = 1023;
	x->slot = xcalloc((size_t)x->mask + 1, sizeof(*x->slot));
	buf_init(&x->out, SIZE_MAX / 4);
	pg_dc_init(&x->dc);
	for (c = 0; c < 4; c++)
		buf_init(&x->col[c], SIZE_MAX / 4);
	return x;
}

void
pg_tsv_free(struct pg_tsv *x)
{
	int c;

	if (x == NULL)
		return;
	store_tokenizer_close(x->z);
	buf_free(&x->arena);
	buf_free(&x->out);
	pg_dc_free(&x->dc);
	for (c = 0; c < 4; c++)
		buf_free(&x->col[c]);
	free(x->t);
	free(x->pos);
	free(x->slot);
	free(x);
}

/* The slot of n bytes tok whose key is key: its term's, or a free one. */
static uint32_t
tsv_find(const struct pg_tsv *x, const char *tok, int n, uint64_t key)
{
	const struct tsv_term *t;
	uint64_t	       h, v;
	uint32_t	       i, e;
	int		       k;

	h = (key ^ (uint64_t)n) * 0x9e3779b97f4a7c15ULL;
	for (k = 8; k < n; k += 8) {
		v = 0;
		memcpy(&v, tok + k, n - k < 8 ? (size_t)(n - k) : 8);
		h = (h ^ v) * 0x9e3779b97f4a7c15ULL;
	}
	for (i = (uint32_t)(h >> 32) & x->mask;; i = (i + 1) & x->mask) {
		if ((e = x->slot[i]) == 0)
			return i;
		t = &x->t[e - 1];
		if (t->key == key && t->len == n &&
		    (n <= 8 ||
			memcmp(x->arena.data + t->off + 8, tok + 8,
			    (size_t)n - 8) == 0))
			return i;
	}
}

/* Twice the slots, every term placed again. */
static void
tsv_grow(struct pg_tsv *x)
{
	const char *p;
	size_t	    i;
	uint32_t    k;

	free(x->slot);
	x->mask = x->mask * 2 + 1;
	x->slot = xcalloc((size_t)x->mask + 1, sizeof(*x->slot));
	for (i = 0; i < x->n; i++) {
		p = x->arena.data + x->t[i].off;
		k = tsv_find(x, p, x->t[i].len, x->t[i].key);
		x->slot[k] = (uint32_t)i + 1;
		x->t[i].slot = k;
	}
}

/*
 * A token of the document: every one takes a position, as in FTS5; its
 * term's first TSV_NPOS_MAX positions are kept, the first token at a
 * position (16383, where the later ones stop) with its weight.
 */
static int
tsv_cb(void *ctx, int flags, const char *tok, int n, int start, int end)
{
	struct pg_tsv	*x = ctx;
	struct tsv_term *t;
	struct tsv_pos	*q;
	uint64_t	 key = 0;
	uint32_t	 k;
	int		 i, pos;

	x->at++;
	if (n <= 0 || n > TSV_LEXEME_MAX || x->full)
		return SQLITE_OK;
	for (i = 0; i < 8; i++)
		key = key << 8 | (i < n ? (unsigned char)tok[i] : 0);
	k = tsv_find(x, tok, n, key);
	if (x->slot[k] == 0) {
		if (x->n == x->cap) {
			x->cap = x->cap == 0 ? 256 : 2 * x->cap;
			x->t = xreallocarray(x->t, x->cap, sizeof(*x->t));
		}
		if (reserve(&x->arena, x->arena.len + (size_t)n) == NULL) {
			x->full = 1;
			return SQLITE_OK;
		}
		t = &x->t[x->n];
		t->off = x->arena.len;
		memcpy(x->arena.data + x->arena.len, tok, (size_t)n);
		x->arena.len += (size_t)n;
		t->key = key;
		t->len = n;
		t->npos = 0;
		t->first = t->last = -1;
		t->slot = k;
		x->slot[k] = (uint32_t)++x->n;
		/* At most half full: short probes. */
		if (x->n * 2 > (size_t)x->mask)
			tsv_grow(x);
	} else
		t = &x->t[x->slot[k] - 1];
	pos = x->at > TSV_POS_MAX ? TSV_POS_MAX : x->at;
	if (t->npos >= TSV_NPOS_MAX ||
	    (t->last >= 0 && x->pos[t->last].pos == pos))
		return SQLITE_OK;
	if (x->npos == x->poscap) {
		x->poscap = x->poscap == 0 ? 512 : 2 * x->poscap;
		x->pos = xreallocarray(x->pos, x->poscap, sizeof(*x->pos));
	}
	q = &x->pos[x->npos];
	q->pos = pos;
	q->w = x->w;
	q->next = -1;
	if (t->last >= 0)
		x->pos[t->last].next = (int)x->npos;
	else
		t->first = (int)x->npos;
	t->last = (int)x->npos++;
	t->npos++;
	return SQLITE_OK;
}

/* PostgreSQL's order of terms: bytes, then length (no two alike). */
static int
tsv_cmp(const void *a, const void *b)
{
	const struct tsv_term *x = a, *y = b;
	int		       c;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	if (x->len > 8 && y->len > 8) {
		c = memcmp(x->p + 8, y->p + 8,
		    (size_t)(x->len < y->len ? x->len : y->len) - 8);
		if (c != 0)
			return c;
	}
	return (x->len > y->len) - (x->len < y->len);
}

/*
 * The terms sorted for writing (their text pointed to); what they need at
 * most, per term and per position, added to *need.
 */
static void
tsv_sort(struct pg_tsv *x, size_t term, size_t per_byte, size_t per_pos,
    size_t *need)
{
	size_t i;

	for (i = 0; i < x->n; i++) {
		x->t[i].p = x->arena.data + x->t[i].off;
		*need += per_byte * (size_t)x->t[i].len + term +
		    per_pos * (size_t)x->t[i].npos;
	}
	if (x->n > 1)
		qsort(x->t, x->n, sizeof(*x->t), tsv_cmp);
}

void
pg_tsv_quote(struct buf *b, const char *s, size_t n)
{
	size_t i;

	buf_addch(b, '\'');
	for (i = 0; i < n; i++)
		if (s[i] == '\'' || s[i] == '\\')
			break;
	buf_add(b, s, i);
	for (; i < n; i++) {
		if (s[i] == '\'' || s[i] == '\\')
			buf_addch(b, '\\');
		buf_addch(b, s[i]);
	}
	buf_addch(b, '\'');
}

/*
 * Room for n bytes and a NUL in b, written directly (the per-byte calls
 * of buf_add() were a sixth of the work here); b's own limit is kept.
 */
static char *
reserve(struct buf *b, size_t n)
{
	size_t cap;

	if (n > b->max || n > SIZE_MAX / 2 - 1)
		return NULL;
	if (b->cap < n + 1) {
		cap = b->cap < 64 ? 64 : b->cap;
		while (cap < n + 1)
			cap *= 2;
		b->data = xreallocarray(b->data, cap, 1);
		b->cap = cap;
	}
	return b->data;
}

/* The terms gathered, as tsvector text in x->out. */
static int
tsv_write(struct pg_tsv *x, char **cause)
{
	const struct tsv_term *t;
	const struct tsv_pos  *q;
	size_t		       i, k, text = 0, need = 0;
	int		       j, p;
	char		      *o;

	/* ' 'term': (each byte escaped at worst) and ",16383A". */
	tsv_sort(x, 4, 2, 7, &need);
	buf_reset(&x->out);
	if ((o = reserve(&x->out, need)) == NULL) {
		set_cause(cause, "store: search index: tsvector too long");
		return -1;
	}
	for (i = 0; i < x->n; i++) {
		t = &x->t[i];
		if (text + (size_t)t->len > TSV_TEXT_MAX)
			continue;
		text += (size_t)t->len;
		if (o != x->out.data)
			*o++ = ' ';
		*o++ = '\'';
		for (k = 0; k < (size_t)t->len; k++) {
			if (t->p[k] == '\'' || t->p[k] == '\\')
				*o++ = '\\';
			*o++ = t->p[k];
		}
		*o++ = '\'';
		*o++ = ':';
		for (j = t->first; j >= 0; j = q->next) {
			q = &x->pos[j];
			if (j != t->first)
				*o++ = ',';
			/* The position (1-16383) in decimal, then the weight. */
			for (p = 10000; p > q->pos; p /= 10)
				;
			for (; p > 0; p /= 10)
				*o++ = (char)('0' + q->pos / p % 10);
			*o++ = q->w;
		}
	}
	*o = '\0';
	x->out.len = (size_t)(o - x->out.data);
	return 0;
}

/*
 * The terms gathered, as tsvector's binary form in x->out, what
 * tsvectorsend() writes and tsvectorrecv() reads: the number of terms,
 * then each term's bytes, a NUL, its number of positions and each
 * position with its weight (A 3 to D 0) in the top two bits, all
 * big-endian.  The same terms and positions as tsv_write()'s text.
 */
static int
tsv_write_bin(struct pg_tsv *x, char **cause)
{
	const struct tsv_term *t;
	const struct tsv_pos  *q;
	size_t		       i, text = 0, need = 4, nterms = 0;
	int		       j;
	unsigned char	      *o;
	unsigned	       v;

	/* The term, its NUL, its count; a position. */
	tsv_sort(x, 1 + 2, 1, 2, &need);
	buf_reset(&x->out);
	if (reserve(&x->out, need) == NULL) {
		set_cause(cause, "store: search index: tsvector too long");
		return -1;
	}
	o = (unsigned char *)x->out.data + 4;
	for (i = 0; i < x->n; i++) {
		t = &x->t[i];
		if (text + (size_t)t->len > TSV_TEXT_MAX)
			continue;
		text += (size_t)t->len;
		memcpy(o, t->p, (size_t)t->len);
		o += t->len;
		*o++ = '\0';
		*o++ = (unsigned char)(t->npos >> 8);
		*o++ = (unsigned char)t->npos;
		for (j = t->first; j >= 0; j = q->next) {
			q = &x->pos[j];
			v = (unsigned)(3 - (q->w - 'A')) << 14 |
			    (unsigned)q->pos;
			*o++ = (unsigned char)(v >> 8);
			*o++ = (unsigned char)v;
		}
		nterms++;
	}
	o[0] = '\0';
	x->out.len = (size_t)((char *)o - x->out.data);
	o = (unsigned char *)x->out.data;
	o[0] = (unsigned char)(nterms >> 24);
	o[1] = (unsigned char)(nterms >> 16);
	o[2] = (unsigned char)(nterms >> 8);
	o[3] = (unsigned char)nterms;
	return 0;
}

int
pg_tsv_doc(struct pg_tsv *x, const char *const col[4], const size_t len[4],
    const struct buf **out, char **cause)
{
	if (tsv_gather(x, col, len, cause) == -1 || tsv_write(x, cause) == -1)
		return -1;
	*out = &x->out;
	return 0;
}

int
pg_tsv_doc_bin(struct pg_tsv *x, const char *const col[4], const size_t len[4],
    const struct buf **out, char **cause)
{
	if (tsv_gather(x, col, len, cause) == -1 ||
	    tsv_write_bin(x, cause) == -1)
		return -1;
	*out = &x->out;
	return 0;
}

/* A record's terms and their positions, for tsv_write() or tsv_write_bin(). */
static int
tsv_gather(struct pg_tsv *x, const char *const col[4], const size_t len[4],
    char **cause)
{
	size_t i;
	int    c, rc;

	for (i = 0; i < x->n; i++)
		x->slot[x->t[i].slot] = 0;
	buf_reset(&x->arena);
	x->n = 0;
	x->npos = 0;
	x->at = 0;
	x->full = 0;
	for (c = 0; c < 4; c++) {
		if (col[c] == NULL || len[c] == 0)
			continue;
		if (len[c] > INT_MAX) {
			set_cause(cause, "store: search index: text too long");
			return -1;
		}
		/* A gap: no phrase from one column into the next. */
		if (x->at > 0)
			x->at++;
		x->w = (char)('A' + c);
		if ((rc = store_tokenizer_run(
			 x->z, col[c], (int)len[c], x, tsv_cb)) != SQLITE_OK) {
			set_cause(cause, "store: search index: %s",
			    sqlite3_errstr(rc));
			return -1;
		}
	}
	return 0;
}

int
pg_tsv_dc(struct pg_tsv *x, const char *dc, size_t n, const struct buf **out,
    char **cause)
{
	const char *col[4];
	size_t	    len[4], i;
	int	    c;

	if (pg_dc_parse(&x->dc, dc, n) == -1) {
		set_cause(cause, "store: search index: content.dc unreadable");
		return -1;
	}
	for (c = 0; c < 4; c++)
		buf_reset(&x->col[c]);
	for (i = 0; i < x->dc.n; i++) {
		if (x->dc.noff[i] != SIZE_MAX || (unsigned)x->dc.code[i] > 3)
			continue;
		c = x->dc.code[i];
		if ((x->col[c].len > 0 && buf_addch(&x->col[c], '\n') == -1) ||
		    buf_add(&x->col[c], x->dc.vals.data + x->dc.off[i],
			x->dc.len[i]) == -1) {
			set_cause(cause, "store: search index: too long");
			return -1;
		}
	}
	for (c = 0; c < 4; c++) {
		col[c] = x->col[c].data;
		len[c] = x->col[c].len;
	}
	return pg_tsv_doc(x, col, len, out, cause);
}

/* A query word's token: appended to the phrase in x->out. */
static int
query_cb(void *ctx, int flags, const char *tok, int n, int start, int end)
{
	struct pg_tsv *x = ctx;

	if (n <= 0)
		return SQLITE_OK;
	if (x->qn++ > 0)
		buf_addch(&x->out, '\0');
	buf_add(&x->out, tok, (size_t)n);
	return SQLITE_OK;
}

int
pg_tsv_query_word(struct pg_tsv *x, struct buf *b, const char *w, size_t n,
    char weight, int star)
{
	const char *p, *end;
	size_t	    k, i;

	if (n > INT_MAX)
		return -1;
	buf_reset(&x->out);
	x->qn = 0;
	if (store_tokenizer_run(x->z, w, (int)n, x, query_cb) != SQLITE_OK)
		return -1;
	if (x->qn == 0)
		return 0;
	if (x->qn > 1)
		buf_addch(b, '(');
	p = x->out.data;
	end = p + x->out.len;
	for (i = 0; i < x->qn; i++) {
		k = strnlen(p, (size_t)(end - p));
		if (i > 0)
			buf_addstr(b, " <-> ");
		pg_tsv_quote(b, p, k);
		if ((star && i == x->qn - 1) || weight) {
			buf_addch(b, ':');
			if (star && i == x->qn - 1)
				buf_addch(b, '*');
			if (weight)
				buf_addch(b, weight);
		}
		p += k + 1;
	}
	if (x->qn > 1)
		buf_addch(b, ')');
	return (int)x->qn;
}

void *
pg_fts_maker_new(char **cause)
{
	return pg_tsv_new(cause);
}

void
pg_fts_maker_free(void *x)
{
	pg_tsv_free(x);
}

int
pg_fts_make(void *x, const char *const col[4], const size_t len[4],
    const char **out, size_t *outlen, char **cause)
{
	const struct buf *b;

	if (pg_tsv_doc_bin(x, col, len, &b, cause) == -1)
		return -1;
	*out = b->len > 0 ? b->data : "";
	*outlen = b->len;
	return 0;
}

struct pg_tsv *
pg_tsv_get(struct store_pg *s, char **cause)
{
	if (s->tsv == NULL)
		s->tsv = pg_tsv_new(cause);
	return s->tsv;
}
