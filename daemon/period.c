/*
 * period.c - weeks, months, fixed spans and all time, as half-open spans of
 * Unix seconds with the ids of SPEC section 2.
 *
 * A week or month is named by local calendar dates in the spec's zone; its
 * bounds are the local midnights that open it and the next one, converted
 * with tz_local_to_utc. A midnight lost to a DST gap becomes the first
 * instant after the gap, a midnight that happens twice the earlier one, so
 * consecutive periods always tile time: one period's end is the next one's
 * start, and a week across a DST change lasts 167 or 169 hours (or 167.5
 * and 168.5 on Lord Howe Island).
 *
 * Invariants: every period built here has start < end, an id that parses
 * back to the same period, and a year in 0001..9999 (the id has four year
 * digits); outside that range there is no period. The bounds are the
 * authority: period_at picks the period by local date, then corrects by one
 * period if a DST oddity around midnight put t on the other side of a bound.
 *
 * An interval spec cuts time into equal lengths from its anchor, with no
 * period before the anchor; it ignores the zone (a length is a length).
 *
 * Pure functions: no clock, no I/O, no allocation. A NULL zone means UTC.
 * Output arguments are written only when a function succeeds.
 */
#include "period.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

#define DAY      INT64_C(86400)
#define YEAR_MIN 1
#define YEAR_MAX 9999

/* Floor division of a by a positive b. */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

/* a modulo a positive b, in [0, b). */
static int64_t floor_mod(int64_t a, int64_t b)
{
    return a - floor_div(a, b) * b;
}

/* Weekday of a day number, 0 = Monday ... 6 = Sunday (1970-01-01 was a Thursday). */
static int weekday(int64_t day)
{
    return (int)floor_mod(day + 3, 7);
}

/* Local day number (days since 1970-01-01 on the wall calendar) of t in z. */
static int64_t local_day(const tz *z, int64_t t)
{
    const int64_t lim = INT64_C(1) << 55; /* keeps t + offset from overflowing */
    t = t < -lim ? -lim : t > lim ? lim : t;
    int32_t off = z != NULL ? tz_offset(z, t) : 0;
    return floor_div(t + off, DAY);
}

/* Unix time at which local day `day` begins in z. */
static int64_t local_midnight(const tz *z, int64_t day)
{
    return z != NULL ? tz_local_to_utc(z, day * DAY) : day * DAY;
}

/* True if y is a leap year of the proleptic Gregorian calendar. */
static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Number of ISO weeks (52 or 53) in ISO week-numbering year y. */
static int iso_weeks(int64_t y)
{
    int jan1 = weekday(util_days_from_civil(y, 1, 1));
    return (jan1 == 3 || (jan1 == 2 && is_leap(y))) ? 53 : 52;
}

/* Day number of the Monday that opens ISO week 1 of year y (the week of Jan 4). */
static int64_t iso_week1(int64_t y)
{
    int64_t jan4 = util_days_from_civil(y, 1, 4);
    return jan4 - weekday(jan4);
}

/* Writes non-negative v as exactly n digits at p (no NUL). */
static void put_num(char *p, int64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

/* Writes "YYYY-MM-DD" and a NUL at p (11 bytes); y must be in 0..9999. */
static void put_date(char *p, int64_t y, int m, int d)
{
    put_num(p, y, 4);
    p[4] = '-';
    put_num(p + 5, m, 2);
    p[7] = '-';
    put_num(p + 8, d, 2);
    p[10] = '\0';
}

/* Fills out with the week of spec s that opens on local day `day`. */
static bool week_make(const period_spec *s, int64_t day, period *out)
{
    int64_t y;
    int m, d;
    if (s->week_start == 0) {
        /* The ISO year is the year of the week's Thursday. */
        util_civil_from_days(day + 3, &y, &m, &d);
        if (y < YEAR_MIN || y > YEAR_MAX)
            return false;
        put_num(out->id, y, 4);
        memcpy(out->id + 4, "-W", 2);
        put_num(out->id + 6, (day - iso_week1(y)) / 7 + 1, 2);
        out->id[8] = '\0';
    } else {
        util_civil_from_days(day, &y, &m, &d);
        if (y < YEAR_MIN || y > YEAR_MAX)
            return false;
        put_date(out->id, y, m, d);
    }
    out->start = local_midnight(s->zone, day);
    out->end = local_midnight(s->zone, day + 7);
    return out->start < out->end;
}

/* Fills out with month m (1-12) of year y in spec s. */
static bool month_make(const period_spec *s, int64_t y, int m, period *out)
{
    if (y < YEAR_MIN || y > YEAR_MAX || m < 1 || m > 12)
        return false;
    put_date(out->id, y, m, 1);
    out->id[7] = '\0'; /* "YYYY-MM" */
    out->start = local_midnight(s->zone, util_days_from_civil(y, m, 1));
    out->end = local_midnight(s->zone, m == 12 ? util_days_from_civil(y + 1, 1, 1)
                                               : util_days_from_civil(y, m + 1, 1));
    return out->start < out->end;
}

/* Fills out with the span of a fixed or all-time spec; false if empty. */
static bool span_make(const period_spec *s, period *out)
{
    if (s->kind == PERIOD_ALL) {
        out->start = PERIOD_ALL_START;
        out->end = PERIOD_ALL_END;
        snprintf(out->id, sizeof(out->id), "all");
        return true;
    }
    out->start = s->fixed_start;
    out->end = s->fixed_end;
    snprintf(out->id, sizeof(out->id), "fixed");
    return s->fixed_start < s->fixed_end;
}

/* Fills out with the k-th period (k >= 0) of an interval spec. */
static bool interval_make(const period_spec *s, int64_t k, period *out)
{
    if (s->length <= 0 || k < 0 || k > (PERIOD_ALL_END - s->fixed_start) / s->length)
        return false;
    out->start = s->fixed_start + k * s->length;
    out->end = out->start + s->length;
    int64_t day = floor_div(out->start, DAY), y;
    int m, d;
    util_civil_from_days(day, &y, &m, &d);
    if (y < YEAR_MIN || y > YEAR_MAX)
        return false;
    put_date(out->id, y, m, d);
    if (s->length % DAY != 0 || floor_mod(s->fixed_start, DAY) != 0) {
        int64_t sec = out->start - day * DAY;
        out->id[10] = 'T';
        put_num(out->id + 11, sec / 3600, 2);
        put_num(out->id + 13, sec / 60 % 60, 2);
        put_num(out->id + 15, sec % 60, 2);
        memcpy(out->id + 17, "Z", 2);
    }
    return true;
}

/* Builds the week or month `step` periods after the one opening on local
 * day `day` (for months, any day of the month). */
static bool cal_make(const period_spec *s, int64_t day, int step, period *out)
{
    if (s->kind == PERIOD_WEEK)
        return week_make(s, day + 7 * (int64_t)step, out);
    int64_t y;
    int m, d;
    util_civil_from_days(day, &y, &m, &d);
    int64_t months = y * 12 + (m - 1) + step;
    return month_make(s, floor_div(months, 12), (int)floor_mod(months, 12) + 1, out);
}

/* period_at without the promise to leave out untouched on failure. */
static bool find_at(const period_spec *s, int64_t t, period *out)
{
    switch (s->kind) {
    case PERIOD_ALL:
    case PERIOD_FIXED:
        return span_make(s, out) && out->start <= t && t < out->end;
    case PERIOD_INTERVAL:
        return s->length > 0 && t >= s->fixed_start &&
               interval_make(s, floor_div(t - s->fixed_start, s->length), out);
    case PERIOD_WEEK:
    case PERIOD_MONTH:
        break;
    default:
        return false;
    }
    if (s->kind == PERIOD_WEEK && (s->week_start < 0 || s->week_start > 6))
        return false;
    /* Outside years 1..9999 there are no ids; this also keeps days in range. */
    if (t < INT64_C(-62135596800) - 2 * DAY || t > PERIOD_ALL_END + 2 * DAY)
        return false;
    int64_t day = local_day(s->zone, t);
    if (s->kind == PERIOD_WEEK)
        day -= floor_mod(weekday(day) - s->week_start, 7);
    if (!cal_make(s, day, 0, out))
        return false;
    if (t < out->start && !cal_make(s, day, -1, out))
        return false;
    else if (t >= out->end && !cal_make(s, day, 1, out))
        return false;
    return out->start <= t && t < out->end;
}

bool period_at(const period_spec *s, int64_t t, period *out)
{
    period p;
    if (s == NULL || out == NULL || !find_at(s, t, &p))
        return false;
    *out = p;
    return true;
}

bool period_previous(const period_spec *s, const period *cur, period *out)
{
    if (s == NULL || cur == NULL || out == NULL)
        return false;
    if (s->kind != PERIOD_WEEK && s->kind != PERIOD_MONTH && s->kind != PERIOD_INTERVAL)
        return false; /* fixed and all have nothing before them */
    if (cur->start == INT64_MIN)
        return false;
    return period_at(s, cur->start - 1, out);
}

/* Reads exactly n decimal digits at p into *v. */
static bool digits(const char *p, int n, int *v)
{
    int r = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        r = r * 10 + (p[i] - '0');
    }
    *v = r;
    return true;
}

/* Resolves an interval id ("2026-11-02" or "2026-11-02T093000Z") of spec s. */
static bool interval_id(const period_spec *s, const char *id, size_t len, period *out)
{
    int y, m, d, hh = 0, mm = 0, ss = 0;
    if (!(len == 10 || len == 18) || !digits(id, 4, &y) || id[4] != '-' || !digits(id + 5, 2, &m) ||
        id[7] != '-' || !digits(id + 8, 2, &d) || m < 1 || m > 12 || d < 1 || d > 31 ||
        s->length <= 0)
        return false;
    if (len == 18 && !(id[10] == 'T' && digits(id + 11, 2, &hh) && digits(id + 13, 2, &mm) &&
                       digits(id + 15, 2, &ss) && id[17] == 'Z' && hh < 24 && mm < 60 && ss < 60))
        return false;
    int64_t t = util_days_from_civil(y, m, d) * DAY + hh * 3600 + mm * 60 + ss;
    if (t < s->fixed_start || (t - s->fixed_start) % s->length != 0)
        return false;
    return interval_make(s, (t - s->fixed_start) / s->length, out);
}

/* Resolves an explicit id ("2026-W48", "2026-11-22", "2026-11", "fixed",
 * "all", an interval's start) of spec s into out; false if malformed or not
 * a period of s. */
static bool resolve_id(const period_spec *s, const char *id, period *out)
{
    size_t len = strlen(id);
    int y = 0, m = 0, d = 0, w = 0;
    bool ok = false;
    switch (s->kind) {
    case PERIOD_ALL:
    case PERIOD_FIXED:
        ok = span_make(s, out);
        break;
    case PERIOD_INTERVAL:
        ok = interval_id(s, id, len, out);
        break;
    case PERIOD_MONTH:
        ok = len == 7 && digits(id, 4, &y) && id[4] == '-' && digits(id + 5, 2, &m) &&
             month_make(s, y, m, out);
        break;
    case PERIOD_WEEK:
        if (s->week_start == 0) {
            ok = len == 8 && digits(id, 4, &y) && y >= YEAR_MIN && id[4] == '-' && id[5] == 'W' &&
                 digits(id + 6, 2, &w) && w >= 1 && w <= iso_weeks(y) &&
                 week_make(s, iso_week1(y) + 7 * (int64_t)(w - 1), out);
        } else if (s->week_start > 0 && s->week_start <= 6) {
            ok = len == 10 && digits(id, 4, &y) && y >= YEAR_MIN && id[4] == '-' &&
                 digits(id + 5, 2, &m) && m >= 1 && m <= 12 && id[7] == '-' &&
                 digits(id + 8, 2, &d) && d >= 1;
            if (ok) {
                int64_t day = util_days_from_civil(y, m, d);
                int64_t next =
                    m == 12 ? util_days_from_civil(y + 1, 1, 1) : util_days_from_civil(y, m + 1, 1);
                ok = day < next && weekday(day) == s->week_start && week_make(s, day, out);
            }
        }
        break;
    default:
        break;
    }
    /* The canonical id must be exactly what was asked for ("all" vs "fixed"). */
    return ok && strcmp(out->id, id) == 0;
}

bool period_resolve(const period_spec *s, const char *id, int64_t now, period *out)
{
    if (s == NULL || id == NULL || out == NULL)
        return false;
    if (strcmp(id, "current") == 0)
        return period_at(s, now, out);
    if (strcmp(id, "previous") == 0) {
        period cur;
        return period_at(s, now, &cur) && period_previous(s, &cur, out);
    }
    period p;
    if (!resolve_id(s, id, &p))
        return false;
    *out = p;
    return true;
}

int64_t period_local_day(const tz *z, int64_t t)
{
    return local_day(z, t);
}

void period_local_date(const tz *z, int64_t t, char out[11])
{
    /* Clamp to 0000-01-01 .. 9999-12-31 so the year has four digits. */
    int64_t day = local_day(z, t);
    int64_t lo = util_days_from_civil(0, 1, 1), hi = util_days_from_civil(9999, 12, 31);
    day = day < lo ? lo : day > hi ? hi : day;
    int64_t y;
    int m, d;
    util_civil_from_days(day, &y, &m, &d);
    put_date(out, y, m, d);
}

int period_weekday_parse(const char *name)
{
    static const char *const names[] = {"monday", "tuesday",  "wednesday", "thursday",
                                        "friday", "saturday", "sunday"};
    if (name == NULL)
        return -1;
    for (int i = 0; i < 7; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}
