/*
 * The OAI-PMH parser's insides, shared by its files and by no one else:
 *
 *   oai.c		the SAX core: envelope, scopes, records, delivery
 *   xmlfilter.c	the byte filter that repairs input before libxml2
 *   serialize.c	the serializer of metadata (and of rejected records)
 *   format.c		the table of metadata formats and what extractors
 *			may call (format.h); format_*.c, one per format
 *
 * Private to harvest/: include oai.h elsewhere.
 */
#ifndef OH_OAI_INT_H
#define OH_OAI_INT_H

#include <stddef.h>
#include <stdint.h>

#include <libxml/parser.h>

#include "format.h"
#include "oai.h"
#include "oh_limits.h"
#include "util.h"

/* Room for the envelope: OAI-PMH/ListIdentifiers/record/header/identifier. */
#define SCOPE_DEPTH 8

/*
 * The strings of one record (or set, format, Identify): header values, sets,
 * metadata field values and languages.  Field text is never longer than the serialized
 * metadata it came from, so twice the record limit is a safe ceiling.
 */
#define ARENA_MAX (2 * MAX_RECORD_BYTES)

/* A buffer that grew past this for one huge record is given back. */
#define KEEP_BYTES (1024 * 1024)

/* The XML declaration must be complete within the first DECL_MAX bytes. */
#define DECL_MAX 256

/*
 * A character reference longer than this ("&#x" and leading zeros) is not
 * looked at: it passes as sent.
 */
#define CHARREF_MAX 32

#define NOVAL SIZE_MAX

enum scope {
	SCOPE_DOC,	/* before the root element */
	SCOPE_ROOT,	/* <OAI-PMH> */
	SCOPE_IDENTIFY, /* <Identify> */
	SCOPE_FORMATS,	/* <ListMetadataFormats> */
	SCOPE_FORMAT,	/* <metadataFormat> */
	SCOPE_SETS,	/* <ListSets> */
	SCOPE_SET,	/* <set> */
	SCOPE_RECORDS,	/* <ListRecords>, <GetRecord> */
	SCOPE_HEADERS,	/* <ListIdentifiers> */
	SCOPE_RECORD,	/* <record> */
	SCOPE_HEADER,	/* <header> */
	SCOPE_METADATA, /* <metadata>, around its element child */
	SCOPE_TEXT,	/* an element whose text we keep */
	SCOPE_REQUEST,	/* <request>: its verb, then skipped */
	SCOPE_DONE,	/* after </OAI-PMH> */
};

/* What the input is known to be. */
enum in_mode {
	IN_HEAD,  /* not yet: the first bytes are held back */
	IN_UTF8,  /* UTF-8: every repair */
	IN_OTHER, /* another ASCII-compatible encoding */
	IN_RAW,	  /* UTF-16, UCS-4, EBCDIC: left to libxml2 */
};

/* What the input filter is in the middle of, across feeds. */
enum fstate {
	FS_TEXT, /* nothing */
	FS_AMP,	 /* "&" */
	FS_HASH, /* "&#" */
	FS_DEC,	 /* "&#" digits */
	FS_HEX,	 /* "&#x" hex digits */
	FS_UTF8, /* a UTF-8 lead byte and maybe continuations */
};

/*
 * Where the bytes handed to libxml2 are, as far as text goes (see
 * lex_emit() in xmlfilter.c).
 */
enum lex {
	LX_TEXT,	 /* character data, or outside the root */
	LX_REF,		 /* "&" in character data */
	LX_LT,		 /* "<" */
	LX_TAG,		 /* a start or end tag */
	LX_BANG,	 /* "<!" */
	LX_COMMENT_OPEN, /* "<!-" */
	LX_COMMENT,	 /* "<!--" */
	LX_CDATA,	 /* "<![" */
	LX_PI,		 /* "<?" */
	LX_DECL,	 /* "<!" and anything else: a DOCTYPE */
};

/* A reference in character data, so far. */
enum lexref {
	LR_START, /* "&" */
	LR_NAME,  /* "&" a name */
	LR_HASH,  /* "&#" */
	LR_DEC,	  /* "&#" digits */
	LR_HEX,	  /* "&#x" hex digits */
};

/*
 * What libxml2 is given instead of a stretch of character data with
 * multibyte characters in it, and hands back as one characters() call:
 * U+FDD0, a noncharacter that XML allows.
 */
#define LEX_MARK     "&#xFDD0;"
#define LEX_MARK_LEN 8
#define LEX_CHAR     "\xef\xb7\x90"
#define LEX_CHAR_VAL 0xfdd0

/* The text values we keep, and where they go. */
enum field {
	F_NONE = 0,
	F_RESPONSE_DATE,
	F_ERROR,
	F_TOKEN,
	F_REPOSITORY_NAME,
	F_BASE_URL,
	F_PROTOCOL_VERSION,
	F_EARLIEST_DATESTAMP,
	F_DELETED_RECORD,
	F_GRANULARITY,
	F_ADMIN_EMAIL,
	F_COMPRESSION,
	F_PREFIX,
	F_SCHEMA,
	F_NAMESPACE,
	F_SET_SPEC,
	F_SET_NAME,
	F_IDENTIFIER,
	F_DATESTAMP,
	F_HEADER_SET,
	F_NFIELDS
};

/* One namespace binding in scope; both strings live in libxml2's dict. */
struct nsbind {
	const xmlChar *prefix; /* NULL for the default namespace */
	const xmlChar *uri;
};

struct frame {
	enum scope     scope;
	const xmlChar *name; /* local name, for causes */
};

/* A growable list of arena offsets. */
struct offs {
	size_t *v;
	size_t	n;
	size_t	cap;
};

/* A field's value, yielded by the format's extractor. */
struct fieldent {
	const char *name;  /* the format's */
	size_t	    value; /* arena offsets */
	size_t	    lang;  /* NOVAL when none */
};

/* Where the serializer writes: the metadata, or the whole record. */
struct sink {
	struct buf b;
	int	   full;     /* something did not fit: cut short */
	int	   tag_open; /* "<name ..." still lacks its '>' */
};

struct oai_parser {
	xmlParserCtxtPtr     ctxt;
	struct oai_callbacks cb;
	void		    *arg;

	int    failed;
	int    xml_failed; /* libxml2 said why */
	int    halted;	   /* xmlStopParser() called */
	int    finished;
	char   cause[512];
	size_t nbytes; /* given to libxml2 */

	/* The start tag libxml2 holds back, counted so far (tag_check()). */
	unsigned long tag_pos;	   /* where it starts; 0: none */
	size_t	      tag_scanned; /* bytes of it looked at */
	size_t	      tag_nattrs;
	unsigned char tag_quote; /* inside a value: its quote */
	size_t	      repairs;
	size_t	      nrecords;
	size_t	      nrejects;
	size_t	      normalized;
	char	      ds_norm[DATESTAMP_LEN];

	/* The input filter. */
	enum in_mode  mode;
	unsigned char head[DECL_MAX]; /* held in IN_HEAD */
	size_t	      nhead;
	enum fstate   fstate;
	unsigned char pend[CHARREF_MAX]; /* its bytes so far */
	size_t	      npend;
	size_t	      clen; /* bytes of it so far */
	unsigned long cval; /* a reference's value */
	size_t	      ndigits;
	unsigned char u_lead; /* a UTF-8 sequence's */
	unsigned char u_second;
	unsigned char u_lo; /* range of the next byte */
	unsigned char u_hi;
	unsigned int  u_need; /* continuation bytes to come */
	const char   *fix;    /* the replacement */
	size_t	      fixlen;

	/*
	 * Character data with multibyte characters goes around libxml2,
	 * whose push parser takes it a character at a time: it is kept in
	 * stash and libxml2 given LEX_MARK instead (lex_emit()); each
	 * LEX_CHAR that libxml2 hands to sax_characters() is the oldest
	 * stretch kept, each a 32-bit length and the bytes.  What is to go
	 * to libxml2 is gathered in lexout.
	 */
	enum lex      lex;
	enum lexref   lexref;
	unsigned int  lex_depth;  /* elements open */
	unsigned char lex_quote;  /* in a tag: the value's quote */
	unsigned char lex_endtag; /* the tag is an end tag */
	unsigned char lex_slash;  /* the tag's last byte was '/' */
	unsigned int  lex_n;	  /* '-', ']' or '?' just before */
	unsigned long lex_cval;	  /* a character reference's value */
	struct buf    stash;
	size_t	      stash_rd; /* where the oldest stretch starts */
	struct buf    lexout;

	/* The envelope. */
	struct frame stack[SCOPE_DEPTH];
	size_t	     nstack;
	enum field   field; /* in SCOPE_TEXT */
	int	     field_line;
	int	     text_over;	  /* its text over the limit */
	unsigned int skip;	  /* depth in a skipped subtree */
	int	     nonamespace; /* <OAI-PMH> had no namespace */
	struct buf   text;

	/* Namespaces in scope, and the stack height at each depth. */
	struct nsbind  *ns;
	size_t		nns;
	size_t		nscap;
	size_t	       *nsmark;
	size_t		nsmarkcap;
	unsigned int	depth;
	const xmlChar **seen; /* prefixes put on a root */
	size_t		seencap;

	/* The record, set, format or Identify being read. */
	struct buf	 arena;
	size_t		 val[F_NFIELDS];
	struct offs	 list1; /* setSpecs, adminEmails */
	struct offs	 list2; /* compressions */
	struct fieldent *fields;
	size_t		 nfields;
	size_t		 fieldcap;
	int		 have_header;
	int		 nmetadata; /* <metadata> elements */
	int		 deleted;

	/*
	 * A record (or ListIdentifiers header) is open: everything in it but
	 * the metadata child goes to raw, for on_reject.
	 */
	int	    unit;
	int	    unit_line; /* where it started */
	int	    rec_bad;
	char	    rec_cause[512];
	struct sink raw;
	size_t	    meta_off; /* where meta goes in raw */
	struct buf  rejected; /* for on_reject */

	/* The metadata child being serialized. */
	struct sink		 meta;
	unsigned int		 body; /* depth inside it, 0 outside */
	int			 body_done;
	const struct oai_format *fmt;	  /* its format, or NULL */
	void			*xstate;  /* its extractor's state */
	void		       **xstates; /* each format's, or NULL */
	int			 xtext;	  /* it wants text */

	/* Views handed to callbacks. */
	const char	**ptrs;
	size_t		  ptrcap;
	const char	**ptrs2;
	size_t		  ptr2cap;
	struct oai_field *fieldv;
	size_t		  fieldvcap;

	/* The response. */
	enum oai_verb	 verb;
	enum oai_verb	 request_verb;
	char		*response_date;
	char		*error_code;
	char		*error_message;
	struct oai_token token;
	char		*token_value;
	char		*token_expiration;
};

/*
 * Stop with a cause, from anywhere, including inside a libxml2 callback:
 * SAX is turned off at once and the parser itself is stopped when control
 * is back in oai_parser_feed().  The first cause wins.
 */
#define PARSE_FAIL(p, ...) \
	do { \
		oai_set_cause((p), __VA_ARGS__); \
		return; \
	} while (0)

/* The record being read is bad (outside a record: the page is). */
#define RECORD_FAIL(p, ...) \
	do { \
		oai_bad((p), __VA_ARGS__); \
		return; \
	} while (0)

/* oai.c */
void oai_set_cause(struct oai_parser *, const char *, ...) __printflike(2, 3);
void oai_bad(struct oai_parser *, const char *, ...) __printflike(2, 3);
int  oai_feed_xml(struct oai_parser *, const char *, size_t);
void oai_buf_trim_capacity(struct buf *);
int  oai_arena_add(struct oai_parser *, const char *, size_t, size_t *);
int  oai_attr_find(
     int, const xmlChar **, const char *, const char *, const char **, size_t *);
char *oai_attr_strndup(const char *, size_t);
void  oai_trim(const char *, size_t, const char **, size_t *);

/* xmlfilter.c */
int  oai_filter_head(struct oai_parser *, int);
int  oai_filter(struct oai_parser *, const unsigned char *, size_t);
int  oai_filter_finish(struct oai_parser *);
void oai_tag_check(struct oai_parser *);
int  oai_stash_pop(struct oai_parser *, const xmlChar **, int *);

/* serialize.c */
void oai_ser_start(struct oai_parser *, struct sink *, const xmlChar *,
    const xmlChar *, int, const xmlChar **, int, const xmlChar **, int);
void oai_ser_end(
    struct oai_parser *, struct sink *, const xmlChar *, const xmlChar *);
void oai_ser_comment(struct oai_parser *, struct sink *, const xmlChar *);
void oai_ser_pi(
    struct oai_parser *, struct sink *, const xmlChar *, const xmlChar *);
void oai_ser_close_tag(struct oai_parser *, struct sink *);
void oai_sink_reset(struct sink *);
/* Text or (attr) an attribute value, escaped. */
void oai_ser_escape(
    struct oai_parser *, struct sink *, const char *, size_t, int);

/* Text: most of the events, so inline. */
static inline void
oai_ser_text(struct oai_parser *p, struct sink *k, const char *s, size_t n)
{
	if (k->tag_open)
		oai_ser_close_tag(p, k);
	oai_ser_escape(p, k, s, n, 0);
}

#endif
