/*
 * The daemon's status server, on its own loop (libevent's evhttp): health,
 * status as JSON, Prometheus metrics, the change feed with long polling,
 * and "harvest this source now".  It listens on loopback unless the config
 * names another address.
 *
 * Every page in a browser on the machine can reach a loopback port, and a
 * client may be hostile, so the server
 * - answers only to its own Host names (DNS rebinding), and refuses a POST
 *   that a browser could send cross-site (a foreign Origin, a form's content
 *   type); with status_token_file, every request but /healthz needs the
 *   token;
 * - tracks its connections itself (evhttp 2.1 has no limit): each must send
 *   a whole request within REQUEST_DEADLINE however slowly it trickles,
 *   at most a quarter of the descriptors are connections (the oldest idle
 *   one is closed to make room), long polls are capped and closed when
 *   their client hangs up;
 * - writes /changes in chunks, each only when the client has taken the
 *   last, so that memory per connection is bounded (feed/longpoll.c
 *   answers /changes; this file routes it and checks its access).
 */
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <sqlite3.h> /* sqlite3_libversion() alone */

#include "daemon.h"
#include "encode.h"
#include "feed.h"
#include "log.h"
#include "oh_limits.h"
#include "settings.h"
#include "util.h"

/* Long polls parked at once: at most this, and half the connections. */
#define WAITERS_MAX 64
/* Connections at once: a quarter of the descriptors, within these. */
#define CONNS_MIN 8
#define CONNS_MAX 1024
/* Seconds a connection has to send a whole request, however slowly. */
#define REQUEST_DEADLINE 10
/* Seconds without progress before evhttp drops a connection. */
#define IO_TIMEOUT 30
/* Bytes read ahead from a client (requests are at most 16 + 4 KB). */
#define READ_AHEAD_MAX (64 * 1024)
/* Milliseconds the listener rests when accept() fails (no descriptors). */
#define ACCEPT_PAUSE_MS 250
/* Seconds between two warnings of the same kind. */
#define WARN_EVERY 60

const char *const err_type_names[] = {
	"network",
	"http",
	"parse",
	"oai",
	"protocol",
	"store",
	"limit",
	"forbidden",
	"blocked",
	"cancelled",
	"other",
};

/* Why the server closed a connection itself (a metric's label). */
enum close_reason {
	CLOSE_LIMIT,	/* made room under the connection cap */
	CLOSE_DEADLINE, /* no whole request in time */
	CLOSE_HANGUP,	/* a long poll's client went away */
	CLOSE_NREASONS
};

static const char *const close_reason_names[] = {
	"limit",
	"deadline",
	"hangup",
};

enum conn_state {
	CONN_NEW,	/* accepted; evhttp has not set it up yet */
	CONN_READING,	/* waiting for a request, under the deadline */
	CONN_ANSWERING, /* a request is being answered */
};

/* A client connection, from accept to evhttp's close callback. */
struct conn {
	TAILQ_ENTRY(conn) entry;
	struct http		 *h;
	struct bufferevent	 *bev;
	struct evhttp_connection *evcon;
	struct event		 *deadline;
	enum conn_state		  state;
	struct feed_poll	 *feed; /* a /changes answer */
};

TAILQ_HEAD(conns, conn);

/* Requests to repositories, by source, host and status (0: no response). */
struct req_count {
	char	 *source;
	char	 *host;
	long	  code;
	long long n;
};

/* Records in the database, by source and prefix, as of the last run. */
struct rec_count {
	char	 *source;
	char	 *prefix;
	long long present;
	long long deleted;
};

struct http {
	struct daemon	      *d;
	struct evhttp	      *evh;
	struct evconnlistener *lev;
	struct event	      *ev_adopt;  /* takes in new connections */
	struct event	      *ev_resume; /* accepts again */
	struct conns	       fresh;	  /* CONN_NEW */
	struct conns	       conns;	  /* the others, oldest first */
	struct feed_sink      *poll;	  /* answers /changes */
	size_t		       nconns;	  /* fresh and conns */
	size_t		       conns_max;
	size_t		       waiters_max;
	char		      *listen_host; /* IPv6 in brackets */
	int		       port;	    /* bound */
	char		      *token;	    /* NULL: none needed */
	size_t		       token_len;
	long long	       closed[CLOSE_NREASONS];
	time_t		       warned_limit;
	time_t		       warned_accept;
	time_t		       warned_untracked;
	struct req_count      *reqs;
	size_t		       nreqs;
	struct rec_count      *recs;
	size_t		       nrecs;
	int		       recs_counted; /* recs holds a count */
	char		      *recs_source;  /* filling recs: the source */
};

typedef void route_fn(struct http *, struct evhttp_request *, const char *);

static route_fn h_healthz, h_status, h_metrics, h_changes, h_harvest;

static const struct route {
	int	    methods;
	const char *path; /* exact, or a prefix ending in '/' */
	int	    open; /* needs no token */
	route_fn   *fn;
} routes[] = {
	{ EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, "/healthz", 1, h_healthz },
	{ EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, "/status", 0, h_status },
	{ EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, "/metrics", 0, h_metrics },
	{ EVHTTP_REQ_GET, "/changes", 0, h_changes },
	{ EVHTTP_REQ_POST, "/sources/", 0, h_harvest },
};

/* Connections */
static struct bufferevent *conn_bev(struct event_base *, void *);
static void		   on_adopt(evutil_socket_t, short, void *);
static void		   conn_reading(struct conn *);
static struct conn	  *conn_find(struct http *, struct evhttp_connection *);
static void		   conn_close(struct conn *, enum close_reason);
static void		   on_conn_closed(struct evhttp_connection *, void *);
static void		   on_deadline(evutil_socket_t, short, void *);
static void		   on_request_done(struct evhttp_request *, void *);
static void		   on_accept_error(struct evconnlistener *, void *);
static void		   on_resume(evutil_socket_t, short, void *);
static void		   on_poll_hangup(void *);
static int		   warn_due(time_t *);

/* Requests */
static int	   host_ok(struct http *, struct conn *, const char *);
static int	   token_ok(struct http *, struct evhttp_request *);
static const char *cross_site(struct evhttp_request *);
static int	   read_token(struct http *, const char *, char **);

/* evconnlistener's error callback gets evhttp's argument, not ours. */
static struct http *listening;

static void
reply(struct evhttp_request *req, int code, const char *reason,
    const char *type, const char *body, size_t len)
{
	struct evbuffer *b = evbuffer_new();

	evhttp_add_header(
	    evhttp_request_get_output_headers(req), "Content-Type", type);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Cache-Control", "no-store");
	evbuffer_add(b, body, len);
	evhttp_send_reply(req, code, reason, b);
	evbuffer_free(b);
}

static void
reply_json_error(
    struct evhttp_request *req, int code, const char *reason, const char *msg)
{
	struct buf b;

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
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	const char		*p = u != NULL ? evhttp_uri_get_path(u) : NULL;
	enum evhttp_cmd_type	 m = evhttp_request_get_command(req);
	struct conn		*c;
	size_t			 i, n;
	int			 path_ok = 0;

	/*
	 * Only a connection we track may be answered: its close callback is
	 * what frees whatever the answer holds.
	 */
	if ((c = conn_find(h, evhttp_request_get_connection(req))) == NULL) {
		reply_json_error(
		    req, 503, "Service Unavailable", "connection not tracked");
		return;
	}
	evtimer_del(c->deadline);
	c->state = CONN_ANSWERING;
	evhttp_request_set_on_complete_cb(req, on_request_done, c);

	if (!host_ok(h, c,
		evhttp_find_header(
		    evhttp_request_get_input_headers(req), "Host"))) {
		reply_json_error(req, 421, "Misdirected Request",
		    "unknown "
		    "Host (the listen address, a loopback name or one of "
		    "status_hosts)");
		return;
	}
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
		if (!routes[i].open && !token_ok(h, req)) {
			evhttp_add_header(
			    evhttp_request_get_output_headers(req),
			    "WWW-Authenticate", "Bearer realm=\"oaiharvestd\"");
			reply_json_error(req, 401, "Unauthorized",
			    "this "
			    "server needs Authorization: Bearer TOKEN");
			return;
		}
		if ((routes[i].methods & (int)m) == 0)
			continue;
		routes[i].fn(h, req, p);
		return;
	}
	if (path_ok)
		reply_json_error(
		    req, 405, "Method Not Allowed", "method not allowed");
	else
		reply_json_error(req, 404, "Not Found", "no such endpoint");
}

/* Connections */

/*
 * evhttp calls this for each connection it accepts, before it makes its
 * own connection object around the bufferevent: count the connection now
 * and take it in (on_adopt) as soon as evhttp is done with it.
 */
static struct bufferevent *
conn_bev(struct event_base *base, void *arg)
{
	struct http	   *h = arg;
	struct conn	   *c;
	struct bufferevent *bev;

	if ((bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE)) ==
	    NULL)
		return NULL;
	/* evhttp reads ahead without a limit while it writes an answer. */
	bufferevent_setwatermark(bev, EV_READ, 0, READ_AHEAD_MAX);
	c = xcalloc(1, sizeof(*c));
	c->h = h;
	c->bev = bev;
	c->state = CONN_NEW;
	TAILQ_INSERT_TAIL(&h->fresh, c, entry);
	h->nconns++;
	event_active(h->ev_adopt, EV_TIMEOUT, 0);
	return bev;
}

/*
 * Runs in the same pass of the loop as the accept, before any reading:
 * evhttp's connection is the argument of the bufferevent's callbacks.  Then
 * make room under the cap by closing the oldest connections that have not
 * sent a request yet (a new one included).
 */
static void
on_adopt(evutil_socket_t fd, short what, void *arg)
{
	struct http *h = arg;
	struct conn *c, *v;
	void	    *cbarg = NULL;

	while ((c = TAILQ_FIRST(&h->fresh)) != NULL) {
		TAILQ_REMOVE(&h->fresh, c, entry);
		bufferevent_getcb(c->bev, NULL, NULL, NULL, &cbarg);
		c->evcon = cbarg;
		if (c->evcon == NULL ||
		    evhttp_connection_get_bufferevent(c->evcon) != c->bev) {
			/*
			 * Not the libevent this was written for: refuse the
			 * connection (evhttp sees EOF) rather than answer one
			 * we cannot track.
			 */
			if (warn_due(&h->warned_untracked))
				log_err("event=status_untracked msg=\"evhttp "
					"did not take the connection as "
					"expected\"");
			shutdown(bufferevent_getfd(c->bev), SHUT_RDWR);
			h->nconns--;
			free(c);
			continue;
		}
		evhttp_connection_set_closecb(c->evcon, on_conn_closed, c);
		c->deadline = evtimer_new(h->d->base, on_deadline, c);
		TAILQ_INSERT_TAIL(&h->conns, c, entry);
		conn_reading(c);
	}
	while (h->nconns > h->conns_max) {
		TAILQ_FOREACH (v, &h->conns, entry)
			if (v->state == CONN_READING)
				break;
		if (v == NULL)
			break;
		if (warn_due(&h->warned_limit))
			log_warn("event=status_connections_limit max=%zu "
				 "msg=\"closing the oldest idle connections\"",
			    h->conns_max);
		conn_close(v, CLOSE_LIMIT);
	}
}

/* Waiting for a request: it must arrive whole within the deadline. */
static void
conn_reading(struct conn *c)
{
	struct timeval tv = { REQUEST_DEADLINE, 0 };

	c->state = CONN_READING;
	evtimer_add(c->deadline, &tv);
}

static struct conn *
conn_find(struct http *h, struct evhttp_connection *evcon)
{
	struct conn *c;

	if (evcon == NULL)
		return NULL;
	TAILQ_FOREACH (c, &h->conns, entry)
		if (c->evcon == evcon)
			return c;
	return NULL;
}

/* Close it now; on_conn_closed frees c. */
static void
conn_close(struct conn *c, enum close_reason why)
{
	c->h->closed[why]++;
	evhttp_connection_free(c->evcon);
}

/*
 * evhttp frees the connection: after an answer with "Connection: close",
 * at EOF or an error, at its timeout, or when we close it.
 */
static void
on_conn_closed(struct evhttp_connection *evcon, void *arg)
{
	struct conn *c = arg;

	if (c->feed != NULL)
		feed_poll_abort(c->feed);
	TAILQ_REMOVE(&c->h->conns, c, entry);
	c->h->nconns--;
	event_free(c->deadline);
	free(c);
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	conn_close(arg, CLOSE_DEADLINE);
}

/* The client of a parked long poll has gone. */
static void
on_poll_hangup(void *arg)
{
	conn_close(arg, CLOSE_HANGUP);
}

/* The answer is out; a kept-alive connection waits for the next request. */
static void
on_request_done(struct evhttp_request *req, void *arg)
{
	conn_reading(arg);
}

/* Out of descriptors: rest a moment rather than fail accept() in a loop. */
static void
on_accept_error(struct evconnlistener *lev, void *arg)
{
	struct http   *h = listening;
	struct timeval tv = { 0, ACCEPT_PAUSE_MS * 1000 };
	int	       err = EVUTIL_SOCKET_ERROR();

	if (h == NULL)
		return;
	if (warn_due(&h->warned_accept))
		log_warn("event=status_accept_error cause=%s connections=%zu",
		    log_q(evutil_socket_error_to_string(err)), h->nconns);
	evconnlistener_disable(lev);
	evtimer_add(h->ev_resume, &tv);
}

static void
on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct http *h = arg;

	evconnlistener_enable(h->lev);
}

static int
warn_due(time_t *last)
{
	time_t now = time(NULL);

	if (*last != 0 && now - *last < WARN_EVERY)
		return 0;
	*last = now;
	return 1;
}

/* Requests */

/*
 * DNS rebinding: a page of evil.example whose name now points to 127.0.0.1
 * reaches us with "Host: evil.example:8470".  Answer only to the listen
 * address and the connection's own, the loopback names (each with our
 * port), and the names of status_hosts (any port: a proxy may stand in
 * front).
 */
static int
host_ok(struct http *h, struct conn *c, const char *v)
{
	static const char *const loopback[] = { "localhost", "127.0.0.1",
		"[::1]" };
	const struct conf	*conf = h->d->conf;
	struct sockaddr_storage	 ss;
	socklen_t		 sl = sizeof(ss);
	char			 name[256], local[INET6_ADDRSTRLEN + 2];
	const char		*end, *errstr;
	long long		 port = 80;
	size_t			 len, i;

	if (v == NULL)
		return 0;
	if (*v == '[')
		end = strchr(v, ']') != NULL ? strchr(v, ']') + 1 : v;
	else
		end = v + strcspn(v, ":");
	len = (size_t)(end - v);
	if (len == 0 || len >= sizeof(name))
		return 0;
	memcpy(name, v, len);
	name[len] = '\0';
	if (*end == ':' && parse_ll(end + 1, 1, 65535, &port, &errstr) == -1)
		return 0;
	if (*end != ':' && *end != '\0')
		return 0;
	for (i = 0; i < conf->nstatus_hosts; i++)
		if (strcasecmp(name, conf->status_hosts[i]) == 0)
			return 1;
	if (port != h->port)
		return 0;
	for (i = 0; i < nitems(loopback); i++)
		if (strcasecmp(name, loopback[i]) == 0)
			return 1;
	if (strcasecmp(name, h->listen_host) == 0)
		return 1;
	/* A wildcard listen address: the address the client reached. */
	if (getsockname(
		bufferevent_getfd(c->bev), (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET)
			inet_ntop(AF_INET,
			    &((struct sockaddr_in *)&ss)->sin_addr, local,
			    sizeof(local));
		else if (ss.ss_family == AF_INET6) {
			local[0] = '[';
			if (inet_ntop(AF_INET6,
				&((struct sockaddr_in6 *)&ss)->sin6_addr,
				local + 1, sizeof(local) - 2) == NULL)
				return 0;
			len = strlen(local);
			local[len] = ']';
			local[len + 1] = '\0';
		} else
			return 0;
		return strcasecmp(name, local) == 0;
	}
	return 0;
}

/* Authorization: Bearer TOKEN, compared in time that does not tell. */
static int
token_ok(struct http *h, struct evhttp_request *req)
{
	const char   *v, *t;
	size_t	      len, i;
	unsigned char diff;

	if (h->token == NULL)
		return 1;
	v = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "Authorization");
	if (v == NULL || strncasecmp(v, "Bearer ", 7) != 0)
		return 0;
	for (t = v + 7; *t == ' '; t++)
		;
	for (len = strlen(t); len > 0 && t[len - 1] == ' '; len--)
		;
	/* Only the length of what the client sent shows in the time. */
	diff = len != h->token_len;
	for (i = 0; i < h->token_len; i++)
		diff |= (unsigned char)h->token[i] ^
		    (unsigned char)(i < len ? t[i] : 0);
	return diff == 0;
}

/*
 * What makes a POST one a browser may send from another site: an Origin
 * other than ours, Sec-Fetch-Site saying so, or a content type that a form
 * or a "simple" fetch() may use.  Our own clients send no body, or JSON.
 * NULL when it is none of these, else why.
 */
static const char *
cross_site(struct evhttp_request *req)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	const char	 *origin, *host, *site, *type;
	size_t		  len;

	/* Host is one of ours (host_ok): a page from it is our own. */
	origin = evhttp_find_header(in, "Origin");
	host = evhttp_find_header(in, "Host");
	if (origin != NULL) {
		if (strncasecmp(origin, "http://", 7) == 0)
			origin += 7;
		else if (strncasecmp(origin, "https://", 8) == 0)
			origin += 8;
		else
			origin = "";
		if (host == NULL || strcasecmp(origin, host) != 0)
			return "cross-site request refused (Origin)";
	}
	site = evhttp_find_header(in, "Sec-Fetch-Site");
	if (site != NULL && strcasecmp(site, "same-origin") != 0 &&
	    strcasecmp(site, "none") != 0)
		return "cross-site request refused (Sec-Fetch-Site)";
	if ((type = evhttp_find_header(in, "Content-Type")) != NULL) {
		len = strcspn(type, "; \t");
		if (len != 16 || strncasecmp(type, "application/json", 16) != 0)
			return "a POST takes no body, or application/json";
	}
	return NULL;
}

static int
read_token(struct http *h, const char *file, char **cause)
{
	return http_token_read(file, &h->token, &h->token_len, cause);
}

/*
 * GET /healthz: the loop answers, the database takes writes, and the
 * changes_log, if there is one, was written at the last try.
 */
static void
h_healthz(struct http *h, struct evhttp_request *req, const char *path)
{
	char *cause = NULL, *msg;

	if (store_writable(h->d->store, &cause) == -1) {
		xasprintf(&msg, "unhealthy: %s\n", cause);
		reply(req, 503, "Service Unavailable", "text/plain", msg,
		    strlen(msg));
		free(msg);
		free(cause);
		return;
	}
	if (feed_error(h->d->feed) != NULL) {
		xasprintf(&msg, "unhealthy: %s\n", feed_error(h->d->feed));
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
	char ds[DATESTAMP_LEN];

	buf_printf(b, ",\"%s\":", key);
	if (t <= 0) {
		buf_addstr(b, "null");
		return;
	}
	datestamp_format(t, GRAN_SECONDS, ds);
	buf_printf(b, "\"%s\"", ds);
}

/*
 * Source name's records, present and deleted, as last counted (at start
 * and after each of its runs: http_count_records(), http_count_source()):
 * a count at every request was a scan of its records, 0.17-0.7 s a
 * source of a million on the event loop.  -1: never counted.
 */
static void
recs_sum(const struct http *h, const char *name, long long *present,
    long long *deleted)
{
	size_t i;

	*present = *deleted = h->recs_counted ? 0 : -1;
	for (i = 0; i < h->nrecs; i++) {
		if (strcmp(h->recs[i].source, name) != 0)
			continue;
		*present += h->recs[i].present;
		*deleted += h->recs[i].deleted;
	}
}

/* GET /status: the daemon's view, and the database's, per source. */
static void
h_status(struct http *h, struct evhttp_request *req, const char *path)
{
	struct daemon  *d = h->d;
	struct dsource *s;
	struct buf	b;
	char	       *cause = NULL, *url;
	long long	present, deleted;
	int		first = 1;

	buf_init(&b, SIZE_MAX / 4);
	buf_printf(&b, "{\"version\":\"%s\"", OH_VERSION);
	add_time(&b, "started", d->started);
	/* The configuration in use, and how the last reload went. */
	buf_addstr(&b, ",\"config\":{\"path\":");
	json_add_string(&b, d->conf_path, (size_t)-1);
	add_time(&b, "loaded_at", d->conf_loaded);
	buf_addstr(&b, ",\"last_reload\":");
	if (d->reload_at <= 0)
		buf_addstr(&b, "null");
	else
		buf_addstr(
		    &b, d->reload_error == NULL ? "\"ok\"" : "\"failed\"");
	add_time(&b, "last_reload_at", d->reload_at);
	buf_addstr(&b, ",\"last_reload_error\":");
	if (d->reload_error != NULL)
		json_add_string(&b, d->reload_error, (size_t)-1);
	else
		buf_addstr(&b, "null");
	buf_addch(&b, '}');
	lease_node_json(d, &b);
	/* How other processes' commits reach the feed (PostgreSQL: LISTEN). */
	buf_printf(&b, ",\"feed\":{\"wake\":\"%s\"}", feed_wake_mode(d->feed));
	buf_printf(&b,
	    ",\"harvesting\":%d,\"max_concurrent\":%lld,"
	    "\"sources\":[",
	    d->running, d->conf->max_concurrent);
	TAILQ_FOREACH (s, &d->sources, entry) {
		if (s->removed)
			continue;
		buf_addstr(&b, first ? "{\"name\":" : ",{\"name\":");
		first = 0;
		json_add_string(&b, s->c.name, (size_t)-1);
		buf_addstr(&b, ",\"url\":");
		url = url_redact(s->c.url);
		json_add_string(&b, url, (size_t)-1);
		free(url);
		buf_printf(&b,
		    ",\"state\":\"%s\",\"enabled\":%s,"
		    "\"disabled\":%s,\"consecutive_failures\":%d",
		    s->disabled ? "disabled" : src_state_names[s->state],
		    s->c.enabled ? "true" : "false",
		    s->disabled ? "true" : "false", s->failures);
		add_time(&b, "next_run",
		    s->state == SRC_IDLE && s->c.enabled && !s->disabled ?
			s->next_run :
			0);
		buf_addstr(&b, ",\"last_run\":");
		if (s->m.last_start <= 0)
			buf_addstr(&b, "null");
		else {
			buf_addch(&b, '{');
			buf_addstr(&b, "\"status\":");
			json_add_string(&b,
			    s->m.last_status != NULL ? s->m.last_status :
						       "running",
			    (size_t)-1);
			add_time(&b, "start", s->m.last_start);
			add_time(&b, "end", s->m.last_end);
			buf_printf(&b, ",\"seconds\":%.3f", s->m.last_seconds);
			buf_addstr(&b, ",\"error\":");
			if (s->m.last_error != NULL)
				json_add_string(
				    &b, s->m.last_error, (size_t)-1);
			else
				buf_addstr(&b, "null");
			buf_addch(&b, '}');
		}
		add_time(&b, "last_success", s->m.last_success);
		buf_printf(&b, ",\"runs_ok\":%lld,\"runs_failed\":%lld",
		    s->m.runs_ok, s->m.runs_failed);
		lease_source_json(d, s, &b);
		recs_sum(h, s->c.name, &present, &deleted);
		if (feed_source_json(d->store, s->c.name, present, deleted, &b,
			&cause) == -1) {
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
	if (s == NULL)
		s = "";
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

/* name{k1="v1",k2="v2",...} value, from n pairs of kv. */
static void
sample_kv(struct buf *b, const char *name, const char *const *kv, size_t n,
    double value)
{
	size_t i;

	buf_addstr(b, name);
	buf_addch(b, '{');
	for (i = 0; i < n; i++) {
		if (i > 0)
			buf_addch(b, ',');
		buf_printf(b, "%s=", kv[2 * i]);
		label(b, kv[2 * i + 1]);
	}
	buf_printf(b, "} %.17g\n", value);
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
	struct feed_sink	*fs;
	struct buf		 b;
	const char		*kv[8];
	char			 code[16], le[32], *name, *help;
	long long		 cum = 0;
	int64_t			 seq;
	size_t			 i;

	buf_init(&b, SIZE_MAX / 4);
	family(&b, "oaiharvest_runs_total", "counter",
	    "Harvest runs ended, by source and result.");
	TAILQ_FOREACH (s, &d->sources, entry) {
		sample(&b, "oaiharvest_runs_total", s->c.name, "result", "ok",
		    (double)s->m.runs_ok);
		sample(&b, "oaiharvest_runs_total", s->c.name, "result",
		    "failed", (double)s->m.runs_failed);
	}
	family(&b, "oaiharvest_records_total", "counter",
	    "Records received, by source and kind of change.");
	TAILQ_FOREACH (s, &d->sources, entry)
		for (i = 0; i < nitems(kinds); i++)
			sample(&b, "oaiharvest_records_total", s->c.name,
			    "kind", kinds[i], (double)s->m.records[i]);
	family(&b, "oaiharvest_errors_total", "counter",
	    "Failed runs, by source and type of error.");
	TAILQ_FOREACH (s, &d->sources, entry)
		for (i = 0; i < ERR_NTYPES; i++)
			sample(&b, "oaiharvest_errors_total", s->c.name, "type",
			    err_type_names[i], (double)s->m.errors[i]);
	family(&b, "oaiharvest_consecutive_failures", "gauge",
	    "Runs of a source failed in a row (0 after a run ended ok).");
	TAILQ_FOREACH (s, &d->sources, entry)
		sample(&b, "oaiharvest_consecutive_failures", s->c.name, NULL,
		    NULL, s->failures);
	family(&b, "oaiharvest_records", "gauge",
	    "Records in the database, by source, prefix and state, as of "
	    "the last run.");
	TAILQ_FOREACH (s, &d->sources, entry)
		for (i = 0; i < h->nrecs; i++) {
			if (strcmp(h->recs[i].source, s->c.name) != 0)
				continue;
			kv[0] = "source";
			kv[1] = s->c.name;
			kv[2] = "prefix";
			kv[3] = h->recs[i].prefix;
			kv[4] = "state";
			kv[5] = "present";
			sample_kv(&b, "oaiharvest_records", kv, 3,
			    (double)h->recs[i].present);
			kv[5] = "deleted";
			sample_kv(&b, "oaiharvest_records", kv, 3,
			    (double)h->recs[i].deleted);
		}
	family(&b, "oaiharvest_pages_total", "counter",
	    "List pages committed, by source.");
	TAILQ_FOREACH (s, &d->sources, entry)
		sample(&b, "oaiharvest_pages_total", s->c.name, NULL, NULL,
		    (double)s->m.pages);
	family(&b, "oaiharvest_response_bytes_total", "counter",
	    "Response bytes received after decoding, by source.");
	TAILQ_FOREACH (s, &d->sources, entry)
		sample(&b, "oaiharvest_response_bytes_total", s->c.name, NULL,
		    NULL, (double)s->m.bytes);
	family(&b, "oaiharvest_http_requests_total", "counter",
	    "HTTP requests to repositories, by source, host and status code "
	    "(0: no response).");
	for (i = 0; i < h->nreqs; i++) {
		snprintf(code, sizeof(code), "%ld", h->reqs[i].code);
		kv[0] = "source";
		kv[1] = h->reqs[i].source;
		kv[2] = "host";
		kv[3] = h->reqs[i].host;
		kv[4] = "code";
		kv[5] = code;
		sample_kv(&b, "oaiharvest_http_requests_total", kv, 3,
		    (double)h->reqs[i].n);
	}
	family(&b, "oaiharvest_run_duration_seconds", "histogram",
	    "Duration of harvest runs.");
	for (i = 0; i < nitems(bounds); i++) {
		cum += d->duration_buckets[i];
		if (bounds[i] > 0)
			snprintf(le, sizeof(le), "%g", bounds[i]);
		else
			snprintf(le, sizeof(le), "+Inf");
		sample(&b, "oaiharvest_run_duration_seconds_bucket", NULL, "le",
		    le, (double)cum);
	}
	sample(&b, "oaiharvest_run_duration_seconds_sum", NULL, NULL, NULL,
	    d->duration_sum);
	sample(&b, "oaiharvest_run_duration_seconds_count", NULL, NULL, NULL,
	    (double)d->duration_count);
	family(&b, "oaiharvest_last_success_timestamp_seconds", "gauge",
	    "When the last successful run of a source ended (0: never).");
	TAILQ_FOREACH (s, &d->sources, entry)
		sample(&b, "oaiharvest_last_success_timestamp_seconds",
		    s->c.name, NULL, NULL, (double)s->m.last_success);
	family(&b, "oaiharvest_next_run_timestamp_seconds", "gauge",
	    "When a source harvests next (0: running, waiting or "
	    "disabled).");
	TAILQ_FOREACH (s, &d->sources, entry)
		sample(&b, "oaiharvest_next_run_timestamp_seconds", s->c.name,
		    NULL, NULL,
		    s->state == SRC_IDLE && !s->disabled && s->c.enabled ?
			(double)s->next_run :
			0);
	family(&b, "oaiharvest_source_disabled", "gauge",
	    "1 when a source stopped after a 403 until an operator acts.");
	TAILQ_FOREACH (s, &d->sources, entry)
		sample(&b, "oaiharvest_source_disabled", s->c.name, NULL, NULL,
		    s->disabled ? 1 : 0);
	lease_metrics(d, &b);
	family(&b, "oaiharvest_harvests_in_flight", "gauge",
	    "Harvest runs going on now.");
	sample(
	    &b, "oaiharvest_harvests_in_flight", NULL, NULL, NULL, d->running);
	family(&b, "oaiharvest_sources", "gauge", "Configured sources.");
	i = 0;
	TAILQ_FOREACH (s, &d->sources, entry)
		i += !s->removed;
	sample(&b, "oaiharvest_sources", NULL, NULL, NULL, (double)i);
	if ((seq = store_last_seq(d->store)) >= 0) {
		family(&b, "oaiharvest_change_seq", "gauge",
		    "The newest change-log sequence number.");
		sample(
		    &b, "oaiharvest_change_seq", NULL, NULL, NULL, (double)seq);
	}
	if (feed_listen_up(d->feed) >= 0) {
		family(&b, "oaiharvest_feed_listen_up", "gauge",
		    "1 while the database connection that LISTENs for others' "
		    "commits is up (0: the feed polls every second).");
		sample(&b, "oaiharvest_feed_listen_up", NULL, NULL, NULL,
		    feed_listen_up(d->feed));
	}
	for (fs = NULL; (fs = feed_sink_next(d->feed, fs)) != NULL;) {
		xasprintf(&name, "oaiharvest_%s_ok", feed_sink_name(fs));
		xasprintf(&help, "1 when the last write of the %s succeeded.",
		    feed_sink_name(fs));
		family(&b, name, "gauge", help);
		sample(&b, name, NULL, NULL, NULL, feed_sink_ok(fs));
		free(name);
		free(help);
		xasprintf(
		    &name, "oaiharvest_%s_errors_total", feed_sink_name(fs));
		xasprintf(&help, "Failed writes and reopens of the %s.",
		    feed_sink_name(fs));
		family(&b, name, "counter", help);
		sample(
		    &b, name, NULL, NULL, NULL, (double)feed_sink_errors(fs));
		free(name);
		free(help);
	}
	family(&b, "oaiharvest_status_connections", "gauge",
	    "Connections to the status server now.");
	sample(&b, "oaiharvest_status_connections", NULL, NULL, NULL,
	    (double)h->nconns);
	family(&b, "oaiharvest_status_connections_max", "gauge",
	    "Connections the status server keeps at most.");
	sample(&b, "oaiharvest_status_connections_max", NULL, NULL, NULL,
	    (double)h->conns_max);
	family(&b, "oaiharvest_status_long_polls", "gauge",
	    "Long polls of /changes waiting now.");
	sample(&b, "oaiharvest_status_long_polls", NULL, NULL, NULL,
	    (double)feed_longpoll_waiting(h->poll));
	family(&b, "oaiharvest_status_long_polls_max", "gauge",
	    "Long polls the status server parks at most.");
	sample(&b, "oaiharvest_status_long_polls_max", NULL, NULL, NULL,
	    (double)feed_longpoll_max(h->poll));
	family(&b, "oaiharvest_status_closed_total", "counter",
	    "Connections the status server closed itself, by reason.");
	for (i = 0; i < CLOSE_NREASONS; i++)
		sample(&b, "oaiharvest_status_closed_total", NULL, "reason",
		    close_reason_names[i], (double)h->closed[i]);
	/* Named as Prometheus names its own; the first load counts. */
	family(&b, "oaiharvest_config_last_reload_successful", "gauge",
	    "1 when the last configuration reload succeeded (or none was "
	    "tried), 0 when it failed.");
	sample(&b, "oaiharvest_config_last_reload_successful", NULL, NULL, NULL,
	    d->reload_error == NULL ? 1 : 0);
	family(&b, "oaiharvest_config_last_reload_success_timestamp_seconds",
	    "gauge", "When the configuration in use was loaded.");
	sample(&b, "oaiharvest_config_last_reload_success_timestamp_seconds",
	    NULL, NULL, NULL, (double)d->conf_loaded);
	family(&b, "oaiharvest_start_time_seconds", "gauge",
	    "When the daemon started.");
	sample(&b, "oaiharvest_start_time_seconds", NULL, NULL, NULL,
	    (double)d->started);
	family(&b, "oaiharvest_build_info", "gauge",
	    "Always 1: the version and the libraries' versions in use.");
	kv[0] = "version";
	kv[1] = OH_VERSION;
	kv[2] = "sqlite";
	kv[3] = sqlite3_libversion();
	kv[4] = "libcurl";
	kv[5] = harvest_curl_version();
	kv[6] = "libxml2";
	kv[7] = harvest_xml_version();
	sample_kv(&b, "oaiharvest_build_info", kv, 4, 1);
	reply(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8",
	    buf_str(&b), b.len);
	buf_free(&b);
}

/* GET /changes?since=SEQ&limit=N[&wait=SECONDS]: feed/longpoll.c answers */
static void
h_changes(struct http *h, struct evhttp_request *req, const char *path)
{
	struct conn *c;

	c = conn_find(h, evhttp_request_get_connection(req));
	feed_poll_start(h->poll, req, bufferevent_getfd(c->bev), &c->feed,
	    on_poll_hangup, c);
}

/* POST /sources/NAME/harvest */
static void
h_harvest(struct http *h, struct evhttp_request *req, const char *path)
{
	struct dsource *s;
	struct buf	b;
	const char     *name = path + strlen("/sources/"), *slash, *why;
	char	       *n;

	if ((slash = strchr(name, '/')) == NULL ||
	    strcmp(slash, "/harvest") != 0) {
		reply_json_error(req, 404, "Not Found", "no such endpoint");
		return;
	}
	if ((why = cross_site(req)) != NULL) {
		reply_json_error(req, 403, "Forbidden", why);
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
		reply_json_error(req, 409, "Conflict",
		    "the source is "
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
http_count_request(
    struct http *h, const char *source, const char *host, long status)
{
	struct req_count *r;
	size_t		  i;

	if (h == NULL)
		return;
	if (status < 0 || status > 599)
		status = 0;
	for (i = 0; i < h->nreqs; i++) {
		r = &h->reqs[i];
		if (r->code == status && strcmp(r->source, source) == 0 &&
		    strcmp(r->host, host) == 0) {
			r->n++;
			return;
		}
	}
	h->reqs = xreallocarray(h->reqs, h->nreqs + 1, sizeof(*h->reqs));
	r = &h->reqs[h->nreqs++];
	r->source = xstrdup(source);
	r->host = xstrdup(host);
	r->code = status;
	r->n = 1;
}

static int
recs_source(void *arg, const struct store_source_row *so)
{
	struct http *h = arg;

	free(h->recs_source);
	h->recs_source = so != NULL ? xstrdup(so->name) : NULL;
	return 0;
}

static int
recs_prefix(void *arg, const struct store_prefix_row *pr)
{
	struct http	 *h = arg;
	struct rec_count *r;

	h->recs = xreallocarray(h->recs, h->nrecs + 1, sizeof(*h->recs));
	r = &h->recs[h->nrecs++];
	r->source = xstrdup(h->recs_source);
	r->prefix = xstrdup(pr->prefix != NULL ? pr->prefix : "");
	r->present = pr->present;
	r->deleted = pr->deleted;
	return 0;
}

static void
recs_clear(struct http *h)
{
	size_t i;

	for (i = 0; i < h->nrecs; i++) {
		free(h->recs[i].source);
		free(h->recs[i].prefix);
	}
	free(h->recs);
	h->recs = NULL;
	h->nrecs = 0;
	free(h->recs_source);
	h->recs_source = NULL;
}

/*
 * Count the records of every source by prefix, for oaiharvest_records and
 * /status: a scan of the records, so once at start (after a run,
 * http_count_source() counts that source's) rather than at every scrape
 * or request.  On failure the last counts stay.
 */
static void recs_count(struct http *, const char *);

void
http_count_records(struct http *h)
{
	recs_count(h, NULL);
}

/*
 * Count source name's records again, after its run: a scan of its own
 * records, not of every source's (a daemon of many sources and millions
 * of records counted them all after each run of any).
 */
void
http_count_source(struct http *h, const char *name)
{
	if (h != NULL)
		recs_count(h, h->recs_counted ? name : NULL);
}

/* Count source name's records (NULL: every source's) into h->recs. */
static void
recs_count(struct http *h, const char *name)
{
	struct store_status_cb cb;
	struct http	       tmp;
	char		      *cause = NULL;
	size_t		       i, k;
	int		       rc;

	if (h == NULL)
		return;
	memset(&cb, 0, sizeof(cb));
	memset(&tmp, 0, sizeof(tmp));
	cb.source = recs_source;
	cb.prefix = recs_prefix;
	cb.arg = &tmp;
	rc = name == NULL ? store_status(h->d->store, &cb, &cause) :
			    store_source_status(h->d->store, name, &cb, &cause);
	if (rc == -1) {
		log_warn("event=metrics_error source=%s cause=%s",
		    log_q(name != NULL ? name : "*"), log_q(cause));
		free(cause);
		recs_clear(&tmp);
		return;
	}
	/* The counts replaced: all of them, or name's. */
	for (i = k = 0; i < h->nrecs; i++) {
		if (name == NULL || strcmp(h->recs[i].source, name) == 0) {
			free(h->recs[i].source);
			free(h->recs[i].prefix);
			continue;
		}
		h->recs[k++] = h->recs[i];
	}
	h->nrecs = k;
	if (tmp.nrecs > 0) {
		h->recs = xreallocarray(
		    h->recs, h->nrecs + tmp.nrecs, sizeof(*h->recs));
		memcpy(h->recs + h->nrecs, tmp.recs,
		    tmp.nrecs * sizeof(*tmp.recs));
		h->nrecs += tmp.nrecs;
	}
	h->recs_counted = 1;
	free(tmp.recs);
	free(tmp.recs_source);
}

struct http *
http_start(struct daemon *d, const char *listen, char **cause)
{
	struct http		   *h;
	struct evhttp_bound_socket *bs;
	struct sockaddr_storage	    ss;
	struct rlimit		    rl;
	socklen_t		    sl = sizeof(ss);
	const char		   *colon;
	char			   *host;
	long long		    port;
	const char		   *errstr;
	size_t			    i;

	colon = strrchr(listen, ':');
	if (colon == NULL ||
	    parse_ll(colon + 1, 0, 65535, &port, &errstr) == -1) {
		xasprintf(cause, "status_listen: not host:port: %s", listen);
		return NULL;
	}
	host = xstrndup(listen, (size_t)(colon - listen));
	h = xcalloc(1, sizeof(*h));
	h->d = d;
	TAILQ_INIT(&h->fresh);
	TAILQ_INIT(&h->conns);
	/* Host: names an IPv6 address in brackets, as the config does. */
	h->listen_host = xstrdup(host);
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	} else if (strchr(host, ':') != NULL) {
		free(h->listen_host);
		xasprintf(&h->listen_host, "[%s]", host);
	}
	if (d->conf->status_token_file != NULL &&
	    read_token(h, d->conf->status_token_file, cause) == -1)
		goto fail;
	/*
	 * The rest of the descriptors are for harvests (sockets, the
	 * database and its journal, the change feed file).
	 */
	h->conns_max = CONNS_MAX;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur / 4 < CONNS_MAX)
		h->conns_max = rl.rlim_cur / 4;
	if (h->conns_max < CONNS_MIN)
		h->conns_max = CONNS_MIN;
	h->waiters_max =
	    h->conns_max / 2 < WAITERS_MAX ? h->conns_max / 2 : WAITERS_MAX;
	h->ev_adopt = event_new(d->base, -1, 0, on_adopt, h);
	h->ev_resume = evtimer_new(d->base, on_resume, h);
	h->evh = evhttp_new(d->base);
	evhttp_set_allowed_methods(
	    h->evh, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST);
	evhttp_set_max_headers_size(h->evh, 16384);
	evhttp_set_max_body_size(h->evh, 4096);
	evhttp_set_timeout(h->evh, IO_TIMEOUT);
	evhttp_set_bevcb(h->evh, conn_bev, h);
	evhttp_set_gencb(h->evh, dispatch, h);
	if ((bs = evhttp_bind_socket_with_handle(
		 h->evh, host, (ev_uint16_t)port)) == NULL) {
		xasprintf(cause, "status_listen: cannot listen on %s", listen);
		goto fail;
	}
	h->lev = evhttp_bound_socket_get_listener(bs);
	listening = h;
	evconnlistener_set_error_cb(h->lev, on_accept_error);
	if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss,
		&sl) == 0) {
		if (ss.ss_family == AF_INET)
			h->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		else if (ss.ss_family == AF_INET6)
			h->port =
			    ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	/* Never fails; the daemon's feed tells it of commits. */
	h->poll = feed_sink_open(d->feed, &feed_longpoll_ops, NULL, cause);
	feed_longpoll_set_max(h->poll, h->waiters_max);
	log_info("event=status_listen address=%s port=%d connections_max=%zu "
		 "long_polls_max=%zu token=%s hosts=%zu",
	    log_q(host), h->port, h->conns_max, h->waiters_max,
	    h->token != NULL ? "yes" : "no", d->conf->nstatus_hosts);
	for (i = 0; i < d->conf->nstatus_hosts; i++)
		log_debug("event=status_host name=%s",
		    log_q(d->conf->status_hosts[i]));
	free(host);
	return h;
fail:
	if (h->evh != NULL)
		evhttp_free(h->evh);
	if (h->ev_adopt != NULL)
		event_free(h->ev_adopt);
	if (h->ev_resume != NULL)
		event_free(h->ev_resume);
	if (h->token != NULL)
		explicit_bzero(h->token, h->token_len);
	free(h->token);
	free(h->listen_host);
	free(h);
	free(host);
	return NULL;
}

void
http_stop(struct http *h)
{
	struct conn *c;
	size_t	     i;

	if (h == NULL)
		return;
	/*
	 * The loop has ended: nothing more would be written.  evhttp frees
	 * each connection, and its close callback what we hold for it.
	 */
	evhttp_free(h->evh);
	while ((c = TAILQ_FIRST(&h->fresh)) != NULL) {
		TAILQ_REMOVE(&h->fresh, c, entry);
		free(c);
	}
	listening = NULL;
	feed_sink_close(h->poll);
	event_free(h->ev_adopt);
	event_free(h->ev_resume);
	if (h->token != NULL)
		explicit_bzero(h->token, h->token_len);
	free(h->token);
	free(h->listen_host);
	for (i = 0; i < h->nreqs; i++) {
		free(h->reqs[i].source);
		free(h->reqs[i].host);
	}
	free(h->reqs);
	recs_clear(h);
	free(h);
}
