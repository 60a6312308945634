/*
 * Leases on SQLite (store.h, "Leases"): several oaiharvestd on one machine
 * sharing one database file in WAL mode.  Each operation is one
 * transaction that takes the write lock (BEGIN IMMEDIATE), so takes and
 * renewals of different processes are serialized; store_lease_held() runs
 * inside the page transaction, which holds the write lock until its
 * commit, so that no other daemon can take the host between the check
 * and the commit.  The clock is this machine's (every process that opens
 * the file runs on it).
 *
 * The statements are written to port: PostgreSQL runs the same upsert
 * with clock_timestamp() for ?4, and the check with FOR SHARE on the
 * lease row (a take's UPDATE then waits for the page's commit).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sqlite.h"

enum lease_query {
	LQ_BEGIN,
	LQ_COMMIT,
	LQ_PEEK,
	LQ_TAKE,
	LQ_RENEW,
	LQ_NODE,
	LQ_NODE_GC,
	LQ_RELEASE,
	LQ_NODE_DEL,
	LQ_HELD,
	LQ_LIST,
	LQ_NODES,
	LQ_OUTBOX,
	LQ_COUNT
};

static const struct sqlite_query lease_queries[LQ_COUNT] = {
	[LQ_BEGIN] = { "lease begin", "BEGIN IMMEDIATE" },
	[LQ_COMMIT] = { "lease commit", "COMMIT" },
	[LQ_PEEK] = { "lease peek",
	    "SELECT holder, expires_ms FROM lease WHERE host = ?1" },
	/*
	 * Free, expired or ours: ours now.  The holder changes: one more
	 * gen, so that pages fenced by the last one are refused.
	 */
	[LQ_TAKE] = { "lease take",
	    "INSERT INTO lease (host, holder, node, gen, expires_ms, next_ms)"
	    " VALUES (?1, ?2, ?3, 1, ?4 + ?5, 0)"
	    " ON CONFLICT (host) DO UPDATE SET holder = excluded.holder,"
	    " node = excluded.node,"
	    " gen = CASE WHEN lease.holder = excluded.holder THEN lease.gen"
	    " ELSE lease.gen + 1 END,"
	    " expires_ms = excluded.expires_ms"
	    " WHERE lease.holder IS NULL OR lease.holder = excluded.holder"
	    " OR lease.expires_ms <= ?4"
	    " RETURNING gen, expires_ms, next_ms" },
	[LQ_RENEW] = { "lease renew",
	    "UPDATE lease SET expires_ms = ?2 + ?3, node = ?4"
	    " WHERE holder = ?1 RETURNING host, gen" },
	[LQ_NODE] = { "lease node",
	    "INSERT INTO node (id, name, started_ms, expires_ms)"
	    " VALUES (?1, ?2, ?3, ?3 + ?4)"
	    " ON CONFLICT (id) DO UPDATE SET name = excluded.name,"
	    " expires_ms = excluded.expires_ms" },
	[LQ_NODE_GC] = { "lease node gc",
	    "DELETE FROM node WHERE expires_ms < ?1" },
	[LQ_RELEASE] = { "lease release",
	    "UPDATE lease SET holder = NULL, node = NULL, expires_ms = 0,"
	    " next_ms = max(next_ms, ?3)"
	    " WHERE holder = ?1 AND (?2 IS NULL OR host = ?2)" },
	[LQ_NODE_DEL] = { "lease node delete",
	    "DELETE FROM node WHERE id = ?1" },
	[LQ_HELD] = { "lease check",
	    "SELECT 1 FROM lease"
	    " WHERE host = ?1 AND gen = ?2 AND expires_ms > ?3" },
	[LQ_LIST] = { "leases",
	    "SELECT host, holder, node, gen, expires_ms, next_ms FROM lease"
	    " ORDER BY host" },
	[LQ_NODES] = { "lease nodes",
	    "SELECT count(*) FROM node WHERE expires_ms > ?1" },
	[LQ_OUTBOX] = { "lease outbox write",
	    "INSERT INTO outbox (name, seq) VALUES (?1, ?2)"
	    " ON CONFLICT (name) DO UPDATE SET seq = excluded.seq" },
};

/* The wall clock in ms since the epoch. */
static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The statement, prepared on first use and kept. */
static sqlite3_stmt *
lq(struct store_sqlite *s, enum lease_query q, char **cause)
{
	if (s->lease_q == NULL)
		s->lease_q = xcalloc(LQ_COUNT, sizeof(*s->lease_q));
	if (s->lease_q[q] == NULL &&
	    sqlite3_prepare_v3(s->db, lease_queries[q].sql, -1,
		SQLITE_PREPARE_PERSISTENT, &s->lease_q[q], NULL) != SQLITE_OK) {
		set_cause(cause, "store: prepare %s: %s", lease_queries[q].what,
		    sqlite3_errmsg(s->db));
		return NULL;
	}
	return s->lease_q[q];
}

static int
lq_fail(struct store_sqlite *s, enum lease_query q, char **cause)
{
	set_cause(cause, "store: %s: %s", lease_queries[q].what,
	    sqlite3_errmsg(s->db));
	sqlite3_reset(s->lease_q[q]);
	return -1;
}

/* A statement without rows to read. */
static int
lq_exec(struct store_sqlite *s, enum lease_query q, char **cause)
{
	int rc;

	rc = sqlite3_step(s->lease_q[q]);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return lq_fail(s, q, cause);
	sqlite3_reset(s->lease_q[q]);
	return 0;
}

static int
lease_begin(struct store_sqlite *s, char **cause)
{
	if (!sqlite3_get_autocommit(s->db)) {
		set_cause(cause, "store: leases: inside a transaction");
		return -1;
	}
	if (lq(s, LQ_BEGIN, cause) == NULL)
		return -1;
	return lq_exec(s, LQ_BEGIN, cause);
}

static int
lease_commit(struct store_sqlite *s, char **cause)
{
	if (lq(s, LQ_COMMIT, cause) == NULL ||
	    lq_exec(s, LQ_COMMIT, cause) == -1) {
		if (!sqlite3_get_autocommit(s->db))
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return 0;
}

static int
lease_rollback(struct store_sqlite *s)
{
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

int
store_sqlite_lease_take(void *be, const char *host, const char *holder,
    const char *node, long long ttl_ms, struct store_lease_grant *g,
    char **cause)
{
	struct store_sqlite *s = be;
	sqlite3_stmt	    *st;
	const char	    *old;
	int64_t		     now, lapsed = 0;
	int		     rc;

	memset(g, 0, sizeof(*g));
	if (lease_begin(s, cause) == -1)
		return -1;
	now = wall_ms();
	if ((st = lq(s, LQ_PEEK, cause)) == NULL)
		return lease_rollback(s);
	bind_text(st, 1, host);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		old = col_text(st, 0);
		if (old != NULL && strcmp(old, holder) != 0)
			lapsed = sqlite3_column_int64(st, 1);
	} else if (rc != SQLITE_DONE) {
		lq_fail(s, LQ_PEEK, cause);
		return lease_rollback(s);
	}
	sqlite3_reset(st);
	if ((st = lq(s, LQ_TAKE, cause)) == NULL)
		return lease_rollback(s);
	bind_text(st, 1, host);
	bind_text(st, 2, holder);
	bind_text(st, 3, node);
	sqlite3_bind_int64(st, 4, now);
	sqlite3_bind_int64(st, 5, ttl_ms);
	if ((rc = sqlite3_step(st)) == SQLITE_DONE) {
		/* Another holder's, not expired. */
		sqlite3_reset(st);
		return lease_commit(s, cause) == -1 ? -1 : 0;
	}
	if (rc != SQLITE_ROW) {
		lq_fail(s, LQ_TAKE, cause);
		return lease_rollback(s);
	}
	g->gen = sqlite3_column_int64(st, 0);
	g->expires_ms = sqlite3_column_int64(st, 1);
	g->next_ms = sqlite3_column_int64(st, 2);
	g->lapsed_ms = lapsed;
	/* RETURNING: the row is written when the statement is done. */
	if (sqlite3_step(st) != SQLITE_DONE) {
		lq_fail(s, LQ_TAKE, cause);
		return lease_rollback(s);
	}
	sqlite3_reset(st);
	return lease_commit(s, cause) == -1 ? -1 : 1;
}

int
store_sqlite_lease_renew(void *be, const char *holder, const char *node,
    long long ttl_ms, int (*cb)(void *, const char *, int64_t), void *arg,
    char **cause)
{
	struct store_sqlite *s = be;
	sqlite3_stmt	    *st;
	int64_t		     now;
	int		     rc, n = 0, stop = 0;

	if (lease_begin(s, cause) == -1)
		return -1;
	now = wall_ms();
	if ((st = lq(s, LQ_NODE, cause)) == NULL)
		return lease_rollback(s);
	bind_text(st, 1, holder);
	bind_text(st, 2, node);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_int64(st, 4, ttl_ms);
	if (lq_exec(s, LQ_NODE, cause) == -1)
		return lease_rollback(s);
	if ((st = lq(s, LQ_NODE_GC, cause)) == NULL)
		return lease_rollback(s);
	sqlite3_bind_int64(st, 1, now);
	if (lq_exec(s, LQ_NODE_GC, cause) == -1)
		return lease_rollback(s);
	if ((st = lq(s, LQ_RENEW, cause)) == NULL)
		return lease_rollback(s);
	bind_text(st, 1, holder);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, ttl_ms);
	bind_text(st, 4, node);
	/* Every row is read: the statement writes them all as it steps. */
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		n++;
		if (!stop && cb != NULL &&
		    cb(arg, col_text(st, 0), sqlite3_column_int64(st, 1)) == -1)
			stop = 1;
	}
	if (rc != SQLITE_DONE) {
		lq_fail(s, LQ_RENEW, cause);
		return lease_rollback(s);
	}
	sqlite3_reset(st);
	if (lease_commit(s, cause) == -1)
		return -1;
	return n;
}

int
store_sqlite_lease_release(void *be, const char *host, const char *holder,
    int64_t next_ms, char **cause)
{
	struct store_sqlite *s = be;
	sqlite3_stmt	    *st;

	if (lease_begin(s, cause) == -1)
		return -1;
	if ((st = lq(s, LQ_RELEASE, cause)) == NULL)
		return lease_rollback(s);
	bind_text(st, 1, holder);
	bind_text(st, 2, host);
	sqlite3_bind_int64(st, 3, next_ms);
	if (lq_exec(s, LQ_RELEASE, cause) == -1)
		return lease_rollback(s);
	if (host == NULL) {
		if ((st = lq(s, LQ_NODE_DEL, cause)) == NULL)
			return lease_rollback(s);
		bind_text(st, 1, holder);
		if (lq_exec(s, LQ_NODE_DEL, cause) == -1)
			return lease_rollback(s);
	}
	return lease_commit(s, cause);
}

int
store_sqlite_lease_held(void *be, const char *host, int64_t gen, char **cause)
{
	struct store_sqlite *s = be;
	sqlite3_stmt	    *st;
	int		     rc;

	if (need_transaction(s, "lease check", cause) == -1)
		return -1;
	if ((st = lq(s, LQ_HELD, cause)) == NULL)
		return -1;
	bind_text(st, 1, host);
	sqlite3_bind_int64(st, 2, gen);
	sqlite3_bind_int64(st, 3, wall_ms());
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return lq_fail(s, LQ_HELD, cause);
	sqlite3_reset(st);
	return rc == SQLITE_ROW;
}

int
store_sqlite_leases(void *be, int (*cb)(void *, const struct store_lease *),
    void *arg, char **cause)
{
	struct store_sqlite *s = be;
	struct store_lease   l;
	sqlite3_stmt	    *st;
	int		     rc;

	if ((st = lq(s, LQ_LIST, cause)) == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&l, 0, sizeof(l));
		l.host = col_text(st, 0);
		l.holder = col_text(st, 1);
		l.node = col_text(st, 2);
		l.gen = sqlite3_column_int64(st, 3);
		l.expires_ms = sqlite3_column_int64(st, 4);
		l.next_ms = sqlite3_column_int64(st, 5);
		l.now_ms = wall_ms();
		if (cb(arg, &l) == -1) {
			sqlite3_reset(st);
			return -1;
		}
	}
	if (rc != SQLITE_DONE)
		return lq_fail(s, LQ_LIST, cause);
	sqlite3_reset(st);
	return 0;
}

int
store_sqlite_lease_nodes(void *be, char **cause)
{
	struct store_sqlite *s = be;
	sqlite3_stmt	    *st;
	int		     n;

	if ((st = lq(s, LQ_NODES, cause)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, wall_ms());
	if (sqlite3_step(st) != SQLITE_ROW)
		return lq_fail(s, LQ_NODES, cause);
	n = sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	return n;
}

/*
 * The check and the write in one transaction under the write lock: no
 * other daemon takes the lease in between.
 */
int
store_sqlite_outbox_set_fenced(void *be, const char *name, int64_t seq,
    const char *lease, int64_t gen, char **cause)
{
	struct store_sqlite *s = be;
	sqlite3_stmt	    *st;
	int		     rc;

	if (lease_begin(s, cause) == -1)
		return -1;
	if ((st = lq(s, LQ_HELD, cause)) == NULL)
		return lease_rollback(s);
	bind_text(st, 1, lease);
	sqlite3_bind_int64(st, 2, gen);
	sqlite3_bind_int64(st, 3, wall_ms());
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		lq_fail(s, LQ_HELD, cause);
		return lease_rollback(s);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return lease_commit(s, cause) == -1 ? -1 : 0;
	if ((st = lq(s, LQ_OUTBOX, cause)) == NULL)
		return lease_rollback(s);
	bind_text(st, 1, name);
	sqlite3_bind_int64(st, 2, seq);
	if (lq_exec(s, LQ_OUTBOX, cause) == -1)
		return lease_rollback(s);
	return lease_commit(s, cause) == -1 ? -1 : 1;
}

void
store_sqlite_lease_free(struct store_sqlite *s)
{
	size_t i;

	if (s->lease_q == NULL)
		return;
	for (i = 0; i < LQ_COUNT; i++)
		sqlite3_finalize(s->lease_q[i]);
	free(s->lease_q);
	s->lease_q = NULL;
}
