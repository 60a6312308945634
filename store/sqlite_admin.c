/*
 * The SQLite backend's management of sources by name (see backend.h and
 * store.h): whether a source or prefix is known, rename, move, reset and
 * drop, for `oaiharvest sources` and `export`.  These run once in a
 * while, from the command line, so their statements are prepared when
 * they run instead of at open (the open statements of sqlite.c's table
 * serve every page).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "util.h"
#include "log.h"
#include "sqlite.h"

/* One statement of an admin operation, prepared on the spot. */
struct admin_stmt {
	const char *what;
	const char *sql;
};

static const struct admin_stmt
    a_known = { "source known",
	    "SELECT EXISTS (SELECT 1 FROM source s"
	    " WHERE (?1 IS NULL OR s.name = ?1) AND (?2 IS NULL"
	    " OR EXISTS (SELECT 1 FROM record r"
	    "  WHERE r.source_id = s.id AND r.prefix = ?2)"
	    " OR EXISTS (SELECT 1 FROM list_state l"
	    "  WHERE l.source_id = s.id AND l.prefix = ?2)))" },
    a_find = { "find source", "SELECT id FROM source WHERE name = ?1" },
    a_rename = { "rename source", "UPDATE source SET name = ?2 WHERE id = ?1" },
    a_move = { "move source", "UPDATE source SET url = ?2 WHERE id = ?1" },
    a_reset_lists = { "reset lists",
	    "DELETE FROM list_state WHERE source_id = ?1" },
    a_reset_swept = { "reset sweeps",
	    "UPDATE record SET swept = NULL"
	    " WHERE source_id = ?1 AND swept IS NOT NULL" },
    /*
     * A consumer behind a change of the source: the change rows after its
     * cursor, a range of the primary key.
     */
    a_unconsumed = { "outbox consumers",
	    "SELECT o.name, o.seq, (SELECT min(c.seq) FROM change c"
	    "  WHERE c.seq > o.seq AND c.source_id = ?1)"
	    " FROM outbox o WHERE EXISTS (SELECT 1 FROM change c"
	    "  WHERE c.seq > o.seq AND c.source_id = ?1)"
	    " ORDER BY o.name LIMIT 1" },
    /* Before change rows go: their seqs must never come back. */
    a_seq_keep = { "keep change seq",
	    "UPDATE change_seq SET last = max(last,"
	    " coalesce((SELECT max(seq) FROM change), 0))" },
    a_count_records = { "count records",
	    "SELECT count(*) FROM record WHERE source_id = ?1" },
    a_count_runs = { "count runs",
	    "SELECT count(*) FROM run WHERE source_id = ?1" },
    a_drop_changes = { "delete changes",
	    "DELETE FROM change WHERE source_id = ?1" },
    /*
     * Its records (and by trigger their content, full-text rows and
     * sets), runs, lists and rejects go by ON DELETE CASCADE.
     */
    a_drop_source = { "delete source", "DELETE FROM source WHERE id = ?1" };

static sqlite3_stmt *a_prepare(
    struct store_sqlite *, const struct admin_stmt *, char **);
static int a_fail(
    struct store_sqlite *, const struct admin_stmt *, sqlite3_stmt *, char **);
static int a_exec_id(struct store_sqlite *, const struct admin_stmt *, int64_t,
    long long *, char **);
static int a_begin(struct store_sqlite *, const char *, int64_t *, char **);
static int a_commit(struct store_sqlite *, int, char **);

static sqlite3_stmt *
a_prepare(struct store_sqlite *s, const struct admin_stmt *a, char **cause)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(s->db, a->sql, -1, &st, NULL) != SQLITE_OK) {
		set_cause(cause, "store: prepare %s: %s", a->what,
		    sqlite3_errmsg(s->db));
		return NULL;
	}
	return st;
}

static int
a_fail(struct store_sqlite *s, const struct admin_stmt *a, sqlite3_stmt *st,
    char **cause)
{
	set_cause(cause, "store: %s: %s", a->what, sqlite3_errmsg(s->db));
	sqlite3_finalize(st);
	return -1;
}

/*
 * Run a with ?1 = id; *n (when not NULL): its first column of its first
 * row, or the rows it changed when it returns none.
 */
static int
a_exec_id(struct store_sqlite *s, const struct admin_stmt *a, int64_t id,
    long long *n, char **cause)
{
	sqlite3_stmt *st;
	int	      rc;

	if ((st = a_prepare(s, a, cause)) == NULL)
		return -1;
	if (sqlite3_bind_parameter_count(st) > 0)
		sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return a_fail(s, a, st, cause);
	if (n != NULL)
		*n = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) :
					sqlite3_changes(s->db);
	sqlite3_finalize(st);
	return 0;
}

/*
 * Begin the operation's transaction and find the source called name:
 * STORE_NO_SOURCE (transaction rolled back) when there is none.
 */
static int
a_begin(struct store_sqlite *s, const char *name, int64_t *id, char **cause)
{
	sqlite3_stmt *st;
	int	      rc;

	if (!sqlite3_get_autocommit(s->db)) {
		set_cause(cause, "store: sources: inside a transaction");
		return -1;
	}
	if (q_exec(s, Q_BEGIN, cause) == -1)
		return -1;
	if ((st = a_prepare(s, &a_find, cause)) == NULL)
		goto fail;
	bind_text(st, 1, name);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		return 0;
	}
	if (rc != SQLITE_DONE) {
		a_fail(s, &a_find, st, cause);
		goto fail;
	}
	sqlite3_finalize(st);
	set_cause(cause, "no source called \"%s\"", name);
	q_exec(s, Q_ROLLBACK, NULL);
	return STORE_NO_SOURCE;
fail:
	q_exec(s, Q_ROLLBACK, NULL);
	return -1;
}

/* Commit when r is 0, else roll back; r, or -1 when the commit failed. */
static int
a_commit(struct store_sqlite *s, int r, char **cause)
{
	if (r == 0 && q_exec(s, Q_COMMIT, cause) == 0)
		return 0;
	q_exec(s, Q_ROLLBACK, NULL);
	return r != 0 ? r : -1;
}

int
store_sqlite_source_known(
    void *be, const char *name, const char *prefix, char **cause)
{
	struct store_sqlite *s = be;
	sqlite3_stmt	    *st;
	int		     known;

	if ((st = a_prepare(s, &a_known, cause)) == NULL)
		return -1;
	bind_text(st, 1, name);
	bind_text(st, 2, prefix);
	if (sqlite3_step(st) != SQLITE_ROW)
		return a_fail(s, &a_known, st, cause);
	known = sqlite3_column_int(st, 0) != 0;
	sqlite3_finalize(st);
	return known;
}

int
store_sqlite_source_rename(
    void *be, const char *name, const char *newname, char **cause)
{
	struct store_sqlite *s = be;
	sqlite3_stmt	    *st;
	int64_t		     id, other;
	int		     r;

	if (newname == NULL || *newname == '\0') {
		set_cause(cause, "a source's name cannot be empty");
		return -1;
	}
	if ((r = a_begin(s, name, &id, cause)) != 0)
		return r;
	if (strcmp(name, newname) == 0)
		return a_commit(s, 0, cause);
	/* The new name must be free: its records would mix. */
	if ((st = a_prepare(s, &a_find, cause)) == NULL)
		return a_commit(s, -1, cause);
	bind_text(st, 1, newname);
	if ((r = sqlite3_step(st)) == SQLITE_ROW) {
		other = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		set_cause(cause,
		    "there is a source called \"%s\" already "
		    "(id %lld)",
		    newname, (long long)other);
		return a_commit(s, -1, cause);
	}
	if (r != SQLITE_DONE)
		return a_commit(s, a_fail(s, &a_find, st, cause), cause);
	sqlite3_finalize(st);
	if ((st = a_prepare(s, &a_rename, cause)) == NULL)
		return a_commit(s, -1, cause);
	sqlite3_bind_int64(st, 1, id);
	bind_text(st, 2, newname);
	if (sqlite3_step(st) != SQLITE_DONE)
		return a_commit(s, a_fail(s, &a_rename, st, cause), cause);
	sqlite3_finalize(st);
	return a_commit(s, 0, cause);
}

int
store_sqlite_source_move(
    void *be, const char *name, const char *url, char **cause)
{
	struct store_sqlite *s = be;
	sqlite3_stmt	    *st;
	int64_t		     id;
	int		     r;

	if ((r = a_begin(s, name, &id, cause)) != 0)
		return r;
	if ((st = a_prepare(s, &a_move, cause)) == NULL)
		return a_commit(s, -1, cause);
	sqlite3_bind_int64(st, 1, id);
	bind_text(st, 2, url);
	if (sqlite3_step(st) != SQLITE_DONE)
		return a_commit(s, a_fail(s, &a_move, st, cause), cause);
	sqlite3_finalize(st);
	return a_commit(s, 0, cause);
}

/*
 * The lists' rows go whole (watermark, token, progress, sweep clock): the
 * next harvest finds none and starts each list from the beginning, as a
 * first harvest does.  record.swept is cleared too, though a sweep only
 * compares it with its own run.
 */
int
store_sqlite_source_reset(
    void *be, const char *name, long long *lists, char **cause)
{
	struct store_sqlite *s = be;
	int64_t		     id;
	long long	     n = 0;
	int		     r;

	if ((r = a_begin(s, name, &id, cause)) != 0)
		return r;
	r = a_exec_id(s, &a_reset_lists, id, &n, cause);
	if (r == 0)
		r = a_exec_id(s, &a_reset_swept, id, NULL, cause);
	if (lists != NULL)
		*lists = n;
	return a_commit(s, r, cause);
}

/*
 * The change rows of the source go too (change.source_id refers to it):
 * a consumer that has written them out needs them no more, and `changes`
 * could not name their source.  change_seq.last is raised to the highest
 * seq first, so that seqs are never given out twice (see schema.c).
 */
int
store_sqlite_source_drop(void *be, const char *name, int force,
    struct store_drop_stats *ds, char **cause)
{
	struct store_sqlite    *s = be;
	struct store_drop_stats z;
	sqlite3_stmt	       *st;
	int64_t			id;
	int			r, rc;

	if (ds == NULL)
		ds = &z;
	memset(ds, 0, sizeof(*ds));
	if ((r = a_begin(s, name, &id, cause)) != 0)
		return r;
	if (!force) {
		if ((st = a_prepare(s, &a_unconsumed, cause)) == NULL)
			return a_commit(s, -1, cause);
		sqlite3_bind_int64(st, 1, id);
		if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			set_cause(cause,
			    "source \"%s\" has changes the feed "
			    "\"%s\" has not written out (it stands at seq "
			    "%lld, the source's next change is seq %lld): "
			    "drop it once the daemon has written them, or "
			    "with --force",
			    name, col_text(st, 0),
			    (long long)sqlite3_column_int64(st, 1),
			    (long long)sqlite3_column_int64(st, 2));
			sqlite3_finalize(st);
			return a_commit(s, STORE_UNCONSUMED, cause);
		}
		if (rc != SQLITE_DONE)
			return a_commit(
			    s, a_fail(s, &a_unconsumed, st, cause), cause);
		sqlite3_finalize(st);
	}
	r = a_exec_id(s, &a_count_records, id, &ds->records, cause);
	if (r == 0)
		r = a_exec_id(s, &a_count_runs, id, &ds->runs, cause);
	if (r == 0)
		r = a_exec_id(s, &a_seq_keep, id, NULL, cause);
	if (r == 0)
		r = a_exec_id(s, &a_drop_changes, id, &ds->changes, cause);
	if (r == 0)
		r = a_exec_id(s, &a_drop_source, id, NULL, cause);
	if (r == 0)
		log_info("event=source_drop source=%s records=%lld "
			 "changes=%lld runs=%lld",
		    log_q(name), ds->records, ds->changes, ds->runs);
	return a_commit(s, r, cause);
}
