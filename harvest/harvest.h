/*
 * The harvest engine: OAI-PMH sessions driven by one libevent loop, with
 * libcurl's multi-socket API on the same loop, so that many sources can
 * harvest at once in one thread.  The one-shot CLI and the daemon use the
 * same engine.
 */
#ifndef OH_HARVEST_H
#define OH_HARVEST_H

#include <stddef.h>
#include <stdint.h>

#include "oai.h"
#include "store.h"
#include "window.h"

struct event_base;
struct harvest_engine;
struct harvest_job;

/* Global settings of the engine; any pointer may be NULL. */
struct harvest_options {
	const char *user_agent;		/* NULL: oaiharvest/VERSION */
	const char *contact;		/* From: header */
	const char *ca_file;		/* CA bundle for TLS verification */
	long long   timeout;		/* whole request, seconds; 0: default */
	long long   max_response_bytes; /* 0: MAX_RESPONSE_BYTES */
	long long   retry_base_ms;   /* first retry delay; 0: BACKOFF_BASE s */
	int	    max_tries;	     /* tries per request; 0: default */
	long long   retry_after_max; /* seconds; 0: RETRY_AFTER_MAX */
};

/* What to harvest.  Strings are copied by harvest_start(). */
struct harvest_source {
	const char	  *name;
	const char	  *url;
	const char *const *prefixes; /* none: oai_dc */
	size_t		   nprefixes;
	const char *const *sets; /* none: whole repository */
	size_t		   nsets;
	const char	  *from;	    /* explicit from, or NULL */
	const char	  *until;	    /* explicit until, or NULL */
	int		   from_is_initial; /* from applies only when
						    no watermark exists */
	long long	   delay_ms;	    /* between two requests */
	/*
	 * The next from is the repository's own clock at the start of the
	 * list (its responseDate) minus this many seconds, so that records
	 * indexed late are not missed; -1: the high-water datestamp.
	 */
	long long overlap;
	/*
	 * Deletion sweeps (ListIdentifiers over a whole-repository list):
	 * seconds between two; 0 never; -1 weekly when Identify says the
	 * repository keeps no deletions (deletedRecord no or transient).
	 */
	long long reconcile;
	/*
	 * Harvest each list as a run of date windows of this unit (from the
	 * watermark, or the earliest datestamp, to the repository's clock or
	 * until); a window the repository refuses (times out, 5xx) is halved
	 * down to window_min seconds (0: a day).  WINDOW_NONE: one request
	 * for everything.
	 */
	enum window_unit window;
	long long	 window_min;
	/*
	 * The source's repository moved to url (DSpace 7: /server/oai): keep
	 * its records, watermarks and changes.  Without it a url other than
	 * the stored one is refused: one source, one repository.
	 */
	int move;
	/*
	 * Follow a redirect to another host or port (follow_redirects =
	 * any); by default only to the same host and port (or from http to
	 * https on the same host).
	 */
	int follow_redirects_any;
	/*
	 * Several daemons: the host lease (harvest_host_key()) the run is
	 * harvested under, and its gen; a page is written only while the
	 * lease is still the same (store_lease_held()).  NULL: none.
	 */
	const char *lease;
	int64_t	    lease_gen;
};

/* What a finished run reports. */
struct harvest_result {
	const char	      *source;
	int		       ok;    /* 1: every list completed */
	const char	      *error; /* cause when !ok */
	int64_t		       run_id;
	struct store_run_stats stats;
	long long	       lists;	   /* lists completed */
	long long	       repairs;	   /* bytes dropped before parsing */
	long long	       retries;	   /* requests tried again */
	long long	       narrowed;   /* windows halved */
	long long	       rejects;	   /* malformed records set aside */
	long long	       normalized; /* datestamps not in OAI's form */
	/*
	 * The repository refused us (HTTP 403, or its bot protection
	 * challenged us): the OAI-PMH harvester guidelines say stop until an
	 * operator acts.
	 */
	int	    forbidden;
	const char *warnings; /* "; "-separated, or NULL */
	/*
	 * When !ok, what kind of failure: network, http, parse, oai,
	 * protocol, store, limit, forbidden, blocked (a bot wall's
	 * challenge: forbidden is set too), cancelled, other.
	 */
	const char *error_type;
	double	    seconds;
};

typedef void (*harvest_done_cb)(const struct harvest_result *, void *);

/* Hooks for whoever counts (the daemon's metrics); any may be NULL. */
struct harvest_observer {
	/*
	 * A request ended: the source's host (scheme://host:port, no
	 * credentials), its HTTP status (0: none), decoded bytes.
	 */
	void (*on_request)(void *, const char *source, const char *host,
	    long status, long long bytes);
	/* A page was committed with this many changes. */
	void (*on_commit)(void *, const char *source, long long changes);
	/*
	 * Progress of the list in flight: records received so far in it and
	 * the completeListSize the repository announced (-1: unknown).
	 */
	void (*on_page)(void *, const char *source, const char *prefix,
	    const char *set, long long records, long long size);
};

struct harvest_engine *harvest_engine_new(struct event_base *, struct store *,
    const struct harvest_options *, char **cause);
void		       harvest_engine_free(struct harvest_engine *);
void		       harvest_engine_observe(
		      struct harvest_engine *, const struct harvest_observer *, void *);
/*
 * The gate, for several daemons (daemon/lease.c): before a request to host
 * (harvest_host_key()) starts, until when (mono_ms()) may it run?
 * INT64_MAX: no end; a time not after now: not now (the engine asks again
 * every 100 ms).  A request still out at its end is aborted and sent again
 * once the gate allows (that try does not count).  The engine knows no
 * more of leases than this.  NULL: no gate.
 */
typedef int64_t (*harvest_gate_cb)(void *, const char *host);
void harvest_engine_gate(struct harvest_engine *, harvest_gate_cb, void *);
/* The versions of libcurl and libxml2 in use, for the daemon's metrics. */
const char *harvest_curl_version(void);
const char *harvest_xml_version(void);

/*
 * Start a run for a source: Identify, then each (metadataPrefix, set) list
 * page by page, each page one transaction.  done is called once from the
 * loop when the run ends (also on failure, and when the store refuses the
 * source, e.g. a url other than its own without move: then run_id is 0);
 * the job is freed after it.  NULL with *cause only for bad arguments (an
 * unreadable from or until).
 */
struct harvest_job *harvest_start(struct harvest_engine *,
    const struct harvest_source *, harvest_done_cb, void *, char **cause);
/*
 * Stop a running job now: the transfer is aborted, nothing of the page in
 * flight is written, the run is recorded as failed ("cancelled") and done
 * is called before this returns.
 */
void harvest_cancel(struct harvest_job *);

/*
 * One OAI-PMH request through the engine, for `oaiharvest identify` and
 * friends: fetch url and feed the response to a parser with the given
 * callbacks; done gets the parser (for the token, error, ...) or NULL and a
 * cause when the request or the parse failed.
 */
typedef void (*harvest_request_cb)(
    struct oai_parser *, const char *cause, void *);
int harvest_request(struct harvest_engine *, const char *url,
    const struct oai_callbacks *, void *cbarg, harvest_request_cb, void *,
    char **cause);

/* Is this body (its first bytes) an HTML page rather than XML? */
int harvest_looks_html(const char *, size_t);
/*
 * Whose bot protection answered (a challenge header as fetch names it, or
 * a challenge page's marks in an HTML body): "Cloudflare", "AWS WAF",
 * "Anubis", ..., or NULL.
 */
const char *harvest_bot_wall(const char *header_wall, const char *, size_t);

/*
 * The key of url's host, as politeness keys hosts: scheme://host:port,
 * lowercased (allocated).
 */
char *harvest_host_key(const char *url);

/* Build base?verb=...&k=v... with every value percent-encoded. */
char *harvest_url(const char *base, const char *verb, ...);

/*
 * Pure policy: milliseconds to wait before try number `attempt` (1-based,
 * the try that failed) given the failure, honouring Retry-After up to
 * retry_after_max seconds; -1 means do not retry.
 */
long long harvest_retry_delay(long status, int curl_failed,
    long long retry_after, long long retry_after_max, int attempt,
    int max_tries, long long base_ms, unsigned int jitter_seed);

#endif
