/*
 * libFuzzer target for the streaming OAI-PMH parser (harvest/oai.c).
 *
 * Input layout, so that chunk boundaries are fuzzed too:
 *
 *	byte 0		bits 0-2: n, the number of chunk-size bytes that
 *			follow (0: the document is fed in one piece);
 *			bits 3-7: k, a callback returns -1 at its k-th call
 *			(0: never)
 *	bytes 1..n	chunk sizes, each byte + 1 (1 to 256), used in turn
 *	the rest	the document
 *
 * All callbacks are set, on_reject when oai.h has it.  Invariants, each a
 * __builtin_trap() when broken:
 * - a delivered record has a non-empty identifier and a valid datestamp;
 * - metadata, and a rejected record's raw XML unless truncated, parse alone
 *   with libxml2 (under META_CHECK_MAX), without entity substitution or
 *   network access;
 * - a rejected record has a one-line cause;
 * - a failure has a non-empty one-line cause, and stays a failure;
 * - the accessors' values are trimmed, and NULL rather than empty;
 * - for documents under SAME_CHECK_MAX, one chunk, 1-byte chunks and the
 *   fuzzed chunks agree on success or failure and the numbers of records
 *   and rejects, and, when they succeed, on everything the callbacks were
 *   given and the accessors return.
 *
 * The seed corpus has a header byte in front of each fixture: see
 * tests/fuzz/seeds.sh.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/xmlerror.h>

#include "log.h"
#include "oai.h"
#include "util.h"

#define META_CHECK_MAX (64 * 1024)
#define SAME_CHECK_MAX (4 * 1024)

#define CHECK(x) \
	do { \
		if (!(x)) \
			__builtin_trap(); \
	} while (0)

int LLVMFuzzerInitialize(int *, char ***);
int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* How one parse went. */
struct outcome {
	int	 ok;
	size_t	 nrecords;
	size_t	 nrejects;
	size_t	 ncalls;  /* all callbacks */
	size_t	 stop_at; /* 1-based call that returns -1 */
	uint64_t hash;	  /* over everything handed out */
};

static void	quiet(void *, const char *, ...);
static void	quiet_s(void *, xmlErrorPtr);
static void	check_standalone(const char *, size_t);
static void	check_str(const char *);
static void	check_trimmed(const char *);
static void	check_response(const struct oai_parser *, struct outcome *);
static uint64_t hash_str(uint64_t, const char *);
static int	callback_rc(struct outcome *);
static int	on_record(void *, const struct oai_record *);
static int	on_identify(void *, const struct oai_identify *);
static int	on_format(void *, const char *, const char *, const char *);
static int	on_set(void *, const char *, const char *);
#ifdef OAI_REJECT_MAX
static int on_reject(void *, const struct oai_reject *);
#endif
static void parse(
    const uint8_t *, size_t, const uint8_t *, size_t, size_t, struct outcome *);

static const struct oai_callbacks callbacks = {
	.on_record = on_record,
	.on_identify = on_identify,
	.on_format = on_format,
	.on_set = on_set,
#ifdef OAI_REJECT_MAX
	.on_reject = on_reject,
#endif
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* log_debug() formats nothing below this level. */
	log_level = LOG_LVL_ERR;
	xmlInitParser();
	return 0;
}

static void
quiet(void *ctx, const char *fmt, ...)
{
}

static void
quiet_s(void *ctx, xmlErrorPtr e)
{
}

/*
 * Serialized metadata (or a rejected record) must stand alone.  Its errors must not reach the
 * generic error handler the OAI parser installed (it would take them for
 * its own), so the context gets a structured handler and the generic one
 * is swapped out meanwhile.
 */
static void
check_standalone(const char *m, size_t len)
{
	xmlGenericErrorFunc saved = xmlGenericError;
	void		   *savedctx = xmlGenericErrorContext;
	xmlParserCtxtPtr    ctxt;
	xmlDocPtr	    doc;

	CHECK(m != NULL && len > 0 && strlen(m) == len);
	if (len >= META_CHECK_MAX)
		return;
	xmlSetGenericErrorFunc(NULL, quiet);
	ctxt = xmlNewParserCtxt();
	CHECK(ctxt != NULL);
	ctxt->sax->serror = quiet_s;
	doc = xmlCtxtReadMemory(
	    ctxt, m, (int)len, "metadata.xml", NULL, XML_PARSE_NONET);
	if (doc == NULL)
		__builtin_trap();
	CHECK(xmlDocGetRootElement(doc) != NULL);
	xmlFreeDoc(doc);
	xmlFreeParserCtxt(ctxt);
	xmlSetGenericErrorFunc(savedctx, saved);
}

/* Strings handed out are C strings that log_q() makes one line of. */
static void
check_str(const char *s)
{
	const char *q;

	if (s == NULL)
		return;
	for (q = log_q(s); *q != '\0'; q++)
		CHECK((unsigned char)*q >= 0x20 && *q != 0x7f);
}

static uint64_t
hash_str(uint64_t h, const char *s)
{
	if (s == NULL)
		return hash_add(h, "\377", 1);
	return hash_add(h, s, strlen(s) + 1);
}

static int
callback_rc(struct outcome *o)
{
	o->ncalls++;
	return o->ncalls == o->stop_at ? -1 : 0;
}

static int
on_record(void *arg, const struct oai_record *r)
{
	struct outcome *o = arg;
	uint64_t	h = o->hash;
	size_t		i;

	CHECK(r->identifier != NULL && r->identifier[0] != '\0');
	CHECK(r->datestamp != NULL && r->datestamp[0] != '\0');
#ifdef OAI_REJECT_MAX
	/* Records with an unreadable datestamp go to on_reject. */
	CHECK(datestamp_read(r->datestamp, NULL, NULL, NULL) == 0);
	CHECK(datestamp_parse(r->datestamp_norm, NULL, NULL) == 0);
#endif
	check_str(r->identifier);
	check_str(r->datestamp);
	h = hash_str(h, "R");
	h = hash_str(h, r->identifier);
	h = hash_str(h, r->datestamp);
	h = hash_add(h, &r->deleted, sizeof(r->deleted));
	CHECK(r->nsets == 0 || r->sets != NULL);
	for (i = 0; i < r->nsets; i++) {
		CHECK(r->sets[i] != NULL);
		check_str(r->sets[i]);
		h = hash_str(h, r->sets[i]);
	}
	if (r->metadata != NULL) {
		CHECK(!r->deleted);
		check_standalone(r->metadata, r->metadata_len);
		h = hash_add(h, r->metadata, r->metadata_len);
	} else
		CHECK(r->nfields == 0);
	CHECK(r->nfields == 0 || (r->fields != NULL && r->format != NULL));
	for (i = 0; i < r->nfields; i++) {
		CHECK(format_field(r->format, r->fields[i].name) != -1);
		CHECK(r->fields[i].value != NULL &&
		    r->fields[i].value[0] != '\0');
		h = hash_str(h, r->fields[i].name);
		h = hash_str(h, r->fields[i].value);
		h = hash_str(h, r->fields[i].lang);
	}
	o->hash = h;
	return callback_rc(o);
}

static int
on_identify(void *arg, const struct oai_identify *id)
{
	struct outcome *o = arg;
	uint64_t	h = o->hash;
	size_t		i;

	h = hash_str(h, "I");
	h = hash_str(h, id->repository_name);
	h = hash_str(h, id->base_url);
	h = hash_str(h, id->protocol_version);
	h = hash_str(h, id->earliest_datestamp);
	h = hash_str(h, id->deleted_record);
	h = hash_str(h, id->granularity);
	check_str(id->base_url);
	CHECK(id->nadmin_emails == 0 || id->admin_emails != NULL);
	for (i = 0; i < id->nadmin_emails; i++)
		h = hash_str(h, id->admin_emails[i]);
	CHECK(id->ncompressions == 0 || id->compressions != NULL);
	for (i = 0; i < id->ncompressions; i++)
		h = hash_str(h, id->compressions[i]);
	o->hash = h;
	return callback_rc(o);
}

static int
on_format(void *arg, const char *prefix, const char *schema, const char *ns)
{
	struct outcome *o = arg;

	o->hash = hash_str(o->hash, "F");
	o->hash = hash_str(o->hash, prefix);
	o->hash = hash_str(o->hash, schema);
	o->hash = hash_str(o->hash, ns);
	return callback_rc(o);
}

static int
on_set(void *arg, const char *spec, const char *name)
{
	struct outcome *o = arg;

	o->hash = hash_str(o->hash, "S");
	o->hash = hash_str(o->hash, spec);
	o->hash = hash_str(o->hash, name);
	return callback_rc(o);
}

/* A value as the accessors promise it: trimmed, and NULL rather than "". */
static void
check_trimmed(const char *s)
{
	size_t n;

	if (s == NULL)
		return;
	n = strlen(s);
	CHECK(n > 0);
	CHECK(strchr(" \t\r\n", s[0]) == NULL);
	CHECK(strchr(" \t\r\n", s[n - 1]) == NULL);
}

/* What the response said besides its records, into the hash. */
static void
check_response(const struct oai_parser *p, struct outcome *o)
{
	const struct oai_token *t = oai_parser_token(p);
	uint64_t		h = o->hash;
	size_t			repairs = oai_parser_repairs(p);
	int			verb = oai_parser_verb(p);

	CHECK(verb == OAI_VERB_NONE || oai_verb_name(verb) != NULL);
	CHECK(verb == OAI_VERB_NONE ||
	    oai_verb_lookup(oai_verb_name(verb)) == (enum oai_verb)verb);
	h = hash_add(h, &verb, sizeof(verb));
	h = hash_str(h, oai_parser_response_date(p));
	h = hash_str(h, oai_parser_error_code(p));
	check_trimmed(oai_parser_error_message(p));
	h = hash_str(h, oai_parser_error_message(p));
	CHECK(t != NULL);
	CHECK(t->present ||
	    (t->value == NULL && t->cursor == -1 &&
		t->complete_list_size == -1 && t->expiration_date == NULL));
	check_trimmed(t->value);
	check_str(t->value);
	check_trimmed(t->expiration_date);
	CHECK(t->cursor >= -1 && t->complete_list_size >= -1);
	h = hash_add(h, &t->present, sizeof(t->present));
	h = hash_str(h, t->value);
	h = hash_add(h, &t->cursor, sizeof(t->cursor));
	h = hash_add(h, &t->complete_list_size, sizeof(t->complete_list_size));
	h = hash_str(h, t->expiration_date);
	h = hash_add(h, &repairs, sizeof(repairs));
	o->hash = h;
}

#ifdef OAI_REJECT_MAX
static int
on_reject(void *arg, const struct oai_reject *rj)
{
	struct outcome *o = arg;
	uint64_t	h = o->hash;
	const char     *c;

	CHECK(rj->cause != NULL && rj->cause[0] != '\0');
	for (c = rj->cause; *c != '\0'; c++)
		CHECK((unsigned char)*c >= 0x20 && *c != 0x7f);
	check_trimmed(rj->identifier);
	check_trimmed(rj->datestamp);
	check_str(rj->identifier);
	CHECK(rj->raw != NULL && strlen(rj->raw) == rj->raw_len);
	CHECK(rj->raw_len <= OAI_REJECT_MAX);
	if (!rj->truncated)
		check_standalone(rj->raw, rj->raw_len);
	h = hash_str(h, "X");
	h = hash_str(h, rj->identifier);
	h = hash_str(h, rj->datestamp);
	h = hash_str(h, rj->cause);
	h = hash_add(h, rj->raw, rj->raw_len);
	h = hash_add(h, &rj->truncated, sizeof(rj->truncated));
	o->hash = h;
	return callback_rc(o);
}
#endif

/*
 * Parse doc in chunks of the sizes in sizes[] (each byte + 1, in turn);
 * with nsizes 0, in one piece.
 */
static void
parse(const uint8_t *doc, size_t len, const uint8_t *sizes, size_t nsizes,
    size_t stop_at, struct outcome *o)
{
	struct oai_parser *p;
	const char	  *cause, *c;
	size_t		   off = 0, n, i = 0;
	int		   rc = 0;

	memset(o, 0, sizeof(*o));
	o->stop_at = stop_at;
	o->hash = HASH_INIT;
	p = oai_parser_new(&callbacks, o);
	while (off < len) {
		n = nsizes == 0 ? len - off : (size_t)sizes[i++ % nsizes] + 1;
		if (n > len - off)
			n = len - off;
		if ((rc = oai_parser_feed(p, (const char *)doc + off, n)) == -1)
			break;
		off += n;
	}
	if (oai_parser_finish(p) == -1)
		rc = -1;
	else
		CHECK(rc == 0);
	/* Once failed, it stays failed. */
	if (rc == -1)
		CHECK(oai_parser_feed(p, "<", 1) == -1 &&
		    oai_parser_finish(p) == -1);
	cause = oai_parser_cause(p);
	CHECK(cause != NULL);
	if (rc == -1) {
		CHECK(cause[0] != '\0');
		for (c = cause; *c != '\0'; c++)
			CHECK((unsigned char)*c >= 0x20 && *c != 0x7f);
	}
	o->ok = rc == 0;
	o->nrecords = oai_parser_nrecords(p);
#ifdef OAI_REJECT_MAX
	o->nrejects = oai_parser_nrejects(p);
#endif
	check_response(p, o);
	oai_parser_free(p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct outcome fz, one, bytes;
	const uint8_t *sizes, *doc;
	size_t	       nsizes, len, stop_at;
	uint8_t	       one_byte = 0;

	if (size < 1)
		return 0;
	nsizes = data[0] & 7;
	stop_at = data[0] >> 3;
	if (size < 1 + nsizes)
		return 0;
	sizes = data + 1;
	doc = data + 1 + nsizes;
	len = size - 1 - nsizes;

	parse(doc, len, sizes, nsizes, stop_at, &fz);
	if (len >= SAME_CHECK_MAX)
		return 0;
	parse(doc, len, NULL, 0, stop_at, &one);
	parse(doc, len, &one_byte, 1, stop_at, &bytes);
	CHECK(fz.ok == one.ok && one.ok == bytes.ok);
	CHECK(fz.nrecords == one.nrecords && one.nrecords == bytes.nrecords);
	CHECK(fz.nrejects == one.nrejects && one.nrejects == bytes.nrejects);
	if (one.ok)
		CHECK(fz.hash == one.hash && one.hash == bytes.hash);
	return 0;
}
