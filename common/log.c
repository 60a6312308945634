#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "oh_limits.h"
#include "log.h"
#include "util.h"

int	   log_level = LOG_LVL_INFO;
static int log_journal;

static const char *const level_names[] = {
	"emerg",
	"alert",
	"crit",
	"error",
	"warn",
	"notice",
	"info",
	"debug",
};

/*
 * systemd sets JOURNAL_STREAM to "device:inode" of the stream it connected
 * to stderr; only then is the "<N>" prefix understood (and the timestamp
 * redundant).
 */
static int
stderr_is_journal(void)
{
	const char	  *js;
	struct stat	   st;
	unsigned long long dev, ino;

	if ((js = getenv("JOURNAL_STREAM")) == NULL)
		return 0;
	if (sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) == -1)
		return 0;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

void
log_init(int level)
{
	log_level = level;
	log_journal = stderr_is_journal();
}

void
log_write(int level, const char *fmt, ...)
{
	char	line[MAX_LOG_LINE];
	char	ts[DATESTAMP_LEN];
	va_list ap;
	int	n, off;
	size_t	i;

	if (level < 0 || level > LOG_LVL_DEBUG)
		level = LOG_LVL_ERR;
	if (log_journal)
		off = snprintf(line, sizeof(line), "<%d>", level);
	else {
		datestamp_now(ts);
		off = snprintf(
		    line, sizeof(line), "%s level=%s ", ts, level_names[level]);
	}
	va_start(ap, fmt);
	n = vsnprintf(line + off, sizeof(line) - off - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	n += off;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	/* One event, one line, whatever the message held. */
	for (i = off; i < (size_t)n; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	line[n++] = '\n';
	/* Nowhere to report a failed write to stderr. */
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}

const char *
log_q(const char *s)
{
	/* Per thread: the page writer's error messages quote too. */
	static _Thread_local char slots[LOG_Q_SLOTS][512];
	static _Thread_local int  next;
	static const char	  hex[] = "0123456789abcdef";
	char			 *out = slots[next];
	size_t			  o = 0, max = sizeof(slots[0]) - 8;
	unsigned char		  c;

	next = (next + 1) % LOG_Q_SLOTS;
	if (s == NULL)
		s = "";
	out[o++] = '"';
	for (; *s != '\0' && o < max; s++) {
		c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = c;
		} else if (c == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else if (c == '\t') {
			out[o++] = '\\';
			out[o++] = 't';
		} else if (c < 0x20 || c == 0x7f) {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 0xf];
		} else
			out[o++] = c;
	}
	if (*s != '\0') {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o++] = '"';
	out[o] = '\0';
	return out;
}

const char *
log_qurl(const char *url)
{
	const char *q;
	char	   *shown;

	if (url == NULL)
		return log_q(NULL);
	shown = url_redact(url);
	q = log_q(shown);
	free(shown);
	return q;
}
