/*
 * Recorded responses, served byte for byte.  A directory holds <verb>.xml
 * for the single-answer verbs and <verb>-<prefix>-page<K>.xml for the
 * lists (verb in lower case).  A resumptionToken leads from the page that
 * handed it out to the next page of the same list; that map is built once at
 * start-up by a plain scan of each file for its token (the files are trusted
 * test data, not remote input).
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "server.h"

struct page {
	char  *name;
	char  *data;
	size_t len;
	char  *token; /* the token this page hands out, or NULL */
	size_t next;  /* index + 1 of the page it leads to, or 0 */
};

struct pages {
	struct page *v;
	size_t	     n;
};

static int    read_file(const char *, const char *, struct page *, char **);
static char  *scan_token(const char *);
static size_t find(const struct pages *, const char *);
static void   link_next(struct pages *, struct page *);
static int    page_cmp(const void *, const void *);

static const struct {
	const char *name;
	const char *value;
} entities[] = {
	{ "&amp;", "&" },
	{ "&lt;", "<" },
	{ "&gt;", ">" },
	{ "&quot;", "\"" },
	{ "&apos;", "'" },
};

/*
 * DIR/NAME whole (a regular file of at most SRV_MAX_PAGE_BYTES), with a
 * NUL after it: the recorded responses of --pages and --replay.
 */
int
srv_read_file(
    const char *dir, const char *name, char **data, size_t *len, char **cause)
{
	struct stat st;
	FILE	   *fp;
	char	   *path;
	int	    rc = -1;

	*data = NULL;
	xasprintf(&path, "%s/%s", dir, name);
	if ((fp = fopen(path, "rb")) == NULL) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	if (fstat(fileno(fp), &st) == -1 || !S_ISREG(st.st_mode) ||
	    (unsigned long long)st.st_size > SRV_MAX_PAGE_BYTES)
		xasprintf(cause, "%s: not a regular file of at most %lu bytes",
		    path, SRV_MAX_PAGE_BYTES);
	else {
		*len = (size_t)st.st_size;
		*data = xmalloc(*len + 1);
		if (fread(*data, 1, *len, fp) != *len) {
			xasprintf(cause, "%s: short read", path);
			free(*data);
			*data = NULL;
		} else {
			(*data)[*len] = '\0';
			rc = 0;
		}
	}
	fclose(fp);
	free(path);
	return rc;
}

static int
read_file(const char *dir, const char *name, struct page *pg, char **cause)
{
	if (srv_read_file(dir, name, &pg->data, &pg->len, cause) == -1)
		return -1;
	pg->name = xstrdup(name);
	return 0;
}

/* The trimmed, unescaped text of the first non-empty resumptionToken. */
static char *
scan_token(const char *data)
{
	const char *p, *gt, *end;
	char	   *tok, *o;
	size_t	    i, n;

	if ((p = strstr(data, "<resumptionToken")) == NULL ||
	    (gt = strchr(p, '>')) == NULL || gt[-1] == '/' ||
	    (end = strstr(gt, "</resumptionToken>")) == NULL)
		return NULL;
	for (p = gt + 1; p < end && strchr(" \t\r\n", *p) != NULL; p++)
		;
	while (end > p && strchr(" \t\r\n", end[-1]) != NULL)
		end--;
	if (end == p)
		return NULL;
	o = tok = xmalloc(end - p + 1);
	while (p < end) {
		for (i = 0; i < nitems(entities); i++) {
			n = strlen(entities[i].name);
			if ((size_t)(end - p) >= n &&
			    strncmp(p, entities[i].name, n) == 0)
				break;
		}
		if (i < nitems(entities)) {
			*o++ = *entities[i].value;
			p += n;
		} else
			*o++ = *p++;
	}
	*o = '\0';
	return tok;
}

static size_t
find(const struct pages *ps, const char *name)
{
	size_t i;

	for (i = 0; i < ps->n; i++)
		if (strcmp(ps->v[i].name, name) == 0)
			return i + 1;
	return 0;
}

/* "<verb>-<prefix>-page<K>.xml" leads to "...-page<K+1>.xml". */
static void
link_next(struct pages *ps, struct page *pg)
{
	const char *p, *q, *errstr;
	char	    num[24], *name;
	long long   k;
	size_t	    len = strlen(pg->name);

	pg->next = 0;
	if (pg->token == NULL || len < 4 ||
	    strcmp(pg->name + len - 4, ".xml") != 0)
		return;
	for (p = NULL, q = pg->name; (q = strstr(q, "-page")) != NULL; q++)
		p = q;
	if (p == NULL || (size_t)(pg->name + len - 4 - (p + 5)) >= sizeof(num))
		return;
	memcpy(num, p + 5, pg->name + len - 4 - (p + 5));
	num[pg->name + len - 4 - (p + 5)] = '\0';
	if (parse_ll(num, 1, 1000000000, &k, &errstr) == -1)
		return;
	xasprintf(
	    &name, "%.*s-page%lld.xml", (int)(p - pg->name), pg->name, k + 1);
	pg->next = find(ps, name);
	free(name);
}

static int
page_cmp(const void *a, const void *b)
{
	return strcmp(
	    ((const struct page *)a)->name, ((const struct page *)b)->name);
}

struct pages *
pages_load(const char *dir, char **cause)
{
	struct pages  *ps;
	DIR	      *d;
	struct dirent *de;
	size_t	       len, i;

	if ((d = opendir(dir)) == NULL) {
		xasprintf(cause, "%s: %s", dir, strerror(errno));
		return NULL;
	}
	ps = xcalloc(1, sizeof(*ps));
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (de->d_name[0] == '.' || len < 5 ||
		    strcmp(de->d_name + len - 4, ".xml") != 0)
			continue;
		if (ps->n == SRV_MAX_PAGE_FILES) {
			xasprintf(cause, "%s: more than %d files", dir,
			    SRV_MAX_PAGE_FILES);
			goto fail;
		}
		ps->v = xreallocarray(ps->v, ps->n + 1, sizeof(*ps->v));
		memset(&ps->v[ps->n], 0, sizeof(ps->v[ps->n]));
		if (read_file(dir, de->d_name, &ps->v[ps->n], cause) == -1)
			goto fail;
		ps->n++;
	}
	closedir(d);
	if (ps->n > 0)
		qsort(ps->v, ps->n, sizeof(*ps->v), page_cmp);
	for (i = 0; i < ps->n; i++)
		ps->v[i].token = scan_token(ps->v[i].data);
	for (i = 0; i < ps->n; i++)
		link_next(ps, &ps->v[i]);
	return ps;
fail:
	closedir(d);
	pages_free(ps);
	return NULL;
}

void
pages_free(struct pages *ps)
{
	size_t i;

	if (ps == NULL)
		return;
	for (i = 0; i < ps->n; i++) {
		free(ps->v[i].name);
		free(ps->v[i].data);
		free(ps->v[i].token);
	}
	free(ps->v);
	free(ps);
}

void
pages_respond(const struct pages *ps, const struct form *f, const char *baseurl,
    struct evbuffer *out)
{
	struct oaipmh_error err;
	enum oaipmh_verb    verb;
	const char	   *tok, *name;
	char		    lverb[32], *file;
	size_t		    i, k, vlen;

	if (oaipmh_check(f, &verb, &err) == -1) {
		oaipmh_error_response(out, baseurl, f, &err);
		return;
	}
	name = oaipmh_verb_name(verb);
	for (vlen = 0; name[vlen] != '\0' && vlen + 1 < sizeof(lverb); vlen++)
		lverb[vlen] = name[vlen] >= 'A' && name[vlen] <= 'Z' ?
		    name[vlen] - 'A' + 'a' :
		    name[vlen];
	lverb[vlen] = '\0';

	k = 0;
	if ((tok = form_get(f, "resumptionToken")) != NULL) {
		for (i = 0; i < ps->n && k == 0; i++)
			if (ps->v[i].token != NULL && ps->v[i].next != 0 &&
			    strcmp(ps->v[i].token, tok) == 0 &&
			    strncmp(ps->v[i].name, lverb, vlen) == 0 &&
			    ps->v[i].name[vlen] == '-')
				k = ps->v[i].next;
		err.code = "badResumptionToken";
		snprintf(err.msg, sizeof(err.msg), "unknown resumptionToken");
	} else if (verb == VERB_LISTRECORDS || verb == VERB_LISTIDENTIFIERS) {
		xasprintf(&file, "%s-%s-page1.xml", lverb,
		    form_get(f, "metadataPrefix"));
		k = find(ps, file);
		free(file);
		err.code = "cannotDisseminateFormat";
		snprintf(err.msg, sizeof(err.msg),
		    "no recording for this "
		    "metadataPrefix");
	} else {
		xasprintf(&file, "%s.xml", lverb);
		k = find(ps, file);
		free(file);
		err.code = verb == VERB_LISTSETS ? "noSetHierarchy" : "badVerb";
		snprintf(err.msg, sizeof(err.msg), "no recording of %s", name);
	}
	if (k == 0) {
		oaipmh_error_response(out, baseurl, f, &err);
		return;
	}
	evbuffer_add(out, ps->v[k - 1].data, ps->v[k - 1].len);
}
