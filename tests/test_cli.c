/*
 * Integration: the command line's export selections and formats, and
 * `oaiharvest sources` (issue 16, items 11 to 13).  The real oaiharvest
 * CLI against the real test server, into a real SQLite file; XML output
 * is read back with libxml2.
 */
#include <sys/types.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <sqlite3.h>

#include "util.h"

#include "testlib.h"

#define OH_NS  "urn:oaiharvest:export:1"
#define OAI_NS "http://www.openarchives.org/OAI/2.0/"
#define ID(n)  "oai:oaiharvest.test:rec/" #n

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

/* One integer from a query on the database file db. */
static long long
db_int(const char *db, const char *fmt, ...)
{
	sqlite3	 *sdb;
	va_list	  ap;
	char	 *sql;
	long long v;

	va_start(ap, fmt);
	xvasprintf(&sql, fmt, ap);
	va_end(ap);
	assert_int_equal(
	    sqlite3_open_v2(db, &sdb, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	v = q_int(sdb, sql);
	sqlite3_close(sdb);
	free(sql);
	return v;
}

/* Run SQL on the database file db (what the daemon's feed would do). */
static void
db_exec(const char *db, const char *sql)
{
	sqlite3 *sdb;

	assert_int_equal(sqlite3_open(db, &sdb), SQLITE_OK);
	if (sqlite3_exec(sdb, sql, NULL, NULL, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(sdb));
	sqlite3_close(sdb);
}

/* oaiharvest ARGS: its exit status; stdout and stderr in *out, *err. */
static int
cli(char **out, char **err, const char *fmt, ...)
{
	va_list ap;
	char   *args;
	int	rc;

	va_start(ap, fmt);
	xvasprintf(&args, fmt, ap);
	va_end(ap);
	rc = run("c.out", "c.err", "%s/oaiharvest %s", bindir, args);
	free(args);
	if (out != NULL)
		*out = read_tmp("c.out");
	if (err != NULL)
		*err = read_tmp("c.err");
	return rc;
}

static int
harvest(const char *db, const struct server *srv, const char *source)
{
	return cli(NULL, NULL,
	    "harvest --db %s --url "
	    "http://127.0.0.1:%d/oai --source %s",
	    db, srv->port, source);
}

static long long
lines(const char *text)
{
	long long n = 0;

	for (; *text != '\0'; text++)
		n += *text == '\n';
	return n;
}

/* An in-memory database with the JSON Lines text as table t. */
static sqlite3 *
jsonl(const char *text)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	load_jsonl(db, "t", text);
	return db;
}

static long long
mq_int(sqlite3 *db, const char *fmt, ...)
{
	va_list	  ap;
	char	 *sql;
	long long v;

	va_start(ap, fmt);
	xvasprintf(&sql, fmt, ap);
	va_end(ap);
	v = q_int(db, sql);
	free(sql);
	return v;
}

/* Is line (with its newline) one of table t's? */
static int
has_line(sqlite3 *m, const char *line)
{
	sqlite3_stmt *st;
	int	      n;

	assert_int_equal(sqlite3_prepare_v2(m,
			     "SELECT count(*) FROM t "
			     "WHERE j || char(10) = ?",
			     -1, &st, NULL),
	    SQLITE_OK);
	sqlite3_bind_text(st, 1, line, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n == 1;
}

/*
 * Item 11: --identifier (repeatable) exports those records, a deleted one
 * as a tombstone; one that is not there is named (exit 1); an unknown
 * --source or --prefix is an error, not an empty export.
 */
static void
test_export_identifier(void **state)
{
	struct server srv;
	sqlite3	     *m;
	char	     *db, *out, *err;

	start_server(&srv, "ids.port",
	    "--records 40 --page-size 15 "
	    "--deleted-every 7");
	db = path("ids.db");
	assert_int_equal(harvest(db, &srv, "ids"), 0);

	assert_int_equal(
	    cli(&out, &err,
		"export --db %s --identifier " ID(3) " --identifier " ID(
		    7) " --identifier " ID(3),
		db),
	    0);
	assert_int_equal(lines(out), 2);
	m = jsonl(out);
	assert_int_equal(mq_int(m,
			     "SELECT count(*) FROM t WHERE "
			     "j->>'identifier' = '" ID(
				 3) "' AND j->>'deleted' = 0 AND "
				    "j->>'source' = 'ids' AND j->>'metadata' "
				    "LIKE '%%<dc:title%%'"),
	    1);
	/* rec/7 is deleted: a tombstone. */
	assert_int_equal(
	    mq_int(m,
		"SELECT count(*) FROM t WHERE "
		"j->>'identifier' = '" ID(
		    7) "' AND j->>'deleted' = 1 AND "
		       "j->'metadata' IS NULL AND j->>'dc' = '{}'"),
	    1);
	sqlite3_close(m);
	free(out);
	free(err);

	/* The same lines as the whole export has. */
	assert_int_equal(cli(&out, NULL, "export --db %s", db), 0);
	assert_int_equal(lines(out), 40);
	m = jsonl(out);
	free(out);
	assert_int_equal(cli(&out, NULL,
			     "export --db %s --source ids "
			     "--prefix oai_dc --identifier " ID(12),
			     db),
	    0);
	assert_int_equal(lines(out), 1);
	assert_non_null(strstr(out, "\"" ID(12) "\""));
	assert_true(has_line(m, out));
	sqlite3_close(m);
	free(out);

	/* Not there: named, the others exported. */
	assert_int_equal(cli(&out, &err,
			     "export --db %s --identifier nope "
			     "--identifier " ID(4),
			     db),
	    1);
	assert_int_equal(lines(out), 1);
	assert_non_null(strstr(err, "no record nope"));
	assert_null(strstr(err, ID(4)));
	free(out);
	free(err);
	/* There, but in another source than the one asked for. */
	assert_int_equal(harvest(db, &srv, "other"), 0);
	assert_int_equal(
	    cli(&out, &err, "export --db %s --identifier " ID(4), db), 0);
	assert_int_equal(lines(out), 2);
	free(out);
	free(err);

	/* An unknown source or prefix. */
	assert_int_equal(
	    cli(&out, &err, "export --db %s --source nosuch", db), 1);
	assert_string_equal(out, "");
	assert_non_null(strstr(err, "no source called \"nosuch\""));
	free(out);
	free(err);
	assert_int_equal(
	    cli(&out, &err, "export --db %s --prefix marc", db), 1);
	assert_string_equal(out, "");
	assert_non_null(strstr(err, "prefix \"marc\""));
	free(out);
	free(err);
	assert_int_equal(cli(&out, &err,
			     "export --db %s --source ids "
			     "--prefix marc",
			     db),
	    1);
	assert_non_null(strstr(err,
	    "source \"ids\" has no records or lists "
	    "of prefix \"marc\""));
	free(out);
	free(err);

	/* Usage errors. */
	assert_int_equal(
	    cli(NULL, &err, "export --db %s --format yaml", db), 2);
	assert_non_null(strstr(err, "--format yaml"));
	free(err);
	assert_int_equal(
	    cli(NULL, &err, "export --db %s --page-size 5", db), 2);
	free(err);
	assert_int_equal(cli(NULL, &err, "export --db %s --since -1", db), 2);
	free(err);
	free(db);
	stop_server(&srv);
}

/*
 * Item 11: after a second harvest with an update, a deletion, an addition,
 * a set move and a datestamp bump, export --since the last seq of the
 * first returns exactly the changed records, each once, as they are now.
 */
static void
test_export_since(void **state)
{
	struct server srv;
	sqlite3	     *m;
	char	     *db, *out, *all, *q;
	long long     seq, last;

	start_server(&srv, "since.port",
	    "--records 30 --page-size 10 "
	    "--deleted-every 0");
	db = path("since.db");
	assert_int_equal(harvest(db, &srv, "since"), 0);
	seq = db_int(db, "SELECT max(seq) FROM change");
	assert_int_equal(seq, 30);
	/* Nothing changed after the last seq: nothing, and success. */
	assert_int_equal(
	    cli(&out, NULL, "export --db %s --since %lld", db, seq), 0);
	assert_string_equal(out, "");
	free(out);

	free(http(&srv, 1, "/control/update?id=5"));
	free(http(&srv, 1, "/control/update?id=5"));
	free(http(&srv, 1, "/control/delete?id=6"));
	free(http(&srv, 1, "/control/move?id=9&set=col_0"));
	free(http(&srv, 1, "/control/touch?id=11"));
	free(http(&srv, 1, "/control/add?n=1"));
	assert_int_equal(harvest(db, &srv, "since"), 0);
	free(http(&srv, 1, "/control/update?id=5"));
	assert_int_equal(harvest(db, &srv, "since"), 0);
	last = db_int(db, "SELECT max(seq) FROM change");
	/* rec/5 twice, 6, 9, 31: five changes; the bump of 11 none. */
	assert_int_equal(last, seq + 5);

	assert_int_equal(
	    cli(&out, NULL, "export --db %s --since %lld", db, seq), 0);
	assert_int_equal(cli(&all, NULL, "export --db %s", db), 0);
	m = jsonl(out);
	load_jsonl(m, "a", all);
	assert_int_equal(mq_int(m, "SELECT count(*) FROM t"), 4);
	assert_int_equal(
	    mq_int(m,
		"SELECT count(DISTINCT j->>'identifier') "
		"FROM t WHERE j->>'identifier' IN ('" ID(5) "', '" ID(
		    6) "', '" ID(9) "', '" ID(31) "')"),
	    4);
	/* Each line is the record as the whole export has it now. */
	assert_int_equal(mq_int(m,
			     "SELECT count(*) FROM t WHERE j IN "
			     "(SELECT j FROM a)"),
	    4);
	assert_int_equal(
	    mq_int(m,
		"SELECT count(*) FROM t WHERE "
		"j->>'identifier' = '" ID(6) "' AND j->>'deleted' = 1 AND "
					     "j->'metadata' IS NULL"),
	    1);
	assert_int_equal(
	    mq_int(m,
		"SELECT count(*) FROM t WHERE "
		"j->>'identifier' = '" ID(9) "' AND j->>'sets' LIKE "
					     "'%%\"col_0\"%%'"),
	    1);
	/* In export's order. */
	assert_int_equal(mq_int(m,
			     "SELECT count(*) FROM t t1, t t2 WHERE "
			     "t1.rowid < t2.rowid AND t1.j->>'identifier' > "
			     "t2.j->>'identifier'"),
	    0);
	sqlite3_close(m);
	free(out);
	free(all);

	/* After the first of the second harvest's changes. */
	assert_int_equal(
	    cli(&out, NULL, "export --db %s --since %lld", db, last - 1), 0);
	assert_int_equal(lines(out), 1);
	assert_non_null(strstr(out, "\"" ID(5) "\""));
	free(out);
	/* With --identifier: those among the changed ones, no error. */
	assert_int_equal(cli(&out, NULL,
			     "export --db %s --since %lld "
			     "--identifier " ID(6) " --identifier " ID(11),
			     db, seq),
	    0);
	assert_int_equal(lines(out), 1);
	assert_non_null(strstr(out, "\"" ID(6) "\""));
	free(out);
	/* The changes a consumer read name the records it gets. */
	assert_int_equal(
	    cli(&out, NULL, "changes --db %s --since %lld", db, seq), 0);
	m = jsonl(out);
	free(out);
	assert_int_equal(
	    cli(&out, NULL, "export --db %s --since %lld", db, seq), 0);
	load_jsonl(m, "e", out);
	free(out);
	xasprintf(&q,
	    "SELECT count(*) FROM (SELECT DISTINCT j->>'identifier' "
	    "FROM t EXCEPT SELECT j->>'identifier' FROM e)");
	assert_int_equal(mq_int(m, "%s", q), 0);
	free(q);
	sqlite3_close(m);
	free(db);
	stop_server(&srv);
}

/* The text between the n-th "<open>" and the "</close>" after it. */
static char *
between(const char *text, const char *open, const char *close, int n)
{
	const char *p = text, *e;

	for (; n >= 0; n--) {
		if ((p = strstr(p, open)) == NULL)
			return NULL;
		p += strlen(open);
	}
	if ((e = strstr(p, close)) == NULL)
		return NULL;
	return xstrndup(p, (size_t)(e - p));
}

static xmlDocPtr
parse_xml(const char *text, size_t len)
{
	xmlDocPtr doc;

	/* No network, no entities substituted, no DTD loaded. */
	doc = xmlReadMemory(text, (int)len, "export.xml", NULL,
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc == NULL)
		fail_msg("not well-formed XML: %.300s", text);
	return doc;
}

static xmlNodePtr
child(xmlNodePtr n, const char *ns, const char *name, int k)
{
	for (n = n != NULL ? n->children : NULL; n != NULL; n = n->next)
		if (n->type == XML_ELEMENT_NODE &&
		    strcmp((const char *)n->name, name) == 0 && n->ns != NULL &&
		    strcmp((const char *)n->ns->href, ns) == 0 && k-- == 0)
			return n;
	return NULL;
}

static int
nchildren(xmlNodePtr n, const char *ns, const char *name)
{
	int k = 0;

	while (child(n, ns, name, k) != NULL)
		k++;
	return k;
}

/* The text of n's child name, allocated. */
static char *
child_text(xmlNodePtr n, const char *ns, const char *name)
{
	xmlNodePtr c = child(n, ns, name, 0);
	xmlChar	  *t;
	char	  *s;

	if (c == NULL)
		return NULL;
	t = xmlNodeGetContent(c);
	s = xstrdup((const char *)t);
	xmlFree(t);
	return s;
}

/*
 * A record's header, checked against its JSON line (table t of m):
 * identifier, datestamp, status, setSpecs in order.  Its line's rowid.
 */
static long long
check_header(sqlite3 *m, xmlNodePtr header, const char *ns, const char *source,
    const char *prefix)
{
	struct buf sets;
	xmlChar	  *st;
	char	  *id, *ds, *spec, *sql;
	long long  row;
	int	   k, deleted;

	assert_non_null(header);
	id = child_text(header, ns, "identifier");
	ds = child_text(header, ns, "datestamp");
	assert_non_null(id);
	assert_non_null(ds);
	st = xmlGetProp(header, (const xmlChar *)"status");
	deleted = st != NULL && strcmp((const char *)st, "deleted") == 0;
	xmlFree(st);
	buf_init(&sets, 1 << 20);
	buf_addch(&sets, '[');
	for (k = 0; child(header, ns, "setSpec", k) != NULL; k++) {
		spec = xstrdup((const char *)child(header, ns, "setSpec", k)
				   ->children->content);
		if (k > 0)
			buf_addch(&sets, ',');
		json_add_string(&sets, spec, (size_t)-1);
		free(spec);
	}
	buf_addch(&sets, ']');
	xasprintf(&sql,
	    "SELECT rowid FROM t WHERE j->>'identifier' = '%s' "
	    "AND j->>'datestamp' = '%s' AND j->>'deleted' = %d AND "
	    "json(j->'sets') = json('%s') AND j->>'source' = '%s' AND "
	    "j->>'prefix' = '%s'",
	    id, ds, deleted, buf_str(&sets), source, prefix);
	row = q_int(m, sql);
	free(sql);
	free(id);
	free(ds);
	buf_free(&sets);
	return row;
}

/*
 * Item 12: --format xml is one well-formed document holding every record
 * with its header, and its metadata verbatim as the store holds it (the
 * JSON export's metadata field).
 */
static void
test_export_xml(void **state)
{
	struct server srv;
	xmlDocPtr     doc;
	xmlNodePtr    root, rec, md;
	sqlite3	     *m;
	xmlChar	     *src, *pfx;
	char	     *db, *out, *json, *sql, *meta;
	long long     row;
	int	      n, k, withmd = 0;

	start_server(&srv, "xml.port",
	    "--records 25 --page-size 10 "
	    "--deleted-every 4");
	db = path("xml.db");
	assert_int_equal(
	    cli(NULL, NULL,
		"harvest --db %s --url "
		"http://127.0.0.1:%d/oai --source 'a&b\"<c>' --prefix oai_dc "
		"--prefix qdc",
		db, srv.port),
	    0);
	assert_int_equal(harvest(db, &srv, "second"), 0);
	assert_int_equal(cli(&json, NULL, "export --db %s", db), 0);
	assert_int_equal(lines(json), 75);
	m = jsonl(json);

	assert_int_equal(cli(&out, NULL, "export --db %s --format xml", db), 0);
	doc = parse_xml(out, strlen(out));
	root = xmlDocGetRootElement(doc);
	assert_string_equal((const char *)root->name, "records");
	assert_non_null(root->ns);
	assert_string_equal((const char *)root->ns->href, OH_NS);
	n = nchildren(root, OH_NS, "record");
	assert_int_equal(n, 75);
	for (k = 0; k < n; k++) {
		rec = child(root, OH_NS, "record", k);
		src = xmlGetProp(rec, (const xmlChar *)"source");
		pfx = xmlGetProp(rec, (const xmlChar *)"prefix");
		assert_non_null(src);
		assert_non_null(pfx);
		row = check_header(m, child(rec, OH_NS, "header", 0), OH_NS,
		    (const char *)src, (const char *)pfx);
		/* The k-th record is the k-th line: the same order. */
		assert_int_equal(row, k + 1);
		md = child(rec, OH_NS, "metadata", 0);
		/* The metadata, byte for byte. */
		meta = between(out, "<oh:metadata>", "</oh:metadata>", withmd);
		xasprintf(&sql,
		    "SELECT count(*) FROM t WHERE rowid = %lld AND "
		    "(j->>'metadata' IS NULL) = %d",
		    row, md == NULL);
		assert_int_equal(q_int(m, sql), 1);
		free(sql);
		if (md != NULL) {
			sqlite3_stmt *st;

			assert_non_null(meta);
			assert_int_equal(
			    sqlite3_prepare_v2(m,
				"SELECT "
				"j->>'metadata' FROM t WHERE rowid = ?",
				-1, &st, NULL),
			    SQLITE_OK);
			sqlite3_bind_int64(st, 1, row);
			assert_int_equal(sqlite3_step(st), SQLITE_ROW);
			assert_string_equal(meta, sqlite3_column_text(st, 0));
			sqlite3_finalize(st);
			withmd++;
		}
		free(meta);
		xmlFree(src);
		xmlFree(pfx);
	}
	/* Deleted records have none; the others do. */
	assert_int_equal(withmd,
	    mq_int(m,
		"SELECT count(*) FROM t WHERE "
		"j->>'deleted' = 0"));
	assert_true(withmd < 75);
	xmlFreeDoc(doc);
	free(out);

	/* A selection in XML; an empty one is an empty document. */
	assert_int_equal(cli(&out, NULL,
			     "export --db %s --format xml --source "
			     "second --identifier " ID(2),
			     db),
	    0);
	doc = parse_xml(out, strlen(out));
	assert_int_equal(
	    nchildren(xmlDocGetRootElement(doc), OH_NS, "record"), 1);
	xmlFreeDoc(doc);
	free(out);
	assert_int_equal(cli(&out, NULL,
			     "export --db %s --format xml --since "
			     "100000",
			     db),
	    0);
	doc = parse_xml(out, strlen(out));
	assert_int_equal(
	    nchildren(xmlDocGetRootElement(doc), OH_NS, "record"), 0);
	xmlFreeDoc(doc);
	free(out);
	sqlite3_close(m);
	free(json);
	free(db);
	stop_server(&srv);
}

/*
 * Item 12: --format oai writes OAI-PMH ListRecords responses, --page-size
 * records each and one list per source and prefix, each a document of
 * its own with a resumption token to the next page of its list.
 */
static void
test_export_oai(void **state)
{
	struct server srv;
	xmlDocPtr     doc;
	xmlNodePtr    root, lr, req, tok, rec;
	sqlite3	     *m;
	xmlChar	     *verb, *pfx;
	char	     *db, *out, *json, *url, *p, *next, *t;
	char	      cur[64] = "";
	long long     row, records = 0;
	int	      pages = 0, k, n, tokens = 0;

	start_server(&srv, "oai.port",
	    "--records 23 --page-size 10 "
	    "--deleted-every 5");
	db = path("oai.db");
	assert_int_equal(
	    cli(NULL, NULL,
		"harvest --db %s --url "
		"http://127.0.0.1:%d/oai --source oai --prefix oai_dc --prefix "
		"rdc",
		db, srv.port),
	    0);
	assert_int_equal(cli(&json, NULL, "export --db %s", db), 0);
	m = jsonl(json);
	xasprintf(&url, "http://127.0.0.1:%d/oai", srv.port);

	assert_int_equal(cli(&out, NULL,
			     "export --db %s --format oai "
			     "--page-size 7",
			     db),
	    0);
	/* 23 records in each of two lists: 4 pages each. */
	for (p = out; p != NULL && *p != '\0'; p = next) {
		next = strstr(p + 1, "<?xml");
		doc =
		    parse_xml(p, next != NULL ? (size_t)(next - p) : strlen(p));
		pages++;
		root = xmlDocGetRootElement(doc);
		assert_string_equal((const char *)root->name, "OAI-PMH");
		assert_string_equal((const char *)root->ns->href, OAI_NS);
		assert_non_null(child(root, OAI_NS, "responseDate", 0));
		req = child(root, OAI_NS, "request", 0);
		assert_non_null(req);
		verb = xmlGetProp(req, (const xmlChar *)"verb");
		assert_string_equal((const char *)verb, "ListRecords");
		xmlFree(verb);
		t = (char *)xmlNodeGetContent(req);
		assert_string_equal(t, url);
		xmlFree(t);
		lr = child(root, OAI_NS, "ListRecords", 0);
		assert_non_null(lr);
		n = nchildren(lr, OAI_NS, "record");
		assert_true(n >= 1 && n <= 7);
		pfx = xmlGetProp(req, (const xmlChar *)"metadataPrefix");
		tok = child(lr, OAI_NS, "resumptionToken", 0);
		/* A page after the first asks by its token alone. */
		if (pfx == NULL)
			assert_non_null(xmlHasProp(
			    req, (const xmlChar *)"resumptionToken"));
		else
			snprintf(cur, sizeof(cur), "%s", (const char *)pfx);
		xmlFree(pfx);
		if (tok != NULL && tok->children != NULL)
			tokens++;
		for (k = 0; k < n; k++) {
			rec = child(lr, OAI_NS, "record", k);
			row = check_header(m, child(rec, OAI_NS, "header", 0),
			    OAI_NS, "oai", cur);
			assert_int_equal(row, records + 1);
			records++;
			/* Metadata only for present records. */
			assert_int_equal(
			    child(rec, OAI_NS, "metadata", 0) == NULL,
			    mq_int(m,
				"SELECT j->>'deleted' FROM t WHERE "
				"rowid = %lld",
				row));
		}
		xmlFreeDoc(doc);
	}
	assert_int_equal(records, 46);
	assert_int_equal(pages, 8);
	/* Every page but the last of each list points to the next. */
	assert_int_equal(tokens, 6);
	free(out);

	/* Without --page-size: one response per list. */
	assert_int_equal(cli(&out, NULL,
			     "export --db %s --format oai --prefix "
			     "rdc",
			     db),
	    0);
	doc = parse_xml(out, strlen(out));
	lr = child(xmlDocGetRootElement(doc), OAI_NS, "ListRecords", 0);
	assert_int_equal(nchildren(lr, OAI_NS, "record"), 23);
	assert_null(child(lr, OAI_NS, "resumptionToken", 0));
	xmlFreeDoc(doc);
	free(out);
	/* Nothing: an OAI-PMH noRecordsMatch. */
	assert_int_equal(cli(&out, NULL,
			     "export --db %s --format oai --since "
			     "100000",
			     db),
	    0);
	doc = parse_xml(out, strlen(out));
	assert_non_null(child(xmlDocGetRootElement(doc), OAI_NS, "error", 0));
	xmlFreeDoc(doc);
	free(out);
	sqlite3_close(m);
	free(json);
	free(url);
	free(db);
	stop_server(&srv);
}

/*
 * Item 13: sources lists; rename, move and reset change a source's name,
 * URL and watermarks and nothing else; errors are exit 1 (no such source,
 * a name taken) or 2 (usage).
 */
static void
test_sources_manage(void **state)
{
	struct server srv;
	char	     *db, *out, *err, *req;
	long long     changes;

	start_server(&srv, "src.port",
	    "--records 20 --page-size 10 "
	    "--deleted-every 6");
	db = path("src.db");
	/* No database file: nothing is created. */
	assert_int_equal(cli(NULL, NULL, "sources --db %s", db), 1);
	assert_int_equal(cli(NULL, NULL, "sources --db %s reset one", db), 1);
	assert_int_equal(access(db, F_OK), -1);
	assert_int_equal(harvest(db, &srv, "one"), 0);
	assert_int_equal(harvest(db, &srv, "two"), 0);

	assert_int_equal(cli(&out, NULL, "sources --db %s", db), 0);
	assert_non_null(strstr(out, "SOURCE"));
	assert_non_null(strstr(out, "NEXT FROM"));
	assert_non_null(strstr(out, "\none "));
	assert_non_null(strstr(out, "\ntwo "));
	/* Records present and deleted, as the status's. */
	xasprintf(&req, " %9lld %8lld ok ",
	    db_int(db,
		"SELECT count(*) FROM "
		"record r JOIN source s ON s.id = r.source_id WHERE s.name = "
		"'one' "
		"AND NOT deleted"),
	    db_int(db,
		"SELECT count(*) FROM record r JOIN "
		"source s ON s.id = r.source_id WHERE s.name = 'one' AND "
		"deleted"));
	assert_non_null(strstr(out, req));
	free(req);
	assert_non_null(strstr(out, " ok "));
	assert_non_null(strstr(out, "oai_dc=20"));
	assert_int_equal(lines(out), 3);
	/* --config: its database. */
	xasprintf(&req, "[global]\ndatabase = %s\n", db);
	save("src.conf", req);
	free(req);
	req = path("src.conf");
	assert_int_equal(cli(&err, NULL, "sources --config %s", req), 0);
	assert_string_equal(err, out);
	free(err);
	free(req);
	free(out);

	/* rename */
	changes = db_int(db, "SELECT count(*) FROM change");
	assert_int_equal(
	    cli(&out, &err, "sources --db %s rename one uno", db), 0);
	assert_int_equal(db_int(db,
			     "SELECT count(*) FROM source WHERE name = "
			     "'uno'"),
	    1);
	assert_int_equal(db_int(db,
			     "SELECT count(*) FROM record r JOIN source "
			     "s ON s.id = r.source_id WHERE s.name = 'uno'"),
	    20);
	free(out);
	free(err);
	assert_int_equal(cli(&out, NULL, "changes --db %s", db), 0);
	assert_non_null(strstr(out, "\"source\":\"uno\""));
	assert_null(strstr(out, "\"source\":\"one\""));
	free(out);
	assert_int_equal(
	    cli(NULL, &err, "sources --db %s rename one eins", db), 1);
	assert_non_null(strstr(err, "no source called \"one\""));
	free(err);
	assert_int_equal(
	    cli(NULL, &err, "sources --db %s rename uno two", db), 1);
	assert_non_null(strstr(err, "\"two\" already"));
	free(err);
	/* A renamed source harvests on, incrementally. */
	assert_int_equal(harvest(db, &srv, "uno"), 0);
	assert_int_equal(db_int(db, "SELECT count(*) FROM source"), 2);
	assert_int_equal(db_int(db, "SELECT count(*) FROM change"), changes);

	/* move */
	assert_int_equal(cli(&out, NULL,
			     "sources --db %s move uno "
			     "http://localhost:%d/oai",
			     db, srv.port),
	    0);
	free(out);
	assert_int_equal(db_int(db,
			     "SELECT count(*) FROM source WHERE name = "
			     "'uno' AND url = 'http://localhost:%d/oai'",
			     srv.port),
	    1);
	assert_int_equal(cli(NULL, NULL,
			     "harvest --db %s --url "
			     "http://localhost:%d/oai --source uno",
			     db, srv.port),
	    0);
	/* Its watermark kept: nothing listed again. */
	assert_int_equal(db_int(db,
			     "SELECT records FROM run ORDER BY id DESC "
			     "LIMIT 1"),
	    0);
	assert_int_equal(cli(NULL, &err,
			     "sources --db %s move nosuch "
			     "http://localhost:%d/oai",
			     db, srv.port),
	    1);
	assert_non_null(strstr(err, "no source called \"nosuch\""));
	free(err);
	assert_int_equal(cli(NULL, NULL,
			     "sources --db %s move uno "
			     "ftp://localhost/oai",
			     db),
	    2);

	/* reset: the next harvest is a full one, with no from. */
	free(http(&srv, 0, "/control/requests"));
	assert_int_equal(cli(&out, NULL, "sources --db %s reset two", db), 0);
	assert_non_null(strstr(out, "1 list forgotten"));
	free(out);
	assert_int_equal(
	    db_int(db,
		"SELECT count(*) FROM list_state l JOIN "
		"source s ON s.id = l.source_id WHERE s.name = 'two'"),
	    0);
	assert_int_equal(db_int(db, "SELECT count(*) FROM list_state"), 1);
	assert_int_equal(db_int(db,
			     "SELECT count(*) FROM record r JOIN source "
			     "s ON s.id = r.source_id WHERE s.name = 'two'"),
	    20);
	assert_int_equal(harvest(db, &srv, "two"), 0);
	req = http(&srv, 0, "/control/requests");
	assert_non_null(strstr(req, "\"verb\":\"ListRecords\""));
	assert_null(strstr(req, "\"from\""));
	free(req);
	assert_int_equal(db_int(db,
			     "SELECT records FROM run ORDER BY id DESC "
			     "LIMIT 1"),
	    20);
	/* Records harvested again are unchanged: no change rows. */
	assert_int_equal(db_int(db, "SELECT count(*) FROM change"), changes);
	assert_int_equal(
	    cli(NULL, &err, "sources --db %s reset nosuch", db), 1);
	free(err);

	/* Usage errors. */
	assert_int_equal(cli(NULL, NULL, "sources --db %s frob", db), 2);
	assert_int_equal(cli(NULL, NULL, "sources --db %s rename uno", db), 2);
	assert_int_equal(
	    cli(NULL, NULL, "sources --db %s reset two --force", db), 2);
	assert_int_equal(cli(NULL, NULL, "sources rename uno dos"), 2);
	assert_int_equal(cli(&out, NULL, "sources --help"), 0);
	assert_non_null(strstr(out, "drop NAME"));
	free(out);
	free(db);
	stop_server(&srv);
}

/*
 * Item 13: drop deletes a source with everything of it, leaves the others
 * alone, is refused while the feed has not written out its changes (unless
 * --force), and never lets a seq be given out again.
 */
static void
test_sources_drop(void **state)
{
	struct server srv;
	char	     *db, *out, *err;
	long long     maxseq, keep_changes;

	start_server(&srv, "drop.port",
	    "--records 30 --page-size 10 "
	    "--deleted-every 7");
	db = path("drop.db");
	assert_int_equal(harvest(db, &srv, "keep"), 0);
	assert_int_equal(harvest(db, &srv, "gone"), 0);
	keep_changes = db_int(db,
	    "SELECT count(*) FROM change c JOIN source s "
	    "ON s.id = c.source_id WHERE s.name = 'keep'");
	maxseq = db_int(db, "SELECT max(seq) FROM change");
	assert_true(maxseq > keep_changes);
	/* Something set aside, for the drop to take too. */
	db_exec(db,
	    "INSERT INTO reject (source_id, prefix, identifier, cause, "
	    "truncated, at) SELECT id, 'oai_dc', 'x', 'test', 0, "
	    "'2026-01-01T00:00:00Z' FROM source WHERE name = 'gone'");

	/* The feed stands before the last of gone's changes: refused. */
	db_exec(db,
	    "INSERT INTO outbox (name, seq) VALUES ('changes_log', "
	    "(SELECT max(seq) - 1 FROM change))");
	assert_int_equal(cli(&out, &err, "sources --db %s drop gone", db), 1);
	assert_non_null(strstr(err, "\"changes_log\""));
	assert_non_null(strstr(err, "--force"));
	assert_int_equal(db_int(db, "SELECT count(*) FROM source"), 2);
	assert_int_equal(db_int(db, "SELECT max(seq) FROM change"), maxseq);
	free(out);
	free(err);
	/* Written out: allowed. */
	db_exec(db, "UPDATE outbox SET seq = (SELECT max(seq) FROM change)");
	assert_int_equal(cli(&out, &err, "sources --db %s drop gone", db), 0);
	assert_non_null(strstr(out, "dropped: 30 records"));
	free(out);
	free(err);

	assert_int_equal(db_int(db, "SELECT count(*) FROM source"), 1);
	assert_int_equal(db_int(db, "SELECT count(*) FROM record"), 30);
	assert_int_equal(db_int(db, "SELECT count(*) FROM content"),
	    db_int(db, "SELECT count(*) FROM record WHERE deleted = 0"));
	assert_int_equal(db_int(db,
			     "SELECT count(*) FROM record_set WHERE "
			     "record_id NOT IN (SELECT id FROM record)"),
	    0);
	assert_int_equal(db_int(db, "SELECT count(*) FROM list_state"), 1);
	assert_int_equal(db_int(db, "SELECT count(*) FROM run"), 1);
	assert_int_equal(db_int(db, "SELECT count(*) FROM reject"), 0);
	assert_int_equal(
	    db_int(db, "SELECT count(*) FROM change"), keep_changes);
	assert_int_equal(db_int(db, "SELECT count(*) FROM record_fts"),
	    db_int(db, "SELECT count(*) FROM content"));
	db_exec(db,
	    "INSERT INTO record_fts (record_fts) VALUES "
	    "('integrity-check')");
	/* Search finds only the source kept. */
	assert_int_equal(cli(&out, NULL,
			     "search --db %s --limit 1000 "
			     "'steppe OR law OR language'",
			     db),
	    0);
	assert_null(strstr(out, "\"gone\""));
	free(out);
	assert_int_equal(
	    cli(&out, &err, "export --db %s --source gone", db), 1);
	free(out);
	free(err);

	/* The seqs of the dropped changes are never given again. */
	assert_int_equal(harvest(db, &srv, "gone"), 0);
	assert_int_equal(db_int(db,
			     "SELECT min(seq) FROM change c JOIN source "
			     "s ON s.id = c.source_id WHERE s.name = 'gone'"),
	    maxseq + 1);

	/* --force drops what the feed has not written. */
	assert_int_equal(cli(NULL, NULL, "sources --db %s drop gone", db), 1);
	assert_int_equal(
	    cli(&out, NULL, "sources --db %s drop gone --force", db), 0);
	free(out);
	assert_int_equal(db_int(db, "SELECT count(*) FROM source"), 1);
	maxseq = db_int(db, "SELECT last FROM change_seq");
	assert_true(maxseq > db_int(db, "SELECT max(seq) FROM change"));
	assert_int_equal(harvest(db, &srv, "gone"), 0);
	assert_int_equal(db_int(db,
			     "SELECT min(seq) FROM change c JOIN source "
			     "s ON s.id = c.source_id WHERE s.name = 'gone'"),
	    maxseq + 1);
	/* No outbox consumer at all: allowed. */
	db_exec(db, "DELETE FROM outbox");
	assert_int_equal(cli(NULL, NULL, "sources --db %s drop gone", db), 0);
	assert_int_equal(cli(NULL, &err, "sources --db %s drop gone", db), 1);
	assert_non_null(strstr(err, "no source called \"gone\""));
	free(err);
	assert_int_equal(cli(NULL, NULL, "sources --db %s drop keep", db), 0);
	assert_int_equal(cli(&out, NULL, "sources --db %s", db), 0);
	assert_string_equal(out, "no sources\n");
	free(out);
	free(db);
	stop_server(&srv);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_export_identifier),
		cmocka_unit_test(test_export_since),
		cmocka_unit_test(test_export_xml),
		cmocka_unit_test(test_export_oai),
		cmocka_unit_test(test_sources_manage),
		cmocka_unit_test(test_sources_drop),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
