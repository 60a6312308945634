/*
 * The configuration file: a [global] section and one [source NAME] section
 * per OAI-PMH endpoint, read with libinih and checked against conf_keys[].
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
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <ini.h>

#include "conf.h"
#include "oh_limits.h"
#include "util.h"

/*
 * Longest line, in bytes: room for a MAX_URL_LEN base URL with its key and
 * a comment.  libinih copies each line into a buffer of ini_max_line bytes.
 */
#define CONF_MAX_LINE		(2 * MAX_URL_LEN)

/* Bounds of the keys; conf_keys[] says which key uses which. */
#define SOURCE_NAME_MAX		64
#define CONCURRENT_MAX		1000
#define DELAY_MAX_MS		(3600LL * 1000)
#define INTERVAL_MIN		1LL	/* seconds: tests use short ones */
#define INTERVAL_MAX		(365LL * 86400)
#define AGENT_MAX		512
#define EMAIL_MAX		254
#define EMAIL_LOCAL_MAX		64
#define EMAIL_LABEL_MAX		63
#define HOST_NAME_MAX_LEN	253

#define CONF_DEFAULT_PREFIX	"oai_dc"

struct parse;
struct conf_key;

/* Where a key may appear. */
enum conf_scope {
	SCOPE_GLOBAL,
	SCOPE_SOURCE,
};

/* How the value is stored at the key's offset. */
enum conf_kind {
	KIND_STR,		/* char *, NULL when unset */
	KIND_LL,		/* long long */
	KIND_INT,		/* int */
	KIND_LIST,		/* char ** at off, size_t count at noff */
};

/* Parse value into the field; on error set *why (allocated). */
typedef int	(*conf_setter)(struct parse *, const struct conf_key *,
		    void *, const char *, char **);

struct conf_key {
	const char	*name;
	const char	*alias;		/* a second accepted name, or NULL */
	enum conf_scope	 scope;
	enum conf_kind	 kind;
	conf_setter	 set;
	size_t		 off;		/* in struct conf or conf_source */
	size_t		 noff;		/* KIND_LIST: the count */
	long long	 min;		/* numbers: bounds; */
	long long	 max;		/* strings and items: max length */
	long long	 def;		/* numbers: default */
	const char	*defstr;	/* strings and lists: default or NULL */
	int		 required;
	enum conf_apply	 apply;		/* when the daemon uses a new value */
};

/* Setters */
static int	set_path(struct parse *, const struct conf_key *, void *,
		    const char *, char **);
static int	set_agent(struct parse *, const struct conf_key *, void *,
		    const char *, char **);
static int	set_email(struct parse *, const struct conf_key *, void *,
		    const char *, char **);
static int	set_count(struct parse *, const struct conf_key *, void *,
		    const char *, char **);
static int	set_seconds(struct parse *, const struct conf_key *, void *,
		    const char *, char **);
static int	set_millis(struct parse *, const struct conf_key *, void *,
		    const char *, char **);
static int	set_size(struct parse *, const struct conf_key *, void *,
		    const char *, char **);
static int	set_bool(struct parse *, const struct conf_key *, void *,
		    const char *, char **);
static int	set_url(struct parse *, const struct conf_key *, void *,
		    const char *, char **);
static int	set_datestamp(struct parse *, const struct conf_key *, void *,
		    const char *, char **);
static int	set_prefixes(struct parse *, const struct conf_key *, void *,
		    const char *, char **);
static int	set_sets(struct parse *, const struct conf_key *, void *,
		    const char *, char **);
static int	set_listen(struct parse *, const struct conf_key *, void *,
		    const char *, char **);
static int	set_window(struct parse *, const struct conf_key *, void *,
		    const char *, char **);
static int	set_redirects(struct parse *, const struct conf_key *, void *,
		    const char *, char **);
static int	set_hosts(struct parse *, const struct conf_key *, void *,
		    const char *, char **);

#define G(f)	offsetof(struct conf, f)
#define S(f)	offsetof(struct conf_source, f)

/*
 * Every key the file may hold.  Numbers carry their default in def, strings
 * and lists in defstr; lists take their default only when no value was given.
 * apply says whether the daemon puts a new value in use at a reload or only
 * at a restart: a reload compares the old and new values of every key here
 * (conf_global_changed(), conf_source_changed()), so that a new key is
 * compared without another word.
 */
static const struct conf_key conf_keys[] = {
	{ "database", NULL, SCOPE_GLOBAL, KIND_STR, set_path,
	    G(database), 0, 1, PATH_MAX - 1, 0, CONF_DEFAULT_DB, 0,
	    CONF_RESTART },
	{ "user_agent", NULL, SCOPE_GLOBAL, KIND_STR, set_agent,
	    G(user_agent), 0, 1, AGENT_MAX, 0, NULL, 0, CONF_RESTART },
	{ "contact", NULL, SCOPE_GLOBAL, KIND_STR, set_email,
	    G(contact), 0, 3, EMAIL_MAX, 0, NULL, 0, CONF_RESTART },
	{ "ca_file", NULL, SCOPE_GLOBAL, KIND_STR, set_path,
	    G(ca_file), 0, 1, PATH_MAX - 1, 0, NULL, 0, CONF_RESTART },
	{ "max_concurrent", NULL, SCOPE_GLOBAL, KIND_LL, set_count,
	    G(max_concurrent), 0, 1, CONCURRENT_MAX, 4, NULL, 0, CONF_RELOAD },
	{ "delay", NULL, SCOPE_GLOBAL, KIND_LL, set_millis,
	    G(delay_ms), 0, 0, DELAY_MAX_MS, 1000, NULL, 0, CONF_RELOAD },
	{ "timeout", NULL, SCOPE_GLOBAL, KIND_LL, set_seconds,
	    G(timeout), 0, 1, REQUEST_TIMEOUT, REQUEST_TIMEOUT, NULL, 0,
	    CONF_RESTART },
	{ "max_response_bytes", NULL, SCOPE_GLOBAL, KIND_LL, set_size,
	    G(max_response_bytes), 0, 1024, (long long)MAX_RESPONSE_BYTES,
	    (long long)MAX_RESPONSE_BYTES, NULL, 0, CONF_RESTART },
	{ "retry_after_max", NULL, SCOPE_GLOBAL, KIND_LL, set_seconds,
	    G(retry_after_max), 0, 1, RETRY_AFTER_MAX, RETRY_AFTER_MAX, NULL, 0,
	    CONF_RESTART },
	{ "status_listen", NULL, SCOPE_GLOBAL, KIND_STR, set_listen,
	    G(status_listen), 0, 1, 300, 0, CONF_DEFAULT_LISTEN, 0,
	    CONF_RESTART },
	{ "changes_log", NULL, SCOPE_GLOBAL, KIND_STR, set_path,
	    G(changes_log), 0, 1, PATH_MAX - 1, 0, NULL, 0, CONF_RELOAD },
	{ "status_token_file", NULL, SCOPE_GLOBAL, KIND_STR, set_path,
	    G(status_token_file), 0, 1, PATH_MAX - 1, 0, NULL, 0,
	    CONF_RESTART },
	{ "status_hosts", "status_host", SCOPE_GLOBAL, KIND_LIST, set_hosts,
	    G(status_hosts), G(nstatus_hosts), 1, HOST_NAME_MAX_LEN, 0, NULL,
	    0, CONF_RELOAD },

	{ "url", NULL, SCOPE_SOURCE, KIND_STR, set_url,
	    S(url), 0, 0, MAX_URL_LEN, 0, NULL, 1, CONF_RELOAD },
	{ "metadata_prefix", "metadata_prefixes", SCOPE_SOURCE, KIND_LIST,
	    set_prefixes, S(prefixes), S(nprefixes), 1, MAX_ID_LEN, 0,
	    CONF_DEFAULT_PREFIX, 0, CONF_RELOAD },
	{ "set", "sets", SCOPE_SOURCE, KIND_LIST, set_sets,
	    S(sets), S(nsets), 1, MAX_ID_LEN, 0, NULL, 0, CONF_RELOAD },
	{ "interval", NULL, SCOPE_SOURCE, KIND_LL, set_seconds,
	    S(interval), 0, INTERVAL_MIN, INTERVAL_MAX, 86400, NULL, 0,
	    CONF_RELOAD },
	{ "from", NULL, SCOPE_SOURCE, KIND_STR, set_datestamp,
	    S(from), 0, 0, 0, 0, NULL, 0, CONF_RELOAD },
	{ "until", NULL, SCOPE_SOURCE, KIND_STR, set_datestamp,
	    S(until), 0, 0, 0, 0, NULL, 0, CONF_RELOAD },
	{ "delay", NULL, SCOPE_SOURCE, KIND_LL, set_millis,
	    S(delay_ms), 0, 0, DELAY_MAX_MS, -1, NULL, 0, CONF_RELOAD },
	{ "enabled", NULL, SCOPE_SOURCE, KIND_INT, set_bool,
	    S(enabled), 0, 0, 1, 1, NULL, 0, CONF_RELOAD },
	{ "reconcile", NULL, SCOPE_SOURCE, KIND_LL, set_seconds,
	    S(reconcile), 0, 0, INTERVAL_MAX, -1, NULL, 0, CONF_RELOAD },
	{ "overlap", NULL, SCOPE_SOURCE, KIND_LL, set_seconds,
	    S(overlap), 0, 0, 7 * 86400, 300, NULL, 0, CONF_RELOAD },
	{ "window", NULL, SCOPE_SOURCE, KIND_INT, set_window,
	    S(window), 0, 0, 3, 0, NULL, 0, CONF_RELOAD },
	{ "window_min", NULL, SCOPE_SOURCE, KIND_LL, set_seconds,
	    S(window_min), 0, 1, 366 * 86400, 86400, NULL, 0, CONF_RELOAD },
	{ "follow_redirects", NULL, SCOPE_SOURCE, KIND_INT, set_redirects,
	    S(follow_redirects), 0, 0, 1, 0, NULL, 0, CONF_RELOAD },
};
#define NKEYS	nitems(conf_keys)

#undef G
#undef S

static const struct {
	const char	*word;
	int		 value;
} conf_bools[] = {
	{ "yes", 1 }, { "no", 0 }, { "true", 1 }, { "false", 0 },
	{ "1", 1 }, { "0", 0 },
};

/* A set of strings by hash, to find duplicates without quadratic scans. */
struct strset {
	const char	**keys;		/* borrowed from the conf */
	int		 *lines;
	size_t		  cap;		/* a power of two, or 0 */
	size_t		  n;
};

enum conf_section {
	SECTION_NONE,
	SECTION_GLOBAL,
	SECTION_SOURCE,
};

struct parse {
	struct conf		*conf;
	const char		*name;		/* path for messages */
	const char		*text;
	size_t			 len;
	size_t			 pos;
	int			 lineno;
	enum conf_section	 section;
	int			 global_line;
	int			 seen[NKEYS];	/* line of each key, this
						   section */
	struct strset		 items[NKEYS];	/* list items, this section */
	struct strset		 names;		/* source names */
	char			*cause;
};

/* Parsing */
static struct conf *conf_parse_buf(const char *, size_t, const char *,
		    char **);
static char	*conf_reader(char *, int, void *);
static int	 conf_handler(void *, const char *, const char *,
		    const char *);
static int	 conf_set(struct parse *, const char *, const char *);
static int	 conf_section(struct parse *, const char *, size_t);
static int	 conf_section_end(struct parse *);
static int	 conf_source_add(struct parse *, const char *, size_t);
static int	 conf_error(struct parse *, int, const char *, ...)
		    __printflike(3, 4);
static struct conf_source *conf_current(struct parse *);
static const struct conf_key *conf_key_find(enum conf_scope, const char *,
		    size_t *);
static void	 conf_defaults(void *, enum conf_scope);

/* Values */
static int	 list_add(struct parse *, const struct conf_key *, void *,
		    const char *, char **, const char *,
		    int (*)(const char *, size_t, char **));
static int	 check_prefix(const char *, size_t, char **);
static int	 check_setspec(const char *, size_t, char **);
static int	 check_host(const char *, size_t, char **);
static int	 oai_unreserved(int);
static int	 check_name(const char *, size_t);
static int	 parse_millis(const char *, long long *, const char **);
static void	 fmt_millis(long long, char *, size_t);
static void	 fmt_size(long long, char *, size_t);
static char	*bad_char(int);

/* Comparing */
static int	 key_differs(const struct conf_key *, const void *,
		    const void *);
static void	 key_copy(const struct conf_key *, void *, const void *);
static char	*keys_changed(enum conf_scope, const void *, const void *,
		    int);

/* Helpers */
static void	 strset_free(struct strset *);
static int	 strset_add(struct strset *, const char *, int);
static void	*grow(void *, size_t, size_t);

/* Public */

struct conf *
conf_load(const char *path, char **cause)
{
	FILE		*f;
	struct buf	 b;
	struct conf	*c;
	char		 chunk[8192];
	size_t		 n;
	int		 too_large = 0;

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
			xasprintf(cause, "%s: file too large (more than %lu "
			    "bytes)", path, (unsigned long)MAX_CONF_BYTES);
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
	size_t	len;

	if (cause != NULL)
		*cause = NULL;
	len = strlen(text);
	if (len > MAX_CONF_BYTES) {
		if (cause != NULL)
			xasprintf(cause, "%s: file too large (more than %lu "
			    "bytes)", name, (unsigned long)MAX_CONF_BYTES);
		return NULL;
	}
	return conf_parse_buf(text, len, name, cause);
}

void
conf_free(struct conf *c)
{
	struct conf_source	*s;
	size_t			 i, j;

	if (c == NULL)
		return;
	for (i = 0; i < c->nsources; i++) {
		s = &c->sources[i];
		free(s->name);
		free(s->url);
		for (j = 0; j < s->nprefixes; j++)
			free(s->prefixes[j]);
		free(s->prefixes);
		for (j = 0; j < s->nsets; j++)
			free(s->sets[j]);
		free(s->sets);
		free(s->from);
		free(s->until);
	}
	free(c->sources);
	free(c->path);
	free(c->database);
	free(c->user_agent);
	free(c->contact);
	free(c->ca_file);
	free(c->status_listen);
	free(c->changes_log);
	free(c->status_token_file);
	for (i = 0; i < c->nstatus_hosts; i++)
		free(c->status_hosts[i]);
	free(c->status_hosts);
	free(c);
}

const struct conf_source *
conf_source_find(const struct conf *c, const char *name)
{
	size_t	i;

	for (i = 0; i < c->nsources; i++)
		if (strcmp(c->sources[i].name, name) == 0)
			return &c->sources[i];
	return NULL;
}

char *
conf_global_changed(const struct conf *a, const struct conf *b,
    enum conf_apply apply)
{
	return keys_changed(SCOPE_GLOBAL, a, b, (int)apply);
}

char *
conf_source_changed(const struct conf_source *a, const struct conf_source *b)
{
	return keys_changed(SCOPE_SOURCE, a, b, -1);
}

void
conf_global_keep(struct conf *dst, const struct conf *src,
    enum conf_apply apply)
{
	size_t	i;

	for (i = 0; i < NKEYS; i++)
		if (conf_keys[i].scope == SCOPE_GLOBAL &&
		    conf_keys[i].apply == apply)
			key_copy(&conf_keys[i], dst, src);
}

const char *
conf_key_name(size_t i, int *global, enum conf_apply *apply)
{
	if (i >= NKEYS)
		return NULL;
	if (global != NULL)
		*global = conf_keys[i].scope == SCOPE_GLOBAL;
	if (apply != NULL)
		*apply = conf_keys[i].apply;
	return conf_keys[i].name;
}

/* Parsing */

/* text may hold NUL bytes (from a file); the reader rejects them. */
static struct conf *
conf_parse_buf(const char *text, size_t len, const char *name, char **cause)
{
	struct parse	 p;
	size_t		 i;
	int		 rc;

	memset(&p, 0, sizeof(p));
	p.name = name;
	p.text = text;
	p.len = len;
	p.conf = xcalloc(1, sizeof(*p.conf));
	p.conf->path = xstrdup(name);
	conf_defaults(p.conf, SCOPE_GLOBAL);

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

	for (i = 0; i < NKEYS; i++)
		strset_free(&p.items[i]);
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
	struct parse	*p = arg;
	const char	*line, *end, *s;
	size_t		 len;
	int		 was_space;

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
		conf_error(p, p->lineno, "expected \"key = value\", "
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
	struct parse	*p = arg;

	if (p->cause != NULL)
		return 0;
	return conf_set(p, name, value) == 0;
}

static int
conf_set(struct parse *p, const char *name, const char *value)
{
	const struct conf_key	*k;
	enum conf_scope		 scope, other;
	size_t			 i;
	void			*base;
	char			*why = NULL;

	if (*name == '\0')
		return conf_error(p, p->lineno, "missing key before '='");
	if (p->section == SECTION_NONE)
		return conf_error(p, p->lineno, "key \"%s\" outside a section "
		    "(put it under [global] or [source NAME])", name);

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
			return conf_error(p, p->lineno, "unknown key \"%s\" "
			    "(it belongs in %s)", name, scope == SCOPE_GLOBAL ?
			    "a [source NAME] section" : "[global]");
		return conf_error(p, p->lineno, "unknown key \"%s\"", name);
	}
	if (k->kind != KIND_LIST && p->seen[i] != 0)
		return conf_error(p, p->lineno, "duplicate key \"%s\" (first "
		    "on line %d)", name, p->seen[i]);
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
	const char	*end = line + len, *close, *s, *e;

	if ((close = memchr(line, ']', len)) == NULL)
		return conf_error(p, p->lineno, "missing ']' in section "
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
			return conf_error(p, p->lineno, "duplicate [global] "
			    "section (first on line %d)", p->global_line);
		p->global_line = p->lineno;
		p->section = SECTION_GLOBAL;
		return 0;
	}
	if (e - s >= 6 && memcmp(s, "source", 6) == 0 &&
	    (e - s == 6 || isspace((unsigned char)s[6]))) {
		for (s += 6; s < e && isspace((unsigned char)*s); s++)
			;
		if (s == e)
			return conf_error(p, p->lineno, "source section needs "
			    "a name: [source NAME]");
		return conf_source_add(p, s, e - s);
	}
	return conf_error(p, p->lineno, "unknown section [%.*s] (expected "
	    "[global] or [source NAME])", (int)(e - s > 80 ? 80 : e - s), s);
}

/* Checks and defaults that need the whole section. */
static int
conf_section_end(struct parse *p)
{
	const struct conf_key	*k;
	struct conf_source	*src;
	char			***list;
	size_t			*n, i;
	time_t			 from, until;
	enum oai_granularity	 gran = GRAN_SECONDS;
	int			 line = 0, from_line = 0, until_line = 0;

	if (p->section == SECTION_SOURCE) {
		src = conf_current(p);
		for (i = 0; i < NKEYS; i++) {
			k = &conf_keys[i];
			if (k->scope != SCOPE_SOURCE)
				continue;
			if (k->required && p->seen[i] == 0)
				return conf_error(p, src->line, "missing "
				    "required key \"%s\"", k->name);
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
				return conf_error(p, line, "from (%s) is later "
				    "than until (%s)", src->from, src->until);
		}
	}
	for (i = 0; i < NKEYS; i++)
		strset_free(&p->items[i]);
	memset(p->seen, 0, sizeof(p->seen));
	p->section = SECTION_NONE;
	return 0;
}

static int
conf_source_add(struct parse *p, const char *name, size_t len)
{
	struct conf		*c = p->conf;
	struct conf_source	*src;
	char			*copy;
	int			 first;

	if (!check_name(name, len))
		return conf_error(p, p->lineno, "invalid source name "
		    "\"%.*s\" (1 to %d of A-Z a-z 0-9 . _ -)",
		    (int)(len > 80 ? 80 : len), name, SOURCE_NAME_MAX);
	if (c->nsources >= MAX_CONF_SOURCES)
		return conf_error(p, p->lineno, "too many sources (at most "
		    "%d)", MAX_CONF_SOURCES);
	c->sources = grow(c->sources, c->nsources, sizeof(*c->sources));
	src = &c->sources[c->nsources];
	memset(src, 0, sizeof(*src));
	conf_defaults(src, SCOPE_SOURCE);
	copy = xstrndup(name, len);
	if ((first = strset_add(&p->names, copy, p->lineno)) != 0) {
		conf_error(p, p->lineno, "duplicate source \"%s\" (first on "
		    "line %d)", copy, first);
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
	va_list	 ap;
	char	*msg;

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

static const struct conf_key *
conf_key_find(enum conf_scope scope, const char *name, size_t *idx)
{
	size_t	i;

	for (i = 0; i < NKEYS; i++) {
		if (conf_keys[i].scope != scope)
			continue;
		if (strcmp(conf_keys[i].name, name) == 0 ||
		    (conf_keys[i].alias != NULL &&
		    strcmp(conf_keys[i].alias, name) == 0)) {
			if (idx != NULL)
				*idx = i;
			return &conf_keys[i];
		}
	}
	return NULL;
}

static void
conf_defaults(void *base, enum conf_scope scope)
{
	const struct conf_key	*k;
	size_t			 i;

	for (i = 0; i < NKEYS; i++) {
		k = &conf_keys[i];
		if (k->scope != scope)
			continue;
		switch (k->kind) {
		case KIND_STR:
			*(char **)((char *)base + k->off) = k->defstr != NULL ?
			    xstrdup(k->defstr) : NULL;
			break;
		case KIND_LL:
			*(long long *)((char *)base + k->off) = k->def;
			break;
		case KIND_INT:
			*(int *)((char *)base + k->off) = (int)k->def;
			break;
		case KIND_LIST:
			break;
		}
	}
}

/* Values */

static int
set_path(struct parse *p __unused, const struct conf_key *k, void *base,
    const char *val, char **why)
{
	char	**field = (char **)((char *)base + k->off);

	if (strlen(val) > (size_t)k->max) {
		xasprintf(why, "longer than %lld bytes", k->max);
		return -1;
	}
	free(*field);
	*field = xstrdup(val);
	return 0;
}

/*
 * The status server's address: "host:port" with an IP literal or
 * localhost ("[::1]:port" for IPv6), or "off".  Port 0 picks a free one.
 */
static int
set_listen(struct parse *p, const struct conf_key *k, void *base,
    const char *val, char **why)
{
	char		**field = (char **)((char *)base + k->off);
	const char	 *colon, *errstr, *s;
	long long	  port;

	if (strcmp(val, "off") == 0) {
		free(*field);
		*field = NULL;
		return 0;
	}
	if ((colon = strrchr(val, ':')) == NULL || colon == val) {
		*why = xstrdup("not host:port (or off)");
		return -1;
	}
	if (parse_ll(colon + 1, 0, 65535, &port, &errstr) == -1) {
		xasprintf(why, "port %s", errstr);
		return -1;
	}
	for (s = val; s < colon; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
		    (*s >= 'A' && *s <= 'Z') || *s == '.' || *s == ':' ||
		    *s == '[' || *s == ']' || *s == '-')) {
			xasprintf(why, "%s in the address", bad_char(*s));
			return -1;
		}
	return set_path(p, k, base, val, why);
}

/* It goes into an HTTP header: printable ASCII only. */
static int
set_agent(struct parse *p, const struct conf_key *k, void *base,
    const char *val, char **why)
{
	const char	*s;

	for (s = val; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e) {
			xasprintf(why, "%s (printable ASCII only)",
			    bad_char(*s));
			return -1;
		}
	}
	return set_path(p, k, base, val, why);
}

/*
 * The From: header of every request: harvesting guidelines ask for an
 * address a repository manager can write to, so insist on one that at least
 * looks real: local@domain.tld without display names or comments.
 */
static int
set_email(struct parse *p, const struct conf_key *k, void *base,
    const char *val, char **why)
{
	const char	*at, *s, *label;
	size_t		 len;
	int		 ndots = 0;

	len = strlen(val);
	if ((at = strchr(val, '@')) == NULL || at == val ||
	    strchr(at + 1, '@') != NULL || at[1] == '\0')
		goto bad;
	if (len > (size_t)k->max || at - val > EMAIL_LOCAL_MAX)
		goto bad;
	if (*val == '.' || at[-1] == '.')
		goto bad;
	for (s = val; s < at; s++) {
		if (isalnum((unsigned char)*s) && (unsigned char)*s < 0x80)
			continue;
		if (strchr("!#$%&'*+/=?^_`{|}~.-", *s) == NULL)
			goto bad;
		if (*s == '.' && s[1] == '.')
			goto bad;
	}
	label = at + 1;
	for (s = at + 1;; s++) {
		if (*s == '.' || *s == '\0') {
			if (s == label || s - label > EMAIL_LABEL_MAX ||
			    *label == '-' || s[-1] == '-')
				goto bad;
			if (*s == '\0')
				break;
			ndots++;
			label = s + 1;
		} else if (!(isalnum((unsigned char)*s) &&
		    (unsigned char)*s < 0x80) && *s != '-')
			goto bad;
	}
	if (ndots == 0)
		goto bad;
	return set_path(p, k, base, val, why);
bad:
	*why = xstrdup("not an e-mail address (such as "
	    "admin@example.org)");
	return -1;
}

static int
set_count(struct parse *p __unused, const struct conf_key *k, void *base,
    const char *val, char **why)
{
	const char	*errstr;
	long long	 v;

	if (parse_ll(val, k->min, k->max, &v, &errstr) == -1) {
		if (strcmp(errstr, "too small") == 0 ||
		    strcmp(errstr, "too large") == 0)
			xasprintf(why, "%s (%lld to %lld)", errstr, k->min,
			    k->max);
		else
			*why = xstrdup("not a number");
		return -1;
	}
	*(long long *)((char *)base + k->off) = v;
	return 0;
}

/* A duration in whole seconds (parse_duration's units s m h d w). */
static int
set_seconds(struct parse *p __unused, const struct conf_key *k, void *base,
    const char *val, char **why)
{
	const char	*errstr;
	long long	 v;
	size_t		 len;
	char		 lo[32], hi[32];

	len = strlen(val);
	if (len > 2 && strcmp(val + len - 2, "ms") == 0) {
		*why = xstrdup("whole seconds only (use s, m, h, d or w)");
		return -1;
	}
	if (parse_duration(val, &v, &errstr) == -1) {
		if (strncmp(errstr, "unknown unit", 12) == 0)
			*why = xstrdup(errstr);
		else if (strcmp(errstr, "too small") == 0 ||
		    strcmp(errstr, "too large") == 0)
			goto range;
		else
			*why = xstrdup("not a duration (such as 90s, 15m, "
			    "6h, 1d or 2w)");
		return -1;
	}
	if (v < k->min || v > k->max)
		goto range;
	*(long long *)((char *)base + k->off) = v;
	return 0;
range:
	fmt_millis(k->min * 1000, lo, sizeof(lo));
	fmt_millis(k->max * 1000, hi, sizeof(hi));
	xasprintf(why, "out of range (%s to %s)", lo, hi);
	return -1;
}

/* A duration in milliseconds: "500ms", or parse_duration's units. */
static int
set_millis(struct parse *p __unused, const struct conf_key *k, void *base,
    const char *val, char **why)
{
	const char	*errstr;
	long long	 v;
	char		 lo[32], hi[32];

	if (parse_millis(val, &v, &errstr) == -1) {
		if (strncmp(errstr, "unknown unit", 12) == 0)
			xasprintf(why, "unknown unit (use ms, s, m, h, d or "
			    "w)");
		else if (strcmp(errstr, "too small") == 0 ||
		    strcmp(errstr, "too large") == 0)
			goto range;
		else
			*why = xstrdup("not a duration (such as 500ms, 2s "
			    "or 1m)");
		return -1;
	}
	if (v < k->min || v > k->max)
		goto range;
	*(long long *)((char *)base + k->off) = v;
	return 0;
range:
	fmt_millis(k->min, lo, sizeof(lo));
	fmt_millis(k->max, hi, sizeof(hi));
	xasprintf(why, "out of range (%s to %s)", lo, hi);
	return -1;
}

/* Bytes, with an optional binary K, M or G suffix. */
static int
set_size(struct parse *p __unused, const struct conf_key *k, void *base,
    const char *val, char **why)
{
	const char	*errstr;
	long long	 v, mult = 1;
	size_t		 len;
	char		 num[32], lo[32], hi[32];

	len = strlen(val);
	if (len >= sizeof(num))
		goto bad;
	memcpy(num, val, len + 1);
	switch (num[len - 1]) {
	case 'K':
	case 'k':
		mult = 1024;
		break;
	case 'M':
	case 'm':
		mult = 1024 * 1024;
		break;
	case 'G':
	case 'g':
		mult = 1024 * 1024 * 1024;
		break;
	default:
		if (!isdigit((unsigned char)num[len - 1]))
			goto bad;
		break;
	}
	if (mult != 1)
		num[len - 1] = '\0';
	if (parse_ll(num, 0, LLONG_MAX / mult, &v, &errstr) == -1) {
		if (strcmp(errstr, "too small") == 0 ||
		    strcmp(errstr, "too large") == 0)
			goto range;
		goto bad;
	}
	v *= mult;
	if (v < k->min || v > k->max)
		goto range;
	*(long long *)((char *)base + k->off) = v;
	return 0;
bad:
	*why = xstrdup("not a size (bytes, or with a K, M or G suffix such "
	    "as 64M)");
	return -1;
range:
	fmt_size(k->min, lo, sizeof(lo));
	fmt_size(k->max, hi, sizeof(hi));
	xasprintf(why, "out of range (%s to %s)", lo, hi);
	return -1;
}

static int
set_bool(struct parse *p __unused, const struct conf_key *k, void *base,
    const char *val, char **why)
{
	size_t	i;

	for (i = 0; i < nitems(conf_bools); i++) {
		if (strcasecmp(val, conf_bools[i].word) == 0) {
			*(int *)((char *)base + k->off) = conf_bools[i].value;
			return 0;
		}
	}
	*why = xstrdup("not a boolean (yes, no, true, false, 1 or 0)");
	return -1;
}

/* The unit of a source's date windows; the values are harvest/window.h's. */
static int
set_window(struct parse *p __unused, const struct conf_key *k, void *base,
    const char *val, char **why)
{
	static const char *const	 words[] = { "none", "year", "month",
	    "day" };
	size_t				 i;

	for (i = 0; i < nitems(words); i++) {
		if (strcasecmp(val, words[i]) == 0) {
			*(int *)((char *)base + k->off) = (int)i;
			return 0;
		}
	}
	*why = xstrdup("not a window (none, year, month or day)");
	return -1;
}

/* Where a redirect may lead: same-host (the default) or any. */
static int
set_redirects(struct parse *p __unused, const struct conf_key *k,
    void *base, const char *val, char **why)
{
	static const char *const	 words[] = { "same-host", "any" };
	size_t				 i;

	for (i = 0; i < nitems(words); i++) {
		if (strcasecmp(val, words[i]) == 0) {
			*(int *)((char *)base + k->off) = (int)i;
			return 0;
		}
	}
	*why = xstrdup("not a redirect policy (same-host or any)");
	return -1;
}

/*
 * An OAI-PMH base URL.  It takes no query or fragment: requests append
 * "?verb=..." themselves.
 */
static int
set_url(struct parse *p, const struct conf_key *k, void *base,
    const char *val, char **why)
{
	const char	*s, *auth, *slash, *host, *hostend, *port;
	const char	*errstr;
	long long	 v;
	char		 num[8];
	size_t		 len;

	len = strlen(val);
	if (len > (size_t)k->max) {
		xasprintf(why, "longer than %lld bytes", k->max);
		return -1;
	}
	if (strncasecmp(val, "http://", 7) == 0)
		auth = val + 7;
	else if (strncasecmp(val, "https://", 8) == 0)
		auth = val + 8;
	else {
		*why = xstrdup("must start with http:// or https://");
		return -1;
	}
	for (s = val; *s != '\0'; s++) {
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f) {
			xasprintf(why, "%s (percent-encode it)",
			    bad_char(*s));
			return -1;
		}
		if (*s == '?' || *s == '#') {
			xasprintf(why, "must not contain '%c' (OAI-PMH "
			    "requests add their own query)", *s);
			return -1;
		}
	}
	if ((slash = strchr(auth, '/')) == NULL)
		slash = auth + strlen(auth);
	/* Skip user information, if any, to the host. */
	host = auth;
	for (s = auth; s < slash; s++)
		if (*s == '@')
			host = s + 1;
	if (*host == '[') {
		hostend = memchr(host, ']', slash - host);
		if (hostend == NULL) {
			*why = xstrdup("unterminated IPv6 address");
			return -1;
		}
		hostend++;
		port = hostend;
		if (hostend - host == 2)
			hostend = host;
	} else {
		port = memchr(host, ':', slash - host);
		if (port == NULL)
			port = slash;
		hostend = port;
	}
	if (hostend == host) {
		*why = xstrdup("has no host");
		return -1;
	}
	if (port < slash) {
		if (*port != ':' || (size_t)(slash - port - 1) >= sizeof(num))
			goto badport;
		memcpy(num, port + 1, slash - port - 1);
		num[slash - port - 1] = '\0';
		if (parse_ll(num, 1, 65535, &v, &errstr) == -1)
			goto badport;
	}
	return set_path(p, k, base, val, why);
badport:
	*why = xstrdup("invalid port");
	return -1;
}

static int
set_datestamp(struct parse *p __unused, const struct conf_key *k, void *base,
    const char *val, char **why)
{
	char	**field = (char **)((char *)base + k->off);

	if (datestamp_parse(val, NULL, NULL) == -1) {
		*why = xstrdup("not a datestamp (YYYY-MM-DD or "
		    "YYYY-MM-DDThh:mm:ssZ)");
		return -1;
	}
	free(*field);
	*field = xstrdup(val);
	return 0;
}

static int
set_prefixes(struct parse *p, const struct conf_key *k, void *base,
    const char *val, char **why)
{
	return list_add(p, k, base, val, why, "metadata prefix",
	    check_prefix);
}

static int
set_sets(struct parse *p, const struct conf_key *k, void *base,
    const char *val, char **why)
{
	return list_add(p, k, base, val, why, "setSpec", check_setspec);
}

static int
set_hosts(struct parse *p, const struct conf_key *k, void *base,
    const char *val, char **why)
{
	return list_add(p, k, base, val, why, "host", check_host);
}

/*
 * Append the items of a comma- or blank-separated list; repeated keys append
 * too.  A duplicate is an error rather than dropped: it is most likely a
 * typo for another value.
 */
static int
list_add(struct parse *p, const struct conf_key *k, void *base,
    const char *val, char **why, const char *what,
    int (*check)(const char *, size_t, char **))
{
	struct strset	 *seen = &p->items[k - conf_keys];
	char		***list = (char ***)((char *)base + k->off);
	size_t		 *n = (size_t *)((char *)base + k->noff);
	const char	 *s = val, *t;
	char		 *item, *reason;
	int		  first;

	for (;;) {
		while (isspace((unsigned char)*s))
			s++;
		for (t = s; *t != '\0' && *t != ',' &&
		    !isspace((unsigned char)*t); t++)
			;
		if (t == s) {
			xasprintf(why, "empty %s in list", what);
			return -1;
		}
		if ((size_t)(t - s) > (size_t)k->max) {
			xasprintf(why, "%s longer than %lld bytes", what,
			    k->max);
			return -1;
		}
		if (check(s, t - s, &reason) == -1) {
			xasprintf(why, "%s \"%.*s\": %s", what,
			    (int)(t - s > 80 ? 80 : t - s), s, reason);
			free(reason);
			return -1;
		}
		item = xstrndup(s, t - s);
		if ((first = strset_add(seen, item, p->lineno)) != 0) {
			xasprintf(why, "%s \"%s\" listed twice (first on "
			    "line %d)", what, item, first);
			free(item);
			return -1;
		}
		*list = grow(*list, *n, sizeof(**list));
		(*list)[(*n)++] = item;

		for (s = t; isspace((unsigned char)*s); s++)
			;
		if (*s == '\0')
			return 0;
		if (*s == ',')
			s++;
	}
}

/*
 * A name the status server answers to in Host: a DNS name or an IP literal
 * ("[::1]" for IPv6), without a port.
 */
static int
check_host(const char *s, size_t len, char **why)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '.' ||
		    s[i] == '-' || (s[i] == ':' && s[0] == '[') ||
		    ((s[i] == '[' || s[i] == ']') && s[0] == '['))) {
			xasprintf(why, "%s (a host name without a port, or "
			    "[IPv6])", bad_char(s[i]));
			return -1;
		}
	}
	if (s[0] == '[' && (len < 3 || s[len - 1] != ']')) {
		*why = xstrdup("unterminated IPv6 address");
		return -1;
	}
	return 0;
}

/* OAI-PMH: metadataPrefix is one or more unreserved URI characters. */
static int
check_prefix(const char *s, size_t len, char **why)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		if (!oai_unreserved(s[i])) {
			xasprintf(why, "%s (allowed: A-Z a-z 0-9 - _ . ! ~ * "
			    "' ( ))", bad_char(s[i]));
			return -1;
		}
	}
	return 0;
}

/* A setSpec is a colon-separated list of unreserved-character names. */
static int
check_setspec(const char *s, size_t len, char **why)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		if (s[i] == ':') {
			if (i == 0 || i == len - 1 || s[i + 1] == ':') {
				*why = xstrdup("empty part between colons");
				return -1;
			}
		} else if (!oai_unreserved(s[i])) {
			xasprintf(why, "%s (allowed: A-Z a-z 0-9 - _ . ! ~ * "
			    "' ( ) and :)", bad_char(s[i]));
			return -1;
		}
	}
	return 0;
}

static int
oai_unreserved(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || (c != '\0' &&
	    strchr("-_.!~*'()", c) != NULL);
}

static int
check_name(const char *s, size_t len)
{
	size_t	i;

	if (len == 0 || len > SOURCE_NAME_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		if (!((s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '.' || s[i] == '_' || s[i] == '-'))
			return 0;
	}
	return 1;
}

static int
parse_millis(const char *s, long long *out, const char **errstr)
{
	char		num[32];
	size_t		len;
	long long	v;

	len = strlen(s);
	if (len > 2 && strcmp(s + len - 2, "ms") == 0) {
		if (len - 2 >= sizeof(num)) {
			*errstr = "too long";
			return -1;
		}
		memcpy(num, s, len - 2);
		num[len - 2] = '\0';
		return parse_ll(num, 0, LLONG_MAX, out, errstr);
	}
	/* parse_duration stops at 100 years: no overflow below. */
	if (parse_duration(s, &v, errstr) == -1)
		return -1;
	*out = v * 1000;
	return 0;
}

/* Milliseconds in the largest unit that divides them: "30m", "500ms". */
static void
fmt_millis(long long ms, char *out, size_t outsz)
{
	static const struct {
		const char	*unit;
		long long	 ms;
	} units[] = {
		{ "w", 7 * 86400000LL }, { "d", 86400000LL },
		{ "h", 3600000LL }, { "m", 60000LL }, { "s", 1000LL },
	};
	size_t	i;

	for (i = 0; i < nitems(units); i++) {
		if (ms != 0 && ms % units[i].ms == 0) {
			snprintf(out, outsz, "%lld%s", ms / units[i].ms,
			    units[i].unit);
			return;
		}
	}
	snprintf(out, outsz, ms == 0 ? "0" : "%lldms", ms);
}

static void
fmt_size(long long v, char *out, size_t outsz)
{
	if (v != 0 && v % (1024LL * 1024 * 1024) == 0)
		snprintf(out, outsz, "%lldG", v / (1024LL * 1024 * 1024));
	else if (v != 0 && v % (1024LL * 1024) == 0)
		snprintf(out, outsz, "%lldM", v / (1024LL * 1024));
	else if (v != 0 && v % 1024 == 0)
		snprintf(out, outsz, "%lldK", v / 1024);
	else
		snprintf(out, outsz, "%lld", v);
}

/* "invalid character 'x'" or "invalid byte 0xNN", in a static buffer. */
static char *
bad_char(int c)
{
	static char	msg[32];

	if ((unsigned char)c > 0x20 && (unsigned char)c < 0x7f)
		snprintf(msg, sizeof(msg), "invalid character '%c'", c);
	else
		snprintf(msg, sizeof(msg), "invalid byte 0x%02x",
		    (unsigned char)c);
	return msg;
}

/* Comparing */

/* Does key k hold other values at base a and base b? */
static int
key_differs(const struct conf_key *k, const void *a, const void *b)
{
	const char	*pa = (const char *)a + k->off;
	const char	*pb = (const char *)b + k->off;
	const char	*sa, *sb;
	char *const	*la, *const *lb;
	size_t		 na, nb, i;

	switch (k->kind) {
	case KIND_STR:
		sa = *(char *const *)pa;
		sb = *(char *const *)pb;
		if (sa == NULL || sb == NULL)
			return sa != sb;
		return strcmp(sa, sb) != 0;
	case KIND_LL:
		return *(const long long *)pa != *(const long long *)pb;
	case KIND_INT:
		return *(const int *)pa != *(const int *)pb;
	case KIND_LIST:
		la = *(char **const *)pa;
		lb = *(char **const *)pb;
		na = *(const size_t *)((const char *)a + k->noff);
		nb = *(const size_t *)((const char *)b + k->noff);
		if (na != nb)
			return 1;
		for (i = 0; i < na; i++)
			if (strcmp(la[i], lb[i]) != 0)
				return 1;
		return 0;
	}
	return 1;
}

/* Give dst the value src holds for key k. */
static void
key_copy(const struct conf_key *k, void *dst, const void *src)
{
	char		*d = (char *)dst + k->off;
	const char	*s = (const char *)src + k->off;
	char		**str, ***list, *const *from;
	size_t		 *n, i;

	switch (k->kind) {
	case KIND_STR:
		str = (char **)d;
		free(*str);
		*str = *(char *const *)s != NULL ?
		    xstrdup(*(char *const *)s) : NULL;
		break;
	case KIND_LL:
		*(long long *)d = *(const long long *)s;
		break;
	case KIND_INT:
		*(int *)d = *(const int *)s;
		break;
	case KIND_LIST:
		list = (char ***)d;
		n = (size_t *)((char *)dst + k->noff);
		for (i = 0; i < *n; i++)
			free((*list)[i]);
		free(*list);
		*n = *(const size_t *)((const char *)src + k->noff);
		from = *(char **const *)s;
		*list = xreallocarray(NULL, *n + 1, sizeof(char *));
		for (i = 0; i < *n; i++)
			(*list)[i] = xstrdup(from[i]);
		break;
	}
}

/*
 * The names of the keys of scope whose values differ between a and b (and
 * that are put in use as apply says, unless it is -1), ", "-separated.
 */
static char *
keys_changed(enum conf_scope scope, const void *a, const void *b, int apply)
{
	const struct conf_key	*k;
	struct buf		 names;
	char			*s;
	size_t			 i;

	buf_init(&names, SIZE_MAX / 4);
	for (i = 0; i < NKEYS; i++) {
		k = &conf_keys[i];
		if (k->scope != scope || (apply != -1 &&
		    (int)k->apply != apply) || !key_differs(k, a, b))
			continue;
		if (names.len > 0)
			buf_addstr(&names, ", ");
		buf_addstr(&names, k->name);
	}
	s = names.len > 0 ? xstrdup(buf_str(&names)) : NULL;
	buf_free(&names);
	return s;
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
	const char	**okeys;
	int		 *olines;
	size_t		  ocap, i, j, mask;

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

/* Make room for element n of an array that grows in powers of two. */
static void *
grow(void *array, size_t n, size_t size)
{
	if (n == 0)
		return xreallocarray(array, 1, size);
	if ((n & (n - 1)) == 0)
		return xreallocarray(array, n * 2, size);
	return array;
}
