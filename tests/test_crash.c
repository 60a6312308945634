/*
 * Crash safety: kill the harvester with SIGKILL at random moments, at least
 * 20 times across one harvest of 10,000 records in 50 pages, restarting it
 * each time.  At the end the database equals the server's corpus, every
 * record has exactly one "new" change, no change is lost or doubled, and
 * PRAGMA integrity_check is ok.  Once per backend (BACKENDS): on a SQLite
 * file and on a database of a private PostgreSQL cluster.
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

#define RECORDS	  10000
#define PAGE	  200
#define MIN_KILLS 20

static struct server srv;

static int
setup(void **state)
{
	if (testlib_setup() == -1)
		return -1;
	/*
	 * 150 ms a page: 50 pages take 7.5 s however fast the harvester is,
	 * so that 20 kills land in the middle of it.
	 */
	start_server(&srv, "crash.port",
	    "--records 10000 --page-size 200 "
	    "--deleted-every 0 --delay-ms 150 --seed 3");
	return 0;
}

static int
teardown(void **state)
{
	stop_server(&srv);
	pg_stop();
	testlib_teardown();
	return 0;
}

/*
 * Is the list complete (a watermark and no checkpoint)?  Not before the
 * harvester made the schema.
 */
static int
harvest_complete(const char *db)
{
	if (!tdb_table(db, "list_state"))
		return 0;
	return tdb_int(db,
		   "SELECT count(*) FROM list_state WHERE "
		   "watermark IS NOT NULL AND token IS NULL") > 0;
}

static void
test_sigkill_many_times(void **state)
{
	sqlite3	    *s;
	char	    *db, *cmd, *exp, *dump, *ch, *err;
	pid_t	     pid;
	unsigned int seed = 20261122;
	int	     kills = 0, tries = 0, rc;

	db = tdb_new(state, "crash.db");
	while (kills < MIN_KILLS && tries < 200) {
		tries++;
		if (harvest_complete(db))
			break;
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			xasprintf(&cmd,
			    "exec %s/oaiharvest harvest --db %s "
			    "--url http://127.0.0.1:%d/oai --source crash "
			    "2>/dev/null",
			    bindir, db, srv.port);
			execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
			_exit(127);
		}
		/* Somewhere between start-up and a few pages in. */
		usleep((useconds_t)(80 + rand_r(&seed) % 400) * 1000);
		if (waitpid(pid, NULL, WNOHANG) == pid)
			continue;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		/* A kill after the last commit interrupted nothing. */
		if (!harvest_complete(db))
			kills++;
	}
	if (kills < MIN_KILLS)
		fail_msg("only %d kills before the harvest completed", kills);

	rc = run("cr.out", "cr.err",
	    "%s/oaiharvest harvest --db %s --url "
	    "http://127.0.0.1:%d/oai --source crash",
	    bindir, db, srv.port);
	err = read_tmp("cr.err");
	if (rc != 0)
		fail_msg("final harvest failed: %s", err);
	free(err);
	assert_true(harvest_complete(db));

	/* The database equals the corpus, field by field. */
	assert_int_equal(run("ce.out", "ce.err",
			     "%s/oaiharvest export --db "
			     "%s",
			     bindir, db),
	    0);
	exp = read_tmp("ce.out");
	dump = http(&srv, 0, "/control/dump");
	compare_export_dump(exp, dump, "crash");
	free(exp);
	free(dump);

	/* One "new" per record; nothing lost, nothing doubled. */
	assert_int_equal(run("cc.out", "cc.err",
			     "%s/oaiharvest changes --db "
			     "%s",
			     bindir, db),
	    0);
	ch = read_tmp("cc.out");
	assert_int_equal(sqlite3_open(":memory:", &s), SQLITE_OK);
	load_jsonl(s, "c", ch);
	free(ch);
	assert_int_equal(q_int(s, "SELECT count(*) FROM c"), RECORDS);
	assert_int_equal(q_int(s,
			     "SELECT count(DISTINCT j->>'identifier') "
			     "FROM c WHERE j->>'kind' = 'new'"),
	    RECORDS);
	assert_int_equal(q_int(s, "SELECT min(j->>'seq') FROM c"), 1);
	assert_int_equal(q_int(s, "SELECT max(j->>'seq') FROM c"), RECORDS);
	sqlite3_close(s);

	if (!((const struct tbackend *)*state)->pg)
		assert_int_equal(tdb_int(db,
				     "SELECT count(*) FROM "
				     "pragma_integrity_check "
				     "WHERE integrity_check = 'ok'"),
		    1);
	assert_int_equal(tdb_int(db, "SELECT count(*) FROM record"), RECORDS);
	/* Runs interrupted by SIGKILL stay 'running': nobody ended them. */
	assert_true(
	    tdb_int(db, "SELECT count(*) FROM run WHERE status = 'ok'") >= 1);
	print_message("crash (%s): %d SIGKILLs in %d starts\n",
	    ((const struct tbackend *)*state)->name, kills, tries);
	free(db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		BACKENDS(test_sigkill_many_times),
	};

	return cmocka_run_group_tests_name("crash", tests, setup, teardown);
}
