/*
 * A faster stand-in for FTS5's "unicode61" tokenizer on the store's
 * connection.
 *
 * unicode61 looks up every non-ASCII character in its Unicode tables (a
 * binary search for the category, another for the case and diacritic
 * fold): for Kazakh and Russian text that was a quarter of a harvest's
 * instructions.  This tokenizer asks the real unicode61, created with the
 * same arguments, what it makes of each code point the first time it meets
 * it, and remembers the answer in a table by code point: the tokens, their
 * offsets and their folded text come out byte for byte as unicode61's.
 * That matters: the index must read the same with SQLite's own tokenizer
 * (the sqlite3 shell, or a trigger fired from another program, takes a
 * record's terms out by tokenizing its text again).
 *
 * It is registered under the name "unicode61", so the schema keeps naming
 * SQLite's tokenizer; FTS5 looks tokenizers up newest first, so on this
 * connection the name finds this one.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "util.h"
#include "backend.h"
#include "tokenize.h"

/* What a code point is to unicode61. */
enum cp_class {
	CP_UNKNOWN,   /* not asked yet */
	CP_SEPARATOR, /* ends a token, skipped between tokens */
	CP_TOKEN,     /* starts or continues a token */
	CP_DIACRITIC  /* continues a token, never starts one */
	/* (tok_tokenize() takes >= CP_TOKEN for "continues a token") */
};

/* A code point's class and its folded form in UTF-8 (0-4 bytes). */
struct cp {
	uint8_t cls;
	uint8_t len;
	char	fold[4];
};

/* Code points below this are remembered; the rest are asked every time. */
#define CP_TABLE 0x10000

/* The real unicode61, as found before this one shadowed its name. */
struct tok_module {
	fts5_tokenizer real;
	void	      *real_ctx;
};

/* An ASCII character's byte in ascii[]: what it folds to, or one of these. */
#define ASCII_SEPARATOR 0x00
#define ASCII_OTHER	0x80 /* anything else: look at table[] */

struct tok {
	struct tok_module *mod;
	Fts5Tokenizer	  *real;  /* unicode61 with the same arguments */
	struct cp	  *table; /* CP_TABLE entries */
	/*
	 * The ASCII part of table[] as one byte each: a token character that
	 * folds to one ASCII byte is that byte (nearly all of them are).
	 */
	uint8_t ascii[0x80];
	char   *out; /* the token being folded */
	size_t	outsz;
};

/* What a probe of the real tokenizer saw. */
struct probe {
	int  ntokens;
	int  end; /* the first token's iEnd */
	int  len;
	char text[8];
};

static int    tok_create(void *, const char **, int, Fts5Tokenizer **);
static void   tok_delete(Fts5Tokenizer *);
static int    tok_tokenize(Fts5Tokenizer *, void *, int, const char *, int,
       int (*)(void *, int, const char *, int, int, int));
static int    probe_cb(void *, int, const char *, int, int, int);
static int    probe(struct tok *, uint32_t, struct cp *);
static size_t encode(uint32_t, unsigned char *);
static inline uint32_t decode(const unsigned char **, const unsigned char *);
static int lookup(struct tok *, uint32_t, struct cp *, const struct cp **);

static fts5_tokenizer tok_methods = { tok_create, tok_delete, tok_tokenize };

static int
tok_create(void *ctx, const char **argv, int argc, Fts5Tokenizer **ret)
{
	struct tok_module *mod = ctx;
	struct tok	  *t;
	const struct cp	  *e;
	uint32_t	   c;
	int		   rc;

	t = xcalloc(1, sizeof(*t));
	t->mod = mod;
	if ((rc = mod->real.xCreate(mod->real_ctx, argv, argc, &t->real)) !=
	    SQLITE_OK) {
		free(t);
		*ret = NULL;
		return rc;
	}
	t->outsz = 64;
	t->out = xmalloc(t->outsz);
	/* 384 KiB of address space; the kernel maps the pages text uses. */
	t->table = xcalloc(CP_TABLE, sizeof(*t->table));
	for (c = 0; c < 0x80; c++) {
		if ((rc = probe(t, c, &t->table[c])) != SQLITE_OK) {
			tok_delete((Fts5Tokenizer *)t);
			*ret = NULL;
			return rc;
		}
		e = &t->table[c];
		if (e->cls == CP_SEPARATOR)
			t->ascii[c] = ASCII_SEPARATOR;
		else if (e->cls == CP_TOKEN && e->len == 1 &&
		    (uint8_t)e->fold[0] != 0 && (uint8_t)e->fold[0] < 0x80)
			t->ascii[c] = (uint8_t)e->fold[0];
		else
			t->ascii[c] = ASCII_OTHER;
	}
	*ret = (Fts5Tokenizer *)t;
	return SQLITE_OK;
}

static void
tok_delete(Fts5Tokenizer *p)
{
	struct tok *t = (struct tok *)p;

	if (t == NULL)
		return;
	t->mod->real.xDelete(t->real);
	free(t->table);
	free(t->out);
	free(t);
}

static int
probe_cb(void *ctx, int flags, const char *token, int len, int start, int end)
{
	struct probe *pr = ctx;

	if (pr->ntokens++ == 0) {
		pr->end = end;
		pr->len = len;
		if (len > 0 && (size_t)len <= sizeof(pr->text))
			memcpy(pr->text, token, len);
	}
	return SQLITE_OK;
}

/*
 * Ask unicode61 about code point c: alone, it makes a token if c can start
 * one (the token is c folded, perhaps empty); after "a", a token that ends
 * after c if c can continue one (the token is "a" and c folded).
 */
static int
probe(struct tok *t, uint32_t c, struct cp *e)
{
	struct probe  pr;
	unsigned char s[1 + 7];
	size_t	      n;
	int	      rc;

	s[0] = 'a';
	n = encode(c, s + 1);
	memset(&pr, 0, sizeof(pr));
	if ((rc = t->mod->real.xTokenize(t->real, &pr, FTS5_TOKENIZE_DOCUMENT,
		 (char *)s + 1, (int)n, probe_cb)) != SQLITE_OK)
		return rc;
	if (pr.ntokens > 0) {
		e->cls = CP_TOKEN;
	} else {
		memset(&pr, 0, sizeof(pr));
		if ((rc = t->mod->real.xTokenize(t->real, &pr,
			 FTS5_TOKENIZE_DOCUMENT, (char *)s, (int)n + 1,
			 probe_cb)) != SQLITE_OK)
			return rc;
		if (pr.ntokens != 1 || pr.len < 1 || pr.text[0] != 'a')
			return SQLITE_ERROR;
		if ((size_t)pr.end != n + 1) {
			e->cls = CP_SEPARATOR;
			e->len = 0;
			return SQLITE_OK;
		}
		e->cls = CP_DIACRITIC;
		pr.len--;
		memmove(pr.text, pr.text + 1, sizeof(pr.text) - 1);
	}
	/* A fold is one code point at most. */
	if (pr.len > (int)sizeof(e->fold))
		return SQLITE_ERROR;
	e->len = (uint8_t)pr.len;
	memcpy(e->fold, pr.text, pr.len);
	return SQLITE_OK;
}

/*
 * UTF-8 that unicode61 reads back as c.  Above U+10FFFF (only malformed
 * input decodes so) an overlong form: a lead byte worth 0 and six
 * continuation bytes, which it accumulates modulo 2^32 as decode() does.
 */
static size_t
encode(uint32_t c, unsigned char *s)
{
	int i;

	if (c < 0x80) {
		s[0] = c;
		return 1;
	}
	if (c < 0x800) {
		s[0] = 0xc0 | c >> 6;
		s[1] = 0x80 | (c & 0x3f);
		return 2;
	}
	if (c < 0x10000) {
		s[0] = 0xe0 | c >> 12;
		s[1] = 0x80 | (c >> 6 & 0x3f);
		s[2] = 0x80 | (c & 0x3f);
		return 3;
	}
	if (c < 0x110000) {
		s[0] = 0xf0 | c >> 18;
		s[1] = 0x80 | (c >> 12 & 0x3f);
		s[2] = 0x80 | (c >> 6 & 0x3f);
		s[3] = 0x80 | (c & 0x3f);
		return 4;
	}
	s[0] = 0xc0;
	for (i = 0; i < 6; i++)
		s[1 + i] = 0x80 | (c >> (30 - 6 * i) & 0x3f);
	return 7;
}

/*
 * The next character of non-ASCII text, read as unicode61 reads it (its
 * READ_UTF8): a lead byte's bits, then every continuation byte that
 * follows; a stray continuation byte stands for itself; overlong forms,
 * surrogates, U+FFFE and U+FFFF become U+FFFD.
 */
static inline uint32_t
decode(const unsigned char **sp, const unsigned char *end)
{
	const unsigned char *s = *sp;
	uint32_t	     c;

	c = *s++;
	/* Two bytes, well formed, as in Cyrillic: the common case. */
	if ((c & 0xe0) == 0xc0 && s < end && (*s & 0xc0) == 0x80 &&
	    (s + 1 == end || (s[1] & 0xc0) != 0x80)) {
		c = (c & 0x1f) << 6 | (*s++ & 0x3f);
		*sp = s;
		return c < 0x80 ? 0xfffd : c;
	}
	if (c >= 0xc0) {
		if (c < 0xe0)
			c &= 0x1f;
		else if (c < 0xf0)
			c &= 0x0f;
		else if (c < 0xf8)
			c &= 0x07;
		else if (c < 0xfc)
			c &= 0x03;
		else if (c < 0xfe)
			c &= 0x01;
		else
			c = 0;
		while (s < end && (*s & 0xc0) == 0x80)
			c = (c << 6) + (*s++ & 0x3f);
		if (c < 0x80 || (c & 0xfffff800) == 0xd800 ||
		    (c & 0xfffffffe) == 0xfffe)
			c = 0xfffd;
	}
	*sp = s;
	return c;
}

/*
 * Code point c's entry, asked for if not yet known (into *tmp above the
 * table).
 */
static int
lookup(struct tok *t, uint32_t c, struct cp *tmp, const struct cp **ret)
{
	struct cp *e;
	int	   rc;

	if (c >= CP_TABLE) {
		e = tmp;
		memset(e, 0, sizeof(*e));
	} else
		e = &t->table[c];
	if (e->cls == CP_UNKNOWN && (rc = probe(t, c, e)) != SQLITE_OK) {
		e->cls = CP_UNKNOWN;
		return rc;
	}
	*ret = e;
	return SQLITE_OK;
}

/*
 * The entry of the non-ASCII character at s into e, s past it: the common
 * case (a code point already in the table) inline.
 */
#define NEXT_CP(t, s, end, tmp, e, rc) \
	do { \
		uint32_t c_ = decode(&(s), (end)); \
		if (c_ < CP_TABLE && (t)->table[c_].cls != CP_UNKNOWN) \
			(e) = &(t)->table[c_]; \
		else if (((rc) = lookup((t), c_, (tmp), &(e))) != SQLITE_OK) \
			return (rc); \
	} while (0)

/*
 * unicode61's loop: skip what cannot start a token, then take characters
 * while they can continue it, folding each; offsets are bytes of the text.
 * ASCII characters were all asked about in tok_create(); those ascii[]
 * folds to one byte go a byte at a time.
 */
static int
tok_tokenize(Fts5Tokenizer *p, void *ctx, int flags, const char *text, int len,
    int (*cb)(void *, int, const char *, int, int, int))
{
	struct tok	    *t = (struct tok *)p;
	const struct cp	    *tab = t->table, *e;
	const uint8_t	    *ascii = t->ascii;
	const unsigned char *base = (const unsigned char *)text;
	const unsigned char *s = base, *end = base + len, *at;
	struct cp	     tmp;
	char		    *out;
	size_t		     n;
	uint8_t		     f;
	int		     rc, start;

	/*
	 * Room for the text folded: a character's fold is at most 4 bytes
	 * and it takes at least one, and each is copied 4 bytes at a time.
	 */
	if ((size_t)len > (SIZE_MAX - 4) / 4)
		return SQLITE_TOOBIG;
	if (t->outsz < (size_t)len * 4 + 4) {
		free(t->out);
		t->outsz = (size_t)len * 4 + 4;
		t->out = xmalloc(t->outsz);
	}
	out = t->out;
	for (;;) {
		/* Separators. */
		for (;;) {
			while (s < end && *s < 0x80 &&
			    ascii[*s] == ASCII_SEPARATOR)
				s++;
			if (s >= end)
				return SQLITE_OK;
			start = s - base;
			if (*s < 0x80)
				e = &tab[*s++];
			else
				NEXT_CP(t, s, end, &tmp, e, rc);
			if (e->cls == CP_TOKEN)
				break;
		}
		/* The token. */
		n = 0;
		for (;;) {
			memcpy(out + n, e->fold, sizeof(e->fold));
			n += e->len;
			/*
			 * What most text is made of, in place: ASCII that
			 * folds to a byte, and known two-byte letters (well
			 * formed, not overlong, not before a continuation
			 * byte: decode()'s first case).  Anything else takes
			 * the step below.
			 */
			for (;;) {
				if (s >= end)
					goto token;
				if (*s < 0x80) {
					if ((f = ascii[*s]) == ASCII_SEPARATOR)
						goto token;
					if (f == ASCII_OTHER)
						break;
					out[n++] = (char)f;
					s++;
					continue;
				}
				if (end - s < 3 ||
				    (unsigned)(*s - 0xc2) >= 0x1e ||
				    (s[1] & 0xc0) != 0x80 ||
				    (s[2] & 0xc0) == 0x80)
					break;
				e = &tab[((uint32_t)s[0] & 0x1f) << 6 |
				    (s[1] & 0x3f)];
				if (e->cls < CP_TOKEN)
					break;
				memcpy(out + n, e->fold, sizeof(e->fold));
				n += e->len;
				s += 2;
			}
			if (*s < 0x80) {
				e = &tab[*s++];
				continue;
			}
			at = s;
			NEXT_CP(t, s, end, &tmp, e, rc);
			if (e->cls == CP_SEPARATOR) {
				s = at;
				break;
			}
		}
token:
		if ((rc = cb(ctx, 0, out, (int)n, start, s - base)) !=
		    SQLITE_OK)
			return rc == SQLITE_DONE ? SQLITE_OK : rc;
	}
}

int
store_tokenize_register(sqlite3 *db)
{
	struct tok_module *mod;
	fts5_api	  *api = NULL;
	sqlite3_stmt	  *st;
	int		   rc;

	if ((rc = sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL)) !=
	    SQLITE_OK)
		return rc;
	sqlite3_bind_pointer(st, 1, &api, "fts5_api_ptr", NULL);
	sqlite3_step(st);
	if ((rc = sqlite3_finalize(st)) != SQLITE_OK)
		return rc;
	if (api == NULL || api->iVersion < 2)
		return SQLITE_ERROR;
	mod = xcalloc(1, sizeof(*mod));
	if ((rc = api->xFindTokenizer(
		 api, "unicode61", &mod->real_ctx, &mod->real)) != SQLITE_OK) {
		free(mod);
		return rc;
	}
	return api->xCreateTokenizer(api, "unicode61", mod, &tok_methods, free);
}

/* The tokenizer on its own (see tokenize.h) */

struct store_tokenizer {
	sqlite3		  *db; /* in memory: FTS5 and unicode61 live in it */
	struct tok_module *mod;
	Fts5Tokenizer	  *tok;
};

struct store_tokenizer *
store_tokenizer_open(const char **argv, int argc, char **cause)
{
	struct store_tokenizer *z;
	fts5_api	       *api = NULL;
	sqlite3_stmt	       *st;
	int			rc;

	z = xcalloc(1, sizeof(*z));
	if ((rc = sqlite3_open_v2(":memory:", &z->db,
		 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL)) !=
	    SQLITE_OK)
		goto fail;
	if ((rc = sqlite3_prepare_v2(
		 z->db, "SELECT fts5(?1)", -1, &st, NULL)) != SQLITE_OK)
		goto fail;
	sqlite3_bind_pointer(st, 1, &api, "fts5_api_ptr", NULL);
	sqlite3_step(st);
	if ((rc = sqlite3_finalize(st)) != SQLITE_OK)
		goto fail;
	rc = SQLITE_ERROR;
	if (api == NULL || api->iVersion < 2)
		goto fail;
	z->mod = xcalloc(1, sizeof(*z->mod));
	if ((rc = api->xFindTokenizer(api, "unicode61", &z->mod->real_ctx,
		 &z->mod->real)) != SQLITE_OK ||
	    (rc = tok_create(z->mod, argv, argc, &z->tok)) != SQLITE_OK)
		goto fail;
	return z;
fail:
	set_cause(cause, "tokenizer: %s", sqlite3_errstr(rc));
	store_tokenizer_close(z);
	return NULL;
}

void
store_tokenizer_close(struct store_tokenizer *z)
{
	if (z == NULL)
		return;
	tok_delete(z->tok);
	free(z->mod);
	sqlite3_close(z->db);
	free(z);
}

int
store_tokenizer_run(struct store_tokenizer *z, const char *text, int len,
    void *ctx, int (*cb)(void *, int, const char *, int, int, int))
{
	return tok_tokenize(z->tok, ctx, FTS5_TOKENIZE_DOCUMENT, text, len, cb);
}
