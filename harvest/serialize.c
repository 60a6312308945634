/*
 * The serializer of the OAI-PMH parser: the element child of <metadata>
 * (and, for on_reject, the whole record) is written back out as it streams
 * by, verbatim, with every namespace in scope declared on its root so that
 * it stands alone.  Writes go to a sink, a capped buffer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "oai_int.h"

/*
 * 16 bytes at a time (GCC and Clang vector extensions: SSE2 on amd64, NEON
 * on arm64).  A comparison gives each lane 0 or -1.
 */
typedef unsigned char v16u8 __attribute__((vector_size(16)));
typedef uint64_t      v2u64 __attribute__((vector_size(16)));

static inline int  v16_any(v16u8);
static int	   same_prefix(const xmlChar *, const xmlChar *);
static inline void out(
    struct oai_parser *, struct sink *, const void *, size_t);
static void out_slow(struct oai_parser *, struct sink *, const void *, size_t);
static void out_qname(
    struct oai_parser *, struct sink *, const xmlChar *, const xmlChar *);
static void out_xmlns(
    struct oai_parser *, struct sink *, const xmlChar *, const xmlChar *);

static inline int
v16_any(v16u8 m)
{
	v2u64 w;

	memcpy(&w, &m, sizeof(w));
	return (w[0] | w[1]) != 0;
}

/* Prefixes are interned in libxml2's dict; compare them anyway. */
static int
same_prefix(const xmlChar *a, const xmlChar *b)
{
	if (a == b)
		return 1;
	return a != NULL && b != NULL &&
	    strcmp((const char *)a, (const char *)b) == 0;
}

/*
 * An element, verbatim.  A root (of the metadata child, or of a record for
 * on_reject) gets, after its own declarations, every other binding in scope
 * (innermost first, each prefix once), those used only inside attribute
 * values (xsi:type="dcterms:W3CDTF") included, so that the result parses
 * alone with the same meaning.
 */
void
oai_ser_start(struct oai_parser *p, struct sink *k, const xmlChar *name,
    const xmlChar *prefix, int nns, const xmlChar **ns, int nattrs,
    const xmlChar **attrs, int root)
{
	size_t i, j, nseen;

	oai_ser_close_tag(p, k);
	out(p, k, "<", 1);
	out_qname(p, k, prefix, name);
	for (i = 0; i < (size_t)nns; i++)
		out_xmlns(p, k, ns[2 * i], ns[2 * i + 1]);
	if (root) {
		if (p->seencap < p->nns) {
			p->seencap = p->nscap;
			p->seen = xreallocarray(
			    p->seen, p->seencap, sizeof(*p->seen));
		}
		nseen = 0;
		for (i = 0; i < (size_t)nns; i++)
			p->seen[nseen++] = ns[2 * i];
		for (i = p->nsmark[p->depth]; i-- > 0;) {
			for (j = 0; j < nseen; j++)
				if (same_prefix(p->seen[j], p->ns[i].prefix))
					break;
			if (j < nseen)
				continue;
			p->seen[nseen++] = p->ns[i].prefix;
			/* xmlns="" in scope: there is no default to carry. */
			if (p->ns[i].prefix == NULL && *p->ns[i].uri == '\0')
				continue;
			out_xmlns(p, k, p->ns[i].prefix, p->ns[i].uri);
		}
	}
	for (i = 0; i < (size_t)nattrs; i++) {
		out(p, k, " ", 1);
		out_qname(p, k, attrs[5 * i + 1], attrs[5 * i]);
		out(p, k, "=\"", 2);
		oai_ser_escape(p, k, (const char *)attrs[5 * i + 3],
		    (size_t)(attrs[5 * i + 4] - attrs[5 * i + 3]), 1);
		out(p, k, "\"", 1);
	}
	k->tag_open = 1;
}

void
oai_ser_end(struct oai_parser *p, struct sink *k, const xmlChar *name,
    const xmlChar *prefix)
{
	if (k->tag_open) {
		k->tag_open = 0;
		out(p, k, "/>", 2);
		return;
	}
	out(p, k, "</", 2);
	out_qname(p, k, prefix, name);
	out(p, k, ">", 1);
}

void
oai_ser_comment(struct oai_parser *p, struct sink *k, const xmlChar *value)
{
	oai_ser_close_tag(p, k);
	out(p, k, "<!--", 4);
	out(p, k, value, strlen((const char *)value));
	out(p, k, "-->", 3);
}

void
oai_ser_pi(struct oai_parser *p, struct sink *k, const xmlChar *target,
    const xmlChar *data)
{
	oai_ser_close_tag(p, k);
	out(p, k, "<?", 2);
	out(p, k, target, strlen((const char *)target));
	if (data != NULL && *data != '\0') {
		out(p, k, " ", 1);
		out(p, k, data, strlen((const char *)data));
	}
	out(p, k, "?>", 2);
}

/*
 * Append to a sink.  What does not fit is dropped and the sink marked full:
 * the metadata over MAX_RECORD_BYTES makes its record bad; raw is only ever
 * cut.  The metadata of a record already bad is not kept past what
 * on_reject can show.
 */
static inline void
out(struct oai_parser *p, struct sink *k, const void *s, size_t n)
{
	struct buf *b = &k->b;

	/* Where it fits as it is, which is nearly always. */
	if (n < b->cap - b->len && n <= b->max - b->len && !k->full &&
	    !(p->rec_bad && k == &p->meta)) {
		memcpy(b->data + b->len, s, n);
		b->len += n;
		b->data[b->len] = '\0';
		return;
	}
	out_slow(p, k, s, n);
}

static void
out_slow(struct oai_parser *p, struct sink *k, const void *s, size_t n)
{
	size_t max = k->b.max, room;

	if (k->full)
		return;
	if (k == &p->meta && p->rec_bad && max > OAI_REJECT_MAX)
		max = OAI_REJECT_MAX;
	room = k->b.len < max ? max - k->b.len : 0;
	if (n <= room) {
		(void)buf_add(&k->b, s, n);
		return;
	}
	/*
	 * Up to the byte, so that what is kept does not depend on how
	 * libxml2 happened to cut the text.
	 */
	(void)buf_add(&k->b, s, room);
	k->full = 1;
	if (k == &p->meta)
		oai_bad(p, "line %d: record over MAX_RECORD_BYTES (%zu)",
		    p->unit_line, (size_t)MAX_RECORD_BYTES);
}

static void
out_qname(struct oai_parser *p, struct sink *k, const xmlChar *prefix,
    const xmlChar *name)
{
	if (prefix != NULL) {
		out(p, k, prefix, strlen((const char *)prefix));
		out(p, k, ":", 1);
	}
	out(p, k, name, strlen((const char *)name));
}

static void
out_xmlns(struct oai_parser *p, struct sink *k, const xmlChar *prefix,
    const xmlChar *uri)
{
	out(p, k, " xmlns", 6);
	if (prefix != NULL) {
		out(p, k, ":", 1);
		out(p, k, prefix, strlen((const char *)prefix));
	}
	out(p, k, "=\"", 2);
	oai_ser_escape(p, k, (const char *)uri, strlen((const char *)uri), 1);
	out(p, k, "\"", 1);
}

void
oai_ser_close_tag(struct oai_parser *p, struct sink *k)
{
	if (!k->tag_open)
		return;
	k->tag_open = 0;
	out(p, k, ">", 1);
}

/*
 * Escape text or an attribute value.  CR is escaped everywhere and TAB and
 * LF in attributes, or a parser would normalise them away.
 *
 * Without entity substitution libxml2 hands out every '&' of an attribute
 * value as "&#38;" (for its tree builder to decode later): that is one
 * '&'.
 */
void
oai_ser_escape(
    struct oai_parser *p, struct sink *k, const char *s, size_t n, int attr)
{
	/* 1: escaped everywhere; 2: in attributes only. */
	static const unsigned char special[256] = {
		['&'] = 1,
		['<'] = 1,
		['>'] = 1,
		['\r'] = 1,
		['"'] = 2,
		['\t'] = 2,
		['\n'] = 2,
	};
	const unsigned char *u = (const unsigned char *)s;
	const unsigned char *end = u + n, *run = u, *stop;
	const unsigned int   mask = attr ? 3 : 1;
	const char	    *rep;
	v16u8		     x, m;

	while (u < end) {
		/* Sixteen bytes at a time, most of them with nothing to do. */
		stop = end;
		if (end - u >= 16) {
			memcpy(&x, u, sizeof(x));
			m = (v16u8)((x == '&') | (x == '<') | (x == '>') |
			    (x == '\r'));
			if (attr)
				m |= (v16u8)((x == '"') | (x == '\t') |
				    (x == '\n'));
			if (!v16_any(m)) {
				u += 16;
				continue;
			}
			stop = u + 16;
		}
		while (u < stop && (special[*u] & mask) == 0)
			u++;
		if (u == stop)
			continue;
		out(p, k, run, (size_t)(u - run));
		rep = xml_ref(*u);
		if (attr && *u == '&' && end - u >= 5 &&
		    memcmp(u, "&#38;", 5) == 0) {
			out(p, k, rep, 5);
			u += 5;
		} else {
			out(p, k, rep, strlen(rep));
			u++;
		}
		run = u;
	}
	out(p, k, run, (size_t)(end - run));
}

void
oai_sink_reset(struct sink *k)
{
	buf_reset(&k->b);
	oai_buf_trim_capacity(&k->b);
	k->full = k->tag_open = 0;
}
