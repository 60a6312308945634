#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oh_limits.h"
#include "spool.h"
#include "util.h"

#define NOSTR UINT32_MAX

/* stdio's buffer on a spool's temporary file. */
#define SPOOL_FILE_BUF (64 * 1024)

/* A record's first word. */
#define SP_DELETED  0x01
#define SP_PREPARED 0x02 /* store_prepare()'s results follow */
#define SP_FTSDOC   0x04 /* and its fts_doc */

struct spool {
	struct buf	 mem; /* framed records */
	size_t		 mem_max;
	size_t		 mem_bound; /* spool_new()'s mem_max */
	FILE		*file;	    /* spilled records, or NULL */
	char		*filebuf;   /* its stdio buffer */
	size_t		 count;
	char		*scratch; /* one record read back */
	size_t		 scratchcap;
	const char     **sets;
	size_t		 setcap;
	struct store_dc *dc; /* one record's, read back */
	size_t		 dccap;
	/* store_prepare() on the way in, its results on the way out. */
	struct store_prep    *prep;
	struct store_prepared prepared;
};

static void trim_mem(struct spool *);
static void put_u32(struct buf *, uint32_t);
static void put_str(struct buf *, const char *, size_t);
static int  flush_mem(struct spool *, char **);
static int  decode(struct spool *, const char *, size_t, struct store_record *);

struct spool *
spool_new(size_t mem_max)
{
	struct spool *s;

	s = xcalloc(1, sizeof(*s));
	s->mem_max = s->mem_bound = mem_max;
	/* The cap only guards against a runaway; records are limited. */
	buf_init(&s->mem, SIZE_MAX / 4);
	s->prep = store_prep_new();
	return s;
}

void
spool_free(struct spool *s)
{
	if (s == NULL)
		return;
	if (s->file != NULL)
		fclose(s->file);
	buf_free(&s->mem);
	free(s->scratch);
	free(s->sets);
	free(s->dc);
	store_prep_free(s->prep);
	free(s->filebuf);
	free(s);
}

void
spool_reset(struct spool *s)
{
	if (s->file != NULL) {
		fclose(s->file);
		s->file = NULL;
	}
	buf_reset(&s->mem);
	s->count = 0;
	trim_mem(s);
	if (s->scratchcap > MAX_RECORD_BYTES) {
		free(s->scratch);
		s->scratch = NULL;
		s->scratchcap = 0;
	}
}

void
spool_set_fts(struct spool *s, struct store_fts_maker *m)
{
	store_prep_fts(s->prep, m);
}

void
spool_set_mem_max(struct spool *s, size_t mem_max)
{
	s->mem_max = mem_max;
	if (s->mem.len == 0 && s->file == NULL)
		trim_mem(s);
}

/* An empty spool gives back what a page took beyond its bound. */
static void
trim_mem(struct spool *s)
{
	if (s->mem.cap > s->mem_max * 2) {
		buf_free(&s->mem);
		buf_init(&s->mem, SIZE_MAX / 4);
	}
}

size_t
spool_count(const struct spool *s)
{
	return s->count;
}

/* A number, as it is in memory (the file never leaves the process). */
#define put_num(b, v) \
	do { \
		if (buf_add((b), &(v), sizeof(v)) == -1) \
			fatalx("spool: buffer cap"); \
	} while (0)

static void
put_u32(struct buf *b, uint32_t v)
{
	put_num(b, v);
}

/* A string: its length, its bytes and a NUL, so it reads back in place. */
static void
put_str(struct buf *b, const char *s, size_t len)
{
	if (s == NULL) {
		put_u32(b, NOSTR);
		return;
	}
	put_u32(b, (uint32_t)len);
	if (buf_add(b, s, len) == -1 || buf_addch(b, '\0') == -1)
		fatalx("spool: buffer cap");
}

/*
 * store_prepare() runs here, on the event loop, so that the page writer
 * only writes (see store.h).  A record it refuses is kept as it came:
 * store_put() will say why, in its turn.
 */
int
spool_add(struct spool *s, const struct store_record *r, char **cause)
{
	struct store_prepared p;
	size_t		      start, i;
	uint32_t	      len;
	int		      prepared, c;
	char		     *pcause = NULL;
	const char	     *v;

	if (s->mem.len > 0 && s->mem.len >= s->mem_max &&
	    flush_mem(s, cause) == -1)
		return -1;
	prepared = store_prepare(s->prep, r, &p, &pcause) == 0;
	free(pcause);
	start = s->mem.len;
	put_u32(&s->mem, 0); /* frame length, filled in below */
	put_u32(&s->mem,
	    (r->deleted ? SP_DELETED : 0) | (prepared ? SP_PREPARED : 0) |
		(prepared && p.fts_doc != NULL ? SP_FTSDOC : 0));
	put_str(&s->mem, r->identifier, strlen(r->identifier));
	put_str(&s->mem, r->datestamp, strlen(r->datestamp));
	put_u32(&s->mem, (uint32_t)r->nsets);
	for (i = 0; i < r->nsets; i++)
		put_str(&s->mem, r->sets[i], strlen(r->sets[i]));
	if (prepared) {
		/* The template and the DC values give the XML back. */
		put_str(&s->mem, p.tmpl == NULL ? r->metadata : NULL,
		    r->metadata_len);
		put_u32(&s->mem, 0);
		put_num(&s->mem, p.hash);
		put_str(&s->mem, p.sets_json, p.sets_json_len);
		put_str(&s->mem, p.dc_json, p.dc_json_len);
		put_str(&s->mem, p.tmpl, p.tmpl_len);
		put_num(&s->mem, p.tmpl_hash);
		for (c = 0; c < 4; c++)
			put_str(&s->mem, p.fts[c], p.fts_len[c]);
		if (p.fts_doc != NULL)
			put_str(&s->mem, p.fts_doc, p.fts_doc_len);
	} else {
		put_str(&s->mem, r->metadata, r->metadata_len);
		put_u32(&s->mem, (uint32_t)r->ndc);
		for (i = 0; i < r->ndc; i++) {
			v = r->dc[i].element;
			put_str(&s->mem, v, strlen(v));
			v = r->dc[i].value;
			put_str(&s->mem, v, strlen(v));
			v = r->dc[i].lang;
			put_str(&s->mem, v, v != NULL ? strlen(v) : 0);
		}
	}
	len = (uint32_t)(s->mem.len - start - sizeof(uint32_t));
	memcpy(s->mem.data + start, &len, sizeof(len));
	s->count++;
	return 0;
}

static int
flush_mem(struct spool *s, char **cause)
{
	if (s->file == NULL) {
		if ((s->file = tmpfile()) == NULL) {
			/*
			 * A bound lowered to spare memory (a queued page) is
			 * no reason to fail a page: keep to the spool's own.
			 */
			if (s->mem_max < s->mem_bound &&
			    s->mem.len < s->mem_bound) {
				s->mem_max = s->mem_bound;
				return 0;
			}
			xasprintf(cause, "spool: temporary file: %s",
			    strerror(errno));
			return -1;
		}
		/*
		 * Not 4 KiB a read(2) when the page writer reads it back
		 * (glibc ignores the size without a buffer).
		 */
		if (s->filebuf == NULL)
			s->filebuf = xmalloc(SPOOL_FILE_BUF);
		(void)setvbuf(s->file, s->filebuf, _IOFBF, SPOOL_FILE_BUF);
	}
	if (fwrite(s->mem.data, 1, s->mem.len, s->file) != s->mem.len) {
		xasprintf(cause, "spool: write: %s", strerror(errno));
		return -1;
	}
	buf_reset(&s->mem);
	return 0;
}

/* n bytes into v, as put_num() wrote them. */
static int
get_num(const char **p, const char *end, void *v, size_t n)
{
	if ((size_t)(end - *p) < n)
		return -1;
	memcpy(v, *p, n);
	*p += n;
	return 0;
}

static int
get_u32(const char **p, const char *end, uint32_t *v)
{
	return get_num(p, end, v, sizeof(*v));
}

/* A string written by put_str(), in place; its length too if lenp. */
static int
get_str(const char **p, const char *end, const char **out, size_t *lenp)
{
	uint32_t len;

	if (get_u32(p, end, &len) == -1)
		return -1;
	if (len == NOSTR) {
		*out = NULL;
		return 0;
	}
	if (lenp != NULL)
		*lenp = len;
	if ((size_t)(end - *p) < (size_t)len + 1)
		return -1;
	*out = *p;
	*p += (size_t)len + 1;
	return 0;
}

static int
decode(struct spool *s, const char *p, size_t n, struct store_record *rec)
{
	struct store_prepared *pp = &s->prepared;
	const char	      *end = p + n;
	uint32_t	       v, i, nsets, ndc;
	int		       c;

	memset(rec, 0, sizeof(*rec));
	if (get_u32(&p, end, &v) == -1)
		return -1;
	rec->deleted = (v & SP_DELETED) != 0;
	if (get_str(&p, end, &rec->identifier, NULL) == -1 ||
	    get_str(&p, end, &rec->datestamp, NULL) == -1 ||
	    get_u32(&p, end, &nsets) == -1)
		return -1;
	if (nsets > s->setcap) {
		s->sets = xreallocarray(s->sets, nsets, sizeof(*s->sets));
		s->setcap = nsets;
	}
	for (i = 0; i < nsets; i++)
		if (get_str(&p, end, &s->sets[i], NULL) == -1)
			return -1;
	rec->sets = s->sets;
	rec->nsets = nsets;
	if (get_str(&p, end, &rec->metadata, &rec->metadata_len) == -1)
		return -1;
	if (get_u32(&p, end, &ndc) == -1)
		return -1;
	if (ndc > s->dccap) {
		s->dc = xreallocarray(s->dc, ndc, sizeof(*s->dc));
		s->dccap = ndc;
	}
	for (i = 0; i < ndc; i++) {
		if (get_str(&p, end, &s->dc[i].element, NULL) == -1 ||
		    s->dc[i].element == NULL ||
		    get_str(&p, end, &s->dc[i].value, NULL) == -1 ||
		    get_str(&p, end, &s->dc[i].lang, NULL) == -1)
			return -1;
	}
	rec->dc = s->dc;
	rec->ndc = ndc;
	if (v & SP_PREPARED) {
		memset(pp, 0, sizeof(*pp));
		if (get_num(&p, end, &pp->hash, sizeof(pp->hash)) == -1 ||
		    get_str(&p, end, &pp->sets_json, &pp->sets_json_len) ==
			-1 ||
		    get_str(&p, end, &pp->dc_json, &pp->dc_json_len) == -1 ||
		    get_str(&p, end, &pp->tmpl, &pp->tmpl_len) == -1 ||
		    get_num(&p, end, &pp->tmpl_hash, sizeof(pp->tmpl_hash)) ==
			-1)
			return -1;
		for (c = 0; c < 4; c++)
			if (get_str(&p, end, &pp->fts[c], &pp->fts_len[c]) ==
			    -1)
				return -1;
		if ((v & SP_FTSDOC) &&
		    (get_str(&p, end, &pp->fts_doc, &pp->fts_doc_len) == -1 ||
			pp->fts_doc == NULL))
			return -1;
		rec->prep = pp;
	}
	return p == end ? 0 : -1;
}

int
spool_replay(struct spool *s, int (*fn)(void *, const struct store_record *),
    void *arg, char **cause)
{
	struct store_record rec;
	const char	   *p, *end;
	uint32_t	    len;

	if (s->file == NULL) {
		p = s->mem.data;
		end = p + s->mem.len;
		while (p < end) {
			if (get_u32(&p, end, &len) == -1 ||
			    (size_t)(end - p) < len ||
			    decode(s, p, len, &rec) == -1)
				goto corrupt;
			if (fn(arg, &rec) == -1)
				return -1;
			p += len;
		}
		return 0;
	}
	if (s->mem.len > 0 && flush_mem(s, cause) == -1)
		return -1;
	if (fflush(s->file) != 0 || fseek(s->file, 0, SEEK_SET) != 0) {
		xasprintf(cause, "spool: rewind: %s", strerror(errno));
		return -1;
	}
	while (fread(&len, sizeof(len), 1, s->file) == 1) {
		if (len > 8 * MAX_RECORD_BYTES + MAX_DC_VALUES * 16)
			goto corrupt;
		if (len > s->scratchcap) {
			s->scratch = xreallocarray(s->scratch, len, 1);
			s->scratchcap = len;
		}
		if (fread(s->scratch, 1, len, s->file) != len)
			goto corrupt;
		if (decode(s, s->scratch, len, &rec) == -1)
			goto corrupt;
		if (fn(arg, &rec) == -1)
			return -1;
	}
	if (ferror(s->file)) {
		xasprintf(cause, "spool: read: %s", strerror(errno));
		return -1;
	}
	return 0;
corrupt:
	*cause = xstrdup("spool: corrupt record (internal error)");
	return -1;
}
