/*
 * What make install puts on a system for the daemon (issue 16, item 9):
 * the unit runs as the static user and group oaiharvest, checks the config
 * before it starts and before a reload, and its group can read the database
 * and the change feed; sysusers.d, tmpfiles.d and logrotate agree with the
 * unit and the shipped config.  And that the group really can read: a
 * database harvested the daemon's way (umask 0027, directory 0750), read by
 * an unprivileged user of its group with the real CLI, with no harvester
 * running.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "util.h"

#include "testlib.h"

static int
setup(void **state)
{
	return testlib_setup();
}

static int
teardown(void **state)
{
	testlib_teardown();
	return 0;
}

/* The value of the first line of text starting with key, or NULL. */
static char *
line_value(const char *text, const char *key)
{
	const char *p = text, *e;
	size_t	    n = strlen(key);

	for (; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p ? p + 1 : p)
		if (strncmp(p, key, n) == 0) {
			e = strchr(p + n, '\n');
			return xstrndup(
			    p + n, e ? (size_t)(e - p - n) : strlen(p + n));
		}
	return NULL;
}

static void
test_unit_and_its_files(void **state)
{
	char *unit, *users, *tmpf, *rot, *conf, *v, *log, *dry;
	char *pre, *reload, *kill;

	unit = slurp("systemd/oaiharvestd.service");
	users = slurp("systemd/oaiharvest.sysusers");
	tmpf = slurp("systemd/oaiharvest.tmpfiles");
	rot = slurp("systemd/oaiharvest.logrotate");
	conf = slurp("conf/oaiharvest.conf");

	/* A static user and group, readable by the group. */
	assert_null(strstr(unit, "\nDynamicUser=yes"));
	v = line_value(unit, "User=");
	assert_string_equal(v, "oaiharvest");
	free(v);
	v = line_value(unit, "Group=");
	assert_string_equal(v, "oaiharvest");
	free(v);
	v = line_value(unit, "UMask=");
	assert_string_equal(v, "0027");
	free(v);
	v = line_value(unit, "StateDirectoryMode=");
	assert_string_equal(v, "0750");
	free(v);
	assert_non_null(strstr(users, "\ng oaiharvest -\n"));
	assert_non_null(strstr(users, "\nu oaiharvest -:oaiharvest "));
	assert_non_null(strstr(
	    tmpf, "\nd /var/lib/oaiharvest 0750 oaiharvest oaiharvest -\n"));

	/* The config is checked before start and before the reload's HUP. */
	pre = strstr(unit, "\nExecStartPre=");
	assert_non_null(pre);
	v = line_value(pre + 1, "ExecStartPre=");
	assert_non_null(strstr(v, "oaiharvestd -t -c "));
	free(v);
	reload = strstr(unit, "\nExecReload=");
	kill = strstr(unit, "\nExecReload=/bin/kill -HUP $MAINPID");
	assert_non_null(reload);
	assert_non_null(kill);
	assert_true(reload < kill);
	v = line_value(reload + 1, "ExecReload=");
	assert_non_null(strstr(v, "oaiharvestd -t -c "));
	free(v);

	/* logrotate rotates the shipped config's changes_log path. */
	v = line_value(conf, ";changes_log = ");
	assert_non_null(v);
	xasprintf(&log, "\n%s {\n", v);
	assert_non_null(strstr(rot, log));
	assert_non_null(strstr(rot, "\tcreate 0640 oaiharvest oaiharvest\n"));
	free(log);
	free(v);

	/* make install installs all three. */
	assert_int_equal(
	    run("dry.out", "dry.err",
		"make -n install DESTDIR=/nonexistent PREFIX=/usr"),
	    0);
	dry = read_tmp("dry.out");
	assert_non_null(strstr(dry, "systemd/oaiharvest.sysusers"));
	assert_non_null(
	    strstr(dry, "/nonexistent/usr/lib/sysusers.d/oaiharvest.conf"));
	assert_non_null(
	    strstr(dry, "/nonexistent/usr/lib/tmpfiles.d/oaiharvest.conf"));
	assert_non_null(strstr(dry, "/nonexistent/etc/logrotate.d/oaiharvest"));

	free(dry);
	free(unit);
	free(users);
	free(tmpf);
	free(rot);
	free(conf);
}

static void
test_group_reads_database(void **state)
{
	struct server srv;
	struct stat   sb;
	char	      dir[] = "/tmp/oaiharvest-group-XXXXXX";
	char	     *db, *wal, *shm, *out;
	int	      rc;

	/* Not under tmpdir: that one is 0700, and nobody must get in. */
	assert_non_null(mkdtemp(dir));
	assert_int_equal(chmod(dir, 0750), 0);
	xasprintf(&db, "%s/h.db", dir);
	xasprintf(&wal, "%s-wal", db);
	xasprintf(&shm, "%s-shm", db);

	start_server(&srv, "port.group", "--records 40 --page-size 10");
	assert_int_equal(
	    run("h.out", "h.err",
		"umask 0027 && "
		"%s/oaiharvest harvest --db %s --url http://127.0.0.1:%d/oai",
		bindir, db, srv.port),
	    0);
	stop_server(&srv);

	/*
	 * The harvester has exited: the -wal and -shm files stay (a reader
	 * that may not write the directory needs them), group-readable.
	 */
	assert_int_equal(stat(wal, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0640);
	assert_int_equal(stat(shm, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0640);

	/*
	 * A user who is only in the file's group reads it with the CLI.
	 * Root can give the files to nobody's group and become nobody;
	 * anyone else has checked what makes it possible, above.
	 */
	if (geteuid() == 0) {
		assert_int_equal(
		    run("c.out", "c.err",
			"chgrp -R nogroup %s && setpriv --reuid=nobody "
			"--regid=nogroup --clear-groups %s/oaiharvest changes "
			"--db %s",
			dir, bindir, db),
		    0);
		out = read_tmp("c.out");
		assert_non_null(strstr(out, "\"seq\":1,"));
		free(out);
		rc = run("e.out", "e.err",
		    "setpriv --reuid=nobody "
		    "--regid=nogroup --clear-groups %s/oaiharvest export "
		    "--db %s | wc -l",
		    bindir, db);
		assert_int_equal(rc, 0);
		out = read_tmp("e.out");
		assert_int_equal(atoi(out), 40);
		free(out);
		/* And cannot write it. */
		assert_int_not_equal(
		    run("w.out", "w.err",
			"setpriv "
			"--reuid=nobody --regid=nogroup --clear-groups "
			"%s/oaiharvest harvest --db %s --url "
			"http://127.0.0.1:1/x",
			bindir, db),
		    0);
	}

	assert_int_equal(run("rm.out", "rm.err", "rm -rf %s", dir), 0);
	free(db);
	free(wal);
	free(shm);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unit_and_its_files),
		cmocka_unit_test(test_group_reads_database),
	};

	return cmocka_run_group_tests_name("install", tests, setup, teardown);
}
