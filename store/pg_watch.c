/*
 * The PostgreSQL backend's watch of the change log (store_watch_open(),
 * see store.h): a connection of its own that LISTENs on PG_NOTIFY_CHANNEL,
 * its socket in the caller's libevent loop.  Every page transaction that
 * adds change rows sends a NOTIFY in that transaction (pg_write.c), so it
 * is delivered once it commits, and only then, to every listener: other
 * daemons on the database and this one.
 *
 * The connection is made without blocking the loop (PQconnectStart and
 * PQconnectPoll, the socket watched for what libpq wants next), bounded by
 * WATCH_CONNECT_MS.  When it drops (the server restarts, an administrator
 * runs pg_terminate_backend()), the caller is told DOWN (it polls in the
 * meantime) and it connects again after a backoff that doubles from
 * WATCH_BACKOFF_MIN_MS to WATCH_BACKOFF_MAX_MS, then says UP.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "util.h"
#include "log.h"
#include "pg.h"

#define WATCH_CONNECT_MS     10000
#define WATCH_BACKOFF_MIN_MS 250
#define WATCH_BACKOFF_MAX_MS 30000

enum watch_state {
	WATCH_DOWN,	  /* waiting to connect again */
	WATCH_CONNECTING, /* PQconnectPoll() going on */
	WATCH_LISTENING,  /* LISTEN sent, its result not read */
	WATCH_UP	  /* listening */
};

static const char *const watch_state_names[] = { "down", "connecting",
	"listening", "up" };

struct pg_watch {
	char		  *uri;
	char		  *safe; /* for messages */
	struct event_base *base;
	PGconn		  *conn;
	struct event	  *ev_sock;
	struct event	  *ev_timer; /* the backoff, or connect timeout */
	enum watch_state   state;
	int		   backoff_ms;
	void (*cb)(void *, enum store_watch_event);
	void *arg;
};

static void watch_set_state(struct pg_watch *, enum watch_state);
static void watch_connect(struct pg_watch *);
static void watch_fail(struct pg_watch *, const char *);
static void watch_poll(struct pg_watch *);
static void watch_sock(struct pg_watch *, short);
static void watch_read(struct pg_watch *);
static void on_sock(evutil_socket_t, short, void *);
static void on_timer(evutil_socket_t, short, void *);
static void quiet(void *, const char *);
static void timer_ms(struct pg_watch *, int);

static void
watch_set_state(struct pg_watch *w, enum watch_state st)
{
	if (w->state == st)
		return;
	log_debug("event=store_watch_state database=%s from=%s to=%s",
	    log_q(w->safe), watch_state_names[w->state], watch_state_names[st]);
	w->state = st;
}

static void
quiet(void *arg, const char *msg)
{
}

static void
timer_ms(struct pg_watch *w, int ms)
{
	struct timeval tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(w->ev_timer, &tv);
}

/* Drop the connection; connect again after the backoff. */
static void
watch_fail(struct pg_watch *w, const char *why)
{
	char *msg;
	int   was_up = w->state == WATCH_UP;

	msg = xstrdup(why != NULL ? why : "connection lost");
	msg[strcspn(msg, "\n")] = '\0';
	if (w->ev_sock != NULL) {
		event_free(w->ev_sock);
		w->ev_sock = NULL;
	}
	if (w->conn != NULL) {
		PQfinish(w->conn);
		w->conn = NULL;
	}
	log_warn("event=store_watch_down database=%s retry_ms=%d cause=%s",
	    log_q(w->safe), w->backoff_ms, log_q(msg));
	free(msg);
	watch_set_state(w, WATCH_DOWN);
	evtimer_del(w->ev_timer);
	timer_ms(w, w->backoff_ms);
	w->backoff_ms = w->backoff_ms * 2 > WATCH_BACKOFF_MAX_MS ?
	    WATCH_BACKOFF_MAX_MS :
	    w->backoff_ms * 2;
	if (was_up)
		w->cb(w->arg, STORE_WATCH_DOWN);
}

/* Wait for the socket to be ready for what (EV_READ or EV_WRITE). */
static void
watch_sock(struct pg_watch *w, short what)
{
	int fd;

	if (w->ev_sock != NULL) {
		event_free(w->ev_sock);
		w->ev_sock = NULL;
	}
	/* The socket may change while connecting (another address). */
	if ((fd = PQsocket(w->conn)) < 0) {
		watch_fail(w, "no socket");
		return;
	}
	w->ev_sock = event_new(w->base, fd, what, on_sock, w);
	event_add(w->ev_sock, NULL);
}

static void
watch_connect(struct pg_watch *w)
{
	w->conn = PQconnectStart(w->uri);
	if (w->conn == NULL || PQstatus(w->conn) == CONNECTION_BAD) {
		watch_fail(w,
		    w->conn != NULL ? PQerrorMessage(w->conn) :
				      "out of memory");
		return;
	}
	PQsetNoticeProcessor(w->conn, quiet, NULL);
	watch_set_state(w, WATCH_CONNECTING);
	evtimer_del(w->ev_timer);
	timer_ms(w, WATCH_CONNECT_MS);
	/* As libpq's documentation says: first as if it said WRITING. */
	watch_sock(w, EV_WRITE);
}

/* One step of the connection; then LISTEN, as one query of its own. */
static void
watch_poll(struct pg_watch *w)
{
	switch (PQconnectPoll(w->conn)) {
	case PGRES_POLLING_READING:
		watch_sock(w, EV_READ);
		return;
	case PGRES_POLLING_WRITING:
		watch_sock(w, EV_WRITE);
		return;
	case PGRES_POLLING_OK:
		break;
	default:
		watch_fail(w, PQerrorMessage(w->conn));
		return;
	}
	if (!PQsendQuery(w->conn, "LISTEN " PG_NOTIFY_CHANNEL) ||
	    PQflush(w->conn) != 0) {
		watch_fail(w, PQerrorMessage(w->conn));
		return;
	}
	watch_set_state(w, WATCH_LISTENING);
	watch_sock(w, EV_READ | EV_PERSIST);
}

/* Input: LISTEN's result, notifications, or the end of the connection. */
static void
watch_read(struct pg_watch *w)
{
	PGresult *r;
	PGnotify *n;
	int	  notified = 0, ok = 1;

	if (!PQconsumeInput(w->conn)) {
		watch_fail(w, PQerrorMessage(w->conn));
		return;
	}
	if (w->state == WATCH_LISTENING) {
		while (
		    !PQisBusy(w->conn) && (r = PQgetResult(w->conn)) != NULL) {
			if (PQresultStatus(r) != PGRES_COMMAND_OK)
				ok = 0;
			PQclear(r);
		}
		if (!ok) {
			watch_fail(w, PQerrorMessage(w->conn));
			return;
		}
		if (!PQisBusy(w->conn)) {
			evtimer_del(w->ev_timer);
			w->backoff_ms = WATCH_BACKOFF_MIN_MS;
			watch_set_state(w, WATCH_UP);
			log_info("event=store_watch_up database=%s channel=%s",
			    log_q(w->safe), PG_NOTIFY_CHANNEL);
			w->cb(w->arg, STORE_WATCH_UP);
		}
	}
	while ((n = PQnotifies(w->conn)) != NULL) {
		notified++;
		PQfreemem(n);
	}
	if (PQstatus(w->conn) == CONNECTION_BAD) {
		watch_fail(w, PQerrorMessage(w->conn));
		return;
	}
	if (notified && w->state == WATCH_UP)
		w->cb(w->arg, STORE_WATCH_CHANGED);
}

static void
on_sock(evutil_socket_t fd, short what, void *arg)
{
	struct pg_watch *w = arg;

	if (w->state == WATCH_CONNECTING)
		watch_poll(w);
	else
		watch_read(w);
}

/* The backoff is over, or connecting took too long. */
static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct pg_watch *w = arg;

	if (w->state == WATCH_DOWN)
		watch_connect(w);
	else if (w->state != WATCH_UP)
		watch_fail(w, "timed out connecting");
}

void *
store_pg_watch_open(void *be, struct event_base	     *base,
    void (*cb)(void *, enum store_watch_event), void *arg, char **cause)
{
	struct store_pg *s = be;
	struct pg_watch *w;

	w = xcalloc(1, sizeof(*w));
	w->uri = xstrdup(s->uri);
	w->safe = xstrdup(s->safe);
	w->base = base;
	w->cb = cb;
	w->arg = arg;
	w->backoff_ms = WATCH_BACKOFF_MIN_MS;
	w->state = WATCH_DOWN;
	w->ev_timer = evtimer_new(base, on_timer, w);
	watch_connect(w);
	return w;
}

void
store_pg_watch_close(void *arg)
{
	struct pg_watch *w = arg;

	if (w == NULL)
		return;
	if (w->ev_sock != NULL)
		event_free(w->ev_sock);
	event_free(w->ev_timer);
	if (w->conn != NULL)
		PQfinish(w->conn);
	free(w->uri);
	free(w->safe);
	free(w);
}
