/* Over 1,500 lines: one job, the per-source state machine and its steps. */
/*
 * A harvest run for one source, as a state machine on the event loop:
 *
 *	IDENTIFY -> LIST (page, page, ...) for each (prefix, set)
 *	    -> SWEEP (deletion sweeps due) -> DONE
 *
 * Each page's records are parsed as the bytes arrive, spooled, and written
 * with the list's checkpoint in one transaction once the page is complete.
 * Between requests the job waits for its host (polite.c: politeness delay,
 * retries); what a response means is classify()'s to say (classify.c).
 *
 * Pages are written by the store's page writer (store/page.h) while the
 * next pages are fetched and parsed here.  Everything the job reads or
 * writes in the store goes through it, in order, with a completion on the
 * loop: a job that needs the store's answer (a list's state, its last page
 * written) waits for it in job_after_store(), and the loop goes on.  A
 * queue past STORE_PAGES_MAX_RECORDS holds the job's next request back
 * until the writer catches up (job_wait_space()).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/queue.h>

#include <event2/event.h>

#include "classify.h"
#include "fetch.h"
#include "harvest.h"
#include "log.h"
#include "oh_limits.h"
#include "page.h"
#include "polite.h"
#include "spool.h"
#include "util.h"

/* A job's one state; job_set_state() changes it, and logs the change. */
enum job_state {
	JOB_NEW,
	JOB_IDENTIFY,
	JOB_LIST,
	JOB_SWEEP,
	JOB_DONE, /* ending: its last writes, then done */
};

static const char *const job_state_names[] = {
	"new",
	"identify",
	"list",
	"sweep",
	"done",
};

/* The automatic sweep interval for repositories that keep no deletions. */
#define SWEEP_AUTO (7 * 86400)

struct list_spec {
	char *prefix;
	char *set; /* "" for the whole repository */
};

/* Rejects kept with their raw XML per page; more are only counted. */
#define MAX_PAGE_REJECTS 64

struct harvest_engine {
	struct polite	   *polite; /* the hosts */
	struct event_base  *base;
	struct store_pages *pages;	     /* the store's page writer */
	TAILQ_HEAD(, harvest_job) full_wait; /* jobs held back by it */
	struct fetch	       *fetch;
	long long		retry_base_ms;
	long long		max_bytes;
	long long		retry_after_max;
	int			max_tries;
	unsigned int		seed;
	struct harvest_observer obs;
	void		       *obs_arg;
};

struct harvest_job {
	struct harvest_engine *e;
	enum job_state	       state;
	harvest_done_cb	       done;
	void		      *done_arg;

	/* What to harvest. */
	char		    *name;
	char		    *url;
	struct list_spec    *lists;
	size_t		     nlists;
	char		    *from;
	char		    *until;
	int		     from_initial;
	long long	     delay_ms;
	long long	     overlap;
	enum fetch_redirects redirects; /* follow_redirects */
	long long	     reconcile;
	enum window_unit     window;
	long long	     window_min;
	size_t		     sweep; /* list being swept */
	char		    *lease; /* its pages' fence, or NULL */
	int64_t		     lease_gen;

	/* What Identify said. */
	enum oai_granularity gran;
	char		    *granularity;
	char		    *earliest;
	char		    *deleted_record;
	char		    *repo_name;
	time_t		     clock; /* its responseDate, or 0 */

	/* The run. */
	int64_t		       source_id;
	int64_t		       run_id;
	struct store_run_stats stats;
	long long	       lists_done;
	long long	       repairs;
	int64_t		       started_ms;

	/* The current list. */
	size_t	  cur;
	char	 *list_from;
	char	 *old_watermark;
	int	  move_watermark;
	char	 *token;	/* next request's token */
	int	  resumed;	/* token came from a checkpoint */
	int	  restarts;	/* from the watermark, this list */
	int	  resumed_any;	/* this list began at a checkpoint */
	int	  empty_pages;	/* in a row, with a token */
	long long list_records; /* received in this list */
	long long list_cls;	/* last completeListSize, -1 */
	char	 *progress;	/* high-water datestamp so far */
	time_t	  progress_t;
	int	  clock_fixed;	/* progress is the clock's */
	int	  clock_warned; /* clock_cap() said so, this run */
	long long list_pages;
	/*
	 * A windowed list: the current date window, and where the first one
	 * began (sent without from when the list has no from of its own, so
	 * that records dated before earliestDatestamp are not missed).
	 */
	struct window win;
	time_t	      win_start;
	long long     narrowed; /* windows halved, this run */

	/* Waiting for, or holding, the host. */
	struct polite_host *host;
	struct polite_wait  hwait;

	/* The current request. */
	struct fetch_req   *req;
	struct oai_parser  *parser;
	struct spool	   *spool;
	struct store_dc	   *dc; /* a record's, for the spool */
	size_t		    dccap;
	char		   *spool_cause;
	char		   *pipe_cause; /* the page writer failed */
	char		   *page_max;	/* this page's latest datestamp */
	time_t		    page_max_t;
	int		    tries;
	struct classify_out verdict; /* of the last response */
	long long	    retries; /* this run, all requests */
	long long	    rejects;
	long long	    page_rejects; /* this request's */
	long long	    normalized;	  /* datestamps, this run */
	/* This page's rejects, written with it (at most MAX_PAGE_REJECTS). */
	struct store_page_reject *pend;
	size_t			  npend;
	long long		  changes_seen; /* reported to on_commit */
	int			  forbidden;
	struct buf		  warnings;
	char			 *error;
	const char		 *error_type;

	/*
	 * The store's work in flight for the job (pages and calls), and what
	 * the job does once it is all done (job_after_store()).
	 */
	int store_out;
	void (*store_next)(struct harvest_job *);
	struct event *store_ev;
	struct event *gate_ev;	   /* the gate's end of the request out */
	char	     *store_cause; /* a call's failure */
	int	      full_wait;   /* held back: the queue is full */
	TAILQ_ENTRY(harvest_job) fentry;
	int   sync;	 /* cancelled: finish before
						   harvest_cancel() returns */
	int   run_ended; /* store_run_end() was called */
	int   move;	 /* the source moved to url: say so to the store */
	char *end_cause; /* ... and failed */
	/* What the store said: a list's state, a sweep due, ... */
	struct store_list_state st;
	int			sweep_is_due;
	char		       *sweep_warn;
	/* A list's (or window's) last page, until it is written. */
	int   end_code; /* it was an OAI error */
	int   end_win_more;
	char *end_wm;
	/* A sweep page, until it is written. */
	int	  sweep_more;
	char	 *sweep_token;
	int	  sweep_refused;
	long long sweep_vanished;

	/* A gzip body that came without Content-Encoding. */
	struct fetch_gunzip *gz;
};

/* State and flow */
static void job_set_state(struct harvest_job *, enum job_state);
static void job_queue(struct harvest_job *, long long ms);
static void job_send(void *);
static void on_gate_end(evutil_socket_t, short, void *);
static void job_fail(struct harvest_job *, const char *, ...)
    __printflike(2, 3);
static void job_finish(struct harvest_job *);
static void job_free(struct harvest_job *);
static void do_request(struct harvest_job *);
static void start_list(struct harvest_job *);
static void next_list(struct harvest_job *);

/* Responses */
static int  on_data(void *, const char *, size_t);
static void on_done(void *, const struct fetch_result *);
static int  on_identify(void *, const struct oai_identify *);
static int  on_record(void *, const struct oai_record *);
static int  on_reject(void *, const struct oai_reject *);
static void pend_clear(struct harvest_job *);
static void identify_done(struct harvest_job *);
static void page_done(struct harvest_job *);
static void sweep_page_done(struct harvest_job *);
static void next_sweep(struct harvest_job *);
static int  identify_call(struct store *, void *, char **);
static void identify_stored(struct harvest_job *);
static void list_begin(struct harvest_job *);
static int  sweep_due_call(struct store *, void *, char **);
static void sweep_asked(struct harvest_job *);
static void sweep_start(struct harvest_job *);

/* The store's side: pages and calls, completions on the loop */
static struct store_page *page_new(struct harvest_job *, enum store_page_kind);
static void page_written(void *, const struct store_page_result *);
static void log_page(const struct harvest_job *, const struct store_page *,
    const struct store_page_result *);
static void job_call(
    struct harvest_job *, int (*)(struct store *, void *, char **));
static void call_done(void *, const char *);
static void job_after_store(
    struct harvest_job *, void (*)(struct harvest_job *));
static void	   on_store_ready(evutil_socket_t, short, void *);
static void	   job_wait_space(struct harvest_job *);
static void	   engine_space(struct harvest_engine *);
static int	   pipe_failed(struct harvest_job *);
static void	   list_written(struct harvest_job *);
static void	   sweep_written(struct harvest_job *);
static void	   job_finish_run(struct harvest_job *);
static void	   job_finish_now(struct harvest_job *);
static void	   job_report(struct harvest_job *);
static int	   run_begin_call(struct store *, void *, char **);
static void	   job_begun(struct harvest_job *);
static void	   note_clock(struct harvest_job *);
static void	   list_reset(struct harvest_job *);
static void	   window_begin(struct harvest_job *);
static int	   window_narrow(struct harvest_job *, const char *);
static void	   window_next(struct harvest_job *);
static void	   check_list_size(struct harvest_job *, const char *);
static const char *next_from(const char *, const char *);
static int	   clock_cap(
	    struct harvest_job *, time_t *, const char *, const char *);

struct harvest_engine *
harvest_engine_new(struct event_base *base, struct store *store,
    const struct harvest_options *o, char **cause)
{
	struct harvest_engine *e;
	struct fetch_options   fo;

	e = xcalloc(1, sizeof(*e));
	e->polite = polite_new(base);
	TAILQ_INIT(&e->full_wait);
	e->base = base;
	memset(&fo, 0, sizeof(fo));
	fo.user_agent = o->user_agent;
	fo.contact = o->contact;
	fo.ca_file = o->ca_file;
	fo.timeout = o->timeout;
	fo.max_response_bytes = o->max_response_bytes;
	if ((e->fetch = fetch_new(base, &fo, cause)) == NULL) {
		free(e);
		return NULL;
	}
	/*
	 * The store writes pages through a connection of its own, so that
	 * its page writer never shares one with the caller's event loop.
	 */
	if (store != NULL &&
	    (e->pages = store_pages_new(store, base, cause)) == NULL) {
		harvest_engine_free(e);
		return NULL;
	}
	e->retry_base_ms =
	    o->retry_base_ms > 0 ? o->retry_base_ms : BACKOFF_BASE * 1000LL;
	e->max_tries = o->max_tries > 0 ? o->max_tries : MAX_REQUEST_TRIES;
	e->max_bytes = o->max_response_bytes > 0 ?
	    o->max_response_bytes :
	    (long long)MAX_RESPONSE_BYTES;
	e->retry_after_max =
	    o->retry_after_max > 0 && o->retry_after_max < RETRY_AFTER_MAX ?
	    o->retry_after_max :
	    RETRY_AFTER_MAX;
	e->seed = (unsigned int)time(NULL) ^ (unsigned int)(uintptr_t)e;
	return e;
}

void
harvest_engine_observe(
    struct harvest_engine *e, const struct harvest_observer *o, void *arg)
{
	e->obs = *o;
	e->obs_arg = arg;
}

void
harvest_engine_gate(struct harvest_engine *e, harvest_gate_cb gate, void *arg)
{
	polite_gate(e->polite, gate, arg);
}

void
harvest_engine_free(struct harvest_engine *e)
{
	if (e == NULL)
		return;
	store_pages_free(e->pages);
	polite_free(e->polite);
	fetch_free(e->fetch);
	free(e);
}

/* Wait ms (a retry's backoff), then for the host, then send. */
static void
job_queue(struct harvest_job *j, long long ms)
{
	polite_queue(j->host, &j->hwait, ms);
}

/* The gate's end for the request out: a timer then, or none. */
static void
gate_arm(struct harvest_job *j, int64_t until)
{
	struct timeval tv;
	int64_t	       ms;

	if (until == INT64_MAX) {
		evtimer_del(j->gate_ev);
		return;
	}
	ms = until - mono_ms();
	if (ms < 0)
		ms = 0;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(j->gate_ev, &tv);
}

/*
 * The host's turn: send.  When the gate (harvest_engine_gate()) gave the
 * request an end, a timer looks at it again there.
 */
static void
job_send(void *arg)
{
	struct harvest_job *j = arg;

	gate_arm(j, polite_until(j->host));
	do_request(j);
}

/*
 * The gate's end came with the request still out.  If the gate now gives
 * a later end (several daemons: the host's lease was renewed meanwhile),
 * the request goes on to that.  Else (the lease may have lapsed) abort
 * it, and send it again when the gate allows; this try does not count.
 */
static void
on_gate_end(evutil_socket_t fd, short what, void *arg)
{
	struct harvest_job *j = arg;
	int64_t		    until;

	if (j->req == NULL)
		return;
	if ((until = polite_regate(j->host)) > mono_ms()) {
		gate_arm(j, until);
		return;
	}
	log_warn("event=request_aborted source=%s host=%s why=gate",
	    log_q(j->name), log_q(polite_host_key(j->host)));
	fetch_cancel(j->req);
	j->req = NULL;
	polite_release(j->host);
	if (j->tries > 0)
		j->tries--;
	job_queue(j, 0);
}

/* URLs */

char *
harvest_url(const char *base, const char *verb, ...)
{
	struct buf  b;
	va_list	    ap;
	const char *k, *v;
	char	   *esc;

	buf_init(&b, MAX_URL_LEN);
	if (buf_addstr(&b, base) == -1 ||
	    buf_addch(&b, strchr(base, '?') != NULL ? '&' : '?') == -1 ||
	    buf_addstr(&b, "verb=") == -1 || buf_addstr(&b, verb) == -1)
		goto toolong;
	va_start(ap, verb);
	while ((k = va_arg(ap, const char *)) != NULL) {
		v = va_arg(ap, const char *);
		if (v == NULL)
			continue;
		esc = fetch_escape(v);
		if (buf_addch(&b, '&') == -1 || buf_addstr(&b, k) == -1 ||
		    buf_addch(&b, '=') == -1 || buf_addstr(&b, esc) == -1) {
			free(esc);
			va_end(ap);
			goto toolong;
		}
		free(esc);
	}
	va_end(ap);
	return b.data;
toolong:
	buf_free(&b);
	return NULL;
}

/* Jobs */

struct harvest_job *
harvest_start(struct harvest_engine *e, const struct harvest_source *src,
    harvest_done_cb done, void *arg, char **cause)
{
	static const char *const default_prefix[] = { "oai_dc" };
	static const char *const whole[] = { "" };
	struct harvest_job	*j;
	const char *const	*prefixes = src->prefixes;
	const char *const	*sets = src->sets;
	size_t			 np = src->nprefixes, ns = src->nsets;
	size_t			 i, k;

	if (src->from != NULL && datestamp_parse(src->from, NULL, NULL) == -1) {
		xasprintf(cause, "invalid from datestamp: %s", src->from);
		return NULL;
	}
	if (src->until != NULL &&
	    datestamp_parse(src->until, NULL, NULL) == -1) {
		xasprintf(cause, "invalid until datestamp: %s", src->until);
		return NULL;
	}
	j = xcalloc(1, sizeof(*j));
	j->e = e;
	j->done = done;
	j->done_arg = arg;
	j->name = xstrdup(src->name);
	j->url = xstrdup(src->url);
	j->from = src->from != NULL ? xstrdup(src->from) : NULL;
	j->until = src->until != NULL ? xstrdup(src->until) : NULL;
	j->from_initial = src->from_is_initial;
	j->delay_ms = src->delay_ms;
	j->overlap = src->overlap;
	j->redirects = src->follow_redirects_any ? FETCH_REDIRECT_ANY :
						   FETCH_REDIRECT_SAME_HOST;
	j->reconcile = src->reconcile;
	j->window = src->window;
	j->window_min = src->window_min > 0 ? src->window_min : 86400;
	if (np == 0) {
		prefixes = default_prefix;
		np = 1;
	}
	if (ns == 0) {
		sets = whole;
		ns = 1;
	}
	j->lists = xreallocarray(NULL, np * ns, sizeof(*j->lists));
	for (i = 0; i < np; i++)
		for (k = 0; k < ns; k++) {
			j->lists[j->nlists].prefix = xstrdup(prefixes[i]);
			j->lists[j->nlists].set = xstrdup(sets[k]);
			j->nlists++;
		}
	j->spool = store_pages_spool(e->pages);
	buf_init(&j->warnings, 4096);
	j->gz = fetch_gunzip_new(e->max_bytes, j->name);
	j->host = polite_host(e->polite, j->url);
	j->hwait.delay_ms = j->delay_ms;
	j->hwait.start = job_send;
	j->hwait.arg = j;
	j->started_ms = mono_ms();
	j->move = src->move;
	if (src->lease != NULL) {
		j->lease = xstrdup(src->lease);
		j->lease_gen = src->lease_gen;
	}
	if ((j->store_ev = event_new(e->base, -1, 0, on_store_ready, j)) ==
		NULL ||
	    (j->gate_ev = evtimer_new(e->base, on_gate_end, j)) == NULL)
		fatalx("event_new failed");

	/*
	 * The source and its run row, in turn with the pages of the jobs
	 * before it: the loop does not wait.  A source the store refuses
	 * ends the run there, through done.
	 */
	job_call(j, run_begin_call);
	job_after_store(j, job_begun);
	return j;
}

/* On the writer's thread: the source (refused if it moved) and a run. */
static int
run_begin_call(struct store *s, void *arg, char **cause)
{
	struct harvest_job *j = arg;
	char		   *shown, *tmp;
	int		    rc = -1;

	/* The password of a URL is for the requests only. */
	shown = url_redact(j->url);
	j->source_id = store_source(s, j->name, shown, j->move, cause);
	if (j->source_id == STORE_SOURCE_OTHER_URL) {
		/* Said once here, for the daemon's log and status. */
		tmp = *cause;
		xasprintf(cause,
		    "%s: if the repository moved there, run "
		    "`oaiharvest harvest --move` once for this source",
		    tmp);
		free(tmp);
	} else if (j->source_id >= 0 &&
	    (j->run_id = store_run_begin(s, j->source_id, cause)) != -1)
		rc = 0;
	free(shown);
	return rc;
}

/* Back on the loop: the run begins, or ends before it began. */
static void
job_begun(struct harvest_job *j)
{
	char *shown;

	if (j->store_cause != NULL) {
		j->error = j->store_cause;
		j->store_cause = NULL;
		j->error_type = "store";
		/* No run row to end. */
		j->run_ended = 1;
		j->run_id = 0;
		log_err("event=run_refused source=%s cause=%s", log_q(j->name),
		    log_q(j->error));
		job_set_state(j, JOB_DONE);
		job_report(j);
		return;
	}
	shown = url_redact(j->url);
	log_info("event=run_start source=%s url=%s run=%lld lists=%zu",
	    log_q(j->name), log_q(shown), (long long)j->run_id, j->nlists);
	free(shown);
	job_set_state(j, JOB_IDENTIFY);
	job_queue(j, 0);
}

void
harvest_cancel(struct harvest_job *j)
{
	j->sync = 1;
	/* Already ending, waiting for the store: end now. */
	if (j->state == JOB_DONE) {
		job_finish_now(j);
		return;
	}
	if (j->req != NULL) {
		fetch_cancel(j->req);
		j->req = NULL;
	}
	j->error_type = "cancelled";
	job_fail(j, "cancelled");
}

static void
job_set_state(struct harvest_job *j, enum job_state s)
{
	if (j->state != s)
		log_debug("event=job_state source=%s from=%s to=%s",
		    log_q(j->name), job_state_names[j->state],
		    job_state_names[s]);
	j->state = s;
}

static void
job_fail(struct harvest_job *j, const char *fmt, ...)
{
	va_list ap;
	char   *msg;

	/*
	 * A sweep that fails leaves the harvest as good as it was: a warning
	 * on the run, and the next sweep tries again.
	 */
	if (j->state == JOB_SWEEP &&
	    (j->error_type == NULL ||
		strcmp(j->error_type, "cancelled") != 0)) {
		va_start(ap, fmt);
		xvasprintf(&msg, fmt, ap);
		va_end(ap);
		log_warn("event=sweep_failed source=%s prefix=%s cause=%s",
		    log_q(j->name), log_q(j->lists[j->sweep].prefix),
		    log_q(msg));
		if (j->warnings.len > 0)
			buf_addstr(&j->warnings, "; ");
		buf_printf(&j->warnings, "sweep %s: %s",
		    j->lists[j->sweep].prefix, msg);
		free(msg);
		j->error_type = NULL;
		spool_reset(j->spool);
		j->sweep++;
		next_sweep(j);
		return;
	}
	if (j->state == JOB_DONE)
		return; /* already ending */

	if (j->error == NULL) {
		va_start(ap, fmt);
		xvasprintf(&j->error, fmt, ap);
		va_end(ap);
	}
	job_finish(j);
}

/*
 * The run ends once every page of it is written: then its run row, then
 * done.  A cancel does it all now, waiting for the writer.
 */
static void
job_finish(struct harvest_job *j)
{
	job_set_state(j, JOB_DONE);
	if (j->sync) {
		job_finish_now(j);
		return;
	}
	job_after_store(j, job_finish_run);
}

static int
run_end_call(struct store *s, void *arg, char **cause)
{
	struct harvest_job *j = arg;

	j->run_ended = 1;
	if (store_run_end(s, j->run_id, j->error ? "failed" : "ok", &j->stats,
		j->error, &j->end_cause) == -1)
		return -1;
	return 0;
}

/* A page that could not be written fails the run, if nothing else did. */
static void
take_pipe_cause(struct harvest_job *j)
{
	if (j->pipe_cause == NULL)
		return;
	if (j->error == NULL) {
		j->error = j->pipe_cause;
		j->error_type = "store";
	} else
		free(j->pipe_cause);
	j->pipe_cause = NULL;
}

static void
job_finish_run(struct harvest_job *j)
{
	take_pipe_cause(j);
	job_call(j, run_end_call);
	job_after_store(j, job_report);
}

static void
job_finish_now(struct harvest_job *j)
{
	struct store *s;
	char	     *cause = NULL;

	s = store_pages_wait(j->e->pages);
	/* What the job was waiting for is here: nothing more to wait for. */
	j->store_next = NULL;
	event_del(j->store_ev);
	if (!j->run_ended) {
		take_pipe_cause(j);
		if (run_end_call(s, j, &cause) == -1)
			free(cause);
	}
	job_report(j);
}

static void
job_report(struct harvest_job *j)
{
	struct harvest_result res;

	if (j->end_cause != NULL) {
		log_err("event=store_error source=%s cause=%s", log_q(j->name),
		    log_q(j->end_cause));
		if (j->error == NULL) {
			j->error = j->end_cause;
			j->end_cause = NULL;
		}
	}
	memset(&res, 0, sizeof(res));
	res.source = j->name;
	res.ok = j->error == NULL;
	res.error = j->error;
	res.run_id = j->run_id;
	res.stats = j->stats;
	res.lists = j->lists_done;
	res.repairs = j->repairs;
	res.retries = j->retries;
	res.narrowed = j->narrowed;
	res.rejects = j->rejects;
	res.normalized = j->normalized;
	res.forbidden = j->forbidden;
	res.warnings = j->warnings.len > 0 ? buf_str(&j->warnings) : NULL;
	res.error_type = j->error == NULL ? NULL :
	    j->error_type != NULL	  ? j->error_type :
					    "other";
	res.seconds = (mono_ms() - j->started_ms) / 1000.0;
	if (j->done != NULL)
		j->done(&res, j->done_arg);
	job_free(j);
}

static void
job_free(struct harvest_job *j)
{
	size_t i;

	/* No work of the job's is left in the store: see job_finish. */
	if (j->full_wait)
		TAILQ_REMOVE(&j->e->full_wait, j, fentry);
	if (j->store_ev != NULL)
		event_free(j->store_ev);
	if (j->gate_ev != NULL)
		event_free(j->gate_ev);
	if (j->req != NULL)
		fetch_cancel(j->req);
	if (j->host != NULL)
		polite_leave(j->host, &j->hwait);
	if (j->parser != NULL)
		oai_parser_free(j->parser);
	fetch_gunzip_free(j->gz);
	buf_free(&j->warnings);
	pend_clear(j);
	spool_free(j->spool);
	free(j->dc);
	free(j->pipe_cause);
	free(j->store_cause);
	free(j->end_cause);
	store_list_state_free(&j->st);
	free(j->sweep_warn);
	free(j->end_wm);
	free(j->sweep_token);
	free(j->page_max);
	for (i = 0; i < j->nlists; i++) {
		free(j->lists[i].prefix);
		free(j->lists[i].set);
	}
	free(j->lists);
	free(j->name);
	free(j->url);
	free(j->lease);
	free(j->from);
	free(j->until);
	free(j->granularity);
	free(j->earliest);
	free(j->deleted_record);
	free(j->repo_name);
	free(j->list_from);
	free(j->old_watermark);
	free(j->token);
	free(j->progress);
	free(j->spool_cause);
	free(j->error);
	free(j);
}

/* What a response is, when it is not the answer asked for */

#define HTML_CAUSE \
	"the response is HTML, not XML (is the URL the " \
	"repository's OAI-PMH base URL?)"

/*
 * The OAI error code in the body of a response of another status than
 * 200, whole in its first bytes, or NULL.  The parser (fresh: a body of
 * another status was not given to it) reads the body; when classify()
 * takes the error, the caller handles it as if it had come with 200.
 */
static const char *
error_body_code(struct oai_parser *p, const struct fetch_result *res)
{
	if (res->ok || res->curl_failed || res->over_limit ||
	    res->sink_failed || res->status == 0 || res->head_len == 0 ||
	    !res->whole_head)
		return NULL;
	if (oai_parser_feed(p, res->head, res->head_len) == -1 ||
	    oai_parser_finish(p) == -1)
		return NULL;
	return oai_parser_error_code(p);
}

/* What classify() needs of a response, whatever asked for it. */
static void
classify_response(struct classify_in *in, struct oai_parser *p,
    const struct fetch_result *res, const char *cause)
{
	memset(in, 0, sizeof(*in));
	in->status = res->status;
	in->transfer_ok = res->ok;
	in->curl_failed = res->curl_failed;
	in->over_limit = res->over_limit;
	in->sink_failed = res->sink_failed;
	in->retry_after = res->retry_after;
	in->failed = cause != NULL;
	if (cause == NULL) {
		in->oai_error = oai_parser_error_code(p);
		return;
	}
	in->wall = harvest_bot_wall(res->wall, res->head, res->head_len);
	if (in->wall == NULL)
		in->oai_error = error_body_code(p, res);
	in->html = harvest_looks_html(res->head, res->head_len);
}

static void
log_error_body(
    const char *source, const struct fetch_result *res, const char *code)
{
	log_info("event=oai_error_status source=%s url=%s status=%ld code=%s",
	    log_q(source), log_q(res->url), res->status, log_q(code));
}

static enum classify_phase
job_phase(const struct harvest_job *j)
{
	switch (j->state) {
	case JOB_IDENTIFY:
		return CLASSIFY_IDENTIFY;
	case JOB_SWEEP:
		return CLASSIFY_SWEEP;
	default:
		return j->window != WINDOW_NONE && j->token == NULL ?
		    CLASSIFY_WINDOW :
		    CLASSIFY_LIST;
	}
}

/* Requests */

static void
do_request(struct harvest_job *j)
{
	static const struct oai_callbacks cbs = {
		.on_record = on_record,
		.on_identify = on_identify,
		.on_reject = on_reject,
	};
	struct list_spec *l;
	char		 *url, *cause = NULL, *shown;
	char		  from[DATESTAMP_LEN];
	char		  until[DATESTAMP_LEN];

	if (j->state == JOB_IDENTIFY)
		url = harvest_url(j->url, "Identify", (char *)NULL);
	else if (j->state == JOB_SWEEP)
		url = j->token != NULL ?
		    harvest_url(j->url, "ListIdentifiers", "resumptionToken",
			j->token, (char *)NULL) :
		    harvest_url(j->url, "ListIdentifiers", "metadataPrefix",
			j->lists[j->sweep].prefix, (char *)NULL);
	else {
		l = &j->lists[j->cur];
		if (j->token != NULL)
			url = harvest_url(j->url, "ListRecords",
			    "resumptionToken", j->token, (char *)NULL);
		else if (j->window != WINDOW_NONE) {
			window_format(&j->win, j->gran, from, until);
			url = harvest_url(j->url, "ListRecords",
			    "metadataPrefix", l->prefix, "set",
			    l->set[0] != '\0' ? l->set : NULL, "from",
			    j->list_from == NULL &&
				    j->win.from == j->win_start ?
				NULL :
				from,
			    "until", until[0] != '\0' ? until : NULL,
			    (char *)NULL);
		} else
			url = harvest_url(j->url, "ListRecords",
			    "metadataPrefix", l->prefix, "set",
			    l->set[0] != '\0' ? l->set : NULL, "from",
			    j->list_from, "until", j->until, (char *)NULL);
	}
	if (url == NULL) {
		job_fail(j, "request URL longer than %d bytes", MAX_URL_LEN);
		return;
	}
	if (j->parser != NULL)
		oai_parser_free(j->parser);
	j->parser = oai_parser_new(&cbs, j);
	fetch_gunzip_reset(j->gz);
	pend_clear(j);
	j->page_rejects = 0;
	spool_reset(j->spool);
	free(j->spool_cause);
	j->spool_cause = NULL;
	free(j->page_max);
	j->page_max = NULL;
	j->tries++;
	if (log_level >= LOG_LVL_DEBUG) {
		shown = url_redact(url);
		log_debug("event=request source=%s url=%s try=%d",
		    log_q(j->name), log_q(shown), j->tries);
		free(shown);
	}
	j->req = fetch_start(
	    j->e->fetch, url, j->redirects, on_data, on_done, j, &cause);
	if (j->req == NULL) {
		job_fail(j, "%s", cause);
		free(cause);
	}
	free(url);
}

/* The parser, as fetch_gunzip_feed() hands it the body. */
static int
parser_feed(void *arg, const char *p, size_t len)
{
	return oai_parser_feed(arg, p, len);
}

static int
on_data(void *arg, const char *p, size_t len)
{
	struct harvest_job *j = arg;
	char		   *cause = NULL;

	if (fetch_gunzip_feed(j->gz, p, len, parser_feed, j->parser, &cause) ==
	    -1) {
		if (cause != NULL) {
			free(j->spool_cause);
			j->spool_cause = cause;
		}
		return -1;
	}
	return 0;
}

static void
on_done(void *arg, const struct fetch_result *res)
{
	struct harvest_job    *j = arg;
	struct harvest_engine *e = j->e;
	struct classify_in     in;
	struct classify_out   *out = &j->verdict;
	const char	      *cause = NULL;

	j->req = NULL;
	evtimer_del(j->gate_ev);
	polite_release(j->host);
	j->stats.bytes += res->bytes;
	if (e->obs.on_request != NULL)
		e->obs.on_request(e->obs_arg, j->name, polite_host_key(j->host),
		    res->status, res->bytes);
	/* The page before this one must be in the database. */
	if (pipe_failed(j))
		return;
	if (res->ok && oai_parser_finish(j->parser) == -1)
		cause = oai_parser_cause(j->parser);
	else if (res->sink_failed)
		cause = j->spool_cause != NULL ? j->spool_cause :
						 oai_parser_cause(j->parser);
	else if (!res->ok)
		cause = res->cause;
	classify_response(&in, j->parser, res, cause);
	in.phase = job_phase(j);
	in.own_limit = j->spool_cause != NULL;
	in.has_token = j->token != NULL;
	in.count_short = j->list_cls >= 0 && !j->resumed_any &&
	    j->list_records < j->list_cls;
	in.can_restart = j->restarts < MAX_LIST_RESTARTS;
	in.attempt = j->tries;
	in.max_tries = e->max_tries;
	in.base_ms = e->retry_base_ms;
	in.retry_after_max = e->retry_after_max;
	in.seed = e->seed++;
	classify(&in, out);
	if (out->error_body)
		log_error_body(j->name, res, in.oai_error);
	if (out->html)
		cause = HTML_CAUSE;
	switch (out->action) {
	case CLASSIFY_OK:
	case CLASSIFY_NO_RECORDS:
	case CLASSIFY_RESTART:
	case CLASSIFY_FAIL:
		/* An answer, or an OAI error: the phase's own step says. */
		if (!in.failed || out->error_body)
			break;
		j->error_type = out->error_type;
		job_fail(j, "%s: %s", res->url, cause);
		return;
	case CLASSIFY_BLOCKED:
		j->forbidden = 1;
		j->error_type = out->error_type;
		job_fail(j,
		    "%s: the repository's bot protection (%s) refused "
		    "the harvester (HTTP %ld); harvesting stops until an "
		    "operator acts",
		    res->url, in.wall, res->status);
		return;
	case CLASSIFY_LIMIT:
		j->error_type = out->error_type;
		if (j->spool_cause != NULL)
			job_fail(j, "%s", j->spool_cause);
		else
			job_fail(j, "%s: %s", res->url, cause);
		return;
	case CLASSIFY_FORBIDDEN:
		j->forbidden = 1;
		j->error_type = out->error_type;
		job_fail(j,
		    "%s: %s: the repository refuses us; harvesting "
		    "stops until an operator acts",
		    res->url, cause);
		return;
	case CLASSIFY_NARROW:
		if (window_narrow(j, cause))
			return;
		/* FALLTHROUGH */
	case CLASSIFY_RETRY:
		j->error_type = out->error_type;
		if (out->delay_ms < 0) {
			job_fail(j, "%s: %s", res->url, cause);
			return;
		}
		if (++j->retries > MAX_RUN_RETRIES) {
			job_fail(j, "%s: %s (retry budget of %d per run spent)",
			    res->url, cause, MAX_RUN_RETRIES);
			return;
		}
		log_warn("event=retry source=%s url=%s cause=%s try=%d "
			 "wait_ms=%lld",
		    log_q(j->name), log_q(res->url), log_q(cause), j->tries,
		    out->delay_ms);
		job_queue(j, out->delay_ms);
		return;
	}
	/* An answer (an OAI error too): the phase's own step. */
	j->repairs += (long long)oai_parser_repairs(j->parser);
	if (j->state == JOB_LIST)
		j->normalized += (long long)oai_parser_normalized(j->parser);
	if (j->state == JOB_IDENTIFY)
		identify_done(j);
	else if (j->state == JOB_SWEEP)
		sweep_page_done(j);
	else
		page_done(j);
}

static int
on_identify(void *arg, const struct oai_identify *id)
{
	struct harvest_job *j = arg;

#define DUP(f, v) \
	do { \
		free(j->f); \
		j->f = (v) != NULL ? xstrdup(v) : NULL; \
	} while (0)
	DUP(granularity, id->granularity);
	DUP(earliest, id->earliest_datestamp);
	DUP(deleted_record, id->deleted_record);
	DUP(repo_name, id->repository_name);
#undef DUP
	return 0;
}

static int
on_record(void *arg, const struct oai_record *r)
{
	struct harvest_job *j = arg;
	struct store_record rec;
	size_t		    i;

	if (j->state != JOB_LIST && j->state != JOB_SWEEP)
		return 0;
	if (r->nfields > j->dccap) {
		j->dc = xreallocarray(j->dc, r->nfields, sizeof(*j->dc));
		j->dccap = r->nfields;
	}
	for (i = 0; i < r->nfields; i++) {
		j->dc[i].element = r->fields[i].name;
		j->dc[i].value = r->fields[i].value;
		j->dc[i].lang = r->fields[i].lang;
	}
	memset(&rec, 0, sizeof(rec));
	rec.identifier = r->identifier;
	rec.datestamp = r->datestamp;
	rec.deleted = r->deleted;
	rec.sets = r->sets;
	rec.nsets = r->nsets;
	rec.metadata = r->metadata;
	rec.metadata_len = r->metadata_len;
	rec.dc = j->dc;
	rec.ndc = r->nfields;
	if (spool_add(j->spool, &rec, &j->spool_cause) == -1)
		return -1;
	/*
	 * The parser sets aside records without identifier or a readable
	 * datestamp.  The high-water mark is kept normalized: it may become
	 * the next from.
	 */
	if (j->state == JOB_LIST &&
	    (j->page_max == NULL || r->datestamp_t > j->page_max_t)) {
		free(j->page_max);
		j->page_max = xstrdup(r->datestamp_norm);
		j->page_max_t = r->datestamp_t;
	}
	return 0;
}

static void
pend_clear(struct harvest_job *j)
{
	store_page_rejects_free(j->pend, j->npend);
	j->pend = NULL;
	j->npend = 0;
}

/*
 * A malformed record on an otherwise good page: set aside, named in the
 * log with its cause, and counted; the rest of the page is kept.
 */
static int
on_reject(void *arg, const struct oai_reject *r)
{
	struct harvest_job	 *j = arg;
	struct store_page_reject *p;

	if (j->state != JOB_LIST)
		return 0;
	if (j->npend < MAX_PAGE_REJECTS) {
		j->pend =
		    xreallocarray(j->pend, j->npend + 1, sizeof(*j->pend));
		p = &j->pend[j->npend++];
		p->identifier =
		    r->identifier != NULL ? xstrdup(r->identifier) : NULL;
		p->datestamp =
		    r->datestamp != NULL ? xstrdup(r->datestamp) : NULL;
		p->cause = xstrdup(r->cause);
		p->raw = r->raw != NULL ? xstrndup(r->raw, r->raw_len) : NULL;
		p->raw_len = r->raw != NULL ? r->raw_len : 0;
		p->truncated = r->truncated;
	}
	j->rejects++;
	j->page_rejects++;
	log_warn("event=record_rejected source=%s identifier=%s "
		 "datestamp=%s cause=%s",
	    log_q(j->name), log_q(r->identifier), log_q(r->datestamp),
	    log_q(r->cause));
	return 0;
}

static void
identify_done(struct harvest_job *j)
{
	const char *code, *rd;

	j->tries = 0;
	if ((rd = oai_parser_response_date(j->parser)) == NULL ||
	    datestamp_read(rd, &j->clock, NULL, NULL) == -1)
		j->clock = 0;
	else
		(void)clock_cap(j, &j->clock, "responseDate", rd);
	if ((code = oai_parser_error_code(j->parser)) != NULL) {
		j->error_type = j->verdict.error_type;
		job_fail(j, "Identify: OAI error %s: %s", code,
		    oai_parser_error_message(j->parser) ?
			oai_parser_error_message(j->parser) :
			"");
		return;
	}
	if (oai_parser_verb(j->parser) != OAI_IDENTIFY) {
		job_fail(j, "Identify: the response is not an Identify");
		return;
	}
	/* Every repository must support days; seconds only if it says so. */
	j->gran = GRAN_DAY;
	if (j->granularity != NULL &&
	    strcmp(j->granularity, "YYYY-MM-DDThh:mm:ssZ") == 0)
		j->gran = GRAN_SECONDS;
	else if (j->granularity == NULL ||
	    strcmp(j->granularity, "YYYY-MM-DD") != 0)
		log_warn("event=identify source=%s granularity=%s "
			 "msg=\"unknown granularity, using days\"",
		    log_q(j->name), log_q(j->granularity));
	job_call(j, identify_call);
	job_after_store(j, identify_stored);
}

static int
identify_call(struct store *s, void *arg, char **cause)
{
	struct harvest_job *j = arg;

	return store_source_identify(s, j->source_id, j->granularity,
	    j->earliest, j->deleted_record, j->repo_name, cause);
}

static void
identify_stored(struct harvest_job *j)
{
	if (j->store_cause != NULL) {
		job_fail(j, "%s", j->store_cause);
		return;
	}
	log_info("event=identify source=%s repository=%s granularity=%s "
		 "deleted_record=%s",
	    log_q(j->name), log_q(j->repo_name), log_q(j->granularity),
	    log_q(j->deleted_record));
	j->cur = 0;
	job_set_state(j, JOB_LIST);
	start_list(j);
}

/*
 * A datestamp for from, in the repository's granularity: a seconds value
 * cut to its day for a day repository.
 */
static char *
from_in_granularity(const char *ds, enum oai_granularity gran)
{
	enum oai_granularity g;
	time_t		     t;
	char		     out[DATESTAMP_LEN];

	if (datestamp_parse(ds, &t, &g) == -1)
		return NULL;
	datestamp_format(t,
	    g == GRAN_DAY || gran == GRAN_DAY ? GRAN_DAY : GRAN_SECONDS, out);
	return xstrdup(out);
}

static int
ds_cmp(const char *a, const char *b)
{
	time_t ta, tb;

	if (datestamp_parse(a, &ta, NULL) == -1 ||
	    datestamp_parse(b, &tb, NULL) == -1)
		return strcmp(a, b);
	return ta < tb ? -1 : ta > tb;
}

static int
list_get_call(struct store *s, void *arg, char **cause)
{
	struct harvest_job *j = arg;
	struct list_spec   *l = &j->lists[j->cur];

	store_list_state_free(&j->st);
	return store_list_get(
	    s, j->source_id, l->prefix, l->set, &j->st, cause);
}

/* A list starts where the store says it stands. */
static void
start_list(struct harvest_job *j)
{
	job_call(j, list_get_call);
	job_after_store(j, list_begin);
}

static void
list_begin(struct harvest_job *j)
{
	struct list_spec       *l = &j->lists[j->cur];
	struct store_list_state st;
	const char	       *from = NULL;
	int			explicit_from;

	if (j->store_cause != NULL) {
		job_fail(j, "%s", j->store_cause);
		return;
	}
	st = j->st;
	memset(&j->st, 0, sizeof(j->st));
	free(j->old_watermark);
	j->old_watermark = st.watermark;
	st.watermark = NULL;
	explicit_from = j->from != NULL && !j->from_initial;

	/*
	 * The watermark moves only when this run covers everything since it:
	 * a backfill that starts later than the watermark must not skip what
	 * lies between.
	 */
	j->move_watermark = 1;
	if (explicit_from) {
		from = j->from;
		if (j->old_watermark != NULL &&
		    ds_cmp(j->from, j->old_watermark) > 0)
			j->move_watermark = 0;
	} else if (j->old_watermark != NULL)
		from = j->old_watermark;
	else if (j->from != NULL)
		from = j->from;
	free(j->list_from);
	j->list_from = from != NULL ? from_in_granularity(from, j->gran) : NULL;

	/* Each list has its own clock and high-water mark. */
	free(j->progress);
	j->progress = NULL;
	j->progress_t = 0;
	j->clock_fixed = 0;
	free(j->page_max);
	j->page_max = NULL;
	list_reset(j);
	/*
	 * Resume an interrupted list where its last committed page ended.  A
	 * windowed list starts its window again from the watermark instead
	 * (each window moved it on): a token alone does not say where its
	 * window ends.
	 */
	if (st.token != NULL && !explicit_from && j->until == NULL &&
	    j->window == WINDOW_NONE) {
		j->token = st.token;
		st.token = NULL;
		j->resumed = 1;
		j->resumed_any = 1;
		j->list_pages = st.pages;
		if (st.progress != NULL) {
			j->progress = st.progress;
			st.progress = NULL;
			(void)datestamp_parse(
			    j->progress, &j->progress_t, NULL);
			/* Saved by a run that used the repository's clock. */
			j->clock_fixed = j->overlap >= 0;
		}
		log_info("event=list_resume source=%s prefix=%s set=%s "
			 "pages=%lld",
		    log_q(j->name), log_q(l->prefix), log_q(l->set),
		    j->list_pages);
	} else
		log_info("event=list_start source=%s prefix=%s set=%s from=%s "
			 "until=%s",
		    log_q(j->name), log_q(l->prefix), log_q(l->set),
		    log_q(j->list_from), log_q(j->until));
	store_list_state_free(&st);
	if (j->window != WINDOW_NONE)
		window_begin(j);
	j->tries = 0;
	job_queue(j, 0);
}

/*
 * Is a deletion sweep of list j->sweep due?  What the store need not be
 * asked: 0 no, 1 yes, -1 ask it (sweep_due_call).
 */
static int
sweep_due(struct harvest_job *j, size_t i)
{
	long long every = j->reconcile;

	if (j->lists[i].set[0] != '\0' || every == 0)
		return 0;
	if (every < 0) {
		if (j->deleted_record == NULL ||
		    (strcmp(j->deleted_record, "no") != 0 &&
			strcmp(j->deleted_record, "transient") != 0))
			return 0;
	}
	/* 1 s means now (oaiharvest harvest --sweep). */
	return every > 0 && every <= 1 ? 1 : -1;
}

static int
sweep_due_call(struct store *s, void *arg, char **cause)
{
	struct harvest_job *j = arg;
	const char	   *prefix = j->lists[j->sweep].prefix;
	char		   *last = NULL, *err = NULL;
	long long	    every = j->reconcile;
	time_t		    t;

	if (every < 0)
		every = SWEEP_AUTO;
	j->sweep_is_due = 0;
	if (store_sweep_last(s, j->source_id, prefix, &last, &err) == -1) {
		j->sweep_warn = err;
		return 0;
	}
	/*
	 * Never swept: the list was just harvested whole, or is being kept
	 * since; start the clock rather than list everything again now.
	 */
	if (last == NULL) {
		if (store_sweep_touch(s, j->source_id, prefix, &err) == -1)
			j->sweep_warn = err;
		return 0;
	}
	j->sweep_is_due =
	    datestamp_parse(last, &t, NULL) == -1 || t + every <= time(NULL);
	free(last);
	return 0;
}

/* Sweep the next list that is due, or end the run. */
static void
next_sweep(struct harvest_job *j)
{
	int due = 0;

	for (; j->sweep < j->nlists; j->sweep++)
		if ((due = sweep_due(j, j->sweep)) != 0)
			break;
	if (j->sweep >= j->nlists) {
		job_finish(j);
		return;
	}
	if (due == -1) {
		job_call(j, sweep_due_call);
		job_after_store(j, sweep_asked);
		return;
	}
	sweep_start(j);
}

static void
sweep_asked(struct harvest_job *j)
{
	if (j->sweep_warn != NULL) {
		log_warn("event=sweep_error source=%s cause=%s", log_q(j->name),
		    log_q(j->sweep_warn));
		free(j->sweep_warn);
		j->sweep_warn = NULL;
	}
	if (!j->sweep_is_due) {
		j->sweep++;
		next_sweep(j);
		return;
	}
	sweep_start(j);
}

static void
sweep_start(struct harvest_job *j)
{
	job_set_state(j, JOB_SWEEP);
	log_info("event=sweep_start source=%s prefix=%s", log_q(j->name),
	    log_q(j->lists[j->sweep].prefix));
	free(j->token);
	j->token = NULL;
	j->list_pages = 0;
	j->tries = 0;
	job_queue(j, 0);
}

/*
 * A page of the sweep: mark what it lists.  At its end, the records it did
 * not list have vanished from a repository that keeps no deletions.
 */
static void
sweep_page_done(struct harvest_job *j)
{
	const struct oai_token *tok = oai_parser_token(j->parser);
	const char	       *code = oai_parser_error_code(j->parser);
	const char	       *prefix = j->lists[j->sweep].prefix;
	struct store_page      *p;
	char			now[DATESTAMP_LEN];
	int			more;

	more = code == NULL && tok->value != NULL;
	if (j->verdict.action == CLASSIFY_FAIL) {
		j->error_type = j->verdict.error_type;
		job_fail(j, "ListIdentifiers %s: OAI error %s: %s", prefix,
		    code,
		    oai_parser_error_message(j->parser) ?
			oai_parser_error_message(j->parser) :
			"");
		return;
	}
	if (more && j->token != NULL && strcmp(tok->value, j->token) == 0) {
		j->error_type = "protocol";
		job_fail(j,
		    "ListIdentifiers %s: the server repeated the "
		    "resumptionToken %s",
		    prefix, tok->value);
		return;
	}
	p = page_new(j, STORE_PAGE_SWEEP);
	if (!more) {
		p->sweep_finish = 1;
		datestamp_format(time(NULL), j->gran, now);
		p->swept_at = xstrdup(now);
	}
	j->sweep_more = more;
	free(j->sweep_token);
	j->sweep_token = more ? xstrdup(tok->value) : NULL;
	j->sweep_refused = 0;
	j->sweep_vanished = 0;
	store_page_submit(j->e->pages, p, page_written, j);
	j->store_out++;
	job_after_store(j, sweep_written);
}

static void
sweep_written(struct harvest_job *j)
{
	const char *prefix = j->lists[j->sweep].prefix;
	char	   *cause;

	if (j->sweep_refused) {
		/* A partial list must not delete; the harvest still stands. */
		cause = j->pipe_cause;
		j->pipe_cause = NULL;
		log_warn("event=sweep_refused source=%s prefix=%s cause=%s",
		    log_q(j->name), log_q(prefix), log_q(cause));
		if (j->warnings.len > 0)
			buf_addstr(&j->warnings, "; ");
		buf_printf(&j->warnings, "sweep %s: %s", prefix, cause);
		free(cause);
		j->sweep++;
		next_sweep(j);
		return;
	}
	if (pipe_failed(j))
		return;
	j->tries = 0;
	if (j->sweep_more) {
		free(j->token);
		j->token = j->sweep_token;
		j->sweep_token = NULL;
		job_queue(j, 0);
		return;
	}
	j->stats.deleted += j->sweep_vanished;
	log_info("event=sweep_done source=%s prefix=%s vanished=%lld",
	    log_q(j->name), log_q(prefix), j->sweep_vanished);
	if (j->sweep_vanished > 0 && j->e->obs.on_commit != NULL)
		j->e->obs.on_commit(j->e->obs_arg, j->name, j->sweep_vanished);
	j->sweep++;
	next_sweep(j);
}

static void
next_list(struct harvest_job *j)
{
	j->lists_done++;
	if (++j->cur >= j->nlists) {
		j->sweep = 0;
		next_sweep(j);
		return;
	}
	j->tries = 0;
	/* Politeness applies between lists as between pages. */
	free(j->token);
	j->token = NULL;
	start_list(j);
}

/*
 * The repository's clock when a fresh list began, less the overlap,
 * becomes the list's next from (kept in progress, and so in the
 * checkpoint): records indexed late with an earlier datestamp are caught
 * by the overlap.  Without a usable responseDate, progress stays the
 * high-water datestamp of the records.
 */
static void
note_clock(struct harvest_job *j)
{
	const char *rd = oai_parser_response_date(j->parser);
	char	    ds[DATESTAMP_LEN];
	time_t	    t;

	if (j->clock_fixed || j->resumed_any || j->overlap < 0 || rd == NULL ||
	    datestamp_read(rd, &t, NULL, NULL) == -1)
		return;
	(void)clock_cap(j, &t, "responseDate", rd);
	t -= (time_t)j->overlap;
	datestamp_format(t, j->gran, ds);
	free(j->progress);
	j->progress = xstrdup(ds);
	(void)datestamp_parse(ds, &j->progress_t, NULL);
	j->clock_fixed = 1;
}

/*
 * A repository's clock (its responseDate, a record's datestamp) more than
 * CLOCK_SKEW_MAX past ours is wrong, and must not become a watermark: the
 * harvester would ask for nothing new until then.  Such a time becomes the
 * local clock, with a warning on the run (once).  Returns 1 when it did.
 */
static int
clock_cap(struct harvest_job *j, time_t *t, const char *what, const char *sent)
{
	time_t now = time(NULL);

	if (*t <= now + CLOCK_SKEW_MAX)
		return 0;
	*t = now;
	if (j->clock_warned++)
		return 1;
	log_warn(
	    "event=clock_ahead source=%s %s=%s msg=\"more than %d s "
	    "past the local clock: the watermark stays at the local clock\"",
	    log_q(j->name), what, log_q(sent), CLOCK_SKEW_MAX);
	if (j->warnings.len > 0)
		buf_addstr(&j->warnings, "; ");
	buf_printf(&j->warnings,
	    "repository clock ahead: %s %.64s is more "
	    "than %d s past the local clock",
	    what, sent, CLOCK_SKEW_MAX);
	return 1;
}

/* A list, or a window of one, starts from its first page. */
static void
list_reset(struct harvest_job *j)
{
	free(j->token);
	j->token = NULL;
	j->resumed = 0;
	j->resumed_any = 0;
	j->restarts = 0;
	j->empty_pages = 0;
	j->list_records = 0;
	j->list_cls = -1;
	j->list_pages = 0;
}

/* Where the next harvest of a completed list starts. */
static const char *
next_from(const char *old_watermark, const char *progress)
{
	if (progress == NULL ||
	    (old_watermark != NULL && ds_cmp(old_watermark, progress) > 0))
		return old_watermark;
	return progress;
}

/*
 * A list page arrived whole and parsed: write its records and where to
 * resume in one transaction, then go on.
 */
static void
page_done(struct harvest_job *j)
{
	struct list_spec       *l = &j->lists[j->cur];
	const struct oai_token *tok = oai_parser_token(j->parser);
	struct store_page      *it;
	const char	       *code, *msg, *wm;
	char			wmbuf[DATESTAMP_LEN];
	int			more = 0, win_more = 0;

	if ((code = oai_parser_error_code(j->parser)) != NULL) {
		msg = oai_parser_error_message(j->parser);
		/* noRecordsMatch: an empty list, or the end of one. */
		if (j->verdict.action == CLASSIFY_NO_RECORDS) {
			if (j->token != NULL)
				goto complete;
			note_clock(j);
			log_info("event=list_empty source=%s prefix=%s set=%s",
			    log_q(j->name), log_q(l->prefix), log_q(l->set));
			spool_reset(j->spool);
			goto complete;
		}
		/*
		 * A token the server no longer knows (expired, or lost in a
		 * restart) means the list starts again from the watermark;
		 * records already stored come back unchanged.
		 */
		if (j->verdict.action == CLASSIFY_RESTART) {
			log_warn("event=token_expired source=%s prefix=%s "
				 "set=%s msg=\"restarting the list from the "
				 "watermark\"",
			    log_q(j->name), log_q(l->prefix), log_q(l->set));
			free(j->token);
			j->token = NULL;
			j->restarts++;
			j->resumed = 0;
			j->empty_pages = 0;
			j->list_records = 0;
			j->tries = 0;
			job_queue(j, 0);
			return;
		}
		j->error_type = j->verdict.error_type;
		job_fail(j, "ListRecords %s/%s: OAI error %s: %s", l->prefix,
		    l->set, code, msg != NULL ? msg : "");
		return;
	}
	if (oai_parser_verb(j->parser) != OAI_LIST_RECORDS) {
		job_fail(j, "ListRecords: the response is not a ListRecords");
		return;
	}
	note_clock(j);
	if (tok->value != NULL && j->token != NULL &&
	    strcmp(tok->value, j->token) == 0) {
		j->error_type = "protocol";
		job_fail(j,
		    "ListRecords %s/%s: the server repeated the "
		    "resumptionToken %s",
		    l->prefix, l->set, tok->value);
		return;
	}
	if (tok->value != NULL && j->list_pages + 1 >= MAX_PAGES_PER_LIST) {
		j->error_type = "protocol";
		job_fail(j, "ListRecords %s/%s: more than %d pages", l->prefix,
		    l->set, MAX_PAGES_PER_LIST);
		return;
	}
	more = tok->value != NULL;
	/* A record set aside was received: the page was not empty. */
	if (more && spool_count(j->spool) == 0 && j->page_rejects == 0) {
		if (++j->empty_pages > MAX_EMPTY_PAGES) {
			j->error_type = "protocol";
			job_fail(j,
			    "ListRecords %s/%s: %d pages in a row "
			    "without records",
			    l->prefix, l->set, MAX_EMPTY_PAGES + 1);
			return;
		}
	} else
		j->empty_pages = 0;
	j->list_records += (long long)spool_count(j->spool) + j->page_rejects;
	if (tok->complete_list_size >= 0)
		j->list_cls = tok->complete_list_size;

complete:
	/* The page's records move the high-water mark once it is whole. */
	if (j->page_max != NULL &&
	    clock_cap(j, &j->page_max_t, "datestamp", j->page_max)) {
		datestamp_format(j->page_max_t, j->gran, wmbuf);
		free(j->page_max);
		j->page_max = xstrdup(wmbuf);
	}
	if (!j->clock_fixed && j->page_max != NULL &&
	    (j->progress == NULL || j->page_max_t > j->progress_t)) {
		free(j->progress);
		j->progress = j->page_max;
		j->progress_t = j->page_max_t;
		j->page_max = NULL;
	}
	if (code == NULL && more) {
		it = page_new(j, STORE_PAGE_CHECKPOINT);
		/* A windowed list never resumes from a token (start_list). */
		it->list.token =
		    j->window == WINDOW_NONE ? xstrdup(tok->value) : NULL;
		it->list.cursor = tok->cursor;
		it->list.complete_list_size = tok->complete_list_size;
		free(j->token);
		j->token = xstrdup(tok->value);
		j->resumed = 0;
		j->tries = 0;
		/* Written while the next pages are fetched and parsed. */
		store_page_submit(j->e->pages, it, page_written, j);
		j->store_out++;
		if (store_pages_full(j->e->pages))
			job_wait_space(j);
		else
			job_queue(j, 0);
		return;
	}
	it = page_new(j, STORE_PAGE_COMPLETE);

	/*
	 * The end of a window that is not the last: the watermark moves to
	 * just after it, so that a run that stops here goes on with the next
	 * window.  The end of the list: to next_from(), written with it.
	 */
	win_more = j->window != WINDOW_NONE && !window_last(&j->win);
	wm = NULL;
	if (win_more && j->move_watermark) {
		datestamp_format(j->win.until + 1, j->gran, wmbuf);
		wm = wmbuf;
	} else if (!win_more && j->move_watermark) {
		wm = next_from(j->old_watermark, j->progress);
		/* Nothing after an explicit until was harvested. */
		if (wm != NULL && j->until != NULL && ds_cmp(wm, j->until) > 0)
			wm = j->until;
	}
	it->list.watermark = wm != NULL ? xstrdup(wm) : NULL;
	j->end_code = code != NULL;
	j->end_win_more = win_more;
	free(j->end_wm);
	j->end_wm = wm != NULL ? xstrdup(wm) : NULL;
	/* The list is done only once every page of it is in. */
	store_page_submit(j->e->pages, it, page_written, j);
	j->store_out++;
	job_after_store(j, list_written);
}

/* The last page of a list (or a window) is written: on to the next. */
static void
list_written(struct harvest_job *j)
{
	struct list_spec *l = &j->lists[j->cur];

	if (pipe_failed(j))
		return;
	j->tries = 0;
	check_list_size(j, j->end_code ? "" : NULL);
	if (j->end_win_more) {
		window_next(j);
		return;
	}
	log_info("event=list_done source=%s prefix=%s set=%s pages=%lld "
		 "next_from=%s",
	    log_q(j->name), log_q(l->prefix), log_q(l->set), j->list_pages,
	    log_q(j->move_watermark ? j->end_wm : j->old_watermark));
	next_list(j);
}

/* The store's side */

/*
 * A page of the current list (or sweep) for the store: the job's records
 * and rejects move to it, the job gets an empty spool.
 */
static struct store_page *
page_new(struct harvest_job *j, enum store_page_kind kind)
{
	struct list_spec  *l;
	struct store_page *p;

	l = &j->lists[kind == STORE_PAGE_SWEEP ? j->sweep : j->cur];
	p = store_page_new(kind, j->source_id, j->run_id, l->prefix,
	    kind == STORE_PAGE_SWEEP ? "" : l->set);
	p->spool = j->spool;
	j->spool = store_pages_spool(j->e->pages);
	if (j->lease != NULL) {
		p->lease = xstrdup(j->lease);
		p->lease_gen = j->lease_gen;
	}
	if (kind == STORE_PAGE_SWEEP)
		return p;
	p->rejects = j->pend;
	p->nrejects = j->npend;
	j->pend = NULL;
	j->npend = 0;
	p->list.progress = j->progress != NULL ? xstrdup(j->progress) : NULL;
	/* Counted when queued: every page before it is in first, or none. */
	p->list.pages = ++j->list_pages;
	return p;
}

/*
 * A page of the job's is written (or not): its counts go to the run, the
 * observers are told.  A page that failed fails the run at the job's next
 * step (pipe_failed); the store dropped the job's later pages.  Only
 * bookkeeping here: what the job does next waits for job_after_store().
 */
static void
page_written(void *arg, const struct store_page_result *r)
{
	struct harvest_job	*j = arg;
	struct harvest_engine	*e = j->e;
	const struct store_page *p = r->page;

	j->store_out--;
	if (p->kind == STORE_PAGE_SWEEP) {
		j->sweep_refused = r->refused;
		j->sweep_vanished = r->vanished;
	}
	if (r->cause != NULL) {
		if (j->pipe_cause == NULL)
			j->pipe_cause = xstrdup(r->cause);
	} else if (p->kind != STORE_PAGE_SWEEP) {
		j->stats.records += r->stats.records;
		j->stats.new_records += r->stats.new_records;
		j->stats.updated += r->stats.updated;
		j->stats.deleted += r->stats.deleted;
		j->stats.unchanged += r->stats.unchanged;
		j->stats.tombstones += r->stats.tombstones;
		j->stats.pages++;
		if (e->obs.on_page != NULL)
			e->obs.on_page(e->obs_arg, j->name, p->prefix, p->set,
			    j->list_records, j->list_cls);
		if (e->obs.on_commit != NULL)
			e->obs.on_commit(e->obs_arg, j->name,
			    j->stats.new_records + j->stats.updated +
				j->stats.deleted - j->changes_seen);
		j->changes_seen =
		    j->stats.new_records + j->stats.updated + j->stats.deleted;
		if (log_level >= LOG_LVL_DEBUG)
			log_page(j, p, r);
	}
	engine_space(e);
	job_after_store(j, j->store_next);
}

/* A committed page, at debug level; what is unknown is left out. */
static void
log_page(const struct harvest_job *j, const struct store_page *p,
    const struct store_page_result *r)
{
	char cursor[32] = "", size[32] = "";

	if (p->kind == STORE_PAGE_CHECKPOINT && p->list.cursor >= 0)
		snprintf(
		    cursor, sizeof(cursor), " cursor=%lld", p->list.cursor);
	if (p->kind == STORE_PAGE_CHECKPOINT && p->list.complete_list_size >= 0)
		snprintf(size, sizeof(size), " size=%lld",
		    p->list.complete_list_size);
	log_debug("event=page source=%s prefix=%s set=%s page=%lld "
		  "records=%lld%s%s batch=%zu",
	    log_q(j->name), log_q(p->prefix), log_q(p->set), p->list.pages,
	    r->stats.records, cursor, size, r->batch);
}

/* Ask the store something, in turn with the job's pages. */
static void
job_call(struct harvest_job *j, int (*fn)(struct store *, void *, char **))
{
	free(j->store_cause);
	j->store_cause = NULL;
	j->store_out++;
	store_pages_call(j->e->pages, fn, call_done, j);
}

static void
call_done(void *arg, const char *cause)
{
	struct harvest_job *j = arg;

	j->store_out--;
	if (cause != NULL && j->store_cause == NULL)
		j->store_cause = xstrdup(cause);
	job_after_store(j, j->store_next);
}

/*
 * Go on with fn once the store has done all the job gave it, from the loop
 * (never from inside a completion, which store_pages_wait() may deliver
 * anywhere).
 */
static void
job_after_store(struct harvest_job *j, void (*fn)(struct harvest_job *))
{
	j->store_next = fn;
	if (fn != NULL && j->store_out == 0)
		event_active(j->store_ev, EV_TIMEOUT, 1);
}

static void
on_store_ready(evutil_socket_t fd, short what, void *arg)
{
	struct harvest_job *j = arg;
	void (*fn)(struct harvest_job *);

	if ((fn = j->store_next) == NULL || j->store_out > 0)
		return;
	j->store_next = NULL;
	fn(j);
}

/* The store's queue is full: the next request waits until it is not. */
static void
job_wait_space(struct harvest_job *j)
{
	if (j->full_wait)
		return;
	j->full_wait = 1;
	TAILQ_INSERT_TAIL(&j->e->full_wait, j, fentry);
}

static void
engine_space(struct harvest_engine *e)
{
	struct harvest_job *j;

	while (!store_pages_full(e->pages) &&
	    (j = TAILQ_FIRST(&e->full_wait)) != NULL) {
		TAILQ_REMOVE(&e->full_wait, j, fentry);
		j->full_wait = 0;
		job_queue(j, 0);
	}
}

/* A page of this job's could not be written: the run fails. */
static int
pipe_failed(struct harvest_job *j)
{
	char *cause;

	if (j->pipe_cause == NULL)
		return 0;
	cause = j->pipe_cause;
	j->pipe_cause = NULL;
	j->error_type = "store";
	job_fail(j, "%s", cause);
	free(cause);
	return 1;
}

/*
 * A list (or a window of one) ended: a count short of, or beyond, the
 * completeListSize the repository announced is a warning on the run.  Only
 * a list harvested whole in this run can be counted.
 */
static void
check_list_size(struct harvest_job *j, const char *code)
{
	struct list_spec *l = &j->lists[j->cur];

	if (j->list_cls < 0 || j->resumed_any || code != NULL ||
	    j->list_records == j->list_cls)
		return;
	log_warn("event=list_size_mismatch source=%s prefix=%s set=%s "
		 "complete_list_size=%lld received=%lld",
	    log_q(j->name), log_q(l->prefix), log_q(l->set), j->list_cls,
	    j->list_records);
	if (j->warnings.len > 0)
		buf_addstr(&j->warnings, "; ");
	buf_printf(&j->warnings, "%s/%s: completeListSize %lld, received %lld",
	    l->prefix, l->set[0] ? l->set : "-", j->list_cls, j->list_records);
}

/* Date windows */

static void
window_log(struct harvest_job *j, const char *event)
{
	struct list_spec *l = &j->lists[j->cur];
	char		  from[DATESTAMP_LEN], until[DATESTAMP_LEN];

	window_format(&j->win, j->gran, from, until);
	log_info("event=%s source=%s prefix=%s set=%s from=%s until=%s", event,
	    log_q(j->name), log_q(l->prefix), log_q(l->set), log_q(from),
	    log_q(until[0] != '\0' ? until : NULL));
}

/*
 * The first window of a list: from the list's from (the watermark) or
 * else the repository's earliestDatestamp, to an explicit until or else
 * the repository's clock (the last window then has no until, and runs to
 * whatever the clock says when it is asked).
 */
static void
window_begin(struct harvest_job *j)
{
	time_t start = 0, end, t;
	int    open_end = j->until == NULL;

	if (j->list_from != NULL)
		(void)datestamp_parse(j->list_from, &start, NULL);
	else if (j->earliest != NULL &&
	    datestamp_read(j->earliest, &t, NULL, NULL) == 0)
		start = t;
	if (start < 0)
		start = 0;
	if (open_end || datestamp_parse(j->until, &end, NULL) == -1)
		end = j->clock > 0 ? j->clock : time(NULL);
	window_init(
	    &j->win, j->window, j->gran, j->window_min, start, end, open_end);
	j->win_start = j->win.from;
	window_log(j, "window");
}

/*
 * A repository that cannot answer a wide selective request times out,
 * drops the connection or fails with a 5xx on its first page (classify()
 * says CLASSIFY_NARROW): ask for half the window, down to the minimum,
 * before the ordinary retries.  0 when the window is as small as it goes.
 */
static int
window_narrow(struct harvest_job *j, const char *cause)
{
	if (window_halve(&j->win) == -1)
		return 0;
	j->narrowed++;
	j->tries = 0;
	log_warn("event=window_narrowed source=%s cause=%s", log_q(j->name),
	    log_q(cause));
	window_log(j, "window");
	job_queue(j, j->e->retry_base_ms);
	return 1;
}

/* The window just committed was not the last: on to the next one. */
static void
window_next(struct harvest_job *j)
{
	(void)window_advance(&j->win);
	list_reset(j);
	j->tries = 0;
	window_log(j, "window");
	job_queue(j, 0);
}

/* One-off requests */

struct oreq {
	struct harvest_engine *e;
	struct oai_parser     *parser;
	harvest_request_cb     cb;
	void		      *arg;
};

static int
oreq_data(void *arg, const char *p, size_t len)
{
	struct oreq *o = arg;

	return oai_parser_feed(o->parser, p, len);
}

static void
oreq_done(void *arg, const struct fetch_result *res)
{
	struct oreq	   *o = arg;
	struct classify_in  in;
	struct classify_out out;
	const char	   *cause = NULL;
	char		   *full = NULL, *blocked = NULL;

	if (res->ok && oai_parser_finish(o->parser) == -1)
		cause = oai_parser_cause(o->parser);
	else if (res->sink_failed)
		cause = oai_parser_cause(o->parser);
	else if (!res->ok)
		cause = res->cause;
	classify_response(&in, o->parser, res, cause);
	in.phase = CLASSIFY_REQUEST;
	classify(&in, &out);
	if (out.action == CLASSIFY_BLOCKED) {
		xasprintf(&blocked,
		    "blocked: the repository's bot protection "
		    "(%s) refused the harvester (HTTP %ld)",
		    in.wall, res->status);
		cause = blocked;
	} else if (out.action == CLASSIFY_OK) {
		if (out.error_body)
			log_error_body(NULL, res, in.oai_error);
		cause = NULL;
	} else if (out.html)
		cause = HTML_CAUSE;
	if (cause != NULL) {
		xasprintf(&full, "%s: %s", res->url, cause);
		o->cb(NULL, full, o->arg);
	} else
		o->cb(o->parser, NULL, o->arg);
	free(full);
	free(blocked);
	oai_parser_free(o->parser);
	free(o);
}

int
harvest_request(struct harvest_engine *e, const char *url,
    const struct oai_callbacks *cbs, void *cbarg, harvest_request_cb cb,
    void *arg, char **cause)
{
	struct oreq *o;

	o = xcalloc(1, sizeof(*o));
	o->e = e;
	o->cb = cb;
	o->arg = arg;
	o->parser = oai_parser_new(cbs, cbarg);
	if (fetch_start(e->fetch, url, FETCH_REDIRECT_SAME_HOST, oreq_data,
		oreq_done, o, cause) == NULL) {
		oai_parser_free(o->parser);
		free(o);
		return -1;
	}
	return 0;
}
