/*
 * Helpers shared by the integration tests: start and stop the test server,
 * run the programs, talk HTTP with libcurl, and compare JSON Lines with
 * SQLite's JSON functions.  All traffic goes to 127.0.0.1.
 */
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <sqlite3.h>

#include "testlib.h"
#include "util.h"

char tmpdir[] = "/tmp/oaiharvest-it-XXXXXX";
char bindir[512];

char *
path(const char *name)
{
	char *p;

	xasprintf(&p, "%s/%s", tmpdir, name);
	return p;
}

char *
slurp(const char *file)
{
	FILE	  *f;
	struct buf b;
	char	   chunk[8192];
	size_t	   n;

	buf_init(&b, 512UL * 1024 * 1024);
	if ((f = fopen(file, "r")) == NULL)
		return xstrdup("");
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		assert_int_equal(buf_add(&b, chunk, n), 0);
	fclose(f);
	return b.data != NULL ? b.data : xstrdup("");
}

void
start_server(struct server *s, const char *name, const char *args)
{
	char *portfile, *cmd, *txt;
	int   i;

	portfile = path(name);
	unlink(portfile);
	s->pid = fork();
	assert_true(s->pid >= 0);
	if (s->pid == 0) {
		xasprintf(&cmd,
		    "exec %s/oaiserver --port 0 --port-file %s %s "
		    ">/dev/null 2>>%s/servers.log",
		    bindir, portfile, args, tmpdir);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	/* Bounded wait for the port file. */
	for (i = 0; i < 200; i++) {
		txt = slurp(portfile);
		s->port = atoi(txt);
		free(txt);
		if (s->port > 0)
			break;
		usleep(50 * 1000);
	}
	free(portfile);
	assert_true(s->port > 0);
}

void
stop_server(struct server *s)
{
	int status;

	if (s->pid <= 0)
		return;
	kill(s->pid, SIGTERM);
	assert_int_equal(waitpid(s->pid, &status, 0), s->pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	s->pid = 0;
}

/* Run a shell command with stdout and stderr into files; its exit code. */
int
run(const char *out, const char *err, const char *fmt, ...)
{
	va_list ap;
	char   *cmd, *full, *o, *e;
	int	st;

	va_start(ap, fmt);
	xvasprintf(&cmd, fmt, ap);
	va_end(ap);
	o = path(out);
	e = path(err);
	xasprintf(&full, "%s >%s 2>%s", cmd, o, e);
	st = system(full);
	free(cmd);
	free(full);
	free(o);
	free(e);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

char *
read_tmp(const char *name)
{
	char *p, *s;

	p = path(name);
	s = slurp(p);
	free(p);
	return s;
}

static size_t
write_cb(char *p, size_t size, size_t n, void *arg)
{
	return buf_add(arg, p, size * n) == 0 ? size * n : 0;
}

/* A request to the test server; returns the body, asserts status 200. */
char *
http(const struct server *s, int post, const char *pathq)
{
	CURL	  *c;
	struct buf b;
	char	  *url;
	long	   status = 0;

	buf_init(&b, 512UL * 1024 * 1024);
	xasprintf(&url, "http://127.0.0.1:%d%s", s->port, pathq);
	c = curl_easy_init();
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	if (post)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	assert_int_equal(status, 200);
	curl_easy_cleanup(c);
	free(url);
	return b.data != NULL ? b.data : xstrdup("");
}

void
save(const char *name, const char *text)
{
	char *p;
	FILE *f;

	p = path(name);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	free(p);
}

/*
 * Load JSON Lines into a table of an in-memory SQLite database, one line a
 * row, checking that every line is valid JSON.
 */
void
load_jsonl(sqlite3 *db, const char *table, const char *text)
{
	sqlite3_stmt *st;
	char	     *sql;
	const char   *p, *nl;

	xasprintf(&sql, "CREATE TABLE %s(j TEXT CHECK(json_valid(j)))", table);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	free(sql);
	xasprintf(&sql, "INSERT INTO %s VALUES(?)", table);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	free(sql);
	for (p = text; *p != '\0'; p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL)
			nl = p + strlen(p);
		if (nl > p) {
			sqlite3_bind_text(
			    st, 1, p, (int)(nl - p), SQLITE_TRANSIENT);
			assert_int_equal(sqlite3_step(st), SQLITE_DONE);
			sqlite3_reset(st);
		}
		if (*nl == '\0')
			break;
	}
	sqlite3_finalize(st);
}

long long
q_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	long long     v;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/*
 * Field by field: identifiers, datestamps, deleted flags, sets in order and
 * every DC value in order must agree between the export (prefix oai_dc of
 * source src) and the dump; metadata must be present exactly for the
 * records that are not deleted and carry each DC title.
 */
void
compare_export_dump(const char *exp, const char *dump, const char *src)
{
	sqlite3 *db;
	char	*sql;

	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	load_jsonl(db, "e", exp);
	load_jsonl(db, "d", dump);
	xasprintf(&sql,
	    "CREATE VIEW ex AS SELECT j FROM e WHERE "
	    "j->>'source' = '%s' AND j->>'prefix' = 'oai_dc'",
	    src);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	free(sql);
	assert_true(q_int(db, "SELECT count(*) FROM d") > 0);
	assert_int_equal(q_int(db, "SELECT count(*) FROM ex"),
	    q_int(db, "SELECT count(*) FROM d"));
	/* Header fields. */
	assert_int_equal(
	    q_int(db,
		"SELECT count(*) FROM ("
		"SELECT j->>'identifier', j->>'datestamp', j->>'deleted', "
		"j->'sets' FROM ex EXCEPT SELECT j->>'identifier', "
		"j->>'datestamp', j->>'deleted', j->'sets' FROM d)"),
	    0);
	assert_int_equal(
	    q_int(db,
		"SELECT count(*) FROM ("
		"SELECT j->>'identifier', j->>'datestamp', j->>'deleted', "
		"j->'sets' FROM d EXCEPT SELECT j->>'identifier', "
		"j->>'datestamp', j->>'deleted', j->'sets' FROM ex)"),
	    0);
	/* Every DC value, element and position. */
	assert_true(q_int(db,
			"SELECT count(*) FROM d, json_each(d.j, '$.dc')"
			" AS el, json_each(el.value) AS v") > 1000);
#define DCROWS(t) \
	"SELECT t.j->>'identifier', el.key, v.key, v.value FROM " t \
	" AS t, json_each(t.j, '$.dc') AS el, json_each(el.value) AS v"
	assert_int_equal(q_int(db,
			     "SELECT count(*) FROM (" DCROWS(
				 "ex") " EXCEPT " DCROWS("d") ")"),
	    0);
	assert_int_equal(q_int(db,
			     "SELECT count(*) FROM (" DCROWS(
				 "d") " EXCEPT " DCROWS("ex") ")"),
	    0);
#undef DCROWS
	/* Metadata: only for live records, and it holds the title. */
	assert_int_equal(
	    q_int(db,
		"SELECT count(*) FROM ex WHERE "
		"(j->>'deleted') = (json_type(j, '$.metadata') IS NOT NULL)"),
	    0);
	assert_int_equal(q_int(db,
			     "SELECT count(*) FROM ex WHERE "
			     "j->>'deleted' = 0 AND (instr(j->>'metadata', "
			     "'http://purl.org/dc/elements/1.1/') = 0 OR "
			     "instr(j->>'metadata', '<dc:title') = 0)"),
	    0);
	sqlite3_close(db);
}

/* Set up the temporary directory and the binaries' location. */
int
testlib_setup(void)
{
	const char *b = getenv("OH_BUILD");

	snprintf(bindir, sizeof(bindir), "%s", b != NULL ? b : "build/asan");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return 0;
}

void
testlib_teardown(void)
{
	char *cmd;

	curl_global_cleanup();
	xasprintf(&cmd, "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	free(cmd);
}
