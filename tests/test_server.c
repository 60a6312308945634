/*
 * The test OAI-PMH server, tested over HTTP: start $OH_BUILD/oaiserver (by
 * default build/asan) on 127.0.0.1 with a port file in a temporary
 * directory, ask it with libcurl, stop it with SIGTERM and require exit 0
 * (which under ASan also means no leaks).
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <libxml/parser.h>
#include <zlib.h>

#include "util.h"

#define MAX_BODY      (64UL * 1024 * 1024)
#define MAX_SERVERS   4
#define START_WAIT_MS 20000
#define STOP_WAIT_MS  20000

struct srv {
	pid_t pid;
	int   port;
	char  dir[64];
	char  base[64]; /* http://127.0.0.1:PORT */
};

struct fixture {
	struct srv srv[MAX_SERVERS];
};

/* One walk over a whole list, page by page. */
struct walk {
	size_t	   items;
	size_t	   pages;
	size_t	   deleted;
	size_t	   metadata;
	long long  size; /* completeListSize */
	struct buf ids;	 /* identifiers, one per line */
};

struct token {
	int	  present;
	int	  empty;
	long long size;
	long long cursor;
	char	  text[1024];
};

/* A dump line, picked apart. */
struct drec {
	char  id[64];
	char  ds[32];
	int   deleted;
	char *line;
};

/* Helpers */

static void
sleep_ms(long ms)
{
	struct timespec ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	nanosleep(&ts, NULL);
}

static void
print_log(const struct srv *s)
{
	char  path[128], line[512];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/server.log", s->dir);
	if ((fp = fopen(path, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), fp) != NULL)
		fprintf(stderr, "server: %s", line);
	fclose(fp);
}

static void
srv_cleanup(struct srv *s)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/port", s->dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/server.log", s->dir);
	unlink(path);
	rmdir(s->dir);
	s->pid = 0;
}

static void
srv_start(struct srv *s, const char *const *args)
{
	const char *build, *argv[40], *errstr;
	char	    bin[PATH_MAX], portfile[128], logfile[128], num[32];
	long long   port;
	size_t	    n = 0, len;
	int	    fd, status, i;
	FILE	   *fp;

	if ((build = getenv("OH_BUILD")) == NULL || *build == '\0')
		build = "build/asan";
	snprintf(bin, sizeof(bin), "%s/oaiserver", build);
	if (access(bin, X_OK) == -1)
		fail_msg(
		    "%s: %s (build it, or set OH_BUILD)", bin, strerror(errno));
	snprintf(s->dir, sizeof(s->dir), "/tmp/oh-test-server.XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(portfile, sizeof(portfile), "%s/port", s->dir);
	snprintf(logfile, sizeof(logfile), "%s/server.log", s->dir);

	argv[n++] = bin;
	argv[n++] = "--port-file";
	argv[n++] = portfile;
	for (; args != NULL && *args != NULL && n + 1 < nitems(argv); args++)
		argv[n++] = *args;
	argv[n] = NULL;

	fflush(stdout);
	fflush(stderr);
	s->pid = fork();
	assert_true(s->pid != -1);
	if (s->pid == 0) {
		if ((fd = open("/dev/null", O_WRONLY)) != -1)
			dup2(fd, STDOUT_FILENO);
		if ((fd = open(logfile, O_WRONLY | O_CREAT | O_TRUNC, 0644)) !=
		    -1)
			dup2(fd, STDERR_FILENO);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	for (i = 0; i < START_WAIT_MS / 20; i++) {
		if ((fp = fopen(portfile, "r")) != NULL) {
			len = fread(num, 1, sizeof(num) - 1, fp);
			fclose(fp);
			num[len] = '\0';
			assert_true(len > 1 && num[len - 1] == '\n');
			num[len - 1] = '\0';
			assert_int_equal(
			    parse_ll(num, 1, 65535, &port, &errstr), 0);
			s->port = (int)port;
			snprintf(s->base, sizeof(s->base),
			    "http://127.0.0.1:%d", s->port);
			return;
		}
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			s->pid = 0;
			print_log(s);
			fail_msg("oaiserver exited before listening");
		}
		sleep_ms(20);
	}
	fail_msg("oaiserver did not write its port file");
}

/* SIGTERM; the server must exit 0, which under ASan means no leaks. */
static void
srv_stop(struct srv *s)
{
	int status = 0, i, done = 0;

	assert_int_equal(kill(s->pid, SIGTERM), 0);
	for (i = 0; i < STOP_WAIT_MS / 20 && !done; i++) {
		if (waitpid(s->pid, &status, WNOHANG) == s->pid)
			done = 1;
		else
			sleep_ms(20);
	}
	if (!done) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, &status, 0);
	}
	if (!done || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		print_log(s);
		srv_cleanup(s);
		fail_msg(
		    "oaiserver did not exit 0 on SIGTERM (status %d)", status);
	}
	srv_cleanup(s);
}

static size_t
write_cb(char *p, size_t size, size_t n, void *arg)
{
	return buf_add(arg, p, size * n) == -1 ? 0 : size * n;
}

/* GET (body NULL) or POST url into out; returns the HTTP status. */
static long
http(const char *url, const char *body, struct buf *out)
{
	CURL	*c;
	CURLcode rc;
	long	 status = 0;

	buf_free(out);
	buf_init(out, MAX_BODY);
	assert_non_null(c = curl_easy_init());
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	if (body != NULL)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	rc = curl_easy_perform(c);
	if (rc != CURLE_OK) {
		curl_easy_cleanup(c);
		fail_msg("%s: %s", url, curl_easy_strerror(rc));
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	return status;
}

/* An OAI request that must answer 200. */
static void
oai(const struct srv *s, const char *path, const char *query, struct buf *out)
{
	char *url;
	long  status;

	xasprintf(&url, "%s%s?%s", s->base, path, query);
	status = http(url, NULL, out);
	if (status != 200)
		fail_msg("%s: HTTP %ld", url, status);
	free(url);
}

static long
control(const struct srv *s, const char *what, struct buf *out)
{
	char *url;
	long  status;

	xasprintf(&url, "%s/control/%s", s->base, what);
	status = http(url,
	    strncmp(what, "dump", 4) == 0 || strncmp(what, "stats", 5) == 0 ||
		    strcmp(what, "faults") == 0 ?
		NULL :
		"",
	    out);
	free(url);
	return status;
}

static size_t
count(const char *s, const char *needle)
{
	size_t n = 0, len = strlen(needle);

	while ((s = strstr(s, needle)) != NULL) {
		n++;
		s += len;
	}
	return n;
}

/* The text of the first <tag>, or NULL; free it. */
static char *
tag_text(const char *s, const char *tag)
{
	char	    open[64], close[64];
	const char *p, *e;
	size_t	    len;

	len = (size_t)snprintf(open, sizeof(open), "<%s", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	for (p = s; (p = strstr(p, open)) != NULL; p += len)
		if (p[len] == '>' || p[len] == ' ')
			break;
	if (p == NULL || (p = strchr(p, '>')) == NULL ||
	    (e = strstr(p, close)) == NULL)
		return NULL;
	return xstrndup(p + 1, e - p - 1);
}

static void
assert_tag(const char *s, const char *tag, const char *want)
{
	char *t;

	if ((t = tag_text(s, tag)) == NULL)
		fail_msg("no <%s> in response", tag);
	assert_string_equal(t, want);
	free(t);
}

/* The OAI error code of a response, or "" when there is none. */
static void
error_code(const char *s, char *out, size_t len)
{
	const char *p, *e;

	out[0] = '\0';
	if ((p = strstr(s, "<error code=\"")) == NULL)
		return;
	p += 13;
	if ((e = strchr(p, '"')) == NULL || (size_t)(e - p) >= len)
		return;
	memcpy(out, p, e - p);
	out[e - p] = '\0';
}

static long long
attr_ll(const char *p, const char *end, const char *name)
{
	char	    key[64], num[32];
	const char *q, *errstr;
	long long   v;
	size_t	    n;

	snprintf(key, sizeof(key), "%s=\"", name);
	if ((q = strstr(p, key)) == NULL || q > end)
		fail_msg("resumptionToken without %s", name);
	q += strlen(key);
	for (n = 0; q[n] >= '0' && q[n] <= '9' && n + 1 < sizeof(num); n++)
		num[n] = q[n];
	num[n] = '\0';
	assert_int_equal(parse_ll(num, 0, LLONG_MAX, &v, &errstr), 0);
	return v;
}

static void
token_info(const char *s, struct token *t)
{
	const char *p, *gt, *e;

	memset(t, 0, sizeof(*t));
	if ((p = strstr(s, "<resumptionToken")) == NULL)
		return;
	t->present = 1;
	assert_non_null(gt = strchr(p, '>'));
	t->size = attr_ll(p, gt, "completeListSize");
	t->cursor = attr_ll(p, gt, "cursor");
	if (gt[-1] == '/') {
		t->empty = 1;
		return;
	}
	assert_non_null(e = strchr(gt, '<'));
	assert_true((size_t)(e - gt - 1) < sizeof(t->text));
	memcpy(t->text, gt + 1, e - gt - 1);
	t->text[e - gt - 1] = '\0';
	assert_null(strchr(t->text, '&'));
}

/* Append every header identifier of a response to ids. */
static void
collect_ids(const char *s, struct buf *ids)
{
	const char *p, *e;

	for (p = s; (p = strstr(p, "<identifier>")) != NULL; p = e) {
		p += 12;
		assert_non_null(e = strstr(p, "</identifier>"));
		assert_int_equal(buf_add(ids, p, e - p), 0);
		assert_int_equal(buf_addch(ids, '\n'), 0);
	}
}

/*
 * Harvest a whole list: every page's cursor is the number of items before
 * it, completeListSize stays put, the last page of a multi-page list has an
 * empty token and a single page none.
 */
static void
walk(const struct srv *s, const char *verb, const char *args, struct walk *w)
{
	struct buf   body;
	struct token t;
	char	    *q, *esc, code[64];
	size_t	     n;

	memset(w, 0, sizeof(*w));
	w->size = -1;
	buf_init(&w->ids, MAX_BODY);
	buf_init(&body, MAX_BODY);
	xasprintf(&q, "verb=%s&%s", verb, args);
	for (;;) {
		oai(s, "/oai", q, &body);
		free(q);
		error_code(body.data, code, sizeof(code));
		if (code[0] != '\0')
			fail_msg(
			    "%s page %zu: error %s", verb, w->pages + 1, code);
		n = count(body.data,
		    strcmp(verb, "ListRecords") == 0 ? "<record>" : "<header");
		w->deleted += count(body.data, "status=\"deleted\"");
		w->metadata += count(body.data, "<metadata>");
		collect_ids(body.data, &w->ids);
		token_info(body.data, &t);
		w->pages++;
		if (!t.present) {
			assert_int_equal(w->pages, 1);
			w->items = n;
			break;
		}
		assert_int_equal(t.cursor, (long long)w->items);
		if (w->size == -1)
			w->size = t.size;
		assert_int_equal(t.size, w->size);
		w->items += n;
		if (t.empty) {
			assert_true(w->pages > 1);
			assert_int_equal((long long)w->items, w->size);
			break;
		}
		assert_true(n > 0);
		assert_true(w->pages < 100000);
		esc = curl_easy_escape(NULL, t.text, 0);
		xasprintf(&q, "verb=%s&resumptionToken=%s", verb, esc);
		curl_free(esc);
	}
	buf_free(&body);
}

static void
walk_free(struct walk *w)
{
	buf_free(&w->ids);
}

/* The response without its responseDate and with the port as "PORT". */
static char *
normalize(const char *s, int port)
{
	struct buf  b;
	const char *p, *e;
	char	    host[32];
	size_t	    hl;

	buf_init(&b, MAX_BODY);
	hl = (size_t)snprintf(host, sizeof(host), "127.0.0.1:%d", port);
	if ((p = strstr(s, "<responseDate>")) != NULL &&
	    (e = strstr(p, "</responseDate>")) != NULL) {
		assert_int_equal(buf_add(&b, s, p - s), 0);
		s = e + 15;
	}
	while ((p = strstr(s, host)) != NULL) {
		assert_int_equal(buf_add(&b, s, p - s), 0);
		assert_int_equal(buf_addstr(&b, "127.0.0.1:PORT"), 0);
		s = p + hl;
	}
	assert_int_equal(buf_addstr(&b, s), 0);
	return b.data;
}

/* Copy the string value after key ("identifier":") up to its quote. */
static void
json_str(const char *line, const char *key, char *out, size_t len)
{
	const char *p, *e;

	if ((p = strstr(line, key)) == NULL)
		fail_msg("dump line without %s", key);
	p += strlen(key);
	assert_non_null(e = strchr(p, '"'));
	assert_true((size_t)(e - p) < len);
	memcpy(out, p, e - p);
	out[e - p] = '\0';
}

static size_t
load_dump(const struct srv *s, struct drec **out)
{
	struct buf   body;
	struct drec *d = NULL;
	char	    *p, *nl;
	size_t	     n = 0;

	buf_init(&body, MAX_BODY);
	assert_int_equal(control(s, "dump", &body), 200);
	for (p = body.data; p != NULL && *p != '\0'; p = nl + 1) {
		assert_non_null(nl = strchr(p, '\n'));
		*nl = '\0';
		d = xreallocarray(d, n + 1, sizeof(*d));
		d[n].line = xstrdup(p);
		json_str(p, "\"identifier\":\"", d[n].id, sizeof(d[n].id));
		json_str(p, "\"datestamp\":\"", d[n].ds, sizeof(d[n].ds));
		d[n].deleted = strstr(p, "\"deleted\":true") != NULL;
		n++;
	}
	buf_free(&body);
	*out = d;
	return n;
}

static void
free_dump(struct drec *d, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(d[i].line);
	free(d);
}

/* The raw text of a dump line from key to the end of its value. */
static char *
json_raw(const char *line, const char *key, char close)
{
	const char *p, *e;

	if ((p = strstr(line, key)) == NULL)
		return xstrdup("");
	for (e = p + strlen(key); *e != '\0' && *e != close; e++)
		if (*e == '\\' && e[1] != '\0')
			e++;
	return xstrndup(p, e - p + 1);
}

/*
 * The first string in the array of key in a dump line, unescaped (the
 * dump only escapes ", \ and control characters).
 */
static char *
json_first(const char *line, const char *key)
{
	struct buf  b;
	const char *p;
	char	    k[64];

	snprintf(k, sizeof(k), "\"%s\":[\"", key);
	if ((p = strstr(line, k)) == NULL)
		return NULL;
	buf_init(&b, MAX_BODY);
	for (p += strlen(k); *p != '"' && *p != '\0'; p++) {
		if (*p == '\\') {
			p++;
			assert_true(*p == '"' || *p == '\\');
		}
		assert_int_equal(buf_addch(&b, *p), 0);
	}
	return b.data;
}

static char *
xml_text_escape(const char *s)
{
	struct buf b;

	buf_init(&b, MAX_BODY);
	for (; *s != '\0'; s++) {
		if (*s == '&')
			assert_int_equal(buf_addstr(&b, "&amp;"), 0);
		else if (*s == '<')
			assert_int_equal(buf_addstr(&b, "&lt;"), 0);
		else if (*s == '>')
			assert_int_equal(buf_addstr(&b, "&gt;"), 0);
		else
			assert_int_equal(buf_addch(&b, *s), 0);
	}
	return b.data;
}

static const char *
fixtures_dir(void)
{
	static const char *const dirs[] = {
		"tests/fixtures/nur",
		"/work/shared/fixtures/nur",
	};
	struct stat st;
	const char *env;
	size_t	    i;

	if ((env = getenv("OH_NUR_FIXTURES")) != NULL)
		return env;
	for (i = 0; i < nitems(dirs); i++)
		if (stat(dirs[i], &st) == 0 && S_ISDIR(st.st_mode))
			return dirs[i];
	return NULL;
}

static char *
slurp(const char *dir, const char *name)
{
	struct buf b;
	char	   path[PATH_MAX], chunk[4096];
	size_t	   n;
	FILE	  *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "rb");
	assert_non_null(fp);
	buf_init(&b, MAX_BODY);
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		assert_int_equal(buf_add(&b, chunk, n), 0);
	fclose(fp);
	return b.data != NULL ? b.data : xstrdup("");
}

/* Faults */

/* One transfer that may fail: what arrived, and how it ended. */
struct fetch {
	/* in */
	long	    timeout_ms; /* 0: 30 s */
	long	    maxredirs;	/* > 0: follow redirects */
	int	    decode;	/* Accept-Encoding: what curl knows */
	int	    discard;	/* count the body, keep none */
	const char *post;
	/* out */
	CURLcode   rc;
	long	   status;
	long	   redirects;
	curl_off_t downloaded; /* body bytes as sent (compressed) */
	uint64_t   received;   /* body bytes as delivered */
	int64_t	   ms;
	struct buf body;
	struct buf head; /* every response's header lines */
};

static size_t
fetch_body_cb(char *p, size_t size, size_t n, void *arg)
{
	struct fetch *ft = arg;

	ft->received += size * n;
	if (!ft->discard && buf_add(&ft->body, p, size * n) == -1)
		return 0;
	return size * n;
}

static size_t
fetch_head_cb(char *p, size_t size, size_t n, void *arg)
{
	struct fetch *ft = arg;

	return buf_add(&ft->head, p, size * n) == -1 ? 0 : size * n;
}

static CURL *
fetch_handle(const char *url, struct fetch *ft)
{
	CURL *c;

	buf_init(&ft->body, MAX_BODY);
	buf_init(&ft->head, 1024 * 1024);
	ft->received = 0;
	assert_non_null(c = curl_easy_init());
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
	    ft->timeout_ms > 0 ? ft->timeout_ms : 30000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fetch_body_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, ft);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, fetch_head_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, ft);
	if (ft->maxredirs > 0) {
		curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(c, CURLOPT_MAXREDIRS, ft->maxredirs);
	}
	if (ft->decode)
		curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
	if (ft->post != NULL)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, ft->post);
	return c;
}

static void
fetch_done(CURL *c, struct fetch *ft)
{
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &ft->status);
	curl_easy_getinfo(c, CURLINFO_REDIRECT_COUNT, &ft->redirects);
	curl_easy_getinfo(c, CURLINFO_SIZE_DOWNLOAD_T, &ft->downloaded);
	curl_easy_cleanup(c);
}

static void
fetch(const char *url, struct fetch *ft)
{
	CURL   *c;
	int64_t start;

	c = fetch_handle(url, ft);
	start = mono_ms();
	ft->rc = curl_easy_perform(c);
	ft->ms = mono_ms() - start;
	fetch_done(c, ft);
}

/* GET /oai?query with the fetch's options. */
static void
fetch_oai(const struct srv *s, const char *query, struct fetch *ft)
{
	char *url;

	xasprintf(&url, "%s/oai?%s", s->base, query);
	fetch(url, ft);
	free(url);
}

static void
fetch_free(struct fetch *ft)
{
	buf_free(&ft->body);
	buf_free(&ft->head);
}

/*
 * The value of a header of the last response (after redirects), or NULL;
 * free it.
 */
static char *
header(const struct fetch *ft, const char *name)
{
	const char *p, *last = NULL, *line, *v, *e;
	size_t	    len = strlen(name);

	for (p = buf_str(&ft->head); (p = strstr(p, "HTTP/")) != NULL; p++)
		if (p == ft->head.data || p[-1] == '\n')
			last = p;
	if (last == NULL)
		return NULL;
	for (line = last; *line != '\0'; line = e + 1) {
		if ((e = strchr(line, '\n')) == NULL)
			break;
		if (strncasecmp(line, name, len) != 0 || line[len] != ':')
			continue;
		for (v = line + len + 1; *v == ' '; v++)
			;
		while (e > v && (e[-1] == '\r' || e[-1] == ' '))
			e--;
		return xstrndup(v, e - v);
	}
	return NULL;
}

static void
assert_header(const struct fetch *ft, const char *name, const char *want)
{
	char *v;

	if ((v = header(ft, name)) == NULL)
		fail_msg("no %s header", name);
	assert_string_equal(v, want);
	free(v);
}

static void
assert_no_header(const struct fetch *ft, const char *name)
{
	char *v;

	if ((v = header(ft, name)) != NULL)
		fail_msg("unexpected %s: %s", name, v);
}

/* POST /control/fault?spec; returns the fault's id. */
static unsigned int
arm(const struct srv *s, const char *spec)
{
	struct buf  b;
	char	   *what;
	const char *p, *errstr;
	long long   id;

	xasprintf(&what, "fault?%s", spec);
	buf_init(&b, MAX_BODY);
	if (control(s, what, &b) != 200)
		fail_msg("arming %s: %s", spec, b.data);
	assert_non_null(p = strstr(b.data, "{\"ok\":true,\"id\":"));
	p += 16;
	assert_non_null(strchr(p, '}'));
	*strchr((char *)p, '}') = '\0';
	assert_int_equal(parse_ll(p, 1, UINT_MAX, &id, &errstr), 0);
	buf_free(&b);
	free(what);
	return (unsigned int)id;
}

/* Arming that must fail with 400 and an error naming what is wrong. */
static void
arm_bad(const struct srv *s, const char *spec, const char *needle)
{
	struct buf b;
	char	  *what;

	xasprintf(&what, "fault?%s", spec);
	buf_init(&b, MAX_BODY);
	assert_int_equal(control(s, what, &b), 400);
	if (strstr(b.data, "\"ok\":false") == NULL ||
	    strstr(b.data, needle) == NULL)
		fail_msg("arming %s: %s", spec, b.data);
	buf_free(&b);
	free(what);
}

/* The /control/faults line of fault id. */
static char *
fault_line(const struct srv *s, unsigned int id)
{
	struct buf b;
	char	   key[32], *p, *e, *line;

	buf_init(&b, MAX_BODY);
	assert_int_equal(control(s, "faults", &b), 200);
	snprintf(key, sizeof(key), "{\"id\":%u,", id);
	if ((p = strstr(b.data, key)) == NULL)
		fail_msg("no fault %u in %s", id, b.data);
	assert_non_null(e = strchr(p, '\n'));
	line = xstrndup(p, e - p);
	buf_free(&b);
	return line;
}

static void
assert_fault(const struct srv *s, unsigned int id, const char *needle)
{
	char *line = fault_line(s, id);

	if (strstr(line, needle) == NULL)
		fail_msg("fault %u: no %s in %s", id, needle, line);
	free(line);
}

static int
xml_ok(const struct buf *b)
{
	xmlDocPtr doc;

	doc = xmlReadMemory(b->data, (int)b->len, "response.xml", NULL,
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc == NULL)
		return 0;
	xmlFreeDoc(doc);
	return 1;
}

/* Which <record> (1-based) p is inside, and that it is in a description. */
static size_t
record_at(const char *body, const char *p)
{
	const char *q, *open = NULL, *close = NULL;
	size_t	    n = 0;

	for (q = body; (q = strstr(q, "<record>")) != NULL && q < p; q++)
		n++;
	for (q = body; (q = strstr(q, "<dc:description")) != NULL && q < p; q++)
		open = q;
	for (q = body; (q = strstr(q, "</dc:description>")) != NULL && q < p;
	     q++)
		close = q;
	assert_non_null(open);
	assert_true(close == NULL || close < open);
	return n;
}

/* A token, URL-encoded, as a query. */
static char *
token_query(const char *verb, const char *tok)
{
	char *esc, *q;

	esc = curl_easy_escape(NULL, tok, 0);
	xasprintf(&q, "verb=%s&resumptionToken=%s", verb, esc);
	curl_free(esc);
	return q;
}

/* The lines of the server's log that match needle. */
static size_t
log_count(const struct srv *s, const char *needle)
{
	char   path[128], line[1024];
	size_t n = 0;
	FILE  *fp;

	snprintf(path, sizeof(path), "%s/server.log", s->dir);
	assert_non_null(fp = fopen(path, "r"));
	while (fgets(line, sizeof(line), fp) != NULL)
		if (strstr(line, needle) != NULL)
			n++;
	fclose(fp);
	return n;
}

/* Run oaiserver with args to its exit; its status. */
static int
run_server(const char *const *args)
{
	const char *build, *argv[16];
	char	    bin[PATH_MAX];
	size_t	    n = 0;
	pid_t	    pid;
	int	    status, fd;

	if ((build = getenv("OH_BUILD")) == NULL || *build == '\0')
		build = "build/asan";
	snprintf(bin, sizeof(bin), "%s/oaiserver", build);
	argv[n++] = bin;
	for (; *args != NULL && n + 1 < nitems(argv); args++)
		argv[n++] = *args;
	argv[n] = NULL;
	fflush(stdout);
	fflush(stderr);
	assert_true((pid = fork()) != -1);
	if (pid == 0) {
		if ((fd = open("/dev/null", O_WRONLY)) != -1) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* Fixture */

static int
setup(void **state)
{
	*state = xcalloc(1, sizeof(struct fixture));
	return 0;
}

/* A failed test leaves its servers running; end them here. */
static int
teardown(void **state)
{
	struct fixture *fx = *state;
	size_t		i;

	for (i = 0; i < MAX_SERVERS; i++) {
		if (fx->srv[i].pid <= 0)
			continue;
		kill(fx->srv[i].pid, SIGKILL);
		waitpid(fx->srv[i].pid, NULL, 0);
		srv_cleanup(&fx->srv[i]);
	}
	free(fx);
	return 0;
}

/* Tests */

static void
test_identify(void **state)
{
	struct fixture *fx = *state;
	struct srv     *s = &fx->srv[0], *d = &fx->srv[1];
	struct buf	body;
	struct drec    *dump;
	const char     *p;
	char		url[128], min[32];
	size_t		n, i;

	srv_start(s, (const char *[]){ "--records", "100", NULL });
	buf_init(&body, MAX_BODY);
	oai(s, "/oai", "verb=Identify", &body);
	assert_non_null(strstr(body.data, "<request verb=\"Identify\">"));
	assert_tag(body.data, "repositoryName", "oaiharvest test repository");
	snprintf(url, sizeof(url), "%s/oai", s->base);
	assert_tag(body.data, "baseURL", url);
	assert_tag(body.data, "protocolVersion", "2.0");
	assert_tag(body.data, "adminEmail", "admin@oaiharvest.test");
	assert_tag(body.data, "deletedRecord", "persistent");
	assert_tag(body.data, "granularity", "YYYY-MM-DDThh:mm:ssZ");
	n = load_dump(s, &dump);
	assert_int_equal(n, 100);
	snprintf(min, sizeof(min), "%s", dump[0].ds);
	for (i = 1; i < n; i++)
		if (strcmp(dump[i].ds, min) < 0)
			snprintf(min, sizeof(min), "%s", dump[i].ds);
	assert_tag(body.data, "earliestDatestamp", min);
	assert_int_equal(strlen(min), 20);
	free_dump(dump, n);

	oai(s, "/oai", "verb=ListMetadataFormats", &body);
	assert_tag(body.data, "metadataPrefix", "oai_dc");
	assert_non_null(
	    strstr(body.data, "<metadataPrefix>qdc</metadataPrefix>"));
	oai(s, "/oai", "verb=ListSets", &body);
	assert_int_equal(count(body.data, "<set>"), 5);
	assert_non_null(strstr(body.data, "<setSpec>com_3</setSpec>"));
	assert_non_null(strstr(body.data, "<setName>"));
	srv_stop(s);

	srv_start(d,
	    (const char *[]){
		"--records", "50", "--granularity", "day", NULL });
	oai(d, "/oai", "verb=Identify", &body);
	assert_tag(body.data, "granularity", "YYYY-MM-DD");
	n = load_dump(d, &dump);
	snprintf(min, sizeof(min), "%s", dump[0].ds);
	for (i = 0; i < n; i++) {
		assert_int_equal(strlen(dump[i].ds), 10);
		if (strcmp(dump[i].ds, min) < 0)
			snprintf(min, sizeof(min), "%s", dump[i].ds);
	}
	assert_tag(body.data, "earliestDatestamp", min);
	free_dump(dump, n);
	oai(d, "/oai", "verb=ListIdentifiers&metadataPrefix=oai_dc", &body);
	assert_int_equal(count(body.data, "<datestamp>"), 50);
	for (p = body.data; (p = strstr(p, "<datestamp>")) != NULL; p += 11)
		assert_memory_equal(p + 21, "</datestamp>", 12);
	srv_stop(d);
	buf_free(&body);
}

static void
test_paging(void **state)
{
	struct fixture *fx = *state;
	struct srv     *s = &fx->srv[0];
	struct walk	w;
	struct buf	body, post, want;
	struct token	t;
	char	       *q, code[64], *a, *b;
	size_t		i;

	srv_start(s,
	    (const char *[]){ "--records", "250", "--page-size", "100", NULL });
	walk(s, "ListRecords", "metadataPrefix=oai_dc", &w);
	assert_int_equal(w.items, 250);
	assert_int_equal(w.pages, 3);
	assert_int_equal(w.size, 250);
	assert_int_equal(w.deleted, 25);
	assert_int_equal(w.metadata, 225);
	buf_init(&want, MAX_BODY);
	for (i = 1; i <= 250; i++)
		assert_int_equal(
		    buf_printf(&want, "oai:oaiharvest.test:rec/%zu\n", i), 0);
	assert_string_equal(w.ids.data, want.data);
	walk_free(&w);

	walk(s, "ListIdentifiers", "metadataPrefix=qdc", &w);
	assert_int_equal(w.items, 250);
	assert_string_equal(w.ids.data, want.data);
	walk_free(&w);

	/* One page: no token at all. */
	walk(s, "ListIdentifiers", "metadataPrefix=oai_dc&set=col_1", &w);
	assert_int_equal(w.items, 63);
	assert_int_equal(w.pages, 1);
	walk_free(&w);

	/* Tokens need URL-encoding; sent raw, '+' becomes a space. */
	buf_init(&body, MAX_BODY);
	oai(s, "/oai", "verb=ListRecords&metadataPrefix=oai_dc", &body);
	assert_non_null(strstr(body.data,
	    "<resumptionToken completeListSize="
	    "\"250\" cursor=\"0\">"));
	token_info(body.data, &t);
	assert_non_null(strchr(t.text, '/'));
	assert_non_null(strchr(t.text, '+'));
	assert_non_null(strchr(t.text, '='));
	assert_non_null(strchr(t.text, ':'));
	xasprintf(&q, "verb=ListRecords&resumptionToken=%s", t.text);
	oai(s, "/oai", q, &body);
	free(q);
	error_code(body.data, code, sizeof(code));
	assert_string_equal(code, "badResumptionToken");

	/* qdc carries title, creator and abstract in its own namespace. */
	oai(s, "/oai",
	    "verb=GetRecord&metadataPrefix=qdc&"
	    "identifier=oai:oaiharvest.test:rec/1",
	    &body);
	assert_non_null(strstr(body.data,
	    "xmlns:qdc=\"http://oaiharvest.test/"
	    "qdc/\""));
	assert_int_equal(count(body.data, "<dcterms:abstract>"), 1);
	assert_true(count(body.data, "<dc:creator>") >= 2);
	assert_null(strstr(body.data, "<dc:subject>"));

	/* POST gives what GET gives. */
	oai(s, "/oai", "verb=ListIdentifiers&metadataPrefix=oai_dc&set=col_2",
	    &body);
	buf_init(&post, MAX_BODY);
	q = NULL;
	xasprintf(&q, "%s/oai", s->base);
	assert_int_equal(http(q,
			     "verb=ListIdentifiers&metadataPrefix=oai_dc&"
			     "set=col_2",
			     &post),
	    200);
	free(q);
	a = normalize(body.data, s->port);
	b = normalize(post.data, s->port);
	assert_string_equal(a, b);
	free(a);
	free(b);

	buf_free(&post);
	buf_free(&body);
	buf_free(&want);
	srv_stop(s);
}

static size_t
expect_between(const struct drec *d, size_t n, const char *from,
    const char *until, size_t len, size_t mod, size_t rem)
{
	size_t i, c = 0;

	for (i = 0; i < n; i++) {
		if (from != NULL && strncmp(d[i].ds, from, len) < 0)
			continue;
		if (until != NULL && strncmp(d[i].ds, until, len) > 0)
			continue;
		if (mod != 0 && (i + 1) % mod != rem)
			continue;
		c++;
	}
	return c;
}

static void
test_filters(void **state)
{
	struct fixture *fx = *state;
	struct srv     *s = &fx->srv[0];
	struct drec    *d;
	struct walk	w;
	struct buf	body;
	char		from[32], until[32], *q, code[64];
	size_t		n, want;

	srv_start(s,
	    (const char *[]){ "--records", "300", "--page-size", "40", NULL });
	n = load_dump(s, &d);
	assert_int_equal(n, 300);
	if (strcmp(d[9].ds, d[19].ds) < 0) {
		snprintf(from, sizeof(from), "%s", d[9].ds);
		snprintf(until, sizeof(until), "%s", d[19].ds);
	} else {
		snprintf(from, sizeof(from), "%s", d[19].ds);
		snprintf(until, sizeof(until), "%s", d[9].ds);
	}

	/* Seconds granularity, inclusive at both ends. */
	want = expect_between(d, n, from, until, 20, 0, 0);
	assert_true(want >= 2);
	xasprintf(&q, "metadataPrefix=oai_dc&from=%s&until=%s", from, until);
	walk(s, "ListIdentifiers", q, &w);
	free(q);
	assert_int_equal(w.items, want);
	walk_free(&w);

	xasprintf(&q, "metadataPrefix=oai_dc&from=%s", from);
	walk(s, "ListRecords", q, &w);
	free(q);
	assert_int_equal(w.items, expect_between(d, n, from, NULL, 20, 0, 0));
	walk_free(&w);

	xasprintf(&q, "metadataPrefix=oai_dc&until=%s", until);
	walk(s, "ListIdentifiers", q, &w);
	free(q);
	assert_int_equal(w.items, expect_between(d, n, NULL, until, 20, 0, 0));
	walk_free(&w);

	/* Day granularity on a seconds server: whole days. */
	from[10] = until[10] = '\0';
	xasprintf(&q, "metadataPrefix=oai_dc&from=%s&until=%s", from, until);
	walk(s, "ListIdentifiers", q, &w);
	free(q);
	assert_int_equal(w.items, expect_between(d, n, from, until, 10, 0, 0));
	walk_free(&w);

	/* Sets; deleted records keep theirs. */
	walk(s, "ListIdentifiers", "metadataPrefix=oai_dc&set=col_2", &w);
	assert_int_equal(w.items, 75);
	assert_int_equal(w.deleted, 15);
	walk_free(&w);
	walk(s, "ListIdentifiers", "metadataPrefix=oai_dc&set=com_3", &w);
	assert_int_equal(w.items, 100);
	assert_int_equal(w.deleted, 10);
	walk_free(&w);
	xasprintf(&q, "metadataPrefix=oai_dc&set=col_3&from=%s", from);
	walk(s, "ListRecords", q, &w);
	free(q);
	assert_int_equal(w.items, expect_between(d, n, from, NULL, 10, 4, 3));
	walk_free(&w);

	buf_init(&body, MAX_BODY);
	oai(s, "/oai",
	    "verb=ListRecords&metadataPrefix=oai_dc&"
	    "from=2030-01-01",
	    &body);
	error_code(body.data, code, sizeof(code));
	assert_string_equal(code, "noRecordsMatch");
	buf_free(&body);
	free_dump(d, n);
	srv_stop(s);
}

static const struct {
	int	    server; /* 0 normal, 1 --sets 0, 2 day */
	const char *query;
	const char *code;
} error_cases[] = {
	{ 0, "", "badVerb" },
	{ 0, "verb=Nope", "badVerb" },
	{ 0, "verb=Identify&verb=Identify", "badVerb" },
	{ 0, "verb=Identify&foo=bar", "badArgument" },
	{ 0, "verb=Identify&metadataPrefix=oai_dc", "badArgument" },
	{ 0, "verb=ListRecords", "badArgument" },
	{ 0, "verb=ListRecords&metadataPrefix=oai_dc&metadataPrefix=qdc",
	    "badArgument" },
	{ 0, "verb=ListRecords&metadataPrefix=oai_dc&from=2020-02-30",
	    "badArgument" },
	{ 0, "verb=ListRecords&metadataPrefix=oai_dc&from=yesterday",
	    "badArgument" },
	{ 0,
	    "verb=ListRecords&metadataPrefix=oai_dc&from=2021-01-01&"
	    "until=2020-01-01",
	    "badArgument" },
	{ 0,
	    "verb=ListRecords&metadataPrefix=oai_dc&from=2021-01-01&"
	    "until=2022-01-01T00:00:00Z",
	    "badArgument" },
	{ 0, "verb=ListRecords&metadataPrefix=oai_dc&resumptionToken=x",
	    "badArgument" },
	{ 0, "verb=ListRecords&metadataPrefix=oai_dc&from=%zz", "badArgument" },
	{ 0, "verb=GetRecord&metadataPrefix=oai_dc", "badArgument" },
	{ 0, "verb=GetRecord&identifier=oai:oaiharvest.test:rec/1",
	    "badArgument" },
	{ 0, "verb=ListRecords&metadataPrefix=marcxml",
	    "cannotDisseminateFormat" },
	{ 0,
	    "verb=GetRecord&identifier=oai:oaiharvest.test:rec/1&"
	    "metadataPrefix=marcxml",
	    "cannotDisseminateFormat" },
	{ 0,
	    "verb=GetRecord&identifier=oai:oaiharvest.test:rec/51&"
	    "metadataPrefix=oai_dc",
	    "idDoesNotExist" },
	{ 0,
	    "verb=GetRecord&identifier=oai:oaiharvest.test:rec/01&"
	    "metadataPrefix=oai_dc",
	    "idDoesNotExist" },
	{ 0, "verb=ListMetadataFormats&identifier=nope", "idDoesNotExist" },
	{ 0,
	    "verb=ListMetadataFormats&"
	    "identifier=oai:oaiharvest.test:rec/10",
	    "noMetadataFormats" },
	{ 0, "verb=ListIdentifiers&metadataPrefix=oai_dc&from=2030-01-01",
	    "noRecordsMatch" },
	{ 0, "verb=ListIdentifiers&metadataPrefix=oai_dc&set=col_99",
	    "noRecordsMatch" },
	{ 0, "verb=ListRecords&resumptionToken=garbage", "badResumptionToken" },
	{ 0,
	    "verb=ListRecords&resumptionToken="
	    "oh1%3Aoai_dc%2F%2F%2F%2F11%2B10%3D00000000",
	    "badResumptionToken" },
	{ 0, "verb=ListSets&resumptionToken=x", "badResumptionToken" },
	{ 1, "verb=ListSets", "noSetHierarchy" },
	{ 1, "verb=ListRecords&metadataPrefix=oai_dc&set=col_0",
	    "noSetHierarchy" },
	{ 2,
	    "verb=ListRecords&metadataPrefix=oai_dc&"
	    "from=2010-01-01T00:00:00Z",
	    "badArgument" },
	{ 2, "verb=ListRecords&metadataPrefix=oai_dc&from=2010-01-01", "" },
};

static void
test_errors(void **state)
{
	struct fixture *fx = *state;
	struct buf	body;
	struct srv     *s;
	char		code[64], *url, *big;
	size_t		i;

	srv_start(&fx->srv[0], (const char *[]){ "--records", "50", NULL });
	srv_start(&fx->srv[1],
	    (const char *[]){ "--records", "50", "--sets", "0", NULL });
	srv_start(&fx->srv[2],
	    (const char *[]){
		"--records", "50", "--granularity", "day", NULL });
	buf_init(&body, MAX_BODY);
	for (i = 0; i < nitems(error_cases); i++) {
		s = &fx->srv[error_cases[i].server];
		oai(s, "/oai", error_cases[i].query, &body);
		error_code(body.data, code, sizeof(code));
		if (strcmp(code, error_cases[i].code) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"",
			    error_cases[i].query, code, error_cases[i].code);
		/* After badVerb and badArgument, <request> has no arguments. */
		if (strcmp(code, "badVerb") == 0 ||
		    strcmp(code, "badArgument") == 0)
			assert_non_null(strstr(body.data, "<request>"));
		else if (code[0] != '\0')
			assert_non_null(strstr(body.data, "<request verb="));
	}

	/* Over 8 KB of arguments. */
	big = xmalloc(9001);
	memset(big, 'a', 9000);
	big[9000] = '\0';
	xasprintf(&url, "%s/oai?verb=Identify&x=%s", fx->srv[0].base, big);
	assert_int_equal(http(url, NULL, &body), 414);
	free(url);
	free(big);

	for (i = 0; i < 3; i++)
		srv_stop(&fx->srv[i]);
	buf_free(&body);
}

static void
test_control(void **state)
{
	struct fixture *fx = *state;
	struct srv     *s = &fx->srv[0];
	struct drec    *d0, *d1;
	struct buf	body;
	struct walk	w;
	char		max[32], *q, *a, *b, *title, *x;
	size_t		n0, n1, i;
	time_t		t, started;

	srv_start(s, (const char *[]){ "--records", "40", NULL });
	started = time(NULL);
	n0 = load_dump(s, &d0);
	assert_int_equal(n0, 40);
	snprintf(max, sizeof(max), "%s", d0[0].ds);
	for (i = 1; i < n0; i++)
		if (strcmp(d0[i].ds, max) > 0)
			snprintf(max, sizeof(max), "%s", d0[i].ds);

	buf_init(&body, MAX_BODY);
	assert_int_equal(control(s, "add?n=3", &body), 200);
	assert_non_null(strstr(body.data, "\"ok\":true"));
	assert_non_null(strstr(body.data, "oai:oaiharvest.test:rec/43"));
	assert_int_equal(control(s, "update?id=5", &body), 200);
	assert_int_equal(
	    control(s, "touch?id=oai:oaiharvest.test:rec/6", &body), 200);
	assert_int_equal(control(s, "delete?id=7", &body), 200);
	assert_non_null(strstr(body.data,
	    "\"identifier\":"
	    "\"oai:oaiharvest.test:rec/7\""));

	assert_int_equal(control(s, "update?id=0", &body), 400);
	assert_int_equal(control(s, "update?id=44", &body), 400);
	assert_int_equal(control(s, "delete?id=7", &body), 400);
	assert_int_equal(control(s, "add?n=abc", &body), 400);
	assert_int_equal(control(s, "add", &body), 400);
	q = NULL;
	xasprintf(&q, "%s/control/add?n=1", s->base);
	assert_int_equal(http(q, NULL, &body), 405);
	free(q);
	xasprintf(&q, "%s/nowhere", s->base);
	assert_int_equal(http(q, NULL, &body), 404);
	free(q);

	n1 = load_dump(s, &d1);
	assert_int_equal(n1, 43);
	for (i = 40; i < 43; i++) {
		assert_true(strcmp(d1[i].ds, max) > 0);
		assert_false(d1[i].deleted);
	}
	/* update: new datestamp, new title, same creators. */
	assert_true(strcmp(d1[4].ds, max) > 0);
	a = json_raw(d0[4].line, "\"title\":[", ']');
	b = json_raw(d1[4].line, "\"title\":[", ']');
	assert_string_not_equal(a, b);
	free(a);
	free(b);
	a = json_raw(d0[4].line, "\"creator\":[", ']');
	b = json_raw(d1[4].line, "\"creator\":[", ']');
	assert_string_equal(a, b);
	free(a);
	free(b);
	/* touch: new datestamp, identical metadata. */
	assert_true(strcmp(d1[5].ds, d1[4].ds) > 0);
	a = json_raw(d0[5].line, "\"dc\":{", '\n');
	b = json_raw(d1[5].line, "\"dc\":{", '\n');
	assert_string_equal(a, b);
	free(a);
	free(b);
	/* delete: no metadata. */
	assert_true(d1[6].deleted);
	assert_non_null(strstr(d1[6].line, "\"dc\":{}"));
	assert_true(strcmp(d1[6].ds, d1[5].ds) > 0);
	/*
	 * The clock is the current time, like a real repository's, and
	 * strictly increasing: each change is later than the one before.
	 */
	assert_int_equal(datestamp_parse(d1[40].ds, &t, NULL), 0);
	assert_true(t >= started);
	assert_true(strcmp(d1[41].ds, d1[40].ds) > 0);
	assert_true(strcmp(d1[42].ds, d1[41].ds) > 0);
	assert_true(strcmp(d1[4].ds, d1[42].ds) > 0);
	assert_int_equal(datestamp_parse(max, &t, NULL), 0);
	x = xmalloc(DATESTAMP_LEN);

	/* An incremental harvest from the old high-water mark. */
	datestamp_format(t + 1, GRAN_SECONDS, x);
	xasprintf(&q, "metadataPrefix=oai_dc&from=%s", x);
	walk(s, "ListIdentifiers", q, &w);
	free(q);
	assert_int_equal(w.items, 6);
	assert_int_equal(w.deleted, 1);
	assert_string_equal(w.ids.data,
	    "oai:oaiharvest.test:rec/5\n"
	    "oai:oaiharvest.test:rec/6\noai:oaiharvest.test:rec/7\n"
	    "oai:oaiharvest.test:rec/41\noai:oaiharvest.test:rec/42\n"
	    "oai:oaiharvest.test:rec/43\n");
	walk_free(&w);

	/* GetRecord shows the new version. */
	oai(s, "/oai",
	    "verb=GetRecord&metadataPrefix=oai_dc&"
	    "identifier=oai:oaiharvest.test:rec/5",
	    &body);
	assert_non_null(strstr(body.data, d1[4].ds));
	assert_non_null(title = json_first(d1[4].line, "title"));
	assert_non_null(a = xml_text_escape(title));
	assert_non_null(strstr(body.data, a));
	free(a);
	free(title);

	assert_int_equal(control(s, "undelete?id=7", &body), 200);
	free_dump(d1, n1);
	n1 = load_dump(s, &d1);
	assert_false(d1[6].deleted);
	assert_null(strstr(d1[6].line, "\"dc\":{}"));

	assert_int_equal(control(s, "stats", &body), 200);
	assert_non_null(strstr(body.data, "\"requests\":"));
	assert_non_null(strstr(body.data, "\"in_flight\":0,"));
	assert_non_null(strstr(body.data, "\"max_in_flight\":1}"));

	free(x);
	free_dump(d0, n0);
	free_dump(d1, n1);
	buf_free(&body);
	srv_stop(s);
}

/* The XML says what the dump says, escaped; and the text is realistic. */
static void
test_content(void **state)
{
	struct fixture		*fx = *state;
	struct srv		*s = &fx->srv[0];
	static const char *const letters[] = {
		"Қ",
		"ә",
		"ө",
		"ү",
		"ұ",
		"і",
		"ң",
		"ғ",
		"һ",
		"Ё",
	};
	static const char *const specials[] = {
		"&amp;",
		"&lt;",
		"&gt;",
		"\"",
		"'",
	};
	static const char *const keys[] = { "title", "description" };
	struct drec		*d;
	struct buf		 body, all;
	char			*q, *v, *e;
	size_t			 n, i, j, len, langs = 0;

	srv_start(s, (const char *[]){ "--records", "60", NULL });
	n = load_dump(s, &d);
	buf_init(&body, MAX_BODY);
	buf_init(&all, MAX_BODY);
	for (i = 0; i < n; i++) {
		assert_int_equal(buf_addstr(&all, d[i].line), 0);
		if (d[i].deleted)
			continue;
		xasprintf(&q,
		    "verb=GetRecord&metadataPrefix=oai_dc&"
		    "identifier=%s",
		    d[i].id);
		oai(s, "/oai", q, &body);
		free(q);
		assert_non_null(strstr(body.data, d[i].ds));
		assert_int_equal(count(body.data, "<dc:title"), 1);
		for (j = 0; j < nitems(keys); j++) {
			assert_non_null(v = json_first(d[i].line, keys[j]));
			e = xml_text_escape(v);
			if (strstr(body.data, e) == NULL)
				fail_msg("%s: %s not in the XML", d[i].id, v);
			if (j == 1) {
				len = strlen(v);
				assert_true(len >= 1000 && len <= 2000);
			}
			free(e);
			free(v);
		}
		len = count(body.data, "<dc:creator>");
		assert_true(len >= 2 && len <= 5);
		len = count(body.data, "<dc:subject>");
		assert_true(len >= 3 && len <= 8);
		langs += strstr(body.data, "<dc:title xml:lang=") != NULL;
		assert_non_null(strstr(body.data,
		    "<oai_dc:dc xmlns:oai_dc=\""
		    "http://www.openarchives.org/OAI/2.0/oai_dc/\" xmlns:dc=\""
		    "http://purl.org/dc/elements/1.1/\" xmlns:xsi=\""
		    "http://www.w3.org/2001/XMLSchema-instance\" "
		    "xsi:schemaLocation=\"http://www.openarchives.org/OAI/2.0/"
		    "oai_dc/ http://www.openarchives.org/OAI/2.0/oai_dc.xsd"
		    "\">"));
	}
	assert_true(langs > 10);
	for (i = 0; i < nitems(letters); i++)
		if (strstr(all.data, letters[i]) == NULL)
			fail_msg("no %s in the corpus", letters[i]);
	oai(s, "/oai", "verb=ListRecords&metadataPrefix=oai_dc", &body);
	for (i = 0; i < nitems(specials); i++)
		assert_true(count(body.data, specials[i]) >= 10);
	/* The literal text "&amp;" is escaped once more. */
	assert_non_null(strstr(body.data, "&amp;amp;"));
	free_dump(d, n);
	buf_free(&body);
	buf_free(&all);
	srv_stop(s);
}

static void
test_determinism(void **state)
{
	struct fixture *fx = *state;
	struct buf	p[3], dump[2];
	struct token	t;
	char	       *a, *b, *q, *esc;
	int		k;

	srv_start(&fx->srv[0],
	    (const char *[]){
		"--records", "120", "--page-size", "50", "--seed", "7", NULL });
	srv_start(&fx->srv[1],
	    (const char *[]){
		"--records", "120", "--page-size", "50", "--seed", "7", NULL });
	srv_start(&fx->srv[2],
	    (const char *[]){
		"--records", "120", "--page-size", "50", "--seed", "8", NULL });
	for (k = 0; k < 3; k++) {
		buf_init(&p[k], MAX_BODY);
		oai(&fx->srv[k], "/oai",
		    "verb=ListRecords&metadataPrefix=oai_dc", &p[k]);
	}
	a = normalize(p[0].data, fx->srv[0].port);
	b = normalize(p[1].data, fx->srv[1].port);
	assert_string_equal(a, b);
	free(b);
	b = normalize(p[2].data, fx->srv[2].port);
	assert_string_not_equal(a, b);
	free(a);
	free(b);

	/* The second page, by the same token, is the same too. */
	token_info(p[0].data, &t);
	assert_true(t.present && !t.empty);
	esc = curl_easy_escape(NULL, t.text, 0);
	xasprintf(&q, "verb=ListRecords&resumptionToken=%s", esc);
	curl_free(esc);
	for (k = 0; k < 2; k++)
		oai(&fx->srv[k], "/oai", q, &p[k]);
	free(q);
	assert_null(strstr(p[0].data, "<error"));
	a = normalize(p[0].data, fx->srv[0].port);
	b = normalize(p[1].data, fx->srv[1].port);
	assert_string_equal(a, b);
	free(a);
	free(b);

	for (k = 0; k < 2; k++) {
		buf_init(&dump[k], MAX_BODY);
		assert_int_equal(control(&fx->srv[k], "dump", &dump[k]), 200);
	}
	assert_string_equal(dump[0].data, dump[1].data);
	for (k = 0; k < 2; k++)
		buf_free(&dump[k]);
	for (k = 0; k < 3; k++) {
		buf_free(&p[k]);
		srv_stop(&fx->srv[k]);
	}
}

static void
test_pages(void **state)
{
	struct fixture *fx = *state;
	struct srv     *s = &fx->srv[0];
	static const struct {
		const char *query;
		const char *code;
	} errs[] = {
		{ "verb=ListRecords&metadataPrefix=marcxml",
		    "cannotDisseminateFormat" },
		{ "verb=ListRecords&resumptionToken=nope",
		    "badResumptionToken" },
		{ "verb=ListIdentifiers&resumptionToken=oai_dc%2F%2F%2F%2F100",
		    "badResumptionToken" },
		{ "verb=Nope", "badVerb" },
		{ "verb=ListRecords", "badArgument" },
		{ "verb=ListSets", "noSetHierarchy" },
	};
	const char  *dir;
	struct buf   body;
	struct token t;
	char	    *want, *q, *esc, code[64];
	size_t	     i;

	if ((dir = fixtures_dir()) == NULL)
		fail_msg("no nur fixtures (set OH_NUR_FIXTURES)");
	srv_start(s, (const char *[]){ "--pages", dir, NULL });
	buf_init(&body, MAX_BODY);

	oai(s, "/pages", "verb=Identify", &body);
	want = slurp(dir, "identify.xml");
	assert_string_equal(body.data, want);
	free(want);

	oai(s, "/pages", "verb=ListRecords&metadataPrefix=oai_dc", &body);
	want = slurp(dir, "listrecords-oai_dc-page1.xml");
	assert_string_equal(body.data, want);
	free(want);
	token_info(body.data, &t);
	assert_true(t.present && !t.empty);

	esc = curl_easy_escape(NULL, t.text, 0);
	xasprintf(&q, "verb=ListRecords&resumptionToken=%s", esc);
	curl_free(esc);
	oai(s, "/pages", q, &body);
	free(q);
	want = slurp(dir, "listrecords-oai_dc-page2.xml");
	assert_string_equal(body.data, want);
	free(want);
	token_info(body.data, &t);
	assert_true(t.present && t.empty);

	for (i = 0; i < nitems(errs); i++) {
		oai(s, "/pages", errs[i].query, &body);
		error_code(body.data, code, sizeof(code));
		if (strcmp(code, errs[i].code) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"", errs[i].query,
			    code, errs[i].code);
	}
	buf_free(&body);
	srv_stop(s);
}

/* --delay-ms holds responses on a timer, so requests overlap. */
static void
test_delay(void **state)
{
	struct fixture *fx = *state;
	struct srv     *s = &fx->srv[0];
	CURLM	       *m;
	CURL	       *h[4];
	struct buf	body[4], stats;
	char		url[128];
	int64_t		start, elapsed;
	int		running = 1, i;
	long		status;

	srv_start(s,
	    (const char *[]){ "--records", "10", "--delay-ms", "400", NULL });
	snprintf(url, sizeof(url), "%s/oai?verb=Identify", s->base);
	assert_non_null(m = curl_multi_init());
	for (i = 0; i < 4; i++) {
		buf_init(&body[i], MAX_BODY);
		assert_non_null(h[i] = curl_easy_init());
		curl_easy_setopt(h[i], CURLOPT_URL, url);
		curl_easy_setopt(h[i], CURLOPT_NOPROXY, "*");
		curl_easy_setopt(h[i], CURLOPT_TIMEOUT, 30L);
		curl_easy_setopt(h[i], CURLOPT_WRITEFUNCTION, write_cb);
		curl_easy_setopt(h[i], CURLOPT_WRITEDATA, &body[i]);
		curl_multi_add_handle(m, h[i]);
	}
	start = mono_ms();
	while (running > 0 && mono_ms() - start < 30000) {
		assert_int_equal(curl_multi_perform(m, &running), CURLM_OK);
		if (running > 0)
			curl_multi_poll(m, NULL, 0, 50, NULL);
	}
	elapsed = mono_ms() - start;
	for (i = 0; i < 4; i++) {
		curl_easy_getinfo(h[i], CURLINFO_RESPONSE_CODE, &status);
		assert_int_equal(status, 200);
		assert_non_null(strstr(body[i].data, "<Identify>"));
		curl_multi_remove_handle(m, h[i]);
		curl_easy_cleanup(h[i]);
		buf_free(&body[i]);
	}
	curl_multi_cleanup(m);
	assert_true(elapsed >= 390);
	assert_true(elapsed < 1500);

	buf_init(&stats, MAX_BODY);
	assert_int_equal(control(s, "stats", &stats), 200);
	assert_non_null(strstr(stats.data, "\"oai_requests\":4,"));
	assert_non_null(strstr(stats.data, "\"in_flight\":0,"));
	assert_non_null(strstr(stats.data, "\"max_in_flight\":4}"));
	buf_free(&stats);

	/* A response still held back when SIGTERM comes must not leak. */
	snprintf(url, sizeof(url), "%s/oai?verb=Identify", s->base);
	assert_non_null(h[0] = curl_easy_init());
	assert_non_null(m = curl_multi_init());
	curl_easy_setopt(h[0], CURLOPT_URL, url);
	curl_easy_setopt(h[0], CURLOPT_NOPROXY, "*");
	curl_multi_add_handle(m, h[0]);
	buf_init(&stats, MAX_BODY);
	curl_easy_setopt(h[0], CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(h[0], CURLOPT_WRITEDATA, &stats);
	start = mono_ms();
	while (mono_ms() - start < 150) {
		curl_multi_perform(m, &running);
		curl_multi_poll(m, NULL, 0, 20, NULL);
	}
	srv_stop(s);
	curl_multi_remove_handle(m, h[0]);
	curl_easy_cleanup(h[0]);
	curl_multi_cleanup(m);
	buf_free(&stats);
}

/*
 * The HTTP status faults: the status and its reason, a small HTML page,
 * Retry-After as delta-seconds or as an IMF-fixdate; then the next
 * request is served as usual.
 */
static void
test_fault_status(void **state)
{
	static const struct {
		const char *spec;
		long	    status;
		const char *line;
	} cases[] = {
		{ "kind=http503", 503, "503 Service Unavailable" },
		{ "kind=http429&retry_after=7", 429, "429 Too Many Requests" },
		{ "kind=http500", 500, "500 Internal Server Error" },
		{ "kind=http502", 502, "502 Bad Gateway" },
		{ "kind=http504", 504, "504 Gateway Timeout" },
		{ "kind=http403", 403, "403 Forbidden" },
		{ "kind=http404", 404, "404 Not Found" },
		{ "kind=html200", 200, "200 OK" },
	};
	struct fixture *fx = *state;
	struct srv     *s = &fx->srv[0];
	struct fetch	ft;
	struct tm	tm;
	char	       *v, *end;
	time_t		t;
	size_t		i;

	srv_start(s, (const char *[]){ "--records", "5", NULL });
	for (i = 0; i < nitems(cases); i++) {
		arm(s, cases[i].spec);
		memset(&ft, 0, sizeof(ft));
		fetch_oai(s, "verb=Identify", &ft);
		assert_int_equal(ft.rc, CURLE_OK);
		assert_int_equal(ft.status, cases[i].status);
		assert_non_null(strstr(ft.head.data, cases[i].line));
		assert_header(&ft, "Content-Type", "text/html; charset=utf-8");
		assert_true(strncmp(ft.body.data, "<!DOCTYPE html>", 15) == 0);
		assert_null(strstr(ft.body.data, "<OAI-PMH"));
		if (strstr(cases[i].spec, "retry_after=7") != NULL)
			assert_header(&ft, "Retry-After", "7");
		else
			assert_no_header(&ft, "Retry-After");
		fetch_free(&ft);

		memset(&ft, 0, sizeof(ft));
		fetch_oai(s, "verb=Identify", &ft);
		assert_int_equal(ft.status, 200);
		assert_header(&ft, "Content-Type", "text/xml; charset=utf-8");
		assert_non_null(strstr(ft.body.data, "<Identify>"));
		fetch_free(&ft);
	}

	/* An HTTP-date two minutes ahead, in RFC 7231's one format. */
	arm(s, "kind=http503&retry_after_date=120");
	memset(&ft, 0, sizeof(ft));
	fetch_oai(s, "verb=Identify", &ft);
	assert_int_equal(ft.status, 503);
	assert_non_null(v = header(&ft, "Retry-After"));
	assert_int_equal(strlen(v), 29);
	memset(&tm, 0, sizeof(tm));
	end = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	assert_non_null(end);
	assert_int_equal(*end, '\0');
	t = timegm(&tm);
	assert_true(t - time(NULL) >= 115 && t - time(NULL) <= 121);
	free(v);
	fetch_free(&ft);
	srv_stop(s);
}

/*
 * Faults below HTTP: a reset or a close after part of the body (the full
 * Content-Length announced), and a stall that holds the connection open
 * without holding up the server.
 */
static void
test_fault_wire(void **state)
{
	struct fixture *fx = *state;
	struct srv     *s = &fx->srv[0];
	struct fetch	ft, normal, stalled;
	CURLM	       *m;
	CURL	       *h;
	CURLMsg	       *msg;
	char	       *len, full[32];
	const char     *date;
	size_t		off;
	int64_t		start;
	int		running = 1, left;
	CURLcode	rc = CURLE_OK;

	srv_start(s,
	    (const char *[]){ "--records", "30", "--page-size", "10", NULL });
	memset(&normal, 0, sizeof(normal));
	fetch_oai(s, "verb=ListRecords&metadataPrefix=oai_dc", &normal);
	assert_int_equal(normal.rc, CURLE_OK);
	snprintf(
	    full, sizeof(full), "%llu", (unsigned long long)normal.received);

	arm(s, "kind=reset&bytes=1000");
	memset(&ft, 0, sizeof(ft));
	fetch_oai(s, "verb=ListRecords&metadataPrefix=oai_dc", &ft);
	assert_int_equal(ft.rc, CURLE_RECV_ERROR);
	assert_int_equal(ft.status, 200);
	assert_header(&ft, "Content-Length", full);
	assert_int_equal(ft.received, 1000);
	/* The same bytes but for the responseDate (20 of them). */
	assert_non_null(date = strstr(normal.body.data, "<responseDate>"));
	off = (size_t)(date - normal.body.data) + 14;
	assert_true(off + 20 < 1000);
	assert_memory_equal(ft.body.data, normal.body.data, off);
	assert_memory_equal(ft.body.data + off + 20,
	    normal.body.data + off + 20, 1000 - off - 20);
	fetch_free(&ft);

	/* Default: half the body. */
	arm(s, "kind=reset");
	memset(&ft, 0, sizeof(ft));
	fetch_oai(s, "verb=ListRecords&metadataPrefix=oai_dc", &ft);
	assert_int_equal(ft.rc, CURLE_RECV_ERROR);
	assert_int_equal(ft.received, normal.received / 2);
	fetch_free(&ft);

	arm(s, "kind=truncate&bytes=500");
	memset(&ft, 0, sizeof(ft));
	fetch_oai(s, "verb=ListRecords&metadataPrefix=oai_dc", &ft);
	assert_int_equal(ft.rc, CURLE_PARTIAL_FILE);
	assert_int_equal(ft.status, 200);
	assert_header(&ft, "Content-Length", full);
	assert_int_equal(ft.received, 500);
	fetch_free(&ft);

	/* A POST's answer is taken over the same way. */
	arm(s, "kind=truncate&bytes=300");
	memset(&ft, 0, sizeof(ft));
	ft.post = "verb=ListRecords&metadataPrefix=oai_dc";
	xasprintf(&len, "%s/oai", s->base);
	fetch(len, &ft);
	free(len);
	assert_int_equal(ft.rc, CURLE_PARTIAL_FILE);
	assert_header(&ft, "Content-Length", full);
	assert_int_equal(ft.received, 300);
	fetch_free(&ft);

	/* bytes= past the end still leaves the last byte out. */
	arm(s, "kind=truncate&bytes=100000000");
	memset(&ft, 0, sizeof(ft));
	fetch_oai(s, "verb=ListRecords&metadataPrefix=oai_dc", &ft);
	assert_int_equal(ft.rc, CURLE_PARTIAL_FILE);
	assert_int_equal(ft.received, normal.received - 1);
	fetch_free(&ft);

	/* A client that gives up after 1 s of silence. */
	arm(s, "kind=stall&seconds=2&bytes=100");
	memset(&ft, 0, sizeof(ft));
	ft.timeout_ms = 1000;
	fetch_oai(s, "verb=Identify", &ft);
	assert_int_equal(ft.rc, CURLE_OPERATION_TIMEDOUT);
	assert_int_equal(ft.received, 100);
	assert_true(ft.ms >= 950 && ft.ms < 1900);
	fetch_free(&ft);

	/*
	 * A patient one: 100 bytes, then 2 s of nothing (while others are
	 * served), then the close, short of the Content-Length.
	 */
	arm(s, "kind=stall&seconds=2&bytes=100");
	memset(&stalled, 0, sizeof(stalled));
	stalled.timeout_ms = 10000;
	xasprintf(&len, "%s/oai?verb=Identify", s->base);
	h = fetch_handle(len, &stalled);
	free(len);
	assert_non_null(m = curl_multi_init());
	curl_multi_add_handle(m, h);
	start = mono_ms();
	while (stalled.received < 100 && mono_ms() - start < 5000) {
		curl_multi_perform(m, &running);
		curl_multi_poll(m, NULL, 0, 20, NULL);
	}
	assert_int_equal(stalled.received, 100);
	memset(&ft, 0, sizeof(ft));
	fetch_oai(s, "verb=Identify", &ft);
	assert_int_equal(ft.rc, CURLE_OK);
	assert_int_equal(ft.status, 200);
	assert_true(ft.ms < 1000);
	fetch_free(&ft);
	while (running > 0 && mono_ms() - start < 10000) {
		curl_multi_perform(m, &running);
		if (running > 0)
			curl_multi_poll(m, NULL, 0, 50, NULL);
	}
	assert_int_equal(running, 0);
	assert_true(mono_ms() - start >= 1900);
	while ((msg = curl_multi_info_read(m, &left)) != NULL)
		if (msg->msg == CURLMSG_DONE)
			rc = msg->data.result;
	assert_int_equal(rc, CURLE_PARTIAL_FILE);
	assert_int_equal(stalled.received, 100);
	curl_multi_remove_handle(m, h);
	fetch_done(h, &stalled);
	curl_multi_cleanup(m);
	fetch_free(&stalled);
	fetch_free(&normal);
	srv_stop(s);
}

static char *
inflate_all(const struct buf *b, int window)
{
	struct buf    out;
	z_stream      z;
	unsigned char chunk[16384];
	int	      rc;

	memset(&z, 0, sizeof(z));
	assert_int_equal(inflateInit2(&z, window), Z_OK);
	buf_init(&out, MAX_BODY);
	z.next_in = (unsigned char *)b->data;
	z.avail_in = (uInt)b->len;
	do {
		z.next_out = chunk;
		z.avail_out = sizeof(chunk);
		rc = inflate(&z, Z_NO_FLUSH);
		assert_true(rc == Z_OK || rc == Z_STREAM_END);
		assert_int_equal(
		    buf_add(&out, chunk, sizeof(chunk) - z.avail_out), 0);
	} while (rc != Z_STREAM_END);
	inflateEnd(&z);
	return out.data;
}

/* Compressed bodies, announced and not. */
static void
test_fault_encoding(void **state)
{
	struct fixture *fx = *state;
	struct srv     *s = &fx->srv[0];
	struct fetch	ft, normal;
	char	       *want, *got, *plain;

	srv_start(s, (const char *[]){ "--records", "30", NULL });
	memset(&normal, 0, sizeof(normal));
	fetch_oai(s, "verb=ListRecords&metadataPrefix=oai_dc", &normal);
	want = normalize(normal.body.data, s->port);

	arm(s, "kind=gzip");
	memset(&ft, 0, sizeof(ft));
	fetch_oai(s, "verb=ListRecords&metadataPrefix=oai_dc", &ft);
	assert_int_equal(ft.status, 200);
	assert_header(&ft, "Content-Encoding", "gzip");
	assert_true(ft.body.len > 2 && ft.body.len < normal.body.len / 2);
	assert_int_equal((unsigned char)ft.body.data[0], 0x1f);
	assert_int_equal((unsigned char)ft.body.data[1], 0x8b);
	plain = inflate_all(&ft.body, 15 + 16);
	got = normalize(plain, s->port);
	assert_string_equal(got, want);
	free(plain);
	free(got);
	fetch_free(&ft);

	/* The same through curl's decoder. */
	arm(s, "kind=gzip");
	memset(&ft, 0, sizeof(ft));
	ft.decode = 1;
	fetch_oai(s, "verb=ListRecords&metadataPrefix=oai_dc", &ft);
	assert_int_equal(ft.rc, CURLE_OK);
	got = normalize(ft.body.data, s->port);
	assert_string_equal(got, want);
	assert_true((uint64_t)ft.downloaded < ft.received);
	free(got);
	fetch_free(&ft);

	/* deflate is the zlib format (RFC 9110), not raw deflate. */
	arm(s, "kind=deflate");
	memset(&ft, 0, sizeof(ft));
	fetch_oai(s, "verb=ListRecords&metadataPrefix=oai_dc", &ft);
	assert_header(&ft, "Content-Encoding", "deflate");
	assert_int_equal((unsigned char)ft.body.data[0], 0x78);
	plain = inflate_all(&ft.body, 15);
	got = normalize(plain, s->port);
	assert_string_equal(got, want);
	free(plain);
	free(got);
	fetch_free(&ft);
	arm(s, "kind=deflate");
	memset(&ft, 0, sizeof(ft));
	ft.decode = 1;
	fetch_oai(s, "verb=ListRecords&metadataPrefix=oai_dc", &ft);
	assert_int_equal(ft.rc, CURLE_OK);
	got = normalize(ft.body.data, s->port);
	assert_string_equal(got, want);
	free(got);
	fetch_free(&ft);

	/* gzip bytes that no header announces: not decoded even when asked. */
	arm(s, "kind=gzip_noheader");
	memset(&ft, 0, sizeof(ft));
	ft.decode = 1;
	fetch_oai(s, "verb=ListRecords&metadataPrefix=oai_dc", &ft);
	assert_int_equal(ft.rc, CURLE_OK);
	assert_no_header(&ft, "Content-Encoding");
	assert_header(&ft, "Content-Type", "text/xml; charset=utf-8");
	assert_int_equal((unsigned char)ft.body.data[0], 0x1f);
	assert_int_equal((unsigned char)ft.body.data[1], 0x8b);
	plain = inflate_all(&ft.body, 15 + 16);
	got = normalize(plain, s->port);
	assert_string_equal(got, want);
	free(plain);
	free(got);
	fetch_free(&ft);

	free(want);
	fetch_free(&normal);
	srv_stop(s);
}

/*
 * A redirect loop holds on to its URL until cleared (or hops= runs out);
 * a single redirect to the same request works, for GET and for POST.
 */
static void
test_fault_redirect(void **state)
{
	struct fixture *fx = *state;
	struct srv     *s = &fx->srv[0];
	struct fetch	ft;
	struct buf	b;
	char	       *url, *loc;
	unsigned int	id;

	srv_start(s, (const char *[]){ "--records", "5", NULL });
	id = arm(s, "kind=redirect_loop");
	memset(&ft, 0, sizeof(ft));
	fetch_oai(s, "verb=Identify", &ft);
	assert_int_equal(ft.status, 302);
	xasprintf(&url, "%s/oai?verb=Identify", s->base);
	assert_header(&ft, "Location", url);
	fetch_free(&ft);
	memset(&ft, 0, sizeof(ft));
	ft.maxredirs = 5;
	fetch(url, &ft);
	assert_int_equal(ft.rc, CURLE_TOO_MANY_REDIRECTS);
	assert_int_equal(ft.redirects, 5);
	fetch_free(&ft);
	assert_fault(s, id, "\"fired\":1,");
	assert_fault(s, id, "\"hops\":7,\"looping\":true");
	/* Other URLs are not caught in it. */
	memset(&ft, 0, sizeof(ft));
	fetch_oai(s, "verb=ListSets", &ft);
	assert_int_equal(ft.status, 200);
	fetch_free(&ft);
	buf_init(&b, MAX_BODY);
	assert_int_equal(control(s, "clear-faults", &b), 200);
	assert_int_equal(control(s, "faults", &b), 200);
	assert_int_equal(b.len, 0);
	memset(&ft, 0, sizeof(ft));
	ft.maxredirs = 5;
	fetch(url, &ft);
	assert_int_equal(ft.rc, CURLE_OK);
	assert_int_equal(ft.redirects, 0);
	fetch_free(&ft);

	/* hops=3: three redirects, then the answer. */
	arm(s, "kind=redirect_loop&hops=3");
	memset(&ft, 0, sizeof(ft));
	ft.maxredirs = 5;
	fetch(url, &ft);
	assert_int_equal(ft.rc, CURLE_OK);
	assert_int_equal(ft.status, 200);
	assert_int_equal(ft.redirects, 3);
	fetch_free(&ft);

	arm(s, "kind=redirect");
	memset(&ft, 0, sizeof(ft));
	ft.maxredirs = 5;
	fetch(url, &ft);
	assert_int_equal(ft.rc, CURLE_OK);
	assert_int_equal(ft.status, 200);
	assert_int_equal(ft.redirects, 1);
	assert_non_null(strstr(ft.body.data, "<Identify>"));
	fetch_free(&ft);
	free(url);

	/* A POST's form comes back as the query of the Location. */
	arm(s, "kind=redirect");
	xasprintf(&url, "%s/oai", s->base);
	memset(&ft, 0, sizeof(ft));
	ft.post = "verb=GetRecord&metadataPrefix=oai_dc&"
		  "identifier=oai%3Aoaiharvest.test%3Arec%2F2";
	fetch(url, &ft);
	assert_int_equal(ft.status, 302);
	assert_non_null(loc = header(&ft, "Location"));
	assert_non_null(strstr(loc,
	    "/oai?verb=GetRecord&metadataPrefix="
	    "oai_dc&identifier=oai%3Aoaiharvest.test%3Arec%2F2"));
	fetch_free(&ft);
	memset(&ft, 0, sizeof(ft));
	fetch(loc, &ft);
	assert_int_equal(ft.status, 200);
	assert_non_null(strstr(ft.body.data,
	    "<identifier>oai:oaiharvest.test:rec/2</identifier>"));
	fetch_free(&ft);
	free(loc);
	free(url);
	buf_free(&b);
	srv_stop(s);
}

/* Bodies too big for memory, streamed; and a gzip bomb. */
static void
test_fault_oversize(void **state)
{
	struct fixture *fx = *state;
	struct srv     *s = &fx->srv[0];
	struct fetch	ft;
	struct buf	b;
	char	       *len;
	const char     *errstr;
	long long	n;
	int64_t		start;

	srv_start(s, (const char *[]){ "--records", "20", NULL });
	arm(s, "kind=oversize&mb=5");
	memset(&ft, 0, sizeof(ft));
	ft.discard = 1;
	fetch_oai(s, "verb=ListRecords&metadataPrefix=oai_dc", &ft);
	assert_int_equal(ft.rc, CURLE_OK);
	assert_int_equal(ft.status, 200);
	assert_true(ft.received > 5ULL * 1024 * 1024);
	assert_non_null(len = header(&ft, "Content-Length"));
	assert_int_equal(parse_ll(len, 0, LLONG_MAX, &n, &errstr), 0);
	assert_int_equal((uint64_t)n, ft.received);
	free(len);
	fetch_free(&ft);

	/* Small enough to look at: a well-formed response, padded. */
	arm(s, "kind=oversize&mb=1&chunked=1");
	memset(&ft, 0, sizeof(ft));
	fetch_oai(s, "verb=ListRecords&metadataPrefix=oai_dc", &ft);
	assert_int_equal(ft.rc, CURLE_OK);
	assert_header(&ft, "Transfer-Encoding", "chunked");
	assert_no_header(&ft, "Content-Length");
	assert_true(ft.received > 1024 * 1024);
	assert_true(xml_ok(&ft.body));
	assert_int_equal(count(ft.body.data, "<record>"), 20);
	fetch_free(&ft);

	arm(s, "kind=oversize&mb=5&gzipbomb=1");
	memset(&ft, 0, sizeof(ft));
	ft.decode = 1;
	ft.discard = 1;
	fetch_oai(s, "verb=ListRecords&metadataPrefix=oai_dc", &ft);
	assert_int_equal(ft.rc, CURLE_OK);
	assert_header(&ft, "Content-Encoding", "gzip");
	assert_true(ft.received > 5ULL * 1024 * 1024);
	assert_true(ft.downloaded > 0);
	assert_true((uint64_t)ft.downloaded * 5 < ft.received);
	assert_true(ft.downloaded < 1024 * 1024);
	fetch_free(&ft);

	/* A client that goes away: the stream stops. */
	arm(s, "kind=oversize&mb=300");
	memset(&ft, 0, sizeof(ft));
	ft.discard = 1;
	ft.timeout_ms = 200;
	fetch_oai(s, "verb=Identify", &ft);
	assert_int_equal(ft.rc, CURLE_OPERATION_TIMEDOUT);
	assert_true(ft.received < 300ULL * 1024 * 1024);
	fetch_free(&ft);
	buf_init(&b, MAX_BODY);
	start = mono_ms();
	do {
		sleep_ms(20);
		assert_int_equal(control(s, "stats", &b), 200);
	} while (strstr(b.data, "\"in_flight\":0,") == NULL &&
	    mono_ms() - start < 5000);
	assert_non_null(strstr(b.data, "\"in_flight\":0,"));
	assert_true(log_count(s, "why=\"client closed\"") +
		log_count(s, "why=\"Connection reset by peer\"") +
		log_count(s, "why=\"Broken pipe\"") >=
	    1);
	buf_free(&b);
	srv_stop(s);
}

static void
test_fault_records(void **state)
{
	struct fixture *fx = *state;
	struct srv     *s = &fx->srv[0];
	struct fetch	ft;
	const char     *p;
	unsigned int	id;

	srv_start(s,
	    (const char *[]){ "--records", "30", "--page-size", "10",
		"--deleted-every", "4", NULL });

	arm(s, "kind=ctrlchars");
	memset(&ft, 0, sizeof(ft));
	fetch_oai(s, "verb=ListRecords&metadataPrefix=oai_dc", &ft);
	assert_non_null(p = strstr(ft.body.data, "\x01\x0b\x1f"));
	assert_int_equal(record_at(ft.body.data, p), 1);
	assert_false(xml_ok(&ft.body));
	fetch_free(&ft);

	/* record=3 is deleted (every 4th): the next one with metadata. */
	arm(s, "kind=ctrlchars&record=3");
	memset(&ft, 0, sizeof(ft));
	fetch_oai(s, "verb=ListRecords&metadataPrefix=oai_dc", &ft);
	assert_non_null(p = strstr(ft.body.data, "\x01\x0b\x1f"));
	assert_int_equal(record_at(ft.body.data, p), 5);
	fetch_free(&ft);

	arm(s, "kind=badchars&record=1");
	memset(&ft, 0, sizeof(ft));
	fetch_oai(s, "verb=ListRecords&metadataPrefix=oai_dc", &ft);
	assert_non_null(p = strstr(ft.body.data, "\xef\xbf\xbe&#xD800;"));
	assert_int_equal(record_at(ft.body.data, p), 2);
	assert_false(xml_ok(&ft.body));
	fetch_free(&ft);

	arm(s, "kind=badencoding");
	memset(&ft, 0, sizeof(ft));
	fetch_oai(s, "verb=ListRecords&metadataPrefix=oai_dc", &ft);
	assert_non_null(p = strstr(ft.body.data, "\xc3\x28\xff"));
	assert_int_equal(record_at(ft.body.data, p), 1);
	assert_false(xml_ok(&ft.body));
	fetch_free(&ft);

	/* No descriptions in ListIdentifiers: it waits for ListRecords. */
	id = arm(s, "kind=ctrlchars");
	memset(&ft, 0, sizeof(ft));
	fetch_oai(s, "verb=ListIdentifiers&metadataPrefix=oai_dc", &ft);
	assert_null(strchr(ft.body.data, '\x01'));
	assert_true(xml_ok(&ft.body));
	fetch_free(&ft);
	assert_fault(s, id, "\"fired\":0,");
	memset(&ft, 0, sizeof(ft));
	fetch_oai(s,
	    "verb=GetRecord&metadataPrefix=qdc&"
	    "identifier=oai:oaiharvest.test:rec/3",
	    &ft);
	assert_non_null(p = strstr(ft.body.data, "\x01\x0b\x1f"));
	assert_non_null(strstr(ft.body.data, "<dcterms:abstract>"));
	assert_true(p > strstr(ft.body.data, "<dcterms:abstract>"));
	fetch_free(&ft);
	assert_fault(s, id, "\"fired\":1,");

	/* Malformed records in well-formed pages. */
	arm(s, "kind=badrecord&variant=noid&record=2");
	memset(&ft, 0, sizeof(ft));
	fetch_oai(s, "verb=ListIdentifiers&metadataPrefix=oai_dc", &ft);
	assert_true(xml_ok(&ft.body));
	assert_int_equal(count(ft.body.data, "<header"), 10);
	assert_int_equal(count(ft.body.data, "<identifier>"), 9);
	assert_null(strstr(ft.body.data, "rec/3<"));
	fetch_free(&ft);

	arm(s, "kind=badrecord&variant=baddate");
	memset(&ft, 0, sizeof(ft));
	fetch_oai(s,
	    "verb=GetRecord&metadataPrefix=oai_dc&"
	    "identifier=oai:oaiharvest.test:rec/3",
	    &ft);
	assert_true(xml_ok(&ft.body));
	assert_tag(ft.body.data, "datestamp", "2015-13-45T99:99:99Z");
	fetch_free(&ft);

	id = arm(s, "kind=badrecord&variant=tworoots&record=1");
	memset(&ft, 0, sizeof(ft));
	fetch_oai(s, "verb=ListIdentifiers&metadataPrefix=oai_dc", &ft);
	assert_fault(s, id, "\"fired\":0,");
	fetch_free(&ft);
	memset(&ft, 0, sizeof(ft));
	fetch_oai(s, "verb=ListRecords&metadataPrefix=oai_dc", &ft);
	assert_true(xml_ok(&ft.body));
	assert_int_equal(count(ft.body.data, "<metadata>"), 8);
	assert_int_equal(count(ft.body.data, "<oai_dc:dc "), 9);
	assert_non_null(p = strstr(ft.body.data, "</oai_dc:dc>\n<oai_dc:dc "));
	assert_int_equal(
	    count(ft.body.data, "<record>") - count(p, "<record>"), 2);
	fetch_free(&ft);
	assert_fault(s, id,
	    "\"params\":{\"record\":1,\"variant\":"
	    "\"tworoots\"}");
	srv_stop(s);
}

/* A token's query, from a response that must have one. */
static char *
next_query(const char *body, const char *verb, struct token *t)
{
	token_info(body, t);
	assert_true(t->present && !t->empty);
	return token_query(verb, t->text);
}

static void
test_fault_tokens(void **state)
{
	struct fixture *fx = *state;
	struct srv     *s = &fx->srv[0];
	struct fetch	ft, p0, p1;
	struct token	t, t1, t4;
	struct buf	ids0, ids;
	char	       *q1, *q, *q4, code[64];
	unsigned int	id;
	int		i;

	srv_start(s,
	    (const char *[]){ "--records", "50", "--page-size", "10", NULL });
	buf_init(&ids0, MAX_BODY);
	buf_init(&ids, MAX_BODY);
	memset(&p0, 0, sizeof(p0));
	fetch_oai(s, "verb=ListRecords&metadataPrefix=oai_dc", &p0);
	collect_ids(p0.body.data, &ids0);
	q1 = next_query(p0.body.data, "ListRecords", &t1);
	memset(&p1, 0, sizeof(p1));
	fetch_oai(s, q1, &p1);
	/* The last page's token, for later. */
	q4 = xstrdup(q1);
	for (i = 0; i < 3; i++) {
		memset(&ft, 0, sizeof(ft));
		fetch_oai(s, q4, &ft);
		free(q4);
		q4 = next_query(ft.body.data, "ListRecords", &t4);
		fetch_free(&ft);
	}

	/* First page: a fixed token that serves page 0 again. */
	arm(s, "kind=same_token");
	memset(&ft, 0, sizeof(ft));
	fetch_oai(s, "verb=ListRecords&metadataPrefix=oai_dc", &ft);
	q = next_query(ft.body.data, "ListRecords", &t);
	assert_int_equal(t.cursor, 0);
	assert_int_equal(t.size, 50);
	assert_string_not_equal(t.text, t1.text);
	fetch_free(&ft);
	memset(&ft, 0, sizeof(ft));
	fetch_oai(s, q, &ft);
	buf_reset(&ids);
	collect_ids(ft.body.data, &ids);
	assert_string_equal(buf_str(&ids), buf_str(&ids0));
	fetch_free(&ft);
	free(q);

	/* Later pages: the token that was sent, even on the last page. */
	arm(s, "kind=same_token&count=2");
	memset(&ft, 0, sizeof(ft));
	fetch_oai(s, q1, &ft);
	token_info(ft.body.data, &t);
	assert_string_equal(t.text, t1.text);
	assert_int_equal(t.cursor, 10);
	assert_int_equal(count(ft.body.data, "<record>"), 10);
	fetch_free(&ft);
	memset(&ft, 0, sizeof(ft));
	fetch_oai(s, q4, &ft);
	token_info(ft.body.data, &t);
	assert_true(t.present && !t.empty);
	assert_string_equal(t.text, t4.text);
	fetch_free(&ft);

	/* An empty page whose token brings the same records after all. */
	arm(s, "kind=empty_token");
	memset(&ft, 0, sizeof(ft));
	fetch_oai(s, q1, &ft);
	assert_int_equal(count(ft.body.data, "<record>"), 0);
	assert_non_null(strstr(ft.body.data, "<ListRecords>"));
	assert_true(xml_ok(&ft.body));
	q = next_query(ft.body.data, "ListRecords", &t);
	assert_int_equal(t.cursor, 10);
	assert_int_equal(t.size, 50);
	fetch_free(&ft);
	memset(&ft, 0, sizeof(ft));
	fetch_oai(s, q, &ft);
	buf_reset(&ids0);
	collect_ids(p1.body.data, &ids0);
	buf_reset(&ids);
	collect_ids(ft.body.data, &ids);
	assert_int_equal(count(ft.body.data, "<record>"), 10);
	assert_string_equal(buf_str(&ids), buf_str(&ids0));
	fetch_free(&ft);
	free(q);

	/* Token faults wait for a request with a token. */
	id = arm(s, "kind=expire_token");
	memset(&ft, 0, sizeof(ft));
	fetch_oai(s, "verb=ListRecords&metadataPrefix=oai_dc", &ft);
	error_code(ft.body.data, code, sizeof(code));
	assert_string_equal(code, "");
	fetch_free(&ft);
	assert_fault(s, id, "\"fired\":0,");
	memset(&ft, 0, sizeof(ft));
	fetch_oai(s, q1, &ft);
	error_code(ft.body.data, code, sizeof(code));
	assert_string_equal(code, "badResumptionToken");
	fetch_free(&ft);
	assert_fault(s, id, "\"fired\":1,\"active\":false");

	arm(s, "kind=past_end");
	memset(&ft, 0, sizeof(ft));
	fetch_oai(s, q1, &ft);
	error_code(ft.body.data, code, sizeof(code));
	assert_string_equal(code, "noRecordsMatch");
	fetch_free(&ft);
	/* ... once. */
	memset(&ft, 0, sizeof(ft));
	fetch_oai(s, q1, &ft);
	error_code(ft.body.data, code, sizeof(code));
	assert_string_equal(code, "");
	fetch_free(&ft);

	arm(s, "kind=wrong_cls");
	memset(&ft, 0, sizeof(ft));
	fetch_oai(s, "verb=ListRecords&metadataPrefix=oai_dc", &ft);
	token_info(ft.body.data, &t);
	assert_int_equal(t.size, 57);
	fetch_free(&ft);
	arm(s, "kind=wrong_cls&delta=-3");
	memset(&ft, 0, sizeof(ft));
	fetch_oai(s, q4, &ft);
	token_info(ft.body.data, &t);
	assert_true(t.present && t.empty);
	assert_int_equal(t.size, 47);
	fetch_free(&ft);
	memset(&ft, 0, sizeof(ft));
	fetch_oai(s, q4, &ft);
	token_info(ft.body.data, &t);
	assert_int_equal(t.size, 50);
	fetch_free(&ft);

	free(q1);
	free(q4);
	buf_free(&ids0);
	buf_free(&ids);
	fetch_free(&p0);
	fetch_free(&p1);
	srv_stop(s);
}

static long
status_of(const struct srv *s, const char *query)
{
	struct fetch ft;

	memset(&ft, 0, sizeof(ft));
	fetch_oai(s, query, &ft);
	assert_int_equal(ft.rc, CURLE_OK);
	fetch_free(&ft);
	return ft.status;
}

/* When faults fire: at=, page=, count=, queue order, and arming errors. */
static void
test_fault_triggers(void **state)
{
	struct fixture *fx = *state;
	struct srv     *s = &fx->srv[0], *t = &fx->srv[1];
	struct fetch	ft;
	struct token	tk;
	struct buf	b;
	char	       *q[5];
	unsigned int	id, a, c;
	int		i;

	srv_start(s,
	    (const char *[]){ "--records", "50", "--page-size", "10", NULL });
	buf_init(&b, MAX_BODY);

	/* The third /oai request from now; control requests do not count. */
	id = arm(s, "kind=http500&at=3");
	assert_fault(s, id,
	    "\"due\":3,\"page\":null,\"count\":1,\"fired\":0,"
	    "\"active\":true");
	assert_int_equal(status_of(s, "verb=Identify"), 200);
	assert_int_equal(control(s, "stats", &b), 200);
	assert_int_equal(status_of(s, "verb=Identify"), 200);
	assert_int_equal(status_of(s, "verb=Identify"), 500);
	assert_int_equal(status_of(s, "verb=Identify"), 200);
	assert_fault(s, id, "\"fired\":1,\"active\":false");

	/* count=2: twice running. */
	arm(s, "kind=http502&count=2");
	assert_int_equal(status_of(s, "verb=Identify"), 502);
	assert_int_equal(status_of(s, "verb=Identify"), 502);
	assert_int_equal(status_of(s, "verb=Identify"), 200);

	/* Queue order: one fault per request, the first due. */
	a = arm(s, "kind=http503");
	c = arm(s, "kind=http504");
	assert_true(c == a + 1);
	assert_int_equal(status_of(s, "verb=Identify"), 503);
	assert_int_equal(status_of(s, "verb=Identify"), 504);
	assert_int_equal(status_of(s, "verb=Identify"), 200);

	/* count=0: until cleared. */
	id = arm(s, "kind=http429&count=0&retry_after=1");
	for (i = 0; i < 10; i++)
		assert_int_equal(status_of(s, "verb=Identify"), 429);
	assert_fault(s, id,
	    "\"count\":0,\"fired\":10,\"active\":true,"
	    "\"params\":{\"retry_after\":1}");
	assert_int_equal(control(s, "clear-faults", &b), 200);
	assert_string_equal(b.data, "{\"ok\":true}\n");
	assert_int_equal(control(s, "faults", &b), 200);
	assert_int_equal(b.len, 0);
	assert_int_equal(status_of(s, "verb=Identify"), 200);

	/* page=2: the third page of any list, each time it is asked for. */
	id = arm(s, "kind=http503&page=2&count=2");
	assert_fault(s, id, "\"due\":null,\"page\":2,");
	memset(&ft, 0, sizeof(ft));
	fetch_oai(s, "verb=ListIdentifiers&metadataPrefix=oai_dc", &ft);
	assert_int_equal(ft.status, 200);
	q[0] = next_query(ft.body.data, "ListIdentifiers", &tk);
	fetch_free(&ft);
	assert_int_equal(status_of(s, "verb=Identify"), 200);
	memset(&ft, 0, sizeof(ft));
	fetch_oai(s, q[0], &ft);
	assert_int_equal(ft.status, 200);
	q[1] = next_query(ft.body.data, "ListIdentifiers", &tk);
	assert_int_equal(tk.cursor, 10);
	fetch_free(&ft);
	assert_int_equal(status_of(s, q[1]), 503);
	assert_int_equal(status_of(s, q[1]), 503);
	memset(&ft, 0, sizeof(ft));
	fetch_oai(s, q[1], &ft);
	assert_int_equal(ft.status, 200);
	q[2] = next_query(ft.body.data, "ListIdentifiers", &tk);
	assert_int_equal(tk.cursor, 20);
	fetch_free(&ft);
	assert_int_equal(status_of(s, q[2]), 200);
	assert_fault(s, id, "\"fired\":2,\"active\":false");
	for (i = 0; i < 3; i++)
		free(q[i]);

	/* Only /oai: control requests and 404s pass a due fault by. */
	id = arm(s, "kind=http500");
	assert_int_equal(control(s, "stats", &b), 200);
	assert_non_null(strstr(b.data, "\"faults_fired\":"));
	assert_int_equal(control(s, "dump", &b), 200);
	memset(&ft, 0, sizeof(ft));
	fetch_oai(s, "verb=Identify", &ft);
	fetch_free(&ft);
	assert_int_equal(ft.status, 500);

	/* Undecodable arguments are still an /oai request. */
	arm(s, "kind=http404");
	assert_int_equal(status_of(s, "verb=Identify&x=%zz"), 404);
	assert_int_equal(status_of(s, "verb=Identify&x=%zz"), 200);

	arm_bad(s, "kind=nope", "unknown fault kind");
	arm_bad(s, "at=1", "kind");
	arm_bad(s, "kind=http503&kind=http500", "kind");
	arm_bad(s, "kind=http503&bytes=5",
	    "bytes: not a parameter of kind "
	    "http503");
	arm_bad(s, "kind=reset&at=1&page=1", "at= and page=");
	arm_bad(s, "kind=stall&seconds=99999", "seconds: too large");
	arm_bad(s, "kind=http503&count=1&count=2", "count: repeated");
	arm_bad(s, "kind=http503&retry_after=1&retry_after_date=1", "exclude");
	arm_bad(s, "kind=badrecord&variant=nope", "variant");
	arm_bad(s, "kind=oversize&mb=0", "mb: too small");
	arm_bad(s, "kind=http503&at=0", "at: too small");

	/* Every firing is one info line, and counted in the stats. */
	assert_int_equal(control(s, "stats", &b), 200);
	assert_non_null(strstr(b.data, "\"faults_fired\":19,"));
	assert_int_equal(log_count(s, "level=info msg=\"fault\" id="), 19);
	buf_free(&b);
	srv_stop(s);

	/* --fault: armed at start-up, counted from there. */
	srv_start(t,
	    (const char *[]){ "--records", "30", "--page-size", "10", "--fault",
		"kind=http503,page=1,count=1,retry_after=1", "--fault",
		"kind=http500,at=2", NULL });
	memset(&ft, 0, sizeof(ft));
	fetch_oai(t, "verb=ListRecords&metadataPrefix=oai_dc", &ft);
	assert_int_equal(ft.status, 200);
	q[0] = next_query(ft.body.data, "ListRecords", &tk);
	fetch_free(&ft);
	memset(&ft, 0, sizeof(ft));
	fetch_oai(t, q[0], &ft);
	assert_int_equal(ft.status, 503);
	assert_header(&ft, "Retry-After", "1");
	fetch_free(&ft);
	assert_int_equal(status_of(t, q[0]), 500);
	assert_int_equal(status_of(t, q[0]), 200);
	free(q[0]);
	srv_stop(t);

	assert_int_equal(
	    run_server((const char *[]){ "--fault", "kind=nope", NULL }), 64);
	assert_int_equal(
	    run_server((const char *[]){ "--fault", "kind=stall,mb=3", NULL }),
	    64);
}

/*
 * SIGTERM while a stall and a stream to a client that stopped reading are
 * open: exit 0, everything freed (ASan).
 */
static size_t
pause_cb(char *p, size_t size, size_t n, void *arg)
{
	uint64_t *got = arg;

	if (*got >= 1024 * 1024)
		return CURL_WRITEFUNC_PAUSE;
	*got += size * n;
	return size * n;
}

static void
test_fault_shutdown(void **state)
{
	struct fixture *fx = *state;
	struct srv     *s = &fx->srv[0];
	struct fetch	stalled;
	struct buf	b;
	CURLM	       *m;
	CURL	       *h[2];
	char		url[128];
	uint64_t	got = 0;
	int64_t		start;
	int		running, i;

	srv_start(s, (const char *[]){ "--records", "10", NULL });
	arm(s, "kind=stall&seconds=60&bytes=50");
	arm(s, "kind=oversize&mb=300");
	snprintf(url, sizeof(url), "%s/oai?verb=Identify", s->base);
	memset(&stalled, 0, sizeof(stalled));
	h[0] = fetch_handle(url, &stalled);
	assert_non_null(h[1] = curl_easy_init());
	curl_easy_setopt(h[1], CURLOPT_URL, url);
	curl_easy_setopt(h[1], CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h[1], CURLOPT_WRITEFUNCTION, pause_cb);
	curl_easy_setopt(h[1], CURLOPT_WRITEDATA, &got);
	assert_non_null(m = curl_multi_init());
	curl_multi_add_handle(m, h[0]);
	start = mono_ms();
	while (stalled.received < 50 && mono_ms() - start < 5000) {
		curl_multi_perform(m, &running);
		curl_multi_poll(m, NULL, 0, 20, NULL);
	}
	curl_multi_add_handle(m, h[1]);
	while (got < 1024 * 1024 && mono_ms() - start < 5000) {
		curl_multi_perform(m, &running);
		curl_multi_poll(m, NULL, 0, 20, NULL);
	}
	assert_int_equal(stalled.received, 50);
	assert_true(got >= 1024 * 1024);
	buf_init(&b, MAX_BODY);
	assert_int_equal(control(s, "stats", &b), 200);
	assert_non_null(strstr(b.data, "\"in_flight\":2,"));
	buf_free(&b);
	srv_stop(s);
	for (i = 0; i < 2; i++) {
		curl_multi_remove_handle(m, h[i]);
		curl_easy_cleanup(h[i]);
	}
	curl_multi_cleanup(m);
	fetch_free(&stalled);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_identify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_paging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_control, setup, teardown),
		cmocka_unit_test_setup_teardown(test_content, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_determinism, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delay, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_fault_status, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_fault_wire, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_fault_encoding, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_fault_redirect, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_fault_oversize, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_fault_records, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_fault_tokens, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_fault_triggers, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_fault_shutdown, setup, teardown),
	};
	int rc;

	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	xmlCleanupParser();
	return rc;
}
