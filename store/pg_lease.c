/*
 * Leases on PostgreSQL (store.h, "Leases"): several oaiharvestd on several
 * machines sharing one database.  The same rows and meaning as
 * sqlite_lease.c, with the server's clock (clock_timestamp(), one clock
 * for every daemon) instead of the machine's.  A take locks the host's row
 * with SELECT ... FOR UPDATE SKIP LOCKED: a row another daemon is taking,
 * or whose holder's page transaction checked it (FOR KEY SHARE, held to
 * the page's commit), is skipped, not waited for: the host is not taken
 * now.  store_lease_held() is that check, the page's fence: its gen and
 * expiry.  The fence holds because every change of holder or gen goes
 * through the take's FOR UPDATE, which conflicts with FOR KEY SHARE; the
 * renewal's and the release's UPDATEs change no key column, so they take
 * FOR NO KEY UPDATE, which does not: a renewal on the loop's connection
 * never queues behind (or deadlocks with, as with FOR SHARE when a batch
 * checked several hosts) the page writer's transaction.  A renewal only
 * moves the expiry of the holder's own rows later, and a release leaves
 * the row to a take, which still waits for the page: neither lets a page
 * of an old gen in.
 */
#include <stdlib.h>
#include <string.h>

#include "pg.h"

static int
lease_begin(struct store_pg *s, char **cause)
{
	PGresult *r;

	if (s->intxn) {
		set_cause(cause, "store: leases: inside a transaction");
		return -1;
	}
	if ((r = pg_exec(s, PQ_BEGIN, NULL, cause)) == NULL)
		return -1;
	PQclear(r);
	return 0;
}

static int
lease_commit(struct store_pg *s, char **cause)
{
	PGresult *r;

	if ((r = pg_exec(s, PQ_COMMIT, NULL, cause)) == NULL) {
		if ((r = pg_exec(s, PQ_ROLLBACK, NULL, NULL)) != NULL)
			PQclear(r);
		return -1;
	}
	PQclear(r);
	return 0;
}

static int
lease_rollback(struct store_pg *s)
{
	PGresult *r;

	if ((r = pg_exec(s, PQ_ROLLBACK, NULL, NULL)) != NULL)
		PQclear(r);
	return -1;
}

/* A statement whose rows are not read; -1 with *cause. */
static int
lease_exec(struct store_pg *s, enum pg_query q, const struct pg_params *p,
    char **cause)
{
	PGresult *r;

	if ((r = pg_exec(s, q, p, cause)) == NULL)
		return -1;
	PQclear(r);
	return 0;
}

int
store_pg_lease_take(void *be, const char *host, const char *holder,
    const char *node, long long ttl_ms, struct store_lease_grant *g,
    char **cause)
{
	struct store_pg *s = be;
	struct pg_params p;
	PGresult	*r;
	const char	*old;
	int64_t		 lapsed = 0;

	memset(g, 0, sizeof(*g));
	pgp_init(&p);
	pgp_text(&p, host);
	/* The row first (its own statement: SKIP LOCKED needs one). */
	if (lease_begin(s, cause) == -1)
		return -1;
	if (lease_exec(s, PQ_LEASE_ENSURE, &p, cause) == -1)
		return lease_rollback(s);
	if ((r = pg_exec(s, PQ_LEASE_PICK, &p, cause)) == NULL)
		return lease_rollback(s);
	if (PQntuples(r) == 0) {
		/* Locked: being taken, or a page of its holder commits. */
		PQclear(r);
		return lease_commit(s, cause) == -1 ? -1 : 0;
	}
	old = pg_col(r, 0, 0);
	if (old != NULL && strcmp(old, holder) != 0)
		lapsed = pg_ll(r, 0, 1, 0);
	PQclear(r);
	pgp_text(&p, holder);
	pgp_text(&p, node);
	pgp_int(&p, ttl_ms);
	if ((r = pg_exec(s, PQ_LEASE_TAKE, &p, cause)) == NULL)
		return lease_rollback(s);
	if (PQntuples(r) == 0) {
		/* Another holder's, not expired. */
		PQclear(r);
		return lease_commit(s, cause) == -1 ? -1 : 0;
	}
	g->gen = pg_ll(r, 0, 0, 0);
	g->expires_ms = pg_ll(r, 0, 1, 0);
	g->next_ms = pg_ll(r, 0, 2, 0);
	g->lapsed_ms = lapsed;
	PQclear(r);
	return lease_commit(s, cause) == -1 ? -1 : 1;
}

int
store_pg_lease_renew(void *be, const char *holder, const char *node,
    long long ttl_ms, int (*cb)(void *, const char *, int64_t), void *arg,
    char **cause)
{
	struct store_pg *s = be;
	struct pg_params p;
	PGresult	*r;
	int		 i, n, stop = 0;

	if (lease_begin(s, cause) == -1)
		return -1;
	pgp_init(&p);
	pgp_text(&p, holder);
	pgp_text(&p, node);
	pgp_int(&p, ttl_ms);
	if (lease_exec(s, PQ_LEASE_NODE, &p, cause) == -1 ||
	    lease_exec(s, PQ_LEASE_NODE_GC, NULL, cause) == -1)
		return lease_rollback(s);
	pgp_init(&p);
	pgp_text(&p, holder);
	pgp_int(&p, ttl_ms);
	pgp_text(&p, node);
	if ((r = pg_exec(s, PQ_LEASE_RENEW, &p, cause)) == NULL)
		return lease_rollback(s);
	n = PQntuples(r);
	for (i = 0; i < n && !stop; i++)
		if (cb != NULL &&
		    cb(arg, pg_col(r, i, 0), pg_ll(r, i, 1, 0)) == -1)
			stop = 1;
	PQclear(r);
	if (lease_commit(s, cause) == -1)
		return -1;
	return n;
}

int
store_pg_lease_release(void *be, const char *host, const char *holder,
    int64_t next_ms, char **cause)
{
	struct store_pg *s = be;
	struct pg_params p;

	if (lease_begin(s, cause) == -1)
		return -1;
	pgp_init(&p);
	pgp_text(&p, holder);
	pgp_text(&p, host);
	pgp_int(&p, (long long)next_ms);
	if (lease_exec(s, PQ_LEASE_RELEASE, &p, cause) == -1)
		return lease_rollback(s);
	if (host == NULL) {
		pgp_init(&p);
		pgp_text(&p, holder);
		if (lease_exec(s, PQ_LEASE_NODE_DEL, &p, cause) == -1)
			return lease_rollback(s);
	}
	return lease_commit(s, cause);
}

int
store_pg_lease_held(void *be, const char *host, int64_t gen, char **cause)
{
	struct store_pg *s = be;
	struct pg_params p;
	PGresult	*r;
	int		 n;

	if (!s->intxn) {
		set_cause(
		    cause, "store: lease check: not inside a transaction");
		return -1;
	}
	pgp_init(&p);
	pgp_text(&p, host);
	pgp_int(&p, (long long)gen);
	if ((r = pg_exec(s, PQ_LEASE_HELD, &p, cause)) == NULL)
		return -1;
	n = PQntuples(r);
	PQclear(r);
	return n > 0;
}

int
store_pg_leases(void *be, int (*cb)(void *, const struct store_lease *),
    void *arg, char **cause)
{
	struct store_pg	  *s = be;
	struct store_lease l;
	PGresult	  *r;
	int		   i;

	if ((r = pg_exec(s, PQ_LEASE_LIST, NULL, cause)) == NULL)
		return -1;
	for (i = 0; i < PQntuples(r); i++) {
		memset(&l, 0, sizeof(l));
		l.host = pg_col(r, i, 0);
		l.holder = pg_col(r, i, 1);
		l.node = pg_col(r, i, 2);
		l.gen = pg_ll(r, i, 3, 0);
		l.expires_ms = pg_ll(r, i, 4, 0);
		l.next_ms = pg_ll(r, i, 5, 0);
		l.now_ms = pg_ll(r, i, 6, 0);
		if (cb(arg, &l) == -1) {
			PQclear(r);
			return -1;
		}
	}
	PQclear(r);
	return 0;
}

int
store_pg_lease_nodes(void *be, char **cause)
{
	struct store_pg *s = be;
	PGresult	*r;
	int		 n;

	if ((r = pg_exec(s, PQ_LEASE_NODES, NULL, cause)) == NULL)
		return -1;
	n = (int)pg_ll(r, 0, 0, 0);
	PQclear(r);
	return n;
}

/*
 * The outbox cursor name moved to seq, only while lease (e.g. "feed:nats")
 * is still of generation gen and not expired, in one transaction: the
 * check's FOR KEY SHARE holds the lease row to the commit, so that no
 * takeover comes between.  1: moved, 0: the lease is not (or no longer) ours.
 */
int
store_pg_outbox_set_fenced(void *be, const char *name, int64_t seq,
    const char *lease, int64_t gen, char **cause)
{
	struct store_pg *s = be;
	struct pg_params p;
	PGresult	*r;
	int		 n;

	if (lease_begin(s, cause) == -1)
		return -1;
	pgp_init(&p);
	pgp_text(&p, lease);
	pgp_int(&p, (long long)gen);
	if ((r = pg_exec(s, PQ_LEASE_HELD, &p, cause)) == NULL)
		return lease_rollback(s);
	n = PQntuples(r);
	PQclear(r);
	if (n == 0)
		return lease_commit(s, cause) == -1 ? -1 : 0;
	pgp_init(&p);
	pgp_text(&p, name);
	pgp_int(&p, (long long)seq);
	if (lease_exec(s, PQ_OUTBOX_SET, &p, cause) == -1)
		return lease_rollback(s);
	return lease_commit(s, cause) == -1 ? -1 : 1;
}
