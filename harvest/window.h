/*
 * Date windows: a list harvested as a run of from..until windows (a year,
 * a month or a day each) instead of one request for everything, for
 * repositories that time out or refuse large selective harvests.  A window
 * the repository refuses is halved, down to a minimum; the narrower width
 * then holds until the next unit begins, where it is doubled again.
 *
 * Pure arithmetic on UTC seconds, tested by table.  Bounds are inclusive,
 * as OAI-PMH's from and until are.  The unit is part of harvest.h's
 * harvest_source; the rest is for harvest/ alone.
 */
#ifndef OH_WINDOW_H
#define OH_WINDOW_H

#include <time.h>

#include "util.h"

enum window_unit {
	WINDOW_NONE = 0,
	WINDOW_YEAR,
	WINDOW_MONTH,
	WINDOW_DAY,
};

struct window {
	enum window_unit unit;
	int		 days;	   /* day granularity: whole days */
	long long	 min;	   /* seconds: the narrowest window */
	time_t		 end;	   /* the last second to cover */
	int		 open_end; /* the last window has no
						   until */
	time_t		 from;	   /* the current window */
	time_t		 until;
	long long	 cap; /* seconds a window may span; 0:
					   to the end of its unit */
};

/* "none", "year", "month", "day": 0, or -1 for another word. */
int	    window_unit_parse(const char *, enum window_unit *);
const char *window_unit_name(enum window_unit);

/* The last second of the year, month or day that t falls in. */
time_t window_unit_end(time_t t, enum window_unit);

/*
 * Begin at start, cover up to end (both inclusive).  With day
 * granularity, start is taken back to its midnight, end on to the last
 * second of its day, and min is at least a day.  open_end: the last window is sent without an until (the list runs
 * to the repository's clock).
 */
void window_init(struct window *, enum window_unit, enum oai_granularity,
    long long min, time_t start, time_t end, int open_end);
/* Is the current window the last one? */
int window_last(const struct window *);
/* Move to the next window; -1 when the current one was the last. */
int window_advance(struct window *);
/*
 * The repository refused the current window: halve it.  -1 when half of it
 * would be narrower than the minimum (the window stays as it was).
 */
int window_halve(struct window *);
/*
 * The current window's from and until as datestamps in granularity gran,
 * each into DATESTAMP_LEN bytes; until is "" for an open last window.
 */
void window_format(
    const struct window *, enum oai_granularity, char *from, char *until);

#endif
