#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

/* Allocation */

void
fatal(const char *fmt, ...)
{
	va_list ap;
	int	saved = errno;

	va_start(ap, fmt);
	fputs("fatal: ", stderr);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, ": %s\n", strerror(saved));
	va_end(ap);
	exit(70);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("fatal: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(70);
}

void *
xmalloc(size_t size)
{
	void *p;

	if (size == 0)
		size = 1;
	if ((p = malloc(size)) == NULL)
		fatal("xmalloc: allocating %zu bytes", size);
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p;

	if (n == 0 || size == 0)
		n = size = 1;
	if ((p = calloc(n, size)) == NULL)
		fatal("xcalloc: allocating %zu * %zu bytes", n, size);
	return p;
}

void *
xreallocarray(void *old, size_t n, size_t size)
{
	void *p;

	if (n == 0 || size == 0)
		n = size = 1;
	if (size != 0 && n > SIZE_MAX / size)
		fatalx("xreallocarray: %zu * %zu overflows", n, size);
	if ((p = realloc(old, n * size)) == NULL)
		fatal("xreallocarray: allocating %zu * %zu bytes", n, size);
	return p;
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	char *p;

	if (n == SIZE_MAX)
		fatalx("xstrndup: too long");
	p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

int
xvasprintf(char **ret, const char *fmt, va_list ap)
{
	int n;

	n = vasprintf(ret, fmt, ap);
	if (n < 0 || *ret == NULL)
		fatal("xvasprintf");
	return n;
}

int
hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
xasprintf(char **ret, const char *fmt, ...)
{
	va_list ap;
	int	n;

	va_start(ap, fmt);
	n = xvasprintf(ret, fmt, ap);
	va_end(ap);
	return n;
}

/* Bounded buffers */

void
buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = b->cap = 0;
	b->max = max;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

/* buf_add() where the buffer must grow (or cannot). */
int
buf_add_grow(struct buf *b, const void *p, size_t n)
{
	size_t need, ncap;

	if (n > SIZE_MAX - b->len - 1)
		return -1;
	need = b->len + n + 1;
	if (need - 1 > b->max)
		return -1;
	if (need > b->cap) {
		ncap = b->cap ? b->cap : 64;
		while (ncap < need)
			ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
		b->data = xreallocarray(b->data, ncap, 1);
		b->cap = ncap;
	}
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int
buf_addstr(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	char   *s;
	int	n, r;

	va_start(ap, fmt);
	n = xvasprintf(&s, fmt, ap);
	va_end(ap);
	r = buf_add(b, s, (size_t)n);
	free(s);
	return r;
}

const char *
buf_str(const struct buf *b)
{
	return b->data != NULL ? b->data : "";
}

/* Numbers */

int
parse_ll(const char *s, long long min, long long max, long long *out,
    const char **errstr)
{
	char	 *end;
	long long v;

	if (s == NULL || *s == '\0') {
		*errstr = "empty";
		return -1;
	}
	if (*s == ' ' || *s == '\t' || *s == '+') {
		*errstr = "invalid";
		return -1;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end != '\0') {
		*errstr = "invalid";
		return -1;
	}
	if ((errno == ERANGE && v == LLONG_MIN) || v < min) {
		*errstr = "too small";
		return -1;
	}
	if ((errno == ERANGE && v == LLONG_MAX) || v > max) {
		*errstr = "too large";
		return -1;
	}
	*out = v;
	return 0;
}

int
parse_duration(const char *s, long long *out, const char **errstr)
{
	static const struct {
		char	  suffix;
		long long mult;
	} units[] = {
		{ 's', 1 },
		{ 'm', 60 },
		{ 'h', 3600 },
		{ 'd', 86400 },
		{ 'w', 7 * 86400 },
	};
	char	  num[32];
	size_t	  len, i;
	long long mult = 1, v;

	if (s == NULL || (len = strlen(s)) == 0) {
		*errstr = "empty";
		return -1;
	}
	if (len >= sizeof(num)) {
		*errstr = "too long";
		return -1;
	}
	memcpy(num, s, len + 1);
	if (num[len - 1] < '0' || num[len - 1] > '9') {
		for (i = 0; i < nitems(units); i++)
			if (num[len - 1] == units[i].suffix)
				break;
		if (i == nitems(units)) {
			*errstr = "unknown unit (use s, m, h, d or w)";
			return -1;
		}
		mult = units[i].mult;
		num[len - 1] = '\0';
	}
	if (parse_ll(num, 0, 100LL * 365 * 86400 / mult, &v, errstr) == -1)
		return -1;
	*out = v * mult;
	return 0;
}

/* Datestamps */

/* The years 0001 to 9999, in seconds since the epoch. */
#define DS_MIN (-62135596800LL) /* 0001-01-01T00:00:00Z */
#define DS_MAX 253402300799LL	/* 9999-12-31T23:59:59Z */
/* Longer than any form read, with room for long fractions of a second. */
#define DS_MAX_LEN 64

/* n decimal digits at s (stops at the first non-digit, NUL included). */
static int
digits(const char *s, int n, int *out)
{
	int i, v = 0;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/*
 * Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (Howard Hinnant's days_from_civil): plain arithmetic, unlike timegm().
 */
static long long
days_from_civil(int y, int m, int d)
{
	long long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/*
 * hh:mm[:ss[.f...]] (extended) or hhmm[ss[.f...]] (basic) at *pp; moves
 * *pp past it.  *sec is -1 when there were no seconds.
 */
static int
ds_time(const char **pp, int basic, int *h, int *mi, int *sec, int *frac)
{
	const char *p = *pp;

	*sec = -1;
	*frac = 0;
	if (digits(p, 2, h) == -1)
		return -1;
	p += 2;
	if (!basic && *p++ != ':')
		return -1;
	if (digits(p, 2, mi) == -1)
		return -1;
	p += 2;
	if (basic ? *p >= '0' && *p <= '9' : *p == ':') {
		if (!basic)
			p++;
		if (digits(p, 2, sec) == -1)
			return -1;
		p += 2;
		if (*p == '.') {
			p++;
			if (*p < '0' || *p > '9')
				return -1;
			while (*p >= '0' && *p <= '9')
				p++;
			*frac = 1;
		}
	}
	*pp = p;
	return 0;
}

/* Z, +hh, +hhmm, +hh:mm (or -) at p, or nothing: the offset in seconds. */
static int
ds_zone(const char *p, int *off, int *zulu)
{
	int sign, oh, om = 0;

	*off = 0;
	*zulu = 0;
	if (*p == '\0')
		return 0;
	if (*p == 'Z') {
		*zulu = 1;
		return p[1] == '\0' ? 0 : -1;
	}
	if (*p != '+' && *p != '-')
		return -1;
	sign = *p++ == '-' ? -1 : 1;
	if (digits(p, 2, &oh) == -1)
		return -1;
	p += 2;
	if (*p != '\0') {
		if (*p == ':')
			p++;
		if (digits(p, 2, &om) == -1)
			return -1;
		p += 2;
	}
	if (*p != '\0' || oh > 23 || om > 59)
		return -1;
	*off = sign * (oh * 3600 + om * 60);
	return 0;
}

int
datestamp_read(
    const char *s, time_t *t, enum oai_granularity *gran, int *canonical)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30,
		31 };
	const char	*p;
	long long	 v;
	size_t		 len;
	int		 y, mo, d, h = 0, mi = 0, sec = 0, frac = 0, off = 0;
	int		 basic, zulu = 0, day, canon;

	if (s == NULL || (len = strnlen(s, DS_MAX_LEN + 1)) > DS_MAX_LEN)
		return -1;
	/* YYYY-MM-DD or YYYYMMDD. */
	if (digits(s, 4, &y) == -1)
		return -1;
	basic = s[4] != '-';
	p = s + (basic ? 4 : 5);
	if (digits(p, 2, &mo) == -1)
		return -1;
	p += 2;
	if (!basic && *p++ != '-')
		return -1;
	if (digits(p, 2, &d) == -1)
		return -1;
	p += 2;
	/* Then nothing, or T (or a space), a time and maybe a zone. */
	day = *p == '\0';
	if (!day) {
		if (*p != 'T' && *p != ' ')
			return -1;
		p++;
		if (ds_time(&p, basic, &h, &mi, &sec, &frac) == -1 ||
		    ds_zone(p, &off, &zulu) == -1)
			return -1;
	}
	canon = !basic &&
	    (day ? len == 10 :
		   len == 20 && s[10] == 'T' && zulu && sec >= 0 && sec < 60 &&
			!frac);
	if (sec < 0)
		sec = 0;
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
	    h > 23 || mi > 59 || sec > 60)
		return -1;
	if (mo == 2 && d == 29 &&
	    !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return -1;
	/* A leap second is the second before it. */
	if (sec == 60)
		sec = 59;
	v = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off;
	if (v < DS_MIN || v > DS_MAX)
		return -1;
	if (t != NULL)
		*t = (time_t)v;
	if (gran != NULL)
		*gran = day ? GRAN_DAY : GRAN_SECONDS;
	if (canonical != NULL)
		*canonical = canon;
	return 0;
}

int
datestamp_parse(const char *s, time_t *t, enum oai_granularity *gran)
{
	int canon;

	if (datestamp_read(s, t, gran, &canon) == -1 || !canon)
		return -1;
	return 0;
}

/* v as n decimal digits at p. */
static void
put_digits(char *p, int n, int v)
{
	while (n-- > 0) {
		p[n] = '0' + v % 10;
		v /= 10;
	}
}

void
datestamp_format(time_t t, enum oai_granularity gran, char *out)
{
	struct tm tm;

	/* Four digits of year, always (strftime's %Y does not pad them). */
	if (t < DS_MIN)
		t = DS_MIN;
	else if (t > DS_MAX)
		t = DS_MAX;
	gmtime_r(&t, &tm);
	put_digits(out, 4, tm.tm_year + 1900);
	out[4] = '-';
	put_digits(out + 5, 2, tm.tm_mon + 1);
	out[7] = '-';
	put_digits(out + 8, 2, tm.tm_mday);
	if (gran == GRAN_DAY) {
		out[10] = '\0';
		return;
	}
	out[10] = 'T';
	put_digits(out + 11, 2, tm.tm_hour);
	out[13] = ':';
	put_digits(out + 14, 2, tm.tm_min);
	out[16] = ':';
	put_digits(out + 17, 2, tm.tm_sec);
	out[19] = 'Z';
	out[20] = '\0';
}

void
datestamp_now(char *out)
{
	datestamp_format(time(NULL), GRAN_SECONDS, out);
}

/* JSON */

/* Length of the valid UTF-8 sequence at s, or 0 when it is not valid. */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t	 len, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

int
json_add_string(struct buf *b, const char *s, size_t len)
{
	static const char    hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t		     i, start, n;
	char		     esc[7];

	if (len == (size_t)-1)
		len = strlen(s);
	if (buf_addch(b, '"') == -1)
		return -1;
	start = 0;
	for (i = 0; i < len;) {
		if (p[i] >= 0x20 && p[i] != '"' && p[i] != '\\' &&
		    p[i] < 0x80) {
			i++;
			continue;
		}
		if (p[i] >= 0x80 && (n = utf8_seq(p + i, len - i)) > 0) {
			i += n;
			continue;
		}
		if (buf_add(b, s + start, i - start) == -1)
			return -1;
		if (p[i] >= 0x80) {
			if (buf_addstr(b, "\\ufffd") == -1)
				return -1;
		} else {
			switch (p[i]) {
			case '"':
				memcpy(esc, "\\\"", 3);
				break;
			case '\\':
				memcpy(esc, "\\\\", 3);
				break;
			case '\n':
				memcpy(esc, "\\n", 3);
				break;
			case '\r':
				memcpy(esc, "\\r", 3);
				break;
			case '\t':
				memcpy(esc, "\\t", 3);
				break;
			default:
				memcpy(esc, "\\u00", 4);
				esc[4] = hex[p[i] >> 4];
				esc[5] = hex[p[i] & 0xf];
				esc[6] = '\0';
				break;
			}
			if (buf_addstr(b, esc) == -1)
				return -1;
		}
		i++;
		start = i;
	}
	if (buf_add(b, s + start, i - start) == -1)
		return -1;
	return buf_addch(b, '"');
}

/* Hash */

uint64_t
hash_add(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t		     i;

	for (i = 0; i < n; i++) {
		h ^= s[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *
url_authority(const char *url, size_t *len)
{
	const char *p;

	p = strstr(url, "://");
	p = p != NULL ? p + 3 : url;
	*len = strcspn(p, "/?#");
	return p;
}

char *
url_redact(const char *url)
{
	const char *a, *at, *colon;
	size_t	    alen;
	char	   *out;

	a = url_authority(url, &alen);
	/* The last '@' of the authority ends the userinfo. */
	for (at = a + alen; at > a && at[-1] != '@'; at--)
		;
	if (at == a)
		return xstrdup(url);
	at--;
	if ((colon = memchr(a, ':', (size_t)(at - a))) == NULL)
		return xstrdup(url);
	xasprintf(&out, "%.*s:***%s", (int)(colon - url), url, at);
	return out;
}
