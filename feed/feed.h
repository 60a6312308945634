/*
 * The change feed: sinks that carry the change log out of the database, in
 * seq order, each as far as the changes committed.
 *
 * A sink is an operations table (struct feed_sink_ops) and a file that
 * implements it; the daemon holds its sinks in one list (struct feed) and,
 * when a page commits changes, tells each (feed_commit()).  A sink that
 * must write every change exactly once across crashes keeps its place in
 * the database's outbox cursor (store_outbox_get/store_outbox_set, under
 * its own name) and notes it only after its output is durable, as
 * feed/file.c does.  Errors are the list's business: a failed write is
 * logged (event=NAME_error), shown by /healthz and /metrics
 * (oaiharvest_NAME_ok, oaiharvest_NAME_errors_total) when the sink is
 * `reported`, and written again every FEED_RETRY seconds until it works
 * (event=NAME_ok).
 *
 * Adding a sink (NATS JetStream, say):
 * 1. feed/nats.c: a static state struct and the four operations, then
 *    `const struct feed_sink_ops feed_nats_ops = { "nats", 1, nats_open,
 *    nats_write, nats_reopen, nats_close };`.  write(upto) sends every
 *    change after the sink's outbox cursor (feed_rows() reads them as
 *    JSON lines), at least up to upto, and moves the cursor after the
 *    server has acknowledged them; reopen may be NULL.
 * 2. Here: `extern const struct feed_sink_ops feed_nats_ops;`.
 * 3. daemon/oaiharvestd.c's main(), where the changes_log is opened:
 *    feed_sink_open(d.feed, &feed_nats_ops, its config value, &cause) and
 *    feed_sink_flush(); a config key in conf/ for that value (and, to
 *    follow a reload, a reload_changes_log() of its own).  feed_free()
 *    closes it at the end.  The Makefile builds every feed/ file.
 * Sinks are told of a commit in the order they were opened.
 *
 * The sinks here: feed/file.c (the changes_log file, opened by
 * oaiharvestd.c), feed/nats.c (NATS JetStream, changes_nats, opened by
 * oaiharvestd.c) and feed/longpoll.c (GET /changes, opened by
 * daemon/http.c's http_start(), which routes the requests to it).
 */
#ifndef OH_FEED_H
#define OH_FEED_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct event_base;
struct evhttp_request;
struct store;

/* A failed sink is written again this often, in seconds. */
#define FEED_RETRY 10

struct feed_sink_ops {
	const char *name;     /* log events and metrics */
	int	    reported; /* failures in /healthz, /metrics */
	/* A new sink; arg is its own (the file's path).  NULL: cause. */
	void *(*open)(
	    struct store *, struct event_base *, const char *arg, char **cause);
	/*
	 * Changes up to seq upto are committed (upto < 0: not known, take
	 * all there are): write them.  -1 with cause: try again later.
	 */
	int (*write)(void *, int64_t upto, char **cause);
	/* Reopen what the sink writes to (SIGHUP, log rotation); or NULL. */
	int (*reopen)(void *, char **cause);
	void (*close)(void *);
};

extern const struct feed_sink_ops feed_file_ops;      /* file.c */
extern const struct feed_sink_ops feed_file_node_ops; /* file.c */
extern const struct feed_sink_ops feed_longpoll_ops;  /* longpoll.c */
extern const struct feed_sink_ops feed_nats_ops;      /* nats.c */

struct feed;
struct feed_sink;

/* In feed.c: the daemon's sinks. */
struct feed *feed_new(struct event_base *, struct store *);
/* Closes every sink still open. */
void feed_free(struct feed *);
/* Open a sink and add it to the list (it writes nothing yet). */
struct feed_sink *feed_sink_open(
    struct feed *, const struct feed_sink_ops *, const char *arg, char **cause);
void feed_sink_close(struct feed_sink *);
/* Write one sink as far as the changes go. */
void feed_sink_flush(struct feed_sink *);
/* The sink's own state, for its own functions. */
void *feed_sink_state(struct feed_sink *);
/* A page committed changes: every sink writes them. */
void feed_commit(struct feed *);
/*
 * Several daemons on one database: others' commits reach the sinks too.
 * feed_wake() tells the sinks when the change log went past what they were
 * last told (cheap: one read of the last seq); feed_watch() calls it every
 * ms milliseconds (ms <= 0: no more).
 */
#define FEED_WATCH_MS 1000
void feed_wake(struct feed *);
void feed_watch(struct feed *, int ms);
/*
 * Where the database tells of commits (PostgreSQL's NOTIFY, through
 * store_watch_open()), they wake the sinks at once: feed_listen() starts
 * that, and from then on feed_watch()'s timer runs only while the
 * database's connection for it is down.  -1 when the store cannot tell
 * (SQLite): feed_watch() alone, then.
 */
int feed_listen(struct feed *);
/*
 * For /status and /metrics: 1 while feed_listen()'s connection listens, 0
 * while it is down, -1 without one (SQLite, or not started).  And how
 * others' commits reach the sinks now: "listen", "poll" (feed_watch()'s
 * timer) or "none" (this daemon's own commits only).
 */
int	    feed_listen_up(struct feed *);
const char *feed_wake_mode(struct feed *);
/* SIGHUP: every sink reopens and writes. */
void feed_reopen(struct feed *);
/* The daemon stops: no more retries. */
void feed_stop(struct feed *);
/* Why a reported sink failed its last write (the first such); or NULL. */
const char *feed_error(struct feed *);
/* The reported sinks, for the metrics: NULL starts, NULL ends. */
struct feed_sink *feed_sink_next(struct feed *, struct feed_sink *);
const char	 *feed_sink_name(struct feed_sink *);
int		  feed_sink_ok(struct feed_sink *);
long long	  feed_sink_errors(struct feed_sink *);
/*
 * The change lines (JSON Lines, the shape of `oaiharvest changes`) with
 * seq > since, at most limit; *last becomes the last seq written.  Every
 * sink reads the change log through this one function.
 */
int feed_rows(struct store *, int64_t since, int64_t limit, FILE *,
    int64_t *last, char **cause);

/*
 * In nats.c: the sink's argument, "URL SUBJECT-PREFIX" (allocated); and,
 * once it is open, its place in the list, through which its publisher
 * thread's results are reported (call it right after feed_sink_open()).
 */
char *feed_nats_arg(const char *url, const char *prefix);
void  feed_nats_bind(struct feed_sink *);
/*
 * Several daemons: the outbox cursor moves only while the lease named
 * lease is still of gen (store_outbox_set_fenced()); once it is not, the
 * sink sends nothing more (the daemon closes it).  Right after the bind.
 */
void feed_nats_fence(struct feed_sink *, const char *lease, int64_t gen);

/*
 * In file.c: the argument of feed_file_node_ops (allocated), a changes_log
 * at path whose outbox cursor is node's own, "changes_log@NODE" (several
 * daemons on one database, each with a file that gets every change).
 */
char *feed_file_arg(const char *path, const char *node);

/* In longpoll.c: GET /changes (the status server routes and checks). */
struct feed_poll;
/* Long polls parked at once, at most; and now. */
void   feed_longpoll_set_max(struct feed_sink *, size_t);
size_t feed_longpoll_max(struct feed_sink *);
size_t feed_longpoll_waiting(struct feed_sink *);
/*
 * Answer req (its query: since, limit, wait) on the connection whose
 * socket is fd.  *slot holds the poll while it is going on and becomes
 * NULL when the answer ends; hangup(arg) closes the connection when the
 * client of a parked poll leaves.
 */
void feed_poll_start(struct feed_sink *, struct evhttp_request *, int fd,
    struct feed_poll **slot, void (*hangup)(void *), void *arg);
/* The connection closed under the poll: free it. */
void feed_poll_abort(struct feed_poll *);

#endif
