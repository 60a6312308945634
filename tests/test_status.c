/*
 * The daemon's status server, through a real HTTP client (libcurl) and raw
 * sockets: /healthz, /status, /metrics (checked by Prometheus' own
 * promtool), /changes with and without a long poll, POST
 * /sources/NAME/harvest, the errors, and hostile clients (issue 14): a
 * cross-site POST, DNS rebinding, the bearer token, idle and trickling
 * connections, long polls whose clients leave, clients that never read.
 * How the last reload went (issue 16); the schedule after a restart and
 * after a new interval.  The daemon harvests the test server on 127.0.0.1,
 * with 256 descriptors.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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

static struct server srv;
static pid_t	     dpid;
static int	     sport; /* the status server's port */
static char	    *log_file;
static const char   *token;	/* sent as a bearer token, or NULL */
static const char   *extra_hdr; /* one more request header, or NULL */
static long	     req_timeout = 30;
/* A second daemon and test server of a test, stopped by teardown too. */
static pid_t	     pid2;
static struct server srv2;
static int	     shared_port; /* the shared daemon's sport */

/* The shared daemon's descriptor limit: its caps are a quarter, and half. */
#define NOFILE 256

static size_t
write_cb(char *p, size_t size, size_t n, void *arg)
{
	return buf_add(arg, p, size * n) == 0 ? size * n : 0;
}

/* A request to the daemon; the body, and the status in *code. */
static char *
req(const char *method, const char *pathq, long *code, double *secs)
{
	CURL		  *c;
	struct curl_slist *hdrs = NULL;
	struct buf	   b;
	char		  *url, *auth;
	double		   t = 0;

	buf_init(&b, 64UL * 1024 * 1024);
	xasprintf(&url, "http://127.0.0.1:%d%s", sport, pathq);
	c = curl_easy_init();
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, req_timeout);
	if (extra_hdr != NULL)
		hdrs = curl_slist_append(hdrs, extra_hdr);
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

/*
 * Start oaiharvestd on conf (saved as TAG.conf; its log in TAG.log), after
 * the shell prefix pre; the status server's port into *port (0: none).
 */
static pid_t
spawn(const char *tag, const char *conf, const char *pre, int *port)
{
	char *name, *cmd, *cf, *lf, *log, *p;
	pid_t pid;
	int   i;

	xasprintf(&name, "%s.conf", tag);
	save(name, conf);
	cf = path(name);
	free(name);
	xasprintf(&name, "%s.log", tag);
	lf = path(name);
	free(name);
	*port = 0;
	pid = fork();
	if (pid == -1)
		return -1;
	if (pid == 0) {
		xasprintf(&cmd, "%s exec %s/oaiharvestd -c %s 2>%s", pre,
		    bindir, cf, lf);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	/* The port it chose is in its log. */
	for (i = 0; i < 200 && *port == 0; i++) {
		usleep(50 * 1000);
		log = slurp(lf);
		if ((p = strstr(log, "event=status_listen")) != NULL &&
		    (p = strstr(p, "port=")) != NULL)
			*port = atoi(p + 5);
		free(log);
	}
	free(cf);
	free(lf);
	return pid;
}

static int
setup(void **state)
{
	char *conf, *db, *pre;

	if (testlib_setup() == -1)
		return -1;
	start_server(&srv, "st.port",
	    "--records 120 --page-size 50 "
	    "--deleted-every 0");
	db = path("st.db");
	log_file = path("st.log");
	xasprintf(&conf,
	    "[global]\ndatabase = %s\ndelay = 0s\n"
	    "status_listen = 127.0.0.1:0\n"
	    "status_hosts = harvest.example.org, [fd00::1]\n\n"
	    "[source one]\nurl = http://127.0.0.1:%d/oai\ninterval = 1h\n\n"
	    "[source two]\nurl = http://u:s3cret@127.0.0.1:%d/oai\n"
	    "set = col_1\n"
	    "interval = 1h\n",
	    db, srv.port, srv.port);
	/* Few descriptors, so that running out of them shows. */
	xasprintf(&pre, "ulimit -n %d;", NOFILE);
	dpid = spawn("st", conf, pre, &sport);
	shared_port = sport;
	free(pre);
	free(conf);
	free(db);
	/* Hourly sources start within a jitter of minutes: start them now. */
	if (sport > 0)
		kill(dpid, SIGUSR1);
	return sport > 0 ? 0 : -1;
}

static int
teardown(void **state)
{
	int status, rc = 0;

	if (dpid > 0) {
		kill(dpid, SIGTERM);
		waitpid(dpid, &status, 0);
		/* A clean exit: no sanitizer report, no leak. */
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "oaiharvestd exited with %d\n", status);
			rc = -1;
		}
	}
	if (pid2 > 0) {
		kill(pid2, SIGTERM);
		waitpid(pid2, NULL, 0);
	}
	if (srv2.pid > 0)
		kill(srv2.pid, SIGTERM);
	stop_server(&srv);
	free(log_file);
	testlib_teardown();
	return rc;
}

/* How many sources of /status satisfy cond, SQL on x.value. */
static long long
status_sources(const char *cond)
{
	sqlite3	 *db;
	char	 *body, *sql;
	long	  code;
	long long n;

	body = req("GET", "/status", &code, NULL);
	assert_int_equal(code, 200);
	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	load_jsonl(db, "s", body);
	xasprintf(&sql,
	    "SELECT count(*) FROM s, json_each(s.j, '$.sources') x "
	    "WHERE %s",
	    cond);
	n = q_int(db, sql);
	free(sql);
	sqlite3_close(db);
	free(body);
	return n;
}

/* Wait (bounded) until both sources have a successful run. */
static void
wait_harvested(void)
{
	int i, ok = 0;

	for (i = 0; i < 300 && !ok; i++) {
		ok = status_sources(
			 "x.value->>'last_run' IS NOT NULL AND "
			 "x.value->'last_run'->>'status' = 'ok'") == 2;
		if (!ok)
			usleep(100 * 1000);
	}
	assert_true(ok);
}

/* An SQL statement on the daemon's database, behind its back. */
static void
st_exec(const char *sql)
{
	sqlite3 *db;
	char	*p, *err = NULL;

	p = path("st.db");
	assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 10000);
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err);
	sqlite3_close(db);
	free(p);
}

/*
 * /status gives a source's records as counted at start and after each
 * run, as oaiharvest_records does: not a scan of its records at every
 * request (0.4-0.7 s a source of a million, on the event loop).  A
 * record marked deleted behind the daemon's back shows at the next run,
 * not in the next /status.  j: the /status JSON loaded as table s.
 */
static void
status_counts_cached(sqlite3 *j)
{
	static const char *const one =
	    "(SELECT min(r.id) FROM record r JOIN source s ON"
	    " s.id = r.source_id WHERE s.name = 'one' AND r.deleted = 0)";
	char *body, *sql;
	long  code;

	assert_int_equal(q_int(j,
			     "SELECT x.value->'records'->>'deleted' "
			     "FROM s, json_each(s.j, '$.sources') x WHERE "
			     "x.value->>'name' = 'one'"),
	    0);
	st_exec("CREATE TABLE t_gone AS SELECT 0 AS id");
	xasprintf(&sql, "UPDATE t_gone SET id = %s", one);
	st_exec(sql);
	free(sql);
	st_exec("UPDATE record SET deleted = 1"
		" WHERE id = (SELECT id FROM t_gone)");
	body = req("GET", "/status", &code, NULL);
	assert_int_equal(code, 200);
	st_exec("UPDATE record SET deleted = 0"
		" WHERE id = (SELECT id FROM t_gone)");
	st_exec("DROP TABLE t_gone");
	load_jsonl(j, "s2", body);
	free(body);
	assert_int_equal(q_int(j,
			     "SELECT x.value->'records'->>'present' * 1000 +"
			     " x.value->'records'->>'deleted' "
			     "FROM s2, json_each(s2.j, '$.sources') x WHERE "
			     "x.value->>'name' = 'one'"),
	    120000);
}

static void
test_health_and_status(void **state)
{
	sqlite3 *db;
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
	assert_int_equal(q_int(db,
			     "SELECT json_array_length(j, '$.sources') "
			     "FROM s"),
	    2);
	/* The database's view agrees with what the server holds. */
	assert_int_equal(q_int(db,
			     "SELECT x.value->'records'->>'present' "
			     "FROM s, json_each(s.j, '$.sources') x WHERE "
			     "x.value->>'name' = 'one'"),
	    120);
	status_counts_cached(db);
	/* A password in a URL is never shown (issue 14, item 5). */
	assert_int_equal(q_int(db,
			     "SELECT count(*) FROM s WHERE j LIKE "
			     "'%s3cret%' OR j NOT LIKE '%u:***@127.0.0.1%'"),
	    0);
	body = slurp(log_file);
	assert_non_null(strstr(body, "u:***@127.0.0.1"));
	assert_null(strstr(body, "s3cret"));
	free(body);
	assert_int_equal(
	    q_int(db,
		"SELECT count(*) FROM s, json_each(s.j, "
		"'$.sources') x WHERE x.value->>'name' = 'two' AND "
		"x.value->'lists'->0->>'set' = 'col_1' AND "
		"x.value->'lists'->0->>'watermark' IS NOT NULL AND "
		"x.value->>'state' = 'idle' AND x.value->>'next_run' IS NOT "
		"NULL "
		"AND x.value->>'consecutive_failures' = 0"),
	    1);
	sqlite3_close(db);
}

/* The types of oaiharvest_errors_total, as the daemon names them. */
static const char *const err_types[] = {
	"network",
	"http",
	"parse",
	"oai",
	"protocol",
	"store",
	"limit",
	"forbidden",
	"blocked",
	"cancelled",
	"other",
};

static void
test_metrics_promtool(void **state)
{
	char  *body, *f, *out, *want, *p;
	long   code;
	size_t i;

	wait_harvested();
	body = req("GET", "/metrics", &code, NULL);
	assert_int_equal(code, 200);
	assert_non_null(strstr(body, "# TYPE oaiharvest_runs_total counter"));
	assert_non_null(strstr(
	    body, "oaiharvest_runs_total{source=\"one\",result=\"ok\"} 1\n"));
	assert_non_null(strstr(body,
	    "oaiharvest_records_total{source=\"one\",kind=\"new\"} 120\n"));
	/* Per source and host, the host without credentials (issue 16). */
	xasprintf(&want,
	    "oaiharvest_http_requests_total{source=\"one\","
	    "host=\"http://127.0.0.1:%d\",code=\"200\"} ",
	    srv.port);
	assert_non_null(strstr(body, want));
	free(want);
	xasprintf(&want,
	    "oaiharvest_http_requests_total{source=\"two\","
	    "host=\"http://127.0.0.1:%d\",code=\"200\"} ",
	    srv.port);
	assert_non_null(strstr(body, want));
	free(want);
	assert_null(strstr(body, "s3cret"));
	/* Every error series is there before the first error. */
	for (i = 0; i < nitems(err_types); i++) {
		xasprintf(&want,
		    "oaiharvest_errors_total{source=\"two\","
		    "type=\"%s\"} 0\n",
		    err_types[i]);
		assert_non_null(strstr(body, want));
		free(want);
	}
	assert_non_null(strstr(
	    body, "oaiharvest_consecutive_failures{source=\"one\"} 0\n"));
	assert_non_null(strstr(body,
	    "oaiharvest_records{source=\"one\","
	    "prefix=\"oai_dc\",state=\"present\"} 120\n"));
	assert_non_null(strstr(body,
	    "oaiharvest_records{source=\"one\","
	    "prefix=\"oai_dc\",state=\"deleted\"} 0\n"));
	assert_non_null(strstr(body,
	    "oaiharvest_records{source=\"two\","
	    "prefix=\"oai_dc\",state=\"present\"} 30\n"));
	assert_non_null(p = strstr(body, "\noaiharvest_build_info{version=\""));
	assert_non_null(strstr(p, "\",sqlite=\"3."));
	assert_non_null(strstr(p, "\",libcurl=\""));
	assert_non_null(strstr(p, "\",libxml2=\"2."));
	assert_non_null(strstr(p, "\"} 1\n"));
	assert_non_null(strstr(
	    body, "oaiharvest_run_duration_seconds_bucket{le=\"+Inf\"} 2\n"));
	assert_non_null(strstr(body, "oaiharvest_harvests_in_flight 0\n"));
	save("metrics.txt", body);
	free(body);
	/* Prometheus' own checker; installed by make deps. */
	f = path("metrics.txt");
	assert_int_equal(run("promtool.out", "promtool.err",
			     "promtool check "
			     "metrics < %s",
			     f),
	    0);
	out = read_tmp("promtool.err");
	assert_string_equal(out, "");
	free(out);
	free(f);
}

static void
test_changes_and_long_poll(void **state)
{
	sqlite3	 *db;
	char	 *body;
	long	  code;
	double	  secs;
	pid_t	  pid;
	int	  status;
	long long last;
	char	 *q;

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
		_exit(code == 200 && secs < 30 &&
			    strstr(body,
				"\"identifier\":\"oai:oaiharvest.test:rec/"
				"7\"") != NULL &&
			    strstr(body, "\"kind\":\"updated\"") != NULL ?
			0 :
			1);
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
	char *out, *db, *cmd, *f;
	long  code;
	pid_t pid;
	int   i, seen = 0;

	wait_harvested();
	assert_int_equal(run("cs.out", "cs.err",
			     "%s/oaiharvest status "
			     "--daemon http://127.0.0.1:%d",
			     bindir, sport),
	    0);
	out = read_tmp("cs.out");
	assert_non_null(strstr(out, "SOURCE"));
	assert_non_null(strstr(out, "\none "));
	assert_non_null(strstr(out, "oai_dc/col_1="));
	free(out);
	/* A daemon that does not answer: the database's view instead. */
	db = path("st.db");
	assert_int_equal(run("cs2.out", "cs2.err",
			     "%s/oaiharvest status "
			     "--daemon http://127.0.0.1:1 --db %s",
			     bindir, db),
	    0);
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
		xasprintf(&cmd,
		    "exec %s/oaiharvest changes --db %s --follow "
		    ">%s 2>/dev/null",
		    bindir, db, f);
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
		seen =
		    strstr(out,
			"\"identifier\":\"oai:oaiharvest.test:rec/9\","
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
	char *body;
	long  code;

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
	return status_sources("x.value->>'name' = 'one' AND "
			      "x.value->>'disabled' = 0 AND "
			      "x.value->'last_run'->>'status' = 'ok'") != 1;
}

/*
 * A bot wall's challenge stops a source as a 403 does (issue 13, item 9):
 * one request into it, error type blocked, the source disabled until an
 * operator acts; POST /sources/NAME/harvest is that act.
 */
static void
test_blocked_source_disabled(void **state)
{
	char *body;
	long  code;
	int   i, disabled = 0;

	wait_harvested();
	free(http(&srv, 1,
	    "/control/fault?kind=challenge&wall=cloudflare&"
	    "at=2&count=0"));
	body = req("POST", "/sources/one/harvest", &code, NULL);
	assert_int_equal(code, 202);
	free(body);
	for (i = 0; i < 300 && !disabled; i++) {
		usleep(100 * 1000);
		body = req("GET", "/status", &code, NULL);
		disabled = strstr(body, "\"state\":\"disabled\"") != NULL;
		if (disabled &&
		    strstr(body, "bot protection (Cloudflare)") == NULL)
			fail_msg("no cause in /status: %s", body);
		free(body);
	}
	assert_true(disabled);
	body = req("GET", "/metrics", &code, NULL);
	assert_non_null(strstr(body,
	    "oaiharvest_errors_total{source=\"one\","
	    "type=\"blocked\"} 1\n"));
	assert_non_null(
	    strstr(body, "oaiharvest_source_disabled{source=\"one\"} 1\n"));
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

/* Hostile clients (issue 14) */

/* The value of a sample in /metrics ("name" or "name{labels}"), or -1. */
static long long
metric(const char *name)
{
	char	 *body, *p;
	long	  code;
	long long v = -1;
	size_t	  len = strlen(name);

	body = req("GET", "/metrics", &code, NULL);
	assert_int_equal(code, 200);
	for (p = body; p != NULL && *p != '\0';
	     p = strchr(p, '\n'), p = p != NULL ? p + 1 : NULL)
		if (strncmp(p, name, len) == 0 && p[len] == ' ') {
			v = strtoll(p + len + 1, NULL, 10);
			break;
		}
	free(body);
	return v;
}

/* A test server's count of OAI-PMH requests. */
static long long
server_requests(const struct server *sv)
{
	char	 *body, *p;
	long long n;

	body = http(sv, 0, "/control/stats");
	assert_non_null(p = strstr(body, "\"oai_requests\":"));
	n = strtoll(p + strlen("\"oai_requests\":"), NULL, 10);
	free(body);
	return n;
}

static long long
oai_requests(void)
{
	return server_requests(&srv);
}

static size_t
discard_cb(char *p, size_t size, size_t n, void *arg)
{
	return size * n;
}

/* A POST to harvest source one with one more header, or two. */
static long
post_with(const char *h1, const char *h2)
{
	CURL		  *c;
	struct curl_slist *hdrs = NULL;
	char		  *url;
	long		   code = 0;

	xasprintf(&url, "http://127.0.0.1:%d/sources/one/harvest", sport);
	c = curl_easy_init();
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, "x=1");
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_cb);
	hdrs = curl_slist_append(hdrs, h1);
	if (h2 != NULL)
		hdrs = curl_slist_append(hdrs, h2);
	if (extra_hdr != NULL)
		hdrs = curl_slist_append(hdrs, extra_hdr);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	curl_slist_free_all(hdrs);
	free(url);
	return code;
}

/*
 * A page on evil.example posts a form (text/plain, its Origin) to harvest
 * a source: refused, and the repository sees no request.  Our own
 * clients' POSTs (no body or JSON, our Origin) still work.
 */
static void
test_cross_site_post(void **state)
{
	static const char *const bad[][2] = {
		{ "Origin: http://evil.example", "Content-Type: text/plain" },
		{ "Origin: http://evil.example",
		    "Content-Type: "
		    "application/json" },
		{ "Origin: null", "Content-Type: application/json" },
		{ "Content-Type: text/plain", NULL },
		{ "Content-Type: application/x-www-form-urlencoded", NULL },
		{ "Content-Type: multipart/form-data; boundary=x", NULL },
		{ "Sec-Fetch-Site: cross-site",
		    "Content-Type: "
		    "application/json" },
	};
	char	  own[64];
	long long before;
	long	  code;
	size_t	  i;

	wait_harvested();
	before = oai_requests();
	for (i = 0; i < nitems(bad); i++) {
		code = post_with(bad[i][0], bad[i][1]);
		if (code != 403)
			fail_msg("%s / %s: %ld", bad[i][0],
			    bad[i][1] ? bad[i][1] : "", code);
	}
	/* Give a harvest the time to start, had one been asked for. */
	usleep(1500 * 1000);
	assert_int_equal(oai_requests(), before);

	snprintf(own, sizeof(own), "Origin: http://127.0.0.1:%d", sport);
	assert_int_equal(post_with(own,
			     "Content-Type: application/json; "
			     "charset=utf-8"),
	    202);
	/* Through a TLS proxy named in status_hosts. */
	assert_int_equal(post_with("Host: harvest.example.org",
			     "Origin: https://harvest.example.org"),
	    403);
	extra_hdr = "Content-Type: application/json";
	assert_int_equal(post_with("Host: harvest.example.org",
			     "Origin: https://harvest.example.org"),
	    202);
	extra_hdr = NULL;
	assert_int_equal(post_with("Sec-Fetch-Site: same-origin",
			     "Content-Type: application/json"),
	    202);
	wait_harvested();
}

/* DNS rebinding: only our own names in Host. */
static void
test_host_names(void **state)
{
	static const char *const bad[] = {
		"Host: evil.example.com",
		"Host: evil.example.com:%d",
		"Host: 127.0.0.1:1",
		"Host: localhost",
		"Host: 127.0.0.1.%d",
		"Host: [::1]:1",
		"Host: 127.0.0.1:%dx",
	};
	static const char *const good[] = {
		"Host: 127.0.0.1:%d",
		"Host: localhost:%d",
		"Host: LOCALHOST:%d",
		"Host: [::1]:%d",
		"Host: harvest.example.org",
		"Host: harvest.example.org:443",
		"Host: [fd00::1]:8080",
	};
	char   h[128], *body;
	long   code;
	size_t i;

	for (i = 0; i < nitems(bad); i++) {
		snprintf(h, sizeof(h), bad[i], sport);
		extra_hdr = h;
		body = req("GET", "/status", &code, NULL);
		extra_hdr = NULL;
		if (code != 421)
			fail_msg("%s: %ld", h, code);
		assert_null(strstr(body, "\"sources\""));
		free(body);
	}
	for (i = 0; i < nitems(good); i++) {
		snprintf(h, sizeof(h), good[i], sport);
		extra_hdr = h;
		body = req("GET", "/status", &code, NULL);
		extra_hdr = NULL;
		if (code != 200)
			fail_msg("%s: %ld", h, code);
		assert_non_null(strstr(body, "\"sources\""));
		free(body);
	}
}

/* With status_token_file: every request but /healthz needs the token. */
static void
test_token(void **state)
{
	static const char secret[] = "k7Qm2-token-for-the-status-server";
	char		 *conf, *db, *tf, *body, *log, *lf, *out, *cf;
	const char	 *old_token = token;
	pid_t		  pid;
	long		  code;
	int		  old_port = sport, port, status;

	save("tok", "k7Qm2-token-for-the-status-server\n");
	tf = path("tok");
	assert_int_equal(chmod(tf, 0600), 0);
	db = path("tok.db");
	xasprintf(&conf,
	    "[global]\ndatabase = %s\ndelay = 0s\n"
	    "status_listen = 127.0.0.1:0\nstatus_token_file = %s\n\n"
	    "[source one]\nurl = http://127.0.0.1:%d/oai\ninterval = 1h\n",
	    db, tf, srv.port);
	pid2 = pid = spawn("tok", conf, "", &port);
	free(conf);
	assert_true(pid > 0);
	assert_true(port > 0);
	sport = port;

	body = req("GET", "/healthz", &code, NULL);
	assert_int_equal(code, 200);
	free(body);
	body = req("GET", "/status", &code, NULL);
	assert_int_equal(code, 401);
	assert_null(strstr(body, secret));
	free(body);
	free(req("POST", "/sources/one/harvest", &code, NULL));
	assert_int_equal(code, 401);
	token = "k7Qm2-token-for-the-status-serveR";
	free(req("GET", "/metrics", &code, NULL));
	assert_int_equal(code, 401);
	token = "k7Qm2-token-for-the-status-server-and-more";
	free(req("GET", "/metrics", &code, NULL));
	assert_int_equal(code, 401);
	extra_hdr = "Authorization: Basic azdRbTI6eA==";
	token = NULL;
	free(req("GET", "/status", &code, NULL));
	extra_hdr = NULL;
	assert_int_equal(code, 401);
	token = secret;
	body = req("GET", "/status", &code, NULL);
	assert_int_equal(code, 200);
	assert_non_null(strstr(body, "\"sources\""));
	assert_null(strstr(body, secret));
	free(body);
	free(req("GET", "/metrics", &code, NULL));
	assert_int_equal(code, 200);
	free(req("POST", "/sources/one/harvest", &code, NULL));
	assert_int_equal(code, 202);

	/* The CLI: without the token it says so, with it the daemon's view. */
	assert_int_equal(
	    run("tc.out", "tc.err",
		"%s/oaiharvest status --daemon http://127.0.0.1:%d", bindir,
		port),
	    1);
	out = read_tmp("tc.err");
	assert_non_null(strstr(out, "wants its status token"));
	free(out);
	assert_int_equal(
	    run("tc.out", "tc.err",
		"%s/oaiharvest status --daemon http://127.0.0.1:%d "
		"--token-file %s",
		bindir, port, tf),
	    0);
	out = read_tmp("tc.out");
	assert_non_null(strstr(out, "SOURCE"));
	assert_non_null(strstr(out, "\none "));
	free(out);
	/* The config's status_listen and status_token_file. */
	xasprintf(&conf,
	    "[global]\ndatabase = %s\nstatus_listen = 127.0.0.1:%d\n"
	    "status_token_file = %s\n\n"
	    "[source one]\nurl = http://127.0.0.1:%d/oai\n",
	    db, port, tf, srv.port);
	save("tc.conf", conf);
	free(conf);
	cf = path("tc.conf");
	assert_int_equal(run("tc.out", "tc.err",
			     "%s/oaiharvest status --config %s", bindir, cf),
	    0);
	out = read_tmp("tc.out");
	assert_non_null(strstr(out, "SOURCE"));
	free(out);
	out = read_tmp("tc.err");
	assert_null(strstr(out, "does not answer"));
	assert_null(strstr(out, secret));
	free(out);
	free(cf);
	/* A wrong token: refused, said, and the database's view. */
	save("bad.tok", "k7Qm2-token-for-the-status-serveR\n");
	assert_int_equal(
	    run("tc.out", "tc.err",
		"%s/oaiharvest status --daemon http://127.0.0.1:%d "
		"--token-file %s/bad.tok --db %s",
		bindir, port, tmpdir, db),
	    0);
	out = read_tmp("tc.err");
	assert_non_null(strstr(out, "the one given was refused"));
	free(out);
	out = read_tmp("tc.out");
	assert_non_null(strstr(out, "source one"));
	free(out);

	token = old_token;
	sport = old_port;
	kill(pid, SIGTERM);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	pid2 = 0;
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* The token is in no log line. */
	lf = path("tok.log");
	log = slurp(lf);
	assert_null(strstr(log, secret));
	assert_non_null(strstr(log, "token=yes"));
	free(log);
	free(lf);
	free(tf);
	free(db);
}

/*
 * After a test with a daemon and a test server of its own, failed or not:
 * stop them, and talk to the shared daemon again.
 */
static int
end_own(void **state)
{
	if (pid2 > 0) {
		kill(pid2, SIGTERM);
		waitpid(pid2, NULL, 0);
		pid2 = 0;
	}
	if (srv2.pid > 0) {
		kill(srv2.pid, SIGTERM);
		waitpid(srv2.pid, NULL, 0);
		srv2.pid = 0;
	}
	sport = shared_port;
	return 0;
}

/* /status loaded as the table s (one row, j), then one number of sql. */
static long long
status_q(const char *sql)
{
	sqlite3	 *db;
	char	 *body;
	long	  code;
	long long n;

	body = req("GET", "/status", &code, NULL);
	assert_int_equal(code, 200);
	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	load_jsonl(db, "s", body);
	n = q_int(db, sql);
	sqlite3_close(db);
	free(body);
	return n;
}

/* SIGHUP, then wait (bounded) until /status has a reload after t. */
static void
reload_and_wait(pid_t pid, long long t)
{
	char *sql;
	int   i;

	xasprintf(&sql,
	    "SELECT coalesce(strftime('%%s', "
	    "j->'config'->>'last_reload_at'), 0) > %lld FROM s",
	    t);
	assert_int_equal(kill(pid, SIGHUP), 0);
	for (i = 0; i < 100 && status_q(sql) == 0; i++)
		usleep(100 * 1000);
	free(sql);
}

/*
 * A reload that fails says so (issue 16): in /status (when, and the error)
 * and as oaiharvest_config_last_reload_successful 0, while the time of the
 * configuration in use stays; a good reload puts both back.
 */
/*
 * A source whose database knows it at another URL (the repository moved,
 * or a config typo): the run is refused with the way out in /status and
 * the log, and the daemon goes on answering (the refusal comes back from
 * the page writer, the loop does not wait for it).
 */
static void
test_moved_source_refused(void **state)
{
	char *db, *conf, *body, *log, *lf;
	long  code;
	int   port, i, failed = 0;
	pid_t pid;

	db = path("mv.db");
	/* The database knows "one" at another URL of the same server. */
	assert_int_equal(run("mv.out", "mv.err",
			     "%s/oaiharvest harvest --db %s --source one "
			     "--url http://127.0.0.1:%d/oai",
			     bindir, db, srv.port),
	    0);
	xasprintf(&conf,
	    "[global]\ndatabase = %s\ndelay = 0s\n"
	    "status_listen = 127.0.0.1:0\n\n"
	    "[source one]\nurl = http://localhost:%d/oai\ninterval = 1h\n",
	    db, srv.port);
	pid2 = pid = spawn("mv", conf, "", &port);
	assert_true(pid > 0 && port > 0);
	sport = port;
	/* It ran an hour ago (the CLI): ask for a run now. */
	body = req("POST", "/sources/one/harvest", &code, NULL);
	assert_int_equal(code, 202);
	free(body);
	for (i = 0; i < 300 && !failed; i++) {
		usleep(100 * 1000);
		body = req("GET", "/status", &code, NULL);
		assert_int_equal(code, 200);
		failed = strstr(body, "\"status\":\"failed\"") != NULL;
		if (failed)
			assert_non_null(
			    strstr(body, "oaiharvest harvest --move"));
		free(body);
	}
	assert_true(failed);
	body = req("GET", "/healthz", &code, NULL);
	assert_int_equal(code, 200);
	free(body);
	lf = path("mv.log");
	log = slurp(lf);
	assert_non_null(strstr(log, "event=run_refused source=\"one\""));
	assert_null(strstr(log, "event=run_start source=\"one\""));
	free(log);
	free(lf);
	free(conf);
	free(db);
}

static void
test_reload_result(void **state)
{
	char	 *db, *conf, *bad, *body;
	long long t0, t1;
	long	  code;
	int	  old_port = sport, port, status;
	pid_t	  pid;

	db = path("rl.db");
	xasprintf(&conf,
	    "[global]\ndatabase = %s\ndelay = 0s\n"
	    "status_listen = 127.0.0.1:0\n\n"
	    "[source one]\nurl = http://127.0.0.1:%d/oai\ninterval = 1h\n"
	    "enabled = no\n",
	    db, srv.port);
	pid2 = pid = spawn("rl", conf, "", &port);
	assert_true(pid > 0 && port > 0);
	sport = port;
	/* As started: loaded then, no reload yet. */
	t0 = metric("oaiharvest_config_last_reload_success_timestamp_seconds");
	assert_true(t0 > 0);
	assert_int_equal(metric("oaiharvest_config_last_reload_successful"), 1);
	assert_int_equal(status_q("SELECT strftime('%s', "
				  "j->'config'->>'loaded_at') FROM s"),
	    t0);
	assert_int_equal(
	    status_q("SELECT j->'config'->>'last_reload' IS NULL "
		     "AND j->'config'->>'last_reload_at' IS NULL AND "
		     "j->'config'->>'last_reload_error' IS NULL AND "
		     "j->'config'->>'path' LIKE '%/rl.conf' FROM s"),
	    1);

	/* A broken config. */
	xasprintf(&bad, "%s\n[source broken]\nurl = gopher://x/\n", conf);
	save("rl.conf", bad);
	free(bad);
	reload_and_wait(pid, 0);
	assert_int_equal(
	    status_q("SELECT j->'config'->>'last_reload' = "
		     "'failed' AND j->'config'->>'last_reload_error' LIKE "
		     "'%rl.conf:12: source \"broken\": url%' FROM s"),
	    1);
	assert_int_equal(metric("oaiharvest_config_last_reload_successful"), 0);
	assert_int_equal(
	    metric("oaiharvest_config_last_reload_success_timestamp_seconds"),
	    t0);
	assert_int_equal(status_q("SELECT strftime('%s', "
				  "j->'config'->>'loaded_at') FROM s"),
	    t0);
	/* /healthz is about the harvests, not the config. */
	free(req("GET", "/healthz", &code, NULL));
	assert_int_equal(code, 200);

	/* One whose changes_log cannot be made (-t's checks). */
	xasprintf(&bad, "[global]\nchanges_log = /etc/passwd/c.jsonl\n%s",
	    conf + strlen("[global]\n"));
	save("rl.conf", bad);
	free(bad);
	t1 = status_q("SELECT strftime('%s', j->'config'->>'last_reload_at') "
		      "FROM s");
	sleep(1);
	reload_and_wait(pid, t1);
	body = req("GET", "/status", &code, NULL);
	if (strstr(body, "\"last_reload\":\"failed\"") == NULL ||
	    strstr(body,
		"rl.conf:2: changes_log /etc/passwd/c.jsonl: "
		"/etc/passwd is not a directory") == NULL)
		fail_msg("no changes_log error in /status: %s", body);
	free(body);

	/* A good one, a second later at least: a new time. */
	save("rl.conf", conf);
	t1 = status_q("SELECT strftime('%s', j->'config'->>'last_reload_at') "
		      "FROM s");
	sleep(1);
	reload_and_wait(pid, t1);
	assert_int_equal(
	    status_q("SELECT j->'config'->>'last_reload' = 'ok' "
		     "AND j->'config'->>'last_reload_error' IS NULL FROM s"),
	    1);
	assert_int_equal(metric("oaiharvest_config_last_reload_successful"), 1);
	t1 = metric("oaiharvest_config_last_reload_success_timestamp_seconds");
	assert_true(t1 > t0);
	assert_int_equal(status_q("SELECT strftime('%s', "
				  "j->'config'->>'loaded_at') FROM s"),
	    t1);

	sport = old_port;
	kill(pid, SIGTERM);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	pid2 = 0;
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	free(conf);
	free(db);
}

/* Wait (bounded) until the log file lf holds want. */
static int
log_has(const char *lf, const char *want)
{
	char *log;
	int   i, found = 0;

	for (i = 0; i < 100 && !found; i++) {
		log = slurp(lf);
		found = strstr(log, want) != NULL;
		free(log);
		if (!found)
			usleep(100 * 1000);
	}
	return found;
}

/* The next run of source one in /status, in seconds since the epoch. */
static long long
next_run(void)
{
	return status_q(
	    "SELECT strftime('%s', x.value->>'next_run') FROM s, "
	    "json_each(s.j, '$.sources') x WHERE x.value->>'name' = 'one'");
}

/*
 * After a restart a source is scheduled from the end of its last run in
 * the database, not within its jitter of now (issue 16); a new interval
 * alone counts from there too, and harvests at once when that is past.
 */
static void
test_restart_schedule(void **state)
{
	sqlite3	 *s;
	char	 *db, *conf, *lf, *want;
	long long ended, before;
	int	  old_port = sport, port, status, i;
	pid_t	  pid;

	start_server(&srv2, "rs.port",
	    "--records 50 --page-size 25 "
	    "--deleted-every 0");
	db = path("rs.db");
	lf = path("rs.log");
	xasprintf(&conf,
	    "[global]\ndatabase = %s\ndelay = 0s\n"
	    "status_listen = 127.0.0.1:0\n\n"
	    "[source one]\nurl = http://127.0.0.1:%d/oai\ninterval = %%s\n",
	    db, srv2.port);
	xasprintf(&want, conf, "1h");
	pid2 = pid = spawn("rs", want, "", &port);
	free(want);
	assert_true(pid > 0 && port > 0);
	sport = port;
	assert_true(log_has(lf, "event=scheduled source=\"one\" next_run=20"));
	assert_true(log_has(lf, " reason=never_run\n"));
	kill(pid, SIGUSR1);
	for (i = 0; i < 300 &&
	     metric("oaiharvest_runs_total{source=\"one\","
		    "result=\"ok\"}") < 1;
	     i++)
		usleep(100 * 1000);
	kill(pid, SIGTERM);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	pid2 = 0;
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(sqlite3_open(db, &s), SQLITE_OK);
	ended = q_int(s,
	    "SELECT strftime('%s', ended) FROM run WHERE "
	    "status = 'ok' ORDER BY id DESC LIMIT 1");
	sqlite3_close(s);
	assert_true(ended > 0);

	/* Restarted: nothing for an hour after that end. */
	before = server_requests(&srv2);
	xasprintf(&want, conf, "1h");
	pid2 = pid = spawn("rs", want, "", &port);
	free(want);
	assert_true(pid > 0 && port > 0);
	sport = port;
	usleep(3000 * 1000);
	assert_int_equal(server_requests(&srv2), before);
	if (llabs(next_run() - (ended + 3600)) > 1)
		fail_msg("next_run %lld, not an hour after the last end %lld",
		    next_run(), ended);
	assert_true(log_has(lf, " reason=last_run\n"));

	/* A new interval alone: counted from that end, not from now. */
	xasprintf(&want, conf, "2m");
	save("rs.conf", want);
	free(want);
	kill(pid, SIGHUP);
	for (i = 0; i < 100 && llabs(next_run() - (ended + 120)) > 1; i++)
		usleep(100 * 1000);
	if (llabs(next_run() - (ended + 120)) > 1)
		fail_msg("next_run %lld, not 2 minutes after the last end "
			 "%lld",
		    next_run(), ended);
	usleep(1000 * 1000);
	assert_int_equal(server_requests(&srv2), before);

	/* And one that makes it due: at once. */
	xasprintf(&want, conf, "2s");
	save("rs.conf", want);
	free(want);
	kill(pid, SIGHUP);
	for (i = 0; i < 50 && server_requests(&srv2) == before; i++)
		usleep(100 * 1000);
	assert_true(server_requests(&srv2) > before);
	assert_true(log_has(lf, " reason=reload\n"));

	sport = old_port;
	kill(pid, SIGTERM);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	pid2 = 0;
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	stop_server(&srv2);
	free(conf);
	free(lf);
	free(db);
}

/* A non-blocking connection to the shared daemon. */
static int
tcp_open(int port, int rcvbuf)
{
	struct sockaddr_in sin;
	int		   fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		assert_int_equal(errno, EINPROGRESS);
	return fd;
}

/* Send s once the connection is up (bounded wait); -1 if it is not. */
static int
tcp_send(int fd, const char *s)
{
	struct pollfd pfd = { fd, POLLOUT, 0 };

	if (poll(&pfd, 1, 3000) != 1 || (pfd.revents & POLLOUT) == 0)
		return -1;
	return send(fd, s, strlen(s), MSG_NOSIGNAL) == (ssize_t)strlen(s) ? 0 :
									    -1;
}

/*
 * Has the peer closed fd?  Reads what is there (appended to b when not
 * NULL): 1 at EOF or an error, 0 while it is open.
 */
static int
tcp_closed(int fd, struct buf *b)
{
	char	chunk[4096];
	ssize_t n;

	for (;;) {
		n = recv(fd, chunk, sizeof(chunk), MSG_DONTWAIT);
		if (n > 0) {
			if (b != NULL)
				buf_add(b, chunk, (size_t)n);
			continue;
		}
		if (n == -1 &&
		    (errno == EAGAIN || errno == EWOULDBLOCK ||
			errno == ENOTCONN))
			return 0;
		return 1;
	}
}

/* Descriptors the daemon holds now. */
static int
daemon_fds(pid_t pid)
{
	DIR	      *d;
	struct dirent *e;
	char	       p[64];
	int	       n = 0;

	snprintf(p, sizeof(p), "/proc/%d/fd", (int)pid);
	if ((d = opendir(p)) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static long long
runs_ok_one(void)
{
	return metric("oaiharvest_runs_total{source=\"one\",result=\"ok\"}");
}

/*
 * 300 connections that send nothing or one header line, with 256
 * descriptors: the daemon closes the oldest idle ones to stay under its
 * cap (a quarter of them), /healthz answers at once and a harvest gets the
 * descriptors it needs.
 */
enum {
	NIDLE = 300,
	NPOLL = 40
};
/* The raw connections of a test, closed by its teardown if it fails. */
static int raw_fds[NIDLE + 1];
static int nraw;

static int
close_raw(void **state)
{
	int i;

	for (i = 0; i < nraw; i++)
		if (raw_fds[i] >= 0)
			close(raw_fds[i]);
	nraw = 0;
	req_timeout = 30;
	return 0;
}

static void
test_idle_connections(void **state)
{
	int	 *fds = raw_fds, i, n, closed = 0;
	long long runs, max;
	long	  code;
	double	  secs;
	char	 *body;

	wait_harvested();
	max = NOFILE / 4;
	runs = runs_ok_one();
	for (i = 0; i < NIDLE; i++)
		fds[nraw++] = tcp_open(sport, 0);
	for (i = 0; i < NIDLE; i += 2)
		(void)tcp_send(fds[i], "GET /status HTTP/1.1\r\n");
	usleep(500 * 1000);

	req_timeout = 5;
	body = req("GET", "/healthz", &code, &secs);
	assert_int_equal(code, 200);
	assert_string_equal(body, "ok\n");
	assert_true(secs < 1.0);
	free(body);
	free(req("POST", "/sources/one/harvest", &code, NULL));
	assert_int_equal(code, 202);
	for (i = 0; i < 300 && runs_ok_one() == runs; i++)
		usleep(100 * 1000);
	assert_int_equal(runs_ok_one(), runs + 1);
	req_timeout = 30;
	assert_int_equal(metric("oaiharvest_status_connections_max"), max);
	assert_true(metric("oaiharvest_status_connections") <= max);
	/*
	 * Beyond the listen backlog, connections wait for the kernel's SYN
	 * retries (1 s, 3 s): give them time to be accepted and shed.
	 */
	for (n = 0; n < 100 && closed < NIDLE - max; n++) {
		if (n > 0)
			usleep(100 * 1000);
		for (closed = 0, i = 0; i < NIDLE; i++)
			closed += tcp_closed(fds[i], NULL);
	}
	assert_true(closed >= NIDLE - max);
	assert_true(metric("oaiharvest_status_connections") <= max);
	/* Those kept that long met the request deadline (10 s). */
	n = (int)metric("oaiharvest_status_closed_total{reason=\"limit\"}");
	assert_true(n >= NIDLE - 2 * max);
	n += (int)metric("oaiharvest_status_closed_total"
			 "{reason=\"deadline\"}");
	if (n < NIDLE - max)
		fail_msg("closed %d, by the daemon %d", closed, n);
	close_raw(NULL);
	for (i = 0; i < 50 && metric("oaiharvest_status_connections") > 1; i++)
		usleep(100 * 1000);
	assert_int_equal(metric("oaiharvest_status_connections"), 1);
}

/*
 * Long polls beyond the cap get 503; those whose clients hang up are
 * closed at once.  Meanwhile a client trickles one header line a second:
 * it is cut off at the request deadline (10 s).
 */
static void
test_long_polls_and_trickle(void **state)
{
	struct buf b;
	char	   rq[256];
	int	  *fds = raw_fds, got[NPOLL] = { 0 }, trickle, i, j;
	int	   n503 = 0, fds0, gone = 0;
	long long  max, n;
	time_t	   t0;

	max = NOFILE / 4 / 2;
	assert_true(max < NPOLL);
	for (i = 0; i < 50 && metric("oaiharvest_status_connections") > 1; i++)
		usleep(100 * 1000);
	fds0 = daemon_fds(dpid);
	assert_true(fds0 > 0);

	t0 = time(NULL);
	raw_fds[NPOLL] = trickle = tcp_open(sport, 0);
	nraw = NPOLL + 1;
	for (i = 0; i < NPOLL; i++)
		fds[i] = -1;
	assert_int_equal(tcp_send(trickle, "GET /status HTTP/1.1\r\n"), 0);

	snprintf(rq, sizeof(rq),
	    "GET /changes?since=1000000000&wait=60 "
	    "HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n",
	    sport);
	for (i = 0; i < NPOLL; i++) {
		fds[i] = tcp_open(sport, 0);
		assert_int_equal(tcp_send(fds[i], rq), 0);
	}
	for (i = 0; i < 20 && n503 < NPOLL - max; i++) {
		usleep(100 * 1000);
		for (n503 = 0, j = 0; j < NPOLL; j++) {
			buf_init(&b, 1 << 20);
			(void)tcp_closed(fds[j], &b);
			got[j] |= b.len > 0 &&
			    strncmp(buf_str(&b), "HTTP/1.1 503 ", 13) == 0;
			n503 += got[j];
			buf_free(&b);
		}
	}
	assert_int_equal(n503, NPOLL - max);
	assert_true(daemon_fds(dpid) >= fds0 + max);
	assert_int_equal(metric("oaiharvest_status_long_polls_max"), max);
	assert_int_equal(metric("oaiharvest_status_long_polls"), max);

	/* The clients leave: the daemon lets go of every one at once. */
	for (i = 0; i < NPOLL; i++) {
		close(fds[i]);
		fds[i] = -1;
	}
	for (i = 0; i < 20 && daemon_fds(dpid) > fds0 + 2; i++)
		usleep(100 * 1000);
	assert_true(daemon_fds(dpid) <= fds0 + 2);
	assert_int_equal(metric("oaiharvest_status_long_polls"), 0);
	assert_true(metric("oaiharvest_status_closed_total"
			   "{reason=\"hangup\"}") >= max);

	/* The trickler: a header line a second, closed by 12 s. */
	for (i = 0; !gone && time(NULL) - t0 < 16; i++) {
		snprintf(rq, sizeof(rq), "X-Slow-%d: 1\r\n", i);
		if (tcp_send(trickle, rq) == -1)
			break;
		usleep(1000 * 1000);
		gone = tcp_closed(trickle, NULL);
	}
	n = time(NULL) - t0;
	assert_true(gone);
	assert_true(n >= 9 && n <= 13);
	close_raw(NULL);
	assert_true(metric("oaiharvest_status_closed_total"
			   "{reason=\"deadline\"}") >= 1);
}

/* The daemon's resident memory, in KB (VmRSS). */
static long
rss_kb(pid_t pid)
{
	char p[64], *txt, *v;
	long kb = -1;

	snprintf(p, sizeof(p), "/proc/%d/status", (int)pid);
	txt = slurp(p);
	if ((v = strstr(txt, "VmRSS:")) != NULL)
		kb = strtol(v + 6, NULL, 10);
	free(txt);
	return kb;
}

/*
 * 20 clients ask for /changes?limit=100000 (20,000 changes, some 3.6 MB
 * each) and never read.  The daemon writes one chunk of 256 rows (some 50
 * KB) at a time and waits for each to leave: its memory may grow by a few
 * MB (one chunk and the socket buffers' worth per client, with ASan's
 * redzones and quarantine), well under RSS_GROWTH_KB; holding each answer
 * whole (main) grows it by 20 x 3.6 MB and more.
 */
#define NEVER_READ    20
#define RSS_GROWTH_KB (32 * 1024)
static void
test_changes_never_read(void **state)
{
	struct server *big = &srv2;
	char	      *conf, *db, *body, rq[256];
	int	       fds[NEVER_READ], old_port = sport, port, status, i;
	long	       code, before, peak = 0, kb;
	long long      n = 0;
	pid_t	       pid;

	start_server(big, "big.port",
	    "--records 20000 --page-size 1000 "
	    "--deleted-every 0");
	db = path("big.db");
	xasprintf(&conf,
	    "[global]\ndatabase = %s\ndelay = 0s\n"
	    "status_listen = 127.0.0.1:0\n\n"
	    "[source big]\nurl = http://127.0.0.1:%d/oai\ninterval = 1h\n",
	    db, big->port);
	/*
	 * ASan's quarantine keeps up to 256 MB of freed memory: that would
	 * measure the sanitizer, not the daemon.
	 */
	pid2 = pid = spawn("big", conf,
	    "ASAN_OPTIONS=\"${ASAN_OPTIONS:-}:"
	    "quarantine_size_mb=0\"",
	    &port);
	free(conf);
	assert_true(pid > 0 && port > 0);
	sport = port;
	kill(pid, SIGUSR1);
	for (i = 0; i < 600 && n < 1; i++) {
		usleep(100 * 1000);
		n = metric("oaiharvest_runs_total{source=\"big\","
			   "result=\"ok\"}");
	}
	assert_int_equal(n, 1);
	/* Warm up: one whole answer read, as a client would. */
	body = req("GET", "/changes?since=0&limit=100000", &code, NULL);
	assert_int_equal(code, 200);
	assert_true(strlen(body) > 20000 * 150);
	free(body);
	before = rss_kb(pid);
	assert_true(before > 0);

	snprintf(rq, sizeof(rq),
	    "GET /changes?since=0&limit=100000 "
	    "HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n",
	    sport);
	for (i = 0; i < NEVER_READ; i++) {
		fds[i] = tcp_open(sport, 4096);
		assert_int_equal(tcp_send(fds[i], rq), 0);
	}
	for (i = 0; i < 20; i++) {
		usleep(100 * 1000);
		if ((kb = rss_kb(pid)) > peak)
			peak = kb;
	}
	/* It still answers others, at once. */
	body = req("GET", "/healthz", &code, NULL);
	assert_int_equal(code, 200);
	free(body);
	if ((kb = rss_kb(pid)) > peak)
		peak = kb;
	printf("# RSS before %ld KB, with %d clients that do not read %ld "
	       "KB\n",
	    before, NEVER_READ, peak);
	assert_true(peak - before < RSS_GROWTH_KB);
	for (i = 0; i < NEVER_READ; i++)
		close(fds[i]);
	/* Their connections go (the daemon sees the resets as it writes). */
	for (i = 0; i < 30 && metric("oaiharvest_status_connections") > 1; i++)
		usleep(100 * 1000);
	assert_true(metric("oaiharvest_status_connections") <= 1);

	sport = old_port;
	kill(pid, SIGTERM);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	pid2 = 0;
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	stop_server(big);
	free(db);
}

/* Wait (bounded) until metric name reaches at least n; its value. */
static long long
metric_wait(const char *name, long long n)
{
	long long v = -1;
	int	  i;

	for (i = 0; i < 300 && (v = metric(name)) < n; i++)
		usleep(100 * 1000);
	return v;
}

/*
 * A repository that answers 500 (issue 16, item 7): the requests counted
 * by source, host and code, the error by type from a zero series, the
 * failures in a row up and back to 0, the records by prefix and state.
 */
static int fl_old_port;

static void
test_metrics_failures(void **state)
{
	struct server *fl = &srv2;
	char	      *conf, *db, *name, *body;
	int	       port, status;
	long	       code;
	size_t	       i;
	pid_t	       pid;

	start_server(fl, "fl.port",
	    "--records 30 --page-size 10 "
	    "--deleted-every 10");
	db = path("fl.db");
	xasprintf(&conf,
	    "[global]\ndatabase = %s\ndelay = 0s\n"
	    "retries = 0\nstatus_listen = 127.0.0.1:0\n\n"
	    "[source fl]\nurl = http://127.0.0.1:%d/oai\ninterval = 1h\n",
	    db, fl->port);
	pid2 = pid = spawn("fl", conf, "", &port);
	free(conf);
	assert_true(pid > 0 && port > 0);
	fl_old_port = sport;
	sport = port;

	/* Before any error: a zero series for every type. */
	for (i = 0; i < nitems(err_types); i++) {
		xasprintf(&name,
		    "oaiharvest_errors_total{source=\"fl\","
		    "type=\"%s\"}",
		    err_types[i]);
		assert_int_equal(metric(name), 0);
		free(name);
	}
	assert_int_equal(metric("oaiharvest_consecutive_failures"
				"{source=\"fl\"}"),
	    0);

	free(req("POST", "/sources/fl/harvest", &code, NULL));
	assert_int_equal(code, 202);
	assert_int_equal(metric_wait("oaiharvest_runs_total{source=\"fl\","
				     "result=\"ok\"}",
			     1),
	    1);
	assert_int_equal(metric("oaiharvest_records{source=\"fl\","
				"prefix=\"oai_dc\",state=\"present\"}"),
	    27);
	assert_int_equal(metric("oaiharvest_records{source=\"fl\","
				"prefix=\"oai_dc\",state=\"deleted\"}"),
	    3);

	/* The repository fails: twice in a row. */
	free(http(fl, 1, "/control/fault?kind=http500&count=0"));
	for (i = 1; i <= 2; i++) {
		free(req("POST", "/sources/fl/harvest", &code, NULL));
		assert_int_equal(code, 202);
		assert_int_equal(metric_wait("oaiharvest_runs_total{source="
					     "\"fl\",result=\"failed\"}",
				     (long long)i),
		    (long long)i);
		assert_int_equal(metric("oaiharvest_consecutive_failures"
					"{source=\"fl\"}"),
		    (long long)i);
		assert_int_equal(metric("oaiharvest_errors_total{source="
					"\"fl\",type=\"http\"}"),
		    (long long)i);
		assert_int_equal(metric("oaiharvest_errors_total{source="
					"\"fl\",type=\"network\"}"),
		    0);
	}
	xasprintf(&name,
	    "oaiharvest_http_requests_total{source=\"fl\","
	    "host=\"http://127.0.0.1:%d\",code=\"500\"}",
	    fl->port);
	assert_int_equal(metric(name), 2);
	free(name);
	xasprintf(&name,
	    "oaiharvest_http_requests_total{source=\"fl\","
	    "host=\"http://127.0.0.1:%d\",code=\"200\"}",
	    fl->port);
	assert_true(metric(name) >= 4);
	free(name);

	/* It answers again: back to 0. */
	free(http(fl, 1, "/control/clear-faults"));
	free(req("POST", "/sources/fl/harvest", &code, NULL));
	assert_int_equal(code, 202);
	assert_int_equal(metric_wait("oaiharvest_runs_total{source=\"fl\","
				     "result=\"ok\"}",
			     2),
	    2);
	assert_int_equal(metric("oaiharvest_consecutive_failures"
				"{source=\"fl\"}"),
	    0);
	body = req("GET", "/metrics", &code, NULL);
	save("fl-metrics.txt", body);
	free(body);
	name = path("fl-metrics.txt");
	assert_int_equal(run("promtool.out", "promtool.err",
			     "promtool check "
			     "metrics < %s",
			     name),
	    0);
	free(name);

	sport = fl_old_port;
	fl_old_port = 0;
	kill(pid, SIGTERM);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	pid2 = 0;
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	stop_server(fl);
	free(db);
}

/* When test_metrics_failures failed midway: the shared daemon again. */
static int
metrics_failures_done(void **state)
{
	if (fl_old_port != 0)
		sport = fl_old_port;
	fl_old_port = 0;
	if (pid2 > 0) {
		kill(pid2, SIGTERM);
		waitpid(pid2, NULL, 0);
		pid2 = 0;
	}
	if (srv2.pid > 0) {
		kill(srv2.pid, SIGTERM);
		waitpid(srv2.pid, NULL, 0);
		srv2.pid = 0;
	}
	return 0;
}

/*
 * After a run the daemon counts that source's records again, not every
 * source's: a record of two marked deleted behind the daemon's back does
 * not show in two's oaiharvest_records after a run of one (it did when
 * every run of any source counted all of them).
 */
static void
test_counts_after_run(void **state)
{
	static const char *const two_present =
	    "oaiharvest_records{source=\"two\",prefix=\"oai_dc\","
	    "state=\"present\"}";
	static const char *const one_present =
	    "oaiharvest_records{source=\"one\",prefix=\"oai_dc\","
	    "state=\"present\"}";
	long long runs;
	long	  code;
	int	  i;

	wait_harvested();
	assert_int_equal(metric(two_present), 30);
	st_exec("CREATE TABLE t_gone AS SELECT 0 AS id");
	st_exec("UPDATE t_gone SET id = (SELECT min(r.id) FROM record r"
		" JOIN source s ON s.id = r.source_id WHERE s.name = 'two'"
		" AND r.deleted = 0)");
	st_exec("UPDATE record SET deleted = 1"
		" WHERE id = (SELECT id FROM t_gone)");
	runs = runs_ok_one();
	free(req("POST", "/sources/one/harvest", &code, NULL));
	assert_int_equal(code, 202);
	for (i = 0; i < 300 && runs_ok_one() == runs; i++)
		usleep(100 * 1000);
	assert_true(runs_ok_one() > runs);
	st_exec("UPDATE record SET deleted = 0"
		" WHERE id = (SELECT id FROM t_gone)");
	st_exec("DROP TABLE t_gone");
	assert_int_equal(metric(one_present), 120);
	assert_int_equal(metric(two_present), 30);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_health_and_status),
		cmocka_unit_test(test_metrics_promtool),
		cmocka_unit_test(test_counts_after_run),
		cmocka_unit_test(test_changes_and_long_poll),
		cmocka_unit_test(test_cli_status_and_follow),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_blocked_source_disabled),
		cmocka_unit_test_teardown(
		    test_metrics_failures, metrics_failures_done),
		cmocka_unit_test(test_cross_site_post),
		cmocka_unit_test(test_host_names),
		cmocka_unit_test(test_token),
		cmocka_unit_test_teardown(test_moved_source_refused, end_own),
		cmocka_unit_test_teardown(test_reload_result, end_own),
		cmocka_unit_test_teardown(test_restart_schedule, end_own),
		cmocka_unit_test_teardown(test_idle_connections, close_raw),
		cmocka_unit_test_teardown(
		    test_long_polls_and_trickle, close_raw),
		cmocka_unit_test(test_changes_never_read),
	};

	return cmocka_run_group_tests_name("status", tests, setup, teardown);
}
