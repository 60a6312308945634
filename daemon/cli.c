/* Over 1,500 lines: its commands share its helpers; sources is cli_sources.c. */
/*
 * oaiharvest: the command line.  One table of subcommands; each parses its
 * own options.  Exit status: 0 success, 1 the work failed (for a harvest:
 * completed pages are kept), 2 a usage or config error.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "cli.h"
#include "conf.h"
#include "encode.h"
#include "harvest.h"
#include "log.h"
#include "oai.h"
#include "oh_limits.h"
#include "settings.h"
#include "store.h"
#include "util.h"

#define EXIT_FAIL  1
#define EXIT_USAGE 2
#define DB_MISSING "--db FILE is missing"

struct cmd {
	const char *name;
	int (*fn)(int, char **);
	const char *summary; /* one line for oaiharvest --help */
	const char *usage;
	const char *help;
};

static int cmd_identify(int, char **);
static int cmd_harvest(int, char **);
static int cmd_export(int, char **);
static int cmd_changes(int, char **);
static int cmd_status(int, char **);
static int cmd_list_identifiers(int, char **);
static int cmd_search(int, char **);
static int cmd_get_record(int, char **);
static int cmd_sources(int, char **);

static const struct cmd cmds[] = {
	{ "identify", cmd_identify,
	    "what a repository says about itself (nothing stored)",
	    "identify URL",
	    "Show what a repository says about itself: Identify, its metadata\n"
	    "formats and its sets.\n" },
	{ "harvest", cmd_harvest, "harvest now, into a SQLite database",
	    "harvest --db FILE --url URL [--prefix P]... [--set S]...\n"
	    "                  [--from D] [--until D] [--source NAME] [--delay "
	    "T]\n"
	    "                  [--retries N] [--retry-wait T] [--timeout T]\n"
	    "                  [--max-response-bytes N] [--overlap T] "
	    "[--sweep]\n"
	    "                  [--window UNIT] [--window-min T]\n"
	    "                  [--follow-redirects same-host|any] [--move] "
	    "[-v]\n"
	    "       oaiharvest harvest --config FILE [--db FILE] [--from D]\n"
	    "                  [--until D] [--retries N] [--retry-wait T]\n"
	    "                  [--timeout T] [--max-response-bytes N]\n"
	    "                  [--overlap T] [--sweep] [--window UNIT]\n"
	    "                  [--window-min T]\n"
	    "                  [--follow-redirects same-host|any] [--move] "
	    "[-v]\n"
	    "                  [NAME...]",
	    "Harvest now, into a SQLite database.  Run again, it harvests "
	    "only\n"
	    "what changed since the last completed harvest (from = the\n"
	    "repository's clock when it began, less --overlap).  With\n"
	    "--config, the sources NAME... of the config file (all enabled\n"
	    "ones when none is named), one after the other; the options given\n"
	    "override the config's values.  Values take the config's units\n"
	    "and bounds (oaiharvest.conf(5)): durations T such as 500ms, 30s\n"
	    "or 15m, sizes N such as 64M.  Options:\n"
	    "  --db FILE       the database (created when missing)\n"
	    "  --url URL       the repository's OAI-PMH base URL\n"
	    "  --prefix P      metadataPrefix, repeatable (default oai_dc)\n"
	    "  --set S         setSpec, repeatable (default: whole "
	    "repository)\n"
	    "  --from D        harvest from D (YYYY-MM-DD or\n"
	    "                  YYYY-MM-DDThh:mm:ssZ) instead of the watermark\n"
	    "  --until D       harvest until D\n"
	    "  --source NAME   the source's name (default: the source that\n"
	    "                  harvests this URL, or else the URL without its\n"
	    "                  scheme, e.g. example.org_oai)\n"
	    "  --move          the source's repository moved to this URL: "
	    "keep\n"
	    "                  its records, watermarks and changes (without "
	    "it,\n"
	    "                  another URL for a source is refused)\n"
	    "  --delay T       the wait between requests, 0 to 1h (default 0;\n"
	    "                  a bare number is milliseconds)\n"
	    "  --retries N     retries of a failed request, 0 to 100\n"
	    "                  (default 3)\n"
	    "  --retry-wait T  the first retry's wait without Retry-After\n"
	    "                  (default 2s; doubles each time; a bare number\n"
	    "                  is milliseconds)\n"
	    "  --timeout T     the longest one request may take, 1s to 30m\n"
	    "                  (default 30m)\n"
	    "  --max-response-bytes N  the largest response, decoded, 1K to\n"
	    "                  256M (default 256M)\n"
	    "  --sweep         after the harvest, list every identifier\n"
	    "                  (ListIdentifiers) and mark the records that\n"
	    "                  vanished deleted (for repositories that keep "
	    "no\n"
	    "                  deletions; done weekly by default for those)\n"
	    "  --overlap T     the next from is the repository's clock at the\n"
	    "                  start of this harvest less T, 0 to 1w (default\n"
	    "                  5m), so that records indexed late are not\n"
	    "                  missed\n"
	    "  --window UNIT   ask for one year, month or day at a time\n"
	    "                  (none: everything at once, the default), for\n"
	    "                  repositories that time out on large requests;\n"
	    "                  a window that fails is halved\n"
	    "  --window-min T  the narrowest window, 1s to 366d (default 1d)\n"
	    "  --follow-redirects same-host|any  follow a redirect to another\n"
	    "                  host or port too (default: same host and port,\n"
	    "                  or http to https on the same host)\n"
	    "  -v              more log lines (twice: debug)\n"
	    "Exit status: 0 done, 1 failed (completed pages are kept),\n"
	    "2 usage or config error.\n" },
	{ "export", cmd_export,
	    "print the stored records (JSON Lines, XML or OAI-PMH)",
	    "export --db FILE [--source NAME] [--prefix P]\n"
	    "                  [--identifier ID]... [--since SEQ]\n"
	    "                  [--format json|xml|oai] [--page-size N]",
	    "Print the records as JSON Lines, one record per line, ordered by\n"
	    "source, prefix and identifier.  Options:\n"
	    "  --source NAME   the records of that source (an error when "
	    "there\n"
	    "                  is none)\n"
	    "  --prefix P      of that metadataPrefix (an error when there "
	    "are\n"
	    "                  neither records nor lists of it)\n"
	    "  --identifier ID the record(s) with that OAI identifier,\n"
	    "                  repeatable; exit 1 naming those not found\n"
	    "  --since SEQ     the records changed after change seq SEQ (see\n"
	    "                  changes), each once, as it is now: a deleted "
	    "one\n"
	    "                  with \"deleted\":true and no metadata\n"
	    "  --format F      json (default); xml: one XML document, an\n"
	    "                  <oh:record> with its header and metadata for\n"
	    "                  each record (namespace " FEED_XMLNS ");\n"
	    "                  oai: OAI-PMH ListRecords responses, one after\n"
	    "                  the other, one list per source and prefix\n"
	    "  --page-size N   with --format oai: at most N records a\n"
	    "                  response\n" },
	{ "changes", cmd_changes,
	    "print the change log (new, updated, deleted) as JSON Lines",
	    "changes --db FILE [--since SEQ] [--limit N] [--follow]",
	    "Print the change log (new, updated, deleted) as JSON Lines, in\n"
	    "sequence order.  Options:\n"
	    "  --since SEQ     the changes after seq SEQ (default 0)\n"
	    "  --limit N       at most N changes, 1 or more (default: all)\n"
	    "  --follow        keep printing new changes as they are\n"
	    "                  committed, until interrupted\n" },
	{ "search", cmd_search, "full-text search over the stored records",
	    "search --db FILE QUERY [--source NAME] [--limit N]",
	    "Full-text search over title, creator, subject and description\n"
	    "(FTS5 syntax: words, \"a phrase\", prefix*, AND, OR, NOT,\n"
	    "title:word; a query that is not valid syntax, such as\n"
	    "Taylor-Jones or O'Brien, is searched as plain words).  JSON\n"
	    "Lines, best first: source, identifier, prefix, datestamp, title,\n"
	    "snippet (matches in [brackets]), score.  Options:\n"
	    "  --source NAME   the records of that source only\n"
	    "  --limit N       at most N results, 1 to 100000 (default 20)\n" },
	{ "list-identifiers", cmd_list_identifiers,
	    "print a repository's record headers (nothing stored)",
	    "list-identifiers URL [--prefix P] [--set S] [--from D] [--until "
	    "D]",
	    "Print the record headers of a repository (ListIdentifiers,\n"
	    "following resumption tokens) as JSON Lines.  Nothing is "
	    "stored.\n"
	    "Options:\n"
	    "  --prefix P      the metadataPrefix (default oai_dc)\n"
	    "  --set S         only this set\n"
	    "  --from D, --until D  only records changed in this range\n" },
	{ "get-record", cmd_get_record,
	    "print one record of a repository (nothing stored)",
	    "get-record URL IDENTIFIER [--prefix P]",
	    "Print one record (GetRecord) as a JSON line, in the shape of\n"
	    "export.  Nothing is stored.\n"
	    "  --prefix P      the metadataPrefix (default oai_dc)\n" },
	{ "status", cmd_status,
	    "the last run, record counts and watermarks of each source",
	    "status [--db FILE] [--config FILE] [--daemon URL] "
	    "[--token-file FILE]",
	    "Per source: the last run, its result, record counts and the\n"
	    "watermark of each list.  With --config (its status_listen) or\n"
	    "--daemon http://HOST:PORT, the running daemon's view when it\n"
	    "answers (state, next run, failures); the database's "
	    "otherwise.\n"
	    "The daemon's status token is read from --token-file, or from\n"
	    "the config's status_token_file.\n" },
	{ "sources", cmd_sources,
	    "list, rename, move, reset or drop the database's sources",
	    "sources --db FILE [list]\n"
	    "       oaiharvest sources --db FILE rename OLD NEW\n"
	    "       oaiharvest sources --db FILE move NAME URL\n"
	    "       oaiharvest sources --db FILE reset NAME\n"
	    "       oaiharvest sources --db FILE drop NAME [--force]",
	    "List the sources of the database (name, URL, records present and\n"
	    "deleted, the last run's result and end, the next from of each\n"
	    "list), or change one; nothing is harvested.  --config FILE may\n"
	    "stand for --db (its database).  Actions:\n"
	    "  rename OLD NEW  the source is called NEW (refused when NEW is\n"
	    "                  taken); rename its config section too\n"
	    "  move NAME URL   the repository moved to URL: keep its records,\n"
	    "                  watermarks and changes (as harvest --move)\n"
	    "  reset NAME      forget its watermarks, resumption tokens and\n"
	    "                  sweeps: the next harvest is a full one; its\n"
	    "                  records stay\n"
	    "  drop NAME       delete the source with its records, content,\n"
	    "                  lists, runs, rejects and changes; refused "
	    "while\n"
	    "                  the daemon's changes_log has not written out "
	    "all\n"
	    "                  of its changes, unless --force.  Its seqs are\n"
	    "                  never given out again.\n"
	    "Exit status: 0 done, 1 failed (no such source, a name taken, "
	    "...),\n"
	    "2 usage error.\n" },
};

static const char *progname = "oaiharvest";

static void
usage_all(FILE *out)
{
	size_t i;

	fprintf(out, "usage: %s COMMAND [OPTIONS]\n\ncommands:\n", progname);
	for (i = 0; i < nitems(cmds); i++)
		fprintf(out, "  %-17s %s\n", cmds[i].name, cmds[i].summary);
	fprintf(out,
	    "\n%s COMMAND --help shows one command's usage and options;\n"
	    "%s --version its version.  See oaiharvest(1).\n",
	    progname, progname);
}

static int
usage_cmd(const struct cmd *c, int help)
{
	FILE *out = help ? stdout : stderr;

	fprintf(out, "usage: %s %s\n", progname, c->usage);
	if (help)
		fprintf(out, "\n%s", c->help);
	return help ? 0 : EXIT_USAGE;
}

static const struct cmd *
find_cmd(const char *name)
{
	size_t i;

	for (i = 0; i < nitems(cmds); i++)
		if (strcmp(cmds[i].name, name) == 0)
			return &cmds[i];
	return NULL;
}

static int
bad_usage(const char *cmd, const char *fmt, const char *arg)
{
	fprintf(stderr, "%s %s: ", progname, cmd);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (try %s %s --help)\n", progname, cmd);
	return EXIT_USAGE;
}

/*
 * After a store call r that printed to stdout: say what failed, if
 * anything, and let go of the store and the cause.
 */
static int
output_done(const char *cmd, struct store *store, int r, char *cause)
{
	int rc = 0;

	if (r == -1 || fflush(stdout) == EOF) {
		fprintf(stderr, "%s %s: %s\n", progname, cmd,
		    cause != NULL ? cause : strerror(errno));
		rc = EXIT_FAIL;
	}
	free(cause);
	store_close(store);
	return rc;
}

static struct store *
open_db(const char *cmd, const char *path, int flags)
{
	struct store *s;
	char	     *cause = NULL;

	if ((s = store_open(path, flags, &cause)) == NULL) {
		fprintf(stderr, "%s %s: %s\n", progname, cmd, cause);
		free(cause);
	}
	return s;
}

/* identify */

struct ident {
	struct event_base     *base;
	struct harvest_engine *engine;
	const char	      *url;
	int		       step; /* 0 Identify, 1 formats, 2 sets */
	int		       failed;
	int		       pages;
	int		       cut; /* ListSets stopped early */
	char		      *token;
	size_t		       nformats, nsets;
};

static void ident_next(struct ident *);

/*
 * A repository's string for the terminal: control characters (a newline
 * would make a fake line, an escape sequence would drive the terminal) are
 * shown as log_q() shows them, without its quotes.
 */
static const char *
ident_vis(const char *s)
{
	static char slots[2][512];
	static int  next;
	const char *q;
	char	   *out;
	size_t	    n;

	if (s == NULL)
		return "-";
	for (q = s; *q != '\0'; q++)
		if ((unsigned char)*q < 0x20 || *q == 0x7f)
			break;
	if (*q == '\0')
		return s;
	q = log_q(s);
	n = strlen(q) - 2;
	out = slots[next];
	next = (next + 1) % 2;
	memcpy(out, q + 1, n);
	out[n] = '\0';
	return out;
}

static int
ident_on_identify(void *arg, const struct oai_identify *id)
{
	size_t i;

#define ROW(k, v) printf("%-18s%s\n", k, ident_vis(v))
	ROW("Repository:", id->repository_name);
	ROW("Base URL:", id->base_url);
	ROW("Protocol:", id->protocol_version);
	ROW("Earliest:", id->earliest_datestamp);
	ROW("Deleted records:", id->deleted_record);
	ROW("Granularity:", id->granularity);
#undef ROW
	for (i = 0; i < id->nadmin_emails; i++)
		printf("%-18s%s\n", "Admin:", ident_vis(id->admin_emails[i]));
	if (id->ncompressions > 0) {
		printf("%-18s", "Compression:");
		for (i = 0; i < id->ncompressions; i++)
			printf("%s%s", i ? ", " : "",
			    ident_vis(id->compressions[i]));
		printf("\n");
	}
	return 0;
}

static int
ident_on_format(
    void *arg, const char *prefix, const char *schema, const char *ns)
{
	struct ident *d = arg;

	if (d->nformats++ == 0)
		printf("\nMetadata formats:\n");
	printf("  %-16s %s\n", ident_vis(prefix), ident_vis(ns));
	printf("  %-16s %s\n", "", ident_vis(schema));
	return 0;
}

static int
ident_on_set(void *arg, const char *spec, const char *name)
{
	struct ident *d = arg;

	if (d->nsets++ == 0)
		printf("\nSets:\n");
	printf("  %-24s %s\n", ident_vis(spec),
	    name != NULL ? ident_vis(name) : "");
	return 0;
}

static void
ident_done(struct oai_parser *p, const char *cause, void *arg)
{
	struct ident	       *d = arg;
	const struct oai_token *tok;
	const char	       *code;

	if (p == NULL) {
		fprintf(stderr, "%s identify: %s\n", progname, cause);
		d->failed = 1;
		event_base_loopexit(d->base, NULL);
		return;
	}
	if ((code = oai_parser_error_code(p)) != NULL) {
		if (d->step == 2 && strcmp(code, "noSetHierarchy") == 0)
			printf("\nSets: none (the repository has no sets)\n");
		else {
			/* The repository's words, escaped as in the logs. */
			fprintf(stderr, "%s identify: OAI error %s: %s\n",
			    progname, ident_vis(code),
			    log_q(oai_parser_error_message(p)));
			if (d->step == 0)
				d->failed = 1;
		}
	}
	free(d->token);
	d->token = NULL;
	tok = oai_parser_token(p);
	if (d->step == 2 && tok->value != NULL &&
	    ++d->pages < MAX_IDENTIFY_SET_PAGES)
		d->token = xstrdup(tok->value);
	else {
		if (d->step == 2 && tok->value != NULL) {
			fprintf(stderr,
			    "%s identify: warning: ListSets cut "
			    "after %d pages: the repository still sent a "
			    "resumptionToken\n",
			    progname, MAX_IDENTIFY_SET_PAGES);
			d->cut = 1;
		}
		d->step++;
	}
	if (d->step == 1 && d->failed)
		d->step = 3;
	ident_next(d);
}

static void
ident_next(struct ident *d)
{
	static const struct oai_callbacks cbs = {
		.on_identify = ident_on_identify,
		.on_format = ident_on_format,
		.on_set = ident_on_set,
	};
	char *url = NULL, *cause = NULL;

	switch (d->step) {
	case 0:
		url = harvest_url(d->url, "Identify", (char *)NULL);
		break;
	case 1:
		url = harvest_url(d->url, "ListMetadataFormats", (char *)NULL);
		break;
	case 2:
		url = d->token != NULL ?
		    harvest_url(d->url, "ListSets", "resumptionToken", d->token,
			(char *)NULL) :
		    harvest_url(d->url, "ListSets", (char *)NULL);
		break;
	default:
		if (d->step == 3 && d->nsets == 0 && !d->failed && d->pages)
			printf("\nSets: none\n");
		event_base_loopexit(d->base, NULL);
		return;
	}
	if (url == NULL ||
	    harvest_request(d->engine, url, &cbs, d, ident_done, d, &cause) ==
		-1) {
		fprintf(stderr, "%s identify: %s\n", progname,
		    cause != NULL ? cause : "URL too long");
		free(cause);
		d->failed = 1;
		event_base_loopexit(d->base, NULL);
	}
	free(url);
}

static int
cmd_identify(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct harvest_options ho;
	struct ident	       d;
	char		      *cause = NULL;
	int		       ch;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ch == 'h')
			return usage_cmd(find_cmd("identify"), 1);
		return usage_cmd(find_cmd("identify"), 0);
	}
	if (optind + 1 != argc)
		return usage_cmd(find_cmd("identify"), 0);
	memset(&d, 0, sizeof(d));
	d.url = argv[optind];
	if (strncmp(d.url, "http://", 7) != 0 &&
	    strncmp(d.url, "https://", 8) != 0)
		return bad_usage("identify", "not an http(s) URL: %s", d.url);
	memset(&ho, 0, sizeof(ho));
	ho.timeout = 120;
	d.base = event_base_new();
	if ((d.engine = harvest_engine_new(d.base, NULL, &ho, &cause)) ==
	    NULL) {
		fprintf(stderr, "%s identify: %s\n", progname, cause);
		free(cause);
		event_base_free(d.base);
		return EXIT_FAIL;
	}
	ident_next(&d);
	event_base_dispatch(d.base);
	harvest_engine_free(d.engine);
	event_base_free(d.base);
	free(d.token);
	return d.failed || d.cut ? EXIT_FAIL : 0;
}

/* harvest */

struct hrun {
	struct event_base  *base;
	struct harvest_job *job;
	int		    failed;
	int		    interrupted;
	int		    tty; /* draw a progress line */
	int		    drawn;
	int64_t		    start_ms;
	long long	    base_records; /* lists done before */
	long long	    last_records;
	char		   *list; /* "prefix set" in flight */
	char		   *lost; /* why the host's lease was lost */
};

/*
 * On a terminal, one line that updates in place, driven by the
 * completeListSize the repository announces: records, rate, percentage and
 * time left.  Not on a pipe or a file: logs stay plain lines there.
 */
static void
progress_page(void *arg, const char *source, const char *prefix,
    const char *set, long long records, long long size)
{
	struct hrun *h = arg;
	double	     secs, rate;
	long long    eta;
	char	    *list;

	if (!h->tty)
		return;
	xasprintf(&list, "%s %s", prefix, set);
	if (h->list == NULL || strcmp(h->list, list) != 0) {
		h->base_records += h->last_records;
		free(h->list);
		h->list = list;
	} else
		free(list);
	h->last_records = records;
	secs = (mono_ms() - h->start_ms) / 1000.0;
	rate = secs > 0 ? (h->base_records + records) / secs : 0;
	fprintf(stderr, "\r\033[K%s %s%s%s: %lld record%s", source, prefix,
	    set[0] ? " " : "", set, records, records == 1 ? "" : "s");
	if (size > 0) {
		fprintf(stderr, " of %lld (%.0f%%)", size,
		    records >= size ? 100.0 : 100.0 * records / size);
		if (rate > 0 && records < size) {
			eta = (long long)((size - records) / rate);
			fprintf(
			    stderr, ", %lld:%02lld left", eta / 60, eta % 60);
		}
	}
	fprintf(stderr, ", %.0f records/s", rate);
	h->drawn = 1;
}

static void
harvest_done(const struct harvest_result *r, void *arg)
{
	struct hrun *h = arg;

	h->job = NULL;
	if (!r->ok)
		h->failed = 1;
	if (h->drawn)
		fprintf(stderr, "\r\033[K");
	fprintf(stderr,
	    "harvest source=%s status=%s run=%lld lists=%lld "
	    "pages=%lld records=%lld new=%lld updated=%lld deleted=%lld "
	    "unchanged=%lld bytes=%lld seconds=%.2f",
	    log_q(r->source), r->ok ? "ok" : "failed", (long long)r->run_id,
	    r->lists, r->stats.pages, r->stats.records, r->stats.new_records,
	    r->stats.updated, r->stats.deleted, r->stats.unchanged,
	    r->stats.bytes, r->seconds);
	if (r->stats.tombstones > 0)
		fprintf(stderr, " tombstones=%lld", r->stats.tombstones);
	if (r->repairs > 0)
		fprintf(stderr, " repaired_bytes=%lld", r->repairs);
	if (r->retries > 0)
		fprintf(stderr, " retries=%lld", r->retries);
	if (r->narrowed > 0)
		fprintf(stderr, " windows_narrowed=%lld", r->narrowed);
	if (r->rejects > 0)
		fprintf(stderr, " rejected=%lld", r->rejects);
	if (r->normalized > 0)
		fprintf(stderr, " normalized=%lld", r->normalized);
	if (r->warnings != NULL)
		fprintf(stderr, " warnings=%s", log_q(r->warnings));
	if (!r->ok)
		fprintf(stderr, " error=%s", log_q(r->error));
	fprintf(stderr, "\n");
	event_base_loopexit(h->base, NULL);
}

/* The host's lease is gone (cli_lease.c): the run stops, failed. */
static void
harvest_lease_lost(void *arg, const char *why)
{
	struct hrun *h = arg;

	free(h->lost);
	h->lost = xstrdup(why);
	h->failed = 1;
	if (h->job != NULL)
		harvest_cancel(h->job);
}

static void
harvest_signal(evutil_socket_t sig, short what, void *arg)
{
	struct hrun *h = arg;

	h->interrupted = 1;
	if (h->job != NULL)
		harvest_cancel(h->job);
}

/* Run one source to its end on a fresh loop. */
static int
run_one(struct store *store, const struct harvest_options *ho,
    const struct harvest_source *src, int *interrupted)
{
	struct harvest_engine  *engine;
	struct harvest_observer obs;
	struct harvest_source	hs = *src;
	struct cli_lease       *lease = NULL;
	struct event	       *sigint, *sigterm;
	struct hrun		h;
	char		       *cause = NULL;

	memset(&h, 0, sizeof(h));
	h.base = event_base_new();
	if (h.base == NULL)
		fatalx("event_base_new failed");
	if ((engine = harvest_engine_new(h.base, store, ho, &cause)) == NULL) {
		fprintf(stderr, "%s harvest: %s\n", progname, cause);
		free(cause);
		event_base_free(h.base);
		return EXIT_FAIL;
	}
	h.tty = isatty(STDERR_FILENO) && log_level < LOG_LVL_INFO;
	h.start_ms = mono_ms();
	memset(&obs, 0, sizeof(obs));
	obs.on_page = progress_page;
	harvest_engine_observe(engine, &obs, &h);
	sigint = evsignal_new(h.base, SIGINT, harvest_signal, &h);
	sigterm = evsignal_new(h.base, SIGTERM, harvest_signal, &h);
	evsignal_add(sigint, NULL);
	evsignal_add(sigterm, NULL);
	/* Daemons with leases on this database: not at once with them. */
	if (cli_lease_take(store, h.base, &hs, &lease, &cause) == -1) {
		fprintf(
		    stderr, "%s harvest: %s: %s\n", progname, src->name, cause);
		free(cause);
		h.failed = 1;
	} else {
		if (lease != NULL)
			cli_lease_gate(lease, engine, harvest_lease_lost, &h);
		if ((h.job = harvest_start(
			 engine, &hs, harvest_done, &h, &cause)) == NULL) {
			fprintf(stderr, "%s harvest: %s\n", progname, cause);
			free(cause);
			h.failed = 1;
		} else
			event_base_dispatch(h.base);
	}
	if (h.lost != NULL)
		fprintf(stderr,
		    "%s harvest: %s: stopped: the lease of its host was lost "
		    "(%s); what was harvested is kept, the next run goes on\n",
		    progname, src->name, h.lost);
	free(h.lost);
	cli_lease_release(lease);
	event_free(sigint);
	event_free(sigterm);
	free(h.list);
	harvest_engine_free(engine);
	event_base_free(h.base);
	if (h.interrupted)
		*interrupted = 1;
	return h.failed ? EXIT_FAIL : 0;
}

/*
 * The default source name: the source that already harvests this URL, or
 * else the URL without its scheme (host, port, path: "h_8080_oai"), so that
 * two repositories on one host never share a source.
 */
static char *
name_from_url(struct store *store, const char *url)
{
	const char *p, *at, *q;
	char	   *n, *c;
	size_t	    len;

	n = url_redact(url);
	c = store_source_by_url(store, n);
	free(n);
	if (c != NULL)
		return c;
	/* Without the userinfo: a password is no name. */
	p = url_authority(url, &len);
	if ((at = memchr(p, '@', len)) != NULL) {
		while ((q = memchr(at + 1, '@', len - (size_t)(at + 1 - p))) !=
		    NULL)
			at = q;
		p = at + 1;
	}
	n = xstrndup(p, strcspn(p, "?#"));
	for (c = n; *c != '\0'; c++)
		if (!(*c == '.' || *c == '-' || *c == '_' ||
			(*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') ||
			(*c >= 'A' && *c <= 'Z')))
			*c = '_';
	while ((len = strlen(n)) > 0 && n[len - 1] == '_')
		n[len - 1] = '\0';
	if (*n == '\0') {
		free(n);
		n = xstrdup("default");
	}
	return n;
}

/*
 * One source, one repository: a URL other than the source's own is a
 * usage error, unless --move says the repository moved there.
 */
static int
check_source_url(
    struct store *store, const char *name, const char *url, int move)
{
	char *old, *shown;
	int   rc = 0;

	/* The store keeps the URL without its password (url_redact). */
	shown = url_redact(url);
	url = shown;
	if ((old = store_source_url(store, name)) == NULL ||
	    strcmp(old, url) == 0) {
		free(old);
		free(shown);
		return 0;
	}
	if (move)
		fprintf(stderr,
		    "%s harvest: source \"%s\" moves from %s to %s "
		    "(its records, watermarks and changes are kept)\n",
		    progname, name, old, url);
	else {
		fprintf(stderr,
		    "%s harvest: source \"%s\" is the repository "
		    "at %s, not %s: to harvest %s as another source, give it "
		    "a name with --source; if the repository moved there, add "
		    "--move\n",
		    progname, name, old, url, url);
		rc = -1;
	}
	free(old);
	free(shown);
	return rc;
}

/* Is cs one of the names given, or enabled when none is? */
static int
conf_selected(const struct conf_source *cs, char **names, int n)
{
	int k;

	if (n == 0)
		return cs->enabled;
	for (k = 0; k < n; k++)
		if (strcmp(names[k], cs->name) == 0)
			return 1;
	return 0;
}

/*
 * harvest's flags that set a config key, parsed by that key's own setter
 * (conf_set_key()): the units, bounds and messages are the config file's.
 * A bare number for a "millis" flag is milliseconds, as it was before the
 * flags took units (the file's bare numbers are seconds).  A flag without
 * an argument sets value.
 */
static const struct harvest_flag {
	int	    ch;
	const char *key;
	int	    millis;
	const char *value;
} harvest_flags[] = {
	{ 'p', "metadata_prefix", 0, NULL },
	{ 's', "set", 0, NULL },
	{ 'F', "from", 0, NULL },
	{ 'U', "until", 0, NULL },
	{ 'D', "delay", 1, NULL },
	{ 'R', "retries", 0, NULL },
	{ 'W', "retry_wait", 1, NULL },
	{ 'T', "timeout", 0, NULL },
	{ 'M', "max_response_bytes", 0, NULL },
	{ 'O', "overlap", 0, NULL },
	{ 'w', "window", 0, NULL },
	{ 'm', "window_min", 0, NULL },
	{ 'L', "follow_redirects", 0, NULL },
	/* Now: any sweep older than a second is due. */
	{ 'S', "reconcile", 0, "1s" },
};

/* A flag given: its key and the value handed to conf_set_key(). */
struct flag_value {
	const struct harvest_flag *f;
	char			  *value;
};

static const struct harvest_flag *
harvest_flag(int ch)
{
	size_t i;

	for (i = 0; i < nitems(harvest_flags); i++)
		if (harvest_flags[i].ch == ch)
			return &harvest_flags[i];
	return NULL;
}

/* "--name" of the option whose getopt value is ch. */
static const char *
flag_name(const struct option *opts, int ch)
{
	static char name[64];

	for (; opts->name != NULL; opts++)
		if (opts->val == ch)
			break;
	snprintf(
	    name, sizeof(name), "--%s", opts->name != NULL ? opts->name : "?");
	return name;
}

/*
 * A flag's value the config's way: "oaiharvest harvest: --delay 2h: out of
 * range (0 to 1h)", then the usual hint.
 */
static int
bad_flag(const char *cmd, const char *flag, const char *value, const char *why)
{
	fprintf(stderr, "%s %s: %s %s: %s (try %s %s --help)\n", progname, cmd,
	    flag, value, why, progname, cmd);
	return EXIT_USAGE;
}

/* Parse one flag into c and s; on error say so and return -1. */
static int
flag_set(const struct option *opts, const struct harvest_flag *f,
    const char *arg, struct conf *c, struct conf_source *s,
    struct flag_value *out)
{
	char *why = NULL, *value;

	if (f->value != NULL)
		value = xstrdup(f->value);
	else if (f->millis && *arg != '\0' &&
	    strspn(arg, "0123456789") == strlen(arg))
		xasprintf(&value, "%sms", arg);
	else
		value = xstrdup(arg);
	if (conf_set_key(c, s, f->key, value, &why) == -1) {
		bad_flag("harvest", flag_name(opts, f->ch), arg, why);
		free(why);
		free(value);
		return -1;
	}
	out->f = f;
	out->value = value;
	return 0;
}

/* Was the flag for key given? */
static int
flag_given(const struct flag_value *fv, size_t n, const char *key)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(fv[i].f->key, key) == 0)
			return 1;
	return 0;
}

static int
cmd_harvest(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "url", required_argument, NULL, 'u' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "set", required_argument, NULL, 's' },
		{ "from", required_argument, NULL, 'F' },
		{ "until", required_argument, NULL, 'U' },
		{ "source", required_argument, NULL, 'n' },
		{ "config", required_argument, NULL, 'c' },
		{ "delay", required_argument, NULL, 'D' },
		{ "retries", required_argument, NULL, 'R' },
		{ "overlap", required_argument, NULL, 'O' },
		{ "sweep", no_argument, NULL, 'S' },
		{ "retry-wait", required_argument, NULL, 'W' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "max-response-bytes", required_argument, NULL, 'M' },
		{ "window", required_argument, NULL, 'w' },
		{ "window-min", required_argument, NULL, 'm' },
		{ "follow-redirects", required_argument, NULL, 'L' },
		{ "move", no_argument, NULL, 'X' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd	  *c = find_cmd("harvest");
	const struct harvest_flag *f;
	struct harvest_options	   ho;
	struct harvest_source	   src;
	struct conf		  *conf = NULL, *fconf;
	struct conf_source	   fsrc, run;
	const struct conf_source  *cs;
	struct flag_value	  *fv;
	struct store		  *store = NULL;
	const char		  *db = NULL, *url = NULL, *config = NULL;
	const char		  *name = NULL;
	char			  *cause = NULL, *autoname = NULL;
	size_t			   nfv = 0, i, j;
	int			   ch, verbose = 0, rc = 0, r, intr = 0;
	int			   k, move = 0, from;

	/* The flags' own settings: the config's defaults but no delay. */
	fconf = conf_new("command line");
	conf_source_init(&fsrc, "");
	fsrc.delay_ms = 0;
	fv = xcalloc(argc, sizeof(*fv));
	while ((ch = getopt_long(argc, argv, "hv", opts, NULL)) != -1) {
		if ((f = harvest_flag(ch)) != NULL) {
			if (flag_set(opts, f, optarg, fconf, &fsrc, &fv[nfv]) ==
			    -1) {
				rc = EXIT_USAGE;
				goto out;
			}
			nfv++;
			continue;
		}
		switch (ch) {
		case 'd':
			db = optarg;
			break;
		case 'u':
			url = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'c':
			config = optarg;
			break;
		case 'X':
			move = 1;
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			rc = usage_cmd(c, 1);
			goto out;
		default:
			rc = usage_cmd(c, 0);
			goto out;
		}
	}
	log_init(verbose >= 2 ? LOG_LVL_DEBUG :
		verbose	      ? LOG_LVL_INFO :
				LOG_LVL_WARN);
	/* --from overrides the watermark; a config's from does not. */
	from = flag_given(fv, nfv, "from");
	if (config != NULL) {
		if (url != NULL || name != NULL ||
		    flag_given(fv, nfv, "metadata_prefix") ||
		    flag_given(fv, nfv, "set") ||
		    flag_given(fv, nfv, "delay")) {
			rc = bad_usage("harvest", "%s",
			    "--config cannot be "
			    "combined with --url, --prefix, --set, --source or "
			    "--delay (the config file says those)");
			goto out;
		}
		if ((conf = conf_load(config, &cause)) == NULL) {
			fprintf(stderr, "%s harvest: %s\n", progname, cause);
			rc = EXIT_USAGE;
			goto out;
		}
		for (k = optind; k < argc; k++)
			if (conf_source_find(conf, argv[k]) == NULL) {
				fprintf(stderr,
				    "%s harvest: %s: no source named "
				    "\"%s\"\n",
				    progname, config, argv[k]);
				rc = EXIT_USAGE;
				goto out;
			}
		if (db == NULL)
			db = conf->database;
	} else {
		if (optind != argc) {
			rc = bad_usage(
			    "harvest", "unexpected argument: %s", argv[optind]);
			goto out;
		}
		if (db == NULL || url == NULL) {
			rc = bad_usage("harvest",
			    "%s is missing (or --config FILE)",
			    db == NULL ? "--db FILE" : "--url URL");
			goto out;
		}
		if (strncmp(url, "http://", 7) != 0 &&
		    strncmp(url, "https://", 8) != 0) {
			rc = bad_usage("harvest",
			    "--url: not an http(s) URL: "
			    "%s",
			    url);
			goto out;
		}
		if (move && name == NULL) {
			rc = bad_usage("harvest", "%s",
			    "--move needs the "
			    "--source that moved");
			goto out;
		}
	}
	if ((store = open_db("harvest", db, 0)) == NULL) {
		rc = EXIT_FAIL;
		goto out;
	}
	if (conf == NULL) {
		if (name == NULL)
			name = autoname = name_from_url(store, url);
		if (check_source_url(store, name, url, move) == -1) {
			rc = EXIT_USAGE;
			goto out;
		}
		settings_options(fconf, &ho);
		settings_source(fconf, &fsrc, &src);
		src.name = name;
		src.url = url;
		src.from_is_initial = !from;
		src.move = move;
		rc = run_one(store, &ho, &src, &intr);
		goto out;
	}
	/* Every selected source's URL first: nothing runs on a mistake. */
	for (i = 0; i < conf->nsources; i++) {
		cs = &conf->sources[i];
		if (conf_selected(cs, argv + optind, argc - optind) &&
		    check_source_url(store, cs->name, cs->url, move) == -1)
			rc = EXIT_USAGE;
	}
	if (rc != 0)
		goto out;
	for (i = 0; i < conf->nsources && !intr; i++) {
		cs = &conf->sources[i];
		if (!conf_selected(cs, argv + optind, argc - optind))
			continue;
		/* The flags given override the config's values. */
		conf_source_copy(&run, cs);
		for (j = 0; j < nfv; j++)
			if (conf_set_key(conf, &run, fv[j].f->key, fv[j].value,
				&cause) == -1)
				fatalx("%s: %s", fv[j].f->key, cause);
		settings_options(conf, &ho);
		settings_source(conf, &run, &src);
		src.from_is_initial = !from;
		src.move = move;
		if ((r = run_one(store, &ho, &src, &intr)) != 0)
			rc = r;
		conf_source_clear(&run);
	}
out:
	store_close(store);
	conf_free(conf);
	conf_free(fconf);
	conf_source_clear(&fsrc);
	for (i = 0; i < nfv; i++)
		free(fv[i].value);
	free(fv);
	free(cause);
	free(autoname);
	return rc;
}

static int
cmd_search(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "source", required_argument, NULL, 'n' },
		{ "limit", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *c = find_cmd("search");
	const char	 *db = NULL, *source = NULL, *errstr;
	long long	  limit = 20;
	struct store	 *store;
	char		 *cause = NULL;
	int		  ch, r;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			db = optarg;
			break;
		case 'n':
			source = optarg;
			break;
		case 'l':
			if (parse_ll(optarg, 1, 100000, &limit, &errstr) == -1)
				return bad_usage(
				    "search", "--limit: %s", errstr);
			break;
		case 'h':
			return usage_cmd(c, 1);
		default:
			return usage_cmd(c, 0);
		}
	}
	if (db == NULL)
		return bad_usage("search", "%s", DB_MISSING);
	if (optind + 1 != argc)
		return usage_cmd(c, 0);
	if ((store = open_db("search", db, STORE_RDONLY)) == NULL)
		return EXIT_FAIL;
	/* Two statements: the cause is set by the call. */
	r = feed_search(store, argv[optind], source, limit, stdout, &cause);
	return output_done("search", store, r, cause);
}

/* list-identifiers, get-record: one verb straight to stdout */

struct walk {
	struct event_base     *base;
	struct harvest_engine *engine;
	const char	      *url;
	const char	      *verb;
	const char	      *cmd; /* the command's name, for messages */
	const char	      *prefix, *set, *from, *until, *identifier;
	char		      *token;
	char		      *last_token; /* the one just followed */
	long long	       pages;
	long long	       count;
	long long	       rejects;
	int		       failed;
};

/* A record as one JSON line, in the shape of `export` without source. */
static int
walk_on_record(void *arg, const struct oai_record *r)
{
	struct walk *w = arg;
	struct buf   b;
	size_t	     i, k;
	int	     el, first, any = 0;

	buf_init(&b, SIZE_MAX / 4);
	buf_addstr(&b, "{\"identifier\":");
	json_add_string(&b, r->identifier, (size_t)-1);
	buf_addstr(&b, ",\"datestamp\":");
	json_add_string(&b, r->datestamp, (size_t)-1);
	buf_printf(
	    &b, ",\"deleted\":%s,\"sets\":[", r->deleted ? "true" : "false");
	for (i = 0; i < r->nsets; i++) {
		if (i > 0)
			buf_addch(&b, ',');
		json_add_string(&b, r->sets[i], (size_t)-1);
	}
	buf_addstr(&b, "],\"dc\":{");
	/* Grouped by field, in the format's order. */
	for (el = 0; r->format != NULL && el < (int)r->format->nfields; el++) {
		first = 1;
		for (k = 0; k < r->nfields; k++) {
			if (r->fields[k].name != r->format->fields[el])
				continue;
			if (first) {
				buf_printf(&b, "%s\"%s\":[", any ? "," : "",
				    r->format->fields[el]);
				first = 0;
				any = 1;
			} else
				buf_addch(&b, ',');
			json_add_string(&b, r->fields[k].value, (size_t)-1);
		}
		if (!first)
			buf_addch(&b, ']');
	}
	buf_addch(&b, '}');
	if (r->metadata != NULL) {
		buf_addstr(&b, ",\"metadata\":");
		json_add_string(&b, r->metadata, r->metadata_len);
	}
	buf_addstr(&b, "}\n");
	fwrite(b.data, 1, b.len, stdout);
	buf_free(&b);
	w->count++;
	/* Some repositories answer GetRecord with a neighbour. */
	if (w->identifier != NULL && strcmp(r->identifier, w->identifier) != 0)
		fprintf(stderr,
		    "%s %s: warning: asked for %s, the repository "
		    "answered with %s\n",
		    progname, w->cmd, log_q(w->identifier),
		    log_q(r->identifier));
	return 0;
}

/* A header or record the parser set aside: said, as harvest says it. */
static int
walk_on_reject(void *arg, const struct oai_reject *r)
{
	struct walk *w = arg;

	w->rejects++;
	fprintf(stderr,
	    "%s %s: set aside: identifier=%s datestamp=%s "
	    "cause=%s\n",
	    progname, w->cmd, log_q(r->identifier), log_q(r->datestamp),
	    log_q(r->cause));
	return 0;
}

static void walk_next(struct walk *);

static void
walk_done(struct oai_parser *p, const char *cause, void *arg)
{
	struct walk	       *w = arg;
	const struct oai_token *tok;
	const char	       *code;

	free(w->token);
	w->token = NULL;
	if (p == NULL) {
		fprintf(stderr, "%s %s: %s\n", progname, w->cmd, cause);
		w->failed = 1;
	} else if ((code = oai_parser_error_code(p)) != NULL) {
		if (strcmp(code, "noRecordsMatch") != 0) {
			fprintf(stderr, "%s %s: OAI error %s: %s\n", progname,
			    w->cmd, code,
			    oai_parser_error_message(p) ?
				oai_parser_error_message(p) :
				"");
			w->failed = 1;
		}
	} else {
		tok = oai_parser_token(p);
		w->pages++;
		if (tok->value != NULL && w->last_token != NULL &&
		    strcmp(tok->value, w->last_token) == 0) {
			/* Following it again would never end. */
			fprintf(stderr,
			    "%s %s: the server repeated the "
			    "resumptionToken %s\n",
			    progname, w->cmd, tok->value);
			w->failed = 1;
		} else if (tok->value != NULL &&
		    w->pages < MAX_PAGES_PER_LIST) {
			w->token = xstrdup(tok->value);
			free(w->last_token);
			w->last_token = xstrdup(tok->value);
		}
	}
	if (w->token != NULL)
		walk_next(w);
	else
		event_base_loopexit(w->base, NULL);
}

static void
walk_next(struct walk *w)
{
	static const struct oai_callbacks cbs = {
		.on_record = walk_on_record,
		.on_reject = walk_on_reject,
	};
	char *url, *cause = NULL;

	if (w->token != NULL)
		url = harvest_url(
		    w->url, w->verb, "resumptionToken", w->token, (char *)NULL);
	else
		url = harvest_url(w->url, w->verb, "identifier", w->identifier,
		    "metadataPrefix", w->prefix, "set", w->set, "from", w->from,
		    "until", w->until, (char *)NULL);
	if (url == NULL ||
	    harvest_request(w->engine, url, &cbs, w, walk_done, w, &cause) ==
		-1) {
		fprintf(stderr, "%s %s: %s\n", progname, w->cmd,
		    cause != NULL ? cause : "URL too long");
		free(cause);
		w->failed = 1;
		event_base_loopexit(w->base, NULL);
	}
	free(url);
}

static int
walk_run(struct walk *w)
{
	struct harvest_options ho;
	char		      *cause = NULL;

	if (strncmp(w->url, "http://", 7) != 0 &&
	    strncmp(w->url, "https://", 8) != 0)
		return bad_usage(w->cmd, "not an http(s) URL: %s", w->url);
	memset(&ho, 0, sizeof(ho));
	w->base = event_base_new();
	if ((w->engine = harvest_engine_new(w->base, NULL, &ho, &cause)) ==
	    NULL) {
		fprintf(stderr, "%s %s: %s\n", progname, w->cmd, cause);
		free(cause);
		event_base_free(w->base);
		return EXIT_FAIL;
	}
	walk_next(w);
	event_base_dispatch(w->base);
	harvest_engine_free(w->engine);
	event_base_free(w->base);
	free(w->token);
	free(w->last_token);
	if (fflush(stdout) == EOF)
		w->failed = 1;
	if (w->rejects > 0)
		fprintf(stderr, "%s %s: %lld %s, %lld set aside (see above)\n",
		    progname, w->cmd, w->count,
		    w->count == 1 ? "record" : "records", w->rejects);
	return w->failed ? EXIT_FAIL : 0;
}

static int
cmd_list_identifiers(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "prefix", required_argument, NULL, 'p' },
		{ "set", required_argument, NULL, 's' },
		{ "from", required_argument, NULL, 'F' },
		{ "until", required_argument, NULL, 'U' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *c = find_cmd("list-identifiers");
	struct walk	  w;
	int		  ch;

	memset(&w, 0, sizeof(w));
	w.verb = "ListIdentifiers";
	w.cmd = "list-identifiers";
	w.prefix = "oai_dc";
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			w.prefix = optarg;
			break;
		case 's':
			w.set = optarg;
			break;
		case 'F':
			w.from = optarg;
			break;
		case 'U':
			w.until = optarg;
			break;
		case 'h':
			return usage_cmd(c, 1);
		default:
			return usage_cmd(c, 0);
		}
	}
	if (optind + 1 != argc)
		return usage_cmd(c, 0);
	if ((w.from != NULL && datestamp_parse(w.from, NULL, NULL) == -1) ||
	    (w.until != NULL && datestamp_parse(w.until, NULL, NULL) == -1))
		return bad_usage("list-identifiers", "%s",
		    "--from/--until: "
		    "not a datestamp (YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ)");
	w.url = argv[optind];
	return walk_run(&w);
}

static int
cmd_get_record(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "prefix", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *c = find_cmd("get-record");
	struct walk	  w;
	int		  ch, rc;

	memset(&w, 0, sizeof(w));
	w.verb = "GetRecord";
	w.cmd = "get-record";
	w.prefix = "oai_dc";
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			w.prefix = optarg;
			break;
		case 'h':
			return usage_cmd(c, 1);
		default:
			return usage_cmd(c, 0);
		}
	}
	if (optind + 2 != argc)
		return usage_cmd(c, 0);
	w.url = argv[optind];
	w.identifier = argv[optind + 1];
	rc = walk_run(&w);
	if (rc == 0 && w.count == 0) {
		fprintf(stderr, "%s get-record: %s\n", progname,
		    w.rejects > 0 ? "the record was set aside" :
				    "no record in the response");
		rc = EXIT_FAIL;
	}
	return rc;
}

/* export, changes, status */

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * A source or prefix that is not in the database is an error, not an
 * empty export: a typo would otherwise look like a repository with
 * nothing.  -1 (said) when it is not, or the store failed.
 */
static int
export_known(struct store *store, const char *source, const char *prefix)
{
	char *cause = NULL;
	int   k;

	if (source != NULL &&
	    (k = store_source_known(store, source, NULL, &cause)) != 1) {
		if (k == 0)
			fprintf(stderr, "%s export: no source called \"%s\"\n",
			    progname, source);
		goto fail;
	}
	if (prefix != NULL &&
	    (k = store_source_known(store, source, prefix, &cause)) != 1) {
		if (k == 0 && source != NULL)
			fprintf(stderr,
			    "%s export: source \"%s\" has no "
			    "records or lists of prefix \"%s\"\n",
			    progname, source, prefix);
		else if (k == 0)
			fprintf(stderr,
			    "%s export: no records or lists of "
			    "prefix \"%s\"\n",
			    progname, prefix);
		goto fail;
	}
	return 0;
fail:
	if (cause != NULL)
		fprintf(stderr, "%s export: %s\n", progname, cause);
	free(cause);
	return -1;
}

static int
cmd_export(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "source", required_argument, NULL, 'n' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "identifier", required_argument, NULL, 'i' },
		{ "since", required_argument, NULL, 's' },
		{ "format", required_argument, NULL, 'f' },
		{ "page-size", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd	  *c = find_cmd("export");
	const char		  *db = NULL, *errstr;
	const char		 **ids = NULL;
	struct store_export_filter f;
	struct feed_export_opts	   o;
	struct store		  *store;
	unsigned char		  *found = NULL;
	long long		   since = -1, records = 0;
	size_t			   nids = 0, i, k;
	char			  *cause = NULL;
	int			   ch, r, rc;

	memset(&f, 0, sizeof(f));
	memset(&o, 0, sizeof(o));
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			db = optarg;
			break;
		case 'n':
			f.source = optarg;
			break;
		case 'p':
			f.prefix = optarg;
			break;
		case 'i':
			ids = xreallocarray(ids, nids + 1, sizeof(*ids));
			ids[nids++] = optarg;
			break;
		case 's':
			if (parse_ll(optarg, 0, INT64_MAX, &since, &errstr) ==
			    -1) {
				free(ids);
				return bad_usage(
				    "export", "--since: %s", errstr);
			}
			break;
		case 'f':
			if (strcmp(optarg, "json") == 0)
				o.format = FEED_JSON;
			else if (strcmp(optarg, "xml") == 0)
				o.format = FEED_XML;
			else if (strcmp(optarg, "oai") == 0)
				o.format = FEED_OAI;
			else {
				free(ids);
				return bad_usage("export",
				    "--format %s: "
				    "json, xml or oai",
				    optarg);
			}
			break;
		case 'P':
			if (parse_ll(optarg, 1, 1000000, &o.page_size,
				&errstr) == -1) {
				free(ids);
				return bad_usage(
				    "export", "--page-size: %s", errstr);
			}
			break;
		case 'h':
			free(ids);
			return usage_cmd(c, 1);
		default:
			free(ids);
			return usage_cmd(c, 0);
		}
	}
	if (db == NULL) {
		free(ids);
		return bad_usage("export", "%s", DB_MISSING);
	}
	if (optind != argc) {
		free(ids);
		return usage_cmd(c, 0);
	}
	if (o.page_size > 0 && o.format != FEED_OAI) {
		free(ids);
		return bad_usage("export", "%s",
		    "--page-size goes with "
		    "--format oai");
	}
	if ((store = open_db("export", db, STORE_RDONLY)) == NULL) {
		free(ids);
		return EXIT_FAIL;
	}
	if (export_known(store, f.source, f.prefix) == -1) {
		free(ids);
		store_close(store);
		return EXIT_FAIL;
	}
	/* Sorted and each once, so that the found ones can be told. */
	if (ids != NULL) {
		qsort(ids, nids, sizeof(*ids), cmp_str);
		for (i = k = 0; i < nids; i++)
			if (k == 0 || strcmp(ids[k - 1], ids[i]) != 0)
				ids[k++] = ids[i];
		nids = k;
		found = xcalloc(nids, 1);
	}
	f.since = since;
	f.identifiers = ids;
	f.nidentifiers = nids;
	o.filter = &f;
	o.found = found;
	o.records = &records;
	r = feed_export_select(store, &o, stdout, &cause);
	rc = output_done("export", store, r, cause);
	/* Without --since every identifier asked for must be there. */
	for (i = 0; r == 0 && since < 0 && i < nids; i++) {
		if (found[i])
			continue;
		fprintf(stderr, "%s export: no record %s\n", progname, ids[i]);
		rc = EXIT_FAIL;
	}
	free(found);
	free(ids);
	return rc;
}

static int
cmd_changes(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "since", required_argument, NULL, 's' },
		{ "limit", required_argument, NULL, 'l' },
		{ "follow", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *c = find_cmd("changes");
	const char	 *db = NULL, *errstr;
	long long	  since = 0, limit = -1;
	int64_t		  last;
	struct store	 *store;
	struct timespec	  ts = { 0, 500 * 1000 * 1000 };
	char		 *cause = NULL;
	int		  ch, rc = 0, follow = 0;

	while ((ch = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			db = optarg;
			break;
		case 's':
			if (parse_ll(optarg, 0, INT64_MAX, &since, &errstr) ==
			    -1)
				return bad_usage(
				    "changes", "--since: %s", errstr);
			break;
		case 'l':
			if (parse_ll(optarg, 1, INT64_MAX, &limit, &errstr) ==
			    -1)
				return bad_usage(
				    "changes", "--limit: %s", errstr);
			break;
		case 'f':
			follow = 1;
			break;
		case 'h':
			return usage_cmd(c, 1);
		default:
			return usage_cmd(c, 0);
		}
	}
	if (db == NULL)
		return bad_usage("changes", "%s", DB_MISSING);
	if (optind != argc)
		return usage_cmd(c, 0);
	if ((store = open_db("changes", db, STORE_RDONLY)) == NULL)
		return EXIT_FAIL;
	/*
	 * --follow: like tail -f, until interrupted; a poll of the database
	 * twice a second costs one indexed query (seq > N).
	 */
	last = since;
	do {
		if (feed_changes(store, last, follow ? -1 : limit, stdout,
			&last, &cause) == -1 ||
		    fflush(stdout) == EOF) {
			fprintf(stderr, "%s changes: %s\n", progname,
			    cause != NULL ? cause : strerror(errno));
			rc = EXIT_FAIL;
			break;
		}
		if (follow)
			nanosleep(&ts, NULL);
	} while (follow);
	free(cause);
	store_close(store);
	return rc;
}

static int
cmd_sources(int argc, char **argv)
{
	const struct cmd *c = find_cmd("sources");

	return cli_sources(argc, argv, c->usage, c->help);
}

static size_t
body_cb(char *p, size_t size, size_t n, void *arg)
{
	return buf_add(arg, p, size * n) == 0 ? size * n : 0;
}

/*
 * GET url into b, with the status token when there is one; the answer's
 * HTTP status (0: none, the daemon did not answer).
 */
static long
http_get(const char *url, const char *token, struct buf *b, long timeout_ms)
{
	struct curl_slist *h = NULL;
	CURL		  *c;
	char		  *auth;
	long		   code = 0;
	int		   rc;

	if ((c = curl_easy_init()) == NULL)
		return 0;
	if (token != NULL) {
		xasprintf(&auth, "Authorization: Bearer %s", token);
		h = curl_slist_append(NULL, auth);
		explicit_bzero(auth, strlen(auth));
		free(auth);
		if (h == NULL) {
			curl_easy_cleanup(c);
			return 0;
		}
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	/* The token goes to the daemon named, never to a redirect. */
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	return rc == CURLE_OK ? code : 0;
}

static int
cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "config", required_argument, NULL, 'c' },
		{ "daemon", required_argument, NULL, 'D' },
		{ "token-file", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *c = find_cmd("status");
	const char	 *db = NULL, *config = NULL;
	const char	 *daemon = NULL, *token_file = NULL;
	struct conf	 *conf = NULL;
	struct store	 *store;
	struct buf	  b;
	char		 *cause = NULL, *url = NULL, *token = NULL;
	size_t		  token_len = 0;
	long		  code;
	int		  ch, rc = 0;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			db = optarg;
			break;
		case 'c':
			config = optarg;
			break;
		case 'D':
			daemon = optarg;
			break;
		case 'T':
			token_file = optarg;
			break;
		case 'h':
			return usage_cmd(c, 1);
		default:
			return usage_cmd(c, 0);
		}
	}
	if (db == NULL && config == NULL && daemon == NULL)
		return bad_usage("status", "%s",
		    "--db FILE is missing (or --config FILE, or --daemon URL)");
	if (optind != argc)
		return usage_cmd(c, 0);
	if (config != NULL) {
		if ((conf = conf_load(config, &cause)) == NULL) {
			fprintf(stderr, "%s status: %s\n", progname, cause);
			free(cause);
			return EXIT_USAGE;
		}
		if (db == NULL)
			db = conf->database;
		if (daemon == NULL && conf->status_listen != NULL)
			xasprintf(
			    &url, "http://%s/status", conf->status_listen);
	}
	if (daemon != NULL) {
		free(url);
		xasprintf(&url, "%s/status", daemon);
	}
	/* The daemon's status token: --token-file, or the config's. */
	if (token_file == NULL && conf != NULL)
		token_file = conf->status_token_file;
	if (url != NULL && token_file != NULL &&
	    http_token_read(token_file, &token, &token_len, &cause) == -1) {
		fprintf(stderr, "%s status: %s\n", progname, cause);
		free(cause);
		cause = NULL;
		if (db == NULL) {
			rc = EXIT_FAIL;
			goto out;
		}
		free(url);
		url = NULL;
		fprintf(stderr, "%s status: the database says:\n", progname);
	}
	/* The running daemon's view when it answers. */
	if (url != NULL) {
		buf_init(&b, 64UL * 1024 * 1024);
		code = http_get(url, token, &b, 3000);
		if (code == 200 &&
		    feed_daemon_status(buf_str(&b), stdout) == 0) {
			buf_free(&b);
			goto out;
		}
		buf_free(&b);
		if (code == 401)
			fprintf(stderr,
			    "%s status: the daemon at %s wants its status "
			    "token (%s)%s\n",
			    progname, url,
			    token != NULL ?
				"the one given was refused" :
				"--token-file FILE, or --config with "
				"status_token_file",
			    db != NULL ? "; the database says:" : "");
		else
			fprintf(stderr,
			    "%s status: the daemon does not answer at "
			    "%s%s\n",
			    progname, url,
			    db != NULL ? "; the database says:" : "");
		if (db == NULL) {
			rc = EXIT_FAIL;
			goto out;
		}
	}
	if ((store = open_db("status", db, STORE_RDONLY)) == NULL) {
		rc = EXIT_FAIL;
		goto out;
	}
	rc = feed_status(store, stdout, &cause);
	rc = output_done("status", store, rc, cause);
	cause = NULL;
out:
	if (token != NULL)
		explicit_bzero(token, token_len);
	free(token);
	free(cause);
	free(url);
	conf_free(conf);
	return rc;
}

int
main(int argc, char **argv)
{
	const struct cmd *c;

	log_init(LOG_LVL_WARN);
	/*
	 * SIGPIPE keeps its default: `oaiharvest export | head` ends quietly.
	 * libcurl sends with MSG_NOSIGNAL, so sockets never raise it.
	 */
	if (argc < 2) {
		usage_all(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage_all(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("oaiharvest %s\n", OH_VERSION);
		return 0;
	}
	if ((c = find_cmd(argv[1])) == NULL) {
		fprintf(stderr, "%s: unknown command: %s\n", progname, argv[1]);
		usage_all(stderr);
		return EXIT_USAGE;
	}
	return c->fn(argc - 1, argv + 1);
}
