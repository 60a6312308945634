/*
 * oaiharvest sources: list the sources of a database, and rename, move,
 * reset or drop one (cli.c's command table calls cli_sources()).  Each
 * change is one transaction of the store's (store_source_rename() and
 * the others); nothing is harvested.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "encode.h"
#include "cli.h"
#include "harvest.h"
#include "store.h"
#include "util.h"

#define EXIT_FAIL  1
#define EXIT_USAGE 2

/* The actions, with the operands each takes. */
static const struct sources_action {
	const char *name;
	int	    nargs;
	const char *args;
} actions[] = {
	{ "list", 0, "" },
	{ "rename", 2, "OLD NEW" },
	{ "move", 2, "NAME URL" },
	{ "reset", 1, "NAME" },
	{ "drop", 1, "NAME" },
};

static int
sources_usage(const char *usage, const char *help, int full)
{
	FILE *out = full ? stdout : stderr;

	fprintf(out, "usage: oaiharvest %s\n", usage);
	if (full)
		fprintf(out, "\n%s", help);
	return full ? 0 : EXIT_USAGE;
}

static int
sources_bad(const char *fmt, const char *arg)
{
	fprintf(stderr, "oaiharvest sources: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (try oaiharvest sources --help)\n");
	return EXIT_USAGE;
}

/* Say what the store said: exit 1 with the cause. */
static int
sources_fail(const char *action, char *cause)
{
	fprintf(stderr, "oaiharvest sources %s: %s\n", action,
	    cause != NULL ? cause : "failed");
	free(cause);
	return EXIT_FAIL;
}

/* Who harvests a source: its URL, then its host's lease. */
struct busy {
	const char *name;
	char	   *url;
	char	   *host;
	char	   *node;
	int64_t	    left_ms;
};

static int
busy_source(void *arg, const struct store_source_row *so)
{
	struct busy *b = arg;

	if (b->url == NULL && so->url != NULL && strcmp(so->name, b->name) == 0)
		b->url = xstrdup(so->url);
	return 0;
}

static int
busy_lease(void *arg, const struct store_lease *l)
{
	struct busy *b = arg;

	if (strcmp(l->host, b->host) != 0)
		return 0;
	if (l->holder != NULL && l->expires_ms > l->now_ms) {
		b->node = xstrdup(l->node != NULL ? l->node : l->holder);
		b->left_ms = l->expires_ms - l->now_ms;
	}
	return -1;
}

/*
 * Dropping a source under a live harvester pulls it from under the run:
 * its next page fails (the records' source is gone) and a daemon that
 * still has it in its configuration harvests it all again.  A source is
 * being harvested while its last run is running and its host's lease
 * (leases = yes: daemons, and a one-shot harvest beside them) is held and
 * not expired: the holder renews it while it lives, and a holder that
 * died (SIGKILL) lets it lapse, after which the drop goes on.  Without
 * leases the database does not know who is alive: not checked.  1 busy
 * (*cause says by whom), 0 not, -1.
 */
static int
sources_busy(struct store *store, const char *name, char **cause)
{
	struct store_status_cb cb;
	struct busy	       b;
	char		      *status = NULL;
	time_t		       ended;
	int		       r;

	if (!store_has_leases(store))
		return 0;
	if ((r = store_source_last_run(store, name, &ended, &status, cause)) !=
	    1) {
		free(status);
		return r;
	}
	r = strcmp(status, "running") == 0;
	free(status);
	if (!r)
		return 0;
	memset(&b, 0, sizeof(b));
	b.name = name;
	memset(&cb, 0, sizeof(cb));
	cb.source = busy_source;
	cb.arg = &b;
	if (store_status(store, &cb, cause) == -1)
		return -1;
	if (b.url == NULL)
		return 0;
	b.host = harvest_host_key(b.url);
	r = 0;
	if (store_leases(store, busy_lease, &b, cause) == -1 && b.node == NULL)
		r = *cause != NULL ? -1 : 0;
	if (r == 0 && b.node != NULL) {
		xasprintf(cause,
		    "source \"%s\" is being harvested by %s (its run is "
		    "running and %s holds the lease of %s for %lld ms more): "
		    "stop that harvest first (the daemon: remove the source "
		    "from its configuration and reload it), or drop it with "
		    "--force",
		    name, b.node, b.node, b.host, (long long)b.left_ms);
		r = 1;
	}
	free(b.url);
	free(b.host);
	free(b.node);
	return r;
}

int
cli_sources(int argc, char **argv, const char *usage, const char *help)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "config", required_argument, NULL, 'c' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct sources_action *a = &actions[0];
	const char		    *db = NULL, *config = NULL;
	struct store_drop_stats	     ds;
	struct conf		    *conf = NULL;
	struct store		    *store = NULL;
	long long		     lists;
	size_t			     i;
	char			    *cause = NULL, *url = NULL;
	char			   **args;
	int			     ch, r, rc = 0, force = 0;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			db = optarg;
			break;
		case 'c':
			config = optarg;
			break;
		case 'f':
			force = 1;
			break;
		case 'h':
			return sources_usage(usage, help, 1);
		default:
			return sources_usage(usage, help, 0);
		}
	}
	args = argv + optind;
	if (optind < argc) {
		for (i = 0; i < nitems(actions); i++)
			if (strcmp(actions[i].name, args[0]) == 0)
				break;
		if (i == nitems(actions))
			return sources_bad("unknown action %s: list, rename, "
					   "move, reset or drop",
			    args[0]);
		a = &actions[i];
		args++;
		argc--;
	}
	if (argc - optind != a->nargs) {
		fprintf(stderr, "oaiharvest sources: %s takes %s\n", a->name,
		    a->nargs > 0 ? a->args : "no operands");
		return sources_usage(usage, help, 0);
	}
	if (force && strcmp(a->name, "drop") != 0)
		return sources_bad("--force goes with drop, not %s", a->name);
	if (db == NULL && config == NULL)
		return sources_bad(
		    "%s", "--db FILE is missing (or --config FILE)");
	if (strcmp(a->name, "move") == 0 &&
	    strncmp(args[1], "http://", 7) != 0 &&
	    strncmp(args[1], "https://", 8) != 0)
		return sources_bad("not an http(s) URL: %s", args[1]);
	if (config != NULL) {
		if ((conf = conf_load(config, &cause)) == NULL) {
			fprintf(stderr, "oaiharvest sources: %s\n", cause);
			free(cause);
			return EXIT_USAGE;
		}
		if (db == NULL)
			db = conf->database;
	}
	/* A change to a file that is not there would create it, empty. */
	if (a->nargs > 0 && strstr(db, "://") == NULL &&
	    access(db, F_OK) == -1) {
		fprintf(stderr, "oaiharvest sources %s: %s: %s\n", a->name, db,
		    strerror(errno));
		conf_free(conf);
		return EXIT_FAIL;
	}
	if ((store = store_open(
		 db, a->nargs == 0 ? STORE_RDONLY : 0, &cause)) == NULL) {
		fprintf(stderr, "oaiharvest sources: %s\n", cause);
		free(cause);
		conf_free(conf);
		return EXIT_FAIL;
	}

	if (strcmp(a->name, "list") == 0) {
		if (feed_sources(store, stdout, &cause) == -1)
			rc = sources_fail("list", cause);
	} else if (strcmp(a->name, "rename") == 0) {
		if (store_source_rename(store, args[0], args[1], &cause) != 0)
			rc = sources_fail(a->name, cause);
		else
			printf("source \"%s\" is now \"%s\" (a config that "
			       "names it must say so too)\n",
			    args[0], args[1]);
	} else if (strcmp(a->name, "move") == 0) {
		/* The store keeps the URL without its password. */
		url = url_redact(args[1]);
		if (store_source_move(store, args[0], url, &cause) != 0)
			rc = sources_fail(a->name, cause);
		else
			printf("source \"%s\" harvests %s from now on (its "
			       "records, watermarks and changes are kept)\n",
			    args[0], url);
	} else if (strcmp(a->name, "reset") == 0) {
		if (store_source_reset(store, args[0], &lists, &cause) != 0)
			rc = sources_fail(a->name, cause);
		else
			printf("source \"%s\": %lld list%s forgotten, the next "
			       "harvest is a full one (records kept)\n",
			    args[0], lists, lists == 1 ? "" : "s");
	} else {
		r = force ? 0 : sources_busy(store, args[0], &cause);
		if (r == 0)
			r = store_source_drop(
			    store, args[0], force, &ds, &cause);
		if (r != 0)
			rc = sources_fail(a->name, cause);
		else
			printf("source \"%s\" dropped: %lld record%s, "
			       "%lld change%s, %lld run%s\n",
			    args[0], ds.records, ds.records == 1 ? "" : "s",
			    ds.changes, ds.changes == 1 ? "" : "s", ds.runs,
			    ds.runs == 1 ? "" : "s");
	}
	if (rc == 0 && fflush(stdout) == EOF)
		rc = EXIT_FAIL;
	free(url);
	store_close(store);
	conf_free(conf);
	return rc;
}
