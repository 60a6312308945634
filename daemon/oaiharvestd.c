/*
 * oaiharvestd: keeps the configured sources in sync.  One thread, one
 * libevent loop: per-source timers, a global limit of concurrent harvests,
 * signals (SIGHUP reload, SIGTERM/SIGINT stop, SIGUSR1 harvest now), the
 * systemd watchdog, and the harvest engine with libcurl on the same loop.
 * Per-host politeness lives in the engine, shared by every source.
 */
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "conf.h"
#include "daemon.h"
#include "feed.h"
#include "harvest.h"
#include "log.h"
#include "notify.h"
#include "oh_limits.h"
#include "settings.h"
#include "store.h"
#include "util.h"

/* A failed run is retried after RETRY_BASE s, doubling, within interval. */
#define RUN_RETRY_BASE 60
/* Jitter: up to a tenth of the interval, at most this many seconds. */
#define JITTER_MAX 300
/* Descriptors to ask for when the hard limit is unlimited. */
#define NOFILE_WANT 65536

const char *const src_state_names[] = { "idle", "waiting", "running" };

/* Sources */
static struct dsource *src_new(struct daemon *, const struct conf_source *);
static void	       src_free(struct dsource *);
static void	       src_set_state(struct dsource *, enum src_state);
static void	       src_schedule(struct dsource *, double secs);
static void	       src_schedule_last(struct dsource *, int reload);
static void	       src_log_next(struct dsource *, const char *reason);
static void	       src_due(struct dsource *);
static void	       src_start(struct dsource *);
static void	       on_src_timer(evutil_socket_t, short, void *);
static void	       on_run_done(const struct harvest_result *, void *);
static void	       record_metrics(
	       struct daemon *, struct dsource *, const struct harvest_result *);
static void pump(struct daemon *);

/* Daemon */
static void		 status(struct daemon *);
static void		 reload(struct daemon *);
static void		 reload_done(struct daemon *, char *cause);
static struct feed_sink *open_nats(
    struct daemon *, const struct conf *, char **);
static struct feed_sink *open_changes_log(
    struct daemon *, const char *, char **);
static int   check_files(const struct conf *, char **);
static int   check_writable(const char *, int, char **);
static void  on_signal(evutil_socket_t, short, void *);
static void  on_watchdog(evutil_socket_t, short, void *);
static void  raise_nofile(void);
static char *database_path(const struct conf *);
static int   database_is_uri(const char *);
static char *database_shown(const char *);

static unsigned int rand_state;

/* A uniform double in [0, 1). */
static double
rnd(void)
{
	rand_state = rand_state * 1103515245u + 12345u;
	return (double)((rand_state >> 8) & 0xffffff) / (double)0x1000000;
}

static double
jitter(long long interval)
{
	double max = interval / 10.0;

	if (max > JITTER_MAX)
		max = JITTER_MAX;
	return rnd() * max;
}

static int
str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static struct dsource *
src_new(struct daemon *d, const struct conf_source *c)
{
	struct dsource *s;

	s = xcalloc(1, sizeof(*s));
	s->d = d;
	conf_source_copy(&s->c, c);
	s->timer = evtimer_new(d->base, on_src_timer, s);
	TAILQ_INSERT_TAIL(&d->sources, s, entry);
	return s;
}

static void
src_free(struct dsource *s)
{
	struct daemon *d = s->d;

	if (s->state == SRC_WAITING)
		TAILQ_REMOVE(&d->waiting, s, wentry);
	TAILQ_REMOVE(&d->sources, s, entry);
	event_free(s->timer);
	conf_source_clear(&s->c);
	free(s->m.last_error);
	free(s->m.last_status);
	free(s->host_key);
	free(s->host_url);
	free(s);
}

static void
src_set_state(struct dsource *s, enum src_state st)
{
	if (s->state != st)
		log_debug("event=source_state source=%s from=%s to=%s",
		    log_q(s->c.name), src_state_names[s->state],
		    src_state_names[st]);
	s->state = st;
}

static void
src_schedule(struct dsource *s, double secs)
{
	struct timeval tv;

	if (secs < 0)
		secs = 0;
	tv.tv_sec = (time_t)secs;
	tv.tv_usec = (suseconds_t)((secs - (double)tv.tv_sec) * 1e6);
	evtimer_add(s->timer, &tv);
	s->next_run = time(NULL) + tv.tv_sec;
}

/*
 * Schedule a source from the end of its last run, as the database has it
 * (so that a restart does not harvest every source at once): its interval
 * after that end, or after a failed run the first retry's wait.  When that
 * is past (or the run never ended: killed), it is due now: within its
 * jitter at start, so that sources spread out, at once after a reload.
 * A source never harvested starts within its jitter.
 */
static void
src_schedule_last(struct dsource *s, int reload)
{
	time_t	    ended, now = time(NULL);
	long long   wait;
	char	   *status = NULL, *cause = NULL;
	const char *reason = "last_run";
	double	    secs;
	int	    rc;

	rc = store_source_last_run(
	    s->d->store, s->c.name, &ended, &status, &cause);
	if (rc == -1) {
		log_warn("event=schedule_error source=%s cause=%s",
		    log_q(s->c.name), log_q(cause));
		free(cause);
	}
	if (rc != 1) {
		reason = "never_run";
		secs = reload ? 0 : jitter(s->c.interval);
	} else {
		wait = s->c.interval;
		if (strcmp(status, "failed") == 0 && wait > RUN_RETRY_BASE)
			wait = RUN_RETRY_BASE;
		if (ended > 0 && ended + wait > now)
			secs = (double)(ended + wait - now);
		else
			secs = reload ? 0 : jitter(s->c.interval);
	}
	free(status);
	src_schedule(s, secs);
	src_log_next(s, reload ? "reload" : reason);
}

static void
src_log_next(struct dsource *s, const char *reason)
{
	char when[DATESTAMP_LEN];

	datestamp_format(s->next_run, GRAN_SECONDS, when);
	log_info("event=scheduled source=%s next_run=%s reason=%s",
	    log_q(s->c.name), when, reason);
}

static void
on_src_timer(evutil_socket_t fd, short what, void *arg)
{
	src_due(arg);
}

/* The source should harvest now: start it, or queue it for a slot. */
static void
src_due(struct dsource *s)
{
	struct daemon *d = s->d;

	if (d->stopping || s->state != SRC_IDLE || !s->c.enabled || s->disabled)
		return;
	/* Several daemons: only a host whose lease is ours, when ready. */
	if (!lease_may_start(s))
		return;
	evtimer_del(s->timer);
	src_set_state(s, SRC_WAITING);
	TAILQ_INSERT_TAIL(&d->waiting, s, wentry);
	pump(d);
}

void
daemon_src_hold(struct dsource *s)
{
	evtimer_del(s->timer);
	if (s->state == SRC_WAITING) {
		TAILQ_REMOVE(&s->d->waiting, s, wentry);
		src_set_state(s, SRC_IDLE);
	} else if (s->state == SRC_RUNNING && s->job != NULL)
		harvest_cancel(s->job);
}

void
daemon_src_resume(struct dsource *s)
{
	if (s->state == SRC_IDLE && s->c.enabled && !s->disabled)
		src_schedule_last(s, 1);
}

void
daemon_src_later(struct dsource *s, double secs)
{
	evtimer_del(s->timer);
	src_schedule(s, secs);
	src_log_next(s, "lease_wait");
}

void
daemon_harvest_now(struct dsource *s)
{
	s->disabled = 0;
	src_due(s);
}

struct dsource *
daemon_source(struct daemon *d, const char *name)
{
	struct dsource *s;

	TAILQ_FOREACH (s, &d->sources, entry)
		if (!s->removed && strcmp(s->c.name, name) == 0)
			return s;
	return NULL;
}

/* Start waiting sources while there are free slots. */
static void
pump(struct daemon *d)
{
	struct dsource *s;

	while (!d->stopping && d->running < d->conf->max_concurrent &&
	    (s = TAILQ_FIRST(&d->waiting)) != NULL) {
		TAILQ_REMOVE(&d->waiting, s, wentry);
		src_start(s);
	}
	status(d);
}

static void
src_start(struct dsource *s)
{
	struct daemon	     *d = s->d;
	struct harvest_source hs;
	char		     *cause = NULL;

	settings_source(d->conf, &s->c, &hs);
	lease_source(s, &hs);
	src_set_state(s, SRC_RUNNING);
	d->running++;
	s->m.last_start = time(NULL);
	s->m.last_end = 0;
	free(s->m.last_status);
	s->m.last_status = NULL;
	s->job = harvest_start(d->engine, &hs, on_run_done, s, &cause);
	if (s->job == NULL) {
		d->running--;
		src_set_state(s, SRC_IDLE);
		s->failures++;
		log_err("event=run_failed source=%s url=%s cause=%s",
		    log_q(s->c.name), log_qurl(s->c.url), log_q(cause));
		/* Shown by /status: a moved URL needs an operator. */
		s->m.last_status = xstrdup("failed");
		free(s->m.last_error);
		s->m.last_error = cause;
		src_schedule(s, s->c.interval);
	}
}

static void
record_metrics(
    struct daemon *d, struct dsource *s, const struct harvest_result *r)
{
	static const double bounds[] = DURATION_BUCKETS;
	size_t		    i;

	s->m.last_end = time(NULL);
	s->m.last_seconds = r->seconds;
	free(s->m.last_status);
	s->m.last_status = xstrdup(r->ok ? "ok" : "failed");
	free(s->m.last_error);
	s->m.last_error = r->error != NULL ? xstrdup(r->error) : NULL;
	if (r->ok) {
		s->m.runs_ok++;
		s->m.last_success = s->m.last_end;
	} else {
		s->m.runs_failed++;
		for (i = 0; i < ERR_NTYPES - 1; i++)
			if (r->error_type != NULL &&
			    strcmp(r->error_type, err_type_names[i]) == 0)
				break;
		s->m.errors[i]++;
	}
	s->m.records[STORE_UNCHANGED] += r->stats.unchanged;
	s->m.records[STORE_NEW] += r->stats.new_records;
	s->m.records[STORE_UPDATED] += r->stats.updated;
	s->m.records[STORE_DELETED] += r->stats.deleted;
	s->m.bytes += r->stats.bytes;
	s->m.pages += r->stats.pages;
	for (i = 0; i < nitems(bounds) - 1; i++)
		if (r->seconds <= bounds[i])
			break;
	d->duration_buckets[i]++;
	d->duration_sum += r->seconds;
	d->duration_count++;
}

static void
on_request_done(void *arg, const char *source, const char *host, long status,
    long long bytes)
{
	struct daemon *d = arg;

	http_count_request(d->http, source, host, status);
	lease_request_done(d, host);
}

static void
on_commit(void *arg, const char *source, long long changes)
{
	struct daemon *d = arg;

	if (changes > 0)
		feed_commit(d->feed);
}

static void
on_run_done(const struct harvest_result *r, void *arg)
{
	struct dsource *s = arg;
	struct daemon  *d = s->d;
	double		next;
	long long	backoff;
	char		when[DATESTAMP_LEN];
	int		i, lvl;

	s->job = NULL;
	d->running--;
	src_set_state(s, SRC_IDLE);
	record_metrics(d, s, r);
	if (!d->stopping)
		http_count_source(d->http, s->c.name);
	if (r->ok) {
		s->failures = 0;
		d->runs_ok++;
		next = (double)s->c.interval + jitter(s->c.interval);
	} else {
		s->failures++;
		d->runs_failed++;
		/* Come back sooner than the interval, but not hammering. */
		backoff = RUN_RETRY_BASE;
		for (i = 1; i < s->failures && backoff < s->c.interval; i++)
			backoff *= 2;
		if (backoff > s->c.interval)
			backoff = s->c.interval;
		next = (double)backoff + jitter(backoff);
	}
	if (s->rerun) {
		s->rerun = 0;
		next = jitter(s->c.interval);
	}
	if (r->forbidden) {
		s->disabled = 1;
		log_err(
		    "event=source_disabled source=%s url=%s msg=\"the "
		    "repository %s; this source is not harvested again until "
		    "an operator acts (SIGHUP, SIGUSR1 or a restart)\"",
		    log_q(s->c.name), log_qurl(s->c.url),
		    r->error_type != NULL &&
			    strcmp(r->error_type, "blocked") == 0 ?
			"'s bot protection refuses the "
			"harvester" :
			" answers 403 Forbidden");
	} else if (!d->stopping && !s->removed)
		src_schedule(s, next);
	datestamp_format(
	    d->stopping || s->removed ? 0 : s->next_run, GRAN_SECONDS, when);
	if (s->disabled)
		snprintf(when, sizeof(when), "disabled");
	if (r->warnings != NULL)
		log_warn("event=run_warning source=%s warnings=%s",
		    log_q(r->source), log_q(r->warnings));
	/*
	 * The summary is a notice; a failed run an error, but one cancelled
	 * (a stop, a source removed) only a warning: it was asked for.
	 */
	lvl = r->ok ? LOG_LVL_NOTICE :
	    r->error_type != NULL && strcmp(r->error_type, "cancelled") == 0 ?
		      LOG_LVL_WARN :
		      LOG_LVL_ERR;
	if (log_level >= lvl && r->ok)
		log_write(lvl,
		    "event=run_done source=%s status=ok run=%lld "
		    "pages=%lld records=%lld new=%lld updated=%lld "
		    "deleted=%lld unchanged=%lld tombstones=%lld "
		    "normalized=%lld "
		    "bytes=%lld seconds=%.2f next_run=%s",
		    log_q(r->source), (long long)r->run_id, r->stats.pages,
		    r->stats.records, r->stats.new_records, r->stats.updated,
		    r->stats.deleted, r->stats.unchanged, r->stats.tombstones,
		    r->normalized, r->stats.bytes, r->seconds,
		    d->stopping || s->removed ? "none" : when);
	else if (log_level >= lvl)
		log_write(lvl,
		    "event=run_done source=%s status=failed "
		    "run=%lld pages=%lld records=%lld new=%lld updated=%lld "
		    "deleted=%lld unchanged=%lld bytes=%lld seconds=%.2f "
		    "next_run=%s url=%s error=%s",
		    log_q(r->source), (long long)r->run_id, r->stats.pages,
		    r->stats.records, r->stats.new_records, r->stats.updated,
		    r->stats.deleted, r->stats.unchanged, r->stats.bytes,
		    r->seconds, d->stopping || s->removed ? "none" : when,
		    log_qurl(s->c.url), log_q(r->error));
	if (s->disabled)
		s->failures = 0;
	free(d->last);
	xasprintf(&d->last, "%s %s, %lld new, %lld updated, %lld deleted",
	    r->source, r->ok ? "ok" : "failed", r->stats.new_records,
	    r->stats.updated, r->stats.deleted);
	if (s->removed)
		src_free(s);
	pump(d);
}

/* Daemon */

static void
status(struct daemon *d)
{
	struct dsource *s;
	size_t		n = 0, waiting = 0, disabled = 0;
	char	       *st;

	TAILQ_FOREACH (s, &d->sources, entry) {
		n++;
		if (s->state == SRC_WAITING)
			waiting++;
		if (s->disabled)
			disabled++;
	}
	xasprintf(&st,
	    "%zu source%s, %d harvesting, %zu waiting, %zu "
	    "disabled; %lld run%s ok, %lld failed%s%s",
	    n, n == 1 ? "" : "s", d->running, waiting, disabled, d->runs_ok,
	    d->runs_ok == 1 ? "" : "s", d->runs_failed,
	    d->last != NULL ? "; last: " : "", d->last != NULL ? d->last : "");
	/* Only news: the manager need not hear the same line again. */
	if (d->status == NULL || strcmp(st, d->status) != 0) {
		notify_send("STATUS=%s", st);
		free(d->status);
		d->status = st;
	} else
		free(st);
}

/* Apply a config's sources: keep, change, add, remove. */
static void
apply_sources(struct daemon *d, const struct conf *nc, int initial)
{
	struct dsource		 *s, *next;
	const struct conf_source *c;
	struct conf_source	  nsc;
	struct conf_diff	  diff;
	size_t			  i;
	int			  interval_only;

	TAILQ_FOREACH_SAFE (s, &d->sources, entry, next) {
		if (s->removed)
			continue;
		if ((c = conf_source_find(nc, s->c.name)) == NULL) {
			log_info(
			    "event=source_removed source=%s", log_q(s->c.name));
			if (s->state == SRC_RUNNING) {
				s->removed = 1;
				harvest_cancel(s->job);
			} else
				src_free(s);
			continue;
		}
		if (s->disabled) {
			/* A reload is an operator acting: try again. */
			s->disabled = 0;
			if (s->state == SRC_IDLE && s->c.enabled) {
				src_schedule(s, jitter(s->c.interval));
				src_log_next(s, "reload");
			}
		}
		/*
		 * What only a restart puts in use is named and keeps its
		 * running value; any other change calls for a new harvest
		 * with the new values.
		 */
		if (!conf_source_compare(&s->c, c, &diff))
			continue;
		if (diff.restart != NULL)
			log_warn(
			    "event=reload_restart_needed source=%s "
			    "keys=%s msg=\"these settings take effect at the "
			    "next restart\"",
			    log_q(s->c.name), log_q(diff.restart));
		if (diff.reload == NULL) {
			conf_diff_clear(&diff);
			continue;
		}
		log_info("event=source_changed source=%s keys=%s",
		    log_q(s->c.name), log_q(diff.reload));
		/*
		 * A new interval alone changes when, not what: counted from
		 * the last run's end, and a run going on goes on.
		 */
		interval_only = strcmp(diff.reload, "interval") == 0;
		conf_diff_clear(&diff);
		conf_source_copy(&nsc, c);
		conf_source_keep(&nsc, &s->c, CONF_RESTART);
		conf_source_clear(&s->c);
		s->c = nsc;
		if (interval_only) {
			if (s->state == SRC_IDLE && s->c.enabled)
				src_schedule_last(s, 1);
		} else if (s->state == SRC_RUNNING) {
			s->rerun = 1;
			harvest_cancel(s->job);
		} else if (s->state == SRC_IDLE && s->c.enabled) {
			src_schedule(s, jitter(s->c.interval));
			src_log_next(s, "reload");
		} else if (!s->c.enabled)
			evtimer_del(s->timer);
	}
	for (i = 0; i < nc->nsources; i++) {
		c = &nc->sources[i];
		TAILQ_FOREACH (s, &d->sources, entry)
			if (!s->removed && strcmp(s->c.name, c->name) == 0)
				break;
		if (s != NULL)
			continue;
		s = src_new(d, c);
		if (!initial)
			log_info("event=source_added source=%s url=%s",
			    log_q(c->name), log_qurl(c->url));
		if (s->c.enabled)
			src_schedule_last(s, 0);
	}
}

/*
 * The changes_log at path.  With leases, each daemon's file (one per
 * machine) gets every change: its outbox cursor is its node's own,
 * "changes_log@NODE" (node_name, or the host name as daemon/lease.c has
 * it); without, "changes_log" as ever.
 */
static struct feed_sink *
open_changes_log(struct daemon *d, const char *path, char **cause)
{
	struct feed_sink *s;
	char		  host[256], *arg;

	if (!d->conf->leases)
		return feed_sink_open(d->feed, &feed_file_ops, path, cause);
	if (gethostname(host, sizeof(host)) == -1)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	arg = feed_file_arg(
	    path, d->conf->node_name != NULL ? d->conf->node_name : host);
	s = feed_sink_open(d->feed, &feed_file_node_ops, arg, cause);
	free(arg);
	return s;
}

/*
 * A new changes_log: the feed goes on in the new file from where the old
 * one stopped (the outbox cursor is the database's, not the file's).  A
 * file that cannot be opened keeps the old one going.
 */
static void
reload_changes_log(struct daemon *d, struct conf *nc)
{
	struct feed_sink *o = NULL;
	char		 *cause = NULL;

	if (str_eq(nc->changes_log, d->conf->changes_log))
		return;
	if (nc->changes_log != NULL &&
	    (o = open_changes_log(d, nc->changes_log, &cause)) == NULL) {
		log_err("event=changes_log_error path=%s cause=%s "
			"msg=\"keeping the running changes_log\"",
		    log_q(nc->changes_log), log_q(cause));
		free(cause);
		free(nc->changes_log);
		nc->changes_log = d->conf->changes_log != NULL ?
		    xstrdup(d->conf->changes_log) :
		    NULL;
		return;
	}
	log_info("event=changes_log_moved from=%s to=%s",
	    log_q(d->conf->changes_log), log_q(nc->changes_log));
	feed_sink_close(d->changes_log);
	d->changes_log = o;
	feed_sink_flush(o);
}

/*
 * The NATS JetStream feed (feed/nats.c); NULL with *cause.  Several
 * daemons on one database (leases = yes): exactly one relays, the holder
 * of the lease "feed:nats" (lease.c), through daemon_relay(); the outbox
 * cursor "nats", fenced by that lease, lets the next holder go on where
 * the last one stopped.
 */
static struct feed_sink *
open_nats(struct daemon *d, const struct conf *c, char **cause)
{
	struct feed_sink *s;
	char		 *arg;

	arg = feed_nats_arg(c->changes_nats, c->changes_nats_subject);
	s = feed_sink_open(d->feed, &feed_nats_ops, arg, cause);
	free(arg);
	feed_nats_bind(s);
	return s;
}

/*
 * Several daemons: the relay on, fenced by the lease's gen (lease != NULL,
 * and changes_nats set), or off.  -1 when the sink cannot be opened.
 */
int
daemon_relay(struct daemon *d, const char *lease, int64_t gen)
{
	char *cause = NULL;

	feed_sink_close(d->nats);
	d->nats = NULL;
	if (lease == NULL || d->conf->changes_nats == NULL)
		return 0;
	if ((d->nats = open_nats(d, d->conf, &cause)) == NULL) {
		log_err("event=nats_error cause=%s", log_q(cause));
		free(cause);
		return -1;
	}
	feed_nats_fence(d->nats, lease, gen);
	feed_sink_flush(d->nats);
	return 0;
}

/* A new changes_nats (or subject): the new sink goes on from the cursor. */
static void
reload_changes_nats(struct daemon *d, struct conf *nc)
{
	struct feed_sink *o = NULL;
	char		 *cause = NULL;

	if (str_eq(nc->changes_nats, d->conf->changes_nats) &&
	    str_eq(nc->changes_nats_subject, d->conf->changes_nats_subject))
		return;
	if (d->lease != NULL) {
		/* lease_reload() opens it again, if ours, with nc. */
		log_info("event=changes_nats_changed on=%s",
		    nc->changes_nats != NULL ? "yes" : "no");
		feed_sink_close(d->nats);
		d->nats = NULL;
		return;
	}
	if (nc->changes_nats != NULL &&
	    (o = open_nats(d, nc, &cause)) == NULL) {
		log_err("event=nats_error cause=%s "
			"msg=\"keeping the running changes_nats\"",
		    log_q(cause));
		free(cause);
		free(nc->changes_nats);
		free(nc->changes_nats_subject);
		nc->changes_nats = d->conf->changes_nats != NULL ?
		    xstrdup(d->conf->changes_nats) :
		    NULL;
		nc->changes_nats_subject =
		    xstrdup(d->conf->changes_nats_subject);
		return;
	}
	log_info("event=changes_nats_changed on=%s",
	    nc->changes_nats != NULL ? "yes" : "no");
	feed_sink_close(d->nats);
	d->nats = o;
	feed_sink_flush(o);
}

static void
reload(struct daemon *d)
{
	struct conf_diff diff;
	struct conf	*nc;
	char		*cause = NULL;

	notify_send("RELOADING=1");
	log_info("event=reload path=%s", log_q(d->conf_path));
	if ((nc = conf_load(d->conf_path, &cause)) == NULL ||
	    check_files(nc, &cause) == -1) {
		log_err("event=reload_failed path=%s cause=%s "
			"msg=\"keeping the running configuration\"",
		    log_q(d->conf_path), log_q(cause));
		conf_free(nc);
		reload_done(d, cause);
		notify_send("READY=1");
		status(d);
		return;
	}
	/*
	 * What only a restart puts in use (the database, the engine's and
	 * the status server's settings) is named, and the running values stay
	 * in the config: a later reload compares against them.
	 */
	conf_global_compare(d->conf, nc, &diff);
	if (diff.restart != NULL)
		log_warn("event=reload_restart_needed keys=%s msg=\"these "
			 "settings take effect at the next restart\"",
		    log_q(diff.restart));
	conf_diff_clear(&diff);
	conf_global_keep(nc, d->conf, CONF_RESTART);
	reload_changes_log(d, nc);
	reload_changes_nats(d, nc);
	apply_sources(d, nc, 0);
	conf_free(d->conf);
	d->conf = nc;
	lease_reload(d);
	reload_done(d, NULL);
	log_info("event=reloaded sources=%zu", nc->nsources);
	notify_send("READY=1");
	pump(d);
}

/* For /status and /metrics: how the last reload went (cause: why not). */
static void
reload_done(struct daemon *d, char *cause)
{
	d->reload_at = time(NULL);
	free(d->reload_error);
	d->reload_error = cause;
	if (cause == NULL)
		d->conf_loaded = d->reload_at;
}

/*
 * What can be checked of the files a config names without touching them
 * (oaiharvestd -t, and a reload): that the database and the changes_log
 * can be written or made, and the token file read.  -1 with *cause
 * ("FILE:LINE: KEY PATH: why", the line where the key is set).
 */
static int
check_files(const struct conf *c, char **cause)
{
	const char *key = NULL;
	char	   *db, *why = NULL, *at;
	int	    line;

	db = database_path(c);
	/*
	 * SQLite makes its -wal and -shm files beside the database; a
	 * database server's URI names no file (its server is asked at
	 * start).
	 */
	if (!database_is_uri(db) && check_writable(db, 1, &why) == -1)
		key = "database";
	else if (c->changes_log != NULL &&
	    check_writable(c->changes_log, 0, &why) == -1)
		key = "changes_log";
	else if (c->status_listen != NULL && c->status_token_file != NULL &&
	    http_token_read(c->status_token_file, NULL, NULL, &why) == -1)
		key = "status_token_file"; /* why names it */
	if (key != NULL) {
		if ((line = conf_key_line(c, key)) > 0)
			xasprintf(&at, "%s:%d", c->path, line);
		else
			at = xstrdup(c->path);
		if (strcmp(key, "status_token_file") == 0)
			xasprintf(cause, "%s: %s", at, why);
		else
			xasprintf(cause, "%s: %s %s: %s", at, key,
			    strcmp(key, "database") == 0 ? db : c->changes_log,
			    why);
		free(at);
	}
	free(why);
	free(db);
	return key != NULL ? -1 : 0;
}

/*
 * Can this user write file, or make it?  A file is written in place, else
 * made in its directory; dir_too: the directory must take new files even
 * when the file exists.  -1 with *why.
 */
static int
check_writable(const char *file, int dir_too, char **why)
{
	struct stat st;
	char	   *copy, *dir;
	int	    exists = 0, rc = -1;

	if (stat(file, &st) == 0) {
		exists = 1;
		if (S_ISDIR(st.st_mode)) {
			xasprintf(why, "is a directory");
			return -1;
		}
		if (access(file, W_OK) == -1) {
			xasprintf(
			    why, "cannot be written: %s", strerror(errno));
			return -1;
		}
		if (!dir_too)
			return 0;
	} else if (errno != ENOENT && errno != ENOTDIR) {
		xasprintf(why, "%s", strerror(errno));
		return -1;
	}
	copy = xstrdup(file);
	dir = dirname(copy);
	if (stat(dir, &st) == -1) {
		if (errno == ENOENT)
			xasprintf(why, "directory %s does not exist", dir);
		else
			xasprintf(
			    why, "directory %s: %s", dir, strerror(errno));
	} else if (!S_ISDIR(st.st_mode))
		xasprintf(why, "%s is not a directory", dir);
	else if (access(dir, W_OK | X_OK) == -1)
		xasprintf(why, "%s in directory %s: %s",
		    exists ? "cannot "
			     "make its -wal and -shm files" :
			     "cannot be made",
		    dir, strerror(errno));
	else
		rc = 0;
	free(copy);
	return rc;
}

static void
stop(struct daemon *d, int sig)
{
	struct dsource *s, *next;

	if (d->stopping)
		return;
	d->stopping = 1;
	feed_stop(d->feed);
	notify_send("STOPPING=1");
	log_info("event=stopping signal=%d running=%d", sig, d->running);
	/*
	 * Aborting a transfer loses only the page in flight: its records
	 * were never written, and committed pages stay with their checkpoint.
	 */
	TAILQ_FOREACH_SAFE (s, &d->sources, entry, next)
		if (s->job != NULL)
			harvest_cancel(s->job);
	event_base_loopexit(d->base, NULL);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon  *d = arg;
	struct dsource *s;

	switch (sig) {
	case SIGHUP:
		if (!d->stopping) {
			/* logrotate's postrotate: reopen the feed's files. */
			feed_reopen(d->feed);
			reload(d);
		}
		break;
	case SIGUSR1:
		log_info("event=harvest_all");
		TAILQ_FOREACH (s, &d->sources, entry) {
			s->disabled = 0;
			if (s->state == SRC_IDLE && !s->removed)
				src_due(s);
		}
		break;
	default:
		stop(d, (int)sig);
		break;
	}
}

static void
on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	notify_send("WATCHDOG=1");
}

/*
 * Harvests need sockets and database files, and the status server caps its
 * connections at a share of this limit (http.c): take the whole hard limit
 * of descriptors rather than the 1024 a login shell leaves.
 */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		/* Linux refuses more than fs.nr_open, and "unlimited". */
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1 &&
		    rl.rlim_max > NOFILE_WANT) {
			rl.rlim_cur = NOFILE_WANT;
			(void)setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		log_info(
		    "event=nofile limit=%llu", (unsigned long long)rl.rlim_cur);
}

static void
libevent_log(int severity, const char *msg)
{
	log_debug("event=libevent msg=%s", log_q(msg));
}

/* $STATE_DIRECTORY (systemd) replaces the built-in default location. */
static char *
database_path(const struct conf *c)
{
	const char *sd;
	char	   *p;
	size_t	    n;

	sd = getenv("STATE_DIRECTORY");
	if (sd != NULL && *sd != '\0' &&
	    strcmp(c->database, CONF_DEFAULT_DB) == 0) {
		n = strcspn(sd, ":");
		xasprintf(&p, "%.*s/harvest.db", (int)n, sd);
		return p;
	}
	return xstrdup(c->database);
}

/*
 * The database as logs show it: a URI without the password of its userinfo
 * (url_redact()) nor any parameters (libpq takes password=... there too).
 */
static char *
database_shown(const char *db)
{
	char *shown, *cut, *q;

	shown = url_redact(db);
	if (!database_is_uri(db) || (q = strchr(shown, '?')) == NULL)
		return shown;
	xasprintf(&cut, "%.*s?***", (int)(q - shown), shown);
	free(shown);
	return cut;
}

/* A database server's URI (postgresql://, postgres://), not a file. */
static int
database_is_uri(const char *db)
{
	return strncmp(db, "postgresql://", 13) == 0 ||
	    strncmp(db, "postgres://", 11) == 0;
}

static void
usage(int help)
{
	FILE *out = help ? stdout : stderr;

	fprintf(
	    out, "usage: oaiharvestd [-c FILE] [-t] [-f] [-v] [--version]\n");
	if (help)
		fprintf(out,
		    "\n"
		    "The OAI-PMH harvesting daemon: harvests each enabled "
		    "source "
		    "of\n"
		    "its config on its schedule, until SIGTERM.  SIGHUP "
		    "reloads "
		    "the\n"
		    "config.  Options:\n"
		    "  -c FILE      the config file (default " CONF_DEFAULT_PATH
		    ")\n"
		    "  -t           check the config and its files, print the "
		    "result\n"
		    "               and exit: 0 valid, 2 an invalid config, 1 "
		    "a file\n"
		    "               it names that cannot be used\n"
		    "  -f           stay in the foreground (the default: "
		    "oaiharvestd\n"
		    "               never forks)\n"
		    "  -v           debug log lines\n"
		    "  --version    print the version and exit\n"
		    "  -h, --help   this help\n"
		    "See oaiharvestd(8) and oaiharvest.conf(5).\n");
	exit(help ? 0 : 2);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon		d;
	struct harvest_options	ho;
	struct harvest_observer obs;
	struct dsource	       *s;
	struct timeval		tv;
	const char	       *path = CONF_DEFAULT_PATH;
	char		       *cause = NULL, *shown;
	long long		wd;
	int			ch, test = 0, verbose = 0;

	while ((ch = getopt_long(argc, argv, "c:tfvh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 't':
			test = 1;
			break;
		case 'f':
			/* oaiharvestd never forks; -f is for habit. */
			break;
		case 'v':
			verbose++;
			break;
		case 'V':
			printf("oaiharvestd %s\n", OH_VERSION);
			return 0;
		case 'h':
			usage(1);
			break;
		default:
			usage(0);
		}
	}
	if (optind != argc)
		usage(0);
	log_init(verbose ? LOG_LVL_DEBUG : LOG_LVL_INFO);
	signal(SIGPIPE, SIG_IGN);

	memset(&d, 0, sizeof(d));
	TAILQ_INIT(&d.sources);
	TAILQ_INIT(&d.waiting);
	d.conf_path = xstrdup(path);
	if ((d.conf = conf_load(path, &cause)) == NULL) {
		fprintf(stderr, "oaiharvestd: %s\n", cause);
		free(cause);
		free(d.conf_path);
		return 2;
	}
	if (test) {
		ch = check_files(d.conf, &cause);
		if (ch == 0)
			printf("oaiharvestd: configuration %s is valid (%zu "
			       "source%s)\n",
			    path, d.conf->nsources,
			    d.conf->nsources == 1 ? "" : "s");
		else {
			fprintf(stderr, "oaiharvestd: %s\n", cause);
			free(cause);
		}
		conf_free(d.conf);
		free(d.conf_path);
		return ch == 0 ? 0 : 1;
	}
	d.conf_loaded = time(NULL);
	rand_state = (unsigned int)time(NULL) ^ (unsigned int)getpid();
	raise_nofile();
	if (notify_init() == -1)
		log_warn("event=notify msg=\"NOTIFY_SOCKET is unusable; no "
			 "readiness notifications\"");
	event_set_log_callback(libevent_log);
	if ((d.base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	d.db_path = database_path(d.conf);
	if ((d.store = store_open(d.db_path, 0, &cause)) == NULL) {
		log_err("event=fatal cause=%s", log_q(cause));
		fprintf(stderr, "oaiharvestd: %s\n", cause);
		free(cause);
		return 1;
	}
	settings_options(d.conf, &ho);
	if ((d.engine = harvest_engine_new(d.base, d.store, &ho, &cause)) ==
	    NULL) {
		log_err("event=fatal cause=%s", log_q(cause));
		free(cause);
		return 1;
	}
	memset(&obs, 0, sizeof(obs));
	obs.on_request = on_request_done;
	obs.on_commit = on_commit;
	harvest_engine_observe(d.engine, &obs, &d);
	d.started = time(NULL);
	d.feed = feed_new(d.base, d.store);
	/*
	 * Other processes' commits (other daemons, the CLI) reach this one's
	 * sinks: at once where the database tells (PostgreSQL's NOTIFY, the
	 * timer only while its connection is down), else within a second
	 * with leases.
	 */
	if (feed_listen(d.feed) == 0 || d.conf->leases)
		feed_watch(d.feed, FEED_WATCH_MS);
	if (d.conf->status_listen != NULL &&
	    (d.http = http_start(&d, d.conf->status_listen, &cause)) == NULL) {
		log_err("event=fatal cause=%s", log_q(cause));
		fprintf(stderr, "oaiharvestd: %s\n", cause);
		free(cause);
		return 1;
	}
	if (d.conf->changes_log != NULL) {
		if ((d.changes_log = open_changes_log(
			 &d, d.conf->changes_log, &cause)) == NULL) {
			log_err("event=fatal cause=%s", log_q(cause));
			fprintf(stderr, "oaiharvestd: %s\n", cause);
			free(cause);
			return 1;
		}
		feed_sink_flush(d.changes_log);
	}
	/* With leases, the holder of the relay's lease opens it. */
	if (d.conf->changes_nats != NULL && !d.conf->leases) {
		if ((d.nats = open_nats(&d, d.conf, &cause)) == NULL) {
			log_err("event=fatal cause=%s", log_q(cause));
			fprintf(stderr, "oaiharvestd: %s\n", cause);
			free(cause);
			return 1;
		}
		feed_sink_flush(d.nats);
	}
	d.ev_hup = evsignal_new(d.base, SIGHUP, on_signal, &d);
	d.ev_term = evsignal_new(d.base, SIGTERM, on_signal, &d);
	d.ev_int = evsignal_new(d.base, SIGINT, on_signal, &d);
	d.ev_usr1 = evsignal_new(d.base, SIGUSR1, on_signal, &d);
	evsignal_add(d.ev_hup, NULL);
	evsignal_add(d.ev_term, NULL);
	evsignal_add(d.ev_int, NULL);
	evsignal_add(d.ev_usr1, NULL);
	if ((wd = notify_watchdog_usec()) > 0) {
		d.ev_watchdog =
		    event_new(d.base, -1, EV_PERSIST, on_watchdog, NULL);
		tv.tv_sec = (wd / 2) / 1000000;
		tv.tv_usec = (wd / 2) % 1000000;
		event_add(d.ev_watchdog, &tv);
	}
	apply_sources(&d, d.conf, 1);
	if (lease_start(&d, &cause) == -1) {
		log_err("event=fatal cause=%s", log_q(cause));
		fprintf(stderr, "oaiharvestd: %s\n", cause);
		free(cause);
		return 1;
	}
	http_count_records(d.http);
	shown = database_shown(d.db_path);
	log_info("event=started version=%s config=%s database=%s "
		 "sources=%zu max_concurrent=%lld",
	    OH_VERSION, log_q(path), log_q(shown), d.conf->nsources,
	    d.conf->max_concurrent);
	free(shown);
	notify_send("READY=1");
	status(&d);

	event_base_dispatch(d.base);

	/* The runs are cancelled: the next holders may go on. */
	lease_stop(&d);
	http_stop(d.http);
	feed_free(d.feed);
	d.feed = NULL;
	d.changes_log = NULL;
	d.nats = NULL;
	while ((s = TAILQ_FIRST(&d.sources)) != NULL)
		src_free(s);
	harvest_engine_free(d.engine);
	lease_free(&d);
	store_close(d.store);
	if (d.ev_watchdog != NULL)
		event_free(d.ev_watchdog);
	event_free(d.ev_hup);
	event_free(d.ev_term);
	event_free(d.ev_int);
	event_free(d.ev_usr1);
	event_base_free(d.base);
	log_info("event=stopped");
	notify_close();
	conf_free(d.conf);
	free(d.conf_path);
	free(d.db_path);
	free(d.last);
	free(d.status);
	free(d.reload_error);
	return 0;
}
