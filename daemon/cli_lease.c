/*
 * The one-shot `oaiharvest harvest` beside daemons that share the database
 * with leases (leases = yes; daemon/lease.c): while any daemon is alive
 * (a node row not expired), a run takes its host's lease first, as a
 * daemon would, so that no daemon harvests the host at the same time; its
 * pages are fenced by the lease's gen, it renews the lease every third of
 * CLI_LEASE_TTL, and gives it back at the end with the time before which
 * the next holder may not send: the end plus the source's delay, or plus
 * CLI_LEASE_GAP (a daemon's default delay) when that is longer, since a
 * one-shot run's own delay is 0 by default and the daemons' is not.  A host
 * a daemon holds is refused, naming that daemon.  Without live daemons
 * nothing changes.
 *
 * Its requests are gated as a daemon's are (harvest_engine_gate()): none
 * starts after, and none is left out at, the monotonic time its last
 * successful take or renewal was sent plus CLI_LEASE_TTL less a sixth of
 * it, so that a run whose renewals fail stops sending before the lease
 * the database holds can lapse and go to a daemon.  A renewal that works
 * opens the gate again; once the lease has lapsed with the renewals
 * failing, or another holder has it, the run is lost and fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "cli.h"
#include "harvest.h"
#include "log.h"
#include "store.h"
#include "util.h"

/* ms: the lease of a one-shot run, renewed every third of it. */
#define CLI_LEASE_TTL 30000
/* ms: the longest wait for the last holder's next_ms. */
#define CLI_LEASE_WAIT_MAX 60000
/* ms: at least this between our last request and the next holder's. */
#define CLI_LEASE_GAP 1000

struct cli_lease {
	struct store *store;
	struct event *timer;
	char	     *host;
	char	     *holder;
	char	     *node;
	int64_t	      gen;
	long long     delay_ms;
	int64_t	      until_mono; /* requests may run until then */
	int	      gated;	  /* the gate said no (logged once) */
	int	      lost;
	void (*on_lost)(void *, const char *);
	void *lost_arg;
};

static int64_t gate(void *, const char *);
static void    lose(struct cli_lease *, const char *);

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct who {
	const char *host;
	char	   *node;
	int64_t	    expires_ms;
};

static int
find_holder(void *arg, const struct store_lease *l)
{
	struct who *w = arg;

	if (strcmp(l->host, w->host) == 0 && l->holder != NULL) {
		w->node = xstrdup(l->node != NULL ? l->node : l->holder);
		w->expires_ms = l->expires_ms;
		return -1;
	}
	return 0;
}

/* Until when a lease taken or renewed by a request sent at sent holds. */
static int64_t
lease_until(int64_t sent)
{
	return sent + CLI_LEASE_TTL - CLI_LEASE_TTL / 6;
}

/*
 * Taking our own lease again renews it (same gen), without a node row.  A
 * failure to reach the database leaves the gate to close at until_mono;
 * another holder, another gen, or a lapse (by our clock) loses the run.
 */
static void
on_renew(evutil_socket_t fd, short what, void *arg)
{
	struct cli_lease	*c = arg;
	struct store_lease_grant g;
	char			*cause = NULL;
	int64_t			 sent = mono_ms();
	int			 rc;

	if (c->lost)
		return;
	rc = store_lease_take(
	    c->store, c->host, c->holder, c->node, CLI_LEASE_TTL, &g, &cause);
	if (rc == 1 && g.gen == c->gen) {
		c->until_mono = lease_until(sent);
		c->gated = 0;
	} else if (rc == 1 || rc == 0)
		lose(c, "another holder has it");
	else {
		log_warn("event=lease_error op=renew host=%s cause=%s",
		    log_q(c->host), log_q(cause));
		if (mono_ms() >= c->until_mono + CLI_LEASE_TTL / 6)
			lose(c, "it lapsed: the renewals failed");
	}
	free(cause);
}

static void
lose(struct cli_lease *c, const char *why)
{
	if (c->lost)
		return;
	c->lost = 1;
	log_warn("event=lease_lost host=%s gen=%lld cause=%s", log_q(c->host),
	    (long long)c->gen, log_q(why));
	if (c->on_lost != NULL)
		c->on_lost(c->lost_arg, why);
}

/* The engine's gate: see the top of the file. */
static int64_t
gate(void *arg, const char *host)
{
	struct cli_lease *c = arg;

	if (c->lost)
		return 0;
	/* A host the run holds no lease of (none other is leased). */
	if (strcmp(host, c->host) != 0)
		return INT64_MAX;
	if (c->until_mono > mono_ms())
		return c->until_mono;
	if (!c->gated) {
		c->gated = 1;
		log_warn("event=lease_expiring host=%s gen=%lld late_ms=%lld",
		    log_q(c->host), (long long)c->gen,
		    (long long)(mono_ms() - c->until_mono));
	}
	return 0;
}

void
cli_lease_gate(struct cli_lease *c, struct harvest_engine *e,
    void (*lost)(void *, const char *), void		  *arg)
{
	c->on_lost = lost;
	c->lost_arg = arg;
	harvest_engine_gate(e, gate, c);
}

static void
cli_lease_free(struct cli_lease *c)
{
	if (c->timer != NULL)
		event_free(c->timer);
	free(c->host);
	free(c->holder);
	free(c->node);
	free(c);
}

int
cli_lease_take(struct store *store, struct event_base *base,
    struct harvest_source *hs, struct cli_lease **out, char **cause)
{
	struct cli_lease	*c;
	struct store_lease_grant g;
	struct who		 w;
	struct timeval		 tv;
	char			 host[256], when[DATESTAMP_LEN];
	int64_t			 ready, sent, slept = 0;
	int			 n, rc;

	*out = NULL;
	/* A backend without leases has no daemons sharing it with leases. */
	if (!store_has_leases(store))
		return 0;
	if ((n = store_lease_nodes(store, cause)) == -1)
		return -1;
	if (n == 0)
		return 0;
	c = xcalloc(1, sizeof(*c));
	c->store = store;
	c->host = harvest_host_key(hs->url);
	c->delay_ms = hs->delay_ms;
	if (gethostname(host, sizeof(host)) == -1)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	xasprintf(&c->holder, "cli-%s-%ld", host, (long)getpid());
	xasprintf(&c->node, "oaiharvest harvest on %s", host);
	sent = mono_ms();
	rc = store_lease_take(
	    store, c->host, c->holder, c->node, CLI_LEASE_TTL, &g, cause);
	if (rc == 0) {
		memset(&w, 0, sizeof(w));
		w.host = c->host;
		/* Stopped by find_holder() once found. */
		(void)store_leases(store, find_holder, &w, NULL);
		datestamp_format(
		    (time_t)(w.expires_ms / 1000), GRAN_SECONDS, when);
		xasprintf(cause,
		    "the host %s is harvested by the daemon %s (its lease "
		    "runs to %s unless renewed); try again later",
		    c->host, w.node != NULL ? w.node : "(unknown)", when);
		free(w.node);
	}
	if (rc != 1) {
		cli_lease_free(c);
		return -1;
	}
	c->gen = g.gen;
	c->until_mono = lease_until(sent);
	hs->lease = c->host;
	hs->lease_gen = c->gen;
	log_info("event=lease_taken host=%s gen=%lld", log_q(c->host),
	    (long long)c->gen);
	/* The last holder's politeness: wait as a daemon would. */
	ready = g.next_ms;
	if (g.lapsed_ms > 0 && g.lapsed_ms + c->delay_ms > ready)
		ready = g.lapsed_ms + c->delay_ms;
	if (ready > wall_ms() + CLI_LEASE_WAIT_MAX)
		ready = wall_ms() + CLI_LEASE_WAIT_MAX;
	while (ready > wall_ms()) {
		slept += ready - wall_ms();
		usleep((useconds_t)((ready - wall_ms()) * 1000));
	}
	c->timer = event_new(base, -1, EV_PERSIST, on_renew, c);
	/* A long wait: renewed before the first request, not a third on. */
	if (slept >= CLI_LEASE_TTL / 3)
		on_renew(-1, 0, c);
	tv.tv_sec = CLI_LEASE_TTL / 3 / 1000;
	tv.tv_usec = (CLI_LEASE_TTL / 3 % 1000) * 1000;
	event_add(c->timer, &tv);
	*out = c;
	return 1;
}

void
cli_lease_release(struct cli_lease *c)
{
	char *cause = NULL;

	if (c == NULL)
		return;
	if (store_lease_release(c->store, c->host, c->holder,
		wall_ms() +
		    (c->delay_ms > CLI_LEASE_GAP ? c->delay_ms : CLI_LEASE_GAP),
		&cause) == -1) {
		log_warn("event=lease_error op=release host=%s cause=%s",
		    log_q(c->host), log_q(cause));
		free(cause);
	} else
		log_info("event=lease_released host=%s", log_q(c->host));
	cli_lease_free(c);
}
