/*
 * The input filter of the OAI-PMH parser: before libxml2 sees a byte, what
 * real servers get wrong is repaired here (see oai_filter()), the same way
 * whatever the chunking, and counted in the parser's repairs.  Also the
 * count of attributes in a start tag libxml2 holds back (oai_tag_check()).
 */
#include <endian.h>
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

static inline int	   v16_any(v16u8);
static inline unsigned int v16_first(v16u8);
static enum in_mode	   sniff(const unsigned char *, size_t, int);
static size_t	     plain_run(const unsigned char *, size_t, unsigned int);
static enum fstep    fstep(struct oai_parser *, unsigned char);
static inline size_t utf8_valid(const unsigned char *, size_t);
static int	     utf8_lead(struct oai_parser *, unsigned char);
static int	     char_allowed(unsigned long);
static int	     emit(struct oai_parser *, const void *, size_t);
static int	     filter(struct oai_parser *, const unsigned char *, size_t);
static int lex_emit(struct oai_parser *, const unsigned char *, size_t);
static int lex_window(struct oai_parser *, const unsigned char *, size_t);
static int lex_out(struct oai_parser *, const void *, size_t);
static const unsigned char *tag_scan(
    const unsigned char *, const unsigned char *);
static int		    lex_flush(struct oai_parser *);
static const unsigned char *seg_scan(
    const unsigned char *, const unsigned char *, int *);
static int stash_push(struct oai_parser *, const void *, size_t);

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
	if (filter(p, s, len) == -1)
		return -1;
	return lex_flush(p);
}

static int
filter(struct oai_parser *p, const unsigned char *s, size_t len)
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

/* The first lane of m that is set, m having one. */
static inline unsigned int
v16_first(v16u8 m)
{
	v2u64 w;

	/* Each lane's bytes in memory order from its low end. */
	memcpy(&w, &m, sizeof(w));
	if (w[0] != 0)
		return (unsigned int)__builtin_ctzll(le64toh(w[0])) / 8;
	return 8 + (unsigned int)__builtin_ctzll(le64toh(w[1])) / 8;
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
	if (n == 0)
		return 0;
	if (p->mode != IN_UTF8)
		return oai_feed_xml(p, s, n);
	return lex_emit(p, s, n);
}

/*
 * libxml2 2.9's push parser takes character data with a multibyte
 * character in it a character at a time (xmlCurrentChar(), then a copy),
 * some hundred instructions each: in Cyrillic or Greek metadata, a third
 * of the event loop.  So the filter's UTF-8 output (valid by then, no
 * forbidden control byte) is followed through the markup here, and each
 * stretch of character data inside the root element that has a multibyte
 * character and none of '<', '&', CR, LF, ']' or '>' (so that libxml2
 * still sees every line end, reference and "]]>") is kept in stash; libxml2 gets
 * LEX_MARK, a character reference, in its place and hands the character
 * to sax_characters(), which takes the oldest stretch kept instead.
 * libxml2 would have handed out those very bytes.  So that a U+FDD0 of
 * the document's own (a reference: raw ones are inside stretches) is not
 * taken for one, each is kept as itself.  A document that is not
 * well-formed stops libxml2's callbacks at its first error, so only
 * well-formed markup needs following exactly.  What is to go to libxml2
 * is gathered in lexout and given in slices of LEX_SLICE.
 */
#define LEX_SLICE (16 * 1024)

static int
lex_emit(struct oai_parser *p, const unsigned char *s, size_t n)
{
	size_t k;

	for (; n > 0; s += k, n -= k) {
		k = n < LEX_SLICE ? n : LEX_SLICE;
		if (lex_window(p, s, k) == -1)
			return -1;
	}
	return 0;
}

/* lex_emit() for up to LEX_SLICE bytes. */
static int
lex_window(struct oai_parser *p, const unsigned char *s, size_t n)
{
	const unsigned char *end = s + n, *from = s, *seg, *q;
	unsigned int	     d;
	unsigned char	     c;
	int		     hi, marked = 0;

	while (s < end) {
		switch (p->lex) {
		case LX_TEXT:
			if (p->lex_depth == 0) {
				if ((q = memchr(s, '<', (size_t)(end - s))) ==
				    NULL) {
					s = end;
					break;
				}
				s = q + 1;
				p->lex = LX_LT;
				break;
			}
			/* Stretches, until markup or a reference. */
			for (;;) {
				hi = 0;
				seg = s;
				s = seg_scan(s, end, &hi);
				if (hi) {
					if (lex_out(p, from,
						(size_t)(seg - from)) == -1 ||
					    stash_push(p, seg,
						(size_t)(s - seg)) == -1 ||
					    lex_out(p, LEX_MARK,
						LEX_MARK_LEN) == -1)
						return -1;
					from = s;
					marked = 1;
				}
				if (s == end || *s == '<' || *s == '&')
					break;
				s++; /* CR, LF, ']' or '>' */
			}
			if (s == end)
				break;
			if (*s++ == '<')
				p->lex = LX_LT;
			else {
				p->lex = LX_REF;
				p->lexref = LR_START;
				p->lex_cval = 0;
			}
			break;
		case LX_REF:
			c = *s;
			switch (p->lexref) {
			case LR_START:
				p->lexref = c == '#' ? LR_HASH : LR_NAME;
				break;
			case LR_NAME:
				if (c == ';' || c == '<' || c == '&' ||
				    c <= ' ') {
					p->lex = LX_TEXT;
					if (c != ';')
						continue;
				}
				break;
			case LR_HASH:
				if (c == 'x')
					p->lexref = LR_HEX;
				else if (c >= '0' && c <= '9') {
					p->lexref = LR_DEC;
					p->lex_cval = c - '0';
				} else {
					p->lex = LX_TEXT;
					continue;
				}
				break;
			case LR_DEC:
			case LR_HEX:
				if (c == ';') {
					p->lex = LX_TEXT;
					if (p->lex_cval == LEX_CHAR_VAL &&
					    stash_push(p, LEX_CHAR, 3) == -1)
						return -1;
					break;
				}
				if (c >= '0' && c <= '9')
					d = c - '0';
				else if (p->lexref == LR_HEX && c >= 'a' &&
				    c <= 'f')
					d = c - 'a' + 10;
				else if (p->lexref == LR_HEX && c >= 'A' &&
				    c <= 'F')
					d = c - 'A' + 10;
				else {
					p->lex = LX_TEXT;
					continue;
				}
				p->lex_cval = p->lex_cval *
					(p->lexref == LR_HEX ? 16 : 10) +
				    d;
				if (p->lex_cval > 0x110000)
					p->lex_cval = 0x110000;
				break;
			}
			s++;
			break;
		case LX_LT:
			c = *s++;
			p->lex_quote = 0;
			p->lex_slash = 0;
			p->lex_endtag = 0;
			if (c == '/') {
				p->lex = LX_TAG;
				p->lex_endtag = 1;
			} else if (c == '!')
				p->lex = LX_BANG;
			else if (c == '?') {
				p->lex = LX_PI;
				p->lex_n = 0;
			} else
				p->lex = LX_TAG;
			break;
		case LX_TAG:
			if (p->lex_quote != 0) {
				if ((q = memchr(s, p->lex_quote,
					 (size_t)(end - s))) == NULL) {
					s = end;
					break;
				}
				s = q + 1;
				p->lex_quote = 0;
				p->lex_slash = 0;
				break;
			}
			if ((q = tag_scan(s, end)) > s)
				p->lex_slash = q[-1] == '/';
			if ((s = q) == end)
				break;
			if ((c = *s++) != '>') {
				p->lex_quote = c;
				p->lex_slash = 0;
				break;
			}
			if (p->lex_endtag) {
				if (p->lex_depth > 0)
					p->lex_depth--;
			} else if (!p->lex_slash &&
			    p->lex_depth < MAX_DEPTH_HARD + 2)
				p->lex_depth++;
			p->lex = LX_TEXT;
			break;
		case LX_BANG:
			c = *s++;
			p->lex_n = 0;
			if (c == '-')
				p->lex = LX_COMMENT_OPEN;
			else if (c == '[')
				p->lex = LX_CDATA;
			else
				p->lex = LX_DECL;
			break;
		case LX_COMMENT_OPEN:
			p->lex = *s++ == '-' ? LX_COMMENT : LX_DECL;
			break;
		case LX_COMMENT:
		case LX_CDATA:
			/* "-->" or "]]>" */
			c = *s++;
			if (c == (p->lex == LX_COMMENT ? '-' : ']'))
				p->lex_n++;
			else if (c == '>' && p->lex_n >= 2)
				p->lex = LX_TEXT;
			else
				p->lex_n = 0;
			break;
		case LX_PI:
			c = *s++;
			if (c == '>' && p->lex_n > 0)
				p->lex = LX_TEXT;
			else
				p->lex_n = c == '?';
			break;
		case LX_DECL:
			if ((q = memchr(s, '>', (size_t)(end - s))) == NULL) {
				s = end;
				break;
			}
			s = q + 1;
			p->lex = LX_TEXT;
			break;
		}
	}
	/* Nothing kept, nothing gathered: straight from the caller's bytes. */
	if (!marked && p->lexout.len == 0)
		return oai_feed_xml(
		    p, (const char *)from, (size_t)(end - from));
	return lex_out(p, from, (size_t)(end - from));
}

/* The first '"', '\'' or '>' at s, or end. */
static const unsigned char *
tag_scan(const unsigned char *s, const unsigned char *end)
{
	v16u8 x, m;

	for (; end - s >= 16; s += 16) {
		memcpy(&x, s, sizeof(x));
		m = (v16u8)((x == '"') | (x == '\'') | (x == '>'));
		if (v16_any(m))
			return s + v16_first(m);
	}
	for (; s < end; s++)
		if (*s == '"' || *s == '\'' || *s == '>')
			break;
	return s;
}

/*
 * The end of a stretch of character data at s: the first '<', '&', CR,
 * LF, ']' or '>', or end.  *hi set when a byte of it has the high bit set.
 */
static const unsigned char *
seg_scan(const unsigned char *s, const unsigned char *end, int *hi)
{
	v16u8	      x, m, h = { 0 };
	v2u64	      w;
	unsigned int  k;
	unsigned char c;

	for (; end - s >= 16; s += 16) {
		memcpy(&x, s, sizeof(x));
		m = (v16u8)((x == '<') | (x == '&') | (x == '\r') |
		    (x == '\n') | (x == ']') | (x == '>'));
		if (v16_any(m)) {
			/* The high bytes before the first stop. */
			k = v16_first(m);
			memcpy(&w, &x, sizeof(w));
			w[0] = le64toh(w[0]);
			w[1] = le64toh(w[1]);
			if (k < 8) {
				w[0] &= (1ULL << (8 * k)) - 1;
				w[1] = 0;
			} else
				w[1] &= (1ULL << (8 * (k - 8))) - 1;
			if (((w[0] | w[1]) & 0x8080808080808080ULL) != 0)
				*hi = 1;
			s += k;
			goto done;
		}
		h |= x;
	}
	for (; s < end; s++) {
		c = *s;
		if (c == '<' || c == '&' || c == '\r' || c == '\n' ||
		    c == ']' || c == '>')
			break;
		if (c >= 0x80)
			*hi = 1;
	}
done:
	if (v16_any((v16u8)(h >= 0x80)))
		*hi = 1;
	return s;
}

/* Gather n bytes for libxml2, and give it a slice when there is one. */
static int
lex_out(struct oai_parser *p, const void *s, size_t n)
{
	if (n == 0)
		return 0;
	if (buf_add(&p->lexout, s, n) == -1)
		fatalx("%s: %zu bytes", __func__, p->lexout.len + n);
	return p->lexout.len >= LEX_SLICE ? lex_flush(p) : 0;
}

static int
lex_flush(struct oai_parser *p)
{
	int rc;

	if (p->lexout.len == 0)
		return 0;
	rc = oai_feed_xml(p, p->lexout.data, p->lexout.len);
	buf_reset(&p->lexout);
	return rc;
}

static int
stash_push(struct oai_parser *p, const void *s, size_t n)
{
	uint32_t len = (uint32_t)n;

	/* All taken: start again (never inside a callback). */
	if (p->stash_rd == p->stash.len) {
		buf_reset(&p->stash);
		oai_buf_trim_capacity(&p->stash);
		p->stash_rd = 0;
	}
	if (n > UINT32_MAX || buf_add(&p->stash, &len, sizeof(len)) == -1 ||
	    buf_add(&p->stash, s, n) == -1) {
		oai_set_cause(p,
		    "line %d: over %zu bytes of text ahead of the parser",
		    xmlSAX2GetLineNumber(p->ctxt), p->stash.max);
		return -1;
	}
	return 0;
}

/*
 * libxml2 handed sax_characters() LEX_CHAR: the stretch it stands for,
 * in *ch and *len.  0: none is kept (a U+FDD0 of a document whose bytes
 * do not go through lex_emit()).
 */
int
oai_stash_pop(struct oai_parser *p, const xmlChar **ch, int *len)
{
	struct buf *b = &p->stash;
	uint32_t    n;

	if (p->stash_rd == b->len)
		return 0;
	memcpy(&n, b->data + p->stash_rd, sizeof(n));
	*ch = (const xmlChar *)b->data + p->stash_rd + sizeof(n);
	*len = (int)n;
	p->stash_rd += sizeof(n) + n;
	return 1;
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
	return lex_flush(p);
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
