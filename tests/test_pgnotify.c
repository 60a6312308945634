/*
 * GET /changes woken by PostgreSQL's LISTEN/NOTIFY: a private PostgreSQL 15
 * cluster (tests/testlib.c), the real test server, oaiharvestd A with a
 * long poll parked on its status server, and commits made by another
 * process: the one-shot CLI harvest (leases off) and a second daemon B.
 * The poll must answer within WAKE_MAX_MS of the commit, and within
 * WAKE_MEAN_MS on average over ROUNDS rounds, which the 1 s poll of the
 * change log (feed_watch()) cannot do: its answers come 0 to 1000 ms
 * after, the rounds spread over its phase (a mean of some 500 ms).  The
 * commit is seen by this test polling change_seq every POLL_MS, apart
 * from NOTIFY.  Then A's listening connection is killed with
 * pg_terminate_backend(): A connects again and the wake works as before;
 * while it cannot (the database refusing connections), the 1 s poll does.
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <arpa/inet.h>
#include <poll.h>
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

#include "testlib.h"
#include "util.h"

#define NRECORDS 150
#define PORT_A	 18301 /* this test's ports: 18300-18399 */
#define PORT_B	 18302
#define PORT_S	 18401 /* test_status_wake's, of 18400-18499 */
/* Rounds of a commit and its long poll, and what each may take. */
#define ROUNDS	     6
#define WAKE_MAX_MS  500
#define WAKE_MEAN_MS 200
#define POLL_MS	     5
/* The 1 s poll, while the listening connection is down. */
#define FALLBACK_MAX_MS 1500

static struct server srv;
static pid_t	     apid, bpid;
static PGconn	    *db;
static char	    *dburi;

static long long
q1(const char *sql)
{
	PGresult *r;
	long long n = -1;

	r = PQexec(db, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(db));
	if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
		n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return n;
}

/* sql on the cluster's postgres database (not the one it changes). */
static void
exec_admin(const char *sql)
{
	PGconn	 *c;
	PGresult *r;

	c = PQconnectdb(pg_start());
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("connect: %s", PQerrorMessage(c));
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
}

static pid_t
spawn(const char *fmt, ...)
{
	va_list ap;
	char   *cmd;
	pid_t	pid;

	va_start(ap, fmt);
	xvasprintf(&cmd, fmt, ap);
	va_end(ap);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	free(cmd);
	return pid;
}

/* Wait (bounded) for needle in the log file name, n times. */
static void
wait_log(pid_t pid, const char *name, const char *needle, int n)
{
	int64_t	    t0 = mono_ms();
	char	   *log = NULL;
	const char *p;
	int	    k = 0;

	while (mono_ms() - t0 < 30000) {
		free(log);
		log = read_tmp(name);
		for (k = 0, p = log; (p = strstr(p, needle)) != NULL; p++)
			k++;
		if (k >= n)
			break;
		if (waitpid(pid, NULL, WNOHANG) == pid)
			fail_msg("the daemon died; its log:\n%s", log);
		usleep(50 * 1000);
	}
	if (k < n)
		fail_msg(
		    "%d of %d %s in 30 s; the log:\n%s", k, n, needle, log);
	free(log);
}

static void
start_daemon(pid_t *pid, const char *name, int port, const char *source)
{
	char *conf, *cf, *lf;

	xasprintf(&conf,
	    "[global]\ndatabase = %s\ndelay = 0s\n"
	    "status_listen = 127.0.0.1:%d\n\n"
	    "[source %s]\nurl = http://127.0.0.1:%d/oai\ninterval = 1h\n",
	    dburi, port, source, srv.port);
	xasprintf(&cf, "%s.conf", name);
	save(cf, conf);
	free(conf);
	conf = path(cf);
	xasprintf(&lf, "%s.log", name);
	free(cf);
	cf = path(lf);
	*pid = spawn("exec %s/oaiharvestd -f -c %s 2>%s", bindir, conf, cf);
	wait_log(*pid, lf, "event=started", 1);
	free(lf);
	free(cf);
	free(conf);
}

static void
stop_daemon(pid_t *pid)
{
	int64_t t0 = mono_ms();
	int	status;

	if (*pid <= 0)
		return;
	kill(*pid, SIGTERM);
	while (mono_ms() - t0 < 15000) {
		if (waitpid(*pid, &status, WNOHANG) == *pid) {
			*pid = 0;
			assert_true(WIFEXITED(status));
			assert_int_equal(WEXITSTATUS(status), 0);
			return;
		}
		usleep(50 * 1000);
	}
	fail_msg("oaiharvestd did not stop within 15 s");
}

/* A long poll on daemon A's status server: the connected socket. */
static int
park(long long since)
{
	struct sockaddr_in sin;
	char		   req[256];
	int		   fd, n;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(PORT_A);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	n = snprintf(req, sizeof(req),
	    "GET /changes?since=%lld&limit=10&wait=60 HTTP/1.1\r\n"
	    "Host: 127.0.0.1:%d\r\nConnection: close\r\n\r\n",
	    since, PORT_A);
	assert_int_equal(write(fd, req, (size_t)n), n);
	/* Give the daemon time to park it before anything commits. */
	usleep(300 * 1000);
	return fd;
}

/*
 * One round: a long poll parked on A after seq since, then start (a
 * command that commits changes) run; the milliseconds between the first
 * commit (change_seq moved) and the poll's answer.
 */
static long long
round_trip(const char *what, pid_t (*start)(int), int k)
{
	struct pollfd pfd;
	char	      buf[4096];
	int64_t	      t0, t_commit = -1, t_answer = -1;
	long long     since;
	pid_t	      pid;
	int	      fd;
	ssize_t	      n;
	size_t	      got;

	since = q1("SELECT last FROM change_seq");
	fd = park(since);
	/* Spread the commits over the phase of a 1 s poll, if there is one. */
	usleep((useconds_t)((k * 373) % 1000) * 1000);
	pid = start(k);
	t0 = mono_ms();
	while (mono_ms() - t0 < 60000 && (t_commit < 0 || t_answer < 0)) {
		pfd.fd = fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (t_answer < 0 && poll(&pfd, 1, POLL_MS) == 1)
			t_answer = mono_ms();
		if (t_commit < 0 && q1("SELECT last FROM change_seq") > since)
			t_commit = mono_ms();
		if (t_answer >= 0 && t_commit < 0)
			usleep(POLL_MS * 1000);
	}
	if (t_commit < 0 || t_answer < 0)
		fail_msg("%s round %d: commit at %lld, answer at %lld", what, k,
		    (long long)t_commit, (long long)t_answer);
	/* Connection: close; the answer is short. */
	got = 0;
	while (got < sizeof(buf) - 1 &&
	    (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	if (strstr(buf, "200 OK") == NULL)
		fail_msg("%s round %d: %s", what, k, buf);
	/* The answer holds the change after since, so it was the commit. */
	assert_non_null(strstr(buf, "\"seq\":"));
	close(fd);
	if (pid > 0)
		assert_int_equal(waitpid(pid, NULL, 0), pid);
	print_message("%s round %d: answered %lld ms after the commit\n", what,
	    k, (long long)(t_answer - t_commit));
	/* The answer may come before this test sees the commit. */
	return t_answer > t_commit ? t_answer - t_commit : 0;
}

/* The one-shot CLI harvest of the test server as a new source. */
static pid_t
start_cli(int k)
{
	return spawn("exec %s/oaiharvest harvest --db %s --url "
		     "http://127.0.0.1:%d/oai --source cli%d --delay 0s "
		     ">/dev/null 2>&1",
	    bindir, dburi, srv.port, k);
}

/* Daemon B harvests its source now (SIGUSR1). */
static pid_t
start_b(int k)
{
	assert_int_equal(kill(bpid, SIGUSR1), 0);
	return 0;
}

static void
cli_rounds(const char *what, int first)
{
	long long ms, sum = 0, max = 0;
	int	  k;

	for (k = 0; k < ROUNDS; k++) {
		ms = round_trip(what, start_cli, first + k);
		sum += ms;
		if (ms > max)
			max = ms;
	}
	print_message("%s: mean %lld ms, max %lld ms over %d rounds\n", what,
	    sum / ROUNDS, max, ROUNDS);
	assert_true(max < WAKE_MAX_MS);
	assert_true(sum / ROUNDS < WAKE_MEAN_MS);
}

/* Leases off: the CLI beside a daemon wakes its long polls at once. */
static void
test_cli_wakes(void **state)
{
	start_daemon(&apid, "a", PORT_A, "a");
	wait_log(apid, "a.log", "event=store_watch_up", 1);
	cli_rounds("cli", 0);
	stop_daemon(&apid);
}

/* Daemon B's commits wake daemon A's long polls. */
static void
test_daemon_wakes(void **state)
{
	start_daemon(&apid, "a2", PORT_A, "a");
	start_daemon(&bpid, "b", PORT_B, "b");
	wait_log(apid, "a2.log", "event=store_watch_up", 1);
	assert_true(round_trip("daemon", start_b, 0) < WAKE_MAX_MS);
	stop_daemon(&bpid);
	stop_daemon(&apid);
}

/* The listening connection killed: A listens again, the wake works. */
static void
test_reconnect(void **state)
{
	start_daemon(&apid, "a3", PORT_A, "a");
	wait_log(apid, "a3.log", "event=store_watch_up", 1);
	assert_int_equal(q1("SELECT count(pg_terminate_backend(pid))"
			    " FROM pg_stat_activity"
			    " WHERE query = 'LISTEN oaiharvest_changes'"),
	    1);
	wait_log(apid, "a3.log", "event=store_watch_down", 1);
	wait_log(apid, "a3.log", "event=store_watch_up", 2);
	cli_rounds("after reconnect", 100);
	stop_daemon(&apid);
}

/*
 * While the listening connection cannot come back (the database refuses
 * new connections), the 1 s poll wakes A: B's commit reaches A's long
 * poll within FALLBACK_MAX_MS.  Once it can, A listens again.
 */
static void
test_fallback_while_down(void **state)
{
	long long ms;
	char	 *sql;

	start_daemon(&apid, "a4", PORT_A, "a");
	start_daemon(&bpid, "b4", PORT_B, "b4");
	wait_log(apid, "a4.log", "event=store_watch_up", 1);
	xasprintf(&sql, "ALTER DATABASE %s ALLOW_CONNECTIONS false", PQdb(db));
	exec_admin(sql);
	free(sql);
	/* A's listener (the first to LISTEN; B's came later). */
	assert_int_equal(q1("SELECT count(pg_terminate_backend(pid)) FROM"
			    " (SELECT pid FROM pg_stat_activity"
			    " WHERE query = 'LISTEN oaiharvest_changes'"
			    " ORDER BY backend_start LIMIT 1) l"),
	    1);
	/* It failed to connect again at least once. */
	wait_log(apid, "a4.log", "event=store_watch_down", 2);
	ms = round_trip("fallback", start_b, 1);
	assert_true(ms < FALLBACK_MAX_MS);
	xasprintf(&sql, "ALTER DATABASE %s ALLOW_CONNECTIONS true", PQdb(db));
	exec_admin(sql);
	free(sql);
	wait_log(apid, "a4.log", "event=store_watch_up", 2);
	stop_daemon(&bpid);
	stop_daemon(&apid);
}

/* GET path on the daemon's status server at port: the body. */
static char *
status_get(int port, const char *pathq)
{
	struct server st = { 0, port };

	return http(&st, 0, pathq);
}

/*
 * Wait (bounded) until /status says "wake":"want" and /metrics
 * oaiharvest_feed_listen_up is up (0 or 1).
 */
static void
wait_wake(int port, const char *want, int up)
{
	int64_t t0 = mono_ms();
	char   *st = NULL, *me = NULL, *w, *m;
	int	ok = 0;

	xasprintf(&w, "\"feed\":{\"wake\":\"%s\"}", want);
	xasprintf(&m, "\noaiharvest_feed_listen_up %d\n", up);
	while (!ok && mono_ms() - t0 < 20000) {
		free(st);
		free(me);
		st = status_get(port, "/status");
		me = status_get(port, "/metrics");
		ok = strstr(st, w) != NULL && strstr(me, m) != NULL;
		if (!ok)
			usleep(50 * 1000);
	}
	if (!ok)
		fail_msg("no %s and %s in 20 s; /status:\n%s", w, m, st);
	free(st);
	free(me);
	free(w);
	free(m);
}

/*
 * /status and /metrics say whether the LISTEN connection is up: listen
 * once it is, poll while it cannot come back, listen again after.
 */
static void
test_status_wake(void **state)
{
	char *sql;

	start_daemon(&apid, "a5", PORT_S, "a");
	wait_log(apid, "a5.log", "event=store_watch_up", 1);
	wait_wake(PORT_S, "listen", 1);
	xasprintf(&sql, "ALTER DATABASE %s ALLOW_CONNECTIONS false", PQdb(db));
	exec_admin(sql);
	free(sql);
	assert_int_equal(q1("SELECT count(pg_terminate_backend(pid))"
			    " FROM pg_stat_activity"
			    " WHERE query = 'LISTEN oaiharvest_changes'"),
	    1);
	wait_log(apid, "a5.log", "event=store_watch_down", 1);
	wait_wake(PORT_S, "poll", 0);
	xasprintf(&sql, "ALTER DATABASE %s ALLOW_CONNECTIONS true", PQdb(db));
	exec_admin(sql);
	free(sql);
	wait_log(apid, "a5.log", "event=store_watch_up", 2);
	wait_wake(PORT_S, "listen", 1);
	stop_daemon(&apid);
}

static int
kill_daemons(void **state)
{
	if (apid > 0) {
		kill(apid, SIGKILL);
		waitpid(apid, NULL, 0);
		apid = 0;
	}
	if (bpid > 0) {
		kill(bpid, SIGKILL);
		waitpid(bpid, NULL, 0);
		bpid = 0;
	}
	return 0;
}

static int
group_setup(void **state)
{
	char *args;

	if (testlib_setup() == -1)
		return -1;
	pg_start();
	dburi = pg_database();
	db = PQconnectdb(dburi);
	if (PQstatus(db) != CONNECTION_OK)
		fail_msg("connect: %s", PQerrorMessage(db));
	xasprintf(&args,
	    "--records %d --page-size 100 --seed 7 --deleted-every 0",
	    NRECORDS);
	start_server(&srv, "pgnotify.port", args);
	free(args);
	return 0;
}

static int
group_teardown(void **state)
{
	kill_daemons(state);
	PQfinish(db);
	free(dburi);
	stop_server(&srv);
	pg_stop();
	testlib_teardown();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_cli_wakes, kill_daemons),
		cmocka_unit_test_teardown(test_daemon_wakes, kill_daemons),
		cmocka_unit_test_teardown(test_reconnect, kill_daemons),
		cmocka_unit_test_teardown(
		    test_fallback_while_down, kill_daemons),
		cmocka_unit_test_teardown(test_status_wake, kill_daemons),
	};

	return cmocka_run_group_tests_name(
	    "pgnotify", tests, group_setup, group_teardown);
}
