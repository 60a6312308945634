/*
 * The streaming OAI-PMH response parser: a libxml2 push parser fed chunk by
 * chunk (from libcurl's write callback, or a file in tests).  It hands out
 * one record at a time through a callback and never holds more than the
 * record being parsed, whatever the size of the page.
 *
 * Security: no DTD is loaded, no entity is substituted, no network access;
 * any DOCTYPE is rejected outright.
 *
 * Repairs: what real repositories break most often is fixed on the way in,
 * the same way whatever the chunking, and counted (oai_parser_repairs()):
 * C0 control bytes are dropped; in a UTF-8 document (no declaration, or
 * encoding="UTF-8") every byte sequence that is not UTF-8, and U+FFFE and
 * U+FFFF, become U+FFFD; character references to characters XML forbids
 * (&#0;, &#1;, &#xD800;, &#xFFFE;, &#x110000;, ...) become &#xFFFD;.  Other
 * declared encodings are left to libxml2's converter.
 *
 * Bad records: a <record> (or a ListIdentifiers <header>) that is
 * well-formed but not usable (no header, no or an empty identifier, a
 * missing or unreadable datestamp, two element children in <metadata>, a
 * value, set list, field list or the record over its limit, a protocol
 * element out of place inside it) is skipped and handed to on_reject; the
 * rest of the page is delivered as usual.  A deleted record that carries
 * <metadata> is not a bad record: it is delivered as deleted, its metadata
 * ignored.  Anything wrong outside a record (XML errors, a token over its
 * limit, protocol elements out of place) still fails the whole page.
 */
#ifndef OH_OAI_H
#define OH_OAI_H

#include <stddef.h>
#include <time.h>

#include "format.h"

#define OAI_NS "http://www.openarchives.org/OAI/2.0/"
enum oai_verb {
	OAI_VERB_NONE = 0,
	OAI_IDENTIFY,
	OAI_LIST_METADATA_FORMATS,
	OAI_LIST_SETS,
	OAI_LIST_IDENTIFIERS,
	OAI_LIST_RECORDS,
	OAI_GET_RECORD,
};

/* "Identify", ...; NULL for OAI_VERB_NONE. */
const char *oai_verb_name(enum oai_verb);
/* OAI_VERB_NONE when unknown. */
enum oai_verb oai_verb_lookup(const char *);

/*
 * One value of a metadata field, in document order within its record: the
 * record's format (format.h) says what the fields are.
 */
/* A field's name is shorter than this. */
#define OAI_FIELD_NAME_MAX 64

struct oai_field {
	const char *name;  /* format->fields[i] ("title", ...) */
	const char *value; /* text content, outer whitespace trimmed */
	const char *lang;  /* xml:lang, or NULL */
};

/*
 * One record (ListRecords, GetRecord) or one header (ListIdentifiers).
 * Everything points into the parser and is valid only during the callback.
 */
struct oai_record {
	const char *identifier; /* trimmed */
	const char *datestamp;	/* trimmed, as sent */
	/*
	 * The same datestamp normalized (see datestamp_read()): UTC,
	 * YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ; datestamp itself when it
	 * was already.  Compare and keep this one, store datestamp.
	 */
	const char	  *datestamp_norm;
	time_t		   datestamp_t; /* the instant */
	int		   deleted;	/* header status="deleted" */
	const char *const *sets;	/* setSpec values in order */
	size_t		   nsets;
	/*
	 * The single element child of <metadata>, serialized verbatim with
	 * every in-scope namespace declared on its root, so that it stands
	 * alone.  NULL for deleted records, headers and a missing <metadata>.
	 */
	const char *metadata;
	size_t	    metadata_len;
	/* What its format's extractor found; NULL with no metadata. */
	const struct oai_format *format;
	const struct oai_field	*fields;
	size_t			 nfields;
};

/* Bytes of a rejected record's XML handed to on_reject; the rest is cut. */
#define OAI_REJECT_MAX (1024 * 1024)

/*
 * A record (or ListIdentifiers header) that was skipped; valid only during
 * the callback.
 */
struct oai_reject {
	const char *identifier; /* trimmed; NULL when none was found */
	const char *datestamp;	/* trimmed, as sent (maybe invalid);
					   NULL when none was found */
	const char *cause;	/* one line, "line N: ..." */
	/*
	 * The whole <record> (or <header>) element, serialized as metadata
	 * is, with every namespace in scope declared on its root, so that it
	 * parses alone: NUL-terminated, at most OAI_REJECT_MAX bytes.
	 */
	const char *raw;
	size_t	    raw_len;
	int	    truncated; /* raw was cut short: not well-formed */
};

/* Identify, with values trimmed; NULL when the element was absent. */
struct oai_identify {
	const char	  *repository_name;
	const char	  *base_url;
	const char	  *protocol_version;
	const char	  *earliest_datestamp;
	const char	  *deleted_record; /* no|transient|persistent */
	const char	  *granularity;
	const char *const *admin_emails;
	size_t		   nadmin_emails;
	const char *const *compressions;
	size_t		   ncompressions;
};

/*
 * Callbacks; any may be NULL.  Returning -1 stops the parser, and feed()
 * then fails with the cause "stopped by callback".
 */
struct oai_callbacks {
	int (*on_record)(void *, const struct oai_record *);
	int (*on_identify)(void *, const struct oai_identify *);
	int (*on_format)(
	    void *, const char *prefix, const char *schema, const char *ns);
	int (*on_set)(void *, const char *spec, const char *name);
	/* A bad record, skipped; the page goes on. */
	int (*on_reject)(void *, const struct oai_reject *);
};

/* The resumptionToken of a list response. */
struct oai_token {
	int	    present;		/* the element was there */
	const char *value;		/* trimmed; NULL when absent or empty */
	long long   cursor;		/* -1 when not given or not a number */
	long long   complete_list_size; /* -1 likewise */
	const char *expiration_date;	/* NULL when not given */
};

struct oai_parser;

struct oai_parser *oai_parser_new(const struct oai_callbacks *, void *arg);
void		   oai_parser_free(struct oai_parser *);

/*
 * Feed len bytes (any chunk size, even 1).  Return 0, or -1 when the document
 * is malformed, hostile, not OAI-PMH, over a limit, or a callback stopped it;
 * oai_parser_cause() then says why.  Once failed it stays failed.
 */
int oai_parser_feed(struct oai_parser *, const char *, size_t);
/* End of input: returns -1 when the document is incomplete or malformed. */
int oai_parser_finish(struct oai_parser *);

/* A one-line description of the failure, e.g. "line 3: ...". */
const char *oai_parser_cause(const struct oai_parser *);

/* What the response said, valid until oai_parser_free(). */
enum oai_verb oai_parser_verb(const struct oai_parser *);
const char   *oai_parser_response_date(const struct oai_parser *);
/* The first <error>'s code and message, or NULL. */
const char	       *oai_parser_error_code(const struct oai_parser *);
const char	       *oai_parser_error_message(const struct oai_parser *);
const struct oai_token *oai_parser_token(const struct oai_parser *);
/* Records (or headers) delivered through on_record so far. */
size_t oai_parser_nrecords(const struct oai_parser *);
/*
 * Repairs made to the input: C0 control bytes dropped, invalid UTF-8
 * sequences and U+FFFE/U+FFFF replaced, forbidden character references
 * rewritten; each counts one.
 */
size_t oai_parser_repairs(const struct oai_parser *);
/* Records (or headers) handed to on_reject so far. */
size_t oai_parser_nrejects(const struct oai_parser *);
/* Records (or headers) delivered whose datestamp had to be normalized. */
size_t oai_parser_normalized(const struct oai_parser *);

#endif
