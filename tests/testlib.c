/*
 * Helpers shared by the integration tests: start and stop the test server,
 * run the programs, talk HTTP with libcurl, and compare JSON Lines with
 * SQLite's JSON functions; run a private PostgreSQL cluster.  All traffic
 * goes to 127.0.0.1.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
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
#include <libpq-fe.h>
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

/* Daemons of the multi-daemon tests */

pid_t
daemon_n_start(int n)
{
	pid_t pid;
	char *cmd;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		xasprintf(&cmd,
		    "exec %s/oaiharvestd -f -c %s/d%d.conf 2>%s/d%d.log",
		    bindir, tmpdir, n, tmpdir, n);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	return pid;
}

void
daemon_conf_sources(
    struct buf *b, const struct server *srv, int nhosts, int per_host)
{
	int h, k;

	for (h = 0; h < nhosts; h++)
		for (k = 0; k < per_host; k++)
			buf_printf(b,
			    "[source h%ds%d]\n"
			    "url = http://127.0.0.1:%d/oai/s%d\n"
			    "interval = 1h\n",
			    h, k, srv[h].port, k);
}

void
daemon_n_stop(pid_t *pid, int n)
{
	int64_t t0 = mono_ms();
	int	status;

	assert_int_equal(kill(*pid, SIGTERM), 0);
	while (mono_ms() - t0 < 15000) {
		if (waitpid(*pid, &status, WNOHANG) == *pid) {
			*pid = 0;
			assert_true(WIFEXITED(status));
			assert_int_equal(WEXITSTATUS(status), 0);
			return;
		}
		usleep(50 * 1000);
	}
	fail_msg("daemon %d did not stop within 15 s", n);
}

/* NATS */

int
tcp_port_open(int port)
{
	struct sockaddr_in sa;
	int		   fd, ok;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

pid_t
nats_server_start(int port, const char *dir, const char *auth)
{
	pid_t pid;
	char *cmd;
	int   i;

	if (tcp_port_open(port))
		fail_msg("port %d is taken", port);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		xasprintf(&cmd,
		    "PATH=$PATH:/usr/sbin:/usr/local/sbin exec nats-server "
		    "-js -a 127.0.0.1 -p %d -sd %s/%s %s >>%s/nats.log 2>&1",
		    port, tmpdir, dir, auth, tmpdir);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 200 && !tcp_port_open(port); i++)
		usleep(50 * 1000);
	if (!tcp_port_open(port)) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
		fail_msg("nats-server did not start on port %d (see "
			 "%s/nats.log)",
		    port, tmpdir);
	}
	return pid;
}

void
nats_server_stop(pid_t *pid, int port)
{
	int i;

	if (*pid <= 0)
		return;
	kill(*pid, SIGTERM);
	assert_int_equal(waitpid(*pid, NULL, 0), *pid);
	*pid = 0;
	for (i = 0; i < 100 && tcp_port_open(port); i++)
		usleep(50 * 1000);
}

/* PostgreSQL */

#define PG_BIN "/usr/lib/postgresql/15/bin"
/* The ports the tests' clusters may take (the range of this branch). */
#define PG_PORT_FIRST 18100
#define PG_PORT_LAST  18199
/* Bounds: ports tried, and waits of 100 ms for start and stop. */
#define PG_TRIES 5
#define PG_WAITS 300

static struct {
	pid_t pid;
	int   port;
	char  dir[64];
	char  uri[128];
	int   ndb;
} pg;

/*
 * In a child about to run a PostgreSQL program: as root, become nobody
 * (PostgreSQL refuses to run as root); stdout and stderr to log.
 */
static void
pg_child(const char *log)
{
	struct passwd *pw;
	struct group  *gr;
	gid_t	       gid;
	int	       fd;

	if ((fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644)) >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
	}
	if (geteuid() != 0)
		return;
	if ((pw = getpwnam("nobody")) == NULL)
		_exit(126);
	gid = (gr = getgrnam("nogroup")) != NULL ? gr->gr_gid : pw->pw_gid;
	if (setgroups(0, NULL) == -1 || setgid(gid) == -1 ||
	    setuid(pw->pw_uid) == -1)
		_exit(126);
}

/* Is 127.0.0.1:port free to listen on? */
static int
port_free(int port)
{
	struct sockaddr_in sin;
	int		   fd, ok, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return 0;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
	close(fd);
	return ok;
}

static void
pg_initdb(void)
{
	char  data[128], log[128];
	pid_t pid;
	int   status;

	snprintf(data, sizeof(data), "%s/data", pg.dir);
	snprintf(log, sizeof(log), "%s/initdb.log", pg.dir);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		pg_child(log);
		execl(PG_BIN "/initdb", "initdb", "-D", data, "-U",
		    "oaiharvest", "--auth=trust", "-E", "UTF8", "--locale=C",
		    "-N", (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char *txt = slurp(log);

		fail_msg("initdb failed (status %d): %s", status, txt);
	}
}

/* Start postgres on port; 0 once it answers, -1 if it died. */
static int
pg_run(int port)
{
	char  data[128], log[128], portarg[16], sock[96];
	int   i, status;
	pid_t pid;

	snprintf(data, sizeof(data), "%s/data", pg.dir);
	snprintf(log, sizeof(log), "%s/postgres.log", pg.dir);
	snprintf(portarg, sizeof(portarg), "%d", port);
	snprintf(sock, sizeof(sock), "unix_socket_directories=%s", pg.dir);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		pg_child(log);
		execl(PG_BIN "/postgres", "postgres", "-D", data, "-p", portarg,
		    "-c", "listen_addresses=127.0.0.1", "-c", sock, "-c",
		    "fsync=off", "-c", "synchronous_commit=off", "-c",
		    "full_page_writes=off", "-c", "max_connections=40",
		    (char *)NULL);
		_exit(127);
	}
	pg.pid = pid;
	pg.port = port;
	snprintf(pg.uri, sizeof(pg.uri),
	    "postgresql://oaiharvest@127.0.0.1:%d/postgres", port);
	for (i = 0; i < PG_WAITS; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			pg.pid = 0;
			return -1;
		}
		if (PQping(pg.uri) == PQPING_OK)
			return 0;
		usleep(100 * 1000);
	}
	return -1;
}

const char *
pg_start(void)
{
	struct passwd *pw;
	int	       port, tries = 0, n;

	if (pg.pid > 0)
		return pg.uri;
	snprintf(pg.dir, sizeof(pg.dir), "/tmp/oaiharvest-pg-XXXXXX");
	if (mkdtemp(pg.dir) == NULL)
		fail_msg("pg_start: mkdtemp: %s", strerror(errno));
	if (geteuid() == 0) {
		if ((pw = getpwnam("nobody")) == NULL)
			fail_msg("pg_start: no user nobody to run PostgreSQL");
		if (chown(pg.dir, pw->pw_uid, pw->pw_gid) == -1)
			fail_msg("pg_start: chown: %s", strerror(errno));
	}
	pg_initdb();
	/* From a port of our own range picked by pid, the next free ones. */
	n = PG_PORT_LAST - PG_PORT_FIRST + 1;
	for (port = PG_PORT_FIRST + getpid() % n; tries < PG_TRIES && n-- > 0;
	     port = port == PG_PORT_LAST ? PG_PORT_FIRST : port + 1) {
		if (!port_free(port))
			continue;
		tries++;
		if (pg_run(port) == 0)
			return pg.uri;
		pg_stop();
		/* pg_stop() removed it all: start again from initdb. */
		if (mkdtemp(strcpy(pg.dir, "/tmp/oaiharvest-pg-XXXXXX")) ==
		    NULL)
			fail_msg("pg_start: mkdtemp: %s", strerror(errno));
		if (geteuid() == 0 && (pw = getpwnam("nobody")) != NULL &&
		    chown(pg.dir, pw->pw_uid, pw->pw_gid) == -1)
			fail_msg("pg_start: chown: %s", strerror(errno));
		pg_initdb();
	}
	fail_msg("pg_start: PostgreSQL did not start on 127.0.0.1 "
		 "(ports %d-%d)",
	    PG_PORT_FIRST, PG_PORT_LAST);
	return NULL;
}

char *
pg_database(void)
{
	PGconn	 *c;
	PGresult *r;
	char	  sql[64], *uri;

	assert_true(pg.pid > 0);
	c = PQconnectdb(pg.uri);
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("pg_database: %s", PQerrorMessage(c));
	/* A name of ours, not a value: CREATE DATABASE takes no parameter. */
	snprintf(sql, sizeof(sql), "CREATE DATABASE oh_t%d", ++pg.ndb);
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		fail_msg("pg_database: %s", PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
	xasprintf(&uri, "postgresql://oaiharvest@127.0.0.1:%d/oh_t%d", pg.port,
	    pg.ndb);
	return uri;
}

void
pg_stop(void)
{
	char *cmd;
	int   i, status;

	if (pg.pid > 0) {
		/* SIGINT: fast shutdown, clients disconnected. */
		kill(pg.pid, SIGINT);
		for (i = 0; i < PG_WAITS; i++) {
			if (waitpid(pg.pid, &status, WNOHANG) == pg.pid)
				break;
			usleep(100 * 1000);
		}
		if (i == PG_WAITS) {
			kill(pg.pid, SIGKILL);
			waitpid(pg.pid, &status, 0);
		}
		pg.pid = 0;
	}
	if (pg.dir[0] != '\0') {
		xasprintf(&cmd, "rm -rf %s", pg.dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", pg.dir);
		free(cmd);
		pg.dir[0] = '\0';
	}
}

/* Both backends */

const struct tbackend tbackends[2] = {
	{ "sqlite", 0 },
	{ "postgresql", 1 },
};

char *
tdb_new(void **state, const char *name)
{
	const struct tbackend *be = *state;

	if (be == NULL || !be->pg)
		return path(name);
	pg_start();
	return pg_database();
}

static int
is_pg(const char *db)
{
	return strncmp(db, "postgresql://", 13) == 0;
}

/* The first column of the first row, as text (allocated), or NULL. */
char *
tdb_text(const char *db, const char *sql)
{
	sqlite3	     *s;
	sqlite3_stmt *st;
	PGconn	     *c;
	PGresult     *r;
	char	     *v = NULL;

	if (is_pg(db)) {
		c = PQconnectdb(db);
		if (PQstatus(c) != CONNECTION_OK)
			fail_msg("%s: %s", sql, PQerrorMessage(c));
		r = PQexec(c, sql);
		if (PQresultStatus(r) != PGRES_TUPLES_OK)
			fail_msg("%s: %s", sql, PQerrorMessage(c));
		if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
			v = xstrdup(PQgetvalue(r, 0, 0));
		PQclear(r);
		PQfinish(c);
		return v;
	}
	if (access(db, F_OK) != 0)
		return NULL;
	if (sqlite3_open_v2(db, &s, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		fail_msg("%s: %s", db, sqlite3_errmsg(s));
	sqlite3_busy_timeout(s, 5000);
	if (sqlite3_prepare_v2(s, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(s));
	if (sqlite3_step(st) == SQLITE_ROW &&
	    sqlite3_column_type(st, 0) != SQLITE_NULL)
		v = xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(s);
	return v;
}

long long
tdb_int(const char *db, const char *sql)
{
	char	 *v;
	long long n;

	if ((v = tdb_text(db, sql)) == NULL)
		return -1;
	n = strtoll(v, NULL, 10);
	free(v);
	return n;
}

long long
tdb_intf(const char *db, const char *fmt, ...)
{
	va_list	  ap;
	char	 *sql;
	long long n;

	va_start(ap, fmt);
	xvasprintf(&sql, fmt, ap);
	va_end(ap);
	n = tdb_int(db, sql);
	free(sql);
	return n;
}

size_t
count_str(const char *s, const char *what)
{
	size_t n = 0, len = strlen(what);

	while ((s = strstr(s, what)) != NULL) {
		n++;
		s += len;
	}
	return n;
}

void
tdb_exec(const char *db, const char *sql)
{
	sqlite3	 *s;
	PGconn	 *c;
	PGresult *r;
	char	 *err = NULL;

	if (is_pg(db)) {
		c = PQconnectdb(db);
		if (PQstatus(c) != CONNECTION_OK)
			fail_msg("%s: %s", sql, PQerrorMessage(c));
		r = PQexec(c, sql);
		if (PQresultStatus(r) != PGRES_COMMAND_OK &&
		    PQresultStatus(r) != PGRES_TUPLES_OK)
			fail_msg("%s: %s", sql, PQerrorMessage(c));
		PQclear(r);
		PQfinish(c);
		return;
	}
	if (sqlite3_open(db, &s) != SQLITE_OK)
		fail_msg("%s: %s", db, sqlite3_errmsg(s));
	sqlite3_busy_timeout(s, 5000);
	if (sqlite3_exec(s, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err);
	sqlite3_close(s);
}

int
tdb_table(const char *db, const char *table)
{
	char *sql;
	int   n;

	/* A name of ours, not a value. */
	xasprintf(&sql,
	    is_pg(db) ? "SELECT count(*) FROM information_schema.tables"
			" WHERE table_name = '%s'" :
			"SELECT count(*) FROM sqlite_master"
			" WHERE type = 'table' AND name = '%s'",
	    table);
	n = tdb_int(db, sql) > 0;
	free(sql);
	return n;
}

/* A poll's read: no failure, -1 when the number is not there (yet). */
long long
tdb_poll_int(const char *db, const char *sql)
{
	sqlite3	     *s;
	sqlite3_stmt *st;
	PGconn	     *c;
	PGresult     *r;
	long long     v = -1;

	if (is_pg(db)) {
		c = PQconnectdb(db);
		if (PQstatus(c) == CONNECTION_OK) {
			r = PQexec(c, sql);
			if (PQresultStatus(r) == PGRES_TUPLES_OK &&
			    PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
				v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
			PQclear(r);
		}
		PQfinish(c);
		return v;
	}
	if (sqlite3_open_v2(db, &s, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		sqlite3_close(s);
		return -1;
	}
	sqlite3_busy_timeout(s, 5000);
	if (sqlite3_prepare_v2(s, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW &&
	    sqlite3_column_type(st, 0) != SQLITE_NULL)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(s);
	return v;
}

long long
tdb_wait_int(const char *db, const char *sql, long long want, int ms)
{
	int64_t	  t0 = mono_ms();
	long long v;

	while ((v = tdb_poll_int(db, sql)) != want && mono_ms() - t0 < ms)
		usleep(50 * 1000);
	return v;
}

long long
tdb_sources_done(const char *db, int nrecords)
{
	char	 *q;
	long long n;

	xasprintf(&q,
	    "SELECT count(*) FROM source s WHERE"
	    " (SELECT count(*) FROM record r WHERE r.source_id = s.id"
	    "  AND r.deleted = 0) = %d AND EXISTS (SELECT 1 FROM run"
	    "  WHERE source_id = s.id AND status = 'ok')",
	    nrecords);
	n = tdb_poll_int(db, q);
	free(q);
	return n;
}

void
daemons_kill(pid_t *pids, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (pids[i] > 0) {
			kill(pids[i], SIGCONT);
			kill(pids[i], SIGKILL);
			waitpid(pids[i], NULL, 0);
			pids[i] = 0;
		}
}

void
testlib_keep(const char *env)
{
	char *cmd;

	if (getenv(env) == NULL)
		return;
	xasprintf(&cmd, "mkdir -p %s && cp -r %s/. %s/", getenv(env), tmpdir,
	    getenv(env));
	if (system(cmd) != 0)
		fprintf(stderr, "could not keep %s\n", tmpdir);
	free(cmd);
}
