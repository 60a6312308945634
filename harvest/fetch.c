#include <sys/queue.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <libxml/parser.h>
#include <zlib.h>

#include "fetch.h"
#include "harvest.h"
#include "log.h"
#include "oh_limits.h"
#include "util.h"

struct sock_ctx {
	struct event *ev;
	curl_socket_t fd;
	struct fetch *f;
};

struct fetch_req {
	TAILQ_ENTRY(fetch_req) entry;
	struct fetch	    *f;
	CURL		    *easy;
	struct curl_slist   *headers;
	fetch_data_cb	     on_data;
	fetch_done_cb	     on_done;
	void		    *arg;
	long		     status;
	int		     status_known;
	int		     sink_failed;
	int		     over_limit;
	long long	     bytes;
	int64_t		     deadline_ms; /* mono_ms() */
	int		     timed_out;	  /* in the data callback */
	enum fetch_redirects redirects;
	int		     hops;
	char		    *refused; /* a redirect not followed */
	char		    *head;    /* the body's first bytes */
	size_t		     head_len;
	int		     head_cut;
	char		     errbuf[CURL_ERROR_SIZE];
};

TAILQ_HEAD(fetch_reqs, fetch_req);

struct fetch {
	struct event_base *base;
	CURLM		  *multi;
	struct event	  *timer;
	struct fetch_reqs  reqs;
	char		  *user_agent;
	char		  *from;
	char		  *ca_file;
	long long	   timeout;
	long long	   max_bytes;
};

/* libcurl callbacks */
static int    sock_cb(CURL *, curl_socket_t, int, void *, void *);
static int    timer_cb(CURLM *, long, void *);
static size_t write_cb(char *, size_t, size_t, void *);

/* libevent callbacks */
static void on_socket(evutil_socket_t, short, void *);
static void on_timeout(evutil_socket_t, short, void *);

static void check_done(struct fetch *);
static void req_free(struct fetch_req *);
static int  redirect(struct fetch_req *, CURL *);
static int  same_host(const char *, const char *);

static int curl_inited;

struct fetch *
fetch_new(struct event_base *base, const struct fetch_options *o, char **cause)
{
	struct fetch *f;

	if (!curl_inited) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
			*cause = xstrdup("fetch: curl_global_init failed");
			return NULL;
		}
		curl_inited = 1;
	}
	f = xcalloc(1, sizeof(*f));
	f->base = base;
	TAILQ_INIT(&f->reqs);
	if ((f->multi = curl_multi_init()) == NULL) {
		free(f);
		*cause = xstrdup("fetch: curl_multi_init failed");
		return NULL;
	}
	f->timer = evtimer_new(base, on_timeout, f);
	curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f);
	curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f);
	if (o->user_agent != NULL)
		f->user_agent = xstrdup(o->user_agent);
	else
		f->user_agent = xstrdup(
		    "oaiharvest/" OH_VERSION " (OAI-PMH harvester; libcurl)");
	if (o->contact != NULL)
		xasprintf(&f->from, "From: %s", o->contact);
	if (o->ca_file != NULL)
		f->ca_file = xstrdup(o->ca_file);
	f->timeout = o->timeout > 0 ? o->timeout : REQUEST_TIMEOUT;
	f->max_bytes = o->max_response_bytes > 0 ?
	    o->max_response_bytes :
	    (long long)MAX_RESPONSE_BYTES;
	return f;
}

void
fetch_free(struct fetch *f)
{
	struct fetch_req *r;

	if (f == NULL)
		return;
	while ((r = TAILQ_FIRST(&f->reqs)) != NULL)
		fetch_cancel(r);
	/* Cached connections close here and may still call sock_cb. */
	curl_multi_cleanup(f->multi);
	event_free(f->timer);
	free(f->user_agent);
	free(f->from);
	free(f->ca_file);
	free(f);
}

char *
fetch_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	struct buf	  b;
	unsigned char	  c;
	char		  pct[3];

	buf_init(&b, SIZE_MAX / 2);
	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~')
			buf_addch(&b, c);
		else {
			pct[0] = '%';
			pct[1] = hex[c >> 4];
			pct[2] = hex[c & 0xf];
			buf_add(&b, pct, 3);
		}
	}
	if (b.data == NULL)
		return xstrdup("");
	return b.data;
}

struct fetch_req *
fetch_start(struct fetch *f, const char *url, enum fetch_redirects redirects,
    fetch_data_cb on_data, fetch_done_cb on_done, void *arg, char **cause)
{
	struct fetch_req *r;
	CURLMcode	  mc;

	if (strncasecmp(url, "http://", 7) != 0 &&
	    strncasecmp(url, "https://", 8) != 0) {
		xasprintf(cause, "fetch: only http and https URLs: %s", url);
		return NULL;
	}
	r = xcalloc(1, sizeof(*r));
	r->f = f;
	r->on_data = on_data;
	r->on_done = on_done;
	r->arg = arg;
	r->redirects = redirects;
	r->deadline_ms = mono_ms() + f->timeout * 1000;
	if ((r->easy = curl_easy_init()) == NULL) {
		free(r);
		*cause = xstrdup("fetch: curl_easy_init failed");
		return NULL;
	}
	curl_easy_setopt(r->easy, CURLOPT_URL, url);
	curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
	curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
	/* Only the web, also after a redirect: no file://, ftp://, ... */
	curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(r->easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	/* Redirects are followed by hand, where the policy allows: redirect(). */
	curl_easy_setopt(r->easy, CURLOPT_FOLLOWLOCATION, 0L);
	/* Every encoding libcurl decodes; the byte cap counts decoded bytes. */
	curl_easy_setopt(r->easy, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYHOST, 2L);
	if (f->ca_file != NULL)
		curl_easy_setopt(r->easy, CURLOPT_CAINFO, f->ca_file);
	curl_easy_setopt(
	    r->easy, CURLOPT_CONNECTTIMEOUT, (long)CONNECT_TIMEOUT);
	curl_easy_setopt(
	    r->easy, CURLOPT_LOW_SPEED_LIMIT, (long)LOW_SPEED_LIMIT);
	curl_easy_setopt(r->easy, CURLOPT_LOW_SPEED_TIME, (long)LOW_SPEED_TIME);
	curl_easy_setopt(r->easy, CURLOPT_TIMEOUT, (long)f->timeout);
	curl_easy_setopt(
	    r->easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)f->max_bytes);
	curl_easy_setopt(r->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(r->easy, CURLOPT_USERAGENT, f->user_agent);
	if (f->from != NULL) {
		r->headers = curl_slist_append(NULL, f->from);
		curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
	}
	if ((mc = curl_multi_add_handle(f->multi, r->easy)) != CURLM_OK) {
		xasprintf(cause, "fetch: %s", curl_multi_strerror(mc));
		curl_easy_cleanup(r->easy);
		curl_slist_free_all(r->headers);
		free(r);
		return NULL;
	}
	TAILQ_INSERT_TAIL(&f->reqs, r, entry);
	return r;
}

void
fetch_cancel(struct fetch_req *r)
{
	curl_multi_remove_handle(r->f->multi, r->easy);
	req_free(r);
}

static void
req_free(struct fetch_req *r)
{
	TAILQ_REMOVE(&r->f->reqs, r, entry);
	curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->headers);
	free(r->head);
	free(r->refused);
	free(r);
}

/*
 * The first bytes of a body, whatever its status, so that the caller can
 * tell what it is when it is not the XML it asked for.
 */
static void
keep_head(struct fetch_req *r, const char *p, size_t len)
{
	size_t cap = r->status == 200 ? HEAD_BYTES_OK : HEAD_BYTES_ERROR;
	size_t n;

	if (r->head_len >= cap) {
		r->head_cut = 1;
		return;
	}
	if (r->head == NULL)
		r->head = xmalloc(cap);
	n = len < cap - r->head_len ? len : cap - r->head_len;
	memcpy(r->head + r->head_len, p, n);
	r->head_len += n;
	if (n < len)
		r->head_cut = 1;
}

/*
 * Bodies arrive here decoded.  Only a 200 body goes to the parser; others
 * are counted and kept up to HEAD_BYTES_ERROR (the caller reads an OAI-PMH
 * error document in them, or the status says what went wrong).  libcurl
 * 7.88 does not stop a transfer of unannounced size at CURLOPT_MAXFILESIZE,
 * and a gzip bomb announces nothing, so the cap is enforced here on
 * decoded bytes.
 */
static size_t
write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct fetch_req *r = arg;
	size_t		  len = size * n;

	if (!r->status_known) {
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
		r->status_known = 1;
	}
	if ((long long)len > r->f->max_bytes - r->bytes) {
		r->over_limit = 1;
		return CURL_WRITEFUNC_ERROR;
	}
	r->bytes += len;
	keep_head(r, p, len);
	if (r->status != 200)
		return len;
	if (r->on_data(r->arg, p, len) == -1) {
		r->sink_failed = 1;
		return CURL_WRITEFUNC_ERROR;
	}
	/*
	 * The parse happens here, inside libcurl: its own timeout is only
	 * looked at between two callbacks, so a body that is slow to parse
	 * is held to the request's time limit here too.
	 */
	if (mono_ms() > r->deadline_ms) {
		r->timed_out = 1;
		return CURL_WRITEFUNC_ERROR;
	}
	return len;
}

/*
 * A bot wall says so in a header: Cloudflare's challenge
 * (cf-mitigated: challenge), AWS WAF's (x-amzn-waf-action).
 */
static const char *
wall_header(CURL *easy)
{
	struct curl_header *h;

	if (curl_easy_header(easy, "cf-mitigated", 0, CURLH_HEADER, -1, &h) ==
		CURLHE_OK &&
	    strcasecmp(h->value, "challenge") == 0)
		return "Cloudflare";
	if (curl_easy_header(easy, "x-amzn-waf-action", 0, CURLH_HEADER, -1,
		&h) == CURLHE_OK)
		return "AWS WAF";
	return NULL;
}

/* Summarise a failed transfer in one line. */
static char *
describe(struct fetch_req *r, CURLcode code)
{
	char *s;

	if (r->over_limit)
		xasprintf(
		    &s, "response larger than %lld bytes", r->f->max_bytes);
	else if (r->timed_out)
		xasprintf(&s,
		    "timed out after %lld s (while parsing the "
		    "response)",
		    r->f->timeout);
	else if (r->refused != NULL)
		s = xstrdup(r->refused);
	else if (code == CURLE_OK && r->status != 200)
		xasprintf(&s, "HTTP status %ld", r->status);
	else if (r->errbuf[0] != '\0' &&
	    strstr(r->errbuf, curl_easy_strerror(code)) == NULL)
		xasprintf(&s, "%s (%s)", r->errbuf, curl_easy_strerror(code));
	else if (r->errbuf[0] != '\0')
		/* curl's message often ends with its code's text already. */
		s = xstrdup(r->errbuf);
	else
		xasprintf(&s, "%s", curl_easy_strerror(code));
	return s;
}

static void
check_done(struct fetch *f)
{
	struct fetch_result res;
	struct fetch_req   *r;
	CURLMsg		   *msg;
	CURLcode	    code;
	CURL		   *easy;
	curl_off_t	    ra = 0;
	char		   *cause = NULL, *url = NULL;
	int		    left;

	while ((msg = curl_multi_info_read(f->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		/* msg does not survive curl_multi_remove_handle(). */
		easy = msg->easy_handle;
		code = msg->data.result;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&r);
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r->status);
		if (code == CURLE_OK && redirect(r, easy))
			continue;
		curl_easy_getinfo(easy, CURLINFO_RETRY_AFTER, &ra);
		curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &url);
		memset(&res, 0, sizeof(res));
		res.status = r->status;
		/* Before curl 8.12 a past HTTP-date gives a negative value. */
		res.retry_after = ra < 0 ?
		    0 :
		    (ra > RETRY_AFTER_MAX ? RETRY_AFTER_MAX : (long long)ra);
		res.bytes = r->bytes;
		/* A Content-Length over the cap stops curl before a byte. */
		if (code == CURLE_FILESIZE_EXCEEDED)
			r->over_limit = 1;
		res.sink_failed = r->sink_failed;
		res.over_limit = r->over_limit;
		res.ok = code == CURLE_OK && r->status == 200;
		res.curl_failed =
		    code != CURLE_OK && !r->sink_failed && !r->over_limit;
		/* Shown in causes, logs and the database: no password. */
		url = url != NULL ? url_redact(url) : xstrdup("");
		res.url = url;
		res.head = r->head;
		res.head_len = r->head_len;
		res.whole_head = !r->head_cut && code == CURLE_OK;
		res.wall = wall_header(easy);
		if (!res.ok) {
			cause = describe(r, code);
			res.cause = cause;
		}
		curl_multi_remove_handle(f->multi, easy);
		r->on_done(r->arg, &res);
		req_free(r);
		free(cause);
		free(url);
		cause = url = NULL;
	}
}

/*
 * A 3xx with a Location: follow it when the policy allows, on the same
 * handle.  Returns 1 when the request goes on, 0 when this response is the
 * result (then r->refused may say why it was not followed).
 */
static int
redirect(struct fetch_req *r, CURL *easy)
{
	char *to = NULL, *from = NULL, *shown;

	if (r->status < 300 || r->status > 399 ||
	    curl_easy_getinfo(easy, CURLINFO_REDIRECT_URL, &to) != CURLE_OK ||
	    to == NULL ||
	    curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &from) !=
		CURLE_OK ||
	    from == NULL)
		return 0;
	if (r->hops >= MAX_REDIRECTS) {
		xasprintf(&r->refused,
		    "more than MAX_REDIRECTS (%d) "
		    "redirects",
		    MAX_REDIRECTS);
		return 0;
	}
	if (strncasecmp(to, "http://", 7) != 0 &&
	    strncasecmp(to, "https://", 8) != 0) {
		xasprintf(&r->refused,
		    "redirect to %.200s refused: only "
		    "http and https",
		    to);
		return 0;
	}
	if (r->redirects == FETCH_REDIRECT_SAME_HOST && !same_host(from, to)) {
		shown = url_redact(to);
		xasprintf(&r->refused,
		    "redirect to %.200s refused: another "
		    "host or port (follow_redirects = same-host)",
		    shown);
		free(shown);
		return 0;
	}
	log_debug("event=redirect from=%s to=%s status=%ld", log_qurl(from),
	    log_qurl(to), r->status);
	to = xstrdup(to);
	curl_multi_remove_handle(r->f->multi, easy);
	curl_easy_setopt(easy, CURLOPT_URL, to);
	free(to);
	r->hops++;
	r->status = 0;
	r->status_known = 0;
	r->bytes = 0;
	r->head_len = 0;
	r->head_cut = 0;
	r->errbuf[0] = '\0';
	if (curl_multi_add_handle(r->f->multi, easy) != CURLM_OK) {
		xasprintf(&r->refused,
		    "redirect: curl_multi_add_handle "
		    "failed");
		return 0;
	}
	return 1;
}

/*
 * The same host (as libcurl normalizes it: case, IPv4 forms such as
 * 0x7f000001) and the same port; or the same host going from http on its
 * default port to https on its default port, an upgrade.
 */
static int
same_host(const char *a, const char *b)
{
	CURLU *ua, *ub;
	char  *ha = NULL, *hb = NULL, *pa = NULL, *pb = NULL;
	char  *sa = NULL, *sb = NULL;
	int    same = 0;

	ua = curl_url();
	ub = curl_url();
	if (ua == NULL || ub == NULL)
		fatalx("curl_url failed");
	if (curl_url_set(ua, CURLUPART_URL, a, 0) == CURLUE_OK &&
	    curl_url_set(ub, CURLUPART_URL, b, 0) == CURLUE_OK &&
	    curl_url_get(ua, CURLUPART_HOST, &ha, 0) == CURLUE_OK &&
	    curl_url_get(ub, CURLUPART_HOST, &hb, 0) == CURLUE_OK &&
	    curl_url_get(ua, CURLUPART_PORT, &pa, CURLU_DEFAULT_PORT) ==
		CURLUE_OK &&
	    curl_url_get(ub, CURLUPART_PORT, &pb, CURLU_DEFAULT_PORT) ==
		CURLUE_OK &&
	    curl_url_get(ua, CURLUPART_SCHEME, &sa, 0) == CURLUE_OK &&
	    curl_url_get(ub, CURLUPART_SCHEME, &sb, 0) == CURLUE_OK &&
	    strcasecmp(ha, hb) == 0)
		same = strcmp(pa, pb) == 0 ||
		    (strcasecmp(sa, "http") == 0 && strcmp(pa, "80") == 0 &&
			strcasecmp(sb, "https") == 0 && strcmp(pb, "443") == 0);
	curl_free(ha);
	curl_free(hb);
	curl_free(pa);
	curl_free(pb);
	curl_free(sa);
	curl_free(sb);
	curl_url_cleanup(ua);
	curl_url_cleanup(ub);
	return same;
}

static void
on_socket(evutil_socket_t fd, short what, void *arg)
{
	struct sock_ctx *sc = arg;
	struct fetch	*f = sc->f;
	int		 flags = 0, running;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(f->multi, fd, flags, &running);
	/*
	 * Leave the timer alone even when nothing runs: a done callback may
	 * have started the next transfer, which armed it.
	 */
	check_done(f);
}

static void
on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct fetch *f = arg;
	int	      running;

	curl_multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(f);
}

/*
 * libcurl says which sockets to watch.  The context belongs to the socket,
 * not the transfer: on HTTP/2 one socket carries many transfers.
 */
static int
sock_cb(CURL *easy, curl_socket_t s, int action, void *userp, void *sockp)
{
	struct fetch	*f = userp;
	struct sock_ctx *sc = sockp;
	short		 events = 0;

	if (action == CURL_POLL_REMOVE) {
		if (sc != NULL) {
			event_del(sc->ev);
			event_free(sc->ev);
			free(sc);
			curl_multi_assign(f->multi, s, NULL);
		}
		return 0;
	}
	if (action == CURL_POLL_IN || action == CURL_POLL_INOUT)
		events |= EV_READ;
	if (action == CURL_POLL_OUT || action == CURL_POLL_INOUT)
		events |= EV_WRITE;
	if (events == 0)
		return -1;
	events |= EV_PERSIST;
	if (sc == NULL) {
		sc = xcalloc(1, sizeof(*sc));
		sc->f = f;
		sc->fd = s;
		sc->ev = event_new(f->base, s, events, on_socket, sc);
		curl_multi_assign(f->multi, s, sc);
	} else {
		event_del(sc->ev);
		event_assign(sc->ev, f->base, s, events, on_socket, sc);
	}
	event_add(sc->ev, NULL);
	return 0;
}

/*
 * One timer for the whole multi handle.  A zero timeout must not call back
 * into libcurl from here (it recurses): arm the timer and let the loop do it.
 */
static int
timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct fetch  *f = userp;
	struct timeval tv;

	if (timeout_ms < 0) {
		evtimer_del(f->timer);
		return 0;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evtimer_add(f->timer, &tv);
	return 0;
}

/* Gzip bodies without Content-Encoding */

struct fetch_gunzip {
	char	 *name;
	long long max;
	int	  sniffed;
	int	  active; /* inflating */
	z_stream  zs;
	long long inflated;
};

struct fetch_gunzip *
fetch_gunzip_new(long long max, const char *name)
{
	struct fetch_gunzip *g;

	g = xcalloc(1, sizeof(*g));
	g->max = max;
	g->name = xstrdup(name);
	return g;
}

void
fetch_gunzip_reset(struct fetch_gunzip *g)
{
	if (g->active)
		inflateEnd(&g->zs);
	g->active = g->sniffed = 0;
	g->inflated = 0;
}

void
fetch_gunzip_free(struct fetch_gunzip *g)
{
	if (g == NULL)
		return;
	fetch_gunzip_reset(g);
	free(g->name);
	free(g);
}

static int
gunzip_inflate(struct fetch_gunzip *g, const char *p, size_t len,
    int (*fn)(void *, const char *, size_t), void *arg, char **cause)
{
	unsigned char out[16384];
	size_t	      n;
	int	      r;

	g->zs.next_in = (unsigned char *)(uintptr_t)p;
	g->zs.avail_in = (unsigned int)len;
	do {
		g->zs.next_out = out;
		g->zs.avail_out = sizeof(out);
		r = inflate(&g->zs, Z_NO_FLUSH);
		if (r != Z_OK && r != Z_STREAM_END && r != Z_BUF_ERROR) {
			xasprintf(cause,
			    "gzip body without "
			    "Content-Encoding does not inflate: %s",
			    g->zs.msg != NULL ? g->zs.msg : "corrupt");
			return -1;
		}
		n = sizeof(out) - g->zs.avail_out;
		g->inflated += (long long)n;
		if (g->inflated > g->max) {
			xasprintf(cause,
			    "response larger than %lld "
			    "bytes once inflated",
			    g->max);
			return -1;
		}
		if (n > 0 && fn(arg, (char *)out, n) == -1)
			return -1;
		if (r == Z_STREAM_END)
			break;
	} while (g->zs.avail_in > 0 || g->zs.avail_out == 0);
	return 0;
}

int
fetch_gunzip_feed(struct fetch_gunzip *g, const char *p, size_t len,
    int (*fn)(void *, const char *, size_t), void *arg, char **cause)
{
	if (!g->sniffed && len > 0) {
		g->sniffed = 1;
		if ((unsigned char)p[0] == 0x1f &&
		    (len < 2 || (unsigned char)p[1] == 0x8b)) {
			memset(&g->zs, 0, sizeof(g->zs));
			if (inflateInit2(&g->zs, 16 + MAX_WBITS) != Z_OK)
				fatalx("inflateInit2 failed");
			g->active = 1;
			log_debug(
			    "event=gzip_sniffed source=%s", log_q(g->name));
		}
	}
	if (g->active)
		return gunzip_inflate(g, p, len, fn, arg, cause);
	return fn(arg, p, len);
}

const char *
harvest_curl_version(void)
{
	return curl_version_info(CURLVERSION_NOW)->version;
}

/* libxml2 says its version as a number, 21004 for 2.10.4. */
const char *
harvest_xml_version(void)
{
	static char v[32];
	long long   n;
	const char *errstr;

	if (v[0] == '\0') {
		if (parse_ll(xmlParserVersion, 0, 999999, &n, &errstr) == -1)
			n = LIBXML_VERSION;
		snprintf(v, sizeof(v), "%lld.%lld.%lld", n / 10000,
		    n / 100 % 100, n % 100);
	}
	return v;
}
