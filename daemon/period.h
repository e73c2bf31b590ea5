/*
 * period.h - the calendar of challenges: weeks, months, fixed spans, all time.
 *
 * Pure arithmetic on Unix seconds and a tz; no I/O and no clock. Period ids
 * (SPEC section 2): "2026-W48" for Monday-start weeks (ISO week-numbering
 * year), the local start date "2026-11-22" for other week starts, "2026-11"
 * for months, "fixed", "all"; an interval period (a fixed length from an
 * anchor, such as two-week sprints) is named by its start: the UTC date
 * "2026-11-02" when the length and the anchor are whole UTC days, else the
 * UTC instant "2026-11-02T093000Z". A period is the half-open span [start, end).
 */
#ifndef PODIUM_PERIOD_H
#define PODIUM_PERIOD_H

#include <stdbool.h>
#include <stdint.h>

#include "tz.h"

typedef enum { PERIOD_WEEK, PERIOD_MONTH, PERIOD_FIXED, PERIOD_ALL, PERIOD_INTERVAL } period_kind;

/* How a challenge cuts time. The zone is borrowed, not owned. */
typedef struct period_spec {
    period_kind kind;
    const tz *zone;      /* week and month boundaries are local midnights here; NULL = UTC */
    int week_start;      /* 0 = Monday ... 6 = Sunday */
    int64_t fixed_start; /* PERIOD_FIXED; PERIOD_INTERVAL: the start of the first period */
    int64_t fixed_end;   /* PERIOD_FIXED only */
    int64_t length;      /* PERIOD_INTERVAL only: seconds, > 0 */
} period_spec;

#define PERIOD_ID_MAX    24
#define PERIOD_ALL_START INT64_C(0)            /* "all" runs from the epoch */
#define PERIOD_ALL_END   INT64_C(253402300800) /* to 10000-01-01 */

typedef struct period {
    int64_t start, end; /* Unix seconds, [start, end) */
    char id[PERIOD_ID_MAX];
} period;

/* Fills `out` with the period that contains t. Returns false when none does
 * (t outside a fixed span or "all", or a year outside 0001..9999). Like every
 * function here, writes `out` only on success. */
bool period_at(const period_spec *s, int64_t t, period *out);
/* Fills `out` with the period just before `cur`; false if there is none. */
bool period_previous(const period_spec *s, const period *cur, period *out);
/* Resolves a period id, or "current"/"previous" relative to `now`, into
 * `out`; false when the id is malformed or names no period of this spec.
 * Ids must be canonical: Monday weeks take only "YYYY-Www" (week within that
 * ISO year), other week starts only a "YYYY-MM-DD" falling on that weekday. */
bool period_resolve(const period_spec *s, const char *id, int64_t now, period *out);
/* Local day number of t in zone z: days since 1970-01-01 on its wall calendar. */
int64_t period_local_day(const tz *z, int64_t t);
/* Writes the local date of t in zone z as "YYYY-MM-DD" (11 bytes with NUL). */
void period_local_date(const tz *z, int64_t t, char out[11]);
/* Parses a weekday name ("monday" ... "sunday"); -1 if unknown. */
int period_weekday_parse(const char *name);

#endif
