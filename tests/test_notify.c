/*
 * Unit tests of daemon/notify.c: real AF_UNIX datagram sockets stand in for
 * systemd (a path socket in a temporary directory and an abstract one), and
 * the exact datagrams are compared.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "notify.h"
#include "util.h"

struct listener {
	int  fd;
	char dir[64];
	char path[128];
	char env[128]; /* the $NOTIFY_SOCKET value */
};

/* A path socket in a fresh temporary directory. */
static void
listen_path(struct listener *l)
{
	struct sockaddr_un sun;
	const char	  *tmp;
	int		   n;

	if ((tmp = getenv("TMPDIR")) == NULL || strlen(tmp) > 30)
		tmp = "/tmp";
	n = snprintf(l->dir, sizeof(l->dir), "%s/test_notify.XXXXXX", tmp);
	assert_true(n > 0 && (size_t)n < sizeof(l->dir));
	assert_non_null(mkdtemp(l->dir));
	n = snprintf(l->path, sizeof(l->path), "%s/notify", l->dir);
	assert_true(n > 0 && (size_t)n < sizeof(sun.sun_path));
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, l->path, strlen(l->path) + 1);
	l->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(l->fd != -1);
	assert_int_equal(bind(l->fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	(void)snprintf(l->env, sizeof(l->env), "%s", l->path);
}

/*
 * An abstract socket bound with the exact length, so that a sender that
 * passes sizeof(sockaddr_un) (trailing NULs in the name) misses it.
 */
static void
listen_abstract(struct listener *l)
{
	struct sockaddr_un sun;
	socklen_t	   len;
	int		   n;

	memset(l, 0, sizeof(*l));
	n = snprintf(l->env, sizeof(l->env), "@oaiharvest/test_notify/%ld/%lx",
	    (long)getpid(), (unsigned long)random());
	assert_true(n > 0 && (size_t)n <= sizeof(sun.sun_path));
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path + 1, l->env + 1, (size_t)n - 1);
	len = offsetof(struct sockaddr_un, sun_path) + (socklen_t)n;
	l->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(l->fd != -1);
	assert_int_equal(bind(l->fd, (struct sockaddr *)&sun, len), 0);
}

static void
listener_close(struct listener *l)
{
	close(l->fd);
	if (l->path[0] != '\0')
		unlink(l->path);
	if (l->dir[0] != '\0')
		rmdir(l->dir);
}

/* The next datagram, which must be there already: sendto is synchronous. */
static void
expect_datagram(int fd, const char *want)
{
	char	buf[8192];
	ssize_t n;

	n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	if (n == -1)
		fail_msg(
		    "no datagram (%s), expected \"%s\"", strerror(errno), want);
	buf[n] = '\0';
	if ((size_t)n != strlen(want) || memcmp(buf, want, (size_t)n) != 0)
		fail_msg("got \"%s\" (%zd bytes), expected \"%s\" (%zu)", buf,
		    n, want, strlen(want));
}

static void
expect_nothing(int fd)
{
	char buf[16];

	assert_int_equal(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), -1);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
}

static void
check_protocol(struct listener *l)
{
	char   big[NOTIFY_MAX_MSG + 100], want[NOTIFY_MAX_MSG + 1];
	size_t i;

	assert_int_equal(setenv("NOTIFY_SOCKET", l->env, 1), 0);
	assert_int_equal(notify_init(), 0);

	assert_int_equal(notify_send("READY=1"), 0);
	expect_datagram(l->fd, "READY=1");
	assert_int_equal(
	    notify_send("READY=1\nSTATUS=%s", "idle, 3 sources"), 0);
	expect_datagram(l->fd, "READY=1\nSTATUS=idle, 3 sources");
	assert_int_equal(notify_send("WATCHDOG=1"), 0);
	expect_datagram(l->fd, "WATCHDOG=1");

	/*
	 * A value from the network cannot add an assignment or break the
	 * line: its newlines and control bytes, even the ones notify.c uses
	 * internally, become blanks; the format's own newlines stay.
	 */
	assert_int_equal(notify_send("STATUS=%s\nX_N=%d",
			     "repo\nREADY=1\r\t"
			     "\036\037\177end",
			     7),
	    0);
	expect_datagram(l->fd, "STATUS=repo READY=1     end\nX_N=7");
	assert_int_equal(notify_send("STATUS=%c%s", '\n', "ok"), 0);
	expect_datagram(l->fd, "STATUS= ok");
	/* UTF-8 passes unchanged. */
	assert_int_equal(notify_send("STATUS=%s", "Назарбаев"), 0);
	expect_datagram(l->fd, "STATUS=Назарбаев");

	/*
	 * Too long for systemd: cut to NOTIFY_MAX_MSG bytes, not inside a
	 * UTF-8 sequence: after the 8 bytes of "STATUS=x" come 2-byte
	 * characters, and byte NOTIFY_MAX_MSG would be the second half of one.
	 */
	for (i = 0; i + 2 < sizeof(big); i += 2)
		memcpy(big + i, "\xc3\xa9", 2);
	big[i] = '\0';
	memcpy(want, "STATUS=x", 8);
	memcpy(want + 8, big, NOTIFY_MAX_MSG - 1 - 8);
	want[NOTIFY_MAX_MSG - 1] = '\0';
	assert_true(((unsigned char)want[NOTIFY_MAX_MSG - 2] & 0xc0) == 0x80);
	assert_int_equal(notify_send("STATUS=x%s", big), 0);
	expect_datagram(l->fd, want);

	expect_nothing(l->fd);
	notify_close();
	assert_int_equal(notify_send("READY=1"), 0);
	expect_nothing(l->fd);
	assert_int_equal(unsetenv("NOTIFY_SOCKET"), 0);
}

static void
test_path_socket(void **state)
{
	struct listener l;

	memset(&l, 0, sizeof(l));
	listen_path(&l);
	check_protocol(&l);

	/* The manager went away: the send fails, and nothing dies. */
	assert_int_equal(setenv("NOTIFY_SOCKET", l.env, 1), 0);
	assert_int_equal(notify_init(), 0);
	listener_close(&l);
	assert_int_equal(notify_send("STOPPING=1"), -1);
	notify_close();
	assert_int_equal(unsetenv("NOTIFY_SOCKET"), 0);
}

static void
test_abstract_socket(void **state)
{
	struct listener l;

	listen_abstract(&l);
	check_protocol(&l);
	listener_close(&l);
}

static void
test_no_socket(void **state)
{
	static const char *const bad[] = {
		"",
		"@",
		"relative/path",
		"vsock:2:1234",
		/* 108 bytes: a path needs room for its NUL. */
		"/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		/* 109 bytes: longer than sun_path even without a NUL. */
		"@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	};
	size_t i;

	assert_int_equal(unsetenv("NOTIFY_SOCKET"), 0);
	assert_int_equal(notify_init(), 0);
	assert_int_equal(notify_send("READY=1\nSTATUS=%s", "x"), 0);
	notify_close();

	for (i = 0; i < nitems(bad); i++) {
		assert_int_equal(setenv("NOTIFY_SOCKET", bad[i], 1), 0);
		if (notify_init() != -1)
			fail_msg("accepted NOTIFY_SOCKET=%s", bad[i]);
		assert_int_equal(notify_send("READY=1"), 0);
		notify_close();
	}
	assert_int_equal(unsetenv("NOTIFY_SOCKET"), 0);
}

static void
test_watchdog(void **state)
{
	/* pid: NULL unset, "self" our pid, anything else as is. */
	static const struct {
		const char *usec;
		const char *pid;
		long long   want;
	} cases[] = {
		{ NULL, NULL, 0 },
		{ NULL, "self", 0 },
		{ "60000000", NULL, 60000000 },
		{ "60000000", "self", 60000000 },
		{ "1", NULL, 1 },
		{ "315360000000000", NULL, 315360000000000LL },
		{ "315360000000001", NULL, 0 },
		{ "9223372036854775807", NULL, 0 },
		{ "99999999999999999999", NULL, 0 },
		{ "60000000", "1", 0 },
		{ "60000000", "0", 0 },
		{ "60000000", "-1", 0 },
		{ "60000000", "", 0 },
		{ "60000000", "12ab", 0 },
		{ "60000000", "99999999999999999999", 0 },
		{ "0", NULL, 0 },
		{ "-60000000", NULL, 0 },
		{ "", NULL, 0 },
		{ "60s", NULL, 0 },
		{ " 60000000", NULL, 0 },
		{ "+60000000", NULL, 0 },
		{ "0x3938700", NULL, 0 },
		{ "6e7", NULL, 0 },
	};
	char   self[32], other[32];
	size_t i;

	(void)snprintf(self, sizeof(self), "%ld", (long)getpid());
	(void)snprintf(other, sizeof(other), "%ld", (long)getpid() + 1);
	for (i = 0; i < nitems(cases); i++) {
		if (cases[i].usec == NULL)
			assert_int_equal(unsetenv("WATCHDOG_USEC"), 0);
		else
			assert_int_equal(
			    setenv("WATCHDOG_USEC", cases[i].usec, 1), 0);
		if (cases[i].pid == NULL)
			assert_int_equal(unsetenv("WATCHDOG_PID"), 0);
		else
			assert_int_equal(setenv("WATCHDOG_PID",
					     strcmp(cases[i].pid, "self") == 0 ?
						 self :
						 cases[i].pid,
					     1),
			    0);
		if (notify_watchdog_usec() != cases[i].want)
			fail_msg("WATCHDOG_USEC=%s WATCHDOG_PID=%s: got %lld, "
				 "want %lld",
			    cases[i].usec ? cases[i].usec : "-",
			    cases[i].pid ? cases[i].pid : "-",
			    notify_watchdog_usec(), cases[i].want);
	}

	/* Another process's watchdog (a parent's leaked environment). */
	assert_int_equal(setenv("WATCHDOG_USEC", "60000000", 1), 0);
	assert_int_equal(setenv("WATCHDOG_PID", other, 1), 0);
	assert_int_equal(notify_watchdog_usec(), 0);
	assert_int_equal(unsetenv("WATCHDOG_USEC"), 0);
	assert_int_equal(unsetenv("WATCHDOG_PID"), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_socket),
		cmocka_unit_test(test_abstract_socket),
		cmocka_unit_test(test_no_socket),
		cmocka_unit_test(test_watchdog),
	};

	srandom((unsigned int)getpid());
	return cmocka_run_group_tests(tests, NULL, NULL);
}
