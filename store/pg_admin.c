/*
 * The PostgreSQL backend's management of sources by name (see backend.h,
 * store.h and sqlite_admin.c, whose behaviour this is): whether a source
 * or prefix is known, rename, move, reset and drop, each one transaction.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "util.h"
#include "log.h"
#include "pg.h"

static int a_begin(struct store_pg *, const char *, int64_t *, char **);
static int a_commit(struct store_pg *, int, char **);
static int a_exec_id(
    struct store_pg *, enum pg_query, int64_t, long long *, char **);

/* Run q with $1 = id; *n: the rows it changed (when not NULL). */
static int
a_exec_id(
    struct store_pg *s, enum pg_query q, int64_t id, long long *n, char **cause)
{
	struct pg_params p;
	PGresult	*r;

	pgp_init(&p);
	pgp_int(&p, id);
	if ((r = pg_exec(s, q, &p, cause)) == NULL)
		return -1;
	if (n != NULL)
		*n = strtoll(PQcmdTuples(r), NULL, 10);
	PQclear(r);
	return 0;
}

/*
 * Begin the operation's transaction and find the source called name
 * (locked): STORE_NO_SOURCE (rolled back) when there is none.
 */
static int
a_begin(struct store_pg *s, const char *name, int64_t *id, char **cause)
{
	struct pg_params p;
	PGresult	*r;

	if (s->intxn) {
		set_cause(cause, "store: sources: inside a transaction");
		return -1;
	}
	if ((r = pg_exec(s, PQ_BEGIN, NULL, cause)) == NULL)
		return -1;
	PQclear(r);
	pgp_init(&p);
	pgp_text(&p, name);
	if ((r = pg_exec(s, PQ_SOURCE_GET, &p, cause)) == NULL)
		return a_commit(s, -1, cause);
	if (PQntuples(r) == 1) {
		*id = pg_ll(r, 0, 0, 0);
		PQclear(r);
		return 0;
	}
	PQclear(r);
	set_cause(cause, "no source called \"%s\"", name);
	return a_commit(s, STORE_NO_SOURCE, cause);
}

/* Commit when rc is 0, else roll back; rc, or -1 when the commit failed. */
static int
a_commit(struct store_pg *s, int rc, char **cause)
{
	PGresult *r;

	if (rc == 0 && (r = pg_exec(s, PQ_COMMIT, NULL, cause)) != NULL) {
		PQclear(r);
		return 0;
	}
	if ((r = pg_exec(s, PQ_ROLLBACK, NULL, NULL)) != NULL)
		PQclear(r);
	return rc != 0 ? rc : -1;
}

int
store_pg_source_known(
    void *be, const char *name, const char *prefix, char **cause)
{
	struct pg_params p;
	PGresult	*r;
	int		 known;

	pgp_init(&p);
	pgp_text(&p, name);
	pgp_text(&p, prefix);
	if ((r = pg_exec(be, PQ_KNOWN, &p, cause)) == NULL)
		return -1;
	known = pg_ll(r, 0, 0, 0) != 0;
	PQclear(r);
	return known;
}

int
store_pg_source_rename(
    void *be, const char *name, const char *newname, char **cause)
{
	struct store_pg *s = be;
	struct pg_params p;
	PGresult	*r;
	int64_t		 id;
	int		 rc;

	if (newname == NULL || *newname == '\0') {
		set_cause(cause, "a source's name cannot be empty");
		return -1;
	}
	if ((rc = a_begin(s, name, &id, cause)) != 0)
		return rc;
	if (strcmp(name, newname) == 0)
		return a_commit(s, 0, cause);
	/* The new name must be free: its records would mix. */
	pgp_init(&p);
	pgp_text(&p, newname);
	if ((r = pg_exec(s, PQ_SOURCE_GET, &p, cause)) == NULL)
		return a_commit(s, -1, cause);
	if (PQntuples(r) == 1) {
		set_cause(cause,
		    "there is a source called \"%s\" already "
		    "(id %lld)",
		    newname, pg_ll(r, 0, 0, 0));
		PQclear(r);
		return a_commit(s, -1, cause);
	}
	PQclear(r);
	pgp_init(&p);
	pgp_int(&p, id);
	pgp_text(&p, newname);
	if ((r = pg_exec(s, PQ_RENAME, &p, cause)) == NULL)
		return a_commit(s, -1, cause);
	PQclear(r);
	return a_commit(s, 0, cause);
}

int
store_pg_source_move(void *be, const char *name, const char *url, char **cause)
{
	struct store_pg *s = be;
	struct pg_params p;
	PGresult	*r;
	int64_t		 id;
	int		 rc;

	if ((rc = a_begin(s, name, &id, cause)) != 0)
		return rc;
	pgp_init(&p);
	pgp_int(&p, id);
	pgp_text(&p, url);
	if ((r = pg_exec(s, PQ_SOURCE_URL, &p, cause)) == NULL)
		return a_commit(s, -1, cause);
	PQclear(r);
	return a_commit(s, 0, cause);
}

/*
 * The lists' rows go whole: the next harvest is a first one.  The
 * source's row locked first, as by a drop (see below): the reset waits
 * for a page of the source to commit.  Without it, the reset deleted a
 * list's row and then waited for a record's row (its sweep mark) that a
 * page held while it waited for that list's row: "deadlock detected".
 */
int
store_pg_source_reset(
    void *be, const char *name, long long *lists, char **cause)
{
	struct store_pg *s = be;
	int64_t		 id;
	long long	 n = 0;
	int		 rc;

	if ((rc = a_begin(s, name, &id, cause)) != 0)
		return rc;
	rc = a_exec_id(s, PQ_SOURCE_LOCK, id, NULL, cause);
	if (rc == 0)
		rc = a_exec_id(s, PQ_RESET_LISTS, id, &n, cause);
	if (rc == 0)
		rc = a_exec_id(s, PQ_RESET_SWEPT, id, NULL, cause);
	if (lists != NULL)
		*lists = n;
	return a_commit(s, rc, cause);
}

/*
 * The source's change rows go too; change_seq.last is never lowered, so
 * their seqs are never given out again.
 *
 * Locks, in one order: the source's row first, then its rows.  A page
 * transaction (pg_write.c) locks the source's row FOR KEY SHARE before
 * its first statement on the source's records, content, sets, lists,
 * rejects or change rows (need_source()); the drop locks it FOR UPDATE
 * (PQ_SOURCE_LOCK) before anything else, and the two conflict.  So once the
 * drop has its lock, no page that holds a row of the source is open (it
 * would still hold the source's row), and a page that comes later waits
 * at its first statement on the source, holding nothing of the source
 * the drop will want: nothing waits in a circle.  Rows of other sources
 * that page holds (a batch's pages are of several) are none of the
 * drop's.  A page that waited then finds no source, and its list or
 * change rows fail on their foreign key, as on SQLite.  (Without the
 * drop's lock, a page that committed change rows between the drop's
 * delete of the changes and of the source failed the drop on
 * change_source_id_fkey.)
 * Before, the page took the source's row only at its list or change rows
 * (their foreign keys), after its record rows; the drop, holding the
 * source's row, waited for a record's row of a page that waited for the
 * source's: "deadlock detected" (test_drop_beside_page).
 */
int
store_pg_source_drop(void *be, const char *name, int force,
    struct store_drop_stats *ds, char **cause)
{
	struct store_pg	       *s = be;
	struct store_drop_stats z;
	struct pg_params	p;
	PGresult	       *r;
	int64_t			id;
	int			rc;

	if (ds == NULL)
		ds = &z;
	memset(ds, 0, sizeof(*ds));
	if ((rc = a_begin(s, name, &id, cause)) != 0)
		return rc;
	if (a_exec_id(s, PQ_SOURCE_LOCK, id, NULL, cause) == -1)
		return a_commit(s, -1, cause);
	pgp_init(&p);
	pgp_int(&p, id);
	if (!force) {
		if ((r = pg_exec(s, PQ_DROP_UNCONSUMED, &p, cause)) == NULL)
			return a_commit(s, -1, cause);
		if (PQntuples(r) == 1) {
			set_cause(cause,
			    "source \"%s\" has changes the feed "
			    "\"%s\" has not written out (it stands at seq "
			    "%lld, the source's next change is seq %lld): "
			    "drop it once the daemon has written them, or "
			    "with --force",
			    name, PQgetvalue(r, 0, 0), pg_ll(r, 0, 1, 0),
			    pg_ll(r, 0, 2, 0));
			PQclear(r);
			return a_commit(s, STORE_UNCONSUMED, cause);
		}
		PQclear(r);
	}
	if ((r = pg_exec(s, PQ_DROP_COUNTS, &p, cause)) == NULL)
		return a_commit(s, -1, cause);
	ds->records = pg_ll(r, 0, 0, 0);
	ds->runs = pg_ll(r, 0, 1, 0);
	PQclear(r);
	rc = a_exec_id(s, PQ_DROP_CHANGES, id, &ds->changes, cause);
	if (rc == 0)
		rc = a_exec_id(s, PQ_DROP_RECORDS, id, NULL, cause);
	if (rc == 0)
		rc = a_exec_id(s, PQ_DROP_SOURCE, id, NULL, cause);
	return a_commit(s, rc, cause);
}
