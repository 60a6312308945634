/* Helpers shared by the integration tests (tests/testlib.c). */
#ifndef OH_TESTLIB_H
#define OH_TESTLIB_H

#include <sys/types.h>

#include <sqlite3.h>

#include "util.h"

struct server {
	pid_t pid;
	int   port;
};

extern char tmpdir[];
extern char bindir[];

int  testlib_setup(void);
void testlib_teardown(void);
/* A file in the test's temporary directory (allocated). */
char *path(const char *);
char *slurp(const char *);
char *read_tmp(const char *);
/* How many times what is in s (not overlapping). */
size_t count_str(const char *s, const char *what);
void   save(const char *, const char *);
/* Start oaiserver with args; wait (bounded) for its port. */
void start_server(struct server *, const char *portfile, const char *args);
/* SIGTERM; asserts a clean exit. */
void stop_server(struct server *);
/* A shell command, stdout and stderr into files of tmpdir; exit code. */
int run(const char *out, const char *err, const char *, ...) __printflike(3, 4);
/* GET (or POST) to the test server; asserts 200; the body. */
char	 *http(const struct server *, int post, const char *);
void	  load_jsonl(sqlite3 *, const char *table, const char *text);
long long q_int(sqlite3 *, const char *sql);
void compare_export_dump(const char *exp, const char *dump, const char *source);

/*
 * Daemon n of a multi-daemon test: oaiharvestd -f -c tmpdir/dN.conf, its
 * log in tmpdir/dN.log; daemon_n_stop() sends SIGTERM and fails the test
 * unless it exits 0 within 15 s (*pid then 0).
 */
pid_t daemon_n_start(int n);
void  daemon_n_stop(pid_t *pid, int n);
/*
 * Their configs' sources: per_host sources hHsK (url .../oai/sK,
 * interval 1h) on each of the servers srv[0..nhosts-1], added to b.
 */
void daemon_conf_sources(
    struct buf *b, const struct server *srv, int nhosts, int per_host);

/*
 * A nats-server -js on 127.0.0.1:port (JetStream store in tmpdir/dir, its
 * log appended to tmpdir/nats.log; auth: more of its flags, or ""):
 * nats_server_start() fails the test when the port is taken or the server
 * does not listen within 10 s, and gives its pid; nats_server_stop()
 * stops it (SIGTERM) and waits (bounded) for the port to close.
 */
int   tcp_port_open(int port);
pid_t nats_server_start(int port, const char *dir, const char *auth);
void  nats_server_stop(pid_t *pid, int port);

/*
 * A private PostgreSQL 15 cluster in a fresh temporary directory, on
 * 127.0.0.1 (as nobody when run as root): pg_start() fails the test when
 * it cannot start it, and gives the URI of its postgres database;
 * pg_database() makes a fresh database on it and gives its URI
 * (allocated); pg_stop() stops it (fast) and removes its directory.
 */
const char *pg_start(void);
char	   *pg_database(void);
void	    pg_stop(void);

/*
 * The backends the store-relevant integration cases run on, one table:
 * BACKENDS(t) in a cmocka test table runs case t once per entry, its
 * *state the entry.  tdb_new() gives a fresh database for it (a file of
 * tmpdir named name, or a new database of the private cluster, started
 * on first use: the group's teardown calls pg_stop()); tdb_int(), tdb_text()
 * and tdb_exec() read and write either (a path or a postgresql:// URI).
 */
struct tbackend {
	const char *name;
	int	    pg;
};
extern const struct tbackend tbackends[2];
#define BACKENDS(t) \
	{ #t, t, NULL, NULL, (void *)&tbackends[0] }, \
	{ \
#t "/pg", t, NULL, NULL, (void *)&tbackends[1] \
	}
char *tdb_new(void **state, const char *name);
/* One number (-1: no row, NULL, or no such database yet). */
long long tdb_int(const char *db, const char *sql);
long long tdb_intf(const char *db, const char *fmt, ...) __printflike(2, 3);
/* One string, allocated (NULL: none); and statements, asserted to run. */
char *tdb_text(const char *db, const char *sql);
void  tdb_exec(const char *db, const char *sql);
/* 1 when db has the table (0: not, or no such database yet). */
int tdb_table(const char *db, const char *table);
/*
 * Polls of a database that daemons are writing: tdb_poll_int() reads one
 * number and never fails the test (-1: no file, table or row yet, NULL,
 * or an error; SQLite read-only with a 5 s busy timeout);
 * tdb_wait_int() polls every 50 ms until it reads want, at most ms
 * milliseconds, and gives the last value read; tdb_sources_done() counts
 * the sources that have a run ended ok and nrecords records present.
 */
long long tdb_poll_int(const char *db, const char *sql);
long long tdb_wait_int(const char *db, const char *sql, long long want, int ms);
long long tdb_sources_done(const char *db, int nrecords);

/*
 * After a test of several daemons: daemons_kill() sends SIGCONT and
 * SIGKILL to each pids[i] > 0 of n, reaps it and sets it to 0;
 * testlib_keep() copies tmpdir (logs, databases) to the directory the
 * environment variable env names, when it is set.
 */
void daemons_kill(pid_t *pids, int n);
void testlib_keep(const char *env);

#endif
