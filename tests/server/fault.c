/*
 * Fault injection: a queue of faults, armed with POST /control/fault or
 * --fault, each of which breaks some later /oai responses in one of the ways
 * real repositories fail (see tests/server/README.md).  A request gets at
 * most one fault: the first in queue order that is due and applies to it.
 * This file decides; main.c, oaipmh.c and stream.c carry out the plan.
 */
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "log.h"
#include "server.h"

#define FAULT_JSON_MAX 4096

/* The parameters a fault may take; the first three say when it fires. */
enum fparam {
	FP_AT,
	FP_PAGE,
	FP_COUNT,
	FP_RETRY_AFTER,
	FP_RETRY_AFTER_DATE,
	FP_BYTES,
	FP_SECONDS,
	FP_RECORD,
	FP_VARIANT,
	FP_MB,
	FP_GZIPBOMB,
	FP_CHUNKED,
	FP_DELTA,
	FP_HOPS,
	FP_STATUS,
	FP_WALL,
	FP_PORT,
	FP_N
};
#define P(p)	  (1U << (p))
#define P_TRIGGER (P(FP_AT) | P(FP_PAGE) | P(FP_COUNT))
#define P_RETRY	  (P(FP_RETRY_AFTER) | P(FP_RETRY_AFTER_DATE))
/* The kind that takes hops= is the one that loops (redirect_loop). */
#define LOOPS(k) (((k)->params & P(FP_HOPS)) != 0)

#define TEN_YEARS 315360000LL

static const struct fparam_def {
	const char *name;
	long long   min;
	long long   max;
	long long   def;
} fparams[FP_N] = {
	[FP_AT] = { "at", 1, 1000000000000LL, 1 },
	[FP_PAGE] = { "page", 0, SRV_MAX_RECORDS, -1 },
	[FP_COUNT] = { "count", 0, 1000000000, 1 },
	[FP_RETRY_AFTER] = { "retry_after", 0, TEN_YEARS, -1 },
	[FP_RETRY_AFTER_DATE] = { "retry_after_date", -TEN_YEARS, TEN_YEARS,
	    0 },
	[FP_BYTES] = { "bytes", 0, SRV_MAX_PAGE_BYTES, -1 },
	[FP_SECONDS] = { "seconds", 0, SRV_MAX_STALL, 30 },
	[FP_RECORD] = { "record", 0, SRV_MAX_PAGE_SIZE - 1, 0 },
	[FP_VARIANT] = { "variant", 0, 2, 0 },
	[FP_MB] = { "mb", 1, SRV_MAX_FAULT_MB, 300 },
	[FP_GZIPBOMB] = { "gzipbomb", 0, 1, 0 },
	[FP_CHUNKED] = { "chunked", 0, 1, 0 },
	[FP_DELTA] = { "delta", -1000000000, 1000000000, 7 },
	[FP_HOPS] = { "hops", 0, 1000000000, 0 },
	[FP_STATUS] = { "status", 200, 599, 422 },
	[FP_WALL] = { "wall", 0, 2, 0 },
	[FP_PORT] = { "port", 1, 65535, 0 },
};

/* challenge's bot walls, by FP_WALL value (server.h, enum fault_wall). */
static const char *const walls[] = { "cloudflare", "aws", "anubis" };

/* badrecord's variants, by FP_VARIANT value. */
static const struct {
	const char	    *name;
	enum oaipmh_mut_kind mut;
} variants[] = {
	{ "noid", MUT_NOID },
	{ "baddate", MUT_BADDATE },
	{ "tworoots", MUT_TWOROOTS },
};

/* Which requests a kind can break; others pass it by, not using it up. */
enum fapply {
	APPLY_ANY,     /* any /oai request */
	APPLY_HEADERS, /* ListRecords, ListIdentifiers, GetRecord */
	APPLY_RECORDS, /* ListRecords, GetRecord */
	APPLY_LIST,    /* a list page (any token must parse) */
	APPLY_TOKEN,   /* a list page asked for with a token */
};

#define K_HTTP(n, st) \
	{ \
		.name = (n), .params = P_RETRY, .status = (st), \
		.body = FBODY_HTML \
	}
#define K_WIRE(n, p, w) \
	{ \
		.name = (n), .params = (p), .status = 200, .wire = (w) \
	}
#define K_ENC(n, e) \
	{ \
		.name = (n), .status = 200, .enc = (e) \
	}
#define K_MUT(n, p, a, m, b) \
	{ \
		.name = (n), .params = (p), .apply = (a), .status = 200, \
		.mut = (m), .inject = (b) \
	}

/* Unset fields: any request, the OAI body, no encoding, sent by evhttp. */
static const struct fault_kind {
	const char	    *name;
	unsigned int	     params;
	enum fapply	     apply;
	int		     status;
	enum fault_body	     body;
	enum fault_enc	     enc;
	enum fault_wire	     wire;
	enum oaipmh_mut_kind mut;
	const char	    *inject; /* MUT_INJECT's bytes */
} kinds[] = {
	K_HTTP("http503", 503),
	K_HTTP("http429", 429),
	K_HTTP("http500", 500),
	K_HTTP("http502", 502),
	K_HTTP("http504", 504),
	K_HTTP("http403", 403),
	K_HTTP("http404", 404),
	{ .name = "html200", .status = 200, .body = FBODY_HTML },
	K_WIRE("reset", P(FP_BYTES), FWIRE_RESET),
	K_WIRE("truncate", P(FP_BYTES), FWIRE_TRUNCATE),
	K_WIRE("stall", P(FP_BYTES) | P(FP_SECONDS), FWIRE_STALL),
	K_WIRE("oversize", P(FP_MB) | P(FP_GZIPBOMB) | P(FP_CHUNKED),
	    FWIRE_OVERSIZE),
	K_ENC("gzip", FENC_GZIP),
	K_ENC("deflate", FENC_DEFLATE),
	K_ENC("gzip_noheader", FENC_GZIP_NOHEADER),
	{ .name = "redirect",
	    .params = P(FP_PORT),
	    .status = 302,
	    .body = FBODY_REDIRECT },
	{ .name = "redirect_loop",
	    .params = P(FP_HOPS),
	    .status = 302,
	    .body = FBODY_REDIRECT },
	K_MUT("ctrlchars", P(FP_RECORD), APPLY_RECORDS, MUT_INJECT,
	    "\x01\x0b\x1f"),
	K_MUT("badchars", P(FP_RECORD), APPLY_RECORDS, MUT_INJECT,
	    "\xef\xbf\xbe&#xD800;"),
	K_MUT("badencoding", P(FP_RECORD), APPLY_RECORDS, MUT_INJECT,
	    "\xc3\x28\xff"),
	K_MUT("badrecord", P(FP_RECORD) | P(FP_VARIANT), APPLY_HEADERS,
	    MUT_NOID, NULL),
	K_MUT("same_token", 0, APPLY_LIST, MUT_SAME_TOKEN, NULL),
	K_MUT("empty_token", P(FP_DELTA), APPLY_LIST, MUT_EMPTY_TOKEN, NULL),
	K_MUT("expire_token", 0, APPLY_TOKEN, MUT_EXPIRE_TOKEN, NULL),
	K_MUT("past_end", 0, APPLY_TOKEN, MUT_PAST_END, NULL),
	K_MUT("wrong_cls", P(FP_DELTA), APPLY_LIST, MUT_WRONG_CLS, NULL),
	/* The OAI response as usual, OAI errors included, under status=. */
	{ .name = "oai_status", .params = P(FP_STATUS), .status = 422 },
	{ .name = "challenge",
	    .params = P(FP_WALL),
	    .status = 403,
	    .body = FBODY_CHALLENGE },
};

static const struct {
	int	    status;
	const char *reason;
} reasons[] = {
	{ 200, "OK" },
	{ 202, "Accepted" },
	{ 302, "Found" },
	{ 400, "Bad Request" },
	{ 403, "Forbidden" },
	{ 404, "Not Found" },
	{ 422, "Unprocessable Content" },
	{ 429, "Too Many Requests" },
	{ 500, "Internal Server Error" },
	{ 502, "Bad Gateway" },
	{ 503, "Service Unavailable" },
	{ 504, "Gateway Timeout" },
};

struct fault {
	TAILQ_ENTRY(fault) entry;
	unsigned int		 id;
	const struct fault_kind *kind;
	long long		 param[FP_N];
	unsigned int		 given; /* P() of the given ones */
	unsigned long long	 due;	/* /oai request number */
	unsigned long long	 fired;
	char			*loop_url; /* redirect_loop, looping */
	unsigned long long	 hops;
};

struct faults {
	TAILQ_HEAD(, fault) q;
	size_t		   n;
	unsigned int	   next_id;
	unsigned long long seq; /* /oai requests so far */
	unsigned long long fired;
};

static int param_parse(
    struct fault *, const char *, const char *, const char **);
static int  fault_active(const struct fault *);
static int  fault_applies(const struct fault *, const struct oaipmh_req *);
static void fault_plan(const struct fault *, struct fault_plan *);
static void fault_remove(struct faults *, struct fault *);

struct faults *
faults_new(void)
{
	struct faults *fs;

	fs = xcalloc(1, sizeof(*fs));
	TAILQ_INIT(&fs->q);
	fs->next_id = 1;
	return fs;
}

void
faults_free(struct faults *fs)
{
	if (fs == NULL)
		return;
	faults_clear(fs);
	free(fs);
}

static void
fault_remove(struct faults *fs, struct fault *f)
{
	TAILQ_REMOVE(&fs->q, f, entry);
	fs->n--;
	free(f->loop_url);
	free(f);
}

void
faults_clear(struct faults *fs)
{
	struct fault *f;

	while ((f = TAILQ_FIRST(&fs->q)) != NULL)
		fault_remove(fs, f);
}

/*
 * One name=value.  The cause names the parameter; it lives in a static
 * buffer until the next call (one loop, one thread).
 */
static int
param_parse(
    struct fault *f, const char *name, const char *value, const char **cause)
{
	static char msg[160];
	const char *errstr;
	char	    safe[32];
	size_t	    p, i;

	for (i = 0; i + 1 < sizeof(safe) && name[i] != '\0'; i++)
		safe[i] = name[i] > 0x20 && name[i] < 0x7f ? name[i] : '?';
	safe[i] = '\0';
	*cause = msg;
	for (p = 0; p < FP_N; p++)
		if (strcmp(name, fparams[p].name) == 0)
			break;
	if (p == FP_N || ((P_TRIGGER | f->kind->params) & P(p)) == 0) {
		snprintf(msg, sizeof(msg), "%s: not a parameter of kind %s",
		    safe, f->kind->name);
		return -1;
	}
	if (f->given & P(p)) {
		snprintf(msg, sizeof(msg), "%s: repeated", safe);
		return -1;
	}
	f->given |= P(p);
	if (p == FP_VARIANT) {
		for (i = 0; i < nitems(variants); i++)
			if (strcmp(value, variants[i].name) == 0)
				break;
		if (i == nitems(variants)) {
			snprintf(msg, sizeof(msg),
			    "variant: noid, baddate "
			    "or tworoots");
			return -1;
		}
		f->param[p] = (long long)i;
		return 0;
	}
	if (p == FP_WALL) {
		for (i = 0; i < nitems(walls); i++)
			if (strcmp(value, walls[i]) == 0)
				break;
		if (i == nitems(walls)) {
			snprintf(msg, sizeof(msg),
			    "wall: cloudflare, aws or "
			    "anubis");
			return -1;
		}
		f->param[p] = (long long)i;
		return 0;
	}
	if (parse_ll(value, fparams[p].min, fparams[p].max, &f->param[p],
		&errstr) == -1) {
		snprintf(msg, sizeof(msg), "%s: %s (%lld to %lld)", safe,
		    errstr, fparams[p].min, fparams[p].max);
		return -1;
	}
	return 0;
}

/*
 * Append a fault from its arguments: kind=, then when (at=, page=, count=)
 * and the kind's own parameters.  Unknown or repeated parameters are
 * errors, so that a typo in a test does not arm a different fault.
 */
int
faults_add(struct faults *fs, const struct form *args, unsigned int *id,
    const char **cause)
{
	struct fault *f, *old;
	const char   *name;
	size_t	      i, p;

	if ((name = form_get(args, "kind")) == NULL ||
	    form_count(args, "kind") != 1) {
		*cause = "exactly one kind= is required";
		return -1;
	}
	f = xcalloc(1, sizeof(*f));
	for (i = 0; i < nitems(kinds); i++)
		if (strcmp(name, kinds[i].name) == 0)
			f->kind = &kinds[i];
	if (f->kind == NULL) {
		*cause = "unknown fault kind";
		goto fail;
	}
	for (p = 0; p < FP_N; p++)
		f->param[p] = fparams[p].def;
	for (i = 0; i < args->n; i++) {
		if (strcmp(args->args[i].name, "kind") == 0)
			continue;
		if (param_parse(f, args->args[i].name, args->args[i].value,
			cause) == -1)
			goto fail;
	}
	if ((f->given & P(FP_AT)) && (f->given & P(FP_PAGE))) {
		*cause = "at= and page= exclude each other";
		goto fail;
	}
	if ((f->given & P_RETRY) == P_RETRY) {
		*cause = "retry_after= and retry_after_date= exclude "
			 "each other";
		goto fail;
	}
	if (fs->n == SRV_MAX_FAULTS) {
		/* Make room by forgetting the oldest fault that is done. */
		TAILQ_FOREACH (old, &fs->q, entry)
			if (!fault_active(old))
				break;
		if (old == NULL) {
			*cause = "the fault queue is full";
			goto fail;
		}
		fault_remove(fs, old);
	}
	f->id = fs->next_id++;
	f->due = fs->seq + (unsigned long long)f->param[FP_AT];
	TAILQ_INSERT_TAIL(&fs->q, f, entry);
	fs->n++;
	*id = f->id;
	log_info("msg=\"fault armed\" id=%u kind=%s due=%llu page=%lld "
		 "count=%lld",
	    f->id, f->kind->name, f->due, f->param[FP_PAGE],
	    f->param[FP_COUNT]);
	return 0;
fail:
	free(f);
	return -1;
}

/* "kind=http503,page=2,count=3": the arguments, comma-separated. */
int
faults_add_spec(struct faults *fs, const char *spec, const char **cause)
{
	struct form  args;
	unsigned int id;
	char	    *s, *p;
	int	     rc;

	s = xstrdup(spec);
	for (p = s; *p != '\0'; p++)
		if (*p == ',')
			*p = '&';
	rc = form_parse(&args, s, strlen(s), cause);
	free(s);
	if (rc == -1)
		return -1;
	rc = faults_add(fs, &args, &id, cause);
	form_free(&args);
	return rc;
}

static int
fault_active(const struct fault *f)
{
	return f->param[FP_COUNT] == 0 ||
	    f->fired < (unsigned long long)f->param[FP_COUNT];
}

static int
fault_applies(const struct fault *f, const struct oaipmh_req *rq)
{
	enum fapply a = f->kind->apply;

	if (f->kind->mut == MUT_NOID && f->param[FP_VARIANT] == 2)
		a = APPLY_RECORDS; /* tworoots needs metadata */
	switch (a) {
	case APPLY_ANY:
		return 1;
	case APPLY_HEADERS:
		return rq->valid && (rq->list || rq->verb == VERB_GETRECORD);
	case APPLY_RECORDS:
		return rq->valid &&
		    (rq->verb == VERB_LISTRECORDS ||
			rq->verb == VERB_GETRECORD);
	case APPLY_LIST:
		return rq->page >= 0;
	case APPLY_TOKEN:
		return rq->page >= 0 && rq->token;
	}
	return 0;
}

static void
fault_plan(const struct fault *f, struct fault_plan *plan)
{
	const struct fault_kind *k = f->kind;

	memset(plan, 0, sizeof(*plan));
	plan->id = f->id;
	plan->kind = k->name;
	plan->status = k->status;
	if (k->params & P(FP_STATUS))
		plan->status = (int)f->param[FP_STATUS];
	plan->wall = (enum fault_wall)f->param[FP_WALL];
	plan->body = k->body;
	plan->enc = k->enc;
	plan->wire = k->wire;
	plan->mut.kind = k->mut;
	if (k->mut == MUT_NOID)
		plan->mut.kind = variants[f->param[FP_VARIANT]].mut;
	plan->mut.bytes = k->inject;
	plan->mut.record = (size_t)f->param[FP_RECORD];
	plan->mut.delta = f->param[FP_DELTA];
	/* empty_token's delta moves its token's cursor: none unless asked. */
	if (k->mut == MUT_EMPTY_TOKEN && !(f->given & P(FP_DELTA)))
		plan->mut.delta = 0;
	if (f->given & P(FP_RETRY_AFTER))
		snprintf(plan->retry_after, sizeof(plan->retry_after), "%lld",
		    f->param[FP_RETRY_AFTER]);
	else if (f->given & P(FP_RETRY_AFTER_DATE))
		fault_http_date(
		    time(NULL) + (time_t)f->param[FP_RETRY_AFTER_DATE],
		    plan->retry_after);
	plan->bytes = f->param[FP_BYTES];
	plan->seconds = f->param[FP_SECONDS];
	plan->mb = f->param[FP_MB];
	plan->gzipbomb = (int)f->param[FP_GZIPBOMB];
	plan->chunked = (int)f->param[FP_CHUNKED];
	plan->port = (int)f->param[FP_PORT];
}

/*
 * Count one more /oai request and say which fault, if any, breaks it.  A
 * redirect loop, once started, holds on to its URL: every request for it
 * is sent round again (a hop, not a new firing) until hops= runs out.
 */
int
faults_take(struct faults *fs, const struct oaipmh_req *rq, const char *url,
    struct fault_plan *plan)
{
	struct fault	  *f;
	unsigned long long seq = ++fs->seq;

	TAILQ_FOREACH (f, &fs->q, entry) {
		if (f->loop_url == NULL || strcmp(f->loop_url, url) != 0)
			continue;
		f->hops++;
		log_info("msg=\"fault\" id=%u kind=%s request=%llu hop=%llu",
		    f->id, f->kind->name, seq, f->hops);
		if (f->param[FP_HOPS] != 0 &&
		    f->hops >= (unsigned long long)f->param[FP_HOPS]) {
			free(f->loop_url);
			f->loop_url = NULL;
		}
		fault_plan(f, plan);
		return 1;
	}
	TAILQ_FOREACH (f, &fs->q, entry) {
		if (!fault_active(f) || !fault_applies(f, rq))
			continue;
		if (f->param[FP_PAGE] >= 0 ? rq->page != f->param[FP_PAGE] :
					     seq < f->due)
			continue;
		f->fired++;
		fs->fired++;
		log_info("msg=\"fault\" id=%u kind=%s request=%llu page=%lld "
			 "fired=%llu",
		    f->id, f->kind->name, seq, rq->page, f->fired);
		if (LOOPS(f->kind)) {
			f->hops = 1;
			free(f->loop_url);
			f->loop_url =
			    f->param[FP_HOPS] == 1 ? NULL : xstrdup(url);
		}
		fault_plan(f, plan);
		return 1;
	}
	return 0;
}

unsigned long long
faults_fired(const struct faults *fs)
{
	return fs->fired;
}

/*
 * One JSON line per fault, done ones too (until clear-faults):
 * {"id":1,"kind":"http503","due":3,"page":null,"count":1,"fired":0,
 * "active":true,"params":{"retry_after":1}}
 */
void
faults_list(const struct faults *fs, struct evbuffer *out)
{
	const struct fault *f;
	struct buf	    b;
	size_t		    p;
	int		    e, first;

	buf_init(&b, FAULT_JSON_MAX);
	TAILQ_FOREACH (f, &fs->q, entry) {
		buf_reset(&b);
		e = buf_printf(
		    &b, "{\"id\":%u,\"kind\":\"%s\",", f->id, f->kind->name);
		if (f->param[FP_PAGE] >= 0)
			e |= buf_printf(&b, "\"due\":null,\"page\":%lld,",
			    f->param[FP_PAGE]);
		else
			e |= buf_printf(
			    &b, "\"due\":%llu,\"page\":null,", f->due);
		e |= buf_printf(&b,
		    "\"count\":%lld,\"fired\":%llu,"
		    "\"active\":%s,",
		    f->param[FP_COUNT], f->fired,
		    fault_active(f) || f->loop_url != NULL ? "true" : "false");
		if (LOOPS(f->kind))
			e |= buf_printf(&b, "\"hops\":%llu,\"looping\":%s,",
			    f->hops, f->loop_url != NULL ? "true" : "false");
		e |= buf_addstr(&b, "\"params\":{");
		first = 1;
		for (p = FP_COUNT + 1; p < FP_N; p++) {
			if ((f->given & P(p)) == 0)
				continue;
			if (p == FP_VARIANT)
				e |= buf_printf(&b, "%s\"%s\":\"%s\"",
				    first ? "" : ",", fparams[p].name,
				    variants[f->param[p]].name);
			else
				e |= buf_printf(&b, "%s\"%s\":%lld",
				    first ? "" : ",", fparams[p].name,
				    f->param[p]);
			first = 0;
		}
		e |= buf_addstr(&b, "}}\n");
		if (e != 0)
			fatalx("faults_list: line too long");
		evbuffer_add(out, b.data, b.len);
	}
	buf_free(&b);
}

/* The reason phrase of a status the faults use, or NULL. */
const char *
fault_reason(int status)
{
	size_t i;

	for (i = 0; i < nitems(reasons); i++)
		if (reasons[i].status == status)
			return reasons[i].reason;
	return NULL;
}

/* The small HTML page a proxy or a servlet container sends with an error. */
void
fault_html(struct evbuffer *out, int status)
{
	evbuffer_add_printf(out,
	    "<!DOCTYPE html>\n<html><head><title>%d %s"
	    "</title></head>\n<body><h1>%s</h1>\n<p>The oaiharvest test "
	    "server was asked to answer this way.</p></body></html>\n",
	    status, fault_reason(status), fault_reason(status));
}

/* RFC 7231's IMF-fixdate, in English whatever the locale. */
void
fault_http_date(time_t t, char *out)
{
	static const char *const days[] = {
		"Sun",
		"Mon",
		"Tue",
		"Wed",
		"Thu",
		"Fri",
		"Sat",
	};
	static const char *const months[] = {
		"Jan",
		"Feb",
		"Mar",
		"Apr",
		"May",
		"Jun",
		"Jul",
		"Aug",
		"Sep",
		"Oct",
		"Nov",
		"Dec",
	};
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL)
		fatalx("gmtime_r");
	snprintf(out, HTTP_DATE_LEN, "%s, %02d %s %04d %02d:%02d:%02d GMT",
	    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900,
	    tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/*
 * A bot wall's challenge instead of the answer: the status, the header
 * and the shape of page that Cloudflare, AWS WAF and Anubis send (written
 * after their public pages, trimmed; nothing in them is solved here).
 */
void
fault_challenge(struct evbuffer *out, enum fault_wall wall, int *status,
    const char **hname, const char **hvalue)
{
	switch (wall) {
	case WALL_CLOUDFLARE:
		*status = 403;
		*hname = "cf-mitigated";
		*hvalue = "challenge";
		evbuffer_add_printf(out,
		    "<!DOCTYPE html><html lang=\"en-US\">"
		    "<head><title>Just a moment...</title><meta "
		    "name=\"robots\" "
		    "content=\"noindex,nofollow\"></head><body><div class=\""
		    "main-wrapper\" role=\"main\"><noscript>Enable JavaScript "
		    "and cookies to "
		    "continue</noscript></div><script>(function()"
		    "{window._cf_chl_opt={cvId: '3',cZone: \"127.0.0.1\"};"
		    "var a = document.createElement('script');a.src = "
		    "'/cdn-cgi/"
		    "challenge-platform/h/g/orchestrate/chl_page/v1?ray=0';"
		    "document.getElementsByTagName('head')[0].appendChild(a);"
		    "}());</script></body></html>\n");
		break;
	case WALL_AWS:
		*status = 202;
		*hname = "x-amzn-waf-action";
		*hvalue = "challenge";
		evbuffer_add_printf(out,
		    "<!DOCTYPE html><html lang=\"en\"><head>"
		    "<meta charset=\"utf-8\"><title></title><script>"
		    "window.awsWafCookieDomainList = [];window.gokuProps = {"
		    "\"key\":\"AQID\",\"iv\":\"A6we\",\"context\":\"q0o\"};"
		    "</script><script src=\"https://0.edge.sdk.awswaf.com/0/"
		    "challenge.js\"></script></head><body><div id=\""
		    "challenge-container\"></div><noscript><h1>JavaScript is "
		    "disabled</h1></noscript></body></html>\n");
		break;
	case WALL_ANUBIS:
		*status = 200;
		*hname = NULL;
		*hvalue = NULL;
		evbuffer_add_printf(out,
		    "<!doctype html><html lang=\"en\"><head>"
		    "<title>Making sure you&#39;re not a bot!</title><link rel="
		    "\"stylesheet\" href=\"/.within.website/x/xess/xess.min.css"
		    "\"><script id=\"anubis_version\" "
		    "type=\"application/json\">"
		    "\"v1.17.0\"</script><script id=\"anubis_challenge\" type="
		    "\"application/json\">{\"challenge\":\"0f0e\",\"rules\":{"
		    "\"difficulty\":4}}</script></head><body><main><h1 id=\""
		    "title\" class=\"centered-div\">Making sure you&#39;re not "
		    "a "
		    "bot!</h1><p>Protected by <a href=\"https://github.com/"
		    "TecharoHQ/anubis\">Anubis</a></p></main></body></html>\n");
		break;
	}
}
