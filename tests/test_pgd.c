/*
 * oaiharvestd on PostgreSQL: `database = postgresql://...` in the config,
 * a private PostgreSQL 15 cluster (tests/testlib.c) and the real test
 * server.  oaiharvestd -t takes the URI (no file to check), the daemon
 * harvests into the cluster, /status and /metrics answer, and the URI's
 * password is in no log line, no answer and no error message.
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
#include <libpq-fe.h>
#include <sqlite3.h>

#include "testlib.h"
#include "util.h"

#define NRECORDS    1200
#define STATUS_PORT 18801 /* this test's ports: 18800-18899 */
#define SECRET	    "s3cretpw"

static struct server srv;
static pid_t	     dpid;

/* One number from the database at uri (-1: none yet). */
static long long
pg_int(const char *uri, const char *sql)
{
	PGconn	 *c;
	PGresult *r;
	long long n = -1;

	c = PQconnectdb(uri);
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("connect: %s", PQerrorMessage(c));
	r = PQexec(c, sql);
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
	    !PQgetisnull(r, 0, 0))
		n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	PQfinish(c);
	return n;
}

/* The cluster's URI with a password (trust authentication ignores it). */
static char *
with_password(const char *uri)
{
	char *with;

	assert_non_null(strchr(uri, '@'));
	xasprintf(&with, "postgresql://oaiharvest:" SECRET "@%s",
	    strchr(uri, '@') + 1);
	return with;
}

static void
start_daemon(const char *conf, const char *log)
{
	char *cmd;

	dpid = fork();
	assert_true(dpid >= 0);
	if (dpid == 0) {
		xasprintf(&cmd, "exec %s/oaiharvestd -f -c %s 2>%s", bindir,
		    conf, log);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
}

/* SIGTERM; it must exit 0 within 15 s. */
static void
stop_daemon(void)
{
	int64_t t0 = mono_ms();
	int	status;

	assert_int_equal(kill(dpid, SIGTERM), 0);
	while (mono_ms() - t0 < 15000) {
		if (waitpid(dpid, &status, WNOHANG) == dpid) {
			dpid = 0;
			assert_true(WIFEXITED(status));
			assert_int_equal(WEXITSTATUS(status), 0);
			return;
		}
		usleep(50 * 1000);
	}
	fail_msg("oaiharvestd did not stop within 15 s");
}

static int
kill_daemon(void **state)
{
	if (dpid > 0) {
		kill(dpid, SIGKILL);
		waitpid(dpid, NULL, 0);
		dpid = 0;
	}
	return 0;
}

/* -t takes a URI: there is no file to check. */
static void
test_check_uri(void **state)
{
	char *uri, *with, *conf, *cf, *out, *err;
	int   rc;

	uri = pg_database();
	with = with_password(uri);
	xasprintf(&conf,
	    "[global]\ndatabase = %s\n\n[source one]\n"
	    "url = http://127.0.0.1:%d/oai\n",
	    with, srv.port);
	save("t.conf", conf);
	cf = path("t.conf");
	rc = run("t.out", "t.err", "%s/oaiharvestd -t -c %s", bindir, cf);
	out = read_tmp("t.out");
	err = read_tmp("t.err");
	if (rc != 0)
		fail_msg("oaiharvestd -t: %s%s", out, err);
	assert_non_null(strstr(out, "is valid (1 source)"));
	assert_null(strstr(out, SECRET));
	assert_null(strstr(err, SECRET));
	free(out);
	free(err);
	free(cf);
	free(conf);
	free(with);
	free(uri);
}

/* A database the server does not have: a fatal error without the password. */
static void
test_no_database(void **state)
{
	char *uri, *conf, *cf, *err;
	int   rc, port;

	uri = pg_database();
	assert_int_equal(
	    sscanf(uri, "postgresql://oaiharvest@127.0.0.1:%d/", &port), 1);
	xasprintf(&conf,
	    "[global]\ndatabase = postgresql://oaiharvest:" SECRET
	    "@127.0.0.1:%d/nosuchdb\n\n[source one]\n"
	    "url = http://127.0.0.1:%d/oai\n",
	    port, srv.port);
	save("nodb.conf", conf);
	cf = path("nodb.conf");
	rc = run("nodb.out", "nodb.err", "%s/oaiharvestd -f -c %s", bindir, cf);
	err = read_tmp("nodb.err");
	assert_int_not_equal(rc, 0);
	assert_non_null(strstr(err, "nosuchdb"));
	assert_null(strstr(err, SECRET));
	free(err);
	free(cf);
	free(conf);
	free(uri);
}

/* The daemon harvests into PostgreSQL; the password shows nowhere. */
static void
test_daemon_harvest(void **state)
{
	struct server st;
	char	     *uri, *with, *conf, *cf, *log, *lf, *body;
	int64_t	      t0;
	long long     n = -1, ok = -1;

	uri = pg_database();
	with = with_password(uri);
	xasprintf(&conf,
	    "[global]\ndatabase = %s\ndelay = 0s\n"
	    "status_listen = 127.0.0.1:%d\n\n"
	    "[source one]\nurl = http://127.0.0.1:%d/oai\ninterval = 1h\n"
	    "[source two]\nurl = http://127.0.0.1:%d/oai\nset = col_2\n"
	    "interval = 1h\n",
	    with, STATUS_PORT, srv.port, srv.port);
	save("d.conf", conf);
	cf = path("d.conf");
	lf = path("d.log");
	start_daemon(cf, lf);
	/* Never run: the first runs are spread over the hour; now, please. */
	for (t0 = mono_ms(); mono_ms() - t0 < 30000; usleep(100 * 1000)) {
		log = read_tmp("d.log");
		n = strstr(log, "event=started") != NULL;
		free(log);
		if (n)
			break;
	}
	assert_int_equal(n, 1);
	assert_int_equal(kill(dpid, SIGUSR1), 0);
	for (t0 = mono_ms(); mono_ms() - t0 < 120000; usleep(200 * 1000)) {
		ok = pg_int(uri,
		    "SELECT count(DISTINCT source_id) FROM run"
		    " WHERE status = 'ok'");
		if (ok == 2 || waitpid(dpid, NULL, WNOHANG) == dpid)
			break;
	}
	if (ok != 2) {
		log = read_tmp("d.log");
		fail_msg("%lld of 2 sources harvested; its log:\n%s", ok, log);
	}
	n = pg_int(uri,
	    "SELECT count(*) FROM record r JOIN source s ON s.id = r.source_id"
	    " WHERE s.name = 'one'");
	assert_int_equal(n, NRECORDS);
	assert_true(pg_int(uri,
			"SELECT count(*) FROM record r JOIN source s"
			" ON s.id = r.source_id WHERE s.name = 'two'") > 0);
	assert_int_equal(
	    pg_int(uri, "SELECT count(*) FROM change WHERE kind = 'new'"),
	    pg_int(uri, "SELECT count(*) FROM record"));

	memset(&st, 0, sizeof(st));
	st.port = STATUS_PORT;
	body = http(&st, 0, "/status");
	assert_non_null(strstr(body, "\"one\""));
	assert_non_null(strstr(body, "\"two\""));
	assert_null(strstr(body, SECRET));
	free(body);
	body = http(&st, 0, "/metrics");
	assert_non_null(strstr(body, "source=\"one\""));
	assert_null(strstr(body, SECRET));
	free(body);
	stop_daemon();

	log = read_tmp("d.log");
	assert_non_null(strstr(log, "event=started"));
	assert_non_null(strstr(log, "database=\"postgresql://oaiharvest:***@"));
	assert_null(strstr(log, SECRET));
	free(log);
	/* Nor in the database. */
	assert_int_equal(pg_int(uri,
			     "SELECT count(*) FROM source s LEFT JOIN run r"
			     " ON r.source_id = s.id WHERE s.url LIKE"
			     " '%" SECRET "%' OR r.error LIKE '%" SECRET "%'"),
	    0);
	free(lf);
	free(cf);
	free(conf);
	free(with);
	free(uri);
}

/*
 * libpq takes the password as a parameter too: the started line shows
 * the URI without its parameters.  The daemon harvests nothing (no
 * source due) and stops.
 */
static void
test_password_parameter(void **state)
{
	char   *uri, *conf, *cf, *lf, *log = NULL;
	int64_t t0;
	int	started = 0;

	uri = pg_database();
	xasprintf(&conf,
	    "[global]\ndatabase = %s?password=" SECRET
	    "&connect_timeout=5\n\n[source one]\n"
	    "url = http://127.0.0.1:%d/oai\ninterval = 1h\n",
	    uri, srv.port);
	save("qp.conf", conf);
	cf = path("qp.conf");
	lf = path("qp.log");
	start_daemon(cf, lf);
	for (t0 = mono_ms(); mono_ms() - t0 < 30000; usleep(100 * 1000)) {
		free(log);
		log = read_tmp("qp.log");
		if ((started = strstr(log, "event=started") != NULL) ||
		    waitpid(dpid, NULL, WNOHANG) == dpid)
			break;
	}
	if (!started)
		fail_msg("no event=started; its log:\n%s", log);
	stop_daemon();
	free(log);
	log = read_tmp("qp.log");
	assert_non_null(strstr(log, "/oh_"));
	assert_non_null(strstr(log, "?***\""));
	assert_null(strstr(log, SECRET));
	free(log);
	free(lf);
	free(cf);
	free(conf);
	free(uri);
}

static int
group_setup(void **state)
{
	char *args;

	if (testlib_setup() == -1)
		return -1;
	pg_start();
	xasprintf(&args,
	    "--records %d --page-size 100 --seed 7 --deleted-every 0",
	    NRECORDS);
	start_server(&srv, "pgd.port", args);
	free(args);
	return 0;
}

static int
group_teardown(void **state)
{
	kill_daemon(state);
	stop_server(&srv);
	pg_stop();
	testlib_teardown();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_uri),
		cmocka_unit_test(test_no_database),
		cmocka_unit_test_teardown(test_daemon_harvest, kill_daemon),
		cmocka_unit_test_teardown(test_password_parameter, kill_daemon),
	};

	return cmocka_run_group_tests_name(
	    "pgd", tests, group_setup, group_teardown);
}
