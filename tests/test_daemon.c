/*
 * The daemon end to end: oaiharvestd on a temporary config with several
 * sources on two test servers (two ports: two hosts), intervals of
 * seconds, a NOTIFY_SOCKET of our own.  Checks: every source harvested;
 * never two requests in flight to one host (the servers count); SIGHUP adds
 * a source; a bad config is refused without stopping; SIGUSR1 harvests now;
 * SIGTERM during a harvest stops within 5 s with nothing half-written.
 * And -t checks the files a config names as well as its text.
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>

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
#include <sqlite3.h>

#include "testlib.h"

static struct server srv_a, srv_b, srv_slow;
static int	     nsock = -1;
static pid_t	     dpid;
static char	    *conf_file, *db_file, *log_file;
/* More lines for [global] and for [source a1]. */
static char *extra_global, *extra_a1;

/* Every datagram the daemon sent, in order, and how far we have looked. */
static struct buf notes;
static size_t	  notes_seen;

/* Read whatever datagrams wait, without blocking. */
static void
drain(int timeout_ms)
{
	struct pollfd pfd;
	char	      msg[4096];
	ssize_t	      n;

	pfd.fd = nsock;
	pfd.events = POLLIN;
	while (poll(&pfd, 1, timeout_ms) > 0) {
		if ((n = recv(nsock, msg, sizeof(msg) - 1, 0)) <= 0)
			break;
		msg[n] = '\0';
		assert_int_equal(buf_addstr(&notes, msg), 0);
		assert_int_equal(buf_addch(&notes, '\n'), 0);
		timeout_ms = 0;
	}
}

/* Wait (bounded) for a message holding want, after the last one found. */
static int
wait_notify(const char *want, int timeout_ms)
{
	const char *p;
	int64_t	    end = mono_ms() + timeout_ms;

	do {
		drain(50);
		p = strstr(buf_str(&notes) + notes_seen, want);
		if (p != NULL) {
			notes_seen =
			    (size_t)(p - buf_str(&notes)) + strlen(want);
			return 1;
		}
	} while (mono_ms() < end);
	return 0;
}

static long long
db_int(const char *sql)
{
	sqlite3	 *db;
	long long v;

	assert_int_equal(
	    sqlite3_open_v2(db_file, &db, SQLITE_OPEN_READONLY, NULL),
	    SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	v = q_int(db, sql);
	sqlite3_close(db);
	return v;
}

/* Sources with at least one successful run. */
static long long
sources_ok(void)
{
	return db_int("SELECT count(DISTINCT r.source_id) FROM run r "
		      "WHERE r.status = 'ok'");
}

static long long
runs_ok(const char *name)
{
	char	 *sql;
	long long v;

	xasprintf(&sql,
	    "SELECT count(*) FROM run r JOIN source s ON "
	    "s.id = r.source_id WHERE r.status = 'ok' AND s.name = '%s'",
	    name);
	v = db_int(sql);
	free(sql);
	return v;
}

/* Poll fn until it reaches want, for at most secs seconds. */
static int
wait_for(long long (*fn)(void), long long want, int secs)
{
	int i;

	for (i = 0; i < secs * 10; i++) {
		if (fn() >= want)
			return 1;
		drain(100);
	}
	return 0;
}

/*
 * The config: three sources on host A, one on host B; with more, a second
 * on B and a slow one on a third host; broken adds a bad source.
 */
static void
write_conf(int more, int broken)
{
	struct buf b;

	buf_init(&b, 65536);
	buf_printf(&b,
	    "[global]\ndatabase = %s\ndelay = 50ms\n"
	    "max_concurrent = 8\n%s\n",
	    db_file, extra_global != NULL ? extra_global : "");
	buf_printf(&b,
	    "[source a1]\nurl = http://127.0.0.1:%d/oai\n"
	    "set = col_1\ninterval = 3s\n%s\n",
	    srv_a.port, extra_a1 != NULL ? extra_a1 : "");
	buf_printf(&b,
	    "[source a2]\nurl = http://127.0.0.1:%d/oai\n"
	    "set = col_2\ninterval = 3s\n\n",
	    srv_a.port);
	buf_printf(&b,
	    "[source a3]\nurl = http://127.0.0.1:%d/oai\n"
	    "set = com_3\nmetadata_prefix = oai_dc qdc\ninterval = 3s\n\n",
	    srv_a.port);
	buf_printf(&b,
	    "[source b1]\nurl = http://127.0.0.1:%d/oai\n"
	    "interval = 3s\n\n",
	    srv_b.port);
	if (more) {
		buf_printf(&b,
		    "[source b2]\nurl = http://127.0.0.1:%d/oai\n"
		    "set = col_0\ninterval = 3s\n\n",
		    srv_b.port);
		buf_printf(&b,
		    "[source slow]\nurl = http://127.0.0.1:%d/oai\n"
		    "interval = 1h\ndelay = 0s\n\n",
		    srv_slow.port);
	}
	if (broken)
		buf_addstr(&b, "[source broken]\nurl = gopher://x/\n");
	save("d.conf", buf_str(&b));
	buf_free(&b);
}

static int
setup(void **state)
{
	struct sockaddr_un sun;
	char		  *sockpath, *cmd;

	if (testlib_setup() == -1)
		return -1;
	buf_init(&notes, 64UL * 1024 * 1024);
	start_server(&srv_a, "a.port",
	    "--records 300 --page-size 40 "
	    "--delay-ms 15");
	start_server(&srv_b, "b.port",
	    "--records 200 --page-size 40 "
	    "--delay-ms 15");
	start_server(&srv_slow, "slow.port",
	    "--records 2000 --page-size 10 "
	    "--deleted-every 0 --delay-ms 150");
	conf_file = path("d.conf");
	db_file = path("d.db");
	log_file = path("d.log");
	sockpath = path("notify.sock");
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sockpath);
	nsock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (nsock == -1 ||
	    bind(nsock, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		return -1;
	write_conf(0, 0);
	dpid = fork();
	if (dpid == -1)
		return -1;
	if (dpid == 0) {
		setenv("NOTIFY_SOCKET", sockpath, 1);
		setenv("WATCHDOG_USEC", "400000", 1);
		xasprintf(&cmd, "exec %s/oaiharvestd -f -c %s 2>%s", bindir,
		    conf_file, log_file);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	free(sockpath);
	return 0;
}

static int
teardown(void **state)
{
	if (dpid > 0) {
		kill(dpid, SIGKILL);
		waitpid(dpid, NULL, 0);
	}
	stop_server(&srv_a);
	stop_server(&srv_b);
	stop_server(&srv_slow);
	close(nsock);
	buf_free(&notes);
	free(conf_file);
	free(db_file);
	free(log_file);
	free(extra_global);
	free(extra_a1);
	testlib_teardown();
	return 0;
}

static long long
n_sources_ok(void)
{
	return sources_ok();
}

static long long
a1_runs(void)
{
	return runs_ok("a1");
}

static long long
b2_runs(void)
{
	return runs_ok("b2");
}

static long long
slow_records(void)
{
	return db_int("SELECT count(*) FROM record r JOIN source s ON "
		      "s.id = r.source_id WHERE s.name = 'slow'");
}

/* READY=1, every source harvested, one request at a time per host. */
static void
test_all_sources_harvested(void **state)
{
	char *st;

	assert_true(wait_notify("READY=1", 20000));
	if (!wait_for(n_sources_ok, 4, 60))
		fail_msg("not all sources harvested: %lld", sources_ok());
	/* And again: the interval is 3 s. */
	assert_true(wait_for(a1_runs, 2, 30));
	st = http(&srv_a, 0, "/control/stats");
	assert_non_null(strstr(st, "\"max_in_flight\":1}"));
	assert_null(strstr(st, "\"oai_requests\":0,"));
	free(st);
	st = http(&srv_b, 0, "/control/stats");
	assert_non_null(strstr(st, "\"max_in_flight\":1}"));
	free(st);
	/* Each run ends with one summary line. */
	st = slurp(log_file);
	assert_non_null(strstr(st, "event=run_done source=\"a3\" status=ok "));
	assert_non_null(strstr(st, " next_run=20"));
	free(st);
	/* The daemon said how it is doing, and pings the watchdog. */
	assert_true(wait_notify("STATUS=", 10000));
	assert_true(wait_notify("WATCHDOG=1", 2000));
	assert_true(wait_notify("WATCHDOG=1", 2000));
}

/* SIGHUP with a new source: RELOADING=1, READY=1, and it is harvested. */
static void
test_reload_adds_source(void **state)
{
	write_conf(1, 0);
	assert_int_equal(kill(dpid, SIGHUP), 0);
	assert_true(wait_notify("RELOADING=1", 10000));
	assert_true(wait_notify("READY=1", 10000));
	if (!wait_for(b2_runs, 1, 30))
		fail_msg("the added source was not harvested");
}

/* A bad config is refused with its line; the daemon goes on. */
static void
test_bad_config_refused(void **state)
{
	long long before;
	char	 *log;

	write_conf(1, 1);
	before = runs_ok("b2");
	assert_int_equal(kill(dpid, SIGHUP), 0);
	assert_true(wait_notify("RELOADING=1", 10000));
	assert_true(wait_notify("READY=1", 10000));
	assert_int_equal(kill(dpid, 0), 0);
	log = slurp(log_file);
	assert_non_null(strstr(log, "event=reload_failed"));
	if (strstr(log, "d.conf:37: source \\\"broken\\\": url") == NULL)
		fail_msg("no line-numbered error in the log: %.300s",
		    strstr(log, "event=reload_failed"));
	free(log);
	if (!wait_for(b2_runs, before + 1, 30))
		fail_msg("harvests stopped after a bad reload");
	assert_int_equal(db_int("SELECT count(*) FROM source WHERE "
				"name = 'broken'"),
	    0);
}

/* Lines of the log holding event=reload_restart_needed, and how many. */
static int
restart_warnings(const char *log, const char *keys)
{
	const char *p;
	char	   *want;
	int	    n = 0;

	xasprintf(&want, "event=reload_restart_needed keys=\"%s\"", keys);
	for (p = log; (p = strstr(p, "event=reload_restart_needed")) != NULL;
	     p++) {
		if (strncmp(p, want, strlen(want)) != 0)
			fail_msg("a restart warning for other keys: %.120s", p);
		n++;
	}
	free(want);
	return n;
}

/* The last seq of a change feed file, 0 if empty, -1 if missing. */
static long long
feed_last(const char *name)
{
	char	   *f, *txt;
	const char *p;
	long long   seq = -1;

	f = path(name);
	if (access(f, F_OK) == 0) {
		txt = slurp(f);
		seq = 0;
		for (p = txt; (p = strstr(p, "{\"seq\":")) != NULL; p++)
			seq = strtoll(p + 7, NULL, 10);
		free(txt);
	}
	free(f);
	return seq;
}

static long long
max_seq(void)
{
	return db_int("SELECT coalesce(max(seq), 0) FROM change");
}

static long long
feed1_last(void)
{
	return feed_last("feed1.jsonl") == max_seq() ? 1 : 0;
}

static long long
feed2_last(void)
{
	return feed_last("feed2.jsonl") == max_seq() ? 1 : 0;
}

/*
 * A reload puts every key in use or names it: a1's new overlap and window
 * are used by its next runs; a new timeout is named, alone, as waiting for a
 * restart (and again at the next reload, as it still is); a new
 * changes_log is written from the outbox cursor on, and moving it goes on
 * in the new file where the old one stopped.
 */
static void
test_reload_applies_changes(void **state)
{
	char	 *log, *feed1, *feed2, *txt, *first;
	long long before, last1;

	feed1 = path("feed1.jsonl");
	feed2 = path("feed2.jsonl");
	extra_a1 = xstrdup("overlap = 0s\nwindow = year\n");
	xasprintf(&extra_global, "timeout = 45s\nchanges_log = %s\n", feed1);
	write_conf(1, 0);
	assert_int_equal(kill(dpid, SIGHUP), 0);
	assert_true(wait_notify("RELOADING=1", 10000));
	assert_true(wait_notify("READY=1", 10000));
	before = runs_ok("a1");
	/* The second run from now began after the reload. */
	if (!wait_for(a1_runs, before + 2, 40))
		fail_msg("a1 was not harvested after the reload");
	/* window = year: the runs went by windows. */
	log = slurp(log_file);
	assert_non_null(strstr(log, "event=window source=\"a1\""));
	free(log);
	/*
	 * overlap = 0s: the next from is the repository's clock itself, not
	 * the default five minutes before it.
	 */
	assert_int_equal(
	    db_int("SELECT count(*) FROM list_state l JOIN "
		   "source s ON s.id = l.source_id WHERE s.name = 'a1' AND "
		   "l.watermark > strftime('%Y-%m-%dT%H:%M:%SZ', 'now', "
		   "'-60 seconds')"),
	    1);
	/* The new feed holds every change so far. */
	if (!wait_for(feed1_last, 1, 20))
		fail_msg("changes_log %s: last seq %lld, the database's %lld",
		    feed1, feed_last("feed1.jsonl"), max_seq());
	last1 = feed_last("feed1.jsonl");
	assert_true(last1 > 0);
	/* The log says what changed, and what waits for a restart. */
	log = slurp(log_file);
	assert_non_null(strstr(log,
	    "event=source_changed source=\"a1\" "
	    "keys=\"overlap, window\""));
	assert_null(strstr(log, "event=source_changed source=\"a2\""));
	assert_int_equal(restart_warnings(log, "timeout"), 1);
	free(log);

	/* Moved: the next change goes to the new file, none is lost. */
	free(extra_global);
	xasprintf(&extra_global, "timeout = 45s\nchanges_log = %s\n", feed2);
	write_conf(1, 0);
	assert_int_equal(kill(dpid, SIGHUP), 0);
	assert_true(wait_notify("READY=1", 10000));
	/* A record of col_1 (13 % 4): a1 harvests it again. */
	free(http(&srv_a, 1, "/control/update?id=13"));
	if (!wait_for(feed2_last, 1, 30))
		fail_msg("changes_log %s: last seq %lld, the database's %lld",
		    feed2, feed_last("feed2.jsonl"), max_seq());
	assert_true(feed_last("feed2.jsonl") > last1);
	assert_int_equal(feed_last("feed1.jsonl"), last1);
	txt = slurp(feed2);
	xasprintf(&first, "{\"seq\":%lld,", last1 + 1);
	if (strncmp(txt, first, strlen(first)) != 0)
		fail_msg("%s does not go on from seq %lld: %.100s", feed2,
		    last1, txt);
	free(first);
	free(txt);
	log = slurp(log_file);
	assert_int_equal(restart_warnings(log, "timeout"), 2);
	free(log);
	free(feed1);
	free(feed2);
}

/*
 * SIGUSR1 starts the hourly source now; SIGTERM in the middle of it stops
 * the daemon within 5 s, and the database holds whole pages only.
 */
static void
test_usr1_then_term(void **state)
{
	int64_t t0;
	int	status, exited = 0;

	assert_int_equal(kill(dpid, SIGUSR1), 0);
	if (!wait_for(slow_records, 30, 30))
		fail_msg("SIGUSR1 did not start the slow source");
	t0 = mono_ms();
	assert_int_equal(kill(dpid, SIGTERM), 0);
	while (mono_ms() - t0 < 5000) {
		if (waitpid(dpid, &status, WNOHANG) == dpid) {
			exited = 1;
			break;
		}
		usleep(20 * 1000);
	}
	if (!exited)
		fail_msg("oaiharvestd did not stop within 5 s");
	dpid = 0;
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(wait_notify("STOPPING=1", 2000));
	/* 2,000 records in pages of 10: only whole pages were written. */
	assert_true(slow_records() < 2000);
	assert_int_equal(slow_records() % 10, 0);
	assert_int_equal(
	    db_int(
		"SELECT count(*) FROM list_state l JOIN "
		"source s ON s.id = l.source_id WHERE s.name = 'slow' AND "
		"l.token IS NOT NULL AND l.pages * 10 = (SELECT count(*) FROM "
		"record WHERE source_id = s.id)"),
	    1);
	/* Every run has ended; the cancelled one says so. */
	assert_int_equal(db_int("SELECT count(*) FROM run WHERE status = "
				"'running'"),
	    0);
	assert_int_equal(db_int("SELECT count(*) FROM run r JOIN source s ON "
				"s.id = r.source_id WHERE s.name = 'slow' AND "
				"r.status = 'failed' "
				"AND r.error = 'cancelled'"),
	    1);
	assert_int_equal(db_int("SELECT count(*) FROM pragma_integrity_check "
				"WHERE integrity_check = 'ok'"),
	    1);
}

/*
 * oaiharvestd -t on a config whose [global] has the line given: its exit
 * status, and its standard error in *err (allocated).
 */
static int
check(const char *line, char **err)
{
	char *c, *f;
	int   rc;

	xasprintf(&c,
	    "[global]\n%s\n\n[source s]\n"
	    "url = http://127.0.0.1:1/oai\n",
	    line);
	save("ck.conf", c);
	free(c);
	f = path("ck.conf");
	rc = run("ck.out", "ck.err", "%s/oaiharvestd -t -c %s", bindir, f);
	free(f);
	*err = read_tmp("ck.err");
	return rc;
}

/*
 * -t (which the unit runs before a start and a reload) also checks what it
 * can of the files without making them: the database and the changes_log
 * can be written or made, the token file read.  The errors name the line.
 */
static void
test_check_files(void **state)
{
	static const struct {
		const char *line; /* %s: the temporary directory */
		const char *want;
	} bad[] = {
		{ "database = %s/nosuch/h.db",
		    "ck.conf:2: database "
		    "%s/nosuch/h.db: directory %s/nosuch does not exist" },
		{ "database = /etc/passwd/h.db",
		    "ck.conf:2: database "
		    "/etc/passwd/h.db: /etc/passwd is not a directory" },
		{ "database = %s", "ck.conf:2: database %s: is a directory" },
		{ "database = %s/ok.db\nchanges_log = %s/nosuch/c.jsonl",
		    "ck.conf:3: changes_log %s/nosuch/c.jsonl: directory "
		    "%s/nosuch does not exist" },
		{ "database = %s/ok.db\nchanges_log = /etc/passwd/c.jsonl",
		    "ck.conf:3: changes_log /etc/passwd/c.jsonl: /etc/passwd "
		    "is not a directory" },
		{ "database = %s/ok.db\nstatus_token_file = %s/nosuch.tok",
		    "ck.conf:3: "
		    "status_token_file %s/nosuch.tok: No such file" },
	};
	char  *line, *want, *err, *f;
	size_t i;

	for (i = 0; i < nitems(bad); i++) {
		xasprintf(&line, bad[i].line, tmpdir, tmpdir);
		xasprintf(&want, bad[i].want, tmpdir, tmpdir);
		if (check(line, &err) != 1 || strstr(err, want) == NULL)
			fail_msg("%s: want exit 1 and \"%s\", got: %s", line,
			    want, err);
		free(line);
		free(want);
		free(err);
	}
	/* Good: 0, and nothing made. */
	xasprintf(&line, "database = %s/ok.db\nchanges_log = %s/ok.jsonl",
	    tmpdir, tmpdir);
	assert_int_equal(check(line, &err), 0);
	assert_string_equal(err, "");
	free(err);
	free(line);
	f = path("ok.db");
	assert_int_equal(access(f, F_OK), -1);
	free(f);
	f = path("ok.jsonl");
	assert_int_equal(access(f, F_OK), -1);
	free(f);
	/* An invalid config is still a usage error: 2. */
	assert_int_equal(check("database = %s/ok.db\nnosuch = 1", &err), 2);
	free(err);
}

/* Issue 16, item 8 */

/* Wait (bounded) until the file at lf holds want. */
static int
log_has(const char *lf, const char *want, int secs)
{
	char *log;
	int   i, found = 0;

	for (i = 0; i < secs * 10 && !found; i++) {
		log = slurp(lf);
		found = strstr(log, want) != NULL;
		free(log);
		if (!found)
			usleep(100 * 1000);
	}
	return found;
}

/*
 * oaiharvestd -v through a harvest, a reload and a SIGTERM in the middle
 * of a run: every line of its stderr is a log line naming its event, none
 * at error priority (the stop was planned: the cancelled run is a
 * warning), the run summaries are notices, no -1 stands for unknown.
 */
static void
test_log_lines(void **state)
{
	char	   *cf, *lf, *db, *cmd, *conf, *log, *p, *nl, *line;
	const char *hdr;
	pid_t	    pid;
	int	    status, n = 0;

	cf = path("v.conf");
	lf = path("v.log");
	db = path("v.db");
	hdr = "[global]\ndatabase = %s\ndelay = 0s\ntimeout = %s\n\n"
	      "[source fast]\nurl = http://127.0.0.1:%d/oai\ninterval = 1h\n\n"
	      "[source slow]\nurl = http://127.0.0.1:%d/oai\ninterval = 1h\n";
	xasprintf(&conf, hdr, db, "60s", srv_a.port, srv_slow.port);
	save("v.conf", conf);
	free(conf);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		xasprintf(
		    &cmd, "exec %s/oaiharvestd -v -c %s 2>%s", bindir, cf, lf);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	assert_true(log_has(lf, "event=started", 10));
	kill(pid, SIGUSR1);
	assert_true(log_has(lf, "event=run_done source=\"fast\"", 30));
	assert_true(log_has(lf,
	    "source=\"slow\" prefix=\"oai_dc\" set=\"\" "
	    "page=2 ",
	    30));
	/* A reload with a key that waits for a restart. */
	xasprintf(&conf, hdr, db, "61s", srv_a.port, srv_slow.port);
	save("v.conf", conf);
	free(conf);
	kill(pid, SIGHUP);
	assert_true(log_has(lf, "event=reloaded", 10));
	kill(pid, SIGTERM);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	log = slurp(lf);
	for (p = log; *p != '\0'; p = *nl != '\0' ? nl + 1 : nl) {
		if ((nl = strchr(p, '\n')) == NULL)
			nl = p + strlen(p);
		line = xstrndup(p, (size_t)(nl - p));
		n++;
		if (strlen(line) < 21 || line[19] != 'Z' ||
		    strncmp(line + 20, " level=", 7) != 0)
			fail_msg("not a log line: %s", line);
		if (strstr(line, " event=") == NULL)
			fail_msg("a log line without event=: %s", line);
		if (strstr(line, " level=error ") != NULL)
			fail_msg("an error on a planned stop: %s", line);
		if (strstr(line, "=-1 ") != NULL ||
		    strcmp(line + strlen(line) - 3, "=-1") == 0)
			fail_msg("a -1 placeholder: %s", line);
		free(line);
	}
	assert_true(n > 20);
	assert_non_null(strstr(log, " level=debug event="));
	assert_non_null(strstr(log, " level=warn event=reload_restart_needed"));
	assert_non_null(strstr(log,
	    " level=notice event=run_done "
	    "source=\"fast\" status=ok "));
	assert_non_null(p = strstr(log,
			    " level=warn event=run_done "
			    "source=\"slow\" status=failed "));
	assert_non_null(nl = strchr(p, '\n'));
	line = xstrndup(p, (size_t)(nl - p));
	assert_non_null(strstr(line, " error=\"cancelled\""));
	free(line);
	free(log);
	free(cf);
	free(lf);
	free(db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_sources_harvested),
		cmocka_unit_test(test_reload_adds_source),
		cmocka_unit_test(test_bad_config_refused),
		cmocka_unit_test(test_reload_applies_changes),
		cmocka_unit_test(test_usr1_then_term),
		cmocka_unit_test(test_check_files),
		cmocka_unit_test(test_log_lines),
	};

	return cmocka_run_group_tests_name("daemon", tests, setup, teardown);
}
