/*
 * Replay of real responses (issue 13): every file in tests/fixtures/real/
 * (18 provider products; PROVENANCE.md) is served byte for byte by the
 * test server's replay mode (oaiserver --replay, the manifest
 * tests/fixtures/real/replay.tsv, one scenario per base URL
 * /replay/SCENARIO) and taken in by the real oaiharvest: `harvest` into a
 * real SQLite file for ListRecords, `list-identifiers`, `get-record`, and
 * `identify` for Identify, ListSets and ListMetadataFormats.
 *
 * The table has one row per fixture file: the scenario that serves it, the
 * command, and what is expected.  The expectations are the correct
 * behaviour as issue 13 defines it, not what the code did when the table
 * was written; a row whose comment names an issue item fails until that
 * item is fixed.  Counts are those of the files (counted with xmllint and
 * grep).  A scenario is run once; its rows check the same run.  A file in
 * the directory that no row names fails the test.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "util.h"

#include "testlib.h"

#define FIXDIR	 "tests/fixtures/real"
#define MANIFEST FIXDIR "/replay.tsv"

enum how {
	HARVEST,    /* harvest --db DB --url URL ARGS: ListRecords */
	LIST_IDS,   /* list-identifiers URL ARGS */
	GET_RECORD, /* get-record URL IDENTIFIER [--prefix P] */
	IDENTIFY,   /* identify URL: Identify, formats and sets */
};

/*
 * What a row expects; -1 or NULL: not checked.  count: for HARVEST the
 * rows of table record (tombstones included), for LIST_IDS and GET_RECORD
 * the JSON lines printed, for IDENTIFY the sets listed.  deleted: of those,
 * the deleted ones.  rejects: rows of table reject.  expect: substrings of
 * stdout or stderr; absent: a substring of neither.  watermark: the list's
 * next from (list_state), the first page's responseDate less the 5-minute
 * overlap, in the granularity of the replay's built-in Identify (seconds).
 */
struct row {
	const char *file; /* under FIXDIR */
	const char *scenario;
	enum how    how;
	const char *args;
	int	    exit;
	long long   count;
	long long   deleted;
	long long   rejects;
	const char *expect[2];
	const char *absent;
	const char *watermark;
	const char *why;
};

/* A scenario's one run. */
struct result {
	int	  done;
	int	  rc;
	char	 *cmd;
	char	 *out;
	char	 *err;
	long long count;
	long long deleted;
	long long rejects;
	long long content;
	char	 *watermark;
};

static const struct row rows[] = {
	{ "clarin/clarin-oeaw-2014-identify.xml", "clarin-identify", IDENTIFY,
	    "", 0, 0, -1, -1, { "CLARIN Centre Vienna", "persistent" }, NULL,
	    NULL,
	    "Identify with an XML comment between <request> and <Identify>" },
	{ "clarin/kielipankki-2015-listidentifiers-cmdi-deleted.xml",
	    "kielipankki-listidentifiers", LIST_IDS, "--prefix cmdi0571", 0, 10,
	    2, -1, { NULL, NULL }, NULL, NULL,
	    "ListIdentifiers cmdi0571, 2 deleted headers, no token" },
	{ "clarin/kielipankki-2015-listrecords-cmdi.xml",
	    "kielipankki-listrecords", HARVEST, "--prefix cmdi0571", 0, 2, 0, 0,
	    { NULL, NULL }, NULL, "2015-04-11T21:09:06Z",
	    "ListRecords of CMDI (default-namespace <CMD>)" },
	{ "dnet/FRAGMENT-mediarep-2020-record-oai_openaire.xml",
	    "mediarep-fragment", GET_RECORD,
	    "oai:mediarep.org:doc/2534 --prefix oai_openaire", 1, 0, 0, -1,
	    { "not an OAI-PMH response", NULL }, NULL, NULL,
	    "a bare <record> fragment, not a response" },
	{ "dpla/harvard-librarycloud-2024-listrecords-mods.xml",
	    "harvard-librarycloud", HARVEST, "--prefix mods", 1, 10, 0, 0,
	    { "HTTP status 404", NULL }, NULL, NULL,
	    "issue 13 item 5: datestamps 20210311 are accepted; the "
	    "recording ends at its token (404)" },
	{ "dpla/harvard-librarycloud-2024-listsets-with-"
	  "setDescription.xml",
	    "harvard-listsets", IDENTIFY, "", 0, 50, -1, -1, { NULL, NULL },
	    NULL, NULL, "50 sets, each with an oai_dc setDescription" },
	{ "dpla/repox-montana-2018-getrecord-mods-with-about-"
	  "provenance.xml",
	    "repox-montana", GET_RECORD,
	    "oai:the.european.library.UMr8:oai:scholarworks.umt.edu:goedick"
	    "e-1008 --prefix mods",
	    0, 1, 0, -1, { "goedicke-1008", NULL }, NULL, NULL,
	    "GetRecord mods with an <about> container" },
	{ "dspace/FRAGMENT-dspace-rioxx-v3-metadata.xml", "rioxx-fragment",
	    HARVEST, "--prefix rioxx --retries 0", 1, 0, 0, 0,
	    { "not an OAI-PMH response", NULL }, NULL, NULL,
	    "a bare <rioxx> metadata block as a ListRecords answer (--"
	    "retries 0)" },
	{ "httpoai/BROKEN-celestial-citebase-2005-getrecord-invalid-utf8-"
	  "bytes.xml",
	    "celestial-badbytes", GET_RECORD, "oai:arXiv.org:hep-th/0001001", 0,
	    1, 0, -1, { "hep-th/0001001", NULL }, NULL, NULL,
	    "invalid UTF-8 bytes: replaced by U+FFFD (README), the record "
	    "kept" },
	{ "httpoai/celestial-citebase-2005-getrecord-request-verb-with-"
	  "semicolons.xml",
	    "celestial-getrecord", GET_RECORD, "oai:arXiv.org:hep-th/0001001",
	    0, 1, 0, -1, { "hep-th/0001001", NULL }, NULL, NULL,
	    "GetRecord whose <request> verb packs every argument" },
	{ "httpoai/celestial-citebase-2005-identify.xml", "celestial-identify",
	    IDENTIFY, "", 0, 0, -1, -1, { "citebase.eprints.org", "transient" },
	    NULL, NULL,
	    "Identify with single-quoted attributes and a stylesheet PI" },
	{ "indexdata/diva-2011-listrecords-marc21-deleted-token.xml", "diva",
	    HARVEST, "--prefix marc21", 1, 100, 14, 0,
	    { "HTTP status 404", "unchanged=0" }, NULL, NULL,
	    "issue 13 item 10: 14 tombstones are not unchanged; the "
	    "recording ends at its token (404)" },
	{ "indexdata/ojs2-ijict-2011-listrecords-marcxml.xml", "ojs2-marcxml",
	    HARVEST, "--prefix marcxml", 0, 15, 0, 0, { NULL, NULL }, NULL,
	    "2011-05-03T13:01:20Z", "OJS 2 marcxml" },
	{ "indexdata/ojs2-ijict-2011-listrecords-oai_dc-with-deleted.xml",
	    "ojs2-oai_dc", HARVEST, "--prefix oai_dc", 0, 15, 1, 0,
	    { "unchanged=0", NULL }, NULL, "2011-05-03T12:34:41Z",
	    "issue 13 item 10: OJS 2 oai_dc, its first record deleted" },
	{ "invenio/arxiv-2016-error-noRecordsMatch-with-message.xml",
	    "arxiv-norecordsmatch", HARVEST, "--prefix arXiv", 0, 0, 0, 0,
	    { "status=ok", NULL }, NULL, "2016-06-02T19:08:02Z",
	    "noRecordsMatch with a message: a successful empty list" },
	{ "invenio/inspire-invenio1-2014-listrecords-marcxml.xml", "inspire",
	    HARVEST, "--prefix marcxml", 0, 2, 0, 0, { NULL, NULL }, NULL,
	    "2014-11-05T09:25:08Z", "INSPIRE (Invenio 1) marcxml" },
	{ "melinda/melinda-error-badArgument.xml", "melinda-badargument",
	    GET_RECORD, "oai:foo.bar/12345 --prefix marc21", 1, 0, 0, -1,
	    { "badArgument", NULL }, NULL, NULL, "OAI error badArgument" },
	{ "melinda/melinda-error-badResumptionToken-expired.xml",
	    "melinda-listidentifiers", LIST_IDS, "--prefix marc21", 1, 3, 0, -1,
	    { "badResumptionToken", NULL }, NULL, NULL,
	    "issue 13 items 5 and 8: 3 headers with millisecond datestamps "
	    "listed, then badResumptionToken for their token" },
	{ "melinda/melinda-error-badVerb.xml", "melinda-badverb", IDENTIFY, "",
	    1, -1, -1, -1, { "badVerb", NULL }, NULL, NULL,
	    "badVerb in answer to Identify" },
	{ "melinda/melinda-error-cannotDisseminateFormat.xml",
	    "melinda-cannotdisseminate", LIST_IDS, "--prefix foo", 1, 0, 0, -1,
	    { "cannotDisseminateFormat", NULL }, NULL, NULL,
	    "OAI error cannotDisseminateFormat" },
	{ "melinda/melinda-error-idDoesNotExist.xml", "melinda-iddoesnotexist",
	    GET_RECORD, "oai:foo.bar/12345 --prefix marc21", 1, 0, 0, -1,
	    { "idDoesNotExist", NULL }, NULL, NULL,
	    "OAI error idDoesNotExist" },
	{ "melinda/melinda-getrecord-deleted.xml", "melinda-getrecord-deleted",
	    GET_RECORD, "oai:foo.bar/12345 --prefix marc21", 0, 1, 1, -1,
	    { "\"deleted\":true", NULL }, NULL, NULL,
	    "issue 13 items 5 and 8: a deleted record with a millisecond "
	    "datestamp" },
	{ "melinda/melinda-identify-nonstandard-elements.xml",
	    "melinda-identify", IDENTIFY, "", 0, 0, -1, -1,
	    { "Melinda OAI-PMH provider", NULL }, NULL, NULL,
	    "Identify with misspelt and misplaced elements" },
	{ "melinda/melinda-listidentifiers-headers-wrapped-in-record-"
	  "token.xml",
	    "melinda-listidentifiers", LIST_IDS, "--prefix marc21", 1, 3, 0, -1,
	    { "badResumptionToken", NULL }, NULL, NULL,
	    "issue 13 items 5 and 8: 3 headers with millisecond datestamps "
	    "listed, then badResumptionToken for their token" },
	{ "melinda/melinda-listrecords-marc21-resumed.xml",
	    "melinda-listrecords", HARVEST, "--prefix marc21", 1, 3, 0, 0,
	    { "HTTP status 404", NULL }, NULL, NULL,
	    "issue 13 item 5: 3 records with millisecond datestamps "
	    "stored; the recording ends at its token (404)" },
	{ "melinda/melinda-listsets-text-setDescription.xml",
	    "melinda-listsets", IDENTIFY, "", 0, 2, -1, -1, { NULL, NULL },
	    NULL, NULL, "sets with a text setDescription" },
	{ "metis/EDITED-kulturarvsdata-2017-listidentifiers-"
	  "completeListSize-ssss.xml",
	    "kulturarvsdata-ssss", LIST_IDS, "--prefix edm", 1, 1, 0, -1,
	    { "HTTP status 404", NULL }, NULL, NULL,
	    "completeListSize \"ssss\"; the recording ends at its token "
	    "(404)" },
	{ "metis/kulturarvsdata-2017-listidentifiers-edm-token-"
	  "whitespace.xml",
	    "kulturarvsdata", LIST_IDS, "--prefix edm", 1, 1, 0, -1,
	    { "resumptionToken=edm%3Asmvk-mm", "HTTP status 404" }, NULL, NULL,
	    "a token padded with whitespace is sent trimmed; the recording "
	    "ends there (404)" },
	{ "metis/mediateka-zamenhof-2017-getrecord-deleted-id-"
	  "mismatch.xml",
	    "zamenhof", GET_RECORD, "oai:mediateka.centrumzamenhofa.pl:19", 0,
	    1, 1, -1, { "the repository answered with", NULL }, NULL, NULL,
	    "GetRecord answered with another identifier (:20 for :19), "
	    "deleted: printed, with a warning" },
	{ "mit/EMPTY-dspace-mit-2024-http500-empty-body.xml", "mit-http500",
	    GET_RECORD, "oai:dspace.mit.edu:1721.1/112746", 1, 0, 0, -1,
	    { "HTTP status 500", NULL }, NULL, NULL,
	    "HTTP 500 with an empty body" },
	{ "mit/dspace-mit-2024-getrecord-deleted.xml", "mit-getrecord-deleted",
	    GET_RECORD, "oai:dspace.mit.edu:1721.1/112746", 0, 1, 1, -1,
	    { NULL, NULL }, NULL, NULL, "GetRecord of a deleted item" },
	{ "mit/dspace-mit-2024-listidentifiers-noRecordsMatch.xml",
	    "mit-norecordsmatch", LIST_IDS, "--prefix oai_dc", 0, 0, 0, -1,
	    { NULL, NULL }, NULL, NULL, "noRecordsMatch: an empty list" },
	{ "mit/dspace-mit-2024-listidentifiers-set-page1.xml",
	    "mit-listidentifiers", LIST_IDS, "--prefix oai_dc", 0, 171, 0, -1,
	    { NULL, NULL }, NULL, NULL,
	    "DSpace 7 ListIdentifiers, 2 pages, cursor counts pages" },
	{ "mit/dspace-mit-2024-listidentifiers-set-page2-final.xml",
	    "mit-listidentifiers", LIST_IDS, "--prefix oai_dc", 0, 171, 0, -1,
	    { NULL, NULL }, NULL, NULL,
	    "DSpace 7 ListIdentifiers, 2 pages, cursor counts pages" },
	{ "mit/dspace-mit-2024-listrecords-only-deleted.xml",
	    "mit-only-deleted", HARVEST, "--prefix oai_dc", 0, 1, 1, 0,
	    { "unchanged=0", NULL }, NULL, "2024-06-03T19:46:16Z",
	    "issue 13 item 10: a list of one deleted record" },
	{ "mit/dspace-mit-2024-listsets-page1.xml", "mit-listsets", IDENTIFY,
	    "", 0, 200, -1, -1, { NULL, NULL }, NULL, NULL,
	    "ListSets pages 1 and 10 of 10 (pages 2-9 were not recorded: "
	    "200 of 966 sets)" },
	{ "mit/dspace-mit-2024-listsets-page10-final.xml", "mit-listsets",
	    IDENTIFY, "", 0, 200, -1, -1, { NULL, NULL }, NULL, NULL,
	    "ListSets pages 1 and 10 of 10 (pages 2-9 were not recorded: "
	    "200 of 966 sets)" },
	{ "oarepo/dspace-cuni-2020-getrecord-xoai-czech.xml", "cuni",
	    GET_RECORD, "oai:dspace.cuni.cz:20.500.11956/111006 --prefix xoai",
	    0, 1, 0, -1, { "20.500.11956/111006", NULL }, NULL, NULL,
	    "DSpace xoai, Czech text" },
	{ "paperhive/EDITED-arxiv-2020-bare-error-without-OAI-PMH-"
	  "root.xml",
	    "arxiv-bare-error", GET_RECORD, "oai:arXiv.org:0000.0000", 1, 0, 0,
	    -1, { "not an OAI-PMH response", NULL }, NULL, NULL,
	    "a lone <error> root without the OAI-PMH envelope" },
	{ "paperhive/NOT-XML-arxiv-2018-http503-retry-after.html.xml",
	    "arxiv-503", HARVEST, "--prefix arXiv", 0, 2, 0, 0,
	    { "retries=1", NULL }, NULL, "2018-06-21T14:26:04Z",
	    "503 with Retry-After: 10 and an HTML body, then the 200 of "
	    "the retry" },
	{ "paperhive/alma-bibsys-2018-listidentifiers-marc21-page1.xml",
	    "alma-bibsys", LIST_IDS, "--prefix marc21", 0, 110, 0, -1,
	    { NULL, NULL }, NULL, NULL,
	    "Alma: token without attributes, last page without any token" },
	{ "paperhive/alma-bibsys-2018-listidentifiers-marc21-page2-no-"
	  "token.xml",
	    "alma-bibsys", LIST_IDS, "--prefix marc21", 0, 110, 0, -1,
	    { NULL, NULL }, NULL, NULL,
	    "Alma: token without attributes, last page without any token" },
	{ "paperhive/arxiv-2018-getrecord-arXiv-format.xml", "arxiv-getrecord",
	    GET_RECORD, "oai:arXiv.org:1412.8544 --prefix arXiv", 0, 1, 0, -1,
	    { "1412.8544", NULL }, NULL, NULL, "GetRecord in arXiv format" },
	{ "paperhive/arxiv-2018-identify.xml", "arxiv-identify", IDENTIFY, "",
	    0, 0, -1, -1, { "arXiv", "YYYY-MM-DD" }, NULL, NULL,
	    "Identify, day granularity" },
	{ "paperhive/arxiv-2018-listidentifiers-arXiv.xml",
	    "arxiv-listidentifiers", LIST_IDS, "--prefix arXiv", 0, 86, 0, -1,
	    { NULL, NULL }, NULL, NULL, "86 headers, date-only datestamps" },
	{ "paperhive/arxiv-2018-listmetadataformats-identifier.xml",
	    "arxiv-formats-identifier", IDENTIFY, "", 0, 0, -1, -1,
	    { "arXivRaw", NULL }, NULL, NULL,
	    "ListMetadataFormats for an identifier" },
	{ "paperhive/arxiv-2018-listmetadataformats.xml", "arxiv-formats",
	    IDENTIFY, "", 0, 0, -1, -1, { "arXivRaw", NULL }, NULL, NULL,
	    "ListMetadataFormats" },
	{ "paperhive/arxiv-2018-listrecords-arXiv-after-503.xml", "arxiv-503",
	    HARVEST, "--prefix arXiv", 0, 2, 0, 0, { "retries=1", NULL }, NULL,
	    "2018-06-21T14:26:04Z",
	    "503 with Retry-After: 10 and an HTML body, then the 200 of "
	    "the retry" },
	{ "paperhive/arxiv-2018-listsets.xml", "arxiv-listsets", IDENTIFY, "",
	    0, 21, -1, -1, { "physics:astro-ph", NULL }, NULL, NULL,
	    "hierarchical setSpecs" },
	{ "paperhive/dspace-gulbenkian-2018-listidentifiers-page1.xml",
	    "gulbenkian", LIST_IDS, "--prefix oai_dc", 0, 154, 1, -1,
	    { NULL, NULL }, NULL, NULL,
	    "DSpace XOAI ListIdentifiers, 2 pages, a deleted header" },
	{ "paperhive/dspace-gulbenkian-2018-listidentifiers-page2-"
	  "final.xml",
	    "gulbenkian", LIST_IDS, "--prefix oai_dc", 0, 154, 1, -1,
	    { NULL, NULL }, NULL, NULL,
	    "DSpace XOAI ListIdentifiers, 2 pages, a deleted header" },
	{ "paperhive/mikromarc-2020-listrecords-empty-ListRecords-"
	  "element.xml",
	    "mikromarc", HARVEST, "--prefix marcxchange", 0, 0, 0, 0,
	    { "status=ok", NULL }, NULL, "2020-04-10T06:01:27Z",
	    "an empty <ListRecords/> instead of noRecordsMatch" },
	{ "phpoaipmh/bepress-wustl-2018-error-idDoesNotExist.xml",
	    "bepress-iddoesnotexist", GET_RECORD, "asdfasdfasdfasdfasdf", 1, 0,
	    0, -1, { "idDoesNotExist", NULL }, NULL, NULL,
	    "bepress idDoesNotExist" },
	{ "phpoaipmh/bnf-gallica-2015-listrecords-no-xml-declaration.xml",
	    "bnf-gallica", HARVEST, "--prefix oai_dc", 1, 1, 0, 0,
	    { "HTTP status 404", NULL }, NULL, NULL,
	    "no XML declaration; the recording ends at its token (404)" },
	{ "phpoaipmh/nsdl-2012-error-badVerb.xml", "nsdl-badverb", HARVEST,
	    "--prefix oai_dc", 1, 0, 0, 0, { "badVerb", NULL }, NULL, NULL,
	    "badVerb in answer to ListRecords" },
	{ "phpoaipmh/nsdl-2012-getrecord-nsdl_dc.xml", "nsdl-getrecord",
	    GET_RECORD, "oai:nsdl.org:2200/20061003062336249T --prefix nsdl_dc",
	    0, 1, 0, -1, { NULL, NULL }, NULL, NULL, "GetRecord nsdl_dc" },
	{ "phpoaipmh/nsdl-2012-identify.xml", "nsdl-identify", IDENTIFY, "", 0,
	    0, -1, -1, { "National Science Digital Library", NULL }, NULL, NULL,
	    "Identify with blank lines" },
	{ "phpoaipmh/nsdl-2012-listidentifiers-page1-of-4.xml",
	    "nsdl-listidentifiers", LIST_IDS, "--prefix nsdl_dc", 0, 733, 0, -1,
	    { NULL, NULL }, NULL, NULL,
	    "4 pages, the last with an empty token with attributes" },
	{ "phpoaipmh/nsdl-2012-listidentifiers-page2-of-4.xml",
	    "nsdl-listidentifiers", LIST_IDS, "--prefix nsdl_dc", 0, 733, 0, -1,
	    { NULL, NULL }, NULL, NULL,
	    "4 pages, the last with an empty token with attributes" },
	{ "phpoaipmh/nsdl-2012-listidentifiers-page3-of-4.xml",
	    "nsdl-listidentifiers", LIST_IDS, "--prefix nsdl_dc", 0, 733, 0, -1,
	    { NULL, NULL }, NULL, NULL,
	    "4 pages, the last with an empty token with attributes" },
	{ "phpoaipmh/nsdl-2012-listidentifiers-page4-of-4-final-empty-"
	  "token.xml",
	    "nsdl-listidentifiers", LIST_IDS, "--prefix nsdl_dc", 0, 733, 0, -1,
	    { NULL, NULL }, NULL, NULL,
	    "4 pages, the last with an empty token with attributes" },
	{ "phpoaipmh/nsdl-2012-listrecords-nsdl_dc-544KB.xml",
	    "nsdl-listrecords", HARVEST, "--prefix nsdl_dc", 0, 162, 0, 0,
	    { NULL, NULL }, NULL, "2012-08-06T20:50:41Z",
	    "544 KB page, comments inside metadata" },
	{ "pyoai/BROKEN-dspace-erasmus-2006-identify-bogus-element.xml",
	    "erasmus-bogus", IDENTIFY, "", 1, -1, -1, -1,
	    { "tag mismatch", NULL }, NULL, NULL,
	    "BROKEN: an unclosed element" },
	{ "pyoai/BROKEN-dspace-erasmus-2006-identify-undefined-entity.xml",
	    "erasmus-entity", IDENTIFY, "", 1, -1, -1, -1,
	    { "Entity 'bogus' not defined", NULL }, NULL, NULL,
	    "BROKEN: an undefined entity" },
	{ "pyoai/dspace-erasmus-2003-getrecord-oai_dc.xml",
	    "erasmus-2003-getrecord", GET_RECORD, "hdl:1765/315", 0, 1, 0, -1,
	    { "hdl:1765/315", NULL }, NULL, NULL,
	    "GetRecord, hdl: identifier" },
	{ "pyoai/dspace-erasmus-2003-identify.xml", "erasmus-2003-identify",
	    IDENTIFY, "", 0, 0, -1, -1, { "Erasmus University", NULL }, NULL,
	    NULL, "Identify on one line" },
	{ "pyoai/dspace-erasmus-2003-listidentifiers.xml",
	    "erasmus-2003-listidentifiers", LIST_IDS, "--prefix oai_dc", 0, 16,
	    0, -1, { NULL, NULL }, NULL, NULL, "16 headers" },
	{ "pyoai/dspace-erasmus-2003-listmetadataformats.xml",
	    "erasmus-2003-formats", IDENTIFY, "", 0, 0, -1, -1,
	    { "oai_dc", NULL }, NULL, NULL, "ListMetadataFormats" },
	{ "pyoai/dspace-erasmus-2003-listrecords-oai_dc.xml",
	    "erasmus-2003-listrecords", HARVEST, "--prefix oai_dc", 0, 16, 0, 0,
	    { NULL, NULL }, NULL, "2003-04-30T16:03:02Z",
	    "16 records, no token" },
	{ "pyoai/dspace-erasmus-2003-listsets.xml", "erasmus-2003-listsets",
	    IDENTIFY, "", 0, 10, -1, -1, { NULL, NULL }, NULL, NULL,
	    "hierarchical setSpecs 3 and 3:5" },
	{ "pyoai/dspace-erasmus-2004-getrecord-deleted.xml",
	    "erasmus-2004-getrecord-deleted", GET_RECORD, "hdl:1765/1160", 0, 1,
	    1, -1, { NULL, NULL }, NULL, NULL, "deleted, setSpec repeated" },
	{ "pyoai/dspace-erasmus-2004-getrecord-oai_dc.xml",
	    "erasmus-2004-getrecord", GET_RECORD, "hdl:1765/1162", 0, 1, 0, -1,
	    { NULL, NULL }, NULL, NULL, "GetRecord" },
	{ "pyoai/dspace-erasmus-2004-listrecords-oai_dc-252KB.xml",
	    "erasmus-2004-listrecords", HARVEST, "--prefix oai_dc", 0, 81, 2, 0,
	    { "unchanged=0", NULL }, NULL, "2004-02-17T13:39:55Z",
	    "issue 13 item 10: 252 KB, 2 deleted among 81" },
	{ "pyoai/dspace-erasmus-2006-identify-bad-earliestDatestamp.xml",
	    "erasmus-bad-earliest", IDENTIFY, "", 0, 0, -1, -1,
	    { "aaaa-bb-cc", NULL }, NULL, NULL,
	    "earliestDatestamp aaaa-bb-cc" },
	{ "rubyoai/pmc-2006-identify-no-default-namespace.xml", "pmc-identify",
	    IDENTIFY, "", 0, 0, -1, -1, { "PubMed Central", NULL }, NULL, NULL,
	    "root without the OAI namespace" },
	{ "scrapi/BROKEN-pucrio-maxwell-2015-listrecords-invalid-char-"
	  "0x0B.xml",
	    "pucrio", HARVEST, "--prefix oai_dc", 0, 5, 0, 0,
	    { "repaired_bytes=1", NULL }, NULL, "2015-12-28T12:50:51Z",
	    "BROKEN: a U+000B, removed before parsing (README)" },
	{ "scrapi/GZIP-digitalcommons-calpoly-2015-listrecords-"
	  "page3.xml.gz",
	    "calpoly-gzip", HARVEST, "--prefix oai_dc", 0, 208, 0, 0,
	    { "pages=3", NULL }, NULL, "2015-04-24T13:11:54Z",
	    "page 3 as the recorded gzip body, Content-Encoding: gzip" },
	{ "scrapi/asu-2015-listrecords-deleted-token-no-attrs.xml", "asu",
	    HARVEST, "--prefix oai_dc", 1, 50, 1, 0,
	    { "HTTP status 404", "unchanged=0" }, NULL, NULL,
	    "issue 13 item 10: a deleted record; the recording ends at its "
	    "token (404)" },
	{ "scrapi/bhl-2015-listrecords-no-xml-declaration.xml", "bhl", HARVEST,
	    "--prefix oai_dc", 0, 42, 0, 0, { NULL, NULL }, NULL,
	    "2015-04-24T13:11:23Z", "no XML declaration" },
	{ "scrapi/cyberleninka-2015-listrecords-oai_dc-russian.xml",
	    "cyberleninka", HARVEST, "--prefix oai_dc", 0, 54, 0, 0,
	    { NULL, NULL }, NULL, "2015-06-29T17:48:01Z", "Russian text" },
	{ "scrapi/digitalcommons-calpoly-2015-listrecords-page1.xml", "calpoly",
	    HARVEST, "--prefix oai_dc", 0, 208, 0, 0, { "pages=3", NULL }, NULL,
	    "2015-04-24T13:11:54Z", "3 pages, the last with an empty token" },
	{ "scrapi/digitalcommons-calpoly-2015-listrecords-page2.xml", "calpoly",
	    HARVEST, "--prefix oai_dc", 0, 208, 0, 0, { "pages=3", NULL }, NULL,
	    "2015-04-24T13:11:54Z", "3 pages, the last with an empty token" },
	{ "scrapi/digitalcommons-calpoly-2015-listrecords-page3-final-"
	  "empty-token.xml",
	    "calpoly", HARVEST, "--prefix oai_dc", 0, 208, 0, 0,
	    { "pages=3", NULL }, NULL, "2015-04-24T13:11:54Z",
	    "3 pages, the last with an empty token" },
	{ "scrapi/dspace-colostate-2016-listrecords-page1-of-11.xml",
	    "colostate", HARVEST, "--prefix oai_dc", 0, 108, 0, 0,
	    { "completeListSize 1008, received 108", NULL }, NULL,
	    "2016-05-06T17:48:24Z",
	    "pages 1 and 11 of 11 (2-10 not recorded): the mismatch is a "
	    "warning" },
	{ "scrapi/dspace-colostate-2016-listrecords-page11-final.xml",
	    "colostate", HARVEST, "--prefix oai_dc", 0, 108, 0, 0,
	    { "completeListSize 1008, received 108", NULL }, NULL,
	    "2016-05-06T17:48:24Z",
	    "pages 1 and 11 of 11 (2-10 not recorded): the mismatch is a "
	    "warning" },
	{ "scrapi/dspace-dryad-2015-listrecords-page1.xml", "dryad", HARVEST,
	    "--prefix oai_dc", 0, 194, 0, 0, { NULL, NULL }, NULL,
	    "2015-06-09T21:08:41Z",
	    "pages 1 and 3 (2 not recorded), token without attributes" },
	{ "scrapi/dspace-dryad-2015-listrecords-page3-final-empty-"
	  "token.xml",
	    "dryad", HARVEST, "--prefix oai_dc", 0, 194, 0, 0, { NULL, NULL },
	    NULL, "2015-06-09T21:08:41Z",
	    "pages 1 and 3 (2 not recorded), token without attributes" },
	{ "scrapi/dspace-harvard-dash-2012-listrecords-with-deleted.xml",
	    "harvard-dash", HARVEST, "--prefix oai_dc", 0, 20, 1, 0,
	    { "unchanged=0", NULL }, NULL, "2015-05-19T19:02:49Z",
	    "issue 13 item 10: a deleted record" },
	{ "scrapi/dspace-udel-2016-listrecords-page16-final-empty-"
	  "nonselfclosing-token.xml",
	    "udel", HARVEST, "--prefix oai_dc", 0, 78, 0, 0,
	    { "completeListSize 1578, received 78", NULL }, NULL,
	    "2015-05-06T13:46:17Z",
	    "last page alone: empty non-self-closing token" },
	{ "scrapi/eprints-caltech-2015-listrecords-oai_dc.xml", "caltech",
	    HARVEST, "--prefix oai_dc", 0, 88, 0, 0, { NULL, NULL }, NULL,
	    "2015-04-24T13:12:11Z", "EPrints, single-quoted declaration" },
	{ "scrapi/eprints-lshtm-2015-listrecords-oai_dc-with-deleted.xml",
	    "lshtm", HARVEST, "--prefix oai_dc", 0, 98, 1, 0,
	    { "unchanged=0", NULL }, NULL, "2015-10-21T20:23:38Z",
	    "issue 13 item 10: EPrints with a deleted record" },
	{ "scrapi/humanities-commons-mla-2016-listrecords-page13.xml", "mla",
	    HARVEST, "--prefix oai_dc", 0, 19, 0, 0, { "status=ok", NULL },
	    NULL, "2016-05-27T13:25:10Z",
	    "its token answered noRecordsMatch: the list ends there" },
	{ "scrapi/humanities-commons-mla-2016-noRecordsMatch-on-"
	  "resumptionToken.xml",
	    "mla", HARVEST, "--prefix oai_dc", 0, 19, 0, 0,
	    { "status=ok", NULL }, NULL, "2016-05-27T13:25:10Z",
	    "its token answered noRecordsMatch: the list ends there" },
	{ "scrapi/nature-2016-listrecords-empty-token-completeListSize-"
	  "mismatch.xml",
	    "nature", HARVEST, "--prefix oai_dc", 0, 173, 0, 0,
	    { "completeListSize 174, received 173", NULL }, NULL,
	    "2016-03-07T21:30:30Z",
	    "completeListSize 174 for 173 records: a warning" },
	{ "scrapi/ncar-esg-2015-listrecords-dif-served-as-text-html-"
	  "iso8859.xml",
	    "ncar", HARVEST, "--prefix dif", 0, 1, 0, 0, { NULL, NULL }, NULL,
	    "2015-10-06T14:19:14Z",
	    "XML served as text/html;charset=ISO-8859-1" },
	{ "scrapi/pmc-2014-listrecords-oai_dc-page1.xml", "pmc-2014", HARVEST,
	    "--prefix oai_dc", 1, 50, 0, 0, { "HTTP status 404", NULL }, NULL,
	    NULL, "the recording ends at its token (404)" },
	{ "scrapi/zenodo-2015-listrecords-oai_dc.xml", "zenodo-2015", HARVEST,
	    "--prefix oai_dc", 0, 7, 0, 0, { NULL, NULL }, NULL,
	    "2015-04-28T20:27:31Z", "Zenodo 2015, complete list" },
	{ "scythe/NOT-XML-httpbun-html-page-for-verb-Identify.xml",
	    "httpbun-html", IDENTIFY, "", 1, -1, -1, -1,
	    { "HTML, not XML", NULL }, "DOCTYPE", NULL,
	    "issue 13 item 9: an HTML page for Identify" },
	{ "scythe/e-periodica-2026-identify.xml", "e-periodica", IDENTIFY, "",
	    0, 0, -1, -1, { "www.e-periodica.ch", NULL }, NULL, NULL,
	    "Identify with an oai-identifier description" },
	{ "scythe/zenodo-2026-getrecord-datacite.xml", "zenodo-getrecord",
	    GET_RECORD, "oai:zenodo.org:10357859 --prefix datacite", 0, 1, 0,
	    -1, { "10357859", NULL }, NULL, NULL, "GetRecord datacite" },
	{ "scythe/zenodo-2026-http422-badArgument.xml", "zenodo-badargument",
	    HARVEST, "--prefix XXX", 1, 0, 0, 0, { "badArgument", NULL },
	    "HTTP status 422", NULL,
	    "issue 13 item 3: badArgument under HTTP 422" },
	{ "scythe/zenodo-2026-http422-badResumptionToken.xml", "zenodo-page2",
	    HARVEST, "--prefix oai_dc", 1, 3, 1, 0,
	    { "badResumptionToken", "tombstones=1" }, "HTTP status 422", NULL,
	    "issue 13 items 3 and 10: its token answered "
	    "badResumptionToken under HTTP 422 (the list restarts twice: "
	    "its records come back unchanged)" },
	{ "scythe/zenodo-2026-http422-idDoesNotExist.xml",
	    "zenodo-iddoesnotexist", GET_RECORD, "oai:zenodo.org:0", 1, 0, 0,
	    -1, { "idDoesNotExist", NULL }, "HTTP status 422", NULL,
	    "issue 13 item 3: idDoesNotExist under HTTP 422" },
	{ "scythe/zenodo-2026-http422-noRecordsMatch.xml",
	    "zenodo-norecordsmatch", HARVEST, "--prefix oai_dc", 0, 0, 0, 0,
	    { "status=ok", NULL }, "HTTP status 422", "2026-08-13T18:14:00Z",
	    "issue 13 item 3: noRecordsMatch under HTTP 422 is an empty "
	    "list" },
	{ "scythe/zenodo-2026-identify.xml", "zenodo-identify", IDENTIFY, "", 0,
	    0, -1, -1, { "Zenodo", NULL }, NULL, NULL, "Identify" },
	{ "scythe/zenodo-2026-listidentifiers-deleted-header.xml",
	    "zenodo-listidentifiers", LIST_IDS, "--prefix oai_dc", 1, 3, 1, -1,
	    { "HTTP status 404", NULL }, NULL, NULL,
	    "a deleted header; the recording ends at its token (404)" },
	{ "scythe/zenodo-2026-listmetadataformats.xml", "zenodo-formats",
	    IDENTIFY, "", 0, 0, -1, -1, { "oai_datacite4", NULL }, NULL, NULL,
	    "8 formats" },
	{ "scythe/zenodo-2026-listrecords-oai_dc-page2-with-deleted.xml",
	    "zenodo-page2", HARVEST, "--prefix oai_dc", 1, 3, 1, 0,
	    { "badResumptionToken", "tombstones=1" }, "HTTP status 422", NULL,
	    "issue 13 items 3 and 10: its token answered "
	    "badResumptionToken under HTTP 422 (the list restarts twice: "
	    "its records come back unchanged)" },
	{ "scythe/zenodo-2026-listsets-page1.xml", "zenodo-listsets", IDENTIFY,
	    "", 0, 5, -1, -1, { "badResumptionToken", NULL }, "HTTP status 422",
	    NULL,
	    "issue 13 item 3: page 1, then badResumptionToken under HTTP "
	    "422" },
	{ "sickle/NOT-XML-body-broken-xml.xml", "sickle-not-xml", HARVEST,
	    "--prefix oai_dc --retries 0", 1, 0, 0, 0, { "line 1:", NULL },
	    NULL, NULL, "NOT-XML: \"broken xml\" (--retries 0)" },
	{ "sickle/error-badArgument-spec-example.xml", "sickle-badargument",
	    HARVEST, "--prefix oai_marc", 1, 0, 0, 0, { "badArgument", NULL },
	    NULL, NULL, "spec example badArgument" },
	{ "sickle/error-badResumptionToken-spec-example.xml",
	    "sickle-listidentifiers", LIST_IDS, "--prefix oai_dc", 1, 2, 1, -1,
	    { "badResumptionToken", NULL }, NULL, NULL,
	    "a deleted header, then badResumptionToken for its token" },
	{ "sickle/error-cannotDisseminateFormat-spec-example.xml",
	    "sickle-cannotdisseminate", GET_RECORD,
	    "oai:arXiv.org:quant-ph/9901001 --prefix oai_marc", 1, 0, 0, -1,
	    { "cannotDisseminateFormat", NULL }, NULL, NULL, "spec example" },
	{ "sickle/error-idDoesNotExist-spec-example.xml",
	    "sickle-iddoesnotexist", GET_RECORD,
	    "oai:lcoa1.loc.gov:loc.rbc/rbpe.00000111", 1, 0, 0, -1,
	    { "idDoesNotExist", NULL }, NULL, NULL, "spec example" },
	{ "sickle/error-noRecordsMatch-spec-example.xml",
	    "sickle-norecordsmatch", LIST_IDS, "--prefix olac", 0, 0, 0, -1,
	    { NULL, NULL }, NULL, NULL, "spec example noRecordsMatch: empty" },
	{ "sickle/error-noSetHierarchy-spec-example.xml",
	    "sickle-nosethierarchy", IDENTIFY, "", 0, 0, -1, -1,
	    { "no sets", NULL }, NULL, NULL, "spec example noSetHierarchy" },
	{ "sickle/listidentifiers-deleted-header-token-cursor.xml",
	    "sickle-listidentifiers", LIST_IDS, "--prefix oai_dc", 1, 2, 1, -1,
	    { "badResumptionToken", NULL }, NULL, NULL,
	    "a deleted header, then badResumptionToken for its token" },
	{ "sickle/listsets-131-sets.xml", "sickle-listsets", IDENTIFY, "", 0,
	    131, -1, -1, { NULL, NULL }, NULL, NULL, "131 sets" },
	{ "ucldc/cdl-2013-listrecords-oai_dc-deleted-non-oai-"
	  "identifiers.xml",
	    "cdl-2013", HARVEST, "--prefix oai_dc", 0, 8, 5, 0,
	    { "unchanged=0", NULL }, NULL, "2013-12-17T14:09:00Z",
	    "issue 13 item 10: 5 deleted of 8, non-oai identifiers" },
	{ "ucldc/cdl-2014-listrecords-empty-ListRecords-element.xml",
	    "cdl-2014", HARVEST, "--prefix oai_dc", 0, 0, 0, 0,
	    { "status=ok", NULL }, NULL, "2014-01-17T11:06:58Z",
	    "an empty <ListRecords>" },
	{ "ucldc/contentdm-lmu-2016-listmetadataformats-oai_qdc.xml",
	    "contentdm-lmu-formats-qdc", IDENTIFY, "", 0, 0, -1, -1,
	    { "oai_qdc", NULL }, NULL, NULL, "CONTENTdm formats with oai_qdc" },
	{ "ucldc/contentdm-lmu-2016-listmetadataformats.xml",
	    "contentdm-lmu-formats", IDENTIFY, "", 0, 0, -1, -1,
	    { "oclcdc", NULL }, NULL, NULL, "CONTENTdm formats" },
	{ "ucldc/contentdm-usfca-getrecord-oai_qdc.xml", "contentdm-usfca",
	    GET_RECORD,
	    "oai:digitalcollections.usfca.edu:p264101coll6/188 --prefix "
	    "oai_qdc",
	    0, 1, 0, -1, { "p264101coll6/188", NULL }, NULL, NULL,
	    "GetRecord oai_qdc" },
	{ "ucldc/dspace-uci-2015-listrecords-didl.xml", "uci-didl", HARVEST,
	    "--prefix didl", 1, 1, 0, 0, { "HTTP status 404", NULL }, NULL,
	    NULL, "DIDL; the recording ends at its token (404)" },
	{ "ucldc/tind-berkeley-2020-listrecords-marcxml.xml", "tind", HARVEST,
	    "--prefix marcxml", 1, 5, 0, 0, { "HTTP status 404", NULL }, NULL,
	    NULL, "TIND marcxml; the recording ends at its token (404)" },
	{ "vufind/alma-2016-listrecords-marc21-anonymised.xml", "vufind-alma",
	    HARVEST, "--prefix marc21", 1, 100, 0, 0,
	    { "HTTP status 404", NULL }, NULL, NULL,
	    "Alma marc21; the recording ends at its token (404)" },
	{ "vufind/doaj-2017-listrecords-oai_doaj.xml", "doaj", HARVEST,
	    "--prefix oai_doaj", 1, 100, 0, 0, { "HTTP status 404", NULL },
	    NULL, NULL, "oai_doaj; the recording ends at its token (404)" },
	{ "vufind/subjectsplus-2023-listrecords-quirky.xml", "subjectsplus",
	    HARVEST, "--prefix oai_dc", 0, 1, 0, 0, { NULL, NULL }, NULL,
	    "2023-03-30T10:12:12Z",
	    "issue 13 item 5: responseDate +05:45 is the clock (10:17:12Z "
	    "less 5 min)" },
};

static struct server srv;
static struct result results[nitems(rows)];

/* Setup */

static int
setup(void **state)
{
	char *args, manifest[PATH_MAX];

	if (testlib_setup() == -1)
		return -1;
	if (realpath(MANIFEST, manifest) == NULL)
		return -1;
	xasprintf(&args, "--replay %s", manifest);
	start_server(&srv, "replay.port", args);
	free(args);
	return 0;
}

static int
teardown(void **state)
{
	size_t i;

	stop_server(&srv);
	for (i = 0; i < nitems(results); i++) {
		free(results[i].cmd);
		free(results[i].out);
		free(results[i].err);
		free(results[i].watermark);
	}
	testlib_teardown();
	return 0;
}

/* Running a scenario */

static char *
q_text(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	char	     *v = NULL;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(st) == SQLITE_ROW &&
	    sqlite3_column_type(st, 0) != SQLITE_NULL)
		v = xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return v;
}

/* The sets `identify` listed: the indented lines after "Sets:". */
static long long
count_sets(const char *out)
{
	const char *p;
	long long   n = 0;

	if (strncmp(out, "Sets:\n", 6) == 0)
		p = out + 6;
	else if ((p = strstr(out, "\nSets:\n")) != NULL)
		p += 7;
	else
		return 0;
	for (; strncmp(p, "  ", 2) == 0; n++)
		if ((p = strchr(p, '\n')) == NULL || *++p == '\0')
			return n + 1;
	return n;
}

/* The first row of the scenario: where its result is kept. */
static size_t
first_row(const struct row *r)
{
	size_t i;

	for (i = 0; i < nitems(rows); i++)
		if (strcmp(rows[i].scenario, r->scenario) == 0) {
			/* One scenario, one command. */
			assert_int_equal(rows[i].how, r->how);
			assert_string_equal(rows[i].args, r->args);
			return i;
		}
	fail_msg("scenario %s has no row", r->scenario);
	return 0;
}

static struct result *
run_scenario(const struct row *r)
{
	struct result *res = &results[first_row(r)];
	sqlite3	      *db;
	char	      *url, *dbpath, *out, *err;

	if (res->done)
		return res;
	xasprintf(&url, "http://127.0.0.1:%d/replay/%s", srv.port, r->scenario);
	xasprintf(&dbpath, "%s/%s.db", tmpdir, r->scenario);
	xasprintf(&out, "%s.out", r->scenario);
	xasprintf(&err, "%s.err", r->scenario);
	switch (r->how) {
	case HARVEST:
		xasprintf(&res->cmd,
		    "%s/oaiharvest harvest --db %s --url %s "
		    "%s",
		    bindir, dbpath, url, r->args);
		break;
	case LIST_IDS:
		xasprintf(&res->cmd, "%s/oaiharvest list-identifiers %s %s",
		    bindir, url, r->args);
		break;
	case GET_RECORD:
		xasprintf(&res->cmd, "%s/oaiharvest get-record %s %s", bindir,
		    url, r->args);
		break;
	case IDENTIFY:
		xasprintf(&res->cmd, "%s/oaiharvest identify %s", bindir, url);
		break;
	}
	res->rc = run(out, err, "%s", res->cmd);
	res->out = read_tmp(out);
	res->err = read_tmp(err);
	res->count = res->deleted = res->rejects = res->content = -1;
	switch (r->how) {
	case HARVEST:
		if (access(dbpath, F_OK) == -1)
			break;
		assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
		res->count = q_int(db, "SELECT count(*) FROM record");
		res->deleted = q_int(db,
		    "SELECT count(*) FROM record "
		    "WHERE deleted");
		res->rejects = q_int(db, "SELECT count(*) FROM reject");
		res->content = q_int(db, "SELECT count(*) FROM content");
		res->watermark = q_text(db,
		    "SELECT watermark FROM list_state "
		    "WHERE setspec = ''");
		sqlite3_close(db);
		break;
	case LIST_IDS:
	case GET_RECORD:
		res->count = count_str(res->out, "\n");
		res->deleted = count_str(res->out, "\"deleted\":true");
		break;
	case IDENTIFY:
		res->count = count_sets(res->out);
		break;
	}
	res->done = 1;
	free(url);
	free(dbpath);
	free(out);
	free(err);
	return res;
}

/* Tests */

static void
mismatch(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	char   *s;

	va_start(ap, fmt);
	xvasprintf(&s, fmt, ap);
	va_end(ap);
	assert_int_equal(buf_printf(b, "\n  %s", s), 0);
	free(s);
}

static void
check_count(struct buf *b, const char *what, long long want, long long got)
{
	if (want >= 0 && want != got)
		mismatch(b, "%s: %lld, expected %lld", what, got, want);
}

static void
test_row(void **state)
{
	const struct row *r = *state;
	struct result	 *res;
	struct buf	  b;
	char		 *log, *served, *tail, msg[8192];
	size_t		  i, len;

	res = run_scenario(r);
	buf_init(&b, 64 * 1024);
	log = read_tmp("servers.log");
	xasprintf(&served, "file=%s status=", r->file);
	if (strstr(log, served) == NULL)
		mismatch(&b, "the server never served %s", r->file);
	free(served);
	free(log);
	if (res->rc != r->exit)
		mismatch(&b, "exit %d, expected %d", res->rc, r->exit);
	check_count(&b,
	    r->how == IDENTIFY	  ? "sets" :
		r->how == HARVEST ? "records" :
				    "lines",
	    r->count, res->count);
	check_count(&b, "deleted", r->deleted, res->deleted);
	check_count(&b, "rejects", r->rejects, res->rejects);
	if (r->how == HARVEST && res->count >= 0 &&
	    res->content != res->count - res->deleted)
		mismatch(&b, "content rows %lld for %lld present records",
		    res->content, res->count - res->deleted);
	for (i = 0; i < nitems(r->expect); i++)
		if (r->expect[i] != NULL &&
		    strstr(res->err, r->expect[i]) == NULL &&
		    strstr(res->out, r->expect[i]) == NULL)
			mismatch(&b, "no \"%s\" in the output", r->expect[i]);
	if (r->absent != NULL &&
	    (strstr(res->err, r->absent) != NULL ||
		strstr(res->out, r->absent) != NULL))
		mismatch(&b, "\"%s\" in the output", r->absent);
	if (r->watermark != NULL &&
	    (res->watermark == NULL ||
		strcmp(res->watermark, r->watermark) != 0))
		mismatch(&b, "watermark %s, expected %s",
		    res->watermark != NULL ? res->watermark : "none",
		    r->watermark);
	if (b.len > 0) {
		/* fail_msg() does not return: nothing may stay allocated. */
		len = strlen(res->err);
		tail = res->err + (len > 600 ? len - 600 : 0);
		snprintf(msg, sizeof(msg),
		    "%s (%s):%s\n  command: %s\n"
		    "  stderr: ...%s",
		    r->file, r->why, buf_str(&b), res->cmd, tail);
		buf_free(&b);
		fail_msg("%s", msg);
	}
	buf_free(&b);
}

static int
in_table(const char *file)
{
	size_t i;

	for (i = 0; i < nitems(rows); i++)
		if (strcmp(rows[i].file, file) == 0)
			return 1;
	return 0;
}

/*
 * Every file of the directory has its row, every row its file and its line
 * in the manifest; nothing is left out of the replay unnoticed.
 */
static void
test_every_fixture(void **state)
{
	struct dirent *de, *fe;
	struct stat    st;
	DIR	      *d, *sub;
	char	      *dir, *file, *manifest, *tab;
	size_t	       i, n = 0, bad = 0;

	assert_non_null(d = opendir(FIXDIR));
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		xasprintf(&dir, "%s/%s", FIXDIR, de->d_name);
		if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
			if (strcmp(de->d_name, "PROVENANCE.md") != 0 &&
			    strcmp(de->d_name, "README.md") != 0 &&
			    strcmp(de->d_name, "replay.tsv") != 0) {
				print_error("%s: not in a provider's "
					    "directory\n",
				    dir);
				bad++;
			}
			free(dir);
			continue;
		}
		if ((sub = opendir(dir)) == NULL)
			fail_msg("%s: cannot open", dir);
		while ((fe = readdir(sub)) != NULL) {
			if (fe->d_name[0] == '.')
				continue;
			xasprintf(&file, "%s/%s", de->d_name, fe->d_name);
			if (!in_table(file)) {
				print_error("%s/%s: no row in the table\n",
				    FIXDIR, file);
				bad++;
			}
			n++;
			free(file);
		}
		closedir(sub);
		free(dir);
	}
	closedir(d);
	manifest = slurp(MANIFEST);
	for (i = 0; i < nitems(rows); i++) {
		xasprintf(&file, "%s/%s", FIXDIR, rows[i].file);
		if (stat(file, &st) == -1) {
			print_error("%s: a row, but no such file\n", file);
			bad++;
		}
		free(file);
		xasprintf(&tab, "\t%s\t", rows[i].file);
		if (strstr(manifest, tab) == NULL) {
			print_error("%s: not in %s\n", rows[i].file, MANIFEST);
			bad++;
		}
		free(tab);
	}
	free(manifest);
	assert_int_equal(bad, 0);
	/* One row per file. */
	assert_int_equal(n, nitems(rows));
}

int
main(void)
{
	struct CMUnitTest *tests;
	size_t		   i;
	int		   rc;

	tests = xcalloc(nitems(rows) + 1, sizeof(*tests));
	tests[0].name = "every fixture has its row";
	tests[0].test_func = test_every_fixture;
	for (i = 0; i < nitems(rows); i++) {
		tests[i + 1].name = rows[i].file;
		tests[i + 1].test_func = test_row;
		tests[i + 1].initial_state = (void *)&rows[i];
	}
	rc = _cmocka_run_group_tests(
	    "replay", tests, nitems(rows) + 1, setup, teardown);
	free(tests);
	return rc;
}
