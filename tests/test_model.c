/*
 * A model-based, randomized harvest test (issue 13).  Each seed builds a
 * scenario: 1-3 metadata prefixes, 0-3 harvested sets with overlapping
 * membership (and the whole repository or not), date windows or none, a
 * page size, a datestamp style and granularity, the HTTP status OAI errors
 * go out with, an overlap of 5 minutes or none, and then 3-5 rounds of:
 * random changes to the repository (new, updated, deleted, undeleted,
 * datestamp bumped only, moved to another set, purged without a trace, or
 * none), the metadata XML written another way (same content under C14N),
 * an expired token or noRecordsMatch in the middle of a list, a harvest
 * (with --sweep at times) perhaps killed with SIGKILL at random moments
 * and resumed, and a check.
 *
 * The model (an in-memory SQLite database) remembers what the store should
 * hold for every (prefix, identifier).  After every completed harvest:
 *
 *  (a) the database equals the server's truth (/control/dump) for every
 *      (prefix, set) list harvested: identifiers, deleted flags,
 *      datestamps as sent, set membership, and oai_dc's DC values;
 *  (b) the change rows since the last check equal the model's diff: one
 *      per real change, none for a datestamp bump, an XML style change or
 *      a record seen again, none lost; the run's counts agree with them;
 *  (c) every list is complete (a watermark, no token), and every list of a
 *      later harvest asks with from (/control/requests).
 *
 * What the model expects:
 *  - new: a record in a harvested list, live, that the store did not hold
 *    or held as deleted; updated: live before and after, and its metadata
 *    (oai_dc's DC values stand for it) or its sets changed; deleted: live
 *    before, deleted now.  A deleted header of a record never held is a
 *    tombstone: a row, no change, not counted as unchanged.
 *  - A purged record (gone without a trace, as where deletions are not
 *    kept) stays as the store had it until a deletion sweep (--sweep, over
 *    whole-repository lists only) runs: then it is deleted, with a change
 *    row, and its datestamp is not compared.
 *  - A record moving out of the only harvested set(s) cannot be seen by
 *    OAI-PMH selective harvesting (it is in no list any more), so moves are
 *    made only where they are observable: whole-repository lists, or into
 *    a harvested set (or when the record stays in harvested com_3).
 *
 * Seeds: OH_MODEL_SEED=S runs one; OH_MODEL_SEEDS=N (default below) runs
 * N from OH_MODEL_SEED_BASE (default 1).  A failure prints the seed, the
 * round, the list, the identifier, what was expected and what was found,
 * and the command that reruns that seed.  The scenario of a seed is always
 * the same; where the SIGKILLs land is not.  OH_MODEL_KEEP_GOING: the
 * later rounds of a failed seed run too (not after a failed harvest);
 * OH_MODEL_AVOID: see below; OH_MODEL_KEEP=DIR: keep each round's log,
 * requests and database; OH_MODEL_VERBOSE; OH_MODEL_LIST: the scenarios.
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "testlib.h"

/*
 * The seeds make check runs, chosen from the first 200 so that each item
 * of issue 13 this test covers is caught by some of them (on d433416):
 * item 1 (lists 2..n without a watermark) 3, 26, 30, 38; item 3 (OAI
 * errors under HTTP errors) 5 and 112 (empty windows, 400 and 422); item 4
 * (XML style) 3, 21, 30, 43, 193; item 5 (datestamps) 97 (offset), 26
 * (millis), 12 (compact), 38 and 82 (+02:00), 9 (a space for T); item 10
 * (tombstones counted unchanged) 21, 30, 43; 89 (a sweep did not delete
 * a record dated after our clock, found by this test); 13 and 54 for
 * breadth.  Where a SIGKILL lands varies, and with it at times what a seed
 * catches.
 */
static const uint64_t check_seeds[] = {
	3,
	5,
	9,
	12,
	13,
	21,
	26,
	30,
	38,
	43,
	54,
	82,
	89,
	97,
	112,
	193,
};
#define MAX_ROUNDS 5
#define MAX_RECS   400
#define MAX_KILLS  3
#define MAX_SHOWN  5 /* differences printed per check */

struct rng {
	uint64_t s;
};

/* What the test knows of each record on the server, to pick changes. */
struct srec {
	int deleted;
	int purged;
	int coll;
};

struct scen {
	uint64_t    seed;
	const char *prefixes[3];
	int	    nprefixes;
	char	    sets[3][16]; /* harvested; none: whole repository */
	int	    nsets;
	int	    whole;	 /* a whole-repository list */
	int	    server_sets; /* K: col_0..col_{K-1}, com_3 */
	int	    records;
	int	    page;
	int	    deleted_every;
	const char *window;
	const char *ds_style;
	const char *gran;
	int	    error_status;
	int	    rounds;
	int	    delay_ms;
	int	    faults;   /* expired tokens and the like */
	int	    overlap0; /* --overlap 0 */
};

struct state {
	struct scen   sc;
	struct rng    r;
	struct server srv;
	sqlite3	     *m; /* the model, the truth, the store */
	char	     *db;
	struct srec   recs[MAX_RECS + 1];
	int	      nrecs;
	int	      round;
	int	      sweep; /* this round's harvest sweeps */
	int	      kills; /* this round's SIGKILLs */
	long long     last_seq;
	long long     last_run;
	double	      last_secs;
	int	      failed;
	int	      stop;	   /* a harvest failed: no more rounds */
	time_t	      max_ds;	   /* the latest datestamp a change made */
	char	      what[256];   /* this round's changes, for messages */
	char	      kinds[1024]; /* kinds of failure, for a summary */
};

static int seeds_failed;
static int keep_going; /* OH_MODEL_KEEP_GOING: on after a failure */

/*
 * OH_MODEL_AVOID=1,3,4,5,10: scenarios that do not meet the numbered
 * items of issue 13, to look for other bugs while those are open: 1 one
 * prefix and one list, 3 OAI errors under HTTP 200, 4 no XML style
 * changes, 5 canonical datestamps, 10 no check of a first harvest's
 * unchanged count.
 */
static int avoid[16];

/* PRNG: splitmix64. */
static uint64_t
rnd(struct rng *r)
{
	uint64_t z;

	z = (r->s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static int
below(struct rng *r, int n)
{
	return (int)(rnd(r) % (uint64_t)n);
}

static void bad(struct state *st, const char *fmt, ...) __printflike(2, 3);

/* Remember a kind of failure once, for the seed's summary line. */
static void
kind(struct state *st, const char *k)
{
	size_t o = strlen(st->kinds);

	if (strstr(st->kinds, k) != NULL ||
	    o + strlen(k) + 3 >= sizeof(st->kinds))
		return;
	snprintf(
	    st->kinds + o, sizeof(st->kinds) - o, "%s%s", o > 0 ? "; " : "", k);
}

/* A failure of this seed: printed at once, with how to run it again. */
static void
bad(struct state *st, const char *fmt, ...)
{
	va_list ap;

	if (!st->failed)
		print_message("model: seed=%llu FAILED in round %d (%s); "
			      "rerun: OH_MODEL_SEED=%llu OH_BUILD=%s "
			      "build/asan/tests/test_model\n",
		    (unsigned long long)st->sc.seed, st->round, st->what,
		    (unsigned long long)st->sc.seed, bindir);
	st->failed = 1;
	va_start(ap, fmt);
	fprintf(stderr,
	    "  seed=%llu round=%d: ", (unsigned long long)st->sc.seed,
	    st->round);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
}

static void exec_sql(struct state *st, const char *fmt, ...) __printflike(2, 3);

static void
exec_sql(struct state *st, const char *fmt, ...)
{
	va_list ap;
	char   *sql, *err = NULL;

	va_start(ap, fmt);
	xvasprintf(&sql, fmt, ap);
	va_end(ap);
	if (sqlite3_exec(st->m, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("model SQL: %s\n%s", err, sql);
	free(sql);
}

static long long
qi(struct state *st, const char *sql)
{
	return q_int(st->m, sql);
}

/*
 * Print the rows of a query (up to MAX_SHOWN) as failures, each prefixed
 * by what; returns how many rows there were.
 */
static long long
report(struct state *st, const char *what, const char *sql)
{
	sqlite3_stmt *q;
	long long     n = 0;
	char	      line[2048];
	size_t	      len;
	int	      i, rc;

	if (sqlite3_prepare_v2(st->m, sql, -1, &q, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(st->m));
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (n++ >= MAX_SHOWN)
			continue;
		line[0] = '\0';
		for (i = 0; i < sqlite3_column_count(q); i++) {
			len = strlen(line);
			snprintf(line + len, sizeof(line) - len, "%s%s=%s",
			    i > 0 ? " " : "", sqlite3_column_name(q, i),
			    sqlite3_column_text(q, i) != NULL ?
				(const char *)sqlite3_column_text(q, i) :
				"NULL");
		}
		bad(st, "%s: %s", what, line);
	}
	if (rc != SQLITE_DONE)
		fail_msg("%s: %s", sql, sqlite3_errmsg(st->m));
	sqlite3_finalize(q);
	if (n > 0)
		kind(st, what);
	if (n > MAX_SHOWN)
		bad(st, "%s: ... %lld in all", what, n);
	return n;
}

/* The scenario of a seed. */
static void
scenario(struct scen *sc, struct rng *r)
{
	static const char *const prefixes[] = { "oai_dc", "qdc", "rdc" };
	static const char *const styles[] = { "canonical", "millis", "compact",
		"offset" };
	static const int	 statuses[] = { 200, 200, 400, 404, 422, 500 };
	char			 cand[8][16];
	int			 i, j, n, k;

	sc->nprefixes = 1 + below(r, (int)nitems(prefixes));
	k = below(r, (int)nitems(prefixes));
	for (i = 0; i < sc->nprefixes; i++)
		sc->prefixes[i] = prefixes[(i + k) % nitems(prefixes)];
	sc->server_sets = 2 + below(r, 3);
	/* 0-3 sets, or the whole repository and sets besides. */
	sc->nsets = below(r, 4);
	sc->whole = sc->nsets == 0 || below(r, 4) == 0;
	n = 0;
	for (i = 0; i < sc->server_sets; i++)
		snprintf(cand[n++], sizeof(cand[0]), "col_%d", i);
	snprintf(cand[n++], sizeof(cand[0]), "com_3");
	for (i = 0; i < sc->nsets; i++) {
		j = i + below(r, n - i);
		memcpy(sc->sets[i], cand[j], sizeof(sc->sets[i]));
		if (j != i)
			memcpy(cand[j], cand[i], sizeof(cand[0]));
	}
	sc->records = 20 + below(r, 100);
	sc->page = 5 + below(r, 30);
	sc->deleted_every = 3 + below(r, 6);
	sc->window = below(r, 4) == 0 ? "year" : NULL;
	sc->ds_style = below(r, 2) == 0 ? "canonical" :
					  styles[below(r, (int)nitems(styles))];
	/* millis and offset are forms of seconds; compact is a day. */
	k = below(r, 6);
	sc->gran = strcmp(sc->ds_style, "compact") == 0 ||
		(strcmp(sc->ds_style, "canonical") == 0 && k == 0) ?
	    "day" :
	    "seconds";
	sc->error_status = statuses[below(r, (int)nitems(statuses))];
	sc->rounds = 3 + below(r, MAX_ROUNDS - 2);
	sc->delay_ms = 1 + below(r, 4);
	sc->faults = below(r, 3) == 0;
	/*
	 * No overlap: a list with nothing new since the last harvest gets
	 * noRecordsMatch (with the default 5 minutes, this test's changes of
	 * a minute ago always come again).
	 */
	sc->overlap0 = below(r, 2) == 0;
	/* Rarer forms of seconds (drawn last: earlier seeds stay as they were). */
	k = below(r, 6);
	if (strcmp(sc->gran, "seconds") == 0 &&
	    strcmp(sc->ds_style, "canonical") != 0 && k < 2)
		sc->ds_style = k == 0 ? "space" : "plus2";
	if (avoid[1]) {
		sc->nprefixes = 1;
		if (sc->whole)
			sc->nsets = 0;
		else
			sc->nsets = 1;
	}
	if (avoid[3])
		sc->error_status = 200;
	if (avoid[5])
		sc->ds_style = "canonical";
}

static void
describe(struct state *st, char *out, size_t len)
{
	const struct scen *sc = &st->sc;
	size_t		   o;
	int		   i;

	o = (size_t)snprintf(out, len, "prefixes=");
	for (i = 0; i < sc->nprefixes && o < len; i++)
		o += (size_t)snprintf(
		    out + o, len - o, "%s%s", i ? "," : "", sc->prefixes[i]);
	if (o < len)
		o += (size_t)snprintf(
		    out + o, len - o, " lists=%s", sc->whole ? "(all)" : "");
	for (i = 0; i < sc->nsets && o < len; i++)
		o += (size_t)snprintf(out + o, len - o, "%s%s",
		    i || sc->whole ? "," : "", sc->sets[i]);
	if (o < len)
		snprintf(out + o, len - o,
		    " records=%d sets=%d page=%d "
		    "deleted_every=%d window=%s datestamps=%s granularity=%s "
		    "error_status=%d rounds=%d",
		    sc->records, sc->server_sets, sc->page, sc->deleted_every,
		    sc->window ? sc->window : "-", sc->ds_style, sc->gran,
		    sc->error_status, sc->rounds);
	o = strlen(out);
	if (o < len)
		snprintf(out + o, len - o, " overlap=%s faults=%s",
		    sc->overlap0 ? "0" : "5m", sc->faults ? "yes" : "no");
}

/* Is a record with these sets in a harvested list? */
static int
harvested(const struct state *st, int coll, int com)
{
	char spec[16];
	int  i;

	if (st->sc.whole)
		return 1;
	snprintf(spec, sizeof(spec), "col_%d", coll);
	for (i = 0; i < st->sc.nsets; i++)
		if (strcmp(st->sc.sets[i], spec) == 0 ||
		    (com && strcmp(st->sc.sets[i], "com_3") == 0))
			return 1;
	return 0;
}

/*
 * The server stamps a change with the current time, or the latest
 * datestamp plus a second when several come in one second: remember the
 * latest, so that the harvest waits until it is no longer in the future
 * (a repository's datestamps are not later than its clock).
 */
static void
track(struct state *st, const char *reply)
{
	const char *p;
	char	    ds[DATESTAMP_LEN];
	time_t	    t;

	if ((p = strstr(reply, "\"datestamp\":\"")) == NULL)
		return;
	/* Seconds in any style: 2021-03-11T05:00:00 and a Z. */
	snprintf(ds, sizeof(ds), "%.19sZ", p + 13);
	if (datestamp_parse(ds, &t, NULL) == -1)
		return; /* a day: the harvest asks for whole days */
	if (t > st->max_ds)
		st->max_ds = t;
}

static void post(struct state *st, const char *fmt, ...) __printflike(2, 3);

static void
post(struct state *st, const char *fmt, ...)
{
	va_list ap;
	char   *p, *body;

	va_start(ap, fmt);
	xvasprintf(&p, fmt, ap);
	va_end(ap);
	body = http(&st->srv, 1, p);
	track(st, body);
	free(body);
	free(p);
}

static void note(struct state *st, const char *fmt, ...) __printflike(2, 3);

static void
note(struct state *st, const char *fmt, ...)
{
	va_list ap;
	size_t	o = strlen(st->what);

	if (o + 2 >= sizeof(st->what))
		return;
	if (o > 0)
		st->what[o++] = ' ';
	va_start(ap, fmt);
	vsnprintf(st->what + o, sizeof(st->what) - o, fmt, ap);
	va_end(ap);
}

/* A random record index that is not purged, or 0. */
static int
pick(struct state *st, int want_deleted)
{
	int i, k;

	for (k = 0; k < 50; k++) {
		i = 1 + below(&st->r, st->nrecs);
		if (st->recs[i].purged)
			continue;
		if (want_deleted >= 0 && st->recs[i].deleted != want_deleted)
			continue;
		return i;
	}
	return 0;
}

/* Random changes to the repository between two harvests. */
static void
mutate(struct state *st)
{
	int n, k, i, j, add, purged = 0;

	for (i = 1; i <= st->nrecs; i++)
		purged += st->recs[i].purged;
	/*
	 * None at times (then every list is empty without the overlap); fewer
	 * with windows: the harvest waits for the latest datestamp.
	 */
	n = below(&st->r, 5) == 0 ?
	    0 :
	    1 + below(&st->r, st->sc.window != NULL ? 3 : 8);
	for (k = 0; k < n; k++) {
		switch (below(&st->r, 8)) {
		case 0:
			add = 1 + below(&st->r, 3);
			if (st->nrecs + add > MAX_RECS)
				break;
			post(st, "/control/add?n=%d", add);
			for (j = 0; j < add; j++) {
				st->nrecs++;
				st->recs[st->nrecs].deleted = 0;
				st->recs[st->nrecs].purged = 0;
				st->recs[st->nrecs].coll =
				    st->nrecs % st->sc.server_sets;
			}
			note(st, "add=%d", add);
			break;
		case 1:
		case 2:
			if ((i = pick(st, 0)) == 0)
				break;
			post(st, "/control/update?id=%d", i);
			note(st, "update=%d", i);
			break;
		case 3:
			if ((i = pick(st, -1)) == 0)
				break;
			post(st, "/control/touch?id=%d", i);
			note(st, "touch=%d", i);
			break;
		case 4:
			if ((i = pick(st, 0)) == 0)
				break;
			post(st, "/control/delete?id=%d", i);
			st->recs[i].deleted = 1;
			note(st, "delete=%d", i);
			break;
		case 5:
			if ((i = pick(st, 1)) == 0)
				break;
			post(st, "/control/undelete?id=%d", i);
			st->recs[i].deleted = 0;
			note(st, "undelete=%d", i);
			break;
		case 6:
			/* Few: a sweep missing half the list deletes none. */
			if (purged * 8 >= st->nrecs || (i = pick(st, -1)) == 0)
				break;
			post(st, "/control/purge?id=%d", i);
			st->recs[i].purged = 1;
			purged++;
			note(st, "purge=%d", i);
			break;
		case 7:
			/* A live record: a tombstone's sets matter to none. */
			if ((i = pick(st, 0)) == 0)
				break;
			j = below(&st->r, st->sc.server_sets);
			/* Only where a harvest can see it: see the top. */
			if (j == st->recs[i].coll ||
			    !harvested(st, j, i % 3 == 0))
				break;
			post(st, "/control/move?id=%d&set=col_%d", i, j);
			st->recs[i].coll = j;
			note(st, "move=%d:col_%d", i, j);
			break;
		}
	}
	if (!avoid[4] && below(&st->r, 2) == 0) {
		k = 1 + below(&st->r, 1000);
		post(st, "/control/xml-style?n=%d", k);
		note(st, "xml-style=%d", k);
	}
	/*
	 * An OAI error in the middle of a list, under the scenario's HTTP
	 * status: an expired token (badResumptionToken), or noRecordsMatch
	 * for a token; the list starts again from its from.
	 */
	if (st->sc.faults && !st->sweep && below(&st->r, 2) == 0) {
		k = below(&st->r, 2);
		post(st, "/control/fault?kind=%s&page=1",
		    k ? "expire_token" : "past_end");
		note(st, "fault=%s", k ? "expire_token" : "past_end");
	}
	/*
	 * With windows, the last one ends at the repository's clock: wait
	 * until no datestamp is in the future (bounded: 3 changes a round).
	 */
	for (k = 0; st->sc.window != NULL && k < 20 && time(NULL) <= st->max_ds;
	     k++)
		usleep(250 * 1000);
}

static char *
harvest_cmd(struct state *st)
{
	struct buf b;
	char	  *cmd;
	int	   i;

	buf_init(&b, 4096);
	buf_printf(&b,
	    "%s/oaiharvest harvest --db %s --url "
	    "http://127.0.0.1:%d/oai --source m --retry-wait 10",
	    bindir, st->db, st->srv.port);
	for (i = 0; i < st->sc.nprefixes; i++)
		buf_printf(&b, " --prefix %s", st->sc.prefixes[i]);
	/* The whole repository besides sets: a list with no set. */
	if (st->sc.whole && st->sc.nsets > 0)
		buf_printf(&b, " --set ''");
	for (i = 0; i < st->sc.nsets; i++)
		buf_printf(&b, " --set %s", st->sc.sets[i]);
	if (st->sc.window != NULL)
		buf_printf(&b, " --window %s", st->sc.window);
	if (st->sc.overlap0)
		buf_printf(&b, " --overlap 0");
	if (st->sweep)
		buf_printf(&b, " --sweep");
	if (getenv("OH_MODEL_KEEP") != NULL)
		buf_printf(&b, " -vv");
	cmd = xstrdup(buf_str(&b));
	buf_free(&b);
	return cmd;
}

static double
now_secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A harvest killed with SIGKILL somewhere in its run. */
static void
killed_harvest(struct state *st, const char *cmd)
{
	char	 *full;
	pid_t	  pid;
	long long ms, span;

	span = st->last_secs > 0.05 ? (long long)(st->last_secs * 1000) : 400;
	ms = 5 + (long long)(rnd(&st->r) % (uint64_t)span);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		xasprintf(&full, "exec %s >>%s/killed.log 2>&1", cmd, tmpdir);
		execl("/bin/sh", "sh", "-c", full, (char *)NULL);
		_exit(127);
	}
	usleep((useconds_t)ms * 1000);
	if (waitpid(pid, NULL, WNOHANG) == pid)
		return;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	st->kills++;
}

/* Load the server's truth into table truth (replaced). */
static void
load_truth(struct state *st)
{
	char *dump;

	exec_sql(st,
	    "DROP TABLE IF EXISTS truth_j; DROP TABLE IF EXISTS "
	    "truth");
	dump = http(&st->srv, 0, "/control/dump");
	load_jsonl(st->m, "truth_j", dump);
	free(dump);
	exec_sql(st,
	    "CREATE TABLE truth AS SELECT j->>'identifier' AS id, "
	    "j->>'datestamp' AS ds, j->>'deleted' AS deleted, "
	    "json(j->'sets') AS sets, json(j->'dc') AS dc FROM truth_j");
}

/*
 * The store the model expects now: every record of a harvested list as the
 * server has it, for each prefix; what the store held and no list has any
 * more (purged) as it was, deleted by a sweep.
 */
static void
expect_store(struct state *st)
{
	int i;

	exec_sql(st, "DELETE FROM hsets");
	for (i = 0; i < st->sc.nsets; i++)
		exec_sql(st, "INSERT INTO hsets VALUES ('%s')", st->sc.sets[i]);
	exec_sql(st,
	    "DROP TABLE IF EXISTS expect; CREATE TABLE expect AS "
	    "SELECT p.prefix, t.id, t.deleted, t.ds, t.sets, t.dc, 0 AS swept "
	    "FROM prefixes p, truth t WHERE %d OR EXISTS (SELECT 1 FROM "
	    "json_each(t.sets) s JOIN hsets h ON h.spec = s.value)",
	    st->sc.whole);
	exec_sql(st,
	    "INSERT INTO expect SELECT m.prefix, m.id, "
	    "CASE WHEN %d THEN 1 ELSE m.deleted END, m.ds, m.sets, m.dc, "
	    "m.swept OR (%d AND m.deleted = 0) FROM model m WHERE NOT EXISTS "
	    "(SELECT 1 FROM expect e WHERE e.prefix = m.prefix AND "
	    "e.id = m.id)",
	    st->sweep && st->sc.whole, st->sweep && st->sc.whole);
	/* The diff: the change rows this round must have made. */
	exec_sql(st,
	    "DROP TABLE IF EXISTS diff; CREATE TABLE diff AS "
	    "SELECT e.prefix, e.id, CASE "
	    "WHEN e.deleted = 0 AND (m.id IS NULL OR m.deleted = 1) THEN 'new' "
	    "WHEN e.deleted = 1 AND m.deleted = 0 THEN 'deleted' "
	    "WHEN e.deleted = 0 AND (m.dc IS NOT e.dc OR m.sets IS NOT e.sets) "
	    "THEN 'updated' END AS kind, e.ds, e.swept FROM expect e "
	    "LEFT JOIN model m ON m.prefix = e.prefix AND m.id = e.id; "
	    "DELETE FROM diff WHERE kind IS NULL");
}

/* (a): the store equals the model's expectation. */
static void
check_store(struct state *st)
{
	exec_sql(st,
	    "DROP TABLE IF EXISTS got; CREATE TABLE got AS "
	    "SELECT r.prefix, r.identifier AS id, r.deleted, "
	    "r.datestamp AS ds, "
	    "json(r.sets) AS sets, r.id AS rid FROM h.record r JOIN h.source s "
	    "ON s.id = r.source_id WHERE s.name = 'm'");
	report(st, "record missing from the store",
	    "SELECT e.prefix, e.id, "
	    "e.deleted, e.ds AS datestamp FROM expect e WHERE NOT EXISTS "
	    "(SELECT 1 FROM got g WHERE g.prefix = e.prefix AND g.id = e.id) "
	    "ORDER BY 1, 2");
	report(st, "record in the store the repository does not have",
	    "SELECT g.prefix, g.id, g.deleted, g.ds AS datestamp FROM got g "
	    "WHERE NOT EXISTS (SELECT 1 FROM expect e WHERE "
	    "e.prefix = g.prefix AND e.id = g.id) ORDER BY 1, 2");
	report(st, "record differs (expected vs got)",
	    "SELECT e.prefix, e.id, "
	    "e.deleted AS exp_deleted, g.deleted AS got_deleted, "
	    "e.ds AS exp_datestamp, g.ds AS got_datestamp, e.sets AS exp_sets, "
	    "g.sets AS got_sets FROM expect e JOIN got g ON "
	    "g.prefix = e.prefix AND g.id = e.id WHERE e.deleted != g.deleted "
	    "OR (NOT e.swept AND e.ds != g.ds) OR (NOT e.swept AND "
	    "e.sets != g.sets) ORDER BY 1, 2");
	/* oai_dc's DC values, element by element, in order. */
	exec_sql(st,
	    "DROP TABLE IF EXISTS dc_exp; CREATE TABLE dc_exp AS "
	    "SELECT e.id, el.key AS element, v.key AS n, v.value "
	    "FROM expect e, "
	    "json_each(e.dc) el, json_each(el.value) v WHERE "
	    "e.prefix = 'oai_dc' AND e.deleted = 0; "
	    "DROP TABLE IF EXISTS dc_got; CREATE TABLE dc_got AS "
	    "SELECT g.id, d.element, row_number() OVER (PARTITION BY "
	    "d.record_id, d.element ORDER BY d.position) - 1 AS n, d.value "
	    "FROM got g JOIN h.dc d ON d.record_id = g.rid WHERE "
	    "g.prefix = 'oai_dc'");
	report(st, "oai_dc value expected, not in the store",
	    "SELECT id, "
	    "element, n, value FROM (SELECT * FROM dc_exp EXCEPT "
	    "SELECT * FROM dc_got) ORDER BY 1, 2, 3");
	report(st, "oai_dc value in the store, not in the repository",
	    "SELECT id, element, n, value FROM (SELECT * FROM dc_got EXCEPT "
	    "SELECT * FROM dc_exp) ORDER BY 1, 2, 3");
}

/*
 * The store agrees with itself: SQLite's and FTS5's integrity checks,
 * content exactly for present records, record_set as record.sets says.
 */
static void
check_consistency(struct state *st)
{
	char *err = NULL;

	report(st, "database integrity_check",
	    "SELECT integrity_check FROM "
	    "h.pragma_integrity_check WHERE integrity_check != 'ok'");
	if (sqlite3_exec(st->m,
		"INSERT INTO h.record_fts(record_fts) "
		"VALUES ('integrity-check')",
		NULL, NULL, &err) != SQLITE_OK) {
		bad(st, "full-text index integrity-check: %s", err);
		kind(st, "full-text index integrity-check");
		sqlite3_free(err);
	}
	report(st, "content for a deleted record, or none for a present one",
	    "SELECT g.prefix, g.id, g.deleted FROM got g WHERE g.deleted = "
	    "EXISTS (SELECT 1 FROM h.content c WHERE c.record_id = g.rid) "
	    "ORDER BY 1, 2");
	report(st, "record_set disagrees with record.sets",
	    "SELECT g.prefix, "
	    "g.id, g.sets, (SELECT json_group_array(setspec) FROM (SELECT "
	    "setspec FROM h.record_set s WHERE s.record_id = g.rid ORDER BY "
	    "position)) AS record_set FROM got g WHERE g.sets != (SELECT "
	    "json_group_array(setspec) FROM (SELECT setspec FROM h.record_set "
	    "s WHERE s.record_id = g.rid ORDER BY position)) ORDER BY 1, 2");
}

/* (b): the change rows since the last check equal the diff. */
static void
check_changes(struct state *st)
{
	exec_sql(st,
	    "DROP TABLE IF EXISTS ch; CREATE TABLE ch AS SELECT "
	    "c.prefix, c.identifier AS id, c.kind, c.datestamp AS ds, c.seq "
	    "FROM h.change c JOIN h.source s ON s.id = c.source_id WHERE "
	    "s.name = 'm' AND c.seq > %lld",
	    st->last_seq);
	report(st, "change row missing",
	    "SELECT d.prefix, d.id, d.kind, "
	    "d.ds AS datestamp FROM diff d WHERE NOT EXISTS (SELECT 1 FROM ch "
	    "WHERE ch.prefix = d.prefix AND ch.id = d.id AND ch.kind = d.kind) "
	    "ORDER BY 1, 2");
	report(st, "change row the model does not expect (false change)",
	    "SELECT ch.seq, ch.prefix, ch.id, ch.kind, ch.ds AS datestamp, "
	    "m.deleted AS before_deleted, m.ds AS before_datestamp, "
	    "e.deleted AS now_deleted, e.ds AS now_datestamp, "
	    "(m.dc IS e.dc) AS same_dc, (m.sets IS e.sets) AS same_sets "
	    "FROM ch LEFT JOIN model m ON m.prefix = ch.prefix AND "
	    "m.id = ch.id LEFT JOIN expect e ON e.prefix = ch.prefix AND "
	    "e.id = ch.id WHERE NOT EXISTS (SELECT 1 FROM diff d WHERE "
	    "d.prefix = ch.prefix AND d.id = ch.id AND d.kind = ch.kind) "
	    "ORDER BY 1");
	report(st, "more than one change row for one change",
	    "SELECT prefix, "
	    "id, kind, count(*) AS rows FROM ch GROUP BY 1, 2, 3 "
	    "HAVING count(*) > 1 ORDER BY 1, 2");
	/* As sent, or in the normalized UTC form (20210311: 2021-03-11). */
	report(st, "change row with another datestamp than the record's",
	    "SELECT ch.seq, ch.prefix, ch.id, ch.kind, ch.ds AS got, "
	    "d.ds AS expected FROM ch JOIN diff d ON d.prefix = ch.prefix AND "
	    "d.id = ch.id AND d.kind = ch.kind WHERE NOT d.swept AND "
	    "ch.ds != d.ds AND ch.ds IS NOT CASE WHEN length(d.ds) = 8 THEN "
	    "substr(d.ds, 1, 4) || '-' || substr(d.ds, 5, 2) || '-' || "
	    "substr(d.ds, 7, 2) WHEN length(d.ds) = 10 THEN d.ds ELSE "
	    "strftime('%Y-%m-%dT%H:%M:%SZ', d.ds) END ORDER BY 1");
}

/*
 * The runs' counts: new, updated, deleted as the diff, summed over the
 * runs since the last check when none of them was killed (one that failed
 * or was killed may not have written its counts); in the first run, when
 * it completed, unchanged only for records listed twice (in two harvested
 * sets), never for tombstones.
 */
static void
check_counts(struct state *st, int first)
{
	char	 *sql;
	long long dups;

	xasprintf(&sql,
	    "SELECT count(*) FROM h.run WHERE id > %lld AND "
	    "status != 'ok'",
	    st->last_run);
	if (qi(st, sql) > 0) {
		free(sql);
		goto first;
	}
	free(sql);
	xasprintf(&sql,
	    "SELECT r.runs, r.new, d.new AS exp_new, "
	    "r.updated, d.updated AS exp_updated, r.deleted, "
	    "d.deleted AS exp_deleted FROM (SELECT group_concat(id) AS runs, "
	    "sum(new) AS new, sum(updated) AS updated, sum(deleted) AS deleted "
	    "FROM h.run WHERE id > %lld) r, (SELECT "
	    "count(*) FILTER (WHERE kind = 'new') AS new, "
	    "count(*) FILTER (WHERE kind = 'updated') AS updated, "
	    "count(*) FILTER (WHERE kind = 'deleted') AS deleted FROM diff) d "
	    "WHERE r.new != d.new OR r.updated != d.updated OR "
	    "r.deleted != d.deleted",
	    st->last_run);
	report(st, "the run's counts are not the changes it made", sql);
	free(sql);
first:
	if (!first || st->sc.window != NULL || avoid[10])
		return;
	/* Receptions beyond the first of a (prefix, identifier). */
	dups = qi(st,
	    "SELECT (SELECT count(*) FROM prefixes p, truth t, "
	    "(SELECT spec FROM hsets UNION ALL SELECT NULL WHERE "
	    "(SELECT whole FROM conf)) l WHERE l.spec IS NULL OR EXISTS "
	    "(SELECT 1 FROM json_each(t.sets) s WHERE s.value = l.spec)) - "
	    "(SELECT count(*) FROM expect)");
	xasprintf(&sql,
	    "SELECT r.id AS run, r.unchanged, %lld AS "
	    "listed_twice, (SELECT count(*) FROM expect WHERE deleted = 1) AS "
	    "tombstones FROM h.run r WHERE r.id = 1 AND r.status = 'ok' AND "
	    "r.unchanged > %lld",
	    dups, dups);
	report(
	    st, "a first harvest counts as unchanged what it never had", sql);
	free(sql);
}

/* (c): every list complete; every list of a later harvest asks with from. */
static void
check_lists(struct state *st, const char *requests, int later)
{
	report(st,
	    "list not complete after the harvest (no watermark, or a "
	    "token left)",
	    "SELECT l.prefix, l.spec AS setspec, "
	    "s.watermark, s.token FROM lists l LEFT JOIN h.list_state s ON "
	    "s.prefix = l.prefix AND s.setspec = l.spec AND s.source_id = "
	    "(SELECT id FROM h.source WHERE name = 'm') WHERE "
	    "s.watermark IS NULL OR s.token IS NOT NULL ORDER BY 1, 2");
	if (!later)
		return;
	exec_sql(st, "DROP TABLE IF EXISTS rq_j; DROP TABLE IF EXISTS rq");
	load_jsonl(st->m, "rq_j", requests);
	exec_sql(st,
	    "CREATE TABLE rq AS SELECT j->>'verb' AS verb, "
	    "j->>'metadataPrefix' AS prefix, coalesce(j->>'set', '') AS spec, "
	    "j->>'from' AS from_, j->>'resumptionToken' AS token, "
	    "j->>'truncated' AS truncated FROM rq_j");
	report(st,
	    "a list of a later harvest asks without from (harvested "
	    "in full again)",
	    "SELECT DISTINCT prefix, spec AS setspec FROM rq "
	    "WHERE verb = 'ListRecords' AND token IS NULL AND from_ IS NULL "
	    "ORDER BY 1, 2");
	report(st, "request log truncated",
	    "SELECT 1 FROM rq WHERE "
	    "truncated");
}

/*
 * OH_MODEL_KEEP=DIR: the harvest's log (-vv), its requests and a copy of
 * the database after every round, as DIR/seed-S-round-R.{err,requests,db}.
 */
static void
keep(struct state *st, const char *requests)
{
	const char *dir = getenv("OH_MODEL_KEEP");
	char	   *p, *cmd;
	FILE	   *f;

	xasprintf(&p, "%s/seed-%llu-round-%d", dir,
	    (unsigned long long)st->sc.seed, st->round);
	xasprintf(&cmd, "cp %s/h.err %s.err && sqlite3 %s '.backup %s.db'",
	    tmpdir, p, st->db, p);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot keep %s\n", p);
	free(cmd);
	xasprintf(&cmd, "%s.requests", p);
	if ((f = fopen(cmd, "w")) != NULL) {
		fputs(requests, f);
		fclose(f);
	}
	free(cmd);
	free(p);
}

/* One round: changes, a harvest (perhaps killed and resumed), checks. */
static void
round_run(struct state *st)
{
	char  *cmd, *err, *requests;
	double t0;
	int    rc, k, nkills, first = st->round == 0;

	st->what[0] = '\0';
	st->kills = 0;
	st->sweep = !first && st->sc.whole && below(&st->r, 3) == 0;
	if (st->sweep)
		note(st, "sweep");
	if (!first)
		mutate(st);
	free(http(&st->srv, 0, "/control/requests"));
	cmd = harvest_cmd(st);
	nkills = below(&st->r, 3) == 0 ? 1 + below(&st->r, MAX_KILLS) : 0;
	for (k = 0; k < nkills; k++)
		killed_harvest(st, cmd);
	if (st->kills > 0)
		note(st, "sigkills=%d", st->kills);
	if (st->what[0] == '\0')
		note(st, first ? "first harvest" : "no changes");
	t0 = now_secs();
	rc = run("h.out", "h.err", "%s", cmd);
	if (st->kills == 0)
		st->last_secs = now_secs() - t0;
	if (getenv("OH_MODEL_VERBOSE") != NULL)
		print_message("model: seed=%llu round=%d harvest %.2f s (%s)\n",
		    (unsigned long long)st->sc.seed, st->round, now_secs() - t0,
		    st->what);
	requests = http(&st->srv, 0, "/control/requests");
	/* A fault no page came to does not outlive its round. */
	post(st, "/control/clear-faults");
	if (getenv("OH_MODEL_KEEP") != NULL)
		keep(st, requests);
	if (rc != 0) {
		err = read_tmp("h.err");
		bad(st, "harvest exited %d: %s", rc, err);
		kind(st, "harvest failed");
		free(err);
		free(cmd);
		free(requests);
		/*
		 * The model cannot go on: the next round's changes would
		 * mix with what this run committed.
		 */
		st->stop = 1;
		return;
	}
	free(cmd);

	load_truth(st);
	exec_sql(st, "ATTACH '%s' AS h", st->db);
	expect_store(st);
	check_store(st);
	check_consistency(st);
	check_changes(st);
	check_counts(st, first);
	check_lists(st, requests, !first);
	free(requests);
	st->last_seq = qi(st, "SELECT coalesce(max(seq), 0) FROM h.change");
	st->last_run = qi(st, "SELECT coalesce(max(id), 0) FROM h.run");
	exec_sql(st, "DETACH h");
	exec_sql(st,
	    "DELETE FROM model; INSERT INTO model SELECT * FROM "
	    "expect");
}

static void
run_seed(uint64_t seed, int verbose)
{
	struct state *st;
	char	      desc[512], *args, name[64];
	int	      i;

	st = xcalloc(1, sizeof(*st));
	st->sc.seed = seed;
	st->r.s = seed * 0x2545f4914f6cdd1dULL + 1;
	scenario(&st->sc, &st->r);
	describe(st, desc, sizeof(desc));
	if (getenv("OH_MODEL_LIST") != NULL) {
		/* The scenarios only, to choose seeds. */
		print_message(
		    "model: seed=%llu %s\n", (unsigned long long)seed, desc);
		free(st);
		return;
	}
	if (verbose)
		print_message(
		    "model: seed=%llu %s\n", (unsigned long long)seed, desc);
	xasprintf(&args,
	    "--records %d --page-size %d --sets %d "
	    "--deleted-every %d --seed %llu --datestamp-style %s "
	    "--granularity %s --error-status %d --delay-ms %d",
	    st->sc.records, st->sc.page, st->sc.server_sets,
	    st->sc.deleted_every, (unsigned long long)seed, st->sc.ds_style,
	    st->sc.gran, st->sc.error_status, st->sc.delay_ms);
	snprintf(
	    name, sizeof(name), "model-%llu.port", (unsigned long long)seed);
	start_server(&st->srv, name, args);
	free(args);
	st->nrecs = st->sc.records;
	for (i = 1; i <= st->nrecs; i++) {
		st->recs[i].deleted = i % st->sc.deleted_every == 0;
		st->recs[i].coll = i % st->sc.server_sets;
	}
	snprintf(name, sizeof(name), "model-%llu.db", (unsigned long long)seed);
	st->db = path(name);

	assert_int_equal(sqlite3_open(":memory:", &st->m), SQLITE_OK);
	exec_sql(st,
	    "CREATE TABLE model (prefix TEXT, id TEXT, deleted INT, "
	    "ds TEXT, sets TEXT, dc TEXT, swept INT); "
	    "CREATE TABLE prefixes (prefix TEXT); "
	    "CREATE TABLE hsets (spec TEXT); "
	    "CREATE TABLE lists (prefix TEXT, spec TEXT); "
	    "CREATE TABLE conf (whole INT); INSERT INTO conf VALUES (%d)",
	    st->sc.whole);
	for (i = 0; i < st->sc.nprefixes; i++) {
		exec_sql(st, "INSERT INTO prefixes VALUES ('%s')",
		    st->sc.prefixes[i]);
		if (st->sc.whole)
			exec_sql(st, "INSERT INTO lists VALUES ('%s', '')",
			    st->sc.prefixes[i]);
	}
	for (i = 0; i < st->sc.nsets; i++)
		exec_sql(st,
		    "INSERT INTO lists SELECT prefix, '%s' FROM "
		    "prefixes",
		    st->sc.sets[i]);

	for (st->round = 0; st->round < st->sc.rounds &&
	     (!st->failed || keep_going) && !st->stop;
	     st->round++)
		round_run(st);
	if (st->failed) {
		fprintf(stderr, "  seed=%llu scenario: %s\n",
		    (unsigned long long)seed, desc);
		print_message("model: seed=%llu failures: %s\n",
		    (unsigned long long)seed, st->kinds);
		seeds_failed++;
	}
	sqlite3_close(st->m);
	stop_server(&st->srv);
	unlink(st->db);
	free(st->db);
	free(st);
}

static uint64_t
env_num(const char *name, uint64_t def)
{
	const char	  *v = getenv(name);
	unsigned long long n;
	char		  *end;

	if (v == NULL || *v == '\0')
		return def;
	n = strtoull(v, &end, 10);
	if (*end != '\0')
		fail_msg("%s=%s is not a number", name, v);
	return n;
}

static void
test_model(void **state)
{
	uint64_t    base, n, i;
	int	    verbose = getenv("OH_MODEL_VERBOSE") != NULL;
	double	    t0 = now_secs();
	const char *v, *p;
	char	   *end;
	long	    item;

	keep_going = getenv("OH_MODEL_KEEP_GOING") != NULL;
	if ((v = getenv("OH_MODEL_AVOID")) != NULL)
		for (p = v; *p != '\0'; p = *end == ',' ? end + 1 : end) {
			item = strtol(p, &end, 10);
			if (end == p || item < 1 || item >= (long)nitems(avoid))
				fail_msg("OH_MODEL_AVOID=%s: item numbers, "
					 "commas between",
				    v);
			avoid[item] = 1;
		}
	if (getenv("OH_MODEL_SEED") != NULL) {
		base = env_num("OH_MODEL_SEED", 1);
		n = 1;
		verbose = 1;
	} else if (getenv("OH_MODEL_SEEDS") != NULL ||
	    getenv("OH_MODEL_SEED_BASE") != NULL) {
		base = env_num("OH_MODEL_SEED_BASE", 1);
		n = env_num("OH_MODEL_SEEDS", 100);
	} else {
		for (i = 0; i < nitems(check_seeds); i++)
			run_seed(check_seeds[i], verbose);
		base = 0;
		n = 0;
	}
	for (i = 0; i < n; i++)
		run_seed(base + i, verbose);
	if (n == 0)
		n = nitems(check_seeds);
	print_message("model: %llu seeds, %d failed, %.1f s\n",
	    (unsigned long long)n, seeds_failed, now_secs() - t0);
	if (seeds_failed > 0)
		fail_msg("%d of %llu seeds failed", seeds_failed,
		    (unsigned long long)n);
}

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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_model),
	};

	return cmocka_run_group_tests_name("model", tests, setup, teardown);
}
