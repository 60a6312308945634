/*
 * The daemon's change-feed sinks: one list, told of every commit, with
 * each sink's health (for /healthz and /metrics) and its retry timer.
 */
#include <sys/queue.h>

#include <stdlib.h>

#include <event2/event.h>

#include "encode.h"
#include "feed.h"
#include "log.h"
#include "store.h"
#include "util.h"

struct feed_sink {
	TAILQ_ENTRY(feed_sink) entry;
	struct feed		   *feed;
	const struct feed_sink_ops *ops;
	void			   *state;
	char			   *error;  /* why the last write
							   failed; NULL: it
							   did not */
	long long		    errors; /* failed writes and
							   reopens */
	struct event		   *ev_retry;
};

TAILQ_HEAD(feed_sinks, feed_sink);

struct feed {
	struct event_base  *base;
	struct store	   *store;
	struct feed_sinks   sinks;
	int		    stopping;
	struct event	   *ev_watch;  /* feed_watch()'s timer */
	int		    watch_ms;  /* its period, 0: none */
	int64_t		    seen;      /* the last seq told to the sinks */
	struct store_watch *listen;    /* feed_listen()'s, or NULL */
	int		    listen_up; /* it listens: no timer */
};

static void sink_state(struct feed_sink *, char *);
static void sink_write(struct feed_sink *, int64_t);
static void sink_free(struct feed_sink *);
static void on_retry(evutil_socket_t, short, void *);
static void on_watch(evutil_socket_t, short, void *);
static void watch_timer(struct feed *);
static void on_listen(void *, enum store_watch_event);

struct feed *
feed_new(struct event_base *base, struct store *store)
{
	struct feed *f;

	f = xcalloc(1, sizeof(*f));
	f->base = base;
	f->store = store;
	TAILQ_INIT(&f->sinks);
	return f;
}

void
feed_free(struct feed *f)
{
	struct feed_sink *s;

	if (f == NULL)
		return;
	while ((s = TAILQ_FIRST(&f->sinks)) != NULL)
		sink_free(s);
	if (f->ev_watch != NULL)
		event_free(f->ev_watch);
	store_watch_close(f->listen);
	free(f);
}

struct feed_sink *
feed_sink_open(struct feed *f, const struct feed_sink_ops *ops, const char *arg,
    char **cause)
{
	struct feed_sink *s;
	void		 *state;

	if ((state = ops->open(f->store, f->base, arg, cause)) == NULL)
		return NULL;
	s = xcalloc(1, sizeof(*s));
	s->feed = f;
	s->ops = ops;
	s->state = state;
	TAILQ_INSERT_TAIL(&f->sinks, s, entry);
	return s;
}

/* Its failure, if it failed, ends with it. */
void
feed_sink_close(struct feed_sink *s)
{
	if (s == NULL)
		return;
	if (s->error != NULL)
		log_info("event=%s_ok", s->ops->name);
	sink_free(s);
}

static void
sink_free(struct feed_sink *s)
{
	TAILQ_REMOVE(&s->feed->sinks, s, entry);
	s->ops->close(s->state);
	if (s->ev_retry != NULL)
		event_free(s->ev_retry);
	free(s->error);
	free(s);
}

void *
feed_sink_state(struct feed_sink *s)
{
	return s->state;
}

/*
 * The sink's health: cause (taken) is why it failed, NULL when it was
 * written.  A failed sink is tried again every FEED_RETRY s, so that it
 * catches up once space is freed (or the link in its place goes) without
 * waiting for the next commit or SIGHUP.
 */
static void
sink_state(struct feed_sink *s, char *cause)
{
	struct timeval tv = { FEED_RETRY, 0 };

	if (cause == NULL) {
		if (s->error != NULL)
			log_info("event=%s_ok", s->ops->name);
		free(s->error);
		s->error = NULL;
		if (s->ev_retry != NULL)
			evtimer_del(s->ev_retry);
		return;
	}
	log_err("event=%s_error cause=%s", s->ops->name, log_q(cause));
	s->errors++;
	free(s->error);
	s->error = cause;
	if (s->ev_retry == NULL)
		s->ev_retry = evtimer_new(s->feed->base, on_retry, s);
	if (!s->feed->stopping)
		evtimer_add(s->ev_retry, &tv);
}

/* The database keeps every change: the next write catches up. */
static void
sink_write(struct feed_sink *s, int64_t upto)
{
	char *cause = NULL;

	sink_state(
	    s, s->ops->write(s->state, upto, &cause) == -1 ? cause : NULL);
}

void
feed_sink_flush(struct feed_sink *s)
{
	if (s != NULL)
		sink_write(s, store_last_seq(s->feed->store));
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct feed_sink *s = arg;

	if (s->error != NULL)
		feed_sink_flush(s);
}

void
feed_commit(struct feed *f)
{
	struct feed_sink *s;
	int64_t		  upto;

	if (f == NULL || TAILQ_EMPTY(&f->sinks))
		return;
	upto = store_last_seq(f->store);
	if (upto > f->seen)
		f->seen = upto;
	for (s = TAILQ_FIRST(&f->sinks); s != NULL; s = TAILQ_NEXT(s, entry))
		sink_write(s, upto);
}

/*
 * Changes may have been committed by someone else (another daemon on the
 * same database): when the change log went past what the sinks were last
 * told, tell them.  The one wake-up for others' commits: the timer of
 * feed_watch() calls it, and so may a notification from the database.
 */
void
feed_wake(struct feed *f)
{
	int64_t last;

	if (f == NULL || f->stopping || TAILQ_EMPTY(&f->sinks))
		return;
	if ((last = store_last_seq(f->store)) > f->seen)
		feed_commit(f);
}

static void
on_watch(evutil_socket_t fd, short what, void *arg)
{
	feed_wake(arg);
}

/*
 * Look for others' commits every ms milliseconds (ms <= 0: stop); while
 * feed_listen()'s connection listens, it tells instead.
 */
void
feed_watch(struct feed *f, int ms)
{
	if (f == NULL)
		return;
	f->watch_ms = ms > 0 ? ms : 0;
	if (ms > 0)
		f->seen = store_last_seq(f->store);
	watch_timer(f);
}

/* The timer runs when asked for, unless the database tells. */
static void
watch_timer(struct feed *f)
{
	struct timeval tv;

	if (f->ev_watch == NULL)
		f->ev_watch = event_new(f->base, -1, EV_PERSIST, on_watch, f);
	event_del(f->ev_watch);
	if (f->watch_ms <= 0 || f->listen_up || f->stopping)
		return;
	tv.tv_sec = f->watch_ms / 1000;
	tv.tv_usec = (f->watch_ms % 1000) * 1000;
	event_add(f->ev_watch, &tv);
}

int
feed_listen(struct feed *f)
{
	char *cause = NULL;

	if (f == NULL || !store_has_watch(f->store))
		return -1;
	if (f->listen != NULL)
		return 0;
	if ((f->listen = store_watch_open(
		 f->store, f->base, on_listen, f, &cause)) == NULL) {
		log_err("event=feed_listen_error cause=%s", log_q(cause));
		free(cause);
		return -1;
	}
	f->seen = store_last_seq(f->store);
	return 0;
}

/*
 * The database's word.  Up: what committed while it was down has not been
 * told (look once); down: the timer looks until it is up again.
 */
static void
on_listen(void *arg, enum store_watch_event what)
{
	struct feed *f = arg;

	switch (what) {
	case STORE_WATCH_UP:
		f->listen_up = 1;
		watch_timer(f);
		feed_wake(f);
		break;
	case STORE_WATCH_CHANGED:
		feed_wake(f);
		break;
	case STORE_WATCH_DOWN:
		f->listen_up = 0;
		watch_timer(f);
		feed_wake(f);
		break;
	}
}

int
feed_listen_up(struct feed *f)
{
	if (f == NULL || f->listen == NULL)
		return -1;
	return f->listen_up;
}

const char *
feed_wake_mode(struct feed *f)
{
	if (f == NULL || f->stopping)
		return "none";
	if (f->listen != NULL && f->listen_up)
		return "listen";
	return f->watch_ms > 0 ? "poll" : "none";
}

/* logrotate's postrotate sends SIGHUP: reopen, then catch up. */
void
feed_reopen(struct feed *f)
{
	struct feed_sink *s;
	char		 *cause;

	if (f == NULL)
		return;
	for (s = TAILQ_FIRST(&f->sinks); s != NULL; s = TAILQ_NEXT(s, entry)) {
		if (s->ops->reopen == NULL)
			continue;
		cause = NULL;
		if (s->ops->reopen(s->state, &cause) == -1) {
			sink_state(s, cause);
			continue;
		}
		feed_sink_flush(s);
	}
}

void
feed_stop(struct feed *f)
{
	if (f == NULL)
		return;
	f->stopping = 1;
	if (f->ev_watch != NULL)
		event_del(f->ev_watch);
	store_watch_close(f->listen);
	f->listen = NULL;
}

const char *
feed_error(struct feed *f)
{
	struct feed_sink *s;

	if (f == NULL)
		return NULL;
	for (s = TAILQ_FIRST(&f->sinks); s != NULL; s = TAILQ_NEXT(s, entry))
		if (s->ops->reported && s->error != NULL)
			return s->error;
	return NULL;
}

struct feed_sink *
feed_sink_next(struct feed *f, struct feed_sink *s)
{
	if (f == NULL)
		return NULL;
	s = s == NULL ? TAILQ_FIRST(&f->sinks) : TAILQ_NEXT(s, entry);
	while (s != NULL && !s->ops->reported)
		s = TAILQ_NEXT(s, entry);
	return s;
}

const char *
feed_sink_name(struct feed_sink *s)
{
	return s->ops->name;
}

int
feed_sink_ok(struct feed_sink *s)
{
	return s->error == NULL;
}

long long
feed_sink_errors(struct feed_sink *s)
{
	return s->errors;
}

/*
 * The one place the sinks read the change log: its rows as JSON Lines
 * (feed/encode.c), the same lines `oaiharvest changes` prints.
 */
int
feed_rows(struct store *store, int64_t since, int64_t limit, FILE *fp,
    int64_t *last, char **cause)
{
	return feed_changes(store, since, limit, fp, last, cause);
}
