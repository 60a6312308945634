/*
 * Several daemons on one database (leases = yes): which repository hosts
 * this daemon harvests.  A host (scheme://host:port, as politeness keys
 * hosts) is harvested by the daemon that holds its lease in the database
 * (store.h, "Leases"), which then harvests every source of it: so each
 * source has one daemon at a time, and the engine's politeness per host
 * (one request in flight, delay between requests) holds across daemons
 * without asking the database before each request.  A daemon that takes a
 * host over waits for the time its last holder said (next_ms: the end of
 * its last request plus the delay), or a delay after the lease lapsed.
 *
 * One timer, every third of lease_ttl: renew every lease held (one
 * transaction), treat a host not renewed as lost (its runs are cancelled;
 * the page writer refuses their pages anyway: pages are fenced by the
 * lease's gen), then take free or expired hosts up to this daemon's share
 * (the hosts over the daemons alive, rounded up), or give back an idle one
 * above it.  The first tick only says the daemon is alive, so that daemons
 * started together see each other before they share the hosts out.
 *
 * Between ticks the engine asks lease_gate() before each request: a host
 * is ours to send to until the moment its lease surely still holds, as
 * this daemon knows it (until_mono: when the last take or renewal that
 * worked was sent, plus lease_ttl, less LEASE_MARGIN of it), not until the
 * next tick finds out (a renewal that failed, or was late).  The engine
 * starts no request after it and aborts one still out then; the database
 * set the expiry after we sent, so we stop a margin before it, and the
 * next holder waits a delay after it.
 *
 * The NATS relay (changes_nats) is leased the same way, under the key
 * RELAY_KEY, which is no host: the same table, renewal, expiry and gen.
 * Whichever daemon takes it first (at any tick, not counted in the share)
 * opens the sink, fenced by the lease's gen, and closes it when the lease
 * is lost or given back; it relays what this daemon commits at once, and
 * what the others commit when the feed hears of it (feed_listen() or
 * feed_watch(), which the daemon starts whenever leases are on).  A host
 * whose sources a reload removed is given back at the next tick once
 * nothing of it runs.
 */
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon.h"
#include "feed.h"
#include "log.h"
#include "settings.h"
#include "store.h"
#include "util.h"

/* The relay's lease: no host key has no "//". */
#define RELAY_KEY "feed:nats"

/* The part of lease_ttl we stop sending before the lease lapses. */
#define LEASE_MARGIN(ttl) ((ttl) / 6)

/* A host of the config's sources. */
struct dhost {
	TAILQ_ENTRY(dhost) entry;
	char	 *key;
	int	  held;
	int	  seen;	       /* renewed in this tick */
	int64_t	  gen;	       /* the lease's, while held */
	int64_t	  until_mono;  /* ours surely until (mono_ms()) */
	int	  gated;       /* the gate said no (logged once) */
	int64_t	  ready_ms;    /* no request before (wall clock) */
	int64_t	  last_end_ms; /* its last request's end here */
	long long delay_ms;    /* the longest of its sources' */
	int	  nsources;    /* enabled sources of it */
	int	  busy;	       /* of them running or waiting */
	int	  relay;       /* RELAY_KEY, not a host */
};

/* The leases as the database has them, read once per request. */
struct snap_row {
	char   *host;
	char   *holder; /* NULL: none live */
	char   *node;
	int64_t gen;
	int64_t expires_ms;
};
struct snap {
	struct snap_row *rows;
	size_t		 n;
	size_t		 cap;
};

struct dlease {
	struct daemon *d;
	char	      *id;   /* unique per process */
	char	      *name; /* node_name, or the host name */
	long long      ttl_ms;
	struct event  *timer;
	TAILQ_HEAD(, dhost) hosts;
	int	      ticks;
	int	      alive;	  /* daemons alive at the last tick */
	int64_t	      renew_sent; /* mono_ms() the renewal was sent */
	int64_t	      expires_ms; /* our leases', as of it */
	struct snap   snap;	  /* for /status and /metrics */
	struct dhost *relay;	  /* RELAY_KEY, once wanted */
};

static void    on_tick(evutil_socket_t, short, void *);
static void    snap_free(struct snap *);
static int64_t lease_gate(void *, const char *);

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct dhost *
host_find(struct dlease *l, const char *key)
{
	struct dhost *h;

	TAILQ_FOREACH (h, &l->hosts, entry)
		if (strcmp(h->key, key) == 0)
			return h;
	return NULL;
}

static struct dhost *
host_get(struct dlease *l, const char *key)
{
	struct dhost *h;

	if ((h = host_find(l, key)) != NULL)
		return h;
	h = xcalloc(1, sizeof(*h));
	h->key = xstrdup(key);
	TAILQ_INSERT_TAIL(&l->hosts, h, entry);
	return h;
}

/* The host of source s (its url's, kept until the url changes). */
static struct dhost *
src_host(struct dlease *l, struct dsource *s)
{
	char *key;

	if (s->host_key == NULL || s->host_url == NULL ||
	    strcmp(s->host_url, s->c.url) != 0) {
		free(s->host_key);
		free(s->host_url);
		s->host_key = harvest_host_key(s->c.url);
		s->host_url = xstrdup(s->c.url);
	}
	key = s->host_key;
	return host_get(l, key);
}

int
lease_start(struct daemon *d, char **cause)
{
	struct dlease *l;
	char	       host[256];
	unsigned int   r;

	if (!d->conf->leases)
		return 0;
	l = xcalloc(1, sizeof(*l));
	l->d = d;
	TAILQ_INIT(&l->hosts);
	if (gethostname(host, sizeof(host)) == -1)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	l->name =
	    xstrdup(d->conf->node_name != NULL ? d->conf->node_name : host);
	r = (unsigned int)time(NULL) ^ (unsigned int)getpid() ^
	    (unsigned int)mono_ms();
	r = r * 2654435761u;
	xasprintf(&l->id, "%s-%ld-%08x", host, (long)getpid(), r);
	l->ttl_ms = d->conf->lease_ttl * 1000;
	l->timer = event_new(d->base, -1, 0, on_tick, l);
	d->lease = l;
	harvest_engine_gate(d->engine, lease_gate, l);
	/* Say we are alive now; take hosts from the next tick. */
	on_tick(-1, 0, l);
	if (l->ticks == 0) {
		xasprintf(cause, "leases: the database refused them");
		return -1;
	}
	log_info("event=lease_node node=%s name=%s ttl_ms=%lld", log_q(l->id),
	    log_q(l->name), l->ttl_ms);
	return 0;
}

/* The hosts' sources: count them, and what they do. */
static void
host_count(struct dlease *l)
{
	struct dhost	     *h;
	struct dsource	     *s;
	struct harvest_source hs;

	TAILQ_FOREACH (h, &l->hosts, entry) {
		h->nsources = 0;
		h->busy = 0;
		h->delay_ms = 0;
	}
	TAILQ_FOREACH (s, &l->d->sources, entry) {
		if (s->removed || !s->c.enabled)
			continue;
		h = src_host(l, s);
		h->nsources++;
		if (s->state != SRC_IDLE)
			h->busy++;
		settings_source(l->d->conf, &s->c, &hs);
		if (hs.delay_ms > h->delay_ms)
			h->delay_ms = hs.delay_ms;
	}
}

/*
 * When the next holder of h may send: a delay after our last request's
 * end, or after now when a request may have been cut (a run going on, or
 * cancelled by a stop).
 */
static int64_t
host_next(const struct dhost *h, int cut)
{
	int64_t end = h->last_end_ms;

	if (cut || h->busy > 0 || end == 0)
		end = wall_ms();
	return end + h->delay_ms;
}

/* h is not ours (any more): none of its sources may harvest here. */
static void
host_lost(struct dlease *l, struct dhost *h, const char *why)
{
	struct dsource *s, *next;

	if (strcmp(why, "released") != 0)
		log_warn("event=lease_lost host=%s gen=%lld why=%s",
		    log_q(h->key), (long long)h->gen, why);
	h->held = 0;
	if (h->relay) {
		log_info("event=relay_stopped lease=%s gen=%lld why=%s",
		    log_q(h->key), (long long)h->gen, why);
		daemon_relay(l->d, NULL, 0);
		return;
	}
	TAILQ_FOREACH_SAFE (s, &l->d->sources, entry, next)
		if (!s->removed && src_host(l, s) == h)
			daemon_src_hold(s);
}

static int
on_renewed(void *arg, const char *key, int64_t gen)
{
	struct dlease *l = arg;
	struct dhost  *h;

	if ((h = host_find(l, key)) != NULL && h->held && h->gen == gen) {
		h->seen = 1;
		h->until_mono =
		    l->renew_sent + l->ttl_ms - LEASE_MARGIN(l->ttl_ms);
		h->gated = 0;
	}
	return 0;
}

/* Renew what we hold; a host not renewed is lost. */
static void
renew(struct dlease *l)
{
	struct dhost *h;
	char	     *cause = NULL;
	int	      n;

	TAILQ_FOREACH (h, &l->hosts, entry)
		h->seen = 0;
	l->renew_sent = mono_ms();
	n = store_lease_renew(
	    l->d->store, l->id, l->name, l->ttl_ms, on_renewed, l, &cause);
	if (n == -1) {
		log_warn("event=lease_error op=renew cause=%s", log_q(cause));
		free(cause);
		/* Ours until they may expire (lease_gate()); then not. */
		TAILQ_FOREACH (h, &l->hosts, entry)
			if (h->held && mono_ms() >= h->until_mono)
				host_lost(l, h, "not_renewed");
		return;
	}
	l->expires_ms = wall_ms() + l->ttl_ms;
	l->ticks++;
	TAILQ_FOREACH (h, &l->hosts, entry)
		if (h->held && !h->seen)
			host_lost(l, h, "taken");
}

/* Try to take h; 1 when it is ours now. */
static int
take(struct dlease *l, struct dhost *h)
{
	struct store_lease_grant g;
	struct dsource		*s;
	char			*cause = NULL;
	int64_t			 ready, sent = mono_ms();
	int			 rc;

	rc = store_lease_take(
	    l->d->store, h->key, l->id, l->name, l->ttl_ms, &g, &cause);
	if (rc == -1) {
		log_warn("event=lease_error op=take host=%s cause=%s",
		    log_q(h->key), log_q(cause));
		free(cause);
		return 0;
	}
	if (rc == 0)
		return 0;
	ready = g.next_ms;
	if (g.lapsed_ms > 0 && g.lapsed_ms + h->delay_ms > ready)
		ready = g.lapsed_ms + h->delay_ms;
	h->held = 1;
	h->gen = g.gen;
	h->ready_ms = ready;
	h->until_mono = sent + l->ttl_ms - LEASE_MARGIN(l->ttl_ms);
	h->gated = 0;
	log_info("event=lease_taken host=%s gen=%lld lapsed=%s wait_ms=%lld",
	    log_q(h->key), (long long)g.gen, g.lapsed_ms > 0 ? "yes" : "no",
	    (long long)(ready > wall_ms() ? ready - wall_ms() : 0));
	TAILQ_FOREACH (s, &l->d->sources, entry)
		if (!s->removed && s->c.enabled && src_host(l, s) == h)
			daemon_src_resume(s);
	return 1;
}

static void
give_back(struct dlease *l, struct dhost *h)
{
	char *cause = NULL;

	if (store_lease_release(
		l->d->store, h->key, l->id, host_next(h, 0), &cause) == -1) {
		log_warn("event=lease_error op=release host=%s cause=%s",
		    log_q(h->key), log_q(cause));
		free(cause);
		return;
	}
	log_info("event=lease_released host=%s", log_q(h->key));
	host_lost(l, h, "released");
}

/*
 * Our share: the hosts over the daemons alive, rounded up.  Take free
 * ones up to it, from a place that differs between daemons; above it,
 * give back one that is idle.
 */
static void
balance(struct dlease *l)
{
	struct dhost *h, *start;
	char	     *cause = NULL;
	int	      nhosts = 0, held = 0, share, alive, skip;

	TAILQ_FOREACH (h, &l->hosts, entry) {
		if (h->nsources == 0)
			continue;
		nhosts++;
		held += h->held;
	}
	if (nhosts == 0)
		return;
	if ((alive = store_lease_nodes(l->d->store, &cause)) == -1) {
		log_warn("event=lease_error op=nodes cause=%s", log_q(cause));
		free(cause);
		return;
	}
	l->alive = alive > 0 ? alive : 1;
	share = (nhosts + l->alive - 1) / l->alive;
	if (held > share) {
		TAILQ_FOREACH (h, &l->hosts, entry)
			if (h->held && h->nsources > 0 && h->busy == 0) {
				give_back(l, h);
				break;
			}
		return;
	}
	/* Daemons start their rounds at different hosts. */
	skip = (int)(((unsigned int)getpid() + (unsigned int)l->ticks) %
	    (unsigned int)nhosts);
	start = TAILQ_FIRST(&l->hosts);
	while (skip-- > 0 && TAILQ_NEXT(start, entry) != NULL)
		start = TAILQ_NEXT(start, entry);
	for (h = start; held < share;) {
		if (h->nsources > 0 && !h->held)
			held += take(l, h);
		if ((h = TAILQ_NEXT(h, entry)) == NULL)
			h = TAILQ_FIRST(&l->hosts);
		if (h == start)
			break;
	}
}

/* Is a run of h's going on (also of a source a reload removed)? */
static int
host_running(struct dlease *l, struct dhost *h)
{
	struct dsource *s;

	TAILQ_FOREACH (s, &l->d->sources, entry)
		if (s->state != SRC_IDLE && s->host_key != NULL &&
		    strcmp(s->host_key, h->key) == 0)
			return 1;
	return 0;
}

/* Hosts held that no source has any more (a reload): give them back. */
static void
give_back_unused(struct dlease *l)
{
	struct dhost *h;

	TAILQ_FOREACH (h, &l->hosts, entry)
		if (h->held && !h->relay && h->nsources == 0 &&
		    !host_running(l, h))
			give_back(l, h);
}

/* The relay: take its lease when free and wanted, give it back if not. */
static void
relay_tick(struct dlease *l)
{
	struct dhost *h = l->relay;

	if (l->d->conf->changes_nats == NULL || l->d->stopping) {
		if (h != NULL && h->held)
			give_back(l, h);
		return;
	}
	if (h == NULL) {
		h = l->relay = host_get(l, RELAY_KEY);
		h->relay = 1;
	}
	if (h->held || !take(l, h))
		return;
	log_info("event=relay_started lease=%s gen=%lld", log_q(h->key),
	    (long long)h->gen);
	if (daemon_relay(l->d, h->key, h->gen) == -1)
		give_back(l, h);
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct dlease *l = arg;
	struct timeval tv;
	long long      ms = l->ttl_ms / 3;

	if (l->d->stopping)
		return;
	host_count(l);
	renew(l);
	if (l->ticks >= 1)
		relay_tick(l);
	if (l->ticks > 1)
		give_back_unused(l);
	if (l->ticks > 1)
		balance(l);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(l->timer, &tv);
}

/*
 * The engine's gate (harvest_engine_gate()): until when may a request to
 * host run?  0 (not now) when the host is not ours or its lease may have
 * lapsed; the next renewal that works opens it again.
 */
static int64_t
lease_gate(void *arg, const char *host)
{
	struct dlease *l = arg;
	struct dhost  *h;

	if ((h = host_find(l, host)) == NULL || !h->held)
		return 0;
	if (h->until_mono > mono_ms())
		return h->until_mono;
	if (!h->gated) {
		h->gated = 1;
		log_warn("event=lease_expiring host=%s gen=%lld "
			 "late_ms=%lld",
		    log_q(h->key), (long long)h->gen,
		    (long long)(mono_ms() - h->until_mono));
	}
	return 0;
}

int
lease_may_start(struct dsource *s)
{
	struct dlease *l = s->d->lease;
	struct dhost  *h;
	int64_t	       now;

	if (l == NULL)
		return 1;
	h = src_host(l, s);
	if (!h->held)
		return 0;
	now = wall_ms();
	if (h->ready_ms > now) {
		daemon_src_later(s, (double)(h->ready_ms - now) / 1000.0);
		return 0;
	}
	return 1;
}

void
lease_source(struct dsource *s, struct harvest_source *hs)
{
	struct dlease *l = s->d->lease;
	struct dhost  *h;

	if (l == NULL)
		return;
	h = src_host(l, s);
	hs->lease = h->key;
	hs->lease_gen = h->gen;
}

void
lease_request_done(struct daemon *d, const char *host)
{
	struct dhost *h;

	if (d->lease == NULL || (h = host_find(d->lease, host)) == NULL)
		return;
	h->last_end_ms = wall_ms();
}

void
lease_stop(struct daemon *d)
{
	struct dlease *l = d->lease;
	struct dhost  *h;
	char	      *cause = NULL;

	if (l == NULL)
		return;
	/* The relay notes how far it went while the lease is ours. */
	if (l->relay != NULL && l->relay->held) {
		daemon_relay(d, NULL, 0);
		log_info("event=relay_stopped lease=%s gen=%lld why=stop",
		    log_q(l->relay->key), (long long)l->relay->gen);
	}
	host_count(l);
	TAILQ_FOREACH (h, &l->hosts, entry)
		if (h->held &&
		    store_lease_release(d->store, h->key, l->id,
			host_next(h, 1), &cause) == -1) {
			log_warn("event=lease_error op=release host=%s "
				 "cause=%s",
			    log_q(h->key), log_q(cause));
			free(cause);
			cause = NULL;
		}
	if (store_lease_release(d->store, NULL, l->id, 0, &cause) == -1) {
		log_warn("event=lease_error op=release cause=%s", log_q(cause));
		free(cause);
	}
	log_info("event=lease_node_stopped node=%s", log_q(l->id));
}

void
lease_reload(struct daemon *d)
{
	struct dlease *l = d->lease;

	if (l == NULL)
		return;
	if (l->relay != NULL && l->relay->held &&
	    d->conf->changes_nats != NULL && d->nats == NULL &&
	    daemon_relay(d, l->relay->key, l->relay->gen) == -1)
		give_back(l, l->relay);
	relay_tick(l);
}

void
lease_free(struct daemon *d)
{
	struct dlease *l = d->lease;
	struct dhost  *h;

	if (l == NULL)
		return;
	while ((h = TAILQ_FIRST(&l->hosts)) != NULL) {
		TAILQ_REMOVE(&l->hosts, h, entry);
		free(h->key);
		free(h);
	}
	event_free(l->timer);
	snap_free(&l->snap);
	free(l->id);
	free(l->name);
	free(l);
	d->lease = NULL;
}

/* /status and /metrics */

static void
snap_free(struct snap *sn)
{
	size_t i;

	for (i = 0; i < sn->n; i++) {
		free(sn->rows[i].host);
		free(sn->rows[i].holder);
		free(sn->rows[i].node);
	}
	free(sn->rows);
	memset(sn, 0, sizeof(*sn));
}

static int
snap_row(void *arg, const struct store_lease *r)
{
	struct snap	*sn = arg;
	struct snap_row *w;
	int		 live = r->holder != NULL && r->expires_ms > r->now_ms;

	if (sn->n == sn->cap) {
		sn->cap = sn->cap == 0 ? 16 : sn->cap * 2;
		sn->rows = xreallocarray(sn->rows, sn->cap, sizeof(*sn->rows));
	}
	w = &sn->rows[sn->n++];
	w->host = xstrdup(r->host);
	w->holder = live ? xstrdup(r->holder) : NULL;
	w->node = live && r->node != NULL ? xstrdup(r->node) : NULL;
	w->gen = r->gen;
	w->expires_ms = live ? r->expires_ms : 0;
	return 0;
}

/* The leases now (rows in the database's order: by host). */
static void
snap_take(struct dlease *l, const char *why)
{
	char *cause = NULL;

	snap_free(&l->snap);
	if (store_leases(l->d->store, snap_row, &l->snap, &cause) == -1) {
		log_warn(
		    "event=%s_error op=leases cause=%s", why, log_q(cause));
		free(cause);
	}
}

static const struct snap_row *
snap_find(const struct dlease *l, const char *host)
{
	size_t i;

	for (i = 0; i < l->snap.n; i++)
		if (strcmp(l->snap.rows[i].host, host) == 0)
			return &l->snap.rows[i];
	return NULL;
}

static void
add_ms(struct buf *b, const char *key, int64_t ms)
{
	char ds[DATESTAMP_LEN];

	buf_printf(b, ",\"%s\":", key);
	if (ms <= 0) {
		buf_addstr(b, "null");
		return;
	}
	datestamp_format((time_t)(ms / 1000), GRAN_SECONDS, ds);
	buf_printf(b, "\"%s\"", ds);
}

static void
add_str(struct buf *b, const char *key, const char *v)
{
	buf_printf(b, ",\"%s\":", key);
	if (v != NULL)
		json_add_string(b, v, (size_t)-1);
	else
		buf_addstr(b, "null");
}

static int
hosts_held(const struct dlease *l)
{
	const struct dhost *h;
	int		    n = 0;

	TAILQ_FOREACH (h, &l->hosts, entry)
		n += h->held && !h->relay;
	return n;
}

void
lease_node_json(struct daemon *d, struct buf *b)
{
	struct dlease	      *l = d->lease;
	const struct snap_row *r;
	int		       held;

	if (l == NULL)
		return;
	snap_take(l, "status");
	held = hosts_held(l);
	buf_addstr(b, ",\"node\":{\"id\":");
	json_add_string(b, l->id, (size_t)-1);
	add_str(b, "name", l->name);
	buf_printf(b, ",\"lease_ttl\":%lld,\"alive\":%d,\"hosts_held\":%d",
	    l->ttl_ms / 1000, l->alive, held);
	add_ms(b, "leases_expire", held > 0 ? l->expires_ms : 0);
	/* Which daemon relays the change feed to NATS (null: none). */
	buf_addstr(b, ",\"relay\":");
	if (d->conf->changes_nats == NULL)
		buf_addstr(b, "null");
	else {
		r = snap_find(l, RELAY_KEY);
		buf_addstr(b, "{\"lease\":\"" RELAY_KEY "\"");
		buf_printf(b, ",\"ours\":%s",
		    l->relay != NULL && l->relay->held ? "true" : "false");
		add_str(b, "holder", r != NULL ? r->holder : NULL);
		add_str(b, "node_name", r != NULL ? r->node : NULL);
		add_ms(b, "expires", r != NULL ? r->expires_ms : 0);
		buf_printf(
		    b, ",\"gen\":%lld}", r != NULL ? (long long)r->gen : 0);
	}
	buf_addch(b, '}');
}

void
lease_source_json(struct daemon *d, struct dsource *s, struct buf *b)
{
	struct dlease	      *l = d->lease;
	struct dhost	      *h;
	const struct snap_row *r;

	if (l == NULL)
		return;
	h = src_host(l, s);
	r = snap_find(l, h->key);
	buf_addstr(b, ",\"lease\":{\"host\":");
	json_add_string(b, h->key, (size_t)-1);
	buf_printf(b, ",\"ours\":%s", h->held ? "true" : "false");
	add_str(b, "holder", r != NULL ? r->holder : NULL);
	add_str(b, "node_name", r != NULL ? r->node : NULL);
	add_ms(b, "expires", r != NULL ? r->expires_ms : 0);
	buf_printf(b, ",\"gen\":%lld}", r != NULL ? (long long)r->gen : 0);
}

/* A Prometheus label: k="v", with backslash, quote and newline escaped. */
static void
label(struct buf *b, const char *k, const char *v)
{
	buf_printf(b, "%s=\"", k);
	for (; v != NULL && *v != '\0'; v++) {
		if (*v == '\\')
			buf_addstr(b, "\\\\");
		else if (*v == '"')
			buf_addstr(b, "\\\"");
		else if (*v == '\n')
			buf_addstr(b, "\\n");
		else
			buf_addch(b, *v);
	}
	buf_addch(b, '"');
}

void
lease_metrics(struct daemon *d, struct buf *b)
{
	struct dlease	      *l = d->lease;
	struct dsource	      *s;
	struct dhost	      *h;
	const struct snap_row *r;

	if (l == NULL)
		return;
	snap_take(l, "metrics");
	buf_addstr(b,
	    "# HELP oaiharvest_source_lease_expiry_timestamp_seconds When "
	    "the lease of a source's host expires unless renewed, with the "
	    "daemon that holds it (0 and empty labels: none).\n"
	    "# TYPE oaiharvest_source_lease_expiry_timestamp_seconds gauge\n");
	TAILQ_FOREACH (s, &d->sources, entry) {
		if (s->removed)
			continue;
		h = src_host(l, s);
		r = snap_find(l, h->key);
		buf_addstr(
		    b, "oaiharvest_source_lease_expiry_timestamp_seconds{");
		label(b, "source", s->c.name);
		buf_addch(b, ',');
		label(b, "host", h->key);
		buf_addch(b, ',');
		label(b, "holder", r != NULL ? r->holder : NULL);
		buf_addch(b, ',');
		label(b, "node", r != NULL ? r->node : NULL);
		buf_printf(b, "} %lld\n",
		    r != NULL ? (long long)(r->expires_ms / 1000) : 0);
	}
	buf_addstr(b,
	    "# HELP oaiharvest_lease_hosts_held Repository hosts whose lease "
	    "this daemon holds.\n"
	    "# TYPE oaiharvest_lease_hosts_held gauge\n"
	    "oaiharvest_lease_hosts_held{");
	label(b, "holder", l->id);
	buf_addch(b, ',');
	label(b, "node", l->name);
	buf_printf(b, "} %d\n", hosts_held(l));
	if (d->conf->changes_nats == NULL)
		return;
	buf_addstr(b,
	    "# HELP oaiharvest_relay_holder 1 while this daemon relays the "
	    "change feed to NATS (holds the lease feed:nats), else 0.\n"
	    "# TYPE oaiharvest_relay_holder gauge\n"
	    "oaiharvest_relay_holder{");
	label(b, "holder", l->id);
	buf_addch(b, ',');
	label(b, "node", l->name);
	buf_printf(b, "} %d\n", l->relay != NULL && l->relay->held ? 1 : 0);
}
