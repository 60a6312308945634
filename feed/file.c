/*
 * The change feed file: every change appended, in seq order, one JSON line
 * each (the shape of `oaiharvest changes`), for consumers that tail a file.
 *
 * Exactly once across crashes (the outbox pattern): lines are written and
 * fsync'd, then the database records the last seq written.  A crash between
 * the two leaves the file ahead of the database; at start the file's own
 * last complete line says where it stands, and a torn last line (a crash in
 * the middle of a write) is cut off and written again.  Complete lines
 * ahead of the database stay: a consumer tailing the file has read them,
 * and cutting them off would make it read them twice.
 *
 * A write that fails (a full disk, EIO) may have left part of a batch, and
 * a torn line, behind it: the file is cut back at once to where the batch
 * began, the end of the last line written before it, and if even that
 * fails, before anything else is written.  The next flush writes the batch
 * again from the database.
 *
 * The file may be rotated (logrotate's create mode): when it disappears or
 * is replaced, it is reopened, on SIGHUP too, and repaired as at start.  It
 * is never opened through a symbolic link (O_NOFOLLOW): a changes_log
 * replaced by a link is an error, reported until the link goes.
 *
 * The sink feed_file_ops (see feed.h); its outbox cursor is "changes_log".
 * Several daemons on one database (leases = yes) each write a changes_log
 * of their own machine, and each file gets every change: the sink
 * feed_file_node_ops keeps its cursor under "changes_log@NODE" (its
 * argument from feed_file_arg()), one per node.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "encode.h"
#include "feed.h"
#include "log.h"
#include "store.h"
#include "util.h"

/* Changes written per database query. */
#define OUTBOX_BATCH 10000
/* Bytes read back from the end of the file to find its last line. */
#define TAIL_MAX 65536

struct outbox {
	struct store *store;
	char	     *cursor; /* the outbox cursor's name */
	char	     *path;
	int	      fd;
	dev_t	      dev;
	ino_t	      ino;
	int64_t	      seq; /* last seq in the file */
	off_t	      cut; /* a write failed and the file is not
					   cut back to here yet; or -1 */
};

static void *outbox_open(
    struct store *, struct event_base *, const char *, char **);
static void *outbox_node_open(
    struct store *, struct event_base *, const char *, char **);
static int  outbox_flush(void *, int64_t, char **);
static int  outbox_reopen_now(void *, char **);
static void outbox_close(void *);

const struct feed_sink_ops feed_file_ops = { "changes_log", 1, outbox_open,
	outbox_flush, outbox_reopen_now, outbox_close };
const struct feed_sink_ops feed_file_node_ops = { "changes_log", 1,
	outbox_node_open, outbox_flush, outbox_reopen_now, outbox_close };

/* "CURSOR\nPATH": a config value holds no newline, a cursor neither. */
char *
feed_file_arg(const char *path, const char *node)
{
	char *arg;

	xasprintf(&arg, "changes_log@%s\n%s", node, path);
	return arg;
}

/* The seq of the last complete line of fd; cut a torn last line off. */
static int
file_last_seq(int fd, const char *path, int64_t *seq, char **cause)
{
	struct stat st;
	char	   *tail, *p, *end;
	off_t	    off;
	size_t	    n;
	ssize_t	    r;

	*seq = 0;
	if (fstat(fd, &st) == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (st.st_size == 0)
		return 0;
	n = st.st_size > TAIL_MAX ? TAIL_MAX : (size_t)st.st_size;
	off = st.st_size - (off_t)n;
	tail = xmalloc(n + 1);
	if ((r = pread(fd, tail, n, off)) != (ssize_t)n) {
		xasprintf(cause, "%s: read: %s", path,
		    r == -1 ? strerror(errno) : "short read");
		free(tail);
		return -1;
	}
	tail[n] = '\0';
	end = tail + n;
	if (end[-1] != '\n') {
		/* A torn line: everything after the last newline goes. */
		for (p = end; p > tail && p[-1] != '\n'; p--)
			;
		if (p == tail && off > 0) {
			xasprintf(cause, "%s: last line longer than %d bytes",
			    path, TAIL_MAX);
			free(tail);
			return -1;
		}
		log_warn("event=changes_log_repair path=%s cut_bytes=%zu",
		    log_q(path), (size_t)(end - p));
		if (ftruncate(fd, off + (p - tail)) == -1) {
			xasprintf(
			    cause, "%s: truncate: %s", path, strerror(errno));
			free(tail);
			return -1;
		}
		end = p;
	}
	if (end == tail) {
		free(tail);
		return 0;
	}
	for (p = end - 1; p > tail && p[-1] != '\n'; p--)
		;
	if (strncmp(p, "{\"seq\":", 7) == 0)
		*seq = strtoll(p + 7, NULL, 10);
	free(tail);
	return 0;
}

/*
 * Open the file (again), never through a link, cut a torn last line off
 * and move o->seq to the file's last line when that is ahead.
 */
static int
outbox_reopen(struct outbox *o, char **cause)
{
	struct stat st;
	int64_t	    file_seq;
	int	    fd;

	fd = open(o->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0640);
	if (fd == -1 || fstat(fd, &st) == -1) {
		xasprintf(cause, "changes_log %s: %s", o->path,
		    errno == ELOOP ? "a symbolic link (refused)" :
				     strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		xasprintf(cause, "changes_log %s: not a regular file", o->path);
		close(fd);
		return -1;
	}
	if (file_last_seq(fd, o->path, &file_seq, cause) == -1) {
		close(fd);
		return -1;
	}
	if (o->fd != -1)
		close(o->fd);
	o->fd = fd;
	o->dev = st.st_dev;
	o->ino = st.st_ino;
	o->cut = -1;
	if (file_seq > o->seq)
		o->seq = file_seq;
	return 0;
}

static void *
open_cursor(
    struct store *store, const char *cursor, const char *path, char **cause)
{
	struct outbox *o;
	int64_t	       db_seq;

	o = xcalloc(1, sizeof(*o));
	o->store = store;
	o->cursor = xstrdup(cursor);
	o->path = xstrdup(path);
	o->fd = -1;
	o->cut = -1;
	if (store_outbox_get(store, o->cursor, &db_seq, cause) == -1) {
		outbox_close(o);
		return NULL;
	}
	/*
	 * The file ahead of the database: a crash after the write and
	 * before the note.  An empty (rotated) file: the database knows.
	 */
	o->seq = db_seq;
	if (outbox_reopen(o, cause) == -1) {
		outbox_close(o);
		return NULL;
	}
	if (o->seq != db_seq &&
	    store_outbox_set(store, o->cursor, o->seq, cause) == -1) {
		outbox_close(o);
		return NULL;
	}
	log_info("event=changes_log path=%s cursor=%s seq=%lld", log_q(path),
	    log_q(o->cursor), (long long)o->seq);
	return o;
}

static void *
outbox_open(struct store *store, struct event_base *base, const char *path,
    char **cause)
{
	return open_cursor(store, "changes_log", path, cause);
}

/* arg: from feed_file_arg(). */
static void *
outbox_node_open(
    struct store *store, struct event_base *base, const char *arg, char **cause)
{
	const char *nl;
	char	   *cursor;
	void	   *o;

	if ((nl = strchr(arg, '\n')) == NULL) {
		xasprintf(cause, "changes_log: no cursor name");
		return NULL;
	}
	cursor = xstrndup(arg, (size_t)(nl - arg));
	o = open_cursor(store, cursor, nl + 1, cause);
	free(cursor);
	return o;
}

static void
outbox_close(void *arg)
{
	struct outbox *o = arg;

	if (o == NULL)
		return;
	if (o->fd != -1)
		close(o->fd);
	free(o->cursor);
	free(o->path);
	free(o);
}

/* Reopen when logrotate moved the file away or replaced it. */
static int
check_rotated(struct outbox *o, char **cause)
{
	struct stat st;

	if (lstat(o->path, &st) == 0 && st.st_dev == o->dev &&
	    st.st_ino == o->ino)
		return 0;
	log_info("event=changes_log_reopen path=%s", log_q(o->path));
	return outbox_reopen(o, cause);
}

static int
outbox_reopen_now(void *o, char **cause)
{
	return o == NULL ? 0 : outbox_reopen(o, cause);
}

/*
 * Cut the file back to where the failed batch began, so that no part of
 * it stays to be written twice.
 */
static int
cut_back(struct outbox *o, char **cause)
{
	if (ftruncate(o->fd, o->cut) == -1) {
		xasprintf(cause,
		    "changes_log %s: truncate after a failed "
		    "write: %s",
		    o->path, strerror(errno));
		return -1;
	}
	log_warn("event=changes_log_repair path=%s cut_to=%lld seq=%lld",
	    log_q(o->path), (long long)o->cut, (long long)o->seq);
	o->cut = -1;
	return 0;
}

/*
 * Append every change after the last one written, up to upto at least
 * (upto < 0: until there are no more).
 */
static int
outbox_flush(void *arg, int64_t upto, char **cause)
{
	struct outbox *o = arg;
	FILE	      *f;
	char	      *out, *why;
	size_t	       len, done;
	ssize_t	       w;
	off_t	       start;
	int64_t	       seq;
	int	       r, err = 0;

	if (o == NULL)
		return 0;
	if (check_rotated(o, cause) == -1)
		return -1;
	if (o->cut != -1 && cut_back(o, cause) == -1)
		return -1;
	for (;;) {
		if (upto >= 0 && o->seq >= upto)
			return 0;
		out = NULL;
		len = 0;
		if ((f = open_memstream(&out, &len)) == NULL)
			fatal("open_memstream");
		seq = o->seq;
		r = feed_rows(o->store, o->seq, OUTBOX_BATCH, f, &seq, cause);
		fclose(f);
		if (r == -1 || len == 0) {
			free(out);
			return r;
		}
		/* O_APPEND: the batch goes at the end, which is here. */
		if ((start = lseek(o->fd, 0, SEEK_END)) == -1) {
			xasprintf(cause, "changes_log %s: seek: %s", o->path,
			    strerror(errno));
			free(out);
			return -1;
		}
		why = NULL;
		for (done = 0; done < len; done += (size_t)w)
			if ((w = write(o->fd, out + done, len - done)) <= 0) {
				why = "write";
				err = w == 0 ? ENOSPC : errno;
				break;
			}
		free(out);
		if (why == NULL && fsync(o->fd) == -1) {
			why = "fsync";
			err = errno;
		}
		if (why != NULL) {
			xasprintf(cause, "changes_log %s: %s: %s", o->path, why,
			    strerror(err));
			o->cut = start;
			if (cut_back(o, &why) == -1) {
				log_err("event=changes_log_error cause=%s",
				    log_q(why));
				free(why);
			}
			return -1;
		}
		o->seq = seq;
		if (store_outbox_set(o->store, o->cursor, seq, cause) == -1)
			return -1;
	}
}
