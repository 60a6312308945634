/*
 * --prerender: every page of the unfiltered oai_dc ListRecords list rendered
 * once at start-up and kept in memory, so that a benchmark measures the
 * harvester and not the server.  A request is served from here only when it
 * asks for exactly such a page the way a harvester following the list does:
 * verb=ListRecords&metadataPrefix=oai_dc (page 0), or verb=ListRecords and
 * the very resumptionToken the previous page carried.  Everything else
 * (other verbs, sets, dates, qdc, faults) is rendered live as usual; a change
 * to the corpus drops the cache.  The pages keep the responseDate of the
 * moment they were rendered.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "log.h"
#include "server.h"

struct prerender_page {
	char  *token; /* the token that asks for it; NULL: page 0 */
	char  *body;
	size_t len;
};

struct prerender {
	struct prerender_page *pages;
	size_t		       n;
	size_t		       bytes;
	int		       stale; /* the corpus changed */
};

/* The text of the page's resumptionToken, or NULL (none, or empty). */
static char *
page_token(const char *body, size_t len)
{
	const char	 *p, *end, *s, *e;
	static const char open[] = "<resumptionToken ";
	static const char close[] = "</resumptionToken>";

	end = body + len;
	if ((p = memmem(body, len, open, sizeof(open) - 1)) == NULL)
		return NULL;
	if ((s = memchr(p, '>', (size_t)(end - p))) == NULL || s[-1] == '/')
		return NULL;
	s++;
	if ((e = memmem(s, (size_t)(end - s), close, sizeof(close) - 1)) ==
		NULL ||
	    e == s || memchr(s, '&', (size_t)(e - s)) != NULL)
		return NULL;
	return xstrndup(s, (size_t)(e - s));
}

static void
set_arg(struct form *f, size_t i, const char *name, const char *value)
{
	f->args[i].name = (char *)name;
	f->args[i].value = (char *)value;
}

struct prerender *
prerender_new(struct corpus *c, const char *baseurl, size_t page_size)
{
	struct prerender      *pr;
	struct prerender_page *pg;
	struct evbuffer	      *out;
	struct form	       f;
	char		      *tok = NULL;
	size_t		       cap, want;

	pr = xcalloc(1, sizeof(*pr));
	want = (corpus_size(c) + page_size - 1) / page_size;
	cap = want > 0 ? want : 1;
	pr->pages = xcalloc(cap, sizeof(*pr->pages));
	if (corpus_size(c) == 0)
		return pr;
	/* Bounded: one page per page_size records, and no more. */
	while (pr->n < cap) {
		memset(&f, 0, sizeof(f));
		set_arg(&f, 0, "verb", "ListRecords");
		if (pr->n == 0)
			set_arg(&f, 1, "metadataPrefix", "oai_dc");
		else
			set_arg(&f, 1, "resumptionToken", tok);
		f.n = 2;
		if ((out = evbuffer_new()) == NULL)
			fatalx("evbuffer_new");
		oaipmh_respond(c, &f, baseurl, page_size, NULL, out);
		pg = &pr->pages[pr->n++];
		pg->token = tok;
		pg->len = evbuffer_get_length(out);
		pg->body = xmalloc(pg->len > 0 ? pg->len : 1);
		if (evbuffer_remove(out, pg->body, pg->len) != (int)pg->len)
			fatalx("evbuffer_remove");
		evbuffer_free(out);
		pr->bytes += pg->len;
		if ((tok = page_token(pg->body, pg->len)) == NULL)
			break;
	}
	free(tok);
	log_info("msg=\"prerendered\" pages=%zu bytes=%zu", pr->n, pr->bytes);
	return pr;
}

void
prerender_free(struct prerender *pr)
{
	size_t i;

	if (pr == NULL)
		return;
	for (i = 0; i < pr->n; i++) {
		free(pr->pages[i].token);
		free(pr->pages[i].body);
	}
	free(pr->pages);
	free(pr);
}

/*
 * The corpus changed: serve nothing from here any more.  The bytes stay
 * until prerender_free(), as a held-back response may still point to them.
 */
void
prerender_drop(struct prerender *pr)
{
	if (pr != NULL && !pr->stale) {
		pr->stale = 1;
		log_info("msg=\"prerendered pages dropped\"");
	}
}

/*
 * The pre-rendered answer to this request, or 0.  rq is the request as
 * oaipmh_classify() saw it: a list page's index comes from its token.
 */
int
prerender_lookup(const struct prerender *pr, const struct form *f,
    const struct oaipmh_req *rq, const char **body, size_t *len)
{
	const struct prerender_page *pg;
	const char		    *v;

	if (pr == NULL || pr->stale || f == NULL || !rq->valid ||
	    rq->verb != VERB_LISTRECORDS || rq->page < 0 ||
	    (size_t)rq->page >= pr->n || f->n != 2)
		return 0;
	pg = &pr->pages[rq->page];
	if (pg->token == NULL) {
		if (rq->token || (v = form_get(f, "metadataPrefix")) == NULL ||
		    strcmp(v, "oai_dc") != 0)
			return 0;
	} else if (!rq->token || (v = form_get(f, "resumptionToken")) == NULL ||
	    strcmp(v, pg->token) != 0)
		return 0;
	*body = pg->body;
	*len = pg->len;
	return 1;
}
