/*
 * The change feed file (changes_log): the daemon is killed with SIGKILL in
 * the middle of harvests, again and again, and restarted; at the end the
 * file holds every change of the change table exactly once, in seq order.
 * Then the file is rotated (moved away, SIGHUP) and new changes go to the
 * new file only.  Then a full disk: the feed on a small tmpfs that fills in
 * the middle of a harvest; /healthz and /metrics say so; space is freed,
 * SIGHUP, and the file holds every change exactly once, every line valid
 * JSON.  A changes_log replaced by a symbolic link is refused; once the
 * link goes, the daemon's retry writes a new file by itself.
 */
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
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
static char	    *conf_file, *db_file, *feed, *log_file;

static pid_t
start_daemon(void)
{
	pid_t pid;
	char *cmd;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		xasprintf(&cmd, "exec %s/oaiharvestd -c %s 2>>%s", bindir,
		    conf_file, log_file);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static int
setup(void **state)
{
	char *c;

	if (testlib_setup() == -1)
		return -1;
	start_server(&srv, "o.port",
	    "--records 3000 --page-size 25 "
	    "--deleted-every 0 --delay-ms 20");
	conf_file = path("o.conf");
	db_file = path("o.db");
	feed = path("changes.jsonl");
	log_file = path("o.log");
	xasprintf(&c,
	    "[global]\ndatabase = %s\nchanges_log = %s\n"
	    "delay = 0s\nstatus_listen = off\n\n"
	    "[source s]\nurl = http://127.0.0.1:%d/oai\ninterval = 1s\n",
	    db_file, feed, srv.port);
	save("o.conf", c);
	free(c);
	return 0;
}

static int
teardown(void **state)
{
	stop_server(&srv);
	free(conf_file);
	free(db_file);
	free(feed);
	free(log_file);
	testlib_teardown();
	return 0;
}

/* The changes in the database, as `oaiharvest changes` prints them. */
static char *
table_changes(void)
{
	assert_int_equal(run("t.out", "t.err",
			     "%s/oaiharvest changes --db "
			     "%s",
			     bindir, db_file),
	    0);
	return read_tmp("t.out");
}

static long long
db_count(const char *sql)
{
	sqlite3	 *s;
	long long v;

	if (access(db_file, F_OK) != 0)
		return 0;
	assert_int_equal(
	    sqlite3_open_v2(db_file, &s, SQLITE_OPEN_READONLY, NULL),
	    SQLITE_OK);
	sqlite3_busy_timeout(s, 5000);
	v = sqlite3_exec(s, "SELECT 1 FROM change", NULL, NULL, NULL) ==
		SQLITE_OK ?
	    q_int(s, sql) :
	    0;
	sqlite3_close(s);
	return v;
}

static void
test_sigkill_then_rotate(void **state)
{
	sqlite3	    *s;
	char	    *file, *table, *old, *moved, *c;
	unsigned int seed = 7;
	pid_t	     pid;
	int	     i, status, kills = 0;

	/* Killed mid-harvest, again and again. */
	for (i = 0; i < 8; i++) {
		pid = start_daemon();
		usleep((useconds_t)(300 + rand_r(&seed) % 500) * 1000);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		kills++;
	}
	assert_true(db_count("SELECT count(*) FROM change") > 0);
	assert_true(db_count("SELECT count(*) FROM change") < 3000);
	/* Then to the end of the harvest. */
	pid = start_daemon();
	for (i = 0; i < 600 && db_count("SELECT count(*) FROM change") < 3000;
	     i++)
		usleep(100 * 1000);
	assert_int_equal(db_count("SELECT count(*) FROM change"), 3000);
	usleep(500 * 1000);

	file = slurp(feed);
	table = table_changes();
	/* Exactly the table, line for line. */
	assert_string_equal(file, table);
	assert_int_equal(sqlite3_open(":memory:", &s), SQLITE_OK);
	load_jsonl(s, "f", file);
	assert_int_equal(
	    q_int(s, "SELECT count(DISTINCT j->>'seq') FROM f"), 3000);
	sqlite3_close(s);
	free(file);
	free(table);
	print_message("outbox: %d SIGKILLs\n", kills);

	/* Rotation: move the file away, SIGHUP, a new change. */
	moved = path("changes.jsonl.1");
	assert_int_equal(rename(feed, moved), 0);
	assert_int_equal(kill(pid, SIGHUP), 0);
	usleep(500 * 1000);
	free(http(&srv, 1, "/control/update?id=42"));
	for (i = 0; i < 300 && db_count("SELECT count(*) FROM change") < 3001;
	     i++)
		usleep(100 * 1000);
	assert_int_equal(db_count("SELECT count(*) FROM change"), 3001);
	for (i = 0; i < 50; i++) {
		file = slurp(feed);
		if (strstr(file, "\n") != NULL)
			break;
		free(file);
		file = NULL;
		usleep(100 * 1000);
	}
	assert_non_null(file);
	assert_non_null(strstr(file, "{\"seq\":3001,"));
	assert_non_null(strstr(file, "rec/42\""));
	assert_null(strstr(file, "{\"seq\":3000,"));
	old = slurp(moved);
	xasprintf(&c, "%s%s", old, file);
	table = table_changes();
	assert_string_equal(c, table);
	free(c);
	free(old);
	free(file);
	free(table);
	free(moved);
	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* The full disk: a tmpfs of 256 KiB, where 3,000 changes need 480 KB. */
static char *full_dir;
static int   full_mounted;
static int   sport; /* the status server's port */
static pid_t full_pid = -1;

static int
full_teardown(void **state)
{
	int status;

	if (full_pid > 0) {
		kill(full_pid, SIGKILL);
		waitpid(full_pid, &status, 0);
	}
	full_pid = -1;
	if (full_mounted && umount2(full_dir, MNT_DETACH) == -1)
		print_message("umount %s: %s\n", full_dir, strerror(errno));
	full_mounted = 0;
	free(full_dir);
	full_dir = NULL;
	return 0;
}

static long long
count_in(const char *db, const char *sql)
{
	sqlite3	 *s;
	long long v;

	if (access(db, F_OK) != 0)
		return 0;
	assert_int_equal(
	    sqlite3_open_v2(db, &s, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_busy_timeout(s, 5000);
	v = sqlite3_exec(s, "SELECT 1 FROM run", NULL, NULL, NULL) ==
		SQLITE_OK ?
	    q_int(s, sql) :
	    0;
	sqlite3_close(s);
	return v;
}

static size_t
write_cb(char *p, size_t size, size_t n, void *arg)
{
	return buf_add(arg, p, size * n) == 0 ? size * n : 0;
}

/* GET from the daemon's status server: the body, the status in *code. */
static char *
status_get(const char *pathq, long *code)
{
	CURL	  *c;
	struct buf b;
	char	  *url;

	buf_init(&b, 16UL * 1024 * 1024);
	xasprintf(&url, "http://127.0.0.1:%d%s", sport, pathq);
	c = curl_easy_init();
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, code);
	curl_easy_cleanup(c);
	free(url);
	return b.data != NULL ? b.data : xstrdup("");
}

/* The value of an unlabelled sample in /metrics, or -1. */
static double
metric(const char *name)
{
	char  *body, *want, *p;
	long   code;
	double v = -1;

	body = status_get("/metrics", &code);
	assert_int_equal(code, 200);
	xasprintf(&want, "\n%s ", name);
	if ((p = strstr(body, want)) != NULL)
		v = strtod(p + strlen(want), NULL);
	free(want);
	free(body);
	return v;
}

/* /healthz answers code, and its body holds want. */
static void
health_is(long want_code, const char *want)
{
	char *body;
	long  code;

	body = status_get("/healthz", &code);
	if (code != want_code || strstr(body, want) == NULL)
		fail_msg("/healthz: %ld %s (want %ld with \"%s\")", code, body,
		    want_code, want);
	free(body);
}

/* Every line of the file is valid JSON, each seq once, and the table. */
static void
feed_exactly_once(const char *file_path, const char *db)
{
	sqlite3	 *s;
	char	 *file, *table;
	long long n;

	file = slurp(file_path);
	assert_int_equal(sqlite3_open(":memory:", &s), SQLITE_OK);
	load_jsonl(s, "f", file); /* CHECK(json_valid(j)) */
	n = q_int(s, "SELECT count(*) FROM f");
	assert_int_equal(
	    q_int(s, "SELECT count(DISTINCT j->>'seq') FROM f"), n);
	assert_int_equal(n, count_in(db, "SELECT count(*) FROM change"));
	sqlite3_close(s);
	assert_int_equal(run("t.out", "t.err",
			     "%s/oaiharvest changes --db "
			     "%s",
			     bindir, db),
	    0);
	table = read_tmp("t.out");
	assert_string_equal(file, table);
	free(table);
	free(file);
}

static void
test_disk_full_then_link(void **state)
{
	char	 *conf, *db, *log, *cmd, *feed_full, *moved, *target;
	char	 *p, *txt;
	long long changes, last;
	double	  errs;
	pid_t	  pid;
	int	  i, status;

	full_dir = path("full");
	assert_int_equal(mkdir(full_dir, 0755), 0);
	/* As root (in CI too): this test is never skipped. */
	if (mount("tmpfs", full_dir, "tmpfs", 0, "size=256k") == -1)
		fail_msg("mount tmpfs on %s: %s", full_dir, strerror(errno));
	full_mounted = 1;
	xasprintf(&feed_full, "%s/changes.jsonl", full_dir);
	db = path("full.db");
	log = path("full.log");
	xasprintf(&conf,
	    "[global]\ndatabase = %s\nchanges_log = %s\n"
	    "delay = 0s\nstatus_listen = 127.0.0.1:0\n\n"
	    "[source s]\nurl = http://127.0.0.1:%d/oai\ninterval = 1h\n",
	    db, feed_full, srv.port);
	save("full.conf", conf);
	free(conf);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		p = path("full.conf");
		xasprintf(
		    &cmd, "exec %s/oaiharvestd -c %s 2>%s", bindir, p, log);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	full_pid = pid;
	for (i = 0, sport = 0; i < 200 && sport == 0; i++) {
		usleep(50 * 1000);
		txt = slurp(log);
		if ((p = strstr(txt, "event=status_listen")) != NULL &&
		    (p = strstr(p, "port=")) != NULL)
			sport = atoi(p + 5);
		free(txt);
	}
	assert_true(sport > 0);
	kill(pid, SIGUSR1);

	/* The harvest goes on into the database; the feed fills the disk. */
	for (i = 0; i < 600 &&
	     count_in(db,
		 "SELECT count(*) FROM run "
		 "WHERE status = 'ok'") < 1;
	     i++)
		usleep(100 * 1000);
	assert_int_equal(count_in(db,
			     "SELECT count(*) FROM run WHERE "
			     "status = 'ok'"),
	    1);
	changes = count_in(db, "SELECT count(*) FROM change");
	assert_true(changes >= 3000);
	last = count_in(db, "SELECT max(seq) FROM change");
	health_is(503, "No space left on device");
	assert_true(metric("oaiharvest_changes_log_ok") == 0);
	errs = metric("oaiharvest_changes_log_errors_total");
	assert_true(errs >= 1);
	/* Everything written so far is whole lines, each once. */
	txt = slurp(feed_full);
	assert_true(strlen(txt) > 0);
	assert_true(txt[strlen(txt) - 1] == '\n');
	free(txt);

	/* Space freed, SIGHUP: the feed catches up, exactly once. */
	if (mount("tmpfs", full_dir, "tmpfs", MS_REMOUNT, "size=4m") == -1)
		fail_msg("remount %s: %s", full_dir, strerror(errno));
	assert_int_equal(kill(pid, SIGHUP), 0);
	for (i = 0; i < 100; i++) {
		txt = slurp(feed_full);
		/* The last change's line, whole. */
		xasprintf(&cmd, "{\"seq\":%lld,", last);
		p = strstr(txt, cmd);
		free(cmd);
		if (p != NULL && strchr(p, '\n') != NULL) {
			free(txt);
			break;
		}
		free(txt);
		usleep(100 * 1000);
	}
	feed_exactly_once(feed_full, db);
	print_message("outbox: disk full: %lld changes, %.0f failed "
		      "flushes before the space was freed\n",
	    changes, errs);
	health_is(200, "ok");
	assert_true(metric("oaiharvest_changes_log_ok") == 1);

	/* A symbolic link in its place is not followed. */
	xasprintf(&moved, "%s/changes.jsonl.1", full_dir);
	target = path("target.jsonl");
	save("target.jsonl", "");
	assert_int_equal(rename(feed_full, moved), 0);
	assert_int_equal(symlink(target, feed_full), 0);
	assert_int_equal(kill(pid, SIGHUP), 0);
	free(http(&srv, 1, "/control/update?id=7"));
	assert_int_equal(kill(pid, SIGUSR1), 0);
	for (i = 0; i < 300 &&
	     count_in(db, "SELECT count(*) FROM change") < changes + 1;
	     i++)
		usleep(100 * 1000);
	assert_int_equal(
	    count_in(db, "SELECT count(*) FROM change"), changes + 1);
	usleep(300 * 1000);
	txt = slurp(target);
	assert_string_equal(txt, "");
	free(txt);
	health_is(503, "symbolic link");
	assert_true(metric("oaiharvest_changes_log_ok") == 0);
	assert_true(metric("oaiharvest_changes_log_errors_total") > errs);

	/*
	 * The link gone: without a SIGHUP or a commit, the retry (every 10 s)
	 * makes a new file with the change.
	 */
	assert_int_equal(unlink(feed_full), 0);
	for (i = 0; i < 250; i++) {
		txt = slurp(feed_full);
		p = strchr(txt, '\n');
		free(txt);
		if (p != NULL)
			break;
		usleep(100 * 1000);
	}
	txt = slurp(feed_full);
	xasprintf(&cmd, "{\"seq\":%lld,",
	    count_in(db, "SELECT max(seq) FROM change"));
	assert_non_null(strstr(txt, cmd));
	assert_non_null(strstr(txt, "rec/7\""));
	free(cmd);
	free(txt);
	health_is(200, "ok");

	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
	full_pid = -1;
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	free(feed_full);
	free(moved);
	free(target);
	free(db);
	free(log);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sigkill_then_rotate),
		cmocka_unit_test_teardown(
		    test_disk_full_then_link, full_teardown),
	};

	return cmocka_run_group_tests_name("outbox", tests, setup, teardown);
}
