/*
 * The content hash: XXH64 over a canonical form of a record's metadata, so
 * that two serializations of the same metadata are not an update.  (The
 * HTTP::OAI gateway writes namespace declarations in Perl's hash order,
 * another on every response: half its records came back "updated".)
 *
 * The canonical form follows Canonical XML 1.0 without comments (W3C
 * C14N) where it matters here:
 *
 * - a start tag is "<", its name, its namespace declarations sorted by
 *   prefix (the default first), then its attributes sorted by name as
 *   written (prefix and all), each as ' name="value"', then ">": single
 *   spaces, double quotes, and <a/> as <a></a>; an end tag is "</name>";
 * - a namespace declaration is left out where an enclosing element of the
 *   metadata already binds its prefix to the same URI (and xmlns="" where
 *   no default namespace is in scope);
 * - character data and attribute values are their text: character and
 *   entity references decoded, CDATA sections read as text, line ends as
 *   LF, blanks in attribute values as a parser reads them (each a space);
 *   then escaped one way: & < > and CR in text, " TAB and LF as well in
 *   attribute values, as harvest/oai.c escapes;
 * - comments, the XML declaration and blanks outside the element are
 *   dropped; processing instructions stay as they are written.
 *
 * Prefixes are kept, as C14N keeps them: the same metadata under other
 * prefixes is another form.  Anything this cannot read (a DOCTYPE, an
 * unknown entity, a tag cut short, nesting past SCOPE_MAX) makes the XML
 * hashed byte for byte instead, with another seed.
 *
 * The XML is read once.  What harvest/oai.c writes is its own canonical
 * form almost everywhere (it already decodes, escapes and quotes one
 * way), so runs of input go to the hash as they are and only what differs
 * (typically the root's start tag, with its declarations out of order) is
 * rewritten, into a small buffer.
 */
#include <endian.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "oh_limits.h"
#include "c14n.h"

/* Deeper than libxml2 lets a document nest (256, or 2048 with HUGE). */
#define SCOPE_MAX 4096

/* A rewritten tag; a longer one makes the XML hashed as it stands. */
#define OUT_MAX (8 * MAX_RECORD_BYTES)

/* Scratch grown past this for one record is given back. */
#define KEEP_BYTES (64 * 1024)

/* The seed of XML hashed as it stands is the seed with these bits flipped. */
#define RAW_SEED 0x6331346e2d726177ULL /* "c14n-raw" */

#define XXH_P1	       0x9e3779b185ebca87ULL
#define XXH_P2	       0xc2b2ae3d27d4eb4fULL
#define XXH_P3	       0x165667b19e3779f9ULL
#define XXH_P4	       0x85ebca77c2b2ae63ULL
#define XXH_P5	       0x27d4eb2f165667c5ULL
#define XXH_ROTL(x, r) (((x) << (r)) | ((x) >> (64 - (r))))

/* XXH64 fed piece by piece: the same result as over the pieces joined. */
struct xxh {
	uint64_t      v[4];
	uint64_t      seed;
	uint64_t      total;
	unsigned char mem[32];
	size_t	      memsize;
};

/* An attribute or namespace declaration of the tag being read. */
struct item {
	const char *name; /* as written */
	size_t	    nlen;
	const char *val; /* between the quotes, as written */
	size_t	    vlen;
	int	    decl; /* xmlns or xmlns:p */
};

/* A namespace binding in scope: offsets into nsbuf. */
struct nsbind {
	size_t prefix;
	size_t plen;
	size_t uri; /* escaped as in the output */
	size_t ulen;
};

/* What an element's end takes back. */
struct scope {
	size_t nns;
	size_t nslen;
};

struct store_c14n {
	struct xxh     h;
	const char    *span; /* where the input not yet hashed starts */
	struct item   *items;
	size_t	       nitems;
	size_t	       itemcap;
	struct buf     out; /* a rewritten tag */
	struct buf     nsbuf;
	struct nsbind *ns;
	size_t	       nns;
	size_t	       nscap;
	struct scope  *scopes;
	size_t	       depth;
	size_t	       scopecap;

	/*
	 * The last root's start tag as it came, what it became and the
	 * bindings it put in scope: a repository's records nearly all begin
	 * with the same one.
	 */
	struct buf     root_in;
	struct buf     root_out; /* empty: as it came */
	struct buf     root_nsbuf;
	struct nsbind *root_ns;
	size_t	       root_nns;
};

/* How a character is escaped: 1 in text and attributes, 2 in attributes. */
static const unsigned char esc_class[256] = {
	['&'] = 1,
	['<'] = 1,
	['>'] = 1,
	['\r'] = 1,
	['"'] = 2,
	['\t'] = 2,
	['\n'] = 2,
};

/* What ends a name in a tag. */
#define C_BLANK	 0x01
#define C_TAGEND 0x02 /* / > */
#define C_EQ	 0x04
static const unsigned char ch_class[256] = {
	[' '] = C_BLANK,
	['\t'] = C_BLANK,
	['\n'] = C_BLANK,
	['\r'] = C_BLANK,
	['/'] = C_TAGEND,
	['>'] = C_TAGEND,
	['='] = C_EQ,
};

/* XXH64 */
static uint64_t xxh_read64(const unsigned char *);
static uint64_t xxh_round(uint64_t, uint64_t);
static uint64_t xxh_merge(uint64_t, uint64_t);
static uint64_t xxh_finish(uint64_t, const unsigned char *, size_t);
static void	xxh_init(struct xxh *, uint64_t);
static void	xxh_update(struct xxh *, const void *, size_t);
static uint64_t xxh_digest(const struct xxh *);

/* The canonical form */
static int	   canon(struct store_c14n *, const char *, const char *);
static const char *start_tag(struct store_c14n *, const char *, const char *);
static const char *end_tag(struct store_c14n *, const char *, const char *);
static const char *bang(struct store_c14n *, const char *, const char *);
static const char *text_ref(struct store_c14n *, const char *, const char *);
static void	   cdata(struct store_c14n *, const char *, const char *);
static int	   attr_value(struct store_c14n *, const char *, size_t);
static int	   decl_out(struct store_c14n *, const struct item *);
static void	   root_keep(struct store_c14n *, const char *, size_t, int);
static const char *root_again(struct store_c14n *, const char *);
static const char *ref_decode(const char *, const char *, uint32_t *);
static size_t	   char_encode(uint32_t, int, char *);
static size_t	   text_run(const char *, size_t);
static int	   cmp_item(const void *, const void *);
static int	   scope_push(struct store_c14n *);
static void	   scope_pop(struct store_c14n *);
static void	   flush(struct store_c14n *, const char *);
static void	   replace(
	   struct store_c14n *, const char *, const char *, const char *, size_t);
static int  is_blank(char);
static void buf_keep(struct buf *);

/* XXH64 */

static uint64_t
xxh_read64(const unsigned char *p)
{
	uint64_t x;

	memcpy(&x, p, sizeof(x));
	return le64toh(x);
}

static uint64_t
xxh_round(uint64_t acc, uint64_t in)
{
	acc += in * XXH_P2;
	acc = XXH_ROTL(acc, 31);
	return acc * XXH_P1;
}

static uint64_t
xxh_merge(uint64_t h, uint64_t v)
{
	return (h ^ xxh_round(0, v)) * XXH_P1 + XXH_P4;
}

/* The last len (< 32) bytes into h, and the avalanche. */
static uint64_t
xxh_finish(uint64_t h, const unsigned char *p, size_t len)
{
	const unsigned char *end = p + len;
	uint32_t	     w;

	for (; end - p >= 8; p += 8) {
		h ^= xxh_round(0, xxh_read64(p));
		h = XXH_ROTL(h, 27) * XXH_P1 + XXH_P4;
	}
	if (end - p >= 4) {
		memcpy(&w, p, sizeof(w));
		h ^= (uint64_t)le32toh(w) * XXH_P1;
		h = XXH_ROTL(h, 23) * XXH_P2 + XXH_P3;
		p += 4;
	}
	for (; p < end; p++) {
		h ^= *p * XXH_P5;
		h = XXH_ROTL(h, 11) * XXH_P1;
	}
	h ^= h >> 33;
	h *= XXH_P2;
	h ^= h >> 29;
	h *= XXH_P3;
	h ^= h >> 32;
	return h;
}

uint64_t
store_xxh64(const void *in, size_t len, uint64_t seed)
{
	const unsigned char *p = in, *end = p + len;
	uint64_t	     v1, v2, v3, v4, h;

	if (len >= 32) {
		v1 = seed + XXH_P1 + XXH_P2;
		v2 = seed + XXH_P2;
		v3 = seed;
		v4 = seed - XXH_P1;
		do {
			v1 = xxh_round(v1, xxh_read64(p));
			v2 = xxh_round(v2, xxh_read64(p + 8));
			v3 = xxh_round(v3, xxh_read64(p + 16));
			v4 = xxh_round(v4, xxh_read64(p + 24));
			p += 32;
		} while (end - p >= 32);
		h = XXH_ROTL(v1, 1) + XXH_ROTL(v2, 7) + XXH_ROTL(v3, 12) +
		    XXH_ROTL(v4, 18);
		h = xxh_merge(h, v1);
		h = xxh_merge(h, v2);
		h = xxh_merge(h, v3);
		h = xxh_merge(h, v4);
	} else
		h = seed + XXH_P5;
	h += (uint64_t)len;
	return xxh_finish(h, p, (size_t)(end - p));
}

static void
xxh_init(struct xxh *x, uint64_t seed)
{
	x->seed = seed;
	x->v[0] = seed + XXH_P1 + XXH_P2;
	x->v[1] = seed + XXH_P2;
	x->v[2] = seed;
	x->v[3] = seed - XXH_P1;
	x->total = 0;
	x->memsize = 0;
}

static void
xxh_update(struct xxh *x, const void *in, size_t len)
{
	const unsigned char *p = in, *end = p + len;
	const unsigned char *s;
	size_t		     k;

	x->total += len;
	if (x->memsize + len < 32) {
		if (len > 0)
			memcpy(x->mem + x->memsize, p, len);
		x->memsize += len;
		return;
	}
	if (x->memsize > 0) {
		k = 32 - x->memsize;
		memcpy(x->mem + x->memsize, p, k);
		p += k;
		x->memsize = 0;
		s = x->mem;
		x->v[0] = xxh_round(x->v[0], xxh_read64(s));
		x->v[1] = xxh_round(x->v[1], xxh_read64(s + 8));
		x->v[2] = xxh_round(x->v[2], xxh_read64(s + 16));
		x->v[3] = xxh_round(x->v[3], xxh_read64(s + 24));
	}
	for (; end - p >= 32; p += 32) {
		x->v[0] = xxh_round(x->v[0], xxh_read64(p));
		x->v[1] = xxh_round(x->v[1], xxh_read64(p + 8));
		x->v[2] = xxh_round(x->v[2], xxh_read64(p + 16));
		x->v[3] = xxh_round(x->v[3], xxh_read64(p + 24));
	}
	if (p < end) {
		memcpy(x->mem, p, (size_t)(end - p));
		x->memsize = (size_t)(end - p);
	}
}

static uint64_t
xxh_digest(const struct xxh *x)
{
	uint64_t h;

	if (x->total >= 32) {
		h = XXH_ROTL(x->v[0], 1) + XXH_ROTL(x->v[1], 7) +
		    XXH_ROTL(x->v[2], 12) + XXH_ROTL(x->v[3], 18);
		h = xxh_merge(h, x->v[0]);
		h = xxh_merge(h, x->v[1]);
		h = xxh_merge(h, x->v[2]);
		h = xxh_merge(h, x->v[3]);
	} else
		h = x->seed + XXH_P5;
	h += x->total;
	return xxh_finish(h, x->mem, x->memsize);
}

/* The canonical form */

struct store_c14n *
store_c14n_new(void)
{
	struct store_c14n *c;

	c = xcalloc(1, sizeof(*c));
	buf_init(&c->out, OUT_MAX);
	buf_init(&c->nsbuf, OUT_MAX);
	buf_init(&c->root_in, KEEP_BYTES);
	buf_init(&c->root_out, KEEP_BYTES);
	buf_init(&c->root_nsbuf, KEEP_BYTES);
	return c;
}

void
store_c14n_free(struct store_c14n *c)
{
	if (c == NULL)
		return;
	buf_free(&c->out);
	buf_free(&c->nsbuf);
	buf_free(&c->root_in);
	buf_free(&c->root_out);
	buf_free(&c->root_nsbuf);
	free(c->root_ns);
	free(c->items);
	free(c->ns);
	free(c->scopes);
	free(c);
}

uint64_t
store_c14n_hash(
    struct store_c14n *c, const char *xml, size_t len, uint64_t seed)
{
	uint64_t h;

	xxh_init(&c->h, seed);
	c->nns = 0;
	c->depth = 0;
	buf_reset(&c->nsbuf);
	if (canon(c, xml, xml + len) == 0)
		h = xxh_digest(&c->h);
	else
		h = store_xxh64(xml, len, seed ^ RAW_SEED);
	buf_keep(&c->out);
	buf_keep(&c->nsbuf);
	if (c->itemcap > KEEP_BYTES / sizeof(*c->items)) {
		free(c->items);
		c->items = NULL;
		c->itemcap = 0;
	}
	return h;
}

/*
 * Read s to end, hashing its canonical form: 0, or -1 when it cannot be
 * read.
 */
static int
canon(struct store_c14n *c, const char *s, const char *end)
{
	const char *p = s, *q;
	size_t	    n;

	c->span = s;
	while (p < end) {
		if (*p == '<') {
			if (end - p < 2)
				return -1;
			if (p[1] == '/')
				p = end_tag(c, p, end);
			else if (p[1] == '!')
				p = bang(c, p, end);
			else if (p[1] == '?') {
				if ((q = memmem(p + 2, (size_t)(end - p - 2),
					 "?>", 2)) == NULL)
					return -1;
				/* The XML declaration goes, a PI stays. */
				if (c->depth == 0 && end - p > 5 &&
				    memcmp(p, "<?xml", 5) == 0 &&
				    is_blank(p[5]))
					replace(c, p, q + 2, NULL, 0);
				p = q + 2;
			} else
				p = start_tag(c, p, end);
			if (p == NULL)
				return -1;
			continue;
		}
		if (c->depth == 0) {
			/* Outside the element: blanks only, and dropped. */
			for (q = p; q < end && is_blank(*q); q++)
				;
			if (q < end && *q != '<')
				return -1;
			replace(c, p, q, NULL, 0);
			p = q;
			continue;
		}
		p += text_run(p, (size_t)(end - p));
		if (p == end)
			break;
		switch (*p) {
		case '<':
			break;
		case '&':
			if ((p = text_ref(c, p, end)) == NULL)
				return -1;
			break;
		case '>':
			replace(c, p, p + 1, "&gt;", 4);
			p++;
			break;
		default:
			/* CR LF and CR alone are LF. */
			n = end - p > 1 && p[1] == '\n' ? 2 : 1;
			replace(c, p, p + n, "\n", 1);
			p += n;
			break;
		}
	}
	flush(c, end);
	return 0;
}

/* A start tag at p: the position after it, or NULL. */
static const char *
start_tag(struct store_c14n *c, const char *p, const char *end)
{
	const char  *lt = p, *name, *an, *v;
	struct item *it, tmp;
	struct buf  *o = &c->out;
	size_t	     i, j, nlen, anlen;
	int	     empty = 0, err = 0, same;
	char	     q;

	if (c->depth == 0 && c->root_in.len > 0 &&
	    (size_t)(end - p) >= c->root_in.len &&
	    memcmp(p, c->root_in.data, c->root_in.len) == 0)
		return root_again(c, p);

	name = ++p;
	while (p < end &&
	    (ch_class[(unsigned char)*p] & (C_BLANK | C_TAGEND)) == 0)
		p++;
	if ((nlen = (size_t)(p - name)) == 0)
		return NULL;
	c->nitems = 0;
	for (;;) {
		while (p < end && is_blank(*p))
			p++;
		if (p == end)
			return NULL;
		if (*p == '>') {
			p++;
			break;
		}
		if (*p == '/') {
			if (end - p < 2 || p[1] != '>')
				return NULL;
			p += 2;
			empty = 1;
			break;
		}
		an = p;
		while (p < end && ch_class[(unsigned char)*p] == 0)
			p++;
		if ((anlen = (size_t)(p - an)) == 0)
			return NULL;
		while (p < end && is_blank(*p))
			p++;
		if (p == end || *p++ != '=')
			return NULL;
		while (p < end && is_blank(*p))
			p++;
		if (p == end || (*p != '"' && *p != '\''))
			return NULL;
		q = *p++;
		v = p;
		if ((p = memchr(p, q, (size_t)(end - p))) == NULL)
			return NULL;
		if (c->nitems == c->itemcap) {
			c->itemcap = c->itemcap == 0 ? 16 : 2 * c->itemcap;
			c->items = xreallocarray(
			    c->items, c->itemcap, sizeof(*c->items));
		}
		it = &c->items[c->nitems++];
		it->name = an;
		it->nlen = anlen;
		it->val = v;
		it->vlen = (size_t)(p - v);
		it->decl = (anlen == 5 || (anlen > 6 && an[5] == ':')) &&
		    memcmp(an, "xmlns", 5) == 0;
		p++;
	}
	if (scope_push(c) == -1)
		return NULL;
	/* <name>, as most are: canonical as it stands. */
	if (c->nitems == 0 && !empty && (size_t)(p - lt) == nlen + 2)
		return p;
	if (c->nitems > 8)
		qsort(c->items, c->nitems, sizeof(*c->items), cmp_item);
	else
		for (i = 1; i < c->nitems; i++)
			for (j = i; j > 0 &&
			     cmp_item(&c->items[j - 1], &c->items[j]) > 0;
			     j--) {
				tmp = c->items[j];
				c->items[j] = c->items[j - 1];
				c->items[j - 1] = tmp;
			}
	buf_reset(o);
	err |= buf_addch(o, '<');
	err |= buf_add(o, name, nlen);
	for (i = 0; i < c->nitems && !err; i++) {
		it = &c->items[i];
		if (it->decl) {
			err |= decl_out(c, it);
			continue;
		}
		err |= buf_addch(o, ' ');
		err |= buf_add(o, it->name, it->nlen);
		err |= buf_add(o, "=\"", 2);
		err |= attr_value(c, it->val, it->vlen);
		err |= buf_addch(o, '"');
	}
	err |= buf_addch(o, '>');
	if (empty) {
		err |= buf_add(o, "</", 2);
		err |= buf_add(o, name, nlen);
		err |= buf_addch(o, '>');
		scope_pop(c);
	}
	if (err)
		return NULL;
	same = o->len == (size_t)(p - lt) && memcmp(o->data, lt, o->len) == 0;
	if (!same)
		replace(c, lt, p, o->data, o->len);
	if (c->depth == 1 && !empty)
		root_keep(c, lt, (size_t)(p - lt), same);
	return p;
}

/* Remember a root's start tag (len bytes at lt) for root_again(). */
static void
root_keep(struct store_c14n *c, const char *lt, size_t len, int same)
{
	buf_reset(&c->root_in);
	buf_reset(&c->root_out);
	buf_reset(&c->root_nsbuf);
	if (buf_add(&c->root_in, lt, len) == -1 ||
	    (!same && buf_add(&c->root_out, c->out.data, c->out.len) == -1) ||
	    buf_add(&c->root_nsbuf, c->nsbuf.data, c->nsbuf.len) == -1) {
		buf_reset(&c->root_in);
		return;
	}
	c->root_ns = xreallocarray(
	    c->root_ns, c->nns > 0 ? c->nns : 1, sizeof(*c->root_ns));
	if (c->nns > 0)
		memcpy(c->root_ns, c->ns, c->nns * sizeof(*c->ns));
	c->root_nns = c->nns;
}

/* The root's start tag at p is the last one's again: as it was. */
static const char *
root_again(struct store_c14n *c, const char *p)
{
	if (c->root_out.len > 0)
		replace(c, p, p + c->root_in.len, c->root_out.data,
		    c->root_out.len);
	c->nns = 0;
	buf_reset(&c->nsbuf);
	(void)scope_push(c);
	(void)buf_add(&c->nsbuf, c->root_nsbuf.data, c->root_nsbuf.len);
	if (c->nscap < c->root_nns) {
		c->nscap = c->root_nns;
		c->ns = xreallocarray(c->ns, c->nscap, sizeof(*c->ns));
	}
	if (c->root_nns > 0)
		memcpy(c->ns, c->root_ns, c->root_nns * sizeof(*c->ns));
	c->nns = c->root_nns;
	return p + c->root_in.len;
}

/*
 * A namespace declaration into c->out, unless the same binding is in
 * scope already; else it is in scope from now on.
 */
static int
decl_out(struct store_c14n *c, const struct item *it)
{
	struct buf    *o = &c->out;
	struct nsbind *b;
	const char    *ns, *prefix = it->name + 5;
	size_t	       plen = it->nlen - 5, start, uri, ulen, i;
	int	       err = 0;

	if (plen > 0) {
		prefix++;
		plen--;
	}
	start = o->len;
	err |= buf_addch(o, ' ');
	err |= buf_add(o, it->name, it->nlen);
	err |= buf_add(o, "=\"", 2);
	uri = o->len;
	err |= attr_value(c, it->val, it->vlen);
	ulen = o->len - uri;
	err |= buf_addch(o, '"');
	if (err)
		return -1;

	ns = buf_str(&c->nsbuf);
	for (i = c->nns; i-- > 0;) {
		b = &c->ns[i];
		if (b->plen == plen &&
		    memcmp(ns + b->prefix, prefix, plen) == 0)
			break;
	}
	if ((i != (size_t)-1 && c->ns[i].ulen == ulen &&
		memcmp(ns + c->ns[i].uri, o->data + uri, ulen) == 0) ||
	    (i == (size_t)-1 && plen == 0 && ulen == 0)) {
		o->len = start;
		o->data[o->len] = '\0';
		return 0;
	}

	if (c->nns == c->nscap) {
		c->nscap = c->nscap == 0 ? 16 : 2 * c->nscap;
		c->ns = xreallocarray(c->ns, c->nscap, sizeof(*c->ns));
	}
	b = &c->ns[c->nns++];
	b->prefix = c->nsbuf.len;
	b->plen = plen;
	err |= buf_add(&c->nsbuf, prefix, plen);
	b->uri = c->nsbuf.len;
	b->ulen = ulen;
	err |= buf_add(&c->nsbuf, o->data + uri, ulen);
	return err ? -1 : 0;
}

/* An end tag at p: the position after it, or NULL. */
static const char *
end_tag(struct store_c14n *c, const char *p, const char *end)
{
	const char *name, *blanks;

	/* A name has no < & > CR: the first of them is its end. */
	name = p += 2;
	p += text_run(p, (size_t)(end - p));
	if (p == end || *p != '>' || c->depth == 0)
		return NULL;
	for (blanks = p; blanks > name && is_blank(blanks[-1]); blanks--)
		;
	if (blanks == name)
		return NULL;
	if (p > blanks)
		replace(c, blanks, p, NULL, 0);
	scope_pop(c);
	return p + 1;
}

/* A comment or a CDATA section at p (nothing else): after it, or NULL. */
static const char *
bang(struct store_c14n *c, const char *p, const char *end)
{
	const char *q;

	if (end - p >= 4 && memcmp(p, "<!--", 4) == 0) {
		if ((q = memmem(p + 4, (size_t)(end - p - 4), "-->", 3)) ==
		    NULL)
			return NULL;
		replace(c, p, q + 3, NULL, 0);
		return q + 3;
	}
	if (c->depth > 0 && end - p >= 9 && memcmp(p, "<![CDATA[", 9) == 0) {
		if ((q = memmem(p + 9, (size_t)(end - p - 9), "]]>", 3)) ==
		    NULL)
			return NULL;
		flush(c, p);
		cdata(c, p + 9, q);
		c->span = q + 3;
		return q + 3;
	}
	return NULL;
}

/* The text of a CDATA section, escaped as text. */
static void
cdata(struct store_c14n *c, const char *p, const char *end)
{
	const char *run = p;
	const char *rep;

	while (p < end) {
		p += text_run(p, (size_t)(end - p));
		if (p == end)
			break;
		xxh_update(&c->h, run, (size_t)(p - run));
		switch (*p) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		default:
			rep = "\n";
			if (end - p > 1 && p[1] == '\n')
				p++;
			break;
		}
		xxh_update(&c->h, rep, strlen(rep));
		run = ++p;
	}
	xxh_update(&c->h, run, (size_t)(end - run));
}

/* A reference in text at p: after it, or NULL. */
static const char *
text_ref(struct store_c14n *c, const char *p, const char *end)
{
	const char *q;
	char	    enc[8];
	size_t	    n;
	uint32_t    cp;

	/* The escapes harvest/oai.c writes are canonical. */
	if (end - p >= 4 && (p[1] == 'l' || p[1] == 'g') && p[2] == 't' &&
	    p[3] == ';')
		return p + 4;
	if (end - p >= 5 && memcmp(p, "&amp;", 5) == 0)
		return p + 5;
	if ((q = ref_decode(p, end, &cp)) == NULL)
		return NULL;
	n = char_encode(cp, 0, enc);
	if (n != (size_t)(q - p) || memcmp(enc, p, n) != 0)
		replace(c, p, q, enc, n);
	return q;
}

/* An attribute value (n bytes between its quotes) into c->out. */
static int
attr_value(struct store_c14n *c, const char *p, size_t n)
{
	const char *end = p + n, *run = p, *q;
	struct buf *o = &c->out;
	char	    enc[8];
	uint32_t    cp;
	int	    err = 0;

	while (p < end) {
		if (esc_class[(unsigned char)*p] == 0) {
			p++;
			continue;
		}
		err |= buf_add(o, run, (size_t)(p - run));
		switch (*p) {
		case '&':
			if ((q = ref_decode(p, end, &cp)) == NULL)
				return -1;
			err |= buf_add(o, enc, char_encode(cp, 1, enc));
			p = q;
			break;
		case '<':
			return -1;
		case '\r':
			if (end - p > 1 && p[1] == '\n')
				p++;
			/* FALLTHROUGH */
		case '\t':
		case '\n':
			/* Attribute-value normalization (XML 1.0 3.3.3). */
			err |= buf_addch(o, ' ');
			p++;
			break;
		default:
			err |= buf_add(
			    o, enc, char_encode((unsigned char)*p, 1, enc));
			p++;
			break;
		}
		run = p;
	}
	err |= buf_add(o, run, (size_t)(end - run));
	return err ? -1 : 0;
}

/*
 * A character or entity reference at p ('&'): its code point, and the
 * position after its ';'; NULL when it is none XML allows without a DTD.
 */
static const char *
ref_decode(const char *p, const char *end, uint32_t *cp)
{
	static const struct {
		const char *name;
		size_t	    len;
		uint32_t    cp;
	} named[] = {
		{ "amp;", 4, '&' },
		{ "lt;", 3, '<' },
		{ "gt;", 3, '>' },
		{ "quot;", 5, '"' },
		{ "apos;", 5, '\'' },
	};
	uint32_t v = 0;
	size_t	 i, ndigits = 0;
	int	 d, hex;

	p++;
	if (p == end)
		return NULL;
	if (*p != '#') {
		for (i = 0; i < nitems(named); i++) {
			if ((size_t)(end - p) >= named[i].len &&
			    memcmp(p, named[i].name, named[i].len) == 0) {
				*cp = named[i].cp;
				return p + named[i].len;
			}
		}
		return NULL;
	}
	p++;
	hex = p < end && *p == 'x';
	if (hex)
		p++;
	for (; p < end && *p != ';'; p++, ndigits++) {
		if (hex)
			d = hex_digit(*p);
		else
			d = *p >= '0' && *p <= '9' ? *p - '0' : -1;
		if (d < 0)
			return NULL;
		v = v * (hex ? 16 : 10) + (uint32_t)d;
		if (v > 0x10ffff)
			return NULL;
	}
	if (p == end || ndigits == 0)
		return NULL;
	/* XML 1.0 Char. */
	if (v < 0x20 ?
		v != 0x9 && v != 0xa && v != 0xd :
		(v >= 0xd800 && v <= 0xdfff) || v == 0xfffe || v == 0xffff)
		return NULL;
	*cp = v;
	return p + 1;
}

/*
 * Code point cp as the canonical form writes it, in text or in an
 * attribute value (attr), into out (8 bytes): its length.
 */
static size_t
char_encode(uint32_t cp, int attr, char *out)
{
	const char *rep = NULL;
	size_t	    n;

	if (cp < 0x80 && (esc_class[cp] & (attr ? 3 : 1)) != 0) {
		rep = xml_ref((unsigned char)cp);
		n = strlen(rep);
		memcpy(out, rep, n);
		return n;
	}
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/*
 * The length of the run of text at s without < & > or CR: most of the
 * metadata.  Thirty-two bytes at a time in the compiler's vectors (SSE2,
 * NEON; '<' | 2 is '>'), then byte by byte.
 */
typedef unsigned char v16u8 __attribute__((__vector_size__(16)));
typedef uint64_t      v2u64 __attribute__((__vector_size__(16)));

static inline v16u8
specials(v16u8 w)
{
	const v16u8 two = (v16u8){ 0 } + 2, gt = (v16u8){ 0 } + '>';
	const v16u8 amp = (v16u8){ 0 } + '&', cr = (v16u8){ 0 } + '\r';

	return (v16u8)(((w | two) == gt) | (w == amp) | (w == cr));
}

/* The first special byte of 16 whose mask is m, which has one. */
static inline size_t
first_special(v16u8 m)
{
	v2u64 q = (v2u64)m;

	/* Each lane's bytes in memory order from its low end. */
	if (q[0] != 0)
		return (size_t)__builtin_ctzll(le64toh(q[0])) / 8;
	return 8 + (size_t)__builtin_ctzll(le64toh(q[1])) / 8;
}

static size_t
text_run(const char *s, size_t n)
{
	v16u8  a, b, ma, mb;
	v2u64  q;
	size_t i = 0;

	for (; n - i >= 32; i += 32) {
		memcpy(&a, s + i, 16);
		memcpy(&b, s + i + 16, 16);
		ma = specials(a);
		mb = specials(b);
		q = (v2u64)(ma | mb);
		if ((q[0] | q[1]) == 0)
			continue;
		q = (v2u64)ma;
		if ((q[0] | q[1]) != 0)
			return i + first_special(ma);
		return i + 16 + first_special(mb);
	}
	for (; i < n; i++)
		if (esc_class[(unsigned char)s[i]] == 1)
			break;
	return i;
}

/*
 * Declarations first, then attributes; each by name as written (so the
 * default namespace, "xmlns", comes before "xmlns:a"); twins (not
 * well-formed) by value, so that the order never depends on the input's.
 */
static int
cmp_item(const void *a, const void *b)
{
	const struct item *x = a, *y = b;
	int		   r;

	if (x->decl != y->decl)
		return x->decl ? -1 : 1;
	if ((r = memcmp(
		 x->name, y->name, x->nlen < y->nlen ? x->nlen : y->nlen)) != 0)
		return r;
	if (x->nlen != y->nlen)
		return x->nlen < y->nlen ? -1 : 1;
	if ((r = memcmp(
		 x->val, y->val, x->vlen < y->vlen ? x->vlen : y->vlen)) != 0)
		return r;
	return x->vlen < y->vlen ? -1 : x->vlen > y->vlen;
}

static int
scope_push(struct store_c14n *c)
{
	if (c->depth == SCOPE_MAX)
		return -1;
	if (c->depth == c->scopecap) {
		c->scopecap = c->scopecap == 0 ? 32 : 2 * c->scopecap;
		c->scopes =
		    xreallocarray(c->scopes, c->scopecap, sizeof(*c->scopes));
	}
	c->scopes[c->depth].nns = c->nns;
	c->scopes[c->depth].nslen = c->nsbuf.len;
	c->depth++;
	return 0;
}

static void
scope_pop(struct store_c14n *c)
{
	c->depth--;
	c->nns = c->scopes[c->depth].nns;
	c->nsbuf.len = c->scopes[c->depth].nslen;
}

/* Hash the input up to p as it stands. */
static void
flush(struct store_c14n *c, const char *p)
{
	if (p > c->span)
		xxh_update(&c->h, c->span, (size_t)(p - c->span));
	c->span = p;
}

/* The input from p to q is hashed as the n bytes at rep instead. */
static void
replace(struct store_c14n *c, const char *p, const char *q, const char *rep,
    size_t n)
{
	flush(c, p);
	if (n > 0)
		xxh_update(&c->h, rep, n);
	c->span = q;
}

static int
is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/* Give back what one huge record made a buffer grow to. */
static void
buf_keep(struct buf *b)
{
	if (b->cap > KEEP_BYTES) {
		free(b->data);
		b->data = NULL;
		b->len = b->cap = 0;
	} else
		buf_reset(b);
}
