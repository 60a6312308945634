/*
 * The configuration's keys: conf_keys[], the table of every key a config
 * file may hold (its scope, type, offset, bounds, default and whether a
 * reload puts it in use), the setters that parse and check each kind of
 * value, and what the table drives besides parsing a file: defaults, copies,
 * comparisons, freeing, and one key set from a command-line flag.  A new key
 * is a field in conf.h and a row here.
 */

#include <ctype.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf.h"
#include "keys.h"
#include "oh_limits.h"
#include "util.h"

/* Bounds of the keys; conf_keys[] says which key uses which. */
#define CONCURRENT_MAX	  1000
#define RETRIES_MAX	  100
#define DELAY_MAX_MS	  (3600LL * 1000)
#define INTERVAL_MIN	  1LL /* seconds: tests use short ones */
#define INTERVAL_MAX	  (365LL * 86400)
#define AGENT_MAX	  512
#define EMAIL_MAX	  254
#define EMAIL_LOCAL_MAX	  64
#define EMAIL_LABEL_MAX	  63
#define HOST_NAME_MAX_LEN 253
#define LEASE_TTL_MIN	  3LL /* seconds: renewed every third */
#define LEASE_TTL_MAX	  3600LL
#define NODE_NAME_MAX	  64
#define NATS_URL_MAX	  1024
#define NATS_SUBJECT_MAX  128

#define CONF_DEFAULT_PREFIX "oai_dc"

/* Setters */
static int set_path(
    struct parse *, const struct conf_key *, void *, const char *, char **);
static int set_agent(
    struct parse *, const struct conf_key *, void *, const char *, char **);
static int set_email(
    struct parse *, const struct conf_key *, void *, const char *, char **);
static int set_count(
    struct parse *, const struct conf_key *, void *, const char *, char **);
static int set_seconds(
    struct parse *, const struct conf_key *, void *, const char *, char **);
static int set_millis(
    struct parse *, const struct conf_key *, void *, const char *, char **);
static int set_size(
    struct parse *, const struct conf_key *, void *, const char *, char **);
static int set_bool(
    struct parse *, const struct conf_key *, void *, const char *, char **);
static int set_url(
    struct parse *, const struct conf_key *, void *, const char *, char **);
static int set_datestamp(
    struct parse *, const struct conf_key *, void *, const char *, char **);
static int set_prefixes(
    struct parse *, const struct conf_key *, void *, const char *, char **);
static int set_sets(
    struct parse *, const struct conf_key *, void *, const char *, char **);
static int set_listen(
    struct parse *, const struct conf_key *, void *, const char *, char **);
static int set_window(
    struct parse *, const struct conf_key *, void *, const char *, char **);
static int set_redirects(
    struct parse *, const struct conf_key *, void *, const char *, char **);
static int set_hosts(
    struct parse *, const struct conf_key *, void *, const char *, char **);
static int set_nats_url(
    struct parse *, const struct conf_key *, void *, const char *, char **);
static int set_subject(
    struct parse *, const struct conf_key *, void *, const char *, char **);
#define G(f) offsetof(struct conf, f)
#define S(f) offsetof(struct conf_source, f)

/*
 * Every key the file may hold.  Numbers carry their default in def, strings
 * and lists in defstr; lists take their default only when no value was given.
 * apply says whether the daemon puts a new value in use at a reload or only
 * at a restart: a reload compares the old and new values of every key here
 * (conf_global_compare(), conf_source_compare()), and conf_source_copy()
 * and conf_free() go through the table too, so that a new key is copied,
 * compared and freed without another word.
 */
const struct conf_key conf_keys[] = {
	{ "database", NULL, SCOPE_GLOBAL, KIND_STR, set_path, G(database), 0, 1,
	    PATH_MAX - 1, 0, CONF_DEFAULT_DB, 0, CONF_RESTART },
	{ "user_agent", NULL, SCOPE_GLOBAL, KIND_STR, set_agent, G(user_agent),
	    0, 1, AGENT_MAX, 0, NULL, 0, CONF_RESTART },
	{ "contact", NULL, SCOPE_GLOBAL, KIND_STR, set_email, G(contact), 0, 3,
	    EMAIL_MAX, 0, NULL, 0, CONF_RESTART },
	{ "ca_file", NULL, SCOPE_GLOBAL, KIND_STR, set_path, G(ca_file), 0, 1,
	    PATH_MAX - 1, 0, NULL, 0, CONF_RESTART },
	{ "max_concurrent", NULL, SCOPE_GLOBAL, KIND_LL, set_count,
	    G(max_concurrent), 0, 1, CONCURRENT_MAX, 4, NULL, 0, CONF_RELOAD },
	{ "delay", NULL, SCOPE_GLOBAL, KIND_LL, set_millis, G(delay_ms), 0, 0,
	    DELAY_MAX_MS, 1000, NULL, 0, CONF_RELOAD },
	{ "timeout", NULL, SCOPE_GLOBAL, KIND_LL, set_seconds, G(timeout), 0, 1,
	    REQUEST_TIMEOUT, REQUEST_TIMEOUT, NULL, 0, CONF_RESTART },
	{ "max_response_bytes", NULL, SCOPE_GLOBAL, KIND_LL, set_size,
	    G(max_response_bytes), 0, 1024, (long long)MAX_RESPONSE_BYTES,
	    (long long)MAX_RESPONSE_BYTES, NULL, 0, CONF_RESTART },
	{ "retry_after_max", NULL, SCOPE_GLOBAL, KIND_LL, set_seconds,
	    G(retry_after_max), 0, 1, RETRY_AFTER_MAX, RETRY_AFTER_MAX, NULL, 0,
	    CONF_RESTART },
	{ "retries", NULL, SCOPE_GLOBAL, KIND_LL, set_count, G(retries), 0, 0,
	    RETRIES_MAX, MAX_REQUEST_TRIES - 1, NULL, 0, CONF_RESTART },
	{ "retry_wait", NULL, SCOPE_GLOBAL, KIND_LL, set_millis,
	    G(retry_wait_ms), 0, 1, DELAY_MAX_MS, BACKOFF_BASE * 1000LL, NULL,
	    0, CONF_RESTART },
	{ "status_listen", NULL, SCOPE_GLOBAL, KIND_STR, set_listen,
	    G(status_listen), 0, 1, 300, 0, CONF_DEFAULT_LISTEN, 0,
	    CONF_RESTART },
	{ "changes_log", NULL, SCOPE_GLOBAL, KIND_STR, set_path, G(changes_log),
	    0, 1, PATH_MAX - 1, 0, NULL, 0, CONF_RELOAD },
	{ "changes_nats", NULL, SCOPE_GLOBAL, KIND_STR, set_nats_url,
	    G(changes_nats), 0, 1, NATS_URL_MAX, 0, NULL, 0, CONF_RELOAD },
	{ "changes_nats_subject", NULL, SCOPE_GLOBAL, KIND_STR, set_subject,
	    G(changes_nats_subject), 0, 1, NATS_SUBJECT_MAX, 0,
	    CONF_DEFAULT_NATS_SUBJECT, 0, CONF_RELOAD },
	{ "status_token_file", NULL, SCOPE_GLOBAL, KIND_STR, set_path,
	    G(status_token_file), 0, 1, PATH_MAX - 1, 0, NULL, 0,
	    CONF_RESTART },
	{ "status_hosts", "status_host", SCOPE_GLOBAL, KIND_LIST, set_hosts,
	    G(status_hosts), G(nstatus_hosts), 1, HOST_NAME_MAX_LEN, 0, NULL, 0,
	    CONF_RELOAD },
	{ "leases", NULL, SCOPE_GLOBAL, KIND_INT, set_bool, G(leases), 0, 0, 1,
	    0, NULL, 0, CONF_RESTART },
	{ "lease_ttl", NULL, SCOPE_GLOBAL, KIND_LL, set_seconds, G(lease_ttl),
	    0, LEASE_TTL_MIN, LEASE_TTL_MAX, 30, NULL, 0, CONF_RESTART },
	{ "node_name", NULL, SCOPE_GLOBAL, KIND_STR, set_agent, G(node_name), 0,
	    1, NODE_NAME_MAX, 0, NULL, 0, CONF_RESTART },

	{ "url", NULL, SCOPE_SOURCE, KIND_STR, set_url, S(url), 0, 0,
	    MAX_URL_LEN, 0, NULL, 1, CONF_RELOAD },
	{ "metadata_prefix", "metadata_prefixes", SCOPE_SOURCE, KIND_LIST,
	    set_prefixes, S(prefixes), S(nprefixes), 1, MAX_ID_LEN, 0,
	    CONF_DEFAULT_PREFIX, 0, CONF_RELOAD },
	{ "set", "sets", SCOPE_SOURCE, KIND_LIST, set_sets, S(sets), S(nsets),
	    1, MAX_ID_LEN, 0, NULL, 0, CONF_RELOAD },
	{ "interval", NULL, SCOPE_SOURCE, KIND_LL, set_seconds, S(interval), 0,
	    INTERVAL_MIN, INTERVAL_MAX, 86400, NULL, 0, CONF_RELOAD },
	{ "from", NULL, SCOPE_SOURCE, KIND_STR, set_datestamp, S(from), 0, 0, 0,
	    0, NULL, 0, CONF_RELOAD },
	{ "until", NULL, SCOPE_SOURCE, KIND_STR, set_datestamp, S(until), 0, 0,
	    0, 0, NULL, 0, CONF_RELOAD },
	{ "delay", NULL, SCOPE_SOURCE, KIND_LL, set_millis, S(delay_ms), 0, 0,
	    DELAY_MAX_MS, -1, NULL, 0, CONF_RELOAD },
	{ "enabled", NULL, SCOPE_SOURCE, KIND_INT, set_bool, S(enabled), 0, 0,
	    1, 1, NULL, 0, CONF_RELOAD },
	{ "reconcile", NULL, SCOPE_SOURCE, KIND_LL, set_seconds, S(reconcile),
	    0, 0, INTERVAL_MAX, -1, NULL, 0, CONF_RELOAD },
	{ "overlap", NULL, SCOPE_SOURCE, KIND_LL, set_seconds, S(overlap), 0, 0,
	    7 * 86400, 300, NULL, 0, CONF_RELOAD },
	{ "window", NULL, SCOPE_SOURCE, KIND_INT, set_window, S(window), 0, 0,
	    3, 0, NULL, 0, CONF_RELOAD },
	{ "window_min", NULL, SCOPE_SOURCE, KIND_LL, set_seconds, S(window_min),
	    0, 1, 366 * 86400, 86400, NULL, 0, CONF_RELOAD },
	{ "follow_redirects", NULL, SCOPE_SOURCE, KIND_INT, set_redirects,
	    S(follow_redirects), 0, 0, 1, 0, NULL, 0, CONF_RELOAD },
};
const size_t conf_nkeys = nitems(conf_keys);
#define NKEYS nitems(conf_keys)

#undef G
#undef S

static const struct {
	const char *word;
	int	    value;
} conf_bools[] = {
	{ "yes", 1 },
	{ "no", 0 },
	{ "true", 1 },
	{ "false", 0 },
	{ "1", 1 },
	{ "0", 0 },
};

/* Values */
static int   list_add(struct parse *, const struct conf_key *, void *,
      const char *, char **, const char *,
      int (*)(const char *, size_t, char **));
static int   check_prefix(const char *, size_t, char **);
static int   check_setspec(const char *, size_t, char **);
static int   check_host(const char *, size_t, char **);
static int   oai_unreserved(int);
static int   parse_millis(const char *, long long *, const char **);
static void  fmt_millis(long long, char *, size_t);
static void  fmt_size(long long, char *, size_t);
static char *bad_char(int);

/* Copying and comparing */
static int   key_differs(const struct conf_key *, const void *, const void *);
static void  key_copy(const struct conf_key *, void *, const void *);
static void  key_free(const struct conf_key *, void *);
static char *keys_changed(
    enum conf_scope, const void *, const void *, enum conf_apply);
static int keys_compare(
    enum conf_scope, const void *, const void *, struct conf_diff *);
static void keys_keep(enum conf_scope, void *, const void *, enum conf_apply);

/* Public */

struct conf *
conf_new(const char *name)
{
	struct conf *c;

	c = xcalloc(1, sizeof(*c));
	c->path = xstrdup(name);
	conf_key_defaults(c, SCOPE_GLOBAL);
	return c;
}

void
conf_free(struct conf *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nsources; i++)
		conf_source_clear(&c->sources[i]);
	free(c->sources);
	for (i = 0; i < NKEYS; i++)
		if (conf_keys[i].scope == SCOPE_GLOBAL)
			key_free(&conf_keys[i], c);
	free(c->path);
	free(c->lines);
	free(c);
}

void
conf_source_init(struct conf_source *s, const char *name)
{
	memset(s, 0, sizeof(*s));
	s->name = xstrdup(name);
	conf_key_defaults(s, SCOPE_SOURCE);
}

/* Every key of the table, so that a new key is copied without a word. */
void
conf_source_copy(struct conf_source *dst, const struct conf_source *src)
{
	size_t i;

	memset(dst, 0, sizeof(*dst));
	dst->name = xstrdup(src->name);
	dst->line = src->line;
	for (i = 0; i < NKEYS; i++)
		if (conf_keys[i].scope == SCOPE_SOURCE)
			key_copy(&conf_keys[i], dst, src);
}

void
conf_source_clear(struct conf_source *s)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (conf_keys[i].scope == SCOPE_SOURCE)
			key_free(&conf_keys[i], s);
	free(s->name);
	memset(s, 0, sizeof(*s));
}

int
conf_global_compare(
    const struct conf *a, const struct conf *b, struct conf_diff *d)
{
	return keys_compare(SCOPE_GLOBAL, a, b, d);
}

int
conf_source_compare(const struct conf_source *a, const struct conf_source *b,
    struct conf_diff *d)
{
	return keys_compare(SCOPE_SOURCE, a, b, d);
}

void
conf_diff_clear(struct conf_diff *d)
{
	free(d->reload);
	free(d->restart);
	memset(d, 0, sizeof(*d));
}

void
conf_global_keep(
    struct conf *dst, const struct conf *src, enum conf_apply apply)
{
	keys_keep(SCOPE_GLOBAL, dst, src, apply);
}

void
conf_source_keep(struct conf_source *dst, const struct conf_source *src,
    enum conf_apply apply)
{
	keys_keep(SCOPE_SOURCE, dst, src, apply);
}

/*
 * A command-line flag: the key's own setter, so the units, bounds and
 * messages are the config file's.  A key both scopes know (delay) is the
 * source's when there is one.  A list key appends, without the file's
 * check for a repeated item; an empty value is one empty item, as the
 * command line always took it (--set '': the whole repository, besides the
 * sets given).
 */
int
conf_set_key(struct conf *c, struct conf_source *s, const char *name,
    const char *value, char **why)
{
	const struct conf_key *k = NULL;
	void		      *base = NULL;
	char		    ***list;
	size_t		      *n;

	if (s != NULL && (k = conf_key_find(SCOPE_SOURCE, name, NULL)) != NULL)
		base = s;
	else if (c != NULL &&
	    (k = conf_key_find(SCOPE_GLOBAL, name, NULL)) != NULL)
		base = c;
	if (k == NULL) {
		xasprintf(why, "unknown key \"%s\"", name);
		return -1;
	}
	if (*value == '\0' && k->kind == KIND_LIST) {
		list = (char ***)((char *)base + k->off);
		n = (size_t *)((char *)base + k->noff);
		*list = conf_grow(*list, *n, sizeof(**list));
		(*list)[(*n)++] = xstrdup("");
		return 0;
	}
	if (*value == '\0') {
		*why = xstrdup("empty value");
		return -1;
	}
	return k->set(NULL, k, base, value, why);
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

/* Private to conf/ */

const struct conf_key *
conf_key_find(enum conf_scope scope, const char *name, size_t *idx)
{
	size_t i;

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

void
conf_key_defaults(void *base, enum conf_scope scope)
{
	const struct conf_key *k;
	size_t		       i;

	for (i = 0; i < NKEYS; i++) {
		k = &conf_keys[i];
		if (k->scope != scope)
			continue;
		switch (k->kind) {
		case KIND_STR:
			*(char **)((char *)base + k->off) =
			    k->defstr != NULL ? xstrdup(k->defstr) : NULL;
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

/* Make room for element n of an array that grows in powers of two. */
void *
conf_grow(void *array, size_t n, size_t size)
{
	if (n == 0)
		return xreallocarray(array, 1, size);
	if ((n & (n - 1)) == 0)
		return xreallocarray(array, n * 2, size);
	return array;
}

/* Values */

static int
set_path(struct parse *p __unused, const struct conf_key *k, void *base,
    const char *val, char **why)
{
	char **field = (char **)((char *)base + k->off);

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
	char	  **field = (char **)((char *)base + k->off);
	const char *colon, *errstr, *s;
	long long   port;

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

/*
 * The NATS server of the change feed: nats:// or tls://, [user:pass@ or
 * token@]host[:port].  The value is never echoed: it may hold a password.
 */
static int
set_nats_url(struct parse *p, const struct conf_key *k, void *base,
    const char *val, char **why)
{
	const char *s, *auth, *host, *port, *errstr;
	long long   v;

	if (strncasecmp(val, "nats://", 7) == 0)
		auth = val + 7;
	else if (strncasecmp(val, "tls://", 6) == 0)
		auth = val + 6;
	else {
		*why = xstrdup("must start with nats:// or tls://");
		return -1;
	}
	for (s = val; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f ||
		    (*s == '/' && s >= auth) || *s == '?' || *s == '#' ||
		    *s == ',') {
			xasprintf(
			    why, "%s (one server, no path)", bad_char(*s));
			return -1;
		}
	host = auth;
	for (s = auth; *s != '\0'; s++)
		if (*s == '@')
			host = s + 1;
	if (*host == '[')
		port = (s = strchr(host, ']')) != NULL && s[1] == ':' ? s + 2 :
									NULL;
	else
		port = (s = strrchr(host, ':')) != NULL ? s + 1 : NULL;
	if (*host == '\0' || *host == ':') {
		*why = xstrdup("has no host");
		return -1;
	}
	if (port != NULL && parse_ll(port, 1, 65535, &v, &errstr) == -1) {
		*why = xstrdup("invalid port");
		return -1;
	}
	return set_path(p, k, base, val, why);
}

/* Subject tokens [A-Za-z0-9_-]+ joined by dots: no wildcards. */
static int
set_subject(struct parse *p, const struct conf_key *k, void *base,
    const char *val, char **why)
{
	const char *s;

	for (s = val; *s != '\0'; s++) {
		if (*s == '.' && s > val && s[-1] != '.' && s[1] != '\0')
			continue;
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
			(*s >= 'A' && *s <= 'Z') || *s == '_' || *s == '-')) {
			xasprintf(why,
			    "%s (tokens of A-Z a-z 0-9 _ - joined by dots)",
			    bad_char(*s));
			return -1;
		}
	}
	return set_path(p, k, base, val, why);
}

/* It goes into an HTTP header: printable ASCII only. */
static int
set_agent(struct parse *p, const struct conf_key *k, void *base,
    const char *val, char **why)
{
	const char *s;

	for (s = val; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e) {
			xasprintf(
			    why, "%s (printable ASCII only)", bad_char(*s));
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
	const char *at, *s, *label;
	size_t	    len;
	int	    ndots = 0;

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
			       (unsigned char)*s < 0x80) &&
		    *s != '-')
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
	const char *errstr;
	long long   v;

	if (parse_ll(val, k->min, k->max, &v, &errstr) == -1) {
		if (strcmp(errstr, "too small") == 0 ||
		    strcmp(errstr, "too large") == 0)
			xasprintf(
			    why, "%s (%lld to %lld)", errstr, k->min, k->max);
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
	const char *errstr;
	long long   v;
	size_t	    len;
	char	    lo[32], hi[32];

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
	const char *errstr;
	long long   v;
	char	    lo[32], hi[32];

	if (parse_millis(val, &v, &errstr) == -1) {
		if (strncmp(errstr, "unknown unit", 12) == 0)
			xasprintf(why,
			    "unknown unit (use ms, s, m, h, d or "
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
	const char *errstr;
	long long   v, mult = 1;
	size_t	    len;
	char	    num[32], lo[32], hi[32];

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
	size_t i;

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
	static const char *const words[] = { "none", "year", "month", "day" };
	size_t			 i;

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
set_redirects(struct parse *p __unused, const struct conf_key *k, void *base,
    const char *val, char **why)
{
	static const char *const words[] = { "same-host", "any" };
	size_t			 i;

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
set_url(struct parse *p, const struct conf_key *k, void *base, const char *val,
    char **why)
{
	const char *s, *auth, *slash, *host, *hostend, *port;
	const char *errstr;
	long long   v;
	char	    num[8];
	size_t	    len;

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
			xasprintf(why, "%s (percent-encode it)", bad_char(*s));
			return -1;
		}
		if (*s == '?' || *s == '#') {
			xasprintf(why,
			    "must not contain '%c' (OAI-PMH "
			    "requests add their own query)",
			    *s);
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
	char **field = (char **)((char *)base + k->off);

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
	return list_add(p, k, base, val, why, "metadata prefix", check_prefix);
}

static int
set_sets(struct parse *p, const struct conf_key *k, void *base, const char *val,
    char **why)
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
 * too.  A duplicate in a file is an error rather than dropped: it is most
 * likely a typo for another value.  (A flag, p NULL, is not checked: the
 * command line always took a repeated --prefix.)
 */
static int
list_add(struct parse *p, const struct conf_key *k, void *base, const char *val,
    char **why, const char *what, int (*check)(const char *, size_t, char **))
{
	char	 ***list = (char ***)((char *)base + k->off);
	size_t	   *n = (size_t *)((char *)base + k->noff);
	const char *s = val, *t;
	char	   *item, *reason;
	int	    first;

	for (;;) {
		while (isspace((unsigned char)*s))
			s++;
		for (t = s;
		     *t != '\0' && *t != ',' && !isspace((unsigned char)*t);
		     t++)
			;
		if (t == s) {
			xasprintf(why, "empty %s in list", what);
			return -1;
		}
		if ((size_t)(t - s) > (size_t)k->max) {
			xasprintf(
			    why, "%s longer than %lld bytes", what, k->max);
			return -1;
		}
		if (check(s, t - s, &reason) == -1) {
			xasprintf(why, "%s \"%.*s\": %s", what,
			    (int)(t - s > 80 ? 80 : t - s), s, reason);
			free(reason);
			return -1;
		}
		item = xstrndup(s, t - s);
		if (p != NULL && (first = conf_parse_item(p, k, item)) != 0) {
			xasprintf(why,
			    "%s \"%s\" listed twice (first on "
			    "line %d)",
			    what, item, first);
			free(item);
			return -1;
		}
		*list = conf_grow(*list, *n, sizeof(**list));
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
	size_t i;

	for (i = 0; i < len; i++) {
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
			(s[i] >= 'A' && s[i] <= 'Z') ||
			(s[i] >= '0' && s[i] <= '9') || s[i] == '.' ||
			s[i] == '-' || (s[i] == ':' && s[0] == '[') ||
			((s[i] == '[' || s[i] == ']') && s[0] == '['))) {
			xasprintf(why,
			    "%s (a host name without a port, or "
			    "[IPv6])",
			    bad_char(s[i]));
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
	size_t i;

	for (i = 0; i < len; i++) {
		if (!oai_unreserved(s[i])) {
			xasprintf(why,
			    "%s (allowed: A-Z a-z 0-9 - _ . ! ~ * "
			    "' ( ))",
			    bad_char(s[i]));
			return -1;
		}
	}
	return 0;
}

/* A setSpec is a colon-separated list of unreserved-character names. */
static int
check_setspec(const char *s, size_t len, char **why)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (s[i] == ':') {
			if (i == 0 || i == len - 1 || s[i + 1] == ':') {
				*why = xstrdup("empty part between colons");
				return -1;
			}
		} else if (!oai_unreserved(s[i])) {
			xasprintf(why,
			    "%s (allowed: A-Z a-z 0-9 - _ . ! ~ * "
			    "' ( ) and :)",
			    bad_char(s[i]));
			return -1;
		}
	}
	return 0;
}

static int
oai_unreserved(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("-_.!~*'()", c) != NULL);
}

static int
parse_millis(const char *s, long long *out, const char **errstr)
{
	char	  num[32];
	size_t	  len;
	long long v;

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
		const char *unit;
		long long   ms;
	} units[] = {
		{ "w", 7 * 86400000LL },
		{ "d", 86400000LL },
		{ "h", 3600000LL },
		{ "m", 60000LL },
		{ "s", 1000LL },
	};
	size_t i;

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
	static char msg[32];

	if ((unsigned char)c > 0x20 && (unsigned char)c < 0x7f)
		snprintf(msg, sizeof(msg), "invalid character '%c'", c);
	else
		snprintf(
		    msg, sizeof(msg), "invalid byte 0x%02x", (unsigned char)c);
	return msg;
}

/* Copying and comparing */

/* Does key k hold other values at base a and base b? */
static int
key_differs(const struct conf_key *k, const void *a, const void *b)
{
	const char  *pa = (const char *)a + k->off;
	const char  *pb = (const char *)b + k->off;
	const char  *sa, *sb;
	char *const *la, *const *lb;
	size_t na, nb, i;

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
	char	   *d = (char *)dst + k->off;
	const char *s = (const char *)src + k->off;
	char **str, ***list, *const *from;
	size_t *n, i, count;

	switch (k->kind) {
	case KIND_STR:
		str = (char **)d;
		free(*str);
		*str = *(char *const *)s != NULL ? xstrdup(*(char *const *)s) :
						   NULL;
		break;
	case KIND_LL:
		*(long long *)d = *(const long long *)s;
		break;
	case KIND_INT:
		*(int *)d = *(const int *)s;
		break;
	case KIND_LIST:
		key_free(k, dst);
		list = (char ***)d;
		n = (size_t *)((char *)dst + k->noff);
		count = *(const size_t *)((const char *)src + k->noff);
		from = *(char **const *)s;
		/* Grown as list_add() grows it, so that it may append. */
		for (i = 0; i < count; i++) {
			*list = conf_grow(*list, i, sizeof(**list));
			(*list)[i] = xstrdup(from[i]);
		}
		*n = count;
		break;
	}
}

/* Let go of what key k holds at base, and unset it. */
static void
key_free(const struct conf_key *k, void *base)
{
	char   *p = (char *)base + k->off;
	char  **list;
	size_t *n, i;

	switch (k->kind) {
	case KIND_STR:
		free(*(char **)p);
		*(char **)p = NULL;
		break;
	case KIND_LL:
	case KIND_INT:
		break;
	case KIND_LIST:
		list = *(char ***)p;
		n = (size_t *)((char *)base + k->noff);
		for (i = 0; i < *n; i++)
			free(list[i]);
		free(list);
		*(char ***)p = NULL;
		*n = 0;
		break;
	}
}

/*
 * The names of the keys of scope whose values differ between a and b and
 * that are put in use as apply says, ", "-separated, or NULL.
 */
static char *
keys_changed(
    enum conf_scope scope, const void *a, const void *b, enum conf_apply apply)
{
	const struct conf_key *k;
	struct buf	       names;
	char		      *s;
	size_t		       i;

	buf_init(&names, SIZE_MAX / 4);
	for (i = 0; i < NKEYS; i++) {
		k = &conf_keys[i];
		if (k->scope != scope || k->apply != apply ||
		    !key_differs(k, a, b))
			continue;
		if (names.len > 0)
			buf_addstr(&names, ", ");
		buf_addstr(&names, k->name);
	}
	s = names.len > 0 ? xstrdup(buf_str(&names)) : NULL;
	buf_free(&names);
	return s;
}

/* Fill d; return 1 when any key differs, else 0. */
static int
keys_compare(
    enum conf_scope scope, const void *a, const void *b, struct conf_diff *d)
{
	d->reload = keys_changed(scope, a, b, CONF_RELOAD);
	d->restart = keys_changed(scope, a, b, CONF_RESTART);
	return d->reload != NULL || d->restart != NULL;
}

static void
keys_keep(
    enum conf_scope scope, void *dst, const void *src, enum conf_apply apply)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (conf_keys[i].scope == scope && conf_keys[i].apply == apply)
			key_copy(&conf_keys[i], dst, src);
}
