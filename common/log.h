/*
 * Logging: one line per event, "key=value" pairs (logfmt).  When stderr is
 * the journal (JOURNAL_STREAM matches stderr) each line carries a "<N>"
 * priority prefix and no timestamp; otherwise a UTC timestamp and the level.
 * The level is checked before anything is formatted.
 *
 * Strings that came from the network must go through log_q(), which quotes
 * and escapes them, before they reach a log line.
 */
#ifndef OH_LOG_H
#define OH_LOG_H

#include "util.h"

enum log_level {
	LOG_LVL_ERR = 3,
	LOG_LVL_WARN = 4,
	LOG_LVL_NOTICE = 5,
	LOG_LVL_INFO = 6,
	LOG_LVL_DEBUG = 7,
};

extern int log_level;

/* Decide the output format (journal or plain) and the level. */
void log_init(int level);
void log_write(int level, const char *, ...) __printflike(2, 3);

#define log_err(...) \
	do { \
		if (log_level >= LOG_LVL_ERR) \
			log_write(LOG_LVL_ERR, __VA_ARGS__); \
	} while (0)
#define log_warn(...) \
	do { \
		if (log_level >= LOG_LVL_WARN) \
			log_write(LOG_LVL_WARN, __VA_ARGS__); \
	} while (0)
#define log_notice(...) \
	do { \
		if (log_level >= LOG_LVL_NOTICE) \
			log_write(LOG_LVL_NOTICE, __VA_ARGS__); \
	} while (0)
#define log_info(...) \
	do { \
		if (log_level >= LOG_LVL_INFO) \
			log_write(LOG_LVL_INFO, __VA_ARGS__); \
	} while (0)
#define log_debug(...) \
	do { \
		if (log_level >= LOG_LVL_DEBUG) \
			log_write(LOG_LVL_DEBUG, __VA_ARGS__); \
	} while (0)

/*
 * Quote and escape a string for a logfmt value: always in double quotes,
 * with \" \\ \n \t and \xNN for other control bytes; long strings are cut.
 * The result lives in one of a few rotating static buffers, so up to
 * LOG_Q_SLOTS calls may appear in one log statement.
 */
#define LOG_Q_SLOTS 8
const char *log_q(const char *);
/* log_q() of a URL without its password (url_redact()). */
const char *log_qurl(const char *);

#endif
