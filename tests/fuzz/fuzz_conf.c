/*
 * libFuzzer target for the configuration reader (conf/conf.c).
 *
 * The input, NUL-terminated, is given to conf_parse().  A failure must come
 * with a one-line cause that names the file ("fuzz.conf:LINE: ..."); a
 * success must hold values within the bounds conf.h and conf_keys[]
 * promise.  A broken invariant is a __builtin_trap().
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf.h"
#include "oh_limits.h"
#include "util.h"

#define NAME "fuzz.conf"

#define CHECK(x) \
	do { \
		if (!(x)) \
			__builtin_trap(); \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void check_conf(const struct conf *);
static void check_source(const struct conf *, const struct conf_source *);
static void check_list(char *const *, size_t);

static void
check_list(char *const *v, size_t n)
{
	size_t i;

	CHECK(n == 0 || v != NULL);
	for (i = 0; i < n; i++)
		CHECK(v[i] != NULL && v[i][0] != '\0' &&
		    strlen(v[i]) <= MAX_ID_LEN);
}

static void
check_source(const struct conf *c, const struct conf_source *s)
{
	size_t n, i;

	CHECK(s->name != NULL);
	n = strlen(s->name);
	CHECK(n >= 1 && n <= 64);
	for (i = 0; i < n; i++)
		CHECK((s->name[i] >= 'A' && s->name[i] <= 'Z') ||
		    (s->name[i] >= 'a' && s->name[i] <= 'z') ||
		    (s->name[i] >= '0' && s->name[i] <= '9') ||
		    s->name[i] == '.' || s->name[i] == '_' ||
		    s->name[i] == '-');
	/* Names are unique: the lookup finds this very source. */
	CHECK(conf_source_find(c, s->name) == s);
	CHECK(s->url != NULL && strlen(s->url) <= MAX_URL_LEN);
	CHECK(strncasecmp(s->url, "http://", 7) == 0 ||
	    strncasecmp(s->url, "https://", 8) == 0);
	CHECK(strpbrk(s->url, "?# \t") == NULL);
	CHECK(s->nprefixes >= 1);
	check_list(s->prefixes, s->nprefixes);
	check_list(s->sets, s->nsets);
	CHECK(s->interval >= 1 && s->interval <= 365LL * 86400);
	CHECK(s->delay_ms == -1 ||
	    (s->delay_ms >= 0 && s->delay_ms <= 3600LL * 1000));
	CHECK(s->enabled == 0 || s->enabled == 1);
	CHECK(s->from == NULL || datestamp_parse(s->from, NULL, NULL) == 0);
	CHECK(s->until == NULL || datestamp_parse(s->until, NULL, NULL) == 0);
	CHECK(s->reconcile >= -1 && s->reconcile <= 365LL * 86400);
	CHECK(s->overlap >= 0 && s->overlap <= 7LL * 86400);
	CHECK(s->line >= 1);
}

static void
check_conf(const struct conf *c)
{
	size_t i;

	CHECK(c->path != NULL && strcmp(c->path, NAME) == 0);
	CHECK(c->database != NULL && c->database[0] != '\0');
	CHECK(c->max_concurrent >= 1 && c->max_concurrent <= 1000);
	CHECK(c->delay_ms >= 0 && c->delay_ms <= 3600LL * 1000);
	CHECK(c->timeout >= 1 && c->timeout <= REQUEST_TIMEOUT);
	CHECK(c->max_response_bytes >= 1024 &&
	    c->max_response_bytes <= (long long)MAX_RESPONSE_BYTES);
	/* "host:port", or NULL for off. */
	CHECK(c->status_listen == NULL ||
	    (strlen(c->status_listen) <= 300 &&
		strrchr(c->status_listen, ':') != NULL &&
		strrchr(c->status_listen, ':') != c->status_listen));
	CHECK(c->changes_log == NULL || c->changes_log[0] != '\0');
	CHECK(c->nsources <= MAX_CONF_SOURCES);
	CHECK(c->nsources == 0 || c->sources != NULL);
	for (i = 0; i < c->nsources; i++)
		check_source(c, &c->sources[i]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf *c;
	char	    *text, *cause = NULL;

	text = xmalloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	c = conf_parse(text, NAME, &cause);
	if (c != NULL) {
		CHECK(cause == NULL);
		check_conf(c);
		conf_free(c);
	} else {
		CHECK(cause != NULL);
		CHECK(strncmp(cause, NAME ":", sizeof(NAME)) == 0);
		CHECK(strpbrk(cause, "\r\n") == NULL);
		free(cause);
	}
	free(text);
	return 0;
}
