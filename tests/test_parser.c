/*
 * Tests for the streaming OAI-PMH parser (harvest/oai.c).
 *
 * Every real fixture, the nur corpus, the hostile and the broken fixtures
 * are parsed in 1-byte, 7-byte and 16 KiB chunks; a canonical dump of
 * everything the parser reported (rejected records included) must be the
 * same for the three.  Then specific values are checked, and generated
 * documents push every limit.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "oai.h"
#include "oh_limits.h"
#include "util.h"

#define REAL_DIR    "tests/fixtures/real"
#define NUR_DIR	    "tests/fixtures/nur"
#define HOSTILE_DIR "tests/fixtures/hostile"
#define BROKEN_DIR  "tests/fixtures/broken"

#define OAI_OPEN \
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" \
	"<OAI-PMH xmlns=\"http://www.openarchives.org/OAI/2.0/\">\n" \
	"<responseDate>2024-01-01T00:00:00Z</responseDate>\n"
#define DC_NS "http://purl.org/dc/elements/1.1/"
#define DC_OPEN \
	"<oai_dc:dc " \
	"xmlns:oai_dc=\"http://www.openarchives.org/OAI/2.0/oai_dc/\" " \
	"xmlns:dc=\"http://purl.org/dc/elements/1.1/\">"
#define REC_OPEN \
	"<record><header><identifier>oai:x:1</identifier>" \
	"<datestamp>2024-01-01</datestamp></header><metadata>"

static const size_t chunk_sizes[] = { 1, 7, 16384 };

/* What one record looked like, copied out of the callback. */
struct rec {
	char	 *identifier;
	char	 *datestamp;
	char	 *datestamp_norm;
	long long datestamp_t;
	int	  deleted;
	char	**sets;
	size_t	  nsets;
	char	 *metadata;
	size_t	  metadata_len;
	struct {
		const char *element; /* the format's field name */
		char	   *value;
		char	   *lang;
	} * dc;
	size_t ndc;
};

/* A rejected record, copied out of the callback. */
struct rej {
	char  *identifier;
	char  *datestamp;
	char  *cause;
	char  *raw;
	size_t raw_len;
	int    truncated;
};

/* Everything a parse reported. */
struct result {
	struct buf    dump; /* canonical, for chunk comparisons */
	int	      keep; /* copy records into recs[] */
	struct rec   *recs;
	size_t	      nrecs;
	struct rej   *rejs; /* copied when keep is set */
	size_t	      nrejs;
	size_t	      nrejects;	  /* oai_parser_nrejects() */
	size_t	      raw_failed; /* untruncated raw not re-parsing */
	char	      raw_error[512];
	size_t	      ncalls;	   /* on_record calls */
	size_t	      stop_at;	   /* on_* returns -1 at this call (1-) */
	size_t	      stop_reject; /* on_reject likewise */
	size_t	      nrejcalls;
	size_t	      nidentify;
	size_t	      nformats;
	size_t	      nsets;
	char	     *identify_dump;
	size_t	      reparse_failed;
	char	      reparse_error[512];
	int	      feed_rc;
	int	      finish_rc;
	char	     *cause;
	size_t	      repairs;
	size_t	      nrecords;
	size_t	      normalized; /* oai_parser_normalized() */
	enum oai_verb verb;
};

static char *xdup(const char *);
static char *read_file(const char *, size_t *);
static int   reparse(const char *, size_t, char *, size_t);
static void  dump_str(struct buf *, const char *);
static int   cb_record(void *, const struct oai_record *);
static int   cb_reject(void *, const struct oai_reject *);
static int   cb_identify(void *, const struct oai_identify *);
static int   cb_format(void *, const char *, const char *, const char *);
static int   cb_set(void *, const char *, const char *);
static struct oai_parser *parser_for(struct result *);
static void		  finish_result(struct result *, struct oai_parser *);
static void		  run(const char *, size_t, size_t, struct result *);
static void		  result_free(struct result *);
static void		  run_all(const char *, size_t, struct result *);
static void		  run_all_file(const char *, struct result *);
static void		  results_free(struct result *);
static void		  stderr_begin(void);
static size_t		  stderr_end(void);
static int		  expect_failure(const char *);
static void		  collect(const char *, char ***, size_t *, size_t *);

static const struct oai_callbacks callbacks = { cb_record, cb_identify,
	cb_format, cb_set, cb_reject };

static char *
xdup(const char *s)
{
	return s == NULL ? NULL : xstrdup(s);
}

static char *
read_file(const char *path, size_t *len)
{
	struct stat st;
	char	   *data;
	ssize_t	    n;
	size_t	    off = 0;
	int	    fd;

	if ((fd = open(path, O_RDONLY)) == -1)
		fail_msg("open %s: %s", path, strerror(errno));
	if (fstat(fd, &st) == -1)
		fail_msg("fstat %s", path);
	data = xmalloc((size_t)st.st_size + 1);
	while (off < (size_t)st.st_size) {
		n = read(fd, data + off, (size_t)st.st_size - off);
		if (n <= 0)
			fail_msg("read %s", path);
		off += (size_t)n;
	}
	close(fd);
	data[off] = '\0';
	*len = off;
	return data;
}

static int  reparse_errors;
static char reparse_msg[200];

static void
reparse_serror(void *ctx, xmlErrorPtr e)
{
	if (reparse_errors++ == 0)
		snprintf(reparse_msg, sizeof(reparse_msg), "line %d: %s",
		    e->line, e->message);
}

/*
 * Parse serialized metadata on its own with libxml2, namespace errors and
 * warnings counted.  Return 0 when it is a clean standalone document.
 */
static int
reparse(const char *s, size_t len, char *err, size_t errlen)
{
	xmlParserCtxtPtr ctxt;
	xmlDocPtr	 doc;

	reparse_errors = 0;
	reparse_msg[0] = '\0';
	if ((ctxt = xmlNewParserCtxt()) == NULL)
		return -1;
	ctxt->sax->serror = reparse_serror;
	doc = xmlCtxtReadMemory(
	    ctxt, s, (int)len, NULL, "UTF-8", XML_PARSE_NONET);
	if (doc == NULL && reparse_errors == 0)
		reparse_errors++;
	xmlFreeDoc(doc);
	xmlFreeParserCtxt(ctxt);
	if (reparse_errors > 0 && err != NULL)
		snprintf(err, errlen, "%s", reparse_msg);
	return reparse_errors > 0 ? -1 : 0;
}

static void
dump_str(struct buf *b, const char *s)
{
	if (s == NULL)
		buf_addstr(b, "(null)");
	else
		buf_printf(b, "[%zu]%s", strlen(s), s);
}

static int
cb_record(void *arg, const struct oai_record *r)
{
	struct result *res = arg;
	struct rec    *c;
	size_t	       i;

	res->ncalls++;
	buf_addstr(&res->dump, "R ");
	dump_str(&res->dump, r->identifier);
	buf_addch(&res->dump, ' ');
	dump_str(&res->dump, r->datestamp);
	buf_printf(&res->dump, " deleted=%d sets=%zu", r->deleted, r->nsets);
	for (i = 0; i < r->nsets; i++) {
		buf_addch(&res->dump, ' ');
		dump_str(&res->dump, r->sets[i]);
	}
	buf_printf(&res->dump, "\n dc=%zu\n", r->nfields);
	for (i = 0; i < r->nfields; i++) {
		buf_printf(&res->dump, " %s ", r->fields[i].name);
		dump_str(&res->dump, r->fields[i].lang);
		buf_addch(&res->dump, ' ');
		dump_str(&res->dump, r->fields[i].value);
		buf_addch(&res->dump, '\n');
	}
	if (r->metadata == NULL)
		buf_addstr(&res->dump, " metadata=(null)\n");
	else {
		buf_printf(&res->dump, " metadata=%zu ", r->metadata_len);
		buf_add(&res->dump, r->metadata, r->metadata_len);
		buf_addch(&res->dump, '\n');
		if (strlen(r->metadata) != r->metadata_len ||
		    reparse(r->metadata, r->metadata_len, NULL, 0) == -1) {
			if (res->reparse_failed++ == 0)
				snprintf(res->reparse_error,
				    sizeof(res->reparse_error), "%s: %s",
				    r->identifier, reparse_msg);
		}
	}
	if (res->keep) {
		res->recs = xreallocarray(
		    res->recs, res->nrecs + 1, sizeof(*res->recs));
		c = &res->recs[res->nrecs++];
		memset(c, 0, sizeof(*c));
		c->identifier = xdup(r->identifier);
		c->datestamp = xdup(r->datestamp);
		c->datestamp_norm = xdup(r->datestamp_norm);
		c->datestamp_t = (long long)r->datestamp_t;
		c->deleted = r->deleted;
		c->nsets = r->nsets;
		c->sets = xcalloc(r->nsets + 1, sizeof(*c->sets));
		for (i = 0; i < r->nsets; i++)
			c->sets[i] = xdup(r->sets[i]);
		if (r->metadata != NULL) {
			c->metadata = xstrndup(r->metadata, r->metadata_len);
			c->metadata_len = r->metadata_len;
		}
		c->ndc = r->nfields;
		c->dc = xcalloc(r->nfields + 1, sizeof(*c->dc));
		for (i = 0; i < r->nfields; i++) {
			c->dc[i].element = r->fields[i].name;
			c->dc[i].value = xdup(r->fields[i].value);
			c->dc[i].lang = xdup(r->fields[i].lang);
		}
	}
	return res->stop_at == res->ncalls ? -1 : 0;
}

/*
 * A reject goes into the dump with everything it carries; an untruncated
 * raw record must parse alone.
 */
static int
cb_reject(void *arg, const struct oai_reject *r)
{
	struct result *res = arg;
	struct rej    *c;

	buf_addstr(&res->dump, "X ");
	dump_str(&res->dump, r->identifier);
	buf_addch(&res->dump, ' ');
	dump_str(&res->dump, r->datestamp);
	buf_addch(&res->dump, ' ');
	dump_str(&res->dump, r->cause);
	buf_printf(
	    &res->dump, "\n raw=%zu truncated=%d ", r->raw_len, r->truncated);
	buf_add(&res->dump, r->raw, r->raw_len);
	buf_addch(&res->dump, '\n');
	assert_int_equal(strlen(r->raw), r->raw_len);
	assert_true(r->raw_len <= OAI_REJECT_MAX);
	if (!r->truncated && reparse(r->raw, r->raw_len, NULL, 0) == -1 &&
	    res->raw_failed++ == 0)
		snprintf(res->raw_error, sizeof(res->raw_error), "%s: %s",
		    r->cause, reparse_msg);
	if (res->keep) {
		res->rejs = xreallocarray(
		    res->rejs, res->nrejs + 1, sizeof(*res->rejs));
		c = &res->rejs[res->nrejs++];
		c->identifier = xdup(r->identifier);
		c->datestamp = xdup(r->datestamp);
		c->cause = xdup(r->cause);
		c->raw = xstrndup(r->raw, r->raw_len);
		c->raw_len = r->raw_len;
		c->truncated = r->truncated;
	}
	return ++res->nrejcalls == res->stop_reject ? -1 : 0;
}

static int
cb_identify(void *arg, const struct oai_identify *id)
{
	struct result *res = arg;
	struct buf     b;
	size_t	       i;
	const char    *v[] = { id->repository_name, id->base_url,
		   id->protocol_version, id->earliest_datestamp,
		   id->deleted_record, id->granularity };

	buf_init(&b, SIZE_MAX / 2);
	buf_addstr(&b, "I");
	for (i = 0; i < nitems(v); i++) {
		buf_addch(&b, ' ');
		dump_str(&b, v[i]);
	}
	buf_printf(&b, " emails=%zu", id->nadmin_emails);
	for (i = 0; i < id->nadmin_emails; i++) {
		buf_addch(&b, ' ');
		dump_str(&b, id->admin_emails[i]);
	}
	buf_printf(&b, " compressions=%zu", id->ncompressions);
	for (i = 0; i < id->ncompressions; i++) {
		buf_addch(&b, ' ');
		dump_str(&b, id->compressions[i]);
	}
	buf_addch(&b, '\n');
	buf_addstr(&res->dump, buf_str(&b));
	free(res->identify_dump);
	res->identify_dump = xstrdup(buf_str(&b));
	buf_free(&b);
	return ++res->nidentify == res->stop_at ? -1 : 0;
}

static int
cb_format(void *arg, const char *prefix, const char *schema, const char *ns)
{
	struct result *res = arg;

	buf_addstr(&res->dump, "F ");
	dump_str(&res->dump, prefix);
	buf_addch(&res->dump, ' ');
	dump_str(&res->dump, schema);
	buf_addch(&res->dump, ' ');
	dump_str(&res->dump, ns);
	buf_addch(&res->dump, '\n');
	return ++res->nformats == res->stop_at ? -1 : 0;
}

static int
cb_set(void *arg, const char *spec, const char *name)
{
	struct result *res = arg;

	buf_addstr(&res->dump, "S ");
	dump_str(&res->dump, spec);
	buf_addch(&res->dump, ' ');
	dump_str(&res->dump, name);
	buf_addch(&res->dump, '\n');
	return ++res->nsets == res->stop_at ? -1 : 0;
}

static struct oai_parser *
parser_for(struct result *res)
{
	size_t stop = res->stop_at, stop_reject = res->stop_reject;
	int    keep = res->keep;

	memset(res, 0, sizeof(*res));
	res->stop_at = stop;
	res->stop_reject = stop_reject;
	res->keep = keep;
	buf_init(&res->dump, SIZE_MAX / 2);
	return oai_parser_new(&callbacks, res);
}

/* After the last feed: finish and record the document-level results. */
static void
finish_result(struct result *res, struct oai_parser *p)
{
	const struct oai_token *t;

	res->finish_rc = oai_parser_finish(p);
	res->cause = xstrdup(oai_parser_cause(p));
	res->repairs = oai_parser_repairs(p);
	res->nrecords = oai_parser_nrecords(p);
	res->nrejects = oai_parser_nrejects(p);
	res->normalized = oai_parser_normalized(p);
	res->verb = oai_parser_verb(p);
	t = oai_parser_token(p);
	buf_printf(&res->dump,
	    "END feed=%d finish=%d verb=%s date=", res->feed_rc, res->finish_rc,
	    oai_verb_name(oai_parser_verb(p)) ? oai_verb_name(res->verb) : "-");
	dump_str(&res->dump, oai_parser_response_date(p));
	buf_addstr(&res->dump, " error=");
	dump_str(&res->dump, oai_parser_error_code(p));
	buf_addch(&res->dump, ' ');
	dump_str(&res->dump, oai_parser_error_message(p));
	buf_printf(&res->dump, " token=%d ", t->present);
	dump_str(&res->dump, t->value);
	buf_printf(&res->dump, " cursor=%lld size=%lld exp=", t->cursor,
	    t->complete_list_size);
	dump_str(&res->dump, t->expiration_date);
	buf_printf(&res->dump,
	    " nrecords=%zu nrejects=%zu repairs=%zu cause=", res->nrecords,
	    res->nrejects, res->repairs);
	dump_str(&res->dump, res->cause);
	buf_addch(&res->dump, '\n');
}

/* Parse data in chunks of the given size; chunk 0 means all at once. */
static void
run(const char *data, size_t len, size_t chunk, struct result *res)
{
	struct oai_parser *p;
	size_t		   off, n;

	p = parser_for(res);
	if (chunk == 0)
		chunk = len > 0 ? len : 1;
	for (off = 0; off < len && res->feed_rc == 0; off += n) {
		n = len - off < chunk ? len - off : chunk;
		res->feed_rc = oai_parser_feed(p, data + off, n);
	}
	finish_result(res, p);
	oai_parser_free(p);
}

/*
 * Parse data in every chunking, keeping records and rejects: the reports
 * must be identical.  res[0] (1-byte feeds) is the one to look at.
 */
static void
run_all(const char *data, size_t len, struct result *res)
{
	size_t c;

	for (c = 0; c < nitems(chunk_sizes); c++) {
		res[c].keep = 1;
		res[c].stop_at = 0;
		run(data, len, chunk_sizes[c], &res[c]);
		if (strcmp(buf_str(&res[c].dump), buf_str(&res[0].dump)) != 0) {
			print_error("1-byte:\n%s\n%zu-byte:\n%s\n",
			    buf_str(&res[0].dump), chunk_sizes[c],
			    buf_str(&res[c].dump));
			fail_msg("reports differ");
		}
	}
	if (res[0].reparse_failed != 0 || res[0].raw_failed != 0)
		fail_msg("does not re-parse: %s%s", res[0].reparse_error,
		    res[0].raw_error);
}

static void
run_all_file(const char *path, struct result *res)
{
	char  *data;
	size_t len;

	data = read_file(path, &len);
	run_all(data, len, res);
	free(data);
}

static void
results_free(struct result *res)
{
	size_t c;

	for (c = 0; c < nitems(chunk_sizes); c++)
		result_free(&res[c]);
}

static void
result_free(struct result *res)
{
	size_t i, j;

	for (i = 0; i < res->nrecs; i++) {
		struct rec *c = &res->recs[i];

		free(c->identifier);
		free(c->datestamp);
		free(c->datestamp_norm);
		for (j = 0; j < c->nsets; j++)
			free(c->sets[j]);
		free(c->sets);
		free(c->metadata);
		for (j = 0; j < c->ndc; j++) {
			free(c->dc[j].value);
			free(c->dc[j].lang);
		}
		free(c->dc);
	}
	free(res->recs);
	for (i = 0; i < res->nrejs; i++) {
		free(res->rejs[i].identifier);
		free(res->rejs[i].datestamp);
		free(res->rejs[i].cause);
		free(res->rejs[i].raw);
	}
	free(res->rejs);
	free(res->cause);
	free(res->identify_dump);
	buf_free(&res->dump);
	memset(res, 0, sizeof(*res));
}

/* Parse a whole file in one feed, keeping the records. */
static void
run_file(const char *path, struct result *res)
{
	char  *data;
	size_t len;

	data = read_file(path, &len);
	res->keep = 1;
	run(data, len, 16384, res);
	free(data);
}

/* The parser must never write to stderr: catch fd 2 in a file. */
static int   saved_stderr = -1;
static FILE *stderr_file;

static void
stderr_begin(void)
{
	fflush(stderr);
	stderr_file = tmpfile();
	saved_stderr = dup(STDERR_FILENO);
	dup2(fileno(stderr_file), STDERR_FILENO);
}

static size_t
stderr_end(void)
{
	long n;

	fflush(stderr);
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	fseek(stderr_file, 0, SEEK_END);
	n = ftell(stderr_file);
	fclose(stderr_file);
	return n < 0 ? 0 : (size_t)n;
}

/* Real fixtures that must not parse, by name; see PROVENANCE.md. */
static int
expect_failure(const char *path)
{
	static const char *const bad[] = {
		"/BROKEN-",
		"/NOT-XML-",
		"/EMPTY-",
		"/FRAGMENT-",
		"/EDITED-arxiv-2020-bare-error",
		".gz",
	};
	size_t i;

	for (i = 0; i < nitems(bad); i++)
		if (strstr(path, bad[i]) != NULL)
			return 1;
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file under dir, recursively (README and .md excluded). */
static void
collect(const char *dir, char ***files, size_t *n, size_t *cap)
{
	DIR	      *d;
	struct dirent *de;
	struct stat    st;
	char	      *path;
	size_t	       l;

	if ((d = opendir(dir)) == NULL)
		fail_msg("opendir %s: %s", dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		xasprintf(&path, "%s/%s", dir, de->d_name);
		if (stat(path, &st) == -1)
			fail_msg("stat %s", path);
		if (S_ISDIR(st.st_mode)) {
			collect(path, files, n, cap);
			free(path);
			continue;
		}
		l = strlen(path);
		/* Notes, and the replay manifest of tests/fixtures/real. */
		if ((l > 3 && strcmp(path + l - 3, ".md") == 0) ||
		    (l > 4 && strcmp(path + l - 4, ".tsv") == 0)) {
			free(path);
			continue;
		}
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 64;
			*files = xreallocarray(*files, *cap, sizeof(**files));
		}
		(*files)[(*n)++] = path;
	}
	closedir(d);
}

/*
 * The hostile fixtures: whether each parses, and a piece of its cause.
 */
static const struct hostile {
	const char *file;
	int	    ok;
	const char *cause;
} hostile[] = {
	{ "xxe.xml", 0, "DOCTYPE not allowed" },
	{ "billion-laughs.xml", 0, "DOCTYPE not allowed" },
	{ "doctype-internal-subset.xml", 0, "DOCTYPE not allowed" },
	{ "doctype-external-dtd.xml", 0, "DOCTYPE not allowed" },
	{ "doctype-public-network-dtd.xml", 0, "DOCTYPE not allowed" },
	{ "parameter-entities.xml", 0, "DOCTYPE not allowed" },
	{ "truncated-listrecords.xml", 0, "line 9: document incomplete" },
	{ "undeclared-prefix.xml", 0,
	    "Namespace prefix dc on title is "
	    "not defined" },
	{ "record-outside-list.xml", 0, "<record> out of place in <OAI-PMH>" },
	{ "two-verbs.xml", 0, "more than one verb element" },
	{ "other-namespace-root.xml", 0,
	    "not an OAI-PMH response (root "
	    "element \"OAI-PMH\" in namespace" },
	{ "encoding-us-ascii-with-8bit.xml", 0,
	    "line 5: document incomplete "
	    "(input not valid in its declared encoding)" },
	{ "encoding-shift-jis-invalid.xml", 0,
	    "encoding error: input "
	    "conversion failed due to input error" },
	{ "control-chars.xml", 1, NULL },
	/* Served by the test server's /pages to tests/test_integration.c. */
	{ "identify-cut/identify.xml", 1, NULL },
	{ "identify-cut/listmetadataformats.xml", 1, NULL },
	{ "identify-cut/listsets.xml", 1, NULL },
	{ "identify-cut/listsets-x-page1.xml", 1, NULL },
	{ "identify-cut/listsets-x-page2.xml", 1, NULL },
	{ "future-clock/identify.xml", 1, NULL },
	{ "future-clock/listrecords-oai_dc-page1.xml", 1, NULL },
	{ "future-datestamp/identify.xml", 1, NULL },
	{ "future-datestamp/listrecords-oai_dc-page1.xml", 1, NULL },
};

/*
 * The broken fixtures: all parse; what each delivers, rejects and repairs.
 */
static const struct broken {
	const char *file;
	size_t	    nrecords;
	size_t	    nrejects;
	size_t	    repairs;
} broken[] = {
	{ "utf8-invalid-bytes.xml", 15, 0, 33 },
	{ "utf8-noncharacters.xml", 3, 0, 3 },
	{ "utf8-valid-multibyte.xml", 3, 0, 0 },
	{ "charrefs-forbidden.xml", 4, 0, 16 },
	{ "iso-8859-1.xml", 2, 0, 2 },
	{ "utf8-bom-lowercase-declaration.xml", 1, 0, 1 },
	{ "utf8-no-declaration.xml", 1, 0, 1 },
	{ "record-no-header.xml", 3, 1, 0 },
	{ "record-no-identifier.xml", 3, 2, 0 },
	{ "record-no-datestamp.xml", 3, 1, 0 },
	{ "record-bad-datestamp.xml", 5, 1, 0 },
	{ "record-two-metadata-children.xml", 3, 1, 0 },
	{ "record-two-headers.xml", 3, 1, 0 },
	{ "record-element-out-of-place.xml", 3, 1, 0 },
	{ "record-deleted-with-metadata.xml", 3, 0, 0 },
	{ "listidentifiers-bad-headers.xml", 4, 1, 0 },
};

static const struct broken *
broken_find(const char *path)
{
	const char *base = strrchr(path, '/') + 1;
	size_t	    i;

	for (i = 0; i < nitems(broken); i++)
		if (strcmp(base, broken[i].file) == 0)
			return &broken[i];
	return NULL;
}

static const struct hostile *
hostile_find(const char *path)
{
	const char *base = strstr(path, HOSTILE_DIR "/");
	size_t	    i;

	if (base == NULL)
		return NULL;
	base += sizeof(HOSTILE_DIR);
	for (i = 0; i < nitems(hostile); i++)
		if (strcmp(base, hostile[i].file) == 0)
			return &hostile[i];
	return NULL;
}

/*
 * Every fixture, three chunkings, identical reports; the expected outcome;
 * clean standalone metadata; nothing on stderr.
 */
static void
test_fixtures_chunked(void **state)
{
	struct result	      res[nitems(chunk_sizes)];
	const struct hostile *h;
	const struct broken  *bk;
	char		    **files = NULL, *data;
	size_t		      nfiles = 0, cap = 0, len, i, c, nreal;
	size_t		      noise, nok = 0, nfail = 0;

	memset(res, 0, sizeof(res));
	collect(REAL_DIR, &files, &nfiles, &cap);
	nreal = nfiles;
	collect(NUR_DIR, &files, &nfiles, &cap);
	collect(HOSTILE_DIR, &files, &nfiles, &cap);
	collect(BROKEN_DIR, &files, &nfiles, &cap);
	qsort(files, nfiles, sizeof(*files), cmp_str);
	assert_true(nreal >= 128);
	/* The nur pages: identify, listmetadataformats, two ListRecords. */
	assert_int_equal(nfiles - nreal, 4 + nitems(hostile) + nitems(broken));

	for (i = 0; i < nfiles; i++) {
		data = read_file(files[i], &len);
		stderr_begin();
		for (c = 0; c < nitems(chunk_sizes); c++) {
			res[c].stop_at = 0;
			res[c].keep = 0;
			run(data, len, chunk_sizes[c], &res[c]);
		}
		noise = stderr_end();
		free(data);

		if (noise != 0)
			fail_msg(
			    "%s: %zu bytes written to stderr", files[i], noise);
		for (c = 1; c < nitems(chunk_sizes); c++)
			if (strcmp(buf_str(&res[0].dump),
				buf_str(&res[c].dump)) != 0) {
				print_error("1-byte:\n%s\n%zu-byte:\n%s\n",
				    buf_str(&res[0].dump), chunk_sizes[c],
				    buf_str(&res[c].dump));
				fail_msg("%s: reports differ", files[i]);
			}
		if (res[0].reparse_failed != 0)
			fail_msg("%s: %zu metadata do not re-parse: %s",
			    files[i], res[0].reparse_failed,
			    res[0].reparse_error);
		if (res[0].raw_failed != 0)
			fail_msg("%s: %zu rejected records do not re-parse: "
				 "%s",
			    files[i], res[0].raw_failed, res[0].raw_error);

		if ((h = hostile_find(files[i])) != NULL &&
		    strstr(files[i], HOSTILE_DIR) != NULL) {
			if (h->ok && res[0].finish_rc != 0)
				fail_msg(
				    "%s: failed: %s", files[i], res[0].cause);
			if (!h->ok &&
			    (res[0].finish_rc == 0 ||
				strstr(res[0].cause, h->cause) == NULL))
				fail_msg("%s: cause \"%s\", wanted \"%s\"",
				    files[i], res[0].cause, h->cause);
		} else if ((bk = broken_find(files[i])) != NULL &&
		    strstr(files[i], BROKEN_DIR) != NULL) {
			if (res[0].finish_rc != 0)
				fail_msg(
				    "%s: failed: %s", files[i], res[0].cause);
			if (res[0].nrecords != bk->nrecords ||
			    res[0].nrejects != bk->nrejects ||
			    res[0].repairs != bk->repairs)
				fail_msg("%s: %zu records, %zu rejects, %zu "
					 "repairs",
				    files[i], res[0].nrecords, res[0].nrejects,
				    res[0].repairs);
		} else if (strstr(files[i], "invalid-char-0x0B") != NULL ||
		    strstr(files[i], "invalid-utf8-bytes") != NULL) {
			/* The input filter repairs them. */
			if (res[0].finish_rc != 0 || res[0].repairs < 1)
				fail_msg("%s: not repaired: %s", files[i],
				    res[0].cause);
		} else if (expect_failure(files[i])) {
			if (res[0].finish_rc == 0 || res[0].cause[0] == '\0')
				fail_msg("%s: parsed, should fail", files[i]);
		} else if (res[0].finish_rc != 0)
			fail_msg("%s: %s", files[i], res[0].cause);
		if (res[0].finish_rc == 0)
			nok++;
		else
			nfail++;
		for (c = 0; c < nitems(chunk_sizes); c++)
			result_free(&res[c]);
		free(files[i]);
	}
	free(files);
	print_message("   %zu fixtures x %zu chunkings: %zu parse, %zu "
		      "rejected\n",
	    nfiles, nitems(chunk_sizes), nok, nfail);
}

/* The exact causes for the real fixtures that do not parse. */
static void
test_rejected_causes(void **state)
{
	static const struct {
		const char *file;
		const char *cause;
	} cases[] = {
		{ "dnet/FRAGMENT-mediarep-2020-record-oai_openaire.xml",
		    "not an OAI-PMH response (root element \"record\")" },
		{ "dspace/FRAGMENT-dspace-rioxx-v3-metadata.xml",
		    "not an OAI-PMH response (root element \"rioxx\")" },
		{ "mit/EMPTY-dspace-mit-2024-http500-empty-body.xml",
		    "empty document" },
		{ "paperhive/EDITED-arxiv-2020-bare-error-without-OAI-PMH-"
		  "root.xml",
		    "not an OAI-PMH response (root element "
		    "\"error\")" },
		{ "paperhive/NOT-XML-arxiv-2018-http503-retry-after.html.xml",
		    "not an OAI-PMH response (root element \"html\")" },
		{ "pyoai/BROKEN-dspace-erasmus-2006-identify-bogus-element.xml",
		    "line 1: Opening and ending tag mismatch: bogus line 1 and "
		    "OAI-PMH" },
		{ "pyoai/BROKEN-dspace-erasmus-2006-identify-undefined-"
		  "entity.xml",
		    "line 1: Entity 'bogus' not defined" },
		{ "scrapi/GZIP-digitalcommons-calpoly-2015-listrecords-page3."
		  "xml.gz",
		    "gzip-compressed data, not XML" },
		{ "scythe/NOT-XML-httpbun-html-page-for-verb-Identify.xml",
		    "DOCTYPE not allowed" },
		{ "sickle/NOT-XML-body-broken-xml.xml",
		    "line 1: Document is empty" },
	};
	struct result res = { 0 };
	char	     *path;
	size_t	      i;

	for (i = 0; i < nitems(cases); i++) {
		xasprintf(&path, "%s/%s", REAL_DIR, cases[i].file);
		run_file(path, &res);
		assert_int_equal(res.finish_rc, -1);
		if (strcmp(res.cause, cases[i].cause) != 0)
			fail_msg("%s: cause \"%s\"", path, res.cause);
		assert_int_equal(res.nrecords, 0);
		result_free(&res);
		free(path);
	}
}

static void
test_tables(void **state)
{
	const struct oai_format *dc;
	int			 i;

	assert_null(oai_verb_name(OAI_VERB_NONE));
	assert_null(oai_verb_name((enum oai_verb)99));
	for (i = OAI_IDENTIFY; i <= OAI_GET_RECORD; i++)
		assert_int_equal(oai_verb_lookup(oai_verb_name(i)), i);
	assert_string_equal(oai_verb_name(OAI_LIST_RECORDS), "ListRecords");
	assert_int_equal(oai_verb_lookup("listrecords"), OAI_VERB_NONE);
	assert_int_equal(oai_verb_lookup(NULL), OAI_VERB_NONE);

	/* Dublin Core's row of the format table. */
	dc = format_by_name("dc");
	assert_ptr_equal(dc, &format_dc);
	assert_int_equal(dc->nfields, 15);
	assert_null(format_field_name(dc, -1));
	assert_null(format_field_name(dc, (int)dc->nfields));
	for (i = 0; i < (int)dc->nfields; i++)
		assert_int_equal(format_field(dc, format_field_name(dc, i)), i);
	assert_string_equal(format_field_name(dc, 0), "title");
	assert_string_equal(format_field_name(dc, 14), "rights");
	assert_int_equal(format_field(dc, "Title"), -1);
	assert_int_equal(format_field(dc, "abstract"), -1);
}

static void
assert_dc(const struct rec *r, size_t i, const char *element, const char *value,
    const char *lang)
{
	assert_true(i < r->ndc);
	assert_string_equal(r->dc[i].element, element);
	assert_string_equal(r->dc[i].value, value);
	if (lang == NULL)
		assert_null(r->dc[i].lang);
	else
		assert_string_equal(r->dc[i].lang, lang);
}

/*
 * The fields Dublin Core yields for each real fixture, as the parser gave
 * them before formats were a table: their number and FNV-1a over the
 * identifier, name, lang and value of each.  Fixtures not listed yield none.
 */
static const struct {
	const char *file;
	size_t	    nfields;
	uint64_t    hash;
} real_fields[] = {
	{ "httpoai/"
	  "BROKEN-celestial-citebase-2005-getrecord-invalid-utf8-bytes.xml",
	    8, 0x4f9dc7142fab3273ULL },
	{ "httpoai/"
	  "celestial-citebase-2005-getrecord-request-verb-with-semicolons.xml",
	    8, 0xd4189eba5a262636ULL },
	{ "indexdata/ojs2-ijict-2011-listrecords-oai_dc-with-deleted.xml", 200,
	    0xaa6ca76ccf6aa53aULL },
	{ "phpoaipmh/bnf-gallica-2015-listrecords-no-xml-declaration.xml", 16,
	    0x1727bea521c47938ULL },
	{ "phpoaipmh/nsdl-2012-getrecord-nsdl_dc.xml", 25,
	    0x9727908b7ffa914aULL },
	{ "phpoaipmh/nsdl-2012-listrecords-nsdl_dc-544KB.xml", 3700,
	    0xdc90cb65d8be1c29ULL },
	{ "pyoai/dspace-erasmus-2003-getrecord-oai_dc.xml", 16,
	    0xac899755e337f8b1ULL },
	{ "pyoai/dspace-erasmus-2003-listrecords-oai_dc.xml", 351,
	    0x04f8a7740b28a815ULL },
	{ "pyoai/dspace-erasmus-2004-getrecord-oai_dc.xml", 16,
	    0xd8b6d4c643922eedULL },
	{ "pyoai/dspace-erasmus-2004-listrecords-oai_dc-252KB.xml", 1949,
	    0x3bb1cce325f73489ULL },
	{ "scrapi/BROKEN-pucrio-maxwell-2015-listrecords-invalid-char-0x0B.xml",
	    105, 0xd54517e5a8f3d7d1ULL },
	{ "scrapi/asu-2015-listrecords-deleted-token-no-attrs.xml", 885,
	    0xc1e89dfdf628821dULL },
	{ "scrapi/bhl-2015-listrecords-no-xml-declaration.xml", 586,
	    0x80b84d8728367404ULL },
	{ "scrapi/cyberleninka-2015-listrecords-oai_dc-russian.xml", 564,
	    0x88a25cf016c7ff28ULL },
	{ "scrapi/digitalcommons-calpoly-2015-listrecords-page1.xml", 1076,
	    0x26fe12e08f493f95ULL },
	{ "scrapi/digitalcommons-calpoly-2015-listrecords-page2.xml", 1000,
	    0xcd0343d76e7fe1c4ULL },
	{ "scrapi/"
	  "digitalcommons-calpoly-2015-listrecords-page3-final-empty-token.xml",
	    80, 0xc827e2119dfbed4aULL },
	{ "scrapi/dspace-colostate-2016-listrecords-page1-of-11.xml", 2228,
	    0x01397b706e3af736ULL },
	{ "scrapi/dspace-colostate-2016-listrecords-page11-final.xml", 154,
	    0xf9bf50d58eb61be1ULL },
	{ "scrapi/dspace-dryad-2015-listrecords-page1.xml", 1887,
	    0x3ed98cd536826ef7ULL },
	{ "scrapi/dspace-dryad-2015-listrecords-page3-final-empty-token.xml",
	    367, 0x8b2cd4e688ac3d3fULL },
	{ "scrapi/dspace-harvard-dash-2012-listrecords-with-deleted.xml", 507,
	    0xac98187be54fd22fULL },
	{ "scrapi/"
	  "dspace-udel-2016-listrecords-page16-final-empty-nonselfclosing-"
	  "token.xml",
	    1145, 0x6b78f4b0a1383393ULL },
	{ "scrapi/eprints-caltech-2015-listrecords-oai_dc.xml", 1441,
	    0xf292a922d67b4c39ULL },
	{ "scrapi/eprints-lshtm-2015-listrecords-oai_dc-with-deleted.xml", 1501,
	    0xde2a29c4878e91e6ULL },
	{ "scrapi/humanities-commons-mla-2016-listrecords-page13.xml", 179,
	    0xf35b624215f4b590ULL },
	{ "scrapi/"
	  "nature-2016-listrecords-empty-token-completeListSize-mismatch.xml",
	    2683, 0xa4100e7792fd12faULL },
	{ "scrapi/pmc-2014-listrecords-oai_dc-page1.xml", 790,
	    0x29a3baaf4af1aac2ULL },
	{ "scrapi/zenodo-2015-listrecords-oai_dc.xml", 70,
	    0xef41ae23066b587eULL },
	{ "scythe/zenodo-2026-listrecords-oai_dc-page2-with-deleted.xml", 41,
	    0x48b3c993a24db092ULL },
	{ "ucldc/cdl-2013-listrecords-oai_dc-deleted-non-oai-identifiers.xml",
	    73, 0x7eca79527033d261ULL },
	{ "ucldc/contentdm-usfca-getrecord-oai_qdc.xml", 19,
	    0x745200224115f97fULL },
	{ "ucldc/dspace-uci-2015-listrecords-didl.xml", 14,
	    0xe0dbc54ba444465cULL },
	{ "vufind/subjectsplus-2023-listrecords-quirky.xml", 8,
	    0x4c74dfd340ec82a3ULL },
};

struct fields_acc {
	size_t	 n;
	uint64_t h;
};

static uint64_t
fnv_str(uint64_t h, const char *s)
{
	if (s == NULL)
		s = "\x01";
	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h * 0x100000001b3ULL;
}

static int
fields_on_record(void *arg, const struct oai_record *r)
{
	struct fields_acc *a = arg;
	size_t		   i;

	for (i = 0; i < r->nfields; i++) {
		/* The format's own name, the same pointer. */
		assert_non_null(r->format);
		assert_ptr_equal(r->fields[i].name,
		    format_field_name(
			r->format, format_field(r->format, r->fields[i].name)));
		a->h = fnv_str(a->h, r->identifier);
		a->h = fnv_str(a->h, r->fields[i].name);
		a->h = fnv_str(a->h, r->fields[i].lang);
		a->h = fnv_str(a->h, r->fields[i].value);
		a->n++;
	}
	return 0;
}

/* Each real fixture yields exactly the Dublin Core fields it used to. */
static void
test_format_dc_real(void **state)
{
	const struct oai_callbacks cb = { fields_on_record, NULL, NULL, NULL,
		NULL };
	struct fields_acc	   a;
	struct oai_parser	  *p;
	char			 **files = NULL, *data;
	const char		  *base;
	size_t			   nfiles = 0, cap = 0, len, i, j, off;
	size_t			   n, seen = 0;

	collect(REAL_DIR, &files, &nfiles, &cap);
	qsort(files, nfiles, sizeof(*files), cmp_str);
	for (i = 0; i < nfiles; i++) {
		a.n = 0;
		a.h = 0xcbf29ce484222325ULL;
		data = read_file(files[i], &len);
		p = oai_parser_new(&cb, &a);
		for (off = 0; off < len; off += n) {
			n = len - off < 16384 ? len - off : 16384;
			if (oai_parser_feed(p, data + off, n) == -1)
				break;
		}
		(void)oai_parser_finish(p);
		oai_parser_free(p);
		free(data);
		base = files[i] + sizeof(REAL_DIR);
		for (j = 0; j < nitems(real_fields); j++)
			if (strcmp(base, real_fields[j].file) == 0)
				break;
		if (j == nitems(real_fields)) {
			if (a.n != 0)
				fail_msg(
				    "%s: %zu fields, wanted none", base, a.n);
			continue;
		}
		seen++;
		if (a.n != real_fields[j].nfields || a.h != real_fields[j].hash)
			fail_msg("%s: %zu fields hashing to %016llx, wanted "
				 "%zu, %016llx",
			    base, a.n, (unsigned long long)a.h,
			    real_fields[j].nfields,
			    (unsigned long long)real_fields[j].hash);
	}
	assert_int_equal(seen, nitems(real_fields));
	for (i = 0; i < nfiles; i++)
		free(files[i]);
	free(files);
}

/*
 * A metadata format no row claims is kept whole with no fields (MARCXML
 * here); one with Dublin Core elements under another root (qualified DC)
 * still yields those, and only those.
 */
static void
test_format_unknown(void **state)
{
#define MARC_NS "xmlns:marc=\"http://www.loc.gov/MARC21/slim\""
#define QDC_NS \
	"xmlns:qdc=\"http://example.org/qdc\" xmlns:dc=\"" DC_NS \
	"\" xmlns:dcterms=\"http://purl.org/dc/terms/\""
#define MARC_BODY \
	">" \
	"<marc:datafield tag=\"245\"><marc:subfield code=\"a\">A title" \
	"</marc:subfield></marc:datafield></marc:record>"
#define QDC_BODY \
	"><dc:title xml:lang=\"en\">T</dc:title>" \
	"<dcterms:abstract>A</dcterms:abstract><dc:creator>C</dc:creator>" \
	"</qdc:qualifieddc>"
/* With the default namespace in scope declared on the root. */
#define OAI_DEFAULT " xmlns=\"http://www.openarchives.org/OAI/2.0/\""
	static const char marc[] = "<marc:record " MARC_NS MARC_BODY;
	static const char				   marc_out[] =
	    "<marc:record " MARC_NS OAI_DEFAULT		   MARC_BODY;
	static const char qdc[] = "<qdc:qualifieddc " QDC_NS QDC_BODY;
	static const char				     qdc_out[] =
	    "<qdc:qualifieddc " QDC_NS OAI_DEFAULT	     QDC_BODY;
	struct result	  res[nitems(chunk_sizes)];
	char		 *doc;
	const struct rec *r;
	size_t		  i, j;

	memset(res, 0, sizeof(res));
	xasprintf(&doc,
	    "%s<ListRecords>%s%s</metadata></record>"
	    "</ListRecords></OAI-PMH>",
	    OAI_OPEN, REC_OPEN, marc);
	run_all(doc, strlen(doc), res);
	free(doc);
	assert_int_equal(res[0].finish_rc, 0);
	assert_int_equal(res[0].nrecs, 1);
	r = &res[0].recs[0];
	assert_string_equal(r->metadata, marc_out);
	assert_int_equal(r->metadata_len, strlen(marc_out));
	assert_int_equal(r->ndc, 0);
	results_free(res);

	memset(res, 0, sizeof(res));
	xasprintf(&doc,
	    "%s<ListRecords>%s%s</metadata></record>"
	    "</ListRecords></OAI-PMH>",
	    OAI_OPEN, REC_OPEN, qdc);
	run_all(doc, strlen(doc), res);
	free(doc);
	assert_int_equal(res[0].finish_rc, 0);
	assert_int_equal(res[0].nrecs, 1);
	r = &res[0].recs[0];
	assert_string_equal(r->metadata, qdc_out);
	assert_int_equal(r->ndc, 2);
	assert_dc(r, 0, "title", "T", "en");
	assert_dc(r, 1, "creator", "C", NULL);
	results_free(res);

	/* Every format's field names fit the spool's bound. */
	for (i = 0; i < format_count(); i++)
		for (j = 0; j < format_at(i)->nfields; j++)
			assert_true(strlen(format_at(i)->fields[j]) <
			    OAI_FIELD_NAME_MAX);
}

static void
test_nur_page1(void **state)
{
	struct result	  res = { 0 };
	const struct rec *r;

	run_file(NUR_DIR "/listrecords-oai_dc-page1.xml", &res);
	assert_int_equal(res.finish_rc, 0);
	assert_int_equal(res.verb, OAI_LIST_RECORDS);
	assert_int_equal(res.nrecs, 2);
	assert_int_equal(res.nrecords, 2);

	r = &res.recs[0];
	assert_string_equal(r->identifier, "oai:nur.nu.edu.kz:123456789/7421");
	assert_string_equal(r->datestamp, "2023-09-21T09:12:44Z");
	assert_int_equal(r->deleted, 0);
	assert_int_equal(r->nsets, 2);
	assert_string_equal(r->sets[0], "com_123456789_1");
	assert_string_equal(r->sets[1], "col_123456789_6");
	assert_dc(r, 0, "title",
	    "THE EXPLORATION OF TEACHER LEADERSHIP AT "
	    "SECONDARY SCHOOLS IN KAZAKHSTAN",
	    NULL);
	assert_dc(r, 1, "creator", "Khoroshash, Aidar", NULL);
	assert_dc(r, 2, "subject", "perceptions", NULL);
	assert_dc(r, 3, "subject", "schools", NULL);
	assert_dc(r, 4, "subject", "Soviet ideology", NULL);
	assert_dc(r, 5, "subject", "stakeholders", NULL);
	assert_dc(r, 6, "subject", "teacher leadership", NULL);
	assert_string_equal(r->dc[7].element, "description");
	/* The mojibake of the source, kept as the UTF-8 it is. */
	assert_non_null(strstr(r->dc[7].value,
	    "the stakeholders\xc4\x81\xe2"
	    "\x82\xac\xcb\x9c own explanations"));
	assert_dc(r, 8, "date", "2023-09-21T09:12:44Z", NULL);
	assert_dc(r, 9, "date", "2023-09-21T09:12:44Z", NULL);
	assert_dc(r, 10, "date", "2016-07", NULL);
	assert_dc(r, 11, "type", "PhD thesis", NULL);
	assert_dc(r, 13, "identifier",
	    "http://nur.nu.edu.kz/handle/123456789/7421", NULL);
	assert_dc(r, 14, "language", "en", "en_US");
	assert_dc(r, 16, "rights", "Type of access: Restricted", NULL);
	assert_int_equal(r->ndc, 17);
	/* Own declarations first, then the inherited default namespace. */
	assert_true(
	    strncmp(r->metadata,
		"<oai_dc:dc xmlns:oai_dc=\"http://"
		"www.openarchives.org/OAI/2.0/oai_dc/\" "
		"xmlns:dc=\"http://purl.org"
		"/dc/elements/1.1/\" "
		"xmlns:xsi=\"http://www.w3.org/2001/XMLSchema"
		"-instance\" xmlns=\"http://www.openarchives.org/OAI/2.0/\" "
		"xsi:"
		"schemaLocation=\"http://www.openarchives.org/OAI/2.0/oai_dc/ "
		"http://www.openarchives.org/OAI/2.0/oai_dc.xsd\">\n<dc:title>",
		strlen(
		    "<oai_dc:dc xmlns:oai_dc=\"http://www.openarchives.org/OAI/"
		    "2.0/oai_dc/\" "
		    "xmlns:dc=\"http://purl.org/dc/elements/1.1/\" "
		    "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
		    "xmlns="
		    "\"http://www.openarchives.org/OAI/2.0/\" "
		    "xsi:schemaLocation="
		    "\"http://www.openarchives.org/OAI/2.0/oai_dc/ http://www."
		    "openarchives.org/OAI/2.0/oai_dc.xsd\">\n<dc:title>")) ==
	    0);
	assert_non_null(strstr(r->metadata,
	    "<dc:language xml:lang=\"en_US\">"
	    "en</dc:language>\n"));
	assert_true(r->metadata_len > 10 &&
	    strcmp(r->metadata + r->metadata_len - 12, "</oai_dc:dc>") == 0);

	r = &res.recs[1];
	assert_string_equal(r->identifier, "oai:nur.nu.edu.kz:123456789/7433");
	assert_string_equal(r->datestamp, "2023-09-22T04:01:10Z");
	assert_dc(r, 0, "title",
	    "Мұғалімдердің көшбасшылығы: мектептегі "
	    "кәсіби даму",
	    "kk");
	assert_dc(r, 1, "title",
	    "Лидерство учителей: профессиональное "
	    "развитие в школе",
	    "ru");
	assert_dc(r, 2, "creator", "Нұрланқызы, Айгерім", NULL);
	assert_dc(r, 3, "subject", "көшбасшылық", "kk");
	assert_dc(r, 4, "subject", "лидерство учителей", "ru");
	assert_dc(r, 5, "description",
	    "Зерттеу Қазақстандағы төрт мектепте "
	    "жүргізілді; «Сапалы білім» — SDG 4.",
	    "kk");
	assert_dc(r, 6, "date", "2019", NULL);
	assert_dc(r, 7, "type", "Master's thesis", NULL);
	assert_dc(r, 9, "language", "kk", NULL);
	assert_int_equal(r->ndc, 10);

	assert_non_null(strstr(buf_str(&res.dump),
	    " token=1 [13]oai_dc////100 "
	    "cursor=0 size=3 exp=(null) "));
	assert_non_null(strstr(buf_str(&res.dump),
	    "date=[20]2026-11-22T09:15:"
	    "02Z error=(null) (null) "));
	result_free(&res);
}

/* The token, read from the parser itself rather than the dump. */
static void
test_nur_tokens(void **state)
{
	struct result		res = { 0 };
	struct oai_parser      *p;
	const struct oai_token *t;
	char		       *data;
	size_t			len;

	data = read_file(NUR_DIR "/listrecords-oai_dc-page1.xml", &len);
	p = parser_for(&res);
	assert_int_equal(oai_parser_feed(p, data, len), 0);
	assert_int_equal(oai_parser_finish(p), 0);
	t = oai_parser_token(p);
	assert_int_equal(t->present, 1);
	assert_string_equal(t->value, "oai_dc////100");
	assert_int_equal(t->cursor, 0);
	assert_int_equal(t->complete_list_size, 3);
	assert_null(t->expiration_date);
	assert_string_equal(
	    oai_parser_response_date(p), "2026-11-22T09:15:02Z");
	assert_null(oai_parser_error_code(p));
	assert_string_equal(oai_parser_cause(p), "");
	assert_int_equal(oai_parser_repairs(p), 0);
	oai_parser_free(p);
	free(data);
	result_free(&res);

	data = read_file(NUR_DIR "/listrecords-oai_dc-page2.xml", &len);
	p = parser_for(&res);
	res.keep = 1;
	assert_int_equal(oai_parser_feed(p, data, len), 0);
	assert_int_equal(oai_parser_finish(p), 0);
	t = oai_parser_token(p);
	assert_int_equal(t->present, 1);
	assert_null(t->value);
	assert_int_equal(t->cursor, 100);
	assert_int_equal(t->complete_list_size, 3);
	assert_int_equal(res.nrecs, 1);
	assert_string_equal(
	    res.recs[0].identifier, "oai:nur.nu.edu.kz:123456789/7440");
	assert_string_equal(res.recs[0].datestamp, "2023-09-23T11:30:00Z");
	assert_int_equal(res.recs[0].deleted, 1);
	assert_int_equal(res.recs[0].nsets, 1);
	assert_string_equal(res.recs[0].sets[0], "com_123456789_1");
	assert_null(res.recs[0].metadata);
	assert_int_equal(res.recs[0].ndc, 0);
	oai_parser_free(p);
	free(data);
	result_free(&res);
}

static void
test_nur_identify(void **state)
{
	struct result res = { 0 };

	run_file(NUR_DIR "/identify.xml", &res);
	assert_int_equal(res.finish_rc, 0);
	assert_int_equal(res.verb, OAI_IDENTIFY);
	assert_int_equal(res.nidentify, 1);
	assert_string_equal(res.identify_dump,
	    "I "
	    "[32]Nazarbayev University Repository "
	    "[33]https://nur.nu.edu.kz/oai/request "
	    "[3]2.0 [20]2013-04-01T00:00:00Z [9]transient "
	    "[20]YYYY-MM-DDThh:mm:ssZ "
	    "emails=1 [17]library@nu.edu.kz "
	    "compressions=2 [4]gzip [7]deflate\n");
	assert_int_equal(res.nrecords, 0);
	result_free(&res);

	/* Melinda: misspelt and unknown elements are ignored. */
	run_file(REAL_DIR "/melinda/melinda-identify-nonstandard-elements.xml",
	    &res);
	assert_int_equal(res.finish_rc, 0);
	assert_string_equal(res.identify_dump,
	    "I "
	    "[50]Melinda OAI-PMH provider for bibliographic records "
	    "[21]http://localhost:1337 (null) (null) [9]transient "
	    "[20]YYYY-MM-DDthh:mm:ssZ emails=1 [11]foo@foo.bar "
	    "compressions=0\n");
	result_free(&res);

	/* PubMed Central 2006: OAI-PMH root without a namespace. */
	run_file(REAL_DIR "/rubyoai/pmc-2006-identify-no-default-namespace.xml",
	    &res);
	assert_int_equal(res.finish_rc, 0);
	assert_non_null(strstr(res.identify_dump,
	    "[10]1999-01-01 [2]no "
	    "[10]YYYY-MM-DD emails=1 [20]oai@ncbi.nlm.nih.gov"));
	result_free(&res);
}

static void
test_error_codes(void **state)
{
	static const struct {
		const char   *file;
		const char   *code;
		const char   *message; /* start of it, or NULL */
		enum oai_verb verb;
	} cases[] = {
		{ "sickle/error-badArgument-spec-example.xml", "badArgument",
		    NULL, OAI_LIST_RECORDS },
		{ "melinda/melinda-error-badResumptionToken-expired.xml",
		    "badResumptionToken", NULL, OAI_LIST_IDENTIFIERS },
		{ "melinda/melinda-error-badVerb.xml", "badVerb", NULL,
		    OAI_VERB_NONE },
		{ "phpoaipmh/nsdl-2012-error-badVerb.xml", "badVerb", NULL,
		    OAI_VERB_NONE },
		{ "melinda/melinda-error-cannotDisseminateFormat.xml",
		    "cannotDisseminateFormat", NULL, OAI_LIST_IDENTIFIERS },
		{ "phpoaipmh/bepress-wustl-2018-error-idDoesNotExist.xml",
		    "idDoesNotExist", NULL, OAI_GET_RECORD },
		{ "sickle/error-idDoesNotExist-spec-example.xml",
		    "idDoesNotExist",
		    "oai:lcoa1.loc.gov:loc.rbc/rbpe.00000111 "
		    "has the\n",
		    OAI_LIST_METADATA_FORMATS },
		{ "invenio/arxiv-2016-error-noRecordsMatch-with-message.xml",
		    "noRecordsMatch", NULL, OAI_LIST_RECORDS },
		/* Zenodo's <request> carries no verb. */
		{ "scythe/zenodo-2026-http422-noRecordsMatch.xml",
		    "noRecordsMatch", NULL, OAI_VERB_NONE },
		{ "sickle/error-noSetHierarchy-spec-example.xml",
		    "noSetHierarchy", NULL, OAI_LIST_SETS },
		{ "scythe/zenodo-2026-http422-badResumptionToken.xml",
		    "badResumptionToken",
		    "The value of the resumptionToken "
		    "argument is invalid or expired.",
		    OAI_VERB_NONE },
		{ "melinda/melinda-error-badArgument.xml", "badArgument", NULL,
		    OAI_GET_RECORD },
		{ "melinda/melinda-error-idDoesNotExist.xml", "idDoesNotExist",
		    NULL, OAI_GET_RECORD },
	};
	struct result	   res = { 0 };
	struct oai_parser *p;
	char		  *path, *data;
	size_t		   i, len;

	for (i = 0; i < nitems(cases); i++) {
		xasprintf(&path, "%s/%s", REAL_DIR, cases[i].file);
		data = read_file(path, &len);
		p = parser_for(&res);
		if (oai_parser_feed(p, data, len) != 0 ||
		    oai_parser_finish(p) != 0)
			fail_msg("%s: %s", path, oai_parser_cause(p));
		if (oai_parser_error_code(p) == NULL ||
		    strcmp(oai_parser_error_code(p), cases[i].code) != 0)
			fail_msg("%s: code %s", path, oai_parser_error_code(p));
		if (cases[i].message != NULL &&
		    (oai_parser_error_message(p) == NULL ||
			strncmp(oai_parser_error_message(p), cases[i].message,
			    strlen(cases[i].message)) != 0))
			fail_msg("%s: message %s", path,
			    oai_parser_error_message(p));
		if (oai_parser_verb(p) != cases[i].verb)
			fail_msg("%s: verb %d", path, oai_parser_verb(p));
		assert_int_equal(oai_parser_nrecords(p), 0);
		assert_int_equal(oai_parser_token(p)->present, 0);
		oai_parser_free(p);
		free(data);
		free(path);
		result_free(&res);
	}
}

static void
test_cyrillic(void **state)
{
	struct result	  res = { 0 };
	const struct rec *r;

	run_file(REAL_DIR "/scrapi/cyberleninka-2015-listrecords-oai_dc-"
			  "russian.xml",
	    &res);
	assert_int_equal(res.finish_rc, 0);
	assert_int_equal(res.nrecs, 54);
	r = &res.recs[0];
	assert_string_equal(
	    r->identifier, "oai:cyberleninka.ru:article/14074026");
	assert_dc(r, 0, "title",
	    "О ВЫЧИСЛЕНИИ ПОСТОЯННЫХ, ВХОДЯЩИХ В ОЦЕНКИ "
	    "ЛИНЕЙНЫХ ФОРМ",
	    NULL);
	assert_dc(r, 1, "creator", "ИВАНКОВ П.Л.", NULL);
	/* <dc:subject></dc:subject> is skipped. */
	assert_dc(r, 2, "type", "text", NULL);
	assert_dc(r, 3, "format", "text/html", NULL);
	assert_dc(r, 4, "identifier",
	    "http://cyberleninka.ru/article/n/"
	    "o-vychislenii-postoyannyh-vhodyaschih-v-otsenki-lineynyh-form",
	    NULL);
	assert_dc(r, 5, "date", "2000", NULL);
	assert_dc(r, 6, "publisher",
	    "Федеральное государственное автономное "
	    "образовательное учреждение высшего профессионального образования "
	    "\"Казанский (Приволжский) федеральный университет\"",
	    NULL);
	assert_dc(r, 7, "identifier",
	    "http://cyberleninka.ru/article_covers/14074026.png", NULL);
	assert_int_equal(r->ndc, 8);
	/* Non-DC elements of the format are in the metadata, not in dc. */
	assert_non_null(
	    strstr(r->metadata, "<bibo:issn>0021-3446</bibo:issn>"));
	assert_non_null(strstr(r->metadata,
	    " xmlns:bibo=\"http://purl.org/"
	    "ontology/bibo/\""));
	/* &quot; in text needs no escaping on the way out. */
	assert_null(strstr(r->metadata, "&quot;"));
	assert_non_null(strstr(r->metadata, "\"Казанский (Приволжский) "));
	assert_string_equal(
	    res.recs[1].dc[1].value, "РЫБДЫЛОВ ДАНЗАН ДОРЖИЕВИЧ");
	assert_string_equal(
	    res.recs[1].dc[2].value, "ХИТРИХЕЕВ ВЛАДИМИР ЕВГЕНЬЕВИЧ");
	result_free(&res);
}

static void
test_token_variants(void **state)
{
	static const struct {
		const char *file;
		int	    present;
		const char *value;
		long long   cursor;
		long long   size;
		const char *expiration;
	} cases[] = {
		{ "metis/kulturarvsdata-2017-listidentifiers-edm-token-"
		  "whitespace.xml",
		    1, "edm:smvk-mm:*:*:50:2932", 50, 2932,
		    "2017-11-15T13:30:03Z" },
		{ "metis/EDITED-kulturarvsdata-2017-listidentifiers-"
		  "completeListSize-ssss.xml",
		    1, "edm:smvk-mm:*:*:50:2932", 50, -1,
		    "2017-11-15T13:30:03Z" },
		{ "paperhive/alma-bibsys-2018-listidentifiers-marc21-page2-"
		  "no-token.xml",
		    0, NULL, -1, -1, NULL },
		{ "scrapi/dspace-dryad-2015-listrecords-page3-final-empty-"
		  "token.xml",
		    1, NULL, -1, -1, NULL },
		{ "scrapi/dspace-udel-2016-listrecords-page16-final-empty-"
		  "nonselfclosing-token.xml",
		    1, NULL, 15, 1578, NULL },
		{ "phpoaipmh/nsdl-2012-listidentifiers-page4-of-4-final-"
		  "empty-token.xml",
		    1, NULL, 600, 733, "2099-01-01T01:30:28Z" },
		{ "melinda/melinda-listidentifiers-headers-wrapped-in-record-"
		  "token.xml",
		    1, "foobar", 0, -1, "2000-01-01T00:00:00.000Z" },
		{ "pyoai/dspace-erasmus-2003-listrecords-oai_dc.xml", 0, NULL,
		    -1, -1, NULL },
	};
	struct result		res = { 0 };
	struct oai_parser      *p;
	const struct oai_token *t;
	char		       *path, *data;
	size_t			i, len;

	for (i = 0; i < nitems(cases); i++) {
		xasprintf(&path, "%s/%s", REAL_DIR, cases[i].file);
		data = read_file(path, &len);
		p = parser_for(&res);
		if (oai_parser_feed(p, data, len) != 0 ||
		    oai_parser_finish(p) != 0)
			fail_msg("%s: %s", path, oai_parser_cause(p));
		t = oai_parser_token(p);
		assert_int_equal(t->present, cases[i].present);
		if (cases[i].value == NULL)
			assert_null(t->value);
		else
			assert_string_equal(t->value, cases[i].value);
		assert_int_equal(t->cursor, cases[i].cursor);
		assert_int_equal(t->complete_list_size, cases[i].size);
		if (cases[i].expiration == NULL)
			assert_null(t->expiration_date);
		else
			assert_string_equal(
			    t->expiration_date, cases[i].expiration);
		oai_parser_free(p);
		free(data);
		free(path);
		result_free(&res);
	}
}

/* Small documents written here, each with its expected report. */
static void
test_inline_tokens(void **state)
{
	static const struct {
		const char *doc;
		int	    present;
		const char *value;
		long long   cursor;
		long long   size;
	} cases[] = {
		{ OAI_OPEN "<ListIdentifiers><resumptionToken> \n\t "
			   "</resumptionToken></ListIdentifiers></OAI-PMH>",
		    1, NULL, -1, -1 },
		{ OAI_OPEN "<ListIdentifiers><resumptionToken cursor=\" 7 \" "
			   "completeListSize=\"-3\">a b</resumptionToken>"
			   "</ListIdentifiers></OAI-PMH>",
		    1, "a b", 7, -1 },
		{ OAI_OPEN
		    "<ListSets><resumptionToken cursor=\"9999999999999"
		    "99999999\" completeListSize=\"12x\">t</resumptionToken>"
		    "</ListSets></OAI-PMH>",
		    1, "t", -1, -1 },
		{ OAI_OPEN "<ListRecords></ListRecords></OAI-PMH>", 0, NULL, -1,
		    -1 },
	};
	struct result		res = { 0 };
	struct oai_parser      *p;
	const struct oai_token *t;
	size_t			i;

	for (i = 0; i < nitems(cases); i++) {
		p = parser_for(&res);
		assert_int_equal(
		    oai_parser_feed(p, cases[i].doc, strlen(cases[i].doc)), 0);
		assert_int_equal(oai_parser_finish(p), 0);
		t = oai_parser_token(p);
		assert_int_equal(t->present, cases[i].present);
		if (cases[i].value == NULL)
			assert_null(t->value);
		else
			assert_string_equal(t->value, cases[i].value);
		assert_int_equal(t->cursor, cases[i].cursor);
		assert_int_equal(t->complete_list_size, cases[i].size);
		oai_parser_free(p);
		result_free(&res);
	}
}

static void
test_list_sets_formats(void **state)
{
	struct result res = { 0 };

	run_file(REAL_DIR "/pyoai/dspace-erasmus-2003-listsets.xml", &res);
	assert_int_equal(res.finish_rc, 0);
	assert_int_equal(res.verb, OAI_LIST_SETS);
	assert_true(res.nsets > 1);
	assert_non_null(strstr(buf_str(&res.dump), "S [3]3:5 "));
	result_free(&res);

	run_file(REAL_DIR "/sickle/listsets-131-sets.xml", &res);
	assert_int_equal(res.finish_rc, 0);
	assert_int_equal(res.nsets, 131);
	result_free(&res);

	run_file(
	    REAL_DIR "/melinda/melinda-listsets-text-setDescription.xml", &res);
	assert_int_equal(res.finish_rc, 0);
	assert_non_null(strstr(buf_str(&res.dump),
	    "S [7]fennica [7]Fennica\n"
	    "S [5]viola [5]Viola\n"));
	result_free(&res);

	run_file(REAL_DIR "/pyoai/dspace-erasmus-2003-listmetadataformats.xml",
	    &res);
	assert_int_equal(res.finish_rc, 0);
	assert_int_equal(res.verb, OAI_LIST_METADATA_FORMATS);
	assert_int_equal(res.nformats, 1);
	assert_non_null(strstr(buf_str(&res.dump),
	    "F [6]oai_dc [46]http://"
	    "www.openarchives.org/OAI/2.0/oai_dc.xsd [43]http://www."
	    "openarchives.org/OAI/2.0/oai_dc/\n"));
	result_free(&res);
}

/*
 * Melinda wraps ListIdentifiers headers in <record>: still 3 headers, their
 * millisecond datestamps kept as sent and normalized.
 */
static void
test_listidentifiers(void **state)
{
	struct result res = { 0 };

	run_file(REAL_DIR "/melinda/melinda-listidentifiers-headers-wrapped-"
			  "in-record-token.xml",
	    &res);
	assert_int_equal(res.finish_rc, 0);
	assert_int_equal(res.nrecs, 3);
	assert_int_equal(res.nrejects, 0);
	assert_int_equal(res.normalized, 3);
	assert_string_equal(res.recs[2].identifier, "oai:foo.bar/089101112");
	assert_string_equal(res.recs[2].datestamp, "2009-07-01T00:10:00.000Z");
	assert_string_equal(res.recs[2].datestamp_norm, "2009-07-01T00:10:00Z");
	assert_int_equal(res.recs[2].datestamp_t, 1246407000);
	result_free(&res);

	run_file(REAL_DIR "/sickle/listidentifiers-deleted-header-token-"
			  "cursor.xml",
	    &res);
	assert_int_equal(res.finish_rc, 0);
	assert_int_equal(res.verb, OAI_LIST_IDENTIFIERS);
	assert_int_equal(res.nrecs, 2);
	assert_int_equal(res.recs[0].deleted, 0);
	assert_int_equal(res.recs[1].deleted, 1);
	assert_string_equal(
	    res.recs[1].identifier, "oai:test.example.com::1585576");
	assert_null(res.recs[1].metadata);
	result_free(&res);
}

/*
 * Namespaces declared only on <OAI-PMH> or <record> end up on the metadata
 * root, and the result parses alone.
 */
static void
test_namespaces_inherited(void **state)
{
	static const char *const files[] = {
		REAL_DIR "/phpoaipmh/bnf-gallica-2015-listrecords-no-xml-"
			 "declaration.xml",
		REAL_DIR "/vufind/subjectsplus-2023-listrecords-quirky.xml",
	};
	struct result res = { 0 };
	xmlDocPtr     doc;
	xmlNodePtr    root;
	xmlNsPtr      ns;
	size_t	      i, j;

	for (i = 0; i < nitems(files); i++) {
		run_file(files[i], &res);
		assert_int_equal(res.finish_rc, 0);
		assert_true(res.nrecs > 0);
		for (j = 0; j < res.nrecs; j++) {
			if (res.recs[j].metadata == NULL)
				continue;
			assert_int_equal(reparse(res.recs[j].metadata,
					     res.recs[j].metadata_len, NULL, 0),
			    0);
			doc = xmlReadMemory(res.recs[j].metadata,
			    (int)res.recs[j].metadata_len, NULL, "UTF-8",
			    XML_PARSE_NONET);
			assert_non_null(doc);
			root = xmlDocGetRootElement(doc);
			ns = xmlSearchNs(doc, root, BAD_CAST "dc");
			assert_non_null(ns);
			assert_string_equal(ns->href, DC_NS);
			assert_non_null(
			    xmlSearchNs(doc, root, BAD_CAST "oai_dc"));
			assert_true(res.recs[j].ndc > 0);
			xmlFreeDoc(doc);
		}
		result_free(&res);
	}
}

static const char xsi_doc[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<OAI-PMH xmlns=\"http://www.openarchives.org/OAI/2.0/\" "
    "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
    "xmlns:dcterms=\"http://purl.org/dc/terms/\">\n"
    "<responseDate>2024-01-01T00:00:00Z</responseDate>\n"
    "<request verb=\"GetRecord\">http://example.org/oai</request>\n"
    "<GetRecord><record xmlns:dc=\"http://purl.org/dc/elements/1.1/\">"
    "<header><identifier>oai:example.org:1</identifier>"
    "<datestamp>2024-01-01</datestamp></header>\n"
    "<metadata xmlns:q=\"http://example.org/qdc/\">"
    "<q:qualifieddc><dc:title xml:lang=\"\">A &amp; B &lt;C&gt; "
    "\"q\" &#13;</dc:title>"
    "<dcterms:created xsi:type=\"dcterms:W3CDTF\">2024</dcterms:created>"
    "<x:extra xmlns:x=\"urn:x\" a=\"1&quot;2&amp;3&lt;4&#9;5&#10;6&#13;7\""
    "><![CDATA[<not> & markup]]></x:extra>"
    "<dc:subject><b xmlns=\"\">nested</b> text</dc:subject>"
    "<!-- a comment --><?pi data?><empty></empty>"
    "</q:qualifieddc></metadata></record></GetRecord>\n</OAI-PMH>\n";

/*
 * xsi:type="dcterms:W3CDTF" with dcterms declared on the root only; XML
 * specials survive the round trip.
 */
static void
test_metadata_serialization(void **state)
{
	struct result	  res[nitems(chunk_sizes)];
	const struct rec *r;
	xmlDocPtr	  doc;
	xmlNodePtr	  root, n;
	xmlNsPtr	  ns;
	xmlChar		 *v;
	size_t		  c;

	memset(res, 0, sizeof(res));
	for (c = 0; c < nitems(chunk_sizes); c++) {
		res[c].keep = 1;
		res[c].stop_at = 0;
		run(xsi_doc, strlen(xsi_doc), chunk_sizes[c], &res[c]);
		assert_int_equal(res[c].finish_rc, 0);
		assert_string_equal(
		    buf_str(&res[c].dump), buf_str(&res[0].dump));
	}
	assert_int_equal(res[0].nrecs, 1);
	r = &res[0].recs[0];
	assert_string_equal(r->metadata,
	    "<q:qualifieddc xmlns:q=\"http://example.org/qdc/\" "
	    "xmlns:dc=\"http://purl.org/dc/elements/1.1/\" "
	    "xmlns:dcterms=\"http://purl.org/dc/terms/\" "
	    "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
	    "xmlns=\"http://www.openarchives.org/OAI/2.0/\">"
	    "<dc:title xml:lang=\"\">A &amp; B &lt;C&gt; \"q\" &#13;</dc:title>"
	    "<dcterms:created xsi:type=\"dcterms:W3CDTF\">2024"
	    "</dcterms:created>"
	    "<x:extra xmlns:x=\"urn:x\" a=\"1&quot;2&amp;3&lt;4&#9;5&#10;6"
	    "&#13;7\">&lt;not&gt; &amp; markup</x:extra>"
	    "<dc:subject><b xmlns=\"\">nested</b> text</dc:subject>"
	    "<!-- a comment --><?pi data?><empty/></q:qualifieddc>");
	/* xml:lang="" is no language; DC text is the unescaped text. */
	assert_dc(r, 0, "title", "A & B <C> \"q\"", NULL);
	assert_dc(r, 1, "subject", "nested text", NULL);
	assert_int_equal(r->ndc, 2);

	assert_int_equal(reparse(r->metadata, r->metadata_len, NULL, 0), 0);
	doc = xmlReadMemory(
	    r->metadata, (int)r->metadata_len, NULL, "UTF-8", XML_PARSE_NONET);
	assert_non_null(doc);
	root = xmlDocGetRootElement(doc);
	ns = xmlSearchNs(doc, root, BAD_CAST "dcterms");
	assert_non_null(ns);
	assert_string_equal(ns->href, "http://purl.org/dc/terms/");
	for (n = root->children; n != NULL; n = n->next)
		if (n->type == XML_ELEMENT_NODE &&
		    strcmp((const char *)n->name, "extra") == 0)
			break;
	assert_non_null(n);
	v = xmlGetProp(n, BAD_CAST "a");
	assert_string_equal(v, "1\"2&3<4\t5\n6\r7");
	xmlFree(v);
	v = xmlNodeGetContent(root->children);
	assert_string_equal(v, "A & B <C> \"q\" \r");
	xmlFree(v);
	xmlFreeDoc(doc);
	for (c = 0; c < nitems(chunk_sizes); c++)
		result_free(&res[c]);
}

/* What the C0 filter repairs, whatever the chunk boundaries. */
static void
test_control_chars(void **state)
{
	struct result res[nitems(chunk_sizes)];
	char	     *data;
	size_t	      len, c;

	memset(res, 0, sizeof(res));
	data = read_file(HOSTILE_DIR "/control-chars.xml", &len);
	for (c = 0; c < nitems(chunk_sizes); c++) {
		res[c].keep = 1;
		res[c].stop_at = 0;
		run(data, len, chunk_sizes[c], &res[c]);
		assert_int_equal(res[c].finish_rc, 0);
		assert_int_equal(res[c].repairs, 40);
		assert_string_equal(
		    buf_str(&res[c].dump), buf_str(&res[0].dump));
	}
	assert_string_equal(res[0].recs[0].identifier, "oai:example.org:1");
	assert_dc(&res[0].recs[0], 0, "title",
	    "Verticaltab, formfeed, "
	    "escape[0m and \xc3\xa9t\xc3\xa9",
	    NULL);
	/* TAB, LF and CR stay, trimmed away here. */
	assert_int_equal(res[0].recs[0].ndc, 1);
	assert_non_null(strstr(buf_str(&res[0].dump),
	    "token=1 [5]token "
	    "cursor=0 "));
	assert_non_null(
	    strstr(buf_str(&res[0].dump), "date=[20]2024-01-01T00:00:00Z "));
	for (c = 0; c < nitems(chunk_sizes); c++)
		result_free(&res[c]);
	free(data);
}

/* Nothing from /etc/passwd may reach any report. */
static void
test_xxe(void **state)
{
	static const char *const files[] = {
		"xxe.xml",
		"parameter-entities.xml",
		"doctype-external-dtd.xml",
	};
	struct result res = { 0 };
	char	     *path;
	size_t	      i;

	for (i = 0; i < nitems(files); i++) {
		xasprintf(&path, "%s/%s", HOSTILE_DIR, files[i]);
		run_file(path, &res);
		assert_int_not_equal(res.finish_rc, 0);
		assert_string_equal(res.cause, "DOCTYPE not allowed");
		assert_null(strstr(buf_str(&res.dump), "root:"));
		assert_int_equal(res.nrecords, 0);
		result_free(&res);
		free(path);
	}
}

/* Feed a generated document made of a head, n repeats and a tail. */
static void
run_generated(const char *head, const char *body, size_t n, const char *tail,
    size_t chunk, struct result *res)
{
	struct oai_parser *p;
	struct buf	   b;
	size_t		   i, off, k;

	p = parser_for(res);
	buf_init(&b, SIZE_MAX / 2);
	buf_addstr(&b, head);
	for (i = 0; i <= n && res->feed_rc == 0; i++) {
		if (i < n)
			buf_addstr(&b, body);
		else
			buf_addstr(&b, tail);
		if (b.len < 65536 && i < n)
			continue;
		for (off = 0; off < b.len && res->feed_rc == 0; off += k) {
			k = b.len - off < chunk ? b.len - off : chunk;
			res->feed_rc = oai_parser_feed(p, b.data + off, k);
		}
		buf_reset(&b);
	}
	buf_free(&b);
	finish_result(res, p);
	oai_parser_free(p);
}

static void
test_limits(void **state)
{
	static char big[MAX_VALUE_BYTES / 4 + 1];
	static char id[MAX_ID_LEN + 2];
	static char token[MAX_TOKEN_LEN + 2];
	static const struct {
		const char *what;
		const char *head;
		const char *body;
		size_t	    n;
		const char *tail;
		const char *cause;
	} cases[] = {
		/* Outside records, limits still fail the page. */
		{ "huge setName",
		    OAI_OPEN "<ListSets><set><setSpec>a"
			     "</setSpec><setName>",
		    big, 5,
		    "</setName></set>"
		    "</ListSets></OAI-PMH>",
		    "<setName> text over MAX_VALUE_BYTES" },
		{ "huge error text", OAI_OPEN "<error code=\"badVerb\">", big,
		    5, "</error></OAI-PMH>",
		    "<error> text over MAX_VALUE_BYTES" },
		{ "long setSpec", OAI_OPEN "<ListSets><set><setSpec>", id, 1,
		    "</setSpec></set></ListSets></OAI-PMH>",
		    "<setSpec> longer than MAX_ID_LEN" },
		{ "long metadataPrefix",
		    OAI_OPEN "<ListMetadataFormats>"
			     "<metadataFormat><metadataPrefix>",
		    id, 1,
		    "</metadataPrefix></metadataFormat></ListMetadataFormats>"
		    "</OAI-PMH>",
		    "<metadataPrefix> longer than MAX_ID_LEN" },
		{ "long token", OAI_OPEN "<ListIdentifiers><resumptionToken>",
		    token, 1, "</resumptionToken></ListIdentifiers></OAI-PMH>",
		    "<resumptionToken> longer than MAX_TOKEN_LEN (4096)" },
		{ "huge token", OAI_OPEN "<ListRecords><resumptionToken>", big,
		    5, "</resumptionToken></ListRecords></OAI-PMH>",
		    "<resumptionToken> text over MAX_VALUE_BYTES" },
		/* Outside a record (inside one: see test_deep_nesting). */
		{ "deep nesting", OAI_OPEN "<ListRecords>", "<a>", 300, "",
		    "elements nested deeper than MAX_DEPTH (256)" },
	};
	struct result res = { 0 };
	size_t	      i;

	memset(big, 'a', sizeof(big) - 1);
	memset(id, 'i', sizeof(id) - 1);
	memset(token, 't', sizeof(token) - 1);
	for (i = 0; i < nitems(cases); i++) {
		res.stop_at = 0;
		stderr_begin();
		run_generated(cases[i].head, cases[i].body, cases[i].n,
		    cases[i].tail, 16384, &res);
		assert_int_equal(stderr_end(), 0);
		if (res.finish_rc == 0 ||
		    strstr(res.cause, cases[i].cause) == NULL)
			fail_msg("%s: cause \"%s\"", cases[i].what, res.cause);
		assert_int_equal(res.nrecords, 0);
		result_free(&res);
	}

	/* Just under each limit passes; padding does not count. */
	id[MAX_ID_LEN] = '\0';
	run_generated(OAI_OPEN "<ListIdentifiers><header><identifier>\n  ", id,
	    1,
	    "\n  </identifier><datestamp>2024-01-01</datestamp>"
	    "</header></ListIdentifiers></OAI-PMH>",
	    16384, &res);
	id[MAX_ID_LEN] = 'i';
	assert_int_equal(res.finish_rc, 0);
	assert_int_equal(res.nrecords, 1);
	result_free(&res);
	token[MAX_TOKEN_LEN] = '\0';
	run_generated(OAI_OPEN "<ListIdentifiers><resumptionToken>      ",
	    token, 1, "      </resumptionToken></ListIdentifiers></OAI-PMH>", 7,
	    &res);
	token[MAX_TOKEN_LEN] = 't';
	assert_int_equal(res.finish_rc, 0);
	result_free(&res);
}

/* A callback returning -1 stops everything, for good. */
static void
test_callback_stop(void **state)
{
	static const struct {
		const char *file;
		size_t	    stop_at;
		size_t	    nrecords;
	} cases[] = {
		{ NUR_DIR "/listrecords-oai_dc-page1.xml", 1, 1 },
		{ NUR_DIR "/listrecords-oai_dc-page1.xml", 2, 2 },
		{ NUR_DIR "/identify.xml", 1, 0 },
		{ REAL_DIR "/sickle/listsets-131-sets.xml", 3, 0 },
		{ REAL_DIR "/scythe/zenodo-2026-listmetadataformats.xml", 2,
		    0 },
	};
	struct result	   res = { 0 };
	struct oai_parser *p;
	char		  *data;
	size_t		   i, len, calls;

	for (i = 0; i < nitems(cases); i++) {
		data = read_file(cases[i].file, &len);
		res.stop_at = cases[i].stop_at;
		res.keep = 0;
		p = parser_for(&res);
		assert_int_equal(oai_parser_feed(p, data, len), -1);
		assert_string_equal(oai_parser_cause(p), "stopped by callback");
		assert_int_equal(oai_parser_nrecords(p), cases[i].nrecords);
		calls = res.ncalls + res.nidentify + res.nsets + res.nformats;
		assert_int_equal(calls, cases[i].stop_at);
		/* Failed for good. */
		assert_int_equal(oai_parser_feed(p, "<x/>", 4), -1);
		assert_int_equal(oai_parser_finish(p), -1);
		assert_int_equal(oai_parser_finish(p), -1);
		assert_string_equal(oai_parser_cause(p), "stopped by callback");
		calls = res.ncalls + res.nidentify + res.nsets + res.nformats;
		assert_int_equal(calls, cases[i].stop_at);
		oai_parser_free(p);
		result_free(&res);
		free(data);
	}
}

/*
 * Every proper prefix of a document is incomplete: finish() fails, with a
 * cause, and nothing crashes or leaks.
 */
static void
test_truncated(void **state)
{
	struct result	   res = { 0 };
	struct oai_parser *p;
	char		  *data;
	size_t		   len, cut, ok = 0;

	data = read_file(NUR_DIR "/listrecords-oai_dc-page1.xml", &len);
	stderr_begin();
	for (cut = 0; cut <= len; cut++) {
		res.stop_at = 0;
		res.keep = 0;
		p = parser_for(&res);
		if (oai_parser_feed(p, data, cut) == 0 &&
		    oai_parser_finish(p) == 0)
			ok++;
		else if (oai_parser_cause(p)[0] == '\0')
			fail_msg("cut at %zu: no cause", cut);
		oai_parser_free(p);
		result_free(&res);
	}
	assert_int_equal(stderr_end(), 0);
	/* The whole thing, and the thing without its final newline. */
	assert_true(ok <= 2);
	assert_true(ok >= 1);
	free(data);

	p = oai_parser_new(NULL, NULL);
	assert_int_equal(oai_parser_finish(p), -1);
	assert_string_equal(oai_parser_cause(p), "empty document");
	oai_parser_free(p);

	p = oai_parser_new(NULL, NULL);
	assert_int_equal(oai_parser_feed(p, "\x01\x02", 2), 0);
	assert_int_equal(oai_parser_finish(p), -1);
	assert_string_equal(oai_parser_cause(p), "empty document");
	assert_int_equal(oai_parser_repairs(p), 2);
	oai_parser_free(p);

	p = oai_parser_new(NULL, NULL);
	assert_int_equal(oai_parser_feed(p, OAI_OPEN, strlen(OAI_OPEN)), 0);
	assert_int_equal(oai_parser_finish(p), -1);
	assert_true(oai_parser_cause(p)[0] != '\0');
	assert_string_equal(
	    oai_parser_response_date(p), "2024-01-01T00:00:00Z");
	oai_parser_free(p);
}

static void
test_not_oai(void **state)
{
	static const struct {
		const char *doc;
		const char *cause;
	} cases[] = {
		{ "<html><body>Retry later</body></html>",
		    "not an OAI-PMH response (root element \"html\")" },
		{ "<?xml version=\"1.0\"?>\n<error code=\"badVerb\">x</error>",
		    "not an OAI-PMH response (root element \"error\")" },
		{ "<h:OAI-PMH xmlns:h=\"http://www.w3.org/1999/xhtml\"/>",
		    "not an OAI-PMH response (root element \"OAI-PMH\" in "
		    "namespace \"http://www.w3.org/1999/xhtml\")" },
		{ "<oai:record xmlns:oai=\"http://www.openarchives.org/OAI/2.0/"
		  "\"/>",
		    "not an OAI-PMH response (root element "
		    "\"oai:record\")" },
		{ "broken xml\n", "line 1: Document is empty" },
		{ OAI_OPEN
		    "<ListRecords><record><header><identifier>a"
		    "</identifier><datestamp>2024-01-01</datestamp></header>"
		    "</record><bad>&#38;&bogus;</bad></ListRecords></OAI-PMH>",
		    "line 4: Entity 'bogus' not defined" },
		{ OAI_OPEN
		    "<ListRecords><record><header><identifier>a"
		    "</identifier><datestamp>2024-01-01</datestamp></header>"
		    "<metadata><m>&bogus;</m></metadata></record></ListRecords>"
		    "</OAI-PMH>",
		    "line 4: Entity 'bogus' not defined" },
		{ OAI_OPEN "<ListRecords><resumptionToken/><resumptionToken/>"
			   "</ListRecords></OAI-PMH>",
		    "line 4: more than one <resumptionToken>" },
		{ OAI_OPEN "<Identify><resumptionToken>x</resumptionToken>"
			   "</Identify></OAI-PMH>",
		    "line 4: <resumptionToken> out of place in <Identify>" },
		{ OAI_OPEN "<ListSets><set><setSpec><record/></setSpec></set>"
			   "</ListSets></OAI-PMH>",
		    "line 4: <record> out of place in <setSpec>" },
		{ OAI_OPEN "</OAI-PMH><OAI-PMH/>",
		    "line 4: Extra content at "
		    "the end of the document" },
	};
	struct result	   res = { 0 };
	struct oai_parser *p;
	size_t		   i;

	for (i = 0; i < nitems(cases); i++) {
		p = parser_for(&res);
		(void)oai_parser_feed(p, cases[i].doc, strlen(cases[i].doc));
		assert_int_equal(oai_parser_finish(p), -1);
		if (strcmp(oai_parser_cause(p), cases[i].cause) != 0)
			fail_msg("case %zu: cause \"%s\", wanted \"%s\"", i,
			    oai_parser_cause(p), cases[i].cause);
		oai_parser_free(p);
		result_free(&res);
	}
}

/* Out-of-place elements that do no harm are ignored. */
static void
test_tolerated(void **state)
{
	static const char doc[] = OAI_OPEN
	    "<request verb=\"ListRecords\"><odd/>x</request>"
	    "<extension><record/></extension>"
	    "<ListRecords><vendor:note xmlns:vendor=\"urn:v\">n</vendor:note>"
	    "<record><header status=\" deleted \"><identifier> a "
	    "</identifier><datestamp>2024-01-01</datestamp><setSpec/>"
	    "<unknown>u</unknown></header><metadata><m/></metadata>"
	    "<about><p/></about></record>"
	    "<record><header><identifier>b</identifier><datestamp>2024-01-01"
	    "</datestamp></header><metadata>\n<m>1</m>\n</metadata>"
	    "</record>"
	    "<resumptionToken/></ListRecords></OAI-PMH>";
	struct result res = { 0 };

	res.keep = 1;
	res.stop_at = 0;
	run(doc, strlen(doc), 7, &res);
	assert_int_equal(res.finish_rc, 0);
	assert_int_equal(res.nrecs, 2);
	assert_int_equal(res.nrejects, 0);
	assert_string_equal(res.recs[0].identifier, "a");
	/* Deleted, with metadata: delivered deleted, metadata ignored. */
	assert_int_equal(res.recs[0].deleted, 1);
	assert_int_equal(res.recs[0].nsets, 0);
	assert_null(res.recs[0].metadata);
	assert_string_equal(res.recs[1].metadata,
	    "<m xmlns=\"http://www.openarchives.org/OAI/2.0/\">1</m>");
	assert_int_equal(res.verb, OAI_LIST_RECORDS);
	result_free(&res);
}

/*
 * Many small records, fed in 16 KiB chunks: memory stays flat (ASan would
 * see a leak) and the rate is printed.
 */
static void
test_throughput(void **state)
{
	static const char rec[] =
	    "<record><header><identifier>"
	    "oai:example.org:123456</identifier><datestamp>2024-01-01T00:00:00Z"
	    "</datestamp><setSpec>com_1</setSpec></header><metadata>" DC_OPEN
	    "<dc:title>A title of some length</dc:title>"
	    "<dc:creator>Doe, Jane</dc:creator><dc:subject>one</dc:subject>"
	    "<dc:date>2024</dc:date><dc:identifier>http://example.org/123456"
	    "</dc:identifier></oai_dc:dc></metadata></record>\n";
	struct result	res = { 0 };
	struct timespec t0, t1;
	double		secs;
	size_t		n = 50000;

	res.stop_at = 0;
	res.keep = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	run_generated(OAI_OPEN "<ListRecords>\n", rec, n,
	    "<resumptionToken>next</resumptionToken></ListRecords></OAI-PMH>",
	    16384, &res);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(res.finish_rc, 0);
	assert_int_equal(res.nrecords, n);
	assert_int_equal(res.reparse_failed, 0);
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	print_message("   %zu records (%zu bytes each) in %.2fs with the test "
		      "callback and re-parse: %.0f records/s\n",
	    n, sizeof(rec) - 1, secs, (double)n / secs);
	result_free(&res);
}

/* Repaired values: U+FFFD, as UTF-8, in C strings. */
#define R "\xef\xbf\xbd"

/*
 * Bad UTF-8 among two-byte characters, at every offset within the filter's
 * sixteen-byte steps: each is found and repaired as it is alone.
 */
static void
test_repair_utf8_blocks(void **state)
{
	static const struct {
		const char *bad, *fixed;
		size_t	    repairs;
	} cases[] = {
		{ "\xd0\x96\x80", "\xd0\x96" R, 1 }, /* a lone continuation */
		{ "\xd0\xd0\x96", R "\xd0\x96",
		    1 },		/* a lead, no continuation */
		{ "\xc1\xbf", R R, 2 }, /* an overlong */
		{ "\xd0"
		  "a",
		    R "a", 1 },			   /* a lead before ASCII */
		{ "\xd0\x96\x01", "\xd0\x96", 1 }, /* a control byte */
		{ "\xd0\x96\xe2\x82", "\xd0\x96" R, 1 }, /* cut short */
	};
	static const char zh[] = "\xd0\x96"; /* Ж */
	struct result	  res[nitems(chunk_sizes)];
	struct buf	  title, want;
	char		 *doc;
	size_t		  c, pad, i;

	buf_init(&title, SIZE_MAX / 4);
	buf_init(&want, SIZE_MAX / 4);
	for (c = 0; c < nitems(cases); c++) {
		for (pad = 0; pad < 20; pad++) {
			buf_reset(&title);
			buf_reset(&want);
			for (i = 0; i < pad; i++)
				buf_addstr(&title, i % 3 == 0 ? "a" : zh);
			for (i = 0; i < 12; i++)
				buf_addstr(&title, zh);
			buf_addstr(&want, buf_str(&title));
			buf_addstr(&title, cases[c].bad);
			buf_addstr(&want, cases[c].fixed);
			for (i = 0; i < 20; i++) {
				buf_addstr(&title, zh);
				buf_addstr(&want, zh);
			}
			memset(res, 0, sizeof(res));
			xasprintf(&doc,
			    "%s<ListRecords>%s" DC_OPEN
			    "<dc:title>%s</dc:title></oai_dc:dc>"
			    "</metadata></record></ListRecords></OAI-PMH>",
			    OAI_OPEN, REC_OPEN, buf_str(&title));
			run_all(doc, strlen(doc), res);
			free(doc);
			assert_int_equal(res[0].finish_rc, 0);
			assert_int_equal(res[0].nrecs, 1);
			assert_int_equal(res[0].repairs, cases[c].repairs);
			assert_dc(
			    &res[0].recs[0], 0, "title", buf_str(&want), NULL);
			results_free(res);
		}
	}
	buf_free(&title);
	buf_free(&want);
}

/*
 * Text with multibyte characters goes around libxml2 (see lex_emit() in
 * harvest/xmlfilter.c): what each record gets must be what libxml2 would
 * have handed out, whatever surrounds the text and however it is cut.  A
 * U+FDD0 of the document's own (references, raw, in CDATA) stays itself.
 */
#define ZH   "\xd0\x96" /* Ж */
#define FDD0 "\xef\xb7\x90"
static void
test_text_stretches(void **state)
{
	static const char doc[] = OAI_OPEN
	    "<ListRecords>\n"
	    "<record><header><identifier>oai:x:" ZH "1</identifier>"
	    "<datestamp>2024-01-01</datestamp></header><metadata>\n" DC_OPEN
	    "\n<dc:title xml:lang=\"ru\" >" ZH " &#xFDD0; " ZH
	    "&#64976;" FDD0 ZH "</dc:title>\n"
	    "<dc:creator><![CDATA[" ZH " " FDD0 " <b>]] ]]>" ZH "</dc:creator>"
	    "<!-- " ZH " > - --><?pi " ZH " > ?>\n"
	    "<dc:subject a=\"x>" ZH "\" b='" ZH "\"/'>" ZH "&lt;" ZH "&amp;" ZH
	    "]" ZH "</dc:subject>\n"
	    "<dc:description>" ZH "\r\n" ZH "\r" ZH " " ZH "</dc:description>"
	    "<dc:publisher/><dc:date>" ZH "&#xfdd0;&#x0FDD1;</dc:date>"
	    "</oai_dc:dc>\n</metadata></record>\n"
	    "<record><header><identifier>oai:x:2</identifier>"
	    "<datestamp>2024-01-01</datestamp></header><metadata>" DC_OPEN
	    "<dc:creator><![CDATA[" FDD0 "]]></dc:creator><dc:title>" ZH
	    "</dc:title><dc:title>" FDD0 "</dc:title>"
	    "</oai_dc:dc></metadata></record>"
	    "</ListRecords></OAI-PMH>\n";
	struct result	  res[nitems(chunk_sizes)];
	const struct rec *r;

	memset(res, 0, sizeof(res));
	run_all(doc, sizeof(doc) - 1, res);
	assert_int_equal(res[0].finish_rc, 0);
	assert_int_equal(res[0].nrecs, 2);
	r = &res[0].recs[0];
	assert_string_equal(r->identifier, "oai:x:" ZH "1");
	assert_dc(r, 0, "title", ZH " " FDD0 " " ZH FDD0 FDD0 ZH, "ru");
	assert_dc(r, 1, "creator", ZH " " FDD0 " <b>]] " ZH, NULL);
	assert_dc(r, 2, "subject", ZH "<" ZH "&" ZH "]" ZH, NULL);
	assert_dc(r, 3, "description", ZH "\n" ZH "\n" ZH " " ZH, NULL);
	assert_dc(r, 4, "date", ZH FDD0 "\xef\xb7\x91", NULL);
	assert_int_equal(r->ndc, 5);
	assert_non_null(strstr(r->metadata,
	    "<dc:title xml:lang=\"ru\">" ZH " " FDD0 " " ZH FDD0 FDD0 ZH
	    "</dc:title>"));
	assert_non_null(strstr(r->metadata,
	    "<dc:creator>" ZH " " FDD0 " &lt;b&gt;]] " ZH "</dc:creator>"
	    "<!-- " ZH " > - --><?pi " ZH " > ?>"));
	assert_non_null(strstr(r->metadata,
	    "<dc:subject a=\"x&gt;" ZH "\" b=\"" ZH "&quot;/\">" ZH "&lt;" ZH
	    "&amp;" ZH "]" ZH "</dc:subject>"));
	assert_non_null(strstr(r->metadata,
	    "<dc:description>" ZH "\n" ZH "\n" ZH " " ZH
	    "</dc:description><dc:publisher/>"));
	assert_dc(&res[0].recs[1], 0, "creator", FDD0, NULL);
	assert_dc(&res[0].recs[1], 1, "title", ZH, NULL);
	assert_dc(&res[0].recs[1], 2, "title", FDD0, NULL);
	results_free(res);
}

/*
 * Errors in and after text that went around libxml2 are found, on the
 * line they are on.
 */
static void
test_text_stretches_errors(void **state)
{
	static const struct {
		const char *body, *cause;
	} cases[] = {
		{ ZH "\n" ZH "]]>" ZH, "line 8: Sequence ']]>' not allowed" },
		{ ZH "\n\n" ZH "&nosuch;" ZH,
		    "line 9: Entity 'nosuch' not defined" },
		{ ZH "\n" ZH "&#xFFFE;", NULL }, /* repaired: no error */
		{ ZH "\n" ZH "<" ZH, "line 8: error parsing attribute name" },
		{ ZH "\n\n\n" ZH "</dc:x>" ZH,
		    "line 10: Opening and ending tag" },
		{ ZH "\r\n" ZH "\n\r" ZH " \x01\x02" ZH, NULL },
	};
	struct result res[nitems(chunk_sizes)];
	char	     *doc;
	size_t	      i;

	for (i = 0; i < nitems(cases); i++) {
		memset(res, 0, sizeof(res));
		xasprintf(&doc,
		    "%s<ListRecords>\n%s\n" DC_OPEN "\n"
		    "<dc:title>%s</dc:title></oai_dc:dc>"
		    "</metadata></record></ListRecords></OAI-PMH>\n",
		    OAI_OPEN, REC_OPEN, cases[i].body);
		run_all(doc, strlen(doc), res);
		free(doc);
		if (cases[i].cause == NULL) {
			assert_int_equal(res[0].finish_rc, 0);
			assert_int_equal(res[0].nrecs, 1);
		} else {
			assert_int_equal(res[0].finish_rc, -1);
			if (strncmp(res[0].cause, cases[i].cause,
				strlen(cases[i].cause)) != 0)
				fail_msg("case %zu: %s", i, res[0].cause);
		}
		results_free(res);
	}
}
#undef ZH
#undef FDD0

/* Each class of invalid UTF-8, between "a" and "b". */
static void
test_repair_utf8(void **state)
{
	static const char *const titles[] = {
		"a" R	  R "b", /* C0 AF */
		"a" R R	  R "b", /* E0 80 AF */
		"a" R R R R "b", /* F0 80 80 AF */
		"a" R R	  R "b", /* ED A0 80 */
		"a" R R	  R "b", /* ED BF BF */
		"a" R R R R "b", /* F4 90 80 80 */
		"a" R R R R "b", /* F5 80 80 80 */
		"a" R "b",	 /* E2 82 */
		"a" R "b",	 /* F0 9F 98 */
		"a" R "b",	 /* C3 */
		"a" R "b",	 /* 80 */
		"a" R R "b",	 /* BF BF */
		"a" R R "b",	 /* C1 BF */
		"a" R "b",	 /* FE */
		"a" R "b",	 /* FF */
	};
	struct result res[nitems(chunk_sizes)];
	char	      el[64];
	size_t	      i;

	memset(res, 0, sizeof(res));
	run_all_file(BROKEN_DIR "/utf8-invalid-bytes.xml", res);
	assert_int_equal(res[0].finish_rc, 0);
	assert_int_equal(res[0].nrecs, nitems(titles));
	assert_int_equal(res[0].repairs, 33);
	for (i = 0; i < nitems(titles); i++) {
		assert_dc(&res[0].recs[i], 0, "title", titles[i], NULL);
		snprintf(el, sizeof(el), "<dc:title>%s</dc:title>", titles[i]);
		assert_non_null(strstr(res[0].recs[i].metadata, el));
	}
	results_free(res);

	run_all_file(BROKEN_DIR "/utf8-noncharacters.xml", res);
	assert_int_equal(res[0].finish_rc, 0);
	assert_int_equal(res[0].repairs, 3);
	assert_dc(&res[0].recs[0], 0, "title", "x" R "y" R "z", NULL);
	assert_dc(&res[0].recs[1], 0, "title", "ok", "e" R "n");
	assert_non_null(
	    strstr(res[0].recs[1].metadata, "xml:lang=\"e" R "n\""));
	/* U+FFFD and U+FFFC are characters like any other. */
	assert_dc(&res[0].recs[2], 0, "title", R "\xef\xbf\xbc" R, NULL);
	results_free(res);

	/* Every multibyte character cut by 1- and 7-byte feeds survives. */
	run_all_file(BROKEN_DIR "/utf8-valid-multibyte.xml", res);
	assert_int_equal(res[0].finish_rc, 0);
	assert_int_equal(res[0].repairs, 0);
	assert_dc(&res[0].recs[0], 0, "title", "é ü ß", NULL);
	assert_dc(&res[0].recs[1], 0, "title", "Қазақстан € 中文 " R, NULL);
	assert_dc(&res[0].recs[2], 0, "title",
	    "\xf0\x9f\x98\x80 "
	    "\xf0\x90\x8d\x88 \xf4\x8f\xbf\xbd",
	    NULL);
	results_free(res);

	run_all_file(BROKEN_DIR "/utf8-bom-lowercase-declaration.xml", res);
	assert_int_equal(res[0].finish_rc, 0);
	assert_int_equal(res[0].repairs, 1);
	assert_dc(&res[0].recs[0], 0, "title", "a" R "b", NULL);
	results_free(res);

	run_all_file(BROKEN_DIR "/utf8-no-declaration.xml", res);
	assert_int_equal(res[0].finish_rc, 0);
	assert_int_equal(res[0].repairs, 1);
	assert_dc(&res[0].recs[0], 0, "title", "a" R "(b", NULL);
	results_free(res);
}

/* Forbidden character references, in text and attributes. */
static void
test_repair_charrefs(void **state)
{
	struct result res[nitems(chunk_sizes)];

	memset(res, 0, sizeof(res));
	run_all_file(BROKEN_DIR "/charrefs-forbidden.xml", res);
	assert_int_equal(res[0].finish_rc, 0);
	assert_int_equal(res[0].nrecs, 4);
	assert_int_equal(res[0].repairs, 16);
	/* &#xD800; &#1; &#0; &#x110000; &#65534; */
	assert_dc(&res[0].recs[0], 0, "title",
	    "a" R "b" R "c" R "d" R "e" R "f", NULL);
	assert_dc(&res[0].recs[1], 0, "title", "ok", R R R R R "en");
	assert_non_null(strstr(res[0].recs[1].metadata,
	    "<dc:title xml:lang=\"" R R R R R "en\">ok</dc:title>"));
	/* &#xDFFF; &#xFFFF; &#x0; &#31; &#1114112; &#99999999999999999999; */
	assert_dc(&res[0].recs[2], 0, "title", R R R R R R, NULL);
	/* Allowed references are left to libxml2. */
	assert_dc(&res[0].recs[3], 0, "title",
	    "kept: \t\n\r "
	    "\xc3\xa9\xc3\xa9\xed\x9f\xbf\xee\x80\x80" R
	    "\xf0\x90\x80\x80\xf4\x8f\xbf\xbf&&<",
	    "\xc3\xa9\xf4\x8f\xbf\xbf");
	assert_non_null(strstr(res[0].recs[3].metadata, "\t\n&#13; "));
	results_free(res);
}

/* A declared 8-bit encoding is libxml2's to convert: no UTF-8 repair. */
static void
test_repair_latin1(void **state)
{
	struct result res[nitems(chunk_sizes)];

	memset(res, 0, sizeof(res));
	run_all_file(BROKEN_DIR "/iso-8859-1.xml", res);
	assert_int_equal(res[0].finish_rc, 0);
	assert_int_equal(res[0].nrecs, 2);
	assert_dc(&res[0].recs[0], 0, "title",
	    "caf\xc3\xa9 na\xc3\xafve \xc2\xa9", NULL);
	/* The C0 byte dropped, &#1; rewritten: two repairs. */
	assert_dc(&res[0].recs[1], 0, "title", "xy" R "z", NULL);
	assert_int_equal(res[0].repairs, 2);
	results_free(res);
}

/* Citebase sent lone 0xC2 bytes and a 0x06: the page is saved. */
static void
test_repair_celestial(void **state)
{
	struct result res[nitems(chunk_sizes)];
	const char   *d;

	memset(res, 0, sizeof(res));
	run_all_file(REAL_DIR "/httpoai/BROKEN-celestial-citebase-2005-"
			      "getrecord-invalid-utf8-bytes.xml",
	    res);
	assert_int_equal(res[0].finish_rc, 0);
	assert_int_equal(res[0].nrecs, 1);
	assert_string_equal(
	    res[0].recs[0].identifier, "oai:arXiv.org:hep-th/0001001");
	/* 11 bad sequences, one control byte. */
	assert_int_equal(res[0].repairs, 12);
	assert_string_equal(res[0].recs[0].dc[6].element, "description");
	d = res[0].recs[0].dc[6].value;
	assert_non_null(strstr(d,
	    "geometry of\n\n" R "\n\n" R R R "\n\nthe "
	    "moduli space"));
	assert_non_null(
	    strstr(d, "point of view of\n\n" R R R R R R R "\n\nsuperstring"));
	assert_non_null(strstr(d, "type IIB string\n\n\n\ncompactified"));
	results_free(res);
}

/*
 * How the encoding is found: the declaration may take up to DECL_MAX bytes
 * and arrive a byte at a time; UTF-16 goes to libxml2 untouched.
 */
static void
test_repair_sniff(void **state)
{
#define BODY \
	"<OAI-PMH xmlns=\"http://www.openarchives.org/OAI/2.0/\">" \
	"<responseDate>2024-01-01T00:00:00Z</responseDate><GetRecord>" \
	"<record><header><identifier>i</identifier><datestamp>2024-01-01" \
	"</datestamp></header><metadata>" DC_OPEN "<dc:title>"
#define END \
	"</dc:title></oai_dc:dc></metadata></record></GetRecord>" \
	"</OAI-PMH>"
	static const struct {
		const char *doc;
		const char *title;
		size_t	    repairs;
	} cases[] = {
		/* The encoding far into a long declaration. */
		{ "<?xml version=\"1.0\"                                   "
		  "                                                       "
		  "                                                       "
		  "      encoding=\"ISO-8859-1\"?>\n" BODY "\xe9" END,
		    "\xc3\xa9", 0 },
		{ "<?xml version = '1.0' encoding = \"latin1\" ?>" BODY
		  "\xe9\xff" END,
		    "\xc3\xa9\xc3\xbf", 0 },
		{ "<?xml\tversion='1.0'\nencoding='UTF8'?>" BODY "\xe9" END, R,
		    1 },
		{ "<?xml version='1.0'?>" BODY "\xe9\x01" END, R, 2 },
		/* Not a declaration: no declaration, UTF-8. */
		{ "<?xml-stylesheet href='encoding=\"ISO-8859-1\"'?>" BODY
		  "\xe9" END,
		    R, 1 },
		{ BODY "\xed\xa0\x80&#xd800;" END, R R R R, 4 },
	};
	/* <?xml version="1.0" encoding="UTF-16"?> and a title, UTF-16LE. */
	static const char u16[] =
	    "<?xml version=\"1.0\" "
	    "encoding=\"UTF-16\"?>" BODY "\xe9\xc3\xa9" END;
	struct result res[nitems(chunk_sizes)];
	char	     *wide;
	size_t	      i, n;

	memset(res, 0, sizeof(res));
	for (i = 0; i < nitems(cases); i++) {
		run_all(cases[i].doc, strlen(cases[i].doc), res);
		if (res[0].finish_rc != 0)
			fail_msg("case %zu: %s", i, res[0].cause);
		assert_int_equal(res[0].nrecs, 1);
		assert_string_equal(res[0].recs[0].dc[0].value, cases[i].title);
		assert_int_equal(res[0].repairs, cases[i].repairs);
		results_free(res);
	}

	/* Its NUL bytes are not control bytes to drop. */
	n = strlen(u16);
	wide = xcalloc(2, n + 1);
	wide[0] = '\xff';
	wide[1] = '\xfe';
	for (i = 0; i < n; i++)
		wide[2 + 2 * i] = u16[i];
	/* "é" as U+00E9 and "Ã©" likewise: this is Latin-1 widened. */
	run_all(wide, 2 + 2 * n, res);
	if (res[0].finish_rc != 0)
		fail_msg("UTF-16: %s", res[0].cause);
	assert_string_equal(
	    res[0].recs[0].dc[0].value, "\xc3\xa9\xc3\x83\xc2\xa9");
	assert_int_equal(res[0].repairs, 0);
	results_free(res);
	free(wide);
#undef BODY
#undef END
}

/*
 * Every kind of bad record, between good ones: the good ones arrive in
 * order, the bad one at on_reject, and the page parses.
 */
static void
test_bad_records(void **state)
{
	static const struct {
		const char *file;
		size_t	    n; /* which reject */
		const char *identifier;
		const char *datestamp;
		const char *cause;
		const char *raw; /* a piece of it */
	} cases[] = {
		{ "record-no-header.xml", 0, NULL, NULL,
		    "line 8: record without <header>",
		    "<metadata><oai_dc:dc xmlns:oai_dc=" },
		{ "record-no-identifier.xml", 0, NULL, "2024-01-01",
		    "line 8: <header> without <identifier>",
		    "<header><datestamp>2024-01-01</datestamp></header>" },
		{ "record-no-identifier.xml", 1, NULL, "2024-01-01",
		    "line 9: empty <identifier>",
		    "<identifier>  </identifier>" },
		{ "record-no-datestamp.xml", 0, "oai:example.org:nodate", NULL,
		    "line 8: <header> without <datestamp>",
		    "<dc:title>no date</dc:title>" },
		{ "record-two-metadata-children.xml", 0, "oai:example.org:two",
		    "2024-01-01",
		    "line 11: more than one element child in "
		    "<metadata>",
		    "<record xmlns:x=\"urn:x\" xmlns:xsi=\"http://"
		    "www.w3.org/2001/XMLSchema-instance\" xmlns=\"http://www."
		    "openarchives.org/OAI/2.0/\"><header><identifier>oai:"
		    "example.org:two</identifier><datestamp>2024-01-01"
		    "</datestamp><setSpec>s&amp;1</setSpec></header>\n"
		    "<metadata>\n<oai_dc:dc xmlns:oai_dc=\"http://www."
		    "openarchives.org/OAI/2.0/oai_dc/\" xmlns:dc=\"http://purl."
		    "org/dc/elements/1.1/\" xmlns:x=\"urn:x\" xmlns:xsi=\"http:"
		    "//www.w3.org/2001/XMLSchema-instance\" xmlns=\"http://www."
		    "openarchives.org/OAI/2.0/\"><dc:title>one</dc:title>"
		    "</oai_dc:dc>\n<x:second a=\"1&amp;2\">two &lt;&gt;"
		    "</x:second><!-- c --></metadata>\n<about><x:p/></about>"
		    "</record>" },
		{ "record-two-headers.xml", 0, "oai:example.org:twoheads",
		    "2024-01-01", "line 8: record with two <header>s",
		    "</header><header><identifier>oai:example.org:other"
		    "</identifier></header></record>" },
		{ "record-element-out-of-place.xml", 0,
		    "oai:example.org:nested", "2024-01-01",
		    "line 8: <record> out of place in <header>",
		    "<record/></header></record>" },
	};
	struct result	  res[nitems(chunk_sizes)];
	const struct rej *x;
	char		 *path;
	size_t		  i, j;

	memset(res, 0, sizeof(res));
	for (i = 0; i < nitems(cases); i++) {
		xasprintf(&path, "%s/%s", BROKEN_DIR, cases[i].file);
		run_all_file(path, res);
		if (res[0].finish_rc != 0)
			fail_msg("%s: %s", path, res[0].cause);
		/* The good ones, in order. */
		assert_int_equal(res[0].nrecs, 3);
		for (j = 0; j < 3; j++) {
			char id[32];

			snprintf(id, sizeof(id), "oai:example.org:%zu", j + 1);
			assert_string_equal(res[0].recs[j].identifier, id);
		}
		if (strstr(path, "listidentifiers") == NULL) {
			assert_dc(&res[0].recs[0], 0, "title", "first", NULL);
			assert_dc(&res[0].recs[2], 0, "title", "third", NULL);
		}
		assert_true(cases[i].n < res[0].nrejs);
		assert_int_equal(res[0].nrejects, res[0].nrejs);
		x = &res[0].rejs[cases[i].n];
		if (cases[i].identifier == NULL)
			assert_null(x->identifier);
		else
			assert_string_equal(x->identifier, cases[i].identifier);
		if (cases[i].datestamp == NULL)
			assert_null(x->datestamp);
		else
			assert_string_equal(x->datestamp, cases[i].datestamp);
		if (strcmp(x->cause, cases[i].cause) != 0)
			fail_msg("%s: cause \"%s\"", path, x->cause);
		if (strstr(x->raw, cases[i].raw) == NULL)
			fail_msg("%s: raw %s", path, x->raw);
		assert_int_equal(x->truncated, 0);
		/* It stands alone (cb_reject re-parsed it too). */
		assert_int_equal(reparse(x->raw, x->raw_len, NULL, 0), 0);
		assert_true(strncmp(x->raw,
				strstr(path, "listidentifiers") ? "<header " :
								  "<record ",
				8) == 0);
		results_free(res);
		free(path);
	}

	/* A deleted record with metadata: deleted, no metadata, no reject. */
	run_all_file(BROKEN_DIR "/record-deleted-with-metadata.xml", res);
	assert_int_equal(res[0].finish_rc, 0);
	assert_int_equal(res[0].nrejects, 0);
	assert_int_equal(res[0].nrecs, 3);
	assert_string_equal(res[0].recs[1].identifier, "oai:example.org:gone");
	assert_int_equal(res[0].recs[1].deleted, 1);
	assert_null(res[0].recs[1].metadata);
	assert_int_equal(res[0].recs[1].ndc, 0);
	results_free(res);
}

/* Small inline documents: the exact causes, and the rest of the page. */
static void
test_bad_records_inline(void **state)
{
	static const struct {
		const char *doc;
		const char *cause;
		size_t	    nrecords;
	} cases[] = {
		{ OAI_OPEN "<GetRecord><record><metadata/></record></GetRecord>"
			   "</OAI-PMH>",
		    "line 4: record without <header>", 0 },
		{ OAI_OPEN
		    "<GetRecord><record><header><datestamp>2024-01-01"
		    "</datestamp></header></record></GetRecord></OAI-PMH>",
		    "line 4: <header> without <identifier>", 0 },
		{ OAI_OPEN
		    "<GetRecord><record><header><identifier>a"
		    "</identifier></header><header/></record></GetRecord>"
		    "</OAI-PMH>",
		    "line 4: record with two <header>s", 0 },
		{ OAI_OPEN
		    "<ListRecords><record><header><identifier>a"
		    "</identifier><datestamp>2024-01-01</datestamp></header>"
		    "<metadata><m/></metadata><metadata><n/></metadata>"
		    "</record>" REC_OPEN "<m/></metadata></record>"
		    "</ListRecords></OAI-PMH>",
		    "line 4: record with two <metadata>s", 1 },
		{ OAI_OPEN
		    "<ListRecords><record><header><identifier>a"
		    "</identifier><datestamp>2024-01-01</datestamp><metadata/>"
		    "</header></record>" REC_OPEN "<m/></metadata></record>"
		    "</ListRecords></OAI-PMH>",
		    "line 4: <metadata> out of place in <header>", 1 },
		{ OAI_OPEN "<ListRecords>" REC_OPEN "<m/></metadata>"
			   "<ListSets/></record></ListRecords></OAI-PMH>",
		    "line 4: <ListSets> out of place in <record>", 0 },
		{ OAI_OPEN
		    "<ListRecords><record><header><identifier>a"
		    "</identifier><datestamp>2024-01-01</datestamp></header>"
		    "<metadata>text<m/>more</metadata></record>\n" REC_OPEN
		    "<m/></metadata></record><resumptionToken>t"
		    "</resumptionToken></ListRecords></OAI-PMH>",
		    NULL, 2 },
	};
	struct result res[nitems(chunk_sizes)];
	size_t	      i;

	memset(res, 0, sizeof(res));
	for (i = 0; i < nitems(cases); i++) {
		run_all(cases[i].doc, strlen(cases[i].doc), res);
		if (res[0].finish_rc != 0)
			fail_msg("case %zu: %s", i, res[0].cause);
		assert_int_equal(res[0].nrecords, cases[i].nrecords);
		if (cases[i].cause == NULL)
			assert_int_equal(res[0].nrejects, 0);
		else {
			assert_int_equal(res[0].nrejects, 1);
			if (strcmp(res[0].rejs[0].cause, cases[i].cause) != 0)
				fail_msg("case %zu: cause \"%s\"", i,
				    res[0].rejs[0].cause);
		}
		results_free(res);
	}
}

/*
 * Limits inside a record make that record bad, not the page: generated
 * records between two good ones.  Huge ones are cut at OAI_REJECT_MAX.
 */
static void
test_bad_records_limits(void **state)
{
#define GOOD(n) \
	"<record><header><identifier>oai:x:good" #n "</identifier>" \
	"<datestamp>2024-01-01</datestamp></header><metadata>" DC_OPEN \
	"<dc:title>good " #n "</dc:title></oai_dc:dc></metadata></record>\n"
#define BAD_OPEN \
	"<record><header><identifier>oai:x:bad</identifier>" \
	"<datestamp>2024-01-01</datestamp>"
#define LR     OAI_OPEN "<ListRecords>" GOOD(1)
#define LR_END GOOD(2) "</ListRecords></OAI-PMH>"
	static char big[MAX_VALUE_BYTES / 4 + 1];
	static char id[MAX_ID_LEN + 2];
	static const struct {
		const char *what;
		const char *head;
		const char *body;
		size_t	    n;
		const char *tail;
		const char *cause;
		int	    small; /* also 1-byte feeds */
		int	    truncated;
		const char *identifier;
	} cases[] = {
		{ "huge DC text",
		    LR BAD_OPEN "</header><metadata>" DC_OPEN
				"<dc:description>",
		    big, 5,
		    "</dc:description>"
		    "</oai_dc:dc></metadata></record>\n" LR_END,
		    "line 5: <dc:description> text over MAX_VALUE_BYTES "
		    "(4194304)",
		    0, 1, "oai:x:bad" },
		{ "huge xml:lang",
		    LR BAD_OPEN "</header><metadata>" DC_OPEN
				"<dc:title xml:lang=\"",
		    big, 5,
		    "\">t</dc:title>"
		    "</oai_dc:dc></metadata></record>\n" LR_END,
		    "line 5: xml:lang over MAX_VALUE_BYTES (4194304)", 0, 1,
		    "oai:x:bad" },
		{ "huge header text", LR "<record><header><identifier>", big, 5,
		    "</identifier><datestamp>2024-01-01</datestamp>"
		    "</header></record>\n" LR_END,
		    "line 5: <identifier> text "
		    "over MAX_VALUE_BYTES (4194304)",
		    0, 1, NULL },
		{ "record over the limit",
		    LR BAD_OPEN "</header><metadata>" DC_OPEN,
		    "<dc:x>"
		    "0123456789abcdef0123456789abcdef"
		    "0123456789abcdef0123456789abcdef"
		    "</dc:x>",
		    MAX_RECORD_BYTES / 64,
		    "</oai_dc:dc></metadata></record>\n" LR_END,
		    "record over MAX_RECORD_BYTES (16777216)", 0, 1,
		    "oai:x:bad" },
		{ "long identifier", LR "<record><header><identifier>", id, 1,
		    "</identifier><datestamp>2024-01-01</datestamp></header>"
		    "</record>\n" LR_END,
		    "line 5: <identifier> longer than "
		    "MAX_ID_LEN (2048)",
		    1, 0, NULL },
		{ "long identifier in ListIdentifiers",
		    OAI_OPEN
		    "<ListIdentifiers><header><identifier>oai:x:good1"
		    "</identifier><datestamp>2024-01-01</datestamp></header>"
		    "<header><identifier>",
		    id, 1,
		    "</identifier><datestamp>"
		    "2024-01-01</datestamp></header><header><identifier>"
		    "oai:x:good2</identifier><datestamp>2024-01-01"
		    "</datestamp></header></ListIdentifiers></OAI-PMH>",
		    "line 4: <identifier> longer than MAX_ID_LEN (2048)", 1, 0,
		    NULL },
		{ "long setSpec", LR BAD_OPEN "<setSpec>", id, 1,
		    "</setSpec>"
		    "</header></record>\n" LR_END,
		    "line 5: <setSpec> longer "
		    "than MAX_ID_LEN (2048)",
		    1, 0, "oai:x:bad" },
		{ "too many sets", LR BAD_OPEN, "<setSpec>s</setSpec>",
		    MAX_SETS_PER_RECORD + 1, "</header></record>\n" LR_END,
		    "line 5: more than MAX_SETS_PER_RECORD (1024) <setSpec> "
		    "values",
		    1, 0, "oai:x:bad" },
		{ "too many DC values",
		    LR BAD_OPEN "</header><metadata>" DC_OPEN,
		    "<dc:subject>s</dc:subject>", MAX_DC_VALUES + 1,
		    "</oai_dc:dc></metadata></record>\n" LR_END,
		    "line 5: record with more than MAX_DC_VALUES (10000) "
		    "Dublin Core values",
		    1, 0, "oai:x:bad" },
	};
	static const size_t chunks[] = { 16384, 7, 1 };
	struct result	    res[nitems(chunks)];
	const struct rej   *x;
	size_t		    i, c;

	memset(big, 'a', sizeof(big) - 1);
	memset(id, 'i', sizeof(id) - 1);
	memset(res, 0, sizeof(res));
	for (i = 0; i < nitems(cases); i++) {
		for (c = 0; c < (cases[i].small ? 3 : 2); c++) {
			res[c].keep = 1;
			stderr_begin();
			run_generated(cases[i].head, cases[i].body, cases[i].n,
			    cases[i].tail, chunks[c], &res[c]);
			assert_int_equal(stderr_end(), 0);
			if (strcmp(buf_str(&res[c].dump),
				buf_str(&res[0].dump)) != 0)
				fail_msg("%s: %zu-byte report differs",
				    cases[i].what, chunks[c]);
		}
		if (res[0].finish_rc != 0)
			fail_msg("%s: %s", cases[i].what, res[0].cause);
		assert_int_equal(res[0].nrecs, 2);
		assert_string_equal(res[0].recs[0].identifier, "oai:x:good1");
		assert_string_equal(res[0].recs[1].identifier, "oai:x:good2");
		assert_int_equal(res[0].nrejs, 1);
		x = &res[0].rejs[0];
		if (strstr(x->cause, cases[i].cause) == NULL)
			fail_msg("%s: cause \"%s\"", cases[i].what, x->cause);
		if (cases[i].identifier == NULL)
			assert_null(x->identifier);
		else
			assert_string_equal(x->identifier, cases[i].identifier);
		assert_int_equal(x->truncated, cases[i].truncated);
		assert_true(x->raw_len <= OAI_REJECT_MAX);
		assert_true(x->raw_len > 1000);
		if (cases[i].truncated)
			assert_true(x->raw_len > OAI_REJECT_MAX - 4096);
		assert_true(strncmp(x->raw, "<record ", 8) == 0 ||
		    strncmp(x->raw, "<header ", 8) == 0);
		assert_int_equal(res[0].raw_failed, 0);
		for (c = 0; c < nitems(chunks); c++)
			result_free(&res[c]);
	}
#undef GOOD
#undef BAD_OPEN
#undef LR
#undef LR_END
}

/*
 * Datestamps as real repositories send them are read, kept as sent and
 * normalized; only one that cannot be read sets its record aside, with a
 * cause that quotes it.  In every chunking.
 */
static void
test_datestamp_forms(void **state)
{
	static const struct {
		const char *file;
		size_t	    nrecs;
		size_t	    normalized;
		size_t	    n; /* which record */
		const char *identifier;
		const char *datestamp; /* as sent */
		const char *norm;
		long long   t;
		const char *cause; /* of the one reject, or NULL */
	} cases[] = {
		{ BROKEN_DIR "/record-bad-datestamp.xml", 5, 2, 1,
		    "oai:example.org:dc-style", "2020-01-01T00:00:00.000Z",
		    "2020-01-01T00:00:00Z", 1577836800,
		    "line 13: unreadable datestamp \"2020-13-45\"" },
		{ BROKEN_DIR "/record-bad-datestamp.xml", 5, 2, 2,
		    "oai:example.org:offset", "2020-01-01T00:00:00+02:00",
		    "2019-12-31T22:00:00Z", 1577829600,
		    "line 13: unreadable datestamp \"2020-13-45\"" },
		{ BROKEN_DIR "/record-bad-datestamp.xml", 5, 2, 0,
		    "oai:example.org:1", "2024-01-01", "2024-01-01", 1704067200,
		    "line 13: unreadable datestamp \"2020-13-45\"" },
		{ BROKEN_DIR "/listidentifiers-bad-headers.xml", 4, 1, 2,
		    "oai:example.org:bad", "2024-01-01 10:00:00",
		    "2024-01-01T10:00:00Z", 1704103200,
		    "line 7: <header> without <identifier>" },
		{ "tests/fixtures/datestamps/listrecords-mods-page1.xml", 3, 3,
		    0, "arn00007c00001", "20210311", "2021-03-11", 1615420800,
		    NULL },
		{ "tests/fixtures/datestamps/listrecords-mods-page2.xml", 2, 2,
		    1, "arn00007c00005", "2021-03-12T10:00:00+02:00",
		    "2021-03-12T08:00:00Z", 1615536000, NULL },
		{ "tests/fixtures/datestamps/listrecords-marc21-page1.xml", 6,
		    5, 0, "oai:foo.bar/001234567", "2000-01-02T05:00:00.000Z",
		    "2000-01-02T05:00:00Z", 946789200,
		    "line 109: unreadable datestamp \"2021-13-45\"" },
		{ "tests/fixtures/datestamps/listrecords-marc21-page1.xml", 6,
		    5, 3, "oai:foo.bar/000000001",
		    "2010-01-02T01:30:00.250+02:00", "2010-01-01T23:30:00Z",
		    1262388600,
		    "line 109: unreadable datestamp \"2021-13-45\"" },
		{ "tests/fixtures/datestamps/listrecords-marc21-page1.xml", 6,
		    5, 5, "oai:foo.bar/000000004", "2005-05-05T05:05:05Z",
		    "2005-05-05T05:05:05Z", 1115269505,
		    "line 109: unreadable datestamp \"2021-13-45\"" },
	};
	struct result	  res[nitems(chunk_sizes)];
	const struct rec *r;
	size_t		  i;

	memset(res, 0, sizeof(res));
	for (i = 0; i < nitems(cases); i++) {
		run_all_file(cases[i].file, res);
		if (res[0].finish_rc != 0)
			fail_msg("%s: %s", cases[i].file, res[0].cause);
		assert_int_equal(res[0].nrecs, cases[i].nrecs);
		assert_int_equal(res[0].normalized, cases[i].normalized);
		assert_int_equal(res[0].nrejs, cases[i].cause != NULL);
		if (cases[i].cause != NULL)
			assert_string_equal(
			    res[0].rejs[0].cause, cases[i].cause);
		r = &res[0].recs[cases[i].n];
		assert_string_equal(r->identifier, cases[i].identifier);
		assert_string_equal(r->datestamp, cases[i].datestamp);
		assert_string_equal(r->datestamp_norm, cases[i].norm);
		assert_int_equal(r->datestamp_t, cases[i].t);
		results_free(res);
		memset(res, 0, sizeof(res));
	}
}

/* on_reject returning -1 stops the parser like any other callback. */
static double
elapsed_s(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) +
	    (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/*
 * A page whose one <dc:title> has n attributes made by fmt (two %zu: the
 * number, twice), inside a record followed by a good one.
 */
static char *
bomb_page(const char *fmt, size_t n, size_t *len)
{
	struct buf b;
	size_t	   i;

	buf_init(&b, SIZE_MAX / 2);
	buf_addstr(&b, OAI_OPEN "<ListRecords>" REC_OPEN DC_OPEN "<dc:title");
	for (i = 0; i < n; i++)
		buf_printf(&b, fmt, i, i);
	buf_addstr(&b,
	    ">t</dc:title></oai_dc:dc></metadata></record>"
	    "<record><header><identifier>oai:x:2</identifier>"
	    "<datestamp>2024-01-02</datestamp></header></record>"
	    "</ListRecords></OAI-PMH>");
	*len = b.len;
	return b.data;
}

/*
 * Attribute and namespace bombs fail the page at once, whatever the
 * chunking: libxml2 2.9 alone spends 10 s on 200,000 attributes.
 */
static void
test_attribute_bombs(void **state)
{
	static const struct {
		const char *what;
		const char *fmt;
		size_t	    n;
		int	    ok;
	} cases[] = {
		{ "attributes", " a%zu=\"%zu\"", 200000, 0 },
		{ "namespaces", " xmlns:n%zu=\"urn:x:%zu\"", 200000, 0 },
		{ "both", " a%zu=\"\" xmlns:n%zu=\"urn:x\"", 129, 0 },
		{ "one over", " a%zu=\"%zu\"", MAX_ATTRIBUTES + 1, 0 },
		{ "at the limit", " a%zu=\"%zu\"", MAX_ATTRIBUTES, 1 },
		/* '=', '>' and the other quote inside values are no attributes. */
		{ "values", " a%zu=\"%zu ====='>>'====\"", 200, 1 },
	};
	static const size_t chunks[] = { 1, 16384, 0 };
	struct result	    res = { 0 };
	struct timespec	    t0;
	char		   *page;
	size_t		    len, i, c;
	double		    s;

	for (i = 0; i < nitems(cases); i++) {
		page = bomb_page(cases[i].fmt, cases[i].n, &len);
		for (c = 0; c < nitems(chunks); c++) {
			/* 1-byte feeds of 4 MB take long under ASan. */
			if (chunks[c] == 1 && len > 100000)
				continue;
			clock_gettime(CLOCK_MONOTONIC, &t0);
			run(page, len, chunks[c], &res);
			s = elapsed_s(&t0);
			if (s > 1.0)
				fail_msg("%s, %zu-byte feeds: %.2f s",
				    cases[i].what, chunks[c], s);
			if (cases[i].ok) {
				if (res.finish_rc != 0 || res.nrecords != 2)
					fail_msg(
					    "%s: %s", cases[i].what, res.cause);
			} else if (res.finish_rc == 0 ||
			    strstr(res.cause,
				"more than MAX_ATTRIBUTES (256) attributes") ==
				NULL)
				fail_msg("%s, %zu-byte feeds: cause \"%s\"",
				    cases[i].what, chunks[c], res.cause);
			result_free(&res);
		}
		free(page);
	}
}

/*
 * Nested too deep in a record, that record is set aside and the page goes
 * on; outside a record, the page fails.
 */
static void
test_deep_nesting(void **state)
{
	static const struct {
		const char *what;
		const char *head; /* then n "<a>" and n "</a>" */
		const char *tail;
		size_t	    n;
		int	    reject;
	} cases[] = {
		{ "in metadata", REC_OPEN DC_OPEN,
		    "</oai_dc:dc></metadata>"
		    "</record>",
		    100000, 1 },
		{ "in the header",
		    "<record><header><identifier>oai:x:1"
		    "</identifier><datestamp>2024-01-01</datestamp>",
		    "</header></record>", 100000, 1 },
		{ "just deep enough", REC_OPEN, "</metadata></record>",
		    MAX_DEPTH - 5, 0 },
		{ "outside a record", "", "", 300, -1 },
	};
	struct result	res = { 0 };
	struct buf	b;
	struct timespec t0;
	size_t		i, k;

	for (i = 0; i < nitems(cases); i++) {
		buf_init(&b, SIZE_MAX / 2);
		buf_addstr(&b, OAI_OPEN "<ListRecords>");
		buf_addstr(&b, cases[i].head);
		for (k = 0; k < cases[i].n; k++)
			buf_addstr(&b, "<a>");
		for (k = 0; k < cases[i].n; k++)
			buf_addstr(&b, "</a>");
		buf_addstr(&b, cases[i].tail);
		buf_addstr(&b,
		    "<record><header><identifier>oai:x:2"
		    "</identifier><datestamp>2024-01-02</datestamp></header>"
		    "</record></ListRecords></OAI-PMH>");
		res.keep = 1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		run(b.data, b.len, 16384, &res);
		if (elapsed_s(&t0) > 5.0)
			fail_msg("%s: %.2f s", cases[i].what, elapsed_s(&t0));
		if (cases[i].reject < 0) {
			if (res.finish_rc == 0 ||
			    strstr(res.cause,
				"nested deeper than MAX_DEPTH (256)") == NULL)
				fail_msg("%s: cause \"%s\"", cases[i].what,
				    res.cause);
		} else {
			if (res.finish_rc != 0)
				fail_msg("%s: page failed: %s", cases[i].what,
				    res.cause);
			assert_int_equal(res.nrecords, 2 - cases[i].reject);
			assert_int_equal(res.nrejects, cases[i].reject);
			if (cases[i].reject) {
				assert_string_equal(
				    res.rejs[0].identifier, "oai:x:1");
				if (strstr(res.rejs[0].cause,
					"nested deeper "
					"than MAX_DEPTH (256)") == NULL)
					fail_msg("%s: reject cause \"%s\"",
					    cases[i].what, res.rejs[0].cause);
			}
		}
		result_free(&res);
		buf_free(&b);
	}
}

static void
test_reject_stop(void **state)
{
	struct result	   res = { 0 };
	struct oai_parser *p;
	char		  *data;
	size_t		   len;

	data = read_file(BROKEN_DIR "/record-no-identifier.xml", &len);
	res.stop_reject = 2;
	p = parser_for(&res);
	assert_int_equal(oai_parser_feed(p, data, len), -1);
	assert_string_equal(oai_parser_cause(p), "stopped by callback");
	assert_int_equal(oai_parser_nrejects(p), 2);
	assert_int_equal(oai_parser_nrecords(p), 1);
	assert_int_equal(oai_parser_finish(p), -1);
	oai_parser_free(p);
	result_free(&res);
	free(data);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tables),
		cmocka_unit_test(test_fixtures_chunked),
		cmocka_unit_test(test_rejected_causes),
		cmocka_unit_test(test_format_dc_real),
		cmocka_unit_test(test_format_unknown),
		cmocka_unit_test(test_nur_page1),
		cmocka_unit_test(test_nur_tokens),
		cmocka_unit_test(test_nur_identify),
		cmocka_unit_test(test_error_codes),
		cmocka_unit_test(test_cyrillic),
		cmocka_unit_test(test_token_variants),
		cmocka_unit_test(test_inline_tokens),
		cmocka_unit_test(test_list_sets_formats),
		cmocka_unit_test(test_listidentifiers),
		cmocka_unit_test(test_namespaces_inherited),
		cmocka_unit_test(test_metadata_serialization),
		cmocka_unit_test(test_control_chars),
		cmocka_unit_test(test_xxe),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_callback_stop),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_not_oai),
		cmocka_unit_test(test_tolerated),
		cmocka_unit_test(test_repair_utf8),
		cmocka_unit_test(test_repair_utf8_blocks),
		cmocka_unit_test(test_text_stretches),
		cmocka_unit_test(test_text_stretches_errors),
		cmocka_unit_test(test_repair_charrefs),
		cmocka_unit_test(test_repair_latin1),
		cmocka_unit_test(test_repair_celestial),
		cmocka_unit_test(test_repair_sniff),
		cmocka_unit_test(test_bad_records),
		cmocka_unit_test(test_bad_records_inline),
		cmocka_unit_test(test_bad_records_limits),
		cmocka_unit_test(test_datestamp_forms),
		cmocka_unit_test(test_reject_stop),
		cmocka_unit_test(test_attribute_bombs),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_throughput),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
