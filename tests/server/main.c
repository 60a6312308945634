/*
 * oaiserver: the test OAI-PMH repository the project's tests, `make demo`
 * and benchmarks harvest from.  One libevent loop, evhttp on 127.0.0.1:
 *
 *   /oai		the synthetic corpus (--records N)
 *   /pages		recorded responses (--pages DIR)
 *   /replay/NAME	real responses replayed (--replay MANIFEST)
 *   /control/...	change the corpus while it runs, dump it, count
 *			requests, arm faults that break later /oai responses
 *
 * See tests/server/README.md.
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "log.h"
#include "server.h"

#define HTML_CONTENT_TYPE  "text/html; charset=utf-8"
#define JSON_CONTENT_TYPE  "application/json"
#define JSONL_CONTENT_TYPE "application/x-ndjson"
#define MAX_BODY	   (64 * 1024)
#define JSON_MAX	   4096
#define REQLOG_MAX	   (16 * 1024 * 1024) /* /control/requests */

struct conf {
	const char	    *bind;
	const char	    *port_file;
	const char	    *pages_dir;
	const char	    *replay;
	const char	    *trace; /* --trace FILE */
	long long	     port;
	long long	     records;
	long long	     page_size;
	long long	     sets;
	long long	     deleted_every;
	long long	     seed;
	long long	     delay_ms;
	long long	     max_window_days;
	long long	     error_status;
	enum oai_granularity gran;
	enum ds_style	     ds_style;
	int		     verbose;
	int		     prerender;
	const char	    *faults[SRV_MAX_FAULT_SPECS];
	size_t		     nfaults;
};

struct server;

/* An OAI response held back by --delay-ms. */
struct pending {
	TAILQ_ENTRY(pending) entry;
	struct server	      *srv;
	struct evhttp_request *req;
	struct evbuffer	      *body;
	struct event	      *timer;
	int		       code;
	const char	      *type;
};

struct server {
	struct conf	   conf;
	struct event_base *base;
	struct evhttp	  *http;
	struct event	  *sigterm;
	struct event	  *sigint;
	struct corpus	  *corpus;
	struct pages	  *pages;
	struct replay	  *replay; /* --replay, or NULL */
	struct faults	  *faults;
	struct streams	  *streams;
	struct prerender  *prerender;	/* --prerender, or NULL */
	char		   origin[128]; /* http://HOST:PORT */
	char		   oai_url[128];
	char		   pages_url[128];
	unsigned long long requests;
	unsigned long long oai_requests;
	unsigned long long in_flight;
	unsigned long long max_in_flight;
	unsigned long long window_refusals;
	TAILQ_HEAD(, pending) pending;
	struct buf    reqlog; /* /oai requests, JSON Lines */
	int	      reqlog_full;
	struct trace *trace; /* --trace, or NULL */
};

struct route;
typedef void route_fn(struct server *, struct evhttp_request *,
    const struct route *, const struct form *);

/* Set-up */
static __dead void usage(void);
static void	   parse_options(struct conf *, int, char **);
static int	   bound_port(struct evhttp_bound_socket *);
static void	   write_port_file(const char *, int);
static void	   on_signal(evutil_socket_t, short, void *);

/* HTTP */
static void handle(struct evhttp_request *, void *);
static int  read_args(
     struct evhttp_request *, struct form *, int *, const char **);
static void reply(
    struct evhttp_request *, int, const char *, struct evbuffer *);
static void reply_json(struct evhttp_request *, int, const struct buf *);
static void reply_error(struct evhttp_request *, int, const char *);
static void send_oai(struct server *, struct evhttp_request *, int,
    const char *, struct evbuffer *);
static void pending_fire(evutil_socket_t, short, void *);
static void bad_oai_args(struct server *, struct evhttp_request *,
    const struct route *, const char *);

/* /oai and its faults */
static void		nodelay(struct evhttp_request *);
static void		oai_serve(struct server *, struct evhttp_request *,
		const struct form *, const char *);
static int		window_too_wide(struct server *, const struct form *);
static struct evbuffer *oai_body(
    struct server *, const struct form *, const char *, struct oaipmh_mut *);
static char *self_url(
    struct server *, struct evhttp_request *, const struct form *);
static void fault_apply(struct server *, struct evhttp_request *,
    const struct form *, const char *, const char *, struct fault_plan *);
static void fault_stream(struct server *, struct evhttp_request *,
    struct evbuffer *, const struct fault_plan *);

/* Routes */
static route_fn r_oai, r_pages, r_replay, r_add, r_change, r_dump, r_stats;
static route_fn r_fault, r_clear_faults, r_faults;
static route_fn r_move, r_xml_style, r_requests;
static void	reqlog_add(struct server *, const struct form *);
static int	oai_status(struct server *, struct evbuffer *);
static size_t	record_arg(struct server *, const struct form *, const char **);

enum {
	M_GET = 1,
	M_POST = 2
};

static const struct route {
	const char *path;
	int	    methods;
	int	    oai; /* malformed arguments are badArgument */
	route_fn   *fn;
	int (*change)(struct corpus *, size_t, const char **);
} routes[] = {
	{ "/oai", M_GET | M_POST, 1, r_oai, NULL },
	{ "/pages", M_GET | M_POST, 1, r_pages, NULL },
	{ REPLAY_PATH, M_GET | M_POST, 0, r_replay, NULL }, /* a prefix */
	{ "/control/add", M_POST, 0, r_add, NULL },
	{ "/control/update", M_POST, 0, r_change, corpus_update },
	{ "/control/touch", M_POST, 0, r_change, corpus_touch },
	{ "/control/delete", M_POST, 0, r_change, corpus_delete },
	{ "/control/undelete", M_POST, 0, r_change, corpus_undelete },
	{ "/control/purge", M_POST, 0, r_change, corpus_purge },
	{ "/control/dump", M_GET, 0, r_dump, NULL },
	{ "/control/stats", M_GET, 0, r_stats, NULL },
	{ "/control/fault", M_POST, 0, r_fault, NULL },
	{ "/control/clear-faults", M_POST, 0, r_clear_faults, NULL },
	{ "/control/faults", M_GET, 0, r_faults, NULL },
	{ "/control/move", M_POST, 0, r_move, NULL },
	{ "/control/xml-style", M_POST, 0, r_xml_style, NULL },
	{ "/control/requests", M_GET, 0, r_requests, NULL },
};

enum {
	OPT_BIND = 256,
	OPT_PORT,
	OPT_PORT_FILE,
	OPT_RECORDS,
	OPT_PAGE_SIZE,
	OPT_GRANULARITY,
	OPT_SETS,
	OPT_DELETED_EVERY,
	OPT_SEED,
	OPT_PAGES,
	OPT_DELAY_MS,
	OPT_FAULT,
	OPT_PRERENDER,
	OPT_MAX_WINDOW_DAYS,
	OPT_REPLAY,
	OPT_DATESTAMP_STYLE,
	OPT_ERROR_STATUS,
	OPT_TRACE,
};

static const struct option longopts[] = {
	{ "bind", required_argument, NULL, OPT_BIND },
	{ "port", required_argument, NULL, OPT_PORT },
	{ "port-file", required_argument, NULL, OPT_PORT_FILE },
	{ "records", required_argument, NULL, OPT_RECORDS },
	{ "page-size", required_argument, NULL, OPT_PAGE_SIZE },
	{ "granularity", required_argument, NULL, OPT_GRANULARITY },
	{ "sets", required_argument, NULL, OPT_SETS },
	{ "deleted-every", required_argument, NULL, OPT_DELETED_EVERY },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "pages", required_argument, NULL, OPT_PAGES },
	{ "delay-ms", required_argument, NULL, OPT_DELAY_MS },
	{ "fault", required_argument, NULL, OPT_FAULT },
	{ "prerender", no_argument, NULL, OPT_PRERENDER },
	{ "max-window-days", required_argument, NULL, OPT_MAX_WINDOW_DAYS },
	{ "replay", required_argument, NULL, OPT_REPLAY },
	{ "datestamp-style", required_argument, NULL, OPT_DATESTAMP_STYLE },
	{ "error-status", required_argument, NULL, OPT_ERROR_STATUS },
	{ "trace", required_argument, NULL, OPT_TRACE },
	{ "verbose", no_argument, NULL, 'v' },
	{ NULL, 0, NULL, 0 },
};

/* The numeric options and their bounds. */
static const struct numopt {
	int	    opt;
	const char *name;
	long long   min;
	long long   max;
	size_t	    off;
} numopts[] = {
	{ OPT_PORT, "port", 0, 65535, offsetof(struct conf, port) },
	{ OPT_RECORDS, "records", 0, SRV_MAX_RECORDS,
	    offsetof(struct conf, records) },
	{ OPT_PAGE_SIZE, "page-size", 1, SRV_MAX_PAGE_SIZE,
	    offsetof(struct conf, page_size) },
	{ OPT_SETS, "sets", 0, SRV_MAX_SETS, offsetof(struct conf, sets) },
	{ OPT_DELETED_EVERY, "deleted-every", 0, 1000000000,
	    offsetof(struct conf, deleted_every) },
	{ OPT_SEED, "seed", 0, INT64_MAX, offsetof(struct conf, seed) },
	{ OPT_DELAY_MS, "delay-ms", 0, SRV_MAX_DELAY_MS,
	    offsetof(struct conf, delay_ms) },
	{ OPT_MAX_WINDOW_DAYS, "max-window-days", 0, 100000,
	    offsetof(struct conf, max_window_days) },
	{ OPT_ERROR_STATUS, "error-status", 200, 599,
	    offsetof(struct conf, error_status) },
};

static const struct {
	const char   *name;
	enum ds_style style;
} ds_styles[] = {
	{ "canonical", DS_CANONICAL },
	{ "millis", DS_MILLIS },
	{ "compact", DS_COMPACT },
	{ "offset", DS_OFFSET },
	{ "space", DS_SPACE },
	{ "plus2", DS_PLUS2 },
};

static const struct {
	const char	    *name;
	enum oai_granularity gran;
} grans[] = {
	{ "day", GRAN_DAY },
	{ "seconds", GRAN_SECONDS },
};

/* Set-up */

static __dead void
usage(void)
{
	fprintf(stderr,
	    "usage: oaiserver [--bind ADDR] [--port N] "
	    "[--port-file FILE] [--records N]\n"
	    "\t[--page-size K] [--granularity day|seconds] [--sets K] "
	    "[--deleted-every D]\n"
	    "\t[--seed S] [--pages DIR] [--delay-ms MS] [--fault SPEC ...] "
	    "[--prerender]\n\t[--max-window-days N] [--replay MANIFEST] "
	    "[--datestamp-style canonical|millis|compact|offset|space|plus2]\n"
	    "\t[--error-status N] [--trace FILE] [-v]\n");
	exit(64);
}

static void
parse_options(struct conf *conf, int argc, char **argv)
{
	const char *errstr;
	size_t	    i;
	int	    ch;

	memset(conf, 0, sizeof(*conf));
	conf->bind = "127.0.0.1";
	conf->page_size = 100;
	conf->gran = GRAN_SECONDS;
	conf->sets = 4;
	conf->deleted_every = 10;
	conf->seed = 1;
	conf->error_status = 200;

	while ((ch = getopt_long(argc, argv, "v", longopts, NULL)) != -1) {
		for (i = 0; i < nitems(numopts); i++)
			if (numopts[i].opt == ch)
				break;
		if (i < nitems(numopts)) {
			if (parse_ll(optarg, numopts[i].min, numopts[i].max,
				(long long *)((char *)conf + numopts[i].off),
				&errstr) == -1) {
				fprintf(stderr, "oaiserver: --%s %s: %s\n",
				    numopts[i].name, optarg, errstr);
				usage();
			}
			continue;
		}
		switch (ch) {
		case OPT_BIND:
			conf->bind = optarg;
			break;
		case OPT_PORT_FILE:
			conf->port_file = optarg;
			break;
		case OPT_PAGES:
			conf->pages_dir = optarg;
			break;
		case OPT_REPLAY:
			conf->replay = optarg;
			break;
		case OPT_TRACE:
			conf->trace = optarg;
			break;
		case OPT_FAULT:
			if (conf->nfaults == nitems(conf->faults)) {
				fprintf(
				    stderr, "oaiserver: too many --fault\n");
				usage();
			}
			conf->faults[conf->nfaults++] = optarg;
			break;
		case OPT_GRANULARITY:
			for (i = 0; i < nitems(grans); i++)
				if (strcmp(optarg, grans[i].name) == 0)
					break;
			if (i == nitems(grans))
				usage();
			conf->gran = grans[i].gran;
			break;
		case OPT_DATESTAMP_STYLE:
			for (i = 0; i < nitems(ds_styles); i++)
				if (strcmp(optarg, ds_styles[i].name) == 0)
					break;
			if (i == nitems(ds_styles))
				usage();
			conf->ds_style = ds_styles[i].style;
			break;
		case 'v':
			conf->verbose = 1;
			break;
		case OPT_PRERENDER:
			conf->prerender = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
}

static int
bound_port(struct evhttp_bound_socket *bs)
{
	struct sockaddr_storage ss;
	socklen_t		len = sizeof(ss);

	if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss,
		&len) == -1)
		fatal("getsockname");
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	fatalx("bound to an unknown address family");
}

/* Written whole or not at all: tests poll for the file and read it. */
static void
write_port_file(const char *path, int port)
{
	FILE *fp;
	char *tmp;

	xasprintf(&tmp, "%s.tmp.%ld", path, (long)getpid());
	if ((fp = fopen(tmp, "w")) == NULL)
		fatal("%s", tmp);
	if (fprintf(fp, "%d\n", port) < 0 || fclose(fp) == EOF)
		fatal("%s", tmp);
	if (rename(tmp, path) == -1)
		fatal("rename %s", path);
	free(tmp);
}

static void
on_signal(evutil_socket_t sig, short events, void *arg)
{
	struct server *srv = arg;

	log_info("msg=\"stopping\" signal=%d", (int)sig);
	event_base_loopbreak(srv->base);
}

/* HTTP */

/*
 * The arguments: a POST's form body when it has one, otherwise the query
 * string (also for POSTs to /control/..., which carry them in the URL).
 */
static int
read_args(
    struct evhttp_request *req, struct form *f, int *status, const char **cause)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	struct evbuffer		*in = evhttp_request_get_input_buffer(req);
	const char		*q, *type;
	size_t			 len;

	type = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "Content-Type");
	len = evbuffer_get_length(in);
	if (evhttp_request_get_command(req) == EVHTTP_REQ_POST && len > 0 &&
	    type != NULL &&
	    strncasecmp(type, "application/x-www-form-urlencoded", 33) == 0) {
		if (len > SRV_MAX_QUERY) {
			*status = 413;
			*cause = "request body too long";
			return -1;
		}
		q = (const char *)evbuffer_pullup(in, -1);
	} else {
		if ((q = evhttp_uri_get_query(uri)) == NULL)
			q = "";
		if ((len = strlen(q)) > SRV_MAX_QUERY) {
			*status = 414;
			*cause = "query string too long";
			return -1;
		}
	}
	*status = 400;
	return form_parse(f, q, len, cause);
}

static void
reply(struct evhttp_request *req, int code, const char *type,
    struct evbuffer *body)
{
	evhttp_add_header(
	    evhttp_request_get_output_headers(req), "Content-Type", type);
	log_debug("msg=\"reply\" uri=%s status=%d bytes=%zu",
	    log_q(evhttp_request_get_uri(req)), code,
	    body != NULL ? evbuffer_get_length(body) : 0);
	evhttp_send_reply(req, code, fault_reason(code), body);
}

static void
reply_json(struct evhttp_request *req, int code, const struct buf *b)
{
	struct evbuffer *body;

	if ((body = evbuffer_new()) == NULL)
		fatalx("evbuffer_new");
	evbuffer_add(body, buf_str(b), b->len);
	evbuffer_add(body, "\n", 1);
	reply(req, code, JSON_CONTENT_TYPE, body);
	evbuffer_free(body);
}

static void
reply_error(struct evhttp_request *req, int code, const char *msg)
{
	struct buf b;

	buf_init(&b, JSON_MAX);
	if (buf_addstr(&b, "{\"ok\":false,\"error\":") == -1 ||
	    json_add_string(&b, msg, (size_t)-1) == -1 ||
	    buf_addch(&b, '}') == -1)
		fatalx("reply_error: message too long");
	reply_json(req, code, &b);
	buf_free(&b);
}

/*
 * Every OAI response goes out here, after --delay-ms on a timer when set,
 * so that the harvester's concurrency shows in in_flight.  Faults' answers
 * too, unless they take the connection over (stream.c).
 */
static void
send_oai(struct server *srv, struct evhttp_request *req, int code,
    const char *type, struct evbuffer *body)
{
	struct pending *p;
	struct timeval	tv;

	if (++srv->in_flight > srv->max_in_flight)
		srv->max_in_flight = srv->in_flight;
	if (srv->conf.delay_ms == 0) {
		reply(req, code, type, body);
		evbuffer_free(body);
		srv->in_flight--;
		return;
	}
	p = xcalloc(1, sizeof(*p));
	p->srv = srv;
	p->req = req;
	p->body = body;
	p->code = code;
	p->type = type;
	if ((p->timer = evtimer_new(srv->base, pending_fire, p)) == NULL)
		fatalx("evtimer_new");
	tv.tv_sec = srv->conf.delay_ms / 1000;
	tv.tv_usec = (srv->conf.delay_ms % 1000) * 1000;
	evtimer_add(p->timer, &tv);
	TAILQ_INSERT_TAIL(&srv->pending, p, entry);
}

static void
pending_fire(evutil_socket_t fd, short events, void *arg)
{
	struct pending *p = arg;
	struct server  *srv = p->srv;

	TAILQ_REMOVE(&srv->pending, p, entry);
	reply(p->req, p->code, p->type, p->body);
	srv->in_flight--;
	evbuffer_free(p->body);
	event_free(p->timer);
	free(p);
}

/* Arguments that do not even decode are an OAI badArgument, as usual. */
static void
bad_oai_args(struct server *srv, struct evhttp_request *req,
    const struct route *rt, const char *cause)
{
	struct oaipmh_error err;
	struct form	    empty;
	struct evbuffer	   *body;

	if (rt->fn == r_oai) {
		oai_serve(srv, req, NULL, cause);
		return;
	}
	if (srv->pages == NULL) {
		reply_error(req, 404, "no --pages directory");
		return;
	}
	srv->oai_requests++;
	empty.n = 0;
	err.code = "badArgument";
	snprintf(err.msg, sizeof(err.msg), "%s", cause);
	if ((body = evbuffer_new()) == NULL)
		fatalx("evbuffer_new");
	oaipmh_error_response(body, srv->pages_url, &empty, &err);
	send_oai(srv, req, 200, OAI_CONTENT_TYPE, body);
}

static void
handle(struct evhttp_request *req, void *arg)
{
	struct server	   *srv = arg;
	const struct route *rt = NULL;
	const char	   *path, *cause;
	struct form	    f;
	size_t		    i;
	int		    m, status;

	srv->requests++;
	/* After a request it could not read, libevent calls back sans URI. */
	if (evhttp_request_get_evhttp_uri(req) == NULL) {
		reply_error(req, 400, "malformed request");
		return;
	}
	path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	if (path == NULL)
		path = "";
	trace_request(srv->trace, req, path);
	/* /oai/ANYTHING is /oai too: many sources on one host. */
	for (i = 0; i < nitems(routes); i++)
		if (strcmp(path, routes[i].path) == 0 ||
		    (routes[i].fn == r_oai && strncmp(path, "/oai/", 5) == 0) ||
		    (routes[i].fn == r_replay &&
			strncmp(path, REPLAY_PATH, strlen(REPLAY_PATH)) == 0))
			rt = &routes[i];
	if (rt == NULL) {
		reply_error(req, 404, "no such path");
		return;
	}
	switch (evhttp_request_get_command(req)) {
	case EVHTTP_REQ_GET:
		m = M_GET;
		break;
	case EVHTTP_REQ_POST:
		m = M_POST;
		break;
	default:
		m = 0;
		break;
	}
	if ((rt->methods & m) == 0) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow",
		    rt->methods & M_GET ?
			(rt->methods & M_POST ? "GET, POST" : "GET") :
			"POST");
		reply_error(req, 405, "method not allowed");
		return;
	}
	if (read_args(req, &f, &status, &cause) == -1) {
		if (rt->oai && status == 400)
			bad_oai_args(srv, req, rt, cause);
		else
			reply_error(req, status, cause);
		return;
	}
	rt->fn(srv, req, rt, &f);
	form_free(&f);
}

/* Routes */

static void
r_oai(struct server *srv, struct evhttp_request *req, const struct route *rt,
    const struct form *f)
{
	oai_serve(srv, req, f, NULL);
}

static void
r_pages(struct server *srv, struct evhttp_request *req, const struct route *rt,
    const struct form *f)
{
	struct evbuffer *body;

	if (srv->pages == NULL) {
		reply_error(req, 404, "no --pages directory");
		return;
	}
	srv->oai_requests++;
	if ((body = evbuffer_new()) == NULL)
		fatalx("evbuffer_new");
	pages_respond(srv->pages, f, srv->pages_url, body);
	send_oai(srv, req, 200, OAI_CONTENT_TYPE, body);
}

static void
r_replay(struct server *srv, struct evhttp_request *req, const struct route *rt,
    const struct form *f)
{
	if (srv->replay == NULL) {
		reply_error(req, 404, "no --replay manifest");
		return;
	}
	srv->oai_requests++;
	replay_respond(srv->replay, req, f, srv->origin);
}

/* /oai and its faults */

/*
 * An /oai request (badarg: its arguments did not decode): the corpus's
 * answer, unless a fault fires for it.
 */
/*
 * A pre-rendered reply goes out without Nagle's delay: otherwise its last
 * segment waits for the client's delayed ACK (40 ms on Linux) on a
 * kept-alive connection, and the server, not the harvester, sets the pace.
 */
static void
nodelay(struct evhttp_request *req)
{
	struct evhttp_connection *evcon;
	struct bufferevent	 *bev;
	evutil_socket_t		  fd;
	int			  one = 1;

	if ((evcon = evhttp_request_get_connection(req)) != NULL &&
	    (bev = evhttp_connection_get_bufferevent(evcon)) != NULL &&
	    (fd = bufferevent_getfd(bev)) != -1)
		(void)setsockopt(
		    fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void
oai_serve(struct server *srv, struct evhttp_request *req, const struct form *f,
    const char *badarg)
{
	struct oaipmh_req rq;
	struct fault_plan plan;
	struct evbuffer	 *body;
	const char	 *pre;
	size_t		  prelen;
	char		 *url;

	srv->oai_requests++;
	reqlog_add(srv, f);
	if (badarg == NULL && f != NULL && window_too_wide(srv, f)) {
		/* What an overloaded repository says: no Retry-After. */
		srv->window_refusals++;
		if ((body = evbuffer_new()) == NULL)
			fatalx("evbuffer_new");
		evbuffer_add_printf(body,
		    "selective harvest too large: ask "
		    "for at most %lld days\n",
		    srv->conf.max_window_days);
		send_oai(srv, req, 503, "text/plain", body);
		return;
	}
	if (badarg != NULL) {
		memset(&rq, 0, sizeof(rq));
		rq.page = -1;
	} else
		oaipmh_classify(
		    srv->corpus, f, (size_t)srv->conf.page_size, &rq);
	url = self_url(srv, req, f);
	if (faults_take(srv->faults, &rq, url, &plan))
		fault_apply(srv, req, f, badarg, url, &plan);
	else if (badarg == NULL &&
	    prerender_lookup(srv->prerender, f, &rq, &pre, &prelen)) {
		/* By reference: the bytes stay in the cache. */
		nodelay(req);
		if ((body = evbuffer_new()) == NULL ||
		    evbuffer_add_reference(body, pre, prelen, NULL, NULL) == -1)
			fatalx("evbuffer_add_reference");
		send_oai(srv, req, 200, OAI_CONTENT_TYPE, body);
	} else {
		body = oai_body(srv, f, badarg, NULL);
		send_oai(
		    srv, req, oai_status(srv, body), OAI_CONTENT_TYPE, body);
	}
	free(url);
}

/*
 * --max-window-days: a repository that cannot answer a selective harvest
 * wider than N days.  The first request of ListRecords or ListIdentifiers
 * spans from (or the earliest datestamp) to until (or now); a token's
 * pages are never refused.
 */
static int
window_too_wide(struct server *srv, const struct form *f)
{
	const char	    *verb, *from, *until;
	time_t		     a, b;
	enum oai_granularity g;

	if (srv->conf.max_window_days <= 0 ||
	    (verb = form_get(f, "verb")) == NULL ||
	    (strcmp(verb, "ListRecords") != 0 &&
		strcmp(verb, "ListIdentifiers") != 0) ||
	    form_get(f, "resumptionToken") != NULL)
		return 0;
	from = form_get(f, "from");
	until = form_get(f, "until");
	a = corpus_earliest(srv->corpus);
	b = time(NULL);
	if (from != NULL && datestamp_parse(from, &a, NULL) == -1)
		return 0; /* badArgument, from oaipmh.c */
	if (until != NULL) {
		if (datestamp_parse(until, &b, &g) == -1)
			return 0;
		if (g == GRAN_DAY)
			b += 86399;
	}
	return (long long)(b - a) + 1 > srv->conf.max_window_days * 86400;
}

static struct evbuffer *
oai_body(struct server *srv, const struct form *f, const char *badarg,
    struct oaipmh_mut *mut)
{
	struct oaipmh_error err;
	struct form	    empty;
	struct evbuffer	   *body;

	if ((body = evbuffer_new()) == NULL)
		fatalx("evbuffer_new");
	if (badarg == NULL) {
		oaipmh_respond(srv->corpus, f, srv->oai_url,
		    (size_t)srv->conf.page_size, mut, body);
		return body;
	}
	empty.n = 0;
	err.code = "badArgument";
	snprintf(err.msg, sizeof(err.msg), "%s", badarg);
	oaipmh_error_response(body, srv->oai_url, &empty, &err);
	return body;
}

/*
 * The request's own absolute URL: where a redirect fault points, and what
 * a redirect loop recognises.  A POST's form becomes the query string.
 */
static char *
self_url(struct server *srv, struct evhttp_request *req, const struct form *f)
{
	const struct evhttp_uri *uri;
	struct buf		 b;
	const char		*q;
	char			*n, *v, *url;
	size_t			 i;
	int			 e;

	if (f == NULL || evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		uri = evhttp_request_get_evhttp_uri(req);
		q = evhttp_uri_get_query(uri);
		xasprintf(&url, "%s%s%s%s", srv->origin,
		    evhttp_uri_get_path(uri), q != NULL ? "?" : "",
		    q != NULL ? q : "");
		return url;
	}
	buf_init(&b, 3 * SRV_MAX_QUERY + sizeof(srv->oai_url) + 8);
	e = buf_addstr(&b, srv->oai_url);
	for (i = 0; i < f->n; i++) {
		n = evhttp_uriencode(f->args[i].name, -1, 0);
		v = evhttp_uriencode(f->args[i].value, -1, 0);
		if (n == NULL || v == NULL)
			fatalx("evhttp_uriencode");
		e |= buf_printf(&b, "%c%s=%s", i == 0 ? '?' : '&', n, v);
		free(n);
		free(v);
	}
	if (e != 0)
		fatalx("self_url: too long");
	url = xstrdup(buf_str(&b));
	buf_free(&b);
	return url;
}

static void
fault_apply(struct server *srv, struct evhttp_request *req,
    const struct form *f, const char *badarg, const char *url,
    struct fault_plan *plan)
{
	struct evkeyvalq *hdrs = evhttp_request_get_output_headers(req);
	struct evbuffer	 *body;
	const char	 *hname, *hvalue;
	char		 *other;
	size_t		  olen = strlen(srv->origin);
	int		  status;

	if (plan->body == FBODY_CHALLENGE) {
		if ((body = evbuffer_new()) == NULL)
			fatalx("evbuffer_new");
		fault_challenge(body, plan->wall, &status, &hname, &hvalue);
		if (hname != NULL)
			evhttp_add_header(hdrs, hname, hvalue);
		send_oai(srv, req, status, HTML_CONTENT_TYPE, body);
		return;
	}
	if (plan->body != FBODY_OAI) {
		if ((body = evbuffer_new()) == NULL)
			fatalx("evbuffer_new");
		fault_html(body, plan->status);
		/* port=P: the same URL on another port of 127.0.0.1. */
		if (plan->body == FBODY_REDIRECT && plan->port > 0 &&
		    strncmp(url, srv->origin, olen) == 0) {
			xasprintf(&other, "http://127.0.0.1:%d%s", plan->port,
			    url + olen);
			evhttp_add_header(hdrs, "Location", other);
			free(other);
		} else if (plan->body == FBODY_REDIRECT)
			evhttp_add_header(hdrs, "Location", url);
		if (plan->retry_after[0] != '\0')
			evhttp_add_header(
			    hdrs, "Retry-After", plan->retry_after);
		send_oai(srv, req, plan->status, HTML_CONTENT_TYPE, body);
		return;
	}
	body = oai_body(srv, f, badarg, &plan->mut);
	if (plan->mut.kind != MUT_NONE && !plan->mut.applied)
		log_info("msg=\"fault changed nothing\" id=%u kind=%s",
		    plan->id, plan->kind);
	if (plan->wire != FWIRE_NORMAL) {
		fault_stream(srv, req, body, plan);
		return;
	}
	switch (plan->enc) {
	case FENC_NONE:
		break;
	case FENC_GZIP:
		stream_compress(body, 1);
		evhttp_add_header(hdrs, "Content-Encoding", "gzip");
		break;
	case FENC_DEFLATE:
		stream_compress(body, 0);
		evhttp_add_header(hdrs, "Content-Encoding", "deflate");
		break;
	case FENC_GZIP_NOHEADER:
		stream_compress(body, 1);
		break;
	}
	/* oai_status's status=, else --error-status for an OAI error. */
	send_oai(srv, req,
	    plan->status != 200	       ? plan->status :
		plan->enc == FENC_NONE ? oai_status(srv, body) :
					 200,
	    OAI_CONTENT_TYPE, body);
}

/*
 * The faults below HTTP: the response's bytes, written by stream.c.  An
 * oversize body is the OAI response with a comment of mb MiB of spaces
 * before the root element's end tag.
 */
static void
fault_stream(struct server *srv, struct evhttp_request *req,
    struct evbuffer *body, const struct fault_plan *plan)
{
	static const char  root_end[] = "</OAI-PMH>\n";
	struct stream_spec spec;
	size_t		   len = evbuffer_get_length(body), cut;
	long long	   total;

	memset(&spec, 0, sizeof(spec));
	spec.label = plan->kind;
	if ((spec.head = evbuffer_new()) == NULL ||
	    (spec.prefix = evbuffer_new()) == NULL)
		fatalx("evbuffer_new");
	switch (plan->wire) {
	case FWIRE_OVERSIZE:
		cut = len >= sizeof(root_end) - 1 ?
		    len - (sizeof(root_end) - 1) :
		    len;
		evbuffer_remove_buffer(body, spec.prefix, cut);
		evbuffer_add_printf(
		    spec.prefix, "<!-- oaiserver: oversize padding\n");
		if ((spec.suffix = evbuffer_new()) == NULL)
			fatalx("evbuffer_new");
		evbuffer_add_printf(spec.suffix, "\n-->\n");
		evbuffer_add_buffer(spec.suffix, body);
		spec.pad = (uint64_t)plan->mb * 1024 * 1024;
		spec.gzip = plan->gzipbomb;
		spec.chunked = plan->gzipbomb || plan->chunked;
		total = (long long)(evbuffer_get_length(spec.prefix) +
		    spec.pad + evbuffer_get_length(spec.suffix));
		stream_head(spec.head, spec.chunked ? -1 : total,
		    spec.gzip ? "gzip" : NULL);
		spec.end = STREAM_CLOSE;
		break;
	case FWIRE_RESET:
	case FWIRE_TRUNCATE:
	case FWIRE_STALL:
		/* Never the whole body: then it would be no fault. */
		cut = plan->bytes < 0 ? len / 2 : (size_t)plan->bytes;
		if (cut >= len)
			cut = len > 0 ? len - 1 : 0;
		evbuffer_remove_buffer(body, spec.prefix, cut);
		stream_head(spec.head, (long long)len, NULL);
		spec.end = plan->wire == FWIRE_RESET ? STREAM_RESET :
		    plan->wire == FWIRE_STALL	     ? STREAM_STALL :
						       STREAM_CLOSE;
		spec.stall = plan->seconds;
		break;
	case FWIRE_NORMAL:
		fatalx("fault_stream: nothing to stream");
	}
	evbuffer_free(body);
	if (stream_start(srv->streams, req, &spec) == -1) {
		reply_error(req, 500, "could not take the connection over");
		return;
	}
	if (srv->in_flight + streams_active(srv->streams) > srv->max_in_flight)
		srv->max_in_flight =
		    srv->in_flight + streams_active(srv->streams);
}

/* The record named by id=: an index or an identifier. */
static size_t
record_arg(struct server *srv, const struct form *f, const char **cause)
{
	const char *id, *errstr;
	long long   v;
	size_t	    i;

	if ((id = form_get(f, "id")) == NULL || form_count(f, "id") != 1) {
		*cause = "exactly one id= is required";
		return 0;
	}
	if ((i = corpus_lookup(srv->corpus, id)) != 0)
		return i;
	if (parse_ll(id, 1, (long long)corpus_size(srv->corpus), &v, &errstr) ==
	    -1) {
		*cause = "id is not a record index or identifier";
		return 0;
	}
	return (size_t)v;
}

static void
r_add(struct server *srv, struct evhttp_request *req, const struct route *rt,
    const struct form *f)
{
	struct corpus_rec r;
	struct buf	  b;
	const char	 *n, *errstr, *cause;
	char		  id[64], ds[SRV_DATESTAMP_LEN];
	long long	  v;
	size_t		  first, last;
	int		  e = 0;

	if ((n = form_get(f, "n")) == NULL || form_count(f, "n") != 1 ||
	    parse_ll(n, 1, SRV_MAX_ADD, &v, &errstr) == -1) {
		reply_error(req, 400, "n= must be a number of records");
		return;
	}
	if (corpus_add(srv->corpus, (size_t)v, &first, &cause) == -1) {
		reply_error(req, 400, cause);
		return;
	}
	prerender_drop(srv->prerender);
	last = corpus_size(srv->corpus);
	corpus_get(srv->corpus, last, &r);
	corpus_datestamp(srv->corpus, r.datestamp, ds);
	buf_init(&b, JSON_MAX);
	e |= buf_printf(&b, "{\"ok\":true,\"added\":%lld,\"first\":", v);
	corpus_identifier(first, id, sizeof(id));
	e |= json_add_string(&b, id, (size_t)-1);
	e |= buf_addstr(&b, ",\"last\":");
	corpus_identifier(last, id, sizeof(id));
	e |= json_add_string(&b, id, (size_t)-1);
	e |= buf_addstr(&b, ",\"datestamp\":");
	e |= json_add_string(&b, ds, (size_t)-1);
	e |= buf_printf(&b, ",\"records\":%zu}", last);
	if (e != 0)
		fatalx("r_add: reply too long");
	log_info("msg=\"added\" n=%lld records=%zu", v, last);
	reply_json(req, 200, &b);
	buf_free(&b);
}

static void
r_change(struct server *srv, struct evhttp_request *req, const struct route *rt,
    const struct form *f)
{
	struct corpus_rec r;
	struct buf	  b;
	const char	 *cause;
	char		  id[64], ds[SRV_DATESTAMP_LEN];
	size_t		  i;
	int		  e = 0;

	if ((i = record_arg(srv, f, &cause)) == 0 ||
	    rt->change(srv->corpus, i, &cause) == -1) {
		reply_error(req, 400, cause);
		return;
	}
	prerender_drop(srv->prerender);
	corpus_get(srv->corpus, i, &r);
	corpus_identifier(i, id, sizeof(id));
	corpus_datestamp(srv->corpus, r.datestamp, ds);
	buf_init(&b, JSON_MAX);
	e |= buf_addstr(&b, "{\"ok\":true,\"identifier\":");
	e |= json_add_string(&b, id, (size_t)-1);
	e |= buf_addstr(&b, ",\"datestamp\":");
	e |= json_add_string(&b, ds, (size_t)-1);
	e |= buf_printf(&b, ",\"deleted\":%s,\"version\":%u}",
	    r.deleted ? "true" : "false", (unsigned int)r.version);
	if (e != 0)
		fatalx("r_change: reply too long");
	log_info("msg=\"changed\" path=%s identifier=%s datestamp=%s", rt->path,
	    id, ds);
	reply_json(req, 200, &b);
	buf_free(&b);
}

static void
r_dump(struct server *srv, struct evhttp_request *req, const struct route *rt,
    const struct form *f)
{
	struct evbuffer *body;

	if ((body = evbuffer_new()) == NULL)
		fatalx("evbuffer_new");
	corpus_dump(srv->corpus, body);
	reply(req, 200, JSONL_CONTENT_TYPE, body);
	evbuffer_free(body);
}

static void
r_stats(struct server *srv, struct evhttp_request *req, const struct route *rt,
    const struct form *f)
{
	struct buf b;

	buf_init(&b, JSON_MAX);
	/* max_in_flight stays last: tests match "\"max_in_flight\":N}". */
	if (buf_printf(&b,
		"{\"requests\":%llu,\"oai_requests\":%llu,"
		"\"faults_fired\":%llu,\"window_refusals\":%llu,"
		"\"in_flight\":%llu,\"max_in_flight\":%llu}",
		srv->requests, srv->oai_requests, faults_fired(srv->faults),
		srv->window_refusals,
		srv->in_flight + streams_active(srv->streams),
		srv->max_in_flight) == -1)
		fatalx("r_stats: reply too long");
	reply_json(req, 200, &b);
	buf_free(&b);
}

static void
r_fault(struct server *srv, struct evhttp_request *req, const struct route *rt,
    const struct form *f)
{
	struct buf   b;
	const char  *cause;
	unsigned int id;

	if (faults_add(srv->faults, f, &id, &cause) == -1) {
		reply_error(req, 400, cause);
		return;
	}
	buf_init(&b, JSON_MAX);
	if (buf_printf(&b, "{\"ok\":true,\"id\":%u}", id) == -1)
		fatalx("r_fault: reply too long");
	reply_json(req, 200, &b);
	buf_free(&b);
}

static void
r_clear_faults(struct server *srv, struct evhttp_request *req,
    const struct route *rt, const struct form *f)
{
	struct buf b;

	faults_clear(srv->faults);
	log_info("msg=\"faults cleared\"");
	buf_init(&b, JSON_MAX);
	if (buf_addstr(&b, "{\"ok\":true}") == -1)
		fatalx("r_clear_faults: reply too long");
	reply_json(req, 200, &b);
	buf_free(&b);
}

static void
r_faults(struct server *srv, struct evhttp_request *req, const struct route *rt,
    const struct form *f)
{
	struct evbuffer *body;

	if ((body = evbuffer_new()) == NULL)
		fatalx("evbuffer_new");
	faults_list(srv->faults, body);
	reply(req, 200, JSONL_CONTENT_TYPE, body);
	evbuffer_free(body);
}

/*
 * --error-status: an OAI error document goes out with that HTTP status, as
 * Zenodo sends noRecordsMatch with 422.  Record text is escaped, so only
 * an error element can carry this.
 */
static int
oai_status(struct server *srv, struct evbuffer *body)
{
	static const char   mark[] = "<error code=\"";
	struct evbuffer_ptr p;

	if (srv->conf.error_status == 200)
		return 200;
	p = evbuffer_search(body, mark, sizeof(mark) - 1, NULL);
	return p.pos == -1 ? 200 : (int)srv->conf.error_status;
}

/* One /oai request's OAI arguments, for GET /control/requests. */
static void
reqlog_add(struct server *srv, const struct form *f)
{
	static const char *const names[] = { "verb", "metadataPrefix", "set",
		"from", "until", "resumptionToken", "identifier" };
	size_t			 i, mark = srv->reqlog.len;
	const char		*v;
	int			 e = 0, first = 1;

	if (srv->reqlog_full)
		return;
	e |= buf_addch(&srv->reqlog, '{');
	for (i = 0; f != NULL && i < nitems(names); i++) {
		if ((v = form_get(f, names[i])) == NULL)
			continue;
		e |= buf_printf(
		    &srv->reqlog, "%s\"%s\":", first ? "" : ",", names[i]);
		e |= json_add_string(&srv->reqlog, v, (size_t)-1);
		first = 0;
	}
	e |= buf_addstr(&srv->reqlog, "}\n");
	if (e != 0) {
		/* Full: the reply says so instead of losing lines quietly. */
		srv->reqlog.len = mark;
		srv->reqlog_full = 1;
	}
}

/* The /oai requests since the last call, JSON Lines; then forgets them. */
static void
r_requests(struct server *srv, struct evhttp_request *req,
    const struct route *rt, const struct form *f)
{
	struct evbuffer *body;

	if ((body = evbuffer_new()) == NULL)
		fatalx("evbuffer_new");
	evbuffer_add(body, srv->reqlog.data, srv->reqlog.len);
	if (srv->reqlog_full)
		evbuffer_add_printf(body, "{\"truncated\":true}\n");
	buf_reset(&srv->reqlog);
	srv->reqlog_full = 0;
	reply(req, 200, JSONL_CONTENT_TYPE, body);
	evbuffer_free(body);
}

/* POST /control/move?id=I&set=col_J: record I moves to collection J. */
static void
r_move(struct server *srv, struct evhttp_request *req, const struct route *rt,
    const struct form *f)
{
	struct corpus_rec r;
	struct buf	  b;
	const char	 *cause, *set;
	char		  id[64], ds[SRV_DATESTAMP_LEN];
	size_t		  i;
	int		  s, e = 0;

	if ((i = record_arg(srv, f, &cause)) == 0) {
		reply_error(req, 400, cause);
		return;
	}
	if ((set = form_get(f, "set")) == NULL || form_count(f, "set") != 1 ||
	    (s = corpus_set_lookup(srv->corpus, set)) < 0 ||
	    strncmp(set, "col_", 4) != 0) {
		reply_error(req, 400, "set= must name a collection col_J");
		return;
	}
	if (corpus_move(srv->corpus, i, s, &cause) == -1) {
		reply_error(req, 400, cause);
		return;
	}
	prerender_drop(srv->prerender);
	corpus_get(srv->corpus, i, &r);
	corpus_identifier(i, id, sizeof(id));
	corpus_datestamp(srv->corpus, r.datestamp, ds);
	buf_init(&b, JSON_MAX);
	e |= buf_addstr(&b, "{\"ok\":true,\"identifier\":");
	e |= json_add_string(&b, id, (size_t)-1);
	e |= buf_addstr(&b, ",\"datestamp\":");
	e |= json_add_string(&b, ds, (size_t)-1);
	e |= buf_addstr(&b, ",\"set\":");
	e |= json_add_string(&b, set, (size_t)-1);
	e |= buf_addch(&b, '}');
	if (e != 0)
		fatalx("r_move: reply too long");
	log_info(
	    "msg=\"moved\" identifier=%s set=%s datestamp=%s", id, set, ds);
	reply_json(req, 200, &b);
	buf_free(&b);
}

/*
 * POST /control/xml-style?n=K: every record's metadata written another way
 * with the same content under C14N (0: as always).  No datestamp changes.
 */
static void
r_xml_style(struct server *srv, struct evhttp_request *req,
    const struct route *rt, const struct form *f)
{
	struct buf  b;
	const char *n, *errstr;
	long long   v;

	if ((n = form_get(f, "n")) == NULL || form_count(f, "n") != 1 ||
	    parse_ll(n, 0, SRV_MAX_XML_STYLE, &v, &errstr) == -1) {
		reply_error(req, 400, "n= must be an xml style number");
		return;
	}
	corpus_set_xml_style(srv->corpus, (unsigned int)v);
	prerender_drop(srv->prerender);
	buf_init(&b, JSON_MAX);
	if (buf_printf(&b, "{\"ok\":true,\"xml_style\":%lld}", v) == -1)
		fatalx("r_xml_style: reply too long");
	log_info("msg=\"xml style\" n=%lld", v);
	reply_json(req, 200, &b);
	buf_free(&b);
}

int
main(int argc, char **argv)
{
	struct server		    srv;
	struct corpus_conf	    cc;
	struct evhttp_bound_socket *bs;
	struct pending		   *p;
	char			   *cause, host[80];
	const char		   *fcause;
	size_t			    i;
	int			    port;

	memset(&srv, 0, sizeof(srv));
	parse_options(&srv.conf, argc, argv);
	log_init(srv.conf.verbose ? LOG_LVL_DEBUG : LOG_LVL_INFO);
	TAILQ_INIT(&srv.pending);
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		fatal("signal");

	if (srv.conf.pages_dir != NULL &&
	    (srv.pages = pages_load(srv.conf.pages_dir, &cause)) == NULL) {
		fprintf(stderr, "oaiserver: %s\n", cause);
		free(cause);
		return 66;
	}
	if (srv.conf.replay != NULL &&
	    (srv.replay = replay_load(srv.conf.replay, &cause)) == NULL) {
		fprintf(stderr, "oaiserver: %s\n", cause);
		free(cause);
		pages_free(srv.pages);
		return 66;
	}
	memset(&cc, 0, sizeof(cc));
	cc.seed = (uint64_t)srv.conf.seed;
	cc.records = (size_t)srv.conf.records;
	cc.sets = (unsigned int)srv.conf.sets;
	cc.deleted_every = (unsigned int)srv.conf.deleted_every;
	cc.gran = srv.conf.gran;
	cc.ds_style = srv.conf.ds_style;
	buf_init(&srv.reqlog, REQLOG_MAX);
	if (srv.conf.trace != NULL &&
	    (srv.trace = trace_open(srv.conf.trace, &cause)) == NULL) {
		fprintf(stderr, "oaiserver: %s\n", cause);
		free(cause);
		return 66;
	}
	srv.corpus = corpus_new(&cc);
	srv.faults = faults_new();
	for (i = 0; i < srv.conf.nfaults; i++) {
		if (faults_add_spec(srv.faults, srv.conf.faults[i], &fcause) ==
		    -1) {
			fprintf(stderr, "oaiserver: --fault %s: %s\n",
			    srv.conf.faults[i], fcause);
			faults_free(srv.faults);
			corpus_free(srv.corpus);
			pages_free(srv.pages);
			replay_free(srv.replay);
			return 64;
		}
	}

	if ((srv.base = event_base_new()) == NULL)
		fatalx("event_base_new");
	if ((srv.http = evhttp_new(srv.base)) == NULL)
		fatalx("evhttp_new");
	srv.streams = streams_new(srv.base);
	evhttp_set_allowed_methods(srv.http,
	    EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
		EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
	evhttp_set_max_body_size(srv.http, MAX_BODY);
	evhttp_set_gencb(srv.http, handle, &srv);
	if ((bs = evhttp_bind_socket_with_handle(
		 srv.http, srv.conf.bind, (ev_uint16_t)srv.conf.port)) == NULL)
		fatal("bind %s:%lld", srv.conf.bind, srv.conf.port);
	port = bound_port(bs);

	snprintf(host, sizeof(host),
	    strchr(srv.conf.bind, ':') != NULL ? "[%s]:%d" : "%s:%d",
	    srv.conf.bind, port);
	snprintf(srv.origin, sizeof(srv.origin), "http://%s", host);
	snprintf(srv.oai_url, sizeof(srv.oai_url), "http://%s/oai", host);
	snprintf(srv.pages_url, sizeof(srv.pages_url), "http://%s/pages", host);

	srv.sigterm = evsignal_new(srv.base, SIGTERM, on_signal, &srv);
	srv.sigint = evsignal_new(srv.base, SIGINT, on_signal, &srv);
	if (srv.sigterm == NULL || srv.sigint == NULL ||
	    evsignal_add(srv.sigterm, NULL) == -1 ||
	    evsignal_add(srv.sigint, NULL) == -1)
		fatalx("evsignal");

	if (srv.conf.prerender)
		srv.prerender = prerender_new(
		    srv.corpus, srv.oai_url, (size_t)srv.conf.page_size);
	if (srv.conf.port_file != NULL)
		write_port_file(srv.conf.port_file, port);
	printf("listening on %s\n", host);
	fflush(stdout);
	log_info("msg=\"listening\" address=%s records=%zu", host,
	    corpus_size(srv.corpus));

	if (event_base_dispatch(srv.base) == -1)
		fatalx("event_base_dispatch");

	while ((p = TAILQ_FIRST(&srv.pending)) != NULL) {
		TAILQ_REMOVE(&srv.pending, p, entry);
		evbuffer_free(p->body);
		event_free(p->timer);
		free(p);
	}
	streams_free(srv.streams);
	evhttp_free(srv.http);
	trace_free(srv.trace);
	event_free(srv.sigterm);
	event_free(srv.sigint);
	event_base_free(srv.base);
	prerender_free(srv.prerender);
	corpus_free(srv.corpus);
	pages_free(srv.pages);
	replay_free(srv.replay);
	faults_free(srv.faults);
	buf_free(&srv.reqlog);
	libevent_global_shutdown();
	return 0;
}
