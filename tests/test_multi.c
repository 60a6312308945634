/*
 * Several oaiharvestd on one database (leases = yes), with the real
 * binaries: three daemons share one SQLite file; 30 sources on 6 hosts (six
 * test servers, five sources each under /oai/sN); one daemon is killed with
 * SIGKILL in the middle of a host's harvest.  Afterwards every source is
 * complete, each record's `new` change is in the log exactly once, the
 * change log's seqs are 1..N, and no host ever had two requests in flight
 * (the servers' --trace of each request's start and end), nor less than
 * the delay between two.  A second test stops a daemon (SIGSTOP) past its
 * lease while another takes its host over: nothing it writes after SIGCONT
 * lands, and nothing is doubled.  The first test runs again with the
 * three daemons on one database of a private PostgreSQL cluster
 * (tests/testlib.c's pg_start()).  The servers' traces grow over the
 * whole group: a test checks only the lines written since it began (the
 * one-shot CLI runs of another test send with their own delay, 0).
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "testlib.h"
#include "util.h"

#define NHOSTS	    6
#define PER_HOST    5
#define NSOURCES    (NHOSTS * PER_HOST)
#define NRECORDS    150
#define PAGE_SIZE   10
#define DELAY_MS    50
#define NDAEMONS    3
#define STATUS_BASE 18210 /* this test's ports: 18211.. */

static struct server srv[NHOSTS];
/* srv[0] while a test put a server of its own there (slow_restore()). */
static struct server srv0_kept;
/* The one-shot run's slow server (test_cli_lease_lapses). */
static struct server cli_srv;
static int	     srv0_swapped;
/* Each trace's length when the running test began (trace_mark()). */
static size_t trace_off[NHOSTS];
static pid_t  dpid[NDAEMONS];
static char  *db_file;
/* Not NULL: the daemons share this PostgreSQL database, not db_file. */
static char *pg_uri;
/* The daemons' delay (write_conf()). */
static int delay_ms = DELAY_MS;

static int
setup(void **state)
{
	char *args, *trace, *port;
	int   i;

	if (testlib_setup() == -1)
		return -1;
	pg_start();
	db_file = path("multi.db");
	for (i = 0; i < NHOSTS; i++) {
		xasprintf(&trace, "%s/trace%d", tmpdir, i);
		xasprintf(&args,
		    "--records %d --page-size %d --deleted-every 0 "
		    "--delay-ms 20 --sets 0 --trace %s",
		    NRECORDS, PAGE_SIZE, trace);
		xasprintf(&port, "port%d", i);
		start_server(&srv[i], port, args);
		free(args);
		free(trace);
		free(port);
	}
	return 0;
}

/* srv[0] back, its stand-in stopped (also after a failed test). */
static void
slow_restore(void)
{
	if (!srv0_swapped)
		return;
	stop_server(&srv[0]);
	srv[0] = srv0_kept;
	srv0_swapped = 0;
}

/* After each test: no daemon left (a failed test leaves them running). */
static int
kill_daemons(void **state)
{
	daemons_kill(dpid, NDAEMONS);
	slow_restore();
	stop_server(&cli_srv);
	/* OH_MULTI_KEEP=DIR: the logs and the database, to look at. */
	testlib_keep("OH_MULTI_KEEP");
	return 0;
}

static int
teardown(void **state)
{
	int i;

	kill_daemons(state);
	for (i = 0; i < NHOSTS; i++)
		stop_server(&srv[i]);
	free(db_file);
	free(pg_uri);
	pg_stop();
	testlib_teardown();
	return 0;
}

/* Daemon n's config: every source of hosts 0..nhosts-1, status on 1821n. */
static void
write_conf(int n, int nhosts, const char *db)
{
	struct buf b;
	char	  *name, *file;

	buf_init(&b, 1 << 20);
	buf_printf(&b,
	    "[global]\ndatabase = %s\nleases = yes\nlease_ttl = 3s\n"
	    "node_name = n%d\ndelay = %dms\nmax_concurrent = 12\n"
	    "status_listen = 127.0.0.1:%d\n",
	    db, n, delay_ms, STATUS_BASE + 1 + n);
	daemon_conf_sources(&b, srv, nhosts, PER_HOST);
	xasprintf(&name, "d%d.conf", n);
	file = path(name);
	save(name, buf_str(&b));
	free(name);
	free(file);
	buf_free(&b);
}

static void
start_daemon(int n)
{
	dpid[n] = daemon_n_start(n);
}

/* What the daemons said last: for the failure's message (bounded). */
static void
dump_logs(void)
{
	char *cmd;
	int   n;

	for (n = 0; n < NDAEMONS; n++) {
		xasprintf(&cmd,
		    "test -f %s/d%d.log && { echo '--- d%d.log'; "
		    "grep -v 'event=page' %s/d%d.log | tail -40; } >&2",
		    tmpdir, n, n, tmpdir, n);
		if (system(cmd) == -1)
			fprintf(stderr, "cannot run: %s\n", cmd);
		free(cmd);
	}
}

/* Stop daemon n with SIGTERM; it must exit 0 within 15 s. */
static void
stop_daemon(int n)
{
	daemon_n_stop(&dpid[n], n);
}

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The database the daemons share: the PostgreSQL URI, or the file. */
static const char *
db_name(void)
{
	return pg_uri != NULL ? pg_uri : db_file;
}

/* Run sql (no parameters, no rows) on the database, or fail. */
static void
db_exec(const char *sql)
{
	tdb_exec(db_name(), sql);
}

/* A number from the database (-1 when it cannot be read yet). */
static long long
db_int(const char *sql)
{
	return tdb_poll_int(db_name(), sql);
}

/* Sources whose last run ended ok and that hold every record. */
static long long
sources_done(void)
{
	return tdb_sources_done(db_name(), NRECORDS);
}

/* The traces so far belong to earlier tests: check what comes after. */
static void
trace_mark(void)
{
	char *name, *text;
	int   h;

	for (h = 0; h < NHOSTS; h++) {
		xasprintf(&name, "trace%d", h);
		text = read_tmp(name);
		trace_off[h] = strlen(text);
		free(text);
		free(name);
	}
}

/*
 * Check host h's trace since trace_mark(): never two requests in flight,
 * and a delay between one's end and the next's start; the requests seen.
 * The server logs an
 * end when its event loop has sent the last byte, which on a loaded machine
 * can come some ms after the harvester has read it and started its clock:
 * half the delay is allowed for that (two daemons sending at will come
 * closer).
 */
static int
check_trace(int h)
{
	char	 *name, *text, *line, *save = NULL;
	long long t, last_end = -1;
	char	  what[8];
	int	  inflight = 0, n = 0;

	xasprintf(&name, "trace%d", h);
	text = read_tmp(name);
	free(name);
	assert_true(strlen(text) >= trace_off[h]);
	for (line = strtok_r(text + trace_off[h], "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		assert_int_equal(sscanf(line, "%lld %7s", &t, what), 2);
		if (strcmp(what, "start") == 0) {
			n++;
			if (++inflight > 1)
				fail_msg("host %d: two requests in flight at "
					 "%lld",
				    h, t);
			if (last_end >= 0 && t - last_end < DELAY_MS / 2)
				fail_msg("host %d: %lld ms between two "
					 "requests at %lld",
				    h, t - last_end, t);
		} else {
			assert_string_equal(what, "end");
			inflight--;
			assert_true(inflight >= 0);
			last_end = t;
		}
	}
	free(text);
	return n;
}

/* The change log: every record new once, nothing else, seqs 1..N. */
static void
check_changes(int nsources)
{
	long long want = (long long)nsources * NRECORDS;

	assert_int_equal(db_int("SELECT count(*) FROM record"), want);
	assert_int_equal(db_int("SELECT count(*) FROM change"), want);
	assert_int_equal(
	    db_int("SELECT count(*) FROM change WHERE kind = 'new'"), want);
	assert_int_equal(db_int("SELECT count(*) FROM (SELECT 1 FROM change"
				" GROUP BY source_id, prefix, identifier"
				" HAVING count(*) > 1) x"),
	    0);
	assert_int_equal(db_int("SELECT min(seq) FROM change"), 1);
	assert_int_equal(db_int("SELECT max(seq) FROM change"), want);
}

/* The database's clock in ms since the epoch, as SQL. */
static const char *
now_ms_sql(void)
{
	return pg_uri != NULL ?
	    "(extract(epoch FROM clock_timestamp()) * 1000)::bigint" :
	    "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";
}

static void
three_daemons_one_killed(const char *db)
{
	struct server st;
	char	     *body, *q;
	int64_t	      t0;
	long long     got;
	int	      i, n, victim_hosts = 0;

	trace_mark();
	for (i = 0; i < NDAEMONS; i++)
		write_conf(i, NHOSTS, db);
	for (i = 0; i < NDAEMONS; i++)
		start_daemon(i);

	/*
	 * Kill n0 when a host it holds is part harvested: some of its
	 * records in, not all.
	 */
	xasprintf(&q,
	    "SELECT count(*) FROM lease l WHERE l.node = 'n0' AND"
	    " l.expires_ms > %s AND"
	    " (SELECT count(*) FROM record r JOIN source s ON"
	    "  s.id = r.source_id WHERE s.url LIKE l.host || '/%%')"
	    " BETWEEN 1 AND %d",
	    now_ms_sql(), PER_HOST * NRECORDS / 2);
	for (t0 = mono_ms(); mono_ms() - t0 < 60000; usleep(20 * 1000))
		if ((victim_hosts = (int)db_int(q)) > 0)
			break;
	free(q);
	if (victim_hosts <= 0) {
		dump_logs();
		fail_msg("n0 never harvested a host");
	}
	/* /status names the node and each source's lease. */
	memset(&st, 0, sizeof(st));
	st.port = STATUS_BASE + 2;
	/* Bounded: n2 reads the leases at each request. */
	for (t0 = mono_ms();; usleep(200 * 1000)) {
		body = http(&st, 0, "/status");
		if (strstr(body, "\"node_name\":\"n0\"") != NULL ||
		    mono_ms() - t0 > 10000)
			break;
		free(body);
	}
	assert_non_null(strstr(body, "\"node\":{\"id\":"));
	assert_non_null(strstr(body, "\"name\":\"n1\""));
	assert_non_null(
	    strstr(body, "\"lease\":{\"host\":\"http://127.0.0.1:"));
	assert_non_null(strstr(body, "\"node_name\":\"n0\""));
	free(body);
	body = http(&st, 0, "/metrics");
	assert_non_null(
	    strstr(body, "oaiharvest_source_lease_expiry_timestamp_seconds{"));
	assert_non_null(strstr(body, "node=\"n0\""));
	free(body);

	assert_int_equal(kill(dpid[0], SIGKILL), 0);
	waitpid(dpid[0], NULL, 0);
	dpid[0] = 0;

	/* The other two take its hosts over and finish everything. */
	for (t0 = mono_ms(); mono_ms() - t0 < 180000; usleep(200 * 1000))
		if (sources_done() == NSOURCES)
			break;
	got = sources_done();
	if (got != NSOURCES)
		fail_msg("%lld of %d sources complete", got, NSOURCES);
	stop_daemon(1);
	stop_daemon(2);

	check_changes(NSOURCES);
	/* n0's hosts went to another holder: its runs were cut. */
	assert_true(db_int("SELECT count(*) FROM lease WHERE gen >= 2") >= 1);
	assert_true(db_int("SELECT count(*) FROM run"
			   " WHERE error = 'interrupted'") >= 1);
	/* Clean stops give every lease back. */
	assert_int_equal(
	    db_int("SELECT count(*) FROM lease WHERE holder IS NOT NULL"), 0);
	assert_int_equal(db_int("SELECT count(*) FROM lease"), NHOSTS);
	for (i = 0; i < NHOSTS; i++) {
		n = check_trace(i);
		/* Identify and 15 pages for each of its five sources. */
		assert_true(n >= PER_HOST * (1 + NRECORDS / PAGE_SIZE));
	}
}

static void
test_three_daemons_one_killed(void **state)
{
	three_daemons_one_killed(db_file);
}

/* The same, the three daemons on one PostgreSQL database. */
static void
test_three_daemons_one_killed_pg(void **state)
{
	pg_uri = pg_database();
	three_daemons_one_killed(pg_uri);
	free(pg_uri);
	pg_uri = NULL;
}

/*
 * n0 harvests two hosts alone; SIGSTOP it mid-harvest past its lease:
 * n1 takes both over and finishes.  SIGCONT n0: it finds its leases lost
 * (its pages are refused, its runs cancelled) and nothing it had in hand
 * is written twice.
 */
static void
test_paused_daemon_fenced(void **state)
{
	char	 *q, *log;
	int64_t	  t0;
	long long got, part = 0;

	free(db_file);
	db_file = path("paused.db");
	write_conf(0, 2, db_file);
	write_conf(1, 2, db_file);
	start_daemon(0);
	xasprintf(&q,
	    "SELECT count(*) FROM record r JOIN source s ON s.id = r.source_id"
	    " WHERE s.url LIKE 'http://127.0.0.1:%d/%%'",
	    srv[0].port);
	for (t0 = mono_ms(); mono_ms() - t0 < 60000; usleep(20 * 1000))
		if ((part = db_int(q)) >= 2 * PAGE_SIZE)
			break;
	free(q);
	if (part < 2 * PAGE_SIZE || part >= PER_HOST * NRECORDS) {
		dump_logs();
		fail_msg("n0 did not harvest part of host 0 (%lld)", part);
	}
	assert_int_equal(kill(dpid[0], SIGSTOP), 0);
	start_daemon(1);
	/*
	 * Its leases (3 s) lapse; n1 takes the hosts over and goes on (at
	 * least 5.5 s, and bounded: a loaded machine starts n1 slowly).
	 */
	usleep(5500 * 1000);
	for (t0 = mono_ms(); mono_ms() - t0 < 30000; usleep(200 * 1000))
		if (db_int("SELECT count(*) FROM lease WHERE node = 'n1'"
			   " AND gen >= 2") >= 1)
			break;
	if (db_int("SELECT count(*) FROM lease WHERE node = 'n1'"
		   " AND gen >= 2") < 1) {
		dump_logs();
		fail_msg("n1 took no host over from the paused n0");
	}
	assert_int_equal(kill(dpid[0], SIGCONT), 0);

	for (t0 = mono_ms(); mono_ms() - t0 < 180000; usleep(200 * 1000))
		if (sources_done() == 2 * PER_HOST)
			break;
	got = sources_done();
	if (got != 2 * PER_HOST)
		fail_msg("%lld of %d sources complete", got, 2 * PER_HOST);
	/* n0 saw it lost its hosts, and gave up what it had in hand. */
	for (t0 = mono_ms(); mono_ms() - t0 < 10000; usleep(100 * 1000)) {
		log = read_tmp("d0.log");
		got = strstr(log, "event=lease_lost") != NULL;
		free(log);
		if (got)
			break;
	}
	if (!got)
		fail_msg("n0 did not log event=lease_lost");
	stop_daemon(0);
	stop_daemon(1);
	check_changes(2 * PER_HOST);
}

/*
 * A daemon whose renewals fail (a trigger refuses its lease rows'
 * updates) stops sending to the host before the lease can lapse: it starts
 * no request after, and has none out at, the expiry the database holds
 * less a quarter of a second, although it finds out at a tick (every
 * third of lease_ttl) that the host is lost.  Before the local expiry, it
 * went on sending until that tick, past the expiry.  slow: the host takes
 * 5 s to answer, and the renewals fail from just after a request starts,
 * so that it is out when the lease lapses: n0 aborts it then.  (The
 * server's trace logs that request's end when its held-back response is
 * written, not when n0 closed the connection: a server finishes what it
 * has begun whatever the client does, so only the starts are checked
 * then.)
 */
static void
lapsing_lease_stops_requests(int slow)
{
	char	 *q, *log, *text, *line, *save = NULL, *args;
	int64_t	  t0, expires, mono_expires;
	long long part = 0, t;
	char	  what[8];
	int	  got = 0, n = 0;
	size_t	  off;

	if (slow) {
		xasprintf(&args,
		    "--records %d --page-size %d --deleted-every 0 "
		    "--delay-ms 5000 --sets 0 --trace %s/traceslow",
		    NRECORDS, PAGE_SIZE, tmpdir);
		srv0_kept = srv[0];
		srv0_swapped = 1;
		start_server(&srv[0], "portslow", args);
		free(args);
	}
	/* Slow enough that the harvest outlasts the lease. */
	delay_ms = 150;
	write_conf(0, 1, pg_uri != NULL ? pg_uri : db_file);
	delay_ms = DELAY_MS;
	trace_mark();
	start_daemon(0);
	xasprintf(&q,
	    "SELECT count(*) FROM record r JOIN source s ON s.id = r.source_id"
	    " WHERE s.url LIKE 'http://127.0.0.1:%d/%%'",
	    srv[0].port);
	for (t0 = mono_ms(); mono_ms() - t0 < 60000; usleep(20 * 1000))
		if ((part = db_int(q)) >= PAGE_SIZE * (slow ? 1 : 2))
			break;
	if (part < PAGE_SIZE)
		fail_msg("n0 did not harvest host 0 (%lld)", part);
	/*
	 * slow: the renewals fail from just after a request starts, so that
	 * it is surely out (5 s) when the lease lapses (within 3.5 s).
	 */
	if (slow) {
		log = read_tmp("traceslow");
		off = strlen(log);
		free(log);
		for (t0 = mono_ms(), got = 0; !got && mono_ms() - t0 < 30000;
		     usleep(20 * 1000)) {
			log = read_tmp("traceslow");
			got = strlen(log) > off &&
			    strstr(log + off, " start") != NULL;
			free(log);
		}
		if (!got)
			fail_msg("n0 started no request to the slow host");
		/* Longer than the lease's third: renewed, not aborted. */
		log = read_tmp("d0.log");
		got = strstr(log, "event=request_aborted") != NULL;
		free(log);
		if (got)
			fail_msg("n0 aborted a request while its lease held");
	}
	if (pg_uri != NULL)
		db_exec("CREATE FUNCTION oh_lapse() RETURNS trigger"
			" LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION"
			" 'test: no renewal'; END$$;"
			"CREATE TRIGGER oh_lapse BEFORE UPDATE ON lease"
			" FOR EACH ROW WHEN (NEW.node = 'n0')"
			" EXECUTE FUNCTION oh_lapse()");
	else
		db_exec("CREATE TRIGGER oh_lapse BEFORE UPDATE ON lease"
			" WHEN NEW.node = 'n0' BEGIN"
			" SELECT RAISE(ABORT, 'test: no renewal'); END");
	for (t0 = mono_ms(); mono_ms() - t0 < 10000; usleep(50 * 1000)) {
		log = read_tmp("d0.log");
		got = strstr(log, "event=lease_error op=renew") != NULL;
		free(log);
		if (got)
			break;
	}
	if (!got)
		fail_msg("n0's renewals did not fail");
	/* No renewal lands now: the expiry stays, on the machine's clocks. */
	if ((part = db_int(q)) >= PER_HOST * NRECORDS)
		fail_msg("host 0 harvested before its lease lapsed");
	free(q);
	expires = db_int("SELECT expires_ms FROM lease WHERE node = 'n0'");
	assert_true(expires > 0);
	mono_expires = expires - (wall_ms() - mono_ms());
	while (mono_ms() < mono_expires + 1500)
		usleep(50 * 1000);
	for (t0 = mono_ms(); mono_ms() - t0 < 10000; usleep(100 * 1000)) {
		log = read_tmp("d0.log");
		got = strstr(log, "event=lease_lost") != NULL;
		free(log);
		if (got)
			break;
	}
	if (!got)
		fail_msg("n0 did not log event=lease_lost");

	if (slow) {
		log = read_tmp("d0.log");
		got = strstr(log, "event=request_aborted") != NULL;
		free(log);
		if (!got)
			fail_msg("n0 aborted no request");
	}
	text = read_tmp(slow ? "traceslow" : "trace0");
	off = slow ? 0 : trace_off[0];
	assert_true(strlen(text) >= off);
	for (line = strtok_r(text + off, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		assert_int_equal(sscanf(line, "%lld %7s", &t, what), 2);
		if (strcmp(what, "start") == 0) {
			n++;
			if (t > mono_expires - 250)
				fail_msg("a request started %lld ms before "
					 "the lease's expiry",
				    (long long)(mono_expires - t));
		} else if (!slow && t > mono_expires)
			fail_msg("a request still out %lld ms after the "
				 "lease's expiry",
			    (long long)(t - mono_expires));
	}
	free(text);
	assert_true(n >= (slow ? 2 : 3));
	kill_daemons(NULL);
}

static void
test_lapsing_lease_stops_requests(void **state)
{
	free(db_file);
	db_file = path("lapse.db");
	lapsing_lease_stops_requests(0);
}

static void
test_lapsing_lease_aborts_request(void **state)
{
	free(db_file);
	db_file = path("lapse_slow.db");
	lapsing_lease_stops_requests(1);
}

static void
test_lapsing_lease_stops_requests_pg(void **state)
{
	pg_uri = pg_database();
	lapsing_lease_stops_requests(0);
	free(pg_uri);
	pg_uri = NULL;
}

/*
 * Daemon n0 alone on a new database file name with the sources of hosts
 * 0..nhosts-1: started, and holding all nhosts within 60 s.
 */
static void
start_n0(const char *name, int nhosts)
{
	long long n;

	free(db_file);
	db_file = path(name);
	write_conf(0, nhosts, db_file);
	start_daemon(0);
	n = tdb_wait_int(db_file,
	    "SELECT count(*) FROM lease WHERE node = 'n0'"
	    " AND holder IS NOT NULL",
	    nhosts, 60000);
	if (n != nhosts)
		fail_msg("n0 holds %lld hosts, not %d", n, nhosts);
}

/*
 * The one-shot `oaiharvest harvest` beside a live daemon: a host the
 * daemon holds is refused, naming the daemon; another host is harvested
 * under its lease, given back at the end with its next_ms.  With no
 * daemon alive, no lease is taken.
 */
static void
test_cli_beside_daemon(void **state)
{
	struct timespec ts;
	char	       *err, *q;
	long long	n = 0, ended;

	start_n0("cli.db", 1);

	/* Host 0 is n0's: refused, and the cause names n0. */
	assert_int_equal(run("c.out", "c.err",
			     "%s/oaiharvest harvest --db %s "
			     "--url http://127.0.0.1:%d/oai/s0 --source cli0",
			     bindir, db_file, srv[0].port),
	    1);
	err = read_tmp("c.err");
	if (strstr(err, "harvested by the daemon n0") == NULL)
		fail_msg("no refusal naming n0: %s", err);
	free(err);
	assert_int_equal(db_int("SELECT count(*) FROM record r JOIN source s"
				" ON s.id = r.source_id WHERE s.name = 'cli0'"),
	    0);

	/*
	 * Host 1 is free: harvested under its lease, then given back with
	 * a daemon's default delay (1 s) after its end, though the run's
	 * own delay is 0: no daemon sends to it sooner.
	 */
	assert_int_equal(run("c.out", "c.err",
			     "%s/oaiharvest harvest --db %s "
			     "--url http://127.0.0.1:%d/oai/s0 --source cli1",
			     bindir, db_file, srv[1].port),
	    0);
	clock_gettime(CLOCK_REALTIME, &ts);
	ended = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	assert_int_equal(db_int("SELECT count(*) FROM record r JOIN source s"
				" ON s.id = r.source_id WHERE s.name = 'cli1'"),
	    NRECORDS);
	xasprintf(&q,
	    "SELECT count(*) FROM lease WHERE host = 'http://127.0.0.1:%d'"
	    " AND holder IS NULL AND gen = 1 AND next_ms > 0",
	    srv[1].port);
	assert_int_equal(db_int(q), 1);
	free(q);
	xasprintf(&q,
	    "SELECT next_ms FROM lease WHERE host = 'http://127.0.0.1:%d'",
	    srv[1].port);
	if ((n = db_int(q)) <= ended)
		fail_msg("host 1 free again at %lld, before the run ended "
			 "(%lld) plus a delay",
		    n, ended);
	free(q);
	stop_daemon(0);

	/* No daemon alive: no lease taken (none for host 2's server 2). */
	assert_int_equal(run("c.out", "c.err",
			     "%s/oaiharvest harvest --db %s "
			     "--url http://127.0.0.1:%d/oai/s0 --source cli2",
			     bindir, db_file, srv[2].port),
	    0);
	xasprintf(&q, "SELECT count(*) FROM lease WHERE host LIKE '%%:%d'",
	    srv[2].port);
	assert_int_equal(db_int(q), 0);
	free(q);
}

/*
 * The one-shot `oaiharvest harvest` beside a live daemon gates its
 * requests by its host's lease as a daemon does: when its renewals fail
 * (a trigger refuses them), it starts none past the time its last
 * successful take was sent plus 25 s (its lease is 30 s), has none out at
 * the expiry the database holds, and stops, failed, saying why, with what
 * it harvested kept.  Before, it went on sending until its list ended,
 * past the expiry, when a daemon could have the host.
 */
static void
test_cli_lease_lapses(void **state)
{
	char	 *args, *q, *err, *url, *bin, *text, *line, *save = NULL;
	char	  what[8];
	int64_t	  t0, expires, mono_expires;
	long long n = 0, t;
	pid_t	  pid;
	int	  status = 0, starts = 0, fd;

	free(db_file);
	db_file = path("clilapse.db");
	write_conf(0, 1, db_file);
	start_daemon(0);
	for (t0 = mono_ms(); mono_ms() - t0 < 60000; usleep(50 * 1000))
		if ((n = db_int("SELECT count(*) FROM lease WHERE node = 'n0'"
				" AND holder IS NOT NULL")) == 1)
			break;
	if (n != 1)
		fail_msg("n0 took no host (%lld)", n);
	/* 200 pages of 200 ms: longer than the lease. */
	xasprintf(&args,
	    "--records 2000 --page-size 10 --deleted-every 0 --sets 0 "
	    "--delay-ms 200 --trace %s/traceclilapse",
	    tmpdir);
	start_server(&cli_srv, "portclilapse", args);
	free(args);
	xasprintf(&url, "http://127.0.0.1:%d/oai", cli_srv.port);
	xasprintf(&bin, "%s/oaiharvest", bindir);
	if ((pid = fork()) == -1)
		fail_msg("fork");
	if (pid == 0) {
		q = path("clilapse.err");
		if ((fd = open(q, O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1)
			_exit(127);
		dup2(fd, STDERR_FILENO);
		dup2(fd, STDOUT_FILENO);
		execl(bin, "oaiharvest", "harvest", "--db", db_file, "--url",
		    url, "--source", "clilapse", (char *)NULL);
		_exit(127);
	}
	xasprintf(&q,
	    "SELECT count(*) FROM lease WHERE holder LIKE 'cli-%%'"
	    " AND host = 'http://127.0.0.1:%d'",
	    cli_srv.port);
	for (t0 = mono_ms(), n = 0; mono_ms() - t0 < 30000; usleep(20 * 1000))
		if ((n = db_int(q)) == 1)
			break;
	free(q);
	if (n != 1) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		fail_msg("the run took no lease");
	}
	db_exec("CREATE TRIGGER oh_clilapse BEFORE UPDATE ON lease"
		" WHEN NEW.holder LIKE 'cli-%' BEGIN"
		" SELECT RAISE(ABORT, 'test: no renewal'); END");
	expires = db_int("SELECT expires_ms FROM lease WHERE holder LIKE"
			 " 'cli-%'");
	mono_expires = expires - (wall_ms() - mono_ms());
	/* Lost at a renewal after the expiry: 10 s more at most. */
	for (t0 = mono_ms(); mono_ms() < mono_expires + 20000;
	     usleep(100 * 1000))
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
	if (mono_ms() >= mono_expires + 20000) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		fail_msg("the run went on 20 s past its lease's expiry");
	}
	db_exec("DROP TRIGGER oh_clilapse");
	err = read_tmp("clilapse.err");
	if (!WIFEXITED(status) || WEXITSTATUS(status) == 0 ||
	    strstr(err, "the lease of its host was lost") == NULL)
		fail_msg("the run did not fail for its lease: %s", err);
	free(err);
	n = db_int("SELECT count(*) FROM record r JOIN source s"
		   " ON s.id = r.source_id WHERE s.name = 'clilapse'");
	if (n < PAGE_SIZE || n >= 2000)
		fail_msg("the run kept %lld records", n);
	text = read_tmp("traceclilapse");
	for (line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		assert_int_equal(sscanf(line, "%lld %7s", &t, what), 2);
		if (strcmp(what, "start") == 0) {
			starts++;
			if (t > mono_expires - 4000)
				fail_msg("a request started %lld ms before "
					 "the lease's expiry",
				    (long long)(mono_expires - t));
		} else if (t > mono_expires)
			fail_msg("a request still out %lld ms after the "
				 "lease's expiry",
			    (long long)(t - mono_expires));
	}
	free(text);
	assert_true(starts >= 10);
	stop_server(&cli_srv);
	free(url);
	free(bin);
}

/*
 * A reload that removes every source of a host gives the host's lease
 * back (once nothing of it runs); the other host stays held.
 */
static void
test_reload_gives_back(void **state)
{
	char	 *q;
	long long n = 0;

	start_n0("reload.db", 2);
	write_conf(0, 1, db_file);
	assert_int_equal(kill(dpid[0], SIGHUP), 0);
	xasprintf(&q,
	    "SELECT count(*) FROM lease WHERE host = 'http://127.0.0.1:%d'"
	    " AND holder IS NULL",
	    srv[1].port);
	n = tdb_wait_int(db_file, q, 1, 20000);
	free(q);
	if (n != 1)
		fail_msg("host 1 is still held after the reload");
	xasprintf(&q,
	    "SELECT count(*) FROM lease WHERE host = 'http://127.0.0.1:%d'"
	    " AND node = 'n0'",
	    srv[0].port);
	assert_int_equal(db_int(q), 1);
	free(q);
	stop_daemon(0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(
		    test_three_daemons_one_killed, kill_daemons),
		cmocka_unit_test_teardown(
		    test_paused_daemon_fenced, kill_daemons),
		cmocka_unit_test_teardown(test_cli_beside_daemon, kill_daemons),
		cmocka_unit_test_teardown(test_reload_gives_back, kill_daemons),
		cmocka_unit_test_teardown(test_cli_lease_lapses, kill_daemons),
		cmocka_unit_test_teardown(
		    test_lapsing_lease_stops_requests, kill_daemons),
		cmocka_unit_test_teardown(
		    test_lapsing_lease_aborts_request, kill_daemons),
		cmocka_unit_test_teardown(
		    test_three_daemons_one_killed_pg, kill_daemons),
		cmocka_unit_test_teardown(
		    test_lapsing_lease_stops_requests_pg, kill_daemons),
	};

	/* OH_MULTI_PG=1: the PostgreSQL cases alone. */
	const struct CMUnitTest pg_tests[] = { tests[7], tests[8] };

	/* OH_MULTI_ONLY=PATTERN: the cases whose names match. */
	if (getenv("OH_MULTI_ONLY") != NULL)
		cmocka_set_test_filter(getenv("OH_MULTI_ONLY"));
	if (getenv("OH_MULTI_PG") != NULL)
		return cmocka_run_group_tests_name(
		    "multi_pg", pg_tests, setup, teardown);
	return cmocka_run_group_tests_name("multi", tests, setup, teardown);
}
