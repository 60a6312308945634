/*
 * Unit test of the response policy (harvest/classify.c): a table of
 * responses and phases, each with the action the harvest must take.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "classify.h"
#include "oh_limits.h"
#include "util.h"

#define P_ID	CLASSIFY_IDENTIFY
#define P_LIST	CLASSIFY_LIST
#define P_WIN	CLASSIFY_WINDOW
#define P_SWEEP CLASSIFY_SWEEP
#define P_REQ	CLASSIFY_REQUEST

/* What came back: the fields of classify_in a case sets. */
#define R_OK	  0x001 /* transfer_ok */
#define R_CURL	  0x002 /* curl_failed */
#define R_OVER	  0x004 /* over_limit */
#define R_SINK	  0x008 /* sink_failed */
#define R_FAILED  0x010 /* failed */
#define R_OWN	  0x020 /* own_limit */
#define R_HTML	  0x040 /* html */
#define R_TOKEN	  0x080 /* has_token */
#define R_SHORT	  0x100 /* count_short */
#define R_RESTART 0x200 /* can_restart */
#define R_LAST	  0x400 /* the last try */

static const struct tcase {
	const char	    *name;
	enum classify_phase  phase;
	long		     status;
	unsigned int	     r;
	long long	     retry_after;
	const char	    *code;
	const char	    *wall;
	enum classify_action want;
	const char	    *type;  /* error_type, or NULL */
	long long	     delay; /* -1 none, 0 backoff, else ms */
	int		     body;  /* error_body */
} cases[] = {
	{ "identify ok", P_ID, 200, R_OK, 0, NULL, NULL, CLASSIFY_OK, NULL, -1,
	    0 },
	{ "identify badVerb", P_ID, 200, R_OK, 0, "badVerb", NULL,
	    CLASSIFY_FAIL, "oai", -1, 0 },
	{ "list page", P_LIST, 200, R_OK, 0, NULL, NULL, CLASSIFY_OK, NULL, -1,
	    0 },
	{ "empty list", P_LIST, 200, R_OK, 0, "noRecordsMatch", NULL,
	    CLASSIFY_NO_RECORDS, NULL, -1, 0 },
	{ "end after token, count agrees", P_LIST, 200,
	    R_OK | R_TOKEN | R_RESTART, 0, "noRecordsMatch", NULL,
	    CLASSIFY_NO_RECORDS, NULL, -1, 0 },
	{ "end after token, count short", P_LIST, 200,
	    R_OK | R_TOKEN | R_SHORT | R_RESTART, 0, "noRecordsMatch", NULL,
	    CLASSIFY_RESTART, NULL, -1, 0 },
	{ "end after token, count short, no restarts", P_LIST, 200,
	    R_OK | R_TOKEN | R_SHORT, 0, "noRecordsMatch", NULL, CLASSIFY_FAIL,
	    "oai", -1, 0 },
	{ "expired token", P_LIST, 200, R_OK | R_TOKEN | R_RESTART, 0,
	    "badResumptionToken", NULL, CLASSIFY_RESTART, NULL, -1, 0 },
	{ "expired token, no restarts", P_LIST, 200, R_OK | R_TOKEN, 0,
	    "badResumptionToken", NULL, CLASSIFY_FAIL, "oai", -1, 0 },
	{ "badResumptionToken without token", P_LIST, 200, R_OK | R_RESTART, 0,
	    "badResumptionToken", NULL, CLASSIFY_FAIL, "oai", -1, 0 },
	{ "cannotDisseminateFormat", P_LIST, 200, R_OK, 0,
	    "cannotDisseminateFormat", NULL, CLASSIFY_FAIL, "oai", -1, 0 },
	{ "noSetHierarchy", P_WIN, 200, R_OK, 0, "noSetHierarchy", NULL,
	    CLASSIFY_FAIL, "oai", -1, 0 },
	{ "a code OAI-PMH does not define", P_LIST, 200, R_OK, 0, "fooBar",
	    NULL, CLASSIFY_FAIL, "oai", -1, 0 },
	{ "sweep ends", P_SWEEP, 200, R_OK | R_TOKEN, 0, "noRecordsMatch", NULL,
	    CLASSIFY_NO_RECORDS, NULL, -1, 0 },
	{ "sweep idDoesNotExist", P_SWEEP, 200, R_OK, 0, "idDoesNotExist", NULL,
	    CLASSIFY_FAIL, "oai", -1, 0 },
	{ "Zenodo's 422 noRecordsMatch", P_LIST, 422, R_FAILED, 0,
	    "noRecordsMatch", NULL, CLASSIFY_NO_RECORDS, NULL, -1, 1 },
	{ "400 badArgument", P_LIST, 400, R_FAILED, 0, "badArgument", NULL,
	    CLASSIFY_FAIL, "oai", -1, 1 },
	{ "503 Retry-After with an error body", P_LIST, 503, R_FAILED, 30,
	    "badArgument", NULL, CLASSIFY_RETRY, "http", 30000, 0 },
	{ "503 Retry-After past the max", P_LIST, 503, R_FAILED, 600, NULL,
	    NULL, CLASSIFY_RETRY, "http", 120000, 0 },
	{ "429 Retry-After", P_ID, 429, R_FAILED, 7, NULL, NULL, CLASSIFY_RETRY,
	    "http", 7000, 0 },
	{ "403", P_LIST, 403, R_FAILED, 0, NULL, NULL, CLASSIFY_FORBIDDEN,
	    "forbidden", -1, 0 },
	{ "bot wall header", P_LIST, 403, R_FAILED, 0, NULL, "Cloudflare",
	    CLASSIFY_BLOCKED, "blocked", -1, 0 },
	{ "bot wall page with 200", P_LIST, 200, R_OK | R_FAILED | R_HTML, 0,
	    NULL, "Anubis", CLASSIFY_BLOCKED, "blocked", -1, 0 },
	{ "an HTML page", P_LIST, 200, R_OK | R_FAILED | R_HTML, 0, NULL, NULL,
	    CLASSIFY_RETRY, "parse", 0, 0 },
	{ "a page that does not parse", P_LIST, 200, R_SINK | R_FAILED, 0, NULL,
	    NULL, CLASSIFY_RETRY, "parse", 0, 0 },
	{ "too large", P_LIST, 200, R_OVER | R_FAILED, 0, NULL, NULL,
	    CLASSIFY_LIMIT, "limit", -1, 0 },
	{ "too large once inflated", P_LIST, 200, R_SINK | R_OWN | R_FAILED, 0,
	    NULL, NULL, CLASSIFY_LIMIT, "limit", -1, 0 },
	{ "404", P_LIST, 404, R_FAILED, 0, NULL, NULL, CLASSIFY_FAIL, "http",
	    -1, 0 },
	{ "500", P_LIST, 500, R_FAILED, 0, NULL, NULL, CLASSIFY_RETRY, "http",
	    0, 0 },
	{ "500, the last try", P_LIST, 500, R_FAILED | R_LAST, 0, NULL, NULL,
	    CLASSIFY_FAIL, "http", -1, 0 },
	{ "connection reset", P_LIST, 0, R_CURL | R_FAILED, 0, NULL, NULL,
	    CLASSIFY_RETRY, "network", 0, 0 },
	{ "window 500", P_WIN, 500, R_FAILED, 0, NULL, NULL, CLASSIFY_NARROW,
	    "http", 0, 0 },
	{ "window 504", P_WIN, 504, R_FAILED, 0, NULL, NULL, CLASSIFY_NARROW,
	    "http", 0, 0 },
	{ "window timeout", P_WIN, 0, R_CURL | R_FAILED, 0, NULL, NULL,
	    CLASSIFY_NARROW, "network", 0, 0 },
	{ "window 503 without Retry-After", P_WIN, 503, R_FAILED, 0, NULL, NULL,
	    CLASSIFY_NARROW, "http", 0, 0 },
	{ "window 503 with Retry-After", P_WIN, 503, R_FAILED, 10, NULL, NULL,
	    CLASSIFY_RETRY, "http", 10000, 0 },
	{ "window 429", P_WIN, 429, R_FAILED, 0, NULL, NULL, CLASSIFY_RETRY,
	    "http", 0, 0 },
	{ "window 404", P_WIN, 404, R_FAILED, 0, NULL, NULL, CLASSIFY_FAIL,
	    "http", -1, 0 },
	{ "window 403", P_WIN, 403, R_FAILED, 0, NULL, NULL, CLASSIFY_FORBIDDEN,
	    "forbidden", -1, 0 },
	{ "request ok", P_REQ, 200, R_OK, 0, NULL, NULL, CLASSIFY_OK, NULL, -1,
	    0 },
	{ "request OAI error", P_REQ, 200, R_OK, 0, "idDoesNotExist", NULL,
	    CLASSIFY_OK, NULL, -1, 0 },
	{ "request 400 error body", P_REQ, 400, R_FAILED, 0, "badArgument",
	    NULL, CLASSIFY_OK, NULL, -1, 1 },
	{ "request 500", P_REQ, 500, R_FAILED, 0, NULL, NULL, CLASSIFY_FAIL,
	    "other", -1, 0 },
	{ "request bot wall", P_REQ, 403, R_FAILED, 0, NULL, "AWS WAF",
	    CLASSIFY_BLOCKED, "blocked", -1, 0 },
};

static void
test_classify_table(void **state)
{
	const struct tcase *c;
	struct classify_in  in;
	struct classify_out out;
	size_t		    i;

	for (i = 0; i < nitems(cases); i++) {
		c = &cases[i];
		memset(&in, 0, sizeof(in));
		in.phase = c->phase;
		in.status = c->status;
		in.transfer_ok = (c->r & R_OK) != 0;
		in.curl_failed = (c->r & R_CURL) != 0;
		in.over_limit = (c->r & R_OVER) != 0;
		in.sink_failed = (c->r & R_SINK) != 0;
		in.failed = (c->r & R_FAILED) != 0;
		in.own_limit = (c->r & R_OWN) != 0;
		in.html = (c->r & R_HTML) != 0;
		in.has_token = (c->r & R_TOKEN) != 0;
		in.count_short = (c->r & R_SHORT) != 0;
		in.can_restart = (c->r & R_RESTART) != 0;
		in.retry_after = c->retry_after;
		in.oai_error = c->code;
		in.wall = c->wall;
		in.max_tries = 4;
		in.attempt = (c->r & R_LAST) ? 4 : 1;
		in.base_ms = 1000;
		in.retry_after_max = 120;
		in.seed = (unsigned int)i;
		classify(&in, &out);
		if (out.action != c->want)
			fail_msg("%s: %s, want %s", c->name,
			    classify_action_name(out.action),
			    classify_action_name(c->want));
		if ((out.error_type == NULL) != (c->type == NULL) ||
		    (c->type != NULL && strcmp(out.error_type, c->type) != 0))
			fail_msg("%s: error_type %s, want %s", c->name,
			    out.error_type ? out.error_type : "NULL",
			    c->type ? c->type : "NULL");
		if (c->delay == -1 &&
		    (c->want == CLASSIFY_RETRY || c->want == CLASSIFY_NARROW ||
			out.delay_ms != -1) &&
		    out.delay_ms != -1)
			fail_msg(
			    "%s: delay %lld, want none", c->name, out.delay_ms);
		if (c->delay == 0 &&
		    (out.delay_ms < 1000 || out.delay_ms > 1250))
			fail_msg("%s: delay %lld, want a first backoff",
			    c->name, out.delay_ms);
		if (c->delay > 0 && out.delay_ms != c->delay)
			fail_msg("%s: delay %lld, want %lld", c->name,
			    out.delay_ms, c->delay);
		if (out.error_body != c->body)
			fail_msg("%s: error_body %d", c->name, out.error_body);
		if (c->code != NULL && out.code != classify_oai_code(c->code))
			fail_msg("%s: code %d", c->name, out.code);
	}
}

/* OAI-PMH's eight error codes are a table; anything else is "other". */
static void
test_oai_codes(void **state)
{
	static const struct {
		const char	      *name;
		enum classify_oai_code code;
	} codes[] = {
		{ "badArgument", OAI_ERR_BAD_ARGUMENT },
		{ "badResumptionToken", OAI_ERR_BAD_RESUMPTION_TOKEN },
		{ "badVerb", OAI_ERR_BAD_VERB },
		{ "cannotDisseminateFormat",
		    OAI_ERR_CANNOT_DISSEMINATE_FORMAT },
		{ "idDoesNotExist", OAI_ERR_ID_DOES_NOT_EXIST },
		{ "noRecordsMatch", OAI_ERR_NO_RECORDS_MATCH },
		{ "noMetadataFormats", OAI_ERR_NO_METADATA_FORMATS },
		{ "noSetHierarchy", OAI_ERR_NO_SET_HIERARCHY },
		{ "norecordsmatch", OAI_ERR_OTHER },
		{ "", OAI_ERR_OTHER },
	};
	size_t i;

	assert_int_equal(classify_oai_code(NULL), OAI_ERR_NONE);
	for (i = 0; i < nitems(codes); i++)
		assert_int_equal(
		    classify_oai_code(codes[i].name), codes[i].code);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify_table),
		cmocka_unit_test(test_oai_codes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
