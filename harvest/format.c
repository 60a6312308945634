/*
 * The table of metadata formats, and what their extractors may call on the
 * parser (see format.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/SAX2.h>

#include "format.h"
#include "oai_int.h"

/* Looked up once per <metadata> root; the first match wins. */
static const struct oai_format *const formats[] = {
	&format_dc,
};

const struct oai_format *
format_find(const char *uri)
{
	size_t i;

	if (uri != NULL)
		for (i = 0; i < nitems(formats); i++)
			if (formats[i]->ns != NULL &&
			    strcmp(uri, formats[i]->ns) == 0)
				return formats[i];
	for (i = 0; i < nitems(formats); i++)
		if (formats[i]->flags & FORMAT_ANY_ROOT)
			return formats[i];
	return NULL;
}

const struct oai_format *
format_by_name(const char *name)
{
	size_t i;

	for (i = 0; i < nitems(formats); i++)
		if (strcmp(name, formats[i]->name) == 0)
			return formats[i];
	return NULL;
}

size_t
format_count(void)
{
	return nitems(formats);
}

const struct oai_format *
format_at(size_t i)
{
	if (i >= nitems(formats))
		fatalx("%s: %zu out of range", __func__, i);
	return formats[i];
}

size_t
format_index(const struct oai_format *f)
{
	size_t i;

	for (i = 0; i < nitems(formats); i++)
		if (formats[i] == f)
			return i;
	fatalx("%s: format %s not in the table", __func__, f->name);
}

int
format_field(const struct oai_format *f, const char *name)
{
	size_t i;

	if (name == NULL)
		return -1;
	for (i = 0; i < f->nfields; i++)
		if (f->fields[i][0] == name[0] &&
		    strcmp(name, f->fields[i]) == 0)
			return (int)i;
	return -1;
}

const char *
format_field_name(const struct oai_format *f, int i)
{
	if (i < 0 || (size_t)i >= f->nfields)
		return NULL;
	return f->fields[i];
}

/* The parser's side */

int
format_line(const struct oai_parser *p)
{
	return xmlSAX2GetLineNumber(p->ctxt);
}

void
format_want_text(struct oai_parser *p, int on)
{
	p->xtext = on;
}

int
format_record_bad(const struct oai_parser *p)
{
	return p->rec_bad;
}

void
format_bad(struct oai_parser *p, const char *fmt, ...)
{
	char	msg[512];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	oai_bad(p, "%s", msg);
}

/*
 * The values go to the record's arena with the header's; their number is
 * capped per record.
 */
int
format_yield(struct oai_parser *p, int line, const char *field,
    const char *value, size_t len, const char *lang, size_t langlen)
{
	struct fieldent *d;
	size_t		 off;

	if (p->nfields >= MAX_DC_VALUES) {
		oai_bad(p,
		    "line %d: record with more than MAX_DC_VALUES "
		    "(%zu) %s values",
		    line, (size_t)MAX_DC_VALUES, p->fmt->label);
		return -1;
	}
	if (p->nfields == p->fieldcap) {
		p->fieldcap = p->fieldcap == 0 ? 32 : p->fieldcap * 2;
		p->fields =
		    xreallocarray(p->fields, p->fieldcap, sizeof(*p->fields));
	}
	d = &p->fields[p->nfields];
	d->name = field;
	d->lang = NOVAL;
	if (oai_arena_add(p, value, len, &off) == -1)
		return -1;
	d->value = off;
	if (lang != NULL) {
		if (oai_arena_add(p, lang, langlen, &off) == -1)
			return -1;
		d->lang = off;
	}
	p->nfields++;
	return 0;
}

int
format_attr(const struct format_elem *e, const char *name, const char *uri,
    const char **v, size_t *n)
{
	return oai_attr_find(e->nattrs, e->attrs, name, uri, v, n);
}

char *
format_attr_strndup(const char *v, size_t n)
{
	return oai_attr_strndup(v, n);
}

void
format_trim(const char *s, size_t n, const char **out, size_t *outlen)
{
	oai_trim(s, n, out, outlen);
}
