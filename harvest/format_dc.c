/*
 * Dublin Core: the 15 elements of the DCMES in namespace DC_NS, wherever
 * they are in the metadata and whatever its root (oai_dc, and qualified DC
 * and the like, which carry dc: elements beside their own), each element's
 * text (outer whitespace trimmed, empty ones dropped) with its xml:lang.
 * A DC element inside another is part of the outer one's text.
 */
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "oh_limits.h"
#include "util.h"

#define OAI_DC_NS "http://www.openarchives.org/OAI/2.0/oai_dc/"
#define DC_NS	  "http://purl.org/dc/elements/1.1/"

/* In the order of the DCMES. */
static const char *const dc_fields[] = {
	"title",
	"creator",
	"subject",
	"description",
	"publisher",
	"contributor",
	"date",
	"type",
	"format",
	"identifier",
	"source",
	"language",
	"relation",
	"coverage",
	"rights",
};

/*
 * Where to look a local name up, by its first letter: indices into
 * dc_fields plus one, 0 ending the list.  Every element in DC_NS goes
 * through this.
 */
static const unsigned char dc_by_first[26][4] = {
	['c' - 'a'] = { 2, 6, 14 }, /* creator, contributor, coverage */
	['d' - 'a'] = { 4, 7 },	    /* description, date */
	['f' - 'a'] = { 9 },	    /* format */
	['i' - 'a'] = { 10 },	    /* identifier */
	['l' - 'a'] = { 12 },	    /* language */
	['p' - 'a'] = { 5 },	    /* publisher */
	['r' - 'a'] = { 13, 15 },   /* relation, rights */
	['s' - 'a'] = { 3, 11 },    /* subject, source */
	['t' - 'a'] = { 1, 8 },	    /* title, type */
};

/* The DC element open, if any. */
struct dc_state {
	unsigned int depth;   /* its depth; 0: none */
	int	     element; /* index in dc_fields */
	int	     line;
	struct buf   text;
	struct buf   lang;
	int	     has_lang;
};

static int   dc_lookup(const char *);
static void *dc_new(void);
static void  dc_free(void *);
static void  dc_begin(void *);
static void  dc_start(struct oai_parser *, void *, const struct format_elem *);
static void  dc_text(struct oai_parser *, void *, const char *, size_t);
static void  dc_end(struct oai_parser *, void *, unsigned int);

static const struct format_ops dc_ops = {
	dc_new,
	dc_free,
	dc_begin,
	dc_start,
	dc_text,
	dc_end,
};

const struct oai_format format_dc = {
	"dc",
	"Dublin Core",
	"oai_dc",
	OAI_DC_NS,
	FORMAT_ANY_ROOT,
	dc_fields,
	nitems(dc_fields),
	&dc_ops,
};

/* The index of a DCMES local name in dc_fields, or -1. */
static int
dc_lookup(const char *name)
{
	const unsigned char *c;
	size_t		     i;

	if (name[0] < 'a' || name[0] > 'z')
		return -1;
	c = dc_by_first[name[0] - 'a'];
	for (i = 0; i < nitems(dc_by_first[0]) && c[i] != 0; i++)
		if (strcmp(name, dc_fields[c[i] - 1]) == 0)
			return c[i] - 1;
	return -1;
}

static void *
dc_new(void)
{
	struct dc_state *st;

	st = xcalloc(1, sizeof(*st));
	buf_init(&st->text, MAX_VALUE_BYTES);
	buf_init(&st->lang, MAX_VALUE_BYTES);
	return st;
}

static void
dc_free(void *arg)
{
	struct dc_state *st = arg;

	if (st == NULL)
		return;
	buf_free(&st->text);
	buf_free(&st->lang);
	free(st);
}

static void
dc_begin(void *arg)
{
	struct dc_state *st = arg;

	st->depth = 0;
}

static void
dc_start(struct oai_parser *p, void *arg, const struct format_elem *e)
{
	struct dc_state *st = arg;
	const char	*v;
	char		*lang;
	size_t		 n;
	int		 el, rc, bad;

	if (st->depth != 0 || e->uri == NULL || strcmp(e->uri, DC_NS) != 0 ||
	    (el = dc_lookup(e->name)) == -1)
		return;
	st->depth = e->depth;
	/* Nothing more of a bad record is kept. */
	if (!(bad = format_record_bad(p)))
		format_want_text(p, 1);
	st->element = el;
	st->line = format_line(p);
	buf_reset(&st->text);
	buf_reset(&st->lang);
	st->has_lang = format_attr(e, "lang", FORMAT_XML_NS, &v, &n) && n > 0;
	if (st->has_lang && !bad) {
		lang = format_attr_strndup(v, n);
		rc = buf_addstr(&st->lang, lang);
		free(lang);
		if (rc == -1)
			format_bad(p,
			    "line %d: xml:lang over MAX_VALUE_BYTES "
			    "(%zu)",
			    st->line, (size_t)MAX_VALUE_BYTES);
	}
}

static void
dc_text(struct oai_parser *p, void *arg, const char *s, size_t n)
{
	struct dc_state *st = arg;

	/*
	 * Called only inside an element, in a good record.  Past its limit
	 * a record is bad: nothing more of it is kept.
	 */
	if (buf_add(&st->text, s, n) == -1)
		format_bad(p,
		    "line %d: <dc:%s> text over MAX_VALUE_BYTES "
		    "(%zu)",
		    st->line, dc_fields[st->element], (size_t)MAX_VALUE_BYTES);
}

static void
dc_end(struct oai_parser *p, void *arg, unsigned int depth)
{
	struct dc_state *st = arg;
	const char	*s;
	size_t		 n;

	if (st->depth != depth)
		return;
	st->depth = 0;
	format_want_text(p, 0);
	/* Nothing of a bad record is delivered. */
	if (format_record_bad(p))
		return;
	format_trim(buf_str(&st->text), st->text.len, &s, &n);
	if (n == 0)
		return;
	(void)format_yield(p, st->line, dc_fields[st->element], s, n,
	    st->has_lang ? st->lang.data : NULL, st->lang.len);
}
