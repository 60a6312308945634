/*
 * OAI-PMH 2.0 for the synthetic corpus: the six verbs, selective harvesting,
 * paging with resumption tokens, and the error conditions of section 3.6 of
 * the specification.  Argument checking and the response envelope are shared
 * with the recorded pages (pages.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "server.h"

#define XML_HEAD \
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" \
	"<OAI-PMH xmlns=\"http://www.openarchives.org/OAI/2.0/\" " \
	"xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" " \
	"xsi:schemaLocation=\"http://www.openarchives.org/OAI/2.0/ " \
	"http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd\">\n"
#define XML_TAIL "</OAI-PMH>\n"

#define TOKEN_MAGIC "oh1:"
#define TOKEN_MAX   512

/* A datestamp no parser should accept (MUT_BADDATE). */
#define BAD_DATESTAMP "2015-13-45T99:99:99Z"

enum arg {
	ARG_VERB,
	ARG_IDENTIFIER,
	ARG_PREFIX,
	ARG_FROM,
	ARG_UNTIL,
	ARG_SET,
	ARG_TOKEN,
	ARG_N
};
#define A(a) (1U << (a))

static const char *const arg_names[ARG_N] = {
	"verb",
	"identifier",
	"metadataPrefix",
	"from",
	"until",
	"set",
	"resumptionToken",
};

struct format;

struct ctx {
	struct corpus	  *c;
	const struct form *f;
	const char	  *baseurl;
	size_t		   page_size;
	enum oaipmh_verb   verb;
	struct evbuffer	  *out;
	struct dc_rec	   dc;
	struct oaipmh_mut *mut; /* a body fault, or NULL */
	size_t		   k;	/* the record's place in its page */
};

/* A list request, from its arguments or from its resumption token. */
struct listq {
	size_t		     fmt;
	struct corpus_filter filter;
	int		     has_from;
	int		     has_until;
	size_t		     next;
	size_t		     cursor;
};

/* Verbs */
static void v_identify(struct ctx *);
static void v_formats(struct ctx *);
static void v_sets(struct ctx *);
static void v_list(struct ctx *);
static void v_getrecord(struct ctx *);

/* Output */
static void envelope(struct evbuffer *, const char *, const struct form *, int);
static void head(struct ctx *);
static void tail(struct ctx *);
static void fail(struct ctx *, const char *, const char *, ...)
    __printflike(3, 4);
static int  mut_here(struct ctx *, enum oaipmh_mut_kind);
static void render_header(struct ctx *, size_t, const struct corpus_rec *);
static void render_metadata(struct ctx *, size_t, const struct format *, int);
static void render_record(struct ctx *, size_t, size_t);
static void render_token(struct ctx *, long long, size_t, const char *);

/* Arguments */
static int  valid_text(const char *);
static void safe_copy(char *, size_t, const char *);
static int  format_lookup(const char *, size_t *);
static int  parse_bounds(struct ctx *, struct listq *);
static void token_make(
    const struct ctx *, const struct listq *, char *, size_t);
static int token_parse(const struct ctx *, const char *, struct listq *);

static const struct verb {
	const char  *name;
	unsigned int required;
	unsigned int optional;
	unsigned int exclusive;
	void (*fn)(struct ctx *);
} verbs[] = {
	[VERB_IDENTIFY] = { "Identify", 0, 0, 0, v_identify },
	[VERB_LISTMETADATAFORMATS] = { "ListMetadataFormats", 0,
	    A(ARG_IDENTIFIER), 0, v_formats },
	[VERB_LISTSETS] = { "ListSets", 0, 0, A(ARG_TOKEN), v_sets },
	[VERB_LISTIDENTIFIERS] = { "ListIdentifiers", A(ARG_PREFIX),
	    A(ARG_FROM) | A(ARG_UNTIL) | A(ARG_SET), A(ARG_TOKEN), v_list },
	[VERB_LISTRECORDS] = { "ListRecords", A(ARG_PREFIX),
	    A(ARG_FROM) | A(ARG_UNTIL) | A(ARG_SET), A(ARG_TOKEN), v_list },
	[VERB_GETRECORD] = { "GetRecord", A(ARG_IDENTIFIER) | A(ARG_PREFIX), 0,
	    0, v_getrecord },
};

/* The tag of each DC element in a format, or NULL when it has none. */
static const char *const oai_dc_tags[DC_NELEMS] = {
	"dc:title",
	"dc:creator",
	"dc:subject",
	"dc:description",
	"dc:publisher",
	"dc:contributor",
	"dc:date",
	"dc:type",
	"dc:format",
	"dc:identifier",
	"dc:source",
	"dc:language",
	"dc:relation",
	"dc:coverage",
	"dc:rights",
};
static const char *const qdc_tags[DC_NELEMS] = {
	[DC_TITLE] = "dc:title",
	[DC_CREATOR] = "dc:creator",
	[DC_DESCRIPTION] = "dcterms:abstract",
};
static const char *const rdc_tags[DC_NELEMS] = {
	[DC_TITLE] = "dc:title",
	[DC_SUBJECT] = "dc:subject",
	[DC_DATE] = "dc:date",
};

/*
 * The root element's attributes, name and value in turn, in the order of
 * format.open: what /control/xml-style writes in other orders and ways.
 */
static const char *const oai_dc_attrs[] = {
	"xmlns:oai_dc",
	"http://www.openarchives.org/OAI/2.0/oai_dc/",
	"xmlns:dc",
	"http://purl.org/dc/elements/1.1/",
	"xmlns:xsi",
	"http://www.w3.org/2001/XMLSchema-instance",
	"xsi:schemaLocation",
	"http://www.openarchives.org/OAI/2.0/oai_dc/ "
	"http://www.openarchives.org/OAI/2.0/oai_dc.xsd",
	NULL,
};
static const char *const qdc_attrs[] = {
	"xmlns:qdc",
	"http://oaiharvest.test/qdc/",
	"xmlns:dc",
	"http://purl.org/dc/elements/1.1/",
	"xmlns:dcterms",
	"http://purl.org/dc/terms/",
	"xmlns:xsi",
	"http://www.w3.org/2001/XMLSchema-instance",
	"xsi:schemaLocation",
	"http://oaiharvest.test/qdc/ "
	"http://oaiharvest.test/qdc/qdc.xsd",
	NULL,
};
static const char *const rdc_attrs[] = {
	"xmlns:rdc",
	"http://oaiharvest.test/rdc/",
	"xmlns:dc",
	"http://purl.org/dc/elements/1.1/",
	NULL,
};

static const struct format {
	const char	  *prefix;
	const char	  *schema;
	const char	  *ns;
	const char	  *open;
	const char	  *close;
	const char *const *tags;
	const char	  *root;
	const char *const *attrs;
} formats[] = {
	{ "oai_dc", "http://www.openarchives.org/OAI/2.0/oai_dc.xsd",
	    "http://www.openarchives.org/OAI/2.0/oai_dc/",
	    "<oai_dc:dc "
	    "xmlns:oai_dc=\"http://www.openarchives.org/OAI/2.0/oai_dc/\" "
	    "xmlns:dc=\"http://purl.org/dc/elements/1.1/\" "
	    "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
	    "xsi:schemaLocation=\"http://www.openarchives.org/OAI/2.0/oai_dc/ "
	    "http://www.openarchives.org/OAI/2.0/oai_dc.xsd\">\n",
	    "</oai_dc:dc>\n", oai_dc_tags, "oai_dc:dc", oai_dc_attrs },
	{ "qdc", "http://oaiharvest.test/qdc/qdc.xsd",
	    "http://oaiharvest.test/qdc/",
	    "<qdc:qdc xmlns:qdc=\"http://oaiharvest.test/qdc/\" "
	    "xmlns:dc=\"http://purl.org/dc/elements/1.1/\" "
	    "xmlns:dcterms=\"http://purl.org/dc/terms/\" "
	    "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
	    "xsi:schemaLocation=\"http://oaiharvest.test/qdc/ "
	    "http://oaiharvest.test/qdc/qdc.xsd\">\n",
	    "</qdc:qdc>\n", qdc_tags, "qdc:qdc", qdc_attrs },
	{ "rdc", "http://oaiharvest.test/rdc/rdc.xsd",
	    "http://oaiharvest.test/rdc/",
	    "<rdc:rdc xmlns:rdc=\"http://oaiharvest.test/rdc/\" "
	    "xmlns:dc=\"http://purl.org/dc/elements/1.1/\">\n",
	    "</rdc:rdc>\n", rdc_tags, "rdc:rdc", rdc_attrs },
};

static const char *const gran_names[] = {
	[GRAN_DAY] = "YYYY-MM-DD",
	[GRAN_SECONDS] = "YYYY-MM-DDThh:mm:ssZ",
};

/* What XML text and attribute values must not carry literally. */
static const char *const text_ent[256] = {
	['&'] = "&amp;",
	['<'] = "&lt;",
	['>'] = "&gt;",
};
static const char *const attr_ent[256] = {
	['&'] = "&amp;",
	['<'] = "&lt;",
	['>'] = "&gt;",
	['"'] = "&quot;",
	['\t'] = "&#9;",
	['\n'] = "&#10;",
	['\r'] = "&#13;",
};

/* Output */

void
xml_escape(struct evbuffer *out, const char *s, size_t len, int attr)
{
	const char *const *ent = attr ? attr_ent : text_ent;
	const char	  *e;
	size_t		   i, start = 0;

	for (i = 0; i < len; i++) {
		if ((e = ent[(unsigned char)s[i]]) == NULL)
			continue;
		evbuffer_add(out, s + start, i - start);
		evbuffer_add(out, e, strlen(e));
		start = i + 1;
	}
	evbuffer_add(out, s + start, len - start);
}

/*
 * The envelope up to the verb's element.  After badVerb or badArgument the
 * request element carries no attributes (section 3.2).
 */
static void
envelope(
    struct evbuffer *out, const char *baseurl, const struct form *f, int echo)
{
	char	    now[DATESTAMP_LEN];
	const char *v;
	size_t	    i;

	datestamp_now(now);
	evbuffer_add_printf(out,
	    XML_HEAD "<responseDate>%s</responseDate>\n"
		     "<request",
	    now);
	for (i = 0; echo && i < ARG_N; i++) {
		if ((v = form_get(f, arg_names[i])) == NULL)
			continue;
		evbuffer_add_printf(out, " %s=\"", arg_names[i]);
		xml_escape(out, v, strlen(v), 1);
		evbuffer_add(out, "\"", 1);
	}
	evbuffer_add(out, ">", 1);
	xml_escape(out, baseurl, strlen(baseurl), 0);
	evbuffer_add_printf(out, "</request>\n");
}

static void
head(struct ctx *x)
{
	envelope(x->out, x->baseurl, x->f, 1);
	evbuffer_add_printf(x->out, "<%s>\n", verbs[x->verb].name);
}

static void
tail(struct ctx *x)
{
	evbuffer_add_printf(x->out, "</%s>\n" XML_TAIL, verbs[x->verb].name);
}

void
oaipmh_error_response(struct evbuffer *out, const char *baseurl,
    const struct form *f, const struct oaipmh_error *err)
{
	int echo;

	echo = strcmp(err->code, "badVerb") != 0 &&
	    strcmp(err->code, "badArgument") != 0;
	envelope(out, baseurl, f, echo);
	evbuffer_add_printf(out, "<error code=\"%s\">", err->code);
	xml_escape(out, err->msg, strlen(err->msg), 0);
	evbuffer_add_printf(out, "</error>\n" XML_TAIL);
}

static void
fail(struct ctx *x, const char *code, const char *fmt, ...)
{
	struct oaipmh_error err;
	va_list		    ap;

	err.code = code;
	va_start(ap, fmt);
	vsnprintf(err.msg, sizeof(err.msg), fmt, ap);
	va_end(ap);
	oaipmh_error_response(x->out, x->baseurl, x->f, &err);
}

/*
 * Whether the record being rendered (the k-th of the page) is the one a body
 * fault aims at: the first at or after mut->record that can carry it, so
 * that a deleted record (no metadata) passes it on to the next.
 */
static int
mut_here(struct ctx *x, enum oaipmh_mut_kind kind)
{
	return x->mut != NULL && x->mut->kind == kind && !x->mut->applied &&
	    x->k >= x->mut->record;
}

static void
render_header(struct ctx *x, size_t i, const struct corpus_rec *r)
{
	char   id[64], ds[SRV_DATESTAMP_LEN], spec[32];
	int    sets[2], noid, baddate;
	size_t n, j;

	noid = mut_here(x, MUT_NOID);
	baddate = mut_here(x, MUT_BADDATE);
	corpus_identifier(i, id, sizeof(id));
	corpus_datestamp(x->c, r->datestamp, ds);
	evbuffer_add_printf(
	    x->out, "<header%s>", r->deleted ? " status=\"deleted\"" : "");
	if (!noid)
		evbuffer_add_printf(x->out, "<identifier>%s</identifier>", id);
	evbuffer_add_printf(
	    x->out, "<datestamp>%s</datestamp>", baddate ? BAD_DATESTAMP : ds);
	if (noid || baddate)
		x->mut->applied = 1;
	n = corpus_rec_sets(x->c, i, sets);
	for (j = 0; j < n; j++) {
		corpus_set_spec(x->c, sets[j], spec, sizeof(spec));
		evbuffer_add_printf(x->out, "<setSpec>%s</setSpec>", spec);
	}
	evbuffer_add(x->out, "</header>", 9);
}

/*
 * The root element's start tag in xml style k > 0: the same attributes and
 * namespace declarations, rotated (and every other time reversed), in
 * single or double quotes, with other white space between them, and a
 * comment after it.  Equal to style 0 under C14N: only the text between
 * elements is kept as it is.
 */
static void
styled_open(struct ctx *x, const struct format *f, unsigned int k)
{
	static const char *const seps[] = { " ", "\n  ", "\t", "  \n\t" };
	const char		*sep = seps[k % nitems(seps)];
	char			 q = k % 2 ? '\'' : '"';
	size_t			 n, a, j;

	for (n = 0; f->attrs[2 * n] != NULL; n++)
		;
	evbuffer_add_printf(x->out, "<%s", f->root);
	for (j = 0; j < n; j++) {
		a = (j + k) % n;
		if ((k / n) % 2)
			a = n - 1 - a;
		evbuffer_add_printf(x->out, "%s%s=%c", sep, f->attrs[2 * a], q);
		xml_escape(x->out, f->attrs[2 * a + 1],
		    strlen(f->attrs[2 * a + 1]), 1);
		evbuffer_add(x->out, &q, 1);
	}
	evbuffer_add_printf(
	    x->out, "%s><!-- xml style %u -->\n", k % 3 == 0 ? "" : sep, k);
}

/*
 * The metadata element's content.  With inject, the fault's raw bytes go
 * into the description after its first word, unescaped: that is the fault.
 */
static void
render_metadata(struct ctx *x, size_t i, const struct format *f, int inject)
{
	const struct dc_value *v;
	const char	      *text, *sp;
	size_t		       j, cut;
	unsigned int	       k = corpus_xml_style(x->c);
	char		       q = k % 2 ? '\'' : '"';

	if (k == 0)
		evbuffer_add(x->out, f->open, strlen(f->open));
	else
		styled_open(x, f, k);
	corpus_dc(x->c, i, &x->dc);
	for (j = 0; j < x->dc.n; j++) {
		v = &x->dc.v[j];
		if (f->tags[v->elem] == NULL)
			continue;
		evbuffer_add_printf(x->out, "<%s", f->tags[v->elem]);
		if (v->lang != NULL)
			evbuffer_add_printf(x->out, "%sxml:lang=%c%s%c",
			    k % 3 == 2 ? "\n " : " ", q, v->lang, q);
		if (k % 4 == 3)
			evbuffer_add(x->out, " ", 1);
		evbuffer_add(x->out, ">", 1);
		text = x->dc.text.data + v->off;
		if (inject && v->elem == DC_DESCRIPTION) {
			sp = memchr(text, ' ', v->len);
			cut = sp != NULL ? (size_t)(sp - text) + 1 : 0;
			xml_escape(x->out, text, cut, 0);
			evbuffer_add(
			    x->out, x->mut->bytes, strlen(x->mut->bytes));
			xml_escape(x->out, text + cut, v->len - cut, 0);
			x->mut->applied = 1;
			inject = 0;
		} else
			xml_escape(x->out, text, v->len, 0);
		evbuffer_add_printf(
		    x->out, "</%s%s>\n", f->tags[v->elem], k % 2 ? " " : "");
	}
	evbuffer_add(x->out, f->close, strlen(f->close));
}

static void
render_record(struct ctx *x, size_t i, size_t fmt)
{
	const struct format *f = &formats[fmt];
	struct corpus_rec    r;
	int		     tworoots;

	corpus_get(x->c, i, &r);
	evbuffer_add(x->out, "<record>", 8);
	render_header(x, i, &r);
	if (!r.deleted) {
		tworoots = mut_here(x, MUT_TWOROOTS);
		evbuffer_add(x->out, "<metadata>\n", 11);
		render_metadata(x, i, f, mut_here(x, MUT_INJECT));
		if (tworoots) {
			render_metadata(x, i, f, 0);
			x->mut->applied = 1;
		}
		evbuffer_add(x->out, "</metadata>", 11);
	}
	evbuffer_add(x->out, "</record>\n", 10);
}

/* A resumptionToken element: empty when tok is NULL. */
static void
render_token(struct ctx *x, long long size, size_t cursor, const char *tok)
{
	evbuffer_add_printf(x->out,
	    "<resumptionToken "
	    "completeListSize=\"%lld\" cursor=\"%zu\"",
	    size, cursor);
	if (tok == NULL) {
		evbuffer_add_printf(x->out, "/>\n");
		return;
	}
	evbuffer_add(x->out, ">", 1);
	xml_escape(x->out, tok, strlen(tok), 0);
	evbuffer_add_printf(x->out, "</resumptionToken>\n");
}

/* Arguments */

/*
 * Argument values are echoed in the response; control characters and
 * malformed UTF-8 cannot appear in XML 1.0 at all, so they are illegal.
 */
static int
valid_text(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t		     n, k;

	while (*p != '\0') {
		if (*p < 0x20 || *p == 0x7f)
			return 0;
		if (*p < 0x80) {
			p++;
			continue;
		}
		if (*p >= 0xc2 && *p <= 0xdf)
			n = 1;
		else if (*p >= 0xe0 && *p <= 0xef)
			n = 2;
		else if (*p >= 0xf0 && *p <= 0xf4)
			n = 3;
		else
			return 0;
		for (k = 1; k <= n; k++)
			if ((p[k] & 0xc0) != 0x80)
				return 0;
		p += n + 1;
	}
	return 1;
}

/* A client's string inside an error message: short, printable ASCII. */
static void
safe_copy(char *out, size_t len, const char *s)
{
	size_t i;

	for (i = 0; i + 1 < len && i < 64 && s[i] != '\0'; i++)
		out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	out[i] = '\0';
}

const char *
oaipmh_verb_name(enum oaipmh_verb v)
{
	return verbs[v].name;
}

/*
 * The checks every verb shares: a single known verb, known arguments, none
 * repeated, the required ones present, and an exclusive one (the
 * resumptionToken) alone.
 */
int
oaipmh_check(
    const struct form *f, enum oaipmh_verb *verb, struct oaipmh_error *err)
{
	const char  *v;
	char	     name[80];
	unsigned int present = 0, allowed;
	size_t	     i, a;

	err->code = "badVerb";
	if ((v = form_get(f, "verb")) == NULL) {
		snprintf(err->msg, sizeof(err->msg), "missing verb argument");
		return -1;
	}
	if (form_count(f, "verb") > 1) {
		snprintf(err->msg, sizeof(err->msg), "repeated verb argument");
		return -1;
	}
	for (i = 0; i < nitems(verbs); i++)
		if (strcmp(v, verbs[i].name) == 0)
			break;
	if (i == nitems(verbs)) {
		safe_copy(name, sizeof(name), v);
		snprintf(
		    err->msg, sizeof(err->msg), "illegal verb \"%s\"", name);
		return -1;
	}
	*verb = (enum oaipmh_verb)i;
	allowed = A(ARG_VERB) | verbs[i].required | verbs[i].optional |
	    verbs[i].exclusive;

	err->code = "badArgument";
	for (i = 0; i < f->n; i++) {
		safe_copy(name, sizeof(name), f->args[i].name);
		for (a = 0; a < ARG_N; a++)
			if (strcmp(f->args[i].name, arg_names[a]) == 0)
				break;
		if (a == ARG_N || (allowed & A(a)) == 0) {
			snprintf(err->msg, sizeof(err->msg),
			    "illegal argument \"%s\" for %s", name,
			    verbs[*verb].name);
			return -1;
		}
		if (present & A(a)) {
			snprintf(err->msg, sizeof(err->msg),
			    "repeated argument \"%s\"", name);
			return -1;
		}
		if (!valid_text(f->args[i].value)) {
			snprintf(err->msg, sizeof(err->msg),
			    "argument \"%s\" has illegal characters", name);
			return -1;
		}
		present |= A(a);
	}
	if (present & verbs[*verb].exclusive) {
		if (present & ~(A(ARG_VERB) | verbs[*verb].exclusive)) {
			snprintf(err->msg, sizeof(err->msg),
			    "resumptionToken is an exclusive argument");
			return -1;
		}
		return 0;
	}
	for (a = 0; a < ARG_N; a++) {
		if ((verbs[*verb].required & A(a)) && !(present & A(a))) {
			snprintf(err->msg, sizeof(err->msg),
			    "missing argument \"%s\"", arg_names[a]);
			return -1;
		}
	}
	return 0;
}

static int
format_lookup(const char *prefix, size_t *fmt)
{
	size_t i;

	for (i = 0; i < nitems(formats); i++) {
		if (strcmp(prefix, formats[i].prefix) == 0) {
			*fmt = i;
			return 0;
		}
	}
	return -1;
}

/*
 * from and until: inclusive, both of one granularity, no finer than the
 * repository's.  A day-granularity until covers the whole day.
 */
static int
parse_bounds(struct ctx *x, struct listq *q)
{
	const char	    *from, *until;
	enum oai_granularity gf = GRAN_DAY, gu = GRAN_DAY;
	enum oai_granularity gran = corpus_granularity(x->c);
	time_t		     t;

	from = form_get(x->f, "from");
	until = form_get(x->f, "until");
	q->filter.from = (time_t)INT64_MIN;
	q->filter.until = (time_t)INT64_MAX;
	if (from != NULL) {
		if (datestamp_parse(from, &t, &gf) == -1) {
			fail(x, "badArgument", "from is not a datestamp");
			return -1;
		}
		q->filter.from = t;
		q->has_from = 1;
	}
	if (until != NULL) {
		if (datestamp_parse(until, &t, &gu) == -1) {
			fail(x, "badArgument", "until is not a datestamp");
			return -1;
		}
		q->filter.until = t;
		q->has_until = 1;
	}
	if ((from != NULL && gf > gran) || (until != NULL && gu > gran)) {
		fail(x, "badArgument", "the repository's granularity is %s",
		    gran_names[gran]);
		return -1;
	}
	if (from != NULL && until != NULL && gf != gu) {
		fail(x, "badArgument",
		    "from and until have different granularities");
		return -1;
	}
	if (from != NULL && until != NULL && q->filter.from > q->filter.until) {
		fail(x, "badArgument", "from is later than until");
		return -1;
	}
	if (until != NULL && gu == GRAN_DAY)
		q->filter.until += 86399;
	return 0;
}

/*
 * "oh1:PREFIX/SET/FROM/UNTIL/NEXT+CURSOR=CHECK": FROM and UNTIL are the
 * inclusive bounds in seconds (empty when absent), NEXT the index of the
 * first record of the page, CURSOR its offset in the list, CHECK a hash of
 * the rest and the seed.  Opaque to clients, and full of characters that
 * must be URL-encoded.
 */
static void
token_make(const struct ctx *x, const struct listq *q, char *out, size_t len)
{
	char	 from[24] = "", until[24] = "", set[32] = "";
	uint64_t h, seed = corpus_seed(x->c);
	int	 n;

	if (q->has_from)
		snprintf(from, sizeof(from), "%lld", (long long)q->filter.from);
	if (q->has_until)
		snprintf(
		    until, sizeof(until), "%lld", (long long)q->filter.until);
	if (q->filter.set >= 0)
		corpus_set_spec(x->c, q->filter.set, set, sizeof(set));
	n = snprintf(out, len, TOKEN_MAGIC "%s/%s/%s/%s/%zu+%zu",
	    formats[q->fmt].prefix, set, from, until, q->next, q->cursor);
	if (n < 0 || (size_t)n + 10 >= len)
		fatalx("token_make: token too long");
	h = hash_add(HASH_INIT, &seed, sizeof(seed));
	h = hash_add(h, out, (size_t)n);
	snprintf(out + n, len - n, "=%08x", (unsigned int)(h & 0xffffffff));
}

static int
token_parse(const struct ctx *x, const char *tok, struct listq *q)
{
	char	    body[TOKEN_MAX], *field[5], *p, *plus, check[16];
	const char *errstr, *eq;
	uint64_t    h, seed = corpus_seed(x->c);
	long long   v;
	size_t	    len, i;

	len = strlen(tok);
	if (len >= sizeof(body) || (eq = strrchr(tok, '=')) == NULL)
		return -1;
	len = eq - tok;
	memcpy(body, tok, len);
	body[len] = '\0';
	h = hash_add(HASH_INIT, &seed, sizeof(seed));
	h = hash_add(h, body, len);
	snprintf(check, sizeof(check), "%08x", (unsigned int)(h & 0xffffffff));
	if (strcmp(check, eq + 1) != 0)
		return -1;
	if (strncmp(body, TOKEN_MAGIC, sizeof(TOKEN_MAGIC) - 1) != 0)
		return -1;
	p = body + sizeof(TOKEN_MAGIC) - 1;
	for (i = 0; i < nitems(field); i++) {
		field[i] = p;
		if (i + 1 < nitems(field)) {
			if ((p = strchr(p, '/')) == NULL)
				return -1;
			*p++ = '\0';
		}
	}
	if (format_lookup(field[0], &q->fmt) == -1)
		return -1;
	q->filter.set = -1;
	if (*field[1] != '\0' &&
	    (q->filter.set = corpus_set_lookup(x->c, field[1])) < 0)
		return -1;
	q->filter.from = (time_t)INT64_MIN;
	q->filter.until = (time_t)INT64_MAX;
	if ((q->has_from = *field[2] != '\0')) {
		if (parse_ll(field[2], INT64_MIN, INT64_MAX, &v, &errstr) == -1)
			return -1;
		q->filter.from = (time_t)v;
	}
	if ((q->has_until = *field[3] != '\0')) {
		if (parse_ll(field[3], INT64_MIN, INT64_MAX, &v, &errstr) == -1)
			return -1;
		q->filter.until = (time_t)v;
	}
	if ((plus = strchr(field[4], '+')) == NULL)
		return -1;
	*plus++ = '\0';
	if (parse_ll(field[4], 1, SRV_MAX_RECORDS + 1, &v, &errstr) == -1)
		return -1;
	q->next = (size_t)v;
	if (parse_ll(plus, 0, SRV_MAX_RECORDS, &v, &errstr) == -1)
		return -1;
	q->cursor = (size_t)v;
	return 0;
}

/* Verbs */

static void
v_identify(struct ctx *x)
{
	enum oai_granularity gran = corpus_granularity(x->c);
	char		     earliest[DATESTAMP_LEN];

	datestamp_format(corpus_earliest(x->c), gran, earliest);
	head(x);
	evbuffer_add_printf(x->out,
	    "<repositoryName>oaiharvest test "
	    "repository</repositoryName>\n<baseURL>");
	xml_escape(x->out, x->baseurl, strlen(x->baseurl), 0);
	evbuffer_add_printf(x->out,
	    "</baseURL>\n"
	    "<protocolVersion>2.0</protocolVersion>\n"
	    "<adminEmail>admin@oaiharvest.test</adminEmail>\n"
	    "<earliestDatestamp>%s</earliestDatestamp>\n"
	    "<deletedRecord>persistent</deletedRecord>\n"
	    "<granularity>%s</granularity>\n"
	    "<description><oai-identifier "
	    "xmlns=\"http://www.openarchives.org/OAI/2.0/oai-identifier\" "
	    "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
	    "xsi:schemaLocation=\"http://www.openarchives.org/OAI/2.0/"
	    "oai-identifier http://www.openarchives.org/OAI/2.0/"
	    "oai-identifier.xsd\"><scheme>oai</scheme>"
	    "<repositoryIdentifier>oaiharvest.test</repositoryIdentifier>"
	    "<delimiter>:</delimiter>"
	    "<sampleIdentifier>oai:oaiharvest.test:rec/1</sampleIdentifier>"
	    "</oai-identifier></description>\n",
	    earliest, gran_names[gran]);
	tail(x);
}

static void
v_formats(struct ctx *x)
{
	struct corpus_rec r;
	const char	 *id;
	size_t		  i;

	if ((id = form_get(x->f, "identifier")) != NULL) {
		if ((i = corpus_lookup(x->c, id)) == 0) {
			fail(x, "idDoesNotExist", "no such identifier");
			return;
		}
		corpus_get(x->c, i, &r);
		if (r.deleted) {
			fail(x, "noMetadataFormats", "the item is deleted");
			return;
		}
	}
	head(x);
	for (i = 0; i < nitems(formats); i++)
		evbuffer_add_printf(x->out,
		    "<metadataFormat>"
		    "<metadataPrefix>%s</metadataPrefix><schema>%s</schema>"
		    "<metadataNamespace>%s</metadataNamespace>"
		    "</metadataFormat>\n",
		    formats[i].prefix, formats[i].schema, formats[i].ns);
	tail(x);
}

static void
v_sets(struct ctx *x)
{
	char	     spec[32], name[64];
	unsigned int i, n = corpus_nsets(x->c);

	if (n == 0) {
		fail(x, "noSetHierarchy", "this repository has no sets");
		return;
	}
	/* All sets fit on one page, so no token was ever handed out. */
	if (form_get(x->f, "resumptionToken") != NULL) {
		fail(x, "badResumptionToken", "unknown resumptionToken");
		return;
	}
	head(x);
	for (i = 0; i < n; i++) {
		corpus_set_spec(x->c, (int)i, spec, sizeof(spec));
		corpus_set_name(x->c, (int)i, name, sizeof(name));
		evbuffer_add_printf(x->out,
		    "<set><setSpec>%s</setSpec>"
		    "<setName>%s</setName></set>\n",
		    spec, name);
	}
	tail(x);
}

/*
 * ListIdentifiers and ListRecords.  A page holds page_size records in index
 * order; the token remembers where the next page starts, so each page costs
 * a scan from there, not from the beginning.
 */
static void
v_list(struct ctx *x)
{
	struct listq	     q, start;
	struct corpus_rec    r;
	enum oaipmh_mut_kind mk = x->mut != NULL ? x->mut->kind : MUT_NONE;
	const char	    *tok, *prefix, *set;
	char		     next[TOKEN_MAX];
	size_t		     i, total;
	long long	     cls;

	memset(&q, 0, sizeof(q));
	if ((tok = form_get(x->f, "resumptionToken")) != NULL) {
		if (mk == MUT_EXPIRE_TOKEN || mk == MUT_PAST_END) {
			x->mut->applied = 1;
			if (mk == MUT_EXPIRE_TOKEN)
				fail(x, "badResumptionToken",
				    "the resumptionToken has expired");
			else
				fail(x, "noRecordsMatch",
				    "no records match the request");
			return;
		}
		if (token_parse(x, tok, &q) == -1) {
			fail(x, "badResumptionToken",
			    "unknown or expired resumptionToken");
			return;
		}
	} else {
		prefix = form_get(x->f, "metadataPrefix");
		if (format_lookup(prefix, &q.fmt) == -1) {
			fail(x, "cannotDisseminateFormat",
			    "unknown metadataPrefix");
			return;
		}
		if (parse_bounds(x, &q) == -1)
			return;
		q.filter.set = -1;
		if ((set = form_get(x->f, "set")) != NULL) {
			if (corpus_nsets(x->c) == 0) {
				fail(x, "noSetHierarchy",
				    "this repository has no sets");
				return;
			}
			if ((q.filter.set = corpus_set_lookup(x->c, set)) < 0) {
				fail(x, "noRecordsMatch", "no such set");
				return;
			}
		}
		q.next = 1;
		q.cursor = 0;
	}
	if ((i = corpus_next(x->c, q.next, &q.filter)) == 0) {
		fail(x, "noRecordsMatch", "no records match the request");
		return;
	}
	total = corpus_count(x->c, &q.filter);
	cls = (long long)total;
	if (mk == MUT_WRONG_CLS)
		cls += x->mut->delta;
	/* A token made from the page as asked for serves it again. */
	start = q;

	head(x);
	if (mk == MUT_EMPTY_TOKEN) {
		/*
		 * delta > 0: the token's cursor moves on by that much, as from
		 * a server that stamps its tokens: they never repeat, though
		 * the pages stay empty.
		 */
		if (x->mut->delta > 0)
			start.cursor += (size_t)x->mut->delta;
		token_make(x, &start, next, sizeof(next));
		render_token(x, cls, start.cursor, next);
		x->mut->applied = 1;
		tail(x);
		return;
	}
	for (x->k = 0; i != 0 && x->k < x->page_size; x->k++) {
		if (x->verb == VERB_LISTRECORDS)
			render_record(x, i, q.fmt);
		else {
			corpus_get(x->c, i, &r);
			render_header(x, i, &r);
			evbuffer_add(x->out, "\n", 1);
		}
		i = corpus_next(x->c, i + 1, &q.filter);
	}
	if (mk == MUT_SAME_TOKEN) {
		if (tok == NULL)
			token_make(x, &start, next, sizeof(next));
		render_token(x, cls, start.cursor, tok != NULL ? tok : next);
		x->mut->applied = 1;
	} else if (i != 0) {
		q.next = i;
		q.cursor += x->k;
		token_make(x, &q, next, sizeof(next));
		render_token(x, cls, start.cursor, next);
	} else if (q.cursor > 0)
		render_token(x, cls, q.cursor, NULL);
	if (mk == MUT_WRONG_CLS && (i != 0 || q.cursor > 0))
		x->mut->applied = 1;
	tail(x);
}

static void
v_getrecord(struct ctx *x)
{
	size_t i, fmt;

	if ((i = corpus_lookup(x->c, form_get(x->f, "identifier"))) == 0) {
		fail(x, "idDoesNotExist", "no such identifier");
		return;
	}
	if (format_lookup(form_get(x->f, "metadataPrefix"), &fmt) == -1) {
		fail(x, "cannotDisseminateFormat", "unknown metadataPrefix");
		return;
	}
	head(x);
	x->k = 0;
	render_record(x, i, fmt);
	tail(x);
}

/*
 * What a request is, for the fault queue: a list page's index is its
 * cursor over the page size (0 without a token); an unparsable token has
 * none.
 */
void
oaipmh_classify(struct corpus *c, const struct form *f, size_t page_size,
    struct oaipmh_req *rq)
{
	struct oaipmh_error err;
	struct ctx	    x;
	struct listq	    q;
	const char	   *tok;

	memset(rq, 0, sizeof(*rq));
	rq->page = -1;
	if (oaipmh_check(f, &rq->verb, &err) == -1)
		return;
	rq->valid = 1;
	if (rq->verb != VERB_LISTRECORDS && rq->verb != VERB_LISTIDENTIFIERS)
		return;
	rq->list = 1;
	if ((tok = form_get(f, "resumptionToken")) == NULL) {
		rq->page = 0;
		return;
	}
	rq->token = 1;
	memset(&x, 0, sizeof(x));
	memset(&q, 0, sizeof(q));
	x.c = c;
	if (token_parse(&x, tok, &q) == 0)
		rq->page = (long long)(q.cursor / page_size);
}

void
oaipmh_respond(struct corpus *c, const struct form *f, const char *baseurl,
    size_t page_size, struct oaipmh_mut *mut, struct evbuffer *out)
{
	struct ctx	    x;
	struct oaipmh_error err;

	if (oaipmh_check(f, &x.verb, &err) == -1) {
		oaipmh_error_response(out, baseurl, f, &err);
		return;
	}
	x.c = c;
	x.f = f;
	x.baseurl = baseurl;
	x.page_size = page_size;
	x.out = out;
	x.mut = mut;
	x.k = 0;
	dc_init(&x.dc);
	verbs[x.verb].fn(&x);
	dc_free(&x.dc);
}
