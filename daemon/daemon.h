/*
 * The daemon's state, shared by oaiharvestd.c (scheduling, signals) and
 * http.c (the status and metrics server).  Private to daemon/.
 */
#ifndef OH_DAEMON_H
#define OH_DAEMON_H

#include <sys/queue.h>

#include <time.h>

#include "conf.h"
#include "harvest.h"
#include "store.h"

struct event;
struct event_base;
struct feed;
struct feed_sink;
struct http;
struct dlease;
struct buf;

enum src_state {
	SRC_IDLE,    /* its timer is armed */
	SRC_WAITING, /* due, waiting for a harvest slot */
	SRC_RUNNING,
};

extern const char *const src_state_names[];

/* What kinds of errors runs end with, for the metrics. */
enum err_type {
	ERR_NETWORK,
	ERR_HTTP,
	ERR_PARSE,
	ERR_OAI,
	ERR_PROTOCOL,
	ERR_STORE,
	ERR_LIMIT,
	ERR_FORBIDDEN,
	ERR_BLOCKED,
	ERR_CANCELLED,
	ERR_OTHER,
	ERR_NTYPES
};

/* Since the daemon started, per source. */
struct src_metrics {
	long long runs_ok;
	long long runs_failed;
	long long records[4]; /* indexed by enum store_change */
	long long bytes;
	long long pages;
	long long errors[ERR_NTYPES];
	double	  last_seconds;
	time_t	  last_start;
	time_t	  last_end;
	time_t	  last_success;
	char	 *last_error;
	char	 *last_status;
};

struct dsource {
	TAILQ_ENTRY(dsource) entry;
	TAILQ_ENTRY(dsource) wentry; /* in the waiting queue */
	struct daemon	   *d;
	struct conf_source  c; /* our own copy */
	enum src_state	    state;
	struct event	   *timer;
	struct harvest_job *job;
	int		    failures;
	time_t		    next_run;
	int		    removed;  /* free when the run ends */
	int		    disabled; /* refused (403) until an operator
						   acts: SIGHUP, SIGUSR1, restart */
	int		    rerun;    /* run again when it ends */
	struct src_metrics  m;
	/* Its url's host key (lease.c), and the url it is of. */
	char *host_key;
	char *host_url;
};

TAILQ_HEAD(dsources, dsource);

/* glibc's <sys/queue.h> lacks the _SAFE variants. */
#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar) \
	for ((var) = TAILQ_FIRST(head); \
	     (var) != NULL && ((tvar) = TAILQ_NEXT(var, field), 1); \
	     (var) = (tvar))
#endif

struct daemon {
	struct event_base     *base;
	char		      *conf_path;
	struct conf	      *conf;
	char		      *db_path;
	struct store	      *store;
	struct harvest_engine *engine;
	struct dsources	       sources;
	struct dsources	       waiting;
	int		       running;
	int		       stopping;
	long long	       runs_ok;
	long long	       runs_failed;
	char		      *last;   /* last run, for STATUS= */
	char		      *status; /* last STATUS= sent */
	struct event	      *ev_hup, *ev_term, *ev_int, *ev_usr1;
	struct event	      *ev_watchdog;
	struct http	      *http;
	struct feed	      *feed;	    /* the change feed's sinks */
	struct feed_sink      *changes_log; /* in feed, or NULL */
	struct feed_sink      *nats;	    /* in feed, or NULL */
	time_t		       started;
	time_t		       conf_loaded;  /* the config in use: when */
	time_t		       reload_at;    /* the last reload, or 0 */
	char		      *reload_error; /* why it failed; NULL: ok */
	struct dlease	      *lease;	     /* leases = yes, or NULL */
	long long	       duration_buckets[12]; /* run seconds */
	double		       duration_sum;
	long long	       duration_count;
};

/* Upper bounds of the run-duration histogram buckets, in seconds. */
#define DURATION_BUCKETS \
	{ \
		0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 0 /* +Inf */ \
	}

/* In oaiharvestd.c */
void		daemon_harvest_now(struct dsource *);
struct dsource *daemon_source(struct daemon *, const char *);

/*
 * In oaiharvestd.c, for lease.c.  hold: the source's host is not ours: its
 * timer stops, and it leaves the queue or its run is cancelled.  resume:
 * its host is ours: schedule it from its last run (also another daemon's),
 * now when that is past.  later: harvest it in secs.
 */
void daemon_src_hold(struct dsource *);
void daemon_src_resume(struct dsource *);
void daemon_src_later(struct dsource *, double secs);
/*
 * In oaiharvestd.c, for lease.c: the NATS relay on, its cursor fenced by
 * lease of gen (lease NULL: off).  -1 when it cannot be opened.
 */
int daemon_relay(struct daemon *, const char *lease, int64_t gen);

/*
 * In lease.c: several daemons sharing the database (leases = yes); each
 * does nothing without.  start: this daemon's node id, and its first
 * renewal (-1 with *cause when the database refuses).  may_start: 1 when
 * the source's host is ours and ready (else it is held, or scheduled for
 * when it is ready).  source: the lease a run is fenced by.  stop: give
 * every lease back.
 */
int  lease_start(struct daemon *, char **cause);
int  lease_may_start(struct dsource *);
void lease_source(struct dsource *, struct harvest_source *);
void lease_request_done(struct daemon *, const char *host);
void lease_stop(struct daemon *);
/* After a reload: the relay opened again with the new config, if ours. */
void lease_reload(struct daemon *);
void lease_free(struct daemon *);
/* /status: the node, then each source's lease; /metrics: the gauges. */
void lease_node_json(struct daemon *, struct buf *);
void lease_source_json(struct daemon *, struct dsource *, struct buf *);
void lease_metrics(struct daemon *, struct buf *);

/* In http.c */
struct http *http_start(struct daemon *, const char *listen, char **cause);
void	     http_stop(struct http *);
/* One HTTP request to a repository ended (for the metrics). */
void http_count_request(
    struct http *, const char *source, const char *host, long status);
/* Count the records in the database again (for the metrics). */
void http_count_records(struct http *);
void http_count_source(struct http *, const char *name);

extern const char *const err_type_names[];

#endif
