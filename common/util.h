/*
 * Small helpers every module uses: allocation that dies on out-of-memory,
 * bounded growable buffers, bounded number and datestamp parsers, JSON string
 * escaping and a content hash.
 */
#ifndef OH_UTIL_H
#define OH_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define OH_VERSION "0.1.0"

#ifndef __unused
#define __unused __attribute__((__unused__))
#endif
#define __printflike(a, b) __attribute__((__format__(__printf__, a, b)))
#define __dead		   __attribute__((__noreturn__))

#define nitems(a) (sizeof(a) / sizeof((a)[0]))

/* Our own bugs and out-of-memory: print and exit. */
__dead void fatal(const char *, ...) __printflike(1, 2);
__dead void fatalx(const char *, ...) __printflike(1, 2);

void *xmalloc(size_t);
void *xcalloc(size_t, size_t);
void *xreallocarray(void *, size_t, size_t);
char *xstrdup(const char *);
char *xstrndup(const char *, size_t);
int   xasprintf(char **, const char *, ...) __printflike(2, 3);
int   xvasprintf(char **, const char *, va_list);
/* The value of a hexadecimal digit, or -1. */
int hex_digit(char);

/*
 * A growable byte buffer with a cap fixed at creation (curl's dynbuf).  The
 * data is always NUL-terminated so that it can be used as a C string.
 */
struct buf {
	char  *data;
	size_t len;
	size_t cap;
	size_t max;
};

void buf_init(struct buf *, size_t max);
void buf_free(struct buf *);
void buf_reset(struct buf *);
/* Return -1 (and leave the buffer as it was) when max would be exceeded. */
static inline int buf_add(struct buf *, const void *, size_t);
int		  buf_add_grow(struct buf *, const void *, size_t);
int		  buf_addstr(struct buf *, const char *);
static inline int buf_addch(struct buf *, char);
int buf_printf(struct buf *, const char *, ...) __printflike(2, 3);
/* The contents; never NULL (an empty buffer gives ""). */
const char *buf_str(const struct buf *);

/*
 * Parse a decimal integer in [min, max]; the whole string must be a number.
 * Return 0, or -1 with *errstr set to a static description.
 */
int parse_ll(const char *, long long min, long long max, long long *,
    const char **errstr);

/*
 * Parse a duration such as "90", "30s", "15m", "6h", "1d", "2w" into seconds.
 */
int parse_duration(const char *, long long *, const char **errstr);

/* The two granularities OAI-PMH allows. */
enum oai_granularity {
	GRAN_DAY = 0,	  /* YYYY-MM-DD */
	GRAN_SECONDS = 1, /* YYYY-MM-DDThh:mm:ssZ */
};

#define DATESTAMP_LEN 21 /* "YYYY-MM-DDThh:mm:ssZ" plus NUL */

/*
 * The one datestamp parser, for what repositories send.  Besides OAI-PMH's
 * two forms it reads fractional seconds (any number of digits, cut),
 * YYYYMMDD and YYYYMMDDThhmm[ss]Z, offsets (+hh:mm, +hhmm, +hh, or -), a
 * space for the T, no seconds (hh:mm), no zone (UTC).  Fields are range
 * checked; anything else, trailing bytes included, is refused (-1).  Sets,
 * when non-NULL, *t (seconds since the epoch, UTC), *gran (GRAN_DAY for a
 * date alone) and *canonical: 1 when s is already what datestamp_format()
 * writes for (*t, *gran), 0 when a caller that keeps it must normalize.
 */
int datestamp_read(
    const char *, time_t *, enum oai_granularity *, int *canonical);
/*
 * datestamp_read() of OAI-PMH's own forms only, YYYY-MM-DD or
 * YYYY-MM-DDThh:mm:ssZ: for what a user or a harvester writes (from,
 * until, the config), where 12:30:00 without a zone may mean local time.
 */
int datestamp_parse(const char *, time_t *, enum oai_granularity *);
/*
 * Format t in the given granularity into out[DATESTAMP_LEN]: the normalized
 * form (years outside 0001-9999 are clamped to them).
 */
void datestamp_format(time_t, enum oai_granularity, char *);
/* Current UTC time as YYYY-MM-DDThh:mm:ssZ. */
void datestamp_now(char *);

/*
 * Append s (len bytes, or strlen(s) when len is (size_t)-1) to b as a
 * quoted JSON string.  Invalid UTF-8 becomes U+FFFD.
 */
int json_add_string(struct buf *, const char *s, size_t len);

/*
 * The one escaping of XML the harvester writes, in text (& < > CR) and in
 * attribute values (those, '"', tab and LF): the serializer writes it, the
 * store's templates and the canonical form of metadata read it back.  The
 * reference for c, or NULL for a character written as it is.
 */
static inline const char *
xml_ref(unsigned char c)
{
	switch (c) {
	case '&':
		return "&amp;";
	case '<':
		return "&lt;";
	case '>':
		return "&gt;";
	case '\r':
		return "&#13;";
	case '"':
		return "&quot;";
	case '\t':
		return "&#9;";
	case '\n':
		return "&#10;";
	}
	return NULL;
}

/* 64-bit FNV-1a over a byte string, chained through h (start at HASH_INIT). */
#define HASH_INIT 0xcbf29ce484222325ULL
uint64_t hash_add(uint64_t h, const void *, size_t);

/*
 * A URL as it may be shown, logged or stored: the password of its
 * userinfo (scheme://user:password@host/...) replaced by "***"; the user
 * name stays, to tell accounts apart.  Allocated.
 */
char *url_redact(const char *);
/* Where the authority of url begins (after "scheme://"), and its length. */
const char *url_authority(const char *, size_t *);

/* Monotonic time in milliseconds. */
int64_t mono_ms(void);

/*
 * Appending where the buffer has room, which is nearly always: inline, as
 * the parser, the spool and store_prepare() append a few hundred times a
 * record.  Else buf_add_grow().
 */
static inline int
buf_add(struct buf *b, const void *p, size_t n)
{
	if (n < b->cap - b->len && n <= b->max - b->len) {
		if (n > 0)
			__builtin_memcpy(b->data + b->len, p, n);
		b->len += n;
		b->data[b->len] = '\0';
		return 0;
	}
	return buf_add_grow(b, p, n);
}

static inline int
buf_addch(struct buf *b, char c)
{
	if (b->cap - b->len > 1 && b->len < b->max) {
		b->data[b->len++] = c;
		b->data[b->len] = '\0';
		return 0;
	}
	return buf_add_grow(b, &c, 1);
}

#endif
