/*
 * The input filter of the OAI-PMH parser: before libxml2 sees a byte, what
 * real servers get wrong is repaired here (see oai_filter()), the same way
 * whatever the chunking, and counted in the parser's repairs.  Also the
 * count of attributes in a start tag libxml2 holds back (oai_tag_check()).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/SAX2.h>

#include "oai_int.h"

/*
 * A start tag shorter than this cannot hold more than MAX_ATTRIBUTES
 * attributes (each takes at least five bytes, ' a=""'): not counted.
 */
#define TAG_CHECK_MIN (5 * MAX_ATTRIBUTES)

/* U+FFFD, as UTF-8 and as a reference. */
#define REPL_UTF8 "\xef\xbf\xbd"
#define REPL_REF  "&#xFFFD;"

/* What one more byte did to the construct in progress. */
enum fstep {
	STEP_MORE,	 /* taken; it goes on */
	STEP_KEEP,	 /* taken; done, it passes as sent */
	STEP_PASS,	 /* not taken; done, it passes as sent */
	STEP_FIX,	 /* taken; done, it is replaced */
	STEP_FIX_BEFORE, /* not taken; what came before is replaced */
};

/*
 * Bytes the filter must look at: C0 controls (but TAB, LF, CR) and '&'
 * in every ASCII-compatible encoding, and 0x80 and up in UTF-8.
 */
#define BC_CTL	1
#define BC_HIGH 2
static const unsigned char byte_class[256] = {
	1,
	1,
	1,
	1,
	1,
	1,
	1,
	1,
	1,
	0,
	0,
	1,
	1,
	0,
	1,
	1,
	1,
	1,
	1,
	1,
	1,
	1,
	1,
	1,
	1,
	1,
	1,
	1,
	1,
	1,
	1,
	1,
	0,
	0,
	0,
	0,
	0,
	0,
	1,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
	2,
};

/*
 * How documents in encodings that are not ASCII-compatible begin (XML 1.0
 * appendix F): those are passed to libxml2 untouched.
 */
static const struct {
	const char *bytes;
	size_t	    len;
} raw_heads[] = {
	{ "\xfe\xff", 2 },	   /* UTF-16BE BOM */
	{ "\xff\xfe", 2 },	   /* UTF-16LE BOM */
	{ "\0\0\0<", 4 },	   /* UCS-4BE */
	{ "<\0\0\0", 4 },	   /* UCS-4LE */
	{ "\0<\0?", 4 },	   /* UTF-16BE, no BOM */
	{ "<\0?\0", 4 },	   /* UTF-16LE, no BOM */
	{ "\x4c\x6f\xa7\x94", 4 }, /* EBCDIC */
};

/*
 * 16 bytes at a time (GCC and Clang vector extensions: SSE2 on amd64, NEON
 * on arm64).  A comparison gives each lane 0 or -1.
 */
typedef unsigned char v16u8 __attribute__((vector_size(16)));
typedef uint64_t      v2u64 __attribute__((vector_size(16)));

static inline int    v16_any(v16u8);
static enum in_mode  sniff(const unsigned char *, size_t, int);
static size_t	     plain_run(const unsigned char *, size_t, unsigned int);
static enum fstep    fstep(struct oai_parser *, unsigned char);
static inline size_t utf8_valid(const unsigned char *, size_t);
static int	     utf8_lead(struct oai_parser *, unsigned char);
static int	     char_allowed(unsigned long);
static int	     emit(struct oai_parser *, const void *, size_t);

/*
 * Decide the encoding once the head allows it (or must: final, or the head
 * is full), then send the head through the filter.  A gzip body that nobody
 * inflated is not XML: say so.
 */
int
oai_filter_head(struct oai_parser *p, int final)
{
	if (p->nhead >= 2 && p->head[0] == 0x1f && p->head[1] == 0x8b) {
		oai_set_cause(p, "gzip-compressed data, not XML");
		return -1;
	}
	p->mode = sniff(p->head, p->nhead, final || p->nhead == DECL_MAX);
	switch (p->mode) {
	case IN_HEAD:
		return 0;
	case IN_RAW:
		return emit(p, p->head, p->nhead);
	default:
		return oai_filter(p, p->head, p->nhead);
	}
}

/*
 * The encoding from the first n bytes, or IN_HEAD when more are needed
 * (never when final).  No declaration means UTF-8 (XML 1.0 4.3.3); so does
 * a declaration without an encoding, or a broken one (libxml2 will say
 * what is wrong with it).
 */
static enum in_mode
sniff(const unsigned char *h, size_t n, int final)
{
	const unsigned char *d, *e, *end;
	size_t		     i, m, off = 0;
	unsigned char	     q;

	/* Enough to tell gzip's magic number. */
	if (n < 2 && !final && (n == 0 || h[0] == 0x1f))
		return IN_HEAD;
	for (i = 0; i < nitems(raw_heads); i++) {
		m = n < raw_heads[i].len ? n : raw_heads[i].len;
		if (memcmp(h, raw_heads[i].bytes, m) != 0)
			continue;
		if (m == raw_heads[i].len)
			return IN_RAW;
		if (!final)
			return IN_HEAD;
	}
	m = n < 3 ? n : 3;
	if (memcmp(h, "\xef\xbb\xbf", m) == 0) {
		if (m < 3)
			return final ? IN_UTF8 : IN_HEAD;
		off = 3;
	}
	m = n - off < 6 ? n - off : 6;
	if (memcmp(h + off, "<?xml ", m) != 0 &&
	    (m < 6 || memcmp(h + off, "<?xml", 5) != 0 ||
		(h[off + 5] != '\t' && h[off + 5] != '\n' &&
		    h[off + 5] != '\r')))
		return IN_UTF8;
	if (m < 6)
		return final ? IN_UTF8 : IN_HEAD;
	if ((end = memmem(h + off, n - off, "?>", 2)) == NULL) {
		if (!final)
			return IN_HEAD;
		end = h + n;
	}
	if ((d = memmem(h + off, (size_t)(end - h) - off, "encoding", 8)) ==
	    NULL)
		return IN_UTF8;
	for (d += 8;
	     d < end && (*d == ' ' || *d == '\t' || *d == '\n' || *d == '\r');
	     d++)
		;
	if (d == end || *d++ != '=')
		return IN_UTF8;
	for (; d < end && (*d == ' ' || *d == '\t' || *d == '\n' || *d == '\r');
	     d++)
		;
	if (d == end || (*d != '"' && *d != '\''))
		return IN_UTF8;
	q = *d++;
	if ((e = memchr(d, q, (size_t)(end - d))) == NULL)
		return IN_UTF8;
	if ((e - d == 5 && strncasecmp((const char *)d, "UTF-8", 5) == 0) ||
	    (e - d == 4 && strncasecmp((const char *)d, "UTF8", 4) == 0))
		return IN_UTF8;
	return IN_OTHER;
}

/*
 * Repair what real servers send and libxml2 would lose the page over:
 *
 * - C0 control bytes (but TAB, LF, CR) are dropped.  They never occur
 *   inside a multibyte sequence of an ASCII-compatible encoding.
 * - In UTF-8, each maximal ill-formed subsequence (Unicode 3.9: a bad
 *   lead byte, a lead without enough continuation bytes, overlongs,
 *   surrogates, beyond U+10FFFF) and U+FFFE and U+FFFF become U+FFFD.
 * - Character references to characters XML forbids become &#xFFFD;.
 *   XXX They are rewritten anywhere, comments and CDATA included, where
 *   "&#" is rare and harmless to change.
 *
 * Runs of plain bytes are passed to libxml2 as they are, straight from the
 * caller's buffer.  A reference or a multibyte sequence cut by the end of
 * a feed is held in pend[] until the next: the result does not depend on
 * the chunking.
 */
int
oai_filter(struct oai_parser *p, const unsigned char *s, size_t len)
{
	const unsigned int mask =
	    p->mode == IN_UTF8 ? BC_CTL | BC_HIGH : BC_CTL;
	size_t	      i = 0, start = 0, cstart = 0, n;
	unsigned char c;

	while (i < len) {
		if (p->fstate != FS_TEXT) {
			switch (fstep(p, s[i])) {
			case STEP_MORE:
				i++;
				continue;
			case STEP_KEEP:
				i++;
				/* FALLTHROUGH */
			case STEP_PASS:
				if (emit(p, p->pend, p->npend) == -1)
					return -1;
				break;
			case STEP_FIX:
				i++;
				/* FALLTHROUGH */
			case STEP_FIX_BEFORE:
				p->repairs++;
				if (emit(p, s + start, cstart - start) == -1 ||
				    emit(p, p->fix, p->fixlen) == -1)
					return -1;
				start = i;
				break;
			}
			p->npend = 0;
			p->fstate = FS_TEXT;
			continue;
		}
		if ((i += plain_run(s + i, len - i, mask)) == len)
			break;
		c = s[i];
		if (c == '&') {
			p->fstate = FS_AMP;
			p->clen = 1;
			cstart = i++;
			continue;
		}
		if (c < 0x20) {
			p->repairs++;
			if (emit(p, s + start, i - start) == -1)
				return -1;
			start = ++i;
			continue;
		}
		/*
		 * UTF-8 that plain_run() did not pass: bad, or cut by the
		 * end of the feed.  Byte by byte.
		 */
		if (utf8_lead(p, c)) {
			p->fstate = FS_UTF8;
			p->clen = 1;
			cstart = i++;
			continue;
		}
		p->repairs++;
		if (emit(p, s + start, i - start) == -1 ||
		    emit(p, REPL_UTF8, 3) == -1)
			return -1;
		start = ++i;
	}
	if (p->fstate == FS_TEXT)
		return emit(p, s + start, len - start);
	/* A construct goes on in the next feed: hold its bytes. */
	if (emit(p, s + start, cstart - start) == -1)
		return -1;
	n = len - cstart;
	if (n > sizeof(p->pend) - p->npend)
		fatalx("%s: construct of %zu bytes", __func__, p->npend + n);
	memcpy(p->pend + p->npend, s + cstart, n);
	p->npend += n;
	return 0;
}

/*
 * The length of the run of bytes at s that need nothing done: most of a
 * document.  Sixteen bytes at a time while there is no byte below 0x20 and
 * no '&' and, in UTF-8, every byte with the high bit set belongs to a
 * well-formed two-byte character (Cyrillic, Greek, most accented Latin)
 * within the sixteen; else byte by byte through the table, where a
 * well-formed multibyte character (utf8_valid()) is plain too.
 */
static size_t
plain_run(const unsigned char *s, size_t len, unsigned int mask)
{
	const int     utf8 = (mask & BC_HIGH) != 0;
	v16u8	      x, y, hi, lead, cont;
	size_t	      i = 0, end, n;
	unsigned char c;

	while (i < len) {
		if (len - i >= 16) {
			memcpy(&x, s + i, sizeof(x));
			if (v16_any((v16u8)(((x < 0x20) & (x != '\n') &
						(x != '\t') & (x != '\r')) |
				(x == '&'))))
				goto bytes;
			if (!utf8) {
				i += 16;
				continue;
			}
			hi = (v16u8)(x >= 0x80);
			if (!v16_any(hi)) {
				i += 16;
				continue;
			}
			/*
			 * i is where a character starts, so s[i - 1] ends
			 * one: a lead byte (C2-DF) before each continuation
			 * byte and after each lead but a last one, which
			 * starts the next sixteen.
			 */
			if (i == 0)
				goto bytes;
			memcpy(&y, s + i - 1, sizeof(y));
			lead = (v16u8)((x >= 0xc2) & (x <= 0xdf));
			cont = (v16u8)((x & 0xc0) == 0x80);
			if (!v16_any(
				(v16u8)((y >= 0xc2) & (y <= 0xdf)) ^ cont) &&
			    !v16_any(hi ^ (lead | cont))) {
				i += lead[15] ? 15 : 16;
				continue;
			}
		}
bytes:
		end = len - i < 16 ? len : i + 16;
		while (i < end) {
			c = s[i];
			if ((byte_class[c] & mask) == 0) {
				i++;
				continue;
			}
			if (c < 0x80)
				return i;
			if (c >= 0xc2 && c <= 0xdf && len - i >= 2 &&
			    (s[i + 1] & 0xc0) == 0x80) {
				i += 2;
				continue;
			}
			if ((n = utf8_valid(s + i, len - i)) == 0)
				return i;
			i += n;
		}
	}
	return len;
}

static inline int
v16_any(v16u8 m)
{
	v2u64 w;

	memcpy(&w, &m, sizeof(w));
	return (w[0] | w[1]) != 0;
}

/* One more byte of a reference or of a UTF-8 sequence. */
static enum fstep
fstep(struct oai_parser *p, unsigned char c)
{
	unsigned int d;

	switch (p->fstate) {
	case FS_AMP:
		if (c != '#')
			return STEP_PASS;
		p->fstate = FS_HASH;
		break;
	case FS_HASH:
		p->cval = 0;
		p->ndigits = 0;
		if (c == 'x')
			p->fstate = FS_HEX;
		else if (c >= '0' && c <= '9') {
			p->fstate = FS_DEC;
			p->cval = c - '0';
			p->ndigits = 1;
		} else
			return STEP_PASS;
		break;
	case FS_DEC:
	case FS_HEX:
		if (c == ';') {
			if (p->ndigits == 0 || char_allowed(p->cval))
				return p->ndigits == 0 ? STEP_PASS : STEP_KEEP;
			p->fix = REPL_REF;
			p->fixlen = sizeof(REPL_REF) - 1;
			return STEP_FIX;
		}
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (p->fstate == FS_HEX && c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (p->fstate == FS_HEX && c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return STEP_PASS;
		if (p->clen + 1 >= CHARREF_MAX)
			return STEP_PASS;
		/* Anything past U+10FFFF is as bad as U+110000. */
		p->cval = p->cval * (p->fstate == FS_HEX ? 16 : 10) + d;
		if (p->cval > 0x110000)
			p->cval = 0x110000;
		p->ndigits++;
		break;
	case FS_UTF8:
		p->fix = REPL_UTF8;
		p->fixlen = 3;
		if (c < p->u_lo || c > p->u_hi)
			return STEP_FIX_BEFORE;
		if (p->clen == 1)
			p->u_second = c;
		p->u_lo = 0x80;
		p->u_hi = 0xbf;
		p->clen++;
		if (--p->u_need > 0)
			return STEP_MORE;
		/* U+FFFE and U+FFFF: EF BF BE, EF BF BF. */
		if (p->u_lead == 0xef && p->u_second == 0xbf && c >= 0xbe)
			return STEP_FIX;
		return STEP_KEEP;
	default:
		fatalx("%s: state %d", __func__, p->fstate);
	}
	p->clen++;
	return STEP_MORE;
}

/*
 * The length of the well-formed UTF-8 sequence at s, all of it within n
 * bytes and neither U+FFFE nor U+FFFF; 0 otherwise (Unicode table 3-7).
 */
static inline size_t
utf8_valid(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];

	if (c >= 0xc2 && c <= 0xdf)
		return n >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) ||
		    (c == 0xef && s[1] == 0xbf && s[2] >= 0xbe))
			return 0;
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (s[3] & 0xc0) != 0x80 || (c == 0xf0 && s[1] < 0x90) ||
		    (c == 0xf4 && s[1] > 0x8f))
			return 0;
		return 4;
	}
	return 0;
}

/* Start a sequence at a lead byte; 0 when c cannot start one. */
static int
utf8_lead(struct oai_parser *p, unsigned char c)
{
	p->u_lead = c;
	p->u_lo = 0x80;
	p->u_hi = 0xbf;
	if (c >= 0xc2 && c <= 0xdf)
		p->u_need = 1;
	else if (c >= 0xe0 && c <= 0xef) {
		p->u_need = 2;
		if (c == 0xe0)
			p->u_lo = 0xa0;
		else if (c == 0xed)
			p->u_hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		p->u_need = 3;
		if (c == 0xf0)
			p->u_lo = 0x90;
		else if (c == 0xf4)
			p->u_hi = 0x8f;
	} else
		return 0;
	return 1;
}

/* XML 1.0 Char: TAB, LF, CR, 20-D7FF, E000-FFFD, 10000-10FFFF. */
static int
char_allowed(unsigned long c)
{
	if (c < 0x20)
		return c == 0x9 || c == 0xa || c == 0xd;
	return (c < 0xd800 || c > 0xdfff) && c != 0xfffe && c != 0xffff &&
	    c <= 0x10ffff;
}

static int
emit(struct oai_parser *p, const void *s, size_t n)
{
	return n == 0 ? 0 : oai_feed_xml(p, s, n);
}

/*
 * End of input: what the filter still holds (the head, a construct) goes
 * to libxml2.
 */
int
oai_filter_finish(struct oai_parser *p)
{
	if (p->mode == IN_HEAD && oai_filter_head(p, 1) == -1)
		return -1;
	if (p->fstate == FS_UTF8) {
		/* A sequence cut short by the end of the document. */
		p->repairs++;
		if (emit(p, REPL_UTF8, 3) == -1)
			return -1;
	} else if (p->fstate != FS_TEXT && emit(p, p->pend, p->npend) == -1)
		return -1;
	p->fstate = FS_TEXT;
	p->npend = 0;
	return 0;
}

/*
 * Attribute and namespace bombs.  libxml2 2.9 parses a start tag only once
 * its '>' has arrived, and then checks every attribute (and namespace
 * declaration) against all the others before any callback sees the tag:
 * 200,000 attributes take 10 s, 400,000 take 40.  So the start tag it
 * holds back between two feeds is counted here, in its own input buffer
 * (UTF-8 whatever the document's encoding), and the page fails as soon as
 * it has more than MAX_ATTRIBUTES; what one slice adds before the '>' is
 * bounded by FEED_SLICE, and sax_start() checks the total.  Each byte of a
 * tag is looked at once, however many feeds it takes to arrive: where the
 * tag starts in the document (input->consumed plus its offset) says
 * whether it is the one counted so far.  Normal pages hold back a few
 * bytes and cost nothing here.
 */
void
oai_tag_check(struct oai_parser *p)
{
	xmlParserInputPtr in = p->ctxt->input;
	const xmlChar	 *s, *end;
	unsigned long	  pos;
	size_t		  n;

	if (in == NULL || in->cur == NULL || in->end == NULL ||
	    (size_t)(in->end - in->cur) < TAG_CHECK_MIN || in->cur[0] != '<' ||
	    in->cur[1] == '/' || in->cur[1] == '!' || in->cur[1] == '?')
		return;
	pos = in->consumed + (unsigned long)(in->cur - in->base) + 1;
	if (pos != p->tag_pos) {
		p->tag_pos = pos;
		p->tag_scanned = 1;
		p->tag_nattrs = 0;
		p->tag_quote = 0;
	}
	n = p->tag_nattrs;
	end = in->end;
	for (s = in->cur + p->tag_scanned; s < end; s++) {
		if (p->tag_quote != 0) {
			if ((s = memchr(s, p->tag_quote, (size_t)(end - s))) ==
			    NULL)
				break;
			p->tag_quote = 0;
		} else if (*s == '"' || *s == '\'')
			p->tag_quote = *s;
		else if (*s == '=')
			n++;
		else if (*s == '>')
			break;
	}
	p->tag_scanned = (size_t)((s == NULL || s > end ? end : s) - in->cur);
	p->tag_nattrs = n;
	if (n > MAX_ATTRIBUTES)
		oai_set_cause(p,
		    "line %d: an element with more than "
		    "MAX_ATTRIBUTES (%d) attributes and namespace "
		    "declarations",
		    xmlSAX2GetLineNumber(p->ctxt), MAX_ATTRIBUTES);
}
