/*
 * The search index's pending list, merged on a connection of its own.
 *
 * A GIN index with fastupdate (PostgreSQL's default, kept: without it
 * make bench-pg fell to 2,187 records/s) puts a new row's entries in a
 * pending list and merges the list into its tree once the list passes
 * gin_pending_list_limit (4 MB): the backend whose insert passes the limit
 * does the merge, inside the page writer's transaction, while the
 * harvester waits for it.  The merge was a third of PostgreSQL's CPU, on
 * the same core as the rest of the writer's statements, the other core
 * half idle.
 *
 * So the page writer (STORE_TRAIL) has a second connection run
 * gin_clean_pending_list() after its commits, asynchronously (PQsendQuery
 * and a look at each commit: no thread), and once one has succeeded it
 * raises its own session's limit to PG_GIN_LIMIT, so that its backend no
 * longer merges while the cleaner keeps up; the raised limit is the
 * backstop should it not.  A merge that runs when another is running
 * waits (gin_clean_pending_list) or is skipped (an insert's): several
 * daemons' cleaners take turns.  At the writer's close the last clean is
 * waited for and a final one run, so that the list is empty after a
 * harvest.  A cleaner that fails (a role that does not own the index, the
 * connection lost) is given up, logged once, and the writer's limit put
 * back: its backend merges as before.
 */
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "log.h"
#include "util.h"
#include "pg.h"

/*
 * Records written between two cleans: the list stays about the size the
 * default limit allows.  make bench-pg, 100,000 records: 500 a clean
 * 8,264-9,074 records/s, 2,000 9,259-9,891, 5,000 9,634-10,050; main
 * 7,862-8,834 (runs alternated).
 */
#define PG_GIN_MIN 2000

/* The writer's limit while a cleaner works, in kB: the backstop. */
#define PG_GIN_LIMIT "SET gin_pending_list_limit = 65536"

/* The longest a clean may take; the close waits for the last one. */
#define PG_GIN_TIMEOUT "60s"

#define PG_GIN_CLEAN "SELECT gin_clean_pending_list('record_fts_gin'::regclass)"

enum {
	GIN_UNTRIED,
	GIN_ON,
	GIN_OFF
};

static void gin_off(struct store_pg *, const char *);
static int  gin_send(struct store_pg *);
static int  gin_result(struct store_pg *);

static void
quiet(void *arg, const char *msg)
{
}

/* Give the cleaner up: the writer's backend merges as before. */
static void
gin_off(struct store_pg *s, const char *why)
{
	PGresult *r;
	char	 *msg;

	msg = xstrdup(why != NULL ? why : "?");
	msg[strcspn(msg, "\n")] = '\0';
	log_warn("event=search_index_cleaner_off path=%s error=%s",
	    log_q(s->safe), log_q(msg));
	free(msg);
	if (s->gin_state == GIN_ON && !s->intxn) {
		r = PQexec(s->conn, "RESET gin_pending_list_limit");
		PQclear(r);
	}
	if (s->gin != NULL)
		PQfinish(s->gin);
	s->gin = NULL;
	s->gin_busy = 0;
	s->gin_state = GIN_OFF;
}

/* Send a clean, connecting first if need be; -1: given up. */
static int
gin_send(struct store_pg *s)
{
	PGresult *r;
	int	  ok;

	if (s->gin == NULL) {
		s->gin = PQconnectdb(s->uri);
		if (PQstatus(s->gin) != CONNECTION_OK) {
			gin_off(s, PQerrorMessage(s->gin));
			return -1;
		}
		PQsetNoticeProcessor(s->gin, quiet, NULL);
		/* A clean that waits on a lock (a REINDEX) gives up. */
		r = PQexec(s->gin,
		    "SET client_min_messages = warning;"
		    "SET statement_timeout = '" PG_GIN_TIMEOUT "'");
		ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		PQclear(r);
		if (!ok) {
			gin_off(s, PQerrorMessage(s->gin));
			return -1;
		}
	}
	if (!PQsendQuery(s->gin, PG_GIN_CLEAN)) {
		gin_off(s, PQerrorMessage(s->gin));
		return -1;
	}
	s->gin_busy = 1;
	s->gin_since = 0;
	return 0;
}

/*
 * Read the clean's result (waiting for it when it has not come): 0 done,
 * -1 given up.  The first success raises the writer's limit.
 */
static int
gin_result(struct store_pg *s)
{
	PGresult *r;
	char	 *why = NULL;
	int	  ok;

	while ((r = PQgetResult(s->gin)) != NULL) {
		if (PQresultStatus(r) != PGRES_TUPLES_OK && why == NULL)
			why = xstrdup(PQresultErrorMessage(r));
		PQclear(r);
	}
	s->gin_busy = 0;
	if (why != NULL) {
		gin_off(s, why);
		free(why);
		return -1;
	}
	if (s->gin_state == GIN_UNTRIED) {
		r = PQexec(s->conn, PG_GIN_LIMIT);
		ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		PQclear(r);
		if (!ok) {
			gin_off(s, PQerrorMessage(s->conn));
			return -1;
		}
		s->gin_state = GIN_ON;
	}
	return 0;
}

/*
 * After the page writer's commit: take the last clean's result if it has
 * come, and send the next once enough records were written since.
 */
void
pg_gin_commit(struct store_pg *s)
{
	if (!s->trail || s->gin_state == GIN_OFF || s->intxn)
		return;
	if (s->gin_busy) {
		if (!PQconsumeInput(s->gin)) {
			gin_off(s, PQerrorMessage(s->gin));
			return;
		}
		if (PQisBusy(s->gin) || gin_result(s) == -1)
			return;
	}
	if (s->gin_since >= PG_GIN_MIN)
		(void)gin_send(s);
}

/* At the writer's close: the last clean waited for, a final one run. */
void
pg_gin_close(struct store_pg *s)
{
	if (!s->trail || s->gin_state == GIN_OFF)
		return;
	if (s->gin_busy && gin_result(s) == -1)
		return;
	if (s->gin_since > 0 && !s->intxn && gin_send(s) == 0)
		(void)gin_result(s);
	if (s->gin != NULL)
		PQfinish(s->gin);
	s->gin = NULL;
}
