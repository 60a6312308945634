/*
 * The change feed on NATS JetStream (changes_nats, feed/nats.c), against a
 * real nats-server -js started here on a free loopback port (a server that
 * cannot be started fails the test) and the real daemon harvesting the
 * test OAI-PMH server.  A consumer here reads the stream back, message by
 * message (libnats, the stream's direct reads), and checks that it holds
 * every change of the database once, in seq order, each with its seq as
 * Nats-Msg-Id, on oaiharvest.changes.<source>, its body the change's line:
 * - across restarts: the daemon stopped with SIGKILL and SIGTERM in the
 *   middle of harvests, and its cursor set back (so that changes already
 *   in the stream go out again: the duplicate window drops them);
 * - with the cursor set back after the duplicate window has passed (a
 *   stream of 1 s): the relay reads the stream's last message and sends
 *   nothing twice;
 * - with the server down at the start: /healthz and /metrics say so, and
 *   once the server is up the changes arrive.
 * - turned on by a reload, with a subject prefix of its own.
 * The server wants a user and a password, given in the URL: they are never
 * in the daemon's log, /healthz or /status.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <arpa/inet.h>
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
#include <nats/nats.h>
#include <sqlite3.h>

#include "testlib.h"

#define NATS_USER   "oh"
#define NATS_PASS   "Pw-s3cret-91"
#define STREAM	    "OAIHARVEST_CHANGES"
#define SUBJECT_PFX "oaiharvest.changes."

static struct server srv;
static pid_t	     nats_pid, daemon_pid;
static int	     nats_port, sport;
static const char   *nats_store = "js";

/* A port nobody listens on now. */
static int
free_port(void)
{
	struct sockaddr_in sa;
	socklen_t	   len = sizeof(sa);
	int		   fd, port;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* nats-server -js on nats_port, its store in tmpdir; bounded wait. */
static void
nats_start(void)
{
	assert_true(nats_pid == 0);
	nats_pid = nats_server_start(
	    nats_port, nats_store, "--user " NATS_USER " --pass " NATS_PASS);
}

static void
nats_stop(void)
{
	nats_server_stop(&nats_pid, nats_port);
}

static void
write_conf(const char *name, const char *db, const char *source)
{
	char *c;

	xasprintf(&c,
	    "[global]\ndatabase = %s\n"
	    "changes_nats = nats://%s:%s@127.0.0.1:%d\n"
	    "delay = 0s\nstatus_listen = 127.0.0.1:0\n\n"
	    "[source %s]\nurl = http://127.0.0.1:%d/oai\ninterval = 1s\n",
	    db, NATS_USER, NATS_PASS, nats_port, source, srv.port);
	save(name, c);
	free(c);
}

/* The daemon with conf, its log appended to log; its status port. */
static void
daemon_start(const char *conf, const char *log)
{
	char *cmd, *txt, *p, *mark;
	int   i;
	long  at;

	/* One left by a failed assertion goes first. */
	if (daemon_pid > 0) {
		kill(daemon_pid, SIGKILL);
		waitpid(daemon_pid, NULL, 0);
		daemon_pid = 0;
	}
	txt = slurp(log);
	at = (long)strlen(txt);
	free(txt);
	daemon_pid = fork();
	assert_true(daemon_pid >= 0);
	if (daemon_pid == 0) {
		xasprintf(
		    &cmd, "exec %s/oaiharvestd -c %s 2>>%s", bindir, conf, log);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	for (i = 0, sport = 0; i < 200 && sport == 0; i++) {
		usleep(50 * 1000);
		txt = slurp(log);
		mark = (long)strlen(txt) > at ? txt + at : txt + strlen(txt);
		if ((p = strstr(mark, "event=status_listen")) != NULL &&
		    (p = strstr(p, "port=")) != NULL)
			sport = atoi(p + 5);
		free(txt);
	}
	assert_true(sport > 0);
}

static void
daemon_stop(int sig)
{
	int status;

	assert_int_equal(kill(daemon_pid, sig), 0);
	assert_int_equal(waitpid(daemon_pid, &status, 0), daemon_pid);
	if (sig == SIGTERM)
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	daemon_pid = 0;
}

static long long
db_int(const char *db, const char *sql)
{
	sqlite3	 *s;
	long long v;

	if (access(db, F_OK) != 0)
		return 0;
	assert_int_equal(
	    sqlite3_open_v2(db, &s, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_busy_timeout(s, 5000);
	v = sqlite3_exec(s, "SELECT 1 FROM change, outbox", NULL, NULL, NULL) ==
		SQLITE_OK ?
	    q_int(s, sql) :
	    0;
	sqlite3_close(s);
	return v;
}

static void
db_exec(const char *db, const char *sql)
{
	sqlite3 *s;

	assert_int_equal(sqlite3_open(db, &s), SQLITE_OK);
	sqlite3_busy_timeout(s, 5000);
	assert_int_equal(sqlite3_exec(s, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(s);
}

/* Bounded: until the database holds want changes, all relayed. */
static void
wait_relayed(const char *db, long long want, int secs)
{
	int i;

	for (i = 0; i < secs * 10; i++) {
		if (db_int(db, "SELECT count(*) FROM change") >= want &&
		    db_int(db,
			"SELECT (SELECT seq FROM outbox WHERE name = 'nats') "
			"= (SELECT max(seq) FROM change)") == 1)
			return;
		usleep(100 * 1000);
	}
	fail_msg("after %d s: %lld changes, nats cursor at %lld", secs,
	    db_int(db, "SELECT count(*) FROM change"),
	    db_int(db, "SELECT seq FROM outbox WHERE name = 'nats'"));
}

static char *
table_changes(const char *db)
{
	assert_int_equal(
	    run("t.out", "t.err", "%s/oaiharvest changes --db %s", bindir, db),
	    0);
	return read_tmp("t.out");
}

/*
 * The consumer: every message of the stream, in the stream's order, as
 * JSON lines; each one's Nats-Msg-Id its seq, rising, and its subject
 * SUBJECT_PFX token.
 */
static char *
stream_read_from(
    const char *stream, const char *prefix, const char *token, long long *n)
{
	natsConnection *nc = NULL;
	natsOptions    *opts = NULL;
	jsCtx	       *js = NULL;
	jsStreamInfo   *si = NULL;
	natsMsg	       *m;
	jsErrCode	jerr = 0;
	struct buf	b;
	const char     *id, *data;
	char	       *url, *want_subj, head[64];
	long long	prev = 0, seq;
	uint64_t	i;

	buf_init(&b, 256UL * 1024 * 1024);
	xasprintf(
	    &url, "nats://%s:%s@127.0.0.1:%d", NATS_USER, NATS_PASS, nats_port);
	xasprintf(&want_subj, "%s%s", prefix, token);
	assert_int_equal(natsOptions_Create(&opts), NATS_OK);
	assert_int_equal(natsOptions_SetURL(opts, url), NATS_OK);
	assert_int_equal(natsOptions_SetTimeout(opts, 5000), NATS_OK);
	assert_int_equal(natsConnection_Connect(&nc, opts), NATS_OK);
	assert_int_equal(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
	assert_int_equal(
	    js_GetStreamInfo(&si, js, stream, NULL, &jerr), NATS_OK);
	*n = (long long)si->State.Msgs;
	for (i = si->State.FirstSeq; i <= si->State.LastSeq && *n > 0; i++) {
		m = NULL;
		assert_int_equal(
		    js_GetMsg(&m, js, stream, i, NULL, &jerr), NATS_OK);
		id = NULL;
		assert_int_equal(
		    natsMsgHeader_Get(m, "Nats-Msg-Id", &id), NATS_OK);
		seq = strtoll(id, NULL, 10);
		if (seq <= prev)
			fail_msg("stream message %llu: seq %lld after %lld",
			    (unsigned long long)i, seq, prev);
		prev = seq;
		assert_string_equal(natsMsg_GetSubject(m), want_subj);
		data = natsMsg_GetData(m);
		snprintf(head, sizeof(head), "{\"seq\":%lld,", seq);
		assert_true(strncmp(data, head, strlen(head)) == 0);
		assert_int_equal(
		    buf_add(&b, data, (size_t)natsMsg_GetDataLength(m)), 0);
		assert_int_equal(buf_add(&b, "\n", 1), 0);
		natsMsg_Destroy(m);
	}
	jsStreamInfo_Destroy(si);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	natsOptions_Destroy(opts);
	free(url);
	free(want_subj);
	return b.data != NULL ? b.data : xstrdup("");
}

static char *
stream_read(const char *token, long long *n)
{
	return stream_read_from(STREAM, SUBJECT_PFX, token, n);
}

/* The stream is the change table: each change once, in seq order. */
static void
stream_is_table(const char *db, const char *token)
{
	char	 *got, *table;
	long long n;

	got = stream_read(token, &n);
	table = table_changes(db);
	assert_int_equal(n, db_int(db, "SELECT count(*) FROM change"));
	assert_string_equal(got, table);
	free(got);
	free(table);
}

static size_t
write_cb(char *p, size_t size, size_t n, void *arg)
{
	return buf_add(arg, p, size * n) == 0 ? size * n : 0;
}

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

/* No trace of the password where the daemon speaks. */
static void
no_secret(const char *log)
{
	char *txt;
	long  code;

	txt = slurp(log);
	assert_null(strstr(txt, NATS_PASS));
	assert_non_null(strstr(txt, "event=changes_nats"));
	free(txt);
	if (daemon_pid == 0)
		return;
	txt = status_get("/status", &code);
	assert_int_equal(code, 200);
	assert_null(strstr(txt, NATS_PASS));
	free(txt);
	txt = status_get("/healthz", &code);
	assert_null(strstr(txt, NATS_PASS));
	free(txt);
}

static int
setup(void **state)
{
	if (testlib_setup() == -1)
		return -1;
	nats_port = free_port();
	start_server(&srv, "o.port",
	    "--records 3000 --page-size 25 --deleted-every 0 --delay-ms 20");
	return 0;
}

static int
teardown(void **state)
{
	int status;

	if (daemon_pid > 0) {
		kill(daemon_pid, SIGKILL);
		waitpid(daemon_pid, &status, 0);
	}
	nats_stop();
	stop_server(&srv);
	testlib_teardown();
	return 0;
}

/*
 * Stopped mid-harvest with SIGKILL and SIGTERM, again and again: each
 * change in the stream once, in order.  Then the cursor set back a
 * thousand changes: they go out again and the duplicate window drops them.
 */
static void
test_restarts(void **state)
{
	char	    *conf, *db, *log, *sql, *txt;
	unsigned int seed = 17;
	long long    before, n;
	int	     i, kills = 0, terms = 0;

	nats_start();
	conf = path("r.conf");
	db = path("r.db");
	log = path("r.log");
	/* A source name with a dot: its subject token has '_'. */
	write_conf("r.conf", db, "s.1");
	for (i = 0; i < 6; i++) {
		daemon_start(conf, log);
		usleep((useconds_t)(400 + rand_r(&seed) % 600) * 1000);
		if (i % 3 == 2) {
			daemon_stop(SIGTERM);
			terms++;
		} else {
			daemon_stop(SIGKILL);
			kills++;
		}
	}
	before = db_int(db, "SELECT count(*) FROM change");
	assert_true(before > 0);
	assert_true(before < 3000);
	daemon_start(conf, log);
	wait_relayed(db, 3000, 120);
	assert_int_equal(db_int(db, "SELECT count(*) FROM change"), 3000);
	stream_is_table(db, "s_1");
	no_secret(log);
	daemon_stop(SIGTERM);

	/* Sent again from seq 2000 on: still each once in the stream. */
	db_exec(db, "UPDATE outbox SET seq = 2000 WHERE name = 'nats'");
	daemon_start(conf, log);
	wait_relayed(db, 3000, 60);
	stream_is_table(db, "s_1");
	txt = stream_read("s_1", &n);
	assert_int_equal(n, 3000);
	free(txt);
	daemon_stop(SIGTERM);
	print_message("nats: %d SIGKILLs, %d SIGTERMs, %lld changes before "
		      "the last start\n",
	    kills, terms, before);
	xasprintf(&sql, "%s", log);
	no_secret(sql);
	free(sql);
	free(conf);
	free(db);
	free(log);
}

/* No server at the start: reported; once it is up the changes arrive. */
static void
test_down_then_up(void **state)
{
	char *conf, *db, *log, *body;
	long  code;
	int   i;

	nats_stop();
	conf = path("d.conf");
	db = path("d.db");
	log = path("d.log");
	write_conf("d.conf", db, "s.1");
	daemon_start(conf, log);
	for (i = 0; i < 600 &&
	     db_int(db, "SELECT count(*) FROM run WHERE status = 'ok'") < 1;
	     i++)
		usleep(100 * 1000);
	assert_int_equal(db_int(db, "SELECT count(*) FROM change"), 3000);
	assert_int_equal(
	    db_int(db, "SELECT count(*) FROM outbox WHERE name = 'nats'"), 0);
	body = status_get("/healthz", &code);
	assert_int_equal(code, 503);
	assert_non_null(strstr(body, "nats://***@127.0.0.1"));
	free(body);
	body = status_get("/metrics", &code);
	assert_int_equal(code, 200);
	assert_non_null(strstr(body, "\noaiharvest_nats_ok 0\n"));
	free(body);
	no_secret(log);

	/*
	 * The server comes, with a store of its own: the first test's
	 * stream holds the same seqs of another database.
	 */
	nats_store = "js2";
	nats_start();
	wait_relayed(db, 3000, 60);
	stream_is_table(db, "s_1");
	for (i = 0; i < 100; i++) {
		body = status_get("/healthz", &code);
		free(body);
		if (code == 200)
			break;
		usleep(100 * 1000);
	}
	assert_int_equal(code, 200);
	body = slurp(log);
	assert_non_null(strstr(body, "event=nats_error"));
	assert_non_null(strstr(body, "event=nats_ok"));
	free(body);
	no_secret(log);
	daemon_stop(SIGTERM);
	free(conf);
	free(db);
	free(log);
}

/*
 * A reload turns the feed on, with a subject prefix of its own: the stream
 * named after it is made and every change, older ones too, arrives.
 */
static void
test_reload_on(void **state)
{
	char	 *conf, *db, *log, *c, *got, *table;
	long long n;
	int	  i;

	if (nats_pid == 0)
		nats_start();
	conf = path("h.conf");
	db = path("h.db");
	log = path("h.log");
	xasprintf(&c,
	    "[global]\ndatabase = %s\n"
	    "delay = 0s\nstatus_listen = 127.0.0.1:0\n\n"
	    "[source s.1]\nurl = http://127.0.0.1:%d/oai\ninterval = 1s\n",
	    db, srv.port);
	save("h.conf", c);
	free(c);
	daemon_start(conf, log);
	for (i = 0; i < 600 &&
	     db_int(db, "SELECT count(*) FROM run WHERE status = 'ok'") < 1;
	     i++)
		usleep(100 * 1000);
	assert_int_equal(db_int(db, "SELECT count(*) FROM change"), 3000);
	xasprintf(&c,
	    "[global]\ndatabase = %s\n"
	    "changes_nats = nats://%s:%s@127.0.0.1:%d\n"
	    "changes_nats_subject = oh.feed-2\n"
	    "delay = 0s\nstatus_listen = 127.0.0.1:0\n\n"
	    "[source s.1]\nurl = http://127.0.0.1:%d/oai\ninterval = 1s\n",
	    db, NATS_USER, NATS_PASS, nats_port, srv.port);
	save("h.conf", c);
	free(c);
	assert_int_equal(kill(daemon_pid, SIGHUP), 0);
	wait_relayed(db, 3000, 60);
	got = stream_read_from("OH_FEED-2", "oh.feed-2.", "s_1", &n);
	table = table_changes(db);
	assert_int_equal(n, 3000);
	assert_string_equal(got, table);
	free(got);
	free(table);
	no_secret(log);
	daemon_stop(SIGTERM);
	free(conf);
	free(db);
	free(log);
}

/* A stream named after the prefix, made here with a window of 1 s. */
static void
stream_make_short(const char *name, const char *subjects)
{
	natsConnection *nc = NULL;
	natsOptions    *opts = NULL;
	jsCtx	       *js = NULL;
	jsStreamInfo   *si = NULL;
	jsStreamConfig	cfg;
	jsErrCode	jerr = 0;
	const char     *subj[1] = { subjects };
	char	       *url;

	xasprintf(
	    &url, "nats://%s:%s@127.0.0.1:%d", NATS_USER, NATS_PASS, nats_port);
	assert_int_equal(natsOptions_Create(&opts), NATS_OK);
	assert_int_equal(natsOptions_SetURL(opts, url), NATS_OK);
	assert_int_equal(natsConnection_Connect(&nc, opts), NATS_OK);
	assert_int_equal(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
	jsStreamConfig_Init(&cfg);
	cfg.Name = name;
	cfg.Subjects = subj;
	cfg.SubjectsLen = 1;
	cfg.Storage = js_FileStorage;
	cfg.Duplicates = 1000000000LL;
	assert_int_equal(js_AddStream(&si, js, &cfg, NULL, &jerr), NATS_OK);
	jsStreamInfo_Destroy(si);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	natsOptions_Destroy(opts);
	free(url);
}

/*
 * The cursor set back once the duplicate window has passed: what the
 * stream holds already is not sent again (the duplicate window cannot drop
 * it any more), and the stream stays in seq order.
 */
static void
test_window_passed(void **state)
{
	char	 *conf, *db, *log, *c, *got, *table;
	long long n;

	if (nats_pid == 0)
		nats_start();
	stream_make_short("OH_SHORT", "oh.short.>");
	conf = path("w.conf");
	db = path("w.db");
	log = path("w.log");
	xasprintf(&c,
	    "[global]\ndatabase = %s\n"
	    "changes_nats = nats://%s:%s@127.0.0.1:%d\n"
	    "changes_nats_subject = oh.short\n"
	    "delay = 0s\nstatus_listen = 127.0.0.1:0\n\n"
	    "[source s.1]\nurl = http://127.0.0.1:%d/oai\ninterval = 1s\n",
	    db, NATS_USER, NATS_PASS, nats_port, srv.port);
	save("w.conf", c);
	free(c);
	daemon_start(conf, log);
	wait_relayed(db, 3000, 120);
	daemon_stop(SIGTERM);
	db_exec(db, "UPDATE outbox SET seq = 2000 WHERE name = 'nats'");
	/* The window (1 s) passes: a duplicate would be stored now. */
	usleep(2500 * 1000);
	daemon_start(conf, log);
	wait_relayed(db, 3000, 60);
	daemon_stop(SIGTERM);
	got = stream_read_from("OH_SHORT", "oh.short.", "s_1", &n);
	table = table_changes(db);
	assert_int_equal(n, 3000);
	assert_string_equal(got, table);
	free(got);
	free(table);
	no_secret(log);
	free(conf);
	free(db);
	free(log);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_restarts),
		cmocka_unit_test(test_down_then_up),
		cmocka_unit_test(test_reload_on),
		cmocka_unit_test(test_window_passed),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
