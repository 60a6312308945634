/*
 * The test OAI-PMH server (oaiserver): a synthetic corpus served under /oai,
 * recorded response files served under /pages, and control endpoints that
 * change the corpus while it runs.  Private to tests/server/.
 */
#ifndef OH_SERVER_H
#define OH_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "util.h"

struct evbuffer;
struct evhttp_request;
struct event_base;

#define OAI_CONTENT_TYPE "text/xml; charset=utf-8"

/* Limits of what the server accepts. */
#define SRV_MAX_QUERY	     8192 /* bytes of a query string or body */
#define SRV_MAX_ARGS	     32	  /* arguments in one request */
#define SRV_MAX_RECORDS	     50000000LL
#define SRV_MAX_PAGE_SIZE    100000LL
#define SRV_MAX_SETS	     1000LL
#define SRV_MAX_DELAY_MS     600000LL
#define SRV_MAX_ADD	     10000000LL
#define SRV_MAX_PAGE_FILES   10000 /* files in a --pages directory */
#define SRV_MAX_PAGE_BYTES   (256UL * 1024 * 1024) /* one such file */
#define SRV_MAX_FAULTS	     1024 /* faults in the queue at once */
#define SRV_MAX_FAULT_SPECS  64	  /* --fault options */
#define SRV_MAX_FAULT_MB     4096 /* an oversize body, MiB */
#define SRV_MAX_STALL	     3600 /* seconds a stall lasts */
#define SRV_MAX_REPLAY_LINES 4096 /* responses in a --replay manifest */

/* trace.c: --trace, each request's start and end with its Host. */
struct trace;
struct trace *trace_open(const char *path, char **cause);
void	      trace_free(struct trace *);
void trace_request(struct trace *, struct evhttp_request *, const char *path);

/* form.c: application/x-www-form-urlencoded arguments. */
struct form_arg {
	char *name;
	char *value;
};

struct form {
	struct form_arg args[SRV_MAX_ARGS];
	size_t		n;
};

int	    form_parse(struct form *, const char *, size_t, const char **cause);
void	    form_free(struct form *);
const char *form_get(const struct form *, const char *);
size_t	    form_count(const struct form *, const char *);

/* corpus.c: the synthetic corpus. */

/* How record datestamps are written (--datestamp-style). */
enum ds_style {
	DS_CANONICAL, /* 2021-03-11T05:00:00Z (or the day) */
	DS_MILLIS,    /* 2021-03-11T05:00:00.000Z */
	DS_COMPACT,   /* 20210311 */
	DS_OFFSET,    /* 2021-03-11T05:00:00+00:00 */
	DS_SPACE,     /* 2021-03-11 05:00:00Z */
	DS_PLUS2,     /* 2021-03-11T07:00:00+02:00 */
};

#define SRV_DATESTAMP_LEN 32 /* any ds_style, with its NUL */
#define SRV_MAX_XML_STYLE 1000000LL

struct corpus_conf {
	uint64_t	     seed;
	size_t		     records;
	unsigned int	     sets;
	unsigned int	     deleted_every;
	enum oai_granularity gran;
	enum ds_style	     ds_style;
};

/* One record's place in the corpus; its text comes from corpus_dc(). */
struct corpus_rec {
	time_t	 datestamp;
	uint32_t version;
	int	 deleted;
};

/* Records matching a selective harvest: set id (or -1) and from/until. */
struct corpus_filter {
	int    set;
	time_t from;
	time_t until;
};

/* The Dublin Core elements, in DCMES order (the order of the dump keys). */
enum dc_elem {
	DC_TITLE,
	DC_CREATOR,
	DC_SUBJECT,
	DC_DESCRIPTION,
	DC_PUBLISHER,
	DC_CONTRIBUTOR,
	DC_DATE,
	DC_TYPE,
	DC_FORMAT,
	DC_IDENTIFIER,
	DC_SOURCE,
	DC_LANGUAGE,
	DC_RELATION,
	DC_COVERAGE,
	DC_RIGHTS,
	DC_NELEMS
};

#define DC_MAX_VALUES 64

struct dc_value {
	enum dc_elem elem;
	const char  *lang; /* xml:lang or NULL */
	size_t	     off;  /* into dc_rec.text */
	size_t	     len;
};

/*
 * A record's metadata as plain strings, in the order the XML carries them.
 * Both the XML and the JSON dump are rendered from this.
 */
struct dc_rec {
	struct buf	text;
	struct dc_value v[DC_MAX_VALUES];
	size_t		n;
};

extern const char *const dc_elem_names[DC_NELEMS];

struct corpus	    *corpus_new(const struct corpus_conf *);
void		     corpus_free(struct corpus *);
size_t		     corpus_size(const struct corpus *);
uint64_t	     corpus_seed(const struct corpus *);
enum oai_granularity corpus_granularity(const struct corpus *);
time_t		     corpus_earliest(const struct corpus *);
void	     corpus_get(const struct corpus *, size_t, struct corpus_rec *);
void	     corpus_identifier(size_t, char *, size_t);
size_t	     corpus_lookup(const struct corpus *, const char *);
unsigned int corpus_nsets(const struct corpus *);
int	     corpus_set_lookup(const struct corpus *, const char *);
void	     corpus_set_spec(const struct corpus *, int, char *, size_t);
void	     corpus_set_name(const struct corpus *, int, char *, size_t);
size_t	     corpus_rec_sets(const struct corpus *, size_t, int *);
size_t corpus_next(const struct corpus *, size_t, const struct corpus_filter *);
size_t corpus_count(struct corpus *, const struct corpus_filter *);
void   dc_init(struct dc_rec *);
void   dc_free(struct dc_rec *);
void   corpus_dc(const struct corpus *, size_t, struct dc_rec *);
void   corpus_dump(const struct corpus *, struct evbuffer *);

/*
 * Changes; each takes a record index (1-based) and returns 0, or -1 with
 * *cause set.  The new datestamp is then read with corpus_get().
 */
int  corpus_add(struct corpus *, size_t, size_t *first, const char **cause);
int  corpus_update(struct corpus *, size_t, const char **cause);
int  corpus_touch(struct corpus *, size_t, const char **cause);
int  corpus_delete(struct corpus *, size_t, const char **cause);
int  corpus_undelete(struct corpus *, size_t, const char **cause);
int  corpus_purge(struct corpus *, size_t, const char **cause);
int  corpus_move(struct corpus *, size_t, int set, const char **cause);
void corpus_datestamp(const struct corpus *, time_t, char *);
void corpus_set_xml_style(struct corpus *, unsigned int);
unsigned int corpus_xml_style(const struct corpus *);

/* oaipmh.c: the protocol, for the corpus and shared with pages.c. */
enum oaipmh_verb {
	VERB_IDENTIFY,
	VERB_LISTMETADATAFORMATS,
	VERB_LISTSETS,
	VERB_LISTIDENTIFIERS,
	VERB_LISTRECORDS,
	VERB_GETRECORD
};

struct oaipmh_error {
	const char *code;
	char	    msg[256];
};

int oaipmh_check(
    const struct form *, enum oaipmh_verb *, struct oaipmh_error *);
const char *oaipmh_verb_name(enum oaipmh_verb);
void	    oaipmh_error_response(struct evbuffer *, const char *baseurl,
	   const struct form *, const struct oaipmh_error *);

/* A body fault the renderer applies to one response (fault.c picks it). */
enum oaipmh_mut_kind {
	MUT_NONE,
	MUT_INJECT,	  /* raw bytes inside a record's description */
	MUT_NOID,	  /* a header without its identifier */
	MUT_BADDATE,	  /* a header with an impossible datestamp */
	MUT_TWOROOTS,	  /* metadata with two root elements */
	MUT_SAME_TOKEN,	  /* the token leads back to this page */
	MUT_EMPTY_TOKEN,  /* no records, but a token to this page */
	MUT_EXPIRE_TOKEN, /* badResumptionToken for any token */
	MUT_PAST_END,	  /* noRecordsMatch for any token */
	MUT_WRONG_CLS,	  /* completeListSize off by delta */
};

struct oaipmh_mut {
	enum oaipmh_mut_kind kind;
	const char	    *bytes;   /* MUT_INJECT */
	size_t		     record;  /* 0-based within the page */
	long long	     delta;   /* MUT_WRONG_CLS */
	int		     applied; /* the body carries it */
};

/* What a request asks for, as far as matching faults goes. */
struct oaipmh_req {
	int		 valid; /* passes oaipmh_check() */
	enum oaipmh_verb verb;
	int		 list;	/* List{Records,Identifiers} */
	int		 token; /* ... with a resumptionToken */
	long long	 page;	/* 0-based list page, or -1 */
};

void oaipmh_classify(struct corpus *, const struct form *, size_t page_size,
    struct oaipmh_req *);
void oaipmh_respond(struct corpus *, const struct form *, const char *baseurl,
    size_t page_size, struct oaipmh_mut *, struct evbuffer *);
void xml_escape(struct evbuffer *, const char *, size_t, int attr);

/* pages.c: recorded responses. */
struct pages *pages_load(const char *dir, char **cause);
int	      srv_read_file(
	      const char *dir, const char *name, char **data, size_t *len, char **cause);
void pages_free(struct pages *);
void pages_respond(const struct pages *, const struct form *,
    const char *baseurl, struct evbuffer *);

/* prerender.c: --prerender, the oai_dc list's pages rendered at start. */
struct prerender *prerender_new(
    struct corpus *, const char *baseurl, size_t page_size);
void prerender_free(struct prerender *);
void prerender_drop(struct prerender *);
int  prerender_lookup(const struct prerender *, const struct form *,
     const struct oaipmh_req *, const char **, size_t *);

/* fault.c: the fault queue, driven by /control/fault and --fault. */
enum fault_body {
	FBODY_OAI,	 /* the OAI response, perhaps altered */
	FBODY_HTML,	 /* a small HTML page with the status */
	FBODY_REDIRECT,	 /* 302 to the request's own URL */
	FBODY_CHALLENGE, /* a bot wall's challenge (fault_wall) */
};

/* Whose bot protection a challenge fault imitates. */
enum fault_wall {
	WALL_CLOUDFLARE, /* 403, cf-mitigated: challenge, "Just a moment" */
	WALL_AWS,	 /* 202, x-amzn-waf-action: challenge */
	WALL_ANUBIS,	 /* 200, Anubis's proof-of-work page */
};

enum fault_enc {
	FENC_NONE,
	FENC_GZIP,
	FENC_DEFLATE,
	FENC_GZIP_NOHEADER
};

enum fault_wire {
	FWIRE_NORMAL,	/* evhttp sends it */
	FWIRE_RESET,	/* part of the body, then a TCP reset */
	FWIRE_TRUNCATE, /* part of the body, then a close */
	FWIRE_STALL,	/* part of the body, silence, a close */
	FWIRE_OVERSIZE, /* padded to mb MiB, streamed */
};

#define HTTP_DATE_LEN 32 /* "Sun, 06 Nov 1994 08:49:37 GMT" + NUL */

/* What a fault that fired does to the response. */
struct fault_plan {
	unsigned int	  id;
	const char	 *kind;
	int		  status;
	enum fault_body	  body;
	enum fault_wall	  wall;
	enum fault_enc	  enc;
	enum fault_wire	  wire;
	struct oaipmh_mut mut;
	char		  retry_after[HTTP_DATE_LEN]; /* or "" */
	long long	  bytes;		      /* -1: half the body */
	long long	  seconds;
	long long	  mb;
	int		  gzipbomb;
	int		  chunked;
	int		  port; /* redirect there; 0: own */
};

struct faults *faults_new(void);
void	       faults_free(struct faults *);
int	       faults_add(
	       struct faults *, const struct form *, unsigned int *id, const char **cause);
int  faults_add_spec(struct faults *, const char *, const char **cause);
void faults_clear(struct faults *);
void faults_list(const struct faults *, struct evbuffer *);
unsigned long long faults_fired(const struct faults *);
int faults_take(struct faults *, const struct oaipmh_req *, const char *url,
    struct fault_plan *);
const char *fault_reason(int status);
void	    fault_html(struct evbuffer *, int status);
void	    fault_challenge(struct evbuffer *, enum fault_wall, int *status,
	   const char **hname, const char **hvalue);
void	    fault_http_date(time_t, char *);

/* stream.c: connections taken over from evhttp, written byte by byte. */
enum stream_end {
	STREAM_CLOSE, /* close once everything is sent */
	STREAM_RESET, /* reset (SO_LINGER 0) once it is sent */
	STREAM_STALL, /* send nothing for a while, then close */
};

struct stream_spec {
	const char	*label;	  /* the fault's kind, for the log */
	struct evbuffer *head;	  /* status line and headers, as is */
	struct evbuffer *prefix;  /* the body: this, */
	uint64_t	 pad;	  /* then this many spaces, */
	struct evbuffer *suffix;  /* then this (or NULL) */
	int		 chunked; /* body in chunked transfer coding */
	int		 gzip;	  /* body gzip-compressed (before that) */
	enum stream_end	 end;
	long long	 stall; /* seconds, for STREAM_STALL */
};

struct streams *streams_new(struct event_base *);
void		streams_free(struct streams *);
size_t		streams_active(const struct streams *);
int		stream_start(
		struct streams *, struct evhttp_request *, struct stream_spec *);
void stream_head(struct evbuffer *, long long length, const char *encoding);
void stream_compress(struct evbuffer *, int gzip);

/* replay.c: --replay, recorded real responses under /replay/SCENARIO. */
#define REPLAY_PATH "/replay/"

struct replay *replay_load(const char *manifest, char **cause);
void	       replay_free(struct replay *);
void	       replay_respond(struct replay *, struct evhttp_request *,
	      const struct form *, const char *origin);

#endif
