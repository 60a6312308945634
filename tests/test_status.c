/*
 * The daemon's status server, through a real HTTP client (libcurl):
 * /healthz, /status, /metrics (checked by Prometheus' own promtool),
 * /changes with and without a long poll, POST /sources/NAME/harvest, and
 * the errors.  The daemon harvests the test server on 127.0.0.1.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <sqlite3.h>

#include "testlib.h"

static struct server	 srv;
static pid_t		 dpid;
static int		 sport;		/* the status server's port */
static char		*log_file;
static const char	*token;		/* sent as a bearer token, or NULL */

static size_t
write_cb(char *p, size_t size, size_t n, void *arg)
{
	return buf_add(arg, p, size * n) == 0 ? size * n : 0;
}

/* A request to the daemon; the body, and the status in *code. */
static char *
req(const char *method, const char *pathq, long *code, double *secs)
{
	CURL		*c;
	struct curl_slist *hdrs = NULL;
	struct buf	 b;
	char		*url, *auth;
	double		 t = 0;

	buf_init(&b, 64UL * 1024 * 1024);
	xasprintf(&url, "http://127.0.0.1:%d%s", sport, pathq);
	c = curl_easy_init();
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	if (token != NULL) {
		xasprintf(&auth, "Authorization: Bearer %s", token);
		hdrs = curl_slist_append(hdrs, auth);
		free(auth);
	}
	/* POST with no body: curl would say it is a form. */
	if (strcmp(method, "POST") == 0) {
		hdrs = curl_slist_append(hdrs, "Content-Type:");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
	} else if (strcmp(method, "GET") != 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, code);
	curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &t);
	if (secs != NULL)
		*secs = t;
	curl_easy_cleanup(c);
	curl_slist_free_all(hdrs);
	free(url);
	return b.data != NULL ? b.data : xstrdup("");
}

static int
setup(void **state)
{
	char	*conf, *cmd, *db, *log, *p;
	int	 i;

	if (testlib_setup() == -1)
		return -1;
	start_server(&srv, "st.port", "--records 120 --page-size 50 "
	    "--deleted-every 0");
	db = path("st.db");
	log_file = path("st.log");
	xasprintf(&conf, "[global]\ndatabase = %s\ndelay = 0s\n"
	    "status_listen = 127.0.0.1:0\n\n"
	    "[source one]\nurl = http://127.0.0.1:%d/oai\ninterval = 1h\n\n"
	    "[source two]\nurl = http://127.0.0.1:%d/oai\nset = col_1\n"
	    "interval = 1h\n", db, srv.port, srv.port);
	save("st.conf", conf);
	free(conf);
	dpid = fork();
	if (dpid == -1)
		return -1;
	if (dpid == 0) {
		p = path("st.conf");
		xasprintf(&cmd, "exec %s/oaiharvestd -c %s 2>%s", bindir, p,
		    log_file);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	/* The port it chose is in its log. */
	for (i = 0; i < 200 && sport == 0; i++) {
		usleep(50 * 1000);
		log = slurp(log_file);
		if ((p = strstr(log, "event=status_listen")) != NULL &&
		    (p = strstr(p, "port=")) != NULL)
			sport = atoi(p + 5);
		free(log);
	}
	free(db);
	/* Hourly sources start within a jitter of minutes: start them now. */
	if (sport > 0)
		kill(dpid, SIGUSR1);
	return sport > 0 ? 0 : -1;
}

static int
teardown(void **state)
{
	int	status;

	if (dpid > 0) {
		kill(dpid, SIGTERM);
		waitpid(dpid, &status, 0);
	}
	stop_server(&srv);
	free(log_file);
	testlib_teardown();
	return 0;
}

/* Wait (bounded) until both sources have a successful run. */
static void
wait_harvested(void)
{
	sqlite3	*db;
	char	*body;
	long	 code;
	int	 i, ok = 0;

	for (i = 0; i < 300 && !ok; i++) {
		body = req("GET", "/status", &code, NULL);
		assert_int_equal(code, 200);
		assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
		load_jsonl(db, "s", body);
		ok = q_int(db, "SELECT count(*) FROM s, json_each(s.j, "
		    "'$.sources') x WHERE x.value->>'last_run' IS NOT NULL "
		    "AND x.value->'last_run'->>'status' = 'ok'") == 2;
		sqlite3_close(db);
		free(body);
		if (!ok)
			usleep(100 * 1000);
	}
	assert_true(ok);
}

static void
test_health_and_status(void **state)
{
	sqlite3	*db;
	char	*body;
	long	 code;

	body = req("GET", "/healthz", &code, NULL);
	assert_int_equal(code, 200);
	assert_string_equal(body, "ok\n");
	free(body);
	wait_harvested();
	body = req("GET", "/status", &code, NULL);
	assert_int_equal(code, 200);
	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	load_jsonl(db, "s", body);
	free(body);
	assert_int_equal(q_int(db, "SELECT json_array_length(j, '$.sources') "
	    "FROM s"), 2);
	/* The database's view agrees with what the server holds. */
	assert_int_equal(q_int(db, "SELECT x.value->'records'->>'present' "
	    "FROM s, json_each(s.j, '$.sources') x WHERE "
	    "x.value->>'name' = 'one'"), 120);
	assert_int_equal(q_int(db, "SELECT count(*) FROM s, json_each(s.j, "
	    "'$.sources') x WHERE x.value->>'name' = 'two' AND "
	    "x.value->'lists'->0->>'set' = 'col_1' AND "
	    "x.value->'lists'->0->>'watermark' IS NOT NULL AND "
	    "x.value->>'state' = 'idle' AND x.value->>'next_run' IS NOT NULL "
	    "AND x.value->>'consecutive_failures' = 0"), 1);
	sqlite3_close(db);
}

static void
test_metrics_promtool(void **state)
{
	char	*body, *f, *out;
	long	 code;

	wait_harvested();
	body = req("GET", "/metrics", &code, NULL);
	assert_int_equal(code, 200);
	assert_non_null(strstr(body, "# TYPE oaiharvest_runs_total counter"));
	assert_non_null(strstr(body,
	    "oaiharvest_runs_total{source=\"one\",result=\"ok\"} 1\n"));
	assert_non_null(strstr(body,
	    "oaiharvest_records_total{source=\"one\",kind=\"new\"} 120\n"));
	assert_non_null(strstr(body, "oaiharvest_http_requests_total{code="
	    "\"200\"}"));
	assert_non_null(strstr(body,
	    "oaiharvest_run_duration_seconds_bucket{le=\"+Inf\"} 2\n"));
	assert_non_null(strstr(body, "oaiharvest_harvests_in_flight 0\n"));
	save("metrics.txt", body);
	free(body);
	/* Prometheus' own checker; installed by make deps. */
	f = path("metrics.txt");
	assert_int_equal(run("promtool.out", "promtool.err", "promtool check "
	    "metrics < %s", f), 0);
	out = read_tmp("promtool.err");
	assert_string_equal(out, "");
	free(out);
	free(f);
}

static void
test_changes_and_long_poll(void **state)
{
	sqlite3	*db;
	char	*body;
	long	 code;
	double	 secs;
	pid_t	 pid;
	int	 status;
	long long last;
	char	*q;

	wait_harvested();
	body = req("GET", "/changes?since=0&limit=5", &code, NULL);
	assert_int_equal(code, 200);
	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	load_jsonl(db, "c", body);
	free(body);
	assert_int_equal(q_int(db, "SELECT count(*) FROM c"), 5);
	assert_int_equal(q_int(db, "SELECT max(j->>'seq') FROM c"), 5);
	sqlite3_close(db);

	/* Nothing after the newest: a short wait answers empty, in time. */
	body = req("GET", "/changes?since=1000000&wait=1", &code, &secs);
	assert_int_equal(code, 200);
	assert_string_equal(body, "");
	assert_true(secs >= 0.9);
	free(body);

	/*
	 * A long poll answers as soon as a change arrives: a child waits up
	 * to 60 s while the corpus changes and the source harvests now.
	 */
	body = req("GET", "/changes?since=0&limit=100000", &code, NULL);
	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	load_jsonl(db, "c", body);
	free(body);
	last = q_int(db, "SELECT max(j->>'seq') FROM c");
	sqlite3_close(db);
	assert_true(last >= 150);
	xasprintf(&q, "/changes?since=%lld&wait=60", last);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		body = req("GET", q, &code, &secs);
		_exit(code == 200 && secs < 30 && strstr(body,
		    "\"identifier\":\"oai:oaiharvest.test:rec/7\"") != NULL &&
		    strstr(body, "\"kind\":\"updated\"") != NULL ? 0 : 1);
	}
	usleep(300 * 1000);
	free(http(&srv, 1, "/control/update?id=7"));
	body = req("POST", "/sources/one/harvest", &code, NULL);
	assert_int_equal(code, 202);
	assert_non_null(strstr(body, "\"source\":\"one\""));
	free(body);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	free(q);
}

/* The CLI: the daemon's view of status, and changes --follow. */
static void
test_cli_status_and_follow(void **state)
{
	char	*out, *db, *cmd, *f;
	long	 code;
	pid_t	 pid;
	int	 i, seen = 0;

	wait_harvested();
	assert_int_equal(run("cs.out", "cs.err", "%s/oaiharvest status "
	    "--daemon http://127.0.0.1:%d", bindir, sport), 0);
	out = read_tmp("cs.out");
	assert_non_null(strstr(out, "SOURCE"));
	assert_non_null(strstr(out, "\none "));
	assert_non_null(strstr(out, "oai_dc/col_1="));
	free(out);
	/* A daemon that does not answer: the database's view instead. */
	db = path("st.db");
	assert_int_equal(run("cs2.out", "cs2.err", "%s/oaiharvest status "
	    "--daemon http://127.0.0.1:1 --db %s", bindir, db), 0);
	out = read_tmp("cs2.err");
	assert_non_null(strstr(out, "does not answer"));
	free(out);
	out = read_tmp("cs2.out");
	assert_non_null(strstr(out, "source one"));
	free(out);

	/* --follow prints a change committed after it started. */
	f = path("follow.out");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		xasprintf(&cmd, "exec %s/oaiharvest changes --db %s --follow "
		    ">%s 2>/dev/null", bindir, db, f);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	usleep(500 * 1000);
	free(http(&srv, 1, "/control/update?id=9"));
	free(req("POST", "/sources/one/harvest", &code, NULL));
	assert_int_equal(code, 202);
	for (i = 0; i < 300 && !seen; i++) {
		usleep(100 * 1000);
		out = slurp(f);
		seen = strstr(out, "\"identifier\":\"oai:oaiharvest.test:rec/9\","
		    "\"prefix\":\"oai_dc\",\"kind\":\"updated\"") != NULL;
		free(out);
	}
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	assert_true(seen);
	/* And it printed the history first, each change once. */
	out = slurp(f);
	assert_non_null(strstr(out, "{\"seq\":1,"));
	assert_null(strstr(strstr(out, "{\"seq\":1,") + 1, "{\"seq\":1,"));
	free(out);
	free(f);
	free(db);
}

static void
test_errors(void **state)
{
	char	*body;
	long	 code;

	body = req("POST", "/sources/nosuch/harvest", &code, NULL);
	assert_int_equal(code, 404);
	free(body);
	body = req("GET", "/nowhere", &code, NULL);
	assert_int_equal(code, 404);
	free(body);
	body = req("POST", "/metrics", &code, NULL);
	assert_int_equal(code, 405);
	free(body);
	body = req("GET", "/changes?since=abc", &code, NULL);
	assert_int_equal(code, 400);
	free(body);
	body = req("GET", "/changes?wait=100000", &code, NULL);
	assert_int_equal(code, 400);
	free(body);
}

/* Is source one disabled, or its last run not ok? */
static int
one_disabled_or_failed(void)
{
	sqlite3	*db;
	char	*body;
	long	 code;
	int	 ok;

	body = req("GET", "/status", &code, NULL);
	assert_int_equal(code, 200);
	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	load_jsonl(db, "s", body);
	ok = q_int(db, "SELECT count(*) FROM s, json_each(s.j, '$.sources') x "
	    "WHERE x.value->>'name' = 'one' AND x.value->>'disabled' = 0 AND "
	    "x.value->'last_run'->>'status' = 'ok'") == 1;
	sqlite3_close(db);
	free(body);
	return !ok;
}

/*
 * A bot wall's challenge stops a source as a 403 does (issue 13, item 9):
 * one request into it, error type blocked, the source disabled until an
 * operator acts; POST /sources/NAME/harvest is that act.
 */
static void
test_blocked_source_disabled(void **state)
{
	char	*body;
	long	 code;
	int	 i, disabled = 0;

	wait_harvested();
	free(http(&srv, 1, "/control/fault?kind=challenge&wall=cloudflare&"
	    "at=2&count=0"));
	body = req("POST", "/sources/one/harvest", &code, NULL);
	assert_int_equal(code, 202);
	free(body);
	for (i = 0; i < 300 && !disabled; i++) {
		usleep(100 * 1000);
		body = req("GET", "/status", &code, NULL);
		disabled = strstr(body, "\"state\":\"disabled\"") != NULL;
		if (disabled && strstr(body, "bot protection (Cloudflare)") ==
		    NULL)
			fail_msg("no cause in /status: %s", body);
		free(body);
	}
	assert_true(disabled);
	body = req("GET", "/metrics", &code, NULL);
	assert_non_null(strstr(body, "oaiharvest_errors_total{source=\"one\","
	    "type=\"blocked\"} 1\n"));
	assert_non_null(strstr(body,
	    "oaiharvest_source_disabled{source=\"one\"} 1\n"));
	free(body);
	/* The operator acts: the wall is gone, the source harvests again. */
	free(http(&srv, 1, "/control/clear-faults"));
	free(req("POST", "/sources/one/harvest", &code, NULL));
	assert_int_equal(code, 202);
	for (i = 0; i < 300 && disabled; i++) {
		usleep(100 * 1000);
		disabled = one_disabled_or_failed();
	}
	assert_false(disabled);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_health_and_status),
		cmocka_unit_test(test_metrics_promtool),
		cmocka_unit_test(test_changes_and_long_poll),
		cmocka_unit_test(test_cli_status_and_follow),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_blocked_source_disabled),
	};

	return cmocka_run_group_tests_name("status", tests, setup, teardown);
}
