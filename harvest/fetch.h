/*
 * HTTP fetching for the harvest module: libcurl's multi-socket API on a
 * libevent loop (as in curl's docs/examples/multi-event.c).  Private to
 * harvest/.
 */
#ifndef OH_FETCH_H
#define OH_FETCH_H

#include <stddef.h>

struct event_base;
struct fetch;
struct fetch_req;

struct fetch_options {
	const char *user_agent;
	const char *contact;
	const char *ca_file;
	long long   timeout; /* seconds */
	long long   max_response_bytes;
};

struct fetch_result {
	int	    ok;		 /* transfer completed, status 200 */
	long	    status;	 /* HTTP status, 0 if none */
	int	    curl_failed; /* a transport error (not HTTP) */
	int	    sink_failed; /* the data callback refused */
	int	    over_limit;	 /* larger than max_response_bytes */
	long long   retry_after; /* seconds, 0 if none */
	long long   bytes;	 /* body bytes after decoding */
	const char *cause;	 /* one line when !ok */
	const char *url;	 /* effective URL */
	/*
	 * The body's first bytes (HEAD_BYTES_OK of a 200, HEAD_BYTES_ERROR
	 * of any other status), whole_head when that is all of it.
	 */
	const char *head;
	size_t	    head_len;
	int	    whole_head;
	/* A bot wall's challenge header: "Cloudflare", "AWS WAF", or NULL. */
	const char *wall;
};

/* Return -1 to abort the transfer (the result then has sink_failed). */
typedef int (*fetch_data_cb)(void *, const char *, size_t);
typedef void (*fetch_done_cb)(void *, const struct fetch_result *);

struct fetch *fetch_new(
    struct event_base *, const struct fetch_options *, char **cause);
void fetch_free(struct fetch *);

/* Where a redirect may lead (follow_redirects). */
enum fetch_redirects {
	FETCH_REDIRECT_SAME_HOST = 0, /* same host and port; http->https */
	FETCH_REDIRECT_ANY,
};

/*
 * Start a GET.  data gets the body of a 200 response only, chunk by chunk
 * (the result keeps the first bytes of any body);
 * done is called once, from the loop, never from inside fetch_start().
 * Redirects are followed (at most MAX_REDIRECTS) where the policy allows;
 * one it does not ends the request with a cause that says so.
 */
struct fetch_req *fetch_start(struct fetch *, const char *url,
    enum fetch_redirects, fetch_data_cb, fetch_done_cb, void *, char **cause);
/* Abort a transfer; done is not called. */
void fetch_cancel(struct fetch_req *);

/*
 * Some servers send gzip without saying so (no Content-Encoding), so
 * libcurl hands the compressed bytes through: a body whose first bytes
 * are gzip's magic is inflated on its way to fn, with the same cap on the
 * decompressed size (max bytes); any other goes to fn as it is.  One per
 * job, reset for each request; name is for the log.
 */
struct fetch_gunzip;
struct fetch_gunzip *fetch_gunzip_new(long long max, const char *name);
void		     fetch_gunzip_free(struct fetch_gunzip *);
void		     fetch_gunzip_reset(struct fetch_gunzip *);
/*
 * -1 when fn returned -1, or with *cause when the body does not inflate
 * or grows past max.
 */
int fetch_gunzip_feed(struct fetch_gunzip *, const char *, size_t,
    int (*fn)(void *, const char *, size_t), void *, char **cause);

/* Percent-encode s for a query string (RFC 3986 unreserved kept). */
char *fetch_escape(const char *);

#endif
