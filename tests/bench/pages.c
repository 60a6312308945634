/*
 * bench-pages: serves a ListRecords list saved by bench-walk (DIR/pNNNNNNN.xml
 * and DIR/tokens) and DIR/identify.xml, from the disk, on 127.0.0.1, for
 * lists too big for the test server to pre-render in memory (10,000,000
 * records are some 28 GB of XML).  Each response is the file as it is
 * (evbuffer_add_file: the kernel copies it), so that serving costs next to
 * no CPU beside the harvester.  Only what a harvester following the list
 * asks is answered: Identify, ListRecords&metadataPrefix=oai_dc (page 1)
 * and ListRecords&resumptionToken=T for a token the list handed out; the
 * rest is 404.
 *
 *   bench-pages DIR PORTFILE     (writes the port it listens on to PORTFILE)
 *
 * Such a list is made from a smaller one, as the test server cannot
 * pre-render it: each page of BASE (saved by bench-walk) COPIES times,
 * the header identifiers of the k-th copy made other (oai:X -> oai:k.X),
 * the resumption tokens renumbered (and cursor and completeListSize):
 *
 *   bench-pages make BASE DIR COPIES
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#define MAX_TOKENS 20000000L
#define MAX_LINE   4096

struct tok {
	char *text;
	long  page; /* the page it asks for */
};

static const char *root;
static struct tok *toks;
static long	   ntoks;

static int
tok_cmp(const void *a, const void *b)
{
	return strcmp(
	    ((const struct tok *)a)->text, ((const struct tok *)b)->text);
}

/* DIR/tokens: line k holds the token page k hands out (page k + 1's). */
static int
load_tokens(void)
{
	char   path[MAX_LINE], line[MAX_LINE];
	FILE  *fp;
	long   k = 0, cap = 0;
	size_t n;

	snprintf(path, sizeof(path), "%s/tokens", root);
	if ((fp = fopen(path, "r")) == NULL) {
		perror(path);
		return -1;
	}
	while (fgets(line, sizeof(line), fp) != NULL && k < MAX_TOKENS) {
		k++;
		n = strcspn(line, "\n");
		line[n] = '\0';
		if (n == 0)
			continue;
		if (ntoks == cap) {
			struct tok *nt;

			cap = cap == 0 ? 1024 : 2 * cap;
			if ((nt = realloc(toks, cap * sizeof(*toks))) == NULL)
				return -1;
			toks = nt;
		}
		if ((toks[ntoks].text = strdup(line)) == NULL)
			return -1;
		toks[ntoks++].page = k + 1;
	}
	fclose(fp);
	qsort(toks, (size_t)ntoks, sizeof(*toks), tok_cmp);
	return 0;
}

static void
send_file(struct evhttp_request *req, const char *name)
{
	struct evbuffer *b;
	struct stat	 st;
	char		 path[MAX_LINE];
	int		 fd;

	snprintf(path, sizeof(path), "%s/%s", root, name);
	if ((fd = open(path, O_RDONLY)) == -1 || fstat(fd, &st) == -1) {
		if (fd != -1)
			close(fd);
		evhttp_send_error(req, 404, NULL);
		return;
	}
	b = evbuffer_new();
	if (b == NULL || evbuffer_add_file(b, fd, 0, st.st_size) == -1) {
		close(fd);
		evhttp_send_error(req, 500, NULL);
		evbuffer_free(b);
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/xml; charset=utf-8");
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

/*
 * Headers and body leave in two writes: without TCP_NODELAY the second
 * waits for the client's delayed ACK (some 40 ms a page).
 */
static void
nodelay(struct evhttp_request *req)
{
	struct evhttp_connection *c = evhttp_request_get_connection(req);
	int			  one = 1;

	if (c != NULL)
		setsockopt(
		    bufferevent_getfd(evhttp_connection_get_bufferevent(c)),
		    IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct evkeyvalq q;
	struct tok	 key, *t;
	const char	*query, *verb, *token, *prefix;
	char		 name[64];

	memset(&q, 0, sizeof(q));
	nodelay(req);
	query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	if (query == NULL || evhttp_parse_query_str(query, &q) == -1) {
		evhttp_send_error(req, 404, NULL);
		return;
	}
	verb = evhttp_find_header(&q, "verb");
	token = evhttp_find_header(&q, "resumptionToken");
	prefix = evhttp_find_header(&q, "metadataPrefix");
	if (verb != NULL && strcmp(verb, "Identify") == 0)
		send_file(req, "identify.xml");
	else if (verb == NULL || strcmp(verb, "ListRecords") != 0)
		evhttp_send_error(req, 404, NULL);
	else if (token == NULL && prefix != NULL &&
	    strcmp(prefix, "oai_dc") == 0 &&
	    evhttp_find_header(&q, "from") == NULL &&
	    evhttp_find_header(&q, "set") == NULL)
		send_file(req, "p00000001.xml");
	else if (token == NULL && evhttp_find_header(&q, "from") != NULL)
		/* An incremental harvest: the list does not change. */
		send_file(req, "nothing.xml");
	else if (token != NULL) {
		key.text = (char *)token;
		key.page = 0;
		t = bsearch(&key, toks, (size_t)ntoks, sizeof(*toks), tok_cmp);
		if (t == NULL) {
			evhttp_send_error(req, 404, NULL);
		} else {
			snprintf(name, sizeof(name), "p%08ld.xml", t->page);
			send_file(req, name);
		}
	} else
		evhttp_send_error(req, 404, NULL);
	evhttp_clear_headers(&q);
}

/* The file's bytes (allocated), or NULL. */
static char *
slurp(const char *path, size_t *len)
{
	struct stat st;
	char	   *p;
	FILE	   *fp;

	if ((fp = fopen(path, "r")) == NULL || fstat(fileno(fp), &st) == -1 ||
	    (p = malloc((size_t)st.st_size + 1)) == NULL ||
	    fread(p, 1, (size_t)st.st_size, fp) != (size_t)st.st_size) {
		perror(path);
		return NULL;
	}
	fclose(fp);
	p[st.st_size] = '\0';
	*len = (size_t)st.st_size;
	return p;
}

/* in (len bytes) to out, the header identifiers made those of copy k. */
static void
copy_ids(const char *in, size_t len, FILE *out, long k)
{
	static const char id[] = "<identifier>";
	const char	 *p = in, *end = in + len, *q;

	while ((q = memmem(p, (size_t)(end - p), id, sizeof(id) - 1)) != NULL) {
		q += sizeof(id) - 1;
		fwrite(p, 1, (size_t)(q - p), out);
		if (k > 0 && end - q > 4 && memcmp(q, "oai:", 4) == 0) {
			fprintf(out, "oai:%ld.", k);
			q += 4;
		} else if (k > 0)
			fprintf(out, "%ld.", k);
		p = q;
	}
	fwrite(p, 1, (size_t)(end - p), out);
}

static int
make_list(const char *base, const char *dir, long copies)
{
	char   path[MAX_LINE], line[MAX_LINE], *page, *rt, *e;
	FILE  *fp, *toks_out;
	long   nbase = 0, k, j, n, total;
	long   per = 0, records;
	size_t len;

	snprintf(path, sizeof(path), "%s/tokens", base);
	if ((fp = fopen(path, "r")) == NULL) {
		perror(path);
		return -1;
	}
	while (fgets(line, sizeof(line), fp) != NULL)
		nbase++;
	fclose(fp);
	if (nbase == 0 || copies < 1)
		return -1;
	total = nbase * copies;
	snprintf(path, sizeof(path), "%s/tokens", dir);
	if ((toks_out = fopen(path, "w")) == NULL) {
		perror(path);
		return -1;
	}
	for (k = 0; k < copies; k++) {
		for (j = 1; j <= nbase; j++) {
			n = k * nbase + j;
			snprintf(path, sizeof(path), "%s/p%08ld.xml", base, j);
			if ((page = slurp(path, &len)) == NULL)
				return -1;
			/* Records per page: those of the first page. */
			if (per == 0) {
				for (e = page;
				     (e = strstr(e, "<record>")) != NULL; e++)
					per++;
			}
			records = per * total;
			/* Cut the page at its token; write the rest anew. */
			if ((rt = strstr(page, "<resumptionToken")) == NULL) {
				fprintf(
				    stderr, "%s: no resumptionToken\n", path);
				return -1;
			}
			e = strstr(rt, "</ListRecords>");
			if (e == NULL) {
				fprintf(
				    stderr, "%s: no </ListRecords>\n", path);
				return -1;
			}
			snprintf(path, sizeof(path), "%s/p%08ld.xml", dir, n);
			if ((fp = fopen(path, "w")) == NULL) {
				perror(path);
				return -1;
			}
			copy_ids(page, (size_t)(rt - page), fp, k);
			if (n < total)
				fprintf(fp,
				    "<resumptionToken completeListSize=\"%ld\""
				    " cursor=\"%ld\">bl-%ld</resumptionToken>",
				    records, (n - 1) * per, n + 1);
			else
				fprintf(fp,
				    "<resumptionToken completeListSize=\"%ld\""
				    " cursor=\"%ld\"/>",
				    records, (n - 1) * per);
			fputs(e, fp);
			if (fclose(fp) != 0) {
				perror(path);
				return -1;
			}
			if (n < total)
				fprintf(toks_out, "bl-%ld\n", n + 1);
			else
				fputs("\n", toks_out);
			free(page);
		}
	}
	if (fclose(toks_out) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/identify.xml", base);
	if ((page = slurp(path, &len)) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/identify.xml", dir);
	if ((fp = fopen(path, "w")) == NULL ||
	    fwrite(page, 1, len, fp) != len || fclose(fp) != 0) {
		perror(path);
		return -1;
	}
	free(page);
	return 0;
}

/* DIR/nothing.xml: the answer to a ListRecords with from. */
static int
write_nothing(const char *d)
{
	char  path[MAX_LINE];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/nothing.xml", d);
	if ((fp = fopen(path, "w")) == NULL ||
	    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		  "<OAI-PMH xmlns=\"http://www.openarchives.org/OAI/2.0/\">"
		  "<responseDate>2000-01-01T00:00:00Z</responseDate>"
		  "<request verb=\"ListRecords\">http://127.0.0.1/oai</request>"
		  "<error code=\"noRecordsMatch\">nothing changed</error>"
		  "</OAI-PMH>\n",
		fp) < 0 ||
	    fclose(fp) != 0) {
		perror(path);
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct event_base	   *base;
	struct evhttp		   *http;
	struct evhttp_bound_socket *sock;
	struct sockaddr_storage	    ss;
	socklen_t		    len = sizeof(ss);
	FILE			   *fp;
	int			    port;

	if (argc == 3 && write_nothing(argv[1]) == -1)
		return 1;
	if (argc == 5 && strcmp(argv[1], "make") == 0)
		return make_list(argv[2], argv[3], atol(argv[4])) == 0 ? 0 : 1;
	if (argc != 3) {
		fprintf(stderr,
		    "usage: bench-pages DIR PORTFILE\n"
		    "       bench-pages make BASE DIR COPIES\n");
		return 2;
	}
	root = argv[1];
	if (load_tokens() == -1)
		return 1;
	if ((base = event_base_new()) == NULL ||
	    (http = evhttp_new(base)) == NULL)
		return 1;
	evhttp_set_gencb(http, on_request, NULL);
	if ((sock = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0)) ==
	    NULL) {
		fprintf(stderr, "bench-pages: cannot listen on 127.0.0.1\n");
		return 1;
	}
	if (getsockname(evhttp_bound_socket_get_fd(sock),
		(struct sockaddr *)&ss, &len) == -1)
		return 1;
	port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if ((fp = fopen(argv[2], "w")) == NULL ||
	    fprintf(fp, "%d\n", port) < 0 || fclose(fp) != 0) {
		perror(argv[2]);
		return 1;
	}
	event_base_dispatch(base);
	return 0;
}
