/*
 * Every hard limit oaiharvest enforces, in one place: what the harvester will
 * tolerate from a remote repository, a config file or a user.  Change a limit
 * here and nowhere else.
 */
#ifndef OH_LIMITS_H
#define OH_LIMITS_H

/* Bytes of one HTTP response body, counted after decompression. */
#define MAX_RESPONSE_BYTES (256UL * 1024 * 1024)

/* Bytes of one serialized <metadata> subtree (one record). */
#define MAX_RECORD_BYTES (16UL * 1024 * 1024)

/*
 * Bytes of one exported line, which holds one record: metadata of at most
 * MAX_RECORD_BYTES and the field values taken from it, each up to six times
 * longer once escaped as JSON (\u00XX), plus the header.  Also what the
 * store reads back of one record's values at most, and what the encoders
 * in feed/ write of it.
 */
#define EXPORT_MAX_LINE (16 * MAX_RECORD_BYTES)

/* Bytes of one text value inside a record header or a DC element. */
#define MAX_VALUE_BYTES (4UL * 1024 * 1024)

/* Length of a resumptionToken; longer ones are a broken server. */
#define MAX_TOKEN_LEN 4096

/* Length of an OAI identifier, a setSpec or a metadataPrefix. */
#define MAX_ID_LEN 2048

/* setSpecs one record header may carry. */
#define MAX_SETS_PER_RECORD 1024

/* DC values one record may carry (all 15 elements together). */
#define MAX_DC_VALUES 10000

/*
 * Attributes of one element, namespace declarations included.  libxml2
 * 2.9 checks a start tag for duplicates in quadratic time before anyone
 * sees it (200,000 attributes: 10 s); a page with more fails.
 */
#define MAX_ATTRIBUTES 256

/*
 * Elements nested in one another.  Deeper inside a record, that record is
 * set aside; deeper outside a record, or deeper than MAX_DEPTH_HARD
 * anywhere (what libxml2 and the parser keep per level, some 50 bytes,
 * stays under 50 MB), the page fails.
 */
#define MAX_DEPTH      256
#define MAX_DEPTH_HARD 1000000

/* Length of a URL (base URL plus arguments). */
#define MAX_URL_LEN 8192

/* Redirects followed for one request. */
#define MAX_REDIRECTS 5

/*
 * The first bytes of a body kept to say what it is: of a 200, enough to
 * tell an HTML page or a bot wall's challenge from XML; of any other
 * status, the whole of an OAI-PMH error document (Zenodo sends them with
 * 422).
 */
#define HEAD_BYTES_OK	 8192
#define HEAD_BYTES_ERROR 65536

/* Seconds to connect. */
#define CONNECT_TIMEOUT 30

/* A transfer slower than LOW_SPEED_LIMIT bytes/s for LOW_SPEED_TIME s dies. */
#define LOW_SPEED_LIMIT 16
#define LOW_SPEED_TIME	120

/* Whole-request ceiling in seconds, generous: some pages are huge. */
#define REQUEST_TIMEOUT 1800

/* Pages one list may have in one run before we call it a loop. */
#define MAX_PAGES_PER_LIST 1000000

/* ListSets pages `oaiharvest identify` follows before it says it stops. */
#define MAX_IDENTIFY_SET_PAGES 100

/*
 * How far a repository's clock (responseDate, datestamps) may run ahead of
 * ours before it is not believed: a day covers a server that stamps its
 * local time as UTC (at most 14 hours ahead) and a clock a little off.
 * Past it the watermark stays at the local clock, with a warning.
 */
#define CLOCK_SKEW_MAX 86400

/* Tries per request (first try included) for transient failures. */
#define MAX_REQUEST_TRIES 4

/* Retries (all requests together) one run may spend. */
#define MAX_RUN_RETRIES 30

/* Pages in a row without a record, still with a token, before we stop. */
#define MAX_EMPTY_PAGES 10

/* Times a list restarts from the watermark after its token was refused. */
#define MAX_LIST_RESTARTS 2

/* Ceiling on a server's Retry-After, in seconds. */
#define RETRY_AFTER_MAX 3600

/* Backoff base and ceiling between retries, in seconds. */
#define BACKOFF_BASE 2
#define BACKOFF_MAX  600

/* Bytes of page records kept in memory before spilling to a temp file. */
#define SPOOL_MEM_BYTES (1UL * 1024 * 1024)

/* Lines and bytes of a config file. */
#define MAX_CONF_BYTES	 (4UL * 1024 * 1024)
#define MAX_CONF_SOURCES 100000

/* Length of one log line. */
#define MAX_LOG_LINE 4096

#endif
