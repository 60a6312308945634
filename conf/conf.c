/*
 * The configuration file: a [global] section and one [source NAME] section
 * per OAI-PMH endpoint, read with libinih and checked against conf_keys[]
 * (keys.c: the table, its setters and what else it drives).
 *
 * libinih splits "key = value" lines and strips inline " ;" comments.  Our
 * own line reader sits in front of it and does the rest: it counts lines
 * (Debian builds inih without INI_HANDLER_LINENO), drops a UTF-8 BOM,
 * comments and leading blanks, rejects control characters and overlong lines,
 * and parses section headers itself, because inih silently truncates section
 * names to 49 bytes and would take an indented line for a continuation of the
 * previous value.  Every error is "PATH:LINE: message" and parsing stops at
 * the first one.
 */

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ini.h>

#include "conf.h"
#include "keys.h"
#include "oh_limits.h"
#include "util.h"

/*
 * Longest line, in bytes: room for a MAX_URL_LEN base URL with its key and
 * a comment.  libinih copies each line into a buffer of ini_max_line bytes.
 */
#define CONF_MAX_LINE (2 * MAX_URL_LEN)

/* Source names: [A-Za-z0-9._-]{1,SOURCE_NAME_MAX}. */
#define SOURCE_NAME_MAX 64

/* A set of strings by hash, to find duplicates without quadratic scans. */
struct strset {
	const char **keys; /* borrowed from the conf */
	int	    *lines;
	size_t	     cap; /* a power of two, or 0 */
	size_t	     n;
};

enum conf_section {
	SECTION_NONE,
	SECTION_GLOBAL,
	SECTION_SOURCE,
};

struct parse {
	struct conf	 *conf;
	const char	 *name; /* path for messages */
	const char	 *text;
	size_t		  len;
	size_t		  pos;
	int		  lineno;
	enum conf_section section;
	int		  global_line;
	int		 *seen;	 /* line of each key, this
						   section (conf_nkeys) */
	struct strset	 *items; /* list items, this section */
	struct strset	  names; /* source names */
	char		 *cause;
};

/* Parsing */
static struct conf *conf_parse_buf(const char *, size_t, const char *, char **);
static char	   *conf_reader(char *, int, void *);
static int conf_handler(void *, const char *, const char *, const char *);
static int conf_set(struct parse *, const char *, const char *);
static int conf_section(struct parse *, const char *, size_t);
static int conf_section_end(struct parse *);
static int conf_source_add(struct parse *, const char *, size_t);
static int conf_error(struct parse *, int, const char *, ...)
    __printflike(3, 4);
static struct conf_source *conf_current(struct parse *);
static int		   check_name(const char *, size_t);

/* Helpers */
static void strset_free(struct strset *);
static int  strset_add(struct strset *, const char *, int);

/* Public */

struct conf *
conf_load(const char *path, char **cause)
{
	FILE	    *f;
	struct buf   b;
	struct conf *c;
	char	     chunk[8192];
	size_t	     n;
	int	     too_large = 0;

	if (cause != NULL)
		*cause = NULL;
	if ((f = fopen(path, "re")) == NULL) {
		if (cause != NULL)
			xasprintf(cause, "%s: cannot open: %s", path,
			    strerror(errno));
		return NULL;
	}
	buf_init(&b, MAX_CONF_BYTES);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (buf_add(&b, chunk, n) == -1) {
			too_large = 1;
			break;
		}
	}
	if (!too_large && ferror(f)) {
		if (cause != NULL)
			xasprintf(cause, "%s: cannot read: %s", path,
			    strerror(errno));
		fclose(f);
		buf_free(&b);
		return NULL;
	}
	fclose(f);
	if (too_large) {
		if (cause != NULL)
			xasprintf(cause,
			    "%s: file too large (more than %lu "
			    "bytes)",
			    path, (unsigned long)MAX_CONF_BYTES);
		buf_free(&b);
		return NULL;
	}
	c = conf_parse_buf(buf_str(&b), b.len, path, cause);
	buf_free(&b);
	return c;
}

struct conf *
conf_parse(const char *text, const char *name, char **cause)
{
	size_t len;

	if (cause != NULL)
		*cause = NULL;
	len = strlen(text);
	if (len > MAX_CONF_BYTES) {
		if (cause != NULL)
			xasprintf(cause,
			    "%s: file too large (more than %lu "
			    "bytes)",
			    name, (unsigned long)MAX_CONF_BYTES);
		return NULL;
	}
	return conf_parse_buf(text, len, name, cause);
}

const struct conf_source *
conf_source_find(const struct conf *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->nsources; i++)
		if (strcmp(c->sources[i].name, name) == 0)
			return &c->sources[i];
	return NULL;
}

int
conf_key_line(const struct conf *c, const char *name)
{
	size_t i;

	if (c->lines == NULL || conf_key_find(SCOPE_GLOBAL, name, &i) == NULL)
		return 0;
	return c->lines[i];
}

/* Parsing */

/* text may hold NUL bytes (from a file); the reader rejects them. */
static struct conf *
conf_parse_buf(const char *text, size_t len, const char *name, char **cause)
{
	struct parse p;
	size_t	     i;
	int	     rc;

	memset(&p, 0, sizeof(p));
	p.name = name;
	p.text = text;
	p.len = len;
	p.seen = xcalloc(conf_nkeys, sizeof(*p.seen));
	p.items = xcalloc(conf_nkeys, sizeof(*p.items));
	p.conf = xcalloc(1, sizeof(*p.conf));
	p.conf->path = xstrdup(name);
	conf_key_defaults(p.conf, SCOPE_GLOBAL);

	/*
	 * XXX ini_max_line is a run-time option of Debian's libinih build
	 * (INI_RUNTIME_OPTIONS); upstream's compile-time INI_MAX_LINE of 200
	 * would be too short for long base URLs.  The reader still checks
	 * whatever size inih offers.
	 */
	ini_max_line = CONF_MAX_LINE;
	rc = ini_parse_stream(conf_reader, &p, conf_handler, &p);
	if (p.cause == NULL && rc != 0)
		conf_error(&p, rc > 0 ? rc : p.lineno, "syntax error");
	if (p.cause == NULL)
		conf_section_end(&p);

	for (i = 0; i < conf_nkeys; i++)
		strset_free(&p.items[i]);
	free(p.items);
	free(p.seen);
	strset_free(&p.names);
	if (p.cause != NULL) {
		conf_free(p.conf);
		if (cause != NULL)
			*cause = p.cause;
		else
			free(p.cause);
		return NULL;
	}
	return p.conf;
}

/*
 * inih's fgets-like reader, called once per line.  Lines that inih need not
 * see (blank, comments, section headers) are handled here and handed on
 * empty, so that inih's line count and ours always agree.
 */
static char *
conf_reader(char *str, int num, void *arg)
{
	struct parse *p = arg;
	const char   *line, *end, *s;
	size_t	      len;
	int	      was_space;

	if (p->cause != NULL || p->pos >= p->len || num < 1)
		return NULL;
	line = p->text + p->pos;
	end = memchr(line, '\n', p->len - p->pos);
	if (end == NULL)
		end = p->text + p->len;
	p->pos = end - p->text + 1;
	p->lineno++;

	if (p->lineno == 1 && end - line >= 3 &&
	    memcmp(line, "\xef\xbb\xbf", 3) == 0)
		line += 3;
	/* Leading blanks mean nothing: there are no continuation lines. */
	while (line < end && isspace((unsigned char)*line))
		line++;
	while (end > line && isspace((unsigned char)end[-1]))
		end--;
	len = end - line;
	for (s = line; s < end; s++) {
		if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f) {
			conf_error(p, p->lineno, "control character 0x%02x",
			    (unsigned char)*s);
			return NULL;
		}
	}

	str[0] = '\0';
	if (len == 0 || *line == '#' || *line == ';')
		return str;
	if (*line == '[')
		return conf_section(p, line, len) == -1 ? NULL : str;
	if (len > (size_t)num - 1) {
		conf_error(p, p->lineno, "line longer than %d bytes", num - 1);
		return NULL;
	}
	/* The same scan inih makes, so that it never fails silently. */
	was_space = 0;
	for (s = line; s < end; s++) {
		if (*s == '=' || *s == ':' || (was_space && *s == ';'))
			break;
		was_space = isspace((unsigned char)*s);
	}
	if (s == end || *s == ';') {
		conf_error(p, p->lineno,
		    "expected \"key = value\", "
		    "\"[global]\" or \"[source NAME]\"");
		return NULL;
	}
	memcpy(str, line, len);
	str[len] = '\0';
	return str;
}

/* inih calls this for each "key = value"; the section is ours, not its. */
static int
conf_handler(void *arg, const char *section __unused, const char *name,
    const char *value)
{
	struct parse *p = arg;

	if (p->cause != NULL)
		return 0;
	return conf_set(p, name, value) == 0;
}

static int
conf_set(struct parse *p, const char *name, const char *value)
{
	const struct conf_key *k;
	enum conf_scope	       scope, other;
	size_t		       i;
	void		      *base;
	char		      *why = NULL;

	if (*name == '\0')
		return conf_error(p, p->lineno, "missing key before '='");
	if (p->section == SECTION_NONE)
		return conf_error(p, p->lineno,
		    "key \"%s\" outside a section "
		    "(put it under [global] or [source NAME])",
		    name);

	if (p->section == SECTION_GLOBAL) {
		scope = SCOPE_GLOBAL;
		other = SCOPE_SOURCE;
		base = p->conf;
	} else {
		scope = SCOPE_SOURCE;
		other = SCOPE_GLOBAL;
		base = conf_current(p);
	}
	if ((k = conf_key_find(scope, name, &i)) == NULL) {
		if (conf_key_find(other, name, NULL) != NULL)
			return conf_error(p, p->lineno,
			    "unknown key \"%s\" "
			    "(it belongs in %s)",
			    name,
			    scope == SCOPE_GLOBAL ? "a [source NAME] section" :
						    "[global]");
		return conf_error(p, p->lineno, "unknown key \"%s\"", name);
	}
	if (k->kind != KIND_LIST && p->seen[i] != 0)
		return conf_error(p, p->lineno,
		    "duplicate key \"%s\" (first "
		    "on line %d)",
		    name, p->seen[i]);
	if (*value == '\0')
		return conf_error(p, p->lineno, "%s: empty value", name);
	if (k->set(p, k, base, value, &why) == -1) {
		conf_error(p, p->lineno, "%s: %s", name, why);
		free(why);
		return -1;
	}
	if (p->seen[i] == 0)
		p->seen[i] = p->lineno;
	return 0;
}

/* A "[...]" line: end the previous section and start the next. */
static int
conf_section(struct parse *p, const char *line, size_t len)
{
	const char *end = line + len, *close, *s, *e;

	if ((close = memchr(line, ']', len)) == NULL)
		return conf_error(p, p->lineno,
		    "missing ']' in section "
		    "header");
	for (s = close + 1; s < end && isspace((unsigned char)*s); s++)
		;
	if (s < end && *s != ';' && *s != '#')
		return conf_error(p, p->lineno, "unexpected text after ']'");

	if (conf_section_end(p) == -1)
		return -1;

	for (s = line + 1; s < close && isspace((unsigned char)*s); s++)
		;
	for (e = close; e > s && isspace((unsigned char)e[-1]); e--)
		;
	if (e - s == 6 && memcmp(s, "global", 6) == 0) {
		if (p->global_line != 0)
			return conf_error(p, p->lineno,
			    "duplicate [global] "
			    "section (first on line %d)",
			    p->global_line);
		p->global_line = p->lineno;
		p->section = SECTION_GLOBAL;
		return 0;
	}
	if (e - s >= 6 && memcmp(s, "source", 6) == 0 &&
	    (e - s == 6 || isspace((unsigned char)s[6]))) {
		for (s += 6; s < e && isspace((unsigned char)*s); s++)
			;
		if (s == e)
			return conf_error(p, p->lineno,
			    "source section needs "
			    "a name: [source NAME]");
		return conf_source_add(p, s, e - s);
	}
	return conf_error(p, p->lineno,
	    "unknown section [%.*s] (expected "
	    "[global] or [source NAME])",
	    (int)(e - s > 80 ? 80 : e - s), s);
}

/* Checks and defaults that need the whole section. */
static int
conf_section_end(struct parse *p)
{
	const struct conf_key *k;
	struct conf_source    *src;
	char		    ***list;
	size_t		      *n, i;
	time_t		       from, until;
	enum oai_granularity   gran = GRAN_SECONDS;
	int		       line = 0, from_line = 0, until_line = 0;

	if (p->section == SECTION_SOURCE) {
		src = conf_current(p);
		for (i = 0; i < conf_nkeys; i++) {
			k = &conf_keys[i];
			if (k->scope != SCOPE_SOURCE)
				continue;
			if (k->required && p->seen[i] == 0)
				return conf_error(p, src->line,
				    "missing "
				    "required key \"%s\"",
				    k->name);
			if (k->kind == KIND_LIST && k->defstr != NULL) {
				list = (char ***)((char *)src + k->off);
				n = (size_t *)((char *)src + k->noff);
				if (*n == 0) {
					*list = xcalloc(1, sizeof(**list));
					(*list)[0] = xstrdup(k->defstr);
					*n = 1;
				}
			}
			if (strcmp(k->name, "from") == 0)
				from_line = p->seen[i];
			else if (strcmp(k->name, "until") == 0)
				until_line = p->seen[i];
		}
		if (src->from != NULL && src->until != NULL) {
			datestamp_parse(src->from, &from, NULL);
			datestamp_parse(src->until, &until, &gran);
			/* A day-granular until includes the whole day. */
			if (gran == GRAN_DAY)
				until += 86400 - 1;
			line = from_line > until_line ? from_line : until_line;
			if (from > until)
				return conf_error(p, line,
				    "from (%s) is later "
				    "than until (%s)",
				    src->from, src->until);
		}
	}
	/* Where [global]'s keys were set, for later messages about them. */
	if (p->section == SECTION_GLOBAL) {
		free(p->conf->lines);
		p->conf->lines = xcalloc(conf_nkeys, sizeof(*p->conf->lines));
		memcpy(p->conf->lines, p->seen, conf_nkeys * sizeof(*p->seen));
	}
	for (i = 0; i < conf_nkeys; i++)
		strset_free(&p->items[i]);
	memset(p->seen, 0, conf_nkeys * sizeof(*p->seen));
	p->section = SECTION_NONE;
	return 0;
}

static int
conf_source_add(struct parse *p, const char *name, size_t len)
{
	struct conf	   *c = p->conf;
	struct conf_source *src;
	char		   *copy;
	int		    first;

	if (!check_name(name, len))
		return conf_error(p, p->lineno,
		    "invalid source name "
		    "\"%.*s\" (1 to %d of A-Z a-z 0-9 . _ -)",
		    (int)(len > 80 ? 80 : len), name, SOURCE_NAME_MAX);
	if (c->nsources >= MAX_CONF_SOURCES)
		return conf_error(p, p->lineno,
		    "too many sources (at most "
		    "%d)",
		    MAX_CONF_SOURCES);
	c->sources = conf_grow(c->sources, c->nsources, sizeof(*c->sources));
	src = &c->sources[c->nsources];
	memset(src, 0, sizeof(*src));
	conf_key_defaults(src, SCOPE_SOURCE);
	copy = xstrndup(name, len);
	if ((first = strset_add(&p->names, copy, p->lineno)) != 0) {
		conf_error(p, p->lineno,
		    "duplicate source \"%s\" (first on "
		    "line %d)",
		    copy, first);
		free(copy);
		return -1;
	}
	src->name = copy;
	src->line = p->lineno;
	c->nsources++;
	p->section = SECTION_SOURCE;
	return 0;
}

/*
 * Set p->cause to "PATH:LINE: message" unless an earlier error did; messages
 * inside a source section name it.  Always returns -1.
 */
static int
conf_error(struct parse *p, int line, const char *fmt, ...)
{
	va_list ap;
	char   *msg;

	if (p->cause != NULL)
		return -1;
	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	if (p->section == SECTION_SOURCE)
		xasprintf(&p->cause, "%s:%d: source \"%s\": %s", p->name, line,
		    conf_current(p)->name, msg);
	else
		xasprintf(&p->cause, "%s:%d: %s", p->name, line, msg);
	free(msg);
	return -1;
}

static struct conf_source *
conf_current(struct parse *p)
{
	return &p->conf->sources[p->conf->nsources - 1];
}

static int
check_name(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > SOURCE_NAME_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		if (!((s[i] >= 'A' && s[i] <= 'Z') ||
			(s[i] >= 'a' && s[i] <= 'z') ||
			(s[i] >= '0' && s[i] <= '9') || s[i] == '.' ||
			s[i] == '_' || s[i] == '-'))
			return 0;
	}
	return 1;
}

/*
 * A list item of key k in this section: 0 when it is new, else the line it
 * was first given on.  item is borrowed: it must outlive the parse.
 */
int
conf_parse_item(struct parse *p, const struct conf_key *k, const char *item)
{
	return strset_add(&p->items[k - conf_keys], item, p->lineno);
}

/* Helpers */

static void
strset_free(struct strset *set)
{
	free(set->keys);
	free(set->lines);
	memset(set, 0, sizeof(*set));
}

/*
 * Add key (borrowed: it must outlive the set) unless an equal one is there.
 * Return 0 when added, else the line the first one was added at.
 */
static int
strset_add(struct strset *set, const char *key, int line)
{
	const char **okeys;
	int	    *olines;
	size_t	     ocap, i, j, mask;

	if ((set->n + 1) * 2 > set->cap) {
		okeys = set->keys;
		olines = set->lines;
		ocap = set->cap;
		set->cap = ocap == 0 ? 16 : ocap * 2;
		set->keys = xcalloc(set->cap, sizeof(*set->keys));
		set->lines = xcalloc(set->cap, sizeof(*set->lines));
		mask = set->cap - 1;
		for (i = 0; i < ocap; i++) {
			if (okeys[i] == NULL)
				continue;
			j = hash_add(HASH_INIT, okeys[i], strlen(okeys[i])) &
			    mask;
			while (set->keys[j] != NULL)
				j = (j + 1) & mask;
			set->keys[j] = okeys[i];
			set->lines[j] = olines[i];
		}
		free(okeys);
		free(olines);
	}
	mask = set->cap - 1;
	j = hash_add(HASH_INIT, key, strlen(key)) & mask;
	for (; set->keys[j] != NULL; j = (j + 1) & mask)
		if (strcmp(set->keys[j], key) == 0)
			return set->lines[j];
	set->keys[j] = key;
	set->lines[j] = line;
	set->n++;
	return 0;
}
