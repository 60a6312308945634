/*
 * bench-walk: the floor of a harvest.  Fetches every page of an OAI-PMH
 * ListRecords list with libcurl (one connection, kept alive), following the
 * resumption tokens, and does nothing else with the bytes: no XML parsing
 * beyond finding the token, no storing.  With DIR, each page is also written
 * to DIR/pNNNNNNN.xml (for xmllint, outside the timed walk), and the token
 * each page hands out to DIR/tokens, a line a page (for bench-pages).
 *
 *   bench-walk URL [DIR]     prints: pages=N bytes=B seconds=S
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#define MAX_PAGES      10000000L
#define MAX_PAGE_BYTES (512UL * 1024 * 1024)

struct page {
	char  *p;
	size_t len;
	size_t cap;
};

static size_t
on_data(char *ptr, size_t size, size_t n, void *arg)
{
	struct page *pg = arg;
	size_t	     len = size * n;
	char	    *np;

	if (pg->len + len + 1 > MAX_PAGE_BYTES)
		return 0;
	if (pg->len + len + 1 > pg->cap) {
		pg->cap = (pg->len + len + 1) * 2;
		if ((np = realloc(pg->p, pg->cap)) == NULL)
			return 0;
		pg->p = np;
	}
	memcpy(pg->p + pg->len, ptr, len);
	pg->len += len;
	pg->p[pg->len] = '\0';
	return len;
}

/* The token's text, or NULL at the end of the list. */
static char *
token(const struct page *pg)
{
	const char *s, *e, *t;

	if ((t = memmem(pg->p, pg->len, "<resumptionToken", 16)) == NULL)
		return NULL;
	if ((s = strchr(t, '>')) == NULL || s[-1] == '/')
		return NULL;
	s++;
	if ((e = strstr(s, "</resumptionToken>")) == NULL || e == s)
		return NULL;
	return strndup(s, (size_t)(e - s));
}

int
main(int argc, char **argv)
{
	struct page	pg = { NULL, 0, 0 };
	struct timespec t0, t1;
	CURL	       *c;
	CURLcode	rc;
	FILE	       *fp, *toks = NULL;
	char	       *url, *tok = NULL, *enc, path[4096];
	long		pages = 0, code;
	double		bytes = 0;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: bench-walk URL [DIR]\n");
		return 2;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if ((c = curl_easy_init()) == NULL)
		return 1;
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &pg);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 300L);
	if (argc == 3) {
		snprintf(path, sizeof(path), "%s/tokens", argv[2]);
		if ((toks = fopen(path, "w")) == NULL) {
			perror(path);
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (pages < MAX_PAGES) {
		if (tok == NULL) {
			if (asprintf(&url,
				"%s?verb=ListRecords"
				"&metadataPrefix=oai_dc",
				argv[1]) == -1)
				return 1;
		} else {
			enc = curl_easy_escape(c, tok, 0);
			if (enc == NULL ||
			    asprintf(&url,
				"%s?verb=ListRecords"
				"&resumptionToken=%s",
				argv[1], enc) == -1)
				return 1;
			curl_free(enc);
		}
		pg.len = 0;
		curl_easy_setopt(c, CURLOPT_URL, url);
		rc = curl_easy_perform(c);
		free(url);
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
		if (rc != CURLE_OK || code != 200) {
			fprintf(stderr, "bench-walk: page %ld: %s (HTTP %ld)\n",
			    pages + 1, curl_easy_strerror(rc), code);
			return 1;
		}
		if (pg.len == 0 || strstr(pg.p, "<error ") != NULL) {
			fprintf(stderr, "bench-walk: page %ld: OAI error\n",
			    pages + 1);
			return 1;
		}
		pages++;
		bytes += (double)pg.len;
		if (argc == 3) {
			snprintf(path, sizeof(path), "%s/p%08ld.xml", argv[2],
			    pages);
			if ((fp = fopen(path, "w")) == NULL ||
			    fwrite(pg.p, 1, pg.len, fp) != pg.len ||
			    fclose(fp) != 0) {
				perror(path);
				return 1;
			}
		}
		free(tok);
		tok = token(&pg);
		if (toks != NULL &&
		    fprintf(toks, "%s\n", tok != NULL ? tok : "") < 0) {
			perror("tokens");
			return 1;
		}
		if (tok == NULL)
			break;
	}
	if (toks != NULL && fclose(toks) != 0) {
		perror("tokens");
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("pages=%ld bytes=%.0f seconds=%.3f\n", pages, bytes,
	    (double)(t1.tv_sec - t0.tv_sec) +
		(double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	free(tok);
	free(pg.p);
	curl_easy_cleanup(c);
	curl_global_cleanup();
	return tok == NULL && pages < MAX_PAGES ? 0 : 1;
}
