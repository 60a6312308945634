/*
 * Connections taken over from evhttp, for the faults that break HTTP below
 * what evhttp can be asked to do: a TCP reset or a close in the middle of a
 * body, a stall, and bodies too large to build in memory (streamed, plain
 * or as a gzip bomb).  Each is a small state machine on the server's event
 * loop, so that other requests keep being served meanwhile.
 *
 * Taking a connection over: the bufferevent's events are deleted while its
 * descriptor is still the socket (so that epoll forgets it), the socket is
 * dup()ed, an unconnected stand-in socket is dup2()ed onto the old
 * descriptor, and evhttp frees the connection.  Its shutdown() and close()
 * then hit the stand-in, and nothing of evhttp's reaches the wire.
 */
#include <sys/ioctl.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <zlib.h>

#include "log.h"
#include "server.h"

#define STREAM_LOW_WATER   (64 * 1024)	 /* make more body below this */
#define STREAM_PIECE	   (256 * 1024)	 /* body bytes made at a time */
#define STREAM_FILL_MAX	   (1024 * 1024) /* ... per write event */
#define STREAM_DRAIN_MS	   10		 /* polls for an empty send queue */
#define STREAM_DRAIN_TRIES 300

enum stream_state {
	SS_SENDING,  /* writing what there is */
	SS_DRAINING, /* all written; until the peer has it all */
	SS_STALLED,  /* all written; silent until the timer */
};

static const char *const state_names[] = {
	[SS_SENDING] = "sending",
	[SS_DRAINING] = "draining",
	[SS_STALLED] = "stalled",
};

struct stream {
	TAILQ_ENTRY(stream) entry;
	struct streams	 *ss;
	unsigned int	  id;
	const char	 *label;
	int		  fd;
	enum stream_state state;
	struct event	 *rd;
	struct event	 *wr;
	struct event	 *timer;
	struct evbuffer	 *out;	  /* ready for the socket */
	struct evbuffer	 *prefix; /* body still to make */
	uint64_t	  pad;
	struct evbuffer	 *suffix;
	struct evbuffer	 *chunk; /* one chunk being framed */
	int		  chunked;
	z_stream	 *z;
	int		  body_done; /* all of it is in out */
	enum stream_end	  end;
	long long	  stall;
	unsigned int	  tries;
	uint64_t	  sent;
};

struct streams {
	struct event_base *base;
	TAILQ_HEAD(, stream) list;
	size_t	     n;
	unsigned int next_id;
};

static char scratch[STREAM_PIECE];

static int  take_over(struct evhttp_request *);
static void stream_state(struct stream *, enum stream_state);
static void stream_close(struct stream *, int, const char *);
static void stream_fill(struct stream *);
static void stream_emit(struct stream *, const void *, size_t, int);
static void stream_sent(struct stream *);
static void on_read(evutil_socket_t, short, void *);
static void on_write(evutil_socket_t, short, void *);
static void on_timer(evutil_socket_t, short, void *);

struct streams *
streams_new(struct event_base *base)
{
	struct streams *ss;

	ss = xcalloc(1, sizeof(*ss));
	ss->base = base;
	TAILQ_INIT(&ss->list);
	ss->next_id = 1;
	return ss;
}

/* At exit: close what is still open, as if each had finished. */
void
streams_free(struct streams *ss)
{
	struct stream *s;

	if (ss == NULL)
		return;
	while ((s = TAILQ_FIRST(&ss->list)) != NULL)
		stream_close(s, 0, "server stopping");
	free(ss);
}

size_t
streams_active(const struct streams *ss)
{
	return ss->n;
}

/* Return the connection's socket, now ours, or -1. */
static int
take_over(struct evhttp_request *req)
{
	struct evhttp_connection *evcon;
	struct bufferevent	 *bev;
	int			  fd, own, standin;

	if ((evcon = evhttp_request_get_connection(req)) == NULL ||
	    (bev = evhttp_connection_get_bufferevent(evcon)) == NULL ||
	    (fd = bufferevent_getfd(bev)) == -1)
		return -1;
	if ((own = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1) {
		log_warn("msg=\"dup failed\" error=%s", log_q(strerror(errno)));
		return -1;
	}
	if ((standin = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		log_warn(
		    "msg=\"socket failed\" error=%s", log_q(strerror(errno)));
		close(own);
		return -1;
	}
	bufferevent_disable(bev, EV_READ | EV_WRITE);
	if (dup2(standin, fd) == -1)
		fatal("dup2");
	close(standin);
	evhttp_connection_free(evcon);
	evutil_make_socket_nonblocking(own);
	return own;
}

/*
 * Take req's connection over and send spec on it.  The request is gone
 * when this returns 0; on -1 (the connection could not be taken) the
 * caller still has to answer it.  The spec's buffers are ours either way.
 */
int
stream_start(
    struct streams *ss, struct evhttp_request *req, struct stream_spec *spec)
{
	struct stream *s;
	int	       fd, zrc;

	if ((fd = take_over(req)) == -1) {
		evbuffer_free(spec->head);
		evbuffer_free(spec->prefix);
		if (spec->suffix != NULL)
			evbuffer_free(spec->suffix);
		return -1;
	}
	s = xcalloc(1, sizeof(*s));
	s->ss = ss;
	s->id = ss->next_id++;
	s->label = spec->label;
	s->fd = fd;
	s->state = SS_SENDING;
	s->prefix = spec->prefix;
	s->pad = spec->pad;
	s->suffix = spec->suffix;
	s->chunked = spec->chunked;
	s->end = spec->end;
	s->stall = spec->stall;
	if ((s->out = evbuffer_new()) == NULL ||
	    (s->chunk = evbuffer_new()) == NULL)
		fatalx("evbuffer_new");
	evbuffer_add_buffer(s->out, spec->head);
	evbuffer_free(spec->head);
	if (spec->gzip) {
		s->z = xcalloc(1, sizeof(*s->z));
		zrc = deflateInit2(s->z, Z_BEST_COMPRESSION, Z_DEFLATED,
		    15 + 16, 9, Z_DEFAULT_STRATEGY);
		if (zrc != Z_OK)
			fatalx("deflateInit2: %d", zrc);
	}
	s->rd = event_new(ss->base, fd, EV_READ | EV_PERSIST, on_read, s);
	s->wr = event_new(ss->base, fd, EV_WRITE | EV_PERSIST, on_write, s);
	s->timer = evtimer_new(ss->base, on_timer, s);
	if (s->rd == NULL || s->wr == NULL || s->timer == NULL ||
	    event_add(s->rd, NULL) == -1 || event_add(s->wr, NULL) == -1)
		fatalx("event_new");
	TAILQ_INSERT_TAIL(&ss->list, s, entry);
	ss->n++;
	log_debug("msg=\"stream\" stream=%u kind=%s", s->id, s->label);
	return 0;
}

static void
stream_state(struct stream *s, enum stream_state st)
{
	log_debug("msg=\"stream state\" stream=%u from=%s to=%s sent=%llu",
	    s->id, state_names[s->state], state_names[st],
	    (unsigned long long)s->sent);
	s->state = st;
}

/*
 * The end of a stream.  A reset is a close with SO_LINGER 0; a plain close
 * first reads what the client sent, as a close with unread data would be a
 * reset too.
 */
static void
stream_close(struct stream *s, int reset, const char *why)
{
	struct linger lg;
	char	      buf[4096];
	int	      i;

	if (reset) {
		lg.l_onoff = 1;
		lg.l_linger = 0;
		if (setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) ==
		    -1)
			log_warn("msg=\"SO_LINGER failed\" error=%s",
			    log_q(strerror(errno)));
	} else {
		for (i = 0; i < 64 && read(s->fd, buf, sizeof(buf)) > 0; i++)
			;
		shutdown(s->fd, SHUT_WR);
	}
	log_info("msg=\"stream closed\" stream=%u kind=%s how=%s sent=%llu "
		 "why=%s",
	    s->id, s->label, reset ? "reset" : "close",
	    (unsigned long long)s->sent, log_q(why));
	event_free(s->rd);
	event_free(s->wr);
	event_free(s->timer);
	close(s->fd);
	evbuffer_free(s->out);
	evbuffer_free(s->prefix);
	if (s->suffix != NULL)
		evbuffer_free(s->suffix);
	evbuffer_free(s->chunk);
	if (s->z != NULL) {
		deflateEnd(s->z);
		free(s->z);
	}
	TAILQ_REMOVE(&s->ss->list, s, entry);
	s->ss->n--;
	free(s);
}

/*
 * Body bytes into out: through gzip when asked, then into chunks when
 * asked.  finish ends the gzip stream.
 */
static void
stream_emit(struct stream *s, const void *p, size_t len, int finish)
{
	struct evbuffer *dst = s->chunked ? s->chunk : s->out;
	unsigned char	 zbuf[16384];
	int		 rc;

	if (s->z == NULL)
		evbuffer_add(dst, p, len);
	else {
		s->z->next_in = (Bytef *)(uintptr_t)p;
		s->z->avail_in = (uInt)len;
		do {
			s->z->next_out = zbuf;
			s->z->avail_out = sizeof(zbuf);
			rc = deflate(s->z, finish ? Z_FINISH : Z_NO_FLUSH);
			if (rc == Z_STREAM_ERROR)
				fatalx("deflate");
			evbuffer_add(dst, zbuf, sizeof(zbuf) - s->z->avail_out);
		} while (s->z->avail_out == 0);
	}
	if (s->chunked && (len = evbuffer_get_length(s->chunk)) > 0) {
		evbuffer_add_printf(s->out, "%zx\r\n", len);
		evbuffer_add_buffer(s->out, s->chunk);
		evbuffer_add(s->out, "\r\n", 2);
	}
}

/*
 * Make more of the body while little is waiting for the socket: the
 * prefix, the padding, the suffix.  A bounded amount per call, so that a
 * gzip bomb (whose output hardly grows) does not hold up the loop.
 */
static void
stream_fill(struct stream *s)
{
	size_t n, made = 0;

	while (!s->body_done && made < STREAM_FILL_MAX &&
	    evbuffer_get_length(s->out) < STREAM_LOW_WATER) {
		if ((n = evbuffer_get_length(s->prefix)) > 0) {
			n = n < STREAM_PIECE ? n : STREAM_PIECE;
			evbuffer_remove(s->prefix, scratch, n);
		} else if (s->pad > 0) {
			n = s->pad < STREAM_PIECE ? (size_t)s->pad :
						    STREAM_PIECE;
			memset(scratch, ' ', n);
			s->pad -= n;
		} else if (s->suffix != NULL &&
		    (n = evbuffer_get_length(s->suffix)) > 0) {
			n = n < STREAM_PIECE ? n : STREAM_PIECE;
			evbuffer_remove(s->suffix, scratch, n);
		} else {
			if (s->z != NULL)
				stream_emit(s, NULL, 0, 1);
			if (s->chunked)
				evbuffer_add(s->out, "0\r\n\r\n", 5);
			s->body_done = 1;
			break;
		}
		stream_emit(s, scratch, n, 0);
		made += n;
	}
}

/* Everything is written: end the way the fault says. */
static void
stream_sent(struct stream *s)
{
	struct timeval tv;

	event_del(s->wr);
	switch (s->end) {
	case STREAM_CLOSE:
		stream_close(s, 0, "sent");
		return;
	case STREAM_RESET:
		/* Unsent data would be dropped by the reset; wait for it. */
		stream_state(s, SS_DRAINING);
		tv.tv_sec = 0;
		tv.tv_usec = 0;
		break;
	case STREAM_STALL:
		stream_state(s, SS_STALLED);
		tv.tv_sec = (time_t)s->stall;
		tv.tv_usec = 0;
		break;
	}
	evtimer_add(s->timer, &tv);
}

static void
on_write(evutil_socket_t fd, short events, void *arg)
{
	struct stream *s = arg;
	int	       n;

	stream_fill(s);
	if (evbuffer_get_length(s->out) > 0) {
		if ((n = evbuffer_write(s->out, fd)) == -1) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			stream_close(s, 0, strerror(errno));
			return;
		}
		s->sent += (uint64_t)n;
	}
	if (s->body_done && evbuffer_get_length(s->out) == 0)
		stream_sent(s);
}

/* Whatever the client sends is dropped; its close ends the stream. */
static void
on_read(evutil_socket_t fd, short events, void *arg)
{
	struct stream *s = arg;
	ssize_t	       n;

	if ((n = read(fd, scratch, sizeof(scratch))) > 0)
		return;
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	stream_close(s, 0, n == 0 ? "client closed" : strerror(errno));
}

static void
on_timer(evutil_socket_t fd, short events, void *arg)
{
	struct stream *s = arg;
	struct timeval tv;
	int	       queued = 0;

	switch (s->state) {
	case SS_DRAINING:
		if (ioctl(s->fd, TIOCOUTQ, &queued) == -1)
			queued = 0;
		if (queued > 0 && ++s->tries < STREAM_DRAIN_TRIES) {
			tv.tv_sec = 0;
			tv.tv_usec = STREAM_DRAIN_MS * 1000;
			evtimer_add(s->timer, &tv);
			return;
		}
		stream_close(s, 1, "fault");
		return;
	case SS_STALLED:
		stream_close(s, 0, "stall over");
		return;
	case SS_SENDING:
		break;
	}
	fatalx("stream %u: timer while %s", s->id, state_names[s->state]);
}

/* A 200 response's head; length -1 means chunked. */
void
stream_head(struct evbuffer *out, long long length, const char *encoding)
{
	char date[HTTP_DATE_LEN];

	fault_http_date(time(NULL), date);
	evbuffer_add_printf(out,
	    "HTTP/1.1 200 OK\r\nDate: %s\r\n"
	    "Server: oaiserver\r\nContent-Type: " OAI_CONTENT_TYPE "\r\n",
	    date);
	if (encoding != NULL)
		evbuffer_add_printf(out, "Content-Encoding: %s\r\n", encoding);
	if (length >= 0)
		evbuffer_add_printf(out, "Content-Length: %lld\r\n", length);
	else
		evbuffer_add_printf(out, "Transfer-Encoding: chunked\r\n");
	evbuffer_add_printf(out, "Connection: close\r\n\r\n");
}

/* Replace the contents of b with their gzip (or zlib) compression. */
void
stream_compress(struct evbuffer *b, int gzip)
{
	z_stream       z;
	unsigned char *in, *out;
	size_t	       len = evbuffer_get_length(b);
	uLong	       bound;

	if (len > SRV_MAX_PAGE_BYTES * 4)
		fatalx("stream_compress: body too large");
	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED,
		gzip ? 15 + 16 : 15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		fatalx("deflateInit2");
	bound = deflateBound(&z, (uLong)len);
	in = evbuffer_pullup(b, -1);
	out = xmalloc(bound);
	z.next_in = in;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)bound;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END)
		fatalx("deflate");
	evbuffer_drain(b, len);
	evbuffer_add(b, out, z.total_out);
	deflateEnd(&z);
	free(out);
}
