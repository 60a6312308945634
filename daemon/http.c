/*
 * The daemon's status server, on its own loop (libevent's evhttp): health,
 * status as JSON, Prometheus metrics, the change feed with long polling,
 * and "harvest this source now".  It listens on loopback unless the config
 * names another address.
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "daemon.h"
#include "log.h"
#include "oh_limits.h"
#include "util.h"

/* Longest a /changes long poll waits, and rows one answer may hold. */
#define WAIT_MAX	300
#define CHANGES_MAX	100000
#define CHANGES_DEF	1000
/* Long polls parked at once. */
#define WAITERS_MAX	1000

const char *const err_type_names[] = {
	"network", "http", "parse", "oai", "protocol", "store", "limit",
	"forbidden", "blocked", "cancelled", "other",
};

struct waiter {
	TAILQ_ENTRY(waiter)	 entry;
	struct http		*h;
	struct evhttp_request	*req;
	struct event		*timer;
	long long		 since;
	long long		 limit;
};

struct http {
	struct daemon		*d;
	struct evhttp		*evh;
	TAILQ_HEAD(, waiter)	 waiters;
	size_t			 nwaiters;
};

typedef void	route_fn(struct http *, struct evhttp_request *,
		    const char *);

static route_fn	h_healthz, h_status, h_metrics, h_changes, h_harvest;

static const struct route {
	int		 methods;
	const char	*path;		/* exact, or a prefix ending in '/' */
	route_fn	*fn;
} routes[] = {
	{ EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, "/healthz", h_healthz },
	{ EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, "/status", h_status },
	{ EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, "/metrics", h_metrics },
	{ EVHTTP_REQ_GET, "/changes", h_changes },
	{ EVHTTP_REQ_POST, "/sources/", h_harvest },
};

static void
reply(struct evhttp_request *req, int code, const char *reason,
    const char *type, const char *body, size_t len)
{
	struct evbuffer	*b = evbuffer_new();

	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", type);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Cache-Control", "no-store");
	evbuffer_add(b, body, len);
	evhttp_send_reply(req, code, reason, b);
	evbuffer_free(b);
}

static void
reply_json_error(struct evhttp_request *req, int code, const char *reason,
    const char *msg)
{
	struct buf	b;

	buf_init(&b, 4096);
	buf_addstr(&b, "{\"error\":");
	json_add_string(&b, msg, (size_t)-1);
	buf_addstr(&b, "}\n");
	reply(req, code, reason, "application/json", buf_str(&b), b.len);
	buf_free(&b);
}

static void
dispatch(struct evhttp_request *req, void *arg)
{
	struct http		*h = arg;
	const struct evhttp_uri	*u = evhttp_request_get_evhttp_uri(req);
	const char		*p = u != NULL ? evhttp_uri_get_path(u) : NULL;
	enum evhttp_cmd_type	 m = evhttp_request_get_command(req);
	size_t			 i, n;
	int			 path_ok = 0;

	if (p == NULL) {
		reply_json_error(req, 400, "Bad Request", "bad URI");
		return;
	}
	for (i = 0; i < nitems(routes); i++) {
		n = strlen(routes[i].path);
		if (routes[i].path[n - 1] == '/' ?
		    strncmp(p, routes[i].path, n) != 0 :
		    strcmp(p, routes[i].path) != 0)
			continue;
		path_ok = 1;
		if ((routes[i].methods & (int)m) == 0)
			continue;
		routes[i].fn(h, req, p);
		return;
	}
	if (path_ok)
		reply_json_error(req, 405, "Method Not Allowed",
		    "method not allowed");
	else
		reply_json_error(req, 404, "Not Found", "no such endpoint");
}

/*
 * GET /healthz: the loop answers, the database takes writes, and the
 * changes_log, if there is one, was written at the last try.
 */
static void
h_healthz(struct http *h, struct evhttp_request *req, const char *path)
{
	char	*cause = NULL, *msg;

	if (store_writable(h->d->store, &cause) == -1) {
		xasprintf(&msg, "unhealthy: %s\n", cause);
		reply(req, 503, "Service Unavailable", "text/plain", msg,
		    strlen(msg));
		free(msg);
		free(cause);
		return;
	}
	if (h->d->feed_error != NULL) {
		xasprintf(&msg, "unhealthy: %s\n", h->d->feed_error);
		reply(req, 503, "Service Unavailable", "text/plain", msg,
		    strlen(msg));
		free(msg);
		return;
	}
	reply(req, 200, "OK", "text/plain", "ok\n", 3);
}

static void
add_time(struct buf *b, const char *key, time_t t)
{
	char	ds[DATESTAMP_LEN];

	buf_printf(b, ",\"%s\":", key);
	if (t <= 0) {
		buf_addstr(b, "null");
		return;
	}
	datestamp_format(t, GRAN_SECONDS, ds);
	buf_printf(b, "\"%s\"", ds);
}

/* GET /status: the daemon's view, and the database's, per source. */
static void
h_status(struct http *h, struct evhttp_request *req, const char *path)
{
	struct daemon	*d = h->d;
	struct dsource	*s;
	struct buf	 b;
	char		*cause = NULL, *url;
	int		 first = 1;

	buf_init(&b, SIZE_MAX / 4);
	buf_printf(&b, "{\"version\":\"%s\"", OH_VERSION);
	add_time(&b, "started", d->started);
	buf_printf(&b, ",\"harvesting\":%d,\"max_concurrent\":%lld,"
	    "\"sources\":[", d->running, d->conf->max_concurrent);
	TAILQ_FOREACH(s, &d->sources, entry) {
		if (s->removed)
			continue;
		buf_addstr(&b, first ? "{\"name\":" : ",{\"name\":");
		first = 0;
		json_add_string(&b, s->c.name, (size_t)-1);
		buf_addstr(&b, ",\"url\":");
		url = url_redact(s->c.url);
		json_add_string(&b, url, (size_t)-1);
		free(url);
		buf_printf(&b, ",\"state\":\"%s\",\"enabled\":%s,"
		    "\"disabled\":%s,\"consecutive_failures\":%d",
		    s->disabled ? "disabled" : src_state_names[s->state],
		    s->c.enabled ? "true" : "false",
		    s->disabled ? "true" : "false", s->failures);
		add_time(&b, "next_run", s->state == SRC_IDLE &&
		    s->c.enabled && !s->disabled ? s->next_run : 0);
		buf_addstr(&b, ",\"last_run\":");
		if (s->m.last_start <= 0)
			buf_addstr(&b, "null");
		else {
			buf_addch(&b, '{');
			buf_addstr(&b, "\"status\":");
			json_add_string(&b, s->m.last_status != NULL ?
			    s->m.last_status : "running", (size_t)-1);
			add_time(&b, "start", s->m.last_start);
			add_time(&b, "end", s->m.last_end);
			buf_printf(&b, ",\"seconds\":%.3f", s->m.last_seconds);
			buf_addstr(&b, ",\"error\":");
			if (s->m.last_error != NULL)
				json_add_string(&b, s->m.last_error,
				    (size_t)-1);
			else
				buf_addstr(&b, "null");
			buf_addch(&b, '}');
		}
		add_time(&b, "last_success", s->m.last_success);
		buf_printf(&b, ",\"runs_ok\":%lld,\"runs_failed\":%lld",
		    s->m.runs_ok, s->m.runs_failed);
		if (store_source_json(d->store, s->c.name, &b, &cause) == -1) {
			log_warn("event=status_error source=%s cause=%s",
			    log_q(s->c.name), log_q(cause));
			free(cause);
			cause = NULL;
		}
		buf_addch(&b, '}');
	}
	buf_addstr(&b, "]}\n");
	reply(req, 200, "OK", "application/json", buf_str(&b), b.len);
	buf_free(&b);
}

/* A Prometheus label value: backslash, double quote and newline escaped. */
static void
label(struct buf *b, const char *s)
{
	buf_addch(b, '"');
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			buf_addstr(b, "\\\\");
		else if (*s == '"')
			buf_addstr(b, "\\\"");
		else if (*s == '\n')
			buf_addstr(b, "\\n");
		else
			buf_addch(b, *s);
	}
	buf_addch(b, '"');
}

static void
family(struct buf *b, const char *name, const char *type, const char *help)
{
	buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{source="s"[,k="v"]} value */
static void
sample(struct buf *b, const char *name, const char *source, const char *k,
    const char *v, double value)
{
	buf_addstr(b, name);
	if (source != NULL || k != NULL) {
		buf_addch(b, '{');
		if (source != NULL) {
			buf_addstr(b, "source=");
			label(b, source);
		}
		if (k != NULL) {
			if (source != NULL)
				buf_addch(b, ',');
			buf_printf(b, "%s=", k);
			label(b, v);
		}
		buf_addch(b, '}');
	}
	buf_printf(b, " %.17g\n", value);
}

/* GET /metrics: the Prometheus text exposition format (version 0.0.4). */
static void
h_metrics(struct http *h, struct evhttp_request *req, const char *path)
{
	static const double	 bounds[] = DURATION_BUCKETS;
	static const char *const kinds[] = { "unchanged", "new", "updated",
	    "deleted" };
	struct daemon		*d = h->d;
	struct dsource		*s;
	struct buf		 b;
	char			 code[16], le[32];
	long long		 cum = 0;
	int64_t			 seq;
	size_t			 i;

	buf_init(&b, SIZE_MAX / 4);
	family(&b, "oaiharvest_runs_total", "counter",
	    "Harvest runs ended, by source and result.");
	TAILQ_FOREACH(s, &d->sources, entry) {
		sample(&b, "oaiharvest_runs_total", s->c.name, "result", "ok",
		    (double)s->m.runs_ok);
		sample(&b, "oaiharvest_runs_total", s->c.name, "result",
		    "failed", (double)s->m.runs_failed);
	}
	family(&b, "oaiharvest_records_total", "counter",
	    "Records received, by source and kind of change.");
	TAILQ_FOREACH(s, &d->sources, entry)
		for (i = 0; i < nitems(kinds); i++)
			sample(&b, "oaiharvest_records_total", s->c.name,
			    "kind", kinds[i], (double)s->m.records[i]);
	family(&b, "oaiharvest_errors_total", "counter",
	    "Failed runs, by source and type of error.");
	TAILQ_FOREACH(s, &d->sources, entry)
		for (i = 0; i < ERR_NTYPES; i++)
			if (s->m.errors[i] > 0)
				sample(&b, "oaiharvest_errors_total",
				    s->c.name, "type", err_type_names[i],
				    (double)s->m.errors[i]);
	family(&b, "oaiharvest_pages_total", "counter",
	    "List pages committed, by source.");
	TAILQ_FOREACH(s, &d->sources, entry)
		sample(&b, "oaiharvest_pages_total", s->c.name, NULL, NULL,
		    (double)s->m.pages);
	family(&b, "oaiharvest_response_bytes_total", "counter",
	    "Response bytes received after decoding, by source.");
	TAILQ_FOREACH(s, &d->sources, entry)
		sample(&b, "oaiharvest_response_bytes_total", s->c.name, NULL,
		    NULL, (double)s->m.bytes);
	family(&b, "oaiharvest_http_requests_total", "counter",
	    "HTTP requests to repositories, by status code (0: no "
	    "response).");
	for (i = 0; i < nitems(d->http_codes); i++)
		if (d->http_codes[i] > 0) {
			snprintf(code, sizeof(code), "%zu", i);
			sample(&b, "oaiharvest_http_requests_total", NULL,
			    "code", code, (double)d->http_codes[i]);
		}
	family(&b, "oaiharvest_run_duration_seconds", "histogram",
	    "Duration of harvest runs.");
	for (i = 0; i < nitems(bounds); i++) {
		cum += d->duration_buckets[i];
		if (bounds[i] > 0)
			snprintf(le, sizeof(le), "%g", bounds[i]);
		else
			snprintf(le, sizeof(le), "+Inf");
		sample(&b, "oaiharvest_run_duration_seconds_bucket", NULL,
		    "le", le, (double)cum);
	}
	sample(&b, "oaiharvest_run_duration_seconds_sum", NULL, NULL, NULL,
	    d->duration_sum);
	sample(&b, "oaiharvest_run_duration_seconds_count", NULL, NULL, NULL,
	    (double)d->duration_count);
	family(&b, "oaiharvest_last_success_timestamp_seconds", "gauge",
	    "When the last successful run of a source ended (0: never).");
	TAILQ_FOREACH(s, &d->sources, entry)
		sample(&b, "oaiharvest_last_success_timestamp_seconds",
		    s->c.name, NULL, NULL, (double)s->m.last_success);
	family(&b, "oaiharvest_next_run_timestamp_seconds", "gauge",
	    "When a source harvests next (0: running, waiting or "
	    "disabled).");
	TAILQ_FOREACH(s, &d->sources, entry)
		sample(&b, "oaiharvest_next_run_timestamp_seconds", s->c.name,
		    NULL, NULL, s->state == SRC_IDLE && !s->disabled &&
		    s->c.enabled ? (double)s->next_run : 0);
	family(&b, "oaiharvest_source_disabled", "gauge",
	    "1 when a source stopped after a 403 until an operator acts.");
	TAILQ_FOREACH(s, &d->sources, entry)
		sample(&b, "oaiharvest_source_disabled", s->c.name, NULL, NULL,
		    s->disabled ? 1 : 0);
	family(&b, "oaiharvest_harvests_in_flight", "gauge",
	    "Harvest runs going on now.");
	sample(&b, "oaiharvest_harvests_in_flight", NULL, NULL, NULL,
	    d->running);
	family(&b, "oaiharvest_sources", "gauge", "Configured sources.");
	i = 0;
	TAILQ_FOREACH(s, &d->sources, entry)
		i += !s->removed;
	sample(&b, "oaiharvest_sources", NULL, NULL, NULL, (double)i);
	if ((seq = store_last_seq(d->store)) >= 0) {
		family(&b, "oaiharvest_change_seq", "gauge",
		    "The newest change-log sequence number.");
		sample(&b, "oaiharvest_change_seq", NULL, NULL, NULL,
		    (double)seq);
	}
	if (d->outbox != NULL) {
		family(&b, "oaiharvest_changes_log_ok", "gauge",
		    "1 when the last write of the changes_log succeeded.");
		sample(&b, "oaiharvest_changes_log_ok", NULL, NULL, NULL,
		    d->feed_error == NULL);
		family(&b, "oaiharvest_changes_log_errors_total", "counter",
		    "Failed writes and reopens of the changes_log.");
		sample(&b, "oaiharvest_changes_log_errors_total", NULL, NULL,
		    NULL, (double)d->feed_errors);
	}
	family(&b, "oaiharvest_start_time_seconds", "gauge",
	    "When the daemon started.");
	sample(&b, "oaiharvest_start_time_seconds", NULL, NULL, NULL,
	    (double)d->started);
	reply(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8",
	    buf_str(&b), b.len);
	buf_free(&b);
}

/* The changes after since, as JSON Lines; 0 when there are none yet. */
static int
changes_body(struct http *h, long long since, long long limit, char **out,
    size_t *len, char **cause)
{
	FILE	*f;
	int	 r;

	*out = NULL;
	*len = 0;
	if ((f = open_memstream(out, len)) == NULL)
		fatal("open_memstream");
	r = store_changes(h->d->store, since, limit, f, NULL, cause);
	fclose(f);
	return r;
}

static void
waiter_free(struct waiter *w)
{
	TAILQ_REMOVE(&w->h->waiters, w, entry);
	w->h->nwaiters--;
	event_free(w->timer);
	free(w);
}

/* Answer a parked long poll with whatever there is now. */
static void
waiter_answer(struct waiter *w)
{
	char	*body = NULL, *cause = NULL;
	size_t	 len;

	evhttp_connection_set_closecb(evhttp_request_get_connection(w->req),
	    NULL, NULL);
	if (changes_body(w->h, w->since, w->limit, &body, &len,
	    &cause) == -1) {
		reply_json_error(w->req, 500, "Internal Server Error", cause);
		free(cause);
	} else
		reply(w->req, 200, "OK", "application/x-ndjson", body, len);
	free(body);
	waiter_free(w);
}

static void
on_waiter_timeout(evutil_socket_t fd, short what, void *arg)
{
	waiter_answer(arg);
}

static void
on_waiter_closed(struct evhttp_connection *c, void *arg)
{
	/* The client left; evhttp frees the request itself. */
	waiter_free(arg);
}

/* GET /changes?since=SEQ&limit=N[&wait=SECONDS] */
static void
h_changes(struct http *h, struct evhttp_request *req, const char *path)
{
	struct evkeyvalq	 q;
	struct waiter		*w;
	struct timeval		 tv;
	const char		*v, *errstr;
	char			*body = NULL, *cause = NULL;
	long long		 since = 0, limit = CHANGES_DEF, wait = 0;
	size_t			 len;

	TAILQ_INIT(&q);
	if ((v = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req))) ==
	    NULL)
		v = "";
	if (evhttp_parse_query_str(v, &q) == -1) {
		reply_json_error(req, 400, "Bad Request", "bad query string");
		return;
	}
	if (((v = evhttp_find_header(&q, "since")) != NULL &&
	    parse_ll(v, 0, INT64_MAX, &since, &errstr) == -1) ||
	    ((v = evhttp_find_header(&q, "limit")) != NULL &&
	    parse_ll(v, 1, CHANGES_MAX, &limit, &errstr) == -1) ||
	    ((v = evhttp_find_header(&q, "wait")) != NULL &&
	    parse_ll(v, 0, WAIT_MAX, &wait, &errstr) == -1)) {
		evhttp_clear_headers(&q);
		reply_json_error(req, 400, "Bad Request", "since, limit (1.."
		    "100000) and wait (0..300) take whole numbers");
		return;
	}
	evhttp_clear_headers(&q);
	if (changes_body(h, since, limit, &body, &len, &cause) == -1) {
		reply_json_error(req, 500, "Internal Server Error", cause);
		free(cause);
		free(body);
		return;
	}
	if (len > 0 || wait == 0 || h->nwaiters >= WAITERS_MAX) {
		reply(req, 200, "OK", "application/x-ndjson", body, len);
		free(body);
		return;
	}
	free(body);
	/* Nothing yet: park until a change is committed or time runs out. */
	w = xcalloc(1, sizeof(*w));
	w->h = h;
	w->req = req;
	w->since = since;
	w->limit = limit;
	w->timer = evtimer_new(h->d->base, on_waiter_timeout, w);
	tv.tv_sec = wait;
	tv.tv_usec = 0;
	evtimer_add(w->timer, &tv);
	TAILQ_INSERT_TAIL(&h->waiters, w, entry);
	h->nwaiters++;
	evhttp_connection_set_closecb(evhttp_request_get_connection(req),
	    on_waiter_closed, w);
}

void
http_changes_arrived(struct http *h)
{
	struct waiter	*w, *next;
	int64_t		 seq;

	if (h == NULL || h->nwaiters == 0)
		return;
	if ((seq = store_last_seq(h->d->store)) < 0)
		return;
	TAILQ_FOREACH_SAFE(w, &h->waiters, entry, next)
		if (seq > w->since)
			waiter_answer(w);
}

/* POST /sources/NAME/harvest */
static void
h_harvest(struct http *h, struct evhttp_request *req, const char *path)
{
	struct dsource	*s;
	struct buf	 b;
	const char	*name = path + strlen("/sources/"), *slash;
	char		*n;

	if ((slash = strchr(name, '/')) == NULL ||
	    strcmp(slash, "/harvest") != 0) {
		reply_json_error(req, 404, "Not Found", "no such endpoint");
		return;
	}
	n = xstrndup(name, (size_t)(slash - name));
	s = daemon_source(h->d, n);
	free(n);
	if (s == NULL) {
		reply_json_error(req, 404, "Not Found", "no such source");
		return;
	}
	if (!s->c.enabled) {
		reply_json_error(req, 409, "Conflict", "the source is "
		    "disabled in the config");
		return;
	}
	daemon_harvest_now(s);
	buf_init(&b, 4096);
	buf_addstr(&b, "{\"source\":");
	json_add_string(&b, s->c.name, (size_t)-1);
	buf_printf(&b, ",\"state\":\"%s\"}\n", src_state_names[s->state]);
	reply(req, 202, "Accepted", "application/json", buf_str(&b), b.len);
	buf_free(&b);
}

void
http_count_request(struct http *h, long status)
{
	if (h == NULL)
		return;
	if (status < 0 || status >= (long)nitems(h->d->http_codes))
		status = 0;
	h->d->http_codes[status]++;
}

struct http *
http_start(struct daemon *d, const char *listen, char **cause)
{
	struct http			*h;
	struct evhttp_bound_socket	*bs;
	struct sockaddr_storage		 ss;
	socklen_t			 sl = sizeof(ss);
	const char			*colon;
	char				*host, addr[INET6_ADDRSTRLEN];
	long long			 port;
	const char			*errstr;
	int				 bound_port = 0;

	colon = strrchr(listen, ':');
	if (colon == NULL || parse_ll(colon + 1, 0, 65535, &port,
	    &errstr) == -1) {
		xasprintf(cause, "status_listen: not host:port: %s", listen);
		return NULL;
	}
	host = xstrndup(listen, (size_t)(colon - listen));
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	h = xcalloc(1, sizeof(*h));
	h->d = d;
	TAILQ_INIT(&h->waiters);
	h->evh = evhttp_new(d->base);
	evhttp_set_allowed_methods(h->evh, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_POST);
	evhttp_set_max_headers_size(h->evh, 16384);
	evhttp_set_max_body_size(h->evh, 4096);
	evhttp_set_timeout(h->evh, 60);
	evhttp_set_gencb(h->evh, dispatch, h);
	if ((bs = evhttp_bind_socket_with_handle(h->evh, host,
	    (ev_uint16_t)port)) == NULL) {
		xasprintf(cause, "status_listen: cannot listen on %s",
		    listen);
		evhttp_free(h->evh);
		free(h);
		free(host);
		return NULL;
	}
	if (getsockname(evhttp_bound_socket_get_fd(bs),
	    (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET)
			bound_port = ntohs(((struct sockaddr_in *)&ss)->
			    sin_port);
		else if (ss.ss_family == AF_INET6)
			bound_port = ntohs(((struct sockaddr_in6 *)&ss)->
			    sin6_port);
	}
	snprintf(addr, sizeof(addr), "%s", host);
	log_info("event=status_listen address=%s port=%d", log_q(addr),
	    bound_port);
	free(host);
	return h;
}

void
http_stop(struct http *h)
{
	struct waiter	*w;

	if (h == NULL)
		return;
	while ((w = TAILQ_FIRST(&h->waiters)) != NULL) {
		evhttp_connection_set_closecb(
		    evhttp_request_get_connection(w->req), NULL, NULL);
		reply(w->req, 503, "Service Unavailable", "text/plain",
		    "stopping\n", 9);
		waiter_free(w);
	}
	evhttp_free(h->evh);
	free(h);
}
