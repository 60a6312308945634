/*
 * Politeness per host: every job whose URL has the same scheme, host and
 * port shares one host, so that at most one request is in flight to it and
 * requests are spaced by the job's delay.  Requests always start from the
 * host's timer, never from the caller's stack.  Private to harvest/.
 */
#ifndef OH_POLITE_H
#define OH_POLITE_H

#include <stdint.h>

#include <sys/queue.h>

struct event_base;
struct polite;
struct polite_host;

/* One job's place at a host; embedded in the job, zeroed at first. */
struct polite_wait {
	TAILQ_ENTRY(polite_wait) entry;
	int	  queued;
	int64_t	  ready_ms;    /* not before (a backoff) */
	long long delay_ms;    /* after the host's last end */
	void (*start)(void *); /* send now */
	void *arg;
};

struct polite *polite_new(struct event_base *);
void	       polite_free(struct polite *);
/*
 * The gate (harvest_engine_gate()): asked before each request starts;
 * while it says no, the host asks again every POLITE_GATE_RETRY_MS.
 */
void polite_gate(struct polite *, int64_t (*)(void *, const char *), void *);
/* Until when (mono_ms()) the request the host just started may run. */
int64_t polite_until(const struct polite_host *);
/*
 * That time come, the gate asked again for the request still out (a
 * renewal may have moved it on): the new end, INT64_MAX without a gate.
 */
int64_t polite_regate(struct polite_host *);
/* The host of url (created on first use, kept until polite_free()). */
struct polite_host *polite_host(struct polite *, const char *url);
/* Its key: scheme://host:port, lowercased. */
const char *polite_host_key(const struct polite_host *);
/* Wait ms (a retry's backoff), then for the host, then w->start. */
void polite_queue(struct polite_host *, struct polite_wait *, long long ms);
/* The request w->start sent ended: the next waiting job may go. */
void polite_release(struct polite_host *);
/* w is going away: out of the queue, and the host free if it held it. */
void polite_leave(struct polite_host *, struct polite_wait *);

#endif
