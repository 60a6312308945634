/*
 * The streaming OAI-PMH response parser.  (Over 1,500 lines: the SAX
 * handlers and the envelope they follow share one state and one scope stack.)
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
 * wrong (see oai_filter()) and keeps text with multibyte characters aside
 * (see sax_characters()).  Inside a record, a broken rule or a limit makes
 * that record bad rather than the page (see oai_bad()): the record is still
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
#include "oai_int.h"

/*
 * libxml2 is fed at most this much at a time, so that a failure stops it,
 * and so that a start tag it parses whole holds at most FEED_SLICE / 5
 * attributes more than oai_tag_check() counted (see there).
 */
#define FEED_SLICE (16 * 1024)

/* For causes: a limit's name and value. */
#define LIMIT(x) (size_t)(x), #x

/* Longest trimmed value of each field. */
static const struct field_info {
	size_t	    max;
	const char *limit;
} field_info[F_NFIELDS] = {
	[F_NONE] = { LIMIT(MAX_VALUE_BYTES) },
	[F_RESPONSE_DATE] = { LIMIT(MAX_ID_LEN) },
	[F_ERROR] = { LIMIT(MAX_VALUE_BYTES) },
	[F_TOKEN] = { LIMIT(MAX_TOKEN_LEN) },
	[F_REPOSITORY_NAME] = { LIMIT(MAX_VALUE_BYTES) },
	[F_BASE_URL] = { LIMIT(MAX_URL_LEN) },
	[F_PROTOCOL_VERSION] = { LIMIT(MAX_ID_LEN) },
	[F_EARLIEST_DATESTAMP] = { LIMIT(MAX_ID_LEN) },
	[F_DELETED_RECORD] = { LIMIT(MAX_ID_LEN) },
	[F_GRANULARITY] = { LIMIT(MAX_ID_LEN) },
	[F_ADMIN_EMAIL] = { LIMIT(MAX_VALUE_BYTES) },
	[F_COMPRESSION] = { LIMIT(MAX_ID_LEN) },
	[F_PREFIX] = { LIMIT(MAX_ID_LEN) },
	[F_SCHEMA] = { LIMIT(MAX_URL_LEN) },
	[F_NAMESPACE] = { LIMIT(MAX_URL_LEN) },
	[F_SET_SPEC] = { LIMIT(MAX_ID_LEN) },
	[F_SET_NAME] = { LIMIT(MAX_VALUE_BYTES) },
	[F_IDENTIFIER] = { LIMIT(MAX_ID_LEN) },
	[F_DATESTAMP] = { LIMIT(MAX_ID_LEN) },
	[F_HEADER_SET] = { LIMIT(MAX_ID_LEN) },
};

/*
 * Which OAI element may appear where, and what it opens.  An OAI element
 * not listed for the current scope is skipped with its subtree, unless it is
 * one of the structural ones below: those out of place fail the document.
 */
static const struct rule {
	enum scope    parent;
	const char   *name;
	enum scope    scope;
	enum field    field; /* SCOPE_TEXT */
	enum oai_verb verb;  /* verb containers */
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
	{ SCOPE_IDENTIFY, "earliestDatestamp", SCOPE_TEXT, F_EARLIEST_DATESTAMP,
	    0 },
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
	"OAI-PMH",
	"Identify",
	"ListMetadataFormats",
	"ListSets",
	"ListIdentifiers",
	"ListRecords",
	"GetRecord",
	"metadataFormat",
	"set",
	"record",
	"header",
	"metadata",
	"resumptionToken",
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

/* Failure */
static void one_line(char *, size_t, const char *, va_list) __printflike(3, 0);
static void xml_generic_error(void *, const char *, ...);
static void check_xml(struct oai_parser *, int);
static int  encoding_stuck(const struct oai_parser *);

/* SAX handlers */
static void sax_start(void *, const xmlChar *, const xmlChar *, const xmlChar *,
    int, const xmlChar **, int, int, const xmlChar **);
static void sax_end(void *, const xmlChar *, const xmlChar *, const xmlChar *);
static void sax_characters(void *, const xmlChar *, int);
static void sax_cdata(void *, const xmlChar *, int);
static void text_in(struct oai_parser *, const xmlChar *, int);
static void sax_comment(void *, const xmlChar *);
static void sax_pi(void *, const xmlChar *, const xmlChar *);
static void sax_subset(
    void *, const xmlChar *, const xmlChar *, const xmlChar *);
static void sax_serror(void *, xmlErrorPtr);

/* The envelope */
static void env_start(struct oai_parser *, const xmlChar *, const xmlChar *,
    const xmlChar *, int, const xmlChar **, int, const xmlChar **);
static void env_end(struct oai_parser *);
static void root_start(
    struct oai_parser *, const xmlChar *, const xmlChar *, const xmlChar *);
static int  is_oai(const struct oai_parser *, const xmlChar *);
static void enter(
    struct oai_parser *, const struct rule *, int, const xmlChar **);
static void push(struct oai_parser *, enum scope, const xmlChar *);
static void text_done(struct oai_parser *);
static void token_start(struct oai_parser *, int, const xmlChar **);
static void unit_reset(struct oai_parser *);
static int  offs_add(struct oai_parser *, struct offs *, size_t, const char *);
static const char *const *offs_view(
    struct oai_parser *, const struct offs *, int);
static const char *val(const struct oai_parser *, enum field);
static void	   deliver_record(struct oai_parser *);
static void	   deliver_reject(struct oai_parser *);
static void	   deliver_identify(struct oai_parser *);
static void	   deliver_format(struct oai_parser *);
static void	   deliver_set(struct oai_parser *);
static void	   callback_result(struct oai_parser *, int);

/* The metadata */
static void body_start(struct oai_parser *, const xmlChar *, const xmlChar *,
    const xmlChar *, int, const xmlChar **, int, const xmlChar **);
static void body_end(struct oai_parser *, const xmlChar *, const xmlChar *);

/* Helpers */
static void	 ns_push(struct oai_parser *, int, const xmlChar **);
static long long attr_number(int, const xmlChar **, const char *);
static void	 buf_add_cut(struct buf *, const void *, size_t, int *);

/* Messages libxml2 sends without a parser context (encoding conversion). */
static char xml_generic_msg[256];

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
	size_t i;

	if (s == NULL)
		return OAI_VERB_NONE;
	for (i = 1; i < nitems(verb_names); i++)
		if (strcmp(s, verb_names[i]) == 0)
			return (enum oai_verb)i;
	return OAI_VERB_NONE;
}

/* Life cycle */

struct oai_parser *
oai_parser_new(const struct oai_callbacks *cb, void *arg)
{
	struct oai_parser *p;
	xmlSAXHandler	   sax;
	size_t		   i;

	p = xcalloc(1, sizeof(*p));
	if (cb != NULL)
		p->cb = *cb;
	p->arg = arg;
	buf_init(&p->text, MAX_VALUE_BYTES);
	buf_init(&p->arena, ARENA_MAX);
	buf_init(&p->meta.b, MAX_RECORD_BYTES);
	buf_init(&p->raw.b, OAI_REJECT_MAX);
	buf_init(&p->rejected, OAI_REJECT_MAX);
	buf_init(&p->stash, MAX_RECORD_BYTES);
	buf_init(&p->lexout, SIZE_MAX / 4);
	p->meta_off = NOVAL;
	p->xstates = xcalloc(format_count(), sizeof(*p->xstates));
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
	sax.cdataBlock = sax_cdata;
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
	size_t i;

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
	buf_free(&p->stash);
	buf_free(&p->lexout);
	free(p->ns);
	free(p->nsmark);
	free(p->seen);
	free(p->list1.v);
	free(p->list2.v);
	for (i = 0; i < format_count(); i++)
		if (p->xstates[i] != NULL)
			format_at(i)->ops->free(p->xstates[i]);
	free(p->xstates);
	free(p->fields);
	free(p->ptrs);
	free(p->ptrs2);
	free(p->fieldv);
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
 * oai_filter() on its way to libxml2.
 */
int
oai_parser_feed(struct oai_parser *p, const char *data, size_t len)
{
	const unsigned char *s = (const unsigned char *)data;
	size_t		     n;

	if (p->failed)
		return -1;
	if (p->finished) {
		oai_set_cause(p, "data fed after the end of the document");
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
		if (oai_filter_head(p, 0) == -1)
			return -1;
		if (p->mode == IN_HEAD)
			return 0;
	}
	if (p->mode == IN_RAW)
		return oai_feed_xml(p, (const char *)s, len);
	return oai_filter(p, s, len);
}

int
oai_parser_finish(struct oai_parser *p)
{
	enum scope scope;
	int	   rc;

	if (p->finished || p->failed) {
		p->finished = 1;
		return p->failed ? -1 : 0;
	}
	p->finished = 1;
	if (oai_filter_finish(p) == -1)
		return -1;
	if (p->nbytes == 0) {
		oai_set_cause(p, "empty document");
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
		oai_set_cause(p, "line %d: document incomplete%s",
		    xmlSAX2GetLineNumber(p->ctxt),
		    encoding_stuck(p) ?
			" (input not valid in its declared encoding)" :
			"");
	}
	check_xml(p, rc);
	if (p->failed)
		return -1;
	if (scope != SCOPE_DONE) {
		oai_set_cause(p, "document incomplete");
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

void
oai_set_cause(struct oai_parser *p, const char *fmt, ...)
{
	va_list ap;

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
void
oai_bad(struct oai_parser *p, const char *fmt, ...)
{
	va_list ap;

	if (p->failed || p->rec_bad)
		return;
	va_start(ap, fmt);
	if (p->unit) {
		p->rec_bad = 1;
		/* Nothing more of it is kept: no more text to the extractor. */
		p->xtext = 0;
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
	char *c;

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
	struct oai_parser *p = ctx;
	char		   msg[400];
	const char	  *s;
	size_t		   n = 0;
	int		   blank = 0;

	if (e == NULL || p->failed)
		return;
	if (e->level < XML_ERR_ERROR) {
		log_debug("event=xml_warning line=%d msg=%s", e->line,
		    log_q(e->message != NULL ? e->message : ""));
		return;
	}
	for (s = e->message != NULL ? e->message : "XML error";
	     *s != '\0' && n < sizeof(msg) - 1; s++) {
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
	oai_set_cause(p, "line %d: %s", e->line, msg);
	p->xml_failed = 1;
}

static void
xml_generic_error(void *ctx, const char *fmt, ...)
{
	va_list ap;
	size_t	n;

	n = strlen(xml_generic_msg);
	if (n >= sizeof(xml_generic_msg) - 1)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(
	    xml_generic_msg + n, sizeof(xml_generic_msg) - n, fmt, ap);
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
		oai_set_cause(p, "encoding error: %.*s",
		    (int)strcspn(xml_generic_msg, ",\n"), xml_generic_msg);
	if (!p->failed && (rc != 0 || !p->ctxt->wellFormed))
		oai_set_cause(p, "line %d: XML error %d",
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
	xmlParserInputBufferPtr in;

	if (p->ctxt->input == NULL || (in = p->ctxt->input->buf) == NULL)
		return 0;
	return in->encoder != NULL && in->raw != NULL && xmlBufUse(in->raw) > 0;
}

int
oai_feed_xml(struct oai_parser *p, const char *data, size_t len)
{
	size_t n;

	while (len > 0) {
		n = len < FEED_SLICE ? len : FEED_SLICE;
		p->nbytes += n;
		xml_generic_msg[0] = '\0';
		check_xml(p, xmlParseChunk(p->ctxt, data, (int)n, 0));
		if (!p->failed)
			oai_tag_check(p);
		if (p->failed)
			return -1;
		data += n;
		len -= n;
	}
	return 0;
}

/* SAX handlers */

static void
sax_start(void *ctx, const xmlChar *name, const xmlChar *prefix,
    const xmlChar *uri, int nns, const xmlChar **ns, int nattrs, int ndefaulted,
    const xmlChar **attrs)
{
	struct oai_parser *p = ctx;
	int		   unit;

	if (p->failed)
		return;
	if (nattrs > MAX_ATTRIBUTES - nns)
		PARSE_FAIL(p,
		    "line %d: an element with more than "
		    "MAX_ATTRIBUTES (%d) attributes and namespace "
		    "declarations",
		    xmlSAX2GetLineNumber(p->ctxt), MAX_ATTRIBUTES);
	ns_push(p, nns, ns);
	/*
	 * libxml2 2.9 checks nesting depth only when it builds a tree; do
	 * it here.  Too deep in a record, that record is set aside and the
	 * parse goes on: the list can get past it.
	 */
	if (p->depth > MAX_DEPTH_HARD || (p->depth > MAX_DEPTH && !p->unit))
		PARSE_FAIL(p, "line %d: elements nested deeper than %s (%d)",
		    xmlSAX2GetLineNumber(p->ctxt),
		    p->depth > MAX_DEPTH_HARD ? "MAX_DEPTH_HARD" : "MAX_DEPTH",
		    p->depth > MAX_DEPTH_HARD ? MAX_DEPTH_HARD : MAX_DEPTH);
	if (p->depth > MAX_DEPTH && !p->rec_bad)
		oai_bad(p,
		    "line %d: elements nested deeper than MAX_DEPTH (%d)",
		    xmlSAX2GetLineNumber(p->ctxt), MAX_DEPTH);
	if (p->skip > 0) {
		p->skip++;
		if (p->unit)
			oai_ser_start(p, &p->raw, name, prefix, nns, ns, nattrs,
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
		oai_ser_start(
		    p, &p->raw, name, prefix, nns, ns, nattrs, attrs, !unit);
}

static void
sax_end(
    void *ctx, const xmlChar *name, const xmlChar *prefix, const xmlChar *uri)
{
	struct oai_parser *p = ctx;

	if (p->failed)
		return;
	p->nns = p->nsmark[p->depth];
	p->depth--;
	if (p->skip > 0) {
		p->skip--;
		if (p->unit)
			oai_ser_end(p, &p->raw, name, prefix);
		return;
	}
	if (p->body > 0) {
		body_end(p, name, prefix);
		return;
	}
	if (p->unit)
		oai_ser_end(p, &p->raw, name, prefix);
	env_end(p);
}

/*
 * Character data.  LEX_CHAR, a character reference on its own, stands for
 * the oldest stretch of text the input filter kept (see lex_emit()).
 */
static void
sax_characters(void *ctx, const xmlChar *ch, int len)
{
	struct oai_parser *p = ctx;

	if (len == 3 && memcmp(ch, LEX_CHAR, 3) == 0)
		(void)oai_stash_pop(p, &ch, &len);
	text_in(p, ch, len);
}

/* A CDATA section's text: never a stand-in. */
static void
sax_cdata(void *ctx, const xmlChar *ch, int len)
{
	text_in(ctx, ch, len);
}

static void
text_in(struct oai_parser *p, const xmlChar *ch, int len)
{
	if (p->failed || len <= 0)
		return;
	if (p->skip > 0) {
		if (p->unit)
			oai_ser_text(p, &p->raw, (const char *)ch, (size_t)len);
		return;
	}
	if (p->body > 0) {
		oai_ser_text(p, &p->meta, (const char *)ch, (size_t)len);
		if (p->xtext)
			p->fmt->ops->text(
			    p, p->xstate, (const char *)ch, (size_t)len);
		return;
	}
	if (p->unit)
		oai_ser_text(p, &p->raw, (const char *)ch, (size_t)len);
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
	struct oai_parser *p = ctx;

	if (p->failed)
		return;
	if (p->body > 0 && p->skip == 0)
		oai_ser_comment(p, &p->meta, value);
	else if (p->unit)
		oai_ser_comment(p, &p->raw, value);
}

static void
sax_pi(void *ctx, const xmlChar *target, const xmlChar *data)
{
	struct oai_parser *p = ctx;

	if (p->failed)
		return;
	if (p->body > 0 && p->skip == 0)
		oai_ser_pi(p, &p->meta, target, data);
	else if (p->unit)
		oai_ser_pi(p, &p->raw, target, data);
}

/*
 * OAI-PMH never needs a DTD, and a DOCTYPE is how entity tricks (XXE,
 * billion laughs) come in: refuse any, as rpki-client does.  This is the
 * one callback where libxml2 2.9 checks for a stop right after calling
 * us, so stop here, before the internal subset is even read.
 */
static void
sax_subset(
    void *ctx, const xmlChar *name, const xmlChar *extid, const xmlChar *sysid)
{
	struct oai_parser *p = ctx;

	oai_set_cause(p, "DOCTYPE not allowed");
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
	const struct frame *top = &p->stack[p->nstack - 1];
	const struct rule  *r;
	size_t		    i;

	switch (top->scope) {
	case SCOPE_DOC:
		root_start(p, name, prefix, uri);
		return;
	case SCOPE_METADATA:
		/* Its element child: one only. */
		if (p->body_done) {
			p->skip = 1;
			RECORD_FAIL(p,
			    "line %d: more than one element child "
			    "in <metadata>",
			    xmlSAX2GetLineNumber(p->ctxt));
		}
		/* The child goes to meta, and into raw here if it must. */
		oai_ser_close_tag(p, &p->raw);
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
		PARSE_FAIL(p,
		    "not an OAI-PMH response (root element "
		    "\"%s%s%.100s\")",
		    prefix != NULL ? (const char *)prefix : "",
		    prefix != NULL ? ":" : "", name);
	if (uri != NULL && strcmp((const char *)uri, OAI_NS) != 0)
		PARSE_FAIL(p,
		    "not an OAI-PMH response (root element "
		    "\"OAI-PMH\" in namespace \"%.200s\")",
		    uri);
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
	const char *v;
	size_t	    n;
	char	    verb[32];
	int	    line = xmlSAX2GetLineNumber(p->ctxt);

	if (r->verb != OAI_VERB_NONE) {
		if (p->verb != OAI_VERB_NONE)
			PARSE_FAIL(p,
			    "line %d: <%s> after <%s>: more than "
			    "one verb element",
			    line, r->name, verb_names[p->verb]);
		p->verb = r->verb;
		if (r->verb == OAI_IDENTIFY)
			unit_reset(p);
	}
	switch (r->scope) {
	case SCOPE_REQUEST:
		if (p->request_verb == OAI_VERB_NONE &&
		    oai_attr_find(nattrs, attrs, "verb", NULL, &v, &n) &&
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
			RECORD_FAIL(
			    p, "line %d: record with two <header>s", line);
		}
		p->have_header = 1;
		if (oai_attr_find(nattrs, attrs, "status", NULL, &v, &n)) {
			oai_trim(v, n, &v, &n);
			p->deleted = n == 7 && memcmp(v, "deleted", 7) == 0;
		}
		break;
	case SCOPE_METADATA:
		if (p->nmetadata++ > 0) {
			p->skip = 1;
			RECORD_FAIL(
			    p, "line %d: record with two <metadata>s", line);
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
			if (oai_attr_find(nattrs, attrs, "code", NULL, &v, &n))
				p->error_code = oai_attr_strndup(v, n);
			else
				p->error_code = xstrdup("");
		}
		if (r->field == F_TOKEN) {
			if (p->token.present)
				PARSE_FAIL(p,
				    "line %d: more than one "
				    "<resumptionToken>",
				    line);
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
	enum scope scope;

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
	const char *v;
	size_t	    n;

	p->token.present = 1;
	p->token.cursor = attr_number(nattrs, attrs, "cursor");
	p->token.complete_list_size =
	    attr_number(nattrs, attrs, "completeListSize");
	if (oai_attr_find(nattrs, attrs, "expirationDate", NULL, &v, &n)) {
		oai_trim(v, n, &v, &n);
		if (n > 0 && n <= MAX_ID_LEN) {
			p->token_expiration = oai_attr_strndup(v, n);
			p->token.expiration_date = p->token_expiration;
		}
	}
}

/* A text element closed: trim, check and file its value. */
static void
text_done(struct oai_parser *p)
{
	enum field  f = p->field;
	const char *s;
	size_t	    n, off;

	if (p->text_over)
		return;
	/* The frame just popped names the element. */
	oai_trim(buf_str(&p->text), p->text.len, &s, &n);
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
		if (oai_arena_add(p, s, n, &off) == -1 ||
		    offs_add(p, f == F_COMPRESSION ? &p->list2 : &p->list1, off,
			(const char *)p->stack[p->nstack].name) == -1)
			return;
		break;
	default:
		/* The first one wins. */
		if (p->val[f] == NOVAL && oai_arena_add(p, s, n, &off) == 0)
			p->val[f] = off;
		break;
	}
}

/* Forget the previous record, set, format or Identify. */
static void
unit_reset(struct oai_parser *p)
{
	size_t i;

	for (i = F_REPOSITORY_NAME; i < F_NFIELDS; i++)
		p->val[i] = NOVAL;
	buf_reset(&p->arena);
	oai_buf_trim_capacity(&p->arena);
	oai_sink_reset(&p->meta);
	oai_sink_reset(&p->raw);
	p->meta_off = NOVAL;
	p->list1.n = p->list2.n = 0;
	p->nfields = 0;
	p->fmt = NULL;
	p->xtext = 0;
	p->have_header = p->nmetadata = p->deleted = 0;
	p->body_done = 0;
	p->rec_bad = 0;
	p->rec_cause[0] = '\0';
}

int
oai_arena_add(struct oai_parser *p, const char *s, size_t n, size_t *off)
{
	*off = p->arena.len;
	if (buf_add(&p->arena, s, n) == -1 || buf_add(&p->arena, "", 1) == -1) {
		oai_bad(p, "line %d: record over MAX_RECORD_BYTES (%zu)",
		    xmlSAX2GetLineNumber(p->ctxt), (size_t)MAX_RECORD_BYTES);
		return -1;
	}
	return 0;
}

static int
offs_add(struct oai_parser *p, struct offs *o, size_t off, const char *what)
{
	if (o->n >= MAX_SETS_PER_RECORD) {
		oai_bad(p,
		    "line %d: more than MAX_SETS_PER_RECORD (%zu) <%s> "
		    "values",
		    xmlSAX2GetLineNumber(p->ctxt), (size_t)MAX_SETS_PER_RECORD,
		    what);
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
	const char ***v = second ? &p->ptrs2 : &p->ptrs;
	size_t	     *cap = second ? &p->ptr2cap : &p->ptrcap;
	size_t	      i;

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
		oai_set_cause(p, "stopped by callback");
}

/* A record (or header) closed: on_record if it is good, else on_reject. */
static void
deliver_record(struct oai_parser *p)
{
	struct oai_record    r;
	const char	    *id = val(p, F_IDENTIFIER);
	const char	    *ds = val(p, F_DATESTAMP);
	enum oai_granularity gran = GRAN_DAY;
	time_t		     t = 0;
	size_t		     i;
	int		     line = xmlSAX2GetLineNumber(p->ctxt);
	int		     canon = 1;

	if (!p->have_header)
		oai_bad(p, "line %d: record without <header>", line);
	else if (id == NULL)
		oai_bad(p, "line %d: <header> without <identifier>", line);
	else if (*id == '\0')
		oai_bad(p, "line %d: empty <identifier>", line);
	else if (ds == NULL || *ds == '\0')
		oai_bad(p, "line %d: <header> without <datestamp>", line);
	/*
	 * Real repositories send milliseconds, YYYYMMDD, offsets, ...: only
	 * a datestamp that cannot be read at all sets the record aside.
	 */
	else if (datestamp_read(ds, &t, &gran, &canon) == -1)
		oai_bad(p, "line %d: unreadable datestamp \"%.64s\"", line, ds);
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
		r.format = p->fmt;
		if (p->fieldvcap < p->nfields) {
			p->fieldvcap = p->fieldcap;
			p->fieldv = xreallocarray(
			    p->fieldv, p->fieldvcap, sizeof(*p->fieldv));
		}
		for (i = 0; i < p->nfields; i++) {
			p->fieldv[i].name = p->fields[i].name;
			p->fieldv[i].value = p->arena.data + p->fields[i].value;
			p->fieldv[i].lang = p->fields[i].lang == NOVAL ?
			    NULL :
			    p->arena.data + p->fields[i].lang;
		}
		r.fields = p->nfields > 0 ? p->fieldv : NULL;
		r.nfields = p->nfields;
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
	struct oai_reject rj;
	struct buf	 *b = &p->rejected;
	const char	 *id = val(p, F_IDENTIFIER);
	const char	 *ds = val(p, F_DATESTAMP);
	int		  cut = p->raw.full;

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
	oai_buf_trim_capacity(b);
}

static void
deliver_identify(struct oai_parser *p)
{
	struct oai_identify id;

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
		callback_result(p,
		    p->cb.on_format(p->arg, val(p, F_PREFIX), val(p, F_SCHEMA),
			val(p, F_NAMESPACE)));
	unit_reset(p);
}

static void
deliver_set(struct oai_parser *p)
{
	if (p->cb.on_set != NULL)
		callback_result(p,
		    p->cb.on_set(
			p->arg, val(p, F_SET_SPEC), val(p, F_SET_NAME)));
	unit_reset(p);
}

/* The serializer */

/*
 * An element inside <metadata>, to meta, and to the extractor of its
 * format: picked once, at the root.
 */
static void
body_start(struct oai_parser *p, const xmlChar *name, const xmlChar *prefix,
    const xmlChar *uri, int nns, const xmlChar **ns, int nattrs,
    const xmlChar **attrs)
{
	struct format_elem e;
	size_t		   i;

	oai_ser_start(
	    p, &p->meta, name, prefix, nns, ns, nattrs, attrs, p->body == 0);
	if (p->body++ == 0) {
		if ((p->fmt = format_find((const char *)uri)) == NULL)
			return;
		i = format_index(p->fmt);
		if (p->xstates[i] == NULL)
			p->xstates[i] = p->fmt->ops->new ();
		p->xstate = p->xstates[i];
		p->xtext = 0;
		p->fmt->ops->begin(p->xstate);
	}
	if (p->fmt == NULL)
		return;
	e.name = (const char *)name;
	e.uri = (const char *)uri;
	e.nattrs = nattrs;
	e.attrs = attrs;
	e.depth = p->body;
	p->fmt->ops->start(p, p->xstate, &e);
}

static void
body_end(struct oai_parser *p, const xmlChar *name, const xmlChar *prefix)
{
	if (p->fmt != NULL)
		p->fmt->ops->end(p, p->xstate, p->body);
	oai_ser_end(p, &p->meta, name, prefix);
	if (--p->body == 0)
		p->body_done = 1;
}

/* Helpers */

/* Remember an element's namespace declarations until it ends. */
static void
ns_push(struct oai_parser *p, int nns, const xmlChar **ns)
{
	size_t i;

	p->depth++;
	if (p->depth >= p->nsmarkcap) {
		p->nsmarkcap = p->nsmarkcap == 0 ? 64 : p->nsmarkcap * 2;
		p->nsmark =
		    xreallocarray(p->nsmark, p->nsmarkcap, sizeof(*p->nsmark));
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

/*
 * Find an attribute by local name and namespace (NULL: none).  libxml2's
 * values are not NUL-terminated: return a pointer and a length.
 */
int
oai_attr_find(int nattrs, const xmlChar **attrs, const char *name,
    const char *uri, const char **v, size_t *n)
{
	const xmlChar **a;
	int		i;

	for (i = 0; i < nattrs; i++) {
		a = attrs + 5 * i;
		if (strcmp((const char *)a[0], name) != 0)
			continue;
		if (uri == NULL ?
			a[2] != NULL :
			(a[2] == NULL || strcmp((const char *)a[2], uri) != 0))
			continue;
		*v = (const char *)a[3];
		*n = (size_t)(a[4] - a[3]);
		return 1;
	}
	return 0;
}

/* Copy an attribute value, with libxml2's "&#38;" back to '&'. */
char *
oai_attr_strndup(const char *v, size_t n)
{
	char  *s, *d;
	size_t i;

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
	const char *v, *errstr;
	char	    num[32];
	size_t	    n;
	long long   ll;

	if (!oai_attr_find(nattrs, attrs, name, NULL, &v, &n))
		return -1;
	oai_trim(v, n, &v, &n);
	if (n == 0 || n >= sizeof(num))
		return -1;
	memcpy(num, v, n);
	num[n] = '\0';
	if (parse_ll(num, 0, LLONG_MAX, &ll, &errstr) == -1)
		return -1;
	return ll;
}

void
oai_trim(const char *s, size_t n, const char **out, size_t *outlen)
{
	while (n > 0 && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')) {
		s++;
		n--;
	}
	while (n > 0 &&
	    (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' ||
		s[n - 1] == '\r'))
		n--;
	*out = s;
	*outlen = n;
}

/* Append what fits under the buffer's cap; say when something did not. */
static void
buf_add_cut(struct buf *b, const void *s, size_t n, int *cut)
{
	size_t room = b->max - b->len;

	if (n > room) {
		n = room;
		*cut = 1;
	}
	(void)buf_add(b, s, n);
}

/* Give back what one huge record made a buffer grow to. */
void
oai_buf_trim_capacity(struct buf *b)
{
	if (b->cap > KEEP_BYTES) {
		free(b->data);
		b->data = NULL;
		b->len = b->cap = 0;
	}
}
