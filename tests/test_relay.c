/*
 * The NATS relay with several daemons (leases = yes, changes_nats set on
 * each), with the real binaries and a real nats-server -js on loopback (a
 * server that cannot be started fails the test): three daemons share one
 * SQLite file and harvest 6 sources on 2 hosts; exactly one of them relays
 * the change feed, the holder of the lease "feed:nats".  It is killed with
 * SIGKILL in the middle of the harvest; another takes the lease over once
 * it expires and goes on from the outbox cursor.  The stream then holds
 * every change of the database exactly once, in seq order, each on
 * oaiharvest.changes.<source> with its seq as Nats-Msg-Id; /status of
 * every daemon never shows two relaying at once, names the relaying node,
 * and each relay_started log line has a gen of its own.  A second test
 * pauses the relay (SIGSTOP) past its lease instead: another takes over,
 * the woken one stops relaying, and the cursor never goes back.
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <arpa/inet.h>
#include <errno.h>
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
#include <curl/curl.h>
#include <nats/nats.h>
#include <sqlite3.h>

#include "testlib.h"
#include "util.h"

#define NHOSTS	    2
#define PER_HOST    3
#define NSOURCES    (NHOSTS * PER_HOST)
#define NRECORDS    500
#define NDAEMONS    3
#define NATS_PORT   18500 /* this test's ports: 18500, 18511.. */
#define STATUS_BASE 18510
#define STREAM	    "OAIHARVEST_CHANGES"
#define SUBJECT_PFX "oaiharvest.changes."

static struct server srv[NHOSTS];
static pid_t	     dpid[NDAEMONS];
static pid_t	     nats_pid;
static const char   *nats_dir = "js";
static char	    *db_file;

/* nats-server -js on NATS_PORT, its store in tmpdir; bounded wait. */
static void
nats_start(void)
{
	nats_pid = nats_server_start(NATS_PORT, nats_dir, "");
}

static void
nats_stop(void)
{
	nats_server_stop(&nats_pid, NATS_PORT);
}

static int
setup(void **state)
{
	char *args, *port;
	int   i;

	if (testlib_setup() == -1)
		return -1;
	db_file = path("relay.db");
	for (i = 0; i < NHOSTS; i++) {
		xasprintf(&args,
		    "--records %d --page-size 10 --deleted-every 0 "
		    "--delay-ms 25 --sets 0",
		    NRECORDS);
		xasprintf(&port, "port%d", i);
		start_server(&srv[i], port, args);
		free(args);
		free(port);
	}
	return 0;
}

static int
teardown(void **state)
{
	int i;

	daemons_kill(dpid, NDAEMONS);
	if (nats_pid > 0) {
		kill(nats_pid, SIGTERM);
		waitpid(nats_pid, NULL, 0);
		nats_pid = 0;
	}
	/* OH_RELAY_KEEP=DIR: the logs and the database, to look at. */
	testlib_keep("OH_RELAY_KEEP");
	for (i = 0; i < NHOSTS; i++)
		stop_server(&srv[i]);
	free(db_file);
	testlib_teardown();
	return 0;
}

static void
write_conf(int n)
{
	struct buf b;
	char	  *name;

	buf_init(&b, 1 << 20);
	buf_printf(&b,
	    "[global]\ndatabase = %s\nleases = yes\nlease_ttl = 3s\n"
	    "node_name = n%d\ndelay = 0s\nmax_concurrent = 6\n"
	    "status_listen = 127.0.0.1:%d\n"
	    "changes_nats = nats://127.0.0.1:%d\n",
	    db_file, n, STATUS_BASE + 1 + n, NATS_PORT);
	daemon_conf_sources(&b, srv, NHOSTS, PER_HOST);
	xasprintf(&name, "d%d.conf", n);
	save(name, buf_str(&b));
	free(name);
	buf_free(&b);
}

static void
start_daemon(int n)
{
	dpid[n] = daemon_n_start(n);
}

static void
stop_daemon(int n)
{
	daemon_n_stop(&dpid[n], n);
}

/* A number from the database (-1 when it cannot be read yet). */
static long long
db_int(const char *sql)
{
	return tdb_poll_int(db_file, sql);
}

static long long
sources_done(void)
{
	return tdb_sources_done(db_file, NRECORDS);
}

static long long
cursor(void)
{
	return db_int("SELECT seq FROM outbox WHERE name = 'nats'");
}

static size_t
write_cb(char *p, size_t size, size_t n, void *arg)
{
	return buf_add(arg, p, size * n) == 0 ? size * n : 0;
}

/* Daemon n's pathq; NULL when it does not answer (yet). */
static char *
fetch(int n, const char *pathq)
{
	CURL	  *c;
	struct buf b;
	char	  *url;
	long	   code = 0;
	CURLcode   rc;

	buf_init(&b, 16UL * 1024 * 1024);
	xasprintf(&url, "http://127.0.0.1:%d%s", STATUS_BASE + 1 + n, pathq);
	c = curl_easy_init();
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	free(url);
	if (rc != CURLE_OK || code != 200) {
		buf_free(&b);
		return NULL;
	}
	return b.data != NULL ? b.data : xstrdup("");
}

static char *
status_of(int n)
{
	return fetch(n, "/status");
}

/* Whether daemon n's /status says it relays (-1: no answer). */
static int
ours(int n)
{
	char *st, *r;
	int   v;

	if ((st = status_of(n)) == NULL)
		return -1;
	r = strstr(st, "\"relay\":{\"lease\":\"feed:nats\"");
	v = r != NULL && strstr(r, "\"ours\":") != NULL &&
	    strncmp(strstr(r, "\"ours\":"), "\"ours\":true", 11) == 0;
	free(st);
	return v;
}

/*
 * Daemon n's /metrics: oaiharvest_relay_holder is 1 exactly when its
 * /status says it relays (checked when /status says the same before and
 * after, the lease not moving in between).
 */
static void
check_relay_gauge(int n)
{
	char *m, *p;
	int   before, after, v;

	before = ours(n);
	m = fetch(n, "/metrics");
	after = ours(n);
	if (m == NULL)
		return;
	if ((p = strstr(m, "\noaiharvest_relay_holder{")) == NULL)
		fail_msg("daemon %d: no oaiharvest_relay_holder", n);
	p = strstr(p, "} ");
	assert_non_null(p);
	v = atoi(p + 2);
	free(m);
	if (before == -1 || before != after)
		return;
	if (v != before)
		fail_msg("daemon %d: oaiharvest_relay_holder %d, /status %s", n,
		    v, before ? "relays" : "does not relay");
}

/*
 * Ask every live daemon which node relays: the one whose relay is "ours"
 * (-1: none); never two.  *named: the node_name a daemon's /status gives
 * the relay's holder, the last seen ("" when none).
 */
static int
relaying(char *named, size_t size)
{
	char *st, *r, *p;
	int   n, who = -1;

	named[0] = '\0';
	for (n = 0; n < NDAEMONS; n++) {
		if (dpid[n] <= 0 || (st = status_of(n)) == NULL)
			continue;
		r = strstr(st, "\"relay\":{\"lease\":\"feed:nats\"");
		if (r == NULL)
			fail_msg(
			    "daemon %d: no relay in /status: %.300s", n, st);
		if (strncmp(strstr(r, "\"ours\":"), "\"ours\":true", 11) == 0) {
			if (who != -1)
				fail_msg(
				    "daemons %d and %d both relay", who, n);
			who = n;
		}
		if ((p = strstr(r, "\"node_name\":\"")) != NULL)
			snprintf(named, size, "%.*s",
			    (int)strcspn(p + 13, "\""), p + 13);
		free(st);
		check_relay_gauge(n);
	}
	return who;
}

/*
 * The consumer: the stream's messages in its order, their bodies as JSON
 * lines; each one's Nats-Msg-Id its seq, rising, and its subject the
 * prefix and its source.
 */
static char *
stream_read(long long *n)
{
	natsConnection *nc = NULL;
	natsOptions    *opts = NULL;
	jsCtx	       *js = NULL;
	jsStreamInfo   *si = NULL;
	natsMsg	       *m;
	jsErrCode	jerr = 0;
	struct buf	b;
	const char     *id, *data, *src;
	char	       *url, head[64], want[128];
	long long	prev = 0, seq;
	uint64_t	i;

	buf_init(&b, 256UL * 1024 * 1024);
	xasprintf(&url, "nats://127.0.0.1:%d", NATS_PORT);
	assert_int_equal(natsOptions_Create(&opts), NATS_OK);
	assert_int_equal(natsOptions_SetURL(opts, url), NATS_OK);
	assert_int_equal(natsOptions_SetTimeout(opts, 5000), NATS_OK);
	assert_int_equal(natsConnection_Connect(&nc, opts), NATS_OK);
	assert_int_equal(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
	assert_int_equal(
	    js_GetStreamInfo(&si, js, STREAM, NULL, &jerr), NATS_OK);
	*n = (long long)si->State.Msgs;
	for (i = si->State.FirstSeq; i <= si->State.LastSeq && *n > 0; i++) {
		m = NULL;
		assert_int_equal(
		    js_GetMsg(&m, js, STREAM, i, NULL, &jerr), NATS_OK);
		id = NULL;
		assert_int_equal(
		    natsMsgHeader_Get(m, "Nats-Msg-Id", &id), NATS_OK);
		seq = strtoll(id, NULL, 10);
		if (seq <= prev)
			fail_msg("stream message %llu: seq %lld after %lld",
			    (unsigned long long)i, seq, prev);
		prev = seq;
		data = natsMsg_GetData(m);
		snprintf(head, sizeof(head), "{\"seq\":%lld,", seq);
		assert_true(strncmp(data, head, strlen(head)) == 0);
		src = strstr(data, ",\"source\":\"");
		assert_non_null(src);
		src += 11;
		snprintf(want, sizeof(want), "%s%.*s", SUBJECT_PFX,
		    (int)strcspn(src, "\""), src);
		assert_string_equal(natsMsg_GetSubject(m), want);
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
	return b.data != NULL ? b.data : xstrdup("");
}

/* The gen of each relay_started line of daemon n's log, at most max. */
static int
relay_gens(int n, long long *gens, int max)
{
	char *name, *txt, *p;
	int   k = 0;

	xasprintf(&name, "d%d.log", n);
	txt = read_tmp(name);
	free(name);
	for (p = txt; (p = strstr(p, "event=relay_started")) != NULL; p++) {
		assert_true(k < max);
		p = strstr(p, " gen=");
		assert_non_null(p);
		gens[k++] = strtoll(p + 5, NULL, 10);
	}
	free(txt);
	return k;
}

/* The stream holds the change table: every change once, in seq order. */
static void
check_stream(void)
{
	char	 *got, *table;
	long long n;

	got = stream_read(&n);
	assert_int_equal(run("t.out", "t.err", "%s/oaiharvest changes --db %s",
			     bindir, db_file),
	    0);
	table = read_tmp("t.out");
	assert_int_equal(n, (long long)NSOURCES * NRECORDS);
	assert_string_equal(got, table);
	free(got);
	free(table);
}

/*
 * Start the daemons and wait (60 s at most) until one relays and the
 * stream has some changes: that daemon; *named as relaying() gives it.
 */
static int
start_relay(char *named, size_t size)
{
	int64_t t0;
	int	i, who = -1;

	for (i = 0; i < NDAEMONS; i++) {
		write_conf(i);
		start_daemon(i);
	}
	t0 = mono_ms();
	while (mono_ms() - t0 < 60000) {
		who = relaying(named, size);
		if (who >= 0 && cursor() > 0)
			break;
		usleep(100 * 1000);
	}
	if (who < 0 || cursor() <= 0)
		fail_msg("no daemon relays after 60 s (cursor %lld)", cursor());
	return who;
}

static void
test_relay_takeover(void **state)
{
	char	  named[64], want[16];
	long long gens[NDAEMONS][8], total, n, c0;
	int	  i, j, k, ng[NDAEMONS], who = -1, next = -1, nstarted = 0;
	int64_t	  t0;

	nats_start();
	/* One relays, and the stream has some changes: then kill it. */
	who = start_relay(named, sizeof(named));
	snprintf(want, sizeof(want), "n%d", who);
	assert_string_equal(named, want);
	c0 = cursor();
	if (sources_done() >= NSOURCES)
		fail_msg("the harvest ended before the relay was killed");
	assert_int_equal(kill(dpid[who], SIGKILL), 0);
	assert_int_equal(waitpid(dpid[who], NULL, 0), dpid[who]);
	dpid[who] = 0;

	/* Another takes over, the harvest ends, every change relayed. */
	t0 = mono_ms();
	while (mono_ms() - t0 < 180000) {
		next = relaying(named, sizeof(named));
		total = db_int("SELECT max(seq) FROM change");
		if (next >= 0 && sources_done() == NSOURCES &&
		    cursor() == total)
			break;
		usleep(200 * 1000);
	}
	if (next < 0 || sources_done() != NSOURCES || cursor() != total)
		fail_msg("after 180 s: relay %d, %lld sources done, cursor "
			 "%lld of %lld",
		    next, sources_done(), cursor(), total);
	assert_int_not_equal(next, who);
	snprintf(want, sizeof(want), "n%d", next);
	assert_string_equal(named, want);
	assert_true(cursor() > c0);
	assert_int_equal(db_int("SELECT count(*) FROM change"),
	    (long long)NSOURCES * NRECORDS);

	/* The stream is the change table: each change once, in order. */
	check_stream();

	/* Each relay start has a gen of its own: one relay at a time. */
	for (i = 0; i < NDAEMONS; i++) {
		ng[i] = relay_gens(i, gens[i], 8);
		nstarted += ng[i];
	}
	assert_true(ng[who] >= 1);
	assert_true(ng[next] >= 1);
	assert_true(nstarted >= 2);
	for (i = 0; i < NDAEMONS; i++)
		for (j = 0; j < ng[i]; j++)
			for (k = 0; k < NDAEMONS; k++)
				if (k != i)
					for (n = 0; n < ng[k]; n++)
						assert_true(
						    gens[i][j] != gens[k][n]);
	assert_true(gens[next][ng[next] - 1] > gens[who][ng[who] - 1]);

	/* The rest stop cleanly, the relay giving its lease back. */
	for (i = 0; i < NDAEMONS; i++)
		if (dpid[i] > 0)
			stop_daemon(i);
	assert_int_equal(
	    db_int("SELECT count(*) FROM lease WHERE host = 'feed:nats'"
		   " AND holder IS NOT NULL"),
	    0);
}

/*
 * The relay paused (SIGSTOP) past its lease: another daemon takes the
 * relay over; the paused one, woken, finds the lease lost
 * (event=relay_stopped why=taken) and its cursor moves are refused: the
 * cursor never goes back, and the stream still holds each change once,
 * in order.
 */
static void
test_relay_paused(void **state)
{
	char	  named[64], *txt, *name;
	long long total, n, c, last = 0;
	int	  i, who = -1, next = -1, stopped = 0;
	int64_t	  t0;

	free(db_file);
	db_file = path("paused.db");
	nats_stop();
	nats_dir = "js2";
	nats_start();
	who = start_relay(named, sizeof(named));
	assert_int_equal(kill(dpid[who], SIGSTOP), 0);
	/* Its lease (3 s) lapses; another takes the relay over. */
	t0 = mono_ms();
	while (mono_ms() - t0 < 30000) {
		if ((c = cursor()) < last)
			fail_msg(
			    "the cursor went back: %lld after %lld", c, last);
		last = c;
		for (i = 0, next = -1; i < NDAEMONS; i++)
			if (i != who && relay_gens(i, &n, 1) == 1)
				next = i;
		if (next >= 0)
			break;
		usleep(100 * 1000);
	}
	if (next < 0)
		fail_msg("no daemon took the relay over in 30 s");
	assert_int_equal(kill(dpid[who], SIGCONT), 0);
	/* All relayed; the woken one stops relaying; the cursor only rises. */
	t0 = mono_ms();
	while (mono_ms() - t0 < 180000) {
		if ((c = cursor()) < last)
			fail_msg(
			    "the cursor went back: %lld after %lld", c, last);
		last = c;
		total = db_int("SELECT max(seq) FROM change");
		xasprintf(&name, "d%d.log", who);
		txt = read_tmp(name);
		free(name);
		stopped = strstr(txt, "event=relay_stopped") != NULL;
		free(txt);
		if (stopped && sources_done() == NSOURCES && c == total)
			break;
		usleep(200 * 1000);
	}
	if (!stopped || sources_done() != NSOURCES || cursor() != total)
		fail_msg("after 180 s: relay_stopped %d, %lld sources done, "
			 "cursor %lld of %lld",
		    stopped, sources_done(), cursor(), total);
	assert_int_not_equal(relaying(named, sizeof(named)), who);
	check_stream();
	for (i = 0; i < NDAEMONS; i++)
		if (dpid[i] > 0)
			stop_daemon(i);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_relay_takeover),
		cmocka_unit_test(test_relay_paused),
	};

	curl_global_init(CURL_GLOBAL_DEFAULT);
	return cmocka_run_group_tests(tests, setup, teardown);
}
