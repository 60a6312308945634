/*
 * The change feed's sinks through their interface (feed/feed.h), on a real
 * database harvested from the test server: the file sink writes exactly
 * the lines of `oaiharvest changes` and moves the outbox cursor; a sink
 * that fails is reported (feed_error(), the metrics' accessors) and is
 * written again by itself FEED_RETRY seconds later; a sink defined in a
 * file of its own (here, this one) is told the last seq of each commit;
 * the long poll is a sink that is not reported.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "feed.h"
#include "store.h"
#include "testlib.h"

#define RECORDS 300

static struct server srv;
static char	    *db_file;

/* A sink of the test's own: it counts, and fails when told to. */
struct counter {
	int	opened;
	int	writes;
	int64_t upto;
	int	fail;
};

static struct counter counter;

static void *
counter_open(
    struct store *store, struct event_base *base, const char *arg, char **cause)
{
	assert_string_equal(arg, "test");
	counter.opened++;
	return &counter;
}

static int
counter_write(void *arg, int64_t upto, char **cause)
{
	struct counter *c = arg;

	c->writes++;
	c->upto = upto;
	if (c->fail) {
		*cause = xstrdup("told to fail");
		return -1;
	}
	return 0;
}

static void
counter_close(void *arg)
{
	struct counter *c = arg;

	c->opened--;
}

static const struct feed_sink_ops counter_ops = { "test_sink", 1, counter_open,
	counter_write, NULL, counter_close };

static int
setup(void **state)
{
	if (testlib_setup() == -1)
		return -1;
	start_server(&srv, "f.port",
	    "--records 300 --page-size 50 "
	    "--deleted-every 0");
	db_file = path("f.db");
	return 0;
}

static int
teardown(void **state)
{
	stop_server(&srv);
	free(db_file);
	testlib_teardown();
	return 0;
}

static void
harvest(void)
{
	char *err;

	if (run("h.out", "h.err",
		"%s/oaiharvest harvest --db %s --url "
		"http://127.0.0.1:%d/oai --source s",
		bindir, db_file, srv.port) != 0) {
		err = read_tmp("h.err");
		fail_msg("harvest failed: %s", err);
	}
}

/* Run the loop for secs seconds. */
static void
loop_for(struct event_base *base, int secs)
{
	struct timeval tv = { secs, 0 };

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

static void
test_file_sink(void **state)
{
	struct event_base *base;
	struct store	  *store;
	struct feed	  *feed;
	struct feed_sink  *file, *poll;
	struct stat	   st;
	char		  *cause = NULL, *want, *got, *out, *old;
	int64_t		   seq;

	harvest();
	assert_int_equal(run("c.out", "c.err", "%s/oaiharvest changes --db %s",
			     bindir, db_file),
	    0);
	want = read_tmp("c.out");
	if ((store = store_open(db_file, 0, &cause)) == NULL)
		fail_msg("store_open: %s", cause);
	assert_int_equal(store_last_seq(store), RECORDS);
	assert_non_null(base = event_base_new());
	feed = feed_new(base, store);
	out = path("changes.jsonl");
	file = feed_sink_open(feed, &feed_file_ops, out, &cause);
	if (file == NULL)
		fail_msg("feed_sink_open: %s", cause);
	poll = feed_sink_open(feed, &feed_longpoll_ops, NULL, &cause);
	assert_non_null(poll);
	feed_longpoll_set_max(poll, 4);
	assert_int_equal(feed_longpoll_max(poll), 4);

	/* A commit: the file holds what `oaiharvest changes` prints. */
	feed_commit(feed);
	got = slurp(out);
	assert_string_equal(got, want);
	free(got);
	assert_int_equal(
	    store_outbox_get(store, "changes_log", &seq, &cause), 0);
	assert_int_equal(seq, RECORDS);
	assert_null(feed_error(feed));
	/* Only the reported sinks count for the metrics. */
	assert_ptr_equal(feed_sink_next(feed, NULL), file);
	assert_null(feed_sink_next(feed, file));
	assert_string_equal(feed_sink_name(file), "changes_log");
	assert_int_equal(feed_sink_ok(file), 1);
	assert_int_equal(feed_sink_errors(file), 0);
	assert_int_equal(feed_longpoll_waiting(poll), 0);

	/* Nothing new: nothing written twice. */
	feed_commit(feed);
	got = slurp(out);
	assert_string_equal(got, want);
	free(got);

	/*
	 * Rotated away and a symbolic link in its place: refused, reported;
	 * the link goes, and the retry opens a new file by itself.
	 */
	old = path("changes.jsonl.1");
	assert_int_equal(rename(out, old), 0);
	assert_int_equal(symlink(old, out), 0);
	feed_commit(feed);
	assert_non_null(feed_error(feed));
	assert_non_null(strstr(feed_error(feed), "symbolic link"));
	assert_int_equal(feed_sink_ok(file), 0);
	assert_int_equal(feed_sink_errors(file), 1);
	assert_int_equal(unlink(out), 0);
	loop_for(base, FEED_RETRY + 2);
	assert_null(feed_error(feed));
	assert_int_equal(feed_sink_ok(file), 1);
	assert_int_equal(feed_sink_errors(file), 1);
	assert_int_equal(lstat(out, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	got = slurp(out);
	assert_string_equal(got, "");
	free(got);
	got = slurp(old);
	assert_string_equal(got, want);
	free(got);

	/* SIGHUP: reopened (the same file) and nothing to add. */
	feed_reopen(feed);
	assert_null(feed_error(feed));

	feed_sink_close(poll);
	feed_sink_close(file);
	assert_null(feed_sink_next(feed, NULL));
	feed_free(feed);
	event_base_free(base);
	store_close(store);
	free(want);
	free(out);
	free(old);
}

static void
test_own_sink(void **state)
{
	struct event_base *base;
	struct store	  *store;
	struct feed	  *feed;
	struct feed_sink  *s;
	char		  *cause = NULL;

	if ((store = store_open(db_file, 0, &cause)) == NULL)
		fail_msg("store_open: %s", cause);
	assert_non_null(base = event_base_new());
	feed = feed_new(base, store);
	memset(&counter, 0, sizeof(counter));
	assert_non_null(s = feed_sink_open(feed, &counter_ops, "test", &cause));
	assert_int_equal(counter.opened, 1);
	assert_int_equal(counter.writes, 0);

	feed_commit(feed);
	assert_int_equal(counter.writes, 1);
	assert_int_equal(counter.upto, store_last_seq(store));
	assert_int_equal(counter.upto, RECORDS);

	/* A failure is reported until a write works again. */
	counter.fail = 1;
	feed_commit(feed);
	assert_string_equal(feed_error(feed), "told to fail");
	assert_int_equal(feed_sink_errors(s), 1);
	counter.fail = 0;
	feed_sink_flush(s);
	assert_null(feed_error(feed));
	assert_int_equal(counter.writes, 3);

	/* No reopen operation: SIGHUP leaves it alone. */
	feed_reopen(feed);
	assert_int_equal(counter.writes, 3);

	/* Stopping: a failure is not retried. */
	counter.fail = 1;
	feed_stop(feed);
	feed_commit(feed);
	assert_int_equal(counter.writes, 4);
	loop_for(base, FEED_RETRY + 1);
	assert_int_equal(counter.writes, 4);
	assert_int_equal(feed_sink_errors(s), 2);

	feed_free(feed);
	assert_int_equal(counter.opened, 0);
	event_base_free(base);
	store_close(store);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file_sink),
		cmocka_unit_test(test_own_sink),
	};

	return cmocka_run_group_tests_name("feed", tests, setup, teardown);
}
