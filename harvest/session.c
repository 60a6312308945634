/*
 * A harvest run for one source, as a state machine on the event loop:
 *
 *	IDENTIFY -> LIST (page, page, ...) for each (prefix, set) -> DONE
 *
 * Each page's records are parsed as the bytes arrive, spooled, and written
 * with the list's checkpoint in one transaction once the page is complete.
 * Between requests the job waits on a timer (politeness delay, retries).
 *
 * Pages are written by the engine's page writer, a thread with its own
 * SQLite connection, while the next pages are fetched and parsed here (the
 * two took turns on one core before, each about half of a record's cost).
 * Pages queue in order in an open batch; when the writer is free, the
 * batch goes to it whole and is written in one transaction, each page with
 * its checkpoint, so that a database stops only at a page's end.  When the
 * writer is the slower, batches grow and each commit's fixed cost (the
 * full-text index's flush above all) is shared, up to BATCH_MAX_RECORDS;
 * past that the event loop waits.  The event loop touches the store only
 * after engine_drain() has written and taken back everything, and nothing
 * is shared with the thread while it works.
 */
#include <sys/eventfd.h>

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/queue.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <zlib.h>

#include "fetch.h"
#include "harvest.h"
#include "log.h"
#include "oh_limits.h"
#include "spool.h"
#include "util.h"
#include "writer.h"

enum job_state {
	JOB_IDENTIFY,
	JOB_LIST,
	JOB_SWEEP,
	JOB_DONE,
};

static const char *const job_state_names[] = {
	"identify", "list", "sweep", "done",
};

/* The automatic sweep interval for repositories that keep no deletions. */
#define SWEEP_AUTO	(7 * 86400)

struct list_spec {
	char	*prefix;
	char	*set;		/* "" for the whole repository */
};

/*
 * A host is what politeness is about: every job whose URL has the same
 * scheme, host and port shares one, so that at most one request is in
 * flight to it and requests are spaced by the job's delay.
 */
struct host {
	LIST_ENTRY(host)	 entry;
	char			*key;
	struct harvest_engine	*e;
	TAILQ_HEAD(, harvest_job) queue;	/* jobs waiting to send */
	struct harvest_job	*holder;	/* the job with a request out */
	int64_t			 last_end_ms;
	struct event		*timer;
};

/* A malformed record, kept until its page is committed. */
struct pending_reject {
	char	*identifier;
	char	*datestamp;
	char	*cause;
	char	*raw;
	size_t	 raw_len;
	int	 truncated;
};

/* Rejects kept with their raw XML per page; more are only counted. */
#define MAX_PAGE_REJECTS	64

/*
 * A list page on its way to the database.  It owns what the write needs
 * (the page's spool and rejects move here, the strings are copies), so the
 * writer thread touches nothing of the job's; batch_apply() brings what
 * the write found back to the job, on the event loop.
 */
struct page_item {
	struct harvest_job	*j;		/* the owner, for batch_apply */
	int64_t			 source_id;
	int64_t			 run_id;
	char			*prefix;
	char			*set;
	struct spool		*spool;
	struct pending_reject	*pend;
	size_t			 npend;
	size_t			 nrecords;

	/* Where the list stands after the page: a checkpoint ... */
	int			 checkpoint;
	char			*token;
	char			*progress;
	long long		 cursor;
	long long		 cls;
	long long		 pages;
	/* ... or the list's end, with the next from (NULL: none). */
	char			*wm;

	/* What the write did. */
	struct store_run_stats	 stats;
};

/* Pages written in one transaction, in order. */
struct page_batch {
	struct store		*s;
	int			 wfd;		/* the engine's eventfd */
	struct page_item	**items;
	size_t			 n;
	size_t			 cap;
	size_t			 records;
	char			*cause;		/* set when it failed */
};

/* A batch stops growing at this many records: the event loop waits. */
#define BATCH_MAX_RECORDS	400

struct harvest_engine {
	LIST_HEAD(, host)	 hosts;
	struct event_base	*base;
	struct store		*ws;		/* the engine's own connection */
	struct writer		*writer;	/* NULL: pages written inline */
	struct page_batch	*inflight;	/* with the writer, or NULL */
	struct page_batch	*open;		/* pages queued behind it */
	int			 wfd;		/* eventfd: a page is written */
	struct event		*wev;
	struct fetch		*fetch;
	long long		 retry_base_ms;
	long long		 max_bytes;
	long long		 retry_after_max;
	int			 max_tries;
	unsigned int		 seed;
	struct harvest_observer	 obs;
	void			*obs_arg;
};

struct harvest_job {
	struct harvest_engine	*e;
	enum job_state		 state;
	harvest_done_cb		 done;
	void			*done_arg;

	/* What to harvest. */
	char			*name;
	char			*url;
	struct list_spec	*lists;
	size_t			 nlists;
	char			*from;
	char			*until;
	int			 from_initial;
	long long		 delay_ms;
	long long		 overlap;
	enum fetch_redirects	 redirects;	/* follow_redirects */
	long long		 reconcile;
	enum window_unit	 window;
	long long		 window_min;
	size_t			 sweep;		/* list being swept */

	/* What Identify said. */
	enum oai_granularity	 gran;
	char			*granularity;
	char			*earliest;
	char			*deleted_record;
	char			*repo_name;
	time_t			 clock;		/* its responseDate, or 0 */

	/* The run. */
	int64_t			 source_id;
	int64_t			 run_id;
	struct store_run_stats	 stats;
	long long		 lists_done;
	long long		 repairs;
	int64_t			 started_ms;

	/* The current list. */
	size_t			 cur;
	char			*list_from;
	char			*old_watermark;
	int			 move_watermark;
	char			*token;		/* next request's token */
	int			 resumed;	/* token came from a checkpoint */
	int			 restarts;	/* from the watermark, this list */
	int			 resumed_any;	/* this list began at a checkpoint */
	int			 empty_pages;	/* in a row, with a token */
	long long		 list_records;	/* received in this list */
	long long		 list_cls;	/* last completeListSize, -1 */
	char			*progress;	/* high-water datestamp so far */
	time_t			 progress_t;
	int			 clock_fixed;	/* progress is the clock's */
	int			 clock_warned;	/* clock_cap() said so, this run */
	long long		 list_pages;
	/*
	 * A windowed list: the current date window, and where the first one
	 * began (sent without from when the list has no from of its own, so
	 * that records dated before earliestDatestamp are not missed).
	 */
	struct window		 win;
	time_t			 win_start;
	long long		 narrowed;	/* windows halved, this run */

	/* Waiting for, or holding, the host. */
	struct host		*host;
	TAILQ_ENTRY(harvest_job) qentry;
	int			 queued;
	int64_t			 ready_ms;

	/* The current request. */
	struct fetch_req	*req;
	struct oai_parser	*parser;
	struct spool		*spool;
	struct spool		*spare;		/* back from the writer */
	struct store_dc		*dc;		/* a record's, for the spool */
	size_t			 dccap;
	char			*spool_cause;
	char			*pipe_cause;	/* the page writer failed */
	char			*page_max;	/* this page's latest datestamp */
	time_t			 page_max_t;
	int			 tries;
	long long		 retries;	/* this run, all requests */
	long long		 rejects;
	long long		 page_rejects;	/* this request's */
	long long		 normalized;	/* datestamps, this run */
	/* This page's rejects, written with it (at most MAX_PAGE_REJECTS). */
	struct pending_reject	*pend;
	size_t			 npend;
	long long		 changes_seen;	/* reported to on_commit */
	int			 forbidden;
	struct buf		 warnings;
	char			*error;
	const char		*error_type;

	/* A gzip body that came without Content-Encoding. */
	int			 sniffed;
	int			 gunzip;
	z_stream		 zs;
	long long		 inflated;
};

/* State and flow */
static void	 job_set_state(struct harvest_job *, enum job_state);
static void	 job_queue(struct harvest_job *, long long ms);
static struct host *host_get(struct harvest_engine *, const char *);
static void	 host_arm(struct host *);
static void	 host_release(struct host *);
static void	 on_host_timer(evutil_socket_t, short, void *);
static void	 job_fail(struct harvest_job *, const char *, ...)
		    __printflike(2, 3);
static void	 job_finish(struct harvest_job *);
static void	 job_free(struct harvest_job *);
static void	 do_request(struct harvest_job *);
static void	 start_list(struct harvest_job *);
static void	 next_list(struct harvest_job *);

/* Responses */
static int	 on_data(void *, const char *, size_t);
static void	 on_done(void *, const struct fetch_result *);
static int	 on_identify(void *, const struct oai_identify *);
static int	 on_record(void *, const struct oai_record *);
static int	 on_reject(void *, const struct oai_reject *);
static void	 pend_clear(struct harvest_job *);
static void	 identify_done(struct harvest_job *);
static void	 page_done(struct harvest_job *);
static void	 sweep_page_done(struct harvest_job *);
static void	 next_sweep(struct harvest_job *);
static int	 item_put(void *, const struct store_record *);

/* The page writer */
static struct page_item *page_item_new(struct harvest_job *);
static void	 page_item_free(struct page_item *);
static void	 page_queue(struct harvest_engine *, struct page_item *);
static void	 batch_free(struct page_batch *);
static void	 batch_write(void *);
static void	 batch_apply(struct harvest_engine *, struct page_batch *);
static void	 engine_pump(struct harvest_engine *, int);
static void	 engine_drain(struct harvest_engine *);
static struct store *job_store(struct harvest_job *);
static int	 pipe_failed(struct harvest_job *);
static void	 on_written(evutil_socket_t, short, void *);
static void	 pend_free(struct pending_reject *, size_t);
static void	 note_clock(struct harvest_job *);
static void	 list_reset(struct harvest_job *);
static void	 window_begin(struct harvest_job *);
static int	 window_narrow(struct harvest_job *,
		    const struct fetch_result *, const char *);
static void	 window_next(struct harvest_job *);
static void	 check_list_size(struct harvest_job *, const char *);
static const char *next_from(const char *, const char *);
static int	 clock_cap(struct harvest_job *, time_t *, const char *,
		    const char *);

struct harvest_engine *
harvest_engine_new(struct event_base *base, struct store *store,
    const struct harvest_options *o, char **cause)
{
	struct harvest_engine	*e;
	struct fetch_options	 fo;
	char			*ckcause = NULL;

	e = xcalloc(1, sizeof(*e));
	LIST_INIT(&e->hosts);
	e->base = base;
	e->wfd = -1;
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
	 * The engine writes through a connection of its own, so that its
	 * page writer never shares one with the caller's event loop.
	 */
	if (store != NULL) {
		if ((e->ws = store_open(store_path(store), 0, cause)) == NULL) {
			harvest_engine_free(e);
			return NULL;
		}
		/*
		 * The page writer should not wait for checkpoints; without a
		 * checkpointer, its commits checkpoint as SQLite's do.
		 */
		if (store_checkpoint_async(e->ws, 0, 0, 0, &ckcause) == -1) {
			log_warn("harvest: %s", ckcause);
			free(ckcause);
		}
		if ((e->wfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1 ||
		    (e->wev = event_new(base, e->wfd, EV_READ | EV_PERSIST,
		    on_written, e)) == NULL || event_add(e->wev, NULL) == -1) {
			xasprintf(cause, "harvest: page writer: %s",
			    strerror(errno));
			harvest_engine_free(e);
			return NULL;
		}
		e->writer = writer_new();
	}
	e->retry_base_ms = o->retry_base_ms > 0 ? o->retry_base_ms :
	    BACKOFF_BASE * 1000LL;
	e->max_tries = o->max_tries > 0 ? o->max_tries : MAX_REQUEST_TRIES;
	e->max_bytes = o->max_response_bytes > 0 ? o->max_response_bytes :
	    (long long)MAX_RESPONSE_BYTES;
	e->retry_after_max = o->retry_after_max > 0 &&
	    o->retry_after_max < RETRY_AFTER_MAX ? o->retry_after_max :
	    RETRY_AFTER_MAX;
	e->seed = (unsigned int)time(NULL) ^ (unsigned int)(uintptr_t)e;
	return e;
}

void
harvest_engine_observe(struct harvest_engine *e,
    const struct harvest_observer *o, void *arg)
{
	e->obs = *o;
	e->obs_arg = arg;
}

void
harvest_engine_free(struct harvest_engine *e)
{
	struct host	*h;

	if (e == NULL)
		return;
	/* Jobs see their pages written when they end; this is for safety. */
	writer_wait(e->writer);
	batch_free(e->inflight);
	batch_free(e->open);
	writer_free(e->writer);
	if (e->wev != NULL)
		event_free(e->wev);
	if (e->wfd != -1)
		close(e->wfd);
	store_close(e->ws);
	while ((h = LIST_FIRST(&e->hosts)) != NULL) {
		LIST_REMOVE(h, entry);
		event_free(h->timer);
		free(h->key);
		free(h);
	}
	fetch_free(e->fetch);
	free(e);
}

/* Politeness */

/* scheme://host:port, lowercased; the whole URL when it does not parse. */
static char *
host_key(const char *url)
{
	CURLU	*u;
	char	*scheme = NULL, *host = NULL, *port = NULL, *key, *p;

	if ((u = curl_url()) == NULL)
		return xstrdup(url);
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) !=
	    CURLUE_OK)
		key = xstrdup(url);
	else
		xasprintf(&key, "%s://%s:%s", scheme, host, port);
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	for (p = key; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p += 'a' - 'A';
	return key;
}

static struct host *
host_get(struct harvest_engine *e, const char *url)
{
	struct host	*h;
	char		*key;

	key = host_key(url);
	LIST_FOREACH(h, &e->hosts, entry)
		if (strcmp(h->key, key) == 0) {
			free(key);
			return h;
		}
	h = xcalloc(1, sizeof(*h));
	h->key = key;
	h->e = e;
	TAILQ_INIT(&h->queue);
	h->timer = evtimer_new(e->base, on_host_timer, h);
	h->last_end_ms = -1;
	LIST_INSERT_HEAD(&e->hosts, h, entry);
	return h;
}

/* When may job j send, given the host's last request? */
static int64_t
host_start_at(const struct host *h, const struct harvest_job *j)
{
	int64_t	t = j->ready_ms;

	if (h->last_end_ms >= 0 && h->last_end_ms + j->delay_ms > t)
		t = h->last_end_ms + j->delay_ms;
	return t;
}

/*
 * Arm the host's timer for the earliest moment a waiting job may send.
 * Requests always start from the timer, never from the caller's stack.
 */
static void
host_arm(struct host *h)
{
	struct harvest_job	*j;
	struct timeval		 tv;
	int64_t			 t, best = -1, now;

	if (h->holder != NULL)
		return;
	TAILQ_FOREACH(j, &h->queue, qentry) {
		t = host_start_at(h, j);
		if (best < 0 || t < best)
			best = t;
	}
	if (best < 0) {
		evtimer_del(h->timer);
		return;
	}
	now = mono_ms();
	t = best > now ? best - now : 0;
	tv.tv_sec = t / 1000;
	tv.tv_usec = (t % 1000) * 1000;
	evtimer_add(h->timer, &tv);
}

static void
on_host_timer(evutil_socket_t fd, short what, void *arg)
{
	struct host		*h = arg;
	struct harvest_job	*j, *pick = NULL;
	int64_t			 now = mono_ms(), t, best = -1;

	if (h->holder != NULL)
		return;
	/* The waiting job that may send first; the oldest on a tie. */
	TAILQ_FOREACH(j, &h->queue, qentry) {
		t = host_start_at(h, j);
		if (best < 0 || t < best) {
			best = t;
			pick = j;
		}
	}
	if (pick == NULL)
		return;
	if (best > now) {
		host_arm(h);
		return;
	}
	TAILQ_REMOVE(&h->queue, pick, qentry);
	pick->queued = 0;
	h->holder = pick;
	do_request(pick);
}

static void
host_release(struct host *h)
{
	h->holder = NULL;
	h->last_end_ms = mono_ms();
	host_arm(h);
}

/* Wait ms (a retry's backoff), then for the host, then send. */
static void
job_queue(struct harvest_job *j, long long ms)
{
	j->ready_ms = mono_ms() + ms;
	if (!j->queued) {
		TAILQ_INSERT_TAIL(&j->host->queue, j, qentry);
		j->queued = 1;
	}
	host_arm(j->host);
}

/* URLs */

char *
harvest_url(const char *base, const char *verb, ...)
{
	struct buf	 b;
	va_list		 ap;
	const char	*k, *v;
	char		*esc;

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

/* Retry policy */

/*
 * 503 and 429 say when to come back (Retry-After); other server errors,
 * timeouts, broken connections and unparsable 200 pages are retried with
 * exponential backoff and jitter; other statuses (403, 404, ...) are final:
 * the OAI-PMH harvester guidelines ask a harvester not to hammer on.
 */
long long
harvest_retry_delay(long status, int curl_failed,
    long long retry_after, long long retry_after_max, int attempt,
    int max_tries, long long base_ms, unsigned int seed)
{
	long long	ms;
	int		i;

	if (attempt >= max_tries)
		return -1;
	if ((status == 503 || status == 429) && retry_after > 0) {
		if (retry_after > retry_after_max)
			retry_after = retry_after_max;
		return retry_after * 1000;
	}
	if (!(curl_failed || status == 200 || status == 408 ||
	    status == 429 || (status >= 500 && status <= 599)))
		return -1;
	ms = base_ms;
	for (i = 1; i < attempt && ms < BACKOFF_MAX * 1000LL; i++)
		ms *= 2;
	if (ms > BACKOFF_MAX * 1000LL)
		ms = BACKOFF_MAX * 1000LL;
	/* Up to a quarter more, so that many sources do not retry together. */
	seed = seed * 1103515245u + 12345u;
	ms += (long long)((seed >> 8) % (unsigned int)(ms / 4 + 1));
	return ms;
}

/* Jobs */

struct harvest_job *
harvest_start(struct harvest_engine *e, const struct harvest_source *src,
    harvest_done_cb done, void *arg, char **cause)
{
	static const char *const	 default_prefix[] = { "oai_dc" };
	static const char *const	 whole[] = { "" };
	struct harvest_job		*j;
	const char *const		*prefixes = src->prefixes;
	const char *const		*sets = src->sets;
	size_t				 np = src->nprefixes, ns = src->nsets;
	size_t				 i, k;
	char				*tmp, *shown;

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
	j->spool = spool_new(SPOOL_MEM_BYTES);
	buf_init(&j->warnings, 4096);
	j->host = host_get(e, j->url);
	j->started_ms = mono_ms();
	j->state = JOB_IDENTIFY;

	engine_drain(e);
	/* The password of a URL is for the requests only. */
	shown = url_redact(j->url);
	j->source_id = store_source(e->ws, j->name, shown, src->move, cause);
	if (j->source_id == STORE_SOURCE_OTHER_URL) {
		/* Said once here, for the daemon's log and status. */
		tmp = *cause;
		xasprintf(cause, "%s: if the repository moved there, run "
		    "`oaiharvest harvest --move` once for this source", tmp);
		free(tmp);
		free(shown);
		job_free(j);
		return NULL;
	}
	if (j->source_id < 0 ||
	    (j->run_id = store_run_begin(e->ws, j->source_id,
	    cause)) == -1) {
		free(shown);
		job_free(j);
		return NULL;
	}
	log_info("event=run_start source=%s url=%s run=%lld lists=%zu",
	    log_q(j->name), log_q(shown), (long long)j->run_id, j->nlists);
	free(shown);
	job_queue(j, 0);
	return j;
}

void
harvest_cancel(struct harvest_job *j)
{
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
		log_debug("event=state source=%s from=%s to=%s",
		    log_q(j->name), job_state_names[j->state],
		    job_state_names[s]);
	j->state = s;
}

static void
job_fail(struct harvest_job *j, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	/*
	 * A sweep that fails leaves the harvest as good as it was: a warning
	 * on the run, and the next sweep tries again.
	 */
	if (j->state == JOB_SWEEP && (j->error_type == NULL ||
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

	if (j->error == NULL) {
		va_start(ap, fmt);
		xvasprintf(&j->error, fmt, ap);
		va_end(ap);
	}
	job_finish(j);
}

static void
job_finish(struct harvest_job *j)
{
	struct harvest_result	 res;
	char			*cause = NULL;

	job_set_state(j, JOB_DONE);
	engine_drain(j->e);
	if (j->pipe_cause != NULL) {
		if (j->error == NULL) {
			j->error = j->pipe_cause;
			j->error_type = "store";
		} else
			free(j->pipe_cause);
		j->pipe_cause = NULL;
	}
	if (store_run_end(j->e->ws, j->run_id, j->error ? "failed" : "ok",
	    &j->stats, j->error, &cause) == -1) {
		log_err("event=store_error source=%s cause=%s", log_q(j->name),
		    log_q(cause));
		if (j->error == NULL)
			j->error = cause;
		else
			free(cause);
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
	res.error_type = j->error == NULL ? NULL : j->error_type != NULL ?
	    j->error_type : "other";
	res.seconds = (mono_ms() - j->started_ms) / 1000.0;
	if (j->done != NULL)
		j->done(&res, j->done_arg);
	job_free(j);
}

static void
job_free(struct harvest_job *j)
{
	size_t	i;

	/* No page of the job's may outlive it (none does: see job_finish). */
	engine_drain(j->e);
	if (j->req != NULL)
		fetch_cancel(j->req);
	if (j->host != NULL) {
		if (j->queued)
			TAILQ_REMOVE(&j->host->queue, j, qentry);
		if (j->host->holder == j)
			host_release(j->host);
		else
			host_arm(j->host);
	}
	if (j->parser != NULL)
		oai_parser_free(j->parser);
	if (j->gunzip)
		inflateEnd(&j->zs);
	buf_free(&j->warnings);
	pend_clear(j);
	spool_free(j->spool);
	spool_free(j->spare);
	free(j->dc);
	free(j->pipe_cause);
	free(j->page_max);
	for (i = 0; i < j->nlists; i++) {
		free(j->lists[i].prefix);
		free(j->lists[i].set);
	}
	free(j->lists);
	free(j->name);
	free(j->url);
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

#define HTML_CAUSE	"the response is HTML, not XML (is the URL the " \
			"repository's OAI-PMH base URL?)"

/* memmem, ASCII case folded. */
static const char *
memcase(const char *p, size_t len, const char *needle)
{
	size_t	n = strlen(needle), i;

	for (i = 0; n <= len && i <= len - n; i++)
		if (strncasecmp(p + i, needle, n) == 0)
			return p + i;
	return NULL;
}

int
harvest_looks_html(const char *p, size_t len)
{
	if (p == NULL)
		return 0;
	if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) {
		p += 3;
		len -= 3;
	}
	while (len > 0 && (*p == ' ' || *p == '\t' || *p == '\r' ||
	    *p == '\n')) {
		p++;
		len--;
	}
	return (len >= 14 && strncasecmp(p, "<!DOCTYPE html", 14) == 0) ||
	    (len >= 5 && strncasecmp(p, "<html", 5) == 0 &&
	    (len == 5 || p[5] == '>' || p[5] == ' ' || p[5] == '\n' ||
	    p[5] == '\r' || p[5] == '\t'));
}

/*
 * Whose bot protection answered instead of the repository: its challenge
 * header, or the marks of its challenge page in an HTML body (of any
 * status: Anubis answers 200).  NULL for anything else.
 */
const char *
harvest_bot_wall(const char *header_wall, const char *head, size_t len)
{
	static const struct {
		const char	*mark;
		const char	*wall;
	} marks[] = {
		{ "/cdn-cgi/challenge-platform/", "Cloudflare" },
		{ "_cf_chl_opt", "Cloudflare" },
		{ "<title>Just a moment...</title>", "Cloudflare" },
		{ "<title>Attention Required! | Cloudflare</title>",
		  "Cloudflare" },
		{ "awswaf", "AWS WAF" },
		{ "AwsWafIntegration", "AWS WAF" },
		{ "anubis_challenge", "Anubis" },
		{ "/.within.website/", "Anubis" },
		{ "ddos-guard", "DDoS-Guard" },
	};
	size_t	i;

	if (header_wall != NULL)
		return header_wall;
	if (!harvest_looks_html(head, len))
		return NULL;
	for (i = 0; i < nitems(marks); i++)
		if (memcase(head, len, marks[i].mark) != NULL)
			return marks[i].wall;
	return NULL;
}

/*
 * An OAI-PMH error document is that OAI error whatever the HTTP status it
 * came with: Zenodo sends noRecordsMatch, badArgument, idDoesNotExist and
 * badResumptionToken with 422, others use 400, 404 or 500.  A 503 or 429
 * with Retry-After stays flow control.  The parser (fresh: a body of
 * another status was not given to it) reads the body; 1 when it holds an
 * error, which the caller then handles as if it had come with 200.
 */
static int
oai_error_body(struct oai_parser *p, const struct fetch_result *res,
    const char *source)
{
	if (res->ok || res->curl_failed || res->over_limit ||
	    res->sink_failed || res->status == 0 || res->head_len == 0 ||
	    !res->whole_head)
		return 0;
	if ((res->status == 503 || res->status == 429) &&
	    res->retry_after > 0)
		return 0;
	if (oai_parser_feed(p, res->head, res->head_len) == -1 ||
	    oai_parser_finish(p) == -1 || oai_parser_error_code(p) == NULL)
		return 0;
	log_info("event=oai_error_status source=%s url=%s status=%ld code=%s",
	    log_q(source), log_q(res->url), res->status,
	    log_q(oai_parser_error_code(p)));
	return 1;
}

/* Requests */

static void
do_request(struct harvest_job *j)
{
	static const struct oai_callbacks	 cbs = {
		.on_record = on_record,
		.on_identify = on_identify,
		.on_reject = on_reject,
	};
	struct list_spec			*l;
	char					*url, *cause = NULL, *shown;
	char					 from[DATESTAMP_LEN];
	char					 until[DATESTAMP_LEN];

	if (j->state == JOB_IDENTIFY)
		url = harvest_url(j->url, "Identify", NULL);
	else if (j->state == JOB_SWEEP)
		url = j->token != NULL ? harvest_url(j->url, "ListIdentifiers",
		    "resumptionToken", j->token, NULL) :
		    harvest_url(j->url, "ListIdentifiers", "metadataPrefix",
		    j->lists[j->sweep].prefix, NULL);
	else {
		l = &j->lists[j->cur];
		if (j->token != NULL)
			url = harvest_url(j->url, "ListRecords",
			    "resumptionToken", j->token, NULL);
		else if (j->window != WINDOW_NONE) {
			window_format(&j->win, j->gran, from, until);
			url = harvest_url(j->url, "ListRecords",
			    "metadataPrefix", l->prefix,
			    "set", l->set[0] != '\0' ? l->set : NULL,
			    "from", j->list_from == NULL &&
			    j->win.from == j->win_start ? NULL : from,
			    "until", until[0] != '\0' ? until : NULL, NULL);
		} else
			url = harvest_url(j->url, "ListRecords",
			    "metadataPrefix", l->prefix,
			    "set", l->set[0] != '\0' ? l->set : NULL,
			    "from", j->list_from, "until", j->until, NULL);
	}
	if (url == NULL) {
		job_fail(j, "request URL longer than %d bytes", MAX_URL_LEN);
		return;
	}
	if (j->parser != NULL)
		oai_parser_free(j->parser);
	j->parser = oai_parser_new(&cbs, j);
	if (j->gunzip)
		inflateEnd(&j->zs);
	j->gunzip = j->sniffed = 0;
	j->inflated = 0;
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
	j->req = fetch_start(j->e->fetch, url, j->redirects, on_data, on_done,
	    j, &cause);
	if (j->req == NULL) {
		job_fail(j, "%s", cause);
		free(cause);
	}
	free(url);
}

/*
 * Some servers send gzip without saying so (no Content-Encoding), so
 * libcurl hands the compressed bytes through: recognise the magic and
 * inflate here, with the same cap on the decompressed size.
 */
static int
gunzip_feed(struct harvest_job *j, const char *p, size_t len)
{
	unsigned char	out[16384];
	size_t		n;
	int		r;

	j->zs.next_in = (unsigned char *)(uintptr_t)p;
	j->zs.avail_in = (unsigned int)len;
	do {
		j->zs.next_out = out;
		j->zs.avail_out = sizeof(out);
		r = inflate(&j->zs, Z_NO_FLUSH);
		if (r != Z_OK && r != Z_STREAM_END && r != Z_BUF_ERROR) {
			free(j->spool_cause);
			xasprintf(&j->spool_cause, "gzip body without "
			    "Content-Encoding does not inflate: %s",
			    j->zs.msg != NULL ? j->zs.msg : "corrupt");
			return -1;
		}
		n = sizeof(out) - j->zs.avail_out;
		j->inflated += (long long)n;
		if (j->inflated > j->e->max_bytes) {
			free(j->spool_cause);
			xasprintf(&j->spool_cause, "response larger than %lld "
			    "bytes once inflated", j->e->max_bytes);
			return -1;
		}
		if (n > 0 && oai_parser_feed(j->parser, (char *)out, n) == -1)
			return -1;
		if (r == Z_STREAM_END)
			break;
	} while (j->zs.avail_in > 0 || j->zs.avail_out == 0);
	return 0;
}

static int
on_data(void *arg, const char *p, size_t len)
{
	struct harvest_job	*j = arg;

	if (!j->sniffed && len > 0) {
		j->sniffed = 1;
		if ((unsigned char)p[0] == 0x1f && (len < 2 ||
		    (unsigned char)p[1] == 0x8b)) {
			memset(&j->zs, 0, sizeof(j->zs));
			if (inflateInit2(&j->zs, 16 + MAX_WBITS) != Z_OK)
				fatalx("inflateInit2 failed");
			j->gunzip = 1;
			log_debug("event=gzip_sniffed source=%s",
			    log_q(j->name));
		}
	}
	if (j->gunzip)
		return gunzip_feed(j, p, len);
	return oai_parser_feed(j->parser, p, len);
}

static void
on_done(void *arg, const struct fetch_result *res)
{
	struct harvest_job	*j = arg;
	const char		*cause = NULL, *wall;
	long long		 delay;
	long			 status = res->status;

	j->req = NULL;
	host_release(j->host);
	j->stats.bytes += res->bytes;
	if (j->e->obs.on_request != NULL)
		j->e->obs.on_request(j->e->obs_arg, j->name, res->status,
		    res->bytes);
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
	if (cause != NULL && (wall = harvest_bot_wall(res->wall, res->head,
	    res->head_len)) != NULL) {
		/* A challenge answers every try alike: stop, as for a 403. */
		j->forbidden = 1;
		j->error_type = "blocked";
		job_fail(j, "%s: the repository's bot protection (%s) refused "
		    "the harvester (HTTP %ld); harvesting stops until an "
		    "operator acts", res->url, wall, status);
		return;
	}
	if (cause != NULL && oai_error_body(j->parser, res, j->name))
		cause = NULL;
	else if (cause != NULL && res->status == 200 &&
	    harvest_looks_html(res->head, res->head_len))
		cause = HTML_CAUSE;
	if (cause == NULL) {
		j->repairs += (long long)oai_parser_repairs(j->parser);
		if (j->state == JOB_LIST)
			j->normalized +=
			    (long long)oai_parser_normalized(j->parser);
		if (j->state == JOB_IDENTIFY)
			identify_done(j);
		else if (j->state == JOB_SWEEP)
			sweep_page_done(j);
		else
			page_done(j);
		return;
	}
	if (j->spool_cause != NULL) {
		j->error_type = "limit";
		job_fail(j, "%s", j->spool_cause);
		return;
	}
	/* The same page would be as large again: no retry. */
	if (res->over_limit) {
		j->error_type = "limit";
		job_fail(j, "%s: %s", res->url, cause);
		return;
	}
	if (status == 403) {
		j->forbidden = 1;
		j->error_type = "forbidden";
		job_fail(j, "%s: %s: the repository refuses us; harvesting "
		    "stops until an operator acts", res->url, cause);
		return;
	}
	if (window_narrow(j, res, cause))
		return;
	delay = harvest_retry_delay(status, res->curl_failed,
	    res->retry_after, j->e->retry_after_max, j->tries,
	    j->e->max_tries, j->e->retry_base_ms, j->e->seed++);
	if (res->sink_failed || (res->ok && status == 200))
		j->error_type = j->spool_cause != NULL ? "limit" : "parse";
	else if (res->curl_failed)
		j->error_type = "network";
	else if (status != 200 && status != 0)
		j->error_type = "http";
	else
		j->error_type = "limit";
	if (delay < 0) {
		job_fail(j, "%s: %s", res->url, cause);
		return;
	}
	if (++j->retries > MAX_RUN_RETRIES) {
		job_fail(j, "%s: %s (retry budget of %d per run spent)",
		    res->url, cause, MAX_RUN_RETRIES);
		return;
	}
	log_warn("event=retry source=%s url=%s cause=%s try=%d wait_ms=%lld",
	    log_q(j->name), log_q(res->url), log_q(cause), j->tries, delay);
	job_queue(j, delay);
}

static int
on_identify(void *arg, const struct oai_identify *id)
{
	struct harvest_job	*j = arg;

#define DUP(f, v)	do { free(j->f); \
	j->f = (v) != NULL ? xstrdup(v) : NULL; } while (0)
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
	struct harvest_job	*j = arg;
	struct store_record	 rec;
	size_t			 i;

	if (j->state != JOB_LIST && j->state != JOB_SWEEP)
		return 0;
	if (r->ndc > j->dccap) {
		j->dc = xreallocarray(j->dc, r->ndc, sizeof(*j->dc));
		j->dccap = r->ndc;
	}
	for (i = 0; i < r->ndc; i++) {
		j->dc[i].element = oai_dc_name(r->dc[i].element);
		j->dc[i].value = r->dc[i].value;
		j->dc[i].lang = r->dc[i].lang;
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
	rec.ndc = r->ndc;
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

/*
 * A malformed record on an otherwise good page: set aside, named in the
 * log with its cause, and counted; the rest of the page is kept.
 */
static void
pend_free(struct pending_reject *p, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		free(p[i].identifier);
		free(p[i].datestamp);
		free(p[i].cause);
		free(p[i].raw);
	}
	free(p);
}

static void
pend_clear(struct harvest_job *j)
{
	pend_free(j->pend, j->npend);
	j->pend = NULL;
	j->npend = 0;
}

static int
on_reject(void *arg, const struct oai_reject *r)
{
	struct harvest_job	*j = arg;
	struct pending_reject	*p;

	if (j->state != JOB_LIST)
		return 0;
	if (j->npend < MAX_PAGE_REJECTS) {
		j->pend = xreallocarray(j->pend, j->npend + 1,
		    sizeof(*j->pend));
		p = &j->pend[j->npend++];
		p->identifier = r->identifier != NULL ?
		    xstrdup(r->identifier) : NULL;
		p->datestamp = r->datestamp != NULL ?
		    xstrdup(r->datestamp) : NULL;
		p->cause = xstrdup(r->cause);
		p->raw = r->raw != NULL ? xstrndup(r->raw, r->raw_len) : NULL;
		p->raw_len = r->raw != NULL ? r->raw_len : 0;
		p->truncated = r->truncated;
	}
	j->rejects++;
	j->page_rejects++;
	log_warn("event=record_rejected source=%s identifier=%s "
	    "datestamp=%s cause=%s", log_q(j->name), log_q(r->identifier),
	    log_q(r->datestamp), log_q(r->cause));
	return 0;
}

static void
identify_done(struct harvest_job *j)
{
	const char	*code, *rd;
	char		*cause = NULL;

	j->tries = 0;
	if ((rd = oai_parser_response_date(j->parser)) == NULL ||
	    datestamp_read(rd, &j->clock, NULL, NULL) == -1)
		j->clock = 0;
	else
		(void)clock_cap(j, &j->clock, "responseDate", rd);
	if ((code = oai_parser_error_code(j->parser)) != NULL) {
		j->error_type = "oai";
		job_fail(j, "Identify: OAI error %s: %s", code,
		    oai_parser_error_message(j->parser) ?
		    oai_parser_error_message(j->parser) : "");
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
		    "msg=\"unknown granularity, using days\"", log_q(j->name),
		    log_q(j->granularity));
	if (store_source_identify(job_store(j), j->source_id, j->granularity,
	    j->earliest, j->deleted_record, j->repo_name, &cause) == -1) {
		job_fail(j, "%s", cause);
		free(cause);
		return;
	}
	log_info("event=identify source=%s repository=%s granularity=%s "
	    "deleted_record=%s", log_q(j->name), log_q(j->repo_name),
	    log_q(j->granularity), log_q(j->deleted_record));
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
	enum oai_granularity	g;
	time_t			t;
	char			out[DATESTAMP_LEN];

	if (datestamp_parse(ds, &t, &g) == -1)
		return NULL;
	datestamp_format(t, g == GRAN_DAY || gran == GRAN_DAY ? GRAN_DAY :
	    GRAN_SECONDS, out);
	return xstrdup(out);
}

static int
ds_cmp(const char *a, const char *b)
{
	time_t	ta, tb;

	if (datestamp_parse(a, &ta, NULL) == -1 ||
	    datestamp_parse(b, &tb, NULL) == -1)
		return strcmp(a, b);
	return ta < tb ? -1 : ta > tb;
}

static void
start_list(struct harvest_job *j)
{
	struct list_spec	*l = &j->lists[j->cur];
	struct store_list_state	 st;
	char			*cause = NULL;
	const char		*from = NULL;
	int			 explicit_from;

	if (store_list_get(job_store(j), j->source_id, l->prefix, l->set, &st,
	    &cause) == -1) {
		job_fail(j, "%s", cause);
		free(cause);
		return;
	}
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
	j->list_from = from != NULL ? from_in_granularity(from, j->gran) :
	    NULL;

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
			(void)datestamp_parse(j->progress, &j->progress_t, NULL);
			/* Saved by a run that used the repository's clock. */
			j->clock_fixed = j->overlap >= 0;
		}
		log_info("event=list_resume source=%s prefix=%s set=%s "
		    "pages=%lld", log_q(j->name), log_q(l->prefix),
		    log_q(l->set), j->list_pages);
	} else
		log_info("event=list_start source=%s prefix=%s set=%s from=%s "
		    "until=%s", log_q(j->name), log_q(l->prefix),
		    log_q(l->set), log_q(j->list_from), log_q(j->until));
	store_list_state_free(&st);
	if (j->window != WINDOW_NONE)
		window_begin(j);
	j->tries = 0;
	job_queue(j, 0);
}

/* Is a deletion sweep of list i due? */
static int
sweep_due(struct harvest_job *j, size_t i)
{
	char		*last = NULL, *cause = NULL;
	long long	 every = j->reconcile;
	time_t		 t;
	int		 due;

	if (j->lists[i].set[0] != '\0' || every == 0)
		return 0;
	if (every < 0) {
		if (j->deleted_record == NULL ||
		    (strcmp(j->deleted_record, "no") != 0 &&
		    strcmp(j->deleted_record, "transient") != 0))
			return 0;
		every = SWEEP_AUTO;
	}
	if (store_sweep_last(job_store(j), j->source_id, j->lists[i].prefix,
	    &last, &cause) == -1) {
		log_warn("event=sweep_error source=%s cause=%s", log_q(j->name),
		    log_q(cause));
		free(cause);
		return 0;
	}
	/* 1 s means now (oaiharvest harvest --sweep). */
	if (every <= 1) {
		free(last);
		return 1;
	}
	/*
	 * Never swept: the list was just harvested whole, or is being kept
	 * since; start the clock rather than list everything again now.
	 */
	if (last == NULL) {
		if (store_sweep_touch(job_store(j), j->source_id,
		    j->lists[i].prefix, &cause) == -1) {
			log_warn("event=sweep_error source=%s cause=%s",
			    log_q(j->name), log_q(cause));
			free(cause);
		}
		return 0;
	}
	due = datestamp_parse(last, &t, NULL) == -1 || t + every <= time(NULL);
	free(last);
	return due;
}

/* Sweep the next list that is due, or end the run. */
static void
next_sweep(struct harvest_job *j)
{
	for (; j->sweep < j->nlists; j->sweep++)
		if (sweep_due(j, j->sweep))
			break;
	if (j->sweep >= j->nlists) {
		job_finish(j);
		return;
	}
	job_set_state(j, JOB_SWEEP);
	log_info("event=sweep_start source=%s prefix=%s", log_q(j->name),
	    log_q(j->lists[j->sweep].prefix));
	free(j->token);
	j->token = NULL;
	j->list_pages = 0;
	j->tries = 0;
	job_queue(j, 0);
}

static int
mark_record(void *arg, const struct store_record *r)
{
	struct harvest_job	*j = arg;

	if (r->deleted || r->identifier == NULL)
		return 0;
	return store_sweep_mark(job_store(j), j->source_id,
	    j->lists[j->sweep].prefix, r->identifier, j->run_id,
	    &j->spool_cause);
}

/*
 * A page of the sweep: mark what it lists.  At its end, the records it did
 * not list have vanished from a repository that keeps no deletions.
 */
static void
sweep_page_done(struct harvest_job *j)
{
	const struct oai_token	*tok = oai_parser_token(j->parser);
	const char		*code = oai_parser_error_code(j->parser);
	const char		*prefix = j->lists[j->sweep].prefix;
	char			*cause = NULL, now[DATESTAMP_LEN];
	long long		 vanished = 0;
	int			 more;

	more = code == NULL && tok->value != NULL;
	if (code != NULL && strcmp(code, "noRecordsMatch") != 0) {
		j->error_type = "oai";
		job_fail(j, "ListIdentifiers %s: OAI error %s: %s", prefix,
		    code, oai_parser_error_message(j->parser) ?
		    oai_parser_error_message(j->parser) : "");
		return;
	}
	if (more && j->token != NULL && strcmp(tok->value, j->token) == 0) {
		j->error_type = "protocol";
		job_fail(j, "ListIdentifiers %s: the server repeated the "
		    "resumptionToken %s", prefix, tok->value);
		return;
	}
	if (store_begin(job_store(j), &cause) == -1)
		goto fail;
	if (spool_replay(j->spool, mark_record, j, &cause) == -1) {
		if (cause == NULL) {
			cause = j->spool_cause;
			j->spool_cause = NULL;
		}
		goto rollback;
	}
	datestamp_format(time(NULL), j->gran, now);
	if (!more && store_sweep_finish(job_store(j), j->source_id, prefix,
	    j->run_id, now, &vanished, &cause) == -1) {
		/* A partial list must not delete; the harvest still stands. */
		store_rollback(job_store(j));
		log_warn("event=sweep_refused source=%s prefix=%s cause=%s",
		    log_q(j->name), log_q(prefix), log_q(cause));
		if (j->warnings.len > 0)
			buf_addstr(&j->warnings, "; ");
		buf_printf(&j->warnings, "sweep %s: %s", prefix, cause);
		free(cause);
		spool_reset(j->spool);
		j->sweep++;
		next_sweep(j);
		return;
	}
	if (store_commit(job_store(j), &cause) == -1)
		goto rollback;
	spool_reset(j->spool);
	j->tries = 0;
	if (more) {
		free(j->token);
		j->token = xstrdup(tok->value);
		job_queue(j, 0);
		return;
	}
	j->stats.deleted += vanished;
	log_info("event=sweep_done source=%s prefix=%s vanished=%lld",
	    log_q(j->name), log_q(prefix), vanished);
	if (vanished > 0 && j->e->obs.on_commit != NULL)
		j->e->obs.on_commit(j->e->obs_arg, j->name, vanished);
	j->sweep++;
	next_sweep(j);
	return;
rollback:
	store_rollback(job_store(j));
fail:
	j->error_type = "store";
	spool_reset(j->spool);
	job_fail(j, "%s", cause != NULL ? cause : "store failed");
	free(cause);
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

/* A record of a page being written: stored and counted. */
struct put_ctx {
	struct store		*s;
	struct page_item	*it;
	char			*cause;
};

static int
item_put(void *arg, const struct store_record *r)
{
	struct put_ctx		*c = arg;
	struct page_item	*it = c->it;
	enum store_change	 kind;
	struct store_record	 rec = *r;

	rec.prefix = it->prefix;
	if (store_put(c->s, it->source_id, it->run_id, &rec, &kind,
	    &c->cause) == -1)
		return -1;
	it->stats.records++;
	switch (kind) {
	case STORE_NEW:
		it->stats.new_records++;
		break;
	case STORE_UPDATED:
		it->stats.updated++;
		break;
	case STORE_DELETED:
		it->stats.deleted++;
		break;
	case STORE_UNCHANGED:
		it->stats.unchanged++;
		break;
	case STORE_TOMBSTONE:
		it->stats.tombstones++;
		break;
	}
	return 0;
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
	const char	*rd = oai_parser_response_date(j->parser);
	char		 ds[DATESTAMP_LEN];
	time_t		 t;

	if (j->clock_fixed || j->resumed_any || j->overlap < 0 ||
	    rd == NULL || datestamp_read(rd, &t, NULL, NULL) == -1)
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
clock_cap(struct harvest_job *j, time_t *t, const char *what,
    const char *sent)
{
	time_t	now = time(NULL);

	if (*t <= now + CLOCK_SKEW_MAX)
		return 0;
	*t = now;
	if (j->clock_warned++)
		return 1;
	log_warn("event=clock_ahead source=%s %s=%s msg=\"more than %d s "
	    "past the local clock: the watermark stays at the local clock\"",
	    log_q(j->name), what, log_q(sent), CLOCK_SKEW_MAX);
	if (j->warnings.len > 0)
		buf_addstr(&j->warnings, "; ");
	buf_printf(&j->warnings, "repository clock ahead: %s %.64s is more "
	    "than %d s past the local clock", what, sent, CLOCK_SKEW_MAX);
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
	if (progress == NULL || (old_watermark != NULL &&
	    ds_cmp(old_watermark, progress) > 0))
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
	struct list_spec	*l = &j->lists[j->cur];
	const struct oai_token	*tok = oai_parser_token(j->parser);
	struct page_item	*it;
	const char		*code, *msg, *wm;
	char			 wmbuf[DATESTAMP_LEN];
	int			 more = 0, win_more = 0;

	if ((code = oai_parser_error_code(j->parser)) != NULL) {
		msg = oai_parser_error_message(j->parser);
		if (strcmp(code, "noRecordsMatch") == 0 && j->token == NULL) {
			note_clock(j);
			log_info("event=list_empty source=%s prefix=%s set=%s",
			    log_q(j->name), log_q(l->prefix), log_q(l->set));
			spool_reset(j->spool);
			goto complete;
		}
		/*
		 * Some servers end a list with noRecordsMatch for the token
		 * after the last page.  Believe it only when the count agrees:
		 * short of the announced completeListSize it is a lost token.
		 */
		if (strcmp(code, "noRecordsMatch") == 0 &&
		    (j->list_cls < 0 || j->resumed_any ||
		    j->list_records >= j->list_cls))
			goto complete;
		/*
		 * A token the server no longer knows (expired, or lost in a
		 * restart) means the list starts again from the watermark;
		 * records already stored come back unchanged.
		 */
		if ((strcmp(code, "badResumptionToken") == 0 ||
		    strcmp(code, "noRecordsMatch") == 0) &&
		    j->token != NULL && j->restarts < MAX_LIST_RESTARTS) {
			log_warn("event=token_expired source=%s prefix=%s "
			    "set=%s msg=\"restarting the list from the "
			    "watermark\"", log_q(j->name), log_q(l->prefix),
			    log_q(l->set));
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
		j->error_type = "oai";
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
		job_fail(j, "ListRecords %s/%s: the server repeated the "
		    "resumptionToken %s", l->prefix, l->set, tok->value);
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
			job_fail(j, "ListRecords %s/%s: %d pages in a row "
			    "without records", l->prefix, l->set,
			    MAX_EMPTY_PAGES + 1);
			return;
		}
	} else
		j->empty_pages = 0;
	j->list_records += (long long)spool_count(j->spool) + j->page_rejects;
	if (tok->complete_list_size >= 0)
		j->list_cls = tok->complete_list_size;

complete:
	/* The page's records move the high-water mark once it is whole. */
	if (j->page_max != NULL && clock_cap(j, &j->page_max_t, "datestamp",
	    j->page_max)) {
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
	it = page_item_new(j);
	if (code == NULL && more) {
		it->checkpoint = 1;
		/* A windowed list never resumes from a token: see start_list. */
		it->token = j->window == WINDOW_NONE ? xstrdup(tok->value) :
		    NULL;
		it->cursor = tok->cursor;
		it->cls = tok->complete_list_size;
		free(j->token);
		j->token = xstrdup(tok->value);
		j->resumed = 0;
		j->tries = 0;
		/* Written while the next pages are fetched and parsed. */
		page_queue(j->e, it);
		job_queue(j, 0);
		return;
	}

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
	it->wm = wm != NULL ? xstrdup(wm) : NULL;
	/* The list is done only once every page of it is in. */
	page_queue(j->e, it);
	engine_drain(j->e);
	if (pipe_failed(j))
		return;
	j->tries = 0;
	check_list_size(j, code);
	if (win_more) {
		window_next(j);
		return;
	}
	log_info("event=list_done source=%s prefix=%s set=%s pages=%lld "
	    "next_from=%s", log_q(j->name), log_q(l->prefix), log_q(l->set),
	    j->list_pages, log_q(j->move_watermark ? wm : j->old_watermark));
	next_list(j);
}

/* The page writer */

/* Take the page's records and rejects from the job, and where it stands. */
static struct page_item *
page_item_new(struct harvest_job *j)
{
	struct list_spec	*l = &j->lists[j->cur];
	struct page_item	*it;

	it = xcalloc(1, sizeof(*it));
	it->j = j;
	it->source_id = j->source_id;
	it->run_id = j->run_id;
	it->prefix = xstrdup(l->prefix);
	it->set = xstrdup(l->set);
	it->spool = j->spool;
	it->nrecords = spool_count(it->spool);
	j->spool = j->spare != NULL ? j->spare : spool_new(SPOOL_MEM_BYTES);
	j->spare = NULL;
	it->pend = j->pend;
	it->npend = j->npend;
	j->pend = NULL;
	j->npend = 0;
	it->progress = j->progress != NULL ? xstrdup(j->progress) : NULL;
	/* Counted when queued: every page before it is in first, or none. */
	it->pages = ++j->list_pages;
	return it;
}

static void
page_item_free(struct page_item *it)
{
	if (it == NULL)
		return;
	free(it->prefix);
	free(it->set);
	spool_free(it->spool);
	pend_free(it->pend, it->npend);
	free(it->token);
	free(it->progress);
	free(it->wm);
	free(it);
}

static void
batch_free(struct page_batch *b)
{
	size_t	i;

	if (b == NULL)
		return;
	for (i = 0; i < b->n; i++)
		page_item_free(b->items[i]);
	free(b->items);
	free(b->cause);
	free(b);
}

/*
 * Queue a page behind the others, and hand the queue to the writer if it
 * is free.  A long queue waits for the writer first: the event loop may
 * not run further ahead than BATCH_MAX_RECORDS.
 */
static void
page_queue(struct harvest_engine *e, struct page_item *it)
{
	struct page_batch	*b;

	if ((b = e->open) == NULL) {
		b = e->open = xcalloc(1, sizeof(*b));
		b->s = e->ws;
		b->wfd = e->wfd;
	}
	if (b->n == b->cap) {
		b->cap = b->cap == 0 ? 8 : b->cap * 2;
		b->items = xreallocarray(b->items, b->cap, sizeof(*b->items));
	}
	b->items[b->n++] = it;
	b->records += it->nrecords;
	engine_pump(e, b->records >= BATCH_MAX_RECORDS);
}

/*
 * Write a batch of pages, each with its rejects and where its list stands,
 * in one transaction.  Runs on the writer thread: it touches only the
 * batch and the engine's connection.
 */
static void
batch_write(void *arg)
{
	struct page_batch	*b = arg;
	struct page_item	*it;
	struct store_list_state	 st;
	struct put_ctx		 c;
	char			*cause = NULL;
	uint64_t		 one = 1;
	size_t			 i, k;

	memset(&c, 0, sizeof(c));
	c.s = b->s;
	if (store_begin(b->s, &cause) == -1)
		goto fail;
	for (k = 0; k < b->n; k++) {
		it = c.it = b->items[k];
		if (spool_replay(it->spool, item_put, &c, &cause) == -1) {
			if (cause == NULL) {
				cause = c.cause;
				c.cause = NULL;
			}
			goto rollback;
		}
		for (i = 0; i < it->npend; i++)
			if (store_reject(b->s, it->source_id, it->run_id,
			    it->prefix, it->pend[i].identifier,
			    it->pend[i].datestamp, it->pend[i].cause,
			    it->pend[i].raw, it->pend[i].raw_len,
			    it->pend[i].truncated, &cause) == -1)
				goto rollback;
		if (it->checkpoint) {
			memset(&st, 0, sizeof(st));
			st.token = it->token;
			st.progress = it->progress;
			st.cursor = it->cursor;
			st.complete_list_size = it->cls;
			st.pages = it->pages;
			if (store_list_checkpoint(b->s, it->source_id,
			    it->prefix, it->set, &st, &cause) == -1)
				goto rollback;
		} else if (store_list_complete(b->s, it->source_id,
		    it->prefix, it->set, it->wm, &cause) == -1)
			goto rollback;
	}
	if (store_commit(b->s, &cause) == -1)
		goto rollback;
	goto done;

rollback:
	store_rollback(b->s);
fail:
	free(c.cause);
	b->cause = cause != NULL ? cause : xstrdup("store failed");
done:
	/* Wake the event loop, which takes the batch back (on_written). */
	if (write(b->wfd, &one, sizeof(one)) == -1) {
		/* The counter cannot overflow here; nothing to do. */
	}
}

/*
 * Back on the event loop: what the write found goes to each page's job
 * (counts, the page done, observers told).  A batch that failed fails
 * every job with a page in it, at the job's next step (pipe_failed), and
 * takes those jobs' later pages out of the queue: nothing after a lost
 * page may be written.
 */
static void
batch_apply(struct harvest_engine *e, struct page_batch *b)
{
	struct page_item	*it;
	struct harvest_job	*j;
	size_t			 i, k, n;

	for (i = 0; i < b->n; i++) {
		it = b->items[i];
		j = it->j;
		if (b->cause != NULL) {
			if (j->pipe_cause == NULL)
				j->pipe_cause = xstrdup(b->cause);
			if (e->open == NULL)
				continue;
			for (k = n = 0; k < e->open->n; k++) {
				if (e->open->items[k]->j == j) {
					e->open->records -=
					    e->open->items[k]->nrecords;
					page_item_free(e->open->items[k]);
				} else
					e->open->items[n++] = e->open->items[k];
			}
			e->open->n = n;
			continue;
		}
		j->stats.records += it->stats.records;
		j->stats.new_records += it->stats.new_records;
		j->stats.updated += it->stats.updated;
		j->stats.deleted += it->stats.deleted;
		j->stats.unchanged += it->stats.unchanged;
		j->stats.tombstones += it->stats.tombstones;
		j->stats.pages++;
		if (j->spare == NULL) {
			spool_reset(it->spool);
			j->spare = it->spool;
			it->spool = NULL;
		}
		if (e->obs.on_page != NULL)
			e->obs.on_page(e->obs_arg, j->name, it->prefix, it->set,
			    j->list_records, j->list_cls);
		if (e->obs.on_commit != NULL)
			e->obs.on_commit(e->obs_arg, j->name,
			    j->stats.new_records + j->stats.updated +
			    j->stats.deleted - j->changes_seen);
		j->changes_seen = j->stats.new_records + j->stats.updated +
		    j->stats.deleted;
		log_debug("event=page source=%s prefix=%s set=%s page=%lld "
		    "records=%zu cursor=%lld size=%lld batch=%zu",
		    log_q(j->name), log_q(it->prefix), log_q(it->set),
		    it->pages, it->nrecords, it->checkpoint ? it->cursor : -1,
		    it->checkpoint ? it->cls : -1, b->n);
	}
}

/*
 * Take a written batch back and hand the queue to the writer: with wait,
 * after waiting for the writer; without, only if it is free.
 */
static void
engine_pump(struct harvest_engine *e, int wait)
{
	struct page_batch	*b;

	if ((b = e->inflight) != NULL) {
		if (!wait && writer_busy(e->writer))
			return;
		writer_wait(e->writer);
		e->inflight = NULL;
		batch_apply(e, b);
		batch_free(b);
	}
	if (e->open != NULL && e->open->n == 0) {
		batch_free(e->open);
		e->open = NULL;
	}
	if (e->open != NULL) {
		e->inflight = e->open;
		e->open = NULL;
		writer_submit(e->writer, batch_write, e->inflight);
	}
}

/*
 * Write every queued page and take it back: after this the engine's
 * connection is the event loop's until the next page is queued.
 */
static void
engine_drain(struct harvest_engine *e)
{
	while (e->inflight != NULL || e->open != NULL)
		engine_pump(e, 1);
}

/* The store, for the event loop's own reads and writes. */
static struct store *
job_store(struct harvest_job *j)
{
	engine_drain(j->e);
	return j->e->ws;
}

/* A page of this job's could not be written: the run fails. */
static int
pipe_failed(struct harvest_job *j)
{
	char	*cause;

	engine_pump(j->e, 0);
	if (j->pipe_cause == NULL)
		return 0;
	cause = j->pipe_cause;
	j->pipe_cause = NULL;
	j->error_type = "store";
	job_fail(j, "%s", cause);
	free(cause);
	return 1;
}

/* The writer finished a batch: take it back and hand it the next. */
static void
on_written(evutil_socket_t fd, short what, void *arg)
{
	struct harvest_engine	*e = arg;
	uint64_t		 n;

	if (read(fd, &n, sizeof(n)) == -1 && errno != EAGAIN)
		log_warn("harvest: page writer eventfd: %s", strerror(errno));
	engine_pump(e, 0);
}

/*
 * A list (or a window of one) ended: a count short of, or beyond, the
 * completeListSize the repository announced is a warning on the run.  Only
 * a list harvested whole in this run can be counted.
 */
static void
check_list_size(struct harvest_job *j, const char *code)
{
	struct list_spec	*l = &j->lists[j->cur];

	if (j->list_cls < 0 || j->resumed_any || code != NULL ||
	    j->list_records == j->list_cls)
		return;
	log_warn("event=list_size_mismatch source=%s prefix=%s set=%s "
	    "complete_list_size=%lld received=%lld", log_q(j->name),
	    log_q(l->prefix), log_q(l->set), j->list_cls, j->list_records);
	if (j->warnings.len > 0)
		buf_addstr(&j->warnings, "; ");
	buf_printf(&j->warnings, "%s/%s: completeListSize %lld, received %lld",
	    l->prefix, l->set[0] ? l->set : "-", j->list_cls,
	    j->list_records);
}

/* Date windows */

static void
window_log(struct harvest_job *j, const char *event)
{
	struct list_spec	*l = &j->lists[j->cur];
	char			 from[DATESTAMP_LEN], until[DATESTAMP_LEN];

	window_format(&j->win, j->gran, from, until);
	log_info("event=%s source=%s prefix=%s set=%s from=%s until=%s",
	    event, log_q(j->name), log_q(l->prefix), log_q(l->set),
	    log_q(from), log_q(until[0] != '\0' ? until : NULL));
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
	time_t	start = 0, end, t;
	int	open_end = j->until == NULL;

	if (j->list_from != NULL)
		(void)datestamp_parse(j->list_from, &start, NULL);
	else if (j->earliest != NULL &&
	    datestamp_read(j->earliest, &t, NULL, NULL) == 0)
		start = t;
	if (start < 0)
		start = 0;
	if (open_end || datestamp_parse(j->until, &end, NULL) == -1)
		end = j->clock > 0 ? j->clock : time(NULL);
	window_init(&j->win, j->window, j->gran, j->window_min, start, end,
	    open_end);
	j->win_start = j->win.from;
	window_log(j, "window");
}

/*
 * A repository that cannot answer a wide selective request times out,
 * drops the connection or fails with a 5xx on its first page: ask for
 * half the window, down to the minimum, before the ordinary retries.  A
 * 503 or 429 with Retry-After is the repository pacing us, not refusing
 * the window; errors after the first page are about a token, not a window.
 */
static int
window_narrow(struct harvest_job *j, const struct fetch_result *res,
    const char *cause)
{
	long	st = res->status;

	if (j->state != JOB_LIST || j->window == WINDOW_NONE ||
	    j->token != NULL)
		return 0;
	if (!res->curl_failed && st != 500 && st != 502 && st != 504 &&
	    !(st == 503 && res->retry_after <= 0))
		return 0;
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
	struct harvest_engine	*e;
	struct oai_parser	*parser;
	harvest_request_cb	 cb;
	void			*arg;
};

static int
oreq_data(void *arg, const char *p, size_t len)
{
	struct oreq	*o = arg;

	return oai_parser_feed(o->parser, p, len);
}

static void
oreq_done(void *arg, const struct fetch_result *res)
{
	struct oreq	*o = arg;
	const char	*cause = NULL, *wall;
	char		*full = NULL, *blocked = NULL;

	if (res->ok && oai_parser_finish(o->parser) == -1)
		cause = oai_parser_cause(o->parser);
	else if (res->sink_failed)
		cause = oai_parser_cause(o->parser);
	else if (!res->ok)
		cause = res->cause;
	if (cause != NULL && (wall = harvest_bot_wall(res->wall, res->head,
	    res->head_len)) != NULL) {
		xasprintf(&blocked, "blocked: the repository's bot protection "
		    "(%s) refused the harvester (HTTP %ld)", wall,
		    res->status);
		cause = blocked;
	} else if (cause != NULL && oai_error_body(o->parser, res, NULL))
		cause = NULL;
	else if (cause != NULL && res->status == 200 &&
	    harvest_looks_html(res->head, res->head_len))
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
	struct oreq	*o;

	o = xcalloc(1, sizeof(*o));
	o->e = e;
	o->cb = cb;
	o->arg = arg;
	o->parser = oai_parser_new(cbs, cbarg);
	if (fetch_start(e->fetch, url, FETCH_REDIRECT_SAME_HOST, oreq_data,
	    oreq_done, o, cause) ==
	    NULL) {
		oai_parser_free(o->parser);
		free(o);
		return -1;
	}
	return 0;
}
