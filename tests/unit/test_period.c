/*
 * test_period.c - unit tests for period.c: week, month, fixed and all-time
 * periods, their ids, previous periods, id resolution and local dates.
 *
 * Expected bounds were computed independently while writing the tests
 * (`TZ=zone date -d 'local time' +%s` and zdump over Debian 12's tzdata
 * 2025b) and are hard-coded. Zones: Europe/London, America/New_York and
 * Australia/Lord_Howe (a 30-minute DST shift), America/Havana (DST at
 * midnight: a week start that does not exist, and one that happens twice),
 * America/Santiago (clocks go back from Sunday 00:00 to Saturday 23:00), and
 * a crafted zone whose clocks go back from 00:30 to 23:30, so that a
 * Saturday-dated instant belongs to the week starting on Sunday.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "period.h"
#include "tz.h"

#define N(a)       (sizeof(a) / sizeof((a)[0]))
#define HOUR       INT64_C(3600)
#define CRAFT      "Podium/Back_Across_Midnight" /* the crafted zone's name */
#define CRAFT_RULE "XST-1XDT,M3.5.0,M10.5.0/0:30"

/* The zones the tests use, loaded once; NULL stands for UTC. */
typedef struct fixture {
    char dir[64];
    tz *zones[8];
    size_t nzones;
} fixture;

/* Appends a big-endian 32-bit value. */
static unsigned char *put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
    return p + 4;
}

/* Appends a TZif version 2 header with the given counts. */
static unsigned char *put_header(unsigned char *p, uint32_t timecnt, uint32_t charcnt)
{
    memcpy(p, "TZif2", 5);
    memset(p + 5, 0, 15);
    p = put32(p + 20, 0);
    p = put32(p, 0);
    p = put32(p, 0);
    p = put32(p, timecnt);
    p = put32(p, 1);
    return put32(p, charcnt);
}

/* Writes the crafted zone: a version 2 file with one type (+1), one
 * transition at the epoch and the footer CRAFT_RULE. */
static int write_crafted(const char *dir)
{
    unsigned char buf[512], *p = buf;
    p = put_header(p, 0, 1);
    p = put32(p, 3600); /* type 0: +1, isdst 0, abbreviation 0; then "" */
    memset(p, 0, 3);
    p += 3;
    p = put_header(p, 1, 1);
    memset(p, 0, 9); /* one 64-bit transition at 0, to type 0 */
    p += 9;
    p = put32(p, 3600);
    memset(p, 0, 3);
    p += 3;
    p += sprintf((char *)p, "\n%s\n", CRAFT_RULE);

    char path[128];
    snprintf(path, sizeof(path), "%s/Podium", dir);
    if (mkdir(path, 0700) != 0)
        return -1;
    snprintf(path, sizeof(path), "%s/%s", dir, CRAFT);
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return -1;
    size_t len = (size_t)(p - buf);
    int rc = fwrite(buf, 1, len, f) == len ? 0 : -1;
    return fclose(f) == 0 ? rc : -1;
}

/* The zone called `name` from the fixture; NULL for "UTC". */
static const tz *zone(void **state, const char *name)
{
    fixture *f = *state;
    if (name == NULL || strcmp(name, "UTC") == 0)
        return NULL;
    for (size_t i = 0; i < f->nzones; i++)
        if (strcmp(tz_name(f->zones[i]), name) == 0)
            return f->zones[i];
    fail_msg("zone %s is not loaded", name);
    return NULL;
}

/* Group setup: loads the real zones and the crafted one. */
static int setup(void **state)
{
    static const char *const names[] = {"Europe/London",  "America/New_York", "Australia/Lord_Howe",
                                        "America/Havana", "America/Santiago", CRAFT};
    fixture *f = calloc(1, sizeof(*f));
    char err[256];
    if (f == NULL)
        return -1;
    *state = f;
    snprintf(f->dir, sizeof(f->dir), "/tmp/podium-test-period-XXXXXX");
    if (mkdtemp(f->dir) == NULL || write_crafted(f->dir) != 0)
        return -1;
    for (size_t i = 0; i < N(names); i++) {
        if (strcmp(names[i], CRAFT) == 0)
            setenv("PODIUM_ZONEINFO", f->dir, 1);
        else
            unsetenv("PODIUM_ZONEINFO");
        f->zones[i] = tz_load(names[i], err, sizeof(err));
        if (f->zones[i] == NULL) {
            fprintf(stderr, "%s\n", err);
            return -1;
        }
        f->nzones++;
    }
    unsetenv("PODIUM_ZONEINFO");
    return 0;
}

/* Group teardown: frees the zones and removes the crafted file. */
static int teardown(void **state)
{
    fixture *f = *state;
    char path[128];
    if (f == NULL)
        return 0;
    for (size_t i = 0; i < f->nzones; i++)
        tz_free(f->zones[i]);
    snprintf(path, sizeof(path), "%s/%s", f->dir, CRAFT);
    unlink(path);
    snprintf(path, sizeof(path), "%s/Podium", f->dir);
    rmdir(path);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Fails unless p is exactly [start, end) with the given id. */
static void expect_period(const char *what, const period *p, const char *id, int64_t start,
                          int64_t end)
{
    if (strcmp(p->id, id) != 0 || p->start != start || p->end != end)
        fail_msg("%s: got %s [%lld, %lld), want %s [%lld, %lld)", what, p->id, (long long)p->start,
                 (long long)p->end, id, (long long)start, (long long)end);
}

/* A week spec in the named zone. */
static period_spec week_spec(void **state, const char *zname, int week_start)
{
    period_spec s = {PERIOD_WEEK, zone(state, zname), week_start, 0, 0, 0};
    return s;
}

/* A month spec in the named zone. */
static period_spec month_spec(void **state, const char *zname)
{
    period_spec s = {PERIOD_MONTH, zone(state, zname), 0, 0, 0, 0};
    return s;
}

/* Weeks that contain t: DST weeks of 167/169 hours (167.5/168.5 on Lord
 * Howe), other week starts, ISO week 53, midnights lost or doubled. */
static void test_week_at(void **state)
{
    static const struct {
        const char *zone;
        int week_start;
        int64_t t;
        const char *id;
        int64_t start, end;
    } cases[] = {
        /* London, Monday weeks: spring forward (167 h) and fall back (169 h). */
        {"Europe/London", 0, 1774224000, "2026-W13", 1774224000, 1774825200},
        {"Europe/London", 0, 1774746000, "2026-W13", 1774224000, 1774825200},
        {"Europe/London", 0, 1774825199, "2026-W13", 1774224000, 1774825200},
        {"Europe/London", 0, 1774825200, "2026-W14", 1774825200, 1775430000},
        {"Europe/London", 0, 1792890000, "2026-W43", 1792364400, 1792972800},
        {"Europe/London", 0, 1792364399, "2026-W42", 1792364400 - 168 * HOUR, 1792364400},
        /* London after the file's last transition (2037): the footer rule. */
        {"Europe/London", 0, 2216250000, "2040-W12", 2215728000, 2216329200},
        {"Europe/London", 0, 2234998800, "2040-W43", 2234473200, 2235081600},
        /* ISO week-numbering years. */
        {"Europe/London", 0, 1798804800, "2026-W53", 1798416000, 1799020800}, /* 2027-01-01 */
        {"Europe/London", 0, 1799020800, "2027-W01", 1799020800, 1799625600},
        {"Europe/London", 0, 1735603200, "2025-W01", 1735516800, 1736121600}, /* 2024-12-31 */
        {"Europe/London", 0, 1609675200, "2020-W53", 1609113600, 1609718400}, /* 2021-01-03 */
        /* New York, Sunday weeks, ids are the start date. */
        {"America/New_York", 6, 1772953200, "2026-03-08", 1772946000, 1773547200},
        {"America/New_York", 6, 1793512800, "2026-11-01", 1793505600, 1794114000},
        {"America/New_York", 6, 1795780800, "2026-11-22", 1795323600, 1795928400},
        /* Lord Howe, Monday weeks: 167.5 h and 168.5 h. */
        {"Australia/Lord_Howe", 0, 1791041400, "2026-W40", 1790515800, 1791118800},
        {"Australia/Lord_Howe", 0, 1775314800, "2026-W14", 1774789200, 1775395800},
        /* UTC (a NULL zone), Wednesday and Thursday weeks. */
        {"UTC", 2, 1795780800, "2026-11-25", 1795564800, 1796169600},
        {"UTC", 3, 0, "1970-01-01", 0, 7 * 24 * HOUR},
        {"UTC", 3, -1, "1969-12-25", -7 * 24 * HOUR, 0},
        /* Havana: Sunday 2026-03-08 00:00 does not exist (the week starts at
         * 01:00 CDT); Sunday 2026-11-01 00:00 happens twice (the first counts). */
        {"America/Havana", 6, 1772946000, "2026-03-08", 1772946000, 1773547200},
        {"America/Havana", 6, 1772945999, "2026-03-01", 1772341200, 1772946000},
        {"America/Havana", 6, 1793505600, "2026-11-01", 1793505600, 1794114000},
        {"America/Havana", 6, 1793509260, "2026-11-01", 1793505600, 1794114000},
        {"America/Havana", 6, 1793505599, "2026-10-25", 1793505600 - 168 * HOUR, 1793505600},
        /* Santiago: Sunday 2026-09-06 00:00 does not exist; on 2026-04-05
         * Saturday 23:00-24:00 happens twice, both in the old week. */
        {"America/Santiago", 6, 1788667200, "2026-09-06", 1788667200, 1789268400},
        {"America/Santiago", 6, 1775359800, "2026-03-29", 1774753200, 1775361600},
        {"America/Santiago", 6, 1775361600, "2026-04-05", 1775361600, 1775361600 + 168 * HOUR},
        /* Crafted: 00:30 goes back to 23:30, so Sunday 00:00 comes first and
         * the repeated Saturday 23:30-24:00 already belongs to Sunday's week. */
        {CRAFT, 6, 1792881900, "2026-10-25", 1792879200, 1793487600},
        {CRAFT, 6, 1792879199, "2026-10-18", 1792274400, 1792879200},
    };
    for (size_t i = 0; i < N(cases); i++) {
        period_spec s = week_spec(state, cases[i].zone, cases[i].week_start);
        period p;
        char what[96];
        snprintf(what, sizeof(what), "%s start %d at %lld", cases[i].zone, cases[i].week_start,
                 (long long)cases[i].t);
        if (!period_at(&s, cases[i].t, &p))
            fail_msg("%s: no period", what);
        expect_period(what, &p, cases[i].id, cases[i].start, cases[i].end);
    }
}

/* The lengths the task is about, stated outright. */
static void test_week_lengths(void **state)
{
    static const struct {
        const char *zone;
        int week_start;
        int64_t t, minutes;
    } cases[] = {
        {"Europe/London", 0, 1774746000, 167 * 60},
        {"Europe/London", 0, 1792890000, 169 * 60},
        {"Europe/London", 0, 1782907200, 168 * 60},
        {"America/New_York", 6, 1772953200, 167 * 60},
        {"America/New_York", 6, 1793512800, 169 * 60},
        {"Australia/Lord_Howe", 0, 1791041400, 167 * 60 + 30},
        {"Australia/Lord_Howe", 0, 1775314800, 168 * 60 + 30},
    };
    for (size_t i = 0; i < N(cases); i++) {
        period_spec s = week_spec(state, cases[i].zone, cases[i].week_start);
        period p;
        assert_true(period_at(&s, cases[i].t, &p));
        if ((p.end - p.start) / 60 != cases[i].minutes)
            fail_msg("%s %s: %lld minutes, want %lld", cases[i].zone, p.id,
                     (long long)((p.end - p.start) / 60), (long long)cases[i].minutes);
    }
}

/* Months: DST inside, leap and non-leap Februaries, December to January. */
static void test_month_at(void **state)
{
    static const struct {
        const char *zone;
        int64_t t;
        const char *id;
        int64_t start, end;
    } cases[] = {
        {"Europe/London", 1774746000, "2026-03", 1772323200, 1774998000},
        {"Europe/London", 1795780800, "2026-11", 1793491200, 1796083200},
        {"Europe/London", 1834228800, "2028-02", 1832976000, 1835481600}, /* 29 days */
        {"Europe/London", 949363200, "2000-02", 949363200, 951868800},    /* 29 days */
        {"Europe/London", 4105900800, "2100-02", 4105123200, 4107542400}, /* 28 days */
        {"America/New_York", 1793512800, "2026-11", 1793505600, 1796101200},
        {"America/New_York", 1798779599, "2026-12", 1796101200, 1798779600},
        {"America/New_York", 1798779600, "2027-01", 1798779600, 1801458000},
        {"Australia/Lord_Howe", 1775314800, "2026-04", 1774962000, 1777555800},
        {"UTC", 0, "1970-01", 0, 31 * 24 * HOUR},
    };
    for (size_t i = 0; i < N(cases); i++) {
        period_spec s = month_spec(state, cases[i].zone);
        period p;
        char what[96];
        snprintf(what, sizeof(what), "%s month at %lld", cases[i].zone, (long long)cases[i].t);
        if (!period_at(&s, cases[i].t, &p))
            fail_msg("%s: no period", what);
        expect_period(what, &p, cases[i].id, cases[i].start, cases[i].end);
    }
    /* February 2028 has 29 days, February 2100 28. */
    period_spec s = month_spec(state, "Europe/London");
    period p;
    assert_true(period_at(&s, 1834228800, &p));
    assert_int_equal(p.end - p.start, 29 * 24 * HOUR);
    assert_true(period_at(&s, 4105900800, &p));
    assert_int_equal(p.end - p.start, 28 * 24 * HOUR);
}

/* Fixed spans and all time: inside, at the bounds, outside. */
static void test_fixed_and_all(void **state)
{
    period_spec fixed = {PERIOD_FIXED, NULL, 0, 1000, 2000, 0};
    period_spec all = {PERIOD_ALL, zone(state, "Europe/London"), 0, 0, 0, 0};
    period_spec empty = {PERIOD_FIXED, NULL, 0, 2000, 2000, 0};
    period p;

    assert_false(period_at(&fixed, 999, &p));
    assert_true(period_at(&fixed, 1000, &p));
    expect_period("fixed", &p, "fixed", 1000, 2000);
    assert_true(period_at(&fixed, 1999, &p));
    expect_period("fixed", &p, "fixed", 1000, 2000);
    assert_false(period_at(&fixed, 2000, &p));
    assert_false(period_at(&empty, 2000, &p));

    assert_false(period_at(&all, -1, &p));
    assert_true(period_at(&all, 0, &p));
    expect_period("all", &p, "all", PERIOD_ALL_START, PERIOD_ALL_END);
    assert_true(period_at(&all, PERIOD_ALL_END - 1, &p));
    expect_period("all", &p, "all", 0, INT64_C(253402300800));
    assert_false(period_at(&all, PERIOD_ALL_END, &p));

    /* Neither has a period before it. */
    assert_true(period_at(&all, 5, &p));
    period prev;
    assert_false(period_previous(&all, &p, &prev));
    assert_true(period_at(&fixed, 1500, &p));
    assert_false(period_previous(&fixed, &p, &prev));

    /* A week spec with a week start outside 0..6 has no periods. */
    period_spec bad = {PERIOD_WEEK, NULL, 7, 0, 0, 0};
    assert_false(period_at(&bad, 0, &p));
    bad.week_start = -1;
    assert_false(period_at(&bad, 0, &p));
}

/* The ends of the id range: years 0001 to 9999, and no further. */
static void test_year_range(void **state)
{
    period_spec month = month_spec(state, "UTC");
    period_spec week = week_spec(state, "UTC", 0);
    period p, prev;

    assert_true(period_at(&month, 253402300799, &p));
    expect_period("last month", &p, "9999-12", 253399622400, 253402300800);
    assert_false(period_at(&month, 253402300800, &p)); /* year 10000 */
    assert_true(period_at(&week, 253402300799, &p));   /* ends in 10000 */
    expect_period("last week", &p, "9999-W52", 253401868800, 253401868800 + 168 * HOUR);
    assert_true(period_at(&month, -62135596800, &p));
    expect_period("first month", &p, "0001-01", -62135596800, -62132918400);
    assert_false(period_previous(&month, &p, &prev));
    assert_true(period_resolve(&week, "0001-W01", 0, &p));
    expect_period("first week", &p, "0001-W01", -62135596800, -62135596800 + 168 * HOUR);
    assert_false(period_previous(&week, &p, &prev));
    assert_false(period_at(&week, INT64_MAX, &p));
    assert_false(period_at(&week, INT64_MIN, &p));
    /* A forged period at the very start of time has nothing before it. */
    period forged = {INT64_MIN, 0, "forged"};
    assert_false(period_previous(&week, &forged, &prev));
}

/* period_previous across DST, year ends and month ends. */
static void test_previous(void **state)
{
    static const struct {
        const char *zone;
        int kind; /* 0 = Monday week, 6 = Sunday week, -1 = month */
        int64_t t;
        const char *id;
        int64_t start, end;
    } cases[] = {
        {"Europe/London", 0, 1799020800, "2026-W53", 1798416000, 1799020800},
        {"Europe/London", 0, 1774825200, "2026-W13", 1774224000, 1774825200},
        {"Europe/London", 0, 1735603200, "2024-W52", 1735516800 - 168 * HOUR, 1735516800},
        {"America/New_York", 6, 1794114000, "2026-11-01", 1793505600, 1794114000},
        {"Australia/Lord_Howe", 0, 1791118800, "2026-W40", 1790515800, 1791118800},
        {"America/Havana", 6, 1773547200, "2026-03-08", 1772946000, 1773547200},
        {"America/New_York", -1, 1798779600, "2026-12", 1796101200, 1798779600},
        {"Europe/London", -1, 1835481600, "2028-02", 1832976000, 1835481600},
    };
    for (size_t i = 0; i < N(cases); i++) {
        period_spec s = cases[i].kind < 0 ? month_spec(state, cases[i].zone)
                                          : week_spec(state, cases[i].zone, cases[i].kind);
        period cur, prev;
        assert_true(period_at(&s, cases[i].t, &cur));
        assert_true(period_previous(&s, &cur, &prev));
        expect_period(cases[i].zone, &prev, cases[i].id, cases[i].start, cases[i].end);
        assert_int_equal(prev.end, cur.start);
    }
}

/* Ids that resolve, and "current"/"previous" relative to now. */
static void test_resolve_good(void **state)
{
    static const struct {
        const char *zone;
        int kind; /* week start 0-6, -1 = month, -2 = all, -3 = fixed [1000, 2000) */
        const char *in;
        const char *id;
        int64_t start, end;
    } cases[] = {
        {"Europe/London", 0, "current", "2026-W48", 1795392000, 1795996800},
        {"Europe/London", 0, "previous", "2026-W47", 1794787200, 1795392000},
        {"Europe/London", 0, "2026-W48", "2026-W48", 1795392000, 1795996800},
        {"Europe/London", 0, "2026-W53", "2026-W53", 1798416000, 1799020800},
        {"Europe/London", 0, "2020-W53", "2020-W53", 1609113600, 1609718400},
        {"Europe/London", 0, "2025-W01", "2025-W01", 1735516800, 1736121600},
        {"Europe/London", 0, "2026-W13", "2026-W13", 1774224000, 1774825200},
        {"Australia/Lord_Howe", 0, "2026-W40", "2026-W40", 1790515800, 1791118800},
        {"America/New_York", 6, "current", "2026-11-22", 1795323600, 1795928400},
        {"America/New_York", 6, "previous", "2026-11-15", 1794718800, 1795323600},
        {"America/New_York", 6, "2026-11-22", "2026-11-22", 1795323600, 1795928400},
        {"America/New_York", 6, "2026-03-08", "2026-03-08", 1772946000, 1773547200},
        {"UTC", 2, "2026-11-25", "2026-11-25", 1795564800, 1796169600},
        {"Europe/London", -1, "current", "2026-11", 1793491200, 1796083200},
        {"Europe/London", -1, "previous", "2026-10", 1790809200, 1793491200},
        {"Europe/London", -1, "2028-02", "2028-02", 1832976000, 1835481600},
        {"America/New_York", -1, "2026-12", "2026-12", 1796101200, 1798779600},
        {"UTC", -2, "all", "all", PERIOD_ALL_START, PERIOD_ALL_END},
        {"UTC", -2, "current", "all", PERIOD_ALL_START, PERIOD_ALL_END},
        {"UTC", -3, "fixed", "fixed", 1000, 2000},
    };
    const int64_t now = 1795780800; /* 2026-11-27 12:00Z, a Friday */
    for (size_t i = 0; i < N(cases); i++) {
        period_spec s;
        if (cases[i].kind >= 0)
            s = week_spec(state, cases[i].zone, cases[i].kind);
        else if (cases[i].kind == -1)
            s = month_spec(state, cases[i].zone);
        else
            s = (period_spec){
                cases[i].kind == -2 ? PERIOD_ALL : PERIOD_FIXED, NULL, 0, 1000, 2000, 0};
        period p;
        char what[96];
        snprintf(what, sizeof(what), "%s resolve \"%s\"", cases[i].zone, cases[i].in);
        if (!period_resolve(&s, cases[i].in, now, &p))
            fail_msg("%s: refused", what);
        expect_period(what, &p, cases[i].id, cases[i].start, cases[i].end);
    }
}

/* Ids that must be refused, per kind of spec; `out` stays untouched. */
static void test_resolve_bad(void **state)
{
    static const struct {
        int kind; /* as in test_resolve_good; -4 = empty fixed, -5 = week start 7 */
        const char *in;
    } cases[] = {
        {0, "2026-W54"},  {0, "2025-W53"},    {0, "2027-W53"},   {0, "2026-W00"},
        {0, "2026-w48"},  {0, "2026-W4"},     {0, "2026-W480"},  {0, " 2026-W48"},
        {0, "2026-W48 "}, {0, "2026W48"},     {0, "2026-W-1"},   {0, "+026-W48"},
        {0, "0000-W01"},  {0, "10000-W01"},   {0, "2026-11-23"}, {0, "2026-11"},
        {0, "all"},       {0, "fixed"},       {0, ""},           {0, "Current"},
        {0, "current "},  {0, "previous\n"},  {6, "2026-11-23"}, {6, "2026-11-21"},
        {6, "2026-W48"},  {6, "2026-02-29"},  {6, "2026-13-01"}, {6, "2026-11-31"},
        {6, "2026-1-22"}, {6, "2026-11-22x"}, {6, "2026/11/22"}, {6, "0000-01-02"},
        {-1, "2026-13"},  {-1, "2026-00"},    {-1, "2026-1"},    {-1, "2026-011"},
        {-1, "2026-W48"}, {-1, "2026-11-01"}, {-1, "0000-12"},   {-1, "all"},
        {-1, "2026-+1"},  {-2, "fixed"},      {-2, "ALL"},       {-2, "all "},
        {-3, "all"},      {-3, "2026-11"},    {-4, "fixed"},     {-4, "current"},
        {-5, "current"},  {-5, "2026-11-22"},
    };
    const int64_t now = 1795780800;
    for (size_t i = 0; i < N(cases); i++) {
        int k = cases[i].kind;
        period_spec s;
        if (k >= 0)
            s = week_spec(state, k == 0 ? "Europe/London" : "America/New_York", k);
        else if (k == -1)
            s = month_spec(state, "Europe/London");
        else if (k == -5)
            s = week_spec(state, "UTC", 7);
        else
            s = (period_spec){
                k == -2 ? PERIOD_ALL : PERIOD_FIXED, NULL, 0, 1000, k == -4 ? 1000 : 2000, 0};
        period p = {42, 43, "untouched"};
        if (period_resolve(&s, cases[i].in, now, &p))
            fail_msg("kind %d: \"%s\" resolved to %s", k, cases[i].in, p.id);
        assert_string_equal(p.id, "untouched");
        assert_int_equal(p.start, 42);
    }
    period_spec s = week_spec(state, "Europe/London", 0);
    period p;
    assert_false(period_resolve(&s, NULL, now, &p));
    /* Fixed: "current" and "previous" outside or before the span. */
    period_spec fixed = {PERIOD_FIXED, NULL, 0, 1000, 2000, 0};
    assert_false(period_resolve(&fixed, "current", 2000, &p));
    assert_false(period_resolve(&fixed, "previous", 1500, &p));
}

/* Local dates on both sides of midnight, in summer and winter, and
 * around DST changes (including a repeated hour before midnight). */
static void test_local_date(void **state)
{
    static const struct {
        const char *zone;
        int64_t t;
        const char *want;
    } cases[] = {
        {"Europe/London", 1774742399, "2026-03-28"},
        {"Europe/London", 1774745999, "2026-03-29"},
        {"Europe/London", 1782860399, "2026-06-30"}, /* 23:59:59 BST */
        {"Europe/London", 1782860400, "2026-07-01"}, /* 00:00 BST = 23:00Z */
        {"Europe/London", 4109878800, "2100-03-28"},
        {"Australia/Lord_Howe", 1782826199, "2026-06-30"}, /* 23:59:59 +1030 */
        {"Australia/Lord_Howe", 1782826200, "2026-07-01"},
        {"America/New_York", 1793505599, "2026-10-31"},
        {"America/New_York", 1793505600, "2026-11-01"},
        {"America/New_York", 1793512799, "2026-11-01"},
        {"America/Santiago", 1775357999, "2026-04-04"}, /* Sat 23:59:59 -03 */
        {"America/Santiago", 1775358000, "2026-04-04"}, /* Sat 23:00 -04, again */
        {"America/Santiago", 1775361599, "2026-04-04"},
        {"America/Santiago", 1775361600, "2026-04-05"},
        {"America/Havana", 1772945999, "2026-03-07"},
        {"America/Havana", 1772946000, "2026-03-08"}, /* 01:00 CDT */
        {CRAFT, 1792881900, "2026-10-24"},            /* in week "2026-10-25", see test_week_at */
        {"UTC", 0, "1970-01-01"},
        {"UTC", -1, "1969-12-31"},
        {"UTC", 951782400, "2000-02-29"},
        {"UTC", INT64_MAX, "9999-12-31"}, /* clamped */
        {"UTC", INT64_MIN, "0000-01-01"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        char out[11];
        memset(out, 'x', sizeof(out));
        period_local_date(zone(state, cases[i].zone), cases[i].t, out);
        if (strcmp(out, cases[i].want) != 0)
            fail_msg("%s at %lld: %s, want %s", cases[i].zone, (long long)cases[i].t, out,
                     cases[i].want);
    }
}

/* Weekday names: lower-case English only. */
static void test_weekday_parse(void **state)
{
    static const struct {
        const char *in;
        int want;
    } cases[] = {
        {"monday", 0},   {"tuesday", 1}, {"wednesday", 2}, {"thursday", 3}, {"friday", 4},
        {"saturday", 5}, {"sunday", 6},  {"Monday", -1},   {"mon", -1},     {"", -1},
        {"sunday ", -1}, {"funday", -1}, {NULL, -1},
    };
    (void)state;
    for (size_t i = 0; i < N(cases); i++)
        if (period_weekday_parse(cases[i].in) != cases[i].want)
            fail_msg("\"%s\": %d, want %d", cases[i].in ? cases[i].in : "(null)",
                     period_weekday_parse(cases[i].in), cases[i].want);
}

/* Checks that p and q are the same period. */
static void same_period(const char *what, const period *p, const period *q)
{
    expect_period(what, q, p->id, p->start, p->end);
}

/* From 2020 to 2045 (past the files' 2037), in every zone and for every
 * kind: periods tile time without gap or overlap, each contains its own
 * first and last second, its id resolves back to it, period_previous
 * inverts the step, and ids increase. */
static void test_tiling(void **state)
{
    static const char *const zones[] = {"UTC",
                                        "Europe/London",
                                        "America/New_York",
                                        "Australia/Lord_Howe",
                                        "America/Havana",
                                        "America/Santiago",
                                        CRAFT};
    static const int kinds[] = {0, 3, 6, -1};
    for (size_t zi = 0; zi < N(zones); zi++) {
        for (size_t ki = 0; ki < N(kinds); ki++) {
            period_spec s = kinds[ki] < 0 ? month_spec(state, zones[zi])
                                          : week_spec(state, zones[zi], kinds[ki]);
            int64_t lo = kinds[ki] < 0 ? 28 * 24 * HOUR - 2 * HOUR : 7 * 24 * HOUR - 2 * HOUR;
            int64_t hi = kinds[ki] < 0 ? 31 * 24 * HOUR + 2 * HOUR : 7 * 24 * HOUR + 2 * HOUR;
            period p, q, r;
            char what[96];
            snprintf(what, sizeof(what), "%s kind %d", zones[zi], kinds[ki]);
            assert_true(period_at(&s, 1577836800, &p)); /* 2020-01-01 */
            int count = 0;
            while (p.start < INT64_C(2366841600)) { /* 2045-01-01 */
                if (p.end - p.start < lo || p.end - p.start > hi)
                    fail_msg("%s %s: %lld seconds long", what, p.id, (long long)(p.end - p.start));
                assert_true(period_at(&s, p.start, &q));
                same_period(what, &p, &q);
                assert_true(period_at(&s, p.end - 1, &q));
                same_period(what, &p, &q);
                assert_true(period_resolve(&s, p.id, 0, &q));
                same_period(what, &p, &q);
                assert_true(period_at(&s, p.end, &q));
                if (q.start != p.end || strcmp(q.id, p.id) <= 0)
                    fail_msg("%s: %s is followed by %s at %lld, want %lld", what, p.id, q.id,
                             (long long)q.start, (long long)p.end);
                assert_true(period_previous(&s, &q, &r));
                same_period(what, &p, &r);
                p = q;
                count++;
            }
            assert_true(count > (kinds[ki] < 0 ? 290 : 1250));
        }
    }
}

/* Interval periods: equal lengths from the anchor, none before it; ids are
 * UTC dates for whole-day lengths on a midnight anchor, instants otherwise. */
static void test_interval(void **state)
{
    (void)state;
    /* Two-week sprints from Monday 2026-11-02 00:00Z. */
    period_spec sprint = {PERIOD_INTERVAL, NULL, 0, 1793577600, 0, 14 * 86400};
    period p, q;
    assert_true(period_at(&sprint, 1793577600, &p));
    assert_string_equal(p.id, "2026-11-02");
    assert_int_equal(p.start, 1793577600);
    assert_int_equal(p.end, 1793577600 + 14 * 86400);
    assert_true(period_at(&sprint, 1793577600 + 14 * 86400, &p));
    assert_string_equal(p.id, "2026-11-16");
    assert_true(period_previous(&sprint, &p, &q));
    assert_string_equal(q.id, "2026-11-02");
    assert_false(period_previous(&sprint, &q, &p)); /* nothing before the anchor */
    assert_false(period_at(&sprint, 1793577599, &p));
    assert_true(period_resolve(&sprint, "2026-11-30", 0, &p));
    assert_int_equal(p.start, 1793577600 + 28 * 86400);
    assert_false(period_resolve(&sprint, "2026-11-23", 0, &p));         /* not a sprint start */
    assert_false(period_resolve(&sprint, "2026-10-19", 0, &p));         /* before the anchor */
    assert_false(period_resolve(&sprint, "2026-11-02T000000Z", 0, &p)); /* not canonical */
    assert_true(period_resolve(&sprint, "previous", 1793577600 + 15 * 86400, &p));
    assert_string_equal(p.id, "2026-11-02");

    /* Five-second periods from 09:30:02Z: ids name the instant. */
    period_spec quick = {PERIOD_INTERVAL, NULL, 0, 1795771802, 0, 5};
    assert_true(period_at(&quick, 1795771808, &p));
    assert_string_equal(p.id, "2026-11-27T093007Z");
    assert_int_equal(p.end - p.start, 5);
    assert_true(period_resolve(&quick, "2026-11-27T093007Z", 0, &q));
    assert_int_equal(q.start, p.start);
    assert_false(period_resolve(&quick, "2026-11-27T093008Z", 0, &q));
    assert_false(period_resolve(&quick, "2026-11-27T0930072", 0, &q));
    assert_false(period_resolve(&quick, "2026-11-27", 0, &q));
    period_spec zero = {PERIOD_INTERVAL, NULL, 0, 0, 0, 0};
    assert_false(period_at(&zero, 10, &p));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_week_at),      cmocka_unit_test(test_week_lengths),
        cmocka_unit_test(test_month_at),     cmocka_unit_test(test_fixed_and_all),
        cmocka_unit_test(test_year_range),   cmocka_unit_test(test_previous),
        cmocka_unit_test(test_resolve_good), cmocka_unit_test(test_resolve_bad),
        cmocka_unit_test(test_local_date),   cmocka_unit_test(test_weekday_parse),
        cmocka_unit_test(test_tiling),       cmocka_unit_test(test_interval),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
