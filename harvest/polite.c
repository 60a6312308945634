#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "harvest.h"
#include "polite.h"
#include "util.h"

/* ms: how often a host the gate holds back asks it again. */
#define POLITE_GATE_RETRY_MS 100

struct polite_host {
	LIST_ENTRY(polite_host) entry;
	struct polite *p;
	char	      *key;
	TAILQ_HEAD(, polite_wait) queue; /* jobs waiting to send */
	struct polite_wait *holder;	 /* the job with a request out */
	int64_t		    last_end_ms;
	int64_t		    until; /* the gate's, for the request out */
	struct event	   *timer;
};

struct polite {
	struct event_base *base;
	LIST_HEAD(, polite_host) hosts;
	int64_t (*gate)(void *, const char *);
	void *gate_arg;
};

static void host_arm(struct polite_host *);
static void on_host_timer(evutil_socket_t, short, void *);

struct polite *
polite_new(struct event_base *base)
{
	struct polite *p;

	p = xcalloc(1, sizeof(*p));
	p->base = base;
	LIST_INIT(&p->hosts);
	return p;
}

void
polite_gate(struct polite *p, int64_t (*gate)(void *, const char *), void *arg)
{
	p->gate = gate;
	p->gate_arg = arg;
}

void
polite_free(struct polite *p)
{
	struct polite_host *h;

	if (p == NULL)
		return;
	while ((h = LIST_FIRST(&p->hosts)) != NULL) {
		LIST_REMOVE(h, entry);
		event_free(h->timer);
		free(h->key);
		free(h);
	}
	free(p);
}

/* scheme://host:port, lowercased; the whole URL when it does not parse. */
static char *
host_key(const char *url)
{
	CURLU *u;
	char  *scheme = NULL, *host = NULL, *port = NULL, *key, *p;

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

char *
harvest_host_key(const char *url)
{
	return host_key(url);
}

struct polite_host *
polite_host(struct polite *p, const char *url)
{
	struct polite_host *h;
	char		   *key;

	key = host_key(url);
	LIST_FOREACH (h, &p->hosts, entry)
		if (strcmp(h->key, key) == 0) {
			free(key);
			return h;
		}
	h = xcalloc(1, sizeof(*h));
	h->p = p;
	h->key = key;
	TAILQ_INIT(&h->queue);
	h->timer = evtimer_new(p->base, on_host_timer, h);
	h->last_end_ms = -1;
	LIST_INSERT_HEAD(&p->hosts, h, entry);
	return h;
}

const char *
polite_host_key(const struct polite_host *h)
{
	return h->key;
}

int64_t
polite_until(const struct polite_host *h)
{
	return h->until;
}

int64_t
polite_regate(struct polite_host *h)
{
	h->until = INT64_MAX;
	if (h->p->gate != NULL)
		h->until = h->p->gate(h->p->gate_arg, h->key);
	return h->until;
}

/* When may w send, given the host's last request? */
static int64_t
host_start_at(const struct polite_host *h, const struct polite_wait *w)
{
	int64_t t = w->ready_ms;

	if (h->last_end_ms >= 0 && h->last_end_ms + w->delay_ms > t)
		t = h->last_end_ms + w->delay_ms;
	return t;
}

/*
 * Arm the host's timer for the earliest moment a waiting job may send.
 * Requests always start from the timer, never from the caller's stack.
 */
static void
host_arm(struct polite_host *h)
{
	struct polite_wait *w;
	struct timeval	    tv;
	int64_t		    t, best = -1, now;

	if (h->holder != NULL)
		return;
	TAILQ_FOREACH (w, &h->queue, entry) {
		t = host_start_at(h, w);
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
	struct polite_host *h = arg;
	struct polite_wait *w, *pick = NULL;
	struct timeval	    tv;
	int64_t		    now = mono_ms(), t, best = -1;

	if (h->holder != NULL)
		return;
	/* The waiting job that may send first; the oldest on a tie. */
	TAILQ_FOREACH (w, &h->queue, entry) {
		t = host_start_at(h, w);
		if (best < 0 || t < best) {
			best = t;
			pick = w;
		}
	}
	if (pick == NULL)
		return;
	if (best > now) {
		host_arm(h);
		return;
	}
	/* Several daemons: is the host (still) ours to send to? */
	h->until = INT64_MAX;
	if (h->p->gate != NULL &&
	    (h->until = h->p->gate(h->p->gate_arg, h->key)) <= now) {
		tv.tv_sec = POLITE_GATE_RETRY_MS / 1000;
		tv.tv_usec = (POLITE_GATE_RETRY_MS % 1000) * 1000;
		evtimer_add(h->timer, &tv);
		return;
	}
	TAILQ_REMOVE(&h->queue, pick, entry);
	pick->queued = 0;
	h->holder = pick;
	pick->start(pick->arg);
}

void
polite_release(struct polite_host *h)
{
	h->holder = NULL;
	h->last_end_ms = mono_ms();
	host_arm(h);
}

void
polite_queue(struct polite_host *h, struct polite_wait *w, long long ms)
{
	w->ready_ms = mono_ms() + ms;
	if (!w->queued) {
		TAILQ_INSERT_TAIL(&h->queue, w, entry);
		w->queued = 1;
	}
	host_arm(h);
}

void
polite_leave(struct polite_host *h, struct polite_wait *w)
{
	if (w->queued) {
		TAILQ_REMOVE(&h->queue, w, entry);
		w->queued = 0;
	}
	if (h->holder == w)
		polite_release(h);
	else
		host_arm(h);
}
