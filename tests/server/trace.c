/*
 * --trace FILE: a line for each request's start (when it is read) and end
 * (when its response is sent whole, or its connection closes first: a
 * harvester killed mid-request), with the Host it named, so that a test can
 * check how many requests were in flight to one host at a time, whichever
 * harvester sent them (tests/test_multi.c):
 *
 *	MS start HOST PATH
 *	MS end HOST PATH
 *
 * MS is the server's monotonic clock in milliseconds.  Lines are written
 * whole and flushed at once, in the order of the events.
 */
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "server.h"

/* A connection with a request open, or none. */
struct tconn {
	LIST_ENTRY(tconn) entry;
	struct trace		 *t;
	struct evhttp_connection *evcon;
	int			  open;
	char			  host[128];
	char			  path[128];
};

struct trace {
	FILE *f;
	LIST_HEAD(, tconn) conns;
};

struct trace *
trace_open(const char *path, char **cause)
{
	struct trace *t;
	FILE	     *f;

	if ((f = fopen(path, "a")) == NULL) {
		xasprintf(cause, "--trace %s: cannot open", path);
		return NULL;
	}
	t = xcalloc(1, sizeof(*t));
	t->f = f;
	LIST_INIT(&t->conns);
	return t;
}

void
trace_free(struct trace *t)
{
	struct tconn *c;

	if (t == NULL)
		return;
	while ((c = LIST_FIRST(&t->conns)) != NULL) {
		LIST_REMOVE(c, entry);
		evhttp_connection_set_closecb(c->evcon, NULL, NULL);
		free(c);
	}
	fclose(t->f);
	free(t);
}

static void
line(struct tconn *c, const char *what)
{
	fprintf(c->t->f, "%lld %s %s %s\n", (long long)mono_ms(), what, c->host,
	    c->path);
	fflush(c->t->f);
}

static void
on_complete(struct evhttp_request *req, void *arg)
{
	struct tconn *c = arg;

	if (c->open) {
		c->open = 0;
		line(c, "end");
	}
}

static void
on_close(struct evhttp_connection *evcon, void *arg)
{
	struct tconn *c = arg;

	if (c->open) {
		c->open = 0;
		line(c, "end");
	}
	LIST_REMOVE(c, entry);
	free(c);
}

void
trace_request(struct trace *t, struct evhttp_request *req, const char *path)
{
	struct evhttp_connection *evcon;
	struct tconn		 *c;
	const char		 *host;
	char			 *p;

	if (t == NULL || (evcon = evhttp_request_get_connection(req)) == NULL)
		return;
	LIST_FOREACH (c, &t->conns, entry)
		if (c->evcon == evcon)
			break;
	if (c == NULL) {
		c = xcalloc(1, sizeof(*c));
		c->t = t;
		c->evcon = evcon;
		LIST_INSERT_HEAD(&t->conns, c, entry);
		evhttp_connection_set_closecb(evcon, on_close, c);
	}
	if ((host = evhttp_request_get_host(req)) == NULL)
		host = "-";
	snprintf(c->host, sizeof(c->host), "%s", host);
	snprintf(c->path, sizeof(c->path), "%s", path);
	for (p = c->path; *p != '\0'; p++)
		if (*p == ' ' || *p == '\n')
			*p = '_';
	c->open = 1;
	line(c, "start");
	evhttp_request_set_on_complete_cb(req, on_complete, c);
}
