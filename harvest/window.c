/*
 * Date windows for selective harvesting (see window.h).
 */
#include <string.h>
#include <time.h>

#include "window.h"

#define DAY 86400

static const char *const unit_names[] = {
	[WINDOW_NONE] = "none",
	[WINDOW_YEAR] = "year",
	[WINDOW_MONTH] = "month",
	[WINDOW_DAY] = "day",
};

static void window_set(struct window *);
static int  unit_start(time_t, enum window_unit);

int
window_unit_parse(const char *s, enum window_unit *unit)
{
	size_t i;

	for (i = 0; i < nitems(unit_names); i++)
		if (strcmp(s, unit_names[i]) == 0) {
			*unit = (enum window_unit)i;
			return 0;
		}
	return -1;
}

const char *
window_unit_name(enum window_unit unit)
{
	return (size_t)unit < nitems(unit_names) ? unit_names[unit] : "?";
}

time_t
window_unit_end(time_t t, enum window_unit unit)
{
	struct tm tm;

	if (unit == WINDOW_NONE)
		return t;
	gmtime_r(&t, &tm);
	tm.tm_hour = 23;
	tm.tm_min = 59;
	tm.tm_sec = 59;
	if (unit == WINDOW_YEAR) {
		tm.tm_mon = 11;
		tm.tm_mday = 31;
	} else if (unit == WINDOW_MONTH) {
		/* Day 0 of the next month: the last day of this one. */
		tm.tm_mon++;
		tm.tm_mday = 0;
	}
	tm.tm_isdst = 0;
	return timegm(&tm);
}

/* Does a unit begin at t? */
static int
unit_start(time_t t, enum window_unit unit)
{
	return unit != WINDOW_NONE && window_unit_end(t - 1, unit) == t - 1;
}

/* The current window: from to the end of its unit, the cap, or the end. */
static void
window_set(struct window *w)
{
	time_t u = window_unit_end(w->from, w->unit);

	if (w->unit == WINDOW_NONE)
		u = w->end;
	if (w->cap > 0 && w->from + (time_t)(w->cap - 1) < u)
		u = w->from + (time_t)(w->cap - 1);
	if (u > w->end)
		u = w->end;
	w->until = u;
}

void
window_init(struct window *w, enum window_unit unit, enum oai_granularity gran,
    long long min, time_t start, time_t end, int open_end)
{
	w->unit = unit;
	w->days = gran == GRAN_DAY;
	w->min = min > 0 ? min : 1;
	if (w->days) {
		if (w->min < DAY)
			w->min = DAY;
		start -= ((start % DAY) + DAY) % DAY;
		end += DAY - 1 - ((end % DAY) + DAY) % DAY;
	}
	w->from = start;
	w->end = end < start ? start : end;
	w->open_end = open_end;
	w->cap = 0;
	window_set(w);
}

int
window_last(const struct window *w)
{
	return w->until >= w->end;
}

int
window_advance(struct window *w)
{
	long long span;

	if (window_last(w))
		return -1;
	w->from = w->until + 1;
	/*
	 * A narrowed width holds to the end of its unit; the next unit tries
	 * twice as wide, and the whole unit once that covers it.
	 */
	if (w->cap > 0 && unit_start(w->from, w->unit)) {
		span =
		    (long long)(window_unit_end(w->from, w->unit) - w->from) +
		    1;
		w->cap = w->cap > span / 2 ? 0 : w->cap * 2;
	}
	window_set(w);
	return 0;
}

int
window_halve(struct window *w)
{
	long long half;

	half = ((long long)(w->until - w->from) + 1) / 2;
	if (w->days)
		half -= half % DAY;
	if (half <= 0 || half < w->min)
		return -1;
	w->cap = half;
	window_set(w);
	return 0;
}

void
window_format(
    const struct window *w, enum oai_granularity gran, char *from, char *until)
{
	datestamp_format(w->from, gran, from);
	if (w->open_end && window_last(w))
		until[0] = '\0';
	else
		datestamp_format(w->until, gran, until);
}
