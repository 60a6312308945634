/*
 * The change feed file (changes_log): the daemon is killed with SIGKILL in
 * the middle of harvests, again and again, and restarted; at the end the
 * file holds every change of the change table exactly once, in seq order.
 * Then the file is rotated (moved away, SIGHUP) and new changes go to the
 * new file only.
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
#include <sqlite3.h>

#include "testlib.h"

static struct server	 srv;
static char		*conf_file, *db_file, *feed, *log_file;

static pid_t
start_daemon(void)
{
	pid_t	 pid;
	char	*cmd;

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
	char	*c;

	if (testlib_setup() == -1)
		return -1;
	start_server(&srv, "o.port", "--records 3000 --page-size 25 "
	    "--deleted-every 0 --delay-ms 20");
	conf_file = path("o.conf");
	db_file = path("o.db");
	feed = path("changes.jsonl");
	log_file = path("o.log");
	xasprintf(&c, "[global]\ndatabase = %s\nchanges_log = %s\n"
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
	assert_int_equal(run("t.out", "t.err", "%s/oaiharvest changes --db "
	    "%s", bindir, db_file), 0);
	return read_tmp("t.out");
}

static long long
db_count(const char *sql)
{
	sqlite3		*s;
	long long	 v;

	if (access(db_file, F_OK) != 0)
		return 0;
	assert_int_equal(sqlite3_open_v2(db_file, &s, SQLITE_OPEN_READONLY,
	    NULL), SQLITE_OK);
	sqlite3_busy_timeout(s, 5000);
	v = sqlite3_exec(s, "SELECT 1 FROM change", NULL, NULL, NULL) ==
	    SQLITE_OK ? q_int(s, sql) : 0;
	sqlite3_close(s);
	return v;
}

static void
test_sigkill_then_rotate(void **state)
{
	sqlite3		*s;
	char		*file, *table, *old, *moved, *c;
	unsigned int	 seed = 7;
	pid_t		 pid;
	int		 i, status, kills = 0;

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
	for (i = 0; i < 600 && db_count("SELECT count(*) FROM change") <
	    3000; i++)
		usleep(100 * 1000);
	assert_int_equal(db_count("SELECT count(*) FROM change"), 3000);
	usleep(500 * 1000);

	file = slurp(feed);
	table = table_changes();
	/* Exactly the table, line for line. */
	assert_string_equal(file, table);
	assert_int_equal(sqlite3_open(":memory:", &s), SQLITE_OK);
	load_jsonl(s, "f", file);
	assert_int_equal(q_int(s, "SELECT count(DISTINCT j->>'seq') FROM f"),
	    3000);
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
	for (i = 0; i < 300 && db_count("SELECT count(*) FROM change") <
	    3001; i++)
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sigkill_then_rotate),
	};

	return cmocka_run_group_tests_name("outbox", tests, setup, teardown);
}
