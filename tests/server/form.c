/*
 * application/x-www-form-urlencoded arguments, from a query string or a POST
 * body.  '+' is a space and %XX a byte, as servlet containers decode them, so
 * that a harvester which sends a resumptionToken's '+' or '/' unencoded gets
 * what a real repository would give it: a different token.
 */
#include <stdlib.h>
#include <string.h>

#include "server.h"

static char *decode(const char *, size_t, const char **);

static char *
decode(const char *s, size_t len, const char **cause)
{
	char  *out, *o;
	size_t i;
	int    hi, lo;

	o = out = xmalloc(len + 1);
	for (i = 0; i < len; i++) {
		if (s[i] == '+') {
			*o++ = ' ';
			continue;
		}
		if (s[i] != '%') {
			*o++ = s[i];
			continue;
		}
		if (len - i < 3) {
			*cause = "truncated percent escape";
			free(out);
			return NULL;
		}
		if ((hi = hex_digit(s[i + 1])) == -1 ||
		    (lo = hex_digit(s[i + 2])) == -1) {
			*cause = "bad percent escape";
			free(out);
			return NULL;
		}
		if (hi == 0 && lo == 0) {
			*cause = "NUL byte in argument";
			free(out);
			return NULL;
		}
		*o++ = (char)(hi << 4 | lo);
		i += 2;
	}
	*o = '\0';
	return out;
}

/*
 * Split s into name=value pairs.  Empty pairs ("a=1&&b=2") are skipped; a
 * pair without '=' has the empty value.  Repeated names are kept, so that
 * the OAI layer can reject them.
 */
int
form_parse(struct form *f, const char *s, size_t len, const char **cause)
{
	const char *p, *end, *amp, *eq;
	char	   *name, *value;

	f->n = 0;
	if (len > SRV_MAX_QUERY) {
		*cause = "arguments too long";
		return -1;
	}
	for (p = s, end = s + len; p < end; p = amp + 1) {
		if ((amp = memchr(p, '&', end - p)) == NULL)
			amp = end;
		if (amp == p)
			continue;
		if (f->n == SRV_MAX_ARGS) {
			*cause = "too many arguments";
			goto fail;
		}
		if ((eq = memchr(p, '=', amp - p)) == NULL)
			eq = amp;
		if ((name = decode(p, eq - p, cause)) == NULL)
			goto fail;
		value = eq < amp ? decode(eq + 1, amp - eq - 1, cause) :
				   xstrdup("");
		if (value == NULL) {
			free(name);
			goto fail;
		}
		f->args[f->n].name = name;
		f->args[f->n].value = value;
		f->n++;
	}
	return 0;
fail:
	form_free(f);
	return -1;
}

void
form_free(struct form *f)
{
	size_t i;

	for (i = 0; i < f->n; i++) {
		free(f->args[i].name);
		free(f->args[i].value);
	}
	f->n = 0;
}

const char *
form_get(const struct form *f, const char *name)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		if (strcmp(f->args[i].name, name) == 0)
			return f->args[i].value;
	return NULL;
}

size_t
form_count(const struct form *f, const char *name)
{
	size_t i, n = 0;

	for (i = 0; i < f->n; i++)
		if (strcmp(f->args[i].name, name) == 0)
			n++;
	return n;
}
