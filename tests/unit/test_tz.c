/*
 * test_tz.c - unit tests for tz.c: the TZif reader, the POSIX footer rule,
 * offsets and local-to-UTC conversion.
 *
 * Expected instants were computed independently while writing the tests
 * (GNU date and zdump over Debian 12's tzdata 2025b, or by hand from the
 * rule) and are hard-coded. Real zones come from /usr/share/zoneinfo; small
 * TZif files crafted here, in a temporary directory given to the reader
 * through $PODIUM_ZONEINFO, cover rule forms no real zone uses, version 1
 * files and every kind of corrupt file.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tz.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The temporary zoneinfo directory shared by the tests of this file. */
typedef struct fixture {
    char dir[64];
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

/* Appends a TZif header with the six counts. */
static unsigned char *put_header(unsigned char *p, char version, uint32_t timecnt, uint32_t typecnt,
                                 uint32_t charcnt)
{
    memcpy(p, "TZif", 4);
    p[4] = (unsigned char)version;
    memset(p + 5, 0, 15);
    p = put32(p + 20, 0); /* isutcnt */
    p = put32(p, 0);      /* isstdcnt */
    p = put32(p, 0);      /* leapcnt */
    p = put32(p, timecnt);
    p = put32(p, typecnt);
    return put32(p, charcnt);
}

/*
 * Writes a TZif file into out (at least 4096 bytes) and returns its length.
 * Version '\0' writes a version 1 file with 32-bit times; '2' or '3' write a
 * minimal 32-bit block, then the 64-bit block and the footer. Every type has
 * isdst 0 and the abbreviation "ABC".
 */
static size_t tzif_build(unsigned char *out, char version, size_t ntrans, const int64_t *trans,
                         const unsigned char *idx, size_t ntypes, const int32_t *offs,
                         const char *footer)
{
    unsigned char *p = out;
    size_t tsize = 4;
    if (version != '\0') {
        p = put_header(p, version, 0, 1, 1);
        p = put32(p, (uint32_t)offs[0]);
        *p++ = 0;
        *p++ = 0;
        *p++ = '\0';
        tsize = 8;
    }
    p = put_header(p, version, (uint32_t)ntrans, (uint32_t)ntypes, 4);
    for (size_t i = 0; i < ntrans; i++) {
        if (tsize == 8)
            p = put32(p, (uint32_t)((uint64_t)trans[i] >> 32));
        p = put32(p, (uint32_t)(uint64_t)trans[i]);
    }
    for (size_t i = 0; i < ntrans; i++)
        *p++ = idx[i];
    for (size_t i = 0; i < ntypes; i++) {
        p = put32(p, (uint32_t)offs[i]);
        *p++ = 0;
        *p++ = 0;
    }
    memcpy(p, "ABC", 4);
    p += 4;
    if (version != '\0')
        p += sprintf((char *)p, "\n%s\n", footer);
    return (size_t)(p - out);
}

/* Writes len bytes as file `name` in the fixture directory. */
static void write_zone(const fixture *f, const char *name, const void *data, size_t len)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", f->dir, name);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

/* Loads zone `name` from the fixture directory; err receives the message. */
static tz *load_in(const char *dir, const char *name, char *err, size_t errlen)
{
    setenv("PODIUM_ZONEINFO", dir, 1);
    tz *z = tz_load(name, err, errlen);
    unsetenv("PODIUM_ZONEINFO");
    return z;
}

/* Writes a version 2 file whose only transition is at the epoch and whose
 * footer is `rule`, then loads it; offsets after 1970 come from the rule. */
static tz *load_rule(const fixture *f, const char *rule, int32_t std_off)
{
    unsigned char buf[4096];
    const int64_t trans[] = {0};
    const unsigned char idx[] = {0};
    char err[256] = "";
    size_t len = tzif_build(buf, '2', 1, trans, idx, 1, &std_off, rule);
    write_zone(f, "Rule", buf, len);
    tz *z = load_in(f->dir, "Rule", err, sizeof(err));
    if (z == NULL)
        fail_msg("rule \"%s\" refused: %s", rule, err);
    return z;
}

/* Group setup: creates the temporary zoneinfo directory. */
static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/podium-test-tz-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    unsetenv("PODIUM_ZONEINFO"); /* real zones come from /usr/share/zoneinfo */
    *state = f;
    return 0;
}

/* Group teardown: removes the directory and the files in it. */
static int teardown(void **state)
{
    fixture *f = *state;
    DIR *d = opendir(f->dir);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            char path[512];
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(path, sizeof(path), "%s/%s", f->dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

/* "UTC" is built in: it loads even when the zoneinfo directory is missing. */
static void test_utc_builtin(void **state)
{
    char err[256] = "";
    (void)state;
    tz *z = load_in("/nonexistent-podium-zoneinfo", "UTC", err, sizeof(err));
    assert_non_null(z);
    assert_string_equal(tz_name(z), "UTC");
    const int64_t ts[] = {INT64_MIN, -5364662400, 0, 1774746000, 4102444800, INT64_MAX};
    for (size_t i = 0; i < N(ts); i++)
        assert_int_equal(tz_offset(z, ts[i]), 0);
    assert_int_equal(tz_local_to_utc(z, 1774747800), 1774747800);
    assert_int_equal(tz_local_to_utc(z, -1), -1);
    tz_free(z);

    /* The same directory has no other zone. */
    z = load_in("/nonexistent-podium-zoneinfo", "Europe/London", err, sizeof(err));
    assert_null(z);
    assert_non_null(strstr(err, "unknown time zone"));
    tz_free(NULL);
}

/* Names that could escape the zoneinfo directory or are malformed. */
static void test_bad_names(void **state)
{
    static const char *const names[] = {
        "",
        "/etc/localtime",
        "../etc/passwd",
        "Europe/../../etc/passwd",
        "Europe/..",
        "..",
        "Europe//London",
        "Europe/London/",
        "Europe/Lon don",
        "Europe/London\n",
        "Europe\\London",
        "zone.tab",
        "Europe/London;rm",
        "Europe/Zürich",
    };
    char err[256];
    (void)state;
    for (size_t i = 0; i < N(names); i++) {
        err[0] = '\0';
        tz *z = tz_load(names[i], err, sizeof(err));
        if (z != NULL)
            fail_msg("name \"%s\" was accepted", names[i]);
        if (strstr(err, "invalid time zone name") == NULL)
            fail_msg("name \"%s\": unexpected message \"%s\"", names[i], err);
    }
    err[0] = '\0';
    assert_null(tz_load(NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "invalid time zone name"));
    assert_null(tz_load("..", NULL, 0)); /* no message buffer is fine too */

    /* Names are at most 128 characters: 128 is looked up, 129 is refused. */
    char name[130];
    memset(name, 'x', sizeof(name));
    name[128] = '\0';
    assert_null(tz_load(name, err, sizeof(err)));
    assert_non_null(strstr(err, "unknown time zone"));
    name[128] = 'x';
    name[129] = '\0';
    assert_null(tz_load(name, err, sizeof(err)));
    assert_non_null(strstr(err, "invalid time zone name"));
}

/* Well-formed names that name no zone file. */
static void test_unknown_zone(void **state)
{
    static const struct {
        const char *name, *why;
    } cases[] = {
        {"Nowhere/Atlantis", "unknown time zone"},
        {"Europe/London/Extra", "unknown time zone"}, /* London is a file, not a dir */
        {"Europe", "not a time zone file"},           /* a directory */
        {"utc", "unknown time zone"},                 /* only "UTC" is built in */
    };
    char err[256];
    (void)state;
    for (size_t i = 0; i < N(cases); i++) {
        err[0] = '\0';
        tz *z = tz_load(cases[i].name, err, sizeof(err));
        if (z != NULL)
            fail_msg("zone \"%s\" loaded", cases[i].name);
        if (strstr(err, cases[i].why) == NULL || strstr(err, cases[i].name) == NULL)
            fail_msg("zone \"%s\": unexpected message \"%s\"", cases[i].name, err);
    }
}

/* Offsets of real zones on both sides of transitions, from the table
 * (up to 2037) and from the footer rule (2040, 2100). */
static void test_offsets(void **state)
{
    static const struct {
        const char *zone;
        int64_t t;
        int32_t want;
    } cases[] = {
        /* London: LMT before 1847, British Standard Time (+1) at the epoch. */
        {"Europe/London", -5364662400, -75},
        {"Europe/London", 0, 3600},
        {"Europe/London", 1774745999, 0}, /* 2026-03-29 00:59:59Z */
        {"Europe/London", 1774746000, 3600},
        {"Europe/London", 1792889999, 3600}, /* 2026-10-25 00:59:59Z */
        {"Europe/London", 1792890000, 0},
        {"Europe/London", 2216249999, 0}, /* 2040-03-25, past the table's 2037 */
        {"Europe/London", 2216250000, 3600},
        {"Europe/London", 2234998799, 3600}, /* 2040-10-28 */
        {"Europe/London", 2234998800, 0},
        {"Europe/London", 4109878799, 0}, /* 2100-03-28 */
        {"Europe/London", 4109878800, 3600},
        {"Europe/London", 4128627599, 3600}, /* 2100-10-31 */
        {"Europe/London", 4128627600, 0},
        {"America/New_York", 0, -18000},
        {"America/New_York", 1772953199, -18000}, /* 2026-03-08 06:59:59Z */
        {"America/New_York", 1772953200, -14400},
        {"America/New_York", 1793512799, -14400}, /* 2026-11-01 05:59:59Z */
        {"America/New_York", 1793512800, -18000},
        {"America/New_York", 4108690799, -18000}, /* 2100-03-14 */
        {"America/New_York", 4108690800, -14400},
        {"America/New_York", 4129250399, -14400}, /* 2100-11-07 */
        {"America/New_York", 4129250400, -18000},
        /* Lord Howe: +10:30, and +11 in (southern) summer. */
        {"Australia/Lord_Howe", 1775314799, 39600}, /* 2026-04-04 14:59:59Z */
        {"Australia/Lord_Howe", 1775314800, 37800},
        {"Australia/Lord_Howe", 1791041399, 37800}, /* 2026-10-03 15:29:59Z */
        {"Australia/Lord_Howe", 1791041400, 39600},
        {"Australia/Lord_Howe", 4110447599, 39600}, /* 2100-04-03 */
        {"Australia/Lord_Howe", 4110447600, 37800},
        {"Australia/Lord_Howe", 4126174199, 37800}, /* 2100-10-02 */
        {"Australia/Lord_Howe", 4126174200, 39600},
    };
    char err[256] = "";
    (void)state;
    for (size_t i = 0; i < N(cases); i++) {
        tz *z = tz_load(cases[i].zone, err, sizeof(err));
        if (z == NULL)
            fail_msg("%s: %s", cases[i].zone, err);
        assert_string_equal(tz_name(z), cases[i].zone);
        int32_t got = tz_offset(z, cases[i].t);
        if (got != cases[i].want)
            fail_msg("%s at %lld: offset %d, want %d", cases[i].zone, (long long)cases[i].t, got,
                     cases[i].want);
        tz_free(z);
    }
}

/* Wall-clock to UTC: plain times, gaps (first instant after) and overlaps
 * (earlier instant), from the table and from the footer rule. */
static void test_local_to_utc(void **state)
{
    static const struct {
        const char *zone;
        int64_t local, want;
    } cases[] = {
        {"Europe/London", 1782907200, 1782903600},        /* 2026-07-01 12:00 BST */
        {"Europe/London", 1774745999, 1774745999},        /* 00:59:59, just before the gap */
        {"Europe/London", 1774746000, 1774746000},        /* 01:00 does not exist */
        {"Europe/London", 1774747800, 1774746000},        /* 01:30 does not exist */
        {"Europe/London", 1774749600, 1774746000},        /* 02:00 BST, the first real time */
        {"Europe/London", 1792886399 + 3600, 1792886399}, /* 00:59:59 BST, 25 Oct */
        {"Europe/London", 1792891800, 1792888200},        /* 01:30 twice: BST */
        {"Europe/London", 1792893600, 1792893600},        /* 02:00 GMT, once */
        {"Europe/London", 2216251800, 2216250000},        /* 2040 gap via footer */
        {"Europe/London", 2235000600, 2234997000},        /* 2040 overlap via footer */
        {"America/New_York", 1768478400, 1768496400},     /* 2026-01-15 12:00 EST */
        {"America/New_York", 1772937000, 1772953200},     /* 2026-03-08 02:30, gap */
        {"America/New_York", 1793496600, 1793511000},     /* 2026-11-01 01:30, EDT */
        {"America/New_York", 4108674600, 4108690800},     /* 2100-03-14 02:30, gap */
        {"Australia/Lord_Howe", 1782907200, 1782869400},  /* 2026-07-01 12:00 +1030 */
        {"Australia/Lord_Howe", 1791080100, 1791041400},  /* 2026-10-04 02:15, gap */
        {"Australia/Lord_Howe", 1775353500, 1775313900},  /* 2026-04-05 01:45, +11 */
    };
    char err[256] = "";
    (void)state;
    for (size_t i = 0; i < N(cases); i++) {
        tz *z = tz_load(cases[i].zone, err, sizeof(err));
        if (z == NULL)
            fail_msg("%s: %s", cases[i].zone, err);
        int64_t got = tz_local_to_utc(z, cases[i].local);
        if (got != cases[i].want)
            fail_msg("%s local %lld: %lld, want %lld", cases[i].zone, (long long)cases[i].local,
                     (long long)got, (long long)cases[i].want);
        tz_free(z);
    }
}

/* For many instants, converting the local time back gives the same
 * instant, or an earlier one with the same wall clock (an overlap). */
static void test_round_trip(void **state)
{
    static const char *const zones[] = {"Europe/London",  "America/New_York", "Australia/Lord_Howe",
                                        "America/Havana", "America/Santiago", "Europe/Dublin"};
    char err[256] = "";
    (void)state;
    for (size_t i = 0; i < N(zones); i++) {
        tz *z = tz_load(zones[i], err, sizeof(err));
        if (z == NULL)
            fail_msg("%s: %s", zones[i], err);
        long earlier = 0;
        for (int64_t t = 0; t < INT64_C(4133980800); t += 7 * 3600 + 13 * 60 + 7) {
            int64_t local = t + tz_offset(z, t);
            int64_t back = tz_local_to_utc(z, local);
            if (back > t || back + tz_offset(z, back) != local)
                fail_msg("%s: %lld -> local %lld -> %lld", zones[i], (long long)t, (long long)local,
                         (long long)back);
            earlier += back < t;
        }
        /* Some samples land in the second pass of an overlap. */
        assert_true(earlier > 0);
        tz_free(z);
    }
}

/* Footer rules in every form, read from crafted files: Jn, n, Mm.w.d,
 * negative and >24h times, seconds, permanent DST, no DST. */
static void test_footer_rules(void **state)
{
    static const struct {
        const char *rule;
        int32_t std_off;
        int64_t t;
        int32_t want;
    } cases[] = {
        /* Jn ignores Feb 29: J60 is 1 March even in 2028. */
        {"XST5XDT,J60/2,J300/2", -18000, 1835506799, -18000},
        {"XST5XDT,J60/2,J300/2", -18000, 1835506800, -14400},
        {"XST5XDT,J60/2,J300/2", -18000, 1856239199, -14400}, /* 2028-10-27 */
        {"XST5XDT,J60/2,J300/2", -18000, 1856239200, -18000},
        /* n counts Feb 29: day 59 is 1 March in 2027 but 29 February in 2028. */
        {"YST3YDT,59/2,299/2", -10800, 1803877199, -10800},
        {"YST3YDT,59/2,299/2", -10800, 1803877200, -7200},
        {"YST3YDT,59/2,299/2", -10800, 1835413199, -10800},
        {"YST3YDT,59/2,299/2", -10800, 1835413200, -7200},
        {"YST3YDT,59/2,299/2", -10800, 1856145599, -7200}, /* 2028-10-26 */
        {"YST3YDT,59/2,299/2", -10800, 1856145600, -10800},
        /* America/Nuuk's rule: negative time of day (-1 = 23:00 the day before). */
        {"<-02>2<-01>,M3.5.0/-1,M10.5.0/0", -7200, 1806195599, -7200},
        {"<-02>2<-01>,M3.5.0/-1,M10.5.0/0", -7200, 1806195600, -3600},
        {"<-02>2<-01>,M3.5.0/-1,M10.5.0/0", -7200, 1824944399, -3600},
        {"<-02>2<-01>,M3.5.0/-1,M10.5.0/0", -7200, 1824944400, -7200},
        /* Asia/Jerusalem's rule: 26:00 on the fourth Thursday of March. */
        {"IST-2IDT,M3.4.4/26,M10.5.0", 7200, 1806019199, 7200},
        {"IST-2IDT,M3.4.4/26,M10.5.0", 7200, 1806019200, 10800},
        {"IST-2IDT,M3.4.4/26,M10.5.0", 7200, 1824937199, 10800},
        {"IST-2IDT,M3.4.4/26,M10.5.0", 7200, 1824937200, 7200},
        /* Half-hour offsets, an explicit DST offset and times with seconds. */
        {"<+0530>-5:30<+0630>-6:30,M4.5.6/23:30:15,M9.1.1/1:02:03", 19800, 1808589614, 19800},
        {"<+0530>-5:30<+0630>-6:30,M4.5.6/23:30:15,M9.1.1/1:02:03", 19800, 1808589615, 23400},
        {"<+0530>-5:30<+0630>-6:30,M4.5.6/23:30:15,M9.1.1/1:02:03", 19800, 1820169122, 23400},
        {"<+0530>-5:30<+0630>-6:30,M4.5.6/23:30:15,M9.1.1/1:02:03", 19800, 1820169123, 19800},
        /* RFC 8536 3.3.1: DST all year. (glibc gets New Year's Eve wrong here.) */
        {"EST5EDT4,0/0,J365/25", -18000, 1798761600, -14400},
        {"EST5EDT4,0/0,J365/25", -18000, 1798779599, -14400},
        {"EST5EDT4,0/0,J365/25", -18000, 1814400000, -14400},
        {"EST5EDT4,0/0,J365/25", -18000, 4102462800, -14400},
        /* No DST at all. */
        {"<+01>-1", 3600, 1893456000, 3600},
        {"UTC0", 0, 4102444800, 0},
    };
    for (size_t i = 0; i < N(cases); i++) {
        tz *z = load_rule(*state, cases[i].rule, cases[i].std_off);
        int32_t got = tz_offset(z, cases[i].t);
        if (got != cases[i].want)
            fail_msg("\"%s\" at %lld: offset %d, want %d", cases[i].rule, (long long)cases[i].t,
                     got, cases[i].want);
        tz_free(z);
    }
}

/* Gaps and overlaps that only the footer rule defines. */
static void test_footer_local_to_utc(void **state)
{
    static const struct {
        const char *rule;
        int32_t std_off;
        int64_t local, want;
    } cases[] = {
        {"XST5XDT,J60/2,J300/2", -18000, 1835490600, 1835506800},           /* 2028-03-01 02:30 */
        {"<-02>2<-01>,M3.5.0/-1,M10.5.0/0", -7200, 1806190200, 1806195600}, /* Sat 23:30 */
        {"<-02>2<-01>,M3.5.0/-1,M10.5.0/0", -7200, 1824939000, 1824942600}, /* Sat 23:30 */
        {"EST5EDT4,0/0,J365/25", -18000, 1798761600, 1798776000},           /* 2027-01-01 00:00 */
    };
    for (size_t i = 0; i < N(cases); i++) {
        tz *z = load_rule(*state, cases[i].rule, cases[i].std_off);
        int64_t got = tz_local_to_utc(z, cases[i].local);
        if (got != cases[i].want)
            fail_msg("\"%s\" local %lld: %lld, want %lld", cases[i].rule, (long long)cases[i].local,
                     (long long)got, (long long)cases[i].want);
        tz_free(z);
    }
}

/* A file without transitions applies its footer at all times (RFC 9636
 * 3.2); without a footer, time type 0 applies at all times. */
static void test_no_transitions(void **state)
{
    unsigned char buf[4096];
    char err[256] = "";
    const int32_t off = -18000;
    size_t len = tzif_build(buf, '2', 0, NULL, NULL, 1, &off, "EST5EDT,M3.2.0,M11.1.0");
    write_zone(*state, "Footer_Only", buf, len);
    tz *z = load_in(((fixture *)*state)->dir, "Footer_Only", err, sizeof(err));
    if (z == NULL)
        fail_msg("%s", err);
    assert_int_equal(tz_offset(z, 1772953199), -18000); /* 2026-03-08, as New York */
    assert_int_equal(tz_offset(z, 1772953200), -14400);
    assert_int_equal(tz_offset(z, -1000000000), -14400); /* 1938-04-24, rule too */
    tz_free(z);

    const int32_t fixed = 19800;
    len = tzif_build(buf, '3', 0, NULL, NULL, 1, &fixed, "");
    write_zone(*state, "Type0_Only", buf, len);
    z = load_in(((fixture *)*state)->dir, "Type0_Only", err, sizeof(err));
    if (z == NULL)
        fail_msg("%s", err);
    assert_int_equal(tz_offset(z, 1772953200), 19800);
    assert_int_equal(tz_offset(z, -5364662400), 19800);
    assert_int_equal(tz_local_to_utc(z, 19800), 0);
    tz_free(z);
}

/* A version 1 file: 32-bit times, no footer; the last offset holds forever. */
static void test_version1(void **state)
{
    unsigned char buf[4096];
    char err[256] = "";
    const int64_t trans[] = {-100000, 1000000, 2000000};
    const unsigned char idx[] = {1, 2, 1};
    const int32_t offs[] = {-75, 3600, 7200};
    size_t len = tzif_build(buf, '\0', 3, trans, idx, 3, offs, NULL);
    write_zone(*state, "Version1", buf, len);
    tz *z = load_in(((fixture *)*state)->dir, "Version1", err, sizeof(err));
    if (z == NULL)
        fail_msg("%s", err);
    assert_int_equal(tz_offset(z, -100001), -75); /* type 0 before the first */
    assert_int_equal(tz_offset(z, -100000), 3600);
    assert_int_equal(tz_offset(z, 999999), 3600);
    assert_int_equal(tz_offset(z, 1000000), 7200);
    assert_int_equal(tz_offset(z, 1999999), 7200);
    assert_int_equal(tz_offset(z, 2000000), 3600);
    assert_int_equal(tz_offset(z, 4102444800), 3600);
    assert_int_equal(tz_local_to_utc(z, 1000000 + 3600 + 1800), 1000000); /* gap */
    assert_int_equal(tz_local_to_utc(z, 2000000 + 5400), 2000000 - 1800); /* overlap */
    tz_free(z);
}

/* Corrupt files of every kind are refused with a message, never read past. */
static void test_corrupt_files(void **state)
{
    fixture *f = *state;
    unsigned char good[4096], bad[4096];
    const int64_t trans[] = {-1000, 0, 1000};
    const unsigned char idx[] = {1, 0, 1};
    const int32_t offs[] = {0, 3600};
    size_t len = tzif_build(good, '2', 3, trans, idx, 2, offs, "GMT0BST,M3.5.0/1,M10.5.0");
    char err[256] = "";

    write_zone(f, "Good", good, len);
    tz *z = load_in(f->dir, "Good", err, sizeof(err));
    if (z == NULL)
        fail_msg("the unmodified file is refused: %s", err);
    assert_int_equal(tz_offset(z, -500), 3600);
    assert_int_equal(tz_offset(z, 500), 0);
    tz_free(z);

    /* Byte offsets in the file tzif_build writes: the 32-bit block is 51
     * bytes, the second header starts at 51, its data at 95. */
    static const struct {
        const char *what;
        size_t at;
        unsigned char value;
        const char *why;
    } pokes[] = {
        {"magic", 0, 'X', "not a TZif file"},
        {"version", 4, '1', "unsupported TZif version"},
        {"v1 typecnt zero", 20 + 19, 0, "inconsistent counts"},
        {"v2 timecnt huge", 51 + 32, 0x7f, "truncated"},
        {"v2 typecnt 0x01000002", 51 + 36, 0x01, "inconsistent counts"},
        {"v2 charcnt huge", 51 + 40, 0xff, "truncated"},
        {"v2 leapcnt", 51 + 31, 1, "leap seconds"}, /* "right/" zones: refused on purpose */
        {"transition order", 95 + 8, 0x7f, "out of order"},
        {"type index", 95 + 24 + 1, 2, "bad type"},
        {"utoff", 95 + 27, 0x7f, "local time type 0 is invalid"},
        {"isdst", 95 + 27 + 4, 2, "local time type 0 is invalid"},
        {"abbreviation index", 95 + 27 + 5, 4, "local time type 0 is invalid"},
        {"footer start", 95 + 27 + 12 + 4, 'x', "footer is missing"},
        {"footer rule", 95 + 27 + 12 + 4 + 1, '!', "not understood"},
    };
    for (size_t i = 0; i < N(pokes); i++) {
        memcpy(bad, good, len);
        bad[pokes[i].at] = pokes[i].value;
        write_zone(f, "Bad", bad, len);
        err[0] = '\0';
        z = load_in(f->dir, "Bad", err, sizeof(err));
        if (z != NULL)
            fail_msg("%s: corrupt file accepted", pokes[i].what);
        if (strstr(err, pokes[i].why) == NULL || strstr(err, "\"Bad\"") == NULL)
            fail_msg("%s: unexpected message \"%s\"", pokes[i].what, err);
    }

    /* Every truncation of the file is refused. */
    for (size_t cut = 0; cut < len; cut++) {
        write_zone(f, "Bad", good, cut);
        if ((z = load_in(f->dir, "Bad", err, sizeof(err))) != NULL)
            fail_msg("file cut to %zu of %zu bytes accepted", cut, len);
    }
}

/* Footers the reader must not guess about. */
static void test_bad_footers(void **state)
{
    static const char *const rules[] = {
        "GMT0BST",                    /* DST without a rule */
        "GMT0BST,M3.5.0/1",           /* only one end */
        "EST5EDT,M13.1.0,M11.1.0",    /* month 13 */
        "EST5EDT,M3.6.0,M11.1.0",     /* week 6 */
        "EST5EDT,M3.2.7,M11.1.0",     /* weekday 7 */
        "EST5EDT,J0,J300",            /* J counts from 1 */
        "EST5EDT,366,300",            /* n ends at 365 */
        "EST5EDT,M3.2.0/168,M11.1.0", /* 168 hours */
        "EST25",                      /* offset over 24 hours */
        "E5",                         /* abbreviation too short */
        "<E>5",                       /* quoted abbreviation too short */
        "EST5EDT,M3.2.0,M11.1.0x",    /* trailing junk */
        "EST5:60",                    /* minutes 60 */
        "5",                          /* no abbreviation */
    };
    fixture *f = *state;
    unsigned char buf[4096];
    const int32_t off = -18000;
    char err[256];
    for (size_t i = 0; i < N(rules); i++) {
        size_t len = tzif_build(buf, '2', 0, NULL, NULL, 1, &off, rules[i]);
        write_zone(f, "Bad_Footer", buf, len);
        err[0] = '\0';
        tz *z = load_in(f->dir, "Bad_Footer", err, sizeof(err));
        if (z != NULL)
            fail_msg("footer \"%s\" accepted", rules[i]);
        if (strstr(err, "not understood") == NULL)
            fail_msg("footer \"%s\": unexpected message \"%s\"", rules[i], err);
    }
}

/* Files over the size bound are refused before they are parsed. */
static void test_oversized_file(void **state)
{
    fixture *f = *state;
    size_t len = 256 * 1024 + 1;
    unsigned char *big = calloc(1, len);
    char err[256] = "";
    assert_non_null(big);
    const int32_t off = 0;
    tzif_build(big, '2', 0, NULL, NULL, 1, &off, "UTC0");
    write_zone(f, "Big", big, len);
    free(big);
    assert_null(load_in(f->dir, "Big", err, sizeof(err)));
    assert_non_null(strstr(err, "larger than"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utc_builtin),    cmocka_unit_test(test_bad_names),
        cmocka_unit_test(test_unknown_zone),   cmocka_unit_test(test_offsets),
        cmocka_unit_test(test_local_to_utc),   cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_footer_rules),   cmocka_unit_test(test_footer_local_to_utc),
        cmocka_unit_test(test_no_transitions), cmocka_unit_test(test_version1),
        cmocka_unit_test(test_corrupt_files),  cmocka_unit_test(test_bad_footers),
        cmocka_unit_test(test_oversized_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
