/*
 * Replay of real responses: a manifest (tab-separated, one line per
 * response) names scenarios, and under /replay/SCENARIO each request is
 * answered with the recorded file, byte for byte, with the recorded HTTP
 * status and headers:
 *
 *   scenario  verb  match  file  status  content-type  headers
 *
 * verb is an OAI verb or "*"; match is "-" (any request of that verb),
 * "prefix=P" (metadataPrefix P, no token) or "token=T" (resumptionToken T);
 * file is relative to the manifest's directory; headers is "-" or
 * "Name: value" items separated by " | ".  Lines that match the same
 * request are served in manifest order, one per request, and the last of
 * them keeps answering: a 503 then the 200 of its retry.
 *
 * A scenario without an Identify, ListMetadataFormats or ListSets of its
 * own gets a plain built-in one (granularity seconds, deletedRecord
 * persistent; oai_dc; noSetHierarchy), so that a recorded list can be
 * harvested from the start.  Anything else unrecorded is a 404.  The
 * manifest and its files are trusted test data, read once at start-up.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "log.h"
#include "server.h"

#define REPLAY_FIELDS 7
#define HDR_SEP	      " | "

enum match {
	MATCH_ANY,
	MATCH_PREFIX,
	MATCH_TOKEN
};

struct rline {
	char	    *scenario;
	char	    *verb; /* or "*" */
	enum match   match;
	char	    *value; /* the prefix or token matched */
	char	    *file;
	char	    *data;
	size_t	     len;
	int	     status;
	char	    *type;
	char	    *headers; /* or NULL */
	unsigned int uses;
};

struct replay {
	struct rline *v;
	size_t	      n;
};

static int parse_line(
    struct replay *, const char *, char *, unsigned long, char **);
static int line_matches(
    const struct rline *, const char *, const char *, const struct form *);
static void	   add_headers(struct evhttp_request *, const char *);
static void	   builtin(struct evhttp_request *, const char *, const char *,
	   const char *, const struct form *);
static const char *reason(int);

static const struct {
	int	    status;
	const char *reason;
} reasons[] = {
	{ 200, "OK" },
	{ 400, "Bad Request" },
	{ 403, "Forbidden" },
	{ 404, "Not Found" },
	{ 422, "Unprocessable Entity" },
	{ 429, "Too Many Requests" },
	{ 500, "Internal Server Error" },
	{ 502, "Bad Gateway" },
	{ 503, "Service Unavailable" },
	{ 504, "Gateway Timeout" },
};

static const char *const verbs[] = {
	"Identify",
	"ListMetadataFormats",
	"ListSets",
	"ListIdentifiers",
	"ListRecords",
	"GetRecord",
	"*",
};

static const char *
reason(int status)
{
	size_t i;

	for (i = 0; i < nitems(reasons); i++)
		if (reasons[i].status == status)
			return reasons[i].reason;
	return "Status";
}

/* One manifest line (tabs become NULs), appended to rp. */
static int
parse_line(struct replay *rp, const char *dir, char *s, unsigned long lineno,
    char **cause)
{
	struct rline *l;
	char	     *f[REPLAY_FIELDS], *p;
	const char   *errstr;
	long long     status;
	size_t	      i, n;

	for (n = 0, p = s; n < REPLAY_FIELDS && p != NULL; n++)
		f[n] = strsep(&p, "\t");
	if (n != REPLAY_FIELDS || p != NULL) {
		xasprintf(cause, "line %lu: %d tab-separated fields expected",
		    lineno, REPLAY_FIELDS);
		return -1;
	}
	for (i = 0; f[0][i] != '\0'; i++)
		if (strchr("abcdefghijklmnopqrstuvwxyz0123456789-_.",
			f[0][i]) == NULL)
			break;
	if (i == 0 || f[0][i] != '\0') {
		xasprintf(
		    cause, "line %lu: scenario names are [a-z0-9-_.]+", lineno);
		return -1;
	}
	for (i = 0; i < nitems(verbs); i++)
		if (strcmp(f[1], verbs[i]) == 0)
			break;
	if (i == nitems(verbs)) {
		xasprintf(cause, "line %lu: unknown verb %s", lineno, f[1]);
		return -1;
	}
	if (parse_ll(f[4], 100, 599, &status, &errstr) == -1) {
		xasprintf(
		    cause, "line %lu: status %s: %s", lineno, f[4], errstr);
		return -1;
	}
	if (strcmp(f[2], "-") != 0 && strncmp(f[2], "prefix=", 7) != 0 &&
	    strncmp(f[2], "token=", 6) != 0) {
		xasprintf(
		    cause, "line %lu: match is -, prefix=P or token=T", lineno);
		return -1;
	}
	if (rp->n == SRV_MAX_REPLAY_LINES) {
		xasprintf(cause, "more than %d lines", SRV_MAX_REPLAY_LINES);
		return -1;
	}
	rp->v = xreallocarray(rp->v, rp->n + 1, sizeof(*rp->v));
	l = &rp->v[rp->n];
	memset(l, 0, sizeof(*l));
	if (srv_read_file(dir, f[3], &l->data, &l->len, cause) == -1)
		return -1;
	rp->n++;
	l->scenario = xstrdup(f[0]);
	l->verb = xstrdup(f[1]);
	if (strncmp(f[2], "prefix=", 7) == 0) {
		l->match = MATCH_PREFIX;
		l->value = xstrdup(f[2] + 7);
	} else if (strncmp(f[2], "token=", 6) == 0) {
		l->match = MATCH_TOKEN;
		l->value = xstrdup(f[2] + 6);
	}
	l->file = xstrdup(f[3]);
	l->status = (int)status;
	l->type = xstrdup(f[5]);
	if (strcmp(f[6], "-") != 0)
		l->headers = xstrdup(f[6]);
	return 0;
}

struct replay *
replay_load(const char *manifest, char **cause)
{
	struct replay *rp;
	FILE	      *fp;
	char	      *line = NULL, *dir, *slash, *why = NULL;
	size_t	       cap = 0;
	ssize_t	       len;
	unsigned long  lineno = 0;

	if ((fp = fopen(manifest, "r")) == NULL) {
		xasprintf(cause, "%s: %s", manifest, strerror(errno));
		return NULL;
	}
	dir = xstrdup(manifest);
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	else {
		free(dir);
		dir = xstrdup(".");
	}
	rp = xcalloc(1, sizeof(*rp));
	while ((len = getline(&line, &cap, fp)) != -1) {
		lineno++;
		while (
		    len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0 || line[0] == '#')
			continue;
		if (parse_line(rp, dir, line, lineno, &why) == -1) {
			xasprintf(cause, "%s: %s", manifest, why);
			free(why);
			replay_free(rp);
			rp = NULL;
			break;
		}
	}
	free(line);
	free(dir);
	fclose(fp);
	if (rp != NULL)
		log_info("msg=\"replay loaded\" manifest=%s responses=%zu",
		    log_q(manifest), rp->n);
	return rp;
}

void
replay_free(struct replay *rp)
{
	size_t i;

	if (rp == NULL)
		return;
	for (i = 0; i < rp->n; i++) {
		free(rp->v[i].scenario);
		free(rp->v[i].verb);
		free(rp->v[i].value);
		free(rp->v[i].file);
		free(rp->v[i].data);
		free(rp->v[i].type);
		free(rp->v[i].headers);
	}
	free(rp->v);
	free(rp);
}

static int
line_matches(const struct rline *l, const char *scenario, const char *verb,
    const struct form *f)
{
	const char *tok = form_get(f, "resumptionToken");
	const char *prefix = form_get(f, "metadataPrefix");

	if (strcmp(l->scenario, scenario) != 0 ||
	    (strcmp(l->verb, "*") != 0 &&
		(verb == NULL || strcmp(l->verb, verb) != 0)))
		return 0;
	switch (l->match) {
	case MATCH_ANY:
		return 1;
	case MATCH_PREFIX:
		return tok == NULL && prefix != NULL &&
		    strcmp(prefix, l->value) == 0;
	case MATCH_TOKEN:
		return tok != NULL && strcmp(tok, l->value) == 0;
	}
	return 0;
}

/* "Name: value | Name: value" */
static void
add_headers(struct evhttp_request *req, const char *list)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	char		 *copy, *p, *item, *colon, *v;

	if (list == NULL)
		return;
	copy = p = xstrdup(list);
	while ((item = p) != NULL) {
		if ((p = strstr(p, HDR_SEP)) != NULL) {
			*p = '\0';
			p += strlen(HDR_SEP);
		}
		if ((colon = strchr(item, ':')) == NULL)
			continue;
		*colon = '\0';
		for (v = colon + 1; *v == ' '; v++)
			;
		evhttp_add_header(out, item, v);
	}
	free(copy);
}

/* The plain answers of a scenario that recorded none of its own. */
static void
builtin(struct evhttp_request *req, const char *scenario, const char *verb,
    const char *baseurl, const struct form *f)
{
	struct oaipmh_error err;
	struct evbuffer	   *body;
	char		    now[DATESTAMP_LEN];

	if ((body = evbuffer_new()) == NULL)
		fatalx("evbuffer_new");
	if (strcmp(verb, "ListSets") == 0) {
		err.code = "noSetHierarchy";
		snprintf(err.msg, sizeof(err.msg), "replay: no sets recorded");
		oaipmh_error_response(body, baseurl, f, &err);
	} else {
		datestamp_now(now);
		evbuffer_add_printf(body,
		    "<?xml version=\"1.0\" "
		    "encoding=\"UTF-8\"?>\n<OAI-PMH xmlns=\"http://www."
		    "openarchives.org/OAI/2.0/\">\n<responseDate>%s"
		    "</responseDate>\n<request verb=\"%s\">%s</request>\n",
		    now, verb, baseurl);
		if (strcmp(verb, "Identify") == 0)
			evbuffer_add_printf(body,
			    "<Identify>\n"
			    "<repositoryName>replay %s</repositoryName>\n"
			    "<baseURL>%s</baseURL>\n"
			    "<protocolVersion>2.0</protocolVersion>\n"
			    "<adminEmail>replay@oaiharvest.test</adminEmail>\n"
			    "<earliestDatestamp>1970-01-01T00:00:00Z"
			    "</earliestDatestamp>\n"
			    "<deletedRecord>persistent</deletedRecord>\n"
			    "<granularity>YYYY-MM-DDThh:mm:ssZ</granularity>\n"
			    "</Identify>\n",
			    scenario, baseurl);
		else
			evbuffer_add_printf(body,
			    "<ListMetadataFormats>\n"
			    "<metadataFormat><metadataPrefix>oai_dc"
			    "</metadataPrefix>\n<schema>http://www."
			    "openarchives.org/OAI/2.0/oai_dc.xsd</schema>\n"
			    "<metadataNamespace>http://www.openarchives.org/"
			    "OAI/2.0/oai_dc/</metadataNamespace>"
			    "</metadataFormat>\n</ListMetadataFormats>\n");
		evbuffer_add_printf(body, "</OAI-PMH>\n");
	}
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", OAI_CONTENT_TYPE);
	log_info("msg=\"replay\" scenario=%s verb=%s file=builtin status=200",
	    scenario, verb);
	evhttp_send_reply(req, 200, "OK", body);
	evbuffer_free(body);
}

void
replay_respond(struct replay *rp, struct evhttp_request *req,
    const struct form *f, const char *origin)
{
	struct evbuffer *body;
	struct rline	*l, *pick = NULL;
	const char	*path, *scenario, *verb;
	char		*baseurl;
	size_t		 i;
	int		 known;

	path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	scenario = path + strlen(REPLAY_PATH);
	verb = form_get(f, "verb");
	known = 0;
	for (i = 0; rp != NULL && i < rp->n; i++) {
		l = &rp->v[i];
		if (strcmp(l->scenario, scenario) == 0)
			known = 1;
		if (!line_matches(l, scenario, verb, f))
			continue;
		pick = l;
		if (l->uses == 0)
			break;
	}
	if ((body = evbuffer_new()) == NULL)
		fatalx("evbuffer_new");
	if (pick != NULL) {
		pick->uses++;
		if (evbuffer_add_reference(
			body, pick->data, pick->len, NULL, NULL) == -1)
			fatalx("evbuffer_add_reference");
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Content-Type", pick->type);
		add_headers(req, pick->headers);
		log_info("msg=\"replay\" scenario=%s verb=%s file=%s "
			 "status=%d use=%u",
		    log_q(scenario), log_q(verb), pick->file, pick->status,
		    pick->uses);
		evhttp_send_reply(
		    req, pick->status, reason(pick->status), body);
	} else if (known && verb != NULL &&
	    (strcmp(verb, "Identify") == 0 ||
		strcmp(verb, "ListMetadataFormats") == 0 ||
		strcmp(verb, "ListSets") == 0) &&
	    form_get(f, "resumptionToken") == NULL) {
		xasprintf(&baseurl, "%s%s", origin, path);
		builtin(req, scenario, verb, baseurl, f);
		free(baseurl);
	} else {
		evbuffer_add_printf(body,
		    "replay: nothing recorded for this "
		    "request%s\n",
		    known ? "" : " (no such scenario)");
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Content-Type", "text/plain");
		log_info("msg=\"replay unmatched\" scenario=%s uri=%s",
		    log_q(scenario), log_q(evhttp_request_get_uri(req)));
		evhttp_send_reply(req, 404, "Not Found", body);
	}
	evbuffer_free(body);
}
