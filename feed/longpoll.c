/*
 * GET /changes?since=SEQ&limit=N[&wait=SECONDS] on the status server: the
 * changes after since, as JSON Lines; with wait, a long poll that parks
 * until a change is committed, the time is up, or the client hangs up.
 * The status server (daemon/http.c) routes the request and checks its
 * access; this file answers it.
 *
 * The answer is written in chunks of CHANGES_CHUNK rows, each only when
 * the client has taken the last, so that memory per connection is bounded;
 * long polls parked at once are capped (feed_longpoll_set_max()).
 *
 * As a sink (feed_longpoll_ops), write(upto) wakes the parked polls that
 * upto is news to; it keeps no cursor of its own (each request brings its
 * since) and never fails.
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "feed.h"
#include "log.h"
#include "store.h"
#include "util.h"

/* Longest a /changes long poll waits, and rows one answer may hold. */
#define WAIT_MAX    300
#define CHANGES_MAX 100000
#define CHANGES_DEF 1000
/* Rows of /changes read and written at a time (some 40 KB). */
#define CHANGES_CHUNK 256

TAILQ_HEAD(feed_polls, feed_poll);

/* The sink: the long polls parked now. */
struct longpoll {
	struct store	  *store;
	struct event_base *base;
	struct feed_polls  waiters;
	size_t		   nwaiters;
	size_t		   waiters_max;
};

/* A /changes request: parked (a long poll), then written in chunks. */
struct feed_poll {
	TAILQ_ENTRY(feed_poll) entry; /* in waiters, when parked */
	struct longpoll	  *lp;
	struct feed_poll **slot; /* where the connection
						   holds it */
	void (*hangup)(void *);
	void		      *arg;
	int		       fd; /* the connection's socket */
	struct evhttp_request *req;
	struct event	      *timer; /* parked: the wait ends */
	struct event	      *hup;   /* parked: the client leaves */
	int		       parked;
	int		       started; /* the reply's head is out */
	long long	       since;
	long long	       left; /* rows still to send */
};

static void *lp_open(
    struct store *, struct event_base *, const char *, char **);
static int  lp_write(void *, int64_t, char **);
static void lp_close(void *);

const struct feed_sink_ops feed_longpoll_ops = { "changes_http", 0, lp_open,
	lp_write, NULL, lp_close };

static void reply_json_error(
    struct evhttp_request *, int, const char *, const char *);
static void poll_send(struct feed_poll *);
static void poll_park(struct feed_poll *, long long);
static void poll_unpark(struct feed_poll *);
static void poll_free(struct feed_poll *);
static void on_poll_drained(struct evhttp_connection *, void *);
static void on_poll_timeout(evutil_socket_t, short, void *);
static void on_poll_hup(evutil_socket_t, short, void *);

static void *
lp_open(
    struct store *store, struct event_base *base, const char *arg, char **cause)
{
	struct longpoll *lp;

	lp = xcalloc(1, sizeof(*lp));
	lp->store = store;
	lp->base = base;
	TAILQ_INIT(&lp->waiters);
	return lp;
}

/* The status server has closed its connections, and their polls, first. */
static void
lp_close(void *arg)
{
	free(arg);
}

void
feed_longpoll_set_max(struct feed_sink *s, size_t max)
{
	struct longpoll *lp = feed_sink_state(s);

	lp->waiters_max = max;
}

size_t
feed_longpoll_max(struct feed_sink *s)
{
	struct longpoll *lp = feed_sink_state(s);

	return lp->waiters_max;
}

size_t
feed_longpoll_waiting(struct feed_sink *s)
{
	struct longpoll *lp = feed_sink_state(s);

	return lp->nwaiters;
}

static void
reply_json_error(
    struct evhttp_request *req, int code, const char *reason, const char *msg)
{
	struct evbuffer *eb = evbuffer_new();
	struct buf	 b;

	buf_init(&b, 4096);
	buf_addstr(&b, "{\"error\":");
	json_add_string(&b, msg, (size_t)-1);
	buf_addstr(&b, "}\n");
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/json");
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Cache-Control", "no-store");
	evbuffer_add(eb, buf_str(&b), b.len);
	evhttp_send_reply(req, code, reason, eb);
	evbuffer_free(eb);
	buf_free(&b);
}

void
feed_poll_start(struct feed_sink *s, struct evhttp_request *req, int fd,
    struct feed_poll **slot, void (*hangup)(void *), void *arg)
{
	struct longpoll	 *lp = feed_sink_state(s);
	struct evkeyvalq  q;
	struct feed_poll *f;
	const char	 *v, *errstr;
	long long	  since = 0, limit = CHANGES_DEF, wait = 0;
	int64_t		  last;

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
		reply_json_error(req, 400, "Bad Request",
		    "since, limit (1.."
		    "100000) and wait (0..300) take whole numbers");
		return;
	}
	evhttp_clear_headers(&q);
	last = store_last_seq(lp->store);
	if (wait > 0 && last >= 0 && last <= since &&
	    lp->nwaiters >= lp->waiters_max) {
		reply_json_error(req, 503, "Service Unavailable",
		    "too many "
		    "long polls; try again later");
		return;
	}
	f = xcalloc(1, sizeof(*f));
	f->lp = lp;
	f->slot = slot;
	f->hangup = hangup;
	f->arg = arg;
	f->fd = fd;
	f->req = req;
	f->since = since;
	f->left = limit;
	*slot = f;
	if (wait > 0 && last >= 0 && last <= since)
		poll_park(f, wait);
	else
		poll_send(f);
}

/*
 * evhttp frees a request still on the connection; one it has taken off
 * (the client left before the answer ended) is ours.
 */
void
feed_poll_abort(struct feed_poll *f)
{
	if (evhttp_request_get_connection(f->req) == NULL)
		evhttp_request_free(f->req);
	poll_free(f);
}

/*
 * Write the next CHANGES_CHUNK rows, and come back (on_poll_drained) only
 * when evhttp has handed all of them to the kernel: a client that does not
 * read holds one chunk of our memory, not the whole answer.
 */
static void
poll_send(struct feed_poll *f)
{
	struct evbuffer *b;
	FILE		*fp;
	char		*body = NULL, *cause = NULL, *p;
	size_t		 len = 0;
	long long	 want, rows = 0;
	int64_t		 last = f->since;
	int		 r;

	want = f->left < CHANGES_CHUNK ? f->left : CHANGES_CHUNK;
	if ((fp = open_memstream(&body, &len)) == NULL)
		fatal("open_memstream");
	r = feed_rows(f->lp->store, f->since, want, fp, &last, &cause);
	fclose(fp);
	if (r == -1) {
		if (!f->started) {
			reply_json_error(
			    f->req, 500, "Internal Server Error", cause);
			*f->slot = NULL;
			poll_free(f);
		} else {
			/* The client sees a cut answer, not a short one. */
			log_warn("event=status_changes_error cause=%s",
			    log_q(cause));
			evhttp_connection_free(
			    evhttp_request_get_connection(f->req));
		}
		free(cause);
		free(body);
		return;
	}
	for (p = body; p != NULL &&
	     (p = memchr(p, '\n', len - (size_t)(p - body))) != NULL;
	     p++)
		rows++;
	f->left -= rows;
	f->since = last;
	if (!f->started) {
		evhttp_add_header(evhttp_request_get_output_headers(f->req),
		    "Content-Type", "application/x-ndjson");
		evhttp_add_header(evhttp_request_get_output_headers(f->req),
		    "Cache-Control", "no-store");
		evhttp_send_reply_start(f->req, 200, "OK");
		f->started = 1;
	}
	b = evbuffer_new();
	evbuffer_add(b, body, len);
	free(body);
	if (rows == want && f->left > 0) {
		evhttp_send_reply_chunk_with_cb(f->req, b, on_poll_drained, f);
		evbuffer_free(b);
		return;
	}
	evhttp_send_reply_chunk(f->req, b);
	evbuffer_free(b);
	*f->slot = NULL;
	evhttp_send_reply_end(f->req);
	poll_free(f);
}

static void
on_poll_drained(struct evhttp_connection *evcon, void *arg)
{
	poll_send(arg);
}

/*
 * Nothing yet: park until a change is committed, the time is up, or the
 * client hangs up.  evhttp reads nothing more from the connection while an
 * answer is pending, so watch the socket ourselves.
 */
static void
poll_park(struct feed_poll *f, long long wait)
{
	struct longpoll *lp = f->lp;
	struct timeval	 tv = { (time_t)wait, 0 };

	f->timer = evtimer_new(lp->base, on_poll_timeout, f);
	evtimer_add(f->timer, &tv);
	f->hup =
	    event_new(lp->base, f->fd, EV_READ | EV_PERSIST, on_poll_hup, f);
	event_add(f->hup, NULL);
	TAILQ_INSERT_TAIL(&lp->waiters, f, entry);
	lp->nwaiters++;
	f->parked = 1;
}

static void
poll_unpark(struct feed_poll *f)
{
	if (!f->parked)
		return;
	event_free(f->timer);
	event_free(f->hup);
	TAILQ_REMOVE(&f->lp->waiters, f, entry);
	f->lp->nwaiters--;
	f->parked = 0;
}

static void
poll_free(struct feed_poll *f)
{
	poll_unpark(f);
	free(f);
}

static void
on_poll_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct feed_poll *f = arg;

	poll_unpark(f);
	poll_send(f);
}

/*
 * The socket of a parked long poll is readable: the client closed it (or
 * reset it), or sent more; answer the latter now.
 */
static void
on_poll_hup(evutil_socket_t fd, short what, void *arg)
{
	struct feed_poll *f = arg;
	char		  ch;
	ssize_t		  n;

	n = recv(fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n == -1 &&
	    (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n > 0) {
		poll_unpark(f);
		poll_send(f);
		return;
	}
	f->hangup(f->arg);
}

/* New changes were committed (up to seq): answer the polls they are for. */
static int
lp_write(void *arg, int64_t seq, char **cause)
{
	struct longpoll	 *lp = arg;
	struct feed_poll *f, *next;

	if (lp->nwaiters == 0 || seq < 0)
		return 0;
	for (f = TAILQ_FIRST(&lp->waiters); f != NULL; f = next) {
		next = TAILQ_NEXT(f, entry);
		if (seq > f->since) {
			poll_unpark(f);
			poll_send(f);
		}
	}
	return 0;
}
