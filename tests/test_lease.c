/*
 * Leases in the store (store.h, "Leases") on a real SQLite file: take,
 * renew, expiry, release with its next_ms, the gen that fences pages, and
 * the page writer refusing a page whose lease is lost while writing the
 * others of its batch.  Two connections to one file stand for two daemons.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <sqlite3.h>

#include "log.h"
#include "page.h"
#include "spool.h"
#include "store.h"
#include "util.h"

#define HOST_A "http://127.0.0.1:18201"
#define HOST_B "http://127.0.0.1:18202"

struct fx {
	char	      dir[64];
	char	     *path;
	struct store *a; /* daemon a's connection */
	struct store *b; /* daemon b's */
};

static char *cause_;
#define CAUSE (&cause_)
#define CHECK(x) \
	do { \
		if ((x) != 0) \
			fail_msg("%s: %s", #x, cause_ != NULL ? cause_ : "?"); \
	} while (0)

static int
setup(void **state)
{
	struct fx *f;

	f = xcalloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/oh-lease-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	xasprintf(&f->path, "%s/h.db", f->dir);
	if ((f->a = store_open(f->path, 0, CAUSE)) == NULL ||
	    (f->b = store_open(f->path, 0, CAUSE)) == NULL)
		fail_msg("store_open: %s", cause_);
	*state = f;
	return 0;
}

/* tests/testlib.c */
const char *pg_start(void);
char	   *pg_database(void);
void	    pg_stop(void);

/* The same on a fresh PostgreSQL database: two connections to it. */
static int
setup_pg(void **state)
{
	struct fx *f;

	f = xcalloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/oh-lease-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	f->path = pg_database();
	if ((f->a = store_open(f->path, 0, CAUSE)) == NULL ||
	    (f->b = store_open(f->path, 0, CAUSE)) == NULL)
		fail_msg("store_open: %s", cause_);
	*state = f;
	return 0;
}

static int
group_setup(void **state)
{
	pg_start();
	return 0;
}

static int
group_teardown(void **state)
{
	pg_stop();
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char	  *cmd;

	store_close(f->a);
	store_close(f->b);
	xasprintf(&cmd, "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", f->dir);
	free(cmd);
	free(f->path);
	free(f);
	free(cause_);
	cause_ = NULL;
	return 0;
}

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Is host's lease still of gen, as a page transaction on s sees it? */
static int
held(struct store *s, const char *host, int64_t gen)
{
	int rc;

	CHECK(store_begin(s, CAUSE));
	rc = store_lease_held(s, host, gen, CAUSE);
	store_rollback(s);
	assert_int_not_equal(rc, -1);
	return rc;
}

struct seen {
	char	hosts[4][64];
	int64_t gens[4];
	int	n;
};

static int
on_renewed(void *arg, const char *host, int64_t gen)
{
	struct seen *sn = arg;

	assert_true(sn->n < 4);
	snprintf(sn->hosts[sn->n], sizeof(sn->hosts[0]), "%s", host);
	sn->gens[sn->n++] = gen;
	return 0;
}

static void
test_take_and_refuse(void **state)
{
	struct fx		*f = *state;
	struct store_lease_grant g, g2;
	int64_t			 t0 = wall_ms();

	assert_int_equal(
	    store_lease_take(f->a, HOST_A, "node-a", "a", 5000, &g, CAUSE), 1);
	assert_int_equal(g.gen, 1);
	assert_true(g.expires_ms >= t0 + 5000 && g.expires_ms < t0 + 15000);
	assert_int_equal(g.next_ms, 0);
	assert_int_equal(g.lapsed_ms, 0);
	/* Another daemon cannot have it while it lives. */
	assert_int_equal(
	    store_lease_take(f->b, HOST_A, "node-b", "b", 5000, &g2, CAUSE), 0);
	/* Its holder takes it again: the same gen. */
	assert_int_equal(
	    store_lease_take(f->a, HOST_A, "node-a", "a", 5000, &g2, CAUSE), 1);
	assert_int_equal(g2.gen, 1);
	/* Another host is free. */
	assert_int_equal(
	    store_lease_take(f->b, HOST_B, "node-b", "b", 5000, &g2, CAUSE), 1);
	assert_int_equal(g2.gen, 1);
	assert_int_equal(held(f->b, HOST_A, 1), 1);
	assert_int_equal(held(f->b, HOST_A, 2), 0);
	assert_int_equal(held(f->a, HOST_B, 1), 1);
}

static void
test_expire_and_take_over(void **state)
{
	struct fx		*f = *state;
	struct store_lease_grant g;
	struct seen		 sn;

	assert_int_equal(
	    store_lease_take(f->a, HOST_A, "node-a", "a", 300, &g, CAUSE), 1);
	assert_int_equal(held(f->a, HOST_A, 1), 1);
	assert_int_equal(
	    store_lease_take(f->b, HOST_A, "node-b", "b", 300, &g, CAUSE), 0);
	usleep(450 * 1000);
	/* Expired: a page of a must not be written any more. */
	assert_int_equal(held(f->a, HOST_A, 1), 0);
	assert_int_equal(
	    store_lease_take(f->b, HOST_A, "node-b", "b", 5000, &g, CAUSE), 1);
	assert_int_equal(g.gen, 2);
	/* It lapsed: b learns when, to wait a delay after it. */
	assert_true(g.lapsed_ms > 0 && g.lapsed_ms <= wall_ms());
	/* a renews nothing: the host is b's now. */
	memset(&sn, 0, sizeof(sn));
	assert_int_equal(store_lease_renew(
			     f->a, "node-a", "a", 5000, on_renewed, &sn, CAUSE),
	    0);
	assert_int_equal(sn.n, 0);
	assert_int_equal(held(f->a, HOST_A, 1), 0);
	assert_int_equal(held(f->a, HOST_A, 2), 1);
}

static void
test_renew_keeps(void **state)
{
	struct fx		*f = *state;
	struct store_lease_grant g;
	struct seen		 sn;
	int			 i;

	assert_int_equal(
	    store_lease_take(f->a, HOST_A, "node-a", "a", 400, &g, CAUSE), 1);
	assert_int_equal(
	    store_lease_take(f->a, HOST_B, "node-a", "a", 400, &g, CAUSE), 1);
	/* Renewed every 150 ms, it outlives its ttl many times. */
	for (i = 0; i < 6; i++) {
		usleep(150 * 1000);
		memset(&sn, 0, sizeof(sn));
		assert_int_equal(store_lease_renew(f->a, "node-a", "a", 400,
				     on_renewed, &sn, CAUSE),
		    2);
		assert_int_equal(sn.n, 2);
		assert_int_equal(sn.gens[0], 1);
		assert_int_equal(store_lease_take(f->b, HOST_A, "node-b", "b",
				     400, &g, CAUSE),
		    0);
	}
	assert_int_equal(held(f->b, HOST_A, 1), 1);
	/* Both daemons are alive once b has renewed too. */
	assert_int_equal(store_lease_nodes(f->a, CAUSE), 1);
	assert_int_equal(
	    store_lease_renew(f->b, "node-b", "b", 400, NULL, NULL, CAUSE), 0);
	assert_int_equal(store_lease_nodes(f->a, CAUSE), 2);
	usleep(450 * 1000);
	assert_int_equal(store_lease_nodes(f->a, CAUSE), 0);
}

struct row {
	int	holder_set;
	int64_t next_ms;
	int64_t gen;
	int	n;
};

static int
on_lease(void *arg, const struct store_lease *l)
{
	struct row *r = arg;

	if (strcmp(l->host, HOST_A) != 0)
		return 0;
	r->n++;
	r->holder_set = l->holder != NULL;
	r->next_ms = l->next_ms;
	r->gen = l->gen;
	assert_true(l->now_ms > 0);
	return 0;
}

static void
test_release_next(void **state)
{
	struct fx		*f = *state;
	struct store_lease_grant g;
	struct row		 r;
	int64_t			 next = wall_ms() + 60000;

	assert_int_equal(
	    store_lease_take(f->a, HOST_A, "node-a", "a", 5000, &g, CAUSE), 1);
	assert_int_equal(
	    store_lease_take(f->a, HOST_B, "node-a", "a", 5000, &g, CAUSE), 1);
	/* Another's release changes nothing. */
	CHECK(store_lease_release(f->b, HOST_A, "node-b", next, CAUSE));
	assert_int_equal(held(f->b, HOST_A, 1), 1);
	CHECK(store_lease_release(f->a, HOST_A, "node-a", next, CAUSE));
	memset(&r, 0, sizeof(r));
	CHECK(store_leases(f->b, on_lease, &r, CAUSE));
	assert_int_equal(r.n, 1);
	assert_int_equal(r.holder_set, 0);
	assert_int_equal(r.next_ms, next);
	assert_int_equal(held(f->b, HOST_A, 1), 0);
	/* b takes it at once, with a's next request time and a new gen. */
	assert_int_equal(
	    store_lease_take(f->b, HOST_A, "node-b", "b", 5000, &g, CAUSE), 1);
	assert_int_equal(g.gen, 2);
	assert_int_equal(g.next_ms, next);
	assert_int_equal(g.lapsed_ms, 0);
	/* A next_ms never goes back. */
	CHECK(store_lease_release(f->b, HOST_A, "node-b", 5, CAUSE));
	memset(&r, 0, sizeof(r));
	CHECK(store_leases(f->a, on_lease, &r, CAUSE));
	assert_int_equal(r.next_ms, next);
	/* All of a's, and its node row. */
	assert_int_equal(
	    store_lease_renew(f->a, "node-a", "a", 5000, NULL, NULL, CAUSE), 1);
	assert_int_equal(store_lease_nodes(f->b, CAUSE), 1);
	CHECK(store_lease_release(f->a, NULL, "node-a", 0, CAUSE));
	assert_int_equal(store_lease_nodes(f->b, CAUSE), 0);
	assert_int_equal(held(f->b, HOST_B, 1), 0);
}

/* Outside a page transaction the check refuses to run. */
static void
test_held_needs_transaction(void **state)
{
	struct fx *f = *state;
	char	  *c = NULL;

	assert_int_equal(store_lease_held(f->a, HOST_A, 1, &c), -1);
	assert_non_null(c);
	free(c);
}

/*
 * A page transaction that checked its lease (and has not committed) keeps
 * the host from another daemon even past the lease's expiry: the check
 * holds until the commit, and after it the take goes through.
 */
static void
test_take_skips_a_checked_page(void **state)
{
	struct fx		*f = *state;
	struct store_lease_grant g;

	assert_int_equal(
	    store_lease_take(f->a, HOST_A, "node-a", "a", 300, &g, CAUSE), 1);
	CHECK(store_begin(f->a, CAUSE));
	assert_int_equal(store_lease_held(f->a, HOST_A, 1, CAUSE), 1);
	usleep(450 * 1000);
	assert_int_equal(
	    store_lease_take(f->b, HOST_A, "node-b", "b", 5000, &g, CAUSE), 0);
	CHECK(store_commit(f->a, CAUSE));
	assert_int_equal(
	    store_lease_take(f->b, HOST_A, "node-b", "b", 5000, &g, CAUSE), 1);
	assert_int_equal(g.gen, 2);
}

/*
 * PostgreSQL: a daemon's renewal does not wait for a page transaction of
 * its own that has checked the lease (the page writer's connection, busy
 * with a batch): the check's row lock (FOR KEY SHARE) does not conflict
 * with the renewal's UPDATE, so the renewal neither queues behind the page
 * nor deadlocks with it.  The renewing connection gives up waiting for a
 * row lock after 2 s (lock_timeout), so that the old lock (FOR SHARE)
 * fails here rather than hangs.  The fence still holds: another daemon's
 * take skips the row until the page commits.
 */
static void
test_renew_beside_a_checked_page(void **state)
{
	struct fx		*f = *state;
	struct store_lease_grant g;
	struct store		*loop;
	struct seen		 sn;
	int64_t			 t0;

	assert_int_equal(
	    store_lease_take(f->a, HOST_A, "node-a", "a", 600, &g, CAUSE), 1);
	assert_int_equal(
	    store_lease_take(f->a, HOST_B, "node-a", "a", 600, &g, CAUSE), 1);
	setenv("PGOPTIONS", "-c lock_timeout=2000", 1);
	loop = store_open(f->path, 0, CAUSE);
	unsetenv("PGOPTIONS");
	if (loop == NULL)
		fail_msg("store_open: %s", cause_);
	CHECK(store_begin(f->a, CAUSE));
	assert_int_equal(store_lease_held(f->a, HOST_A, 1, CAUSE), 1);
	t0 = mono_ms();
	memset(&sn, 0, sizeof(sn));
	if (store_lease_renew(
		loop, "node-a", "a", 600, on_renewed, &sn, CAUSE) != 2)
		fail_msg("renew beside a checked page: %s", cause_);
	assert_true(mono_ms() - t0 < 1500);
	assert_int_equal(sn.n, 2);
	/* Past the ttl the page still holds the row: no take. */
	usleep(700 * 1000);
	assert_int_equal(
	    store_lease_take(f->b, HOST_A, "node-b", "b", 5000, &g, CAUSE), 0);
	CHECK(store_commit(f->a, CAUSE));
	assert_int_equal(
	    store_lease_take(f->b, HOST_A, "node-b", "b", 5000, &g, CAUSE), 1);
	assert_int_equal(g.gen, 2);
	/* The old holder's next page is refused. */
	assert_int_equal(held(f->a, HOST_A, 1), 0);
	store_close(loop);
}

/* The page writer */

struct done {
	int   n;
	char *cause[4];
};

static void
on_page(void *arg, const struct store_page_result *res)
{
	struct done *d = arg;

	assert_true(d->n < 4);
	d->cause[d->n++] = res->cause != NULL ? xstrdup(res->cause) : NULL;
}

static struct store_page *
page(struct store_pages *sp, int64_t src, int64_t run, const char *id,
    const char *lease, int64_t gen)
{
	struct store_page  *p;
	struct store_record r;
	struct store_dc	    dc = { "title", "A title", NULL };

	memset(&r, 0, sizeof(r));
	r.prefix = "oai_dc";
	r.identifier = id;
	r.datestamp = "2024-01-01";
	r.metadata = "<oai_dc:dc><dc:title>A title</dc:title></oai_dc:dc>";
	r.metadata_len = strlen(r.metadata);
	r.dc = &dc;
	r.ndc = 1;
	p = store_page_new(STORE_PAGE_CHECKPOINT, src, run, "oai_dc", NULL);
	p->spool = store_pages_spool(sp);
	CHECK(spool_add(p->spool, &r, CAUSE));
	p->list.token = xstrdup(id);
	if (lease != NULL) {
		p->lease = xstrdup(lease);
		p->lease_gen = gen;
	}
	return p;
}

static long long
count(const char *path, const char *sql)
{
	sqlite3	     *db;
	sqlite3_stmt *st;
	long long     n = -1;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/* Keeps the writer busy, so that the pages after it make one batch. */
static int
slow_call(struct store *s, void *arg, char **cause)
{
	usleep(200 * 1000);
	return 0;
}

static void
on_call(void *arg, const char *cause)
{
	*(int *)arg = cause == NULL ? 1 : -1;
}

/*
 * b took host A over from a: a's queued page of A fails with "lease ...
 * lost" and writes nothing, a's page of B (still a's) in the same batch is
 * written, and so are pages under b's gen and without a lease.
 */
static void
test_pages_fenced(void **state)
{
	struct fx		*f = *state;
	struct store_lease_grant g;
	struct event_base	*base;
	struct store_pages	*sp;
	struct done		 d[3];
	int64_t			 src1, src2, run1, run2;
	int			 i, k, called = 0;

	assert_non_null(base = event_base_new());
	src1 = store_source(f->a, "one", HOST_A "/oai", 0, CAUSE);
	src2 = store_source(f->a, "two", HOST_B "/oai", 0, CAUSE);
	assert_true(src1 > 0 && src2 > 0);
	run1 = store_run_begin(f->a, src1, CAUSE);
	run2 = store_run_begin(f->a, src2, CAUSE);
	assert_int_equal(
	    store_lease_take(f->a, HOST_A, "node-a", "a", 300, &g, CAUSE), 1);
	assert_int_equal(
	    store_lease_take(f->a, HOST_B, "node-a", "a", 60000, &g, CAUSE), 1);
	usleep(400 * 1000);
	assert_int_equal(
	    store_lease_take(f->b, HOST_A, "node-b", "b", 60000, &g, CAUSE), 1);
	assert_int_equal(g.gen, 2);

	assert_non_null(sp = store_pages_new(f->a, base, CAUSE));
	memset(d, 0, sizeof(d));
	/* Queued together behind the call: one batch, one transaction. */
	store_pages_call(sp, slow_call, on_call, &called);
	store_page_submit(
	    sp, page(sp, src1, run1, "oai:x:1", HOST_A, 1), on_page, &d[0]);
	store_page_submit(
	    sp, page(sp, src2, run2, "oai:y:1", HOST_B, 1), on_page, &d[1]);
	store_page_submit(
	    sp, page(sp, src1, run1, "oai:x:2", HOST_A, 2), on_page, &d[2]);
	store_page_submit(
	    sp, page(sp, src1, run1, "oai:x:3", NULL, 0), on_page, &d[2]);
	store_pages_wait(sp);
	assert_int_equal(called, 1);
	assert_int_equal(d[0].n, 1);
	assert_int_equal(d[1].n, 1);
	assert_int_equal(d[2].n, 2);
	assert_non_null(d[0].cause[0]);
	assert_non_null(strstr(d[0].cause[0], "lease of " HOST_A " lost"));
	assert_null(d[1].cause[0]);
	assert_null(d[2].cause[0]);
	assert_null(d[2].cause[1]);
	for (k = 0; k < 3; k++)
		for (i = 0; i < d[k].n; i++)
			free(d[k].cause[i]);
	store_pages_free(sp);
	event_base_free(base);

	assert_int_equal(count(f->path,
			     "SELECT count(*) FROM record"
			     " WHERE identifier = 'oai:x:1'"),
	    0);
	assert_int_equal(count(f->path,
			     "SELECT count(*) FROM change"
			     " WHERE identifier = 'oai:x:1'"),
	    0);
	assert_int_equal(count(f->path,
			     "SELECT count(*) FROM record WHERE identifier IN"
			     " ('oai:y:1', 'oai:x:2', 'oai:x:3')"),
	    3);
	assert_int_equal(count(f->path, "SELECT count(*) FROM change"), 3);
}

/* A page of records (identifier, title) of one list. */
static struct store_page *
page_of(struct store_pages *sp, int64_t src, int64_t run,
    const char *const *rec, size_t n)
{
	struct store_page  *p;
	struct store_record r;
	struct store_dc	    dc;
	char		   *xml;
	size_t		    i;

	p = store_page_new(STORE_PAGE_CHECKPOINT, src, run, "oai_dc", NULL);
	p->spool = store_pages_spool(sp);
	for (i = 0; i < n; i += 2) {
		xasprintf(&xml,
		    "<oai_dc:dc><dc:title>%s</dc:title></oai_dc:dc>",
		    rec[i + 1]);
		memset(&r, 0, sizeof(r));
		dc.element = "title";
		dc.value = rec[i + 1];
		dc.lang = NULL;
		r.prefix = "oai_dc";
		r.identifier = rec[i];
		r.datestamp = "2024-01-01";
		r.metadata = xml;
		r.metadata_len = strlen(xml);
		r.dc = &dc;
		r.ndc = 1;
		CHECK(spool_add(p->spool, &r, CAUSE));
		free(xml);
	}
	p->list.token = xstrdup(rec[0]);
	return p;
}

static int
change_row(void *arg, const struct store_change_row *c)
{
	struct buf *b = arg;

	buf_printf(b, "%s%s:%s", b->len > 0 ? "," : "", c->identifier, c->kind);
	return 0;
}

static int
export_row(void *arg, const struct store_export_row *r)
{
	struct buf *b = arg;

	buf_printf(b, "%s%s=%s", b->len > 0 ? "," : "", r->identifier,
	    r->ndc > 0 ? r->dc[0].value : "-");
	return 0;
}

/*
 * Pages of one list queued together make one batch, whose records the
 * PostgreSQL backend looks up in one statement (page.c's prefetch()): a
 * record listed on two of its pages, new or known, is put in order, as
 * it is on SQLite and page by page.
 */
static void
test_pages_one_lookup(void **state)
{
	static const char *const p0[] = { "oai:e", "e1" };
	static const char *const p1[] = { "oai:a", "a1", "oai:b", "b1" };
	static const char *const p2[] = { "oai:a", "a2", "oai:c", "c1", "oai:e",
		"e2" };
	static const char *const p3[] = { "oai:b", "b1", "oai:d", "d1", "oai:e",
		"e3" };
	struct fx		*f = *state;
	struct event_base	*base;
	struct store_pages	*sp;
	struct done		 d[4];
	struct buf		 b;
	int64_t			 src, run;
	int			 i, k, called = 0;

	assert_non_null(base = event_base_new());
	src = store_source(f->a, "one", HOST_A "/oai", 0, CAUSE);
	assert_true(src > 0);
	run = store_run_begin(f->a, src, CAUSE);
	assert_non_null(sp = store_pages_new(f->a, base, CAUSE));
	memset(d, 0, sizeof(d));
	store_page_submit(
	    sp, page_of(sp, src, run, p0, nitems(p0)), on_page, &d[0]);
	store_pages_wait(sp);
	/* Queued together behind the call: one batch, one transaction. */
	store_pages_call(sp, slow_call, on_call, &called);
	store_page_submit(
	    sp, page_of(sp, src, run, p1, nitems(p1)), on_page, &d[1]);
	store_page_submit(
	    sp, page_of(sp, src, run, p2, nitems(p2)), on_page, &d[2]);
	store_page_submit(
	    sp, page_of(sp, src, run, p3, nitems(p3)), on_page, &d[3]);
	store_pages_wait(sp);
	assert_int_equal(called, 1);
	for (k = 0; k < 4; k++) {
		assert_int_equal(d[k].n, 1);
		if (d[k].cause[0] != NULL)
			fail_msg("page %d: %s", k, d[k].cause[0]);
	}
	for (k = 0; k < 4; k++)
		for (i = 0; i < d[k].n; i++)
			free(d[k].cause[i]);
	store_pages_free(sp);
	event_base_free(base);

	buf_init(&b, 1 << 20);
	CHECK(store_changes(f->a, 0, -1, change_row, &b, CAUSE));
	assert_string_equal(buf_str(&b),
	    "oai:e:new,oai:a:new,oai:b:new,oai:a:updated,oai:c:new,"
	    "oai:e:updated,oai:d:new,oai:e:updated");
	buf_reset(&b);
	CHECK(store_export(f->a, "one", "oai_dc", export_row, &b, CAUSE));
	assert_string_equal(
	    buf_str(&b), "oai:a=a2,oai:b=b1,oai:c=c1,oai:d=d1,oai:e=e3");
	buf_free(&b);
}

/* The cursor of a feed, as the database has it (-1: none). */
static int64_t
cursor(struct store *s, const char *name)
{
	int64_t seq = -1;

	CHECK(store_outbox_get(s, name, &seq, CAUSE));
	return seq;
}

/*
 * A relay's outbox cursor is fenced by its lease (a key that is no host):
 * only the holder of the lease's gen moves it; after the lease expired and
 * another took it, the old holder can move it neither forth nor back.
 */
static void
test_outbox_fenced(void **state)
{
	struct fx		*f = *state;
	struct store_lease_grant g;
	int64_t			 before;

	before = cursor(f->a, "nats");
	assert_int_equal(
	    store_outbox_set_fenced(f->a, "nats", 10, "feed:nats", 1, CAUSE),
	    0);
	assert_int_equal(cursor(f->a, "nats"), before);
	assert_int_equal(
	    store_lease_take(f->a, "feed:nats", "node-a", "a", 300, &g, CAUSE),
	    1);
	assert_int_equal(g.gen, 1);
	assert_int_equal(
	    store_outbox_set_fenced(f->a, "nats", 10, "feed:nats", 1, CAUSE),
	    1);
	assert_int_equal(cursor(f->b, "nats"), 10);
	/* Expired: a cannot move it any more, even before b takes it. */
	usleep(450 * 1000);
	assert_int_equal(
	    store_outbox_set_fenced(f->a, "nats", 20, "feed:nats", 1, CAUSE),
	    0);
	assert_int_equal(
	    store_lease_take(f->b, "feed:nats", "node-b", "b", 5000, &g, CAUSE),
	    1);
	assert_int_equal(g.gen, 2);
	assert_int_equal(
	    store_outbox_set_fenced(f->b, "nats", 30, "feed:nats", 2, CAUSE),
	    1);
	/* The old holder, back: neither back nor forth. */
	assert_int_equal(
	    store_outbox_set_fenced(f->a, "nats", 5, "feed:nats", 1, CAUSE), 0);
	assert_int_equal(
	    store_outbox_set_fenced(f->a, "nats", 40, "feed:nats", 1, CAUSE),
	    0);
	assert_int_equal(cursor(f->a, "nats"), 30);
	/* Another feed's cursor is not touched. */
	assert_int_equal(cursor(f->a, "file"), 0);
	/* Inside a transaction: refused, not half done. */
	CHECK(store_begin(f->b, CAUSE));
	assert_int_equal(
	    store_outbox_set_fenced(f->b, "nats", 50, "feed:nats", 2, CAUSE),
	    -1);
	free(cause_);
	cause_ = NULL;
	store_rollback(f->b);
	assert_int_equal(cursor(f->a, "nats"), 30);
}

/* A case once per backend: on SQLite, then on PostgreSQL. */
#define BOTH(t) \
	cmocka_unit_test_setup_teardown(t, setup, teardown), \
	{ \
#t "/pg", t, setup_pg, teardown, NULL \
	}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_take_and_refuse),
		BOTH(test_expire_and_take_over),
		BOTH(test_renew_keeps),
		BOTH(test_release_next),
		BOTH(test_held_needs_transaction),
		/* SQLite: the page holds the write lock; the take is busy. */
		{ "test_take_skips_a_checked_page/pg",
		    test_take_skips_a_checked_page, setup_pg, teardown, NULL },
		{ "test_renew_beside_a_checked_page/pg",
		    test_renew_beside_a_checked_page, setup_pg, teardown,
		    NULL },
		cmocka_unit_test_setup_teardown(
		    test_pages_fenced, setup, teardown),
		BOTH(test_pages_one_lookup),
		BOTH(test_outbox_fenced),
	};

	log_init(LOG_LVL_ERR);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
