/*
 * Metadata formats: what the parser pulls out of a record's metadata, as
 * (field, value, lang) triples, beside keeping the metadata whole.
 *
 * A format is one row of formats[] in format.c: its name, the usual
 * metadataPrefix, the namespace of the metadata root it claims, the names
 * of its fields and an extractor.  When a <metadata> element child opens,
 * the parser picks the row once, by that root's namespace; the extractor
 * then sees every start tag, text and end tag inside it and yields fields
 * with format_yield().  A root no row claims goes to the row marked
 * FORMAT_ANY_ROOT (Dublin Core: its elements are picked up whatever the
 * format, as in qualified DC, RIOXX or DIDL records); a record in which
 * the extractor finds nothing is kept whole, with no fields.
 *
 * To add a format (nothing in store/ changes):
 *   1. harvest/format_NAME.c: its field names (string constants; the store
 *      sees them as they are) and a struct format_ops, using only this
 *      header and common/ (see format_dc.c).  The Makefile picks the file up.
 *   2. In format.c, one row in formats[], and its extern declaration below.
 *
 * What the store makes of a field, by its name alone (store/store.c):
 *   - A name must be a letter, then up to 63 of A-Z a-z 0-9 _ . : -
 *     ("abstract", "mods:note"); store_put() refuses a record with any
 *     other, with a cause naming it.
 *   - The 15 DCMES names ("title", "creator", ...) are Dublin Core in
 *     whatever format they come: kept as DC codes, exported under "dc".
 *     Any other name is kept as it is, exported under "fields", and is
 *     in the dc view by that name.
 *   - Full-text search covers title, creator, subject and description,
 *     the DC names only: name a field so if it should be found by search.
 *   - The content hash is over the metadata, not the fields: a record
 *     whose metadata is unchanged is not rewritten, its stored fields
 *     with it, so records stored before a format was added get its
 *     fields only when they next change.
 *
 * oai.h includes this header: a record says which format its fields are in.
 */
#ifndef OH_FORMAT_H
#define OH_FORMAT_H

#include <stddef.h>

struct oai_parser;

/* A start tag inside <metadata>; valid only during the call. */
struct format_elem {
	const char *name; /* local name */
	const char *uri;  /* namespace URI, or NULL */
	int	    nattrs;
	/* libxml2's SAX2 layout: local name, prefix, URI, value, end. */
	const unsigned char **attrs;
	unsigned int	      depth; /* 1 for the metadata root */
};

/* The namespace of xml:lang. */
#define FORMAT_XML_NS "http://www.w3.org/XML/1998/namespace"

/*
 * An extractor.  state is its own (new() makes it once per parser, free()
 * frees it); begin() is called at each metadata root, before start().
 * text() is called only while the extractor wants it (format_want_text():
 * most text is not in a field, and text is most of the events).
 */
struct format_ops {
	void *(*new)(void);
	void (*free)(void *);
	void (*begin)(void *);
	void (*start)(struct oai_parser *, void *, const struct format_elem *);
	void (*text)(struct oai_parser *, void *, const char *, size_t);
	void (*end)(struct oai_parser *, void *, unsigned int depth);
};

#define FORMAT_ANY_ROOT 0x01 /* also roots no other row claims */

struct oai_format {
	const char		*name;	 /* "dc" */
	const char		*label;	 /* "Dublin Core", for causes */
	const char		*prefix; /* the usual metadataPrefix */
	const char		*ns;	 /* namespace of the root */
	int			 flags;
	const char *const	*fields; /* names, in the format's order */
	size_t			 nfields;
	const struct format_ops *ops;
};

extern const struct oai_format format_dc;

/* The row for a metadata root in namespace uri (may be NULL). */
const struct oai_format *format_find(const char *uri);
/* By name ("dc"), or NULL. */
const struct oai_format *format_by_name(const char *);
size_t			 format_count(void);
/* The row at index i, 0 to format_count() - 1. */
const struct oai_format *format_at(size_t);
/* The row's index in the table, 0 to format_count() - 1. */
size_t format_index(const struct oai_format *);
/* A field's index in f->fields, or -1. */
int format_field(const struct oai_format *, const char *);
/* fields[i], or NULL when i is out of range. */
const char *format_field_name(const struct oai_format *, int);

/* What an extractor may call, on the parser it was given. */

/*
 * Yield one value of field (one of the format's fields[], the same
 * pointer), value and lang as they are (not NUL-terminated; lang NULL for
 * none): the parser trims nothing.  line is where the value began, for
 * causes.  -1 when the record went bad (too many values, too big).
 */
int format_yield(struct oai_parser *, int line, const char *field,
    const char *value, size_t len, const char *lang, size_t langlen);
/*
 * Have text() called from now on, or no longer (the default).  Once the
 * record is bad, it is no longer called.
 */
void format_want_text(struct oai_parser *, int);
/* The line the parser is at. */
int format_line(const struct oai_parser *);
/* The record is bad (the first cause wins): nothing of it is delivered. */
void format_bad(struct oai_parser *, const char *, ...)
    __attribute__((__format__(__printf__, 2, 3)));
/* The record is bad already: keep nothing more of it. */
int format_record_bad(const struct oai_parser *);
/* An attribute of e by local name and namespace URI (NULL: none). */
int format_attr(const struct format_elem *, const char *name, const char *uri,
    const char **v, size_t *n);
/* Copy an attribute value, with libxml2's "&#38;" back to '&'. */
char *format_attr_strndup(const char *, size_t);
/* Without the leading and trailing XML whitespace. */
void format_trim(const char *, size_t, const char **, size_t *);

#endif
