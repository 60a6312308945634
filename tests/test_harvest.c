/*
 * Unit tests of the harvest module's pure parts: the retry policy, request
 * URLs and the page spool (in memory and spilled to a temporary file).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>

#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harvest.h"
#include "oh_limits.h"
#include "spool.h"
#include "util.h"

static void
test_retry_policy(void **state)
{
	static const struct {
		long	  status;
		int	  curl_failed;
		long long retry_after;
		int	  attempt;
		long long min_ms; /* -1: no retry */
		long long max_ms;
	} cases[] = {
		/* Retry-After is honoured for 503 and 429, capped. */
		{ 503, 0, 10, 1, 10000, 10000 },
		{ 429, 0, 3, 2, 3000, 3000 },
		{ 503, 0, 999999, 1, RETRY_AFTER_MAX * 1000LL,
		    RETRY_AFTER_MAX * 1000LL },
		/* Without it: exponential backoff with up to 25% jitter. */
		{ 503, 0, 0, 1, 1000, 1250 },
		{ 500, 0, 0, 1, 1000, 1250 },
		{ 502, 0, 0, 2, 2000, 2500 },
		{ 504, 0, 0, 3, 4000, 5000 },
		{ 0, 1, 0, 1, 1000, 1250 },   /* connection refused */
		{ 200, 0, 0, 1, 1000, 1250 }, /* unparsable page */
		{ 408, 0, 0, 1, 1000, 1250 },
		/* Final: the guidelines say stop on 403; 404, 400 too. */
		{ 403, 0, 0, 1, -1, -1 },
		{ 404, 0, 0, 1, -1, -1 },
		{ 400, 0, 0, 1, -1, -1 },
		{ 301, 0, 0, 1, -1, -1 },
		/* The budget: the 4th try was the last. */
		{ 503, 0, 10, 4, -1, -1 },
		{ 500, 0, 0, 4, -1, -1 },
	};
	long long    ms;
	size_t	     i;
	unsigned int seed;

	for (i = 0; i < nitems(cases); i++) {
		for (seed = 0; seed < 50; seed++) {
			ms = harvest_retry_delay(cases[i].status,
			    cases[i].curl_failed, cases[i].retry_after,
			    RETRY_AFTER_MAX, cases[i].attempt, 4, 1000,
			    seed * 7919);
			if (cases[i].min_ms == -1) {
				if (ms != -1)
					fail_msg(
					    "case %zu: %lld, want -1", i, ms);
				continue;
			}
			if (ms < cases[i].min_ms || ms > cases[i].max_ms)
				fail_msg("case %zu: %lld not in [%lld, %lld]",
				    i, ms, cases[i].min_ms, cases[i].max_ms);
		}
	}
	/* A configured ceiling below the built-in one. */
	assert_int_equal(
	    harvest_retry_delay(503, 0, 600, 120, 1, 4, 1000, 1), 120000);
	assert_int_equal(
	    harvest_retry_delay(429, 0, 30, 120, 1, 4, 1000, 1), 30000);
	/* The ceiling holds however many tries are allowed. */
	ms = harvest_retry_delay(500, 0, 0, RETRY_AFTER_MAX, 40, 100, 1000, 1);
	assert_true(ms >= BACKOFF_MAX * 1000LL && ms <= BACKOFF_MAX * 1250LL);
}

static void
test_urls(void **state)
{
	char *u;

	u = harvest_url("http://h/oai", "Identify", (char *)NULL);
	assert_string_equal(u, "http://h/oai?verb=Identify");
	free(u);
	u = harvest_url("http://h/oai?x=1", "ListRecords", "metadataPrefix",
	    "oai_dc", "set", (char *)NULL, "from", "2020-01-01T00:00:00Z",
	    (char *)NULL);
	assert_string_equal(u,
	    "http://h/oai?x=1&verb=ListRecords"
	    "&metadataPrefix=oai_dc&from=2020-01-01T00%3A00%3A00Z");
	free(u);
	/* Tokens are opaque: every reserved character is encoded. */
	u = harvest_url("https://h/oai", "ListRecords", "resumptionToken",
	    "a/b+c=d:e f&g%h~i", (char *)NULL);
	assert_string_equal(u,
	    "https://h/oai?verb=ListRecords"
	    "&resumptionToken=a%2Fb%2Bc%3Dd%3Ae%20f%26g%25h~i");
	free(u);
}

struct collect {
	int		   n;
	int		   bad;
	int		   templated;
	int		   prepared;
	struct store_prep *prep; /* for what is expected */
};

#define SP_TITLE   "Қазақстан & <title>"
#define SP_CREATOR "Surname, Given"
/* Record i's metadata: every other one has the DC values as elements. */
static void
sp_meta(int i, char *md, size_t len)
{
	if (i % 2 == 0)
		snprintf(md, len,
		    "<oai_dc:dc><dc:title>Қазақстан &amp; "
		    "&lt;title&gt;</dc:title>\n<dc:creator xml:lang=\"kk\">"
		    "Surname, Given</dc:creator><!-- %d --></oai_dc:dc>",
		    i);
	else
		snprintf(md, len, "<dc>record %d &amp; more</dc>", i);
}

static int
str_is(const char *s, size_t len, const char *want)
{
	return s != NULL && len == strlen(want) && memcmp(s, want, len) == 0;
}

/*
 * Each record comes back as it went in, with what store_prepare() made of
 * it on the way in: the same as store_prepare() makes of the record now.
 */
static int
check_rec(void *arg, const struct store_record *r)
{
	static const char *const     sets[] = { "a", "b:c" };
	struct collect		    *c = arg;
	const struct store_prepared *p = r->prep;
	struct store_prepared	     want;
	struct store_record	     orig;
	struct store_dc		     dc[2] = { { "title", SP_TITLE, NULL },
			     { "creator", SP_CREATOR, "kk" } };
	char			     id[64], md[256], *cause = NULL;

	snprintf(id, sizeof(id), "oai:x:%d", c->n);
	sp_meta(c->n, md, sizeof(md));
	if (strcmp(r->identifier, id) != 0 ||
	    strcmp(r->datestamp, "2024-01-02") != 0 ||
	    r->deleted != (c->n % 5 == 0) || r->nsets != (size_t)(c->n % 3) ||
	    r->ndc != 0 || p == NULL) {
		c->bad++;
		c->n++;
		return 0;
	}
	c->prepared++;
	memset(&orig, 0, sizeof(orig));
	orig.identifier = id;
	orig.datestamp = "2024-01-02";
	orig.deleted = r->deleted;
	orig.sets = sets;
	orig.nsets = r->nsets;
	if (!r->deleted) {
		orig.metadata = md;
		orig.metadata_len = strlen(md);
		orig.dc = dc;
		orig.ndc = 2;
	}
	if (store_prepare(c->prep, &orig, &want, &cause) == -1)
		fail_msg("store_prepare: %s", cause);
	if (p->hash != want.hash ||
	    !str_is(p->sets_json, p->sets_json_len, want.sets_json))
		c->bad++;
	if (r->deleted) {
		if (r->metadata != NULL || p->dc_json != NULL)
			c->bad++;
	} else if (!str_is(p->dc_json, p->dc_json_len,
		       "[[0,\"" SP_TITLE "\"],[1,\"" SP_CREATOR
		       "\",\"kk\"]]") ||
	    !str_is(p->fts[0], p->fts_len[0], SP_TITLE) ||
	    !str_is(p->fts[1], p->fts_len[1], SP_CREATOR) ||
	    !str_is(p->fts[2], p->fts_len[2], "") ||
	    !str_is(p->fts[3], p->fts_len[3], ""))
		c->bad++;
	else if (c->n % 2 == 0) {
		/* The template and the values give the XML back: not kept. */
		if (r->metadata != NULL || want.tmpl == NULL ||
		    p->tmpl_hash != want.tmpl_hash ||
		    p->tmpl_len != want.tmpl_len ||
		    memcmp(p->tmpl, want.tmpl, want.tmpl_len) != 0)
			c->bad++;
		c->templated++;
	} else if (p->tmpl != NULL || want.tmpl != NULL ||
	    !str_is(r->metadata, r->metadata_len, md))
		c->bad++;
	c->n++;
	return 0;
}

static void
fill(struct spool *s, int n)
{
	static const char *const sets[] = { "a", "b:c" };
	struct store_record	 r;
	struct store_dc		 dc[2];
	char			 id[64], md[256];
	char			*cause = NULL;
	int			 i;

	for (i = 0; i < n; i++) {
		memset(&r, 0, sizeof(r));
		snprintf(id, sizeof(id), "oai:x:%d", i);
		sp_meta(i, md, sizeof(md));
		r.identifier = id;
		r.datestamp = "2024-01-02";
		r.deleted = i % 5 == 0;
		r.sets = sets;
		r.nsets = (size_t)(i % 3);
		if (!r.deleted) {
			r.metadata = md;
			r.metadata_len = strlen(md);
			dc[0].element = "title";
			dc[0].value = SP_TITLE;
			dc[0].lang = NULL;
			dc[1].element = "creator";
			dc[1].value = SP_CREATOR;
			dc[1].lang = "kk";
			r.dc = dc;
			r.ndc = 2;
		}
		assert_int_equal(spool_add(s, &r, &cause), 0);
	}
}

/* Replay s into *c, checking each record; all n of them, none bad. */
static void
replay_check(struct spool *s, struct store_prep *prep, struct collect *c, int n)
{
	char *cause = NULL;

	memset(c, 0, sizeof(*c));
	c->prep = prep;
	if (spool_replay(s, check_rec, c, &cause) != 0)
		fail_msg("spool_replay: %s", cause != NULL ? cause : "?");
	assert_int_equal(c->n, n);
	assert_int_equal(c->bad, 0);
}

static void
test_spool(void **state)
{
	struct spool	  *s;
	struct store_prep *prep;
	struct collect	   c;
	size_t		   mem;

	prep = store_prep_new();
	/* 64 bytes of memory: almost everything goes to the file. */
	for (mem = 64; mem <= 1 << 20; mem *= 128) {
		s = spool_new(mem);
		fill(s, 3000);
		assert_int_equal(spool_count(s), 3000);
		replay_check(s, prep, &c, 3000);
		assert_int_equal(c.prepared, 3000);
		/* Of 2,400 present records, every other one. */
		assert_int_equal(c.templated, 1200);
		/* Reset and reuse: the old page is gone. */
		spool_reset(s);
		assert_int_equal(spool_count(s), 0);
		fill(s, 10);
		replay_check(s, prep, &c, 10);
		/*
		 * Reused with a smaller bound (a page queued behind others,
		 * page.c): the records go to the file from then on, and
		 * read back the same.
		 */
		spool_reset(s);
		spool_set_mem_max(s, 64);
		fill(s, 3000);
		replay_check(s, prep, &c, 3000);
		assert_int_equal(c.templated, 1200);
		spool_free(s);
	}
	store_prep_free(prep);
}

/*
 * No temporary file can be made (no file descriptor left, as a full /tmp
 * would): a spool whose bound was lowered for a queued page keeps its
 * records in memory up to its own bound and reads them back whole; a
 * spool past its own bound fails as it always did.
 */
static void
test_spool_no_file(void **state)
{
	struct spool	   *s, *small;
	struct store_prep  *prep;
	struct collect	    c;
	struct rlimit	    rl, low;
	struct store_record r;
	char		   *cause = NULL;
	char		    md[256];
	int		    i, rc = 0;

	prep = store_prep_new();
	s = spool_new(1 << 20);
	spool_set_mem_max(s, 64);
	small = spool_new(64);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	low = rl;
	low.rlim_cur = 3; /* stdin, stdout, stderr: no new descriptor */
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	fill(s, 300);
	for (i = 0; i < 50 && rc == 0; i++) {
		memset(&r, 0, sizeof(r));
		sp_meta(i, md, sizeof(md));
		r.identifier = "oai:x:1";
		r.datestamp = "2024-01-02";
		r.metadata = md;
		r.metadata_len = strlen(md);
		rc = spool_add(small, &r, &cause);
	}
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	assert_int_equal(rc, -1);
	assert_non_null(cause);
	assert_non_null(strstr(cause, "temporary file"));
	free(cause);
	cause = NULL;
	replay_check(s, prep, &c, 300);
	spool_free(s);
	spool_free(small);
	store_prep_free(prep);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_retry_policy),
		cmocka_unit_test(test_urls),
		cmocka_unit_test(test_spool),
		cmocka_unit_test(test_spool_no_file),
	};

	return cmocka_run_group_tests_name("harvest", tests, NULL, NULL);
}
