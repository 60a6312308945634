/*
 * oaiserver: the test OAI-PMH repository the project's tests, `make demo`
 * and benchmarks harvest from.  One libevent loop, evhttp on 127.0.0.1:
 *
 *   /oai		the synthetic corpus (--records N)
 *   /pages		recorded responses (--pages DIR)
 *   /control/...	change the corpus while it runs, dump it, count requests
 *
 * See tests/server/README.md.
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "log.h"
#include "server.h"

#define OAI_CONTENT_TYPE	"text/xml; charset=utf-8"
#define JSON_CONTENT_TYPE	"application/json"
#define JSONL_CONTENT_TYPE	"application/x-ndjson"
#define MAX_BODY		(64 * 1024)
#define JSON_MAX		4096

struct conf {
	const char		*bind;
	const char		*port_file;
	const char		*pages_dir;
	long long		 port;
	long long		 records;
	long long		 page_size;
	long long		 sets;
	long long		 deleted_every;
	long long		 seed;
	long long		 delay_ms;
	enum oai_granularity	 gran;
	int			 verbose;
};

struct server;

/* An OAI response held back by --delay-ms. */
struct pending {
	TAILQ_ENTRY(pending)	 entry;
	struct server		*srv;
	struct evhttp_request	*req;
	struct evbuffer		*body;
	struct event		*timer;
};

struct server {
	struct conf		 conf;
	struct event_base	*base;
	struct evhttp		*http;
	struct event		*sigterm;
	struct event		*sigint;
	struct corpus		*corpus;
	struct pages		*pages;
	char			 oai_url[128];
	char			 pages_url[128];
	unsigned long long	 requests;
	unsigned long long	 oai_requests;
	unsigned long long	 in_flight;
	unsigned long long	 max_in_flight;
	TAILQ_HEAD(, pending)	 pending;
};

struct route;
typedef void	 route_fn(struct server *, struct evhttp_request *,
		    const struct route *, const struct form *);

/* Set-up */
static __dead void usage(void);
static void	 parse_options(struct conf *, int, char **);
static int	 bound_port(struct evhttp_bound_socket *);
static void	 write_port_file(const char *, int);
static void	 on_signal(evutil_socket_t, short, void *);

/* HTTP */
static void	 handle(struct evhttp_request *, void *);
static int	 read_args(struct evhttp_request *, struct form *, int *,
		    const char **);
static void	 reply(struct evhttp_request *, int, const char *,
		    struct evbuffer *);
static void	 reply_json(struct evhttp_request *, int, const struct buf *);
static void	 reply_error(struct evhttp_request *, int, const char *);
static void	 send_oai(struct server *, struct evhttp_request *,
		    struct evbuffer *);
static void	 pending_fire(evutil_socket_t, short, void *);
static void	 bad_oai_args(struct server *, struct evhttp_request *,
		    const struct route *, const char *);

/* Routes */
static route_fn	 r_oai, r_pages, r_add, r_change, r_dump, r_stats;
static size_t	 record_arg(struct server *, const struct form *,
		    const char **);

enum { M_GET = 1, M_POST = 2 };

static const struct route {
	const char	*path;
	int		 methods;
	int		 oai;	/* malformed arguments are badArgument */
	route_fn	*fn;
	int		(*change)(struct corpus *, size_t, const char **);
} routes[] = {
	{ "/oai", M_GET | M_POST, 1, r_oai, NULL },
	{ "/pages", M_GET | M_POST, 1, r_pages, NULL },
	{ "/control/add", M_POST, 0, r_add, NULL },
	{ "/control/update", M_POST, 0, r_change, corpus_update },
	{ "/control/touch", M_POST, 0, r_change, corpus_touch },
	{ "/control/delete", M_POST, 0, r_change, corpus_delete },
	{ "/control/undelete", M_POST, 0, r_change, corpus_undelete },
	{ "/control/dump", M_GET, 0, r_dump, NULL },
	{ "/control/stats", M_GET, 0, r_stats, NULL },
};

enum {
	OPT_BIND = 256, OPT_PORT, OPT_PORT_FILE, OPT_RECORDS, OPT_PAGE_SIZE,
	OPT_GRANULARITY, OPT_SETS, OPT_DELETED_EVERY, OPT_SEED, OPT_PAGES,
	OPT_DELAY_MS,
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
	{ "verbose", no_argument, NULL, 'v' },
	{ NULL, 0, NULL, 0 },
};

/* The numeric options and their bounds. */
static const struct numopt {
	int		 opt;
	const char	*name;
	long long	 min;
	long long	 max;
	size_t		 off;
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
};

static const struct {
	const char		*name;
	enum oai_granularity	 gran;
} grans[] = {
	{ "day", GRAN_DAY },
	{ "seconds", GRAN_SECONDS },
};

/* Set-up */

static __dead void
usage(void)
{
	fprintf(stderr, "usage: oaiserver [--bind ADDR] [--port N] "
	    "[--port-file FILE] [--records N]\n"
	    "\t[--page-size K] [--granularity day|seconds] [--sets K] "
	    "[--deleted-every D]\n"
	    "\t[--seed S] [--pages DIR] [--delay-ms MS] [-v]\n");
	exit(64);
}

static void
parse_options(struct conf *conf, int argc, char **argv)
{
	const char	*errstr;
	size_t		 i;
	int		 ch;

	memset(conf, 0, sizeof(*conf));
	conf->bind = "127.0.0.1";
	conf->page_size = 100;
	conf->gran = GRAN_SECONDS;
	conf->sets = 4;
	conf->deleted_every = 10;
	conf->seed = 1;

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
		case OPT_GRANULARITY:
			for (i = 0; i < nitems(grans); i++)
				if (strcmp(optarg, grans[i].name) == 0)
					break;
			if (i == nitems(grans))
				usage();
			conf->gran = grans[i].gran;
			break;
		case 'v':
			conf->verbose = 1;
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
	struct sockaddr_storage	ss;
	socklen_t		len = sizeof(ss);

	if (getsockname(evhttp_bound_socket_get_fd(bs),
	    (struct sockaddr *)&ss, &len) == -1)
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
	FILE	*fp;
	char	*tmp;

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
	struct server	*srv = arg;

	log_info("msg=\"stopping\" signal=%d", (int)sig);
	event_base_loopbreak(srv->base);
}

/* HTTP */

/*
 * The arguments: a POST's form body when it has one, otherwise the query
 * string (also for POSTs to /control/..., which carry them in the URL).
 */
static int
read_args(struct evhttp_request *req, struct form *f, int *status,
    const char **cause)
{
	const struct evhttp_uri	*uri = evhttp_request_get_evhttp_uri(req);
	struct evbuffer		*in = evhttp_request_get_input_buffer(req);
	const char		*q, *type;
	size_t			 len;

	type = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Content-Type");
	len = evbuffer_get_length(in);
	if (evhttp_request_get_command(req) == EVHTTP_REQ_POST && len > 0 &&
	    type != NULL && strncasecmp(type,
	    "application/x-www-form-urlencoded", 33) == 0) {
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
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", type);
	log_debug("msg=\"reply\" uri=%s status=%d bytes=%zu",
	    log_q(evhttp_request_get_uri(req)), code,
	    body != NULL ? evbuffer_get_length(body) : 0);
	evhttp_send_reply(req, code, NULL, body);
}

static void
reply_json(struct evhttp_request *req, int code, const struct buf *b)
{
	struct evbuffer	*body;

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
	struct buf	b;

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
 * so that the harvester's concurrency shows in in_flight.
 */
static void
send_oai(struct server *srv, struct evhttp_request *req,
    struct evbuffer *body)
{
	struct pending	*p;
	struct timeval	 tv;

	if (++srv->in_flight > srv->max_in_flight)
		srv->max_in_flight = srv->in_flight;
	if (srv->conf.delay_ms == 0) {
		reply(req, 200, OAI_CONTENT_TYPE, body);
		evbuffer_free(body);
		srv->in_flight--;
		return;
	}
	p = xcalloc(1, sizeof(*p));
	p->srv = srv;
	p->req = req;
	p->body = body;
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
	struct pending	*p = arg;
	struct server	*srv = p->srv;

	TAILQ_REMOVE(&srv->pending, p, entry);
	reply(p->req, 200, OAI_CONTENT_TYPE, p->body);
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
	struct oaipmh_error	 err;
	struct form		 empty;
	struct evbuffer		*body;

	if (rt->fn == r_pages && srv->pages == NULL) {
		reply_error(req, 404, "no --pages directory");
		return;
	}
	srv->oai_requests++;
	empty.n = 0;
	err.code = "badArgument";
	snprintf(err.msg, sizeof(err.msg), "%s", cause);
	if ((body = evbuffer_new()) == NULL)
		fatalx("evbuffer_new");
	oaipmh_error_response(body, rt->fn == r_pages ? srv->pages_url :
	    srv->oai_url, &empty, &err);
	send_oai(srv, req, body);
}

static void
handle(struct evhttp_request *req, void *arg)
{
	struct server		*srv = arg;
	const struct route	*rt = NULL;
	const char		*path, *cause;
	struct form		 f;
	size_t			 i;
	int			 m, status;

	srv->requests++;
	/* After a request it could not read, libevent calls back sans URI. */
	if (evhttp_request_get_evhttp_uri(req) == NULL) {
		reply_error(req, 400, "malformed request");
		return;
	}
	path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	if (path == NULL)
		path = "";
	for (i = 0; i < nitems(routes); i++)
		if (strcmp(path, routes[i].path) == 0)
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
		    "Allow", rt->methods & M_GET ?
		    (rt->methods & M_POST ? "GET, POST" : "GET") : "POST");
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
	struct evbuffer	*body;

	srv->oai_requests++;
	if ((body = evbuffer_new()) == NULL)
		fatalx("evbuffer_new");
	oaipmh_respond(srv->corpus, f, srv->oai_url,
	    (size_t)srv->conf.page_size, body);
	send_oai(srv, req, body);
}

static void
r_pages(struct server *srv, struct evhttp_request *req,
    const struct route *rt, const struct form *f)
{
	struct evbuffer	*body;

	if (srv->pages == NULL) {
		reply_error(req, 404, "no --pages directory");
		return;
	}
	srv->oai_requests++;
	if ((body = evbuffer_new()) == NULL)
		fatalx("evbuffer_new");
	pages_respond(srv->pages, f, srv->pages_url, body);
	send_oai(srv, req, body);
}

/* The record named by id=: an index or an identifier. */
static size_t
record_arg(struct server *srv, const struct form *f, const char **cause)
{
	const char	*id, *errstr;
	long long	 v;
	size_t		 i;

	if ((id = form_get(f, "id")) == NULL || form_count(f, "id") != 1) {
		*cause = "exactly one id= is required";
		return 0;
	}
	if ((i = corpus_lookup(srv->corpus, id)) != 0)
		return i;
	if (parse_ll(id, 1, (long long)corpus_size(srv->corpus), &v,
	    &errstr) == -1) {
		*cause = "id is not a record index or identifier";
		return 0;
	}
	return (size_t)v;
}

static void
r_add(struct server *srv, struct evhttp_request *req, const struct route *rt,
    const struct form *f)
{
	struct corpus_rec	 r;
	struct buf		 b;
	const char		*n, *errstr, *cause;
	char			 id[64], ds[DATESTAMP_LEN];
	long long		 v;
	size_t			 first, last;
	int			 e = 0;

	if ((n = form_get(f, "n")) == NULL || form_count(f, "n") != 1 ||
	    parse_ll(n, 1, SRV_MAX_ADD, &v, &errstr) == -1) {
		reply_error(req, 400, "n= must be a number of records");
		return;
	}
	if (corpus_add(srv->corpus, (size_t)v, &first, &cause) == -1) {
		reply_error(req, 400, cause);
		return;
	}
	last = corpus_size(srv->corpus);
	corpus_get(srv->corpus, last, &r);
	datestamp_format(r.datestamp, srv->conf.gran, ds);
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
r_change(struct server *srv, struct evhttp_request *req,
    const struct route *rt, const struct form *f)
{
	struct corpus_rec	 r;
	struct buf		 b;
	const char		*cause;
	char			 id[64], ds[DATESTAMP_LEN];
	size_t			 i;
	int			 e = 0;

	if ((i = record_arg(srv, f, &cause)) == 0 ||
	    rt->change(srv->corpus, i, &cause) == -1) {
		reply_error(req, 400, cause);
		return;
	}
	corpus_get(srv->corpus, i, &r);
	corpus_identifier(i, id, sizeof(id));
	datestamp_format(r.datestamp, srv->conf.gran, ds);
	buf_init(&b, JSON_MAX);
	e |= buf_addstr(&b, "{\"ok\":true,\"identifier\":");
	e |= json_add_string(&b, id, (size_t)-1);
	e |= buf_addstr(&b, ",\"datestamp\":");
	e |= json_add_string(&b, ds, (size_t)-1);
	e |= buf_printf(&b, ",\"deleted\":%s,\"version\":%u}",
	    r.deleted ? "true" : "false", (unsigned int)r.version);
	if (e != 0)
		fatalx("r_change: reply too long");
	log_info("msg=\"changed\" path=%s identifier=%s datestamp=%s",
	    rt->path, id, ds);
	reply_json(req, 200, &b);
	buf_free(&b);
}

static void
r_dump(struct server *srv, struct evhttp_request *req,
    const struct route *rt, const struct form *f)
{
	struct evbuffer	*body;

	if ((body = evbuffer_new()) == NULL)
		fatalx("evbuffer_new");
	corpus_dump(srv->corpus, body);
	reply(req, 200, JSONL_CONTENT_TYPE, body);
	evbuffer_free(body);
}

static void
r_stats(struct server *srv, struct evhttp_request *req,
    const struct route *rt, const struct form *f)
{
	struct buf	b;

	buf_init(&b, JSON_MAX);
	if (buf_printf(&b, "{\"requests\":%llu,\"oai_requests\":%llu,"
	    "\"in_flight\":%llu,\"max_in_flight\":%llu}", srv->requests,
	    srv->oai_requests, srv->in_flight, srv->max_in_flight) == -1)
		fatalx("r_stats: reply too long");
	reply_json(req, 200, &b);
	buf_free(&b);
}

int
main(int argc, char **argv)
{
	struct server			 srv;
	struct corpus_conf		 cc;
	struct evhttp_bound_socket	*bs;
	struct pending			*p;
	char				*cause, host[80];
	int				 port;

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
	memset(&cc, 0, sizeof(cc));
	cc.seed = (uint64_t)srv.conf.seed;
	cc.records = (size_t)srv.conf.records;
	cc.sets = (unsigned int)srv.conf.sets;
	cc.deleted_every = (unsigned int)srv.conf.deleted_every;
	cc.gran = srv.conf.gran;
	srv.corpus = corpus_new(&cc);

	if ((srv.base = event_base_new()) == NULL)
		fatalx("event_base_new");
	if ((srv.http = evhttp_new(srv.base)) == NULL)
		fatalx("evhttp_new");
	evhttp_set_allowed_methods(srv.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
	evhttp_set_max_body_size(srv.http, MAX_BODY);
	evhttp_set_gencb(srv.http, handle, &srv);
	if ((bs = evhttp_bind_socket_with_handle(srv.http, srv.conf.bind,
	    (ev_uint16_t)srv.conf.port)) == NULL)
		fatal("bind %s:%lld", srv.conf.bind, srv.conf.port);
	port = bound_port(bs);

	snprintf(host, sizeof(host), strchr(srv.conf.bind, ':') != NULL ?
	    "[%s]:%d" : "%s:%d", srv.conf.bind, port);
	snprintf(srv.oai_url, sizeof(srv.oai_url), "http://%s/oai", host);
	snprintf(srv.pages_url, sizeof(srv.pages_url), "http://%s/pages",
	    host);

	srv.sigterm = evsignal_new(srv.base, SIGTERM, on_signal, &srv);
	srv.sigint = evsignal_new(srv.base, SIGINT, on_signal, &srv);
	if (srv.sigterm == NULL || srv.sigint == NULL ||
	    evsignal_add(srv.sigterm, NULL) == -1 ||
	    evsignal_add(srv.sigint, NULL) == -1)
		fatalx("evsignal");

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
	evhttp_free(srv.http);
	event_free(srv.sigterm);
	event_free(srv.sigint);
	event_base_free(srv.base);
	corpus_free(srv.corpus);
	pages_free(srv.pages);
	libevent_global_shutdown();
	return 0;
}
