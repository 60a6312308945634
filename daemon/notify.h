/*
 * The sd_notify protocol without libsystemd: one datagram of newline-separated
 * VAR=value assignments to the AF_UNIX socket named by $NOTIFY_SOCKET.  When
 * the daemon is not started by systemd (no $NOTIFY_SOCKET) every call is a
 * no-op.  Return values may be ignored, as sd_notify(3) advises.
 */
#ifndef OH_NOTIFY_H
#define OH_NOTIFY_H

#include "util.h"

/*
 * Read $NOTIFY_SOCKET ("/path" or "@abstract") and open the socket.  Return
 * 0, also when the variable is unset; -1 when it is malformed or the socket
 * cannot be created (later sends are then no-ops).
 */
int notify_init(void);

/*
 * Send one message, e.g. notify_send("READY=1\nSTATUS=%s", s).  Only the
 * newlines of fmt separate assignments: newlines and other control
 * characters that come from the arguments become blanks, so that a value
 * (a repository's name in a STATUS line) stays one line and cannot add an
 * assignment.  Messages longer than NOTIFY_MAX_MSG bytes are cut.  Return 0,
 * or -1 when the datagram could not be sent.
 */
#define NOTIFY_MAX_MSG 4095
int notify_send(const char *fmt, ...) __printflike(1, 2);

/*
 * The watchdog interval systemd expects, in microseconds, from
 * $WATCHDOG_USEC when $WATCHDOG_PID is unset or this process; 0 when the
 * watchdog is not enabled for us.  Ping (WATCHDOG=1) every half of it.
 */
long long notify_watchdog_usec(void);

void notify_close(void);

#endif
