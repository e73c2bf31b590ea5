/*
 * test_period_table.c - more period.c cases as one table: year ends (ISO
 * week 53, Sunday and Saturday weeks across New Year), leap years, and the
 * zones America/New_York and Australia/Lord_Howe (a 30-minute DST shift).
 *
 * Each row gives an instant and the period that must hold it, written as
 * RFC 3339 times with the zone's local offset so that a reader can check
 * them against a calendar; util_parse_rfc3339 (tested in test_util.c) turns
 * them into Unix seconds. The offsets and ISO weeks were checked with
 * Python's zoneinfo over the system's tzdata and `date +%G-W%V`. Every
 * period found must also resolve back from its id, and period_previous
 * must agree with "previous" resolved at that instant.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "period.h"
#include "tz.h"
#include "util.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

#define MONTH (-1) /* a row's `kind`: a month; 0..6 = week starting that weekday */

static const char *const zone_names[] = {"Europe/London", "America/New_York",
                                         "Australia/Lord_Howe"};

/* Group setup: loads the zones; *state is an array of them. */
static int setup(void **state)
{
    tz **z = calloc(N(zone_names), sizeof(*z));
    char err[256];
    if (z == NULL)
        return -1;
    *state = z;
    for (size_t i = 0; i < N(zone_names); i++) {
        z[i] = tz_load(zone_names[i], err, sizeof(err));
        if (z[i] == NULL) {
            fprintf(stderr, "%s\n", err);
            return -1;
        }
    }
    return 0;
}

/* Group teardown: frees the zones. */
static int teardown(void **state)
{
    tz **z = *state;
    for (size_t i = 0; z && i < N(zone_names); i++)
        tz_free(z[i]);
    free(z);
    return 0;
}

/* The spec of a row: zone by name ("UTC" = NULL), month or week start. */
static period_spec spec(void **state, const char *zone, int kind)
{
    tz **z = *state;
    period_spec s = {
        kind == MONTH ? PERIOD_MONTH : PERIOD_WEEK, NULL, kind < 0 ? 0 : kind, 0, 0, 0};
    for (size_t i = 0; i < N(zone_names); i++)
        if (strcmp(zone, zone_names[i]) == 0)
            s.zone = z[i];
    if (s.zone == NULL && strcmp(zone, "UTC") != 0)
        fail_msg("zone %s is not loaded", zone);
    return s;
}

/* Unix seconds of an RFC 3339 time in whole seconds. */
static int64_t secs(const char *rfc3339)
{
    int64_t ms = 0;
    if (!util_parse_rfc3339(rfc3339, &ms) || ms % 1000 != 0)
        fail_msg("bad time in the test: %s", rfc3339);
    return ms / 1000;
}

/* Fails unless p is exactly the period `id` [start, end). */
static void expect(const char *what, const period *p, const char *id, const char *start,
                   const char *end)
{
    if (strcmp(p->id, id) != 0 || p->start != secs(start) || p->end != secs(end))
        fail_msg("%s: got %s [%lld, %lld), want %s [%s = %lld, %s = %lld)", what, p->id,
                 (long long)p->start, (long long)p->end, id, start, (long long)secs(start), end,
                 (long long)secs(end));
}

/* One instant and the period that holds it. */
typedef struct row {
    const char *zone;
    int kind; /* MONTH, or the week start 0 = Monday ... 6 = Sunday */
    const char *at;
    const char *id, *start, *end;
} row;

/* period_at over the table; each period also resolves from its id. */
static void test_period_at(void **state)
{
    static const row rows[] = {
        /* 2026 starts on a Thursday: it has an ISO week 53, which holds
         * New Year's Day 2027; 2026-W01 starts in December 2025. */
        {"Europe/London", 0, "2026-12-31T23:59:59Z", "2026-W53", "2026-12-28T00:00:00Z",
         "2027-01-04T00:00:00Z"},
        {"Europe/London", 0, "2027-01-01T00:00:00Z", "2026-W53", "2026-12-28T00:00:00Z",
         "2027-01-04T00:00:00Z"},
        {"Europe/London", 0, "2027-01-03T23:59:59Z", "2026-W53", "2026-12-28T00:00:00Z",
         "2027-01-04T00:00:00Z"},
        {"Europe/London", 0, "2027-01-04T00:00:00Z", "2027-W01", "2027-01-04T00:00:00Z",
         "2027-01-11T00:00:00Z"},
        {"Europe/London", 0, "2025-12-28T23:59:59Z", "2025-W52", "2025-12-22T00:00:00Z",
         "2025-12-29T00:00:00Z"},
        {"Europe/London", 0, "2025-12-29T00:00:00Z", "2026-W01", "2025-12-29T00:00:00Z",
         "2026-01-05T00:00:00Z"},
        {"Europe/London", 0, "2028-01-01T12:00:00Z", "2027-W52", "2027-12-27T00:00:00Z",
         "2028-01-03T00:00:00Z"},
        {"UTC", 0, "2032-12-31T12:00:00Z", "2032-W53", "2032-12-27T00:00:00Z",
         "2033-01-03T00:00:00Z"},
        {"UTC", 0, "2020-12-31T23:59:59Z", "2020-W53", "2020-12-28T00:00:00Z",
         "2021-01-04T00:00:00Z"},
        {"America/New_York", 0, "2027-01-03T23:59:59-05:00", "2026-W53",
         "2026-12-28T00:00:00-05:00", "2027-01-04T00:00:00-05:00"},
        {"America/New_York", 0, "2027-01-04T00:00:00-05:00", "2027-W01",
         "2027-01-04T00:00:00-05:00", "2027-01-11T00:00:00-05:00"},
        {"America/New_York", MONTH, "2026-12-31T23:59:59-05:00", "2026-12",
         "2026-12-01T00:00:00-05:00", "2027-01-01T00:00:00-05:00"},
        {"America/New_York", MONTH, "2027-01-01T00:00:00-05:00", "2027-01",
         "2027-01-01T00:00:00-05:00", "2027-02-01T00:00:00-05:00"},
        /* Leap years: 29 February 2028 (a Tuesday in ISO week 9). */
        {"Europe/London", MONTH, "2028-02-29T12:00:00Z", "2028-02", "2028-02-01T00:00:00Z",
         "2028-03-01T00:00:00Z"},
        {"Europe/London", MONTH, "2028-02-29T23:59:59Z", "2028-02", "2028-02-01T00:00:00Z",
         "2028-03-01T00:00:00Z"},
        {"Europe/London", MONTH, "2028-03-01T00:00:00Z", "2028-03", "2028-03-01T00:00:00Z",
         "2028-04-01T00:00:00+01:00"},
        {"Europe/London", 0, "2028-02-29T12:00:00Z", "2028-W09", "2028-02-28T00:00:00Z",
         "2028-03-06T00:00:00Z"},
        {"America/New_York", MONTH, "2028-02-29T23:59:59-05:00", "2028-02",
         "2028-02-01T00:00:00-05:00", "2028-03-01T00:00:00-05:00"},
        {"America/New_York", 6, "2028-02-29T12:00:00-05:00", "2028-02-27",
         "2028-02-27T00:00:00-05:00", "2028-03-05T00:00:00-05:00"},
        {"UTC", 1, "2028-02-29T00:00:00Z", "2028-02-29", "2028-02-29T00:00:00Z",
         "2028-03-07T00:00:00Z"},
        {"UTC", 1, "2028-02-28T23:59:59Z", "2028-02-22", "2028-02-22T00:00:00Z",
         "2028-02-29T00:00:00Z"},
        /* Lord Howe: +10:30, or +11 from the first Sunday of October
         * (02:00 -> 02:30) to the first Sunday of April (02:00 -> 01:30). */
        {"Australia/Lord_Howe", MONTH, "2026-12-31T23:59:59+11:00", "2026-12",
         "2026-12-01T00:00:00+11:00", "2027-01-01T00:00:00+11:00"},
        {"Australia/Lord_Howe", MONTH, "2027-01-01T00:00:00+11:00", "2027-01",
         "2027-01-01T00:00:00+11:00", "2027-02-01T00:00:00+11:00"},
        {"Australia/Lord_Howe", 0, "2027-01-01T00:00:00+11:00", "2026-W53",
         "2026-12-28T00:00:00+11:00", "2027-01-04T00:00:00+11:00"},
        {"Australia/Lord_Howe", 0, "2027-04-04T01:45:00+11:00", "2027-W13",
         "2027-03-29T00:00:00+11:00", "2027-04-05T00:00:00+10:30"},
        {"Australia/Lord_Howe", 0, "2027-04-04T01:45:00+10:30", "2027-W13",
         "2027-03-29T00:00:00+11:00", "2027-04-05T00:00:00+10:30"},
        {"Australia/Lord_Howe", MONTH, "2027-04-30T23:59:59+10:30", "2027-04",
         "2027-04-01T00:00:00+11:00", "2027-05-01T00:00:00+10:30"},
        {"Australia/Lord_Howe", MONTH, "2026-10-04T02:30:00+11:00", "2026-10",
         "2026-10-01T00:00:00+10:30", "2026-11-01T00:00:00+11:00"},
        {"Australia/Lord_Howe", 6, "2026-10-04T01:59:59+10:30", "2026-10-04",
         "2026-10-04T00:00:00+10:30", "2026-10-11T00:00:00+11:00"},
        {"Australia/Lord_Howe", 6, "2026-10-04T02:30:00+11:00", "2026-10-04",
         "2026-10-04T00:00:00+10:30", "2026-10-11T00:00:00+11:00"},
        /* New York: the spring week of 2027 is 167 hours long. */
        {"America/New_York", 0, "2027-03-14T03:00:00-04:00", "2027-W10",
         "2027-03-08T00:00:00-05:00", "2027-03-15T00:00:00-04:00"},
        {"America/New_York", 0, "2027-03-14T01:59:59-05:00", "2027-W10",
         "2027-03-08T00:00:00-05:00", "2027-03-15T00:00:00-04:00"},
        {"America/New_York", MONTH, "2027-03-31T23:59:59-04:00", "2027-03",
         "2027-03-01T00:00:00-05:00", "2027-04-01T00:00:00-04:00"},
        {"America/New_York", MONTH, "2026-11-01T01:30:00-05:00", "2026-11",
         "2026-11-01T00:00:00-04:00", "2026-12-01T00:00:00-05:00"},
        /* Sunday weeks across New Year: ids are local start dates. */
        {"Europe/London", 6, "2027-01-01T12:00:00Z", "2026-12-27", "2026-12-27T00:00:00Z",
         "2027-01-03T00:00:00Z"},
        {"Europe/London", 6, "2027-01-03T00:00:00Z", "2027-01-03", "2027-01-03T00:00:00Z",
         "2027-01-10T00:00:00Z"},
        {"America/New_York", 6, "2027-01-02T23:59:59-05:00", "2026-12-27",
         "2026-12-27T00:00:00-05:00", "2027-01-03T00:00:00-05:00"},
        {"America/New_York", 6, "2027-01-03T04:59:59Z", "2026-12-27", "2026-12-27T00:00:00-05:00",
         "2027-01-03T00:00:00-05:00"},
        /* Saturday weeks across New Year. */
        {"UTC", 5, "2026-12-31T12:00:00Z", "2026-12-26", "2026-12-26T00:00:00Z",
         "2027-01-02T00:00:00Z"},
        {"UTC", 5, "2027-01-02T00:00:00Z", "2027-01-02", "2027-01-02T00:00:00Z",
         "2027-01-09T00:00:00Z"},
        {"Australia/Lord_Howe", 5, "2027-01-01T23:59:59+11:00", "2026-12-26",
         "2026-12-26T00:00:00+11:00", "2027-01-02T00:00:00+11:00"},
        {"America/New_York", 5, "2027-12-31T23:59:59-05:00", "2027-12-25",
         "2027-12-25T00:00:00-05:00", "2028-01-01T00:00:00-05:00"},
        {"America/New_York", 5, "2028-01-01T00:00:00-05:00", "2028-01-01",
         "2028-01-01T00:00:00-05:00", "2028-01-08T00:00:00-05:00"},
    };
    for (size_t i = 0; i < N(rows); i++) {
        const row *w = &rows[i];
        period_spec s = spec(state, w->zone, w->kind);
        period p, r;
        char what[128];
        snprintf(what, sizeof(what), "row %zu: %s kind %d at %s", i, w->zone, w->kind, w->at);
        if (!period_at(&s, secs(w->at), &p))
            fail_msg("%s: no period", what);
        expect(what, &p, w->id, w->start, w->end);
        if (!period_resolve(&s, w->id, 0, &r))
            fail_msg("%s: \"%s\" does not resolve", what, w->id);
        expect(what, &r, w->id, w->start, w->end);
    }
}

/* period_previous across year ends (and a leap February); "previous"
 * resolved at the instant gives the same period. */
static void test_period_previous(void **state)
{
    static const row rows[] = {
        {"Europe/London", 0, "2027-01-04T00:00:00Z", "2026-W53", "2026-12-28T00:00:00Z",
         "2027-01-04T00:00:00Z"},
        {"Europe/London", 0, "2026-01-01T12:00:00Z", "2025-W52", "2025-12-22T00:00:00Z",
         "2025-12-29T00:00:00Z"},
        {"UTC", 0, "2021-01-04T00:00:00Z", "2020-W53", "2020-12-28T00:00:00Z",
         "2021-01-04T00:00:00Z"},
        {"Europe/London", 0, "2033-01-03T00:00:00Z", "2032-W53", "2032-12-27T00:00:00Z",
         "2033-01-03T00:00:00Z"},
        {"America/New_York", MONTH, "2027-01-15T12:00:00-05:00", "2026-12",
         "2026-12-01T00:00:00-05:00", "2027-01-01T00:00:00-05:00"},
        {"Australia/Lord_Howe", MONTH, "2027-01-01T00:00:00+11:00", "2026-12",
         "2026-12-01T00:00:00+11:00", "2027-01-01T00:00:00+11:00"},
        {"Europe/London", MONTH, "2028-03-01T00:00:00Z", "2028-02", "2028-02-01T00:00:00Z",
         "2028-03-01T00:00:00Z"},
        {"America/New_York", 6, "2027-01-03T00:00:00-05:00", "2026-12-27",
         "2026-12-27T00:00:00-05:00", "2027-01-03T00:00:00-05:00"},
        {"UTC", 5, "2027-01-02T00:00:00Z", "2026-12-26", "2026-12-26T00:00:00Z",
         "2027-01-02T00:00:00Z"},
        {"Australia/Lord_Howe", 0, "2027-04-05T00:00:00+10:30", "2027-W13",
         "2027-03-29T00:00:00+11:00", "2027-04-05T00:00:00+10:30"},
    };
    for (size_t i = 0; i < N(rows); i++) {
        const row *w = &rows[i];
        period_spec s = spec(state, w->zone, w->kind);
        period cur, prev, r;
        char what[128];
        snprintf(what, sizeof(what), "row %zu: %s kind %d before %s", i, w->zone, w->kind, w->at);
        assert_true(period_at(&s, secs(w->at), &cur));
        if (!period_previous(&s, &cur, &prev))
            fail_msg("%s: no previous period", what);
        expect(what, &prev, w->id, w->start, w->end);
        assert_int_equal(prev.end, cur.start);
        if (!period_resolve(&s, "previous", secs(w->at), &r))
            fail_msg("%s: \"previous\" does not resolve", what);
        expect(what, &r, w->id, w->start, w->end);
    }
}

/* Ids of these years that name no period: week 53 of a 52-week year, 29
 * February of a common year, a date that is not the week's start day. */
static void test_resolve_refused(void **state)
{
    static const struct {
        const char *zone;
        int kind;
        const char *id;
    } rows[] = {
        {"Europe/London", 0, "2027-W53"},
        {"Europe/London", 0, "2025-W53"},
        {"UTC", 0, "2033-W53"},
        {"UTC", 1, "2027-02-29"},
        {"UTC", 1, "2028-02-28"},
        {"America/New_York", 6, "2027-01-02"},
        {"America/New_York", 5, "2027-01-03"},
        {"Australia/Lord_Howe", MONTH, "2027-13"},
        {"Australia/Lord_Howe", MONTH, "2027-W01"},
    };
    for (size_t i = 0; i < N(rows); i++) {
        period_spec s = spec(state, rows[i].zone, rows[i].kind);
        period p = {42, 43, "untouched"};
        if (period_resolve(&s, rows[i].id, 0, &p))
            fail_msg("row %zu: \"%s\" resolved to %s", i, rows[i].id, p.id);
        assert_string_equal(p.id, "untouched");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_period_at),
        cmocka_unit_test(test_period_previous),
        cmocka_unit_test(test_resolve_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
