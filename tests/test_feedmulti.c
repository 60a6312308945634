/*
 * The change feed with several daemons on one database (leases = yes), with
 * the real binaries: daemon A harvests nothing itself and daemon B harvests
 * a source.  A's sinks are woken by B's commits too (feed_watch()): a long
 * poll GET /changes on A, parked before B commits anything, answers with
 * B's changes well before its wait ends, and A's changes_log gets every
 * change of the database, in seq order, exactly once.  Then two daemons
 * that both harvest, each with a changes_log of its own (one per machine):
 * each file holds every change exactly once, in seq order, across a
 * SIGKILL of one of them (each node keeps its own outbox cursor,
 * "changes_log@NODE").
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <sqlite3.h>

#include "testlib.h"
#include "util.h"

#define NDAEMONS    2
#define NRECORDS    40
#define PAGE_SIZE   10
#define STATUS_BASE 18900 /* this test's ports: 18901.. */
#define POLL_WAIT   60	  /* s, the long poll's wait */
#define POLL_BOUND  20000 /* ms, by when it must have answered */
#define NSOURCES2   4	  /* the second test's sources */

static struct server srv;
static pid_t	     dpid[NDAEMONS];
static char	    *db_file;

static int
setup(void **state)
{
	if (testlib_setup() == -1)
		return -1;
	db_file = path("feedmulti.db");
	/* Each page takes 300 ms: A's poll parks before B commits. */
	start_server(&srv, "port",
	    "--records 40 --page-size 10 --deleted-every 0 --delay-ms 300 "
	    "--sets 0");
	return 0;
}

static void
unlink_tmp(const char *name)
{
	char *p = path(name);

	unlink(p);
	free(p);
}

static int
kill_daemons(void **state)
{
	int i;

	for (i = 0; i < NDAEMONS; i++)
		if (dpid[i] > 0) {
			kill(dpid[i], SIGCONT);
			kill(dpid[i], SIGKILL);
			waitpid(dpid[i], NULL, 0);
			dpid[i] = 0;
		}
	return 0;
}

static int
teardown(void **state)
{
	kill_daemons(state);
	stop_server(&srv);
	free(db_file);
	testlib_teardown();
	return 0;
}

/*
 * Daemon n: node dn, status on 1890(n+1), its own changes_log dn.jsonl,
 * nsources sources (/oai/sK) of the server.
 */
static void
write_conf(int n, int nsources)
{
	struct buf b;
	char	  *name, *log;
	int	   k;

	buf_init(&b, 1 << 16);
	log = NULL;
	xasprintf(&name, "d%d.jsonl", n);
	log = path(name);
	free(name);
	buf_printf(&b,
	    "[global]\ndatabase = %s\nleases = yes\nlease_ttl = 3s\n"
	    "node_name = d%d\ndelay = 0ms\nstatus_listen = 127.0.0.1:%d\n"
	    "changes_log = %s\n",
	    db_file, n, STATUS_BASE + 1 + n, log);
	for (k = 0; k < nsources; k++)
		buf_printf(&b,
		    "[source s%d]\nurl = http://127.0.0.1:%d/oai/s%d\n"
		    "interval = 1h\n",
		    k, srv.port, k);
	xasprintf(&name, "d%d.conf", n);
	save(name, buf_str(&b));
	free(name);
	free(log);
	buf_free(&b);
}

static void
start_daemon(int n)
{
	dpid[n] = daemon_n_start(n);
}

static void
stop_daemon(int n)
{
	daemon_n_stop(&dpid[n], n);
}

static size_t
body_cb(char *p, size_t size, size_t n, void *arg)
{
	buf_add(arg, p, size * n);
	return size * n;
}

/* GET pathq from daemon n's status server: its body, NULL if no answer. */
static char *
get(int n, const char *pathq, long timeout)
{
	struct buf b;
	CURL	  *c;
	char	  *url;
	long	   status = 0;
	CURLcode   rc;

	buf_init(&b, 16UL * 1024 * 1024);
	xasprintf(&url, "http://127.0.0.1:%d%s", STATUS_BASE + 1 + n, pathq);
	c = curl_easy_init();
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	free(url);
	if (rc != CURLE_OK || status != 200) {
		buf_free(&b);
		return NULL;
	}
	url = xstrdup(buf_str(&b));
	buf_free(&b);
	return url;
}

/* Daemon n answers on its status server, within 20 s. */
static void
wait_up(int n)
{
	int64_t t0 = mono_ms();
	char   *body;

	while (mono_ms() - t0 < 20000) {
		if ((body = get(n, "/healthz", 2)) != NULL) {
			free(body);
			return;
		}
		usleep(100 * 1000);
	}
	fail_msg("daemon %d: no status server within 20 s", n);
}

static long long
db_int(const char *sql)
{
	sqlite3	     *db;
	sqlite3_stmt *st;
	long long     v = -1;

	if (sqlite3_open_v2(db_file, &db, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK) {
		sqlite3_close(db);
		return -1;
	}
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/*
 * The seqs of a JSON Lines text must be 1..want, in order, each once:
 * -1 if they are not (yet), else the count.
 */
static long long
seqs_in_order(const char *text)
{
	const char *p = text;
	long long   n = 0;

	while (*p != '\0') {
		if (strncmp(p, "{\"seq\":", 7) != 0 ||
		    strtoll(p + 7, NULL, 10) != n + 1)
			return -1;
		n++;
		if ((p = strchr(p, '\n')) == NULL)
			return -1;
		p++;
	}
	return n;
}

/* Daemon n's changes_log holds seqs 1..want, within 20 s. */
static void
wait_file(int n, long long want)
{
	int64_t	  t0 = mono_ms();
	char	 *name, *text;
	long long got = -1;

	xasprintf(&name, "d%d.jsonl", n);
	while (mono_ms() - t0 < 20000) {
		text = read_tmp(name);
		got = seqs_in_order(text);
		free(text);
		if (got == want)
			break;
		usleep(100 * 1000);
	}
	free(name);
	if (got != want)
		fail_msg("d%d.jsonl: %lld changes in order, want %lld", n, got,
		    want);
}

static void
test_other_daemons_commits(void **state)
{
	char   *body, *q;
	int64_t t0, took;

	write_conf(0, 0);
	write_conf(1, 1);
	unlink_tmp("d0.jsonl");
	unlink_tmp("d1.jsonl");
	start_daemon(0);
	wait_up(0);
	body = get(0, "/changes?since=0", 10);
	assert_non_null(body);
	assert_string_equal(body, "");
	free(body);

	/* B starts; A's poll parks before B's first page (300 ms) lands. */
	start_daemon(1);
	t0 = mono_ms();
	xasprintf(&q, "/changes?since=0&wait=%d", POLL_WAIT);
	body = get(0, q, POLL_WAIT + 30);
	took = mono_ms() - t0;
	free(q);
	assert_non_null(body);
	if (seqs_in_order(body) < 1)
		fail_msg("A's long poll: no change of B's after %lld ms: %s",
		    (long long)took, body);
	if (took > POLL_BOUND)
		fail_msg(
		    "A's long poll answered after %lld ms", (long long)took);
	free(body);

	/* B finishes; A's file gets every change, once, in order. */
	t0 = mono_ms();
	while (db_int("SELECT count(*) FROM change") < NRECORDS &&
	    mono_ms() - t0 < 30000)
		usleep(100 * 1000);
	assert_int_equal(db_int("SELECT count(*) FROM change"), NRECORDS);
	wait_file(0, NRECORDS);
	stop_daemon(1);
	stop_daemon(0);
}

static long long
changes(void)
{
	return db_int("SELECT count(*) FROM change");
}

/* Wait (at most 60 s) until the change log holds n changes. */
static void
wait_changes(long long n)
{
	int64_t t0 = mono_ms();

	while (changes() < n && mono_ms() - t0 < 60000)
		usleep(50 * 1000);
	if (changes() < n)
		fail_msg("%lld changes after 60 s, want %lld", changes(), n);
}

static void
test_a_file_per_node(void **state)
{
	long long at_kill;

	/* A fresh database and files. */
	free(db_file);
	db_file = path("feedmulti2.db");
	write_conf(0, NSOURCES2);
	write_conf(1, NSOURCES2);
	unlink_tmp("d0.jsonl");
	unlink_tmp("d1.jsonl");
	start_daemon(0);
	start_daemon(1);
	wait_changes(PAGE_SIZE);
	/* d0 dies mid-harvest; d1 goes on, its cursor with it. */
	kill(dpid[0], SIGKILL);
	waitpid(dpid[0], NULL, 0);
	dpid[0] = 0;
	at_kill = changes();
	wait_changes(at_kill + 3 * PAGE_SIZE);
	start_daemon(0);
	wait_changes(NSOURCES2 * NRECORDS);
	wait_file(0, NSOURCES2 * NRECORDS);
	wait_file(1, NSOURCES2 * NRECORDS);
	stop_daemon(0);
	stop_daemon(1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(
		    test_other_daemons_commits, kill_daemons),
		cmocka_unit_test_teardown(test_a_file_per_node, kill_daemons),
	};

	curl_global_init(CURL_GLOBAL_DEFAULT);
	return cmocka_run_group_tests_name("feedmulti", tests, setup, teardown);
}
