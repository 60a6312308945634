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

/* Limits of what the server accepts. */
#define SRV_MAX_QUERY		8192	/* bytes of a query string or body */
#define SRV_MAX_ARGS		32	/* arguments in one request */
#define SRV_MAX_RECORDS		50000000LL
#define SRV_MAX_PAGE_SIZE	100000LL
#define SRV_MAX_SETS		1000LL
#define SRV_MAX_DELAY_MS	600000LL
#define SRV_MAX_ADD		10000000LL
#define SRV_MAX_PAGE_FILES	10000	/* files in a --pages directory */
#define SRV_MAX_PAGE_BYTES	(256UL * 1024 * 1024)	/* one such file */

/* form.c: application/x-www-form-urlencoded arguments. */
struct form_arg {
	char	*name;
	char	*value;
};

struct form {
	struct form_arg	 args[SRV_MAX_ARGS];
	size_t		 n;
};

int		 form_parse(struct form *, const char *, size_t,
		    const char **cause);
void		 form_free(struct form *);
const char	*form_get(const struct form *, const char *);
size_t		 form_count(const struct form *, const char *);

/* corpus.c: the synthetic corpus. */
struct corpus_conf {
	uint64_t		 seed;
	size_t			 records;
	unsigned int		 sets;
	unsigned int		 deleted_every;
	enum oai_granularity	 gran;
};

/* One record's place in the corpus; its text comes from corpus_dc(). */
struct corpus_rec {
	time_t		 datestamp;
	uint32_t	 version;
	int		 deleted;
};

/* Records matching a selective harvest: set id (or -1) and from/until. */
struct corpus_filter {
	int	 set;
	time_t	 from;
	time_t	 until;
};

/* The Dublin Core elements, in DCMES order (the order of the dump keys). */
enum dc_elem {
	DC_TITLE, DC_CREATOR, DC_SUBJECT, DC_DESCRIPTION, DC_PUBLISHER,
	DC_CONTRIBUTOR, DC_DATE, DC_TYPE, DC_FORMAT, DC_IDENTIFIER, DC_SOURCE,
	DC_LANGUAGE, DC_RELATION, DC_COVERAGE, DC_RIGHTS, DC_NELEMS
};

#define DC_MAX_VALUES	64

struct dc_value {
	enum dc_elem	 elem;
	const char	*lang;		/* xml:lang or NULL */
	size_t		 off;		/* into dc_rec.text */
	size_t		 len;
};

/*
 * A record's metadata as plain strings, in the order the XML carries them.
 * Both the XML and the JSON dump are rendered from this.
 */
struct dc_rec {
	struct buf	 text;
	struct dc_value	 v[DC_MAX_VALUES];
	size_t		 n;
};

extern const char *const dc_elem_names[DC_NELEMS];

struct corpus	*corpus_new(const struct corpus_conf *);
void		 corpus_free(struct corpus *);
size_t		 corpus_size(const struct corpus *);
uint64_t	 corpus_seed(const struct corpus *);
enum oai_granularity corpus_granularity(const struct corpus *);
time_t		 corpus_earliest(const struct corpus *);
void		 corpus_get(const struct corpus *, size_t, struct corpus_rec *);
void		 corpus_identifier(size_t, char *, size_t);
size_t		 corpus_lookup(const struct corpus *, const char *);
unsigned int	 corpus_nsets(const struct corpus *);
int		 corpus_set_lookup(const struct corpus *, const char *);
void		 corpus_set_spec(const struct corpus *, int, char *, size_t);
void		 corpus_set_name(const struct corpus *, int, char *, size_t);
size_t		 corpus_rec_sets(const struct corpus *, size_t, int *);
size_t		 corpus_next(const struct corpus *, size_t,
		    const struct corpus_filter *);
size_t		 corpus_count(struct corpus *, const struct corpus_filter *);
void		 dc_init(struct dc_rec *);
void		 dc_free(struct dc_rec *);
void		 corpus_dc(const struct corpus *, size_t, struct dc_rec *);
void		 corpus_dump(const struct corpus *, struct evbuffer *);

/*
 * Changes; each takes a record index (1-based) and returns 0, or -1 with
 * *cause set.  The new datestamp is then read with corpus_get().
 */
int		 corpus_add(struct corpus *, size_t, size_t *first,
		    const char **cause);
int		 corpus_update(struct corpus *, size_t, const char **cause);
int		 corpus_touch(struct corpus *, size_t, const char **cause);
int		 corpus_delete(struct corpus *, size_t, const char **cause);
int		 corpus_undelete(struct corpus *, size_t, const char **cause);

/* oaipmh.c: the protocol, for the corpus and shared with pages.c. */
enum oaipmh_verb {
	VERB_IDENTIFY, VERB_LISTMETADATAFORMATS, VERB_LISTSETS,
	VERB_LISTIDENTIFIERS, VERB_LISTRECORDS, VERB_GETRECORD
};

struct oaipmh_error {
	const char	*code;
	char		 msg[256];
};

int		 oaipmh_check(const struct form *, enum oaipmh_verb *,
		    struct oaipmh_error *);
const char	*oaipmh_verb_name(enum oaipmh_verb);
void		 oaipmh_error_response(struct evbuffer *, const char *baseurl,
		    const struct form *, const struct oaipmh_error *);
void		 oaipmh_respond(struct corpus *, const struct form *,
		    const char *baseurl, size_t page_size, struct evbuffer *);
void		 xml_escape(struct evbuffer *, const char *, size_t, int attr);

/* pages.c: recorded responses. */
struct pages	*pages_load(const char *dir, char **cause);
void		 pages_free(struct pages *);
void		 pages_respond(const struct pages *, const struct form *,
		    const char *baseurl, struct evbuffer *);

#endif
