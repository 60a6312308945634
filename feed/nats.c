/*
 * The change feed on NATS JetStream (changes_nats): every change row, in seq
 * order, published on <prefix>.<source> with its seq as the message ID
 * (header Nats-Msg-Id), the body the change's JSON line (the changes_log's,
 * without its newline).  At least once: the sink's outbox cursor ("nats")
 * moves only past changes JetStream acknowledged, and a change sent again
 * (after a crash, a timeout) carries the same ID, which the stream's
 * duplicate window drops: effectively once.
 *
 * The loop never waits for the server.  libnats's calls block (connecting,
 * the stream API, a full window of pending publishes), so one thread of the
 * sink's own does all the talking: the loop reads a slice of at most
 * NATS_BATCH changes from the store (feed_rows()), hands it over and goes
 * on; the thread connects when it must, makes sure of the stream, publishes
 * the slice with js_PublishAsync() (at most NATS_PENDING unacknowledged,
 * each waited for NATS_ACK_WAIT ms at most) and says, through a pipe, how
 * far the acknowledgements reach without a gap.  The loop notes that in the
 * store and hands over the next slice.  The thread never touches the store
 * or the log; the loop never touches libnats.
 *
 * A slice that failed (no server, no stream, an acknowledgement missing)
 * drops the connection; the sink reports the failure through the feed list
 * (event=nats_error, /healthz, /metrics) and tries again every FEED_RETRY
 * seconds from the cursor.
 *
 * The stream: the one named after the prefix (oaiharvest.changes ->
 * OAIHARVEST_CHANGES) when it exists, else made, capturing <prefix>.> with
 * a duplicate window of NATS_DUP_WINDOW; a stream of another name that
 * already captures the subjects is used as it is.
 *
 * In seq order beyond the duplicate window: on our own stream (the one
 * named after the prefix, which only we publish to), each connection first
 * reads the stream's last message: changes up to its Nats-Msg-Id are in
 * the stream already and are not sent again (a cursor set back, a crash
 * between the acknowledgement and the cursor's move), and every publish
 * carries the stream sequence it expects to follow
 * (Nats-Expected-Last-Sequence), so that JetStream refuses a change that
 * would not land right after the one before it: a relay paused past its
 * lease that wakes up cannot append an old change after the new relay's.
 * A refusal fails the slice; the next connection reads the stream again.
 * On a stream of another name, shared with others, neither is done: the
 * duplicate window alone keeps each change once.
 *
 * Credentials in the URL (nats://user:pass@host, nats://token@host) are
 * libnats's only: log lines, /healthz and /status see the URL with its
 * user information as "***", and any failure text is scrubbed of them.
 *
 * Several daemons on one database: only one of them may relay (else each
 * change goes out once per daemon, deduplicated only within the window):
 * the one holding the lease "feed:nats" (daemon/lease.c), which opens this
 * sink while it holds it and binds it to the lease's gen
 * (feed_nats_fence()); the cursor then moves only while that lease is
 * still of that gen, so that a holder paused past its lease cannot move
 * it, back or forth, under the next one.
 */
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <nats/nats.h>

#include "feed.h"
#include "log.h"
#include "store.h"
#include "util.h"

/* Changes handed to the thread at once (its memory: about 300 B each). */
#define NATS_BATCH 2000
/* Publishes awaiting their acknowledgement, at most. */
#define NATS_PENDING 1024
/* ms: an acknowledgement, the stream API, a connection, at most. */
#define NATS_ACK_WAIT	  5000
#define NATS_API_WAIT	  2000
#define NATS_CONNECT_WAIT 2000
/* ms: how long one wait lasts before the thread looks at stop again. */
#define NATS_SLICE 200
/* The duplicate window of a stream we make, in seconds. */
#define NATS_DUP_WINDOW 600
/* The CAs a tls:// server's certificate is checked against. */
#define NATS_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"
/* A subject: the prefix, a dot, the source as a token. */
#define NATS_SUBJECT_MAX 512
/*
 * A backlog of this many changes or more is logged with its rate when it
 * is caught up (event=nats_caught_up): after an outage or at the first
 * start on a full database, not after every page.
 */
#define NATS_LOG_BACKLOG 20000

/* A slice of changes, JSON lines; the thread finds seqs and subjects. */
struct nats_batch {
	char	      *text;
	size_t	       len;
	size_t	       n;
	char	     **line; /* n starts, each line's '\n' made '\0' */
	int64_t	      *seq;
	unsigned char *acked;
	char	      *first_error; /* of an acknowledgement */
};

struct nats_sink {
	/* The loop's. */
	struct store	 *store;
	struct feed_sink *sink;	  /* the list's, for flushes; or NULL */
	char		 *shown;  /* the URL without user information */
	char		 *prefix; /* of the subjects */
	int64_t		  seq;	  /* the cursor: acknowledged */
	char		 *failed; /* why the last slice failed; or NULL */
	time_t		  retry_at;
	int		  busy; /* a slice is out */
	int		  wake[2];
	struct event	 *ev_wake;
	struct timespec	  backlog_t0;
	int64_t		  backlog_n; /* changes sent since backlog_t0 */
	char		 *fence;     /* the lease the cursor is fenced by */
	int64_t		  fence_gen;
	int		  fence_lost; /* no more slices */

	/* Fixed at open, read by the thread. */
	char *url;
	char *secret; /* password or token, scrubbed from causes */
	char *stream;

	/* The thread's. */
	pthread_t	thread;
	natsConnection *nc;
	jsCtx	       *js;
	int		chain;	  /* the stream is ours and read: */
	int64_t		last_id;  /* its last change's seq, or 0 */
	uint64_t	last_seq; /* its last stream sequence, or 0 */

	/* Shared, under mu. */
	pthread_mutex_t	   mu;
	pthread_cond_t	   cv;
	int		   stop;
	struct nats_batch *job;	       /* handed over, not taken yet */
	int		   done;       /* a slice ended: */
	int64_t		   done_seq;   /* acknowledged up to here */
	char		  *done_error; /* or NULL */
	char		  *done_note;  /* the stream, when it was looked at */

	/* Shared with libnats's acknowledgement thread, under amu. */
	pthread_mutex_t	   amu;
	struct nats_batch *cur;
};

static void *nats_open(
    struct store *, struct event_base *, const char *, char **);
static int  nats_write(void *, int64_t, char **);
static void nats_close(void *);

const struct feed_sink_ops feed_nats_ops = { "nats", 1, nats_open, nats_write,
	NULL, nats_close };

/* The loop's side */
static int  start_batch(struct nats_sink *, char **);
static void on_wake(evutil_socket_t, short, void *);
static void take_result(struct nats_sink *);
static void batch_free(struct nats_batch *);

/* The thread's side */
static void *relay_main(void *);
static int   relay_batch(
      struct nats_sink *, struct nats_batch *, int64_t *, char **, char **);
static int  ensure_connected(struct nats_sink *, char **, char **);
static int  ensure_stream(struct nats_sink *, char **, char **);
static int  read_last(struct nats_sink *, jsStreamInfo *);
static void drop_connection(struct nats_sink *);
static int  stopping(struct nats_sink *);
static void on_ack(jsCtx *, natsMsg *, jsPubAck *, jsPubAckErr *, void *);
static void on_async_error(
    natsConnection *, natsSubscription *, natsStatus, void *);
static char *nats_cause(struct nats_sink *, const char *, natsStatus);

/*
 * The URL's user information, if any: *shown gets the URL with it as
 * "***", *secret the password (user:pass) or the token (token@), or NULL.
 */
static void
split_userinfo(const char *url, char **shown, char **secret)
{
	const char *auth, *end, *at, *colon;

	*secret = NULL;
	if ((auth = strstr(url, "://")) == NULL) {
		*shown = xstrdup(url);
		return;
	}
	auth += 3;
	end = auth + strcspn(auth, "/?#");
	for (at = end; at > auth && at[-1] != '@'; at--)
		;
	if (at == auth) {
		*shown = xstrdup(url);
		return;
	}
	xasprintf(shown, "%.*s***%s", (int)(auth - url), url, at - 1);
	colon = memchr(auth, ':', (size_t)(at - 1 - auth));
	if (colon != NULL)
		xasprintf(secret, "%.*s", (int)(at - 1 - colon - 1), colon + 1);
	else
		xasprintf(secret, "%.*s", (int)(at - 1 - auth), auth);
	if (**secret == '\0') {
		free(*secret);
		*secret = NULL;
	}
}

/* Text for a cause with every copy of the secret made "***" (taken). */
static char *
scrub(const char *secret, char *text)
{
	struct buf  b;
	const char *p, *hit;
	size_t	    n;

	if (secret == NULL || strstr(text, secret) == NULL)
		return text;
	n = strlen(secret);
	buf_init(&b, strlen(text) + 1024);
	for (p = text; (hit = strstr(p, secret)) != NULL; p = hit + n) {
		buf_add(&b, p, (size_t)(hit - p));
		buf_addstr(&b, "***");
	}
	buf_addstr(&b, p);
	free(text);
	return xstrdup(buf_str(&b));
}

/* The stream's name: the prefix in capitals, its dots underscores. */
static char *
stream_name(const char *prefix)
{
	char *s, *p;

	s = xstrdup(prefix);
	for (p = s; *p != '\0'; p++) {
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 'a' + 'A');
		else if (*p == '.')
			*p = '_';
	}
	return s;
}

static void *
nats_open(
    struct store *store, struct event_base *base, const char *arg, char **cause)
{
	struct nats_sink *o;
	const char	 *sp;

	o = xcalloc(1, sizeof(*o));
	o->store = store;
	o->wake[0] = o->wake[1] = -1;
	/* arg: "URL SUBJECT-PREFIX" (feed_nats_arg()). */
	if ((sp = strchr(arg, ' ')) == NULL || sp[1] == '\0') {
		xasprintf(cause, "changes_nats: no subject prefix");
		free(o);
		return NULL;
	}
	xasprintf(&o->url, "%.*s", (int)(sp - arg), arg);
	o->prefix = xstrdup(sp + 1);
	o->stream = stream_name(o->prefix);
	split_userinfo(o->url, &o->shown, &o->secret);
	if (store_outbox_get(store, "nats", &o->seq, cause) == -1) {
		nats_close(o);
		return NULL;
	}
	if (pipe2(o->wake, O_CLOEXEC | O_NONBLOCK) == -1)
		fatal("pipe2");
	o->ev_wake =
	    event_new(base, o->wake[0], EV_READ | EV_PERSIST, on_wake, o);
	event_add(o->ev_wake, NULL);
	pthread_mutex_init(&o->mu, NULL);
	pthread_mutex_init(&o->amu, NULL);
	pthread_cond_init(&o->cv, NULL);
	if (pthread_create(&o->thread, NULL, relay_main, o) != 0)
		fatal("pthread_create");
	log_info("event=changes_nats url=%s subjects=%s stream=%s seq=%lld",
	    log_q(o->shown), log_q(o->prefix), log_q(o->stream),
	    (long long)o->seq);
	return o;
}

void
feed_nats_fence(struct feed_sink *s, const char *lease, int64_t gen)
{
	struct nats_sink *o;

	if (s == NULL || (o = feed_sink_state(s)) == NULL)
		return;
	free(o->fence);
	o->fence = lease != NULL ? xstrdup(lease) : NULL;
	o->fence_gen = gen;
}

void
feed_nats_bind(struct feed_sink *s)
{
	struct nats_sink *o;

	if (s != NULL && (o = feed_sink_state(s)) != NULL)
		o->sink = s;
}

char *
feed_nats_arg(const char *url, const char *prefix)
{
	char *arg;

	xasprintf(&arg, "%s %s", url, prefix);
	return arg;
}

/* The thread ends (a slice in its hands ends first, within seconds). */
static void
nats_close(void *arg)
{
	struct nats_sink *o = arg;

	if (o == NULL)
		return;
	if (o->ev_wake != NULL) {
		pthread_mutex_lock(&o->mu);
		o->stop = 1;
		pthread_cond_signal(&o->cv);
		pthread_mutex_unlock(&o->mu);
		pthread_join(o->thread, NULL);
		/* What was acknowledged before the end counts. */
		o->sink = NULL;
		take_result(o);
		batch_free(o->job);
		event_free(o->ev_wake);
		pthread_mutex_destroy(&o->mu);
		pthread_mutex_destroy(&o->amu);
		pthread_cond_destroy(&o->cv);
	}
	if (o->wake[0] != -1) {
		close(o->wake[0]);
		close(o->wake[1]);
	}
	free(o->failed);
	free(o->fence);
	free(o->url);
	free(o->shown);
	free(o->secret);
	free(o->prefix);
	free(o->stream);
	free(o);
}

/*
 * Changes up to upto are committed: a slice goes to the thread unless one
 * is out (its end hands over the next), or the last failed less than
 * FEED_RETRY s ago.  The sink stays failed until a slice goes through.
 */
static int
nats_write(void *arg, int64_t upto, char **cause)
{
	struct nats_sink *o = arg;

	if (o == NULL)
		return 0;
	if (o->fence_lost) {
		*cause = xstrdup(o->failed != NULL ? o->failed : "lease lost");
		return -1;
	}
	if (!o->busy && (upto < 0 || o->seq < upto) &&
	    (o->failed == NULL || time(NULL) >= o->retry_at)) {
		if (start_batch(o, cause) == -1)
			return -1;
	}
	if (o->failed != NULL) {
		*cause = xstrdup(o->failed);
		return -1;
	}
	return 0;
}

static int
start_batch(struct nats_sink *o, char **cause)
{
	struct nats_batch *b;
	struct timespec	   t0, t1;
	FILE		  *f;
	int64_t		   last = o->seq;
	char		  *p, *nl;
	size_t		   i;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	b = xcalloc(1, sizeof(*b));
	if ((f = open_memstream(&b->text, &b->len)) == NULL)
		fatal("open_memstream");
	if (feed_rows(o->store, o->seq, NATS_BATCH, f, &last, cause) == -1) {
		fclose(f);
		batch_free(b);
		return -1;
	}
	fclose(f);
	for (p = b->text; p < b->text + b->len; p++)
		if (*p == '\n')
			b->n++;
	if (b->n == 0) {
		batch_free(b);
		return 0;
	}
	b->line = xcalloc(b->n, sizeof(*b->line));
	b->seq = xcalloc(b->n, sizeof(*b->seq));
	b->acked = xcalloc(b->n, 1);
	for (i = 0, p = b->text; i < b->n; i++, p = nl + 1) {
		nl = strchr(p, '\n');
		*nl = '\0';
		b->line[i] = p;
		/* feed/encode.c's changes line begins {"seq":N, */
		if (strncmp(p, "{\"seq\":", 7) != 0)
			fatalx("nats: not a change line");
		b->seq[i] = strtoll(p + 7, NULL, 10);
	}
	if (o->backlog_n == 0)
		o->backlog_t0 = t0;
	o->backlog_n += (int64_t)b->n;
	pthread_mutex_lock(&o->mu);
	o->job = b;
	pthread_cond_signal(&o->cv);
	pthread_mutex_unlock(&o->mu);
	o->busy = 1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	log_debug("event=nats_slice first=%lld last=%lld changes=%zu "
		  "loop_us=%lld",
	    (long long)b->seq[0], (long long)last, b->n,
	    (long long)((t1.tv_sec - t0.tv_sec) * 1000000LL +
		(t1.tv_nsec - t0.tv_nsec) / 1000));
	return 0;
}

static void
batch_free(struct nats_batch *b)
{
	if (b == NULL)
		return;
	free(b->text);
	free(b->line);
	free(b->seq);
	free(b->acked);
	free(b->first_error);
	free(b);
}

/* The thread ended a slice: note how far it went, hand over the next. */
static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct nats_sink *o = arg;
	char		  c[64];

	while (read(fd, c, sizeof(c)) > 0)
		;
	take_result(o);
	if (o->sink != NULL && !o->busy)
		feed_sink_flush(o->sink);
}

static void
take_result(struct nats_sink *o)
{
	struct timespec t1;
	int64_t		seq;
	char	       *error, *note, *cause = NULL;
	double		secs;
	int		rc;

	pthread_mutex_lock(&o->mu);
	if (!o->done) {
		pthread_mutex_unlock(&o->mu);
		return;
	}
	o->done = 0;
	seq = o->done_seq;
	error = o->done_error;
	note = o->done_note;
	o->done_error = o->done_note = NULL;
	pthread_mutex_unlock(&o->mu);
	o->busy = 0;
	if (note != NULL) {
		log_info("event=nats_stream url=%s %s", log_q(o->shown), note);
		free(note);
	}
	if (seq > o->seq) {
		if (o->fence != NULL)
			rc = store_outbox_set_fenced(o->store, "nats", seq,
			    o->fence, o->fence_gen, &cause);
		else
			rc = store_outbox_set(o->store, "nats", seq, &cause);
		if (rc == 0 && o->fence != NULL) {
			/* Another daemon relays now: stop here. */
			free(error);
			xasprintf(&error, "the lease %s of gen %lld is lost",
			    o->fence, (long long)o->fence_gen);
			o->fence_lost = 1;
		} else if (rc == -1 && error == NULL)
			error = cause;
		else
			free(cause);
		if (rc != 0 || o->fence == NULL)
			o->seq = seq;
	}
	free(o->failed);
	o->failed = error;
	if (error != NULL) {
		o->retry_at = time(NULL) + FEED_RETRY - 1;
		o->backlog_n = 0;
		return;
	}
	if (o->seq >= store_last_seq(o->store)) {
		if (o->backlog_n >= NATS_LOG_BACKLOG) {
			clock_gettime(CLOCK_MONOTONIC, &t1);
			secs = (double)(t1.tv_sec - o->backlog_t0.tv_sec) +
			    (double)(t1.tv_nsec - o->backlog_t0.tv_nsec) / 1e9;
			log_info("event=nats_caught_up seq=%lld changes=%lld "
				 "seconds=%.3f per_second=%.0f",
			    (long long)o->seq, (long long)o->backlog_n, secs,
			    secs > 0 ? (double)o->backlog_n / secs : 0.0);
		}
		o->backlog_n = 0;
	}
}

/* The thread */

static int
stopping(struct nats_sink *o)
{
	int stop;

	pthread_mutex_lock(&o->mu);
	stop = o->stop;
	pthread_mutex_unlock(&o->mu);
	return stop;
}

static void *
relay_main(void *arg)
{
	struct nats_sink  *o = arg;
	struct nats_batch *b;
	int64_t		   upto;
	char		  *error, *note;

	for (;;) {
		pthread_mutex_lock(&o->mu);
		while (!o->stop && o->job == NULL)
			pthread_cond_wait(&o->cv, &o->mu);
		if (o->stop) {
			pthread_mutex_unlock(&o->mu);
			break;
		}
		b = o->job;
		o->job = NULL;
		pthread_mutex_unlock(&o->mu);

		error = note = NULL;
		upto = b->seq[0] - 1;
		if (relay_batch(o, b, &upto, &error, &note) == -1)
			drop_connection(o);
		batch_free(b);

		pthread_mutex_lock(&o->mu);
		o->done = 1;
		o->done_seq = upto;
		free(o->done_error);
		o->done_error = error;
		free(o->done_note);
		o->done_note = note;
		pthread_mutex_unlock(&o->mu);
		if (write(o->wake[1], "x", 1) == -1 && errno != EAGAIN)
			abort();
	}
	drop_connection(o);
	return NULL;
}

/*
 * The subject: the prefix and the source as a token, its bytes other than
 * [A-Za-z0-9_-] made '_' (a NATS token holds no '.', '*', '>' or blank).
 */
static void
subject(const struct nats_sink *o, const char *line, char *out, size_t size)
{
	const char *p;
	size_t	    n;
	char	    c;

	n = (size_t)snprintf(out, size, "%s.", o->prefix);
	if ((p = strstr(line, ",\"source\":\"")) == NULL)
		p = "\"";
	else
		p += 11;
	for (; *p != '"' && *p != '\0' && n + 2 < size; p++) {
		c = *p;
		if (c == '\\') {
			/* An escape in the JSON string: one '_'. */
			if (p[1] == 'u' && strnlen(p, 6) == 6)
				p += 5;
			else if (p[1] != '\0')
				p++;
			c = '_';
		}
		out[n++] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(c >= '0' && c <= '9') || c == '-' ?
		    c :
		    '_';
	}
	if (out[n - 1] == '.')
		out[n++] = '_';
	out[n] = '\0';
}

/*
 * Publish the slice, wait for its acknowledgements; *upto: the last seq
 * acknowledged with all before it.  -1 with *error when the slice did not
 * go through whole.
 */
static int
relay_batch(struct nats_sink *o, struct nats_batch *b, int64_t *upto,
    char **error, char **note)
{
	jsPubOptions	po;
	natsStatus	s = NATS_OK;
	struct timespec t0, t;
	char		subj[NATS_SUBJECT_MAX], id[32];
	size_t		i, sent = 0, skipped;
	int		tries;

	if (ensure_connected(o, error, note) == -1)
		return -1;
	for (skipped = 0;
	     o->chain && skipped < b->n && b->seq[skipped] <= o->last_id;
	     skipped++)
		;
	pthread_mutex_lock(&o->amu);
	o->cur = b;
	pthread_mutex_unlock(&o->amu);
	jsPubOptions_Init(&po);
	po.MaxWait = NATS_ACK_WAIT;
	/* In the stream already: acknowledged as they are. */
	for (i = 0; o->chain && i < b->n && b->seq[i] <= o->last_id; i++) {
		b->acked[i] = 1;
		sent++;
	}
	for (; i < b->n && !stopping(o); i++) {
		subject(o, b->line[i], subj, sizeof(subj));
		snprintf(id, sizeof(id), "%lld", (long long)b->seq[i]);
		po.MsgId = id;
		/* Right after the one before it, or refused. */
		if (o->chain)
			po.ExpectLastSeq = o->last_seq + (sent - skipped);
		/* A full window stalls NATS_SLICE ms at a time. */
		for (tries = 0; tries < NATS_ACK_WAIT / NATS_SLICE; tries++) {
			s = js_PublishAsync(o->js, subj, b->line[i],
			    (int)strlen(b->line[i]), &po);
			if (s != NATS_TIMEOUT || stopping(o))
				break;
		}
		if (s != NATS_OK)
			break;
		sent++;
	}
	if (s != NATS_OK)
		*error = nats_cause(o, "publish", s);
	/* Every acknowledgement or its timeout, NATS_SLICE ms at a time. */
	jsPubOptions_Init(&po);
	po.MaxWait = NATS_SLICE;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		s = js_PublishAsyncComplete(o->js, &po);
		if (s != NATS_TIMEOUT || stopping(o))
			break;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > NATS_ACK_WAIT / 1000 + 1)
			break;
	}
	pthread_mutex_lock(&o->amu);
	o->cur = NULL;
	for (i = 0; i < sent && b->acked[i]; i++)
		*upto = b->seq[i];
	if (o->chain && i == b->n) {
		o->last_seq += b->n - skipped;
		o->last_id = b->seq[b->n - 1];
	}
	if (i < b->n && *error == NULL) {
		if (b->first_error != NULL)
			*error = scrub(o->secret, xstrdup(b->first_error));
		else if (i < sent)
			xasprintf(error,
			    "%s: no acknowledgement of seq %lld within %d ms",
			    o->shown, (long long)b->seq[i], NATS_ACK_WAIT);
		else
			xasprintf(error, "%s: stopped", o->shown);
	}
	pthread_mutex_unlock(&o->amu);
	return *error != NULL ? -1 : 0;
}

/* libnats's thread: one acknowledgement (pa) or failure (pae). */
static void
on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *arg)
{
	struct nats_sink  *o = arg;
	struct nats_batch *b;
	const char	  *id = NULL;
	int64_t		   seq;
	size_t		   lo, hi, mid;

	if (natsMsgHeader_Get(msg, "Nats-Msg-Id", &id) != NATS_OK ||
	    id == NULL) {
		natsMsg_Destroy(msg);
		return;
	}
	seq = strtoll(id, NULL, 10);
	pthread_mutex_lock(&o->amu);
	if ((b = o->cur) != NULL) {
		lo = 0;
		hi = b->n;
		while (lo < hi) {
			mid = lo + (hi - lo) / 2;
			if (b->seq[mid] < seq)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < b->n && b->seq[lo] == seq) {
			if (pa != NULL)
				b->acked[lo] = 1;
			else if (b->first_error == NULL && pae != NULL)
				xasprintf(&b->first_error,
				    "seq %lld not stored: %s%s%s",
				    (long long)seq,
				    natsStatus_GetText(pae->Err),
				    pae->ErrText != NULL ? ": " : "",
				    pae->ErrText != NULL ? pae->ErrText : "");
		}
	}
	pthread_mutex_unlock(&o->amu);
	natsMsg_Destroy(msg);
}

/* libnats would print these on stderr; the slice's end says enough. */
static void
on_async_error(
    natsConnection *nc, natsSubscription *sub, natsStatus s, void *arg)
{
}

static char *
nats_cause(struct nats_sink *o, const char *what, natsStatus s)
{
	const char *last;
	char	   *c;

	last = nats_GetLastError(NULL);
	xasprintf(&c, "%s: %s: %s", o->shown, what,
	    last != NULL && *last != '\0' ? last : natsStatus_GetText(s));
	return scrub(o->secret, c);
}

static int
ensure_connected(struct nats_sink *o, char **error, char **note)
{
	natsOptions *opts = NULL;
	jsOptions    jo;
	natsStatus   s;

	if (o->nc != NULL &&
	    natsConnection_Status(o->nc) == NATS_CONN_STATUS_CONNECTED)
		return 0;
	drop_connection(o);
	/* No reconnects of libnats's: the next slice connects again. */
	if ((s = natsOptions_Create(&opts)) != NATS_OK ||
	    (s = natsOptions_SetURL(opts, o->url)) != NATS_OK ||
	    (s = natsOptions_SetTimeout(opts, NATS_CONNECT_WAIT)) != NATS_OK ||
	    (s = natsOptions_SetAllowReconnect(opts, false)) != NATS_OK ||
	    (s = natsOptions_SetName(opts, "oaiharvestd")) != NATS_OK ||
	    (s = natsOptions_SetErrorHandler(opts, on_async_error, o)) !=
		NATS_OK) {
		natsOptions_Destroy(opts);
		*error = nats_cause(o, "options", s);
		return -1;
	}
	/*
	 * tls://: TLS only, the server's certificate checked against the
	 * system's CAs (Debian's ca-certificates bundle).
	 */
	if (strncasecmp(o->url, "tls://", 6) == 0 &&
	    ((s = natsOptions_SetSecure(opts, true)) != NATS_OK ||
		(access(NATS_CA_BUNDLE, R_OK) == 0 &&
		    (s = natsOptions_LoadCATrustedCertificates(
			 opts, NATS_CA_BUNDLE)) != NATS_OK))) {
		natsOptions_Destroy(opts);
		*error = nats_cause(o, "TLS", s);
		return -1;
	}
	s = natsConnection_Connect(&o->nc, opts);
	natsOptions_Destroy(opts);
	if (s != NATS_OK) {
		o->nc = NULL;
		*error = nats_cause(o, "connect", s);
		return -1;
	}
	jsOptions_Init(&jo);
	jo.Wait = NATS_API_WAIT;
	jo.PublishAsync.MaxPending = NATS_PENDING;
	jo.PublishAsync.AckHandler = on_ack;
	jo.PublishAsync.AckHandlerClosure = o;
	jo.PublishAsync.StallWait = NATS_SLICE;
	if ((s = natsConnection_JetStream(&o->js, o->nc, &jo)) != NATS_OK) {
		o->js = NULL;
		*error = nats_cause(o, "JetStream", s);
		return -1;
	}
	return ensure_stream(o, error, note);
}

/*
 * Our stream's last message: its stream sequence and its change's seq (its
 * Nats-Msg-Id).  0 when it cannot be known (its last message deleted, or
 * not ours): then nothing is chained on this connection.
 */
static int
read_last(struct nats_sink *o, jsStreamInfo *si)
{
	natsMsg	   *m = NULL;
	jsErrCode   jerr = 0;
	const char *id = NULL;
	char	   *end;
	long long   v;

	o->last_seq = si->State.LastSeq;
	if (si->State.Msgs == 0)
		return 1;
	if (js_GetMsg(&m, o->js, o->stream, si->State.LastSeq, NULL, &jerr) !=
	    NATS_OK)
		return 0;
	if (natsMsgHeader_Get(m, "Nats-Msg-Id", &id) != NATS_OK || id == NULL ||
	    (v = strtoll(id, &end, 10)) <= 0 || *end != '\0') {
		natsMsg_Destroy(m);
		return 0;
	}
	natsMsg_Destroy(m);
	o->last_id = v;
	return 1;
}

/* Find the stream, or make it; another stream on the subjects will do. */
static int
ensure_stream(struct nats_sink *o, char **error, char **note)
{
	jsStreamConfig cfg;
	jsStreamInfo  *si = NULL;
	jsErrCode      jerr = 0;
	natsStatus     s;
	char	      *subjects;
	const char    *subj[1];

	o->chain = 0;
	o->last_id = 0;
	o->last_seq = 0;
	s = js_GetStreamInfo(&si, o->js, o->stream, NULL, &jerr);
	if (s == NATS_OK) {
		o->chain = read_last(o, si);
		xasprintf(note,
		    "stream=%s found=1 subjects=\"%s%s\" duplicates_s=%lld "
		    "messages=%llu ordered=%d last_seq=%lld",
		    o->stream,
		    si->Config->SubjectsLen > 0 ? si->Config->Subjects[0] : "",
		    si->Config->SubjectsLen > 1 ? " ..." : "",
		    (long long)(si->Config->Duplicates / 1000000000LL),
		    (unsigned long long)si->State.Msgs, o->chain,
		    (long long)o->last_id);
		jsStreamInfo_Destroy(si);
		return 0;
	}
	if (jerr != JSStreamNotFoundErr) {
		*error = nats_cause(o, "stream info", s);
		return -1;
	}
	xasprintf(&subjects, "%s.>", o->prefix);
	subj[0] = subjects;
	jsStreamConfig_Init(&cfg);
	cfg.Name = o->stream;
	cfg.Subjects = subj;
	cfg.SubjectsLen = 1;
	cfg.Storage = js_FileStorage;
	cfg.Duplicates = NATS_DUP_WINDOW * 1000000000LL;
	jerr = 0;
	s = js_AddStream(&si, o->js, &cfg, NULL, &jerr);
	if (s == NATS_OK) {
		o->chain = 1;
		xasprintf(note,
		    "stream=%s made=1 subjects=\"%s\" duplicates_s=%d",
		    o->stream, subjects, NATS_DUP_WINDOW);
		jsStreamInfo_Destroy(si);
	} else if (jerr == JSStreamSubjectOverlapErr) {
		xasprintf(note,
		    "stream=%s made=0 msg=\"another stream captures %s\"",
		    o->stream, subjects);
		s = NATS_OK;
	} else
		*error = nats_cause(o, "add stream", s);
	free(subjects);
	return s == NATS_OK ? 0 : -1;
}

static void
drop_connection(struct nats_sink *o)
{
	if (o->js != NULL)
		jsCtx_Destroy(o->js);
	o->js = NULL;
	if (o->nc != NULL) {
		natsConnection_Close(o->nc);
		natsConnection_Destroy(o->nc);
	}
	o->nc = NULL;
}
