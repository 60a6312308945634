/*
 * sd_notify(3) without libsystemd.  The protocol is one AF_UNIX datagram per
 * message to $NOTIFY_SOCKET, and systemd promises to keep it stable; the
 * kernel attaches our credentials (systemd's socket has SO_PASSCRED), so
 * sendto() is all it takes.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "notify.h"
#include "util.h"

/*
 * A watchdog longer than this is not one we take seriously; such a value is
 * treated like garbage (watchdog off) rather than fed to timer arithmetic.
 */
#define WATCHDOG_MAX_USEC (10LL * 365 * 86400 * 1000000)

/*
 * Two bytes that stand in for the newlines of the format while it is
 * expanded twice; see notify_send().
 */
#define SEP_A '\036'
#define SEP_B '\037'

static char *format_message(const char *, va_list, size_t *);

static int		  notify_fd = -1;
static struct sockaddr_un notify_addr;
static socklen_t	  notify_addrlen;

int
notify_init(void)
{
	const char *e;
	size_t	    len;
	int	    fd;

	notify_close();
	if ((e = getenv("NOTIFY_SOCKET")) == NULL)
		return 0;
	len = strlen(e);

	/*
	 * The limits systemd itself applies: a path needs room for its NUL;
	 * for an abstract name the '@' becomes the leading NUL, and the
	 * address length, not a terminator, ends the name.  A trailing NUL
	 * (sizeof(sun_path) as the length, as some examples do) would be part
	 * of an abstract name and miss the socket.
	 */
	memset(&notify_addr, 0, sizeof(notify_addr));
	notify_addr.sun_family = AF_UNIX;
	if (e[0] == '/' && len < sizeof(notify_addr.sun_path)) {
		memcpy(notify_addr.sun_path, e, len + 1);
		notify_addrlen =
		    offsetof(struct sockaddr_un, sun_path) + len + 1;
	} else if (e[0] == '@' && len >= 2 &&
	    len <= sizeof(notify_addr.sun_path)) {
		notify_addr.sun_path[0] = '\0';
		memcpy(notify_addr.sun_path + 1, e + 1, len - 1);
		notify_addrlen = offsetof(struct sockaddr_un, sun_path) + len;
	} else {
		/* Relative paths, empty values, vsock: (systemd 254+). */
		errno = EINVAL;
		return -1;
	}

	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	notify_fd = fd;
	return 0;
}

/*
 * Expand fmt so that only its own newlines survive.  It is expanded twice,
 * its newlines replaced by SEP_A the first time and by SEP_B the second: the
 * arguments expand to the same bytes both times, so the positions where the
 * two results differ are exactly the newlines of fmt, whatever the arguments
 * contain (even SEP_A or SEP_B).  Every other control character becomes a
 * blank.  Returns the message and its length in *lenp.
 */
static char *
format_message(const char *fmt, va_list ap, size_t *lenp)
{
	va_list	      ap2;
	char	     *f1, *f2, *m1, *m2;
	unsigned char c;
	size_t	      i;
	int	      n1, n2;

	f1 = xstrdup(fmt);
	f2 = xstrdup(fmt);
	for (i = 0; fmt[i] != '\0'; i++)
		if (fmt[i] == '\n') {
			f1[i] = SEP_A;
			f2[i] = SEP_B;
		}
	va_copy(ap2, ap);
	n1 = xvasprintf(&m1, f1, ap);
	n2 = xvasprintf(&m2, f2, ap2);
	va_end(ap2);
	free(f1);
	free(f2);
	if (n1 != n2)
		fatalx("notify: format expanded to different lengths");

	for (i = 0; i < (size_t)n1; i++) {
		c = (unsigned char)m1[i];
		if (m1[i] != m2[i])
			m1[i] = '\n';
		else if (c < 0x20 || c == 0x7f)
			m1[i] = ' ';
	}
	free(m2);
	*lenp = (size_t)n1;
	return m1;
}

/*
 * systemd drops a datagram of PIPE_BUF bytes or more whole ("exceeded
 * maximum size"), so a long message is cut instead, before a UTF-8 lead byte:
 * the assignments before the cut still arrive.  Callers put the short,
 * important ones (READY=1) first.
 */
int
notify_send(const char *fmt, ...)
{
	va_list ap;
	char   *msg;
	size_t	len;
	ssize_t n;
	int	saved;

	if (notify_fd == -1)
		return 0;
	va_start(ap, fmt);
	msg = format_message(fmt, ap, &len);
	va_end(ap);
	if (len > NOTIFY_MAX_MSG) {
		len = NOTIFY_MAX_MSG;
		while (len > 0 && ((unsigned char)msg[len] & 0xc0) == 0x80)
			len--;
	}

	/*
	 * Never block the event loop on a full systemd queue: a lost
	 * STATUS is better than a stalled harvester.
	 */
	do {
		n = sendto(notify_fd, msg, len, MSG_NOSIGNAL | MSG_DONTWAIT,
		    (struct sockaddr *)&notify_addr, notify_addrlen);
	} while (n == -1 && errno == EINTR);
	saved = errno;
	free(msg);
	if (n == -1) {
		errno = saved;
		return -1;
	}
	return 0;
}

/*
 * sd_watchdog_enabled(3): the watchdog is ours when $WATCHDOG_USEC is set and
 * $WATCHDOG_PID is unset or our pid.  Malformed values mean no watchdog.
 */
long long
notify_watchdog_usec(void)
{
	const char *s, *errstr;
	long long   usec, pid;

	if ((s = getenv("WATCHDOG_USEC")) == NULL)
		return 0;
	if (parse_ll(s, 1, WATCHDOG_MAX_USEC, &usec, &errstr) == -1)
		return 0;
	if ((s = getenv("WATCHDOG_PID")) != NULL) {
		if (parse_ll(s, 1, INT_MAX, &pid, &errstr) == -1)
			return 0;
		if (pid != (long long)getpid())
			return 0;
	}
	return usec;
}

void
notify_close(void)
{
	if (notify_fd != -1)
		close(notify_fd);
	notify_fd = -1;
	notify_addrlen = 0;
}
