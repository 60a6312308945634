/*
 * The streaming OAI-PMH response parser.
 *
 * libxml2's push parser drives SAX2 callbacks; nothing is built as a tree.
 * The envelope (OAI-PMH, the verb container, record, header, ...) is
 * followed with a small stack of scopes, the text of the few elements we
 * want is collected into bounded buffers, and the element child of each
 * <metadata> is re-serialized as it streams by, with every namespace in
 * scope declared on its root so that it stands alone.  Each record is handed
 * to the caller when it closes and then forgotten: memory is bounded by one
 * record, not by the page.
 *
 * Failures do not stop libxml2 from inside its callbacks: in 2.9.x
 * xmlStopParser() frees the input buffer that the caller of a callback may
 * still be reading (characters() in xmlParseCharData(), for one).  A
 * callback records the cause and turns SAX off; oai_parser_feed() notices
 * and stops the parser once libxml2 has returned.  The DOCTYPE handler is
 * the exception, see sax_subset().
 *
 * Before libxml2 sees a byte, a small filter repairs what real servers get
 * wrong (see filter()).  Inside a record, a broken rule or a limit makes
 * that record bad rather than the page (see bad()): the record is still
 * parsed to its end, serialized whole into a capped buffer, and handed to
 * on_reject instead of on_record.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/SAX2.h>
#include <libxml/xmlerror.h>

#include "log.h"
#include "oai.h"
#include "oh_limits.h"
#include "util.h"

/*
 * libxml2 is fed at most this much at a time, so that a failure stops it,
 * and so that a start tag it parses whole holds at most FEED_SLICE / 5
 * attributes more than tag_check() counted (see there).
 */
#define FEED_SLICE	(16 * 1024)

/*
 * A start tag shorter than this cannot hold more than MAX_ATTRIBUTES
 * attributes (each takes at least five bytes, ' a=""'): not counted.
 */
#define TAG_CHECK_MIN	(5 * MAX_ATTRIBUTES)

/* Room for the envelope: OAI-PMH/ListIdentifiers/record/header/identifier. */
#define SCOPE_DEPTH	8

/*
 * The strings of one record (or set, format, Identify): header values, sets,
 * DC values and languages.  DC text is never longer than the serialized
 * metadata it came from, so twice the record limit is a safe ceiling.
 */
#define ARENA_MAX	(2 * MAX_RECORD_BYTES)

/* A buffer that grew past this for one huge record is given back. */
#define KEEP_BYTES	(1024 * 1024)

/* The XML declaration must be complete within the first DECL_MAX bytes. */
#define DECL_MAX	256

/*
 * A character reference longer than this ("&#x" and leading zeros) is not
 * looked at: it passes as sent.
 */
#define CHARREF_MAX	32

/* U+FFFD, as UTF-8 and as a reference. */
#define REPL_UTF8	"\xef\xbf\xbd"
#define REPL_REF	"&#xFFFD;"

#define NOVAL		SIZE_MAX

/* For causes: a limit's name and value. */
#define LIMIT(x)	(size_t)(x), #x

enum scope {
	SCOPE_DOC,		/* before the root element */
	SCOPE_ROOT,		/* <OAI-PMH> */
	SCOPE_IDENTIFY,		/* <Identify> */
	SCOPE_FORMATS,		/* <ListMetadataFormats> */
	SCOPE_FORMAT,		/* <metadataFormat> */
	SCOPE_SETS,		/* <ListSets> */
	SCOPE_SET,		/* <set> */
	SCOPE_RECORDS,		/* <ListRecords>, <GetRecord> */
	SCOPE_HEADERS,		/* <ListIdentifiers> */
	SCOPE_RECORD,		/* <record> */
	SCOPE_HEADER,		/* <header> */
	SCOPE_METADATA,		/* <metadata>, around its element child */
	SCOPE_TEXT,		/* an element whose text we keep */
	SCOPE_REQUEST,		/* <request>: its verb, then skipped */
	SCOPE_DONE,		/* after </OAI-PMH> */
};

/* What the input is known to be. */
enum in_mode {
	IN_HEAD,		/* not yet: the first bytes are held back */
	IN_UTF8,		/* UTF-8: every repair */
	IN_OTHER,		/* another ASCII-compatible encoding */
	IN_RAW,			/* UTF-16, UCS-4, EBCDIC: left to libxml2 */
};

/* What the input filter is in the middle of, across feeds. */
enum fstate {
	FS_TEXT,		/* nothing */
	FS_AMP,			/* "&" */
	FS_HASH,		/* "&#" */
	FS_DEC,			/* "&#" digits */
	FS_HEX,			/* "&#x" hex digits */
	FS_UTF8,		/* a UTF-8 lead byte and maybe continuations */
};

/* What one more byte did to the construct in progress. */
enum fstep {
	STEP_MORE,		/* taken; it goes on */
	STEP_KEEP,		/* taken; done, it passes as sent */
	STEP_PASS,		/* not taken; done, it passes as sent */
	STEP_FIX,		/* taken; done, it is replaced */
	STEP_FIX_BEFORE,	/* not taken; what came before is replaced */
};

/*
 * Bytes the filter must look at: C0 controls (but TAB, LF, CR) and '&'
 * in every ASCII-compatible encoding, and 0x80 and up in UTF-8.
 */
#define BC_CTL	1
#define BC_HIGH	2
static const unsigned char byte_class[256] = {
	1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};

/*
 * How documents in encodings that are not ASCII-compatible begin (XML 1.0
 * appendix F): those are passed to libxml2 untouched.
 */
static const struct {
	const char	*bytes;
	size_t		 len;
} raw_heads[] = {
	{ "\xfe\xff", 2 },		/* UTF-16BE BOM */
	{ "\xff\xfe", 2 },		/* UTF-16LE BOM */
	{ "\0\0\0<", 4 },		/* UCS-4BE */
	{ "<\0\0\0", 4 },		/* UCS-4LE */
	{ "\0<\0?", 4 },		/* UTF-16BE, no BOM */
	{ "<\0?\0", 4 },		/* UTF-16LE, no BOM */
	{ "\x4c\x6f\xa7\x94", 4 },	/* EBCDIC */
};

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

/* Longest trimmed value of each field. */
static const struct field_info {
	size_t		 max;
	const char	*limit;
} field_info[F_NFIELDS] = {
	[F_NONE] =		{ LIMIT(MAX_VALUE_BYTES) },
	[F_RESPONSE_DATE] =	{ LIMIT(MAX_ID_LEN) },
	[F_ERROR] =		{ LIMIT(MAX_VALUE_BYTES) },
	[F_TOKEN] =		{ LIMIT(MAX_TOKEN_LEN) },
	[F_REPOSITORY_NAME] =	{ LIMIT(MAX_VALUE_BYTES) },
	[F_BASE_URL] =		{ LIMIT(MAX_URL_LEN) },
	[F_PROTOCOL_VERSION] =	{ LIMIT(MAX_ID_LEN) },
	[F_EARLIEST_DATESTAMP] = { LIMIT(MAX_ID_LEN) },
	[F_DELETED_RECORD] =	{ LIMIT(MAX_ID_LEN) },
	[F_GRANULARITY] =	{ LIMIT(MAX_ID_LEN) },
	[F_ADMIN_EMAIL] =	{ LIMIT(MAX_VALUE_BYTES) },
	[F_COMPRESSION] =	{ LIMIT(MAX_ID_LEN) },
	[F_PREFIX] =		{ LIMIT(MAX_ID_LEN) },
	[F_SCHEMA] =		{ LIMIT(MAX_URL_LEN) },
	[F_NAMESPACE] =		{ LIMIT(MAX_URL_LEN) },
	[F_SET_SPEC] =		{ LIMIT(MAX_ID_LEN) },
	[F_SET_NAME] =		{ LIMIT(MAX_VALUE_BYTES) },
	[F_IDENTIFIER] =	{ LIMIT(MAX_ID_LEN) },
	[F_DATESTAMP] =		{ LIMIT(MAX_ID_LEN) },
	[F_HEADER_SET] =	{ LIMIT(MAX_ID_LEN) },
};

/*
 * Which OAI element may appear where, and what it opens.  An OAI element
 * not listed for the current scope is skipped with its subtree, unless it is
 * one of the structural ones below: those out of place fail the document.
 */
static const struct rule {
	enum scope	 parent;
	const char	*name;
	enum scope	 scope;
	enum field	 field;		/* SCOPE_TEXT */
	enum oai_verb	 verb;		/* verb containers */
} rules[] = {
	{ SCOPE_ROOT, "responseDate", SCOPE_TEXT, F_RESPONSE_DATE, 0 },
	{ SCOPE_ROOT, "request", SCOPE_REQUEST, F_NONE, 0 },
	{ SCOPE_ROOT, "error", SCOPE_TEXT, F_ERROR, 0 },
	{ SCOPE_ROOT, "Identify", SCOPE_IDENTIFY, F_NONE, OAI_IDENTIFY },
	{ SCOPE_ROOT, "ListMetadataFormats", SCOPE_FORMATS, F_NONE,
	    OAI_LIST_METADATA_FORMATS },
	{ SCOPE_ROOT, "ListSets", SCOPE_SETS, F_NONE, OAI_LIST_SETS },
	{ SCOPE_ROOT, "ListIdentifiers", SCOPE_HEADERS, F_NONE,
	    OAI_LIST_IDENTIFIERS },
	{ SCOPE_ROOT, "ListRecords", SCOPE_RECORDS, F_NONE, OAI_LIST_RECORDS },
	{ SCOPE_ROOT, "GetRecord", SCOPE_RECORDS, F_NONE, OAI_GET_RECORD },

	{ SCOPE_IDENTIFY, "repositoryName", SCOPE_TEXT, F_REPOSITORY_NAME, 0 },
	{ SCOPE_IDENTIFY, "baseURL", SCOPE_TEXT, F_BASE_URL, 0 },
	{ SCOPE_IDENTIFY, "protocolVersion", SCOPE_TEXT, F_PROTOCOL_VERSION,
	    0 },
	{ SCOPE_IDENTIFY, "earliestDatestamp", SCOPE_TEXT,
	    F_EARLIEST_DATESTAMP, 0 },
	{ SCOPE_IDENTIFY, "deletedRecord", SCOPE_TEXT, F_DELETED_RECORD, 0 },
	{ SCOPE_IDENTIFY, "granularity", SCOPE_TEXT, F_GRANULARITY, 0 },
	{ SCOPE_IDENTIFY, "adminEmail", SCOPE_TEXT, F_ADMIN_EMAIL, 0 },
	{ SCOPE_IDENTIFY, "compression", SCOPE_TEXT, F_COMPRESSION, 0 },

	{ SCOPE_FORMATS, "metadataFormat", SCOPE_FORMAT, F_NONE, 0 },
	{ SCOPE_FORMAT, "metadataPrefix", SCOPE_TEXT, F_PREFIX, 0 },
	{ SCOPE_FORMAT, "schema", SCOPE_TEXT, F_SCHEMA, 0 },
	{ SCOPE_FORMAT, "metadataNamespace", SCOPE_TEXT, F_NAMESPACE, 0 },

	{ SCOPE_SETS, "set", SCOPE_SET, F_NONE, 0 },
	{ SCOPE_SETS, "resumptionToken", SCOPE_TEXT, F_TOKEN, 0 },
	{ SCOPE_SET, "setSpec", SCOPE_TEXT, F_SET_SPEC, 0 },
	{ SCOPE_SET, "setName", SCOPE_TEXT, F_SET_NAME, 0 },

	{ SCOPE_RECORDS, "record", SCOPE_RECORD, F_NONE, 0 },
	{ SCOPE_RECORDS, "resumptionToken", SCOPE_TEXT, F_TOKEN, 0 },
	{ SCOPE_HEADERS, "header", SCOPE_HEADER, F_NONE, 0 },
	/* Melinda wraps ListIdentifiers headers in <record>. */
	{ SCOPE_HEADERS, "record", SCOPE_RECORD, F_NONE, 0 },
	{ SCOPE_HEADERS, "resumptionToken", SCOPE_TEXT, F_TOKEN, 0 },
	{ SCOPE_RECORD, "header", SCOPE_HEADER, F_NONE, 0 },
	{ SCOPE_RECORD, "metadata", SCOPE_METADATA, F_NONE, 0 },
	{ SCOPE_HEADER, "identifier", SCOPE_TEXT, F_IDENTIFIER, 0 },
	{ SCOPE_HEADER, "datestamp", SCOPE_TEXT, F_DATESTAMP, 0 },
	{ SCOPE_HEADER, "setSpec", SCOPE_TEXT, F_HEADER_SET, 0 },
};

/* OAI elements that must never be out of place. */
static const char *const structural[] = {
	"OAI-PMH", "Identify", "ListMetadataFormats", "ListSets",
	"ListIdentifiers", "ListRecords", "GetRecord", "metadataFormat",
	"set", "record", "header", "metadata", "resumptionToken",
};

static const char *const verb_names[] = {
	[OAI_VERB_NONE] = NULL,
	[OAI_IDENTIFY] = "Identify",
	[OAI_LIST_METADATA_FORMATS] = "ListMetadataFormats",
	[OAI_LIST_SETS] = "ListSets",
	[OAI_LIST_IDENTIFIERS] = "ListIdentifiers",
	[OAI_LIST_RECORDS] = "ListRecords",
	[OAI_GET_RECORD] = "GetRecord",
};

static const char *const dc_names[DC_NELEMENTS] = {
	"title", "creator", "subject", "description", "publisher",
	"contributor", "date", "type", "format", "identifier", "source",
	"language", "relation", "coverage", "rights",
};

/* One namespace binding in scope; both strings live in libxml2's dict. */
struct nsbind {
	const xmlChar	*prefix;	/* NULL for the default namespace */
	const xmlChar	*uri;
};

struct frame {
	enum scope	 scope;
	const xmlChar	*name;		/* local name, for causes */
};

/* A growable list of arena offsets. */
struct offs {
	size_t		*v;
	size_t		 n;
	size_t		 cap;
};

struct dcent {
	int		 element;
	size_t		 value;		/* arena offsets */
	size_t		 lang;		/* NOVAL when none */
};

/* Where the serializer writes: the metadata, or the whole record. */
struct sink {
	struct buf	 b;
	int		 full;		/* something did not fit: cut short */
	int		 tag_open;	/* "<name ..." still lacks its '>' */
};

struct oai_parser {
	xmlParserCtxtPtr	 ctxt;
	struct oai_callbacks	 cb;
	void			*arg;

	int			 failed;
	int			 xml_failed;	/* libxml2 said why */
	int			 halted;	/* xmlStopParser() called */
	int			 finished;
	char			 cause[512];
	size_t			 nbytes;	/* given to libxml2 */

	/* The start tag libxml2 holds back, counted so far (tag_check()). */
	unsigned long		 tag_pos;	/* where it starts; 0: none */
	size_t			 tag_scanned;	/* bytes of it looked at */
	size_t			 tag_nattrs;
	unsigned char		 tag_quote;	/* inside a value: its quote */
	size_t			 repairs;
	size_t			 nrecords;
	size_t			 nrejects;
	size_t			 normalized;
	char			 ds_norm[DATESTAMP_LEN];

	/* The input filter. */
	enum in_mode		 mode;
	unsigned char		 head[DECL_MAX];	/* held in IN_HEAD */
	size_t			 nhead;
	enum fstate		 fstate;
	unsigned char		 pend[CHARREF_MAX];	/* its bytes so far */
	size_t			 npend;
	size_t			 clen;		/* bytes of it so far */
	unsigned long		 cval;		/* a reference's value */
	size_t			 ndigits;
	unsigned char		 u_lead;	/* a UTF-8 sequence's */
	unsigned char		 u_second;
	unsigned char		 u_lo;		/* range of the next byte */
	unsigned char		 u_hi;
	unsigned int		 u_need;	/* continuation bytes to come */
	const char		*fix;		/* the replacement */
	size_t			 fixlen;

	/* The envelope. */
	struct frame		 stack[SCOPE_DEPTH];
	size_t			 nstack;
	enum field		 field;		/* in SCOPE_TEXT */
	int			 field_line;
	int			 text_over;	/* its text over the limit */
	unsigned int		 skip;		/* depth in a skipped subtree */
	int			 nonamespace;	/* <OAI-PMH> had no namespace */
	struct buf		 text;

	/* Namespaces in scope, and the stack height at each depth. */
	struct nsbind		*ns;
	size_t			 nns;
	size_t			 nscap;
	size_t			*nsmark;
	size_t			 nsmarkcap;
	unsigned int		 depth;
	const xmlChar		**seen;		/* prefixes put on a root */
	size_t			 seencap;

	/* The record, set, format or Identify being read. */
	struct buf		 arena;
	size_t			 val[F_NFIELDS];
	struct offs		 list1;		/* setSpecs, adminEmails */
	struct offs		 list2;		/* compressions */
	struct dcent		*dc;
	size_t			 ndc;
	size_t			 dccap;
	int			 have_header;
	int			 nmetadata;	/* <metadata> elements */
	int			 deleted;

	/*
	 * A record (or ListIdentifiers header) is open: everything in it but
	 * the metadata child goes to raw, for on_reject.
	 */
	int			 unit;
	int			 unit_line;	/* where it started */
	int			 rec_bad;
	char			 rec_cause[512];
	struct sink		 raw;
	size_t			 meta_off;	/* where meta goes in raw */
	struct buf		 rejected;	/* for on_reject */

	/* The metadata child being serialized. */
	struct sink		 meta;
	unsigned int		 body;		/* depth inside it, 0 outside */
	int			 body_done;
	unsigned int		 dc_depth;	/* body depth of a DC element */
	int			 dc_element;
	int			 dc_line;
	struct buf		 dctext;
	struct buf		 dclang;
	int			 dc_has_lang;

	/* Views handed to callbacks. */
	const char		**ptrs;
	size_t			 ptrcap;
	const char		**ptrs2;
	size_t			 ptr2cap;
	struct oai_dc_value	*dcv;
	size_t			 dcvcap;

	/* The response. */
	enum oai_verb		 verb;
	enum oai_verb		 request_verb;
	char			*response_date;
	char			*error_code;
	char			*error_message;
	struct oai_token	 token;
	char			*token_value;
	char			*token_expiration;
};

/* Failure */
static void	 set_cause(struct oai_parser *, const char *, ...)
		    __printflike(2, 3);
static void	 bad(struct oai_parser *, const char *, ...)
		    __printflike(2, 3);
static void	 one_line(char *, size_t, const char *, va_list)
		    __printflike(3, 0);
static void	 xml_generic_error(void *, const char *, ...);
static void	 check_xml(struct oai_parser *, int);
static int	 encoding_stuck(const struct oai_parser *);

/* SAX handlers */
static void	 sax_start(void *, const xmlChar *, const xmlChar *,
		    const xmlChar *, int, const xmlChar **, int, int,
		    const xmlChar **);
static void	 sax_end(void *, const xmlChar *, const xmlChar *,
		    const xmlChar *);
static void	 sax_characters(void *, const xmlChar *, int);
static void	 sax_comment(void *, const xmlChar *);
static void	 sax_pi(void *, const xmlChar *, const xmlChar *);
static void	 sax_subset(void *, const xmlChar *, const xmlChar *,
		    const xmlChar *);
static void	 sax_serror(void *, xmlErrorPtr);

/* The envelope */
static void	 env_start(struct oai_parser *, const xmlChar *,
		    const xmlChar *, const xmlChar *, int, const xmlChar **,
		    int, const xmlChar **);
static void	 env_end(struct oai_parser *);
static void	 root_start(struct oai_parser *, const xmlChar *,
		    const xmlChar *, const xmlChar *);
static int	 is_oai(const struct oai_parser *, const xmlChar *);
static void	 enter(struct oai_parser *, const struct rule *, int,
		    const xmlChar **);
static void	 push(struct oai_parser *, enum scope, const xmlChar *);
static void	 text_done(struct oai_parser *);
static void	 token_start(struct oai_parser *, int, const xmlChar **);
static void	 unit_reset(struct oai_parser *);
static int	 arena_add(struct oai_parser *, const char *, size_t,
		    size_t *);
static int	 offs_add(struct oai_parser *, struct offs *, size_t,
		    const char *);
static const char *const *offs_view(struct oai_parser *,
		    const struct offs *, int);
static const char *val(const struct oai_parser *, enum field);
static void	 deliver_record(struct oai_parser *);
static void	 deliver_reject(struct oai_parser *);
static void	 deliver_identify(struct oai_parser *);
static void	 deliver_format(struct oai_parser *);
static void	 deliver_set(struct oai_parser *);
static void	 callback_result(struct oai_parser *, int);

/* The serializer */
static void	 body_start(struct oai_parser *, const xmlChar *,
		    const xmlChar *, const xmlChar *, int, const xmlChar **,
		    int, const xmlChar **);
static void	 body_end(struct oai_parser *, const xmlChar *,
		    const xmlChar *);
static void	 dc_done(struct oai_parser *);
static void	 ser_start(struct oai_parser *, struct sink *,
		    const xmlChar *, const xmlChar *, int, const xmlChar **,
		    int, const xmlChar **, int);
static void	 ser_end(struct oai_parser *, struct sink *, const xmlChar *,
		    const xmlChar *);
static void	 ser_text(struct oai_parser *, struct sink *, const char *,
		    size_t);
static void	 ser_comment(struct oai_parser *, struct sink *,
		    const xmlChar *);
static void	 ser_pi(struct oai_parser *, struct sink *, const xmlChar *,
		    const xmlChar *);
static inline void out(struct oai_parser *, struct sink *, const void *,
		    size_t);
static void	 out_slow(struct oai_parser *, struct sink *, const void *,
		    size_t);
static void	 out_qname(struct oai_parser *, struct sink *,
		    const xmlChar *, const xmlChar *);
static void	 out_xmlns(struct oai_parser *, struct sink *,
		    const xmlChar *, const xmlChar *);
static void	 out_close_tag(struct oai_parser *, struct sink *);
static void	 out_escape(struct oai_parser *, struct sink *, const char *,
		    size_t, int);
static void	 sink_reset(struct sink *);

/* The input filter */
static int	 head_done(struct oai_parser *, int);
static enum in_mode sniff(const unsigned char *, size_t, int);
static int	 filter(struct oai_parser *, const unsigned char *, size_t);
static size_t	 plain_run(const unsigned char *, size_t, unsigned int);
static enum fstep fstep(struct oai_parser *, unsigned char);
static inline size_t utf8_valid(const unsigned char *, size_t);
static int	 utf8_lead(struct oai_parser *, unsigned char);
static int	 char_allowed(unsigned long);
static int	 emit(struct oai_parser *, const void *, size_t);

/* Helpers */
static void	 ns_push(struct oai_parser *, int, const xmlChar **);
static int	 same_prefix(const xmlChar *, const xmlChar *);
static int	 attr_find(int, const xmlChar **, const char *, const char *,
		    const char **, size_t *);
static void	 trim(const char *, size_t, const char **, size_t *);
static char	*attr_strndup(const char *, size_t);
static long long attr_number(int, const xmlChar **, const char *);
static void	 buf_trim_capacity(struct buf *);
static void	 buf_add_cut(struct buf *, const void *, size_t, int *);
static int	 feed_xml(struct oai_parser *, const char *, size_t);
static void	 tag_check(struct oai_parser *);

/* Messages libxml2 sends without a parser context (encoding conversion). */
static char	 xml_generic_msg[256];

/*
 * Stop with a cause, from anywhere, including inside a libxml2 callback:
 * SAX is turned off at once and the parser itself is stopped when control
 * is back in oai_parser_feed().  The first cause wins.
 */
#define PARSE_FAIL(p, ...) do {						\
	set_cause((p), __VA_ARGS__);					\
	return;								\
} while (0)

/* The record being read is bad (outside a record: the page is). */
#define RECORD_FAIL(p, ...) do {					\
	bad((p), __VA_ARGS__);						\
	return;								\
} while (0)

/* Tables */

const char *
oai_verb_name(enum oai_verb v)
{
	if ((size_t)v >= nitems(verb_names))
		return NULL;
	return verb_names[v];
}

enum oai_verb
oai_verb_lookup(const char *s)
{
	size_t	i;

	if (s == NULL)
		return OAI_VERB_NONE;
	for (i = 1; i < nitems(verb_names); i++)
		if (strcmp(s, verb_names[i]) == 0)
			return (enum oai_verb)i;
	return OAI_VERB_NONE;
}

const char *
oai_dc_name(int e)
{
	if (e < 0 || e >= DC_NELEMENTS)
		return NULL;
	return dc_names[e];
}

int
oai_dc_lookup(const char *s)
{
	int	i;

	if (s == NULL)
		return -1;
	for (i = 0; i < DC_NELEMENTS; i++)
		if (strcmp(s, dc_names[i]) == 0)
			return i;
	return -1;
}

/* Life cycle */

struct oai_parser *
oai_parser_new(const struct oai_callbacks *cb, void *arg)
{
	struct oai_parser	*p;
	xmlSAXHandler		 sax;
	size_t			 i;

	p = xcalloc(1, sizeof(*p));
	if (cb != NULL)
		p->cb = *cb;
	p->arg = arg;
	buf_init(&p->text, MAX_VALUE_BYTES);
	buf_init(&p->arena, ARENA_MAX);
	buf_init(&p->meta.b, MAX_RECORD_BYTES);
	buf_init(&p->raw.b, OAI_REJECT_MAX);
	buf_init(&p->rejected, OAI_REJECT_MAX);
	p->meta_off = NOVAL;
	buf_init(&p->dctext, MAX_VALUE_BYTES);
	buf_init(&p->dclang, MAX_VALUE_BYTES);
	for (i = 0; i < F_NFIELDS; i++)
		p->val[i] = NOVAL;
	p->token.cursor = p->token.complete_list_size = -1;
	p->stack[0].scope = SCOPE_DOC;
	p->stack[0].name = BAD_CAST "document";
	p->nstack = 1;

	/*
	 * Only what we need: no entity or DTD handlers at all, so nothing
	 * declared in a document could ever be looked up or expanded (and
	 * with our own user data, libxml2 does not fall back on its own
	 * xmlSAX2GetEntity() either).
	 * XXX xmlSetGenericErrorFunc() is process-wide; it only catches
	 * the few messages libxml2 raises without a parser context, which
	 * would otherwise go to stderr.
	 */
	xmlSetGenericErrorFunc(NULL, xml_generic_error);
	memset(&sax, 0, sizeof(sax));
	sax.initialized = XML_SAX2_MAGIC;
	sax.startElementNs = sax_start;
	sax.endElementNs = sax_end;
	sax.characters = sax_characters;
	sax.ignorableWhitespace = sax_characters;
	sax.cdataBlock = sax_characters;
	sax.comment = sax_comment;
	sax.processingInstruction = sax_pi;
	sax.internalSubset = sax_subset;
	sax.externalSubset = sax_subset;
	sax.serror = sax_serror;

	p->ctxt = xmlCreatePushParserCtxt(&sax, p, NULL, 0, NULL);
	if (p->ctxt == NULL)
		fatalx("xmlCreatePushParserCtxt failed");
	/* Never NOENT, DTDLOAD, DTDATTR, DTDVALID, XINCLUDE or HUGE. */
	xmlCtxtUseOptions(p->ctxt, XML_PARSE_NONET);
	return p;
}

void
oai_parser_free(struct oai_parser *p)
{
	if (p == NULL)
		return;
	/*
	 * In SAX mode libxml2 2.9 keeps declared entities in a document of
	 * its own ("for expat compatibility"); that is ours to free.  They
	 * are never looked up: we set no getEntity handler.
	 */
	if (p->ctxt->myDoc != NULL)
		xmlFreeDoc(p->ctxt->myDoc);
	xmlFreeParserCtxt(p->ctxt);
	buf_free(&p->text);
	buf_free(&p->arena);
	buf_free(&p->meta.b);
	buf_free(&p->raw.b);
	buf_free(&p->rejected);
	buf_free(&p->dctext);
	buf_free(&p->dclang);
	free(p->ns);
	free(p->nsmark);
	free(p->seen);
	free(p->list1.v);
	free(p->list2.v);
	free(p->dc);
	free(p->ptrs);
	free(p->ptrs2);
	free(p->dcv);
	free(p->response_date);
	free(p->error_code);
	free(p->error_message);
	free(p->token_value);
	free(p->token_expiration);
	free(p);
}

/*
 * The first bytes are held back until the XML declaration says which
 * encoding the document is in (see sniff()); then everything goes through
 * filter() on its way to libxml2.
 */
int
oai_parser_feed(struct oai_parser *p, const char *data, size_t len)
{
	const unsigned char	*s = (const unsigned char *)data;
	size_t			 n;

	if (p->failed)
		return -1;
	if (p->finished) {
		set_cause(p, "data fed after the end of the document");
		return -1;
	}
	if (p->mode == IN_HEAD) {
		n = DECL_MAX - p->nhead;
		if (n > len)
			n = len;
		memcpy(p->head + p->nhead, s, n);
		p->nhead += n;
		s += n;
		len -= n;
		if (head_done(p, 0) == -1)
			return -1;
		if (p->mode == IN_HEAD)
			return 0;
	}
	if (p->mode == IN_RAW)
		return emit(p, s, len);
	return filter(p, s, len);
}

int
oai_parser_finish(struct oai_parser *p)
{
	enum scope	scope;
	int		rc;

	if (p->finished || p->failed) {
		p->finished = 1;
		return p->failed ? -1 : 0;
	}
	p->finished = 1;
	/* What the filter still holds: the head, a construct. */
	if (p->mode == IN_HEAD && head_done(p, 1) == -1)
		return -1;
	if (p->fstate == FS_UTF8) {
		/* A sequence cut short by the end of the document. */
		p->repairs++;
		if (emit(p, REPL_UTF8, 3) == -1)
			return -1;
	} else if (p->fstate != FS_TEXT &&
	    emit(p, p->pend, p->npend) == -1)
		return -1;
	p->fstate = FS_TEXT;
	p->npend = 0;
	if (p->nbytes == 0) {
		set_cause(p, "empty document");
		return -1;
	}
	xml_generic_msg[0] = '\0';
	rc = xmlParseChunk(p->ctxt, NULL, 0, 1);
	scope = p->stack[p->nstack - 1].scope;
	if (scope != SCOPE_DOC && scope != SCOPE_DONE &&
	    (!p->failed || p->xml_failed)) {
		/*
		 * libxml2 2.9 calls a truncated document "Extra content at
		 * the end of the document"; say what it is.  Input left
		 * unconverted means the encoder gave up (US-ASCII does so
		 * without a word).
		 */
		p->failed = 0;
		set_cause(p, "line %d: document incomplete%s",
		    xmlSAX2GetLineNumber(p->ctxt), encoding_stuck(p) ?
		    " (input not valid in its declared encoding)" : "");
	}
	check_xml(p, rc);
	if (p->failed)
		return -1;
	if (scope != SCOPE_DONE) {
		set_cause(p, "document incomplete");
		return -1;
	}
	return 0;
}

/* Accessors */

const char *
oai_parser_cause(const struct oai_parser *p)
{
	return p->cause;
}

enum oai_verb
oai_parser_verb(const struct oai_parser *p)
{
	return p->verb != OAI_VERB_NONE ? p->verb : p->request_verb;
}

const char *
oai_parser_response_date(const struct oai_parser *p)
{
	return p->response_date;
}

const char *
oai_parser_error_code(const struct oai_parser *p)
{
	return p->error_code;
}

const char *
oai_parser_error_message(const struct oai_parser *p)
{
	return p->error_message;
}

const struct oai_token *
oai_parser_token(const struct oai_parser *p)
{
	return &p->token;
}

size_t
oai_parser_nrecords(const struct oai_parser *p)
{
	return p->nrecords;
}

size_t
oai_parser_repairs(const struct oai_parser *p)
{
	return p->repairs;
}

size_t
oai_parser_nrejects(const struct oai_parser *p)
{
	return p->nrejects;
}

size_t
oai_parser_normalized(const struct oai_parser *p)
{
	return p->normalized;
}

/* Failure */

static void
set_cause(struct oai_parser *p, const char *fmt, ...)
{
	va_list	 ap;

	if (p->failed)
		return;
	p->failed = 1;
	if (p->ctxt != NULL)
		p->ctxt->disableSAX = 1;
	va_start(ap, fmt);
	one_line(p->cause, sizeof(p->cause), fmt, ap);
	va_end(ap);
}

/*
 * A rule or a limit broken inside a record (or ListIdentifiers header):
 * that record is bad, parsing goes on and it ends up at on_reject.  The
 * first cause wins.  Outside a record, the page fails.
 */
static void
bad(struct oai_parser *p, const char *fmt, ...)
{
	va_list	 ap;

	if (p->failed || p->rec_bad)
		return;
	va_start(ap, fmt);
	if (p->unit) {
		p->rec_bad = 1;
		one_line(p->rec_cause, sizeof(p->rec_cause), fmt, ap);
	} else {
		p->failed = 1;
		if (p->ctxt != NULL)
			p->ctxt->disableSAX = 1;
		one_line(p->cause, sizeof(p->cause), fmt, ap);
	}
	va_end(ap);
}

/* One line, whatever libxml2 or the document put in it. */
static void
one_line(char *dst, size_t len, const char *fmt, va_list ap)
{
	char	*c;

	(void)vsnprintf(dst, len, fmt, ap);
	for (c = dst; *c != '\0'; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = ' ';
}

/*
 * libxml2 messages end in a newline and some span two lines ("Input is not
 * proper UTF-8 ...\nBytes: ..."): make them one line without runs of
 * blanks.
 */
static void
sax_serror(void *ctx, xmlErrorPtr e)
{
	struct oai_parser	*p = ctx;
	char			 msg[400];
	const char		*s;
	size_t			 n = 0;
	int			 blank = 0;

	if (e == NULL || p->failed)
		return;
	if (e->level < XML_ERR_ERROR) {
		log_debug("xml_warning line=%d msg=%s", e->line,
		    log_q(e->message != NULL ? e->message : ""));
		return;
	}
	for (s = e->message != NULL ? e->message : "XML error"; *s != '\0' &&
	    n < sizeof(msg) - 1; s++) {
		if ((unsigned char)*s <= ' ') {
			blank = 1;
			continue;
		}
		if (blank && n > 0)
			msg[n++] = ' ';
		blank = 0;
		if (n < sizeof(msg) - 1)
			msg[n++] = *s;
	}
	msg[n] = '\0';
	set_cause(p, "line %d: %s", e->line, msg);
	p->xml_failed = 1;
}

static void
xml_generic_error(void *ctx, const char *fmt, ...)
{
	va_list	ap;
	size_t	n;

	n = strlen(xml_generic_msg);
	if (n >= sizeof(xml_generic_msg) - 1)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(xml_generic_msg + n, sizeof(xml_generic_msg) - n,
	    fmt, ap);
	va_end(ap);
}

/*
 * After xmlParseChunk(): make sure a failure has a cause, and stop.  A
 * message libxml2 raised without a parser context is an encoding
 * conversion failure; where it is noticed depends on the chunking, so it
 * gets no line number and loses its ", bytes ..." detail.
 */
static void
check_xml(struct oai_parser *p, int rc)
{
	if (!p->failed && xml_generic_msg[0] != '\0')
		set_cause(p, "encoding error: %.*s",
		    (int)strcspn(xml_generic_msg, ",\n"), xml_generic_msg);
	if (!p->failed && (rc != 0 || !p->ctxt->wellFormed))
		set_cause(p, "line %d: XML error %d",
		    xmlSAX2GetLineNumber(p->ctxt), rc);
	if (p->failed && !p->halted) {
		p->halted = 1;
		xmlStopParser(p->ctxt);
	}
}

/* Raw bytes the input encoder could not convert. */
static int
encoding_stuck(const struct oai_parser *p)
{
	xmlParserInputBufferPtr	in;

	if (p->ctxt->input == NULL || (in = p->ctxt->input->buf) == NULL)
		return 0;
	return in->encoder != NULL && in->raw != NULL &&
	    xmlBufUse(in->raw) > 0;
}

static int
feed_xml(struct oai_parser *p, const char *data, size_t len)
{
	size_t	n;

	while (len > 0) {
		n = len < FEED_SLICE ? len : FEED_SLICE;
		p->nbytes += n;
		xml_generic_msg[0] = '\0';
		check_xml(p, xmlParseChunk(p->ctxt, data, (int)n, 0));
		if (!p->failed)
			tag_check(p);
		if (p->failed)
			return -1;
		data += n;
		len -= n;
	}
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
static void
tag_check(struct oai_parser *p)
{
	xmlParserInputPtr	 in = p->ctxt->input;
	const xmlChar		*s, *end;
	unsigned long		 pos;
	size_t			 n;

	if (in == NULL || in->cur == NULL || in->end == NULL ||
	    (size_t)(in->end - in->cur) < TAG_CHECK_MIN ||
	    in->cur[0] != '<' || in->cur[1] == '/' || in->cur[1] == '!' ||
	    in->cur[1] == '?')
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
		set_cause(p, "line %d: an element with more than "
		    "MAX_ATTRIBUTES (%d) attributes and namespace "
		    "declarations", xmlSAX2GetLineNumber(p->ctxt),
		    MAX_ATTRIBUTES);
}

/* The input filter */

/*
 * Decide the encoding once the head allows it (or must: final, or the head
 * is full), then send the head through the filter.  A gzip body that nobody
 * inflated is not XML: say so.
 */
static int
head_done(struct oai_parser *p, int final)
{
	if (p->nhead >= 2 && p->head[0] == 0x1f && p->head[1] == 0x8b) {
		set_cause(p, "gzip-compressed data, not XML");
		return -1;
	}
	p->mode = sniff(p->head, p->nhead, final || p->nhead == DECL_MAX);
	switch (p->mode) {
	case IN_HEAD:
		return 0;
	case IN_RAW:
		return emit(p, p->head, p->nhead);
	default:
		return filter(p, p->head, p->nhead);
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
	const unsigned char	*d, *e, *end;
	size_t			 i, m, off = 0;
	unsigned char		 q;

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
	    (h[off + 5] != '\t' && h[off + 5] != '\n' && h[off + 5] != '\r')))
		return IN_UTF8;
	if (m < 6)
		return final ? IN_UTF8 : IN_HEAD;
	if ((end = memmem(h + off, n - off, "?>", 2)) == NULL) {
		if (!final)
			return IN_HEAD;
		end = h + n;
	}
	if ((d = memmem(h + off, (size_t)(end - h) - off, "encoding",
	    8)) == NULL)
		return IN_UTF8;
	for (d += 8; d < end && (*d == ' ' || *d == '\t' || *d == '\n' ||
	    *d == '\r'); d++)
		;
	if (d == end || *d++ != '=')
		return IN_UTF8;
	for (; d < end && (*d == ' ' || *d == '\t' || *d == '\n' ||
	    *d == '\r'); d++)
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
static int
filter(struct oai_parser *p, const unsigned char *s, size_t len)
{
	const unsigned int	 mask = p->mode == IN_UTF8 ?
	    BC_CTL | BC_HIGH : BC_CTL;
	size_t			 i = 0, start = 0, cstart = 0, n;
	unsigned char		 c;

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
		/* A run of well-formed multibyte characters, as in Cyrillic. */
		if ((n = utf8_valid(s + i, len - i)) > 0) {
			do
				i += n;
			while (i < len && s[i] >= 0x80 &&
			    (n = utf8_valid(s + i, len - i)) > 0);
			continue;
		}
		/* Bad, or cut by the end of the feed: byte by byte. */
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
 * document.  Eight bytes at a time, looking for any below 0x20, any '&'
 * and, in UTF-8, any with the high bit set (the tests of "Bit Twiddling
 * Hacks" are exact: no false hits); then byte by byte through the table.
 */
static size_t
plain_run(const unsigned char *s, size_t len, unsigned int mask)
{
	const uint64_t	 ones = 0x0101010101010101ULL;
	const uint64_t	 highs = 0x8080808080808080ULL;
	const uint64_t	 high = mask & BC_HIGH ? highs : 0;
	uint64_t	 w, a;
	size_t		 i = 0, end;

	for (;;) {
		for (; len - i >= 8; i += 8) {
			memcpy(&w, s + i, 8);
			a = w ^ (ones * '&');
			if ((((w - ones * 0x20) & ~w) | ((a - ones) & ~a) |
			    (w & high)) & highs)
				break;
		}
		end = len - i < 8 ? len : i + 8;
		for (; i < end; i++)
			if (byte_class[s[i]] & mask)
				return i;
		if (i == len)
			return len;
	}
}

/* One more byte of a reference or of a UTF-8 sequence. */
static enum fstep
fstep(struct oai_parser *p, unsigned char c)
{
	unsigned int	d;

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
	unsigned char	c = s[0];

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
	return n == 0 ? 0 : feed_xml(p, s, n);
}

/* SAX handlers */

static void
sax_start(void *ctx, const xmlChar *name, const xmlChar *prefix,
    const xmlChar *uri, int nns, const xmlChar **ns, int nattrs,
    int ndefaulted, const xmlChar **attrs)
{
	struct oai_parser	*p = ctx;
	int			 unit;

	if (p->failed)
		return;
	if (nattrs > MAX_ATTRIBUTES - nns)
		PARSE_FAIL(p, "line %d: an element with more than "
		    "MAX_ATTRIBUTES (%d) attributes and namespace "
		    "declarations", xmlSAX2GetLineNumber(p->ctxt),
		    MAX_ATTRIBUTES);
	ns_push(p, nns, ns);
	/*
	 * libxml2 2.9 checks nesting depth only when it builds a tree; do
	 * it here.  Too deep in a record, that record is set aside and the
	 * parse goes on: the list can get past it.
	 */
	if (p->depth > MAX_DEPTH_HARD || (p->depth > MAX_DEPTH && !p->unit))
		PARSE_FAIL(p, "line %d: elements nested deeper than %s (%d)",
		    xmlSAX2GetLineNumber(p->ctxt), p->depth > MAX_DEPTH_HARD ?
		    "MAX_DEPTH_HARD" : "MAX_DEPTH", p->depth > MAX_DEPTH_HARD ?
		    MAX_DEPTH_HARD : MAX_DEPTH);
	if (p->depth > MAX_DEPTH && !p->rec_bad)
		bad(p, "line %d: elements nested deeper than MAX_DEPTH (%d)",
		    xmlSAX2GetLineNumber(p->ctxt), MAX_DEPTH);
	if (p->skip > 0) {
		p->skip++;
		if (p->unit)
			ser_start(p, &p->raw, name, prefix, nns, ns, nattrs,
			    attrs, 0);
		return;
	}
	if (p->body > 0) {
		body_start(p, name, prefix, uri, nns, ns, nattrs, attrs);
		return;
	}
	unit = p->unit;
	env_start(p, name, prefix, uri, nns, ns, nattrs, attrs);
	/* The record itself, its envelope and what is skipped in it. */
	if (p->unit && p->body == 0 && !p->failed)
		ser_start(p, &p->raw, name, prefix, nns, ns, nattrs, attrs,
		    !unit);
}

static void
sax_end(void *ctx, const xmlChar *name, const xmlChar *prefix,
    const xmlChar *uri)
{
	struct oai_parser	*p = ctx;

	if (p->failed)
		return;
	p->nns = p->nsmark[p->depth];
	p->depth--;
	if (p->skip > 0) {
		p->skip--;
		if (p->unit)
			ser_end(p, &p->raw, name, prefix);
		return;
	}
	if (p->body > 0) {
		body_end(p, name, prefix);
		return;
	}
	if (p->unit)
		ser_end(p, &p->raw, name, prefix);
	env_end(p);
}

static void
sax_characters(void *ctx, const xmlChar *ch, int len)
{
	struct oai_parser	*p = ctx;

	if (p->failed || len <= 0)
		return;
	if (p->skip > 0) {
		if (p->unit)
			ser_text(p, &p->raw, (const char *)ch, (size_t)len);
		return;
	}
	if (p->body > 0) {
		ser_text(p, &p->meta, (const char *)ch, (size_t)len);
		/* Past its limit a record is bad: keep nothing more of it. */
		if (p->dc_depth > 0 && !p->rec_bad &&
		    buf_add(&p->dctext, ch, len) == -1)
			RECORD_FAIL(p, "line %d: <dc:%s> text over "
			    "MAX_VALUE_BYTES (%zu)", p->dc_line,
			    dc_names[p->dc_element], (size_t)MAX_VALUE_BYTES);
		return;
	}
	if (p->unit)
		ser_text(p, &p->raw, (const char *)ch, (size_t)len);
	if (p->stack[p->nstack - 1].scope == SCOPE_TEXT && !p->text_over &&
	    buf_add(&p->text, ch, len) == -1) {
		p->text_over = 1;
		RECORD_FAIL(p, "line %d: <%s> text over MAX_VALUE_BYTES (%zu)",
		    p->field_line, p->stack[p->nstack - 1].name,
		    (size_t)MAX_VALUE_BYTES);
	}
}

/* Comments and PIs are kept inside records, dropped elsewhere. */
static void
sax_comment(void *ctx, const xmlChar *value)
{
	struct oai_parser	*p = ctx;

	if (p->failed)
		return;
	if (p->body > 0 && p->skip == 0)
		ser_comment(p, &p->meta, value);
	else if (p->unit)
		ser_comment(p, &p->raw, value);
}

static void
sax_pi(void *ctx, const xmlChar *target, const xmlChar *data)
{
	struct oai_parser	*p = ctx;

	if (p->failed)
		return;
	if (p->body > 0 && p->skip == 0)
		ser_pi(p, &p->meta, target, data);
	else if (p->unit)
		ser_pi(p, &p->raw, target, data);
}

/*
 * OAI-PMH never needs a DTD, and a DOCTYPE is how entity tricks (XXE,
 * billion laughs) come in: refuse any, as rpki-client does.  This is the
 * one callback where libxml2 2.9 checks for a stop right after calling
 * us, so stop here, before the internal subset is even read.
 */
static void
sax_subset(void *ctx, const xmlChar *name, const xmlChar *extid,
    const xmlChar *sysid)
{
	struct oai_parser	*p = ctx;

	set_cause(p, "DOCTYPE not allowed");
	if (!p->halted) {
		p->halted = 1;
		xmlStopParser(p->ctxt);
	}
}

/* The envelope */

static void
env_start(struct oai_parser *p, const xmlChar *name, const xmlChar *prefix,
    const xmlChar *uri, int nns, const xmlChar **ns, int nattrs,
    const xmlChar **attrs)
{
	const struct frame	*top = &p->stack[p->nstack - 1];
	const struct rule	*r;
	size_t			 i;

	switch (top->scope) {
	case SCOPE_DOC:
		root_start(p, name, prefix, uri);
		return;
	case SCOPE_METADATA:
		/* Its element child: one only. */
		if (p->body_done) {
			p->skip = 1;
			RECORD_FAIL(p, "line %d: more than one element child "
			    "in <metadata>", xmlSAX2GetLineNumber(p->ctxt));
		}
		/* The child goes to meta, and into raw here if it must. */
		out_close_tag(p, &p->raw);
		p->meta_off = p->raw.b.len;
		body_start(p, name, prefix, uri, nns, ns, nattrs, attrs);
		return;
	default:
		break;
	}
	if (!is_oai(p, uri)) {
		p->skip = 1;
		return;
	}
	for (i = 0; i < nitems(rules); i++) {
		r = &rules[i];
		if (r->parent == top->scope &&
		    strcmp((const char *)name, r->name) == 0) {
			enter(p, r, nattrs, attrs);
			return;
		}
	}
	/* Anything else is a server's own addition: ignore it. */
	p->skip = 1;
	for (i = 0; i < nitems(structural); i++)
		if (strcmp((const char *)name, structural[i]) == 0)
			RECORD_FAIL(p, "line %d: <%s> out of place in <%s>",
			    xmlSAX2GetLineNumber(p->ctxt), name, top->name);
}

/*
 * The root must be OAI-PMH.  PubMed Central once sent it with no namespace
 * at all; that is accepted, and then the protocol elements are looked for
 * in no namespace too.  Any other name or namespace (an HTML error page, a
 * bare <error>) is not an OAI-PMH response.
 */
static void
root_start(struct oai_parser *p, const xmlChar *name, const xmlChar *prefix,
    const xmlChar *uri)
{
	if (strcmp((const char *)name, "OAI-PMH") != 0)
		PARSE_FAIL(p, "not an OAI-PMH response (root element "
		    "\"%s%s%.100s\")", prefix != NULL ? (const char *)prefix :
		    "", prefix != NULL ? ":" : "", name);
	if (uri != NULL && strcmp((const char *)uri, OAI_NS) != 0)
		PARSE_FAIL(p, "not an OAI-PMH response (root element "
		    "\"OAI-PMH\" in namespace \"%.200s\")", uri);
	p->nonamespace = uri == NULL;
	push(p, SCOPE_ROOT, name);
}

static int
is_oai(const struct oai_parser *p, const xmlChar *uri)
{
	if (uri == NULL)
		return p->nonamespace;
	return strcmp((const char *)uri, OAI_NS) == 0;
}

static void
push(struct oai_parser *p, enum scope scope, const xmlChar *name)
{
	if (p->nstack >= SCOPE_DEPTH)
		fatalx("%s: scope stack overflow", __func__);
	p->stack[p->nstack].scope = scope;
	p->stack[p->nstack].name = name;
	p->nstack++;
}

/* An OAI element the rules know opens here. */
static void
enter(struct oai_parser *p, const struct rule *r, int nattrs,
    const xmlChar **attrs)
{
	const char	*v;
	size_t		 n;
	char		 verb[32];
	int		 line = xmlSAX2GetLineNumber(p->ctxt);

	if (r->verb != OAI_VERB_NONE) {
		if (p->verb != OAI_VERB_NONE)
			PARSE_FAIL(p, "line %d: <%s> after <%s>: more than "
			    "one verb element", line, r->name,
			    verb_names[p->verb]);
		p->verb = r->verb;
		if (r->verb == OAI_IDENTIFY)
			unit_reset(p);
	}
	switch (r->scope) {
	case SCOPE_REQUEST:
		if (p->request_verb == OAI_VERB_NONE &&
		    attr_find(nattrs, attrs, "verb", NULL, &v, &n) &&
		    n < sizeof(verb)) {
			memcpy(verb, v, n);
			verb[n] = '\0';
			p->request_verb = oai_verb_lookup(verb);
		}
		p->skip = 1;
		return;
	case SCOPE_RECORD:
		unit_reset(p);
		p->unit = 1;
		p->unit_line = line;
		break;
	case SCOPE_HEADER:
		if (p->stack[p->nstack - 1].scope == SCOPE_HEADERS) {
			unit_reset(p);
			p->unit = 1;
			p->unit_line = line;
		} else if (p->have_header) {
			p->skip = 1;
			RECORD_FAIL(p, "line %d: record with two <header>s",
			    line);
		}
		p->have_header = 1;
		if (attr_find(nattrs, attrs, "status", NULL, &v, &n)) {
			trim(v, n, &v, &n);
			p->deleted = n == 7 && memcmp(v, "deleted", 7) == 0;
		}
		break;
	case SCOPE_METADATA:
		if (p->nmetadata++ > 0) {
			p->skip = 1;
			RECORD_FAIL(p, "line %d: record with two <metadata>s",
			    line);
		}
		/*
		 * Nothing to keep for headers, nor for deleted records: some
		 * servers send their last metadata along, which the protocol
		 * does not allow; it is ignored, the record is still deleted.
		 */
		if (p->deleted || p->verb == OAI_LIST_IDENTIFIERS) {
			p->skip = 1;
			return;
		}
		break;
	case SCOPE_FORMAT:
	case SCOPE_SET:
		unit_reset(p);
		break;
	case SCOPE_TEXT:
		if ((r->field == F_RESPONSE_DATE && p->response_date != NULL) ||
		    (r->field == F_ERROR && p->error_code != NULL)) {
			p->skip = 1;
			return;
		}
		if (r->field == F_ERROR) {
			if (attr_find(nattrs, attrs, "code", NULL, &v, &n))
				p->error_code = attr_strndup(v, n);
			else
				p->error_code = xstrdup("");
		}
		if (r->field == F_TOKEN) {
			if (p->token.present)
				PARSE_FAIL(p, "line %d: more than one "
				    "<resumptionToken>", line);
			token_start(p, nattrs, attrs);
		}
		p->field = r->field;
		p->field_line = line;
		p->text_over = 0;
		buf_reset(&p->text);
		break;
	default:
		break;
	}
	push(p, r->scope, BAD_CAST r->name);
}

static void
env_end(struct oai_parser *p)
{
	enum scope	scope;

	scope = p->stack[--p->nstack].scope;
	switch (scope) {
	case SCOPE_ROOT:
		push(p, SCOPE_DONE, BAD_CAST "end");
		break;
	case SCOPE_TEXT:
		text_done(p);
		p->field = F_NONE;
		break;
	case SCOPE_IDENTIFY:
		deliver_identify(p);
		break;
	case SCOPE_FORMAT:
		deliver_format(p);
		break;
	case SCOPE_SET:
		deliver_set(p);
		break;
	case SCOPE_RECORD:
		deliver_record(p);
		break;
	case SCOPE_HEADER:
		if (p->stack[p->nstack - 1].scope == SCOPE_HEADERS)
			deliver_record(p);
		break;
	default:
		break;
	}
}

/* The token's attributes; numbers that are not numbers become -1. */
static void
token_start(struct oai_parser *p, int nattrs, const xmlChar **attrs)
{
	const char	*v;
	size_t		 n;

	p->token.present = 1;
	p->token.cursor = attr_number(nattrs, attrs, "cursor");
	p->token.complete_list_size = attr_number(nattrs, attrs,
	    "completeListSize");
	if (attr_find(nattrs, attrs, "expirationDate", NULL, &v, &n)) {
		trim(v, n, &v, &n);
		if (n > 0 && n <= MAX_ID_LEN) {
			p->token_expiration = attr_strndup(v, n);
			p->token.expiration_date = p->token_expiration;
		}
	}
}

/* A text element closed: trim, check and file its value. */
static void
text_done(struct oai_parser *p)
{
	enum field	 f = p->field;
	const char	*s;
	size_t		 n, off;

	if (p->text_over)
		return;
	/* The frame just popped names the element. */
	trim(buf_str(&p->text), p->text.len, &s, &n);
	if (n > field_info[f].max)
		RECORD_FAIL(p, "line %d: <%s> longer than %s (%zu)",
		    p->field_line, p->stack[p->nstack].name,
		    field_info[f].limit, field_info[f].max);
	switch (f) {
	case F_RESPONSE_DATE:
		p->response_date = xstrndup(s, n);
		break;
	case F_ERROR:
		if (n > 0)
			p->error_message = xstrndup(s, n);
		break;
	case F_TOKEN:
		/* <resumptionToken/>, even with attributes: the list ends. */
		if (n > 0) {
			p->token_value = xstrndup(s, n);
			p->token.value = p->token_value;
		}
		break;
	case F_ADMIN_EMAIL:
	case F_HEADER_SET:
	case F_COMPRESSION:
		if (n == 0)
			break;
		if (arena_add(p, s, n, &off) == -1 ||
		    offs_add(p, f == F_COMPRESSION ? &p->list2 : &p->list1,
		    off, (const char *)p->stack[p->nstack].name) == -1)
			return;
		break;
	default:
		/* The first one wins. */
		if (p->val[f] == NOVAL && arena_add(p, s, n, &off) == 0)
			p->val[f] = off;
		break;
	}
}

/* Forget the previous record, set, format or Identify. */
static void
unit_reset(struct oai_parser *p)
{
	size_t	i;

	for (i = F_REPOSITORY_NAME; i < F_NFIELDS; i++)
		p->val[i] = NOVAL;
	buf_reset(&p->arena);
	buf_trim_capacity(&p->arena);
	sink_reset(&p->meta);
	sink_reset(&p->raw);
	p->meta_off = NOVAL;
	p->list1.n = p->list2.n = 0;
	p->ndc = 0;
	p->have_header = p->nmetadata = p->deleted = 0;
	p->body_done = 0;
	p->rec_bad = 0;
	p->rec_cause[0] = '\0';
}

static int
arena_add(struct oai_parser *p, const char *s, size_t n, size_t *off)
{
	*off = p->arena.len;
	if (buf_add(&p->arena, s, n) == -1 || buf_add(&p->arena, "", 1) == -1) {
		bad(p, "line %d: record over MAX_RECORD_BYTES (%zu)",
		    xmlSAX2GetLineNumber(p->ctxt), (size_t)MAX_RECORD_BYTES);
		return -1;
	}
	return 0;
}

static int
offs_add(struct oai_parser *p, struct offs *o, size_t off, const char *what)
{
	if (o->n >= MAX_SETS_PER_RECORD) {
		bad(p, "line %d: more than MAX_SETS_PER_RECORD (%zu) <%s> "
		    "values", xmlSAX2GetLineNumber(p->ctxt),
		    (size_t)MAX_SETS_PER_RECORD, what);
		return -1;
	}
	if (o->n == o->cap) {
		o->cap = o->cap == 0 ? 8 : o->cap * 2;
		o->v = xreallocarray(o->v, o->cap, sizeof(*o->v));
	}
	o->v[o->n++] = off;
	return 0;
}

/* Pointers into the arena for a callback; the arena no longer moves. */
static const char *const *
offs_view(struct oai_parser *p, const struct offs *o, int second)
{
	const char	***v = second ? &p->ptrs2 : &p->ptrs;
	size_t		 *cap = second ? &p->ptr2cap : &p->ptrcap;
	size_t		  i;

	if (o->n == 0)
		return NULL;
	if (*cap < o->n) {
		*cap = o->cap;
		*v = xreallocarray(*v, *cap, sizeof(**v));
	}
	for (i = 0; i < o->n; i++)
		(*v)[i] = p->arena.data + o->v[i];
	return *v;
}

static const char *
val(const struct oai_parser *p, enum field f)
{
	return p->val[f] == NOVAL ? NULL : p->arena.data + p->val[f];
}

static void
callback_result(struct oai_parser *p, int rc)
{
	if (rc < 0)
		set_cause(p, "stopped by callback");
}

/* A record (or header) closed: on_record if it is good, else on_reject. */
static void
deliver_record(struct oai_parser *p)
{
	struct oai_record	 r;
	const char		*id = val(p, F_IDENTIFIER);
	const char		*ds = val(p, F_DATESTAMP);
	enum oai_granularity	 gran = GRAN_DAY;
	time_t			 t = 0;
	size_t			 i;
	int			 line = xmlSAX2GetLineNumber(p->ctxt);
	int			 canon = 1;

	if (!p->have_header)
		bad(p, "line %d: record without <header>", line);
	else if (id == NULL)
		bad(p, "line %d: <header> without <identifier>", line);
	else if (*id == '\0')
		bad(p, "line %d: empty <identifier>", line);
	else if (ds == NULL || *ds == '\0')
		bad(p, "line %d: <header> without <datestamp>", line);
	/*
	 * Real repositories send milliseconds, YYYYMMDD, offsets, ...: only
	 * a datestamp that cannot be read at all sets the record aside.
	 */
	else if (datestamp_read(ds, &t, &gran, &canon) == -1)
		bad(p, "line %d: unreadable datestamp \"%.64s\"", line, ds);
	p->unit = 0;
	if (p->rec_bad) {
		deliver_reject(p);
		unit_reset(p);
		return;
	}

	memset(&r, 0, sizeof(r));
	r.identifier = val(p, F_IDENTIFIER);
	r.datestamp = ds;
	r.datestamp_norm = ds;
	r.datestamp_t = t;
	if (!canon) {
		datestamp_format(t, gran, p->ds_norm);
		r.datestamp_norm = p->ds_norm;
		p->normalized++;
	}
	r.deleted = p->deleted;
	r.sets = offs_view(p, &p->list1, 0);
	r.nsets = p->list1.n;
	if (!p->deleted && p->body_done) {
		r.metadata = p->meta.b.data;
		r.metadata_len = p->meta.b.len;
		if (p->dcvcap < p->ndc) {
			p->dcvcap = p->dccap;
			p->dcv = xreallocarray(p->dcv, p->dcvcap,
			    sizeof(*p->dcv));
		}
		for (i = 0; i < p->ndc; i++) {
			p->dcv[i].element = p->dc[i].element;
			p->dcv[i].value = p->arena.data + p->dc[i].value;
			p->dcv[i].lang = p->dc[i].lang == NOVAL ? NULL :
			    p->arena.data + p->dc[i].lang;
		}
		r.dc = p->ndc > 0 ? p->dcv : NULL;
		r.ndc = p->ndc;
	}
	p->nrecords++;
	if (p->cb.on_record != NULL)
		callback_result(p, p->cb.on_record(p->arg, &r));
	unit_reset(p);
}

/*
 * The whole record for on_reject: raw, with the metadata child put back
 * where it was, cut at OAI_REJECT_MAX.
 */
static void
deliver_reject(struct oai_parser *p)
{
	struct oai_reject	 rj;
	struct buf		*b = &p->rejected;
	const char		*id = val(p, F_IDENTIFIER);
	const char		*ds = val(p, F_DATESTAMP);
	int			 cut = p->raw.full;

	buf_reset(b);
	if (p->meta_off == NOVAL)
		buf_add_cut(b, buf_str(&p->raw.b), p->raw.b.len, &cut);
	else {
		buf_add_cut(b, buf_str(&p->raw.b), p->meta_off, &cut);
		buf_add_cut(b, buf_str(&p->meta.b), p->meta.b.len, &cut);
		/* A prefix of the whole, always. */
		if (p->meta.full)
			cut = 1;
		else
			buf_add_cut(b, buf_str(&p->raw.b) + p->meta_off,
			    p->raw.b.len - p->meta_off, &cut);
	}
	memset(&rj, 0, sizeof(rj));
	rj.identifier = id != NULL && *id != '\0' ? id : NULL;
	rj.datestamp = ds != NULL && *ds != '\0' ? ds : NULL;
	rj.cause = p->rec_cause;
	rj.raw = buf_str(b);
	rj.raw_len = b->len;
	rj.truncated = cut;
	p->nrejects++;
	if (p->cb.on_reject != NULL)
		callback_result(p, p->cb.on_reject(p->arg, &rj));
	buf_trim_capacity(b);
}

static void
deliver_identify(struct oai_parser *p)
{
	struct oai_identify	id;

	id.repository_name = val(p, F_REPOSITORY_NAME);
	id.base_url = val(p, F_BASE_URL);
	id.protocol_version = val(p, F_PROTOCOL_VERSION);
	id.earliest_datestamp = val(p, F_EARLIEST_DATESTAMP);
	id.deleted_record = val(p, F_DELETED_RECORD);
	id.granularity = val(p, F_GRANULARITY);
	id.admin_emails = offs_view(p, &p->list1, 0);
	id.nadmin_emails = p->list1.n;
	id.compressions = offs_view(p, &p->list2, 1);
	id.ncompressions = p->list2.n;
	if (p->cb.on_identify != NULL)
		callback_result(p, p->cb.on_identify(p->arg, &id));
	unit_reset(p);
}

static void
deliver_format(struct oai_parser *p)
{
	if (p->cb.on_format != NULL)
		callback_result(p, p->cb.on_format(p->arg, val(p, F_PREFIX),
		    val(p, F_SCHEMA), val(p, F_NAMESPACE)));
	unit_reset(p);
}

static void
deliver_set(struct oai_parser *p)
{
	if (p->cb.on_set != NULL)
		callback_result(p, p->cb.on_set(p->arg, val(p, F_SET_SPEC),
		    val(p, F_SET_NAME)));
	unit_reset(p);
}

/* The serializer */

/*
 * An element inside <metadata>, to meta, with Dublin Core picked up on the
 * way.
 */
static void
body_start(struct oai_parser *p, const xmlChar *name, const xmlChar *prefix,
    const xmlChar *uri, int nns, const xmlChar **ns, int nattrs,
    const xmlChar **attrs)
{
	const char	*v;
	char		*lang;
	size_t		 n;
	int		 e, rc;

	ser_start(p, &p->meta, name, prefix, nns, ns, nattrs, attrs,
	    p->body == 0);
	p->body++;

	/* Dublin Core, whatever the format and the prefix. */
	if (p->dc_depth == 0 && uri != NULL &&
	    strcmp((const char *)uri, DC_NS) == 0 &&
	    (e = oai_dc_lookup((const char *)name)) != -1) {
		p->dc_depth = p->body;
		p->dc_element = e;
		p->dc_line = xmlSAX2GetLineNumber(p->ctxt);
		buf_reset(&p->dctext);
		buf_reset(&p->dclang);
		p->dc_has_lang = attr_find(nattrs, attrs, "lang",
		    (const char *)XML_XML_NAMESPACE, &v, &n) && n > 0;
		if (p->dc_has_lang && !p->rec_bad) {
			lang = attr_strndup(v, n);
			rc = buf_addstr(&p->dclang, lang);
			free(lang);
			if (rc == -1)
				RECORD_FAIL(p, "line %d: xml:lang over "
				    "MAX_VALUE_BYTES (%zu)", p->dc_line,
				    (size_t)MAX_VALUE_BYTES);
		}
	}
}

static void
body_end(struct oai_parser *p, const xmlChar *name, const xmlChar *prefix)
{
	if (p->dc_depth == p->body) {
		dc_done(p);
		p->dc_depth = 0;
	}
	ser_end(p, &p->meta, name, prefix);
	if (--p->body == 0)
		p->body_done = 1;
}

static void
dc_done(struct oai_parser *p)
{
	struct dcent	*d;
	const char	*s;
	size_t		 n, off;

	/* Nothing of a bad record is delivered. */
	if (p->rec_bad)
		return;
	trim(buf_str(&p->dctext), p->dctext.len, &s, &n);
	if (n == 0)
		return;
	if (p->ndc >= MAX_DC_VALUES)
		RECORD_FAIL(p, "line %d: record with more than MAX_DC_VALUES "
		    "(%zu) Dublin Core values", p->dc_line,
		    (size_t)MAX_DC_VALUES);
	if (p->ndc == p->dccap) {
		p->dccap = p->dccap == 0 ? 32 : p->dccap * 2;
		p->dc = xreallocarray(p->dc, p->dccap, sizeof(*p->dc));
	}
	d = &p->dc[p->ndc];
	d->element = p->dc_element;
	d->lang = NOVAL;
	if (arena_add(p, s, n, &off) == -1)
		return;
	d->value = off;
	if (p->dc_has_lang) {
		if (arena_add(p, p->dclang.data, p->dclang.len, &off) == -1)
			return;
		d->lang = off;
	}
	p->ndc++;
}

/*
 * An element, verbatim.  A root (of the metadata child, or of a record for
 * on_reject) gets, after its own declarations, every other binding in scope
 * (innermost first, each prefix once), those used only inside attribute
 * values (xsi:type="dcterms:W3CDTF") included, so that the result parses
 * alone with the same meaning.
 */
static void
ser_start(struct oai_parser *p, struct sink *k, const xmlChar *name,
    const xmlChar *prefix, int nns, const xmlChar **ns, int nattrs,
    const xmlChar **attrs, int root)
{
	size_t	i, j, nseen;

	out_close_tag(p, k);
	out(p, k, "<", 1);
	out_qname(p, k, prefix, name);
	for (i = 0; i < (size_t)nns; i++)
		out_xmlns(p, k, ns[2 * i], ns[2 * i + 1]);
	if (root) {
		if (p->seencap < p->nns) {
			p->seencap = p->nscap;
			p->seen = xreallocarray(p->seen, p->seencap,
			    sizeof(*p->seen));
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
		out_escape(p, k, (const char *)attrs[5 * i + 3],
		    (size_t)(attrs[5 * i + 4] - attrs[5 * i + 3]), 1);
		out(p, k, "\"", 1);
	}
	k->tag_open = 1;
}

static void
ser_end(struct oai_parser *p, struct sink *k, const xmlChar *name,
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

static void
ser_text(struct oai_parser *p, struct sink *k, const char *s, size_t n)
{
	out_close_tag(p, k);
	out_escape(p, k, s, n, 0);
}

static void
ser_comment(struct oai_parser *p, struct sink *k, const xmlChar *value)
{
	out_close_tag(p, k);
	out(p, k, "<!--", 4);
	out(p, k, value, strlen((const char *)value));
	out(p, k, "-->", 3);
}

static void
ser_pi(struct oai_parser *p, struct sink *k, const xmlChar *target,
    const xmlChar *data)
{
	out_close_tag(p, k);
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
	struct buf	*b = &k->b;

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
	size_t	max = k->b.max, room;

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
		bad(p, "line %d: record over MAX_RECORD_BYTES (%zu)",
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
	out_escape(p, k, (const char *)uri, strlen((const char *)uri), 1);
	out(p, k, "\"", 1);
}

static void
out_close_tag(struct oai_parser *p, struct sink *k)
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
static void
out_escape(struct oai_parser *p, struct sink *k, const char *s, size_t n,
    int attr)
{
	/* 1: escaped everywhere; 2: in attributes only. */
	static const unsigned char	 special[256] = {
		['&'] = 1, ['<'] = 1, ['>'] = 1, ['\r'] = 1,
		['"'] = 2, ['\t'] = 2, ['\n'] = 2,
	};
	const uint64_t			 ones = 0x0101010101010101ULL;
	const uint64_t			 highs = 0x8080808080808080ULL;
	const unsigned char		*u = (const unsigned char *)s;
	const unsigned int		 mask = attr ? 3 : 1;
	const char			*rep;
	uint64_t			 w, a, b, c, d;
	size_t				 i, start;

	for (start = i = 0; i < n; i++) {
		/* Text: skip eight bytes at a time without & < > CR. */
		while (!attr && n - i >= 8) {
			memcpy(&w, u + i, 8);
			a = w ^ (ones * '&');
			b = w ^ (ones * '<');
			c = w ^ (ones * '>');
			d = w ^ (ones * '\r');
			if ((((a - ones) & ~a) | ((b - ones) & ~b) |
			    ((c - ones) & ~c) | ((d - ones) & ~d)) & highs)
				break;
			i += 8;
		}
		if (i == n)
			break;
		if ((special[u[i]] & mask) == 0)
			continue;
		rep = xml_ref(u[i]);
		if (attr && s[i] == '&' && n - i >= 5 &&
		    memcmp(s + i, "&#38;", 5) == 0) {
			out(p, k, s + start, i - start);
			out(p, k, rep, 5);
			i += 4;
			start = i + 1;
			continue;
		}
		out(p, k, s + start, i - start);
		out(p, k, rep, strlen(rep));
		start = i + 1;
	}
	out(p, k, s + start, n - start);
}

static void
sink_reset(struct sink *k)
{
	buf_reset(&k->b);
	buf_trim_capacity(&k->b);
	k->full = k->tag_open = 0;
}

/* Helpers */

/* Remember an element's namespace declarations until it ends. */
static void
ns_push(struct oai_parser *p, int nns, const xmlChar **ns)
{
	size_t	i;

	p->depth++;
	if (p->depth >= p->nsmarkcap) {
		p->nsmarkcap = p->nsmarkcap == 0 ? 64 : p->nsmarkcap * 2;
		p->nsmark = xreallocarray(p->nsmark, p->nsmarkcap,
		    sizeof(*p->nsmark));
	}
	p->nsmark[p->depth] = p->nns;
	if (nns <= 0)
		return;
	if (p->nns + (size_t)nns > p->nscap) {
		while (p->nns + (size_t)nns > p->nscap)
			p->nscap = p->nscap == 0 ? 16 : p->nscap * 2;
		p->ns = xreallocarray(p->ns, p->nscap, sizeof(*p->ns));
	}
	for (i = 0; i < (size_t)nns; i++) {
		p->ns[p->nns].prefix = ns[2 * i];
		p->ns[p->nns].uri = ns[2 * i + 1];
		p->nns++;
	}
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
 * Find an attribute by local name and namespace (NULL: none).  libxml2's
 * values are not NUL-terminated: return a pointer and a length.
 */
static int
attr_find(int nattrs, const xmlChar **attrs, const char *name,
    const char *uri, const char **v, size_t *n)
{
	const xmlChar	**a;
	int		  i;

	for (i = 0; i < nattrs; i++) {
		a = attrs + 5 * i;
		if (strcmp((const char *)a[0], name) != 0)
			continue;
		if (uri == NULL ? a[2] != NULL :
		    (a[2] == NULL || strcmp((const char *)a[2], uri) != 0))
			continue;
		*v = (const char *)a[3];
		*n = (size_t)(a[4] - a[3]);
		return 1;
	}
	return 0;
}

/* Copy an attribute value, with libxml2's "&#38;" back to '&'. */
static char *
attr_strndup(const char *v, size_t n)
{
	char	*s, *d;
	size_t	 i;

	s = d = xmalloc(n + 1);
	for (i = 0; i < n; i++) {
		*d++ = v[i];
		if (v[i] == '&' && n - i >= 5 && memcmp(v + i, "&#38;", 5) == 0)
			i += 4;
	}
	*d = '\0';
	return s;
}

static long long
attr_number(int nattrs, const xmlChar **attrs, const char *name)
{
	const char	*v, *errstr;
	char		 num[32];
	size_t		 n;
	long long	 ll;

	if (!attr_find(nattrs, attrs, name, NULL, &v, &n))
		return -1;
	trim(v, n, &v, &n);
	if (n == 0 || n >= sizeof(num))
		return -1;
	memcpy(num, v, n);
	num[n] = '\0';
	if (parse_ll(num, 0, LLONG_MAX, &ll, &errstr) == -1)
		return -1;
	return ll;
}

static void
trim(const char *s, size_t n, const char **out, size_t *outlen)
{
	while (n > 0 && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')) {
		s++;
		n--;
	}
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' ||
	    s[n - 1] == '\n' || s[n - 1] == '\r'))
		n--;
	*out = s;
	*outlen = n;
}

/* Append what fits under the buffer's cap; say when something did not. */
static void
buf_add_cut(struct buf *b, const void *s, size_t n, int *cut)
{
	size_t	room = b->max - b->len;

	if (n > room) {
		n = room;
		*cut = 1;
	}
	(void)buf_add(b, s, n);
}

/* Give back what one huge record made a buffer grow to. */
static void
buf_trim_capacity(struct buf *b)
{
	if (b->cap > KEEP_BYTES) {
		free(b->data);
		b->data = NULL;
		b->len = b->cap = 0;
	}
}
