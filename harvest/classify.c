/*
 * Response policy (see classify.h): the tables of HTTP statuses and OAI
 * error codes, the retry delay, and the sniffing of bot walls and HTML
 * pages.  Pure: no state, no I/O.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "classify.h"
#include "harvest.h"
#include "oh_limits.h"
#include "util.h"

/* What an HTTP status says, when the response is not usable. */
#define ST_RETRY     0x01 /* worth another try, with backoff */
#define ST_PACE	     0x02 /* its Retry-After is the wait */
#define ST_NARROW    0x04 /* a window's first page: ask for less */
#define ST_FORBIDDEN 0x08 /* the repository refuses us */

/*
 * 503 and 429 say when to come back (Retry-After); other server errors,
 * timeouts and unparsable 200 pages are retried with exponential backoff
 * and jitter; other statuses (403, 404, ...) are final: the OAI-PMH
 * harvester guidelines ask a harvester not to hammer on.  A repository
 * that cannot answer a wide selective request fails with a 5xx on its
 * first page: ask for half the window (but a 503 with Retry-After is the
 * repository pacing us, not refusing the window).  The first row that
 * holds the status wins.
 */
static const struct status_rule {
	long	     lo;
	long	     hi;
	unsigned int flags;
} status_rules[] = {
	{ 200, 200, ST_RETRY },
	{ 403, 403, ST_FORBIDDEN },
	{ 408, 408, ST_RETRY },
	{ 429, 429, ST_RETRY | ST_PACE },
	{ 500, 500, ST_RETRY | ST_NARROW },
	{ 502, 502, ST_RETRY | ST_NARROW },
	{ 503, 503, ST_RETRY | ST_PACE | ST_NARROW },
	{ 504, 504, ST_RETRY | ST_NARROW },
	{ 500, 599, ST_RETRY },
};

/* What an OAI error code means for a list. */
#define OC_LIST_END   0x01 /* the list has nothing (more) */
#define OC_TOKEN_LOST 0x02 /* after a token: it expired */

static const struct oai_code_rule {
	const char	      *name;
	enum classify_oai_code code;
	unsigned int	       flags;
} oai_codes[] = {
	{ "badArgument", OAI_ERR_BAD_ARGUMENT, 0 },
	{ "badResumptionToken", OAI_ERR_BAD_RESUMPTION_TOKEN, OC_TOKEN_LOST },
	{ "badVerb", OAI_ERR_BAD_VERB, 0 },
	{ "cannotDisseminateFormat", OAI_ERR_CANNOT_DISSEMINATE_FORMAT, 0 },
	{ "idDoesNotExist", OAI_ERR_ID_DOES_NOT_EXIST, 0 },
	/*
	 * Some servers end a list with noRecordsMatch for the token after
	 * the last page; others answer it for a token they lost.
	 */
	{ "noRecordsMatch", OAI_ERR_NO_RECORDS_MATCH,
	    OC_LIST_END | OC_TOKEN_LOST },
	{ "noMetadataFormats", OAI_ERR_NO_METADATA_FORMATS, 0 },
	{ "noSetHierarchy", OAI_ERR_NO_SET_HIERARCHY, 0 },
};

static const char *const action_names[] = {
	"ok",
	"no_records",
	"restart",
	"retry",
	"narrow",
	"fail",
	"forbidden",
	"blocked",
	"limit",
};

static unsigned int
status_flags(long status)
{
	size_t i;

	for (i = 0; i < nitems(status_rules); i++)
		if (status >= status_rules[i].lo &&
		    status <= status_rules[i].hi)
			return status_rules[i].flags;
	return 0;
}

static const struct oai_code_rule *
oai_code_rule(const char *name)
{
	size_t i;

	for (i = 0; i < nitems(oai_codes); i++)
		if (strcmp(oai_codes[i].name, name) == 0)
			return &oai_codes[i];
	return NULL;
}

enum classify_oai_code
classify_oai_code(const char *name)
{
	const struct oai_code_rule *r;

	if (name == NULL)
		return OAI_ERR_NONE;
	r = oai_code_rule(name);
	return r != NULL ? r->code : OAI_ERR_OTHER;
}

const char *
classify_action_name(enum classify_action a)
{
	if ((size_t)a >= nitems(action_names))
		return "?";
	return action_names[a];
}

long long
harvest_retry_delay(long status, int curl_failed, long long retry_after,
    long long retry_after_max, int attempt, int max_tries, long long base_ms,
    unsigned int seed)
{
	unsigned int f = status_flags(status);
	long long    ms;
	int	     i;

	if (attempt >= max_tries)
		return -1;
	if ((f & ST_PACE) && retry_after > 0) {
		if (retry_after > retry_after_max)
			retry_after = retry_after_max;
		return retry_after * 1000;
	}
	if (!curl_failed && !(f & ST_RETRY))
		return -1;
	ms = base_ms;
	for (i = 1; i < attempt && ms < BACKOFF_MAX * 1000LL; i++)
		ms *= 2;
	if (ms > BACKOFF_MAX * 1000LL)
		ms = BACKOFF_MAX * 1000LL;
	/* Up to a quarter more, so that many sources do not retry together. */
	seed = seed * 1103515245u + 12345u;
	ms += (long long)((seed >> 8) % (unsigned int)(ms / 4 + 1));
	return ms;
}

/* A usable response (or an OAI error document): what its error says. */
static void
classify_answer(const struct classify_in *in, struct classify_out *out)
{
	const struct oai_code_rule *r;
	unsigned int		    f;

	if (in->oai_error == NULL || in->phase == CLASSIFY_REQUEST) {
		out->action = CLASSIFY_OK;
		return;
	}
	r = oai_code_rule(in->oai_error);
	f = r != NULL ? r->flags : 0;
	out->error_type = "oai";
	out->action = CLASSIFY_FAIL;
	switch (in->phase) {
	case CLASSIFY_SWEEP:
		if (f & OC_LIST_END)
			out->action = CLASSIFY_NO_RECORDS;
		break;
	case CLASSIFY_LIST:
	case CLASSIFY_WINDOW:
		/*
		 * An end after a token is believed only when the count
		 * agrees: short of the announced completeListSize it is a
		 * lost token, and the list starts again from the watermark.
		 */
		if ((f & OC_LIST_END) && (!in->has_token || !in->count_short))
			out->action = CLASSIFY_NO_RECORDS;
		else if ((f & OC_TOKEN_LOST) && in->has_token &&
		    in->can_restart)
			out->action = CLASSIFY_RESTART;
		break;
	default:
		break;
	}
	if (out->action != CLASSIFY_FAIL)
		out->error_type = NULL;
}

void
classify(const struct classify_in *in, struct classify_out *out)
{
	unsigned int f = status_flags(in->status);

	memset(out, 0, sizeof(*out));
	out->delay_ms = -1;
	out->code = classify_oai_code(in->oai_error);
	if (!in->failed) {
		classify_answer(in, out);
		return;
	}
	/* A challenge answers every try alike: stop, as for a 403. */
	if (in->wall != NULL) {
		out->action = CLASSIFY_BLOCKED;
		out->error_type = "blocked";
		return;
	}
	/*
	 * An OAI-PMH error document is that OAI error whatever the HTTP
	 * status it came with: Zenodo sends noRecordsMatch, badArgument,
	 * idDoesNotExist and badResumptionToken with 422, others use 400, 404
	 * or 500.  A 503 or 429 with Retry-After stays flow control.
	 */
	if (in->oai_error != NULL && !in->transfer_ok &&
	    !((f & ST_PACE) && in->retry_after > 0)) {
		classify_answer(in, out);
		out->error_body = 1;
		return;
	}
	out->html = in->status == 200 && in->html;
	if (in->phase == CLASSIFY_REQUEST) {
		out->action = CLASSIFY_FAIL;
		out->error_type = "other";
		return;
	}
	/* The same page would be as large again: no retry. */
	if (in->own_limit || in->over_limit) {
		out->action = CLASSIFY_LIMIT;
		out->error_type = "limit";
		return;
	}
	if (f & ST_FORBIDDEN) {
		out->action = CLASSIFY_FORBIDDEN;
		out->error_type = "forbidden";
		return;
	}
	if (in->sink_failed || in->transfer_ok)
		out->error_type = "parse";
	else if (in->curl_failed)
		out->error_type = "network";
	else if (in->status != 200 && in->status != 0)
		out->error_type = "http";
	else
		out->error_type = "limit";
	out->delay_ms = harvest_retry_delay(in->status, in->curl_failed,
	    in->retry_after, in->retry_after_max, in->attempt, in->max_tries,
	    in->base_ms, in->seed);
	if (in->phase == CLASSIFY_WINDOW &&
	    (in->curl_failed ||
		((f & ST_NARROW) && !((f & ST_PACE) && in->retry_after > 0)))) {
		out->action = CLASSIFY_NARROW;
		return;
	}
	out->action = out->delay_ms < 0 ? CLASSIFY_FAIL : CLASSIFY_RETRY;
}

/* Sniffing: what a response is, when it is not the answer asked for */

/* memmem, ASCII case folded. */
static const char *
memcase(const char *p, size_t len, const char *needle)
{
	size_t n = strlen(needle), i;

	for (i = 0; n <= len && i <= len - n; i++)
		if (strncasecmp(p + i, needle, n) == 0)
			return p + i;
	return NULL;
}

int
harvest_looks_html(const char *p, size_t len)
{
	if (p == NULL)
		return 0;
	if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) {
		p += 3;
		len -= 3;
	}
	while (
	    len > 0 && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) {
		p++;
		len--;
	}
	return (len >= 14 && strncasecmp(p, "<!DOCTYPE html", 14) == 0) ||
	    (len >= 5 && strncasecmp(p, "<html", 5) == 0 &&
		(len == 5 || p[5] == '>' || p[5] == ' ' || p[5] == '\n' ||
		    p[5] == '\r' || p[5] == '\t'));
}

/*
 * Whose bot protection answered instead of the repository: its challenge
 * header, or the marks of its challenge page in an HTML body (of any
 * status: Anubis answers 200).  NULL for anything else.
 */
const char *
harvest_bot_wall(const char *header_wall, const char *head, size_t len)
{
	static const struct {
		const char *mark;
		const char *wall;
	} marks[] = {
		{ "/cdn-cgi/challenge-platform/", "Cloudflare" },
		{ "_cf_chl_opt", "Cloudflare" },
		{ "<title>Just a moment...</title>", "Cloudflare" },
		{ "<title>Attention Required! | Cloudflare</title>",
		    "Cloudflare" },
		{ "awswaf", "AWS WAF" },
		{ "AwsWafIntegration", "AWS WAF" },
		{ "anubis_challenge", "Anubis" },
		{ "/.within.website/", "Anubis" },
		{ "ddos-guard", "DDoS-Guard" },
	};
	size_t i;

	if (header_wall != NULL)
		return header_wall;
	if (!harvest_looks_html(head, len))
		return NULL;
	for (i = 0; i < nitems(marks); i++)
		if (memcase(head, len, marks[i].mark) != NULL)
			return marks[i].wall;
	return NULL;
}
